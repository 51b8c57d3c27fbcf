/*
 * cmd_template.c - `shoal template`: renders a conversation through a chat template and prints
 * the prompt exactly (add_generation_prompt on unless --no-generation-prompt; nothing added at
 * the end). The template is the model's (-m, read from its GGUF metadata only, no weights
 * touched), a template file (--template-file), or a built-in / file override (--chat-template);
 * --bos / --eos set the special-token texts (a model supplies its own); --now EPOCH fixes the clock
 * strftime_now reads (reproducible prompts). A template that fails or raises prints its message
 * as one error line on stderr and the command exits non-zero.
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

int cmd_template(int argc, char **argv)
{
	const char *model = NULL, *file = NULL, *override = NULL, *messages = NULL, *bos = NULL, *eos = NULL;
	bool gen_prompt = true;
	long now = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool ok = true;
		if (!strcmp(a, "-m") || !strcmp(a, "--model"))
			ok = (model = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--template-file"))
			ok = (file = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--chat-template"))
			ok = (override = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--messages"))
			ok = (messages = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--bos"))
			ok = (bos = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--eos"))
			ok = (eos = opt_value(argc, argv, &i)) != NULL;
		else if (!strcmp(a, "--now"))
			ok = opt_int(argc, argv, &i, 1, 1L << 40, &now);
		else if (!strcmp(a, "--no-generation-prompt"))
			gen_prompt = false;
		else {
			sh_log_error("template: unknown option '%s'", a);
			ok = false;
		}
		if (!ok)
			return 1;
	}
	if (!messages || (!model && !file && !override) || (model && file) || (file && override)) {
		sh_log_error("usage: shoal template (-m MODEL | --template-file F [--bos B] [--eos E]) --messages FILE.json "
			     "[--chat-template NAME|FILE] [--no-generation-prompt] [--now EPOCH]");
		return 1;
	}

	int rc = 1, err = 0;
	gguf_ctx *g = NULL;
	tmpl_chat chat = { 0 };
	json_t *msgs = NULL;
	char *text = NULL, *out = NULL, msg[1024];
	size_t len, n;
	if (model && !(g = gguf_open(model, &err)))
		goto done;
	if (tmpl_chat_init(&chat, g, file ? file : override, msg, sizeof msg)) {
		log_one_line(msg);
		goto done;
	}
	if (!(text = file_read_all(messages, &len)))
		goto done;
	json_error_t je;
	if (!(msgs = json_loadb(text, len, 0, &je))) {
		sh_log_error("%s: line %d column %d: %s", messages, je.line, je.column, je.text);
		goto done;
	}
	json_t *list = json_is_object(msgs) ? json_object_get(msgs, "messages") : msgs; /* a request body works too */
	if (!json_is_array(list)) {
		sh_log_error("%s: not a JSON array of messages", messages);
		goto done;
	}
	tmpl_opts o = { .now = (time_t)now };
	if (tmpl_render_chat(chat.t, list, gen_prompt, bos ? bos : chat.bos, eos ? eos : chat.eos, &o, &out, &n, msg, sizeof msg)) {
		log_one_line(msg);
		goto done;
	}
	rc = fwrite(out, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 1;
	if (rc)
		sh_log_error("template: cannot write the output");
done:
	free(out);
	free(text);
	json_decref(msgs);
	tmpl_chat_free(&chat);
	gguf_free(g);
	return rc;
}
