/*
 * ollama.c - Ollama's API (ollama.h) on the one generation path:
 *
 *   POST /api/chat      {model, messages: [{role, content}], stream (default true), options, tools,
 *                       system (the first message, unless one is), num_predict (as the option), ...}: tools, an assistant's tool_calls and tool messages as
 *                       /v1/chat/completions takes them (openai_request.c checks the tools)
 *   POST /api/generate  {model, prompt, system, raw, stream, options, ...}: the prompt rendered
 *                       with the chat template as a user message after the system one (raw: the
 *                       prompt as it is, as /v1/completions takes it)
 *   stream              NDJSON: {model, created_at, message: {role, content} (generate:
 *                       response), done: false} per piece of text, then the same with "" and
 *                       done: true, done_reason, the counts and the durations (nanoseconds); a
 *                       tool call (tools.h reads them) a line with message.tool_calls
 *   whole answer        that last object with the whole text
 *   logprobs            with logprobs: true, each object's tokens as "logprobs": [{token, logprob,
 *                       bytes, top_logprobs}] (the chat shape of /v1/chat/completions, both routes)
 *   errors              {"error": "message"} with the HTTP status; mid-stream, a line of it
 *
 * and the listings: /api/tags (the model served, then the whole models of the cache), /api/show,
 * /api/ps, /api/version. A cached model's GGUF header says its family, parameter count, context,
 * chat template and the rest of model_info; the model served says its context and layers.
 *
 * Parsing: UTF-8, then JSON, then an object, then every field typed and ranged; an unknown field
 * or option, or one shoal does not do, is a 400 naming it (docs/api.md lists them). Go clients
 * send "" and null for fields they leave out (suffix, system, template, options), so those count
 * as absent. The sampler's defaults are the server's (the same for every API), not Ollama's.
 */
#include "api/ollama.h"

#include <limits.h>
#include <sys/stat.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "gguf/gguf.h"

#define BAD(code, param, ...) (api_error_set(err, 400, "invalid_request_error", code, param, __VA_ARGS__), SH_EINVAL)
#define NOMEM() (api_error_set(err, 503, "server_error", "out_of_memory", NULL, "out of memory"), SH_ENOMEM)

/* what the generation path honours today (see OLLAMA_ACCEPT_FORMAT) */
#define OLLAMA_ACCEPT OLLAMA_ACCEPT_FORMAT

#define PENALTY_WINDOW_MAX (1 << 20) /* repeat_last_n at most: sample.c's window limit */

/* ---------------------------------------------------------------- the request */
/* the field, or NULL when absent or what a client sends for "not given": null, "" or [] */
static json_t *given(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	if (!v || json_is_null(v) || (json_is_string(v) && !json_string_length(v)) ||
	    (json_is_array(v) && !json_array_size(v)))
		return NULL;
	return v;
}

enum { F_CHAT = 1, F_GENERATE = 2, F_BOTH = 3 };
static const struct {
	const char *name;
	int kinds;
} fields[] = {
	{ "model", F_BOTH }, { "messages", F_CHAT }, { "prompt", F_GENERATE }, { "system", F_BOTH },
	{ "num_predict", F_BOTH },
	{ "raw", F_GENERATE }, { "suffix", F_GENERATE }, { "template", F_GENERATE }, { "context", F_GENERATE },
	{ "images", F_GENERATE }, { "stream", F_BOTH }, { "options", F_BOTH }, { "keep_alive", F_BOTH },
	{ "format", F_BOTH }, { "tools", F_CHAT }, { "think", F_BOTH }, { "truncate", F_BOTH }, { "shift", F_BOTH },
	{ "logprobs", F_BOTH }, { "top_logprobs", F_BOTH },
};

static const char *route_name(enum api_kind kind)
{
	return kind == API_CHAT ? "/api/chat" : "/api/generate";
}

static int check_fields(enum api_kind kind, json_t *o, api_error *err)
{
	int k = kind == API_CHAT ? F_CHAT : F_GENERATE;
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		size_t i = 0;
		while (i < SH_ARRAY_LEN(fields) && (strcmp(fields[i].name, key) || !(fields[i].kinds & k)))
			i++;
		if (i == SH_ARRAY_LEN(fields) && !json_is_null(v))
			return BAD("unsupported_parameter", key, "'%.60s' is not supported by %s (docs/api.md lists what is)",
				   key, route_name(kind));
	}
	return 0;
}

/* a get_* check of an option failed: say it is one */
static int in_options(api_error *err)
{
	char param[128], msg[sizeof err->message];
	snprintf(param, sizeof param, "options.%s", err->param);
	snprintf(msg, sizeof msg, "%s", err->message);
	api_error_set(err, err->status, err->type, err->code, param, "options: %s", msg);
	return SH_EINVAL;
}

#define OPT(call)                           \
	do {                                \
		if (call)                   \
			return in_options(err); \
	} while (0)

/* the options shoal honours, and those it takes with no effect (docs/api.md says why) */
static const char *const known_options[] = {
	"temperature", "top_p", "top_k", "min_p", "num_predict", "stop", "seed", "repeat_penalty", "presence_penalty",
	"frequency_penalty", "repeat_last_n", "ignore_eos", "num_ctx", "num_batch", "num_gpu", "main_gpu", "use_mmap",
	"use_mlock", "num_thread", "numa", "num_keep", "typical_p", "tfs_z", "mirostat", "mirostat_eta", "mirostat_tau",
};

/* num_predict: -1 (Ollama's default), -2 (until the context is full) and 0: no limit */
static int parse_num_predict(json_t *o, const char *name, sched_params *sp, api_error *err)
{
	int64_t n = 0;
	bool has = false;
	if (api_get_int(o, name, -2, INT32_MAX, &n, &has, err))
		return SH_EINVAL;
	if (has)
		sp->max_tokens = n > 0 ? (int)n : 0;
	return 0;
}

static int parse_options(json_t *o, api_request *req, ollama_extra *x, api_error *err)
{
	json_t *opts = json_object_get(o, "options");
	if (!opts || json_is_null(opts))
		return 0;
	if (!json_is_object(opts))
		return BAD("invalid_type", "options", "'options' must be an object, not %s", api_type_name(opts));
	const char *key;
	json_t *v;
	json_object_foreach(opts, key, v) {
		size_t i = 0;
		while (i < SH_ARRAY_LEN(known_options) && strcmp(known_options[i], key))
			i++;
		if (i == SH_ARRAY_LEN(known_options) && !json_is_null(v)) {
			char param[96];
			snprintf(param, sizeof param, "options.%.60s", key);
			return BAD("unsupported_parameter", param, "the option '%.60s' is not supported (docs/api.md lists "
				   "what is)", key);
		}
	}
	sched_params *sp = &req->sp;
	int64_t n = 0;
	bool has = false;
	OPT(api_get_num(opts, "temperature", 0, 2, &sp->sp.temp, err));
	OPT(api_get_num(opts, "top_p", 0, 1, &sp->sp.top_p, err));
	OPT(api_get_num(opts, "min_p", 0, 1, &sp->sp.min_p, err));
	OPT(api_get_num(opts, "repeat_penalty", 0.01, 10, &sp->sp.repeat_penalty, err));
	OPT(api_get_num(opts, "presence_penalty", -2, 2, &sp->sp.presence_penalty, err));
	OPT(api_get_num(opts, "frequency_penalty", -2, 2, &sp->sp.freq_penalty, err));
	OPT(api_get_int(opts, "top_k", 0, INT32_MAX, &n, &has, err));
	if (has)
		sp->sp.top_k = (int)n;
	OPT(parse_num_predict(opts, "num_predict", sp, err));
	/* -1: every token so far (Ollama: the whole context), 0: no penalties */
	OPT(api_get_int(opts, "repeat_last_n", -1, PENALTY_WINDOW_MAX, &n, &has, err));
	if (has)
		sp->sp.penalty_last_n = (int)n;
	/* -1 is Ollama's "a random seed" */
	OPT(api_get_int(opts, "seed", INT64_MIN, INT64_MAX, &n, &has, err));
	if (has && n != -1) {
		req->has_seed = true;
		sp->sp.seed = (uint64_t)n;
	}
	OPT(api_get_int(opts, "num_ctx", 1, INT32_MAX, &x->num_ctx, NULL, err));
	OPT(api_get_bool(opts, "ignore_eos", &sp->ignore_eos, err)); /* shoal's, as /v1's ignore_eos */
	/* how the model is loaded: set when the node starts, the same for every request */
	bool b;
	OPT(api_get_int(opts, "num_batch", 1, INT32_MAX, &n, NULL, err));
	OPT(api_get_int(opts, "num_gpu", -1, INT32_MAX, &n, NULL, err));
	OPT(api_get_int(opts, "main_gpu", 0, INT32_MAX, &n, NULL, err));
	OPT(api_get_int(opts, "num_thread", 0, INT32_MAX, &n, NULL, err));
	OPT(api_get_int(opts, "num_keep", -1, INT32_MAX, &n, NULL, err));
	OPT(api_get_bool(opts, "use_mmap", &b, err));
	OPT(api_get_bool(opts, "use_mlock", &b, err));
	OPT(api_get_bool(opts, "numa", &b, err));
	/* samplers shoal does not have: accepted when off (mirostat's eta and tau mean nothing then) */
	static const char *const off_at_1[] = { "typical_p", "tfs_z" };
	for (size_t k = 0; k < SH_ARRAY_LEN(off_at_1); k++) {
		float f = 1;
		OPT(api_get_num(opts, off_at_1[k], 0, 1, &f, err));
		if (f != 1)
			return BAD("unsupported_parameter", k ? "options.tfs_z" : "options.typical_p",
				   "options: '%s' is not supported: only 1 (off)", off_at_1[k]);
	}
	n = 0;
	OPT(api_get_int(opts, "mirostat", 0, 2, &n, NULL, err));
	if (n != 0)
		return BAD("unsupported_parameter", "options.mirostat", "options: 'mirostat' is not supported: only 0 (off)");
	float inert;
	OPT(api_get_num(opts, "mirostat_eta", 0, 1e6, &inert, err));
	OPT(api_get_num(opts, "mirostat_tau", 0, 1e6, &inert, err));

	return api_add_stops(sp, json_object_get(opts, "stop"), "options.stop", true, err);
}

/* format: "json" or a JSON schema (structured output) */
static int parse_format(json_t *o, unsigned accept, api_request *req, api_error *err)
{
	json_t *f = given(o, "format");
	if (!f)
		return 0;
	bool json = json_is_string(f) && !strcmp(json_string_value(f), "json");
	if (!json && !json_is_object(f))
		return BAD("invalid_value", "format", "'format' must be \"json\" or a JSON schema object");
	if (!(accept & OLLAMA_ACCEPT_FORMAT))
		return BAD("unsupported_parameter", "format", "'format' (structured output) is not supported yet");
	req->format = json ? API_FORMAT_JSON : API_FORMAT_SCHEMA;
	if (!json)
		req->schema = json_incref(f);
	return 0;
}

/* tools: OpenAI's shape (Ollama's is the same), checked as /v1/chat/completions checks them */
static int parse_ollama_tools(json_t *o, api_request *req, api_error *err)
{
	json_t *tools = given(o, "tools");
	req->parallel_tool_calls = true;
	if (!tools)
		return 0;
	json_t *t = json_pack("{s:O}", "tools", tools);
	if (!t)
		return NOMEM();
	int rc = api_parse_tools(t, req, err);
	json_decref(t);
	return rc;
}

/* what shoal does not do: absent, or the value that means "off" */
static int parse_unsupported(enum api_kind kind, json_t *o, api_error *err)
{
	static const char *const gen_only[] = { "suffix", "template", "context", "images" };
	static const char *const why[] = { "fill-in-the-middle", "the model's chat template is the template",
					   "send the conversation to /api/chat instead",
					   "this node serves a text model" };
	for (size_t i = 0; kind == API_COMPLETION && i < SH_ARRAY_LEN(gen_only); i++)
		if (given(o, gen_only[i]))
			return BAD("unsupported_parameter", gen_only[i], "'%s' is not supported (%s)", gen_only[i], why[i]);
	json_t *think = json_object_get(o, "think");
	if (think && !json_is_null(think) && !json_is_false(think))
		return BAD("unsupported_parameter", "think", "'think' is not supported: the reply is not split into "
			   "thinking and content (send false or leave it out)");
	bool b = false;
	if (api_get_bool(o, "truncate", &b, err))
		return SH_EINVAL;
	if (b)
		return BAD("unsupported_parameter", "truncate", "'truncate' is not supported: a prompt longer than the "
			   "context is a 400 (send false or leave it out)");
	if (api_get_bool(o, "shift", &b, err))
		return SH_EINVAL;
	if (b)
		return BAD("unsupported_parameter", "shift", "'shift' is not supported: the reply ends where the context "
			   "does, done_reason \"length\" (send false or leave it out)");
	return 0;
}

/* logprobs (a boolean) and top_logprobs (0..20, with logprobs), on both routes */
static int parse_logprobs(json_t *o, sched_params *sp, api_error *err)
{
	int64_t n = 0;
	if (api_get_bool(o, "logprobs", &sp->logprobs, err) || api_get_int(o, "top_logprobs", 0, SCHED_MAX_TOP, &n, NULL, err))
		return SH_EINVAL;
	if (n && !sp->logprobs)
		return BAD("invalid_value", "top_logprobs", "'top_logprobs' needs 'logprobs': true");
	sp->top_logprobs = (int)n;
	return 0;
}

/* keep_alive: a duration ("5m", "-1", ...) or seconds; the model stays loaded whatever it says */
static int parse_keep_alive(json_t *o, api_error *err)
{
	json_t *k = json_object_get(o, "keep_alive");
	if (k && !json_is_null(k) && !json_is_number(k) && !(json_is_string(k) && json_string_length(k) <= 64))
		return BAD("invalid_type", "keep_alive", "'keep_alive' must be a duration such as \"5m\" or a number of "
			   "seconds");
	return 0;
}

static const char *const message_keys[] = { "role", "content", "images", "thinking", "tool_calls", "tool_name",
					    "tool_call_id" };

/* an assistant's tool_calls, Ollama's [{id?, function: {name, arguments: {...}}}], onto nm as the
 * template reads them (openai_request.c's shape: {id, type: "function", function: {name,
 * arguments: an object}}); a call without an id gets "call_I_J" */
static int parse_calls(json_t *calls, size_t i, json_t *nm, api_error *err)
{
	char param[96];
	snprintf(param, sizeof param, "messages[%zu].tool_calls", i);
	if (!json_is_array(calls) || json_array_size(calls) > API_MAX_TOOLS)
		return BAD("invalid_type", param, "'%s' must be an array of at most %d tool calls", param, API_MAX_TOOLS);
	json_t *out = json_array();
	if (!out || json_object_set_new(nm, "tool_calls", out))
		return NOMEM();
	size_t j;
	json_t *c;
	json_array_foreach(calls, j, c) {
		snprintf(param, sizeof param, "messages[%zu].tool_calls[%zu]", i, j);
		json_t *fn = json_object_get(c, "function"), *id = given(c, "id");
		json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
		if (!json_is_object(c) || !json_is_object(fn) || (id && (!json_is_string(id) || json_string_length(id) > 256)))
			return BAD("invalid_value", param, "'%s' must be {id?, function: {name, arguments}}", param);
		if (!api_tool_name_ok(name))
			return BAD("invalid_value", param, "'%s.function.name' must be 1 to 64 of [A-Za-z0-9_-]", param);
		json_t *parsed = json_is_object(args) ? json_incref(args) : NULL;
		if (json_is_string(args)) { /* as OpenAI writes them */
			json_error_t je;
			parsed = json_loadb(json_string_value(args), json_string_length(args), 0, &je);
		}
		if (!json_is_object(parsed)) {
			json_decref(parsed);
			return BAD("invalid_value", param, "'%s.function.arguments' must be a JSON object", param);
		}
		char made[48];
		snprintf(made, sizeof made, "call_%zu_%zu", i, j);
		if (json_array_append_new(out, json_pack("{s:s, s:s, s:{s:O, s:o}}", "id", id ? json_string_value(id) : made,
							 "type", "function", "function", "name", name, "arguments", parsed)))
			return NOMEM();
	}
	return 0;
}

/* the id of the call a tool message answers: its tool_call_id, else the first call of the last
 * assistant message named tool_name (any, without one) that no tool message answered yet */
static const char *answered_call(json_t *m, json_t *calls, json_t *used)
{
	json_t *id = given(m, "tool_call_id"), *name = given(m, "tool_name");
	if (json_is_string(id))
		return json_string_value(id);
	size_t i;
	json_t *c;
	json_array_foreach(calls, i, c) {
		const char *cid = json_string_value(json_object_get(c, "id"));
		json_t *fn = json_object_get(c, "function");
		if (cid && !json_object_get(used, cid) && (!name || json_equal(name, json_object_get(fn, "name"))))
			return cid;
	}
	return NULL;
}

/* messages: [{role: system | user | assistant | tool, content: string, tool_calls?, tool_name?}],
 * to req->messages; none: load */
/* chat's system (Ollama ignores it; Open WebUI sends a model's system prompt there and as the first
 * message): the first message when the conversation has no system message first */
static int chat_system(json_t *o, api_request *req, api_error *err)
{
	json_t *sys = given(o, "system"), *first = json_array_get(req->messages, 0);
	if (!sys)
		return 0;
	if (!json_is_string(sys))
		return BAD("invalid_type", "system", "'system' must be a string, not %s", api_type_name(sys));
	if (!strcmp(json_string_value(json_object_get(first, "role")), "system"))
		return 0;
	json_t *m = json_pack("{s:s, s:s%}", "role", "system", "content", json_string_value(sys), json_string_length(sys));
	return m && !json_array_insert_new(req->messages, 0, m) ? 0 : NOMEM();
}

static int parse_messages(json_t *o, api_request *req, ollama_extra *x, api_error *err)
{
	json_t *ms = json_object_get(o, "messages");
	if (!ms || json_is_null(ms) || (json_is_array(ms) && !json_array_size(ms))) {
		x->load_only = true;
		return 0;
	}
	if (!json_is_array(ms))
		return BAD("invalid_type", "messages", "'messages' must be an array, not %s", api_type_name(ms));
	if (json_array_size(ms) > API_MAX_MESSAGES)
		return BAD("invalid_value", "messages", "'messages' has %zu messages, at most %d are allowed",
			   json_array_size(ms), API_MAX_MESSAGES);
	json_t *used = json_object(); /* the calls of the last assistant message answered so far */
	if (!(req->messages = json_array()) || !used) {
		json_decref(used);
		return NOMEM();
	}
	json_t *calls = NULL;         /* the last assistant message's (borrowed) */
	int rc = 0;
	size_t i;
	json_t *m;
	json_array_foreach(ms, i, m) {
		char param[96];
		snprintf(param, sizeof param, "messages[%zu]", i);
		if (!json_is_object(m)) {
			rc = BAD("invalid_type", param, "'%s' must be an object, not %s", param, api_type_name(m));
			break;
		}
		const char *key;
		json_t *v;
		json_object_foreach(m, key, v) {
			size_t k = 0;
			while (k < SH_ARRAY_LEN(message_keys) && strcmp(message_keys[k], key))
				k++;
			snprintf(param, sizeof param, "messages[%zu].%.40s", i, key);
			if (k == SH_ARRAY_LEN(message_keys) && !json_is_null(v) && !rc)
				rc = BAD("unsupported_parameter", param, "'%s' is not supported", param);
		}
		if (rc)
			break;
		json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
		snprintf(param, sizeof param, "messages[%zu].role", i);
		if (!role || json_is_null(role)) {
			rc = BAD("missing_required_parameter", param, "'%s' is required", param);
			break;
		}
		if (!json_is_string(role)) {
			rc = BAD("invalid_type", param, "'%s' must be a string, not %s", param, api_type_name(role));
			break;
		}
		const char *r = json_string_value(role);
		if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") && strcmp(r, "tool")) {
			rc = BAD("invalid_value", param, "'%s' is '%.40s': it must be 'system', 'user', 'assistant' or 'tool'",
				 param, r);
			break;
		}
		bool assistant = !strcmp(r, "assistant"), tool = !strcmp(r, "tool");
		snprintf(param, sizeof param, "messages[%zu].content", i);
		if (content && !json_is_null(content) && !json_is_string(content)) {
			rc = BAD("invalid_type", param, "'%s' must be a string, not %s", param, api_type_name(content));
			break;
		}
		static const char *const off[] = { "images", "thinking", "tool_calls", "tool_name", "tool_call_id" };
		static const char *const why[] = { "this node serves a text model", "the reply is not split into thinking",
						   "only an assistant message has tool calls",
						   "only a tool message answers a call", "only a tool message answers a call" };
		for (size_t k = 0; k < SH_ARRAY_LEN(off) && !rc; k++) {
			bool ok = (k == 2 && assistant) || (k >= 3 && tool);
			json_t *f = given(m, off[k]);
			snprintf(param, sizeof param, "messages[%zu].%s", i, off[k]);
			if (f && !ok)
				rc = BAD("unsupported_parameter", param, "'%s' is not supported (%s)", param, why[k]);
			else if (f && k >= 3 && !json_is_string(f))
				rc = BAD("invalid_type", param, "'%s' must be a string, not %s", param, api_type_name(f));
		}
		if (rc)
			break;
		json_t *nm = json_pack("{s:s, s:s%}", "role", r, "content",
				       json_is_string(content) ? json_string_value(content) : "",
				       json_is_string(content) ? json_string_length(content) : (size_t)0);
		if (!nm || json_array_append_new(req->messages, nm)) {
			rc = NOMEM();
			break;
		}
		if (assistant && given(m, "tool_calls")) {
			if ((rc = parse_calls(json_object_get(m, "tool_calls"), i, nm, err)))
				break;
			calls = json_object_get(nm, "tool_calls");
			json_object_clear(used);
		}
		if (tool) {
			const char *id = answered_call(m, calls, used);
			snprintf(param, sizeof param, "messages[%zu]", i);
			if (!id) {
				rc = BAD("invalid_value", param, "'%s' answers no call: give 'tool_call_id' (or 'tool_name') of "
					 "a call of the assistant message before it", param);
				break;
			}
			if (json_object_set_new(nm, "tool_call_id", json_string(id)) ||
			    json_object_set_new(used, id, json_true())) {
				rc = NOMEM();
				break;
			}
		}
	}
	json_decref(used);
	return rc ? rc : chat_system(o, req, err);
}

/* generate: prompt (none or "": load), system, raw */
static int parse_prompt(json_t *o, api_request *req, ollama_extra *x, api_error *err)
{
	json_t *p = json_object_get(o, "prompt"), *sys = json_object_get(o, "system");
	bool raw = false;
	if (api_get_bool(o, "raw", &raw, err))
		return SH_EINVAL;
	if (p && !json_is_null(p) && !json_is_string(p))
		return BAD("invalid_type", "prompt", "'prompt' must be a string, not %s", api_type_name(p));
	if (sys && !json_is_null(sys) && !json_is_string(sys))
		return BAD("invalid_type", "system", "'system' must be a string, not %s", api_type_name(sys));
	if (raw && given(o, "system"))
		return BAD("invalid_value", "system", "'system' does not go with raw: true (the prompt is sent as it is)");
	if (!given(o, "prompt")) {
		x->load_only = true;
		return 0;
	}
	if (raw) {
		req->kind = API_COMPLETION;
		req->prompt_len = json_string_length(p);
		if (!(req->prompt = malloc(req->prompt_len + 1)))
			return NOMEM();
		memcpy(req->prompt, json_string_value(p), req->prompt_len + 1);
		return 0;
	}
	req->kind = API_CHAT;
	if (!(req->messages = json_array()))
		return NOMEM();
	if (given(o, "system") &&
	    json_array_append_new(req->messages, json_pack("{s:s, s:s%}", "role", "system", "content",
							   json_string_value(sys), json_string_length(sys))))
		return NOMEM();
	if (json_array_append_new(req->messages, json_pack("{s:s, s:s%}", "role", "user", "content", json_string_value(p),
							   json_string_length(p))))
		return NOMEM();
	return 0;
}

static int parse_object(enum api_kind kind, json_t *o, unsigned accept, api_request *req, api_error *err,
			ollama_extra *x)
{
	json_t *model = json_object_get(o, "model");
	if (model && json_is_string(model) && json_string_length(model) &&
	    !(req->model = strdup(json_string_value(model))))
		return NOMEM();
	if (check_fields(kind, o, err))
		return SH_EINVAL;
	if (!model || json_is_null(model) || (json_is_string(model) && !json_string_length(model)))
		return BAD("missing_required_parameter", "model", "'model' is required");
	if (!json_is_string(model))
		return BAD("invalid_type", "model", "'model' must be a string, not %s", api_type_name(model));
	req->stream = true; /* Ollama streams unless told not to */
	if (api_get_bool(o, "stream", &req->stream, err) || parse_keep_alive(o, err) || parse_unsupported(kind, o, err) ||
	    parse_logprobs(o, &req->sp, err) ||
	    (kind == API_CHAT && parse_ollama_tools(o, req, err)) ||
	    parse_format(o, accept, req, err) || parse_num_predict(o, "num_predict", &req->sp, err) ||
	    parse_options(o, req, x, err) || api_request_constraint(req, err))
		return SH_EINVAL;
	return kind == API_CHAT ? parse_messages(o, req, x, err) : parse_prompt(o, req, x, err);
}

int ollama_request_parse(enum api_kind kind, const char *body, size_t len, const api_limits *lim, unsigned accept,
			 api_request *req, api_error *err, ollama_extra *x)
{
	memset(req, 0, sizeof *req);
	memset(err, 0, sizeof *err);
	memset(x, 0, sizeof *x);
	req->kind = kind;
	sample_params_default(&req->sp.sp);
	json_t *o;
	if (api_body_object(body, len, &o, err))
		return SH_EINVAL;
	int rc = parse_object(kind, o, accept, req, err, x);
	json_decref(o);
	return rc;
}

/* the dialect's: what the generation path honours; nothing to generate is an error here (the
 * server answers it before, ollama_precheck) */
static int parse(enum api_kind kind, const char *body, size_t len, const api_limits *lim, api_request *req,
		 api_error *err)
{
	ollama_extra x;
	int rc = ollama_request_parse(kind, body, len, lim, OLLAMA_ACCEPT, req, err, &x);
	if (!rc && x.load_only)
		return BAD("missing_required_parameter", kind == API_CHAT ? "messages" : "prompt",
			   "nothing to generate: '%s' is empty", kind == API_CHAT ? "messages" : "prompt");
	return rc;
}

/* ---------------------------------------------------------------- names */
static const char *without_host(const char *s)
{
	static const char *const hosts[] = { "https://", "http://", "hf.co/", "huggingface.co/" };
	for (size_t i = 0; i < SH_ARRAY_LEN(hosts); i++)
		if (!strncasecmp(s, hosts[i], strlen(hosts[i])))
			s += strlen(hosts[i]);
	return s;
}

bool ollama_model_is(const char *served, const char *asked)
{
	served = without_host(served);
	asked = without_host(asked);
	size_t n = strlen(served);
	return !strcmp(served, asked) || (!strncmp(served, asked, n) && !strcmp(asked + n, ":latest"));
}

/* ---------------------------------------------------------------- responses */
/* RFC 3339 in UTC as Go writes times: with nanoseconds (ns >= 0) or without */
static void rfc3339(time_t t, long ns, char *buf, size_t cap)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm))
		snprintf(buf, cap, "1970-01-01T00:00:00");
	size_t n = strlen(buf);
	if (ns >= 0)
		snprintf(buf + n, cap - n, ".%09ldZ", ns);
	else
		snprintf(buf + n, cap - n, "Z");
}

static void now3339(char *buf, size_t cap)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	rfc3339(ts.tv_sec, ts.tv_nsec, buf, cap);
}

static json_t *str(const char *s, size_t n)
{
	json_t *v = s ? json_stringn(s, n) : NULL;
	return v ? v : json_string("");
}

static json_int_t ns(double sec)
{
	return sec > 0 ? (json_int_t)(sec * 1e9) : 0;
}

/* one object of the answer: the text (a piece, or the whole) */
static json_t *answer(const api_resp_meta *m, const char *text, size_t len, bool done)
{
	char at[64];
	now3339(at, sizeof at);
	const char *model = m->model ? m->model : "";
	if (m->kind == API_CHAT)
		return json_pack("{s:s, s:s, s:{s:s, s:o}, s:b}", "model", model, "created_at", at, "message", "role",
				 "assistant", "content", str(text, len), "done", done);
	return json_pack("{s:s, s:s, s:o, s:b}", "model", model, "created_at", at, "response", str(text, len), "done",
			 done);
}

/* the last object: how it ended, the counts and the durations; the nodes that computed it */
static json_t *with_end(json_t *j, const api_done *d)
{
	if (!j)
		return NULL;
	double now = sh_time_sec(), first = d->t_first > 0 ? d->t_first : now;
	json_object_set_new(j, "done_reason", json_string(api_finish_name(d->finish)));
	json_object_set_new(j, "total_duration", json_integer(ns(now - d->t_submit)));
	json_object_set_new(j, "load_duration", json_integer(0));
	json_object_set_new(j, "prompt_eval_count", json_integer(d->n_prompt));
	json_object_set_new(j, "prompt_eval_duration", json_integer(ns(first - d->t_submit)));
	json_object_set_new(j, "eval_count", json_integer(d->n_gen));
	json_object_set_new(j, "eval_duration", json_integer(d->t_first > 0 ? ns(d->t_last - d->t_first) : 0));
	if (d->nodes)
		json_object_set_new(j, "shoal", json_pack("{s:O}", "nodes", d->nodes));
	return j;
}

static int ndjson(text_buf *out, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	int rc = s ? text_buf_addf(out, "%s\n", s) : SH_ENOMEM;
	free(s);
	return rc;
}

static json_t *error_json(const api_error *e)
{
	return json_pack("{s:s}", "error", e->message);
}

static int stream_start(const api_resp_meta *m, text_buf *out)
{
	return 0;
}

/* j with the logprobs of its tokens (lp: the chat shape's, taken over), Ollama's
 * [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}] */
static json_t *with_logprobs(json_t *j, json_t *lp)
{
	json_t *content = json_object_get(lp, "content");
	if (j && content)
		json_object_set(j, "logprobs", content);
	json_decref(lp);
	return j;
}

static int stream_text(const api_resp_meta *m, const char *text, size_t len, json_t *lp, text_buf *out)
{
	return ndjson(out, with_logprobs(answer(m, text, len, false), lp));
}

/* a call's arguments (OpenAI's: a JSON string) as the object Ollama gives */
static json_t *arguments(json_t *a)
{
	json_error_t je;
	json_t *o = json_is_string(a) ? json_loadb(json_string_value(a), json_string_length(a), 0, &je) : NULL;
	if (json_is_object(o))
		return o;
	json_decref(o);
	return json_object();
}

/* OpenAI's calls (tools.h) in Ollama's shape: [{id, function: {index, name, arguments: {...}}}] */
static json_t *ollama_calls(json_t *calls, int index)
{
	json_t *out = json_array();
	size_t i;
	json_t *c;
	json_array_foreach(calls, i, c) {
		json_t *fn = json_object_get(c, "function");
		json_t *id = json_object_get(c, "id"), *name = json_object_get(fn, "name");
		json_array_append_new(out, json_pack("{s:O, s:{s:I, s:O, s:o}}", "id", id ? id : json_null(), "function",
						     "index", (json_int_t)(index + (int)i), "name", name ? name : json_null(),
						     "arguments", arguments(json_object_get(fn, "arguments"))));
	}
	return out;
}

static int stream_calls(const api_resp_meta *m, json_t *calls, int index, text_buf *out)
{
	json_t *j = answer(m, "", 0, false);
	if (j && m->kind == API_CHAT)
		json_object_set_new(json_object_get(j, "message"), "tool_calls", ollama_calls(calls, index));
	return ndjson(out, j);
}

static int stream_end(const api_resp_meta *m, const api_done *d, text_buf *out)
{
	return ndjson(out, with_end(answer(m, "", 0, true), d));
}

static int stream_error(const api_resp_meta *m, const api_error *e, text_buf *out)
{
	return ndjson(out, error_json(e));
}

static json_t *response(const api_resp_meta *m, const api_done *d, json_t *lp)
{
	json_t *j = with_logprobs(with_end(answer(m, d->text, d->len, true), d), lp);
	if (j && m->kind == API_CHAT && json_array_size(d->calls))
		json_object_set_new(json_object_get(j, "message"), "tool_calls", ollama_calls(d->calls, 0));
	return j;
}

const api_dialect api_ollama = {
	.name = "ollama", .parse = parse, .stream_type = "application/x-ndjson", .stream_start = stream_start,
	.stream_text = stream_text, .stream_calls = stream_calls, .stream_end = stream_end, .stream_error = stream_error,
	.response = response, .error_json = error_json, .chat_logprobs = true,
};

int ollama_precheck(enum api_kind kind, const char *body, size_t len, const api_limits *lim, const ollama_served *s,
		    api_error *err, json_t **out)
{
	api_request req;
	api_error e;
	ollama_extra x;
	*out = NULL;
	int rc = ollama_request_parse(kind, body, len, lim, OLLAMA_ACCEPT, &req, &e, &x), r = 0;
	if (req.model && !ollama_model_is(s->id, req.model)) {
		api_error_set(err, 404, "not_found_error", "model_not_found", "model",
			      "model '%.200s' not found (this node serves '%.200s')", req.model, s->id);
		r = -1;
	} else if (!rc && x.num_ctx > s->n_ctx) {
		api_error_set(err, 400, "invalid_request_error", "invalid_value", "options.num_ctx",
			      "options: 'num_ctx' is %lld, more than the %d tokens of context this node gives each request "
			      "(shoal run -c)",
			      (long long)x.num_ctx, s->n_ctx);
		r = -1;
	} else if (!rc && x.load_only) {
		json_t *a = answer(&(api_resp_meta){ .kind = kind, .model = s->id }, "", 0, true);
		if (a)
			json_object_set_new(a, "done_reason", json_string("load"));
		*out = a;
		r = a ? 1 : 0;
	}
	api_request_free(&req);
	return r;
}

/* ---------------------------------------------------------------- models */
/* what is known of a model: the cache's entry and its GGUF header, or the server's numbers */
typedef struct {
	char name[HUB_PATH_MAX + 2 * HUB_NAME_MAX + 4];
	char path[4096];             /* its GGUF file (part 1), "" when unknown */
	char digest[2 * crypto_hash_sha256_BYTES + 1];
	char quant[HUB_NAME_MAX + 1];
	uint64_t size;
	time_t mtime;
	const ollama_served *served; /* the model served, or NULL */
} model_entry;

/* the file of a whole model of the cache (refs/main's snapshot: others are not where the cache
 * resolves the name) */
static bool cached_path(const hub_cache *hc, const hub_ref *r, char *path, size_t cap)
{
	hub_opts o = { .offline = true };
	return hub_model(hc, r, &o, path, cap) == SH_OK;
}

/* the blob's name (its sha256) when path is a link into the cache, else the sha256 of the name */
static void digest_of(model_entry *e)
{
	char *real = e->path[0] ? realpath(e->path, NULL) : NULL;
	const char *base = real ? strrchr(real, '/') : NULL;
	if (base && strlen(base + 1) == 2 * crypto_hash_sha256_BYTES && strspn(base + 1, "0123456789abcdef") ==
										  2 * crypto_hash_sha256_BYTES) {
		snprintf(e->digest, sizeof e->digest, "%s", base + 1);
	} else {
		unsigned char h[crypto_hash_sha256_BYTES];
		crypto_hash_sha256(h, (const unsigned char *)e->name, strlen(e->name));
		sodium_bin2hex(e->digest, sizeof e->digest, h, sizeof h);
	}
	free(real);
}

static void entry_of_cached(model_entry *e, const hub_cache *hc, const hub_cached *m)
{
	memset(e, 0, sizeof *e);
	hub_ref_format(&m->ref, e->name, sizeof e->name);
	snprintf(e->quant, sizeof e->quant, "%s", m->quant);
	e->size = m->size;
	e->mtime = m->mtime;
	if (m->main && !cached_path(hc, &m->ref, e->path, sizeof e->path))
		e->path[0] = 0;
	digest_of(e);
}

/* the model served; the cache's entry when its name is one of the cache's (*match: its index) */
static void entry_of_served(model_entry *e, const ollama_served *s, const hub_cache *hc, const hub_cached *m, int n,
			    int *match)
{
	*match = -1;
	for (int i = 0; i < n && *match < 0; i++) {
		char name[sizeof e->name];
		hub_ref_format(&m[i].ref, name, sizeof name);
		if (m[i].complete && ollama_model_is(name, s->id))
			*match = i;
	}
	if (*match >= 0) {
		entry_of_cached(e, hc, &m[*match]);
	} else {
		memset(e, 0, sizeof *e);
		e->mtime = s->created;
		hub_quant_of(s->id, e->quant, sizeof e->quant);
		struct stat st;
		if (s->path && stat(s->path, &st) == 0 && (size_t)snprintf(e->path, sizeof e->path, "%s", s->path) < sizeof e->path)
			e->size = (uint64_t)st.st_size;
		else
			e->path[0] = 0;
	}
	snprintf(e->name, sizeof e->name, "%s", s->id);
	if (*match < 0)
		digest_of(e);
	e->served = s;
}

static json_t *gguf_string(gguf_str s)
{
	text_buf b = { 0 };
	json_t *v = text_utf8_repair(&b, s.ptr, (size_t)s.len) ? NULL : json_stringn(b.p ? b.p : "", b.len);
	text_buf_free(&b);
	return v;
}

/* Ollama's spelling of a count: 7.6B, 494.03M, 260K */
static void human_number(uint64_t x, char *buf, size_t cap)
{
	double v = (double)x;
	if (x >= 1000000000ull)
		snprintf(buf, cap, v / 1e9 == (double)(x / 1000000000ull) ? "%.0fB" : "%.1fB", v / 1e9);
	else if (x >= 1000000ull)
		snprintf(buf, cap, v / 1e6 == (double)(x / 1000000ull) ? "%.0fM" : "%.2fM", v / 1e6);
	else if (x >= 1000ull)
		snprintf(buf, cap, "%.0fK", v / 1e3);
	else
		snprintf(buf, cap, "%llu", (unsigned long long)x);
}

static uint64_t parameter_count(const gguf_ctx *g)
{
	int64_t n;
	if (gguf_get_i64(g, "general.parameter_count", &n) && n > 0)
		return (uint64_t)n;
	uint64_t total = 0;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		uint64_t e = 1;
		for (int d = 0; d < g->tensors[i].n_dims; d++)
			e *= (uint64_t)g->tensors[i].ne[d];
		total += e;
	}
	return total;
}

/* details: {parent_model, format, family, families, parameter_size, quantization_level[,
 * context_length]} from the header g (may be NULL) */
static json_t *details_json(const model_entry *e, const gguf_ctx *g)
{
	char params[32] = "";
	json_t *family = NULL;
	gguf_str arch;
	if (g && gguf_get_str(g, "general.architecture", &arch))
		family = gguf_string(arch);
	if (g)
		human_number(parameter_count(g), params, sizeof params);
	json_t *fam = family ? family : json_string("");
	json_t *d = json_pack("{s:s, s:s, s:O, s:[O], s:s, s:s}", "parent_model", "", "format", "gguf", "family", fam,
			      "families", fam, "parameter_size", params, "quantization_level", e->quant);
	json_decref(fam);
	if (d && !family) /* unknown: [] rather than [""] */
		json_object_set_new(d, "families", json_array());
	if (d && e->served)
		json_object_set_new(d, "context_length", json_integer(e->served->n_ctx));
	return d;
}

static gguf_ctx *header_of(const model_entry *e)
{
	int err;
	return e->path[0] ? gguf_open(e->path, &err) : NULL;
}

/* {name, model, modified_at, size, digest, details} as /api/tags lists it */
static json_t *listed(const model_entry *e)
{
	char at[64];
	rfc3339(e->mtime, -1, at, sizeof at);
	gguf_ctx *g = header_of(e);
	json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "name", e->name, "model", e->name, "modified_at", at,
			      "size", (json_int_t)e->size, "digest", e->digest, "details", details_json(e, g));
	gguf_free(g);
	return j;
}

/* every whole model of the cache once (by name: refs/main's first), but the one served */
static json_t *cached_list(const hub_cache *hc, const hub_cached *m, int n, int skip)
{
	json_t *out = json_array(), *seen = json_object();
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < n; i++) {
			if (i == skip || !m[i].complete || m[i].main != (pass == 0))
				continue;
			model_entry e;
			entry_of_cached(&e, hc, &m[i]);
			if (json_object_get(seen, e.name))
				continue;
			json_object_set_new(seen, e.name, json_true());
			json_array_append_new(out, listed(&e));
		}
	json_decref(seen);
	return out;
}

json_t *ollama_tags(const ollama_served *s, const hub_cache *hc, const hub_cached *m, int n)
{
	model_entry e;
	int match;
	entry_of_served(&e, s, hc, m, n, &match);
	json_t *list = cached_list(hc, m, n, match);
	json_t *it;
	size_t i;
	json_array_foreach(list, i, it) /* another snapshot of the model served */
		if (!strcmp(json_string_value(json_object_get(it, "name")), e.name)) {
			json_array_remove(list, i);
			break;
		}
	json_array_insert_new(list, 0, listed(&e));
	return json_pack("{s:o}", "models", list);
}

json_t *ollama_ps(const ollama_served *s, const hub_cache *hc, const hub_cached *m, int n)
{
	model_entry e;
	int match;
	entry_of_served(&e, s, hc, m, n, &match);
	json_t *j = listed(&e);
	json_object_del(j, "modified_at");
	/* loaded until the node stops: no expiry (Ollama's CLI shows a time this far as "Forever") */
	json_object_set_new(j, "expires_at", json_string("9999-12-31T23:59:59Z"));
	json_object_set_new(j, "size_vram", json_integer(0));
	json_object_set_new(j, "context_length", json_integer(s->n_ctx));
	return json_pack("{s:[o]}", "models", j);
}

/* model_info: the header's keys and scalar values (arrays empty, as Ollama shows them unless
 * verbose), the chat template apart; the server's numbers under shoal.* */
static json_t *model_info(const model_entry *e, const gguf_ctx *g, json_t **tmpl)
{
	json_t *info = json_object();
	*tmpl = NULL;
	for (uint64_t i = 0; g && i < g->n_kv; i++) {
		const gguf_kv *kv = &g->kv[i];
		char key[256];
		if (kv->key.len >= sizeof key)
			continue;
		memcpy(key, kv->key.ptr, kv->key.len);
		key[kv->key.len] = 0;
		if (!text_utf8_valid(key, kv->key.len) || strlen(key) != kv->key.len)
			continue;
		json_t *v = NULL;
		switch (kv->type) {
		case GGUF_T_UINT8:
		case GGUF_T_UINT16:
		case GGUF_T_UINT32:
		case GGUF_T_UINT64:
			v = kv->v.u64 <= INT64_MAX ? json_integer((json_int_t)kv->v.u64) : json_real((double)kv->v.u64);
			break;
		case GGUF_T_INT8:
		case GGUF_T_INT16:
		case GGUF_T_INT32:
		case GGUF_T_INT64: v = json_integer((json_int_t)kv->v.i64); break;
		case GGUF_T_FLOAT32:
		case GGUF_T_FLOAT64: v = json_real(kv->v.f64); break;
		case GGUF_T_BOOL: v = json_boolean(kv->v.b); break;
		case GGUF_T_STRING: v = gguf_string(kv->v.str); break;
		case GGUF_T_ARRAY: v = json_array(); break;
		default: break;
		}
		if (v && !strcmp(key, "tokenizer.chat_template")) {
			json_decref(*tmpl);
			*tmpl = v;
		} else if (v) {
			json_object_set_new(info, key, v);
		}
	}
	if (e->served) {
		json_object_set_new(info, "shoal.context_length", json_integer(e->served->n_ctx));
		json_object_set_new(info, "shoal.block_count", json_integer(e->served->n_layers));
		json_object_set_new(info, "shoal.vocab_size", json_integer(e->served->n_vocab));
	}
	return info;
}

static json_t *shown(const model_entry *e)
{
	gguf_ctx *g = header_of(e);
	json_t *tmpl;
	json_t *info = model_info(e, g, &tmpl);
	char at[64];
	rfc3339(e->mtime, -1, at, sizeof at);
	text_buf mf = { 0 }, params = { 0 };
	int rc = text_buf_addf(&mf, "# Modelfile generated by shoal\nFROM %s\n", e->name);
	if (e->served) {
		rc |= text_buf_addf(&params, "num_ctx %d", e->served->n_ctx);
		rc |= text_buf_addf(&mf, "PARAMETER num_ctx %d\n", e->served->n_ctx);
	}
	json_t *j = rc ? NULL
		       : json_pack("{s:s%, s:s%, s:o, s:o, s:[s], s:s}", "modelfile", mf.p, mf.len, "parameters",
				   params.p ? params.p : "", params.len, "details", details_json(e, g), "model_info", info,
				   "capabilities", "completion", "modified_at", at);
	if (rc)
		json_decref(info);
	if (j && tmpl) /* Hugging Face's Jinja, as the model carries it (not a Go template) */
		json_object_set(j, "template", tmpl);
	json_decref(tmpl);
	text_buf_free(&mf);
	text_buf_free(&params);
	gguf_free(g);
	return j;
}

json_t *ollama_show(const ollama_served *s, const hub_cache *hc, const hub_cached *m, int n, const char *body,
		    size_t len, api_error *err)
{
	json_error_t je;
	json_t *o = len && text_utf8_valid(body, len) ? json_loadb(body, len, 0, &je) : NULL;
	json_t *model = json_object_get(o, "model");
	if (!model || json_is_null(model))
		model = json_object_get(o, "name");
	json_t *verbose = json_object_get(o, "verbose");
	if (!json_is_object(o) || !json_is_string(model) || !json_string_length(model) ||
	    (verbose && !json_is_boolean(verbose) && !json_is_null(verbose))) {
		json_decref(o);
		api_error_set(err, 400, "invalid_request_error", "invalid_value", "model",
			      "the body must be a JSON object with \"model\": the name of a model (and optionally "
			      "\"verbose\": true or false)");
		return NULL;
	}
	char asked[512];
	snprintf(asked, sizeof asked, "%s", json_string_value(model));
	json_decref(o);
	model_entry e;
	int match = -1;
	if (ollama_model_is(s->id, asked)) {
		entry_of_served(&e, s, hc, m, n, &match);
	} else {
		for (int i = 0; i < n && match < 0; i++) {
			char name[sizeof e.name];
			hub_ref_format(&m[i].ref, name, sizeof name);
			if (m[i].complete && ollama_model_is(name, asked) && (m[i].main || match < 0))
				match = i;
		}
		if (match < 0) {
			api_error_set(err, 404, "not_found_error", "model_not_found", "model", "model '%.200s' not found",
				      asked);
			return NULL;
		}
		entry_of_cached(&e, hc, &m[match]);
	}
	json_t *j = shown(&e);
	if (!j)
		api_error_set(err, 503, "server_error", "out_of_memory", NULL, "out of memory");
	return j;
}

json_t *ollama_version(void)
{
	return json_pack("{s:s}", "version", OLLAMA_VERSION);
}
