/*
 * vocab.c - loading a vocab from GGUF tokenizer.* keys, the text -> id table, special tokens,
 * tokenize dispatch, token -> piece and the streaming detokenizer.
 *
 * Loading copies and validates everything (array types and lengths, token types, byte-token
 * spelling, special ids in range), so the rest of the module trusts the struct. Tokenizing is
 * llama.cpp's: with parse_special, the text is first cut at occurrences of special tokens
 * (longest token text first, each token's occurrences left to right inside the pieces still
 * raw); each raw fragment then goes to the model's tokenizer (spm.c or bpe.c), with the SPM
 * dummy prefix at the start and after each special token. Differences from llama.cpp, on
 * purpose: user-defined tokens are matched only with parse_special (llama.cpp matches them
 * always), and the per-model lstrip/rstrip attributes (phi-3) are not applied.
 *
 * Defaults by model: SPM (`llama`) has unk 0, bos 1, eos 2, adds BOS and a dummy prefix; BPE
 * (`gpt2`) has no default special ids, never a dummy prefix (so the streaming detokenizer never
 * drops a leading space), and adds BOS by its pre-tokenizer's default (see bpe.c); the
 * tokenizer.ggml.* keys override all of these except the BPE dummy prefix.
 *
 * The text -> id table is open addressing with linear probing over a power-of-two array of ids
 * (load <= 1/2), hashed with FNV-1a; duplicate texts keep the last id, as llama.cpp does.
 */
#define _GNU_SOURCE /* memmem */
#include "vocab/vocab_impl.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- text -> id table */
static inline uint32_t hash_bytes(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static inline const char *tok_text(const vocab *v, int id, uint32_t *n)
{
	*n = v->text_off[id + 1] - v->text_off[id];
	return v->text + v->text_off[id];
}

int vocab_find(const vocab *v, const char *s, size_t n)
{
	for (uint32_t i = hash_bytes(s, n) & v->map_mask;; i = (i + 1) & v->map_mask) {
		int id = v->map[i];
		if (id < 0)
			return -1;
		uint32_t tn;
		const char *t = tok_text(v, id, &tn);
		if (tn == n && memcmp(t, s, n) == 0)
			return id;
	}
}

static int map_build(vocab *v)
{
	uint32_t cap = 16;
	while (cap < 2u * (uint32_t)v->n_tokens)
		cap *= 2;
	v->map = sh_alloc(cap * sizeof *v->map);
	if (!v->map)
		return SH_ENOMEM;
	memset(v->map, 0xff, cap * sizeof *v->map);
	v->map_mask = cap - 1;
	for (int id = 0; id < v->n_tokens; id++) {
		uint32_t n;
		const char *s = tok_text(v, id, &n);
		uint32_t i = hash_bytes(s, n) & v->map_mask;
		for (; v->map[i] >= 0; i = (i + 1) & v->map_mask) {
			uint32_t tn;
			const char *t = tok_text(v, v->map[i], &tn);
			if (tn == n && memcmp(t, s, n) == 0)
				break;
		}
		v->map[i] = id;
	}
	return SH_OK;
}

/* ---------------------------------------------------------------- loading */
/* the array kv `key` with elements of type `et`: NULL if absent; *bad set if present but wrong */
static const gguf_kv *find_array(const gguf_ctx *g, const char *key, enum gguf_vtype et, uint64_t n,
				 bool *bad)
{
	const gguf_kv *kv = gguf_kv_find(g, key);
	if (!kv)
		return NULL;
	if (kv->type != GGUF_T_ARRAY || kv->arr_type != et || (n && kv->arr_n != n)) {
		if (n)
			sh_log_error("%s: %s must be an array of %" PRIu64 " %s", g->path, key, n, gguf_vtype_name(et));
		else
			sh_log_error("%s: %s must be an array of %s", g->path, key, gguf_vtype_name(et));
		*bad = true;
		return NULL;
	}
	return kv;
}

/* a special token id: absent -> def; present but not an integer -> error; out of range -> -1 */
static int get_id(const gguf_ctx *g, const char *key, int def, int n_tokens, int *out)
{
	int64_t id = def;
	if (gguf_kv_find(g, key) && !gguf_get_i64(g, key, &id)) {
		sh_log_error("%s: %s is not an integer", g->path, key);
		return SH_EFORMAT;
	}
	if (id >= n_tokens || id < -1) {
		sh_log_warn("%s: %s = %" PRId64 " is out of range (%d tokens), ignored", g->path, key, id, n_tokens);
		id = -1;
	}
	*out = (int)id;
	return SH_OK;
}

static int get_flag(const gguf_ctx *g, const char *key, bool def, bool *out)
{
	*out = def;
	if (gguf_kv_find(g, key) && !gguf_get_bool(g, key, out)) {
		sh_log_error("%s: %s is not a bool", g->path, key);
		return SH_EFORMAT;
	}
	return SH_OK;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* builds v->piece: the bytes each token decodes to */
static int pieces_build(vocab *v, const char *path)
{
	/* a decoded piece is never longer than its text (U+2581 shrinks, <0xXX> shrinks, a byte-level
	 * character is 1 or 2 bytes for one) */
	v->piece = sh_alloc(v->text_off[v->n_tokens] + 1);
	v->piece_off = sh_alloc(((size_t)v->n_tokens + 1) * sizeof *v->piece_off);
	if (!v->piece || !v->piece_off)
		return SH_ENOMEM;
	uint32_t pos = 0;
	for (int id = 0; id < v->n_tokens; id++) {
		uint32_t n;
		const char *s = tok_text(v, id, &n);
		v->piece_off[id] = pos;
		if (v->kind == VOCAB_BPE && (v->type[id] == VOCAB_TT_NORMAL || v->type[id] == VOCAB_TT_BYTE)) {
			pos += bpe_decode_text(s, n, v->piece + pos);
			continue;
		}
		switch (v->type[id]) {
		case VOCAB_TT_NORMAL:
			for (uint32_t i = 0; i < n; i++) {
				if (i + 2 < n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
					v->piece[pos++] = ' ';
					i += 2;
				} else {
					v->piece[pos++] = s[i];
				}
			}
			break;
		case VOCAB_TT_BYTE: {
			int hi = n == 6 ? hex_digit(s[3]) : -1, lo = n == 6 ? hex_digit(s[4]) : -1;
			if (hi < 0 || lo < 0 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') {
				sh_log_error("%s: byte token %d is '%.*s', not <0xXX>", path, id, (int)n, s);
				return SH_EFORMAT;
			}
			v->piece[pos++] = (char)(hi * 16 + lo);
			break;
		}
		case VOCAB_TT_UNKNOWN:
		case VOCAB_TT_CONTROL:
		case VOCAB_TT_USER_DEFINED:
			memcpy(v->piece + pos, s, n);
			pos += n;
			break;
		default: /* undefined, unused: decode to nothing, as llama.cpp */
			break;
		}
	}
	v->piece_off[v->n_tokens] = pos;
	return SH_OK;
}

static int special_cmp_len(const vocab *v, int a, int b)
{
	uint32_t na = v->text_off[a + 1] - v->text_off[a], nb = v->text_off[b + 1] - v->text_off[b];
	if (na != nb)
		return na > nb ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* the tokens parse_special matches, longest text first (insertion sort: there are few) */
static int specials_build(vocab *v)
{
	int n = 0;
	for (int id = 0; id < v->n_tokens; id++)
		if (v->type[id] == VOCAB_TT_CONTROL || v->type[id] == VOCAB_TT_USER_DEFINED ||
		    v->type[id] == VOCAB_TT_UNKNOWN)
			n += v->text_off[id + 1] > v->text_off[id];
	v->special = sh_alloc((size_t)SH_MAX(n, 1) * sizeof *v->special);
	if (!v->special)
		return SH_ENOMEM;
	for (int id = 0; id < v->n_tokens; id++) {
		if (!(v->type[id] == VOCAB_TT_CONTROL || v->type[id] == VOCAB_TT_USER_DEFINED ||
		      v->type[id] == VOCAB_TT_UNKNOWN) || v->text_off[id + 1] == v->text_off[id])
			continue;
		int j = v->n_special++;
		for (; j > 0 && special_cmp_len(v, id, v->special[j - 1]) < 0; j--)
			v->special[j] = v->special[j - 1];
		v->special[j] = id;
	}
	return SH_OK;
}

static void eog_build(vocab *v)
{
	static const char *const eog_texts[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
						 "<|endoftext|>" };
	for (size_t i = 0; i < SH_ARRAY_LEN(eog_texts); i++) {
		int id = vocab_find(v, eog_texts[i], strlen(eog_texts[i]));
		if (id < 0)
			continue;
		v->flags[id] |= VOCAB_F_EOG;
	}
	if (v->eos >= 0)
		v->flags[v->eos] |= VOCAB_F_EOG;
	if (v->eot >= 0)
		v->flags[v->eot] |= VOCAB_F_EOG;
}

/* what every tokenizer model has: token texts, scores, types, the text -> id table, pieces */
static int load_tokens(vocab *v, const gguf_ctx *g)
{
	bool bad = false;
	const gguf_kv *tokens = find_array(g, "tokenizer.ggml.tokens", GGUF_T_STRING, 0, &bad);
	if (!tokens) {
		if (!bad)
			sh_log_error("%s: no tokenizer.ggml.tokens", g->path);
		return SH_EFORMAT;
	}
	if (tokens->arr_n == 0 || tokens->arr_n > INT32_MAX / 4) {
		sh_log_error("%s: tokenizer.ggml.tokens has %" PRIu64 " entries", g->path, tokens->arr_n);
		return SH_EFORMAT;
	}
	int n = v->n_tokens = (int)tokens->arr_n;
	const gguf_kv *scores = find_array(g, "tokenizer.ggml.scores", GGUF_T_FLOAT32, (uint64_t)n, &bad);
	const gguf_kv *types = find_array(g, "tokenizer.ggml.token_type", GGUF_T_INT32, (uint64_t)n, &bad);
	if (bad)
		return SH_EFORMAT;

	/* texts */
	uint64_t total = 0;
	for (int id = 0; id < n; id++)
		total += gguf_arr_str(g, tokens, (uint64_t)id).len;
	if (total >= UINT32_MAX / 2) {
		sh_log_error("%s: token texts total %" PRIu64 " bytes", g->path, total);
		return SH_EFORMAT;
	}
	v->text = sh_alloc(total + 1);
	v->text_off = sh_alloc(((size_t)n + 1) * sizeof *v->text_off);
	v->score = sh_alloc((size_t)n * sizeof *v->score);
	v->type = sh_alloc((size_t)n);
	v->flags = sh_alloc((size_t)n);
	if (!v->text || !v->text_off || !v->score || !v->type || !v->flags)
		return SH_ENOMEM;
	uint32_t pos = 0;
	for (int id = 0; id < n; id++) {
		gguf_str s = gguf_arr_str(g, tokens, (uint64_t)id);
		v->text_off[id] = pos;
		memcpy(v->text + pos, s.ptr, s.len);
		pos += (uint32_t)s.len;
		if (scores)
			memcpy(&v->score[id], scores->arr_data + 4 * (size_t)id, 4);
		int32_t t = VOCAB_TT_NORMAL;
		if (types)
			memcpy(&t, types->arr_data + 4 * (size_t)id, 4);
		if (t < 0 || t > VOCAB_TT_BYTE) {
			sh_log_error("%s: token %d has token_type %d", g->path, id, (int)t);
			return SH_EFORMAT;
		}
		v->type[id] = (uint8_t)t;
		if (t == VOCAB_TT_CONTROL || t == VOCAB_TT_UNKNOWN)
			v->flags[id] |= VOCAB_F_SPECIAL;
	}
	v->text_off[n] = pos;

	int rc;
	if ((rc = map_build(v)) < 0 || (rc = pieces_build(v, g->path)) < 0 || (rc = specials_build(v)) < 0)
		return rc;
	return SH_OK;
}

static int load_spm(vocab *v, const gguf_ctx *g)
{
	int rc, n = v->n_tokens;
	/* llama.cpp's SPM defaults: unk 0, bos 1, eos 2, add BOS, dummy prefix */
	if ((rc = get_id(g, "tokenizer.ggml.bos_token_id", 1, n, &v->bos)) < 0 ||
	    (rc = get_id(g, "tokenizer.ggml.eos_token_id", 2, n, &v->eos)) < 0 ||
	    (rc = get_id(g, "tokenizer.ggml.unknown_token_id", 0, n, &v->unk)) < 0 ||
	    (rc = get_id(g, "tokenizer.ggml.eot_token_id", -1, n, &v->eot)) < 0 ||
	    (rc = get_flag(g, "tokenizer.ggml.add_bos_token", true, &v->add_bos)) < 0 ||
	    (rc = get_flag(g, "tokenizer.ggml.add_space_prefix", true, &v->add_space_prefix)) < 0)
		return rc;

	for (int b = 0; b < 256; b++) {
		char hex[6];
		static const char digits[] = "0123456789ABCDEF";
		memcpy(hex, "<0x", 3);
		hex[3] = digits[b >> 4];
		hex[4] = digits[b & 15];
		hex[5] = '>';
		char one = (char)b;
		int id = vocab_find(v, hex, 6);
		if (id < 0)
			id = vocab_find(v, &one, 1);
		v->byte_tok[b] = id >= 0 ? id : v->unk;
	}

	v->spm_words = true;
	for (int id = 0; id < n; id++) {
		uint32_t tn, i = 0;
		const char *t = tok_text(v, id, &tn);
		while (i + 3 <= tn && memcmp(t + i, "\xe2\x96\x81", 3) == 0)
			i += 3;
		if (memmem(t + i, tn - i, "\xe2\x96\x81", 3))
			v->spm_words = false;
	}
	return SH_OK;
}

/* BPE: no defaults for the special ids (llama.cpp's 11 is a Falcon leftover), no dummy prefix
 * (the key is ignored: byte-level BPE spells the space itself), BOS by the pre-tokenizer unless
 * tokenizer.ggml.add_bos_token says otherwise */
static int load_bpe(vocab *v, const gguf_ctx *g)
{
	int rc, n = v->n_tokens;
	bool add_bos_default;
	if ((rc = get_id(g, "tokenizer.ggml.bos_token_id", -1, n, &v->bos)) < 0 ||
	    (rc = get_id(g, "tokenizer.ggml.eos_token_id", -1, n, &v->eos)) < 0 ||
	    (rc = get_id(g, "tokenizer.ggml.unknown_token_id", -1, n, &v->unk)) < 0 ||
	    (rc = get_id(g, "tokenizer.ggml.eot_token_id", -1, n, &v->eot)) < 0 ||
	    (rc = bpe_load(v, g, &add_bos_default)) < 0 ||
	    (rc = get_flag(g, "tokenizer.ggml.add_bos_token", add_bos_default, &v->add_bos)) < 0)
		return rc;
	v->add_space_prefix = false;
	return SH_OK;
}

vocab *vocab_load(const gguf_ctx *g, int *err)
{
	int rc = SH_EINVAL;
	vocab *v = NULL;
	gguf_str model;
	if (!g)
		goto fail;
	if (!gguf_get_str(g, "tokenizer.ggml.model", &model)) {
		sh_log_error("%s: no tokenizer.ggml.model string", g->path);
		rc = SH_EFORMAT;
		goto fail;
	}
	enum vocab_kind kind = gguf_str_eq(model, "llama") ? VOCAB_SPM : gguf_str_eq(model, "gpt2") ? VOCAB_BPE : 0;
	if (!kind) {
		sh_log_error("%s: tokenizer model '%.*s' is not supported", g->path,
			     (int)SH_MIN(model.len, 64u), model.ptr);
		rc = SH_EUNSUP;
		goto fail;
	}
	rc = SH_ENOMEM;
	if (!(v = sh_alloc(sizeof *v)))
		goto fail;
	v->kind = kind;
	if ((rc = load_tokens(v, g)) < 0 || (rc = kind == VOCAB_SPM ? load_spm(v, g) : load_bpe(v, g)) < 0)
		goto fail;
	eog_build(v);
	if (err)
		*err = SH_OK;
	return v;
fail:
	vocab_free(v);
	if (err)
		*err = rc;
	return NULL;
}

void vocab_free(vocab *v)
{
	if (!v)
		return;
	sh_free(v->text);
	sh_free(v->text_off);
	sh_free(v->piece);
	sh_free(v->piece_off);
	sh_free(v->score);
	sh_free(v->type);
	sh_free(v->flags);
	sh_free(v->map);
	sh_free(v->special);
	bpe_free(v->bpe);
	sh_free(v);
}

/* ---------------------------------------------------------------- queries */
int vocab_n_tokens(const vocab *v) { return v->n_tokens; }
int vocab_bos(const vocab *v) { return v->bos; }
int vocab_eos(const vocab *v) { return v->eos; }
bool vocab_add_bos(const vocab *v) { return v->add_bos && v->bos >= 0; }

bool vocab_is_eog(const vocab *v, int id)
{
	return id >= 0 && id < v->n_tokens && (v->flags[id] & VOCAB_F_EOG);
}

/* ---------------------------------------------------------------- tokenize */
typedef struct {
	int tok;            /* special token id, or -1 for raw text */
	size_t off, len;    /* raw text: bytes [off, off+len) of the input */
} vocab_frag;

typedef struct {
	vocab_frag *a;
	size_t n, cap;
} frag_list;

static int frag_add(frag_list *l, int tok, size_t off, size_t len)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		vocab_frag *a = sh_alloc(cap * sizeof *a);
		if (!a)
			return SH_ENOMEM;
		if (l->n)
			memcpy(a, l->a, l->n * sizeof *a);
		sh_free(l->a);
		l->a = a;
		l->cap = cap;
	}
	l->a[l->n++] = (vocab_frag){ tok, off, len };
	return SH_OK;
}

/* cuts the raw fragments of *cur at every occurrence of each special token, longest first */
static int partition(const vocab *v, const char *text, frag_list *cur, frag_list *next)
{
	for (int s = 0; s < v->n_special; s++) {
		int id = v->special[s];
		uint32_t tn;
		const char *t = tok_text(v, id, &tn);
		next->n = 0;
		for (size_t f = 0; f < cur->n; f++) {
			vocab_frag fr = cur->a[f];
			size_t pos = fr.off, end = fr.off + fr.len;
			while (fr.tok < 0 && end - pos >= tn) {
				const char *m = memmem(text + pos, end - pos, t, tn);
				if (!m)
					break;
				size_t at = (size_t)(m - text);
				if ((at > pos && frag_add(next, -1, pos, at - pos) < 0) || frag_add(next, id, 0, 0) < 0)
					return SH_ENOMEM;
				pos = at + tn;
			}
			if (fr.tok >= 0) {
				if (frag_add(next, fr.tok, 0, 0) < 0)
					return SH_ENOMEM;
			} else if (pos < end && frag_add(next, -1, pos, end - pos) < 0) {
				return SH_ENOMEM;
			}
		}
		frag_list tmp = *cur;
		*cur = *next;
		*next = tmp;
	}
	return SH_OK;
}

int vocab_tokenize(const vocab *v, const char *text, size_t len, bool add_bos, bool parse_special,
		   int *out, int max)
{
	if (!v || (len && !text) || max < 0 || (max && !out))
		return SH_EINVAL;
	if (len > INT_MAX / 4 - 4) {
		sh_log_error("vocab: text of %zu bytes is too long to tokenize", len);
		return SH_ERANGE;
	}
	vocab_out o = { out, max, 0 };
	if (add_bos && v->bos >= 0)
		vocab_out_push(&o, v->bos);
	if (len == 0)
		return o.n;

	int rc = SH_OK;
	frag_list cur = { 0 }, next = { 0 };
	if ((rc = frag_add(&cur, -1, 0, len)) < 0)
		goto out;
	if (parse_special && (rc = partition(v, text, &cur, &next)) < 0)
		goto out;
	bool prev_special = true;
	for (size_t f = 0; f < cur.n; f++) {
		if (cur.a[f].tok >= 0) {
			vocab_out_push(&o, cur.a[f].tok);
			prev_special = true;
			continue;
		}
		if (v->kind == VOCAB_BPE)
			rc = bpe_tokenize(v, text + cur.a[f].off, cur.a[f].len, &o);
		else
			rc = spm_tokenize(v, text + cur.a[f].off, cur.a[f].len, v->add_space_prefix && prev_special, &o);
		if (rc < 0)
			goto out;
		prev_special = false;
	}
	rc = o.n;
out:
	sh_free(cur.a);
	sh_free(next.a);
	return rc;
}

int vocab_tokenize_alloc(const vocab *v, const char *text, size_t len, bool add_bos, bool parse_special,
			 int **out)
{
	*out = NULL;
	int n = vocab_tokenize(v, text, len, add_bos, parse_special, NULL, 0);
	if (n < 0)
		return n;
	int *ids = malloc(sizeof(int) * ((size_t)n + 1));
	if (!ids)
		return SH_ENOMEM;
	int m = vocab_tokenize(v, text, len, add_bos, parse_special, ids, n);
	if (m != n) {
		free(ids);
		return m < 0 ? m : SH_EINVAL;
	}
	*out = ids;
	return n;
}

int vocab_tokenize_chat(const vocab *v, const char *text, size_t len, int **out)
{
	int n = vocab_tokenize_alloc(v, text, len, vocab_add_bos(v), true, out);
	if (n >= 2 && (*out)[0] == v->bos && (*out)[1] == v->bos)
		memmove(*out, *out + 1, sizeof(int) * (size_t)--n);
	return n;
}

/* ---------------------------------------------------------------- decode */
static inline const char *tok_piece(const vocab *v, int id, bool special, uint32_t *n)
{
	*n = (!special && (v->flags[id] & VOCAB_F_SPECIAL)) ? 0 : v->piece_off[id + 1] - v->piece_off[id];
	return v->piece + v->piece_off[id];
}

/* an id out of range decodes to nothing (a negative return would read as "needs more room") */
static bool id_ok(const vocab *v, int id)
{
	if (id >= 0 && id < v->n_tokens)
		return true;
	sh_log_warn("vocab: token id %d out of range (%d tokens)", id, v->n_tokens);
	return false;
}

int vocab_token_to_piece(const vocab *v, int id, bool special, char *buf, int size)
{
	if (!id_ok(v, id))
		return 0;
	uint32_t n;
	const char *p = tok_piece(v, id, special, &n);
	if ((int64_t)n > size)
		return -(int)n;
	if (n)
		memcpy(buf, p, n);
	return (int)n;
}

void vocab_stream_init(vocab_stream *s, const vocab *v)
{
	memset(s, 0, sizeof *s);
	s->v = v;
	s->at_start = true;
}

/* length of the incomplete UTF-8 sequence ending s[0..n) (0 if the end is complete or invalid) */
static int utf8_incomplete_tail(const char *s, int n)
{
	for (int back = 1; back <= 3 && back <= n; back++) {
		uint8_t c = (uint8_t)s[n - back];
		if ((c & 0xC0) == 0x80)
			continue; /* continuation byte: keep looking for the lead */
		int need = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 1;
		return need > back ? back : 0;
	}
	return 0;
}

int vocab_stream_push(vocab_stream *s, int id, char *out, int cap)
{
	if (!id_ok(s->v, id))
		return 0;
	uint32_t n;
	const char *p = tok_piece(s->v, id, false, &n);
	bool first = s->at_start && n > 0;
	if (first && s->v->add_space_prefix && p[0] == ' ') {
		p++;
		n--;
	}
	/* the pending bytes are tail + piece; all of it but an incomplete final character goes out */
	char last[8];
	int n_last = 0;
	int total = s->n_tail + (int)n;
	if (n >= 4) {
		n_last = utf8_incomplete_tail(p, (int)n);
		memcpy(last, p + n - n_last, (size_t)n_last);
	} else {
		memcpy(last, s->tail, (size_t)s->n_tail);
		memcpy(last + s->n_tail, p, n);
		int k = s->n_tail + (int)n;
		n_last = utf8_incomplete_tail(last, k);
		memmove(last, last + k - n_last, (size_t)n_last);
	}
	int emit = total - n_last;
	if (emit > cap)
		return -emit;
	/* tail first, then the piece, minus the held-back end */
	int w = SH_MIN(s->n_tail, emit);
	if (w)
		memcpy(out, s->tail, (size_t)w);
	if (emit > w)
		memcpy(out + w, p, (size_t)(emit - w));
	memcpy(s->tail, last, (size_t)n_last);
	s->n_tail = n_last;
	if (first)
		s->at_start = false;
	return emit;
}

int vocab_stream_flush(vocab_stream *s, char *out, int cap)
{
	int n = s->n_tail;
	if (n > cap)
		return -n;
	if (n)
		memcpy(out, s->tail, (size_t)n);
	s->n_tail = 0;
	return n;
}
