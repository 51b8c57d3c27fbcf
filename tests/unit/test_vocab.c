/*
 * test_vocab.c - the SPM and BPE tokenizers against llama.cpp's own test vectors (llama-spm,
 * phi-3, llama-bpe, qwen2, gpt-2) and the stories260K references; decoding and the streaming
 * detokenizer over multi-byte text in every vocab; special tokens, BOS defaults, eog; BPE loading
 * from small synthetic vocabs (every pre-tokenizer name, bad merges, unknown or missing pre);
 * a vocab shared by tokenizing threads.
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "test_util.h"
#include "vocab/vocab.h"

/* a tokenizer loaded from a GGUF file */
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
	loaded l = load(test_data(rel));
	snprintf(rel, sizeof rel, "vocab/%s.inp", name);
	char *inp = test_load_file(test_data(rel), NULL);
	snprintf(rel, sizeof rel, "vocab/%s.out", name);
	char *outs = test_load_file(test_data(rel), NULL);

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
	cr_assert_gt(n_cases, 0, "%s: no cases", name);
	cr_assert_eq(*line, 0, "%s: more .out lines than cases", name);
	free(inp);
	free(outs);
	unload(&l);
}

/* the vocabs of the streaming and BPE tests below */
static const char *const vector_vocabs[] = { "llama-spm", "phi-3", "llama-bpe", "qwen2", "gpt-2" };

/* every *.inp/.out pair in tests/data/vocab, whatever files are there */
Test(vocab, vectors)
{
	glob_t gl;
	cr_assert_eq(glob(test_data("vocab/*.gguf.inp"), 0, NULL, &gl), 0, "no test vectors found");
	for (size_t i = 0; i < gl.gl_pathc; i++) {
		char name[256];
		const char *base = strrchr(gl.gl_pathv[i], '/') + 1;
		snprintf(name, sizeof name, "%.*s", (int)(strlen(base) - 4), base);
		run_vectors(name);
	}
	cr_assert_geq(gl.gl_pathc, SH_ARRAY_LEN(vector_vocabs), "fewer vector files than vocabs tested below");
	globfree(&gl);
}

/* ---------------------------------------------------------------- stories260K */
Test(vocab, stories_prompts)
{
	loaded l = load(TEST_STORIES);
	cr_assert_eq(vocab_n_tokens(l.v), 512);
	cr_assert_eq(vocab_bos(l.v), 1);
	cr_assert_eq(vocab_eos(l.v), 2);
	cr_assert(vocab_add_bos(l.v));
	cr_assert(vocab_is_eog(l.v, 2));
	cr_assert(!vocab_is_eog(l.v, 1));

	/* the prompt ids llama.cpp gives this vocabulary (the first line of every logits file of its
	 * reference set) */
	static const int want[] = { 1, 403, 407, 261, 378, 383, 286, 261, 376, 400, 428, 395, 392, 412, 444 };
	const char *prompt = "Once upon a time there was a little dog named Max";
	int n;
	int *got = tokenize(l.v, prompt, strlen(prompt), true, false, &n);
	check_ids(got, n, want, (int)SH_ARRAY_LEN(want), "Once upon a time");
	free(got);

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
	loaded l = load(TEST_STORIES);
	char *ids_txt = test_load_file(test_data("expected/stories260K_greedy_bos.ids"), NULL);
	size_t n_want;
	char *want0 = test_load_file(test_data("expected/stories260K_greedy_bos.txt"), &n_want), *want = want0;
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
	loaded l = load(test_data("vocab/ggml-vocab-llama-spm.gguf"));
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

/* multi-byte text in every vocab: CJK, emoji (with ZWJ and variation selectors), combining marks */
Test(vocab, stream_multibyte)
{
	const char *texts[] = {
		"Rust 🦀 ist schnell: 蟹是一种甲壳动物。 ok 🦀🦀 Ωmega 𝕏 — “quoted” ẞ",
		" leading space, then 中文 and 😀😃 at the end 🦀",
		"🦀",
		"  two spaces\tand a tab\n日本語のテキスト",
		"cafe\xcc\x81 n\xcc\x83 Z\xcd\x91\xcd\x9b\xcc\x8d a\xcc\x8a\xcc\x8a नमस्ते 👩‍👩‍👧‍👦 ❤️ 🏳️‍🌈 한국어",
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(vector_vocabs); i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", vector_vocabs[i]);
		loaded l = load(test_data(rel));
		bool split_char = false; /* some token ends inside a UTF-8 character */
		for (size_t t = 0; t < SH_ARRAY_LEN(texts); t++) {
			size_t tl = strlen(texts[t]);
			for (int bos = 0; bos < 2; bos++) {
				int n;
				int *ids = tokenize(l.v, texts[t], tl, bos, false, &n);
				for (int k = 0; k < n; k++) {
					char piece[256];
					int pn = vocab_token_to_piece(l.v, ids[k], false, piece, sizeof piece);
					cr_assert_geq(pn, 0);
					split_char |= !valid_utf8(piece, pn);
				}
				char out[1024];
				int len = stream_all(l.v, ids, n, out, sizeof out);
				cr_assert_eq((size_t)len, tl, "%s text %zu: %d bytes, want %zu", rel, t, len, tl);
				cr_assert(memcmp(out, texts[t], tl) == 0, "%s text %zu: got '%.*s'", rel, t, len, out);
				free(ids);
			}
		}
		cr_assert(split_char, "%s: the texts should need a character split across tokens", rel);
		unload(&l);
	}
}

Test(vocab, stream_room)
{
	loaded l = load(test_data("vocab/ggml-vocab-llama-spm.gguf"));
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

Test(vocab, bpe_decode)
{
	loaded l = load(test_data("vocab/ggml-vocab-gpt-2.gguf"));
	char buf[64];
	cr_assert_eq(vocab_token_to_piece(l.v, 995, false, buf, sizeof buf), 6); /* Ġworld */
	cr_assert(memcmp(buf, " world", 6) == 0);
	cr_assert_eq(vocab_token_to_piece(l.v, 995, false, buf, 5), -6);
	cr_assert_eq(vocab_token_to_piece(l.v, 198, false, buf, sizeof buf), 1); /* Ċ */
	cr_assert_eq(buf[0], '\n');
	cr_assert_eq(vocab_token_to_piece(l.v, 8582, false, buf, sizeof buf), 2); /* ðŁ: first half of 🦀 */
	cr_assert_eq((uint8_t)buf[0], 0xF0);
	cr_assert_eq((uint8_t)buf[1], 0x9F);
	cr_assert_eq(vocab_token_to_piece(l.v, 50256, false, buf, sizeof buf), 0); /* <|endoftext|> */
	cr_assert_eq(vocab_token_to_piece(l.v, 50256, true, buf, sizeof buf), 13);
	cr_assert(memcmp(buf, "<|endoftext|>", 13) == 0);

	/* BPE has no dummy prefix: a leading space is the text's own and is streamed */
	int n;
	int *ids = tokenize(l.v, " Hello", 6, false, false, &n);
	check_ids(ids, n, (int[]){ 18435 }, 1, "gpt-2 ' Hello'");
	char out[16];
	cr_assert_eq(stream_all(l.v, ids, n, out, sizeof out), 6);
	cr_assert(memcmp(out, " Hello", 6) == 0);
	free(ids);

	/* bytes that are not UTF-8 survive the round trip (they match no regex, so stay bytes) */
	const char raw[] = "ok \xff\xfe \xe4\xb8 \xc3(";
	ids = tokenize(l.v, raw, sizeof raw - 1, false, false, &n);
	char cat[64];
	int m = 0;
	for (int i = 0; i < n; i++)
		m += vocab_token_to_piece(l.v, ids[i], false, cat + m, (int)sizeof cat - m);
	cr_assert_eq(m, (int)sizeof raw - 1);
	cr_assert(memcmp(cat, raw, sizeof raw - 1) == 0);
	free(ids);
	unload(&l);
}

/* ---------------------------------------------------------------- special tokens */
Test(vocab, parse_special)
{
	loaded l = load(test_data("vocab/ggml-vocab-llama-spm.gguf"));
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

/* parse_special on a BPE vocab: on, the special text is the token; off, it is plain text */
static void bpe_special(const char *vocab_name, const char *text, const int *want, int n_want, int n_special)
{
	char rel[64];
	snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", vocab_name);
	loaded l = load(test_data(rel));
	int n;
	int *ids = tokenize(l.v, text, strlen(text), false, true, &n);
	check_ids(ids, n, want, n_want, rel);
	free(ids);

	ids = tokenize(l.v, text, strlen(text), false, false, &n);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < n_want; k++)
			cr_assert(k >= n_special || ids[i] != want[k], "%s: special token %d matched with parse_special off",
				  rel, want[k]);
	char out[256];
	int len = stream_all(l.v, ids, n, out, sizeof out);
	cr_assert_eq((size_t)len, strlen(text));
	cr_assert(memcmp(out, text, (size_t)len) == 0);
	free(ids);
	unload(&l);
}

Test(vocab, bpe_parse_special)
{
	/* the special ids come first in each list */
	bpe_special("llama-bpe", "<|begin_of_text|>Hello<|eot_id|>", (int[]){ 128000, 9906, 128009 }, 3, 1);
	bpe_special("qwen2", "<|im_start|>user\nHi<|im_end|>", (int[]){ 151644, 872, 198, 13048, 151645 }, 5, 1);
	bpe_special("gpt-2", "Hi<|endoftext|>", (int[]){ 17250, 50256 }, 2, 0);
}

/* a rendered chat prompt: specials parsed, one BOS whether or not the template wrote it */
Test(vocab, tokenize_chat)
{
	loaded l = load(test_data("vocab/ggml-vocab-llama-bpe.gguf"));
	const char *with = "<|begin_of_text|>Hello<|eot_id|>", *without = "Hello<|eot_id|>";
	int *ids, n = vocab_tokenize_chat(l.v, with, strlen(with), &ids);
	check_ids(ids, n, (int[]){ 128000, 9906, 128009 }, 3, "template wrote BOS");
	free(ids);
	n = vocab_tokenize_chat(l.v, without, strlen(without), &ids);
	check_ids(ids, n, (int[]){ 128000, 9906, 128009 }, 3, "BOS added");
	free(ids);
	unload(&l);

	l = load(test_data("vocab/ggml-vocab-qwen2.gguf"));
	cr_assert(!vocab_add_bos(l.v));
	n = vocab_tokenize_chat(l.v, "<|im_start|>", 12, &ids);
	check_ids(ids, n, (int[]){ 151644 }, 1, "qwen2 adds no BOS");
	free(ids);
	unload(&l);
}

Test(vocab, eog)
{
	loaded l = load(test_data("vocab/ggml-vocab-phi-3.gguf"));
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

/* BOS defaults and end-of-generation tokens of the BPE vocabs */
Test(vocab, bpe_bos_eog)
{
	static const struct {
		const char *name;
		int n_tokens, bos, eos;
		bool add_bos;
		int eog[2], not_eog;
	} cases[] = {
		/* Llama 3: BOS by the llama-bpe default; <|end_of_text|> and <|eot_id|> end */
		{ "llama-bpe", 128256, 128000, 128001, true, { 128001, 128009 }, 128000 },
		/* Qwen2: no BOS; <|endoftext|> and <|im_end|> end, <|im_start|> does not */
		{ "qwen2", 151936, 151643, 151643, false, { 151643, 151645 }, 151644 },
		{ "gpt-2", 50257, 50256, 50256, false, { 50256, 50256 }, 0 },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", cases[i].name);
		loaded l = load(test_data(rel));
		cr_assert_eq(vocab_n_tokens(l.v), cases[i].n_tokens, "%s", rel);
		cr_assert_eq(vocab_bos(l.v), cases[i].bos, "%s", rel);
		cr_assert_eq(vocab_eos(l.v), cases[i].eos, "%s", rel);
		cr_assert_eq(vocab_add_bos(l.v), cases[i].add_bos, "%s", rel);
		cr_assert(vocab_is_eog(l.v, cases[i].eog[0]) && vocab_is_eog(l.v, cases[i].eog[1]), "%s", rel);
		cr_assert(!vocab_is_eog(l.v, cases[i].not_eog), "%s", rel);
		int ids[4];
		int n = vocab_tokenize(l.v, "Hi", 2, vocab_add_bos(l.v), false, ids, 4);
		cr_assert_eq(n, 1 + cases[i].add_bos, "%s", rel);
		cr_assert(!cases[i].add_bos || ids[0] == cases[i].bos, "%s", rel);
		unload(&l);
	}
}

/* words longer than the stack scratch (runs of letters, spaces, emoji, digits, bytes that are not
 * UTF-8) tokenize and decode back to the text */
Test(vocab, bpe_long_words)
{
	static const char *const units[] = { "a", " ", "\xf0\x9f\xa6\x80", "7", "\xff\xc3", "ab\xcc\x81" };
	const char *names[] = { "llama-bpe", "qwen2", "gpt-2" };
	enum { LEN = 6000 };
	char *text = malloc(LEN + 8), *out = malloc(LEN + 8);
	for (size_t i = 0; i < SH_ARRAY_LEN(names); i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", names[i]);
		loaded l = load(test_data(rel));
		for (size_t u = 0; u < SH_ARRAY_LEN(units); u++) {
			size_t len = 0, ul = strlen(units[u]);
			while (len + ul <= LEN) {
				memcpy(text + len, units[u], ul);
				len += ul;
			}
			text[len++] = 'x';
			int n;
			int *ids = tokenize(l.v, text, len, false, false, &n);
			int m = 0;
			for (int k = 0; k < n; k++) {
				int pn = vocab_token_to_piece(l.v, ids[k], false, out + m, LEN + 8 - m);
				cr_assert_geq(pn, 0);
				m += pn;
			}
			cr_assert_eq((size_t)m, len, "%s unit %zu", rel, u);
			cr_assert(memcmp(out, text, len) == 0, "%s unit %zu", rel, u);
			free(ids);
		}
		unload(&l);
	}
	free(text);
	free(out);
}

/* ---------------------------------------------------------------- synthetic BPE vocabs */
/* the GPT-2 byte-level spelling of byte b (UTF-8, NUL-terminated) */
static void byte_spelling(int b, char out[3])
{
	int cp = b;
	if (b <= 0x20)
		cp = 0x100 + b;
	else if (b >= 0x7F && b <= 0xA0)
		cp = 0x121 + b - 0x7F;
	else if (b == 0xAD)
		cp = 0x143;
	if (cp < 0x80) {
		out[0] = (char)cp;
		out[1] = 0;
	} else {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		out[2] = 0;
	}
}

/* A tiny gpt2 vocab: the 256 byte tokens (id = byte), then "ab", "abc", "Ġab", <|x|> (control).
 * pre: tokenizer.ggml.pre (NULL: no key); merges: NULL for none. Written to a temporary file and
 * loaded; *err gets vocab_load's code, *log what it logged. */
static vocab *tiny_bpe(const char *pre, const char *const *merges, int n_merges, gguf_ctx **g, int *err, char **log)
{
	static const char *const extra[] = { "ab", "abc", "\u0120ab", "<|x|>" };
	char spell[256][3];
	const char *toks[256 + SH_ARRAY_LEN(extra)];
	int32_t types[SH_ARRAY_LEN(toks)];
	for (int b = 0; b < 256; b++) {
		byte_spelling(b, spell[b]);
		toks[b] = spell[b];
		types[b] = VOCAB_TT_NORMAL;
	}
	for (size_t i = 0; i < SH_ARRAY_LEN(extra); i++) {
		toks[256 + i] = extra[i];
		types[256 + i] = i + 1 == SH_ARRAY_LEN(extra) ? VOCAB_TT_CONTROL : VOCAB_TT_NORMAL;
	}
	gguf_writer *w = gguf_writer_init();
	gguf_writer_set_str(w, "general.architecture", "gpt2");
	gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
	if (pre)
		gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
	gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, SH_ARRAY_LEN(toks));
	gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_T_INT32, SH_ARRAY_LEN(types), types);
	if (merges)
		gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, (uint64_t)n_merges);
	char path[] = "/tmp/shoal-vocab-XXXXXX";
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(gguf_writer_write(w, path, NULL, NULL), 0);
	gguf_writer_free(w);
	*g = gguf_open(path, err);
	unlink(path);
	cr_assert(*g);
	capture c;
	capture_begin(&c);
	vocab *v = vocab_load(*g, err);
	*log = capture_end(&c);
	return v;
}

static const char *const tiny_merges[] = { "a b", "ab c", "\xc4\xa0 ab" };

Test(vocab, bpe_merges)
{
	sh_base_init();
	gguf_ctx *g;
	int err;
	char *log;
	/* "x yz": yz is no token; "abc": no space; "ab c" again: the first rank stays */
	const char *const merges[] = { "a b", "x yz", "ab c", "abc", "ab c", "\xc4\xa0 ab" };
	vocab *v = tiny_bpe("gpt-2", merges, SH_ARRAY_LEN(merges), &g, &err, &log);
	cr_assert(v, "%s", log);
	cr_assert(strstr(log, "2 of 6 merges skipped") && strstr(log, "#1 'x yz'"), "log: %s", log);
	cr_assert_eq(vocab_bos(v), -1);
	cr_assert(!vocab_add_bos(v));
	int n;
	/* "abc" merges fully; " abd" is Ġab + d; "ba" has no merge */
	int *ids = tokenize(v, "abc abd ba", 10, true, false, &n);
	check_ids(ids, n, (int[]){ 257, 258, 'd', ' ', 'b', 'a' }, 6, "tiny");
	free(ids);
	vocab_free(v);
	gguf_free(g);
	free(log);

	v = tiny_bpe("gpt-2", NULL, 0, &g, &err, &log);
	cr_assert_null(v);
	cr_assert_eq(err, SH_EFORMAT);
	cr_assert(strstr(log, "tokenizer.ggml.merges is missing"), "log: %s", log);
	gguf_free(g);
	free(log);
}

/* every supported pre-tokenizer compiles, and its pieces cover the text exactly (byte-level BPE
 * decodes back to its input whatever the split) */
Test(vocab, bpe_pre_names)
{
	sh_base_init();
	const char text[] = "Hello, y'all! It's 2024: 12345678 apples\n\n  and\t中文字符 ... über-Straße "
			    "<sentinel:3> IMGIMGABZ 🦀👩‍👧 ८७ x=a+b; //done   \r\n";
	int n_names = 0;
	for (const char *name; (name = vocab_bpe_pre_name(n_names)); n_names++) {
		gguf_ctx *g;
		int err;
		char *log;
		vocab *v = tiny_bpe(name, tiny_merges, SH_ARRAY_LEN(tiny_merges), &g, &err, &log);
		cr_assert(v, "pre '%s': %s", name, log);
		cr_assert_eq(log[0], 0, "pre '%s' logged: %s", name, log);
		int n;
		int *ids = tokenize(v, text, sizeof text - 1, false, false, &n);
		char out[512];
		int len = stream_all(v, ids, n, out, sizeof out);
		cr_assert_eq(len, (int)sizeof text - 1, "pre '%s'", name);
		cr_assert(memcmp(out, text, sizeof text - 1) == 0, "pre '%s': '%.*s'", name, len, out);
		free(ids);
		vocab_free(v);
		gguf_free(g);
		free(log);
	}
	cr_assert_gt(n_names, 40);
}

/* documented: an unknown name is SH_EUNSUP naming it; no key is "default" with a warning */
Test(vocab, bpe_pre_unknown)
{
	sh_base_init();
	gguf_ctx *g;
	int err;
	char *log;
	vocab *v = tiny_bpe("no-such-pre", tiny_merges, SH_ARRAY_LEN(tiny_merges), &g, &err, &log);
	cr_assert_null(v);
	cr_assert_eq(err, SH_EUNSUP);
	cr_assert(strstr(log, "unknown BPE pre-tokenizer 'no-such-pre'"), "log: %s", log);
	gguf_free(g);
	free(log);

	v = tiny_bpe(NULL, tiny_merges, SH_ARRAY_LEN(tiny_merges), &g, &err, &log);
	cr_assert(v, "%s", log);
	cr_assert(strstr(log, "no tokenizer.ggml.pre") && strstr(log, "'default'"), "log: %s", log);
	int n;
	int *ids = tokenize(v, "abc <|x|>", 9, false, true, &n);
	check_ids(ids, n, (int[]){ 257, ' ', 259 }, 3, "default pre");
	free(ids);
	vocab_free(v);
	gguf_free(g);
	free(log);
}

Test(vocab, gpt2_works)
{
	loaded l = load(test_data("vocab/ggml-vocab-gpt-2.gguf"));
	cr_assert_eq(vocab_n_tokens(l.v), 50257);
	int n;
	int *ids = tokenize(l.v, "Hello world", 11, false, false, &n);
	check_ids(ids, n, (int[]){ 15496, 995 }, 2, "gpt-2 Hello world");
	free(ids);
	unload(&l);
	vocab_free(NULL);
}

/* ---------------------------------------------------------------- threads */
typedef struct {
	const vocab *v;
	const char *text;
	size_t len;
	int *ids;
	int n;
} tok_job;

static void *tok_thread(void *p)
{
	tok_job *j = p;
	for (int r = 0; r < 4; r++)
		j->n = vocab_tokenize(j->v, j->text, j->len, false, false, j->ids, 1 << 16);
	return NULL;
}

/* one shared vocab, tokenizing from several threads at once, gives the single-thread ids */
Test(vocab, bpe_threads)
{
	loaded l = load(test_data("vocab/ggml-vocab-qwen2.gguf"));
	size_t len;
	char *text = test_load_file(test_data("vocab/ggml-vocab-qwen2.gguf.inp"), &len);
	int n;
	int *want = tokenize(l.v, text, len, false, false, &n);
	cr_assert_lt(n, 1 << 16);
	tok_job jobs[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = (tok_job){ l.v, text, len, malloc(sizeof(int) << 16), 0 };
		cr_assert_eq(pthread_create(&th[i], NULL, tok_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		check_ids(jobs[i].ids, jobs[i].n, want, n, "thread");
		free(jobs[i].ids);
	}
	free(want);
	free(text);
	unload(&l);
}
