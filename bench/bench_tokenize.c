/*
 * bench_tokenize.c - SPM tokenizer throughput: vocab_tokenize over ~400 KB of English text
 * (a paragraph repeated) with the Llama 2 vocab, best of several runs, one line of output.
 *
 *   bench_tokenize [vocab.gguf]   (default ../shared/models/vocab/ggml-vocab-llama-spm.gguf)
 */
#include <stdio.h>
#include <stdlib.h>

#include "vocab/vocab.h"

static const char paragraph[] =
	"Once upon a time, in a small village at the edge of a great forest, there lived an old "
	"clockmaker named Tobias. Every morning he opened the shutters of his workshop, wound the "
	"hundred clocks that lined the walls, and listened to them tick in not-quite-perfect unison. "
	"Children would press their noses to the window (much to his quiet delight) and ask: \"How "
	"many gears are inside?\" He'd answer that it depended on the clock, on the day, and on "
	"whether you counted the ones he'd lost under the floorboards in 1987.\n";

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "../shared/models/vocab/ggml-vocab-llama-spm.gguf";
	enum { TARGET = 400 * 1024, RUNS = 5 };
	int err = 0, rc = 1;
	char *text = NULL;
	int *ids = NULL;
	sh_base_init();
	gguf_ctx *g = gguf_open(path, &err);
	vocab *v = g ? vocab_load(g, &err) : NULL;
	if (!v) {
		fprintf(stderr, "bench_tokenize: cannot load %s: %s\n", path, sh_strerror(err));
		goto out;
	}

	size_t plen = sizeof paragraph - 1, len = 0;
	text = malloc(TARGET + plen);
	if (!text)
		goto out;
	while (len < TARGET) {
		memcpy(text + len, paragraph, plen);
		len += plen;
	}
	int n = vocab_tokenize(v, text, len, true, false, NULL, 0);
	ids = n > 0 ? malloc(sizeof *ids * (size_t)n) : NULL;
	if (!ids)
		goto out;

	double best = 1e30;
	for (int r = 0; r < RUNS; r++) {
		double t0 = sh_time_sec();
		int k = vocab_tokenize(v, text, len, true, false, ids, n);
		double dt = sh_time_sec() - t0;
		if (k != n) {
			fprintf(stderr, "bench_tokenize: run %d gave %d tokens, first gave %d\n", r, k, n);
			goto out;
		}
		best = SH_MIN(best, dt);
	}
	printf("tokenize spm: %zu bytes -> %d tokens, %.2f MB/s (best of %d)\n", len, n,
	       (double)len / best / 1e6, RUNS);
	rc = 0;
out:
	free(ids);
	free(text);
	vocab_free(v);
	gguf_free(g);
	return rc;
}
