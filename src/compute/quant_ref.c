/*
 * quant_ref.c - scalar reference kernels: the oracle every SIMD kernel is tested against.
 *
 * Written for clarity, straight from the format definitions (bit-exact with GGML's block layouts,
 * see quant.h). Dot products of integer formats sum exact integers per (sub-)block and scale in
 * float, as the SIMD kernels do: the K-quant dots agree with them bit for bit (quant_k4_term,
 * quant_k6_term), Q4_0/Q8_0 up to float summation order. The float dots accumulate in double.
 *
 * Quantizers follow ggml's reference quantizers closely (rounding is to nearest, ties to even, as
 * ggml's nearest_int and its x86 SIMD quantizers do); the K-quant scale search is ggml's
 * make_qkx2_quants idea (a few trial scales, least squares refit) written from its description.
 * The Q8_0x4 activation layout (the AVX-512 Q4_0 kernels') is packed here from any set's Q8_0
 * quantizer, so its values are that quantizer's.
 */
#include "compute/quant.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------- helpers */
static inline int nearest_int(float f) { return (int)lrintf(f); } /* ties to even (default mode) */

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* the 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block */
static inline void get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
	}
}

/* inverse of get_scale_min_k4: pack 8 scales and 8 mins (each 0..63) into 12 bytes */
static void set_scale_min_k4(const uint8_t sc[8], const uint8_t m[8], uint8_t q[K_SCALE_SIZE])
{
	memset(q, 0, K_SCALE_SIZE);
	for (int j = 0; j < 8; j++) {
		if (j < 4) {
			q[j] = sc[j];
			q[j + 4] = m[j];
		} else {
			q[j + 4] = (uint8_t)((sc[j] & 0xF) | ((m[j] & 0xF) << 4));
			q[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
			q[j] |= (uint8_t)((m[j] >> 4) << 6);
		}
	}
}

/*
 * Asymmetric quantization of n values to L[i] in 0..nmax with x ~ scale*L - min (returns scale,
 * *the_min = min >= 0). Tries nstep+1 scales around nmax/(max-min) and refits scale and min by
 * weighted least squares for each, keeping the best (ggml's make_qkx2_quants scheme).
 */
static float make_qkx_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
			     float rmin, float rdelta, int nstep)
{
	uint8_t laux[32];
	float min = x[0], max = x[0], sum_w = 0, sum_x = 0;
	for (int i = 0; i < n; i++) {
		min = x[i] < min ? x[i] : min;
		max = x[i] > max ? x[i] : max;
		sum_w += w[i];
		sum_x += w[i] * x[i];
	}
	if (min > 0)
		min = 0;
	if (max == min) {
		memset(L, 0, (size_t)n);
		*the_min = -min;
		return 0.f;
	}
	float iscale = nmax / (max - min), scale = 1 / iscale, best = 0;
	for (int i = 0; i < n; i++) {
		L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
		float diff = scale * L[i] + min - x[i];
		best += w[i] * diff * diff;
	}
	for (int is = 0; is <= nstep; is++) {
		iscale = (rmin + rdelta * is + nmax) / (max - min);
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;
		for (int i = 0; i < n; i++) {
			int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
			laux[i] = (uint8_t)l;
			sum_l += w[i] * l;
			sum_l2 += w[i] * l * l;
			sum_xl += w[i] * l * x[i];
		}
		float det = sum_w * sum_l2 - sum_l * sum_l;
		if (det <= 0)
			continue;
		float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
		float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
		if (this_min > 0) {
			this_min = 0;
			this_scale = sum_xl / sum_l2;
		}
		float err = 0;
		for (int i = 0; i < n; i++) {
			float diff = this_scale * laux[i] + this_min - x[i];
			err += w[i] * diff * diff;
		}
		if (err < best) {
			memcpy(L, laux, (size_t)n);
			best = err;
			scale = this_scale;
			min = this_min;
		}
	}
	*the_min = -min;
	return scale;
}

/*
 * Scale for symmetric quantization of n values to levels -nmax..nmax-1, x ~ scale*l (the largest
 * magnitude maps near -nmax, as in ggml); a few trial scales, each refit by least squares weighted
 * by x^2, the one of least weighted error wins.
 */
static float make_qx_scale(int n, int nmax, const float *x)
{
	float max = 0, amax = 0;
	for (int i = 0; i < n; i++) {
		if (fabsf(x[i]) > amax) {
			amax = fabsf(x[i]);
			max = x[i];
		}
	}
	if (amax == 0)
		return 0.f;
	float best_scale = max / -nmax, best_err = INFINITY;
	for (int is = -9; is <= 9; is++) {
		float iscale = -(nmax + 0.1f * is) / max;
		float sumlx = 0, suml2 = 0;
		for (int i = 0; i < n; i++) {
			int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
			sumlx += x[i] * x[i] * x[i] * l; /* weights x^2 favour the large values */
			suml2 += x[i] * x[i] * l * l;
		}
		if (suml2 <= 0)
			continue;
		float scale = sumlx / suml2, err = 0;
		for (int i = 0; i < n; i++) {
			int l = clampi(nearest_int(x[i] / scale), -nmax, nmax - 1);
			float diff = x[i] - scale * l;
			err += x[i] * x[i] * diff * diff;
		}
		if (err < best_err) {
			best_err = err;
			best_scale = scale;
		}
	}
	return best_scale;
}

/* ---------------------------------------------------------------- float formats */
void dequant_f16_ref(const void *x, float *y, int64_t n)
{
	const sh_f16 *h = x;
	for (int64_t i = 0; i < n; i++)
		y[i] = sh_f16_to_f32(h[i]);
}

void dequant_bf16_ref(const void *x, float *y, int64_t n)
{
	const sh_bf16 *h = x;
	for (int64_t i = 0; i < n; i++)
		y[i] = sh_bf16_to_f32(h[i]);
}

void quantize_f16_ref(const float *x, void *y, int64_t n)
{
	sh_f16 *h = y;
	for (int64_t i = 0; i < n; i++)
		h[i] = sh_f32_to_f16(x[i]);
}

void quantize_bf16_ref(const float *x, void *y, int64_t n)
{
	sh_bf16 *h = y;
	for (int64_t i = 0; i < n; i++)
		h[i] = sh_f32_to_bf16(x[i]);
}

void vec_dot_f32_ref(int n, float *s, const void *x, const void *y)
{
	const float *a = x, *b = y;
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += (double)a[i] * b[i];
	*s = (float)sum;
}

void vec_dot_f16_ref(int n, float *s, const void *x, const void *y)
{
	const sh_f16 *a = x;
	const float *b = y;
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += (double)sh_f16_to_f32(a[i]) * b[i];
	*s = (float)sum;
}

void vec_dot_bf16_ref(int n, float *s, const void *x, const void *y)
{
	const sh_bf16 *a = x;
	const float *b = y;
	double sum = 0;
	for (int i = 0; i < n; i++)
		sum += (double)sh_bf16_to_f32(a[i]) * b[i];
	*s = (float)sum;
}

/* ---------------------------------------------------------------- Q4_0 */
void dequant_q4_0_ref(const void *x, float *y, int64_t n)
{
	const block_q4_0 *b = x;
	for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
		float d = sh_f16_to_f32(b[i].d);
		for (int j = 0; j < QK4_0 / 2; j++) {
			y[j] = d * ((b[i].qs[j] & 0xF) - 8);
			y[j + QK4_0 / 2] = d * ((b[i].qs[j] >> 4) - 8);
		}
	}
}

/* ggml: the value of largest magnitude maps to -8 exactly; d = max / -8 */
void quantize_q4_0_ref(const float *x, void *y, int64_t n)
{
	block_q4_0 *b = y;
	for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
		float amax = 0, max = 0;
		for (int j = 0; j < QK4_0; j++) {
			if (fabsf(x[j]) > amax) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		}
		float d = max / -8, id = d != 0 ? 1.0f / d : 0.0f;
		b[i].d = sh_f32_to_f16(d);
		for (int j = 0; j < QK4_0 / 2; j++) {
			int q0 = clampi((int)(x[j] * id + 8.5f), 0, 15);
			int q1 = clampi((int)(x[j + QK4_0 / 2] * id + 8.5f), 0, 15);
			b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
		}
	}
}

void vec_dot_q4_0_ref(int n, float *s, const void *x, const void *y)
{
	const block_q4_0 *a = x;
	const block_q8_0 *b = y;
	float sum = 0;
	for (int i = 0; i < n / QK4_0; i++) {
		int isum = 0;
		for (int j = 0; j < QK4_0 / 2; j++) {
			isum += ((a[i].qs[j] & 0xF) - 8) * b[i].qs[j];
			isum += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + QK4_0 / 2];
		}
		sum += isum * (sh_f16_to_f32(a[i].d) * sh_f16_to_f32(b[i].d));
	}
	*s = sum;
}

/* ---------------------------------------------------------------- Q8_0 */
void axpy_f32_ref(int n, float a, const void *x, float *y)
{
	const float *v = x;
	for (int i = 0; i < n; i++)
		y[i] += a * v[i];
}

void axpy_f16_ref(int n, float a, const void *x, float *y)
{
	const sh_f16 *v = x;
	for (int i = 0; i < n; i++)
		y[i] += a * sh_f16_to_f32(v[i]);
}

void axpy_q8_0_ref(int n, float a, const void *x, float *y)
{
	const block_q8_0 *b = x;
	for (int i = 0; i < n / QK8_0; i++, y += QK8_0) {
		float d = a * sh_f16_to_f32(b[i].d);
		for (int j = 0; j < QK8_0; j++)
			y[j] += d * b[i].qs[j];
	}
}

void dequant_q8_0_ref(const void *x, float *y, int64_t n)
{
	const block_q8_0 *b = x;
	for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
		float d = sh_f16_to_f32(b[i].d);
		for (int j = 0; j < QK8_0; j++)
			y[j] = d * b[i].qs[j];
	}
}

void quantize_q8_0_ref(const float *x, void *y, int64_t n)
{
	block_q8_0 *b = y;
	for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
		float amax = 0;
		for (int j = 0; j < QK8_0; j++)
			amax = fabsf(x[j]) > amax ? fabsf(x[j]) : amax;
		float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
		b[i].d = sh_f32_to_f16(d);
		for (int j = 0; j < QK8_0; j++)
			b[i].qs[j] = (int8_t)nearest_int(x[j] * id);
	}
}

void quant_q8_0x4_from(quant_from_float_fn q8, const float *x, void *vy, int64_t n)
{
	block_q8_0x4 *g = vy;
	int64_t nb = n / QK8_0;
	for (int64_t i = 0; i < nb; i += 4, g++) {
		block_q8_0 b[4];
		memset(b, 0, sizeof b);
		q8(x + i * QK8_0, b, SH_MIN(4, nb - i) * QK8_0);
		for (int j = 0; j < 4; j++) {
			memcpy(g->lo + 16 * j, b[j].qs, 16);
			memcpy(g->hi + 16 * j, b[j].qs + 16, 16);
		}
		for (int l = 0; l < 16; l++) {
			int32_t sum = 0;
			for (int u = 0; u < 4; u++)
				sum += g->lo[4 * l + u] + g->hi[4 * l + u];
			g->start[l] = -8 * sum;
			g->d[l] = sh_f16_to_f32(b[l / 4].d);
		}
	}
}

void quantize_q8_0x4_ref(const float *x, void *y, int64_t n) { quant_q8_0x4_from(quantize_q8_0_ref, x, y, n); }

void dequant_q8_0x4_ref(const void *x, float *y, int64_t n)
{
	const block_q8_0x4 *g = x;
	for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
		const block_q8_0x4 *gi = g + i / 4;
		int j = (int)(i % 4);
		for (int k = 0; k < 16; k++) {
			y[k] = gi->d[4 * j] * gi->lo[16 * j + k];
			y[16 + k] = gi->d[4 * j] * gi->hi[16 * j + k];
		}
	}
}

void vec_dot_q8_0_ref(int n, float *s, const void *x, const void *y)
{
	const block_q8_0 *a = x, *b = y;
	float sum = 0;
	for (int i = 0; i < n / QK8_0; i++) {
		int isum = 0;
		for (int j = 0; j < QK8_0; j++)
			isum += a[i].qs[j] * b[i].qs[j];
		sum += isum * (sh_f16_to_f32(a[i].d) * sh_f16_to_f32(b[i].d));
	}
	*s = sum;
}

/* ---------------------------------------------------------------- Q8_K (activations) */
void dequant_q8_K_ref(const void *x, float *y, int64_t n)
{
	const block_q8_K *b = x;
	for (int64_t i = 0; i < n / QK_K; i++, y += QK_K)
		for (int j = 0; j < QK_K; j++)
			y[j] = b[i].d * b[i].qs[j];
}

/* ggml: the value of largest magnitude maps to -127 (current ggml; older versions used -128) */
void quantize_q8_K_ref(const float *x, void *y, int64_t n)
{
	block_q8_K *b = y;
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		float amax = 0, max = 0;
		for (int j = 0; j < QK_K; j++) {
			if (fabsf(x[j]) > amax) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		}
		memset(&b[i], 0, sizeof b[i]);
		if (amax == 0)
			continue;
		float iscale = -127.f / max;
		for (int j = 0; j < QK_K; j++)
			b[i].qs[j] = (int8_t)SH_MIN(127, nearest_int(iscale * x[j]));
		for (int j = 0; j < QK_K / 16; j++) {
			int sum = 0;
			for (int k = 0; k < 16; k++)
				sum += b[i].qs[16 * j + k];
			b[i].bsums[j] = (int16_t)sum;
		}
		b[i].d = 1 / iscale;
	}
}

/* ---------------------------------------------------------------- Q4_K */
/* super-block: 8 sub-blocks of 32; bytes qs[32*c + l] hold sub-block 2c (low nibble) and 2c+1 */
void dequant_q4_K_ref(const void *x, float *y, int64_t n)
{
	const block_q4_K *b = x;
	for (int64_t i = 0; i < n / QK_K; i++) {
		float d = sh_f16_to_f32(b[i].d), dmin = sh_f16_to_f32(b[i].dmin);
		for (int c = 0; c < 4; c++, y += 64) {
			uint8_t sc0, m0, sc1, m1;
			get_scale_min_k4(2 * c, b[i].scales, &sc0, &m0);
			get_scale_min_k4(2 * c + 1, b[i].scales, &sc1, &m1);
			const uint8_t *q = b[i].qs + 32 * c;
			for (int l = 0; l < 32; l++) {
				y[l] = d * sc0 * (q[l] & 0xF) - dmin * m0;
				y[l + 32] = d * sc1 * (q[l] >> 4) - dmin * m1;
			}
		}
	}
}

/*
 * Shared by Q4_K and Q5_K: per sub-block scale/min search, then 6-bit quantization of the 8
 * scales and mins against the super-block's d and dmin, then the final levels L (0..nmax)
 * requantized against the rounded scales.
 */
static void quantize_kx_superblock(const float *x, int nmax, sh_f16 *d_out, sh_f16 *dmin_out,
				   uint8_t scales[K_SCALE_SIZE], uint8_t L[QK_K])
{
	float w[32], sub_scale[8], sub_min[8], sum_x2 = 0;
	for (int j = 0; j < QK_K; j++)
		sum_x2 += x[j] * x[j];
	float av_x = sqrtf(sum_x2 / QK_K), max_scale = 0, max_min = 0;
	for (int j = 0; j < 8; j++) {
		for (int l = 0; l < 32; l++)
			w[l] = av_x + fabsf(x[32 * j + l]);
		sub_scale[j] = make_qkx_quants(32, nmax, x + 32 * j, w, L + 32 * j, &sub_min[j], -1.f, 0.1f, 20);
		max_scale = SH_MAX(max_scale, sub_scale[j]);
		max_min = SH_MAX(max_min, sub_min[j]);
	}
	float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
	float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
	uint8_t ls[8], lm[8];
	for (int j = 0; j < 8; j++) {
		ls[j] = (uint8_t)SH_MIN(63, nearest_int(inv_scale * sub_scale[j]));
		lm[j] = (uint8_t)SH_MIN(63, nearest_int(inv_min * sub_min[j]));
	}
	set_scale_min_k4(ls, lm, scales);
	*d_out = sh_f32_to_f16(max_scale / 63.f);
	*dmin_out = sh_f32_to_f16(max_min / 63.f);
	float d = sh_f16_to_f32(*d_out), dmin = sh_f16_to_f32(*dmin_out);
	for (int j = 0; j < 8; j++) {
		uint8_t sc, m;
		get_scale_min_k4(j, scales, &sc, &m);
		float dj = d * sc, mj = dmin * m;
		if (dj == 0)
			continue;
		for (int l = 0; l < 32; l++)
			L[32 * j + l] = (uint8_t)clampi(nearest_int((x[32 * j + l] + mj) / dj), 0, nmax);
	}
}

void quantize_q4_K_ref(const float *x, void *y, int64_t n)
{
	block_q4_K *b = y;
	uint8_t L[QK_K];
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		quantize_kx_superblock(x, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
		for (int c = 0; c < 4; c++)
			for (int l = 0; l < 32; l++)
				b[i].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
	}
}

void vec_dot_q4_K_ref(int n, float *s, const void *x, const void *y)
{
	const block_q4_K *a = x;
	const block_q8_K *b = y;
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++) {
		int isum = 0, msum = 0;
		for (int j = 0; j < 8; j++) {
			uint8_t sc, m;
			get_scale_min_k4(j, a[i].scales, &sc, &m);
			const uint8_t *q = a[i].qs + 32 * (j / 2);
			const int8_t *q8 = b[i].qs + 32 * j;
			int sub = 0;
			for (int l = 0; l < 32; l++)
				sub += ((j & 1) ? q[l] >> 4 : q[l] & 0xF) * q8[l];
			isum += sc * sub;
			msum += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
		}
		sum += quant_k4_term(b[i].d, a[i].d, a[i].dmin, isum, msum);
	}
	*s = sum;
}

/* ---------------------------------------------------------------- Q5_K */
/* as Q4_K, plus bit 2c of qh[l] is the fifth bit of element 64c+l, bit 2c+1 that of 64c+32+l */
void dequant_q5_K_ref(const void *x, float *y, int64_t n)
{
	const block_q5_K *b = x;
	for (int64_t i = 0; i < n / QK_K; i++) {
		float d = sh_f16_to_f32(b[i].d), dmin = sh_f16_to_f32(b[i].dmin);
		for (int c = 0; c < 4; c++, y += 64) {
			uint8_t sc0, m0, sc1, m1;
			get_scale_min_k4(2 * c, b[i].scales, &sc0, &m0);
			get_scale_min_k4(2 * c + 1, b[i].scales, &sc1, &m1);
			const uint8_t *q = b[i].qs + 32 * c;
			for (int l = 0; l < 32; l++) {
				int h0 = (b[i].qh[l] >> (2 * c)) & 1, h1 = (b[i].qh[l] >> (2 * c + 1)) & 1;
				y[l] = d * sc0 * ((q[l] & 0xF) | (h0 << 4)) - dmin * m0;
				y[l + 32] = d * sc1 * ((q[l] >> 4) | (h1 << 4)) - dmin * m1;
			}
		}
	}
}

void quantize_q5_K_ref(const float *x, void *y, int64_t n)
{
	block_q5_K *b = y;
	uint8_t L[QK_K];
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		quantize_kx_superblock(x, 31, &b[i].d, &b[i].dmin, b[i].scales, L);
		memset(b[i].qh, 0, sizeof b[i].qh);
		for (int c = 0; c < 4; c++) {
			for (int l = 0; l < 32; l++) {
				int l0 = L[64 * c + l], l1 = L[64 * c + 32 + l];
				b[i].qs[32 * c + l] = (uint8_t)((l0 & 0xF) | ((l1 & 0xF) << 4));
				b[i].qh[l] |= (uint8_t)(((l0 >> 4) << (2 * c)) | ((l1 >> 4) << (2 * c + 1)));
			}
		}
	}
}

void vec_dot_q5_K_ref(int n, float *s, const void *x, const void *y)
{
	const block_q5_K *a = x;
	const block_q8_K *b = y;
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++) {
		int isum = 0, msum = 0;
		for (int j = 0; j < 8; j++) {
			uint8_t sc, m;
			get_scale_min_k4(j, a[i].scales, &sc, &m);
			const uint8_t *q = a[i].qs + 32 * (j / 2);
			const int8_t *q8 = b[i].qs + 32 * j;
			int sub = 0;
			for (int l = 0; l < 32; l++) {
				int lo = (j & 1) ? q[l] >> 4 : q[l] & 0xF;
				sub += (lo | (((a[i].qh[l] >> j) & 1) << 4)) * q8[l];
			}
			isum += sc * sub;
			msum += m * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
		}
		sum += quant_k4_term(b[i].d, a[i].d, a[i].dmin, isum, msum);
	}
	*s = sum;
}

/* ---------------------------------------------------------------- Q6_K */
/*
 * 16 sub-blocks of 16, w = d * scales[e/16] * (q - 32), q 6 bits. For half h (128 elements) and
 * l in 0..31, with ql = ql + 64h, qh = qh + 32h:
 *   e = 128h + l       low 4 bits ql[l] & 0xF,     high 2 bits (qh[l] >> 0) & 3
 *   e = 128h + 32 + l  ql[l + 32] & 0xF,           (qh[l] >> 2) & 3
 *   e = 128h + 64 + l  ql[l] >> 4,                 (qh[l] >> 4) & 3
 *   e = 128h + 96 + l  ql[l + 32] >> 4,            (qh[l] >> 6) & 3
 */
static inline int q6_K_level(const block_q6_K *b, int e)
{
	int h = e / 128, k = (e % 128) / 32, l = e % 32;
	int ql = b->ql[64 * h + l + 32 * (k & 1)];
	int lo = (k & 2) ? ql >> 4 : ql & 0xF;
	int hi = (b->qh[32 * h + l] >> (2 * k)) & 3;
	return lo | (hi << 4);
}

void dequant_q6_K_ref(const void *x, float *y, int64_t n)
{
	const block_q6_K *b = x;
	for (int64_t i = 0; i < n / QK_K; i++, y += QK_K) {
		float d = sh_f16_to_f32(b[i].d);
		for (int e = 0; e < QK_K; e++)
			y[e] = d * b[i].scales[e / 16] * (q6_K_level(&b[i], e) - 32);
	}
}

void quantize_q6_K_ref(const float *x, void *y, int64_t n)
{
	block_q6_K *b = y;
	float sub_scale[QK_K / 16];
	for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
		float max_scale = 0, amax = 0;
		for (int j = 0; j < QK_K / 16; j++) {
			sub_scale[j] = make_qx_scale(16, 32, x + 16 * j);
			if (fabsf(sub_scale[j]) > amax) {
				amax = fabsf(sub_scale[j]);
				max_scale = sub_scale[j];
			}
		}
		memset(&b[i], 0, sizeof b[i]);
		if (amax == 0) /* d = 0: every weight is 0 */
			continue;
		float iscale = -128.f / max_scale;
		b[i].d = sh_f32_to_f16(1 / iscale);
		for (int j = 0; j < QK_K / 16; j++)
			b[i].scales[j] = (int8_t)SH_MIN(127, nearest_int(iscale * sub_scale[j]));
		float d = sh_f16_to_f32(b[i].d);
		uint8_t Q[QK_K];
		for (int j = 0; j < QK_K / 16; j++) {
			float dj = d * b[i].scales[j];
			for (int l = 0; l < 16; l++) {
				int q = dj != 0 ? clampi(nearest_int(x[16 * j + l] / dj), -32, 31) : 0;
				Q[16 * j + l] = (uint8_t)(q + 32);
			}
		}
		for (int h = 0; h < 2; h++) {
			const uint8_t *q = Q + 128 * h;
			for (int l = 0; l < 32; l++) {
				b[i].ql[64 * h + l] = (uint8_t)((q[l] & 0xF) | ((q[l + 64] & 0xF) << 4));
				b[i].ql[64 * h + l + 32] = (uint8_t)((q[l + 32] & 0xF) | ((q[l + 96] & 0xF) << 4));
				b[i].qh[32 * h + l] = (uint8_t)((q[l] >> 4) | ((q[l + 32] >> 4) << 2) |
								 ((q[l + 64] >> 4) << 4) | ((q[l + 96] >> 4) << 6));
			}
		}
	}
}

void vec_dot_q6_K_ref(int n, float *s, const void *x, const void *y)
{
	const block_q6_K *a = x;
	const block_q8_K *b = y;
	float sum = 0;
	for (int i = 0; i < n / QK_K; i++) {
		int isum = 0;
		for (int j = 0; j < QK_K / 16; j++) {
			int sub = 0;
			for (int l = 0; l < 16; l++)
				sub += (q6_K_level(&a[i], 16 * j + l) - 32) * b[i].qs[16 * j + l];
			isum += a[i].scales[j] * sub;
		}
		sum += quant_k6_term(b[i].d, a[i].d, isum);
	}
	*s = sum;
}

/* ---------------------------------------------------------------- tiles */
QUANT_GEMM_BY_DOT(gemm_f32_ref, vec_dot_f32_ref)
QUANT_GEMM_BY_DOT(gemm_f16_ref, vec_dot_f16_ref)
QUANT_GEMM_BY_DOT(gemm_bf16_ref, vec_dot_bf16_ref)
QUANT_GEMM_BY_DOT(gemm_q4_0_ref, vec_dot_q4_0_ref)
QUANT_GEMM_BY_DOT(gemm_q8_0_ref, vec_dot_q8_0_ref)
QUANT_GEMM_BY_DOT(gemm_q4_K_ref, vec_dot_q4_K_ref)
QUANT_GEMM_BY_DOT(gemm_q5_K_ref, vec_dot_q5_K_ref)
QUANT_GEMM_BY_DOT(gemm_q6_K_ref, vec_dot_q6_K_ref)
