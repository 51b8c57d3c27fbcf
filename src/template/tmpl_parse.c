/*
 * tmpl_parse.c - tokens to tree, a recursive-descent copy of jinja2's parser.
 *
 * Expression precedence, loosest first (as jinja2/parser.py):
 *   x if c else y  <  or  <  and  <  not  <  comparisons (== != < > <= >= in, not in; chained)
 *   <  + -  <  ~  <  * / // %  <  **  <  unary - +  <  postfix: .attr [index] (call) |filter is test
 * Adjacent string literals concatenate. Nesting (statements and expressions) is capped so the
 * evaluator's recursion stays bounded too; `elif` chains are built as a list, not nested.
 *
 * After parsing, one walk over the tree (check) does what jinja2's compiler does before
 * anything renders: an unknown filter or test is an error, and a macro learns whether its body
 * uses `varargs` / `kwargs` (which decides whether extra arguments are accepted). The walk also
 * caps the tree's height: left-deep chains (a+b+c+..., x|f|f|f...) are built by loops, not
 * recursion, so only the height check bounds what the evaluator will recurse over. And it notes
 * what tells the template's tool-call family: whether it reads the variable `tools`, and the
 * markers its text and string constants carry ("<tool_call>", "[TOOL_CALLS]", ...).
 */
#define _GNU_SOURCE /* memmem */
#include "template/tmpl_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
	tm_token *t;
	int n, i;
	tm_arena *a;
	int depth;
	int loops;             /* enclosing for loops (break/continue are valid inside) */
	char *err;
	size_t errlen;
	bool failed;
	unsigned marks;        /* MARK_* the check walk found */
} parser;

static bool pfail(parser *P, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool pfail(parser *P, const char *fmt, ...)
{
	if (P->failed)
		return false;
	P->failed = true;
	int k = snprintf(P->err, P->errlen, "line %d: ", P->t[P->i].line);
	if (k >= 0 && (size_t)k < P->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(P->err + k, P->errlen - (size_t)k, fmt, ap);
		va_end(ap);
	}
	return false;
}

static tm_token *cur(parser *P) { return &P->t[P->i]; }
static tm_token *peek(parser *P, int k) { return &P->t[P->i + k < P->n ? P->i + k : P->n - 1]; }
static void next(parser *P) { if (P->i < P->n - 1) P->i++; }
static bool is_op(tm_token *t, int op) { return t->type == T_OP && t->op == op; }
static bool is_name(tm_token *t, const char *s) { return t->type == T_NAME && tm_str_eq(t->s, s); }

static const char *describe(tm_token *t, char *buf, size_t n)
{
	switch (t->type) {
	case T_EOF: return "end of template";
	case T_VAR_END: return "end of print statement";
	case T_BLOCK_END: return "end of statement block";
	case T_NAME: snprintf(buf, n, "'%.*s'", (int)SH_MIN(t->s.n, 40), t->s.p); return buf;
	case T_STRING: return "string";
	case T_INT: return "integer";
	case T_FLOAT: return "float";
	case T_OP:
		if (t->op < 'A' || t->op > 'Z')
			snprintf(buf, n, "'%c'", t->op);
		else
			snprintf(buf, n, "'%s'", t->op == OP_FLOORDIV ? "//" : t->op == OP_POW ? "**" : t->op == OP_EQ ? "==" :
				 t->op == OP_NE ? "!=" : t->op == OP_GE ? ">=" : "<=");
		return buf;
	default: return "template data";
	}
}

static bool unexpected(parser *P)
{
	char b[64];
	return pfail(P, "unexpected %s", describe(cur(P), b, sizeof b));
}

static bool expect_op(parser *P, int op)
{
	if (is_op(cur(P), op)) {
		next(P);
		return true;
	}
	char b[64];
	return pfail(P, "expected '%c', got %s", op, describe(cur(P), b, sizeof b));
}

static bool expect_type(parser *P, int type, const char *what)
{
	if (cur(P)->type == type) {
		next(P);
		return true;
	}
	char b[64];
	return pfail(P, "expected %s, got %s", what, describe(cur(P), b, sizeof b));
}

static node *mk(parser *P, int kind, int line)
{
	node *n = tm_zalloc(P->a, sizeof *n);
	if (!n) {
		pfail(P, "out of memory");
		return NULL;
	}
	n->kind = (uint8_t)kind;
	n->line = line;
	return n;
}

/* a growable node list in the arena */
typedef struct { node **v; int n, cap; } nlist;
static bool nl_push(parser *P, nlist *l, node *x)
{
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 4;
		node **v = tm_grow(P->a, l->v, (size_t)l->cap * sizeof *v, (size_t)cap * sizeof *v);
		if (!v)
			return pfail(P, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = x;
	return true;
}

typedef struct { tm_str *v; int n, cap; } slist;
static bool sl_push(parser *P, slist *l, tm_str s)
{
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 4;
		tm_str *v = tm_grow(P->a, l->v, (size_t)l->cap * sizeof *v, (size_t)cap * sizeof *v);
		if (!v)
			return pfail(P, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return true;
}

static bool enter(parser *P)
{
	if (++P->depth > TM_MAX_PARSE_DEPTH)
		return pfail(P, "template nested too deeply");
	return true;
}

/* ---------------------------------------------------------------- expressions */
static node *expr(parser *P);
static node *expr_or(parser *P);
static node *unary(parser *P, bool with_filter);
static node *postfix(parser *P, node *n);

/* (args..., name=value...) after '(' has been seen */
static bool call_args(parser *P, node *n)
{
	nlist pos = { 0 }, kw = { 0 };
	slist names = { 0 };
	next(P);
	while (!is_op(cur(P), ')')) {
		if (pos.n + kw.n && !expect_op(P, ','))
			return false;
		if (is_op(cur(P), ')'))
			break;
		if (is_op(cur(P), '*'))
			return pfail(P, "*args and **kwargs are not supported");
		if (cur(P)->type == T_NAME && is_op(peek(P, 1), '=')) {
			tm_str name = cur(P)->s;
			next(P);
			next(P);
			node *v = expr(P);
			if (!v || !sl_push(P, &names, name) || !nl_push(P, &kw, v))
				return false;
		} else {
			if (kw.n)
				return pfail(P, "positional argument after keyword argument");
			node *v = expr(P);
			if (!v || !nl_push(P, &pos, v))
				return false;
		}
	}
	next(P);
	n->v = pos.v;
	n->nv = pos.n;
	n->kw = kw.v;
	n->names = names.v;
	n->nnames = names.n;
	return true;
}

/* (a, b, ...) after '(' : a tuple, or one parenthesized expression */
static node *paren(parser *P)
{
	int line = cur(P)->line;
	nlist items = { 0 };
	bool comma = false;
	next(P);
	while (!is_op(cur(P), ')')) {
		if (items.n) {
			if (!expect_op(P, ','))
				return NULL;
			comma = true;
			if (is_op(cur(P), ')'))
				break;
		}
		node *e = expr(P);
		if (!e || !nl_push(P, &items, e))
			return NULL;
	}
	next(P);
	if (items.n == 1 && !comma)
		return items.v[0];
	node *t = mk(P, N_TUPLE, line);
	if (t) {
		t->v = items.v;
		t->nv = items.n;
	}
	return t;
}

static node *primary(parser *P)
{
	tm_token *t = cur(P);
	node *n;
	if (t->type == T_NAME) {
		n = mk(P, N_CONST, t->line);
		if (!n)
			return NULL;
		if (is_name(t, "true") || is_name(t, "True"))
			n->cv = v_bool(true);
		else if (is_name(t, "false") || is_name(t, "False"))
			n->cv = v_bool(false);
		else if (is_name(t, "none") || is_name(t, "None"))
			n->cv = v_none();
		else
			n->kind = N_NAME, n->name = t->s;
		next(P);
		return n;
	}
	if (t->type == T_STRING) {
		n = mk(P, N_CONST, t->line);
		if (!n)
			return NULL;
		n->cv = v_str(t->s.p, t->s.n);
		next(P);
		if (cur(P)->type == T_STRING) {
			tm_buf b;
			tm_buf_init(&b, P->a, NULL);
			tm_buf_add(&b, n->cv.s.p, n->cv.s.n);
			for (; cur(P)->type == T_STRING; next(P))
				tm_buf_add(&b, cur(P)->s.p, cur(P)->s.n);
			if (!b.ok) {
				pfail(P, "out of memory");
				return NULL;
			}
			n->cv = v_str(b.p, b.n);
		}
		return n;
	}
	if (t->type == T_INT || t->type == T_FLOAT) {
		n = mk(P, N_CONST, t->line);
		if (n)
			n->cv = t->type == T_INT ? v_int(t->i) : v_float(t->f);
		next(P);
		return n;
	}
	if (is_op(t, '('))
		return paren(P);
	if (is_op(t, '[') || is_op(t, '{')) {
		bool dict = t->op == '{';
		int close = dict ? '}' : ']';
		nlist items = { 0 };
		n = mk(P, dict ? N_DICT : N_LIST, t->line);
		if (!n)
			return NULL;
		next(P);
		while (!is_op(cur(P), close)) {
			if (items.n && !expect_op(P, ','))
				return NULL;
			if (is_op(cur(P), close))
				break;
			node *e = expr(P);
			if (!e || !nl_push(P, &items, e))
				return NULL;
			if (dict) {
				if (!expect_op(P, ':') || !(e = expr(P)) || !nl_push(P, &items, e))
					return NULL;
			}
		}
		next(P);
		n->v = items.v;
		n->nv = items.n;
		return n;
	}
	unexpected(P);
	return NULL;
}

/* inside [ ]: an expression or a slice a:b:c */
static node *subscript(parser *P, node *obj, int line)
{
	node *parts[3] = { NULL, NULL, NULL };
	int k = 0;
	bool slice = false;
	for (;;) {
		if (!is_op(cur(P), ':') && !is_op(cur(P), ']')) {
			if (!(parts[k] = expr(P)))
				return NULL;
		}
		if (is_op(cur(P), ':') && k < 2) {
			slice = true;
			k++;
			next(P);
			continue;
		}
		break;
	}
	if (!expect_op(P, ']'))
		return NULL;
	node *n = mk(P, slice ? N_SLICE : N_ITEM, line);
	if (!n)
		return NULL;
	if (!slice && !parts[0]) {
		pfail(P, "expected an index");
		return NULL;
	}
	n->a = obj;
	n->b = parts[0];
	n->c = parts[1];
	n->d = parts[2];
	return n;
}

static node *postfix(parser *P, node *n)
{
	while (n) {
		tm_token *t = cur(P);
		int line = t->line;
		if (is_op(t, '.')) {
			next(P);
			t = cur(P);
			if (t->type == T_NAME) {
				node *a = mk(P, N_ATTR, line);
				if (!a)
					return NULL;
				a->a = n;
				a->name = t->s;
				next(P);
				n = a;
			} else if (t->type == T_INT) {
				node *a = mk(P, N_ITEM, line), *k = mk(P, N_CONST, line);
				if (!a || !k)
					return NULL;
				k->cv = v_int(t->i);
				a->a = n;
				a->b = k;
				next(P);
				n = a;
			} else {
				pfail(P, "expected name or number");
				return NULL;
			}
		} else if (is_op(t, '[')) {
			next(P);
			n = subscript(P, n, line);
		} else if (is_op(t, '(')) {
			node *c = mk(P, N_CALL, line);
			if (!c)
				return NULL;
			c->a = n;
			if (!call_args(P, c))
				return NULL;
			n = c;
		} else {
			break;
		}
	}
	return n;
}

/* a dotted filter/test name */
static bool dotted_name(parser *P, tm_str *out)
{
	if (cur(P)->type != T_NAME)
		return expect_type(P, T_NAME, "a name");
	*out = cur(P)->s;
	next(P);
	return true;
}

static node *filter_chain(parser *P, node *n)
{
	while (n && is_op(cur(P), '|')) {
		node *f = mk(P, N_FILTER, cur(P)->line);
		next(P);
		if (!f || !dotted_name(P, &f->name))
			return NULL;
		f->a = n;
		if (is_op(cur(P), '(') && !call_args(P, f))
			return NULL;
		n = f;
	}
	return n;
}

static node *filter_expr(parser *P, node *n)
{
	while (n) {
		tm_token *t = cur(P);
		if (is_op(t, '|')) {
			n = filter_chain(P, n);
		} else if (is_name(t, "is")) {
			int line = t->line;
			next(P);
			bool neg = false;
			if (is_name(cur(P), "not")) {
				neg = true;
				next(P);
			}
			node *x = mk(P, N_TEST, line);
			if (!x || !dotted_name(P, &x->name))
				return NULL;
			x->a = n;
			t = cur(P);
			if (is_op(t, '(')) {
				if (!call_args(P, x))
					return NULL;
			} else if ((t->type == T_NAME || t->type == T_STRING || t->type == T_INT || t->type == T_FLOAT ||
				    is_op(t, '[') || is_op(t, '{')) &&
				   !is_name(t, "else") && !is_name(t, "or") && !is_name(t, "and")) {
				if (is_name(t, "is")) {
					pfail(P, "You cannot chain multiple tests with is");
					return NULL;
				}
				node *arg = postfix(P, primary(P));
				if (!arg)
					return NULL;
				x->v = tm_alloc(P->a, sizeof *x->v);
				if (!x->v) {
					pfail(P, "out of memory");
					return NULL;
				}
				x->v[0] = arg;
				x->nv = 1;
			}
			n = x;
			if (neg) {
				node *no = mk(P, N_NOT, line);
				if (!no)
					return NULL;
				no->a = x;
				n = no;
			}
		} else if (is_op(t, '(')) {
			n = postfix(P, n);
		} else {
			break;
		}
	}
	return n;
}

static node *unary(parser *P, bool with_filter)
{
	if (!enter(P))
		return NULL;
	tm_token *t = cur(P);
	node *n;
	if (is_op(t, '-') || is_op(t, '+')) {
		n = mk(P, t->op == '-' ? N_NEG : N_POS, t->line);
		next(P);
		if (!n || !(n->a = unary(P, false)))
			return NULL;
	} else {
		n = primary(P);
	}
	n = postfix(P, n);
	if (with_filter)
		n = filter_expr(P, n);
	P->depth--;
	return n;
}

static node *binary(parser *P, int kind, int op, int line, node *a, node *b)
{
	if (!a || !b)
		return NULL;
	node *n = mk(P, kind, line);
	if (n) {
		n->op = (uint8_t)op;
		n->a = a;
		n->b = b;
	}
	return n;
}

static node *expr_pow(parser *P)
{
	node *n = unary(P, true);
	while (n && is_op(cur(P), OP_POW)) {
		int line = cur(P)->line;
		next(P);
		n = binary(P, N_BIN, OP_POW, line, n, unary(P, true));
	}
	return n;
}

static node *expr_mul(parser *P)
{
	node *n = expr_pow(P);
	while (n && (is_op(cur(P), '*') || is_op(cur(P), '/') || is_op(cur(P), OP_FLOORDIV) || is_op(cur(P), '%'))) {
		int op = cur(P)->op, line = cur(P)->line;
		next(P);
		n = binary(P, N_BIN, op, line, n, expr_pow(P));
	}
	return n;
}

static node *expr_concat(parser *P)
{
	node *n = expr_mul(P);
	if (!n || !is_op(cur(P), '~'))
		return n;
	node *c = mk(P, N_CONCAT, cur(P)->line);
	nlist parts = { 0 };
	if (!c || !nl_push(P, &parts, n))
		return NULL;
	while (is_op(cur(P), '~')) {
		next(P);
		node *x = expr_mul(P);
		if (!x || !nl_push(P, &parts, x))
			return NULL;
	}
	c->v = parts.v;
	c->nv = parts.n;
	return c;
}

static node *expr_add(parser *P)
{
	node *n = expr_concat(P);
	while (n && (is_op(cur(P), '+') || is_op(cur(P), '-'))) {
		int op = cur(P)->op, line = cur(P)->line;
		next(P);
		n = binary(P, N_BIN, op, line, n, expr_concat(P));
	}
	return n;
}

static node *expr_cmp(parser *P)
{
	node *n = expr_add(P);
	if (!n)
		return NULL;
	nlist rhs = { 0 };
	uint8_t ops[64];
	int line = cur(P)->line;
	for (;;) {
		tm_token *t = cur(P);
		int op;
		if (t->type == T_OP && strchr("<>", t->op) && t->op)
			op = t->op;
		else if (is_op(t, OP_EQ) || is_op(t, OP_NE) || is_op(t, OP_GE) || is_op(t, OP_LE))
			op = t->op;
		else if (is_name(t, "in"))
			op = 'i';
		else if (is_name(t, "not") && is_name(peek(P, 1), "in"))
			op = 'n', next(P);
		else
			break;
		next(P);
		if (rhs.n == (int)sizeof ops) {
			pfail(P, "too many chained comparisons");
			return NULL;
		}
		node *r = expr_add(P);
		if (!r || !nl_push(P, &rhs, r))
			return NULL;
		ops[rhs.n - 1] = (uint8_t)op;
	}
	if (!rhs.n)
		return n;
	node *c = mk(P, N_CMP, line);
	if (!c || !(c->ops = tm_alloc(P->a, (size_t)rhs.n))) {
		pfail(P, "out of memory");
		return NULL;
	}
	memcpy(c->ops, ops, (size_t)rhs.n);
	c->a = n;
	c->v = rhs.v;
	c->nv = rhs.n;
	return c;
}

static node *expr_not(parser *P)
{
	if (is_name(cur(P), "not")) {
		if (!enter(P))
			return NULL;
		node *n = mk(P, N_NOT, cur(P)->line);
		next(P);
		if (!n || !(n->a = expr_not(P)))
			return NULL;
		P->depth--;
		return n;
	}
	return expr_cmp(P);
}

static node *expr_and(parser *P)
{
	node *n = expr_not(P);
	while (n && is_name(cur(P), "and")) {
		int line = cur(P)->line;
		next(P);
		n = binary(P, N_AND, 0, line, n, expr_not(P));
	}
	return n;
}

static node *expr_or(parser *P)
{
	node *n = expr_and(P);
	while (n && is_name(cur(P), "or")) {
		int line = cur(P)->line;
		next(P);
		n = binary(P, N_OR, 0, line, n, expr_and(P));
	}
	return n;
}

static node *expr(parser *P)
{
	if (!enter(P))
		return NULL;
	node *n = expr_or(P);
	while (n && is_name(cur(P), "if")) {
		node *c = mk(P, N_COND, cur(P)->line);
		next(P);
		if (!c || !(c->b = expr_or(P)))
			return NULL;
		c->a = n;
		if (is_name(cur(P), "else")) {
			next(P);
			if (!(c->c = expr(P)))
				return NULL;
		}
		n = c;
	}
	P->depth--;
	return n;
}

/* `a, b` without parentheses (for iterables, set values, print): a tuple when a comma follows */
static node *expr_tuple(parser *P, bool condexpr)
{
	int line = cur(P)->line;
	node *n = condexpr ? expr(P) : expr_or(P);
	if (!n || !is_op(cur(P), ','))
		return n;
	nlist items = { 0 };
	if (!nl_push(P, &items, n))
		return NULL;
	while (is_op(cur(P), ',')) {
		next(P);
		tm_token *t = cur(P);
		if (t->type == T_BLOCK_END || t->type == T_VAR_END || is_name(t, "if") || is_op(t, ')'))
			break;
		node *x = condexpr ? expr(P) : expr_or(P);
		if (!x || !nl_push(P, &items, x))
			return NULL;
	}
	node *t = mk(P, N_TUPLE, line);
	if (t) {
		t->v = items.v;
		t->nv = items.n;
	}
	return t;
}

/* ---------------------------------------------------------------- statements */
static node *body(parser *P, const char *const *ends, int nends, int *which);

static bool block_end(parser *P)
{
	return expect_type(P, T_BLOCK_END, "end of statement block");
}

/* name[, name...] or (name, name) for for/set/with targets */
static bool targets(parser *P, node *n)
{
	slist names = { 0 };
	bool paren = is_op(cur(P), '('), comma = false;
	if (paren)
		next(P);
	do {
		if (names.n) {
			next(P); /* the comma */
			comma = true;
			if (is_name(cur(P), "in") || cur(P)->type == T_BLOCK_END || is_op(cur(P), '=') || is_op(cur(P), ')'))
				break;
		}
		if (cur(P)->type != T_NAME)
			return expect_type(P, T_NAME, "a name");
		tm_token *t = cur(P);
		if (is_name(t, "true") || is_name(t, "false") || is_name(t, "none") || is_name(t, "True") ||
		    is_name(t, "False") || is_name(t, "None"))
			return pfail(P, "can't assign to 'const'");
		if (!sl_push(P, &names, t->s))
			return false;
		next(P);
	} while (is_op(cur(P), ','));
	if (paren && !expect_op(P, ')'))
		return false;
	n->names = names.v;
	n->nnames = names.n;
	n->flag = comma || names.n > 1;
	return true;
}

static node *stmt_if(parser *P, int line)
{
	static const char *const ends[] = { "elif", "else", "endif" };
	node *first = NULL, *last = NULL;
	int which;
	for (;;) {
		node *n = mk(P, N_IF, line);
		if (!n || !(n->a = expr_tuple(P, false)) || !block_end(P) || !(n->b = body(P, ends, 3, &which)))
			return NULL;
		if (last) {
			n->flag = true; /* an elif: the else branch of the one before */
			last->c = n;
		} else {
			first = n;
		}
		last = n;
		if (which != 0)
			break;
		next(P);
		line = cur(P)->line;
	}
	next(P);
	if (which == 1) {
		if (!block_end(P) || !(last->c = body(P, ends + 2, 1, &which)))
			return NULL;
		next(P);
	}
	return block_end(P) ? first : NULL;
}

static node *stmt_for(parser *P, int line)
{
	static const char *const ends[] = { "else", "endfor" };
	node *n = mk(P, N_FOR, line);
	int which;
	if (!n || !targets(P, n))
		return NULL;
	if (!is_name(cur(P), "in")) {
		pfail(P, "expected 'in' in a for loop");
		return NULL;
	}
	next(P);
	if (!(n->a = expr_tuple(P, false)))
		return NULL;
	if (is_name(cur(P), "if")) {
		next(P);
		if (!(n->d = expr(P)))
			return NULL;
	}
	if (is_name(cur(P), "recursive")) {
		pfail(P, "recursive loops are not supported");
		return NULL;
	}
	if (!block_end(P))
		return NULL;
	P->loops++;
	n->b = body(P, ends, 2, &which);
	P->loops--;
	if (!n->b)
		return NULL;
	next(P);
	if (which == 0) {
		if (!block_end(P) || !(n->c = body(P, ends + 1, 1, &which)))
			return NULL;
		next(P);
	}
	return block_end(P) ? n : NULL;
}

static node *stmt_set(parser *P, int line)
{
	static const char *const ends[] = { "endset" };
	node *n = mk(P, N_SET, line);
	int which;
	if (!n)
		return NULL;
	if (cur(P)->type == T_NAME && is_op(peek(P, 1), '.')) {
		n->flag = true;
		n->names = tm_alloc(P->a, sizeof *n->names);
		if (!n->names) {
			pfail(P, "out of memory");
			return NULL;
		}
		n->names[0] = cur(P)->s;
		n->nnames = 1;
		next(P);
		next(P);
		if (cur(P)->type != T_NAME) {
			expect_type(P, T_NAME, "a name");
			return NULL;
		}
		n->name = cur(P)->s;
		next(P);
	} else {
		if (!targets(P, n))
			return NULL;
		n->op = n->flag; /* unpack */
		n->flag = false;
	}
	if (is_op(cur(P), '=')) {
		next(P);
		if (!(n->a = expr_tuple(P, true)))
			return NULL;
		return block_end(P) ? n : NULL;
	}
	if (n->nnames != 1 || n->op) {
		pfail(P, "a block set takes one name");
		return NULL;
	}
	n->kind = N_SETBLOCK;
	if (is_op(cur(P), '|')) {
		node *cap = mk(P, N_CAPTURED, line);
		if (!cap || !(n->c = filter_chain(P, cap)))
			return NULL;
	}
	if (!block_end(P) || !(n->b = body(P, ends, 1, &which)))
		return NULL;
	next(P);
	return block_end(P) ? n : NULL;
}

static node *stmt_macro(parser *P, int line)
{
	static const char *const ends[] = { "endmacro" };
	node *n = mk(P, N_MACRO, line);
	nlist defaults = { 0 };
	slist params = { 0 };
	int which;
	if (!n)
		return NULL;
	if (cur(P)->type != T_NAME) {
		expect_type(P, T_NAME, "a macro name");
		return NULL;
	}
	n->name = cur(P)->s;
	next(P);
	if (!expect_op(P, '('))
		return NULL;
	while (!is_op(cur(P), ')')) {
		if (params.n && !expect_op(P, ','))
			return NULL;
		if (cur(P)->type != T_NAME) {
			expect_type(P, T_NAME, "a parameter name");
			return NULL;
		}
		if (!sl_push(P, &params, cur(P)->s))
			return NULL;
		next(P);
		node *d = NULL;
		if (is_op(cur(P), '=')) {
			next(P);
			if (!(d = expr(P)))
				return NULL;
		} else if (defaults.n && defaults.v[defaults.n - 1]) {
			pfail(P, "non-default argument follows default argument");
			return NULL;
		}
		if (!nl_push(P, &defaults, d))
			return NULL;
	}
	next(P);
	n->names = params.v;
	n->nnames = params.n;
	n->v = defaults.v;
	n->nv = defaults.n;
	int loops = P->loops;
	P->loops = 0;
	if (!block_end(P) || !(n->b = body(P, ends, 1, &which)))
		return NULL;
	P->loops = loops;
	next(P);
	return block_end(P) ? n : NULL;
}

static node *stmt_filter(parser *P, int line)
{
	static const char *const ends[] = { "endfilter" };
	node *n = mk(P, N_FILTERBLOCK, line), *cap = mk(P, N_CAPTURED, line);
	int which;
	if (!n || !cap)
		return NULL;
	/* the first filter has no leading pipe */
	node *f = mk(P, N_FILTER, line);
	if (!f || !dotted_name(P, &f->name))
		return NULL;
	f->a = cap;
	if (is_op(cur(P), '(') && !call_args(P, f))
		return NULL;
	if (!(n->c = filter_chain(P, f)) || !block_end(P) || !(n->b = body(P, ends, 1, &which)))
		return NULL;
	next(P);
	return block_end(P) ? n : NULL;
}

static node *stmt_with(parser *P, int line)
{
	static const char *const ends[] = { "endwith" };
	node *n = mk(P, N_WITH, line);
	nlist vals = { 0 };
	slist names = { 0 };
	int which;
	if (!n)
		return NULL;
	while (cur(P)->type != T_BLOCK_END) {
		if (names.n && !expect_op(P, ','))
			return NULL;
		if (cur(P)->type != T_NAME) {
			expect_type(P, T_NAME, "a name");
			return NULL;
		}
		if (!sl_push(P, &names, cur(P)->s))
			return NULL;
		next(P);
		node *v;
		if (!expect_op(P, '=') || !(v = expr(P)) || !nl_push(P, &vals, v))
			return NULL;
	}
	n->names = names.v;
	n->nnames = names.n;
	n->v = vals.v;
	n->nv = vals.n;
	if (!block_end(P) || !(n->b = body(P, ends, 1, &which)))
		return NULL;
	next(P);
	return block_end(P) ? n : NULL;
}

/* one {% ... %} statement, the current token being its first name */
static node *statement(parser *P)
{
	tm_token *t = cur(P);
	int line = t->line;
	if (t->type != T_NAME) {
		pfail(P, "expected a tag name");
		return NULL;
	}
	next(P);
	if (is_name(t, "if"))
		return stmt_if(P, line);
	if (is_name(t, "for"))
		return stmt_for(P, line);
	if (is_name(t, "set"))
		return stmt_set(P, line);
	if (is_name(t, "macro"))
		return stmt_macro(P, line);
	if (is_name(t, "filter"))
		return stmt_filter(P, line);
	if (is_name(t, "with"))
		return stmt_with(P, line);
	if (is_name(t, "break") || is_name(t, "continue")) {
		if (!P->loops) {
			P->i--;
			pfail(P, "'%.*s' outside of a loop", (int)t->s.n, t->s.p);
			return NULL;
		}
		node *n = mk(P, is_name(t, "break") ? N_BREAK : N_CONTINUE, line);
		return n && block_end(P) ? n : NULL;
	}
	if (is_name(t, "print")) {
		/* {% print a, b %}: the expressions' output, one after another */
		nlist outs = { 0 };
		node *b = mk(P, N_BODY, line);
		if (!b)
			return NULL;
		while (cur(P)->type != T_BLOCK_END) {
			if (outs.n && !expect_op(P, ','))
				return NULL;
			node *o = mk(P, N_OUTPUT, cur(P)->line);
			if (!o || !(o->a = expr(P)) || !nl_push(P, &outs, o))
				return NULL;
		}
		b->v = outs.v;
		b->nv = outs.n;
		return block_end(P) ? b : NULL;
	}
	if (is_name(t, "block")) {
		/* a block renders in place, in a scope of its own (no inheritance without a loader) */
		static const char *const ends[] = { "endblock" };
		int which;
		node *n = mk(P, N_SCOPE, line);
		if (!n)
			return NULL;
		if (cur(P)->type != T_NAME) {
			expect_type(P, T_NAME, "a block name");
			return NULL;
		}
		n->name = cur(P)->s;
		next(P);
		while (is_name(cur(P), "scoped") || is_name(cur(P), "required"))
			next(P);
		if (!block_end(P) || !(n->b = body(P, ends, 1, &which)))
			return NULL;
		next(P);
		if (cur(P)->type == T_NAME && tm_str_eqs(cur(P)->s, n->name))
			next(P);
		return block_end(P) ? n : NULL;
	}
	if (is_name(t, "generation")) {
		static const char *const ends[] = { "endgeneration" };
		int which;
		node *n;
		if (!block_end(P) || !(n = body(P, ends, 1, &which)))
			return NULL;
		next(P);
		return block_end(P) ? n : NULL;
	}
	P->i--;
	pfail(P, "unknown tag '%.*s'", (int)SH_MIN(t->s.n, 40), t->s.p);
	return NULL;
}

/* statements until {% END %} with END among ends (*which its index; the cursor is left on the
 * end name), or until the end of the template when nends is 0 */
static node *body(parser *P, const char *const *ends, int nends, int *which)
{
	if (!enter(P))
		return NULL;
	node *b = mk(P, N_BODY, cur(P)->line);
	nlist stmts = { 0 };
	if (!b)
		return NULL;
	for (;;) {
		tm_token *t = cur(P);
		node *s = NULL;
		if (t->type == T_EOF) {
			if (nends) {
				pfail(P, "unexpected end of template, expected '%s'", ends[nends - 1]);
				return NULL;
			}
			break;
		}
		if (t->type == T_DATA) {
			if ((s = mk(P, N_TEXT, t->line)))
				s->name = t->s;
			next(P);
		} else if (t->type == T_VAR_BEGIN) {
			next(P);
			if ((s = mk(P, N_OUTPUT, t->line)) && (s->a = expr_tuple(P, true)))
				expect_type(P, T_VAR_END, "end of print statement");
		} else if (t->type == T_BLOCK_BEGIN) {
			next(P);
			tm_token *name = cur(P);
			for (int k = 0; k < nends; k++)
				if (is_name(name, ends[k])) {
					*which = k;
					b->v = stmts.v;
					b->nv = stmts.n;
					P->depth--;
					return b;
				}
			if (name->type == T_NAME && (is_name(name, "endif") || is_name(name, "endfor") || is_name(name, "else") ||
						     is_name(name, "elif") || is_name(name, "endset") || is_name(name, "endmacro") ||
						     is_name(name, "endfilter") || is_name(name, "endwith") || is_name(name, "endgeneration") ||
						     is_name(name, "endblock"))) {
				pfail(P, "unexpected '%.*s'", (int)name->s.n, name->s.p);
				return NULL;
			}
			s = statement(P);
		} else {
			unexpected(P);
			return NULL;
		}
		if (P->failed || !s || !nl_push(P, &stmts, s))
			return NULL;
	}
	b->v = stmts.v;
	b->nv = stmts.n;
	P->depth--;
	return b;
}

/* ---------------------------------------------------------------- checks after parsing */
typedef struct mlink { node *m; const struct mlink *up; } mlink;

static bool check_fail(parser *P, const node *n, const char *fmt, tm_str name)
{
	if (P->failed)
		return false;
	P->failed = true;
	if (!P->errlen)
		return false;
	snprintf(P->err, P->errlen, "line %d: ", n->line);
	size_t k = strlen(P->err);
	snprintf(P->err + k, P->errlen - k, fmt, (int)SH_MIN(name.n, 60), name.p);
	return false;
}

/* what the tool-call families are told by: the template reads `tools`; its text or string
 * constants carry these markers */
enum {
	MARK_TOOLS = 1, MARK_TOOL_CALL = 2, MARK_TOOL_CALLS = 4, MARK_ACTION = 8, MARK_JSON_BLOCK = 16,
	MARK_PYTHON_TAG = 32, MARK_PARAMETERS = 64, MARK_HEADER = 128,
};
static const struct { const char *text; unsigned mark; } markers[] = {
	{ "<tool_call>", MARK_TOOL_CALL }, { "[TOOL_CALLS]", MARK_TOOL_CALLS }, { "Action:", MARK_ACTION },
	{ "```json", MARK_JSON_BLOCK }, { "<|python_tag|>", MARK_PYTHON_TAG }, { "\"parameters\"", MARK_PARAMETERS },
	{ "<|start_header_id|>", MARK_HEADER },
};

static void note_markers(parser *P, tm_str s)
{
	for (size_t i = 0; i < SH_ARRAY_LEN(markers); i++)
		if (!(P->marks & markers[i].mark) && s.n && memmem(s.p, s.n, markers[i].text, strlen(markers[i].text)))
			P->marks |= markers[i].mark;
}

static tmpl_tools_family tools_family(unsigned m)
{
	if (!(m & MARK_TOOLS))
		return TMPL_TOOLS_NONE;
	if (m & MARK_TOOL_CALLS)
		return TMPL_TOOLS_MISTRAL;
	if (m & MARK_TOOL_CALL)
		return TMPL_TOOLS_HERMES;
	if ((m & MARK_ACTION) && (m & MARK_JSON_BLOCK))
		return TMPL_TOOLS_COMMAND_R;
	if ((m & MARK_PYTHON_TAG) || ((m & MARK_HEADER) && (m & MARK_PARAMETERS)))
		return TMPL_TOOLS_LLAMA3;
	return TMPL_TOOLS_NONE;
}

static bool check(parser *P, node *n, int depth, const mlink *macros)
{
	if (!n)
		return true;
	if (depth > TM_MAX_TREE_DEPTH) {
		snprintf(P->err, P->errlen, "line %d: template nested too deeply", n->line);
		P->failed = true;
		return false;
	}
	for (; n; n = n->kind == N_IF && n->c && n->c->kind == N_IF && n->c->flag ? n->c : NULL) {
		mlink here = { n, macros };
		const mlink *ml = n->kind == N_MACRO ? &here : macros;
		if (n->kind == N_FILTER && !tm_filter_exists(n->name))
			return check_fail(P, n, "No filter named '%.*s'.", n->name);
		if (n->kind == N_TEST && !tm_test_exists(n->name))
			return check_fail(P, n, "No test named '%.*s'.", n->name);
		if (n->kind == N_NAME && (tm_str_eq(n->name, "varargs") || tm_str_eq(n->name, "kwargs")))
			for (const mlink *l = macros; l; l = l->up)
				l->m->op |= tm_str_eq(n->name, "varargs") ? MACRO_VARARGS : MACRO_KWARGS;
		if (n->kind == N_NAME && tm_str_eq(n->name, "tools"))
			P->marks |= MARK_TOOLS;
		if (n->kind == N_TEXT || (n->kind == N_CONST && n->cv.t == V_STR))
			note_markers(P, n->kind == N_TEXT ? n->name : n->cv.s);
		if (!check(P, n->a, depth + 1, ml) || !check(P, n->b, depth + 1, ml) || !check(P, n->d, depth + 1, ml))
			return false;
		if (!(n->kind == N_IF && n->c && n->c->kind == N_IF && n->c->flag) && !check(P, n->c, depth + 1, ml))
			return false;
		for (int i = 0; i < n->nv; i++)
			if (!check(P, n->v[i], depth + 1, ml))
				return false;
		if (n->kw)
			for (int i = 0; i < n->nnames; i++)
				if (!check(P, n->kw[i], depth + 1, ml))
					return false;
	}
	return true;
}

node *tm_parse(tm_token *toks, int n, tm_arena *a, tmpl_tools_family *tools, char *err, size_t errlen)
{
	parser P = { .t = toks, .n = n, .a = a, .err = err, .errlen = errlen };
	int which;
	node *root = body(&P, NULL, 0, &which);
	if (P.failed || !check(&P, root, 0, NULL))
		return NULL;
	*tools = tools_family(P.marks);
	return root;
}
