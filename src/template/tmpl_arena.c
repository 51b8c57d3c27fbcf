/*
 * tmpl_arena.c - the bump arena of parse trees and renders, and growable byte buffers in it.
 *
 * Chunks of at least 64 KiB are chained; an allocation bigger than a chunk gets its own. The
 * limit counts bytes handed out, so a template that builds ever longer strings stops at the cap.
 * tm_grow extends the newest allocation in place, which keeps a growing output buffer linear.
 */
#include "template/tmpl_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct tm_chunk {
	tm_chunk *next;
	size_t used, size;
	char *last;            /* the newest allocation (for tm_grow) */
	_Alignas(16) char data[];
};

#define CHUNK_MIN (64 * 1024)

void *tm_alloc(tm_arena *a, size_t n)
{
	if (n > SIZE_MAX / 4)
		return NULL;
	n = (n + 15) & ~(size_t)15;
	if (!n)
		n = 16;
	if (a->limit && (n > a->limit || a->total > a->limit - n))
		return NULL;
	tm_chunk *c = a->head;
	if (!c || c->size - c->used < n) {
		size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
		c = malloc(sizeof *c + size);
		if (!c)
			return NULL;
		c->used = 0;
		c->size = size;
		c->last = NULL;
		/* a big block goes behind the current chunk so its free space stays in use */
		if (a->head && size > CHUNK_MIN) {
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
		}
	}
	void *p = c->data + c->used;
	c->used += n;
	c->last = p;
	a->total += n;
	return p;
}

void *tm_zalloc(tm_arena *a, size_t n)
{
	void *p = tm_alloc(a, n);
	if (p)
		memset(p, 0, n);
	return p;
}

void *tm_grow(tm_arena *a, void *p, size_t old, size_t n)
{
	tm_chunk *c = a->head;
	if (n > SIZE_MAX / 4)
		return NULL;
	size_t o16 = (old + 15) & ~(size_t)15, n16 = (n + 15) & ~(size_t)15;
	if (p && c && c->last == p && n16 >= o16 && c->size - c->used >= n16 - o16 &&
	    (!a->limit || a->total + (n16 - o16) <= a->limit)) {
		c->used += n16 - o16;
		a->total += n16 - o16;
		return p;
	}
	void *q = tm_alloc(a, n);
	if (q && old)
		memcpy(q, p, old < n ? old : n);
	return q;
}

void tm_arena_free(tm_arena *a)
{
	tm_chunk *c = a->head;
	while (c) {
		tm_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->total = 0;
}

/* ---------------------------------------------------------------- buffers */
void tm_buf_init(tm_buf *b, tm_arena *a, size_t *budget)
{
	*b = (tm_buf){ .a = a, .budget = budget, .ok = true };
}

bool tm_buf_add(tm_buf *b, const void *p, size_t n)
{
	if (!b->ok)
		return false;
	if (n > SIZE_MAX / 4)
		return b->ok = false;
	if (b->budget) {
		if (n > *b->budget) {
			*b->budget = 0; /* every buffer of the render fails from now on */
			return b->ok = false;
		}
		*b->budget -= n;
	}
	if (b->cap - b->n < n + 1) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap - b->n < n + 1) {
			if (cap > SIZE_MAX / 2)
				return b->ok = false;
			cap *= 2;
		}
		char *q = tm_grow(b->a, b->p, b->cap, cap);
		if (!q)
			return b->ok = false;
		b->p = q;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->n, p, n);
	TM_WORK(n);
	b->n += n;
	b->p[b->n] = '\0';
	return true;
}

bool tm_buf_addc(tm_buf *b, char c)
{
	return tm_buf_add(b, &c, 1);
}

bool tm_buf_adds(tm_buf *b, const char *s)
{
	return tm_buf_add(b, s, strlen(s));
}

bool tm_buf_printf(tm_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return b->ok = false;
	return tm_buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
