/*
 * jsonc.c - structured output: a JSON Schema compiled to a recursive state machine over bytes, and
 * the token mask computed by running that machine over a trie of the vocabulary.
 *
 * The machine. A schema compiles to a graph of nodes, one per kind of value: K_LIT (a set of
 * literal texts: enum, const, true/false/null), K_STR (a string of bounded length), K_FMT (a string
 * of a format, by a small DFA), K_NUM (any number), K_RANGE (a number between bounds, by a
 * digit-wise automaton), K_OBJ (listed properties), K_MAP (free keys, one value schema), K_ARR,
 * K_ANYOF (alternatives) and K_DOC (the whole output). A *thread* is a stack of frames, one per
 * value being produced (node, sub-state, counters); a byte is fed to the top frame, which takes it,
 * finishes with it (pop), finishes before it (numbers, literals: pop and feed the byte to the
 * parent), pushes a child value starting with it, or rejects it. Alternatives are kept apart: a
 * *state* is a set of at most MAXT threads, and pushing an anyOf forks the thread once per
 * alternative (anyOf is flattened at compile time, so a fork is one level deep). Threads are small
 * (16 bytes a frame) and a set is packed in a byte buffer, so copying one is a memcpy.
 *
 * Always completable. Every live thread can be finished: each node has `need`, the frames its
 * least nested value needs on a stack, and nothing is pushed or begun (an optional property, an
 * item past minItems, an anyOf alternative) unless it fits in MAXF frames; a number prefix is
 * taken only if some completion lies within the bounds; optional items and free-form members also
 * draw on JSONC_MAX_VALUES per output. So the output is finite and every state has a way forward.
 *
 * Within a budget of tokens. Each node also has ml[d], the bytes of its shortest value within d
 * frames (computed once, layer by layer: a shortest hyperpath), so the bytes a thread needs to end
 * are a sum over its frames (thread_est, exact for the machine). A token is allowed only if the
 * set after it needs at most the tokens left after it, one byte a token; as a thread needing e
 * bytes always has a byte that leaves e - 1, the budget is never stranded. The count is taken per
 * token only near the end (jsonc_mask).
 *
 * The mask. The vocabulary's tokens form a trie stored in preorder, each node knowing where its
 * subtree ends; the walk keeps one state per depth and steps it by the node's byte; a dead state
 * skips the whole subtree, so at a place of structure only a few hundred nodes are visited. Inside
 * a free string almost every token is allowed and a walk would visit the whole trie: instead
 * jsonc_vocab holds, for each state of the string lexer (17: between characters, in an escape,
 * inside a UTF-8 character), the tokens that stay inside the string, sorted by the characters they
 * begin (and, when they are many, as a ready mask), and the tokens that close it, grouped by what
 * follows their quote. A thread inside a string then costs a copy (or a run of the list) up to its
 * length bound, plus one walk of the trie of those remainders from its parent's state.
 *
 * A state holds at most MAXT threads; past that, alternatives are dropped (the output stays valid,
 * only less of the schema's language is reachable). Threads that end in the same frames merge.
 *
 * Contract: jsonc and jsonc_vocab are immutable after construction; a jsonc_state is one
 * generation's and not locked.
 */
#include "sample/jsonc.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define MAXF (JSONC_MAX_DEPTH + 1) /* frames of a thread: the document and the values nested */
#define MAXT 64                    /* threads of a state: anyOf alternatives alive at once */
#define MAX_ALTS 256               /* alternatives of one anyOf once flattened */
#define MAX_PROPS 1024             /* properties of one object */
#define MAX_MIN_ITEMS 1024
#define MAX_LIT 65535              /* bytes of one literal */
#define EOF_BYTE 256               /* "the output ends here", fed like a byte */
#define NEED_INF 255
#define LEN_INF UINT32_MAX                 /* jsonc.ml: no value within the frames */
#define LEN_CAP ((uint32_t)1 << 31)        /* jsonc.ml: longer values are stored as this (> any budget) */
#define EST_MAX ((int64_t)1 << 40)         /* byte counts saturate here: more than any budget */
#define UNBOUNDED INT64_MAX                /* jsonc_state.left without a budget */
#define RANGE_MAX (((int64_t)1 << 53) - 1) /* numbers exact in a double, scaled by 10^frac */

/* ---------------------------------------------------------------- the string lexer */
/* States between two bytes of a string's body. A character is counted at its first byte. */
enum {
	SB_CHAR,                          /* between characters */
	SB_ESC,                           /* after a backslash */
	SB_U0, SB_U1, SB_U1Z, SB_U1D,     /* \u and no digit yet; one digit; "0"; "d" (no surrogates) */
	SB_U2, SB_U2Z, SB_U3, SB_U3Z,     /* two, three digits; Z: all zero so far (no \u0000) */
	SB_C1, SB_C2, SB_C3,              /* UTF-8: that many continuation bytes (80-BF) to come */
	SB_E0, SB_ED, SB_F0, SB_F4,       /* after a lead byte whose next byte has a narrower range */
	SB_N,
	SB_CLOSE = 0xFE,                  /* results: the closing quote, and a byte that is not allowed */
	SB_FAIL = 0xFF,
};
#define STR_OPEN SB_N                 /* a K_STR frame before its opening quote */

static bool is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* the state after byte c (EOF_BYTE never fits); *start: c begins a character */
static int sb_step(int s, int c, bool *start)
{
	*start = false;
	switch (s) {
	case SB_CHAR:
		if (c == '"')
			return SB_CLOSE;
		*start = true;
		if (c == '\\')
			return SB_ESC;
		if (c < 0x20)
			return SB_FAIL;
		if (c < 0x80)
			return SB_CHAR;
		if (c < 0xC2)
			return SB_FAIL;
		if (c < 0xE0)
			return SB_C1;
		if (c == 0xE0)
			return SB_E0;
		if (c == 0xED)
			return SB_ED;
		if (c < 0xF0)
			return SB_C2;
		if (c == 0xF0)
			return SB_F0;
		if (c < 0xF4)
			return SB_C3;
		return c == 0xF4 ? SB_F4 : SB_FAIL;
	case SB_ESC:
		if (c == 'u')
			return SB_U0;
		return c < 256 && c && strchr("\"\\/bfnrt", c) ? SB_CHAR : SB_FAIL;
	case SB_U0:
		if (c == '0')
			return SB_U1Z;
		if (c == 'd' || c == 'D')
			return SB_U1D;
		return is_hex(c) ? SB_U1 : SB_FAIL;
	case SB_U1:
		return is_hex(c) ? SB_U2 : SB_FAIL;
	case SB_U1Z:
		return c == '0' ? SB_U2Z : is_hex(c) ? SB_U2 : SB_FAIL;
	case SB_U1D:
		return c >= '0' && c <= '7' ? SB_U2 : SB_FAIL;
	case SB_U2:
		return is_hex(c) ? SB_U3 : SB_FAIL;
	case SB_U2Z:
		return c == '0' ? SB_U3Z : is_hex(c) ? SB_U3 : SB_FAIL;
	case SB_U3:
		return is_hex(c) ? SB_CHAR : SB_FAIL;
	case SB_U3Z:
		return c != '0' && is_hex(c) ? SB_CHAR : SB_FAIL;
	case SB_C1:
		return c >= 0x80 && c <= 0xBF ? SB_CHAR : SB_FAIL;
	case SB_C2:
		return c >= 0x80 && c <= 0xBF ? SB_C1 : SB_FAIL;
	case SB_C3:
		return c >= 0x80 && c <= 0xBF ? SB_C2 : SB_FAIL;
	case SB_E0:
		return c >= 0xA0 && c <= 0xBF ? SB_C1 : SB_FAIL;
	case SB_ED:
		return c >= 0x80 && c <= 0x9F ? SB_C1 : SB_FAIL;
	case SB_F0:
		return c >= 0x90 && c <= 0xBF ? SB_C2 : SB_FAIL;
	case SB_F4:
		return c >= 0x80 && c <= 0x8F ? SB_C2 : SB_FAIL;
	}
	return SB_FAIL;
}

/* ---------------------------------------------------------------- string formats */
/* DFAs over the bytes between the quotes, built once:
 *   date       YYYY-MM-DD, the day within the month (29 February never: the year is not tracked)
 *   time       HH:MM:SS, up to 9 fraction digits, then Z or +HH:MM / -HH:MM (RFC 3339 full-time)
 *   date-time  date "T" time
 *   uuid       8-4-4-4-12 hex digits, either case */
enum { FMT_DATE, FMT_TIME, FMT_DATETIME, FMT_UUID, FMT_N };
static const char *const fmt_names[FMT_N] = { "date", "time", "date-time", "uuid" };
static const int fmt_len[FMT_N][2] = { { 10, 10 }, { 9, 24 }, { 20, 35 }, { 36, 36 } }; /* bytes, min-max */
#define FMT_STATES 64
typedef struct {
	int n;
	uint8_t next[FMT_STATES][256]; /* 0xFF: no transition */
	bool accept[FMT_STATES];
	uint8_t dist[FMT_STATES];      /* bytes from the state to an accepting one, at the fewest */
} fmt_dfa;
static fmt_dfa fmt_dfas[FMT_N];
static pthread_once_t fmt_once = PTHREAD_ONCE_INIT;

static int fb_new(fmt_dfa *d, bool accept)
{
	SH_ASSERT(d->n < FMT_STATES);
	memset(d->next[d->n], 0xFF, 256);
	d->accept[d->n] = accept;
	return d->n++;
}

static void fb_range(fmt_dfa *d, int from, int lo, int hi, int to)
{
	for (int c = lo; c <= hi; c++)
		d->next[from][c] = (uint8_t)to;
}

static void fb_chars(fmt_dfa *d, int from, const char *cs, int to)
{
	for (; *cs; cs++)
		d->next[from][(uint8_t)*cs] = (uint8_t)to;
}

/* a chain of n states from `from`, each taking lo-hi; returns the last */
static int fb_digits(fmt_dfa *d, int from, int n, int lo, int hi)
{
	for (int i = 0; i < n; i++) {
		int s = fb_new(d, false);
		fb_range(d, from, lo, hi, s);
		from = s;
	}
	return from;
}

/* date from s0, its last digit leading to end */
static void fb_date(fmt_dfa *d, int s0, int end)
{
	int s = fb_digits(d, s0, 4, '0', '9');
	int m = fb_new(d, false), m0 = fb_new(d, false), m1 = fb_new(d, false);
	fb_chars(d, s, "-", m);
	fb_chars(d, m, "0", m0);
	fb_chars(d, m, "1", m1);
	int a31 = fb_new(d, false), a30 = fb_new(d, false), a28 = fb_new(d, false);
	fb_chars(d, m0, "13578", a31);
	fb_chars(d, m0, "469", a30);
	fb_chars(d, m0, "2", a28);
	fb_chars(d, m1, "02", a31);
	fb_chars(d, m1, "1", a30);
	int d31 = fb_new(d, false), d30 = fb_new(d, false), d28 = fb_new(d, false);
	fb_chars(d, a31, "-", d31);
	fb_chars(d, a30, "-", d30);
	fb_chars(d, a28, "-", d28);
	int n19 = fb_new(d, false), any = fb_new(d, false), t31 = fb_new(d, false), t30 = fb_new(d, false),
	    t28 = fb_new(d, false);
	fb_chars(d, d31, "0", n19);
	fb_chars(d, d30, "0", n19);
	fb_chars(d, d28, "0", n19);
	fb_chars(d, d31, "12", any);
	fb_chars(d, d30, "12", any);
	fb_chars(d, d28, "1", any);
	fb_chars(d, d28, "2", t28);
	fb_chars(d, d31, "3", t31);
	fb_chars(d, d30, "3", t30);
	fb_range(d, n19, '1', '9', end);
	fb_range(d, any, '0', '9', end);
	fb_range(d, t31, '0', '1', end);
	fb_chars(d, t30, "0", end);
	fb_range(d, t28, '0', '8', end);
}

/* hours 00-23 from s, then ":" and minutes, the last digit leading to end (-1: a new state);
 * returns end */
static int fb_hhmm(fmt_dfa *d, int s, int end)
{
	int h01 = fb_new(d, false), h2 = fb_new(d, false), c = fb_new(d, false), colon = fb_new(d, false);
	fb_chars(d, s, "01", h01);
	fb_chars(d, s, "2", h2);
	fb_range(d, h01, '0', '9', c);
	fb_range(d, h2, '0', '3', c);
	fb_chars(d, c, ":", colon);
	int m = fb_new(d, false);
	end = end < 0 ? fb_new(d, false) : end;
	fb_range(d, colon, '0', '5', m);
	fb_range(d, m, '0', '9', end);
	return end;
}

static void fb_time(fmt_dfa *d, int s0, int end)
{
	int mm = fb_hhmm(d, s0, -1);
	int colon = fb_new(d, false), s = fb_new(d, false), ss = fb_new(d, false);
	fb_chars(d, mm, ":", colon);
	fb_range(d, colon, '0', '5', s);
	fb_range(d, s, '0', '9', ss);
	int sign = fb_new(d, false);
	fb_chars(d, ss, "Z", end);
	fb_chars(d, ss, "+-", sign);
	int dot = fb_new(d, false), prev = dot;
	fb_chars(d, ss, ".", dot);
	for (int i = 0; i < 9; i++) {
		int f = fb_new(d, false);
		fb_range(d, prev, '0', '9', f);
		fb_chars(d, f, "Z", end);
		fb_chars(d, f, "+-", sign);
		prev = f;
	}
	fb_hhmm(d, sign, end);
}

/* dist of every state, by relaxing until nothing changes (the DFAs are small and acyclic) */
static void fmt_dist(fmt_dfa *d)
{
	for (int s = 0; s < d->n; s++)
		d->dist[s] = d->accept[s] ? 0 : 0xFF;
	for (bool changed = true; changed;) {
		changed = false;
		for (int s = 0; s < d->n; s++)
			for (int b = 0; b < 256; b++) {
				int to = d->next[s][b];
				if (to != 0xFF && d->dist[to] != 0xFF && d->dist[to] + 1 < d->dist[s]) {
					d->dist[s] = (uint8_t)(d->dist[to] + 1);
					changed = true;
				}
			}
	}
}

static void fmt_build(void)
{
	fmt_dfa *d = &fmt_dfas[FMT_DATE];
	fb_new(d, false);
	fb_date(d, 0, fb_new(d, true));

	d = &fmt_dfas[FMT_TIME];
	fb_new(d, false);
	fb_time(d, 0, fb_new(d, true));

	d = &fmt_dfas[FMT_DATETIME];
	fb_new(d, false);
	int t = fb_new(d, false), t0 = fb_new(d, false);
	fb_date(d, 0, t);
	fb_chars(d, t, "T", t0);
	fb_time(d, t0, fb_new(d, true));

	d = &fmt_dfas[FMT_UUID];
	int s = fb_new(d, false);
	for (int i = 0; i < 36; i++) {
		int n = fb_new(d, i == 35);
		if (i == 8 || i == 13 || i == 18 || i == 23)
			fb_chars(d, s, "-", n);
		else {
			fb_range(d, s, '0', '9', n);
			fb_range(d, s, 'a', 'f', n);
			fb_range(d, s, 'A', 'F', n);
		}
		s = n;
	}
	for (int k = 0; k < FMT_N; k++)
		fmt_dist(&fmt_dfas[k]);
}

/* ---------------------------------------------------------------- the compiled constraint */
enum { K_DOC, K_LIT, K_STR, K_FMT, K_NUM, K_RANGE, K_OBJ, K_MAP, K_ARR, K_ANYOF };

typedef struct {
	uint8_t kind;
	uint8_t need;      /* frames its least nested value needs on a stack, its own included; NEED_INF */
	uint8_t fmt;       /* K_FMT: FMT_* */
	uint8_t frac;      /* K_RANGE: digits after the point (0: integers) */
	int32_t first, n;  /* K_LIT: literals (sorted); K_OBJ: properties; K_ANYOF: alternatives */
	int32_t child;     /* K_ARR: items; K_MAP: values; K_DOC: the root value */
	int32_t min, max;  /* K_STR: characters; K_ARR: items; K_MAP: members (max only) */
	int64_t lo, hi;    /* K_RANGE: the values allowed, times 10^frac */
} node;

typedef struct {
	uint32_t off, len; /* pool[off .. off+len) */
} lit;

typedef struct {
	lit key;           /* the name as a JSON string, quotes included */
	int32_t node;
	int32_t next_req;  /* the first required property at or after this one (index in the object), n: none */
	bool required;
} prop;

struct jsonc {
	node *nodes;
	int n_nodes, cap_nodes;
	prop *props;
	int n_props, cap_props;
	lit *lits;
	int n_lits, cap_lits;
	int32_t *alts;
	int n_alts, cap_alts;
	char *pool;
	size_t pool_len, pool_cap;
	int doc;           /* the K_DOC node every state starts in */
	int key;           /* the K_STR of free-form keys (K_MAP) */
	uint32_t *ml;      /* [n_nodes][MAXF + 1] bytes of the shortest value of node v within d frames
	                    * (its own included) at ml[v * (MAXF + 1) + d]; LEN_INF: none */
	uint32_t *lmin;    /* [2 * n_lits] a segment tree of the literals' lengths (minimum of a range) */
	int64_t rise;      /* the most one byte can add to the bytes a thread needs to end */
};

/* room for one more of *n elements of size in *p; false when out of memory */
static bool grow(void *pp, int *cap, int n, size_t size)
{
	void **p = pp;
	if (n < *cap)
		return true;
	int nc = *cap ? *cap * 2 : 16;
	void *q = realloc(*p, (size_t)nc * size);
	if (!q)
		return false;
	*p = q;
	*cap = nc;
	return true;
}

static const int64_t p10[19] = { 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
				 10000000000, 100000000000, 1000000000000, 10000000000000, 100000000000000,
				 1000000000000000, 10000000000000000, 100000000000000000,
				 1000000000000000000 };

/* ---------------------------------------------------------------- compiling */
/* JSON types, as far as constraints care */
enum { T_NULL = 1, T_BOOL = 2, T_OBJ = 4, T_ARR = 8, T_STR = 16, T_NUM = 32, T_INT = 64 };

typedef struct {
	jsonc *c;
	const json_t *root;
	char *msg;
	size_t cap;
	char path[1024];   /* JSON pointer of the schema being compiled */
	size_t plen;
	int depth;
	struct ref {       /* schemas compiled so far through $ref (and the root), and their nodes */
		const json_t *s;
		int node;
	} *refs;
	int n_refs, cap_refs;
	struct oneof {     /* oneOf branches, checked once everything is compiled */
		int *branch;
		int n;
		char *path;
	} *oneofs;
	int n_oneofs, cap_oneofs;
	int any;           /* the any-value node, -1 until needed */
	int err;
} cctx;

static int fail(cctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(cctx *x, const char *fmt, ...)
{
	if (x->err)
		return x->err;
	x->err = SH_EINVAL;
	if (x->msg && x->cap) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(x->msg, x->cap, fmt, ap);
		va_end(ap);
		if (k >= 0 && (size_t)k < x->cap)
			snprintf(x->msg + k, x->cap - (size_t)k, " at %s", x->plen ? x->path : "/");
	}
	return SH_EINVAL;
}

static int nomem(cctx *x)
{
	if (!x->err) {
		x->err = SH_ENOMEM;
		if (x->msg && x->cap)
			snprintf(x->msg, x->cap, "out of memory");
	}
	return SH_ENOMEM;
}

/* appends "/seg" (escaped as JSON pointers are) to the path; returns the old length to pop to */
static size_t path_push(cctx *x, const char *seg)
{
	size_t old = x->plen, n = old;
	if (n + 1 >= sizeof x->path)
		return old;
	x->path[n++] = '/';
	for (const char *p = seg; *p && n + 2 < sizeof x->path; p++) {
		if (*p == '~' || *p == '/') { /* ~0 and ~1 */
			x->path[n++] = '~';
			x->path[n++] = *p == '~' ? '0' : '1';
		} else
			x->path[n++] = *p;
	}
	x->path[n] = 0;
	x->plen = n;
	return old;
}

static void path_pop(cctx *x, size_t old)
{
	x->plen = old;
	x->path[old] = 0;
}

static int node_new(cctx *x, int kind)
{
	jsonc *c = x->c;
	if (c->n_nodes >= JSONC_MAX_NODES)
		return fail(x, "schema too large (more than %d nodes)", JSONC_MAX_NODES);
	if (!grow(&c->nodes, &c->cap_nodes, c->n_nodes, sizeof *c->nodes))
		return nomem(x);
	c->nodes[c->n_nodes] = (node){ .kind = (uint8_t)kind, .need = NEED_INF, .child = -1 };
	return c->n_nodes++;
}

static int pool_add(cctx *x, const char *s, size_t n, lit *out)
{
	jsonc *c = x->c;
	if (c->pool_len + n > JSONC_MAX_LITERALS)
		return fail(x, "enum, const and property names too large (more than %d bytes)", JSONC_MAX_LITERALS);
	if (c->pool_len + n > c->pool_cap) {
		size_t nc = SH_MAX(c->pool_cap * 2, c->pool_len + n + 256);
		char *p = realloc(c->pool, nc);
		if (!p)
			return nomem(x);
		c->pool = p;
		c->pool_cap = nc;
	}
	memcpy(c->pool + c->pool_len, s, n);
	*out = (lit){ (uint32_t)c->pool_len, (uint32_t)n };
	c->pool_len += n;
	return 0;
}

/* the JSON text of string s (quoted, escaped) into the pool */
static int pool_add_string(cctx *x, const char *s, size_t n, lit *out)
{
	json_t *j = json_stringn(s, n);
	char *t = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	json_decref(j);
	if (!t)
		return nomem(x);
	int r = pool_add(x, t, strlen(t), out);
	free(t);
	return r;
}

/* appends v's JSON text: compact, keys in their order, reals in the shortest form that reads back
 * as the same double */
static int dump_value(cctx *x, const json_t *v, int depth)
{
	lit l;
	char buf[40];
	int r = 0;
	if (depth > JSONC_MAX_SCHEMA_DEPTH)
		return fail(x, "an enum or const value nested deeper than %d levels", JSONC_MAX_SCHEMA_DEPTH);
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		size_t kn;
		json_t *m;
		bool first = true;
		r = pool_add(x, "{", 1, &l);
		json_object_keylen_foreach((json_t *)v, k, kn, m) {
			if (!r && !first)
				r = pool_add(x, ",", 1, &l);
			if (!r)
				r = pool_add_string(x, k, kn, &l);
			if (!r)
				r = pool_add(x, ":", 1, &l);
			if (!r)
				r = dump_value(x, m, depth + 1);
			first = false;
		}
		return r ? r : pool_add(x, "}", 1, &l);
	}
	case JSON_ARRAY:
		r = pool_add(x, "[", 1, &l);
		for (size_t i = 0; !r && i < json_array_size(v); i++) {
			if (i)
				r = pool_add(x, ",", 1, &l);
			if (!r)
				r = dump_value(x, json_array_get(v, i), depth + 1);
		}
		return r ? r : pool_add(x, "]", 1, &l);
	case JSON_STRING:
		return pool_add_string(x, json_string_value(v), json_string_length(v), &l);
	case JSON_INTEGER:
		snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return pool_add(x, buf, strlen(buf), &l);
	case JSON_REAL: {
		double d = json_real_value(v);
		for (int p = 15; p <= 17; p++) {
			snprintf(buf, sizeof buf, "%.*g", p, d);
			if (strtod(buf, NULL) == d)
				break;
		}
		return pool_add(x, buf, strlen(buf), &l);
	}
	case JSON_TRUE:
		return pool_add(x, "true", 4, &l);
	case JSON_FALSE:
		return pool_add(x, "false", 5, &l);
	case JSON_NULL:
		return pool_add(x, "null", 4, &l);
	}
	return 0;
}

static uint32_t value_types(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return T_OBJ;
	case JSON_ARRAY:
		return T_ARR;
	case JSON_STRING:
		return T_STR;
	case JSON_INTEGER:
		return T_NUM | T_INT;
	case JSON_REAL:
		return T_NUM | (json_real_value(v) == floor(json_real_value(v)) ? T_INT : 0);
	case JSON_TRUE:
	case JSON_FALSE:
		return T_BOOL;
	case JSON_NULL:
		return T_NULL;
	}
	return 0;
}

/* a value of types vt is of one of the types tm ("integer" wants an integral number) */
static bool types_match(uint32_t vt, uint32_t tm)
{
	return (vt & tm & ~(uint32_t)(T_NUM | T_INT)) || ((tm & T_NUM) && (vt & T_NUM)) ||
	       ((tm & T_INT) && (vt & T_INT));
}

typedef struct {
	const char *p;
	lit l;
} lit_sort;

static int lit_cmp(const void *a, const void *b)
{
	const lit_sort *x = a, *y = b;
	int r = memcmp(x->p, y->p, SH_MIN(x->l.len, y->l.len));
	return r ? r : (x->l.len > y->l.len) - (x->l.len < y->l.len);
}

/* a K_LIT of the texts ls[0..k) (in the pool; ls is freed): sorted, duplicates dropped */
static int lit_finish(cctx *x, lit_sort *ls, int k)
{
	jsonc *c = x->c;
	int id = node_new(x, K_LIT), first = c->n_lits;
	for (int i = 0; i < k; i++)
		ls[i].p = c->pool + ls[i].l.off;
	qsort(ls, (size_t)k, sizeof *ls, lit_cmp);
	for (int i = 0; id >= 0 && i < k; i++) {
		if (i && !lit_cmp(&ls[i - 1], &ls[i]))
			continue;
		if (!grow(&c->lits, &c->cap_lits, c->n_lits, sizeof *c->lits))
			id = nomem(x);
		else
			c->lits[c->n_lits++] = ls[i].l;
	}
	free(ls);
	if (id >= 0) {
		c->nodes[id].first = first;
		c->nodes[id].n = c->n_lits - first;
	}
	return id;
}

/* a K_LIT of the values of vals[0..n) whose types match tm (0: any) */
static int lit_node(cctx *x, json_t *const *vals, int n, uint32_t tm, const char *what)
{
	jsonc *c = x->c;
	lit_sort *ls = malloc(sizeof *ls * (size_t)(n ? n : 1));
	if (!ls)
		return nomem(x);
	int k = 0, r = 0;
	for (int i = 0; !r && i < n; i++) {
		if (tm && !types_match(value_types(vals[i]), tm))
			continue;
		size_t start = c->pool_len;
		if ((r = dump_value(x, vals[i], 0)))
			break;
		if (c->pool_len - start > MAX_LIT)
			r = fail(x, "an %s value longer than %d bytes", what, MAX_LIT);
		ls[k++].l = (lit){ (uint32_t)start, (uint32_t)(c->pool_len - start) };
	}
	if (!r && !k)
		r = fail(x, "no '%s' value has the schema's type", what);
	if (r) {
		free(ls);
		return r;
	}
	return lit_finish(x, ls, k);
}

/* a K_LIT of fixed JSON texts (true, false, null) */
static int lit_node_texts(cctx *x, const char *const *texts, int n)
{
	lit_sort *ls = malloc(sizeof *ls * (size_t)n);
	if (!ls)
		return nomem(x);
	for (int i = 0; i < n; i++)
		if (pool_add(x, texts[i], strlen(texts[i]), &ls[i].l)) {
			free(ls);
			return x->err;
		}
	return lit_finish(x, ls, n);
}

static int str_node(cctx *x, int min, int max)
{
	int id = node_new(x, K_STR);
	if (id >= 0) {
		x->c->nodes[id].min = min;
		x->c->nodes[id].max = max;
	}
	return id;
}

static int alts_add(cctx *x, int id, const int *alt, int n)
{
	jsonc *c = x->c;
	c->nodes[id].first = c->n_alts;
	c->nodes[id].n = n;
	for (int i = 0; i < n; i++) {
		if (!grow(&c->alts, &c->cap_alts, c->n_alts, sizeof *c->alts))
			return nomem(x);
		c->alts[c->n_alts++] = alt[i];
	}
	return id;
}

/* any JSON value: {free members}, [items], a string, a number, true/false/null */
static int any_node(cctx *x)
{
	if (x->any >= 0)
		return x->any;
	jsonc *c = x->c;
	static const char *const texts[] = { "false", "null", "true" };
	int any = node_new(x, K_ANYOF), map = node_new(x, K_MAP), arr = node_new(x, K_ARR);
	int str = str_node(x, 0, JSONC_MAX_STRING), num = node_new(x, K_NUM), atoms = lit_node_texts(x, texts, 3);
	if (x->err)
		return x->err;
	c->nodes[map].child = any;
	c->nodes[map].max = JSONC_MAX_MEMBERS;
	c->nodes[arr].child = any;
	c->nodes[arr].max = JSONC_MAX_ITEMS;
	int alt[5] = { map, arr, str, num, atoms };
	x->any = any;
	return alts_add(x, any, alt, 5);
}

static const char *const kw_ignored[] = { "description", "title", "default", "examples", "$schema", "$id",
					  "$comment", "deprecated", "readOnly", "writeOnly", "discriminator",
					  "$defs", "definitions" };
/* keywords that constrain a value of one type, and the type they imply when "type" is absent */
static const struct {
	const char *name;
	uint32_t type;
} kw_typed[] = {
	{ "minLength", T_STR }, { "maxLength", T_STR }, { "format", T_STR },
	{ "minimum", T_NUM }, { "maximum", T_NUM }, { "exclusiveMinimum", T_NUM }, { "exclusiveMaximum", T_NUM },
	{ "properties", T_OBJ }, { "required", T_OBJ }, { "additionalProperties", T_OBJ },
	{ "maxProperties", T_OBJ }, { "minProperties", T_OBJ },
	{ "items", T_ARR }, { "minItems", T_ARR }, { "maxItems", T_ARR },
};
static const char *const kw_other[] = { "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref" };

static bool in_list(const char *k, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(k, list[i]))
			return true;
	return false;
}

/* a count keyword (minLength, maxItems, ...) of s into *out (def when absent); 0 or an error */
static int get_count(cctx *x, const json_t *s, const char *k, int64_t def, int64_t *out)
{
	const json_t *v = json_object_get(s, k);
	*out = def;
	if (!v)
		return 0;
	double d = json_is_number(v) ? json_number_value(v) : -1;
	if (!(d >= 0) || d != floor(d))
		return fail(x, "'%s' must be a non-negative integer", k);
	*out = d > (double)INT32_MAX ? INT32_MAX : (int64_t)d;
	return 0;
}

/* checks the form of every keyword present (whether or not it applies to the type compiled) and
 * returns the types the constraint keywords imply (0: none present), the first of them in *kw */
static int check_keywords(cctx *x, const json_t *s, uint32_t *implied, const char **kw)
{
	const char *k;
	json_t *v;
	int64_t dummy;
	*implied = 0;
	*kw = NULL;
	json_object_foreach((json_t *)s, k, v) {
		size_t i;
		for (i = 0; i < SH_ARRAY_LEN(kw_typed) && strcmp(k, kw_typed[i].name); i++)
			;
		if (i == SH_ARRAY_LEN(kw_typed)) {
			if (!in_list(k, kw_other, SH_ARRAY_LEN(kw_other)) && !in_list(k, kw_ignored, SH_ARRAY_LEN(kw_ignored)))
				return fail(x, "unsupported JSON Schema keyword '%s'", k);
			continue;
		}
		*implied |= kw_typed[i].type;
		if (!*kw)
			*kw = k;
		int r = 0;
		if (!strcmp(k, "minLength") || !strcmp(k, "maxLength") || !strcmp(k, "minItems") ||
		    !strcmp(k, "maxItems") || !strcmp(k, "minProperties") || !strcmp(k, "maxProperties"))
			r = get_count(x, s, k, 0, &dummy);
		else if (!strcmp(k, "format") && !json_is_string(v))
			r = fail(x, "'format' must be a string");
		else if ((!strcmp(k, "minimum") || !strcmp(k, "maximum")) && !json_is_number(v))
			r = fail(x, "'%s' must be a number", k);
		else if (!strncmp(k, "exclusiveM", 10) && !json_is_number(v) && !json_is_boolean(v))
			r = fail(x, "'%s' must be a number (or, as in draft 4, a boolean)", k);
		else if (!strcmp(k, "properties") && !json_is_object(v))
			r = fail(x, "'properties' must be an object");
		else if (!strcmp(k, "required")) {
			if (!json_is_array(v))
				r = fail(x, "'required' must be an array of strings");
			for (size_t j = 0; !r && j < json_array_size(v); j++)
				if (!json_is_string(json_array_get(v, j)))
					r = fail(x, "'required' must be an array of strings");
		} else if (!strcmp(k, "additionalProperties") && !json_is_object(v) && !json_is_boolean(v))
			r = fail(x, "'additionalProperties' must be a schema");
		else if (!strcmp(k, "items") && json_is_array(v))
			r = fail(x, "'items' as an array (a tuple) is not supported");
		else if (!strcmp(k, "items") && !json_is_object(v) && !json_is_boolean(v))
			r = fail(x, "'items' must be a schema");
		if (r)
			return r;
	}
	return 0;
}

static int compile(cctx *x, const json_t *s);

/* the node of schema s reached through a $ref (or the root): compiled once, recursion allowed. The
 * node is an alias (a one-alternative anyOf, flattened away later) made before s is compiled, so
 * a reference to s from inside s finds it. path: where s is, for messages. */
static int compile_target(cctx *x, const json_t *s, const char *path)
{
	for (int i = 0; i < x->n_refs; i++)
		if (x->refs[i].s == s)
			return x->refs[i].node;
	int id = node_new(x, K_ANYOF);
	if (id < 0)
		return id;
	if (!grow(&x->refs, &x->cap_refs, x->n_refs, sizeof *x->refs))
		return nomem(x);
	x->refs[x->n_refs++] = (struct ref){ s, id };
	char *saved = strdup(x->path);
	if (!saved)
		return nomem(x);
	snprintf(x->path, sizeof x->path, "%s", path);
	x->plen = strlen(x->path);
	int r = compile(x, s);
	snprintf(x->path, sizeof x->path, "%s", saved);
	x->plen = strlen(x->path);
	free(saved);
	return r < 0 ? r : alts_add(x, id, &r, 1);
}

static int compile_ref(cctx *x, const json_t *ref)
{
	if (!json_is_string(ref))
		return fail(x, "'$ref' must be a string");
	const char *r = json_string_value(ref);
	if (!strcmp(r, "#"))
		return compile_target(x, x->root, "");
	const char *defs = !strncmp(r, "#/$defs/", 8) ? "$defs" : !strncmp(r, "#/definitions/", 14) ? "definitions" : NULL;
	const char *name = defs ? r + strlen(defs) + 3 : NULL;
	if (!defs || strchr(name, '/'))
		return fail(x, "unsupported '$ref' '%s' (only #, #/$defs/NAME and #/definitions/NAME)", r);
	char key[256];
	size_t n = 0;
	for (const char *p = name; *p; p++) {
		if (n + 1 >= sizeof key)
			return fail(x, "'$ref' '%s' too long", r);
		if (*p == '~' && (p[1] == '0' || p[1] == '1'))
			key[n++] = *++p == '0' ? '~' : '/';
		else
			key[n++] = *p;
	}
	key[n] = 0;
	const json_t *target = json_object_get(json_object_get(x->root, defs), key);
	if (!target)
		return fail(x, "'$ref' '%s' names no definition", r);
	char path[sizeof key + 16];
	snprintf(path, sizeof path, "/%s/%s", defs, name);
	return compile_target(x, target, path);
}

static int compile_anyof(cctx *x, const json_t *arr, const char *kw)
{
	if (!json_is_array(arr) || !json_array_size(arr))
		return fail(x, "'%s' must be a non-empty array", kw);
	if (json_array_size(arr) > MAX_ALTS)
		return fail(x, "'%s' with more than %d schemas", kw, MAX_ALTS);
	int n = (int)json_array_size(arr), *alt = malloc(sizeof *alt * (size_t)n);
	if (!alt)
		return nomem(x);
	for (int i = 0; i < n && !x->err; i++) {
		char seg[16];
		size_t old = path_push(x, kw);
		snprintf(seg, sizeof seg, "%d", i);
		path_push(x, seg);
		alt[i] = compile(x, json_array_get(arr, i));
		path_pop(x, old);
	}
	int id = x->err ? x->err : node_new(x, K_ANYOF);
	if (id >= 0 && alts_add(x, id, alt, n) >= 0 && !strcmp(kw, "oneOf")) {
		/* the branches, for check_oneofs: it owns alt then */
		if (!grow(&x->oneofs, &x->cap_oneofs, x->n_oneofs, sizeof *x->oneofs))
			id = nomem(x);
		else {
			struct oneof *o = &x->oneofs[x->n_oneofs++];
			*o = (struct oneof){ alt, n, strdup(x->plen ? x->path : "/") };
			alt = NULL;
			if (!o->path)
				id = nomem(x);
		}
	}
	free(alt);
	return x->err ? x->err : id;
}

static int compile_enum(cctx *x, const json_t *s, uint32_t tm)
{
	const json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
	if (en && (!json_is_array(en) || !json_array_size(en)))
		return fail(x, "'enum' must be a non-empty array");
	if (en && json_array_size(en) > 65536)
		return fail(x, "'enum' with more than 65536 values");
	size_t n = en ? json_array_size(en) : 1;
	json_t **vals = malloc(sizeof *vals * n);
	if (!vals)
		return nomem(x);
	int k = 0;
	for (size_t i = 0; i < n; i++) {
		json_t *v = en ? json_array_get(en, i) : (json_t *)cn;
		if (!cn || json_equal(v, (json_t *)cn))
			vals[k++] = v;
	}
	int id = k ? lit_node(x, vals, k, tm, en ? "enum" : "const") : fail(x, "'const' is not one of 'enum'");
	free(vals);
	return id;
}

/* number bounds of s: the predicate a value v (a double, as a JSON parser reads it) must meet */
typedef struct {
	bool has_min, has_xmin, has_max, has_xmax;
	double min, xmin, max, xmax;
} bounds;

static bool bounds_low(const bounds *b, double v)
{
	return (!b->has_min || v >= b->min) && (!b->has_xmin || v > b->xmin);
}

static bool bounds_high(const bounds *b, double v)
{
	return (!b->has_max || v <= b->max) && (!b->has_xmax || v < b->xmax);
}

static void bounds_get(const json_t *s, bounds *b)
{
	const json_t *v;
	memset(b, 0, sizeof *b);
	if ((v = json_object_get(s, "minimum")))
		b->has_min = true, b->min = json_number_value(v);
	if ((v = json_object_get(s, "maximum")))
		b->has_max = true, b->max = json_number_value(v);
	/* draft 4: a boolean that makes minimum/maximum exclusive */
	if ((v = json_object_get(s, "exclusiveMinimum")) && json_is_number(v))
		b->has_xmin = true, b->xmin = json_number_value(v);
	else if (json_is_true(v) && b->has_min)
		b->has_min = false, b->has_xmin = true, b->xmin = b->min;
	if ((v = json_object_get(s, "exclusiveMaximum")) && json_is_number(v))
		b->has_xmax = true, b->xmax = json_number_value(v);
	else if (json_is_true(v) && b->has_max)
		b->has_max = false, b->has_xmax = true, b->xmax = b->max;
}

/* K_RANGE over the values N / 10^frac, N in [-RANGE_MAX, RANGE_MAX], that meet b. The limits are
 * found with the double arithmetic a JSON parser uses (N / 10^frac, correctly rounded as strtod
 * is), from an estimate moved until the predicate flips. */
static int range_node(cctx *x, const bounds *b, bool integer)
{
	double big = 0;
	if (b->has_min)
		big = SH_MAX(big, fabs(b->min));
	if (b->has_xmin)
		big = SH_MAX(big, fabs(b->xmin));
	if (b->has_max)
		big = SH_MAX(big, fabs(b->max));
	if (b->has_xmax)
		big = SH_MAX(big, fabs(b->xmax));
	int digits = 1;
	while (digits < 18 && big >= (double)p10[digits])
		digits++;
	int frac = integer ? 0 : SH_MAX(0, SH_MIN(6, 15 - digits));
	double scale = (double)p10[frac];
	int64_t M = RANGE_MAX, lo = -M, hi = M;
	double est_lo = -INFINITY, est_hi = INFINITY;
	if (b->has_min)
		est_lo = b->min;
	if (b->has_xmin)
		est_lo = SH_MAX(est_lo, b->xmin);
	if (b->has_max)
		est_hi = b->max;
	if (b->has_xmax)
		est_hi = SH_MIN(est_hi, b->xmax);
	if (est_lo * scale > -(double)M)
		lo = est_lo * scale >= (double)M ? M : (int64_t)ceil(est_lo * scale);
	if (est_hi * scale < (double)M)
		hi = est_hi * scale <= -(double)M ? -M : (int64_t)floor(est_hi * scale);
	for (int i = 0; i < 64 && lo > -M && bounds_low(b, (double)(lo - 1) / scale); i++)
		lo--;
	for (int i = 0; i < 64 && lo <= M && !bounds_low(b, (double)lo / scale); i++)
		lo++;
	for (int i = 0; i < 64 && hi < M && bounds_high(b, (double)(hi + 1) / scale); i++)
		hi++;
	for (int i = 0; i < 64 && hi >= -M && !bounds_high(b, (double)hi / scale); i++)
		hi--;
	if (lo > hi || !bounds_low(b, (double)lo / scale) || !bounds_high(b, (double)hi / scale))
		return fail(x, "no %s meets 'minimum'/'maximum'", integer ? "integer" : "number");
	int id = node_new(x, K_RANGE);
	if (id >= 0) {
		node *nd = &x->c->nodes[id];
		nd->frac = (uint8_t)frac;
		nd->lo = lo;
		nd->hi = hi;
	}
	return id;
}

static int compile_string(cctx *x, const json_t *s)
{
	int64_t min, max;
	if (get_count(x, s, "minLength", 0, &min) || get_count(x, s, "maxLength", -1, &max))
		return x->err;
	const json_t *f = json_object_get(s, "format");
	if (f) {
		int k;
		for (k = 0; k < FMT_N && strcmp(json_string_value(f), fmt_names[k]); k++)
			;
		if (k == FMT_N)
			return fail(x, "unsupported string format '%s'", json_string_value(f));
		if (min > fmt_len[k][0] || (max >= 0 && max < fmt_len[k][1]))
			return fail(x, "'minLength'/'maxLength' with format '%s' are not supported", fmt_names[k]);
		int id = node_new(x, K_FMT);
		if (id >= 0)
			x->c->nodes[id].fmt = (uint8_t)k;
		return id;
	}
	if (min > 65535)
		return fail(x, "'minLength' above 65535 is not supported");
	if (max < 0)
		max = SH_MAX(min, JSONC_MAX_STRING);
	if (min > max)
		return fail(x, "'minLength' %lld exceeds 'maxLength' %lld", (long long)min, (long long)max);
	return str_node(x, (int)min, (int)SH_MIN(max, 65535));
}

static int compile_array(cctx *x, const json_t *s)
{
	int64_t min, max;
	if (get_count(x, s, "minItems", 0, &min) || get_count(x, s, "maxItems", -1, &max))
		return x->err;
	if (min > MAX_MIN_ITEMS)
		return fail(x, "'minItems' above %d is not supported", MAX_MIN_ITEMS);
	const json_t *items = json_object_get(s, "items");
	if (json_is_false(items))
		max = 0;
	else if (max < 0)
		max = SH_MAX(min, JSONC_MAX_ITEMS);
	if (min > max)
		return fail(x, "'minItems' %lld exceeds 'maxItems' %lld", (long long)min, (long long)max);
	int child;
	if (items && !json_is_false(items)) {
		size_t old = path_push(x, "items");
		child = compile(x, items);
		path_pop(x, old);
	} else
		child = any_node(x);
	int id = child < 0 ? child : node_new(x, K_ARR);
	if (id >= 0) {
		node *nd = &x->c->nodes[id];
		nd->child = child;
		nd->min = (int)min;
		nd->max = (int)SH_MIN(max, 65535);
	}
	return id;
}

static bool required_has(const json_t *req, const char *name)
{
	for (size_t i = 0; i < json_array_size(req); i++)
		if (!strcmp(json_string_value(json_array_get(req, i)), name))
			return true;
	return false;
}

/* properties listed: K_OBJ; none: K_MAP (free keys, values of additionalProperties), or {} only */
static int compile_object(cctx *x, const json_t *s)
{
	jsonc *c = x->c;
	const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
	const json_t *addl = json_object_get(s, "additionalProperties");
	int64_t minp, maxp;
	if (get_count(x, s, "minProperties", 0, &minp) || get_count(x, s, "maxProperties", -1, &maxp))
		return x->err;
	size_t n_listed = json_object_size(props), n_extra = 0;
	for (size_t i = 0; i < json_array_size(req); i++) {
		const char *name = json_string_value(json_array_get(req, i));
		bool dup = false;
		for (size_t j = 0; j < i; j++)
			dup |= !strcmp(name, json_string_value(json_array_get(req, j)));
		if (!dup && !json_object_get(props, name)) {
			if (json_is_false(addl))
				return fail(x, "required property '%s' is not in 'properties'", name);
			n_extra++;
		}
	}
	size_t n = n_listed + n_extra;
	if (!n && !json_is_false(addl)) {
		if (minp > 0)
			return fail(x, "'minProperties' on an object without 'properties' is not supported");
		int child;
		if (json_is_object(addl)) {
			size_t old = path_push(x, "additionalProperties");
			child = compile(x, addl);
			path_pop(x, old);
		} else
			child = any_node(x);
		int id = child < 0 ? child : node_new(x, K_MAP);
		if (id >= 0) {
			c->nodes[id].child = child;
			c->nodes[id].max = maxp < 0 ? JSONC_MAX_MEMBERS : (int)SH_MIN(maxp, 65535);
		}
		return id;
	}
	if (n > MAX_PROPS)
		return fail(x, "more than %d properties", MAX_PROPS);
	size_t n_req = 0;
	for (size_t i = 0; i < json_array_size(req); i++)
		n_req += !!json_object_get(props, json_string_value(json_array_get(req, i)));
	if (minp > (int64_t)(n_req + n_extra) || (maxp >= 0 && maxp < (int64_t)n))
		return fail(x, "'minProperties'/'maxProperties' with 'properties' are not supported");
	prop *ps = malloc(sizeof *ps * (n ? n : 1));
	if (!ps)
		return nomem(x);
	int k = 0;
	const char *name;
	json_t *sub;
	json_object_foreach((json_t *)props, name, sub) {
		size_t old = path_push(x, "properties");
		path_push(x, name);
		int child = compile(x, sub);
		path_pop(x, old);
		if (child < 0 || pool_add_string(x, name, strlen(name), &ps[k].key))
			break;
		if (ps[k].key.len > MAX_LIT) {
			fail(x, "a property name longer than %d bytes", MAX_LIT);
			break;
		}
		ps[k].node = child;
		ps[k++].required = required_has(req, name);
	}
	for (size_t i = 0; !x->err && i < json_array_size(req); i++) {
		const char *rn = json_string_value(json_array_get(req, i));
		bool seen = json_object_get(props, rn);
		for (size_t j = 0; j < i; j++)
			seen |= !strcmp(rn, json_string_value(json_array_get(req, j)));
		if (seen)
			continue;
		int child = any_node(x);
		if (child < 0 || pool_add_string(x, rn, strlen(rn), &ps[k].key))
			break;
		ps[k].node = child;
		ps[k++].required = true;
	}
	int id = x->err ? x->err : node_new(x, K_OBJ);
	if (id >= 0) {
		int next = k;
		for (int i = k - 1; i >= 0; i--) {
			if (ps[i].required)
				next = i;
			ps[i].next_req = next;
		}
		c->nodes[id].first = c->n_props;
		c->nodes[id].n = k;
		for (int i = 0; i < k && id >= 0; i++) {
			if (!grow(&c->props, &c->cap_props, c->n_props, sizeof *c->props))
				id = nomem(x);
			else
				c->props[c->n_props++] = ps[i];
		}
	}
	free(ps);
	return id;
}

static int compile_type(cctx *x, const json_t *s, uint32_t t)
{
	static const char *const bools[] = { "false", "true" }, *const null[] = { "null" };
	switch (t) {
	case T_NULL:
		return lit_node_texts(x, null, 1);
	case T_BOOL:
		return lit_node_texts(x, bools, 2);
	case T_STR:
		return compile_string(x, s);
	case T_OBJ:
		return compile_object(x, s);
	case T_ARR:
		return compile_array(x, s);
	}
	bounds b;
	bounds_get(s, &b);
	if (t == T_NUM && !b.has_min && !b.has_xmin && !b.has_max && !b.has_xmax)
		return node_new(x, K_NUM);
	return range_node(x, &b, t == T_INT);
}

static int parse_type(cctx *x, const json_t *ty, uint32_t *out)
{
	static const struct {
		const char *name;
		uint32_t t;
	} names[] = { { "null", T_NULL }, { "boolean", T_BOOL }, { "object", T_OBJ }, { "array", T_ARR },
		      { "string", T_STR }, { "number", T_NUM }, { "integer", T_INT } };
	size_t n = json_is_array(ty) ? json_array_size(ty) : 1;
	*out = 0;
	if (!json_is_string(ty) && (!json_is_array(ty) || !n))
		return fail(x, "'type' must be a string or a non-empty array of strings");
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_is_array(ty) ? json_array_get(ty, i) : ty;
		if (!json_is_string(e))
			return fail(x, "'type' must be a string or a non-empty array of strings");
		size_t k;
		for (k = 0; k < SH_ARRAY_LEN(names) && strcmp(json_string_value(e), names[k].name); k++)
			;
		if (k == SH_ARRAY_LEN(names))
			return fail(x, "unknown type '%s'", json_string_value(e));
		*out |= names[k].t;
	}
	if ((*out & T_NUM) && (*out & T_INT))
		*out &= ~(uint32_t)T_INT;
	return 0;
}

static int compile_body(cctx *x, const json_t *s)
{
	uint32_t implied, types = 0;
	const char *kw, *comb = NULL, *other = NULL;
	if (check_keywords(x, s, &implied, &kw))
		return x->err;
	const json_t *ty = json_object_get(s, "type");
	if (ty && parse_type(x, ty, &types))
		return x->err;
	static const char *const combs[] = { "$ref", "allOf", "anyOf", "oneOf" };
	for (size_t i = 0; i < SH_ARRAY_LEN(combs); i++) {
		if (!json_object_get(s, combs[i]))
			continue;
		if (comb)
			other = combs[i];
		else
			comb = combs[i];
	}
	if (comb) {
		other = other ? other : kw ? kw : ty ? "type" : json_object_get(s, "enum") ? "enum"
			: json_object_get(s, "const") ? "const" : NULL;
		if (other)
			return fail(x, "'%s' with '%s' is not supported", comb, other);
		const json_t *v = json_object_get(s, comb);
		if (!strcmp(comb, "$ref"))
			return compile_ref(x, v);
		if (!strcmp(comb, "allOf")) {
			if (!json_is_array(v) || !json_array_size(v))
				return fail(x, "'allOf' must be a non-empty array");
			if (json_array_size(v) > 1)
				return fail(x, "'allOf' with more than one schema is not supported");
			size_t old = path_push(x, "allOf");
			path_push(x, "0");
			int id = compile(x, json_array_get(v, 0));
			path_pop(x, old);
			return id;
		}
		return compile_anyof(x, v, comb);
	}
	if (json_object_get(s, "enum") || json_object_get(s, "const")) {
		if (kw)
			return fail(x, "'%s' with '%s' is not supported", json_object_get(s, "enum") ? "enum" : "const", kw);
		return compile_enum(x, s, types);
	}
	if (!types)
		types = implied;
	if (!types)
		return any_node(x);
	int alt[7], n = 0;
	for (uint32_t t = 1; t <= T_INT; t <<= 1) {
		if (!(types & t))
			continue;
		alt[n] = compile_type(x, s, t);
		if (alt[n++] < 0)
			return x->err;
	}
	if (n == 1)
		return alt[0];
	int id = node_new(x, K_ANYOF);
	return id < 0 ? id : alts_add(x, id, alt, n);
}

static int compile(cctx *x, const json_t *s)
{
	if (x->depth >= JSONC_MAX_SCHEMA_DEPTH)
		return fail(x, "schema nested deeper than %d levels", JSONC_MAX_SCHEMA_DEPTH);
	if (json_is_true(s))
		return any_node(x);
	if (json_is_false(s))
		return fail(x, "the schema false matches nothing");
	if (!json_is_object(s))
		return fail(x, "a schema must be an object or a boolean");
	x->depth++;
	int r = compile_body(x, s);
	x->depth--;
	return r;
}

/* Replaces every anyOf's alternatives by the non-anyOf nodes reachable through anyOf alone (so
 * aliases and nested anyOf vanish, and a fork is one level deep). */
static int flatten(cctx *x)
{
	jsonc *c = x->c;
	int32_t *alts = NULL, n_alts = 0, cap = 0;
	int *stamp = calloc((size_t)c->n_nodes, sizeof *stamp), *stack = malloc(sizeof *stack * (size_t)c->n_nodes);
	int *out = malloc(sizeof *out * MAX_ALTS);
	int r = stamp && stack && out ? 0 : nomem(x);
	for (int v = 0; !r && v < c->n_nodes; v++) {
		if (c->nodes[v].kind != K_ANYOF)
			continue;
		int sp = 0, n = 0;
		stack[sp++] = v;
		stamp[v] = v + 1;
		while (sp && !r) {
			const node *u = &c->nodes[stack[--sp]];
			for (int i = 0; i < u->n; i++) {
				int a = c->alts[u->first + i];
				if (stamp[a] == v + 1)
					continue;
				stamp[a] = v + 1;
				if (c->nodes[a].kind == K_ANYOF)
					stack[sp++] = a;
				else if (n == MAX_ALTS)
					r = fail(x, "an anyOf with more than %d alternatives (nested anyOf and $ref included)", MAX_ALTS);
				else
					out[n++] = a;
			}
		}
		c->nodes[v].first = n_alts;
		c->nodes[v].n = n;
		for (int i = 0; !r && i < n; i++) {
			if (!grow(&alts, &cap, n_alts, sizeof *alts))
				r = nomem(x);
			else
				alts[n_alts++] = out[i];
		}
	}
	free(stamp);
	free(stack);
	free(out);
	free(c->alts);
	c->alts = alts;
	c->n_alts = n_alts;
	c->cap_alts = cap;
	return r;
}

static int compute_min(cctx *x);

/* the JSON types a node's values may have (anyOf: of its flattened alternatives) */
static uint32_t node_types(const jsonc *c, int id)
{
	const node *nd = &c->nodes[id];
	uint32_t t = 0;
	switch (nd->kind) {
	case K_LIT:
		for (int i = 0; i < nd->n; i++) {
			char ch = c->pool[c->lits[nd->first + i].off];
			t |= ch == '{' ? T_OBJ : ch == '[' ? T_ARR : ch == '"' ? T_STR : ch == 't' || ch == 'f' ? T_BOOL
				: ch == 'n' ? T_NULL : T_NUM;
		}
		return t;
	case K_STR:
	case K_FMT:
		return T_STR;
	case K_NUM:
	case K_RANGE:
		return T_NUM;
	case K_OBJ:
	case K_MAP:
		return T_OBJ;
	case K_ARR:
		return T_ARR;
	case K_ANYOF:
		for (int i = 0; i < nd->n; i++)
			t |= node_types(c, c->alts[nd->first + i]);
		return t;
	}
	return T_OBJ | T_ARR | T_STR | T_NUM | T_BOOL | T_NULL;
}

/* the node itself, or the one alternative of an alias */
static int resolve(const jsonc *c, int id)
{
	return c->nodes[id].kind == K_ANYOF && c->nodes[id].n == 1 ? c->alts[c->nodes[id].first] : id;
}

static bool lits_disjoint(const jsonc *c, const node *a, const node *b)
{
	if ((int64_t)a->n * b->n > 1 << 20)
		return false;
	for (int i = 0; i < a->n; i++)
		for (int j = 0; j < b->n; j++) {
			const lit *p = &c->lits[a->first + i], *q = &c->lits[b->first + j];
			if (p->len == q->len && !memcmp(c->pool + p->off, c->pool + q->off, p->len))
				return false;
		}
	return true;
}

/* no value can match both a and b: their types differ, they are literals of no common value, or
 * objects with a required property whose literal values differ (a discriminator) */
static bool distinct(const jsonc *c, int a, int b)
{
	if (!(node_types(c, a) & node_types(c, b)))
		return true;
	const node *na = &c->nodes[resolve(c, a)], *nb = &c->nodes[resolve(c, b)];
	if (na->kind == K_LIT && nb->kind == K_LIT)
		return lits_disjoint(c, na, nb);
	if (na->kind != K_OBJ || nb->kind != K_OBJ)
		return false;
	for (int i = 0; i < na->n; i++) {
		const prop *p = &c->props[na->first + i];
		for (int j = 0; p->required && j < nb->n; j++) {
			const prop *q = &c->props[nb->first + j];
			if (!q->required || p->key.len != q->key.len ||
			    memcmp(c->pool + p->key.off, c->pool + q->key.off, p->key.len))
				continue;
			const node *u = &c->nodes[resolve(c, p->node)], *w = &c->nodes[resolve(c, q->node)];
			if (u->kind == K_LIT && w->kind == K_LIT && lits_disjoint(c, u, w))
				return true;
		}
	}
	return false;
}

/* oneOf is generated as anyOf, which is valid only if no value matches two branches */
static int check_oneofs(cctx *x)
{
	for (int k = 0; k < x->n_oneofs; k++) {
		const struct oneof *o = &x->oneofs[k];
		for (int i = 0; i < o->n; i++)
			for (int j = i + 1; j < o->n; j++)
				if (!distinct(x->c, o->branch[i], o->branch[j])) {
					snprintf(x->path, sizeof x->path, "%s", o->path);
					x->plen = strlen(x->path);
					return fail(x, "'oneOf' branches %d and %d may match the same value (use anyOf)", i, j);
				}
	}
	return 0;
}

static void cctx_free(cctx *x)
{
	free(x->refs);
	for (int i = 0; i < x->n_oneofs; i++) {
		free(x->oneofs[i].branch);
		free(x->oneofs[i].path);
	}
	free(x->oneofs);
}

jsonc *jsonc_compile(const json_t *schema, char *msg, size_t cap, int *err)
{
	pthread_once(&fmt_once, fmt_build);
	if (msg && cap)
		msg[0] = 0;
	jsonc *c = calloc(1, sizeof *c);
	cctx x = { .c = c, .root = schema, .msg = msg, .cap = cap, .any = -1 };
	if (!c) {
		*err = nomem(&x);
		return NULL;
	}
	c->doc = node_new(&x, K_DOC);
	c->key = str_node(&x, 0, JSONC_MAX_KEY);
	int root;
	if (!schema) { /* any object */
		int any = any_node(&x);
		root = any < 0 ? any : node_new(&x, K_MAP);
		if (root >= 0) {
			c->nodes[root].child = any;
			c->nodes[root].max = JSONC_MAX_MEMBERS;
		}
	} else
		root = compile_target(&x, schema, "");
	if (root >= 0) {
		c->nodes[c->doc].child = root;
		if (!flatten(&x) && !compute_min(&x) && c->nodes[c->doc].need == NEED_INF)
			fail(&x, "no value meets the schema within %d levels of nesting", JSONC_MAX_DEPTH);
		if (!x.err)
			check_oneofs(&x);
	}
	cctx_free(&x);
	*err = x.err;
	if (x.err) {
		jsonc_free(c);
		return NULL;
	}
	return c;
}

void jsonc_free(jsonc *c)
{
	if (!c)
		return;
	free(c->nodes);
	free(c->props);
	free(c->lits);
	free(c->alts);
	free(c->pool);
	free(c->ml);
	free(c->lmin);
	free(c);
}

int jsonc_min_tokens(const jsonc *c)
{
	uint32_t m = c->ml[c->doc * (MAXF + 1) + MAXF];
	return m >= LEN_CAP ? INT_MAX : (int)m;
}

/* ---------------------------------------------------------------- threads */
/* One value being produced. Per kind:
 *   K_DOC    st 0 before the root value, 1 after it
 *   K_LIT    x: the first literal (index) matching what came, a: bytes of it that came
 *   K_STR    st: STR_OPEN or a lexer state SB_*; a: characters so far
 *   K_FMT    st 0 before the quote, 1 inside; x: the DFA state
 *   K_NUM    st: N_*; a: digits of the current part
 *   K_RANGE  st: R_* | R_NEG; a: digits before the point, b: after; x: the digits as an integer
 *   K_OBJ    st: O_*; a: the next property that may come (index in the object); b: the property
 *            whose key is being matched, x: its bytes matched
 *   K_MAP    st: O_*; a: members so far
 *   K_ARR    st: A_*; a: items so far
 * ws: whitespace bytes in the current gap. */
typedef struct {
	uint16_t node;
	uint8_t st;
	uint8_t ws;
	uint16_t a, b;
	uint64_t x;
} frame;

typedef struct {
	uint16_t n;        /* frames */
	uint16_t values;   /* optional items and free-form members left (JSONC_MAX_VALUES) */
	uint32_t zero;     /* (padding, kept 0: threads are compared bytewise) */
	frame f[MAXF];
} thread;

/* a set of threads, packed: this header, then each thread's header and n frames */
typedef struct {
	uint32_t n, len;   /* threads, bytes after the header */
} set_hdr;

#define THREAD_HDR offsetof(thread, f)
#define SET_MAX (sizeof(set_hdr) + MAXT * sizeof(thread))

static size_t thread_size(const thread *t)
{
	return THREAD_HDR + t->n * sizeof(frame);
}

static size_t set_size(const uint8_t *s)
{
	return sizeof(set_hdr) + ((const set_hdr *)s)->len;
}

static void set_clear(uint8_t *s)
{
	*(set_hdr *)s = (set_hdr){ 0, 0 };
}

static int64_t thread_est(const jsonc *c, const thread *t);

/* adds t to the set unless it is there already. A full set keeps the MAXT threads that need the
 * fewest bytes to end: t replaces the one needing the most if it needs fewer (a thread dropped is
 * a way forward lost, never a wrong one, and the shortest completion stays, which the budget
 * counts on) */
static void emit(const jsonc *c, uint8_t *out, const thread *t)
{
	set_hdr *h = (set_hdr *)out;
	size_t sz = thread_size(t);
	uint8_t *p = out + sizeof *h;
	for (uint32_t i = 0; i < h->n; i++) {
		size_t usz = thread_size((const thread *)p);
		if (usz == sz && !memcmp(p, t, sz))
			return;
		p += usz;
	}
	if (h->n == MAXT) {
		uint8_t *q = out + sizeof *h, *worst = q;
		int64_t most = -1;
		for (uint32_t i = 0; i < h->n; q += thread_size((const thread *)q), i++) {
			int64_t e = thread_est(c, (const thread *)q);
			if (e > most) {
				most = e;
				worst = q;
			}
		}
		if (thread_est(c, t) >= most)
			return;
		size_t wsz = thread_size((const thread *)worst);
		memmove(worst, worst + wsz, (size_t)(p - worst - (ptrdiff_t)wsz));
		p -= wsz;
		h->n--;
		h->len -= (uint32_t)wsz;
	}
	memcpy(p, t, sz);
	h->n++;
	h->len += (uint32_t)sz;
}

enum { R_FAIL, R_TAKE, R_DONE, R_PASS, R_PUSH };   /* what a frame does with a byte */
enum { O_OPEN, O_FIRST, O_KEY, O_COLON, O_VAL, O_AFTER, O_COMMA };
enum { A_OPEN, A_FIRST, A_AFTER, A_COMMA };
enum { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
enum { R_BEGIN, R_SIGN, R_INT, R_FRAC, R_NEG = 4 };

static bool is_ws(int b)
{
	return b == ' ' || b == '\n' || b == '\t' || b == '\r';
}

static bool is_digit(int b)
{
	return b >= '0' && b <= '9';
}

static bool fits(const jsonc *c, const thread *t, int id)
{
	return t->n + c->nodes[id].need <= MAXF;
}

/* literal l against the bytes p[0..k) then b: <0, 0 (l begins with them), >0 */
static int lit_vs(const jsonc *c, const lit *l, const char *p, uint32_t k, int b)
{
	const char *q = c->pool + l->off;
	int r = memcmp(q, p, SH_MIN(l->len, k));
	if (r || l->len < k)
		return r ? r : -1;
	return l->len == k ? -1 : (uint8_t)q[k] - b;
}

/* The literals are sorted, so those that begin with what came (the first is x, a: its bytes that
 * came) are the next ones, by the byte that follows: a binary search finds the first with b. */
static int step_lit(const jsonc *c, const node *nd, frame *f, int b)
{
	uint32_t j = (uint32_t)f->x, k = f->a, lo = j, hi = (uint32_t)(nd->first + nd->n), end = hi;
	const char *p = c->pool + c->lits[j].off;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (lit_vs(c, &c->lits[mid], p, k, b) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == end || lit_vs(c, &c->lits[lo], p, k, b))
		return c->lits[j].len == k ? R_PASS : R_FAIL;
	const lit *m = &c->lits[lo];
	f->x = lo;
	f->a = (uint16_t)(k + 1);
	/* complete, and no literal continues it: the value ends with this byte */
	if (m->len == k + 1 && (lo + 1 == end || c->lits[lo + 1].len <= m->len ||
				memcmp(c->pool + c->lits[lo + 1].off, c->pool + m->off, m->len)))
		return R_DONE;
	return R_TAKE;
}

static int step_str(const node *nd, frame *f, int b)
{
	if (f->st == STR_OPEN) {
		if (b != '"')
			return R_FAIL;
		f->st = SB_CHAR;
		return R_TAKE;
	}
	bool start;
	int s = sb_step(f->st, b, &start);
	if (s == SB_CLOSE)
		return f->a >= nd->min ? R_DONE : R_FAIL;
	if (s == SB_FAIL || (start && f->a >= nd->max))
		return R_FAIL;
	f->a += start;
	f->st = (uint8_t)s;
	return R_TAKE;
}

static int step_fmt(const node *nd, frame *f, int b)
{
	const fmt_dfa *d = &fmt_dfas[nd->fmt];
	if (f->st == 0) {
		if (b != '"')
			return R_FAIL;
		f->st = 1;
		return R_TAKE;
	}
	if (b == '"')
		return d->accept[f->x] ? R_DONE : R_FAIL;
	if (b >= 256 || d->next[f->x][b] == 0xFF)
		return R_FAIL;
	f->x = d->next[f->x][b];
	return R_TAKE;
}

/* -?(0|[1-9][0-9]{0,15})(\.[0-9]{1,16})?([eE][+-]?[0-9]{1,2})? */
static int step_num(frame *f, int b)
{
	bool d = is_digit(b);
	switch (f->st) {
	case N_START:
		if (b == '-') {
			f->st = N_MINUS;
			return R_TAKE;
		}
		/* fallthrough */
	case N_MINUS:
		if (!d)
			return R_FAIL;
		f->st = b == '0' ? N_ZERO : N_INT;
		f->a = 1;
		return R_TAKE;
	case N_INT:
		if (d && f->a < 16) {
			f->a++;
			return R_TAKE;
		}
		/* fallthrough */
	case N_ZERO:
		if (b == '.' || b == 'e' || b == 'E') {
			f->st = b == '.' ? N_DOT : N_E;
			f->a = 0;
			return R_TAKE;
		}
		return R_PASS;
	case N_DOT:
	case N_FRAC:
		if (d && f->a < 16) {
			f->a++;
			f->st = N_FRAC;
			return R_TAKE;
		}
		if (f->st == N_DOT)
			return R_FAIL;
		if (b == 'e' || b == 'E') {
			f->st = N_E;
			f->a = 0;
			return R_TAKE;
		}
		return R_PASS;
	case N_E:
		if (b == '+' || b == '-') {
			f->st = N_ESIGN;
			return R_TAKE;
		}
		/* fallthrough */
	case N_ESIGN:
		if (!d)
			return R_FAIL;
		f->st = N_EXP;
		f->a = 1;
		return R_TAKE;
	case N_EXP:
		if (d && f->a < 2) {
			f->a++;
			return R_TAKE;
		}
		return R_PASS;
	}
	return R_FAIL;
}

typedef __int128 i128;

/* some value of sign neg and magnitude in [lo, hi] (a negative one never 0) is within the node's
 * bounds */
static bool range_meets(const node *nd, bool neg, i128 lo, i128 hi)
{
	if (!neg)
		return lo <= nd->hi && hi >= nd->lo;
	lo = lo < 1 ? 1 : lo;
	return lo <= hi && -lo >= nd->lo && -hi <= nd->hi;
}

/* a number begun so (phase, sign, the digits m, ni before and nf after the point) can still end
 * within the bounds */
static bool range_open(const node *nd, int st, uint64_t m, int nf)
{
	bool neg = st & R_NEG;
	int64_t one = p10[nd->frac];
	switch (st & 3) {
	case R_SIGN:
		return range_meets(nd, true, 1, RANGE_MAX);
	case R_FRAC:
		return range_meets(nd, neg, (i128)m * p10[nd->frac - nf], (i128)(m + 1) * p10[nd->frac - nf] - 1);
	case R_INT:
		if (m == 0) /* "0" or "-0": only a fraction may follow */
			return range_meets(nd, neg, 0, one - 1);
		/* more integer digits, k of them: the values m * 10^k ... (m + 1) * 10^k - 1 */
		for (i128 s = one; (i128)m * s <= RANGE_MAX; s *= 10)
			if (range_meets(nd, neg, (i128)m * s, (i128)(m + 1) * s - 1))
				return true;
		return false;
	}
	return true;
}

static bool range_complete(const node *nd, int st, uint64_t m, int nf)
{
	i128 v;
	if ((st & 3) == R_INT)
		v = (i128)m * p10[nd->frac];
	else if ((st & 3) == R_FRAC && nf > 0)
		v = (i128)m * p10[nd->frac - nf];
	else
		return false;
	if (st & R_NEG) {
		if (!m)
			return false; /* no "-0" */
		v = -v;
	}
	return v >= nd->lo && v <= nd->hi;
}

static int step_range(const node *nd, frame *f, int b)
{
	int st = f->st, ph = st & 3, ni = f->a, nf = f->b;
	uint64_t m = f->x;
	int nst = st, nni = ni, nnf = nf;
	uint64_t nm = m;
	bool ok = false;
	if (ph == R_BEGIN && b == '-') {
		nst = R_SIGN | R_NEG;
		ok = true;
	} else if (is_digit(b)) {
		int d = b - '0';
		if (ph == R_BEGIN || ph == R_SIGN) {
			nst = (st & R_NEG) | R_INT;
			nm = (uint64_t)d;
			nni = 1;
			ok = true;
		} else if ((ph == R_INT && m && ni < 16) || (ph == R_FRAC && nf < nd->frac)) {
			nm = m * 10 + (uint64_t)d;
			nni += ph == R_INT;
			nnf += ph == R_FRAC;
			ok = true;
		}
	} else if (b == '.' && ph == R_INT && nd->frac) {
		nst = (st & R_NEG) | R_FRAC;
		ok = true;
	}
	if (ok && range_open(nd, nst, nm, nnf)) {
		f->st = (uint8_t)nst;
		f->a = (uint16_t)nni;
		f->b = (uint16_t)nnf;
		f->x = nm;
		return R_TAKE;
	}
	return range_complete(nd, st, m, nf) ? R_PASS : R_FAIL;
}

/* the last property that may come at position i: the first required one, else the last */
static int obj_last(const jsonc *c, const node *nd, int i)
{
	int r = c->props[nd->first + i].next_req;
	return r < nd->n ? r : nd->n - 1;
}

/* the first property from i on that may come next (its key may begin), -1 if none */
static int obj_next_key(const jsonc *c, const thread *t, const node *nd, int i)
{
	if (i >= nd->n)
		return -1;
	for (int j = i, last = obj_last(c, nd, i); j <= last; j++)
		if (fits(c, t, c->props[nd->first + j].node))
			return j;
	return -1;
}

static bool obj_may_close(const jsonc *c, const node *nd, int i)
{
	return i >= nd->n || c->props[nd->first + i].next_req == nd->n;
}

/* the key being matched takes byte b: the first allowed property with the bytes so far and b */
static int obj_key(const jsonc *c, const thread *t, const node *nd, frame *f, int b)
{
	const prop *ps = c->props + nd->first;
	size_t k = f->x;
	const char *have = c->pool + ps[f->b].key.off;
	for (int j = f->b, last = obj_last(c, nd, f->a); j <= last; j++) {
		const char *q = c->pool + ps[j].key.off;
		if (ps[j].key.len <= k || (uint8_t)q[k] != b || memcmp(q, have, k) || !fits(c, t, ps[j].node))
			continue;
		f->b = (uint16_t)j;
		f->x = k + 1;
		if (f->x == ps[j].key.len) {
			f->st = O_COLON;
			f->ws = 0;
		}
		return R_TAKE;
	}
	return R_FAIL;
}

static int take_ws(frame *f)
{
	if (f->ws >= JSONC_MAX_WS)
		return R_FAIL;
	f->ws++;
	return R_TAKE;
}

static int step_obj(const jsonc *c, thread *t, const node *nd, frame *f, int b, int *child)
{
	if (is_ws(b) && f->st != O_OPEN && f->st != O_KEY)
		return take_ws(f);
	switch (f->st) {
	case O_OPEN:
		if (b != '{')
			return R_FAIL;
		f->st = O_FIRST;
		return R_TAKE;
	case O_FIRST:
	case O_COMMA:
		if (b == '"') {
			int j = obj_next_key(c, t, nd, f->a);
			if (j < 0)
				return R_FAIL;
			f->st = O_KEY;
			f->b = (uint16_t)j;
			f->x = 1;
			return R_TAKE;
		}
		return b == '}' && f->st == O_FIRST && obj_may_close(c, nd, f->a) ? R_DONE : R_FAIL;
	case O_KEY:
		return obj_key(c, t, nd, f, b);
	case O_COLON:
		if (b != ':')
			return R_FAIL;
		f->st = O_VAL;
		f->ws = 0;
		return R_TAKE;
	case O_VAL:
		f->st = O_AFTER;
		f->ws = 0;
		f->a = (uint16_t)(f->b + 1);
		*child = c->props[nd->first + f->b].node;
		return R_PUSH;
	case O_AFTER:
		if (b == ',' && obj_next_key(c, t, nd, f->a) >= 0) {
			f->st = O_COMMA;
			f->ws = 0;
			return R_TAKE;
		}
		return b == '}' && obj_may_close(c, nd, f->a) ? R_DONE : R_FAIL;
	}
	return R_FAIL;
}

/* one more member of a free-form object: within its maximum, JSONC_MAX_VALUES and the depth */
static bool map_may_add(const jsonc *c, const thread *t, const node *nd, const frame *f)
{
	return f->a < nd->max && t->values > 0 && fits(c, t, nd->child);
}

static int step_map(const jsonc *c, thread *t, const node *nd, frame *f, int b, int *child)
{
	if (is_ws(b) && f->st != O_OPEN)
		return take_ws(f);
	switch (f->st) {
	case O_OPEN:
		if (b != '{')
			return R_FAIL;
		f->st = O_FIRST;
		return R_TAKE;
	case O_FIRST:
	case O_COMMA:
		if (b == '"' && map_may_add(c, t, nd, f)) {
			f->a++;
			t->values--;
			f->st = O_COLON;
			f->ws = 0;
			*child = c->key;
			return R_PUSH;
		}
		return b == '}' && f->st == O_FIRST ? R_DONE : R_FAIL;
	case O_COLON:
		if (b != ':')
			return R_FAIL;
		f->st = O_VAL;
		f->ws = 0;
		return R_TAKE;
	case O_VAL:
		f->st = O_AFTER;
		f->ws = 0;
		*child = nd->child;
		return R_PUSH;
	case O_AFTER:
		if (b == ',' && map_may_add(c, t, nd, f)) {
			f->st = O_COMMA;
			f->ws = 0;
			return R_TAKE;
		}
		return b == '}' ? R_DONE : R_FAIL;
	}
	return R_FAIL;
}

/* one more item: within maxItems, and past minItems within JSONC_MAX_VALUES and the depth */
static bool arr_may_add(const jsonc *c, const thread *t, const node *nd, const frame *f)
{
	if (f->a >= nd->max)
		return false;
	return f->a < nd->min || (t->values > 0 && fits(c, t, nd->child));
}

static int step_arr(const jsonc *c, thread *t, const node *nd, frame *f, int b, int *child)
{
	if (is_ws(b) && f->st != A_OPEN)
		return take_ws(f);
	switch (f->st) {
	case A_OPEN:
		if (b != '[')
			return R_FAIL;
		f->st = A_FIRST;
		return R_TAKE;
	case A_AFTER:
		if (b == ',' && arr_may_add(c, t, nd, f)) {
			f->st = A_COMMA;
			f->ws = 0;
			return R_TAKE;
		}
		return b == ']' && f->a >= nd->min ? R_DONE : R_FAIL;
	case A_FIRST:
		if (b == ']')
			return nd->min == 0 ? R_DONE : R_FAIL;
		/* fallthrough */
	case A_COMMA:
		if (!arr_may_add(c, t, nd, f))
			return R_FAIL;
		t->values -= f->a >= nd->min;
		f->a++;
		f->st = A_AFTER;
		f->ws = 0;
		*child = nd->child;
		return R_PUSH;
	}
	return R_FAIL;
}

/* ---------------------------------------------------------------- bytes to the end */
/* How many bytes a thread still needs to end its output, at the fewest: the sum over its frames
 * of what each needs to end its own value once the frames above it have ended (the values still to
 * come at their shortest: ml). A frame at index i has d = MAXF - i frames for its value, so its
 * children have d - 1 (fits: a child that cannot fit has no ml within them). Exact for the machine
 * (each count is a way it can take, byte by byte, each byte one less), which the budget needs: a
 * thread with e bytes to go always has a byte that leaves one with e - 1. */

static int64_t sat(int64_t v)
{
	return v > EST_MAX ? EST_MAX : v;
}

/* bytes of node v's shortest value within d frames; EST_MAX if none */
static int64_t mlen(const jsonc *c, int v, int d)
{
	uint32_t m = d > 0 ? c->ml[v * (MAXF + 1) + d] : LEN_INF;
	return m == LEN_INF ? EST_MAX : m;
}

/* bytes still needed inside a string by lexer state: the rest of an escape or UTF-8 character */
static const uint8_t sb_pend[SB_N] = {
	[SB_ESC] = 1, [SB_U0] = 4, [SB_U1] = 3, [SB_U1Z] = 3, [SB_U1D] = 3, [SB_U2] = 2, [SB_U2Z] = 2,
	[SB_U3] = 1, [SB_U3Z] = 1, [SB_C1] = 1, [SB_C2] = 2, [SB_C3] = 3, [SB_E0] = 2, [SB_ED] = 2,
	[SB_F0] = 3, [SB_F4] = 3,
};

/* the shortest literal of the sorted group [x, end) that begins with literal x's first a bytes:
 * the group's end by binary search, its minimum from the segment tree */
static int64_t lit_rem(const jsonc *c, const node *nd, const frame *f)
{
	uint32_t x = (uint32_t)f->x, a = f->a, lo = x + 1, hi = (uint32_t)(nd->first + nd->n);
	const char *p = c->pool + c->lits[x].off;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const lit *l = &c->lits[mid];
		if (l->len >= a && !memcmp(c->pool + l->off, p, a))
			lo = mid + 1;
		else
			hi = mid;
	}
	uint32_t m = UINT32_MAX, n = (uint32_t)c->n_lits;
	for (uint32_t l = x + n, r = lo + n; l < r; l >>= 1, r >>= 1) {
		if (l & 1)
			m = SH_MIN(m, c->lmin[l]), l++;
		if (r & 1)
			r--, m = SH_MIN(m, c->lmin[r]);
	}
	return (int64_t)m - a;
}

static i128 pow10i(int k)
{
	i128 v = 1;
	while (k-- > 0)
		v *= 10;
	return v;
}

/* some N in { A + s q : 0 <= q < Q } is a value of the node (negated if neg) */
static bool range_hits(const node *nd, bool neg, i128 A, i128 s, i128 Q)
{
	i128 lo = nd->lo, hi = nd->hi;
	if (neg) { /* the magnitude, never 0 ("-0") */
		i128 t = -hi;
		hi = -lo;
		lo = t < 1 ? 1 : t;
	}
	if (lo > hi)
		return false;
	i128 q = lo > A ? (lo - A + s - 1) / s : 0;
	return q < Q && A + s * q <= hi;
}

/* bytes a K_RANGE number begun so (phase st | R_NEG, the digits m, ni before the point, nf after)
 * needs to be complete: the fewest k digits (and point) that reach a value within the bounds,
 * tried by k ascending */
static int64_t range_rem(const node *nd, int st, uint64_t m, int ni, int nf)
{
	bool neg = st & R_NEG;
	int fr = nd->frac;
	int64_t best = EST_MAX;
	switch (st & 3) {
	case R_BEGIN:
		best = sat(1 + range_rem(nd, R_SIGN | R_NEG, 0, 0, 0));
		/* fallthrough */
	case R_SIGN:
		for (int d = 0; d <= 9; d++)
			best = SH_MIN(best, sat(1 + range_rem(nd, (st & R_NEG) | R_INT, (uint64_t)d, 1, 0)));
		return best;
	case R_FRAC: /* f more fraction digits: (m 10^f + w) 10^(frac - nf - f), w < 10^f */
		for (int f = nf ? 0 : 1; f <= fr - nf; f++)
			if (range_hits(nd, neg, (i128)m * pow10i(fr - nf), pow10i(fr - nf - f), pow10i(f)))
				return f;
		return EST_MAX;
	}
	/* R_INT: j more integer digits (none after a leading 0), then maybe a point and f digits: the
	 * multiples of 10^(frac - f) in [m 10^(j + frac), (m + 1) 10^(j + frac)) */
	int jmax = m ? 16 - ni : 0;
	for (int k = 0; k <= jmax + 1 + fr; k++)
		for (int f = 0; f <= fr; f++) {
			int j = f ? k - 1 - f : k;
			if (j < 0 || j > jmax)
				continue;
			if (range_hits(nd, neg, (i128)m * pow10i(j + fr), pow10i(fr - f), pow10i(j + f)))
				return k;
		}
	return EST_MAX;
}

/* the first required property at or after i (n: none) */
static int obj_req(const jsonc *c, const node *nd, int i)
{
	return i < nd->n ? c->props[nd->first + i].next_req : nd->n;
}

/* property j's key, colon and shortest value (its value within d frames) */
static int64_t obj_cost(const jsonc *c, const node *nd, int j, int d)
{
	const prop *p = &c->props[nd->first + j];
	return sat(p->key.len + 1 + mlen(c, p->node, d));
}

/* after the properties before i: a comma and cost for each required one from i on, the brace */
static int64_t obj_rest(const jsonc *c, const node *nd, int i, int d)
{
	int64_t n = 1;
	for (int r = obj_req(c, nd, i); r < nd->n; r = obj_req(c, nd, r + 1))
		n = sat(n + 1 + obj_cost(c, nd, r, d));
	return n;
}

/* bytes the frame at index i of t needs to end its value (see above) */
static int64_t frame_rem(const jsonc *c, const thread *t, int i)
{
	const frame *f = &t->f[i];
	const node *nd = &c->nodes[f->node];
	int d = MAXF - i - 1; /* frames of its children */
	int64_t e, v;
	switch (nd->kind) {
	case K_DOC:
		return f->st ? 0 : mlen(c, nd->child, d);
	case K_LIT:
		return lit_rem(c, nd, f);
	case K_STR:
		if (f->st == STR_OPEN)
			return 2 + nd->min;
		return sb_pend[f->st] + SH_MAX(0, nd->min - f->a) + 1;
	case K_FMT:
		return f->st ? fmt_dfas[nd->fmt].dist[f->x] + 1 : fmt_dfas[nd->fmt].dist[0] + 2;
	case K_NUM:
		return f->st == N_ZERO || f->st == N_INT || f->st == N_FRAC || f->st == N_EXP ? 0 : 1;
	case K_RANGE:
		return range_rem(nd, f->st, f->x, f->a, f->b);
	case K_OBJ:
		switch (f->st) {
		case O_FIRST:
		case O_COMMA:
			if (obj_req(c, nd, f->a) < nd->n) /* the required ones, the first without a comma */
				return obj_rest(c, nd, f->a, d) - 1;
			if (f->st == O_FIRST)
				return 1;
			e = EST_MAX; /* after a comma some optional property must come */
			for (int j = f->a; j < nd->n; j++)
				e = SH_MIN(e, obj_cost(c, nd, j, d));
			return sat(e + 1);
		case O_KEY: { /* the cheapest property whose key begins with the bytes so far */
			int last = obj_last(c, nd, f->a);
			const prop *ps = c->props + nd->first;
			int64_t before = obj_rest(c, nd, last, d), after = obj_rest(c, nd, last + 1, d);
			e = EST_MAX;
			for (int j = f->b; j <= last; j++)
				if (ps[j].key.len > f->x &&
				    !memcmp(c->pool + ps[j].key.off, c->pool + ps[f->b].key.off, (size_t)f->x))
					e = SH_MIN(e, obj_cost(c, nd, j, d) - (int64_t)f->x + (j < last ? before : after));
			return sat(e);
		}
		case O_COLON:
		case O_VAL:
			v = mlen(c, c->props[nd->first + f->b].node, d);
			return sat((f->st == O_COLON) + v + obj_rest(c, nd, f->b + 1, d));
		case O_AFTER:
			return obj_rest(c, nd, f->a, d);
		}
		return mlen(c, f->node, d + 1);
	case K_MAP:
		v = mlen(c, nd->child, d);
		switch (f->st) {
		case O_FIRST:
		case O_AFTER:
			return 1;
		case O_COMMA: /* "": value } */
			return sat(4 + v);
		case O_COLON:
		case O_VAL:
			return sat((f->st == O_COLON) + v + 1);
		}
		return 2;
	case K_ARR: {
		v = mlen(c, nd->child, d);
		int k = f->st == A_COMMA ? SH_MAX(nd->min - f->a, 1) : nd->min - f->a; /* items to come */
		if (f->st == A_OPEN)
			return mlen(c, f->node, d + 1);
		if (k <= 0)
			return 1;
		return sat(k * v + k - (f->st != A_AFTER) + 1);
	}
	}
	return 0;
}

static int64_t thread_est(const jsonc *c, const thread *t)
{
	int64_t e = 0;
	for (int i = 0; i < t->n; i++)
		e = sat(e + frame_rem(c, t, i));
	return e;
}

/* the fewest bytes any thread of the set needs to end */
static int64_t set_est(const jsonc *c, const uint8_t *s)
{
	const uint8_t *p = s + sizeof(set_hdr);
	int64_t e = EST_MAX;
	for (uint32_t i = 0; i < ((const set_hdr *)s)->n; i++, p += thread_size((const thread *)p))
		e = SH_MIN(e, thread_est(c, (const thread *)p));
	return e;
}

/* ml of every node, layer by layer: within d frames a container's children have d - 1, an anyOf
 * (no frame) takes its alternatives' least at d. need is the least d with a value. Then the
 * segment tree of literal lengths, and rise: a bound on what one byte adds to a thread's count
 * (choosing a longer literal, an optional property or item, an alternative: at most the longest
 * such value, key, literal, plus 40 for numbers, formats and escapes). */
static int compute_min(cctx *x)
{
	jsonc *c = x->c;
	int n = c->n_nodes, w = MAXF + 1;
	c->ml = malloc(sizeof *c->ml * (size_t)n * (size_t)w);
	c->lmin = malloc(sizeof *c->lmin * (size_t)(2 * c->n_lits + 1));
	if (!c->ml || !c->lmin)
		return nomem(x);
	for (int i = 0; i < c->n_lits; i++)
		c->lmin[c->n_lits + i] = c->lits[i].len;
	for (int i = c->n_lits - 1; i > 0; i--)
		c->lmin[i] = SH_MIN(c->lmin[2 * i], c->lmin[2 * i + 1]);
	int64_t longest = 0;
	for (int v = 0; v < n; v++)
		c->ml[v * w] = LEN_INF;
	for (int d = 1; d <= MAXF; d++)
		for (int pass = 0; pass < 2; pass++) /* anyOf last: its alternatives at d first */
			for (int v = 0; v < n; v++) {
				const node *nd = &c->nodes[v];
				if ((nd->kind == K_ANYOF) != pass)
					continue;
				int64_t m = 0;
				switch (nd->kind) {
				case K_DOC:
					m = mlen(c, nd->child, d - 1);
					break;
				case K_LIT:
					m = EST_MAX;
					for (int i = 0; i < nd->n; i++)
						m = SH_MIN(m, (int64_t)c->lits[nd->first + i].len);
					break;
				case K_STR:
					m = 2 + nd->min;
					break;
				case K_FMT:
					m = fmt_dfas[nd->fmt].dist[0] + 2;
					break;
				case K_NUM:
					m = 1;
					break;
				case K_RANGE:
					m = range_rem(nd, R_BEGIN, 0, 0, 0);
					break;
				case K_OBJ: {
					int k = 0;
					m = 2;
					for (int r = obj_req(c, nd, 0); r < nd->n; r = obj_req(c, nd, r + 1), k++)
						m = sat(m + obj_cost(c, nd, r, d - 1));
					m = sat(m + SH_MAX(k - 1, 0));
					break;
				}
				case K_MAP:
					m = 2;
					break;
				case K_ARR:
					m = nd->min ? sat(2 + nd->min * mlen(c, nd->child, d - 1) + nd->min - 1) : 2;
					break;
				case K_ANYOF:
					m = EST_MAX;
					for (int i = 0; i < nd->n; i++)
						m = SH_MIN(m, mlen(c, c->alts[nd->first + i], d));
					break;
				}
				c->ml[v * w + d] = m >= EST_MAX ? LEN_INF : m >= LEN_CAP ? LEN_CAP : (uint32_t)m;
				if (m < EST_MAX)
					longest = SH_MAX(longest, m);
			}
	for (int v = 0; v < n; v++) {
		int d = 1;
		while (d <= MAXF && c->ml[v * w + d] == LEN_INF)
			d++;
		c->nodes[v].need = d <= MAXF ? (uint8_t)d : NEED_INF;
	}
	for (int i = 0; i < c->n_props; i++)
		longest = SH_MAX(longest, (int64_t)c->props[i].key.len);
	for (int i = 0; i < c->n_lits; i++)
		longest = SH_MAX(longest, (int64_t)c->lits[i].len);
	c->rise = sat(3 * longest + 40);
	return 0;
}

/* feeds byte b (EOF_BYTE: the end) to the top frame */
static int frame_step(const jsonc *c, thread *t, int b, int *child)
{
	frame *f = &t->f[t->n - 1];
	const node *nd = &c->nodes[f->node];
	switch (nd->kind) {
	case K_DOC:
		if (f->st == 1)
			return b == EOF_BYTE ? R_TAKE : R_FAIL;
		if (b == EOF_BYTE)
			return R_FAIL;
		f->st = 1;
		*child = nd->child;
		return R_PUSH;
	case K_LIT:
		return step_lit(c, nd, f, b);
	case K_STR:
		return step_str(nd, f, b);
	case K_FMT:
		return step_fmt(nd, f, b);
	case K_NUM:
		return step_num(f, b);
	case K_RANGE:
		return step_range(nd, f, b);
	}
	if (b == EOF_BYTE)
		return R_FAIL;
	if (nd->kind == K_OBJ)
		return step_obj(c, t, nd, f, b, child);
	if (nd->kind == K_MAP)
		return step_map(c, t, nd, f, b, child);
	return step_arr(c, t, nd, f, b, child);
}

static void push(const jsonc *c, thread *t, int id, int b, uint8_t *out);

/* feeds b to thread t, adding what comes of it to the set out */
static void feed(const jsonc *c, thread *t, int b, uint8_t *out)
{
	for (;;) {
		int child = -1;
		switch (frame_step(c, t, b, &child)) {
		case R_TAKE:
			emit(c, out, t);
			return;
		case R_DONE:
			t->n--;
			emit(c, out, t);
			return;
		case R_PASS:
			t->n--;
			continue;
		case R_PUSH:
			push(c, t, child, b, out);
			return;
		default:
			return;
		}
	}
}

/* begins a value of node id with byte b: an anyOf forks one thread per alternative that fits */
static void push(const jsonc *c, thread *t, int id, int b, uint8_t *out)
{
	const node *nd = &c->nodes[id];
	if (!fits(c, t, id))
		return;
	if (nd->kind == K_ANYOF) {
		for (int i = 0; i < nd->n; i++) {
			thread w;
			memcpy(&w, t, thread_size(t));
			push(c, &w, c->alts[nd->first + i], b, out);
		}
		return;
	}
	t->f[t->n++] = (frame){ .node = (uint16_t)id, .st = nd->kind == K_STR ? STR_OPEN : 0,
				.x = nd->kind == K_LIT ? (uint64_t)nd->first : 0 };
	feed(c, t, b, out);
}

/* out = what the threads of in become with byte b; returns how many there are */
static uint32_t set_step(const jsonc *c, const uint8_t *in, uint8_t *out, int b)
{
	const uint8_t *p = in + sizeof(set_hdr);
	set_clear(out);
	for (uint32_t i = 0; i < ((const set_hdr *)in)->n; i++) {
		thread w;
		size_t sz = thread_size((const thread *)p);
		memcpy(&w, p, sz);
		feed(c, &w, b, out);
		p += sz;
	}
	return ((set_hdr *)out)->n;
}

/* the thread could end here: its frames above the document all end before EOF */
static bool thread_may_end(const jsonc *c, const thread *t)
{
	thread w;
	memcpy(&w, t, thread_size(t));
	for (;;) {
		int child, r = frame_step(c, &w, EOF_BYTE, &child);
		if (r != R_PASS)
			return r == R_TAKE;
		w.n--;
	}
}

static bool set_may_end(const jsonc *c, const uint8_t *s)
{
	const uint8_t *p = s + sizeof(set_hdr);
	for (uint32_t i = 0; i < ((const set_hdr *)s)->n; i++, p += thread_size((const thread *)p))
		if (thread_may_end(c, (const thread *)p))
			return true;
	return false;
}

/* ---------------------------------------------------------------- the vocabulary */
/* A trie of byte strings in preorder: a node's subtree is the nodes up to its `end`. */
typedef struct {
	uint32_t end;     /* the node after this one's subtree */
	int32_t id;       /* the string ending here (a token; a remainder group), -1; more in dup[] */
	uint16_t depth;   /* bytes above it */
	uint8_t byte;
} tnode;

typedef struct {
	tnode *nodes;
	uint32_t n_nodes;
	int32_t *dup;     /* [ids] the next id of the same bytes, -1 */
	int max_len;
} trie;

/* how the tokens run from one lexer state inside a string */
typedef struct {
	int32_t *stay;      /* tokens that stay inside, by the characters they begin, ascending */
	uint16_t *stay_c;
	uint8_t *stay_p;    /* the bytes of a character (escape) they leave to finish: sb_pend */
	int n_stay;
	uint8_t *full;      /* [n] all of them as a mask, when they are many (else NULL) */
	int32_t *close;     /* tokens that close it after close_c characters, sorted by what follows the */
	uint16_t *close_c;  /* quote: close_g is that remainder's group (-1: nothing follows), whose */
	int32_t *close_g;   /* strings form the trie rest */
	int n_close;
	trie rest;
	int n_groups;
} sb_list;

struct jsonc_vocab {
	int n;
	uint8_t *data;      /* token i: data[off[i] .. off[i] + len[i]) */
	uint32_t *off;
	int32_t *len;
	int32_t *ends;      /* the end tokens */
	int n_ends;
	uint8_t *is_end;
	trie all;           /* the tokens that may ever be allowed (not end, 1..JSONC_MAX_TOKEN bytes) */
	sb_list sb[SB_N];
	int max_groups;
};

typedef struct {
	const uint8_t *p;
	int len, id;
} str_sort;

static int str_cmp(const void *a, const void *b)
{
	const str_sort *x = a, *y = b;
	int r = memcmp(x->p, y->p, (size_t)SH_MIN(x->len, y->len));
	return r ? r : x->len != y->len ? x->len - y->len : x->id - y->id;
}

/* the trie of the m strings ss (non-empty, at most JSONC_MAX_TOKEN bytes; sorted here) whose ids
 * are below n_ids */
static int trie_build(trie *t, str_sort *ss, int m, int n_ids)
{
	size_t total = 0;
	for (int i = 0; i < m; i++)
		total += (size_t)ss[i].len;
	qsort(ss, (size_t)m, sizeof *ss, str_cmp);
	uint32_t path[JSONC_MAX_TOKEN];
	t->nodes = malloc(sizeof *t->nodes * (total ? total : 1));
	t->dup = malloc(sizeof *t->dup * (size_t)(n_ids ? n_ids : 1));
	if (!t->nodes || !t->dup)
		return SH_ENOMEM;
	for (int i = 0; i < n_ids; i++)
		t->dup[i] = -1;
	int cur = 0; /* depth of the path to the previous string */
	for (int i = 0; i < m; i++) {
		int lcp = 0;
		if (i)
			while (lcp < cur && lcp < ss[i].len && ss[i - 1].p[lcp] == ss[i].p[lcp])
				lcp++;
		for (int d = cur - 1; d >= lcp; d--)
			t->nodes[path[d]].end = t->n_nodes;
		for (int d = lcp; d < ss[i].len; d++) {
			path[d] = t->n_nodes;
			t->nodes[t->n_nodes++] = (tnode){ 0, -1, (uint16_t)d, ss[i].p[d] };
		}
		cur = ss[i].len;
		tnode *nd = &t->nodes[path[cur - 1]];
		if (nd->id < 0)
			nd->id = ss[i].id;
		else {
			int last = nd->id;
			while (t->dup[last] >= 0)
				last = t->dup[last];
			t->dup[last] = ss[i].id;
		}
		t->max_len = SH_MAX(t->max_len, cur);
	}
	for (int d = cur - 1; d >= 0; d--)
		t->nodes[path[d]].end = t->n_nodes;
	return 0;
}

static void trie_free(trie *t)
{
	free(t->nodes);
	free(t->dup);
}

/* The lists of lexer state s: each token run from s; the stayers counting-sorted by characters,
 * the closers sorted by their remainders, equal remainders one group. */
static int build_sb(jsonc_vocab *v, int s)
{
	sb_list *l = &v->sb[s];
	uint32_t *res = malloc(sizeof *res * (size_t)v->n); /* chars << 16 | (bytes to the quote + 1), or ~0u */
	uint8_t *pend = malloc((size_t)v->n);                /* stayers: sb_pend of the state they end in */
	int *hist = calloc(JSONC_MAX_TOKEN + 2, sizeof *hist);
	str_sort *rest = malloc(sizeof *rest * (size_t)v->n);
	int r = res && pend && hist && rest ? 0 : SH_ENOMEM;
	for (int i = 0; !r && i < v->n; i++) {
		res[i] = ~0u;
		if (v->is_end[i] || v->len[i] <= 0 || v->len[i] > JSONC_MAX_TOKEN)
			continue;
		const uint8_t *p = v->data + v->off[i];
		int st = s, chars = 0;
		for (int k = 0; k < v->len[i] && st != SB_FAIL; k++) {
			bool start;
			st = sb_step(st, p[k], &start);
			if (st == SB_CLOSE) {
				res[i] = (uint32_t)chars << 16 | (uint32_t)(k + 1);
				rest[l->n_close++] = (str_sort){ p + k + 1, v->len[i] - k - 1, i };
				break;
			}
			chars += start;
		}
		if (st != SB_FAIL && st != SB_CLOSE) {
			res[i] = (uint32_t)chars << 16;
			pend[i] = sb_pend[st];
			l->n_stay++;
			hist[chars + 1]++;
		}
	}
	if (!r) {
		l->stay = malloc(sizeof *l->stay * (size_t)(l->n_stay + 1));
		l->stay_c = malloc(sizeof *l->stay_c * (size_t)(l->n_stay + 1));
		l->stay_p = malloc((size_t)(l->n_stay + 1));
		l->close = malloc(sizeof *l->close * (size_t)(l->n_close + 1));
		l->close_c = malloc(sizeof *l->close_c * (size_t)(l->n_close + 1));
		l->close_g = malloc(sizeof *l->close_g * (size_t)(l->n_close + 1));
		r = l->stay && l->stay_c && l->stay_p && l->close && l->close_c && l->close_g ? 0 : SH_ENOMEM;
	}
	if (!r) {
		for (int c = 1; c <= JSONC_MAX_TOKEN + 1; c++)
			hist[c] += hist[c - 1];
		for (int i = 0; i < v->n; i++)
			if (res[i] != ~0u && !(res[i] & 0xFFFF)) {
				int k = hist[res[i] >> 16]++;
				l->stay[k] = i;
				l->stay_c[k] = (uint16_t)(res[i] >> 16);
				l->stay_p[k] = pend[i];
			}
		qsort(rest, (size_t)l->n_close, sizeof *rest, str_cmp);
		int m = 0; /* the distinct non-empty remainders, their id the group */
		for (int i = 0; i < l->n_close; i++) {
			bool same = i && rest[i].len == rest[i - 1].len && !memcmp(rest[i].p, rest[i - 1].p, (size_t)rest[i].len);
			if (rest[i].len && !same)
				l->n_groups++;
			l->close[i] = rest[i].id;
			l->close_c[i] = (uint16_t)(res[rest[i].id] >> 16);
			l->close_g[i] = rest[i].len ? l->n_groups - 1 : -1;
			if (rest[i].len && !same)
				rest[m++] = (str_sort){ rest[i].p, rest[i].len, l->n_groups - 1 };
		}
		r = trie_build(&l->rest, rest, m, l->n_groups);
		v->max_groups = SH_MAX(v->max_groups, l->n_groups);
	}
	if (!r && l->n_stay > v->n / 16) {
		if (!(l->full = calloc((size_t)v->n, 1)))
			r = SH_ENOMEM;
		for (int i = 0; !r && i < l->n_stay; i++)
			l->full[l->stay[i]] = 1;
	}
	free(res);
	free(pend);
	free(hist);
	free(rest);
	return r;
}

jsonc_vocab *jsonc_vocab_init(int n_tokens, const char *const *bytes, const int *lens, const bool *is_end, int *err)
{
	*err = SH_EINVAL;
	if (n_tokens <= 0 || n_tokens > (1 << 24) || !bytes || !lens)
		return NULL;
	size_t total = 0;
	for (int i = 0; i < n_tokens; i++) {
		if (lens[i] < 0 || (lens[i] > 0 && !bytes[i]))
			return NULL;
		total += (size_t)lens[i];
	}
	if (total > UINT32_MAX)
		return NULL;
	*err = SH_ENOMEM;
	jsonc_vocab *v = calloc(1, sizeof *v);
	if (!v)
		return NULL;
	v->n = n_tokens;
	v->data = malloc(total ? total : 1);
	v->off = malloc(sizeof *v->off * (size_t)n_tokens);
	v->len = malloc(sizeof *v->len * (size_t)n_tokens);
	v->is_end = calloc((size_t)n_tokens, 1);
	v->ends = malloc(sizeof *v->ends * (size_t)n_tokens);
	if (!v->data || !v->off || !v->len || !v->is_end || !v->ends) {
		jsonc_vocab_free(v);
		return NULL;
	}
	size_t o = 0;
	for (int i = 0; i < n_tokens; i++) {
		v->off[i] = (uint32_t)o;
		v->len[i] = lens[i];
		if (lens[i])
			memcpy(v->data + o, bytes[i], (size_t)lens[i]);
		o += (size_t)lens[i];
		if (is_end && is_end[i]) {
			v->is_end[i] = 1;
			v->ends[v->n_ends++] = i;
		}
	}
	str_sort *ss = malloc(sizeof *ss * (size_t)n_tokens);
	int m = 0, r = ss ? 0 : SH_ENOMEM;
	for (int i = 0; ss && i < n_tokens; i++)
		if (!v->is_end[i] && v->len[i] > 0 && v->len[i] <= JSONC_MAX_TOKEN)
			ss[m++] = (str_sort){ v->data + v->off[i], v->len[i], i };
	if (!r)
		r = trie_build(&v->all, ss, m, n_tokens);
	free(ss);
	for (int s = 0; !r && s < SB_N; s++)
		r = build_sb(v, s);
	if (r) {
		jsonc_vocab_free(v);
		return NULL;
	}
	*err = 0;
	return v;
}

void jsonc_vocab_free(jsonc_vocab *v)
{
	if (!v)
		return;
	for (int s = 0; s < SB_N; s++) {
		free(v->sb[s].stay);
		free(v->sb[s].stay_c);
		free(v->sb[s].stay_p);
		free(v->sb[s].close);
		free(v->sb[s].close_c);
		free(v->sb[s].close_g);
		free(v->sb[s].full);
		trie_free(&v->sb[s].rest);
	}
	free(v->data);
	free(v->off);
	free(v->len);
	free(v->is_end);
	free(v->ends);
	trie_free(&v->all);
	free(v);
}

int jsonc_vocab_n_tokens(const jsonc_vocab *v)
{
	return v->n;
}

/* ---------------------------------------------------------------- states */
struct jsonc_state {
	const jsonc *c;
	int64_t left;       /* tokens of the budget left; UNBOUNDED */
	uint8_t *set;       /* [SET_MAX] the threads now */
	uint8_t *slow;      /* [SET_MAX] jsonc_mask: the threads not inside a string */
	uint8_t *buf;       /* scratch: the sets of a trie walk, one per depth, packed */
	size_t buf_cap;
	size_t *off;        /* [off_cap] where the walk's set of each depth is in buf */
	int off_cap;
	uint8_t *ok;        /* [ok_cap] string_mask: which remainder groups may follow a string */
	int ok_cap;
};

jsonc_state *jsonc_state_init(const jsonc *c, int budget)
{
	jsonc_state *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->c = c;
	s->left = budget > 0 ? budget : UNBOUNDED;
	s->set = malloc(SET_MAX);
	s->slow = malloc(SET_MAX);
	if (!s->set || !s->slow) {
		jsonc_state_free(s);
		return NULL;
	}
	thread t = { .n = 1, .values = JSONC_MAX_VALUES };
	t.f[0] = (frame){ .node = (uint16_t)c->doc };
	set_clear(s->set);
	emit(c, s->set, &t);
	return s;
}

jsonc_state *jsonc_state_clone(const jsonc_state *s)
{
	jsonc_state *d = jsonc_state_init(s->c, 0);
	if (d) {
		memcpy(d->set, s->set, set_size(s->set));
		d->left = s->left;
	}
	return d;
}

void jsonc_state_free(jsonc_state *s)
{
	if (!s)
		return;
	free(s->set);
	free(s->slow);
	free(s->buf);
	free(s->off);
	free(s->ok);
	free(s);
}

/* room for n bytes of scratch */
static int reserve(jsonc_state *s, size_t n)
{
	if (n <= s->buf_cap)
		return 0;
	size_t nc = SH_MAX(n, s->buf_cap * 2);
	uint8_t *p = realloc(s->buf, nc);
	if (!p)
		return SH_ENOMEM;
	s->buf = p;
	s->buf_cap = nc;
	return 0;
}

/* runs the bytes p[0..n) from the set in (not in the scratch) through the machine; the result is
 * at s->buf + *at; returns its thread count, or SH_ENOMEM */
static int run_bytes(jsonc_state *s, const uint8_t *in, const uint8_t *p, int n, size_t *at)
{
	if (reserve(s, 2 * SET_MAX))
		return SH_ENOMEM;
	const uint8_t *cur = in;
	uint32_t alive = ((const set_hdr *)in)->n;
	for (int i = 0; i < n && alive; i++) {
		*at = (size_t)(i & 1) * SET_MAX;
		alive = set_step(s->c, cur, s->buf + *at, p[i]);
		cur = s->buf + *at;
	}
	return (int)alive;
}

/* the trie walk: the set at each depth stepped by each node's byte, dead subtrees skipped; marks
 * mark[id] for every string of t the set can take and then end in at most lim bytes (INT64_MAX: no
 * need to count). No thread of start needs more than most bytes, so a string of k bytes leaves at
 * most most + k rise: only past that are the bytes counted. */
static int walk(jsonc_state *s, const trie *t, const uint8_t *start, uint8_t *mark, int64_t lim, int64_t most)
{
	if (s->off_cap < t->max_len + 1) {
		size_t *o = realloc(s->off, sizeof *o * (size_t)(t->max_len + 1));
		if (!o)
			return SH_ENOMEM;
		s->off = o;
		s->off_cap = t->max_len + 1;
	}
	if (reserve(s, SET_MAX))
		return SH_ENOMEM;
	memcpy(s->buf, start, set_size(start));
	s->off[0] = 0;
	for (uint32_t i = 0; i < t->n_nodes;) {
		const tnode *tn = &t->nodes[i];
		size_t at = s->off[tn->depth] + set_size(s->buf + s->off[tn->depth]);
		if (reserve(s, at + SET_MAX))
			return SH_ENOMEM;
		if (!set_step(s->c, s->buf + s->off[tn->depth], s->buf + at, tn->byte)) {
			i = tn->end;
			continue;
		}
		s->off[tn->depth + 1] = at;
		if (tn->id >= 0 && (lim == INT64_MAX || most + (tn->depth + 1) * s->c->rise <= lim ||
				    set_est(s->c, s->buf + at) <= lim))
			for (int id = tn->id; id >= 0; id = t->dup[id])
				mark[id] = 1;
		i++;
	}
	return 0;
}

/* The tokens a thread inside a free string allows, from the lexer state's lists: those that stay
 * inside up to the length bound, and those that close it (within the bounds) followed by what the
 * value's parent takes (one walk of the remainders from the thread with the string popped), each
 * leaving the thread at most lim bytes to end (INT64_MAX: no need to count; else a stayer leaves
 * the parent's count, the quote, sb_pend of where it ends and the characters still short of
 * minLength). fresh: mask is all 0 so far. */
static int string_mask(jsonc_state *s, const jsonc_vocab *v, const thread *t, uint8_t *mask, bool fresh,
		       int64_t lim)
{
	const frame *f = &t->f[t->n - 1];
	const node *nd = &s->c->nodes[f->node];
	const sb_list *l = &v->sb[f->st];
	int room = nd->max - f->a, lo = 0, hi = l->n_stay;
	const int32_t *stay = l->stay;
	thread w; /* the parent, whose state was set when the string was pushed */
	memcpy(&w, t, thread_size(t));
	w.n--;
	int64_t parent = lim == INT64_MAX ? 0 : thread_est(s->c, &w);
	while (lo < hi) { /* the first stayer too long for the room */
		int mid = (lo + hi) / 2;
		if (l->stay_c[mid] <= room)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (parent + 1 + 4 + SH_MAX(0, nd->min - f->a) > lim) { /* some stayers would leave too much */
		for (int i = 0; i < lo; i++)
			if (parent + 1 + l->stay_p[i] + SH_MAX(0, nd->min - f->a - l->stay_c[i]) <= lim)
				mask[stay[i]] = 1;
	} else if (l->full && fresh && lo > l->n_stay / 2) { /* most fit: all, less the long tail */
		memcpy(mask, l->full, (size_t)v->n);
		for (int i = lo, n = l->n_stay; i < n; i++)
			mask[stay[i]] = 0;
	} else
		for (int i = 0; i < lo; i++)
			mask[stay[i]] = 1;
	if (!l->n_close)
		return 0;
	if (l->n_groups) {
		if (s->ok_cap < l->n_groups) {
			free(s->ok);
			s->ok_cap = 0;
			if (!(s->ok = malloc((size_t)v->max_groups)))
				return SH_ENOMEM;
			s->ok_cap = v->max_groups;
		}
		memset(s->ok, 0, (size_t)l->n_groups);
		uint8_t one[sizeof(set_hdr) + sizeof(thread)];
		set_clear(one);
		emit(s->c, one, &w);
		if (walk(s, &l->rest, one, s->ok, lim, parent))
			return SH_ENOMEM;
	}
	for (int i = 0; i < l->n_close; i++) {
		int chars = f->a + l->close_c[i];
		if (chars <= nd->max && chars >= nd->min && (l->close_g[i] < 0 ? parent <= lim : s->ok[l->close_g[i]]))
			mask[l->close[i]] = 1;
	}
	return 0;
}

static bool in_string(const jsonc *c, const thread *t)
{
	const frame *f = &t->f[t->n - 1];
	return c->nodes[f->node].kind == K_STR && f->st != STR_OPEN;
}

/* how many of mask[0..n) are 1 (each is 0 or 1): eight at a time, the byte lanes of a word summed
 * before any can overflow */
static int count_ones(const uint8_t *mask, int n)
{
	int total = 0, i = 0;
	while (i + 8 <= n) {
		uint64_t acc = 0;
		for (int k = 0; k < 255 && i + 8 <= n; k++, i += 8) {
			uint64_t w;
			memcpy(&w, mask + i, 8);
			acc += w;
		}
		total += (int)((acc & 0x00FF00FF00FF00FFull) * 0x0001000100010001ull >> 48) +
			 (int)((acc >> 8 & 0x00FF00FF00FF00FFull) * 0x0001000100010001ull >> 48);
	}
	for (; i < n; i++)
		total += mask[i];
	return total;
}

/* The budget: a token may come only if the state after it can end within the tokens left after
 * it, one byte a token: lim = left - 1 bytes. Counting that per token is needed only near the end:
 * one byte adds at most rise to a thread's count, so while every thread of the set needs at most
 * lim - rise * (the longest token) bytes, every token the machine takes fits, and the mask is
 * computed as without a budget; nearer the end, only the tokens long enough to matter are counted
 * (walk, string_mask). */
int jsonc_mask(jsonc_state *s, const jsonc_vocab *v, uint8_t *mask)
{
	memset(mask, 0, (size_t)v->n);
	const uint8_t *p = s->set + sizeof(set_hdr);
	int64_t lim = INT64_MAX, most = 0, slow = 0;
	if (s->left != UNBOUNDED) {
		for (uint32_t i = 0; i < ((const set_hdr *)s->set)->n; i++, p += thread_size((const thread *)p)) {
			int64_t e = thread_est(s->c, (const thread *)p);
			most = SH_MAX(most, e);
			if (!in_string(s->c, (const thread *)p))
				slow = SH_MAX(slow, e);
		}
		if (sat(most + s->c->rise * v->all.max_len) > s->left - 1)
			lim = s->left - 1;
		p = s->set + sizeof(set_hdr);
	}
	bool fresh = true;
	set_clear(s->slow);
	for (uint32_t i = 0; i < ((const set_hdr *)s->set)->n; i++, p += thread_size((const thread *)p)) {
		const thread *t = (const thread *)p;
		if (!in_string(s->c, t))
			emit(s->c, s->slow, t);
		else if (string_mask(s, v, t, mask, fresh, lim))
			return SH_ENOMEM;
		else
			fresh = false;
	}
	if (((set_hdr *)s->slow)->n && walk(s, &v->all, s->slow, mask, lim, slow))
		return SH_ENOMEM;
	if (set_may_end(s->c, s->set))
		for (int i = 0; i < v->n_ends; i++)
			mask[v->ends[i]] = 1;
	int n = count_ones(mask, v->n);
	return n ? n : SH_ERANGE;
}

int jsonc_accept(jsonc_state *s, const jsonc_vocab *v, int token)
{
	if (token < 0 || token >= v->n)
		return SH_EINVAL;
	if (v->is_end[token])
		return set_may_end(s->c, s->set) ? 0 : SH_EINVAL;
	if (v->len[token] <= 0 || v->len[token] > JSONC_MAX_TOKEN)
		return SH_EINVAL;
	size_t at = 0;
	int r = run_bytes(s, s->set, v->data + v->off[token], v->len[token], &at);
	if (r <= 0)
		return r < 0 ? r : SH_EINVAL;
	if (s->left != UNBOUNDED && set_est(s->c, s->buf + at) > s->left - 1)
		return SH_EINVAL;
	memcpy(s->set, s->buf + at, set_size(s->buf + at));
	if (s->left != UNBOUNDED)
		s->left--;
	return 0;
}

bool jsonc_done(const jsonc_state *s)
{
	return set_may_end(s->c, s->set);
}
