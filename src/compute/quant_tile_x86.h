/*
 * quant_tile_x86.h - tile (GEMM) kernels for batches, shared by quant_avx2.c and quant_avx512.c.
 *
 * A tile is nr weight rows x nc activation rows (at most QUANT_TILE_R x QUANT_TILE_C = 4 x 8,
 * see quant_gemm_fn): each weight block is unpacked once for all nc activation rows (Q4_0/Q8_0:
 * for each pass of up to 4 of them) and each activation block loaded once (or read as a memory
 * operand) for all nr weight rows.
 * Every kernel is one always-inline function of (nr, nc); gemm_<type>_<sfx> calls the copy
 * compiled for its constant nr and nc, so loops unroll and accumulators live in registers.
 *
 * Included once by each of the two files after they define:
 *   TILE_OWN_Q4_0, TILE_OWN_Q8_0   (optional) the file has its own tile_q4_0 / tile_q8_0 (AVX-512:
 *                         several blocks per zmm)
 *   FORCE_INLINE
 *   TILE_SFX              the kernel suffix: avx2 or avx512
 *   TILE_VNNI             1 if dot_u8s8 is vpdpbusd (sums of u8 * s8 cannot saturate) } for the
 *   dot_u8s8(acc, u, s)   acc + sum of four u8*s8 products in each int32 lane (ymm) } ymm Q4_0/Q8_0
 *   dot_i16(acc, a, b)    acc + a0*b0 + a1*b1 for the int16 pairs of each int32 lane (ymm)
 * The K-quants use vpmaddubsw (non-destructive, so no zeroed accumulator per sub-block) and
 * dot_i16 with the sub-block scale in both int16 halves of each lane.
 *
 *   Q4_0, Q8_0: float accumulators per (row, column) as in vec_dot (two Q4_0 blocks per ymm;
 *         Q4_0's -8 offset and, with VNNI, Q8_0's +128 offset start each int32 sum); equal to
 *         vec_dot up to float summation order.
 *   Q4_K, Q5_K, Q6_K: per super-block, row after row, all nc columns at once; each (row,
 *         column)'s int32 lanes are reduced exactly (eight columns at once) and the super-block
 *         terms computed with the scalar expressions of quant_k4_term / quant_k6_term in the
 *         lanes of a ymm (lane = column), added in block order: bit-identical to vec_dot (the
 *         build uses -ffp-contract=off).
 */
#ifndef SHOAL_QUANT_TILE_X86_H
#define SHOAL_QUANT_TILE_X86_H

_Static_assert(QUANT_TILE_R == 4 && QUANT_TILE_C == 8, "the instance tables below are 4 x 8");

#define TILE_R QUANT_TILE_R
#define TILE_C QUANT_TILE_C
#define TILE_C0 4 /* Q4_0 / Q8_0: columns per pass (their float accumulators fill the registers) */

/* ---------------------------------------------------------------- helpers */
/* 16 bytes at p and 16 at q as one ymm */
static FORCE_INLINE __m256i tile_load_2x128(const void *p, const void *q)
{
	return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
				       _mm_loadu_si128((const __m128i *)q), 1);
}

/* 16 bytes at p in the low half, zeros above */
static FORCE_INLINE __m256i tile_load_1x128(const void *p) { return _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)p)); }

static FORCE_INLINE __m256i tile_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* [a x4, b x4] */
static FORCE_INLINE __m256 tile_two_scales(float a, float b) { return _mm256_setr_m128(_mm_set1_ps(a), _mm_set1_ps(b)); }

static FORCE_INLINE float tile_hsum_f32x8(__m256 v)
{
	__m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	x = _mm_add_ps(x, _mm_movehl_ps(x, x));
	x = _mm_add_ss(x, _mm_movehdup_ps(x));
	return _mm_cvtss_f32(x);
}

/* exact int32 sums of eight vectors: lane c = sum of v[c] */
static FORCE_INLINE __m256i tile_reduce8_i32x8(const __m256i v[8])
{
	__m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
	__m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
	return _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
}

/* the same for eight vectors of 4 lanes */
static FORCE_INLINE __m256i tile_reduce8_i32x4(const __m128i v[8])
{
	__m128i lo = _mm_hadd_epi32(_mm_hadd_epi32(v[0], v[1]), _mm_hadd_epi32(v[2], v[3]));
	__m128i hi = _mm_hadd_epi32(_mm_hadd_epi32(v[4], v[5]), _mm_hadd_epi32(v[6], v[7]));
	return _mm256_setr_m128i(lo, hi);
}

/* int16 element j of each 128-bit lane of v, in every int16 lane (for dot_i16) */
static FORCE_INLINE __m256i tile_pick_i16(__m256i v, int j)
{
	return _mm256_shuffle_epi8(v, _mm256_set1_epi16((short)(((2 * j + 1) << 8) | (2 * j))));
}

/* u8 x s8 products summed in int16 pairs (vpmaddubsw); the K-quant levels (<= 63) against
 * activations (|y| <= 128) never saturate: 2 * 63 * 128 < 2^15 */
static FORCE_INLINE __m256i tile_madd_u8s8(__m256i u, __m256i s) { return _mm256_maddubs_epi16(u, s); }

/*
 * Q4_K/Q5_K packed scales (see get_scale_min_k4 in quant_ref.c) to bytes 0..7 = scales,
 * 8..15 = mins. The 16-byte load reads 4 bytes past the scales, still inside the block.
 */
static FORCE_INLINE __m128i tile_unpack_scales_mins_k4(const uint8_t *packed)
{
	const int m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, top2 = 0x30303030;
	__m128i v = _mm_loadu_si128((const __m128i *)packed);
	__m128i a = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0)); /* u0 u2 u1 u2 */
	__m128i b = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0)); /* u0 u0 u1 u1 */
	a = _mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)), _mm_setr_epi32(m6, m4, m6, m4));
	b = _mm_and_si128(_mm_srli_epi32(b, 2), _mm_setr_epi32(0, top2, 0, top2));
	return _mm_or_si128(a, b);
}

/* lane c of v to s[c * ld] for c < nc */
static FORCE_INLINE void tile_store_lanes(float *s, size_t ld, __m256 v, const int nc)
{
	float f[8];
	_mm256_storeu_ps(f, v);
	for (int c = 0; c < nc; c++)
		s[c * ld] = f[c];
}

#ifndef TILE_OWN_Q4_0
/* ---------------------------------------------------------------- Q4_0 x Q8_0 */
/* blocks i (and i+1 if two) of every row and column: lanes 0-3 block i, 4-7 block i+1 */
static FORCE_INLINE void tile_q4_0_step(__m256 acc[TILE_R][TILE_C0], const uint8_t *x, size_t bx, const uint8_t *y,
					size_t by, int i, const int nr, const int nc, const bool two)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
	__m256i lo[TILE_R], hi[TILE_R];
	__m256 dx[TILE_R];
	for (int r = 0; r < nr; r++) {
		const block_q4_0 *b = (const block_q4_0 *)(x + r * bx) + i;
		__m256i q = two ? tile_load_2x128(b[0].qs, b[1].qs) : tile_load_1x128(b[0].qs);
		lo[r] = _mm256_and_si256(q, m4);
		hi[r] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
		dx[r] = two ? tile_two_scales(sh_f16_to_f32(b[0].d), sh_f16_to_f32(b[1].d)) : _mm256_set1_ps(sh_f16_to_f32(b[0].d));
	}
	for (int c = 0; c < nc; c++) {
		const block_q8_0 *a = (const block_q8_0 *)(y + c * by) + i;
		__m256i y_lo = two ? tile_load_2x128(a[0].qs, a[1].qs) : tile_load_1x128(a[0].qs);
		__m256i y_hi = two ? tile_load_2x128(a[0].qs + 16, a[1].qs + 16) : tile_load_1x128(a[0].qs + 16);
		__m256 dy = two ? tile_two_scales(sh_f16_to_f32(a[0].d), sh_f16_to_f32(a[1].d)) : _mm256_set1_ps(sh_f16_to_f32(a[0].d));
		/* sum (q - 8) * y = sum q * y - 8 * sum y: every row's sum starts at -8 * sum y */
		__m256i s8 = dot_u8s8(dot_u8s8(_mm256_setzero_si256(), eight, y_lo), eight, y_hi);
		__m256i start = _mm256_sub_epi32(_mm256_setzero_si256(), s8);
		for (int r = 0; r < nr; r++) {
			__m256i p = dot_u8s8(dot_u8s8(start, lo[r], y_lo), hi[r], y_hi);
			acc[r][c] = _mm256_fmadd_ps(_mm256_mul_ps(dx[r], dy), _mm256_cvtepi32_ps(p), acc[r][c]);
		}
	}
}

#endif

/* float accumulators to s */
static FORCE_INLINE void tile_store_acc(float *s, size_t ld, __m256 acc[TILE_R][TILE_C0], const int nr, const int nc)
{
	for (int r = 0; r < nr; r++)
		for (int c = 0; c < nc; c++)
			s[c * ld + r] = tile_hsum_f32x8(acc[r][c]);
}

#ifndef TILE_OWN_Q4_0
static FORCE_INLINE void tile_q4_0_pass(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y,
					size_t by, const int nr, const int nc)
{
	__m256 acc[TILE_R][TILE_C0];
	for (int r = 0; r < nr; r++)
		for (int c = 0; c < nc; c++)
			acc[r][c] = _mm256_setzero_ps();
	const int nb = n / QK4_0;
	int i = 0;
	for (; i + 2 <= nb; i += 2)
		tile_q4_0_step(acc, x, bx, y, by, i, nr, nc, true);
	if (i < nb)
		tile_q4_0_step(acc, x, bx, y, by, i, nr, nc, false);
	tile_store_acc(s, ld, acc, nr, nc);
}
#endif

#ifndef TILE_OWN_Q8_0
/* ---------------------------------------------------------------- Q8_0 x Q8_0 */
/*
 * With VNNI: sum x * y = sum (x + 128) * y - 128 * sum y, x + 128 unsigned (x ^ 0x80), so the
 * per-row work is one xor per block. Without it (vpmaddubsw would saturate on (x + 128) * y
 * pairs): the sign trick |x| * (y with x's sign), exact as y never is -128 (see vec_dot).
 */
static FORCE_INLINE void tile_q8_0_pass(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y,
					size_t by, const int nr, const int nc)
{
	__m256 acc[TILE_R][TILE_C0];
	for (int r = 0; r < nr; r++)
		for (int c = 0; c < nc; c++)
			acc[r][c] = _mm256_setzero_ps();
	for (int i = 0; i < n / QK8_0; i++) {
		__m256i qx[TILE_R];
		__m256 dx[TILE_R];
		for (int r = 0; r < nr; r++) {
			const block_q8_0 *b = (const block_q8_0 *)(x + r * bx) + i;
			qx[r] = TILE_VNNI ? _mm256_xor_si256(tile_load(b->qs), _mm256_set1_epi8((char)0x80)) : tile_load(b->qs);
			dx[r] = _mm256_set1_ps(sh_f16_to_f32(b->d));
		}
		for (int c = 0; c < nc; c++) {
			const block_q8_0 *a = (const block_q8_0 *)(y + c * by) + i;
			__m256i qy = tile_load(a->qs);
			__m256 dy = _mm256_set1_ps(sh_f16_to_f32(a->d));
			__m256i start = _mm256_setzero_si256();
			if (TILE_VNNI)
				start = _mm256_sub_epi32(start, dot_u8s8(_mm256_setzero_si256(), _mm256_set1_epi8((char)0x80), qy));
			for (int r = 0; r < nr; r++) {
				__m256i p = TILE_VNNI ? dot_u8s8(start, qx[r], qy)
						      : dot_u8s8(start, _mm256_abs_epi8(qx[r]), _mm256_sign_epi8(qy, qx[r]));
				acc[r][c] = _mm256_fmadd_ps(_mm256_mul_ps(dx[r], dy), _mm256_cvtepi32_ps(p), acc[r][c]);
			}
		}
	}
	tile_store_acc(s, ld, acc, nr, nc);
}
#endif

/* ---------------------------------------------------------------- Q4_K, Q5_K x Q8_K */
/*
 * Per super-block and row: the 4 chunks of 64 (sub-blocks 2k low nibbles, 2k+1 high ones; Q5_K
 * adds bit 4 from qh) are unpacked once and dotted with every column (activations as memory
 * operands); the int32 lanes and the mins terms are reduced exactly for four columns at once.
 */
static FORCE_INLINE void tile_k4(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by,
				 const int nr, const int nc, const bool five)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), bit4 = _mm256_set1_epi8(0x10);
	const size_t block_size = five ? sizeof(block_q5_K) : sizeof(block_q4_K);
	__m256 sum[TILE_R];
	for (int r = 0; r < nr; r++)
		sum[r] = _mm256_setzero_ps();
	for (int i = 0; i < n / QK_K; i++) {
		const block_q8_K *a[TILE_C];
		__m128i sub_sums[TILE_C]; /* activation sums of the 8 sub-blocks of 32, int16 */
		float yd[TILE_C] = { 0 };
		for (int c = 0; c < TILE_C; c++) {
			a[c] = (const block_q8_K *)(y + (c < nc ? c : 0) * by) + i;
			sub_sums[c] = _mm_setzero_si128();
		}
		for (int c = 0; c < nc; c++) {
			yd[c] = a[c]->d;
			sub_sums[c] = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)a[c]->bsums),
						     _mm_loadu_si128((const __m128i *)(a[c]->bsums + 8)));
		}
		__m256 y_d = _mm256_loadu_ps(yd);
		for (int r = 0; r < nr; r++) {
			const uint8_t *blk = x + r * bx + i * block_size;
			const block_q4_K *b4 = (const block_q4_K *)blk;
			const block_q5_K *b5 = (const block_q5_K *)blk;
			__m128i sm = tile_unpack_scales_mins_k4(five ? b5->scales : b4->scales);
			__m128i sc = _mm_cvtepu8_epi16(sm), mins = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(sm, sm));
			__m256i scales = _mm256_setr_m128i(sc, sc);
			const uint8_t *qs = five ? b5->qs : b4->qs;
			__m256i qh = five ? tile_load(b5->qh) : _mm256_setzero_si256();
			__m256i p[TILE_C];
			for (int c = 0; c < TILE_C; c++)
				p[c] = _mm256_setzero_si256();
			for (int k = 0; k < 4; k++) {
				__m256i q = tile_load(qs + 32 * k);
				__m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
				if (five) {
					lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * k), 4), bit4));
					hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * k + 1), 4), bit4));
				}
				__m256i s_lo = tile_pick_i16(scales, 2 * k), s_hi = tile_pick_i16(scales, 2 * k + 1);
				for (int c = 0; c < nc; c++) {
					const int8_t *q8 = a[c]->qs + 64 * k;
					p[c] = dot_i16(p[c], tile_madd_u8s8(lo, tile_load(q8)), s_lo);
					p[c] = dot_i16(p[c], tile_madd_u8s8(hi, tile_load(q8 + 32)), s_hi);
				}
			}
			__m128i m[TILE_C];
			for (int c = 0; c < TILE_C; c++)
				m[c] = _mm_madd_epi16(mins, sub_sums[c]);
			__m256i isum = tile_reduce8_i32x8(p), msum = tile_reduce8_i32x4(m);
			/* quant_k4_term, lane = column */
			__m256 d = _mm256_set1_ps(sh_f16_to_f32(five ? b5->d : b4->d));
			__m256 dmin = _mm256_set1_ps(sh_f16_to_f32(five ? b5->dmin : b4->dmin));
			__m256 t = _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(isum)), _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(msum)));
			sum[r] = _mm256_add_ps(sum[r], _mm256_mul_ps(y_d, t));
		}
	}
	for (int r = 0; r < nr; r++)
		tile_store_lanes(s + r, ld, sum[r], nc);
}

/* ---------------------------------------------------------------- Q6_K x Q8_K */
/*
 * Per super-block and row: 8 chunks of 32 (half h, k = 0..3: see quant_ref.c for the layout),
 * levels 0..63 unsigned, sub-blocks 8h+2k and 8h+2k+1 in the two halves of a ymm; the -32
 * offset starts each column's sum at -32 * sum_j sc_j * bsum_j.
 */
static FORCE_INLINE void tile_q6_K(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by,
				   const int nr, const int nc)
{
	const __m256i m4 = _mm256_set1_epi8(0x0F), m_hi = _mm256_set1_epi8(0x30);
	__m256 sum[TILE_R];
	for (int r = 0; r < nr; r++)
		sum[r] = _mm256_setzero_ps();
	for (int i = 0; i < n / QK_K; i++) {
		const block_q8_K *a[TILE_C];
		float yd[TILE_C] = { 0 };
		for (int c = 0; c < nc; c++) {
			a[c] = (const block_q8_K *)(y + c * by) + i;
			yd[c] = a[c]->d;
		}
		__m256 y_d = _mm256_loadu_ps(yd);
		for (int r = 0; r < nr; r++) {
			const block_q6_K *b = (const block_q6_K *)(x + r * bx) + i;
			__m128i sc8 = _mm_loadu_si128((const __m128i *)b->scales);
			__m256i sc16 = _mm256_cvtepi8_epi16(sc8);
			__m256i p[TILE_C];
			for (int c = 0; c < TILE_C; c++)
				p[c] = _mm256_setzero_si256();
			for (int c = 0; c < nc; c++) {
				__m256i offset = _mm256_madd_epi16(sc16, tile_load(a[c]->bsums));
				p[c] = _mm256_sub_epi32(p[c], _mm256_slli_epi32(offset, 5));
			}
			for (int h = 0; h < 2; h++) {
				/* the 8 scales of this half, each in both int16 halves of an int32 lane */
				__m256i sc32 = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b->scales + 8 * h)));
				sc32 = _mm256_or_si256(_mm256_and_si256(sc32, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(sc32, 16));
				__m256i qh = tile_load(b->qh + 32 * h);
				for (int k = 0; k < 4; k++) {
					__m256i ql = tile_load(b->ql + 64 * h + 32 * (k & 1));
					__m256i lev = _mm256_or_si256(_mm256_and_si256(k & 2 ? _mm256_srli_epi16(ql, 4) : ql, m4),
								      _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * k), 4), m_hi));
					__m256i scv = _mm256_permutevar8x32_epi32(sc32, _mm256_setr_epi32(2 * k, 2 * k, 2 * k, 2 * k, 2 * k + 1,
													  2 * k + 1, 2 * k + 1, 2 * k + 1));
					for (int c = 0; c < nc; c++)
						p[c] = dot_i16(p[c], tile_madd_u8s8(lev, tile_load(a[c]->qs + 128 * h + 32 * k)), scv);
				}
			}
			/* quant_k6_term, lane = column */
			__m256i isum = tile_reduce8_i32x8(p);
			__m256 t = _mm256_mul_ps(_mm256_mul_ps(y_d, _mm256_set1_ps(sh_f16_to_f32(b->d))), _mm256_cvtepi32_ps(isum));
			sum[r] = _mm256_add_ps(sum[r], t);
		}
	}
	for (int r = 0; r < nr; r++)
		tile_store_lanes(s + r, ld, sum[r], nc);
}

/* ---------------------------------------------------------------- instances */
#define TILE_CAT3(a, b, c) a##_##b##_##c
#define TILE_NAME(a, b, c) TILE_CAT3(a, b, c)

typedef void (*tile_fn)(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by);

#define TILE_INST(kern, R, C)                                                                                  \
	static void kern##_##R##x##C(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by) \
	{                                                                                                      \
		kern(n, s, ld, x, bx, y, by, R, C);                                                            \
	}
#define TILE_INST_ROW(kern, R) TILE_INST(kern, R, 1) TILE_INST(kern, R, 2) TILE_INST(kern, R, 3) TILE_INST(kern, R, 4) \
	TILE_INST(kern, R, 5) TILE_INST(kern, R, 6) TILE_INST(kern, R, 7) TILE_INST(kern, R, 8)
#define TILE_ROW_FNS(kern, R) { kern##_##R##x1, kern##_##R##x2, kern##_##R##x3, kern##_##R##x4, \
				kern##_##R##x5, kern##_##R##x6, kern##_##R##x7, kern##_##R##x8 }

/* gemm_<type>_<sfx>: the instance of kern for (nr, nc) */
#define TILE_GEMM(type, kern)                                                                                  \
	TILE_INST_ROW(kern, 1) TILE_INST_ROW(kern, 2) TILE_INST_ROW(kern, 3) TILE_INST_ROW(kern, 4)            \
	void TILE_NAME(gemm, type, TILE_SFX)(int n, float *s, size_t ld, const void *x, size_t bx, int nr, const void *y, \
					     size_t by, int nc)                                                \
	{                                                                                                      \
		static const tile_fn fns[TILE_R][TILE_C] = { TILE_ROW_FNS(kern, 1), TILE_ROW_FNS(kern, 2),     \
							     TILE_ROW_FNS(kern, 3), TILE_ROW_FNS(kern, 4) };   \
		SH_ASSERT(nr >= 1 && nr <= TILE_R && nc >= 1 && nc <= TILE_C);                                 \
		fns[nr - 1][nc - 1](n, s, ld, x, bx, y, by);                                                   \
	}

/* Q4_0, Q8_0: passes of up to TILE_C0 columns */
#ifndef TILE_OWN_Q4_0
static FORCE_INLINE void tile_q4_0(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by,
				   const int nr, const int nc)
{
	for (int c = 0; c < nc; c += TILE_C0)
		tile_q4_0_pass(n, s + c * ld, ld, x, bx, y + c * by, by, nr, nc - c < TILE_C0 ? nc - c : TILE_C0);
}
#endif

#ifndef TILE_OWN_Q8_0
static FORCE_INLINE void tile_q8_0(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by,
				   const int nr, const int nc)
{
	for (int c = 0; c < nc; c += TILE_C0)
		tile_q8_0_pass(n, s + c * ld, ld, x, bx, y + c * by, by, nr, nc - c < TILE_C0 ? nc - c : TILE_C0);
}
#endif

static FORCE_INLINE void tile_q4_K(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by,
				   const int nr, const int nc)
{
	tile_k4(n, s, ld, x, bx, y, by, nr, nc, false);
}

static FORCE_INLINE void tile_q5_K(int n, float *s, size_t ld, const uint8_t *x, size_t bx, const uint8_t *y, size_t by,
				   const int nr, const int nc)
{
	tile_k4(n, s, ld, x, bx, y, by, nr, nc, true);
}

TILE_GEMM(q4_0, tile_q4_0)
TILE_GEMM(q8_0, tile_q8_0)
TILE_GEMM(q4_K, tile_q4_K)
TILE_GEMM(q5_K, tile_q5_K)
TILE_GEMM(q6_K, tile_q6_K)

#endif
