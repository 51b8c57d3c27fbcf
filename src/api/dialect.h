/*
 * dialect.h - one API's shapes over the one generation path of server.c: how its request body
 * becomes an api_request, and how a generation's events become its response, streamed or whole.
 * OpenAI's (openai_response.c) is one; Ollama's and Anthropic's are others. server.c does the rest
 * alike for all of them: the model's readiness, the prompt, the scheduler, waiting, the client
 * leaving, logging.
 *
 * A stream is a sequence of byte strings each appended to out: start once, text for each piece of
 * new text (with the logprobs of its tokens when asked) and calls for each tool call as it
 * completes (tools.h finds them in the text), then end (the request ended well) or error (it was
 * aborted). The whole answer is one JSON object. Errors found before generating are
 * error_json with the api_error's status.
 */
#ifndef SHOAL_DIALECT_H
#define SHOAL_DIALECT_H

#include "api/openai.h"

/* what a response knows of the generation when it ends */
typedef struct {
	const char *text;        /* the whole text (whole answers) */
	size_t len;
	enum sched_finish finish;
	const char *stop;        /* the stop string that ended it, or NULL */
	int n_prompt, n_gen;
	double t_submit, t_first, t_last;  /* sh_time_sec() */
	json_t *nodes;           /* the nodes that computed it (borrowed), or NULL */
	json_t *calls;           /* the tool calls it made, OpenAI's shape (borrowed), or NULL: none */
} api_done;

typedef struct {
	const char *name;        /* "openai", ... (logs) */
	int (*parse)(enum api_kind kind, const char *body, size_t len, const api_limits *lim, api_request *req,
		     api_error *err);
	const char *stream_type; /* the stream's Content-Type */
	int (*stream_start)(const api_resp_meta *m, text_buf *out);
	/* lp: the logprobs of the text's tokens (taken over) or NULL */
	int (*stream_text)(const api_resp_meta *m, const char *text, size_t len, json_t *lp, text_buf *out);
	/* tool calls complete now (an array of OpenAI calls, borrowed), the first numbered index */
	int (*stream_calls)(const api_resp_meta *m, json_t *calls, int index, text_buf *out);
	int (*stream_end)(const api_resp_meta *m, const api_done *d, text_buf *out);
	int (*stream_error)(const api_resp_meta *m, const api_error *e, text_buf *out);
	json_t *(*response)(const api_resp_meta *m, const api_done *d, json_t *lp);
	json_t *(*error_json)(const api_error *e);
	bool chat_logprobs;      /* lp in the chat shape on every route (else the route's own) */
} api_dialect;

extern const api_dialect api_openai;

#endif
