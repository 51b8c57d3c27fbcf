/*
 * test_tools.c - tool calls out of model text (api/tools.h) for every family: whole, and fed a byte
 * at a time (the same calls, the same text, no part of a call ever shown as text), and text that
 * only looks like a call staying text.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "api/tools.h"

static uint64_t counter(void *ctx)
{
	return ++*(uint64_t *)ctx;
}

typedef struct {
	char *content;
	json_t *calls;
} result;

/* the reply fed in pieces of step bytes (0: whole), then ended */
static result run(tmpl_tools_family f, const char *text, size_t step)
{
	uint64_t n = 0;
	tools_stream t;
	tools_stream_init(&t, f, counter, &n);
	text_buf content = { 0 };
	result r = { .calls = json_array() };
	size_t len = strlen(text);
	for (size_t i = 0; step && i < len; i += step) {
		size_t before = content.len;
		cr_assert_eq(tools_stream_feed(&t, text + i, i + step > len ? len - i : step, &content, r.calls), SH_OK);
		/* what is shown is never taken back, and never the inside of a call */
		cr_assert_leq(before, content.len);
	}
	if (!step)
		cr_assert_eq(tools_stream_feed(&t, text, len, &content, r.calls), SH_OK);
	cr_assert_eq(tools_stream_end(&t, &content, r.calls), SH_OK);
	r.content = strndup(content.p ? content.p : "", content.len);
	text_buf_free(&content);
	tools_stream_free(&t);
	return r;
}

static void expect(tmpl_tools_family f, const char *text, const char *content, const char *calls)
{
	for (size_t step = 0; step <= 3; step++) {
		result r = run(f, text, step);
		cr_expect_str_eq(r.content, content, "%s (step %zu)", text, step);
		json_t *want = json_loads(calls, 0, NULL);
		cr_assert(want, "bad expectation %s", calls);
		cr_expect_eq(json_array_size(r.calls), json_array_size(want), "%s (step %zu)", text, step);
		for (size_t i = 0; i < json_array_size(want) && i < json_array_size(r.calls); i++) {
			json_t *c = json_array_get(r.calls, i), *w = json_array_get(want, i);
			cr_expect_str_eq(json_string_value(json_object_get(json_object_get(c, "function"), "name")),
					 json_string_value(json_object_get(w, "name")));
			json_t *args = json_loads(json_string_value(json_object_get(json_object_get(c, "function"), "arguments")), 0,
						  NULL);
			cr_expect(json_equal(args, json_object_get(w, "arguments")), "%s: arguments", text);
			cr_expect_str_eq(json_string_value(json_object_get(c, "type")), "function");
			cr_expect_eq(strlen(json_string_value(json_object_get(c, "id"))), 29u);
			json_decref(args);
		}
		json_decref(want);
		json_decref(r.calls);
		free(r.content);
	}
}

Test(tools, hermes)
{
	expect(TMPL_TOOLS_HERMES, "Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}\n</tool_call>",
	       "Let me look.\n", "[{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}}]");
	expect(TMPL_TOOLS_HERMES,
	       "<tool_call>{\"name\":\"a\",\"arguments\":{}}</tool_call>\n<tool_call>{\"name\":\"b\",\"arguments\":{\"x\":[1,2]}}</tool_call>",
	       "\n", "[{\"name\":\"a\",\"arguments\":{}}, {\"name\":\"b\",\"arguments\":{\"x\":[1,2]}}]");
	/* arguments as a JSON string, an unclosed last call */
	expect(TMPL_TOOLS_HERMES, "<tool_call>{\"name\":\"a\",\"arguments\":\"{\\\"k\\\":1}\"}", "",
	       "[{\"name\":\"a\",\"arguments\":{\"k\":1}}]");
	/* not calls: stays text */
	expect(TMPL_TOOLS_HERMES, "a < b and <tool_call>not json</tool_call> done", "a < b and <tool_call>not json</tool_call> done",
	       "[]");
	expect(TMPL_TOOLS_HERMES, "<tool_call>{\"arguments\":{}}</tool_call>", "<tool_call>{\"arguments\":{}}</tool_call>", "[]");
	expect(TMPL_TOOLS_NONE, "plain <tool_ text", "plain <tool_ text", "[]");
}

Test(tools, llama3)
{
	expect(TMPL_TOOLS_LLAMA3, "{\"name\": \"get_time\", \"parameters\": {\"timezone\": \"UTC\"}}", "",
	       "[{\"name\": \"get_time\", \"arguments\": {\"timezone\": \"UTC\"}}]");
	expect(TMPL_TOOLS_LLAMA3, "<|python_tag|>{\"name\": \"f\", \"parameters\": {}}", "", "[{\"name\": \"f\", \"arguments\": {}}]");
	expect(TMPL_TOOLS_LLAMA3, " {\"name\": \"f\", \"parameters\": {\"a\": 1}}; {\"name\": \"g\", \"parameters\": {}}", "",
	       "[{\"name\": \"f\", \"arguments\": {\"a\": 1}}, {\"name\": \"g\", \"arguments\": {}}]");
	expect(TMPL_TOOLS_LLAMA3, "{\"a\": 1}", "{\"a\": 1}", "[]");
	expect(TMPL_TOOLS_LLAMA3, "Hello {name}", "Hello {name}", "[]");
}

Test(tools, llama3_streams_text_at_once)
{
	uint64_t n = 0;
	tools_stream t;
	tools_stream_init(&t, TMPL_TOOLS_LLAMA3, counter, &n);
	text_buf content = { 0 };
	json_t *calls = json_array();
	cr_assert_eq(tools_stream_feed(&t, "Hi", 2, &content, calls), SH_OK);
	cr_expect_eq(content.len, 2u, "a reply that cannot be a call is shown as it comes");
	tools_stream_free(&t);
	text_buf_free(&content);
	tools_stream_init(&t, TMPL_TOOLS_LLAMA3, counter, &n);
	cr_assert_eq(tools_stream_feed(&t, "{\"name\"", 7, &content, calls), SH_OK);
	cr_expect_eq(content.len, 0u, "one that may be a call is held");
	tools_stream_free(&t);
	text_buf_free(&content);
	json_decref(calls);
}

Test(tools, mistral)
{
	expect(TMPL_TOOLS_MISTRAL, "[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {\"a\": \"b\"}, \"id\": \"abc123def\"}]", "",
	       "[{\"name\": \"f\", \"arguments\": {\"a\": \"b\"}}]");
	expect(TMPL_TOOLS_MISTRAL, " [ {\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", \"arguments\": {}}]", "",
	       "[{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", \"arguments\": {}}]");
	expect(TMPL_TOOLS_MISTRAL, "[1, 2]", "[1, 2]", "[]");
	expect(TMPL_TOOLS_MISTRAL, "[Note] fine", "[Note] fine", "[]");
}

Test(tools, command_r)
{
	expect(TMPL_TOOLS_COMMAND_R, "Action: ```json\n[\n {\"tool_name\": \"f\", \"parameters\": {\"q\": \"x\"}}\n]\n```", "",
	       "[{\"name\": \"f\", \"arguments\": {\"q\": \"x\"}}]");
	expect(TMPL_TOOLS_COMMAND_R, "Answer: 42", "Answer: 42", "[]");
}

Test(tools, forced)
{
	expect(TOOLS_FORCED, "{\"name\": \"f\", \"arguments\": {\"n\": 3}}", "", "[{\"name\": \"f\", \"arguments\": {\"n\": 3}}]");
	expect(TOOLS_FORCED, "{\"name\": \"f\", \"arguments\": {\"n\"", "{\"name\": \"f\", \"arguments\": {\"n\"", "[]");
}
