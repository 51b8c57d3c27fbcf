/*
 * tmpl_value.c - template values with Python's semantics: truth, ==, ordering, str() and
 * repr() (floats in their shortest round-trip form, as Python prints them), json.dumps as HF's
 * tojson calls it, conversion from JSON input, dicts that keep insertion order, and the UTF-8
 * and Unicode helpers string operations need (Python counts code points, not bytes).
 *
 * Bytes that are not valid UTF-8 are carried as code points U+DC80..U+DCFF (Python's
 * surrogateescape) so slicing and case mapping never lose or invent bytes.
 */
#include "template/tmpl_impl.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <wctype.h>

_Thread_local uint64_t tm_work;

/* ---------------------------------------------------------------- UTF-8 */
size_t tm_utf8_decode(const char *p, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)p;
	unsigned c = s[0];
	size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
	uint32_t v = len == 1 ? c : len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
	if (len == 1) {
		*cp = c;
		return 1;
	}
	if (!len || len > n)
		goto bad;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			goto bad;
		v = v << 6 | (s[i] & 0x3F);
	}
	if ((len == 2 && v < 0x80) || (len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
	    (v >= 0xD800 && v <= 0xDFFF))
		goto bad;
	*cp = v;
	return len;
bad:
	*cp = 0xDC00 + c;
	return 1;
}

size_t tm_utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;
	if (cp >= 0xDC80 && cp <= 0xDCFF) {
		o[0] = (unsigned char)(cp - 0xDC00);
		return 1;
	}
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

bool tm_is_ascii(tm_str s)
{
	for (size_t i = 0; i < s.n; i++)
		if ((unsigned char)s.p[i] >= 0x80)
			return false;
	return true;
}

size_t tm_utf8_len(tm_str s)
{
	size_t n = 0, i = 0;
	uint32_t cp;
	TM_WORK(s.n);
	while (i < s.n) {
		uint64_t w;
		if (s.n - i >= 8 && (memcpy(&w, s.p + i, 8), !(w & 0x8080808080808080ull))) {
			i += 8; /* eight ASCII characters */
			n += 8;
			continue;
		}
		size_t k = tm_utf8_decode(s.p + i, s.n - i, &cp);
		TM_WORK(4 * k); /* decoding costs more than the ASCII skip */
		i += k;
		n++;
	}
	return n;
}

bool tm_is_space(uint32_t c)
{
	return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

size_t tm_space_at(const char *p, size_t n)
{
	if (!n)
		return 0;
	unsigned char c = (unsigned char)p[0];
	if (c < 0x80)
		return tm_is_space(c);
	uint32_t cp;
	size_t k = tm_utf8_decode(p, n, &cp);
	return tm_is_space(cp) ? k : 0;
}

size_t tm_rstrip_len(const char *p, size_t n)
{
	/* walk back over whole code points: a continuation byte belongs to the one before it */
	while (n) {
		size_t st = n - 1;
		while (st > 0 && n - st < 4 && ((unsigned char)p[st] & 0xC0) == 0x80)
			st--;
		if (tm_space_at(p + st, n - st) == n - st)
			n = st;
		else if (tm_space_at(p + n - 1, 1))
			n--;
		else
			break;
	}
	return n;
}

static locale_t utf8_locale;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static bool wide_class(uint32_t c, int which)
{
	if (c >= 0xD800 && c <= 0xDFFF)
		return false;
	pthread_once(&utf8_once, utf8_locale_init);
	if (!utf8_locale)
		return false;
	switch (which) {
	case 0: return iswalnum_l((wint_t)c, utf8_locale);
	case 1: return iswalpha_l((wint_t)c, utf8_locale);
	case 2: return iswdigit_l((wint_t)c, utf8_locale);
	default: return iswprint_l((wint_t)c, utf8_locale);
	}
}

bool tm_is_alpha(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
	return wide_class(c, 1);
}

bool tm_is_digit(uint32_t c)
{
	if (c < 0x80)
		return c >= '0' && c <= '9';
	return wide_class(c, 2);
}

bool tm_is_alnum(uint32_t c)
{
	if (c < 0x80)
		return tm_is_alpha(c) || tm_is_digit(c);
	return wide_class(c, 0);
}

bool tm_is_printable(uint32_t c)
{
	/* Python: not printable = categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs (but ' ') */
	static const uint32_t no[][2] = {
		{ 0x00, 0x1F }, { 0x7F, 0xA0 }, { 0xAD, 0xAD }, { 0x600, 0x605 }, { 0x61C, 0x61C },
		{ 0x6DD, 0x6DD }, { 0x70F, 0x70F }, { 0x1680, 0x1680 }, { 0x180E, 0x180E },
		{ 0x2000, 0x200F }, { 0x2028, 0x202F }, { 0x205F, 0x2064 }, { 0x2066, 0x206F },
		{ 0x3000, 0x3000 }, { 0xD800, 0xF8FF }, { 0xFEFF, 0xFEFF }, { 0xFFF9, 0xFFFB },
		{ 0xFFFE, 0xFFFF }, { 0x110BD, 0x110BD }, { 0x1BCA0, 0x1BCA3 }, { 0x1D173, 0x1D17A },
		{ 0xE0000, 0xE0FFF }, { 0xF0000, 0x10FFFF },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(no); i++)
		if (c >= no[i][0] && c <= no[i][1])
			return false;
	return c < 0x80 || wide_class(c, 3);
}

uint32_t tm_upper(uint32_t c)
{
	if (c < 0x80)
		return c >= 'a' && c <= 'z' ? c - 32 : c;
	if (c >= 0xD800 && c <= 0xDFFF)
		return c;
	pthread_once(&utf8_once, utf8_locale_init);
	return utf8_locale ? (uint32_t)towupper_l((wint_t)c, utf8_locale) : c;
}

uint32_t tm_lower(uint32_t c)
{
	if (c < 0x80)
		return c >= 'A' && c <= 'Z' ? c + 32 : c;
	if (c >= 0xD800 && c <= 0xDFFF)
		return c;
	pthread_once(&utf8_once, utf8_locale_init);
	return utf8_locale ? (uint32_t)towlower_l((wint_t)c, utf8_locale) : c;
}

/* ---------------------------------------------------------------- containers */
tm_list *tm_list_new(tm_arena *a, size_t n)
{
	if (n > SIZE_MAX / sizeof(val) / 2)
		return NULL;
	tm_list *l = tm_zalloc(a, sizeof *l);
	if (!l)
		return NULL;
	l->n = n;
	l->kind = L_LIST;
	l->v = tm_zalloc(a, n * sizeof(val));
	return l->v ? l : NULL;
}

tm_dict *tm_dict_new(tm_arena *a, size_t cap)
{
	tm_dict *d = tm_zalloc(a, sizeof *d);
	if (!d || cap > SIZE_MAX / sizeof(val) / 2)
		return NULL;
	if (cap) {
		d->k = tm_alloc(a, cap * sizeof(val));
		d->v = tm_alloc(a, cap * sizeof(val));
		if (!d->k || !d->v)
			return NULL;
		d->cap = cap;
	}
	return d;
}

bool tm_hashable(val v)
{
	switch (v.t) {
	case V_DICT: case V_NS: case V_LOOP: return false;
	case V_LIST:
		if (v.l->kind == L_LIST || TM_L_VIEW(v.l->kind))
			return false;
		if (v.l->kind == L_TUPLE)
			for (size_t i = 0; i < v.l->n; i++)
				if (!tm_hashable(v.l->v[i]))
					return false;
		return true;
	default: return true;
	}
}

long tm_dict_find(const tm_dict *d, val k)
{
	TM_WORK(16 * d->n);
	for (size_t i = 0; i < d->n; i++)
		if (tm_eq(d->k[i], k, 0))
			return (long)i;
	return -1;
}

long tm_dict_find_str(const tm_dict *d, tm_str k)
{
	TM_WORK(4 * d->n);
	for (size_t i = 0; i < d->n; i++)
		if (d->k[i].t == V_STR && tm_str_eqs(d->k[i].s, k))
			return (long)i;
	return -1;
}

bool tm_dict_set(tm_arena *a, tm_dict *d, val k, val v)
{
	long i = tm_dict_find(d, k);
	if (i >= 0) {
		d->v[i] = v;
		return true;
	}
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 4;
		val *nk = tm_grow(a, d->k, d->cap * sizeof(val), cap * sizeof(val));
		val *nv = nk ? tm_grow(a, d->v, d->cap * sizeof(val), cap * sizeof(val)) : NULL;
		if (!nv)
			return false;
		d->k = nk;
		d->v = nv;
		d->cap = cap;
	}
	d->k[d->n] = k;
	d->v[d->n++] = v;
	return true;
}

/* ---------------------------------------------------------------- truth, equality, order */
static const char *const list_names[] = {
	[L_LIST] = "list", [L_TUPLE] = "tuple", [L_RANGE] = "range", [L_GEN] = "generator",
	[L_LISTREV] = "list_reverseiterator", [L_REV] = "reversed", [L_DICTREV] = "dict_reversekeyiterator",
	[L_ITEMS] = "dict_items", [L_KEYS] = "dict_keys", [L_VALUES] = "dict_values",
};

static const char *type_name(int t, int lk)
{
	static const char *const names[] = {
		[V_UNDEF] = "Undefined", [V_NONE] = "NoneType", [V_BOOL] = "bool", [V_INT] = "int",
		[V_FLOAT] = "float", [V_STR] = "str", [V_LIST] = "list", [V_DICT] = "dict", [V_NS] = "Namespace",
		[V_MACRO] = "Macro", [V_FUNC] = "function", [V_METHOD] = "builtin_function_or_method",
		[V_LOOP] = "LoopContext",
	};
	if (t == V_LIST)
		return lk >= 0 && lk < (int)SH_ARRAY_LEN(list_names) ? list_names[lk] : "list";
	return t >= 0 && t < (int)SH_ARRAY_LEN(names) ? names[t] : "object";
}

const char *tm_type_name(val v)
{
	return type_name(v.t, v.t == V_LIST ? v.l->kind : 0);
}

const char *tm_undef_obj_desc(val u)
{
	switch (u.uobj) {
	case V_NONE: return "None";
	case V_NS: return "jinja2.utils.Namespace object";
	case V_LOOP: return "jinja2.runtime.LoopContext object";
	case V_MACRO: return "jinja2.runtime.Macro object";
	case V_BOOL: return "bool object";
	case V_INT: return "int object";
	case V_FLOAT: return "float object";
	case V_STR: return "str object";
	case V_DICT: return "dict object";
	case V_FUNC: return "function object";
	case V_METHOD: return "builtin_function_or_method object";
	case V_LIST:
		switch (u.ulist) {
		case L_TUPLE: return "tuple object";
		case L_RANGE: return "range object";
		case L_GEN: return "generator object";
		case L_LISTREV: return "list_reverseiterator object";
		case L_REV: return "reversed object";
		case L_DICTREV: return "dict_reversekeyiterator object";
		case L_ITEMS: return "dict_items object";
		case L_KEYS: return "dict_keys object";
		case L_VALUES: return "dict_values object";
		default: return "list object";
		}
	default: return "object";
	}
}

bool tm_truthy(val v)
{
	switch (v.t) {
	case V_UNDEF: case V_NONE: return false;
	case V_BOOL: return v.b;
	case V_INT: return v.i != 0;
	case V_FLOAT: return v.f != 0;
	case V_STR: return v.s.n != 0;
	case V_LIST: return TM_L_ITER(v.l->kind) || v.l->n != 0;
	case V_DICT: return v.d->n != 0;
	case V_LOOP: return v.loop->items->n != 0;
	default: return true;
	}
}

static bool is_num(val v) { return v.t == V_BOOL || v.t == V_INT || v.t == V_FLOAT; }
static int64_t inum(val v) { return v.t == V_INT ? v.i : v.b; }

/* int == float exactly, as Python compares them (no rounding of the int) */
static int cmp_int_float(int64_t i, double f)
{
	if (isnan(f))
		return 2; /* unordered */
	if (f >= 9223372036854775808.0)
		return -1;
	if (f < -9223372036854775808.0)
		return 1;
	double t = trunc(f);
	int64_t ti = (int64_t)t;
	if (i != ti)
		return i < ti ? -1 : 1;
	return f > t ? -1 : f < t ? 1 : 0;
}

static int num_cmp(val a, val b)
{
	if (a.t != V_FLOAT && b.t != V_FLOAT)
		return (inum(a) > inum(b)) - (inum(a) < inum(b));
	if (a.t != V_FLOAT)
		return cmp_int_float(inum(a), b.f);
	if (b.t != V_FLOAT) {
		int c = cmp_int_float(inum(b), a.f);
		return c == 2 ? 2 : -c;
	}
	if (isnan(a.f) || isnan(b.f))
		return 2;
	return (a.f > b.f) - (a.f < b.f);
}

static bool list_seq(const tm_list *l) { return l->kind == L_LIST || l->kind == L_TUPLE || l->kind == L_RANGE; }

bool tm_eq(val a, val b, int depth)
{
	if (depth > TM_MAX_VALUE_DEPTH)
		return false;
	TM_WORK(16);
	if (is_num(a) && is_num(b))
		return num_cmp(a, b) == 0;
	if (a.t != b.t)
		return false;
	switch (a.t) {
	case V_UNDEF: case V_NONE: return true;
	case V_STR: TM_WORK(SH_MIN(a.s.n, b.s.n)); return tm_str_eqs(a.s, b.s);
	case V_LIST:
		if (a.l == b.l)
			return true;
		if (a.l->kind != b.l->kind || !(list_seq(a.l) || a.l->kind == L_KEYS || a.l->kind == L_ITEMS))
			return false;
		if (a.l->n != b.l->n)
			return false;
		if (a.l->kind == L_KEYS || a.l->kind == L_ITEMS) { /* set-like: same members */
			for (size_t i = 0; i < a.l->n; i++) {
				bool found = false;
				for (size_t j = 0; j < b.l->n && !found; j++)
					found = tm_eq(a.l->v[i], b.l->v[j], depth + 1);
				if (!found)
					return false;
			}
			return true;
		}
		for (size_t i = 0; i < a.l->n; i++)
			if (!tm_eq(a.l->v[i], b.l->v[i], depth + 1))
				return false;
		return true;
	case V_DICT:
		if (a.d->n != b.d->n)
			return false;
		for (size_t i = 0; i < a.d->n; i++) {
			long j = tm_dict_find(b.d, a.d->k[i]);
			if (j < 0 || !tm_eq(a.d->v[i], b.d->v[j], depth + 1))
				return false;
		}
		return true;
	case V_NS: return a.d == b.d;
	case V_MACRO: return a.mac == b.mac;
	case V_FUNC: return a.fn == b.fn;
	case V_METHOD: return a.meth->id == b.meth->id && tm_eq(a.meth->self, b.meth->self, depth + 1);
	case V_LOOP: return a.loop == b.loop;
	default: return false;
	}
}

static int cmp_depth(val a, val b, bool *err, int depth)
{
	if (depth > TM_MAX_VALUE_DEPTH) {
		*err = true;
		return 0;
	}
	if (is_num(a) && is_num(b)) {
		return num_cmp(a, b); /* 2: unordered (nan) */
	}
	TM_WORK(16);
	if (a.t == V_STR && b.t == V_STR) {
		size_t n = SH_MIN(a.s.n, b.s.n);
		TM_WORK(n);
		int c = n ? memcmp(a.s.p, b.s.p, n) : 0;
		if (c)
			return c < 0 ? -1 : 1;
		return (a.s.n > b.s.n) - (a.s.n < b.s.n);
	}
	if (a.t == V_LIST && b.t == V_LIST && a.l->kind == b.l->kind && (a.l->kind == L_LIST || a.l->kind == L_TUPLE)) {
		for (size_t i = 0; i < a.l->n && i < b.l->n; i++) {
			if (tm_eq(a.l->v[i], b.l->v[i], depth + 1))
				continue;
			return cmp_depth(a.l->v[i], b.l->v[i], err, depth + 1);
		}
		return (a.l->n > b.l->n) - (a.l->n < b.l->n);
	}
	*err = true;
	return 0;
}

int tm_cmp(val a, val b, bool *err)
{
	*err = false;
	return cmp_depth(a, b, err, 0);
}

/* ---------------------------------------------------------------- str() and repr() */
bool tm_float_repr(tm_buf *b, double f)
{
	if (isnan(f))
		return tm_buf_adds(b, "nan");
	if (isinf(f))
		return tm_buf_adds(b, f < 0 ? "-inf" : "inf");
	char e[40];
	int prec;
	for (prec = 1; prec <= 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec - 1, f);
		if (strtod(e, NULL) == f)
			break;
	}
	/* e = [-]d[.ddd]e[+-]xx: the shortest digits that round-trip, as Python's repr finds them */
	char digits[24];
	int nd = 0, exp;
	const char *p = e;
	bool neg = *p == '-';
	if (neg)
		p++;
	for (; *p && *p != 'e' && nd < (int)sizeof digits; p++)
		if (*p != '.')
			digits[nd++] = *p;
	exp = atoi(p + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	char out[64];
	int k = 0;
	if (neg)
		out[k++] = '-';
	if (exp < -4 || exp >= 16) {
		out[k++] = digits[0];
		if (nd > 1) {
			out[k++] = '.';
			for (int i = 1; i < nd; i++)
				out[k++] = digits[i];
		}
		k += snprintf(out + k, sizeof out - (size_t)k, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	} else if (exp < 0) {
		out[k++] = '0';
		out[k++] = '.';
		for (int i = 0; i < -exp - 1; i++)
			out[k++] = '0';
		for (int i = 0; i < nd; i++)
			out[k++] = digits[i];
	} else {
		for (int i = 0; i <= exp; i++)
			out[k++] = i < nd ? digits[i] : '0';
		out[k++] = '.';
		if (nd > exp + 1)
			for (int i = exp + 1; i < nd; i++)
				out[k++] = digits[i];
		else
			out[k++] = '0';
	}
	return tm_buf_add(b, out, (size_t)k);
}

static bool str_repr(tm_buf *b, tm_str s)
{
	bool sq = s.n && memchr(s.p, '\'', s.n), dq = s.n && memchr(s.p, '"', s.n);
	char q = sq && !dq ? '"' : '\'';
	tm_buf_addc(b, q);
	for (size_t i = 0; i < s.n;) {
		uint32_t cp;
		size_t n = tm_utf8_decode(s.p + i, s.n - i, &cp);
		if (cp == '\\' || cp == (uint32_t)q)
			tm_buf_addc(b, '\\'), tm_buf_addc(b, (char)cp);
		else if (cp == '\n')
			tm_buf_adds(b, "\\n");
		else if (cp == '\r')
			tm_buf_adds(b, "\\r");
		else if (cp == '\t')
			tm_buf_adds(b, "\\t");
		else if (tm_is_printable(cp))
			tm_buf_add(b, s.p + i, n);
		else if (cp < 0x100)
			tm_buf_printf(b, "\\x%02x", cp);
		else if (cp < 0x10000)
			tm_buf_printf(b, "\\u%04x", cp);
		else
			tm_buf_printf(b, "\\U%08x", cp);
		i += n;
	}
	return tm_buf_addc(b, q);
}

static bool items_repr(tm_buf *b, const tm_list *l, const char *open, const char *close, int depth)
{
	tm_buf_adds(b, open);
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			tm_buf_adds(b, ", ");
		if (!tm_repr(b, l->v[i], depth + 1))
			return false;
	}
	if (l->kind == L_TUPLE && l->n == 1)
		tm_buf_addc(b, ',');
	return tm_buf_adds(b, close);
}

bool tm_repr(tm_buf *b, val v, int depth)
{
	if (depth > TM_MAX_VALUE_DEPTH)
		return false;
	switch (v.t) {
	case V_STR:
		return str_repr(b, v.s);
	case V_UNDEF:
		return tm_buf_adds(b, "Undefined");
	case V_LIST:
		switch (v.l->kind) {
		case L_LIST: return items_repr(b, v.l, "[", "]", depth);
		case L_TUPLE: return items_repr(b, v.l, "(", ")", depth);
		case L_ITEMS: return items_repr(b, v.l, "dict_items([", "])", depth);
		case L_KEYS: return items_repr(b, v.l, "dict_keys([", "])", depth);
		case L_VALUES: return items_repr(b, v.l, "dict_values([", "])", depth);
		case L_RANGE:
			if (v.l->rs == 1)
				return tm_buf_printf(b, "range(%lld, %lld)", (long long)v.l->r0, (long long)v.l->r1);
			return tm_buf_printf(b, "range(%lld, %lld, %lld)", (long long)v.l->r0, (long long)v.l->r1, (long long)v.l->rs);
		case L_GEN:
			return tm_buf_printf(b, "<generator object at %p>", (void *)v.l);
		default:
			return tm_buf_printf(b, "<%s object at %p>", tm_type_name(v), (void *)v.l);
		}
	case V_DICT:
		tm_buf_addc(b, '{');
		for (size_t i = 0; i < v.d->n; i++) {
			if (i)
				tm_buf_adds(b, ", ");
			if (!tm_repr(b, v.d->k[i], depth + 1))
				return false;
			tm_buf_adds(b, ": ");
			if (!tm_repr(b, v.d->v[i], depth + 1))
				return false;
		}
		return tm_buf_addc(b, '}');
	case V_NS:
		return tm_buf_printf(b, "<jinja2.utils.Namespace object at %p>", (void *)v.d);
	default:
		return tm_to_str(b, v);
	}
}

bool tm_to_str(tm_buf *b, val v)
{
	switch (v.t) {
	case V_UNDEF: return b->ok;
	case V_NONE: return tm_buf_adds(b, "None");
	case V_BOOL: return tm_buf_adds(b, v.b ? "True" : "False");
	case V_INT: return tm_buf_printf(b, "%lld", (long long)v.i);
	case V_FLOAT: return tm_float_repr(b, v.f);
	case V_STR: return tm_buf_add(b, v.s.p, v.s.n);
	case V_MACRO: return tm_buf_printf(b, "<Macro '%.*s'>", (int)SH_MIN(v.mac->n->name.n, 100), v.mac->n->name.p);
	case V_FUNC: return tm_buf_printf(b, "<function %s>", tm_global_name(v.fn));
	case V_METHOD:
		return tm_buf_printf(b, "<built-in method %s of %s object>", tm_method_name(v.meth->id), tm_type_name(v.meth->self));
	case V_LOOP: return tm_buf_printf(b, "<LoopContext %zu/%zu>", v.loop->i + 1, v.loop->items->n);
	default: return tm_repr(b, v, 0);
	}
}

/* ---------------------------------------------------------------- JSON */
static bool json_str(tm_buf *b, tm_str s, bool ascii)
{
	tm_buf_addc(b, '"');
	for (size_t i = 0; i < s.n;) {
		uint32_t cp;
		size_t n = tm_utf8_decode(s.p + i, s.n - i, &cp);
		switch (cp) {
		case '"': tm_buf_adds(b, "\\\""); break;
		case '\\': tm_buf_adds(b, "\\\\"); break;
		case '\n': tm_buf_adds(b, "\\n"); break;
		case '\r': tm_buf_adds(b, "\\r"); break;
		case '\t': tm_buf_adds(b, "\\t"); break;
		case '\b': tm_buf_adds(b, "\\b"); break;
		case '\f': tm_buf_adds(b, "\\f"); break;
		default:
			if (cp < 0x20 || (ascii && cp == 0x7F))
				tm_buf_printf(b, "\\u%04x", cp);
			else if (ascii && cp >= 0x10000)
				tm_buf_printf(b, "\\u%04x\\u%04x", 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF));
			else if (ascii && cp >= 0x80)
				tm_buf_printf(b, "\\u%04x", cp);
			else
				tm_buf_add(b, s.p + i, n);
		}
		i += n;
	}
	return tm_buf_addc(b, '"');
}

typedef struct { tm_buf *b; const tm_json_opts *o; tm_str isep, ksep; const char **bad; } json_w;

static bool newline_indent(const json_w *w, int level)
{
	tm_buf_addc(w->b, '\n');
	for (int i = 0; i < level; i++)
		tm_buf_add(w->b, w->o->indent->p, w->o->indent->n);
	return w->b->ok;
}

/* a dict key as json.dumps writes it; false for types it rejects */
static bool json_key(const json_w *w, val k)
{
	tm_buf *b = w->b;
	switch (k.t) {
	case V_STR: return json_str(b, k.s, w->o->ensure_ascii);
	case V_INT: return tm_buf_printf(b, "\"%lld\"", (long long)k.i);
	case V_BOOL: return tm_buf_adds(b, k.b ? "\"true\"" : "\"false\"");
	case V_NONE: return tm_buf_adds(b, "\"null\"");
	case V_FLOAT:
		tm_buf_addc(b, '"');
		if (isnan(k.f))
			tm_buf_adds(b, "NaN");
		else if (isinf(k.f))
			tm_buf_adds(b, k.f < 0 ? "-Infinity" : "Infinity");
		else
			tm_float_repr(b, k.f);
		return tm_buf_addc(b, '"');
	default:
		*w->bad = "keys must be str, int, float, bool or None";
		return false;
	}
}

static bool json_val(const json_w *w, val v, int level)
{
	tm_buf *b = w->b;
	bool ind = w->o->indent != NULL;
	if (level > TM_MAX_VALUE_DEPTH) {
		*w->bad = "a value nested too deeply";
		return false;
	}
	switch (v.t) {
	case V_NONE: return tm_buf_adds(b, "null");
	case V_BOOL: return tm_buf_adds(b, v.b ? "true" : "false");
	case V_INT: return tm_buf_printf(b, "%lld", (long long)v.i);
	case V_FLOAT:
		if (isnan(v.f))
			return tm_buf_adds(b, "NaN");
		if (isinf(v.f))
			return tm_buf_adds(b, v.f < 0 ? "-Infinity" : "Infinity");
		return tm_float_repr(b, v.f);
	case V_STR: return json_str(b, v.s, w->o->ensure_ascii);
	case V_LIST:
		if (v.l->kind != L_LIST && v.l->kind != L_TUPLE) {
			*w->bad = tm_type_name(v);
			return false;
		}
		if (!v.l->n)
			return tm_buf_adds(b, "[]");
		tm_buf_addc(b, '[');
		for (size_t i = 0; i < v.l->n; i++) {
			if (i)
				tm_buf_add(b, w->isep.p, w->isep.n);
			if (ind)
				newline_indent(w, level + 1);
			if (!json_val(w, v.l->v[i], level + 1))
				return false;
		}
		if (ind)
			newline_indent(w, level);
		return tm_buf_addc(b, ']');
	case V_DICT: {
		const tm_dict *d = v.d;
		if (!d->n)
			return tm_buf_adds(b, "{}");
		size_t *order = tm_alloc(b->a, d->n * sizeof *order);
		if (!order)
			return b->ok = false;
		for (size_t i = 0; i < d->n; i++)
			order[i] = i;
		if (w->o->sort_keys) { /* insertion sort: stable, and dicts here are small */
			for (size_t i = 1; i < d->n; i++) {
				for (size_t j = i; j > 0; j--) {
					bool err;
					int c = tm_cmp(d->k[order[j - 1]], d->k[order[j]], &err);
					if (err) {
						*w->bad = "keys of different types (sort_keys)";
						return false;
					}
					if (c != 1)
						break;
					size_t t = order[j];
					order[j] = order[j - 1];
					order[j - 1] = t;
				}
			}
		}
		tm_buf_addc(b, '{');
		for (size_t i = 0; i < d->n; i++) {
			if (i)
				tm_buf_add(b, w->isep.p, w->isep.n);
			if (ind)
				newline_indent(w, level + 1);
			if (!json_key(w, d->k[order[i]]))
				return false;
			tm_buf_add(b, w->ksep.p, w->ksep.n);
			if (!json_val(w, d->v[order[i]], level + 1))
				return false;
		}
		if (ind)
			newline_indent(w, level);
		return tm_buf_addc(b, '}');
	}
	default:
		*w->bad = tm_type_name(v);
		return false;
	}
}

bool tm_to_json(tm_buf *b, val v, const tm_json_opts *o, const char **bad)
{
	json_w w = { b, o, o->indent ? TM_S(",") : TM_S(", "), TM_S(": "), bad };
	if (o->item_sep)
		w.isep = *o->item_sep;
	if (o->key_sep)
		w.ksep = *o->key_sep;
	*bad = NULL;
	return json_val(&w, v, 0) && b->ok;
}

bool tm_from_json(tm_arena *a, const json_t *j, val *out, int depth)
{
	if (depth > TM_MAX_VALUE_DEPTH)
		return false;
	switch (json_typeof(j)) {
	case JSON_NULL: *out = v_none(); return true;
	case JSON_TRUE: *out = v_bool(true); return true;
	case JSON_FALSE: *out = v_bool(false); return true;
	case JSON_INTEGER: *out = v_int((int64_t)json_integer_value(j)); return true;
	case JSON_REAL: *out = v_float(json_real_value(j)); return true;
	case JSON_STRING: *out = v_str(json_string_value(j), json_string_length(j)); return true;
	case JSON_ARRAY: {
		tm_list *l = tm_list_new(a, json_array_size(j));
		if (!l)
			return false;
		for (size_t i = 0; i < l->n; i++)
			if (!tm_from_json(a, json_array_get(j, i), &l->v[i], depth + 1))
				return false;
		*out = v_list(l);
		return true;
	}
	case JSON_OBJECT: {
		tm_dict *d = tm_dict_new(a, json_object_size(j));
		const char *k;
		json_t *x;
		if (!d)
			return false;
		json_object_foreach((json_t *)j, k, x) {
			val v;
			if (!tm_from_json(a, x, &v, depth + 1))
				return false;
			/* keys are unique in a JSON object: append without a lookup */
			d->k[d->n] = v_str(k, strlen(k));
			d->v[d->n++] = v;
		}
		*out = v_dict(d);
		return true;
	}
	}
	return false;
}
