/*
 * test_caps.c - node capabilities: the static facts are filled, the two measurements give
 * plausible numbers, and caps.json caches them: a second start reads them (a hand-edited value
 * comes back, which proves the file was read), a cache with another key or a corrupt one is
 * ignored and rewritten. The only timing is a ratio within one test: the cached call against the
 * measured one. Temp files live under a mkdtemp directory in /tmp.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/caps.h"
#include "test_util.h"

static char root[64], cache[128];

static void tmp_root(void)
{
	snprintf(root, sizeof root, "/tmp/shoal-test-caps-XXXXXX");
	cr_assert(mkdtemp(root));
	snprintf(cache, sizeof cache, "%s/caps.json", root);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) { return remove(path); }

static void rm_root(void) { nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static void check_caps(const node_caps *c)
{
	cr_assert(c->cpu[0] && c->os[0] && c->simd[0]);
	cr_assert_eq(c->cores, sh_cpu_count());
	cr_assert(c->mem_total > 0 && c->mem_available > 0 && c->mem_available <= c->mem_total);
	cr_assert_gt(c->mem_bw_gbs, 0.1, "bandwidth %.3f GB/s", c->mem_bw_gbs);
	cr_assert_gt(c->matmul_gflops, 0.01, "matmul %.3f GFLOP/s", c->matmul_gflops);
}

/* caps.json as jansson sees it (the test fails when it does not parse) */
static json_t *cache_json(void)
{
	json_error_t je;
	json_t *j = json_load_file(cache, 0, &je);
	cr_assert(j, "%s: %s", cache, je.text);
	return j;
}

static void cache_set(const char *key, json_t *v)
{
	json_t *j = cache_json();
	json_object_set_new(j, key, v);
	cr_assert_eq(json_dump_file(j, cache, 0), 0);
	json_decref(j);
}

Test(caps, detect_and_cache, .init = tmp_root, .fini = rm_root)
{
	node_caps a, b;
	double t0 = sh_time_sec();
	cr_assert_eq(caps_detect(&a, root, 0), SH_OK);
	double t1 = sh_time_sec();
	check_caps(&a);
	cr_assert_eq(access(cache, R_OK), 0, "caps.json written");
	json_t *j = cache_json();
	cr_assert_eq(json_integer_value(json_object_get(j, "format")), CAPS_FORMAT);
	cr_assert_eq(json_integer_value(json_object_get(j, "cores")), a.cores);
	cr_assert_eq(json_integer_value(json_object_get(j, "n_threads")), a.cores, "0 threads: all cores");
	cr_assert_str_eq(json_string_value(json_object_get(j, "cpu")), a.cpu);
	cr_assert_str_eq(json_string_value(json_object_get(j, "simd")), a.simd);
	json_decref(j);

	double t2 = sh_time_sec();
	cr_assert_eq(caps_detect(&b, root, 0), SH_OK);
	double t3 = sh_time_sec();
	cr_assert_eq(b.mem_bw_gbs, a.mem_bw_gbs, "exactly the cached number");
	cr_assert_eq(b.matmul_gflops, a.matmul_gflops);
	cr_assert_str_eq(b.cpu, a.cpu);
	cr_assert_str_eq(b.os, a.os);
	cr_assert_eq(b.cores, a.cores);
	cr_assert_lt(t3 - t2, (t1 - t0) / 5, "cached %.4f s vs measured %.4f s", t3 - t2, t1 - t0);

	/* hand-edited values come back: the file is what was read */
	cache_set("mem_bw_gbs", json_real(1234.5));
	cache_set("matmul_gflops", json_integer(42));
	cr_assert_eq(caps_detect(&b, root, -1), SH_OK);
	cr_assert_eq(b.mem_bw_gbs, 1234.5);
	cr_assert_eq(b.matmul_gflops, 42.0);
}

Test(caps, other_key_remeasured, .init = tmp_root, .fini = rm_root)
{
	node_caps a;
	cr_assert_eq(caps_detect(&a, root, 1), SH_OK);
	check_caps(&a);
	cache_set("mem_bw_gbs", json_real(1234.5));
	cache_set("cores", json_integer(a.cores + 7)); /* other hardware */
	cr_assert_eq(caps_detect(&a, root, 1), SH_OK);
	check_caps(&a);
	cr_assert_neq(a.mem_bw_gbs, 1234.5, "measured again");
	json_t *j = cache_json();
	cr_assert_eq(json_integer_value(json_object_get(j, "cores")), a.cores, "rewritten with this key");
	cr_assert_eq(json_real_value(json_object_get(j, "mem_bw_gbs")), a.mem_bw_gbs);
	json_decref(j);

	/* another thread count is another key too; the values are only checked for being measured */
	cache_set("mem_bw_gbs", json_real(1234.5));
	cache_set("n_threads", json_integer(a.cores + 1));
	cr_assert_eq(caps_detect(&a, root, 1), SH_OK);
	cr_assert_neq(a.mem_bw_gbs, 1234.5);
	j = cache_json();
	cr_assert_eq(json_integer_value(json_object_get(j, "n_threads")), 1);
	json_decref(j);
}

Test(caps, corrupt_cache_rewritten, .init = tmp_root, .fini = rm_root)
{
	FILE *f = fopen(cache, "w");
	cr_assert(f);
	fputs("{\"format\": 1, \"cpu\": ", f);
	fclose(f);
	node_caps a;
	capture cap;
	capture_begin(&cap);
	cr_assert_eq(caps_detect(&a, root, 0), SH_OK);
	char *log = capture_end(&cap);
	cr_assert(strstr(log, "caps.json"), "the bad file is named: %s", log);
	free(log);
	check_caps(&a);
	json_t *j = cache_json();
	cr_assert_eq(json_real_value(json_object_get(j, "matmul_gflops")), a.matmul_gflops);
	json_decref(j);
}

Test(caps, no_state_dir)
{
	node_caps a;
	cr_assert_eq(caps_detect(&a, NULL, 1), SH_OK);
	check_caps(&a);
	uint64_t total, avail;
	caps_meminfo(&total, &avail);
	cr_assert(total > 0 && avail > 0);
	caps_meminfo(NULL, NULL);
}

/* two processes starting at once on one state dir: one measures, the other waits and reads the
 * cache, so both report the same numbers */
Test(caps, concurrent_measure_once, .init = tmp_root, .fini = rm_root)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	node_caps c;
	caps_detect(&c, root, 0);
	if (pid == 0) {
		double v[2] = { c.mem_bw_gbs, c.matmul_gflops };
		_exit(write(fds[1], v, sizeof v) == sizeof v ? 0 : 1);
	}
	double v[2];
	cr_assert_eq(read(fds[0], v, sizeof v), (ssize_t)sizeof v);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fds[0]);
	close(fds[1]);
	check_caps(&c);
	cr_assert_eq(v[0], c.mem_bw_gbs);
	cr_assert_eq(v[1], c.matmul_gflops);
}
