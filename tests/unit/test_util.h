/*
 * test_util.h - what the unit tests share: paths into the read-only test data (../shared, or
 * $SHARED) and reading a whole file. Header-only: each test file is its own translation unit.
 */
#ifndef SHOAL_TEST_UTIL_H
#define SHOAL_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
