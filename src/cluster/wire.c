/*
 * wire.c - encoding and validating decoding of protocol v2 messages (layouts in wire.h and
 * docs/protocol.md).
 *
 * Every integer is written and read byte by byte in little-endian order, so the code does not
 * depend on the host's byte order or on alignment; only the f32 hidden state takes a memcpy fast
 * path on little-endian hosts. wire_decode checks in this order: the header (length, magic,
 * version, type, flags, payload length against the frame), then the payload: its fixed part's
 * length, counts against the caps and limits, the exact total length (computed in 64 bits with
 * overflow checks), then every field and record. Only after all of that is the message filled in.
 */
#include "cluster/wire.h"
#include "cluster/bytes.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

/* ---------------------------------------------------------------- byte order */
static void putf(uint8_t *p, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	bytes_put32(p, u);
}
static float getf(const uint8_t *p)
{
	uint32_t u = bytes_get32(p);
	float f;
	memcpy(&f, &u, 4);
	return f;
}

#define HOST_LE (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

/* ---------------------------------------------------------------- layouts */
#define HELLO_FIXED 64
#define PLAN_FIXED 8
#define PLAN_NODE 32
#define OPEN_BYTES 40
#define FWD_FIXED 32
#define FWD_TOKEN 24
#define TOKEN_FIXED 8
#define TOKEN_ENTRY 16
#define CANCEL_FIXED 24
#define ERROR_FIXED 24
#define PING_FIXED 16
#define LOGITS_FIXED 8
#define PEERS_FIXED 4
#define PEER_ENTRY 64
#define FILE_BYTES 48
#define HAVE_FIXED (FILE_BYTES + 48)
#define WANT_BYTES (FILE_BYTES + 8)
#define CHUNK_FIXED (FILE_BYTES + 16)
#define HASH_FIXED (FILE_BYTES + 48)
#define TABLE_FIXED (FILE_BYTES + 8)
#define SWITCH_FIXED 8

static const char *type_names[] = {
	[WIRE_HELLO] = "HELLO", [WIRE_WELCOME] = "WELCOME", [WIRE_PLAN] = "PLAN", [WIRE_OPEN] = "OPEN",
	[WIRE_FORWARD] = "FORWARD", [WIRE_TOKEN] = "TOKEN", [WIRE_CANCEL] = "CANCEL", [WIRE_ERROR] = "ERROR",
	[WIRE_PING] = "PING", [WIRE_PONG] = "PONG", [WIRE_LOGITS] = "LOGITS",
	[WIRE_PEERS] = "PEERS", [WIRE_REFUSE] = "REFUSE", [WIRE_HAVE] = "HAVE", [WIRE_WANT] = "WANT",
	[WIRE_CHUNK] = "CHUNK", [WIRE_HASH] = "HASH", [WIRE_TABLE] = "TABLE", [WIRE_SWITCH] = "SWITCH",
};

const char *wire_type_name(int type)
{
	return type >= 1 && type <= WIRE_TYPE_MAX ? type_names[type] : "?";
}

static uint32_t max_tokens(const wire_limits *lim)
{
	return lim && lim->max_tokens ? SH_MIN(lim->max_tokens, (uint32_t)WIRE_MAX_TOKENS) : WIRE_MAX_TOKENS;
}

#define WIRE_MAX_WINDOW (1 << 20)
static bool open_floats_ok(const sample_params *s)
{
	return isfinite(s->temp) && s->top_p >= 0.0f && s->top_p <= 1.0f && s->min_p >= 0.0f && s->min_p <= 1.0f &&
	       s->repeat_penalty > 0.0f && isfinite(s->repeat_penalty) && isfinite(s->freq_penalty) &&
	       isfinite(s->presence_penalty);
}

/* ---------------------------------------------------------------- files (transfer messages) */
/* why f breaks the rules, or NULL */
static const char *file_why(const wire_file *f)
{
	uint32_t cs = f->chunk_size;
	if (!f->size)
		return "a file of 0 bytes";
	if (cs < WIRE_CHUNK_MIN || cs > WIRE_CHUNK_MAX || (cs & (cs - 1)))
		return "chunk size not a power of two in [64 KiB, 64 MiB]";
	if (f->n_chunks != (f->size - 1) / cs + 1 || f->n_chunks > WIRE_MAX_CHUNKS)
		return "chunk count does not match the size (or is over 2^20)";
	return NULL;
}

uint32_t wire_file_chunk_len(const wire_file *f, uint32_t i)
{
	if (i >= f->n_chunks)
		return 0;
	uint64_t at = (uint64_t)i * f->chunk_size;
	return (uint32_t)SH_MIN((uint64_t)f->chunk_size, f->size - at);
}

static bool zeros(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* the states' bytes of a HAVE: known values only, nothing past n_chunks */
static bool states_ok(const uint8_t *st, uint32_t n)
{
	return n % 4 == 0 || !(st[n / 4] >> (2 * (n % 4)));
}

static uint64_t transfer_size(const wire_msg *m)
{
	const wire_file *f = m->h.type == WIRE_HAVE	? &m->have.f
			     : m->h.type == WIRE_WANT  ? &m->want.f
			     : m->h.type == WIRE_CHUNK ? &m->chunk.f
			     : m->h.type == WIRE_HASH  ? &m->hash.f
						       : &m->table.f;
	if (file_why(f))
		return 0;
	uint64_t n = f->n_chunks;
	switch (m->h.type) {
	case WIRE_HAVE:
		if (m->have.flags & ~(uint32_t)WIRE_HAVE_FLAGS_KNOWN || m->have.have > m->have.need || !m->have.states ||
		    !states_ok(m->have.states, f->n_chunks))
			return 0;
		return HAVE_FIXED + (n + 3) / 4;
	case WIRE_WANT:
		return m->want.chunk < n ? WANT_BYTES : 0;
	case WIRE_CHUNK: {
		const wire_chunk *c = &m->chunk;
		if (c->chunk >= n || (c->status == WIRE_CHUNK_OK ? c->len != wire_file_chunk_len(f, c->chunk) || !c->data
								  : c->status != WIRE_CHUNK_NONE || c->len))
			return 0;
		return CHUNK_FIXED + (uint64_t)c->len;
	}
	case WIRE_HASH:
		if (m->hash.next < 1 || m->hash.next >= n || m->hash.bytes != (uint64_t)m->hash.next * f->chunk_size ||
		    !m->hash.hashes)
			return 0;
		return HASH_FIXED + (uint64_t)m->hash.next * WIRE_SHA_BYTES;
	case WIRE_TABLE:
		if (m->table.flags & ~(uint32_t)WIRE_TABLE_FLAGS_KNOWN || !m->table.hashes ||
		    (!(m->table.flags & WIRE_TABLE_TAG) && !zeros(m->table.tag, WIRE_SHA_BYTES)))
			return 0;
		return TABLE_FIXED + n * WIRE_SHA_BYTES + WIRE_SHA_BYTES;
	}
	return 0;
}

/* ---------------------------------------------------------------- sizes */
static uint64_t payload_size(const wire_msg *m)
{
	uint64_t n, rec, hid;
	char why[128];
	switch (m->h.type) {
	case WIRE_HELLO:
	case WIRE_WELCOME: {
		const wire_hello *h = &m->hello;
		const node_caps *nc = &h->info;
		size_t c = strnlen(h->cluster, sizeof h->cluster), o = strnlen(h->host, sizeof h->host);
		size_t d = strnlen(h->model, sizeof h->model), u = strnlen(nc->cpu, sizeof nc->cpu);
		size_t os = strnlen(nc->os, sizeof nc->os), sd = strnlen(nc->simd, sizeof nc->simd);
		if (c < 1 || c > WIRE_MAX_NAME || o > WIRE_MAX_NAME || d > WIRE_MAX_MODEL || u >= sizeof nc->cpu ||
		    os >= sizeof nc->os || sd >= sizeof nc->simd || !bytes_str_ok(h->cluster, c, bytes_name_char) ||
		    !bytes_str_ok(h->host, o, bytes_print_char) || !bytes_str_ok(h->model, d, bytes_print_char) ||
		    !bytes_str_ok(nc->cpu, u, bytes_print_char) || !bytes_str_ok(nc->os, os, bytes_print_char) ||
		    !bytes_str_ok(nc->simd, sd, bytes_print_char) || h->proto_min < 1 || h->proto_min > h->proto_max ||
		    h->mem_usable > nc->mem_total || nc->mem_available > nc->mem_total || nc->cores < 0 ||
		    nc->cores > 65535 || !(nc->mem_bw_gbs >= 0 && nc->mem_bw_gbs * 1e3 + 0.5 < 4294967296.0) ||
		    !(nc->matmul_gflops >= 0 && nc->matmul_gflops * 1e3 + 0.5 < 4294967296.0))
			return 0;
		return HELLO_FIXED + c + o + d + u + os + sd;
	}
	case WIRE_PLAN:
		if (plan_check(&m->plan, why, sizeof why))
			return 0;
		return PLAN_FIXED + (uint64_t)m->plan.n_nodes * PLAN_NODE;
	case WIRE_OPEN:
		if (!open_floats_ok(&m->open) || m->open.penalty_last_n < -1 || m->open.penalty_last_n > WIRE_MAX_WINDOW)
			return 0;
		return OPEN_BYTES;
	case WIRE_FORWARD:
		n = m->fwd.n;
		if (n < 1 || n > WIRE_MAX_TOKENS || m->fwd.dim > WIRE_MAX_DIM || m->fwd.layer >= PLAN_MAX_LAYERS ||
		    (m->fwd.layer == 0) != (m->fwd.dim == 0) || (m->fwd.dim == 0 && m->h.flags & WIRE_FLAG_F16))
			return 0;
		if ((!m->fwd.tokens && !m->fwd.raw_tokens) || (m->fwd.dim && !m->fwd.hidden && !m->fwd.raw_hidden))
			return 0;
		rec = n * FWD_TOKEN;
		hid = n * m->fwd.dim * (m->h.flags & WIRE_FLAG_F16 ? 2 : 4);
		return FWD_FIXED + rec + hid;
	case WIRE_TOKEN:
		n = m->tokens.n;
		if (n < 1 || n > WIRE_MAX_TOKENS || (!m->tokens.items && !m->tokens.raw))
			return 0;
		return TOKEN_FIXED + n * TOKEN_ENTRY;
	case WIRE_CANCEL:
		n = m->cancel.n;
		if (n < 1 || n > WIRE_MAX_CANCEL || (!m->cancel.ids && !m->cancel.raw))
			return 0;
		return CANCEL_FIXED + n * 8;
	case WIRE_ERROR:
	case WIRE_REFUSE:
		n = strnlen(m->error.text, sizeof m->error.text);
		if (n > WIRE_MAX_ERROR || !bytes_str_ok(m->error.text, n, bytes_print_char))
			return 0;
		if (m->h.type == WIRE_REFUSE && (m->error.code < 1 || m->error.code > WIRE_REFUSE_MAX))
			return 0;
		return ERROR_FIXED + n;
	case WIRE_PING:
		return m->ping.pad > WIRE_MAX_PING_PAD ? 0 : PING_FIXED + (uint64_t)m->ping.pad;
	case WIRE_PONG:
		return m->ping.pad > WIRE_MAX_PING_PAD ? 0 : PING_FIXED;
	case WIRE_PEERS:
		if (m->peers.n > WIRE_MAX_PEERS || (m->peers.n && !m->peers.items && !m->peers.raw))
			return 0;
		for (uint32_t i = 0; i < m->peers.n; i++) {
			wire_peer e = wire_peers_get(m, i);
			size_t a = strnlen(e.addr, sizeof e.addr);
			if (!e.port || a < 1 || a > WIRE_MAX_ADDR || !bytes_str_ok(e.addr, a, bytes_print_char))
				return 0;
		}
		return PEERS_FIXED + (uint64_t)m->peers.n * PEER_ENTRY;
	case WIRE_LOGITS:
		n = m->logits.n;
		if (n < 1 || n > WIRE_MAX_TOKENS || m->logits.n_vocab < 1 || m->logits.n_vocab > WIRE_MAX_VOCAB ||
		    (!m->logits.rows && !m->logits.raw))
			return 0;
		return LOGITS_FIXED + n * m->logits.n_vocab * 4;
	case WIRE_SWITCH:
		n = strnlen(m->sw.model, sizeof m->sw.model);
		if (!m->sw.node_port || m->sw.nodes < 1 || m->sw.nodes > WIRE_MAX_PEERS + 1 || n < 1 ||
		    n > WIRE_MAX_REF || !bytes_str_ok(m->sw.model, n, bytes_print_char))
			return 0;
		return SWITCH_FIXED + n;
	case WIRE_HAVE:
	case WIRE_WANT:
	case WIRE_CHUNK:
	case WIRE_HASH:
	case WIRE_TABLE:
		return transfer_size(m);
	}
	return 0;
}

size_t wire_size(const wire_msg *m)
{
	if (m->h.flags & ~WIRE_FLAGS_KNOWN || (m->h.flags & WIRE_FLAG_F16 && m->h.type != WIRE_FORWARD))
		return 0;
	uint64_t p = payload_size(m);
	if (!p || p > WIRE_MAX_PAYLOAD)
		return 0;
	return WIRE_HEADER_BYTES + (size_t)p;
}

/* ---------------------------------------------------------------- encode */
static void put_str(uint8_t **q, const char *s, size_t n)
{
	memcpy(*q, s, n);
	*q += n;
}

static void put_file(uint8_t *p, const wire_file *f)
{
	memcpy(p, f->sha, WIRE_SHA_BYTES);
	bytes_put64(p + 32, f->size);
	bytes_put32(p + 40, f->chunk_size);
	bytes_put32(p + 44, f->n_chunks);
}

static void encode_transfer(const wire_msg *m, uint8_t *p)
{
	switch (m->h.type) {
	case WIRE_HAVE: {
		const wire_have *h = &m->have;
		put_file(p, &h->f);
		bytes_put32(p + 48, h->flags);
		bytes_put32(p + 52, h->rate);
		bytes_put32(p + 56, h->epoch);
		bytes_put32(p + 60, 0);
		bytes_put64(p + 64, h->need);
		bytes_put64(p + 72, h->have);
		bytes_put64(p + 80, h->from_hub);
		bytes_put64(p + 88, h->from_peers);
		memcpy(p + HAVE_FIXED, h->states, (h->f.n_chunks + 3) / 4);
		break;
	}
	case WIRE_WANT:
		put_file(p, &m->want.f);
		bytes_put32(p + 48, m->want.chunk);
		bytes_put32(p + 52, 0);
		break;
	case WIRE_CHUNK:
		put_file(p, &m->chunk.f);
		bytes_put32(p + 48, m->chunk.chunk);
		bytes_put32(p + 52, m->chunk.status);
		bytes_put32(p + 56, m->chunk.len);
		bytes_put32(p + 60, 0);
		if (m->chunk.len)
			memcpy(p + CHUNK_FIXED, m->chunk.data, m->chunk.len);
		break;
	case WIRE_HASH:
		put_file(p, &m->hash.f);
		bytes_put32(p + 48, m->hash.next);
		bytes_put32(p + 52, 0);
		for (int i = 0; i < 8; i++)
			bytes_put32(p + 56 + 4 * i, m->hash.h[i]);
		bytes_put64(p + 88, m->hash.bytes);
		memcpy(p + HASH_FIXED, m->hash.hashes, (size_t)m->hash.next * WIRE_SHA_BYTES);
		break;
	case WIRE_TABLE: {
		size_t n = (size_t)m->table.f.n_chunks * WIRE_SHA_BYTES;
		put_file(p, &m->table.f);
		bytes_put32(p + 48, m->table.flags);
		bytes_put32(p + 52, 0);
		memcpy(p + TABLE_FIXED, m->table.hashes, n);
		memcpy(p + TABLE_FIXED + n, m->table.tag, WIRE_SHA_BYTES);
		break;
	}
	}
}

int64_t wire_encode(const wire_msg *m, void *buf, size_t cap)
{
	size_t total = wire_size(m);
	if (!total)
		return SH_EINVAL;
	if (total > cap)
		return SH_ERANGE;
	uint8_t *b = buf, *p = b + WIRE_HEADER_BYTES;
	memcpy(b, WIRE_MAGIC, 4);
	b[4] = m->h.version ? m->h.version : WIRE_VERSION;
	b[5] = m->h.type;
	bytes_put16(b + 6, m->h.flags);
	bytes_put32(b + 8, (uint32_t)(total - WIRE_HEADER_BYTES));
	bytes_put32(b + 12, m->h.epoch);
	bytes_put64(b + 16, m->h.request_id);
	bytes_put64(b + 24, m->h.seq);
	memcpy(b + 32, m->h.sender, WIRE_ID_BYTES);

	switch (m->h.type) {
	case WIRE_HELLO:
	case WIRE_WELCOME: {
		const wire_hello *h = &m->hello;
		const node_caps *nc = &h->info;
		size_t c = strnlen(h->cluster, sizeof h->cluster), o = strnlen(h->host, sizeof h->host);
		size_t d = strnlen(h->model, sizeof h->model), u = strnlen(nc->cpu, sizeof nc->cpu);
		size_t os = strnlen(nc->os, sizeof nc->os), sd = strnlen(nc->simd, sizeof nc->simd);
		memset(p, 0, HELLO_FIXED);
		bytes_put16(p, h->proto_min);
		bytes_put16(p + 2, h->proto_max);
		bytes_put32(p + 4, h->caps);
		bytes_put64(p + 8, nc->mem_total);
		bytes_put64(p + 16, h->mem_usable);
		bytes_put64(p + 24, nc->mem_available);
		bytes_put16(p + 32, h->node_port);
		bytes_put16(p + 34, h->api_port);
		bytes_put16(p + 36, (uint16_t)nc->cores);
		bytes_put32(p + 40, (uint32_t)(nc->mem_bw_gbs * 1e3 + 0.5));
		bytes_put32(p + 44, (uint32_t)(nc->matmul_gflops * 1e3 + 0.5));
		p[56] = (uint8_t)c;
		p[57] = (uint8_t)o;
		p[58] = (uint8_t)d;
		p[59] = (uint8_t)u;
		p[60] = (uint8_t)os;
		p[61] = (uint8_t)sd;
		uint8_t *q = p + HELLO_FIXED;
		put_str(&q, h->cluster, c);
		put_str(&q, h->host, o);
		put_str(&q, h->model, d);
		put_str(&q, nc->cpu, u);
		put_str(&q, nc->os, os);
		put_str(&q, nc->simd, sd);
		break;
	}
	case WIRE_PLAN: {
		const plan *pl = &m->plan;
		bytes_put32(p, (uint32_t)pl->n_layers);
		bytes_put16(p + 4, (uint16_t)pl->n_nodes);
		bytes_put16(p + 6, 0);
		for (int i = 0; i < pl->n_nodes; i++) {
			uint8_t *r = p + PLAN_FIXED + (size_t)i * PLAN_NODE;
			memcpy(r, pl->nodes[i].id, WIRE_ID_BYTES);
			bytes_put64(r + 16, pl->nodes[i].memory);
			bytes_put32(r + 24, (uint32_t)pl->nodes[i].first);
			bytes_put32(r + 28, (uint32_t)pl->nodes[i].last);
		}
		break;
	}
	case WIRE_OPEN: {
		const sample_params *s = &m->open;
		putf(p, s->temp);
		bytes_put32(p + 4, (uint32_t)s->top_k);
		putf(p + 8, s->top_p);
		putf(p + 12, s->min_p);
		putf(p + 16, s->repeat_penalty);
		putf(p + 20, s->freq_penalty);
		putf(p + 24, s->presence_penalty);
		bytes_put32(p + 28, (uint32_t)s->penalty_last_n);
		bytes_put64(p + 32, s->seed);
		break;
	}
	case WIRE_FORWARD: {
		const wire_forward *f = &m->fwd;
		memcpy(p, f->origin, WIRE_ID_BYTES);
		bytes_put32(p + 16, f->layer);
		bytes_put32(p + 20, f->n);
		bytes_put32(p + 24, f->dim);
		bytes_put32(p + 28, 0);
		uint8_t *r = p + FWD_FIXED;
		for (uint32_t i = 0; i < f->n; i++, r += FWD_TOKEN) {
			wire_fwd_token t = wire_forward_token(m, i);
			bytes_put64(r, t.request_id);
			bytes_put32(r + 8, t.pos);
			bytes_put32(r + 12, (uint32_t)t.token);
			bytes_put32(r + 16, t.flags);
			bytes_put32(r + 20, 0);
		}
		size_t nv = (size_t)f->n * f->dim;
		if (nv && !f->hidden) {
			/* a decoded message: its hidden state is already in wire form */
			memcpy(r, f->raw_hidden, nv * (m->h.flags & WIRE_FLAG_F16 ? 2 : 4));
		} else if (m->h.flags & WIRE_FLAG_F16) {
			for (size_t i = 0; i < nv; i++)
				bytes_put16(r + 2 * i, sh_f32_to_f16(f->hidden[i]));
		} else if (HOST_LE) {
			if (nv)
				memcpy(r, f->hidden, nv * 4);
		} else {
			for (size_t i = 0; i < nv; i++)
				putf(r + 4 * i, f->hidden[i]);
		}
		break;
	}
	case WIRE_TOKEN: {
		bytes_put32(p, m->tokens.n);
		bytes_put32(p + 4, 0);
		uint8_t *r = p + TOKEN_FIXED;
		for (uint32_t i = 0; i < m->tokens.n; i++, r += TOKEN_ENTRY) {
			wire_tok t = wire_tokens_get(m, i);
			bytes_put64(r, t.request_id);
			bytes_put32(r + 8, t.pos);
			bytes_put32(r + 12, (uint32_t)t.token);
		}
		break;
	}
	case WIRE_CANCEL:
		memcpy(p, m->cancel.origin, WIRE_ID_BYTES);
		bytes_put32(p + 16, m->cancel.n);
		bytes_put32(p + 20, m->cancel.reason);
		for (uint32_t i = 0; i < m->cancel.n; i++)
			bytes_put64(p + CANCEL_FIXED + 8 * (size_t)i, wire_cancel_get(m, i));
		break;
	case WIRE_ERROR:
	case WIRE_REFUSE: {
		size_t n = strnlen(m->error.text, WIRE_MAX_ERROR);
		memcpy(p, m->error.origin, WIRE_ID_BYTES);
		bytes_put32(p + 16, (uint32_t)m->error.code);
		bytes_put16(p + 20, (uint16_t)n);
		bytes_put16(p + 22, 0);
		memcpy(p + ERROR_FIXED, m->error.text, n);
		break;
	}
	case WIRE_PING:
	case WIRE_PONG:
		bytes_put64(p, m->ping.time_ns);
		bytes_put32(p + 8, m->ping.pad);
		bytes_put32(p + 12, m->ping.tok_rate);
		if (m->h.type == WIRE_PING)
			memset(p + PING_FIXED, 0, m->ping.pad);
		break;
	case WIRE_PEERS:
		bytes_put16(p, (uint16_t)m->peers.n);
		bytes_put16(p + 2, 0);
		for (uint32_t i = 0; i < m->peers.n; i++) {
			wire_peer e = wire_peers_get(m, i);
			uint8_t *r = p + PEERS_FIXED + (size_t)i * PEER_ENTRY;
			size_t a = strlen(e.addr);
			memset(r, 0, PEER_ENTRY);
			bytes_put16(r, e.port);
			r[2] = (uint8_t)a;
			memcpy(r + 4, e.addr, a);
		}
		break;
	case WIRE_LOGITS: {
		bytes_put32(p, m->logits.n);
		bytes_put32(p + 4, m->logits.n_vocab);
		size_t nv = (size_t)m->logits.n * m->logits.n_vocab;
		uint8_t *r = p + LOGITS_FIXED;
		if (!m->logits.rows)
			memmove(r, m->logits.raw, nv * 4);
		else if (HOST_LE)
			memcpy(r, m->logits.rows, nv * 4);
		else
			for (size_t i = 0; i < nv; i++)
				putf(r + 4 * i, m->logits.rows[i]);
		break;
	}
	case WIRE_SWITCH: {
		size_t n = strnlen(m->sw.model, WIRE_MAX_REF);
		bytes_put16(p, m->sw.node_port);
		bytes_put16(p + 2, m->sw.nodes);
		bytes_put16(p + 4, (uint16_t)n);
		bytes_put16(p + 6, 0);
		memcpy(p + SWITCH_FIXED, m->sw.model, n);
		break;
	}
	case WIRE_HAVE:
	case WIRE_WANT:
	case WIRE_CHUNK:
	case WIRE_HASH:
	case WIRE_TABLE:
		encode_transfer(m, p);
		break;
	}
	return (int64_t)total;
}

/* ---------------------------------------------------------------- decode */
#define BAD(...) bytes_err(err, cap, SH_EFORMAT, __VA_ARGS__)

/* the payload must be exactly `want` bytes */
#define NEED_LEN(want)                                                                                       \
	do {                                                                                                 \
		if ((uint64_t)(want) != len)                                                                 \
			return BAD("%s: payload of %" PRIu64 " bytes, expected %" PRIu64, tn, (uint64_t)len, \
				   (uint64_t)(want));                                                        \
	} while (0)
#define NEED_MIN(want)                                                                                    \
	do {                                                                                              \
		if (len < (uint64_t)(want))                                                               \
			return BAD("%s: payload of %" PRIu64 " bytes, shorter than its %u-byte fixed part", \
				   tn, (uint64_t)len, (unsigned)(want));                                  \
	} while (0)

static int decode_hello(const uint8_t *p, uint64_t len, wire_msg *m, const char *tn, char *err, size_t cap)
{
	NEED_MIN(HELLO_FIXED);
	wire_hello *h = &m->hello;
	node_caps *nc = &h->info;
	unsigned c = p[56], o = p[57], d = p[58], u = p[59], os = p[60], sd = p[61];
	if (bytes_get16(p + 38) || bytes_get64(p + 48) || bytes_get16(p + 62))
		return BAD("%s: reserved bytes are not 0", tn);
	if (c < 1 || c > WIRE_MAX_NAME || o > WIRE_MAX_NAME || d > WIRE_MAX_MODEL || u >= sizeof nc->cpu ||
	    os >= sizeof nc->os || sd >= sizeof nc->simd)
		return BAD("%s: string lengths %u/%u/%u/%u/%u/%u out of range (cluster 1..%d, host 0..%d, model 0..%d, "
			   "cpu 0..%zu, os 0..%zu, simd 0..%zu)", tn, c, o, d, u, os, sd, WIRE_MAX_NAME, WIRE_MAX_NAME,
			   WIRE_MAX_MODEL, sizeof nc->cpu - 1, sizeof nc->os - 1, sizeof nc->simd - 1);
	NEED_LEN(HELLO_FIXED + c + o + d + u + os + sd);
	const char *s = (const char *)p + HELLO_FIXED;
	if (!bytes_str_ok(s, c, bytes_name_char))
		return BAD("%s: cluster name has a byte outside [A-Za-z0-9._-]", tn);
	if (!bytes_str_ok(s + c, o + d + u + os + sd, bytes_print_char))
		return BAD("%s: a host, model, cpu, os or simd name has a non-printable byte", tn);
	h->proto_min = bytes_get16(p);
	h->proto_max = bytes_get16(p + 2);
	if (h->proto_min < 1 || h->proto_min > h->proto_max)
		return BAD("%s: protocol versions %u..%u", tn, h->proto_min, h->proto_max);
	h->caps = bytes_get32(p + 4);
	nc->mem_total = bytes_get64(p + 8);
	h->mem_usable = bytes_get64(p + 16);
	nc->mem_available = bytes_get64(p + 24);
	if (h->mem_usable > nc->mem_total || nc->mem_available > nc->mem_total)
		return BAD("%s: usable %" PRIu64 " or available %" PRIu64 " memory exceeds total %" PRIu64, tn,
			   h->mem_usable, nc->mem_available, nc->mem_total);
	h->node_port = bytes_get16(p + 32);
	h->api_port = bytes_get16(p + 34);
	nc->cores = bytes_get16(p + 36);
	nc->mem_bw_gbs = bytes_get32(p + 40) / 1e3;
	nc->matmul_gflops = bytes_get32(p + 44) / 1e3;
	char *dst[6] = { h->cluster, h->host, h->model, nc->cpu, nc->os, nc->simd };
	unsigned n[6] = { c, o, d, u, os, sd };
	for (int i = 0; i < 6; i++) {
		memcpy(dst[i], s, n[i]);
		dst[i][n[i]] = '\0';
		s += n[i];
	}
	return SH_OK;
}

static int decode_plan(const uint8_t *p, uint64_t len, const wire_limits *lim, wire_msg *m, const char *tn,
		       char *err, size_t cap)
{
	NEED_MIN(PLAN_FIXED);
	uint32_t n_layers = bytes_get32(p), n_nodes = bytes_get16(p + 4);
	if (bytes_get16(p + 6))
		return BAD("%s: reserved field is not 0", tn);
	if (n_layers < 1 || n_layers > PLAN_MAX_LAYERS)
		return BAD("%s: %" PRIu32 " layers (1 to %d)", tn, n_layers, PLAN_MAX_LAYERS);
	if (lim && lim->n_layers && n_layers != lim->n_layers)
		return BAD("%s: %" PRIu32 " layers, the model has %" PRIu32, tn, n_layers, lim->n_layers);
	if (n_nodes < 1 || n_nodes > PLAN_MAX_NODES)
		return BAD("%s: %" PRIu32 " nodes (1 to %d)", tn, n_nodes, PLAN_MAX_NODES);
	NEED_LEN(PLAN_FIXED + (uint64_t)n_nodes * PLAN_NODE);
	plan *pl = &m->plan;
	memset(pl, 0, sizeof *pl);
	pl->n_layers = (int)n_layers;
	pl->n_nodes = (int)n_nodes;
	for (uint32_t i = 0; i < n_nodes; i++) {
		const uint8_t *r = p + PLAN_FIXED + (size_t)i * PLAN_NODE;
		uint32_t first = bytes_get32(r + 24), last = bytes_get32(r + 28);
		if (first > n_layers || last > n_layers)
			return BAD("%s: node %" PRIu32 ": range [%" PRIu32 ", %" PRIu32 ") beyond %" PRIu32 " layers", tn, i,
				   first, last, n_layers);
		plan_shard *s = &pl->nodes[i];
		memcpy(s->id, r, WIRE_ID_BYTES);
		s->memory = bytes_get64(r + 16);
		s->first = (int)first;
		s->last = (int)last;
		pl->n_used += s->last > s->first;
		if (!sh_add_ok(pl->available, s->memory, &pl->available))
			pl->available = UINT64_MAX;
	}
	char why[128];
	if (plan_check(pl, why, sizeof why))
		return BAD("%s: %s", tn, why);
	return SH_OK;
}

static int decode_open(const uint8_t *p, uint64_t len, wire_msg *m, const char *tn, char *err, size_t cap)
{
	NEED_LEN(OPEN_BYTES);
	sample_params *s = &m->open;
	s->temp = getf(p);
	s->top_k = (int32_t)bytes_get32(p + 4);
	s->top_p = getf(p + 8);
	s->min_p = getf(p + 12);
	s->repeat_penalty = getf(p + 16);
	s->freq_penalty = getf(p + 20);
	s->presence_penalty = getf(p + 24);
	s->penalty_last_n = (int32_t)bytes_get32(p + 28);
	s->seed = bytes_get64(p + 32);
	if (!open_floats_ok(s))
		return BAD("%s: sampling parameters out of range", tn);
	if (s->penalty_last_n < -1 || s->penalty_last_n > WIRE_MAX_WINDOW)
		return BAD("%s: penalty_last_n %d (-1 to %d)", tn, s->penalty_last_n, WIRE_MAX_WINDOW);
	return SH_OK;
}

static int check_token(const wire_limits *lim, int32_t token, uint32_t pos, const char *tn, uint32_t i, char *err,
		       size_t cap)
{
	if (token < 0 || (lim && lim->n_vocab && (uint32_t)token >= lim->n_vocab))
		return BAD("%s: token %" PRIu32 ": id %" PRId32 " outside the vocabulary of %" PRIu32, tn, i, token,
			   lim ? lim->n_vocab : 0);
	if (pos > INT32_MAX || (lim && lim->n_ctx && pos >= lim->n_ctx))
		return BAD("%s: token %" PRIu32 ": position %" PRIu32 " outside the context of %" PRIu32, tn, i, pos,
			   lim && lim->n_ctx ? lim->n_ctx : (uint32_t)INT32_MAX);
	return SH_OK;
}

static int decode_forward(const uint8_t *p, uint64_t len, uint16_t flags, const wire_limits *lim, wire_msg *m,
			  const char *tn, char *err, size_t cap)
{
	NEED_MIN(FWD_FIXED);
	uint32_t layer = bytes_get32(p + 16), n = bytes_get32(p + 20), dim = bytes_get32(p + 24);
	if (bytes_get32(p + 28))
		return BAD("%s: reserved field is not 0", tn);
	uint32_t n_layers = lim && lim->n_layers ? lim->n_layers : PLAN_MAX_LAYERS;
	if (layer >= n_layers)
		return BAD("%s: layer %" PRIu32 " of a model of %" PRIu32 " layers", tn, layer, n_layers);
	if (n < 1 || n > max_tokens(lim))
		return BAD("%s: %" PRIu32 " tokens (1 to %" PRIu32 ")", tn, n, max_tokens(lim));
	if (layer == 0) {
		if (dim != 0 || flags & WIRE_FLAG_F16)
			return BAD("%s: layer 0 takes tokens, but a hidden state (dim %" PRIu32 ", %s) is declared", tn, dim,
				   flags & WIRE_FLAG_F16 ? "f16" : "f32");
	} else if (lim && lim->dim ? dim != lim->dim : (dim < 1 || dim > WIRE_MAX_DIM)) {
		return BAD("%s: hidden size %" PRIu32 ", expected %" PRIu32, tn, dim,
			   lim && lim->dim ? lim->dim : (uint32_t)WIRE_MAX_DIM);
	}
	uint64_t hid = (uint64_t)n * dim * (flags & WIRE_FLAG_F16 ? 2 : 4); /* < 2^13 * 2^32 * 4 */
	NEED_LEN(FWD_FIXED + (uint64_t)n * FWD_TOKEN + hid);
	const uint8_t *r = p + FWD_FIXED;
	for (uint32_t i = 0; i < n; i++, r += FWD_TOKEN) {
		uint32_t fl = bytes_get32(r + 16);
		int e = check_token(lim, (int32_t)bytes_get32(r + 12), bytes_get32(r + 8), tn, i, err, cap);
		if (e)
			return e;
		if (fl & ~(uint32_t)WIRE_TOKEN_FLAGS_KNOWN || bytes_get32(r + 20))
			return BAD("%s: token %" PRIu32 ": unknown flags 0x%" PRIx32 " or reserved field not 0", tn, i, fl);
	}
	wire_forward *f = &m->fwd;
	memcpy(f->origin, p, WIRE_ID_BYTES);
	f->layer = layer;
	f->n = n;
	f->dim = dim;
	f->tokens = NULL;
	f->hidden = NULL;
	f->raw_tokens = p + FWD_FIXED;
	f->raw_hidden = dim ? p + FWD_FIXED + (size_t)n * FWD_TOKEN : NULL;
	return SH_OK;
}

static int decode_tokens(const uint8_t *p, uint64_t len, const wire_limits *lim, wire_msg *m, const char *tn,
			 char *err, size_t cap)
{
	NEED_MIN(TOKEN_FIXED);
	uint32_t n = bytes_get32(p);
	if (bytes_get32(p + 4))
		return BAD("%s: reserved field is not 0", tn);
	if (n < 1 || n > max_tokens(lim))
		return BAD("%s: %" PRIu32 " tokens (1 to %" PRIu32 ")", tn, n, max_tokens(lim));
	NEED_LEN(TOKEN_FIXED + (uint64_t)n * TOKEN_ENTRY);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *r = p + TOKEN_FIXED + (size_t)i * TOKEN_ENTRY;
		int e = check_token(lim, (int32_t)bytes_get32(r + 12), bytes_get32(r + 8), tn, i, err, cap);
		if (e)
			return e;
	}
	m->tokens.n = n;
	m->tokens.items = NULL;
	m->tokens.raw = p + TOKEN_FIXED;
	return SH_OK;
}

static int decode_cancel(const uint8_t *p, uint64_t len, wire_msg *m, const char *tn, char *err, size_t cap)
{
	NEED_MIN(CANCEL_FIXED);
	uint32_t n = bytes_get32(p + 16);
	if (n < 1 || n > WIRE_MAX_CANCEL)
		return BAD("%s: %" PRIu32 " request ids (1 to %d)", tn, n, WIRE_MAX_CANCEL);
	NEED_LEN(CANCEL_FIXED + (uint64_t)n * 8);
	memcpy(m->cancel.origin, p, WIRE_ID_BYTES);
	m->cancel.n = n;
	m->cancel.reason = bytes_get32(p + 20);
	m->cancel.ids = NULL;
	m->cancel.raw = p + CANCEL_FIXED;
	return SH_OK;
}

/* ERROR and REFUSE (whose code is a known reason) */
static int decode_error(const uint8_t *p, uint64_t len, bool refuse, wire_msg *m, const char *tn, char *err, size_t cap)
{
	NEED_MIN(ERROR_FIXED);
	uint32_t n = bytes_get16(p + 20);
	if (bytes_get16(p + 22))
		return BAD("%s: reserved field is not 0", tn);
	if (n > WIRE_MAX_ERROR)
		return BAD("%s: text of %" PRIu32 " bytes (at most %d)", tn, n, WIRE_MAX_ERROR);
	NEED_LEN(ERROR_FIXED + n);
	if (!bytes_str_ok((const char *)p + ERROR_FIXED, n, bytes_print_char))
		return BAD("%s: text has a non-printable byte", tn);
	memcpy(m->error.origin, p, WIRE_ID_BYTES);
	m->error.code = (int32_t)bytes_get32(p + 16);
	if (refuse && (m->error.code < 1 || m->error.code > WIRE_REFUSE_MAX))
		return BAD("%s: unknown reason %" PRId32, tn, m->error.code);
	memcpy(m->error.text, p + ERROR_FIXED, n);
	m->error.text[n] = '\0';
	return SH_OK;
}

static int decode_logits(const uint8_t *p, uint64_t len, const wire_limits *lim, wire_msg *m, const char *tn,
			 char *err, size_t cap)
{
	NEED_MIN(LOGITS_FIXED);
	uint32_t n = bytes_get32(p), nv = bytes_get32(p + 4);
	if (n < 1 || n > max_tokens(lim))
		return BAD("%s: %" PRIu32 " rows (1 to %" PRIu32 ")", tn, n, max_tokens(lim));
	if (lim && lim->n_vocab ? nv != lim->n_vocab : (nv < 1 || nv > WIRE_MAX_VOCAB))
		return BAD("%s: rows of %" PRIu32 " logits, expected %" PRIu32, tn, nv,
			   lim && lim->n_vocab ? lim->n_vocab : (uint32_t)WIRE_MAX_VOCAB);
	NEED_LEN(LOGITS_FIXED + (uint64_t)n * nv * 4);
	m->logits.n = n;
	m->logits.n_vocab = nv;
	m->logits.rows = NULL;
	m->logits.raw = p + LOGITS_FIXED;
	return SH_OK;
}

static int decode_peers(const uint8_t *p, uint64_t len, wire_msg *m, const char *tn, char *err, size_t cap)
{
	NEED_MIN(PEERS_FIXED);
	uint32_t n = bytes_get16(p);
	if (bytes_get16(p + 2))
		return BAD("%s: reserved bytes are not 0", tn);
	if (n > WIRE_MAX_PEERS)
		return BAD("%s: %" PRIu32 " entries (at most %d)", tn, n, WIRE_MAX_PEERS);
	NEED_LEN(PEERS_FIXED + (uint64_t)n * PEER_ENTRY);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *r = p + PEERS_FIXED + (size_t)i * PEER_ENTRY;
		unsigned a = r[2];
		if (!bytes_get16(r) || a < 1 || a > WIRE_MAX_ADDR || r[3])
			return BAD("%s: entry %" PRIu32 ": port %u, address of %u bytes", tn, i, bytes_get16(r), a);
		if (!bytes_str_ok((const char *)r + 4, a, bytes_print_char))
			return BAD("%s: entry %" PRIu32 ": the address has a non-printable byte", tn, i);
		for (unsigned k = 4 + a; k < PEER_ENTRY; k++)
			if (r[k])
				return BAD("%s: entry %" PRIu32 ": padding is not 0", tn, i);
	}
	m->peers.n = n;
	m->peers.items = NULL;
	m->peers.raw = p + PEERS_FIXED;
	return SH_OK;
}

/* SWITCH: the sender's port of the new model's cluster, the nodes it waits for, the model */
static int decode_switch(const uint8_t *p, uint64_t len, wire_msg *m, const char *tn, char *err, size_t cap)
{
	NEED_MIN(SWITCH_FIXED);
	unsigned port = bytes_get16(p), nodes = bytes_get16(p + 2), n = bytes_get16(p + 4);
	if (bytes_get16(p + 6))
		return BAD("%s: reserved field is not 0", tn);
	if (!port)
		return BAD("%s: node port 0", tn);
	if (nodes < 1 || nodes > WIRE_MAX_PEERS + 1)
		return BAD("%s: %u nodes (1..%d)", tn, nodes, WIRE_MAX_PEERS + 1);
	if (n < 1 || n > WIRE_MAX_REF)
		return BAD("%s: model of %u bytes (1..%d)", tn, n, WIRE_MAX_REF);
	NEED_LEN(SWITCH_FIXED + n);
	if (!bytes_str_ok((const char *)p + SWITCH_FIXED, n, bytes_print_char))
		return BAD("%s: the model has a non-printable byte", tn);
	m->sw.node_port = (uint16_t)port;
	m->sw.nodes = (uint16_t)nodes;
	memcpy(m->sw.model, p + SWITCH_FIXED, n);
	m->sw.model[n] = '\0';
	return SH_OK;
}

static int decode_transfer(const uint8_t *p, uint64_t len, uint8_t type, wire_msg *m, const char *tn, char *err,
			   size_t cap)
{
	NEED_MIN(FILE_BYTES);
	wire_file f;
	memcpy(f.sha, p, WIRE_SHA_BYTES);
	f.size = bytes_get64(p + 32);
	f.chunk_size = bytes_get32(p + 40);
	f.n_chunks = bytes_get32(p + 44);
	const char *why = file_why(&f);
	if (why)
		return BAD("%s: %s (%" PRIu64 " bytes, chunks of %" PRIu32 ", %" PRIu32 " chunks)", tn, why, f.size,
			   f.chunk_size, f.n_chunks);
	uint64_t n = f.n_chunks;
	switch (type) {
	case WIRE_HAVE: {
		NEED_LEN(HAVE_FIXED + (n + 3) / 4);
		wire_have *h = &m->have;
		h->f = f;
		h->flags = bytes_get32(p + 48);
		h->rate = bytes_get32(p + 52);
		h->epoch = bytes_get32(p + 56);
		h->need = bytes_get64(p + 64);
		h->have = bytes_get64(p + 72);
		h->from_hub = bytes_get64(p + 80);
		h->from_peers = bytes_get64(p + 88);
		h->states = p + HAVE_FIXED;
		if (bytes_get32(p + 60))
			return BAD("%s: reserved bytes are not 0", tn);
		if (h->flags & ~(uint32_t)WIRE_HAVE_FLAGS_KNOWN)
			return BAD("%s: unknown flags 0x%" PRIx32, tn, h->flags);
		if (h->have > h->need)
			return BAD("%s: %" PRIu64 " bytes verified of a share of %" PRIu64, tn, h->have, h->need);
		if (!states_ok(h->states, f.n_chunks))
			return BAD("%s: state bits past the last chunk are not 0", tn);
		break;
	}
	case WIRE_WANT:
		NEED_LEN(WANT_BYTES);
		m->want.f = f;
		m->want.chunk = bytes_get32(p + 48);
		if (bytes_get32(p + 52))
			return BAD("%s: reserved bytes are not 0", tn);
		if (m->want.chunk >= n)
			return BAD("%s: chunk %" PRIu32 " of %" PRIu64, tn, m->want.chunk, n);
		break;
	case WIRE_CHUNK: {
		NEED_MIN(CHUNK_FIXED);
		wire_chunk *c = &m->chunk;
		c->f = f;
		c->chunk = bytes_get32(p + 48);
		c->status = bytes_get32(p + 52);
		c->len = bytes_get32(p + 56);
		c->data = p + CHUNK_FIXED;
		if (bytes_get32(p + 60))
			return BAD("%s: reserved bytes are not 0", tn);
		if (c->chunk >= n)
			return BAD("%s: chunk %" PRIu32 " of %" PRIu64, tn, c->chunk, n);
		if (c->status != WIRE_CHUNK_OK && c->status != WIRE_CHUNK_NONE)
			return BAD("%s: status %" PRIu32, tn, c->status);
		uint32_t want = c->status == WIRE_CHUNK_OK ? wire_file_chunk_len(&f, c->chunk) : 0;
		if (c->len != want)
			return BAD("%s: %" PRIu32 " bytes for chunk %" PRIu32 ", which has %" PRIu32, tn, c->len, c->chunk, want);
		NEED_LEN(CHUNK_FIXED + (uint64_t)c->len);
		break;
	}
	case WIRE_HASH: {
		NEED_MIN(HASH_FIXED);
		wire_hash *h = &m->hash;
		h->f = f;
		h->next = bytes_get32(p + 48);
		if (bytes_get32(p + 52))
			return BAD("%s: reserved bytes are not 0", tn);
		for (int i = 0; i < 8; i++)
			h->h[i] = bytes_get32(p + 56 + 4 * i);
		h->bytes = bytes_get64(p + 88);
		h->hashes = p + HASH_FIXED;
		if (h->next < 1 || h->next >= n)
			return BAD("%s: next chunk %" PRIu32 " of %" PRIu64 " (1 to n - 1)", tn, h->next, n);
		if (h->bytes != (uint64_t)h->next * f.chunk_size)
			return BAD("%s: %" PRIu64 " bytes hashed before chunk %" PRIu32, tn, h->bytes, h->next);
		NEED_LEN(HASH_FIXED + (uint64_t)h->next * WIRE_SHA_BYTES);
		break;
	}
	case WIRE_TABLE: {
		NEED_LEN(TABLE_FIXED + n * WIRE_SHA_BYTES + WIRE_SHA_BYTES);
		wire_table *t = &m->table;
		t->f = f;
		t->flags = bytes_get32(p + 48);
		t->hashes = p + TABLE_FIXED;
		memcpy(t->tag, p + TABLE_FIXED + n * WIRE_SHA_BYTES, WIRE_SHA_BYTES);
		if (bytes_get32(p + 52))
			return BAD("%s: reserved bytes are not 0", tn);
		if (t->flags & ~(uint32_t)WIRE_TABLE_FLAGS_KNOWN)
			return BAD("%s: unknown flags 0x%" PRIx32, tn, t->flags);
		if (!(t->flags & WIRE_TABLE_TAG) && !zeros(t->tag, WIRE_SHA_BYTES))
			return BAD("%s: a tag without the tag flag", tn);
		break;
	}
	}
	return SH_OK;
}

int wire_decode(const void *frame, size_t flen, const wire_limits *lim, wire_msg *m, char *err, size_t cap)
{
	const uint8_t *b = frame;
	if (err && cap)
		err[0] = '\0';
	if (flen < WIRE_HEADER_BYTES)
		return BAD("frame of %zu bytes, shorter than the %d-byte header", flen, WIRE_HEADER_BYTES);
	if (memcmp(b, WIRE_MAGIC, 4))
		return BAD("bad magic (not a shoal message)");
	if (b[4] != WIRE_VERSION)
		return bytes_err(err, cap, SH_EUNSUP, "protocol version %u, this node speaks %d", b[4], WIRE_VERSION);
	uint8_t type = b[5];
	if (type < 1 || type > WIRE_TYPE_MAX)
		return BAD("unknown message type %u", type);
	const char *tn = wire_type_name(type);
	uint16_t flags = bytes_get16(b + 6);
	if (flags & ~WIRE_FLAGS_KNOWN || (flags & WIRE_FLAG_F16 && type != WIRE_FORWARD))
		return BAD("%s: unknown flags 0x%x", tn, flags);
	uint64_t len = bytes_get32(b + 8);
	if (len > WIRE_MAX_PAYLOAD || len != flen - WIRE_HEADER_BYTES)
		return BAD("%s: header says %" PRIu64 " payload bytes, the frame carries %zu", tn, len,
			   flen - WIRE_HEADER_BYTES);
	memset(&m->h, 0, sizeof m->h);
	const uint8_t *p = b + WIRE_HEADER_BYTES;
	int e = SH_OK;
	switch (type) {
	case WIRE_HELLO:
	case WIRE_WELCOME:
		e = decode_hello(p, len, m, tn, err, cap);
		break;
	case WIRE_PLAN:
		e = decode_plan(p, len, lim, m, tn, err, cap);
		break;
	case WIRE_OPEN:
		e = decode_open(p, len, m, tn, err, cap);
		break;
	case WIRE_FORWARD:
		e = decode_forward(p, len, flags, lim, m, tn, err, cap);
		break;
	case WIRE_TOKEN:
		e = decode_tokens(p, len, lim, m, tn, err, cap);
		break;
	case WIRE_CANCEL:
		e = decode_cancel(p, len, m, tn, err, cap);
		break;
	case WIRE_ERROR:
	case WIRE_REFUSE:
		e = decode_error(p, len, type == WIRE_REFUSE, m, tn, err, cap);
		break;
	case WIRE_PING:
	case WIRE_PONG:
		NEED_MIN(PING_FIXED);
		m->ping.time_ns = bytes_get64(p);
		m->ping.pad = bytes_get32(p + 8);
		m->ping.tok_rate = bytes_get32(p + 12);
		if (m->ping.pad > WIRE_MAX_PING_PAD)
			return BAD("%s: padding of %" PRIu32 " bytes (at most %u)", tn, m->ping.pad, WIRE_MAX_PING_PAD);
		NEED_LEN(PING_FIXED + (type == WIRE_PING ? (uint64_t)m->ping.pad : 0));
		for (uint32_t i = 0; type == WIRE_PING && i < m->ping.pad; i++)
			if (p[PING_FIXED + i])
				return BAD("%s: padding byte %" PRIu32 " is not 0", tn, i);
		break;
	case WIRE_LOGITS:
		e = decode_logits(p, len, lim, m, tn, err, cap);
		break;
	case WIRE_PEERS:
		e = decode_peers(p, len, m, tn, err, cap);
		break;
	case WIRE_SWITCH:
		e = decode_switch(p, len, m, tn, err, cap);
		break;
	case WIRE_HAVE:
	case WIRE_WANT:
	case WIRE_CHUNK:
	case WIRE_HASH:
	case WIRE_TABLE:
		e = decode_transfer(p, len, type, m, tn, err, cap);
		break;
	}
	if (e)
		return e;
	m->h.version = b[4];
	m->h.type = type;
	m->h.flags = flags;
	m->h.payload_len = (uint32_t)len;
	m->h.epoch = bytes_get32(b + 12);
	m->h.request_id = bytes_get64(b + 16);
	m->h.seq = bytes_get64(b + 24);
	memcpy(m->h.sender, b + 32, WIRE_ID_BYTES);
	return SH_OK;
}

/* ---------------------------------------------------------------- accessors */
wire_fwd_token wire_forward_token(const wire_msg *m, uint32_t i)
{
	SH_ASSERT(m->h.type == WIRE_FORWARD && i < m->fwd.n);
	if (m->fwd.tokens)
		return m->fwd.tokens[i];
	const uint8_t *r = m->fwd.raw_tokens + (size_t)i * FWD_TOKEN;
	return (wire_fwd_token){ bytes_get64(r), bytes_get32(r + 8), (int32_t)bytes_get32(r + 12), bytes_get32(r + 16) };
}

void wire_forward_hidden(const wire_msg *m, float *out)
{
	SH_ASSERT(m->h.type == WIRE_FORWARD);
	size_t nv = (size_t)m->fwd.n * m->fwd.dim;
	if (m->fwd.hidden) {
		memcpy(out, m->fwd.hidden, nv * sizeof(float));
		return;
	}
	const uint8_t *r = m->fwd.raw_hidden;
	if (!nv)
		return;
	if (m->h.flags & WIRE_FLAG_F16) {
		for (size_t i = 0; i < nv; i++)
			out[i] = sh_f16_to_f32(bytes_get16(r + 2 * i));
	} else if (HOST_LE) {
		memcpy(out, r, nv * 4);
	} else {
		for (size_t i = 0; i < nv; i++)
			out[i] = getf(r + 4 * i);
	}
}

wire_tok wire_tokens_get(const wire_msg *m, uint32_t i)
{
	SH_ASSERT(m->h.type == WIRE_TOKEN && i < m->tokens.n);
	if (m->tokens.items)
		return m->tokens.items[i];
	const uint8_t *r = m->tokens.raw + (size_t)i * TOKEN_ENTRY;
	return (wire_tok){ bytes_get64(r), bytes_get32(r + 8), (int32_t)bytes_get32(r + 12) };
}

uint64_t wire_cancel_get(const wire_msg *m, uint32_t i)
{
	SH_ASSERT(m->h.type == WIRE_CANCEL && i < m->cancel.n);
	return m->cancel.ids ? m->cancel.ids[i] : bytes_get64(m->cancel.raw + 8 * (size_t)i);
}

wire_peer wire_peers_get(const wire_msg *m, uint32_t i)
{
	SH_ASSERT(m->h.type == WIRE_PEERS && i < m->peers.n);
	if (m->peers.items)
		return m->peers.items[i];
	const uint8_t *r = m->peers.raw + (size_t)i * PEER_ENTRY;
	wire_peer e = { .port = bytes_get16(r) };
	memcpy(e.addr, r + 4, r[2]);
	e.addr[r[2]] = '\0';
	return e;
}

int wire_have_state(const wire_msg *m, uint32_t i)
{
	SH_ASSERT(m->h.type == WIRE_HAVE && i < m->have.f.n_chunks);
	return (m->have.states[i / 4] >> (2 * (i % 4))) & 3;
}

void wire_logits_get(const wire_msg *m, float *out)
{
	SH_ASSERT(m->h.type == WIRE_LOGITS);
	size_t nv = (size_t)m->logits.n * m->logits.n_vocab;
	if (m->logits.rows)
		memcpy(out, m->logits.rows, nv * sizeof(float));
	else if (HOST_LE)
		memcpy(out, m->logits.raw, nv * 4);
	else
		for (size_t i = 0; i < nv; i++)
			out[i] = getf(m->logits.raw + 4 * i);
}
