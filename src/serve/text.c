/*
 * text.c - byte buffers, UTF-8 validation/repair, stop-string scanning.
 */
#include "serve/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static int buf_reserve(text_buf *b, size_t extra)
{
	uint64_t need;
	if (!sh_add_ok(b->len, (uint64_t)extra + 1, &need) || need > SIZE_MAX / 2)
		return SH_ENOMEM;
	if (need <= b->cap)
		return SH_OK;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p)
		return SH_ENOMEM;
	b->p = p;
	b->cap = cap;
	return SH_OK;
}

int text_buf_add(text_buf *b, const void *s, size_t n)
{
	if (buf_reserve(b, n))
		return SH_ENOMEM;
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return SH_OK;
}

int text_buf_addf(text_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n))
		return SH_ENOMEM;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return SH_OK;
}

void text_buf_free(text_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* length of the valid UTF-8 character at s[0..n), or 0 if the bytes there are not one */
static size_t utf8_char_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t cp;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return len;
}

bool text_utf8_valid(const char *s, size_t n)
{
	const uint8_t *u = (const uint8_t *)s;
	for (size_t i = 0; i < n;) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		size_t l = utf8_char_len(u + i, n - i);
		if (!l)
			return false;
		i += l;
	}
	return true;
}

int text_utf8_repair(text_buf *b, const char *s, size_t n)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t run = 0; /* start of the current valid run */
	for (size_t i = 0; i < n;) {
		size_t l = u[i] < 0x80 ? 1 : utf8_char_len(u + i, n - i);
		if (l) {
			i += l;
			continue;
		}
		if (text_buf_add(b, s + run, i - run) || text_buf_add(b, "\xEF\xBF\xBD", 3))
			return SH_ENOMEM;
		run = ++i;
	}
	return text_buf_add(b, s + run, n - run);
}

long text_stop_scan(const char *text, size_t len, size_t from, char *const *stops, int n_stop, size_t *safe,
		    int *which)
{
	*safe = len;
	*which = -1;
	for (size_t p = from; p < len; p++) {
		for (int k = 0; k < n_stop; k++) {
			size_t sl = strlen(stops[k]);
			size_t avail = len - p;
			if (avail >= sl) {
				if (memcmp(text + p, stops[k], sl) == 0) {
					*which = k;
					return (long)p;
				}
			} else if (*safe == len && memcmp(text + p, stops[k], avail) == 0) {
				*safe = p;
			}
		}
	}
	return -1;
}
