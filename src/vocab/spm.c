/*
 * spm.c - the SentencePiece (SPM, tokenizer.ggml.model = "llama") tokenizer, as llama.cpp's
 * llm_tokenizer_spm does it, so ids match llama.cpp's exactly:
 *
 *   1. spaces become U+2581; a dummy prefix U+2581 is added when asked (start of text, or right
 *      after a special token, when the vocab's add_space_prefix is true);
 *   2. the text is split into UTF-8 characters (a lead byte's length is trusted, clipped at the
 *      end; stray continuation bytes are one-byte symbols), kept as a doubly linked list;
 *   3. every adjacent pair whose concatenation is a vocab entry goes into a max-heap keyed by
 *      that entry's score (ties: the leftmost pair first); the best pair is merged and the new
 *      neighbours' pairs are pushed; entries made stale by earlier merges are skipped on pop
 *      (a pair is stale when either side was absorbed or grew: the lengths no longer add up);
 *   4. each final symbol is its vocab token if there is one, else one <0xXX> token per byte.
 *
 * Symbols always cover contiguous bytes of the escaped text, so a pair's text is a slice of it
 * and no string is ever built. Scratch memory is per call (the vocab is shared read-only).
 *
 * Speed: when no token has a U+2581 other than in a run at its start (vocab->spm_words; true for
 * Llama 2 and Phi-3), no pair spanning a word start (a U+2581 symbol after a non-U+2581 one) can
 * ever be a token, so each word merges on its own: the same merges in the same relative order,
 * but with a small heap that stays in cache instead of one over the whole text (about 10x
 * faster on long texts).
 */
#include "vocab/vocab_impl.h"

typedef struct {
	int prev, next;     /* neighbours in the chain, -1 at the ends */
	uint32_t off, n;    /* bytes [off, off+n) of the escaped text; n = 0 once merged away */
} spm_sym;

typedef struct {
	float score;
	int left, right;
	uint32_t size;      /* n of left + n of right when pushed */
} spm_pair;

typedef struct {
	spm_pair *a;
	size_t n, cap;
} spm_heap;

/* true if x must pop before y: higher score, then smaller left index */
static inline bool pair_before(const spm_pair *x, const spm_pair *y)
{
	return x->score > y->score || (x->score == y->score && x->left < y->left);
}

static int heap_push(spm_heap *h, spm_pair p)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		spm_pair *a = sh_alloc(cap * sizeof *a);
		if (!a)
			return SH_ENOMEM;
		if (h->n)
			memcpy(a, h->a, h->n * sizeof *a);
		sh_free(h->a);
		h->a = a;
		h->cap = cap;
	}
	size_t i = h->n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!pair_before(&p, &h->a[parent]))
			break;
		h->a[i] = h->a[parent];
		i = parent;
	}
	h->a[i] = p;
	return SH_OK;
}

static spm_pair heap_pop(spm_heap *h)
{
	spm_pair top = h->a[0], last = h->a[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && pair_before(&h->a[c + 1], &h->a[c]))
			c++;
		if (!pair_before(&h->a[c], &last))
			break;
		h->a[i] = h->a[c];
		i = c;
	}
	if (h->n)
		h->a[i] = last;
	return top;
}

/* pushes the pair (left, right) if their concatenation is a token */
static int try_pair(const vocab *v, const char *esc, const spm_sym *sym, int left, int right, spm_heap *h)
{
	if (left < 0 || right < 0)
		return SH_OK;
	uint32_t size = sym[left].n + sym[right].n;
	int id = vocab_find(v, esc + sym[left].off, size);
	if (id < 0)
		return SH_OK;
	return heap_push(h, (spm_pair){ v->score[id], left, right, size });
}

/* bytes of a UTF-8 sequence from its first byte (llama.cpp's unicode_len_utf8) */
static inline uint32_t utf8_len(uint8_t c)
{
	static const uint8_t len[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
	return len[c >> 4];
}

static inline bool is_space(const char *esc, const spm_sym *s)
{
	return s->n == 3 && memcmp(esc + s->off, "\xe2\x96\x81", 3) == 0;
}

/* merges symbols [start, end) by best score, then appends their tokens (bytes as fallback) */
static int merge_emit(const vocab *v, const char *esc, spm_sym *sym, int start, int end, spm_heap *h,
		      vocab_out *o)
{
	int rc;
	for (int i = start; i < end; i++) {
		sym[i].prev = i > start ? i - 1 : -1;
		sym[i].next = i + 1 < end ? i + 1 : -1;
	}
	h->n = 0;
	for (int i = start + 1; i < end; i++)
		if ((rc = try_pair(v, esc, sym, i - 1, i, h)) < 0)
			return rc;
	while (h->n) {
		spm_pair p = heap_pop(h);
		spm_sym *l = &sym[p.left], *r = &sym[p.right];
		if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			sym[r->next].prev = p.left;
		if ((rc = try_pair(v, esc, sym, l->prev, p.left, h)) < 0 ||
		    (rc = try_pair(v, esc, sym, p.left, l->next, h)) < 0)
			return rc;
	}

	for (int i = start; i != -1; i = sym[i].next) {
		int id = vocab_find(v, esc + sym[i].off, sym[i].n);
		if (id >= 0) {
			vocab_out_push(o, id);
			continue;
		}
		for (uint32_t j = 0; j < sym[i].n; j++) {
			uint8_t b = (uint8_t)esc[sym[i].off + j];
			if (v->byte_tok[b] < 0) {
				sh_log_error("vocab: no token for byte 0x%02X and no unknown token", b);
				return SH_EUNSUP;
			}
			vocab_out_push(o, v->byte_tok[b]);
		}
	}
	return SH_OK;
}

int spm_tokenize(const vocab *v, const char *text, size_t len, bool add_prefix, vocab_out *o)
{
	static const char sp[3] = { '\xe2', '\x96', '\x81' }; /* U+2581 */
	int rc = SH_ENOMEM;
	spm_heap h = { 0 };
	char *esc = NULL;
	spm_sym *sym = NULL;

	/* 1. escape: worst case every byte is a space (3 bytes each), plus the prefix */
	size_t esc_cap = 3 * len + 3;
	esc = sh_alloc(esc_cap);
	if (!esc)
		goto out;
	size_t n_esc = 0;
	if (add_prefix) {
		memcpy(esc, sp, 3);
		n_esc = 3;
	}
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ') {
			memcpy(esc + n_esc, sp, 3);
			n_esc += 3;
		} else {
			esc[n_esc++] = text[i];
		}
	}
	if (n_esc == 0) {
		rc = SH_OK;
		goto out;
	}

	/* 2. one symbol per UTF-8 character */
	sym = sh_alloc(n_esc * sizeof *sym);
	if (!sym)
		goto out;
	int n_sym = 0;
	for (size_t off = 0; off < n_esc; n_sym++) {
		uint32_t n = (uint32_t)SH_MIN((size_t)utf8_len((uint8_t)esc[off]), n_esc - off);
		sym[n_sym] = (spm_sym){ -1, -1, (uint32_t)off, n };
		off += n;
	}

	/* 3 and 4, one word at a time when no token can span a word start (see spm_words) */
	for (int start = 0, end; start < n_sym; start = end) {
		end = start + 1;
		if (v->spm_words)
			while (end < n_sym && !(is_space(esc, &sym[end]) && !is_space(esc, &sym[end - 1])))
				end++;
		else
			end = n_sym;
		if ((rc = merge_emit(v, esc, sym, start, end, &h, o)) < 0)
			goto out;
	}
	rc = SH_OK;
out:
	sh_free(h.a);
	sh_free(sym);
	sh_free(esc);
	return rc;
}
