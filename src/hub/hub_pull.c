/*
 * hub_pull.c - picking a repo's GGUF files and pulling them into the cache, or locating one and
 * reading it by ranges (design in hub_pull.h).
 *
 * One transfer (xfer_run) is a loop of attempts over one easy handle: HEAD the resolve URL (no
 * redirects followed, so the 302's X-Linked-* headers are seen; a relative Location is the hub
 * renaming the repo and is followed with the token, an absolute one is the CDN, which gets the
 * token only when it is on the hub's own host), then GET the CDN URL with Range from where the
 * bytes stopped. It feeds a sink: a pull's .incomplete, written and hashed as bytes come (the hash
 * of a resumed file first brought up to date by reading what is on disk), or a range request's
 * buffer. An attempt ends in: done, a reason to wait and try again (a drop, a stall below 1 KiB/s
 * for 30 s, 429, 5xx; the CDN refusing an older URL: resolved again at once), or an error that
 * trying again cannot fix (401/403/404, a full disk, an answer that is not the file's).
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
#define ENDPOINT_MAX 1024           /* so that every URL made of it, a repo and a path fits in URL_MAX */
#define TOKEN_MAX 1024

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
	int64_t range_total;         /* Content-Range's file size, -1: none or "*" */
	bool location_long;          /* a Location that does not fit in location */
} resp;

static void resp_reset(resp *h)
{
	memset(h, 0, sizeof *h);
	h->range_start = h->range_total = -1;
}

/* copies a header value, trimmed of spaces, CR/LF and (quoted) quotes; false when it was cut to fit */
static bool header_value(const char *v, size_t n, char *out, size_t cap, bool unquote)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	if (unquote && n >= 2 && v[0] == '"' && v[n - 1] == '"')
		v++, n -= 2;
	bool fits = n < cap;
	if (!fits)
		n = cap - 1;
	memcpy(out, v, n);
	out[n] = 0;
	return fits;
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
	} else if (IS("location")) {
		if (!header_value(v, vn, h->location, sizeof h->location, false)) {
			h->location[0] = 0; /* never a URL cut short */
			h->location_long = true;
		}
	}
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
		long long a, b, t;
		if (sscanf(buf, "bytes %lld-%lld/%lld", &a, &b, &t) == 3 && a >= 0 && t >= 0) {
			h->range_start = a;
			h->range_total = t;
		} else if (sscanf(buf, "bytes %lld-", &a) == 1 && a >= 0)
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

/* the requests about one repo: its endpoint, token and libcurl handle */
typedef struct {
	const hub_cache *c;          /* NULL for a hub_source */
	const hub_ref *r;
	const hub_opts *o;
	const char *token;
	const char *rev;             /* the revision files are resolved at: "main", or a commit */
	char endpoint[ENDPOINT_MAX]; /* without a trailing '/' */
	char repo[2 * HUB_NAME_MAX + 2];
	CURL *curl;
	char err[CURL_ERROR_SIZE];
} session;

/* s for r's repo: o's endpoint and token, else the environment's; errors logged */
static int session_open(session *s, const hub_cache *c, const hub_ref *r, const hub_opts *o)
{
	pthread_once(&curl_once, curl_init_once);
	memset(s, 0, sizeof *s);
	s->c = c;
	s->r = r;
	s->o = o;
	s->rev = "main";
	hub_ref_repo(r, s->repo, sizeof s->repo);
	const char *e = o->endpoint ? o->endpoint : getenv("HF_ENDPOINT");
	if (!e || !*e)
		e = HUB_DEFAULT_ENDPOINT;
	if (strlen(e) >= sizeof s->endpoint) {
		sh_log_error("pull %s: the endpoint (HF_ENDPOINT) is over %d bytes", s->repo, ENDPOINT_MAX - 1);
		return SH_EINVAL;
	}
	snprintf(s->endpoint, sizeof s->endpoint, "%s", e);
	for (size_t k = strlen(s->endpoint); k > 0 && s->endpoint[k - 1] == '/'; k--)
		s->endpoint[k - 1] = 0;
	s->token = o->token ? o->token : getenv("HF_TOKEN");
	if (s->token && strlen(s->token) > TOKEN_MAX) {
		sh_log_error("pull %s: the token (HF_TOKEN or --token) is over %d bytes", s->repo, TOKEN_MAX);
		return SH_EINVAL;
	}
	if (!(s->curl = curl_easy_init())) {
		sh_log_error("pull %s: cannot start libcurl", s->repo);
		return SH_ENOMEM;
	}
	return SH_OK;
}

static void session_close(session *s)
{
	if (s->curl)
		curl_easy_cleanup(s->curl);
	s->curl = NULL;
}

/* whether url is on the hub's endpoint, which gets the token (a CDN on another host never does) */
static bool to_hub(const session *s, const char *url)
{
	size_t n = strlen(s->endpoint);
	return !strncmp(url, s->endpoint, n) && (url[n] == '/' || url[n] == '?' || url[n] == 0);
}

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
		char a[TOKEN_MAX + 32];
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
		int k = h.next[0] == '/' ? snprintf(url, sizeof url, "%s%s", s->endpoint, h.next) /* relative to the endpoint */
					 : snprintf(url, sizeof url, "%s", h.next);
		if (k < 0 || (size_t)k >= sizeof url) {
			sh_log_error("pull %s: the file list's next page is over %d bytes of URL", s->repo, URL_MAX - 1);
			goto fail;
		}
	}
fail:
	free(*files);
	*files = NULL;
	*n = 0;
	return SH_EIO;
}

/* ---------------------------------------------------------------- transfers */
/* HEAD of the resolve URL at s->rev: the CDN URL (*cdn true: where the hub redirects, on its host
 * or another) or the URL itself when the hub serves the file, into url_out; the commit into h. A
 * relative redirect (a renamed repo) is followed. TRY_FAIL (logged) only for a redirect no URL
 * buffer holds; otherwise the caller judges status and rc. */
static int resolve(session *s, const char *path, resp *h, char *url_out, size_t cap, bool *cdn, long *status,
		   CURLcode *rc)
{
	char url[URL_MAX];
	snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", s->endpoint, s->repo, s->rev, path);
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
		if (*status >= 300 && *status < 400 && (h->location[0] || h->location_long)) {
			bool rel = h->location[0] == '/'; /* the hub itself: followed with the token */
			int n = h->location_long ? -1
				: rel ? snprintf(url, sizeof url, "%s%s", s->endpoint, h->location)
				      : snprintf(url_out, cap, "%s", h->location);
			if (n < 0 || (size_t)n >= (rel ? sizeof url : cap)) {
				sh_log_error("pull %s: %s: the hub redirects to a URL of over %d bytes", s->repo, path, URL_MAX - 1);
				return TRY_FAIL;
			}
			if (rel)
				continue;
			*cdn = true;
			return TRY_OK;
		}
		if (*status == 200) {
			snprintf(url_out, cap, "%s", url);
			*cdn = false;
			return TRY_OK;
		}
		return TRY_AGAIN;
	}
	return TRY_AGAIN;
}

/*
 * Bytes [done, end) of one file of the repo, fetched by attempts over s->curl into a sink: the
 * file's .incomplete (blob_fetch: written and hashed as they come) or a caller's buffer
 * (hub_range_get). The URL is resolved when there is none yet and again when the CDN refuses it
 * (403/410: a signed URL that expired); a refusal of a URL resolved for that very attempt is final.
 * The CDN is whatever URL the hub redirects to, on another host (the token stays with the hub) or
 * on its own (as the stand-in serves it).
 * Each resolve must name the same file (X-Linked-Etag, X-Linked-Size). A failed attempt waits
 * (backoff) and goes on from where it stopped; HUB_TRIES failures without a byte between them end it.
 */
typedef struct xfer xfer;
struct xfer {
	session *s;
	const char *path;            /* the repo path */
	char *url;                   /* [URL_MAX]: the resolved URL, "" until resolved */
	bool cdn;                    /* url is where the hub redirected to (a CDN's, signed: it may expire) */
	char etag[HUB_SHA_HEX + 1];  /* the sha256 the file has; "": learnt from the first X-Linked-Etag */
	uint64_t size;               /* the file's size, when sized; else learnt from X-Linked-Size */
	bool sized;
	uint64_t done, end;          /* the next byte wanted; the end of the bytes wanted */
	bool ranged;                 /* Range: done-(end-1) on every request (else done-, none from 0) */
	bool keeps;                  /* what was received stays (a partial file), to say when giving up */
	/* the sink: n bytes at done; false when it failed (logged, failed set) */
	bool (*put)(xfer *x, const char *data, size_t n);
	/* a 200 to a request from done > 0 (Range not honoured): start over from byte 0, or NULL */
	bool (*restart)(xfer *x);
	void *sink;
	resp h;                      /* the response of the attempt under way */
	bool checked;                /* its status and Content-Range were judged */
	int failed;                  /* SH_E* (logged): the sink failed, or the answer is not the file's */
	uint64_t moved;              /* bytes the sink took, over all attempts */
	uint64_t received;           /* body bytes received, error bodies and dropped ones included */
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *user)
{
	xfer *x = user;
	session *s = x->s;
	size_t n = size * nmemb;
	x->received += n;
	if (!x->checked) {
		long st;
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &st);
		if (st != 200 && st != 206)
			return n; /* an error body: judged after the transfer */
		x->checked = true;
		if (st == 206 && x->h.range_start != (int64_t)x->done)
			return 0; /* a range we did not ask for: drop this transfer, ask again */
		if (st == 206 && x->sized && x->h.range_total >= 0 && (uint64_t)x->h.range_total != x->size) {
			sh_log_error("pull %s: %s changed on the hub (%lld bytes, was %llu); pull again", s->repo, x->path,
				     (long long)x->h.range_total, (unsigned long long)x->size);
			x->failed = SH_EIO;
			return 0;
		}
		if (st == 206 && !x->sized && x->h.range_total >= 0) { /* a file the hub serves itself: no X-Linked-Size */
			x->size = (uint64_t)x->h.range_total;
			x->sized = true;
		}
		if (st == 200 && x->done > 0 && !(x->restart && x->restart(x))) {
			if (!x->failed)
				sh_log_error("pull %s: %s: the server ignored Range (HTTP 200 to a request from byte %llu)", s->repo,
					     x->path, (unsigned long long)x->done);
			x->failed = x->failed ? x->failed : SH_EIO;
			return 0;
		}
	}
	if (n > x->end - x->done) {
		sh_log_error("pull %s: %s: the answer runs past byte %llu, the last one asked for", s->repo, x->path,
			     (unsigned long long)x->end - 1);
		x->failed = SH_EFORMAT;
		return 0;
	}
	if (!x->put(x, data, n))
		return 0;
	x->done += n;
	x->moved += n;
	return n;
}

/* what a resolve said of the file: the same one the transfer began with */
static int xfer_same(xfer *x, const resp *h)
{
	session *s = x->s;
	if (h->linked_etag[0] && x->etag[0] && strcmp(h->linked_etag, x->etag)) {
		sh_log_error("pull %s: %s changed on the hub while pulling (sha256 %s, was %s); pull again", s->repo, x->path,
			     h->linked_etag, x->etag);
		return SH_EIO;
	}
	if (h->linked_size && x->sized && h->linked_size != x->size) {
		sh_log_error("pull %s: %s changed on the hub while pulling (%llu bytes, was %llu); pull again", s->repo,
			     x->path, (unsigned long long)h->linked_size, (unsigned long long)x->size);
		return SH_EIO;
	}
	if (h->linked_etag[0])
		snprintf(x->etag, sizeof x->etag, "%s", h->linked_etag);
	if (h->linked_size) {
		x->size = h->linked_size;
		x->sized = true;
	}
	if (x->sized && x->end > x->size) {
		sh_log_error("pull %s: %s: bytes %llu-%llu are past its end (%llu bytes)", s->repo, x->path,
			     (unsigned long long)x->done, (unsigned long long)x->end - 1, (unsigned long long)x->size);
		return SH_EINVAL;
	}
	return SH_OK;
}

static int xfer_run(xfer *x)
{
	session *s = x->s;
	for (int fails = 0;;) {
		if (x->done == x->end)
			return SH_OK;
		resp *h = &x->h;
		long status = 0;
		CURLcode crc = CURLE_OK;
		uint64_t moved = x->moved;
		bool fresh = !x->url[0], hub;
		int v = TRY_OK, rc;
		resp_reset(h);
		if (fresh && (v = resolve(s, x->path, h, x->url, URL_MAX, &x->cdn, &status, &crc)) == TRY_OK &&
		    (rc = xfer_same(x, h)))
			return rc;
		if (v == TRY_FAIL)
			return SH_EIO;
		if (v == TRY_OK) { /* the transfer */
			hub = to_hub(s, x->url);
			struct curl_slist *hd = request_init(s, x->url, hub, h);
			char range[64];
			x->checked = false;
			if (x->ranged)
				snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)x->done, (unsigned long long)x->end - 1);
			else
				snprintf(range, sizeof range, "%llu-", (unsigned long long)x->done);
			if (x->ranged || x->done)
				curl_easy_setopt(s->curl, CURLOPT_RANGE, range);
			curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, on_data);
			curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, x);
			crc = curl_easy_perform(s->curl);
			curl_slist_free_all(hd);
			curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
			h->status = status;
			if (x->failed)
				return x->failed;
			if (crc == CURLE_OK && (status == 200 || status == 206) && x->done == x->end)
				return SH_OK;
			if (crc == CURLE_OK && status == 416) { /* what we have is all there is, or too much */
				if (!x->restart) {
					sh_log_error("pull %s: %s: the hub has no bytes %llu-%llu (HTTP 416); pull again", s->repo,
						     x->path, (unsigned long long)x->done, (unsigned long long)x->end - 1);
					return SH_EIO;
				}
				if (!x->restart(x))
					return x->failed;
			}
			if (crc == CURLE_OK && (status == 403 || status == 410) && x->cdn) {
				if (fresh) {
					sh_log_error("pull %s: %s: the CDN refuses the URL the hub just gave (HTTP %ld)", s->repo,
						     x->path, status);
					return SH_EIO;
				}
				x->url[0] = 0; /* a signed URL that expired: resolve it again, at once */
				continue;
			}
		}
		int verdict;
		if (crc != CURLE_OK && crc != CURLE_WRITE_ERROR)
			verdict = curl_judge(s, crc, x->path);
		else if (status >= 400 && status != 416)
			verdict = status_judge(s, h, x->path);
		else
			verdict = TRY_AGAIN;
		if (verdict == TRY_FAIL)
			return SH_EIO;
		if (x->moved > moved) /* bytes came: the failures in a row start over */
			fails = 0;
		if (++fails >= HUB_TRIES) {
			char kept[128] = "";
			if (x->keeps)
				snprintf(kept, sizeof kept, "; the %llu bytes pulled are kept for the next pull",
					 (unsigned long long)x->done);
			sh_log_error("pull %s: %s: gave up after %d tries (%s)%s", s->repo, x->path, fails,
				     crc ? curl_easy_strerror(crc) : "the hub kept failing", kept);
			return SH_EIO;
		}
		char what[HUB_PATH_MAX + 64], why[HUB_PATH_MAX + CURL_ERROR_SIZE + 128];
		snprintf(what, sizeof what, "%s at %llu of %llu bytes", x->path, (unsigned long long)x->done,
			 (unsigned long long)x->size);
		attempt_why(s, what, crc, status, why, sizeof why);
		backoff(s, fails, h->retry_after, why);
	}
}

/* ---------------------------------------------------------------- one blob */
/* blob_fetch's sink: blobs/SHA.incomplete, hashed as written, and the progress shown */
typedef struct {
	const char *part;
	int fd;
	crypto_hash_sha256_state sha;
	hub_progress p;
	double t_last, t_rate, rate_done;
} blob_sink;

static void progress_tell(blob_sink *b, const hub_opts *o, uint64_t done, bool force)
{
	double now = sh_time_sec();
	if (now - b->t_rate >= 0.5) { /* recent rate: over the last half second or more */
		double r = ((double)done - b->rate_done) / (now - b->t_rate);
		b->p.rate = b->p.rate > 0 ? 0.5 * b->p.rate + 0.5 * r : r;
		b->t_rate = now;
		b->rate_done = (double)done;
	}
	if (!o->progress || (!force && now - b->t_last < 0.1))
		return;
	b->t_last = now;
	b->p.done = done;
	o->progress(o->user, &b->p);
}

static bool blob_put(xfer *x, const char *data, size_t n)
{
	blob_sink *b = x->sink;
	for (size_t at = 0; at < n;) {
		ssize_t w = pwrite(b->fd, data + at, n - at, (off_t)(x->done + at));
		if (w < 0) {
			if (errno == EINTR)
				continue;
			x->failed = errno == ENOSPC || errno == EDQUOT ? SH_ENOSPC : SH_EIO;
			sh_log_error("pull %s: writing %s: %s; the %llu bytes pulled are kept for the next pull", x->s->repo,
				     b->part, strerror(errno), (unsigned long long)x->done);
			return false;
		}
		at += (size_t)w;
	}
	crypto_hash_sha256_update(&b->sha, (const unsigned char *)data, n);
	progress_tell(b, x->s->o, x->done + n, false);
	return true;
}

/* the file from its start again: what .incomplete holds is dropped */
static bool blob_restart(xfer *x)
{
	blob_sink *b = x->sink;
	if (ftruncate(b->fd, 0) != 0) {
		x->failed = SH_EIO;
		sh_log_error("pull %s: cannot truncate %s: %s", x->s->repo, b->part, strerror(errno));
		return false;
	}
	crypto_hash_sha256_init(&b->sha);
	x->done = 0;
	return true;
}

/* hashes what .incomplete already holds (its first done bytes) */
static int partial_hash(blob_sink *b, uint64_t done)
{
	unsigned char buf[1 << 16];
	crypto_hash_sha256_init(&b->sha);
	for (uint64_t at = 0; at < done;) {
		ssize_t r = pread(b->fd, buf, (size_t)SH_MIN((uint64_t)sizeof buf, done - at), (off_t)at);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return SH_EIO;
		}
		crypto_hash_sha256_update(&b->sha, buf, (size_t)r);
		at += (uint64_t)r;
	}
	return SH_OK;
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
	char blob[2048], part[2048], url[URL_MAX] = "";
	if (hub_cache_blob_path(s->c, s->r, f->sha, false, blob, sizeof blob) ||
	    hub_cache_blob_path(s->c, s->r, f->sha, true, part, sizeof part))
		return SH_ERANGE;
	int lock = hub_cache_lock(s->c, s->r, f->sha);
	if (lock < 0)
		return SH_EIO;
	blob_sink b = { .part = part, .fd = -1, .p = { .file = f->path, .index = index, .count = count, .total = f->size } };
	xfer x = { .s = s, .path = f->path, .url = url, .size = f->size, .sized = true, .end = f->size, .keeps = true,
		   .put = blob_put, .restart = blob_restart, .sink = &b };
	if (f->lfs)
		snprintf(x.etag, sizeof x.etag, "%s", f->sha);
	int rc = SH_EIO;
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
	if ((b.fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		sh_log_error("pull %s: cannot open %s: %s", s->repo, part, strerror(errno));
		goto done;
	}
	if (fstat(b.fd, &st) == 0)
		x.done = (uint64_t)st.st_size;
	if (x.done > f->size && ftruncate(b.fd, 0) == 0)
		x.done = 0;
	if (x.done)
		sh_log_info("pull %s: %s: resuming at %llu of %llu bytes", s->repo, f->path, (unsigned long long)x.done,
			    (unsigned long long)f->size);
	if (partial_hash(&b, x.done)) {
		sh_log_error("pull %s: cannot read %s: %s", s->repo, part, strerror(errno));
		goto closed;
	}
	struct statvfs vfs;
	if (fstatvfs(b.fd, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < f->size - x.done) {
		sh_log_error("pull %s: %s needs %.1f MiB more and %s has %.1f MiB free; the %llu bytes already "
			     "pulled are kept in %s", s->repo, f->path, (double)(f->size - x.done) / (1 << 20), dir,
			     (double)vfs.f_bavail * vfs.f_frsize / (1 << 20), (unsigned long long)x.done, part);
		rc = SH_ENOSPC;
		goto closed;
	}
	b.t_rate = sh_time_sec();
	b.rate_done = (double)x.done;
	progress_tell(&b, s->o, x.done, true);
	if ((rc = xfer_run(&x)))
		goto closed;
	rc = SH_EIO;
	unsigned char d[32];
	char got[HUB_SHA_HEX + 1];
	crypto_hash_sha256_final(&b.sha, d);
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
		close(b.fd);
		unlink(part);
		hub_cache_unlock(lock);
		return blob_fetch(s, f, index, count, round + 1);
	}
	if (fsync(b.fd) != 0 || rename(part, blob) != 0) {
		sh_log_error("pull %s: cannot move %s into place: %s", s->repo, blob, strerror(errno));
		goto closed;
	}
	rc = SH_OK;
closed:
	close(b.fd);
done:
	b.p.finished = true;
	progress_tell(&b, s->o, x.done, true);
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
		bool cdn;
		int v = resolve(s, path, &h, url, sizeof url, &cdn, &status, &crc);
		if (v == TRY_OK) {
			if (!h.commit[0] || strlen(h.commit) > HUB_COMMIT_MAX) {
				sh_log_error("pull %s: the hub sent no X-Repo-Commit for %s", s->repo, path);
				return SH_EFORMAT;
			}
			snprintf(commit, HUB_COMMIT_MAX + 1, "%s", h.commit);
			return SH_OK;
		}
		if (v == TRY_FAIL)
			return SH_EIO;
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

/* ---------------------------------------------------------------- range requests */
struct hub_source {
	session s;
	hub_ref r;
	char path[HUB_PATH_MAX + 1];
	char rev[HUB_COMMIT_MAX + 1];
	char url[URL_MAX];           /* resolved by the first hub_range_get; again when the CDN refuses it */
	bool cdn;
	char etag[HUB_SHA_HEX + 1];  /* the file's sha256 and size, from the first resolve */
	uint64_t size;
	bool sized;
	uint64_t bytes;              /* body bytes received */
};

hub_source *hub_source_open(const hub_ref *r, const hub_opts *o, const char *commit, const char *path, int *err)
{
	char repo[2 * HUB_NAME_MAX + 2];
	int rc = SH_EINVAL;
	hub_source *src = NULL;
	hub_ref_repo(r, repo, sizeof repo);
	if (!commit || !*commit)
		commit = "main";
	if (!path || !*path || strlen(path) > HUB_PATH_MAX)
		sh_log_error("pull %s: a file path of 1 to %d bytes is needed", repo, HUB_PATH_MAX);
	else if (strcmp(commit, "main") && (strlen(commit) > HUB_COMMIT_MAX || !hex_ok(commit, strlen(commit))))
		sh_log_error("pull %s: %s: not a commit", repo, path);
	else if (o->offline || hub_offline_env())
		sh_log_error("pull %s: %s: offline (HF_HUB_OFFLINE or --offline), so nothing is fetched", repo, path);
	else if (!(src = calloc(1, sizeof *src)))
		rc = SH_ENOMEM;
	else {
		src->r = *r;
		snprintf(src->path, sizeof src->path, "%s", path);
		snprintf(src->rev, sizeof src->rev, "%s", commit);
		if (!(rc = session_open(&src->s, NULL, &src->r, o)))
			src->s.rev = src->rev;
	}
	if (rc) {
		hub_source_free(src);
		src = NULL;
	}
	if (err)
		*err = rc;
	return src;
}

void hub_source_free(hub_source *src)
{
	if (!src)
		return;
	session_close(&src->s);
	free(src);
}

uint64_t hub_source_bytes(const hub_source *src)
{
	return src->bytes;
}

/* hub_range_get's sink: the caller's buffer, for the bytes from off */
typedef struct {
	uint8_t *buf;
	uint64_t off;
} range_sink;

static bool range_put(xfer *x, const char *data, size_t n)
{
	range_sink *b = x->sink;
	memcpy(b->buf + (x->done - b->off), data, n);
	return true;
}

int hub_range_get(hub_source *src, uint64_t off, size_t len, void *buf)
{
	uint64_t end;
	if (!len)
		return SH_OK;
	if (!buf || !sh_add_ok(off, len, &end) || (src->sized && end > src->size)) {
		sh_log_error("pull %s: %s: bytes %llu+%zu are not in the file (%llu bytes)", src->s.repo, src->path,
			     (unsigned long long)off, len, (unsigned long long)src->size);
		return SH_EINVAL;
	}
	range_sink b = { .buf = buf, .off = off };
	xfer x = { .s = &src->s, .path = src->path, .url = src->url, .cdn = src->cdn, .size = src->size, .sized = src->sized, .done = off,
		   .end = end, .ranged = true, .put = range_put, .sink = &b };
	snprintf(x.etag, sizeof x.etag, "%s", src->etag);
	int rc = xfer_run(&x);
	src->bytes += x.received;
	snprintf(src->etag, sizeof src->etag, "%s", x.etag);
	src->size = x.size;
	src->sized = x.sized;
	src->cdn = x.cdn;
	return rc;
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

json_t *hub_cached_json(const hub_cached *m)
{
	char ref[HUB_PATH_MAX + 2 * HUB_NAME_MAX + 4];
	hub_ref_format(&m->ref, ref, sizeof ref);
	return json_pack("{s:s, s:s?, s:I, s:I, s:b, s:i, s:s, s:b}", "reference", ref, "quant",
			 m->quant[0] ? m->quant : NULL, "size", (json_int_t)m->size, "modified", (json_int_t)m->mtime,
			 "complete", m->complete, "parts", m->parts, "commit", m->commit, "main", m->main);
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

/* the model from the cache alone: 0, its commit and first file; SH_EIO when it is not there or not
 * whole (nothing logged), SH_EINVAL when the cached snapshot cannot answer ref (logged when offline,
 * where no hub can); a split set, unless sets, is SH_EUNSUP (nothing logged) */
static int model_cached(const hub_cache *c, const hub_ref *r, bool offline, bool sets, char commit[HUB_COMMIT_MAX + 1],
			hub_file *first)
{
	char why[1024], name[HUB_PATH_MAX + 2 * HUB_NAME_MAX + 4];
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
	if (!rc && n_pick > 1 && !sets)
		rc = SH_EUNSUP;
	for (int k = 0; !rc && k < n_pick; k++)
		if (!f[pick[k]].complete)
			rc = SH_EIO;
	if (rc && rc != SH_EUNSUP && offline)
		sh_log_error("%s: not in the cache %s offline: %s", name, c->root,
			     rc == SH_EINVAL ? why : "a file of it was never completed (pull it when online)");
	if (!rc) {
		*first = f[pick[0]];
		first->lfs = hex_ok(first->sha, HUB_SHA_HEX); /* a blob named by a sha256, not a git oid */
	}
	free(f);
	return rc;
}

/* the file(s) ref names from the hub: the listing, the pick (logged when none), the commit of main,
 * the snapshot linked; 0 and a malloc'd *files with the picked ones in pick[0 .. *n_pick). A split set
 * when !sets: SH_EUNSUP, nothing logged (and nothing linked) */
static int model_listed(session *s, bool sets, hub_file **files, int *pick, int *n_pick, char commit[HUB_COMMIT_MAX + 1])
{
	hub_file *f = NULL;
	int n = 0, rc = tree_fetch(s, &f, &n);
	char why[1024];
	*n_pick = 0;
	if (!rc && (rc = hub_pick(f, n, s->r, pick, n_pick, PICK_MAX, why, sizeof why)))
		sh_log_error("pull: %s", why);
	if (!rc && *n_pick > 1 && !sets)
		rc = SH_EUNSUP;
	if (!rc && !s->r->file[0]) {
		uint64_t total = 0;
		for (int k = 0; k < *n_pick; k++)
			total += f[pick[k]].size;
		sh_log_info("%s %s: %s (%.1f MiB%s)", sets ? "pull" : "model", s->repo, f[pick[0]].path,
			    (double)total / (1 << 20), *n_pick > 1 ? ", a split set" : "");
	}
	for (int k = 0; !rc && k < *n_pick; k++) {
		const hub_file *x = &f[pick[k]];
		if (!x->sha[0]) {
			sh_log_error("pull %s: the hub lists %s without an oid", s->repo, x->path);
			rc = SH_EFORMAT;
		}
	}
	if (!rc)
		rc = commit_fetch(s, f[pick[0]].path, commit);
	/* linked before the blobs are there, so that ls shows an interrupted pull as incomplete */
	for (int k = 0; !rc && k < *n_pick; k++)
		rc = hub_cache_link(s->c, s->r, commit, f[pick[k]].path, f[pick[k]].sha);
	if (rc) {
		free(f);
		f = NULL;
	}
	*files = f;
	return rc;
}

int hub_model(const hub_cache *c, const hub_ref *r, const hub_opts *o, char *path, size_t cap)
{
	bool offline = o->offline || hub_offline_env();
	char commit[HUB_COMMIT_MAX + 1] = "";
	hub_file first;
	if (!o->update || offline) {
		int rc = model_cached(c, r, offline, true, commit, &first);
		if (!rc)
			return snapshot_path(c, r, commit, first.path, path, cap);
		if (offline)
			return rc;
	}
	session s;
	hub_file *f = NULL;
	int pick[PICK_MAX], n_pick = 0, rc = session_open(&s, c, r, o);
	if (!rc)
		rc = model_listed(&s, true, &f, pick, &n_pick, commit);
	for (int k = 0; !rc && k < n_pick; k++)
		rc = blob_fetch(&s, &f[pick[k]], k, n_pick, 0);
	if (!rc)
		rc = hub_cache_ref_write(c, r, commit);
	if (!rc)
		rc = snapshot_path(c, r, commit, f[pick[0]].path, path, cap);
	free(f);
	session_close(&s);
	return rc;
}

int hub_model_locate(const hub_cache *c, const hub_ref *r, const hub_opts *o, hub_file *file,
		     char commit[HUB_COMMIT_MAX + 1], char *path, size_t path_cap, char *blob, size_t blob_cap)
{
	bool offline = o->offline || hub_offline_env();
	int rc = SH_EIO;
	commit[0] = 0;
	if (!o->update || offline) {
		rc = model_cached(c, r, offline, false, commit, file);
		if (rc && (rc == SH_EUNSUP || offline))
			return rc;
	}
	if (rc) { /* from the hub: its listing and a HEAD, no bytes of the file */
		session s;
		hub_file *f = NULL;
		int pick[PICK_MAX], n_pick = 0;
		struct stat st;
		rc = session_open(&s, c, r, o);
		if (!rc)
			rc = model_listed(&s, false, &f, pick, &n_pick, commit);
		if (!rc) {
			*file = f[pick[0]];
			file->complete = !hub_cache_blob_path(c, r, file->sha, false, blob, blob_cap) && stat(blob, &st) == 0 &&
					 (uint64_t)st.st_size == file->size;
		}
		if (!rc && file->complete) /* the blob was there already (another commit's): main is whole */
			rc = hub_cache_ref_write(c, r, commit);
		free(f);
		session_close(&s);
	}
	if (!rc)
		rc = snapshot_path(c, r, commit, file->path, path, path_cap);
	if (!rc)
		rc = hub_cache_blob_path(c, r, file->sha, false, blob, blob_cap);
	return rc;
}

#define HEADER_FIRST (64u << 10)    /* hub_source_header's first request */
#define HEADER_MAX (512u << 20)     /* a GGUF header longer than this is not one */

int hub_source_header(hub_source *s, uint64_t size, uint8_t **out, uint64_t *len)
{
	uint8_t *buf = NULL;
	uint64_t have = 0, need = 0, want = SH_MIN(size, (uint64_t)HEADER_FIRST);
	int rc = SH_OK;
	*out = NULL;
	*len = 0;
	while (!rc) {
		if (want > have) {
			uint8_t *b = realloc(buf, want);
			if (!b) {
				rc = SH_ENOMEM;
				break;
			}
			buf = b;
			if ((rc = hub_range_get(s, have, (size_t)(want - have), buf + have)))
				goto out; /* logged */
			have = want;
		}
		if ((rc = gguf_header_size(buf, have, &need)) != SH_ERANGE)
			break;
		if (need <= have || need > size || need > HEADER_MAX) { /* (need > have: gguf_header_size's promise) */
			sh_log_error("%s: not a GGUF header: it would end past byte %llu (the file has %llu, a header at most %u)",
				     s->path, (unsigned long long)need, (unsigned long long)size, HEADER_MAX);
			rc = SH_EFORMAT;
			goto out;
		}
		/* what it asks for, and at least twice what there is, so a long vocabulary takes few requests */
		want = SH_MIN(SH_MIN(size, (uint64_t)HEADER_MAX), SH_MAX(need, 2 * have));
		rc = SH_OK;
	}
	if (rc == SH_ENOMEM)
		sh_log_error("%s: out of memory for a header of %llu bytes", s->path, (unsigned long long)want);
	else if (rc)
		sh_log_error("%s: not a GGUF header%s", s->path,
			     rc == SH_EUNSUP ? " shoal reads (GGUF v1, big-endian, an unknown tensor type or nested arrays)" : "");
	if (!rc) {
		*out = buf;
		*len = need;
		buf = NULL;
	}
out:
	free(buf);
	return rc;
}
