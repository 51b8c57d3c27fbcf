/*
 * gguf_write.c - the GGUF writer: metadata in memory, tensor data streamed from a callback.
 *
 * Each kv is kept as its key plus its value already serialized (u32 type, then the payload in
 * file order), so writing the metadata is a plain copy and copy_kv needs no per-type writer. Tensors
 * are only descriptions (name, type, shape, byte size) until gguf_writer_write, which lays them out
 * at 32-byte aligned offsets in declaration order, then asks the fill callback for each tensor's
 * bytes in turn into one reusable buffer as large as the largest tensor (mapped lazily, so pages are
 * touched only as far as a tensor needs). A multi-GB model is thus written holding one tensor.
 *
 * The file is written to PATH.part and renamed into place only when complete, so a failed or
 * interrupted write never leaves something that looks like a model. Errors are negative SH_E*
 * codes; the setters have no return value, so the first error is kept and returned by write.
 *
 * A split set (gguf_writer_write_split) is the same writer cut into consecutive ranges of tensors,
 * each range written as one whole file by the same routine: part 1 gets the writer's kvs followed by
 * the split keys (where gguf-split puts them), later parts only the split keys, which come from a
 * small second writer per part. Each part's offsets start again at its own data section.
 */
#include "gguf/gguf.h"
#include "compute/quant.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define WRITER_ALIGNMENT 32
#define WRITER_MAX_NAME 65535

/* ---------------------------------------------------------------- byte buffers */
typedef struct { uint8_t *p; uint64_t len, cap; bool failed; } wbuf;

static void wbuf_put(wbuf *b, const void *src, uint64_t n)
{
	if (b->failed)
		return;
	if (n > b->cap - b->len) {
		uint64_t cap = b->cap ? b->cap : 64;
		while (cap - b->len < n) {
			if (cap > (UINT64_C(1) << 62)) {
				b->failed = true;
				return;
			}
			cap *= 2;
		}
		uint8_t *p = sh_alloc(cap);
		if (!p) {
			b->failed = true;
			return;
		}
		if (b->len)
			memcpy(p, b->p, b->len);
		sh_free(b->p);
		b->p = p;
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, src, n);
	b->len += n;
}

static void wbuf_u32(wbuf *b, uint32_t v) { wbuf_put(b, &v, 4); }
static void wbuf_u64(wbuf *b, uint64_t v) { wbuf_put(b, &v, 8); }
static void wbuf_str(wbuf *b, const char *s, uint64_t len) { wbuf_u64(b, len); wbuf_put(b, s, len); }

/* ---------------------------------------------------------------- writer state */
typedef struct {
	char *key;
	uint64_t key_len;
	wbuf val;                    /* u32 type + payload, as in the file */
} writer_kv;

typedef struct {
	char *name;
	uint64_t name_len;
	int type, n_dims;
	int64_t ne[GGUF_MAX_DIMS];
	uint64_t size, offset;       /* bytes; offset within the data section */
} writer_tensor;

struct gguf_writer {
	writer_kv *kv;
	uint64_t n_kv, cap_kv;
	writer_tensor *t;
	uint64_t n_t, cap_t;
	int err;                     /* first error of a setter, returned by gguf_writer_write */
};

gguf_writer *gguf_writer_init(void)
{
	return sh_alloc(sizeof(gguf_writer));
}

void gguf_writer_free(gguf_writer *w)
{
	if (!w)
		return;
	for (uint64_t i = 0; i < w->n_kv; i++) {
		sh_free(w->kv[i].key);
		sh_free(w->kv[i].val.p);
	}
	for (uint64_t i = 0; i < w->n_t; i++)
		sh_free(w->t[i].name);
	sh_free(w->kv);
	sh_free(w->t);
	sh_free(w);
}

static void writer_error(gguf_writer *w, int err)
{
	if (!w->err)
		w->err = err;
}

/* grows *arr (n used of *cap, elements of elem bytes) so that one more fits */
static bool writer_reserve(gguf_writer *w, void **arr, uint64_t n, uint64_t *cap, size_t elem)
{
	if (n < *cap)
		return true;
	uint64_t new_cap = *cap ? *cap * 2 : 64;
	void *p = sh_alloc(new_cap * elem);
	if (!p) {
		writer_error(w, SH_ENOMEM);
		return false;
	}
	if (n)
		memcpy(p, *arr, n * elem);
	sh_free(*arr);
	*arr = p;
	*cap = new_cap;
	return true;
}

static char *name_dup(const char *s, uint64_t len)
{
	char *p = sh_alloc(len + 1);
	if (p)
		memcpy(p, s, len);
	return p;
}

static writer_kv *writer_find(const gguf_writer *w, const char *key, uint64_t key_len)
{
	for (uint64_t i = 0; i < w->n_kv; i++)
		if (w->kv[i].key_len == key_len && memcmp(w->kv[i].key, key, key_len) == 0)
			return &w->kv[i];
	return NULL;
}

/* stores key = val, taking ownership of val's bytes */
static void writer_put(gguf_writer *w, const char *key, uint64_t key_len, wbuf *val)
{
	writer_kv *kv = NULL;
	if (val->failed) {
		writer_error(w, SH_ENOMEM);
		goto fail;
	}
	if (key_len == 0 || key_len > WRITER_MAX_NAME) {
		sh_log_error("gguf writer: key length %llu is not 1..%d", (unsigned long long)key_len, WRITER_MAX_NAME);
		writer_error(w, SH_EINVAL);
		goto fail;
	}
	if (!(kv = writer_find(w, key, key_len))) {
		char *copy = name_dup(key, key_len);
		if (!copy || !writer_reserve(w, (void **)&w->kv, w->n_kv, &w->cap_kv, sizeof *w->kv)) {
			sh_free(copy);
			writer_error(w, SH_ENOMEM);
			goto fail;
		}
		kv = &w->kv[w->n_kv++];
		kv->key = copy;
		kv->key_len = key_len;
	}
	sh_free(kv->val.p);
	kv->val = *val;
	return;
fail:
	sh_free(val->p);
}

/* ---------------------------------------------------------------- setters */
static void writer_set_scalar(gguf_writer *w, const char *key, enum gguf_vtype type, const void *v)
{
	wbuf b = { 0 };
	wbuf_u32(&b, type);
	wbuf_put(&b, v, gguf_vtype_size(type));
	writer_put(w, key, strlen(key), &b);
}

void gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v) { writer_set_scalar(w, key, GGUF_T_UINT8, &v); }
void gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v) { writer_set_scalar(w, key, GGUF_T_INT8, &v); }
void gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v) { writer_set_scalar(w, key, GGUF_T_UINT16, &v); }
void gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v) { writer_set_scalar(w, key, GGUF_T_INT16, &v); }
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) { writer_set_scalar(w, key, GGUF_T_UINT32, &v); }
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) { writer_set_scalar(w, key, GGUF_T_INT32, &v); }
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) { writer_set_scalar(w, key, GGUF_T_UINT64, &v); }
void gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v) { writer_set_scalar(w, key, GGUF_T_INT64, &v); }
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) { writer_set_scalar(w, key, GGUF_T_FLOAT32, &v); }
void gguf_writer_set_f64(gguf_writer *w, const char *key, double v) { writer_set_scalar(w, key, GGUF_T_FLOAT64, &v); }

void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v)
{
	uint8_t b = v;
	writer_set_scalar(w, key, GGUF_T_BOOL, &b);
}

void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v)
{
	wbuf b = { 0 };
	wbuf_u32(&b, GGUF_T_STRING);
	wbuf_str(&b, v, strlen(v));
	writer_put(w, key, strlen(key), &b);
}

/* an array header, then the raw elements (n of a fixed-size type) */
static void array_put(gguf_writer *w, const char *key, uint64_t key_len, enum gguf_vtype type, uint64_t n,
	const void *data)
{
	wbuf b = { 0 };
	uint64_t bytes;
	size_t size = gguf_vtype_size(type);
	if (size == 0 || !sh_mul_ok(n, size, &bytes)) {
		sh_log_error("gguf writer: %.*s: cannot write an array of %llu %s", (int)SH_MIN(key_len, 200), key,
			(unsigned long long)n, gguf_vtype_name(type));
		writer_error(w, SH_EINVAL);
		return;
	}
	wbuf_u32(&b, GGUF_T_ARRAY);
	wbuf_u32(&b, type);
	wbuf_u64(&b, n);
	wbuf_put(&b, data, bytes);
	writer_put(w, key, key_len, &b);
}

void gguf_writer_set_arr(gguf_writer *w, const char *key, enum gguf_vtype type, uint64_t n, const void *data)
{
	array_put(w, key, strlen(key), type, n, data);
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
	wbuf b = { 0 };
	wbuf_u32(&b, GGUF_T_ARRAY);
	wbuf_u32(&b, GGUF_T_STRING);
	wbuf_u64(&b, n);
	for (uint64_t i = 0; i < n; i++)
		wbuf_str(&b, v[i], strlen(v[i]));
	writer_put(w, key, strlen(key), &b);
}

void gguf_writer_copy_kv(gguf_writer *w, const gguf_ctx *src, const gguf_kv *kv)
{
	wbuf b = { 0 };
	if (kv->type == GGUF_T_ARRAY && kv->arr_type != GGUF_T_STRING) {
		array_put(w, kv->key.ptr, kv->key.len, kv->arr_type, kv->arr_n, kv->arr_data);
		return;
	}
	wbuf_u32(&b, kv->type);
	if (kv->type == GGUF_T_ARRAY) {
		wbuf_u32(&b, GGUF_T_STRING);
		wbuf_u64(&b, kv->arr_n);
		for (uint64_t i = 0; i < kv->arr_n; i++) {
			gguf_str s = gguf_arr_str(src, kv, i);
			wbuf_str(&b, s.ptr, s.len);
		}
	} else if (kv->type == GGUF_T_STRING) {
		wbuf_str(&b, kv->v.str.ptr, kv->v.str.len);
	} else if (kv->type == GGUF_T_FLOAT32) {
		float f = (float)kv->v.f64; /* exact: it was read from a float */
		wbuf_put(&b, &f, 4);
	} else if (kv->type == GGUF_T_BOOL) {
		uint8_t v = kv->v.b;
		wbuf_put(&b, &v, 1);
	} else {
		/* integers and float64: the low bytes of the 8-byte little-endian value */
		wbuf_put(&b, &kv->v.u64, gguf_vtype_size(kv->type));
	}
	writer_put(w, kv->key.ptr, kv->key.len, &b);
}

void gguf_writer_add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne)
{
	const quant_traits *qt = quant_get(type);
	uint64_t len = strlen(name), n_el = 1, size;
	if (len == 0 || len > WRITER_MAX_NAME || w->n_t >= INT32_MAX) {
		sh_log_error("gguf writer: tensor name length %llu is not 1..%d (or too many tensors)",
			(unsigned long long)len, WRITER_MAX_NAME);
		goto invalid;
	}
	for (uint64_t i = 0; i < w->n_t; i++) {
		if (w->t[i].name_len == len && memcmp(w->t[i].name, name, len) == 0) {
			sh_log_error("gguf writer: duplicate tensor %s", name);
			goto invalid;
		}
	}
	if (!qt || qt->blck_size <= 0 || qt->type_size == 0 || n_dims < 1 || n_dims > GGUF_MAX_DIMS) {
		sh_log_error("gguf writer: tensor %s: unknown type %d or n_dims %d", name, type, n_dims);
		goto invalid;
	}
	for (int d = 0; d < n_dims; d++) {
		if (ne[d] <= 0 || !sh_mul_ok(n_el, (uint64_t)ne[d], &n_el) || n_el > INT64_MAX) {
			sh_log_error("gguf writer: tensor %s: bad dimension %d (%lld)", name, d, (long long)ne[d]);
			goto invalid;
		}
	}
	if (ne[0] % qt->blck_size || !sh_mul_ok(n_el / (uint64_t)qt->blck_size, qt->type_size, &size) ||
	    size > SIZE_MAX - WRITER_ALIGNMENT) {
		sh_log_error("gguf writer: tensor %s: row length %lld does not fit %s blocks of %d", name,
			(long long)ne[0], qt->name, qt->blck_size);
		goto invalid;
	}
	char *copy = name_dup(name, len);
	if (!copy || !writer_reserve(w, (void **)&w->t, w->n_t, &w->cap_t, sizeof *w->t)) {
		sh_free(copy);
		writer_error(w, SH_ENOMEM);
		return;
	}
	writer_tensor *t = &w->t[w->n_t++];
	*t = (writer_tensor){ .name = copy, .name_len = len, .type = type, .n_dims = n_dims, .size = size };
	for (int d = 0; d < GGUF_MAX_DIMS; d++)
		t->ne[d] = d < n_dims ? ne[d] : 1;
	return;
invalid:
	writer_error(w, SH_EINVAL);
}

/* ---------------------------------------------------------------- output */
typedef struct {
	FILE *f;
	const char *path;
	uint64_t pos;
	bool ok;
} out_file;

static void out_put(out_file *o, const void *p, uint64_t n)
{
	if (!o->ok || n == 0)
		return;
	if (fwrite(p, 1, n, o->f) != n) {
		sh_log_error("%s: write failed: %s", o->path, strerror(errno));
		o->ok = false;
	}
	o->pos += n;
}

static void out_u32(out_file *o, uint32_t v) { out_put(o, &v, 4); }
static void out_u64(out_file *o, uint64_t v) { out_put(o, &v, 8); }

static void out_pad(out_file *o)
{
	static const uint8_t zeros[WRITER_ALIGNMENT];
	out_put(o, zeros, (WRITER_ALIGNMENT - o->pos % WRITER_ALIGNMENT) % WRITER_ALIGNMENT);
}

static uint64_t align_up(uint64_t x) { return (x + WRITER_ALIGNMENT - 1) & ~(uint64_t)(WRITER_ALIGNMENT - 1); }

/* tensors [first, last) of w into path (via path.part): w's kvs when with_kvs, then extra's */
static int write_file(gguf_writer *w, const char *path, uint64_t first, uint64_t last, bool with_kvs,
		      const gguf_writer *extra, gguf_fill_fn fill, void *user)
{
	out_file o = { .ok = true };
	uint64_t data_size = 0, max_size = 0;
	uint8_t *buf = NULL;
	char *part = NULL;
	int err = SH_EIO;
	SH_ASSERT(fill || first == last);
	for (uint64_t i = first; i < last; i++) {
		w->t[i].offset = data_size;
		if (!sh_add_ok(data_size, align_up(w->t[i].size), &data_size)) {
			sh_log_error("%s: tensor data exceeds 2^64 bytes", path);
			return SH_EINVAL;
		}
		max_size = SH_MAX(max_size, w->t[i].size);
	}
	part = sh_alloc(strlen(path) + sizeof ".part");
	if (!part)
		return SH_ENOMEM;
	strcat(strcpy(part, path), ".part");
	o.path = part;
	o.f = fopen(part, "wb");
	if (!o.f) {
		sh_log_error("%s: cannot create: %s", part, strerror(errno));
		goto fail;
	}

	const gguf_writer *kvs[2] = { with_kvs ? w : NULL, extra };
	out_put(&o, "GGUF", 4);
	out_u32(&o, 3);
	out_u64(&o, last - first);
	out_u64(&o, (with_kvs ? w->n_kv : 0) + (extra ? extra->n_kv : 0));
	for (int k = 0; k < 2; k++)
		for (uint64_t i = 0; kvs[k] && i < kvs[k]->n_kv; i++) {
			const writer_kv *kv = &kvs[k]->kv[i];
			out_u64(&o, kv->key_len);
			out_put(&o, kv->key, kv->key_len);
			out_put(&o, kv->val.p, kv->val.len);
		}
	for (uint64_t i = first; i < last; i++) {
		const writer_tensor *t = &w->t[i];
		out_u64(&o, t->name_len);
		out_put(&o, t->name, t->name_len);
		out_u32(&o, (uint32_t)t->n_dims);
		for (int d = 0; d < t->n_dims; d++)
			out_u64(&o, (uint64_t)t->ne[d]);
		out_u32(&o, (uint32_t)t->type);
		out_u64(&o, t->offset);
	}
	out_pad(&o);

	if (max_size) {
		buf = sh_alloc_large(max_size);
		if (!buf) {
			err = SH_ENOMEM;
			goto fail;
		}
	}
	for (uint64_t i = first; i < last && o.ok; i++) {
		int rc = fill(user, (int)i, buf, w->t[i].size);
		if (rc < 0) {
			err = rc; /* the callback reports its own failure */
			goto fail;
		}
		out_put(&o, buf, w->t[i].size);
		out_pad(&o);
	}
	if (!o.ok)
		goto fail;
	FILE *f = o.f;
	o.f = NULL;
	if (fclose(f) != 0) {
		sh_log_error("%s: write failed: %s", part, strerror(errno));
		goto fail;
	}
	if (rename(part, path) != 0) {
		sh_log_error("%s: cannot rename to %s: %s", part, path, strerror(errno));
		goto fail;
	}
	sh_free_large(buf, max_size);
	sh_free(part);
	return SH_OK;
fail:
	if (o.f)
		fclose(o.f);
	unlink(part);
	sh_free_large(buf, max_size);
	sh_free(part);
	return err;
}

int gguf_writer_write(gguf_writer *w, const char *path, gguf_fill_fn fill, void *user)
{
	return w->err ? w->err : write_file(w, path, 0, w->n_t, true, NULL, fill, user);
}

int gguf_writer_write_split(gguf_writer *w, const char *prefix, int n_parts, gguf_fill_fn fill, void *user)
{
	static const char *const keys[] = { GGUF_KEY_SPLIT_NO, GGUF_KEY_SPLIT_COUNT, GGUF_KEY_SPLIT_TENSORS };
	if (w->err)
		return w->err;
	if (n_parts < 1 || n_parts > GGUF_SPLIT_MAX || (uint64_t)n_parts > SH_MAX(w->n_t, 1) || w->n_t > INT32_MAX) {
		sh_log_error("%s: cannot split %llu tensors into %d parts (1..%d, at most one a tensor)", prefix,
			     (unsigned long long)w->n_t, n_parts, GGUF_SPLIT_MAX);
		return SH_EINVAL;
	}
	for (size_t i = 0; i < SH_ARRAY_LEN(keys); i++)
		if (writer_find(w, keys[i], strlen(keys[i]))) {
			sh_log_error("%s: the model's kvs already have %s: the split writer sets it", prefix, keys[i]);
			return SH_EINVAL;
		}
	uint64_t total = 0, first = 0, acc = 0;
	for (uint64_t i = 0; i < w->n_t; i++)
		if (!sh_add_ok(total, align_up(w->t[i].size), &total)) {
			sh_log_error("%s: tensor data exceeds 2^64 bytes", prefix);
			return SH_EINVAL;
		}
	size_t cap = strlen(prefix) + 32;
	char *path = sh_alloc(cap);
	if (!path)
		return SH_ENOMEM;
	int err = SH_OK, done = 0; /* parts 1..done are written */
	for (int k = 0; k < n_parts && !err; k++) {
		/* tensors [first, last): up to about (k + 1) / n_parts of the bytes, at least one, and
		 * leaving at least one for each later part */
		uint64_t last = first, left = (uint64_t)(n_parts - 1 - k);
		if (!left)
			last = w->n_t;
		else
			do
				acc += align_up(w->t[last++].size);
			while (last < w->n_t - left && acc < total / (uint64_t)n_parts * (uint64_t)(k + 1));
		gguf_writer *sw = gguf_writer_init();
		if (!sw) {
			err = SH_ENOMEM;
			break;
		}
		gguf_writer_set_u16(sw, GGUF_KEY_SPLIT_NO, (uint16_t)k);
		gguf_writer_set_u16(sw, GGUF_KEY_SPLIT_COUNT, (uint16_t)n_parts);
		gguf_writer_set_i32(sw, GGUF_KEY_SPLIT_TENSORS, (int32_t)w->n_t);
		gguf_split_path(prefix, k + 1, n_parts, path, cap);
		if (!(err = sw->err ? sw->err : write_file(w, path, first, last, k == 0, sw, fill, user)))
			done++;
		gguf_writer_free(sw);
		first = last;
	}
	for (int k = 0; err && k < done; k++) { /* nothing of a failed set is left */
		gguf_split_path(prefix, k + 1, n_parts, path, cap);
		unlink(path);
	}
	sh_free(path);
	return err;
}
