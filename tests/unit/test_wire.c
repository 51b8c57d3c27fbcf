/*
 * test_wire.c - protocol v2 messages: every type round-trips (decode(encode(m)) == m, and
 * encode(decode(frame)) == frame); every truncation and extension of every message is rejected;
 * every single-bit corruption is either rejected or decodes to a message that re-encodes to the
 * same bytes (the encoding is canonical); and a list of hand-made defects is rejected with a
 * message that names what is wrong. Frames are decoded from heap copies of their exact size, so
 * ASan catches any read past the end.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cluster/wire.h"

/* ---------------------------------------------------------------- fixtures */
#define DIM 64
#define NTOK 5

static const wire_limits LIM = { .dim = DIM, .n_layers = 12, .n_vocab = 1000, .n_ctx = 4096, .max_tokens = 512 };

static wire_fwd_token g_toks[NTOK];
static float g_hidden[NTOK * DIM];
static wire_tok g_samples[3];
static float g_logits[2 * 1000];
static uint64_t g_ids[4] = { 1, 2, 0xffffffffffffffffull, 77 };
/* the file of the transfer samples: 4 chunks of 64 KiB, the last of 100 bytes */
static const wire_file FILE4 = { .sha = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3 }, .size = 3 * 65536 + 100,
				 .chunk_size = 65536, .n_chunks = 4 };
static uint8_t g_states[1] = { WIRE_CHUNK_VERIFIED | WIRE_CHUNK_FETCHING << 2 | WIRE_CHUNK_PRESENT << 4 };
static uint8_t g_data[100], g_hashes[4 * 32];

static void fixtures_init(void)
{
	sh_base_init();
	for (int i = 0; i < NTOK; i++)
		g_toks[i] = (wire_fwd_token){ .request_id = 100 + (uint64_t)(i % 2), .pos = (uint32_t)(i * 3),
					      .token = i * 11, .flags = i == NTOK - 1 ? WIRE_TOKEN_SAMPLE : 0 };
	sh_rng r;
	sh_rng_seed(&r, 3);
	for (int i = 0; i < NTOK * DIM; i++)
		g_hidden[i] = sh_rng_normal(&r) * 4.0f;
	for (int i = 0; i < 2 * 1000; i++)
		g_logits[i] = sh_rng_normal(&r) * 8.0f;
	g_hidden[7] = -0.0f;
	g_hidden[8] = 1e-30f;
	for (int i = 0; i < 3; i++)
		g_samples[i] = (wire_tok){ .request_id = 1ull << (20 * i), .pos = (uint32_t)i, .token = 999 - i };
	for (size_t i = 0; i < sizeof g_data; i++)
		g_data[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof g_hashes; i++)
		g_hashes[i] = (uint8_t)(255 - i);
}

static void header_init(wire_msg *m, int type)
{
	memset(m, 0, sizeof *m);
	m->h.type = (uint8_t)type;
	m->h.epoch = 7;
	m->h.request_id = 0x0102030405060708ull;
	m->h.seq = 42;
	for (int i = 0; i < WIRE_ID_BYTES; i++)
		m->h.sender[i] = (uint8_t)(0xa0 + i);
}

/* one valid message of each kind; index -> message */
#define N_SAMPLES 23
static void sample_msg(int k, wire_msg *m)
{
	static const int types[N_SAMPLES] = { WIRE_HELLO, WIRE_WELCOME, WIRE_PLAN, WIRE_OPEN, WIRE_FORWARD,
					      WIRE_FORWARD, WIRE_FORWARD, WIRE_TOKEN, WIRE_CANCEL, WIRE_ERROR,
					      WIRE_PING, WIRE_PONG, WIRE_HELLO, WIRE_LOGITS, WIRE_PEERS, WIRE_REFUSE,
					      WIRE_HAVE, WIRE_WANT, WIRE_CHUNK, WIRE_CHUNK, WIRE_HASH, WIRE_TABLE,
					      WIRE_SWITCH };
	static const wire_peer peers[3] = { { 8643, "10.0.0.2" }, { 7070, "fe80::1%eth0" },
					    { 65535, "192.168.100.200" } };
	header_init(m, types[k]);
	switch (k) {
	case 0:
	case 1:
	case 12:
		m->hello = (wire_hello){ .proto_min = 1, .proto_max = 2, .caps = WIRE_CAP_F16 | WIRE_CAP_AVX2,
					 .mem_usable = 20ull << 30, .node_port = 7070, .api_port = 8080,
					 .info = { .cores = 16, .mem_total = 32ull << 30, .mem_available = 24ull << 30,
						   .mem_bw_gbs = 41.5, .matmul_gflops = 123.456 } };
		strcpy(m->hello.cluster, k == 12 ? "a" : "home-lab_2.x");
		strcpy(m->hello.host, k == 12 ? "" : "box one (x86)");
		strcpy(m->hello.model, k == 12 ? "" : "llama-3.2-1b-instruct:q4_k_m");
		strcpy(m->hello.info.cpu, k == 12 ? "" : "AMD EPYC 7B13 64-Core Processor");
		strcpy(m->hello.info.os, k == 12 ? "" : "Linux 6.1.0-18-amd64 x86_64");
		strcpy(m->hello.info.simd, k == 12 ? "" : "avx512 avx2");
		break;
	case 2: {
		plan_model pm = { .n_layers = 12 };
		for (int l = 0; l < 12; l++)
			pm.layer_bytes[l] = 100;
		plan_node n[4] = { { .id = { 3 }, .memory = 800 }, { .id = { 1 }, .memory = 0 },
				   { .id = { 2 }, .memory = 400 }, { .id = { 9 }, .memory = 500 } };
		cr_assert_eq(plan_compute(n, 4, &pm, &m->plan), SH_OK);
		break;
	}
	case 3:
		sample_params_default(&m->open);
		m->open.seed = 0xdeadbeefcafef00dull;
		m->open.penalty_last_n = -1;
		m->open.temp = -0.0f;
		break;
	case 4: /* f32 hidden */
	case 5: /* f16 hidden */
		memset(m->fwd.origin, 0x5a, WIRE_ID_BYTES);
		m->fwd.layer = 5;
		m->fwd.n = NTOK;
		m->fwd.dim = DIM;
		m->fwd.tokens = g_toks;
		m->fwd.hidden = g_hidden;
		m->h.flags = k == 5 ? WIRE_FLAG_F16 : 0;
		break;
	case 6: /* layer 0: tokens only */
		memset(m->fwd.origin, 0x11, WIRE_ID_BYTES);
		m->fwd.layer = 0;
		m->fwd.n = NTOK;
		m->fwd.tokens = g_toks;
		break;
	case 7:
		m->tokens.n = 3;
		m->tokens.items = g_samples;
		break;
	case 8:
		memset(m->cancel.origin, 0x22, WIRE_ID_BYTES);
		m->cancel.n = 4;
		m->cancel.reason = WIRE_CANCEL_CLIENT;
		m->cancel.ids = g_ids;
		break;
	case 9:
		memset(m->error.origin, 0x33, WIRE_ID_BYTES);
		m->error.code = SH_ERANGE;
		strcpy(m->error.text, "context full: 4096 tokens");
		break;
	case 10:
	case 11:
		m->ping.time_ns = 123456789012345ull;
		m->ping.pad = 1000; /* PING: a bandwidth probe; PONG: its echo */
		m->ping.tok_rate = 1234; /* 123.4 tokens per second */
		break;
	case 13: /* two rows of the vocabulary of LIM */
		m->logits.n = 2;
		m->logits.n_vocab = 1000;
		m->logits.rows = g_logits;
		break;
	case 14:
		m->peers = (wire_peers){ .n = 3, .items = peers };
		break;
	case 15:
		memset(m->error.origin, 0x44, WIRE_ID_BYTES);
		m->error.code = WIRE_REFUSE_MODEL;
		strcpy(m->error.text, "af739c8808688c0c:stories260K.gguf");
		break;
	case 16:
		m->have = (wire_have){ .f = FILE4, .flags = WIRE_HAVE_TABLE | WIRE_HAVE_FULL_COPY, .rate = 123456,
				       .epoch = 0x8cf42c36, .need = 131072, .have = 65536, .from_hub = 65536, .from_peers = 100,
				       .states = g_states };
		break;
	case 17:
		m->want = (wire_want){ .f = FILE4, .chunk = 3 };
		break;
	case 18: /* the last chunk: 100 bytes */
		m->chunk = (wire_chunk){ .f = FILE4, .chunk = 3, .status = WIRE_CHUNK_OK, .len = 100, .data = g_data };
		break;
	case 19:
		m->chunk = (wire_chunk){ .f = FILE4, .chunk = 1, .status = WIRE_CHUNK_NONE };
		break;
	case 20:
		m->hash = (wire_hash){ .f = FILE4, .next = 2, .h = { 1, 2, 3, 0xffffffffu, 5, 6, 7, 8 }, .bytes = 2 * 65536,
				       .hashes = g_hashes };
		break;
	case 21:
		m->table = (wire_table){ .f = FILE4, .flags = WIRE_TABLE_TAG, .hashes = g_hashes };
		memset(m->table.tag, 0x77, sizeof m->table.tag);
		break;
	case 22:
		m->sw = (wire_switch){ .node_port = 8644, .nodes = 3 };
		strcpy(m->sw.model, "unsloth/Qwen3-0.6B-GGUF:Q4_K_M");
		break;
	}
}

/* encodes into an exact-size heap buffer */
static uint8_t *encode(const wire_msg *m, size_t *len)
{
	size_t n = wire_size(m);
	cr_assert_gt(n, 0, "wire_size rejects sample of type %s", wire_type_name(m->h.type));
	uint8_t *b = malloc(n);
	cr_assert_eq(wire_encode(m, b, n - 1), SH_ERANGE);
	cr_assert_eq(wire_encode(m, b, n), (int64_t)n);
	*len = n;
	return b;
}

/* decodes a heap copy of exactly len bytes */
static int decode(const uint8_t *frame, size_t len, const wire_limits *lim, wire_msg *m, uint8_t **copy, char *err)
{
	*copy = malloc(len ? len : 1);
	memcpy(*copy, frame, len);
	return wire_decode(*copy, len, lim, m, err, WIRE_ERR_CAP);
}

/* ---------------------------------------------------------------- round trips */
static void check_equal(const wire_msg *a, const wire_msg *b)
{
	cr_assert_eq(b->h.version, WIRE_VERSION);
	cr_assert_eq(a->h.type, b->h.type);
	cr_assert_eq(a->h.flags, b->h.flags);
	cr_assert_eq(a->h.epoch, b->h.epoch);
	cr_assert_eq(a->h.request_id, b->h.request_id);
	cr_assert_eq(a->h.seq, b->h.seq);
	cr_assert_arr_eq(a->h.sender, b->h.sender, WIRE_ID_BYTES);
	switch (a->h.type) {
	case WIRE_HELLO:
	case WIRE_WELCOME:
		cr_assert_eq(a->hello.proto_min, b->hello.proto_min);
		cr_assert_eq(a->hello.proto_max, b->hello.proto_max);
		cr_assert_eq(a->hello.caps, b->hello.caps);
		cr_assert_eq(a->hello.info.mem_total, b->hello.info.mem_total);
		cr_assert_eq(a->hello.info.mem_available, b->hello.info.mem_available);
		cr_assert_eq(a->hello.mem_usable, b->hello.mem_usable);
		cr_assert_eq(a->hello.info.cores, b->hello.info.cores);
		cr_assert_float_eq(a->hello.info.mem_bw_gbs, b->hello.info.mem_bw_gbs, 1e-3);
		cr_assert_float_eq(a->hello.info.matmul_gflops, b->hello.info.matmul_gflops, 1e-3);
		cr_assert_eq(a->hello.node_port, b->hello.node_port);
		cr_assert_eq(a->hello.api_port, b->hello.api_port);
		cr_assert_str_eq(a->hello.cluster, b->hello.cluster);
		cr_assert_str_eq(a->hello.host, b->hello.host);
		cr_assert_str_eq(a->hello.model, b->hello.model);
		cr_assert_str_eq(a->hello.info.cpu, b->hello.info.cpu);
		cr_assert_str_eq(a->hello.info.os, b->hello.info.os);
		cr_assert_str_eq(a->hello.info.simd, b->hello.info.simd);
		break;
	case WIRE_PLAN:
		cr_assert(plan_equal(&a->plan, &b->plan));
		cr_assert_eq(a->plan.n_used, b->plan.n_used);
		for (int i = 0; i < a->plan.n_nodes; i++)
			cr_assert_eq(a->plan.nodes[i].memory, b->plan.nodes[i].memory);
		break;
	case WIRE_OPEN:
		cr_assert(!memcmp(&a->open.temp, &b->open.temp, 4));
		cr_assert_eq(a->open.top_k, b->open.top_k);
		cr_assert_eq(a->open.top_p, b->open.top_p);
		cr_assert_eq(a->open.min_p, b->open.min_p);
		cr_assert_eq(a->open.repeat_penalty, b->open.repeat_penalty);
		cr_assert_eq(a->open.freq_penalty, b->open.freq_penalty);
		cr_assert_eq(a->open.presence_penalty, b->open.presence_penalty);
		cr_assert_eq(a->open.penalty_last_n, b->open.penalty_last_n);
		cr_assert_eq(a->open.seed, b->open.seed);
		break;
	case WIRE_FORWARD: {
		cr_assert_arr_eq(a->fwd.origin, b->fwd.origin, WIRE_ID_BYTES);
		cr_assert(a->fwd.layer == b->fwd.layer && a->fwd.n == b->fwd.n && a->fwd.dim == b->fwd.dim);
		for (uint32_t i = 0; i < a->fwd.n; i++) {
			wire_fwd_token x = wire_forward_token(a, i), y = wire_forward_token(b, i);
			cr_assert(x.request_id == y.request_id && x.pos == y.pos && x.token == y.token && x.flags == y.flags);
		}
		size_t nv = (size_t)a->fwd.n * a->fwd.dim;
		float *h = malloc(sizeof(float) * (nv + 1));
		wire_forward_hidden(b, h);
		for (size_t i = 0; i < nv; i++) {
			float want = a->h.flags & WIRE_FLAG_F16 ? sh_f16_to_f32(sh_f32_to_f16(a->fwd.hidden[i]))
							       : a->fwd.hidden[i];
			cr_assert(!memcmp(&want, &h[i], 4), "hidden[%zu]: %g, want %g", i, h[i], want);
		}
		free(h);
		break;
	}
	case WIRE_TOKEN:
		cr_assert_eq(a->tokens.n, b->tokens.n);
		for (uint32_t i = 0; i < a->tokens.n; i++) {
			wire_tok x = wire_tokens_get(a, i), y = wire_tokens_get(b, i);
			cr_assert(x.request_id == y.request_id && x.pos == y.pos && x.token == y.token);
		}
		break;
	case WIRE_CANCEL:
		cr_assert_arr_eq(a->cancel.origin, b->cancel.origin, WIRE_ID_BYTES);
		cr_assert(a->cancel.n == b->cancel.n && a->cancel.reason == b->cancel.reason);
		for (uint32_t i = 0; i < a->cancel.n; i++)
			cr_assert_eq(wire_cancel_get(a, i), wire_cancel_get(b, i));
		break;
	case WIRE_ERROR:
	case WIRE_REFUSE:
		cr_assert_arr_eq(a->error.origin, b->error.origin, WIRE_ID_BYTES);
		cr_assert_eq(a->error.code, b->error.code);
		cr_assert_str_eq(a->error.text, b->error.text);
		break;
	case WIRE_PING:
	case WIRE_PONG:
		cr_assert_eq(a->ping.time_ns, b->ping.time_ns);
		cr_assert_eq(a->ping.pad, b->ping.pad);
		cr_assert_eq(a->ping.tok_rate, b->ping.tok_rate);
		break;
	case WIRE_LOGITS: {
		cr_assert(a->logits.n == b->logits.n && a->logits.n_vocab == b->logits.n_vocab);
		size_t nv = (size_t)a->logits.n * a->logits.n_vocab;
		float *x = malloc(sizeof(float) * nv), *y = malloc(sizeof(float) * nv);
		wire_logits_get(a, x);
		wire_logits_get(b, y);
		cr_assert(!memcmp(x, y, sizeof(float) * nv));
		free(x);
		free(y);
		break;
	}
	case WIRE_PEERS:
		cr_assert_eq(a->peers.n, b->peers.n);
		for (uint32_t i = 0; i < a->peers.n; i++) {
			wire_peer x = wire_peers_get(a, i), y = wire_peers_get(b, i);
			cr_assert_eq(x.port, y.port);
			cr_assert_str_eq(x.addr, y.addr);
		}
		break;
	case WIRE_HAVE:
		cr_assert(!memcmp(&a->have.f, &b->have.f, sizeof a->have.f));
		cr_assert(a->have.flags == b->have.flags && a->have.rate == b->have.rate && a->have.epoch == b->have.epoch &&
			  a->have.need == b->have.need &&
			  a->have.have == b->have.have && a->have.from_hub == b->have.from_hub &&
			  a->have.from_peers == b->have.from_peers);
		for (uint32_t i = 0; i < a->have.f.n_chunks; i++)
			cr_assert_eq(wire_have_state(a, i), wire_have_state(b, i));
		cr_assert_eq(wire_have_state(b, 0), WIRE_CHUNK_VERIFIED);
		cr_assert_eq(wire_have_state(b, 1), WIRE_CHUNK_FETCHING);
		cr_assert_eq(wire_have_state(b, 2), WIRE_CHUNK_PRESENT);
		cr_assert_eq(wire_have_state(b, 3), WIRE_CHUNK_ABSENT);
		break;
	case WIRE_WANT:
		cr_assert(!memcmp(&a->want.f, &b->want.f, sizeof a->want.f) && a->want.chunk == b->want.chunk);
		break;
	case WIRE_CHUNK:
		cr_assert(!memcmp(&a->chunk.f, &b->chunk.f, sizeof a->chunk.f));
		cr_assert(a->chunk.chunk == b->chunk.chunk && a->chunk.status == b->chunk.status && a->chunk.len == b->chunk.len);
		cr_assert(!a->chunk.len || !memcmp(a->chunk.data, b->chunk.data, a->chunk.len));
		break;
	case WIRE_HASH:
		cr_assert(!memcmp(&a->hash.f, &b->hash.f, sizeof a->hash.f));
		cr_assert(a->hash.next == b->hash.next && a->hash.bytes == b->hash.bytes);
		cr_assert(!memcmp(a->hash.h, b->hash.h, sizeof a->hash.h));
		cr_assert(!memcmp(a->hash.hashes, b->hash.hashes, 32 * (size_t)a->hash.next));
		break;
	case WIRE_TABLE:
		cr_assert(!memcmp(&a->table.f, &b->table.f, sizeof a->table.f));
		cr_assert_eq(a->table.flags, b->table.flags);
		cr_assert(!memcmp(a->table.hashes, b->table.hashes, 32 * (size_t)a->table.f.n_chunks));
		cr_assert(!memcmp(a->table.tag, b->table.tag, 32));
		break;
	case WIRE_SWITCH:
		cr_assert_eq(a->sw.node_port, b->sw.node_port);
		cr_assert_eq(a->sw.nodes, b->sw.nodes);
		cr_assert_str_eq(a->sw.model, b->sw.model);
		break;
	}
}

/* accepted frames re-encode to the same bytes */
static void check_canonical(const wire_msg *m, const uint8_t *frame, size_t len)
{
	size_t n = wire_size(m);
	cr_assert_eq(n, len, "re-encoded size %zu, frame %zu (type %s)", n, len, wire_type_name(m->h.type));
	uint8_t *b = malloc(n);
	cr_assert_eq(wire_encode(m, b, n), (int64_t)n);
	cr_assert(!memcmp(b, frame, n), "re-encoding a %s differs", wire_type_name(m->h.type));
	free(b);
}

Test(wire, every_message_round_trips, .init = fixtures_init)
{
	for (int k = 0; k < N_SAMPLES; k++) {
		wire_msg m, d;
		sample_msg(k, &m);
		size_t len;
		uint8_t *f = encode(&m, &len), *copy;
		char err[WIRE_ERR_CAP];
		cr_assert_eq(decode(f, len, &LIM, &d, &copy, err), SH_OK, "sample %d (%s): %s", k,
			     wire_type_name(m.h.type), err);
		cr_assert_eq(d.h.payload_len, len - WIRE_HEADER_BYTES);
		check_equal(&m, &d);
		check_canonical(&d, f, len);
		/* also without limits */
		cr_assert_eq(wire_decode(copy, len, NULL, &d, err, sizeof err), SH_OK, "%s", err);
		free(copy);
		free(f);
	}
}

Test(wire, header_is_little_endian_at_fixed_offsets, .init = fixtures_init)
{
	wire_msg m;
	sample_msg(10, &m); /* PING */
	m.ping.pad = 0;
	size_t len;
	uint8_t *f = encode(&m, &len);
	cr_assert_eq(len, WIRE_HEADER_BYTES + 16);
	static const uint8_t want[32] = { 'S', 'H', 'O', 'L', WIRE_VERSION, WIRE_PING, 0, 0, 16, 0, 0, 0, 7, 0, 0, 0,
					  8, 7, 6, 5, 4, 3, 2, 1, 42, 0, 0, 0, 0, 0, 0, 0 };
	cr_assert_arr_eq(f, want, sizeof want);
	cr_assert_arr_eq(f + 32, m.h.sender, WIRE_ID_BYTES);
	free(f);
}

Test(wire, f16_halves_the_hidden_state, .init = fixtures_init)
{
	wire_msg a, b;
	sample_msg(4, &a);
	sample_msg(5, &b);
	cr_assert_eq(wire_size(&a) - wire_size(&b), (size_t)NTOK * DIM * 2);
	/* f16 precision: relative error <= 2^-11 for these normal values */
	size_t len;
	uint8_t *f = encode(&b, &len), *copy;
	wire_msg d;
	char err[WIRE_ERR_CAP];
	cr_assert_eq(decode(f, len, &LIM, &d, &copy, err), SH_OK, "%s", err);
	float h[NTOK * DIM];
	wire_forward_hidden(&d, h);
	for (int i = 0; i < NTOK * DIM; i++)
		if (fabsf(g_hidden[i]) > 1e-4f)
			cr_assert_leq(fabsf(h[i] - g_hidden[i]), fabsf(g_hidden[i]) * (1.0f / 2048), "%d", i);
	free(copy);
	free(f);
}

/* ---------------------------------------------------------------- truncation and corruption */
Test(wire, truncations_and_extensions_are_rejected, .init = fixtures_init)
{
	for (int k = 0; k < N_SAMPLES; k++) {
		wire_msg m, d;
		sample_msg(k, &m);
		size_t len;
		uint8_t *f = encode(&m, &len), *copy;
		char err[WIRE_ERR_CAP];
		for (size_t n = 0; n < len; n++) {
			cr_assert_eq(decode(f, n, &LIM, &d, &copy, err), SH_EFORMAT, "sample %d cut at %zu accepted", k, n);
			cr_assert_str_not_empty(err);
			free(copy);
		}
		/* one more byte, with the header's length left or fixed up */
		uint8_t *g = malloc(len + 1);
		memcpy(g, f, len);
		g[len] = 0;
		cr_assert_eq(decode(g, len + 1, &LIM, &d, &copy, err), SH_EFORMAT);
		cr_assert(strstr(err, "payload bytes"), "%s", err);
		free(copy);
		g[8]++;
		cr_assert_eq(decode(g, len + 1, &LIM, &d, &copy, err), SH_EFORMAT, "sample %d extended accepted", k);
		free(copy);
		/* and one less, fixed up: the type's own length check catches it */
		memcpy(g, f, len);
		g[8]--;
		cr_assert_eq(decode(g, len - 1, &LIM, &d, &copy, err), SH_EFORMAT, "sample %d shortened accepted", k);
		free(copy);
		free(g);
		free(f);
	}
}

Test(wire, bit_flips_are_rejected_or_canonical, .init = fixtures_init)
{
	int rejected = 0, accepted = 0;
	for (int k = 0; k < N_SAMPLES; k++) {
		wire_msg m, d;
		sample_msg(k, &m);
		size_t len;
		uint8_t *f = encode(&m, &len), *copy;
		char err[WIRE_ERR_CAP];
		for (size_t i = 0; i < len; i++)
			for (int bit = 0; bit < 8; bit++) {
				f[i] ^= (uint8_t)(1 << bit);
				int e = decode(f, len, &LIM, &d, &copy, err);
				if (e == SH_OK) {
					check_canonical(&d, copy, len);
					accepted++;
				} else {
					cr_assert(e == SH_EFORMAT || e == SH_EUNSUP);
					cr_assert_str_not_empty(err);
					rejected++;
				}
				free(copy);
				f[i] ^= (uint8_t)(1 << bit);
			}
		free(f);
	}
	cr_assert(rejected > 1000 && accepted > 1000, "rejected %d accepted %d", rejected, accepted);
}

/* ---------------------------------------------------------------- specific defects */
typedef void (*mutate_fn)(uint8_t *f, size_t len);

/* encodes sample k, applies fn, expects rejection with `want` in the message */
static void expect_reject(int k, void (*fn)(wire_msg *m), mutate_fn mut, const wire_limits *lim, int code,
			  const char *want)
{
	wire_msg m, d;
	sample_msg(k, &m);
	if (fn)
		fn(&m);
	size_t len;
	uint8_t *f = encode(&m, &len), *copy;
	if (mut)
		mut(f, len);
	char err[WIRE_ERR_CAP];
	cr_assert_eq(decode(f, len, lim, &d, &copy, err), code, "want '%s', got '%s'", want, err);
	cr_assert(strstr(err, want), "message '%s' does not say '%s'", err, want);
	free(copy);
	free(f);
}

static void mut_magic(uint8_t *f, size_t len) { f[3] = 'X'; }
static void mut_version(uint8_t *f, size_t len) { f[4] = 1; }
static void mut_type0(uint8_t *f, size_t len) { f[5] = 0; }
static void mut_type_past(uint8_t *f, size_t len) { f[5] = WIRE_TYPE_MAX + 1; }
static void mut_flags(uint8_t *f, size_t len) { f[7] = 0x80; }
static void mut_f16_flag(uint8_t *f, size_t len) { f[6] = WIRE_FLAG_F16; }
static void mut_len_huge(uint8_t *f, size_t len) { memset(f + 8, 0xff, 4); }
static void mut_hello_reserved(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 50] = 1; }
static void mut_hello_name(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 64 + 2] = '/'; }
static void mut_hello_host(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 64 + 12 + 1] = '\n'; }
static void mut_hello_cpu(uint8_t *f, size_t len) { f[len - 20] = 0x7f; }
static void mut_hello_namelen0(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 56] = 0; }
static void mut_hello_namelen(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 56] = 200; }
static void mut_hello_cpulen(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 59] = 96; }
static void mut_hello_avail(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 31] = 0xff; }
static void mut_fwd_n_huge(uint8_t *f, size_t len) { memset(f + WIRE_HEADER_BYTES + 20, 0xff, 4); }
static void mut_fwd_dim_huge(uint8_t *f, size_t len) { memset(f + WIRE_HEADER_BYTES + 24, 0xff, 4); }
static void mut_fwd_tok_flags(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 32 + 16] |= 2; }
static void mut_fwd_tok_reserved(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 32 + 23] = 1; }
static void mut_fwd_reserved(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 28] = 1; }
static void mut_plan_order(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 8 + 32] = 0; }
static void mut_plan_gap(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 8 + 2 * 32 + 24] += 1; }
static void mut_plan_empty_range(uint8_t *f, size_t len)
{
	f[WIRE_HEADER_BYTES + 8 + 24] = 3; /* node 0 holds nothing: [3, 3) instead of [0, 0) */
	f[WIRE_HEADER_BYTES + 8 + 28] = 3;
}
static void mut_plan_nodes0(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 4] = 0; }
static void mut_plan_range_huge(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 8 + 3 * 32 + 31] = 0x80; }
static void mut_error_ctrl(uint8_t *f, size_t len) { f[len - 1] = 0x07; }
static void mut_error_len(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 21] = 0x40; }
static void mut_cancel_n0(uint8_t *f, size_t len) { memset(f + WIRE_HEADER_BYTES + 16, 0, 4); }
static void mut_open_nan(uint8_t *f, size_t len) { memset(f + WIRE_HEADER_BYTES + 8, 0xff, 4); }
static void mut_tokens_neg(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 8 + 15] = 0x80; }

static void mut_usable(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 23] = 0xff; }
static void mut_ping_pad(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 8] += 1; }
static void mut_ping_pad_huge(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 11] = 0x10; }
static void mut_peers_n(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES] = 65; }
static void mut_peers_port0(uint8_t *f, size_t len) { memset(f + WIRE_HEADER_BYTES + 4, 0, 2); }
static void mut_peers_addr(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 4 + 64 + 4 + 1] = '\n'; }
static void mut_peers_pad(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 4 + 63] = 'x'; }
static void mut_proto(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES] = 3; }
static void mut_open_window(uint8_t *f, size_t len)
{
	static const uint8_t minus2[4] = { 0xfe, 0xff, 0xff, 0xff };
	memcpy(f + WIRE_HEADER_BYTES + 28, minus2, 4);
}
static void mut_open_top_p(uint8_t *f, size_t len)
{
	static const uint8_t f1_5[4] = { 0, 0, 0xc0, 0x3f }; /* 1.5f */
	memcpy(f + WIRE_HEADER_BYTES + 8, f1_5, 4);
}
static void set_big_token(wire_msg *m)
{
	static wire_fwd_token t[NTOK];
	memcpy(t, g_toks, sizeof t);
	t[2].token = 1000;
	m->fwd.tokens = t;
}
static void set_big_pos(wire_msg *m)
{
	static wire_fwd_token t[NTOK];
	memcpy(t, g_toks, sizeof t);
	t[4].pos = 4096;
	m->fwd.tokens = t;
}
static void set_layer(wire_msg *m) { m->fwd.layer = 12; }

Test(wire, defects_are_named, .init = fixtures_init)
{
	expect_reject(10, NULL, mut_magic, &LIM, SH_EFORMAT, "magic");
	expect_reject(10, NULL, mut_version, &LIM, SH_EUNSUP, "protocol version 1");
	expect_reject(10, NULL, mut_type0, &LIM, SH_EFORMAT, "unknown message type 0");
	expect_reject(10, NULL, mut_type_past, &LIM, SH_EFORMAT, "unknown message type 20");
	expect_reject(10, NULL, mut_flags, &LIM, SH_EFORMAT, "PING: unknown flags 0x8000");
	expect_reject(10, NULL, mut_ping_pad, &LIM, SH_EFORMAT, "PING: payload of 1016 bytes, expected 1017");
	expect_reject(11, NULL, mut_ping_pad_huge, &LIM, SH_EFORMAT, "PONG: padding of 268436456 bytes");
	expect_reject(14, NULL, mut_peers_n, &LIM, SH_EFORMAT, "PEERS: 65 entries (at most 64)");
	expect_reject(14, NULL, mut_peers_port0, &LIM, SH_EFORMAT, "PEERS: entry 0: port 0");
	expect_reject(14, NULL, mut_peers_addr, &LIM, SH_EFORMAT, "PEERS: entry 1: the address has a non-printable byte");
	expect_reject(14, NULL, mut_peers_pad, &LIM, SH_EFORMAT, "PEERS: entry 0: padding is not 0");
	expect_reject(7, NULL, mut_f16_flag, &LIM, SH_EFORMAT, "TOKEN: unknown flags 0x1");
	expect_reject(6, NULL, mut_f16_flag, &LIM, SH_EFORMAT, "layer 0 takes tokens");
	expect_reject(4, NULL, mut_len_huge, &LIM, SH_EFORMAT, "header says 4294967295 payload bytes");
	expect_reject(0, NULL, mut_hello_reserved, &LIM, SH_EFORMAT, "HELLO: reserved");
	expect_reject(0, NULL, mut_hello_name, &LIM, SH_EFORMAT, "cluster name has a byte outside");
	expect_reject(1, NULL, mut_hello_host, &LIM, SH_EFORMAT, "WELCOME: a host, model, cpu, os or simd name has a non-printable");
	expect_reject(0, NULL, mut_hello_cpu, &LIM, SH_EFORMAT, "HELLO: a host, model, cpu, os or simd name has a non-printable");
	expect_reject(0, NULL, mut_hello_namelen0, &LIM, SH_EFORMAT, "string lengths 0/");
	expect_reject(0, NULL, mut_hello_namelen, &LIM, SH_EFORMAT, "string lengths 200/");
	expect_reject(0, NULL, mut_hello_cpulen, &LIM, SH_EFORMAT, "/96/");
	expect_reject(0, NULL, mut_usable, &LIM, SH_EFORMAT, "exceeds total");
	expect_reject(0, NULL, mut_hello_avail, &LIM, SH_EFORMAT, "exceeds total");
	expect_reject(0, NULL, mut_proto, &LIM, SH_EFORMAT, "protocol versions 3..2");
	expect_reject(4, NULL, mut_fwd_n_huge, &LIM, SH_EFORMAT, "FORWARD: 4294967295 tokens (1 to 512)");
	expect_reject(4, NULL, mut_fwd_n_huge, NULL, SH_EFORMAT, "FORWARD: 4294967295 tokens (1 to 8192)");
	expect_reject(4, NULL, mut_fwd_dim_huge, &LIM, SH_EFORMAT, "hidden size 4294967295, expected 64");
	expect_reject(4, NULL, mut_fwd_dim_huge, NULL, SH_EFORMAT, "hidden size 4294967295, expected 65536");
	expect_reject(4, NULL, mut_fwd_tok_flags, &LIM, SH_EFORMAT, "token 0: unknown flags 0x2");
	expect_reject(4, NULL, mut_fwd_tok_reserved, &LIM, SH_EFORMAT, "reserved");
	expect_reject(4, NULL, mut_fwd_reserved, &LIM, SH_EFORMAT, "FORWARD: reserved");
	expect_reject(4, set_big_token, NULL, &LIM, SH_EFORMAT, "token 2: id 1000 outside the vocabulary of 1000");
	expect_reject(4, set_big_pos, NULL, &LIM, SH_EFORMAT, "token 4: position 4096 outside the context of 4096");
	expect_reject(5, set_layer, NULL, &LIM, SH_EFORMAT, "FORWARD: layer 12 of a model of 12 layers");
	expect_reject(2, NULL, mut_plan_order, &LIM, SH_EFORMAT, "ascending");
	expect_reject(2, NULL, mut_plan_gap, &LIM, SH_EFORMAT, "does not continue");
	expect_reject(2, NULL, mut_plan_empty_range, &LIM, SH_EFORMAT, "empty range must be [0, 0)");
	expect_reject(2, NULL, mut_plan_nodes0, &LIM, SH_EFORMAT, "PLAN: 0 nodes");
	expect_reject(2, NULL, mut_plan_range_huge, &LIM, SH_EFORMAT, "beyond 12 layers");
	expect_reject(2, NULL, NULL, &(wire_limits){ .n_layers = 13 }, SH_EFORMAT, "PLAN: 12 layers, the model has 13");
	expect_reject(9, NULL, mut_error_ctrl, &LIM, SH_EFORMAT, "ERROR: text has a non-printable byte");
	expect_reject(9, NULL, mut_error_len, &LIM, SH_EFORMAT, "ERROR: text of 16409 bytes");
	expect_reject(8, NULL, mut_cancel_n0, &LIM, SH_EFORMAT, "CANCEL: 0 request ids");
	expect_reject(3, NULL, mut_open_nan, &LIM, SH_EFORMAT, "OPEN: sampling parameters");
	expect_reject(3, NULL, mut_open_window, &LIM, SH_EFORMAT, "penalty_last_n -2");
	expect_reject(3, NULL, mut_open_top_p, &LIM, SH_EFORMAT, "OPEN: sampling parameters");
	expect_reject(7, NULL, mut_tokens_neg, &LIM, SH_EFORMAT, "TOKEN: token 0: id -");
	/* the frame shorter than a header */
	char err[WIRE_ERR_CAP];
	wire_msg d;
	cr_assert_eq(wire_decode("SHOL", 4, &LIM, &d, err, sizeof err), SH_EFORMAT);
	cr_assert(strstr(err, "frame of 4 bytes"), "%s", err);
	/* a tiny error buffer truncates, never overflows */
	char tiny[8] = "xxxxxxx";
	cr_assert_eq(wire_decode("SHOL", 4, &LIM, &d, tiny, 4), SH_EFORMAT);
	cr_assert_str_eq(tiny, "fra");
}

/* transfer messages: the file, each type's own rules */
static void mut_file_size0(uint8_t *f, size_t len) { memset(f + WIRE_HEADER_BYTES + 32, 0, 8); }
static void mut_file_cs(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 40] = 1; }
static void mut_file_n(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 44] = 5; }
static void mut_have_flags(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 48] = 4; }
static void mut_have_more(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 79] = 1; }
static void mut_have_reserved(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 61] = 1; }
static void set_have_tail(wire_msg *m)
{
	static uint8_t st[1] = { 0 };
	st[0] = 0;
	m->have.f.size = 2 * 65536 + 1; /* 3 chunks: the top two bits of the byte must be 0 */
	m->have.f.n_chunks = 3;
	m->have.need = m->have.have = 0;
	m->have.states = st;
}
static void mut_have_tail(uint8_t *f, size_t len) { f[len - 1] = 0xc0; }
static void mut_want_chunk(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 48] = 4; }
static void mut_want_reserved(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 55] = 1; }
static void mut_chunk_status(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 52] = 2; }
static void mut_chunk_none(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 52] = WIRE_CHUNK_NONE; }
static void mut_chunk_len(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 56] = 99; }
static void mut_chunk_reserved(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 63] = 1; }
static void mut_hash_next0(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 48] = 0; }
static void mut_hash_bytes(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 88] = 1; }
static void mut_table_untagged(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 48] = 0; }
static void mut_table_flags(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 48] = 3; }

Test(wire, transfer_defects_are_named, .init = fixtures_init)
{
	expect_reject(17, NULL, mut_file_size0, &LIM, SH_EFORMAT, "WANT: a file of 0 bytes");
	expect_reject(16, NULL, mut_file_cs, &LIM, SH_EFORMAT, "HAVE: chunk size not a power of two");
	expect_reject(18, NULL, mut_file_n, &LIM, SH_EFORMAT, "CHUNK: chunk count does not match");
	expect_reject(16, NULL, mut_have_flags, &LIM, SH_EFORMAT, "HAVE: unknown flags 0x4");
	expect_reject(16, NULL, mut_have_more, &LIM, SH_EFORMAT, "verified of a share of 131072");
	expect_reject(16, NULL, mut_have_reserved, &LIM, SH_EFORMAT, "HAVE: reserved");
	expect_reject(16, set_have_tail, mut_have_tail, &LIM, SH_EFORMAT, "state bits past the last chunk");
	expect_reject(17, NULL, mut_want_chunk, &LIM, SH_EFORMAT, "WANT: chunk 4 of 4");
	expect_reject(17, NULL, mut_want_reserved, &LIM, SH_EFORMAT, "WANT: reserved");
	expect_reject(18, NULL, mut_chunk_status, &LIM, SH_EFORMAT, "CHUNK: status 2");
	expect_reject(18, NULL, mut_chunk_none, &LIM, SH_EFORMAT, "CHUNK: 100 bytes for chunk 3, which has 0");
	expect_reject(18, NULL, mut_chunk_len, &LIM, SH_EFORMAT, "CHUNK: 99 bytes for chunk 3, which has 100");
	expect_reject(18, NULL, mut_chunk_reserved, &LIM, SH_EFORMAT, "CHUNK: reserved");
	expect_reject(20, NULL, mut_hash_next0, &LIM, SH_EFORMAT, "HASH: next chunk 0 of 4");
	expect_reject(20, NULL, mut_hash_bytes, &LIM, SH_EFORMAT, "HASH: 131073 bytes hashed before chunk 2");
	expect_reject(21, NULL, mut_table_untagged, &LIM, SH_EFORMAT, "TABLE: a tag without the tag flag");
	expect_reject(21, NULL, mut_table_flags, &LIM, SH_EFORMAT, "TABLE: unknown flags 0x3");
	/* the encoder refuses the same */
	wire_msg m;
	sample_msg(18, &m);
	m.chunk.len = 99;
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(20, &m);
	m.hash.next = 4;
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(21, &m);
	m.table.flags = 0;
	cr_assert_eq(wire_size(&m), 0, "a tag without the flag");
	sample_msg(16, &m);
	m.have.f.chunk_size = 3 << 16;
	cr_assert_eq(wire_size(&m), 0);
	/* chunk lengths: whole chunks, then the rest, then nothing */
	cr_assert_eq(wire_file_chunk_len(&FILE4, 0), 65536);
	cr_assert_eq(wire_file_chunk_len(&FILE4, 3), 100);
	cr_assert_eq(wire_file_chunk_len(&FILE4, 4), 0);
}

/* SWITCH: the layout at its offsets, the largest values, every rule of the decoder and the encoder */
Test(wire, switch_round_trips, .init = fixtures_init)
{
	wire_msg m, d;
	char err[WIRE_ERR_CAP];
	sample_msg(22, &m);
	size_t len, n = strlen(m.sw.model);
	uint8_t *f = encode(&m, &len), *copy;
	cr_assert_eq(len, WIRE_HEADER_BYTES + 8 + n);
	cr_assert_eq(f[5], WIRE_SWITCH);
	static const uint8_t fixed[8] = { 0xc4, 0x21, 3, 0, 30, 0, 0, 0 }; /* port 8644, 3 nodes, 30 bytes */
	cr_assert_eq(n, 30);
	cr_assert_arr_eq(f + WIRE_HEADER_BYTES, fixed, sizeof fixed);
	cr_assert(!memcmp(f + WIRE_HEADER_BYTES + 8, m.sw.model, n));
	cr_assert_eq(decode(f, len, &LIM, &d, &copy, err), SH_OK, "%s", err);
	check_equal(&m, &d);
	check_canonical(&d, f, len);
	cr_assert_str_eq(wire_type_name(WIRE_SWITCH), "SWITCH");
	free(copy);
	free(f);
	/* the largest: port 65535, 65 nodes, a path of 1024 printable bytes (every one of them) */
	m.sw.node_port = 65535;
	m.sw.nodes = WIRE_MAX_PEERS + 1;
	for (int i = 0; i < WIRE_MAX_REF; i++)
		m.sw.model[i] = (char)(0x20 + i % (0x7f - 0x20));
	m.sw.model[WIRE_MAX_REF] = '\0';
	f = encode(&m, &len);
	cr_assert_eq(len, WIRE_HEADER_BYTES + 8 + WIRE_MAX_REF);
	cr_assert_eq(decode(f, len, NULL, &d, &copy, err), SH_OK, "%s", err);
	check_equal(&m, &d);
	check_canonical(&d, f, len);
	free(copy);
	free(f);
	/* the smallest: one node, one byte */
	m.sw.node_port = 1;
	m.sw.nodes = 1;
	strcpy(m.sw.model, "/");
	f = encode(&m, &len);
	cr_assert_eq(len, WIRE_HEADER_BYTES + 9);
	cr_assert_eq(decode(f, len, &LIM, &d, &copy, err), SH_OK, "%s", err);
	check_equal(&m, &d);
	free(copy);
	free(f);
}

static void mut_switch_port0(uint8_t *f, size_t len) { memset(f + WIRE_HEADER_BYTES, 0, 2); }
static void mut_switch_nodes0(uint8_t *f, size_t len) { memset(f + WIRE_HEADER_BYTES + 2, 0, 2); }
static void mut_switch_nodes66(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 2] = 66; }
static void mut_switch_nodes_huge(uint8_t *f, size_t len) { memset(f + WIRE_HEADER_BYTES + 2, 0xff, 2); }
static void mut_switch_len0(uint8_t *f, size_t len) { memset(f + WIRE_HEADER_BYTES + 4, 0, 2); }
static void mut_switch_len_over(uint8_t *f, size_t len)
{
	f[WIRE_HEADER_BYTES + 4] = 0x01; /* 1025 */
	f[WIRE_HEADER_BYTES + 5] = 0x04;
}
static void mut_switch_len_short(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 4] -= 1; }
static void mut_switch_len_long(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 4] += 1; }
static void mut_switch_reserved(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 7] = 1; }
static void mut_switch_ctrl(uint8_t *f, size_t len) { f[len - 1] = 0x07; }
static void mut_switch_del(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 8] = 0x7f; }
static void mut_switch_high(uint8_t *f, size_t len) { f[WIRE_HEADER_BYTES + 8 + 7] = 0xc3; }
static void mut_switch_f16(uint8_t *f, size_t len) { f[6] = WIRE_FLAG_F16; }

Test(wire, switch_defects_are_named, .init = fixtures_init)
{
	expect_reject(22, NULL, mut_switch_port0, &LIM, SH_EFORMAT, "SWITCH: node port 0");
	expect_reject(22, NULL, mut_switch_nodes0, &LIM, SH_EFORMAT, "SWITCH: 0 nodes (1..65)");
	expect_reject(22, NULL, mut_switch_nodes66, &LIM, SH_EFORMAT, "SWITCH: 66 nodes (1..65)");
	expect_reject(22, NULL, mut_switch_nodes_huge, NULL, SH_EFORMAT, "SWITCH: 65535 nodes (1..65)");
	expect_reject(22, NULL, mut_switch_len0, &LIM, SH_EFORMAT, "SWITCH: model of 0 bytes (1..1024)");
	expect_reject(22, NULL, mut_switch_len_over, &LIM, SH_EFORMAT, "SWITCH: model of 1025 bytes (1..1024)");
	expect_reject(22, NULL, mut_switch_len_short, &LIM, SH_EFORMAT, "SWITCH: payload of 38 bytes, expected 37");
	expect_reject(22, NULL, mut_switch_len_long, &LIM, SH_EFORMAT, "SWITCH: payload of 38 bytes, expected 39");
	expect_reject(22, NULL, mut_switch_reserved, &LIM, SH_EFORMAT, "SWITCH: reserved field is not 0");
	expect_reject(22, NULL, mut_switch_ctrl, &LIM, SH_EFORMAT, "SWITCH: the model has a non-printable byte");
	expect_reject(22, NULL, mut_switch_del, &LIM, SH_EFORMAT, "SWITCH: the model has a non-printable byte");
	expect_reject(22, NULL, mut_switch_high, &LIM, SH_EFORMAT, "SWITCH: the model has a non-printable byte");
	expect_reject(22, NULL, mut_switch_f16, &LIM, SH_EFORMAT, "SWITCH: unknown flags 0x1");
	/* shorter than the fixed part */
	wire_msg m, d;
	sample_msg(22, &m);
	size_t len;
	uint8_t *f = encode(&m, &len), *copy;
	f[8] = 7;
	char err[WIRE_ERR_CAP];
	cr_assert_eq(decode(f, WIRE_HEADER_BYTES + 7, &LIM, &d, &copy, err), SH_EFORMAT);
	cr_assert(strstr(err, "SWITCH: payload of 7 bytes, shorter than its 8-byte fixed part"), "%s", err);
	free(copy);
	free(f);
}

Test(wire, encoder_refuses_unencodable_switch, .init = fixtures_init)
{
	wire_msg m;
	uint8_t buf[WIRE_HEADER_BYTES + 8 + WIRE_MAX_REF + 1];
	sample_msg(22, &m);
	cr_assert_gt(wire_size(&m), 0);
	m.sw.model[0] = '\0';
	cr_assert_eq(wire_size(&m), 0, "an empty model");
	cr_assert_eq(wire_encode(&m, buf, sizeof buf), SH_EINVAL);
	sample_msg(22, &m);
	memset(m.sw.model, 'a', sizeof m.sw.model); /* 1025 bytes, no terminator */
	cr_assert_eq(wire_size(&m), 0, "a model over WIRE_MAX_REF");
	cr_assert_eq(wire_encode(&m, buf, sizeof buf), SH_EINVAL);
	m.sw.model[WIRE_MAX_REF] = '\0';
	cr_assert_eq(wire_size(&m), WIRE_HEADER_BYTES + 8 + WIRE_MAX_REF, "exactly WIRE_MAX_REF bytes");
	sample_msg(22, &m);
	m.sw.model[3] = '\t';
	cr_assert_eq(wire_size(&m), 0, "a control character in the model");
	sample_msg(22, &m);
	m.sw.node_port = 0;
	cr_assert_eq(wire_size(&m), 0, "node port 0");
	sample_msg(22, &m);
	m.sw.nodes = 0;
	cr_assert_eq(wire_size(&m), 0, "0 nodes");
	m.sw.nodes = WIRE_MAX_PEERS + 2;
	cr_assert_eq(wire_size(&m), 0, "66 nodes");
	m.sw.nodes = WIRE_MAX_PEERS + 1;
	cr_assert_gt(wire_size(&m), 0, "65 nodes");
	sample_msg(22, &m);
	m.h.flags = WIRE_FLAG_F16;
	cr_assert_eq(wire_size(&m), 0, "the F16 flag");
}

Test(wire, encoder_refuses_what_the_decoder_would, .init = fixtures_init)
{
	wire_msg m;
	uint8_t buf[256];
	sample_msg(0, &m);
	strcpy(m.hello.cluster, "bad name");
	cr_assert_eq(wire_size(&m), 0);
	cr_assert_eq(wire_encode(&m, buf, sizeof buf), SH_EINVAL);
	sample_msg(0, &m);
	m.hello.cluster[0] = '\0';
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(9, &m);
	strcpy(m.error.text, "line\nbreak");
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(6, &m);
	m.h.flags = WIRE_FLAG_F16;
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(4, &m);
	m.fwd.n = WIRE_MAX_TOKENS + 1;
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(4, &m);
	m.fwd.n = WIRE_MAX_TOKENS;
	m.fwd.dim = WIRE_MAX_DIM; /* 2 GiB > WIRE_MAX_PAYLOAD */
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(2, &m);
	m.plan.nodes[1].last = 0;
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(3, &m);
	m.open.top_p = 1.5f;
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(0, &m);
	m.hello.mem_usable = m.hello.info.mem_total + 1;
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(0, &m);
	m.hello.info.cpu[3] = '\t';
	cr_assert_eq(wire_size(&m), 0, "a control character in the cpu name");
	sample_msg(0, &m);
	m.hello.info.mem_bw_gbs = -1;
	cr_assert_eq(wire_size(&m), 0);
	sample_msg(10, &m);
	m.ping.pad = WIRE_MAX_PING_PAD + 1;
	cr_assert_eq(wire_size(&m), 0, "a probe over the padding cap");
	sample_msg(10, &m);
	m.h.flags = 4;
	cr_assert_eq(wire_size(&m), 0);
	m.h.flags = 0;
	m.h.type = 0;
	cr_assert_eq(wire_size(&m), 0);
	cr_assert_str_eq(wire_type_name(0), "?");
	cr_assert_str_eq(wire_type_name(WIRE_FORWARD), "FORWARD");
}

Test(wire, random_frames_never_crash, .init = fixtures_init)
{
	/* random payloads behind valid headers of every type: mostly rejected, never a fault */
	sh_rng r;
	sh_rng_seed(&r, 99);
	int accepted = 0;
	for (int iter = 0; iter < 20000; iter++) {
		/* half of the payloads a multiple of 4 bytes under 32, where short fixed layouts live */
		size_t plen = sh_rng_u64(&r) % 2 ? (sh_rng_u64(&r) % 8) * 4 : sh_rng_u64(&r) % 200;
		uint8_t *f = malloc(WIRE_HEADER_BYTES + plen);
		memcpy(f, "SHOL", 4);
		f[4] = WIRE_VERSION;
		f[5] = (uint8_t)(1 + sh_rng_u64(&r) % WIRE_TYPE_MAX);
		f[6] = f[7] = 0;
		for (int i = 8; i < WIRE_HEADER_BYTES; i++)
			f[i] = (uint8_t)sh_rng_u64(&r);
		f[8] = (uint8_t)plen;
		f[9] = f[10] = f[11] = 0;
		for (size_t i = 0; i < plen; i++)
			f[WIRE_HEADER_BYTES + i] = (uint8_t)(sh_rng_u64(&r) % 2 ? 0 : sh_rng_u64(&r) % 4 ? sh_rng_u64(&r) % 3 : sh_rng_u64(&r));
		wire_msg d;
		char err[WIRE_ERR_CAP];
		if (wire_decode(f, WIRE_HEADER_BYTES + plen, NULL, &d, err, sizeof err) == SH_OK) {
			check_canonical(&d, f, WIRE_HEADER_BYTES + plen);
			accepted++;
		}
		free(f);
	}
	cr_assert_gt(accepted, 0);
}

/* a REFUSE names a known reason: others are not encoded and not accepted */
Test(wire, refuse_reasons)
{
	wire_msg m, d;
	char err[WIRE_ERR_CAP];
	sample_msg(15, &m);
	size_t n;
	uint8_t *b = encode(&m, &n);
	cr_assert_eq(wire_decode(b, n, NULL, &d, err, sizeof err), SH_OK, "%s", err);
	cr_assert_eq(d.error.code, WIRE_REFUSE_MODEL);
	/* the reason is the 4 bytes after the origin */
	uint32_t bad[] = { 0, WIRE_REFUSE_MAX + 1, 0xffffffffu };
	for (size_t i = 0; i < SH_ARRAY_LEN(bad); i++) {
		memcpy(b + WIRE_HEADER_BYTES + WIRE_ID_BYTES, &bad[i], 4);
		cr_assert_eq(wire_decode(b, n, NULL, &d, err, sizeof err), SH_EFORMAT);
		cr_assert(strstr(err, "REFUSE: unknown reason"), "%s", err);
		m.error.code = (int32_t)bad[i];
		cr_assert_eq(wire_size(&m), 0);
	}
	free(b);
}
