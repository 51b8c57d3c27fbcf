/*
 * ollama.h - Ollama's API (ollama/ollama docs/api.md) on the node's one generation path:
 * POST /api/chat and POST /api/generate as a dialect (dialect.h), and the answers of GET
 * /api/tags, POST /api/show, GET /api/ps and GET /api/version, made from the model served and
 * the models of the Hugging Face cache. docs/api.md says what each supports.
 *
 * The request parser is a pure function of the body, as openai_request.c's is (fuzzed by
 * tests/fuzz/fuzz_request.c). What needs the node - the model's name (another one is Ollama's
 * 404), the context (a larger options.num_ctx is a 400), and Ollama's answer to a request with
 * nothing to generate (it "loads" the model) - is ollama_precheck's, which the server calls first.
 */
#ifndef SHOAL_OLLAMA_H
#define SHOAL_OLLAMA_H

#include "api/dialect.h"
#include "hub/hub_pull.h"

/* what /api/version answers: an Ollama version whose API this one follows (clients check it) */
#define OLLAMA_VERSION "0.5.0"

/* what the generation path honours beyond plain text (ollama_request_parse's accept): until it
 * does, a request asking for it is a 400 "not supported yet" */
#define OLLAMA_ACCEPT_FORMAT 1u      /* structured output: req->format and req->schema */

extern const api_dialect api_ollama;

typedef struct {
	bool load_only;           /* no messages, or an empty prompt: nothing to generate */
	int64_t num_ctx;          /* options.num_ctx; 0: not given */
} ollama_extra;

/* /api/chat (kind API_CHAT) or /api/generate (API_COMPLETION) body[0..len) to req: 0, or a
 * negative code and err (400, or 503 out of memory). A generate request without raw is rendered
 * with the chat template: req->kind is then API_CHAT with messages [system?, user]. With
 * x->load_only req has neither messages nor a prompt. api_request_free either way. */
int ollama_request_parse(enum api_kind kind, const char *body, size_t len, const api_limits *lim, unsigned accept,
			 api_request *req, api_error *err, ollama_extra *x);

/* whether a client naming `asked` means the model served as `served`: the same name, with
 * ":latest" appended, or with Ollama's hf.co/ (huggingface.co/) in front */
bool ollama_model_is(const char *served, const char *asked);

/* the model served, as these answers show it */
typedef struct {
	const char *id;           /* its name (/v1/models' id) */
	const char *path;         /* its GGUF file, or NULL: the details of a model served by path */
	int n_ctx, n_layers, n_vocab;
	time_t created;
} ollama_served;

/* Before generating: 0 to go on (the dialect's parse reports what is wrong with the body); -1 and
 * err: a model other than the one served (404) or options.num_ctx beyond s->n_ctx (400); 1 and
 * *answer (a new object): Ollama's answer to a request with nothing to generate, done_reason
 * "load" (the model is loaded: it always is). */
int ollama_precheck(enum api_kind kind, const char *body, size_t len, const api_limits *lim, const ollama_served *s,
		    api_error *err, json_t **answer);

/* GET /api/tags: the model served, then the cache's m[0..n) (hc: the cache they are in) */
json_t *ollama_tags(const ollama_served *s, const hub_cache *hc, const hub_cached *m, int n);
/* GET /api/ps: the model served */
json_t *ollama_ps(const ollama_served *s, const hub_cache *hc, const hub_cached *m, int n);
/* POST /api/show {"model"} (or "name"; "verbose" accepted): the model served or one of the
 * cache's, or NULL and err (400 for a body that is not such an object, 404 for another model) */
json_t *ollama_show(const ollama_served *s, const hub_cache *hc, const hub_cached *m, int n, const char *body,
		    size_t len, api_error *err);
/* GET /api/version */
json_t *ollama_version(void);

#endif
