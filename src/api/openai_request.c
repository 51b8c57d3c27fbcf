/*
 * openai_request.c - request bodies to api_request, or an OpenAI error object.
 *
 * Order of checks: the body is valid UTF-8, then well-formed JSON (jansson, strict: no NUL in
 * strings, no trailing bytes), then an object, then each known field. Each check fails with a
 * 400 whose message names the field and the reason and whose param is the field's path.
 */
#include "api/openai.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define BAD(code, param, ...) (api_error_set(err, 400, "invalid_request_error", code, param, __VA_ARGS__), SH_EINVAL)
#define NOMEM() (api_error_set(err, 503, "server_error", "out_of_memory", NULL, "out of memory"), SH_ENOMEM)

void api_error_set(api_error *e, int status, const char *type, const char *code, const char *param,
		   const char *fmt, ...)
{
	memset(e, 0, sizeof *e);
	e->status = status;
	snprintf(e->type, sizeof e->type, "%s", type ? type : "invalid_request_error");
	snprintf(e->code, sizeof e->code, "%s", code ? code : "");
	snprintf(e->param, sizeof e->param, "%s", param ? param : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	/* messages quote request text; keep them valid UTF-8 after truncation */
	size_t n = strlen(e->message);
	while (n && !text_utf8_valid(e->message, n))
		e->message[--n] = 0;
}

json_t *api_error_json(const api_error *e)
{
	return json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", e->message, "type", e->type, "param",
			 e->param[0] ? json_string(e->param) : json_null(), "code",
			 e->code[0] ? json_string(e->code) : json_null());
}

void api_request_free(api_request *req)
{
	json_decref(req->messages);
	json_decref(req->tools);
	json_decref(req->schema);
	jsonc_free(req->sp.constraint);
	free(req->prompt);
	free(req->prompt_ids);
	free(req->model);
	memset(req, 0, sizeof *req);
}

/* ---------------------------------------------------------------- typed fields */
const char *api_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

/* the field, or NULL when absent or null */
static json_t *field(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	return json_is_null(v) ? NULL : v;
}

int api_get_bool(json_t *o, const char *name, bool *out, api_error *err)
{
	json_t *v = field(o, name);
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return BAD("invalid_type", name, "'%s' must be a boolean, not %s", name, api_type_name(v));
	*out = json_is_true(v);
	return 0;
}

/* a number in [lo, hi] */
int api_get_num(json_t *o, const char *name, double lo, double hi, float *out, api_error *err)
{
	json_t *v = field(o, name);
	if (!v)
		return 0;
	if (!json_is_number(v))
		return BAD("invalid_type", name, "'%s' must be a number, not %s", name, api_type_name(v));
	double x = json_number_value(v);
	if (!(x >= lo && x <= hi))
		return BAD("invalid_value", name, "'%s' must be between %g and %g, got %g", name, lo, hi, x);
	*out = (float)x;
	return 0;
}

/* an integer (a JSON number with no fraction) in [lo, hi]; *present tells whether it was given */
int api_get_int(json_t *o, const char *name, int64_t lo, int64_t hi, int64_t *out, bool *present, api_error *err)
{
	json_t *v = field(o, name);
	if (present)
		*present = v != NULL;
	if (!v)
		return 0;
	int64_t x;
	if (json_is_integer(v)) {
		x = json_integer_value(v);
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (d != floor(d) || !(d >= -9.2e18 && d <= 9.2e18))
			return BAD("invalid_type", name, "'%s' must be an integer, got %g", name, d);
		x = (int64_t)d;
	} else {
		return BAD("invalid_type", name, "'%s' must be an integer, not %s", name, api_type_name(v));
	}
	if (x < lo || x > hi)
		return BAD("invalid_value", name, "'%s' must be between %lld and %lld, got %lld", name, (long long)lo,
			   (long long)hi, (long long)x);
	*out = x;
	return 0;
}

/* ---------------------------------------------------------------- stop, messages, prompt */
int api_add_stop(sched_params *sp, const json_t *s, const char *param, api_error *err)
{
	size_t n = json_string_length(s);
	if (n == 0)
		return 0; /* an empty stop string stops nothing */
	if (n > SCHED_STOP_MAX_LEN)
		return BAD("invalid_value", param, "'%s' is %zu bytes long, at most %d are allowed", param, n,
			   SCHED_STOP_MAX_LEN);
	if (memchr(json_string_value(s), 0, n))
		return BAD("invalid_value", param, "'%s' must not contain NUL characters", param);
	for (int i = 0; i < sp->n_stop; i++)
		if (!strcmp(sp->stop[i], json_string_value(s)))
			return 0;
	memcpy(sp->stop[sp->n_stop], json_string_value(s), n + 1);
	sp->n_stop++;
	return 0;
}

static int parse_stop(json_t *o, sched_params *sp, api_error *err)
{
	return api_add_stops(sp, field(o, "stop"), "stop", true, err);
}

int api_add_stops(sched_params *sp, const json_t *v, const char *param, bool one, api_error *err)
{
	if (!v || json_is_null(v))
		return 0;
	if (one && json_is_string(v))
		return api_add_stop(sp, v, param, err);
	if (!json_is_array(v))
		return BAD("invalid_type", param, "'%s' must be %san array of strings, not %s", param,
			   one ? "a string or " : "", api_type_name(v));
	if (json_array_size(v) > SCHED_MAX_STOP)
		return BAD("invalid_value", param, "'%s' has %zu strings, at most %d are allowed", param, json_array_size(v),
			   SCHED_MAX_STOP);
	size_t i;
	json_t *s;
	json_array_foreach(v, i, s) {
		char name[104];
		snprintf(name, sizeof name, "%.80s[%zu]", param, i);
		if (!json_is_string(s))
			return BAD("invalid_type", name, "'%s' must be a string, not %s", name, api_type_name(s));
		if (api_add_stop(sp, s, name, err))
			return SH_EINVAL;
	}
	return 0;
}

/* content: a string, or an array of {type: "text", text} parts (joined with "\n"); null for an
 * assistant message; returns a new string value */
static json_t *parse_content(json_t *m, size_t i, bool may_be_null, api_error *err)
{
	char param[96];
	snprintf(param, sizeof param, "messages[%zu].content", i);
	json_t *c = json_object_get(m, "content");
	if (!c || json_is_null(c)) {
		if (may_be_null)
			return json_string("");
		(void)BAD("missing_required_parameter", param, "'%s' is required", param);
		return NULL;
	}
	if (json_is_string(c))
		return json_stringn(json_string_value(c), json_string_length(c));
	if (!json_is_array(c)) {
		(void)BAD("invalid_type", param, "'%s' must be a string or an array of content parts, not %s", param,
		    api_type_name(c));
		return NULL;
	}
	text_buf b = { 0 };
	size_t j;
	json_t *part;
	json_array_foreach(c, j, part) {
		char pp[128];
		snprintf(pp, sizeof pp, "%s[%zu]", param, j);
		json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
		if (!json_is_object(part)) {
			(void)BAD("invalid_type", pp, "'%s' must be an object, not %s", pp, api_type_name(part));
			goto fail;
		}
		if (!json_is_string(type)) {
			(void)BAD(type ? "invalid_type" : "missing_required_parameter", pp, "'%s.type' must be a string", pp);
			goto fail;
		}
		if (strcmp(json_string_value(type), "text") != 0) {
			(void)BAD("invalid_value", pp, "'%s.type' is '%.40s': only text content parts are supported", pp,
			    json_string_value(type));
			goto fail;
		}
		if (!json_is_string(text)) {
			(void)BAD(text ? "invalid_type" : "missing_required_parameter", pp, "'%s.text' must be a string", pp);
			goto fail;
		}
		if ((j && text_buf_add(&b, "\n", 1)) || text_buf_add(&b, json_string_value(text), json_string_length(text))) {
			(void)NOMEM();
			goto fail;
		}
	}
	json_t *s = json_stringn(b.p ? b.p : "", b.len);
	text_buf_free(&b);
	return s;
fail:
	text_buf_free(&b);
	return NULL;
}

/* a tool call's function name: [A-Za-z0-9_-]{1,64}, as OpenAI requires */
bool api_tool_name_ok(const json_t *n)
{
	size_t len = json_string_length(n);
	const char *s = json_string_value(n);
	if (!s || !len || len > API_MAX_TOOL_NAME)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		      s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* an assistant's tool_calls: [{id, type: "function", function: {name, arguments: a JSON string}}],
 * onto nm with each call's arguments parsed into an object, as templates read them (HF's
 * templates index arguments as a mapping; llama.cpp's server and vLLM parse them the same way) */
static int parse_tool_calls(json_t *calls, size_t i, json_t *nm, api_error *err)
{
	char param[96];
	snprintf(param, sizeof param, "messages[%zu].tool_calls", i);
	if (!json_is_array(calls) || !json_array_size(calls) || json_array_size(calls) > API_MAX_TOOLS)
		return BAD("invalid_type", param, "'%s' must be an array of 1 to %d tool calls", param, API_MAX_TOOLS);
	json_t *out = json_array();
	json_object_set_new(nm, "tool_calls", out);
	size_t j;
	json_t *c;
	json_array_foreach(calls, j, c) {
		snprintf(param, sizeof param, "messages[%zu].tool_calls[%zu]", i, j);
		json_t *id = field(c, "id"), *type = field(c, "type"), *fn = field(c, "function");
		json_t *name = field(fn, "name"), *args = field(fn, "arguments");
		if (!json_is_object(c) || !json_is_string(id) || json_string_length(id) > 256 || !json_is_string(type) ||
		    strcmp(json_string_value(type), "function") || !json_is_object(fn))
			return BAD("invalid_value", param, "'%s' must be {id, type: \"function\", function: {name, arguments}}",
				   param);
		if (!api_tool_name_ok(name))
			return BAD("invalid_value", param, "'%s.function.name' must be 1 to 64 of [A-Za-z0-9_-]", param);
		json_t *parsed = NULL;
		if (json_is_string(args)) {
			json_error_t je;
			parsed = json_loadb(json_string_value(args), json_string_length(args), 0, &je);
		}
		if (!json_is_object(parsed)) {
			json_decref(parsed);
			return BAD("invalid_value", param, "'%s.function.arguments' must be a JSON object, as a string", param);
		}
		json_array_append_new(out, json_pack("{s:O, s:s, s:{s:O, s:o}}", "id", id, "type", "function", "function",
						     "name", name, "arguments", parsed));
	}
	return 0;
}

static int parse_messages(json_t *o, api_request *req, api_error *err)
{
	json_t *ms = json_object_get(o, "messages");
	if (!ms || json_is_null(ms))
		return BAD("missing_required_parameter", "messages", "'messages' is required");
	if (!json_is_array(ms))
		return BAD("invalid_type", "messages", "'messages' must be an array, not %s", api_type_name(ms));
	size_t n = json_array_size(ms);
	if (n == 0)
		return BAD("invalid_value", "messages", "'messages' must have at least one message");
	if (n > API_MAX_MESSAGES)
		return BAD("invalid_value", "messages", "'messages' has %zu messages, at most %d are allowed", n,
			   API_MAX_MESSAGES);
	if (!(req->messages = json_array()))
		goto nomem;
	size_t i;
	json_t *m;
	json_array_foreach(ms, i, m) {
		char param[64];
		snprintf(param, sizeof param, "messages[%zu]", i);
		if (!json_is_object(m))
			return BAD("invalid_type", param, "'%s' must be an object, not %s", param, api_type_name(m));
		json_t *role = json_object_get(m, "role");
		snprintf(param, sizeof param, "messages[%zu].role", i);
		if (!role || json_is_null(role))
			return BAD("missing_required_parameter", param, "'%s' is required", param);
		if (!json_is_string(role))
			return BAD("invalid_type", param, "'%s' must be a string, not %s", param, api_type_name(role));
		const char *r = json_string_value(role);
		if (!strcmp(r, "developer"))
			r = "system";
		if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "tool"))
			return BAD("invalid_value", param,
				   "'%s' is '%.40s': it must be 'system', 'developer', 'user', 'assistant' or 'tool'", param,
				   json_string_value(role));
		bool assistant = !strcmp(r, "assistant");
		json_t *calls = field(m, "tool_calls");
		json_t *content = parse_content(m, i, assistant, err);
		if (!content)
			return SH_EINVAL;
		json_t *nm = json_pack("{s:s, s:o}", "role", r, "content", content);
		if (!nm || json_array_append_new(req->messages, nm))
			goto nomem;
		if (calls && !assistant) {
			snprintf(param, sizeof param, "messages[%zu].tool_calls", i);
			return BAD("invalid_value", param, "'%s': only an assistant message has tool calls", param);
		}
		if (calls && parse_tool_calls(calls, i, nm, err))
			return SH_EINVAL;
		if (!strcmp(r, "tool")) {
			json_t *id = field(m, "tool_call_id");
			snprintf(param, sizeof param, "messages[%zu].tool_call_id", i);
			if (!json_is_string(id) || !json_string_length(id) || json_string_length(id) > 256)
				return BAD(id ? "invalid_type" : "missing_required_parameter", param,
					   "'%s' must be the id of the tool call this message answers", param);
			json_object_set(nm, "tool_call_id", id);
		}
	}
	return 0;
nomem:
	return NOMEM();
}

static int parse_ids(const json_t *a, const char *param, const api_limits *lim, api_request *req, api_error *err)
{
	size_t n = json_array_size(a);
	if (n == 0)
		return BAD("invalid_value", param, "'%s' must not be empty", param);
	if (n > (1u << 24))
		return BAD("invalid_value", param, "'%s' has too many tokens", param);
	if (!(req->prompt_ids = malloc(sizeof(int) * n)))
		return NOMEM();
	size_t i;
	json_t *t;
	json_array_foreach(a, i, t) {
		json_int_t id = json_integer_value(t);
		if (!json_is_integer(t) || id < 0 || id >= lim->n_vocab)
			return BAD("invalid_value", param, "'%s[%zu]' must be a token id in [0, %d)", param, i, lim->n_vocab);
		req->prompt_ids[i] = (int)id;
	}
	req->n_prompt_ids = (int)n;
	return 0;
}

/* prompt: a string, [string], [token ids] or [[token ids]] (one prompt only) */
static int parse_prompt(json_t *o, const api_limits *lim, api_request *req, api_error *err)
{
	json_t *p = json_object_get(o, "prompt");
	if (!p || json_is_null(p))
		return BAD("missing_required_parameter", "prompt", "'prompt' is required");
	if (json_is_array(p)) {
		size_t n = json_array_size(p);
		json_t *first = json_array_get(p, 0);
		if (n == 0)
			return BAD("invalid_value", "prompt", "'prompt' must not be an empty array");
		if (json_is_integer(first))
			return parse_ids(p, "prompt", lim, req, err);
		if (n != 1)
			return BAD("invalid_value", "prompt", "'prompt' has %zu prompts: only one is supported", n);
		if (json_is_array(first))
			return parse_ids(first, "prompt[0]", lim, req, err);
		if (!json_is_string(first))
			return BAD("invalid_type", "prompt[0]", "'prompt[0]' must be a string or an array of token ids, not %s",
				   api_type_name(first));
		p = first;
	} else if (!json_is_string(p)) {
		return BAD("invalid_type", "prompt", "'prompt' must be a string or an array, not %s", api_type_name(p));
	}
	req->prompt_len = json_string_length(p);
	if (!(req->prompt = malloc(req->prompt_len + 1)))
		return NOMEM();
	memcpy(req->prompt, json_string_value(p), req->prompt_len + 1);
	return 0;
}

/* logit_bias: {"TOKEN_ID": BIAS in [-100, 100]} */
static int parse_bias(json_t *o, const api_limits *lim, sched_params *sp, api_error *err)
{
	json_t *b = field(o, "logit_bias");
	if (!b)
		return 0;
	if (!json_is_object(b))
		return BAD("invalid_type", "logit_bias", "'logit_bias' must be an object of token ids to biases, not %s",
			   api_type_name(b));
	if (json_object_size(b) > SCHED_MAX_BIAS)
		return BAD("invalid_value", "logit_bias", "'logit_bias' has %zu entries, at most %d are allowed",
			   json_object_size(b), SCHED_MAX_BIAS);
	const char *key;
	json_t *v;
	json_object_foreach(b, key, v) {
		char *end;
		long id = strtol(key, &end, 10);
		if (!key[0] || *end || id < 0 || id >= lim->n_vocab || (key[0] == '0' && key[1]))
			return BAD("invalid_value", "logit_bias", "'logit_bias' key '%.40s' is not a token id in [0, %d)", key,
				   lim->n_vocab);
		if (!json_is_number(v) || !(json_number_value(v) >= -100 && json_number_value(v) <= 100))
			return BAD("invalid_value", "logit_bias", "'logit_bias[%s]' must be a number between -100 and 100", key);
		sp->bias[sp->n_bias++] = (sched_bias){ (int)id, (float)json_number_value(v) };
	}
	return 0;
}

/* tools: [{type: "function", function: {name, description?, parameters?, strict?}}], kept as
 * given; tool_choice: "auto", "none", "required" or {type: "function", function: {name}};
 * parallel_tool_calls */
int api_parse_tools(json_t *o, api_request *req, api_error *err)
{
	req->parallel_tool_calls = true;
	if (api_get_bool(o, "parallel_tool_calls", &req->parallel_tool_calls, err))
		return SH_EINVAL;
	json_t *tools = field(o, "tools"), *choice = field(o, "tool_choice");
	if (tools) {
		if (!json_is_array(tools) || json_array_size(tools) > API_MAX_TOOLS)
			return BAD("invalid_type", "tools", "'tools' must be an array of at most %d tools", API_MAX_TOOLS);
		size_t i;
		json_t *t;
		json_array_foreach(tools, i, t) {
			char param[48];
			snprintf(param, sizeof param, "tools[%zu]", i);
			json_t *type = field(t, "type"), *fn = field(t, "function");
			if (!json_is_object(t) || !json_is_string(type) || strcmp(json_string_value(type), "function") ||
			    !json_is_object(fn))
				return BAD("invalid_value", param, "'%s' must be {type: \"function\", function: {...}}", param);
			json_t *d = field(fn, "description"), *ps = field(fn, "parameters"), *strict = field(fn, "strict");
			if (!api_tool_name_ok(field(fn, "name")))
				return BAD("invalid_value", param, "'%s.function.name' must be 1 to 64 of [A-Za-z0-9_-]", param);
			if ((d && !json_is_string(d)) || (ps && !json_is_object(ps)) || (strict && !json_is_boolean(strict)))
				return BAD("invalid_type", param,
					   "'%s.function': description a string, parameters a JSON Schema object, strict a boolean",
					   param);
			for (size_t k = 0; k < i; k++)
				if (json_equal(field(field(json_array_get(tools, k), "function"), "name"), field(fn, "name")))
					return BAD("invalid_value", param, "'%s': two tools are named '%s'", param,
						   json_string_value(field(fn, "name")));
		}
		if (json_array_size(tools))
			req->tools = json_incref(tools);
	}
	if (!choice)
		return 0;
	if (json_is_string(choice)) {
		const char *c = json_string_value(choice);
		req->tool_choice = !strcmp(c, "auto") ? API_TOOLS_AUTO : !strcmp(c, "none") ? API_TOOLS_NONE
				   : !strcmp(c, "required") ? API_TOOLS_REQUIRED : -1;
		if ((int)req->tool_choice < 0)
			return BAD("invalid_value", "tool_choice", "'tool_choice' is '%.40s': 'auto', 'none', 'required' or a "
				   "function", c);
	} else {
		json_t *name = field(field(choice, "function"), "name");
		if (!json_is_object(choice) || !json_is_string(field(choice, "type")) ||
		    strcmp(json_string_value(field(choice, "type")), "function") || !api_tool_name_ok(name))
			return BAD("invalid_value", "tool_choice", "'tool_choice' must be a string or {type: \"function\", "
				   "function: {name}}");
		req->tool_choice = API_TOOLS_NAMED;
		snprintf(req->tool_name, sizeof req->tool_name, "%s", json_string_value(name));
		bool found = false;
		size_t i;
		json_t *t;
		json_array_foreach(req->tools, i, t)
			found |= !strcmp(json_string_value(field(field(t, "function"), "name")), req->tool_name);
		if (!found)
			return BAD("invalid_value", "tool_choice", "'tool_choice' names '%s', which is not in 'tools'",
				   req->tool_name);
	}
	if (!req->tools && req->tool_choice != API_TOOLS_NONE && req->tool_choice != API_TOOLS_AUTO)
		return BAD("invalid_value", "tool_choice", "'tool_choice' needs 'tools'");
	return 0;
}

/* a required or named tool_choice: the reply is constrained to one {"name": N, "arguments": ARGS}
 * object, ARGS a value of the tool's parameters (any object without them); required: of any tool */
static int forced_call(api_request *req, api_error *err)
{
	json_t *alts = json_array();
	size_t i;
	json_t *t;
	json_array_foreach(req->tools, i, t) {
		json_t *fn = field(t, "function"), *name = field(fn, "name"), *ps = field(fn, "parameters");
		if (req->tool_choice == API_TOOLS_NAMED && strcmp(json_string_value(name), req->tool_name))
			continue;
		json_t *args = ps ? json_incref(ps) : json_pack("{s:s}", "type", "object");
		json_array_append_new(alts, json_pack("{s:s, s:{s:{s:O}, s:o}, s:[s, s], s:b}", "type", "object", "properties",
						      "name", "const", name, "arguments", args, "required", "name", "arguments",
						      "additionalProperties", 0));
	}
	json_t *schema = json_array_size(alts) == 1 ? json_incref(json_array_get(alts, 0)) : json_pack("{s:O}", "anyOf", alts);
	json_decref(alts);
	char msg[300];
	int e = 0;
	req->sp.constraint = schema ? jsonc_compile(schema, msg, sizeof msg, &e) : NULL;
	json_decref(schema);
	if (!req->sp.constraint)
		return e == SH_EINVAL ? BAD("invalid_value", "tools", "a tool's parameters cannot constrain its call: %s", msg)
				      : NOMEM();
	req->forced_call = true;
	return 0;
}

/* response_format: {type: "text"}, {type: "json_object"}, {type: "json_schema", json_schema: {name,
 * schema, strict?, description?}}; the schema is compiled (and its keywords checked) where the
 * model's vocabulary is known */
static int parse_format(json_t *o, api_request *req, api_error *err)
{
	json_t *f = field(o, "response_format");
	if (!f)
		return 0;
	json_t *type = field(f, "type");
	if (!json_is_object(f) || !json_is_string(type))
		return BAD("invalid_type", "response_format", "'response_format' must be {type: \"text\" | \"json_object\" | "
			   "\"json_schema\", ...}");
	const char *t = json_string_value(type);
	if (!strcmp(t, "text"))
		return 0;
	if (!strcmp(t, "json_object")) {
		req->format = API_FORMAT_JSON;
		return 0;
	}
	if (strcmp(t, "json_schema"))
		return BAD("invalid_value", "response_format.type", "'response_format.type' is '%.40s': 'text', "
			   "'json_object' or 'json_schema'", t);
	json_t *js = field(f, "json_schema"), *schema = field(js, "schema"), *name = field(js, "name");
	if (!json_is_object(js) || (name && !json_is_string(name)))
		return BAD("invalid_type", "response_format.json_schema", "'response_format.json_schema' must be {name, "
			   "schema, strict}");
	if (!json_is_object(schema))
		return BAD(schema ? "invalid_type" : "missing_required_parameter", "response_format.json_schema.schema",
			   "'response_format.json_schema.schema' must be a JSON Schema object");
	req->format = API_FORMAT_SCHEMA;
	req->schema = json_incref(schema);
	return 0;
}

int api_request_constraint(api_request *req, api_error *err)
{
	if (req->tools && (req->tool_choice == API_TOOLS_REQUIRED || req->tool_choice == API_TOOLS_NAMED)) {
		if (req->format != API_FORMAT_TEXT)
			return BAD("invalid_value", "response_format", "'response_format' and a required or named 'tool_choice' "
				   "cannot both shape the reply");
		return forced_call(req, err);
	}
	if (req->format == API_FORMAT_TEXT)
		return 0;
	char msg[300];
	int e = 0;
	if (!(req->sp.constraint = jsonc_compile(req->format == API_FORMAT_SCHEMA ? req->schema : NULL, msg, sizeof msg, &e)))
		return e == SH_EINVAL ? BAD("invalid_value", "response_format.json_schema.schema",
					  "'response_format.json_schema.schema': %s", msg)
				      : NOMEM();
	return 0;
}

/* chat: logprobs (a boolean) and top_logprobs (0..20, with logprobs); completions: logprobs (the
 * alternatives, 0..20) */
static int parse_logprobs(enum api_kind kind, json_t *o, sched_params *sp, api_error *err)
{
	int64_t x = 0;
	bool has = false;
	if (kind == API_COMPLETION) {
		if (api_get_int(o, "logprobs", 0, SCHED_MAX_TOP, &x, &has, err))
			return SH_EINVAL;
		sp->logprobs = has;
		sp->top_logprobs = (int)x;
		return 0;
	}
	if (api_get_bool(o, "logprobs", &sp->logprobs, err) || api_get_int(o, "top_logprobs", 0, SCHED_MAX_TOP, &x, &has, err))
		return SH_EINVAL;
	if (has && !sp->logprobs)
		return BAD("invalid_value", "top_logprobs", "'top_logprobs' needs 'logprobs': true");
	sp->top_logprobs = (int)x;
	return 0;
}

/* ---------------------------------------------------------------- the body */
/* the fields of each endpoint: honoured, or (API_FIELD_INERT) accepted with no effect because they
 * mean nothing to a server of its own (docs/api.md); any other field is a 400 naming it */
enum { API_FIELD_CHAT = 1, API_FIELD_COMPLETION = 2, API_FIELD_BOTH = 3, API_FIELD_INERT = 4 };
static const struct {
	const char *name;
	int flags;
} fields[] = {
	{ "model", API_FIELD_BOTH },
	{ "messages", API_FIELD_CHAT },
	{ "prompt", API_FIELD_COMPLETION },
	{ "max_tokens", API_FIELD_BOTH },
	{ "max_completion_tokens", API_FIELD_CHAT },
	{ "temperature", API_FIELD_BOTH },
	{ "top_p", API_FIELD_BOTH },
	{ "min_p", API_FIELD_BOTH },
	{ "top_k", API_FIELD_BOTH },
	{ "frequency_penalty", API_FIELD_BOTH },
	{ "presence_penalty", API_FIELD_BOTH },
	{ "repetition_penalty", API_FIELD_BOTH },
	{ "seed", API_FIELD_BOTH },
	{ "n", API_FIELD_BOTH },
	{ "stream", API_FIELD_BOTH },
	{ "stream_options", API_FIELD_BOTH },
	{ "ignore_eos", API_FIELD_BOTH },
	{ "stop", API_FIELD_BOTH },
	{ "logit_bias", API_FIELD_BOTH },
	{ "logprobs", API_FIELD_BOTH },
	{ "top_logprobs", API_FIELD_CHAT },
	{ "tools", API_FIELD_CHAT },
	{ "tool_choice", API_FIELD_CHAT },
	{ "parallel_tool_calls", API_FIELD_CHAT },
	{ "response_format", API_FIELD_BOTH },
	{ "user", API_FIELD_BOTH | API_FIELD_INERT },
	{ "metadata", API_FIELD_CHAT | API_FIELD_INERT },
	{ "store", API_FIELD_CHAT | API_FIELD_INERT },
	{ "service_tier", API_FIELD_CHAT | API_FIELD_INERT },
};

static int check_fields(enum api_kind kind, json_t *o, api_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		size_t i = 0;
		while (i < SH_ARRAY_LEN(fields) && (strcmp(fields[i].name, key) || !(fields[i].flags & kind)))
			i++;
		if (i == SH_ARRAY_LEN(fields) && !json_is_null(v))
			return BAD("unsupported_parameter", key, "'%.60s' is not supported by %s (docs/api.md lists what is)",
				   key, kind == API_CHAT ? "/v1/chat/completions" : "/v1/completions");
	}
	return 0;
}

static int parse_object(enum api_kind kind, json_t *o, const api_limits *lim, api_request *req, api_error *err)
{
	sched_params *sp = &req->sp;
	int64_t x = 0, mt = 0, mct = 0;
	bool has_mt = false, has_mct = false;

	if (check_fields(kind, o, err))
		return SH_EINVAL;
	json_t *model = field(o, "model");
	if (model && !json_is_string(model))
		return BAD("invalid_type", "model", "'model' must be a string, not %s", api_type_name(model));
	if (model && !(req->model = strdup(json_string_value(model))))
		return NOMEM();
	if (kind == API_CHAT ? parse_messages(o, req, err) : parse_prompt(o, lim, req, err))
		return SH_EINVAL;

	if (api_get_int(o, "max_tokens", 1, INT32_MAX, &mt, &has_mt, err) ||
	    api_get_int(o, "max_completion_tokens", 1, INT32_MAX, &mct, &has_mct, err))
		return SH_EINVAL;
	sp->max_tokens = has_mct ? (int)mct : has_mt ? (int)mt : 0;

	if (api_get_num(o, "temperature", 0, 2, &sp->sp.temp, err) || api_get_num(o, "top_p", 0, 1, &sp->sp.top_p, err) ||
	    api_get_num(o, "min_p", 0, 1, &sp->sp.min_p, err) ||
	    api_get_num(o, "frequency_penalty", -2, 2, &sp->sp.freq_penalty, err) ||
	    api_get_num(o, "presence_penalty", -2, 2, &sp->sp.presence_penalty, err) ||
	    api_get_num(o, "repetition_penalty", 0.01, 10, &sp->sp.repeat_penalty, err))
		return SH_EINVAL;
	bool has;
	if (api_get_int(o, "top_k", 0, INT32_MAX, &x, &has, err))
		return SH_EINVAL;
	if (has)
		sp->sp.top_k = (int)x;
	if (api_get_int(o, "seed", INT64_MIN, INT64_MAX, &x, &req->has_seed, err))
		return SH_EINVAL;
	if (req->has_seed)
		sp->sp.seed = (uint64_t)x;
	if (api_get_int(o, "n", 1, INT32_MAX, &x, &has, err))
		return SH_EINVAL;
	if (has && x != 1)
		return BAD("invalid_value", "n", "'n' is %lld: only n=1 is supported", (long long)x);
	if (api_get_bool(o, "stream", &req->stream, err) || api_get_bool(o, "ignore_eos", &sp->ignore_eos, err))
		return SH_EINVAL;
	json_t *so = field(o, "stream_options");
	if (so && !json_is_object(so))
		return BAD("invalid_type", "stream_options", "'stream_options' must be an object, not %s", api_type_name(so));
	if (so) {
		json_t *iu = field(so, "include_usage");
		if (iu && !json_is_boolean(iu))
			return BAD("invalid_type", "stream_options.include_usage",
				   "'stream_options.include_usage' must be a boolean, not %s", api_type_name(iu));
		req->include_usage = json_is_true(iu);
	}
	if (parse_bias(o, lim, sp, err) || parse_logprobs(kind, o, sp, err) ||
	    (kind == API_CHAT && api_parse_tools(o, req, err)) || parse_format(o, req, err) || api_request_constraint(req, err))
		return SH_EINVAL;
	return parse_stop(o, sp, err);
}

int api_body_object(const char *body, size_t len, json_t **o, api_error *err)
{
	*o = NULL;
	if (len == 0)
		return BAD("invalid_json", NULL, "the request body is empty: it must be a JSON object");
	if (!text_utf8_valid(body, len))
		return BAD("invalid_encoding", NULL, "the request body is not valid UTF-8");
	json_error_t je;
	if (!(*o = json_loadb(body, len, 0, &je)))
		return BAD("invalid_json", NULL, "the request body is not valid JSON: %s (line %d, column %d)", je.text,
			   je.line, je.column);
	if (json_is_object(*o))
		return 0;
	(void)BAD("invalid_json", NULL, "the request body must be a JSON object, not %s", api_type_name(*o));
	json_decref(*o);
	*o = NULL;
	return SH_EINVAL;
}

int api_request_parse(enum api_kind kind, const char *body, size_t len, const api_limits *lim, api_request *req,
		      api_error *err)
{
	memset(req, 0, sizeof *req);
	memset(err, 0, sizeof *err);
	req->kind = kind;
	sample_params_default(&req->sp.sp);
	json_t *o;
	if (api_body_object(body, len, &o, err))
		return SH_EINVAL;
	int rc = parse_object(kind, o, lim, req, err);
	json_decref(o);
	return rc;
}
