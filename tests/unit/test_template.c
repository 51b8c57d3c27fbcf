/*
 * test_template.c - the chat-template interpreter against Hugging Face's renderings: every real
 * template in tests/data/templates renders every conversation byte-exactly like its reference in
 * templates/expected, without tools and with them (where there is no reference the template
 * raises, as it does in jinja2), how tools are passed, the tool-call family of each template,
 * then the jinja2 semantics one by one (whitespace control, scoping, loop variables, filters,
 * tests, methods, Undefined, generators, slicing, formatting, errors with line numbers), the caps
 * that stop hostile templates, the built-in templates, templates read from GGUF files, and one
 * template rendered by several threads.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "template/tmpl.h"
#include "test_util.h"

/* 2024-07-26 12:00 UTC: 26 Jul 2024 in every time zone, what the references were rendered with */
#define REF_NOW ((time_t)1721995200)

/* NULL when the file does not exist */
/* renders src with vars (JSON text); returns the output, or "ERR(code): message" */
static char *render_opts(const char *src, const char *vars, const tmpl_opts *o)
{
	char err[1024], *out = NULL;
	size_t n;
	tmpl *t = tmpl_parse(src, strlen(src), err, sizeof err);
	if (!t) {
		char *e = malloc(strlen(err) + 16);
		sprintf(e, "PARSE: %s", err);
		return e;
	}
	json_error_t je;
	json_t *v = json_loads(vars ? vars : "{}", 0, &je);
	cr_assert(v, "bad test vars: %s", je.text);
	tmpl_opts def = { .now = REF_NOW };
	int rc = tmpl_render(t, v, o ? o : &def, &out, &n, err, sizeof err);
	json_decref(v);
	tmpl_free(t);
	if (rc) {
		cr_assert_null(out);
		char *e = malloc(strlen(err) + 32);
		sprintf(e, "ERR(%d): %s", rc, err);
		return e;
	}
	cr_assert_eq(strlen(out), n);
	return out;
}

static char *render(const char *src, const char *vars) { return render_opts(src, vars, NULL); }

#define CHECK(src, vars, want)                                                                         \
	do {                                                                                           \
		char *got_ = render(src, vars);                                                        \
		cr_expect_str_eq(got_, want, "template: %s\n  got:  %s\n  want: %s", src, got_, want);  \
		free(got_);                                                                            \
	} while (0)

/* the output starts with prefix (errors: their message is checked up to what matters) */
#define CHECK_PREFIX(src, vars, prefix)                                                                \
	do {                                                                                           \
		char *got_ = render(src, vars);                                                        \
		cr_expect(!strncmp(got_, prefix, strlen(prefix)), "template: %s\n  got:  %s\n  want: %s...", \
			  src, got_, prefix);                                                          \
		free(got_);                                                                            \
	} while (0)

/* ---------------------------------------------------------------- the real templates */
/* each with its special tokens (templates/README.md) and the tool-call family its markers tell */
static const struct { const char *name, *bos, *eos; tmpl_tools_family family; } models[] = {
	{ "CohereForAI-c4ai-command-r-plus-tool_use", "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>", TMPL_TOOLS_COMMAND_R },
	{ "NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "<|begin_of_text|>", "<|im_end|>", TMPL_TOOLS_HERMES },
	{ "Qwen-Qwen2.5-7B-Instruct", "", "<|im_end|>", TMPL_TOOLS_HERMES },
	/* renders earlier tool calls (<｜tool▁calls▁begin｜>) but never reads tools */
	{ "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
	  "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", TMPL_TOOLS_NONE },
	{ "google-gemma-2-2b-it", "<bos>", "<eos>", TMPL_TOOLS_NONE },
	{ "meta-llama-Llama-3.1-8B-Instruct", "<|begin_of_text|>", "<|eot_id|>", TMPL_TOOLS_LLAMA3 },
	/* no <|python_tag|> (no built-in tools): the bare {"name", "parameters"} object */
	{ "meta-llama-Llama-3.2-3B-Instruct", "<|begin_of_text|>", "<|eot_id|>", TMPL_TOOLS_LLAMA3 },
	{ "microsoft-Phi-3.5-mini-instruct", "<s>", "<|endoftext|>", TMPL_TOOLS_NONE },
	{ "mistralai-Mistral-7B-Instruct-v0.3", "<s>", "</s>", TMPL_TOOLS_MISTRAL },
	{ "mistralai-Mistral-Nemo-Instruct-2407", "<s>", "</s>", TMPL_TOOLS_MISTRAL },
};

static tmpl *load_template(const char *name)
{
	char rel[256], err[512];
	size_t n;
	snprintf(rel, sizeof rel, "templates/%s.jinja", name);
	char *src = test_read_file(test_data(rel), &n);
	cr_assert(src, "cannot read %s", rel);
	tmpl *t = tmpl_parse(src, n, err, sizeof err);
	cr_assert(t, "%s: %s", name, err);
	free(src);
	return t;
}

static json_t *load_json(const char *rel)
{
	json_error_t je;
	json_t *c = json_load_file(test_data(rel), 0, &je);
	cr_assert(c, "%s: %s", rel, je.text);
	return c;
}

static json_t *conversations(void) { return load_json("templates/conversations.json"); }

/* every real template x every conversation of file (conversations.json: {name: messages};
 * tool_conversations.json: {name: {tools, messages}}) against its reference, or raising where
 * it has none; counts the renderings compared and the raises */
static void match_references(const char *file, int *checked, int *raised)
{
	json_t *convs = load_json(file);
	*checked = *raised = 0;
	for (size_t i = 0; i < SH_ARRAY_LEN(models); i++) {
		tmpl *t = load_template(models[i].name);
		const char *conv;
		json_t *c;
		json_object_foreach(convs, conv, c) {
			char rel[256], err[512], *out = NULL;
			size_t n = 0, en;
			snprintf(rel, sizeof rel, "templates/expected/%s.%s.txt", models[i].name, conv);
			char *want = test_read_file(test_data(rel), &en);
			const json_t *msgs = json_is_array(c) ? c : json_object_get(c, "messages");
			const json_t *tools = json_is_array(c) ? NULL : json_object_get(c, "tools");
			cr_assert(msgs && (json_is_array(c) || json_is_array(tools)), "%s: %s has no messages or tools", file, conv);
			tmpl_opts o = { .now = REF_NOW };
			int rc = tmpl_render_chat(t, msgs, tools, true, models[i].bos, models[i].eos, &o, &out, &n, err, sizeof err);
			if (!want) { /* the template raises for this conversation */
				cr_expect_neq(rc, 0, "%s.%s should raise, rendered:\n%s", models[i].name, conv, out ? out : "");
				(*raised)++;
			} else {
				cr_expect_eq(rc, 0, "%s.%s: %s", models[i].name, conv, err);
				if (!rc)
					cr_expect(n == en && !memcmp(out, want, en), "%s.%s differs:\n--- got\n%s\n--- want\n%s", models[i].name,
						  conv, out, want);
				(*checked)++;
			}
			free(out);
			free(want);
		}
		tmpl_free(t);
	}
	json_decref(convs);
}

Test(template, real_templates_match_hf)
{
	int checked, raised;
	match_references("templates/conversations.json", &checked, &raised);
	/* Gemma 2 rejects a system role; the tool_use templates of Hermes 3 and Command-R+ iterate
	 * tools, which is None here ('NoneType' object is not iterable) */
	cr_expect_eq(checked, 30);
	cr_expect_eq(raised, 10);
}

/* with tools, as apply_chat_template(messages, tools=tools) renders them */
Test(template, real_templates_with_tools_match_hf)
{
	int checked, raised;
	match_references("templates/tool_conversations.json", &checked, &raised);
	/* raising: Llama 3.1/3.2 on parallel calls (raise_exception), Gemma 2 on the tool role or a
	 * system message, Phi-3.5 and DeepSeek-R1 on content null / object arguments (TypeError) */
	cr_expect_eq(checked, 39);
	cr_expect_eq(raised, 11);
}

Test(template, gemma2_rejects_system_role)
{
	json_t *convs = conversations();
	tmpl *t = load_template("google-gemma-2-2b-it");
	const char *which[] = { "system", "multiturn" };
	for (int i = 0; i < 2; i++) {
		char err[512], *out = (char *)1;
		size_t n;
		int rc = tmpl_render_chat(t, json_object_get(convs, which[i]), NULL, true, "<bos>", "<eos>", NULL, &out, &n, err, sizeof err);
		cr_expect_eq(rc, SH_EINVAL);
		cr_expect_null(out);
		cr_expect_str_eq(err, "System role not supported"); /* raise_exception's message, exactly */
	}
	/* roles out of order: the other raise_exception of the template */
	json_t *bad = json_loads("[{\"role\":\"assistant\",\"content\":\"hi\"}]", 0, NULL);
	char err[512], *out;
	size_t n;
	cr_expect_eq(tmpl_render_chat(t, bad, NULL, true, "<bos>", "<eos>", NULL, &out, &n, err, sizeof err), SH_EINVAL);
	cr_expect_str_eq(err, "Conversation roles must alternate user/assistant/user/assistant/...");
	json_decref(bad);
	tmpl_free(t);
	json_decref(convs);
}

Test(template, add_generation_prompt_off)
{
	json_t *convs = conversations();
	tmpl *t = load_template("microsoft-Phi-3.5-mini-instruct");
	char err[512], *out;
	size_t n;
	cr_assert_eq(tmpl_render_chat(t, json_object_get(convs, "hello"), NULL, false, "<s>", "<|endoftext|>", NULL, &out, &n, err,
				      sizeof err), 0, "%s", err);
	cr_expect_str_eq(out, "<|user|>\nHello!<|end|>\n<|endoftext|>");
	free(out);
	tmpl_free(t);
	json_decref(convs);
}

/* tools reach the template as HF passes them: None without, the array as given with */
Test(template, tools_as_hf_passes_them)
{
	json_t *convs = load_json("templates/tool_conversations.json");
	json_t *c = json_object_get(convs, "tools_call_string_args");
	const json_t *msgs = json_object_get(c, "messages"), *tools = json_object_get(c, "tools");
	const char *src = "{{ tools is none }} {{ documents is none }} {{ (tools or []) | length }}|"
			  "{% for t in tools or [] %}{{ t.type }}:{{ t.function.name }} {% endfor %}|"
			  "{{ messages[1].tool_calls[0].function.arguments is string }}";
	tmpl *t = tmpl_parse(src, strlen(src), NULL, 0);
	cr_assert(t);
	char err[512], *out;
	size_t n;
	cr_assert_eq(tmpl_render_chat(t, msgs, NULL, true, NULL, NULL, NULL, &out, &n, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(out, "True True 0||True");
	free(out);
	cr_assert_eq(tmpl_render_chat(t, msgs, tools, true, NULL, NULL, NULL, &out, &n, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(out, "False True 2|function:get_weather function:get_time |True"); /* arguments: the JSON string */
	free(out);
	json_t *list = json_array(); /* an empty list is a list, not None (Qwen's `if tools` is false, Llama's `is not none` true) */
	cr_assert_eq(tmpl_render_chat(t, msgs, list, true, NULL, NULL, NULL, &out, &n, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(out, "False True 0||True");
	free(out);

	/* what HF rejects: tools that are not a list of dicts */
	out = (char *)1;
	cr_expect_eq(tmpl_render_chat(t, msgs, c, true, NULL, NULL, NULL, &out, &n, err, sizeof err), SH_EINVAL);
	cr_expect_null(out);
	cr_expect_str_eq(err, "tools: not an array of tool objects");
	json_array_append_new(list, json_string("get_weather"));
	cr_expect_eq(tmpl_render_chat(t, msgs, list, true, NULL, NULL, NULL, &out, &n, err, sizeof err), SH_EINVAL);
	cr_expect(!strncmp(err, "tools[0]: not an object", 23), "%s", err);
	cr_expect_eq(tmpl_render_chat(t, NULL, tools, true, NULL, NULL, NULL, &out, &n, err, sizeof err), SH_EINVAL);
	json_decref(list);
	tmpl_free(t);

	/* where jinja2 recurses without end, the render stops at the depth cap: Hermes 3's
	 * json_to_python_type maps a type list member it does not know ("null") by iterating its
	 * characters, each again a string (Python's RecursionError) */
	json_t *bad = json_deep_copy(tools);
	json_object_set_new(json_object_get(json_object_get(json_object_get(json_array_get(bad, 1), "function"), "parameters"),
					    "properties"),
			    "offset", json_pack("{s:[s,s],s:s}", "type", "integer", "null", "description", "maybe"));
	t = load_template("NousResearch-Hermes-3-Llama-3.1-8B-tool_use");
	cr_expect_eq(tmpl_render_chat(t, msgs, bad, true, NULL, NULL, NULL, &out, &n, err, sizeof err), SH_ERANGE);
	cr_expect(strstr(err, "nested too deeply"), "%s", err);
	tmpl_free(t);
	json_decref(bad);
	json_decref(convs);
}

Test(template, tools_family)
{
	for (size_t i = 0; i < SH_ARRAY_LEN(models); i++) {
		tmpl *t = load_template(models[i].name);
		cr_expect_eq(tmpl_tools_family_of(t), models[i].family, "%s: family %d", models[i].name, tmpl_tools_family_of(t));
		tmpl_free(t);
	}
	/* the built-ins ignore tools */
	const char *builtins[] = { "chatml", "llama2", "llama3", "mistral", "gemma", "phi3", "qwen2" };
	for (size_t i = 0; i < SH_ARRAY_LEN(builtins); i++) {
		const char *src = tmpl_builtin(builtins[i]);
		tmpl *t = tmpl_parse(src, strlen(src), NULL, 0);
		cr_expect_eq(tmpl_tools_family_of(t), TMPL_TOOLS_NONE, "%s", builtins[i]);
		tmpl_free(t);
	}
	/* a marker counts only in a template that reads tools; in text or in a string constant */
	static const struct { const char *src; tmpl_tools_family want; } cases[] = {
		{ "<tool_call>{{ messages }}", TMPL_TOOLS_NONE },
		{ "{{ tools }}<tool_call>", TMPL_TOOLS_HERMES },
		{ "{% if tools %}{{ '[TOOL_CALLS] [' }}{% endif %}", TMPL_TOOLS_MISTRAL },
		{ "{{ tools }}{{ \"\\nAction:\\n```json\" }}", TMPL_TOOLS_COMMAND_R },
		{ "{{ tools }}Action: do it", TMPL_TOOLS_NONE },
		{ "{{ tools }}{{ '<|python_tag|>' }}", TMPL_TOOLS_LLAMA3 },
		{ "<|start_header_id|>{{ tools }}{\"parameters\": x}", TMPL_TOOLS_LLAMA3 },
		{ "{{ custom_tools }}<tool_call>", TMPL_TOOLS_NONE },
		{ "{% set tools = 1 %}<tool_call>", TMPL_TOOLS_NONE },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
		tmpl *t = tmpl_parse(cases[i].src, strlen(cases[i].src), NULL, 0);
		cr_assert(t, "%s", cases[i].src);
		cr_expect_eq(tmpl_tools_family_of(t), cases[i].want, "%s", cases[i].src);
		tmpl_free(t);
	}
	cr_expect_eq(tmpl_tools_family_of(NULL), TMPL_TOOLS_NONE);
}

/* ---------------------------------------------------------------- whitespace control */
Test(template, whitespace_control)
{
	/* trim_blocks: a block tag eats the newline after it; lstrip_blocks: indentation before it */
	CHECK("  {% if true %}\n  x\n  {% endif %}\n", NULL, "  x\n");
	CHECK("{% for i in [1,2] %}\n  {{ i }}\n{% endfor %}\n", NULL, "  1\n  2\n");
	CHECK("{{ 'a' }}\n{% if 1 %}\nb\n{% endif %}\n", NULL, "a\nb\n");
	/* not at the start of a line: kept; after a print tag: kept; {%+ keeps it */
	CHECK("{{ 'a' }}  {% if 1 %}b{% endif %}", NULL, "a  b");
	CHECK("{% if 1 %}  {% endif %}|", NULL, "  |");
	CHECK("a\n  {%+ if 1 %}x{% endif %}", NULL, "a\n  x");
	/* +%} keeps the newline after the tag */
	CHECK("{% if 1 +%}\nx{% endif %}", NULL, "\nx");
	/* - strips every kind of whitespace on its side, newlines included */
	CHECK("a  \n  {%- if 1 -%}  \n b {{- ' c' -}}  d{% endif %}", NULL, "ab cd");
	CHECK("a \t\n{{- 'b' }}", NULL, "ab");
	/* comments: trimmed and lstripped like blocks */
	CHECK("line1\n    {# comment #}\nline2", NULL, "line1\nline2");
	CHECK("{# c #}\n  {% if 1 %}x{% endif %}", NULL, "x");
	CHECK("a {#- c -#} b", NULL, "ab");
	/* one trailing newline of the template is dropped; \r\n and \r are newlines */
	CHECK("x\n", NULL, "x");
	CHECK("x\n\n", NULL, "x\n");
	CHECK("x\r\ny\r{{ 1 }}\r\n", NULL, "x\ny\n1");
	/* raw: no trim after {% raw %}, text kept verbatim */
	CHECK("{% raw %}\n{{ x }}{% endraw %}\nz", NULL, "\n{{ x }}z");
	CHECK("x {%- raw -%} y {%- endraw -%} z", NULL, "xyz");
	CHECK("x\n  {% raw %}  r  {% endraw %}", NULL, "x\n  r  ");
	/* Unicode whitespace counts (Python's \s): a no-break space before {%- goes */
	CHECK("a\xc2\xa0{%- if 1 %}b{% endif %}", NULL, "ab");
	/* an end delimiter inside brackets is not one */
	CHECK("{{ {'a': {'b': 1}}['a']['b'] }}", NULL, "1");
}

/* ---------------------------------------------------------------- scoping and control flow */
Test(template, scoping)
{
	/* a loop body is a scope of its own, fresh on every pass */
	CHECK("{% set x = 1 %}{% for i in range(2) %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", NULL, "12121");
	CHECK("{% for i in range(3) %}{% if i == 0 %}{% set y = 'a' %}{% endif %}[{{ y }}]{% endfor %}", NULL, "[a][][]");
	/* if does not make a scope */
	CHECK("{% if true %}{% set z = 5 %}{% endif %}{{ z }}", NULL, "5");
	/* namespace carries state out of a loop */
	CHECK("{% set ns = namespace(total=0, seen=false) %}{% for i in [1,2,3] %}{% set ns.total = ns.total + i %}{% endfor %}"
	      "{{ ns.total }}{{ ns.seen }}",
	      NULL, "6False");
	CHECK("{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns['b'] }}[{{ ns.c }}]", NULL, "12[]");
	CHECK_PREFIX("{% set d = {} %}{% set d.x = 1 %}", NULL, "ERR(-5): line 1: cannot assign attribute on non-namespace object");
	/* set block, with a filter; with; block */
	CHECK("{% set s %}a{{ 1 }}{% endset %}{{ s }}|{% set t | upper %}low{% endset %}{{ t }}", NULL, "a1|LOW");
	CHECK("{% set ns = namespace() %}{% set ns.v %}x{% endset %}{{ ns.v }}", NULL, "x");
	CHECK("{% set a = 1 %}{% with a = 2, b = a %}{{ a }}{{ b }}{% endwith %}{{ a }}", NULL, "211");
	CHECK("{% block b %}{% set q = 1 %}{{ q }}{% endblock %}[{{ q }}]", NULL, "1[]");
	/* tuple unpacking */
	CHECK("{% set a, b = 1, 2 %}{{ b }}{{ a }}|{% set c, d = 'xy' %}{{ d }}{{ c }}", NULL, "21|yx");
	CHECK_PREFIX("{% set a, b = [1] %}", NULL, "ERR(-5): line 1: not enough values to unpack (expected 2, got 1)");
	/* variables passed in can be rebound */
	CHECK("{% set messages = messages[1:] %}{{ messages|length }}", "{\"messages\":[1,2,3]}", "2");
	/* elif chains */
	CHECK("{% for i in range(4) %}{% if i == 0 %}a{% elif i == 1 %}b{% elif i == 2 %}c{% else %}d{% endif %}{% endfor %}", NULL,
	      "abcd");
}

Test(template, loops)
{
	CHECK("{% for x in 'abc' %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
	      "{{ loop.first|int }}{{ loop.last|int }}{{ loop.length }}{{ loop.depth }} {% endfor %}",
	      NULL, "10321031 21210031 32100131 ");
	CHECK("{% for x in 'ab' %}[{{ loop.previtem }}|{{ loop.nextitem }}]{% endfor %}", NULL, "[|b][a|]");
	CHECK("{% for x in range(4) %}{{ loop.cycle('a', 'b') }}{% endfor %}", NULL, "abab");
	CHECK("{% for x in [1,1,2] %}{{ loop.changed(x) }}{% endfor %}", NULL, "TrueFalseTrue");
	/* a loop filter: rejected items are not part of the loop (index, length) */
	CHECK("{% for i in range(6) if i is odd %}{{ i }}:{{ loop.index }}/{{ loop.length }} {% endfor %}", NULL, "1:1/3 3:2/3 5:3/3 ");
	/* else runs when nothing was iterated */
	CHECK("{% for i in [] %}x{% else %}empty{% endfor %}|{% for i in [0] %}x{% else %}empty{% endfor %}", NULL, "empty|x");
	CHECK("{% for i in range(10) if i > 20 %}x{% else %}none{% endfor %}", NULL, "none");
	/* loop controls */
	CHECK("{% for i in range(10) %}{% if i == 5 %}{% break %}{% endif %}{% if i is even %}{% continue %}{% endif %}{{ i }}"
	      "{% endfor %}",
	      NULL, "13");
	CHECK("{% for i in range(3) %}{% for j in range(3) %}{% if j == 1 %}{% break %}{% endif %}{{ i }}{{ j }} {% endfor %}"
	      "{% endfor %}",
	      NULL, "00 10 20 ");
	CHECK_PREFIX("{% break %}", NULL, "PARSE: line 1: 'break' outside of a loop");
	/* unpacking; dicts iterate keys; undefined iterates nothing; None cannot be iterated */
	CHECK("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor %}",
	      "{\"d\":{\"b\":1,\"a\":2}}", "b=1;a=2;ba");
	CHECK("{% for x in nothing %}x{% else %}-{% endfor %}", NULL, "-");
	CHECK_PREFIX("{% for x in none %}{% endfor %}", NULL, "ERR(-5): line 1: 'NoneType' object is not iterable");
	/* loop is the innermost loop's */
	CHECK("{% for a in 'xy' %}{% for b in 'z' %}{{ loop.length }}{% endfor %}{{ loop.length }}{% endfor %}", NULL, "1212");
}

Test(template, macros)
{
	CHECK("{% macro m(a, b=2) %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }}|{{ m(1, 3) }}|{{ m(b=5, a=0) }}", NULL, "1-2|1-3|0-5");
	CHECK("{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}", NULL, "[]");
	CHECK("{% macro m() %}{{ varargs|join(',') }}/{{ kwargs.k }}{% endmacro %}{{ m(1, 2, k=3) }}", NULL, "1,2/3");
	CHECK_PREFIX("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", NULL, "ERR(-5): line 1: macro 'm' takes not more than 1 argument(s)");
	CHECK_PREFIX("{% macro m(a) %}{% endmacro %}{{ m(z=1) }}", NULL, "ERR(-5): line 1: macro 'm' takes no keyword argument 'z'");
	/* macros see the template's variables; their own sets stay inside */
	CHECK("{% set g = 'G' %}{% macro m() %}{% set g = 'L' %}{{ g }}{% endmacro %}{{ m() }}{{ g }}", NULL, "LG");
	/* recursion works, and a filter block */
	CHECK("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", NULL, "321");
	CHECK("{% filter upper %}hi {{ 'x' }}{% endfilter %}", NULL, "HI X");
}

/* ---------------------------------------------------------------- expressions */
Test(template, operators)
{
	CHECK("{{ 1 + 2 * 3 }}|{{ 2 ** 3 ** 2 }}|{{ -2 ** 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 7 / 2 }}|{{ 4 / 2 }}", NULL,
	      "7|64|4|3|-4|2|3.5|2.0");
	CHECK("{{ 1e20 }}|{{ 0.1 + 0.2 }}|{{ 1.0 }}|{{ -0.0 }}|{{ 1e16 }}|{{ 1e-5 }}|{{ 123456789.0 }}|{{ 2 ** -1 }}", NULL,
	      "1e+20|0.30000000000000004|1.0|-0.0|1e+16|1e-05|123456789.0|0.5");
	CHECK("{{ 'a' ~ 1 ~ none ~ true }}|{{ 'ab' * 2 }}|{{ [1] + [2] }}|{{ (1,) + (2,) }}|{{ [0] * 3 }}", NULL,
	      "a1NoneTrue|abab|[1, 2]|(1, 2)|[0, 0, 0]");
	CHECK("{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ 'b' in 'abc' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 3 not in [1] }}", NULL,
	      "TrueFalseTrueTrueTrueTrue");
	CHECK("{{ 1 == 1.0 }}{{ true == 1 }}{{ [1, 2] == [1, 2] }}{{ (1,) == [1] }}{{ {'a': 1} == {'a': 1} }}{{ 'a' < 'b' }}", NULL,
	      "TrueTrueTrueFalseTrueTrue");
	/* and/or return an operand; not; the conditional expression */
	CHECK("{{ 0 or 'x' }}|{{ 'a' and 'b' }}|{{ '' and 'b' }}|{{ not [] }}|{{ 'y' if 1 else 'n' }}|{{ 'y' if 0 }}|", NULL,
	      "x|b||True|y||");
	CHECK("{{ 'abc'[1] }}{{ 'abc'[-1] }}{{ [1, 2, 3][0] }}{{ {'a': 1}['a'] }}{{ {'a': 1}.a }}{{ t.0 }}", "{\"t\":[7]}", "bc1117");
	/* Python's errors, with the line of the failing expression */
	CHECK_PREFIX("a\n{{ 'a' + 1 }}", NULL, "ERR(-5): line 2: can only concatenate str (not \"int\") to str");
	CHECK_PREFIX("{{ 1 + 'a' }}", NULL, "ERR(-5): line 1: unsupported operand type(s) for +: 'int' and 'str'");
	CHECK_PREFIX("{{ 1 / 0 }}", NULL, "ERR(-5): line 1: division by zero");
	CHECK_PREFIX("{{ 1 < 'a' }}", NULL, "ERR(-5): line 1: '<' not supported between instances of 'int' and 'str'");
	CHECK_PREFIX("{{ 2 ** 64 }}", NULL, "ERR(-5): line 1: integer overflow");
	CHECK_PREFIX("{{ {[1]: 2} }}", NULL, "ERR(-5): line 1: unhashable type: 'list'");
}

Test(template, slicing)
{
	CHECK("{{ 'hello'[1:3] }}|{{ 'hello'[::-1] }}|{{ 'hello'[-3:] }}|{{ 'hello'[:-10] }}|{{ 'h\xc3\xa9llo'[1:2] }}", NULL,
	      "el|olleh|llo||\xc3\xa9");
	CHECK("{{ [1, 2, 3, 4][1:] }}|{{ [1, 2, 3, 4][::2] }}|{{ [1, 2, 3, 4][-1:0:-1] }}|{{ (1, 2, 3)[:1] }}", NULL,
	      "[2, 3, 4]|[1, 3]|[4, 3, 2]|(1,)");
	CHECK("{{ range(10)[2:5] }}|{{ range(10)[::3]|list }}", NULL, "range(2, 5)|[0, 3, 6, 9]");
	CHECK("{{ m[1:]|length }}|{{ m[5:] }}", "{\"m\":[1,2,3]}", "2|[]");
	CHECK_PREFIX("{{ 'abc'[::0] }}", NULL, "ERR(-5): line 1: slice step cannot be zero");
	/* slicing what cannot be sliced is an undefined, as the sandbox's getitem makes it */
	CHECK("[{{ none[1:] }}]", NULL, "[]");
}

/* ---------------------------------------------------------------- undefined */
Test(template, undefined)
{
	CHECK("[{{ x }}]{{ x is defined }}{{ x is undefined }}{{ x|default('d') }}{{ x|length }}{{ x|list }}{{ x|string }}", NULL,
	      "[]FalseTrued0[]");
	CHECK("{{ d.missing is defined }}[{{ d.missing }}]{{ d['missing'] is defined }}", "{\"d\":{}}", "False[]False");
	CHECK("{% if x %}t{% else %}f{% endif %}{{ not x }}{{ x == x }}{{ x|trim }}|{{ 'a' ~ x ~ 'b' }}", NULL, "fTrueTrue|ab");
	/* using one raises its message */
	CHECK_PREFIX("{{ x.y }}", NULL, "ERR(-5): line 1: 'x' is undefined");
	CHECK_PREFIX("{{ x + 1 }}", NULL, "ERR(-5): line 1: 'x' is undefined");
	CHECK_PREFIX("{{ x() }}", NULL, "ERR(-5): line 1: 'x' is undefined");
	CHECK_PREFIX("{{ d.a.b }}", "{\"d\":{}}", "ERR(-5): line 1: 'dict object' has no attribute 'a'");
	CHECK_PREFIX("{{ m[0]['role'] }}", "{\"m\":[]}", "ERR(-5): line 1: list object has no element 0");
	CHECK_PREFIX("{{ x|tojson }}", NULL, "ERR(-5): line 1: Object of type Undefined is not JSON serializable");
	CHECK_PREFIX("{{ x|int }}", NULL, "ERR(-5): line 1: 'x' is undefined");
	/* attributes of other types are undefined, not errors */
	CHECK("[{{ 'str'.nope }}{{ none.nope }}{{ (1).nope }}]{{ 'str'.content is defined }}", NULL, "[]False");
	/* a dict's methods win over its keys for d.items, keys win for d['items'] */
	CHECK("{{ d['items'] }}|{{ d.items()|list }}", "{\"d\":{\"items\":5}}", "5|[('items', 5)]");
}

/* ---------------------------------------------------------------- filters and tests */
Test(template, filters)
{
	CHECK("{{ '  hi  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'Hello'|upper }}{{ 'Hello'|lower }}|{{ 'hello world'|title }}"
	      "|{{ 'hELLO'|capitalize }}|{{ 'ab'|center(6) }}|",
	      NULL, "hi|hi|HELLOhello|Hello World|Hello|  ab  |");
	CHECK("{{ [1, 2, 3]|length }}{{ 'h\xc3\xa9'|length }}{{ {'a': 1}|count }}|{{ [1, 2]|join(', ') }}|{{ [1, 2]|first }}{{ [1, 2]|last }}"
	      "|{{ [3, 1, 2]|sort }}|{{ ['b', 'A', 'c']|sort }}|{{ [3, 1, 2]|sort(reverse=true) }}|{{ [1, 2, 1]|unique|list }}",
	      NULL, "321|1, 2|12|[1, 2, 3]|['A', 'b', 'c']|[3, 2, 1]|[1, 2]");
	CHECK("{{ 'Hello'|replace('l', 'L') }}|{{ 'Hello'|replace('l', 'L', 1) }}|{{ 'abc'|reverse }}|{{ [1, 2]|reverse|list }}", NULL,
	      "HeLLo|HeLlo|cba|[2, 1]");
	CHECK("{{ 1.5|round }}|{{ 2.5|round }}|{{ 2.675|round(2) }}|{{ 3|round }}|{{ 2.1|round(method='ceil') }}|{{ -3|abs }}", NULL,
	      "2.0|2.0|2.67|3|3.0|3");
	CHECK("{{ 3.7|int }}|{{ '42'|int + 1 }}|{{ 'x'|int(7) }}|{{ '0x1A'|int(0, 16) }}|{{ '3.5'|float }}|{{ 'x'|float }}", NULL,
	      "3|43|7|26|3.5|0.0");
	CHECK("{{ {'b': 1, 'a': 2}|dictsort }}|{{ {'b': 1, 'a': 2}|dictsort(by='value') }}|{{ {'a': 1}|items|list }}", NULL,
	      "[('a', 2), ('b', 1)]|[('b', 1), ('a', 2)]|[('a', 1)]");
	CHECK("{{ [1, 2, 3, 4, 5]|batch(2)|list }}|{{ [1, 2, 3, 4, 5]|slice(2)|list }}|{{ [1, 2, 3]|sum }}|{{ [3, 1]|min }}{{ [3, 1]|max }}",
	      NULL, "[[1, 2], [3, 4], [5]]|[[1, 2, 3], [4, 5]]|6|13");
	CHECK("{{ 'a\\nb'|indent(2) }}|{{ 'a\\n\\nb'|indent(2, first=true) }}|{{ 'one two  three'|wordcount }}|"
	      "{{ 'long text here'|truncate(9, leeway=0) }}{{ 'long text here'|truncate(9) }}|{{ '<a>x</a> &amp; y'|striptags }}|{{ '<&>'|e }}",
	      NULL, "a\n  b|  a\n\n  b|3|long...long text here|x & y|&lt;&amp;&gt;");
	CHECK("{{ '%s-%05.2f|%d%%'|format('a', 3.14159, 42) }}|{{ 5|string }}|{{ none|safe }}|{{ [1, none]|list }}", NULL,
	      "a-03.14|42%|5|None|[1, None]");
	/* select and friends, with attribute paths */
	const char *msgs = "{\"m\":[{\"role\":\"user\",\"content\":\"a\",\"x\":{\"y\":1}},{\"role\":\"bot\",\"content\":\"b\"},"
			   "{\"role\":\"user\",\"content\":\"c\",\"x\":{\"y\":2}}]}";
	CHECK("{{ m|selectattr('role', 'equalto', 'user')|map(attribute='content')|join('/') }}|"
	      "{{ m|rejectattr('role', 'eq', 'user')|map(attribute='content')|list }}|{{ m|selectattr('x')|map(attribute='x.y')|list }}|"
	      "{{ m|map(attribute='nope', default='-')|join }}|{{ [1, 2, 3]|select('odd')|list }}|{{ [1, 0, 2]|select|list }}|"
	      "{{ ['a', 'B']|map('upper')|list }}|{{ m|sort(attribute='content', reverse=true)|map(attribute='content')|join }}",
	      msgs, "a/c|['b']|[1, 2]|---|[1, 3]|[1, 2]|['A', 'B']|cba");
	CHECK("{{ {'a': 1}|attr('a') }}|{{ 'x'|attr('upper') is defined }}", NULL, "|True");
	/* an unknown filter or test is a template error, found when parsing */
	CHECK_PREFIX("a\n{{ x|nosuch }}", NULL, "PARSE: line 2: No filter named 'nosuch'.");
	CHECK_PREFIX("{{ x is nosuch }}", NULL, "PARSE: line 1: No test named 'nosuch'.");
}

Test(template, generators)
{
	/* select & co. return generators: always true, no len(), used up by one pass */
	CHECK("{% if []|select('odd') %}T{% endif %}", NULL, "T");
	CHECK("{% set g = [1, 2, 3]|select('odd') %}{{ g|list }}{{ g|list }}", NULL, "[1, 3][]");
	CHECK("{% set g = [1, 2, 3]|map('string') %}{{ g|first }}{{ g|list }}", NULL, "1['2', '3']");
	CHECK_PREFIX("{{ [1, 2]|select('odd')|length }}", NULL, "ERR(-5): line 1: object of type 'generator' has no len()");
	CHECK("{{ [1, 2]|select('odd')|list|length }}", NULL, "1");
	CHECK("[{{ ([1, 2]|select('odd'))[0] }}]", NULL, "[]");
}

Test(template, tests)
{
	CHECK("{{ 5 is divisibleby 3 }}{{ 6 is divisibleby(3) }}{{ 3 is odd }}{{ 3 is even }}{{ none is none }}{{ 1 is number }}"
	      "{{ true is boolean }}{{ 1 is integer }}{{ 1.0 is float }}{{ 'a' is string }}{{ {} is mapping }}{{ [] is sequence }}"
	      "{{ 'a' is iterable }}{{ 1 is iterable }}{{ 'ab' is lower }}{{ 'AB' is upper }}{{ 2 is eq 2 }}{{ 2 is ne 2 }}"
	      "{{ 1 is lt 2 }}{{ 2 is in [2] }}{{ x is not defined }}{{ range is callable }}{{ 'trim' is filter }}{{ 'odd' is test }}",
	      NULL,
	      "FalseTrueTrueFalseTrueTrueTrueTrueTrueTrueTrueTrueTrueFalseTrueTrueTrueFalseTrueTrueTrueTrueTrueTrue");
	CHECK("{{ true is sameas true }}{{ [1] is sameas [1] }}{{ 1 is number and 'a' is string }}", NULL, "TrueFalseTrue");
}

Test(template, methods)
{
	CHECK("{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(None, 1) }}|{{ 'a-b-c'.rsplit('-', 1) }}|"
	      "{{ 'a\\nb\\r\\nc'.splitlines() }}|{{ '  a b  c  '.split(None, 1) }}{{ '  a b  c  '.rsplit(None, 1) }}",
	      NULL, "['a', 'b', '', 'c']|['a', 'b']|['a', 'b c']|['a-b', 'c']|['a', 'b', 'c']|['a', 'b  c  ']['  a b', 'c']");
	CHECK("{{ ' x '.strip() }}|{{ 'xay'.lstrip('x') }}|{{ 'xay'.rstrip('y') }}|{{ 'abc'.startswith(('x', 'a')) }}"
	      "{{ 'abc'.endswith('bc') }}|{{ 'hello'.find('l') }}{{ 'hello'.rfind('l') }}{{ 'hello'.count('l') }}|"
	      "{{ 'they\\'re'.title() }}|{{ 'x'.join(['a', 'b']) }}|{{ 'ab'.replace('', '-') }}|{{ '5'.zfill(3) }}",
	      NULL, "x|ay|xa|TrueTrue|232|They'Re|axb|-a-b-|005");
	CHECK("{{ 'abc'.upper() }}{{ 'ABC'.lower() }}{{ 'h\xc3\xa9'.upper() }}|{{ '12'.isdigit() }}{{ ''.isdigit() }}{{ 'ab'.isalpha() }}"
	      "|{{ 'a=b'.partition('=') }}|{{ 'x.txt'.removesuffix('.txt') }}",
	      NULL, "ABCabcH\xc3\x89|TrueFalseTrue|('a', '=', 'b')|x");
	CHECK("{{ {'a': 1}.get('b', 2) }}{{ {'a': 1}.get('a') }}{{ {'a': 1}.get('z') }}|{{ {'a': 1}.keys()|list }}"
	      "{{ {'a': 1}.values()|list }}|{{ [1, 2, 1].count(1) }}{{ [1, 2].index(2) }}|{{ {'a': 1}.items() }}",
	      NULL, "21None|['a'][1]|21|dict_items([('a', 1)])");
	CHECK("{{ '{} and {}'.format('a', 'b') }}|{{ '{1}{0}'.format('a', 'b') }}|{{ '{x}!'.format(x=1) }}|{{ '{:>5}|{:<3}|'.format('r', 'l') }}"
	      "{{ '{:.2f} {:,} {:03d} {!r}'.format(3.14159, 1234567, 7, 'q') }}",
	      NULL, "a and b|ba|1!|    r|l  |3.14 1,234,567 007 'q'");
	CHECK("{{ '%s=%r' % ('k', 'v') }}|{{ '%(a)s' % {'a': 1} }}|{{ '%5.1f|%-3d|%x' % (2.25, 7, 255) }}", NULL, "k='v'|1|  2.2|7  |ff");
	/* the immutable sandbox: mutating methods are unsafe */
	CHECK_PREFIX("{{ [1].append(2) }}", NULL, "ERR(-5): line 1: access to attribute 'append' of 'list' object is unsafe.");
	CHECK_PREFIX("{% set d = {} %}{{ d.update({'a': 1}) }}", NULL,
		     "ERR(-5): line 1: access to attribute 'update' of 'dict' object is unsafe.");
}

Test(template, tojson)
{
	/* HF's tojson: json.dumps with ensure_ascii=False, sort_keys=False, Python's separators */
	CHECK("{{ m|tojson }}", "{\"m\":[{\"role\":\"user\",\"content\":\"\xc3\xa9\\n\\\"q\\\"\\t\\u0001\"}]}",
	      "[{\"role\": \"user\", \"content\": \"\xc3\xa9\\n\\\"q\\\"\\t\\u0001\"}]");
	CHECK("{{ {'b': 1, 'a': [1.5, none, true, 'x']}|tojson }}", NULL, "{\"b\": 1, \"a\": [1.5, null, true, \"x\"]}");
	CHECK("{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}|{{ '\xc3\xa9'|tojson(ensure_ascii=true) }}|{{ [1, 2]|tojson(separators=(',', ':')) }}",
	      NULL, "{\"a\": 2, \"b\": 1}|\"\\u00e9\"|[1,2]");
	CHECK("{{ {'a': [1, {'b': 2}], 'c': [], 'd': {}}|tojson(indent=2) }}", NULL,
	      "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": [],\n  \"d\": {}\n}");
	CHECK("{{ {1: 'i', none: 'n'}|tojson }}", NULL, "{\"1\": \"i\", \"null\": \"n\"}");
	CHECK_PREFIX("{{ range(2)|tojson }}", NULL, "ERR(-5): line 1: Object of type range is not JSON serializable");
}

Test(template, globals)
{
	CHECK("{{ range(3)|list }}{{ range(1, 7, 2)|list }}{{ range(3, 0, -1)|list }}|{{ range(3) }}", NULL,
	      "[0, 1, 2][1, 3, 5][3, 2, 1]|range(0, 3)");
	CHECK("{{ dict(a=1) }}|{{ dict([('k', 2)]) }}|{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d') }}", NULL,
	      "{'a': 1}|{'k': 2}|26 Jul 2024|2024-07-26");
	CHECK("{{ strftime_now is defined }}{{ raise_exception is defined }}{{ namespace is defined }}{{ cycler is defined }}", NULL,
	      "TrueTrueTrueFalse");
	/* raise_exception: the error is exactly its message */
	CHECK("{% if false %}{{ raise_exception('no') }}{% endif %}ok", NULL, "ok");
	CHECK("{{ raise_exception('boom: ' ~ 42) }}", NULL, "ERR(-5): boom: 42");
	CHECK("{{ raise_exception('a\\x00b') }}", NULL, "ERR(-5): a\\x00b"); /* a NUL cannot end the message early */
	CHECK("{{ raise_exception('') }}", NULL, "ERR(-5): line 1: raise_exception() with an empty message");
	CHECK_PREFIX("{{ range(1, 2, 0) }}", NULL, "ERR(-5): line 1: range() arg 3 must not be zero");
}

/* ---------------------------------------------------------------- errors and limits */
Test(template, syntax_errors)
{
	CHECK_PREFIX("a\n\n{% for %}", NULL, "PARSE: line 3: ");
	CHECK_PREFIX("{{ 'x' }}\n{{ 'y' ~ }}", NULL, "PARSE: line 2: ");
	CHECK_PREFIX("{% if x %}\n\nno end", NULL, "PARSE: line 2: unexpected end of template, expected 'endif'");
	CHECK_PREFIX("{% endfor %}", NULL, "PARSE: line 1: unexpected 'endfor'");
	CHECK_PREFIX("{% nosuch %}", NULL, "PARSE: line 1: unknown tag 'nosuch'");
	CHECK_PREFIX("{{ 'abc }}", NULL, "PARSE: line 1: ");
	CHECK_PREFIX("{{ (1, 2] }}", NULL, "PARSE: line 1: unexpected ']', expected ')'");
	CHECK_PREFIX("x\n{# never closed", NULL, "PARSE: line 2: Missing end of comment tag");
	CHECK_PREFIX("{% raw %}", NULL, "PARSE: line 1: Missing end of raw directive");
	CHECK_PREFIX("{{ 1 +\n\n 'a' }}", NULL, "ERR(-5): line 1: unsupported operand");
	CHECK_PREFIX("{% macro m(a=1, b) %}{% endmacro %}", NULL, "PARSE: line 1: non-default argument follows default argument");
	CHECK_PREFIX("{% set true = 1 %}", NULL, "PARSE: line 1: can't assign to 'const'");
	CHECK_PREFIX("{% for x in y recursive %}{% endfor %}", NULL, "PARSE: line 1: recursive loops are not supported");
	CHECK_PREFIX("{{ \"\\x4\" }}", NULL, "PARSE: line 1: truncated \\xXX escape");
}

Test(template, limits_stop_hostile_templates)
{
	/* the sandbox's range cap */
	CHECK_PREFIX("{% for i in range(999999999) %}x{% endfor %}", NULL,
		     "ERR(-6): line 1: Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
	/* steps: nested loops of 10^10 passes stop at the cap */
	tmpl_opts o = { .now = REF_NOW, .max_steps = 1000000 };
	char *got = render_opts("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", NULL, &o);
	cr_expect(!strncmp(got, "ERR(-6): line 1: the template took more than 1000000 steps", 58), "%s", got);
	free(got);
	/* the default step cap as well */
	got = render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", NULL);
	cr_expect(!strncmp(got, "ERR(-6): line 1: the template took more than 20000000 steps", 59), "%s", got);
	free(got);
	/* work inside one step counts too: scanning a big string, quadratic builtins */
	o = (tmpl_opts){ .max_steps = 1000000 };
	static const char *const heavy[] = {
		"{% set s = 'x' * 1000000 %}{% for i in range(100000) %}{% if 'y' in s %}{% endif %}{% endfor %}",
		"{% set s = '\xc3\xa9' * 500000 %}{% for i in range(100000) %}{{ s|length }}{% endfor %}",
		"{{ range(100000)|unique|list|length }}",
		"{{ dict(range(100000)|batch(2))|length }}",
		"{% set a = range(100000)|list %}{% for i in range(100000) %}{{ a == a[:] }}{% endfor %}",
		"{% set s = 'ab' * 500000 %}{% for i in range(100000) %}{{ s.rfind('ba') }}{% endfor %}",
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(heavy); i++) {
		got = render_opts(heavy[i], NULL, &o);
		cr_expect(!strncmp(got, "ERR(-6): line 1: the template took more than 1000000 steps", 58), "%s: %s", heavy[i], got);
		free(got);
	}
	/* output: a doubling string */
	o = (tmpl_opts){ .max_output = 1 << 20 };
	got = render_opts("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
			  NULL, &o);
	cr_expect(!strncmp(got, "ERR(-6): ", 9), "%s", got);
	free(got);
	got = render_opts("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", NULL, &o);
	cr_expect(!strncmp(got, "ERR(-6): line 1: output too large (more than 1048576 bytes)", 60), "%s", got);
	free(got);
	got = render_opts("{{ 'x' * 100000000000 }}", NULL, &o);
	cr_expect(!strncmp(got, "ERR(-6): line 1: string repetition too large", 44), "%s", got);
	free(got);
	/* memory */
	o = (tmpl_opts){ .max_memory = 4 << 20 };
	got = render_opts("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}", NULL, &o);
	cr_expect(!strncmp(got, "ERR(-6): line 1: out of memory", 30), "%s", got);
	free(got);
	/* recursion depth */
	got = render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL);
	cr_expect(!strncmp(got, "ERR(-6): line 1: template nested too deeply", 43), "%s", got);
	free(got);
	/* nesting in the source */
	char *deep = malloc(20000);
	strcpy(deep, "{{ ");
	for (int i = 0; i < 5000; i++)
		strcat(deep, "(");
	got = render(deep, NULL);
	cr_expect(!strncmp(got, "PARSE: line 1: ", 15), "%s", got);
	free(got);
	strcpy(deep, "{{ 1");
	for (int i = 0; i < 3000; i++)
		strcat(deep, "+1");
	strcat(deep, " }}");
	got = render(deep, NULL);
	cr_expect_str_eq(got, "PARSE: line 1: template nested too deeply");
	free(got);
	deep[0] = 0;
	for (int i = 0; i < 1000; i++)
		strcat(deep, "{% if 1 %}");
	got = render(deep, NULL);
	cr_expect(!strncmp(got, "PARSE: line 1: template nested too deeply", 40), "%s", got);
	free(got);
	/* a long elif chain is fine: it is a list, not a nesting */
	deep[0] = 0;
	strcat(deep, "{% if x == 0 %}0");
	for (int i = 1; i < 900; i++)
		sprintf(deep + strlen(deep), "{%% elif x == %d %%}%d", i, i);
	strcat(deep, "{% endif %}");
	got = render(deep, "{\"x\": 899}");
	cr_expect_str_eq(got, "899");
	free(got);
	free(deep);
	/* variables nested too deeply are refused, not recursed into */
	char *vars = malloc(4000);
	strcpy(vars, "{\"v\":");
	for (int i = 0; i < 1000; i++)
		strcat(vars, "[");
	for (int i = 0; i < 1000; i++)
		strcat(vars, "]");
	strcat(vars, "}");
	got = render("{{ v }}", vars);
	cr_expect(!strncmp(got, "ERR(", 4), "%s", got);
	free(got);
	free(vars);
	/* values built deeper than printing allows are an error, not a crash */
	got = render("{% set ns = namespace(v=[]) %}{% for i in range(1000) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v }}", NULL);
	cr_expect(!strncmp(got, "ERR(-5): line 1: a value nested too deeply to print", 51), "%s", got);
	free(got);
}

/* ---------------------------------------------------------------- built-ins and models */
Test(template, builtins)
{
	static const char *const names[] = { "chatml", "llama2", "llama3", "mistral", "gemma", "phi3", "qwen2" };
	json_t *convs = conversations();
	for (size_t i = 0; i < SH_ARRAY_LEN(names); i++) {
		const char *src = tmpl_builtin(names[i]);
		cr_assert(src, "%s", names[i]);
		cr_assert(strstr(TMPL_BUILTIN_NAMES, names[i]));
		char err[512], *out;
		size_t n;
		tmpl *t = tmpl_parse(src, strlen(src), err, sizeof err);
		cr_assert(t, "%s: %s", names[i], err);
		cr_expect_eq(tmpl_render_chat(t, json_object_get(convs, "multiturn"), NULL, true, "<s>", "</s>", NULL, &out, &n, err, sizeof err),
			     0, "%s: %s", names[i], err);
		free(out);
		tmpl_free(t);
	}
	cr_expect_null(tmpl_builtin("nosuch"));
	cr_expect_null(tmpl_builtin(NULL));

	/* ChatML, exactly */
	const char *chatml = tmpl_builtin("chatml");
	tmpl *t = tmpl_parse(chatml, strlen(chatml), NULL, 0);
	char err[512], *out;
	size_t n;
	cr_assert_eq(tmpl_render_chat(t, json_object_get(convs, "system"), NULL, true, NULL, NULL, NULL, &out, &n, err, sizeof err), 0);
	cr_expect_str_eq(out, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
			      "<|im_start|>assistant\n");
	free(out);
	tmpl_free(t);

	/* the built-ins render like the published templates they copy */
	static const struct { const char *builtin, *file, *bos, *eos, *conv; } same[] = {
		{ "phi3", "microsoft-Phi-3.5-mini-instruct", "<s>", "<|endoftext|>", "multiturn" },
		{ "gemma", "google-gemma-2-2b-it", "<bos>", "<eos>", "nosystem_multiturn" },
		{ "gemma", "google-gemma-2-2b-it", "<bos>", "<eos>", "hello" },
	};
	for (size_t i = 0; i < SH_ARRAY_LEN(same); i++) {
		char rel[256];
		size_t en;
		snprintf(rel, sizeof rel, "templates/expected/%s.%s.txt", same[i].file, same[i].conv);
		char *want = test_read_file(test_data(rel), &en);
		cr_assert(want);
		const char *src = tmpl_builtin(same[i].builtin);
		t = tmpl_parse(src, strlen(src), err, sizeof err);
		cr_assert_eq(tmpl_render_chat(t, json_object_get(convs, same[i].conv), NULL, true, same[i].bos, same[i].eos, NULL, &out, &n, err,
					      sizeof err), 0, "%s", err);
		cr_expect_str_eq(out, want, "builtin %s", same[i].builtin);
		free(out);
		free(want);
		tmpl_free(t);
	}
	json_decref(convs);
}

static gguf_ctx *open_model(const char *path)
{
	int e = 0;
	gguf_ctx *g = gguf_open(path, &e);
	cr_assert(g, "%s: %s", path, sh_strerror(e));
	return g;
}

static char *chat_hello(const tmpl_chat *c)
{
	json_t *m = json_loads("[{\"role\":\"user\",\"content\":\"Hi\"}]", 0, NULL);
	char err[512], *out = NULL;
	size_t n;
	cr_assert_eq(tmpl_render_chat(c->t, m, NULL, true, c->bos, c->eos, NULL, &out, &n, err, sizeof err), 0, "%s", err);
	json_decref(m);
	return out;
}

Test(template, model_templates)
{
	sh_base_init();
	char err[512];
	tmpl_chat c;
	/* phi-3 carries its template; bos/eos are the texts of its token ids */
	gguf_ctx *g = open_model(test_data("vocab/ggml-vocab-phi-3.gguf"));
	cr_assert_eq(tmpl_chat_init(&c, g, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(c.source, "gguf");
	cr_expect_str_eq(c.bos, "<s>");
	cr_expect_str_eq(c.eos, "<|endoftext|>");
	char *out = chat_hello(&c);
	cr_expect_str_eq(out, "<s><|user|>\nHi<|end|>\n<|assistant|>\n");
	free(out);
	tmpl_chat_free(&c);
	/* an override: a built-in by name */
	cr_assert_eq(tmpl_chat_init(&c, g, "chatml", err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(c.source, "builtin:chatml");
	cr_expect_str_eq(c.bos, "<s>");
	tmpl_chat_free(&c);
	gguf_free(g);

	/* qwen2: its template, and bos == eos == <|endoftext|> in the file */
	g = open_model(test_data("vocab/ggml-vocab-qwen2.gguf"));
	cr_assert_eq(tmpl_chat_init(&c, g, NULL, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(c.eos, "<|endoftext|>");
	out = chat_hello(&c);
	cr_expect_str_eq(out, "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
			      "<|im_start|>assistant\n");
	/* the qwen2 built-in is that template */
	tmpl_chat b;
	cr_assert_eq(tmpl_chat_init(&b, g, "qwen2", err, sizeof err), 0, "%s", err);
	char *out2 = chat_hello(&b);
	cr_expect_str_eq(out2, out);
	free(out2);
	free(out);
	tmpl_chat_free(&b);
	tmpl_chat_free(&c);
	gguf_free(g);

	/* no template in the file: ChatML (and a warning) */
	const char *const plain[] = { test_data("vocab/ggml-vocab-llama-spm.gguf"), TEST_STORIES };
	for (size_t i = 0; i < SH_ARRAY_LEN(plain); i++) {
		g = open_model(plain[i]);
		cr_assert_eq(tmpl_chat_init(&c, g, NULL, err, sizeof err), 0, "%s", err);
		cr_expect_str_eq(c.source, "builtin:chatml");
		cr_expect_str_eq(c.bos, "<s>");
		cr_expect_str_eq(c.eos, "</s>");
		out = chat_hello(&c);
		cr_expect_str_eq(out, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
		free(out);
		tmpl_chat_free(&c);
		gguf_free(g);
	}

	/* a template file; a file that does not parse; a missing file; no model at all */
	cr_assert_eq(tmpl_chat_init(&c, NULL, test_data("templates/google-gemma-2-2b-it.jinja"), err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(c.bos, "");
	cr_expect(strstr(c.source, "gemma"));
	out = chat_hello(&c);
	cr_expect_str_eq(out, "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n");
	free(out);
	tmpl_chat_free(&c);
	char path[] = "/tmp/shoal_tmpl_XXXXXX";
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, "ok\n{% if %}", 11), 11);
	close(fd);
	cr_expect_eq(tmpl_chat_init(&c, NULL, path, err, sizeof err), SH_EINVAL);
	cr_expect(strstr(err, path) && strstr(err, "line 2: "), "%s", err);
	cr_expect_null(c.t);
	unlink(path);
	cr_expect_eq(tmpl_chat_init(&c, NULL, "/nonexistent/x.jinja", err, sizeof err), SH_EIO);
	cr_expect(strstr(err, "/nonexistent/x.jinja"), "%s", err);
	tmpl_chat_free(&c);
	tmpl_chat_free(NULL);
	cr_assert_eq(tmpl_chat_init(&c, NULL, NULL, err, sizeof err), 0);
	cr_expect_str_eq(c.source, "builtin:chatml");
	tmpl_chat_free(&c);
}

/* ---------------------------------------------------------------- threads */
typedef struct { const tmpl *t; const json_t *msgs; const char *want; int ok; } thread_job;

static void *render_many(void *arg)
{
	thread_job *j = arg;
	for (int i = 0; i < 200; i++) {
		char err[256], *out;
		size_t n;
		tmpl_opts o = { .now = REF_NOW };
		if (tmpl_render_chat(j->t, j->msgs, NULL, true, "<|begin_of_text|>", "<|eot_id|>", &o, &out, &n, err, sizeof err) == 0) {
			j->ok += !strcmp(out, j->want);
			free(out);
		}
	}
	return NULL;
}

Test(template, threads_share_a_template)
{
	json_t *convs = conversations();
	tmpl *t = load_template("meta-llama-Llama-3.1-8B-Instruct");
	char *want = test_read_file(test_data("templates/expected/meta-llama-Llama-3.1-8B-Instruct.multiturn.txt"), NULL);
	thread_job jobs[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		jobs[i] = (thread_job){ t, json_object_get(convs, "multiturn"), want, 0 };
		pthread_create(&th[i], NULL, render_many, &jobs[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		cr_expect_eq(jobs[i].ok, 200);
	}
	free(want);
	tmpl_free(t);
	json_decref(convs);
}

Test(template, api_edges)
{
	char err[64], *out = (char *)1;
	size_t n = 7;
	/* a template need not be NUL-terminated; an empty one renders nothing */
	tmpl *t = tmpl_parse("{{ 1 }}XXXX", 7, err, sizeof err);
	cr_assert(t);
	cr_assert_eq(tmpl_render(t, NULL, NULL, &out, &n, err, sizeof err), 0);
	cr_expect_str_eq(out, "1");
	free(out);
	cr_expect_eq(tmpl_render_chat(t, NULL, NULL, true, NULL, NULL, NULL, &out, &n, err, sizeof err), SH_EINVAL);
	json_t *arr = json_array();
	cr_expect_eq(tmpl_render(t, arr, NULL, &out, &n, err, sizeof err), SH_EINVAL);
	json_decref(arr);
	tmpl_free(t);
	t = tmpl_parse("", 0, err, sizeof err);
	cr_assert(t);
	cr_assert_eq(tmpl_render(t, NULL, NULL, &out, &n, err, sizeof err), 0);
	cr_expect_str_eq(out, "");
	cr_expect_eq(n, 0);
	free(out);
	tmpl_free(t);
	tmpl_free(NULL);
	/* a short error buffer gets a truncated, terminated message */
	cr_expect_null(tmpl_parse("{% if %}{% if %}{% if %}", 24, err, 8));
	cr_expect_eq(strlen(err), 7);
	/* a raised message cut to a short buffer ends on a whole character */
	const char *raise4 = "{{ raise_exception('\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9') }}";
	t = tmpl_parse(raise4, strlen(raise4), NULL, 0);
	cr_assert(t);
	cr_assert_eq(tmpl_render(t, NULL, NULL, &out, &n, err, 6), SH_EINVAL);
	cr_expect_str_eq(err, "\xc3\xa9\xc3\xa9");
	tmpl_free(t);
	/* output with NUL bytes keeps them */
	t = tmpl_parse("a{{ s }}b", 9, NULL, 0);
	json_t *v = json_pack("{s:s%}", "s", "x\0y", (size_t)3);
	cr_assert_eq(tmpl_render(t, v, NULL, &out, &n, err, sizeof err), 0);
	cr_expect_eq(n, 5);
	cr_expect(!memcmp(out, "ax\0yb", 5));
	free(out);
	json_decref(v);
	tmpl_free(t);
}
