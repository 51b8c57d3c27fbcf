/*
 * openai.h - the OpenAI API's JSON: request bodies of /v1/chat/completions and /v1/completions
 * parsed and validated into a request struct (or an OpenAI error object), and the response,
 * stream-chunk and error shapes. No HTTP here and no model: the parser is a pure function of the
 * body bytes (fuzzed by tests/fuzz/fuzz_request.c).
 *
 * Validation follows OpenAI: every known field is type- and range-checked, the error names the
 * field (param) and says why; null means "default"; a field the endpoint does not support is a
 * 400 naming it (docs/api.md; a few that mean nothing to a server of its own are accepted). Chat
 * messages are normalized to [{role, content: string}] (text parts joined with "\n") for the template.
 */
#ifndef SHOAL_OPENAI_H
#define SHOAL_OPENAI_H

#include <jansson.h>
#include <time.h>

#include "serve/sched.h"

#define API_MAX_MESSAGES 4096
#define API_MAX_TOOLS 128
#define API_MAX_TOOL_NAME 64

enum api_kind { API_CHAT = 1, API_COMPLETION = 2 };

typedef struct {
	int status;          /* HTTP status */
	char type[32];       /* invalid_request_error, authentication_error, not_found_error, server_error */
	char code[48];       /* "" is null */
	char param[96];      /* "" is null */
	char message[512];
} api_error;

/* tool_choice */
enum api_tool_choice { API_TOOLS_AUTO = 0, API_TOOLS_NONE, API_TOOLS_REQUIRED, API_TOOLS_NAMED };
/* response_format */
enum api_format { API_FORMAT_TEXT = 0, API_FORMAT_JSON, API_FORMAT_SCHEMA };

typedef struct {
	enum api_kind kind;
	json_t *messages;    /* chat: [{role, content[, tool_calls][, tool_call_id]}] (owned) */
	json_t *tools;       /* chat: OpenAI's tools, validated, as given (owned), or NULL */
	enum api_tool_choice tool_choice;
	char tool_name[API_MAX_TOOL_NAME + 1];   /* API_TOOLS_NAMED: the function */
	bool parallel_tool_calls;                /* default true */
	bool forced_call;    /* sp.constraint makes the reply one {"name", "arguments"} call (tools.h FORCED) */
	enum api_format format;
	json_t *schema;      /* API_FORMAT_SCHEMA: response_format.json_schema.schema (owned) */
	char *prompt;        /* completion: text prompt (owned, NUL-terminated) or NULL */
	size_t prompt_len;
	int *prompt_ids;     /* completion: token prompt (owned) or NULL */
	int n_prompt_ids;
	char *model;         /* as asked (owned) or NULL */
	sched_params sp;     /* sampling, max_tokens, ignore_eos, stop strings, the constraint (owned until
	                      * sched_submit takes it: set it NULL then) */
	bool has_seed;       /* else the caller picks a random seed */
	bool stream, include_usage;
} api_request;

typedef struct {
	int n_vocab;         /* token prompts must be in [0, n_vocab) */
} api_limits;

/* Parses body[0..len) (any bytes). Returns 0 and fills req, or a negative code and fills err
 * (status 400). api_request_free must be called either way. */
int api_request_parse(enum api_kind kind, const char *body, size_t len, const api_limits *lim, api_request *req,
		      api_error *err);
void api_request_free(api_request *req);

void api_error_set(api_error *e, int status, const char *type, const char *code, const char *param,
		   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* {"error": {"message", "type", "param", "code"}} */
json_t *api_error_json(const api_error *e);

/* The typed-field checks of the parser, shared by the other APIs' parsers (dialect.h): o's field
 * name, absent or null leaving *out as it is, else type- and range-checked (a 400 in err naming
 * it); api_get_int takes a number with no fraction, *present (may be NULL) says whether it was given.
 * api_add_stop adds one stop string (checked, an empty one ignored, a repeat once). api_type_name: "a
 * string", "an object", ... for messages. */
const char *api_type_name(const json_t *v);
int api_get_bool(json_t *o, const char *name, bool *out, api_error *err);
int api_get_num(json_t *o, const char *name, double lo, double hi, float *out, api_error *err);
int api_get_int(json_t *o, const char *name, int64_t lo, int64_t hi, int64_t *out, bool *present, api_error *err);
int api_add_stop(sched_params *sp, const json_t *s, const char *param, api_error *err);
/* api_add_stop for each string of v, an array of at most SCHED_MAX_STOP (or, with one, a string
 * alone); null is none. Errors name param and param[i]. */
int api_add_stops(sched_params *sp, const json_t *v, const char *param, bool one, api_error *err);
/* o's tools, tool_choice and parallel_tool_calls, in OpenAI's shapes, to req (checked as
 * docs/api.md says); api_tool_name_ok: a function name OpenAI takes, [A-Za-z0-9_-]{1,64} */
int api_parse_tools(json_t *o, api_request *req, api_error *err);
bool api_tool_name_ok(const json_t *n);
/* the reply's constraint (sp.constraint) from a parsed request: response_format's (req->format,
 * req->schema) or a required or named tool_choice's (then forced_call); a schema that cannot be
 * enforced is a 400 naming it */
int api_request_constraint(api_request *req, api_error *err);
/* a request body as a JSON object: valid UTF-8, well-formed JSON (jansson, strict), an object;
 * else SH_EINVAL with the 400 in err. *o is the caller's. */
int api_body_object(const char *body, size_t len, json_t **o, api_error *err);

/* ---------------------------------------------------------------- responses */
typedef struct {
	enum api_kind kind;
	char id[48];         /* chatcmpl-... / cmpl-... */
	time_t created;
	const char *model;
	bool include_usage;  /* OpenAI streams: the usage chunk last */
	int n_prompt;        /* the prompt's tokens (known before the first byte goes out) */
} api_resp_meta;

const char *api_finish_name(enum sched_finish f);   /* "stop", "length" (others: "stop") */
/* a whole non-streaming response; lp: its logprobs (api_logprobs, taken over) or NULL */
json_t *api_response(const api_resp_meta *m, const char *text, size_t len, enum sched_finish f, int n_prompt,
		     int n_gen, json_t *lp);
/* a stream chunk: text (may be NULL: none), role (chat's first chunk), finish (SCHED_RUNNING:
 * none); with_usage adds "usage": null as OpenAI does when include_usage is set; lp: the logprobs
 * of the chunk's tokens (taken over) or NULL */
json_t *api_chunk(const api_resp_meta *m, const char *text, size_t len, bool role, enum sched_finish f,
		  bool with_usage, json_t *lp);
/* the logprobs of tokens t[0..n) in kind's shape; a completion's text_offset counts from *offset,
 * which is advanced past them */
json_t *api_logprobs(enum api_kind kind, const vocab *v, const sched_token *t, int n, size_t *offset);
/* the last chunk when include_usage is set: no choices, the usage */
json_t *api_usage_chunk(const api_resp_meta *m, int n_prompt, int n_gen);

#endif
