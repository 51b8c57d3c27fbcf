/*
 * hub_part.h - a blob that arrives in chunks, in any order, from the hub or from peers, so that a
 * node of a cluster can hold only its share of a model and still serve what it holds to others.
 *
 *   ROOT/models--ORG--REPO/blobs/SHA.part     the file at its full size (sparse: absent chunks
 *                                             are holes), written chunk by chunk in place
 *   ROOT/models--ORG--REPO/blobs/SHA.chunks   its map, rewritten atomically after each change:
 *       "SHCK", u32 version 1, u64 size, u32 chunk_size, u32 n_chunks, u32 flags (bit 0: a table
 *       follows), u64 header_len, then state[n_chunks] (HUB_CHUNK_*), local[n_chunks][32] and,
 *       with the flag, table[n_chunks][32]; little-endian
 *
 * Chunk i is bytes [i * chunk_size, min(size, (i + 1) * chunk_size)) (wire_file's rule). A chunk
 * is PRESENT once its bytes are on disk (fdatasync'd before the map says so), with the sha256 of
 * what is held (`local`). The hub gives a sha256 of the whole file only, so chunks are first
 * trusted for nothing: the **table** (every chunk's sha256) becomes known when a whole-file sha256
 * over chunks in order equals the blob's name (hub_part_hash_run, possibly carried from node to node),
 * and from then on a chunk is VERIFIED when its local hash equals the table's, and a chunk that
 * arrives is checked before it is kept. When every chunk is VERIFIED, hub_part_finish renames
 * SHA.part to SHA: the ordinary, whole blob of hub_cache.h (the map stays beside it: the table).
 *
 * A blob that is already whole (blobs/SHA, checked by hub_pull) opens with every chunk PRESENT;
 * hashing it once (hub_part_hash_run over all chunks) gives the local hashes and the table.
 * The header prefix: before any chunk, the GGUF header alone (hub_part_header, e.g. what
 * hub_source_header fetched) may be written at the start, so the model's metadata can be read
 * while its chunks are still coming.
 */
#ifndef SHOAL_HUB_PART_H
#define SHOAL_HUB_PART_H

#include "hub/hub_pull.h"

#define HUB_CHUNK_DEFAULT (4u << 20)
#define HUB_SHA_BYTES 32

enum { HUB_CHUNK_ABSENT = 0, HUB_CHUNK_PRESENT = 2, HUB_CHUNK_VERIFIED = 3 }; /* wire.h's values */

typedef struct {
	char path[1100];          /* blobs/SHA.part, or blobs/SHA once whole */
	char map_path[1100];      /* blobs/SHA.chunks */
	uint8_t sha[HUB_SHA_BYTES];
	uint64_t size;
	uint32_t chunk_size, n_chunks;
	uint8_t *state;           /* [n_chunks] HUB_CHUNK_* */
	uint8_t *local;           /* [n_chunks][32]: sha256 of the chunk as held here (state >= PRESENT;
				   * all zeros on a blob opened whole until it is hashed) */
	uint8_t *table;           /* [n_chunks][32]: the verified hashes, or NULL while unknown */
	uint64_t header_len;      /* bytes [0, header_len) are on disk (the header prefix) */
	bool whole;               /* path is the whole blob */
	int fd;                   /* open read-write on path (read-only on a blob that was whole when opened) */
	/* set by the caller: whose refs/main hub_part_finish writes once the part is whole (a pulled
	 * model's refs/main names its commit only when its blob is complete) */
	bool has_ref;
	hub_cache cache;
	hub_ref ref;
	char commit[HUB_COMMIT_MAX + 1];
} hub_part;

/* Opens the blob blob_path (ROOT/.../blobs/SHA; sha_hex is its name) of size bytes, cut into
 * chunk_size chunks (a power of two, >= 64 KiB): the whole blob when it exists, else SHA.part
 * (created at full size, or reopened with its map when the map matches size and chunk size; a map
 * that does not is started afresh, keeping nothing). A disk without room for size bytes is
 * SH_ENOSPC (statvfs), logged. */
int hub_part_open(hub_part *p, const char *blob_path, const char *sha_hex, uint64_t size, uint32_t chunk_size);
void hub_part_free(hub_part *p);

uint32_t hub_part_chunk_len(const hub_part *p, uint32_t chunk);   /* 0 past the end */
/* bytes of the chunks in state st, and how many chunks */
uint64_t hub_part_bytes(const hub_part *p, int st, uint32_t *count);

/* Writes chunk `chunk` (len must be its length): with a table, a chunk whose sha256 differs is not
 * written (SH_EFORMAT, state unchanged); otherwise it is written, synced, and PRESENT (VERIFIED
 * when the table agrees), and the map saved. Not on a whole blob (SH_EINVAL). */
int hub_part_write(hub_part *p, uint32_t chunk, const void *data, size_t len);
/* Reads chunk `chunk` (PRESENT or VERIFIED) into buf (cap >= its length): its length, or < 0. */
int64_t hub_part_read(const hub_part *p, uint32_t chunk, void *buf, size_t cap);
/* Writes the header prefix [0, len) (before its chunks are here); header_len = max(len, old). */
int hub_part_header(hub_part *p, const void *data, size_t len);

/* Installs the verified table: chunks whose local hash equals it become VERIFIED, PRESENT ones
 * that differ become ABSENT (their bytes are wrong); returns how many were dropped (>= 0), or < 0.
 * The map is saved. */
int hub_part_set_table(hub_part *p, const uint8_t *hashes);

/* A sha256 between 64-byte blocks, so it can travel between nodes (wire_hash). */
typedef struct {
	uint32_t h[8];
	uint64_t bytes;
} hub_sha_state;
void hub_sha_begin(hub_sha_state *s);
/* Continues s over chunks [from, to) as held here (each PRESENT or VERIFIED; s->bytes must be
 * from * chunk_size), refreshing their local hashes on the way. When to == n_chunks the digest is
 * finished into digest (which may be NULL otherwise). SH_EINVAL when a chunk is not held. */
int hub_part_hash_run(hub_part *p, hub_sha_state *s, uint32_t from, uint32_t to, uint8_t digest[HUB_SHA_BYTES]);

/* Every chunk VERIFIED: sync, rename SHA.part to SHA (path follows), save the map, and with has_ref
 * write refs/main; SH_EAGAIN when a chunk is missing. A whole blob: SH_OK. */
int hub_part_finish(hub_part *p);

#endif
