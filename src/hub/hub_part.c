/*
 * hub_part.c - the chunked blob: SHA.part written chunk by chunk, SHA.chunks its map (design in
 * hub_part.h).
 *
 * The map is small (65 bytes a chunk: the 4 MiB chunks of a 70 GB model make 1.1 MB) and is
 * rewritten whole through sh_file_write_atomic after every change, so on disk it is one consistent
 * version or the one before it. A chunk's state changes only after its bytes were fdatasync'd into
 * SHA.part: a crash leaves at worst a chunk that is on disk and not in the map, fetched again. The
 * map is trusted no further than that: one of another size or chunk size, a state that is not one
 * of ours, a hash that disagrees with the table, a length that is not the one its counts make, each
 * start the part afresh (the file cut to nothing and made sparse again, a new map written).
 *
 * Local hashes are computed as chunks are written, so a part's PRESENT chunks always have one. A
 * blob that was whole when opened has none until they are read from disk (hub_part_hash_run, or
 * hub_part_set_table for the chunks it needs): all zeros means "not hashed yet" (no chunk has that
 * sha256 in practice).
 *
 * The sha256 between nodes: libsodium's crypto_hash_sha256_state is a public struct (this machine's
 * /usr/include/sodium/crypto_hash_sha256.h, libsodium 1.0.18): uint32_t state[8], uint64_t count,
 * uint8_t buf[64], where count is the length hashed in BITS and buf the bytes of a block not yet
 * complete. Between 64-byte blocks buf holds nothing, so the eight words and the count are the
 * whole state: hub_sha_state carries those (bytes, not bits), and a run continues a state made
 * elsewhere by filling a crypto_hash_sha256_state with them. We rely on that layout and meaning of
 * the struct (count in bits, an empty buf at a block boundary): a libsodium that changed them would
 * fail hub_part.hash_run_split_equals_whole. Chunk sizes are powers of two of at least 64 KiB, so
 * every chunk boundary but the file's end is between blocks.
 */
#define _GNU_SOURCE
#include "hub/hub_part.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/base.h"
#include "gguf/gguf.h"

#define MAP_MAGIC "SHCK"
#define MAP_VERSION 1
#define MAP_HEAD 36                 /* magic, version, size, chunk_size, n_chunks, flags, header_len */
#define MAP_TABLE 1u                /* flags: a table follows */
#define CHUNK_MIN (64u << 10)
#define PART_MAX_CHUNKS (1u << 20)  /* wire.h's WIRE_MAX_CHUNKS: what a HAVE can describe */
#define HASH_BUF (1u << 20)         /* bytes read at a time when hashing from disk */

static const uint8_t no_hash[HUB_SHA_BYTES];

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hub_part.c writes its little-endian map with memcpy: a big-endian host needs byte swapping"
#endif

static uint64_t chunk_start(const hub_part *p, uint32_t i) { return (uint64_t)i * p->chunk_size; }

uint32_t hub_part_chunk_len(const hub_part *p, uint32_t chunk)
{
	if (chunk >= p->n_chunks)
		return 0;
	return (uint32_t)SH_MIN((uint64_t)p->chunk_size, p->size - chunk_start(p, chunk));
}

uint64_t hub_part_bytes(const hub_part *p, int st, uint32_t *count)
{
	uint64_t bytes = 0;
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->n_chunks; i++)
		if (p->state[i] == st) {
			bytes += hub_part_chunk_len(p, i);
			n++;
		}
	if (count)
		*count = n;
	return bytes;
}

static bool held(const hub_part *p, uint32_t i) { return p->state[i] >= HUB_CHUNK_PRESENT; }

/* ---------------------------------------------------------------- the map */
static int map_save(hub_part *p)
{
	size_t n = p->n_chunks, len = MAP_HEAD + n * (1 + HUB_SHA_BYTES) + (p->table ? n * HUB_SHA_BYTES : 0);
	uint8_t *m = malloc(len);
	if (!m) {
		sh_log_error("%s: out of memory for its map", p->path);
		return SH_ENOMEM;
	}
	memcpy(m, MAP_MAGIC, 4);
	put32(m + 4, MAP_VERSION);
	put64(m + 8, p->size);
	put32(m + 16, p->chunk_size);
	put32(m + 20, p->n_chunks);
	put32(m + 24, p->table ? MAP_TABLE : 0);
	put64(m + 28, p->header_len);
	memcpy(m + MAP_HEAD, p->state, n);
	memcpy(m + MAP_HEAD + n, p->local, n * HUB_SHA_BYTES);
	if (p->table)
		memcpy(m + MAP_HEAD + n * (1 + HUB_SHA_BYTES), p->table, n * HUB_SHA_BYTES);
	int rc = sh_file_write_atomic(p->map_path, m, len);
	free(m);
	if (rc) {
		int e = errno;
		sh_log_error("%s: cannot write: %s", p->map_path, strerror(e));
		return e == ENOSPC || e == EDQUOT ? SH_ENOSPC : SH_EIO;
	}
	return SH_OK;
}

/* the map on disk into p when it describes this file cut this way and is consistent: true; else
 * false and p's arrays untouched (a map of another cut is said, a damaged one warned of) */
static bool map_load(hub_part *p)
{
	char *m;
	size_t len, n = p->n_chunks, base = MAP_HEAD + n * (1 + HUB_SHA_BYTES);
	if (sh_file_read(p->map_path, base + n * HUB_SHA_BYTES, &m, &len))
		return false; /* none (or larger than any map of this file: not one) */
	const uint8_t *b = (const uint8_t *)m, *state = b + MAP_HEAD, *local = state + n, *table = NULL;
	const char *bad = NULL;
	bool ok = false;
	if (len < MAP_HEAD || memcmp(b, MAP_MAGIC, 4) || get32(b + 4) != MAP_VERSION)
		bad = "not a map of chunks";
	else if (get64(b + 8) != p->size || get32(b + 16) != p->chunk_size || get32(b + 20) != p->n_chunks) {
		sh_log_info("%s: made for %llu bytes in chunks of %u; starting afresh for %llu in chunks of %u", p->map_path,
			    (unsigned long long)get64(b + 8), get32(b + 16), (unsigned long long)p->size, p->chunk_size);
		free(m);
		return false;
	} else if ((get32(b + 24) & ~MAP_TABLE) || len != base + (get32(b + 24) & MAP_TABLE ? n * HUB_SHA_BYTES : 0))
		bad = "its length is not what its counts make";
	else if (get64(b + 28) > p->size)
		bad = "its header length is past the end";
	else if (get32(b + 24) & MAP_TABLE)
		table = local + n * HUB_SHA_BYTES;
	for (size_t i = 0; !bad && i < n; i++) {
		if (state[i] != HUB_CHUNK_ABSENT && state[i] != HUB_CHUNK_PRESENT && state[i] != HUB_CHUNK_VERIFIED)
			bad = "a chunk state that is not one";
		else if (state[i] == HUB_CHUNK_VERIFIED &&
			 (!table || memcmp(local + i * HUB_SHA_BYTES, table + i * HUB_SHA_BYTES, HUB_SHA_BYTES)))
			bad = "a chunk verified against no table";
		else if (state[i] == HUB_CHUNK_PRESENT && table)
			bad = "a chunk the table neither verified nor dropped";
	}
	if (bad)
		sh_log_warn("%s: damaged (%s); starting afresh", p->map_path, bad);
	else if (table && !p->table && !(p->table = malloc(n * HUB_SHA_BYTES)))
		sh_log_error("%s: out of memory for its table; starting afresh", p->map_path);
	else {
		memcpy(p->state, state, n);
		memcpy(p->local, local, n * HUB_SHA_BYTES);
		if (table)
			memcpy(p->table, table, n * HUB_SHA_BYTES);
		p->header_len = get64(b + 28);
		ok = true;
	}
	free(m);
	return ok;
}

/* ---------------------------------------------------------------- open, free */
static bool sha_parse(const char *hex, uint8_t out[HUB_SHA_BYTES])
{
	if (!hex || strlen(hex) != 2 * HUB_SHA_BYTES || strspn(hex, "0123456789abcdef") != 2 * HUB_SHA_BYTES)
		return false;
	for (int i = 0; i < HUB_SHA_BYTES; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return true;
}

/* the whole blob, opened: every chunk PRESENT (VERIFIED as its map says when one is beside it) */
static int open_whole(hub_part *p, const char *blob_path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size != p->size) {
		sh_log_error("%s: %llu bytes, but the file has %llu", blob_path, (unsigned long long)st->st_size,
			     (unsigned long long)p->size);
		return SH_EFORMAT;
	}
	snprintf(p->path, sizeof p->path, "%s", blob_path);
	if ((p->fd = open(p->path, O_RDONLY | O_CLOEXEC)) < 0) {
		sh_log_error("%s: cannot open: %s", p->path, strerror(errno));
		return SH_EIO;
	}
	p->whole = true;
	if (!map_load(p)) { /* no local hashes yet */
		memset(p->local, 0, (size_t)p->n_chunks * HUB_SHA_BYTES);
		free(p->table);
		p->table = NULL;
	}
	for (uint32_t i = 0; i < p->n_chunks; i++)
		p->state[i] = p->table && !memcmp(p->local + (size_t)i * HUB_SHA_BYTES, p->table + (size_t)i * HUB_SHA_BYTES,
						  HUB_SHA_BYTES) ? HUB_CHUNK_VERIFIED : HUB_CHUNK_PRESENT;
	p->header_len = p->size;
	return SH_OK;
}

int hub_part_open(hub_part *p, const char *blob_path, const char *sha_hex, uint64_t size, uint32_t chunk_size)
{
	memset(p, 0, sizeof *p);
	p->fd = -1;
	const char *name = blob_path ? strrchr(blob_path, '/') : NULL;
	name = name ? name + 1 : blob_path;
	if (!blob_path || strlen(blob_path) + sizeof ".chunks" > sizeof p->path || !sha_parse(sha_hex, p->sha) ||
	    strcmp(name, sha_hex)) {
		sh_log_error("%s: not a blob's path named by the sha256 %s", blob_path ? blob_path : "(null)",
			     sha_hex ? sha_hex : "(null)");
		return SH_EINVAL;
	}
	if (size == 0 || chunk_size < CHUNK_MIN || (chunk_size & (chunk_size - 1)) ||
	    (size - 1) / chunk_size + 1 > PART_MAX_CHUNKS) {
		sh_log_error("%s: %llu bytes cannot be cut into at most %u chunks of %u (a power of two, at least %u)",
			     blob_path, (unsigned long long)size, PART_MAX_CHUNKS, chunk_size, CHUNK_MIN);
		return SH_EINVAL;
	}
	p->size = size;
	p->chunk_size = chunk_size;
	p->n_chunks = (uint32_t)((size - 1) / chunk_size + 1);
	snprintf(p->path, sizeof p->path, "%s.part", blob_path);
	snprintf(p->map_path, sizeof p->map_path, "%s.chunks", blob_path);
	p->state = calloc(p->n_chunks, 1);
	p->local = calloc(p->n_chunks, HUB_SHA_BYTES);
	if (!p->state || !p->local) {
		sh_log_error("%s: out of memory for %u chunks", blob_path, p->n_chunks);
		hub_part_free(p);
		return SH_ENOMEM;
	}
	struct stat st;
	int rc;
	if (stat(blob_path, &st) == 0) {
		if ((rc = open_whole(p, blob_path, &st)))
			hub_part_free(p);
		return rc;
	}
	char dir[sizeof p->path];
	const char *failed;
	snprintf(dir, sizeof dir, "%s", name == blob_path ? "." : blob_path);
	if (name != blob_path) {
		dir[name - blob_path - 1] = 0;
		if (sh_mkdir_p(dir, 0755, &failed)) {
			sh_log_error("%s: cannot create %s: %s", p->path, failed, strerror(errno));
			hub_part_free(p);
			return SH_EIO;
		}
	}
	/* room for what is not on disk yet (a part started afresh frees its blocks first) */
	uint64_t on_disk = stat(p->path, &st) == 0 ? SH_MIN(size, (uint64_t)st.st_blocks * 512) : 0;
	struct statvfs vfs;
	if (statvfs(dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < size - on_disk) {
		sh_log_error("%s: needs %.1f MiB more and %s has %.1f MiB free", p->path, (double)(size - on_disk) / (1 << 20),
			     dir, (double)vfs.f_bavail * vfs.f_frsize / (1 << 20));
		hub_part_free(p);
		return SH_ENOSPC;
	}
	if ((p->fd = open(p->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0 || fstat(p->fd, &st) != 0) {
		sh_log_error("%s: cannot open: %s", p->path, strerror(errno));
		hub_part_free(p);
		return SH_EIO;
	}
	bool kept = (uint64_t)st.st_size == size && map_load(p);
	if (!kept) { /* afresh: the map goes first, so that no crash leaves it beside other bytes */
		if ((unlink(p->map_path) != 0 && errno != ENOENT) || ftruncate(p->fd, 0) != 0 ||
		    ftruncate(p->fd, (off_t)size) != 0) {
			sh_log_error("%s: cannot start afresh at %llu bytes: %s", p->path, (unsigned long long)size,
				     strerror(errno));
			hub_part_free(p);
			return SH_EIO;
		}
		if ((rc = map_save(p))) {
			hub_part_free(p);
			return rc;
		}
	}
	return SH_OK;
}

void hub_part_free(hub_part *p)
{
	if (p->fd >= 0)
		close(p->fd);
	free(p->state);
	free(p->local);
	free(p->table);
	p->state = p->local = p->table = NULL;
	p->fd = -1;
}

/* ---------------------------------------------------------------- chunks */
static int write_at(hub_part *p, const void *data, size_t len, uint64_t off)
{
	for (size_t at = 0; at < len;) {
		ssize_t w = pwrite(p->fd, (const char *)data + at, len - at, (off_t)(off + at));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			sh_log_error("%s: writing %zu bytes at %llu: %s", p->path, len, (unsigned long long)off, strerror(e));
			return e == ENOSPC || e == EDQUOT ? SH_ENOSPC : SH_EIO;
		}
		at += (size_t)w;
	}
	return SH_OK;
}

static int read_at(const hub_part *p, void *buf, size_t len, uint64_t off)
{
	for (size_t at = 0; at < len;) {
		ssize_t r = pread(p->fd, (char *)buf + at, len - at, (off_t)(off + at));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			sh_log_error("%s: reading %zu bytes at %llu: %s", p->path, len, (unsigned long long)off,
				     r < 0 ? strerror(errno) : "the file is shorter");
			return SH_EIO;
		}
		at += (size_t)r;
	}
	return SH_OK;
}

static void hex_of(const uint8_t *h, char out[2 * HUB_SHA_BYTES + 1])
{
	for (int i = 0; i < HUB_SHA_BYTES; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

int hub_part_write(hub_part *p, uint32_t chunk, const void *data, size_t len)
{
	if (p->whole || chunk >= p->n_chunks || len != hub_part_chunk_len(p, chunk) || !data) {
		sh_log_error("%s: chunk %u of %zu bytes cannot be written (%u chunks%s)", p->path, chunk, len, p->n_chunks,
			     p->whole ? ", a whole blob" : "");
		return SH_EINVAL;
	}
	uint8_t h[HUB_SHA_BYTES];
	crypto_hash_sha256(h, data, len);
	uint8_t *want = p->table ? p->table + (size_t)chunk * HUB_SHA_BYTES : NULL;
	if (want && memcmp(h, want, HUB_SHA_BYTES)) {
		char got[2 * HUB_SHA_BYTES + 1], exp[2 * HUB_SHA_BYTES + 1];
		hex_of(h, got);
		hex_of(want, exp);
		sh_log_error("%s: chunk %u has sha256 %s, the table says %s: not kept", p->path, chunk, got, exp);
		return SH_EFORMAT;
	}
	int rc = write_at(p, data, len, chunk_start(p, chunk));
	if (!rc && fdatasync(p->fd) != 0) {
		sh_log_error("%s: cannot sync: %s", p->path, strerror(errno));
		rc = SH_EIO;
	}
	if (rc)
		return rc;
	memcpy(p->local + (size_t)chunk * HUB_SHA_BYTES, h, HUB_SHA_BYTES);
	p->state[chunk] = want ? HUB_CHUNK_VERIFIED : HUB_CHUNK_PRESENT;
	return map_save(p);
}

int64_t hub_part_read(const hub_part *p, uint32_t chunk, void *buf, size_t cap)
{
	uint32_t len = hub_part_chunk_len(p, chunk);
	if (chunk >= p->n_chunks || !held(p, chunk) || cap < len || !buf) {
		sh_log_error("%s: chunk %u is not held here, or %zu bytes cannot hold it", p->path, chunk, cap);
		return SH_EINVAL;
	}
	int rc = read_at(p, buf, len, chunk_start(p, chunk));
	return rc ? rc : (int64_t)len;
}

int hub_part_header(hub_part *p, const void *data, size_t len)
{
	if (len > p->size || (len && !data)) {
		sh_log_error("%s: a header of %zu bytes is longer than the file (%llu)", p->path, len,
			     (unsigned long long)p->size);
		return SH_EINVAL;
	}
	if (p->whole || len <= p->header_len)
		return SH_OK; /* on disk already */
	int rc = SH_OK;
	for (uint32_t i = 0; !rc && chunk_start(p, i) < len; i++) { /* held chunks keep their own bytes */
		uint64_t a = chunk_start(p, i), b = SH_MIN((uint64_t)len, a + hub_part_chunk_len(p, i));
		if (!held(p, i))
			rc = write_at(p, (const uint8_t *)data + a, (size_t)(b - a), a);
	}
	if (!rc && fdatasync(p->fd) != 0) {
		sh_log_error("%s: cannot sync: %s", p->path, strerror(errno));
		rc = SH_EIO;
	}
	if (rc)
		return rc;
	p->header_len = len;
	return map_save(p);
}

/* the sha256 of chunk i as it is on disk */
static int chunk_hash(const hub_part *p, uint32_t i, uint8_t out[HUB_SHA_BYTES], uint8_t *buf)
{
	crypto_hash_sha256_state c;
	crypto_hash_sha256_init(&c);
	uint64_t at = chunk_start(p, i), end = at + hub_part_chunk_len(p, i);
	for (; at < end; at += SH_MIN(HASH_BUF, end - at)) {
		size_t n = (size_t)SH_MIN(HASH_BUF, end - at);
		int rc = read_at(p, buf, n, at);
		if (rc)
			return rc;
		crypto_hash_sha256_update(&c, buf, n);
	}
	crypto_hash_sha256_final(&c, out);
	return SH_OK;
}

int hub_part_set_table(hub_part *p, const uint8_t *hashes)
{
	size_t n = p->n_chunks, bytes = n * HUB_SHA_BYTES;
	if (!hashes) {
		sh_log_error("%s: no table given", p->path);
		return SH_EINVAL;
	}
	uint8_t *t = malloc(bytes), *buf = p->whole ? malloc(HASH_BUF) : NULL;
	if (!t || (p->whole && !buf)) {
		free(t);
		free(buf);
		sh_log_error("%s: out of memory for the table", p->path);
		return SH_ENOMEM;
	}
	memcpy(t, hashes, bytes);
	int dropped = 0, rc = SH_OK;
	for (uint32_t i = 0; !rc && p->whole && i < n; i++) { /* a whole blob's chunks must all agree */
		uint8_t *l = p->local + (size_t)i * HUB_SHA_BYTES;
		if (!memcmp(l, no_hash, HUB_SHA_BYTES))
			rc = chunk_hash(p, i, l, buf);
		if (!rc && memcmp(l, t + (size_t)i * HUB_SHA_BYTES, HUB_SHA_BYTES)) {
			sh_log_error("%s: chunk %u differs from the verified table: the blob on disk is damaged (remove it)",
				     p->path, i);
			rc = SH_EFORMAT;
		}
	}
	free(buf);
	if (rc) {
		free(t);
		return rc;
	}
	free(p->table);
	p->table = t;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *l = p->local + (size_t)i * HUB_SHA_BYTES;
		if (!held(p, i))
			continue;
		if (!memcmp(l, t + (size_t)i * HUB_SHA_BYTES, HUB_SHA_BYTES)) {
			p->state[i] = HUB_CHUNK_VERIFIED;
			continue;
		}
		p->state[i] = HUB_CHUNK_ABSENT; /* its bytes are wrong: fetched again */
		memset(l, 0, HUB_SHA_BYTES);
		p->header_len = SH_MIN(p->header_len, chunk_start(p, i));
		dropped++;
	}
	rc = map_save(p);
	return rc ? rc : dropped;
}

/* ---------------------------------------------------------------- the sha256 of the whole file */
void hub_sha_begin(hub_sha_state *s)
{
	crypto_hash_sha256_state c;
	crypto_hash_sha256_init(&c);
	memcpy(s->h, c.state, sizeof s->h);
	s->bytes = 0;
}

int hub_part_hash_run(hub_part *p, hub_sha_state *s, uint32_t from, uint32_t to, uint8_t digest[HUB_SHA_BYTES])
{
	bool ok = from <= to && to <= p->n_chunks && s->bytes == chunk_start(p, from) && (digest || to < p->n_chunks);
	for (uint32_t i = from; ok && i < to; i++)
		ok = held(p, i);
	if (!ok) {
		sh_log_error("%s: chunks %u..%u cannot be hashed from byte %llu (each must be held here)", p->path, from, to,
			     (unsigned long long)s->bytes);
		return SH_EINVAL;
	}
	uint8_t *buf = malloc(HASH_BUF);
	if (!buf) {
		sh_log_error("%s: out of memory for hashing", p->path);
		return SH_ENOMEM;
	}
	crypto_hash_sha256_state w;
	crypto_hash_sha256_init(&w);
	memcpy(w.state, s->h, sizeof s->h);
	w.count = s->bytes * 8; /* bits; buf is empty between blocks */
	int rc = SH_OK, damaged = 0;
	bool changed = false;
	for (uint32_t i = from; !rc && i < to; i++) {
		crypto_hash_sha256_state c;
		uint8_t h[HUB_SHA_BYTES], *l = p->local + (size_t)i * HUB_SHA_BYTES;
		uint64_t at = chunk_start(p, i), end = at + hub_part_chunk_len(p, i);
		crypto_hash_sha256_init(&c);
		for (; !rc && at < end; at += SH_MIN(HASH_BUF, end - at)) {
			size_t n = (size_t)SH_MIN(HASH_BUF, end - at);
			if (!(rc = read_at(p, buf, n, at))) {
				crypto_hash_sha256_update(&c, buf, n);
				crypto_hash_sha256_update(&w, buf, n);
			}
		}
		if (rc)
			break;
		crypto_hash_sha256_final(&c, h);
		changed |= memcmp(h, l, HUB_SHA_BYTES) != 0;
		memcpy(l, h, HUB_SHA_BYTES);
		if (p->table && memcmp(h, p->table + (size_t)i * HUB_SHA_BYTES, HUB_SHA_BYTES)) {
			sh_log_error("%s: chunk %u no longer has the sha256 it was verified with", p->path, i);
			damaged++;
			if (!p->whole) /* fetched again */
				p->state[i] = HUB_CHUNK_ABSENT;
		}
	}
	free(buf);
	if (!rc) {
		memcpy(s->h, w.state, sizeof s->h);
		s->bytes = w.count / 8;
		if (to == p->n_chunks)
			crypto_hash_sha256_final(&w, digest);
		else
			SH_ASSERT(w.count % 512 == 0); /* between blocks: chunk sizes are multiples of 64 */
	}
	if (!rc && (changed || damaged))
		rc = map_save(p);
	return rc ? rc : damaged ? SH_EFORMAT : SH_OK;
}

int hub_part_finish(hub_part *p)
{
	if (p->whole)
		return SH_OK;
	for (uint32_t i = 0; i < p->n_chunks; i++)
		if (p->state[i] != HUB_CHUNK_VERIFIED)
			return SH_EAGAIN;
	char blob[sizeof p->path];
	snprintf(blob, sizeof blob, "%.*s", (int)(strlen(p->path) - strlen(".part")), p->path);
	if (fsync(p->fd) != 0 || rename(p->path, blob) != 0) {
		sh_log_error("%s: cannot move into place as %s: %s", p->path, blob, strerror(errno));
		return SH_EIO;
	}
	snprintf(p->path, sizeof p->path, "%s", blob);
	p->whole = true;
	p->header_len = p->size;
	int rc = map_save(p);
	if (!rc && p->has_ref)
		rc = hub_cache_ref_write(&p->cache, &p->ref, p->commit);
	return rc;
}

