/*
 * server.h - the HTTP server of a node: the OpenAI-compatible API over the slot scheduler.
 *
 *   POST /v1/chat/completions   chat (rendered with the model's template), JSON or SSE stream
 *   POST /v1/completions        raw prompt, JSON or SSE stream
 *   GET  /v1/models             the one model; GET /v1/models/{id}
 *   GET  /health                200 {"status":"ok"} while serving (never needs the API key)
 *   GET  /metrics               Prometheus text: requests by status, tokens, tokens/s, queue, slots
 *   GET  /v1/topology           the cluster: nodes, their layers and memory, links (when given)
 *   GET  /, /ui/FILE            the web UI (web.h; docs/web.md), or for a program the routes as JSON
 *   GET  /api/shoal/models      the model served and the models in the cache (the web UI's)
 *   POST /api/pull              Ollama's pull: the model pulled in the background, NDJSON progress
 *
 * libmicrohttpd runs one thread per connection, so a handler may block: it tokenizes, submits to
 * the scheduler and waits on its request (a stream's content callback waits for the next text).
 * While waiting it polls the client's socket, so a client that goes away (mid-stream, or while
 * queued, or while a non-streaming answer is generated) cancels its request at once; MHD's
 * end-of-response callback cancels too. Every failure is an OpenAI error object with a 4xx
 * status, or 503 when the queue is full or the server is stopping.
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

/* Renders chat messages ([{role, content: string}]) to prompt text with the model's template,
 * generation prompt added. 0 and a malloc'd *out, or an error with the reason in err. */
typedef int (*api_chat_render_fn)(void *ctx, const json_t *messages, char **out, size_t *len, char *err,
				  size_t errlen);

typedef struct {
	const char *host;        /* NULL or "": every interface (IPv6 and IPv4 when the system has both) */
	int port;                /* 0: any free port (see api_server_port) */
	const char *api_key;     /* NULL or "": no key needed */
	const char *model_id;    /* what /v1/models lists and responses name */
	time_t model_created;    /* /v1/models "created" */
	int n_ctx;               /* positions per slot: longer prompts are refused */
	size_t max_body;         /* 0: API_MAX_BODY */
	api_chat_render_fn chat_render;
	void *chat_ctx;
	/* optional: whether completions can run now; non-zero: 503 with msg (e.g. the model does not
	 * fit the cluster's live nodes) */
	int (*ready)(void *ctx, char *msg, size_t cap);
	/* optional: GET /v1/topology, a new JSON object */
	json_t *(*topology)(void *ctx);
	void *cluster_ctx;       /* ctx of ready and topology */
	int n_layers;            /* the model's, for the web UI */
	hub_jobs *pulls;         /* POST /api/pull runs its pulls here; NULL: 501 */
} api_server_opts;

typedef struct api_server api_server;

/* Starts listening. NULL on error (*err set, logged: e.g. the port is taken). */
api_server *api_server_start(const api_server_opts *o, sched *s, const vocab *v, int *err);
int api_server_port(const api_server *srv);
/* Stops accepting connections; /health answers 503 from now on. */
void api_server_quiesce(api_server *srv);
/* Closes every connection and waits for their handlers (stop the scheduler first so that
 * waiting handlers return at once), then frees. NULL: no-op. */
void api_server_free(api_server *srv);

#endif
