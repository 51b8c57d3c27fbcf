/*
 * test_jsonc.c - structured output (src/sample/jsonc.c).
 *
 * Three kinds of checks:
 * - schemas: the supported ones compile; unsupported keywords, malformed, unsatisfiable and
 *   garbage schemas (random, deeply nested, huge) give errors that name the keyword and place, or
 *   compile within the bounds;
 * - bytes: on a vocabulary of the 256 single bytes (token b is byte b) plus a few multi-byte and
 *   end tokens, exactly which texts are accepted (escapes, UTF-8, lengths, integer ranges digit by
 *   digit, number bounds, formats, property order, whitespace, tokens spanning structure);
 * - random walks over the real 32k SPM and 128k BPE vocabularies: at every step the mask is not
 *   empty, the token drawn from it is accepted, and the walk ends with an end token well before the
 *   step cap; the text must parse (jansson) and validate against its schema (the validator below:
 *   the JSON Schema semantics, as ajv has them, of the keywords jsonc supports). A mask must also
 *   equal, token by token, what jsonc_accept takes (the string fast path against the machine).
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "sample/jsonc.h"
#include "test_util.h"
#include "vocab/vocab.h"

/* ---------------------------------------------------------------- vocabularies */
/* a vocabulary with its token bytes kept, to rebuild the text of a walk */
typedef struct {
	jsonc_vocab *v;
	int n;
	char **bytes;
	int *lens;
	bool *end;
} tvocab;

static tvocab tvocab_make(int n)
{
	tvocab t = { NULL, n, calloc((size_t)n, sizeof(char *)), calloc((size_t)n, sizeof(int)),
		     calloc((size_t)n, sizeof(bool)) };
	cr_assert(t.bytes && t.lens && t.end);
	return t;
}

static void tvocab_set(tvocab *t, int id, const char *b, int len, bool end)
{
	t->bytes[id] = malloc((size_t)len + 1);
	memcpy(t->bytes[id], b, (size_t)len);
	t->lens[id] = len;
	t->end[id] = end;
}

static void tvocab_index(tvocab *t)
{
	int err = 0;
	t->v = jsonc_vocab_init(t->n, (const char *const *)t->bytes, t->lens, t->end, &err);
	cr_assert(t->v, "jsonc_vocab_init: %s", sh_strerror(err));
}

static void tvocab_free(tvocab *t)
{
	jsonc_vocab_free(t->v);
	for (int i = 0; i < t->n; i++)
		free(t->bytes[i]);
	free(t->bytes);
	free(t->lens);
	free(t->end);
}

/* the multi-byte tokens of the byte vocabulary, from id 258 on (256: end, 257: a control token) */
static const char *const extra_tokens[] = { "\", \"", "\"}", "\":", "{\"", "\\\"", "\\u00e9", "\xc3\xa9", "true",
					    "12", ", ", "\"]", "\"\"", "  " };
enum { TOK_END = 256, TOK_CONTROL = 257, TOK_EXTRA = 258 };

static tvocab byte_vocab(void)
{
	tvocab t = tvocab_make(TOK_EXTRA + (int)SH_ARRAY_LEN(extra_tokens));
	for (int b = 0; b < 256; b++) {
		char c = (char)b;
		tvocab_set(&t, b, &c, 1, false);
	}
	tvocab_set(&t, TOK_END, "", 0, true);
	tvocab_set(&t, TOK_CONTROL, "", 0, false);
	for (size_t i = 0; i < SH_ARRAY_LEN(extra_tokens); i++)
		tvocab_set(&t, TOK_EXTRA + (int)i, extra_tokens[i], (int)strlen(extra_tokens[i]), false);
	tvocab_index(&t);
	return t;
}

/* a model's vocabulary as the detokenizer emits it: vocab_token_to_piece without specials (SPM
 * "▁" -> " ", <0xXX> -> that byte; BPE byte-level characters -> their bytes), ends from
 * vocab_is_eog */
static tvocab real_vocab(const char *file)
{
	sh_base_init();
	int err = 0;
	gguf_ctx *g = gguf_open(test_data(file), &err);
	cr_assert(g, "gguf_open %s: %s", file, sh_strerror(err));
	vocab *vb = vocab_load(g, &err);
	cr_assert(vb, "vocab_load %s: %s", file, sh_strerror(err));
	tvocab t = tvocab_make(vocab_n_tokens(vb));
	for (int i = 0; i < t.n; i++) {
		char buf[4096];
		int k = vocab_token_to_piece(vb, i, false, buf, sizeof buf);
		cr_assert_geq(k, 0);
		tvocab_set(&t, i, buf, k, vocab_is_eog(vb, i));
	}
	vocab_free(vb);
	gguf_free(g);
	tvocab_index(&t);
	return t;
}

/* ---------------------------------------------------------------- compiling */
static json_t *parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
	cr_assert(j, "test schema does not parse: %s: %s", e.text, text);
	return j;
}

/* schema text NULL: json_object mode */
static jsonc *compile_ok(const char *schema)
{
	char msg[256];
	int err = 0;
	json_t *j = schema ? parse(schema) : NULL;
	jsonc *c = jsonc_compile(j, msg, sizeof msg, &err);
	cr_assert(c, "compile %s: %s", schema, msg);
	json_decref(j);
	return c;
}

/* compiling fails with SH_EINVAL and a message containing want */
static void compile_err(const char *schema, const char *want)
{
	char msg[256];
	int err = 0;
	json_t *j = parse(schema);
	jsonc *c = jsonc_compile(j, msg, sizeof msg, &err);
	cr_assert_null(c, "compiled, expected an error: %s", schema);
	cr_assert_eq(err, SH_EINVAL, "%s: err %d", schema, err);
	cr_assert(strstr(msg, want), "%s: message '%s' lacks '%s'", schema, msg, want);
	json_decref(j);
}

/* ---------------------------------------------------------------- the validator */
typedef struct {
	const json_t *root;
	char why[512];
} vctx;

static bool vfail(vctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool vfail(vctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	return false;
}

/* JSON equality with numbers compared by value (1 == 1.0), as ajv's */
static bool deep_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_typeof(a) != json_typeof(b))
		return false;
	if (json_is_object(a)) {
		const char *k;
		json_t *v;
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach((json_t *)a, k, v) {
			json_t *w = json_object_get(b, k);
			if (!w || !deep_equal(v, w))
				return false;
		}
		return true;
	}
	if (json_is_array(a)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!deep_equal(json_array_get(a, i), json_array_get(b, i)))
				return false;
		return true;
	}
	return json_equal((json_t *)a, (json_t *)b);
}

static bool is_type(const json_t *x, const char *t)
{
	if (!strcmp(t, "integer"))
		return json_is_integer(x) || (json_is_real(x) && json_real_value(x) == (double)(long long)json_real_value(x));
	return (!strcmp(t, "number") && json_is_number(x)) || (!strcmp(t, "string") && json_is_string(x)) ||
	       (!strcmp(t, "object") && json_is_object(x)) || (!strcmp(t, "array") && json_is_array(x)) ||
	       (!strcmp(t, "boolean") && json_is_boolean(x)) || (!strcmp(t, "null") && json_is_null(x));
}

static size_t utf8_chars(const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += ((uint8_t)s[i] & 0xC0) != 0x80;
	return k;
}

static bool digits(const char *s, int n)
{
	for (int i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int num2(const char *s)
{
	return (s[0] - '0') * 10 + s[1] - '0';
}

/* YYYY-MM-DD, a real day of that month (leap years as the Gregorian calendar has them) */
static bool fmt_date(const char *s, size_t n)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (n != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2))
		return false;
	int y = atoi(s), m = num2(s + 5), d = num2(s + 8);
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1] + (m == 2 && leap);
}

/* HH:MM:SS(.d+)?(Z|+HH:MM|-HH:MM): RFC 3339 full-time, the offset required */
static bool fmt_time(const char *s, size_t n)
{
	if (n < 9 || !digits(s, 2) || s[2] != ':' || !digits(s + 3, 2) || s[5] != ':' || !digits(s + 6, 2))
		return false;
	if (num2(s) > 23 || num2(s + 3) > 59 || num2(s + 6) > 59)
		return false;
	size_t i = 8;
	if (s[i] == '.') {
		size_t j = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == j)
			return false;
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
		return true;
	return i + 6 == n && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2) && s[i + 3] == ':' &&
	       digits(s + i + 4, 2) && num2(s + i + 1) <= 23 && num2(s + i + 4) <= 59;
}

static bool fmt_uuid(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		bool hex = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F');
		if (dash ? s[i] != '-' : !hex)
			return false;
	}
	return true;
}

static bool valid(vctx *c, const json_t *x, const json_t *s, int depth);

static const json_t *resolve_ref(vctx *c, const char *ref)
{
	if (!strcmp(ref, "#"))
		return c->root;
	const char *defs = !strncmp(ref, "#/$defs/", 8) ? "$defs" : "definitions";
	return json_object_get(json_object_get(c->root, defs), ref + strlen(defs) + 3);
}

static bool valid_object(vctx *c, const json_t *x, const json_t *s, int depth)
{
	const json_t *props = json_object_get(s, "properties"), *addl = json_object_get(s, "additionalProperties");
	const json_t *req = json_object_get(s, "required"), *k;
	for (size_t i = 0; i < json_array_size(req); i++)
		if (!json_object_get(x, json_string_value(json_array_get(req, i))))
			return vfail(c, "required property '%s' missing", json_string_value(json_array_get(req, i)));
	if ((k = json_object_get(s, "maxProperties")) && json_object_size(x) > (size_t)json_number_value(k))
		return vfail(c, "more than maxProperties");
	const char *name;
	json_t *v;
	json_object_foreach((json_t *)x, name, v) {
		const json_t *sub = json_object_get(props, name);
		if (!sub && json_is_false(addl))
			return vfail(c, "additional property '%s'", name);
		if (!sub && json_is_object(addl))
			sub = addl;
		if (sub && !valid(c, v, sub, depth + 1))
			return false;
	}
	return true;
}

static bool valid_number(vctx *c, const json_t *x, const json_t *s)
{
	double d = json_number_value(x);
	const json_t *k;
	if ((k = json_object_get(s, "minimum")) && !(d >= json_number_value(k)))
		return vfail(c, "%.17g below minimum", d);
	if ((k = json_object_get(s, "maximum")) && !(d <= json_number_value(k)))
		return vfail(c, "%.17g above maximum", d);
	if ((k = json_object_get(s, "exclusiveMinimum"))) {
		double b = json_is_number(k) ? json_number_value(k) : json_number_value(json_object_get(s, "minimum"));
		if ((json_is_number(k) || json_is_true(k)) && !(d > b))
			return vfail(c, "%.17g not above exclusiveMinimum", d);
	}
	if ((k = json_object_get(s, "exclusiveMaximum"))) {
		double b = json_is_number(k) ? json_number_value(k) : json_number_value(json_object_get(s, "maximum"));
		if ((json_is_number(k) || json_is_true(k)) && !(d < b))
			return vfail(c, "%.17g not below exclusiveMaximum", d);
	}
	return true;
}

static bool valid_string(vctx *c, const json_t *x, const json_t *s)
{
	const char *p = json_string_value(x);
	size_t n = json_string_length(x), chars = utf8_chars(p, n);
	const json_t *k;
	if ((k = json_object_get(s, "minLength")) && chars < (size_t)json_number_value(k))
		return vfail(c, "shorter than minLength");
	if ((k = json_object_get(s, "maxLength")) && chars > (size_t)json_number_value(k))
		return vfail(c, "longer than maxLength");
	if ((k = json_object_get(s, "format"))) {
		const char *f = json_string_value(k);
		bool ok = !strcmp(f, "date")	   ? fmt_date(p, n)
			  : !strcmp(f, "time")	   ? fmt_time(p, n)
			  : !strcmp(f, "uuid")	   ? fmt_uuid(p, n)
			  : !strcmp(f, "date-time") ? n > 11 && (p[10] == 'T' || p[10] == 't') && fmt_date(p, 10) &&
							 fmt_time(p + 11, n - 11)
						     : false;
		if (!ok)
			return vfail(c, "'%s' is not a %s", p, f);
	}
	return true;
}

static bool valid(vctx *c, const json_t *x, const json_t *s, int depth)
{
	const json_t *k;
	if (depth > 200)
		return vfail(c, "validator: too deep");
	if (json_is_true(s))
		return true;
	if (json_is_false(s))
		return vfail(c, "the schema false");
	if ((k = json_object_get(s, "$ref")) && !valid(c, x, resolve_ref(c, json_string_value(k)), depth + 1))
		return false;
	if ((k = json_object_get(s, "allOf")))
		for (size_t i = 0; i < json_array_size(k); i++)
			if (!valid(c, x, json_array_get(k, i), depth + 1))
				return false;
	if ((k = json_object_get(s, "anyOf")) || (k = json_object_get(s, "oneOf"))) {
		int n = 0;
		for (size_t i = 0; i < json_array_size(k); i++)
			n += valid(c, x, json_array_get(k, i), depth + 1);
		if (json_object_get(s, "oneOf") ? n != 1 : n == 0)
			return vfail(c, "%d branches of anyOf/oneOf match", n);
	}
	if ((k = json_object_get(s, "type"))) {
		bool ok = false;
		if (json_is_string(k))
			ok = is_type(x, json_string_value(k));
		for (size_t i = 0; i < json_array_size(k); i++)
			ok |= is_type(x, json_string_value(json_array_get(k, i)));
		if (!ok)
			return vfail(c, "not of the type");
	}
	if ((k = json_object_get(s, "const")) && !deep_equal(x, k))
		return vfail(c, "not the const");
	if ((k = json_object_get(s, "enum"))) {
		bool ok = false;
		for (size_t i = 0; i < json_array_size(k); i++)
			ok |= deep_equal(x, json_array_get(k, i));
		if (!ok)
			return vfail(c, "not in the enum");
	}
	if (json_is_object(x))
		return valid_object(c, x, s, depth);
	if (json_is_array(x)) {
		const json_t *items = json_object_get(s, "items");
		if ((k = json_object_get(s, "minItems")) && json_array_size(x) < (size_t)json_number_value(k))
			return vfail(c, "fewer than minItems");
		if ((k = json_object_get(s, "maxItems")) && json_array_size(x) > (size_t)json_number_value(k))
			return vfail(c, "more than maxItems");
		for (size_t i = 0; items && i < json_array_size(x); i++)
			if (!valid(c, json_array_get(x, i), items, depth + 1))
				return false;
		return true;
	}
	if (json_is_number(x))
		return valid_number(c, x, s);
	if (json_is_string(x))
		return valid_string(c, x, s);
	return true;
}

/* text parses as one JSON value and validates against schema (NULL: any object) */
static void check_valid(const char *text, size_t len, const json_t *schema, const char *what)
{
	json_error_t e;
	json_t *x = json_loadb(text, len, JSON_DECODE_ANY, &e);
	cr_assert(x, "%s: output does not parse (%s at %d): %.*s", what, e.text, e.position, (int)len, text);
	vctx c = { .root = schema };
	if (!schema)
		cr_assert(json_is_object(x), "%s: not an object: %.*s", what, (int)len, text);
	else
		cr_assert(valid(&c, x, schema, 0), "%s: invalid (%s): %.*s", what, c.why, (int)len, text);
	json_decref(x);
}

/* ---------------------------------------------------------------- walks */
enum { PICK_UNIFORM, PICK_STRUCTURE, PICK_LONG, PICK_ESCAPES, PICK_OPEN, PICK_MODES };

/* the tokens a pick mode draws half the time: of structure; backslashes and quotes; none that
 * closes anything (PICK_OPEN, always: strings and containers go on until the budget closes them) */
static bool liked(const tvocab *t, int id, int mode)
{
	if (mode == PICK_OPEN)
		return !t->end[id] && !memchr(t->bytes[id], '"', (size_t)t->lens[id]) &&
		       !memchr(t->bytes[id], ']', (size_t)t->lens[id]) && !memchr(t->bytes[id], '}', (size_t)t->lens[id]);
	for (int i = 0; i < t->lens[id]; i++) {
		uint8_t b = (uint8_t)t->bytes[id][i];
		if (mode == PICK_STRUCTURE && strchr("\"]},:", b) && b)
			return true;
		if (mode == PICK_ESCAPES && (b == '\\' || b == '"'))
			return true;
	}
	return false;
}

typedef struct {
	char *text;
	size_t len, cap;
	int steps;
	bool escapes, unicode; /* a backslash / a non-ASCII byte came inside the output */
} walk_out;

/* One random walk of seed and mode with a budget of tokens (<= 0: none): mask, draw, accept, until
 * an end token (an end token is drawn as soon as one is allowed, half the time; always when nothing
 * else is; PICK_OPEN draws what it likes whenever it can). The mask is never empty and never allows a token that jsonc_accept refuses; the walk
 * ends within cap steps, and within the budget. */
static walk_out walk(const jsonc *c, const tvocab *t, uint64_t seed, int mode, int budget, int cap)
{
	sh_rng r;
	sh_rng_seed(&r, seed);
	jsonc_state *s = jsonc_state_init(c, budget);
	cr_assert(s);
	uint8_t *mask = malloc((size_t)t->n);
	int *ok = malloc(sizeof *ok * (size_t)t->n), *pref = malloc(sizeof *pref * (size_t)t->n);
	walk_out w = { malloc(1 << 16), 0, 1 << 16, 0, false, false };
	for (;; w.steps++) {
		cr_assert_lt(w.steps, cap, "seed %llu mode %d: no end after %d steps: %.*s", (unsigned long long)seed,
			     mode, cap, (int)w.len, w.text);
		int n = jsonc_mask(s, t->v, mask);
		cr_assert_gt(n, 0, "seed %llu: empty mask (%d) after %.*s", (unsigned long long)seed, n, (int)w.len, w.text);
		int k = 0, np = 0, ends = 0;
		for (int i = 0; i < t->n; i++) {
			if (!mask[i])
				continue;
			ok[k++] = i;
			ends += t->end[i];
			if (liked(t, i, mode))
				pref[np++] = i;
		}
		cr_assert_eq(k, n);
		int id;
		if (ends && (ends == k || sh_rng_u64(&r) % 2)) {
			do
				id = ok[sh_rng_u64(&r) % (uint64_t)k];
			while (!t->end[id]);
		} else if (np && (mode == PICK_OPEN || sh_rng_u64(&r) % 2))
			id = pref[sh_rng_u64(&r) % (uint64_t)np];
		else if (mode == PICK_LONG) {
			id = ok[sh_rng_u64(&r) % (uint64_t)k];
			for (int j = 0; j < 7; j++) {
				int o = ok[sh_rng_u64(&r) % (uint64_t)k];
				id = t->lens[o] > t->lens[id] ? o : id;
			}
		} else
			id = ok[sh_rng_u64(&r) % (uint64_t)k];
		cr_assert_eq(jsonc_accept(s, t->v, id), 0, "seed %llu: allowed token %d refused", (unsigned long long)seed, id);
		if (t->end[id]) {
			cr_assert(jsonc_done(s));
			break;
		}
		cr_assert(budget <= 0 || w.steps < budget, "seed %llu: a token past the budget %d", (unsigned long long)seed,
			  budget);
		if (w.len + (size_t)t->lens[id] > w.cap) {
			w.cap *= 2;
			cr_assert(w.text = realloc(w.text, w.cap));
		}
		memcpy(w.text + w.len, t->bytes[id], (size_t)t->lens[id]);
		w.len += (size_t)t->lens[id];
	}
	for (size_t i = 0; i < w.len; i++) {
		w.escapes |= w.text[i] == '\\';
		w.unicode |= (uint8_t)w.text[i] >= 0x80;
	}
	free(mask);
	free(ok);
	free(pref);
	jsonc_state_free(s);
	return w;
}

/* walks of every mode over seeds with a budget (<= 0: none), each output valid; returns the most
 * steps one took */
static int walks(const char *schema, const tvocab *t, int n_seeds, int budget, int cap)
{
	jsonc *c = compile_ok(schema);
	json_t *js = schema ? parse(schema) : NULL;
	int most = 0;
	for (int seed = 0; seed < n_seeds; seed++) {
		walk_out w = walk(c, t, (uint64_t)seed, seed % PICK_MODES, budget, cap);
		char what[64];
		snprintf(what, sizeof what, "seed %d", seed);
		check_valid(w.text, w.len, js, what);
		most = SH_MAX(most, w.steps);
		free(w.text);
	}
	json_decref(js);
	jsonc_free(c);
	return most;
}

/* ---------------------------------------------------------------- byte-level helpers */
/* text fed byte by byte: -1 when all of it is taken, else the offset of the byte refused */
static int feed(jsonc_state *s, const tvocab *t, const char *text)
{
	for (const char *p = text; *p; p++)
		if (jsonc_accept(s, t->v, (uint8_t)*p))
			return (int)(p - text);
	return -1;
}

/* c takes the whole text and is then complete */
static bool accepts(const jsonc *c, const tvocab *t, const char *text)
{
	jsonc_state *s = jsonc_state_init(c, 0);
	bool ok = feed(s, t, text) < 0 && jsonc_done(s);
	jsonc_state_free(s);
	return ok;
}

/* c takes the whole text as a prefix of an output (it need not be complete) */
static bool takes(const jsonc *c, const tvocab *t, const char *text)
{
	jsonc_state *s = jsonc_state_init(c, 0);
	bool ok = feed(s, t, text) < 0;
	jsonc_state_free(s);
	return ok;
}

#define ACCEPTS(c, t, text) cr_assert(accepts(c, t, text), "should accept: %s", text)
#define REJECTS(c, t, text) cr_assert(!accepts(c, t, text), "should reject: %s", text)

/* ---------------------------------------------------------------- schemas */
/* what real clients send: OpenAI strict schemas, pydantic (v1 and v2) output, tool parameters */
static const char *const supported[] = {
	"true",
	"{}",
	"{\"type\":\"object\",\"properties\":{\"location\":{\"type\":\"string\",\"description\":\"City\"},"
	"\"unit\":{\"type\":\"string\",\"enum\":[\"celsius\",\"fahrenheit\"]}},\"required\":[\"location\",\"unit\"],"
	"\"additionalProperties\":false}",
	"{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"$id\":\"x\",\"title\":\"T\","
	"\"type\":\"object\",\"properties\":{\"a\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}],"
	"\"default\":null,\"title\":\"A\"}},\"examples\":[{}]}",
	"{\"definitions\":{\"Pet\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\"}}}},"
	"\"type\":\"object\",\"properties\":{\"pet\":{\"allOf\":[{\"$ref\":\"#/definitions/Pet\"}],\"description\":\"d\"}}}",
	"{\"$defs\":{\"Cat\":{\"type\":\"object\",\"properties\":{\"pet_type\":{\"const\":\"cat\",\"enum\":[\"cat\"],"
	"\"type\":\"string\"},\"meows\":{\"type\":\"integer\"}},\"required\":[\"pet_type\",\"meows\"]},"
	"\"Dog\":{\"type\":\"object\",\"properties\":{\"pet_type\":{\"const\":\"dog\",\"type\":\"string\"},"
	"\"barks\":{\"type\":\"number\"}},\"required\":[\"pet_type\",\"barks\"]}},"
	"\"oneOf\":[{\"$ref\":\"#/$defs/Cat\"},{\"$ref\":\"#/$defs/Dog\"}],"
	"\"discriminator\":{\"propertyName\":\"pet_type\",\"mapping\":{\"cat\":\"#/$defs/Cat\",\"dog\":\"#/$defs/Dog\"}}}",
	"{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}}",
	"{\"type\":[\"string\",\"number\",\"null\"]}",
	"{\"minimum\":0,\"exclusiveMaximum\":true,\"maximum\":5}",
	"{\"type\":\"array\",\"items\":false}",
	"{\"oneOf\":[{\"type\":\"string\"},{\"type\":\"integer\"},{\"enum\":[true]}]}",
	"{\"$ref\":\"#/$defs/a~1b\",\"$defs\":{\"a/b\":{\"type\":\"boolean\"}}}",
};

Test(jsonc, compile_supported)
{
	for (size_t i = 0; i < SH_ARRAY_LEN(supported); i++)
		jsonc_free(compile_ok(supported[i]));
	jsonc_free(compile_ok(NULL));
}

Test(jsonc, unsupported_keywords)
{
	static const char *const cases[][2] = {
		{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"object\",\"patternProperties\":{}}}}",
		  "unsupported JSON Schema keyword 'patternProperties' at /properties/a" },
		{ "{\"type\":\"string\",\"pattern\":\"^a\"}", "keyword 'pattern' at /" },
		{ "{\"if\":{},\"then\":{}}", "keyword '" },
		{ "{\"not\":{\"type\":\"string\"}}", "keyword 'not'" },
		{ "{\"type\":\"array\",\"uniqueItems\":true}", "keyword 'uniqueItems'" },
		{ "{\"type\":\"array\",\"contains\":{}}", "keyword 'contains'" },
		{ "{\"type\":\"object\",\"propertyNames\":{}}", "keyword 'propertyNames'" },
		{ "{\"type\":\"object\",\"dependentRequired\":{}}", "keyword 'dependentRequired'" },
		{ "{\"type\":\"array\",\"prefixItems\":[]}", "keyword 'prefixItems'" },
		{ "{\"type\":\"number\",\"multipleOf\":2}", "keyword 'multipleOf'" },
		{ "{\"type\":\"string\",\"nullable\":true}", "keyword 'nullable'" },
		{ "{\"anyOf\":[{\"type\":\"string\",\"contentEncoding\":\"base64\"}]}", "'contentEncoding' at /anyOf/0" },
		{ "{\"$defs\":{\"x\":{\"type\":\"string\",\"pattern\":\"a\"}},\"$ref\":\"#/$defs/x\"}", "'pattern' at /$defs/x" },
		{ "{\"allOf\":[{\"type\":\"string\"},{\"maxLength\":3}]}", "'allOf' with more than one schema" },
		{ "{\"type\":\"string\",\"format\":\"email\"}", "unsupported string format 'email'" },
		{ "{\"type\":\"string\",\"format\":\"date\",\"maxLength\":5}", "with format 'date'" },
		{ "{\"type\":\"array\",\"items\":[{}]}", "'items' as an array" },
		{ "{\"$ref\":\"other.json#/a\"}", "unsupported '$ref' 'other.json#/a'" },
		{ "{\"$ref\":\"#/$defs/a\",\"type\":\"string\",\"$defs\":{\"a\":{}}}", "'$ref' with 'type'" },
		{ "{\"anyOf\":[{}],\"oneOf\":[{}]}", "'anyOf' with 'oneOf'" },
		{ "{\"enum\":[\"a\"],\"maxLength\":3}", "'enum' with 'maxLength'" },
		{ "{\"type\":\"object\",\"minProperties\":1}", "'minProperties'" },
		{ "{\"oneOf\":[{\"type\":\"number\"},{\"type\":\"integer\"}]}", "'oneOf' branches 0 and 1 may match" },
		{ "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":1}},\"required\":[\"k\"]},"
		  "{\"type\":\"object\",\"properties\":{\"k\":{\"enum\":[1,2]}},\"required\":[\"k\"]}]}", "may match" },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++)
		compile_err(cases[i][0], cases[i][1]);
}

Test(jsonc, malformed_schemas)
{
	static const char *const cases[][2] = {
		{ "{\"type\":7}", "'type' must be a string" },
		{ "{\"type\":[]}", "'type' must be a string" },
		{ "{\"type\":\"text\"}", "unknown type 'text'" },
		{ "{\"type\":\"object\",\"required\":\"a\"}", "'required' must be an array of strings" },
		{ "{\"required\":[1]}", "'required' must be an array of strings" },
		{ "{\"type\":\"array\",\"minItems\":3,\"maxItems\":2}", "'minItems' 3 exceeds 'maxItems' 2" },
		{ "{\"type\":\"string\",\"minLength\":9,\"maxLength\":2}", "'minLength' 9 exceeds 'maxLength' 2" },
		{ "{\"enum\":[]}", "'enum' must be a non-empty array" },
		{ "{\"enum\":{}}", "'enum' must be a non-empty array" },
		{ "{\"minLength\":-1}", "'minLength' must be a non-negative integer" },
		{ "{\"maxItems\":1.5}", "'maxItems' must be a non-negative integer" },
		{ "{\"minimum\":\"3\"}", "'minimum' must be a number" },
		{ "{\"properties\":3}", "'properties' must be an object" },
		{ "{\"properties\":{\"a\":3}}", "a schema must be an object or a boolean at /properties/a" },
		{ "{\"items\":\"x\"}", "'items' must be a schema" },
		{ "{\"additionalProperties\":1}", "'additionalProperties' must be a schema" },
		{ "{\"format\":1}", "'format' must be a string" },
		{ "{\"anyOf\":[]}", "'anyOf' must be a non-empty array" },
		{ "{\"allOf\":{}}", "'allOf' must be a non-empty array" },
		{ "{\"$ref\":3}", "'$ref' must be a string" },
		{ "{\"$ref\":\"#/$defs/missing\"}", "names no definition" },
		{ "3", "a schema must be an object or a boolean" },
		{ "false", "the schema false matches nothing" },
		{ "{\"properties\":{\"a\":false},\"required\":[\"a\"]}", "the schema false matches nothing at /properties/a" },
		{ "{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "no integer meets" },
		{ "{\"type\":\"integer\",\"exclusiveMinimum\":4,\"exclusiveMaximum\":5}", "no integer meets" },
		{ "{\"type\":\"integer\",\"minimum\":1e300}", "no integer meets" },
		{ "{\"type\":\"string\",\"enum\":[1,2]}", "no 'enum' value has the schema's type" },
		{ "{\"const\":1,\"enum\":[2]}", "'const' is not one of 'enum'" },
		{ "{\"type\":\"object\",\"properties\":{},\"required\":[\"x\"],\"additionalProperties\":false}",
		  "required property 'x' is not in 'properties'" },
		/* a required recursion has no finite value */
		{ "{\"$defs\":{\"n\":{\"type\":\"object\",\"properties\":{\"c\":{\"$ref\":\"#/$defs/n\"}},\"required\":[\"c\"]}},"
		  "\"$ref\":\"#/$defs/n\"}", "no value meets the schema" },
		{ "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"$ref\":\"#/$defs/a\"}},\"$ref\":\"#/$defs/a\"}",
		  "no value meets the schema" },
		{ "{\"type\":\"array\",\"minItems\":1,\"items\":false}", "'minItems' 1 exceeds 'maxItems' 0" },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++)
		compile_err(cases[i][0], cases[i][1]);
	char msg[8];
	int err = 0;
	json_t *j = parse("{\"type\":7}");
	cr_assert_null(jsonc_compile(j, msg, sizeof msg, &err)); /* a short buffer: cut, terminated */
	cr_assert_eq(strlen(msg), sizeof msg - 1);
	cr_assert_null(jsonc_compile(j, NULL, 0, &err));
	cr_assert_eq(err, SH_EINVAL);
	json_decref(j);
}

/* a random schema-like value: keywords (supported, unsupported, made up) with values of any type */
static json_t *garbage(sh_rng *r, int depth)
{
	static const char *const keys[] = { "type", "properties", "required", "additionalProperties", "enum", "const",
					    "items", "minItems", "maxItems", "anyOf", "oneOf", "allOf", "format",
					    "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
					    "exclusiveMaximum", "$ref", "$defs", "description", "pattern", "not", "x" };
	static const char *const strs[] = { "string", "integer", "number", "object", "array", "boolean", "null",
					    "date", "uuid", "time", "date-time", "#", "#/$defs/a", "a", "" };
	switch (depth > 6 ? sh_rng_u64(r) % 4 : sh_rng_u64(r) % 7) {
	case 0:
		return json_integer((json_int_t)(sh_rng_u64(r) % 40) - 10);
	case 1:
		return json_real(((double)(sh_rng_u64(r) % 2000) - 1000) / 7);
	case 2:
		return json_string(strs[sh_rng_u64(r) % SH_ARRAY_LEN(strs)]);
	case 3:
		return sh_rng_u64(r) % 2 ? json_true() : json_null();
	case 4: {
		json_t *a = json_array();
		for (int i = (int)(sh_rng_u64(r) % 4); i > 0; i--)
			json_array_append_new(a, garbage(r, depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		for (int i = (int)(sh_rng_u64(r) % 5); i > 0; i--)
			json_object_set_new(o, sh_rng_u64(r) % 3 ? keys[sh_rng_u64(r) % SH_ARRAY_LEN(keys)] : strs[sh_rng_u64(r) % SH_ARRAY_LEN(strs)],
					    garbage(r, depth + 1));
		return o;
	}
	}
}

/* Untrusted schemas: random garbage compiles or fails cleanly (what compiles yields valid output),
 * and the bounds hold against deep nesting, long $ref chains and huge enums, objects and anyOfs. */
Test(jsonc, garbage_schemas)
{
	tvocab t = byte_vocab();
	char msg[256];
	int err, compiled = 0;
	sh_rng r;
	sh_rng_seed(&r, 7);
	for (int i = 0; i < 3000; i++) {
		json_t *g = garbage(&r, 0);
		jsonc *c = jsonc_compile(g, msg, sizeof msg, &err);
		if (c) {
			compiled++;
			int min = jsonc_min_tokens(c);
			if (min < 1 << 16) { /* a walk with a little more than the least budget */
				walk_out w = walk(c, &t, (uint64_t)i, i % PICK_MODES, min + 100, min + 101);
				char what[64];
				snprintf(what, sizeof what, "garbage schema %d", i);
				check_valid(w.text, w.len, g, what);
				free(w.text);
			}
		} else
			cr_assert(err == SH_EINVAL && msg[0], "schema %d: err %d, no message", i, err);
		jsonc_free(c);
		json_decref(g);
	}
	cr_assert_gt(compiled, 300, "only %d of the garbage schemas compiled", compiled);

	/* nested 1000 levels deep */
	json_t *deep = json_object();
	for (int i = 0; i < 1000; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "properties", json_pack("{s:o}", "a", deep));
		deep = o;
	}
	cr_assert_null(jsonc_compile(deep, msg, sizeof msg, &err));
	cr_assert(strstr(msg, "nested deeper than 64 levels"), "%s", msg);
	json_decref(deep);

	/* a $ref chain 200 long */
	json_t *defs = json_object();
	for (int i = 0; i < 200; i++) {
		char name[16], ref[32];
		snprintf(name, sizeof name, "d%d", i);
		snprintf(ref, sizeof ref, "#/$defs/d%d", i + 1);
		json_object_set_new(defs, name, i < 199 ? json_pack("{s:s}", "$ref", ref) : json_pack("{s:s}", "type", "null"));
	}
	json_t *chain = json_pack("{s:o,s:s}", "$defs", defs, "$ref", "#/$defs/d0");
	cr_assert_null(jsonc_compile(chain, msg, sizeof msg, &err));
	cr_assert(strstr(msg, "nested deeper"), "%s", msg);
	json_decref(chain);

	/* enums: 100000 values are too many; 50000 compile, and a walk picks one */
	json_t *big = json_array();
	for (int i = 0; i < 100000; i++)
		json_array_append_new(big, json_sprintf("v%d", i));
	json_t *s = json_pack("{s:O}", "enum", big);
	cr_assert_null(jsonc_compile(s, msg, sizeof msg, &err));
	cr_assert(strstr(msg, "more than 65536 values"), "%s", msg);
	json_decref(s);
	while (json_array_size(big) > 50000)
		json_array_remove(big, json_array_size(big) - 1);
	s = json_pack("{s:o}", "enum", big);
	jsonc *c = jsonc_compile(s, msg, sizeof msg, &err);
	cr_assert(c, "%s", msg);
	walk_out w = walk(c, &t, 1, PICK_UNIFORM, 0, 64);
	check_valid(w.text, w.len, s, "big enum");
	free(w.text);
	jsonc_free(c);
	json_decref(s);

	/* 2000 properties; 5000 nodes; anyOfs 600 and 300 wide once flattened */
	json_t *props = json_object();
	for (int i = 0; i < 2000; i++) {
		char name[16];
		snprintf(name, sizeof name, "p%d", i);
		json_object_set_new(props, name, json_true());
	}
	s = json_pack("{s:o}", "properties", props);
	cr_assert_null(jsonc_compile(s, msg, sizeof msg, &err));
	cr_assert(strstr(msg, "more than 1024 properties"), "%s", msg);
	json_decref(s);
	props = json_object();
	for (int i = 0; i < 1000; i++) {
		char name[16];
		snprintf(name, sizeof name, "p%d", i);
		json_object_set_new(props, name, json_pack("{s:[s,s,s,s]}", "type", "string", "integer", "null", "boolean"));
	}
	s = json_pack("{s:o}", "properties", props);
	cr_assert_null(jsonc_compile(s, msg, sizeof msg, &err));
	cr_assert(strstr(msg, "schema too large"), "%s", msg);
	json_decref(s);
	json_t *many = json_array();
	for (int i = 0; i < 200; i++)
		json_array_append_new(many, json_pack("{s:[{s:s},{s:s},{s:s}]}", "anyOf", "type", "string", "type",
						      "integer", "type", "object"));
	s = json_pack("{s:o}", "anyOf", many);
	cr_assert_null(jsonc_compile(s, msg, sizeof msg, &err));
	cr_assert(strstr(msg, "more than 256 alternatives"), "%s", msg);
	json_decref(s);
	many = json_array();
	for (int i = 0; i < 30; i++) {
		json_t *alts = json_array();
		for (int k = 0; k < 10; k++)
			json_array_append_new(alts, json_pack("{s:i}", "const", i * 10 + k));
		json_array_append_new(many, json_pack("{s:o}", "anyOf", alts));
	}
	s = json_pack("{s:o}", "anyOf", many);
	cr_assert_null(jsonc_compile(s, msg, sizeof msg, &err));
	cr_assert(strstr(msg, "more than 256 alternatives"), "%s", msg);
	json_decref(s);
	tvocab_free(&t);
}

/* ---------------------------------------------------------------- bytes */
Test(jsonc, bytes_json_object)
{
	tvocab t = byte_vocab();
	jsonc *c = compile_ok(NULL);
	ACCEPTS(c, &t, "{}");
	ACCEPTS(c, &t, "{\"a\":1}");
	ACCEPTS(c, &t, "{\"a\": [1, -0, 2.5e+3, 1E-9, \"x\", true, false, null, {\"b\": {}}, []]}");
	ACCEPTS(c, &t, "{\n  \"a\": 1,\n  \"b\": [\n    2\n  ]\n}");
	REJECTS(c, &t, "[]");          /* an object */
	REJECTS(c, &t, "\"a\"");
	REJECTS(c, &t, " {}");          /* no leading whitespace */
	REJECTS(c, &t, "{} ");          /* nor trailing */
	REJECTS(c, &t, "{\"a\":01}");
	REJECTS(c, &t, "{\"a\":1.}");
	REJECTS(c, &t, "{\"a\":.5}");
	REJECTS(c, &t, "{\"a\":+1}");
	REJECTS(c, &t, "{\"a\":1e}");
	REJECTS(c, &t, "{\"a\":1,}");
	REJECTS(c, &t, "{\"a\":[1,]}");
	REJECTS(c, &t, "{,}");
	REJECTS(c, &t, "{\"a\" 1}");
	REJECTS(c, &t, "{\"a\":tru}");
	REJECTS(c, &t, "{\"a\":1}}");
	REJECTS(c, &t, "{a:1}");
	/* digits are bounded: 16 before the point, 16 after, 2 in the exponent */
	ACCEPTS(c, &t, "{\"a\":1234567890123456.1234567890123456e-99}");
	REJECTS(c, &t, "{\"a\":12345678901234567}");
	REJECTS(c, &t, "{\"a\":1.12345678901234567}");
	REJECTS(c, &t, "{\"a\":1e100}");
	/* whitespace: at most JSONC_MAX_WS bytes in one gap */
	char ws[128];
	snprintf(ws, sizeof ws, "{%*s}", JSONC_MAX_WS, "");
	ACCEPTS(c, &t, ws);
	snprintf(ws, sizeof ws, "{%*s}", JSONC_MAX_WS + 1, "");
	REJECTS(c, &t, ws);
	/* nesting: JSONC_MAX_DEPTH values one in another (here containers, the innermost empty) */
	char deep[256] = "", *p = deep;
	for (int i = 0; i < JSONC_MAX_DEPTH; i++)
		p += sprintf(p, i ? "[" : "{\"a\":");
	cr_assert(takes(c, &t, deep));
	cr_assert(!takes(c, &t, strcat(deep, "[")));
	jsonc_free(c);
	tvocab_free(&t);
}

Test(jsonc, bytes_strings)
{
	tvocab t = byte_vocab();
	jsonc *c = compile_ok("{\"type\":\"string\",\"maxLength\":4}");
	ACCEPTS(c, &t, "\"\"");
	ACCEPTS(c, &t, "\"abcd\"");
	REJECTS(c, &t, "\"abcde\"");
	ACCEPTS(c, &t, "\"\\\"\\\\\\/\\b\"");        /* four escapes are four characters */
	ACCEPTS(c, &t, "\"\\f\\n\\r\\t\"");
	ACCEPTS(c, &t, "\"\\u00e9\\u20AC\\uFFFF\"");
	ACCEPTS(c, &t, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\""); /* é € 😀 U+10FFFF: 4 */
	REJECTS(c, &t, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbfx\"");
	REJECTS(c, &t, "\"\\u0000\"");               /* NUL: parsers refuse it */
	REJECTS(c, &t, "\"\\ud83d\\ude00\"");        /* surrogates (pairs too: raw UTF-8 instead) */
	REJECTS(c, &t, "\"\\x41\"");
	REJECTS(c, &t, "\"\\u12\"");
	REJECTS(c, &t, "\"a\nb\"");                  /* raw control characters */
	REJECTS(c, &t, "\"\x01\"");
	REJECTS(c, &t, "\"\x80\"");                  /* invalid UTF-8: a lone continuation, */
	REJECTS(c, &t, "\"\xc0\x80\"");              /* an overlong, */
	REJECTS(c, &t, "\"\xed\xa0\x80\"");          /* a surrogate, */
	REJECTS(c, &t, "\"\xf4\x90\x80\x80\"");      /* past U+10FFFF, */
	REJECTS(c, &t, "\"\xe2\x82\"");              /* a cut character */
	REJECTS(c, &t, "\"\xf5\x80\x80\x80\"");
	jsonc_free(c);
	c = compile_ok("{\"type\":\"string\",\"minLength\":2}");
	REJECTS(c, &t, "\"a\"");
	ACCEPTS(c, &t, "\"\xc3\xa9\\n\"");
	char *s = malloc(JSONC_MAX_STRING + 8);
	memset(s, 'x', JSONC_MAX_STRING + 8);
	s[0] = '"';
	s[JSONC_MAX_STRING + 1] = '"';
	s[JSONC_MAX_STRING + 2] = 0;
	ACCEPTS(c, &t, s);                           /* the default bound */
	s[JSONC_MAX_STRING + 1] = 'x';
	s[JSONC_MAX_STRING + 2] = '"';
	s[JSONC_MAX_STRING + 3] = 0;
	REJECTS(c, &t, s);
	free(s);
	jsonc_free(c);
	tvocab_free(&t);
}

/* every integer in [lo, hi] is accepted and no other, and no prefix dead-ends (checked by takes:
 * a prefix taken must complete; here, by the end token being allowed or one more digit taken) */
static void integer_range(const char *schema, long lo, long hi, long from, long to)
{
	tvocab t = byte_vocab();
	jsonc *c = compile_ok(schema);
	for (long n = from; n <= to; n++) {
		char text[32];
		snprintf(text, sizeof text, "%ld", n);
		cr_assert_eq(accepts(c, &t, text), n >= lo && n <= hi, "%s: %ld", schema, n);
		/* a prefix taken leads somewhere: an end, or some digit */
		for (size_t k = 1; k <= strlen(text); k++) {
			char pre[32];
			snprintf(pre, sizeof pre, "%.*s", (int)k, text);
			if (!takes(c, &t, pre))
				continue;
			bool onward = accepts(c, &t, pre);
			for (char d = '0'; !onward && d <= '9'; d++) {
				char more[40];
				snprintf(more, sizeof more, "%s%c", pre, d);
				onward = takes(c, &t, more);
			}
			cr_assert(onward, "%s: the prefix %s dead-ends", schema, pre);
		}
	}
	jsonc_free(c);
	tvocab_free(&t);
}

Test(jsonc, bytes_integers)
{
	integer_range("{\"type\":\"integer\",\"minimum\":18,\"maximum\":120}", 18, 120, -300, 1300);
	integer_range("{\"type\":\"integer\",\"exclusiveMinimum\":-50,\"exclusiveMaximum\":-3}", -49, -4, -600, 100);
	integer_range("{\"type\":\"integer\",\"minimum\":-7.5,\"maximum\":7.5}", -7, 7, -100, 100);
	integer_range("{\"type\":\"integer\",\"minimum\":0,\"maximum\":0}", 0, 0, -20, 20);
	integer_range("{\"type\":\"integer\",\"minimum\":995,\"maximum\":1005}", 995, 1005, 0, 12000);
	integer_range("{\"type\":\"integer\",\"maximum\":3,\"exclusiveMaximum\":true}", -9007199254740991L, 2, -200, 200);
	tvocab t = byte_vocab();
	jsonc *c = compile_ok("{\"type\":\"integer\"}");
	ACCEPTS(c, &t, "9007199254740991");          /* unbounded: the integers exact in a double */
	ACCEPTS(c, &t, "-9007199254740991");
	REJECTS(c, &t, "9007199254740992");
	REJECTS(c, &t, "-0");
	REJECTS(c, &t, "1.0");
	REJECTS(c, &t, "1e3");
	jsonc_free(c);
	tvocab_free(&t);
}

Test(jsonc, bytes_numbers)
{
	tvocab t = byte_vocab();
	jsonc *c = compile_ok("{\"type\":\"number\",\"minimum\":0.5,\"exclusiveMaximum\":2.5}");
	REJECTS(c, &t, "0.4");
	REJECTS(c, &t, "0.49999");
	ACCEPTS(c, &t, "0.5");
	ACCEPTS(c, &t, "0.500000");
	ACCEPTS(c, &t, "1");
	ACCEPTS(c, &t, "2.499999");
	REJECTS(c, &t, "2.5");
	REJECTS(c, &t, "3");
	REJECTS(c, &t, "-1");
	REJECTS(c, &t, "1e0");                        /* no exponents under bounds */
	REJECTS(c, &t, "1.0000001");                  /* at most 6 fraction digits here */
	cr_assert(!takes(c, &t, "0.4"));              /* pruned as soon as no completion is left */
	cr_assert(!takes(c, &t, "2.5"));
	cr_assert(takes(c, &t, "0."));
	jsonc_free(c);
	/* bounds between integers, and negatives */
	c = compile_ok("{\"type\":\"number\",\"minimum\":-0.8,\"maximum\":-0.2}");
	ACCEPTS(c, &t, "-0.2");
	ACCEPTS(c, &t, "-0.8");
	ACCEPTS(c, &t, "-0.55");
	REJECTS(c, &t, "-0.81");
	REJECTS(c, &t, "-0.1");
	REJECTS(c, &t, "0");
	REJECTS(c, &t, "-0");
	cr_assert(!takes(c, &t, "-1"));
	jsonc_free(c);
	/* the decimals of a double: exclusiveMinimum 0.3 is the double just below 0.3, so "0.3"
	 * itself reads as that double and is not above it */
	c = compile_ok("{\"type\":\"number\",\"exclusiveMinimum\":0.3,\"maximum\":0.5}");
	REJECTS(c, &t, "0.3");
	ACCEPTS(c, &t, "0.300001");
	jsonc_free(c);
	c = compile_ok("{\"type\":\"number\",\"minimum\":0.1,\"maximum\":0.1}");
	ACCEPTS(c, &t, "0.1");
	ACCEPTS(c, &t, "0.100");
	REJECTS(c, &t, "0.1000001");
	jsonc_free(c);
	c = compile_ok("{\"type\":\"number\",\"minimum\":-1e12,\"maximum\":1e12}");
	ACCEPTS(c, &t, "-1000000000000");
	ACCEPTS(c, &t, "999999999999.99");             /* 13 integer digits leave 2 for the fraction */
	REJECTS(c, &t, "999999999999.999");
	REJECTS(c, &t, "1000000000000.01");
	jsonc_free(c);
	tvocab_free(&t);
}

Test(jsonc, bytes_formats)
{
	tvocab t = byte_vocab();
	jsonc *c = compile_ok("{\"type\":\"string\",\"format\":\"date\"}");
	ACCEPTS(c, &t, "\"2024-01-31\"");
	ACCEPTS(c, &t, "\"0000-12-31\"");
	ACCEPTS(c, &t, "\"2023-02-28\"");
	REJECTS(c, &t, "\"2024-02-29\"");             /* never 29 February (the year is not tracked) */
	REJECTS(c, &t, "\"2024-04-31\"");
	REJECTS(c, &t, "\"2024-13-01\"");
	REJECTS(c, &t, "\"2024-00-10\"");
	REJECTS(c, &t, "\"2024-01-00\"");
	REJECTS(c, &t, "\"2024-1-01\"");
	REJECTS(c, &t, "\"2024-01-01T\"");
	jsonc_free(c);
	c = compile_ok("{\"type\":\"string\",\"format\":\"time\"}");
	ACCEPTS(c, &t, "\"23:59:59Z\"");
	ACCEPTS(c, &t, "\"00:00:00.123456789+05:30\"");
	ACCEPTS(c, &t, "\"12:30:00-23:59\"");
	REJECTS(c, &t, "\"24:00:00Z\"");
	REJECTS(c, &t, "\"12:60:00Z\"");
	REJECTS(c, &t, "\"12:00:60Z\"");
	REJECTS(c, &t, "\"12:00:00\"");               /* the offset is required */
	REJECTS(c, &t, "\"12:00:00.Z\"");
	REJECTS(c, &t, "\"12:00:00.1234567890Z\"");
	REJECTS(c, &t, "\"12:00:00+24:00\"");
	jsonc_free(c);
	c = compile_ok("{\"format\":\"date-time\"}");
	ACCEPTS(c, &t, "\"2024-06-30T08:15:00.5Z\"");
	REJECTS(c, &t, "\"2024-06-30 08:15:00Z\"");
	REJECTS(c, &t, "\"2024-06-31T08:15:00Z\"");
	jsonc_free(c);
	c = compile_ok("{\"type\":\"string\",\"format\":\"uuid\"}");
	ACCEPTS(c, &t, "\"123e4567-e89b-12d3-A456-426614174000\"");
	REJECTS(c, &t, "\"123e4567e89b12d3a456426614174000\"");
	REJECTS(c, &t, "\"123e4567-e89b-12d3-a456-42661417400g\"");
	REJECTS(c, &t, "\"123e4567-e89b-12d3-a456-4266141740000\"");
	jsonc_free(c);
	tvocab_free(&t);
}

Test(jsonc, bytes_objects)
{
	tvocab t = byte_vocab();
	jsonc *c = compile_ok("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"boolean\"},"
			      "\"c\":{\"type\":\"string\"},\"ab\":{\"enum\":[1,12,\"x\"]}},\"required\":[\"a\",\"c\"]}");
	ACCEPTS(c, &t, "{\"a\":1,\"c\":\"\"}");
	ACCEPTS(c, &t, "{\"a\":1,\"b\":true,\"c\":\"\",\"ab\":12}");
	ACCEPTS(c, &t, "{\"a\":1,\"c\":\"\",\"ab\":1}");
	ACCEPTS(c, &t, "{\"a\":1,\"c\":\"\",\"ab\":\"x\"}");
	ACCEPTS(c, &t, "{ \"a\" : 1 , \"c\" : \"\" }");
	REJECTS(c, &t, "{\"c\":\"\",\"a\":1}");       /* the order of "properties" */
	REJECTS(c, &t, "{\"a\":1}");                  /* c is required */
	REJECTS(c, &t, "{\"a\":1,\"b\":true}");
	REJECTS(c, &t, "{\"a\":1,\"c\":\"\",\"d\":1}"); /* only the listed properties */
	REJECTS(c, &t, "{\"a\":1,\"a\":1,\"c\":\"\"}"); /* each once */
	REJECTS(c, &t, "{\"a\":1,\"c\":\"\",\"ab\":2}");
	REJECTS(c, &t, "{\"a\":1,\"c\":\"\",\"ab\":123}");
	REJECTS(c, &t, "{\"a \":1,\"c\":\"\"}");
	jsonc_free(c);
	/* anyOf of objects sharing a prefix of keys: both threads run until they part */
	c = compile_ok("{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"x\"},\"v\":{\"type\":\"integer\"}},"
		       "\"required\":[\"k\",\"v\"],\"additionalProperties\":false},{\"type\":\"object\",\"properties\":"
		       "{\"k\":{\"const\":\"y\"},\"w\":{\"type\":\"string\"}},\"required\":[\"k\",\"w\"],\"additionalProperties\":false},"
		       "{\"type\":\"null\"}]}");
	ACCEPTS(c, &t, "{\"k\":\"x\",\"v\":5}");
	ACCEPTS(c, &t, "{\"k\":\"y\",\"w\":\"5\"}");
	ACCEPTS(c, &t, "null");
	REJECTS(c, &t, "{\"k\":\"x\",\"w\":\"5\"}");
	REJECTS(c, &t, "{\"k\":\"y\",\"v\":5}");
	jsonc_free(c);
	/* free keys with typed values, bounded members */
	c = compile_ok("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\",\"minimum\":0},\"maxProperties\":2}");
	ACCEPTS(c, &t, "{\"x\":1,\"\\u00e9\":2}");
	REJECTS(c, &t, "{\"x\":1,\"y\":2,\"z\":3}");
	REJECTS(c, &t, "{\"x\":-1}");
	jsonc_free(c);
	/* arrays */
	c = compile_ok("{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":3}");
	REJECTS(c, &t, "[]");
	REJECTS(c, &t, "[1]");
	ACCEPTS(c, &t, "[1,2]");
	ACCEPTS(c, &t, "[ 1 , 2 , 3 ]");
	REJECTS(c, &t, "[1,2,3,4]");
	REJECTS(c, &t, "[1,\"2\"]");
	jsonc_free(c);
	c = compile_ok("{\"type\":\"array\"}");
	char *items = malloc(2 * JSONC_MAX_ITEMS + 8), *p = items + 2;
	strcpy(items, "[0");
	for (int i = 1; i < JSONC_MAX_ITEMS; i++)
		p += sprintf(p, ",%d", i % 10);
	strcpy(p, "]");
	ACCEPTS(c, &t, items);                        /* the default bound */
	strcpy(p, ",0]");
	REJECTS(c, &t, items);
	free(items);
	jsonc_free(c);
	tvocab_free(&t);
}

/* a tool call among 40 tools: every alternative stays reachable while all are alive at once */
Test(jsonc, many_alternatives)
{
	tvocab t = byte_vocab();
	json_t *tools = json_array();
	for (int i = 0; i < 40; i++) {
		char name[16];
		snprintf(name, sizeof name, "tool_%d", i);
		json_array_append_new(tools, json_pack("{s:s,s:{s:{s:s},s:{s:s}},s:[s,s],s:b}", "type", "object",
						       "properties", "name", "const", name, "arguments", "type", "object",
						       "required", "name", "arguments", "additionalProperties", 0));
	}
	json_t *s = json_pack("{s:o}", "anyOf", tools);
	char msg[256];
	int err;
	jsonc *c = jsonc_compile(s, msg, sizeof msg, &err);
	cr_assert(c, "%s", msg);
	for (int i = 0; i < 40; i++) {
		char text[64];
		snprintf(text, sizeof text, "{\"name\":\"tool_%d\",\"arguments\":{}}", i);
		ACCEPTS(c, &t, text);
	}
	REJECTS(c, &t, "{\"name\":\"tool_40\",\"arguments\":{}}");
	jsonc_free(c);
	json_decref(s);
	tvocab_free(&t);
}

/* tokens spanning structure are allowed exactly where all their bytes fit */
Test(jsonc, multi_byte_tokens)
{
	tvocab t = byte_vocab();
	jsonc *c = compile_ok("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"},\"b\":{\"type\":\"string\"}},"
			      "\"required\":[\"a\",\"b\"]}");
	uint8_t mask[TOK_EXTRA + SH_ARRAY_LEN(extra_tokens)];
	jsonc_state *s = jsonc_state_init(c, 0);
	int n = jsonc_mask(s, t.v, mask);
	cr_assert_eq(n, 2, "only '{' and '{\"' may begin (got %d)", n);
	cr_assert(mask['{'] && mask[TOK_EXTRA + 3]);
	cr_assert_eq(jsonc_accept(s, t.v, TOK_EXTRA + 3), 0);      /* {" */
	cr_assert_eq(jsonc_accept(s, t.v, 'a'), 0);
	jsonc_mask(s, t.v, mask);
	cr_assert(mask[TOK_EXTRA + 2] && !mask[TOK_EXTRA + 0] && !mask[TOK_EXTRA + 1]); /* ": yes; ", " and "} no */
	cr_assert_eq(jsonc_accept(s, t.v, TOK_EXTRA + 2), 0);
	cr_assert_eq(jsonc_accept(s, t.v, '"'), 0);
	jsonc_mask(s, t.v, mask);
	/* inside a's value: ", " closes it and opens b's key; "} would skip b; \" \u00e9 é stay */
	cr_assert(mask[TOK_EXTRA + 0] && !mask[TOK_EXTRA + 1] && mask[TOK_EXTRA + 4] && mask[TOK_EXTRA + 5] &&
		  mask[TOK_EXTRA + 6] && mask[TOK_EXTRA + 11] == 0 && mask[TOK_EXTRA + 12]);
	cr_assert(!mask[TOK_END] && !mask[TOK_CONTROL]);
	cr_assert_eq(jsonc_accept(s, t.v, TOK_EXTRA + 1), SH_EINVAL);
	cr_assert_eq(jsonc_accept(s, t.v, TOK_CONTROL), SH_EINVAL);
	cr_assert_eq(jsonc_accept(s, t.v, TOK_END), SH_EINVAL);
	cr_assert_eq(feed(s, &t, "x"), -1);
	cr_assert_eq(jsonc_accept(s, t.v, TOK_EXTRA + 0), 0);      /* ", " */
	cr_assert_eq(feed(s, &t, "b\":\"y"), -1);
	jsonc_mask(s, t.v, mask);
	cr_assert(mask[TOK_EXTRA + 1]);                              /* now "} ends it */
	cr_assert_eq(jsonc_accept(s, t.v, TOK_EXTRA + 1), 0);
	cr_assert(jsonc_done(s));
	cr_assert_eq(jsonc_mask(s, t.v, mask), 1);                  /* only the end token */
	cr_assert(mask[TOK_END]);
	cr_assert_eq(jsonc_accept(s, t.v, TOK_END), 0);
	cr_assert_eq(jsonc_accept(s, t.v, ' '), SH_EINVAL);
	cr_assert_eq(jsonc_accept(s, t.v, -1), SH_EINVAL);
	cr_assert_eq(jsonc_accept(s, t.v, t.n), SH_EINVAL);
	jsonc_state_free(s);
	jsonc_free(c);
	tvocab_free(&t);
}

Test(jsonc, done_and_clone)
{
	tvocab t = byte_vocab();
	jsonc *c = compile_ok("{\"type\":\"integer\",\"minimum\":1,\"maximum\":50}");
	jsonc_state *s = jsonc_state_init(c, 0);
	uint8_t mask[TOK_EXTRA + SH_ARRAY_LEN(extra_tokens)];
	cr_assert(!jsonc_done(s));
	cr_assert_eq(feed(s, &t, "4"), -1);
	cr_assert(jsonc_done(s));                      /* 4 is complete, and may still grow to 40-49 */
	cr_assert_eq(jsonc_mask(s, t.v, mask), 10 + 1); /* a digit, or the end */
	jsonc_state *k = jsonc_state_clone(s);
	cr_assert_eq(feed(s, &t, "2"), -1);
	cr_assert_eq(jsonc_mask(s, t.v, mask), 1);     /* 42: only the end */
	cr_assert(mask[TOK_END]);
	cr_assert_eq(jsonc_mask(k, t.v, mask), 11);    /* the clone is still at 4 */
	cr_assert_eq(feed(k, &t, "0"), -1);
	cr_assert(jsonc_done(k));
	cr_assert_eq(feed(k, &t, "0"), 0);             /* 400 is too big: refused, the state unchanged */
	cr_assert_eq(jsonc_mask(k, t.v, mask), 1);
	jsonc_state_free(k);
	k = jsonc_state_init(c, 0);
	cr_assert_eq(feed(k, &t, "5"), -1);
	cr_assert_eq(jsonc_mask(k, t.v, mask), 2);     /* 50, or 5 */
	cr_assert(mask['0'] && mask[TOK_END]);
	jsonc_state_free(k);
	jsonc_state_free(s);
	jsonc_free(c);
	tvocab_free(&t);
}

/* a vocabulary that lacks what the grammar needs: the mask says so instead of allowing nothing */
Test(jsonc, no_token_can_continue)
{
	tvocab t = tvocab_make(3);
	tvocab_set(&t, 0, "{\"", 2, false);
	tvocab_set(&t, 1, "a", 1, false);
	tvocab_set(&t, 2, "", 0, true);
	tvocab_index(&t);
	jsonc *c = compile_ok(NULL);
	jsonc_state *s = jsonc_state_init(c, 0);
	uint8_t mask[3];
	cr_assert_eq(jsonc_mask(s, t.v, mask), 1);
	cr_assert_eq(jsonc_accept(s, t.v, 0), 0);
	cr_assert_eq(jsonc_mask(s, t.v, mask), 2);          /* a, or {" as the key "{" */
	for (int i = 0; i < JSONC_MAX_KEY; i++)
		cr_assert_eq(jsonc_accept(s, t.v, 1), 0);
	cr_assert_eq(jsonc_mask(s, t.v, mask), SH_ERANGE); /* the key is full and no token has '"' */
	cr_assert_eq(mask[0] + mask[1] + mask[2], 0);
	jsonc_state_free(s);
	jsonc_free(c);
	tvocab_free(&t);
}

Test(jsonc, vocab_init_errors)
{
	const char *b[2] = { "a", NULL };
	int lens[2] = { 1, 1 }, err = 0;
	cr_assert_null(jsonc_vocab_init(0, b, lens, NULL, &err));
	cr_assert_eq(err, SH_EINVAL);
	cr_assert_null(jsonc_vocab_init(2, b, lens, NULL, &err)); /* bytes missing */
	cr_assert_eq(err, SH_EINVAL);
	lens[1] = -1;
	cr_assert_null(jsonc_vocab_init(2, b, lens, NULL, &err));
	lens[1] = 0;
	jsonc_vocab *v = jsonc_vocab_init(2, b, lens, NULL, &err); /* no end tokens: allowed */
	cr_assert(v);
	cr_assert_eq(jsonc_vocab_n_tokens(v), 2);
	jsonc_vocab_free(v);
}

/* ---------------------------------------------------------------- walks */
/* the schemas of the walks, each with what it exercises */
static const char *const walk_schemas[] = {
	/* flat, required fields of each kind, additionalProperties false */
	"{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":40},\"age\":{\"type\":\"integer\"},"
	"\"active\":{\"type\":\"boolean\"},\"color\":{\"enum\":[\"red\",\"green\",\"blue\"]},\"note\":{\"type\":\"string\","
	"\"maxLength\":20}},\"required\":[\"name\",\"age\",\"active\",\"color\"],\"additionalProperties\":false}",
	/* nested objects */
	"{\"type\":\"object\",\"properties\":{\"user\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\","
	"\"minimum\":1},\"address\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\",\"maxLength\":30},"
	"\"geo\":{\"type\":\"object\",\"properties\":{\"lat\":{\"type\":\"number\",\"minimum\":-90,\"maximum\":90}},"
	"\"required\":[\"lat\"]}},\"required\":[\"city\",\"geo\"]}},\"required\":[\"id\",\"address\"],"
	"\"additionalProperties\":false}},\"required\":[\"user\"],\"additionalProperties\":false}",
	/* arrays with bounds, arrays of arrays */
	"{\"type\":\"object\",\"properties\":{\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":10},"
	"\"minItems\":2,\"maxItems\":4},\"matrix\":{\"type\":\"array\",\"items\":{\"type\":\"array\",\"items\":"
	"{\"type\":\"integer\",\"minimum\":-9,\"maximum\":9},\"maxItems\":3},\"minItems\":1,\"maxItems\":3}},"
	"\"required\":[\"tags\",\"matrix\"],\"additionalProperties\":false}",
	/* anyOf of an object or null, oneOf with a discriminator */
	"{\"type\":\"object\",\"properties\":{\"pet\":{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"kind\":"
	"{\"const\":\"cat\"},\"lives\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9}},\"required\":[\"kind\",\"lives\"]},"
	"{\"type\":\"null\"}]},\"op\":{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"op\":{\"const\":\"add\"},"
	"\"x\":{\"type\":\"number\"}},\"required\":[\"op\",\"x\"],\"additionalProperties\":false},{\"type\":\"object\","
	"\"properties\":{\"op\":{\"const\":\"del\"},\"id\":{\"type\":\"integer\"}},\"required\":[\"op\",\"id\"],"
	"\"additionalProperties\":false}]}},\"required\":[\"pet\",\"op\"]}",
	/* const of a structure and of an escaped string, enums of any values */
	"{\"type\":\"object\",\"properties\":{\"v\":{\"const\":{\"a\":[1,2.5,\"x\"],\"b\":null}},\"s\":{\"const\":"
	"\"fixed \\\"quoted\\\" \\u00e9\\n\"},\"e\":{\"enum\":[1,\"two\",null,true,[3],{\"four\":4},0.1]}},"
	"\"required\":[\"v\",\"s\",\"e\"]}",
	/* integer bounds */
	"{\"type\":\"object\",\"properties\":{\"age\":{\"type\":\"integer\",\"minimum\":18,\"maximum\":120},"
	"\"neg\":{\"type\":\"integer\",\"exclusiveMinimum\":-50,\"exclusiveMaximum\":-3},\"big\":{\"type\":\"integer\","
	"\"minimum\":1000000}},\"required\":[\"age\",\"neg\",\"big\"]}",
	/* number bounds */
	"{\"type\":\"object\",\"properties\":{\"p\":{\"type\":\"number\",\"minimum\":0,\"maximum\":1},\"t\":{\"type\":"
	"\"number\",\"exclusiveMinimum\":-273.15,\"maximum\":10000},\"r\":{\"type\":\"number\",\"minimum\":0.2,"
	"\"maximum\":0.8},\"x\":{\"type\":\"number\"},\"q\":{\"type\":\"number\",\"exclusiveMaximum\":0}},"
	"\"required\":[\"p\",\"t\",\"r\",\"x\",\"q\"]}",
	/* formats */
	"{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\",\"format\":\"date\"},\"t\":{\"type\":\"string\","
	"\"format\":\"time\"},\"dt\":{\"type\":\"string\",\"format\":\"date-time\"},\"id\":{\"type\":\"string\","
	"\"format\":\"uuid\"}},\"required\":[\"d\",\"t\",\"dt\",\"id\"],\"additionalProperties\":false}",
	/* $defs and a recursive $ref */
	"{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},"
	"\"children\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"},\"maxItems\":3}},\"required\":[\"name\"],"
	"\"additionalProperties\":false}},\"$ref\":\"#/$defs/node\"}",
	/* type arrays, free keys, lengths, a value at the root */
	"{\"type\":\"object\",\"properties\":{\"a\":{\"type\":[\"string\",\"null\"],\"maxLength\":5},\"b\":{\"type\":"
	"[\"integer\",\"boolean\"]},\"m\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"},"
	"\"maxProperties\":3},\"code\":{\"type\":\"string\",\"minLength\":3,\"maxLength\":3}},"
	"\"required\":[\"a\",\"b\",\"m\",\"code\"]}",
	"{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":12},\"maxItems\":5}",
	"{\"type\":\"integer\",\"minimum\":-5,\"maximum\":5000}",
	"true",
};

static void walk_all(const char *file, int seeds, int json_object_seeds)
{
	tvocab t = real_vocab(file);
	int most = walks(NULL, &t, json_object_seeds, 1000, 1001);
	for (size_t i = 0; i < SH_ARRAY_LEN(walk_schemas); i++)
		most = SH_MAX(most, walks(walk_schemas[i], &t, seeds, 1000, 1001));
	cr_log_info("%s: the longest walk took %d tokens", file, most);
	tvocab_free(&t);
}

Test(jsonc, walk_spm, .timeout = 300)
{
	walk_all("vocab/ggml-vocab-llama-spm.gguf", 12, 40);
}

Test(jsonc, walk_bpe, .timeout = 300)
{
	walk_all("vocab/ggml-vocab-llama-bpe.gguf", 8, 24);
}

/* strings drawn towards backslashes, quotes and non-ASCII bytes still come out escaped properly
 * (the walks parse), and such bytes do come */
Test(jsonc, walk_escapes, .timeout = 300)
{
	static const char *const files[] = { "vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-llama-bpe.gguf" };
	const char *schema = "{\"type\":\"array\",\"items\":{\"type\":\"string\",\"maxLength\":30},\"minItems\":3,\"maxItems\":3}";
	json_t *js = parse(schema);
	for (size_t f = 0; f < SH_ARRAY_LEN(files); f++) {
		tvocab t = real_vocab(files[f]);
		jsonc *c = compile_ok(schema);
		int escapes = 0, unicode = 0;
		for (int seed = 0; seed < 20; seed++) {
			walk_out w = walk(c, &t, (uint64_t)seed, PICK_ESCAPES, 0, 4000);
			check_valid(w.text, w.len, js, files[f]);
			escapes += w.escapes;
			unicode += w.unicode;
			free(w.text);
		}
		cr_assert_gt(escapes, 10, "%s: %d walks had escapes", files[f], escapes);
		cr_assert_gt(unicode, 10, "%s: %d walks had non-ASCII", files[f], unicode);
		jsonc_free(c);
		tvocab_free(&t);
	}
	json_decref(js);
}

/* the mask equals, token by token, what jsonc_accept takes on a clone: the string lists and the
 * trie walk agree with the machine itself, along random walks; slack >= 0: with a budget of that
 * many tokens more than the least (the counts near the end agree too) */
static void mask_matches(const char *file, const char *schema, int steps, int slack)
{
	tvocab t = real_vocab(file);
	jsonc *c = compile_ok(schema);
	jsonc_state *s = jsonc_state_init(c, slack < 0 ? 0 : jsonc_min_tokens(c) + slack);
	uint8_t *mask = malloc((size_t)t.n);
	sh_rng r;
	sh_rng_seed(&r, 3);
	for (int k = 0; k < steps && !jsonc_done(s); k++) {
		cr_assert_gt(jsonc_mask(s, t.v, mask), 0);
		int pick = -1, seen = 0;
		for (int i = 0; i < t.n; i++) {
			jsonc_state *u = jsonc_state_clone(s);
			int rc = jsonc_accept(u, t.v, i);
			jsonc_state_free(u);
			cr_assert_eq(rc == 0, mask[i] == 1, "%s step %d token %d [%.*s]: mask %d, accept %d", file, k, i,
				     t.lens[i], t.bytes[i], mask[i], rc);
			/* walk on by a random allowed token, preferring short ones so strings last */
			if (mask[i] && !t.end[i] && t.lens[i] <= 2 && sh_rng_u64(&r) % ++seen == 0)
				pick = i;
		}
		if (pick < 0)
			break;
		cr_assert_eq(jsonc_accept(s, t.v, pick), 0);
	}
	free(mask);
	jsonc_state_free(s);
	jsonc_free(c);
	tvocab_free(&t);
}

Test(jsonc, mask_matches_accept, .timeout = 300)
{
	const char *schema = "{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":6},"
			     "\"n\":{\"type\":\"number\",\"minimum\":-2,\"maximum\":300},\"a\":{\"type\":\"array\",\"items\":"
			     "{\"enum\":[\"x\",\"yz\",7]}},\"m\":{\"type\":\"object\"}},\"required\":[\"s\",\"n\",\"a\",\"m\"]}";
	mask_matches("vocab/ggml-vocab-llama-spm.gguf", schema, 40, -1);
	mask_matches("vocab/ggml-vocab-llama-bpe.gguf", schema, 12, -1);
	mask_matches("vocab/ggml-vocab-llama-spm.gguf", NULL, 40, -1);
	mask_matches("vocab/ggml-vocab-llama-spm.gguf", schema, 60, 6);
	mask_matches("vocab/ggml-vocab-llama-bpe.gguf", NULL, 20, 3);
}

/* ---------------------------------------------------------------- the token budget */
/* the bytes of the shortest value: what the least budget is */
Test(jsonc, min_tokens)
{
	static const struct {
		const char *schema; /* NULL: json_object */
		int min;
	} cases[] = {
		{ NULL, 2 },                                                                  /* {} */
		{ "true", 1 },                                                                /* 0 */
		{ "{\"type\":\"string\",\"minLength\":3}", 5 },
		{ "{\"type\":\"string\",\"format\":\"date-time\"}", 22 },
		{ "{\"type\":\"integer\",\"minimum\":100}", 3 },
		{ "{\"type\":\"integer\",\"minimum\":-50,\"maximum\":-3}", 2 },                 /* -3 */
		{ "{\"type\":\"number\",\"minimum\":0.25,\"maximum\":0.75}", 3 },               /* 0.3 */
		{ "{\"enum\":[\"alpha\",12345,null,[1]]}", 3 },                                     /* [1] */
		{ "{\"type\":\"array\",\"items\":{\"type\":\"boolean\"},\"minItems\":3}", 16 },  /* [true,true,true] */
		{ "{\"anyOf\":[{\"type\":\"string\",\"minLength\":5},{\"type\":\"null\"}]}", 4 },
		{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"o\":{\"type\":\"string\"},"
		  "\"b\":{\"type\":\"string\"}},\"required\":[\"a\",\"b\"]}", 14 },                  /* {"a":0,"b":""} */
		{ "{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"object\",\"properties\":{\"y\":{\"const\":1}},"
		  "\"required\":[\"y\"]}},\"required\":[\"x\"]}", 13 },                               /* {"x":{"y":1}} */
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
		jsonc *c = compile_ok(cases[i].schema);
		cr_assert_eq(jsonc_min_tokens(c), cases[i].min, "%s: %d", cases[i].schema, jsonc_min_tokens(c));
		jsonc_free(c);
	}
}

/* random walks with budgets of the least and a little more always end complete and valid within
 * them, whatever is drawn: on the byte vocabulary (where the count of bytes is exact) and the 32k
 * SPM one */
static const char *const budget_schemas[] = {
	NULL,
	/* nested required objects */
	"{\"type\":\"object\",\"properties\":{\"user\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":"
	"\"integer\",\"minimum\":100},\"geo\":{\"type\":\"object\",\"properties\":{\"lat\":{\"type\":\"number\","
	"\"minimum\":-90,\"maximum\":90},\"tag\":{\"type\":\"string\",\"minLength\":2}},\"required\":[\"lat\",\"tag\"]},"
	"\"note\":{\"type\":\"string\"}},\"required\":[\"id\",\"geo\"]}},\"required\":[\"user\"]}",
	/* arrays with minItems, of objects with arrays */
	"{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"id\":{\"type\":\"integer\"},"
	"\"tags\":{\"type\":\"array\",\"items\":{\"enum\":[\"a\",\"bb\"]},\"minItems\":2}},\"required\":[\"id\","
	"\"tags\"]},\"minItems\":2}",
	/* enums and optional members */
	"{\"type\":\"object\",\"properties\":{\"e\":{\"enum\":[\"alpha\",\"al\",12345,null,{\"k\":[1,2]}]},"
	"\"o\":{\"type\":\"array\"},\"m\":{\"type\":\"object\"},\"r\":{\"type\":\"number\",\"minimum\":0.25,"
	"\"maximum\":0.75}},\"required\":[\"e\",\"r\"]}",
	/* anyOf of values of different lengths, formats */
	"{\"anyOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\",\"minLength\":5}},"
	"\"required\":[\"a\"]},{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"minimum\":10},\"minItems\":4},"
	"{\"type\":\"string\",\"format\":\"time\"},{\"type\":\"integer\",\"minimum\":-99999,\"maximum\":-1000}]}",
};

Test(jsonc, walk_budget, .timeout = 300)
{
	static const int slack[] = { 0, 1, 2, 5, 20 };
	tvocab tb = byte_vocab(), ts = real_vocab("vocab/ggml-vocab-llama-spm.gguf");
	for (size_t i = 0; i < SH_ARRAY_LEN(budget_schemas); i++) {
		jsonc *c = compile_ok(budget_schemas[i]);
		int min = jsonc_min_tokens(c);
		jsonc_free(c);
		for (size_t k = 0; k < SH_ARRAY_LEN(slack); k++) {
			walks(budget_schemas[i], &tb, 30, min + slack[k], min + slack[k] + 1);
			walks(budget_schemas[i], &ts, 6, min + slack[k], min + slack[k] + 1);
		}
	}
	tvocab_free(&tb);
	tvocab_free(&ts);
}

/* with a large budget the fixed limits of old are gone: a string past 256 characters, an array
 * past 16 items, by bytes and by walks that tend to go on (which still end within the budget) */
Test(jsonc, budget_lifts_limits, .timeout = 300)
{
	tvocab t = byte_vocab();
	jsonc *c = compile_ok("{\"type\":\"string\"}");
	char text[2100] = "\"";
	memset(text + 1, 'x', 2000);
	strcpy(text + 2001, "\"");
	ACCEPTS(c, &t, text);
	jsonc_free(c);
	c = compile_ok("{\"type\":\"array\",\"items\":{\"type\":\"integer\"}}");
	char *p = text + sprintf(text, "[0");
	for (int i = 1; i < 100; i++)
		p += sprintf(p, ",%d", i);
	strcpy(p, "]");
	ACCEPTS(c, &t, text);
	jsonc_free(c);
	tvocab_free(&t);
	t = real_vocab("vocab/ggml-vocab-llama-spm.gguf");
	static const struct {
		const char *schema;
		int past; /* characters, items */
	} cases[] = {
		{ "{\"type\":\"string\"}", 256 },
		{ "{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":9}}", 16 },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
		c = compile_ok(cases[i].schema);
		json_t *js = parse(cases[i].schema);
		int longest = 0;
		for (int seed = 0; seed < 4; seed++) {
			walk_out w = walk(c, &t, (uint64_t)seed, PICK_OPEN, 3000, 3001);
			check_valid(w.text, w.len, js, cases[i].schema);
			json_t *x = json_loadb(w.text, w.len, JSON_DECODE_ANY, NULL);
			int n = json_is_string(x) ? (int)utf8_chars(json_string_value(x), json_string_length(x))
						  : (int)json_array_size(x);
			longest = SH_MAX(longest, n);
			json_decref(x);
			free(w.text);
		}
		cr_assert_gt(longest, cases[i].past, "%s: the longest walk made %d", cases[i].schema, longest);
		json_decref(js);
		jsonc_free(c);
	}
	tvocab_free(&t);
}
