/*
 * test_hub_part.c - the chunked blob (hub_part.h) on its own, and the range requests it is fed by
 * (hub_model_locate, hub_source, hub_range_get, hub_source_header) against the hub stand-in.
 *
 * hub_part: a .part made sparse at full size, chunks written out of order and kept across a reopen
 * (states, local hashes, header_len), a map of another chunk size or a damaged one started afresh,
 * the table verifying what agrees and dropping what does not, a write checked against it, the
 * sha256 of the whole file in runs split at chunk boundaries (the state carried through
 * hub_sha_state as it travels between nodes) equal to libsodium's of the whole, finish renaming the
 * part into blobs/SHA, and a whole blob opening with every chunk present.
 *
 * hub_range (tests/system/hub/hub.mjs under node, started per test on port 0 with a fresh root; the
 * test is skipped when node is missing): locating a model sends no byte of it, ranges equal the
 * file's bytes, a cut mid-range resumes where it stopped, an expired CDN URL is resolved again once,
 * and the header fetched before any chunk is the GGUF's whole header (gguf_open on the .part).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "gguf/gguf.h"
#include "hub/hub_part.h"
#include "test_util.h"

#define CHUNK (64u << 10)

/* ---------------------------------------------------------------- helpers */
static char *tmp_dir(void)
{
	char *d = strdup("/tmp/shoal-hub-part-XXXXXX");
	cr_assert(d && mkdtemp(d));
	return d;
}

static void tmp_remove(char *d)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
	cr_assert_eq(system(cmd), 0);
	free(d);
}

static void hex_of(const uint8_t *h, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* size random bytes, their sha256 in hex, and the blob's path under dir */
typedef struct {
	uint8_t *data;
	uint64_t size;
	char sha[65];
	char blob[1024];
} source;

static void source_make(source *s, const char *dir, uint64_t size, uint64_t seed)
{
	sh_rng r;
	sh_rng_seed(&r, seed);
	s->size = size;
	s->data = malloc(size);
	cr_assert(s->data);
	for (uint64_t i = 0; i < size; i++)
		s->data[i] = (uint8_t)(sh_rng_u64(&r) >> 24);
	uint8_t h[32];
	crypto_hash_sha256(h, s->data, size);
	hex_of(h, s->sha);
	snprintf(s->blob, sizeof s->blob, "%s/blobs/%s", dir, s->sha);
}

static const uint8_t *chunk_of(const source *s, uint32_t i) { return s->data + (uint64_t)i * CHUNK; }

static uint32_t len_of(const source *s, uint32_t i)
{
	return (uint32_t)SH_MIN((uint64_t)CHUNK, s->size - (uint64_t)i * CHUNK);
}

static void write_chunk(hub_part *p, const source *s, uint32_t i)
{
	cr_assert_eq(hub_part_write(p, i, chunk_of(s, i), len_of(s, i)), 0, "chunk %u", i);
}

static void chunk_sha(const source *s, uint32_t i, uint8_t out[32])
{
	crypto_hash_sha256(out, chunk_of(s, i), len_of(s, i));
}

static bool file_equals(const char *path, const uint8_t *data, uint64_t size)
{
	size_t n;
	char *b = test_read_file(path, &n);
	bool same = b && n == size && !memcmp(b, data, size);
	free(b);
	return same;
}

/* ---------------------------------------------------------------- hub_part */
Test(hub_part, sparse_out_of_order_and_reopened)
{
	char *dir = tmp_dir();
	source s;
	source_make(&s, dir, 5 * (uint64_t)CHUNK + 1000, 1); /* 6 chunks, the last one short and not of 64s */
	hub_part p;
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, CHUNK), 0);
	cr_assert_eq(p.n_chunks, 6);
	cr_assert(!p.whole && !p.table);
	cr_assert_eq(hub_part_chunk_len(&p, 5), 1000);
	cr_assert_eq(hub_part_chunk_len(&p, 6), 0);
	struct stat st;
	cr_assert_eq(stat(p.path, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, s.size, "the .part is at full size");
	cr_assert_lt((uint64_t)st.st_blocks * 512, 64 << 10, "the .part is sparse (%lld blocks)", (long long)st.st_blocks);
	cr_assert_eq(stat(p.map_path, &st), 0, "the map is written at once");
	uint32_t order[] = { 3, 5, 0 };
	for (int k = 0; k < 3; k++)
		write_chunk(&p, &s, order[k]);
	uint32_t count;
	cr_assert_eq(hub_part_bytes(&p, HUB_CHUNK_PRESENT, &count), 2 * (uint64_t)CHUNK + 1000);
	cr_assert_eq(count, 3);
	cr_assert_eq(hub_part_bytes(&p, HUB_CHUNK_ABSENT, &count), 3 * (uint64_t)CHUNK);
	cr_assert_eq(count, 3);
	uint8_t buf[CHUNK];
	cr_assert_eq(hub_part_read(&p, 5, buf, sizeof buf), 1000);
	cr_assert_arr_eq(buf, chunk_of(&s, 5), 1000);
	sh_log_set_level(-1);
	cr_assert_lt(hub_part_read(&p, 1, buf, sizeof buf), 0, "an absent chunk is not read");
	cr_assert_eq(hub_part_write(&p, 1, chunk_of(&s, 1), 100), SH_EINVAL, "a chunk of the wrong length");
	cr_assert_eq(hub_part_write(&p, 6, chunk_of(&s, 1), 100), SH_EINVAL, "a chunk past the end");
	sh_log_set_level(SH_LOG_INFO);
	cr_assert_eq(hub_part_header(&p, s.data, 70000), 0);
	cr_assert_eq(p.header_len, 70000);
	hub_part_free(&p);

	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, CHUNK), 0);
	uint8_t want[32];
	for (uint32_t i = 0; i < 6; i++) {
		bool have = i == 0 || i == 3 || i == 5;
		cr_assert_eq(p.state[i], have ? HUB_CHUNK_PRESENT : HUB_CHUNK_ABSENT, "chunk %u", i);
		if (have) {
			chunk_sha(&s, i, want);
			cr_assert_arr_eq(p.local + 32 * i, want, 32, "chunk %u's local hash", i);
			cr_assert_eq(hub_part_read(&p, i, buf, sizeof buf), len_of(&s, i));
			cr_assert_arr_eq(buf, chunk_of(&s, i), len_of(&s, i));
		}
	}
	cr_assert_eq(p.header_len, 70000);
	cr_assert_eq(hub_part_read(&p, 0, buf, sizeof buf), CHUNK);
	/* the header's bytes of chunk 1 (absent) were written, chunk 0's were its own */
	uint8_t h1[70000 - CHUNK];
	cr_assert_eq(pread(p.fd, h1, sizeof h1, CHUNK), (ssize_t)sizeof h1);
	cr_assert_arr_eq(h1, s.data + CHUNK, sizeof h1);
	hub_part_free(&p);
	free(s.data);
	tmp_remove(dir);
}

Test(hub_part, another_cut_or_damaged_map_starts_afresh)
{
	char *dir = tmp_dir();
	source s;
	source_make(&s, dir, 4 * (uint64_t)CHUNK, 2);
	hub_part p;
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, CHUNK), 0);
	write_chunk(&p, &s, 1);
	write_chunk(&p, &s, 2);
	hub_part_free(&p);
	/* chunks of 128 KiB: nothing of the old cut is kept, not even its bytes */
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, 2 * CHUNK), 0);
	cr_assert_eq(p.n_chunks, 2);
	cr_assert_eq(hub_part_bytes(&p, HUB_CHUNK_ABSENT, NULL), s.size);
	uint8_t zero[CHUNK] = { 0 }, buf[CHUNK];
	cr_assert_eq(pread(p.fd, buf, CHUNK, CHUNK), CHUNK);
	cr_assert_arr_eq(buf, zero, CHUNK, "the old bytes are gone");
	struct stat st;
	cr_assert_eq(fstat(p.fd, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, s.size);
	cr_assert_lt((uint64_t)st.st_blocks * 512, 64 << 10);
	cr_assert_eq(hub_part_write(&p, 1, s.data + 2 * CHUNK, 2 * CHUNK), 0);
	hub_part_free(&p);
	/* a damaged map: one state byte that is no state */
	char map[1200];
	snprintf(map, sizeof map, "%s.chunks", s.blob);
	int fd = open(map, O_RDWR);
	cr_assert_geq(fd, 0);
	uint8_t bad = 7;
	cr_assert_eq(pwrite(fd, &bad, 1, 36), 1);
	close(fd);
	capture c;
	capture_begin(&c);
	int rc = hub_part_open(&p, s.blob, s.sha, s.size, 2 * CHUNK);
	char *log = capture_end(&c);
	cr_assert_eq(rc, 0);
	cr_assert(strstr(log, "damaged") && strstr(log, "starting afresh"), "%s", log);
	cr_assert_eq(hub_part_bytes(&p, HUB_CHUNK_ABSENT, NULL), s.size);
	free(log);
	hub_part_free(&p);
	/* arguments that cannot be */
	sh_log_set_level(-1);
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, 3 * CHUNK), SH_EINVAL, "not a power of two");
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, 1024), SH_EINVAL, "under 64 KiB");
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, 0, CHUNK), SH_EINVAL, "empty");
	cr_assert_eq(hub_part_open(&p, s.blob, "abc", s.size, CHUNK), SH_EINVAL, "not a sha256");
	cr_assert_eq(hub_part_open(&p, s.blob, "00000000000000000000000000000000000000000000000000000000000000ff", s.size, CHUNK),
		     SH_EINVAL, "another name");
	/* no disk holds a PiB: said before anything is touched */
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, 1ull << 50, 1u << 30), SH_ENOSPC);
	sh_log_set_level(SH_LOG_INFO);
	char part[1200];
	snprintf(part, sizeof part, "%s.part", s.blob);
	cr_assert_eq(stat(part, &st), 0);
	cr_assert_eq((uint64_t)st.st_size, s.size, "the part there stays as it was");
	free(s.data);
	tmp_remove(dir);
}

Test(hub_part, table_verifies_drops_and_checks_writes)
{
	char *dir = tmp_dir();
	source s;
	source_make(&s, dir, 6 * (uint64_t)CHUNK + 4096, 3);
	hub_part p;
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, CHUNK), 0);
	uint32_t n = p.n_chunks;
	cr_assert_eq(n, 7);
	uint8_t *table = malloc(32 * n);
	for (uint32_t i = 0; i < n; i++)
		chunk_sha(&s, i, table + 32 * i);
	write_chunk(&p, &s, 0);
	write_chunk(&p, &s, 4);
	/* chunk 2 arrives wrong before the table is known: kept, PRESENT */
	uint8_t *wrong = malloc(CHUNK);
	memcpy(wrong, chunk_of(&s, 2), CHUNK);
	wrong[100] ^= 1;
	cr_assert_eq(hub_part_write(&p, 2, wrong, CHUNK), 0);
	cr_assert_eq(p.state[2], HUB_CHUNK_PRESENT);
	cr_assert_eq(hub_part_set_table(&p, table), 1, "one chunk dropped");
	cr_assert_eq(p.state[0], HUB_CHUNK_VERIFIED);
	cr_assert_eq(p.state[4], HUB_CHUNK_VERIFIED);
	cr_assert_eq(p.state[2], HUB_CHUNK_ABSENT);
	/* with the table, a wrong chunk is refused and changes nothing */
	capture c;
	capture_begin(&c);
	int rc = hub_part_write(&p, 2, wrong, CHUNK);
	char *log = capture_end(&c);
	cr_assert_eq(rc, SH_EFORMAT);
	cr_assert(strstr(log, "chunk 2") && strstr(log, "not kept"), "%s", log);
	free(log);
	cr_assert_eq(p.state[2], HUB_CHUNK_ABSENT);
	write_chunk(&p, &s, 2);
	cr_assert_eq(p.state[2], HUB_CHUNK_VERIFIED, "a right one is verified as it arrives");
	cr_assert_eq(hub_part_finish(&p), SH_EAGAIN, "chunks are missing");
	hub_part_free(&p);
	/* the table and the verified states survive a reopen */
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, CHUNK), 0);
	cr_assert(p.table);
	cr_assert_arr_eq(p.table, table, 32 * n);
	cr_assert_eq(hub_part_bytes(&p, HUB_CHUNK_VERIFIED, NULL), 3 * (uint64_t)CHUNK);
	hub_part_free(&p);
	free(wrong);
	free(table);
	free(s.data);
	tmp_remove(dir);
}

/* hashes p in runs that end at each of cuts (chunk indices, ascending, the last n_chunks), the state
 * copied through a fresh hub_sha_state between runs as a HASH message carries it */
static void hash_in_runs(hub_part *p, const uint32_t *cuts, int n_cuts, uint8_t digest[32])
{
	hub_sha_state s;
	hub_sha_begin(&s);
	uint32_t from = 0;
	for (int k = 0; k < n_cuts; k++) {
		hub_sha_state carried;
		memcpy(&carried, &s, sizeof s);
		cr_assert_eq(hub_part_hash_run(p, &carried, from, cuts[k], k == n_cuts - 1 ? digest : NULL), 0);
		if (cuts[k] < p->n_chunks)
			cr_assert_eq(carried.bytes, (uint64_t)cuts[k] * p->chunk_size);
		s = carried;
		from = cuts[k];
	}
}

Test(hub_part, hash_run_split_equals_whole)
{
	char *dir = tmp_dir();
	source s;
	source_make(&s, dir, 9 * (uint64_t)CHUNK + 777, 4); /* 10 chunks; the file ends mid-block */
	hub_part p;
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, CHUNK), 0);
	for (uint32_t i = p.n_chunks; i-- > 0;)
		write_chunk(&p, &s, i);
	uint8_t whole[32], d[32];
	crypto_hash_sha256(whole, s.data, s.size);
	const uint32_t one[] = { 10 }, cuts[] = { 1, 2, 5, 9, 10 }, late[] = { 9, 10 }, empty_runs[] = { 3, 3, 10 };
	hash_in_runs(&p, one, 1, d);
	cr_assert_arr_eq(d, whole, 32);
	hash_in_runs(&p, cuts, 5, d);
	cr_assert_arr_eq(d, whole, 32);
	hash_in_runs(&p, late, 2, d);
	cr_assert_arr_eq(d, whole, 32);
	hash_in_runs(&p, empty_runs, 3, d);
	cr_assert_arr_eq(d, whole, 32);
	/* the local hashes were refreshed on the way: they make the table */
	uint8_t want[32];
	for (uint32_t i = 0; i < p.n_chunks; i++) {
		chunk_sha(&s, i, want);
		cr_assert_arr_eq(p.local + 32 * i, want, 32);
	}
	/* a state that is not at `from`, or a chunk not held, is refused */
	hub_sha_state st;
	hub_sha_begin(&st);
	sh_log_set_level(-1);
	cr_assert_eq(hub_part_hash_run(&p, &st, 2, 4, NULL), SH_EINVAL);
	cr_assert_eq(hub_part_hash_run(&p, &st, 0, 10, NULL), SH_EINVAL, "the last run needs a digest");
	sh_log_set_level(SH_LOG_INFO);
	hub_part_free(&p);
	free(s.data);
	tmp_remove(dir);
}

Test(hub_part, finish_renames_and_whole_blob_opens_present)
{
	char *dir = tmp_dir();
	source s;
	source_make(&s, dir, 3 * (uint64_t)CHUNK + 64, 5);
	hub_part p;
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, CHUNK), 0);
	char part[1200];
	snprintf(part, sizeof part, "%s", p.path);
	uint32_t order[] = { 2, 0, 3, 1 };
	for (int k = 0; k < 4; k++)
		write_chunk(&p, &s, order[k]);
	uint8_t d[32];
	hub_sha_state st;
	hub_sha_begin(&st);
	cr_assert_eq(hub_part_hash_run(&p, &st, 0, p.n_chunks, d), 0);
	char hex[65];
	hex_of(d, hex);
	cr_assert_str_eq(hex, s.sha, "the whole file's sha256 is its name");
	uint8_t *table = malloc(32 * p.n_chunks);
	memcpy(table, p.local, 32 * p.n_chunks);
	cr_assert_eq(hub_part_set_table(&p, table), 0);
	cr_assert_eq(hub_part_finish(&p), 0);
	cr_assert_str_eq(p.path, s.blob);
	cr_assert(p.whole);
	cr_assert_eq(access(part, F_OK), -1, "the .part is gone");
	cr_assert(file_equals(s.blob, s.data, s.size), "blobs/SHA holds the file's bytes");
	cr_assert_eq(hub_part_finish(&p), 0, "a whole blob is finished");
	hub_part_free(&p);
	/* reopened: whole, every chunk verified by the map kept beside it */
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, CHUNK), 0);
	cr_assert(p.whole && p.table);
	cr_assert_eq(hub_part_bytes(&p, HUB_CHUNK_VERIFIED, NULL), s.size);
	cr_assert_eq(p.header_len, s.size);
	uint8_t buf[CHUNK];
	cr_assert_eq(hub_part_read(&p, 3, buf, sizeof buf), 64);
	cr_assert_arr_eq(buf, chunk_of(&s, 3), 64);
	sh_log_set_level(-1);
	cr_assert_eq(hub_part_write(&p, 0, chunk_of(&s, 0), CHUNK), SH_EINVAL, "a whole blob is not written");
	sh_log_set_level(SH_LOG_INFO);
	hub_part_free(&p);
	/* a whole blob without a map (pulled by hub_model): every chunk PRESENT; hashing it gives the table */
	char map[1200];
	snprintf(map, sizeof map, "%s.chunks", s.blob);
	cr_assert_eq(unlink(map), 0);
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size, CHUNK), 0);
	cr_assert(p.whole && !p.table);
	cr_assert_eq(hub_part_bytes(&p, HUB_CHUNK_PRESENT, NULL), s.size);
	cr_assert_eq(hub_part_header(&p, s.data, 100), 0, "a whole blob has its header");
	cr_assert_eq(hub_part_set_table(&p, table), 0, "hashed from disk as needed");
	cr_assert_eq(hub_part_bytes(&p, HUB_CHUNK_VERIFIED, NULL), s.size);
	hub_part_free(&p);
	/* a blob of another size is not the file */
	sh_log_set_level(-1);
	cr_assert_eq(hub_part_open(&p, s.blob, s.sha, s.size + 1, CHUNK), SH_EFORMAT);
	sh_log_set_level(SH_LOG_INFO);
	free(table);
	free(s.data);
	tmp_remove(dir);
}

/* ---------------------------------------------------------------- the hub stand-in */
typedef struct {
	pid_t pid;
	char url[128];
	char *root;
} standin;

/* node tests/system/hub/hub.mjs --root ROOT --port 0, up (or the test skipped without node) */
static void standin_start(standin *h, char *root)
{
	if (system("command -v node >/dev/null 2>&1") != 0)
		cr_skip_test("node is not installed (scripts/install-deps.sh installs it)");
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	h->root = root;
	h->pid = fork();
	cr_assert_geq(h->pid, 0);
	if (h->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM); /* a failed test's process takes its stand-in with it */
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execlp("node", "node", "tests/system/hub/hub.mjs", "--root", root, "--port", "0", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	char out[512] = "";
	size_t n = 0;
	for (;;) {
		struct pollfd pf = { fds[0], POLLIN, 0 };
		cr_assert_gt(poll(&pf, 1, 15000), 0, "the hub stand-in did not start: %s", out);
		ssize_t k = read(fds[0], out + n, sizeof out - 1 - n);
		cr_assert_gt(k, 0, "the hub stand-in exited: %s", out);
		n += (size_t)k;
		out[n] = 0;
		char *at = strstr(out, "hub listening on "), *nl = at ? strchr(at, '\n') : NULL;
		if (nl) {
			*nl = 0;
			snprintf(h->url, sizeof h->url, "%s", at + strlen("hub listening on "));
			break;
		}
	}
	close(fds[0]);
}

static void standin_stop(standin *h)
{
	kill(h->pid, SIGTERM);
	waitpid(h->pid, NULL, 0);
}

static size_t collect(char *data, size_t size, size_t nmemb, void *user)
{
	char **b = user;
	size_t have = *b ? strlen(*b) : 0, n = size * nmemb;
	char *p = realloc(*b, have + n + 1);
	cr_assert(p);
	memcpy(p + have, data, n);
	p[have + n] = 0;
	*b = p;
	return n;
}

/* a control request to the stand-in: its body (malloc'd) */
static char *control(const standin *h, const char *what, const char *post)
{
	char url[256], *body = NULL;
	snprintf(url, sizeof url, "%s/%s", h->url, what);
	CURL *k = curl_easy_init();
	cr_assert(k);
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(k, CURLOPT_WRITEDATA, &body);
	if (post)
		curl_easy_setopt(k, CURLOPT_POSTFIELDS, post);
	cr_assert_eq(curl_easy_perform(k), CURLE_OK, "%s", url);
	long st;
	curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &st);
	cr_assert_eq(st, 200, "%s: %s", url, body ? body : "");
	curl_easy_cleanup(k);
	return body;
}

/* body bytes the stand-in sent of ORG/REPO/PATH, and how many of its requests had a Range */
static long long served(const standin *h, const char *file, int *ranged)
{
	char *b = control(h, "__stats", NULL);
	json_error_t e;
	json_t *j = json_loads(b, 0, &e);
	cr_assert(j, "%s", b);
	long long n = json_integer_value(json_object_get(json_object_get(j, "bytes"), file));
	if (ranged) {
		*ranged = 0;
		size_t i;
		json_t *q;
		json_array_foreach(json_object_get(j, "requests"), i, q) {
			const char *f = json_string_value(json_object_get(q, "file"));
			*ranged += f && !strcmp(f, file) && json_is_string(json_object_get(q, "range"));
		}
	}
	json_decref(j);
	free(b);
	return n;
}

/* ROOT/test-org/tiny-GGUF/tiny-Q8_0.gguf (a synthesized model), junk-Q2_K.gguf (random bytes) and a
 * split set; *model gets the model's path */
static char *hub_root(char **model)
{
	char *root = tmp_dir(), path[1024];
	snprintf(path, sizeof path, "%s/test-org/tiny-GGUF", root);
	cr_assert_eq(sh_mkdir_p(path, 0755, NULL), 0);
	snprintf(path, sizeof path, "%s/test-org/tiny-GGUF/tiny-Q8_0.gguf", root);
	cr_assert_eq(synth_write("test-tiny", "q8_0", TEST_STORIES, 1234, 1, 1, path), 0);
	*model = strdup(path);
	snprintf(path, sizeof path, "%s/test-org/tiny-GGUF/junk-Q2_K.gguf", root);
	FILE *f = fopen(path, "wb");
	cr_assert(f);
	sh_rng r;
	sh_rng_seed(&r, 9);
	for (int i = 0; i < 300000; i++)
		fputc((int)(sh_rng_u64(&r) & 0xff), f);
	fclose(f);
	snprintf(path, sizeof path, "%s/split-org/split-GGUF", root);
	cr_assert_eq(sh_mkdir_p(path, 0755, NULL), 0);
	snprintf(path, sizeof path, "%s/split-org/split-GGUF/split-Q8_0.gguf", root);
	cr_assert_eq(synth_write("test-tiny", "q8_0", TEST_STORIES, 1234, 1, 2, path), 0);
	return root;
}

static hub_ref ref_of(const char *s)
{
	hub_ref r;
	const char *why;
	cr_assert_eq(hub_ref_parse(s, &r, &why), 0, "%s", s);
	return r;
}

typedef struct {
	standin hub;
	char *root, *model, *cache;
	hub_cache c;
	hub_opts o;
	uint8_t *bytes;           /* the model file's */
	size_t size;
} fixture;

static void fixture_start(fixture *x)
{
	memset(x, 0, sizeof *x);
	x->root = hub_root(&x->model);
	standin_start(&x->hub, x->root);
	x->cache = tmp_dir();
	cr_assert_eq(hub_cache_init(&x->c, x->cache), 0);
	x->o.endpoint = x->hub.url;
	x->o.token = "";
	x->bytes = (uint8_t *)test_load_file(x->model, &x->size);
}

static void fixture_stop(fixture *x)
{
	standin_stop(&x->hub);
	free(x->bytes);
	free(x->model);
	tmp_remove(x->cache);
	tmp_remove(x->root);
}

typedef struct {
	hub_file f;
	char commit[HUB_COMMIT_MAX + 1];
	char path[2048], blob[2048];
} located;

static void locate(fixture *x, const char *ref, located *l)
{
	hub_ref r = ref_of(ref);
	cr_assert_eq(hub_model_locate(&x->c, &r, &x->o, &l->f, l->commit, l->path, sizeof l->path, l->blob, sizeof l->blob), 0,
		     "%s", ref);
}

Test(hub_range, locate_sends_no_byte_of_the_file)
{
	fixture x;
	fixture_start(&x);
	located l;
	locate(&x, "test-org/tiny-GGUF:Q8_0", &l);
	uint8_t h[32];
	char hex[65];
	crypto_hash_sha256(h, x.bytes, x.size);
	hex_of(h, hex);
	cr_assert_str_eq(l.f.path, "tiny-Q8_0.gguf");
	cr_assert_str_eq(l.f.sha, hex);
	cr_assert_eq(l.f.size, x.size);
	cr_assert(l.f.lfs && !l.f.complete);
	cr_assert_eq(strlen(l.commit), 40);
	char want[2048], target[256];
	snprintf(want, sizeof want, "%s/models--test-org--tiny-GGUF/blobs/%s", x.cache, hex);
	cr_assert_str_eq(l.blob, want);
	cr_assert_eq(access(l.blob, F_OK), -1, "no blob yet");
	snprintf(want, sizeof want, "%s/models--test-org--tiny-GGUF/snapshots/%s/tiny-Q8_0.gguf", x.cache, l.commit);
	cr_assert_str_eq(l.path, want);
	ssize_t k = readlink(l.path, target, sizeof target - 1);
	cr_assert_gt(k, 0, "the snapshot is linked");
	target[k] = 0;
	snprintf(want, sizeof want, "../../blobs/%s", hex);
	cr_assert_str_eq(target, want);
	cr_assert_eq(served(&x.hub, "test-org/tiny-GGUF/tiny-Q8_0.gguf", NULL), 0, "no byte of the file was sent");
	/* a split set is the caller's to pull whole: SH_EUNSUP, and not a word */
	hub_ref r = ref_of("split-org/split-GGUF:Q8_0");
	located s;
	capture c;
	capture_begin(&c);
	int rc = hub_model_locate(&x.c, &r, &x.o, &s.f, s.commit, s.path, sizeof s.path, s.blob, sizeof s.blob);
	char *log = capture_end(&c);
	cr_assert_eq(rc, SH_EUNSUP);
	cr_assert_str_eq(log, "");
	free(log);
	/* offline, what the cache does not have whole is an error */
	x.o.offline = true;
	r = ref_of("test-org/tiny-GGUF:Q8_0");
	sh_log_set_level(-1);
	cr_assert_neq(hub_model_locate(&x.c, &r, &x.o, &s.f, s.commit, s.path, sizeof s.path, s.blob, sizeof s.blob), 0);
	sh_log_set_level(SH_LOG_INFO);
	x.o.offline = false;
	/* once the blob is whole, the cache answers (no request at all) */
	char *dir = strdup(l.blob);
	*strrchr(dir, '/') = 0;
	cr_assert_eq(sh_mkdir_p(dir, 0755, NULL), 0);
	free(dir);
	FILE *f = fopen(l.blob, "wb");
	cr_assert(f && fwrite(x.bytes, 1, x.size, f) == x.size);
	fclose(f);
	hub_cache_ref_write(&x.c, &r, l.commit);
	free(control(&x.hub, "__reset", ""));
	x.o.endpoint = "http://127.0.0.1:9"; /* nothing listens there */
	locate(&x, "test-org/tiny-GGUF:Q8_0", &s);
	cr_assert(s.f.complete);
	cr_assert_str_eq(s.blob, l.blob);
	cr_assert_str_eq(s.commit, l.commit);
	x.o.endpoint = x.hub.url;
	fixture_stop(&x);
}

Test(hub_range, ranges_equal_the_files_bytes)
{
	fixture x;
	fixture_start(&x);
	located l;
	locate(&x, "test-org/tiny-GGUF:Q8_0", &l);
	hub_ref r = ref_of("test-org/tiny-GGUF:Q8_0");
	int err;
	hub_source *src = hub_source_open(&r, &x.o, l.commit, l.f.path, &err);
	cr_assert(src, "%d", err);
	uint64_t chunk = 1u << 20, last = (x.size - 1) / chunk * chunk;
	struct { uint64_t off, len; } q[] = {
		{ 0, 100 }, { x.size / 2 - 5000, 70000 }, { last, x.size - last }, { x.size - 1, 1 }, { 0, x.size },
	};
	uint64_t total = 0;
	uint8_t *buf = malloc(x.size);
	for (size_t i = 0; i < SH_ARRAY_LEN(q); i++) {
		memset(buf, 0xa5, q[i].len);
		cr_assert_eq(hub_range_get(src, q[i].off, (size_t)q[i].len, buf), 0, "range %zu", i);
		cr_assert_arr_eq(buf, x.bytes + q[i].off, (size_t)q[i].len, "range %zu: bytes %llu+%llu", i,
				 (unsigned long long)q[i].off, (unsigned long long)q[i].len);
		total += q[i].len;
	}
	cr_assert_eq(hub_source_bytes(src), total, "exactly the bytes asked for crossed the wire");
	cr_assert_eq(served(&x.hub, "test-org/tiny-GGUF/tiny-Q8_0.gguf", NULL), (long long)total);
	capture c;
	capture_begin(&c);
	int rc = hub_range_get(src, x.size - 10, 11, buf);
	char *log = capture_end(&c);
	cr_assert_eq(rc, SH_EINVAL);
	cr_assert(strstr(log, "tiny-Q8_0.gguf"), "the error names the file: %s", log);
	free(log);
	cr_assert_eq(hub_range_get(src, 5, 0, buf), 0, "nothing asked, nothing sent");
	free(buf);
	hub_source_free(src);
	fixture_stop(&x);
}

Test(hub_range, cut_resumes_and_an_expired_url_is_resolved_again, .timeout = 60)
{
	fixture x;
	fixture_start(&x);
	located l;
	locate(&x, "test-org/tiny-GGUF:Q8_0", &l);
	hub_ref r = ref_of("test-org/tiny-GGUF:Q8_0");
	const char *file = "test-org/tiny-GGUF/tiny-Q8_0.gguf";
	int err, ranged;
	hub_source *src = hub_source_open(&r, &x.o, l.commit, l.f.path, &err);
	cr_assert(src);
	size_t len = 1u << 20;
	uint64_t off = 100000;
	uint8_t *buf = malloc(len);
	free(control(&x.hub, "__faults", "{\"file\": \"test-org/tiny-GGUF/tiny-Q8_0.gguf\", \"cut_after\": 200000}"));
	capture c;
	capture_begin(&c);
	int rc = hub_range_get(src, off, len, buf);
	char *log = capture_end(&c);
	cr_assert_eq(rc, 0, "%s", log);
	cr_assert(strstr(log, "trying again"), "%s", log);
	free(log);
	cr_assert_arr_eq(buf, x.bytes + off, len);
	long long sent = served(&x.hub, file, &ranged);
	cr_assert_eq(sent, (long long)len, "the resume asked for the rest only (%lld bytes sent)", sent);
	cr_assert_eq(ranged, 2);
	cr_assert_eq(hub_source_bytes(src), len);
	/* the CDN refuses the URL as expired: resolved again once, and the bytes come */
	free(control(&x.hub, "__faults", "{\"file\": \"test-org/tiny-GGUF/tiny-Q8_0.gguf\", \"expire\": 1}"));
	memset(buf, 0, len);
	capture_begin(&c);
	rc = hub_range_get(src, 0, 4096, buf);
	log = capture_end(&c);
	cr_assert_eq(rc, 0, "%s", log);
	cr_assert_arr_eq(buf, x.bytes, 4096);
	free(log);
	/* refused again right after resolving: that is final, said once */
	free(control(&x.hub, "__faults", "{\"file\": \"test-org/tiny-GGUF/tiny-Q8_0.gguf\", \"expire\": 2}"));
	capture_begin(&c);
	rc = hub_range_get(src, 0, 4096, buf);
	log = capture_end(&c);
	cr_assert_eq(rc, SH_EIO);
	cr_assert(strstr(log, "tiny-Q8_0.gguf: the CDN refuses the URL the hub just gave (HTTP 403)"), "%s", log);
	free(log);
	free(buf);
	hub_source_free(src);
	fixture_stop(&x);
}

Test(hub_range, source_header_gives_the_gguf_header)
{
	fixture x;
	fixture_start(&x);
	located l;
	locate(&x, "test-org/tiny-GGUF:Q8_0", &l);
	hub_ref r = ref_of("test-org/tiny-GGUF:Q8_0");
	int err;
	gguf_ctx *g = gguf_open(x.model, &err);
	cr_assert(g);
	uint64_t data_offset = g->data_offset, n_kv = g->n_kv, n_tensors = g->n_tensors;
	gguf_free(g);
	hub_source *src = hub_source_open(&r, &x.o, l.commit, l.f.path, &err);
	cr_assert(src);
	hub_part p;
	cr_assert_eq(hub_part_open(&p, l.blob, l.f.sha, l.f.size, HUB_CHUNK_DEFAULT), 0);
	uint8_t *hb;
	uint64_t hlen;
	cr_assert_eq(hub_source_header(src, l.f.size, &hb, &hlen), 0);
	cr_assert_eq(hlen, data_offset);
	cr_assert_eq(hub_part_header(&p, hb, (size_t)hlen), 0);
	free(hb);
	cr_assert_eq(p.header_len, data_offset);
	cr_assert_eq(hub_part_bytes(&p, HUB_CHUNK_ABSENT, NULL), x.size, "no chunk is held");
	uint64_t got = hub_source_bytes(src);
	cr_assert_leq(got, SH_MAX(256u << 10, 2 * data_offset), "%llu bytes for a header of %llu", (unsigned long long)got,
		      (unsigned long long)data_offset);
	/* the .part is at full size: gguf_open validates it whole, and reads the metadata */
	g = gguf_open(p.path, &err);
	cr_assert(g, "gguf_open on the .part: %d", err);
	cr_assert_eq(g->data_offset, data_offset);
	cr_assert_eq(g->n_kv, n_kv);
	cr_assert_eq(g->n_tensors, n_tensors);
	cr_assert(gguf_kv_find(g, "general.architecture"));
	gguf_free(g);
	/* the header prefix survives a reopen */
	hub_part_free(&p);
	cr_assert_eq(hub_part_open(&p, l.blob, l.f.sha, l.f.size, HUB_CHUNK_DEFAULT), 0);
	cr_assert_eq(p.header_len, data_offset);
	hub_part_free(&p);
	hub_source_free(src);
	/* a .gguf that is not one */
	located j;
	locate(&x, "test-org/tiny-GGUF/junk-Q2_K.gguf", &j);
	src = hub_source_open(&r, &x.o, j.commit, j.f.path, &err);
	cr_assert(src);
	cr_assert_eq(hub_part_open(&p, j.blob, j.f.sha, j.f.size, CHUNK), 0);
	capture c;
	capture_begin(&c);
	int rc = hub_source_header(src, j.f.size, &hb, &hlen);
	char *log = capture_end(&c);
	cr_assert_eq(rc, SH_EFORMAT);
	cr_assert(strstr(log, "not a GGUF header"), "%s", log);
	free(log);
	cr_assert(!hb);
	hub_part_free(&p);
	hub_source_free(src);
	fixture_stop(&x);
}
