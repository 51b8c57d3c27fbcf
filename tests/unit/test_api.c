/*
 * test_api.c - the OpenAI request parser/validator and response shapes, without HTTP: defaults,
 * every parameter reaching the request struct, message normalization, and errors that name
 * their field.
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "api/openai.h"

static const api_limits lim = { .n_vocab = 512 };

static int parse(enum api_kind k, const char *body, api_request *r, api_error *e)
{
	return api_request_parse(k, body, strlen(body), &lim, r, e);
}

Test(api, chat_defaults_and_normalization)
{
	api_request r;
	api_error e;
	cr_assert_eq(parse(API_CHAT,
			   "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"S\"},"
			   "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}],\"name\":\"x\"},"
			   "{\"role\":\"assistant\",\"content\":null}],\"user\":\"u\",\"tools\":null}",
			   &r, &e),
		     0, "%s", e.message);
	cr_expect_str_eq(r.model, "m");
	cr_expect_eq(json_array_size(r.messages), 3u);
	char *s = json_dumps(r.messages, JSON_COMPACT);
	cr_expect_str_eq(s, "[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"a\\nb\"},"
			    "{\"role\":\"assistant\",\"content\":\"\"}]");
	free(s);
	sample_params d;
	sample_params_default(&d);
	cr_expect_eq(r.sp.sp.temp, d.temp);
	cr_expect_eq(r.sp.sp.top_k, d.top_k);
	cr_expect_eq(r.sp.max_tokens, 0);
	cr_expect(!r.stream && !r.include_usage && !r.has_seed && !r.sp.ignore_eos);
	cr_expect_eq(r.sp.n_stop, 0);
	api_request_free(&r);
}

Test(api, tool_calls_reach_the_template_as_objects)
{
	api_request r;
	api_error e;
	cr_assert_eq(parse(API_CHAT,
			   "{\"messages\":[{\"role\":\"user\",\"content\":\"w?\"},{\"role\":\"assistant\",\"content\":null,"
			   "\"tool_calls\":[{\"id\":\"abc123def\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
			   "\"arguments\":\"{\\\"location\\\":\\\"Paris\\\"}\"}}]},{\"role\":\"tool\",\"tool_call_id\":\"abc123def\","
			   "\"content\":\"sunny\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
			   "\"parameters\":{\"type\":\"object\"}}}],\"tool_choice\":\"auto\",\"parallel_tool_calls\":false}",
			   &r, &e),
		     0, "%s", e.message);
	char *s = json_dumps(r.messages, JSON_COMPACT | JSON_SORT_KEYS);
	cr_expect_str_eq(s, "[{\"content\":\"w?\",\"role\":\"user\"},{\"content\":\"\",\"role\":\"assistant\",\"tool_calls\":"
			    "[{\"function\":{\"arguments\":{\"location\":\"Paris\"},\"name\":\"get_weather\"},\"id\":\"abc123def\","
			    "\"type\":\"function\"}]},{\"content\":\"sunny\",\"role\":\"tool\",\"tool_call_id\":\"abc123def\"}]");
	free(s);
	cr_expect_eq(json_array_size(r.tools), 1u);
	cr_expect_eq(r.tool_choice, API_TOOLS_AUTO);
	cr_expect(!r.parallel_tool_calls);
	api_request_free(&r);
}

Test(api, unsupported_fields_are_named)
{
	api_request r;
	api_error e;
	static const char *bodies[][2] = {
		{ "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"unknown\":{\"deep\":[1,2]}}", "unknown" },
		{ "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"functions\":[]}", "functions" },
		{ "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"prompt\":\"p\"}", "prompt" },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(bodies); i++) {
		cr_expect_neq(parse(API_CHAT, bodies[i][0], &r, &e), 0, "%s", bodies[i][0]);
		cr_expect_eq(e.status, 400);
		cr_expect_str_eq(e.param, bodies[i][1]);
		cr_expect_str_eq(e.code, "unsupported_parameter");
		api_request_free(&r);
	}
	cr_expect_neq(parse(API_COMPLETION, "{\"prompt\":\"x\",\"messages\":[]}", &r, &e), 0);
	cr_expect_str_eq(e.param, "messages");
	api_request_free(&r);
	cr_expect_neq(parse(API_COMPLETION, "{\"prompt\":\"x\",\"echo\":true}", &r, &e), 0);
	cr_expect_str_eq(e.param, "echo");
	api_request_free(&r);
}

Test(api, every_parameter)
{
	api_request r;
	api_error e;
	cr_assert_eq(parse(API_COMPLETION,
			   "{\"prompt\":\"hi\",\"max_tokens\":7,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":5,\"min_p\":0.1,"
			   "\"seed\":-3,\"stop\":[\"a\",\"\",\"a\",\"bc\"],\"frequency_penalty\":0.5,\"presence_penalty\":-1,"
			   "\"n\":1,\"stream\":true,\"stream_options\":{\"include_usage\":true},\"ignore_eos\":true,"
			   "\"logprobs\":null,\"user\":\"u\"}",
			   &r, &e),
		     0, "%s", e.message);
	cr_expect_str_eq(r.prompt, "hi");
	cr_expect_eq(r.prompt_len, 2u);
	cr_expect_eq(r.sp.max_tokens, 7);
	cr_expect_float_eq(r.sp.sp.temp, 0.5f, 1e-6);
	cr_expect_float_eq(r.sp.sp.top_p, 0.9f, 1e-6);
	cr_expect_eq(r.sp.sp.top_k, 5);
	cr_expect_float_eq(r.sp.sp.min_p, 0.1f, 1e-6);
	cr_expect(r.has_seed);
	cr_expect_eq(r.sp.sp.seed, (uint64_t)-3);
	cr_expect_eq(r.sp.n_stop, 2, "empty and repeated stop strings dropped");
	cr_expect_str_eq(r.sp.stop[0], "a");
	cr_expect_str_eq(r.sp.stop[1], "bc");
	cr_expect_float_eq(r.sp.sp.freq_penalty, 0.5f, 1e-6);
	cr_expect_float_eq(r.sp.sp.presence_penalty, -1.0f, 1e-6);
	cr_expect(r.stream && r.include_usage && r.sp.ignore_eos);
	api_request_free(&r);

	/* max_completion_tokens wins; integral reals are integers; nulls are defaults */
	cr_assert_eq(parse(API_CHAT,
			   "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":9,"
			   "\"max_completion_tokens\":4.0,\"temperature\":null,\"stop\":\"END\",\"stream_options\":null}",
			   &r, &e),
		     0, "%s", e.message);
	cr_expect_eq(r.sp.max_tokens, 4);
	cr_expect_eq(r.sp.n_stop, 1);
	cr_expect_str_eq(r.sp.stop[0], "END");
	api_request_free(&r);
}

Test(api, token_prompts)
{
	api_request r;
	api_error e;
	cr_assert_eq(parse(API_COMPLETION, "{\"prompt\":[1,2,511]}", &r, &e), 0);
	cr_expect_eq(r.n_prompt_ids, 3);
	cr_expect_eq(r.prompt_ids[2], 511);
	cr_expect_null(r.prompt);
	api_request_free(&r);
	cr_assert_eq(parse(API_COMPLETION, "{\"prompt\":[[5,6]]}", &r, &e), 0);
	cr_expect_eq(r.n_prompt_ids, 2);
	api_request_free(&r);
	cr_assert_eq(parse(API_COMPLETION, "{\"prompt\":[\"text\"]}", &r, &e), 0);
	cr_expect_str_eq(r.prompt, "text");
	api_request_free(&r);
	cr_expect_neq(parse(API_COMPLETION, "{\"prompt\":[1,512]}", &r, &e), 0);
	cr_expect_str_eq(e.param, "prompt");
	api_request_free(&r);
	cr_expect_neq(parse(API_COMPLETION, "{\"prompt\":[1,\"a\"]}", &r, &e), 0);
	api_request_free(&r);
}

/* each body fails with status 400 and this param ("" = null) and code */
Test(api, errors_name_the_field)
{
	static const struct {
		enum api_kind k;
		const char *body, *param, *code;
	} cases[] = {
		{ API_CHAT, "", "", "invalid_json" },
		{ API_CHAT, "{", "", "invalid_json" },
		{ API_CHAT, "[1]", "", "invalid_json" },
		{ API_CHAT, "{\"messages\":\"\xff\"}", "", "invalid_encoding" },
		{ API_CHAT, "{}", "messages", "missing_required_parameter" },
		{ API_CHAT, "{\"messages\":[]}", "messages", "invalid_value" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content", "missing_required_parameter" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"function\",\"content\":\"x\"}]}", "messages[0].role", "invalid_value" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "messages[0].tool_call_id", "missing_required_parameter" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[]}]}", "messages[0].tool_calls",
		  "invalid_value" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"a\",\"type\":\"function\",\"function\":"
			    "{\"name\":\"f\",\"arguments\":\"[1]\"}}]}]}",
		  "messages[0].tool_calls[0]", "invalid_value" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":"
			    "{\"name\":\"bad name\"}}]}",
		  "tools[0]", "invalid_value" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tool_choice\":\"required\"}", "tool_choice",
		  "invalid_value" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":"
			    "{\"name\":\"f\"}}],\"tool_choice\":\"required\"}",
		  "tool_choice", "unsupported_value" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":"
			    "{\"name\":\"f\"}}],\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"g\"}}}",
		  "tool_choice", "invalid_value" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":1}]}]}",
		  "messages[0].content[0]", "invalid_type" },
		{ API_COMPLETION, "{\"prompt\":true}", "prompt", "invalid_type" },
		{ API_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":0}", "max_tokens", "invalid_value" },
		{ API_COMPLETION, "{\"prompt\":\"x\",\"max_tokens\":3000000000}", "max_tokens", "invalid_value" },
		{ API_COMPLETION, "{\"prompt\":\"x\",\"temperature\":-0.1}", "temperature", "invalid_value" },
		{ API_COMPLETION, "{\"prompt\":\"x\",\"top_k\":1.5}", "top_k", "invalid_type" },
		{ API_COMPLETION, "{\"prompt\":\"x\",\"seed\":1e300}", "seed", "invalid_type" },
		{ API_COMPLETION, "{\"prompt\":\"x\",\"n\":3}", "n", "invalid_value" },
		{ API_COMPLETION, "{\"prompt\":\"x\",\"stream\":1}", "stream", "invalid_type" },
		{ API_COMPLETION, "{\"prompt\":\"x\",\"stop\":{}}", "stop", "invalid_type" },
		{ API_COMPLETION, "{\"prompt\":\"x\",\"model\":[]}", "model", "invalid_type" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		api_request r;
		api_error e;
		cr_expect_neq(parse(cases[i].k, cases[i].body, &r, &e), 0, "case %zu accepted", i);
		cr_expect_eq(e.status, 400, "case %zu", i);
		cr_expect_str_eq(e.param, cases[i].param, "case %zu: %s", i, e.message);
		cr_expect_str_eq(e.code, cases[i].code, "case %zu: %s", i, e.message);
		cr_expect(strlen(e.message) > 10);
		if (cases[i].param[0]) {
			char field[32];
			snprintf(field, sizeof field, "%.*s", (int)strcspn(cases[i].param, "["), cases[i].param);
			cr_expect(strstr(e.message, field), "case %zu: '%s' does not name %s", i, e.message, field);
		}
		json_t *j = api_error_json(&e);
		cr_expect(json_is_string(json_object_get(json_object_get(j, "error"), "message")));
		cr_expect(json_is_string(json_object_get(json_object_get(j, "error"), "type")));
		json_decref(j);
		api_request_free(&r);
	}
}

Test(api, response_shapes)
{
	api_resp_meta m = { .kind = API_CHAT, .id = "chatcmpl-1", .created = 5, .model = "mod" };
	json_t *r = api_response(&m, "hi", 2, SCHED_FINISH_LENGTH, 3, 2, NULL);
	char *s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	cr_expect_str_eq(s, "{\"choices\":[{\"finish_reason\":\"length\",\"index\":0,\"logprobs\":null,\"message\":"
			    "{\"content\":\"hi\",\"role\":\"assistant\"}}],\"created\":5,\"id\":\"chatcmpl-1\",\"model\":\"mod\","
			    "\"object\":\"chat.completion\",\"usage\":{\"completion_tokens\":2,\"prompt_tokens\":3,\"total_tokens\":5}}");
	free(s);
	json_decref(r);
	r = api_chunk(&m, "x", 1, true, SCHED_RUNNING, true, NULL);
	s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	cr_expect_str_eq(s, "{\"choices\":[{\"delta\":{\"content\":\"x\",\"role\":\"assistant\"},\"finish_reason\":null,"
			    "\"index\":0,\"logprobs\":null}],\"created\":5,\"id\":\"chatcmpl-1\",\"model\":\"mod\","
			    "\"object\":\"chat.completion.chunk\",\"usage\":null}");
	free(s);
	json_decref(r);
	m.kind = API_COMPLETION;
	r = api_chunk(&m, NULL, 0, false, SCHED_FINISH_STOP, false, NULL);
	s = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
	cr_expect_str_eq(s, "{\"choices\":[{\"finish_reason\":\"stop\",\"index\":0,\"logprobs\":null,\"text\":\"\"}],"
			    "\"created\":5,\"id\":\"chatcmpl-1\",\"model\":\"mod\",\"object\":\"text_completion\"}");
	free(s);
	json_decref(r);
	r = api_usage_chunk(&m, 1, 2);
	cr_expect_eq(json_array_size(json_object_get(r, "choices")), 0u);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(r, "usage"), "total_tokens")), 3);
	json_decref(r);
}
