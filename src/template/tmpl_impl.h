/*
 * tmpl_impl.h - internals of the template interpreter shared by its files:
 *
 *   tmpl_arena.c     bump arena (parse trees and renders), growable byte buffers
 *   tmpl_lex.c       template text -> tokens (delimiters, whitespace control, expression tokens)
 *   tmpl_parse.c     tokens -> tree (jinja2's grammar and precedence), the post-parse checks
 *                    (and the tool-call markers the template carries)
 *   tmpl_value.c     values: Python semantics of str()/repr(), truth, ==, <, JSON in and out, UTF-8
 *   tmpl_eval.c      the evaluator: scopes, statements, expressions, operators, calls, limits
 *   tmpl_builtins.c  filters, tests, methods of str/dict/list/loop, globals
 *   tmpl_chat.c      public entry points (the chat render with tools), built-in templates, model
 *                    templates
 *
 * Values are small tagged unions passed by value; strings, lists and dicts point into the
 * render's arena (or into the tree, or into the caller's JSON, all of which outlive the render).
 * Lists and dicts are immutable once built, as in HF's immutable sandbox; only namespaces change.
 * Python's other sequence types matter to what a template sees (a generator is always true, has
 * no len() and is used up by one pass; dict.items() is not subscriptable), so a list carries its
 * Python kind.
 */
#ifndef SHOAL_TMPL_IMPL_H
#define SHOAL_TMPL_IMPL_H

#include "template/tmpl.h"

/* ---------------------------------------------------------------- arena */
typedef struct tm_chunk tm_chunk;
typedef struct {
	tm_chunk *head;
	size_t total, limit;   /* bytes handed out / cap (0: none) */
} tm_arena;

void *tm_alloc(tm_arena *a, size_t n);              /* NULL past the limit or out of memory */
void *tm_zalloc(tm_arena *a, size_t n);
/* grows the most recent allocation in place when possible, else copies */
void *tm_grow(tm_arena *a, void *p, size_t old, size_t n);
void tm_arena_free(tm_arena *a);

typedef struct { const char *p; size_t n; } tm_str;
#define TM_S(lit) ((tm_str){ (lit), sizeof(lit) - 1 })
static inline bool tm_str_eq(tm_str a, const char *b) { return strlen(b) == a.n && !memcmp(a.p, b, a.n); }
static inline bool tm_str_eqs(tm_str a, tm_str b) { return a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n)); }

/* a byte buffer in an arena; ok false once an append failed (arena or output limit) */
typedef struct {
	tm_arena *a;
	char *p;
	size_t n, cap;
	size_t *budget;        /* remaining output bytes shared by a render's buffers, or NULL */
	bool ok;
} tm_buf;
void tm_buf_init(tm_buf *b, tm_arena *a, size_t *budget);
bool tm_buf_add(tm_buf *b, const void *p, size_t n);
bool tm_buf_addc(tm_buf *b, char c);
bool tm_buf_adds(tm_buf *b, const char *s);
bool tm_buf_printf(tm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline tm_str tm_buf_str(const tm_buf *b) { return (tm_str){ b->p ? b->p : "", b->n }; }

/* Work done inside one step (bytes scanned or copied, values compared, dict probes), per thread:
 * tm_step folds it into the step count (64 units = one step), so that no single step, however
 * large its operands, runs unbounded. */
extern _Thread_local uint64_t tm_work;
#define TM_WORK(n) (tm_work += (uint64_t)(n))

/* ---------------------------------------------------------------- values */
enum {
	V_UNDEF, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_LIST, V_DICT, V_NS,
	V_MACRO, V_FUNC, V_METHOD, V_LOOP,
};
/* Python kinds of a V_LIST */
enum {
	L_LIST, L_TUPLE, L_RANGE,                     /* sequences: len, index, slice */
	L_GEN, L_LISTREV, L_REV, L_DICTREV,           /* iterators: one pass, always true, no len */
	L_ITEMS, L_KEYS, L_VALUES,                    /* dict views: len, iterable, no index */
};
#define TM_L_ITER(k) ((k) >= L_GEN && (k) <= L_DICTREV)
#define TM_L_VIEW(k) ((k) >= L_ITEMS)
/* why a value is undefined (the message when it is used, as jinja2 words it):
 *   U_NAME  'NAME' is undefined
 *   U_ATTR  'OBJ' has no attribute 'NAME'        (a str key or attribute)
 *   U_ITEM  OBJ has no element KEY               (s is repr(key))
 *   U_HINT  s itself                              ("No first item, sequence was empty.", ...) */
enum { U_NAME, U_ATTR, U_ITEM, U_HINT };

struct node;
typedef struct tm_list tm_list;
typedef struct tm_dict tm_dict;
typedef struct tm_loop tm_loop;
typedef struct tm_method tm_method;
typedef struct tm_macro tm_macro;
typedef struct tm_scope tm_scope;

typedef struct val {
	uint8_t t;
	uint8_t ukind;         /* V_UNDEF: U_* */
	uint8_t uobj, ulist;   /* V_UNDEF: type (V_*) and list kind of the object that lacked it */
	union {
		bool b;
		int64_t i;
		double f;
		tm_str s;          /* V_STR; V_UNDEF: the name, repr of the key, or the hint */
		tm_list *l;
		tm_dict *d;        /* V_DICT, V_NS */
		tm_macro *mac;
		int fn;
		tm_method *meth;
		tm_loop *loop;
	};
} val;

struct tm_list {
	size_t n;
	uint8_t kind;          /* L_* */
	size_t pos;            /* iterators: items already consumed */
	int64_t r0, r1, rs;    /* L_RANGE: start, stop, step (its repr) */
	val *v;
};
struct tm_dict { size_t n, cap; val *k, *v; };
struct tm_method { val self; int id; };
struct tm_macro { const struct node *n; tm_scope *scope; };
struct tm_loop {
	const tm_list *items;  /* the (filtered) sequence */
	size_t i;              /* current index0 */
	val last;              /* loop.changed()'s memory */
	bool has_last;
};

static inline val v_undef(void) { return (val){ .t = V_UNDEF }; }
static inline val v_none(void) { return (val){ .t = V_NONE }; }
static inline val v_bool(bool b) { return (val){ .t = V_BOOL, .b = b }; }
static inline val v_int(int64_t i) { return (val){ .t = V_INT, .i = i }; }
static inline val v_float(double f) { return (val){ .t = V_FLOAT, .f = f }; }
static inline val v_str(const char *p, size_t n) { return (val){ .t = V_STR, .s = { p, n } }; }
static inline val v_strs(tm_str s) { return (val){ .t = V_STR, .s = s }; }
static inline val v_list(tm_list *l) { return (val){ .t = V_LIST, .l = l }; }
static inline val v_dict(tm_dict *d) { return (val){ .t = V_DICT, .d = d }; }
static inline val v_hint(const char *msg) { return (val){ .t = V_UNDEF, .ukind = U_HINT, .s = { msg, strlen(msg) } }; }

const char *tm_type_name(val v);             /* Python's: "str", "dict", "NoneType", "generator" ... */
/* jinja2's object_type_repr of the object an undefined came from: "dict object", "None", ... */
const char *tm_undef_obj_desc(val u);
bool tm_truthy(val v);
bool tm_eq(val a, val b, int depth);
/* a < b as Python orders them; sets *err on incomparable types */
int tm_cmp(val a, val b, bool *err);
/* Python str() / repr(); false when the buffer failed or nesting is too deep */
bool tm_to_str(tm_buf *b, val v);
bool tm_repr(tm_buf *b, val v, int depth);
bool tm_float_repr(tm_buf *b, double f);
/* HF's tojson: json.dumps(ensure_ascii, indent, separators, sort_keys). indent NULL: none (a
 * string is the indentation itself, as json.dumps does with str(indent) or ' ' * indent);
 * item_sep/key_sep NULL: json.dumps' defaults. *bad gets the offending type name. */
typedef struct {
	bool ensure_ascii, sort_keys;
	const tm_str *indent;
	const tm_str *item_sep, *key_sep;
} tm_json_opts;
bool tm_to_json(tm_buf *b, val v, const tm_json_opts *o, const char **bad);
/* JSON value -> template value (strings point into the JSON) */
bool tm_from_json(tm_arena *a, const json_t *j, val *out, int depth);

tm_dict *tm_dict_new(tm_arena *a, size_t cap);
bool tm_dict_set(tm_arena *a, tm_dict *d, val k, val v);
/* index of key k, or -1 */
long tm_dict_find(const tm_dict *d, val k);
long tm_dict_find_str(const tm_dict *d, tm_str k);
tm_list *tm_list_new(tm_arena *a, size_t n);      /* kind L_LIST, items zeroed (undefined) */
bool tm_hashable(val v);                          /* may be a dict key */

/* UTF-8: code points in s; Python's character classes */
size_t tm_utf8_len(tm_str s);
bool tm_is_ascii(tm_str s);
size_t tm_utf8_decode(const char *p, size_t n, uint32_t *cp);  /* bytes used (>= 1) */
size_t tm_utf8_encode(uint32_t cp, char *out);
bool tm_is_space(uint32_t cp);                                  /* Python's str.isspace */
bool tm_is_alnum(uint32_t cp);                                  /* str.isalnum (approximately) */
bool tm_is_alpha(uint32_t cp);
bool tm_is_digit(uint32_t cp);
bool tm_is_printable(uint32_t cp);                              /* str.isprintable (approximately) */
uint32_t tm_upper(uint32_t cp);
uint32_t tm_lower(uint32_t cp);
/* byte length of the whitespace code point at p (0: none) */
size_t tm_space_at(const char *p, size_t n);
/* length of s without its trailing whitespace */
size_t tm_rstrip_len(const char *p, size_t n);

/* ---------------------------------------------------------------- tokens and tree */
enum {
	T_EOF, T_DATA, T_VAR_BEGIN, T_VAR_END, T_BLOCK_BEGIN, T_BLOCK_END,
	T_NAME, T_STRING, T_INT, T_FLOAT, T_OP,
};
/* two-character operators as single codes; one-character ones are themselves */
enum { OP_FLOORDIV = 'F', OP_POW = 'P', OP_EQ = 'E', OP_NE = 'N', OP_GE = 'G', OP_LE = 'L' };

typedef struct {
	uint8_t type, op;
	int line;
	tm_str s;              /* DATA text, NAME, decoded STRING */
	int64_t i;
	double f;
} tm_token;

/* tokens of src into a malloc'd array (*n, ending with T_EOF); strings decoded into a */
tm_token *tm_lex(const char *src, size_t len, tm_arena *a, int *n, char *err, size_t errlen);

enum {
	/* statements */
	N_BODY, N_TEXT, N_OUTPUT, N_IF, N_FOR, N_SET, N_SETBLOCK, N_MACRO, N_BREAK, N_CONTINUE,
	N_FILTERBLOCK, N_WITH, N_SCOPE,
	/* expressions */
	N_CONST, N_NAME, N_ATTR, N_ITEM, N_SLICE, N_CALL, N_FILTER, N_TEST, N_NEG, N_POS, N_NOT,
	N_AND, N_OR, N_BIN, N_CMP, N_COND, N_LIST, N_TUPLE, N_DICT, N_CONCAT, N_CAPTURED,
};
/* macro flags (node op): what its body refers to */
enum { MACRO_VARARGS = 1, MACRO_KWARGS = 2 };

/* One node shape for everything; which fields mean what per kind:
 *   BODY v: statements              TEXT/NAME name                  OUTPUT a
 *   IF a cond, b then, c else (an N_IF with flag set: an elif)
 *   FOR names targets (flag: unpack), a iter, d filter, b body, c else
 *   SET names targets (op: unpack; flag: namespace names[0].name), a value
 *   SETBLOCK names[0] (flag: namespace names[0].name), b body, c filters (NULL: none)
 *   MACRO name, names params, v defaults (entries NULL: none), b body, op MACRO_* flags
 *   FILTERBLOCK b body, c filters   WITH names, v values, b body    SCOPE b body (block)
 *   CONST cv    ATTR a.name    ITEM a[b]    SLICE a[b:c:d]
 *   CALL a(v..., names=kw...)    FILTER a|name(v..., names=kw...)    TEST a is name(v...)
 *   NEG/POS/NOT a    AND/OR/BIN(op) a, b    CMP a then ops[i] v[i]    COND a if b else c
 *   LIST/TUPLE v    DICT v = k0, v0, k1, v1, ...    CONCAT v    CAPTURED: a block's output */
typedef struct node {
	uint8_t kind, op;
	bool flag;
	int line;
	struct node *a, *b, *c, *d;
	struct node **v;
	int nv;
	struct node **kw;
	tm_str *names;
	int nnames;
	uint8_t *ops;
	tm_str name;
	val cv;
} node;

struct tmpl {
	tm_arena a;
	node *root;
	tmpl_tools_family tools;  /* what the check walk found (tmpl_tools_family_of) */
};

/* the tree of tokens; NULL on error (message in err). *tools gets the tool-call family the
 * template's markers tell (see tmpl_tools_family_of). */
node *tm_parse(tm_token *toks, int n, tm_arena *a, tmpl_tools_family *tools, char *err, size_t errlen);

/* ---------------------------------------------------------------- evaluation */
struct tm_scope {
	tm_scope *parent;
	size_t n, cap;
	tm_str *k;
	val *v;
};

typedef struct {
	tm_arena a;
	tm_scope *root, *cur;
	tm_buf *out;
	size_t out_budget;
	uint64_t steps, max_steps;
	int depth;
	time_t now;
	int jump;              /* JUMP_BREAK / JUMP_CONTINUE pending */
	val captured;          /* the value N_CAPTURED stands for */
	int line;              /* line of the node being evaluated */
	bool failed;
	bool limit_hit;        /* the failure was a cap (steps, output, memory, depth) */
	size_t max_output;
	char *err;
	size_t errlen;
} tm_ctx;
enum { JUMP_NONE, JUMP_BREAK, JUMP_CONTINUE };

#define TM_MAX_DEPTH 600        /* nesting of evaluation (C stack), macro recursion included */
#define TM_MAX_PARSE_DEPTH 200  /* nesting in the source */
#define TM_MAX_TREE_DEPTH 500   /* height of the parsed tree (left-deep chains like a+b+c+...) */
#define TM_MAX_RANGE 100000     /* jinja2's sandbox MAX_RANGE */
#define TM_MAX_VALUE_DEPTH 256  /* nesting printed, compared or serialized */

/* call arguments */
typedef struct {
	int n, nkw;
	val *v;
	const tm_str *kwn;
	val *kwv;
} tm_args;

/* sets the render's error (first one wins), returns false */
bool tm_fail(tm_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* raise_exception(msg): the error is exactly msg */
bool tm_raise(tm_ctx *c, tm_str msg);
/* the error a use of undefined u raises */
bool tm_fail_undef(tm_ctx *c, val u);
/* "out of memory" or "output too large", whichever the failed buffer or arena hit */
bool tm_fail_mem(tm_ctx *c);
/* binds args to names (positional then keyword) into out[np] (V_UNDEF + ukind 0xFF: not given) */
bool tm_bind(tm_ctx *c, const char *what, const char *const *names, int np, const tm_args *a, val *out);
static inline bool tm_given(val v) { return !(v.t == V_UNDEF && v.ukind == 0xFF); }
bool tm_str_of(tm_ctx *c, val v, tm_str *out);     /* str(v) as a string */
bool tm_call(tm_ctx *c, val f, const tm_args *a, val *out);
bool tm_getattr(tm_ctx *c, val obj, tm_str name, val *out);
bool tm_getitem(tm_ctx *c, val obj, val key, val *out);
/* the items an iteration sees (list, tuple, dict keys, string characters, undefined: none);
 * iterators are used up */
bool tm_iterate(tm_ctx *c, val v, tm_list **out);
bool tm_step(tm_ctx *c);
/* Python's len(); false with an error for types without one */
bool tm_len(tm_ctx *c, val v, int64_t *out);
/* a new string in the render's arena */
bool tm_new_str(tm_ctx *c, const char *p, size_t n, val *out);
/* Python's binary operators and comparisons */
bool tm_binop(tm_ctx *c, int op, val a, val b, val *out);
bool tm_compare(tm_ctx *c, int op, val a, val b, bool *out);
bool tm_contains(tm_ctx *c, val container, val item, bool *out);
/* Python's printf-style `fmt % args` (args: a tuple, a dict for %(name)s, or one value) */
bool tm_str_format(tm_ctx *c, tm_str fmt, val args, val *out);

/* builtins: by name */
bool tm_filter(tm_ctx *c, tm_str name, val in, const tm_args *a, val *out);
bool tm_test(tm_ctx *c, tm_str name, val in, const tm_args *a, bool *out);
bool tm_test_exists(tm_str name);
bool tm_filter_exists(tm_str name);
int tm_method_find(val self, tm_str name);          /* method id or -1 */
bool tm_method_call(tm_ctx *c, const tm_method *m, const tm_args *a, val *out);
int tm_global_find(tm_str name);                    /* function id or -1 */
bool tm_global_call(tm_ctx *c, int fn, const tm_args *a, val *out);
const char *tm_global_name(int fn);
const char *tm_method_name(int id);
bool tm_loop_attr(tm_ctx *c, tm_loop *l, tm_str name, val *out);
bool tm_macro_call(tm_ctx *c, const tm_macro *m, const tm_args *a, val *out);

int tm_render(const tmpl *t, const json_t *vars, const tmpl_opts *o, char **out, size_t *out_len,
	      char *err, size_t errlen);

#endif
