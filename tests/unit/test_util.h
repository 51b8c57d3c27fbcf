/*
 * test_util.h - what the unit tests share: paths into the read-only test data (../shared, or
 * $SHARED), reading a whole file, and capturing what the code logs to stderr. Header-only: each test file is its own translation unit.
 */
#ifndef SHOAL_TEST_UTIL_H
#define SHOAL_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* $SHARED/rel (default ../shared/rel); the result lives until 8 more calls */
static inline const char *test_shared(const char *rel)
{
	static char bufs[8][512];
	static unsigned next;
	const char *root = getenv("SHARED");
	char *b = bufs[next++ % 8];
	snprintf(b, sizeof bufs[0], "%s/%s", root ? root : "../shared", rel);
	return b;
}

/* $SHARED/models/rel, from the same ring of buffers */
static inline const char *test_model_path(const char *rel)
{
	char b[400];
	snprintf(b, sizeof b, "models/%s", rel);
	return test_shared(b);
}

/* the whole file, NUL-terminated (*len bytes without the NUL; len may be NULL); NULL when it
 * cannot be opened */
static inline char *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	cr_assert(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = (size_t)n;
	return buf;
}

/* the same for a file that must be there: a missing one fails the test */
static inline char *test_load_file(const char *path, size_t *len)
{
	char *buf = test_read_file(path, len);
	cr_assert(buf, "cannot open %s", path);
	return buf;
}

/* stderr captured into a temporary file between capture_begin and capture_end */
typedef struct {
	int saved;
	FILE *tmp;
} capture;

static inline void capture_begin(capture *c)
{
	fflush(stderr);
	c->tmp = tmpfile();
	cr_assert(c->tmp);
	c->saved = dup(2);
	dup2(fileno(c->tmp), 2);
}

/* restores stderr; returns what was written (malloc'd, NUL-terminated) */
static inline char *capture_end(capture *c)
{
	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	long n = lseek(fileno(c->tmp), 0, SEEK_END);
	char *s = calloc(1, (size_t)n + 1);
	cr_assert_eq(pread(fileno(c->tmp), s, (size_t)n, 0), n);
	fclose(c->tmp);
	return s;
}

#endif
