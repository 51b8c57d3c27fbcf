/*
 * test_vocab.c - the SPM tokenizer against llama.cpp's own test vectors (llama-spm, phi-3) and
 * the stories260K references, decoding, the streaming detokenizer, special tokens, eog, and
 * rejection of tokenizer models not supported yet.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

#include "vocab/vocab.h"

/* a file of shared/models ($SHARED, default ../shared); a few results stay valid at once */
static const char *mpath(const char *rel)
{
	static char bufs[4][512];
	static int next;
	const char *shared = getenv("SHARED");
	char *b = bufs[next++ % 4];
	snprintf(b, sizeof bufs[0], "%s/models/%s", shared ? shared : "../shared", rel);
	return b;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	cr_assert(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = 0;
	if (len)
		*len = (size_t)n;
	return buf;
}

typedef struct {
	gguf_ctx *g;
	vocab *v;
} loaded;

static loaded load(const char *path)
{
	sh_base_init();
	int err = 0;
	loaded l = { gguf_open(path, &err), NULL };
	cr_assert(l.g, "gguf_open %s: %s", path, sh_strerror(err));
	l.v = vocab_load(l.g, &err);
	cr_assert(l.v, "vocab_load %s: %s", path, sh_strerror(err));
	return l;
}

static void unload(loaded *l)
{
	vocab_free(l->v);
	gguf_free(l->g);
}

/* tokenizes into a malloc'd array (sized by a first call with no room) */
static int *tokenize(const vocab *v, const char *text, size_t len, bool bos, bool special, int *n)
{
	*n = vocab_tokenize(v, text, len, bos, special, NULL, 0);
	cr_assert_geq(*n, 0);
	int *ids = malloc(sizeof(int) * (size_t)(*n + 1));
	cr_assert_eq(vocab_tokenize(v, text, len, bos, special, ids, *n), *n);
	return ids;
}

/* parses whitespace-separated ints from s; returns the count */
static int parse_ids(const char *s, int *out, int max)
{
	int n = 0;
	char *end;
	for (;;) {
		long x = strtol(s, &end, 10);
		if (end == s)
			return n;
		cr_assert_lt(n, max);
		out[n++] = (int)x;
		s = end;
	}
}

static void check_ids(const int *got, int n_got, const int *want, int n_want, const char *what)
{
	bool same = n_got == n_want;
	for (int i = 0; same && i < n_got; i++)
		same = got[i] == want[i];
	if (!same) {
		char buf[4096];
		int p = 0;
		for (int i = 0; i < n_got && p < 4000; i++)
			p += snprintf(buf + p, sizeof buf - (size_t)p, " %d", got[i]);
		buf[p] = 0;
		cr_assert_fail("%s: got%s (n=%d, want n=%d)", what, buf, n_got, n_want);
	}
}

static bool valid_utf8(const char *s, int n)
{
	const uint8_t *u = (const uint8_t *)s;
	for (int i = 0; i < n;) {
		int k = u[i] < 0x80 ? 1 : (u[i] & 0xE0) == 0xC0 ? 2 : (u[i] & 0xF0) == 0xE0 ? 3 : (u[i] & 0xF8) == 0xF0 ? 4 : 0;
		if (!k || i + k > n)
			return false;
		for (int j = 1; j < k; j++)
			if ((u[i + j] & 0xC0) != 0x80)
				return false;
		i += k;
	}
	return true;
}

/* ---------------------------------------------------------------- llama.cpp vectors */
static void run_vectors(const char *name)
{
	char rel[256];
	snprintf(rel, sizeof rel, "vocab/%s", name);
	loaded l = load(mpath(rel));
	snprintf(rel, sizeof rel, "vocab/%s.inp", name);
	char *inp = read_file(mpath(rel), NULL);
	snprintf(rel, sizeof rel, "vocab/%s.out", name);
	char *outs = read_file(mpath(rel), NULL);

	static const char sep[] = "\n__ggml_vocab_test__\n";
	char *s = inp, *line = outs;
	int n_cases = 0;
	for (char *e; (e = strstr(s, sep)); s = e + strlen(sep), n_cases++) {
		char *nl = strchr(line, '\n');
		cr_assert(nl, "%s: fewer .out lines than cases", name);
		*nl = 0;
		int want[1024];
		int n_want = parse_ids(line, want, 1024);
		line = nl + 1;

		int n;
		int *got = tokenize(l.v, s, (size_t)(e - s), false, false, &n);
		char what[128];
		snprintf(what, sizeof what, "%s case %d", name, n_cases);
		check_ids(got, n, want, n_want, what);
		free(got);
	}
	cr_assert_eq(n_cases, 46);
	free(inp);
	free(outs);
	unload(&l);
}

Test(vocab, llama_spm_vectors) { run_vectors("ggml-vocab-llama-spm.gguf"); }
Test(vocab, phi3_vectors) { run_vectors("ggml-vocab-phi-3.gguf"); }

/* ---------------------------------------------------------------- stories260K */
Test(vocab, stories_prompts)
{
	loaded l = load(mpath("gguf/stories260K.gguf"));
	cr_assert_eq(vocab_n_tokens(l.v), 512);
	cr_assert_eq(vocab_bos(l.v), 1);
	cr_assert_eq(vocab_eos(l.v), 2);
	cr_assert(vocab_add_bos(l.v));
	cr_assert(vocab_is_eog(l.v, 2));
	cr_assert(!vocab_is_eog(l.v, 1));

	char *logits = read_file(mpath("quant/llama-F32.logits.txt"), NULL);
	*strchr(logits, '\n') = 0;
	int want[64];
	int n_want = parse_ids(logits, want, 64);
	cr_assert_eq(n_want, 15);
	const char *prompt = "Once upon a time there was a little dog named Max";
	int n;
	int *got = tokenize(l.v, prompt, strlen(prompt), true, false, &n);
	check_ids(got, n, want, n_want, "Once upon a time");
	free(got);
	free(logits);

	got = tokenize(l.v, "Zoo", 3, true, false, &n);
	check_ids(got, n, (int[]){ 1, 410, 469, 347 }, 4, "Zoo");
	free(got);

	/* too little room: the total count comes back, only max ids are written */
	int two[2] = { -7, -7 };
	cr_assert_eq(vocab_tokenize(l.v, "Zoo", 3, true, false, two, 1), 4);
	cr_assert_eq(two[0], 1);
	cr_assert_eq(two[1], -7);
	cr_assert_eq(vocab_tokenize(l.v, "", 0, true, false, two, 2), 1);
	cr_assert_eq(vocab_tokenize(l.v, "", 0, false, false, two, 2), 0);
	unload(&l);
}

static void trim(char **s, size_t *n)
{
	while (*n && strchr(" \t\r\n", (*s)[0])) {
		(*s)++;
		(*n)--;
	}
	while (*n && strchr(" \t\r\n", (*s)[*n - 1]))
		(*n)--;
}

Test(vocab, stories_greedy_decode)
{
	loaded l = load(mpath("gguf/stories260K.gguf"));
	char *ids_txt = read_file(mpath("expected/stories260K_greedy_bos.ids"), NULL);
	size_t n_want;
	char *want0 = read_file(mpath("expected/stories260K_greedy_bos.txt"), &n_want), *want = want0;
	int ids[1024];
	int n = parse_ids(ids_txt, ids, 1024);
	cr_assert_eq(n, 256);

	/* streamed after BOS: the dummy-prefix space of the first piece goes */
	vocab_stream st;
	vocab_stream_init(&st, l.v);
	char out[4096];
	int len = vocab_stream_push(&st, 1, out, sizeof out);
	cr_assert_eq(len, 0);
	for (int i = 0; i < n; i++) {
		int k = vocab_stream_push(&st, ids[i], out + len, (int)sizeof out - len);
		cr_assert_geq(k, 0);
		len += k;
	}
	len += vocab_stream_flush(&st, out + len, (int)sizeof out - len);
	char *got = out;
	size_t n_got = (size_t)len;
	cr_assert_neq(got[0], ' ');
	trim(&got, &n_got);
	trim(&want, &n_want);
	cr_assert_eq(n_got, n_want, "decoded %zu bytes, want %zu", n_got, n_want);
	cr_assert(memcmp(got, want, n_got) == 0, "decode differs:\n%.*s", (int)n_got, got);

	/* piece by piece gives the same text plus the one leading space */
	char cat[4096];
	int m = 0;
	for (int i = 0; i < n; i++) {
		int k = vocab_token_to_piece(l.v, ids[i], false, cat + m, (int)sizeof cat - m);
		cr_assert_geq(k, 0);
		m += k;
	}
	cr_assert_eq(cat[0], ' ');
	cr_assert_eq(m, len + 1);
	cr_assert(memcmp(cat + 1, out, (size_t)len) == 0);
	free(ids_txt);
	free(want0);
	unload(&l);
}

/* ---------------------------------------------------------------- decoding */
Test(vocab, token_to_piece)
{
	loaded l = load(mpath("vocab/ggml-vocab-llama-spm.gguf"));
	char buf[64];
	cr_assert_eq(vocab_token_to_piece(l.v, 15043, false, buf, sizeof buf), 6); /* ▁Hello */
	cr_assert(memcmp(buf, " Hello", 6) == 0);
	cr_assert_eq(vocab_token_to_piece(l.v, 15043, false, buf, 3), -6);
	cr_assert_eq(vocab_token_to_piece(l.v, 13, false, buf, sizeof buf), 1); /* <0x0A> */
	cr_assert_eq(buf[0], '\n');
	cr_assert_eq(vocab_token_to_piece(l.v, 243, false, buf, sizeof buf), 1); /* <0xF0> */
	cr_assert_eq((uint8_t)buf[0], 0xF0);
	cr_assert_eq(vocab_token_to_piece(l.v, 1, false, buf, sizeof buf), 0);  /* <s>: control */
	cr_assert_eq(vocab_token_to_piece(l.v, 1, true, buf, sizeof buf), 3);
	cr_assert(memcmp(buf, "<s>", 3) == 0);
	cr_assert_eq(vocab_token_to_piece(l.v, 0, false, buf, sizeof buf), 0);  /* <unk> */
	cr_assert_eq(vocab_token_to_piece(l.v, 32000, false, buf, sizeof buf), 0);
	cr_assert_eq(vocab_token_to_piece(l.v, -1, false, buf, sizeof buf), 0);
	unload(&l);
}

/* streams ids one at a time, each chunk must be valid UTF-8; returns the concatenation */
static int stream_all(const vocab *v, const int *ids, int n, char *out, int cap)
{
	vocab_stream st;
	vocab_stream_init(&st, v);
	int len = 0;
	for (int i = 0; i < n; i++) {
		int k = vocab_stream_push(&st, ids[i], out + len, cap - len);
		cr_assert_geq(k, 0);
		cr_assert(valid_utf8(out + len, k), "chunk %d is not valid UTF-8", i);
		len += k;
	}
	cr_assert_eq(st.n_tail, 0);
	cr_assert_eq(vocab_stream_flush(&st, out + len, cap - len), 0);
	return len;
}

Test(vocab, stream_multibyte)
{
	loaded l = load(mpath("vocab/ggml-vocab-llama-spm.gguf"));
	const char *texts[] = {
		"Rust 🦀 ist schnell: 蟹是一种甲壳动物。 ok 🦀🦀 Ωmega 𝕏 — “quoted” ẞ",
		" leading space, then 中文 and 😀😃 at the end 🦀",
		"🦀",
		"  two spaces\tand a tab\n日本語のテキスト",
	};
	for (size_t t = 0; t < SH_ARRAY_LEN(texts); t++) {
		size_t tl = strlen(texts[t]);
		for (int bos = 0; bos < 2; bos++) {
			int n;
			int *ids = tokenize(l.v, texts[t], tl, bos, false, &n);
			bool has_bytes = false;
			for (int i = 0; i < n; i++)
				has_bytes |= ids[i] >= 3 && ids[i] < 259;
			cr_assert(t != 0 || has_bytes, "test text should need byte fallback");
			char out[1024];
			int len = stream_all(l.v, ids, n, out, sizeof out);
			cr_assert_eq((size_t)len, tl, "text %zu: %d bytes, want %zu", t, len, tl);
			cr_assert(memcmp(out, texts[t], tl) == 0, "text %zu: got '%.*s'", t, len, out);
			free(ids);
		}
	}

	/* too small an output: -needed, and nothing consumed */
	int ids[2];
	cr_assert_eq(vocab_tokenize(l.v, "Hello world", 11, false, false, ids, 2), 2);
	vocab_stream st;
	vocab_stream_init(&st, l.v);
	char out[16];
	cr_assert_eq(vocab_stream_push(&st, ids[0], out, 2), -5);
	cr_assert_eq(vocab_stream_push(&st, ids[0], out, sizeof out), 5);
	cr_assert_eq(vocab_stream_push(&st, ids[1], out + 5, 3), -6);
	cr_assert_eq(vocab_stream_push(&st, ids[1], out + 5, sizeof out - 5), 6);
	cr_assert(memcmp(out, "Hello world", 11) == 0);

	/* an incomplete tail is held, then flushed as is */
	vocab_stream_init(&st, l.v);
	cr_assert_eq(vocab_stream_push(&st, 243, out, sizeof out), 0); /* <0xF0> */
	cr_assert_eq(vocab_stream_push(&st, 162, out, sizeof out), 0); /* <0x9F> */
	cr_assert_eq(vocab_stream_flush(&st, out, 1), -2);
	cr_assert_eq(vocab_stream_flush(&st, out, sizeof out), 2);
	cr_assert_eq((uint8_t)out[0], 0xF0);
	cr_assert_eq((uint8_t)out[1], 0x9F);
	unload(&l);
}

/* ---------------------------------------------------------------- special tokens */
Test(vocab, parse_special)
{
	loaded l = load(mpath("vocab/ggml-vocab-llama-spm.gguf"));
	const char *text = "<s>Hello</s> world";
	int n;
	int *ids = tokenize(l.v, text, strlen(text), false, true, &n);
	/* <s> ▁Hello </s> ▁world: a dummy prefix follows every special token */
	check_ids(ids, n, (int[]){ 1, 15043, 2, 29871, 3186 }, 5, "parse_special on");
	free(ids);

	ids = tokenize(l.v, text, strlen(text), false, false, &n);
	for (int i = 0; i < n; i++)
		cr_assert(ids[i] != 1 && ids[i] != 2, "special token matched with parse_special off");
	char out[64];
	int len = stream_all(l.v, ids, n, out, sizeof out);
	cr_assert_eq((size_t)len, strlen(text));
	cr_assert(memcmp(out, text, (size_t)len) == 0);
	free(ids);

	ids = tokenize(l.v, "<s>", 3, false, true, &n);
	check_ids(ids, n, (int[]){ 1 }, 1, "only <s>");
	free(ids);
	unload(&l);
}

Test(vocab, eog)
{
	loaded l = load(mpath("vocab/ggml-vocab-phi-3.gguf"));
	cr_assert_eq(vocab_eos(l.v), 32000);
	cr_assert(vocab_is_eog(l.v, 32000)); /* <|endoftext|> */
	cr_assert(vocab_is_eog(l.v, 32007)); /* <|end|> */
	cr_assert(!vocab_is_eog(l.v, 2));
	cr_assert(!vocab_is_eog(l.v, 15043));
	cr_assert(!vocab_is_eog(l.v, -1));
	cr_assert(!vocab_is_eog(l.v, 1 << 20));
	char buf[16];
	cr_assert_eq(vocab_token_to_piece(l.v, 32007, true, buf, sizeof buf), 7);
	cr_assert(memcmp(buf, "<|end|>", 7) == 0);
	int n;
	int *ids = tokenize(l.v, "<|user|>\nHi<|end|>", 18, true, true, &n);
	check_ids(ids, n, (int[]){ 1, 32010, 29871, 13, 18567, 32007 }, 6, "phi-3 chat");
	free(ids);
	unload(&l);
}

Test(vocab, gpt2_rejected)
{
	sh_base_init();
	int err = 0;
	gguf_ctx *g = gguf_open(mpath("vocab/ggml-vocab-gpt-2.gguf"), &err);
	cr_assert(g);
	vocab *v = vocab_load(g, &err);
	cr_assert_null(v);
	cr_assert_eq(err, SH_EUNSUP);
	gguf_free(g);
	vocab_free(NULL);
}
