/*
 * hub_ref.h - model references: the names by which a model is pulled from a Hugging Face hub.
 *
 *   ORG/REPO                      the repo's Q4_K_M file, else its smallest of at least 4 bits
 *   ORG/REPO:QUANT                the .gguf file whose name holds QUANT (case-insensitive)
 *   ORG/REPO/PATH/FILE.gguf       that file
 *   hf.co/…, huggingface.co/…     the same, Ollama's spelling (also with https://)
 *
 * Parsing is pure (no file system, no network) and total: a string is a reference or it is not,
 * and what makes it not one is said. Names keep the hub's rules: ORG and REPO of [A-Za-z0-9._-],
 * not starting with '.' or '-', no "..", at most 96 bytes; PATH components likewise, at most 255
 * bytes in all. Whether a string is rather a local path is the caller's question (an existing
 * file wins).
 */
#ifndef SHOAL_HUB_REF_H
#define SHOAL_HUB_REF_H

#include <stdbool.h>
#include <stddef.h>

#define HUB_NAME_MAX 96
#define HUB_PATH_MAX 256

typedef struct {
	char org[HUB_NAME_MAX + 1], repo[HUB_NAME_MAX + 1];
	char quant[HUB_NAME_MAX + 1];   /* "" : none given */
	char file[HUB_PATH_MAX + 1];    /* "" : none given (quant or the default picks one) */
} hub_ref;

/* 0 and *r filled, or SH_EINVAL with why (a static string) in *why. */
int hub_ref_parse(const char *s, hub_ref *r, const char **why);
/* "ORG/REPO" into buf (cap >= 2 * HUB_NAME_MAX + 2) */
void hub_ref_repo(const hub_ref *r, char *buf, size_t cap);
/* the canonical spelling: ORG/REPO, ORG/REPO:QUANT or ORG/REPO/FILE */
void hub_ref_format(const hub_ref *r, char *buf, size_t cap);

/* The quant a GGUF file name carries, as the hub's repos spell them (Q4_K_M, Q8_0, IQ4_XS, F16,
 * BF16, ...): the last one found in the name, upper-cased, into buf; false when there is none. */
bool hub_quant_of(const char *name, char *buf, size_t cap);
/* bits per weight of a quant name, roughly (Q4_K_M 4.5, F16 16, ...); 0 when unknown */
double hub_quant_bits(const char *quant);

#endif
