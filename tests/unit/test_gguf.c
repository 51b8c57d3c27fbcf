/*
 * test_gguf.c - the GGUF reader and writer.
 *
 * The reader is tested on the real stories260K file, the vocab files of tests/data, models of every
 * weight type written by synth and (when present) llama.cpp's reference set, on
 * every prefix of stories260K (each must be rejected; under ASan the bytes past the prefix are
 * poisoned so any read beyond it aborts), on thousands of seeded random corruptions of its metadata
 * (each must fail cleanly or yield tensors inside the buffer), and on hand-built files with one
 * defect each (rejected with the right code and one log line naming the file). The writer is
 * tested by round trips: every kv type, arrays, tensors of several block types, and copy_kv of a
 * real tokenizer. Split sets: the writer's parts are what gguf-split writes and open as the one
 * file (a synth model's set equals its single file tensor for tensor); a missing part, parts that
 * disagree, a tensor in two parts and opening a later part each fail with one line naming them.
 * gguf_header_size: every prefix of a real and a synthesized file asks for a lower bound of the
 * header's length until it has it, then gives gguf_open's data offset; garbage and single defects
 * are rejected from a prefix as they are from the whole file.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compute/quant.h"
#include "gguf/gguf.h"
#include "test_util.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_GGUF_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_GGUF_ASAN 1
#endif
#ifdef TEST_GGUF_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* ---------------------------------------------------------------- helpers */
/* the whole file in a heap buffer of exactly its size (so ASan guards its end) */
static uint8_t *file_load(const char *path, uint64_t *size)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc((size_t)n);
	cr_assert(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*size = (uint64_t)n;
	return buf;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* reads every byte the ctx exposes and checks it lies inside [base, base + size) */
static uint64_t ctx_walk(const gguf_ctx *g, const uint8_t *base, uint64_t size)
{
	uint64_t sum = 0;
#define INSIDE(p, n) cr_assert((const uint8_t *)(p) >= base && (n) <= size && \
	(uint64_t)((const uint8_t *)(p) - base) <= size - (n), "range outside the buffer")
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const gguf_kv *kv = &g->kv[i];
		INSIDE(kv->key.ptr, kv->key.len);
		for (uint64_t j = 0; j < kv->key.len; j++)
			sum += (uint8_t)kv->key.ptr[j];
		if (kv->type == GGUF_T_STRING)
			INSIDE(kv->v.str.ptr, kv->v.str.len);
		if (kv->type != GGUF_T_ARRAY)
			continue;
		if (kv->arr_type == GGUF_T_STRING) {
			for (uint64_t j = 0; j < kv->arr_n; j++) {
				gguf_str s = gguf_arr_str(g, kv, j);
				INSIDE(s.ptr, s.len);
				if (s.len)
					sum += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
			}
		} else {
			uint64_t bytes = kv->arr_n * gguf_vtype_size(kv->arr_type);
			INSIDE(kv->arr_data, bytes);
			if (bytes)
				sum += kv->arr_data[0] + kv->arr_data[bytes - 1];
		}
	}
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const gguf_tensor *t = &g->tensors[i];
		INSIDE(t->name.ptr, t->name.len);
		INSIDE(t->data, t->size);
		cr_assert(t->size > 0);
		cr_assert_eq(t->size, quant_row_size(t->type, t->ne[0]) * (uint64_t)(t->ne[1] * t->ne[2] * t->ne[3]));
		cr_assert_eq(((const uint8_t *)t->data - base - g->data_offset) % g->alignment, 0);
		sum += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->size - 1];
	}
#undef INSIDE
	return sum;
}

/* ---------------------------------------------------------------- the real files */
Test(gguf, stories260k_parses)
{
	int err = -99;
	gguf_ctx *g = gguf_open(TEST_STORIES, &err);
	cr_assert(g, "open failed: %d", err);
	cr_assert_eq(err, SH_OK);
	cr_assert_eq(g->version, 3);
	cr_assert_eq(g->n_tensors, 48);
	cr_assert_eq(g->n_kv, 19);
	cr_assert_eq(g->data_offset, 14176);
	cr_assert_eq(g->alignment, 32);
	cr_assert_eq(g->file_size, 1185376);

	uint32_t u;
	cr_assert(gguf_get_u32(g, "llama.embedding_length", &u));
	cr_assert_eq(u, 64);
	cr_assert(gguf_get_u32(g, "llama.block_count", &u));
	cr_assert_eq(u, 5);
	int64_t i64;
	cr_assert(gguf_get_i64(g, "llama.attention.head_count_kv", &i64));
	cr_assert_eq(i64, 4);
	float f;
	cr_assert(gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &f));
	cr_assert_float_eq(f, 1e-5f, 1e-12f);
	gguf_str s;
	cr_assert(gguf_get_str(g, "general.architecture", &s));
	cr_assert(gguf_str_eq(s, "llama"));
	cr_assert_not(gguf_get_str(g, "llama.embedding_length", &s), "a u32 is not a string");
	cr_assert_not(gguf_get_u32(g, "general.architecture", &u), "a string is not a u32");
	cr_assert_not(gguf_get_u32(g, "no.such.key", &u));
	cr_assert_null(gguf_kv_find(g, "llama"));

	const gguf_tensor *t = gguf_tensor_find(g, "token_embd.weight");
	cr_assert(t);
	cr_assert_eq(t->n_dims, 2);
	cr_assert_eq(t->ne[0], 64);
	cr_assert_eq(t->ne[1], 512);
	cr_assert_eq(t->ne[2], 1);
	cr_assert_eq(t->type, QT_F32);
	cr_assert_eq(t->size, 64 * 512 * 4);
	cr_assert_eq((uint64_t)((const uint8_t *)t->data - g->base), g->data_offset + t->offset);
	gguf_tensor_prefetch(g, t);
	cr_assert(gguf_tensor_find(g, "blk.4.ffn_down.weight"));
	cr_assert_null(gguf_tensor_find(g, "blk.5.ffn_down.weight"));
	cr_assert_null(gguf_tensor_find(g, "token_embd"));

	const gguf_kv *kv = gguf_kv_find(g, "tokenizer.ggml.tokens");
	cr_assert(kv);
	cr_assert_eq(kv->type, GGUF_T_ARRAY);
	cr_assert_eq(kv->arr_type, GGUF_T_STRING);
	cr_assert_eq(kv->arr_n, 512);
	cr_assert(gguf_str_eq(gguf_arr_str(g, kv, 0), "<unk>"));
	cr_assert(gguf_str_eq(gguf_arr_str(g, kv, 1), "<s>"));
	cr_assert(gguf_str_eq(gguf_arr_str(g, kv, 2), "</s>"));
	cr_assert(gguf_str_eq(gguf_arr_str(g, kv, 3), "<0x00>"));
	kv = gguf_kv_find(g, "tokenizer.ggml.scores");
	cr_assert(kv && kv->type == GGUF_T_ARRAY && kv->arr_type == GGUF_T_FLOAT32 && kv->arr_n == 512);

	ctx_walk(g, g->base, g->file_size);
	gguf_free(g);
	gguf_free(NULL);
}

/* a GGUF file parses and every part of it is where the reader says; vocab files have no tensors */
static void check_file_parses(const char *path, bool vocab_only)
{
	int err;
	gguf_ctx *g = gguf_open(path, &err);
	cr_assert(g, "%s: error %d", path, err);
	cr_assert(g->n_kv > 10);
	cr_assert_leq(g->data_offset, g->file_size);
	ctx_walk(g, g->base, g->file_size);
	if (vocab_only)
		cr_assert_eq(g->n_tensors, 0, "%s", path);
	else
		cr_assert(gguf_tensor_find(g, "token_embd.weight"), "%s", path);
	gguf_free(g);
}

Test(gguf, all_test_models_parse)
{
	static const char *const vocabs[] = { "llama-spm", "llama-bpe", "qwen2", "gpt-2", "phi-3" };
	for (size_t i = 0; i < SH_ARRAY_LEN(vocabs); i++) {
		char rel[128];
		snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", vocabs[i]);
		check_file_parses(test_data(rel), true);
	}
	for (const synth_type *t = synth_types; t->name; t++) {
		char *path = test_synth(t->name[0] == 'q' ? "test-tiny" : "test-tiny-qwen2", t->name);
		check_file_parses(path, false);
		test_synth_free(path);
	}
}

/* the files of llama.cpp's own writer and quantizer, every weight format */
Test(gguf, llamacpp_models_parse)
{
	TEST_NEED_REFDATA();
	static const char *const files[] = {
		"llama-Q4_0.gguf", "llama-Q4_K_M.gguf", "llama-Q5_K_M.gguf", "llama-Q6_K.gguf", "llama-Q8_0.gguf",
		"llama-BF16.gguf", "llama-f16.gguf", "llama-F32.gguf", "llama-ropefreqs-f16.gguf", "qwen2-Q8_0.gguf",
		"qwen2-f16.gguf",
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(files); i++)
		check_file_parses(test_refdata(files[i]), false);
}

Test(gguf, open_errors)
{
	int err = 0;
	capture c;
	capture_begin(&c);
	gguf_ctx *g = gguf_open("/nonexistent/dir/model.gguf", &err);
	char *log = capture_end(&c);
	cr_assert_null(g);
	cr_assert_eq(err, SH_EIO);
	cr_assert_eq(count_lines(log), 1, "%s", log);
	cr_assert(strstr(log, "/nonexistent/dir/model.gguf: cannot open"), "%s", log);
	free(log);

	sh_log_set_level(-1);
	cr_assert_null(gguf_open("/tmp", &err));
	cr_assert_eq(err, SH_EIO);
	char tmpl[] = "/tmp/shoal-gguf-XXXXXX";
	int fd = mkstemp(tmpl);
	cr_assert(fd >= 0);
	close(fd);
	cr_assert_null(gguf_open(tmpl, &err)); /* empty file: nothing to map */
	cr_assert_eq(err, SH_EFORMAT);
	unlink(tmpl);
	cr_assert_null(gguf_open_buffer(NULL, 0, NULL, &err));
	cr_assert_eq(err, SH_EFORMAT);
	cr_assert_null(gguf_open_buffer(NULL, 10, "x", &err));
	cr_assert_eq(err, SH_EINVAL);
	sh_log_set_level(SH_LOG_INFO);
}

/* ---------------------------------------------------------------- every truncation */
Test(gguf, every_prefix_rejected, .timeout = 300)
{
	uint64_t size;
	int err;
	uint8_t *buf = file_load(TEST_STORIES, &size);
	gguf_ctx *g = gguf_open_buffer(buf, size, "stories-whole", &err);
	cr_assert(g, "the whole file must parse");
	gguf_free(g);

	capture c;
	capture_begin(&c);
	g = gguf_open_buffer(buf, size - 1, "stories-prefix", &err);
	char *log = capture_end(&c);
	cr_assert_null(g);
	cr_assert_eq(count_lines(log), 1, "%s", log);
	cr_assert(strstr(log, "stories-prefix: truncated: tensor 47 (blk.4.ffn_norm.weight) data ends at byte 1185376 of 1185375"),
		"%s", log);
	free(log);

	sh_log_set_level(-1);
	for (uint64_t len = size; len-- > 0;) {
		POISON(buf + len, 1);
		g = gguf_open_buffer(buf, len, "stories-prefix", &err);
		if (g || err != SH_EFORMAT)
			cr_assert_fail("prefix of %llu bytes: ctx %p, error %d", (unsigned long long)len, (void *)g, err);
	}
	sh_log_set_level(SH_LOG_INFO);
	UNPOISON(buf, size);
	free(buf);
}

/* ---------------------------------------------------------------- random corruption */
typedef struct { uint64_t pos; int width; } field;

/* the positions of the header's numeric fields: counts, lengths, types, dimensions, offsets */
static int fields_collect(const gguf_ctx *g, field *out, int cap)
{
	int n = 0;
#define ADD(p, w) do { if (n < cap) out[n++] = (field){ (uint64_t)(p), (w) }; } while (0)
	ADD(4, 4);
	ADD(8, 8);
	ADD(16, 8);
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const gguf_kv *kv = &g->kv[i];
		uint64_t k = (uint64_t)((const uint8_t *)kv->key.ptr - g->base);
		ADD(k - 8, 8);
		ADD(k + kv->key.len, 4);
		if (kv->type == GGUF_T_STRING)
			ADD(k + kv->key.len + 4, 8);
		if (kv->type == GGUF_T_ARRAY) {
			ADD(k + kv->key.len + 4, 4);
			ADD(k + kv->key.len + 8, 8);
			for (uint64_t j = 0; kv->arr_type == GGUF_T_STRING && j < kv->arr_n; j += 37)
				ADD(kv->arr_str_off[j], 8);
		}
	}
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const gguf_tensor *t = &g->tensors[i];
		uint64_t p = (uint64_t)((const uint8_t *)t->name.ptr - g->base);
		ADD(p - 8, 8);
		p += t->name.len;
		ADD(p, 4);
		for (int d = 0; d < t->n_dims; d++)
			ADD(p + 4 + 8 * (uint64_t)d, 8);
		ADD(p + 4 + 8 * (uint64_t)t->n_dims, 4);
		ADD(p + 8 + 8 * (uint64_t)t->n_dims, 8);
	}
#undef ADD
	return n;
}

static uint64_t interesting(sh_rng *r, uint64_t file_size)
{
	const uint64_t v[] = {
		0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 31, 32, 33, 48, 64, 255, 256, 0x7fffffff, 0x80000000u, 0xffffffffu,
		1ull << 32, 1ull << 62, (1ull << 63) - 1, 1ull << 63, UINT64_MAX, UINT64_MAX - 7, UINT64_MAX - 31,
		file_size, file_size - 1, file_size + 1, file_size / 2, 1185376 - 14176, 131072,
	};
	uint64_t k = sh_rng_u64(r) % (SH_ARRAY_LEN(v) + 4);
	return k < SH_ARRAY_LEN(v) ? v[k] : sh_rng_u64(r) >> (sh_rng_u64(r) % 64);
}

Test(gguf, random_corruptions, .timeout = 300)
{
	uint64_t size;
	int err;
	uint8_t *orig = file_load(TEST_STORIES, &size);
	uint8_t *buf = malloc(size);
	memcpy(buf, orig, size);
	gguf_ctx *g = gguf_open_buffer(orig, size, "stories", &err);
	cr_assert(g);
	static field fields[4096];
	int n_fields = fields_collect(g, fields, (int)SH_ARRAY_LEN(fields));
	uint64_t meta = g->data_offset;
	gguf_free(g);
	cr_assert(n_fields > 200);

	sh_rng r;
	sh_rng_seed(&r, 20240611);
	int parsed = 0, rejected = 0;
	sh_log_set_level(-1);
	for (int variant = 0; variant < 20000; variant++) {
		int n_mut = 1 + (int)(sh_rng_u64(&r) % 4);
		for (int m = 0; m < n_mut; m++) {
			uint64_t kind = sh_rng_u64(&r) % 4, v = interesting(&r, size);
			if (kind == 0) { /* flip bits of a random metadata byte */
				buf[sh_rng_u64(&r) % meta] ^= (uint8_t)(1 + sh_rng_u64(&r) % 255);
			} else if (kind == 3) { /* an interesting value at a random (unaligned) metadata offset */
				memcpy(buf + sh_rng_u64(&r) % (meta - 8), &v, 8);
			} else { /* an interesting value in a real field */
				field f = fields[sh_rng_u64(&r) % (uint64_t)n_fields];
				memcpy(buf + f.pos, &v, (size_t)f.width);
			}
		}
		g = gguf_open_buffer(buf, size, "corrupt", &err);
		if (g) {
			ctx_walk(g, buf, size);
			gguf_free(g);
			parsed++;
		} else {
			cr_assert(err == SH_EFORMAT || err == SH_EUNSUP, "variant %d: error %d", variant, err);
			rejected++;
		}
		memcpy(buf, orig, meta);
	}
	sh_log_set_level(SH_LOG_INFO);
	cr_assert(parsed > 500 && rejected > 10000, "parsed %d, rejected %d", parsed, rejected);
	free(buf);
	free(orig);
}

/* ---------------------------------------------------------------- hand-built malformed files */
typedef struct { uint8_t *p; size_t len, cap; } bytes;

static void put(bytes *b, const void *src, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		cr_assert(b->p);
	}
	memcpy(b->p + b->len, src, n);
	b->len += n;
}
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_str(bytes *b, const char *s) { put_u64(b, strlen(s)); put(b, s, strlen(s)); }
static void put_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	put(b, "GGUF", 4);
	put_u32(b, version);
	put_u64(b, n_tensors);
	put_u64(b, n_kv);
}
static void put_kv_u32(bytes *b, const char *key, uint32_t v) { put_str(b, key); put_u32(b, GGUF_T_UINT32); put_u32(b, v); }
static void put_tensor(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off)
{
	put_str(b, name);
	put_u32(b, n_dims);
	for (uint32_t d = 0; d < n_dims; d++)
		put_u64(b, ne[d]);
	put_u32(b, type);
	put_u64(b, off);
}
/* pads to align, then n bytes of tensor data */
static void put_data(bytes *b, size_t align, size_t n)
{
	static const uint8_t zero[4096];
	put(b, zero, (align - b->len % align) % align);
	while (n) {
		size_t k = SH_MIN(n, sizeof zero);
		put(b, zero, k);
		n -= k;
	}
}

/* a one-kv one-tensor file: name, dims and type of the tensor as given, 4 KiB of data */
static bytes file_one_tensor(uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t off)
{
	bytes b = { 0 };
	put_header(&b, 3, 1, 1);
	put_kv_u32(&b, "general.a", 1);
	put_tensor(&b, "w", n_dims, ne, type, off);
	put_data(&b, 32, 4096);
	return b;
}

/* the file must be rejected with code err, one log line that names it and contains what */
static void expect_reject(bytes b, int err, const char *what)
{
	int e = 0;
	capture c;
	capture_begin(&c);
	uint8_t *copy = malloc(b.len ? b.len : 1);
	memcpy(copy, b.p, b.len);
	gguf_ctx *g = gguf_open_buffer(copy, b.len, "hand.gguf", &e);
	char *log = capture_end(&c);
	cr_assert_null(g, "accepted a file that should fail with '%s'", what);
	cr_assert_eq(e, err, "'%s': error %d, expected %d; log: %s", what, e, err, log);
	cr_assert_eq(count_lines(log), 1, "'%s': log: %s", what, log);
	cr_assert(strstr(log, "hand.gguf: "), "log: %s", log);
	cr_assert(strstr(log, what), "expected '%s' in: %s", what, log);
	free(log);
	free(copy);
	free(b.p);
}

static void expect_accept(bytes b)
{
	int e = 0;
	gguf_ctx *g = gguf_open_buffer(b.p, b.len, "hand.gguf", &e);
	cr_assert(g, "error %d", e);
	ctx_walk(g, b.p, b.len);
	gguf_free(g);
	free(b.p);
}

Test(gguf, malformed_files)
{
	const uint64_t ne2[] = { 32, 4 }, ne5[] = { 32, 1, 1, 1, 1 };
	bytes b;

	expect_accept(file_one_tensor(2, ne2, QT_F32, 0));
	b = file_one_tensor(2, ne2, QT_F32, 0);
	b.p[4] = 2; /* v2 has the same layout */
	expect_accept(b);
	b = file_one_tensor(2, ne2, QT_F32, 0);
	memcpy(b.p, "GGUX", 4);
	expect_reject(b, SH_EFORMAT, "bad magic");
	b = file_one_tensor(2, ne2, QT_F32, 0);
	b.p[4] = 1;
	expect_reject(b, SH_EUNSUP, "version 1");
	b = file_one_tensor(2, ne2, QT_F32, 0);
	b.p[4] = 0, b.p[7] = 3;
	expect_reject(b, SH_EUNSUP, "big-endian");
	b = file_one_tensor(2, ne2, QT_F32, 0);
	b.p[4] = 4;
	expect_reject(b, SH_EUNSUP, "version 4");

	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1ull << 40);
	put_data(&b, 32, 4096);
	expect_reject(b, SH_EFORMAT, "n_kv 1099511627776 cannot fit");
	b = (bytes){ 0 };
	put_header(&b, 3, UINT64_MAX, 1);
	put_data(&b, 32, 4096);
	expect_reject(b, SH_EFORMAT, "n_tensors");

	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1);
	put_u64(&b, UINT64_MAX); /* key length */
	put_data(&b, 32, 64);
	expect_reject(b, SH_EFORMAT, "key length 18446744073709551615");
	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1);
	put_str(&b, "k");
	put_u32(&b, GGUF_T_STRING);
	put_u64(&b, UINT64_MAX - 20); /* pos + len wraps around */
	put_data(&b, 32, 64);
	expect_reject(b, SH_EFORMAT, "runs past the end");
	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1);
	put_str(&b, "k");
	put_u32(&b, GGUF_T_ARRAY);
	put_u32(&b, GGUF_T_UINT64);
	put_u64(&b, 1ull << 61); /* n * 8 overflows */
	put_data(&b, 32, 64);
	expect_reject(b, SH_EFORMAT, "array of 2305843009213693952");
	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1);
	put_str(&b, "k");
	put_u32(&b, GGUF_T_ARRAY);
	put_u32(&b, GGUF_T_STRING);
	put_u64(&b, 1ull << 60);
	put_data(&b, 32, 64);
	expect_reject(b, SH_EFORMAT, "string array");
	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1);
	put_str(&b, "k");
	put_u32(&b, GGUF_T_ARRAY);
	put_u32(&b, GGUF_T_ARRAY);
	put_u64(&b, 1);
	put_data(&b, 32, 64);
	expect_reject(b, SH_EUNSUP, "nested arrays");
	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1);
	put_str(&b, "k");
	put_u32(&b, 13);
	put_data(&b, 32, 64);
	expect_reject(b, SH_EFORMAT, "unknown value type 13");
	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1);
	put_str(&b, "k");
	put_u32(&b, GGUF_T_BOOL);
	put(&b, "\x02", 1);
	put_data(&b, 32, 64);
	expect_reject(b, SH_EFORMAT, "bool value 2");
	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1);
	put_u64(&b, 0);
	put_data(&b, 32, 64);
	expect_reject(b, SH_EFORMAT, "empty key");
	b = (bytes){ 0 };
	put_header(&b, 3, 0, 2);
	put_kv_u32(&b, "general.x", 1);
	put_kv_u32(&b, "general.x", 2);
	put_data(&b, 32, 64);
	expect_reject(b, SH_EFORMAT, "kv 1 (general.x): duplicate key (first defined by kv 0)");

	b = file_one_tensor(0, ne2, QT_F32, 0);
	expect_reject(b, SH_EFORMAT, "n_dims 0");
	b = file_one_tensor(5, ne5, QT_F32, 0);
	expect_reject(b, SH_EFORMAT, "n_dims 5");
	b = file_one_tensor(2, (const uint64_t[]){ 32, 0 }, QT_F32, 0);
	expect_reject(b, SH_EFORMAT, "dimension 1 is 0");
	b = file_one_tensor(2, (const uint64_t[]){ 1ull << 63, 1 }, QT_F32, 0);
	expect_reject(b, SH_EFORMAT, "dimension 0 is 9223372036854775808");
	b = file_one_tensor(3, (const uint64_t[]){ 1ull << 32, 1ull << 20, 1ull << 12 }, QT_F32, 0);
	expect_reject(b, SH_EFORMAT, "element count overflows");
	b = file_one_tensor(2, (const uint64_t[]){ 1ull << 62, 1 }, QT_F32, 0);
	expect_reject(b, SH_EFORMAT, "byte size overflows");
	b = file_one_tensor(2, (const uint64_t[]){ 16, 4 }, QT_Q4_0, 0);
	expect_reject(b, SH_EFORMAT, "not a multiple of Q4_0's block size 32");
	b = file_one_tensor(2, ne2, QT_F32, 4);
	expect_reject(b, SH_EFORMAT, "offset 4 is not a multiple of the alignment 32");
	b = file_one_tensor(2, ne2, QT_F32, 4096);
	expect_reject(b, SH_EFORMAT, "truncated: tensor 0 (w) data ends at byte");
	b = file_one_tensor(2, ne2, QT_F32, UINT64_MAX - 31);
	expect_reject(b, SH_EFORMAT, "overflows");
	b = file_one_tensor(2, ne2, 99, 0);
	expect_reject(b, SH_EUNSUP, "unknown tensor type 99 for tensor w");
	b = file_one_tensor(2, ne2, QT_Q8_0X4, 0); /* shoal's own activation layout: never in a file */
	expect_reject(b, SH_EUNSUP, "unknown tensor type 40 for tensor w");
	b = file_one_tensor(2, ne2, 4, 0); /* Q4_2, removed from GGML */
	expect_reject(b, SH_EUNSUP, "unknown tensor type 4 for tensor w");
	b = file_one_tensor(2, ne2, UINT32_MAX, 0);
	expect_reject(b, SH_EUNSUP, "unknown tensor type 4294967295");

	b = (bytes){ 0 };
	put_header(&b, 3, 1, 1);
	put_kv_u32(&b, "general.alignment", 48);
	put_tensor(&b, "w", 2, ne2, QT_F32, 0);
	put_data(&b, 64, 4096);
	expect_reject(b, SH_EFORMAT, "alignment 48 is not a power of two");
	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1);
	put_kv_u32(&b, "general.alignment", 0);
	expect_reject(b, SH_EFORMAT, "alignment 0 is not a power of two");
	b = (bytes){ 0 };
	put_header(&b, 3, 0, 1);
	put_str(&b, "general.alignment");
	put_u32(&b, GGUF_T_FLOAT32);
	put(&b, &(float){ 32 }, 4);
	expect_reject(b, SH_EFORMAT, "alignment must be a uint32");
	b = (bytes){ 0 };
	put_header(&b, 3, 1, 1);
	put_kv_u32(&b, "general.alignment", 64);
	put_tensor(&b, "w", 2, ne2, QT_F32, 0);
	put_data(&b, 64, 512);
	expect_accept(b);

	b = (bytes){ 0 };
	put_header(&b, 3, 2, 0);
	put_tensor(&b, "w", 2, ne2, QT_F32, 0);
	put_tensor(&b, "w", 2, ne2, QT_F32, 512);
	put_data(&b, 32, 1024);
	expect_reject(b, SH_EFORMAT, "tensor info 1 (w): duplicate tensor name");
	b = (bytes){ 0 };
	put_header(&b, 3, 2, 0);
	put_tensor(&b, "a", 2, ne2, QT_F32, 480);
	put_tensor(&b, "b", 2, ne2, QT_F32, 0);
	put_data(&b, 32, 1024);
	expect_reject(b, SH_EFORMAT, "overlaps tensor 1");
	b = (bytes){ 0 };
	put_header(&b, 3, 1, 0);
	put_str(&b, "name\x1b[31m");
	put_u32(&b, 7);
	put_data(&b, 32, 64);
	expect_reject(b, SH_EFORMAT, "tensor info 0 (name?[31m): n_dims 7");
}

/* ---------------------------------------------------------------- writer round trips */
static const struct { const char *name; int type, n_dims; int64_t ne[4]; uint64_t size; } round_tensors[] = {
	{ "t.f32", QT_F32, 2, { 8, 3, 1, 1 }, 8 * 3 * 4 },
	{ "t.f16", QT_F16, 1, { 17, 1, 1, 1 }, 17 * 2 },
	{ "t.q8_0", QT_Q8_0, 3, { 64, 2, 2, 1 }, 2 * 4 * 34 },
	{ "t.q4_0", QT_Q4_0, 2, { 32, 3, 1, 1 }, 3 * 18 },
	{ "t.q4_K", QT_Q4_K, 4, { 256, 2, 1, 2 }, 4 * 144 },
};

static uint8_t round_byte(int idx, uint64_t j) { return (uint8_t)(idx * 31 + j * 7 + (j >> 8)); }

static int round_fill(void *user, int idx, void *buf, uint64_t size)
{
	int *calls = user;
	cr_assert_eq(idx, *calls, "fill called out of order");
	cr_assert_eq(size, round_tensors[idx].size);
	for (uint64_t j = 0; j < size; j++)
		((uint8_t *)buf)[j] = round_byte(idx, j);
	++*calls;
	return 0;
}

static char *temp_dir(void)
{
	char *d = strdup("/tmp/shoal-gguf-XXXXXX");
	cr_assert(mkdtemp(d));
	return d;
}

Test(gguf, writer_round_trip)
{
	char *dir = temp_dir(), path[512];
	snprintf(path, sizeof path, "%s/round.gguf", dir);
	gguf_writer *w = gguf_writer_init();
	gguf_writer_set_u8(w, "v.u8", 200);
	gguf_writer_set_i8(w, "v.i8", -5);
	gguf_writer_set_u16(w, "v.u16", 65000);
	gguf_writer_set_i16(w, "v.i16", -30000);
	gguf_writer_set_u32(w, "v.u32", 4000000000u);
	gguf_writer_set_i32(w, "v.i32", -2000000000);
	gguf_writer_set_u64(w, "v.u64", UINT64_MAX);
	gguf_writer_set_i64(w, "v.i64", INT64_MIN);
	gguf_writer_set_f32(w, "v.f32", 0.25f);
	gguf_writer_set_f64(w, "v.f64", 1e-300);
	gguf_writer_set_bool(w, "v.bool", true);
	gguf_writer_set_str(w, "v.str", "placeholder");
	gguf_writer_set_str(w, "v.str", "héllo"); /* replaces */
	gguf_writer_set_str(w, "v.empty", "");
	const char *strs[] = { "a", "", "three", "\xe2\x96\x81x" };
	gguf_writer_set_arr_str(w, "v.arr_str", strs, 4);
	const float fl[] = { 1.5f, -2.0f, 3.25f };
	gguf_writer_set_arr(w, "v.arr_f32", GGUF_T_FLOAT32, 3, fl);
	gguf_writer_set_arr(w, "v.arr_empty", GGUF_T_INT32, 0, NULL);
	for (size_t i = 0; i < SH_ARRAY_LEN(round_tensors); i++)
		gguf_writer_add_tensor(w, round_tensors[i].name, round_tensors[i].type, round_tensors[i].n_dims,
			round_tensors[i].ne);
	int calls = 0;
	cr_assert_eq(gguf_writer_write(w, path, round_fill, &calls), SH_OK);
	cr_assert_eq(calls, (int)SH_ARRAY_LEN(round_tensors));
	gguf_writer_free(w);
	gguf_writer_free(NULL);

	int err;
	gguf_ctx *g = gguf_open(path, &err);
	cr_assert(g, "error %d", err);
	cr_assert_eq(g->version, 3);
	cr_assert_eq(g->alignment, 32);
	cr_assert_eq(g->n_kv, 16);
	cr_assert_eq(g->data_offset % 32, 0);
	cr_assert_eq(g->file_size % 32, 0);
	ctx_walk(g, g->base, g->file_size);

	uint32_t u;
	int64_t i;
	float f;
	bool b;
	gguf_str s;
	const struct { const char *key; enum gguf_vtype type; } types[] = {
		{ "v.u8", GGUF_T_UINT8 }, { "v.i8", GGUF_T_INT8 }, { "v.u16", GGUF_T_UINT16 }, { "v.i16", GGUF_T_INT16 },
		{ "v.u32", GGUF_T_UINT32 }, { "v.i32", GGUF_T_INT32 }, { "v.u64", GGUF_T_UINT64 }, { "v.i64", GGUF_T_INT64 },
		{ "v.f32", GGUF_T_FLOAT32 }, { "v.f64", GGUF_T_FLOAT64 }, { "v.bool", GGUF_T_BOOL }, { "v.str", GGUF_T_STRING },
	};
	for (size_t k = 0; k < SH_ARRAY_LEN(types); k++) {
		const gguf_kv *kv = gguf_kv_find(g, types[k].key);
		cr_assert(kv, "%s", types[k].key);
		cr_assert_eq(kv->type, types[k].type, "%s is %s", types[k].key, gguf_vtype_name(kv->type));
	}
	cr_assert(gguf_get_u32(g, "v.u8", &u) && u == 200);
	cr_assert_not(gguf_get_u32(g, "v.i8", &u), "negative does not fit a u32");
	cr_assert(gguf_get_i64(g, "v.i8", &i) && i == -5);
	cr_assert(gguf_get_u32(g, "v.u16", &u) && u == 65000);
	cr_assert(gguf_get_i64(g, "v.i16", &i) && i == -30000);
	cr_assert(gguf_get_u32(g, "v.u32", &u) && u == 4000000000u);
	cr_assert(gguf_get_i64(g, "v.i32", &i) && i == -2000000000);
	cr_assert_not(gguf_get_i64(g, "v.u64", &i), "UINT64_MAX does not fit an i64");
	cr_assert_not(gguf_get_u32(g, "v.u64", &u));
	cr_assert_eq(gguf_kv_find(g, "v.u64")->v.u64, UINT64_MAX);
	cr_assert(gguf_get_i64(g, "v.i64", &i) && i == INT64_MIN);
	cr_assert(gguf_get_f32(g, "v.f32", &f) && f == 0.25f);
	cr_assert_eq(gguf_kv_find(g, "v.f64")->v.f64, 1e-300);
	cr_assert(gguf_get_f32(g, "v.f64", &f));
	cr_assert_not(gguf_get_f32(g, "v.u8", &f), "integers are not floats");
	cr_assert(gguf_get_bool(g, "v.bool", &b) && b);
	cr_assert_not(gguf_get_bool(g, "v.u8", &b));
	cr_assert(gguf_get_str(g, "v.str", &s) && gguf_str_eq(s, "héllo"));
	cr_assert(gguf_get_str(g, "v.empty", &s) && s.len == 0);

	const gguf_kv *kv = gguf_kv_find(g, "v.arr_str");
	cr_assert(kv && kv->type == GGUF_T_ARRAY && kv->arr_type == GGUF_T_STRING && kv->arr_n == 4);
	for (uint64_t k = 0; k < 4; k++)
		cr_assert(gguf_str_eq(gguf_arr_str(g, kv, k), strs[k]), "element %llu", (unsigned long long)k);
	kv = gguf_kv_find(g, "v.arr_f32");
	cr_assert(kv && kv->type == GGUF_T_ARRAY && kv->arr_type == GGUF_T_FLOAT32 && kv->arr_n == 3);
	cr_assert_eq(memcmp(kv->arr_data, fl, sizeof fl), 0);
	kv = gguf_kv_find(g, "v.arr_empty");
	cr_assert(kv && kv->arr_type == GGUF_T_INT32 && kv->arr_n == 0);

	cr_assert_eq(g->n_tensors, SH_ARRAY_LEN(round_tensors));
	for (size_t k = 0; k < SH_ARRAY_LEN(round_tensors); k++) {
		const gguf_tensor *t = &g->tensors[k];
		cr_assert(gguf_str_eq(t->name, round_tensors[k].name));
		cr_assert_eq(t->type, round_tensors[k].type);
		cr_assert_eq(t->n_dims, round_tensors[k].n_dims);
		cr_assert_eq(memcmp(t->ne, round_tensors[k].ne, sizeof t->ne), 0);
		cr_assert_eq(t->size, round_tensors[k].size);
		cr_assert_eq(t->offset % 32, 0);
		for (uint64_t j = 0; j < t->size; j++)
			cr_assert_eq(((const uint8_t *)t->data)[j], round_byte((int)k, j), "tensor %zu byte %llu", k,
				(unsigned long long)j);
	}
	gguf_free(g);
	unlink(path);
	rmdir(dir);
	free(dir);
}

Test(gguf, writer_copies_tokenizer)
{
	char *dir = temp_dir(), path[512];
	snprintf(path, sizeof path, "%s/vocab.gguf", dir);
	int err;
	gguf_ctx *src = gguf_open(TEST_STORIES, &err);
	cr_assert(src);
	gguf_writer *w = gguf_writer_init();
	for (uint64_t k = 0; k < src->n_kv; k++)
		gguf_writer_copy_kv(w, src, &src->kv[k]);
	cr_assert_eq(gguf_writer_write(w, path, NULL, NULL), SH_OK);
	gguf_writer_free(w);

	gguf_ctx *g = gguf_open(path, &err);
	cr_assert(g, "error %d", err);
	cr_assert_eq(g->n_kv, src->n_kv);
	cr_assert_eq(g->n_tensors, 0);
	for (uint64_t k = 0; k < src->n_kv; k++) {
		const gguf_kv *a = &src->kv[k], *b = &g->kv[k];
		cr_assert(a->key.len == b->key.len && !memcmp(a->key.ptr, b->key.ptr, a->key.len));
		cr_assert_eq(a->type, b->type);
		if (a->type == GGUF_T_STRING) {
			cr_assert(a->v.str.len == b->v.str.len && !memcmp(a->v.str.ptr, b->v.str.ptr, a->v.str.len));
		} else if (a->type != GGUF_T_ARRAY) {
			cr_assert_eq(a->v.u64, b->v.u64, "kv %.*s", (int)a->key.len, a->key.ptr);
		} else {
			cr_assert_eq(a->arr_type, b->arr_type);
			cr_assert_eq(a->arr_n, b->arr_n);
			for (uint64_t j = 0; a->arr_type == GGUF_T_STRING && j < a->arr_n; j++) {
				gguf_str x = gguf_arr_str(src, a, j), y = gguf_arr_str(g, b, j);
				cr_assert(x.len == y.len && !memcmp(x.ptr, y.ptr, x.len), "element %llu", (unsigned long long)j);
			}
			if (a->arr_type != GGUF_T_STRING)
				cr_assert_eq(memcmp(a->arr_data, b->arr_data, a->arr_n * gguf_vtype_size(a->arr_type)), 0);
		}
	}
	const gguf_kv *tok = gguf_kv_find(g, "tokenizer.ggml.tokens");
	cr_assert(tok && tok->arr_n == 512);
	cr_assert(gguf_str_eq(gguf_arr_str(g, tok, 1), "<s>"));
	gguf_free(g);
	gguf_free(src);
	unlink(path);
	rmdir(dir);
	free(dir);
}

static int fail_fill(void *user, int idx, void *buf, uint64_t size)
{
	memset(buf, 0, size);
	return idx == 1 ? SH_ERANGE : 0;
}

Test(gguf, writer_errors)
{
	char *dir = temp_dir(), path[512];
	const int64_t ne[] = { 32, 2 }, bad[] = { 30, 2 };
	snprintf(path, sizeof path, "%s/out.gguf", dir);

	gguf_writer *w = gguf_writer_init();
	gguf_writer_add_tensor(w, "a", QT_F32, 2, ne);
	gguf_writer_add_tensor(w, "b", QT_F32, 2, ne);
	cr_assert_eq(gguf_writer_write(w, path, fail_fill, NULL), SH_ERANGE);
	cr_assert_neq(access(path, F_OK), 0, "no file after a failed fill");
	char part[600];
	snprintf(part, sizeof part, "%s.part", path);
	cr_assert_neq(access(part, F_OK), 0, "no partial file left behind");

	sh_log_set_level(-1);
	snprintf(part, sizeof part, "%s/missing/dir.gguf", dir);
	cr_assert_eq(gguf_writer_write(w, part, fail_fill, NULL), SH_EIO);
	gguf_writer_free(w);

	const struct { int type, n_dims; const int64_t *ne; const char *name; } invalid[] = {
		{ QT_Q4_0, 2, bad, "x" }, { 99, 2, ne, "x" }, { QT_F32, 0, ne, "x" }, { QT_F32, 5, ne, "x" },
		{ QT_F32, 2, ne, "" }, { QT_F32, 2, ne, "a" },
	};
	for (size_t k = 0; k < SH_ARRAY_LEN(invalid); k++) {
		w = gguf_writer_init();
		gguf_writer_add_tensor(w, "a", QT_F32, 2, ne);
		gguf_writer_add_tensor(w, invalid[k].name, invalid[k].type, invalid[k].n_dims, invalid[k].ne);
		cr_assert_eq(gguf_writer_write(w, path, fail_fill, NULL), SH_EINVAL, "case %zu", k);
		gguf_writer_free(w);
	}
	w = gguf_writer_init();
	gguf_writer_set_u32(w, "", 1);
	gguf_writer_set_arr(w, "k", GGUF_T_STRING, 1, "x");
	cr_assert_eq(gguf_writer_write(w, path, NULL, NULL), SH_EINVAL);
	gguf_writer_free(w);
	sh_log_set_level(SH_LOG_INFO);
	cr_assert_neq(access(path, F_OK), 0);
	rmdir(dir);
	free(dir);
}

/* ---------------------------------------------------------------- split sets */
static void dir_remove(char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
	free(dir);
}

/* gguf_open(path) fails with code err and one log line holding what (and what2 unless NULL) */
static void expect_open_fails(const char *path, int err, const char *what, const char *what2)
{
	int e = 0;
	capture c;
	capture_begin(&c);
	gguf_ctx *g = gguf_open(path, &e);
	char *log = capture_end(&c);
	cr_assert_null(g, "%s: accepted (expected '%s')", path, what);
	cr_assert_eq(e, err, "'%s': error %d, expected %d; log: %s", what, e, err, log);
	cr_assert_eq(count_lines(log), 1, "'%s': log: %s", what, log);
	cr_assert(strstr(log, what), "expected '%s' in: %s", what, log);
	cr_assert(!what2 || strstr(log, what2), "expected '%s' in: %s", what2, log);
	free(log);
}

/* round_tensors and one kv as a set of n_parts, dir/set-0000k-of-0000N.gguf */
static int split_write(const char *dir, int n_parts, gguf_fill_fn fill)
{
	char prefix[512];
	snprintf(prefix, sizeof prefix, "%s/set", dir);
	gguf_writer *w = gguf_writer_init();
	gguf_writer_set_str(w, "general.name", "split");
	for (size_t i = 0; i < SH_ARRAY_LEN(round_tensors); i++)
		gguf_writer_add_tensor(w, round_tensors[i].name, round_tensors[i].type, round_tensors[i].n_dims, round_tensors[i].ne);
	int calls = 0, rc = gguf_writer_write_split(w, prefix, n_parts, fill, &calls);
	gguf_writer_free(w);
	return rc;
}

/* round_fill that fails at the last tensor */
static int failing_fill(void *user, int idx, void *buf, uint64_t size)
{
	return idx == (int)SH_ARRAY_LEN(round_tensors) - 1 ? SH_EIO : round_fill(user, idx, buf, size);
}

/* round_fill for a writer holding round_tensors from *user on */
static int part_fill(void *user, int idx, void *buf, uint64_t size)
{
	int i = *(const int *)user + idx;
	return round_fill(&i, i, buf, size);
}

/* a part written by hand: tensors [first, last) of round_tensors and the split keys given (split.no
 * left out when no < 0, split.count when count < 0, split.tensors.count when total < 0) */
static void part_write(const char *path, int no, int count, int total, size_t first, size_t last)
{
	gguf_writer *w = gguf_writer_init();
	if (no >= 0)
		gguf_writer_set_u16(w, GGUF_KEY_SPLIT_NO, (uint16_t)no);
	if (count >= 0)
		gguf_writer_set_u16(w, GGUF_KEY_SPLIT_COUNT, (uint16_t)count);
	if (total >= 0)
		gguf_writer_set_i32(w, GGUF_KEY_SPLIT_TENSORS, total);
	for (size_t i = first; i < last; i++)
		gguf_writer_add_tensor(w, round_tensors[i].name, round_tensors[i].type, round_tensors[i].n_dims, round_tensors[i].ne);
	int from = (int)first;
	cr_assert_eq(gguf_writer_write(w, path, part_fill, &from), 0);
	gguf_writer_free(w);
}

/* the files the writer made are the parts gguf-split would: split keys of the types llama.cpp
 * reads, metadata in part 1 only, tensors in order with at least one a part; joined, they are
 * round_tensors with their bytes */
Test(gguf, split_set_opens_as_one)
{
	char *dir = temp_dir(), path[600];
	cr_assert_eq(split_write(dir, 3, round_fill), 0);
	uint64_t sum = 0, first_size = 0;
	size_t n = SH_ARRAY_LEN(round_tensors), at = 0;
	for (int k = 1; k <= 3; k++) {
		snprintf(path, sizeof path, "%s/set-%05d-of-00003.gguf", dir, k);
		uint64_t size;
		uint8_t *buf = file_load(path, &size);
		int err;
		gguf_ctx *p = gguf_open_buffer(buf, size, path, &err); /* one file: no joining */
		cr_assert(p, "part %d: err %d", k, err);
		const gguf_kv *no = gguf_kv_find(p, GGUF_KEY_SPLIT_NO), *count = gguf_kv_find(p, GGUF_KEY_SPLIT_COUNT),
			      *total = gguf_kv_find(p, GGUF_KEY_SPLIT_TENSORS);
		cr_assert(no && no->type == GGUF_T_UINT16 && no->v.u64 == (uint64_t)k - 1, "part %d: split.no", k);
		cr_assert(count && count->type == GGUF_T_UINT16 && count->v.u64 == 3, "part %d: split.count", k);
		cr_assert(total && total->type == GGUF_T_INT32 && total->v.i64 == (int64_t)n, "part %d: split.tensors.count", k);
		cr_assert_eq(p->n_kv, k == 1 ? 4u : 3u, "part %d: %llu kvs", k, (unsigned long long)p->n_kv);
		cr_assert_eq(gguf_kv_find(p, "general.name") != NULL, k == 1);
		cr_assert_geq(p->n_tensors, 1, "part %d has no tensor", k);
		for (uint64_t i = 0; i < p->n_tensors; i++, at++)
			cr_assert(gguf_str_eq(p->tensors[i].name, round_tensors[at].name), "part %d tensor %llu", k,
				  (unsigned long long)i);
		sum += size;
		first_size = first_size ? first_size : size;
		gguf_free(p);
		free(buf);
	}
	cr_assert_eq(at, n);

	snprintf(path, sizeof path, "%s/set-00001-of-00003.gguf", dir);
	int err;
	gguf_ctx *g = gguf_open(path, &err);
	cr_assert(g, "err %d", err);
	cr_assert_eq(g->n_parts, 3);
	cr_assert_eq(g->n_tensors, n);
	cr_assert_eq(g->total_size, sum);
	cr_assert_eq(g->file_size, first_size);
	gguf_str name;
	cr_assert(gguf_get_str(g, "general.name", &name) && gguf_str_eq(name, "split"));
	for (size_t i = 0; i < n; i++) {
		const gguf_tensor *t = &g->tensors[i];
		cr_assert(gguf_str_eq(t->name, round_tensors[i].name), "tensor %zu", i);
		cr_assert_eq(gguf_tensor_find(g, round_tensors[i].name), t);
		cr_assert_eq(t->type, round_tensors[i].type);
		cr_assert_eq(t->n_dims, round_tensors[i].n_dims);
		cr_assert_eq(memcmp(t->ne, round_tensors[i].ne, sizeof t->ne), 0);
		cr_assert_eq(t->size, round_tensors[i].size);
		for (uint64_t j = 0; j < t->size; j++)
			cr_assert_eq(((const uint8_t *)t->data)[j], round_byte((int)i, j), "%s byte %llu", round_tensors[i].name,
				     (unsigned long long)j);
		gguf_tensor_prefetch(g, t);
	}
	gguf_free(g);

	/* part 2 alone is refused, naming part 1; a missing part is named */
	snprintf(path, sizeof path, "%s/set-00002-of-00003.gguf", dir);
	char first[600];
	snprintf(first, sizeof first, "%s/set-00001-of-00003.gguf", dir);
	expect_open_fails(path, SH_EINVAL, "part 2 of 3 of a split model: open its part 1", first);
	snprintf(path, sizeof path, "%s/set-00003-of-00003.gguf", dir);
	cr_assert_eq(unlink(path), 0);
	expect_open_fails(first, SH_EIO, "part 3 of the split model is missing", path);
	dir_remove(dir);
}

Test(gguf, split_writer_errors)
{
	char *dir = temp_dir();
	sh_log_set_level(-1);
	cr_assert_eq(split_write(dir, 6, round_fill), SH_EINVAL); /* more parts than tensors */
	cr_assert_eq(split_write(dir, 0, round_fill), SH_EINVAL);
	cr_assert_eq(split_write(dir, 3, failing_fill), SH_EIO); /* parts 1 and 2 written, then removed */
	gguf_writer *w = gguf_writer_init();
	gguf_writer_set_u16(w, GGUF_KEY_SPLIT_COUNT, 2);
	gguf_writer_add_tensor(w, "a", QT_F32, 1, (const int64_t[]){ 4 });
	gguf_writer_add_tensor(w, "b", QT_F32, 1, (const int64_t[]){ 4 });
	char prefix[600];
	snprintf(prefix, sizeof prefix, "%s/own", dir);
	int calls = 0;
	cr_assert_eq(gguf_writer_write_split(w, prefix, 2, round_fill, &calls), SH_EINVAL); /* its own split keys */
	gguf_writer_free(w);
	sh_log_set_level(SH_LOG_INFO);
	cr_assert_eq(rmdir(dir), 0, "a failed split write left files in %s", dir);
	free(dir);
}

/* the split set synth writes is the file it writes from the same seed: the same kvs (plus the split
 * keys), and the same tensors in the same order, with the same names, shapes, types and bytes */
Test(gguf, split_synth_same_as_one_file)
{
	char *one = test_synth("test-tiny", "q8_0"), *dir = temp_dir(), path[600];
	snprintf(path, sizeof path, "%s/m.gguf", dir);
	cr_assert_eq(synth_write("test-tiny", "q8_0", TEST_STORIES, 1234, 1, 3, path), 0);
	snprintf(path, sizeof path, "%s/m-00001-of-00003.gguf", dir);
	int err;
	gguf_ctx *a = gguf_open(one, &err), *b = gguf_open(path, &err);
	cr_assert(a && b, "err %d", err);
	cr_assert_eq(a->n_parts, 1);
	cr_assert_eq(b->n_parts, 3);
	cr_assert_eq(b->n_kv, a->n_kv + 3);
	for (uint64_t i = 0; i < a->n_kv; i++) {
		const gguf_kv *x = &a->kv[i], *y = &b->kv[i]; /* part 1 keeps their order, split keys last */
		cr_assert(x->key.len == y->key.len && !memcmp(x->key.ptr, y->key.ptr, x->key.len), "kv %llu",
			  (unsigned long long)i);
		cr_assert_eq(x->type, y->type);
		if (x->type == GGUF_T_STRING)
			cr_assert(x->v.str.len == y->v.str.len && !memcmp(x->v.str.ptr, y->v.str.ptr, x->v.str.len));
		else if (x->type == GGUF_T_ARRAY) {
			cr_assert(x->arr_type == y->arr_type && x->arr_n == y->arr_n);
			for (uint64_t j = 0; x->arr_type == GGUF_T_STRING && j < x->arr_n; j++) {
				gguf_str sx = gguf_arr_str(a, x, j), sy = gguf_arr_str(b, y, j);
				cr_assert(sx.len == sy.len && !memcmp(sx.ptr, sy.ptr, sx.len));
			}
			if (x->arr_type != GGUF_T_STRING)
				cr_assert_eq(memcmp(x->arr_data, y->arr_data, x->arr_n * gguf_vtype_size(x->arr_type)), 0);
		} else if (x->type == GGUF_T_BOOL)
			cr_assert_eq(x->v.b, y->v.b);
		else if (x->type == GGUF_T_FLOAT32 || x->type == GGUF_T_FLOAT64)
			cr_assert_eq(x->v.f64, y->v.f64);
		else
			cr_assert_eq(x->v.u64, y->v.u64);
	}
	cr_assert_eq(a->n_tensors, b->n_tensors);
	for (uint64_t i = 0; i < a->n_tensors; i++) {
		const gguf_tensor *x = &a->tensors[i], *y = &b->tensors[i];
		cr_assert(x->name.len == y->name.len && !memcmp(x->name.ptr, y->name.ptr, x->name.len), "tensor %llu",
			  (unsigned long long)i);
		cr_assert(x->n_dims == y->n_dims && !memcmp(x->ne, y->ne, sizeof x->ne) && x->type == y->type &&
			  x->size == y->size, "tensor %.*s", (int)x->name.len, x->name.ptr);
		cr_assert_eq(memcmp(x->data, y->data, x->size), 0, "tensor %.*s: bytes differ", (int)x->name.len, x->name.ptr);
	}
	gguf_free(a);
	gguf_free(b);
	test_synth_free(one);
	dir_remove(dir);
}

Test(gguf, split_set_inconsistent_parts_rejected)
{
	char *dir = temp_dir(), p1[600], p2[600];
	snprintf(p1, sizeof p1, "%s/bad-00001-of-00002.gguf", dir);
	snprintf(p2, sizeof p2, "%s/bad-00002-of-00002.gguf", dir);
	/* part 1: split.no 0, split.count 2, total1, tensors [0, a_last); part 2: no2, count2, total2,
	 * tensors [b_first, 5); a key of -1 is left out */
	const struct { int no2, count2, total1, total2; size_t a_last, b_first; const char *what, *where; } cases[] = {
		{ 0, 2, 5, 5, 2, 2, "not part 2 of 2", "split.no 0" },
		{ 1, 3, 5, 5, 2, 2, "not part 2 of 2", "split.count 3" },
		{ 1, 2, 5, 6, 2, 2, "not part 2 of 2", "split.tensors.count 6" },
		{ 1, 2, 4, 4, 2, 2, "the 2 parts hold 5 tensors, but split.tensors.count is 4", p1 },
		{ 1, 2, 6, 6, 3, 2, "tensor t.q8_0 is in two parts of the split model, 1 and 2", p1 },
		{ -1, 2, 5, 5, 2, 2, "a part of a split model, but split.no is missing", p2 },
		{ 1, -1, 5, -1, 2, 2, "not a part of a split model", p2 },
		{ 1, 2, -1, 5, 2, 2, "a part of a split model, but split.tensors.count is missing", p1 },
	};
	for (size_t c = 0; c < SH_ARRAY_LEN(cases); c++) {
		part_write(p1, 0, 2, cases[c].total1, 0, cases[c].a_last);
		part_write(p2, cases[c].no2, cases[c].count2, cases[c].total2, cases[c].b_first, 5);
		expect_open_fails(p1, SH_EFORMAT, cases[c].what, cases[c].where);
	}
	/* part 1 with no tensors (gguf-split --no-tensor-first-split writes that): accepted */
	part_write(p1, 0, 2, 5, 0, 0);
	part_write(p2, 1, 2, 5, 0, 5);
	int err;
	gguf_ctx *g = gguf_open(p1, &err);
	cr_assert(g, "err %d", err);
	cr_assert_eq(g->n_tensors, 5);
	cr_assert_eq(g->n_parts, 2);
	gguf_free(g);
	/* a part 1 not named as one */
	char p3[600];
	snprintf(p3, sizeof p3, "%s/renamed.gguf", dir);
	cr_assert_eq(rename(p1, p3), 0);
	expect_open_fails(p3, SH_EFORMAT, "not named PREFIX-00001-of-00002.gguf", p3);
	/* split.count 1 (and 0, as gguf-split --merge leaves it): one whole file */
	part_write(p3, 0, 1, 5, 0, 5);
	cr_assert(g = gguf_open(p3, &err));
	cr_assert(g->n_parts == 1 && g->n_tensors == 5 && !g->parts);
	gguf_free(g);
	dir_remove(dir);
}

Test(gguf, split_names)
{
	int no, count;
	cr_assert(gguf_split_parts("a/b/m-Q8_0-00002-of-00003.gguf", &no, &count) && no == 2 && count == 3);
	cr_assert(gguf_split_parts("m-00001-of-00001.gguf", &no, &count) && no == 1 && count == 1);
	cr_assert(!gguf_split_parts("m-Q8_0.gguf", &no, &count));
	cr_assert(!gguf_split_parts("m-00004-of-00003.gguf", &no, &count));
	cr_assert(!gguf_split_parts("m-00000-of-00003.gguf", &no, &count));
	cr_assert(!gguf_split_parts("m-0000a-of-00003.gguf", &no, &count));
	cr_assert(!gguf_split_parts("m-00001-of-00003.gguff", &no, &count));
	cr_assert(!gguf_split_parts("m-00001-0f-00003.gguf", &no, &count));
	cr_assert(!gguf_split_parts("-00001-of-00003.gguf", &no, &count)); /* no prefix */
	cr_assert(!gguf_split_parts("", &no, &count));
	char buf[64];
	gguf_split_path("x/m", 7, 12, buf, sizeof buf);
	cr_assert_str_eq(buf, "x/m-00007-of-00012.gguf");
	/* every part of a set from any one of its names */
	const char *name = "dir/model-Q4_K_M-00002-of-00003.gguf";
	char prefix[64];
	cr_assert(gguf_split_parts(name, &no, &count));
	snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(name) - 20), name);
	gguf_split_path(prefix, no, count, buf, sizeof buf);
	cr_assert_str_eq(buf, name);
	gguf_split_path(prefix, 1, count, buf, sizeof buf);
	cr_assert_str_eq(buf, "dir/model-Q4_K_M-00001-of-00003.gguf");
}

/* ---------------------------------------------------------------- the header from a prefix */
/* every prefix of path's first data_offset + 100 bytes: SH_ERANGE with data_offset >= need > len
 * (a lower bound: a fetcher reading up to need never reads past the header), or, from data_offset
 * on, SH_OK with need == gguf_open's data_offset; the bytes past the prefix are poisoned under ASan */
static void header_prefixes(const char *path)
{
	uint64_t size, need;
	int err;
	uint8_t *buf = file_load(path, &size);
	gguf_ctx *g = gguf_open_buffer(buf, size, path, &err);
	cr_assert(g, "%s must parse", path);
	uint64_t data = g->data_offset, top = SH_MIN(size, data + 100);
	gguf_free(g);
	cr_assert_eq(gguf_header_size(buf, size, &need), SH_OK);
	cr_assert_eq(need, data);
	POISON(buf + top, size - top);
	for (uint64_t len = top + 1; len-- > 0;) {
		if (len < top)
			POISON(buf + len, 1);
		int rc = gguf_header_size(buf, len, &need);
		if (len >= data && (rc != SH_OK || need != data))
			cr_assert_fail("%s: prefix of %llu bytes: %d, need %llu (the header is %llu)", path, (unsigned long long)len,
				       rc, (unsigned long long)need, (unsigned long long)data);
		if (len < data && (rc != SH_ERANGE || need <= len || need > data))
			cr_assert_fail("%s: prefix of %llu bytes: %d, need %llu (the header is %llu)", path, (unsigned long long)len,
				       rc, (unsigned long long)need, (unsigned long long)data);
	}
	UNPOISON(buf, size);
	/* a fetcher that reads what it is asked for gets there, never past it */
	int steps = 0;
	for (uint64_t len = 0;; steps++) {
		int rc = gguf_header_size(buf, len, &need);
		if (rc == SH_OK)
			break;
		cr_assert_eq(rc, SH_ERANGE);
		cr_assert(need > len && need <= data);
		len = need;
	}
	cr_assert_eq(need, data);
	cr_assert_gt(steps, 2, "%s: %d steps", path, steps);
	free(buf);
}

Test(gguf, header_size_every_prefix, .timeout = 300)
{
	header_prefixes(TEST_STORIES);
	char *tiny = test_synth("test-tiny", "q8_0");
	header_prefixes(tiny);
	test_synth_free(tiny);
}

Test(gguf, header_size_rejects_garbage)
{
	uint64_t need;
	uint8_t junk[4096];
	sh_rng r;
	sh_rng_seed(&r, 7);
	for (size_t i = 0; i < sizeof junk; i++)
		junk[i] = (uint8_t)sh_rng_u64(&r);
	cr_assert_eq(gguf_header_size(junk, sizeof junk, &need), SH_EFORMAT);
	cr_assert_eq(gguf_header_size("PK\3\4", 4, &need), SH_EFORMAT);
	cr_assert_eq(gguf_header_size(NULL, 0, &need), SH_ERANGE);
	cr_assert_eq(need, 4);
	cr_assert_eq(gguf_header_size("GGU", 3, &need), SH_ERANGE); /* not yet known to be garbage */
	/* a header of the right shape with one defect each */
	uint64_t size;
	uint8_t *buf = file_load(TEST_STORIES, &size), *b = malloc(size);
	cr_assert(b);
	struct { uint64_t at; uint64_t v; int width; int want; } bad[] = {
		{ 4, 1, 4, SH_EUNSUP },                   /* version 1 */
		{ 4, 7, 4, SH_EUNSUP },                   /* version 7 */
		{ 16, UINT64_MAX / 8, 8, SH_EFORMAT },    /* n_kv no file can hold */
		{ 8, UINT64_MAX / 16, 8, SH_EFORMAT },    /* n_tensors likewise */
		{ 24, 0, 8, SH_EFORMAT },                 /* an empty key */
		{ 24, UINT64_MAX, 8, SH_EFORMAT },        /* a key longer than 64 KiB */
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
		memcpy(b, buf, size);
		memcpy(b + bad[i].at, &bad[i].v, (size_t)bad[i].width);
		int rc = gguf_header_size(b, size, &need);
		cr_assert_eq(rc, bad[i].want, "defect %zu: %d", i, rc);
		rc = gguf_header_size(b, 64, &need); /* the same from a short prefix */
		cr_assert_eq(rc, bad[i].want, "defect %zu in 64 bytes: %d", i, rc);
	}
	/* a string length that overflows a prefix: no file holds it */
	memcpy(b, buf, size);
	uint64_t huge = UINT64_MAX - 16;
	uint64_t klen;
	memcpy(&klen, b + 24, 8);
	uint32_t type = GGUF_T_STRING;
	memcpy(b + 32 + klen, &type, 4);
	memcpy(b + 36 + klen, &huge, 8);
	cr_assert_eq(gguf_header_size(b, 200, &need), SH_EFORMAT);
	free(b);
	free(buf);
}
