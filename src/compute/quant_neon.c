/*
 * quant_neon.c - AArch64 NEON kernels (compiled to nothing elsewhere).
 *
 * Integer dots multiply int8 lanes: with the dot-product extension (__ARM_FEATURE_DOTPROD,
 * sdot: four int8 products summed into each int32 lane) when the compiler targets it, else
 * vmull_s8 + vpadalq_s16. Levels of Q4_0 are made signed (q - 8) before the multiply; the
 * K-quant levels (0..31 / 0..63) fit in int8 as they are, Q6_K's -32 offset goes through the
 * activation block's bsums as in the x86 kernels. Each block is converted to float once; the
 * K-quant super-blocks add their exact integer sums in the reference's order (quant_k4_term).
 */
#include "compute/quant.h"

#if defined(__aarch64__)
#include <arm_neon.h>

/* ---------------------------------------------------------------- helpers */
static inline float f16_to_f32(sh_f16 h) { return sh_f16_to_f32(h); }

/* acc + sum of a[i]*b[i] in groups of four int8 per int32 lane */
static inline int32x4_t dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if defined(__ARM_FEATURE_DOTPROD)
	return vdotq_s32(acc, a, b);
#else
	int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
	int16x8_t hi = vmull_high_s8(a, b);
	return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

/* sum of a[i]*b[i] over 32 int8 pairs (two registers each) as a scalar */
static inline int32_t dot_s8x32(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1)
{
	return vaddvq_s32(dot_s8(dot_s8(vdupq_n_s32(0), a0, b0), a1, b1));
}

/* ---------------------------------------------------------------- float formats */
void vec_dot_f32_neon(int n, float *s, const void *vx, const void *vy)
{
	const float *x = vx, *y = vy;
	float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
	int i = 0;
	for (; i + 8 <= n; i += 8) {
		acc0 = vfmaq_f32(acc0, vld1q_f32(x + i), vld1q_f32(y + i));
		acc1 = vfmaq_f32(acc1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
	}
	float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
	for (; i < n; i++)
		sum += x[i] * y[i];
	*s = sum;
}

void vec_dot_f16_neon(int n, float *s, const void *vx, const void *vy)
{
	const sh_f16 *x = vx;
	const float *y = vy;
	float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
	int i = 0;
	for (; i + 8 <= n; i += 8) {
		float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
		acc0 = vfmaq_f32(acc0, vcvt_f32_f16(vget_low_f16(h)), vld1q_f32(y + i));
		acc1 = vfmaq_f32(acc1, vcvt_high_f32_f16(h), vld1q_f32(y + i + 4));
	}
	float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
	for (; i < n; i++)
		sum += f16_to_f32(x[i]) * y[i];
	*s = sum;
}

void vec_dot_bf16_neon(int n, float *s, const void *vx, const void *vy)
{
	const sh_bf16 *x = vx;
	const float *y = vy;
	float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
	int i = 0;
	for (; i + 8 <= n; i += 8) {
		uint16x8_t h = vld1q_u16(x + i);
		float32x4_t lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
		float32x4_t hi = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
		acc0 = vfmaq_f32(acc0, lo, vld1q_f32(y + i));
		acc1 = vfmaq_f32(acc1, hi, vld1q_f32(y + i + 4));
	}
	float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
	for (; i < n; i++)
		sum += sh_bf16_to_f32(x[i]) * y[i];
	*s = sum;
}

void dequant_f16_neon(const void *vx, float *y, int64_t n)
{
	const sh_f16 *x = vx;
	int64_t i = 0;
	for (; i + 8 <= n; i += 8) {
		float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
		vst1q_f32(y + i, vcvt_f32_f16(vget_low_f16(h)));
		vst1q_f32(y + i + 4, vcvt_high_f32_f16(h));
	}
	for (; i < n; i++)
		y[i] = f16_to_f32(x[i]);
}

/* ---------------------------------------------------------------- Q4_0, Q8_0 */
void vec_dot_q4_0_neon(int n, float *s, const void *vx, const void *vy)
{
	const block_q4_0 *x = vx;
	const block_q8_0 *y = vy;
	const uint8x16_t m4 = vdupq_n_u8(0x0F);
	const int8x16_t eight = vdupq_n_s8(8);
	float sum = 0;
	for (int i = 0; i < n / QK4_0; i++) {
		uint8x16_t q = vld1q_u8(x[i].qs);
		int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
		int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
		int32_t isum = dot_s8x32(lo, hi, vld1q_s8(y[i].qs), vld1q_s8(y[i].qs + 16));
		sum += (float)isum * (f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
	}
	*s = sum;
}

void vec_dot_q8_0_neon(int n, float *s, const void *vx, const void *vy)
{
	const block_q8_0 *x = vx, *y = vy;
	float sum = 0;
	for (int i = 0; i < n / QK8_0; i++) {
		int32_t isum = dot_s8x32(vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), vld1q_s8(y[i].qs), vld1q_s8(y[i].qs + 16));
		sum += (float)isum * (f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
	}
	*s = sum;
}

/* round to nearest even (vcvtnq), as the reference's lrintf; n values to saturated int8 */
static inline void store_rounded_s8(const float *x, float scale, int8_t *q, int n)
{
	for (int j = 0; j < n; j += 8) {
		int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j), scale));
		int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + j + 4), scale));
		vst1_s8(q + j, vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b))));
	}
}

static inline float amax_f32(const float *x, int n)
{
	float32x4_t m = vdupq_n_f32(0);
	for (int j = 0; j < n; j += 4)
		m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
	return vmaxvq_f32(m);
}

void quantize_q8_0_neon(const float *x, void *vy, int64_t n)
{
	block_q8_0 *y = vy;
	for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
		float d = amax_f32(x, QK8_0) / 127, id = d != 0 ? 1.0f / d : 0.0f;
		y[i].d = sh_f32_to_f16(d);
		store_rounded_s8(x, id, y[i].qs, QK8_0);
	}
}

void quantize_q8_K_neon(const float *x, void *vy, int64_t n)
{
	block_q8_K *y = vy;
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		float amax = amax_f32(x, QK_K), max = 0;
		memset(&y[i], 0, sizeof y[i]);
		if (amax == 0)
			continue;
		for (int j = 0; j < QK_K; j++) { /* the first value of largest magnitude, signed */
			if (x[j] == amax || x[j] == -amax) {
				max = x[j];
				break;
			}
		}
		float iscale = -127.f / max;
		store_rounded_s8(x, iscale, y[i].qs, QK_K);
		for (int j = 0; j < QK_K / 16; j++)
			y[i].bsums[j] = (int16_t)vaddlvq_s8(vld1q_s8(y[i].qs + 16 * j));
		y[i].d = 1 / iscale;
	}
}

/* ---------------------------------------------------------------- K-quant helpers */
static inline void unpack_scales_mins_k4(const uint8_t *packed, uint8_t out[16])
{
	uint32_t u[4];
	memcpy(u, packed, K_SCALE_SIZE);
	const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
	u[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);
	uint32_t mins_lo = u[1] & m6;
	u[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);
	u[2] = mins_lo;
	u[0] &= m6;
	memcpy(out, u, 16);
}

/* sum_j mins[j] * (bsums[2j] + bsums[2j+1]) */
static inline int32_t k4_mins_dot(const uint8_t *mins, const int16_t *bsums)
{
	int16x8_t pairs = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
	int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mins)));
	return vaddvq_s32(vaddq_s32(vmull_s16(vget_low_s16(pairs), vget_low_s16(m)), vmull_high_s16(pairs, m)));
}

/* ---------------------------------------------------------------- Q4_K, Q5_K */
static void vec_dot_k4(int n, float *s, const void *vx, const void *vy, bool five)
{
	const block_q8_K *y = vy;
	const uint8x16_t m4 = vdupq_n_u8(0x0F), bit4 = vdupq_n_u8(0x10);
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++) {
		const block_q4_K *x4 = (const block_q4_K *)vx + i;
		const block_q5_K *x5 = (const block_q5_K *)vx + i;
		sh_f16 d16 = five ? x5->d : x4->d, dmin16 = five ? x5->dmin : x4->dmin;
		const uint8_t *qs = five ? x5->qs : x4->qs;
		uint8_t sm[16];
		unpack_scales_mins_k4(five ? x5->scales : x4->scales, sm);
		uint8x16_t qh0 = vdupq_n_u8(0), qh1 = vdupq_n_u8(0);
		if (five) {
			qh0 = vld1q_u8(x5->qh);
			qh1 = vld1q_u8(x5->qh + 16);
		}
		int32_t isum = 0;
		for (int c = 0; c < 4; c++) {
			uint8x16_t q0 = vld1q_u8(qs + 32 * c), q1 = vld1q_u8(qs + 32 * c + 16);
			uint8x16_t lo0 = vandq_u8(q0, m4), lo1 = vandq_u8(q1, m4);
			uint8x16_t hi0 = vshrq_n_u8(q0, 4), hi1 = vshrq_n_u8(q1, 4);
			if (five) {
				uint8x16_t b_lo = vdupq_n_u8((uint8_t)(1 << (2 * c))), b_hi = vdupq_n_u8((uint8_t)(2 << (2 * c)));
				lo0 = vorrq_u8(lo0, vandq_u8(vtstq_u8(qh0, b_lo), bit4));
				lo1 = vorrq_u8(lo1, vandq_u8(vtstq_u8(qh1, b_lo), bit4));
				hi0 = vorrq_u8(hi0, vandq_u8(vtstq_u8(qh0, b_hi), bit4));
				hi1 = vorrq_u8(hi1, vandq_u8(vtstq_u8(qh1, b_hi), bit4));
			}
			const int8_t *q8 = y[i].qs + 64 * c;
			isum += sm[2 * c] * dot_s8x32(vreinterpretq_s8_u8(lo0), vreinterpretq_s8_u8(lo1), vld1q_s8(q8), vld1q_s8(q8 + 16));
			isum += sm[2 * c + 1] * dot_s8x32(vreinterpretq_s8_u8(hi0), vreinterpretq_s8_u8(hi1), vld1q_s8(q8 + 32),
							  vld1q_s8(q8 + 48));
		}
		int32_t msum = k4_mins_dot(sm + 8, y[i].bsums);
		sum += quant_k4_term(y[i].d, d16, dmin16, isum, msum);
	}
	*s = sum;
}

void vec_dot_q4_K_neon(int n, float *s, const void *vx, const void *vy) { vec_dot_k4(n, s, vx, vy, false); }
void vec_dot_q5_K_neon(int n, float *s, const void *vx, const void *vy) { vec_dot_k4(n, s, vx, vy, true); }

/* ---------------------------------------------------------------- Q6_K */
void vec_dot_q6_K_neon(int n, float *s, const void *vx, const void *vy)
{
	const block_q6_K *x = vx;
	const block_q8_K *y = vy;
	const uint8x16_t m4 = vdupq_n_u8(0x0F), m_hi = vdupq_n_u8(0x30);
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++) {
		const int8_t *sc = x[i].scales;
		/* the -32 offset through the per-16 activation sums */
		int16x8_t s0 = vmovl_s8(vld1_s8(sc)), s1 = vmovl_s8(vld1_s8(sc + 8));
		int16x8_t b0 = vld1q_s16(y[i].bsums), b1 = vld1q_s16(y[i].bsums + 8);
		int32x4_t off = vmull_s16(vget_low_s16(s0), vget_low_s16(b0));
		off = vmlal_high_s16(off, s0, b0);
		off = vmlal_s16(off, vget_low_s16(s1), vget_low_s16(b1));
		off = vmlal_high_s16(off, s1, b1);
		int32_t isum = -32 * vaddvq_s32(off);
		for (int h = 0; h < 2; h++) {
			const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
			const int8_t *q8 = y[i].qs + 128 * h;
			const int8_t *sh = sc + 8 * h;
			for (int half = 0; half < 2; half++) { /* l in 16*half .. 16*half+15 */
				int o = 16 * half;
				uint8x16_t l0 = vld1q_u8(ql + o), l1 = vld1q_u8(ql + 32 + o), hb = vld1q_u8(qh + o);
				uint8x16_t q[4] = {
					vorrq_u8(vandq_u8(l0, m4), vandq_u8(vshlq_n_u8(hb, 4), m_hi)),
					vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8(hb, 2), m_hi)),
					vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, m_hi)),
					vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), m_hi)),
				};
				for (int k = 0; k < 4; k++) { /* elements 32k + o .. +15: sub-block 2k + half */
					int32x4_t p = dot_s8(vdupq_n_s32(0), vreinterpretq_s8_u8(q[k]), vld1q_s8(q8 + 32 * k + o));
					isum += sh[2 * k + half] * vaddvq_s32(p);
				}
			}
		}
		sum += quant_k6_term(y[i].d, x[i].d, isum);
	}
	*s = sum;
}

/* ---------------------------------------------------------------- axpy (the KV cache's types) */
void axpy_f32_neon(int n, float a, const void *vx, float *y)
{
	const float *x = vx;
	int i = 0;
	for (; i + 4 <= n; i += 4)
		vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
	for (; i < n; i++)
		y[i] += a * x[i];
}

void axpy_f16_neon(int n, float a, const void *vx, float *y)
{
	const sh_f16 *x = vx;
	int i = 0;
	for (; i + 8 <= n; i += 8) {
		float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(x + i));
		vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vcvt_f32_f16(vget_low_f16(h)), a));
		vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), vcvt_high_f32_f16(h), a));
	}
	for (; i < n; i++)
		y[i] += a * f16_to_f32(x[i]);
}

void axpy_q8_0_neon(int n, float a, const void *vx, float *y)
{
	const block_q8_0 *b = vx;
	for (int i = 0; i < n / QK8_0; i++, y += QK8_0) {
		float d = a * sh_f16_to_f32(b[i].d);
		for (int j = 0; j < QK8_0; j += 8) {
			int16x8_t q = vmovl_s8(vld1_s8(b[i].qs + j));
			vst1q_f32(y + j, vfmaq_n_f32(vld1q_f32(y + j), vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), d));
			vst1q_f32(y + j + 4, vfmaq_n_f32(vld1q_f32(y + j + 4), vcvtq_f32_s32(vmovl_high_s16(q)), d));
		}
	}
}

/* ---------------------------------------------------------------- tiles (loops over the dots for now) */
QUANT_GEMM_BY_DOT(gemm_f32_neon, vec_dot_f32_neon)
QUANT_GEMM_BY_DOT(gemm_f16_neon, vec_dot_f16_neon)
QUANT_GEMM_BY_DOT(gemm_bf16_neon, vec_dot_bf16_neon)
QUANT_GEMM_BY_DOT(gemm_q4_0_neon, vec_dot_q4_0_neon)
QUANT_GEMM_BY_DOT(gemm_q8_0_neon, vec_dot_q8_0_neon)
QUANT_GEMM_BY_DOT(gemm_q4_K_neon, vec_dot_q4_K_neon)
QUANT_GEMM_BY_DOT(gemm_q5_K_neon, vec_dot_q5_K_neon)
QUANT_GEMM_BY_DOT(gemm_q6_K_neon, vec_dot_q6_K_neon)

#endif
