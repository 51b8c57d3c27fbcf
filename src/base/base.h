/*
 * base.h - the bottom layer: logging, error codes, allocation, fp16/bf16, time.
 *
 * Everything above includes this. Errors are negative SH_E* codes returned up the stack; the
 * function that detects a failure logs it once (sh_log_error) and callers just propagate.
 * SH_ASSERT is for invariants of our own code and is always on; untrusted input is validated,
 * never asserted.
 */
#ifndef SHOAL_BASE_H
#define SHOAL_BASE_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <stdbool.h>
#include <string.h>

/* ---------------------------------------------------------------- errors */
enum {
	SH_OK = 0,
	SH_EIO = -1,       /* open/read/mmap failed */
	SH_EFORMAT = -2,   /* malformed or truncated input */
	SH_EUNSUP = -3,    /* valid but unsupported (type, architecture) */
	SH_ENOMEM = -4,
	SH_EINVAL = -5,    /* bad argument */
	SH_ERANGE = -6,    /* out of range (context full, ...) */
	SH_ENOSPC = -7,    /* the disk is full */
	SH_EAGAIN = -8,    /* not yet: what is asked for is still missing (try again later) */
};
const char *sh_strerror(int err);

/* ---------------------------------------------------------------- logging */
enum { SH_LOG_ERROR, SH_LOG_WARN, SH_LOG_INFO, SH_LOG_DEBUG };
void sh_log_set_level(int level);
void sh_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define sh_log_error(...) sh_log(SH_LOG_ERROR, __VA_ARGS__)
#define sh_log_warn(...) sh_log(SH_LOG_WARN, __VA_ARGS__)
#define sh_log_info(...) sh_log(SH_LOG_INFO, __VA_ARGS__)
#define sh_log_debug(...) sh_log(SH_LOG_DEBUG, __VA_ARGS__)
/* While buf is set (NULL: off), the error lines this thread logs are also kept in it, the last one
 * whole (truncated to cap): what a background job failed of, for a client to see. Per thread. */
void sh_log_capture(char *buf, size_t cap);

/* A log line that may repeat often (a peer sending garbage) goes out at most once per window
 * seconds. The events held back are counted, and the next line that goes out says how many came
 * before it and over how long; sh_ratelimit_due reports a run of held-back events that nothing
 * followed, once the window has passed. Not locked: one thread, or the caller's lock. */
typedef struct {
	double window;          /* seconds between lines */
	double last;            /* when the last line went out; 0: none yet */
	int held;               /* events held back since then */
	double first_held;      /* when the first of them happened */
} sh_ratelimit;

/* an event at now: true when its line goes out now; then *held and *span say how many were held
 * back before it and over how many seconds (0, 0: none) */
bool sh_ratelimit_pass(sh_ratelimit *r, double now, int *held, double *span);
/* true when events are held back and the window since the last line has passed: the caller reports
 * them (*held over *span seconds) in a line of its own, and they count as reported */
bool sh_ratelimit_due(sh_ratelimit *r, double now, int *held, double *span);

void sh_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define SH_ASSERT(x) ((x) ? (void)0 : sh_assert_fail(#x, __FILE__, __LINE__))

/* ---------------------------------------------------------------- allocation */
/* 64-byte aligned, zeroed; NULL on failure (logged). sh_free(NULL) is a no-op. */
void *sh_alloc(size_t size);
void sh_free(void *p);
/* page-aligned, zero, faulted in lazily (mmap): for big buffers such as KV caches */
void *sh_alloc_large(size_t size);
void sh_free_large(void *p, size_t size);
/* a*b without overflow: returns false on overflow */
static inline bool sh_mul_ok(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool sh_add_ok(uint64_t a, uint64_t b, uint64_t *out) { return !__builtin_add_overflow(a, b, out); }

#define SH_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SH_MAX(a, b) ((a) > (b) ? (a) : (b))
#define SH_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- fp16 / bf16 */
typedef uint16_t sh_f16;
typedef uint16_t sh_bf16;
float sh_f16_to_f32_ref(sh_f16 h);          /* exact, handles subnormals/inf/nan */
sh_f16 sh_f32_to_f16(float f);              /* round to nearest even */
extern float sh_f16_table[65536];           /* filled by sh_base_init() */
static inline float sh_f16_to_f32(sh_f16 h) { return sh_f16_table[h]; }
static inline float sh_bf16_to_f32(sh_bf16 h) { union { uint32_t u; float f; } v = { (uint32_t)h << 16 }; return v.f; }
sh_bf16 sh_f32_to_bf16(float f);            /* round to nearest even, nan kept nan */

/* ---------------------------------------------------------------- files */
/* The whole file at path, NUL-terminated (*len bytes before the NUL), at most max bytes: 0 and a
 * malloc'd *out, or SH_EIO (cannot open or read it), SH_ENOMEM, SH_ERANGE (larger than max). Logs
 * nothing: the caller says what the file was for (sh_file_error words the code). */
int sh_file_read(const char *path, size_t max, char **out, size_t *len);
const char *sh_file_error(int err);   /* "cannot open or read", "out of memory", "too large" */
/* Writes data to path whole or not at all: a temporary file beside it, fsync, rename over path,
 * fsync of the directory. 0, or SH_EIO with errno set (the temporary file removed). Logs nothing. */
int sh_file_write_atomic(const char *path, const void *data, size_t len);
/* the unit that suits a byte count (B, KiB, MiB, GiB, TiB) and its size in *scale */
const char *sh_bytes_unit(double b, double *scale);
/* "512 B", "12.3 MiB", "1.5 GiB" into buf */
void sh_bytes_fmt(double b, char *buf, size_t cap);
/* mkdir -p: creates dir and its missing parents with mode. 0, or SH_EIO with errno set and the
 * component that failed in *failed (a static buffer; NULL to ignore) when one cannot be made or
 * dir is not a directory. Logs nothing. */
int sh_mkdir_p(const char *dir, unsigned mode, const char **failed);

/* ---------------------------------------------------------------- time, misc */
double sh_time_sec(void);                   /* monotonic seconds */
/* condition variables timed on the monotonic clock (a wall-clock jump neither fires nor holds them) */
int sh_cond_init(pthread_cond_t *cv);       /* SH_OK or SH_ENOMEM */
void sh_deadline_after(struct timespec *ts, double sec);  /* now + sec, for pthread_cond_timedwait */
int sh_cond_wait_sec(pthread_cond_t *cv, pthread_mutex_t *mu, double sec);  /* 0 or ETIMEDOUT */
int sh_cpu_count(void);
void sh_base_init(void);                    /* once, before anything else; idempotent */

/* xorshift-style deterministic rng (tests, synth, sampling) */
typedef struct { uint64_t s; } sh_rng;
static inline void sh_rng_seed(sh_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull; if (!r->s) r->s = 1; }
static inline uint64_t sh_rng_u64(sh_rng *r) { /* splitmix64 */
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}
static inline float sh_rng_f32(sh_rng *r) { return (float)(sh_rng_u64(r) >> 40) * (1.0f / 16777216.0f); } /* [0,1) */
float sh_rng_normal(sh_rng *r);             /* N(0,1) */

#endif
