/*
 * server.c - routes, request bodies, completions (JSON and SSE), models, health, metrics, and the
 * web UI's own: its assets (web.h), the models in the cache, pulls in the background (hub_jobs.h).
 *
 * One connection's life in MHD's thread-per-connection mode:
 *   handle() first call       allocate the conn state
 *   handle() with body bytes  append up to max_body; past it, discard (then 413)
 *   handle() last call        route, authorize, parse, tokenize, submit, then either wait for the
 *                             whole answer (JSON) or queue a chunked SSE response whose content
 *                             callback (stream_read) waits for text and formats chunks
 *   request_done()            frees the conn state; a stream's free callback releases (and so
 *                             cancels, if still running) its scheduler request
 * Waits are slices of WAIT_SLICE seconds with a check of the client's socket in between.
 */
#define _GNU_SOURCE /* POLLRDHUP */
#include "api/server.h"
#include "api/anthropic.h"
#include "api/dialect.h"
#include "api/ollama.h"
#include "api/tools.h"
#include "api/web.h"
#include "hub/hub_jobs.h"

#include <microhttpd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_SLICE 0.1              /* seconds between client-socket checks while waiting */
#define DISCARD_MAX (256ull << 20)  /* body bytes past the limit read before hanging up */
#define MAX_CONNECTIONS 512
#define CONNECTION_TIMEOUT 300      /* seconds of socket inactivity */

enum route { R_NONE, R_CHAT, R_COMPLETIONS, R_MODELS, R_MODEL, R_HEALTH, R_METRICS, R_TOPOLOGY, R_INDEX, R_ASSET,
	     R_UI_MODELS, R_PULL, R_SWITCH, R_MESSAGES, R_OLLAMA_CHAT, R_OLLAMA_GENERATE, R_OLLAMA_TAGS, R_OLLAMA_SHOW,
	     R_OLLAMA_PS, R_OLLAMA_VERSION, R_OLLAMA_EMBED };

/* every route, in the order / lists them */
static const struct {
	const char *path;
	bool prefix;              /* path is a prefix: "/v1/models/" + an id (or "/ui/" + a file) */
	enum route rt;
	const char *method;
	const char *what;
} routes[] = {
	{ "/v1/chat/completions", false, R_CHAT, "POST",
	  "chat: messages rendered with the model's chat template; a JSON answer or a stream of events" },
	{ "/v1/completions", false, R_COMPLETIONS, "POST", "a completion of a raw prompt; JSON or a stream" },
	{ "/v1/messages", false, R_MESSAGES, "POST", "Anthropic's Messages API: a message, or a stream of its events" },
	{ "/v1/models", false, R_MODELS, "GET", "the model served" },
	{ "/v1/models/", true, R_MODEL, "GET", "one model, by its id" },
	{ "/v1/topology", false, R_TOPOLOGY, "GET", "the cluster: its nodes, their layers and memory, the links" },
	{ "/health", false, R_HEALTH, "GET", "200 while the node serves (no API key needed)" },
	{ "/metrics", false, R_METRICS, "GET", "Prometheus metrics: requests, tokens, speed, queue, slots" },
	{ "/api/chat", false, R_OLLAMA_CHAT, "POST", "Ollama's chat: NDJSON lines, or one object without stream" },
	{ "/api/generate", false, R_OLLAMA_GENERATE, "POST", "Ollama's completion of a prompt: NDJSON lines or one object" },
	{ "/api/tags", false, R_OLLAMA_TAGS, "GET", "Ollama's list of models: the one served and the cache's" },
	{ "/api/show", false, R_OLLAMA_SHOW, "POST", "Ollama's model details: family, size, context, chat template" },
	{ "/api/ps", false, R_OLLAMA_PS, "GET", "Ollama's running models: the one served" },
	{ "/api/version", false, R_OLLAMA_VERSION, "GET", "the Ollama API version this node follows" },
	{ "/api/embed", false, R_OLLAMA_EMBED, "POST", "501: this node serves a generation model, no embeddings" },
	{ "/api/embeddings", false, R_OLLAMA_EMBED, "POST", "501, as /api/embed" },
	{ "/api/pull", false, R_PULL, "POST", "pull a model from the hub (Ollama's): a stream of NDJSON progress lines" },
	{ "/api/shoal/models", false, R_UI_MODELS, "GET", "the model served and the models in the cache" },
	{ "/api/shoal/switch", false, R_SWITCH, "POST",
	  "serve another model, on every node of the cluster: a stream of NDJSON progress lines" },
	{ "/ui/", true, R_ASSET, "GET", "the web UI's script and style sheet (no API key needed)" },
	{ "/", false, R_INDEX, "GET", "the web UI for a browser, else this list as JSON (no API key needed)" },
};

/* a model served (api_model) and the requests that use it: each handler holds it while it runs, a
 * stream until it is freed; the server holds the current one */
typedef struct {
	api_model m;
	char *id, *path;
	int n_vocab;
	int refs;                    /* under the server's mu */
} served;

struct api_server {
	api_server_opts o;
	char *api_key;
	struct MHD_Daemon *d;
	int port;
	bool quiesced;
	pthread_mutex_t mu;          /* status counts, rng, the models served */
	pthread_cond_t cv;           /* a retired model's last request ended */
	served *cur, *retired;
	uint64_t by_status[600];
	sh_rng rng;
};

typedef struct {
	text_buf body;
	bool too_big;
	uint64_t discarded;
	const char *log_path;        /* a completion route: its requests are logged (a static string) */
	const api_dialect *d;        /* a completion route's API (its error shape); NULL: OpenAI's */
	char client[INET6_ADDRSTRLEN];
} conn;

typedef struct {
	api_server *srv;
	served *sv;                  /* held until the stream is freed */
	const api_dialect *d;
	sched_req *r;
	api_resp_meta meta;
	bool logprobs;
	tools_stream *ts;            /* the reply is read for tool calls, or NULL */
	json_t *calls;               /* the calls it made so far */
	size_t shown_calls;          /* of which sent */
	size_t lp_offset;            /* completions: the text_offset of the next token */
	int fd;
	char client[INET6_ADDRSTRLEN];
	text_buf out, text;
	size_t off;
	bool started, ended;
} stream;

/* ---------------------------------------------------------------- the model served */
static served *served_new(const api_model *m)
{
	served *sv = calloc(1, sizeof *sv);
	if (!sv || !(sv->id = strdup(m->id ? m->id : "model")) || (m->path && !(sv->path = strdup(m->path)))) {
		if (sv)
			free(sv->id);
		free(sv);
		return NULL;
	}
	sv->m = *m;
	sv->m.id = sv->id;
	sv->m.path = sv->path;
	sv->n_vocab = vocab_n_tokens(m->v);
	sv->refs = 1; /* the server's */
	return sv;
}

static void served_free(served *sv)
{
	if (sv) {
		free(sv->id);
		free(sv->path);
	}
	free(sv);
}

static served *served_hold(api_server *srv, served *sv)
{
	pthread_mutex_lock(&srv->mu);
	sv->refs++;
	pthread_mutex_unlock(&srv->mu);
	return sv;
}

/* the model new requests go to, held */
static served *served_get(api_server *srv)
{
	pthread_mutex_lock(&srv->mu);
	served *sv = srv->cur;
	sv->refs++;
	pthread_mutex_unlock(&srv->mu);
	return sv;
}

static void served_put(api_server *srv, served *sv)
{
	pthread_mutex_lock(&srv->mu);
	if (--sv->refs == 0)
		pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
}

int api_server_swap(api_server *srv, const api_model *m)
{
	served *sv = served_new(m);
	if (!sv)
		return SH_ENOMEM;
	pthread_mutex_lock(&srv->mu);
	if (srv->retired) {
		pthread_mutex_unlock(&srv->mu);
		served_free(sv);
		return SH_EAGAIN;
	}
	srv->retired = srv->cur;
	srv->retired->refs--;
	srv->cur = sv;
	pthread_mutex_unlock(&srv->mu);
	return SH_OK;
}

bool api_server_retired_wait(api_server *srv, double timeout)
{
	double end = sh_time_sec() + timeout;
	pthread_mutex_lock(&srv->mu);
	while (srv->retired && srv->retired->refs > 0) {
		double left = end - sh_time_sec();
		if (timeout >= 0 && left <= 0)
			break;
		sh_cond_wait_sec(&srv->cv, &srv->mu, timeout < 0 ? 1.0 : SH_MIN(left, 1.0));
	}
	bool free_now = srv->retired && srv->retired->refs == 0;
	served *old = free_now ? srv->retired : NULL;
	if (free_now)
		srv->retired = NULL;
	bool done = !srv->retired;
	pthread_mutex_unlock(&srv->mu);
	served_free(old);
	return done;
}

/* ---------------------------------------------------------------- small helpers */
static uint64_t srv_rand(api_server *srv)
{
	pthread_mutex_lock(&srv->mu);
	uint64_t x = sh_rng_u64(&srv->rng);
	pthread_mutex_unlock(&srv->mu);
	return x;
}

static uint64_t srv_rand_cb(void *ctx)
{
	return srv_rand(ctx);
}

static void count_status(api_server *srv, unsigned status)
{
	pthread_mutex_lock(&srv->mu);
	srv->by_status[status < 600 ? status : 0]++;
	pthread_mutex_unlock(&srv->mu);
}

static int conn_fd(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	return ci ? ci->connect_fd : -1;
}

/* the client closed its end (or the socket failed) */
static bool peer_gone(int fd)
{
	if (fd < 0)
		return false;
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
		return true;
	char b;
	return (p.revents & POLLIN) && recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void add_common_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
}

static enum MHD_Result send_buf(api_server *srv, struct MHD_Connection *c, unsigned status, const char *type,
				const char *data, size_t len, const char *hname, const char *hval)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	add_common_headers(resp);
	if (hname)
		MHD_add_response_header(resp, hname, hval);
	enum MHD_Result r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	count_status(srv, status);
	return r;
}

static enum MHD_Result send_json(api_server *srv, struct MHD_Connection *c, unsigned status, json_t *j,
				 const char *hname, const char *hval)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	static const char nomem[] =
		"{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":\"out_of_memory\"}}";
	if (!s)
		return send_buf(srv, c, 503, "application/json", nomem, sizeof nomem - 1, NULL, NULL);
	enum MHD_Result r = send_buf(srv, c, status, "application/json", s, strlen(s), hname, hval);
	free(s);
	return r;
}

/* the client's address as text; an IPv4-mapped IPv6 address as plain IPv4 */
static void client_address(struct MHD_Connection *c, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	snprintf(out, cap, "?");
	if (sa && sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
	} else if (sa && sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], out, (socklen_t)cap);
		else
			inet_ntop(AF_INET6, a, out, (socklen_t)cap);
	}
}

/* the one line of a completion request that ran: id, client, tokens, time to first token, speed,
 * how it ended */
static void log_request(const char *id, const char *client, const sched_status *ss, const char *finish)
{
	char ttft[32] = "no token", rate[32] = "";
	if (ss->t_first > 0)
		snprintf(ttft, sizeof ttft, "first token %.1f ms", (ss->t_first - ss->t_submit) * 1e3);
	if (ss->n_gen > 1 && ss->t_last > ss->t_first)
		snprintf(rate, sizeof rate, ", %.1f tok/s", (ss->n_gen - 1) / (ss->t_last - ss->t_first));
	sh_log_info("%s %s: prompt %d tokens (%d cached), %d generated, %s%s, %s", id, client, ss->n_prompt, ss->n_cached,
		    ss->n_gen, ttft, rate, finish);
}

static enum MHD_Result send_error(api_server *srv, struct MHD_Connection *c, const conn *k, const api_error *e)
{
	const api_dialect *d = k && k->d ? k->d : &api_openai;
	if (k && k->log_path) /* a completion request refused before it ran */
		sh_log_info("POST %s %s: %d %s%s%s", k->log_path, k->client, e->status, e->param[0] ? e->param : "",
			    e->param[0] ? ": " : "", e->message);
	const char *hname = NULL, *hval = NULL;
	if (e->status == 401)
		hname = "WWW-Authenticate", hval = "Bearer";
	else if (e->status == 503)
		hname = "Retry-After", hval = "1";
	return send_json(srv, c, (unsigned)e->status, d->error_json(e), hname, hval);
}

#define SEND_ERR(status, type, code, param, ...)                                          \
	do {                                                                              \
		api_error e_;                                                             \
		api_error_set(&e_, status, type, code, param, __VA_ARGS__);               \
		return send_error(srv, c, k, &e_);                                        \
	} while (0)

/* ---------------------------------------------------------------- routes */
static enum route route_of(const served *sv, const char *url)
{
	for (size_t i = 0; i < SH_ARRAY_LEN(routes); i++) {
		if (routes[i].rt == R_TOPOLOGY && !sv->m.topology)
			continue;
		size_t n = strlen(routes[i].path);
		if (routes[i].prefix ? !strncmp(url, routes[i].path, n) && url[n] : !strcmp(url, routes[i].path))
			return routes[i].rt;
	}
	return R_NONE;
}

static bool key_is(const api_server *srv, const char *h)
{
	size_t a = strlen(h), b = strlen(srv->api_key);
	unsigned diff = (unsigned)(a != b);
	for (size_t i = 0; i < a; i++) /* constant time in the key's content */
		diff |= (unsigned char)h[i] ^ (unsigned char)srv->api_key[i % (b ? b : 1)];
	return diff == 0;
}

/* the key as 'Authorization: Bearer KEY', or as Anthropic's SDKs send it, 'x-api-key: KEY' */
static bool authorized(const api_server *srv, struct MHD_Connection *c)
{
	if (!srv->api_key)
		return true;
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	const char *x = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "x-api-key");
	bool ok = false;
	if (h && !strncasecmp(h, "Bearer ", 7)) {
		h += 7;
		while (*h == ' ')
			h++;
		ok = key_is(srv, h);
	}
	return ok | (x && key_is(srv, x));
}

/* ---------------------------------------------------------------- prompts */
/* a prompt's text: special tokens parsed, BOS as the model says unless the text starts with it */
static int tokenize(const served *sv, const char *text, size_t len, int **out, api_error *err)
{
	int n = vocab_tokenize_chat(sv->m.v, text, len, out);
	if (n < 0) {
		*out = NULL;
		api_error_set(err, n == SH_ENOMEM ? 503 : 400, n == SH_ENOMEM ? "server_error" : "invalid_request_error",
			      NULL, NULL, "the prompt cannot be tokenized (%s)", sh_strerror(n));
		return -1;
	}
	return n;
}

static int build_prompt(const served *sv, api_request *req, int **ids, api_error *err)
{
	int n;
	if (req->prompt_ids) {
		*ids = req->prompt_ids;
		req->prompt_ids = NULL;
		n = req->n_prompt_ids;
	} else if (req->kind == API_COMPLETION) {
		n = tokenize(sv, req->prompt, req->prompt_len, ids, err);
	} else {
		char *text = NULL, msg[256] = "";
		size_t len = 0;
		const json_t *tools = req->tool_choice == API_TOOLS_NONE ? NULL : req->tools;
		if (!sv->m.chat_render || sv->m.chat_render(sv->m.chat_ctx, req->messages, tools, &text, &len, msg, sizeof msg)) {
			api_error_set(err, 400, "invalid_request_error", "invalid_value", "messages",
				      "the messages cannot be rendered with the chat template: %s", msg);
			return -1;
		}
		n = tokenize(sv, text, len, ids, err);
		free(text);
	}
	if (n < 0)
		return -1;
	if (n == 0) {
		api_error_set(err, 400, "invalid_request_error", "invalid_value", req->kind == API_CHAT ? "messages" : "prompt",
			      "the prompt is empty");
		free(*ids);
		return -1;
	}
	if (n > sv->m.n_ctx) {
		api_error_set(err, 400, "invalid_request_error", "context_length_exceeded",
			      req->kind == API_CHAT ? "messages" : "prompt",
			      "the prompt has %d tokens, the context holds %d", n, sv->m.n_ctx);
		free(*ids);
		return -1;
	}
	return n;
}

static void meta_init(api_server *srv, const served *sv, api_resp_meta *m, enum api_kind kind)
{
	m->kind = kind;
	m->created = time(NULL);
	m->model = sv->id;
	snprintf(m->id, sizeof m->id, "%s%016llx%08llx", kind == API_CHAT ? "chatcmpl-" : "cmpl-",
		 (unsigned long long)srv_rand(srv), (unsigned long long)(srv_rand(srv) & 0xffffffffu));
}

static const char *finish_log_name(enum sched_finish f)
{
	return f == SCHED_FINISH_CANCELLED ? "cancelled" : f == SCHED_FINISH_ABORTED ? "aborted" : api_finish_name(f);
}

/* the nodes whose layers compute a reply now (the topology's live nodes holding layers), as
 * [{id, host, layers: [first, last]}] in layer order; NULL without a topology */
static json_t *nodes_json(const served *sv)
{
	json_t *t = sv->m.topology ? sv->m.topology(sv->m.cluster_ctx) : NULL, *out = t ? json_array() : NULL;
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(t, "nodes"), i, n) {
		json_t *layers = json_object_get(n, "layers"), *host = json_object_get(n, "host");
		if (json_array_size(layers) == 2 && strcmp(json_string_value(json_object_get(n, "state")) ?: "", "dead"))
			json_array_append_new(out, json_pack("{s:O, s:O, s:O}", "id", json_object_get(n, "id"), "host",
							     host ? host : json_null(), "layers", layers));
	}
	json_decref(t);
	for (size_t a = 1; a < json_array_size(out); a++) /* in layer order (a handful of nodes) */
		for (size_t b = a; b > 0; b--) {
			json_t *x = json_array_get(out, b - 1), *y = json_array_get(out, b);
			if (json_integer_value(json_array_get(json_object_get(x, "layers"), 0)) <=
			    json_integer_value(json_array_get(json_object_get(y, "layers"), 0)))
				break;
			json_incref(x);
			json_array_set(out, b - 1, y);
			json_array_set_new(out, b, x);
		}
	return out;
}

/* the topology, a node that does not say its tokens_per_s given this server's generation rate */
static json_t *topology_rated(const served *sv)
{
	json_t *t = sv->m.topology(sv->m.cluster_ctx);
	sched_stats st;
	sched_stats_get(sv->m.s, &st);
	size_t i;
	json_t *n;
	json_array_foreach(json_object_get(t, "nodes"), i, n)
		if (!json_object_get(n, "tokens_per_s"))
			json_object_set_new(n, "tokens_per_s", json_real(st.gen_rate));
	return t;
}

/* the shape of the logprobs d takes on a route of this kind */
static enum api_kind lp_kind(const api_dialect *d, enum api_kind kind)
{
	return d->chat_logprobs ? API_CHAT : kind;
}

/* the logprobs of the tokens whose text has been read and not yet shown with it (NULL: none, or
 * not asked for) */
static json_t *take_logprobs(const served *sv, sched_req *r, enum api_kind kind, size_t *offset)
{
	sched_token buf[32];
	sched_token *all = NULL;
	int n = 0, k;
	while ((k = sched_req_tokens(r, buf, 32)) > 0) {
		sched_token *a = realloc(all, sizeof *a * (size_t)(n + k));
		if (!a)
			break;
		all = a;
		memcpy(all + n, buf, sizeof *buf * (size_t)k);
		n += k;
	}
	json_t *j = n ? api_logprobs(kind, sv->m.v, all, n, offset) : NULL;
	free(all);
	return j;
}

/* ---------------------------------------------------------------- streaming */
/* what the dialect's end needs: the status, the stop string (r's: valid while r is held), and the
 * nodes (a new array, or NULL) */
static api_done done_of(const served *sv, const sched_req *r, const sched_status *ss, const char *text, size_t len)
{
	return (api_done){ .text = text, .len = len, .finish = ss->finish, .stop = sched_req_stop(r, ss->stop),
			   .n_prompt = ss->n_prompt, .n_gen = ss->n_gen, .t_submit = ss->t_submit, .t_first = ss->t_first,
			   .t_last = ss->t_last, .nodes = nodes_json(sv) };
}

/* the new text through the tool-call reader: st->text becomes what may be shown, calls go to
 * st->calls (at the end, what is left) */
static int tools_filter(stream *st, bool end)
{
	text_buf shown = { 0 };
	int rc = tools_stream_feed(st->ts, st->text.p, st->text.len, &shown, st->calls);
	if (!rc && end)
		rc = tools_stream_end(st->ts, &shown, st->calls);
	st->text.len = 0;
	if (!rc && shown.len)
		rc = text_buf_add(&st->text, shown.p, shown.len);
	text_buf_free(&shown);
	return rc;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	stream *st = cls;
	const api_dialect *d = st->d;
	for (;;) {
		if (st->off < st->out.len) {
			size_t n = SH_MIN(max, st->out.len - st->off);
			memcpy(buf, st->out.p + st->off, n);
			st->off += n;
			return (ssize_t)n;
		}
		st->out.len = st->off = 0;
		if (st->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (!st->started) {
			st->started = true;
			if (d->stream_start(&st->meta, &st->out))
				return MHD_CONTENT_READER_END_WITH_ERROR;
			continue;
		}
		if (peer_gone(st->fd)) {
			sched_req_cancel(st->r);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		sched_status ss;
		st->text.len = 0;
		if (sched_req_read(st->r, WAIT_SLICE, &st->text, &ss))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		int rc = 0;
		json_t *lp = st->logprobs ? take_logprobs(st->sv, st->r, lp_kind(d, st->meta.kind), &st->lp_offset) : NULL;
		bool over = ss.finish == SCHED_FINISH_STOP || ss.finish == SCHED_FINISH_LENGTH;
		if (st->ts)
			rc |= tools_filter(st, over);
		if (st->text.len || lp)
			rc |= d->stream_text(&st->meta, st->text.p, st->text.len, lp, &st->out);
		if (st->ts && json_array_size(st->calls) > st->shown_calls) {
			json_t *fresh = json_array();
			for (size_t i = st->shown_calls; i < json_array_size(st->calls); i++)
				json_array_append(fresh, json_array_get(st->calls, i));
			rc |= d->stream_calls(&st->meta, fresh, (int)st->shown_calls, &st->out);
			st->shown_calls = json_array_size(st->calls);
			json_decref(fresh);
		}
		if (over) {
			api_done dn = done_of(st->sv, st->r, &ss, NULL, 0);
			dn.calls = st->calls;
			rc |= d->stream_end(&st->meta, &dn, &st->out);
			json_decref(dn.nodes);
		} else if (ss.finish != SCHED_RUNNING) {
			api_error e;
			api_error_set(&e, 503, "server_error", "request_aborted", NULL,
				      "the request was aborted: the server is stopping or a cluster node failed");
			rc |= d->stream_error(&st->meta, &e, &st->out);
		}
		if (ss.finish != SCHED_RUNNING) {
			st->ended = true;
			log_request(st->meta.id, st->client, &ss, finish_log_name(ss.finish));
		}
		if (rc)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
}

static void stream_free(void *cls)
{
	stream *st = cls;
	if (!st->ended) { /* the client left (or the connection failed) before the end */
		sched_status ss;
		text_buf discard = { 0 };
		sched_req_read(st->r, 0, &discard, &ss);
		text_buf_free(&discard);
		log_request(st->meta.id, st->client, &ss, "cancelled (the client left)");
	}
	sched_req_release(st->r); /* cancels it if the client left early */
	served_put(st->srv, st->sv);
	if (st->ts)
		tools_stream_free(st->ts);
	free(st->ts);
	json_decref(st->calls);
	text_buf_free(&st->out);
	text_buf_free(&st->text);
	free(st);
}

/* ---------------------------------------------------------------- completions */
static enum MHD_Result handle_completion(api_server *srv, served *sv, struct MHD_Connection *c, conn *k,
					enum api_kind kind)
{
	const api_dialect *d = k->d ? k->d : &api_openai;
	api_request req;
	api_error err;
	api_limits lim = { .n_vocab = sv->n_vocab };
	int *ids = NULL;
	enum MHD_Result ret;
	if (d->parse(kind, k->body.p ? k->body.p : "", k->body.len, &lim, &req, &err)) {
		api_request_free(&req);
		return send_error(srv, c, k, &err);
	}
	char why[512];
	int ready = sv->m.ready ? sv->m.ready(sv->m.cluster_ctx, why, sizeof why) : SH_OK;
	if (ready) {
		api_request_free(&req);
		SEND_ERR(503, "server_error", ready == SH_EAGAIN ? "model_loading" : "model_does_not_fit", NULL, "%s", why);
	}
	int n = build_prompt(sv, &req, &ids, &err);
	if (n < 0) {
		api_request_free(&req);
		return send_error(srv, c, k, &err);
	}
	if (!req.has_seed)
		req.sp.sp.seed = srv_rand(srv);
	if (req.forced_call && sv->m.tools_family == TMPL_TOOLS_HERMES) { /* the call in the model's own tags */
		snprintf(req.sp.wrap_pre, sizeof req.sp.wrap_pre, "<tool_call>\n");
		snprintf(req.sp.wrap_post, sizeof req.sp.wrap_post, "\n</tool_call>");
	}
	if (req.sp.constraint) { /* the shortest value the constraint allows must fit the reply's tokens */
		long need = (long)jsonc_min_tokens(req.sp.constraint) + (long)strlen(req.sp.wrap_pre) +
			    (long)strlen(req.sp.wrap_post);
		long room = req.sp.max_tokens > 0 ? req.sp.max_tokens : sv->m.n_ctx - n;
		if (room < need) {
			free(ids);
			api_request_free(&req);
			SEND_ERR(400, "invalid_request_error", "invalid_value", "max_tokens",
				 "the shortest reply the format allows takes %ld tokens, more than the %ld this request "
				 "may generate (max_tokens)", need, room);
		}
	}
	int e = 0;
	sched_req *r = sched_submit(sv->m.s, ids, n, &req.sp, &e);
	req.sp.constraint = NULL; /* the scheduler's now, whether or not it took the request */
	free(ids);
	bool stream_mode = req.stream, logprobs = req.sp.logprobs;
	/* a reply that may call tools is read for calls, in the format of the model's template */
	bool read_tools = req.tools && req.tool_choice != API_TOOLS_NONE;
	tmpl_tools_family family = req.forced_call && !req.sp.wrap_pre[0] ? TOOLS_FORCED
										    : (tmpl_tools_family)sv->m.tools_family;
	int max_calls = req.parallel_tool_calls ? 0 : 1;
	api_resp_meta meta;
	meta_init(srv, sv, &meta, kind);
	meta.include_usage = req.include_usage;
	meta.n_prompt = n;
	api_request_free(&req);
	if (!r) {
		if (e == SCHED_EFULL)
			SEND_ERR(503, "server_error", "server_busy", NULL,
				 "all slots are busy and the queue is full: try again later");
		if (e == SH_ENOMEM)
			SEND_ERR(503, "server_error", "out_of_memory", NULL, "out of memory");
		SEND_ERR(400, "invalid_request_error", "invalid_value", NULL, "the request cannot be run (%s)",
			 sh_strerror(e));
	}

	if (stream_mode) {
		stream *st = calloc(1, sizeof *st);
		struct MHD_Response *resp = st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, st,
										 stream_free)
					       : NULL;
		if (!resp) {
			free(st);
			sched_req_release(r);
			SEND_ERR(503, "server_error", "out_of_memory", NULL, "out of memory");
		}
		st->srv = srv;
		st->sv = served_hold(srv, sv);
		st->d = d;
		st->r = r;
		st->fd = conn_fd(c);
		st->logprobs = logprobs;
		st->meta = meta;
		if (read_tools && (!(st->ts = malloc(sizeof *st->ts)) || !(st->calls = json_array()))) {
			MHD_destroy_response(resp); /* stream_free releases the rest */
			SEND_ERR(503, "server_error", "out_of_memory", NULL, "out of memory");
		}
		if (st->ts) {
			tools_stream_init(st->ts, family, srv_rand_cb, srv);
			st->ts->max_calls = max_calls;
		}
		snprintf(st->client, sizeof st->client, "%s", k->client);
		MHD_add_response_header(resp, "Content-Type", d->stream_type);
		MHD_add_response_header(resp, "Cache-Control", "no-cache");
		MHD_add_response_header(resp, "X-Accel-Buffering", "no");
		add_common_headers(resp);
		ret = MHD_queue_response(c, 200, resp);
		MHD_destroy_response(resp); /* stream_free runs when MHD is done with it */
		count_status(srv, 200);
		return ret;
	}

	/* non-streaming: wait here, watching the client */
	int fd = conn_fd(c);
	text_buf text = { 0 };
	sched_status ss;
	for (;;) {
		if (sched_req_read(r, WAIT_SLICE, &text, &ss)) {
			ss.finish = SCHED_FINISH_ABORTED;
			break;
		}
		if (ss.finish != SCHED_RUNNING)
			break;
		if (peer_gone(fd))
			break;
	}
	bool left = ss.finish == SCHED_RUNNING;
	log_request(meta.id, k->client, &ss, left ? "cancelled (the client left)" : finish_log_name(ss.finish));
	if (left || (ss.finish != SCHED_FINISH_STOP && ss.finish != SCHED_FINISH_LENGTH))
		sched_req_release(r);
	if (left) {
		text_buf_free(&text);
		return MHD_NO; /* closes the connection */
	}
	if (ss.finish != SCHED_FINISH_STOP && ss.finish != SCHED_FINISH_LENGTH) {
		text_buf_free(&text);
		k->log_path = NULL; /* logged above */
		SEND_ERR(503, "server_error", "request_aborted", NULL,
			 "the request was aborted: the server is stopping or a cluster node failed");
	}
	size_t offset = 0;
	json_t *lp = logprobs ? take_logprobs(sv, r, lp_kind(d, kind), &offset) : NULL;
	if (logprobs && !lp) /* asked for, and no token: an empty list */
		lp = api_logprobs(lp_kind(d, kind), sv->m.v, NULL, 0, &offset);
	api_done dn = done_of(sv, r, &ss, text.p, text.len);
	text_buf content = { 0 };
	if (read_tools) { /* the text but the calls, and the calls */
		tools_stream ts;
		tools_stream_init(&ts, family, srv_rand_cb, srv);
		ts.max_calls = max_calls;
		dn.calls = json_array();
		if (tools_stream_feed(&ts, text.p, text.len, &content, dn.calls) ||
		    tools_stream_end(&ts, &content, dn.calls))
			sh_log_error("%s: out of memory reading tool calls", meta.id);
		tools_stream_free(&ts);
		dn.text = content.p;
		dn.len = content.len;
	}
	ret = send_json(srv, c, 200, d->response(&meta, &dn, lp), NULL, NULL);
	sched_req_release(r);
	json_decref(dn.nodes);
	json_decref(dn.calls);
	text_buf_free(&content);
	text_buf_free(&text);
	return ret;
}

/* ---------------------------------------------------------------- models, health, metrics */
static json_t *model_json(const served *sv)
{
	return json_pack("{s:s, s:s, s:I, s:s}", "id", sv->id, "object", "model", "created",
			 (json_int_t)sv->m.created, "owned_by", "shoal");
}

/* ---------------------------------------------------------------- the web UI */
/* an asset of web_assets[] (web.h): gzipped when the client takes gzip, 304 when it has this one */
static enum MHD_Result send_asset(api_server *srv, struct MHD_Connection *c, const web_asset *a)
{
	const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
	bool fresh = inm && strstr(inm, a->etag);
	const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept-Encoding");
	bool gz = ae && strstr(ae, "gzip");
	struct MHD_Response *resp =
		fresh ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
		      : MHD_create_response_from_buffer(gz ? a->gz_len : a->len, (void *)(gz ? a->gz : a->data),
							MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", a->type);
	MHD_add_response_header(resp, "ETag", a->etag);
	MHD_add_response_header(resp, "Vary", "Accept-Encoding");
	MHD_add_response_header(resp, "Cache-Control", a->immutable ? "public, max-age=31536000, immutable" : "no-cache");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	/* the page runs only its own script and talks only to this node, whatever a reply contains */
	MHD_add_response_header(resp, "Content-Security-Policy",
				"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
				"img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
				"frame-ancestors 'none'");
	if (gz && !fresh)
		MHD_add_response_header(resp, "Content-Encoding", "gzip");
	unsigned status = fresh ? 304 : 200;
	enum MHD_Result r = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	count_status(srv, status);
	return r;
}

static const web_asset *asset_find(const char *path)
{
	for (int i = 0; i < web_n_assets; i++)
		if (!strcmp(web_assets[i].path, path))
			return &web_assets[i];
	return NULL;
}

/* GET /: the web UI for a browser; for a program, what this node is and its API (the routes
 * table) as JSON, the model named only to a client the API key admits */
static enum MHD_Result handle_index(api_server *srv, const served *sv, struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
	const web_asset *page = asset_find("/");
	if (accept && strstr(accept, "text/html") && page)
		return send_asset(srv, c, page);
	const char *model = authorized(srv, c) ? sv->id : NULL;
	json_t *eps = json_array();
	for (size_t i = 0; i < SH_ARRAY_LEN(routes); i++) {
		char path[64];
		snprintf(path, sizeof path, "%s%s", routes[i].path,
			 !routes[i].prefix ? "" : routes[i].rt == R_ASSET ? "{file}" : "{id}");
		if (routes[i].rt != R_TOPOLOGY || sv->m.topology)
			json_array_append_new(eps, json_pack("{s:s, s:s, s:s}", "method", routes[i].method, "path", path,
							     "description", routes[i].what));
	}
	return send_json(srv, c, 200,
			 json_pack("{s:s, s:o, s:s, s:o}", "name", "shoal", "model", model ? json_string(model) : json_null(),
				   "api_base", "/v1", "endpoints", eps),
			 NULL, NULL);
}

/* GET /api/shoal/models: the model served, and every model in the cache as `shoal ls --json` */
static enum MHD_Result handle_ui_models(api_server *srv, const served *sv, struct MHD_Connection *c, conn *k)
{
	hub_cache hc;
	hub_cached *m = NULL;
	int n = 0;
	if (hub_cache_init(&hc, NULL) || hub_cached_models(&hc, &m, &n))
		SEND_ERR(500, "server_error", "cache_unreadable", NULL, "cannot read the model cache");
	json_t *cache = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(cache, hub_cached_json(&m[i]));
	free(m);
	return send_json(srv, c, 200,
			 json_pack("{s:{s:s, s:i, s:i}, s:o}", "served", "id", sv->id, "n_ctx", sv->m.n_ctx, "n_layers",
				   sv->m.n_layers, "cache", cache),
			 NULL, NULL);
}

/* ---------------------------------------------------------------- background jobs: pulls, switches */
#define PROGRESS_EVERY 0.25   /* seconds between progress lines */

/* a job in the background (a pull, a model switch) as NDJSON lines: next waits up to timeout for a
 * state newer than seen and gives it as a line (a new object), its version and whether it is the
 * last; release lets go of ctx when the response is freed */
typedef struct {
	json_t *(*next)(void *ctx, unsigned seen, double timeout, unsigned *version, bool *over);
	void (*release)(void *ctx);
	void *ctx;
} job_watch;

typedef struct {
	job_watch w;
	unsigned seen;        /* the version of the last line written */
	double t_last;        /* when it went out */
	int fd;
	text_buf out;
	size_t off;
	bool started, ended;
} job_stream;

static int ndjson_line(text_buf *out, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	int rc = s ? text_buf_addf(out, "%s\n", s) : SH_ENOMEM;
	free(s);
	return rc;
}

/* a line whenever the state changed, at most every PROGRESS_EVERY (the last one at once) */
static ssize_t job_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	job_stream *js = cls;
	for (;;) {
		if (js->off < js->out.len) {
			size_t n = SH_MIN(max, js->out.len - js->off);
			memcpy(buf, js->out.p + js->off, n);
			js->off += n;
			return (ssize_t)n;
		}
		js->out.len = js->off = 0;
		if (js->ended)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (peer_gone(js->fd)) /* the job goes on without this client */
			return MHD_CONTENT_READER_END_WITH_ERROR;
		unsigned v = js->seen;
		bool over = false;
		json_t *line = js->w.next(js->w.ctx, js->seen, WAIT_SLICE, &v, &over);
		double hold = js->t_last + PROGRESS_EVERY - sh_time_sec();
		if (v == js->seen || (!over && js->started && hold > 0)) {
			json_decref(line);
			if (v != js->seen) /* newer, but too soon: it goes out when the interval is up */
				usleep((useconds_t)(SH_MIN(hold, WAIT_SLICE) * 1e6));
			continue;
		}
		js->started = true;
		js->seen = v;
		js->t_last = sh_time_sec();
		js->ended = over;
		if (ndjson_line(&js->out, line))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
}

static void job_free(void *cls)
{
	job_stream *js = cls;
	if (js->w.release)
		js->w.release(js->w.ctx);
	text_buf_free(&js->out);
	free(js);
}

/* the job's lines as a stream, or (streaming false) its last line alone, once it is over: status
 * 200, or 500 when the last line is an error */
static enum MHD_Result send_job(api_server *srv, struct MHD_Connection *c, const job_watch *w, bool streaming)
{
	if (!streaming) {
		int fd = conn_fd(c);
		unsigned v = 0;
		bool over = false;
		json_t *line = NULL;
		for (;;) {
			json_decref(line);
			line = w->next(w->ctx, v, WAIT_SLICE, &v, &over);
			if (over)
				break;
			if (peer_gone(fd)) { /* the job goes on without this client */
				json_decref(line);
				if (w->release)
					w->release(w->ctx);
				return MHD_NO;
			}
		}
		if (w->release)
			w->release(w->ctx);
		return send_json(srv, c, json_object_get(line, "error") ? 500 : 200, line, NULL, NULL);
	}
	job_stream *js = calloc(1, sizeof *js);
	struct MHD_Response *resp =
		js ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, job_read, js, job_free) : NULL;
	if (!resp) {
		free(js);
		if (w->release)
			w->release(w->ctx);
		return send_json(srv, c, 503, json_pack("{s:s}", "error", "out of memory"), NULL, NULL);
	}
	js->w = *w;
	js->fd = conn_fd(c);
	MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	add_common_headers(resp);
	enum MHD_Result ret = MHD_queue_response(c, 200, resp);
	MHD_destroy_response(resp);
	count_status(srv, 200);
	return ret;
}

/* {"model": STRING, "stream": BOOL?} (Ollama's "name" for "model"): the model and streaming, or
 * NULL (the body is freed by the caller through *body) */
static const char *job_body(const conn *k, json_t **body, bool *streaming)
{
	json_error_t je;
	*body = k->body.len ? json_loadb(k->body.p, k->body.len, JSON_REJECT_DUPLICATES, &je) : NULL;
	json_t *model = json_object_get(*body, "model");
	if (!model)
		model = json_object_get(*body, "name");
	json_t *stream = json_object_get(*body, "stream");
	if (!json_is_object(*body) || !json_is_string(model) || (stream && !json_is_boolean(stream)))
		return NULL;
	*streaming = !stream || json_is_true(stream);
	return json_string_value(model);
}

/* the line a pull's state is shown as: progress, success or the error (Ollama's shapes) */
static json_t *pull_line(const hub_job_state *st)
{
	if (st->state == HUB_JOB_DONE)
		return json_pack("{s:s}", "status", "success");
	if (st->state == HUB_JOB_FAILED)
		return json_pack("{s:s}", "error", st->error);
	if (!st->file[0])
		return json_pack("{s:s}", "status", "pulling manifest");
	char status[HUB_PATH_MAX + 16];
	snprintf(status, sizeof status, "pulling %s", st->file);
	return json_pack("{s:s, s:s, s:I, s:I, s:f, s:s, s:i, s:i}", "status", status, "file", st->file, "total",
			 (json_int_t)st->total, "completed", (json_int_t)st->done, "rate", st->rate, "source", st->source,
			 "index", st->index, "count", st->count);
}

static json_t *pull_next(void *ctx, unsigned seen, double timeout, unsigned *version, bool *over)
{
	hub_job_state st;
	hub_job_wait(ctx, seen, timeout, &st);
	*version = st.version;
	*over = st.state != HUB_JOB_RUNNING;
	return pull_line(&st);
}

static void pull_release(void *ctx) { hub_job_release(ctx); }

/* POST /api/pull {"model": REF, "stream": true}: the pull runs in the background (hub_jobs.h),
 * this request watches it; errors before it starts are 400, a failed pull without a stream 500 */
static enum MHD_Result handle_pull(api_server *srv, struct MHD_Connection *c, conn *k)
{
	if (!srv->o.pulls)
		SEND_ERR(501, "server_error", "unsupported", NULL, "this node does not pull models");
	json_t *body;
	bool streaming;
	const char *model = job_body(k, &body, &streaming);
	if (!model) {
		json_decref(body);
		return send_json(srv, c, 400,
				 json_pack("{s:s}", "error", "the body must be a JSON object with \"model\": a model reference "
							     "(e.g. ORG/REPO:QUANT), and optionally \"stream\": true or false"),
				 NULL, NULL);
	}
	char err[512];
	hub_job *job;
	int rc = hub_jobs_pull(srv->o.pulls, model, &job, err, sizeof err);
	json_decref(body);
	if (rc)
		return send_json(srv, c, rc == SH_EINVAL ? 400 : 503, json_pack("{s:s}", "error", err), NULL, NULL);
	job_watch w = { pull_next, pull_release, job };
	return send_job(srv, c, &w, streaming);
}

/* POST /api/shoal/switch {"model": REF or FILE, "stream": true}: the node and its cluster switch to
 * another model in the background (api_switcher); this request watches; 400 for a body or model
 * that cannot be one, 409 while a switch to another model runs */
static enum MHD_Result handle_switch(api_server *srv, struct MHD_Connection *c, conn *k)
{
	const api_switcher *sw = srv->o.switcher;
	if (!sw)
		SEND_ERR(501, "server_error", "unsupported", NULL, "this node does not switch models");
	json_t *body;
	bool streaming;
	const char *model = job_body(k, &body, &streaming);
	if (!model || !model[0] || strlen(model) > API_MAX_MODEL_REF) {
		json_decref(body);
		return send_json(srv, c, 400,
				 json_pack("{s:s}", "error", "the body must be a JSON object with \"model\": a model reference "
							     "(e.g. ORG/REPO:QUANT) or a GGUF file of this node, and "
							     "optionally \"stream\": true or false"),
				 NULL, NULL);
	}
	char err[512] = "";
	int rc = sw->start(sw->ctx, model, err, sizeof err);
	json_decref(body);
	if (rc)
		return send_json(srv, c, rc == SH_EINVAL ? 400 : rc == SH_EAGAIN ? 409 : 503, json_pack("{s:s}", "error", err),
				 NULL, NULL);
	job_watch w = { sw->state, NULL, sw->ctx };
	return send_job(srv, c, &w, streaming);
}

static enum MHD_Result handle_metrics(api_server *srv, const served *sv, struct MHD_Connection *c)
{
	sched_stats st;
	sched_stats_get(sv->m.s, &st);
	text_buf b = { 0 };
	int rc = text_buf_addf(&b, "# HELP shoal_http_requests_total HTTP requests answered, by status code.\n"
				   "# TYPE shoal_http_requests_total counter\n");
	pthread_mutex_lock(&srv->mu);
	for (int code = 0; code < 600; code++)
		if (srv->by_status[code])
			rc |= text_buf_addf(&b, "shoal_http_requests_total{code=\"%d\"} %llu\n", code,
					    (unsigned long long)srv->by_status[code]);
	pthread_mutex_unlock(&srv->mu);
#define METRIC(name, type, help, fmt, val) \
	rc |= text_buf_addf(&b, "# HELP " name " " help "\n# TYPE " name " " type "\n" name " " fmt "\n", val)
	METRIC("shoal_requests_finished_total", "counter", "Generation requests finished (any reason).", "%llu",
	       (unsigned long long)st.requests);
	METRIC("shoal_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", "%llu",
	       (unsigned long long)st.prompt_tokens);
	METRIC("shoal_prompt_tokens_cached_total", "counter", "Prompt tokens reused from a slot's KV cache.", "%llu",
	       (unsigned long long)st.cached_tokens);
	METRIC("shoal_generated_tokens_total", "counter", "Generated tokens.", "%llu", (unsigned long long)st.gen_tokens);
	METRIC("shoal_generation_tokens_per_second", "gauge", "Generated tokens per second over the last 10 s.", "%.3f",
	       st.gen_rate);
	METRIC("shoal_steps_total", "counter", "Batched forward steps.", "%llu", (unsigned long long)st.steps);
	METRIC("shoal_steps_batched_total", "counter", "Forward steps that advanced more than one sequence.", "%llu",
	       (unsigned long long)st.steps_multi);
	METRIC("shoal_step_tokens_total", "counter", "Tokens through forward steps.", "%llu",
	       (unsigned long long)st.step_tokens);
	METRIC("shoal_busy_seconds_total", "counter", "Seconds spent in forward steps.", "%.6f", st.busy_sec);
	METRIC("shoal_queue_depth", "gauge", "Requests waiting for a slot.", "%d", st.queued);
	METRIC("shoal_slots_active", "gauge", "Slots generating or processing a prompt.", "%d", st.active);
	METRIC("shoal_slots_total", "gauge", "Slots (parallel sequences).", "%d", st.n_slots);
#undef METRIC
	enum MHD_Result r = rc ? MHD_NO
			       : send_buf(srv, c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len, NULL, NULL);
	text_buf_free(&b);
	return r;
}

/* the model served as Ollama's answers show it */
static ollama_served ollama_of(const served *sv)
{
	return (ollama_served){ .id = sv->id, .path = sv->path, .n_ctx = sv->m.n_ctx, .n_layers = sv->m.n_layers, .n_vocab = sv->n_vocab,
				.created = sv->m.created };
}

/* POST /api/chat, /api/generate: what Ollama answers before generating (ollama_precheck: another
 * model, num_ctx, nothing to generate), else the generation */
static enum MHD_Result handle_ollama(api_server *srv, served *sv, struct MHD_Connection *c, conn *k, enum api_kind kind)
{
	ollama_served os = ollama_of(sv);
	api_limits lim = { .n_vocab = sv->n_vocab };
	api_error e;
	json_t *answer;
	int pc = ollama_precheck(kind, k->body.p ? k->body.p : "", k->body.len, &lim, &os, &e, &answer);
	if (pc < 0)
		return send_error(srv, c, k, &e);
	if (pc > 0)
		return send_json(srv, c, 200, answer, NULL, NULL);
	return handle_completion(srv, sv, c, k, kind);
}

/* GET /api/tags, GET /api/ps, POST /api/show: the model served and the cache's (none when the
 * cache cannot be read) */
static enum MHD_Result handle_ollama_models(api_server *srv, const served *sv, struct MHD_Connection *c, conn *k,
					   enum route rt)
{
	hub_cache hc = { 0 };
	hub_cached *m = NULL;
	int n = 0;
	if (hub_cache_init(&hc, NULL) || hub_cached_models(&hc, &m, &n))
		m = NULL, n = 0;
	ollama_served os = ollama_of(sv);
	api_error e;
	json_t *j = rt == R_OLLAMA_TAGS ? ollama_tags(&os, &hc, m, n)
		    : rt == R_OLLAMA_PS ? ollama_ps(&os, &hc, m, n)
					: ollama_show(&os, &hc, m, n, k->body.p ? k->body.p : "", k->body.len, &e);
	free(m);
	if (!j && rt == R_OLLAMA_SHOW)
		return send_error(srv, c, k, &e);
	return send_json(srv, c, 200, j, NULL, NULL);
}

/* the API whose shapes a route's errors take (NULL: OpenAI's) */
static const api_dialect *route_dialect(enum route rt)
{
	if (rt == R_MESSAGES)
		return &api_anthropic;
	return rt >= R_OLLAMA_CHAT && rt <= R_OLLAMA_EMBED ? &api_ollama : NULL;
}

static bool by_post(enum route rt)
{
	return rt == R_CHAT || rt == R_COMPLETIONS || rt == R_PULL || rt == R_SWITCH || rt == R_MESSAGES ||
	       rt == R_OLLAMA_CHAT || rt == R_OLLAMA_GENERATE || rt == R_OLLAMA_SHOW || rt == R_OLLAMA_EMBED;
}

static const char *allowed_methods(enum route rt)
{
	return by_post(rt) ? "POST, OPTIONS" : "GET, HEAD, OPTIONS";
}

static enum MHD_Result dispatch_route(api_server *srv, served *sv, struct MHD_Connection *c, conn *k, const char *url,
				      const char *method)
{
	enum route rt = route_of(sv, url);
	bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	k->d = route_dialect(rt);
	if ((rt == R_CHAT || rt == R_COMPLETIONS || rt == R_MESSAGES || rt == R_OLLAMA_CHAT || rt == R_OLLAMA_GENERATE) &&
	    post) {
		for (size_t i = 0; i < SH_ARRAY_LEN(routes); i++)
			if (routes[i].rt == rt)
				k->log_path = routes[i].path;
		client_address(c, k->client, sizeof k->client);
	}
	if (rt == R_NONE)
		SEND_ERR(404, "invalid_request_error", "unknown_url", NULL, "unknown URL: %s %.200s", method, url);
	if (!strcmp(method, "OPTIONS")) { /* CORS preflight */
		struct MHD_Response *resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		add_common_headers(resp);
		MHD_add_response_header(resp, "Access-Control-Allow-Methods", allowed_methods(rt));
		MHD_add_response_header(resp, "Access-Control-Allow-Headers",
					"Authorization, Content-Type, x-api-key, anthropic-version, anthropic-beta");
		MHD_add_response_header(resp, "Access-Control-Max-Age", "86400");
		enum MHD_Result r = MHD_queue_response(c, 204, resp);
		MHD_destroy_response(resp);
		count_status(srv, 204);
		return r;
	}
	if (by_post(rt) ? !post : !get) {
		api_error e;
		api_error_set(&e, 405, "invalid_request_error", "method_not_allowed", NULL, "%s is not allowed on %.200s (use %s)",
			      method, url, by_post(rt) ? "POST" : "GET");
		return send_json(srv, c, 405, (k->d ? k->d : &api_openai)->error_json(&e), "Allow", allowed_methods(rt));
	}
	if (rt == R_INDEX)
		return handle_index(srv, sv, c);
	if (rt == R_ASSET) {
		const web_asset *a = asset_find(url);
		if (!a)
			SEND_ERR(404, "invalid_request_error", "unknown_url", NULL, "unknown URL: %s %.200s", method, url);
		return send_asset(srv, c, a);
	}
	if (rt == R_HEALTH) {
		if (__atomic_load_n(&srv->quiesced, __ATOMIC_RELAXED))
			return send_json(srv, c, 503, json_pack("{s:s}", "status", "stopping"), NULL, NULL);
		return send_json(srv, c, 200, json_pack("{s:s}", "status", "ok"), NULL, NULL);
	}
	if (!authorized(srv, c))
		SEND_ERR(401, "authentication_error", "invalid_api_key", NULL,
			 "invalid or missing API key: send the header 'Authorization: Bearer KEY' (or 'x-api-key: KEY')");
	if (k->too_big)
		SEND_ERR(413, "invalid_request_error", "request_too_large", NULL,
			 "the request body is larger than the limit of %zu bytes", srv->o.max_body);
	switch (rt) {
	case R_CHAT:
		return handle_completion(srv, sv, c, k, API_CHAT);
	case R_COMPLETIONS:
		return handle_completion(srv, sv, c, k, API_COMPLETION);
	case R_MESSAGES:
		return handle_completion(srv, sv, c, k, API_CHAT);
	case R_OLLAMA_CHAT:
	case R_OLLAMA_GENERATE:
		return handle_ollama(srv, sv, c, k, rt == R_OLLAMA_CHAT ? API_CHAT : API_COMPLETION);
	case R_OLLAMA_TAGS:
	case R_OLLAMA_PS:
	case R_OLLAMA_SHOW:
		return handle_ollama_models(srv, sv, c, k, rt);
	case R_OLLAMA_VERSION:
		return send_json(srv, c, 200, ollama_version(), NULL, NULL);
	case R_OLLAMA_EMBED:
		SEND_ERR(501, "server_error", "unsupported", NULL,
			 "embeddings are not supported: this node serves a generation model");
	case R_MODELS:
		return send_json(srv, c, 200, json_pack("{s:s, s:[o]}", "object", "list", "data", model_json(sv)), NULL,
				 NULL);
	case R_MODEL:
		if (strcmp(url + 11, sv->id))
			SEND_ERR(404, "invalid_request_error", "model_not_found", "model", "the model '%.200s' does not exist",
				 url + 11);
		return send_json(srv, c, 200, model_json(sv), NULL, NULL);
	case R_METRICS:
		return handle_metrics(srv, sv, c);
	case R_TOPOLOGY:
		return send_json(srv, c, 200, topology_rated(sv), NULL, NULL);
	case R_UI_MODELS:
		return handle_ui_models(srv, sv, c, k);
	case R_PULL:
		return handle_pull(srv, c, k);
	case R_SWITCH:
		return handle_switch(srv, c, k);
	default:
		return MHD_NO;
	}
}

/* the route, with the model served held while it runs */
static enum MHD_Result dispatch(api_server *srv, struct MHD_Connection *c, conn *k, const char *url, const char *method)
{
	served *sv = served_get(srv);
	enum MHD_Result r = dispatch_route(srv, sv, c, k, url, method);
	served_put(srv, sv);
	return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	api_server *srv = cls;
	conn *k = *con_cls;
	if (!k) {
		if (!(k = calloc(1, sizeof *k)))
			return MHD_NO;
		*con_cls = k;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;
		*upload_size = 0;
		if (!k->too_big && k->body.len + n <= srv->o.max_body) {
			if (text_buf_add(&k->body, upload_data, n))
				return MHD_NO;
		} else {
			k->too_big = true;
			k->discarded += n;
			text_buf_free(&k->body);
			if (k->discarded > DISCARD_MAX)
				return MHD_NO;
		}
		return MHD_YES;
	}
	return dispatch(srv, c, k, url, method);
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode why)
{
	conn *k = *con_cls;
	if (k) {
		text_buf_free(&k->body);
		free(k);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof buf, fmt, ap);
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	sh_log_debug("http: %s", buf);
}

/* ---------------------------------------------------------------- start / stop */
/* SO_REUSEADDR is MHD's default; no SO_REUSEPORT, so a port in use is an error */
static struct MHD_Daemon *daemon_start(api_server *srv, unsigned flags, int port, const struct sockaddr *addr)
{
	if (addr)
		return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, srv, MHD_OPTION_SOCK_ADDR, addr,
					MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
					(unsigned)CONNECTION_TIMEOUT, MHD_OPTION_NOTIFY_COMPLETED, request_done, srv,
					MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv, MHD_OPTION_END);
	return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, srv, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned)MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
				MHD_OPTION_NOTIFY_COMPLETED, request_done, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
				MHD_OPTION_END);
}

api_server *api_server_start(const api_server_opts *o, const api_model *m, int *err)
{
	int e = SH_ENOMEM;
	struct addrinfo *ai = NULL;
	api_server *srv = calloc(1, sizeof *srv);
	if (!srv)
		goto fail;
	srv->o = *o;
	if (!srv->o.max_body)
		srv->o.max_body = API_MAX_BODY;
	if (pthread_mutex_init(&srv->mu, NULL)) {
		free(srv);
		srv = NULL;
		goto fail;
	}
	sh_cond_init(&srv->cv);
	sh_rng_seed(&srv->rng, (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)srv << 16) ^ (uint64_t)(sh_time_sec() * 1e9));
	if (!(srv->cur = served_new(m)))
		goto fail;
	if (o->api_key && o->api_key[0] && !(srv->api_key = strdup(o->api_key)))
		goto fail;

	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG;
	e = SH_EIO;
	if (o->host && o->host[0]) {
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
		char port[16];
		snprintf(port, sizeof port, "%d", o->port);
		int g = getaddrinfo(o->host, port, &hints, &ai);
		if (g) {
			sh_log_error("--host %s: %s", o->host, gai_strerror(g));
			e = SH_EINVAL;
			goto fail;
		}
		if (ai->ai_family == AF_INET6)
			flags |= MHD_USE_IPv6;
		srv->d = daemon_start(srv, flags, o->port, ai->ai_addr);
	} else {
		/* every interface: IPv6 with IPv4 mapped, or IPv4 alone where IPv6 is off */
		if (!(srv->d = daemon_start(srv, flags | MHD_USE_DUAL_STACK, o->port, NULL)))
			srv->d = daemon_start(srv, flags, o->port, NULL);
	}
	if (!srv->d) {
		sh_log_error("cannot listen on %s port %d (in use, or not allowed)", o->host && o->host[0] ? o->host : "all interfaces",
			     o->port);
		goto fail;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->d, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di && di->port ? di->port : o->port;
	if (ai)
		freeaddrinfo(ai);
	return srv;
fail:
	if (ai)
		freeaddrinfo(ai);
	api_server_free(srv);
	if (err)
		*err = e;
	return NULL;
}

int api_server_port(const api_server *srv)
{
	return srv->port;
}

void api_server_quiesce(api_server *srv)
{
	if (!srv || !srv->d || srv->quiesced)
		return;
	__atomic_store_n(&srv->quiesced, true, __ATOMIC_RELAXED);
	MHD_socket fd = MHD_quiesce_daemon(srv->d);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

void api_server_free(api_server *srv)
{
	if (!srv)
		return;
	if (srv->d)
		MHD_stop_daemon(srv->d);
	pthread_mutex_destroy(&srv->mu);
	pthread_cond_destroy(&srv->cv);
	served_free(srv->cur);
	served_free(srv->retired);
	free(srv->api_key);
	free(srv);
}
