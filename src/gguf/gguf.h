/*
 * gguf.h - reading (over mmap) and writing GGUF v2/v3 files.
 *
 * The reader maps the file read-only and validates everything before exposing it: every count,
 * string length, array length, tensor dimension, type, offset and alignment is checked against the
 * file size and against overflow. A bad file yields NULL and one error line naming the file and
 * what is wrong. After gguf_open succeeds, every pointer handed out lies inside a mapping.
 * Strings returned point into the mapping and are NOT NUL-terminated: use gguf_str (ptr + len).
 *
 * Split models, as llama.cpp's gguf-split writes them, open as one. The parts are named
 * PREFIX-00001-of-0000N.gguf .. PREFIX-0000N-of-0000N.gguf (5 digits, from 1) and each is a whole
 * GGUF file carrying split.no (u16, from 0), split.count (u16, N) and split.tensors.count (i32, over
 * all parts); part 1 holds the model's metadata (it may hold no tensors), the others only the split
 * keys, and each tensor lives in exactly one part, its offset relative to that part's data section.
 * gguf_open on part 1 (a split.count above 1) opens every sibling part beside it, validates each as
 * a file and as the part it should be (split.no its position, the same split.count and
 * split.tensors.count, every part present, the tensors adding up, no name in two parts) and joins
 * their tensor tables in part order: tensors[i].data points into its own part's mapping. kvs are
 * part 1's. Opening any other part is an error naming part 1. gguf_open_buffer reads one file only
 * (the split keys of a part are then plain kvs). The split keys are read as any integer type that
 * fits (as the other getters do); a split.count of 0 or 1 (gguf-split --merge leaves 0) is one file.
 *
 * The writer builds metadata and tensor descriptions in memory, then streams the file out with
 * tensor data supplied by the caller (synth uses this to write multi-GB files without holding them).
 */
#ifndef SHOAL_GGUF_H
#define SHOAL_GGUF_H

#include "base/base.h"

enum gguf_vtype {
	GGUF_T_UINT8 = 0, GGUF_T_INT8 = 1, GGUF_T_UINT16 = 2, GGUF_T_INT16 = 3, GGUF_T_UINT32 = 4,
	GGUF_T_INT32 = 5, GGUF_T_FLOAT32 = 6, GGUF_T_BOOL = 7, GGUF_T_STRING = 8, GGUF_T_ARRAY = 9,
	GGUF_T_UINT64 = 10, GGUF_T_INT64 = 11, GGUF_T_FLOAT64 = 12, GGUF_T_COUNT
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct { const char *ptr; uint64_t len; } gguf_str;

typedef struct {
	gguf_str key;
	enum gguf_vtype type;
	/* scalar: the value, decoded; array: arr_type, arr_n, arr_data (raw little-endian elements;
	 * for string arrays arr_data points at the first length prefix, use gguf_arr_str) */
	union { uint64_t u64; int64_t i64; double f64; bool b; gguf_str str; } v;
	enum gguf_vtype arr_type;
	uint64_t arr_n;
	const uint8_t *arr_data;
	const uint64_t *arr_str_off; /* string arrays: offsets (from file start) of each element's length prefix */
} gguf_kv;

typedef struct {
	gguf_str name;
	int n_dims;
	int64_t ne[GGUF_MAX_DIMS];   /* ne[0] innermost (row length); unused dims are 1 */
	int type;                    /* enum quant_type */
	uint64_t offset;             /* relative to the data section */
	uint64_t size;               /* bytes */
	const void *data;            /* inside the mapping */
} gguf_tensor;

#define GGUF_KEY_SPLIT_NO "split.no"           /* u16, from 0 */
#define GGUF_KEY_SPLIT_COUNT "split.count"     /* u16 */
#define GGUF_KEY_SPLIT_TENSORS "split.tensors.count" /* i32, over all parts */
#define GGUF_SPLIT_MAX 9999 /* parts of a set we open or write (each is a mapping) */

typedef struct gguf_ctx {
	char *path;
	int version;
	const uint8_t *base;   /* mapping (a split set: part 1's) */
	uint64_t file_size;    /* bytes of this file (a split set: of part 1; see total_size) */
	uint64_t alignment;
	uint64_t data_offset;  /* start of the tensor data section */
	uint64_t n_kv, n_tensors;
	gguf_kv *kv;
	gguf_tensor *tensors;
	bool mapped;           /* base is our own mapping (gguf_open), unmapped by gguf_free */
	uint64_t total_size;   /* bytes of the model: file_size, or the sum over a split set's parts */
	int n_parts;           /* 1, or the split set's count */
	/* a split set: parts 2..n_parts, each with its own mapping, kvs and tensors (already in this
	 * ctx's joined table), freed with it; NULL for one file */
	struct gguf_ctx **parts;
} gguf_ctx;

/* Opens and validates (part 1 of a split set: every part, see above). On failure returns NULL,
 * logs "PATH: what is wrong", *err (if non-NULL) gets the SH_E* code: SH_EIO (cannot open/map; a
 * missing part), SH_EFORMAT (malformed or truncated; also duplicate keys or tensor names, keys/names
 * of 0 or >= 64 KiB bytes, overlapping tensors, parts that do not make one set), SH_EUNSUP (an
 * unknown tensor type, GGUF v1 or big-endian files, nested arrays), SH_EINVAL (a part other than 1). */
gguf_ctx *gguf_open(const char *path, int *err);
/* Same, over a caller-owned buffer (fuzzing, tests); the buffer must outlive the ctx. */
gguf_ctx *gguf_open_buffer(const void *buf, uint64_t size, const char *name, int *err);
void gguf_free(gguf_ctx *g);

/* The length of a GGUF file's header (everything before the tensor data: the offset where data
 * starts, alignment padding included) from its first len bytes, without trusting them: SH_OK and
 * *need when the header ends within buf; SH_ERANGE and *need > len (at least the bytes still
 * unread ones must be read to learn more) when buf ends inside it; SH_EFORMAT when it cannot be a
 * GGUF header (checked as gguf_open checks: magic, version, counts, lengths, types), SH_EUNSUP for
 * what gguf_open does not support (GGUF v1, big-endian, unknown tensor types, nested arrays). need
 * is a lower bound of the header's length: reading up to it never reads past the header. Logs
 * nothing (a prefix running out is no error; the caller names the file when it is not a header). */
int gguf_header_size(const void *buf, size_t len, uint64_t *need);

const gguf_kv *gguf_kv_find(const gguf_ctx *g, const char *key);
/* typed getters: return false if missing or of an incompatible type (integers convert between
 * widths when the value fits; floats from FLOAT32/FLOAT64) */
bool gguf_get_u32(const gguf_ctx *g, const char *key, uint32_t *out);
bool gguf_get_i64(const gguf_ctx *g, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_ctx *g, const char *key, float *out);
bool gguf_get_bool(const gguf_ctx *g, const char *key, bool *out);
bool gguf_get_str(const gguf_ctx *g, const char *key, gguf_str *out);
/* array element access (bounds-checked by the caller against kv->arr_n) */
gguf_str gguf_arr_str(const gguf_ctx *g, const gguf_kv *kv, uint64_t i);
bool gguf_str_eq(gguf_str s, const char *c);

const gguf_tensor *gguf_tensor_find(const gguf_ctx *g, const char *name);
/* Asks the kernel to fault in a tensor's pages (in its part's mapping) ahead of use (madvise
 * WILLNEED); a no-op for gguf_open_buffer contexts and for tensors not of g. */
void gguf_tensor_prefetch(const gguf_ctx *g, const gguf_tensor *t);

/* Whether name (a file name or path) is named as a part of a split set, PREFIX-00002-of-00003.gguf
 * with a non-empty PREFIX and 1 <= number <= count: then true, *no = its number (from 1) and
 * *count. The set's prefix is name without its last 20 characters ("-00002-of-00003.gguf"), so
 * gguf_split_path(prefix, k, *count, ...) for k = 1..*count names every part (a downloader's list).
 * Only the name is looked at; the count is not limited to GGUF_SPLIT_MAX here. */
bool gguf_split_parts(const char *name, int *no, int *count);
/* PREFIX-0000k-of-0000N.gguf (no and count printed as 5 digits, from 1) into buf (truncated to cap) */
void gguf_split_path(const char *prefix, int no, int count, char *buf, size_t cap);

const char *gguf_vtype_name(enum gguf_vtype t);
/* bytes of one value of a fixed-size type; 0 for STRING, ARRAY and unknown types */
size_t gguf_vtype_size(enum gguf_vtype t);

/* ---------------------------------------------------------------- writer */
/* Setters and add_tensor never fail visibly: the first bad argument or allocation failure is
 * logged and remembered, and gguf_writer_write returns it. Setting an existing key replaces it. */
typedef struct gguf_writer gguf_writer;
gguf_writer *gguf_writer_init(void);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
void gguf_writer_set_u8(gguf_writer *w, const char *key, uint8_t v);
void gguf_writer_set_i8(gguf_writer *w, const char *key, int8_t v);
void gguf_writer_set_u16(gguf_writer *w, const char *key, uint16_t v);
void gguf_writer_set_i16(gguf_writer *w, const char *key, int16_t v);
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_set_i64(gguf_writer *w, const char *key, int64_t v);
void gguf_writer_set_f64(gguf_writer *w, const char *key, double v);
/* arrays: n elements of a numeric or bool type (raw little-endian values), or n C strings */
void gguf_writer_set_arr(gguf_writer *w, const char *key, enum gguf_vtype type, uint64_t n, const void *data);
void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
/* copies a kv (any type, including arrays) from an open file, e.g. the tokenizer of a vocab gguf */
void gguf_writer_copy_kv(gguf_writer *w, const gguf_ctx *src, const gguf_kv *kv);
/* declares a tensor; data is produced later by the fill callback, in declaration order */
void gguf_writer_add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne);
/* fill(user, tensor_index, buf, size) writes exactly size bytes of tensor tensor_index into buf;
 * returns 0 or a negative error (which write returns). Writes GGUF v3 with alignment 32 to
 * PATH.part and renames it to PATH when complete; on failure no file is left. */
typedef int (*gguf_fill_fn)(void *user, int idx, void *buf, uint64_t size);
int gguf_writer_write(gguf_writer *w, const char *path, gguf_fill_fn fill, void *user);
/* The same as a split set of n_parts (1..GGUF_SPLIT_MAX, at most one per tensor) files
 * PREFIX-0000k-of-0000N.gguf that gguf_open of part 1 (and llama.cpp) loads as the one file: the
 * tensors in declaration order, about the same bytes a part, at least one tensor each; part 1 has
 * all kvs then split.no, split.count, split.tensors.count, later parts only those three (w must not
 * set them itself: SH_EINVAL). Each part goes through PART.part and a rename; on failure none of the
 * set's parts written is left. */
int gguf_writer_write_split(gguf_writer *w, const char *prefix, int n_parts, gguf_fill_fn fill, void *user);

#endif
