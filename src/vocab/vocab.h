/*
 * vocab.h - tokenizers from GGUF metadata, special tokens, streaming detokenization.
 *
 * A vocab is built once from a model's tokenizer.* keys and is read-only afterwards (shared by
 * every request; every function here is safe to call from many threads at once). Two models:
 * - SPM (`tokenizer.ggml.model = llama`): pieces use U+2581 for a space, a dummy prefix space is
 *   added unless tokenizer.ggml.add_space_prefix is false, merges are chosen by score, and bytes
 *   with no piece fall back to <0xXX> tokens (spm.c);
 * - BPE (`gpt2`): byte-level (GPT-2 bytes-to-unicode), the text first cut by the pre-tokenizer
 *   regexes tokenizer.ggml.pre names, then merges by rank from tokenizer.ggml.merges (bpe.c).
 */
#ifndef SHOAL_VOCAB_H
#define SHOAL_VOCAB_H

#include "base/base.h"
#include "gguf/gguf.h"

enum vocab_kind { VOCAB_SPM = 1, VOCAB_BPE = 2 };
/* tokenizer.ggml.token_type values */
enum { VOCAB_TT_NORMAL = 1, VOCAB_TT_UNKNOWN = 2, VOCAB_TT_CONTROL = 3, VOCAB_TT_USER_DEFINED = 4,
       VOCAB_TT_UNUSED = 5, VOCAB_TT_BYTE = 6 };

typedef struct vocab vocab;

/* NULL on failure (logged: missing/malformed tokenizer keys, unsupported tokenizer model, an
 * unknown BPE pre-tokenizer name: SH_EUNSUP) */
vocab *vocab_load(const gguf_ctx *g, int *err);
/* the i-th tokenizer.ggml.pre name BPE vocabs may use (0, 1, ...); NULL past the last */
const char *vocab_bpe_pre_name(int i);
void vocab_free(vocab *v);

int vocab_n_tokens(const vocab *v);
int vocab_bos(const vocab *v);            /* -1 if none */
int vocab_eos(const vocab *v);
bool vocab_add_bos(const vocab *v);       /* tokenizer.ggml.add_bos_token (default: SPM true; BPE
					   * true for the Llama 3 family, tekken, chameleon, else false) */
bool vocab_is_eog(const vocab *v, int id);/* eos, eot, im_end, ... : generation stops here */

/* Tokenizes text[0..len). add_bos prepends BOS when the vocab has one. parse_special: control and
 * user-defined tokens written in the text are matched as themselves.
 * Writes at most max ids to out; returns the total count (may exceed max: call again with more
 * room), or a negative error. */
int vocab_tokenize(const vocab *v, const char *text, size_t len, bool add_bos, bool parse_special,
		   int *out, int max);
/* The same into a malloc'd array (*out, freed by the caller; at least one element). */
int vocab_tokenize_alloc(const vocab *v, const char *text, size_t len, bool add_bos, bool parse_special,
			 int **out);
/* A rendered chat prompt: special tokens parsed, BOS as the vocab adds it unless the template
 * already wrote it (a doubled BOS at the start is collapsed to one). Result as vocab_tokenize_alloc. */
int vocab_tokenize_chat(const vocab *v, const char *text, size_t len, int **out);

/* The bytes a token decodes to (SPM: U+2581 -> ' ', <0xXX> -> that byte; BPE: byte-level
 * characters -> their bytes, so a piece may be part of a UTF-8 character; control tokens -> ""
 * unless special). Returns the length written (<= size), or -needed if size is too small. An id out of
 * range decodes to nothing (0, logged), here and in vocab_stream_push. */
int vocab_token_to_piece(const vocab *v, int id, bool special, char *buf, int size);

/* Streaming detokenizer: feed ids one at a time; it emits only complete UTF-8 characters and
 * holds back an incomplete tail; the concatenation of all output equals the full decode.
 * The leading space the SPM dummy prefix produced is dropped from the first piece after BOS
 * (SPM only: BPE has no dummy prefix, its spaces are the text's own). */
typedef struct {
	const vocab *v;
	char tail[8];
	int n_tail;
	bool at_start;
} vocab_stream;
void vocab_stream_init(vocab_stream *s, const vocab *v);
/* appends decoded text for id to out (capacity cap); returns bytes written or -needed */
int vocab_stream_push(vocab_stream *s, int id, char *out, int cap);
/* flushes a held-back incomplete tail (as is); returns bytes written */
int vocab_stream_flush(vocab_stream *s, char *out, int cap);

#endif
