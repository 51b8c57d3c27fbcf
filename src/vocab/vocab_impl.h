/*
 * vocab_impl.h - the vocab's internals, shared by vocab.c (loading, lookup, special-token
 * partitioning, decoding) and the per-model tokenizers (spm.c, bpe.c).
 *
 * Everything is copied out of the GGUF at load time, so a vocab outlives the file it came from.
 * Token texts are stored twice: `text` as written in the file (what tokenize matches against),
 * and `piece` as decoded (what token_to_piece returns: SPM U+2581 -> ' ', <0xXX> -> the byte;
 * BPE the GPT-2 byte-level characters -> their bytes), so decoding a token is one memcpy.
 */
#ifndef SHOAL_VOCAB_IMPL_H
#define SHOAL_VOCAB_IMPL_H

#include "vocab/vocab.h"

/* vocab.flags[id] bits */
enum {
	VOCAB_F_EOG = 1,
	VOCAB_F_SPECIAL = 2,  /* control/unknown: decodes to "" unless special */
	VOCAB_F_BPE_WORD = 4, /* BPE: merging this token's bytes gives this token (bpe.c) */
};

struct vocab {
	enum vocab_kind kind;
	int n_tokens;
	char *text;            /* [text_off[n_tokens]] token texts as in the file, concatenated */
	uint32_t *text_off;    /* [n_tokens + 1] */
	char *piece;           /* [piece_off[n_tokens]] decoded pieces, concatenated */
	uint32_t *piece_off;   /* [n_tokens + 1] */
	float *score;          /* [n_tokens] SPM merge score (0 if the file has none) */
	uint8_t *type;         /* [n_tokens] VOCAB_TT_* (0 = undefined) */
	uint8_t *flags;        /* [n_tokens] VOCAB_F_* */

	int32_t *map;          /* [map_mask + 1] text -> id, open addressing, -1 = empty */
	uint32_t map_mask;

	int byte_tok[256];     /* byte -> SPM: its <0xXX> token (or the 1-byte token); BPE: the token of
				* its byte-level character; else unk, or -1 */
	int *special;          /* [n_special] ids parse_special matches, longest text first */
	int n_special;

	int bos, eos, eot, unk; /* -1 if none */
	bool add_bos;
	bool add_space_prefix;
	bool spm_words;        /* no token has a U+2581 after anything but U+2581s at its start, so no
				* token spans the start of a word (a U+2581 after a non-U+2581) and
				* spm.c may tokenize word by word with the same result */
	struct bpe_model *bpe; /* BPE only (bpe.c): pre-tokenizer regexes and merge ranks */
};

/* id of the token whose file text is exactly s[0..n), or -1 */
int vocab_find(const vocab *v, const char *s, size_t n);

/* Growable id output of one tokenize call: counts every id, stores the first `max`. */
typedef struct {
	int *out;
	int max;
	int n;
} vocab_out;

static inline void vocab_out_push(vocab_out *o, int id)
{
	if (o->n < o->max)
		o->out[o->n] = id;
	o->n++;
}

/* SPM (spm.c): tokenizes one fragment of raw text (no special tokens in it), appending ids.
 * Returns 0 or a negative error. */
int spm_tokenize(const vocab *v, const char *text, size_t len, bool add_prefix, vocab_out *o);

/* BPE (bpe.c). bpe_load reads tokenizer.ggml.pre and tokenizer.ggml.merges into v->bpe and fills
 * v->byte_tok (needs texts, types, map and unk loaded); *add_bos_default is the pre-tokenizer's
 * BOS default (llama.cpp's: true for the Llama 3 family). Returns 0 or a negative error. */
int bpe_load(vocab *v, const gguf_ctx *g, bool *add_bos_default);
void bpe_free(struct bpe_model *m);
/* tokenizes one fragment of raw text (no special tokens in it), appending ids */
int bpe_tokenize(const vocab *v, const char *text, size_t len, vocab_out *o);
/* decodes a byte-level token text s[0..n) into out (at most n bytes); returns the length */
uint32_t bpe_decode_text(const char *s, uint32_t n, char *out);

#endif
