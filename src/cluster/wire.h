/*
 * wire.h - the node-to-node messages of shoal's protocol v2 (docs/protocol.md is the reference).
 *
 * One message is one ZeroMQ frame: a fixed 48-byte little-endian header, then a payload of
 * exactly header.payload_len bytes whose layout depends on the type:
 *
 *   off size field
 *     0    4 magic "SHOL"
 *     4    1 version (WIRE_VERSION)
 *     5    1 type (enum wire_type)
 *     6    2 flags (WIRE_FLAG_*; unknown bits are an error)
 *     8    4 payload_len (== frame length - 48)
 *    12    4 epoch: the plan epoch the sender acts under (PLAN: the epoch it announces)
 *    16    8 request_id: OPEN, ERROR: the request; FORWARD: the sender's batch id; else free
 *    24    8 seq: FORWARD: the step; PING/PONG: the ping number; else free
 *    32   16 sender node id
 *
 * wire_encode writes a message into a caller buffer (no allocation; wire_size tells how large).
 * wire_decode validates a received frame completely before anything is exposed: the header,
 * every length against the frame and against overflow, counts against the caps, dimensions,
 * layer ranges, token ids and positions against the caller's model limits, strings' bytes,
 * reserved fields (zero). On failure it returns a negative code and a message that names the
 * message type and what is wrong; it logs nothing, the caller drops the frame with one log line.
 * Variable-length parts of a decoded message are not copied: they stay in the frame and are read
 * with the accessors below (which also work on a message built for encoding).
 */
#ifndef SHOAL_WIRE_H
#define SHOAL_WIRE_H

#include "base/base.h"
#include "cluster/caps.h"
#include "cluster/plan.h"
#include "sample/sample.h"

#define WIRE_MAGIC "SHOL"
#define WIRE_VERSION 2
#define WIRE_HEADER_BYTES 48
#define WIRE_ID_BYTES PLAN_ID_BYTES
#define WIRE_MAX_PAYLOAD (256u << 20)  /* a receiver sets ZMQ_MAXMSGSIZE to header + this */
#define WIRE_MAX_TOKENS 8192           /* tokens of one FORWARD or TOKEN message */
#define WIRE_MAX_DIM 65536             /* hidden size */
#define WIRE_MAX_VOCAB (1u << 22)      /* LOGITS row length */
#define WIRE_MAX_CANCEL 4096           /* request ids of one CANCEL */
#define WIRE_MAX_NAME 64               /* cluster name, host name */
#define WIRE_MAX_MODEL 128             /* model name */
#define WIRE_MAX_ERROR 512             /* error text */
#define WIRE_ERR_CAP 160               /* enough for any wire_decode message */
#define WIRE_MAX_PING_PAD (1u << 20)   /* PING padding: a bandwidth probe */
#define WIRE_MAX_PEERS 64              /* entries of one PEERS message */
#define WIRE_MAX_ADDR 60               /* bytes of a PEERS address (IPv4 or IPv6 text) */
#define WIRE_SHA_BYTES 32              /* a sha256 */
#define WIRE_CHUNK_MIN (64u << 10)     /* chunk sizes: a power of two in [MIN, MAX] */
#define WIRE_CHUNK_MAX (64u << 20)
#define WIRE_MAX_CHUNKS (1u << 20)     /* chunks of one file */
#define WIRE_MAX_REF 1024              /* SWITCH model reference or path */

enum wire_type {
	WIRE_HELLO = 1,    /* a node introduces itself to a peer */
	WIRE_WELCOME = 2,  /* the peer's answer: its own introduction */
	WIRE_PLAN = 3,     /* the layer ranges of a membership epoch */
	WIRE_OPEN = 4,     /* a request begins: sampling parameters for the last shard */
	WIRE_FORWARD = 5,  /* a batch of tokens and their hidden states to the next shard */
	WIRE_TOKEN = 6,    /* sampled tokens back to the node that took the requests */
	WIRE_CANCEL = 7,   /* requests ended: free their state */
	WIRE_ERROR = 8,    /* a request failed */
	WIRE_PING = 9,
	WIRE_PONG = 10,
	WIRE_LOGITS = 11,  /* last shard -> entry node: logits rows of a batch (the entry samples) */
	WIRE_PEERS = 12,   /* the live members a node knows, so that every pair gets linked */
	WIRE_REFUSE = 13,  /* an introduction refused, and why (never answered) */
	WIRE_HAVE = 14,    /* which chunks of a model file the sender holds, fetches, has verified */
	WIRE_WANT = 15,    /* asks a peer for one chunk */
	WIRE_CHUNK = 16,   /* one chunk's bytes, or that the sender does not hold it */
	WIRE_HASH = 17,    /* a file's sha256 in progress, carried from holder to holder in chunk order */
	WIRE_TABLE = 18,   /* the verified sha256 of every chunk of a file */
	WIRE_SWITCH = 19,  /* the cluster switches to another model: greet the sender at its new port */
	WIRE_TYPE_MAX = 19
};

enum {                            /* REFUSE reasons (wire_error.code); the text is the refuser's own value */
	WIRE_REFUSE_CLUSTER = 1,  /* another cluster name: text is the refuser's */
	WIRE_REFUSE_MODEL = 2,    /* another model: text is the refuser's model identity */
	WIRE_REFUSE_VERSION = 3,  /* no common protocol version: text is "MIN..MAX" the refuser speaks */
	WIRE_REFUSE_MAX = 3
};

enum {
	WIRE_FLAG_F16 = 1,        /* FORWARD: the hidden state is f16 (else f32) */
	WIRE_FLAGS_KNOWN = 1,
};

enum {                            /* wire_hello.caps: what a node can do (unknown bits ignored) */
	WIRE_CAP_F16 = 1 << 0,    /* accepts f16 hidden states */
	WIRE_CAP_AVX2 = 1 << 1,
	WIRE_CAP_AVX512 = 1 << 2,
	WIRE_CAP_NEON = 1 << 3,
};

enum {                            /* wire_fwd_token.flags */
	WIRE_TOKEN_SAMPLE = 1,    /* the last shard samples a token after this one */
	WIRE_TOKEN_FLAGS_KNOWN = 1,
};

typedef struct {
	uint8_t version;          /* encode: 0 means WIRE_VERSION */
	uint8_t type;             /* enum wire_type */
	uint16_t flags;
	uint32_t payload_len;     /* set by wire_encode / wire_decode */
	uint32_t epoch;
	uint64_t request_id;
	uint64_t seq;
	uint8_t sender[WIRE_ID_BYTES];
} wire_header;

/* HELLO, WELCOME */
typedef struct {
	uint16_t proto_min, proto_max;   /* protocol versions the node speaks */
	uint32_t caps;                   /* WIRE_CAP_* */
	uint64_t mem_usable;             /* bytes it gives the model (<= info.mem_total) */
	uint16_t node_port, api_port;
	char cluster[WIRE_MAX_NAME + 1]; /* 1..64 of [A-Za-z0-9._-] */
	char host[WIRE_MAX_NAME + 1];    /* 0..64 printable ASCII */
	char model[WIRE_MAX_MODEL + 1];  /* 0..128 printable ASCII: the model it serves ("" none) */
	node_caps info;                  /* memory, CPU, OS, measured speeds (bandwidth and matmul travel
	                                  * as whole MB/s and MFLOP/s); strings printable ASCII */
} wire_hello;

/* FORWARD: one record per token */
typedef struct {
	uint64_t request_id;      /* with the origin, names the sequence (its KV state) */
	uint32_t pos;             /* position in the sequence */
	int32_t token;            /* the token id (input of layer 0; the sampler's history at the end) */
	uint32_t flags;           /* WIRE_TOKEN_* */
} wire_fwd_token;

typedef struct {
	uint8_t origin[WIRE_ID_BYTES];   /* the node that took the requests (gets the TOKENs) */
	uint32_t layer;                  /* the first layer the receiver runs; 0: tokens are the input */
	uint32_t n;                      /* tokens */
	uint32_t dim;                    /* hidden size; 0 when layer == 0 (no hidden state) */
	const wire_fwd_token *tokens;    /* encode: [n] */
	const float *hidden;             /* encode: [n, dim] (f16 on the wire with WIRE_FLAG_F16) */
	const uint8_t *raw_tokens;       /* decode: records inside the frame */
	const uint8_t *raw_hidden;       /* decode: hidden state inside the frame */
} wire_forward;

/* TOKEN: one entry per sampled token */
typedef struct {
	uint64_t request_id;
	uint32_t pos;             /* position of the token whose logits gave this sample */
	int32_t token;
} wire_tok;

typedef struct {
	uint32_t n;
	const wire_tok *items;           /* encode: [n] */
	const uint8_t *raw;              /* decode */
} wire_tokens;

typedef struct {
	uint8_t origin[WIRE_ID_BYTES];   /* the node whose requests these are */
	uint32_t reason;                 /* WIRE_CANCEL_* (informational) */
	uint32_t n;
	const uint64_t *ids;             /* encode: [n] */
	const uint8_t *raw;              /* decode */
} wire_cancel;

/* reasons; KEEP alone changes what a shard does: it keeps the state idle for the origin's next request
 * in that slot (prefix reuse) instead of freeing it */
enum { WIRE_CANCEL_DONE = 0, WIRE_CANCEL_CLIENT = 1, WIRE_CANCEL_ERROR = 2, WIRE_CANCEL_REPLAN = 3, WIRE_CANCEL_KEEP = 4 };

/* ERROR, and REFUSE (same layout): origin is the refused node, code a WIRE_REFUSE_* */
typedef struct {
	uint8_t origin[WIRE_ID_BYTES];   /* the node whose request failed (header.request_id) */
	int32_t code;                    /* SH_E* */
	char text[WIRE_MAX_ERROR + 1];   /* no control characters */
} wire_error;

/* LOGITS: the rows of the tokens flagged SAMPLE of one FORWARD batch (header.request_id: the
 * entry's batch id), in batch order */
typedef struct {
	uint32_t n;                      /* rows */
	uint32_t n_vocab;                /* floats per row */
	const float *rows;               /* encode: [n, n_vocab] */
	const uint8_t *raw;              /* decode */
} wire_logits;

/* PING, PONG: PONG echoes the PING's seq, time and padding length (not the padding) */
typedef struct {
	uint64_t time_ns;                /* the pinger's monotonic clock */
	uint32_t pad;                    /* PING: zero bytes of padding after the fixed part (a
	                                  * bandwidth probe); PONG: the PING's */
	uint32_t tok_rate;               /* PING: tokens per second the sender's layers computed
	                                  * lately, times 10; PONG: 0 */
} wire_ping;

/* PEERS: addresses where the sender's live members listen (the receiver itself left out) */
typedef struct {
	uint16_t port;                   /* node port, >= 1 */
	char addr[WIRE_MAX_ADDR + 1];    /* 1..60 printable ASCII */
} wire_peer;

typedef struct {
	uint32_t n;                      /* 0..WIRE_MAX_PEERS */
	const wire_peer *items;          /* encode: [n] */
	const uint8_t *raw;              /* decode */
} wire_peers;

/* The file a transfer message is about (48 bytes on the wire): its sha256, which is the hub's
 * lfs.oid, its size and how it is cut into chunks. Chunk i is bytes [i * chunk_size, min(size,
 * (i + 1) * chunk_size)). */
typedef struct {
	uint8_t sha[WIRE_SHA_BYTES];
	uint64_t size;                   /* >= 1 */
	uint32_t chunk_size;             /* a power of two in [WIRE_CHUNK_MIN, WIRE_CHUNK_MAX] */
	uint32_t n_chunks;               /* ceil(size / chunk_size), <= WIRE_MAX_CHUNKS */
} wire_file;

/* a chunk's state in HAVE (2 bits each) */
enum { WIRE_CHUNK_ABSENT = 0, WIRE_CHUNK_FETCHING = 1, WIRE_CHUNK_PRESENT = 2, WIRE_CHUNK_VERIFIED = 3 };
enum {                            /* wire_have.flags */
	WIRE_HAVE_TABLE = 1,      /* the sender holds the file's verified chunk table */
	WIRE_HAVE_FULL_COPY = 2,  /* it copies the whole file, not only its share */
	WIRE_HAVE_FLAGS_KNOWN = 3,
};

/* HAVE: what the sender holds of f and how its transfer goes (for the topology) */
typedef struct {
	wire_file f;
	uint32_t flags;                  /* WIRE_HAVE_* */
	uint32_t rate;                   /* bytes per second the sender receives now */
	uint32_t epoch;                  /* the membership epoch of the plan its share follows (0: none):
	                                  * a node fetches from the hub only when its peers agree */
	uint64_t need, have;             /* bytes of the chunks its share needs; of those, verified here */
	uint64_t from_hub, from_peers;   /* bytes received since it started, by source */
	const uint8_t *states;           /* [ceil(n_chunks / 4)]: chunk i in bits 2*(i%4)..+1 of byte i/4;
	                                  * the bits past n_chunks are zero */
} wire_have;

/* WANT: send me chunk `chunk` of f */
typedef struct {
	wire_file f;
	uint32_t chunk;                  /* < n_chunks */
} wire_want;

/* CHUNK: the answer to a WANT */
enum { WIRE_CHUNK_OK = 0, WIRE_CHUNK_NONE = 1 };
typedef struct {
	wire_file f;
	uint32_t chunk;                  /* < n_chunks */
	uint32_t status;                 /* WIRE_CHUNK_OK: len == the chunk's length; NONE: len == 0 */
	uint32_t len;
	const uint8_t *data;             /* [len] */
} wire_chunk;

/* HASH: sha256 over chunks [0, next) of f, to be continued by a holder of chunk next. The state is
 * between 64-byte blocks (chunk sizes are multiples of 64): the eight words and the bytes hashed. */
typedef struct {
	wire_file f;
	uint32_t next;                   /* 1 .. n_chunks - 1 */
	uint32_t h[8];                   /* sha256 chaining value */
	uint64_t bytes;                  /* == next * chunk_size */
	const uint8_t *hashes;           /* [next][32]: each chunk's own sha256, as its hasher holds it */
} wire_hash;

/* TABLE: every chunk's sha256, from a node whose sha256 of the whole file equalled f.sha */
enum { WIRE_TABLE_TAG = 1, WIRE_TABLE_FLAGS_KNOWN = 1 };
typedef struct {
	wire_file f;
	uint32_t flags;                  /* WIRE_TABLE_TAG: tag is an HMAC with the cluster key; else zero */
	const uint8_t *hashes;           /* [n_chunks][32] */
	uint8_t tag[WIRE_SHA_BYTES];     /* keys_auth over the payload before the tag */
} wire_table;

/* SWITCH: serve another model (docs/protocol.md "SWITCH") */
typedef struct {
	uint16_t node_port;              /* the sender's node port of the new model's cluster, >= 1 */
	uint16_t nodes;                  /* nodes that cluster waits for, 1..WIRE_MAX_PEERS + 1 */
	char model[WIRE_MAX_REF + 1];    /* 1..WIRE_MAX_REF printable ASCII */
} wire_switch;

typedef struct {
	wire_header h;
	union {
		wire_hello hello;        /* HELLO, WELCOME */
		plan plan;               /* PLAN: n_layers, n_nodes, ids, memory, ranges (epoch: header) */
		sample_params open;      /* OPEN */
		wire_forward fwd;        /* FORWARD */
		wire_tokens tokens;      /* TOKEN */
		wire_cancel cancel;      /* CANCEL */
		wire_error error;        /* ERROR, REFUSE */
		wire_ping ping;          /* PING, PONG */
		wire_logits logits;      /* LOGITS */
		wire_peers peers;        /* PEERS */
		wire_have have;          /* HAVE */
		wire_want want;          /* WANT */
		wire_chunk chunk;        /* CHUNK */
		wire_hash hash;          /* HASH */
		wire_table table;        /* TABLE */
		wire_switch sw;          /* SWITCH */
	};
} wire_msg;

/* What the receiving node expects; a zero field is checked against the protocol's caps only. */
typedef struct {
	uint32_t dim;             /* FORWARD hidden size */
	uint32_t n_layers;        /* PLAN n_layers, FORWARD layer < it */
	uint32_t n_vocab;         /* token ids below it */
	uint32_t n_ctx;           /* positions below it */
	uint32_t max_tokens;      /* tokens per FORWARD / TOKEN (capped at WIRE_MAX_TOKENS) */
} wire_limits;

/* Bytes wire_encode will write, or 0 if the message cannot be encoded (unknown type, counts
 * over the caps, strings too long). */
size_t wire_size(const wire_msg *m);
/* Encodes into buf; returns the bytes written, or SH_EINVAL (what wire_size rejects) or
 * SH_ERANGE (cap too small). m->h.payload_len is ignored (computed). */
int64_t wire_encode(const wire_msg *m, void *buf, size_t cap);
/* Decodes and validates a frame (lim may be NULL: caps only). SH_OK, or SH_EFORMAT / SH_EUNSUP
 * (another protocol version) with err (cap bytes, WIRE_ERR_CAP is enough) saying why; m's
 * contents are unspecified then. A decoded message points into frame, which must outlive it. */
int wire_decode(const void *frame, size_t len, const wire_limits *lim, wire_msg *m, char *err, size_t cap);

const char *wire_type_name(int type);   /* "FORWARD", ...; "?" for unknown */

/* accessors of the variable-length parts (i < n, checked by assert) */
wire_fwd_token wire_forward_token(const wire_msg *m, uint32_t i);
/* the hidden state as f32 into out [n, dim] (f16 uses the table of sh_base_init) */
void wire_forward_hidden(const wire_msg *m, float *out);
wire_tok wire_tokens_get(const wire_msg *m, uint32_t i);
uint64_t wire_cancel_get(const wire_msg *m, uint32_t i);
/* the logits rows as f32 into out [n, n_vocab] */
void wire_logits_get(const wire_msg *m, float *out);
wire_peer wire_peers_get(const wire_msg *m, uint32_t i);
int wire_have_state(const wire_msg *m, uint32_t i);   /* WIRE_CHUNK_* of chunk i (i < n_chunks) */
/* bytes of chunk i of f; 0 when i >= n_chunks */
uint32_t wire_file_chunk_len(const wire_file *f, uint32_t i);

#endif
