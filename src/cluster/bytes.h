/*
 * bytes.h - what the two wire formats of the cluster (node-to-node messages, wire.c; discovery
 * beacons, beacon.c) share: little-endian integers written and read byte by byte (no dependence
 * on the host's byte order or on alignment), the character classes of their strings, and the
 * formatter of a decoder's "why it was refused" message.
 */
#ifndef SHOAL_BYTES_H
#define SHOAL_BYTES_H

#include "base/base.h"

#include <stdarg.h>
#include <stdio.h>

static inline void bytes_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void bytes_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void bytes_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t bytes_get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t bytes_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t bytes_get64(const uint8_t *p)
{
	return (uint64_t)bytes_get32(p) | (uint64_t)bytes_get32(p + 4) << 32;
}

/* cluster names: [A-Za-z0-9._-]; other strings: printable ASCII */
static inline bool bytes_name_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '_' || c == '-';
}
static inline bool bytes_print_char(uint8_t c) { return c >= 0x20 && c < 0x7f; }
static inline bool bytes_str_ok(const char *s, size_t n, bool (*ok)(uint8_t))
{
	for (size_t i = 0; i < n; i++)
		if (!ok((uint8_t)s[i]))
			return false;
	return true;
}

/* writes why into err (cap bytes; may be NULL) and returns code */
static inline int bytes_err(char *err, size_t cap, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static inline int bytes_err(char *err, size_t cap, int code, const char *fmt, ...)
{
	if (err && cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
	}
	return code;
}

#endif
