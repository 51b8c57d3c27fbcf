/*
 * hub_cache.h - the Hugging Face cache on disk, shared with huggingface_hub and llama.cpp.
 *
 * The layout is huggingface_hub's, so a file pulled by any of them is found by all:
 *
 *   ROOT/models--ORG--REPO/blobs/SHA256               the file's bytes, named by their sha256
 *   ROOT/models--ORG--REPO/blobs/SHA256.incomplete    a download in progress (resumed, never trusted)
 *   ROOT/models--ORG--REPO/blobs/SHA256.part, .chunks a blob arriving in chunks and its map (hub_part.h)
 *   ROOT/models--ORG--REPO/snapshots/COMMIT/PATH      a relative symlink to ../../blobs/SHA256
 *   ROOT/models--ORG--REPO/refs/main                  the commit that "main" was at the last pull
 *   ROOT/.locks/models--ORG--REPO/SHA256.lock         flock held while a blob is being written
 *
 * ROOT is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. A blob becomes visible
 * (renamed from .incomplete) only after its sha256 was checked, so whatever a snapshot links to is
 * whole. Nothing here talks to the network or knows what a model is.
 */
#ifndef SHOAL_HUB_CACHE_H
#define SHOAL_HUB_CACHE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "hub/hub_ref.h"

#define HUB_SHA_HEX 64
#define HUB_COMMIT_MAX 64

typedef struct {
	char root[1024];
} hub_cache;

/* root from the environment (or the given one when non-NULL); nothing is created yet */
int hub_cache_init(hub_cache *c, const char *root);

/* one file of a snapshot */
typedef struct {
	char path[HUB_PATH_MAX + 1];   /* inside the repo: "sub/x-Q4_K_M.gguf" */
	char sha[HUB_SHA_HEX + 1];     /* the blob linked to ("" when the link is not to a blob) */
	uint64_t size;                 /* the blob's (0 when absent) */
	time_t mtime;                  /* the blob's */
	bool complete;                 /* the blob exists */
} hub_cache_file;

/* "ROOT/models--ORG--REPO" (and deeper: the rest appended with a '/' when sub is non-NULL) */
int hub_cache_repo_path(const hub_cache *c, const hub_ref *r, const char *sub, char *buf, size_t cap);
/* refs/main: 0 and the commit, or SH_EIO when there is none */
int hub_cache_ref_read(const hub_cache *c, const hub_ref *r, char commit[HUB_COMMIT_MAX + 1]);
int hub_cache_ref_write(const hub_cache *c, const hub_ref *r, const char *commit);
/* the files of snapshots/COMMIT, recursively, sorted by path: 0 and a malloc'd *out of *n */
int hub_cache_snapshot(const hub_cache *c, const hub_ref *r, const char *commit, hub_cache_file **out, int *n);
/* blobs/SHA (or blobs/SHA.incomplete) */
int hub_cache_blob_path(const hub_cache *c, const hub_ref *r, const char *sha, bool incomplete, char *buf, size_t cap);
/* snapshots/COMMIT/PATH -> ../../blobs/SHA (replacing what was there) */
int hub_cache_link(const hub_cache *c, const hub_ref *r, const char *commit, const char *path, const char *sha);
/* takes .locks/models--ORG--REPO/SHA.lock (waits while another process holds it): the fd, or < 0 */
int hub_cache_lock(const hub_cache *c, const hub_ref *r, const char *sha);
void hub_cache_unlock(int fd);

/* every repo in the cache: fn(user, org, repo) for each models--ORG--REPO (sorted) */
int hub_cache_repos(const hub_cache *c, void (*fn)(void *user, const char *org, const char *repo), void *user);
/* removes these files of snapshots/COMMIT, then every blob no snapshot links to (with its
 * .incomplete, .part and .chunks), then what is left empty (the snapshot, refs/main when its snapshot is gone, the repo); *freed gets the bytes */
int hub_cache_remove(const hub_cache *c, const hub_ref *r, const char *commit, const hub_cache_file *files,
		     int n, uint64_t *freed);

#endif
