/*
 * fuzz_wire.c - libFuzzer target for the protocol decoder (src/cluster/wire.c).
 *
 * Each input is decoded twice: with no limits (the protocol's caps only) and with a small
 * model's limits (dim 64, 12 layers, 1000 tokens of vocabulary, 512 of context). A rejected input
 * must come with a negative code and a non-empty message. An accepted one is walked completely
 * (every token record, the whole hidden state converted to f32, every TOKEN entry and CANCEL id,
 * the PLAN checked again) and re-encoded into a buffer of exactly the input's size: the bytes
 * must equal the input, so the decoder accepts only canonical frames and the encoder writes what
 * the decoder reads. With the model's limits, every field that the limits bound is checked
 * against them. With FUZZ_WIRE_SEEDS=DIR in the environment, the target first writes one valid
 * message of each type into DIR (tests/run.sh does, to seed its corpus).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) ((x) ? (void)0 : __builtin_trap())

static volatile float fsink;

static void walk(const wire_msg *m, const uint8_t *data, size_t size, const wire_limits *lim)
{
	char why[160];
	switch (m->h.type) {
	case WIRE_FORWARD: {
		const wire_forward *f = &m->fwd;
		CHECK(f->n >= 1 && f->n <= WIRE_MAX_TOKENS && (f->layer == 0) == (f->dim == 0));
		CHECK(f->raw_tokens >= data && f->raw_tokens < data + size);
		for (uint32_t i = 0; i < f->n; i++) {
			wire_fwd_token t = wire_forward_token(m, i);
			CHECK(t.token >= 0 && t.flags <= WIRE_TOKEN_FLAGS_KNOWN);
			if (lim)
				CHECK((uint32_t)t.token < lim->n_vocab && t.pos < lim->n_ctx);
		}
		if (lim)
			CHECK(f->n <= lim->max_tokens && f->layer < lim->n_layers && (f->dim == 0 || f->dim == lim->dim));
		size_t nv = (size_t)f->n * f->dim;
		CHECK(nv * (m->h.flags & WIRE_FLAG_F16 ? 2 : 4) <= size);
		float *h = malloc(sizeof(float) * (nv ? nv : 1));
		CHECK(h);
		wire_forward_hidden(m, h);
		if (nv)
			fsink += h[0] + h[nv - 1];
		free(h);
		break;
	}
	case WIRE_TOKEN:
		for (uint32_t i = 0; i < m->tokens.n; i++) {
			wire_tok t = wire_tokens_get(m, i);
			CHECK(t.token >= 0);
			if (lim)
				CHECK((uint32_t)t.token < lim->n_vocab && t.pos < lim->n_ctx);
		}
		break;
	case WIRE_CANCEL:
		CHECK(m->cancel.n >= 1 && m->cancel.n <= WIRE_MAX_CANCEL);
		for (uint32_t i = 0; i < m->cancel.n; i++)
			fsink += (float)wire_cancel_get(m, i);
		break;
	case WIRE_PLAN:
		CHECK(plan_check(&m->plan, why, sizeof why) == SH_OK);
		if (lim)
			CHECK((uint32_t)m->plan.n_layers == lim->n_layers);
		break;
	case WIRE_HELLO:
	case WIRE_WELCOME:
		CHECK(strlen(m->hello.cluster) >= 1 && m->hello.mem_usable <= m->hello.info.mem_total &&
		      m->hello.info.mem_available <= m->hello.info.mem_total);
		break;
	case WIRE_ERROR:
		CHECK(strlen(m->error.text) <= WIRE_MAX_ERROR);
		break;
	case WIRE_REFUSE:
		CHECK(strlen(m->error.text) <= WIRE_MAX_ERROR && m->error.code >= 1 && m->error.code <= WIRE_REFUSE_MAX);
		break;
	case WIRE_PEERS:
		CHECK(m->peers.n <= WIRE_MAX_PEERS);
		for (uint32_t i = 0; i < m->peers.n; i++) {
			wire_peer e = wire_peers_get(m, i);
			CHECK(e.port >= 1 && strlen(e.addr) >= 1 && strlen(e.addr) <= WIRE_MAX_ADDR);
		}
		break;
	case WIRE_LOGITS: {
		size_t nv = (size_t)m->logits.n * m->logits.n_vocab;
		CHECK(m->logits.n >= 1 && m->logits.n_vocab >= 1 && (!lim || m->logits.n_vocab == lim->n_vocab));
		CHECK(nv * 4 <= size);
		float *rows = malloc(nv * sizeof(float));
		CHECK(rows);
		wire_logits_get(m, rows); /* reads every value inside the frame (ASan checks) */
		free(rows);
		break;
	}
	case WIRE_HAVE:
		CHECK(m->have.have <= m->have.need && m->have.f.n_chunks >= 1);
		for (uint32_t i = 0; i < m->have.f.n_chunks; i++)
			fsink += (float)wire_have_state(m, i);
		break;
	case WIRE_WANT:
		CHECK(m->want.chunk < m->want.f.n_chunks);
		break;
	case WIRE_CHUNK:
		CHECK(m->chunk.chunk < m->chunk.f.n_chunks && m->chunk.data + m->chunk.len <= data + size);
		CHECK(m->chunk.len == (m->chunk.status == WIRE_CHUNK_OK ? wire_file_chunk_len(&m->chunk.f, m->chunk.chunk) : 0));
		break;
	case WIRE_HASH:
		CHECK(m->hash.next >= 1 && m->hash.next < m->hash.f.n_chunks &&
		      m->hash.hashes + 32 * (size_t)m->hash.next <= data + size);
		break;
	case WIRE_TABLE:
		CHECK(m->table.hashes + 32 * (size_t)m->table.f.n_chunks + 32 <= data + size);
		break;
	case WIRE_SWITCH:
		CHECK(m->sw.node_port >= 1 && m->sw.nodes >= 1 && m->sw.nodes <= WIRE_MAX_PEERS + 1 &&
		      strlen(m->sw.model) >= 1 && strlen(m->sw.model) <= WIRE_MAX_REF);
		break;
	}
}

static void one(const uint8_t *data, size_t size, const wire_limits *lim)
{
	wire_msg m;
	char err[WIRE_ERR_CAP];
	int e = wire_decode(data, size, lim, &m, err, sizeof err);
	if (e) {
		CHECK(e < 0 && err[0]);
		return;
	}
	CHECK(m.h.payload_len + (size_t)WIRE_HEADER_BYTES == size);
	walk(&m, data, size, lim);
	CHECK(wire_size(&m) == size);
	uint8_t *out = malloc(size);
	CHECK(out);
	CHECK(wire_encode(&m, out, size) == (int64_t)size);
	CHECK(!memcmp(out, data, size));
	free(out);
}

/* ---------------------------------------------------------------- seeds */
static void seed_write(const char *dir, const char *name, wire_msg *m)
{
	static uint8_t buf[16384];
	int64_t n = wire_encode(m, buf, sizeof buf);
	CHECK(n > 0);
	char path[1024];
	snprintf(path, sizeof path, "%s/seed_%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (f) {
		fwrite(buf, 1, (size_t)n, f);
		fclose(f);
	}
}

static void seeds_write(const char *dir)
{
	static wire_fwd_token toks[3] = { { 1, 0, 5, 0 }, { 1, 1, 6, WIRE_TOKEN_SAMPLE }, { 2, 7, 999, WIRE_TOKEN_SAMPLE } };
	static float hidden[3 * 64];
	static wire_tok samples[2] = { { 1, 1, 17 }, { 2, 7, 3 } };
	static uint64_t ids[2] = { 1, 2 };
	for (int i = 0; i < 3 * 64; i++)
		hidden[i] = (float)(i % 17) - 8.0f;
	wire_msg m;
	memset(&m, 0, sizeof m);
	m.h = (wire_header){ .type = WIRE_HELLO, .epoch = 1, .request_id = 2, .seq = 3, .sender = { 1, 2, 3 } };
	m.hello = (wire_hello){ .proto_min = 2, .proto_max = 2, .caps = 3, .mem_usable = 1 << 29, .node_port = 7070,
				.api_port = 8080, .info = { .mem_total = 1 << 30, .mem_available = 1 << 29, .cores = 8 } };
	strcpy(m.hello.info.cpu, "Some CPU");
	strcpy(m.hello.info.simd, "avx2");
	strcpy(m.hello.cluster, "lab");
	strcpy(m.hello.host, "host-a");
	strcpy(m.hello.model, "stories260K");
	seed_write(dir, "hello", &m);
	m.h.type = WIRE_WELCOME;
	seed_write(dir, "welcome", &m);

	m.h.type = WIRE_PLAN;
	plan_model pm = { .n_layers = 12 };
	for (int l = 0; l < 12; l++)
		pm.layer_bytes[l] = 10;
	plan_node nodes[3] = { { .id = { 1 }, .memory = 100 }, { .id = { 2 }, .memory = 0 }, { .id = { 3 }, .memory = 50 } };
	CHECK(plan_compute(nodes, 3, &pm, &m.plan) == SH_OK);
	seed_write(dir, "plan", &m);

	m.h.type = WIRE_OPEN;
	sample_params_default(&m.open);
	seed_write(dir, "open", &m);

	m.h.type = WIRE_FORWARD;
	m.fwd = (wire_forward){ .origin = { 9 }, .layer = 0, .n = 3, .tokens = toks };
	seed_write(dir, "forward_tokens", &m);
	m.fwd.layer = 4;
	m.fwd.dim = 64;
	m.fwd.hidden = hidden;
	seed_write(dir, "forward_f32", &m);
	m.h.flags = WIRE_FLAG_F16;
	seed_write(dir, "forward_f16", &m);
	m.h.flags = 0;

	m.h.type = WIRE_TOKEN;
	m.tokens = (wire_tokens){ .n = 2, .items = samples };
	seed_write(dir, "token", &m);
	m.h.type = WIRE_CANCEL;
	m.cancel = (wire_cancel){ .origin = { 9 }, .reason = WIRE_CANCEL_DONE, .n = 2, .ids = ids };
	seed_write(dir, "cancel", &m);
	m.h.type = WIRE_ERROR;
	m.error = (wire_error){ .origin = { 9 }, .code = SH_ERANGE };
	strcpy(m.error.text, "context full");
	seed_write(dir, "error", &m);
	m.h.type = WIRE_REFUSE;
	m.error = (wire_error){ .origin = { 9 }, .code = WIRE_REFUSE_CLUSTER };
	strcpy(m.error.text, "home-lab");
	seed_write(dir, "refuse", &m);
	m.h.type = WIRE_PING;
	m.ping = (wire_ping){ .time_ns = 123456789, .pad = 16 };
	seed_write(dir, "ping", &m);
	m.h.type = WIRE_PONG;
	seed_write(dir, "pong", &m);
	static float rows[2 * 1000];
	for (int i = 0; i < 2 * 1000; i++)
		rows[i] = (float)(i % 29) * 0.5f - 7.0f;
	m.h.type = WIRE_LOGITS;
	m.logits = (wire_logits){ .n = 2, .n_vocab = 1000, .rows = rows };
	seed_write(dir, "logits", &m);
	static const wire_peer peers[2] = { { 8643, "10.0.0.2" }, { 7070, "fe80::1" } };
	m.h.type = WIRE_PEERS;
	m.peers = (wire_peers){ .n = 2, .items = peers };
	seed_write(dir, "peers", &m);

	/* transfers of a file of 3 chunks of 64 KiB, the last of 10 bytes */
	static const wire_file f = { .sha = { 1, 2, 3 }, .size = 2 * 65536 + 10, .chunk_size = 65536, .n_chunks = 3 };
	static uint8_t states[1] = { 3 | 1 << 2 | 2 << 4 }, data[10] = { 1, 2, 3 }, hashes[3 * 32] = { 7 };
	m.h.type = WIRE_HAVE;
	m.have = (wire_have){ .f = f, .flags = WIRE_HAVE_TABLE, .need = 100, .have = 10, .states = states };
	seed_write(dir, "have", &m);
	m.h.type = WIRE_WANT;
	m.want = (wire_want){ .f = f, .chunk = 2 };
	seed_write(dir, "want", &m);
	m.h.type = WIRE_CHUNK;
	m.chunk = (wire_chunk){ .f = f, .chunk = 2, .status = WIRE_CHUNK_OK, .len = 10, .data = data };
	seed_write(dir, "chunk", &m);
	m.chunk = (wire_chunk){ .f = f, .chunk = 0, .status = WIRE_CHUNK_NONE };
	seed_write(dir, "chunk_none", &m);
	m.h.type = WIRE_HASH;
	m.hash = (wire_hash){ .f = f, .next = 2, .h = { 1, 2, 3, 4, 5, 6, 7, 8 }, .bytes = 2 * 65536, .hashes = hashes };
	seed_write(dir, "hash", &m);
	m.h.type = WIRE_TABLE;
	m.table = (wire_table){ .f = f, .hashes = hashes };
	seed_write(dir, "table", &m);
	m.h.type = WIRE_SWITCH;
	m.sw = (wire_switch){ .node_port = 8644, .nodes = 2 };
	strcpy(m.sw.model, "unsloth/Qwen3-0.6B-GGUF:Q4_K_M");
	seed_write(dir, "switch", &m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	sh_base_init();
	sh_log_set_level(-1);
	const char *dir = getenv("FUZZ_WIRE_SEEDS");
	if (dir && *dir)
		seeds_write(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const wire_limits lim = { .dim = 64, .n_layers = 12, .n_vocab = 1000, .n_ctx = 512, .max_tokens = 64 };
	one(data, size, NULL);
	one(data, size, &lim);
	return 0;
}
