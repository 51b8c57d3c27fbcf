/*
 * tmpl.h - chat templates: a Jinja-subset interpreter that renders the `tokenizer.chat_template`
 * of a GGUF byte-exactly as Hugging Face's jinja2 setup does (ImmutableSandboxedEnvironment with
 * trim_blocks, lstrip_blocks, loop controls, raise_exception, strftime_now, HF's tojson).
 *
 * A template is parsed once (tmpl_parse) into an immutable tree that any number of threads may
 * render at once. A render takes its variables as a JSON object (jansson): `messages`, `tools`,
 * `add_generation_prompt`, `bos_token`, ... exactly what HF passes as keyword arguments; a variable
 * that is absent is Jinja's Undefined. Everything a render allocates lives in one arena freed at
 * its end, so errors need no cleanup. A render is bounded: output bytes, arena bytes, evaluation
 * steps (every expression, statement and loop pass counts, and so does the work inside one: 64
 * bytes scanned or 4 values compared make a step) and nesting depth all have caps, so a hostile
 * template ends with an error instead of hanging or exhausting memory or stack. At the depth cap a
 * render uses at most about 512 KiB of C stack (1 MiB under ASan): run renders on threads with
 * at least that.
 *
 * The chat render (tmpl_render_chat) passes what apply_chat_template passes, tools
 * included; tmpl_tools_family_of tells from a template's text which tool-call format its model
 * writes, for a caller that parses the model's output.
 *
 * Errors are returned, never fatal: syntax errors as "line N: what", runtime errors as
 * "line N: what", and raise_exception(msg) as exactly msg. A render that hits a cap returns
 * SH_ERANGE; one that fails or raises, SH_EINVAL.
 *
 * Supported: {{ }}, {% %}, {# #} with -/+ whitespace control; if/elif/else, for (tuple targets,
 * `if` filter, else, loop.*, break/continue), set (names, tuples, namespace attributes, blocks),
 * macro, filter blocks, with, raw, generation; the expression grammar of jinja2 with its
 * precedence; the filters, tests, string/dict methods and globals chat templates use (see
 * tmpl_builtins.c).
 */
#ifndef SHOAL_TMPL_H
#define SHOAL_TMPL_H

#include <jansson.h>
#include <time.h>

#include "base/base.h"
#include "gguf/gguf.h"

typedef struct tmpl tmpl;

/* caps of one render; a zero field takes the default */
typedef struct {
	time_t now;            /* strftime_now's clock (local time); 0 = the current time */
	size_t max_output;     /* bytes of output, captured blocks included (default 32 MiB) */
	size_t max_memory;     /* arena bytes (default 512 MiB) */
	uint64_t max_steps;    /* expressions + statements + loop passes + work/64 (default 20M) */
} tmpl_opts;

/* Parses a template (len bytes, need not be NUL-terminated). NULL on error with the message in
 * err ("line N: ..."). */
tmpl *tmpl_parse(const char *src, size_t len, char *err, size_t errlen);
void tmpl_free(tmpl *t);

/* Renders with the members of the JSON object vars as variables. On success returns 0 and a
 * malloc'd NUL-terminated *out (*out_len bytes; may contain NULs if the data did); on error a
 * negative SH_E* code (SH_EINVAL: the template failed or raised) and the message in err. */
int tmpl_render(const tmpl *t, const json_t *vars, const tmpl_opts *o, char **out, size_t *out_len,
		char *err, size_t errlen);

/* The chat render, as HF's apply_chat_template(messages, tools=tools, add_generation_prompt=...)
 * renders it: messages is a JSON array of {role, content, ...}, passed as given (a content that
 * is a list of parts stays a list; an assistant's tool_calls and a tool call's `arguments`, an
 * object or a JSON string, reach the template as they are: turning OpenAI's string arguments into
 * an object is the caller's choice). tools is NULL (the template sees None) or a JSON array of
 * tool objects, passed as given, so templates see OpenAI's {"type": "function", "function":
 * {name, description, parameters}}; a tools value that is not an array of objects is SH_EINVAL,
 * as HF rejects it. documents is None. bos/eos may be NULL (empty). */
int tmpl_render_chat(const tmpl *t, const json_t *messages, const json_t *tools, bool add_generation_prompt,
		     const char *bos, const char *eos, const tmpl_opts *o, char **out, size_t *out_len, char *err,
		     size_t errlen);
/* How a template's model writes tool calls, told by markers in the template's text and string
 * constants, for a template that reads `tools` (the first that applies):
 *   TMPL_TOOLS_MISTRAL    "[TOOL_CALLS]": that token, then a JSON array of {"name", "arguments"[, "id"]}
 *   TMPL_TOOLS_HERMES     "<tool_call>": <tool_call>{"name", "arguments"}</tool_call> (Hermes, Qwen2.5)
 *   TMPL_TOOLS_COMMAND_R  "Action:" and "```json": Action: then a ```json list of
 *                         {"tool_name", "parameters"} (Command-R+)
 *   TMPL_TOOLS_LLAMA3     "<|python_tag|>", or "<|start_header_id|>" and "\"parameters\"": a bare
 *                         {"name", "parameters"} object, <|python_tag|> for built-in tools (Llama 3.1-3.3)
 *   TMPL_TOOLS_NONE       none of these, or the template never reads `tools` */
typedef enum {
	TMPL_TOOLS_NONE,
	TMPL_TOOLS_HERMES,
	TMPL_TOOLS_LLAMA3,
	TMPL_TOOLS_MISTRAL,
	TMPL_TOOLS_COMMAND_R,
} tmpl_tools_family;
tmpl_tools_family tmpl_tools_family_of(const tmpl *t);

/* ---------------------------------------------------------------- built-ins and models */
/* Jinja source of a built-in template (chatml, llama2, llama3, mistral, gemma, phi3, qwen2), or
 * NULL; TMPL_BUILTIN_NAMES lists them for help texts. */
#define TMPL_BUILTIN_NAMES "chatml, llama2, llama3, mistral, gemma, phi3, qwen2"
const char *tmpl_builtin(const char *name);

/* A model's chat template and its special-token texts. */
typedef struct {
	tmpl *t;
	char *bos, *eos;       /* texts of tokenizer.ggml.{bos,eos}_token_id; "" when absent */
	char source[256];      /* where the template came from: "gguf", "builtin:NAME" or a path */
} tmpl_chat;

/* override: a built-in NAME or a template FILE; NULL uses g's tokenizer.chat_template, and a
 * model without one gets ChatML (with a warning). g may be NULL (no model: bos/eos empty).
 * Returns 0 or a negative SH_E* code with the message in err. */
int tmpl_chat_init(tmpl_chat *c, const gguf_ctx *g, const char *override, char *err, size_t errlen);
void tmpl_chat_free(tmpl_chat *c);

#endif
