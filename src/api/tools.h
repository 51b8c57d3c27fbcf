/*
 * tools.h - a model's generated text to OpenAI tool calls, in the format its chat template's family
 * writes them (tmpl_tools_family), whole or as it streams.
 *
 *   HERMES     <tool_call>{"name": N, "arguments": {...}}</tool_call>, any number, text around them
 *   LLAMA3     the whole reply one {"name": N, "parameters": {...}} object (or several separated by
 *              ";"), after an optional <|python_tag|>
 *   MISTRAL    [TOOL_CALLS] then a JSON array of {"name", "arguments"[, "id"]} (the control token may
 *              not reach the text: a reply that starts with [{ is read the same way)
 *   COMMAND_R  Action: ```json [{"tool_name": N, "parameters": {...}}] ```
 *   NONE       read as HERMES, the most common format of models whose template we do not know
 *   FORCED     (a required or named tool_choice: the reply was constrained to one
 *              {"name": N, "arguments": {...}} object) that object
 *
 * With max_calls set, calls past it are dropped (neither calls nor text). A call's arguments come
 * out as OpenAI's JSON string; each call gets an id "call_" + 24 hex digits
 * from the caller's random numbers. Text that looks like a call but does not parse stays text.
 *
 * Streaming: text is held back only while it may still become a call (the start of a marker, or a
 * reply whose first bytes open a JSON call), so ordinary replies stream as they come; a call is
 * given whole once its end is seen (one delta per call: OpenAI's deltas may carry the arguments in
 * any number of pieces, one is valid).
 */
#ifndef SHOAL_TOOLS_H
#define SHOAL_TOOLS_H

#include <jansson.h>

#include "serve/text.h"
#include "template/tmpl.h"

#define TOOLS_FORCED ((tmpl_tools_family)-1)

typedef struct {
	tmpl_tools_family f;
	text_buf all;            /* the reply so far */
	size_t shown;            /* bytes of it given out as text or read as calls */
	bool whole;              /* this reply is held to the end (LLAMA3, MISTRAL, COMMAND_R, FORCED) */
	bool decided;            /* whether to hold it is known */
	int n_calls;
	int max_calls;           /* calls kept at most (parallel_tool_calls false: 1); 0: any number */
	uint64_t (*rand)(void *ctx);
	void *rand_ctx;
} tools_stream;

void tools_stream_init(tools_stream *t, tmpl_tools_family f, uint64_t (*rand)(void *ctx), void *rand_ctx);
void tools_stream_free(tools_stream *t);
/* more of the reply: the text that can be shown now is appended to content, the calls complete
 * now to calls (a JSON array of OpenAI tool calls: {id, type: "function", function: {name,
 * arguments: string}}). SH_OK or SH_ENOMEM. */
int tools_stream_feed(tools_stream *t, const char *text, size_t len, text_buf *content, json_t *calls);
/* the reply ended: what is left, as text or calls */
int tools_stream_end(tools_stream *t, text_buf *content, json_t *calls);

#endif
