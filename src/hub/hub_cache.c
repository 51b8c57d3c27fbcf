/*
 * hub_cache.c - the Hugging Face cache layout on disk (design in hub_cache.h).
 *
 * Paths are built with snprintf into fixed buffers and a truncation is an error, never a shorter
 * path. Snapshot links are relative ("../../blobs/SHA", one more "../" per directory of PATH), as
 * huggingface_hub makes them, so a cache can be moved or mounted elsewhere.
 */
#define _GNU_SOURCE
#include "hub/hub_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"

#define CACHE_PATH_MAX 2048

static int path_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int path_fmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap) {
		sh_log_error("hub cache: path too long (%s...)", buf);
		return SH_ERANGE;
	}
	return SH_OK;
}

int hub_cache_init(hub_cache *c, const char *root)
{
	const char *hub = getenv("HF_HUB_CACHE"), *home = getenv("HF_HOME"), *user = getenv("HOME");
	int rc;
	if (root && *root)
		rc = path_fmt(c->root, sizeof c->root, "%s", root);
	else if (hub && *hub)
		rc = path_fmt(c->root, sizeof c->root, "%s", hub);
	else if (home && *home)
		rc = path_fmt(c->root, sizeof c->root, "%s/hub", home);
	else if (user && *user)
		rc = path_fmt(c->root, sizeof c->root, "%s/.cache/huggingface/hub", user);
	else {
		sh_log_error("hub cache: neither HF_HUB_CACHE, HF_HOME nor HOME is set");
		return SH_EINVAL;
	}
	return rc;
}

int hub_cache_repo_path(const hub_cache *c, const hub_ref *r, const char *sub, char *buf, size_t cap)
{
	return sub ? path_fmt(buf, cap, "%s/models--%s--%s/%s", c->root, r->org, r->repo, sub)
		   : path_fmt(buf, cap, "%s/models--%s--%s", c->root, r->org, r->repo);
}

static int mkdirs(const char *dir)
{
	const char *failed;
	if (sh_mkdir_p(dir, 0755, &failed)) {
		sh_log_error("hub cache: cannot create %s: %s", failed, strerror(errno));
		return SH_EIO;
	}
	return SH_OK;
}

/* the directory part of path made (path itself is a file to come) */
static int mkdirs_of(const char *path)
{
	char dir[CACHE_PATH_MAX];
	snprintf(dir, sizeof dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return SH_OK;
	*slash = 0;
	return mkdirs(dir);
}

static bool commit_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > HUB_COMMIT_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

int hub_cache_ref_read(const hub_cache *c, const hub_ref *r, char commit[HUB_COMMIT_MAX + 1])
{
	char path[CACHE_PATH_MAX], *text;
	size_t len;
	if (hub_cache_repo_path(c, r, "refs/main", path, sizeof path) || sh_file_read(path, 256, &text, &len))
		return SH_EIO;
	text[strcspn(text, " \r\n")] = 0;
	int rc = commit_ok(text) ? SH_OK : SH_EFORMAT;
	if (!rc)
		snprintf(commit, HUB_COMMIT_MAX + 1, "%s", text);
	else
		sh_log_warn("hub cache: %s holds no commit id", path);
	free(text);
	return rc;
}

int hub_cache_ref_write(const hub_cache *c, const hub_ref *r, const char *commit)
{
	char path[CACHE_PATH_MAX];
	if (!commit_ok(commit)) {
		sh_log_error("hub cache: '%.80s' is not a commit id", commit);
		return SH_EINVAL;
	}
	if (hub_cache_repo_path(c, r, "refs/main", path, sizeof path) || mkdirs_of(path))
		return SH_EIO;
	if (sh_file_write_atomic(path, commit, strlen(commit))) {
		sh_log_error("hub cache: cannot write %s: %s", path, strerror(errno));
		return SH_EIO;
	}
	return SH_OK;
}

int hub_cache_blob_path(const hub_cache *c, const hub_ref *r, const char *sha, bool incomplete, char *buf, size_t cap)
{
	char rel[HUB_SHA_HEX + 32];
	snprintf(rel, sizeof rel, "blobs/%.64s%s", sha, incomplete ? ".incomplete" : "");
	return hub_cache_repo_path(c, r, rel, buf, cap);
}

int hub_cache_link(const hub_cache *c, const hub_ref *r, const char *commit, const char *path, const char *sha)
{
	char link[CACHE_PATH_MAX], rel[CACHE_PATH_MAX], target[CACHE_PATH_MAX];
	if (!commit_ok(commit) || path_fmt(rel, sizeof rel, "snapshots/%s/%s", commit, path) ||
	    hub_cache_repo_path(c, r, rel, link, sizeof link) || mkdirs_of(link))
		return SH_EIO;
	size_t at = 0;
	for (const char *p = path; *p; p++) /* one "../" per directory of PATH, then snapshots/COMMIT */
		if (*p == '/' && at + 3 < sizeof target)
			at += (size_t)snprintf(target + at, sizeof target - at, "../");
	if (path_fmt(target + at, sizeof target - at, "../../blobs/%s", sha))
		return SH_ERANGE;
	char tmp[CACHE_PATH_MAX + 16];
	if (path_fmt(tmp, sizeof tmp, "%s.tmp.%d", link, (int)getpid()))
		return SH_ERANGE;
	unlink(tmp);
	if (symlink(target, tmp) != 0 || rename(tmp, link) != 0) {
		sh_log_error("hub cache: cannot link %s: %s", link, strerror(errno));
		unlink(tmp);
		return SH_EIO;
	}
	return SH_OK;
}

int hub_cache_lock(const hub_cache *c, const hub_ref *r, const char *sha)
{
	char path[CACHE_PATH_MAX];
	if (path_fmt(path, sizeof path, "%s/.locks/models--%s--%s/%s.lock", c->root, r->org, r->repo, sha) ||
	    mkdirs_of(path))
		return SH_EIO;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		sh_log_error("hub cache: cannot open the lock %s: %s", path, strerror(errno));
		return SH_EIO;
	}
	while (flock(fd, LOCK_EX) != 0) {
		if (errno == EINTR)
			continue;
		sh_log_error("hub cache: cannot lock %s: %s", path, strerror(errno));
		close(fd);
		return SH_EIO;
	}
	return fd;
}

void hub_cache_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* the flock goes with the file */
}

/* ---------------------------------------------------------------- listing */
typedef struct {
	hub_cache_file *v;
	int n, cap;
} file_list;

/* the sha a snapshot link points at: the last component of its target, if 64 hex digits */
static void link_sha(const char *link, char sha[HUB_SHA_HEX + 1])
{
	char target[CACHE_PATH_MAX];
	ssize_t k = readlink(link, target, sizeof target - 1);
	sha[0] = 0;
	if (k <= 0)
		return;
	target[k] = 0;
	const char *b = strrchr(target, '/');
	b = b ? b + 1 : target;
	if (strlen(b) != HUB_SHA_HEX || strspn(b, "0123456789abcdef") != HUB_SHA_HEX)
		return;
	memcpy(sha, b, HUB_SHA_HEX + 1);
}

static int snapshot_walk(const char *dir, const char *rel, file_list *l, int depth)
{
	if (depth > 16)
		return SH_OK;
	DIR *d = opendir(dir);
	if (!d)
		return SH_EIO;
	int rc = SH_OK;
	struct dirent *e;
	while (!rc && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char full[CACHE_PATH_MAX], sub[HUB_PATH_MAX + 1];
		if (snprintf(full, sizeof full, "%s/%s", dir, e->d_name) >= (int)sizeof full ||
		    snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof sub)
			continue;
		struct stat lst, st;
		if (lstat(full, &lst) != 0)
			continue;
		if (S_ISDIR(lst.st_mode)) {
			rc = snapshot_walk(full, sub, l, depth + 1);
			continue;
		}
		if (l->n == l->cap) {
			int cap = l->cap ? 2 * l->cap : 16;
			hub_cache_file *v = realloc(l->v, (size_t)cap * sizeof *v);
			if (!v) {
				rc = SH_ENOMEM;
				break;
			}
			l->v = v;
			l->cap = cap;
		}
		hub_cache_file *f = &l->v[l->n++];
		memset(f, 0, sizeof *f);
		snprintf(f->path, sizeof f->path, "%s", sub);
		link_sha(full, f->sha);
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
			f->complete = true;
			f->size = (uint64_t)st.st_size;
			f->mtime = st.st_mtime;
		}
	}
	closedir(d);
	return rc;
}

static int file_cmp(const void *a, const void *b)
{
	return strcmp(((const hub_cache_file *)a)->path, ((const hub_cache_file *)b)->path);
}

int hub_cache_snapshot(const hub_cache *c, const hub_ref *r, const char *commit, hub_cache_file **out, int *n)
{
	char dir[CACHE_PATH_MAX], rel[HUB_COMMIT_MAX + 16];
	*out = NULL;
	*n = 0;
	if (!commit_ok(commit))
		return SH_EINVAL;
	snprintf(rel, sizeof rel, "snapshots/%s", commit);
	if (hub_cache_repo_path(c, r, rel, dir, sizeof dir))
		return SH_ERANGE;
	file_list l = { 0 };
	int rc = snapshot_walk(dir, "", &l, 0);
	if (rc) {
		free(l.v);
		return rc;
	}
	qsort(l.v, (size_t)l.n, sizeof *l.v, file_cmp);
	*out = l.v;
	*n = l.n;
	return SH_OK;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int hub_cache_repos(const hub_cache *c, void (*fn)(void *user, const char *org, const char *repo), void *user)
{
	DIR *d = opendir(c->root);
	if (!d)
		return errno == ENOENT ? SH_OK : SH_EIO;
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	int rc = SH_OK;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "models--", 8) || !strstr(e->d_name + 8, "--"))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			char **v = realloc(names, cap * sizeof *v);
			if (!v) {
				rc = SH_ENOMEM;
				break;
			}
			names = v;
		}
		if (!(names[n] = strdup(e->d_name))) {
			rc = SH_ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof *names, name_cmp);
	for (size_t i = 0; i < n; i++) {
		char *org = names[i] + 8, *sep = strstr(org, "--");
		*sep = 0;
		if (!rc)
			fn(user, org, sep + 2);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* ---------------------------------------------------------------- removing */
/* whether any snapshot of the repo still links to blob sha */
static bool blob_used(const hub_cache *c, const hub_ref *r, const char *sha)
{
	char dir[CACHE_PATH_MAX];
	if (hub_cache_repo_path(c, r, "snapshots", dir, sizeof dir))
		return true;
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool used = false;
	struct dirent *e;
	while (!used && (e = readdir(d))) {
		hub_cache_file *f;
		int n;
		if (e->d_name[0] == '.' || hub_cache_snapshot(c, r, e->d_name, &f, &n))
			continue;
		for (int i = 0; i < n && !used; i++)
			used = !strcmp(f[i].sha, sha);
		free(f);
	}
	closedir(d);
	return used;
}

/* rmdir of path's directories up to (not including) stop, while they are empty */
static void rmdir_up(char *path, size_t stop)
{
	for (char *slash; (slash = strrchr(path, '/')) && (size_t)(slash - path) > stop;) {
		*slash = 0;
		if (rmdir(path) != 0)
			break;
	}
}

int hub_cache_remove(const hub_cache *c, const hub_ref *r, const char *commit, const hub_cache_file *files,
		     int n, uint64_t *freed)
{
	char repo[CACHE_PATH_MAX], path[CACHE_PATH_MAX], rel[CACHE_PATH_MAX];
	*freed = 0;
	if (hub_cache_repo_path(c, r, NULL, repo, sizeof repo) || !commit_ok(commit))
		return SH_EINVAL;
	for (int i = 0; i < n; i++) {
		if (path_fmt(rel, sizeof rel, "snapshots/%s/%s", commit, files[i].path) ||
		    hub_cache_repo_path(c, r, rel, path, sizeof path))
			return SH_ERANGE;
		if (unlink(path) != 0 && errno != ENOENT) {
			sh_log_error("hub cache: cannot remove %s: %s", path, strerror(errno));
			return SH_EIO;
		}
		rmdir_up(path, strlen(repo) + strlen("/snapshots"));
	}
	for (int i = 0; i < n; i++) {
		if (!files[i].sha[0] || blob_used(c, r, files[i].sha))
			continue;
		/* the blob, a pull's .incomplete, and a chunked blob's .part and .chunks (hub_part.h) */
		static const char *const suffix[] = { "", ".incomplete", ".part", ".chunks" };
		for (size_t k = 0; k < SH_ARRAY_LEN(suffix); k++) {
			struct stat st;
			char blob[CACHE_PATH_MAX];
			if (hub_cache_blob_path(c, r, files[i].sha, false, blob, sizeof blob) ||
			    path_fmt(path, sizeof path, "%s%s", blob, suffix[k]) || lstat(path, &st) != 0)
				continue;
			if (unlink(path) == 0)
				*freed += (uint64_t)st.st_size;
			else
				sh_log_warn("hub cache: cannot remove %s: %s", path, strerror(errno));
		}
	}
	char snap[CACHE_PATH_MAX];
	snprintf(rel, sizeof rel, "snapshots/%s", commit);
	if (!hub_cache_repo_path(c, r, rel, snap, sizeof snap) && access(snap, F_OK) != 0) {
		char head[HUB_COMMIT_MAX + 1];
		if (!hub_cache_ref_read(c, r, head) && !strcmp(head, commit) &&
		    !hub_cache_repo_path(c, r, "refs/main", path, sizeof path)) {
			unlink(path);
			rmdir_up(path, strlen(repo));
		}
		const char *dirs[] = { "snapshots", "blobs", NULL };
		for (int i = 0; dirs[i]; i++)
			if (!hub_cache_repo_path(c, r, dirs[i], path, sizeof path))
				rmdir(path);
		if (rmdir(repo) == 0 && !path_fmt(path, sizeof path, "%s/.locks/models--%s--%s", c->root, r->org, r->repo)) {
			DIR *d = opendir(path); /* the repo's locks go with it */
			struct dirent *e;
			while (d && (e = readdir(d))) {
				char lock[CACHE_PATH_MAX];
				if (e->d_name[0] != '.' && !path_fmt(lock, sizeof lock, "%s/%s", path, e->d_name))
					unlink(lock);
			}
			if (d)
				closedir(d);
			rmdir(path);
		}
	}
	return SH_OK;
}
