/*
 * bench_tokenize.c - tokenizer throughput: vocab_tokenize over ~400 KB of English prose (a
 * paragraph repeated) and ~400 KB of C code (a function repeated), for each vocab, best of
 * several runs, one line per vocab and text.
 *
 *   bench_tokenize [vocab.gguf | dir]...
 *
 * A directory stands for the llama-spm, llama-bpe, qwen2 and gpt-2 vocabs in it; with no
 * arguments, tests/data/vocab.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "vocab/vocab.h"

static const char english[] =
	"Once upon a time, in a small village at the edge of a great forest, there lived an old "
	"clockmaker named Tobias. Every morning he opened the shutters of his workshop, wound the "
	"hundred clocks that lined the walls, and listened to them tick in not-quite-perfect unison. "
	"Children would press their noses to the window (much to his quiet delight) and ask: \"How "
	"many gears are inside?\" He'd answer that it depended on the clock, on the day, and on "
	"whether you counted the ones he'd lost under the floorboards in 1987.\n";

static const char code[] =
	"/* copies at most n bytes of src into dst; returns the length written */\n"
	"static size_t str_copy(char *dst, const char *src, size_t n)\n"
	"{\n"
	"\tsize_t i = 0;\n"
	"\tfor (; i + 1 < n && src[i] != '\\0'; i++)\n"
	"\t\tdst[i] = src[i];\n"
	"\tif (n > 0)\n"
	"\t\tdst[i] = '\\0';\n"
	"\treturn i; // 0x1F, 42, -7.5e3\n"
	"}\n\n"
	"int main(int argc, char **argv)\n"
	"{\n"
	"    char buf[64];\n"
	"    if (argc < 2 || str_copy(buf, argv[1], sizeof buf) == 0) {\n"
	"        fprintf(stderr, \"usage: %s NAME\\n\", argv[0]);\n"
	"        return 1;\n"
	"    }\n"
	"    printf(\"hello, %s!\\n\", buf);\n"
	"    return 0;\n"
	"}\n\n";

enum { TARGET = 400 * 1024, RUNS = 5 };

/* best-of-RUNS MB/s of tokenizing `unit` repeated to ~TARGET bytes; < 0 on failure */
static double bench_text(const vocab *v, const char *unit, size_t ulen, int *n_tokens, size_t *n_bytes)
{
	size_t len = 0;
	char *text = malloc(TARGET + ulen);
	if (!text)
		return -1;
	while (len < TARGET) {
		memcpy(text + len, unit, ulen);
		len += ulen;
	}
	double best = -1;
	int n = vocab_tokenize(v, text, len, false, false, NULL, 0);
	int *ids = n > 0 ? malloc(sizeof *ids * (size_t)n) : NULL;
	for (int r = 0; ids && r < RUNS; r++) {
		double t0 = sh_time_sec();
		int k = vocab_tokenize(v, text, len, false, false, ids, n);
		double dt = sh_time_sec() - t0;
		if (k != n) {
			fprintf(stderr, "bench_tokenize: run %d gave %d tokens, first gave %d\n", r, k, n);
			best = -1;
			break;
		}
		if (best < 0 || (double)len / dt / 1e6 > best)
			best = (double)len / dt / 1e6;
	}
	*n_tokens = n;
	*n_bytes = len;
	free(ids);
	free(text);
	return best;
}

static int bench_vocab(const char *path)
{
	int err = 0, rc = 1;
	gguf_ctx *g = gguf_open(path, &err);
	vocab *v = g ? vocab_load(g, &err) : NULL;
	if (!v) {
		fprintf(stderr, "bench_tokenize: cannot load %s: %s\n", path, sh_strerror(err));
		goto out;
	}
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	static const struct { const char *what, *text; size_t len; } texts[] = {
		{ "english", english, sizeof english - 1 },
		{ "code", code, sizeof code - 1 },
	};
	for (size_t t = 0; t < SH_ARRAY_LEN(texts); t++) {
		int n;
		size_t len;
		double mbs = bench_text(v, texts[t].text, texts[t].len, &n, &len);
		if (mbs < 0)
			goto out;
		printf("tokenize %-28s %-7s %zu bytes -> %7d tokens, %7.2f MB/s (best of %d)\n", name,
		       texts[t].what, len, n, mbs, RUNS);
	}
	rc = 0;
out:
	vocab_free(v);
	gguf_free(g);
	return rc;
}

static int bench_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return bench_vocab(path);
	static const char *const names[] = { "llama-spm", "llama-bpe", "qwen2", "gpt-2" };
	int rc = 0;
	for (size_t i = 0; i < SH_ARRAY_LEN(names); i++) {
		char p[4096];
		if (snprintf(p, sizeof p, "%s/ggml-vocab-%s.gguf", path, names[i]) >= (int)sizeof p)
			return 1;
		rc |= bench_vocab(p);
	}
	return rc;
}

int main(int argc, char **argv)
{
	sh_base_init();
	int rc = 0;
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			rc |= bench_path(argv[i]);
		return rc;
	}
	return bench_path("tests/data/vocab");
}
