/*
 * quant.c - the format table, CPU feature detection and run-time kernel dispatch.
 *
 * The table holds every GGML type id shoal knows the block geometry of, so a GGUF file with, say,
 * Q3_K tensors parses and is reported as unsupported by name. Only the formats with kernels are
 * `supported`; quant_init() (required before any kernel is used) fills in their kernels from the
 * best set the CPU and the OS (XCR0) support, or the set asked for.
 */
#include "compute/quant.h"

#include <stdlib.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

/* ---------------------------------------------------------------- float copies */
static void copy_f32_to_float(const void *x, float *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }
static void copy_f32_from_float(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

/* ---------------------------------------------------------------- the table */
#define QT_FORMAT(id, nm, blck, size) [id] = { .name = nm, .blck_size = blck, .type_size = size, .vec_dot_type = id }

static quant_traits traits[QT_COUNT] = {
	QT_FORMAT(QT_F32, "F32", 1, 4),
	QT_FORMAT(QT_F16, "F16", 1, 2),
	QT_FORMAT(QT_Q4_0, "Q4_0", 32, 18),
	QT_FORMAT(QT_Q4_1, "Q4_1", 32, 20),
	QT_FORMAT(QT_Q5_0, "Q5_0", 32, 22),
	QT_FORMAT(QT_Q5_1, "Q5_1", 32, 24),
	QT_FORMAT(QT_Q8_0, "Q8_0", 32, 34),
	QT_FORMAT(QT_Q8_1, "Q8_1", 32, 36),
	QT_FORMAT(QT_Q2_K, "Q2_K", 256, 84),
	QT_FORMAT(QT_Q3_K, "Q3_K", 256, 110),
	QT_FORMAT(QT_Q4_K, "Q4_K", 256, 144),
	QT_FORMAT(QT_Q5_K, "Q5_K", 256, 176),
	QT_FORMAT(QT_Q6_K, "Q6_K", 256, 210),
	QT_FORMAT(QT_Q8_K, "Q8_K", 256, 292),
	QT_FORMAT(16, "IQ2_XXS", 256, 66),
	QT_FORMAT(17, "IQ2_XS", 256, 74),
	QT_FORMAT(18, "IQ3_XXS", 256, 98),
	QT_FORMAT(19, "IQ1_S", 256, 50),
	QT_FORMAT(20, "IQ4_NL", 32, 18),
	QT_FORMAT(21, "IQ3_S", 256, 110),
	QT_FORMAT(22, "IQ2_S", 256, 82),
	QT_FORMAT(23, "IQ4_XS", 256, 136),
	QT_FORMAT(24, "I8", 1, 1),
	QT_FORMAT(25, "I16", 1, 2),
	QT_FORMAT(26, "I32", 1, 4),
	QT_FORMAT(27, "I64", 1, 8),
	QT_FORMAT(28, "F64", 1, 8),
	QT_FORMAT(29, "IQ1_M", 256, 56),
	QT_FORMAT(QT_BF16, "BF16", 1, 2),
	QT_FORMAT(34, "TQ1_0", 256, 54),
	QT_FORMAT(35, "TQ2_0", 256, 66),
	QT_FORMAT(39, "MXFP4", 32, 17),
	QT_FORMAT(QT_Q8_0X4, "Q8_0x4", QK8_0X4, sizeof(block_q8_0x4)),
};

_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 layout");
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 layout");
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K layout");
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K layout");
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K layout");
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K layout");

/* one full set of kernels for the supported formats */
typedef struct {
	const char *name;
	quant_vec_dot_fn dot_f32, dot_f16, dot_bf16, dot_q4_0, dot_q8_0, dot_q4_K, dot_q5_K, dot_q6_K;
	quant_gemm_fn gemm_f32, gemm_f16, gemm_bf16, gemm_q4_0, gemm_q8_0, gemm_q4_K, gemm_q5_K, gemm_q6_K;
	quant_from_float_fn quantize_q8_0, quantize_q8_K;
	quant_to_float_fn dequant_f16;
	quant_axpy_fn axpy_f32, axpy_f16, axpy_q8_0;
	enum quant_type q4_0_dot_type;         /* Q8_0, or Q8_0X4 for kernels that read that layout */
	quant_from_float_fn quantize_q8_0x4;   /* NULL where nothing reads Q8_0x4 */
	/* the K-quants' gemm_row1_toks: the x86 K-quant tiles read their 4 rows interleaved, a few dozen
	 * bytes of each in turn, which the hardware prefetcher serves poorly from memory (a 4-row tile of
	 * 2 tokens cost more than 2 single-token dots: 2 streams of Q4_K_M decoded at 0.7 of one). One row
	 * at a time streams it, the batch's activations staying in L1; past 8 tokens the 4-row tiles win
	 * again (make bench's --streams, docs/performance.md) */
	int k_row1_toks;
} kernel_set;

#define KERNEL_SET(sfx, q4_0_dot, q8_0x4, k_row1) { #sfx, vec_dot_f32_##sfx, vec_dot_f16_##sfx, vec_dot_bf16_##sfx, vec_dot_q4_0_##sfx, \
	vec_dot_q8_0_##sfx, vec_dot_q4_K_##sfx, vec_dot_q5_K_##sfx, vec_dot_q6_K_##sfx, gemm_f32_##sfx, gemm_f16_##sfx, \
	gemm_bf16_##sfx, gemm_q4_0_##sfx, gemm_q8_0_##sfx, gemm_q4_K_##sfx, gemm_q5_K_##sfx, gemm_q6_K_##sfx, \
	quantize_q8_0_##sfx, quantize_q8_K_##sfx, dequant_f16_##sfx, axpy_f32_##sfx, axpy_f16_##sfx, axpy_q8_0_##sfx, \
	q4_0_dot, q8_0x4, k_row1 }

static const kernel_set kernels_ref = KERNEL_SET(ref, QT_Q8_0, NULL, 0);
#if defined(__x86_64__)
static const kernel_set kernels_avx2 = KERNEL_SET(avx2, QT_Q8_0, NULL, 8);
static const kernel_set kernels_avx512 = KERNEL_SET(avx512, QT_Q8_0X4, quantize_q8_0x4_avx512, 8);
#endif
#if defined(__aarch64__)
static const kernel_set kernels_neon = KERNEL_SET(neon, QT_Q8_0, NULL, 0);
#endif

static const kernel_set *active = &kernels_ref;

static void set_format(enum quant_type t, enum quant_type dot_type, quant_to_float_fn to_float,
		       quant_from_float_fn from_float, quant_vec_dot_fn vec_dot, quant_gemm_fn gemm)
{
	traits[t].supported = true;
	traits[t].vec_dot_type = dot_type;
	traits[t].to_float = to_float;
	traits[t].from_float = from_float;
	traits[t].vec_dot = vec_dot;
	traits[t].gemm = gemm;
}

static void fill_table(const kernel_set *k)
{
	set_format(QT_F32, QT_F32, copy_f32_to_float, copy_f32_from_float, k->dot_f32, k->gemm_f32);
	set_format(QT_F16, QT_F32, k->dequant_f16, quantize_f16_ref, k->dot_f16, k->gemm_f16);
	set_format(QT_BF16, QT_F32, dequant_bf16_ref, quantize_bf16_ref, k->dot_bf16, k->gemm_bf16);
	set_format(QT_Q4_0, k->q4_0_dot_type, dequant_q4_0_ref, quantize_q4_0_ref, k->dot_q4_0, k->gemm_q4_0);
	set_format(QT_Q8_0, QT_Q8_0, dequant_q8_0_ref, k->quantize_q8_0, k->dot_q8_0, k->gemm_q8_0);
	set_format(QT_Q4_K, QT_Q8_K, dequant_q4_K_ref, quantize_q4_K_ref, k->dot_q4_K, k->gemm_q4_K);
	set_format(QT_Q5_K, QT_Q8_K, dequant_q5_K_ref, quantize_q5_K_ref, k->dot_q5_K, k->gemm_q5_K);
	set_format(QT_Q6_K, QT_Q8_K, dequant_q6_K_ref, quantize_q6_K_ref, k->dot_q6_K, k->gemm_q6_K);
	set_format(QT_Q8_K, QT_Q8_K, dequant_q8_K_ref, k->quantize_q8_K, NULL, NULL);
	traits[QT_Q4_K].gemm_row1_toks = traits[QT_Q5_K].gemm_row1_toks = traits[QT_Q6_K].gemm_row1_toks = k->k_row1_toks;
	/* an activation layout, not a weight format: not `supported` (a file never has it) */
	traits[QT_Q8_0X4].to_float = dequant_q8_0x4_ref;
	traits[QT_Q8_0X4].from_float = k->quantize_q8_0x4;
	traits[QT_F32].axpy = k->axpy_f32;
	traits[QT_F16].axpy = k->axpy_f16;
	traits[QT_Q8_0].axpy = k->axpy_q8_0;
	active = k;
}

/* ---------------------------------------------------------------- cpu features */
#if defined(__x86_64__)
static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

/* cpuid bits, and the register state the OS saves (XCR0) */
static bool x86_features(bool want_avx512)
{
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d))
		return false;
	bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12), f16c = c & (1u << 29);
	if (!osxsave || !avx || !fma || !f16c)
		return false;
	uint64_t xcr0 = xgetbv0();
	if ((xcr0 & 0x6) != 0x6) /* SSE and AVX state */
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(b & (1u << 5))) /* avx2 */
		return false;
	if (!want_avx512)
		return true;
	const unsigned f = 1u << 16, dq = 1u << 17, bw = 1u << 30, vl = 1u << 31;
	if ((b & (f | dq | bw | vl)) != (f | dq | bw | vl) || !(c & (1u << 11))) /* + vnni */
		return false;
	return (xcr0 & 0xe0) == 0xe0; /* opmask, upper halves of zmm0-15, zmm16-31 */
}

bool cpu_has_avx2(void) { return x86_features(false); }
bool cpu_has_avx512(void) { return x86_features(true); }
#else
bool cpu_has_avx2(void) { return false; }
bool cpu_has_avx512(void) { return false; }
#endif

/* ---------------------------------------------------------------- dispatch */
static const kernel_set *best_kernels(void)
{
#if defined(__x86_64__)
	if (cpu_has_avx512())
		return &kernels_avx512;
	if (cpu_has_avx2())
		return &kernels_avx2;
#endif
#if defined(__aarch64__)
	return &kernels_neon;
#else
	return &kernels_ref;
#endif
}

/* the set named `name` if this CPU can run it, else NULL */
static const kernel_set *named_kernels(const char *name)
{
	if (strcmp(name, "ref") == 0)
		return &kernels_ref;
#if defined(__x86_64__)
	if (strcmp(name, "avx2") == 0 && cpu_has_avx2())
		return &kernels_avx2;
	if (strcmp(name, "avx512") == 0 && cpu_has_avx512())
		return &kernels_avx512;
#endif
#if defined(__aarch64__)
	if (strcmp(name, "neon") == 0)
		return &kernels_neon;
#endif
	return NULL;
}

void quant_init(const char *force)
{
	sh_base_init();
	if (!force || !*force)
		force = getenv("SHOAL_KERNELS");
	const kernel_set *k = NULL;
	if (force && *force) {
		k = named_kernels(force);
		if (!k)
			sh_log_warn("kernels '%s' not available on this CPU; using the best available", force);
	}
	fill_table(k ? k : best_kernels());
	sh_log_debug("compute kernels: %s", active->name);
}

const char *quant_kernel_name(void) { return active->name; }

const quant_traits *quant_get(int type)
{
	if (type < 0 || type >= QT_COUNT || !traits[type].name)
		return NULL;
	return &traits[type];
}

size_t quant_row_size(int type, int64_t n)
{
	const quant_traits *t = quant_get(type);
	if (type == QT_Q8_0X4) /* whole groups, the last one padded */
		return t && n >= 0 && n % QK8_0 == 0 ? (size_t)((n + QK8_0X4 - 1) / QK8_0X4) * t->type_size : 0;
	if (!t || n < 0 || n % t->blck_size != 0)
		return 0;
	return (size_t)(n / t->blck_size) * t->type_size;
}
