/*
 * node.c - peer links, membership, plan application, the shard worker and the pipeline step
 * (see node.h for the threads and docs/architecture.md "Cluster" for the why).
 *
 * Locking: c->mu guards the membership, the links table, both plans (view: what the membership
 * asks for; cur: what this node acts under), the waiter of the step in flight, the job queue and
 * the open-sequence bookkeeping. Each peer_link's socket has its own mutex (a ZeroMQ socket is used by
 * one thread at a time); the lock order is c->mu, then a peer_link's mutex. Sends never block
 * (ZMQ_DONTWAIT): a peer that cannot take a frame is a failed send, which fails the step. The
 * shard worker owns the model, its pool and the sequence table; nobody else touches them.
 */
#define _GNU_SOURCE
#include "cluster/node.h"
#include "cluster/beacon.h"
#include "cluster/keys.h"
#include "cluster/state.h"
#include "cluster/zmon.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define TICK_SEC 0.25          /* PING period */
#define HELLO_SEC 0.5          /* HELLO period to configured peers not yet known */
#define POLL_MS 50
#define AGREE_SEC 3.0          /* how long a step waits for the plan to settle */
#define SNDHWM 1000
#define BEACON_SEC 1.0         /* beacon period */
#define PROBE_SEC 10.0         /* bandwidth probe period per link (only while this node is idle) */
#define PEERS_SEC 2.0          /* period of telling each member the others' addresses */
#define PROBE_BYTES (256u << 10)
#define IGNORED_LOG_SEC 60.0   /* at most one line this often about beacons not for this cluster */
#define DROP_LOG_SEC 1.0       /* ... about dropped frames */
#define REFUSE_LOG_SEC 30.0    /* ... about refusals and failed handshakes, each kind */
#define REFUSE_SEND_SEC 1.0    /* REFUSE answers at most this often */
#define ALONE_SEC 10.0         /* with discovery on and no other node heard by then: say so once */

typedef struct {
	char addr[MEMBERS_ADDR];
	int port;
	void *sock;
	pthread_mutex_t mu;
	bool configured;          /* from --peers or a beacon: HELLO until it answers */
	double last_hello;
	void *mon;                /* zmon of sock (I/O thread), or NULL */
	bool hs_logged;           /* its failed handshake was logged */
} peer_link;

typedef struct job {
	struct job *next;
	bool purge;               /* free the sequences of origin (a dead node) */
	uint8_t origin[PLAN_ID_BYTES];
	size_t len;
	uint8_t frame[];
} job;

typedef struct {
	bool active, done;
	uint64_t batch;
	int rc;                   /* rows, or an error */
	float *out;
	int n_rows;
	char err[WIRE_MAX_ERROR + 1];
} waiter;

/* a growing send buffer owned by one thread */
typedef struct {
	uint8_t *p;
	size_t cap;
} sbuf;

struct cluster {
	cluster_opts o;
	char name[WIRE_MAX_NAME + 1];
	uint8_t id[PLAN_ID_BYTES];
	char id_hex[2 * PLAN_ID_BYTES + 1];
	char model_ident[WIRE_MAX_MODEL + 1];  /* what HELLO and beacons say (sha_ident until the header is here) */
	char sha_ident[WIRE_MAX_MODEL + 1];    /* a shared file: "sha256:<hex>", also accepted; "" none */
	node_state st;
	node_caps info;
	char host[WIRE_MAX_NAME + 1];
	int node_port;            /* bound */
	beacon *bc;               /* NULL: no discovery */
	uint64_t instance;
	double beacon_t, peers_t;
	/* tokens this node's layers computed (under mu), and their rate over the last TICK_SEC or so */
	uint64_t rows_done, rows_at_rate;
	double rate_t, tok_rate;
	bool heard_other, alone_logged; /* a beacon or introduction of another node came; the alone notice */
	int beacon_ifaces;        /* interfaces the last beacon went out on (-1: none sent yet) */
	gguf_ctx *g;
	vocab *v;
	model_hparams hp;
	plan_model pm;
	int n_ctx;
	uint64_t mem_usable;
	keys_cluster keys;
	bool secure;
	void *zctx, *pull;
	wire_limits lim;
	double t_start;
	int api_port;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	members mb;
	peer_link links[MEMBERS_MAX];
	int n_links;
	plan view, cur;
	int view_rc, cur_rc;
	uint32_t view_epoch, cur_epoch;
	bool has_cur, applying, ping_now;
	uint8_t own_open[ENGINE_MAX_SEQ];
	int n_own_open;
	/* this node's slots whose state the shards keep idle for prefix reuse, and under which epoch */
	uint8_t kept[ENGINE_MAX_SEQ], seq_failed[ENGINE_MAX_SEQ];
	uint32_t kept_epoch[ENGINE_MAX_SEQ];
	int remote_origins;       /* other nodes whose requests the worker saw running (mirror) */
	waiter w[CLUSTER_MAX_LANES];  /* steps in flight (one per scheduler lane) */
	int n_waiting;
	uint64_t next_batch;
	job *q_head, *q_tail;
	bool stopping, started;
	pthread_t io_thread, worker_thread;
	/* rate-limited log lines (I/O thread, under mu) */
	sh_ratelimit drop_rl, ignored_rl, hs_rl, refuse_rl, refused_rl, refuse_send_rl;
	char drop_last[MEMBERS_ADDR + WIRE_ERR_CAP + 8];  /* the last dropped frame's line, for a run's report */
	void *pull_mon;           /* zmon of pull (I/O thread), or NULL */
	share *sh;                /* the model file shared with the peers, or NULL */

	/* shard worker only */
	model *m;
	pool *p;
	model_ctx *mctx;
	seqtab seqs;
	int *w_tok, *w_pos;
	bool *w_want;
	kv_cache **w_kv;
	wire_fwd_token *w_recs;
	float *w_in, *w_out;
	sbuf w_buf;
	/* scheduler thread (cluster_step) and I/O thread */
	sbuf s_buf, io_buf;
	wire_fwd_token *s_recs;
};

/* ---------------------------------------------------------------- helpers */
static void hex_id(const uint8_t id[PLAN_ID_BYTES], char *out)
{
	for (int i = 0; i < PLAN_ID_BYTES; i++)
		sprintf(out + 2 * i, "%02x", id[i]);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* the frame bytes of m in b (grown as needed); length or a negative error */
static int64_t sbuf_encode(sbuf *b, const wire_msg *m)
{
	size_t n = wire_size(m);
	if (!n)
		return SH_EINVAL;
	if (n > b->cap) {
		uint8_t *p = realloc(b->p, n);
		if (!p)
			return SH_ENOMEM;
		b->p = p;
		b->cap = n;
	}
	return wire_encode(m, b->p, b->cap);
}

static void header_init(cluster *c, wire_msg *m, int type, uint32_t epoch)
{
	memset(&m->h, 0, sizeof m->h);
	m->h.type = (uint8_t)type;
	m->h.epoch = epoch;
	memcpy(m->h.sender, c->id, PLAN_ID_BYTES);
}

/* rate-limited log of a dropped frame: at most one line a second; a line after held-back ones
 * says how many came before it, and io_log_flush reports a run that nothing followed */
static void log_drop(cluster *c, const char *who, const char *why)
{
	int held;
	double span;
	snprintf(c->drop_last, sizeof c->drop_last, "from %s: %s", who, why);
	if (!sh_ratelimit_pass(&c->drop_rl, sh_time_sec(), &held, &span))
		return;
	if (held)
		sh_log_warn("cluster: frame from %s dropped: %s (%d more dropped in the %.1f s before this)", who, why, held,
			    span);
	else
		sh_log_warn("cluster: frame from %s dropped: %s", who, why);
}

/* a rate-limited line: the text, then what was held back before it */
static void log_limited(sh_ratelimit *rl, int level, const char *text)
{
	int held;
	double span;
	if (!sh_ratelimit_pass(rl, sh_time_sec(), &held, &span))
		return;
	if (held)
		sh_log(level, "%s (%d more like it in the %.0f s before this)", text, held, span);
	else
		sh_log(level, "%s", text);
}

/* runs of held-back drops that nothing followed; under c->mu */
static void io_log_flush(cluster *c, double now)
{
	int held;
	double span;
	if (sh_ratelimit_due(&c->drop_rl, now, &held, &span))
		sh_log_warn("cluster: %d more frames dropped in the %.1f s after the last such line (the last %s)", held, span,
			    c->drop_last);
}

/* ---------------------------------------------------------------- links */
static int socket_common(void *s)
{
	int zero = 0, hwm = SNDHWM;
	int64_t max = WIRE_HEADER_BYTES + (int64_t)WIRE_MAX_PAYLOAD;
	if (zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) || zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) ||
	    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) || zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max))
		return SH_EIO;
	return SH_OK;
}

/* the peer_link to addr:port, created (connecting) if new; under c->mu. NULL on error. */
static peer_link *link_get(cluster *c, const char *addr, int port)
{
	for (int i = 0; i < c->n_links; i++)
		if (c->links[i].port == port && !strcmp(c->links[i].addr, addr))
			return &c->links[i];
	if (c->n_links >= MEMBERS_MAX)
		return NULL;
	void *s = zmq_socket(c->zctx, ZMQ_PUSH);
	if (!s)
		return NULL;
	int one = 1;
	char ep[MEMBERS_ADDR + 32];
	snprintf(ep, sizeof ep, strchr(addr, ':') ? "tcp://[%s]:%d" : "tcp://%s:%d", addr, port);
	void *mon = zmon_open(c->zctx, s); /* before connecting: the first handshake is seen too */
	if (socket_common(s) || zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one) ||
	    (c->secure && keys_socket_client(s, &c->keys)) || zmq_connect(s, ep)) {
		sh_log_error("cluster: cannot connect to %s: %s", ep, zmq_strerror(zmq_errno()));
		zmq_close(s);
		zmon_close(mon);
		return NULL;
	}
	peer_link *l = &c->links[c->n_links];
	memset(l, 0, sizeof *l);
	snprintf(l->addr, sizeof l->addr, "%s", addr);
	l->port = port;
	l->sock = s;
	l->mon = mon;
	pthread_mutex_init(&l->mu, NULL);
	c->n_links++;
	return l;
}

static int link_send(peer_link *l, const void *buf, size_t n)
{
	pthread_mutex_lock(&l->mu);
	int r = zmq_send(l->sock, buf, n, ZMQ_DONTWAIT);
	pthread_mutex_unlock(&l->mu);
	return r == (int)n ? SH_OK : SH_EIO;
}

/* the peer_link of a live member (or NULL); under c->mu */
static peer_link *member_link(cluster *c, const uint8_t id[PLAN_ID_BYTES])
{
	int i = members_find(&c->mb, id);
	if (i < 0 || !c->mb.m[i].alive)
		return NULL;
	return link_get(c, c->mb.m[i].addr, c->mb.m[i].node_port);
}

/* ---------------------------------------------------------------- plans */
/* recomputes the plan the membership asks for; under c->mu */
static void view_update(cluster *c)
{
	if (!c->g) /* no plan before the model's header is here */
		return;
	plan_node nodes[PLAN_MAX_NODES];
	int n = members_plan_nodes(&c->mb, c->id, c->mem_usable, nodes);
	uint32_t e = members_epoch(nodes, n);
	if (e == c->view_epoch)
		return;
	c->view_rc = plan_compute(nodes, n, &c->pm, &c->view);
	c->view_epoch = e;
	if (c->view_rc)
		sh_log_warn("cluster: plan of %d nodes: %s", n, c->view.error);
	if (c->sh)
		share_plan(c->sh, &c->view, c->view_rc, c->view_epoch);
	pthread_cond_broadcast(&c->cv);
}

/* this node's range in p, or [0, 0) */
static void own_range(const cluster *c, const plan *p, int *first, int *last)
{
	int i = plan_find(p, c->id);
	*first = i >= 0 ? p->nodes[i].first : 0;
	*last = i >= 0 ? p->nodes[i].last : 0;
}

static void kv_free_void(void *p) { kv_cache_free(p); }

/* worker: acts under the view plan (loads the own range); c->applying is set by the caller */
static void plan_apply(cluster *c, const plan *p, int rc, uint32_t epoch)
{
	int first = 0, last = 0;
	seqtab_remove_origin(&c->seqs, NULL, kv_free_void);
	if (!rc)
		own_range(c, p, &first, &last);
	bool same = c->m && c->m->first == first && c->m->last == last;
	if (!same) {
		model_ctx_free(c->mctx);
		model_free(c->m);
		c->mctx = NULL;
		c->m = NULL;
		if (first < last) {
			int err = 0;
			char path[1200];
			snprintf(path, sizeof path, "%s", c->o.model_path);
			if (c->sh) /* the part file becomes the blob once whole */
				share_path(c->sh, path, sizeof path);
			if (!(c->m = model_load(path, first, last, &err)) ||
			    !(c->mctx = model_ctx_init(c->m, c->p, ENGINE_BATCH))) {
				sh_log_error("cluster: cannot load layers [%d, %d)", first, last);
				model_free(c->m);
				c->m = NULL;
				rc = err ? err : SH_ENOMEM;
			}
		}
	}
	pthread_mutex_lock(&c->mu);
	c->cur = *p;
	c->cur_rc = rc;
	c->cur_epoch = epoch;
	c->has_cur = true;
	c->applying = false;
	memset(c->kept, 0, sizeof c->kept);
	c->ping_now = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (rc)
		sh_log_warn("cluster: plan %08x: this node holds nothing (%s)", epoch, p->error[0] ? p->error : "load failed");
	else
		sh_log_info("cluster: plan %08x over %d nodes: this node holds layers [%d, %d) of %d", epoch, p->n_nodes,
			    first, last, p->n_layers);
}

/* ---------------------------------------------------------------- waiter (the entry's step) */
/* a LOGITS or ERROR for the step in flight; under c->mu */
static void waiter_deliver(cluster *c, uint64_t batch, const wire_msg *m, int code, const char *text)
{
	waiter *w = NULL;
	for (int i = 0; i < CLUSTER_MAX_LANES && !w; i++)
		if (c->w[i].active && !c->w[i].done && c->w[i].batch == batch)
			w = &c->w[i];
	if (!w)
		return;
	if (m) {
		if ((int)m->logits.n != w->n_rows) {
			w->rc = SH_EFORMAT;
			snprintf(w->err, sizeof w->err, "LOGITS of %u rows, expected %d", m->logits.n, w->n_rows);
		} else {
			wire_logits_get(m, w->out);
			w->rc = w->n_rows;
		}
	} else {
		w->rc = code < 0 ? code : SH_EIO;
		snprintf(w->err, sizeof w->err, "%s", text);
	}
	w->done = true;
	pthread_cond_broadcast(&c->cv);
}

/* ---------------------------------------------------------------- jobs */
/* queues a frame (copied) for the shard worker; under c->mu */
static int job_push(cluster *c, const void *frame, size_t len, const uint8_t *purge_origin)
{
	job *j = malloc(sizeof *j + len);
	if (!j)
		return SH_ENOMEM;
	j->next = NULL;
	j->purge = purge_origin != NULL;
	if (purge_origin)
		memcpy(j->origin, purge_origin, PLAN_ID_BYTES);
	j->len = len;
	if (len)
		memcpy(j->frame, frame, len);
	if (c->q_tail)
		c->q_tail->next = j;
	else
		c->q_head = j;
	c->q_tail = j;
	pthread_cond_broadcast(&c->cv);
	return SH_OK;
}

/* sends a frame to node id (this node: the worker queue); under c->mu */
static int send_to(cluster *c, const uint8_t id[PLAN_ID_BYTES], const void *frame, size_t len)
{
	if (!memcmp(id, c->id, PLAN_ID_BYTES))
		return job_push(c, frame, len, NULL);
	peer_link *l = member_link(c, id);
	return l ? link_send(l, frame, len) : SH_EIO;
}

/* worker: tells the origin that its batch failed */
static void send_error(cluster *c, const uint8_t origin[PLAN_ID_BYTES], uint64_t batch, int code, const char *text)
{
	char hx[2 * PLAN_ID_BYTES + 1];
	hex_id(origin, hx);
	sh_log_warn("cluster: batch %llu of node %.8s failed: %s", (unsigned long long)batch, hx, text);
	pthread_mutex_lock(&c->mu);
	if (!memcmp(origin, c->id, PLAN_ID_BYTES)) {
		waiter_deliver(c, batch, NULL, code, text);
	} else {
		wire_msg m;
		header_init(c, &m, WIRE_ERROR, c->cur_epoch);
		m.h.request_id = batch;
		memcpy(m.error.origin, origin, PLAN_ID_BYTES);
		m.error.code = code;
		snprintf(m.error.text, sizeof m.error.text, "%s", text);
		int64_t n = sbuf_encode(&c->w_buf, &m);
		if (n > 0)
			send_to(c, origin, c->w_buf.p, (size_t)n);
	}
	pthread_mutex_unlock(&c->mu);
}

/* worker: runs this node's layers over one FORWARD and passes the result on */
static void shard_forward(cluster *c, const wire_msg *in)
{
	const wire_forward *f = &in->fwd;
	uint64_t batch = in->h.request_id;
	char why[WIRE_MAX_ERROR];
	uint8_t next[PLAN_ID_BYTES];
	pthread_mutex_lock(&c->mu);
	bool ok = c->has_cur && !c->cur_rc && c->m && in->h.epoch == c->cur_epoch && (int)f->layer == c->m->first;
	bool last = ok && model_is_last(c->m);
	if (ok && !last) {
		int o = plan_owner(&c->cur, c->m->last);
		ok = o >= 0;
		if (ok)
			memcpy(next, c->cur.nodes[o].id, PLAN_ID_BYTES);
	}
	if (!ok)
		snprintf(why, sizeof why, "node %.8s: FORWARD of layer %u under plan %08x, this node holds [%d, %d) under plan %08x",
			 c->id_hex, f->layer, in->h.epoch, c->m ? c->m->first : 0, c->m ? c->m->last : 0, c->cur_epoch);
	pthread_mutex_unlock(&c->mu);
	if (!ok) {
		send_error(c, f->origin, batch, SH_EINVAL, why);
		return;
	}
	int n = (int)f->n, n_want = 0;
	if (n > ENGINE_BATCH) {
		send_error(c, f->origin, batch, SH_ERANGE, "FORWARD of more tokens than the batch cap");
		return;
	}
	for (int i = 0; i < n; i++) {
		wire_fwd_token t = wire_forward_token(in, (uint32_t)i);
		seqtab_entry *e = seqtab_find(&c->seqs, f->origin, t.request_id);
		if (e) {
			seqtab_use(&c->seqs, e);
		} else if (t.pos) {
			snprintf(why, sizeof why, "node %.8s: sequence %llu continues at position %u but its state is gone here",
				 c->id_hex, (unsigned long long)t.request_id, t.pos);
			send_error(c, f->origin, batch, SH_EIO, why);
			return;
		} else {
			kv_cache *kv = kv_cache_init(c->m, c->n_ctx, c->o.cache_type);
			if (!kv || !(e = seqtab_add(&c->seqs, f->origin, t.request_id, kv, kv_free_void))) {
				kv_cache_free(kv);
				send_error(c, f->origin, batch, SH_ENOMEM, "no room for another sequence");
				return;
			}
		}
		c->w_recs[i] = t;
		c->w_tok[i] = t.token;
		c->w_pos[i] = (int)t.pos;
		c->w_kv[i] = e->state;
		c->w_want[i] = t.flags & WIRE_TOKEN_SAMPLE;
		n_want += c->w_want[i];
	}
	if (f->layer > 0)
		wire_forward_hidden(in, c->w_in);
	model_batch mb = { .n = n, .tokens = c->w_tok, .embd = f->layer > 0 ? c->w_in : NULL, .pos = c->w_pos,
			   .kv = c->w_kv, .logits = c->w_want };
	int r = model_forward(c->mctx, &mb, c->w_out);
	if (r < 0 || (last && r != n_want)) {
		snprintf(why, sizeof why, "node %.8s: forward pass of layers [%d, %d) failed (%s)", c->id_hex, c->m->first,
			 c->m->last, sh_strerror(r));
		send_error(c, f->origin, batch, r < 0 ? r : SH_EINVAL, why);
		return;
	}
	wire_msg out;
	pthread_mutex_lock(&c->mu);
	c->rows_done += (uint64_t)n;
	if (last) {
		if (!memcmp(f->origin, c->id, PLAN_ID_BYTES)) {
			wire_msg lm;
			lm.h.type = WIRE_LOGITS;
			lm.logits = (wire_logits){ .n = (uint32_t)r, .n_vocab = (uint32_t)c->hp.n_vocab, .rows = c->w_out };
			waiter_deliver(c, batch, &lm, 0, NULL);
			pthread_mutex_unlock(&c->mu);
			return;
		}
		header_init(c, &out, WIRE_LOGITS, in->h.epoch);
		out.logits = (wire_logits){ .n = (uint32_t)r, .n_vocab = (uint32_t)c->hp.n_vocab, .rows = c->w_out };
	} else {
		header_init(c, &out, WIRE_FORWARD, in->h.epoch);
		if (c->o.wire_f16)
			out.h.flags = WIRE_FLAG_F16;
		memcpy(out.fwd.origin, f->origin, PLAN_ID_BYTES);
		out.fwd.layer = (uint32_t)c->m->last;
		out.fwd.n = (uint32_t)n;
		out.fwd.dim = (uint32_t)c->hp.dim;
		out.fwd.tokens = c->w_recs;
		out.fwd.hidden = c->w_out;
	}
	out.h.request_id = batch;
	out.h.seq = in->h.seq;
	int64_t len = sbuf_encode(&c->w_buf, &out);
	int rc = len > 0 ? send_to(c, last ? f->origin : next, c->w_buf.p, (size_t)len) : (int)len;
	pthread_mutex_unlock(&c->mu);
	if (rc)
		send_error(c, f->origin, batch, SH_EIO, "cannot send to the next node");
}

static void worker_job_run(cluster *c, job *j)
{
	if (j->purge) {
		int n = seqtab_remove_origin(&c->seqs, j->origin, kv_free_void);
		if (n)
			sh_log_info("cluster: freed %d sequences of a dead node", n);
		return;
	}
	wire_msg m;
	char err[WIRE_ERR_CAP];
	if (wire_decode(j->frame, j->len, &c->lim, &m, err, sizeof err)) {
		sh_log_warn("cluster: queued frame invalid: %s", err);
		return;
	}
	if (m.h.type == WIRE_FORWARD) {
		shard_forward(c, &m);
	} else if (m.h.type == WIRE_CANCEL) {
		for (uint32_t i = 0; i < m.cancel.n; i++) {
			uint64_t rid = wire_cancel_get(&m, i);
			if (m.cancel.reason == WIRE_CANCEL_KEEP)
				seqtab_idle(&c->seqs, m.cancel.origin, rid);
			else
				seqtab_remove(&c->seqs, m.cancel.origin, rid, kv_free_void);
		}
	}
}

static void worker_job(cluster *c, job *j)
{
	worker_job_run(c, j);
	int n = seqtab_active_origins(&c->seqs, c->id);
	pthread_mutex_lock(&c->mu);
	c->remote_origins = n;
	pthread_mutex_unlock(&c->mu);
}

static void *worker_main(void *arg)
{
	cluster *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		job *j = c->q_head;
		if (j) {
			c->q_head = j->next;
			if (!c->q_head)
				c->q_tail = NULL;
			pthread_mutex_unlock(&c->mu);
			worker_job(c, j);
			free(j);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		/* a new plan only while nothing runs: no step in flight, no open sequence here or of ours
		 * (idle ones, kept for prefix reuse, are dropped) */
		double grace = c->o.peers && c->o.peers[0] ? SH_MIN(1.0, c->o.peer_timeout) : 0;
		int vf = 0, vl = 0;
		if (!c->view_rc)
			own_range(c, &c->view, &vf, &vl);
		if (c->g && (!c->has_cur || c->view_epoch != c->cur_epoch) && !c->n_waiting && !c->n_own_open &&
		    !seqtab_active(&c->seqs) && sh_time_sec() - c->t_start >= grace &&
		    (!c->sh || share_ready(c->sh, vf, vl))) {
			plan p = c->view;
			int rc = c->view_rc;
			uint32_t e = c->view_epoch;
			c->applying = true;
			pthread_mutex_unlock(&c->mu);
			plan_apply(c, &p, rc, e);
			pthread_mutex_lock(&c->mu);
			continue;
		}
		sh_cond_wait_sec(&c->cv, &c->mu, POLL_MS / 1000.0);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---------------------------------------------------------------- I/O thread */
/* an identity a peer gives is this node's model: its header's identity, or the shared file's sha.
 * A node still without the header of its shared file cannot tell: it takes any (what it gets from
 * such a peer is only chunks of its own file, by sha256), and drops those of another model once
 * the header is here (model_open) */
static bool model_ours(const cluster *c, const char *ident)
{
	return !c->g || !strcmp(ident, c->model_ident) || (c->sha_ident[0] && !strcmp(ident, c->sha_ident));
}

static void hello_fill(cluster *c, wire_msg *m, int type)
{
	header_init(c, m, type, c->cur_epoch);
	wire_hello *h = &m->hello;
	memset(h, 0, sizeof *h);
	h->proto_min = h->proto_max = WIRE_VERSION;
	h->caps = WIRE_CAP_F16;
	h->info = c->info;
	h->mem_usable = SH_MIN(c->mem_usable, c->info.mem_total);
	h->node_port = (uint16_t)c->node_port;
	h->api_port = (uint16_t)c->api_port;
	snprintf(h->cluster, sizeof h->cluster, "%s", c->name);
	snprintf(h->host, sizeof h->host, "%s", c->host);
	snprintf(h->model, sizeof h->model, "%s", c->model_ident);
}

static void send_msg(cluster *c, peer_link *l, const wire_msg *m)
{
	int64_t n = sbuf_encode(&c->io_buf, m);
	if (n > 0 && l)
		link_send(l, c->io_buf.p, (size_t)n);
}

/* a member's list of the others: greet those this node has no live link with (a node that only
 * listed one peer, or sends no beacons, still gets linked with everyone); under c->mu */
static void io_peers(cluster *c, const wire_msg *m)
{
	for (uint32_t i = 0; i < m->peers.n; i++) {
		wire_peer e = wire_peers_get(m, i);
		bool known = false;
		for (int k = 0; k < c->mb.n && !known; k++)
			known = c->mb.m[k].alive && c->mb.m[k].node_port == e.port && !strcmp(c->mb.m[k].addr, e.addr);
		peer_link *l = known ? NULL : link_get(c, e.addr, e.port);
		if (l && !l->configured) {
			l->configured = true;
			l->last_hello = 0;
			sh_log_info("cluster: told of a node at %s:%u", e.addr, e.port);
		}
	}
}

/* a member asks this node to serve another model: the owner of the node takes note (on_switch),
 * with where the asker's node of it listens; under c->mu */
static void io_switch(cluster *c, const member *mb, const wire_msg *m)
{
	char hx[2 * PLAN_ID_BYTES + 1], peer[MEMBERS_ADDR + 16];
	hex_id(mb->id, hx);
	if (!c->o.on_switch) {
		log_drop(c, mb->addr, "SWITCH, and this node does not switch models");
		return;
	}
	snprintf(peer, sizeof peer, strchr(mb->addr, ':') ? "[%s]:%u" : "%s:%u", mb->addr, m->sw.node_port);
	sh_log_info("cluster: node %.8s at %s asks for the model %s (its node of it at %s, %u nodes)", hx, mb->addr,
		    m->sw.model, peer, m->sw.nodes);
	c->o.on_switch(c->o.switch_ctx, m->sw.model, peer, m->sw.nodes);
}

/* what differs, in words, from this node's side: "it serves X, this node serves Y" */
static void refusal_words(const cluster *c, int reason, const char *theirs, char *out, size_t cap)
{
	SH_ASSERT(cap > WIRE_MAX_ERROR + 200);
	if (reason == WIRE_REFUSE_CLUSTER)
		snprintf(out, cap, "it is in cluster '%s', this node in '%s' (--cluster-name)", theirs, c->name);
	else if (reason == WIRE_REFUSE_MODEL)
		snprintf(out, cap, "it serves another model (%s; this node serves %s)", theirs, c->model_ident);
	else
		snprintf(out, cap, "it speaks protocol %s, this node %d", theirs, WIRE_VERSION);
}

/* a HELLO or WELCOME refused for reason: logged, and answered with a REFUSE saying why (at most
 * one a second; on the link to that node if there is one, else on a socket that lives until the
 * frame is out), so that the refused node can log it too; under c->mu */
static void io_refuse(cluster *c, const wire_msg *m, const char *peer, int reason)
{
	const wire_hello *h = &m->hello;
	char theirs[WIRE_MAX_MODEL + 32], words[WIRE_MAX_ERROR + 256], line[WIRE_MAX_ERROR + 512], hx[2 * PLAN_ID_BYTES + 1];
	if (reason == WIRE_REFUSE_VERSION)
		snprintf(theirs, sizeof theirs, "%u..%u", h->proto_min, h->proto_max);
	else
		snprintf(theirs, sizeof theirs, "%s", reason == WIRE_REFUSE_CLUSTER ? h->cluster : h->model);
	refusal_words(c, reason, theirs, words, sizeof words);
	hex_id(m->h.sender, hx);
	snprintf(line, sizeof line, "cluster: refusing the node %.8s at %s:%u: %s", hx, peer ? peer : "?", h->node_port, words);
	log_limited(&c->refuse_rl, SH_LOG_WARN, line);
	int held;
	double span;
	if (!peer || !h->node_port || !sh_ratelimit_pass(&c->refuse_send_rl, sh_time_sec(), &held, &span))
		return;
	wire_msg r;
	header_init(c, &r, WIRE_REFUSE, c->cur_epoch);
	memcpy(r.error.origin, m->h.sender, PLAN_ID_BYTES);
	r.error.code = reason;
	if (reason == WIRE_REFUSE_VERSION)
		snprintf(r.error.text, sizeof r.error.text, "%d..%d", WIRE_VERSION, WIRE_VERSION);
	else
		snprintf(r.error.text, sizeof r.error.text, "%s", reason == WIRE_REFUSE_CLUSTER ? c->name : c->model_ident);
	for (int i = 0; i < c->n_links; i++)
		if (c->links[i].port == h->node_port && !strcmp(c->links[i].addr, peer)) {
			send_msg(c, &c->links[i], &r);
			return;
		}
	int64_t n = sbuf_encode(&c->io_buf, &r);
	void *s = n > 0 ? zmq_socket(c->zctx, ZMQ_PUSH) : NULL;
	if (!s)
		return;
	char ep[MEMBERS_ADDR + 32];
	snprintf(ep, sizeof ep, strchr(peer, ':') ? "tcp://[%s]:%u" : "tcp://%s:%u", peer, h->node_port);
	int linger = 1000;
	if (!socket_common(s) && !zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) &&
	    !(c->secure && keys_socket_client(s, &c->keys)) && !zmq_connect(s, ep))
		zmq_send(s, c->io_buf.p, (size_t)n, ZMQ_DONTWAIT);
	zmq_close(s); /* the frame still goes out, for up to a second */
}

/* one incoming frame; under c->mu */
static void io_frame(cluster *c, zmq_msg_t *zm)
{
	const uint8_t *b = zmq_msg_data(zm);
	size_t len = zmq_msg_size(zm);
	const char *peer = zmq_msg_gets(zm, "Peer-Address");
	char who[MEMBERS_ADDR];
	snprintf(who, sizeof who, "%s", peer ? peer : "?");
	wire_msg m;
	char err[WIRE_ERR_CAP];
	if (wire_decode(b, len, &c->lim, &m, err, sizeof err)) {
		log_drop(c, who, err);
		return;
	}
	if (!memcmp(m.h.sender, c->id, PLAN_ID_BYTES)) {
		log_drop(c, who, "a frame with this node's own id");
		return;
	}
	double now = sh_time_sec();
	int mi = members_find(&c->mb, m.h.sender);
	if (m.h.type == WIRE_REFUSE) { /* changes nothing: the reason is logged */
		if (!memcmp(m.error.origin, c->id, PLAN_ID_BYTES)) {
			char words[WIRE_MAX_ERROR + 256], line[WIRE_MAX_ERROR + 512];
			refusal_words(c, m.error.code, m.error.text, words, sizeof words);
			snprintf(line, sizeof line, "cluster: the node at %s refuses this node: %s", who, words);
			log_limited(&c->refused_rl, SH_LOG_WARN, line);
		}
		return;
	}
	if (m.h.type == WIRE_HELLO || m.h.type == WIRE_WELCOME) {
		const wire_hello *h = &m.hello;
		c->heard_other = true;
		int reason = strcmp(h->cluster, c->name)	? WIRE_REFUSE_CLUSTER
			     : !model_ours(c, h->model)          ? WIRE_REFUSE_MODEL
			     : h->proto_min > WIRE_VERSION || h->proto_max < WIRE_VERSION ? WIRE_REFUSE_VERSION : 0;
		if (reason) {
			io_refuse(c, &m, peer, reason);
			return;
		}
		if (!peer) {
			log_drop(c, who, "HELLO without a peer address");
			return;
		}
		bool joined = false;
		mi = members_upsert(&c->mb, m.h.sender, peer, h->node_port, h->api_port, h->mem_usable, &h->info, h->host,
				    now, &joined);
		if (mi < 0) {
			log_drop(c, who, "membership table full");
			return;
		}
		c->mb.m[mi].epoch = m.h.epoch;
		snprintf(c->mb.m[mi].model, sizeof c->mb.m[mi].model, "%s", h->model);
		peer_link *l = link_get(c, peer, h->node_port);
		if (joined) {
			char hx[2 * PLAN_ID_BYTES + 1];
			hex_id(m.h.sender, hx);
			sh_log_info("cluster: node %.8s at %s:%u joined (%llu MiB usable)", hx, peer, h->node_port,
				    (unsigned long long)(h->mem_usable >> 20));
			if (c->sh)
				share_peer(c->sh, m.h.sender, true);
			view_update(c);
		}
		if (m.h.type == WIRE_HELLO && l) {
			wire_msg r;
			hello_fill(c, &r, WIRE_WELCOME);
			send_msg(c, l, &r);
		}
		return;
	}
	if (mi < 0 || !c->mb.m[mi].alive) {
		/* a PING can overtake the introduction (a WELCOME sent before the link was up is lost;
		 * the HELLO is repeated), so only other types are worth a log line */
		if (m.h.type != WIRE_PING && m.h.type != WIRE_PONG)
			log_drop(c, who, "a message from a node that has not introduced itself");
		return;
	}
	member *mb = &c->mb.m[mi];
	mb->last_seen = now;
	mb->epoch = m.h.epoch;
	switch (m.h.type) {
	case WIRE_PING: {
		mb->tok_rate = m.ping.tok_rate / 10.0;
		wire_msg r;
		header_init(c, &r, WIRE_PONG, c->cur_epoch);
		r.h.seq = m.h.seq;
		r.ping = m.ping;
		r.ping.tok_rate = 0;
		send_msg(c, member_link(c, m.h.sender), &r);
		break;
	}
	case WIRE_PONG: {
		double rtt = (double)(now_ns() - m.ping.time_ns) / 1e6;
		if (!m.ping.pad) {
			mb->rtt_ms = rtt;
			mb->rtt_min_ms = mb->rtt_min_ms < 0 ? rtt : SH_MIN(rtt, mb->rtt_min_ms * 1.01);
		} else if (mb->rtt_min_ms > 0 && rtt > mb->rtt_min_ms) { /* the padding's share of the round trip */
			mb->bw_mbps = (double)m.ping.pad * 8 / ((rtt - mb->rtt_min_ms) / 1e3) / 1e6;
		}
		break;
	}
	case WIRE_FORWARD:
	case WIRE_CANCEL:
		job_push(c, b, len, NULL);
		break;
	case WIRE_LOGITS:
		waiter_deliver(c, m.h.request_id, &m, 0, NULL);
		break;
	case WIRE_PEERS:
		io_peers(c, &m);
		break;
	case WIRE_SWITCH:
		io_switch(c, mb, &m);
		break;
	case WIRE_ERROR:
		if (!memcmp(m.error.origin, c->id, PLAN_ID_BYTES))
			waiter_deliver(c, m.h.request_id, NULL, m.error.code, m.error.text);
		break;
	case WIRE_HAVE:
	case WIRE_WANT:
	case WIRE_CHUNK:
	case WIRE_HASH:
	case WIRE_TABLE:
		if (c->sh)
			share_frame(c->sh, &m);
		else
			log_drop(c, who, "a model-file transfer, and this node shares no file");
		break;
	default:
		log_drop(c, who, "message type not used by this version");
	}
}

/* tells every live member where the others listen; under c->mu */
static void io_peers_send(cluster *c)
{
	wire_peer all[MEMBERS_MAX], list[MEMBERS_MAX];
	int n = 0;
	for (int i = 0; i < c->mb.n; i++)
		if (c->mb.m[i].alive && strlen(c->mb.m[i].addr) <= WIRE_MAX_ADDR) {
			all[n] = (wire_peer){ .port = (uint16_t)c->mb.m[i].node_port };
			snprintf(all[n].addr, sizeof all[n].addr, "%s", c->mb.m[i].addr);
			n++;
		}
	for (int to = 0; to < n && n > 1; to++) {
		int k = 0;
		for (int i = 0; i < n; i++)
			if (i != to)
				list[k++] = all[i];
		wire_msg m;
		header_init(c, &m, WIRE_PEERS, c->cur_epoch);
		m.peers = (wire_peers){ .n = (uint32_t)k, .items = list };
		send_msg(c, link_get(c, all[to].addr, all[to].port), &m);
	}
}

/* liveness: a member silent for the peer timeout is dead (checked every poll); under c->mu */
static void io_expire(cluster *c, double now)
{
	int died = members_expire(&c->mb, now, c->o.peer_timeout);
	if (died) {
		for (int i = 0; i < c->mb.n; i++) {
			member *m = &c->mb.m[i];
			if (!m->alive && m->last_seen > 0) {
				char hx[2 * PLAN_ID_BYTES + 1];
				hex_id(m->id, hx);
				if (now - m->last_seen < c->o.peer_timeout + 2 * TICK_SEC + 0.5) {
					sh_log_warn("cluster: node %.8s at %s:%d is silent: dead", hx, m->addr, m->node_port);
					job_push(c, NULL, 0, m->id);
				}
				if (c->sh)
					share_peer(c->sh, m->id, false);
			}
		}
		view_update(c);
		pthread_cond_broadcast(&c->cv);
	}
}

/* a beacon of the LAN: a peer of this cluster (name, key, model) is connected to and greeted
 * like one of --peers; under c->mu */
static void io_beacon(cluster *c, const uint8_t *buf, int len, const char *from, double now)
{
	beacon_msg b;
	char err[BEACON_ERR_CAP];
	int rc = beacon_decode(buf, (size_t)len, c->secure ? &c->keys : NULL, &b, err, sizeof err);
	const char *ignored = NULL;
	if ((rc == SH_OK && memcmp(b.id, c->id, PLAN_ID_BYTES)) || rc == BEACON_EAUTH)
		c->heard_other = true;
	char why[BEACON_ERR_CAP + 2 * WIRE_MAX_MODEL + 64];
	if (rc == BEACON_EAUTH)
		ignored = "another cluster key (or none)";
	else if (rc) {
		log_drop(c, from, err);
		return;
	} else if (!memcmp(b.id, c->id, PLAN_ID_BYTES)) {
		/* this node's own; of another model, its node of the model it switches to or from */
		if (b.instance != c->instance && model_ours(c, b.model))
			log_drop(c, from, "a beacon of another node with this node's id");
		return;
	} else if (strcmp(b.cluster, c->name)) {
		snprintf(why, sizeof why, "cluster '%s'", b.cluster);
		ignored = why;
	} else if (!model_ours(c, b.model)) {
		snprintf(why, sizeof why, "another model (%s; this node serves %s)", b.model, c->model_ident);
		ignored = why;
	}
	if (ignored) {
		char line[sizeof why + 160];
		snprintf(line, sizeof line, "cluster: ignoring the beacons of %s: %s", from, ignored);
		log_limited(&c->ignored_rl, SH_LOG_INFO, line);
		return;
	}
	int mi = members_find(&c->mb, b.id);
	if (mi >= 0 && c->mb.m[mi].alive)
		return;
	peer_link *l = link_get(c, from, b.node_port);
	if (l && !l->configured) {
		l->configured = true;
		l->last_hello = 0;
		sh_log_info("cluster: discovered a node at %s:%u", from, b.node_port);
	}
}

static void io_beacon_send(cluster *c)
{
	beacon_msg b = { .instance = c->instance, .node_port = (uint16_t)c->node_port, .api_port = (uint16_t)c->api_port };
	memcpy(b.id, c->id, PLAN_ID_BYTES);
	snprintf(b.cluster, sizeof b.cluster, "%s", c->name);
	snprintf(b.model, sizeof b.model, "%s", c->model_ident);
	uint8_t buf[BEACON_MAX_BYTES];
	int n = beacon_encode(&b, c->secure ? &c->keys : NULL, buf, sizeof buf);
	int k = n > 0 ? beacon_send(c->bc, buf, (size_t)n) : n;
	if (k == 0 && c->beacon_ifaces != 0)
		sh_log_warn("cluster: no interface to send beacons on (only loopback or container bridges?): "
			    "this node finds no peers by itself (see --interface, --peers)");
	else if (k > 0 && c->beacon_ifaces <= 0)
		sh_log(c->o.copy_only ? SH_LOG_DEBUG : SH_LOG_INFO, "cluster: beacons go out on %d interface%s", k,
		       k > 1 ? "s" : "");
	c->beacon_ifaces = k;
}

/* discovery on, ALONE_SEC after start, and no other node heard (no beacon, no introduction): says
 * so once, with where the beacons go and how to reach nodes they cannot; under c->mu */
static void io_alone_check(cluster *c, double now)
{
	if (!c->bc || c->alone_logged || c->heard_other || c->mb.n || now - c->t_start < ALONE_SEC || c->beacon_ifaces <= 0)
		return;
	c->alone_logged = true;
	beacon_iface f[8];
	int n = beacon_ifaces(c->o.interface, f, 8);
	char where[512] = "";
	size_t k = 0;
	for (int i = 0; i < n && k < sizeof where; i++)
		k += (size_t)snprintf(where + k, sizeof where - k, "%s%s (%s, broadcast %s)", i ? ", " : "", f[i].name,
				      f[i].addr, f[i].bcast);
	sh_log_warn("cluster: no other node heard in %.0f s: beacons go out on %s, UDP port %d. Nodes join when they "
		    "run shoal with the same model%s on this LAN; for nodes the broadcasts do not reach (another "
		    "subnet, a VPN, a firewall), list them: --peers HOST:%d[,HOST:PORT]",
		    ALONE_SEC, where[0] ? where : "no interface", beacon_port(c->bc), c->secure ? " and cluster key" : "",
		    CLUSTER_NODE_PORT);
}

/* failed handshakes seen by the monitors of the node port and of each link; under c->mu */
static void io_handshakes(cluster *c)
{
	char why[160], line[400];
	while (c->pull_mon && zmon_read(c->pull_mon, c->secure, why, sizeof why)) {
		snprintf(line, sizeof line, "cluster: a node could not link with this node (port %d): %s", c->node_port, why);
		log_limited(&c->hs_rl, SH_LOG_WARN, line);
	}
	for (int i = 0; i < c->n_links; i++) {
		peer_link *l = &c->links[i];
		while (l->mon && zmon_read(l->mon, c->secure, why, sizeof why))
			if (!l->hs_logged) { /* each reconnection fails the same way: once per link */
				l->hs_logged = true;
				sh_log_warn("cluster: cannot link with the node at %s:%d: %s", l->addr, l->port, why);
			}
	}
}

/* pings, HELLOs and beacons; under c->mu */
static void io_tick(cluster *c, double now)
{
	if (c->bc && now - c->beacon_t >= BEACON_SEC) {
		c->beacon_t = now;
		io_beacon_send(c);
	}
	if (now - c->peers_t >= PEERS_SEC) {
		c->peers_t = now;
		io_peers_send(c);
	}
	wire_msg hm;
	hello_fill(c, &hm, WIRE_HELLO);
	for (int i = 0; i < c->n_links; i++) {
		peer_link *l = &c->links[i];
		bool known = false;
		for (int k = 0; k < c->mb.n && !known; k++)
			known = c->mb.m[k].alive && c->mb.m[k].node_port == l->port && !strcmp(c->mb.m[k].addr, l->addr);
		if (l->configured && !known && now - l->last_hello >= HELLO_SEC) {
			l->last_hello = now;
			send_msg(c, l, &hm);
		}
	}
	if (now - c->rate_t >= TICK_SEC) { /* a new window of the rate: half the old one, half this one */
		double r = (double)(c->rows_done - c->rows_at_rate) / (now - c->rate_t);
		c->tok_rate = c->rate_t > 0 ? 0.5 * c->tok_rate + 0.5 * r : r;
		c->rows_at_rate = c->rows_done;
		c->rate_t = now;
	}
	wire_msg pm;
	header_init(c, &pm, WIRE_PING, c->cur_epoch);
	pm.ping = (wire_ping){ .time_ns = now_ns(), .tok_rate = (uint32_t)SH_MIN(c->tok_rate * 10 + 0.5, 4e9) };
	for (int i = 0; i < c->mb.n; i++)
		if (c->mb.m[i].alive) {
			pm.h.seq++;
			send_msg(c, member_link(c, c->mb.m[i].id), &pm);
		}
	/* bandwidth probes only while nothing runs here: they would delay a step's frames */
	bool idle = !c->n_own_open && !c->n_waiting && !c->q_head && !c->remote_origins;
	for (int i = 0; i < c->mb.n && idle; i++) {
		member *mb = &c->mb.m[i];
		if (mb->alive && mb->rtt_ms > 0 && now - mb->probe_t >= (mb->bw_mbps < 0 ? 1.0 : PROBE_SEC)) {
			mb->probe_t = now;
			pm.h.seq++;
			pm.ping.pad = PROBE_BYTES;
			pm.ping.time_ns = now_ns();
			send_msg(c, member_link(c, mb->id), &pm);
		}
	}
}

static void *io_main(void *arg)
{
	cluster *c = arg;
	double last_tick = 0;
	zmq_msg_t zm;
	zmq_msg_init(&zm);
	for (;;) {
		zmq_pollitem_t it[3] = { { .socket = c->pull, .events = ZMQ_POLLIN },
					 { .fd = c->sh ? share_fd(c->sh) : -1, .events = ZMQ_POLLIN },
					 { .fd = c->bc ? beacon_fd(c->bc) : -1, .events = ZMQ_POLLIN } };
		int r = zmq_poll(it, c->bc ? 3 : 2, POLL_MS);
		pthread_mutex_lock(&c->mu);
		if (c->stopping) {
			pthread_mutex_unlock(&c->mu);
			break;
		}
		if (r > 0 && (it[0].revents & ZMQ_POLLIN))
			for (int k = 0; k < 256 && zmq_msg_recv(&zm, c->pull, ZMQ_DONTWAIT) >= 0; k++)
				io_frame(c, &zm);
		if (r > 0 && c->bc && (it[2].revents & ZMQ_POLLIN)) {
			uint8_t buf[BEACON_MAX_BYTES];
			char from[64];
			int n;
			for (int k = 0; k < 64 && (n = beacon_recv(c->bc, buf, sizeof buf, from, sizeof from)) > 0; k++)
				io_beacon(c, buf, n, from, sh_time_sec());
		}
		double now = sh_time_sec();
		io_expire(c, now);
		if (c->sh)
			share_tick(c->sh, now, c->n_own_open || c->n_waiting || c->q_head || c->remote_origins, c->cur_epoch);
		if (now - last_tick >= TICK_SEC || c->ping_now) {
			c->ping_now = false;
			last_tick = now;
			io_tick(c, now);
			io_handshakes(c);
			io_alone_check(c, now);
			io_log_flush(c, now);
		}
		pthread_mutex_unlock(&c->mu);
	}
	zmq_msg_close(&zm);
	return NULL;
}

/* ---------------------------------------------------------------- the step (scheduler thread) */
/* the live plan members holding layers all act under epoch; under c->mu */
static bool plan_agreed(cluster *c, char *why, size_t cap)
{
	for (int i = 0; i < c->cur.n_nodes; i++) {
		const plan_shard *s = &c->cur.nodes[i];
		if (s->first == s->last || !memcmp(s->id, c->id, PLAN_ID_BYTES))
			continue;
		int k = members_find(&c->mb, s->id);
		char hx[2 * PLAN_ID_BYTES + 1];
		hex_id(s->id, hx);
		if (k < 0 || !c->mb.m[k].alive) {
			snprintf(why, cap, "node %.8s (layers %d-%d) is gone", hx, s->first, s->last - 1);
			return false;
		}
		if (c->mb.m[k].epoch != c->cur_epoch) {
			snprintf(why, cap, "node %.8s acts under plan %08x, this node under %08x", hx, c->mb.m[k].epoch,
				 c->cur_epoch);
			return false;
		}
	}
	return true;
}

int cluster_step(void *ctx, const engine_batch *b, float *logits)
{
	cluster *c = ctx;
	char why[WIRE_MAX_ERROR + 64] = "";
	int n_rows = 0;
	for (int i = 0; i < b->n; i++)
		n_rows += !b->logits || b->logits[i];
	pthread_mutex_lock(&c->mu);
	bool fresh = true;
	for (int i = 0; i < b->n; i++)
		fresh &= !c->own_open[b->seq[i]];
	double t0 = sh_time_sec();
	/* a batch of new requests only waits for a pending plan to be applied and agreed on */
	for (;;) {
		bool settled = c->has_cur && !c->applying &&
			       (!fresh || c->n_own_open || c->view_epoch == c->cur_epoch) &&
			       (c->cur_rc || plan_agreed(c, why, sizeof why));
		if (settled || c->stopping || sh_time_sec() - t0 > AGREE_SEC)
			break;
		sh_cond_wait_sec(&c->cv, &c->mu, 0.01);
	}
	int rc = SH_OK;
	if (c->stopping)
		rc = SH_EIO;
	else if (!c->has_cur || c->applying) {
		snprintf(why, sizeof why, "the cluster has no plan yet");
		rc = SH_EIO;
	} else if (c->cur_rc) {
		snprintf(why, sizeof why, "%s", c->cur.error[0] ? c->cur.error : "this node could not load its layers");
		rc = c->cur_rc;
	} else if (!plan_agreed(c, why, sizeof why)) {
		rc = SH_EIO;
	}
	/* a slot that reuses its cached prefix (its first token of the batch is past position 0)
	 * continues state the shards keep only under the epoch that built it (cluster_seq_reusable
	 * said so at admission; a re-plan may have come since) */
	bool seen[ENGINE_MAX_SEQ] = { 0 };
	for (int i = 0; i < b->n && !rc; i++) {
		int q = b->seq[i];
		bool first = !seen[q];
		seen[q] = true;
		if (first && !c->own_open[q] && b->pos[i] > 0 && (!c->kept[q] || c->kept_epoch[q] != c->cur_epoch)) {
			snprintf(why, sizeof why, "the cluster re-planned after slot %d's prompt was cached", q);
			rc = SH_EIO;
		}
	}
	if (rc) {
		for (int i = 0; i < b->n; i++)
			c->seq_failed[b->seq[i]] = 1;
		pthread_mutex_unlock(&c->mu);
		sh_log_error("cluster: step not started: %s", why);
		return rc;
	}
	for (int i = 0; i < b->n; i++)
		if (!c->own_open[b->seq[i]]) {
			c->own_open[b->seq[i]] = 1;
			c->n_own_open++;
		}
	waiter *w = NULL;
	for (int i = 0; i < CLUSTER_MAX_LANES && !w; i++)
		if (!c->w[i].active)
			w = &c->w[i];
	if (!w) {
		pthread_mutex_unlock(&c->mu);
		sh_log_error("cluster: more than %d steps at once", CLUSTER_MAX_LANES);
		return SH_EINVAL;
	}
	c->n_waiting++;
	*w = (waiter){ .active = true, .batch = ++c->next_batch, .out = logits, .n_rows = n_rows };
	wire_msg m;
	header_init(c, &m, WIRE_FORWARD, c->cur_epoch);
	m.h.request_id = w->batch;
	m.h.seq = w->batch;
	memcpy(m.fwd.origin, c->id, PLAN_ID_BYTES);
	m.fwd.layer = 0;
	m.fwd.n = (uint32_t)b->n;
	m.fwd.dim = 0;
	for (int i = 0; i < b->n; i++)
		c->s_recs[i] = (wire_fwd_token){ .request_id = (uint64_t)b->seq[i], .pos = (uint32_t)b->pos[i],
						 .token = b->tokens[i],
						 .flags = !b->logits || b->logits[i] ? WIRE_TOKEN_SAMPLE : 0 };
	m.fwd.tokens = c->s_recs;
	int64_t len = sbuf_encode(&c->s_buf, &m);
	int o = plan_owner(&c->cur, 0);
	rc = len < 0 ? (int)len : o < 0 ? SH_EINVAL : send_to(c, c->cur.nodes[o].id, c->s_buf.p, (size_t)len);
	if (rc)
		snprintf(w->err, sizeof w->err, "cannot send to the first shard");
	while (!rc && !w->done && !c->stopping) {
		sh_cond_wait_sec(&c->cv, &c->mu, POLL_MS / 1000.0);
		if (!w->done && !plan_agreed(c, why, sizeof why)) {
			snprintf(w->err, sizeof w->err, "%s", why);
			rc = SH_EIO;
		}
	}
	if (!rc)
		rc = c->stopping && !w->done ? SH_EIO : w->rc;
	if (rc < 0) {
		sh_log_error("cluster: step of %d tokens failed: %s", b->n, w->err[0] ? w->err : sh_strerror(rc));
		for (int i = 0; i < b->n; i++)
			c->seq_failed[b->seq[i]] = 1;
	}
	w->active = false;
	c->n_waiting--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return rc;
}

void cluster_seq_end(void *ctx, int seq)
{
	cluster *c = ctx;
	if (seq < 0 || seq >= ENGINE_MAX_SEQ)
		return;
	pthread_mutex_lock(&c->mu);
	c->kept[seq] = 0;
	if (c->own_open[seq]) {
		c->own_open[seq] = 0;
		c->n_own_open--;
		/* a request that ended well leaves its state kept for the slot's next request; a failed
		 * step may have left the shards at different positions, so that state goes */
		c->kept[seq] = !c->seq_failed[seq];
		c->kept_epoch[seq] = c->cur_epoch;
		/* every node that may hold state of it: the live members holding layers, and this node */
		uint64_t rid = (uint64_t)seq;
		wire_msg m;
		header_init(c, &m, WIRE_CANCEL, c->cur_epoch);
		memcpy(m.cancel.origin, c->id, PLAN_ID_BYTES);
		m.cancel.reason = c->kept[seq] ? WIRE_CANCEL_KEEP : WIRE_CANCEL_DONE;
		m.cancel.n = 1;
		m.cancel.ids = &rid;
		int64_t len = sbuf_encode(&c->s_buf, &m);
		if (len > 0) {
			job_push(c, c->s_buf.p, (size_t)len, NULL);
			for (int i = 0; i < c->mb.n; i++)
				if (c->mb.m[i].alive)
					send_to(c, c->mb.m[i].id, c->s_buf.p, (size_t)len);
		}
	}
	c->seq_failed[seq] = 0;
	pthread_mutex_unlock(&c->mu);
}

int cluster_lanes_wanted(void *ctx)
{
	cluster *c = ctx;
	pthread_mutex_lock(&c->mu);
	int shards = 0;
	for (int i = 0; c->has_cur && !c->cur_rc && i < c->cur.n_nodes; i++)
		shards += c->cur.nodes[i].first < c->cur.nodes[i].last;
	/* the shards are shared with the other entry nodes that have requests running */
	int entries = 1 + c->remote_origins;
	pthread_mutex_unlock(&c->mu);
	return SH_MAX(1, (shards + entries - 1) / entries);
}

bool cluster_seq_reusable(void *ctx, int seq)
{
	cluster *c = ctx;
	if (seq < 0 || seq >= ENGINE_MAX_SEQ)
		return false;
	pthread_mutex_lock(&c->mu);
	bool ok = c->kept[seq] && c->has_cur && !c->applying && !c->cur_rc && c->kept_epoch[seq] == c->cur_epoch &&
		  c->view_epoch == c->cur_epoch;
	pthread_mutex_unlock(&c->mu);
	return ok;
}

/* ---------------------------------------------------------------- setup */
/* "<16 hex digits of a hash of the tensor infos and file size>:<file name>" */
static void model_identity(const gguf_ctx *g, const char *path, char *out, size_t cap)
{
	uint64_t h = 0xcbf29ce484222325ull;
#define MIX(p, n)                                                       \
	for (size_t k_ = 0; k_ < (size_t)(n); k_++)                     \
		h = (h ^ ((const uint8_t *)(p))[k_]) * 0x100000001b3ull
	MIX(&g->total_size, 8);
	MIX(&g->n_tensors, 8);
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const gguf_tensor *t = &g->tensors[i];
		MIX(t->name.ptr, t->name.len);
		MIX(&t->type, sizeof t->type);
		MIX(t->ne, sizeof t->ne);
		MIX(&t->offset, 8);
	}
#undef MIX
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	char name[100];
	snprintf(name, sizeof name, "%s", base);
	for (char *p = name; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	snprintf(out, cap, "%016llx:%s", (unsigned long long)h, name);
}

/* the share's frames go out on the links; under c->mu (share_tick runs in the I/O thread) */
static int share_send(void *ctx, const uint8_t id[PLAN_ID_BYTES], const void *frame, size_t len)
{
	return send_to(ctx, id, frame, len);
}

static int peers_connect(cluster *c, const char *list)
{
	char *dup = strdup(list), *save = NULL;
	if (!dup)
		return SH_ENOMEM;
	int rc = SH_OK;
	for (char *tok = strtok_r(dup, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(tok, ':');
		long port = colon ? strtol(colon + 1, NULL, 10) : 0;
		if (!colon || colon == tok || port < 1 || port > 65535) {
			sh_log_error("--peers: '%s' is not HOST:PORT", tok);
			rc = SH_EINVAL;
			break;
		}
		*colon = 0;
		char *host = tok;
		if (host[0] == '[' && colon[-1] == ']') {
			host++;
			colon[-1] = 0;
		}
		struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
		if (getaddrinfo(host, NULL, &hints, &ai) || !ai) {
			sh_log_error("--peers: cannot resolve '%s'", host);
			rc = SH_EINVAL;
			break;
		}
		char ip[MEMBERS_ADDR];
		int e = getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST);
		freeaddrinfo(ai);
		if (e) {
			rc = SH_EINVAL;
			break;
		}
		peer_link *l = link_get(c, ip, (int)port);
		if (!l)
			rc = SH_EIO;
		else
			l->configured = true;
	}
	free(dup);
	return rc;
}

/* the model's header: metadata, vocabulary, plan sizes, identity, message limits and buffers */
static int model_open(cluster *c)
{
	const cluster_opts *o = &c->o;
	int e = SH_ENOMEM;
	gguf_ctx *g = gguf_open(o->model_path, &e);
	model_hparams hp;
	vocab *v = NULL;
	plan_model *pm = malloc(sizeof *pm);
	if (!g || !pm || (e = model_hparams_read(g, &hp)) || !(v = vocab_load(g, &e)))
		goto fail;
	int n_ctx = o->n_ctx > 0 ? o->n_ctx : SH_MIN(4096, hp.n_ctx_train);
	if ((e = kv_type_check(&hp, o->cache_type)) ||
	    (e = plan_model_from_gguf(g, (uint64_t)n_ctx * (uint64_t)SH_MAX(o->n_seq, 1), o->cache_type, pm)))
		goto fail;
	e = SH_ENOMEM;
	size_t nb = ENGINE_BATCH, big = (size_t)SH_MAX(hp.dim, hp.n_vocab);
	if (!(c->w_tok = malloc(sizeof(int) * nb)) || !(c->w_pos = malloc(sizeof(int) * nb)) ||
	    !(c->w_want = malloc(sizeof(bool) * nb)) || !(c->w_kv = malloc(sizeof(kv_cache *) * nb)) ||
	    !(c->w_recs = malloc(sizeof(wire_fwd_token) * nb)) || !(c->s_recs = malloc(sizeof(wire_fwd_token) * nb)) ||
	    !(c->w_in = sh_alloc(sizeof(float) * nb * (size_t)hp.dim)) || !(c->w_out = sh_alloc(sizeof(float) * nb * big)))
		goto fail; /* what was allocated is freed by cluster_free */
	char ident[WIRE_MAX_MODEL + 1];
	model_identity(g, o->model_name ? o->model_name : o->model_path, ident, sizeof ident);
	pthread_mutex_lock(&c->mu);
	c->g = g;
	c->v = v;
	c->hp = hp;
	c->pm = *pm;
	c->n_ctx = n_ctx;
	snprintf(c->model_ident, sizeof c->model_ident, "%s", ident);
	c->lim = (wire_limits){ .dim = (uint32_t)hp.dim, .n_layers = (uint32_t)hp.n_layers, .n_vocab = (uint32_t)hp.n_vocab,
				.n_ctx = (uint32_t)n_ctx, .max_tokens = ENGINE_BATCH };
	for (int i = 0; i < c->mb.n; i++) { /* taken before the header could tell: those of another model go */
		member *mb = &c->mb.m[i];
		if (mb->alive && !model_ours(c, mb->model)) {
			char hx[2 * PLAN_ID_BYTES + 1];
			hex_id(mb->id, hx);
			sh_log_warn("cluster: node %.8s at %s serves another model (%s; this node serves %s): dropped", hx,
				    mb->addr, mb->model, c->model_ident);
			mb->alive = false;
			if (c->sh)
				share_peer(c->sh, mb->id, false);
		}
	}
	if (c->sh) {
		share_set_model(c->sh, g, hp.n_layers);
		c->view_epoch = 0; /* plan now */
		view_update(c);
	}
	pthread_mutex_unlock(&c->mu);
	free(pm);
	return SH_OK;
fail:
	vocab_free(v);
	gguf_free(g);
	free(pm);
	return e;
}

int cluster_wait_model(cluster *c, double timeout)
{
	if (c->g)
		return SH_OK;
	int e = share_wait_header(c->sh, timeout);
	if (e == SH_EAGAIN)
		return e;
	if (!e && (e = model_open(c)))
		sh_log_error("cluster: cannot open the model's header (%s)", sh_strerror(e));
	if (!e)
		sh_log_info("cluster: the model's header is here: %s", c->model_ident);
	return e;
}

cluster *cluster_init(const cluster_opts *o, int *err)
{
	int e = SH_ENOMEM;
	cluster *c = calloc(1, sizeof *c);
	if (!c) {
		hub_part_free(o->part);
		free(o->part);
		hub_source_free(o->src);
		goto fail;
	}
	c->o = *o;
	if (c->o.peer_timeout <= 0)
		c->o.peer_timeout = 1.5;
	snprintf(c->name, sizeof c->name, "%s", o->cluster_name && o->cluster_name[0] ? o->cluster_name : "shoal");
	pthread_mutex_init(&c->mu, NULL);
	sh_cond_init(&c->cv);
	c->t_start = sh_time_sec();
	c->beacon_ifaces = -1;
	c->drop_rl.window = DROP_LOG_SEC;
	c->ignored_rl.window = IGNORED_LOG_SEC;
	c->hs_rl.window = c->refuse_rl.window = c->refused_rl.window = REFUSE_LOG_SEC;
	c->refuse_send_rl.window = REFUSE_SEND_SEC;
	char dir[4096];
	if ((e = state_dir_resolve(o->state_dir, dir, sizeof dir)))
		goto fail;
	if (o->node_id) { /* the id of this node's other cluster (a model switch): its slot stays that one's */
		snprintf(c->st.dir, sizeof c->st.dir, "%s", dir);
		c->st.lock_fd = -1;
		memcpy(c->st.id, o->node_id, PLAN_ID_BYTES);
	} else if ((e = node_state_init(&c->st, dir))) {
		goto fail;
	}
	memcpy(c->id, c->st.id, PLAN_ID_BYTES);
	hex_id(c->id, c->id_hex);
	if (getrandom(&c->instance, sizeof c->instance, 0) != (ssize_t)sizeof c->instance)
		c->instance = now_ns() ^ (uint64_t)getpid() << 32;
	gethostname(c->host, WIRE_MAX_NAME);
	c->host[WIRE_MAX_NAME] = 0;
	for (char *p = c->host; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			*p = '?';
	caps_detect(&c->info, c->st.dir, o->n_threads);
	c->mem_usable = o->copy_only ? 0 : o->memory_limit ? o->memory_limit : c->info.mem_available;
	if (c->info.mem_total < c->mem_usable)
		c->info.mem_total = c->mem_usable;
	e = SH_ENOMEM;
	if (!(c->p = pool_init(o->n_threads > 0 ? o->n_threads : sh_cpu_count())))
		goto fail;
	hub_part *part = c->o.part;
	if (part) { /* a shared file: known by its sha256 until its header is here */
		snprintf(c->sha_ident, sizeof c->sha_ident, "sha256:");
		for (int i = 0; i < HUB_SHA_BYTES; i++)
			snprintf(c->sha_ident + 7 + 2 * i, 3, "%02x", part->sha[i]);
		snprintf(c->model_ident, sizeof c->model_ident, "%s", c->sha_ident);
	}
	if ((!part || part->whole || part->header_len || part->state[0] >= HUB_CHUNK_PRESENT) && (e = model_open(c)))
		goto fail;
	if (o->cluster_key && o->cluster_key[0]) {
		if ((e = keys_derive(o->cluster_key, strlen(o->cluster_key), &c->keys)))
			goto fail;
		c->secure = true;
	}
	e = SH_EIO;
	if (!(c->zctx = zmq_ctx_new()) || !(c->pull = zmq_socket(c->zctx, ZMQ_PULL)) || socket_common(c->pull) ||
	    (c->secure && keys_socket_server(c->pull, &c->keys)))
		goto fail;
	char ep[64];
	c->node_port = o->node_port ? o->node_port : CLUSTER_NODE_PORT;
	snprintf(ep, sizeof ep, "tcp://*:%d", c->node_port);
	int brc = zmq_bind(c->pull, ep);
	if (brc && !o->node_port) { /* the default port is taken (another node here): any free one */
		size_t n = sizeof ep;
		brc = zmq_bind(c->pull, "tcp://*:*");
		if (!brc && !zmq_getsockopt(c->pull, ZMQ_LAST_ENDPOINT, ep, &n) && strrchr(ep, ':'))
			c->node_port = atoi(strrchr(ep, ':') + 1);
		else
			brc = -1;
	}
	if (brc) {
		sh_log_error("cluster: cannot bind the node port %d: %s", c->node_port, zmq_strerror(zmq_errno()));
		goto fail;
	}
	c->pull_mon = zmon_open(c->zctx, c->pull);
	if (o->discovery && !(c->bc = beacon_init(o->discovery_port ? o->discovery_port : BEACON_PORT, o->interface, &e)))
		goto fail;
	if (o->peers && o->peers[0] && (e = peers_connect(c, o->peers)))
		goto fail;
	if (c->o.part) {
		share_opts so = { .part = c->o.part, .src = c->o.src, .g = c->g, .n_layers = c->hp.n_layers,
				  .full_copy = o->full_copy || o->copy_only, .eager = o->copy_only, .keys = c->secure ? &c->keys : NULL, .self = c->id,
				  .send = share_send, .ctx = c };
		c->o.part = NULL;
		c->o.src = NULL;
		if (!(c->sh = share_init(&so, &e)))
			goto fail;
	}
	view_update(c);
	return c;
fail:
	sh_log_error("cluster: cannot start this node (%s)", sh_strerror(e));
	cluster_free(c);
	if (err)
		*err = e;
	return NULL;
}

int cluster_start(cluster *c, int api_port)
{
	if (c->started) { /* the API port, to every member (a HELLO refreshes what it knows of this node) */
		pthread_mutex_lock(&c->mu);
		c->api_port = api_port;
		wire_msg hm;
		hello_fill(c, &hm, WIRE_HELLO);
		for (int i = 0; i < c->mb.n; i++)
			if (c->mb.m[i].alive)
				send_msg(c, member_link(c, c->mb.m[i].id), &hm);
		pthread_mutex_unlock(&c->mu);
		return SH_OK;
	}
	c->api_port = api_port;
	if (c->sh && share_start(c->sh))
		return SH_ENOMEM;
	if (pthread_create(&c->worker_thread, NULL, worker_main, c))
		return SH_ENOMEM;
	if (pthread_create(&c->io_thread, NULL, io_main, c)) {
		pthread_mutex_lock(&c->mu);
		c->stopping = true;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->worker_thread, NULL);
		return SH_ENOMEM;
	}
	c->started = true;
	/* a copy-only member (shoal pull) is the pull's detail, not a node the user started */
	sh_log(c->o.copy_only ? SH_LOG_DEBUG : SH_LOG_INFO,
	       "cluster: node %.8s (state dir %s, slot %d) on port %d, %llu MiB usable, model %s%s%s", c->id_hex,
	       c->st.dir, c->st.slot, c->node_port, (unsigned long long)(c->mem_usable >> 20), c->model_ident,
	       c->secure ? ", CURVE" : "", c->bc ? ", discovery on" : "");
	return SH_OK;
}

void cluster_free(cluster *c)
{
	if (!c)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->mu);
		c->stopping = true;
		pthread_cond_broadcast(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->io_thread, NULL);
		pthread_join(c->worker_thread, NULL);
	}
	while (c->q_head) {
		job *j = c->q_head;
		c->q_head = j->next;
		free(j);
	}
	seqtab_remove_origin(&c->seqs, NULL, kv_free_void);
	share_free(c->sh);
	if (c->o.part) { /* share_init never got it */
		hub_part_free(c->o.part);
		free(c->o.part);
	}
	hub_source_free(c->o.src);
	for (int i = 0; i < c->n_links; i++) {
		zmq_close(c->links[i].sock);
		zmon_close(c->links[i].mon);
		pthread_mutex_destroy(&c->links[i].mu);
	}
	if (c->pull)
		zmq_close(c->pull);
	zmon_close(c->pull_mon);
	beacon_free(c->bc);
	if (c->zctx)
		zmq_ctx_term(c->zctx);
	model_ctx_free(c->mctx);
	model_free(c->m);
	pool_free(c->p);
	vocab_free(c->v);
	gguf_free(c->g);
	free(c->w_tok);
	free(c->w_pos);
	free(c->w_want);
	free(c->w_kv);
	free(c->w_recs);
	free(c->s_recs);
	sh_free(c->w_in);
	sh_free(c->w_out);
	free(c->w_buf.p);
	free(c->s_buf.p);
	free(c->io_buf.p);
	keys_clear(&c->keys);
	node_state_free(&c->st);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

const vocab *cluster_vocab(const cluster *c) { return c->v; }
const gguf_ctx *cluster_gguf(const cluster *c) { return c->g; }
int cluster_n_vocab(const cluster *c) { return c->hp.n_vocab; }
int cluster_n_ctx(const cluster *c) { return c->n_ctx; }
int cluster_n_threads(const cluster *c) { return pool_size(c->p); }

int cluster_ready(cluster *c, char *msg, size_t cap)
{
	pthread_mutex_lock(&c->mu);
	int rc = SH_OK;
	const plan *p = c->has_cur && c->cur_rc ? &c->cur : c->view_rc ? &c->view : NULL;
	if (p && c->view_rc) { /* nothing will fix it until the membership changes */
		snprintf(msg, cap, "%s", p->error);
		rc = SH_ERANGE;
	}
	for (int i = 0; !rc && c->sh && !c->view_rc && i < c->view.n_nodes; i++) { /* every share here? */
		const plan_shard *ps = &c->view.nodes[i];
		share_stat st;
		share_stats(c->sh, ps->id, &st);
		if (ps->first < ps->last && (!st.known || !st.table || st.have < st.need)) {
			char hx[2 * PLAN_ID_BYTES + 1], a[32], b[32];
			hex_id(ps->id, hx);
			sh_bytes_fmt((double)st.have, a, sizeof a);
			sh_bytes_fmt((double)st.need, b, sizeof b);
			snprintf(msg, cap, "the model is still arriving: node %.8s has %s of its %s verified", hx, a,
				 st.known ? b : "share");
			rc = SH_EAGAIN;
		}
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

/* live nodes offering memory, this one included; under c->mu */
static int nodes_offering(const cluster *c)
{
	int n = c->mem_usable > 0;
	for (int i = 0; i < c->mb.n; i++)
		n += c->mb.m[i].alive && c->mb.m[i].mem_usable > 0;
	return n;
}

int cluster_serving(cluster *c, char *msg, size_t cap)
{
	pthread_mutex_lock(&c->mu);
	int have = nodes_offering(c), rc = SH_EAGAIN;
	if (!c->g)
		snprintf(msg, cap, "the model's header is not here yet");
	else if (have < c->o.expect_nodes)
		snprintf(msg, cap, "%d of %d nodes are here", have, c->o.expect_nodes);
	else
		rc = SH_OK;
	pthread_mutex_unlock(&c->mu);
	if (rc || (rc = cluster_ready(c, msg, cap)))
		return rc;
	pthread_mutex_lock(&c->mu);
	if (!c->has_cur || c->view_epoch != c->cur_epoch || c->applying) {
		snprintf(msg, cap, "the nodes are taking their layers");
		rc = SH_EAGAIN;
	} else if (c->cur_rc) {
		snprintf(msg, cap, "%s", c->cur.error);
		rc = SH_ERANGE;
	} else if (!plan_agreed(c, msg, cap)) {
		rc = SH_EAGAIN;
	}
	pthread_mutex_unlock(&c->mu);
	return rc;
}

int cluster_nodes_offering(cluster *c)
{
	pthread_mutex_lock(&c->mu);
	int n = nodes_offering(c);
	pthread_mutex_unlock(&c->mu);
	return n;
}

void cluster_switch_send(cluster *c, int node_port, int nodes, const char *model)
{
	pthread_mutex_lock(&c->mu);
	wire_msg m;
	header_init(c, &m, WIRE_SWITCH, c->cur_epoch);
	m.sw.node_port = (uint16_t)node_port;
	m.sw.nodes = (uint16_t)nodes;
	snprintf(m.sw.model, sizeof m.sw.model, "%s", model);
	for (int i = 0; i < c->mb.n; i++)
		if (c->mb.m[i].alive)
			send_msg(c, member_link(c, c->mb.m[i].id), &m);
	pthread_mutex_unlock(&c->mu);
}

const uint8_t *cluster_id(const cluster *c) { return c->id; }
int cluster_node_port(const cluster *c) { return c->node_port; }

void cluster_topology(cluster *c, cluster_topo *t)
{
	memset(t, 0, sizeof *t);
	pthread_mutex_lock(&c->mu);
	/* the plan this node acts under (none yet: no layers anywhere); an error of the pending one */
	const plan *p = &c->cur;
	bool ok = c->has_cur && !c->cur_rc;
	t->epoch = c->has_cur ? c->cur_epoch : 0;
	t->pending = !c->has_cur || c->view_epoch != c->cur_epoch;
	t->n_layers = c->hp.n_layers;
	t->cache_type = c->o.cache_type;
	t->kv_bytes = c->pm.kv_bytes;
	snprintf(t->cluster, sizeof t->cluster, "%s", c->name);
	snprintf(t->model, sizeof t->model, "%s", c->model_ident);
	t->discovery = c->bc != NULL;
	if (c->has_cur && c->cur_rc)
		snprintf(t->error, sizeof t->error, "%s", c->cur.error);
	else if (c->view_rc)
		snprintf(t->error, sizeof t->error, "%s", c->view.error);
	cluster_topo_node *n = &t->nodes[t->n_nodes++];
	memcpy(n->id, c->id_hex, sizeof n->id);
	snprintf(n->address, sizeof n->address, ":%d", c->node_port);
	n->api_port = c->api_port;
	snprintf(n->host, sizeof n->host, "%s", c->host);
	n->info = c->info;
	n->mem_usable = c->mem_usable;
	int k = ok ? plan_find(p, c->id) : -1;
	if (k >= 0) {
		n->first = p->nodes[k].first;
		n->last = p->nodes[k].last;
		n->bytes = p->nodes[k].bytes;
	}
	n->state = "self";
	n->tok_rate = c->tok_rate;
	t->sharing = c->sh != NULL;
	if (c->sh)
		share_stats(c->sh, c->id, &n->share);
	for (int i = 0; i < c->mb.n; i++) {
		member *m = &c->mb.m[i];
		n = &t->nodes[t->n_nodes];
		hex_id(m->id, n->id);
		snprintf(n->address, sizeof n->address, strchr(m->addr, ':') ? "[%s]:%d" : "%s:%d", m->addr, m->node_port);
		n->api_port = m->api_port;
		snprintf(n->host, sizeof n->host, "%s", m->host);
		n->info = m->info;
		n->mem_usable = m->mem_usable;
		k = ok && m->alive ? plan_find(p, m->id) : -1;
		n->first = k >= 0 ? p->nodes[k].first : 0;
		n->last = k >= 0 ? p->nodes[k].last : 0;
		n->bytes = k >= 0 ? p->nodes[k].bytes : 0;
		n->state = m->alive ? "alive" : "dead";
		n->tok_rate = m->alive ? m->tok_rate : 0;
		if (c->sh)
			share_stats(c->sh, m->id, &n->share);
		t->links[t->n_links++] = (cluster_topo_link){ .from = 0, .to = t->n_nodes, .up = m->alive, .rtt_ms = m->rtt_ms,
							      .bw_mbps = m->bw_mbps };
		t->n_nodes++;
	}
	pthread_mutex_unlock(&c->mu);
}
