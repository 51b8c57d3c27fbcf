/*
 * base.c - logging, errors, aligned allocation, files (whole reads, atomic writes, mkdir -p), byte
 * counts for people, fp16/bf16 conversion, time, rng.
 *
 * The fp16 -> f32 table (256 KiB) makes dequantizing a scale a single load; it is filled by
 * sh_base_init() from the exact bit-level conversion, which the tests check in both directions.
 */
#define _GNU_SOURCE /* mkostemp */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors and logging */
const char *sh_strerror(int err)
{
	switch (err) {
	case SH_OK: return "ok";
	case SH_EIO: return "i/o error";
	case SH_EFORMAT: return "malformed input";
	case SH_EUNSUP: return "unsupported";
	case SH_ENOMEM: return "out of memory";
	case SH_EINVAL: return "invalid argument";
	case SH_ERANGE: return "out of range";
	case SH_ENOSPC: return "no space left on the disk";
	case SH_EAGAIN: return "not yet";
	}
	return "unknown error";
}

static int log_level = SH_LOG_INFO;

void sh_log_set_level(int level) { log_level = level; }

static __thread char *log_buf;
static __thread size_t log_cap;

void sh_log_capture(char *buf, size_t cap)
{
	log_buf = cap ? buf : NULL;
	log_cap = cap;
}

void sh_log(int level, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	if (level > log_level)
		return;
	char buf[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	fprintf(stderr, "shoal: %s: %s\n", names[level], buf);
	if (level == SH_LOG_ERROR && log_buf)
		snprintf(log_buf, log_cap, "%s", buf);
}

bool sh_ratelimit_pass(sh_ratelimit *r, double now, int *held, double *span)
{
	if (r->last > 0 && now - r->last < r->window) {
		if (!r->held++)
			r->first_held = now;
		return false;
	}
	*held = r->held;
	*span = r->held ? now - r->first_held : 0;
	r->held = 0;
	r->last = now;
	return true;
}

bool sh_ratelimit_due(sh_ratelimit *r, double now, int *held, double *span)
{
	if (!r->held || now - r->last < r->window)
		return false;
	*held = r->held;
	*span = now - r->first_held;
	r->held = 0;
	r->last = now;
	return true;
}

void sh_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "shoal: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}

/* ---------------------------------------------------------------- files */
int sh_file_write_atomic(const char *path, const void *data, size_t len)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + sizeof ".tmp.XXXXXX");
	if (!tmp) {
		errno = ENOMEM;
		return SH_EIO;
	}
	memcpy(tmp, path, n);
	memcpy(tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		free(tmp);
		return SH_EIO;
	}
	const char *p = data;
	bool ok = true;
	for (size_t left = len; ok && left > 0;) {
		ssize_t w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		ok = w > 0;
		if (ok)
			p += w, left -= (size_t)w;
	}
	ok = ok && fsync(fd) == 0;
	int saved = errno;
	ok = close(fd) == 0 && ok;
	if (ok && rename(tmp, path) != 0) {
		saved = errno;
		ok = false;
	}
	if (!ok) {
		unlink(tmp);
		free(tmp);
		errno = saved;
		return SH_EIO;
	}
	char *slash = strrchr(tmp, '/'); /* the rename itself made durable */
	if (slash)
		*slash = 0;
	int dfd = open(slash ? (slash == tmp ? "/" : tmp) : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(tmp);
	return SH_OK;
}

const char *sh_bytes_unit(double b, double *scale)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	*scale = 1;
	while (u < 4 && b >= 1024 * *scale)
		*scale *= 1024, u++;
	return units[u];
}

void sh_bytes_fmt(double b, char *buf, size_t cap)
{
	double sc;
	const char *u = sh_bytes_unit(b, &sc);
	snprintf(buf, cap, sc == 1 ? "%.0f %s" : "%.1f %s", b / sc, u);
}

int sh_mkdir_p(const char *dir, unsigned mode, const char **failed)
{
	static _Thread_local char buf[4096];
	if (failed)
		*failed = buf;
	if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) {
		errno = ENAMETOOLONG;
		return SH_EIO;
	}
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return SH_EIO;
		*p = '/';
	}
	if (mkdir(buf, mode) != 0 && errno != EEXIST)
		return SH_EIO;
	struct stat st;
	if (stat(buf, &st) != 0)
		return SH_EIO;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return SH_EIO;
	}
	return SH_OK;
}

int sh_file_read(const char *path, size_t max, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return SH_EIO;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = SH_OK;
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				rc = SH_ERANGE;
				break;
			}
			cap = cap ? 2 * cap : 1 << 16;
			char *nb = realloc(buf, SH_MIN(cap, max + 1) + 1);
			if (!nb) {
				rc = SH_ENOMEM;
				break;
			}
			buf = nb;
			cap = SH_MIN(cap, max + 1);
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (!rc && ferror(f))
		rc = SH_EIO;
	if (!rc && n > max)
		rc = SH_ERANGE;
	fclose(f);
	if (rc) {
		free(buf);
		return rc;
	}
	if (!buf && !(buf = malloc(1)))
		return SH_ENOMEM;
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return SH_OK;
}

const char *sh_file_error(int err)
{
	return err == SH_ENOMEM ? "out of memory" : err == SH_ERANGE ? "too large" : "cannot open or read";
}

/* ---------------------------------------------------------------- allocation */
void *sh_alloc(size_t size)
{
	void *p = NULL;
	size_t rounded = (size + 63) & ~(size_t)63;
	if (rounded < size || posix_memalign(&p, 64, rounded ? rounded : 64) != 0) {
		sh_log_error("out of memory allocating %zu bytes", size);
		return NULL;
	}
	memset(p, 0, rounded ? rounded : 64);
	return p;
}

void sh_free(void *p) { free(p); }

void *sh_alloc_large(size_t size)
{
	void *p = mmap(NULL, size ? size : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		sh_log_error("out of memory mapping %zu bytes", size);
		return NULL;
	}
	return p;
}

void sh_free_large(void *p, size_t size)
{
	if (p)
		munmap(p, size ? size : 1);
}

/* ---------------------------------------------------------------- fp16 / bf16 */
float sh_f16_table[65536];

float sh_f16_to_f32_ref(sh_f16 h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
	if (exp == 0) {
		if (man == 0) {
			bits = sign;
		} else { /* subnormal: normalize */
			int e = -1;
			do { e++; man <<= 1; } while (!(man & 0x400));
			bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
		}
	} else if (exp == 31) {
		bits = sign | 0x7f800000u | (man << 13);
	} else {
		bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
	}
	union { uint32_t u; float f; } v = { bits };
	return v.f;
}

sh_f16 sh_f32_to_f16(float f)
{
	union { float f; uint32_t u; } v = { f };
	uint32_t x = v.u, sign = (x >> 16) & 0x8000;
	uint32_t absx = x & 0x7fffffffu;
	if (absx >= 0x7f800000u) /* inf or nan */
		return (sh_f16)(sign | 0x7c00 | (absx > 0x7f800000u ? 0x200 : 0));
	if (absx >= 0x477ff000u) /* rounds to >= 65520: inf */
		return (sh_f16)(sign | 0x7c00);
	if (absx < 0x38800000u) { /* below the smallest normal: subnormal or zero */
		if (absx < 0x33000000u)
			return (sh_f16)sign;
		uint32_t e = absx >> 23, man = (absx & 0x7fffff) | 0x800000;
		uint32_t shift = 126 - e; /* 14..24 */
		uint32_t q = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
		if (rem > half || (rem == half && (q & 1)))
			q++;
		return (sh_f16)(sign | q);
	}
	uint32_t q = (absx - 0x38000000u) >> 13, rem = absx & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (q & 1)))
		q++;
	return (sh_f16)(sign | q);
}

sh_bf16 sh_f32_to_bf16(float f)
{
	union { float f; uint32_t u; } v = { f };
	if ((v.u & 0x7fffffffu) > 0x7f800000u)
		return (sh_bf16)((v.u >> 16) | 64);
	return (sh_bf16)((v.u + (0x7fff + ((v.u >> 16) & 1))) >> 16);
}

/* ---------------------------------------------------------------- time, misc */
double sh_time_sec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int sh_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	if (pthread_condattr_init(&a))
		return SH_ENOMEM;
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	int r = pthread_cond_init(cv, &a);
	pthread_condattr_destroy(&a);
	return r ? SH_ENOMEM : SH_OK;
}

void sh_deadline_after(struct timespec *ts, double sec)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	double whole = (double)(time_t)sec;
	ts->tv_sec += (time_t)sec;
	ts->tv_nsec += (long)((sec - whole) * 1e9);
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int sh_cond_wait_sec(pthread_cond_t *cv, pthread_mutex_t *mu, double sec)
{
	struct timespec ts;
	sh_deadline_after(&ts, sec);
	return pthread_cond_timedwait(cv, mu, &ts);
}

int sh_cpu_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

float sh_rng_normal(sh_rng *r)
{
	float u1 = sh_rng_f32(r), u2 = sh_rng_f32(r);
	if (u1 < 1e-12f)
		u1 = 1e-12f;
	return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
}

void sh_base_init(void)
{
	static bool done;
	if (done)
		return;
	for (uint32_t i = 0; i < 65536; i++)
		sh_f16_table[i] = sh_f16_to_f32_ref((sh_f16)i);
	done = true;
}
