/*
 * share.c - a model file shared by the nodes of a cluster (design: share.h).
 *
 * State, under s->mu: the part file and its chunk states; per peer the states its last HAVE gave
 * and the requests in flight to it; per chunk whether this node's share needs it, its owner (the
 * first plan node whose share needs it: the one that fetches it from the hub when no peer has it),
 * whether the hub thread is fetching it, and which peer a request for it went to.
 *
 * Requests: at most REQ_MAX chunks in flight from peers (REQ_PEER_MAX per peer), the share's own
 * chunks first, in file order; the background copy has one in flight, only while the node is idle
 * (as many as a share for a node that only copies the file: o.eager).
 * A request unanswered for REQ_TIMEOUT is asked again elsewhere. The hub thread fetches one chunk
 * at a time, only after the membership has settled (SETTLE_SEC after start, SETTLE_WARM for a node
 * that holds verified chunks already, SETTLE_JOIN after the last join or death) and while every
 * live peer follows the same plan epoch, so nodes agree on the owners before the first byte.
 */
#define _GNU_SOURCE
#include "cluster/share.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define MAX_PEERS 64
#define REQ_MAX 4
#define REQ_PEER_MAX 2
#define REQ_TIMEOUT 15.0
#define BAD_SEC 60.0          /* a peer that sent bad bytes is avoided this long */
#define HAVE_SEC 2.0          /* HAVE at least this often */
#define HAVE_MIN_SEC 0.1      /* and at most this often */
#define TABLE_PUSH_SEC 3.0    /* a peer without the table gets it again after this */
#define SETTLE_SEC 0.8
#define SETTLE_WARM 3.0       /* ... for a node that already holds verified chunks: it was in a
                               * cluster, whose other nodes are likely coming back */
#define SETTLE_JOIN 0.3
#define LOG_SEC 5.0           /* a progress line this often while chunks arrive */
#define HUB_RETRY_SEC 5.0     /* after a failed range request */
#define DISK_MARGIN (256ull << 20)
#define HEADER_WAIT 0.8       /* for a peer's HAVE before the header is read from the hub (a new
                               * node's first beacon is answered with HELLOs at once) */

typedef struct {
	uint8_t id[PLAN_ID_BYTES];
	bool alive, known;
	uint8_t *st;              /* [n] WIRE_CHUNK_* from its last HAVE */
	uint32_t flags;
	uint64_t need, have, from_hub, from_peers;
	uint32_t rate, epoch;     /* ... and the plan epoch its share follows */
	int inflight;
	double bad_until, table_sent;
	uint64_t got_from;
} peer;

enum { JOB_SERVE, JOB_WRITE, JOB_HASH, JOB_TABLE, JOB_FINISH };

typedef struct job {
	struct job *next;
	int kind;
	uint8_t from[PLAN_ID_BYTES];
	uint32_t chunk;           /* SERVE, WRITE: the chunk; HASH: next */
	hub_sha_state sha;        /* HASH */
	uint8_t *data;            /* WRITE: the bytes; HASH, TABLE: [n][32] hashes */
	size_t len;
} job;

typedef struct out {
	struct out *next;
	uint8_t to[PLAN_ID_BYTES]; /* zero: every live peer */
	wire_msg m;
	uint8_t *owned;            /* freed after sending */
} out;

struct share {
	share_opts o;
	hub_part *part;
	hub_source *src;
	wire_file f;
	uint32_t n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping, started;
	pthread_t hub_thread, disk_thread;
	int efd;

	peer peers[MAX_PEERS];
	int n_peers;
	uint8_t *need;            /* [n] this node's share needs the chunk */
	int16_t *owner;           /* [n] plan node index of the chunk's owner, -1 none */
	uint8_t *fetching;        /* [n] the hub thread is fetching it */
	int8_t *pending;          /* [n] peer index + 1 of the request in flight, 0 none */
	double *pend_t;           /* [n] when it was asked */
	plan pl;
	uint32_t epoch;           /* pl's membership epoch */
	int pl_rc, self_idx;      /* this node's index in pl, -1 */
	bool has_plan;
	double t_start, t_member, hub_retry_at;
	int inflight;
	bool bg_off_logged, verify_failed;
	bool hdr_ready;           /* the GGUF header is on disk (o.g may still be NULL: share_set_model) */
	uint32_t hdr_chunks;      /* chunks that hold it, as far as known */
	double hdr_log_t;
	double hash_t;            /* when this node last started the joint hash (0 never) */

	uint64_t from_hub, from_peers;
	double rate, rate_t;
	uint64_t rate_bytes;
	double have_t, log_t;
	bool dirty;
	uint64_t logged_bytes;

	job *q_head, *q_tail;
	out *o_head, *o_tail;
	uint8_t *enc;             /* the I/O thread's encode buffer */
	size_t enc_cap;
};

/* ---------------------------------------------------------------- helpers */
static void hex8(const uint8_t id[PLAN_ID_BYTES], char out[9])
{
	for (int i = 0; i < 4; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static bool id_zero(const uint8_t id[PLAN_ID_BYTES])
{
	for (int i = 0; i < PLAN_ID_BYTES; i++)
		if (id[i])
			return false;
	return true;
}

static void wake(share *s)
{
	uint64_t one = 1;
	if (write(s->efd, &one, sizeof one) < 0) { /* the counter is full: it is readable anyway */
	}
}

static peer *peer_find(share *s, const uint8_t id[PLAN_ID_BYTES])
{
	for (int i = 0; i < s->n_peers; i++)
		if (!memcmp(s->peers[i].id, id, PLAN_ID_BYTES))
			return &s->peers[i];
	return NULL;
}

/* this node's own view of chunk c, as HAVE tells it */
static int self_state(const share *s, uint32_t c)
{
	return s->fetching[c] ? WIRE_CHUNK_FETCHING : s->part->state[c];
}

static bool held(const share *s, uint32_t c) { return s->part->state[c] >= HUB_CHUNK_PRESENT; }

/* a frame for the I/O thread to send (to: NULL for every live peer); owned is freed after */
static void out_push(share *s, const uint8_t *to, const wire_msg *m, uint8_t *owned)
{
	out *o = calloc(1, sizeof *o);
	if (!o) {
		free(owned);
		return;
	}
	if (to)
		memcpy(o->to, to, PLAN_ID_BYTES);
	o->m = *m;
	o->owned = owned;
	if (s->o_tail)
		s->o_tail->next = o;
	else
		s->o_head = o;
	s->o_tail = o;
	wake(s);
}

static void job_push(share *s, job *j)
{
	if (s->q_tail)
		s->q_tail->next = j;
	else
		s->q_head = j;
	s->q_tail = j;
	pthread_cond_broadcast(&s->cv);
}

static void msg_init(share *s, wire_msg *m, int type)
{
	memset(m, 0, sizeof *m);
	m->h.type = (uint8_t)type;
	memcpy(m->h.sender, s->o.self, PLAN_ID_BYTES);
}

static uint64_t chunk_off(const share *s, uint32_t c) { return (uint64_t)c * s->f.chunk_size; }

/* marks the chunks of bytes [off, off + len) in map */
static void mark(const share *s, uint8_t *map, uint64_t off, uint64_t len)
{
	if (!len)
		return;
	uint64_t a = off / s->f.chunk_size, b = (off + len - 1) / s->f.chunk_size;
	for (uint64_t c = a; c <= b && c < s->n; c++)
		map[c] = 1;
}

/* the chunks layers [first, last) need into map [n] (zeroed first); false for an empty range */
static bool range_map(const share *s, int first, int last, uint8_t *map)
{
	memset(map, 0, s->n);
	if (first >= last || !s->o.g)
		return false;
	const gguf_ctx *g = s->o.g;
	mark(s, map, 0, g->data_offset);
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const gguf_tensor *t = &g->tensors[i];
		if (plan_shard_needs(g, t, first, last, s->o.n_layers))
			mark(s, map, g->data_offset + t->offset, t->size);
	}
	return true;
}

static uint64_t bytes_of(const share *s, const uint8_t *map, bool verified_only)
{
	uint64_t b = 0;
	for (uint32_t c = 0; c < s->n; c++)
		if (map[c] && (!verified_only || s->part->state[c] == HUB_CHUNK_VERIFIED))
			b += hub_part_chunk_len(s->part, c);
	return b;
}

/* ---------------------------------------------------------------- membership and plan */
void share_peer(share *s, const uint8_t id[PLAN_ID_BYTES], bool alive)
{
	pthread_mutex_lock(&s->mu);
	peer *p = peer_find(s, id);
	if (!p && alive && s->n_peers < MAX_PEERS && (s->peers[s->n_peers].st = calloc(s->n, 1))) {
		p = &s->peers[s->n_peers++];
		memcpy(p->id, id, PLAN_ID_BYTES);
	}
	if (p && p->alive != alive) {
		p->alive = alive;
		p->known = false;
		memset(p->st, 0, s->n);
		p->table_sent = 0;
		for (uint32_t c = 0; c < s->n; c++) /* what was asked of it is asked elsewhere */
			if (s->pending[c] == (int8_t)(p - s->peers + 1)) {
				s->pending[c] = 0;
				s->inflight--;
			}
		p->inflight = 0;
		s->t_member = sh_time_sec();
		s->dirty = true;
	}
	pthread_mutex_unlock(&s->mu);
}

void share_plan(share *s, const plan *p, int rc, uint32_t epoch)
{
	pthread_mutex_lock(&s->mu);
	s->pl = *p;
	s->epoch = epoch;
	s->pl_rc = rc;
	s->has_plan = true;
	s->self_idx = rc ? -1 : plan_find(p, s->o.self);
	for (uint32_t c = 0; c < s->n; c++)
		s->owner[c] = -1;
	uint8_t *map = malloc(s->n);
	if (map && !rc) {
		for (int i = p->n_nodes - 1; i >= 0; i--) /* the first node in plan order wins */
			if (range_map(s, p->nodes[i].first, p->nodes[i].last, map))
				for (uint32_t c = 0; c < s->n; c++)
					if (map[c])
						s->owner[c] = (int16_t)i;
	}
	memset(s->need, 0, s->n);
	if (map && s->self_idx >= 0)
		range_map(s, p->nodes[s->self_idx].first, p->nodes[s->self_idx].last, s->need);
	int first_node = -1; /* a chunk no share needs (padding) still counts for the joint hash */
	for (int i = 0; !rc && i < p->n_nodes && first_node < 0; i++)
		if (p->nodes[i].first < p->nodes[i].last)
			first_node = i;
	for (uint32_t c = 0; c < s->n && first_node >= 0; c++)
		if (s->owner[c] < 0) {
			s->owner[c] = (int16_t)first_node;
			if (first_node == s->self_idx)
				s->need[c] = 1;
		}
	free(map);
	s->dirty = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

bool share_ready(share *s, int first, int last)
{
	if (first >= last)
		return true;
	pthread_mutex_lock(&s->mu);
	uint8_t *map = malloc(s->n);
	bool ok = map != NULL;
	if (ok) {
		range_map(s, first, last, map);
		for (uint32_t c = 0; c < s->n && ok; c++)
			ok = !map[c] || s->part->state[c] == HUB_CHUNK_VERIFIED;
	}
	free(map);
	pthread_mutex_unlock(&s->mu);
	return ok;
}

/* ---------------------------------------------------------------- the hub thread */
/* the next chunk this node fetches from the hub: one its share needs, that it owns, that nobody
 * holds or fetches; or -1. Under s->mu. */
static int64_t chunk_pick(share *s, double now)
{
	double settle = s->part->table ? SETTLE_WARM : SETTLE_SEC;
	if (!s->src || !s->has_plan || s->self_idx < 0 || now < s->t_start + settle ||
	    now < s->t_member + SETTLE_JOIN || now < s->hub_retry_at)
		return -1;
	for (int i = 0; i < s->n_peers; i++) /* owners only under a plan every live node follows */
		if (s->peers[i].alive && (!s->peers[i].known || s->peers[i].epoch != s->epoch))
			return -1;
	for (uint32_t c = 0; c < s->n; c++) {
		if (!s->need[c] || s->owner[c] != s->self_idx || held(s, c) || s->pending[c] || s->fetching[c])
			continue;
		bool elsewhere = false;
		for (int i = 0; i < s->n_peers && !elsewhere; i++)
			elsewhere = s->peers[i].alive && s->peers[i].st[c] != WIRE_CHUNK_ABSENT;
		if (!elsewhere)
			return c;
	}
	return -1;
}

/* no peer holds the header's first chunk, and none is likely to: waited HEADER_WAIT, or every live
 * peer has told what it holds; under s->mu */
static bool header_from_hub(const share *s, double now)
{
	if (s->hdr_ready || !s->src)
		return false;
	bool all_known = true, live = false;
	for (int i = 0; i < s->n_peers; i++) {
		const peer *p = &s->peers[i];
		if (!p->alive)
			continue;
		live = true;
		all_known &= p->known;
		if (p->known && p->st[0] != WIRE_CHUNK_ABSENT && p->bad_until <= now)
			return false;
	}
	return now - s->t_start >= HEADER_WAIT || (live && all_known);
}

/* the header from the hub (hub_source_header), written as the part's header prefix; under s->mu,
 * let go while the hub answers */
static int header_fetch(share *s)
{
	uint8_t *buf;
	uint64_t len;
	pthread_mutex_unlock(&s->mu);
	uint64_t before = hub_source_bytes(s->src);
	int rc = hub_source_header(s->src, s->f.size, &buf, &len);
	pthread_mutex_lock(&s->mu);
	s->from_hub += hub_source_bytes(s->src) - before;
	if (!rc && !(rc = hub_part_header(s->part, buf, (size_t)len)))
		s->hdr_ready = true;
	free(buf);
	pthread_cond_broadcast(&s->cv);
	return rc;
}

static void *hub_main(void *arg)
{
	share *s = arg;
	uint8_t *buf = malloc(s->f.chunk_size);
	pthread_mutex_lock(&s->mu);
	while (!s->stopping && buf) {
		if (header_from_hub(s, sh_time_sec()) && sh_time_sec() >= s->hub_retry_at) {
			int rc = header_fetch(s);
			if (rc) {
				sh_log_warn("share: the model's header from the hub failed (%s); again in %.0f s", sh_strerror(rc),
					    HUB_RETRY_SEC);
				s->hub_retry_at = sh_time_sec() + HUB_RETRY_SEC;
			}
			continue;
		}
		int64_t c = chunk_pick(s, sh_time_sec());
		if (c < 0) {
			sh_cond_wait_sec(&s->cv, &s->mu, 0.1);
			continue;
		}
		uint32_t len = hub_part_chunk_len(s->part, (uint32_t)c);
		s->fetching[c] = 1;
		s->dirty = true;
		wake(s);
		pthread_mutex_unlock(&s->mu);
		uint64_t before = hub_source_bytes(s->src);
		int rc = hub_range_get(s->src, chunk_off(s, (uint32_t)c), len, buf);
		pthread_mutex_lock(&s->mu);
		s->from_hub += hub_source_bytes(s->src) - before;
		s->fetching[c] = 0;
		s->dirty = true;
		if (!rc && !(rc = hub_part_write(s->part, (uint32_t)c, buf, len)))
			s->rate_bytes += len;
		if (rc) {
			sh_log_warn("share: chunk %" PRId64 " from the hub failed (%s); again in %.0f s", c, sh_strerror(rc),
				    HUB_RETRY_SEC);
			s->hub_retry_at = sh_time_sec() + HUB_RETRY_SEC;
		}
		wake(s);
	}
	pthread_mutex_unlock(&s->mu);
	free(buf);
	return NULL;
}

/* ---------------------------------------------------------------- the disk thread */
static void table_send_all(share *s, const uint8_t *to);

/* continues the joint hash at chunk j->chunk; under s->mu, which is let go between chunks (one
 * takes milliseconds; a whole file minutes) */
static void job_hash(share *s, job *j)
{
	uint32_t c = j->chunk;
	uint8_t digest[HUB_SHA_BYTES];
	while (c < s->n && held(s, c) && !s->stopping) {
		if (hub_part_hash_run(s->part, &j->sha, c, c + 1, c + 1 == s->n ? digest : NULL))
			return;
		memcpy(j->data + (size_t)c * HUB_SHA_BYTES, s->part->local + (size_t)c * HUB_SHA_BYTES, HUB_SHA_BYTES);
		c++;
		pthread_mutex_unlock(&s->mu);
		pthread_mutex_lock(&s->mu);
	}
	if (s->stopping || s->part->table)
		return;
	if (c == s->n) {
		if (memcmp(digest, s->part->sha, HUB_SHA_BYTES)) {
			char got[2 * HUB_SHA_BYTES + 1];
			for (int i = 0; i < HUB_SHA_BYTES; i++)
				snprintf(got + 2 * i, 3, "%02x", digest[i]);
			sh_log_error("share: the file's sha256 over the nodes' chunks is %s, not the hub's: a chunk "
				     "is corrupt; nothing is served from it", got);
			s->verify_failed = true;
			return;
		}
		int dropped = hub_part_set_table(s->part, j->data);
		sh_log_info("share: the whole file's sha256 matches the hub's; chunk table sent to every node%s",
			    dropped > 0 ? " (some chunks here differed and are fetched again)" : "");
		s->dirty = true;
		table_send_all(s, NULL);
		return;
	}
	/* chunk c is another node's: the lowest-id live holder goes on */
	peer *to = NULL;
	for (int i = 0; i < s->n_peers; i++) {
		peer *p = &s->peers[i];
		if (p->alive && p->st[c] >= WIRE_CHUNK_PRESENT && (!to || memcmp(p->id, to->id, PLAN_ID_BYTES) < 0))
			to = p;
	}
	if (!to)
		return; /* the starter tries again later */
	wire_msg m;
	msg_init(s, &m, WIRE_HASH);
	m.hash.f = s->f;
	m.hash.next = c;
	memcpy(m.hash.h, j->sha.h, sizeof m.hash.h);
	m.hash.bytes = j->sha.bytes;
	m.hash.hashes = j->data;
	out_push(s, to->id, &m, j->data);
	j->data = NULL;
}

/* the chunks held from the start: do they hold the whole header? If not, how many more chunks it
 * needs (hdr_chunks); under s->mu */
static void header_check(share *s, peer *from)
{
	uint32_t k = 0;
	while (k < s->n && held(s, k))
		k++;
	if (!k)
		return;
	uint64_t len = SH_MIN(s->f.size, (uint64_t)k * s->f.chunk_size), need = 0;
	uint8_t *buf = malloc(len);
	if (!buf)
		return;
	uint64_t at = 0;
	for (uint32_t c = 0; c < k; c++) {
		int64_t r = hub_part_read(s->part, c, buf + at, len - at);
		if (r < 0)
			break;
		at += (uint64_t)r;
	}
	int rc = at == len ? gguf_header_size(buf, len, &need) : SH_EIO;
	free(buf);
	if (!rc) {
		s->hdr_ready = true;
		pthread_cond_broadcast(&s->cv);
	} else if (rc == SH_ERANGE && need <= s->f.size) {
		s->hdr_chunks = (uint32_t)((need + s->f.chunk_size - 1) / s->f.chunk_size);
	} else { /* not a header: those chunks go, the hub is asked (a peer's bad data shows in the hash) */
		char hx[9];
		hex8(from->id, hx);
		sh_log_warn("share: the first chunks from the peers (the last from node %s) hold no GGUF header: "
			    "dropped, that node avoided for %.0f s", hx, BAD_SEC);
		for (uint32_t c = 0; c < k; c++)
			s->part->state[c] = HUB_CHUNK_ABSENT;
		from->bad_until = sh_time_sec() + BAD_SEC;
		s->hdr_chunks = 1;
	}
}

static void job_run(share *s, job *j)
{
	switch (j->kind) {
	case JOB_SERVE: { /* a peer's WANT */
		uint32_t len = hub_part_chunk_len(s->part, j->chunk);
		int st = s->part->state[j->chunk];
		bool ok = s->part->table ? st == HUB_CHUNK_VERIFIED : st >= HUB_CHUNK_PRESENT;
		uint8_t *buf = ok ? malloc(len) : NULL;
		wire_msg m;
		msg_init(s, &m, WIRE_CHUNK);
		m.chunk.f = s->f;
		m.chunk.chunk = j->chunk;
		if (buf && hub_part_read(s->part, j->chunk, buf, len) == (int64_t)len) {
			m.chunk.status = WIRE_CHUNK_OK;
			m.chunk.len = len;
			m.chunk.data = buf;
		} else {
			free(buf);
			buf = NULL;
			m.chunk.status = WIRE_CHUNK_NONE;
		}
		out_push(s, j->from, &m, buf);
		break;
	}
	case JOB_WRITE: { /* a CHUNK we asked for */
		peer *p = peer_find(s, j->from);
		int8_t who = p ? (int8_t)(p - s->peers + 1) : 0;
		if (!p || s->pending[j->chunk] != who)
			break; /* not asked of it (any more): dropped */
		s->pending[j->chunk] = 0;
		s->inflight--;
		p->inflight--;
		if (held(s, j->chunk))
			break;
		int rc = hub_part_write(s->part, j->chunk, j->data, j->len);
		if (rc == SH_EFORMAT) {
			char hx[9];
			hex8(p->id, hx);
			sh_log_warn("share: node %s sent chunk %u with the wrong sha256: rejected, asked elsewhere; "
				    "that node is avoided for %.0f s", hx, j->chunk, BAD_SEC);
			p->bad_until = sh_time_sec() + BAD_SEC;
			p->st[j->chunk] = WIRE_CHUNK_ABSENT;
		} else if (!rc) {
			s->from_peers += j->len;
			s->rate_bytes += j->len;
			p->got_from += j->len;
			if (!s->hdr_ready)
				header_check(s, p);
		}
		s->dirty = true;
		break;
	}
	case JOB_HASH:
		job_hash(s, j);
		break;
	case JOB_TABLE:
		if (!s->part->table) {
			int dropped = hub_part_set_table(s->part, j->data);
			if (dropped >= 0) {
				sh_log_info("share: chunk table received: %" PRIu64 " MiB here verified%s",
					    hub_part_bytes(s->part, HUB_CHUNK_VERIFIED, NULL) >> 20,
					    dropped ? ", some chunks differed and are fetched again" : "");
				s->dirty = true;
			}
		}
		break;
	case JOB_FINISH:
		if (!s->part->whole && !hub_part_finish(s->part))
			sh_log_info("share: the whole file is here and verified: %s", s->part->path);
		break;
	}
}

static void *disk_main(void *arg)
{
	share *s = arg;
	pthread_mutex_lock(&s->mu);
	while (!s->stopping) {
		job *j = s->q_head;
		if (!j) {
			sh_cond_wait_sec(&s->cv, &s->mu, 0.2);
			continue;
		}
		s->q_head = j->next;
		if (!s->q_head)
			s->q_tail = NULL;
		job_run(s, j);
		free(j->data);
		free(j);
		wake(s);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static job *job_new(int kind, const uint8_t from[PLAN_ID_BYTES], uint32_t chunk, const void *data, size_t len)
{
	job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->kind = kind;
	if (from)
		memcpy(j->from, from, PLAN_ID_BYTES);
	j->chunk = chunk;
	j->len = len;
	if (len && !(j->data = malloc(len))) {
		free(j);
		return NULL;
	}
	if (data && len)
		memcpy(j->data, data, len);
	return j;
}

/* ---------------------------------------------------------------- frames in */
static void table_send_all(share *s, const uint8_t *to)
{
	size_t tlen = (size_t)s->n * HUB_SHA_BYTES;
	wire_msg m;
	msg_init(s, &m, WIRE_TABLE);
	m.table.f = s->f;
	for (int i = 0; i < s->n_peers; i++) {
		peer *p = &s->peers[i];
		if (!p->alive || (to && memcmp(p->id, to, PLAN_ID_BYTES)))
			continue;
		uint8_t *copy = malloc(tlen);
		if (!copy)
			return;
		memcpy(copy, s->part->table, tlen);
		m.table.hashes = copy;
		m.table.flags = s->o.keys ? WIRE_TABLE_TAG : 0;
		out_push(s, p->id, &m, copy); /* the tag is made when it is encoded */
		p->table_sent = sh_time_sec();
	}
}

static bool same_file(const share *s, const wire_file *f)
{
	return !memcmp(f->sha, s->f.sha, WIRE_SHA_BYTES) && f->size == s->f.size && f->chunk_size == s->f.chunk_size;
}

void share_frame(share *s, const wire_msg *m)
{
	pthread_mutex_lock(&s->mu);
	peer *p = peer_find(s, m->h.sender);
	const wire_file *f = m->h.type == WIRE_HAVE    ? &m->have.f
			     : m->h.type == WIRE_WANT  ? &m->want.f
			     : m->h.type == WIRE_CHUNK ? &m->chunk.f
			     : m->h.type == WIRE_HASH  ? &m->hash.f
						       : &m->table.f;
	if (!p || !p->alive || !same_file(s, f)) /* another file: a node of another model never gets here */
		goto done;
	job *j = NULL;
	switch (m->h.type) {
	case WIRE_HAVE:
		p->known = true;
		p->flags = m->have.flags;
		p->need = m->have.need;
		p->have = m->have.have;
		p->from_hub = m->have.from_hub;
		p->from_peers = m->have.from_peers;
		p->rate = m->have.rate;
		p->epoch = m->have.epoch;
		for (uint32_t c = 0; c < s->n; c++)
			p->st[c] = (uint8_t)wire_have_state(m, c);
		pthread_cond_broadcast(&s->cv); /* the hub thread may pick otherwise now */
		break;
	case WIRE_WANT:
		j = job_new(JOB_SERVE, p->id, m->want.chunk, NULL, 0);
		break;
	case WIRE_CHUNK:
		if (m->chunk.status == WIRE_CHUNK_OK) {
			j = job_new(JOB_WRITE, p->id, m->chunk.chunk, m->chunk.data, m->chunk.len);
		} else if (s->pending[m->chunk.chunk] == (int8_t)(p - s->peers + 1)) { /* it has it no more */
			s->pending[m->chunk.chunk] = 0;
			s->inflight--;
			p->inflight--;
			p->st[m->chunk.chunk] = WIRE_CHUNK_ABSENT;
		}
		break;
	case WIRE_HASH:
		if (!s->part->table && (j = job_new(JOB_HASH, p->id, m->hash.next, NULL, (size_t)s->n * HUB_SHA_BYTES))) {
			memcpy(j->data, m->hash.hashes, (size_t)m->hash.next * HUB_SHA_BYTES);
			memcpy(j->sha.h, m->hash.h, sizeof j->sha.h);
			j->sha.bytes = m->hash.bytes;
		}
		break;
	case WIRE_TABLE: {
		size_t tlen = (size_t)s->n * HUB_SHA_BYTES;
		if (s->o.keys) { /* the tag covers the payload before it: re-encode to check */
			size_t need = wire_size(m);
			uint8_t *b = need ? malloc(need) : NULL;
			bool ok = b && wire_encode(m, b, need) == (int64_t)need && (m->table.flags & WIRE_TABLE_TAG) &&
				  keys_auth_verify(s->o.keys, b + WIRE_HEADER_BYTES, need - WIRE_HEADER_BYTES - WIRE_SHA_BYTES,
						   m->table.tag);
			free(b);
			if (!ok) {
				char hx[9];
				hex8(p->id, hx);
				sh_log_warn("share: node %s sent a chunk table without a valid cluster-key tag: ignored", hx);
				break;
			}
		}
		if (!s->part->table)
			j = job_new(JOB_TABLE, p->id, 0, m->table.hashes, tlen);
		break;
	}
	}
	if (j)
		job_push(s, j);
done:
	pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- the I/O thread's tick */
/* the live peer to ask for chunk c, or NULL */
static peer *holder_pick(share *s, uint32_t c, double now)
{
	peer *best = NULL;
	for (int i = 0; i < s->n_peers; i++) {
		peer *p = &s->peers[i];
		int st = p->st[c];
		if (!p->alive || p->bad_until > now || p->inflight >= REQ_PEER_MAX || st < WIRE_CHUNK_PRESENT ||
		    (s->part->table && st != WIRE_CHUNK_VERIFIED && (p->flags & WIRE_HAVE_TABLE)))
			continue;
		/* the least loaded; ties spread by chunk so that nodes ask different holders */
		if (!best || p->inflight < best->inflight ||
		    (p->inflight == best->inflight && (c + (uint32_t)i) % 2 < (c + (uint32_t)(best - s->peers)) % 2))
			best = p;
	}
	return best;
}

static void want_send(share *s, peer *p, uint32_t c, double now)
{
	wire_msg m;
	msg_init(s, &m, WIRE_WANT);
	m.want.f = s->f;
	m.want.chunk = c;
	out_push(s, p->id, &m, NULL);
	s->pending[c] = (int8_t)(p - s->peers + 1);
	s->pend_t[c] = now;
	s->inflight++;
	p->inflight++;
}

static bool disk_room(share *s)
{
	struct statvfs v;
	uint64_t missing = s->f.size - hub_part_bytes(s->part, HUB_CHUNK_VERIFIED, NULL);
	if (statvfs(s->part->path, &v) || (uint64_t)v.f_bavail * v.f_frsize >= missing + DISK_MARGIN)
		return true;
	if (!s->bg_off_logged) {
		char a[32], b[32];
		sh_bytes_fmt((double)missing, a, sizeof a);
		sh_bytes_fmt((double)v.f_bavail * v.f_frsize, b, sizeof b);
		sh_log_warn("share: the rest of the file (%s) does not fit the disk (%s free): this node keeps its share only",
			    a, b);
	}
	s->bg_off_logged = true;
	return false;
}

static void requests(share *s, double now, bool busy)
{
	bool share_here = true;
	for (uint32_t c = 0; c < s->n && share_here; c++)
		share_here = !s->need[c] || s->part->state[c] == HUB_CHUNK_VERIFIED;
	bool bg = s->o.full_copy && share_here && (s->has_plan || s->o.eager) && !busy && s->part->table &&
		  !s->part->whole && disk_room(s);
	int bg_max = s->o.eager ? REQ_MAX : 1;
	for (uint32_t c = 0; c < s->n; c++)
		if (s->pending[c] && now - s->pend_t[c] > REQ_TIMEOUT) {
			peer *p = &s->peers[s->pending[c] - 1];
			p->inflight--;
			s->inflight--;
			s->pending[c] = 0;
		}
	for (int pass = 0; pass < 2 && s->inflight < REQ_MAX; pass++) {
		if (pass == 1 && (!bg || s->inflight >= bg_max))
			break; /* the background copy: one chunk at a time, only when nothing else is asked */
		for (uint32_t c = 0; c < s->n && s->inflight < (pass ? bg_max : REQ_MAX); c++) {
			bool needed = s->hdr_ready ? s->need[c] != 0 : c < s->hdr_chunks; /* the header first */
			if ((pass == 0) != needed || s->pending[c] || s->fetching[c] ||
			    s->part->state[c] == HUB_CHUNK_VERIFIED || (held(s, c) && !s->part->table))
				continue;
			peer *p = holder_pick(s, c, now);
			if (p)
				want_send(s, p, c, now);
		}
	}
}

/* the joint hash: started by the lowest-id holder of chunk 0 once the nodes hold every chunk */
static void hash_start(share *s, double now)
{
	if (s->part->table || s->verify_failed || !held(s, 0) || (s->hash_t && now - s->hash_t < 10.0 + (double)s->f.size / 50e6))
		return;
	for (int i = 0; i < s->n_peers; i++)
		if (s->peers[i].alive && (s->peers[i].flags & WIRE_HAVE_TABLE))
			return; /* a peer has the table: it comes with the next HAVE it hears */
	for (uint32_t c = 0; c < s->n; c++) {
		bool any = held(s, c);
		for (int i = 0; i < s->n_peers && !any; i++)
			any = s->peers[i].alive && s->peers[i].st[c] >= WIRE_CHUNK_PRESENT;
		if (!any)
			return;
	}
	for (int i = 0; i < s->n_peers; i++)
		if (s->peers[i].alive && s->peers[i].st[0] >= WIRE_CHUNK_PRESENT &&
		    memcmp(s->peers[i].id, s->o.self, PLAN_ID_BYTES) < 0)
			return; /* theirs to start */
	job *j = job_new(JOB_HASH, s->o.self, 0, NULL, (size_t)s->n * HUB_SHA_BYTES);
	if (!j)
		return;
	hub_sha_begin(&j->sha);
	s->hash_t = now;
	job_push(s, j);
}

static void have_send(share *s, double now)
{
	if (!(s->dirty && now - s->have_t >= HAVE_MIN_SEC) && now - s->have_t < HAVE_SEC)
		return;
	s->dirty = false;
	s->have_t = now;
	uint8_t *st = calloc((s->n + 3) / 4, 1);
	if (!st)
		return;
	for (uint32_t c = 0; c < s->n; c++)
		st[c / 4] |= (uint8_t)(self_state(s, c) << (2 * (c % 4)));
	wire_msg m;
	msg_init(s, &m, WIRE_HAVE);
	m.have.f = s->f;
	m.have.flags = (s->part->table ? WIRE_HAVE_TABLE : 0) | (s->o.full_copy ? WIRE_HAVE_FULL_COPY : 0);
	m.have.rate = (uint32_t)SH_MIN(s->rate, 4e9);
	m.have.epoch = s->has_plan ? s->epoch : 0;
	m.have.need = bytes_of(s, s->need, false);
	m.have.have = bytes_of(s, s->need, true);
	m.have.from_hub = s->from_hub;
	m.have.from_peers = s->from_peers;
	m.have.states = st;
	out_push(s, NULL, &m, st);
}

static void progress_log(share *s, double now)
{
	if (now - s->rate_t >= 1.0) {
		double r = (double)s->rate_bytes / (now - s->rate_t);
		s->rate = s->rate > 0 ? 0.5 * s->rate + 0.5 * r : r;
		s->rate_bytes = 0;
		s->rate_t = now;
	}
	uint64_t got = s->from_hub + s->from_peers;
	if (now - s->log_t < LOG_SEC || got == s->logged_bytes)
		return;
	s->log_t = now;
	s->logged_bytes = got;
	char need[32], have[32], held_b[32], size[32], hub[32], lan[32], rate[32];
	sh_bytes_fmt((double)bytes_of(s, s->need, false), need, sizeof need);
	sh_bytes_fmt((double)bytes_of(s, s->need, true), have, sizeof have);
	sh_bytes_fmt((double)hub_part_bytes(s->part, HUB_CHUNK_VERIFIED, NULL), held_b, sizeof held_b);
	sh_bytes_fmt((double)s->f.size, size, sizeof size);
	sh_bytes_fmt((double)s->from_hub, hub, sizeof hub);
	sh_bytes_fmt((double)s->from_peers, lan, sizeof lan);
	sh_bytes_fmt(s->rate, rate, sizeof rate);
	sh_log_info("share: this node's share %s of %s verified, the file %s of %s; from the hub %s, from peers %s; %s/s",
		    have, need, held_b, size, hub, lan, rate);
}

/* sends what waits, encoding it with the epoch; the caller's send never blocks */
static void out_flush(share *s, uint32_t epoch)
{
	uint64_t v;
	if (read(s->efd, &v, sizeof v) < 0) { /* nothing was signalled: fine */
	}
	out *o;
	while ((o = s->o_head)) {
		s->o_head = o->next;
		if (!s->o_head)
			s->o_tail = NULL;
		o->m.h.epoch = epoch;
		size_t need = wire_size(&o->m);
		if (need > s->enc_cap) {
			uint8_t *nb = realloc(s->enc, need);
			if (nb) {
				s->enc = nb;
				s->enc_cap = need;
			}
		}
		if (need && need <= s->enc_cap && wire_encode(&o->m, s->enc, s->enc_cap) == (int64_t)need) {
			if (o->m.h.type == WIRE_TABLE && s->o.keys) /* the tag: over the payload before it */
				keys_auth(s->o.keys, s->enc + WIRE_HEADER_BYTES, need - WIRE_HEADER_BYTES - WIRE_SHA_BYTES,
					  s->enc + need - WIRE_SHA_BYTES);
			for (int i = 0; i < s->n_peers; i++)
				if (s->peers[i].alive && (id_zero(o->to) || !memcmp(o->to, s->peers[i].id, PLAN_ID_BYTES)))
					s->o.send(s->o.ctx, s->peers[i].id, s->enc, need);
		}
		free(o->owned);
		free(o);
	}
}

void share_tick(share *s, double now, bool busy, uint32_t epoch)
{
	pthread_mutex_lock(&s->mu);
	requests(s, now, busy);
	hash_start(s, now);
	for (int i = 0; i < s->n_peers && s->part->table; i++) {
		peer *p = &s->peers[i];
		if (p->alive && p->known && !(p->flags & WIRE_HAVE_TABLE) && now - p->table_sent >= TABLE_PUSH_SEC)
			table_send_all(s, p->id);
	}
	if (s->part->table && !s->part->whole && hub_part_bytes(s->part, HUB_CHUNK_VERIFIED, NULL) == s->f.size) {
		bool queued = false;
		for (job *j = s->q_head; j && !queued; j = j->next)
			queued = j->kind == JOB_FINISH;
		job *j = queued ? NULL : job_new(JOB_FINISH, NULL, 0, NULL, 0);
		if (j)
			job_push(s, j);
	}
	have_send(s, now);
	progress_log(s, now);
	out_flush(s, epoch);
	pthread_mutex_unlock(&s->mu);
}

void share_set_model(share *s, const gguf_ctx *g, int n_layers)
{
	pthread_mutex_lock(&s->mu);
	s->o.g = g;
	s->o.n_layers = n_layers;
	pthread_mutex_unlock(&s->mu);
}

int share_wait_header(share *s, double timeout)
{
	double until = timeout > 0 ? sh_time_sec() + timeout : 0;
	pthread_mutex_lock(&s->mu);
	while (!s->hdr_ready && !s->stopping) {
		double now = sh_time_sec();
		if (until && now >= until)
			break;
		if (now - s->t_start >= 10.0 && now - s->hdr_log_t >= 10.0) {
			s->hdr_log_t = now;
			sh_log_info("share: waiting for the model's header: %s", s->src ? "the hub does not answer, and no peer has it"
										: "offline, and no peer has it yet");
		}
		sh_cond_wait_sec(&s->cv, &s->mu, 0.5);
	}
	int rc = s->hdr_ready ? SH_OK : s->stopping ? SH_EIO : SH_EAGAIN;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int share_fd(const share *s) { return s->efd; }

void share_path(share *s, char *buf, size_t cap)
{
	pthread_mutex_lock(&s->mu);
	snprintf(buf, cap, "%s", s->part->path);
	pthread_mutex_unlock(&s->mu);
}

void share_stats(share *s, const uint8_t id[PLAN_ID_BYTES], share_stat *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&s->mu);
	out->size = s->f.size;
	if (!memcmp(id, s->o.self, PLAN_ID_BYTES)) {
		out->known = true;
		out->table = s->part->table != NULL;
		out->full_copy = s->o.full_copy;
		out->whole = s->part->whole;
		out->need = bytes_of(s, s->need, false);
		out->have = bytes_of(s, s->need, true);
		out->held = hub_part_bytes(s->part, HUB_CHUNK_VERIFIED, NULL);
		out->from_hub = s->from_hub;
		out->from_peers = s->from_peers;
		out->rate = s->rate;
	} else {
		peer *p = peer_find(s, id);
		if (p && p->known) {
			out->known = true;
			out->table = p->flags & WIRE_HAVE_TABLE;
			out->full_copy = p->flags & WIRE_HAVE_FULL_COPY;
			out->need = p->need;
			out->have = p->have;
			for (uint32_t c = 0; c < s->n; c++)
				if (p->st[c] == WIRE_CHUNK_VERIFIED)
					out->held += hub_part_chunk_len(s->part, c);
			out->whole = out->held == s->f.size;
			out->from_hub = p->from_hub;
			out->from_peers = p->from_peers;
			out->rate = p->rate;
		}
		if (p)
			out->got_from = p->got_from;
	}
	pthread_mutex_unlock(&s->mu);
}

/* ---------------------------------------------------------------- setup */
share *share_init(const share_opts *o, int *err)
{
	int e = SH_ENOMEM;
	share *s = calloc(1, sizeof *s);
	if (!s) {
		hub_part_free(o->part);
		free(o->part);
		hub_source_free(o->src);
		goto fail;
	}
	s->o = *o;
	s->part = o->part;
	s->src = o->src;
	s->n = o->part->n_chunks;
	memcpy(s->f.sha, o->part->sha, WIRE_SHA_BYTES);
	s->f.size = o->part->size;
	s->f.chunk_size = o->part->chunk_size;
	s->f.n_chunks = s->n;
	s->efd = -1;
	s->self_idx = -1;
	s->hdr_ready = o->g != NULL;
	s->hdr_chunks = 1;
	pthread_mutex_init(&s->mu, NULL);
	sh_cond_init(&s->cv);
	s->t_start = s->t_member = s->rate_t = sh_time_sec();
	if (!(s->need = calloc(s->n, 1)) || !(s->owner = calloc(s->n, sizeof *s->owner)) ||
	    !(s->fetching = calloc(s->n, 1)) || !(s->pending = calloc(s->n, 1)) ||
	    !(s->pend_t = calloc(s->n, sizeof *s->pend_t)))
		goto fail;
	if ((s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
		e = SH_EIO;
		goto fail;
	}
	return s;
fail:
	share_free(s);
	if (err)
		*err = e;
	return NULL;
}

int share_start(share *s)
{
	if (pthread_create(&s->disk_thread, NULL, disk_main, s))
		return SH_ENOMEM;
	if (pthread_create(&s->hub_thread, NULL, hub_main, s)) {
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->disk_thread, NULL);
		return SH_ENOMEM;
	}
	s->started = true;
	return SH_OK;
}

void share_free(share *s)
{
	if (!s)
		return;
	if (s->started) {
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->hub_thread, NULL);
		pthread_join(s->disk_thread, NULL);
	}
	while (s->q_head) {
		job *j = s->q_head;
		s->q_head = j->next;
		free(j->data);
		free(j);
	}
	while (s->o_head) {
		out *o = s->o_head;
		s->o_head = o->next;
		free(o->owned);
		free(o);
	}
	for (int i = 0; i < s->n_peers; i++)
		free(s->peers[i].st);
	if (s->part) {
		hub_part_free(s->part);
		free(s->part);
	}
	hub_source_free(s->src);
	if (s->efd >= 0)
		close(s->efd);
	free(s->need);
	free(s->owner);
	free(s->fetching);
	free(s->pending);
	free(s->pend_t);
	free(s->enc);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
