/*
 * bench_kernels.c - speed of the dispatched vec_dot kernels over a weight matrix, per format and
 * kernel set (ref, avx2, avx512 / neon), in GB/s of weights read.
 *
 * A matvec reads each weight byte once, so decode speed is bound by memory bandwidth; the bench
 * prints, in the same run, a plain read of the same number of bytes (the bound) and each
 * kernel's ratio to it. Two sizes: the FFN matrix 2048 x 5632 (which fits this machine's L3 for
 * the quantized formats) and a matrix of at least 256 MiB (DRAM). Single thread.
 *
 * Then prompt processing: the same matrix times a batch of 32 activation rows, walked as the
 * model's matmul walks it (16 rows x 32 tokens, in gemm tiles of QUANT_TILE_R x QUANT_TILE_C),
 * in GMAC/s per kernel set, and the best set's ratio to its own vec_dot per (row, token).
 *
 *   bench_kernels [n_in rows]      defaults 2048 5632
 */
#include "compute/quant.h"

#include <stdio.h>
#include <stdlib.h>

static volatile uint64_t sink;

/* the bound: read `bytes` with four independent 64-bit streams */
static double read_gbs(const void *buf, size_t bytes)
{
	const uint64_t *p = buf;
	size_t n = bytes / 8;
	double best = 1e30;
	for (int rep = 0; rep < 5; rep++) {
		double t = sh_time_sec();
		uint64_t a = 0, b = 0, c = 0, d = 0;
		for (size_t i = 0; i + 4 <= n; i += 4) {
			a += p[i];
			b ^= p[i + 1];
			c += p[i + 2];
			d ^= p[i + 3];
		}
		sink = a + b + c + d;
		t = sh_time_sec() - t;
		best = t < best ? t : best;
	}
	return bytes / best * 1e-9;
}

/* best time of full passes over all rows: at least 3 passes and 0.3 s */
static double time_matvec(quant_vec_dot_fn dot, int n_in, int rows, const uint8_t *w, size_t row_bytes,
			  const void *act, float *out)
{
	double best = 1e30, total = 0;
	for (int rep = 0; rep < 3 || total < 0.3; rep++) {
		double t = sh_time_sec();
		for (int r = 0; r < rows; r++)
			dot(n_in, &out[r], w + (size_t)r * row_bytes, act);
		t = sh_time_sec() - t;
		total += t;
		best = t < best ? t : best;
		if (total > 5)
			break;
	}
	return best;
}

static const int formats[] = { QT_F32, QT_F16, QT_BF16, QT_Q8_0, QT_Q4_0, QT_Q4_K, QT_Q5_K, QT_Q6_K };

static int bench_size(int n_in, int rows, const char **sets, int n_sets)
{
	sh_rng rng;
	sh_rng_seed(&rng, 42);
	/* a few distinct rows of real quantized data, repeated */
	const int distinct = 64;
	float *src = malloc(sizeof(float) * (size_t)n_in * distinct), *act = malloc(sizeof(float) * n_in);
	float *out = malloc(sizeof(float) * rows), *ref_out = malloc(sizeof(float) * rows);
	if (!src || !act || !out || !ref_out)
		return 1;
	for (size_t i = 0; i < (size_t)n_in * distinct; i++)
		src[i] = 0.02f * sh_rng_normal(&rng);
	for (int i = 0; i < n_in; i++)
		act[i] = sh_rng_normal(&rng);

	size_t max_bytes = quant_row_size(QT_F32, n_in) * (size_t)rows;
	uint8_t *scratch = sh_alloc_large(max_bytes);
	if (!scratch)
		return 1;
	memset(scratch, 1, max_bytes);
	printf("\n%d x %d (F32 %.0f MiB); plain read of the F32 matrix: %.1f GB/s\n", rows, n_in,
	       max_bytes / 1048576.0, read_gbs(scratch, max_bytes));
	printf("%-6s %9s", "format", "MiB");
	for (int s = 0; s < n_sets; s++)
		printf(" %9s", sets[s]);
	printf("   %s\n", "read bound GB/s, best/bound");

	for (size_t f = 0; f < SH_ARRAY_LEN(formats); f++) {
		quant_init("ref");
		const quant_traits *t = quant_get(formats[f]), *ty = quant_get(t->vec_dot_type);
		size_t row_bytes = quant_row_size(formats[f], n_in), bytes = row_bytes * rows;
		uint8_t *w = scratch;
		for (int r = 0; r < distinct && r < rows; r++)
			t->from_float(src + (size_t)r * n_in, w + (size_t)r * row_bytes, n_in);
		for (int r = distinct; r < rows; r++)
			memcpy(w + (size_t)r * row_bytes, w + (size_t)(r % distinct) * row_bytes, row_bytes);
		double bound = read_gbs(w, bytes), best = 0;
		printf("%-6s %9.1f", t->name, bytes / 1048576.0);
		for (int s = 0; s < n_sets; s++) {
			quant_init(sets[s]);
			t = quant_get(formats[f]);
			ty = quant_get(t->vec_dot_type);
			void *qa = malloc(formats[f] <= QT_F16 || formats[f] == QT_BF16 ? sizeof(float) * n_in
											 : quant_row_size(t->vec_dot_type, n_in));
			ty->from_float(act, qa, n_in);
			double sec = time_matvec(t->vec_dot, n_in, rows, w, row_bytes, qa, out);
			double gbs = bytes / sec * 1e-9;
			best = gbs > best ? gbs : best;
			printf(" %9.2f", gbs);
			if (s == 0)
				memcpy(ref_out, out, sizeof(float) * rows);
			for (int r = 0; r < rows; r++) { /* every set computes the same matvec */
				float e = out[r] - ref_out[r];
				if (e * e > 1e-6f * (1 + ref_out[r] * ref_out[r])) {
					printf("\nMISMATCH %s %s row %d: %g vs %g\n", t->name, sets[s], r, out[r], ref_out[r]);
					return 1;
				}
			}
			free(qa);
		}
		printf("   %6.1f  %4.2f\n", bound, best / bound);
	}
	sh_free_large(scratch, max_bytes);
	free(src);
	free(act);
	free(out);
	free(ref_out);
	return 0;
}

/* ---------------------------------------------------------------- batches */
#define GEMM_TOKS 32
#define GEMM_TILE_ROWS 16

/* out[t * rows + r] for the batch: gemm tiles (gemm != NULL) or one vec_dot per (row, token) */
static void batch_matmul(const quant_traits *t, int n_in, int rows, const uint8_t *w, size_t row_bytes,
			 const uint8_t *act, size_t act_bytes, float *out, bool tiles)
{
	for (int rt = 0; rt < rows; rt += GEMM_TILE_ROWS) {
		int re = SH_MIN(rt + GEMM_TILE_ROWS, rows);
		for (int r = rt; r < re; r += QUANT_TILE_R) {
			int nr = SH_MIN(QUANT_TILE_R, re - r);
			for (int k = 0; k < GEMM_TOKS; k += QUANT_TILE_C) {
				if (tiles) {
					t->gemm(n_in, &out[(size_t)k * rows + r], (size_t)rows, w + (size_t)r * row_bytes, row_bytes, nr,
						act + (size_t)k * act_bytes, act_bytes, SH_MIN(QUANT_TILE_C, GEMM_TOKS - k));
					continue;
				}
				for (int i = r; i < r + nr; i++)
					for (int c = k; c < SH_MIN(k + QUANT_TILE_C, GEMM_TOKS); c++)
						t->vec_dot(n_in, &out[(size_t)c * rows + i], w + (size_t)i * row_bytes,
							   act + (size_t)c * act_bytes);
			}
		}
	}
}

/* best GMAC/s of at least 3 passes and 0.3 s */
static double time_batch(const quant_traits *t, int n_in, int rows, const uint8_t *w, size_t row_bytes,
			 const uint8_t *act, size_t act_bytes, float *out, bool tiles)
{
	double best = 1e30, total = 0;
	for (int rep = 0; rep < 3 || total < 0.3; rep++) {
		double sec = sh_time_sec();
		batch_matmul(t, n_in, rows, w, row_bytes, act, act_bytes, out, tiles);
		sec = sh_time_sec() - sec;
		total += sec;
		best = sec < best ? sec : best;
		if (total > 5)
			break;
	}
	return (double)n_in * rows * GEMM_TOKS / best * 1e-9;
}

static int bench_gemm(int n_in, int rows, const char **sets, int n_sets)
{
	sh_rng rng;
	sh_rng_seed(&rng, 7);
	float *src = malloc(sizeof(float) * (size_t)n_in * rows), *act = malloc(sizeof(float) * (size_t)n_in * GEMM_TOKS);
	float *out = malloc(sizeof(float) * (size_t)rows * GEMM_TOKS), *ref_out = malloc(sizeof(float) * (size_t)rows * GEMM_TOKS);
	uint8_t *w = malloc(quant_row_size(QT_F32, n_in) * (size_t)rows);
	uint8_t *qa = malloc(quant_row_size(QT_F32, n_in) * GEMM_TOKS);
	if (!src || !act || !out || !ref_out || !w || !qa)
		return 1;
	for (size_t i = 0; i < (size_t)n_in * rows; i++)
		src[i] = 0.02f * sh_rng_normal(&rng);
	for (size_t i = 0; i < (size_t)n_in * GEMM_TOKS; i++)
		act[i] = sh_rng_normal(&rng);
	printf("\nbatch of %d: %d x %d times %d x %d, GMAC/s single thread (gemm tiles %d x %d)\n", GEMM_TOKS, rows,
	       n_in, n_in, GEMM_TOKS, QUANT_TILE_R, QUANT_TILE_C);
	printf("%-6s", "format");
	for (int s = 0; s < n_sets; s++)
		printf(" %9s", sets[s]);
	printf("   %s\n", "best tiles / its vec_dot per (row, token)");
	for (size_t f = 0; f < SH_ARRAY_LEN(formats); f++) {
		quant_init("ref");
		const quant_traits *t = quant_get(formats[f]);
		size_t row_bytes = quant_row_size(formats[f], n_in);
		t->from_float(src, w, (int64_t)n_in * rows);
		printf("%-6s", t->name);
		double best = 0, best_dot = 0;
		for (int s = 0; s < n_sets; s++) {
			quant_init(sets[s]);
			t = quant_get(formats[f]);
			/* each set's own activation layout (Q4_0's is Q8_0x4 with avx512) */
			size_t act_bytes = t->vec_dot_type == QT_F32 ? sizeof(float) * n_in : quant_row_size(t->vec_dot_type, n_in);
			for (int k = 0; k < GEMM_TOKS; k++)
				quant_get(t->vec_dot_type)->from_float(act + (size_t)k * n_in, qa + (size_t)k * act_bytes, n_in);
			double gmacs = time_batch(t, n_in, rows, w, row_bytes, qa, act_bytes, out, true);
			printf(" %9.2f", gmacs);
			if (gmacs > best) {
				best = gmacs;
				best_dot = time_batch(t, n_in, rows, w, row_bytes, qa, act_bytes, out, false);
			}
			if (s == 0)
				memcpy(ref_out, out, sizeof(float) * (size_t)rows * GEMM_TOKS);
			for (size_t i = 0; i < (size_t)rows * GEMM_TOKS; i++) {
				float e = out[i] - ref_out[i];
				if (e * e > 1e-6f * (1 + ref_out[i] * ref_out[i])) {
					printf("\nMISMATCH %s %s output %zu: %g vs %g\n", t->name, sets[s], i, out[i], ref_out[i]);
					return 1;
				}
			}
		}
		printf("   %4.2f\n", best / best_dot);
	}
	free(src);
	free(act);
	free(out);
	free(ref_out);
	free(w);
	free(qa);
	return 0;
}

int main(int argc, char **argv)
{
	int n_in = argc > 1 ? atoi(argv[1]) : 2048, rows = argc > 2 ? atoi(argv[2]) : 5632;
	if (n_in <= 0 || n_in % QK_K != 0 || rows <= 0) {
		fprintf(stderr, "usage: bench_kernels [n_in (multiple of 256) rows]\n");
		return 2;
	}
	quant_init(NULL);
	const char *sets[3];
	int n_sets = 0;
	sets[n_sets++] = "ref";
#if defined(__x86_64__)
	if (cpu_has_avx2())
		sets[n_sets++] = "avx2";
	if (cpu_has_avx512())
		sets[n_sets++] = "avx512";
#endif
#if defined(__aarch64__)
	sets[n_sets++] = "neon";
#endif
	printf("vec_dot GB/s of weights, single thread (columns: kernel sets)\n");
	if (bench_size(n_in, rows, sets, n_sets) || bench_gemm(n_in, SH_MIN(rows, 1024), sets, n_sets))
		return 1;
	/* at least 256 MiB of Q4_0 weights: far beyond any cache */
	int big_rows = (int)((256ull << 20) / quant_row_size(QT_Q4_0, n_in)) + 1;
	return bench_size(n_in, big_rows > rows ? big_rows : rows, sets, n_sets);
}
