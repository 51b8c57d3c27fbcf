/*
 * anthropic.c - Anthropic's Messages API (anthropic.h):
 *
 *   request   {model, max_tokens (required), messages: [{role: user | assistant, content: a
 *             string or blocks}], system (a string or text blocks), stop_sequences, temperature
 *             (0..1), top_p, top_k, stream, metadata, tools, tool_choice, ...}; blocks: text, an
 *             assistant's tool_use (its tool_calls for the template), a user's tool_result (a tool
 *             message); tools and tool_choice become OpenAI's and are checked as
 *             /v1/chat/completions checks them (openai_request.c's api_parse_tools)
 *   message   {id: "msg_...", type: "message", role: "assistant", model, content: [{type: "text",
 *             text}, {type: "tool_use", id, name, input}...], stop_reason: end_turn | max_tokens |
 *             stop_sequence | tool_use, stop_sequence (the one that matched, else null), usage:
 *             {input_tokens, output_tokens}}
 *   stream    server-sent events, each "event: TYPE" and its data: message_start (the message,
 *             no content yet), content_block_start (index 0, empty text), ping, a
 *             content_block_delta ({type: "text_delta", text}) per piece of text,
 *             content_block_stop; per tool call a tool_use block (index 1..) whose input comes as
 *             one input_json_delta; message_delta ({stop_reason, stop_sequence}, usage),
 *             message_stop
 *   errors    {type: "error", error: {type, message}} with the HTTP status; mid-stream an
 *             `event: error` of it (type api_error)
 *
 * The dialect keeps no state: text after a tool call (rare: a call is most often the reply's end)
 * goes to block 0 after its stop.
 *
 * Text blocks of one message (or of the system prompt) are joined with "\n", as the OpenAI
 * parser joins content parts. The sampler's defaults are the server's, the same for every API.
 */
#include "api/anthropic.h"

#include <stdio.h>
#include <stdlib.h>

#define BAD(code, param, ...) (api_error_set(err, 400, "invalid_request_error", code, param, __VA_ARGS__), SH_EINVAL)
#define NOMEM() (api_error_set(err, 503, "server_error", "out_of_memory", NULL, "out of memory"), SH_ENOMEM)

/* what the generation path honours today (see ANTHROPIC_ACCEPT_FORMAT) */
#define ANTHROPIC_ACCEPT ANTHROPIC_ACCEPT_FORMAT

/* ---------------------------------------------------------------- the request */
static json_t *field(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);
	return json_is_null(v) ? NULL : v;
}

static const char *const fields[] = {
	"model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature", "top_p", "top_k",
	"metadata", "service_tier", "cache_control", "tools", "tool_choice", "thinking", "output_config",
};

static int check_fields(json_t *o, api_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach(o, key, v) {
		size_t i = 0;
		while (i < SH_ARRAY_LEN(fields) && strcmp(fields[i], key))
			i++;
		if (i == SH_ARRAY_LEN(fields) && !json_is_null(v))
			return BAD("unsupported_parameter", key, "'%.60s' is not supported by /v1/messages (docs/api.md lists "
				   "what is)", key);
	}
	return 0;
}

/* cache_control: {type: "ephemeral", ttl?}: accepted, no effect (a slot reuses any prompt prefix
 * it holds by itself) */
static int check_cache_control(json_t *o, const char *param, api_error *err)
{
	json_t *c = field(o, "cache_control"), *type = field(c, "type"), *ttl = field(c, "ttl");
	if (c && (!json_is_object(c) || !json_is_string(type) || strcmp(json_string_value(type), "ephemeral") ||
		  (ttl && !json_is_string(ttl))))
		return BAD("invalid_value", param, "'%s' must be {type: \"ephemeral\", ttl?}", param);
	return 0;
}

/* the 400 for a block of type t at pp where it is not taken (where: which blocks are) */
static int block_error(const char *pp, const char *t, const char *where, api_error *err)
{
	bool tool = strstr(t, "tool_use") || strstr(t, "tool_result");
	bool media = !strcmp(t, "image") || !strcmp(t, "document") || !strcmp(t, "search_result");
	bool known = tool || media || !strcmp(t, "text") || strstr(t, "thinking");
	return BAD(known ? "unsupported_parameter" : "invalid_value", pp, "'%s' is a %.40s block: %s", pp, t,
		   media ? "this node serves a text model, it takes text blocks" : where);
}

/* the keys of a block other than these (and type, cache_control) are a 400 */
static int block_keys(json_t *block, const char *pp, const char *const *keys, api_error *err)
{
	const char *key;
	json_t *v;
	json_object_foreach(block, key, v) {
		bool ok = !strcmp(key, "type") || !strcmp(key, "cache_control") || json_is_null(v);
		for (size_t k = 0; !ok && keys[k]; k++)
			ok = !strcmp(key, keys[k]);
		if (!ok)
			return BAD("unsupported_parameter", pp, "'%s.%.40s' is not supported", pp, key);
	}
	return check_cache_control(block, pp, err);
}

/* a {type: "text", text, citations?: []} block's text (borrowed), or NULL and err */
static json_t *text_block(json_t *block, const char *pp, api_error *err)
{
	static const char *const keys[] = { "text", "citations", NULL };
	json_t *text = field(block, "text"), *cites = field(block, "citations");
	if (block_keys(block, pp, keys, err))
		return NULL;
	if (!json_is_string(text)) {
		(void)BAD(text ? "invalid_type" : "missing_required_parameter", pp, "'%s.text' must be a string", pp);
		return NULL;
	}
	if (cites && (!json_is_array(cites) || json_array_size(cites))) {
		(void)BAD("unsupported_parameter", pp, "'%s.citations' is not supported", pp);
		return NULL;
	}
	return text;
}

/* a block's type, checked to be a string; NULL and err else */
static const char *block_type(json_t *block, const char *pp, api_error *err)
{
	json_t *type = field(block, "type");
	if (!json_is_object(block)) {
		(void)BAD("invalid_type", pp, "'%s' must be an object, not %s", pp, api_type_name(block));
		return NULL;
	}
	if (!json_is_string(type)) {
		(void)BAD(type ? "invalid_type" : "missing_required_parameter", pp, "'%s.type' must be a string", pp);
		return NULL;
	}
	return json_string_value(type);
}

static int add_text(text_buf *b, int *n, json_t *text)
{
	if ((*n)++ && text_buf_add(b, "\n", 1))
		return SH_ENOMEM;
	return text_buf_add(b, json_string_value(text), json_string_length(text));
}

/* a string, or an array of text blocks joined with "\n" (the system prompt, a tool result); a new
 * string value or NULL and err */
static json_t *text_of(json_t *c, const char *param, const char *where, api_error *err)
{
	if (json_is_string(c))
		return json_stringn(json_string_value(c), json_string_length(c));
	if (!json_is_array(c)) {
		(void)BAD("invalid_type", param, "'%s' must be a string or an array of text blocks, not %s", param,
		    api_type_name(c));
		return NULL;
	}
	text_buf b = { 0 };
	int n = 0;
	size_t j;
	json_t *block, *s = NULL;
	json_array_foreach(c, j, block) {
		char pp[128];
		snprintf(pp, sizeof pp, "%s[%zu]", param, j);
		const char *t = block_type(block, pp, err);
		json_t *text = NULL;
		if (t && strcmp(t, "text"))
			(void)block_error(pp, t, where, err);
		else if (t)
			text = text_block(block, pp, err);
		if (!text)
			goto out;
		if (add_text(&b, &n, text)) {
			(void)NOMEM();
			goto out;
		}
	}
	if (!(s = json_stringn(b.p ? b.p : "", b.len)))
		(void)NOMEM();
out:
	text_buf_free(&b);
	return s;
}

/* an assistant's {type: "tool_use", id, name, input: {...}} onto calls as the template reads them
 * (openai_request.c's shape: {id, type: "function", function: {name, arguments: an object}}) */
static int tool_use(json_t *block, const char *pp, json_t *calls, api_error *err)
{
	static const char *const keys[] = { "id", "name", "input", NULL };
	json_t *id = field(block, "id"), *name = field(block, "name"), *input = field(block, "input");
	if (block_keys(block, pp, keys, err))
		return SH_EINVAL;
	if (!json_is_string(id) || !json_string_length(id) || json_string_length(id) > 256)
		return BAD("invalid_value", pp, "'%s.id' must be the call's id (a string)", pp);
	if (!api_tool_name_ok(name))
		return BAD("invalid_value", pp, "'%s.name' must be 1 to 64 of [A-Za-z0-9_-]", pp);
	if (!json_is_object(input))
		return BAD("invalid_value", pp, "'%s.input' must be an object", pp);
	if (json_array_size(calls) >= API_MAX_TOOLS)
		return BAD("invalid_value", pp, "'%s': at most %d tool calls in a message", pp, API_MAX_TOOLS);
	return json_array_append_new(calls, json_pack("{s:O, s:s, s:{s:O, s:O}}", "id", id, "type", "function", "function",
						      "name", name, "arguments", input))
		       ? NOMEM()
		       : 0;
}

/* a user's {type: "tool_result", tool_use_id, content?, is_error?}: a tool message */
static int tool_result(json_t *block, const char *pp, json_t *msgs, api_error *err)
{
	static const char *const keys[] = { "tool_use_id", "content", "is_error", NULL };
	json_t *id = field(block, "tool_use_id"), *c = field(block, "content"), *is_error = field(block, "is_error");
	if (block_keys(block, pp, keys, err))
		return SH_EINVAL;
	if (!json_is_string(id) || !json_string_length(id) || json_string_length(id) > 256)
		return BAD("invalid_value", pp, "'%s.tool_use_id' must be the id of the tool_use it answers", pp);
	if (is_error && !json_is_boolean(is_error))
		return BAD("invalid_type", pp, "'%s.is_error' must be a boolean", pp);
	char param[160];
	snprintf(param, sizeof param, "%s.content", pp);
	json_t *text = c ? text_of(c, param, "a tool result takes text blocks", err) : json_string("");
	if (!text)
		return SH_EINVAL;
	return json_array_append_new(msgs, json_pack("{s:s, s:o, s:O}", "role", "tool", "content", text, "tool_call_id", id))
		       ? NOMEM()
		       : 0;
}

/* message i's content (a string or blocks) onto msgs: an assistant's text and tool_use blocks as
 * one message with tool_calls; a user's text as a user message and each tool_result as a tool
 * message, in their order */
static int add_message(json_t *msgs, const char *role, json_t *content, size_t i, api_error *err)
{
	char param[64];
	snprintf(param, sizeof param, "messages[%zu].content", i);
	bool assistant = !strcmp(role, "assistant");
	if (json_is_string(content))
		return json_array_append_new(msgs, json_pack("{s:s, s:O}", "role", role, "content", content)) ? NOMEM() : 0;
	if (!json_is_array(content))
		return BAD("invalid_type", param, "'%s' must be a string or an array of content blocks, not %s", param,
			   api_type_name(content));
	text_buf b = { 0 };
	int n = 0, rc = 0, results = 0;
	json_t *calls = json_array();
	size_t j;
	json_t *block;
	json_array_foreach(content, j, block) {
		char pp[96];
		snprintf(pp, sizeof pp, "%s[%zu]", param, j);
		const char *t = block_type(block, pp, err);
		if (!t) {
			rc = SH_EINVAL;
			break;
		}
		if (!strcmp(t, "text")) {
			json_t *text = text_block(block, pp, err);
			rc = !text ? SH_EINVAL : add_text(&b, &n, text) ? NOMEM() : 0;
		} else if (!strcmp(t, "tool_use") && assistant) {
			rc = tool_use(block, pp, calls, err);
		} else if (!strcmp(t, "tool_result") && !assistant) {
			if (n) { /* the text before it, a user message of its own */
				rc = json_array_append_new(msgs, json_pack("{s:s, s:s%}", "role", role, "content", b.p, b.len))
					     ? NOMEM()
					     : 0;
				b.len = 0;
				n = 0;
			}
			rc = rc ? rc : tool_result(block, pp, msgs, err);
			results++;
		} else {
			rc = block_error(pp, t, assistant ? "an assistant message takes text and tool_use blocks"
							  : "a user message takes text and tool_result blocks", err);
		}
		if (rc)
			break;
	}
	if (!rc && (assistant || n || !results)) {
		json_t *m = json_pack("{s:s, s:s%}", "role", role, "content", b.p ? b.p : "", b.len);
		if (m && json_array_size(calls))
			json_object_set(m, "tool_calls", calls);
		rc = !m || json_array_append_new(msgs, m) ? NOMEM() : 0;
	}
	json_decref(calls);
	text_buf_free(&b);
	return rc;
}

static int parse_messages(json_t *o, api_request *req, api_error *err)
{
	json_t *sys = field(o, "system"), *ms = field(o, "messages");
	if (!ms)
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
		return NOMEM();
	if (sys) {
		json_t *s = text_of(sys, "system", "the system prompt takes text blocks", err);
		if (!s)
			return SH_EINVAL;
		if (!json_string_length(s))
			json_decref(s);
		else if (json_array_append_new(req->messages, json_pack("{s:s, s:o}", "role", "system", "content", s)))
			return NOMEM();
	}
	size_t i;
	json_t *m;
	json_array_foreach(ms, i, m) {
		char param[96];
		snprintf(param, sizeof param, "messages[%zu]", i);
		if (!json_is_object(m))
			return BAD("invalid_type", param, "'%s' must be an object, not %s", param, api_type_name(m));
		const char *key;
		json_t *v;
		json_object_foreach(m, key, v) {
			if (strcmp(key, "role") && strcmp(key, "content") && !json_is_null(v)) {
				snprintf(param, sizeof param, "messages[%zu].%.40s", i, key);
				return BAD("unsupported_parameter", param, "'%s' is not supported", param);
			}
		}
		json_t *role = field(m, "role"), *content = field(m, "content");
		snprintf(param, sizeof param, "messages[%zu].role", i);
		if (!role)
			return BAD("missing_required_parameter", param, "'%s' is required", param);
		if (!json_is_string(role))
			return BAD("invalid_type", param, "'%s' must be a string, not %s", param, api_type_name(role));
		const char *r = json_string_value(role);
		if (strcmp(r, "user") && strcmp(r, "assistant"))
			return BAD("invalid_value", param, "'%s' is '%.40s': it must be 'user' or 'assistant' (the system "
				   "prompt is the top-level 'system')", param, r);
		if (i == n - 1 && !strcmp(r, "assistant"))
			return BAD("unsupported_parameter", param, "'%s' is 'assistant': continuing a final assistant message "
				   "(prefill) is not supported: end with a user message", param);
		snprintf(param, sizeof param, "messages[%zu].content", i);
		if (!content)
			return BAD("missing_required_parameter", param, "'%s' is required", param);
		if (add_message(req->messages, r, content, i, err))
			return SH_EINVAL;
	}
	return 0;
}

static int parse_stop(json_t *o, sched_params *sp, api_error *err)
{
	return api_add_stops(sp, field(o, "stop_sequences"), "stop_sequences", false, err);
}

/* metadata {user_id}, service_tier, thinking disabled: accepted, no effect; tools and
 * tool_choice: not yet */
static int parse_others(json_t *o, api_error *err)
{
	json_t *md = field(o, "metadata"), *tier = field(o, "service_tier"), *th = field(o, "thinking");
	if (md) {
		json_t *uid = field(md, "user_id");
		if (!json_is_object(md) || (uid && !json_is_string(uid)))
			return BAD("invalid_type", "metadata", "'metadata' must be an object {user_id: string}");
		const char *key;
		json_t *v;
		json_object_foreach(md, key, v) {
			if (strcmp(key, "user_id") && !json_is_null(v))
				return BAD("unsupported_parameter", "metadata", "'metadata.%.40s' is not supported (only user_id)",
					   key);
		}
	}
	if (tier && (!json_is_string(tier) ||
		     (strcmp(json_string_value(tier), "auto") && strcmp(json_string_value(tier), "standard_only"))))
		return BAD("invalid_value", "service_tier", "'service_tier' must be 'auto' or 'standard_only'");
	if (check_cache_control(o, "cache_control", err))
		return SH_EINVAL;
	if (th) {
		json_t *type = field(th, "type");
		if (!json_is_object(th) || !json_is_string(type))
			return BAD("invalid_type", "thinking", "'thinking' must be an object {type, ...}");
		if (strcmp(json_string_value(type), "disabled"))
			return BAD("unsupported_parameter", "thinking", "'thinking' is '%.40s': extended thinking is not "
				   "supported (only 'disabled')", json_string_value(type));
	}
	return 0;
}

/* tools [{name, description?, input_schema, type?: "custom", strict?}] and tool_choice {type:
 * auto | none, disable_parallel_tool_use?} in OpenAI's shapes, checked as /v1/chat/completions
 * checks them; any and tool (OpenAI's required and named) need the reply constrained to a call,
 * which this parser does not set up yet (openai_request.c's parse_constraint does it for /v1) */
static int parse_anthropic_tools(json_t *o, api_request *req, api_error *err)
{
	json_t *tools = field(o, "tools"), *choice = field(o, "tool_choice");
	req->parallel_tool_calls = true;
	if (tools && !json_is_array(tools))
		return BAD("invalid_type", "tools", "'tools' must be an array of tools, not %s", api_type_name(tools));
	if (json_array_size(tools) > API_MAX_TOOLS)
		return BAD("invalid_value", "tools", "'tools' has %zu tools, at most %d are allowed", json_array_size(tools),
			   API_MAX_TOOLS);
	json_t *oa = json_object(), *list = json_array();
	if (!oa || !list || json_object_set_new(oa, "tools", list)) {
		json_decref(oa);
		return NOMEM();
	}
	int rc = 0;
	size_t i;
	json_t *t;
	json_array_foreach(tools, i, t) {
		char param[32];
		snprintf(param, sizeof param, "tools[%zu]", i);
		json_t *type = field(t, "type"), *name = field(t, "name"), *desc = field(t, "description");
		json_t *schema = field(t, "input_schema"), *strict = field(t, "strict");
		static const char *const keys[] = { "name", "description", "input_schema", "strict", NULL };
		if (!json_is_object(t)) {
			rc = BAD("invalid_type", param, "'%s' must be an object, not %s", param, api_type_name(t));
			break;
		}
		if (type && (!json_is_string(type) || strcmp(json_string_value(type), "custom"))) {
			rc = BAD("unsupported_parameter", param, "'%s' is a %.40s tool: only tools of your own (type \"custom\") "
				 "are supported, not Anthropic's server tools", param, json_is_string(type) ? json_string_value(type) : "?");
			break;
		}
		if (block_keys(t, param, keys, err)) {
			rc = SH_EINVAL;
			break;
		}
		if (!json_is_object(schema)) {
			rc = BAD(schema ? "invalid_type" : "missing_required_parameter", param, "'%s.input_schema' must be a "
				 "JSON Schema object", param);
			break;
		}
		json_t *fn = json_pack("{s:O, s:O}", "name", name ? name : json_null(), "parameters", schema);
		if (fn && desc)
			json_object_set(fn, "description", desc);
		if (fn && strict)
			json_object_set(fn, "strict", strict);
		if (!fn || json_array_append_new(list, json_pack("{s:s, s:o}", "type", "function", "function", fn))) {
			rc = NOMEM();
			break;
		}
	}
	const char *ct = NULL;
	if (!rc && choice) {
		json_t *type = field(choice, "type"), *dp = field(choice, "disable_parallel_tool_use");
		ct = json_string_value(type);
		static const char *const keys[] = { "name", "disable_parallel_tool_use", NULL };
		if (!json_is_object(choice) || !ct || (dp && !json_is_boolean(dp)))
			rc = BAD("invalid_type", "tool_choice", "'tool_choice' must be {type: \"auto\" | \"any\" | \"tool\" | "
				 "\"none\", name?, disable_parallel_tool_use?}");
		else if (block_keys(choice, "tool_choice", keys, err))
			rc = SH_EINVAL;
		else if (!strcmp(ct, "any")) /* OpenAI's required */
			rc = json_object_set_new(oa, "tool_choice", json_string("required"));
		else if (!strcmp(ct, "tool")) /* OpenAI's named */
			rc = !json_is_string(field(choice, "name"))
				     ? BAD("missing_required_parameter", "tool_choice", "'tool_choice' {type: \"tool\"} needs 'name'")
				     : json_object_set_new(oa, "tool_choice",
							   json_pack("{s:s, s:{s:O}}", "type", "function", "function", "name",
								     field(choice, "name")));
		else if (!strcmp(ct, "auto") || !strcmp(ct, "none"))
			rc = json_object_set_new(oa, "tool_choice", json_string(ct));
		else
			rc = BAD("invalid_value", "tool_choice", "'tool_choice.type' is '%.40s': 'auto', 'any', 'tool' or 'none'",
				 ct);
		if (!rc && json_is_true(dp))
			rc = json_object_set_new(oa, "parallel_tool_calls", json_false());
	}
	if (!rc && (json_array_size(list) || json_object_get(oa, "tool_choice"))) {
		if (!json_array_size(list))
			json_object_del(oa, "tools");
		rc = api_parse_tools(oa, req, err);
	}
	json_decref(oa);
	return rc;
}

/* output_config: {format: {type: "json_schema", schema}} (structured output) */
static int parse_output(json_t *o, unsigned accept, api_request *req, api_error *err)
{
	json_t *oc = field(o, "output_config");
	if (!oc)
		return 0;
	if (!json_is_object(oc))
		return BAD("invalid_type", "output_config", "'output_config' must be an object, not %s", api_type_name(oc));
	const char *key;
	json_t *v;
	json_object_foreach(oc, key, v) {
		if (strcmp(key, "format") && !json_is_null(v))
			return BAD("unsupported_parameter", "output_config", "'output_config.%.40s' is not supported", key);
	}
	json_t *f = field(oc, "format"), *type = field(f, "type"), *schema = field(f, "schema");
	if (!f)
		return 0;
	if (!json_is_object(f) || !json_is_string(type) || strcmp(json_string_value(type), "json_schema") ||
	    !json_is_object(schema))
		return BAD("invalid_value", "output_config.format", "'output_config.format' must be {type: \"json_schema\", "
			   "schema: a JSON Schema object}");
	if (!(accept & ANTHROPIC_ACCEPT_FORMAT))
		return BAD("unsupported_parameter", "output_config.format", "'output_config.format' (structured output) is "
			   "not supported yet");
	req->format = API_FORMAT_SCHEMA;
	req->schema = json_incref(schema);
	return 0;
}

static int parse_object(json_t *o, unsigned accept, api_request *req, api_error *err)
{
	sched_params *sp = &req->sp;
	if (check_fields(o, err))
		return SH_EINVAL;
	json_t *model = field(o, "model");
	if (!model)
		return BAD("missing_required_parameter", "model", "'model' is required");
	if (!json_is_string(model) || !json_string_length(model))
		return BAD("invalid_type", "model", "'model' must be a non-empty string");
	if (!(req->model = strdup(json_string_value(model))))
		return NOMEM();
	int64_t x = 0;
	bool has = false;
	if (api_get_int(o, "max_tokens", 1, INT32_MAX, &x, &has, err))
		return SH_EINVAL;
	if (!has)
		return BAD("missing_required_parameter", "max_tokens", "'max_tokens' is required");
	sp->max_tokens = (int)x;
	if (parse_messages(o, req, err))
		return SH_EINVAL;
	if (api_get_num(o, "temperature", 0, 1, &sp->sp.temp, err) || api_get_num(o, "top_p", 0, 1, &sp->sp.top_p, err) ||
	    api_get_int(o, "top_k", 0, INT32_MAX, &x, &has, err))
		return SH_EINVAL;
	if (has)
		sp->sp.top_k = (int)x;
	if (api_get_bool(o, "stream", &req->stream, err) || parse_stop(o, sp, err) || parse_others(o, err) ||
	    parse_anthropic_tools(o, req, err) || parse_output(o, accept, req, err) || api_request_constraint(req, err))
		return SH_EINVAL;
	return 0;
}

int anthropic_request_parse(const char *body, size_t len, const api_limits *lim, unsigned accept, api_request *req,
			    api_error *err)
{
	memset(req, 0, sizeof *req);
	memset(err, 0, sizeof *err);
	req->kind = API_CHAT;
	sample_params_default(&req->sp.sp);
	json_t *o;
	if (api_body_object(body, len, &o, err))
		return SH_EINVAL;
	int rc = parse_object(o, accept, req, err);
	json_decref(o);
	return rc;
}

static int parse(enum api_kind kind, const char *body, size_t len, const api_limits *lim, api_request *req,
		 api_error *err)
{
	return anthropic_request_parse(body, len, lim, ANTHROPIC_ACCEPT, req, err);
}

/* ---------------------------------------------------------------- responses */
const char *anthropic_error_type(const api_error *e)
{
	switch (e->status) {
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 413: return "request_too_large";
	case 429: return "rate_limit_error";
	default: break;
	}
	if (e->status == 503 && (!strcmp(e->code, "server_busy") || !strcmp(e->code, "model_loading")))
		return "overloaded_error";
	return e->status >= 500 ? "api_error" : "invalid_request_error";
}

static json_t *error_json(const api_error *e)
{
	return json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", anthropic_error_type(e), "message",
			 e->message);
}

static json_t *str(const char *s, size_t n)
{
	json_t *v = s ? json_stringn(s, n) : NULL;
	return v ? v : json_string("");
}

/* tool_use (the reply called tools), stop_sequence (one of stop_sequences ended it), max_tokens (or
 * the context's end), end_turn (an end-of-generation token) */
static const char *stop_reason(const api_done *d)
{
	if (json_array_size(d->calls))
		return "tool_use";
	if (d->stop)
		return "stop_sequence";
	return d->finish == SCHED_FINISH_LENGTH ? "max_tokens" : "end_turn";
}

/* the stop sequence that ended the reply, or null */
static json_t *stop_sequence(const api_done *d)
{
	return d->stop && !json_array_size(d->calls) ? json_string(d->stop) : json_null();
}

/* the message, its content given */
static json_t *message(const api_resp_meta *m, json_t *content, json_t *reason, json_t *stop, int n_prompt,
		       int n_gen)
{
	const char *dash = strchr(m->id, '-');
	char id[64];
	snprintf(id, sizeof id, "msg_%s", dash ? dash + 1 : m->id);
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:{s:i, s:i}}", "id", id, "type", "message", "role",
			 "assistant", "model", m->model ? m->model : "", "content", content, "stop_reason", reason,
			 "stop_sequence", stop, "usage", "input_tokens", n_prompt, "output_tokens", n_gen);
}

/* an OpenAI call (tools.h) as Anthropic's block {type: "tool_use", id: "toolu_...", name, input}
 * (input: {} while streaming, the arguments following as input_json_delta) */
static json_t *tool_use_block(json_t *call, bool whole)
{
	json_t *fn = json_object_get(call, "function"), *name = json_object_get(fn, "name");
	const char *cid = json_string_value(json_object_get(call, "id")), *us = cid ? strchr(cid, '_') : NULL;
	char id[96];
	snprintf(id, sizeof id, "toolu_%.80s", us ? us + 1 : cid ? cid : "");
	json_t *args = json_object_get(fn, "arguments"), *input = NULL;
	json_error_t je;
	if (whole && json_is_string(args))
		input = json_loadb(json_string_value(args), json_string_length(args), 0, &je);
	if (!json_is_object(input)) {
		json_decref(input);
		input = json_object();
	}
	return json_pack("{s:s, s:s, s:O, s:o}", "type", "tool_use", "id", id, "name", name ? name : json_null(), "input",
			 input);
}

static int event(text_buf *out, const char *type, json_t *data)
{
	char *s = data ? json_dumps(data, JSON_COMPACT) : NULL;
	json_decref(data);
	int rc = s ? text_buf_addf(out, "event: %s\ndata: %s\n\n", type, s) : SH_ENOMEM;
	free(s);
	return rc;
}

static int block_stop(text_buf *out, int index)
{
	return event(out, "content_block_stop", json_pack("{s:s, s:i}", "type", "content_block_stop", "index", index));
}

static int stream_start(const api_resp_meta *m, text_buf *out)
{
	int rc = event(out, "message_start",
		       json_pack("{s:s, s:o}", "type", "message_start", "message", message(m, json_array(), json_null(), json_null(), m->n_prompt, 0)));
	rc |= event(out, "content_block_start",
		    json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_start", "index", 0, "content_block", "type",
			      "text", "text", ""));
	return rc | event(out, "ping", json_pack("{s:s}", "type", "ping"));
}

static int stream_text(const api_resp_meta *m, const char *text, size_t len, json_t *lp, text_buf *out)
{
	json_decref(lp);
	return event(out, "content_block_delta",
		     json_pack("{s:s, s:i, s:{s:s, s:o}}", "type", "content_block_delta", "index", 0, "delta", "type",
			       "text_delta", "text", str(text, len)));
}

/* calls index.. as tool_use blocks 1 + index..: the text block (0) ends at the first; each call
 * whole, its input one input_json_delta */
static int stream_calls(const api_resp_meta *m, json_t *calls, int index, text_buf *out)
{
	int rc = index == 0 ? block_stop(out, 0) : 0;
	size_t i;
	json_t *c;
	json_array_foreach(calls, i, c) {
		int k = 1 + index + (int)i;
		json_t *args = json_object_get(json_object_get(c, "function"), "arguments");
		rc |= event(out, "content_block_start", json_pack("{s:s, s:i, s:o}", "type", "content_block_start", "index", k,
								  "content_block", tool_use_block(c, false)));
		rc |= event(out, "content_block_delta",
			    json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_delta", "index", k, "delta", "type",
				      "input_json_delta", "partial_json", json_is_string(args) ? json_string_value(args) : "{}"));
		rc |= block_stop(out, k);
	}
	return rc;
}

static int stream_end(const api_resp_meta *m, const api_done *d, text_buf *out)
{
	int rc = json_array_size(d->calls) ? 0 : block_stop(out, 0);
	json_t *delta = json_pack("{s:s, s:{s:s, s:o}, s:{s:i, s:i}}", "type", "message_delta", "delta", "stop_reason",
				  stop_reason(d), "stop_sequence", stop_sequence(d), "usage", "input_tokens", d->n_prompt,
				  "output_tokens", d->n_gen);
	if (delta && d->nodes)
		json_object_set_new(delta, "shoal", json_pack("{s:O}", "nodes", d->nodes));
	rc |= event(out, "message_delta", delta);
	return rc | event(out, "message_stop", json_pack("{s:s}", "type", "message_stop"));
}

static int stream_error(const api_resp_meta *m, const api_error *e, text_buf *out)
{
	return event(out, "error", error_json(e)); /* mid-stream: an aborted request, api_error */
}

/* the text block (none when the reply is only calls), then a tool_use block per call */
static json_t *response(const api_resp_meta *m, const api_done *d, json_t *lp)
{
	json_decref(lp);
	json_t *content = json_array();
	if (content && (d->len || !json_array_size(d->calls)))
		json_array_append_new(content, json_pack("{s:s, s:o}", "type", "text", "text", str(d->text, d->len)));
	size_t i;
	json_t *c;
	json_array_foreach(d->calls, i, c)
		json_array_append_new(content, tool_use_block(c, true));
	json_t *j = message(m, content, json_string(stop_reason(d)), stop_sequence(d), d->n_prompt, d->n_gen);
	if (j && d->nodes)
		json_object_set_new(j, "shoal", json_pack("{s:O}", "nodes", d->nodes));
	return j;
}

const api_dialect api_anthropic = {
	.name = "anthropic", .parse = parse, .stream_type = "text/event-stream", .stream_start = stream_start,
	.stream_text = stream_text, .stream_calls = stream_calls, .stream_end = stream_end, .stream_error = stream_error,
	.response = response, .error_json = error_json,
};
