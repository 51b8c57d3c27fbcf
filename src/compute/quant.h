/*
 * quant.h - tensor element formats: block layouts, dequantize, quantize, dot products.
 *
 * Type ids are GGML's (they are what GGUF files store), but for shoal's own activation layout
 * Q8_0x4, numbered past them (QT_GGML_COUNT) and never read from a file. A row of n elements of a block type is
 * n/blck blocks of type_size bytes. Every format has a scalar reference kernel (the oracle,
 * `<op>_<type>_ref`) and, where it pays, SIMD kernels (`_avx2`, `_avx512`, `_neon`) compiled with
 * per-file flags and chosen at run time by quant_init() from CPU features.
 *
 * Dot products follow llama.cpp: the weight row (type T) is dotted with an activation row that
 * was first quantized to T's vec_dot_type (Q8_0 for Q4_0/Q8_0, Q8_0x4 for Q4_0 with the avx512
 * kernels, Q8_K for the K-quants, F32 for the float formats), so the inner loops are integer
 * multiply-adds.
 *
 * K-quant dots are bit-exact across kernel sets: every kernel reduces a super-block's integer sums
 * exactly and then adds that super-block's float term with the one expression below, in block
 * order (the build uses -ffp-contract=off so no compiler fuses it into an FMA). Tiny float
 * differences would otherwise flip the rounding of the next layer's activation quantization.
 */
#ifndef SHOAL_QUANT_H
#define SHOAL_QUANT_H

#include "base/base.h"

enum quant_type {
	QT_F32 = 0, QT_F16 = 1, QT_Q4_0 = 2, QT_Q4_1 = 3, QT_Q5_0 = 6, QT_Q5_1 = 7, QT_Q8_0 = 8,
	QT_Q8_1 = 9, QT_Q2_K = 10, QT_Q3_K = 11, QT_Q4_K = 12, QT_Q5_K = 13, QT_Q6_K = 14,
	QT_Q8_K = 15, QT_BF16 = 30, QT_GGML_COUNT = 40, /* the ids a GGUF file may carry; shoal's own: */
	QT_Q8_0X4 = 40, QT_COUNT = 41
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
/*
 * Q8_0x4: Q8_0 activations laid out for the AVX-512 Q4_0 tile, once per matmul, so that no weight
 * row redoes it: four blocks (128 elements) per group, the blocks' elements 0..15 (lo) and 16..31
 * (hi) each as one zmm (block j at bytes 16j..16j+15), the start of each vpdpbusd lane's sum,
 * -8 * (its 4 lo + 4 hi values: Q4_0's offset), and each block's scale as f32 in its 4 lanes.
 * The values are quantize_q8_0's. A row pads to whole groups with zero blocks; never in a file.
 */
#define QK8_0X4 (4 * QK8_0)
typedef struct { int8_t lo[64]; int8_t hi[64]; int32_t start[16]; float d[16]; } block_q8_0x4; /* 256 B */

/* a Q4_K/Q5_K super-block's term: y_d * (d * isum - dmin * msum), isum = sum_j sc_j * dot_j,
 * msum = sum_j m_j * (activation sum of sub-block j) */
static inline float quant_k4_term(float y_d, sh_f16 d, sh_f16 dmin, int32_t isum, int32_t msum)
{
	return y_d * (sh_f16_to_f32(d) * (float)isum - sh_f16_to_f32(dmin) * (float)msum);
}

/* a Q6_K super-block's term: y_d * d * isum, isum = sum_j sc_j * sum (q_l - 32) * y_l */
static inline float quant_k6_term(float y_d, sh_f16 d, int32_t isum) { return y_d * sh_f16_to_f32(d) * (float)isum; }

/* n: elements; x: row of the weight type; y: row of vec_dot_type; *s = sum x[i]*y[i] */
typedef void (*quant_vec_dot_fn)(int n, float *s, const void *x, const void *y);
/* Tile kernel for batches: for r < nr, c < nc: s[c * ld + r] = dot(x row r, y row c).
 * x: nr weight rows bx bytes apart; y: nc activation rows (vec_dot_type) by bytes apart;
 * 1 <= nr <= QUANT_TILE_R, 1 <= nc <= QUANT_TILE_C. Results equal vec_dot's exactly for the
 * K-quants (quant_k4_term / quant_k6_term order) and to float rounding for the others. */
typedef void (*quant_gemm_fn)(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, size_t by, int nc);
#define QUANT_TILE_R 4
#define QUANT_TILE_C 8
typedef void (*quant_to_float_fn)(const void *x, float *y, int64_t n);
/* y[0..n) += a * x[0..n) (x of the type, dequantized): attention's sum over the cached V rows */
typedef void (*quant_axpy_fn)(int n, float a, const void *x, float *y);
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
	quant_gemm_fn gemm;               /* dispatched tile of dots, for batches */
	int gemm_row1_toks;               /* batches of at most this many tokens call gemm one weight row at a
					     time (0: QUANT_TILE_R rows): see quant.c's kernel_set */
	quant_axpy_fn axpy;               /* dispatched; F32, F16 and Q8_0 only (the KV cache's types) */
} quant_traits;

/* a quant_gemm_fn `name` that loops over `dot` (float formats, reference kernels) */
#define QUANT_GEMM_BY_DOT(name, dot)                                                                   \
	void name(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, size_t by, int nc) \
	{                                                                                              \
		for (int r = 0; r < nr; r++)                                                           \
			for (int c = 0; c < nc; c++)                                                   \
				dot(n, &s[(size_t)c * ld + r], (const uint8_t *)x + (size_t)r * bx,  \
				    (const uint8_t *)y + (size_t)c * by);                              \
	}

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
void quantize_q8_0x4_ref(const float *x, void *y, int64_t n);
void dequant_q8_0x4_ref(const void *x, float *y, int64_t n);
/* Q8_0x4 of a row from the Q8_0 quantizer q8 (a kernel set's own) */
void quant_q8_0x4_from(quant_from_float_fn q8, const float *x, void *y, int64_t n);

void axpy_f32_ref(int n, float a, const void *x, float *y);
void axpy_f16_ref(int n, float a, const void *x, float *y);
void axpy_q8_0_ref(int n, float a, const void *x, float *y);

void vec_dot_f32_ref(int n, float *s, const void *x, const void *y);
void vec_dot_f16_ref(int n, float *s, const void *x, const void *y);   /* y is f32 */
void vec_dot_bf16_ref(int n, float *s, const void *x, const void *y);  /* y is f32 */
void vec_dot_q4_0_ref(int n, float *s, const void *x, const void *y);  /* y is q8_0 (q8_0x4 with avx512) */
void vec_dot_q8_0_ref(int n, float *s, const void *x, const void *y);  /* y is q8_0 */
void vec_dot_q4_K_ref(int n, float *s, const void *x, const void *y);  /* y is q8_K */
void vec_dot_q5_K_ref(int n, float *s, const void *x, const void *y);  /* y is q8_K */
void vec_dot_q6_K_ref(int n, float *s, const void *x, const void *y);  /* y is q8_K */

/* tiles (quant_gemm_fn): the reference ones loop over the reference dots */
#define QUANT_DECLARE_GEMM(sfx) \
	void gemm_f32_##sfx(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, size_t by, int nc); \
	void gemm_f16_##sfx(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, size_t by, int nc); \
	void gemm_bf16_##sfx(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, size_t by, int nc); \
	void gemm_q4_0_##sfx(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, size_t by, int nc); \
	void gemm_q8_0_##sfx(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, size_t by, int nc); \
	void gemm_q4_K_##sfx(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, size_t by, int nc); \
	void gemm_q5_K_##sfx(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, size_t by, int nc); \
	void gemm_q6_K_##sfx(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, size_t by, int nc);
QUANT_DECLARE_GEMM(ref)

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
	void dequant_f16_##sfx(const void *x, float *y, int64_t n); \
	void axpy_f32_##sfx(int n, float a, const void *x, float *y); \
	void axpy_f16_##sfx(int n, float a, const void *x, float *y); \
	void axpy_q8_0_##sfx(int n, float a, const void *x, float *y); \
	QUANT_DECLARE_GEMM(sfx)
#if defined(__x86_64__)
QUANT_DECLARE_SIMD(avx2)
QUANT_DECLARE_SIMD(avx512)
void quantize_q8_0x4_avx512(const float *x, void *y, int64_t n);
#endif
#if defined(__aarch64__)
QUANT_DECLARE_SIMD(neon)
#endif

#endif
