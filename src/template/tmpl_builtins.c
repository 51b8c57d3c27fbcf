/*
 * tmpl_builtins.c - what a template can call: jinja2's filters and tests, the methods of str,
 * dict, list and the loop object, and the globals HF defines (range, dict, namespace,
 * raise_exception, strftime_now). Each follows the Python it stands for, as jinja2 3.1 and HF's
 * ImmutableSandboxedEnvironment run it:
 *
 *   - select/reject/selectattr/rejectattr/map/items/unique/batch/slice return generators, and
 *     |reverse an iterator: always true, no len(), used up by one pass (|list first);
 *   - selectattr/map(attribute=)/sort(attribute=) look attributes up with getitem and a dotted
 *     path ("a.b", "0"), as make_attrgetter does; sort/unique/min/max ignore case by default;
 *   - tojson is HF's: json.dumps(x, ensure_ascii=False, indent=None, separators=None,
 *     sort_keys=False);
 *   - list.append, dict.update and the other mutating methods are "unsafe" in the immutable
 *     sandbox: calling one raises "access to attribute 'append' of 'list' object is unsafe.";
 *   - str.format and `%` are Python's format mini-language and printf-style formatting.
 *
 * Loops whose length a template controls (range, center widths, batch, slice, repetition) are
 * bounded by the render's step and memory caps. Filters jinja2 has but chat templates do not use
 * (urlize, wordwrap, xmlattr, filesizeformat, pprint, groupby, urlencode) are not provided: a
 * template naming one fails to parse with "No filter named ...".
 */
#define _GNU_SOURCE /* memmem, strftime_l */
#include "template/tmpl_impl.h"

#include <ctype.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---------------------------------------------------------------- helpers */
static bool done_buf(tm_ctx *c, tm_buf *b, val *out)
{
	if (!b->ok)
		return tm_fail_mem(c);
	*out = v_strs(tm_buf_str(b));
	return true;
}

static bool want_str(tm_ctx *c, const char *what, val v, tm_str *out)
{
	if (v.t == V_STR) {
		*out = v.s;
		return true;
	}
	if (v.t == V_UNDEF && v.ukind != 0xFF)
		return tm_fail_undef(c, v);
	return tm_fail(c, "%s must be str, not %s", what, v.t == V_UNDEF ? "nothing" : tm_type_name(v));
}

static bool want_int(tm_ctx *c, const char *what, val v, int64_t *out)
{
	if (v.t == V_INT || v.t == V_BOOL) {
		*out = v.t == V_INT ? v.i : v.b;
		return true;
	}
	if (v.t == V_UNDEF && v.ukind != 0xFF)
		return tm_fail_undef(c, v);
	return tm_fail(c, "%s: '%s' object cannot be interpreted as an integer", what, tm_type_name(v));
}

static bool opt_bool(val v, bool def) { return tm_given(v) ? tm_truthy(v) : def; }

/* a fixed-size result within the render's output budget (widths, repetitions) */
static bool size_ok(tm_ctx *c, int64_t n)
{
	if (n >= 0 && (uint64_t)n <= c->max_output)
		return true;
	c->limit_hit = true;
	return tm_fail(c, "output too large (more than %zu bytes)", c->max_output);
}

static tm_list *new_list(tm_ctx *c, size_t n, int kind)
{
	tm_list *l = tm_list_new(&c->a, n);
	if (!l) {
		tm_fail_mem(c);
		return NULL;
	}
	l->kind = (uint8_t)kind;
	return l;
}

static bool tuple2(tm_ctx *c, val a, val b, val *out)
{
	tm_list *t = new_list(c, 2, L_TUPLE);
	if (!t)
		return false;
	t->v[0] = a;
	t->v[1] = b;
	*out = v_list(t);
	return true;
}

/* code points of s (offsets into s: off[i] .. off[i+1]) */
static bool code_points(tm_ctx *c, tm_str s, uint32_t **cps, size_t **offs, size_t *n)
{
	size_t k = tm_utf8_len(s);
	uint32_t *cp = tm_alloc(&c->a, (k + 1) * sizeof *cp);
	size_t *off = tm_alloc(&c->a, (k + 1) * sizeof *off);
	if (!cp || !off)
		return tm_fail_mem(c);
	for (size_t i = 0, j = 0; j < k; j++) {
		off[j] = i;
		i += tm_utf8_decode(s.p + i, s.n - i, &cp[j]);
	}
	off[k] = s.n;
	cp[k] = 0;
	*cps = cp;
	if (offs)
		*offs = off;
	*n = k;
	return true;
}

static void add_cp(tm_buf *b, uint32_t cp)
{
	char e[4];
	tm_buf_add(b, e, tm_utf8_encode(cp, e));
}

static bool is_cased(uint32_t cp) { return tm_upper(cp) != cp || tm_lower(cp) != cp; }

/* Python's str.find over byte strings: the byte offset of needle in hay from `from`, or -1 */
static long find_bytes(tm_str hay, tm_str needle, size_t from)
{
	if (from > hay.n)
		return -1;
	if (!needle.n)
		return (long)from;
	TM_WORK(hay.n - from);
	const char *p = memmem(hay.p + from, hay.n - from, needle.p, needle.n);
	return p ? (long)(p - hay.p) : -1;
}

static long rfind_bytes(tm_str hay, tm_str needle)
{
	if (needle.n > hay.n)
		return -1;
	if (!needle.n)
		return (long)hay.n;
	size_t end = hay.n - needle.n + 1; /* candidates start in [0, end) */
	while (end > 0) {
		const char *p = memrchr(hay.p, needle.p[0], end);
		if (!p) {
			TM_WORK(end);
			return -1;
		}
		size_t i = (size_t)(p - hay.p);
		TM_WORK(end - i + needle.n);
		if (!memcmp(hay.p + i, needle.p, needle.n))
			return (long)i;
		end = i;
	}
	return -1;
}

/* code point index of byte offset off in s */
static int64_t cp_index(tm_str s, size_t off)
{
	return (int64_t)tm_utf8_len((tm_str){ s.p, off });
}

/* ---------------------------------------------------------------- string operations */
static bool in_chars(uint32_t cp, const uint32_t *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == cp)
			return true;
	return false;
}

/* str.strip / lstrip / rstrip (chars: V_NONE or not given = whitespace) */
static bool str_strip(tm_ctx *c, tm_str s, val chars, bool left, bool right, val *out)
{
	uint32_t *set = NULL, *cps;
	size_t nset = 0, n, *off;
	if (tm_given(chars) && chars.t != V_NONE) {
		tm_str cs = { "", 0 };
		if (!want_str(c, "strip arg", chars, &cs) || !code_points(c, cs, &set, NULL, &nset))
			return false;
	}
	if (!code_points(c, s, &cps, &off, &n))
		return false;
	size_t a = 0, b = n;
	while (left && a < b && (set ? in_chars(cps[a], set, nset) : tm_is_space(cps[a])))
		a++;
	while (right && b > a && (set ? in_chars(cps[b - 1], set, nset) : tm_is_space(cps[b - 1])))
		b--;
	*out = v_str(s.p + off[a], off[b] - off[a]);
	return true;
}

static bool str_case(tm_ctx *c, tm_str s, int mode, val *out)
{
	/* mode 0 lower, 1 upper, 2 capitalize, 3 str.title, 4 swapcase, 5 jinja2's |title */
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	TM_WORK(16 * s.n);
	bool prev_cased = false, prev_sep = true;
	size_t k = 0;
	for (size_t i = 0; i < s.n; k++) {
		uint32_t cp = 0;
		i += tm_utf8_decode(s.p + i, s.n - i, &cp);
		uint32_t r = cp;
		switch (mode) {
		case 0: r = tm_lower(cp); break;
		case 1: r = tm_upper(cp); break;
		case 2: r = k ? tm_lower(cp) : tm_upper(cp); break;
		case 3:
			r = prev_cased ? tm_lower(cp) : tm_upper(cp);
			prev_cased = is_cased(cp);
			break;
		case 4: r = tm_upper(cp) != cp ? tm_upper(cp) : tm_lower(cp); break;
		default: {
			/* "".join(w[0].upper() + w[1:].lower() for w in re.split(r"([-\s({\[<]+)", s)) */
			bool sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || tm_is_space(cp);
			r = sep != prev_sep || k == 0 ? tm_upper(cp) : tm_lower(cp);
			prev_sep = sep;
			break;
		}
		}
		add_cp(&b, r);
	}
	return done_buf(c, &b, out);
}

/* str.split / rsplit (sep V_NONE: runs of whitespace) */
static bool str_split(tm_ctx *c, tm_str s, val sepv, int64_t maxsplit, bool from_right, val *out)
{
	tm_list *l = new_list(c, 0, L_LIST);
	size_t cap = 0;
	if (!l)
		return false;
#define PUSH(p_, n_)                                                                                    \
	do {                                                                                            \
		if (l->n == cap) {                                                                      \
			size_t nc = cap ? cap * 2 : 8;                                                  \
			val *nv = tm_grow(&c->a, l->v, cap * sizeof(val), nc * sizeof(val));           \
			if (!nv)                                                                        \
				return tm_fail_mem(c);                                                  \
			l->v = nv;                                                                      \
			cap = nc;                                                                       \
		}                                                                                       \
		l->v[l->n++] = v_str((p_), (n_));                                                       \
	} while (0)
	if (sepv.t == V_NONE || !tm_given(sepv)) {
		uint32_t *cps;
		size_t n, *off;
		if (!code_points(c, s, &cps, &off, &n))
			return false;
		if (!from_right) {
			size_t i = 0;
			while (i < n) {
				while (i < n && tm_is_space(cps[i]))
					i++;
				if (i == n)
					break;
				if (maxsplit >= 0 && (int64_t)l->n == maxsplit) { /* the rest, its trailing space kept */
					PUSH(s.p + off[i], s.n - off[i]);
					break;
				}
				size_t j = i;
				while (j < n && !tm_is_space(cps[j]))
					j++;
				PUSH(s.p + off[i], off[j] - off[i]);
				i = j;
			}
		} else {
			size_t i = n;
			while (i > 0) {
				while (i > 0 && tm_is_space(cps[i - 1]))
					i--;
				if (!i)
					break;
				if (maxsplit >= 0 && (int64_t)l->n == maxsplit) { /* the rest, its leading space kept */
					PUSH(s.p, off[i]);
					break;
				}
				size_t j = i;
				while (j > 0 && !tm_is_space(cps[j - 1]))
					j--;
				PUSH(s.p + off[j], off[i] - off[j]);
				i = j;
			}
		}
	} else {
		tm_str sep = { "", 0 };
		if (!want_str(c, "sep", sepv, &sep))
			return false;
		if (!sep.n)
			return tm_fail(c, "empty separator");
		if (!from_right) {
			size_t i = 0;
			long f = 0;
			while ((maxsplit < 0 || (int64_t)l->n < maxsplit) && (f = find_bytes(s, sep, i)) >= 0) {
				PUSH(s.p + i, (size_t)f - i);
				i = (size_t)f + sep.n;
			}
			PUSH(s.p + i, s.n - i);
		} else {
			size_t end = s.n;
			while (maxsplit < 0 || (int64_t)l->n < maxsplit) {
				long f = rfind_bytes((tm_str){ s.p, end }, sep);
				if (f < 0)
					break;
				PUSH(s.p + f + sep.n, end - (size_t)f - sep.n);
				end = (size_t)f;
			}
			PUSH(s.p, end);
		}
	}
#undef PUSH
	if (from_right) /* pieces were collected right to left */
		for (size_t i = 0; i < l->n / 2; i++) {
			val t = l->v[i];
			l->v[i] = l->v[l->n - 1 - i];
			l->v[l->n - 1 - i] = t;
		}
	*out = v_list(l);
	return true;
}

/* str.splitlines(keepends) */
static bool str_splitlines(tm_ctx *c, tm_str s, bool keepends, tm_list **out)
{
	uint32_t *cps;
	size_t n, *off;
	if (!code_points(c, s, &cps, &off, &n))
		return false;
	tm_list *l = new_list(c, n + 1, L_LIST);
	if (!l)
		return false;
	l->n = 0;
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && !(cps[j] == '\n' || cps[j] == '\r' || cps[j] == 0x0B || cps[j] == 0x0C || cps[j] == 0x1C ||
				  cps[j] == 0x1D || cps[j] == 0x1E || cps[j] == 0x85 || cps[j] == 0x2028 || cps[j] == 0x2029))
			j++;
		size_t e = j;
		if (j < n)
			e = cps[j] == '\r' && j + 1 < n && cps[j + 1] == '\n' ? j + 2 : j + 1;
		l->v[l->n++] = v_str(s.p + off[i], off[keepends ? e : j] - off[i]);
		i = e;
	}
	*out = l;
	return true;
}

static bool str_replace(tm_ctx *c, tm_str s, tm_str old, tm_str new, int64_t count, val *out)
{
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	if (!old.n) {
		/* "ab".replace("", "-") == "-a-b-" */
		int64_t done = 0;
		for (size_t i = 0;;) {
			if (count < 0 || done < count) {
				tm_buf_add(&b, new.p, new.n);
				done++;
			}
			if (i >= s.n)
				break;
			uint32_t cp = 0;
			size_t k = tm_utf8_decode(s.p + i, s.n - i, &cp);
			tm_buf_add(&b, s.p + i, k);
			i += k;
			if (!tm_step(c))
				return false;
		}
		return done_buf(c, &b, out);
	}
	size_t i = 0;
	long f = 0;
	int64_t done = 0;
	while ((count < 0 || done < count) && (f = find_bytes(s, old, i)) >= 0) {
		tm_buf_add(&b, s.p + i, (size_t)f - i);
		tm_buf_add(&b, new.p, new.n);
		i = (size_t)f + old.n;
		done++;
	}
	if (!done) {
		*out = v_strs(s);
		return true;
	}
	tm_buf_add(&b, s.p + i, s.n - i);
	return done_buf(c, &b, out);
}

/* str.center / ljust / rjust (align '^', '<', '>') */
static bool str_pad(tm_ctx *c, tm_str s, int64_t width, uint32_t fill, char align, val *out)
{
	int64_t len = (int64_t)tm_utf8_len(s);
	if (width <= len) {
		*out = v_strs(s);
		return true;
	}
	if (!size_ok(c, width * 4))
		return false;
	int64_t pad = width - len, left = align == '>' ? pad : align == '<' ? 0 : pad / 2 + (pad & width & 1);
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	for (int64_t i = 0; i < left; i++)
		add_cp(&b, fill);
	tm_buf_add(&b, s.p, s.n);
	for (int64_t i = left; i < pad; i++)
		add_cp(&b, fill);
	return done_buf(c, &b, out);
}

static bool join_items(tm_ctx *c, tm_str sep, const tm_list *l, bool strict, val *out)
{
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	for (size_t i = 0; i < l->n; i++) {
		tm_str s = { "", 0 };
		if (strict && l->v[i].t != V_STR)
			return tm_fail(c, "sequence item %zu: expected str instance, %s found", i, tm_type_name(l->v[i]));
		if (!tm_str_of(c, l->v[i], &s))
			return false;
		if (i)
			tm_buf_add(&b, sep.p, sep.n);
		tm_buf_add(&b, s.p, s.n);
	}
	return done_buf(c, &b, out);
}

/* ---------------------------------------------------------------- formatting */
typedef struct {
	uint32_t fill;
	char align, sign, group, type;
	bool alt, zero;
	int64_t width, prec;   /* -1: none */
} fspec;

static bool parse_spec(tm_ctx *c, tm_str s, fspec *f)
{
	*f = (fspec){ .fill = ' ', .width = -1, .prec = -1 };
	size_t i = 0;
	uint32_t cp0 = 0;
	size_t k0 = s.n ? tm_utf8_decode(s.p, s.n, &cp0) : 0;
	if (k0 < s.n && strchr("<>=^", s.p[k0])) {
		f->fill = cp0;
		f->align = s.p[k0];
		i = k0 + 1;
	} else if (s.n && strchr("<>=^", s.p[0])) {
		f->align = s.p[0];
		i = 1;
	}
	if (i < s.n && strchr("+- ", s.p[i]))
		f->sign = s.p[i++];
	if (i < s.n && s.p[i] == 'z')
		i++;
	if (i < s.n && s.p[i] == '#')
		f->alt = true, i++;
	if (i < s.n && s.p[i] == '0') {
		f->zero = true;
		i++;
	}
	if (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
		f->width = 0;
		while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9' && f->width < 100000000)
			f->width = f->width * 10 + (s.p[i++] - '0');
	}
	if (i < s.n && (s.p[i] == ',' || s.p[i] == '_'))
		f->group = s.p[i++];
	if (i < s.n && s.p[i] == '.') {
		i++;
		if (i >= s.n || s.p[i] < '0' || s.p[i] > '9')
			return tm_fail(c, "Format specifier missing precision");
		f->prec = 0;
		while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9' && f->prec < 100000000)
			f->prec = f->prec * 10 + (s.p[i++] - '0');
	}
	if (i < s.n)
		f->type = s.p[i++];
	if (i < s.n)
		return tm_fail(c, "Invalid format specifier '%.*s'", (int)SH_MIN(s.n, 40), s.p);
	if (f->zero && !f->align) {
		f->fill = '0';
		f->align = '=';
	}
	return true;
}

/* pads body (sign and digits split at `split`) to the spec's width */
static bool pad_out(tm_ctx *c, tm_buf *b, const fspec *f, tm_str body, size_t split, char def_align)
{
	int64_t len = (int64_t)tm_utf8_len(body);
	char align = f->align ? f->align : def_align;
	int64_t pad = f->width > len ? f->width - len : 0;
	if (pad && !size_ok(c, pad * 4))
		return false;
	int64_t left = align == '>' ? pad : align == '^' ? pad / 2 : 0;
	if (align == '=') {
		tm_buf_add(b, body.p, split);
		for (int64_t i = 0; i < pad; i++)
			add_cp(b, f->fill);
		tm_buf_add(b, body.p + split, body.n - split);
		return b->ok;
	}
	for (int64_t i = 0; i < left; i++)
		add_cp(b, f->fill);
	tm_buf_add(b, body.p, body.n);
	for (int64_t i = left; i < pad; i++)
		add_cp(b, f->fill);
	return b->ok;
}

/* digits with thousands separators every 3 (only the integer part of s) */
static void group_digits(char *s, size_t cap, char sep)
{
	char tmp[512];
	size_t n = strlen(s), intlen = 0;
	while (intlen < n && s[intlen] >= '0' && s[intlen] <= '9')
		intlen++;
	if (intlen <= 3 || n + intlen / 3 + 1 >= sizeof tmp || n + intlen / 3 + 1 >= cap)
		return;
	size_t k = 0;
	for (size_t i = 0; i < intlen; i++) {
		if (i && (intlen - i) % 3 == 0)
			tmp[k++] = sep;
		tmp[k++] = s[i];
	}
	memcpy(tmp + k, s + intlen, n - intlen + 1);
	memcpy(s, tmp, k + n - intlen + 1);
}

/* Python's format(number, spec) for the numeric types */
static bool format_number(tm_ctx *c, tm_buf *b, val v, const fspec *f)
{
	char digits[480], body[520];
	char type = f->type;
	bool neg = false;
	const char *prefix = "";
	if (v.t == V_FLOAT || (type && strchr("eEfFgG%", type))) {
		double x = v.t == V_FLOAT ? v.f : (double)(v.t == V_INT ? v.i : v.b);
		int64_t prec = f->prec < 0 ? 6 : SH_MIN(f->prec, 300);
		neg = signbit(x) && !isnan(x);
		double ax = fabs(x);
		if (isnan(x) || isinf(x)) {
			bool up = type && strchr("EFG", type);
			snprintf(digits, sizeof digits, "%s", isnan(x) ? (up ? "NAN" : "nan") : (up ? "INF" : "inf"));
		} else if (type == '%') {
			snprintf(digits, sizeof digits, "%.*f%%", (int)prec, ax * 100);
		} else if (type == 'f' || type == 'F') {
			if (ax >= 1e300)
				return tm_fail(c, "number too large to format");
			snprintf(digits, sizeof digits, f->alt ? "%#.*f" : "%.*f", (int)prec, ax);
		} else if (type == 'e' || type == 'E') {
			snprintf(digits, sizeof digits, f->alt ? "%#.*e" : "%.*e", (int)prec, ax);
			if (type == 'E')
				for (char *p = digits; *p; p++)
					if (*p == 'e')
						*p = 'E';
		} else if (type == 'g' || type == 'G' || (!type && f->prec >= 0)) {
			snprintf(digits, sizeof digits, f->alt ? "%#.*g" : "%.*g", (int)(prec ? prec : 1), ax);
			if (!type && !strpbrk(digits, ".e")) /* format(1.0, '.3') == '1.0' */
				strcat(digits, ".0");
			if (type == 'G')
				for (char *p = digits; *p; p++)
					if (*p == 'e')
						*p = 'E';
		} else if (!type || type == 'n') {
			tm_buf t;
			tm_buf_init(&t, &c->a, NULL);
			tm_float_repr(&t, ax);
			if (!t.ok)
				return tm_fail_mem(c);
			snprintf(digits, sizeof digits, "%.*s", (int)SH_MIN(t.n, 400), t.p);
		} else {
			return tm_fail(c, "Unknown format code '%c' for object of type 'float'", type);
		}
	} else {
		int64_t x = v.t == V_INT ? v.i : v.b;
		uint64_t ux = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
		neg = x < 0;
		if (f->prec >= 0)
			return tm_fail(c, "Precision not allowed in integer format specifier");
		switch (type) {
		case 0: case 'd': case 'n': snprintf(digits, sizeof digits, "%llu", (unsigned long long)ux); break;
		case 'x': snprintf(digits, sizeof digits, "%llx", (unsigned long long)ux), prefix = f->alt ? "0x" : ""; break;
		case 'X': snprintf(digits, sizeof digits, "%llX", (unsigned long long)ux), prefix = f->alt ? "0X" : ""; break;
		case 'o': snprintf(digits, sizeof digits, "%llo", (unsigned long long)ux), prefix = f->alt ? "0o" : ""; break;
		case 'b': {
			int k = 0;
			char tmp[70];
			do
				tmp[k++] = (char)('0' + (ux & 1));
			while (ux >>= 1);
			for (int i = 0; i < k; i++)
				digits[i] = tmp[k - 1 - i];
			digits[k] = '\0';
			prefix = f->alt ? "0b" : "";
			break;
		}
		case 'c': {
			if (x < 0 || x > 0x10FFFF)
				return tm_fail(c, "%%c arg not in range(0x110000)");
			char e[5] = { 0 };
			e[tm_utf8_encode((uint32_t)x, e)] = '\0';
			fspec g = *f;
			g.sign = 0;
			return pad_out(c, b, &g, (tm_str){ e, strlen(e) }, 0, '<');
		}
		default:
			return tm_fail(c, "Unknown format code '%c' for object of type '%s'", type, tm_type_name(v));
		}
	}
	if (f->group)
		group_digits(digits, sizeof digits, f->group);
	const char *sign = neg ? "-" : f->sign == '+' ? "+" : f->sign == ' ' ? " " : "";
	int k = snprintf(body, sizeof body, "%s%s%s", sign, prefix, digits);
	if (k < 0 || (size_t)k >= sizeof body)
		return tm_fail(c, "number too large to format");
	return pad_out(c, b, f, (tm_str){ body, (size_t)k }, strlen(sign) + strlen(prefix), '>');
}

/* Python's format(v, spec) */
static bool format_value(tm_ctx *c, tm_buf *b, val v, tm_str spec)
{
	fspec f;
	if (!spec.n) {
		tm_str s = { "", 0 };
		if (!tm_str_of(c, v, &s))
			return false;
		return tm_buf_add(b, s.p, s.n);
	}
	if (!parse_spec(c, spec, &f))
		return false;
	if (v.t == V_INT || v.t == V_FLOAT || v.t == V_BOOL)
		return format_number(c, b, v, &f);
	if (v.t != V_STR)
		return tm_fail(c, "unsupported format string passed to %s.__format__", tm_type_name(v));
	if (f.type && f.type != 's')
		return tm_fail(c, "Unknown format code '%c' for object of type 'str'", f.type);
	if (f.sign)
		return tm_fail(c, "Sign not allowed in string format specifier");
	if (f.align == '=')
		return tm_fail(c, "'=' alignment not allowed in string format specifier");
	tm_str s = v.s;
	if (f.prec >= 0 && (size_t)f.prec < s.n) {
		size_t i = 0;
		uint32_t cp = 0;
		for (int64_t k = 0; k < f.prec && i < s.n; k++)
			i += tm_utf8_decode(s.p + i, s.n - i, &cp);
		s.n = i;
	}
	return pad_out(c, b, &f, s, 0, '<');
}

/* printf-style: fmt % args */
bool tm_str_format(tm_ctx *c, tm_str fmt, val args, val *out)
{
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	const tm_list *tup = args.t == V_LIST && args.l->kind == L_TUPLE ? args.l : NULL;
	size_t next = 0;
	bool used_single = false;
	for (size_t i = 0; i < fmt.n;) {
		const char *pc = memchr(fmt.p + i, '%', fmt.n - i);
		size_t j = pc ? (size_t)(pc - fmt.p) : fmt.n;
		tm_buf_add(&b, fmt.p + i, j - i);
		if (j >= fmt.n)
			break;
		i = j + 1;
		val arg = { 0 };
		bool have = false;
		if (i < fmt.n && fmt.p[i] == '(') {
			size_t e = i + 1, depth = 1;
			while (e < fmt.n && depth)
				depth += fmt.p[e] == '(' ? 1 : fmt.p[e] == ')' ? -1 : 0, e++;
			if (depth)
				return tm_fail(c, "incomplete format key");
			if (args.t != V_DICT)
				return tm_fail(c, "format requires a mapping");
			long k = tm_dict_find_str(args.d, (tm_str){ fmt.p + i + 1, e - i - 2 });
			if (k < 0)
				return tm_fail(c, "KeyError: '%.*s'", (int)SH_MIN(e - i - 2, 60), fmt.p + i + 1);
			arg = args.d->v[k];
			have = true;
			i = e;
		}
		fspec f = { .fill = ' ', .width = -1, .prec = -1 };
		bool left = false;
		for (; i < fmt.n && strchr("-+ #0", fmt.p[i]); i++) {
			char fl = fmt.p[i];
			if (fl == '-')
				left = true;
			else if (fl == '+')
				f.sign = '+';
			else if (fl == ' ' && f.sign != '+')
				f.sign = ' ';
			else if (fl == '#')
				f.alt = true;
			else if (fl == '0')
				f.zero = true;
		}
		for (int part = 0; part < 2; part++) {
			int64_t *dst = part ? &f.prec : &f.width;
			if (part) {
				if (i >= fmt.n || fmt.p[i] != '.')
					break;
				i++;
				*dst = 0;
			}
			if (i < fmt.n && fmt.p[i] == '*') {
				i++;
				if (!tup || next >= tup->n)
					return tm_fail(c, "not enough arguments for format string");
				if (!want_int(c, "* wants int", tup->v[next++], dst))
					return false;
				if (!part && *dst < 0)
					left = true, *dst = -*dst;
			} else {
				while (i < fmt.n && fmt.p[i] >= '0' && fmt.p[i] <= '9' && *dst < 100000000)
					*dst = (*dst < 0 ? 0 : *dst) * 10 + (fmt.p[i++] - '0');
			}
		}
		while (i < fmt.n && strchr("hlL", fmt.p[i]))
			i++;
		if (i >= fmt.n)
			return tm_fail(c, "incomplete format");
		char type = fmt.p[i++];
		if (type == '%') {
			tm_buf_addc(&b, '%');
			continue;
		}
		if (!have) {
			if (tup) {
				if (next >= tup->n)
					return tm_fail(c, "not enough arguments for format string");
				arg = tup->v[next++];
			} else {
				if (used_single)
					return tm_fail(c, "not enough arguments for format string");
				arg = args;
				used_single = true;
			}
		}
		if (left)
			f.align = '<';
		else if (f.zero && strchr("diouxXeEfFgG", type))
			f.align = '=', f.fill = '0';
		else
			f.align = '>';
		if (type == 's' || type == 'r' || type == 'a') {
			tm_buf t;
			tm_buf_init(&t, &c->a, NULL);
			if (type == 's') {
				tm_str s = { "", 0 };
				if (!tm_str_of(c, arg, &s))
					return false;
				tm_buf_add(&t, s.p, s.n);
			} else if (!tm_repr(&t, arg, 0)) {
				return t.ok ? tm_fail(c, "a value nested too deeply to print") : tm_fail_mem(c);
			}
			if (!t.ok)
				return tm_fail_mem(c);
			fspec g = f;
			g.sign = 0;
			tm_str s = tm_buf_str(&t);
			if (f.prec >= 0 && (size_t)f.prec < s.n) {
				size_t p = 0;
				uint32_t cp = 0;
				for (int64_t k = 0; k < f.prec && p < s.n; k++)
					p += tm_utf8_decode(s.p + p, s.n - p, &cp);
				s.n = p;
			}
			if (!pad_out(c, &b, &g, s, 0, '<'))
				return b.ok ? false : tm_fail_mem(c);
			continue;
		}
		if (!strchr("diouxXeEfFgGc", type))
			return tm_fail(c, "unsupported format character '%c' (0x%x)", type, (unsigned char)type);
		if (type == 'c') {
			if (arg.t == V_STR && tm_utf8_len(arg.s) == 1) {
				fspec g = f;
				g.sign = 0;
				pad_out(c, &b, &g, arg.s, 0, '<');
				continue;
			}
			if (arg.t != V_INT && arg.t != V_BOOL)
				return tm_fail(c, "%%c requires int or char");
		} else if (!(arg.t == V_INT || arg.t == V_BOOL || arg.t == V_FLOAT)) {
			if (arg.t == V_UNDEF)
				return tm_fail_undef(c, arg);
			return tm_fail(c, "%%%c format: a real number is required, not %s", type, tm_type_name(arg));
		}
		if (strchr("diu", type)) {
			if (arg.t == V_FLOAT) {
				if (!isfinite(arg.f) || fabs(arg.f) >= 9.2e18)
					return tm_fail(c, "cannot convert float to integer");
				arg = v_int((int64_t)arg.f);
			}
			type = 'd';
		} else if (strchr("oxX", type) && arg.t == V_FLOAT) {
			return tm_fail(c, "%%%c format: an integer is required, not float", type);
		}
		f.type = type;
		if (!format_number(c, &b, arg, &f))
			return b.ok ? false : tm_fail_mem(c);
	}
	if (tup && next < tup->n)
		return tm_fail(c, "not all arguments converted during string formatting");
	if (!tup && args.t != V_DICT && !used_single && !(args.t == V_LIST && args.l->kind == L_TUPLE))
		return tm_fail(c, "not all arguments converted during string formatting");
	return done_buf(c, &b, out);
}

/* str.format(*args, **kwargs): {} {0} {name} {0.attr} {0[key]}, !r/!s/!a, :spec */
static bool str_dot_format(tm_ctx *c, tm_str fmt, const tm_args *a, val *out)
{
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	int auto_idx = 0;
	for (size_t i = 0; i < fmt.n;) {
		char ch = fmt.p[i];
		if (ch == '}') {
			if (i + 1 < fmt.n && fmt.p[i + 1] == '}') {
				tm_buf_addc(&b, '}');
				i += 2;
				continue;
			}
			return tm_fail(c, "Single '}' encountered in format string");
		}
		if (ch != '{') {
			tm_buf_addc(&b, ch);
			i++;
			continue;
		}
		if (i + 1 < fmt.n && fmt.p[i + 1] == '{') {
			tm_buf_addc(&b, '{');
			i += 2;
			continue;
		}
		size_t e = i + 1;
		int depth = 1;
		while (e < fmt.n && depth) {
			if (fmt.p[e] == '{')
				depth++;
			else if (fmt.p[e] == '}')
				depth--;
			if (depth)
				e++;
		}
		if (e >= fmt.n)
			return tm_fail(c, "expected '}' before end of string");
		tm_str field = { fmt.p + i + 1, e - i - 1 }, spec = { "", 0 };
		char conv = 0;
		const char *colon = memchr(field.p, ':', field.n);
		if (colon) {
			spec = (tm_str){ colon + 1, field.n - (size_t)(colon + 1 - field.p) };
			field.n = (size_t)(colon - field.p);
		}
		const char *bang = memchr(field.p, '!', field.n);
		if (bang) {
			if ((size_t)(bang - field.p) + 2 != field.n)
				return tm_fail(c, "expected ':' after conversion specifier");
			conv = bang[1];
			field.n = (size_t)(bang - field.p);
		}
		/* the argument name, then .attr / [key] parts */
		size_t k = 0;
		while (k < field.n && field.p[k] != '.' && field.p[k] != '[')
			k++;
		tm_str first = { field.p, k };
		val v = { 0 };
		if (!first.n) {
			if (auto_idx < 0)
				return tm_fail(c, "cannot switch from manual field specification to automatic field numbering");
			if (auto_idx >= a->n)
				return tm_fail(c, "Replacement index %d out of range for positional args tuple", auto_idx);
			v = a->v[auto_idx++];
		} else if (first.p[0] >= '0' && first.p[0] <= '9') {
			int64_t idx = 0;
			for (size_t q = 0; q < first.n && idx < 1000000; q++)
				idx = idx * 10 + (first.p[q] - '0');
			if (auto_idx > 0)
				return tm_fail(c, "cannot switch from automatic field numbering to manual field specification");
			auto_idx = -1;
			if (idx >= a->n)
				return tm_fail(c, "Replacement index %lld out of range for positional args tuple", (long long)idx);
			v = a->v[idx];
		} else {
			int q = 0;
			while (q < a->nkw && !tm_str_eqs(a->kwn[q], first))
				q++;
			if (q == a->nkw)
				return tm_fail(c, "KeyError: '%.*s'", (int)SH_MIN(first.n, 60), first.p);
			v = a->kwv[q];
		}
		while (k < field.n) {
			if (field.p[k] == '.') {
				size_t s = ++k;
				while (k < field.n && field.p[k] != '.' && field.p[k] != '[')
					k++;
				if (!tm_getattr(c, v, (tm_str){ field.p + s, k - s }, &v))
					return false;
			} else {
				size_t s = ++k;
				while (k < field.n && field.p[k] != ']')
					k++;
				if (k >= field.n)
					return tm_fail(c, "Missing ']' in format string");
				tm_str key = { field.p + s, k - s };
				k++;
				bool digits = key.n > 0;
				int64_t idx = 0;
				for (size_t q = 0; q < key.n; q++) {
					digits &= key.p[q] >= '0' && key.p[q] <= '9';
					if (digits && idx < 1000000000)
						idx = idx * 10 + (key.p[q] - '0');
				}
				if (!tm_getitem(c, v, digits ? v_int(idx) : v_strs(key), &v))
					return false;
			}
		}
		if (conv == 'r' || conv == 'a') {
			tm_buf t;
			tm_buf_init(&t, &c->a, NULL);
			if (!tm_repr(&t, v, 0))
				return t.ok ? tm_fail(c, "a value nested too deeply to print") : tm_fail_mem(c);
			v = v_strs(tm_buf_str(&t));
		} else if (conv == 's') {
			tm_str s = { "", 0 };
			if (!tm_str_of(c, v, &s))
				return false;
			v = v_strs(s);
		} else if (conv) {
			return tm_fail(c, "Unknown conversion specifier %c", conv);
		}
		if (memchr(spec.p, '{', spec.n)) {
			/* a nested field in the spec: format it first */
			val inner = { 0 };
			if (!str_dot_format(c, spec, a, &inner))
				return false;
			spec = inner.s;
		}
		if (v.t == V_UNDEF && v.ukind != U_HINT && spec.n)
			return tm_fail_undef(c, v);
		if (!format_value(c, &b, v, spec))
			return b.ok ? false : tm_fail_mem(c);
		i = e + 1;
	}
	return done_buf(c, &b, out);
}

/* ---------------------------------------------------------------- attribute paths */
/* jinja2's make_attrgetter: "a.b.0" looked up part by part with getitem; digits are ints */
static bool attr_path(tm_ctx *c, val item, val attr, val def, val *out)
{
	if (attr.t != V_STR) {
		if (!tm_given(attr) || attr.t == V_NONE) {
			*out = item;
			return true;
		}
		if (!tm_getitem(c, item, attr, out))
			return false;
	} else {
		tm_str s = attr.s;
		size_t i = 0;
		do {
			size_t j = i;
			while (j < s.n && s.p[j] != '.')
				j++;
			tm_str part = { s.p + i, j - i };
			bool digits = part.n > 0;
			int64_t idx = 0;
			for (size_t k = 0; k < part.n; k++) {
				digits &= part.p[k] >= '0' && part.p[k] <= '9';
				if (digits && idx < 1000000000)
					idx = idx * 10 + (part.p[k] - '0');
			}
			if (!tm_getitem(c, item, digits ? v_int(idx) : v_strs(part), &item))
				return false;
			if (tm_given(def) && def.t != V_NONE && item.t == V_UNDEF)
				item = def;
			i = j + 1;
		} while (i <= s.n);
		*out = item;
		return true;
	}
	if (tm_given(def) && def.t != V_NONE && out->t == V_UNDEF)
		*out = def;
	return true;
}

static val fold_case(val v, bool case_sensitive, tm_ctx *c)
{
	if (case_sensitive || v.t != V_STR)
		return v;
	val out = { 0 };
	return str_case(c, v.s, 0, &out) ? out : v;
}

/* ---------------------------------------------------------------- sorting */
typedef struct { val key; size_t idx; } sort_item;

static int sort_cmp(tm_ctx *c, val a, val b, bool *err)
{
	bool e = false;
	int r = tm_cmp(a, b, &e);
	if (e && !*err) {
		*err = true;
		tm_fail(c, "'<' not supported between instances of '%s' and '%s'", tm_type_name(a), tm_type_name(b));
	}
	return r == 2 ? 0 : r;
}

/* a stable merge sort (Python's sorted is stable, also with reverse=True) */
static void merge_sort(tm_ctx *c, sort_item *v, sort_item *tmp, size_t n, bool rev, bool *err)
{
	if (n < 2 || *err)
		return;
	size_t h = n / 2;
	merge_sort(c, v, tmp, h, rev, err);
	merge_sort(c, v + h, tmp, n - h, rev, err);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n) {
		int r = sort_cmp(c, v[j].key, v[i].key, err);
		if (rev ? r > 0 : r < 0)
			tmp[k++] = v[j++];
		else
			tmp[k++] = v[i++];
	}
	while (i < h)
		tmp[k++] = v[i++];
	while (j < n)
		tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof *v);
}

/* sorts items by keys[i] into a new list */
static bool sort_by(tm_ctx *c, const tm_list *items, const val *keys, bool rev, val *out)
{
	size_t n = items->n;
	sort_item *v = tm_alloc(&c->a, (n + 1) * sizeof *v), *tmp = tm_alloc(&c->a, (n + 1) * sizeof *tmp);
	tm_list *l = new_list(c, n, L_LIST);
	if (!v || !tmp || !l)
		return l ? tm_fail_mem(c) : false;
	for (size_t i = 0; i < n; i++)
		v[i] = (sort_item){ keys[i], i };
	bool err = false;
	merge_sort(c, v, tmp, n, rev, &err);
	if (err)
		return false;
	for (size_t i = 0; i < n; i++)
		l->v[i] = items->v[v[i].idx];
	*out = v_list(l);
	return true;
}

/* ---------------------------------------------------------------- filters */
typedef bool (*filter_fn)(tm_ctx *c, val in, const tm_args *a, val *out);
#define FILTER(name) static bool f_##name(tm_ctx *c, val in, const tm_args *a, val *out)
#define BIND(...)                                                                                     \
	static const char *const names[] = { __VA_ARGS__ };                                           \
	val p[SH_ARRAY_LEN(names)];                                                                    \
	if (!tm_bind(c, fname, names, (int)SH_ARRAY_LEN(names), a, p))                                \
		return false
#define NOARGS()                                                                                       \
	if (!tm_bind(c, fname, NULL, 0, a, NULL))                                                      \
		return false

FILTER(abs)
{
	const char *fname = "do_abs";
	NOARGS();
	if (in.t == V_FLOAT) {
		*out = v_float(fabs(in.f));
		return true;
	}
	if (in.t == V_INT || in.t == V_BOOL) {
		int64_t x = in.t == V_INT ? in.i : in.b;
		if (x == INT64_MIN)
			return tm_fail(c, "integer overflow (the result does not fit in 64 bits)");
		*out = v_int(x < 0 ? -x : x);
		return true;
	}
	if (in.t == V_UNDEF)
		return tm_fail_undef(c, in);
	return tm_fail(c, "bad operand type for abs(): '%s'", tm_type_name(in));
}

FILTER(attr)
{
	const char *fname = "do_attr";
	BIND("name");
	tm_str name = { "", 0 };
	if (!tm_given(p[0]))
		return tm_fail(c, "do_attr() missing 1 required positional argument: 'name'");
	if (!tm_str_of(c, p[0], &name))
		return false;
	if (in.t == V_UNDEF)
		return tm_fail_undef(c, in);
	if (in.t == V_DICT) { /* attributes only: a dict's methods, never its keys */
		if (tm_method_find(in, name) < 0) {
			*out = (val){ .t = V_UNDEF, .ukind = U_ATTR, .uobj = V_DICT, .s = name };
			return true;
		}
	}
	return tm_getattr(c, in, name, out);
}

FILTER(batch)
{
	const char *fname = "do_batch";
	BIND("linecount", "fill_with");
	int64_t count = 0;
	tm_list *items;
	if (!want_int(c, "batch", p[0], &count) || !tm_iterate(c, in, &items))
		return false;
	size_t nb = count > 0 ? (items->n + (size_t)count - 1) / (size_t)count : 2;
	tm_list *l = new_list(c, nb, L_GEN);
	if (!l)
		return false;
	l->n = 0;
	if (count <= 0) { /* jinja2's loop: one empty batch first when 0, then everything in one */
		if (items->n) {
			tm_list *all = new_list(c, items->n, L_LIST), *empty = new_list(c, 0, L_LIST);
			if (!all || !empty)
				return false;
			memcpy(all->v, items->v, items->n * sizeof(val));
			if (count == 0)
				l->v[l->n++] = v_list(empty);
			l->v[l->n++] = v_list(all);
		}
		*out = v_list(l);
		return true;
	}
	for (size_t i = 0; i < items->n; i += (size_t)count) {
		if (!tm_step(c))
			return false;
		size_t k = SH_MIN((size_t)count, items->n - i);
		bool fill = k < (size_t)count && tm_given(p[1]) && p[1].t != V_NONE;
		tm_list *b = new_list(c, fill ? (size_t)count : k, L_LIST);
		if (!b)
			return false;
		memcpy(b->v, items->v + i, k * sizeof(val));
		for (size_t j = k; j < b->n; j++)
			b->v[j] = p[1];
		l->v[l->n++] = v_list(b);
	}
	*out = v_list(l);
	return true;
}

FILTER(capitalize)
{
	const char *fname = "do_capitalize";
	NOARGS();
	tm_str s = { "", 0 };
	return tm_str_of(c, in, &s) && str_case(c, s, 2, out);
}

FILTER(center)
{
	const char *fname = "do_center";
	BIND("width");
	int64_t w = 80;
	tm_str s = { "", 0 };
	if ((tm_given(p[0]) && !want_int(c, "center", p[0], &w)) || !tm_str_of(c, in, &s))
		return false;
	return str_pad(c, s, w, ' ', '^', out);
}

FILTER(default)
{
	const char *fname = "do_default";
	BIND("default_value", "boolean");
	if (in.t == V_UNDEF || (opt_bool(p[1], false) && !tm_truthy(in)))
		*out = tm_given(p[0]) ? p[0] : v_str("", 0);
	else
		*out = in;
	return true;
}

/* a list of (key, value) tuples of a dict */
static bool dict_items(tm_ctx *c, const tm_dict *d, int kind, val *out)
{
	tm_list *l = new_list(c, d->n, kind);
	if (!l)
		return false;
	for (size_t i = 0; i < d->n; i++)
		if (!tuple2(c, d->k[i], d->v[i], &l->v[i]))
			return false;
	*out = v_list(l);
	return true;
}

FILTER(dictsort)
{
	const char *fname = "do_dictsort";
	BIND("case_sensitive", "by", "reverse");
	int pos = 0;
	if (tm_given(p[1])) {
		tm_str by = { "", 0 };
		if (!tm_str_of(c, p[1], &by))
			return false;
		if (tm_str_eq(by, "value"))
			pos = 1;
		else if (!tm_str_eq(by, "key"))
			return tm_fail(c, "You can only sort by either \"key\" or \"value\"");
	}
	if (in.t == V_UNDEF)
		return tm_fail_undef(c, in);
	if (in.t != V_DICT)
		return tm_fail(c, "'%s' object has no attribute 'items'", tm_type_name(in));
	val items = { 0 };
	if (!dict_items(c, in.d, L_LIST, &items))
		return false;
	val *keys = tm_alloc(&c->a, (in.d->n + 1) * sizeof(val));
	if (!keys)
		return tm_fail_mem(c);
	for (size_t i = 0; i < in.d->n; i++)
		keys[i] = fold_case(pos ? in.d->v[i] : in.d->k[i], opt_bool(p[0], false), c);
	return sort_by(c, items.l, keys, opt_bool(p[2], false), out);
}

static bool html_escape(tm_ctx *c, tm_str s, val *out)
{
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	for (size_t i = 0; i < s.n; i++) {
		switch (s.p[i]) {
		case '&': tm_buf_adds(&b, "&amp;"); break;
		case '<': tm_buf_adds(&b, "&lt;"); break;
		case '>': tm_buf_adds(&b, "&gt;"); break;
		case '"': tm_buf_adds(&b, "&#34;"); break;
		case '\'': tm_buf_adds(&b, "&#39;"); break;
		default: tm_buf_addc(&b, s.p[i]); break;
		}
	}
	return done_buf(c, &b, out);
}

FILTER(escape)
{
	const char *fname = "escape";
	NOARGS();
	tm_str s = { "", 0 };
	return tm_str_of(c, in, &s) && html_escape(c, s, out);
}

/* next(iter(x)) for |first; iterators give up their first item */
FILTER(first)
{
	const char *fname = "do_first";
	NOARGS();
	if (in.t == V_LIST && TM_L_ITER(in.l->kind)) {
		if (in.l->pos < in.l->n) {
			*out = in.l->v[in.l->pos++];
			return true;
		}
	} else if (in.t == V_STR && in.s.n) {
		uint32_t cp = 0;
		*out = v_str(in.s.p, tm_utf8_decode(in.s.p, in.s.n, &cp));
		return true;
	} else {
		tm_list *l;
		if (!tm_iterate(c, in, &l))
			return false;
		if (l->n) {
			*out = l->v[0];
			return true;
		}
	}
	*out = v_hint("No first item, sequence was empty.");
	return true;
}

/* Python's float(str): surrounding whitespace, underscores between digits, inf/nan */
static bool parse_float(tm_str s, double *out)
{
	char buf[128];
	size_t a = 0, b = s.n, k = 0;
	while (a < b && tm_space_at(s.p + a, b - a))
		a += tm_space_at(s.p + a, b - a);
	b = a + tm_rstrip_len(s.p + a, b - a);
	if (a == b || b - a >= sizeof buf)
		return false;
	for (size_t i = a; i < b; i++) {
		char ch = s.p[i];
		if (ch == '_') {
			if (i == a || i + 1 == b || !(s.p[i - 1] >= '0' && s.p[i - 1] <= '9') || !(s.p[i + 1] >= '0' && s.p[i + 1] <= '9'))
				return false;
			continue;
		}
		if (!strchr("0123456789+-.eEinfatyINFATY", ch))
			return false;
		buf[k++] = ch;
	}
	buf[k] = '\0';
	const char *t = buf + (buf[0] == '+' || buf[0] == '-');
	if (!strcasecmp(t, "inf") || !strcasecmp(t, "infinity") || !strcasecmp(t, "nan")) {
		double v = tolower((unsigned char)t[0]) == 'n' ? NAN : INFINITY;
		*out = buf[0] == '-' ? -v : v;
		return true;
	}
	for (const char *q = t; *q; q++)
		if (!strchr("0123456789.eE+-", *q))
			return false;
	char *end;
	*out = strtod(buf, &end);
	return *end == '\0' && end != buf;
}

FILTER(float)
{
	const char *fname = "do_float";
	BIND("default");
	val def = tm_given(p[0]) ? p[0] : v_float(0.0);
	double f = 0;
	switch (in.t) {
	case V_FLOAT: *out = in; return true;
	case V_INT: *out = v_float((double)in.i); return true;
	case V_BOOL: *out = v_float(in.b); return true;
	case V_STR: *out = parse_float(in.s, &f) ? v_float(f) : def; return true;
	case V_UNDEF: return tm_fail_undef(c, in);
	default: *out = def; return true;
	}
}

FILTER(format)
{
	tm_str s = { "", 0 };
	if (!tm_str_of(c, in, &s))
		return false;
	if (a->nkw && a->n)
		return tm_fail(c, "can't handle positional and keyword arguments at the same time");
	if (a->nkw) {
		tm_dict *d = tm_dict_new(&c->a, (size_t)a->nkw);
		if (!d)
			return tm_fail_mem(c);
		for (int i = 0; i < a->nkw; i++)
			if (!tm_dict_set(&c->a, d, v_strs(a->kwn[i]), a->kwv[i]))
				return tm_fail_mem(c);
		return tm_str_format(c, s, v_dict(d), out);
	}
	tm_list *t = new_list(c, (size_t)a->n, L_TUPLE);
	if (!t)
		return false;
	for (int i = 0; i < a->n; i++)
		t->v[i] = a->v[i];
	return tm_str_format(c, s, v_list(t), out);
}

FILTER(indent)
{
	const char *fname = "do_indent";
	BIND("width", "first", "blank");
	tm_str s = { "", 0 }, ind = { "", 0 };
	char *spaces = NULL;
	if (!tm_str_of(c, in, &s))
		return false;
	if (tm_given(p[0]) && p[0].t == V_STR) {
		ind = p[0].s;
	} else {
		int64_t w = 4;
		if (tm_given(p[0]) && !want_int(c, "indent", p[0], &w))
			return false;
		if (w < 0)
			w = 0;
		if (!size_ok(c, w))
			return false;
		if (!(spaces = tm_alloc(&c->a, (size_t)w + 1)))
			return tm_fail_mem(c);
		memset(spaces, ' ', (size_t)w);
		ind = (tm_str){ spaces, (size_t)w };
	}
	/* s += "\n"; lines = s.splitlines(); ... */
	tm_buf t;
	tm_buf_init(&t, &c->a, NULL);
	tm_buf_add(&t, s.p, s.n);
	tm_buf_addc(&t, '\n');
	if (!t.ok)
		return tm_fail_mem(c);
	tm_list *lines;
	if (!str_splitlines(c, tm_buf_str(&t), false, &lines))
		return false;
	/* blank: "\n<ind>".join(lines); else lines[0] + "\n" + "\n".join(ind + l if l else l for the rest);
	 * first: ind + all of that */
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	bool blank = opt_bool(p[2], false);
	if (opt_bool(p[1], false))
		tm_buf_add(&b, ind.p, ind.n);
	for (size_t i = 0; i < lines->n; i++) {
		tm_str line = lines->v[i].s;
		if (i) {
			tm_buf_addc(&b, '\n');
			if (blank || line.n)
				tm_buf_add(&b, ind.p, ind.n);
		}
		tm_buf_add(&b, line.p, line.n);
	}
	return done_buf(c, &b, out);
}

/* Python's int(str, base) */
static bool parse_int(tm_str s, int base, int64_t *out)
{
	char buf[128];
	size_t a = 0, b = s.n, k = 0;
	while (a < b && tm_space_at(s.p + a, b - a))
		a += tm_space_at(s.p + a, b - a);
	b = a + tm_rstrip_len(s.p + a, b - a);
	if (a == b || b - a >= sizeof buf)
		return false;
	bool neg = false;
	if (s.p[a] == '+' || s.p[a] == '-')
		neg = s.p[a++] == '-';
	if (base == 0 || base == 16 || base == 8 || base == 2) {
		char p2 = b - a > 2 && s.p[a] == '0' ? (char)(s.p[a + 1] | 0x20) : 0;
		int pb = p2 == 'x' ? 16 : p2 == 'o' ? 8 : p2 == 'b' ? 2 : 0;
		if (pb && (base == 0 || base == pb)) {
			base = pb;
			a += 2;
			if (a < b && s.p[a] == '_')
				a++;
		} else if (base == 0) {
			base = 10;
		}
	}
	for (size_t i = a; i < b; i++) {
		if (s.p[i] == '_' && i > a && i + 1 < b && s.p[i - 1] != '_')
			continue;
		int d = s.p[i] >= '0' && s.p[i] <= '9' ? s.p[i] - '0' : (s.p[i] | 0x20) >= 'a' && (s.p[i] | 0x20) <= 'z' ? (s.p[i] | 0x20) - 'a' + 10 : 99;
		if (d >= base)
			return false;
		buf[k++] = s.p[i];
	}
	if (!k)
		return false;
	buf[k] = '\0';
	errno = 0;
	unsigned long long v = strtoull(buf, NULL, base);
	if (errno || v > (unsigned long long)INT64_MAX + neg)
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

FILTER(int)
{
	const char *fname = "do_int";
	BIND("default", "base");
	val def = tm_given(p[0]) ? p[0] : v_int(0);
	int64_t base = 10, i;
	double f = 0;
	if (tm_given(p[1]) && !want_int(c, "int", p[1], &base))
		return false;
	switch (in.t) {
	case V_INT: *out = in; return true;
	case V_BOOL: *out = v_int(in.b); return true;
	case V_FLOAT:
		if (isnan(in.f) || isinf(in.f)) {
			*out = def;
			return true;
		}
		if (fabs(in.f) >= 9.2e18)
			return tm_fail(c, "integer overflow (the result does not fit in 64 bits)");
		*out = v_int((int64_t)in.f);
		return true;
	case V_STR:
		if (parse_int(in.s, (int)base, &i))
			*out = v_int(i);
		else if (parse_float(in.s, &f) && isfinite(f) && fabs(f) < 9.2e18)
			*out = v_int((int64_t)f);
		else
			*out = def;
		return true;
	case V_UNDEF: return tm_fail_undef(c, in);
	default: *out = def; return true;
	}
}

FILTER(items)
{
	const char *fname = "do_items";
	NOARGS();
	if (in.t == V_UNDEF) {
		tm_list *l = new_list(c, 0, L_GEN);
		if (!l)
			return false;
		*out = v_list(l);
		return true;
	}
	if (in.t != V_DICT)
		return tm_fail(c, "Can only get item pairs from a mapping.");
	return dict_items(c, in.d, L_GEN, out);
}

FILTER(join)
{
	const char *fname = "do_join";
	BIND("d", "attribute");
	tm_str sep = TM_S("");
	tm_list *items;
	if ((tm_given(p[0]) && !tm_str_of(c, p[0], &sep)) || !tm_iterate(c, in, &items))
		return false;
	if (tm_given(p[1]) && p[1].t != V_NONE) {
		tm_list *m = new_list(c, items->n, L_LIST);
		if (!m)
			return false;
		for (size_t i = 0; i < items->n; i++) {
			if (!tm_step(c))
				return false;
			if (!attr_path(c, items->v[i], p[1], (val){ .t = V_UNDEF, .ukind = 0xFF }, &m->v[i]))
				return false;
		}
		items = m;
	}
	return join_items(c, sep, items, false, out);
}

FILTER(last)
{
	const char *fname = "do_last";
	NOARGS();
	if (in.t == V_LIST && TM_L_ITER(in.l->kind))
		return tm_fail(c, "'%s' object is not reversible", tm_type_name(in));
	if (in.t == V_STR && in.s.n) {
		size_t i = in.s.n - 1;
		while (i > 0 && in.s.n - i < 4 && ((unsigned char)in.s.p[i] & 0xC0) == 0x80)
			i--;
		uint32_t cp = 0;
		if (tm_utf8_decode(in.s.p + i, in.s.n - i, &cp) != in.s.n - i)
			i = in.s.n - 1;
		*out = v_str(in.s.p + i, in.s.n - i);
		return true;
	}
	tm_list *l;
	if (!tm_iterate(c, in, &l))
		return false;
	if (l->n) {
		*out = l->v[l->n - 1];
		return true;
	}
	*out = v_hint("No last item, sequence was empty.");
	return true;
}

FILTER(length)
{
	const char *fname = "do_length";
	NOARGS();
	int64_t n = 0;
	if (!tm_len(c, in, &n))
		return false;
	*out = v_int(n);
	return true;
}

FILTER(list)
{
	const char *fname = "do_list";
	NOARGS();
	tm_list *l, *copy;
	if (!tm_iterate(c, in, &l) || !(copy = new_list(c, l->n, L_LIST)))
		return false;
	if (l->n)
		memcpy(copy->v, l->v, l->n * sizeof(val));
	*out = v_list(copy);
	return true;
}

FILTER(lower)
{
	const char *fname = "do_lower";
	NOARGS();
	tm_str s = { "", 0 };
	return tm_str_of(c, in, &s) && str_case(c, s, 0, out);
}

FILTER(map)
{
	tm_list *items, *l;
	if (!tm_truthy(in)) {
		l = new_list(c, 0, L_GEN);
		if (!l)
			return false;
		*out = v_list(l);
		return true;
	}
	if (!tm_iterate(c, in, &items) || !(l = new_list(c, items->n, L_GEN)))
		return false;
	if (!a->n) {
		val attr = { .t = V_UNDEF, .ukind = 0xFF }, def = attr;
		for (int i = 0; i < a->nkw; i++) {
			if (tm_str_eq(a->kwn[i], "attribute"))
				attr = a->kwv[i];
			else if (tm_str_eq(a->kwn[i], "default"))
				def = a->kwv[i];
			else
				return tm_fail(c, "Unexpected keyword argument '%.*s'", (int)SH_MIN(a->kwn[i].n, 60), a->kwn[i].p);
		}
		if (!tm_given(attr))
			return tm_fail(c, "map requires a filter argument");
		for (size_t i = 0; i < items->n; i++) {
			if (!tm_step(c))
				return false;
			if (!attr_path(c, items->v[i], attr, def, &l->v[i]))
				return false;
		}
	} else {
		tm_str name = { "", 0 };
		if (!want_str(c, "map filter name", a->v[0], &name))
			return false;
		if (!tm_filter_exists(name))
			return tm_fail(c, "No filter named '%.*s'.", (int)SH_MIN(name.n, 60), name.p);
		tm_args rest = *a;
		rest.n--;
		rest.v++;
		for (size_t i = 0; i < items->n; i++) {
			if (!tm_step(c))
				return false;
			if (!tm_filter(c, name, items->v[i], &rest, &l->v[i]))
				return false;
		}
	}
	*out = v_list(l);
	return true;
}

static bool min_max(tm_ctx *c, val in, const tm_args *a, bool want_max, val *out)
{
	const char *fname = want_max ? "do_max" : "do_min";
	BIND("case_sensitive", "attribute");
	tm_list *items;
	if (!tm_iterate(c, in, &items))
		return false;
	if (!items->n) {
		*out = v_hint("No aggregated item, sequence was empty.");
		return true;
	}
	bool cs = opt_bool(p[0], false);
	size_t best = 0;
	val bk = { 0 };
	for (size_t i = 0; i < items->n; i++) {
		if (!tm_step(c))
			return false;
		val k = { 0 };
		if (!attr_path(c, items->v[i], p[1], (val){ .t = V_UNDEF, .ukind = 0xFF }, &k))
			return false;
		k = fold_case(k, cs, c);
		if (i) {
			bool err = false;
			int r = sort_cmp(c, k, bk, &err);
			if (err)
				return false;
			if (want_max ? r > 0 : r < 0)
				best = i, bk = k;
		} else {
			bk = k;
		}
	}
	*out = items->v[best];
	return true;
}

FILTER(max) { return min_max(c, in, a, true, out); }
FILTER(min) { return min_max(c, in, a, false, out); }

/* select / reject / selectattr / rejectattr */
static bool select_reject(tm_ctx *c, val in, const tm_args *a, bool keep_if, bool by_attr, val *out)
{
	tm_list *items, *l;
	if (!tm_truthy(in)) {
		l = new_list(c, 0, L_GEN);
		if (!l)
			return false;
		*out = v_list(l);
		return true;
	}
	int off = 0;
	val attr = { .t = V_UNDEF, .ukind = 0xFF };
	if (by_attr) {
		if (!a->n)
			return tm_fail(c, "Missing parameter for attribute name");
		attr = a->v[0];
		off = 1;
	}
	tm_str test = { NULL, 0 };
	tm_args rest = { 0 };
	if (a->n > off) {
		if (!want_str(c, "test name", a->v[off], &test))
			return false;
		if (!tm_test_exists(test))
			return tm_fail(c, "No test named '%.*s'.", (int)SH_MIN(test.n, 60), test.p);
		rest = *a;
		rest.n -= off + 1;
		rest.v += off + 1;
	}
	if (!tm_iterate(c, in, &items) || !(l = new_list(c, items->n, L_GEN)))
		return false;
	l->n = 0;
	for (size_t i = 0; i < items->n; i++) {
		if (!tm_step(c))
			return false;
		val x = items->v[i];
		bool r = false;
		if (by_attr && !attr_path(c, x, attr, (val){ .t = V_UNDEF, .ukind = 0xFF }, &x))
			return false;
		if (test.p) {
			if (!tm_test(c, test, x, &rest, &r))
				return false;
		} else {
			r = tm_truthy(x);
		}
		if (r == keep_if)
			l->v[l->n++] = items->v[i];
	}
	*out = v_list(l);
	return true;
}

FILTER(select) { return select_reject(c, in, a, true, false, out); }
FILTER(reject) { return select_reject(c, in, a, false, false, out); }
FILTER(selectattr) { return select_reject(c, in, a, true, true, out); }
FILTER(rejectattr) { return select_reject(c, in, a, false, true, out); }

FILTER(replace)
{
	const char *fname = "do_replace";
	BIND("old", "new", "count");
	tm_str s = { "", 0 }, o = { "", 0 }, n = { "", 0 };
	int64_t count = -1;
	if (!tm_given(p[0]) || !tm_given(p[1]))
		return tm_fail(c, "do_replace() missing a required argument: 'old' and 'new'");
	if (!tm_str_of(c, in, &s) || !tm_str_of(c, p[0], &o) || !tm_str_of(c, p[1], &n))
		return false;
	if (tm_given(p[2]) && p[2].t != V_NONE && !want_int(c, "replace", p[2], &count))
		return false;
	return str_replace(c, s, o, n, count, out);
}

FILTER(reverse)
{
	const char *fname = "do_reverse";
	NOARGS();
	if (in.t == V_STR) {
		uint32_t *cps;
		size_t n, *off;
		if (!code_points(c, in.s, &cps, &off, &n))
			return false;
		tm_buf b;
		tm_buf_init(&b, &c->a, NULL);
		for (size_t i = n; i-- > 0;)
			tm_buf_add(&b, in.s.p + off[i], off[i + 1] - off[i]);
		return done_buf(c, &b, out);
	}
	int kind = L_LIST;
	if (in.t == V_LIST)
		kind = in.l->kind == L_LIST ? L_LISTREV : TM_L_ITER(in.l->kind) || in.l->kind == L_ITEMS || in.l->kind == L_VALUES ? L_LIST
		       : in.l->kind == L_KEYS ? L_DICTREV : L_REV;
	else if (in.t == V_DICT)
		kind = L_DICTREV;
	else if (in.t == V_UNDEF)
		kind = L_REV;
	else
		return tm_fail(c, "argument must be iterable");
	tm_list *items, *l;
	if (!tm_iterate(c, in, &items) || !(l = new_list(c, items->n, kind)))
		return false;
	for (size_t i = 0; i < items->n; i++)
		l->v[i] = items->v[items->n - 1 - i];
	*out = v_list(l);
	return true;
}

/* round half to even at `digits` decimals, as Python's round() (correctly rounded) */
static double py_round(double x, int64_t digits)
{
	if (!isfinite(x))
		return x;
	if (digits > 300)
		return x;
	if (digits < -300)
		return copysign(0.0, x);
	if (digits == 0)
		return nearbyint(x);
	char buf[400];
	if (digits > 0) {
		snprintf(buf, sizeof buf, "%.*f", (int)digits, x);
		return strtod(buf, NULL);
	}
	double p = pow(10.0, (double)-digits);
	double y = x / p, r = nearbyint(y);
	if (fabs(y - trunc(y)) == 0.5)
		r = 2.0 * nearbyint(y / 2.0);
	return r * p;
}

FILTER(round)
{
	const char *fname = "do_round";
	BIND("precision", "method");
	int64_t prec = 0;
	tm_str method = TM_S("common");
	if ((tm_given(p[0]) && !want_int(c, "round", p[0], &prec)) || (tm_given(p[1]) && !tm_str_of(c, p[1], &method)))
		return false;
	if (!tm_str_eq(method, "common") && !tm_str_eq(method, "ceil") && !tm_str_eq(method, "floor"))
		return tm_fail(c, "method must be common, ceil or floor");
	if (in.t == V_UNDEF)
		return tm_fail_undef(c, in);
	if (in.t != V_INT && in.t != V_FLOAT && in.t != V_BOOL)
		return tm_fail(c, "type %s doesn't define __round__ method", tm_type_name(in));
	if (tm_str_eq(method, "common")) {
		if (in.t != V_FLOAT) { /* round(int, n) stays an int */
			*out = v_int(in.t == V_INT ? in.i : in.b);
			return true;
		}
		*out = v_float(py_round(in.f, prec));
		return true;
	}
	double x = in.t == V_FLOAT ? in.f : (double)(in.t == V_INT ? in.i : in.b), scale = pow(10.0, (double)prec);
	double r = tm_str_eq(method, "ceil") ? ceil(x * scale) : floor(x * scale);
	*out = v_float(r / scale);
	return true;
}

FILTER(safe)
{
	const char *fname = "do_mark_safe";
	NOARGS();
	tm_str s = { "", 0 };
	if (!tm_str_of(c, in, &s))
		return false;
	*out = v_strs(s);
	return true;
}

FILTER(slice)
{
	const char *fname = "do_slice";
	BIND("slices", "fill_with");
	int64_t slices = 0;
	tm_list *items;
	if (!want_int(c, "slice", p[0], &slices) || !tm_iterate(c, in, &items))
		return false;
	if (slices == 0)
		return tm_fail(c, "integer division or modulo by zero");
	if (slices < 0) {
		tm_list *l = new_list(c, 0, L_GEN);
		if (!l)
			return false;
		*out = v_list(l);
		return true;
	}
	if (!size_ok(c, slices))
		return false;
	int64_t len = (int64_t)items->n, per = len / slices, extra = len % slices, offset = 0;
	tm_list *l = new_list(c, (size_t)slices, L_GEN);
	if (!l)
		return false;
	bool fill = tm_given(p[1]) && p[1].t != V_NONE;
	for (int64_t k = 0; k < slices; k++) {
		if (!tm_step(c))
			return false;
		int64_t start = offset + k * per;
		if (k < extra)
			offset++;
		int64_t end = offset + (k + 1) * per;
		bool add = fill && k >= extra;
		tm_list *s = new_list(c, (size_t)(end - start) + add, L_LIST);
		if (!s)
			return false;
		if (end > start)
			memcpy(s->v, items->v + start, (size_t)(end - start) * sizeof(val));
		if (add)
			s->v[end - start] = p[1];
		l->v[k] = v_list(s);
	}
	*out = v_list(l);
	return true;
}

/* the keys sort/unique compare: attribute paths ("a,b" gives a tuple of several) */
static bool sort_keys_of(tm_ctx *c, const tm_list *items, val attr, bool cs, val **keys)
{
	val *k = tm_alloc(&c->a, (items->n + 1) * sizeof(val));
	if (!k)
		return tm_fail_mem(c);
	tm_list *parts = NULL;
	if (tm_given(attr) && attr.t == V_STR && memchr(attr.s.p, ',', attr.s.n)) {
		val pl = { 0 };
		if (!str_split(c, attr.s, v_str(",", 1), -1, false, &pl))
			return false;
		parts = pl.l;
	}
	for (size_t i = 0; i < items->n; i++) {
		if (!tm_step(c))
			return false;
		if (parts) {
			tm_list *t = new_list(c, parts->n, L_LIST);
			if (!t)
				return false;
			for (size_t j = 0; j < parts->n; j++) {
				if (!attr_path(c, items->v[i], parts->v[j], (val){ .t = V_UNDEF, .ukind = 0xFF }, &t->v[j]))
					return false;
				t->v[j] = fold_case(t->v[j], cs, c);
			}
			k[i] = v_list(t);
		} else {
			if (!attr_path(c, items->v[i], attr, (val){ .t = V_UNDEF, .ukind = 0xFF }, &k[i]))
				return false;
			k[i] = fold_case(k[i], cs, c);
		}
	}
	*keys = k;
	return true;
}

FILTER(sort)
{
	const char *fname = "do_sort";
	BIND("reverse", "case_sensitive", "attribute");
	tm_list *items;
	val *keys;
	if (!tm_iterate(c, in, &items) || !sort_keys_of(c, items, p[2], opt_bool(p[1], false), &keys))
		return false;
	return sort_by(c, items, keys, opt_bool(p[0], false), out);
}

FILTER(string)
{
	const char *fname = "do_string";
	NOARGS();
	tm_str s = { "", 0 };
	if (!tm_str_of(c, in, &s))
		return false;
	*out = v_strs(s);
	return true;
}

FILTER(striptags)
{
	const char *fname = "do_striptags";
	NOARGS();
	tm_str s = { "", 0 };
	if (!tm_str_of(c, in, &s))
		return false;
	/* markupsafe: drop comments and tags, unescape entities, collapse whitespace */
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	for (size_t i = 0; i < s.n;) {
		if (s.n - i >= 4 && !memcmp(s.p + i, "<!--", 4)) {
			long e = find_bytes(s, TM_S("-->"), i + 4);
			if (e >= 0) {
				i = (size_t)e + 3;
				continue;
			}
		}
		if (s.p[i] == '<') {
			const char *e = memchr(s.p + i, '>', s.n - i);
			if (e) {
				i = (size_t)(e - s.p) + 1;
				tm_buf_addc(&b, ' ');
				continue;
			}
		}
		tm_buf_addc(&b, s.p[i++]);
	}
	if (!b.ok)
		return tm_fail_mem(c);
	static const struct { const char *e; const char *r; } ents[] = {
		{ "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" }, { "&quot;", "\"" }, { "&#34;", "\"" }, { "&#39;", "'" },
		{ "&apos;", "'" }, { "&nbsp;", "\xc2\xa0" },
	};
	tm_buf u;
	tm_buf_init(&u, &c->a, NULL);
	for (size_t i = 0; i < b.n;) {
		size_t k = 0;
		for (; k < SH_ARRAY_LEN(ents); k++) {
			size_t el = strlen(ents[k].e);
			if (b.n - i >= el && !memcmp(b.p + i, ents[k].e, el)) {
				tm_buf_adds(&u, ents[k].r);
				i += el;
				break;
			}
		}
		if (k == SH_ARRAY_LEN(ents))
			tm_buf_addc(&u, b.p[i++]);
	}
	if (!u.ok)
		return tm_fail_mem(c);
	val parts = { 0 };
	if (!str_split(c, tm_buf_str(&u), v_none(), -1, false, &parts))
		return false;
	return join_items(c, TM_S(" "), parts.l, false, out);
}

FILTER(sum)
{
	const char *fname = "do_sum";
	BIND("attribute", "start");
	tm_list *items;
	val acc = tm_given(p[1]) ? p[1] : v_int(0);
	if (!tm_iterate(c, in, &items))
		return false;
	if (acc.t == V_STR)
		return tm_fail(c, "sum() can't sum strings [use ''.join(seq) instead]");
	for (size_t i = 0; i < items->n; i++) {
		if (!tm_step(c))
			return false;
		val x = { 0 };
		if (!attr_path(c, items->v[i], p[0], (val){ .t = V_UNDEF, .ukind = 0xFF }, &x) || !tm_binop(c, '+', acc, x, &acc))
			return false;
	}
	*out = acc;
	return true;
}

FILTER(title)
{
	const char *fname = "do_title";
	NOARGS();
	tm_str s = { "", 0 };
	return tm_str_of(c, in, &s) && str_case(c, s, 5, out);
}

FILTER(tojson)
{
	const char *fname = "tojson";
	BIND("ensure_ascii", "indent", "separators", "sort_keys");
	tm_json_opts o = { .ensure_ascii = opt_bool(p[0], false), .sort_keys = opt_bool(p[3], false) };
	tm_str ind, seps[2];
	if (tm_given(p[1]) && p[1].t != V_NONE) {
		if (p[1].t == V_STR) {
			ind = p[1].s;
		} else {
			int64_t w = 0;
			if (!want_int(c, "indent", p[1], &w))
				return false;
			if (w < 0)
				w = 0;
			if (!size_ok(c, w))
				return false;
			char *sp = tm_alloc(&c->a, (size_t)w + 1);
			if (!sp)
				return tm_fail_mem(c);
			memset(sp, ' ', (size_t)w);
			ind = (tm_str){ sp, (size_t)w };
		}
		o.indent = &ind;
	}
	if (tm_given(p[2]) && p[2].t != V_NONE) {
		if (p[2].t != V_LIST || p[2].l->n != 2 || p[2].l->v[0].t != V_STR || p[2].l->v[1].t != V_STR)
			return tm_fail(c, "separators must be a pair of strings");
		seps[0] = p[2].l->v[0].s;
		seps[1] = p[2].l->v[1].s;
		o.item_sep = &seps[0];
		o.key_sep = &seps[1];
	}
	tm_buf b;
	const char *bad;
	tm_buf_init(&b, &c->a, NULL);
	if (!tm_to_json(&b, in, &o, &bad)) {
		if (!b.ok)
			return tm_fail_mem(c);
		if (strchr(bad, ' '))
			return tm_fail(c, "%s", bad);
		return tm_fail(c, "Object of type %s is not JSON serializable", bad);
	}
	return done_buf(c, &b, out);
}

FILTER(trim)
{
	const char *fname = "do_trim";
	BIND("chars");
	tm_str s = { "", 0 };
	return tm_str_of(c, in, &s) && str_strip(c, s, p[0], true, true, out);
}

FILTER(truncate)
{
	const char *fname = "do_truncate";
	BIND("length", "killwords", "end", "leeway");
	int64_t length = 255, leeway = 5;
	tm_str s, end = TM_S("...");
	if (!tm_str_of(c, in, &s) || (tm_given(p[0]) && !want_int(c, "truncate", p[0], &length)) ||
	    (tm_given(p[2]) && !tm_str_of(c, p[2], &end)) || (tm_given(p[3]) && p[3].t != V_NONE && !want_int(c, "truncate", p[3], &leeway)))
		return false;
	int64_t endlen = (int64_t)tm_utf8_len(end), len = (int64_t)tm_utf8_len(s);
	if (length < endlen)
		return tm_fail(c, "expected length >= %lld, got %lld", (long long)endlen, (long long)length);
	if (leeway < 0)
		return tm_fail(c, "expected leeway >= 0, got %lld", (long long)leeway);
	if (len <= length + leeway) {
		*out = v_strs(s);
		return true;
	}
	/* s[:length - len(end)], then (unless killwords) .rsplit(" ", 1)[0] */
	size_t cut = 0;
	uint32_t cp = 0;
	for (int64_t k = 0; k < length - endlen; k++)
		cut += tm_utf8_decode(s.p + cut, s.n - cut, &cp);
	tm_str head = { s.p, cut };
	if (!opt_bool(p[1], false)) {
		long sp = rfind_bytes(head, TM_S(" "));
		if (sp >= 0)
			head.n = (size_t)sp;
	}
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	tm_buf_add(&b, head.p, head.n);
	tm_buf_add(&b, end.p, end.n);
	return done_buf(c, &b, out);
}

FILTER(unique)
{
	const char *fname = "do_unique";
	BIND("case_sensitive", "attribute");
	tm_list *items, *l;
	val *keys;
	if (!tm_iterate(c, in, &items) || !sort_keys_of(c, items, p[1], opt_bool(p[0], false), &keys) ||
	    !(l = new_list(c, items->n, L_GEN)))
		return false;
	l->n = 0;
	val *seen = tm_alloc(&c->a, (items->n + 1) * sizeof(val));
	size_t ns = 0;
	if (!seen)
		return tm_fail_mem(c);
	for (size_t i = 0; i < items->n; i++) {
		if (!tm_hashable(keys[i]))
			return tm_fail(c, "unhashable type: '%s'", tm_type_name(keys[i]));
		bool dup = false;
		for (size_t j = 0; j < ns && !dup; j++)
			dup = tm_eq(seen[j], keys[i], 0);
		if (!dup) {
			seen[ns++] = keys[i];
			l->v[l->n++] = items->v[i];
		}
		if (!tm_step(c))
			return false;
	}
	*out = v_list(l);
	return true;
}

FILTER(upper)
{
	const char *fname = "do_upper";
	NOARGS();
	tm_str s = { "", 0 };
	return tm_str_of(c, in, &s) && str_case(c, s, 1, out);
}

FILTER(wordcount)
{
	const char *fname = "do_wordcount";
	NOARGS();
	tm_str s = { "", 0 };
	if (!tm_str_of(c, in, &s))
		return false;
	int64_t n = 0;
	bool inword = false;
	for (size_t i = 0; i < s.n;) {
		uint32_t cp = 0;
		i += tm_utf8_decode(s.p + i, s.n - i, &cp);
		bool w = cp == '_' || tm_is_alnum(cp);
		n += w && !inword;
		inword = w;
	}
	*out = v_int(n);
	return true;
}

static const struct { const char *name; filter_fn fn; } filters[] = {
	{ "abs", f_abs }, { "attr", f_attr }, { "batch", f_batch }, { "capitalize", f_capitalize },
	{ "center", f_center }, { "count", f_length }, { "d", f_default }, { "default", f_default },
	{ "dictsort", f_dictsort }, { "e", f_escape }, { "escape", f_escape }, { "first", f_first },
	{ "float", f_float }, { "forceescape", f_escape }, { "format", f_format }, { "indent", f_indent },
	{ "int", f_int }, { "items", f_items }, { "join", f_join }, { "last", f_last }, { "length", f_length },
	{ "list", f_list }, { "lower", f_lower }, { "map", f_map }, { "max", f_max }, { "min", f_min },
	{ "reject", f_reject }, { "rejectattr", f_rejectattr }, { "replace", f_replace }, { "reverse", f_reverse },
	{ "round", f_round }, { "safe", f_safe }, { "select", f_select }, { "selectattr", f_selectattr },
	{ "slice", f_slice }, { "sort", f_sort }, { "string", f_string }, { "striptags", f_striptags },
	{ "sum", f_sum }, { "title", f_title }, { "tojson", f_tojson }, { "trim", f_trim },
	{ "truncate", f_truncate }, { "unique", f_unique }, { "upper", f_upper }, { "wordcount", f_wordcount },
};

static int filter_find(tm_str name)
{
	for (size_t i = 0; i < SH_ARRAY_LEN(filters); i++)
		if (tm_str_eq(name, filters[i].name))
			return (int)i;
	return -1;
}

bool tm_filter_exists(tm_str name) { return filter_find(name) >= 0; }

bool tm_filter(tm_ctx *c, tm_str name, val in, const tm_args *a, val *out)
{
	int i = filter_find(name);
	if (i < 0)
		return tm_fail(c, "No filter named '%.*s'.", (int)SH_MIN(name.n, 60), name.p);
	return filters[i].fn(c, in, a, out);
}

/* ---------------------------------------------------------------- tests */
typedef bool (*test_fn)(tm_ctx *c, val in, const tm_args *a, bool *out);
#define TEST(name) static bool t_##name(tm_ctx *c, val in, const tm_args *a, bool *out)
#define TEST1(pyname)                                                                                  \
	val arg;                                                                                       \
	do {                                                                                           \
		static const char *const names[] = { "other" };                                        \
		if (!tm_bind(c, pyname, names, 1, a, &arg))                                            \
			return false;                                                                  \
		if (!tm_given(arg))                                                                    \
			return tm_fail(c, "%s() missing 1 required positional argument", pyname);     \
	} while (0)
#define TEST0(pyname)                                                                                  \
	if (!tm_bind(c, pyname, NULL, 0, a, NULL))                                                     \
		return false

TEST(boolean) { TEST0("test_boolean"); *out = in.t == V_BOOL; return true; }
TEST(callable) { TEST0("callable"); *out = in.t == V_FUNC || in.t == V_METHOD || in.t == V_MACRO || in.t == V_UNDEF; return true; }
TEST(defined) { TEST0("test_defined"); *out = in.t != V_UNDEF; return true; }
TEST(undefined) { TEST0("test_undefined"); *out = in.t == V_UNDEF; return true; }
TEST(none) { TEST0("test_none"); *out = in.t == V_NONE; return true; }
TEST(false) { TEST0("test_false"); *out = in.t == V_BOOL && !in.b; return true; }
TEST(true) { TEST0("test_true"); *out = in.t == V_BOOL && in.b; return true; }
TEST(integer) { TEST0("test_integer"); *out = in.t == V_INT; return true; }
TEST(float) { TEST0("test_float"); *out = in.t == V_FLOAT; return true; }
TEST(number) { TEST0("test_number"); *out = in.t == V_INT || in.t == V_FLOAT || in.t == V_BOOL; return true; }
TEST(string) { TEST0("test_string"); *out = in.t == V_STR; return true; }
TEST(mapping) { TEST0("test_mapping"); *out = in.t == V_DICT; return true; }
TEST(escaped) { TEST0("test_escaped"); *out = false; return true; }
TEST(iterable)
{
	TEST0("test_iterable");
	*out = in.t == V_STR || in.t == V_LIST || in.t == V_DICT || in.t == V_UNDEF || in.t == V_LOOP;
	return true;
}
TEST(sequence)
{
	TEST0("test_sequence");
	*out = in.t == V_STR || in.t == V_DICT || in.t == V_UNDEF ||
	       (in.t == V_LIST && (in.l->kind == L_LIST || in.l->kind == L_TUPLE || in.l->kind == L_RANGE));
	return true;
}

static bool parity(tm_ctx *c, val in, bool odd, bool *out)
{
	val r = { 0 };
	if (!tm_binop(c, '%', in, v_int(2), &r))
		return false;
	*out = tm_eq(r, v_int(1), 0) == odd;
	return true;
}
TEST(odd) { TEST0("test_odd"); return parity(c, in, true, out); }
TEST(even) { TEST0("test_even"); return parity(c, in, false, out); }
TEST(divisibleby)
{
	TEST1("test_divisibleby");
	val r = { 0 };
	if (!tm_binop(c, '%', in, arg, &r))
		return false;
	*out = tm_eq(r, v_int(0), 0);
	return true;
}

TEST(eq) { TEST1("eq"); return tm_compare(c, OP_EQ, in, arg, out); }
TEST(ne) { TEST1("ne"); return tm_compare(c, OP_NE, in, arg, out); }
TEST(lt) { TEST1("lt"); return tm_compare(c, '<', in, arg, out); }
TEST(le) { TEST1("le"); return tm_compare(c, OP_LE, in, arg, out); }
TEST(gt) { TEST1("gt"); return tm_compare(c, '>', in, arg, out); }
TEST(ge) { TEST1("ge"); return tm_compare(c, OP_GE, in, arg, out); }
TEST(in) { TEST1("test_in"); return tm_contains(c, arg, in, out); }
TEST(sameas)
{
	TEST1("test_sameas");
	if (in.t != arg.t)
		*out = false;
	else if (in.t == V_LIST)
		*out = in.l == arg.l;
	else if (in.t == V_DICT || in.t == V_NS)
		*out = in.d == arg.d;
	else if (in.t == V_INT) /* CPython caches small ints */
		*out = in.i == arg.i && in.i >= -5 && in.i <= 256;
	else if (in.t == V_STR)
		*out = in.s.p == arg.s.p && in.s.n == arg.s.n;
	else if (in.t == V_FLOAT)
		*out = false;
	else
		*out = tm_eq(in, arg, 0);
	return true;
}
static bool str_cases(tm_ctx *c, val in, bool upper, bool *out)
{
	tm_str s = { "", 0 };
	if (!tm_str_of(c, in, &s))
		return false;
	bool cased = false, ok = true;
	for (size_t i = 0; i < s.n && ok;) {
		uint32_t cp = 0;
		i += tm_utf8_decode(s.p + i, s.n - i, &cp);
		if (is_cased(cp)) {
			cased = true;
			ok = upper ? tm_upper(cp) == cp : tm_lower(cp) == cp;
		}
	}
	*out = cased && ok;
	return true;
}
TEST(lower) { TEST0("test_lower"); return str_cases(c, in, false, out); }
TEST(upper) { TEST0("test_upper"); return str_cases(c, in, true, out); }
TEST(filter) { TEST0("test_filter"); *out = in.t == V_STR && tm_filter_exists(in.s); return true; }
TEST(test) { TEST0("test_test"); *out = in.t == V_STR && tm_test_exists(in.s); return true; }

static const struct { const char *name; test_fn fn; } tests[] = {
	{ "boolean", t_boolean }, { "callable", t_callable }, { "defined", t_defined }, { "divisibleby", t_divisibleby },
	{ "eq", t_eq }, { "equalto", t_eq }, { "==", t_eq }, { "escaped", t_escaped }, { "even", t_even },
	{ "false", t_false }, { "filter", t_filter }, { "float", t_float }, { "ge", t_ge }, { ">=", t_ge },
	{ "gt", t_gt }, { "greaterthan", t_gt }, { ">", t_gt }, { "in", t_in }, { "integer", t_integer },
	{ "iterable", t_iterable }, { "le", t_le }, { "<=", t_le }, { "lower", t_lower }, { "lt", t_lt },
	{ "lessthan", t_lt }, { "<", t_lt }, { "mapping", t_mapping }, { "ne", t_ne }, { "!=", t_ne },
	{ "none", t_none }, { "number", t_number }, { "odd", t_odd }, { "sameas", t_sameas },
	{ "sequence", t_sequence }, { "string", t_string }, { "test", t_test }, { "true", t_true },
	{ "undefined", t_undefined }, { "upper", t_upper },
};

static int test_find(tm_str name)
{
	for (size_t i = 0; i < SH_ARRAY_LEN(tests); i++)
		if (tm_str_eq(name, tests[i].name))
			return (int)i;
	return -1;
}

bool tm_test_exists(tm_str name) { return test_find(name) >= 0; }

bool tm_test(tm_ctx *c, tm_str name, val in, const tm_args *a, bool *out)
{
	int i = test_find(name);
	if (i < 0)
		return tm_fail(c, "No test named '%.*s'.", (int)SH_MIN(name.n, 60), name.p);
	return tests[i].fn(c, in, a, out);
}

/* ---------------------------------------------------------------- methods */
enum { ON_STR = 1, ON_DICT = 2, ON_LIST = 4, ON_TUPLE = 8, ON_LOOP = 16, UNSAFE = 32 };
enum {
	M_CAPITALIZE, M_CASEFOLD, M_CENTER, M_COUNT, M_ENDSWITH, M_FIND, M_FORMAT, M_INDEX, M_ISALNUM, M_ISALPHA,
	M_ISDECIMAL, M_ISDIGIT, M_ISLOWER, M_ISNUMERIC, M_ISSPACE, M_ISTITLE, M_ISUPPER, M_JOIN, M_LJUST, M_LOWER,
	M_LSTRIP, M_PARTITION, M_REMOVEPREFIX, M_REMOVESUFFIX, M_REPLACE, M_RFIND, M_RINDEX, M_RJUST, M_RPARTITION,
	M_RSPLIT, M_RSTRIP, M_SPLIT, M_SPLITLINES, M_STARTSWITH, M_STRIP, M_SWAPCASE, M_TITLE, M_UPPER, M_ZFILL,
	M_GET, M_ITEMS, M_KEYS, M_VALUES, M_COPY, M_LCOUNT, M_LINDEX,
	M_CYCLE, M_CHANGED, M_UNSAFE,
};
static const struct { const char *name; int id; uint8_t on; } methods[] = {
	{ "capitalize", M_CAPITALIZE, ON_STR }, { "casefold", M_CASEFOLD, ON_STR }, { "center", M_CENTER, ON_STR },
	{ "count", M_COUNT, ON_STR }, { "endswith", M_ENDSWITH, ON_STR }, { "find", M_FIND, ON_STR },
	{ "format", M_FORMAT, ON_STR }, { "index", M_INDEX, ON_STR }, { "isalnum", M_ISALNUM, ON_STR },
	{ "isalpha", M_ISALPHA, ON_STR }, { "isdecimal", M_ISDECIMAL, ON_STR }, { "isdigit", M_ISDIGIT, ON_STR },
	{ "islower", M_ISLOWER, ON_STR }, { "isnumeric", M_ISNUMERIC, ON_STR }, { "isspace", M_ISSPACE, ON_STR },
	{ "istitle", M_ISTITLE, ON_STR }, { "isupper", M_ISUPPER, ON_STR }, { "join", M_JOIN, ON_STR },
	{ "ljust", M_LJUST, ON_STR }, { "lower", M_LOWER, ON_STR }, { "lstrip", M_LSTRIP, ON_STR },
	{ "partition", M_PARTITION, ON_STR }, { "removeprefix", M_REMOVEPREFIX, ON_STR },
	{ "removesuffix", M_REMOVESUFFIX, ON_STR }, { "replace", M_REPLACE, ON_STR }, { "rfind", M_RFIND, ON_STR },
	{ "rindex", M_RINDEX, ON_STR }, { "rjust", M_RJUST, ON_STR }, { "rpartition", M_RPARTITION, ON_STR },
	{ "rsplit", M_RSPLIT, ON_STR }, { "rstrip", M_RSTRIP, ON_STR }, { "split", M_SPLIT, ON_STR },
	{ "splitlines", M_SPLITLINES, ON_STR }, { "startswith", M_STARTSWITH, ON_STR }, { "strip", M_STRIP, ON_STR },
	{ "swapcase", M_SWAPCASE, ON_STR }, { "title", M_TITLE, ON_STR }, { "upper", M_UPPER, ON_STR },
	{ "zfill", M_ZFILL, ON_STR },
	{ "get", M_GET, ON_DICT }, { "items", M_ITEMS, ON_DICT }, { "keys", M_KEYS, ON_DICT }, { "values", M_VALUES, ON_DICT },
	{ "copy", M_COPY, ON_DICT | ON_LIST }, { "count", M_LCOUNT, ON_LIST | ON_TUPLE }, { "index", M_LINDEX, ON_LIST | ON_TUPLE },
	{ "cycle", M_CYCLE, ON_LOOP }, { "changed", M_CHANGED, ON_LOOP },
	/* mutators: unsafe in the immutable sandbox */
	{ "clear", M_UNSAFE, ON_DICT | ON_LIST | UNSAFE }, { "pop", M_UNSAFE, ON_DICT | ON_LIST | UNSAFE },
	{ "popitem", M_UNSAFE, ON_DICT | UNSAFE }, { "setdefault", M_UNSAFE, ON_DICT | UNSAFE },
	{ "update", M_UNSAFE, ON_DICT | UNSAFE }, { "append", M_UNSAFE, ON_LIST | UNSAFE },
	{ "extend", M_UNSAFE, ON_LIST | UNSAFE }, { "insert", M_UNSAFE, ON_LIST | UNSAFE },
	{ "remove", M_UNSAFE, ON_LIST | UNSAFE }, { "reverse", M_UNSAFE, ON_LIST | UNSAFE },
	{ "sort", M_UNSAFE, ON_LIST | UNSAFE },
};

int tm_method_find(val self, tm_str name)
{
	int on = self.t == V_STR ? ON_STR : self.t == V_DICT ? ON_DICT : self.t == V_LOOP ? ON_LOOP
		 : self.t == V_LIST && self.l->kind == L_LIST ? ON_LIST
		 : self.t == V_LIST && (self.l->kind == L_TUPLE || self.l->kind == L_RANGE) ? ON_TUPLE : 0;
	if (!on)
		return -1;
	for (size_t i = 0; i < SH_ARRAY_LEN(methods); i++)
		if ((methods[i].on & on) && tm_str_eq(name, methods[i].name))
			return methods[i].on & UNSAFE ? -2 : (int)i;
	return -1;
}

const char *tm_method_name(int id)
{
	return id >= 0 && id < (int)SH_ARRAY_LEN(methods) ? methods[id].name : "?";
}

/* optional start/end of str.find and friends as byte offsets; *past: start beyond the end (Python
 * then finds nothing, not even "") */
static bool str_range(tm_ctx *c, tm_str s, const val *p, tm_str *sub_of, size_t *base, bool *past)
{
	*past = false;
	if ((!tm_given(p[0]) || p[0].t == V_NONE) && (!tm_given(p[1]) || p[1].t == V_NONE)) {
		*sub_of = s; /* the whole string: no need to count its characters */
		*base = 0;
		return true;
	}
	int64_t len = (int64_t)tm_utf8_len(s), a = 0, b = len;
	for (int i = 0; i < 2; i++) {
		if (!tm_given(p[i]) || p[i].t == V_NONE)
			continue;
		int64_t x = 0;
		if (!want_int(c, "slice indices", p[i], &x))
			return false;
		if (x < 0)
			x = SH_MAX(x + len, 0);
		if (i == 0 && x > len)
			*past = true;
		x = SH_MIN(x, len);
		if (i == 0)
			a = x;
		else
			b = x;
	}
	size_t ba = 0, bb;
	uint32_t cp = 0;
	for (int64_t k = 0; k < a; k++)
		ba += tm_utf8_decode(s.p + ba, s.n - ba, &cp);
	bb = ba;
	for (int64_t k = a; k < b; k++)
		bb += tm_utf8_decode(s.p + bb, s.n - bb, &cp);
	*sub_of = (tm_str){ s.p + ba, b > a ? bb - ba : 0 };
	*base = ba;
	return true;
}

static bool str_affix(tm_ctx *c, tm_str s, const val *p, bool suffix, bool *out)
{
	tm_str sub = { "", 0 };
	size_t base = 0;
	bool past = false;
	if (!str_range(c, s, p + 1, &sub, &base, &past))
		return false;
	val pre = p[0];
	size_t n = pre.t == V_LIST && pre.l->kind == L_TUPLE ? pre.l->n : 1;
	*out = false;
	for (size_t i = 0; i < n && !*out; i++) {
		val x = pre.t == V_LIST && pre.l->kind == L_TUPLE ? pre.l->v[i] : pre;
		if (x.t != V_STR)
			return tm_fail(c, "%s first arg must be str or a tuple of str, not %s", suffix ? "endswith" : "startswith",
				       tm_type_name(x));
		*out = !past && x.s.n <= sub.n && !memcmp(suffix ? sub.p + sub.n - x.s.n : sub.p, x.s.p, x.s.n);
	}
	return true;
}

static bool str_is(tm_ctx *c, tm_str s, int what, val *out)
{
	bool all = s.n > 0, cased = false, prev_cased = false, title = true;
	for (size_t i = 0; i < s.n;) {
		uint32_t cp = 0;
		i += tm_utf8_decode(s.p + i, s.n - i, &cp);
		switch (what) {
		case M_ISALNUM: all &= tm_is_alnum(cp); break;
		case M_ISALPHA: all &= tm_is_alpha(cp); break;
		case M_ISDECIMAL: case M_ISDIGIT: case M_ISNUMERIC: all &= tm_is_digit(cp); break;
		case M_ISSPACE: all &= tm_is_space(cp); break;
		case M_ISLOWER:
			if (is_cased(cp))
				cased = true, all &= tm_lower(cp) == cp;
			break;
		case M_ISUPPER:
			if (is_cased(cp))
				cased = true, all &= tm_upper(cp) == cp;
			break;
		default: /* istitle */
			if (is_cased(cp)) {
				bool up = tm_upper(cp) == cp;
				if (up == prev_cased)
					title = false;
				cased = true;
				prev_cased = true;
			} else {
				prev_cased = false;
			}
			break;
		}
	}
	if (what == M_ISLOWER || what == M_ISUPPER)
		all = all && cased;
	else if (what == M_ISTITLE)
		all = cased && title;
	*out = v_bool(all);
	return true;
}

static bool method_str(tm_ctx *c, int id, const char *fname, tm_str s, const tm_args *a, val *out)
{
	static const char *const p3[] = { "a", "b", "c" };
	val p[3];
	if (id == M_FORMAT)
		return str_dot_format(c, s, a, out);
	if (id == M_SPLIT || id == M_RSPLIT) {
		static const char *const n[] = { "sep", "maxsplit" };
		int64_t maxsplit = -1;
		if (!tm_bind(c, fname, n, 2, a, p) || (tm_given(p[1]) && !want_int(c, fname, p[1], &maxsplit)))
			return false;
		return str_split(c, s, tm_given(p[0]) ? p[0] : v_none(), maxsplit, id == M_RSPLIT, out);
	}
	if (id == M_SPLITLINES) {
		static const char *const n[] = { "keepends" };
		tm_list *l;
		if (!tm_bind(c, fname, n, 1, a, p) || !str_splitlines(c, s, opt_bool(p[0], false), &l))
			return false;
		*out = v_list(l);
		return true;
	}
	if (!tm_bind(c, fname, p3, 3, a, p))
		return false;
	int nargs = 0;
	while (nargs < 3 && tm_given(p[nargs]))
		nargs++;
	tm_str x = { "", 0 }, y = { "", 0 }, sub = { "", 0 };
	size_t base = 0;
	bool past = false;
	int64_t w = 0;
	long f = 0;
	switch (id) {
	case M_STRIP: case M_LSTRIP: case M_RSTRIP:
		if (nargs > 1)
			return tm_fail(c, "%s expected at most 1 argument, got %d", fname, nargs);
		return str_strip(c, s, p[0], id != M_RSTRIP, id != M_LSTRIP, out);
	case M_LOWER: case M_CASEFOLD: return str_case(c, s, 0, out);
	case M_UPPER: return str_case(c, s, 1, out);
	case M_CAPITALIZE: return str_case(c, s, 2, out);
	case M_TITLE: return str_case(c, s, 3, out);
	case M_SWAPCASE: return str_case(c, s, 4, out);
	case M_ISALNUM: case M_ISALPHA: case M_ISDECIMAL: case M_ISDIGIT: case M_ISLOWER: case M_ISNUMERIC:
	case M_ISSPACE: case M_ISTITLE: case M_ISUPPER:
		return str_is(c, s, id, out);
	case M_STARTSWITH: case M_ENDSWITH: {
		bool r = false;
		if (!nargs)
			return tm_fail(c, "%s() takes at least 1 argument (0 given)", fname);
		if (!str_affix(c, s, p, id == M_ENDSWITH, &r))
			return false;
		*out = v_bool(r);
		return true;
	}
	case M_FIND: case M_RFIND: case M_INDEX: case M_RINDEX: case M_COUNT:
		if (!nargs)
			return tm_fail(c, "%s() takes at least 1 argument (0 given)", fname);
		if (!want_str(c, fname, p[0], &x) || !str_range(c, s, p + 1, &sub, &base, &past))
			return false;
		if (id == M_COUNT) {
			int64_t n = 0;
			if (past) {
				n = 0;
			} else if (!x.n) {
				n = (int64_t)tm_utf8_len(sub) + 1;
			} else {
				size_t i = 0;
				while ((f = find_bytes(sub, x, i)) >= 0)
					n++, i = (size_t)f + x.n;
			}
			*out = v_int(n);
			return true;
		}
		f = past ? -1 : id == M_FIND || id == M_INDEX ? find_bytes(sub, x, 0) : rfind_bytes(sub, x);
		if (f < 0 && (id == M_INDEX || id == M_RINDEX))
			return tm_fail(c, "substring not found");
		*out = v_int(f < 0 ? -1 : cp_index(s, base + (size_t)f));
		return true;
	case M_REPLACE: {
		int64_t count = -1;
		if (nargs < 2)
			return tm_fail(c, "replace expected at least 2 arguments, got %d", nargs);
		if (!want_str(c, "replace() argument 1", p[0], &x) || !want_str(c, "replace() argument 2", p[1], &y) ||
		    (nargs > 2 && !want_int(c, "replace", p[2], &count)))
			return false;
		return str_replace(c, s, x, y, count, out);
	}
	case M_JOIN: {
		tm_list *l;
		if (nargs != 1)
			return tm_fail(c, "str.join() takes exactly one argument (%d given)", nargs);
		if (p[0].t == V_UNDEF)
			return tm_fail_undef(c, p[0]);
		return tm_iterate(c, p[0], &l) && join_items(c, s, l, true, out);
	}
	case M_CENTER: case M_LJUST: case M_RJUST: {
		uint32_t fill = ' ';
		if (!nargs)
			return tm_fail(c, "%s expected at least 1 argument, got 0", fname);
		if (!want_int(c, fname, p[0], &w))
			return false;
		if (nargs > 1) {
			if (p[1].t != V_STR || tm_utf8_len(p[1].s) != 1)
				return tm_fail(c, "The fill character must be exactly one character long");
			tm_utf8_decode(p[1].s.p, p[1].s.n, &fill);
		}
		return str_pad(c, s, w, fill, id == M_CENTER ? '^' : id == M_LJUST ? '<' : '>', out);
	}
	case M_ZFILL: {
		if (!nargs || !want_int(c, fname, p[0], &w))
			return nargs ? false : tm_fail(c, "zfill() takes exactly one argument (0 given)");
		int64_t len = (int64_t)tm_utf8_len(s);
		if (w <= len) {
			*out = v_strs(s);
			return true;
		}
		if (!size_ok(c, w))
			return false;
		tm_buf b;
		tm_buf_init(&b, &c->a, NULL);
		size_t sign = s.n && (s.p[0] == '+' || s.p[0] == '-');
		tm_buf_add(&b, s.p, sign);
		for (int64_t i = 0; i < w - len; i++)
			tm_buf_addc(&b, '0');
		tm_buf_add(&b, s.p + sign, s.n - sign);
		return done_buf(c, &b, out);
	}
	case M_PARTITION: case M_RPARTITION: {
		if (nargs != 1 || !want_str(c, fname, p[0], &x))
			return nargs == 1 ? false : tm_fail(c, "%s() takes exactly one argument (%d given)", fname, nargs);
		if (!x.n)
			return tm_fail(c, "empty separator");
		tm_list *t = new_list(c, 3, L_TUPLE);
		if (!t)
			return false;
		f = id == M_PARTITION ? find_bytes(s, x, 0) : rfind_bytes(s, x);
		if (f < 0) {
			t->v[0] = id == M_PARTITION ? v_strs(s) : v_str("", 0);
			t->v[1] = v_str("", 0);
			t->v[2] = id == M_PARTITION ? v_str("", 0) : v_strs(s);
		} else {
			t->v[0] = v_str(s.p, (size_t)f);
			t->v[1] = v_strs(x);
			t->v[2] = v_str(s.p + f + x.n, s.n - (size_t)f - x.n);
		}
		*out = v_list(t);
		return true;
	}
	case M_REMOVEPREFIX: case M_REMOVESUFFIX:
		if (nargs != 1 || !want_str(c, fname, p[0], &x))
			return nargs == 1 ? false : tm_fail(c, "%s() takes exactly one argument (%d given)", fname, nargs);
		if (x.n <= s.n && !memcmp(id == M_REMOVEPREFIX ? s.p : s.p + s.n - x.n, x.p, x.n))
			*out = id == M_REMOVEPREFIX ? v_str(s.p + x.n, s.n - x.n) : v_str(s.p, s.n - x.n);
		else
			*out = v_strs(s);
		return true;
	default:
		return tm_fail(c, "'str' object has no method %s", fname);
	}
}

bool tm_loop_attr(tm_ctx *c, tm_loop *l, tm_str name, val *out)
{
	size_t n = l->items->n, i = l->i;
	if (tm_str_eq(name, "index"))
		*out = v_int((int64_t)i + 1);
	else if (tm_str_eq(name, "index0"))
		*out = v_int((int64_t)i);
	else if (tm_str_eq(name, "revindex"))
		*out = v_int((int64_t)(n - i));
	else if (tm_str_eq(name, "revindex0"))
		*out = v_int((int64_t)(n - i - 1));
	else if (tm_str_eq(name, "first"))
		*out = v_bool(i == 0);
	else if (tm_str_eq(name, "last"))
		*out = v_bool(i + 1 == n);
	else if (tm_str_eq(name, "length"))
		*out = v_int((int64_t)n);
	else if (tm_str_eq(name, "depth"))
		*out = v_int(1);
	else if (tm_str_eq(name, "depth0"))
		*out = v_int(0);
	else if (tm_str_eq(name, "previtem"))
		*out = i ? l->items->v[i - 1] : v_hint("there is no previous item");
	else if (tm_str_eq(name, "nextitem"))
		*out = i + 1 < n ? l->items->v[i + 1] : v_hint("there is no next item");
	else if (tm_str_eq(name, "cycle") || tm_str_eq(name, "changed")) {
		tm_method *m = tm_alloc(&c->a, sizeof *m);
		if (!m)
			return tm_fail_mem(c);
		m->self = (val){ .t = V_LOOP, .loop = l };
		m->id = tm_method_find(m->self, name);
		*out = (val){ .t = V_METHOD, .meth = m };
	} else
		*out = (val){ .t = V_UNDEF, .ukind = U_ATTR, .uobj = V_LOOP, .s = name };
	return true;
}

bool tm_method_call(tm_ctx *c, const tm_method *m, const tm_args *a, val *out)
{
	int id = methods[m->id].id;
	val self = m->self, p[2];
	const char *fname = methods[m->id].name;
	static const char *const n2[] = { "a", "b" };
	switch (id) {
	case M_CYCLE: {
		tm_loop *l = self.loop;
		if (a->nkw)
			return tm_fail(c, "cycle() takes no keyword arguments");
		if (!a->n)
			return tm_fail(c, "no items for cycling given");
		*out = a->v[l->i % (size_t)a->n];
		return true;
	}
	case M_CHANGED: {
		tm_loop *l = self.loop;
		tm_list *t = new_list(c, (size_t)a->n, L_TUPLE);
		if (!t)
			return false;
		for (int i = 0; i < a->n; i++)
			t->v[i] = a->v[i];
		val now = v_list(t);
		if (l->has_last && tm_eq(l->last, now, 0)) {
			*out = v_bool(false);
			return true;
		}
		l->last = now;
		l->has_last = true;
		*out = v_bool(true);
		return true;
	}
	default:
		break;
	}
	if (self.t == V_STR)
		return method_str(c, id, fname, self.s, a, out);
	if (!tm_bind(c, fname, n2, 2, a, p))
		return false;
	switch (id) {
	case M_GET: {
		if (!tm_given(p[0]))
			return tm_fail(c, "get expected at least 1 argument, got 0");
		long i = tm_hashable(p[0]) ? tm_dict_find(self.d, p[0]) : -1;
		if (!tm_hashable(p[0]))
			return tm_fail(c, "unhashable type: '%s'", tm_type_name(p[0]));
		*out = i >= 0 ? self.d->v[i] : tm_given(p[1]) ? p[1] : v_none();
		return true;
	}
	case M_ITEMS:
		return dict_items(c, self.d, L_ITEMS, out);
	case M_KEYS: case M_VALUES: {
		tm_list *l = new_list(c, self.d->n, id == M_KEYS ? L_KEYS : L_VALUES);
		if (!l)
			return false;
		if (self.d->n)
			memcpy(l->v, id == M_KEYS ? self.d->k : self.d->v, self.d->n * sizeof(val));
		*out = v_list(l);
		return true;
	}
	case M_COPY:
		if (self.t == V_DICT) {
			tm_dict *d = tm_dict_new(&c->a, self.d->n);
			if (!d)
				return tm_fail_mem(c);
			for (size_t i = 0; i < self.d->n; i++)
				d->k[i] = self.d->k[i], d->v[i] = self.d->v[i];
			d->n = self.d->n;
			*out = v_dict(d);
		} else {
			tm_list *l = new_list(c, self.l->n, L_LIST);
			if (!l)
				return false;
			if (self.l->n)
				memcpy(l->v, self.l->v, self.l->n * sizeof(val));
			*out = v_list(l);
		}
		return true;
	case M_LCOUNT: case M_LINDEX: {
		if (!tm_given(p[0]))
			return tm_fail(c, "%s() takes at least 1 argument (0 given)", fname);
		int64_t n = 0, at = -1;
		for (size_t i = 0; i < self.l->n; i++)
			if (tm_eq(self.l->v[i], p[0], 0)) {
				n++;
				if (at < 0)
					at = (int64_t)i;
			}
		if (id == M_LINDEX && at < 0) {
			tm_buf b;
			tm_buf_init(&b, &c->a, NULL);
			tm_repr(&b, p[0], 0);
			return tm_fail(c, "%.*s is not in %s", (int)SH_MIN(b.n, 100), b.p ? b.p : "", tm_type_name(self));
		}
		*out = v_int(id == M_LCOUNT ? n : at);
		return true;
	}
	default:
		return tm_fail(c, "'%s' object has no method %s", tm_type_name(self), fname);
	}
}

/* ---------------------------------------------------------------- globals */
enum { G_RANGE, G_DICT, G_NAMESPACE, G_RAISE, G_STRFTIME };
static const char *const globals[] = { "range", "dict", "namespace", "raise_exception", "strftime_now" };

int tm_global_find(tm_str name)
{
	for (size_t i = 0; i < SH_ARRAY_LEN(globals); i++)
		if (tm_str_eq(name, globals[i]))
			return (int)i;
	return -1;
}

const char *tm_global_name(int fn)
{
	return fn >= 0 && fn < (int)SH_ARRAY_LEN(globals) ? globals[fn] : "?";
}

static bool g_range(tm_ctx *c, const tm_args *a, val *out)
{
	int64_t v[3] = { 0, 0, 1 };
	if (a->nkw)
		return tm_fail(c, "range() takes no keyword arguments");
	if (a->n < 1 || a->n > 3)
		return tm_fail(c, "range expected at least 1 argument, got %d", a->n);
	for (int i = 0; i < a->n; i++) {
		val x = a->v[i];
		if (x.t == V_UNDEF)
			return tm_fail_undef(c, x);
		if (x.t != V_INT && x.t != V_BOOL)
			return tm_fail(c, "'%s' object cannot be interpreted as an integer", tm_type_name(x));
	}
	if (a->n == 1)
		v[1] = a->v[0].t == V_INT ? a->v[0].i : a->v[0].b;
	else
		for (int i = 0; i < a->n; i++)
			v[i] = a->v[i].t == V_INT ? a->v[i].i : a->v[i].b;
	if (!v[2])
		return tm_fail(c, "range() arg 3 must not be zero");
	__int128 len = 0;
	if (v[2] > 0 && v[0] < v[1])
		len = ((__int128)v[1] - v[0] - 1) / v[2] + 1;
	else if (v[2] < 0 && v[0] > v[1])
		len = ((__int128)v[0] - v[1] - 1) / (-(__int128)v[2]) + 1;
	if (len > TM_MAX_RANGE) {
		c->limit_hit = true;
		return tm_fail(c, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", TM_MAX_RANGE);
	}
	tm_list *l = new_list(c, (size_t)len, L_RANGE);
	if (!l)
		return false;
	for (size_t i = 0; i < l->n; i++)
		l->v[i] = v_int(v[0] + (int64_t)i * v[2]);
	l->r0 = v[0];
	l->r1 = v[1];
	l->rs = v[2];
	*out = v_list(l);
	return true;
}

/* dict(*args, **kwargs) into d */
static bool dict_fill(tm_ctx *c, const char *what, tm_dict *d, const tm_args *a)
{
	if (a->n > 1)
		return tm_fail(c, "%s expected at most 1 argument, got %d", what, a->n);
	if (a->n) {
		val src = a->v[0];
		if (src.t == V_DICT || src.t == V_NS) {
			for (size_t i = 0; i < src.d->n; i++)
				if (!tm_dict_set(&c->a, d, src.d->k[i], src.d->v[i]))
					return tm_fail_mem(c);
		} else {
			tm_list *items;
			if (src.t == V_UNDEF)
				return tm_fail_undef(c, src);
			if (!tm_iterate(c, src, &items))
				return false;
			for (size_t i = 0; i < items->n; i++) {
				if (!tm_step(c))
					return false;
				tm_list *pair;
				val it = items->v[i];
				if (!(it.t == V_LIST || it.t == V_STR) || !tm_iterate(c, it, &pair))
					return c->failed ? false : tm_fail(c, "cannot convert dictionary update sequence element #%zu to a sequence", i);
				if (pair->n != 2)
					return tm_fail(c, "dictionary update sequence element #%zu has length %zu; 2 is required", i, pair->n);
				if (!tm_hashable(pair->v[0]))
					return tm_fail(c, "unhashable type: '%s'", tm_type_name(pair->v[0]));
				if (!tm_dict_set(&c->a, d, pair->v[0], pair->v[1]))
					return tm_fail_mem(c);
			}
		}
	}
	for (int i = 0; i < a->nkw; i++)
		if (!tm_dict_set(&c->a, d, v_strs(a->kwn[i]), a->kwv[i]))
			return tm_fail_mem(c);
	return true;
}

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

static bool g_strftime(tm_ctx *c, const tm_args *a, val *out)
{
	static const char *const names[] = { "format" };
	val p[1];
	tm_str fmt = { "", 0 };
	if (!tm_bind(c, "strftime_now", names, 1, a, p))
		return false;
	if (!tm_given(p[0]))
		return tm_fail(c, "strftime_now() missing 1 required positional argument: 'format'");
	if (!want_str(c, "strftime() argument 1", p[0], &fmt))
		return false;
	/* Python's own directives for a naive datetime: %f is microseconds, %z and %Z are empty */
	tm_buf f;
	tm_buf_init(&f, &c->a, NULL);
	for (size_t i = 0; i < fmt.n; i++) {
		if (fmt.p[i] == '%' && i + 1 < fmt.n) {
			char d = fmt.p[i + 1];
			if (d == 'f' || d == 'z' || d == 'Z') {
				if (d == 'f')
					tm_buf_adds(&f, "000000");
				i++;
				continue;
			}
			tm_buf_add(&f, fmt.p + i, 2);
			i++;
			continue;
		}
		if (!fmt.p[i])
			return tm_fail(c, "embedded null character");
		tm_buf_addc(&f, fmt.p[i]);
	}
	if (!f.ok)
		return tm_fail_mem(c);
	if (!f.n)
		return tm_new_str(c, "", 0, out);
	struct tm tmv;
	time_t now = c->now;
	localtime_r(&now, &tmv);
	pthread_once(&c_locale_once, c_locale_init);
	for (size_t cap = 256; cap <= 65536; cap *= 4) {
		char *buf = tm_alloc(&c->a, cap);
		if (!buf)
			return tm_fail_mem(c);
		size_t n = c_locale ? strftime_l(buf, cap, f.p, &tmv, c_locale) : strftime(buf, cap, f.p, &tmv);
		if (n) {
			*out = v_str(buf, n);
			return true;
		}
	}
	return tm_new_str(c, "", 0, out);
}

bool tm_global_call(tm_ctx *c, int fn, const tm_args *a, val *out)
{
	switch (fn) {
	case G_RANGE:
		return g_range(c, a, out);
	case G_DICT:
	case G_NAMESPACE: {
		tm_dict *d = tm_dict_new(&c->a, 0);
		if (!d)
			return tm_fail_mem(c);
		if (!dict_fill(c, fn == G_DICT ? "dict" : "namespace", d, a))
			return false;
		*out = (val){ .t = fn == G_DICT ? V_DICT : V_NS, .d = d };
		return true;
	}
	case G_RAISE: {
		static const char *const names[] = { "message" };
		val p[1];
		tm_str msg = { "", 0 };
		if (!tm_bind(c, "raise_exception", names, 1, a, p))
			return false;
		if (!tm_given(p[0]))
			return tm_fail(c, "raise_exception() missing 1 required positional argument: 'message'");
		if (!tm_str_of(c, p[0], &msg))
			return false;
		return tm_raise(c, msg);
	}
	case G_STRFTIME:
		return g_strftime(c, a, out);
	default:
		return tm_fail(c, "unknown function");
	}
}
