/*
 * fuzz_gguf.c - libFuzzer target for the GGUF reader.
 *
 * Each input is parsed with gguf_open_buffer. A rejected input must come with a negative error
 * code; an accepted one is walked completely: every key, string value, array element and tensor
 * name is read byte by byte, every typed getter is called on every key, lookups by name must find
 * the entry itself (names are unique), and every tensor's data range is checked against the input
 * and its first and last bytes are read, so ASan sees any pointer that strays outside the buffer. Logging is silenced: the error
 * paths still format their message, only the output is dropped. gguf_header_size reads the same
 * input as a prefix of a file: a length it asks for is more than the input, one it gives is within
 * it, and a file gguf_open_buffer accepts is a header ending at the data offset gguf_open found.
 */
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

static volatile uint64_t sink;

static void touch(const void *p, uint64_t n, const uint8_t *data, size_t size)
{
	const uint8_t *b = p;
	uint64_t sum = 0;
	CHECK(b >= data && n <= size && (uint64_t)(b - data) <= size - n);
	for (uint64_t i = 0; i < n; i++)
		sum += b[i];
	sink += sum;
}

static void walk_kv(const gguf_ctx *g, const gguf_kv *kv, const uint8_t *data, size_t size)
{
	char key[256];
	uint32_t u32;
	int64_t i64;
	float f32;
	bool b;
	gguf_str s;

	touch(kv->key.ptr, kv->key.len, data, size);
	if (kv->key.len < sizeof key && !memchr(kv->key.ptr, 0, kv->key.len)) {
		memcpy(key, kv->key.ptr, kv->key.len);
		key[kv->key.len] = '\0';
		CHECK(gguf_kv_find(g, key) == kv); /* keys are unique */
		sink += gguf_get_u32(g, key, &u32) + gguf_get_i64(g, key, &i64) + gguf_get_f32(g, key, &f32) +
			gguf_get_bool(g, key, &b) + gguf_get_str(g, key, &s);
	}
	CHECK(kv->type < GGUF_T_COUNT);
	if (kv->type == GGUF_T_STRING)
		touch(kv->v.str.ptr, kv->v.str.len, data, size);
	if (kv->type != GGUF_T_ARRAY)
		return;
	CHECK(kv->arr_type < GGUF_T_COUNT && kv->arr_type != GGUF_T_ARRAY);
	if (kv->arr_type == GGUF_T_STRING) {
		for (uint64_t i = 0; i < kv->arr_n; i++) {
			s = gguf_arr_str(g, kv, i);
			touch(s.ptr, s.len, data, size);
		}
	} else {
		touch(kv->arr_data, kv->arr_n * gguf_vtype_size(kv->arr_type), data, size);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	sh_base_init();
	sh_log_set_level(-1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int err = 1;
	uint64_t need = 0;
	int hrc = gguf_header_size(data, size, &need);
	CHECK(hrc == SH_OK || hrc == SH_ERANGE || hrc == SH_EFORMAT || hrc == SH_EUNSUP || hrc == SH_ENOMEM);
	CHECK(hrc != SH_ERANGE || need > size);
	CHECK(hrc != SH_OK || need <= size);
	gguf_ctx *g = gguf_open_buffer(data, size, "fuzz", &err);
	if (!g) {
		CHECK(err < 0);
		return 0;
	}
	/* a file gguf_open accepts has a header gguf_header_size accepts (a file without tensors may end
	 * before its padding: then it asks for the padding) */
	CHECK((hrc == SH_OK && need == g->data_offset) || (hrc == SH_ERANGE && g->n_tensors == 0));
	CHECK(err == SH_OK && g->data_offset <= size && g->alignment && !(g->alignment & (g->alignment - 1)));
	for (uint64_t i = 0; i < g->n_kv; i++)
		walk_kv(g, &g->kv[i], data, size);
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const gguf_tensor *t = &g->tensors[i];
		const uint8_t *p = t->data;
		touch(t->name.ptr, t->name.len, data, size);
		CHECK(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS && t->size > 0);
		CHECK(p >= data && t->size <= size && (uint64_t)(p - data) <= size - t->size);
		sink += p[0] + p[t->size - 1];
		if (t->name.len < 256 && !memchr(t->name.ptr, 0, t->name.len)) {
			char name[256];
			memcpy(name, t->name.ptr, t->name.len);
			name[t->name.len] = '\0';
			CHECK(gguf_tensor_find(g, name) == t); /* names are unique */
		}
	}
	gguf_free(g);
	return 0;
}
