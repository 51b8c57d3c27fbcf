/*
 * fuzz_request.c - libFuzzer target for the request parsers/validators: OpenAI's
 * (api_request_parse), Ollama's (ollama_request_parse, /api/chat and /api/generate) and
 * Anthropic's (anthropic_request_parse), the functions that turn an untrusted HTTP body into a
 * request struct or an error object.
 *
 * Each input is parsed as a chat and as a completions body by each (Ollama's and Anthropic's
 * also with structured output accepted), and through ollama_precheck. A rejected input must come with a
 * 4xx/5xx status and an error object that serializes (its message valid UTF-8); an accepted one
 * must satisfy the validator's promises: stop strings non-empty and bounded, sampling values in
 * range, messages normalized to {role, content: string}, token prompts within the vocabulary; and
 * its response shapes must serialize. The input also goes through the UTF-8 repair (its output
 * must be valid) and the stop-string scan (a match or the safe point within bounds).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/anthropic.h"
#include "api/ollama.h"
#include "api/openai.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

static void check_serializes(json_t *j)
{
	CHECK(j);
	char *s = json_dumps(j, JSON_COMPACT);
	CHECK(s);
	free(s);
	json_decref(j);
}

static void check_accepted(const api_request *r)
{
	const sched_params *p = &r->sp;
	CHECK(p->max_tokens >= 0);
	CHECK(p->n_stop >= 0 && p->n_stop <= SCHED_MAX_STOP);
	for (int i = 0; i < p->n_stop; i++) {
		size_t n = strlen(p->stop[i]);
		CHECK(n > 0 && n <= SCHED_STOP_MAX_LEN);
		CHECK(text_utf8_valid(p->stop[i], n));
	}
	CHECK(p->sp.temp >= 0 && p->sp.temp <= 2 && p->sp.top_p >= 0 && p->sp.top_p <= 1);
	CHECK(p->sp.min_p >= 0 && p->sp.min_p <= 1 && p->sp.top_k >= 0);
	if (r->kind == API_CHAT) {
		CHECK(json_array_size(r->messages) > 0);
		size_t i;
		json_t *m;
		json_array_foreach(r->messages, i, m) {
			CHECK(json_is_string(json_object_get(m, "role")));
			CHECK(json_is_string(json_object_get(m, "content")));
		}
	} else if (r->prompt_ids) {
		CHECK(r->n_prompt_ids > 0);
		for (int i = 0; i < r->n_prompt_ids; i++)
			CHECK(r->prompt_ids[i] >= 0 && r->prompt_ids[i] < 512);
	} else {
		CHECK(r->prompt && strlen(r->prompt) == r->prompt_len);
	}
	api_resp_meta m = { .kind = r->kind, .id = "x", .created = 1, .model = r->model };
	const char *text = r->prompt ? r->prompt : "";
	check_serializes(api_response(&m, text, strlen(text), SCHED_FINISH_STOP, 1, 2, NULL));
	check_serializes(api_chunk(&m, text, strlen(text), true, SCHED_RUNNING, true, NULL));
}

static void check_rejected(int rc, const api_error *e, const api_dialect *d)
{
	CHECK(rc < 0 && e->status >= 400 && e->status < 600 && e->message[0]);
	CHECK(text_utf8_valid(e->message, strlen(e->message)));
	check_serializes(api_error_json(e));
	check_serializes(d->error_json(e));
}

/* a dialect's answers to an accepted request serialize, whole and streamed */
static void check_dialect(const api_dialect *d, const api_request *r, enum api_kind kind)
{
	api_resp_meta m = { .kind = kind, .id = "chatcmpl-x", .created = 1, .model = r->model };
	const char *text = r->prompt ? r->prompt : "";
	json_error_t je;
	json_t *calls = json_loads("[{\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
				   "\"arguments\":\"{}\"}}]", 0, &je);
	api_done dn = { .text = text, .len = strlen(text), .finish = SCHED_FINISH_STOP, .n_prompt = 1, .n_gen = 2,
			.calls = r->tools ? calls : NULL };
	check_serializes(d->response(&m, &dn, NULL));
	text_buf out = { 0 };
	CHECK(d->stream_start(&m, &out) == 0 && d->stream_text(&m, text, strlen(text), NULL, &out) == 0);
	CHECK(!r->tools || d->stream_calls(&m, calls, 0, &out) == 0);
	CHECK(d->stream_end(&m, &dn, &out) == 0);
	CHECK(text_utf8_valid(out.p, out.len));
	text_buf_free(&out);
	json_decref(calls);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const api_limits lim = { .n_vocab = 512 };
	for (int k = 0; k < 2; k++) {
		api_request r;
		api_error e;
		int rc = api_request_parse(k ? API_COMPLETION : API_CHAT, (const char *)data, size, &lim, &r, &e);
		if (rc == 0) {
			check_accepted(&r);
		} else {
			CHECK(rc < 0 && e.status >= 400 && e.status < 600 && e.message[0]);
			CHECK(text_utf8_valid(e.message, strlen(e.message)));
			check_serializes(api_error_json(&e));
		}
		api_request_free(&r);
	}
	for (int k = 0; k < 4; k++) {
		enum api_kind kind = k & 1 ? API_COMPLETION : API_CHAT;
		api_request r;
		api_error e;
		ollama_extra x;
		int rc = ollama_request_parse(kind, (const char *)data, size, &lim, k & 2 ? OLLAMA_ACCEPT_FORMAT : 0, &r, &e, &x);
		if (rc == 0 && !x.load_only) {
			check_accepted(&r);
			check_dialect(&api_ollama, &r, kind);
		} else if (rc == 0) {
			CHECK(!r.messages && !r.prompt);
		} else {
			check_rejected(rc, &e, &api_ollama);
		}
		api_request_free(&r);
		if (k < 2) {
			const ollama_served sv = { .id = "m", .n_ctx = 64, .n_layers = 1, .n_vocab = 512 };
			json_t *answer = NULL;
			int pc = ollama_precheck(kind, (const char *)data, size, &lim, &sv, &e, &answer);
			CHECK(pc == 0 || (pc < 0 && !answer && (e.status == 404 || e.status == 400)) || (pc > 0 && answer));
			if (answer)
				check_serializes(answer);
		}
	}
	for (int k = 0; k < 2; k++) {
		api_request r;
		api_error e;
		int rc = anthropic_request_parse((const char *)data, size, &lim, k ? ANTHROPIC_ACCEPT_FORMAT : 0, &r, &e);
		if (rc == 0) {
			CHECK(r.kind == API_CHAT && r.sp.max_tokens > 0 && r.sp.sp.temp <= 1);
			check_accepted(&r);
			check_dialect(&api_anthropic, &r, API_CHAT);
		} else {
			check_rejected(rc, &e, &api_anthropic);
		}
		api_request_free(&r);
	}

	text_buf b = { 0 };
	CHECK(text_utf8_repair(&b, (const char *)data, size) == 0);
	CHECK(text_utf8_valid(b.p, b.len) && b.len >= size);
	if (size > 2) {
		/* the first byte picks a stop string length from the input's head */
		size_t sl = 1 + data[0] % 8;
		if (sl + 1 <= size) {
			char stop[16];
			memcpy(stop, data + 1, sl);
			stop[sl] = 0;
			if (strlen(stop) == sl) {
				char *stops[1] = { stop };
				size_t safe, from = data[0] % (size + 1);
				int which;
				long m = text_stop_scan((const char *)data, size, from, stops, 1, &safe, &which);
				CHECK(which == (m >= 0 ? 0 : -1));
				CHECK(m == -1 || ((size_t)m >= from && (size_t)m + sl <= size && !memcmp(data + m, stop, sl)));
				CHECK(m >= 0 || (safe <= size && (safe >= from || safe == size)));
			}
		}
	}
	text_buf_free(&b);
	return 0;
}
