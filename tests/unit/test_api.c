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
		{ API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_schema\","
			    "\"json_schema\":{\"name\":\"n\",\"schema\":{\"type\":\"object\",\"patternProperties\":{}}}}}",
		  "response_format.json_schema.schema", "invalid_value" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"yaml\"}}",
		  "response_format.type", "invalid_value" },
		{ API_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\",\"function\":"
			    "{\"name\":\"f\"}}],\"tool_choice\":\"required\",\"response_format\":{\"type\":\"json_object\"}}",
		  "response_format", "invalid_value" },
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

/* ---------------------------------------------------------------- Ollama (ollama.h) */
#include "api/anthropic.h"
#include "api/ollama.h"

static int oparse(enum api_kind k, const char *body, unsigned accept, api_request *r, api_error *e, ollama_extra *x)
{
	return ollama_request_parse(k, body, strlen(body), &lim, accept, r, e, x);
}

static char *dumps(const json_t *j)
{
	return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

Test(ollama, chat_options_reach_the_request)
{
	api_request r;
	api_error e;
	ollama_extra x;
	cr_assert_eq(oparse(API_CHAT,
			    "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\","
			    "\"content\":\"hi\",\"images\":null},{\"role\":\"assistant\"}],\"keep_alive\":\"5m\",\"options\":"
			    "{\"temperature\":0.5,\"top_p\":0.9,\"top_k\":7,\"min_p\":0.1,\"num_predict\":12,\"stop\":[\"a\",\"bc\"],"
			    "\"seed\":42,\"repeat_penalty\":1.1,\"presence_penalty\":0.5,\"frequency_penalty\":-0.5,"
			    "\"repeat_last_n\":-1,\"num_ctx\":1024,\"num_thread\":4,\"num_gpu\":-1,\"use_mmap\":true,"
			    "\"typical_p\":1,\"mirostat\":0,\"num_keep\":4,\"num_batch\":512,\"numa\":false,\"main_gpu\":0}}",
			    0, &r, &e, &x),
		     0, "%s", e.message);
	cr_expect_str_eq(r.model, "m");
	cr_expect(r.stream, "Ollama streams by default");
	cr_expect(!x.load_only);
	cr_expect_eq(x.num_ctx, 1024);
	char *s = dumps(r.messages);
	cr_expect_str_eq(s, "[{\"content\":\"S\",\"role\":\"system\"},{\"content\":\"hi\",\"role\":\"user\"},"
			    "{\"content\":\"\",\"role\":\"assistant\"}]");
	free(s);
	cr_expect_float_eq(r.sp.sp.temp, 0.5f, 1e-6);
	cr_expect_float_eq(r.sp.sp.top_p, 0.9f, 1e-6);
	cr_expect_eq(r.sp.sp.top_k, 7);
	cr_expect_float_eq(r.sp.sp.min_p, 0.1f, 1e-6);
	cr_expect_eq(r.sp.max_tokens, 12);
	cr_expect_eq(r.sp.n_stop, 2);
	cr_expect_str_eq(r.sp.stop[1], "bc");
	cr_expect(r.has_seed);
	cr_expect_eq(r.sp.sp.seed, 42u);
	cr_expect_float_eq(r.sp.sp.repeat_penalty, 1.1f, 1e-6);
	cr_expect_float_eq(r.sp.sp.presence_penalty, 0.5f, 1e-6);
	cr_expect_float_eq(r.sp.sp.freq_penalty, -0.5f, 1e-6);
	cr_expect_eq(r.sp.sp.penalty_last_n, -1);
	api_request_free(&r);
	/* -1: Ollama's unlimited and random seed; stream false; the server's defaults */
	cr_assert_eq(oparse(API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":false,"
				      "\"options\":{\"num_predict\":-1,\"seed\":-1,\"stop\":\"z\"}}",
			    0, &r, &e, &x),
		     0, "%s", e.message);
	sample_params d;
	sample_params_default(&d);
	cr_expect(!r.stream && !r.has_seed && r.sp.max_tokens == 0 && r.sp.n_stop == 1);
	cr_expect_eq(r.sp.sp.temp, d.temp);
	cr_expect_eq(r.sp.sp.top_k, d.top_k);
	api_request_free(&r);
	/* no messages: Ollama "loads" the model */
	cr_assert_eq(oparse(API_CHAT, "{\"model\":\"m\",\"messages\":[]}", 0, &r, &e, &x), 0, "%s", e.message);
	cr_expect(x.load_only && !r.messages);
	api_request_free(&r);
	cr_expect_neq(api_ollama.parse(API_CHAT, "{\"model\":\"m\"}", 13, &lim, &r, &e), 0, "the dialect wants messages");
	cr_expect_str_eq(e.param, "messages");
	api_request_free(&r);
}

Test(ollama, generate_renders_or_takes_the_prompt_raw)
{
	api_request r;
	api_error e;
	ollama_extra x;
	/* what Go clients send for fields they leave out */
	cr_assert_eq(oparse(API_COMPLETION,
			    "{\"model\":\"m\",\"prompt\":\"Tell\",\"system\":\"Be brief\",\"suffix\":\"\",\"template\":\"\","
			    "\"context\":null,\"images\":null,\"options\":null,\"format\":\"\",\"keep_alive\":300}",
			    0, &r, &e, &x),
		     0, "%s", e.message);
	cr_expect_eq(r.kind, API_CHAT, "rendered with the chat template");
	char *s = dumps(r.messages);
	cr_expect_str_eq(s, "[{\"content\":\"Be brief\",\"role\":\"system\"},{\"content\":\"Tell\",\"role\":\"user\"}]");
	free(s);
	api_request_free(&r);
	cr_assert_eq(oparse(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"Zoo\",\"raw\":true}", 0, &r, &e, &x), 0, "%s",
		     e.message);
	cr_expect_eq(r.kind, API_COMPLETION);
	cr_expect_str_eq(r.prompt, "Zoo");
	cr_expect_eq(r.prompt_len, 3u);
	cr_expect(!r.messages);
	api_request_free(&r);
	cr_assert_eq(oparse(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"\"}", 0, &r, &e, &x), 0);
	cr_expect(x.load_only);
	api_request_free(&r);
	cr_expect_neq(oparse(API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"a\",\"raw\":true,\"system\":\"s\"}", 0, &r, &e, &x),
		      0);
	cr_expect_str_eq(e.param, "system");
	api_request_free(&r);
}

Test(ollama, format_waits_for_structured_output)
{
	api_request r;
	api_error e;
	ollama_extra x;
	const char *json = "{\"model\":\"m\",\"prompt\":\"p\",\"format\":\"json\"}";
	const char *schema = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"format\":{\"type\":"
			     "\"object\"}}";
	cr_expect_neq(oparse(API_COMPLETION, json, 0, &r, &e, &x), 0);
	cr_expect_str_eq(e.param, "format");
	cr_expect(strstr(e.message, "not supported yet"));
	api_request_free(&r);
	cr_assert_eq(oparse(API_COMPLETION, json, OLLAMA_ACCEPT_FORMAT, &r, &e, &x), 0, "%s", e.message);
	cr_expect_eq(r.format, API_FORMAT_JSON);
	api_request_free(&r);
	cr_assert_eq(oparse(API_CHAT, schema, OLLAMA_ACCEPT_FORMAT, &r, &e, &x), 0, "%s", e.message);
	cr_expect_eq(r.format, API_FORMAT_SCHEMA);
	cr_expect(json_is_object(r.schema));
	api_request_free(&r);
	cr_expect_neq(oparse(API_CHAT, "{\"model\":\"m\",\"format\":\"yaml\"}", OLLAMA_ACCEPT_FORMAT, &r, &e, &x), 0);
	api_request_free(&r);
}

Test(ollama, tools_and_tool_messages)
{
	api_request r;
	api_error e;
	ollama_extra x;
	cr_assert_eq(oparse(API_CHAT,
			    "{\"model\":\"m\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
			    "\"parameters\":{\"type\":\"object\"}}},{\"type\":\"function\",\"function\":{\"name\":\"get_time\"}}],"
			    "\"messages\":[{\"role\":\"user\",\"content\":\"w?\"},{\"role\":\"assistant\",\"content\":\"\","
			    "\"tool_calls\":[{\"function\":{\"name\":\"get_time\",\"arguments\":{}}},{\"function\":{\"name\":"
			    "\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}}]},{\"role\":\"tool\",\"tool_name\":"
			    "\"get_weather\",\"content\":\"sunny\"},{\"role\":\"tool\",\"content\":\"noon\"}]}",
			    0, &r, &e, &x),
		     0, "%s", e.message);
	cr_expect_eq(json_array_size(r.tools), 2u);
	cr_expect(r.parallel_tool_calls);
	char *s = dumps(r.messages);
	cr_expect_str_eq(s, "[{\"content\":\"w?\",\"role\":\"user\"},{\"content\":\"\",\"role\":\"assistant\",\"tool_calls\":"
			    "[{\"function\":{\"arguments\":{},\"name\":\"get_time\"},\"id\":\"call_1_0\",\"type\":\"function\"},"
			    "{\"function\":{\"arguments\":{\"city\":\"Paris\"},\"name\":\"get_weather\"},\"id\":\"call_1_1\","
			    "\"type\":\"function\"}]},{\"content\":\"sunny\",\"role\":\"tool\",\"tool_call_id\":\"call_1_1\"},"
			    "{\"content\":\"noon\",\"role\":\"tool\",\"tool_call_id\":\"call_1_0\"}]");
	free(s);
	api_request_free(&r);
	static const char *bad[][2] = {
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "messages[0]" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"tool_calls\":[{}]}]}",
		  "messages[0].tool_calls" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"a b\","
		  "\"arguments\":{}}}]}]}",
		  "messages[0].tool_calls[0]" },
		{ "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"tool_calls\":[{\"function\":{\"name\":\"f\","
		  "\"arguments\":[1]}}]}]}",
		  "messages[0].tool_calls[0]" },
		{ "{\"model\":\"m\",\"tools\":[{\"type\":\"retrieval\"}],\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
		  "tools[0]" },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
		cr_expect_neq(oparse(API_CHAT, bad[i][0], 0, &r, &e, &x), 0, "%s", bad[i][0]);
		cr_expect_str_eq(e.param, bad[i][1], "%s: %s", bad[i][0], e.message);
		api_request_free(&r);
	}
}

Test(ollama, errors_name_the_field)
{
	static const struct {
		enum api_kind k;
		const char *body, *param;
	} cases[] = {
		{ API_CHAT, "{\"messages\":[]}", "model" },
		{ API_CHAT, "{\"model\":5,\"messages\":[]}", "model" },
		{ API_CHAT, "{\"model\":\"m\",\"messages\":[],\"prompt\":\"x\"}", "prompt" },
		{ API_COMPLETION, "{\"model\":\"m\",\"messages\":[]}", "messages" },
		{ API_CHAT, "{\"model\":\"m\",\"messages\":{}}", "messages" },
		{ API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0].role" },
		{ API_CHAT, "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", "messages[0].role" },
		{ API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[]}]}", "messages[0].content" },
		{ API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"name\":\"n\"}]}",
		  "messages[0].name" },
		{ API_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[\"aGk=\"]}]}",
		  "messages[0].images" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"mirostat_eta\":\"x\"}}", "options.mirostat_eta" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"tfs_z\":0.5}}", "options.tfs_z" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"reasoning_effort\":\"low\"}}", "options.reasoning_effort" },
		{ API_CHAT, "{\"model\":\"m\",\"num_predict\":-3}", "num_predict" },
		{ API_CHAT, "{\"model\":\"m\",\"system\":1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "system" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"mirostat\":2}}", "options.mirostat" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"typical_p\":0.5}}", "options.typical_p" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"temperature\":3}}", "options.temperature" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"temperature\":\"hot\"}}", "options.temperature" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"num_predict\":-3}}", "options.num_predict" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"num_predict\":1.5}}", "options.num_predict" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"stop\":[1]}}", "options.stop[0]" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"stop\":[\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\",\"\","
			    "\"\",\"\",\"\",\"\",\"\",\"\"]}}",
		  "options.stop" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":{\"use_mmap\":1}}", "options.use_mmap" },
		{ API_CHAT, "{\"model\":\"m\",\"options\":[]}", "options" },
		{ API_CHAT, "{\"model\":\"m\",\"think\":true}", "think" },
		{ API_CHAT, "{\"model\":\"m\",\"think\":\"high\"}", "think" },
		{ API_CHAT, "{\"model\":\"m\",\"truncate\":true}", "truncate" },
		{ API_CHAT, "{\"model\":\"m\",\"shift\":true}", "shift" },
		{ API_CHAT, "{\"model\":\"m\",\"top_logprobs\":2}", "top_logprobs" },
		{ API_CHAT, "{\"model\":\"m\",\"logprobs\":true,\"top_logprobs\":21}", "top_logprobs" },
		{ API_CHAT, "{\"model\":\"m\",\"stream\":\"yes\"}", "stream" },
		{ API_CHAT, "{\"model\":\"m\",\"keep_alive\":{}}", "keep_alive" },
		{ API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"suffix\":\"y\"}", "suffix" },
		{ API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"template\":\"{{ .Prompt }}\"}", "template" },
		{ API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"context\":[1,2]}", "context" },
		{ API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"images\":[\"aGk=\"]}", "images" },
		{ API_COMPLETION, "{\"model\":\"m\",\"prompt\":7}", "prompt" },
		{ API_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"tools\":[]}", "tools" },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
		api_request r;
		api_error e;
		ollama_extra x;
		cr_expect_neq(oparse(cases[i].k, cases[i].body, 0, &r, &e, &x), 0, "%s", cases[i].body);
		cr_expect_eq(e.status, 400);
		cr_expect_str_eq(e.param, cases[i].param, "%s: %s", cases[i].body, e.message);
		cr_expect(text_utf8_valid(e.message, strlen(e.message)) && e.message[0]);
		api_request_free(&r);
	}
	for (const char *const *b = (const char *const[]){ "", "{", "[]", "\"x\"", "{\"model\":\"m\"} x", NULL }; *b; b++) {
		api_request r;
		api_error e;
		ollama_extra x;
		cr_expect_neq(oparse(API_CHAT, *b, 0, &r, &e, &x), 0, "%s", *b);
		cr_expect_eq(e.status, 400);
		api_request_free(&r);
	}
}

Test(ollama, model_names_and_precheck)
{
	cr_expect(ollama_model_is("stories260K", "stories260K"));
	cr_expect(ollama_model_is("stories260K", "stories260K:latest"));
	cr_expect(ollama_model_is("org/repo:Q4_K_M", "hf.co/org/repo:Q4_K_M"));
	cr_expect(ollama_model_is("hf.co/org/repo:Q8_0", "org/repo:Q8_0"));
	cr_expect(!ollama_model_is("stories260K", "stories"));
	cr_expect(!ollama_model_is("stories260K", "stories260K:7b"));
	cr_expect(!ollama_model_is("org/repo:Q4_K_M", "org/repo:Q8_0"));
	const ollama_served s = { .id = "stories260K", .n_ctx = 512, .n_layers = 5, .n_vocab = 512 };
	api_error e;
	json_t *a;
#define PRE(k, body) ollama_precheck(k, body, strlen(body), &lim, &s, &e, &a)
	cr_expect_eq(PRE(API_CHAT, "{\"model\":\"llama3\",\"messages\":[]}"), -1);
	cr_expect_eq(e.status, 404);
	cr_expect(strstr(e.message, "model 'llama3' not found") == e.message, "%s", e.message);
	cr_expect_eq(PRE(API_CHAT, "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
				   "\"options\":{\"num_ctx\":4096}}"),
		     -1);
	cr_expect_eq(e.status, 400);
	cr_expect_str_eq(e.param, "options.num_ctx");
	cr_expect_eq(PRE(API_CHAT, "{\"model\":\"stories260K\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
				   "\"options\":{\"num_ctx\":512}}"),
		     0);
	cr_expect_eq(PRE(API_CHAT, "{\"model\":\"stories260K\",\"bogus\":1}"), 0, "the parse reports it");
	cr_expect_eq(PRE(API_CHAT, "not json"), 0);
	cr_assert_eq(PRE(API_COMPLETION, "{\"model\":\"stories260K:latest\"}"), 1);
	cr_expect_str_eq(json_string_value(json_object_get(a, "done_reason")), "load");
	cr_expect(json_is_true(json_object_get(a, "done")));
	cr_expect_str_eq(json_string_value(json_object_get(a, "response")), "");
	json_decref(a);
	cr_assert_eq(PRE(API_CHAT, "{\"model\":\"stories260K\"}"), 1);
	cr_expect(json_is_object(json_object_get(a, "message")));
	json_decref(a);
#undef PRE
}

Test(ollama, answer_shapes)
{
	api_resp_meta m = { .kind = API_CHAT, .id = "chatcmpl-1", .created = 5, .model = "mod" };
	text_buf out = { 0 };
	cr_assert_eq(api_ollama.stream_start(&m, &out), 0);
	cr_expect_eq(out.len, 0u, "no first line");
	cr_assert_eq(api_ollama.stream_text(&m, "he", 2, NULL, &out), 0);
	cr_assert(out.len && out.p[out.len - 1] == '\n');
	json_error_t je;
	json_t *j = json_loadb(out.p, out.len, 0, &je);
	cr_assert(j, "%s", je.text);
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "message"), "content")), "he");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "message"), "role")), "assistant");
	cr_expect(json_is_false(json_object_get(j, "done")));
	const char *at = json_string_value(json_object_get(j, "created_at"));
	cr_expect(at && strlen(at) == 30 && at[10] == 'T' && at[29] == 'Z', "%s", at ? at : "");
	json_decref(j);
	out.len = 0;
	api_done d = { .finish = SCHED_FINISH_LENGTH, .n_prompt = 3, .n_gen = 2, .t_submit = sh_time_sec() - 2,
		       .t_first = sh_time_sec() - 1, .t_last = sh_time_sec() - 0.5 };
	cr_assert_eq(api_ollama.stream_end(&m, &d, &out), 0);
	j = json_loadb(out.p, out.len, 0, &je);
	cr_assert(j, "%s", je.text);
	cr_expect(json_is_true(json_object_get(j, "done")));
	cr_expect_str_eq(json_string_value(json_object_get(j, "done_reason")), "length");
	cr_expect_eq(json_integer_value(json_object_get(j, "prompt_eval_count")), 3);
	cr_expect_eq(json_integer_value(json_object_get(j, "eval_count")), 2);
	json_int_t total = json_integer_value(json_object_get(j, "total_duration"));
	json_int_t eval = json_integer_value(json_object_get(j, "eval_duration"));
	cr_expect(total >= 1900000000 && total < 3000000000, "nanoseconds: %lld", (long long)total);
	cr_expect(eval >= 400000000 && eval <= 600000000, "%lld", (long long)eval);
	cr_expect(json_is_integer(json_object_get(j, "load_duration")));
	cr_expect(json_is_integer(json_object_get(j, "prompt_eval_duration")));
	json_decref(j);
	/* calls: Ollama's arguments are objects */
	json_t *calls = json_loads("[{\"id\":\"call_ab\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
				   "\"{\\\"a\\\":1}\"}}]",
				   0, &je);
	out.len = 0;
	cr_assert_eq(api_ollama.stream_calls(&m, calls, 0, &out), 0);
	j = json_loadb(out.p, out.len, 0, &je);
	char *s = dumps(json_object_get(json_object_get(j, "message"), "tool_calls"));
	cr_expect_str_eq(s, "[{\"function\":{\"arguments\":{\"a\":1},\"index\":0,\"name\":\"f\"},\"id\":\"call_ab\"}]");
	free(s);
	json_decref(j);
	d.text = "hi";
	d.len = 2;
	d.finish = SCHED_FINISH_STOP;
	d.calls = calls;
	j = api_ollama.response(&m, &d, NULL);
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "message"), "content")), "hi");
	cr_expect_eq(json_array_size(json_object_get(json_object_get(j, "message"), "tool_calls")), 1u);
	cr_expect_str_eq(json_string_value(json_object_get(j, "done_reason")), "stop");
	json_decref(j);
	json_decref(calls);
	m.kind = API_COMPLETION;
	d.calls = NULL;
	j = api_ollama.response(&m, &d, NULL);
	cr_expect_str_eq(json_string_value(json_object_get(j, "response")), "hi");
	cr_expect(!json_object_get(j, "message"));
	json_decref(j);
	api_error e;
	api_error_set(&e, 404, "not_found_error", NULL, NULL, "model 'x' not found");
	j = api_ollama.error_json(&e);
	s = dumps(j);
	cr_expect_str_eq(s, "{\"error\":\"model 'x' not found\"}");
	free(s);
	json_decref(j);
	text_buf_free(&out);
}

Test(ollama, listings_of_the_model_served)
{
	const ollama_served s = { .id = "stories260K", .n_ctx = 512, .n_layers = 5, .n_vocab = 512, .created = 86400 };
	hub_cache hc = { .root = "/nonexistent" };
	json_t *j = ollama_tags(&s, &hc, NULL, 0);
	json_t *m0 = json_array_get(json_object_get(j, "models"), 0);
	cr_expect_eq(json_array_size(json_object_get(j, "models")), 1u);
	cr_expect_str_eq(json_string_value(json_object_get(m0, "name")), "stories260K");
	cr_expect_str_eq(json_string_value(json_object_get(m0, "model")), "stories260K");
	cr_expect_str_eq(json_string_value(json_object_get(m0, "modified_at")), "1970-01-02T00:00:00Z");
	cr_expect_eq(strlen(json_string_value(json_object_get(m0, "digest"))), 64u);
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(m0, "details"), "format")), "gguf");
	json_decref(j);
	j = ollama_ps(&s, &hc, NULL, 0);
	m0 = json_array_get(json_object_get(j, "models"), 0);
	cr_expect_eq(json_integer_value(json_object_get(m0, "context_length")), 512);
	cr_expect(json_is_string(json_object_get(m0, "expires_at")));
	json_decref(j);
	api_error e;
	const char *body = "{\"model\":\"stories260K:latest\"}";
	j = ollama_show(&s, &hc, NULL, 0, body, strlen(body), &e);
	cr_assert(j, "%s", e.message);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "model_info"), "shoal.context_length")), 512);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "model_info"), "shoal.block_count")), 5);
	cr_expect(strstr(json_string_value(json_object_get(j, "modelfile")), "FROM stories260K"));
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(j, "capabilities"), 0)), "completion");
	json_decref(j);
	body = "{\"name\":\"llama3\"}";
	cr_expect(!ollama_show(&s, &hc, NULL, 0, body, strlen(body), &e));
	cr_expect_eq(e.status, 404);
	cr_expect(!ollama_show(&s, &hc, NULL, 0, "[]", 2, &e));
	cr_expect_eq(e.status, 400);
	j = ollama_version();
	cr_expect_str_eq(json_string_value(json_object_get(j, "version")), OLLAMA_VERSION);
	json_decref(j);
}

/* ---------------------------------------------------------------- Anthropic (anthropic.h) */
static int aparse(const char *body, api_request *r, api_error *e)
{
	return anthropic_request_parse(body, strlen(body), &lim, 0, r, e);
}

Test(anthropic, request_to_messages)
{
	api_request r;
	api_error e;
	cr_assert_eq(aparse("{\"model\":\"claude\",\"max_tokens\":20,\"system\":[{\"type\":\"text\",\"text\":\"Be\"},"
			    "{\"type\":\"text\",\"text\":\"kind\",\"cache_control\":{\"type\":\"ephemeral\"}}],\"messages\":"
			    "[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
			    "\"text\":\"Hello\"}]},{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":"
			    "\"text\",\"text\":\"b\",\"citations\":null}]}],\"stop_sequences\":[\"x\",\"yz\"],\"temperature\":0.5,"
			    "\"top_p\":0.9,\"top_k\":5,\"stream\":true,\"metadata\":{\"user_id\":\"u\"},\"service_tier\":\"auto\","
			    "\"thinking\":{\"type\":\"disabled\"},\"tools\":[],\"tool_choice\":{\"type\":\"none\"}}",
			    &r, &e),
		     0, "%s", e.message);
	cr_expect_eq(r.kind, API_CHAT);
	cr_expect_str_eq(r.model, "claude");
	cr_expect_eq(r.sp.max_tokens, 20);
	cr_expect(r.stream);
	char *s = dumps(r.messages);
	cr_expect_str_eq(s, "[{\"content\":\"Be\\nkind\",\"role\":\"system\"},{\"content\":\"Hi\",\"role\":\"user\"},"
			    "{\"content\":\"Hello\",\"role\":\"assistant\"},{\"content\":\"a\\nb\",\"role\":\"user\"}]");
	free(s);
	cr_expect_eq(r.sp.n_stop, 2);
	cr_expect_str_eq(r.sp.stop[1], "yz");
	cr_expect_float_eq(r.sp.sp.temp, 0.5f, 1e-6);
	cr_expect_float_eq(r.sp.sp.top_p, 0.9f, 1e-6);
	cr_expect_eq(r.sp.sp.top_k, 5);
	cr_expect(!r.tools);
	cr_expect_eq(r.tool_choice, API_TOOLS_NONE);
	api_request_free(&r);
}

Test(anthropic, tools_and_tool_blocks)
{
	api_request r;
	api_error e;
	cr_assert_eq(aparse("{\"model\":\"c\",\"max_tokens\":5,\"tools\":[{\"name\":\"get_weather\",\"description\":\"W\","
			    "\"input_schema\":{\"type\":\"object\"}}],\"tool_choice\":{\"type\":\"auto\","
			    "\"disable_parallel_tool_use\":true},\"messages\":[{\"role\":\"user\",\"content\":\"w?\"},"
			    "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Let me see.\"},{\"type\":"
			    "\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}]},"
			    "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\",\"content\":"
			    "[{\"type\":\"text\",\"text\":\"sunny\"}]},{\"type\":\"text\",\"text\":\"thanks\"}]}]}",
			    &r, &e),
		     0, "%s", e.message);
	char *s = dumps(r.tools);
	cr_expect_str_eq(s, "[{\"function\":{\"description\":\"W\",\"name\":\"get_weather\",\"parameters\":{\"type\":"
			    "\"object\"}},\"type\":\"function\"}]");
	free(s);
	cr_expect_eq(r.tool_choice, API_TOOLS_AUTO);
	cr_expect(!r.parallel_tool_calls);
	s = dumps(r.messages);
	cr_expect_str_eq(s, "[{\"content\":\"w?\",\"role\":\"user\"},{\"content\":\"Let me see.\",\"role\":\"assistant\","
			    "\"tool_calls\":[{\"function\":{\"arguments\":{\"city\":\"Paris\"},\"name\":\"get_weather\"},\"id\":"
			    "\"toolu_1\",\"type\":\"function\"}]},{\"content\":\"sunny\",\"role\":\"tool\",\"tool_call_id\":"
			    "\"toolu_1\"},{\"content\":\"thanks\",\"role\":\"user\"}]");
	free(s);
	api_request_free(&r);
}

Test(anthropic, errors_name_the_field)
{
	static const char *cases[][2] = {
		{ "{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens" },
		{ "{\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model" },
		{ "{\"model\":\"c\",\"max_tokens\":0,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "max_tokens" },
		{ "{\"model\":\"c\",\"max_tokens\":5}", "messages" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[]}", "messages" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}",
		  "messages[0].role" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":\"assistant\",\"content\":\"x\"}]}",
		  "messages[0].role" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\"}]}", "messages[0].content" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\","
		  "\"source\":{}}]}]}",
		  "messages[0].content[0]" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"tool_use\","
		  "\"id\":\"a\",\"name\":\"f\",\"input\":{}}]}]}",
		  "messages[0].content[0]" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}",
		  "messages[0].content[0]" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"temperature\":1.5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
		  "temperature" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"stop_sequences\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
		  "stop_sequences" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"system\":[{\"type\":\"image\"}],\"messages\":[{\"role\":\"user\","
		  "\"content\":\"x\"}]}",
		  "system[0]" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1024},\"messages\":"
		  "[{\"role\":\"user\",\"content\":\"x\"}]}",
		  "thinking" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"tools\":[{\"type\":\"web_search_20250305\",\"name\":\"web_search\"}],"
		  "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
		  "tools[0]" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"tools\":[{\"name\":\"f\"}],\"messages\":[{\"role\":\"user\",\"content\":"
		  "\"x\"}]}",
		  "tools[0]" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"tools\":[{\"name\":\"f\",\"input_schema\":{}}],\"tool_choice\":{\"type\":"
		  "\"tool\"},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
		  "tool_choice" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"output_config\":{\"format\":{\"type\":\"json\",\"schema\":{}}},"
		  "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
		  "output_config.format" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"container\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
		  "container" },
		{ "{\"model\":\"c\",\"max_tokens\":5,\"metadata\":{\"other\":1},\"messages\":[{\"role\":\"user\",\"content\":"
		  "\"x\"}]}",
		  "metadata" },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
		api_request r;
		api_error e;
		cr_expect_neq(aparse(cases[i][0], &r, &e), 0, "%s", cases[i][0]);
		cr_expect_eq(e.status, 400);
		cr_expect_str_eq(e.param, cases[i][1], "%s: %s", cases[i][0], e.message);
		api_request_free(&r);
	}
	api_request r;
	api_error e;
	const char *structured = "{\"model\":\"c\",\"max_tokens\":5,\"output_config\":{\"format\":{\"type\":\"json_schema\","
				 "\"schema\":{\"type\":\"object\"}}},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
	cr_assert_eq(anthropic_request_parse(structured, strlen(structured), &lim, ANTHROPIC_ACCEPT_FORMAT, &r, &e), 0, "%s",
		     e.message);
	cr_expect_eq(r.format, API_FORMAT_SCHEMA);
	api_request_free(&r);
}

Test(anthropic, message_and_event_shapes)
{
	api_resp_meta m = { .kind = API_CHAT, .id = "chatcmpl-00ff", .created = 5, .model = "mod" };
	api_done d = { .text = "Hi", .len = 2, .finish = SCHED_FINISH_LENGTH, .n_prompt = 3, .n_gen = 2 };
	json_t *j = api_anthropic.response(&m, &d, NULL);
	char *s = dumps(j);
	cr_expect_str_eq(s, "{\"content\":[{\"text\":\"Hi\",\"type\":\"text\"}],\"id\":\"msg_00ff\",\"model\":\"mod\",\"role\":"
			    "\"assistant\",\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,\"type\":\"message\","
			    "\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}");
	free(s);
	json_decref(j);
	json_error_t je;
	json_t *calls = json_loads("[{\"id\":\"call_ab\",\"type\":\"function\",\"function\":{\"name\":\"f\",\"arguments\":"
				   "\"{\\\"a\\\":1}\"}}]",
				   0, &je);
	d.finish = SCHED_FINISH_STOP;
	d.len = 0;
	d.calls = calls;
	j = api_anthropic.response(&m, &d, NULL);
	s = dumps(json_object_get(j, "content"));
	cr_expect_str_eq(s, "[{\"id\":\"toolu_ab\",\"input\":{\"a\":1},\"name\":\"f\",\"type\":\"tool_use\"}]");
	free(s);
	cr_expect_str_eq(json_string_value(json_object_get(j, "stop_reason")), "tool_use");
	json_decref(j);
	/* the stream: its events in order */
	text_buf out = { 0 };
	d.calls = NULL;
	d.finish = SCHED_FINISH_STOP;
	cr_assert_eq(api_anthropic.stream_start(&m, &out) | api_anthropic.stream_text(&m, "a", 1, NULL, &out) |
			     api_anthropic.stream_text(&m, "b", 1, NULL, &out) | api_anthropic.stream_end(&m, &d, &out),
		     0);
	cr_assert_eq(text_buf_add(&out, "", 1), 0);
	const char *want[] = { "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
			       "content_block_stop", "message_delta", "message_stop" };
	const char *p = out.p;
	for (size_t i = 0; i < SH_ARRAY_LEN(want); i++) {
		char ev[64];
		cr_assert_eq(sscanf(p, "event: %63s\n", ev), 1, "%s", p);
		cr_expect_str_eq(ev, want[i]);
		const char *data = strstr(p, "\ndata: ");
		cr_assert(data);
		data += 7;
		const char *end = strstr(data, "\n\n");
		cr_assert(end);
		j = json_loadb(data, (size_t)(end - data), 0, &je);
		cr_assert(j, "%s", je.text);
		cr_expect_str_eq(json_string_value(json_object_get(j, "type")), want[i]);
		if (i == 6) {
			cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "delta"), "stop_reason")), "end_turn");
			cr_expect_eq(json_integer_value(json_object_get(json_object_get(j, "usage"), "output_tokens")), 2);
		}
		json_decref(j);
		p = end + 2;
	}
	cr_expect_eq(*p, 0);
	/* calls: the text block ends, a tool_use block each with its input as one delta */
	out.len = 0;
	d.calls = calls;
	cr_assert_eq(api_anthropic.stream_calls(&m, calls, 0, &out) | api_anthropic.stream_end(&m, &d, &out), 0);
	cr_assert_eq(text_buf_add(&out, "", 1), 0);
	cr_expect(strstr(out.p, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}"));
	cr_expect(strstr(out.p, "\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_ab\",\"name\":\"f\","
				"\"input\":{}}"), "%s", out.p);
	cr_expect(strstr(out.p, "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":1}\"}"), "%s", out.p);
	cr_expect(strstr(out.p, "\"stop_reason\":\"tool_use\""));
	const char *first = strstr(out.p, "\"index\":0}");
	cr_expect(first && !strstr(first + 1, "\"index\":0}"), "the text block ends once");
	json_decref(calls);
	text_buf_free(&out);
	/* errors */
	static const struct {
		int status;
		const char *code, *type;
	} errs[] = { { 400, "", "invalid_request_error" }, { 401, "", "authentication_error" }, { 404, "", "not_found_error" },
		     { 413, "", "request_too_large" },	    { 503, "server_busy", "overloaded_error" },
		     { 503, "request_aborted", "api_error" }, { 500, "", "api_error" } };
	for (size_t i = 0; i < SH_ARRAY_LEN(errs); i++) {
		api_error e;
		api_error_set(&e, errs[i].status, NULL, errs[i].code, NULL, "m");
		j = api_anthropic.error_json(&e);
		cr_expect_str_eq(json_string_value(json_object_get(j, "type")), "error");
		cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "type")), errs[i].type);
		cr_expect_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "message")), "m");
		json_decref(j);
	}
}
