/*
 * test_quant.c - block formats and kernels: hand-built blocks against the format definitions,
 * quantize/dequantize round trips, fp16/bf16 conversions, the format table, and every SIMD kernel
 * this CPU can run against its scalar reference on random data (odd block counts, float tails).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "compute/quant.h"

/* ---------------------------------------------------------------- helpers */
static void fill_normal(sh_rng *r, float *x, int n, float sigma)
{
	for (int i = 0; i < n; i++)
		x[i] = sigma * sh_rng_normal(r);
}

static void fill_bytes(sh_rng *r, void *p, size_t n)
{
	uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)sh_rng_u64(r);
}

static float rel_rmse(const float *a, const float *b, int n)
{
	double e = 0, s = 0;
	for (int i = 0; i < n; i++) {
		e += (double)(a[i] - b[i]) * (a[i] - b[i]);
		s += (double)a[i] * a[i];
	}
	return (float)sqrt(e / s);
}

/* sum |x_i * y_i| of two float rows: the scale of a dot product's rounding error */
static double abs_dot(const float *x, const float *y, int n)
{
	double s = 0;
	for (int i = 0; i < n; i++)
		s += fabs((double)x[i] * y[i]);
	return s;
}

/* a random fp16 scale of magnitude around `mag` (positive) */
static sh_f16 rand_scale(sh_rng *r, float mag) { return sh_f32_to_f16(mag * (0.25f + sh_rng_f32(r))); }

/* ---------------------------------------------------------------- kernel sets under test */
typedef struct {
	const char *name;
	quant_vec_dot_fn dot[QT_COUNT];
	quant_gemm_fn gemm[QT_COUNT];
	quant_from_float_fn quantize_q8_0, quantize_q8_K;
	quant_to_float_fn dequant_f16;
	quant_axpy_fn axpy[QT_COUNT];
	int dot_type[QT_COUNT]; /* the set's vec_dot_type of each format, as quant_init dispatches it */
} simd_set;

/* each format's vec_dot_type under the named kernel set (the dispatch is left as quant_init(NULL)) */
static void dot_types_of(const char *set, int *out)
{
	quant_init(set);
	for (int t = 0; t < QT_COUNT; t++)
		out[t] = quant_get(t) ? (int)quant_get(t)->vec_dot_type : t;
	quant_init(NULL);
}

/* the reference kernels' vec_dot_type of format t: what ref_dot reads */
static int ref_dot_type(int t)
{
	static int types[QT_COUNT];
	static bool done;
	if (!done)
		dot_types_of("ref", types);
	done = true;
	return types[t];
}

/* the SIMD sets this CPU can run (and the reference set first, if with_ref) */
static int kernel_sets(simd_set *out, bool with_ref)
{
	int n = 0;
#define SET(sfx) do { \
	simd_set *k = &out[n++]; \
	memset(k, 0, sizeof *k); \
	k->name = #sfx; \
	k->dot[QT_F32] = vec_dot_f32_##sfx; k->dot[QT_F16] = vec_dot_f16_##sfx; \
	k->dot[QT_BF16] = vec_dot_bf16_##sfx; k->dot[QT_Q4_0] = vec_dot_q4_0_##sfx; \
	k->dot[QT_Q8_0] = vec_dot_q8_0_##sfx; k->dot[QT_Q4_K] = vec_dot_q4_K_##sfx; \
	k->dot[QT_Q5_K] = vec_dot_q5_K_##sfx; k->dot[QT_Q6_K] = vec_dot_q6_K_##sfx; \
	k->gemm[QT_F32] = gemm_f32_##sfx; k->gemm[QT_F16] = gemm_f16_##sfx; \
	k->gemm[QT_BF16] = gemm_bf16_##sfx; k->gemm[QT_Q4_0] = gemm_q4_0_##sfx; \
	k->gemm[QT_Q8_0] = gemm_q8_0_##sfx; k->gemm[QT_Q4_K] = gemm_q4_K_##sfx; \
	k->gemm[QT_Q5_K] = gemm_q5_K_##sfx; k->gemm[QT_Q6_K] = gemm_q6_K_##sfx; \
	k->quantize_q8_0 = quantize_q8_0_##sfx; k->quantize_q8_K = quantize_q8_K_##sfx; \
	k->dequant_f16 = dequant_f16_##sfx; \
	k->axpy[QT_F32] = axpy_f32_##sfx; k->axpy[QT_F16] = axpy_f16_##sfx; k->axpy[QT_Q8_0] = axpy_q8_0_##sfx; \
	dot_types_of(#sfx, k->dot_type); } while (0)
	if (with_ref)
		SET(ref);
#if defined(__x86_64__)
	if (cpu_has_avx2())
		SET(avx2);
	if (cpu_has_avx512())
		SET(avx512);
#endif
#if defined(__aarch64__)
	SET(neon);
#endif
#undef SET
	return n;
}

static int simd_sets(simd_set *out) { return kernel_sets(out, false); }

static const quant_vec_dot_fn ref_dot[QT_COUNT] = {
	[QT_F32] = vec_dot_f32_ref, [QT_F16] = vec_dot_f16_ref, [QT_BF16] = vec_dot_bf16_ref,
	[QT_Q4_0] = vec_dot_q4_0_ref, [QT_Q8_0] = vec_dot_q8_0_ref, [QT_Q4_K] = vec_dot_q4_K_ref,
	[QT_Q5_K] = vec_dot_q5_K_ref, [QT_Q6_K] = vec_dot_q6_K_ref,
};

static const quant_to_float_fn ref_dequant[QT_COUNT] = {
	[QT_F16] = dequant_f16_ref, [QT_BF16] = dequant_bf16_ref, [QT_Q4_0] = dequant_q4_0_ref,
	[QT_Q8_0] = dequant_q8_0_ref, [QT_Q4_K] = dequant_q4_K_ref, [QT_Q5_K] = dequant_q5_K_ref,
	[QT_Q6_K] = dequant_q6_K_ref, [QT_Q8_K] = dequant_q8_K_ref, [QT_Q8_0X4] = dequant_q8_0x4_ref,
};

static const quant_from_float_fn ref_quantize[QT_COUNT] = {
	[QT_F16] = quantize_f16_ref, [QT_BF16] = quantize_bf16_ref, [QT_Q4_0] = quantize_q4_0_ref,
	[QT_Q8_0] = quantize_q8_0_ref, [QT_Q4_K] = quantize_q4_K_ref, [QT_Q5_K] = quantize_q5_K_ref,
	[QT_Q6_K] = quantize_q6_K_ref, [QT_Q8_K] = quantize_q8_K_ref, [QT_Q8_0X4] = quantize_q8_0x4_ref,
};

/* bytes of an activation row of n elements in type ty (f32 for the float formats' dots) */
static size_t act_row_size(int ty, int n) { return ty == QT_F32 ? sizeof(float) * n : quant_row_size(ty, n); }

/* fy (n floats) as an activation row of type ty */
static void act_row(int ty, const float *fy, void *row, int n)
{
	if (ty == QT_F32)
		memcpy(row, fy, sizeof(float) * n);
	else
		ref_quantize[ty](fy, row, n);
}

/* a random weight row of type t with n elements: random bits in every field, sane scales */
static void random_weight_row(sh_rng *r, int t, void *row, int n)
{
	int nb = n / quant_get(t)->blck_size;
	switch (t) {
	case QT_F32: fill_normal(r, row, n, 1.0f); break;
	case QT_F16: case QT_BF16: {
		float *tmp = malloc(sizeof(float) * n);
		fill_normal(r, tmp, n, 1.0f);
		ref_quantize[t](tmp, row, n);
		free(tmp);
		break;
	}
	case QT_Q4_0: {
		block_q4_0 *b = row;
		fill_bytes(r, b, sizeof *b * nb);
		for (int i = 0; i < nb; i++)
			b[i].d = rand_scale(r, 0.1f);
		break;
	}
	case QT_Q8_0: { /* every int8 including -128 */
		block_q8_0 *b = row;
		fill_bytes(r, b, sizeof *b * nb);
		for (int i = 0; i < nb; i++)
			b[i].d = rand_scale(r, 0.01f);
		break;
	}
	case QT_Q4_K: {
		block_q4_K *b = row;
		fill_bytes(r, b, sizeof *b * nb);
		for (int i = 0; i < nb; i++) {
			b[i].d = rand_scale(r, 0.001f);
			b[i].dmin = rand_scale(r, 0.001f);
		}
		break;
	}
	case QT_Q5_K: {
		block_q5_K *b = row;
		fill_bytes(r, b, sizeof *b * nb);
		for (int i = 0; i < nb; i++) {
			b[i].d = rand_scale(r, 0.001f);
			b[i].dmin = rand_scale(r, 0.001f);
		}
		break;
	}
	case QT_Q6_K: {
		block_q6_K *b = row;
		fill_bytes(r, b, sizeof *b * nb);
		for (int i = 0; i < nb; i++)
			b[i].d = rand_scale(r, 0.001f);
		break;
	}
	default: cr_assert_fail("no random row for type %d", t);
	}
}

/* ---------------------------------------------------------------- table and dispatch */
Test(quant, row_size)
{
	cr_expect_eq(quant_row_size(QT_Q4_0, 64), 36);
	cr_expect_eq(quant_row_size(QT_Q4_0, 33), 0);
	cr_expect_eq(quant_row_size(QT_Q8_0, 4096), 128 * 34);
	cr_expect_eq(quant_row_size(QT_Q4_K, 512), 288);
	cr_expect_eq(quant_row_size(QT_Q5_K, 256), 176);
	cr_expect_eq(quant_row_size(QT_Q6_K, 256), 210);
	cr_expect_eq(quant_row_size(QT_Q6_K, 128), 0);
	cr_expect_eq(quant_row_size(QT_Q8_K, 256), 292);
	cr_expect_eq(quant_row_size(QT_F32, 5), 20);
	cr_expect_eq(quant_row_size(QT_F16, 7), 14);
	cr_expect_eq(quant_row_size(QT_BF16, 3), 6);
	cr_expect_eq(quant_row_size(QT_Q3_K, 256), 110);
	cr_expect_eq(quant_row_size(QT_Q2_K, 256), 84);
	cr_expect_eq(quant_row_size(QT_F32, 0), 0);
	cr_expect_eq(quant_row_size(QT_F32, -4), 0);
	cr_expect_eq(quant_row_size(4, 32), 0); /* removed Q4_2 */
	cr_expect_eq(quant_row_size(-1, 32), 0);
	cr_expect_eq(quant_row_size(QT_COUNT, 32), 0);
	cr_expect_eq(quant_row_size(1000, 32), 0);
}

Test(quant, table)
{
	quant_init(NULL);
	static const int supported[] = { QT_F32, QT_F16, QT_BF16, QT_Q4_0, QT_Q8_0, QT_Q4_K, QT_Q5_K, QT_Q6_K };
	for (size_t i = 0; i < SH_ARRAY_LEN(supported); i++) {
		const quant_traits *t = quant_get(supported[i]);
		cr_assert_not_null(t);
		cr_expect(t->supported, "%s", t->name);
		cr_expect(t->to_float && t->from_float && t->vec_dot && t->gemm, "%s kernels", t->name);
		cr_expect_not_null(quant_get(t->vec_dot_type)->from_float);
	}
	cr_expect_eq(quant_get(QT_Q4_0)->vec_dot_type, strcmp(quant_kernel_name(), "avx512") ? QT_Q8_0 : QT_Q8_0X4);
	cr_expect_eq(quant_get(QT_Q8_0)->vec_dot_type, QT_Q8_0);
	cr_expect_eq(quant_get(QT_Q4_K)->vec_dot_type, QT_Q8_K);
	cr_expect_eq(quant_get(QT_Q5_K)->vec_dot_type, QT_Q8_K);
	cr_expect_eq(quant_get(QT_Q6_K)->vec_dot_type, QT_Q8_K);
	cr_expect_eq(quant_get(QT_F16)->vec_dot_type, QT_F32);
	cr_expect_eq(quant_get(QT_BF16)->vec_dot_type, QT_F32);
	cr_expect(quant_get(QT_Q8_K)->supported);
	cr_expect(!quant_get(QT_Q8_0X4)->supported, "an activation layout, not a weight format");
	cr_expect_eq(quant_row_size(QT_Q8_0X4, 128), 256);
	cr_expect_eq(quant_row_size(QT_Q8_0X4, 160), 512, "the last group padded");
	cr_expect_eq(quant_row_size(QT_Q8_0X4, 48), 0);
	cr_expect_str_eq(quant_get(QT_Q4_K)->name, "Q4_K");
	cr_expect_str_eq(quant_get(QT_BF16)->name, "BF16");

	static const struct { int id; const char *name; int blck; size_t size; } unsup[] = {
		{ QT_Q4_1, "Q4_1", 32, 20 }, { QT_Q5_0, "Q5_0", 32, 22 }, { QT_Q5_1, "Q5_1", 32, 24 },
		{ QT_Q8_1, "Q8_1", 32, 36 }, { QT_Q2_K, "Q2_K", 256, 84 }, { QT_Q3_K, "Q3_K", 256, 110 },
		{ 16, "IQ2_XXS", 256, 66 }, { 20, "IQ4_NL", 32, 18 }, { 23, "IQ4_XS", 256, 136 },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(unsup); i++) {
		const quant_traits *t = quant_get(unsup[i].id);
		cr_assert_not_null(t, "id %d", unsup[i].id);
		cr_expect_str_eq(t->name, unsup[i].name);
		cr_expect_eq(t->blck_size, unsup[i].blck);
		cr_expect_eq(t->type_size, unsup[i].size);
		cr_expect_not(t->supported, "%s", t->name);
		cr_expect_null(t->vec_dot);
		cr_expect_null(t->gemm);
	}
	cr_expect_null(quant_get(-1));
	cr_expect_null(quant_get(4));
	cr_expect_null(quant_get(QT_COUNT));
}

Test(quant, dispatch)
{
	quant_init("ref");
	cr_expect_str_eq(quant_kernel_name(), "ref");
	cr_expect_eq(quant_get(QT_Q4_0)->vec_dot, vec_dot_q4_0_ref);
#if defined(__x86_64__)
	if (cpu_has_avx2()) {
		quant_init("avx2");
		cr_expect_str_eq(quant_kernel_name(), "avx2");
		cr_expect_eq(quant_get(QT_Q4_0)->vec_dot, vec_dot_q4_0_avx2);
	}
	if (cpu_has_avx512()) {
		quant_init("avx512");
		cr_expect_str_eq(quant_kernel_name(), "avx512");
		cr_expect_eq(quant_get(QT_Q4_K)->vec_dot, vec_dot_q4_K_avx512);
		cr_expect_eq(quant_get(QT_Q4_K)->gemm, gemm_q4_K_avx512);
		cr_expect(cpu_has_avx2());
	}
#endif
	quant_init("no-such-kernels"); /* warns, takes the best */
	const char *best = quant_kernel_name();
	const char *force = getenv("SHOAL_KERNELS"); /* NULL means it unless SHOAL_KERNELS forces a set */
	quant_init(NULL);
	cr_expect_str_eq(quant_kernel_name(), force && *force ? force : best);
}

/* ---------------------------------------------------------------- fp16 / bf16 */
Test(quant, f16_all_values)
{
	sh_base_init();
	for (uint32_t h = 0; h < 65536; h++) {
		float f = sh_f16_to_f32((sh_f16)h);
		cr_assert_eq(memcmp(&f, &(float){ sh_f16_to_f32_ref((sh_f16)h) }, 4), 0, "table %04x", h);
		if (isnan(f)) {
			cr_assert(isnan(sh_f16_to_f32(sh_f32_to_f16(f))), "nan %04x", h);
			continue;
		}
		cr_assert_eq(sh_f32_to_f16(f), h, "round trip %04x", h);
	}
	/* rounding: ties to even, overflow to inf, underflow to (signed) zero */
	cr_expect_eq(sh_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);            /* tie, even stays */
	cr_expect_eq(sh_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);        /* tie, odd rounds up */
	cr_expect_eq(sh_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3c01); /* above the tie */
	cr_expect_eq(sh_f32_to_f16(65520.0f), 0x7c00);
	cr_expect_eq(sh_f32_to_f16(65519.0f), 0x7bff);
	cr_expect_eq(sh_f32_to_f16(-1e-10f), 0x8000);
	cr_expect_eq(sh_f32_to_f16(0x1p-24f), 0x0001);                   /* smallest subnormal */
	cr_expect_eq(sh_f32_to_f16(0x1p-25f), 0x0000);                   /* tie to even (zero) */
}

Test(quant, bf16_conversions)
{
	for (uint32_t h = 0; h < 65536; h++) {
		float f = sh_bf16_to_f32((sh_bf16)h);
		if (isnan(f))
			cr_assert(isnan(sh_bf16_to_f32(sh_f32_to_bf16(f))), "nan %04x", h);
		else
			cr_assert_eq(sh_f32_to_bf16(f), h, "round trip %04x", h);
	}
	union { uint32_t u; float f; } v;
	v.u = 0x3f808000; /* tie between 0x3f80 and 0x3f81: even */
	cr_expect_eq(sh_f32_to_bf16(v.f), 0x3f80);
	v.u = 0x3f818000; /* tie between 0x3f81 and 0x3f82: even */
	cr_expect_eq(sh_f32_to_bf16(v.f), 0x3f82);
	v.u = 0x3f808001;
	cr_expect_eq(sh_f32_to_bf16(v.f), 0x3f81);
	v.u = 0x3f807fff;
	cr_expect_eq(sh_f32_to_bf16(v.f), 0x3f80);
	v.u = 0x7f7fffff; /* largest float rounds to inf */
	cr_expect_eq(sh_f32_to_bf16(v.f), 0x7f80);
	v.u = 0x7f800001; /* a nan whose payload is all in the low half stays nan */
	cr_expect(isnan(sh_bf16_to_f32(sh_f32_to_bf16(v.f))));
	cr_expect_eq(sh_f32_to_bf16(-INFINITY), 0xff80);
}

/* ---------------------------------------------------------------- hand-built blocks */
Test(quant, q4_0_block)
{
	sh_base_init();
	block_q4_0 b = { .d = sh_f32_to_f16(0.5f) };
	for (int j = 0; j < 16; j++)
		b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
	float y[32];
	dequant_q4_0_ref(&b, y, 32);
	for (int j = 0; j < 16; j++) {
		cr_expect_float_eq(y[j], 0.5f * (j - 8), 0, "w[%d]", j);
		cr_expect_float_eq(y[16 + j], 0.5f * (7 - j), 0, "w[%d]", 16 + j);
	}
	cr_expect_float_eq(y[0], -4.0f, 0);
	cr_expect_float_eq(y[16], 3.5f, 0);
	cr_expect_float_eq(y[31], -4.0f, 0);
}

Test(quant, q8_0_block)
{
	sh_base_init();
	block_q8_0 b[2] = { { .d = sh_f32_to_f16(0.25f) }, { .d = sh_f32_to_f16(-2.0f) } };
	for (int j = 0; j < 32; j++) {
		b[0].qs[j] = (int8_t)(j - 16);
		b[1].qs[j] = (int8_t)(j == 0 ? -128 : 127 - j);
	}
	float y[64];
	dequant_q8_0_ref(b, y, 64);
	for (int j = 0; j < 32; j++) {
		cr_expect_float_eq(y[j], 0.25f * (j - 16), 0);
		cr_expect_float_eq(y[32 + j], -2.0f * (j == 0 ? -128 : 127 - j), 0);
	}
}

/* pack 8 six-bit scales and mins the way ggml's get_scale_min_k4 reads them */
static void pack_k4_scales(const uint8_t sc[8], const uint8_t m[8], uint8_t out[12])
{
	for (int j = 0; j < 4; j++) {
		out[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
		out[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
		out[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
	}
}

static const uint8_t k4_sc[8] = { 1, 2, 3, 63, 17, 33, 48, 63 };
static const uint8_t k4_m[8] = { 0, 5, 63, 7, 16, 32, 47, 60 };

Test(quant, q4_K_block)
{
	sh_base_init();
	block_q4_K b = { .d = sh_f32_to_f16(0.5f), .dmin = sh_f32_to_f16(0.25f) };
	pack_k4_scales(k4_sc, k4_m, b.scales);
	for (int i = 0; i < 128; i++)
		b.qs[i] = (uint8_t)((i % 16) | ((15 - i % 7) << 4));
	float y[256];
	dequant_q4_K_ref(&b, y, 256);
	/* element e: 64-element chunk c, sub-block e/32; low nibbles first, then high nibbles */
	for (int e = 0; e < 256; e++) {
		int c = e / 64, l = e % 64, sub = e / 32;
		int q = l < 32 ? b.qs[32 * c + l] & 0xF : b.qs[32 * c + l - 32] >> 4;
		float w = 0.5f * k4_sc[sub] * q - 0.25f * k4_m[sub];
		cr_assert_float_eq(y[e], w, 1e-6, "w[%d] = %g, want %g", e, y[e], w);
	}
	/* a few by hand */
	cr_expect_float_eq(y[0], 0.5f * 1 * 0 - 0, 1e-6);               /* qs[0] lo = 0 */
	cr_expect_float_eq(y[33], 0.5f * 2 * 14 - 0.25f * 5, 1e-6);    /* qs[1] hi = 15 - 1 */
	cr_expect_float_eq(y[255], 0.5f * 63 * 14 - 0.25f * 60, 1e-6); /* qs[127] hi = 15 - 127%7 = 14 */
	cr_expect_float_eq(y[160], 0.5f * 33 * 14 - 0.25f * 32, 1e-6); /* qs[64] hi = 15 - 64%7 = 14, sub 5 */
}

Test(quant, q5_K_block)
{
	sh_base_init();
	block_q5_K b = { .d = sh_f32_to_f16(0.25f), .dmin = sh_f32_to_f16(1.0f) };
	pack_k4_scales(k4_sc, k4_m, b.scales);
	for (int i = 0; i < 128; i++)
		b.qs[i] = (uint8_t)(i * 29 + 3);
	for (int l = 0; l < 32; l++)
		b.qh[l] = (uint8_t)(l * 37 + 11);
	float y[256];
	dequant_q5_K_ref(&b, y, 256);
	for (int e = 0; e < 256; e++) {
		int c = e / 64, l = e % 64, sub = e / 32;
		int q = l < 32 ? (b.qs[32 * c + l] & 0xF) | (((b.qh[l] >> (2 * c)) & 1) << 4)
			       : (b.qs[32 * c + l - 32] >> 4) | (((b.qh[l - 32] >> (2 * c + 1)) & 1) << 4);
		float w = 0.25f * k4_sc[sub] * q - 1.0f * k4_m[sub];
		cr_assert_float_eq(y[e], w, 1e-6, "w[%d] = %g, want %g", e, y[e], w);
	}
	/* e = 0: qs[0] = 3, lo 3; qh[0] = 11 = 0b1011, bit 0 set: q = 19 */
	cr_expect_float_eq(y[0], 0.25f * 1 * 19 - 0, 1e-6);
	/* e = 32: qs[0] hi 0, qh[0] bit 1 set: q = 16, sub-block 1 */
	cr_expect_float_eq(y[32], 0.25f * 2 * 16 - 5, 1e-6);
	/* e = 64: qs[32] = 32*29+3 = 931 & 255 = 163 = 0xa3, lo 3; qh[0] bit 2 clear: q = 3, sub 2 */
	cr_expect_float_eq(y[64], 0.25f * 3 * 3 - 63, 1e-6);
}

Test(quant, q6_K_block)
{
	sh_base_init();
	block_q6_K b = { .d = sh_f32_to_f16(0.125f) };
	for (int i = 0; i < 128; i++)
		b.ql[i] = (uint8_t)(i * 53 + 7);
	for (int i = 0; i < 64; i++)
		b.qh[i] = (uint8_t)(i * 71 + 5);
	for (int i = 0; i < 16; i++)
		b.scales[i] = (int8_t)(i * 17 - 128);
	float y[256];
	dequant_q6_K_ref(&b, y, 256);
	/* ggml's loop: for each half, l in 0..31 writes elements l, l+32, l+64, l+96 */
	for (int h = 0; h < 2; h++) {
		const uint8_t *ql = b.ql + 64 * h, *qh = b.qh + 32 * h;
		for (int l = 0; l < 32; l++) {
			int q[4] = {
				(ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4),
				(ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4),
				(ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4),
				(ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4),
			};
			for (int k = 0; k < 4; k++) {
				int e = 128 * h + 32 * k + l;
				float w = 0.125f * b.scales[e / 16] * (q[k] - 32);
				cr_assert_float_eq(y[e], w, 1e-6, "w[%d] = %g, want %g", e, y[e], w);
			}
		}
	}
	/* e = 0: ql[0] = 7, qh[0] = 5 -> bits 01: q = 7 | 16 = 23; scale -128 */
	cr_expect_float_eq(y[0], 0.125f * -128 * (23 - 32), 1e-6);
	/* e = 64: ql[0] hi = 0, qh[0] >> 4 & 3 = 0: q = 0; scale[4] = -60 */
	cr_expect_float_eq(y[64], 0.125f * -60 * (0 - 32), 1e-6);
}

/* ---------------------------------------------------------------- round trips */
static void round_trip(int t, float bound)
{
	sh_base_init();
	sh_rng r;
	sh_rng_seed(&r, 7 + t);
	const int n = 256 * 16;
	float *x = malloc(sizeof(float) * n), *back = malloc(sizeof(float) * n);
	void *q = malloc(quant_row_size(t, n));
	fill_normal(&r, x, n, 0.02f);
	for (int i = 0; i < 32; i++) /* some outliers, as real weights have */
		x[(int)(sh_rng_u64(&r) % n)] *= 8;
	ref_quantize[t](x, q, n);
	ref_dequant[t](q, back, n);
	float e = rel_rmse(x, back, n);
	cr_expect(e < bound, "%s relative rmse %g >= %g", quant_get(t)->name, e, bound);
	/* an all-zero row stays zero */
	memset(x, 0, sizeof(float) * n);
	ref_quantize[t](x, q, n);
	ref_dequant[t](q, back, n);
	for (int i = 0; i < n; i++)
		cr_assert_float_eq(back[i], 0.0f, 0, "%s zero row", quant_get(t)->name);
	free(x);
	free(back);
	free(q);
}

Test(quant, round_trip_f16) { round_trip(QT_F16, 4e-4f); }
Test(quant, round_trip_bf16) { round_trip(QT_BF16, 3e-3f); }
Test(quant, round_trip_q8_0) { round_trip(QT_Q8_0, 0.01f); }
Test(quant, round_trip_q8_K) { round_trip(QT_Q8_K, 0.03f); } /* one scale per 256, outliers */
Test(quant, round_trip_q4_0) { round_trip(QT_Q4_0, 0.15f); }
Test(quant, round_trip_q4_K) { round_trip(QT_Q4_K, 0.10f); }
Test(quant, round_trip_q5_K) { round_trip(QT_Q5_K, 0.05f); }
Test(quant, round_trip_q6_K) { round_trip(QT_Q6_K, 0.025f); }

/* the Q8_0 quantizer is ggml's: amax maps to 127, d = amax/127 */
Test(quant, q8_0_quantize_exact)
{
	sh_base_init();
	float x[32];
	for (int j = 0; j < 32; j++)
		x[j] = (j - 16) * 0.5f;
	x[5] = -12.7f;
	block_q8_0 b;
	quantize_q8_0_ref(x, &b, 32);
	cr_expect_eq(b.d, sh_f32_to_f16(0.1f));
	cr_expect_eq(b.qs[5], -127);
	cr_expect_eq(b.qs[16], 0);
	cr_expect_eq(b.qs[17], 5);
	cr_expect_eq(b.qs[31], 75);
}

Test(quant, q8_K_quantize_exact)
{
	sh_base_init();
	float x[256] = { 0 };
	for (int j = 0; j < 256; j++)
		x[j] = (float)(j % 17) - 8;
	x[100] = 12.7f; /* the largest magnitude maps to -127 (d is negative then) */
	x[200] = -12.7f; /* as large, but later: not the one chosen */
	block_q8_K b;
	quantize_q8_K_ref(x, &b, 256);
	cr_expect_eq(b.qs[100], -127);
	cr_expect_eq(b.qs[200], 127);
	cr_expect_float_eq(b.d, -12.7f / 127, 1e-7);
	for (int g = 0; g < 16; g++) {
		int s = 0;
		for (int k = 0; k < 16; k++)
			s += b.qs[16 * g + k];
		cr_expect_eq(b.bsums[g], s, "bsums[%d]", g);
	}
}

/* Q8_0x4 holds quantize_q8_0's values, laid out per zmm: the halves, each lane's -8 * sum, the
 * spread scales, the last group padded with zero blocks; the AVX-512 quantizer writes the same bytes */
Test(quant, q8_0x4_layout)
{
	sh_rng r;
	sh_rng_seed(&r, 4404);
	static const int lens[] = { 32, 64, 96, 128, 160, 2048, 5632 + 32 };
	for (size_t l = 0; l < SH_ARRAY_LEN(lens); l++) {
		int n = lens[l], ng = (n + QK8_0X4 - 1) / QK8_0X4;
		float *x = malloc(sizeof(float) * n), *want = malloc(sizeof(float) * n), *got = malloc(sizeof(float) * n);
		block_q8_0 *q = malloc(quant_row_size(QT_Q8_0, n));
		block_q8_0x4 *g = malloc(quant_row_size(QT_Q8_0X4, n)), *g2 = malloc(quant_row_size(QT_Q8_0X4, n));
		cr_assert_eq(quant_row_size(QT_Q8_0X4, n), ng * sizeof(block_q8_0x4));
		fill_normal(&r, x, n, 2.0f);
		quantize_q8_0_ref(x, q, n);
		dequant_q8_0_ref(q, want, n);
		memset(g, 0xAB, ng * sizeof *g);
		quantize_q8_0x4_ref(x, g, n);
		dequant_q8_0x4_ref(g, got, n);
		cr_assert(memcmp(got, want, sizeof(float) * n) == 0, "n=%d: Q8_0x4 holds Q8_0's values", n);
		for (int i = 0; i < ng * 4; i++) {
			bool real = i < n / QK8_0;
			const block_q8_0x4 *gi = &g[i / 4];
			int j = i % 4;
			for (int k = 0; k < 16; k++) {
				cr_assert_eq(gi->lo[16 * j + k], real ? q[i].qs[k] : 0, "n=%d block %d lo %d", n, i, k);
				cr_assert_eq(gi->hi[16 * j + k], real ? q[i].qs[16 + k] : 0, "n=%d block %d hi %d", n, i, k);
			}
			for (int lane = 4 * j; lane < 4 * j + 4; lane++) {
				cr_assert_eq(gi->d[lane], real ? sh_f16_to_f32(q[i].d) : 0.0f);
				cr_assert_eq(gi->start[lane], -8 * (gi->lo[4 * lane] + gi->lo[4 * lane + 1] + gi->lo[4 * lane + 2] +
								   gi->lo[4 * lane + 3] + gi->hi[4 * lane] + gi->hi[4 * lane + 1] +
								   gi->hi[4 * lane + 2] + gi->hi[4 * lane + 3]));
			}
		}
#if defined(__x86_64__)
		if (cpu_has_avx512()) {
			quantize_q8_0x4_avx512(x, g2, n);
			cr_assert(memcmp(g, g2, ng * sizeof *g) == 0, "n=%d: avx512 writes the reference's bytes", n);
		}
#endif
		free(x);
		free(want);
		free(got);
		free(q);
		free(g);
		free(g2);
	}
}

/* quantized dot ~ float dot of the originals, through the dispatched kernels */
Test(quant, dot_accuracy)
{
	quant_init(NULL);
	sh_rng r;
	sh_rng_seed(&r, 99);
	const int n = 4096;
	float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
	fill_normal(&r, x, n, 1.0f);
	fill_normal(&r, y, n, 1.0f);
	for (int i = 0; i < n; i++) /* correlate x and y so the exact dot is large */
		y[i] += x[i];
	float exact;
	vec_dot_f32_ref(n, &exact, x, y);
	static const struct { int t; float tol; } cases[] = {
		{ QT_F32, 1e-6f }, { QT_F16, 1e-3f }, { QT_BF16, 5e-3f }, { QT_Q8_0, 0.01f },
		{ QT_Q4_0, 0.05f }, { QT_Q4_K, 0.05f }, { QT_Q5_K, 0.03f }, { QT_Q6_K, 0.02f },
	};
	for (size_t c = 0; c < SH_ARRAY_LEN(cases); c++) {
		const quant_traits *t = quant_get(cases[c].t), *ty = quant_get(t->vec_dot_type);
		void *qx = malloc(quant_row_size(cases[c].t, n)), *qy = malloc(quant_row_size(t->vec_dot_type, n));
		t->from_float(x, qx, n);
		ty->from_float(y, qy, n);
		float s;
		t->vec_dot(n, &s, qx, qy);
		cr_expect(fabsf(s - exact) <= cases[c].tol * fabsf(exact), "%s: %g vs %g", t->name, s, exact);
		free(qx);
		free(qy);
	}
	free(x);
	free(y);
}

/* ---------------------------------------------------------------- SIMD against reference */
static bool is_k_quant(int t) { return t == QT_Q4_K || t == QT_Q5_K || t == QT_Q6_K; }

static void check_dot(const simd_set *k, int t, int n, sh_rng *r)
{
	const quant_traits *tt = quant_get(t);
	int ty = ref_dot_type(t), tk = k->dot_type[t];
	size_t xs = quant_row_size(t, n);
	void *qx = malloc(xs), *qy = malloc(act_row_size(ty, n)), *qk = malloc(act_row_size(tk, n));
	float *fx = malloc(sizeof(float) * n), *fy = malloc(sizeof(float) * n);
	random_weight_row(r, t, qx, n);
	fill_normal(r, fy, n, 1.0f);
	act_row(ty, fy, qy, n);
	act_row(tk, fy, qk, n); /* the same values in the set's own layout */
	if (ty != QT_F32)
		ref_dequant[ty](qy, fy, n);
	if (t == QT_F32)
		memcpy(fx, qx, sizeof(float) * n);
	else
		ref_dequant[t](qx, fx, n);
	float want, got;
	ref_dot[t](n, &want, qx, qy);
	k->dot[t](n, &got, qx, qk);
	double scale = abs_dot(fx, fy, n) + 1e-6;
	if (is_k_quant(t)) /* exact integer sums, then the reference's float steps */
		cr_expect(got == want, "%s %s n=%d: %.9g vs ref %.9g", k->name, tt->name, n, got, want);
	else
		cr_expect(fabs((double)got - want) <= 2e-5 * scale, "%s %s n=%d: %.9g vs ref %.9g (scale %g)", k->name,
			  tt->name, n, got, want, scale);
	free(qx);
	free(qy);
	free(qk);
	free(fx);
	free(fy);
}

Test(quant, simd_dots)
{
	quant_init(NULL);
	simd_set sets[3];
	int ns = simd_sets(sets);
	static const int block_types[] = { QT_Q4_0, QT_Q8_0, QT_Q4_K, QT_Q5_K, QT_Q6_K };
	static const int nblocks[] = { 1, 2, 3, 4, 5, 7, 8, 33 };
	static const int float_types[] = { QT_F32, QT_F16, QT_BF16 };
	static const int float_n[] = { 1, 5, 8, 15, 16, 17, 31, 64, 100, 1023, 4096 };
	sh_rng r;
	sh_rng_seed(&r, 1234);
	for (int s = 0; s < ns; s++) {
		for (size_t t = 0; t < SH_ARRAY_LEN(block_types); t++)
			for (size_t b = 0; b < SH_ARRAY_LEN(nblocks); b++)
				for (int rep = 0; rep < 4; rep++)
					check_dot(&sets[s], block_types[t], nblocks[b] * quant_get(block_types[t])->blck_size, &r);
		for (size_t t = 0; t < SH_ARRAY_LEN(float_types); t++)
			for (size_t i = 0; i < SH_ARRAY_LEN(float_n); i++)
				check_dot(&sets[s], float_types[t], float_n[i], &r);
	}
}

/* integer dots are exact up to float rounding: quantized-from-float rows give the same answer */
Test(quant, simd_dots_quantized_rows)
{
	quant_init(NULL);
	simd_set sets[3];
	int ns = simd_sets(sets);
	static const int types[] = { QT_Q4_0, QT_Q8_0, QT_Q4_K, QT_Q5_K, QT_Q6_K };
	sh_rng r;
	sh_rng_seed(&r, 555);
	const int n = 256 * 11;
	float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
	for (int s = 0; s < ns; s++) {
		for (size_t t = 0; t < SH_ARRAY_LEN(types); t++) {
			const quant_traits *tt = quant_get(types[t]);
			fill_normal(&r, x, n, 0.05f);
			fill_normal(&r, y, n, 3.0f);
			int ty = ref_dot_type(types[t]), tk = sets[s].dot_type[types[t]];
			void *qx = malloc(quant_row_size(types[t], n)), *qy = malloc(quant_row_size(ty, n));
			void *qk = malloc(quant_row_size(tk, n));
			ref_quantize[types[t]](x, qx, n);
			ref_quantize[ty](y, qy, n);
			ref_quantize[tk](y, qk, n);
			float want, got;
			ref_dot[types[t]](n, &want, qx, qy);
			sets[s].dot[types[t]](n, &got, qx, qk);
			double scale = abs_dot(x, y, n);
			cr_expect(is_k_quant(types[t]) ? got == want : fabs((double)got - want) <= 1e-5 * scale,
				  "%s %s: %.9g vs %.9g", sets[s].name, tt->name, got, want);
			free(qx);
			free(qy);
			free(qk);
		}
	}
	free(x);
	free(y);
}

/*
 * K-quant dots are bit-identical (==) to the reference: random bits in every field and rows
 * quantized from floats of very different magnitudes, so that the float steps round in many
 * ways, for several block counts (the order of the per-super-block terms matters).
 */
Test(quant, simd_k_dots_bit_exact)
{
	quant_init(NULL);
	simd_set sets[3];
	int ns = simd_sets(sets);
	static const int types[] = { QT_Q4_K, QT_Q5_K, QT_Q6_K };
	static const int nblocks[] = { 1, 2, 3, 6, 9, 22 };
	sh_rng r;
	sh_rng_seed(&r, 8086);
	const int max_n = QK_K * 22;
	float *x = malloc(sizeof(float) * max_n), *yf = malloc(sizeof(float) * max_n);
	/* Q6_K has the largest blocks of the three */
	void *qx = malloc(quant_row_size(QT_Q6_K, max_n)), *qy = malloc(quant_row_size(QT_Q8_K, max_n));
	for (size_t t = 0; t < SH_ARRAY_LEN(types); t++) {
		for (size_t b = 0; b < SH_ARRAY_LEN(nblocks); b++) {
			int n = nblocks[b] * QK_K;
			for (int rep = 0; rep < 16; rep++) {
				if (rep % 2) {
					random_weight_row(&r, types[t], qx, n);
				} else {
					fill_normal(&r, x, n, rep % 4 ? 1e-3f : 0.3f);
					ref_quantize[types[t]](x, qx, n);
				}
				fill_normal(&r, yf, n, rep % 3 ? 1.0f : 40.0f);
				for (int i = 0; i < n; i += 97) /* outliers, as real activations have */
					yf[i] *= 20;
				quantize_q8_K_ref(yf, qy, n);
				float want;
				ref_dot[types[t]](n, &want, qx, qy);
				for (int s = 0; s < ns; s++) {
					float got;
					sets[s].dot[types[t]](n, &got, qx, qy);
					cr_assert(memcmp(&got, &want, sizeof got) == 0, "%s %s n=%d rep %d: %.9g vs ref %.9g",
						  sets[s].name, quant_get(types[t])->name, n, rep, got, want);
				}
			}
		}
	}
	free(x);
	free(yf);
	free(qx);
	free(qy);
}

/* the tiles that add in their vec_dot's order: every set's K-quants, Q4_0 of AVX-512 (the dot
 * is the 1 x 1 tile), and all of ref (its tiles loop over its dots) */
static bool tile_is_dot(const simd_set *k, int t)
{
	return is_k_quant(t) || (t == QT_Q4_0 && !strcmp(k->name, "avx512")) || !strcmp(k->name, "ref");
}

/*
 * Every set's tile kernel against the reference dots, for every tile shape nr x nc up to
 * QUANT_TILE_R x QUANT_TILE_C, several block counts, rows and outputs with gaps between them
 * (bx, by, ld larger than needed): the K-quants bit-identical, the others to float rounding; and
 * bit-identical to the set's own dot where it promises that (tile_is_dot).
 */
Test(quant, gemm_tiles)
{
	quant_init(NULL);
	simd_set sets[4];
	int ns = kernel_sets(sets, true);
	static const int types[] = { QT_F32, QT_F16, QT_BF16, QT_Q4_0, QT_Q8_0, QT_Q4_K, QT_Q5_K, QT_Q6_K };
	static const int nblocks[] = { 1, 2, 3, 4, 5, 7, 8, 9 };
	sh_rng r;
	sh_rng_seed(&r, 2718);
	enum { R = QUANT_TILE_R, C = QUANT_TILE_C, LD = QUANT_TILE_R + 3 };
	for (size_t t = 0; t < SH_ARRAY_LEN(types); t++) {
		const quant_traits *tt = quant_get(types[t]);
		int ty = ref_dot_type(types[t]);
		for (size_t b = 0; b < SH_ARRAY_LEN(nblocks); b++) {
			int n = nblocks[b] * (tt->blck_size == 1 ? 37 : tt->blck_size); /* odd float rows */
			size_t bx = quant_row_size(types[t], n) + 40, by = act_row_size(ty, n) + 24;
			uint8_t *x = malloc(bx * R), *y = malloc(by * C);
			float *fy = malloc(sizeof(float) * n), *fx = malloc(sizeof(float) * n), *fys = malloc(sizeof(float) * n * C);
			float want[C][R], scale[C][R];
			for (int i = 0; i < R; i++)
				random_weight_row(&r, types[t], x + i * bx, n);
			for (int c = 0; c < C; c++) {
				fill_normal(&r, fys + c * n, n, 1.0f + c);
				act_row(ty, fys + c * n, y + c * by, n);
			}
			for (int i = 0; i < R; i++) {
				if (types[t] == QT_F32)
					memcpy(fx, x + i * bx, sizeof(float) * n);
				else
					ref_dequant[types[t]](x + i * bx, fx, n);
				for (int c = 0; c < C; c++) {
					if (ty == QT_F32)
						memcpy(fy, y + c * by, sizeof(float) * n);
					else
						ref_dequant[ty](y + c * by, fy, n);
					ref_dot[types[t]](n, &want[c][i], x + i * bx, y + c * by);
					scale[c][i] = (float)abs_dot(fx, fy, n) + 1e-6f;
				}
			}
			for (int s = 0; s < ns; s++) {
				/* the columns in the set's own layout (the same values) */
				int tk = sets[s].dot_type[types[t]];
				size_t byk = act_row_size(tk, n) + 24;
				uint8_t *yk = malloc(byk * C);
				for (int c = 0; c < C; c++)
					act_row(tk, fys + c * n, yk + c * byk, n);
				for (int nr = 1; nr <= R; nr++) {
					for (int nc = 1; nc <= C; nc++) {
						float out[C * LD];
						for (int i = 0; i < C * LD; i++)
							out[i] = -12345.0f;
						sets[s].gemm[types[t]](n, out, LD, x, bx, nr, yk, byk, nc);
						for (int c = 0; c < C; c++) {
							for (int i = 0; i < LD; i++) {
								float got = out[c * LD + i];
								if (c >= nc || i >= nr) {
									cr_assert(got == -12345.0f, "%s %s %dx%d wrote (%d, %d)", sets[s].name,
										  tt->name, nr, nc, i, c);
									continue;
								}
								bool ok = is_k_quant(types[t]) ? got == want[c][i]
											       : fabsf(got - want[c][i]) <= 2e-5f * scale[c][i];
								cr_assert(ok, "%s %s n=%d %dx%d (%d, %d): %.9g vs ref %.9g", sets[s].name, tt->name,
									  n, nr, nc, i, c, got, want[c][i]);
								if (tile_is_dot(&sets[s], types[t])) {
									float dot;
									sets[s].dot[types[t]](n, &dot, x + i * bx, yk + c * byk);
									cr_assert(got == dot, "%s %s n=%d %dx%d (%d, %d): tile %.9g, its dot %.9g",
										  sets[s].name, tt->name, n, nr, nc, i, c, got, dot);
								}
							}
						}
					}
				}
				free(yk);
			}
			free(x);
			free(y);
			free(fx);
			free(fy);
			free(fys);
		}
	}
}

/* y += a * x for the KV cache's types: every kernel set against the reference (and the reference
 * against the dequantized row), odd lengths included for the float types */
Test(quant, axpy)
{
	quant_init(NULL);
	simd_set sets[4];
	int ns = kernel_sets(sets, true);
	static const int types[] = { QT_F32, QT_F16, QT_Q8_0 };
	static const int lens[] = { 1, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100, 128, 1000 };
	sh_rng r;
	sh_rng_seed(&r, 99);
	float x[1000], y0[1000], want[1000], got[1000], deq[1000];
	uint8_t row[4000];
	for (size_t t = 0; t < SH_ARRAY_LEN(types); t++)
		for (size_t l = 0; l < SH_ARRAY_LEN(lens); l++) {
			int n = lens[l], blck = quant_get(types[t])->blck_size;
			if (n % blck)
				continue;
			fill_normal(&r, x, n, 1.0f);
			fill_normal(&r, y0, n, 1.0f);
			quant_get(types[t])->from_float(x, row, n);
			quant_get(types[t])->to_float(row, deq, n);
			float a = 0.1f + sh_rng_f32(&r);
			memcpy(want, y0, sizeof(float) * (size_t)n);
			sets[0].axpy[types[t]](n, a, row, want); /* ref */
			for (int i = 0; i < n; i++)
				cr_assert_float_eq(want[i], y0[i] + a * deq[i], 1e-5f, "ref %s n %d at %d", quant_get(types[t])->name, n, i);
			for (int s = 1; s < ns; s++) {
				memcpy(got, y0, sizeof(float) * (size_t)n);
				sets[s].axpy[types[t]](n, a, row, got);
				for (int i = 0; i < n; i++)
					cr_assert_float_eq(got[i], want[i], 1e-5f, "%s %s n %d at %d", sets[s].name, quant_get(types[t])->name, n, i);
			}
		}
}

Test(quant, simd_quantize_bit_exact)
{
	quant_init(NULL);
	simd_set sets[3];
	int ns = simd_sets(sets);
	sh_rng r;
	sh_rng_seed(&r, 4321);
	const int n = 256 * 9;
	float *x = malloc(sizeof(float) * n);
	block_q8_0 *a0 = malloc(quant_row_size(QT_Q8_0, n)), *b0 = malloc(quant_row_size(QT_Q8_0, n));
	block_q8_K *aK = malloc(quant_row_size(QT_Q8_K, n)), *bK = malloc(quant_row_size(QT_Q8_K, n));
	for (int s = 0; s < ns; s++) {
		for (int rep = 0; rep < 6; rep++) {
			fill_normal(&r, x, n, rep == 0 ? 1e-3f : 10.0f);
			if (rep == 1) /* exact ties and equal magnitudes of both signs */
				for (int i = 0; i < n; i++)
					x[i] = (float)((int)(sh_rng_u64(&r) % 255) - 127) * 0.5f;
			if (rep == 2) /* zero blocks */
				memset(x + 256, 0, sizeof(float) * 512);
			quantize_q8_0_ref(x, a0, n);
			sets[s].quantize_q8_0(x, b0, n);
			cr_expect_eq(memcmp(a0, b0, quant_row_size(QT_Q8_0, n)), 0, "%s q8_0 rep %d", sets[s].name, rep);
			quantize_q8_K_ref(x, aK, n);
			sets[s].quantize_q8_K(x, bK, n);
			cr_expect_eq(memcmp(aK, bK, quant_row_size(QT_Q8_K, n)), 0, "%s q8_K rep %d", sets[s].name, rep);
		}
		/* all halves; bits equal except nan payloads (F16C quiets signalling nans) */
		sh_f16 *h = malloc(sizeof(sh_f16) * 65536 + 2);
		float *fa = malloc(sizeof(float) * 65537), *fb = malloc(sizeof(float) * 65537);
		for (int i = 0; i < 65536; i++)
			h[i] = (sh_f16)i;
		h[65536] = 0x3c00;
		dequant_f16_ref(h, fa, 65537);
		sets[s].dequant_f16(h, fb, 65537);
		for (int i = 0; i < 65537; i++) {
			if (isnan(fa[i]))
				cr_assert(isnan(fb[i]), "%s dequant_f16 %04x", sets[s].name, h[i]);
			else
				cr_assert_eq(memcmp(&fa[i], &fb[i], 4), 0, "%s dequant_f16 %04x", sets[s].name, h[i]);
		}
		free(h);
		free(fa);
		free(fb);
	}
	free(x);
	free(a0);
	free(b0);
	free(aK);
	free(bK);
}
