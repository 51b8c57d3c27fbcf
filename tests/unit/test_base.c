/*
 * test_base.c - base helpers: overflow-checked arithmetic, the rng's determinism and range,
 * large allocations, reading and atomically writing whole files, byte counts, the log rate limiter.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

Test(base, overflow_checks)
{
	uint64_t r;
	cr_assert(sh_mul_ok(1ull << 31, 1ull << 32, &r) && r == 1ull << 63);
	cr_assert(!sh_mul_ok(1ull << 32, 1ull << 32, &r));
	cr_assert(!sh_add_ok(UINT64_MAX, 1, &r));
	cr_assert(sh_add_ok(UINT64_MAX - 1, 1, &r) && r == UINT64_MAX);
}

Test(base, rng_deterministic_and_in_range)
{
	sh_rng a, b, c;
	sh_rng_seed(&a, 7);
	sh_rng_seed(&b, 7);
	sh_rng_seed(&c, 8);
	int same_c = 0;
	double sum = 0, sq = 0;
	for (int i = 0; i < 100000; i++) {
		uint64_t x = sh_rng_u64(&a);
		cr_assert_eq(x, sh_rng_u64(&b));
		same_c += x == sh_rng_u64(&c);
		float f = sh_rng_f32(&a);
		cr_assert(f >= 0.0f && f < 1.0f);
		float g = sh_rng_normal(&b);
		sum += g;
		sq += g * g;
		sh_rng_f32(&b);
		sh_rng_normal(&a);
	}
	cr_assert_eq(same_c, 0);
	cr_expect(fabs(sum / 100000) < 0.02 && fabs(sq / 100000 - 1) < 0.03, "normal: mean %g var %g", sum / 1e5, sq / 1e5);
}

Test(base, alloc_large_is_zeroed)
{
	size_t n = 64u << 20;
	unsigned char *p = sh_alloc_large(n);
	cr_assert(p);
	cr_assert(p[0] == 0 && p[n / 2] == 0 && p[n - 1] == 0);
	p[n - 1] = 1;
	sh_free_large(p, n);
	unsigned char *q = sh_alloc(100);
	cr_assert(q && ((uintptr_t)q % 64) == 0 && q[99] == 0);
	sh_free(q);
	sh_free(NULL);
}

/* a file of n bytes of a pattern, in a fresh temporary path */
static char *temp_file_of(size_t n)
{
	char *path = strdup("/tmp/shoal-test-file-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	for (size_t i = 0; i < n; i++) {
		char c = (char)('a' + i % 26);
		cr_assert_eq(write(fd, &c, 1), 1);
	}
	close(fd);
	return path;
}

Test(base, file_read_whole_capped_and_failing)
{
	static const size_t sizes[] = { 0, 1, 65535, 65536, 65537, 200000 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		char *path = temp_file_of(sizes[k]), *buf;
		size_t len;
		cr_assert_eq(sh_file_read(path, 1u << 20, &buf, &len), SH_OK, "%zu bytes", sizes[k]);
		cr_assert_eq(len, sizes[k]);
		cr_assert_eq(buf[len], '\0');
		for (size_t i = 0; i < len; i++)
			cr_assert_eq(buf[i], 'a' + i % 26, "%zu bytes: byte %zu", sizes[k], i);
		free(buf);
		/* exactly at the cap reads; one byte past it is too large */
		cr_assert_eq(sh_file_read(path, sizes[k], &buf, &len), SH_OK);
		free(buf);
		if (sizes[k]) {
			cr_assert_eq(sh_file_read(path, sizes[k] - 1, &buf, &len), SH_ERANGE);
			cr_assert_null(buf);
		}
		unlink(path);
		free(path);
	}
	char *buf;
	size_t len;
	cr_assert_eq(sh_file_read("/nonexistent/file", 100, &buf, &len), SH_EIO);
	cr_assert_eq(sh_file_read("/tmp", 100, &buf, &len), SH_EIO); /* a directory reads as an error */
	cr_assert_str_eq(sh_file_error(SH_ERANGE), "too large");
}

Test(base, file_write_atomic_replaces_whole_or_not_at_all)
{
	char dir[] = "/tmp/shoal-base-XXXXXX", path[64], *buf;
	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/f", dir);
	size_t len;
	cr_assert_eq(sh_file_write_atomic(path, "first", 5), SH_OK);
	cr_assert_eq(sh_file_write_atomic(path, "second!", 7), SH_OK);
	cr_assert_eq(sh_file_read(path, 100, &buf, &len), SH_OK);
	cr_assert_str_eq(buf, "second!");
	free(buf);
	/* into a directory that is not there: an error, and nothing is left behind */
	cr_assert_eq(sh_file_write_atomic("/nonexistent/dir/f", "x", 1), SH_EIO);
	unlink(path);
	cr_assert_eq(rmdir(dir), 0, "a temporary file was left in %s", dir);
}

Test(base, bytes_for_people)
{
	char b[32];
	sh_bytes_fmt(512, b, sizeof b);
	cr_assert_str_eq(b, "512 B");
	sh_bytes_fmt(12.3 * 1024 * 1024, b, sizeof b);
	cr_assert_str_eq(b, "12.3 MiB");
	sh_bytes_fmt(1.5 * 1024 * 1024 * 1024, b, sizeof b);
	cr_assert_str_eq(b, "1.5 GiB");
	double sc;
	cr_assert_str_eq(sh_bytes_unit(2048, &sc), "KiB");
	cr_assert_float_eq(sc, 1024, 0);
}

/* the first line goes out; repeats within the window are held back and counted, and the next line
 * (or sh_ratelimit_due, when nothing follows) says how many came before it and over how long */
Test(base, ratelimit_counts_what_came_before)
{
	sh_ratelimit r = { .window = 1.0 };
	int held;
	double span;
	cr_assert(sh_ratelimit_pass(&r, 10.0, &held, &span));
	cr_assert_eq(held, 0);
	cr_assert_float_eq(span, 0, 1e-9);
	cr_assert(!sh_ratelimit_pass(&r, 10.2, &held, &span));
	cr_assert(!sh_ratelimit_pass(&r, 10.5, &held, &span));
	cr_assert(!sh_ratelimit_pass(&r, 10.9, &held, &span));
	cr_assert(!sh_ratelimit_due(&r, 10.95, &held, &span), "not before the window has passed");
	cr_assert(sh_ratelimit_pass(&r, 11.4, &held, &span));
	cr_assert_eq(held, 3, "the three before it");
	cr_assert_float_eq(span, 1.2, 1e-9, "from the first held back (10.2) to this line");
	/* a run that nothing follows is reported once, by due */
	cr_assert(!sh_ratelimit_pass(&r, 11.5, &held, &span));
	cr_assert(!sh_ratelimit_pass(&r, 11.8, &held, &span));
	cr_assert(!sh_ratelimit_due(&r, 12.3, &held, &span));
	cr_assert(sh_ratelimit_due(&r, 12.5, &held, &span));
	cr_assert_eq(held, 2);
	cr_assert_float_eq(span, 1.0, 1e-9);
	cr_assert(!sh_ratelimit_due(&r, 20.0, &held, &span), "reported once");
	/* the due report starts a window too: an event right after it is held */
	cr_assert(!sh_ratelimit_pass(&r, 12.6, &held, &span));
	cr_assert(sh_ratelimit_pass(&r, 13.6, &held, &span));
	cr_assert_eq(held, 1);
	cr_assert(!sh_ratelimit_due(&r, 30.0, &held, &span), "nothing held");
}

static void *log_other_thread(void *arg)
{
	sh_log_error("from another thread");
	return arg;
}

Test(base, log_capture_keeps_this_threads_last_error)
{
	char buf[16] = "";
	sh_log_capture(buf, sizeof buf);
	sh_log_info("not an error");
	cr_assert_str_empty(buf);
	sh_log_error("first %d", 1);
	sh_log_error("second, longer than the buffer");
	pthread_t t;
	pthread_create(&t, NULL, log_other_thread, NULL);
	pthread_join(t, NULL);
	cr_assert_str_eq(buf, "second, longer "); /* the last one, truncated; not the other thread's */
	sh_log_capture(NULL, 0);
	sh_log_error("after");
	cr_assert_str_eq(buf, "second, longer ");
}
