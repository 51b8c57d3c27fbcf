/*
 * tmpl_chat.c - the public side of the template engine: parse/free/render, the chat render
 * (the variables HF's apply_chat_template passes), built-in templates, and a model's template.
 *
 * tmpl_render_chat passes what transformers passes to the template: messages (as given: a
 * content that is a list of parts stays a list, a tool call's arguments stay an object or a
 * string, as HF leaves them), tools (None, or the array of tool objects as given: HF passes a
 * dict tool unchanged, so templates see OpenAI's {"type": "function", "function": {...}}),
 * documents=None, add_generation_prompt, bos_token, eos_token. The tool-call family is decided once, by the parser's check walk
 * (tmpl_tools_family_of reads it).
 *
 * A model's template is its `tokenizer.chat_template`; its special-token texts are the entries
 * of tokenizer.ggml.tokens at tokenizer.ggml.bos_token_id / eos_token_id. A model without a
 * template gets ChatML and one warning line. An override is a built-in name or a file.
 */
#include "template/tmpl_impl.h"

#include <stdio.h>
#include <stdlib.h>

tmpl *tmpl_parse(const char *src, size_t len, char *err, size_t errlen)
{
	tmpl *t = calloc(1, sizeof *t);
	int n = 0;
	if (errlen)
		err[0] = '\0';
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tm_token *toks = tm_lex(src, len, &t->a, &n, err, errlen);
	if (toks) {
		t->root = tm_parse(toks, n, &t->a, &t->tools, err, errlen);
		free(toks);
	}
	if (!t->root) {
		tmpl_free(t);
		return NULL;
	}
	return t;
}

void tmpl_free(tmpl *t)
{
	if (!t)
		return;
	tm_arena_free(&t->a);
	free(t);
}

int tmpl_render(const tmpl *t, const json_t *vars, const tmpl_opts *o, char **out, size_t *out_len, char *err, size_t errlen)
{
	return tm_render(t, vars, o, out, out_len, err, errlen);
}

tmpl_tools_family tmpl_tools_family_of(const tmpl *t) { return t ? t->tools : TMPL_TOOLS_NONE; }

/* HF's check of the tools it is given: a list of dicts (a Python function it would convert has no
 * JSON form) */
static bool tools_ok(const json_t *tools, char *err, size_t errlen)
{
	if (!json_is_array(tools)) {
		snprintf(err, errlen, "tools: not an array of tool objects");
		return false;
	}
	for (size_t i = 0; i < json_array_size(tools); i++)
		if (!json_is_object(json_array_get(tools, i))) {
			snprintf(err, errlen, "tools[%zu]: not an object (a tool is {\"type\": \"function\", \"function\": {...}})", i);
			return false;
		}
	return true;
}

int tmpl_render_chat(const tmpl *t, const json_t *messages, const json_t *tools, bool add_generation_prompt,
		     const char *bos, const char *eos, const tmpl_opts *o, char **out, size_t *out_len, char *err,
		     size_t errlen)
{
	*out = NULL;
	if (!messages) {
		snprintf(err, errlen, "no messages");
		return SH_EINVAL;
	}
	if (tools && !tools_ok(tools, err, errlen))
		return SH_EINVAL;
	json_t *vars = json_object();
	bos = bos ? bos : "";
	eos = eos ? eos : "";
	/* token texts need not be valid UTF-8: keep their bytes */
	if (!vars || json_object_set(vars, "messages", (json_t *)messages) ||
	    json_object_set(vars, "tools", tools ? (json_t *)tools : json_null()) ||
	    json_object_set_new(vars, "documents", json_null()) ||
	    json_object_set_new(vars, "add_generation_prompt", json_boolean(add_generation_prompt)) ||
	    json_object_set_new(vars, "bos_token", json_stringn_nocheck(bos, strlen(bos))) ||
	    json_object_set_new(vars, "eos_token", json_stringn_nocheck(eos, strlen(eos)))) {
		json_decref(vars);
		snprintf(err, errlen, "out of memory");
		return SH_ENOMEM;
	}
	int rc = tm_render(t, vars, o, out, out_len, err, errlen);
	json_decref(vars);
	return rc;
}

/* ---------------------------------------------------------------- built-in templates */
/* the templates these model families publish (Gemma's takes a system message into the first
 * user turn, as Gemma 3's does, instead of raising as Gemma 2's does) */
static const struct { const char *name, *src; } builtins[] = {
	{ "chatml",
	  "{%- for message in messages -%}\n"
	  "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
	  "{%- endfor -%}\n"
	  "{%- if add_generation_prompt -%}\n"
	  "{{- '<|im_start|>assistant\\n' -}}\n"
	  "{%- endif -%}\n" },
	{ "llama2",
	  "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
	  "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
	  "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
	  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
	  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
	  "{% if loop.index0 == 0 and system_message != false %}"
	  "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
	  "{% else %}{% set content = message['content'] %}{% endif %}"
	  "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
	  "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}" },
	{ "llama3",
	  "{% set loop_messages = messages %}{% for message in loop_messages %}"
	  "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
	  "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
	  "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}" },
	{ "mistral",
	  "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
	  "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}"
	  "{{- bos_token }}{%- for message in loop_messages %}"
	  "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
	  "{{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}"
	  "{%- endif %}{%- if message['role'] == 'user' %}{%- if loop.first and system_message is defined %}"
	  "{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}{%- else %}"
	  "{{- ' [INST] ' + message['content'] + ' [/INST]' }}{%- endif %}"
	  "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token}}{%- else %}"
	  "{{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}"
	  "{%- endif %}{%- endfor %}" },
	{ "gemma",
	  "{{ bos_token }}{%- if messages[0]['role'] == 'system' -%}"
	  "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}{%- set loop_messages = messages[1:] -%}"
	  "{%- else -%}{%- set first_user_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}"
	  "{%- for message in loop_messages -%}{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
	  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif -%}"
	  "{%- if (message['role'] == 'assistant') -%}{%- set role = 'model' -%}{%- else -%}"
	  "{%- set role = message['role'] -%}{%- endif -%}"
	  "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\\n' }}"
	  "{%- endfor -%}{%- if add_generation_prompt -%}{{'<start_of_turn>model\\n'}}{%- endif -%}" },
	{ "phi3",
	  "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
	  "{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}"
	  "{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}"
	  "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
	  "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}" },
	{ "qwen2",
	  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
	  "{{ '<|im_start|>system\\nYou are a helpful assistant<|im_end|>\\n' }}{% endif %}"
	  "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
	  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}" },
};

const char *tmpl_builtin(const char *name)
{
	for (size_t i = 0; name && i < SH_ARRAY_LEN(builtins); i++)
		if (!strcmp(name, builtins[i].name))
			return builtins[i].src;
	return NULL;
}

/* ---------------------------------------------------------------- a model's template */
/* the text of token id (kv key_id) as a malloc'd string; "" when absent or out of range */
static char *token_text(const gguf_ctx *g, const char *key_id)
{
	uint32_t id = 0;
	const gguf_kv *toks = g ? gguf_kv_find(g, "tokenizer.ggml.tokens") : NULL;
	gguf_str s = { "", 0 };
	if (toks && toks->type == GGUF_T_ARRAY && toks->arr_type == GGUF_T_STRING && gguf_get_u32(g, key_id, &id) &&
	    id < toks->arr_n)
		s = gguf_arr_str(g, toks, id);
	char *out = malloc(s.len + 1);
	if (out) {
		if (s.len)
			memcpy(out, s.ptr, s.len);
		out[s.len] = '\0';
	}
	return out;
}

/* a whole template file (a template is text: capped at 16 MiB) */
static char *read_template_file(const char *path, size_t *len, char *err, size_t errlen)
{
	char *buf;
	int rc = sh_file_read(path, 16u << 20, &buf, len);
	if (rc == SH_EIO)
		snprintf(err, errlen, "%s: cannot open (not a built-in template either: %s)", path, TMPL_BUILTIN_NAMES);
	else if (rc)
		snprintf(err, errlen, "%s: %s", path, rc == SH_ERANGE ? "larger than 16 MiB" : sh_file_error(rc));
	return rc ? NULL : buf;
}

int tmpl_chat_init(tmpl_chat *c, const gguf_ctx *g, const char *override, char *err, size_t errlen)
{
	memset(c, 0, sizeof *c);
	if (errlen)
		err[0] = '\0';
	c->bos = token_text(g, "tokenizer.ggml.bos_token_id");
	c->eos = token_text(g, "tokenizer.ggml.eos_token_id");
	if (!c->bos || !c->eos) {
		snprintf(err, errlen, "out of memory");
		tmpl_chat_free(c);
		return SH_ENOMEM;
	}
	const char *src = NULL;
	size_t len = 0;
	char *file = NULL;
	gguf_str gs;
	if (override && tmpl_builtin(override)) {
		src = tmpl_builtin(override);
		len = strlen(src);
		snprintf(c->source, sizeof c->source, "builtin:%s", override);
	} else if (override) {
		if (!(file = read_template_file(override, &len, err, errlen))) {
			tmpl_chat_free(c);
			return SH_EIO;
		}
		src = file;
		snprintf(c->source, sizeof c->source, "%s", override);
	} else if (g && gguf_get_str(g, "tokenizer.chat_template", &gs)) {
		src = gs.ptr;
		len = (size_t)gs.len;
		snprintf(c->source, sizeof c->source, "gguf");
	} else {
		if (g)
			sh_log_warn("%s: no tokenizer.chat_template in the model, using ChatML", g->path ? g->path : "model");
		else
			sh_log_warn("no model and no chat template given, using ChatML");
		src = tmpl_builtin("chatml");
		len = strlen(src);
		snprintf(c->source, sizeof c->source, "builtin:chatml");
	}
	char perr[512];
	c->t = tmpl_parse(src, len, perr, sizeof perr);
	free(file);
	if (!c->t) {
		snprintf(err, errlen, "%s: %s", c->source, perr);
		tmpl_chat_free(c);
		return SH_EINVAL;
	}
	return 0;
}

void tmpl_chat_free(tmpl_chat *c)
{
	if (!c)
		return;
	tmpl_free(c->t);
	free(c->bos);
	free(c->eos);
	c->t = NULL;
	c->bos = c->eos = NULL;
}
