/*
 * quant.h - tensor element formats: block layouts, dequantize, quantize, dot products.
 *
 * Type ids are GGML's (they are what GGUF files store). A row of n elements of a block type is
 * n/blck blocks of type_size bytes. Every format has a scalar reference kernel (the oracle,
 * `<op>_<type>_ref`) and, where it pays, SIMD kernels (`_avx2`, `_avx512`, `_neon`) compiled with
 * per-file flags and chosen at run time by quant_init() from CPU features.
 *
 * Dot products follow llama.cpp: the weight row (type T) is dotted with an activation row that
 * was first quantized to T's vec_dot_type (Q8_0 for Q4_0/Q8_0, Q8_K for the K-quants, F32 for the
 * float formats), so the inner loops are integer multiply-adds.
 */
#ifndef SHOAL_QUANT_H
#define SHOAL_QUANT_H

#include "base/base.h"

enum quant_type {
	QT_F32 = 0, QT_F16 = 1, QT_Q4_0 = 2, QT_Q4_1 = 3, QT_Q5_0 = 6, QT_Q5_1 = 7, QT_Q8_0 = 8,
	QT_Q8_1 = 9, QT_Q2_K = 10, QT_Q3_K = 11, QT_Q4_K = 12, QT_Q5_K = 13, QT_Q6_K = 14,
	QT_Q8_K = 15, QT_BF16 = 30, QT_COUNT = 40
};

#define QK4_0 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef struct { sh_f16 d; uint8_t qs[QK4_0 / 2]; } block_q4_0;                    /* 18 B */
typedef struct { sh_f16 d; int8_t qs[QK8_0]; } block_q8_0;                         /* 34 B */
typedef struct { sh_f16 d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K; /* 144 B */
typedef struct { sh_f16 d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K; /* 176 B */
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; sh_f16 d; } block_q6_K; /* 210 B */
/* activations for K-quant dots: f32 scale, int8 quants, per-16 sums of the quants */
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;  /* 292 B */

/* n: elements; x: row of the weight type; y: row of vec_dot_type; *s = sum x[i]*y[i] */
typedef void (*quant_vec_dot_fn)(int n, float *s, const void *x, const void *y);
typedef void (*quant_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*quant_from_float_fn)(const float *x, void *y, int64_t n);

typedef struct {
	const char *name;          /* "Q4_0" */
	int blck_size;             /* elements per block (1 for float types) */
	size_t type_size;          /* bytes per block */
	bool supported;            /* shoal can compute with it */
	enum quant_type vec_dot_type;
	quant_to_float_fn to_float;       /* dequantize (dispatched) */
	quant_from_float_fn from_float;   /* quantize (dispatched; used for activations and synth) */
	quant_vec_dot_fn vec_dot;         /* dispatched dot with a vec_dot_type row */
} quant_traits;

/* Detects CPU features and fills the dispatch table; idempotent. force: "ref", "avx2", "avx512"
 * or NULL for the best available (the env var SHOAL_KERNELS overrides NULL). */
void quant_init(const char *force);
const char *quant_kernel_name(void);                  /* "avx512", "avx2", "neon", "ref" */
const quant_traits *quant_get(int type);              /* NULL for an id outside the table */
/* bytes of a row of n elements; 0 if n is not a multiple of the block size or type unknown */
size_t quant_row_size(int type, int64_t n);

/* cpu features */
bool cpu_has_avx2(void);      /* avx2 + fma + f16c */
bool cpu_has_avx512(void);    /* avx512 f/bw/vl/dq + vnni */

/* ---------------------------------------------------------------- reference kernels */
void dequant_f16_ref(const void *x, float *y, int64_t n);
void dequant_bf16_ref(const void *x, float *y, int64_t n);
void dequant_q4_0_ref(const void *x, float *y, int64_t n);
void dequant_q8_0_ref(const void *x, float *y, int64_t n);
void dequant_q4_K_ref(const void *x, float *y, int64_t n);
void dequant_q5_K_ref(const void *x, float *y, int64_t n);
void dequant_q6_K_ref(const void *x, float *y, int64_t n);
void dequant_q8_K_ref(const void *x, float *y, int64_t n);

void quantize_f16_ref(const float *x, void *y, int64_t n);
void quantize_bf16_ref(const float *x, void *y, int64_t n);
void quantize_q4_0_ref(const float *x, void *y, int64_t n);
void quantize_q8_0_ref(const float *x, void *y, int64_t n);
void quantize_q4_K_ref(const float *x, void *y, int64_t n);
void quantize_q5_K_ref(const float *x, void *y, int64_t n);
void quantize_q6_K_ref(const float *x, void *y, int64_t n);
void quantize_q8_K_ref(const float *x, void *y, int64_t n);

void vec_dot_f32_ref(int n, float *s, const void *x, const void *y);
void vec_dot_f16_ref(int n, float *s, const void *x, const void *y);   /* y is f32 */
void vec_dot_bf16_ref(int n, float *s, const void *x, const void *y);  /* y is f32 */
void vec_dot_q4_0_ref(int n, float *s, const void *x, const void *y);  /* y is q8_0 */
void vec_dot_q8_0_ref(int n, float *s, const void *x, const void *y);  /* y is q8_0 */
void vec_dot_q4_K_ref(int n, float *s, const void *x, const void *y);  /* y is q8_K */
void vec_dot_q5_K_ref(int n, float *s, const void *x, const void *y);  /* y is q8_K */
void vec_dot_q6_K_ref(int n, float *s, const void *x, const void *y);  /* y is q8_K */

/* ---------------------------------------------------------------- SIMD kernels (same contracts) */
#define QUANT_DECLARE_SIMD(sfx) \
	void vec_dot_f32_##sfx(int n, float *s, const void *x, const void *y); \
	void vec_dot_f16_##sfx(int n, float *s, const void *x, const void *y); \
	void vec_dot_bf16_##sfx(int n, float *s, const void *x, const void *y); \
	void vec_dot_q4_0_##sfx(int n, float *s, const void *x, const void *y); \
	void vec_dot_q8_0_##sfx(int n, float *s, const void *x, const void *y); \
	void vec_dot_q4_K_##sfx(int n, float *s, const void *x, const void *y); \
	void vec_dot_q5_K_##sfx(int n, float *s, const void *x, const void *y); \
	void vec_dot_q6_K_##sfx(int n, float *s, const void *x, const void *y); \
	void quantize_q8_0_##sfx(const float *x, void *y, int64_t n); \
	void quantize_q8_K_##sfx(const float *x, void *y, int64_t n); \
	void dequant_f16_##sfx(const void *x, float *y, int64_t n);
#if defined(__x86_64__)
QUANT_DECLARE_SIMD(avx2)
QUANT_DECLARE_SIMD(avx512)
#endif
#if defined(__aarch64__)
QUANT_DECLARE_SIMD(neon)
#endif

#endif
