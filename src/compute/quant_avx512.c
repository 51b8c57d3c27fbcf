/*
 * quant_avx512.c - AVX-512 (F/BW/VL/DQ) + VNNI kernels, x86-64 only.
 *
 * Integer dots use vpdpbusd (u8 x s8, four products summed into each int32 lane).
 *   Q4_0: four blocks per zmm (16 nibble bytes each, inserted at 128-bit lanes), levels 0..15
 *         unsigned: sum (q-8)*y = dpbusd(q, y) - dpbusd(8, y); the second term depends on the
 *         activations alone, so the activation row (Q8_0x4, quantize_q8_0x4_avx512) carries it,
 *         with its halves and scales laid out per zmm, and every row's sum starts from it.
 *   Q8_0: two blocks per zmm, x + 128 unsigned (x ^ 0x80): sum x*y = dpbusd(x ^ 0x80, y) -
 *         128 * sum y, exact for any int8 values; the second term again once per column.
 *   Q4_0/Q8_0 scales: four blocks' f16 scales converted at once (vcvtph2ps) and spread to their
 *         blocks' lanes by one permute; in a Q4_0 tile, picked out of the blocks' own bytes by a
 *         word permute (no scalar loads). A row's last 1-3 blocks pair with a zero block. On this
 *         project's Zen 5 machines a zmm op costs what a ymm one does (measured: vpdpbusd zmm and
 *         ymm run at the same rate), so these went to twice the blocks per instruction of their ymm
 *         forms (quant_tile_x86.h, the AVX2 set): prefill and decode of Q4_0 and Q8_0 went up
 *         10-25% (docs/performance.md).
 *   K-quants: levels are unsigned; dpbusd gives one int32 per 4 elements (|v| < 2^15), vpdpwssd
 *         with the sub-block scale (an int16 zero-extended in each int32 lane) scales and
 *         accumulates in one step; Q6_K's -32 offset goes through the activation bsums. Each
 *         super-block's int32 lanes are summed exactly, then added in scalar float with the
 *         reference's expression (quant_k4_term / quant_k6_term): bit-identical to the reference.
 *         Q4_K and Q5_K use the 256-bit (VL) forms, Q6_K zmm.
 * Float row tails use masked loads. Quantizers give bit-identical output to the reference ones.
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

static FORCE_INLINE float hsum_f32x16(__m512 v)
{
	return hsum_f32x8(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
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

static FORCE_INLINE int hsum_i32x16(__m512i v)
{
	return hsum_i32x8(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}

static FORCE_INLINE float hmax_f32x16(__m512 v)
{
	__m256 y = _mm256_max_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
	__m128 x = _mm_max_ps(_mm256_castps256_ps128(y), _mm256_extractf128_ps(y, 1));
	x = _mm_max_ps(x, _mm_movehl_ps(x, x));
	x = _mm_max_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

static FORCE_INLINE __mmask16 tail_mask(int rem) { return (__mmask16)((1u << rem) - 1); }

/* 16 halves; masked (lanes outside k are 0) unless k is the constant all-ones */
static FORCE_INLINE __m256i load_16x16(const uint16_t *p, __mmask16 k)
{
	return k == 0xFFFF ? _mm256_loadu_si256((const __m256i *)p) : _mm256_maskz_loadu_epi16(k, p);
}

static FORCE_INLINE __m512 load_f32x16(const float *p, __mmask16 k)
{
	return k == 0xFFFF ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(k, p);
}

/* bf16 to f32: the bf16 bits are the top half of the f32 */
static FORCE_INLINE __m512 load_bf16x16(const sh_bf16 *p, __mmask16 k)
{
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(load_16x16(p, k)), 16));
}

static FORCE_INLINE __m512 load_f16x16(const sh_f16 *p, __mmask16 k) { return _mm512_cvtph_ps(load_16x16(p, k)); }

static FORCE_INLINE __m512i broadcast_256(const void *p) { return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p)); }

/* ---------------------------------------------------------------- float formats */
#define FLOAT_DOT(name, T, LOAD)                                                                \
	void name(int n, float *s, const void *vx, const void *vy)                                \
	{                                                                                         \
		const T *x = vx;                                                                  \
		const float *y = vy;                                                              \
		const __mmask16 all = 0xFFFF;                                                     \
		__m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                    \
		__m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();                    \
		int i = 0;                                                                        \
		for (; i + 64 <= n; i += 64) {                                                    \
			acc0 = _mm512_fmadd_ps(LOAD(x + i, all), _mm512_loadu_ps(y + i), acc0);     \
			acc1 = _mm512_fmadd_ps(LOAD(x + i + 16, all), _mm512_loadu_ps(y + i + 16), acc1); \
			acc2 = _mm512_fmadd_ps(LOAD(x + i + 32, all), _mm512_loadu_ps(y + i + 32), acc2); \
			acc3 = _mm512_fmadd_ps(LOAD(x + i + 48, all), _mm512_loadu_ps(y + i + 48), acc3); \
		}                                                                                 \
		for (; i + 16 <= n; i += 16)                                                      \
			acc0 = _mm512_fmadd_ps(LOAD(x + i, all), _mm512_loadu_ps(y + i), acc0);     \
		if (i < n) {                                                                      \
			__mmask16 k = tail_mask(n - i);                                           \
			acc1 = _mm512_fmadd_ps(LOAD(x + i, k), _mm512_maskz_loadu_ps(k, y + i), acc1); \
		}                                                                                 \
		*s = hsum_f32x16(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3))); \
	}

FLOAT_DOT(vec_dot_f32_avx512, float, load_f32x16)
FLOAT_DOT(vec_dot_f16_avx512, sh_f16, load_f16x16)
FLOAT_DOT(vec_dot_bf16_avx512, sh_bf16, load_bf16x16)
#undef FLOAT_DOT

void dequant_f16_avx512(const void *vx, float *y, int64_t n)
{
	const sh_f16 *x = vx;
	int64_t i = 0;
	for (; i + 16 <= n; i += 16)
		_mm512_storeu_ps(y + i, load_f16x16(x + i, 0xFFFF));
	if (i < n) {
		__mmask16 k = tail_mask((int)(n - i));
		_mm512_mask_storeu_ps(y + i, k, load_f16x16(x + i, k));
	}
}

/* ---------------------------------------------------------------- axpy (the KV cache's types) */
void axpy_f32_avx512(int n, float a, const void *vx, float *y)
{
	const float *x = vx;
	__m512 va = _mm512_set1_ps(a);
	for (int i = 0; i < n; i += 16) {
		__mmask16 k = n - i >= 16 ? 0xFFFF : tail_mask(n - i);
		_mm512_mask_storeu_ps(y + i, k, _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, y + i)));
	}
}

void axpy_f16_avx512(int n, float a, const void *vx, float *y)
{
	const sh_f16 *x = vx;
	__m512 va = _mm512_set1_ps(a);
	for (int i = 0; i < n; i += 16) {
		__mmask16 k = n - i >= 16 ? 0xFFFF : tail_mask(n - i);
		_mm512_mask_storeu_ps(y + i, k, _mm512_fmadd_ps(va, load_f16x16(x + i, k), _mm512_maskz_loadu_ps(k, y + i)));
	}
}

void axpy_q8_0_avx512(int n, float a, const void *vx, float *y)
{
	const block_q8_0 *b = vx;
	for (int i = 0; i < n / QK8_0; i++, y += QK8_0) {
		__m512 d = _mm512_set1_ps(a * sh_f16_to_f32(b[i].d));
		for (int j = 0; j < QK8_0; j += 16) {
			__m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[i].qs + j))));
			_mm512_storeu_ps(y + j, _mm512_fmadd_ps(d, q, _mm512_loadu_ps(y + j)));
		}
	}
}

/* ---------------------------------------------------------------- Q4_0 x Q8_0x4 */
/*
 * Four blocks per zmm: q holds the nibble bytes [block 0 | 1 | 2 | 3] (16 bytes each); its low
 * nibbles (elements 0..15 of each block) meet y_lo, the high ones (16..31) y_hi. sum (q-8)*y =
 * dpbusd(q, y) - 8 * sum y: the -8 * sum y term depends on y alone. The activations come as
 * Q8_0x4 (quant.h), made once per matmul: y_lo, y_hi, that term and the spread scales are four
 * loads per group, where building them from Q8_0 blocks for every weight row cost as much as the
 * dot products. The weight blocks' scales are converted together (vcvtph2ps) and spread to the
 * lanes of their blocks (lanes 4j..4j+3: block j). A row's last 1-3 blocks take the zero block for
 * the missing ones (scale 0, no quants); the activation's last group is padded the same way.
 */
static const block_q4_0 q4_0_zero;
static const block_q8_0 q8_0_zero;

/* 16 bytes at each of p0..p3 as one zmm */
static FORCE_INLINE __m512i load_4x128(const void *p0, const void *p1, const void *p2, const void *p3)
{
	__m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p0));
	v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)p1), 1);
	v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)p2), 2);
	return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)p3), 3);
}

/* four f16 as f32 */
static FORCE_INLINE __m128 f16x4(sh_f16 a, sh_f16 b, sh_f16 c, sh_f16 d)
{
	return _mm_cvtph_ps(_mm_setr_epi16((short)a, (short)b, (short)c, (short)d, 0, 0, 0, 0));
}

/* [v0 x4, v1 x4, v2 x4, v3 x4] */
static FORCE_INLINE __m512 spread_x4(__m128 v)
{
	return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), _mm512_castps128_ps512(v));
}

/* blocks i..i+3 of a row (the zero block past nb: only when tail, a constant) */
typedef struct { const block_q4_0 *b[4]; } q4_0_four;
typedef struct { const block_q8_0 *b[4]; } q8_0_four;

static FORCE_INLINE q4_0_four q4_0_four_at(const block_q4_0 *x, int i, int nb, const bool tail)
{
	q4_0_four f;
	for (int j = 0; j < 4; j++)
		f.b[j] = !tail || i + j < nb ? x + i + j : &q4_0_zero;
	return f;
}

static FORCE_INLINE q8_0_four q8_0_four_at(const block_q8_0 *y, int i, int nb, const bool tail)
{
	q8_0_four f;
	for (int j = 0; j < 4; j++)
		f.b[j] = !tail || i + j < nb ? y + i + j : &q8_0_zero;
	return f;
}

typedef struct { __m512i lo, hi; } nibbles;

static FORCE_INLINE nibbles q4_0_unpack(const q4_0_four *x)
{
	const __m512i m4 = _mm512_set1_epi8(0x0F);
	__m512i q = load_4x128(x->b[0]->qs, x->b[1]->qs, x->b[2]->qs, x->b[3]->qs);
	return (nibbles){ _mm512_and_si512(q, m4), _mm512_and_si512(_mm512_srli_epi16(q, 4), m4) };
}

static FORCE_INLINE __m128 q4_0_scales(const q4_0_four *x) { return f16x4(x->b[0]->d, x->b[1]->d, x->b[2]->d, x->b[3]->d); }
static FORCE_INLINE __m128 q8_0_scales(const q8_0_four *y) { return f16x4(y->b[0]->d, y->b[1]->d, y->b[2]->d, y->b[3]->d); }

/*
 * The scales of four whole Q4_0 blocks from the blocks' bytes, spread (lanes 4j..4j+3: block j): a
 * block's scale is its first f16, at word 9j of four blocks (18 bytes each; 72 bytes, the first 64
 * hold all four scales). One word permute puts each scale in its four lanes and one vcvtph2ps
 * converts all 16: no scalar loads. Only for whole groups of four blocks (the read stays inside).
 */
static FORCE_INLINE __m512 q4_0_scales_spread(const block_q4_0 *x)
{
	const __m512i at = _mm512_setr_epi32(0, 0, 0x00090009, 0x00090009, 0x00120012, 0x00120012, 0x001b001b, 0x001b001b,
					     0, 0, 0, 0, 0, 0, 0, 0);
	return _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(at, _mm512_loadu_si512(x))));
}

/* a tile's step (tile_zmm_pass): each row unpacked once for all columns; the columns come laid
 * out (Q8_0x4: halves, the -8 * sum starts and spread scales made once per matmul) */
static FORCE_INLINE void tile_q4_0_step(__m512 acc[4][4], const uint8_t *x, size_t bx, const uint8_t *y, size_t by, int i,
					int nb, const int nr, const int nc, const bool tail)
{
	nibbles q[4];
	__m512 dx[4];
	for (int r = 0; r < nr; r++) {
		q4_0_four f = q4_0_four_at((const block_q4_0 *)(x + r * bx), i, nb, tail);
		q[r] = q4_0_unpack(&f);
		dx[r] = tail ? spread_x4(q4_0_scales(&f)) : q4_0_scales_spread(f.b[0]);
	}
	for (int c = 0; c < nc; c++) {
		const block_q8_0x4 *g = (const block_q8_0x4 *)(y + c * by) + i / 4;
		__m512i lo = _mm512_loadu_si512(g->lo), hi = _mm512_loadu_si512(g->hi), start = _mm512_loadu_si512(g->start);
		__m512 dy = _mm512_loadu_ps(g->d);
		for (int r = 0; r < nr; r++) {
			__m512i sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(start, q[r].lo, lo), q[r].hi, hi);
			acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(dx[r], dy), _mm512_cvtepi32_ps(sum), acc[r][c]);
		}
	}
}


/* ---------------------------------------------------------------- Q8_0 x Q8_0 */
/*
 * Two blocks per zmm, with x + 128 unsigned (x ^ 0x80): sum x * y = dpbusd(x ^ 0x80, y) - 128 *
 * sum y, exact for any int8 values. The -128 * sum y term depends on y alone (the tile computes it
 * once per column). Scales: four blocks' converted together, spread to lanes 8j..8j+7 of their
 * block's half.
 */
/* 32 bytes at p and 32 at q as one zmm */
static FORCE_INLINE __m512i load_2x256(const void *p, const void *q)
{
	return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p)),
				  _mm256_loadu_si256((const __m256i *)q), 1);
}

/* [v(2h) x8, v(2h+1) x8] */
static FORCE_INLINE __m512 spread_x8(__m128 v, const int h)
{
	return _mm512_permutexvar_ps(_mm512_setr_epi32(2 * h, 2 * h, 2 * h, 2 * h, 2 * h, 2 * h, 2 * h, 2 * h, 2 * h + 1,
						       2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h + 1,
						       2 * h + 1),
				     _mm512_castps128_ps512(v));
}

/* blocks 2h and 2h+1 of f: x ^ 0x80 (weights) */
static FORCE_INLINE __m512i q8_0_biased(const q8_0_four *f, const int h)
{
	return _mm512_xor_si512(load_2x256(f->b[2 * h]->qs, f->b[2 * h + 1]->qs), _mm512_set1_epi8((char)0x80));
}

/* blocks 2h and 2h+1 of f (activations), and -128 * their sums (the start of each sum) */
typedef struct { __m512i q, start; } q8_0_pair;

static FORCE_INLINE q8_0_pair q8_0_pair_of(const q8_0_four *f, const int h)
{
	q8_0_pair p = { load_2x256(f->b[2 * h]->qs, f->b[2 * h + 1]->qs), _mm512_setzero_si512() };
	p.start = _mm512_sub_epi32(p.start, _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8((char)0x80), p.q));
	return p;
}

static FORCE_INLINE __m512 q8_0_dot2(__m512i biased, const q8_0_pair *y)
{
	return _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(y->start, biased, y->q));
}

static FORCE_INLINE void tile_q8_0_step(__m512 acc[4][4], const uint8_t *x, size_t bx, const uint8_t *y, size_t by, int i,
					int nb, const int nr, const int nc, const bool tail)
{
	q8_0_four xf[4], yf[4];
	__m128 dx[4], dy[4];
	for (int r = 0; r < nr; r++) {
		xf[r] = q8_0_four_at((const block_q8_0 *)(x + r * bx), i, nb, tail);
		dx[r] = q8_0_scales(&xf[r]);
	}
	for (int c = 0; c < nc; c++) {
		yf[c] = q8_0_four_at((const block_q8_0 *)(y + c * by), i, nb, tail);
		dy[c] = q8_0_scales(&yf[c]);
	}
	for (int h = 0; h < 2; h++) {
		if (tail && i + 2 * h >= nb)
			break;
		__m512i q[4];
		__m512 sx[4];
		for (int r = 0; r < nr; r++) {
			q[r] = q8_0_biased(&xf[r], h);
			sx[r] = spread_x8(dx[r], h);
		}
		for (int c = 0; c < nc; c++) {
			q8_0_pair p = q8_0_pair_of(&yf[c], h);
			__m512 sy = spread_x8(dy[c], h);
			for (int r = 0; r < nr; r++)
				acc[r][c] = _mm512_fmadd_ps(_mm512_mul_ps(sx[r], sy), q8_0_dot2(q[r], &p), acc[r][c]);
		}
	}
}

/* Q4_0 and Q8_0 tiles: nr rows x up to 4 columns per pass (16 zmm accumulators), four blocks
 * per step (tile_q4_0_step, tile_q8_0_step; the type is a constant) */
static FORCE_INLINE void tile_zmm_pass(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y,
				       size_t by, const int nr, const int nc, const int type)
{
	__m512 acc[4][4];
	for (int r = 0; r < nr; r++)
		for (int c = 0; c < nc; c++)
			acc[r][c] = _mm512_setzero_ps();
	const int nb = n / QK8_0;
	int i = 0;
	for (; i + 4 <= nb; i += 4)
		if (type == QT_Q4_0)
			tile_q4_0_step(acc, x, bx, y, by, i, nb, nr, nc, false);
		else
			tile_q8_0_step(acc, x, bx, y, by, i, nb, nr, nc, false);
	if (i < nb && type == QT_Q4_0)
		tile_q4_0_step(acc, x, bx, y, by, i, nb, nr, nc, true);
	else if (i < nb)
		tile_q8_0_step(acc, x, bx, y, by, i, nb, nr, nc, true);
	for (int r = 0; r < nr; r++)
		for (int c = 0; c < nc; c++)
			s[c * ld + r] = hsum_f32x16(acc[r][c]);
}

static FORCE_INLINE void tile_zmm(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by,
				  const int nr, const int nc, const int type)
{
	for (int c = 0; c < nc; c += 4)
		tile_zmm_pass(n, s + c * ld, ld, x, bx, y + c * by, by, nr, nc - c < 4 ? nc - c : 4, type);
}

static FORCE_INLINE void tile_q4_0(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by,
				   const int nr, const int nc)
{
	tile_zmm(n, s, ld, x, bx, y, by, nr, nc, QT_Q4_0);
}

static FORCE_INLINE void tile_q8_0(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by,
				   const int nr, const int nc)
{
	tile_zmm(n, s, ld, x, bx, y, by, nr, nc, QT_Q8_0);
}
/* Q4_0's dot is the 1 x 1 tile: a batch's logits equal those of its tokens one by one. Q8_0's
 * keeps two accumulators (one per half of a step) where the tile's (r, c) has one: as the 1 x 1
 * tile its decode was 20% slower (the chain of two dependent FMAs per step), so Q8_0 batches agree
 * with one-by-one only to float rounding. */
void vec_dot_q4_0_avx512(int n, float *s, const void *vx, const void *vy) { tile_zmm_pass(n, s, 1, vx, 0, vy, 0, 1, 1, QT_Q4_0); }

static FORCE_INLINE void q8_0_dot_step(__m512 acc[2], const block_q8_0 *x, const block_q8_0 *y, int i, int nb, const bool tail)
{
	q8_0_four xf = q8_0_four_at(x, i, nb, tail), yf = q8_0_four_at(y, i, nb, tail);
	__m128 d = _mm_mul_ps(q8_0_scales(&xf), q8_0_scales(&yf));
	q8_0_pair y0 = q8_0_pair_of(&yf, 0), y1 = q8_0_pair_of(&yf, 1);
	acc[0] = _mm512_fmadd_ps(spread_x8(d, 0), q8_0_dot2(q8_0_biased(&xf, 0), &y0), acc[0]);
	acc[1] = _mm512_fmadd_ps(spread_x8(d, 1), q8_0_dot2(q8_0_biased(&xf, 1), &y1), acc[1]);
}

void vec_dot_q8_0_avx512(int n, float *s, const void *vx, const void *vy)
{
	const block_q8_0 *x = vx, *y = vy;
	const int nb = n / QK8_0;
	__m512 acc[2] = { _mm512_setzero_ps(), _mm512_setzero_ps() };
	int i = 0;
	for (; i + 4 <= nb; i += 4)
		q8_0_dot_step(acc, x, y, i, nb, false);
	if (i < nb)
		q8_0_dot_step(acc, x, y, i, nb, true);
	*s = hsum_f32x16(_mm512_add_ps(acc[0], acc[1]));
}

#define TILE_OWN_Q4_0 /* quant_tile_x86.h's ymm tiles of these two are the AVX2 ones */
#define TILE_OWN_Q8_0

void quantize_q8_0_avx512(const float *x, void *vy, int64_t n)
{
	block_q8_0 *y = vy;
	for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
		__m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
		float d = hmax_f32x16(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1))) / 127;
		float id = d != 0 ? 1.0f / d : 0.0f;
		y[i].d = sh_f32_to_f16(d);
		__m512 vid = _mm512_set1_ps(id);
		/* cvtps rounds to nearest even, as the reference's lrintf; vpmovsdb saturates */
		_mm_storeu_si128((__m128i *)y[i].qs, _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, vid))));
		_mm_storeu_si128((__m128i *)(y[i].qs + 16), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, vid))));
	}
}

/* Q4_0's activations: this set's Q8_0 values in the layout its tile reads */
void quantize_q8_0x4_avx512(const float *x, void *vy, int64_t n) { quant_q8_0x4_from(quantize_q8_0_avx512, x, vy, n); }

/* ---------------------------------------------------------------- Q8_K */
void quantize_q8_K_avx512(const float *x, void *vy, int64_t n)
{
	block_q8_K *y = vy;
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		__m512 m = _mm512_setzero_ps();
		for (int j = 0; j < QK_K; j += 16)
			m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
		float amax = hmax_f32x16(m);
		memset(&y[i], 0, sizeof y[i]);
		if (amax == 0)
			continue;
		/* the first value of largest magnitude, with its sign */
		__m512 va = _mm512_set1_ps(amax);
		float max = 0;
		for (int j = 0; j < QK_K; j += 16) {
			__mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), va, _CMP_EQ_OQ);
			if (hit) {
				max = x[j + __builtin_ctz(hit)];
				break;
			}
		}
		float iscale = -127.f / max;
		__m512 vs = _mm512_set1_ps(iscale);
		for (int j = 0; j < QK_K; j += 16) {
			__m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + j), vs));
			q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
			_mm_storeu_si128((__m128i *)(y[i].qs + j), _mm512_cvtsepi32_epi8(q));
			y[i].bsums[j / 16] = (int16_t)hsum_i32x16(q);
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

/* int16 element j (of 8, repeated in both 128-bit lanes of v) zero-extended into all 8 int32 lanes */
static FORCE_INLINE __m256i lane_i16(__m256i v, int j)
{
	return _mm256_shuffle_epi8(v, _mm256_set1_epi32((int)(0x80800000u | (uint32_t)((2 * j + 1) << 8) | (uint32_t)(2 * j))));
}

/*
 * Q4_K/Q5_K sub-block j: its 32 levels against its 32 activations (int32 lanes < 2^15), times
 * its scale (int16 j of `scales`), accumulated.
 */
static FORCE_INLINE __m256i k4_sub(__m256i sumi, __m256i levels, const int8_t *q8, __m256i scales, int j)
{
	__m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), levels, _mm256_loadu_si256((const __m256i *)q8));
	return _mm256_dpwssd_epi32(sumi, p, lane_i16(scales, j));
}

/* chunk c: 32 bytes of nibbles = sub-blocks 2c (low) and 2c+1 (high); Q5_K also sets bit 4 */
static FORCE_INLINE __m256i k4_chunk(__m256i sumi, const uint8_t *qs, const int8_t *q8, __m256i scales, int c,
			       const __m256i *qh)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
	__m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
	__m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
	if (qh) {
		lo = _mm256_mask_add_epi8(lo, _mm256_test_epi8_mask(*qh, _mm256_set1_epi8((char)(1 << (2 * c)))), lo, bit4);
		hi = _mm256_mask_add_epi8(hi, _mm256_test_epi8_mask(*qh, _mm256_set1_epi8((char)(2 << (2 * c)))), hi, bit4);
	}
	sumi = k4_sub(sumi, lo, q8 + 64 * c, scales, 2 * c);
	return k4_sub(sumi, hi, q8 + 64 * c + 32, scales, 2 * c + 1);
}

/* one Q4_K/Q5_K super-block's float term (quant_k4_term of its exact integer sums) */
static FORCE_INLINE float k4_superblock(sh_f16 xd, sh_f16 xdmin, const uint8_t *packed, const uint8_t *qs,
					const __m256i *qh, const block_q8_K *y)
{
	__m128i sm = unpack_scales_mins_k4(packed);
	__m128i sc = _mm_cvtepu8_epi16(sm);
	__m256i scales = _mm256_setr_m128i(sc, sc);
	__m256i sumi = k4_chunk(_mm256_setzero_si256(), qs, y->qs, scales, 0, qh);
	sumi = k4_chunk(sumi, qs, y->qs, scales, 1, qh);
	sumi = k4_chunk(sumi, qs, y->qs, scales, 2, qh);
	sumi = k4_chunk(sumi, qs, y->qs, scales, 3, qh);
	return quant_k4_term(y->d, xd, xdmin, hsum_i32x8(sumi), k4_mins_dot(sm, y->bsums));
}

/* ---------------------------------------------------------------- Q4_K x Q8_K */
/* 256-bit VNNI: on Zen 4 the 512-bit form gains nothing here and needs cross-lane shuffles */
void vec_dot_q4_K_avx512(int n, float *s, const void *vx, const void *vy)
{
	const block_q4_K *x = vx;
	const block_q8_K *y = vy;
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++)
		sum += k4_superblock(x[i].d, x[i].dmin, x[i].scales, x[i].qs, NULL, &y[i]);
	*s = sum;
}

/* ---------------------------------------------------------------- Q5_K x Q8_K */
void vec_dot_q5_K_avx512(int n, float *s, const void *vx, const void *vy)
{
	const block_q5_K *x = vx;
	const block_q8_K *y = vy;
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++) {
		__m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
		sum += k4_superblock(x[i].d, x[i].dmin, x[i].scales, x[i].qs, &qh, &y[i]);
	}
	*s = sum;
}

/* ---------------------------------------------------------------- Q6_K x Q8_K */
/* permutexvar index: lane k takes element base + k/4 */
static FORCE_INLINE __m512i pick_quads(int base)
{
	return _mm512_add_epi32(_mm512_set1_epi32(base),
				_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
}

void vec_dot_q6_K_avx512(int n, float *s, const void *vx, const void *vy)
{
	const block_q6_K *x = vx;
	const block_q8_K *y = vy;
	const __m512i m4 = _mm512_set1_epi8(0x0F), m_hi = _mm512_set1_epi8(0x30);
	/* per 16-bit shift counts: low 256 bits / high 256 bits */
	const __m512i shl_4_2 = _mm512_set_epi64(0x0002000200020002, 0x0002000200020002, 0x0002000200020002,
						 0x0002000200020002, 0x0004000400040004, 0x0004000400040004,
						 0x0004000400040004, 0x0004000400040004);
	const __m512i shr_0_2 = _mm512_set_epi64(0x0002000200020002, 0x0002000200020002, 0x0002000200020002,
						 0x0002000200020002, 0, 0, 0, 0);
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++) {
		__m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
		/* int16 scale zero-extended in each int32 lane, for vpdpwssd */
		__m512i scales = _mm512_and_si512(_mm512_cvtepi8_epi32(sc8), _mm512_set1_epi32(0xFFFF));
		/* the -32 offset: 32 * sum_b scale_b * (sum of the activations of sub-block b) */
		__m256i offset = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), _mm256_loadu_si256((const __m256i *)y[i].bsums));
		__m512i sumi = _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(offset, 5)));
		for (int h = 0; h < 2; h++) {
			__m512i ql = _mm512_loadu_si512(x[i].ql + 64 * h);
			__m512i qh = broadcast_256(x[i].qh + 32 * h);
			/* a: elements 128h + 0..63, b: 128h + 64..127 (see quant_ref.c for the layout) */
			__m512i a = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(_mm512_sllv_epi16(qh, shl_4_2), m_hi));
			__m512i b = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4),
						    _mm512_and_si512(_mm512_srlv_epi16(qh, shr_0_2), m_hi));
			__m512i pa = _mm512_dpbusd_epi32(_mm512_setzero_si512(), a, _mm512_loadu_si512(y[i].qs + 128 * h));
			__m512i pb = _mm512_dpbusd_epi32(_mm512_setzero_si512(), b, _mm512_loadu_si512(y[i].qs + 128 * h + 64));
			sumi = _mm512_dpwssd_epi32(sumi, pa, _mm512_permutexvar_epi32(pick_quads(8 * h), scales));
			sumi = _mm512_dpwssd_epi32(sumi, pb, _mm512_permutexvar_epi32(pick_quads(8 * h + 4), scales));
		}
		sum += quant_k6_term(y[i].d, x[i].d, hsum_i32x16(sumi));
	}
	*s = sum;
}

/* ---------------------------------------------------------------- tiles (quant_tile_x86.h) */
#define TILE_SFX avx512
static FORCE_INLINE __m256i dot_i16(__m256i acc, __m256i a, __m256i b) { return _mm256_dpwssd_epi32(acc, a, b); }
#include "compute/quant_tile_x86.h"

QUANT_GEMM_BY_DOT(gemm_f32_avx512, vec_dot_f32_avx512)
QUANT_GEMM_BY_DOT(gemm_f16_avx512, vec_dot_f16_avx512)
QUANT_GEMM_BY_DOT(gemm_bf16_avx512, vec_dot_bf16_avx512)

#endif
