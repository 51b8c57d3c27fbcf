/*
 * jsonc.h - structured output by constrained decoding: the tokens that cannot extend a valid JSON
 * text (any object, or a value of a JSON Schema) are masked out at every step, so the output
 * always parses and validates, whatever the model's weights are.
 *
 * Three objects, each built once and read-only afterwards, so they are shared across threads:
 *   jsonc_vocab   the vocabulary as byte strings (a trie of them, plus per-token tables of how a
 *                 token runs inside a JSON string), once per model;
 *   jsonc         a compiled constraint (json_object mode, or a schema), once per request or per
 *                 distinct schema;
 * and one mutable jsonc_state per generation (not shared; jsonc_state_clone copies one).
 *
 * Per step the caller asks for the mask, sets the logits of the forbidden tokens to -inf, samples,
 * and accepts the token:
 *
 *   jsonc_mask(st, v, mask);        mask[i] = 1: token i may come next
 *   ... sample among mask[i] = 1 ...
 *   jsonc_accept(st, v, token);
 *
 * Until the value is complete the end tokens (EOS/EOT) are masked; once it is complete only they
 * are allowed (the caller may also stop right away when jsonc_done is true).
 *
 * The bound is the request's token budget: a state made with a budget of B tokens allows a token
 * only if the value can still be completed in the tokens left after it (counting one token per
 * byte, as a vocabulary with byte fallback can always do), so whatever is drawn among the allowed
 * tokens, the value is complete within B tokens, and then only end tokens are allowed. This holds
 * when B >= jsonc_min_tokens (the caller refuses a smaller max_tokens) and the vocabulary has a
 * one-byte token for each byte the shortest completions use (byte fallback: all of them); else
 * jsonc_mask may come to SH_ERANGE, never to a wrong token. The fixed limits below are only
 * safety nets (number digits, nesting and whitespace are bounded by them alone). What is
 * generated, precisely (the schema keywords, the choices made where a schema allows more, the
 * whitespace policy) is in docs/architecture.md, "Structured output".
 *
 * Errors are negative SH_E* codes (base.h); nothing here logs or exits.
 */
#ifndef SHOAL_JSONC_H
#define SHOAL_JSONC_H

#include <jansson.h>

#include "base/base.h"

/* bounds of the output besides the token budget (a schema's own smaller bounds apply where it has
 * them); the 16-bit counters of the machine hold them */
#define JSONC_MAX_DEPTH 32        /* values nested one in another (a container and its item: 2) */
#define JSONC_MAX_STRING 65535    /* characters (code points) of a string without maxLength */
#define JSONC_MAX_KEY 65535       /* characters of a key of a free-form object */
#define JSONC_MAX_ITEMS 65535     /* items of an array without maxItems (or minItems, if more) */
#define JSONC_MAX_MEMBERS 65535   /* members of a free-form object without maxProperties */
#define JSONC_MAX_VALUES 65535    /* optional items and free-form members in one output, in all */
#define JSONC_MAX_WS 20           /* whitespace bytes between two tokens of structure */
/* bounds of a schema (it is untrusted input: an HTTP body) */
#define JSONC_MAX_SCHEMA_DEPTH 64 /* nesting of schemas, $refs followed included */
#define JSONC_MAX_NODES 4096      /* compiled nodes */
#define JSONC_MAX_LITERALS (1 << 20) /* bytes of enum/const values and property names, in all */
/* tokens longer than this many bytes are never allowed */
#define JSONC_MAX_TOKEN 1024

/* ---------------------------------------------------------------- the vocabulary */
typedef struct jsonc_vocab jsonc_vocab;

/* Token i is the bytes[i][0..lens[i]) the detokenizer emits for it (vocab_token_to_piece with
 * special = false: UTF-8 pieces, parts of characters, single raw bytes); is_end[i] marks the ids
 * that end generation (vocab_is_eog). Tokens of no bytes that do not end generation (control
 * tokens) are never allowed. The bytes are copied. NULL on failure, *err = SH_EINVAL (bad
 * arguments) or SH_ENOMEM. */
jsonc_vocab *jsonc_vocab_init(int n_tokens, const char *const *bytes, const int *lens, const bool *is_end,
			      int *err);
void jsonc_vocab_free(jsonc_vocab *v);
int jsonc_vocab_n_tokens(const jsonc_vocab *v);

/* ---------------------------------------------------------------- the constraint */
typedef struct jsonc jsonc;

/* Compiles schema (a JSON Schema: an object, or true), or NULL for any JSON object
 * (response_format json_object). An unsupported keyword or a malformed or unsatisfiable schema:
 * NULL, *err = SH_EINVAL and a message in msg[0..cap) naming the keyword and where it is (a JSON
 * pointer into the schema), e.g. "unsupported JSON Schema keyword 'patternProperties' at
 * /properties/a". SH_ENOMEM when out of memory. msg may be NULL (cap 0). */
jsonc *jsonc_compile(const json_t *schema, char *msg, size_t cap, int *err);
void jsonc_free(jsonc *c);
/* the fewest tokens an output of c can take: the bytes of its shortest value (one token per byte,
 * the worst case); INT_MAX when that does not fit an int. A budget below it cannot be met. */
int jsonc_min_tokens(const jsonc *c);

/* ---------------------------------------------------------------- one generation */
typedef struct jsonc_state jsonc_state;

/* a state at the start of the output (c must outlive it) that may take budget tokens that do not
 * end generation (each jsonc_accept of one uses one); budget <= 0: no budget, only the limits
 * above. NULL when out of memory. */
jsonc_state *jsonc_state_init(const jsonc *c, int budget);
jsonc_state *jsonc_state_clone(const jsonc_state *s);
void jsonc_state_free(jsonc_state *s);

/* mask[0..n_tokens) = 1 for the tokens that may come next (within the budget), 0 for the others.
 * Returns how many are allowed (> 0), or SH_ERANGE when no token of v can continue the output (a
 * vocabulary that lacks the pieces the constraint needs, or a budget below jsonc_min_tokens: the
 * caller ends the request with an error), SH_ENOMEM.
 * v must be the vocabulary every call of this state uses. */
int jsonc_mask(jsonc_state *s, const jsonc_vocab *v, uint8_t *mask);
/* advances by the token's bytes and uses one token of the budget: 0, or SH_EINVAL when the token
 * is not allowed (the state is then unchanged), SH_ENOMEM. An end token is allowed once the value
 * is complete and changes nothing. */
int jsonc_accept(jsonc_state *s, const jsonc_vocab *v, int token);
/* a complete value has been produced: an end token may come now (for an object, array or string
 * nothing else may; a number at the root may still take digits) */
bool jsonc_done(const jsonc_state *s);

#endif
