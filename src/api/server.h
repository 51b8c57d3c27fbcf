/*
 * server.h - the HTTP server of a node: the OpenAI-compatible API, Anthropic's and Ollama's over
 * the slot scheduler (one generation path: dialect.h; every field: docs/api.md).
 *
 *   POST /v1/chat/completions   chat (rendered with the model's template), JSON or SSE stream
 *   POST /v1/completions        raw prompt, JSON or SSE stream
 *   POST /v1/messages           Anthropic's Messages API (anthropic.h)
 *   POST /api/chat, /api/generate   Ollama's, NDJSON stream (ollama.h); GET /api/tags, /api/ps,
 *                               /api/version, POST /api/show; /api/embed 501
 *   GET  /v1/models             the one model; GET /v1/models/{id}
 *   GET  /health                200 {"status":"ok"} while serving (never needs the API key)
 *   GET  /metrics               Prometheus text: requests by status, tokens, tokens/s, queue, slots
 *   GET  /v1/topology           the cluster: nodes, their layers and memory, links (when given)
 *   GET  /, /ui/FILE            the web UI (web.h; docs/web.md), or for a program the routes as JSON
 *   GET  /api/shoal/models      the model served and the models in the cache (the web UI's)
 *   POST /api/pull              Ollama's pull: the model pulled in the background, NDJSON progress
 *   POST /api/shoal/switch      serve another model (the whole cluster), NDJSON progress
 *
 * libmicrohttpd runs one thread per connection, so a handler may block: it tokenizes, submits to
 * the scheduler and waits on its request (a stream's content callback waits for the next text).
 * While waiting it polls the client's socket, so a client that goes away (mid-stream, or while
 * queued, or while a non-streaming answer is generated) cancels its request at once; MHD's
 * end-of-response callback cancels too. Every failure is an error object in the route's API's
 * shape with a 4xx status, or 503 when the queue is full or the server is stopping. With an API
 * key, every route but /health wants it as 'Authorization: Bearer KEY' or 'x-api-key: KEY'.
 *
 * The model served (api_model: its scheduler, vocabulary, name, ...) is held by each request that
 * uses it, so another can take its place (api_server_swap) while those requests finish on it.
 */
#ifndef SHOAL_SERVER_H
#define SHOAL_SERVER_H

#include <jansson.h>
#include <time.h>

#include "hub/hub_jobs.h"
#include "serve/sched.h"
#include "vocab/vocab.h"

#define API_DEFAULT_PORT 8642
#define API_MAX_BODY (8u << 20)     /* request bytes; more: 413 */
#define API_MAX_MODEL_REF 1024     /* bytes of a model reference or path to switch to (a wire SWITCH carries it) */

/* Renders chat messages ([{role, content: string, tool_calls?, tool_call_id?}]) and tools (OpenAI's
 * array, or NULL) to prompt text with the model's template, generation prompt added. 0 and a
 * malloc'd *out, or an error with the reason in err. */
typedef int (*api_chat_render_fn)(void *ctx, const json_t *messages, const json_t *tools, char **out, size_t *len,
				  char *err, size_t errlen);

/* What the server serves: one model's scheduler and what belongs with it. The server holds one at a
 * time; api_server_swap puts another in its place while the requests on the old one finish. */
typedef struct {
	sched *s;
	const vocab *v;
	const char *id;          /* what /v1/models lists and responses name (copied) */
	const char *path;        /* its GGUF file (a split set's first part; copied), or NULL */
	time_t created;          /* /v1/models "created" */
	int n_ctx;               /* positions per slot: longer prompts are refused */
	int n_layers;            /* the model's, for the web UI */
	api_chat_render_fn chat_render;
	void *chat_ctx;
	int tools_family;        /* how the model writes tool calls (tmpl_tools_family) */
	/* optional: whether completions can run now; non-zero: 503 with msg (e.g. the model does not
	 * fit the cluster's live nodes) */
	int (*ready)(void *ctx, char *msg, size_t cap);
	/* optional: GET /v1/topology, a new JSON object */
	json_t *(*topology)(void *ctx);
	void *cluster_ctx;       /* ctx of ready and topology */
} api_model;

/* POST /api/shoal/switch: the node (and its cluster) switching to another model, in the background
 * (main/model_switch.h). Any thread. */
typedef struct {
	/* starts switching to model (a reference or a file), or follows the switch to it that runs:
	 * SH_OK; SH_EAGAIN with why in err (a switch to another model runs), SH_EINVAL (neither a file
	 * nor a reference) */
	int (*start)(void *ctx, const char *model, char *err, size_t cap);
	/* waits up to timeout seconds for a state newer than version seen; then the state as a new
	 * JSON object, its version in *version and whether the switch has ended in *over */
	json_t *(*state)(void *ctx, unsigned seen, double timeout, unsigned *version, bool *over);
	void *ctx;
} api_switcher;

typedef struct {
	const char *host;        /* NULL or "": every interface (IPv6 and IPv4 when the system has both) */
	int port;                /* 0: any free port (see api_server_port) */
	const char *api_key;     /* NULL or "": no key needed */
	size_t max_body;         /* 0: API_MAX_BODY */
	hub_jobs *pulls;         /* POST /api/pull runs its pulls here; NULL: 501 */
	const api_switcher *switcher; /* POST /api/shoal/switch; NULL: 501 */
} api_server_opts;

typedef struct api_server api_server;

/* Starts listening, serving m. NULL on error (*err set, logged: e.g. the port is taken). */
api_server *api_server_start(const api_server_opts *o, const api_model *m, int *err);
int api_server_port(const api_server *srv);
/* New requests go to m from now on; the requests running on the model served so far go on there
 * (it is "retired"). SH_OK, SH_ENOMEM, or SH_EAGAIN while an earlier retired model is still in use. */
int api_server_swap(api_server *srv, const api_model *m);
/* Waits up to timeout seconds (< 0: no limit) until no request uses the retired model: true then
 * (the server has let go of it: its scheduler may be freed), false on timeout. */
bool api_server_retired_wait(api_server *srv, double timeout);
/* Stops accepting connections; /health answers 503 from now on. */
void api_server_quiesce(api_server *srv);
/* Closes every connection and waits for their handlers (stop the scheduler first so that
 * waiting handlers return at once), then frees. NULL: no-op. */
void api_server_free(api_server *srv);

#endif
