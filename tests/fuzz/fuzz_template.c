/*
 * fuzz_template.c - libFuzzer target for the chat-template interpreter.
 *
 * Each input is template source. It is parsed; a template that parses is rendered twice with a
 * fixed conversation: as a chat (tmpl_render_chat) and with HF's full variable set including
 * tools with nested JSON schemas and an assistant tool call (tmpl_render), under small caps so
 * that every run is quick (the caps themselves are what stop loops and blow-ups). A failure must
 * come with a message and no output; a success with a NUL-terminated output of the stated length.
 * Seeds: the real templates (the .jinja files of tests/data/templates); tests/fuzz/template.dict
 * lists the language's tokens.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "template/tmpl.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

static json_t *messages, *vars;

static const char conversation[] =
	"[{\"role\":\"system\",\"content\":\"Be brief.\"},"
	"{\"role\":\"user\",\"content\":\"Name a fish \\u2014 in \\u00e9moji \\ud83d\\udc1f?\"},"
	"{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call12345\",\"type\":\"function\","
	"\"function\":{\"name\":\"lookup\",\"arguments\":{\"q\":\"fish\",\"n\":3}}}]},"
	"{\"role\":\"tool\",\"tool_call_id\":\"call12345\",\"content\":\"salmon\"},"
	"{\"role\":\"assistant\",\"content\":\"Salmon.\"},"
	"{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Another\\none.\"}]}]";

static const char tools[] =
	"[{\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"description\":\"Looks things up.\","
	"\"parameters\":{\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"},\"n\":{\"type\":\"integer\","
	"\"minimum\":1.5e0}},\"required\":[\"q\"]}}}]";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	sh_base_init();
	sh_log_set_level(-1);
	messages = json_loads(conversation, 0, NULL);
	CHECK(messages);
	vars = json_pack("{s:O,s:o,s:b,s:s,s:s,s:n,s:s}", "messages", messages, "tools", json_loads(tools, 0, NULL),
			 "add_generation_prompt", 1, "bos_token", "<s>", "eos_token", "</s>", "documents", "date_string",
			 "26 Jul 2024");
	CHECK(vars);
	return 0;
}

static void check_result(int rc, char *out, size_t n, const char *err)
{
	if (rc) {
		CHECK(rc < 0 && !out && err[0]);
		return;
	}
	CHECK(out && out[n] == '\0' && n <= (1 << 20));
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	tmpl *t = tmpl_parse((const char *)data, size, err, sizeof err);
	if (!t) {
		CHECK(err[0]);
		return 0;
	}
	tmpl_opts o = { .now = 1721995200, .max_output = 1 << 20, .max_memory = 64 << 20, .max_steps = 100000 };
	char *out = NULL;
	size_t n = 0;
	int rc = tmpl_render_chat(t, messages, NULL, true, "<s>", "</s>", &o, &out, &n, err, sizeof err);
	check_result(rc, out, n, err);
	out = NULL;
	rc = tmpl_render(t, vars, &o, &out, &n, err, sizeof err);
	check_result(rc, out, n, err);
	tmpl_free(t);
	return 0;
}
