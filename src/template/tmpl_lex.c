/*
 * tmpl_lex.c - template text to tokens, following jinja2 3.1's lexer with HF's settings
 * (trim_blocks, lstrip_blocks, keep_trailing_newline off).
 *
 * The source is first normalized as jinja2 does: \r\n and \r become \n and one trailing newline
 * is dropped. Then text runs alternate with tags:
 *   - `{%-`, `{{-`, `{#-` strip all whitespace before the tag; `-%}`, `-}}`, `-#}` all after it;
 *   - trim_blocks: a `%}` or `#}` eats one newline right after it (not `+%}`, not `}}`, and not
 *     the `%}` of `{% raw %}`, whose regex in jinja2 has no trim suffix);
 *   - lstrip_blocks: whitespace between the start of a line and a `{%` or `{#` goes away, unless
 *     the tag is `{%+`; "start of a line" includes the template start and the text right after
 *     a tag whose match ended in a newline (jinja2's line_starting).
 * "Whitespace" is Python's \s: Unicode white space, as jinja2's regexes and str.rstrip() see it.
 * Inside a tag, an end delimiter counts only outside brackets ({{ {'a': {'b': 1}} }} works).
 * Numbers follow jinja2's integer (0b/0o/0x, 1_000) and float regexes; string literals are
 * decoded with Python's unicode-escape rules; `{% raw %}...{% endraw %}` becomes text.
 */
#include "template/tmpl_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
	const char *s;
	size_t n, pos;
	int line;
	tm_arena *a;
	tm_token *t;
	int nt, cap;
	char *err;
	size_t errlen;
	bool failed;
} lexer;

static bool lex_fail(lexer *L, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool lex_fail(lexer *L, int line, const char *fmt, ...)
{
	if (L->failed)
		return false;
	L->failed = true;
	int k = snprintf(L->err, L->errlen, "line %d: ", line);
	if (k >= 0 && (size_t)k < L->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(L->err + k, L->errlen - (size_t)k, fmt, ap);
		va_end(ap);
	}
	return false;
}

static tm_token *push(lexer *L, int type, int line)
{
	if (L->nt + 1 >= L->cap) {
		if (L->cap > (1 << 26)) {
			lex_fail(L, line, "template too large");
			return NULL;
		}
		int cap = L->cap ? L->cap * 2 : 256;
		tm_token *t = realloc(L->t, (size_t)cap * sizeof *t);
		if (!t) {
			lex_fail(L, line, "out of memory");
			return NULL;
		}
		L->t = t;
		L->cap = cap;
	}
	tm_token *t = &L->t[L->nt++];
	*t = (tm_token){ .type = (uint8_t)type, .line = line };
	return t;
}

static int count_lines(const char *p, size_t n)
{
	int k = 0;
	for (size_t i = 0; i < n; i++)
		k += p[i] == '\n';
	return k;
}

/* end of the whitespace run starting at i */
static size_t skip_space(const char *s, size_t n, size_t i)
{
	size_t k;
	while (i < n && (k = tm_space_at(s + i, n - i)))
		i += k;
	return i;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* ---------------------------------------------------------------- whitespace control */
/* The text s[from, to) before a tag that opens with sign ('-', '+' or 0): where it ends after
 * stripping. lstrip applies to block and comment tags (not `{{`): when the text after its last
 * newline (or all of it, at the start of a line) is whitespace only, that part goes. */
static size_t strip_before(const char *s, size_t from, size_t to, char sign, bool lstrip, bool line_starting)
{
	if (sign == '-')
		return from + tm_rstrip_len(s + from, to - from);
	if (sign == '+' || !lstrip)
		return to;
	size_t l = to;
	while (l > from && s[l - 1] != '\n')
		l--;
	if ((l > from || line_starting) && l < to && skip_space(s, to, l) == to)
		return l;
	return to;
}

/* ---------------------------------------------------------------- literals */
static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Python's unicode-escape decoding of a literal's body (as jinja2 does, through
 * .encode("ascii", "backslashreplace").decode("unicode-escape"), so non-ASCII text stays) */
static bool decode_string(lexer *L, const char *p, size_t n, tm_token *t)
{
	static const char esc_from[] = "ntr\\'\"abfv", esc_to[] = "\n\t\r\\'\"\a\b\f\v";
	char *o = tm_alloc(L->a, n + 1);
	size_t k = 0;
	if (!o)
		return lex_fail(L, t->line, "out of memory");
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\\' || i + 1 == n) {
			o[k++] = p[i];
			continue;
		}
		char e = p[++i];
		const char *simple = e ? strchr(esc_from, e) : NULL;
		if (e == '\n') {
			continue; /* line continuation */
		} else if (simple) {
			o[k++] = esc_to[simple - esc_from];
		} else if (e >= '0' && e <= '7') {
			unsigned v = 0;
			int d = 0;
			while (d < 3 && i < n && p[i] >= '0' && p[i] <= '7')
				v = v * 8 + (unsigned)(p[i++] - '0'), d++;
			i--;
			k += tm_utf8_encode(v, o + k);
		} else if (e == 'x' || e == 'u' || e == 'U') {
			int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
			uint32_t v = 0;
			for (int d = 1; d <= digits; d++) {
				int h = i + (size_t)d < n ? hexval(p[i + (size_t)d]) : -1;
				if (h < 0)
					return lex_fail(L, t->line, "truncated \\%s escape", e == 'x' ? "xXX" : e == 'u' ? "uXXXX" : "UXXXXXXXX");
				v = v * 16 + (uint32_t)h;
			}
			if (v > 0x10FFFF)
				return lex_fail(L, t->line, "illegal Unicode character");
			i += (size_t)digits;
			k += tm_utf8_encode(v, o + k);
		} else if (e == 'N') {
			return lex_fail(L, t->line, "\\N{...} escapes are not supported");
		} else {
			o[k++] = '\\';
			i--; /* the character after the backslash is ordinary text */
		}
	}
	o[k] = '\0';
	t->s = (tm_str){ o, k };
	return true;
}

/* digits of one base with single underscores between them: jinja2's (_?D)+ / D(_?D)* */
static size_t digit_run(const char *s, size_t n, size_t i, int base, bool lead_underscore)
{
	size_t start = i;
	for (;;) {
		size_t j = i;
		if (j < n && s[j] == '_' && (j > start || lead_underscore))
			j++;
		int d = j < n ? hexval(s[j]) : -1;
		if (d < 0 || d >= base)
			break;
		i = j + 1;
	}
	return i;
}

static bool lex_number(lexer *L)
{
	const char *s = L->s;
	size_t n = L->n, i = L->pos, end = i;
	bool is_float = false;
	int base = 10;
	size_t digits_from = i;
	/* float: (?<!\.) (\d+_)*\d+ ( (\.(\d+_)*\d+)? e[+-]?(\d+_)*\d+ | \.(\d+_)*\d+ ) */
	if (!(i > 0 && s[i - 1] == '.')) {
		size_t j = digit_run(s, n, i, 10, false);
		size_t frac = j;
		if (j + 1 < n && s[j] == '.' && is_digit(s[j + 1]))
			frac = digit_run(s, n, j + 1, 10, false);
		size_t e = frac;
		if (e < n && (s[e] == 'e' || s[e] == 'E')) {
			e++;
			if (e < n && (s[e] == '+' || s[e] == '-'))
				e++;
			if (e < n && is_digit(s[e])) {
				end = digit_run(s, n, e, 10, false);
				is_float = true;
			}
		}
		if (!is_float && frac > j) {
			end = frac;
			is_float = true;
		}
	}
	if (!is_float) {
		/* integer: 0b(_?[01])+ | 0o(_?[0-7])+ | 0x(_?[0-9a-f])+ | [1-9](_?\d)* | 0(_?0)* */
		char p = i + 1 < n ? (char)(s[i + 1] | 0x20) : 0;
		base = s[i] != '0' ? 10 : p == 'b' ? 2 : p == 'o' ? 8 : p == 'x' ? 16 : 0;
		if (s[i] == '0' && base) {
			end = digit_run(s, n, i + 2, base, true);
			if (end == i + 2)
				base = 0; /* "0x" alone: just the zero */
			else
				digits_from = i + 2;
		}
		if (!base) {
			base = 10;
			for (end = i + 1;;) {
				if (end < n && s[end] == '0')
					end++;
				else if (end + 1 < n && s[end] == '_' && s[end + 1] == '0')
					end += 2;
				else
					break;
			}
		} else if (base == 10 && s[i] != '0') {
			end = digit_run(s, n, i, 10, false);
		}
	}
	char buf[128];
	size_t k = 0;
	for (size_t j = digits_from; j < end; j++)
		if (s[j] != '_') {
			if (k + 1 >= sizeof buf)
				return lex_fail(L, L->line, "number literal too long");
			buf[k++] = s[j];
		}
	buf[k] = '\0';
	tm_token *t = push(L, is_float ? T_FLOAT : T_INT, L->line);
	if (!t)
		return false;
	if (is_float) {
		t->f = strtod(buf, NULL);
	} else {
		errno = 0;
		unsigned long long v = strtoull(buf, NULL, base);
		if (errno || v > INT64_MAX)
			return lex_fail(L, L->line, "integer literal %s is too large", buf);
		t->i = (int64_t)v;
	}
	L->pos = end;
	return true;
}

/* ---------------------------------------------------------------- tags */
static const char ops2[][3] = { "//", "**", "==", "!=", ">=", "<=" };
static const char ops2_code[] = { OP_FLOORDIV, OP_POW, OP_EQ, OP_NE, OP_GE, OP_LE };

/* an identifier character: ASCII letters, digits, '_', and any non-ASCII non-space code point
 * (Python identifiers may be Unicode; jinja2 lexes \w+ and checks isidentifier) */
static size_t ident_char(const char *s, size_t n, size_t i)
{
	unsigned char c = (unsigned char)s[i];
	if (c < 0x80)
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit((char)c) || c == '_';
	uint32_t cp;
	size_t k = tm_utf8_decode(s + i, n - i, &cp);
	return tm_is_alnum(cp) ? k : 0;
}

/* lexes the inside of a tag up to its end delimiter ('}' for }}, '%' for %}) */
static bool lex_tag(lexer *L, char end, bool *line_starting)
{
	char stack[TM_MAX_PARSE_DEPTH];
	int depth = 0, start_line = L->line;
	const char *s = L->s;
	for (;;) {
		size_t i = skip_space(s, L->n, L->pos);
		L->line += count_lines(s + L->pos, i - L->pos);
		L->pos = i;
		size_t left = L->n - i;
		if (!left)
			return lex_fail(L, start_line, "unexpected end of template, the tag is not closed");
		if (!depth) {
			/* +%} | -%}\s* | %}\n?   and   -}}\s* | }} */
			bool minus = s[i] == '-', plus = s[i] == '+' && end == '%';
			size_t k = minus || plus ? 1 : 0;
			if (left >= k + 2 && s[i + k] == end && s[i + k + 1] == '}') {
				if (!push(L, end == '%' ? T_BLOCK_END : T_VAR_END, L->line))
					return false;
				size_t after = i + k + 2;
				if (minus)
					after = skip_space(s, L->n, after);
				else if (end == '%' && !plus && after < L->n && s[after] == '\n')
					after++;
				L->line += count_lines(s + i, after - i);
				L->pos = after;
				*line_starting = s[after - 1] == '\n';
				return true;
			}
		}
		char ch = s[i];
		size_t idk;
		if (is_digit(ch)) {
			if (!lex_number(L))
				return false;
		} else if ((idk = ident_char(s, L->n, i))) {
			size_t j = i;
			while (j < L->n && (idk = ident_char(s, L->n, j)))
				j += idk;
			tm_token *t = push(L, T_NAME, L->line);
			if (!t)
				return false;
			t->s = (tm_str){ s + i, j - i };
			L->pos = j;
		} else if (ch == '\'' || ch == '"') {
			size_t j = i + 1;
			while (j < L->n && s[j] != ch)
				j += s[j] == '\\' ? 2 : 1;
			if (j >= L->n)
				return lex_fail(L, L->line, "unexpected char '%c' (an unterminated string)", ch);
			tm_token *t = push(L, T_STRING, L->line);
			if (!t || !decode_string(L, s + i + 1, j - i - 1, t))
				return false;
			L->line += count_lines(s + i, j - i);
			L->pos = j + 1;
		} else {
			int op = 0;
			for (size_t k = 0; k < SH_ARRAY_LEN(ops2) && !op; k++)
				if (left >= 2 && s[i] == ops2[k][0] && s[i + 1] == ops2[k][1])
					op = ops2_code[k];
			if (op) {
				L->pos += 2;
			} else if (ch && strchr("+-/*%~[](){}><=.:|,;", ch)) {
				op = ch;
				L->pos++;
			} else if ((unsigned char)ch >= 0x20 && (unsigned char)ch < 0x7F) {
				return lex_fail(L, L->line, "unexpected char '%c'", ch);
			} else {
				return lex_fail(L, L->line, "unexpected char '\\x%02x'", (unsigned char)ch);
			}
			if (op == '(' || op == '[' || op == '{') {
				if (depth == TM_MAX_PARSE_DEPTH)
					return lex_fail(L, L->line, "brackets nested too deeply");
				stack[depth++] = (char)op;
			} else if (op == ')' || op == ']' || op == '}') {
				char open = op == ')' ? '(' : op == ']' ? '[' : '{';
				if (!depth)
					return lex_fail(L, L->line, "unexpected '%c'", op);
				if (stack[depth - 1] != open) {
					char want = stack[depth - 1] == '(' ? ')' : stack[depth - 1] == '[' ? ']' : '}';
					return lex_fail(L, L->line, "unexpected '%c', expected '%c'", op, want);
				}
				depth--;
			}
			tm_token *t = push(L, T_OP, L->line);
			if (!t)
				return false;
			t->op = (uint8_t)op;
		}
	}
}

/* `{% raw %}` at s+i (just after "{%" and its sign)? jinja2: \s*raw\s*(?:-%}\s*|%}) - no trim
 * suffix. Sets *after past the tag (and the whitespace a -%} strips). */
static bool is_raw_tag(const char *s, size_t n, size_t i, size_t *after)
{
	i = skip_space(s, n, i);
	if (n - i < 3 || memcmp(s + i, "raw", 3))
		return false;
	i = skip_space(s, n, i + 3);
	bool minus = i < n && s[i] == '-';
	i += minus;
	if (n - i < 2 || s[i] != '%' || s[i + 1] != '}')
		return false;
	*after = minus ? skip_space(s, n, i + 2) : i + 2;
	return true;
}

/* finds {% endraw %} from i: *tag_start at its "{%", *sign its sign, *after past it:
 * {%(-|+|)\s*endraw\s*(?:+%}|-%}\s*|%}\n?) */
static bool find_endraw(const char *s, size_t n, size_t i, size_t *tag_start, char *sign, size_t *after)
{
	for (; i + 1 < n; i++) {
		if (s[i] != '{' || s[i + 1] != '%')
			continue;
		size_t j = i + 2;
		char sg = j < n && (s[j] == '-' || s[j] == '+') ? s[j] : 0;
		j = skip_space(s, n, j + (sg != 0));
		if (n - j < 6 || memcmp(s + j, "endraw", 6))
			continue;
		j = skip_space(s, n, j + 6);
		char es = j < n && (s[j] == '-' || s[j] == '+') ? s[j] : 0;
		j += es != 0;
		if (n - j < 2 || s[j] != '%' || s[j + 1] != '}')
			continue;
		j += 2;
		if (es == '-')
			j = skip_space(s, n, j);
		else if (!es && j < n && s[j] == '\n')
			j++;
		*tag_start = i;
		*sign = sg;
		*after = j;
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------- driver */
static bool add_data(lexer *L, size_t from, size_t to)
{
	if (to > from) {
		tm_token *t = push(L, T_DATA, L->line);
		if (!t)
			return false;
		t->s = (tm_str){ L->s + from, to - from };
	}
	return true;
}

static bool lex_all(lexer *L)
{
	const char *s = L->s;
	size_t n = L->n;
	bool line_starting = true;
	while (L->pos < n && !L->failed) {
		size_t from = L->pos, i = from;
		for (;;) {
			const char *p = memchr(s + i, '{', n - i);
			if (!p) {
				i = n;
				break;
			}
			i = (size_t)(p - s);
			if (i + 1 < n && (s[i + 1] == '{' || s[i + 1] == '%' || s[i + 1] == '#'))
				break;
			i++;
		}
		if (i >= n) {
			L->pos = n;
			return add_data(L, from, n);
		}
		char kind = s[i + 1];
		char sign = i + 2 < n && (s[i + 2] == '-' || s[i + 2] == '+') ? s[i + 2] : 0;
		size_t to = strip_before(s, from, i, sign, kind != '{', line_starting);
		if (!add_data(L, from, to))
			return false;
		L->line += count_lines(s + from, i - from);
		size_t body = i + 2 + (sign ? 1 : 0), after;
		if (kind == '%' && is_raw_tag(s, n, body, &after)) {
			size_t tag_start, end_after;
			char esign;
			int raw_line = L->line;
			if (!find_endraw(s, n, after, &tag_start, &esign, &end_after))
				return lex_fail(L, raw_line, "Missing end of raw directive");
			line_starting = s[after - 1] == '\n';
			size_t rto = strip_before(s, after, tag_start, esign, true, line_starting);
			L->line += count_lines(s + i, after - i);
			if (!add_data(L, after, rto))
				return false;
			L->line += count_lines(s + after, end_after - after);
			L->pos = end_after;
			line_starting = s[end_after - 1] == '\n';
			continue;
		}
		if (kind == '#') {
			/* (.*?)((?:+#}|-#}\s*|#}\n?)) */
			size_t j = body;
			for (; j + 1 < n; j++)
				if (s[j] == '#' && s[j + 1] == '}')
					break;
			if (j + 1 >= n)
				return lex_fail(L, L->line, "Missing end of comment tag");
			size_t e = j + 2;
			if (j > body && s[j - 1] == '-')
				e = skip_space(s, n, e);
			else if (!(j > body && s[j - 1] == '+') && e < n && s[e] == '\n')
				e++;
			L->line += count_lines(s + i, e - i);
			L->pos = e;
			line_starting = s[e - 1] == '\n';
			continue;
		}
		L->pos = body;
		if (!push(L, kind == '{' ? T_VAR_BEGIN : T_BLOCK_BEGIN, L->line))
			return false;
		if (!lex_tag(L, kind == '{' ? '}' : '%', &line_starting))
			return false;
	}
	return !L->failed;
}

tm_token *tm_lex(const char *src, size_t len, tm_arena *a, int *n, char *err, size_t errlen)
{
	/* newline normalization and the dropped trailing newline */
	char *norm = tm_alloc(a, len + 1);
	size_t k = 0;
	lexer L = { .line = 1, .a = a, .err = err, .errlen = errlen };
	if (!norm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		if (src[i] == '\r') {
			norm[k++] = '\n';
			if (i + 1 < len && src[i + 1] == '\n')
				i++;
		} else {
			norm[k++] = src[i];
		}
	}
	if (k && norm[k - 1] == '\n')
		k--;
	norm[k] = '\0';
	L.s = norm;
	L.n = k;
	if (lex_all(&L) && push(&L, T_EOF, L.line)) {
		*n = L.nt;
		return L.t;
	}
	free(L.t);
	return NULL;
}
