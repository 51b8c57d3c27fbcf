/*
 * tools.c - tool calls out of a model's text (tools.h): markers found as the text grows, JSON read
 * with jansson, each call checked for a name and object arguments before it counts.
 */
#define _GNU_SOURCE /* memmem */
#include "api/tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char HERMES_OPEN[] = "<tool_call>", HERMES_CLOSE[] = "</tool_call>";

static bool is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* s[0..n) without leading and trailing white space */
static void trim(const char **s, size_t *n)
{
	while (*n && is_space(**s))
		(*s)++, (*n)--;
	while (*n && is_space((*s)[*n - 1]))
		(*n)--;
}

static bool starts(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);
	return n >= k && !memcmp(s, prefix, k);
}

/* OpenAI's call: {id, type, function: {name, arguments: a JSON string}} from a name and an object */
static json_t *call_new(tools_stream *t, json_t *name, json_t *args)
{
	if (!json_is_string(name) || !json_string_length(name) || !json_is_object(args))
		return NULL;
	char *a = json_dumps(args, JSON_COMPACT);
	char id[32];
	uint64_t r = t->rand(t->rand_ctx), r2 = t->rand(t->rand_ctx);
	snprintf(id, sizeof id, "call_%016llx%08llx", (unsigned long long)r, (unsigned long long)(r2 & 0xffffffffu));
	json_t *c = a ? json_pack("{s:s, s:s, s:{s:O, s:s}}", "id", id, "type", "function", "function", "name", name,
				  "arguments", a)
		      : NULL;
	free(a);
	return c;
}

/* one {NAME_KEY: N, ARGS_KEY: {...}} object (args_alt another spelling of the arguments' key) */
static json_t *call_of(tools_stream *t, json_t *o, const char *name_key, const char *args_key, const char *args_alt)
{
	json_t *args = json_object_get(o, args_key);
	if (!args && args_alt)
		args = json_object_get(o, args_alt);
	if (json_is_string(args)) { /* some models write the arguments as a JSON string */
		json_error_t je;
		json_t *parsed = json_loads(json_string_value(args), 0, &je);
		json_t *c = call_new(t, json_object_get(o, name_key), parsed);
		json_decref(parsed);
		return c;
	}
	return call_new(t, json_object_get(o, name_key), args);
}

static json_t *json_of(const char *s, size_t n)
{
	json_error_t je;
	trim(&s, &n);
	return n ? json_loadb(s, n, 0, &je) : NULL;
}

/* the calls in a JSON object or array of objects, appended to calls; false (calls unchanged) if any
 * is not a call */
static bool calls_of(tools_stream *t, json_t *v, const char *name_key, const char *args_key, const char *args_alt,
		     json_t *calls)
{
	json_t *found = json_array();
	size_t i, n = json_is_array(v) ? json_array_size(v) : json_is_object(v);
	for (i = 0; i < n; i++) {
		json_t *c = call_of(t, json_is_array(v) ? json_array_get(v, i) : v, name_key, args_key, args_alt);
		if (!c) {
			json_decref(found);
			return false;
		}
		json_array_append_new(found, c);
	}
	bool ok = n > 0;
	for (i = 0; ok && i < n && (!t->max_calls || t->n_calls < t->max_calls); i++, t->n_calls++)
		json_array_append(calls, json_array_get(found, i));
	json_decref(found);
	return ok;
}

/* a reply held whole, read at its end in the family's format */
static bool whole_calls(tools_stream *t, const char *s, size_t n, json_t *calls)
{
	trim(&s, &n);
	bool ok = false;
	json_t *v = NULL;
	switch (t->f) {
	case TMPL_TOOLS_LLAMA3: {
		if (starts(s, n, "<|python_tag|>"))
			s += 14, n -= 14;
		if ((v = json_of(s, n))) {
			ok = calls_of(t, v, "name", "parameters", "arguments", calls);
			break;
		}
		/* several calls separated by ';' */
		json_t *all = json_array();
		size_t a = 0;
		for (size_t i = 0; i <= n; i++)
			if (i == n || s[i] == ';') {
				json_t *o = json_of(s + a, i - a);
				if (!json_is_object(o)) {
					json_decref(o);
					json_decref(all);
					return false;
				}
				json_array_append_new(all, o);
				a = i + 1;
			}
		ok = calls_of(t, all, "name", "parameters", "arguments", calls);
		json_decref(all);
		return ok;
	}
	case TMPL_TOOLS_MISTRAL:
		if (starts(s, n, "[TOOL_CALLS]"))
			s += 12, n -= 12;
		v = json_of(s, n);
		ok = json_is_array(v) && calls_of(t, v, "name", "arguments", "parameters", calls);
		break;
	case TMPL_TOOLS_COMMAND_R: {
		const char *b = memmem(s, n, "```json", 7);
		const char *e = b ? memmem(b + 7, n - (size_t)(b + 7 - s), "```", 3) : NULL;
		v = e ? json_of(b + 7, (size_t)(e - b - 7)) : NULL;
		ok = json_is_array(v) && calls_of(t, v, "tool_name", "parameters", NULL, calls);
		break;
	}
	default: /* FORCED */
		v = json_of(s, n);
		ok = json_is_object(v) && calls_of(t, v, "name", "arguments", "parameters", calls);
	}
	json_decref(v);
	return ok;
}

/* the markers a held reply starts with, per family (NULL-terminated) */
static const char *const *whole_markers(tmpl_tools_family f)
{
	static const char *const llama3[] = { "{", "<|python_tag|>", NULL }, *const mistral[] = { "[TOOL_CALLS]", NULL },
				 *const command_r[] = { "Action:", NULL };
	return f == TMPL_TOOLS_LLAMA3 ? llama3 : f == TMPL_TOOLS_MISTRAL ? mistral : f == TMPL_TOOLS_COMMAND_R ? command_r : NULL;
}

/* whether the reply so far (its white space skipped) is held whole: decided once enough of it is
 * here to tell */
static void decide(tools_stream *t)
{
	if (t->decided)
		return;
	if (t->f == TOOLS_FORCED) {
		t->whole = t->decided = true;
		return;
	}
	const char *const *m = whole_markers(t->f);
	if (!m) {
		t->decided = true;
		return;
	}
	const char *s = t->all.p;
	size_t n = t->all.len;
	while (n && is_space(*s))
		s++, n--;
	if (!n)
		return;
	if (t->f == TMPL_TOOLS_MISTRAL && *s == '[' && !starts(s, n, "[T")) { /* "[{", "[ {": a JSON array of calls */
		size_t i = 1;
		while (i < n && is_space(s[i]))
			i++;
		t->whole = i < n && s[i] == '{';
		t->decided = i < n;
		return;
	}
	bool maybe = false;
	for (; *m; m++) {
		size_t k = strlen(*m);
		if (starts(s, n, *m)) {
			t->whole = t->decided = true;
			return;
		}
		maybe |= n < k && !memcmp(s, *m, n);
	}
	t->decided = !maybe;
}

/* the longest end of s[0..n) that begins the marker */
static size_t partial_marker(const char *s, size_t n, const char *marker)
{
	size_t k = strlen(marker);
	for (size_t m = k - 1; m > 0; m--)
		if (n >= m && !memcmp(s + n - m, marker, m))
			return m;
	return 0;
}

static int show(tools_stream *t, text_buf *content, size_t upto)
{
	int rc = upto > t->shown ? text_buf_add(content, t->all.p + t->shown, upto - t->shown) : SH_OK;
	if (upto > t->shown)
		t->shown = upto;
	return rc;
}

/* Hermes' tags, and any reply of a family that is not held whole: text until a tag, each complete
 * call; at the end (end true) an unclosed call that parses all the same */
static int scan_tags(tools_stream *t, text_buf *content, json_t *calls, bool end)
{
	for (;;) {
		const char *s = t->all.p + t->shown;
		size_t n = t->all.len - t->shown;
		const char *o = n ? memmem(s, n, HERMES_OPEN, sizeof HERMES_OPEN - 1) : NULL;
		if (!o)
			return show(t, content, t->all.len - (end ? 0 : partial_marker(s, n, HERMES_OPEN)));
		int rc = show(t, content, (size_t)(o - t->all.p));
		if (rc)
			return rc;
		const char *body = o + sizeof HERMES_OPEN - 1;
		size_t rest = t->all.len - (size_t)(body - t->all.p);
		const char *c = memmem(body, rest, HERMES_CLOSE, sizeof HERMES_CLOSE - 1);
		if (!c && !end)
			return SH_OK; /* the call is still coming */
		json_t *v = json_of(body, c ? (size_t)(c - body) : rest);
		bool ok = json_is_object(v) && calls_of(t, v, "name", "arguments", "parameters", calls);
		json_decref(v);
		size_t past = c ? (size_t)(c + sizeof HERMES_CLOSE - 1 - t->all.p) : t->all.len;
		if (ok)
			t->shown = past;
		else if ((rc = show(t, content, past)))
			return rc;
	}
}

void tools_stream_init(tools_stream *t, tmpl_tools_family f, uint64_t (*rand)(void *ctx), void *rand_ctx)
{
	memset(t, 0, sizeof *t);
	t->f = f;
	t->rand = rand;
	t->rand_ctx = rand_ctx;
}

void tools_stream_free(tools_stream *t)
{
	text_buf_free(&t->all);
}

int tools_stream_feed(tools_stream *t, const char *text, size_t len, text_buf *content, json_t *calls)
{
	if (len && text_buf_add(&t->all, text, len))
		return SH_ENOMEM;
	decide(t);
	if (!t->decided || t->whole)
		return SH_OK;
	return scan_tags(t, content, calls, false);
}

int tools_stream_end(tools_stream *t, text_buf *content, json_t *calls)
{
	decide(t);
	if (t->whole) {
		if (whole_calls(t, t->all.p + t->shown, t->all.len - t->shown, calls)) {
			t->shown = t->all.len;
			return SH_OK;
		}
		return show(t, content, t->all.len);
	}
	return scan_tags(t, content, calls, true);
}
