/*
 * gguf.c - the GGUF reader: validate a whole file (mmapped or caller-owned) before exposing it.
 *
 * Layout (little-endian): "GGUF", u32 version (2 or 3), u64 n_tensors, u64 n_kv, then n_kv
 * key/value pairs (string key, u32 type, value; arrays are u32 element type, u64 count, elements),
 * then n_tensors tensor infos (name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset), padding to
 * general.alignment (default 32), and the data section that the tensor offsets point into.
 *
 * Parsing is one pass over a bounds-checked cursor. Every read asks the cursor for n bytes first;
 * the cursor compares n against the bytes left (never pos + n, which could wrap), so a hostile
 * length can neither read past the end nor overflow. Products and sums of untrusted numbers go
 * through sh_mul_ok/sh_add_ok. The first failure formats one error line (file, where, what) and
 * everything unwinds through one cleanup path.
 *
 * The same parser reads a header from a prefix of a file (gguf_header_size: a blob arriving in
 * chunks): the reader is told that its buffer is a prefix, and then running out of bytes is not an
 * error but SH_ERANGE with `need`, the least length the prefix must have to get further: where the
 * item being read ends, plus the least bytes every item still to come takes (a kv 14, a tensor
 * info 33, a string array element 8), so a fetcher that reads up to need never reads past the
 * header's end. What only the file's size can tell (the counts fit in it, the tensors' data lies
 * inside it) is left out; everything else is checked as for a whole file, and nothing is logged.
 *
 * Memory stays proportional to what the file really contains: the kv and tensor arrays grow as
 * entries are parsed instead of trusting the header's counts (which are also capped by the file
 * size up front), and a string array's offset table is only allocated once its count has been
 * checked against the bytes left (each element takes at least 8). Duplicate keys and tensor names
 * are found with a hash set, overlapping tensors by sorting their ranges, so a file with millions
 * of entries cannot make validation quadratic.
 */
#include "gguf/gguf.h"
#include "compute/quant.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c reads little-endian fields with memcpy: a big-endian host needs byte swapping"
#endif

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_NAME 65535          /* keys and tensor names: 1 .. 64 KiB - 1 bytes */
#define GGUF_HEADER_BYTES 24         /* magic, version, n_tensors, n_kv */
#define GGUF_MIN_KV_BYTES 14         /* key length + 1-byte key + type + 1-byte value */
#define GGUF_MIN_TENSOR_BYTES 33     /* name length + 1-byte name + n_dims + ne[0] + type + offset */
#define GGUF_INITIAL_CAP 256         /* entries allocated before growing */

static const uint8_t vtype_size[GGUF_T_COUNT] = {
	[GGUF_T_UINT8] = 1, [GGUF_T_INT8] = 1, [GGUF_T_UINT16] = 2, [GGUF_T_INT16] = 2,
	[GGUF_T_UINT32] = 4, [GGUF_T_INT32] = 4, [GGUF_T_FLOAT32] = 4, [GGUF_T_BOOL] = 1,
	[GGUF_T_UINT64] = 8, [GGUF_T_INT64] = 8, [GGUF_T_FLOAT64] = 8,
};

const char *gguf_vtype_name(enum gguf_vtype t)
{
	static const char *names[GGUF_T_COUNT] = {
		"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string",
		"array", "uint64", "int64", "float64",
	};
	return (unsigned)t < GGUF_T_COUNT ? names[t] : "unknown";
}

size_t gguf_vtype_size(enum gguf_vtype t) { return (unsigned)t < GGUF_T_COUNT ? vtype_size[t] : 0; }

/* ---------------------------------------------------------------- cursor and errors */
enum rd_section { RD_HEADER, RD_KV, RD_TENSOR_INFO, RD_TENSOR };

typedef struct {
	const uint8_t *base;
	uint64_t size, pos;
	const char *name;         /* file name for messages */
	enum rd_section section;  /* what is being read, for messages */
	uint64_t index;
	gguf_str item;            /* key or tensor name once read (len 0 before) */
	uint64_t elem;            /* string array element being read, UINT64_MAX if none */
	int err;
	/* a prefix of the file (gguf_header_size): running out is SH_ERANGE and need, nothing is logged */
	bool prefix;
	uint64_t need;            /* prefix, SH_ERANGE: the least length of a prefix that gets further */
	uint64_t n_kv, n_tensors; /* the header's counts, once read */
	uint64_t arr_n;           /* the string array being read: its element count */
} reader;

/* a name from the file, made printable and short enough for a log line */
static void name_sanitize(gguf_str s, char *out, size_t cap)
{
	size_t n = 0, limit = cap - 4;
	for (uint64_t i = 0; i < s.len && n < limit; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (s.len > limit)
		memcpy(out + n, "...", 3), n += 3;
	out[n] = '\0';
}

static void rd_where(const reader *r, char *out, size_t cap)
{
	static const char *sections[] = { "header", "kv", "tensor info", "tensor" };
	char item[80], elem[48] = "";
	if (r->section == RD_HEADER) {
		snprintf(out, cap, "header");
		return;
	}
	name_sanitize(r->item, item, sizeof item);
	if (r->elem != UINT64_MAX)
		snprintf(elem, sizeof elem, " element %llu", (unsigned long long)r->elem);
	if (r->item.len)
		snprintf(out, cap, "%s %llu (%s)%s", sections[r->section], (unsigned long long)r->index, item, elem);
	else
		snprintf(out, cap, "%s %llu", sections[r->section], (unsigned long long)r->index);
}

/* logs "NAME: WHERE: message" once and records the error code; always returns false */
__attribute__((format(printf, 3, 4), noinline, cold))
static bool rd_fail(reader *r, int err, const char *fmt, ...)
{
	char where[128], msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	rd_where(r, where, sizeof where);
	if (!r->prefix)
		sh_log_error("%s: %s: %s", r->name, where, msg);
	r->err = err;
	return false;
}

static bool rd_fail_nomem(reader *r)
{
	r->err = SH_ENOMEM; /* sh_alloc has logged it */
	return false;
}

/* the slow path of rd_need: logs "NAME: truncated: WHERE ends at byte E of S" */
__attribute__((noinline, cold))
static bool rd_truncated(reader *r, uint64_t n)
{
	char where[128];
	uint64_t end;
	rd_where(r, where, sizeof where);
	if (sh_add_ok(r->pos, n, &end))
		sh_log_error("%s: truncated: %s ends at byte %llu of %llu", r->name, where,
			(unsigned long long)end, (unsigned long long)r->size);
	else
		sh_log_error("%s: truncated: %s needs %llu bytes at byte %llu of %llu", r->name, where,
			(unsigned long long)n, (unsigned long long)r->pos, (unsigned long long)r->size);
	r->err = SH_EFORMAT;
	return false;
}

/* a prefix ran out: n more bytes are needed at pos, and after them at least the bytes of the items
 * still to come (the element count and header counts were checked not to overflow this) */
__attribute__((noinline, cold))
static bool rd_short(reader *r, uint64_t n)
{
	uint64_t rest = 0, elems = 0, need;
	if (r->section == RD_KV)
		rest = (r->n_kv - r->index - 1) * GGUF_MIN_KV_BYTES + r->n_tensors * GGUF_MIN_TENSOR_BYTES;
	else if (r->section == RD_TENSOR_INFO)
		rest = (r->n_tensors - r->index - 1) * GGUF_MIN_TENSOR_BYTES;
	if (r->elem != UINT64_MAX)
		elems = (r->arr_n - r->elem - 1) * 8;
	if (!sh_add_ok(r->pos, n, &need) || !sh_add_ok(need, rest, &need) || !sh_add_ok(need, elems, &need))
		return rd_fail(r, SH_EFORMAT, "%llu bytes at byte %llu: more than any file holds", (unsigned long long)n,
			(unsigned long long)r->pos);
	r->need = need;
	r->err = SH_ERANGE;
	return false;
}

/* are n more bytes there? (pos <= size always holds, so size - pos cannot wrap) */
static inline bool rd_need(reader *r, uint64_t n)
{
	return n <= r->size - r->pos || (r->prefix ? rd_short(r, n) : rd_truncated(r, n));
}

static inline bool rd_u32(reader *r, uint32_t *out)
{
	if (!rd_need(r, 4))
		return false;
	memcpy(out, r->base + r->pos, 4);
	r->pos += 4;
	return true;
}

static inline bool rd_u64(reader *r, uint64_t *out)
{
	if (!rd_need(r, 8))
		return false;
	memcpy(out, r->base + r->pos, 8);
	r->pos += 8;
	return true;
}

/* a length-prefixed string; what: "key", "value", ... for messages; max_len: UINT64_MAX for none */
static bool rd_str(reader *r, gguf_str *out, const char *what, uint64_t max_len)
{
	uint64_t len, at = r->pos;
	if (!rd_u64(r, &len))
		return false;
	if (len > max_len)
		return rd_fail(r, SH_EFORMAT, "%s length %llu at byte %llu is not 1..%llu", what,
			(unsigned long long)len, (unsigned long long)at, (unsigned long long)max_len);
	if (len > r->size - r->pos && r->prefix)
		return rd_short(r, len);
	if (len > r->size - r->pos)
		return rd_fail(r, SH_EFORMAT, "%s length %llu at byte %llu runs past the end of the file (%llu bytes)",
			what, (unsigned long long)len, (unsigned long long)at, (unsigned long long)r->size);
	out->ptr = (const char *)r->base + r->pos;
	out->len = len;
	r->pos += len;
	return true;
}

static bool rd_name(reader *r, gguf_str *out, const char *what)
{
	if (!rd_str(r, out, what, GGUF_MAX_NAME))
		return false;
	if (out->len == 0)
		return rd_fail(r, SH_EFORMAT, "empty %s", what);
	return true;
}

/* ---------------------------------------------------------------- growable arrays, name sets */
/* makes room for one more element of *arr (count n, capacity *cap); elements are zeroed */
static bool array_reserve(reader *r, void **arr, uint64_t n, uint64_t *cap, size_t elem, uint64_t limit)
{
	if (n < *cap)
		return true;
	uint64_t new_cap = *cap ? *cap * 2 : GGUF_INITIAL_CAP;
	new_cap = SH_MIN(new_cap, limit);
	void *p = sh_alloc(new_cap * elem); /* new_cap <= file size / 14: no overflow */
	if (!p)
		return rd_fail_nomem(r);
	if (n)
		memcpy(p, *arr, n * elem);
	sh_free(*arr);
	*arr = p;
	*cap = new_cap;
	return true;
}

/* a multiply-xorshift hash eight bytes at a time (names are often tens of bytes) */
static uint64_t name_hash(gguf_str s)
{
	const uint64_t k = 0x9E3779B97F4A7C15ull;
	uint64_t h = s.len * k, x, i = 0;
	for (; i + 8 <= s.len; i += 8) {
		memcpy(&x, s.ptr + i, 8);
		h = (h ^ x) * k;
		h ^= h >> 29;
	}
	x = 0;
	memcpy(&x, s.ptr + i, s.len - i);
	h = (h ^ x) * k;
	return h ^ (h >> 32);
}

static bool str_same(gguf_str a, gguf_str b) { return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0; }

/* the names of n entries (stride bytes apart, first name at names) must be distinct; on a
 * duplicate, sets *dup_a < *dup_b to the two indices and returns false (r->err stays 0) */
static bool names_unique(reader *r, const void *names, size_t stride, uint64_t n, uint64_t *dup_a, uint64_t *dup_b)
{
	uint64_t slots = 16;
	while (slots < 2 * n)
		slots *= 2;
	uint64_t *set = sh_alloc(slots * sizeof *set); /* index + 1; 0 = empty */
	if (!set)
		return rd_fail_nomem(r);
	bool ok = false;
	for (uint64_t i = 0; i < n; i++) {
		gguf_str s = *(const gguf_str *)((const uint8_t *)names + i * stride);
		uint64_t h = name_hash(s) & (slots - 1);
		for (; set[h]; h = (h + 1) & (slots - 1)) {
			gguf_str t = *(const gguf_str *)((const uint8_t *)names + (set[h] - 1) * stride);
			if (str_same(s, t)) {
				*dup_a = set[h] - 1;
				*dup_b = i;
				goto out;
			}
		}
		set[h] = i + 1;
	}
	ok = true;
out:
	sh_free(set);
	return ok;
}

/* ---------------------------------------------------------------- key/value pairs */
static bool parse_scalar(reader *r, gguf_kv *kv)
{
	uint8_t b[8];
	if (!rd_need(r, vtype_size[kv->type]))
		return false;
	memcpy(b, r->base + r->pos, vtype_size[kv->type]);
	r->pos += vtype_size[kv->type];
	switch (kv->type) {
	case GGUF_T_UINT8: kv->v.u64 = b[0]; break;
	case GGUF_T_INT8: kv->v.i64 = (int8_t)b[0]; break;
	case GGUF_T_UINT16: { uint16_t x; memcpy(&x, b, 2); kv->v.u64 = x; break; }
	case GGUF_T_INT16: { int16_t x; memcpy(&x, b, 2); kv->v.i64 = x; break; }
	case GGUF_T_UINT32: { uint32_t x; memcpy(&x, b, 4); kv->v.u64 = x; break; }
	case GGUF_T_INT32: { int32_t x; memcpy(&x, b, 4); kv->v.i64 = x; break; }
	case GGUF_T_UINT64: memcpy(&kv->v.u64, b, 8); break;
	case GGUF_T_INT64: memcpy(&kv->v.i64, b, 8); break;
	case GGUF_T_FLOAT32: { float x; memcpy(&x, b, 4); kv->v.f64 = x; break; }
	case GGUF_T_FLOAT64: memcpy(&kv->v.f64, b, 8); break;
	case GGUF_T_BOOL:
		if (b[0] > 1)
			return rd_fail(r, SH_EFORMAT, "bool value %u is not 0 or 1", b[0]);
		kv->v.b = b[0] != 0;
		break;
	default: SH_ASSERT(!"not a scalar type");
	}
	return true;
}

static bool parse_array(reader *r, gguf_kv *kv)
{
	uint32_t t;
	uint64_t at = r->pos;
	if (!rd_u32(r, &t) || !rd_u64(r, &kv->arr_n))
		return false;
	if (t == GGUF_T_ARRAY)
		return rd_fail(r, SH_EUNSUP, "nested arrays are not supported");
	if (t >= GGUF_T_COUNT)
		return rd_fail(r, SH_EFORMAT, "unknown array element type %u at byte %llu", t, (unsigned long long)at);
	kv->arr_type = (enum gguf_vtype)t;
	kv->arr_data = r->base + r->pos;
	if (kv->arr_type == GGUF_T_STRING) {
		uint64_t least;
		if (r->prefix && !sh_mul_ok(kv->arr_n, 8, &least))
			return rd_fail(r, SH_EFORMAT, "string array of %llu elements cannot fit in any file",
				(unsigned long long)kv->arr_n);
		if (r->prefix && least > r->size - r->pos)
			return rd_short(r, least); /* each element takes 8 bytes at least */
		if (kv->arr_n > (r->size - r->pos) / 8)
			return rd_fail(r, SH_EFORMAT, "string array of %llu elements cannot fit in the %llu bytes left",
				(unsigned long long)kv->arr_n, (unsigned long long)(r->size - r->pos));
		if (kv->arr_n == 0)
			return true;
		uint64_t *off = sh_alloc(kv->arr_n * sizeof *off);
		if (!off)
			return rd_fail_nomem(r);
		kv->arr_str_off = off;
		r->arr_n = kv->arr_n;
		for (uint64_t i = 0; i < kv->arr_n; i++) {
			gguf_str s;
			off[i] = r->pos;
			r->elem = i;
			if (!rd_str(r, &s, "string", UINT64_MAX))
				return false;
		}
		r->elem = UINT64_MAX;
		return true;
	}
	uint64_t bytes;
	if (r->prefix && sh_mul_ok(kv->arr_n, vtype_size[t], &bytes) && bytes > r->size - r->pos)
		return rd_short(r, bytes);
	if (!sh_mul_ok(kv->arr_n, vtype_size[t], &bytes) || bytes > r->size - r->pos)
		return rd_fail(r, SH_EFORMAT, "%s array of %llu elements at byte %llu runs past the end of the file (%llu bytes)",
			gguf_vtype_name(kv->arr_type), (unsigned long long)kv->arr_n, (unsigned long long)r->pos,
			(unsigned long long)r->size);
	for (uint64_t i = 0; t == GGUF_T_BOOL && i < bytes; i++)
		if (kv->arr_data[i] > 1)
			return rd_fail(r, SH_EFORMAT, "bool element %llu is %u, not 0 or 1", (unsigned long long)i,
				kv->arr_data[i]);
	r->pos += bytes;
	return true;
}

static bool parse_kv(reader *r, gguf_kv *kv)
{
	uint32_t t;
	uint64_t at;
	if (!rd_name(r, &kv->key, "key"))
		return false;
	r->item = kv->key;
	at = r->pos;
	if (!rd_u32(r, &t))
		return false;
	if (t >= GGUF_T_COUNT)
		return rd_fail(r, SH_EFORMAT, "unknown value type %u at byte %llu", t, (unsigned long long)at);
	kv->type = (enum gguf_vtype)t;
	if (t == GGUF_T_STRING)
		return rd_str(r, &kv->v.str, "string value", UINT64_MAX);
	if (t == GGUF_T_ARRAY)
		return parse_array(r, kv);
	return parse_scalar(r, kv);
}

static bool parse_kvs(reader *r, gguf_ctx *g, uint64_t n_kv)
{
	uint64_t cap = 0;
	r->section = RD_KV;
	for (uint64_t i = 0; i < n_kv; i++) {
		r->index = i;
		r->item.len = 0;
		if (!array_reserve(r, (void **)&g->kv, i, &cap, sizeof *g->kv, n_kv))
			return false;
		g->n_kv = i + 1; /* so that gguf_free releases a half-parsed entry */
		if (!parse_kv(r, &g->kv[i]))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------- tensor infos */
static bool parse_tensor_info(reader *r, gguf_tensor *t)
{
	uint32_t n_dims, type;
	uint64_t n_el = 1, at;
	if (!rd_name(r, &t->name, "tensor name"))
		return false;
	r->item = t->name;
	if (!rd_u32(r, &n_dims))
		return false;
	if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
		return rd_fail(r, SH_EFORMAT, "n_dims %u is not 1..%d", n_dims, GGUF_MAX_DIMS);
	t->n_dims = (int)n_dims;
	for (int d = 0; d < GGUF_MAX_DIMS; d++) {
		uint64_t ne = 1;
		if ((uint32_t)d < n_dims && !rd_u64(r, &ne))
			return false;
		if (ne == 0 || ne > INT64_MAX)
			return rd_fail(r, SH_EFORMAT, "dimension %d is %llu", d, (unsigned long long)ne);
		if (!sh_mul_ok(n_el, ne, &n_el) || n_el > INT64_MAX)
			return rd_fail(r, SH_EFORMAT, "element count overflows at dimension %d", d);
		t->ne[d] = (int64_t)ne;
	}
	at = r->pos;
	if (!rd_u32(r, &type) || !rd_u64(r, &t->offset))
		return false;
	const quant_traits *qt = type < QT_GGML_COUNT ? quant_get((int)type) : NULL;
	if (!qt || qt->blck_size <= 0 || qt->type_size == 0) {
		char name[80];
		name_sanitize(t->name, name, sizeof name);
		return rd_fail(r, SH_EUNSUP, "unknown tensor type %u for tensor %s (byte %llu)", type, name,
			(unsigned long long)at);
	}
	t->type = (int)type;
	if (t->ne[0] % qt->blck_size)
		return rd_fail(r, SH_EFORMAT, "row length %lld is not a multiple of %s's block size %d",
			(long long)t->ne[0], qt->name, qt->blck_size);
	if (!sh_mul_ok(n_el / (uint64_t)qt->blck_size, qt->type_size, &t->size))
		return rd_fail(r, SH_EFORMAT, "byte size overflows");
	return true;
}

static bool parse_tensor_infos(reader *r, gguf_ctx *g, uint64_t n_tensors)
{
	uint64_t cap = 0;
	r->section = RD_TENSOR_INFO;
	for (uint64_t i = 0; i < n_tensors; i++) {
		r->index = i;
		r->item.len = 0;
		if (!array_reserve(r, (void **)&g->tensors, i, &cap, sizeof *g->tensors, n_tensors))
			return false;
		g->n_tensors = i + 1;
		if (!parse_tensor_info(r, &g->tensors[i]))
			return false;
	}
	return true;
}

/* duplicate keys or tensor names (checked last: the cheaper checks reject most bad files first) */
static bool check_unique(reader *r, gguf_ctx *g)
{
	uint64_t a, b;
	if (g->n_kv && !names_unique(r, &g->kv[0].key, sizeof *g->kv, g->n_kv, &a, &b)) {
		if (r->err)
			return false;
		r->section = RD_KV;
		r->index = b;
		r->item = g->kv[b].key;
		return rd_fail(r, SH_EFORMAT, "duplicate key (first defined by kv %llu)", (unsigned long long)a);
	}
	if (g->n_tensors && !names_unique(r, &g->tensors[0].name, sizeof *g->tensors, g->n_tensors, &a, &b)) {
		if (r->err)
			return false;
		r->section = RD_TENSOR_INFO;
		r->index = b;
		r->item = g->tensors[b].name;
		return rd_fail(r, SH_EFORMAT, "duplicate tensor name (first used by tensor info %llu)", (unsigned long long)a);
	}
	return true;
}

/* ---------------------------------------------------------------- data section */
static bool read_alignment(reader *r, gguf_ctx *g)
{
	const gguf_kv *kv = gguf_kv_find(g, "general.alignment");
	uint32_t a;
	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (!kv)
		return true;
	r->section = RD_KV;
	r->index = (uint64_t)(kv - g->kv);
	r->item = kv->key;
	if (!gguf_get_u32(g, "general.alignment", &a))
		return rd_fail(r, SH_EFORMAT, "alignment must be a uint32 (found %s)", gguf_vtype_name(kv->type));
	if (a == 0 || (a & (a - 1)))
		return rd_fail(r, SH_EFORMAT, "alignment %u is not a power of two", a);
	g->alignment = a;
	return true;
}

typedef struct { uint64_t start, end, index; } tensor_range;

static int range_cmp(const void *pa, const void *pb)
{
	const tensor_range *a = pa, *b = pb;
	return a->start < b->start ? -1 : a->start > b->start ? 1 : 0;
}

/* sorted by start, each tensor must end before the next begins */
static bool check_overlaps(reader *r, gguf_ctx *g)
{
	tensor_range *ranges = sh_alloc(g->n_tensors * sizeof *ranges);
	bool ok = true;
	if (!ranges)
		return rd_fail_nomem(r);
	for (uint64_t i = 0; i < g->n_tensors; i++)
		ranges[i] = (tensor_range){ g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].size, i };
	qsort(ranges, g->n_tensors, sizeof *ranges, range_cmp);
	for (uint64_t i = 1; i < g->n_tensors && ok; i++) {
		if (ranges[i].start < ranges[i - 1].end) {
			r->index = ranges[i].index;
			r->item = g->tensors[r->index].name;
			ok = rd_fail(r, SH_EFORMAT, "data [%llu, %llu) overlaps tensor %llu's [%llu, %llu)",
				(unsigned long long)ranges[i].start, (unsigned long long)ranges[i].end,
				(unsigned long long)ranges[i - 1].index, (unsigned long long)ranges[i - 1].start,
				(unsigned long long)ranges[i - 1].end);
		}
	}
	sh_free(ranges);
	return ok;
}

static bool place_tensors(reader *r, gguf_ctx *g)
{
	uint64_t data_offset;
	if (!sh_add_ok(r->pos, g->alignment - 1, &data_offset))
		return rd_fail(r, SH_EFORMAT, "data section offset overflows");
	data_offset &= ~(g->alignment - 1);
	/* a file without tensors may end right after its metadata, unpadded; a prefix has no end */
	g->data_offset = r->prefix ? data_offset : SH_MIN(data_offset, g->file_size);
	r->section = RD_TENSOR;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		gguf_tensor *t = &g->tensors[i];
		uint64_t start, end;
		r->index = i;
		r->item = t->name;
		if (t->offset & (g->alignment - 1))
			return rd_fail(r, SH_EFORMAT, "offset %llu is not a multiple of the alignment %llu",
				(unsigned long long)t->offset, (unsigned long long)g->alignment);
		if (!sh_add_ok(data_offset, t->offset, &start) || !sh_add_ok(start, t->size, &end))
			return rd_fail(r, SH_EFORMAT, "offset %llu + size %llu overflows",
				(unsigned long long)t->offset, (unsigned long long)t->size);
		if (r->prefix)
			continue; /* where the file ends is not known */
		if (end > g->file_size) {
			char where[128];
			rd_where(r, where, sizeof where);
			sh_log_error("%s: truncated: %s data ends at byte %llu of %llu", r->name, where,
				(unsigned long long)end, (unsigned long long)g->file_size);
			r->err = SH_EFORMAT;
			return false;
		}
		t->data = g->base + start;
	}
	return check_overlaps(r, g);
}

/* ---------------------------------------------------------------- open / free */
static bool parse_header(reader *r, gguf_ctx *g, uint64_t *n_tensors, uint64_t *n_kv)
{
	uint32_t magic, version;
	r->section = RD_HEADER;
	if (!rd_u32(r, &magic))
		return false;
	if (memcmp(&magic, GGUF_MAGIC, 4) != 0)
		return rd_fail(r, SH_EFORMAT, "not a GGUF file (bad magic %02x %02x %02x %02x)",
			magic & 0xff, (magic >> 8) & 0xff, (magic >> 16) & 0xff, magic >> 24);
	if (!rd_u32(r, &version))
		return false;
	if (version == 1)
		return rd_fail(r, SH_EUNSUP, "GGUF version 1 is not supported (convert the model again)");
	if (version == 0x02000000u || version == 0x03000000u)
		return rd_fail(r, SH_EUNSUP, "big-endian GGUF is not supported");
	if (version != 2 && version != 3)
		return rd_fail(r, SH_EUNSUP, "unsupported GGUF version %u", version);
	g->version = (int)version;
	if (!rd_u64(r, n_tensors) || !rd_u64(r, n_kv))
		return false;
	if (r->prefix) { /* the file's size is not known: the least header these counts make must be possible */
		uint64_t kvs, tensors, least;
		if (!sh_mul_ok(*n_kv, GGUF_MIN_KV_BYTES, &kvs) || !sh_mul_ok(*n_tensors, GGUF_MIN_TENSOR_BYTES, &tensors) ||
		    !sh_add_ok(kvs, tensors, &least) || !sh_add_ok(least, r->pos, &least))
			return rd_fail(r, SH_EFORMAT, "n_kv %llu and n_tensors %llu cannot fit in any file",
				(unsigned long long)*n_kv, (unsigned long long)*n_tensors);
		r->n_kv = *n_kv;
		r->n_tensors = *n_tensors;
		return true;
	}
	uint64_t left = r->size - r->pos;
	if (*n_kv > left / GGUF_MIN_KV_BYTES)
		return rd_fail(r, SH_EFORMAT, "n_kv %llu cannot fit in a file of %llu bytes",
			(unsigned long long)*n_kv, (unsigned long long)r->size);
	left -= *n_kv * GGUF_MIN_KV_BYTES;
	if (*n_tensors > left / GGUF_MIN_TENSOR_BYTES)
		return rd_fail(r, SH_EFORMAT, "n_tensors %llu cannot fit in a file of %llu bytes",
			(unsigned long long)*n_tensors, (unsigned long long)r->size);
	return true;
}

/* a whole file of size bytes; or, with prefix, its first size bytes (then a ctx whose tensors have
 * no data, or NULL and SH_ERANGE with *need; nothing logged) */
static gguf_ctx *gguf_parse(const uint8_t *base, uint64_t size, const char *name, bool prefix, int *err, uint64_t *need)
{
	reader r = { .base = base, .size = size, .name = name, .elem = UINT64_MAX, .prefix = prefix };
	uint64_t n_tensors = 0, n_kv = 0;
	gguf_ctx *g = sh_alloc(sizeof *g);
	if (!g) {
		r.err = SH_ENOMEM;
		goto fail;
	}
	g->base = base;
	g->file_size = g->total_size = size;
	g->n_parts = 1;
	g->path = sh_alloc(strlen(name) + 1);
	if (!g->path) {
		r.err = SH_ENOMEM;
		goto fail;
	}
	memcpy(g->path, name, strlen(name) + 1);
	if (!parse_header(&r, g, &n_tensors, &n_kv) || !parse_kvs(&r, g, n_kv) ||
	    !parse_tensor_infos(&r, g, n_tensors) || !read_alignment(&r, g) || !place_tensors(&r, g) ||
	    !check_unique(&r, g))
		goto fail;
	if (prefix && g->data_offset > size) { /* the padding before the data is not all there */
		r.need = g->data_offset;
		r.err = SH_ERANGE;
		goto fail;
	}
	if (err)
		*err = SH_OK;
	return g;
fail:
	if (err)
		*err = r.err;
	if (need)
		*need = r.err == SH_ERANGE ? r.need : 0;
	gguf_free(g);
	return NULL;
}

gguf_ctx *gguf_open_buffer(const void *buf, uint64_t size, const char *name, int *err)
{
	static const uint8_t empty[1];
	if (!name)
		name = "<buffer>";
	if (!buf && size) {
		sh_log_error("%s: NULL buffer of %llu bytes", name, (unsigned long long)size);
		if (err)
			*err = SH_EINVAL;
		return NULL;
	}
	return gguf_parse(buf ? buf : empty, size, name, false, err, NULL);
}

int gguf_header_size(const void *buf, size_t len, uint64_t *need)
{
	static const uint8_t empty[1];
	int err;
	*need = 0;
	if (!buf && len)
		return SH_EINVAL;
	gguf_ctx *g = gguf_parse(buf ? buf : empty, len, "<header>", true, &err, need);
	if (!g)
		return err;
	*need = g->data_offset;
	gguf_free(g);
	return SH_OK;
}

static gguf_ctx *open_one(const char *path, int *err)
{
	static const uint8_t empty[1];
	struct stat st;
	void *map = NULL;
	gguf_ctx *g = NULL;
	int e = SH_EIO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sh_log_error("%s: cannot open: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) != 0) {
		sh_log_error("%s: cannot stat: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		sh_log_error("%s: not a regular file", path);
		goto fail;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		sh_log_error("%s: too large to map (%llu bytes)", path, (unsigned long long)st.st_size);
		goto fail;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			map = NULL;
			sh_log_error("%s: cannot map %llu bytes: %s", path, (unsigned long long)st.st_size, strerror(errno));
			goto fail;
		}
	}
	close(fd);
	fd = -1;
	g = gguf_parse(map ? map : empty, (uint64_t)st.st_size, path, false, &e, NULL);
	if (!g)
		goto fail;
	g->mapped = map != NULL;
	if (err)
		*err = SH_OK;
	return g;
fail:
	if (fd >= 0)
		close(fd);
	if (map)
		munmap(map, (size_t)st.st_size);
	if (err)
		*err = e;
	return NULL;
}

/* ---------------------------------------------------------------- split sets */
#define SPLIT_SUFFIX_LEN 20 /* "-00001-of-00003.gguf" */

bool gguf_split_parts(const char *name, int *no, int *count)
{
	size_t n = strlen(name);
	if (n <= SPLIT_SUFFIX_LEN)
		return false;
	const char *t = name + n - SPLIT_SUFFIX_LEN;
	if (t[0] != '-' || memcmp(t + 6, "-of-", 4) || strcmp(t + 15, ".gguf"))
		return false;
	for (int i = 0; i < 5; i++)
		if (!isdigit((unsigned char)t[1 + i]) || !isdigit((unsigned char)t[10 + i]))
			return false;
	*no = atoi(t + 1);
	*count = atoi(t + 10);
	return *no >= 1 && *no <= *count;
}

void gguf_split_path(const char *prefix, int no, int count, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s-%05d-of-%05d.gguf", prefix, no, count);
}

/* the path of part no of the set that part (a name ending in -0000k-of-0000N.gguf) belongs to,
 * malloc'd (the same length as part's); NULL if out of memory */
static char *split_sibling(const char *part, int no, int count)
{
	size_t n = strlen(part);
	char *prefix = sh_alloc(n + 1), *path = sh_alloc(n + 1);
	if (prefix && path) {
		memcpy(prefix, part, n - SPLIT_SUFFIX_LEN);
		gguf_split_path(prefix, no, count, path, n + 1);
	} else {
		sh_free(path);
		path = NULL;
	}
	sh_free(prefix);
	return path;
}

/* g's split keys: 0 when g is no part of a set (no split.count, or 0 or 1: one whole file), 1 when
 * it is (*no from 0, *count, *total tensors over the set), SH_EFORMAT (logged) when they are bad */
static int split_keys(const gguf_ctx *g, uint32_t *no, uint32_t *count, int64_t *total)
{
	char bad[96];
	if (!gguf_kv_find(g, GGUF_KEY_SPLIT_COUNT))
		return 0;
	if (!gguf_get_u32(g, GGUF_KEY_SPLIT_COUNT, count) || *count > GGUF_SPLIT_MAX)
		snprintf(bad, sizeof bad, "%s is not an integer of 0..%d", GGUF_KEY_SPLIT_COUNT, GGUF_SPLIT_MAX);
	else if (*count <= 1)
		return 0;
	else if (!gguf_get_u32(g, GGUF_KEY_SPLIT_NO, no) || *no >= *count)
		snprintf(bad, sizeof bad, "%s is missing or not below %s %u", GGUF_KEY_SPLIT_NO, GGUF_KEY_SPLIT_COUNT, *count);
	else if (!gguf_get_i64(g, GGUF_KEY_SPLIT_TENSORS, total) || *total < 0 || *total > INT32_MAX)
		snprintf(bad, sizeof bad, "%s is missing or not an integer of 0..2^31-1", GGUF_KEY_SPLIT_TENSORS);
	else
		return 1;
	sh_log_error("%s: a part of a split model, but %s", g->path, bad);
	return SH_EFORMAT;
}

/* the part (1-based) that entry i of a joined table of g (part 1) and parts comes from */
static int split_part_of(const gguf_ctx *g, gguf_ctx *const *parts, uint64_t i)
{
	int k = 1;
	for (uint64_t end = g->n_tensors; i >= end; k++)
		end += parts[k - 1]->n_tensors;
	return k;
}

/* opens parts 2..count beside g (part 1, already checked to say split.no 0) and, when each is
 * the part it should be and no tensor is in two of them, joins their tensor tables into g's */
static int split_join(gguf_ctx *g, uint32_t count, int64_t n_total)
{
	int no1, count1;
	if (!gguf_split_parts(g->path, &no1, &count1) || no1 != 1 || count1 != (int)count) {
		sh_log_error("%s: part 1 of a split model of %u parts, but not named PREFIX-00001-of-%05u.gguf", g->path,
			     count, count);
		return SH_EFORMAT;
	}
	gguf_ctx **parts = sh_alloc((count - 1) * sizeof *parts);
	gguf_tensor *t = NULL;
	uint64_t n = g->n_tensors, size = g->file_size;
	uint32_t np = 0; /* parts opened: parts[0 .. np) are parts 2 .. np + 1 */
	int rc = parts ? SH_OK : SH_ENOMEM;
	for (uint32_t k = 2; !rc && k <= count; k++) {
		char *path = split_sibling(g->path, (int)k, (int)count);
		uint32_t no = 0, c = 0;
		int64_t total = 0;
		if (!path)
			rc = SH_ENOMEM;
		else if (access(path, F_OK) != 0) {
			sh_log_error("%s: part %u of the split model is missing: %s", g->path, k, path);
			rc = SH_EIO;
		} else if ((parts[np] = open_one(path, &rc)) != NULL) {
			gguf_ctx *p = parts[np++];
			int s = split_keys(p, &no, &c, &total);
			if (s < 0)
				rc = s;
			else if (s == 0) {
				sh_log_error("%s: not a part of a split model (no %s above 1), but named part %u of %s", path,
					     GGUF_KEY_SPLIT_COUNT, k, g->path);
				rc = SH_EFORMAT;
			} else if (no != k - 1 || c != count || total != n_total) {
				sh_log_error("%s: not part %u of %u of %s: %s %u, %s %u, %s %lld (part 1: %u, %u, %lld)", path, k,
					     count, g->path, GGUF_KEY_SPLIT_NO, no, GGUF_KEY_SPLIT_COUNT, c, GGUF_KEY_SPLIT_TENSORS,
					     (long long)total, k - 1, count, (long long)n_total);
				rc = SH_EFORMAT;
			} else if (!sh_add_ok(size, p->file_size, &size)) {
				sh_log_error("%s: the parts of the split model exceed 2^64 bytes", g->path);
				rc = SH_EFORMAT;
			} else
				n += p->n_tensors; /* each part's count is below its size: no overflow */
		}
		sh_free(path);
	}
	if (!rc && n != (uint64_t)n_total) {
		sh_log_error("%s: the %u parts hold %llu tensors, but %s is %lld", g->path, count, (unsigned long long)n,
			     GGUF_KEY_SPLIT_TENSORS, (long long)n_total);
		rc = SH_EFORMAT;
	}
	if (!rc && !(t = sh_alloc((n ? n : 1) * sizeof *t)))
		rc = SH_ENOMEM;
	if (!rc) {
		uint64_t at = 0, a, b;
		for (uint32_t k = 0; k < count; k++) { /* all parts are open: np == count - 1 */
			const gguf_ctx *p = k ? parts[k - 1] : g;
			if (p->n_tensors) /* a part may hold none (and then has no table) */
				memcpy(t + at, p->tensors, p->n_tensors * sizeof *t);
			at += p->n_tensors;
		}
		reader r = { .name = g->path };
		if (n && !names_unique(&r, &t[0].name, sizeof *t, n, &a, &b)) {
			char name[80];
			name_sanitize(t[b].name, name, sizeof name);
			if (!(rc = r.err)) {
				sh_log_error("%s: tensor %s is in two parts of the split model, %d and %d", g->path, name,
					     split_part_of(g, parts, a), split_part_of(g, parts, b));
				rc = SH_EFORMAT;
			}
		}
	}
	if (rc) {
		sh_free(t);
		for (uint32_t k = 0; k < np; k++)
			gguf_free(parts[k]);
		sh_free(parts);
		return rc;
	}
	sh_free(g->tensors);
	g->tensors = t;
	g->n_tensors = n;
	g->total_size = size;
	g->n_parts = (int)count;
	g->parts = parts;
	return SH_OK;
}

gguf_ctx *gguf_open(const char *path, int *err)
{
	int e;
	gguf_ctx *g = open_one(path, &e);
	uint32_t no = 0, count = 0;
	int64_t total = 0;
	int split = g ? split_keys(g, &no, &count, &total) : 0;
	if (split == 1 && no != 0) {
		int pno, pcount;
		char *first = gguf_split_parts(path, &pno, &pcount) ? split_sibling(path, 1, (int)count) : NULL;
		sh_log_error("%s: part %u of %u of a split model: open its part 1 (%s)", path, no + 1, count,
			     first ? first : "PREFIX-00001-of-...gguf");
		sh_free(first);
		e = SH_EINVAL;
	} else if (split == 1)
		e = split_join(g, count, total);
	else if (split < 0)
		e = split;
	if (split && e) {
		gguf_free(g);
		g = NULL;
	}
	if (err)
		*err = e;
	return g;
}

void gguf_free(gguf_ctx *g)
{
	if (!g)
		return;
	for (int k = 0; g->parts && k < g->n_parts - 1; k++)
		gguf_free(g->parts[k]);
	sh_free(g->parts);
	for (uint64_t i = 0; i < g->n_kv; i++)
		sh_free((void *)g->kv[i].arr_str_off);
	sh_free(g->kv);
	sh_free(g->tensors);
	if (g->mapped)
		munmap((void *)g->base, g->file_size);
	sh_free(g->path);
	sh_free(g);
}

/* ---------------------------------------------------------------- lookups and getters */
bool gguf_str_eq(gguf_str s, const char *c)
{
	size_t n = strlen(c);
	return s.len == n && memcmp(s.ptr, c, n) == 0;
}

const gguf_kv *gguf_kv_find(const gguf_ctx *g, const char *key)
{
	for (uint64_t i = 0; i < g->n_kv; i++)
		if (gguf_str_eq(g->kv[i].key, key))
			return &g->kv[i];
	return NULL;
}

const gguf_tensor *gguf_tensor_find(const gguf_ctx *g, const char *name)
{
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if (gguf_str_eq(g->tensors[i].name, name))
			return &g->tensors[i];
	return NULL;
}

static bool vtype_is_unsigned(enum gguf_vtype t)
{
	return t == GGUF_T_UINT8 || t == GGUF_T_UINT16 || t == GGUF_T_UINT32 || t == GGUF_T_UINT64;
}

static bool vtype_is_signed(enum gguf_vtype t)
{
	return t == GGUF_T_INT8 || t == GGUF_T_INT16 || t == GGUF_T_INT32 || t == GGUF_T_INT64;
}

bool gguf_get_u32(const gguf_ctx *g, const char *key, uint32_t *out)
{
	const gguf_kv *kv = gguf_kv_find(g, key);
	if (!kv)
		return false;
	if (vtype_is_unsigned(kv->type) && kv->v.u64 <= UINT32_MAX) {
		*out = (uint32_t)kv->v.u64;
		return true;
	}
	if (vtype_is_signed(kv->type) && kv->v.i64 >= 0 && kv->v.i64 <= (int64_t)UINT32_MAX) {
		*out = (uint32_t)kv->v.i64;
		return true;
	}
	return false;
}

bool gguf_get_i64(const gguf_ctx *g, const char *key, int64_t *out)
{
	const gguf_kv *kv = gguf_kv_find(g, key);
	if (!kv)
		return false;
	if (vtype_is_signed(kv->type)) {
		*out = kv->v.i64;
		return true;
	}
	if (vtype_is_unsigned(kv->type) && kv->v.u64 <= INT64_MAX) {
		*out = (int64_t)kv->v.u64;
		return true;
	}
	return false;
}

bool gguf_get_f32(const gguf_ctx *g, const char *key, float *out)
{
	const gguf_kv *kv = gguf_kv_find(g, key);
	if (!kv || (kv->type != GGUF_T_FLOAT32 && kv->type != GGUF_T_FLOAT64))
		return false;
	*out = (float)kv->v.f64;
	return true;
}

bool gguf_get_bool(const gguf_ctx *g, const char *key, bool *out)
{
	const gguf_kv *kv = gguf_kv_find(g, key);
	if (!kv || kv->type != GGUF_T_BOOL)
		return false;
	*out = kv->v.b;
	return true;
}

bool gguf_get_str(const gguf_ctx *g, const char *key, gguf_str *out)
{
	const gguf_kv *kv = gguf_kv_find(g, key);
	if (!kv || kv->type != GGUF_T_STRING)
		return false;
	*out = kv->v.str;
	return true;
}

gguf_str gguf_arr_str(const gguf_ctx *g, const gguf_kv *kv, uint64_t i)
{
	SH_ASSERT(kv->type == GGUF_T_ARRAY && kv->arr_type == GGUF_T_STRING && i < kv->arr_n);
	gguf_str s;
	memcpy(&s.len, g->base + kv->arr_str_off[i], 8);
	s.ptr = (const char *)g->base + kv->arr_str_off[i] + 8;
	return s;
}

/* t's bytes lie inside p's file */
static bool tensor_in(const gguf_ctx *p, const gguf_tensor *t)
{
	uintptr_t d = (uintptr_t)t->data, b = (uintptr_t)p->base;
	return d >= b && t->size <= p->file_size && d - b <= p->file_size - t->size;
}

void gguf_tensor_prefetch(const gguf_ctx *g, const gguf_tensor *t)
{
	const gguf_ctx *p = g; /* the part whose mapping holds t */
	for (int k = 0; !tensor_in(p, t); k++) {
		if (k == g->n_parts - 1)
			return; /* not g's tensor: nothing to advise */
		p = g->parts[k];
	}
	if (!p->mapped)
		return;
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)t->data & ~(page - 1);
	uintptr_t end = (uintptr_t)t->data + t->size;
	madvise((void *)start, end - start, MADV_WILLNEED); /* advice only: failure is harmless */
}
