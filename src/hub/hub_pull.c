/*
 * hub_pull.c - picking a repo's GGUF files and pulling them into the cache (design in hub_pull.h).
 *
 * One download is a loop of attempts over one easy handle: HEAD the resolve URL (no redirects
 * followed, so the 302's X-Linked-* headers are seen; a relative Location is the hub renaming the
 * repo and is followed with the token, an absolute one is the CDN, which gets no token), then GET
 * the CDN URL with Range from what .incomplete holds. Bytes are written and hashed as they come;
 * the hash of a resumed file is first brought up to date by reading what is on disk. An attempt
 * ends in: done, a reason to wait and try again (a drop, a stall below 1 KiB/s for 30 s, 429, 5xx),
 * or an error that trying again cannot fix (401/403/404, a full disk).
 */
#define _GNU_SOURCE
#include "hub/hub_pull.h"

#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/base.h"
#include "gguf/gguf.h"

#define URL_MAX 4096
#define TREE_MAX_BYTES (64u << 20)  /* a tree page larger than this is not a hub's */
#define TREE_MAX_FILES 100000
#define PICK_MAX 256

bool hub_offline_env(void)
{
	const char *v = getenv("HF_HUB_OFFLINE");
	return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"));
}

/* ---------------------------------------------------------------- picking files */
/* the split set a name belongs to: the length of its prefix before "-00001-of-00003.gguf" and the
 * part's number and count; 0 parts: not split */
static size_t split_of(const char *path, int *no, int *count)
{
	int n, c;
	*no = *count = 0;
	if (!gguf_split_parts(path, &n, &c) || c < 2)
		return strlen(path);
	*no = n;
	*count = c;
	return strlen(path) - strlen("-00001-of-00003.gguf");
}

static bool is_gguf(const char *p)
{
	size_t n = strlen(p);
	return n > 5 && !strcasecmp(p + n - 5, ".gguf");
}

/* the files of the set that file i starts (i itself when it is not split), in part order; 0 when i
 * is a later part or the set is incomplete */
static int set_of(const hub_file *f, int n, int i, int *out, int cap)
{
	int no, count;
	size_t pre = split_of(f[i].path, &no, &count);
	if (!count) {
		out[0] = i;
		return 1;
	}
	if (no != 1 || count > cap)
		return 0;
	for (int k = 1; k <= count; k++) {
		out[k - 1] = -1;
		for (int j = 0; j < n; j++) {
			int jno, jc;
			size_t jpre = split_of(f[j].path, &jno, &jc);
			if (jno == k && jc == count && jpre == pre && !strncmp(f[j].path, f[i].path, pre))
				out[k - 1] = j;
		}
		if (out[k - 1] < 0)
			return 0;
	}
	return count;
}

static uint64_t set_size(const hub_file *f, const int *set, int n)
{
	uint64_t s = 0;
	for (int k = 0; k < n; k++)
		s += f[set[k]].size;
	return s;
}

/* appends ", " + s to why */
static void why_add(char *why, size_t cap, const char *s)
{
	size_t at = strlen(why);
	if (at + 8 < cap)
		snprintf(why + at, cap - at, "%s%s", at && why[at - 1] != ' ' ? ", " : "", s);
}

/* "its quants: Q4_K_M, Q8_0" or "its GGUF files: a.gguf, b.gguf" when the names have no quant */
static void why_quants(const hub_file *f, int n, char *why, size_t cap)
{
	char seen[64][HUB_NAME_MAX + 1];
	int n_seen = 0, n_gguf = 0;
	for (int i = 0; i < n; i++) {
		int set[PICK_MAX];
		char q[HUB_NAME_MAX + 1];
		if (!is_gguf(f[i].path) || !set_of(f, n, i, set, PICK_MAX))
			continue;
		n_gguf++;
		if (!hub_quant_of(f[i].path, q, sizeof q))
			continue;
		bool dup = false;
		for (int k = 0; k < n_seen; k++)
			dup |= !strcmp(seen[k], q);
		if (!dup && n_seen < 64)
			snprintf(seen[n_seen++], sizeof seen[0], "%s", q);
	}
	if (!n_gguf) {
		why_add(why, cap, "it has no GGUF files");
		return;
	}
	if (n_seen) {
		why_add(why, cap, "its quants: ");
		for (int k = 0; k < n_seen; k++)
			why_add(why, cap, seen[k]);
		return;
	}
	why_add(why, cap, "its GGUF files: ");
	for (int i = 0; i < n; i++)
		if (is_gguf(f[i].path))
			why_add(why, cap, f[i].path);
}

int hub_pick(const hub_file *f, int n, const hub_ref *r, int *pick, int *n_pick, int cap, char *why, size_t why_cap)
{
	char repo[2 * HUB_NAME_MAX + 2];
	hub_ref_repo(r, repo, sizeof repo);
	why[0] = 0;
	*n_pick = 0;
	int set[PICK_MAX];
	if (r->file[0]) {
		for (int i = 0; i < n; i++) {
			if (strcmp(f[i].path, r->file))
				continue;
			int k = set_of(f, n, i, set, PICK_MAX);
			if (!k) {
				snprintf(why, why_cap, "%s is part of a split set whose first part or others are missing", r->file);
				return SH_EINVAL;
			}
			if (k > cap)
				break;
			memcpy(pick, set, (size_t)k * sizeof *set);
			*n_pick = k;
			return SH_OK;
		}
		snprintf(why, why_cap, "%s has no file %s; ", repo, r->file);
		why_quants(f, n, why, why_cap);
		return SH_EINVAL;
	}
	/* candidates: exact quant matches; else names holding the quant; none given: Q4_K_M */
	const char *want = r->quant[0] ? r->quant : "Q4_K_M";
	int best = -1, n_match = 0;
	char matches[512] = "";
	for (int pass = 0; pass < 2 && !n_match; pass++) {
		for (int i = 0; i < n; i++) {
			char q[HUB_NAME_MAX + 1];
			if (!is_gguf(f[i].path) || !set_of(f, n, i, set, PICK_MAX))
				continue;
			bool ok = pass == 0 ? hub_quant_of(f[i].path, q, sizeof q) && !strcasecmp(q, want)
					    : r->quant[0] && strcasestr(f[i].path, want);
			if (!ok)
				continue;
			n_match++;
			best = i;
			why_add(matches, sizeof matches, f[i].path);
		}
	}
	if (n_match > 1) {
		snprintf(why, why_cap, "%s:%s is ambiguous: %s; name the file as %s/FILE", repo, want, matches, repo);
		return SH_EINVAL;
	}
	if (!n_match && r->quant[0]) {
		snprintf(why, why_cap, "%s has no %s; ", repo, r->quant);
		why_quants(f, n, why, why_cap);
		return SH_EINVAL;
	}
	if (!n_match) { /* no Q4_K_M: the smallest set of at least 4 bits */
		uint64_t best_size = UINT64_MAX;
		for (int i = 0; i < n; i++) {
			char q[HUB_NAME_MAX + 1];
			int k;
			if (!is_gguf(f[i].path) || !(k = set_of(f, n, i, set, PICK_MAX)) ||
			    !hub_quant_of(f[i].path, q, sizeof q) || hub_quant_bits(q) < 4)
				continue;
			if (set_size(f, set, k) < best_size) {
				best_size = set_size(f, set, k);
				best = i;
			}
		}
		if (best < 0) {
			snprintf(why, why_cap, "%s has no GGUF file of at least 4 bits to pick; ", repo);
			why_quants(f, n, why, why_cap);
			return SH_EINVAL;
		}
	}
	int k = set_of(f, n, best, set, PICK_MAX);
	if (k > cap) {
		snprintf(why, why_cap, "%s: a set of %d parts is too many", f[best].path, k);
		return SH_EINVAL;
	}
	memcpy(pick, set, (size_t)k * sizeof *set);
	*n_pick = k;
	return SH_OK;
}

/* ---------------------------------------------------------------- HTTP */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* what one request's response headers say */
typedef struct {
	long status;
	char commit[HUB_COMMIT_MAX + 1];
	char linked_etag[HUB_SHA_HEX + 1];
	char location[URL_MAX];
	char next[URL_MAX];          /* Link rel="next" */
	char error_code[64];         /* X-Error-Code */
	char error_msg[256];         /* X-Error-Message */
	double retry_after;          /* seconds, 0: none */
	uint64_t linked_size;
	int64_t range_start;         /* Content-Range's first byte, -1: none */
} resp;

static void resp_reset(resp *h)
{
	memset(h, 0, sizeof *h);
	h->range_start = -1;
}

/* copies a header value, trimmed of spaces, CR/LF and (quoted) quotes */
static void header_value(const char *v, size_t n, char *out, size_t cap, bool unquote)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (unquote && n >= 2 && v[0] == '"' && v[n - 1] == '"')
		v++, n -= 2;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, v, n);
	out[n] = 0;
}

static size_t on_header(char *line, size_t size, size_t nmemb, void *user)
{
	resp *h = user;
	size_t n = size * nmemb;
	char buf[URL_MAX];
	const char *colon = memchr(line, ':', n);
	if (!strncmp(line, "HTTP/", 5)) { /* a new response (after a 100 or a followed redirect) */
		resp_reset(h);
		return n;
	}
	if (!colon)
		return n;
	size_t kn = (size_t)(colon - line);
	const char *v = colon + 1;
	size_t vn = n - kn - 1;
#define IS(k) (kn == strlen(k) && !strncasecmp(line, k, kn))
	if (IS("x-repo-commit"))
		header_value(v, vn, h->commit, sizeof h->commit, false);
	else if (IS("x-linked-etag"))
		header_value(v, vn, h->linked_etag, sizeof h->linked_etag, true);
	else if (IS("x-linked-size")) {
		header_value(v, vn, buf, sizeof buf, false);
		h->linked_size = strtoull(buf, NULL, 10);
	} else if (IS("location"))
		header_value(v, vn, h->location, sizeof h->location, false);
	else if (IS("x-error-code"))
		header_value(v, vn, h->error_code, sizeof h->error_code, false);
	else if (IS("x-error-message"))
		header_value(v, vn, h->error_msg, sizeof h->error_msg, false);
	else if (IS("retry-after")) {
		header_value(v, vn, buf, sizeof buf, false);
		char *end;
		double s = strtod(buf, &end);
		h->retry_after = end != buf && s > 0 ? s : 5; /* an HTTP date: a few seconds */
	} else if (IS("content-range")) {
		header_value(v, vn, buf, sizeof buf, false);
		long long a;
		if (sscanf(buf, "bytes %lld-", &a) == 1 && a >= 0)
			h->range_start = a;
	} else if (IS("link")) {
		header_value(v, vn, buf, sizeof buf, false);
		char *rel = strstr(buf, "rel=\"next\"");
		if (rel) { /* <URL>; rel="next" (the last <...> before it) */
			*rel = 0;
			char *lt = strrchr(buf, '<'), *gt = lt ? strchr(lt, '>') : NULL;
			if (lt && gt && (size_t)(gt - lt - 1) < sizeof h->next) {
				memcpy(h->next, lt + 1, (size_t)(gt - lt - 1));
				h->next[gt - lt - 1] = 0;
			}
		}
	}
#undef IS
	return n;
}

typedef struct {
	const hub_cache *c;
	const hub_ref *r;
	const hub_opts *o;
	const char *endpoint, *token;
	char repo[2 * HUB_NAME_MAX + 2];
	CURL *curl;
	char err[CURL_ERROR_SIZE];
} session;

/* sets up s->curl for one request to url; auth: send the token */
static struct curl_slist *request_init(session *s, const char *url, bool auth, resp *h)
{
	CURL *k = s->curl;
	curl_easy_reset(k);
	resp_reset(h);
	s->err[0] = 0;
	curl_easy_setopt(k, CURLOPT_URL, url);
	curl_easy_setopt(k, CURLOPT_ERRORBUFFER, s->err);
	curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(k, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(k, CURLOPT_USERAGENT, "shoal/" "0.1 (libcurl)");
	curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(k, CURLOPT_LOW_SPEED_LIMIT, 1024L); /* a stall: under 1 KiB/s ... */
	curl_easy_setopt(k, CURLOPT_LOW_SPEED_TIME, 30L);    /* ... for 30 s */
	curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
	struct curl_slist *hd = NULL;
	if (auth && s->token && *s->token) {
		char a[1200];
		snprintf(a, sizeof a, "Authorization: Bearer %s", s->token);
		hd = curl_slist_append(hd, a);
	}
	curl_easy_setopt(k, CURLOPT_HTTPHEADER, hd);
	return hd;
}

/* how an attempt ended */
enum { TRY_OK, TRY_AGAIN, TRY_FAIL };

/* the error of a response that is not 2xx/3xx, classified; logs the ones that are final */
static int status_judge(session *s, const resp *h, const char *what)
{
	long st = h->status;
	if (st == 429 || st >= 500 || st == 408)
		return TRY_AGAIN;
	if (st == 401 || st == 403) {
		if (s->token && *s->token)
			sh_log_error("pull %s: %s: %ld%s%s: the token (HF_TOKEN or --token) has no access to this repo; "
				     "a gated repo asks you to accept its terms on its page first",
				     s->repo, what, st, h->error_msg[0] ? " " : "", h->error_msg);
		else
			sh_log_error("pull %s: %s: %ld: the repo is gated or private; set HF_TOKEN or pass --token "
				     "with a token that has access", s->repo, what, st);
		return TRY_FAIL;
	}
	if (st == 404) {
		if (!strcmp(h->error_code, "EntryNotFound"))
			sh_log_error("pull %s: %s: no such file in the repo", s->repo, what);
		else if (!strcmp(h->error_code, "RevisionNotFound"))
			sh_log_error("pull %s: %s: no such revision", s->repo, what);
		else
			sh_log_error("pull %s: no such repo on %s (%s: 404)", s->repo, s->endpoint, what);
		return TRY_FAIL;
	}
	sh_log_error("pull %s: %s: HTTP %ld%s%s", s->repo, what, st, h->error_msg[0] ? ": " : "", h->error_msg);
	return TRY_FAIL;
}

/* a transport error: worth another try, or not (no network: one clear line) */
static int curl_judge(session *s, CURLcode rc, const char *what)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		sh_log_error("pull %s: cannot reach %s: %s (no network? HF_HUB_OFFLINE=1 or --offline uses the cache only)",
			     s->repo, s->endpoint, s->err[0] ? s->err : curl_easy_strerror(rc));
		return TRY_FAIL;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		sh_log_error("pull %s: %s: %s", s->repo, what, s->err[0] ? s->err : curl_easy_strerror(rc));
		return TRY_FAIL;
	default:
		return TRY_AGAIN;
	}
}

/* the wait before attempt `fails` (1, 2, ...): 0.5 s doubling, or Retry-After; capped */
static void backoff(session *s, int fails, double retry_after, const char *why)
{
	double w = retry_after > 0 ? retry_after : 0.5 * (double)(1 << SH_MIN(fails - 1, 8));
	if (w > HUB_WAIT_MAX)
		w = HUB_WAIT_MAX;
	sh_log_warn("pull %s: %s; trying again in %.1f s (%d of %d)", s->repo, why, w, fails, HUB_TRIES);
	struct timespec ts = { (time_t)w, (long)((w - (double)(time_t)w) * 1e9) };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* what went wrong with an attempt, for the "trying again" line */
static void attempt_why(session *s, const char *what, CURLcode crc, long status, char *buf, size_t cap)
{
	if (crc != CURLE_OK)
		snprintf(buf, cap, "%s: %s", what, s->err[0] ? s->err : curl_easy_strerror(crc));
	else
		snprintf(buf, cap, "%s: HTTP %ld%s", what, status, status == 429 ? " (too many requests)" : "");
}

/* ---------------------------------------------------------------- the tree */
typedef struct {
	char *p;
	size_t n;
	bool too_big;
} body;

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
	body *b = user;
	size_t n = size * nmemb;
	if (b->n + n > TREE_MAX_BYTES) {
		b->too_big = true;
		return 0;
	}
	char *p = realloc(b->p, b->n + n + 1);
	if (!p)
		return 0;
	memcpy(p + b->n, data, n);
	b->p = p;
	b->n += n;
	p[b->n] = 0;
	return n;
}

static bool hex_ok(const char *s, size_t n)
{
	return strlen(s) == n && strspn(s, "0123456789abcdef") == n;
}

bool hub_tree_parse(const char *text, size_t len, hub_file **files, int *n, int *cap)
{
	json_error_t je;
	json_t *a = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	bool ok = json_is_array(a);
	size_t i;
	json_t *e;
	json_array_foreach(ok ? a : NULL, i, e) {
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *path = json_string_value(json_object_get(e, "path"));
		json_t *size = json_object_get(e, "size"), *lfs = json_object_get(e, "lfs");
		if (!type || !path) {
			ok = false;
			break;
		}
		if (strcmp(type, "file"))
			continue;
		if (strlen(path) > HUB_PATH_MAX || !json_is_integer(size) || json_integer_value(size) < 0 ||
		    *n >= TREE_MAX_FILES) {
			ok = false;
			break;
		}
		if (*n == *cap) {
			int c = *cap ? 2 * *cap : 64;
			hub_file *v = realloc(*files, (size_t)c * sizeof *v);
			if (!v) {
				ok = false;
				break;
			}
			*files = v;
			*cap = c;
		}
		hub_file *f = &(*files)[(*n)++];
		memset(f, 0, sizeof *f);
		snprintf(f->path, sizeof f->path, "%s", path);
		f->size = (uint64_t)json_integer_value(size);
		const char *oid = json_string_value(json_object_get(lfs, "oid"));
		if (oid && hex_ok(oid, HUB_SHA_HEX)) {
			f->lfs = true;
			snprintf(f->sha, sizeof f->sha, "%s", oid);
		} else if ((oid = json_string_value(json_object_get(e, "oid"))) && hex_ok(oid, 40))
			snprintf(f->sha, sizeof f->sha, "%s", oid);
	}
	json_decref(a);
	return ok;
}

/* the repo's files at main (every page); 0, or an error logged */
static int tree_fetch(session *s, hub_file **files, int *n)
{
	char url[URL_MAX];
	int cap = 0, fails = 0;
	*files = NULL;
	*n = 0;
	snprintf(url, sizeof url, "%s/api/models/%s/tree/main?recursive=true", s->endpoint, s->repo);
	for (int page = 0; page < 10000;) {
		resp h;
		body b = { 0 };
		struct curl_slist *hd = request_init(s, url, true, &h);
		curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &b);
		CURLcode rc = curl_easy_perform(s->curl);
		curl_slist_free_all(hd);
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &h.status);
		int verdict = TRY_OK;
		if (rc != CURLE_OK)
			verdict = b.too_big ? TRY_FAIL : curl_judge(s, rc, "the file list");
		else if (h.status != 200)
			verdict = status_judge(s, &h, "the file list");
		else if (!b.p || !hub_tree_parse(b.p, b.n, files, n, &cap)) {
			sh_log_error("pull %s: the file list from %s is not the hub's JSON", s->repo, s->endpoint);
			verdict = TRY_FAIL;
		}
		if (b.too_big)
			sh_log_error("pull %s: the file list from %s is over %u MiB", s->repo, s->endpoint, TREE_MAX_BYTES >> 20);
		free(b.p);
		if (verdict == TRY_FAIL)
			goto fail;
		if (verdict == TRY_AGAIN) {
			if (++fails >= HUB_TRIES) {
				sh_log_error("pull %s: the file list: gave up after %d tries (%s)", s->repo, fails,
					     rc ? curl_easy_strerror(rc) : "the hub kept failing");
				goto fail;
			}
			char why[CURL_ERROR_SIZE + 64];
			attempt_why(s, "the file list", rc, h.status, why, sizeof why);
			backoff(s, fails, h.retry_after, why);
			continue;
		}
		fails = 0;
		page++;
		if (!h.next[0])
			return SH_OK;
		if (h.next[0] == '/') /* relative to the endpoint */
			snprintf(url, sizeof url, "%s%s", s->endpoint, h.next);
		else
			snprintf(url, sizeof url, "%s", h.next);
	}
fail:
	free(*files);
	*files = NULL;
	*n = 0;
	return SH_EIO;
}

/* ---------------------------------------------------------------- one blob */
typedef struct {
	session *s;
	int fd;
	crypto_hash_sha256_state sha;
	uint64_t done, total;
	int64_t start;               /* the offset this transfer writes from */
	bool checked;                /* the response was judged (status, Content-Range) */
	bool restart;                /* the server ignored Range: the partial was dropped */
	bool disk_full;
	int write_errno;
	hub_progress p;
	double t_last, t_rate, rate_done;
	resp *h;
} xfer;

static void progress_tell(xfer *x, bool force)
{
	const hub_opts *o = x->s->o;
	double now = sh_time_sec();
	if (now - x->t_rate >= 0.5) { /* recent rate: over the last half second or more */
		double r = ((double)x->done - x->rate_done) / (now - x->t_rate);
		x->p.rate = x->p.rate > 0 ? 0.5 * x->p.rate + 0.5 * r : r;
		x->t_rate = now;
		x->rate_done = (double)x->done;
	}
	if (!o->progress || (!force && now - x->t_last < 0.1))
		return;
	x->t_last = now;
	x->p.done = x->done;
	o->progress(o->user, &x->p);
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
{
	xfer *x = user;
	size_t n = size * nmemb;
	if (!x->checked) {
		long st;
		curl_easy_getinfo(x->s->curl, CURLINFO_RESPONSE_CODE, &st);
		if (st != 200 && st != 206)
			return n; /* an error body: judged after the transfer */
		x->checked = true;
		if (x->start > 0 && (st == 200 || x->h->range_start != x->start)) { /* Range not honoured */
			if (st == 206)
				return 0; /* a range we did not ask for: drop this transfer, ask again */
			if (ftruncate(x->fd, 0) != 0)
				return 0;
			crypto_hash_sha256_init(&x->sha);
			x->done = 0;
			x->start = 0;
			x->restart = true;
		}
	}
	if (x->done + n > x->total)
		return 0; /* more than the file's size: not the file */
	for (size_t at = 0; at < n;) {
		ssize_t w = pwrite(x->fd, data + at, n - at, (off_t)(x->done + at));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			x->write_errno = errno;
			x->disk_full = errno == ENOSPC || errno == EDQUOT;
			return 0;
		}
		at += (size_t)w;
	}
	crypto_hash_sha256_update(&x->sha, (const unsigned char *)data, n);
	x->done += n;
	progress_tell(x, false);
	return n;
}

/* hashes what .incomplete already holds (its first done bytes) */
static int partial_hash(xfer *x)
{
	unsigned char buf[1 << 16];
	crypto_hash_sha256_init(&x->sha);
	for (uint64_t at = 0; at < x->done;) {
		ssize_t r = pread(x->fd, buf, (size_t)SH_MIN((uint64_t)sizeof buf, x->done - at), (off_t)at);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return SH_EIO;
		}
		crypto_hash_sha256_update(&x->sha, buf, (size_t)r);
		at += (uint64_t)r;
	}
	return SH_OK;
}

/* HEAD of the resolve URL: the CDN URL (or the URL itself when the hub serves the file) into
 * url_out, the commit into h; a relative redirect (a renamed repo) is followed */
static int resolve(session *s, const char *path, resp *h, char *url_out, size_t cap, long *status, CURLcode *rc)
{
	char url[URL_MAX];
	snprintf(url, sizeof url, "%s/%s/resolve/main/%s", s->endpoint, s->repo, path);
	for (int hop = 0; hop < 5; hop++) {
		struct curl_slist *hd = request_init(s, url, true, h);
		curl_easy_setopt(s->curl, CURLOPT_NOBODY, 1L);
		*rc = curl_easy_perform(s->curl);
		curl_slist_free_all(hd);
		*status = 0;
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, status);
		h->status = *status;
		if (*rc != CURLE_OK)
			return TRY_AGAIN;
		if (*status >= 300 && *status < 400 && h->location[0]) {
			if (h->location[0] == '/') { /* the hub itself: keep the token */
				snprintf(url, sizeof url, "%s%s", s->endpoint, h->location);
				continue;
			}
			snprintf(url_out, cap, "%s", h->location);
			return TRY_OK;
		}
		if (*status == 200) {
			snprintf(url_out, cap, "%s", url);
			return TRY_OK;
		}
		return TRY_AGAIN;
	}
	return TRY_AGAIN;
}

static void sha_hex(const unsigned char d[32], char out[HUB_SHA_HEX + 1])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* one file into blobs/SHA: resumed, checked, renamed into place. round 0 starts over (round 1)
 * after a corrupt transfer; round 1 fails on one */
static int blob_fetch(session *s, const hub_file *f, int index, int count, int round)
{
	char blob[2048], part[2048];
	if (hub_cache_blob_path(s->c, s->r, f->sha, false, blob, sizeof blob) ||
	    hub_cache_blob_path(s->c, s->r, f->sha, true, part, sizeof part))
		return SH_ERANGE;
	int lock = hub_cache_lock(s->c, s->r, f->sha);
	if (lock < 0)
		return SH_EIO;
	xfer x = { .s = s, .fd = -1, .total = f->size, .p = { .file = f->path, .index = index, .count = count, .total = f->size } };
	int rc = SH_EIO, fails = 0;
	struct stat st;
	if (stat(blob, &st) == 0 && (uint64_t)st.st_size == f->size) { /* another pull made it meanwhile */
		x.done = f->size;
		rc = SH_OK;
		goto done;
	}
	char dir[2048];
	snprintf(dir, sizeof dir, "%s", blob);
	*strrchr(dir, '/') = 0;
	const char *failed;
	if (sh_mkdir_p(dir, 0755, &failed)) {
		sh_log_error("pull %s: cannot create %s: %s", s->repo, failed, strerror(errno));
		goto done;
	}
	if ((x.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		sh_log_error("pull %s: cannot open %s: %s", s->repo, part, strerror(errno));
		goto done;
	}
	if (fstat(x.fd, &st) == 0)
		x.done = (uint64_t)st.st_size;
	if (x.done > f->size && ftruncate(x.fd, 0) == 0)
		x.done = 0;
	if (x.done)
		sh_log_info("pull %s: %s: resuming at %llu of %llu bytes", s->repo, f->path, (unsigned long long)x.done,
			    (unsigned long long)f->size);
	if (partial_hash(&x)) {
		sh_log_error("pull %s: cannot read %s: %s", s->repo, part, strerror(errno));
		goto closed;
	}
	struct statvfs vfs;
	if (fstatvfs(x.fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < f->size - x.done) {
		sh_log_error("pull %s: %s needs %.1f MiB more and %s has %.1f MiB free; the %llu bytes already "
			     "pulled are kept in %s", s->repo, f->path, (double)(f->size - x.done) / (1 << 20), dir,
			     (double)vfs.f_bavail * vfs.f_frsize / (1 << 20), (unsigned long long)x.done, part);
		goto closed;
	}
	x.t_rate = sh_time_sec();
	x.rate_done = (double)x.done;
	progress_tell(&x, true);
	while (x.done < f->size || f->size == 0) {
		resp h;
		long status;
		CURLcode crc;
		char url[URL_MAX];
		x.h = &h;
		int v = resolve(s, f->path, &h, url, sizeof url, &status, &crc);
		if (v == TRY_OK && f->lfs && h.linked_etag[0] && strcmp(h.linked_etag, f->sha)) {
			sh_log_error("pull %s: %s changed on the hub while pulling (sha256 %s, was %s); pull again",
				     s->repo, f->path, h.linked_etag, f->sha);
			goto closed;
		}
		if (v == TRY_OK) { /* the transfer */
			bool same_host = !strncmp(url, s->endpoint, strlen(s->endpoint));
			struct curl_slist *hd = request_init(s, url, same_host, &h);
			char range[64];
			x.start = (int64_t)x.done;
			x.checked = false;
			if (x.done) {
				snprintf(range, sizeof range, "%llu-", (unsigned long long)x.done);
				curl_easy_setopt(s->curl, CURLOPT_RANGE, range);
			}
			curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_data);
			curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &x);
			crc = curl_easy_perform(s->curl);
			curl_slist_free_all(hd);
			status = 0;
			curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
			h.status = status;
			if (x.disk_full || x.write_errno) {
				sh_log_error("pull %s: writing %s: %s; the %llu bytes pulled are kept for the next pull",
					     s->repo, part, strerror(x.write_errno), (unsigned long long)x.done);
				goto closed;
			}
			if (crc == CURLE_OK && (status == 200 || status == 206) && (x.done == f->size))
				break;
			if (crc == CURLE_OK && (status == 200 || status == 206) && f->size == 0)
				break;
			if (crc == CURLE_OK && status == 416) { /* what we have is all there is, or too much */
				if (ftruncate(x.fd, 0) == 0)
					x.done = 0;
				crypto_hash_sha256_init(&x.sha);
			}
		}
		int verdict;
		if (crc != CURLE_OK && crc != CURLE_WRITE_ERROR)
			verdict = curl_judge(s, crc, f->path);
		else if (status >= 400 && status != 416)
			verdict = status_judge(s, &h, f->path);
		else
			verdict = TRY_AGAIN;
		if (verdict == TRY_FAIL)
			goto closed;
		if (++fails >= HUB_TRIES) {
			sh_log_error("pull %s: %s: gave up after %d tries (%s); the %llu bytes pulled are kept for the next pull",
				     s->repo, f->path, fails, crc ? curl_easy_strerror(crc) : "the hub kept failing",
				     (unsigned long long)x.done);
			goto closed;
		}
		char what[HUB_PATH_MAX + 64], why[HUB_PATH_MAX + CURL_ERROR_SIZE + 128];
		snprintf(what, sizeof what, "%s at %llu of %llu bytes", f->path, (unsigned long long)x.done,
			 (unsigned long long)f->size);
		attempt_why(s, what, crc, status, why, sizeof why);
		backoff(s, fails, h.retry_after, why);
	}
	unsigned char d[32];
	char got[HUB_SHA_HEX + 1];
	crypto_hash_sha256_final(&x.sha, d);
	sha_hex(d, got);
	if (f->lfs && strcmp(got, f->sha)) {
		if (round > 0) {
			sh_log_error("pull %s: %s arrived corrupt twice: sha256 %s, the hub says %s; the download is deleted",
				     s->repo, f->path, got, f->sha);
			unlink(part);
			goto closed;
		}
		/* once more from the start; a second mismatch fails (above) */
		sh_log_warn("pull %s: %s arrived corrupt (sha256 %s, the hub says %s); pulling it again", s->repo, f->path,
			    got, f->sha);
		close(x.fd);
		x.fd = -1;
		unlink(part);
		hub_cache_unlock(lock);
		lock = -1;
		return blob_fetch(s, f, index, count, round + 1);
	}
	if (fsync(x.fd) != 0 || rename(part, blob) != 0) {
		sh_log_error("pull %s: cannot move %s into place: %s", s->repo, blob, strerror(errno));
		goto closed;
	}
	rc = SH_OK;
closed:
	close(x.fd);
done:
	x.p.finished = true;
	progress_tell(&x, true);
	hub_cache_unlock(lock);
	return rc;
}

/* the commit main is at (X-Repo-Commit of a HEAD of one of its files), tried as downloads are */
static int commit_fetch(session *s, const char *path, char commit[HUB_COMMIT_MAX + 1])
{
	for (int fails = 1;; fails++) {
		resp h;
		long status;
		CURLcode crc;
		char url[URL_MAX];
		int v = resolve(s, path, &h, url, sizeof url, &status, &crc);
		if (v == TRY_OK) {
			if (!h.commit[0] || strlen(h.commit) > HUB_COMMIT_MAX) {
				sh_log_error("pull %s: the hub sent no X-Repo-Commit for %s", s->repo, path);
				return SH_EFORMAT;
			}
			snprintf(commit, HUB_COMMIT_MAX + 1, "%s", h.commit);
			return SH_OK;
		}
		v = crc != CURLE_OK ? curl_judge(s, crc, path) : status_judge(s, &h, path);
		if (v == TRY_FAIL)
			return SH_EIO;
		if (fails >= HUB_TRIES) {
			sh_log_error("pull %s: %s: gave up after %d tries", s->repo, path, fails);
			return SH_EIO;
		}
		char why[HUB_PATH_MAX + CURL_ERROR_SIZE + 64];
		attempt_why(s, path, crc, status, why, sizeof why);
		backoff(s, fails, h.retry_after, why);
	}
}

/* ---------------------------------------------------------------- a model */
/* snapshots/COMMIT as hub_files (complete: the blob is there) */
static int snapshot_files(const hub_cache *c, const hub_ref *r, const char *commit, hub_file **out, int *n)
{
	hub_cache_file *cf;
	*out = NULL;
	*n = 0;
	if (hub_cache_snapshot(c, r, commit, &cf, n))
		return SH_EIO;
	hub_file *f = calloc((size_t)SH_MAX(*n, 1), sizeof *f);
	if (!f) {
		free(cf);
		return SH_ENOMEM;
	}
	for (int i = 0; i < *n; i++) {
		snprintf(f[i].path, sizeof f[i].path, "%s", cf[i].path);
		snprintf(f[i].sha, sizeof f[i].sha, "%s", cf[i].sha);
		f[i].size = cf[i].size;
		f[i].complete = cf[i].complete;
		f[i].mtime = cf[i].mtime;
	}
	free(cf);
	*out = f;
	return SH_OK;
}

/* the snapshot refs/main names, as hub_files */
static int cached_files(const hub_cache *c, const hub_ref *r, char commit[HUB_COMMIT_MAX + 1], hub_file **out, int *n)
{
	*out = NULL;
	*n = 0;
	return hub_cache_ref_read(c, r, commit) ? SH_EIO : snapshot_files(c, r, commit, out, n);
}

/* the commits of the repo's snapshots: fn(user, commit) for each */
static void snapshots_each(const hub_cache *c, const hub_ref *r, void (*fn)(void *, const char *), void *user)
{
	char dir[2048];
	if (hub_cache_repo_path(c, r, "snapshots", dir, sizeof dir))
		return;
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && strlen(e->d_name) <= HUB_COMMIT_MAX)
			fn(user, e->d_name);
	if (d)
		closedir(d);
}

typedef struct {
	const hub_cache *c;
	hub_ref r;
	char main[HUB_COMMIT_MAX + 1];
	hub_cached *v;
	int n, cap, rc;
} models_walk;

static void models_of_snapshot(void *user, const char *commit)
{
	models_walk *w = user;
	hub_file *f;
	int n, set[PICK_MAX];
	if (w->rc || snapshot_files(w->c, &w->r, commit, &f, &n))
		return;
	for (int i = 0; i < n; i++) {
		int k;
		if (!is_gguf(f[i].path) || !(k = set_of(f, n, i, set, PICK_MAX)))
			continue;
		if (w->n == w->cap) {
			int cap = w->cap ? 2 * w->cap : 16;
			hub_cached *v = realloc(w->v, (size_t)cap * sizeof *v);
			if (!v) {
				w->rc = SH_ENOMEM;
				break;
			}
			w->v = v;
			w->cap = cap;
		}
		hub_cached *m = &w->v[w->n++];
		memset(m, 0, sizeof *m);
		m->ref = w->r;
		snprintf(m->commit, sizeof m->commit, "%s", commit);
		m->main = !strcmp(commit, w->main);
		m->parts = k;
		m->complete = true;
		for (int j = 0; j < k; j++) {
			m->size += f[set[j]].size;
			m->complete &= f[set[j]].complete;
			if (f[set[j]].mtime > m->mtime)
				m->mtime = f[set[j]].mtime;
		}
		/* ORG/REPO:QUANT when that picks this file, else ORG/REPO/FILE */
		int pick[PICK_MAX], n_pick;
		char why[1024];
		hub_ref q = w->r;
		if (hub_quant_of(f[i].path, m->quant, sizeof m->quant)) {
			snprintf(q.quant, sizeof q.quant, "%s", m->quant);
			if (!hub_pick(f, n, &q, pick, &n_pick, PICK_MAX, why, sizeof why) && pick[0] == i) {
				m->ref = q;
				continue;
			}
		}
		snprintf(m->ref.file, sizeof m->ref.file, "%s", f[i].path);
	}
	free(f);
}

static void models_of_repo(void *user, const char *org, const char *repo)
{
	models_walk *w = user;
	memset(&w->r, 0, sizeof w->r);
	if (strlen(org) > HUB_NAME_MAX || strlen(repo) > HUB_NAME_MAX)
		return;
	snprintf(w->r.org, sizeof w->r.org, "%s", org);
	snprintf(w->r.repo, sizeof w->r.repo, "%s", repo);
	if (hub_cache_ref_read(w->c, &w->r, w->main))
		w->main[0] = 0;
	snapshots_each(w->c, &w->r, models_of_snapshot, w);
}

static int cached_cmp(const void *a, const void *b)
{
	const hub_cached *x = a, *y = b;
	char fx[HUB_PATH_MAX + 2 * HUB_NAME_MAX + 4], fy[sizeof fx];
	hub_ref_format(&x->ref, fx, sizeof fx);
	hub_ref_format(&y->ref, fy, sizeof fy);
	int c = strcmp(fx, fy);
	return c ? c : strcmp(x->commit, y->commit);
}

int hub_cached_models(const hub_cache *c, hub_cached **out, int *n)
{
	models_walk w = { .c = c };
	int rc = hub_cache_repos(c, models_of_repo, &w);
	if (!rc)
		rc = w.rc;
	if (rc) {
		free(w.v);
		*out = NULL;
		*n = 0;
		return rc;
	}
	if (w.n)
		qsort(w.v, (size_t)w.n, sizeof *w.v, cached_cmp);
	*out = w.v;
	*n = w.n;
	return SH_OK;
}

typedef struct {
	const hub_cache *c;
	const hub_ref *r;
	uint64_t freed;
	int removed, rc;
} remove_walk;

static void remove_in_snapshot(void *user, const char *commit)
{
	remove_walk *w = user;
	hub_file *f;
	int n, pick[PICK_MAX], n_pick;
	char why[1024];
	if (w->rc || snapshot_files(w->c, w->r, commit, &f, &n))
		return;
	if (!hub_pick(f, n, w->r, pick, &n_pick, PICK_MAX, why, sizeof why)) {
		hub_cache_file gone[PICK_MAX];
		for (int k = 0; k < n_pick; k++) {
			memset(&gone[k], 0, sizeof gone[k]);
			snprintf(gone[k].path, sizeof gone[k].path, "%s", f[pick[k]].path);
			snprintf(gone[k].sha, sizeof gone[k].sha, "%s", f[pick[k]].sha);
		}
		uint64_t freed;
		char snap[HUB_COMMIT_MAX + 1];
		snprintf(snap, sizeof snap, "%s", commit); /* the walk's name: the directory may go */
		w->rc = hub_cache_remove(w->c, w->r, snap, gone, n_pick, &freed);
		w->freed += freed;
		w->removed++;
	}
	free(f);
}

int hub_cached_remove(const hub_cache *c, const hub_ref *r, uint64_t *freed)
{
	remove_walk w = { .c = c, .r = r };
	snapshots_each(c, r, remove_in_snapshot, &w);
	*freed = w.freed;
	if (!w.rc && !w.removed) {
		char name[HUB_PATH_MAX + 2 * HUB_NAME_MAX + 4];
		hub_ref_format(r, name, sizeof name);
		sh_log_error("rm: %s is not in the cache %s (shoal ls lists what is)", name, c->root);
		return SH_EINVAL;
	}
	return w.rc;
}

static int snapshot_path(const hub_cache *c, const hub_ref *r, const char *commit, const char *file, char *path, size_t cap)
{
	char rel[HUB_PATH_MAX + HUB_COMMIT_MAX + 16];
	snprintf(rel, sizeof rel, "snapshots/%s/%s", commit, file);
	return hub_cache_repo_path(c, r, rel, path, cap);
}

/* the model from the cache alone: 0, SH_EIO when it is not there (nothing logged), SH_EINVAL when
 * the cached snapshot cannot answer ref (logged when offline, where no hub can) */
static int model_cached(const hub_cache *c, const hub_ref *r, bool offline, char *path, size_t cap)
{
	char commit[HUB_COMMIT_MAX + 1], why[1024], name[HUB_PATH_MAX + 2 * HUB_NAME_MAX + 4];
	hub_file *f;
	int n, pick[PICK_MAX], n_pick;
	hub_ref_format(r, name, sizeof name);
	if (cached_files(c, r, commit, &f, &n)) {
		if (offline)
			sh_log_error("%s is not in the cache %s, and offline (HF_HUB_OFFLINE or --offline) nothing is pulled",
				     name, c->root);
		return SH_EIO;
	}
	int rc = hub_pick(f, n, r, pick, &n_pick, PICK_MAX, why, sizeof why);
	for (int k = 0; !rc && k < n_pick; k++)
		if (!f[pick[k]].complete)
			rc = SH_EIO;
	if (rc && offline)
		sh_log_error("%s: not in the cache %s offline: %s", name, c->root,
			     rc == SH_EINVAL ? why : "a file of it was never completed (pull it when online)");
	if (!rc)
		rc = snapshot_path(c, r, commit, f[pick[0]].path, path, cap);
	free(f);
	return rc;
}

int hub_model(const hub_cache *c, const hub_ref *r, const hub_opts *o, char *path, size_t cap)
{
	bool offline = o->offline || hub_offline_env();
	if (!o->update || offline) {
		int rc = model_cached(c, r, offline, path, cap);
		if (!rc || offline)
			return rc;
	}
	pthread_once(&curl_once, curl_init_once);
	session s = { .c = c, .r = r, .o = o };
	s.endpoint = o->endpoint ? o->endpoint : getenv("HF_ENDPOINT");
	if (!s.endpoint || !*s.endpoint)
		s.endpoint = HUB_DEFAULT_ENDPOINT;
	char endpoint[URL_MAX];
	snprintf(endpoint, sizeof endpoint, "%s", s.endpoint);
	for (size_t k = strlen(endpoint); k > 0 && endpoint[k - 1] == '/'; k--)
		endpoint[k - 1] = 0;
	s.endpoint = endpoint;
	s.token = o->token ? o->token : getenv("HF_TOKEN");
	hub_ref_repo(r, s.repo, sizeof s.repo);
	if (!(s.curl = curl_easy_init())) {
		sh_log_error("pull %s: cannot start libcurl", s.repo);
		return SH_ENOMEM;
	}
	hub_file *f = NULL;
	int n = 0, pick[PICK_MAX], n_pick = 0, rc = tree_fetch(&s, &f, &n);
	char why[1024], commit[HUB_COMMIT_MAX + 1] = "";
	if (!rc && (rc = hub_pick(f, n, r, pick, &n_pick, PICK_MAX, why, sizeof why)))
		sh_log_error("pull: %s", why);
	if (!rc && !r->file[0]) {
		uint64_t total = 0;
		for (int k = 0; k < n_pick; k++)
			total += f[pick[k]].size;
		sh_log_info("pull %s: %s (%.1f MiB%s)", s.repo, f[pick[0]].path, (double)total / (1 << 20),
			    n_pick > 1 ? ", a split set" : "");
	}
	for (int k = 0; !rc && k < n_pick; k++) {
		const hub_file *x = &f[pick[k]];
		if (!x->sha[0]) {
			sh_log_error("pull %s: the hub lists %s without an oid", s.repo, x->path);
			rc = SH_EFORMAT;
		}
	}
	if (!rc)
		rc = commit_fetch(&s, f[pick[0]].path, commit);
	/* linked before the blobs are there, so that ls shows an interrupted pull as incomplete */
	for (int k = 0; !rc && k < n_pick; k++)
		rc = hub_cache_link(c, r, commit, f[pick[k]].path, f[pick[k]].sha);
	for (int k = 0; !rc && k < n_pick; k++)
		rc = blob_fetch(&s, &f[pick[k]], k, n_pick, 0);
	if (!rc)
		rc = hub_cache_ref_write(c, r, commit);
	if (!rc)
		rc = snapshot_path(c, r, commit, f[pick[0]].path, path, cap);
	free(f);
	curl_easy_cleanup(s.curl);
	return rc;
}
