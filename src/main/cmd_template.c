/*
 * cmd_template.c - `shoal template`: renders a conversation through a chat template and prints
 * the prompt exactly (add_generation_prompt on unless --no-generation-prompt; nothing added at
 * the end). The template is the model's (-m, read from its GGUF metadata only, no weights
 * touched), a template file (--template-file), or a built-in / file override (--chat-template);
 * --bos / --eos set the special-token texts (a model supplies its own); --now EPOCH fixes the clock
 * strftime_now reads (reproducible prompts); --tools FILE.json gives the template an OpenAI tools
 * array, as apply_chat_template(messages, tools=...) does (without it the template sees None).
 * --messages and --tools each take a JSON array or a request body holding it. A template that
 * fails or raises prints its message as one error line on stderr and the command exits non-zero.
 */
#include "main/cmds.h"
#include "template/tmpl.h"

#include <stdio.h>
#include <stdlib.h>

/* the message on one line: control characters become spaces */
static void log_one_line(const char *msg)
{
	char buf[1024];
	size_t n = 0;
	for (; msg[n] && n + 1 < sizeof buf; n++)
		buf[n] = (unsigned char)msg[n] < 0x20 || msg[n] == 0x7F ? ' ' : msg[n];
	buf[n] = '\0';
	sh_log_error("%s", buf);
}

/* path's JSON: an array, or an object (a request body) whose member key is one. *doc gets the
 * document (the caller frees it, also on failure) and *list the array; an error is logged. */
static bool read_json_list(const char *path, const char *key, json_t **doc, json_t **list)
{
	char *text;
	size_t len;
	int err = sh_file_read(path, 64u << 20, &text, &len);
	if (err) {
		sh_log_error("%s: %s", path, sh_file_error(err));
		return false;
	}
	json_error_t je;
	*doc = json_loadb(text, len, 0, &je);
	free(text);
	if (!*doc) {
		sh_log_error("%s: line %d column %d: %s", path, je.line, je.column, je.text);
		return false;
	}
	*list = json_is_object(*doc) ? json_object_get(*doc, key) : *doc;
	if (!json_is_array(*list)) {
		sh_log_error("%s: not a JSON array of %s", path, key);
		return false;
	}
	return true;
}

int cmd_template(int argc, char **argv)
{
	const char *model = NULL, *file = NULL, *override = NULL, *messages = NULL, *tools = NULL, *bos = NULL,
		   *eos = NULL;
	bool no_gen_prompt = false;
	long now = 0;
	const opt table[] = {
		OPTS_STR("--model", "-m", "MODEL", &model, "take the template and its special tokens from this GGUF file "
							 "(its metadata only)"),
		OPTS_STR("--template-file", NULL, "FILE", &file, "a Jinja chat template file instead of a model"),
		OPTS_STR("--chat-template", NULL, "NAME|FILE", &override,
			 "override the model's template: a built-in (chatml, llama2, llama3, mistral, gemma, phi3, qwen2) "
			 "or a Jinja file"),
		OPTS_STR_REQUIRED("--messages", NULL, "FILE.json", &messages,
				  "the conversation: a JSON array of {role, content} (or a request body with messages)"),
		OPTS_STR("--tools", NULL, "FILE.json", &tools,
			 "the tools the template is given: an OpenAI tools array of {type: function, function: {name, "
			 "description, parameters}} (or a request body with tools); default: none"),
		OPTS_STR("--bos", NULL, "TEXT", &bos, "the template's bos_token (default: the model's, else empty)"),
		OPTS_STR("--eos", NULL, "TEXT", &eos, "the template's eos_token (default: the model's, else empty)"),
		OPTS_INT("--now", NULL, "EPOCH", &now, 1, 1L << 40,
			 "the time strftime_now sees, in seconds since 1970, for reproducible prompts (default: now)"),
		OPTS_FLAG("--no-generation-prompt", NULL, &no_gen_prompt, "do not open the assistant's turn at the end"),
		OPTS_DONE,
	};
	const opts_cmd cmd = { "template", "(-m MODEL | --template-file FILE) --messages FILE.json [options]",
			       "Prints the prompt a conversation renders to through a chat template, exactly (nothing "
			       "added at the end), as Hugging Face's apply_chat_template renders it: how to check a "
			       "template. A template that fails or raises prints its message on stderr.",
			       table };
	int prc = opts_parse(&cmd, argc, argv);
	if (prc)
		return prc == OPTS_HELP ? 0 : 1;
	if ((!model && !file && !override) || (model && file) || (file && override)) {
		sh_log_error("template: give one template: -m MODEL (optionally with --chat-template), --template-file FILE "
			     "or --chat-template NAME|FILE");
		return 1;
	}
	bool gen_prompt = !no_gen_prompt;

	int rc = 1, err = 0;
	gguf_ctx *g = NULL;
	tmpl_chat chat = { 0 };
	json_t *msgs_doc = NULL, *tools_doc = NULL, *msgs, *tool_list = NULL;
	char *out = NULL, msg[1024];
	size_t n;
	if (model && !(g = gguf_open(model, &err)))
		goto done;
	if (tmpl_chat_init(&chat, g, file ? file : override, msg, sizeof msg)) {
		log_one_line(msg);
		goto done;
	}
	if (!read_json_list(messages, "messages", &msgs_doc, &msgs) ||
	    (tools && !read_json_list(tools, "tools", &tools_doc, &tool_list)))
		goto done;
	tmpl_opts o = { .now = (time_t)now };
	if (tmpl_render_chat(chat.t, msgs, tool_list, gen_prompt, bos ? bos : chat.bos, eos ? eos : chat.eos, &o, &out,
				   &n, msg, sizeof msg)) {
		log_one_line(msg);
		goto done;
	}
	rc = fwrite(out, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 1;
	if (rc)
		sh_log_error("template: cannot write the output");
done:
	free(out);
	json_decref(msgs_doc);
	json_decref(tools_doc);
	tmpl_chat_free(&chat);
	gguf_free(g);
	return rc;
}
