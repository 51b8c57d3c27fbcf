/*
 * quant_avx2.c - AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c, x86-64 only).
 *
 * Integer dots use vpmaddubsw (u8 x s8 -> pairs summed to s16) and vpmaddwd (s16 pairs -> s32):
 *   Q4_0: nibbles 0..15 are unsigned, so sum (q-8)*y = maddubs(q, y) - maddubs(8, y), exact.
 *   Q8_0: the sign trick, |x| * (y with x's sign); exact unless x = y = -128, which neither ggml
 *         nor our quantizers produce (both stay within -127..127).
 *   K-quants: levels are unsigned (Q6_K's -32 offset is applied through the activation block's
 *         per-16 sums), sub-block scales enter through vpmaddwd; each super-block's int32 lanes
 *         are summed exactly, then added in scalar float with the reference's expression
 *         (quant_k4_term / quant_k6_term), so these dots equal the reference bit for bit.
 * Q4_0/Q8_0: each block's int32 sums become floats once and accumulate in float vectors; one
 * horizontal sum at the end. Quantizers give bit-identical output to the reference ones.
 */
#include "compute/quant.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* the helpers below must fold into their callers (constant arguments, registers for accumulators) */
#define FORCE_INLINE inline __attribute__((always_inline))

/* ---------------------------------------------------------------- helpers */
static FORCE_INLINE float hsum_f32x8(__m256 v)
{
	__m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

static FORCE_INLINE int hsum_i32x4(__m128i x)
{
	x = _mm_add_epi32(x, _mm_unpackhi_epi64(x, x));
	x = _mm_add_epi32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 1, 1, 1)));
	return _mm_cvtsi128_si32(x);
}

static FORCE_INLINE int hsum_i32x8(__m256i v)
{
	return hsum_i32x4(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

static FORCE_INLINE float hmax_f32x8(__m256 v)
{
	__m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	x = _mm_max_ps(x, _mm_movehl_ps(x, x));
	x = _mm_max_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

static FORCE_INLINE float f16_to_f32(sh_f16 h) { return sh_f16_to_f32(h); }

static FORCE_INLINE __m256 abs_f32x8(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }

/* bf16 (8 of them) to f32: the bf16 bits are the top half of the f32 */
static FORCE_INLINE __m256 load_bf16x8(const sh_bf16 *p)
{
	__m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
	return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* four vectors of 8 int32 (32 values in order) packed, saturating, to 32 int8 */
static FORCE_INLINE __m256i pack_i32x32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d)
{
	__m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
	__m256i v = _mm256_packs_epi16(ab, cd); /* dwords in order a0 b0 c0 d0 a1 b1 c1 d1 */
	return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* broadcast int16 element k of each 128-bit lane's 8 to the whole lane: shuffle control */
static FORCE_INLINE __m256i pick_i16(int k_lo, int k_hi)
{
	return _mm256_setr_m128i(_mm_set1_epi16((short)(((2 * k_lo + 1) << 8) | (2 * k_lo))),
				 _mm_set1_epi16((short)(((2 * k_hi + 1) << 8) | (2 * k_hi))));
}

/* ---------------------------------------------------------------- float formats */
void vec_dot_f32_avx2(int n, float *s, const void *vx, const void *vy)
{
	const float *x = vx, *y = vy;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
	__m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
	int i = 0;
	for (; i + 32 <= n; i += 32) {
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
		acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
		acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
		acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
	}
	for (; i + 8 <= n; i += 8)
		acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
	float sum = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
	for (; i < n; i++)
		sum += x[i] * y[i];
	*s = sum;
}

void vec_dot_f16_avx2(int n, float *s, const void *vx, const void *vy)
{
	const sh_f16 *x = vx;
	const float *y = vy;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
	__m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
#define LOAD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
	int i = 0;
	for (; i + 32 <= n; i += 32) {
		acc0 = _mm256_fmadd_ps(LOAD_F16(x + i), _mm256_loadu_ps(y + i), acc0);
		acc1 = _mm256_fmadd_ps(LOAD_F16(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
		acc2 = _mm256_fmadd_ps(LOAD_F16(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
		acc3 = _mm256_fmadd_ps(LOAD_F16(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
	}
	for (; i + 8 <= n; i += 8)
		acc0 = _mm256_fmadd_ps(LOAD_F16(x + i), _mm256_loadu_ps(y + i), acc0);
#undef LOAD_F16
	float sum = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
	for (; i < n; i++)
		sum += f16_to_f32(x[i]) * y[i];
	*s = sum;
}

void vec_dot_bf16_avx2(int n, float *s, const void *vx, const void *vy)
{
	const sh_bf16 *x = vx;
	const float *y = vy;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
	__m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
	int i = 0;
	for (; i + 32 <= n; i += 32) {
		acc0 = _mm256_fmadd_ps(load_bf16x8(x + i), _mm256_loadu_ps(y + i), acc0);
		acc1 = _mm256_fmadd_ps(load_bf16x8(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
		acc2 = _mm256_fmadd_ps(load_bf16x8(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
		acc3 = _mm256_fmadd_ps(load_bf16x8(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
	}
	for (; i + 8 <= n; i += 8)
		acc0 = _mm256_fmadd_ps(load_bf16x8(x + i), _mm256_loadu_ps(y + i), acc0);
	float sum = hsum_f32x8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
	for (; i < n; i++)
		sum += sh_bf16_to_f32(x[i]) * y[i];
	*s = sum;
}

void dequant_f16_avx2(const void *vx, float *y, int64_t n)
{
	const sh_f16 *x = vx;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
	for (; i < n; i++)
		y[i] = f16_to_f32(x[i]);
}

/* ---------------------------------------------------------------- axpy (the KV cache's types) */
void axpy_f32_avx2(int n, float a, const void *vx, float *y)
{
	const float *x = vx;
	__m256 va = _mm256_set1_ps(a);
	int i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] += a * x[i];
}

void axpy_f16_avx2(int n, float a, const void *vx, float *y)
{
	const sh_f16 *x = vx;
	__m256 va = _mm256_set1_ps(a);
	int i = 0;
	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))),
						       _mm256_loadu_ps(y + i)));
	for (; i < n; i++)
		y[i] += a * f16_to_f32(x[i]);
}

void axpy_q8_0_avx2(int n, float a, const void *vx, float *y)
{
	const block_q8_0 *b = vx;
	for (int i = 0; i < n / QK8_0; i++, y += QK8_0) {
		__m256 d = _mm256_set1_ps(a * f16_to_f32(b[i].d));
		for (int j = 0; j < QK8_0; j += 8) {
			__m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[i].qs + j))));
			_mm256_storeu_ps(y + j, _mm256_fmadd_ps(d, q, _mm256_loadu_ps(y + j)));
		}
	}
}

/* ---------------------------------------------------------------- Q4_0 x Q8_0 */
/* [d0 x4, d1 x4] */
static FORCE_INLINE __m256 two_scales(float d0, float d1) { return _mm256_setr_m128(_mm_set1_ps(d0), _mm_set1_ps(d1)); }

/* 16 bytes at p and 16 at q as one ymm */
static FORCE_INLINE __m256i load_2x128(const void *p, const void *q)
{
	return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
				       _mm_loadu_si128((const __m128i *)q), 1);
}

/*
 * Two blocks at once: q holds the nibble bytes [block 0 | block 1]; its low nibbles (elements
 * 0..15 of each block) meet y_lo, the high ones (elements 16..31) y_hi. Returns sum (q-8)*y in
 * int32 lanes 0-3 (block 0) and 4-7 (block 1), as floats.
 */
static FORCE_INLINE __m256 q4_0_dot2(__m256i q, __m256i y_lo, __m256i y_hi)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
	__m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
	/* |int16 sums| <= 2 * (2*15*128) + 2 * (2*8*128): no saturation */
	__m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, y_lo), _mm256_maddubs_epi16(hi, y_hi));
	__m256i s8 = _mm256_add_epi16(_mm256_maddubs_epi16(eight, y_lo), _mm256_maddubs_epi16(eight, y_hi));
	return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_sub_epi16(p, s8), _mm256_set1_epi16(1)));
}

static FORCE_INLINE __m256 q4_0_pair_dot(const block_q4_0 *x, const block_q8_0 *y)
{
	return q4_0_dot2(load_2x128(x[0].qs, x[1].qs), load_2x128(y[0].qs, y[1].qs), load_2x128(y[0].qs + 16, y[1].qs + 16));
}

/* one block, in lanes 0-3 (lanes 4-7 are 0) */
static FORCE_INLINE __m256 q4_0_single_dot(const block_q4_0 *x, const block_q8_0 *y)
{
	return q4_0_dot2(_mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)x->qs)),
			 _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)y->qs)),
			 _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)(y->qs + 16))));
}

static FORCE_INLINE float q4_0_scale(const block_q4_0 *x, const block_q8_0 *y) { return sh_f16_to_f32(x->d) * sh_f16_to_f32(y->d); }

void vec_dot_q4_0_avx2(int n, float *s, const void *vx, const void *vy)
{
	const block_q4_0 *x = vx;
	const block_q8_0 *y = vy;
	const int nb = n / QK4_0;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
	int i = 0;
	for (; i + 4 <= nb; i += 4) {
		__m256 d0 = two_scales(q4_0_scale(&x[i], &y[i]), q4_0_scale(&x[i + 1], &y[i + 1]));
		__m256 d1 = two_scales(q4_0_scale(&x[i + 2], &y[i + 2]), q4_0_scale(&x[i + 3], &y[i + 3]));
		acc0 = _mm256_fmadd_ps(d0, q4_0_pair_dot(x + i, y + i), acc0);
		acc1 = _mm256_fmadd_ps(d1, q4_0_pair_dot(x + i + 2, y + i + 2), acc1);
	}
	for (; i < nb; i++)
		acc0 = _mm256_fmadd_ps(_mm256_set1_ps(q4_0_scale(&x[i], &y[i])), q4_0_single_dot(x + i, y + i), acc0);
	*s = hsum_f32x8(_mm256_add_ps(acc0, acc1));
}

/* ---------------------------------------------------------------- Q8_0 x Q8_0 */
static FORCE_INLINE __m256 q8_0_block_dot(const block_q8_0 *x, const block_q8_0 *y)
{
	__m256i qx = _mm256_loadu_si256((const __m256i *)x->qs), qy = _mm256_loadu_si256((const __m256i *)y->qs);
	__m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx));
	return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

void vec_dot_q8_0_avx2(int n, float *s, const void *vx, const void *vy)
{
	const block_q8_0 *x = vx, *y = vy;
	const int nb = n / QK8_0;
	__m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
	int i = 0;
	for (; i + 2 <= nb; i += 2) {
		__m256 d0 = _mm256_set1_ps(f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
		__m256 d1 = _mm256_set1_ps(f16_to_f32(x[i + 1].d) * f16_to_f32(y[i + 1].d));
		acc0 = _mm256_fmadd_ps(d0, q8_0_block_dot(&x[i], &y[i]), acc0);
		acc1 = _mm256_fmadd_ps(d1, q8_0_block_dot(&x[i + 1], &y[i + 1]), acc1);
	}
	if (i < nb) {
		__m256 d0 = _mm256_set1_ps(f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
		acc0 = _mm256_fmadd_ps(d0, q8_0_block_dot(&x[i], &y[i]), acc0);
	}
	*s = hsum_f32x8(_mm256_add_ps(acc0, acc1));
}

void quantize_q8_0_avx2(const float *x, void *vy, int64_t n)
{
	block_q8_0 *y = vy;
	for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
		__m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
		__m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
		__m256 m = _mm256_max_ps(_mm256_max_ps(abs_f32x8(v0), abs_f32x8(v1)),
					 _mm256_max_ps(abs_f32x8(v2), abs_f32x8(v3)));
		float d = hmax_f32x8(m) / 127, id = d != 0 ? 1.0f / d : 0.0f;
		y[i].d = sh_f32_to_f16(d);
		__m256 vid = _mm256_set1_ps(id);
		/* cvtps rounds to nearest even, as the reference's lrintf */
		__m256i q = pack_i32x32_to_i8(_mm256_cvtps_epi32(_mm256_mul_ps(v0, vid)),
					      _mm256_cvtps_epi32(_mm256_mul_ps(v1, vid)),
					      _mm256_cvtps_epi32(_mm256_mul_ps(v2, vid)),
					      _mm256_cvtps_epi32(_mm256_mul_ps(v3, vid)));
		_mm256_storeu_si256((__m256i *)y[i].qs, q);
	}
}

/* ---------------------------------------------------------------- Q8_K */
void quantize_q8_K_avx2(const float *x, void *vy, int64_t n)
{
	block_q8_K *y = vy;
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		__m256 m = _mm256_setzero_ps();
		for (int j = 0; j < QK_K; j += 8)
			m = _mm256_max_ps(m, abs_f32x8(_mm256_loadu_ps(x + j)));
		float amax = hmax_f32x8(m);
		memset(&y[i], 0, sizeof y[i]);
		if (amax == 0)
			continue;
		/* the first value of largest magnitude, with its sign */
		__m256 va = _mm256_set1_ps(amax);
		float max = 0;
		for (int j = 0; j < QK_K; j += 8) {
			int hit = _mm256_movemask_ps(_mm256_cmp_ps(abs_f32x8(_mm256_loadu_ps(x + j)), va, _CMP_EQ_OQ));
			if (hit) {
				max = x[j + __builtin_ctz((unsigned)hit)];
				break;
			}
		}
		float iscale = -127.f / max;
		__m256 vs = _mm256_set1_ps(iscale);
		for (int j = 0; j < QK_K; j += 32) {
			__m256i q0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j), vs));
			__m256i q1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8), vs));
			__m256i q2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 16), vs));
			__m256i q3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 24), vs));
			_mm256_storeu_si256((__m256i *)(y[i].qs + j), pack_i32x32_to_i8(q0, q1, q2, q3));
			y[i].bsums[j / 16] = (int16_t)hsum_i32x8(_mm256_add_epi32(q0, q1));
			y[i].bsums[j / 16 + 1] = (int16_t)hsum_i32x8(_mm256_add_epi32(q2, q3));
		}
		y[i].d = 1 / iscale;
	}
}

/* ---------------------------------------------------------------- K-quant helpers */
/*
 * Unpack the 12 packed bytes of Q4_K/Q5_K scales (words u0 u1 u2, see get_scale_min_k4 in
 * quant_ref.c) to bytes 0..7 = scales, 8..15 = mins:
 *   [u0 & 0x3f.., (u2 & 0x0f..) | (bits 6-7 of u0 to 4-5), u1 & 0x3f.., (u2 >> 4 & 0x0f..) | (bits 6-7 of u1)]
 * The 16-byte load reads 4 bytes past the scales, still inside the block.
 */
static FORCE_INLINE __m128i unpack_scales_mins_k4(const uint8_t *packed)
{
	const int m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, top2 = 0x30303030;
	__m128i v = _mm_loadu_si128((const __m128i *)packed);
	__m128i a = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)); /* u0 u2 u1 u2 */
	__m128i b = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)); /* u0 u0 u1 u1 */
	a = _mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)), _mm_setr_epi32(m6, m4, m6, m4));
	b = _mm_and_si128(_mm_srli_epi32(b, 2), _mm_setr_epi32(0, top2, 0, top2));
	return _mm_or_si128(a, b);
}

/* sum over the 8 sub-blocks of min_j * (sum of the activations of sub-block j), exact */
static FORCE_INLINE int k4_mins_dot(__m128i scales_mins, const int16_t *bsums)
{
	__m128i mins = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(scales_mins, scales_mins));
	__m128i sums = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)bsums),
				      _mm_loadu_si128((const __m128i *)(bsums + 8)));
	return hsum_i32x4(_mm_madd_epi16(mins, sums));
}

/* ---------------------------------------------------------------- Q4_K x Q8_K */
/* chunk c: 32 bytes of nibbles = sub-blocks 2c (low) and 2c+1 (high) against 64 activations */
static FORCE_INLINE __m256i q4_K_chunk(__m256i q, const int8_t *q8, __m256i scales, int c)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F);
	__m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
	__m256i p_lo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8));
	__m256i p_hi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
	p_lo = _mm256_madd_epi16(p_lo, _mm256_shuffle_epi8(scales, pick_i16(2 * c, 2 * c)));
	p_hi = _mm256_madd_epi16(p_hi, _mm256_shuffle_epi8(scales, pick_i16(2 * c + 1, 2 * c + 1)));
	return _mm256_add_epi32(p_lo, p_hi);
}

void vec_dot_q4_K_avx2(int n, float *s, const void *vx, const void *vy)
{
	const block_q4_K *x = vx;
	const block_q8_K *y = vy;
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++) {
		__m128i sm = unpack_scales_mins_k4(x[i].scales);
		__m128i sc = _mm_cvtepu8_epi16(sm);
		__m256i scales = _mm256_setr_m128i(sc, sc);
		const uint8_t *q4 = x[i].qs;
		const int8_t *q8 = y[i].qs;
		__m256i sumi = q4_K_chunk(_mm256_loadu_si256((const __m256i *)q4), q8, scales, 0);
		sumi = _mm256_add_epi32(sumi, q4_K_chunk(_mm256_loadu_si256((const __m256i *)(q4 + 32)), q8 + 64, scales, 1));
		sumi = _mm256_add_epi32(sumi, q4_K_chunk(_mm256_loadu_si256((const __m256i *)(q4 + 64)), q8 + 128, scales, 2));
		sumi = _mm256_add_epi32(sumi, q4_K_chunk(_mm256_loadu_si256((const __m256i *)(q4 + 96)), q8 + 192, scales, 3));
		sum += quant_k4_term(y[i].d, x[i].d, x[i].dmin, hsum_i32x8(sumi), k4_mins_dot(sm, y[i].bsums));
	}
	*s = sum;
}

/* ---------------------------------------------------------------- Q5_K x Q8_K */
/* as q4_K_chunk, with the fifth bits: bit 2c of qh for the low nibbles, bit 2c+1 for the high */
static FORCE_INLINE __m256i q5_K_chunk(__m256i q, __m256i qh, const int8_t *q8, __m256i scales, int c)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
	__m256i h_lo = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c), 4), bit4);
	__m256i h_hi = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c + 1), 4), bit4);
	__m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), h_lo);
	__m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h_hi);
	__m256i p_lo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q8));
	__m256i p_hi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
	p_lo = _mm256_madd_epi16(p_lo, _mm256_shuffle_epi8(scales, pick_i16(2 * c, 2 * c)));
	p_hi = _mm256_madd_epi16(p_hi, _mm256_shuffle_epi8(scales, pick_i16(2 * c + 1, 2 * c + 1)));
	return _mm256_add_epi32(p_lo, p_hi);
}

void vec_dot_q5_K_avx2(int n, float *s, const void *vx, const void *vy)
{
	const block_q5_K *x = vx;
	const block_q8_K *y = vy;
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++) {
		__m128i sm = unpack_scales_mins_k4(x[i].scales);
		__m128i sc = _mm_cvtepu8_epi16(sm);
		__m256i scales = _mm256_setr_m128i(sc, sc);
		__m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
		const uint8_t *q5 = x[i].qs;
		const int8_t *q8 = y[i].qs;
		__m256i sumi = q5_K_chunk(_mm256_loadu_si256((const __m256i *)q5), qh, q8, scales, 0);
		sumi = _mm256_add_epi32(sumi, q5_K_chunk(_mm256_loadu_si256((const __m256i *)(q5 + 32)), qh, q8 + 64, scales, 1));
		sumi = _mm256_add_epi32(sumi, q5_K_chunk(_mm256_loadu_si256((const __m256i *)(q5 + 64)), qh, q8 + 128, scales, 2));
		sumi = _mm256_add_epi32(sumi, q5_K_chunk(_mm256_loadu_si256((const __m256i *)(q5 + 96)), qh, q8 + 192, scales, 3));
		sum += quant_k4_term(y[i].d, x[i].d, x[i].dmin, hsum_i32x8(sumi), k4_mins_dot(sm, y[i].bsums));
	}
	*s = sum;
}

/* ---------------------------------------------------------------- Q6_K x Q8_K */
void vec_dot_q6_K_avx2(int n, float *s, const void *vx, const void *vy)
{
	const block_q6_K *x = vx;
	const block_q8_K *y = vy;
	const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03 << 4);
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++) {
		/* the -32 offset: 32 * sum_b scale_b * (sum of the activations of sub-block b) */
		__m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
		__m256i offset = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)y[i].bsums));
		__m256i sumi = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5));
		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = x[i].ql + 64 * h;
			const int8_t *q8 = y[i].qs + 128 * h;
			__m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
			__m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
			__m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
			__m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2));
			__m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2));
			__m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2));
			__m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
						     _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2));
			/* scales of this half (8 sub-blocks of 16) in both lanes */
			__m128i s8 = _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(x[i].scales + 8 * h)));
			__m256i sc = _mm256_setr_m128i(s8, s8);
			__m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)q8)),
						       _mm256_shuffle_epi8(sc, pick_i16(0, 1)));
			__m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(q8 + 32))),
						       _mm256_shuffle_epi8(sc, pick_i16(2, 3)));
			__m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q2, _mm256_loadu_si256((const __m256i *)(q8 + 64))),
						       _mm256_shuffle_epi8(sc, pick_i16(4, 5)));
			__m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(q3, _mm256_loadu_si256((const __m256i *)(q8 + 96))),
						       _mm256_shuffle_epi8(sc, pick_i16(6, 7)));
			sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3)));
		}
		sum += quant_k6_term(y[i].d, x[i].d, hsum_i32x8(sumi));
	}
	*s = sum;
}

/* ---------------------------------------------------------------- tiles (quant_tile_x86.h) */
#define TILE_SFX avx2
#define TILE_VNNI 0
/* vpmaddubsw pairs: the tile kernels only pass operands whose pair sums fit int16 */
static FORCE_INLINE __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) { return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))); }
static FORCE_INLINE __m256i dot_i16(__m256i acc, __m256i a, __m256i b) { return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b)); }
#include "compute/quant_tile_x86.h"

QUANT_GEMM_BY_DOT(gemm_f32_avx2, vec_dot_f32_avx2)
QUANT_GEMM_BY_DOT(gemm_f16_avx2, vec_dot_f16_avx2)
QUANT_GEMM_BY_DOT(gemm_bf16_avx2, vec_dot_bf16_avx2)

#endif
