/*
 * tmpl_eval.c - the evaluator: walks the tree of one template with one set of variables.
 *
 * Scopes follow jinja2's frames as its compiler lays them out: the template's top level is one
 * scope; a for loop's body, a macro call, a with block, a block and the bodies of {% set %} and
 * {% filter %} blocks each get a child scope, so a `set` inside them is invisible outside (hence
 * namespace()). A loop body's scope starts empty on every iteration, as jinja2 re-resolves the
 * names a body assigns at the top of each pass. A name is looked up through the scope chain,
 * then among the globals (range, namespace, raise_exception, strftime_now, ...).
 *
 * Undefined is jinja2's default Undefined: printing it gives "", iterating it gives nothing, it
 * is false and equal only to another undefined; arithmetic, attribute access, calls, indexing
 * and ordering comparisons on it raise its message ("'x' is undefined", "'dict object' has no
 * attribute 'y'", ...). Attribute and item access follow the sandbox's getattr/getitem: a
 * dict's methods win over its keys for `d.items`, keys win for `d['items']`, and a missing
 * attribute or key is an undefined, not an error.
 *
 * Arithmetic is Python's, on 64-bit integers: a result that would need a bigger integer is an
 * error ("integer overflow") where Python would keep going. break/continue travel as a pending
 * jump that each body checks after every statement.
 *
 * Limits: every statement, expression and loop pass is a step (tm_step); the nesting of
 * evaluation is capped (TM_MAX_DEPTH) so recursion through macros cannot exhaust the C stack;
 * every buffer shares one output budget and everything lives in one capped arena.
 */
#define _GNU_SOURCE /* memmem, strftime_l */
#include "template/tmpl_impl.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- errors */
static void set_err(tm_ctx *c, const char *fmt, va_list ap)
{
	int k = snprintf(c->err, c->errlen, "line %d: ", c->line);
	if (k >= 0 && (size_t)k < c->errlen)
		vsnprintf(c->err + k, c->errlen - (size_t)k, fmt, ap);
}

bool tm_fail(tm_ctx *c, const char *fmt, ...)
{
	if (c->failed)
		return false;
	c->failed = true;
	va_list ap;
	va_start(ap, fmt);
	set_err(c, fmt, ap);
	va_end(ap);
	return false;
}

bool tm_raise(tm_ctx *c, tm_str msg)
{
	if (c->failed)
		return false;
	if (!msg.n)
		return tm_fail(c, "raise_exception() with an empty message");
	c->failed = true;
	if (!c->errlen)
		return false;
	/* the message as it is, but a NUL byte (which would end it early) written as \x00; cut at a
	 * character boundary when it does not fit */
	size_t k = 0;
	for (size_t i = 0; i < msg.n; i++) {
		size_t need = msg.p[i] ? 1 : 4;
		if (k + need >= c->errlen) {
			if (((unsigned char)msg.p[i] & 0xC0) == 0x80) { /* mid-character: drop its first bytes */
				while (k > 0 && ((unsigned char)c->err[k - 1] & 0xC0) == 0x80)
					k--;
				if (k > 0 && (unsigned char)c->err[k - 1] >= 0xC0)
					k--;
			}
			break;
		}
		if (msg.p[i])
			c->err[k++] = msg.p[i];
		else
			memcpy(c->err + k, "\\x00", 4), k += 4;
	}
	c->err[k] = '\0';
	return false;
}

bool tm_fail_mem(tm_ctx *c)
{
	c->limit_hit = true;
	if (!c->out_budget)
		return tm_fail(c, "output too large (more than %zu bytes)", c->max_output);
	return tm_fail(c, "out of memory (the render needed more than %zu bytes)", c->a.limit);
}

bool tm_fail_undef(tm_ctx *c, val u)
{
	if (c->failed)
		return false;
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	switch (u.ukind) {
	case U_NAME:
		tm_repr(&b, v_strs(u.s), 0);
		tm_buf_adds(&b, " is undefined");
		break;
	case U_ATTR:
		tm_buf_printf(&b, "'%s' has no attribute ", tm_undef_obj_desc(u));
		tm_repr(&b, v_strs(u.s), 0);
		break;
	case U_ITEM:
		tm_buf_printf(&b, "%s has no element ", tm_undef_obj_desc(u));
		tm_buf_add(&b, u.s.p, u.s.n);
		break;
	default:
		tm_buf_add(&b, u.s.p, u.s.n);
		break;
	}
	if (!b.ok)
		return tm_fail(c, "undefined value used");
	return tm_fail(c, "%.*s", (int)SH_MIN(b.n, 1000), b.p);
}

bool tm_step(tm_ctx *c)
{
	c->steps += 1 + (tm_work >> 6);
	tm_work &= 63;
	if (c->steps <= c->max_steps)
		return true;
	c->limit_hit = true;
	return tm_fail(c, "the template took more than %llu steps", (unsigned long long)c->max_steps);
}

/* ---------------------------------------------------------------- scopes */
static tm_scope *scope_new(tm_ctx *c, tm_scope *parent)
{
	tm_scope *s = tm_zalloc(&c->a, sizeof *s);
	if (!s) {
		tm_fail_mem(c);
		return NULL;
	}
	s->parent = parent;
	return s;
}

static bool scope_set(tm_ctx *c, tm_scope *s, tm_str k, val v)
{
	for (size_t i = 0; i < s->n; i++)
		if (tm_str_eqs(s->k[i], k)) {
			s->v[i] = v;
			return true;
		}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		tm_str *nk = tm_grow(&c->a, s->k, s->cap * sizeof *nk, cap * sizeof *nk);
		val *nv = nk ? tm_grow(&c->a, s->v, s->cap * sizeof *nv, cap * sizeof *nv) : NULL;
		if (!nv)
			return tm_fail_mem(c);
		s->k = nk;
		s->v = nv;
		s->cap = cap;
	}
	s->k[s->n] = k;
	s->v[s->n++] = v;
	return true;
}

static bool scope_get(const tm_scope *s, tm_str k, val *out)
{
	for (; s; s = s->parent)
		for (size_t i = 0; i < s->n; i++)
			if (tm_str_eqs(s->k[i], k)) {
				*out = s->v[i];
				return true;
			}
	return false;
}

static bool lookup(tm_ctx *c, tm_str name, val *out)
{
	if (scope_get(c->cur, name, out))
		return true;
	int fn = tm_global_find(name);
	if (fn >= 0) {
		*out = (val){ .t = V_FUNC, .fn = fn };
		return true;
	}
	*out = (val){ .t = V_UNDEF, .ukind = U_NAME, .s = name };
	return true;
}

/* ---------------------------------------------------------------- small helpers */
bool tm_new_str(tm_ctx *c, const char *p, size_t n, val *out)
{
	char *s = tm_alloc(&c->a, n + 1);
	if (!s)
		return tm_fail_mem(c);
	if (n)
		memcpy(s, p, n);
	s[n] = '\0';
	*out = v_str(s, n);
	return true;
}

bool tm_str_of(tm_ctx *c, val v, tm_str *out)
{
	if (v.t == V_STR) {
		*out = v.s;
		return true;
	}
	if (v.t == V_UNDEF) {
		*out = TM_S("");
		return true;
	}
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	if (!tm_to_str(&b, v))
		return b.ok ? tm_fail(c, "a value nested too deeply to print") : tm_fail_mem(c);
	*out = tm_buf_str(&b);
	return true;
}

static val undef_of(val obj, int kind, tm_str s)
{
	val u = { .t = V_UNDEF, .ukind = (uint8_t)kind, .uobj = obj.t, .s = s };
	if (obj.t == V_LIST)
		u.ulist = obj.l->kind;
	return u;
}

/* the undefined of a missing key: "has no attribute 'k'" for str keys, else "has no element" */
static bool undef_key(tm_ctx *c, val obj, val key, val *out)
{
	if (key.t == V_STR) {
		*out = undef_of(obj, U_ATTR, key.s);
		return true;
	}
	tm_buf b;
	tm_buf_init(&b, &c->a, NULL);
	if (!tm_repr(&b, key, 0))
		return b.ok ? tm_fail(c, "a value nested too deeply to print") : tm_fail_mem(c);
	*out = undef_of(obj, U_ITEM, tm_buf_str(&b));
	return true;
}

static bool is_seq(val v) { return v.t == V_LIST && (v.l->kind == L_LIST || v.l->kind == L_TUPLE || v.l->kind == L_RANGE); }
static bool is_intlike(val v) { return v.t == V_INT || v.t == V_BOOL; }
static int64_t ival(val v) { return v.t == V_INT ? v.i : v.b; }

bool tm_len(tm_ctx *c, val v, int64_t *out)
{
	switch (v.t) {
	case V_UNDEF: *out = 0; return true;
	case V_STR: *out = (int64_t)tm_utf8_len(v.s); return true;
	case V_DICT: *out = (int64_t)v.d->n; return true;
	case V_LOOP: *out = (int64_t)v.loop->items->n; return true;
	case V_LIST:
		if (!TM_L_ITER(v.l->kind)) {
			*out = (int64_t)v.l->n;
			return true;
		}
		break;
	default: break;
	}
	return tm_fail(c, "object of type '%s' has no len()", tm_type_name(v));
}

/* the code points of s as a list of one-character strings */
static bool str_chars(tm_ctx *c, tm_str s, tm_list **out)
{
	size_t n = tm_utf8_len(s);
	tm_list *l = tm_list_new(&c->a, n);
	if (!l)
		return tm_fail_mem(c);
	uint32_t cp = 0;
	for (size_t i = 0, k = 0; i < s.n; k++) {
		size_t len = tm_utf8_decode(s.p + i, s.n - i, &cp);
		l->v[k] = v_str(s.p + i, len);
		i += len;
	}
	*out = l;
	return true;
}

bool tm_iterate(tm_ctx *c, val v, tm_list **out)
{
	static tm_list empty = { .kind = L_LIST };
	switch (v.t) {
	case V_UNDEF:
		*out = &empty;
		return true;
	case V_LIST:
		if (TM_L_ITER(v.l->kind)) {
			tm_list *l = tm_list_new(&c->a, 0);
			if (!l)
				return tm_fail_mem(c);
			l->n = v.l->n - v.l->pos;
			l->v = v.l->v + v.l->pos;
			v.l->pos = v.l->n; /* used up */
			*out = l;
			return true;
		}
		*out = v.l;
		return true;
	case V_DICT: {
		tm_list *l = tm_list_new(&c->a, v.d->n);
		if (!l)
			return tm_fail_mem(c);
		TM_WORK(v.d->n * sizeof(val));
		if (v.d->n)
			memcpy(l->v, v.d->k, v.d->n * sizeof(val));
		*out = l;
		return true;
	}
	case V_STR:
		return str_chars(c, v.s, out);
	default:
		return tm_fail(c, "'%s' object is not iterable", tm_type_name(v));
	}
}

/* ---------------------------------------------------------------- arguments */
bool tm_bind(tm_ctx *c, const char *what, const char *const *names, int np, const tm_args *a, val *out)
{
	for (int i = 0; i < np; i++)
		out[i] = (val){ .t = V_UNDEF, .ukind = 0xFF };
	if (a->n > np)
		return tm_fail(c, "%s() takes at most %d argument%s (%d given)", what, np, np == 1 ? "" : "s", a->n);
	for (int i = 0; i < a->n; i++)
		out[i] = a->v[i];
	for (int k = 0; k < a->nkw; k++) {
		int j = 0;
		while (j < np && !tm_str_eq(a->kwn[k], names[j]))
			j++;
		if (j == np)
			return tm_fail(c, "%s() got an unexpected keyword argument '%.*s'", what, (int)SH_MIN(a->kwn[k].n, 60),
				       a->kwn[k].p);
		if (tm_given(out[j]))
			return tm_fail(c, "%s() got multiple values for argument '%s'", what, names[j]);
		out[j] = a->kwv[k];
	}
	return true;
}

/* ---------------------------------------------------------------- attributes, items, slices */
bool tm_getattr(tm_ctx *c, val obj, tm_str name, val *out)
{
	long i = 0;
	int m = 0;
	switch (obj.t) {
	case V_UNDEF:
		return tm_fail_undef(c, obj);
	case V_LOOP:
		return tm_loop_attr(c, obj.loop, name, out);
	case V_NS:
		if ((i = tm_dict_find_str(obj.d, name)) >= 0) {
			*out = obj.d->v[i];
			return true;
		}
		break;
	case V_MACRO:
		if (tm_str_eq(name, "name")) {
			*out = v_strs(obj.mac->n->name);
			return true;
		}
		break;
	default:
		break;
	}
	if ((m = tm_method_find(obj, name)) >= 0) {
		tm_method *meth = tm_alloc(&c->a, sizeof *meth);
		if (!meth)
			return tm_fail_mem(c);
		meth->self = obj;
		meth->id = m;
		*out = (val){ .t = V_METHOD, .meth = meth };
		return true;
	}
	if (m == -2) { /* a mutating method: the immutable sandbox's unsafe undefined */
		tm_buf b;
		tm_buf_init(&b, &c->a, NULL);
		tm_buf_printf(&b, "access to attribute '%.*s' of '%s' object is unsafe.", (int)SH_MIN(name.n, 60), name.p,
			      tm_type_name(obj));
		if (!b.ok)
			return tm_fail_mem(c);
		*out = (val){ .t = V_UNDEF, .ukind = U_HINT, .s = tm_buf_str(&b) };
		return true;
	}
	if (obj.t == V_DICT && (i = tm_dict_find_str(obj.d, name)) >= 0) {
		*out = obj.d->v[i];
		return true;
	}
	*out = undef_of(obj, U_ATTR, name);
	return true;
}

bool tm_getitem(tm_ctx *c, val obj, val key, val *out)
{
	if (obj.t == V_UNDEF)
		return tm_fail_undef(c, obj);
	if (obj.t == V_DICT) {
		long i = tm_hashable(key) ? tm_dict_find(obj.d, key) : -1;
		if (i >= 0) {
			*out = obj.d->v[i];
			return true;
		}
	} else if ((is_seq(obj) || obj.t == V_STR) && is_intlike(key)) {
		int64_t n = 0, k = ival(key);
		if (!tm_len(c, obj, &n))
			return false;
		if (k < 0)
			k += n;
		if (k >= 0 && k < n) {
			if (obj.t == V_LIST) {
				*out = obj.l->v[k];
				return true;
			}
			/* the k-th code point */
			size_t i = 0;
			uint32_t cp = 0;
			TM_WORK(k);
			for (int64_t j = 0; j < k; j++)
				i += tm_utf8_decode(obj.s.p + i, obj.s.n - i, &cp);
			*out = v_str(obj.s.p + i, tm_utf8_decode(obj.s.p + i, obj.s.n - i, &cp));
			return true;
		}
	}
	if (key.t == V_STR && obj.t != V_DICT) {
		if (!tm_getattr(c, obj, key.s, out))
			return false;
		if (out->t != V_UNDEF || out->ukind == U_HINT)
			return true;
	} else if (key.t == V_STR) {
		int m = tm_method_find(obj, key.s);
		if (m >= 0)
			return tm_getattr(c, obj, key.s, out);
	}
	return undef_key(c, obj, key, out);
}

/* Python's slice.indices(len): start, stop, step and the number of items */
static bool slice_indices(tm_ctx *c, int64_t len, const val *sv, int64_t *start, int64_t *stop, int64_t *step, int64_t *count,
			  bool *bad)
{
	int64_t st = 1, lo, hi, a, b;
	*bad = false;
	for (int i = 0; i < 3; i++)
		if (sv[i].t != V_NONE && !is_intlike(sv[i])) {
			*bad = true;
			return true;
		}
	if (sv[2].t != V_NONE) {
		st = ival(sv[2]);
		if (!st)
			return tm_fail(c, "slice step cannot be zero");
	}
	lo = st > 0 ? 0 : -1;
	hi = st > 0 ? len : len - 1;
	a = st < 0 ? hi : lo;
	b = st < 0 ? lo : hi;
	for (int i = 0; i < 2; i++) {
		if (sv[i].t == V_NONE)
			continue;
		int64_t x = ival(sv[i]);
		if (x < 0)
			x = x < -len ? lo : x + len;
		if (x < lo)
			x = lo;
		else if (x > hi)
			x = hi;
		if (i == 0)
			a = x;
		else
			b = x;
	}
	if (st < 0)
		*count = b < a ? (a - b - 1) / (-st) + 1 : 0;
	else
		*count = a < b ? (b - a - 1) / st + 1 : 0;
	*start = a;
	*stop = b;
	*step = st;
	return true;
}

static bool slice_val(tm_ctx *c, val obj, const val *sv, val *out)
{
	if (obj.t == V_UNDEF)
		return tm_fail_undef(c, obj);
	int64_t len = 0, start = 0, stop = 0, step = 1, count = 0;
	bool bad = false;
	if (!(is_seq(obj) || obj.t == V_STR)) {
		bad = true;
	} else {
		if (!tm_len(c, obj, &len) || !slice_indices(c, len, sv, &start, &stop, &step, &count, &bad))
			return false;
	}
	if (bad) { /* a TypeError, which the sandbox's getitem turns into an undefined */
		tm_buf b;
		tm_buf_init(&b, &c->a, NULL);
		tm_buf_adds(&b, "slice(");
		for (int i = 0; i < 3; i++) {
			if (i)
				tm_buf_adds(&b, ", ");
			tm_repr(&b, sv[i], 0);
		}
		tm_buf_addc(&b, ')');
		if (!b.ok)
			return tm_fail_mem(c);
		*out = undef_of(obj, U_ITEM, tm_buf_str(&b));
		return true;
	}
	if (obj.t == V_STR) {
		size_t *off = tm_alloc(&c->a, ((size_t)len + 1) * sizeof *off);
		if (!off)
			return tm_fail_mem(c);
		uint32_t cp = 0;
		size_t i = 0;
		for (int64_t k = 0; k < len; k++) {
			off[k] = i;
			i += tm_utf8_decode(obj.s.p + i, obj.s.n - i, &cp);
		}
		off[len] = obj.s.n;
		if (step == 1) {
			*out = v_str(obj.s.p + off[start], count ? off[start + count] - off[start] : 0);
			return true;
		}
		tm_buf b;
		tm_buf_init(&b, &c->a, NULL);
		for (int64_t k = 0, j = start; k < count; k++, j += step)
			tm_buf_add(&b, obj.s.p + off[j], off[j + 1] - off[j]);
		if (!b.ok)
			return tm_fail_mem(c);
		*out = v_strs(tm_buf_str(&b));
		return true;
	}
	tm_list *l = tm_list_new(&c->a, (size_t)count);
	if (!l)
		return tm_fail_mem(c);
	TM_WORK((size_t)count * sizeof(val));
	l->kind = obj.l->kind;
	for (int64_t k = 0, j = start; k < count; k++, j += step)
		l->v[k] = obj.l->v[j];
	if (l->kind == L_RANGE) {
		l->r0 = obj.l->r0 + start * obj.l->rs;
		l->r1 = obj.l->r0 + stop * obj.l->rs;
		l->rs = obj.l->rs * step;
	}
	*out = v_list(l);
	return true;
}

/* ---------------------------------------------------------------- operators */
static bool num_type(val v) { return v.t == V_INT || v.t == V_BOOL || v.t == V_FLOAT; }
static double fval(val v) { return v.t == V_FLOAT ? v.f : (double)ival(v); }

static bool overflow(tm_ctx *c)
{
	return tm_fail(c, "integer overflow (the result does not fit in 64 bits)");
}

static bool unsupported(tm_ctx *c, const char *op, val a, val b)
{
	return tm_fail(c, "unsupported operand type(s) for %s: '%s' and '%s'", op, tm_type_name(a), tm_type_name(b));
}

/* Python's float floor division and modulo (CPython's float_divmod) */
static void float_divmod(double vx, double wx, double *floordiv, double *mod)
{
	double m = fmod(vx, wx), div = (vx - m) / wx;
	if (m) {
		if ((wx < 0) != (m < 0)) {
			m += wx;
			div -= 1.0;
		}
	} else {
		m = copysign(0.0, wx);
	}
	double fd = 0;
	if (div) {
		fd = floor(div);
		if (div - fd > 0.5)
			fd += 1.0;
	} else {
		fd = copysign(0.0, vx / wx);
	}
	*floordiv = fd;
	*mod = m;
}

static bool repeat(tm_ctx *c, val seq, int64_t times, val *out)
{
	if (times < 0)
		times = 0;
	if (seq.t == V_STR) {
		if (times && seq.s.n > c->max_output / (uint64_t)times) {
			c->limit_hit = true;
			return tm_fail(c, "string repetition too large");
		}
		size_t n = seq.s.n * (size_t)times;
		TM_WORK(n);
		char *p = tm_alloc(&c->a, n + 1);
		if (!p)
			return tm_fail_mem(c);
		for (int64_t i = 0; i < times; i++)
			memcpy(p + (size_t)i * seq.s.n, seq.s.p, seq.s.n);
		p[n] = '\0';
		*out = v_str(p, n);
		return true;
	}
	if (times && seq.l->n > (c->a.limit / sizeof(val)) / (uint64_t)times) {
		c->limit_hit = true;
		return tm_fail(c, "list repetition too large");
	}
	tm_list *l = tm_list_new(&c->a, seq.l->n * (size_t)times);
	if (!l)
		return tm_fail_mem(c);
	TM_WORK(l->n * sizeof(val));
	l->kind = seq.l->kind;
	for (int64_t i = 0; i < times; i++)
		if (seq.l->n)
			memcpy(l->v + (size_t)i * seq.l->n, seq.l->v, seq.l->n * sizeof(val));
	*out = v_list(l);
	return true;
}

static bool ipow(tm_ctx *c, int64_t b, int64_t e, int64_t *out)
{
	int64_t r = 1;
	while (e > 0) {
		if (e & 1 && __builtin_mul_overflow(r, b, &r))
			return overflow(c);
		e >>= 1;
		if (e && __builtin_mul_overflow(b, b, &b))
			return overflow(c);
	}
	*out = r;
	return true;
}

bool tm_binop(tm_ctx *c, int op, val a, val b, val *out)
{
	if (a.t == V_UNDEF)
		return tm_fail_undef(c, a);
	if (b.t == V_UNDEF)
		return tm_fail_undef(c, b);
	char ops[3] = { (char)op, 0, 0 };
	if (op == OP_FLOORDIV)
		strcpy(ops, "//");
	else if (op == OP_POW)
		strcpy(ops, "**");
	bool num = num_type(a) && num_type(b), ints = num && a.t != V_FLOAT && b.t != V_FLOAT;
	int64_t x = ints ? ival(a) : 0, y = ints ? ival(b) : 0, r = 0;
	switch (op) {
	case '+':
		if (ints) {
			if (__builtin_add_overflow(x, y, &r))
				return overflow(c);
			*out = v_int(r);
			return true;
		}
		if (num) {
			*out = v_float(fval(a) + fval(b));
			return true;
		}
		if (a.t == V_STR && b.t == V_STR) {
			if (!b.s.n || !a.s.n) {
				*out = a.s.n ? a : b;
				return true;
			}
			char *p = tm_alloc(&c->a, a.s.n + b.s.n + 1);
			if (!p)
				return tm_fail_mem(c);
			TM_WORK(a.s.n + b.s.n);
			memcpy(p, a.s.p, a.s.n);
			memcpy(p + a.s.n, b.s.p, b.s.n);
			p[a.s.n + b.s.n] = '\0';
			*out = v_str(p, a.s.n + b.s.n);
			return true;
		}
		if (a.t == V_LIST && b.t == V_LIST && a.l->kind == b.l->kind && (a.l->kind == L_LIST || a.l->kind == L_TUPLE)) {
			tm_list *l = tm_list_new(&c->a, a.l->n + b.l->n);
			if (!l)
				return tm_fail_mem(c);
			TM_WORK((a.l->n + b.l->n) * sizeof(val));
			l->kind = a.l->kind;
			if (a.l->n)
				memcpy(l->v, a.l->v, a.l->n * sizeof(val));
			if (b.l->n)
				memcpy(l->v + a.l->n, b.l->v, b.l->n * sizeof(val));
			*out = v_list(l);
			return true;
		}
		if (a.t == V_STR || (a.t == V_LIST && (a.l->kind == L_LIST || a.l->kind == L_TUPLE)))
			return tm_fail(c, "can only concatenate %s (not \"%s\") to %s", tm_type_name(a), tm_type_name(b),
				       tm_type_name(a));
		return unsupported(c, "+", a, b);
	case '-':
		if (ints) {
			if (__builtin_sub_overflow(x, y, &r))
				return overflow(c);
			*out = v_int(r);
			return true;
		}
		if (num) {
			*out = v_float(fval(a) - fval(b));
			return true;
		}
		return unsupported(c, "-", a, b);
	case '*':
		if (ints) {
			if (__builtin_mul_overflow(x, y, &r))
				return overflow(c);
			*out = v_int(r);
			return true;
		}
		if (num) {
			*out = v_float(fval(a) * fval(b));
			return true;
		}
		if ((a.t == V_STR || (a.t == V_LIST && (a.l->kind == L_LIST || a.l->kind == L_TUPLE))) && is_intlike(b))
			return repeat(c, a, ival(b), out);
		if ((b.t == V_STR || (b.t == V_LIST && (b.l->kind == L_LIST || b.l->kind == L_TUPLE))) && is_intlike(a))
			return repeat(c, b, ival(a), out);
		if (a.t == V_STR || b.t == V_STR || a.t == V_LIST || b.t == V_LIST)
			return tm_fail(c, "can't multiply sequence by non-int of type '%s'",
				       tm_type_name(a.t == V_STR || a.t == V_LIST ? b : a));
		return unsupported(c, "*", a, b);
	case '/':
		if (!num)
			return unsupported(c, "/", a, b);
		if (fval(b) == 0)
			return tm_fail(c, "division by zero");
		if (ints && x == INT64_MIN && y == -1)
			return overflow(c);
		*out = v_float(fval(a) / fval(b));
		return true;
	case OP_FLOORDIV:
	case '%':
		if (a.t == V_STR && op == '%')
			return tm_str_format(c, a.s, b, out);
		if (!num)
			return unsupported(c, ops, a, b);
		if (ints) {
			if (!y)
				return tm_fail(c, op == '%' ? "integer modulo by zero" : "integer division or modulo by zero");
			if (x == INT64_MIN && y == -1) {
				if (op == '%') {
					*out = v_int(0);
					return true;
				}
				return overflow(c);
			}
			int64_t q = x / y, m = x % y;
			if (m && ((m < 0) != (y < 0))) {
				m += y;
				q -= 1;
			}
			*out = v_int(op == '%' ? m : q);
			return true;
		} else {
			double fd = 0, fm = 0;
			if (fval(b) == 0)
				return tm_fail(c, op == '%' ? "float modulo" : "float floor division by zero");
			float_divmod(fval(a), fval(b), &fd, &fm);
			*out = v_float(op == '%' ? fm : fd);
			return true;
		}
	case OP_POW:
		if (!num)
			return unsupported(c, "** or pow()", a, b);
		if (ints && y >= 0) {
			if (!ipow(c, x, y, &r))
				return false;
			*out = v_int(r);
			return true;
		}
		if (fval(a) == 0 && fval(b) < 0)
			return tm_fail(c, "0.0 cannot be raised to a negative power");
		if (fval(a) < 0 && fval(b) != floor(fval(b)))
			return tm_fail(c, "a negative number raised to a fractional power (a complex number) is not supported");
		*out = v_float(pow(fval(a), fval(b)));
		if (isinf(out->f) && !isinf(fval(a)) && !isinf(fval(b)))
			return tm_fail(c, "(34, 'Numerical result out of range')");
		return true;
	}
	return tm_fail(c, "unknown operator");
}

bool tm_contains(tm_ctx *c, val container, val item, bool *out)
{
	switch (container.t) {
	case V_UNDEF:
		*out = false;
		return true;
	case V_STR:
		if (item.t != V_STR)
			return tm_fail(c, "'in <string>' requires string as left operand, not %s", tm_type_name(item));
		TM_WORK(container.s.n);
		*out = !item.s.n || (container.s.n >= item.s.n && memmem(container.s.p, container.s.n, item.s.p, item.s.n));
		return true;
	case V_DICT:
		if (!tm_hashable(item))
			return tm_fail(c, "unhashable type: '%s'", tm_type_name(item));
		*out = tm_dict_find(container.d, item) >= 0;
		return true;
	case V_LIST: {
		size_t from = TM_L_ITER(container.l->kind) ? container.l->pos : 0;
		*out = false;
		for (size_t i = from; i < container.l->n && !*out; i++)
			*out = tm_eq(container.l->v[i], item, 0);
		return true;
	}
	default:
		return tm_fail(c, "argument of type '%s' is not iterable", tm_type_name(container));
	}
}

bool tm_compare(tm_ctx *c, int op, val a, val b, bool *out)
{
	if (op == OP_EQ || op == OP_NE) {
		*out = tm_eq(a, b, 0) == (op == OP_EQ);
		return true;
	}
	if (op == 'i' || op == 'n') {
		if (!tm_contains(c, b, a, out))
			return false;
		*out = *out == (op == 'i');
		return true;
	}
	if (a.t == V_UNDEF)
		return tm_fail_undef(c, a);
	if (b.t == V_UNDEF)
		return tm_fail_undef(c, b);
	bool err = false;
	int r = tm_cmp(a, b, &err);
	if (err) {
		const char *s = op == '<' ? "<" : op == '>' ? ">" : op == OP_LE ? "<=" : ">=";
		return tm_fail(c, "'%s' not supported between instances of '%s' and '%s'", s, tm_type_name(a), tm_type_name(b));
	}
	if (r == 2) { /* nan */
		*out = false;
		return true;
	}
	switch (op) {
	case '<': *out = r < 0; break;
	case '>': *out = r > 0; break;
	case OP_LE: *out = r <= 0; break;
	default: *out = r >= 0; break;
	}
	return true;
}

/* ---------------------------------------------------------------- calls */
bool tm_call(tm_ctx *c, val f, const tm_args *a, val *out)
{
	switch (f.t) {
	case V_FUNC: return tm_global_call(c, f.fn, a, out);
	case V_METHOD: return tm_method_call(c, f.meth, a, out);
	case V_MACRO: return tm_macro_call(c, f.mac, a, out);
	case V_UNDEF: return tm_fail_undef(c, f);
	default: return tm_fail(c, "'%s' object is not callable", tm_type_name(f));
	}
}

static bool eval(tm_ctx *c, const node *n, val *out);
static bool exec(tm_ctx *c, const node *n);

static bool eval_args(tm_ctx *c, const node *n, tm_args *a)
{
	*a = (tm_args){ .n = n->nv, .nkw = n->kw ? n->nnames : 0, .kwn = n->names };
	if (a->n && !(a->v = tm_alloc(&c->a, (size_t)a->n * sizeof(val))))
		return tm_fail_mem(c);
	if (a->nkw && !(a->kwv = tm_alloc(&c->a, (size_t)a->nkw * sizeof(val))))
		return tm_fail_mem(c);
	for (int i = 0; i < a->n; i++)
		if (!eval(c, n->v[i], &a->v[i]))
			return false;
	for (int i = 0; i < a->nkw; i++)
		if (!eval(c, n->kw[i], &a->kwv[i]))
			return false;
	return true;
}

/* the output of body, run in a child scope of c->cur */
static bool capture(tm_ctx *c, const node *body, tm_scope *scope, tm_str *out)
{
	tm_buf b, *saved = c->out;
	tm_scope *outer = c->cur;
	tm_buf_init(&b, &c->a, &c->out_budget);
	if (!scope && !(scope = scope_new(c, outer)))
		return false;
	c->out = &b;
	c->cur = scope;
	bool ok = exec(c, body);
	c->out = saved;
	c->cur = outer;
	if (!ok)
		return false;
	if (!b.ok)
		return tm_fail_mem(c);
	*out = tm_buf_str(&b);
	return true;
}

bool tm_macro_call(tm_ctx *c, const tm_macro *m, const tm_args *a, val *out)
{
	const node *mn = m->n;
	int np = mn->nnames;
	tm_str name = mn->name;
	int nm = (int)SH_MIN(name.n, 60);
	if (a->n > np && !(mn->op & MACRO_VARARGS))
		return tm_fail(c, "macro '%.*s' takes not more than %d argument(s)", nm, name.p, np);
	tm_scope *s = scope_new(c, m->scope);
	val *given = tm_alloc(&c->a, ((size_t)np + 1) * sizeof(val));
	tm_dict *kwargs = tm_dict_new(&c->a, 0);
	if (!s || !given || !kwargs)
		return tm_fail_mem(c);
	for (int i = 0; i < np; i++)
		given[i] = i < a->n ? a->v[i] : (val){ .t = V_UNDEF, .ukind = 0xFF };
	for (int k = 0; k < a->nkw; k++) {
		int j = 0;
		while (j < np && !tm_str_eqs(a->kwn[k], mn->names[j]))
			j++;
		if (j < np) {
			if (tm_given(given[j]))
				return tm_fail(c, "macro '%.*s' got multiple values for argument '%.*s'", nm, name.p,
					       (int)SH_MIN(mn->names[j].n, 60), mn->names[j].p);
			given[j] = a->kwv[k];
		} else if (mn->op & MACRO_KWARGS) {
			if (!tm_dict_set(&c->a, kwargs, v_strs(a->kwn[k]), a->kwv[k]))
				return tm_fail_mem(c);
		} else {
			return tm_fail(c, "macro '%.*s' takes no keyword argument '%.*s'", nm, name.p,
				       (int)SH_MIN(a->kwn[k].n, 60), a->kwn[k].p);
		}
	}
	tm_scope *outer = c->cur;
	c->cur = s;
	for (int i = 0; i < np; i++) {
		val v = given[i];
		if (!tm_given(v)) {
			if (mn->v && i < mn->nv && mn->v[i]) {
				if (!eval(c, mn->v[i], &v)) {
					c->cur = outer;
					return false;
				}
			} else {
				tm_buf b;
				tm_buf_init(&b, &c->a, NULL);
				tm_buf_printf(&b, "parameter '%.*s' was not provided", (int)SH_MIN(mn->names[i].n, 60), mn->names[i].p);
				if (!b.ok)
					return tm_fail_mem(c);
				v = (val){ .t = V_UNDEF, .ukind = U_HINT, .s = tm_buf_str(&b) };
			}
		}
		if (!scope_set(c, s, mn->names[i], v)) {
			c->cur = outer;
			return false;
		}
	}
	c->cur = outer;
	if (mn->op & MACRO_VARARGS) {
		tm_list *l = tm_list_new(&c->a, a->n > np ? (size_t)(a->n - np) : 0);
		if (!l)
			return tm_fail_mem(c);
		l->kind = L_TUPLE;
		for (size_t i = 0; i < l->n; i++)
			l->v[i] = a->v[(size_t)np + i];
		if (!scope_set(c, s, TM_S("varargs"), v_list(l)))
			return false;
	}
	if ((mn->op & MACRO_KWARGS) && !scope_set(c, s, TM_S("kwargs"), v_dict(kwargs)))
		return false;
	tm_str text = { "", 0 };
	int jump = c->jump;
	if (!capture(c, mn->b, s, &text))
		return false;
	c->jump = jump;
	*out = v_strs(text);
	return true;
}

/* ---------------------------------------------------------------- expressions */
static bool eval_filter(tm_ctx *c, const node *n, val *out)
{
	val in = { 0 };
	tm_args a;
	if (!eval(c, n->a, &in) || !eval_args(c, n, &a))
		return false;
	return tm_filter(c, n->name, in, &a, out);
}

static bool eval_inner(tm_ctx *c, const node *n, val *out)
{
	val a = { 0 }, b = { 0 };
	switch (n->kind) {
	case N_CONST:
		*out = n->cv;
		return true;
	case N_NAME:
		return lookup(c, n->name, out);
	case N_CAPTURED:
		*out = c->captured;
		return true;
	case N_ATTR:
		return eval(c, n->a, &a) && tm_getattr(c, a, n->name, out);
	case N_ITEM:
		return eval(c, n->a, &a) && eval(c, n->b, &b) && tm_getitem(c, a, b, out);
	case N_SLICE: {
		val sv[3] = { v_none(), v_none(), v_none() };
		if (!eval(c, n->a, &a))
			return false;
		const node *parts[3] = { n->b, n->c, n->d };
		for (int i = 0; i < 3; i++)
			if (parts[i] && !eval(c, parts[i], &sv[i]))
				return false;
		return slice_val(c, a, sv, out);
	}
	case N_CALL: {
		tm_args args;
		if (!eval(c, n->a, &a) || !eval_args(c, n, &args))
			return false;
		c->line = n->line;
		return tm_call(c, a, &args, out);
	}
	case N_FILTER:
		return eval_filter(c, n, out);
	case N_TEST: {
		tm_args args;
		bool r = false;
		if (!eval(c, n->a, &a) || !eval_args(c, n, &args) || !tm_test(c, n->name, a, &args, &r))
			return false;
		*out = v_bool(r);
		return true;
	}
	case N_NEG:
	case N_POS:
		if (!eval(c, n->a, &a))
			return false;
		if (a.t == V_UNDEF)
			return tm_fail_undef(c, a);
		if (a.t == V_FLOAT) {
			*out = v_float(n->kind == N_NEG ? -a.f : a.f);
			return true;
		}
		if (is_intlike(a)) {
			if (n->kind == N_NEG && ival(a) == INT64_MIN)
				return overflow(c);
			*out = v_int(n->kind == N_NEG ? -ival(a) : ival(a));
			return true;
		}
		return tm_fail(c, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+', tm_type_name(a));
	case N_NOT:
		if (!eval(c, n->a, &a))
			return false;
		*out = v_bool(!tm_truthy(a));
		return true;
	case N_AND:
	case N_OR:
		if (!eval(c, n->a, &a))
			return false;
		if (tm_truthy(a) == (n->kind == N_OR)) {
			*out = a;
			return true;
		}
		return eval(c, n->b, out);
	case N_BIN:
		if (!eval(c, n->a, &a) || !eval(c, n->b, &b))
			return false;
		c->line = n->line;
		return tm_binop(c, n->op, a, b, out);
	case N_CMP: {
		if (!eval(c, n->a, &a))
			return false;
		for (int i = 0; i < n->nv; i++) {
			bool r = false;
			if (!eval(c, n->v[i], &b))
				return false;
			c->line = n->line;
			if (!tm_compare(c, n->ops[i], a, b, &r))
				return false;
			if (!r) {
				*out = v_bool(false);
				return true;
			}
			a = b;
		}
		*out = v_bool(true);
		return true;
	}
	case N_COND:
		if (!eval(c, n->b, &a))
			return false;
		if (tm_truthy(a))
			return eval(c, n->a, out);
		if (n->c)
			return eval(c, n->c, out);
		{
			tm_buf m;
			tm_buf_init(&m, &c->a, NULL);
			tm_buf_printf(&m, "the inline if-expression on line %d evaluated to false and no else section was defined.",
				      n->line);
			if (!m.ok)
				return tm_fail_mem(c);
			*out = (val){ .t = V_UNDEF, .ukind = U_HINT, .s = tm_buf_str(&m) };
		}
		return true;
	case N_LIST:
	case N_TUPLE: {
		tm_list *l = tm_list_new(&c->a, (size_t)n->nv);
		if (!l)
			return tm_fail_mem(c);
		l->kind = n->kind == N_TUPLE ? L_TUPLE : L_LIST;
		for (int i = 0; i < n->nv; i++)
			if (!eval(c, n->v[i], &l->v[i]))
				return false;
		*out = v_list(l);
		return true;
	}
	case N_DICT: {
		tm_dict *d = tm_dict_new(&c->a, (size_t)n->nv / 2);
		if (!d)
			return tm_fail_mem(c);
		for (int i = 0; i + 1 < n->nv; i += 2) {
			if (!eval(c, n->v[i], &a) || !eval(c, n->v[i + 1], &b))
				return false;
			if (!tm_hashable(a))
				return tm_fail(c, "unhashable type: '%s'", tm_type_name(a));
			if (!tm_dict_set(&c->a, d, a, b))
				return tm_fail_mem(c);
		}
		*out = v_dict(d);
		return true;
	}
	case N_CONCAT: {
		tm_buf buf;
		tm_buf_init(&buf, &c->a, NULL);
		for (int i = 0; i < n->nv; i++) {
			tm_str s = { "", 0 };
			if (!eval(c, n->v[i], &a) || !tm_str_of(c, a, &s))
				return false;
			tm_buf_add(&buf, s.p, s.n);
		}
		if (!buf.ok)
			return tm_fail_mem(c);
		*out = v_strs(tm_buf_str(&buf));
		return true;
	}
	default:
		return tm_fail(c, "internal error: node %d is not an expression", n->kind);
	}
}

static bool eval(tm_ctx *c, const node *n, val *out)
{
	if (!tm_step(c))
		return false;
	if (++c->depth > TM_MAX_DEPTH) {
		c->limit_hit = true;
		return tm_fail(c, "template nested too deeply (recursion)");
	}
	int line = c->line;
	c->line = n->line;
	bool ok = eval_inner(c, n, out);
	c->depth--;
	if (ok)
		c->line = line;
	return ok;
}

/* ---------------------------------------------------------------- statements */
static bool emit(tm_ctx *c, val v)
{
	if (v.t == V_STR)
		tm_buf_add(c->out, v.s.p, v.s.n);
	else if (!tm_to_str(c->out, v) && c->out->ok)
		return tm_fail(c, "a value nested too deeply to print");
	return c->out->ok ? true : tm_fail_mem(c);
}

/* assigns v to the targets of n (names; unpacking when unpack) in scope s */
static bool assign(tm_ctx *c, tm_scope *s, const node *n, bool unpack, val v)
{
	if (!unpack)
		return scope_set(c, s, n->names[0], v);
	if (!(v.t == V_STR || v.t == V_LIST || v.t == V_DICT || v.t == V_UNDEF))
		return tm_fail(c, "cannot unpack non-iterable %s object", tm_type_name(v));
	tm_list *l;
	if (!tm_iterate(c, v, &l))
		return false;
	if (l->n < (size_t)n->nnames)
		return tm_fail(c, "not enough values to unpack (expected %d, got %zu)", n->nnames, l->n);
	if (l->n > (size_t)n->nnames)
		return tm_fail(c, "too many values to unpack (expected %d)", n->nnames);
	for (int i = 0; i < n->nnames; i++)
		if (!scope_set(c, s, n->names[i], l->v[i]))
			return false;
	return true;
}

static bool set_ns_attr(tm_ctx *c, tm_str ns, tm_str attr, val v)
{
	val target = { 0 };
	if (!lookup(c, ns, &target))
		return false;
	if (target.t != V_NS)
		return tm_fail(c, "cannot assign attribute on non-namespace object");
	return tm_dict_set(&c->a, target.d, v_strs(attr), v) ? true : tm_fail_mem(c);
}

static bool exec_body(tm_ctx *c, const node *b)
{
	for (int i = 0; i < b->nv; i++) {
		if (!exec(c, b->v[i]))
			return false;
		if (c->jump)
			break;
	}
	return true;
}

static bool exec_for(tm_ctx *c, const node *n)
{
	val it = { 0 };
	tm_list *items;
	if (!eval(c, n->a, &it))
		return false;
	c->line = n->line;
	if (!tm_iterate(c, it, &items))
		return false;
	tm_scope *outer = c->cur, *s = scope_new(c, outer);
	if (!s)
		return false;
	bool unpack = n->flag;
	if (n->d) { /* the loop filter: items it rejects are not part of the loop at all */
		tm_list *kept = tm_list_new(&c->a, items->n);
		if (!kept)
			return tm_fail_mem(c);
		kept->n = 0;
		for (size_t i = 0; i < items->n; i++) {
			val keep = { 0 };
			s->n = 0;
			c->cur = s;
			bool ok = assign(c, s, n, unpack, items->v[i]) && eval(c, n->d, &keep);
			c->cur = outer;
			if (!ok)
				return false;
			if (tm_truthy(keep))
				kept->v[kept->n++] = items->v[i];
		}
		items = kept;
	}
	if (!items->n) {
		if (!n->c)
			return true;
		s->n = 0;
		c->cur = s;
		bool ok = exec(c, n->c);
		c->cur = outer;
		return ok;
	}
	tm_loop *L = tm_zalloc(&c->a, sizeof *L);
	if (!L)
		return tm_fail_mem(c);
	L->items = items;
	for (size_t i = 0; i < items->n; i++) {
		if (!tm_step(c))
			return false;
		s->n = 0; /* a fresh scope for every pass */
		L->i = i;
		c->cur = s;
		bool ok = assign(c, s, n, unpack, items->v[i]) && scope_set(c, s, TM_S("loop"), (val){ .t = V_LOOP, .loop = L }) &&
			  exec(c, n->b);
		c->cur = outer;
		if (!ok)
			return false;
		if (c->jump == JUMP_BREAK) {
			c->jump = JUMP_NONE;
			break;
		}
		c->jump = JUMP_NONE;
	}
	return true;
}

static bool exec_inner(tm_ctx *c, const node *n)
{
	val v = { 0 };
	tm_str text = { "", 0 };
	switch (n->kind) {
	case N_BODY:
		return exec_body(c, n);
	case N_TEXT:
		return tm_buf_add(c->out, n->name.p, n->name.n) ? true : tm_fail_mem(c);
	case N_OUTPUT:
		return eval(c, n->a, &v) && emit(c, v);
	case N_IF:
		for (;;) {
			if (!eval(c, n->a, &v))
				return false;
			if (tm_truthy(v))
				return exec(c, n->b);
			if (!n->c)
				return true;
			if (n->c->kind == N_IF && n->c->flag) {
				n = n->c;
				c->line = n->line;
				if (!tm_step(c))
					return false;
				continue;
			}
			return exec(c, n->c);
		}
	case N_FOR:
		return exec_for(c, n);
	case N_SET:
		if (!eval(c, n->a, &v))
			return false;
		c->line = n->line;
		if (n->flag)
			return set_ns_attr(c, n->names[0], n->name, v);
		return assign(c, c->cur, n, n->op, v);
	case N_SETBLOCK:
		if (!capture(c, n->b, NULL, &text))
			return false;
		v = v_strs(text);
		if (n->c) {
			val saved = c->captured;
			c->captured = v;
			bool ok = eval(c, n->c, &v);
			c->captured = saved;
			if (!ok)
				return false;
		}
		if (n->flag)
			return set_ns_attr(c, n->names[0], n->name, v);
		return scope_set(c, c->cur, n->names[0], v);
	case N_MACRO: {
		tm_macro *m = tm_alloc(&c->a, sizeof *m);
		if (!m)
			return tm_fail_mem(c);
		m->n = n;
		m->scope = c->cur;
		return scope_set(c, c->cur, n->name, (val){ .t = V_MACRO, .mac = m });
	}
	case N_BREAK:
		c->jump = JUMP_BREAK;
		return true;
	case N_CONTINUE:
		c->jump = JUMP_CONTINUE;
		return true;
	case N_FILTERBLOCK: {
		if (!capture(c, n->b, NULL, &text))
			return false;
		val saved = c->captured;
		c->captured = v_strs(text);
		bool ok = eval(c, n->c, &v);
		c->captured = saved;
		return ok && emit(c, v);
	}
	case N_WITH: {
		val *vals = tm_alloc(&c->a, ((size_t)n->nv + 1) * sizeof(val));
		tm_scope *outer = c->cur, *s = scope_new(c, outer);
		if (!vals || !s)
			return tm_fail_mem(c);
		for (int i = 0; i < n->nv; i++)
			if (!eval(c, n->v[i], &vals[i]))
				return false;
		for (int i = 0; i < n->nv; i++)
			if (!scope_set(c, s, n->names[i], vals[i]))
				return false;
		c->cur = s;
		bool ok = exec(c, n->b);
		c->cur = outer;
		return ok;
	}
	case N_SCOPE: {
		tm_scope *outer = c->cur, *s = scope_new(c, outer);
		if (!s)
			return false;
		c->cur = s;
		bool ok = exec(c, n->b);
		c->cur = outer;
		return ok;
	}
	default:
		return tm_fail(c, "internal error: node %d is not a statement", n->kind);
	}
}

static bool exec(tm_ctx *c, const node *n)
{
	if (!tm_step(c))
		return false;
	if (++c->depth > TM_MAX_DEPTH) {
		c->limit_hit = true;
		return tm_fail(c, "template nested too deeply (recursion)");
	}
	int line = c->line;
	c->line = n->line;
	bool ok = exec_inner(c, n);
	c->depth--;
	if (ok)
		c->line = line;
	return ok;
}

/* ---------------------------------------------------------------- render */
#define DEFAULT_MAX_OUTPUT ((size_t)32 << 20)
#define DEFAULT_MAX_MEMORY ((size_t)512 << 20)
#define DEFAULT_MAX_STEPS 20000000ull

int tm_render(const tmpl *t, const json_t *vars, const tmpl_opts *o, char **out, size_t *out_len, char *err, size_t errlen)
{
	static const tmpl_opts none;
	if (!o)
		o = &none;
	tm_ctx c = {
		.max_steps = o->max_steps ? o->max_steps : DEFAULT_MAX_STEPS,
		.max_output = o->max_output ? o->max_output : DEFAULT_MAX_OUTPUT,
		.now = o->now ? o->now : time(NULL),
		.err = err,
		.errlen = errlen,
	};
	c.a.limit = o->max_memory ? o->max_memory : DEFAULT_MAX_MEMORY;
	c.out_budget = c.max_output;
	*out = NULL;
	if (out_len)
		*out_len = 0;
	if (errlen)
		err[0] = '\0';
	int rc = SH_EINVAL;
	tm_work = 0;
	tm_buf buf;
	tm_buf_init(&buf, &c.a, &c.out_budget);
	c.out = &buf;
	if (!(c.root = c.cur = scope_new(&c, NULL)))
		goto done;
	if (vars && !json_is_object(vars)) {
		snprintf(err, errlen, "the variables must be a JSON object");
		goto done;
	}
	if (vars) {
		const char *k;
		json_t *x;
		json_object_foreach((json_t *)vars, k, x) {
			val v = { 0 };
			if (!tm_from_json(&c.a, x, &v, 0)) {
				if (c.a.limit && c.a.total + 65536 >= c.a.limit)
					tm_fail_mem(&c);
				else
					snprintf(err, errlen, "variable '%s' is nested too deeply", k);
				goto done;
			}
			if (!scope_set(&c, c.root, (tm_str){ k, strlen(k) }, v))
				goto done;
		}
	}
	if (exec(&c, t->root)) {
		if (!buf.ok) {
			tm_fail_mem(&c);
			goto done;
		}
		char *s = malloc(buf.n + 1);
		if (!s) {
			snprintf(err, errlen, "out of memory");
			rc = SH_ENOMEM;
			goto done;
		}
		if (buf.n)
			memcpy(s, buf.p, buf.n);
		s[buf.n] = '\0';
		*out = s;
		if (out_len)
			*out_len = buf.n;
		rc = 0;
	}
done:
	if (rc && c.limit_hit)
		rc = SH_ERANGE;
	tm_arena_free(&c.a);
	return rc;
}
