/*
 * hub_pull.h - models by reference: resolved from the cache, pulled from a Hugging Face hub
 * (libcurl) when missing.
 *
 * The hub's interface, as its own clients use it:
 *   GET  ENDPOINT/api/models/ORG/REPO/tree/main?recursive=true   the files (size; lfs.oid = sha256),
 *        paginated by a Link: <...>; rel="next" header
 *   HEAD ENDPOINT/ORG/REPO/resolve/main/PATH   X-Repo-Commit; a large (LFS) file answers 302 to a
 *        CDN URL with X-Linked-Etag (its sha256, quoted) and X-Linked-Size; the CDN honours Range
 *   401/403 gated or no access, 404 no such repo or file, 429 with Retry-After, 5xx: try again
 *
 * Never trust a byte, never start over: data goes to blobs/SHA.incomplete, a dropped, stalled or
 * refused transfer resumes with Range after a backoff (Retry-After honoured; at most HUB_TRIES
 * failures in a row, no wait above HUB_WAIT_MAX), the sha256 is checked before the blob is
 * renamed into place (a mismatch starts the file once more, then fails naming both hashes), and a
 * flock per blob makes a second pull of the same file wait and then share it. A full disk or no
 * network is one error line; the partial stays for the next pull.
 */
#ifndef SHOAL_HUB_PULL_H
#define SHOAL_HUB_PULL_H

#include <jansson.h>

#include "hub/hub_cache.h"

#define HUB_TRIES 8          /* failed attempts in a row before a download gives up */
#define HUB_WAIT_MAX 60.0    /* seconds: the longest wait between attempts (Retry-After included) */
#define HUB_DEFAULT_ENDPOINT "https://huggingface.co"

/* a download's progress, for a bar on a terminal, log lines, or the web UI */
typedef struct {
	const char *file;        /* the repo path */
	int index, count;        /* this file among the count being pulled (from 0) */
	uint64_t done, total;    /* bytes (done includes what an earlier pull left) */
	double rate;             /* bytes per second, recent */
	bool finished;           /* the file is whole and checked (or, when failed, given up) */
	const char *source;      /* where the bytes come from when not the hub ("2 peers"), or NULL */
} hub_progress;
typedef void (*hub_progress_fn)(void *user, const hub_progress *p);

typedef struct {
	const char *endpoint;    /* NULL: $HF_ENDPOINT, else HUB_DEFAULT_ENDPOINT */
	const char *token;       /* NULL: $HF_TOKEN */
	bool offline;            /* the cache only (also when $HF_HUB_OFFLINE is 1/true/yes/on) */
	bool update;             /* ask the hub even when the cache has the model (shoal pull) */
	hub_progress_fn progress;/* NULL: none; called at most ~10 times a second per file */
	void *user;
} hub_opts;

/* one file of a repo, from the hub's tree or a cached snapshot */
typedef struct {
	char path[HUB_PATH_MAX + 1];
	char sha[HUB_SHA_HEX + 1];   /* lfs.oid (sha256); a small file: its git oid, "" when unknown */
	uint64_t size;
	bool lfs, complete;          /* complete: in the cache */
	time_t mtime;
} hub_file;

/* The GGUF file(s) ref names among files (see hub_ref.h; a split set whole, in part order): 0 and
 * the indices in pick[0 .. *n_pick) (cap entries), or SH_EINVAL with the reason, which lists what
 * the repo has (an unknown or ambiguous quant: its quants), in why. */
int hub_pick(const hub_file *files, int n, const hub_ref *r, int *pick, int *n_pick, int cap, char *why,
	     size_t why_cap);

/* One page of the tree listing (JSON, len bytes) appended to *files (*n of *cap, grown with
 * realloc; free it even on failure): entries of type "file" with a path of at most HUB_PATH_MAX
 * bytes and a size; the sha256 from lfs.oid, else the git oid. false when it is not the hub's
 * shape (an entry without type or path, a bad size, more than 100000 files). */
bool hub_tree_parse(const char *text, size_t len, hub_file **files, int *n, int *cap);

/* The model ref names, on this machine: its first file's path inside the snapshot (a split set:
 * part 1, the others beside it) in path. From the cache when it has it (and !o->update), else
 * pulled. Errors are logged: one line saying what failed and what to do. */
int hub_model(const hub_cache *c, const hub_ref *r, const hub_opts *o, char *path, size_t cap);

/* The model ref names, located without pulling its bytes, for a cluster that fetches them in
 * chunks (hub_part.h): the file (in *file), its commit, and the paths of its snapshot link (path)
 * and of its blob (blob: blobs/SHA, whole or not). From the cache when it has the snapshot (and
 * !o->update), else from the hub's listing and a HEAD, after which the snapshot is linked (to a
 * blob that may not be there yet). A split set is SH_EUNSUP, nothing logged: the caller pulls it
 * whole with hub_model. Other errors are logged as hub_model's are.
 * As hub_model, the cache answers only when the blob is whole (only then is its size known there;
 * offline, a blob still arriving is an error); file->complete says whether it is. refs/main is
 * written when it is whole; otherwise the caller writes it (hub_cache_ref_write) once hub_part_finish
 * made the blob whole, so that the cache answers from then on. */
int hub_model_locate(const hub_cache *c, const hub_ref *r, const hub_opts *o, hub_file *file,
		     char commit[HUB_COMMIT_MAX + 1], char *path, size_t path_cap, char *blob, size_t blob_cap);

/* Range requests of one file of a repo: its own libcurl handle, so one thread uses it at a time. */
typedef struct hub_source hub_source;
/* Nothing is sent yet (the URL is resolved by the first hub_range_get). o must outlive it. commit
 * (NULL or "": main) pins the revision resolved. NULL and *err (logged) for a path or commit that
 * cannot be one, offline (o->offline or $HF_HUB_OFFLINE: SH_EINVAL), or no libcurl. */
hub_source *hub_source_open(const hub_ref *r, const hub_opts *o, const char *commit, const char *path, int *err);
void hub_source_free(hub_source *s);
/* Bytes [off, off + len) of the file into buf, exactly, with a pull's care: a dropped, stalled or
 * refused transfer is retried from where it stopped (backoff, Retry-After, HUB_TRIES failures in a
 * row), the URL resolved again when the CDN refuses it (an expired signed URL); 401/403/404 and an
 * unreachable hub fail at once. Errors are logged naming the file. Each request asks for
 * bytes=done-(off+len-1) and wants 206 from done (200 only when that is the whole file); an answer
 * longer than asked is SH_EFORMAT, bytes past the file's end SH_EINVAL, len 0 sends nothing. */
int hub_range_get(hub_source *s, uint64_t off, size_t len, void *buf);
/* body bytes this source received, retries and discarded ones included */
uint64_t hub_source_bytes(const hub_source *s);
/* The GGUF header of the file (size bytes) alone: [0, min(size, 64 KiB)) with hub_range_get, then
 * as much more as gguf_header_size asks for (at least twice what it has, to take few requests):
 * 0 and a malloc'd *buf of *len bytes, the data offset. SH_EFORMAT (logged) when it is not a GGUF
 * header, or one longer than the file or 512 MiB; SH_EUNSUP for one gguf_open does not read;
 * hub_range_get's errors. */
int hub_source_header(hub_source *s, uint64_t size, uint8_t **buf, uint64_t *len);

/* a model in the cache: one GGUF file or split set of one snapshot */
typedef struct {
	hub_ref ref;                 /* its reference: ORG/REPO:QUANT, or ORG/REPO/FILE when the quant
				      * does not name it alone */
	char commit[HUB_COMMIT_MAX + 1];
	char quant[HUB_NAME_MAX + 1];/* "" when the name has none */
	int parts;                   /* 1, or the split set's count */
	uint64_t size;               /* of the files present */
	time_t mtime;                /* the newest file's */
	bool complete;               /* every file's blob is there */
	bool main;                   /* the snapshot refs/main names */
} hub_cached;

/* every model in the cache, sorted by reference: 0 and a malloc'd *out of *n */
int hub_cached_models(const hub_cache *c, hub_cached **out, int *n);
/* one of them as `shoal ls --json` and GET /api/shoal/models show it: reference, quant (null when
 * none), size, modified (unix seconds), complete, parts, commit, main */
json_t *hub_cached_json(const hub_cached *m);
/* removes the cached model ref names (every snapshot's files of it) and the blobs no snapshot
 * still uses; *freed the bytes. SH_EINVAL (logged) when the cache has no such model. */
int hub_cached_remove(const hub_cache *c, const hub_ref *r, uint64_t *freed);

/* whether $HF_HUB_OFFLINE asks for the cache only */
bool hub_offline_env(void);

#endif
