/*
 * sample.h - the sampling chain: penalties, then temperature with top-k, top-p and min-p, then a
 * draw from a seeded generator. temp <= 0 is greedy (argmax, penalties still applied).
 * The chain is deterministic for a given seed and logits: the same seed gives the same text.
 */
#ifndef SHOAL_SAMPLE_H
#define SHOAL_SAMPLE_H

#include "base/base.h"

typedef struct {
	float temp;             /* default 0.8; <= 0: greedy */
	int top_k;              /* <= 0: off; default 40 */
	float top_p;            /* 1: off; default 0.95 */
	float min_p;            /* 0: off; default 0.05 */
	float repeat_penalty;   /* 1: off (default) */
	float freq_penalty;     /* 0: off */
	float presence_penalty; /* 0: off */
	int penalty_last_n;     /* window of recent tokens for penalties; default 64 */
	uint64_t seed;
} sample_params;

void sample_params_default(sample_params *p);

typedef struct sample_ctx sample_ctx;
sample_ctx *sample_init(const sample_params *p, int n_vocab);
void sample_free(sample_ctx *s);
/* picks a token from logits[n_vocab]; logits may be modified */
int sample_next(sample_ctx *s, float *logits);
/* records a token (prompt or generated) for the penalties */
void sample_accept(sample_ctx *s, int token);
void sample_reset(sample_ctx *s);

#endif
