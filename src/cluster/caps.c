/*
 * caps.c - detecting this node's capabilities and measuring it (design in caps.h).
 *
 * The measurements run on their own short-lived pool, so they see every core the node will use
 * and leave nothing running. The bandwidth buffer comes from sh_alloc_large (mmap) and is
 * written by the thread that later reads that part, so each thread reads pages it touched first
 * (local memory on NUMA machines). The matrix-vector weight is random Q4_0 blocks (small scales,
 * random nibbles): speed does not depend on the values, and quantizing 16M floats would cost more
 * than the measurement.
 *
 * caps.json is replaced atomically (temp file + rename), so a crash never leaves half a file; a
 * file that does not parse, or holds another key, is measured around and rewritten.
 */
#define _GNU_SOURCE
#include "cluster/caps.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "base/pool.h"
#include "compute/quant.h"

#define CAPS_BW_BYTES ((size_t)256 << 20)
#define CAPS_BW_MIN_BYTES ((size_t)16 << 20)
#define CAPS_HUGE ((size_t)2 << 20)
#define CAPS_BW_MIN_PASSES 3
#define CAPS_BW_MAX_PASSES 8
#define CAPS_BW_BUDGET_SEC 0.1
#define CAPS_MM_ROWS 4096
#define CAPS_MM_COLS 4096
#define CAPS_MM_MIN_PASSES 3
#define CAPS_MM_MAX_PASSES 20
#define CAPS_MM_BUDGET_SEC 0.1
#define CAPS_FILE "caps.json"

/* ---------------------------------------------------------------- static facts */
void caps_meminfo(uint64_t *total, uint64_t *available)
{
	uint64_t t = 0, a = 0;
	FILE *f = fopen("/proc/meminfo", "re");
	if (f) {
		char line[256];
		unsigned long long v;
		while (fgets(line, sizeof line, f)) {
			if (sscanf(line, "MemTotal: %llu kB", &v) == 1)
				t = (uint64_t)v << 10;
			else if (sscanf(line, "MemAvailable: %llu kB", &v) == 1)
				a = (uint64_t)v << 10;
		}
		fclose(f);
	}
	if (total)
		*total = t;
	if (available)
		*available = a;
}

/* copies s into out with runs of blanks made one space and no blanks at either end */
static void copy_squeezed(char *out, size_t cap, const char *s)
{
	size_t n = 0;
	bool blank = false;
	for (; *s && n + 1 < cap; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
			blank = n > 0;
			continue;
		}
		if (blank && n + 2 < cap)
			out[n++] = ' ';
		blank = false;
		out[n++] = *s;
	}
	out[n] = 0;
}

/* the value of "key<blanks>: value" in line, or NULL */
static const char *cpuinfo_value(const char *line, const char *key)
{
	size_t k = strlen(key);
	if (strncmp(line, key, k) != 0)
		return NULL;
	line += k;
	while (*line == ' ' || *line == '\t')
		line++;
	if (*line != ':')
		return NULL;
	return line + 1;
}

static void cpu_name(char *out, size_t cap)
{
	char model[96] = "", hw[96] = "", part[96] = "";
	FILE *f = fopen("/proc/cpuinfo", "re");
	if (f) {
		char line[512];
		const char *v;
		while (fgets(line, sizeof line, f)) {
			if (!model[0] && (v = cpuinfo_value(line, "model name")))
				copy_squeezed(model, sizeof model, v);
			else if (!hw[0] && (v = cpuinfo_value(line, "Hardware")))
				copy_squeezed(hw, sizeof hw, v);
			else if (!part[0] && (v = cpuinfo_value(line, "CPU part"))) {
				char p[64];
				copy_squeezed(p, sizeof p, v);
				if (p[0])
					snprintf(part, sizeof part, "CPU part %s", p);
			}
		}
		fclose(f);
	}
	const char *best = model[0] ? model : hw[0] ? hw : part[0] ? part : "unknown";
	snprintf(out, cap, "%s", best);
}

static void simd_name(char *out, size_t cap)
{
	const char *k = quant_kernel_name();
	if (strcmp(k, "avx512") == 0)
		snprintf(out, cap, "avx512 avx2"); /* the avx512 set requires avx2 (and fma, f16c) */
	else if (strcmp(k, "ref") == 0)
		snprintf(out, cap, "none");
	else
		snprintf(out, cap, "%s", k);
}

static void os_name(char *out, size_t cap)
{
	struct utsname u;
	if (uname(&u) != 0) {
		snprintf(out, cap, "unknown");
		return;
	}
	char s[3 * sizeof u.release];
	snprintf(s, sizeof s, "%s %s %s", u.sysname, u.release, u.machine);
	snprintf(out, cap, "%.*s", (int)cap - 1, s);
}

/* ---------------------------------------------------------------- memory bandwidth */
typedef struct {
	uint8_t *buf;
	size_t pages;             /* buf holds pages * 4096 bytes */
	uint64_t *sink;           /* [shares * 8]: one cache line per share, so the sums are not optimized away */
} bw_job;

static void bw_range(const bw_job *j, int ith, int nth, size_t *lo, size_t *hi)
{
	size_t per = j->pages / (size_t)nth, rem = j->pages % (size_t)nth, i = (size_t)ith;
	*lo = (i * per + (i < rem ? i : rem)) * 4096;
	*hi = *lo + (per + (i < rem)) * 4096;
}

static void bw_fill_task(void *arg, int ith, int nth)
{
	const bw_job *j = arg;
	size_t lo, hi;
	bw_range(j, ith, nth, &lo, &hi);
	memset(j->buf + lo, 0x5a + ith, hi - lo);
}

static void bw_read_task(void *arg, int ith, int nth)
{
	const bw_job *j = arg;
	size_t lo, hi;
	bw_range(j, ith, nth, &lo, &hi);
	const uint64_t *p = (const uint64_t *)(j->buf + lo);
	size_t n = (hi - lo) / 8;
	uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
	for (size_t i = 0; i + 4 <= n; i += 4) {
		a0 += p[i];
		a1 += p[i + 1];
		a2 += p[i + 2];
		a3 += p[i + 3];
	}
	j->sink[(size_t)ith * 8] += a0 ^ a1 ^ a2 ^ a3;
}

/* GB/s, or 0 (logged) */
static double measure_bandwidth(pool *p)
{
	size_t bytes = CAPS_BW_BYTES;
	uint64_t avail;
	caps_meminfo(NULL, &avail);
	if (avail && avail < 4 * (uint64_t)CAPS_BW_BYTES)
		bytes = SH_MAX((size_t)(avail / 4) & ~(size_t)4095, CAPS_BW_MIN_BYTES);
	int nth = pool_size(p);
	bw_job j = { .pages = bytes / 4096 };
	/* 2 MiB aligned and advised as huge pages where the kernel does them: faulting the buffer
	 * in 4 KiB pages costs several times the measurement itself (0.2-0.7 s in a VM) */
	size_t map = bytes + CAPS_HUGE;
	uint8_t *raw = sh_alloc_large(map);
	if (raw) {
		j.buf = (uint8_t *)(((uintptr_t)raw + CAPS_HUGE - 1) & ~(uintptr_t)(CAPS_HUGE - 1));
#ifdef MADV_HUGEPAGE
		madvise(j.buf, bytes, MADV_HUGEPAGE); /* advice only: no huge pages is fine */
#endif
	}
	j.sink = sh_alloc(sizeof(uint64_t) * 8 * (size_t)pool_shares(p));
	double best = 0, t0 = sh_time_sec(), t_fill = 0;
	int passes = 0;
	if (j.buf && j.sink) {
		pool_run(p, bw_fill_task, &j);
		t_fill = sh_time_sec() - t0;
		double start = sh_time_sec();
		for (int k = 0; k < CAPS_BW_MAX_PASSES; k++) {
			double t1 = sh_time_sec();
			pool_run(p, bw_read_task, &j);
			double t2 = sh_time_sec(), dt = t2 - t1;
			if (dt > 0 && (best == 0 || dt < best))
				best = dt;
			passes = k + 1;
			if (k + 1 >= CAPS_BW_MIN_PASSES && t2 - start > CAPS_BW_BUDGET_SEC)
				break;
		}
	}
	sh_free(j.sink);
	sh_free_large(raw, map);
	sh_log_debug("bandwidth: %zu MiB, %d threads: fill %.3f s, %d passes, best %.4f s, all %.3f s", bytes >> 20, nth,
		     t_fill, passes, best, sh_time_sec() - t0);
	if (best <= 0) {
		sh_log_warn("memory bandwidth not measured (no memory for a %zu MiB buffer)", bytes >> 20);
		return 0;
	}
	return (double)bytes / best / 1e9;
}

/* ---------------------------------------------------------------- Q4_0 matrix-vector */
typedef struct {
	const uint8_t *w;         /* [CAPS_MM_ROWS] rows of row_bytes */
	size_t row_bytes;
	const void *xq;           /* one row of CAPS_MM_COLS in Q4_0's vec_dot_type */
	float *out;               /* [CAPS_MM_ROWS] */
	quant_vec_dot_fn dot;
} mm_job;

static void mm_task(void *arg, int ith, int nth)
{
	const mm_job *j = arg;
	int lo, hi;
	pool_split(CAPS_MM_ROWS, ith, nth, &lo, &hi);
	for (int r = lo; r < hi; r++)
		j->dot(CAPS_MM_COLS, &j->out[r], j->w + (size_t)r * j->row_bytes, j->xq);
}

/* GFLOP/s, or 0 (logged) */
static double measure_matmul(pool *p)
{
	const quant_traits *qt = quant_get(QT_Q4_0), *vt = quant_get(qt->vec_dot_type);
	mm_job j = { .row_bytes = quant_row_size(QT_Q4_0, CAPS_MM_COLS), .dot = qt->vec_dot };
	size_t nb = (size_t)CAPS_MM_ROWS * (CAPS_MM_COLS / QK4_0);
	block_q4_0 *w = sh_alloc(sizeof(block_q4_0) * nb);
	float *x = sh_alloc(sizeof(float) * CAPS_MM_COLS);
	void *xq = sh_alloc(quant_row_size(qt->vec_dot_type, CAPS_MM_COLS));
	float *out = sh_alloc(sizeof(float) * CAPS_MM_ROWS);
	double best = 0, t_start = sh_time_sec(), t_setup = 0;
	int passes = 0;
	_Static_assert(sizeof(block_q4_0) == 18, "Q4_0 block size");
	if (w && x && xq && out && j.dot && vt->from_float) {
		sh_rng r;
		sh_rng_seed(&r, 42);
		for (size_t b = 0; b < nb; b++) {
			w[b].d = sh_f32_to_f16(0.001f * (float)(1 + b % 13));
			uint64_t q0 = sh_rng_u64(&r), q1 = sh_rng_u64(&r);
			memcpy(w[b].qs, &q0, 8);
			memcpy(w[b].qs + 8, &q1, 8);
		}
		for (int i = 0; i < CAPS_MM_COLS; i++)
			x[i] = sh_rng_normal(&r);
		vt->from_float(x, xq, CAPS_MM_COLS);
		j.w = (const uint8_t *)w;
		j.xq = xq;
		j.out = out;
		t_setup = sh_time_sec() - t_start;
		pool_run(p, mm_task, &j); /* warm-up: caches, the workers' wake-up */
		double start = sh_time_sec();
		for (int k = 0; k < CAPS_MM_MAX_PASSES; k++) {
			double t0 = sh_time_sec();
			pool_run(p, mm_task, &j);
			double t1 = sh_time_sec(), dt = t1 - t0;
			if (dt > 0 && (best == 0 || dt < best))
				best = dt;
			passes = k + 1;
			if (k + 1 >= CAPS_MM_MIN_PASSES && t1 - start > CAPS_MM_BUDGET_SEC)
				break;
		}
		if (!isfinite(out[0]))
			best = 0;
	}
	sh_free(out);
	sh_free(xq);
	sh_free(x);
	sh_free(w);
	sh_log_debug("matmul: setup %.3f s, %d passes, best %.4f s, all %.3f s", t_setup, passes, best,
		     sh_time_sec() - t_start);
	if (best <= 0) {
		sh_log_warn("Q4_0 matrix-vector speed not measured");
		return 0;
	}
	return 2.0 * CAPS_MM_ROWS * CAPS_MM_COLS / best / 1e9;
}

/* ---------------------------------------------------------------- the cache */
/* true when path holds a cache for this key; its numbers go into c (logged when it is ignored) */
static bool cache_load(const char *path, node_caps *c, int n_threads)
{
	if (access(path, F_OK) != 0)
		return false;
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		sh_log_warn("%s:%d: %s: ignored, measuring again", path, je.line, je.text);
		return false;
	}
	int format, cores, threads;
	const char *cpu, *simd;
	double bw, gf;
	bool ok = false;
	if (json_unpack_ex(root, &je, 0, "{s:i, s:s, s:i, s:s, s:i, s:F, s:F}", "format", &format, "cpu", &cpu,
			   "cores", &cores, "simd", &simd, "n_threads", &threads, "mem_bw_gbs", &bw,
			   "matmul_gflops", &gf) != 0) {
		sh_log_warn("%s: %s: ignored, measuring again", path, je.text);
	} else if (format != CAPS_FORMAT || strcmp(cpu, c->cpu) != 0 || cores != c->cores ||
		   strcmp(simd, c->simd) != 0 || threads != n_threads) {
		sh_log_info("%s is for other hardware or settings: measuring again", path);
	} else if (!isfinite(bw) || !isfinite(gf) || bw <= 0 || gf <= 0) {
		sh_log_warn("%s: measurements out of range: ignored, measuring again", path);
	} else {
		c->mem_bw_gbs = bw;
		c->matmul_gflops = gf;
		ok = true;
	}
	json_decref(root);
	return ok;
}

/* writes the cache atomically; failures are logged and otherwise ignored */
static void cache_save(const char *path, const node_caps *c, int n_threads)
{
	json_t *root = json_pack("{s:i, s:s, s:i, s:s, s:i, s:f, s:f}", "format", CAPS_FORMAT, "cpu", c->cpu, "cores",
				 c->cores, "simd", c->simd, "n_threads", n_threads, "mem_bw_gbs", c->mem_bw_gbs,
				 "matmul_gflops", c->matmul_gflops);
	char *text = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	json_decref(root);
	if (!text) {
		sh_log_warn("cannot write %s: out of memory", path);
		return;
	}
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (line) {
		text = line;
		memcpy(text + n++, "\n", 2);
	}
	if (sh_file_write_atomic(path, text, n))
		sh_log_warn("cannot write %s: %s", path, strerror(errno));
	free(text);
}

/* ---------------------------------------------------------------- detect */
int caps_detect(node_caps *c, const char *state_dir, int n_threads)
{
	memset(c, 0, sizeof *c);
	if (!quant_get(QT_Q4_0)->vec_dot)
		quant_init(NULL);
	cpu_name(c->cpu, sizeof c->cpu);
	c->cores = sh_cpu_count();
	simd_name(c->simd, sizeof c->simd);
	os_name(c->os, sizeof c->os);
	caps_meminfo(&c->mem_total, &c->mem_available);
	int nth = n_threads > 0 ? n_threads : c->cores;

	/* caps.lock serializes nodes sharing the state dir: the first measures, the others wait for
	 * it and read its numbers (nodes measuring at once would each see a share of the machine) */
	char path[4160] = "", lock[4160];
	int lk = -1;
	if (state_dir && *state_dir) {
		if (snprintf(path, sizeof path, "%s/" CAPS_FILE, state_dir) >= (int)sizeof path ||
		    snprintf(lock, sizeof lock, "%s/caps.lock", state_dir) >= (int)sizeof lock) {
			sh_log_warn("state dir path too long: capabilities not cached");
			path[0] = 0;
		} else {
			if ((lk = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) >= 0)
				while (flock(lk, LOCK_EX) != 0 && errno == EINTR)
					;
			if (cache_load(path, c, nth)) {
				sh_log_debug("capabilities from %s: %.1f GB/s, %.1f GFLOP/s", path, c->mem_bw_gbs,
					     c->matmul_gflops);
				goto done;
			}
		}
	}

	double t0 = sh_time_sec();
	pool *p = pool_init(nth);
	if (!p) {
		sh_log_warn("no thread pool: capabilities not measured");
		goto done;
	}
	c->mem_bw_gbs = measure_bandwidth(p);
	c->matmul_gflops = measure_matmul(p);
	pool_free(p);
	sh_log_info("measured %d threads (%s): memory %.1f GB/s, Q4_0 matrix-vector %.1f GFLOP/s (%.2f s)", nth, c->simd,
		    c->mem_bw_gbs, c->matmul_gflops, sh_time_sec() - t0);
	if (path[0] && c->mem_bw_gbs > 0 && c->matmul_gflops > 0)
		cache_save(path, c, nth);
done:
	if (lk >= 0)
		close(lk); /* releases the flock */
	return SH_OK;
}
