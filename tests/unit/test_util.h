/*
 * test_util.h - what the unit tests share: paths of the test data (the bundled model, tests/data,
 * and llama.cpp's reference set outside the repository, whose tests skip when it is absent), models
 * of real shapes made by synth for the tests that need one, reading a whole file, and capturing what
 * the code logs to stderr. Header-only: each test file is its own
 * translation unit.
 */
#ifndef SHOAL_TEST_UTIL_H
#define SHOAL_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "model/synth.h"

/* the bundled model (models/stories260K.gguf); tests run from the repository's root */
#define TEST_STORIES "models/stories260K.gguf"

/* a ring of path buffers: a result lives until 8 more calls */
static inline char *test_path_buf(void)
{
	static char bufs[8][512];
	static unsigned next;
	return bufs[next++ % 8];
}

/* tests/data/rel (the folder: $SHOAL_TESTDATA, else tests/data) */
static inline const char *test_data(const char *rel)
{
	const char *root = getenv("SHOAL_TESTDATA");
	char *b = test_path_buf();
	snprintf(b, 512, "%s/%s", root && root[0] ? root : "tests/data", rel);
	return b;
}

/* llama.cpp's reference set (models in every weight format and their logits), which is not in the
 * repository: $SHOAL_REFDATA, else ../shared/models/quant */
static inline const char *test_refdata_dir(void)
{
	const char *root = getenv("SHOAL_REFDATA");
	return root && root[0] ? root : "../shared/models/quant";
}

static inline const char *test_refdata(const char *rel)
{
	char *b = test_path_buf();
	snprintf(b, 512, "%s/%s", test_refdata_dir(), rel);
	return b;
}

/* a test that needs the reference set starts with this: without it the test is skipped (and
 * counted as skipped, never as passed), with the reason */
#define TEST_NEED_REFDATA()                                                                              \
	do {                                                                                             \
		if (access(test_refdata_dir(), R_OK | X_OK))                                             \
			cr_skip_test("llama.cpp reference set absent (%s; set SHOAL_REFDATA)", test_refdata_dir()); \
	} while (0)

/* a model of a synth preset and weight type (synth.h) with the bundled model's 512-token
 * vocabulary, written to a fresh temporary file: malloc'd path, removed by test_synth_free */
static inline char *test_synth(const char *preset, const char *type)
{
	char *path = strdup("/tmp/shoal-test-synth-XXXXXX");
	cr_assert(path);
	int fd = mkstemp(path);
	cr_assert(fd >= 0, "mkstemp");
	close(fd);
	cr_assert_eq(synth_write(preset, type, TEST_STORIES, 1234, 1, 1, path), 0, "synth %s %s", preset, type);
	return path;
}

static inline void test_synth_free(char *path)
{
	unlink(path);
	free(path);
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
