/*
 * cmd_status.c - `shoal status`: the cluster as one node sees it (GET /v1/topology), in the terminal.
 *
 * A small HTTP/1.1 client of its own (one GET with "Connection: close" over a plain TCP socket,
 * 3 s to connect, 10 s for the whole answer, body by Content-Length, chunked or until close,
 * capped at 4 MiB), so the command needs no HTTP library; jansson parses the topology. Beyond the
 * nodes' ids, states and layer ranges every field is optional: what a node reports is printed,
 * what it does not is skipped, so older and newer nodes both work. --json prints the topology
 * itself; --watch redraws it until Ctrl-C. ANSI colors and screen control only on a terminal
 * (colors not with NO_COLOR set).
 */
#define _GNU_SOURCE /* asprintf */
#include "main/cmds.h"
#include "api/server.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define STATUS_BODY_MAX (4u << 20)        /* decoded body bytes */
#define STATUS_RAW_MAX (STATUS_BODY_MAX + (STATUS_BODY_MAX >> 2) + (64u << 10)) /* + headers, chunk lines */
#define STATUS_CONNECT_MS 3000
#define STATUS_RESPONSE_MS 10000
#define STATUS_BAR 20

typedef struct {
	char host[256];
	long port;
	const char *api_key;
	bool json, watch;
	double interval;
} status_opts;

static volatile sig_atomic_t status_stop;
static void status_on_signal(int sig) { (void)sig; status_stop = 1; }

static double now_ms(void) { return sh_time_sec() * 1000.0; }

/* ---------------------------------------------------------------- options */
/* "http://host[:port][/ | /v1 | /v1/topology]" or "host[:port]"; IPv6 in brackets */
static bool parse_url(const char *url, status_opts *o)
{
	const char *p = url;
	if (!strncasecmp(p, "https://", 8)) {
		sh_log_error("--url: https is not supported (a node serves plain http)");
		return false;
	}
	if (!strncasecmp(p, "http://", 7))
		p += 7;
	const char *h = p, *he;
	if (*p == '[') {
		h = p + 1;
		if (!(he = strchr(h, ']')))
			goto bad;
		p = he + 1;
	} else {
		he = p + strcspn(p, ":/");
		p = he;
	}
	if (he == h || (size_t)(he - h) >= sizeof o->host)
		goto bad;
	memcpy(o->host, h, (size_t)(he - h));
	o->host[he - h] = 0;
	if (*p == ':') {
		char *end;
		errno = 0;
		long port = strtol(p + 1, &end, 10);
		if (errno || end == p + 1 || port < 1 || port > 65535)
			goto bad;
		o->port = port;
		p = end;
	}
	if (*p && strcmp(p, "/") && strcmp(p, "/v1") && strcmp(p, "/v1/") && strcmp(p, "/v1/topology"))
		goto bad;
	return true;
bad:
	sh_log_error("--url: '%s' is not http://HOST[:PORT]", url);
	return false;
}

static bool parse_url_opt(const char *v, void *o) { return parse_url(v, o); }

/* "host", "[v6 address]" */
static bool parse_host(const char *v, void *dst)
{
	status_opts *o = dst;
	size_t n = strlen(v);
	const char *h = v;
	if (n >= 2 && v[0] == '[' && v[n - 1] == ']')
		h++, n -= 2;
	if (!n || n >= sizeof o->host) {
		sh_log_error("status: --host: '%s' is not a host name", v);
		return false;
	}
	memcpy(o->host, h, n);
	o->host[n] = 0;
	return true;
}

/* --watch [SECONDS] */
static bool parse_watch(const char *v, void *dst)
{
	status_opts *o = dst;
	o->watch = true;
	if (!v)
		return true;
	char *end;
	double s = strtod(v, &end);
	if (end == v || *end || !(s >= 0.1 && s <= 86400)) {
		sh_log_error("status: --watch: '%s' is not a number of seconds in [0.1, 86400]", v);
		return false;
	}
	o->interval = s;
	return true;
}

/* 0, OPTS_HELP or an error */
static int status_parse(int argc, char **argv, status_opts *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->host, sizeof o->host, "127.0.0.1");
	o->port = API_DEFAULT_PORT;
	o->interval = 2;
	o->api_key = getenv("SHOAL_API_KEY");
	const opt table[] = {
		OPTS_FN("--host", NULL, "HOST", parse_host, o, 0, "the node to ask (default: 127.0.0.1)"),
		OPTS_INT("--port", NULL, "PORT", &o->port, 1, 65535, "its API port"),
		OPTS_FN("--url", NULL, "http://HOST:PORT", parse_url_opt, o, 0,
			"the node as a URL instead (one ending in /v1 or /v1/topology works too)"),
		OPTS_STR("--api-key", NULL, "KEY", &o->api_key, "the node's API key (default: $SHOAL_API_KEY)"),
		OPTS_FLAG("--json", NULL, &o->json, "print the topology JSON instead"),
		OPTS_FN("--watch", NULL, "SECONDS", parse_watch, o, OPT_VALUE_OPTIONAL,
			"redraw every SECONDS (default: 2) until Ctrl-C"),
		OPTS_DONE,
	};
	const opts_cmd cmd = { "status", "[--host HOST] [--port PORT | --url URL] [options]",
			       "Shows the cluster as one node sees it (GET /v1/topology): the plan, each node's state, "
			       "memory and layers, its share of a model file that the nodes are fetching (verified bytes and "
			       "where they came from), and the links between nodes with their round trip and bandwidth.",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	if (rc)
		return rc;
	if (o->api_key && !o->api_key[0])
		o->api_key = NULL;
	for (const char *k = o->api_key; k && *k; k++)
		if ((unsigned char)*k < 0x20 || *k == 0x7f) {
			sh_log_error("status: the API key has control characters");
			return SH_EINVAL;
		}
	return 0;
}

/* ---------------------------------------------------------------- HTTP response */
typedef struct {
	int status;
	char reason[128];
	char *body;       /* malloc'd, NUL-terminated */
	size_t body_len;
} http_resp;

/* the line at buf[*pos..len) without its "\r\n" (or "\n"): its length, -2 when incomplete */
static long next_line(const char *buf, size_t len, size_t *pos, const char **line)
{
	const char *s = buf + *pos, *nl = memchr(s, '\n', len - *pos);
	if (!nl)
		return -2;
	size_t n = (size_t)(nl - s);
	*pos += n + 1;
	if (n && s[n - 1] == '\r')
		n--;
	*line = s;
	return (long)n;
}

/* a chunked body from buf[pos..len): its decoded length (written to out when not NULL), -2 when
 * incomplete, -1 malformed */
static long chunked_body(const char *buf, size_t len, size_t pos, char *out, char *msg, size_t cap)
{
	size_t total = 0;
	for (;;) {
		const char *l;
		long n = next_line(buf, len, &pos, &l);
		if (n < 0)
			return -2;
		uint64_t size = 0;
		long k = 0;
		for (; k < n; k++) {
			int c = (unsigned char)l[k], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
						       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (d < 0)
				break;
			if (size <= STATUS_BODY_MAX) /* saturates: too large either way */
				size = size * 16 + (uint64_t)d;
		}
		if (k == 0 || (k < n && l[k] != ';' && l[k] != ' ' && l[k] != '\t')) {
			snprintf(msg, cap, "bad chunk size line '%.*s'", (int)SH_MIN(n, 40), l);
			return -1;
		}
		if (size > STATUS_BODY_MAX || total + size > STATUS_BODY_MAX) {
			snprintf(msg, cap, "the answer is larger than %u MiB", STATUS_BODY_MAX >> 20);
			return -1;
		}
		if (size == 0) { /* trailers up to an empty line */
			while ((n = next_line(buf, len, &pos, &l)) > 0)
				;
			return n < 0 ? -2 : (long)total;
		}
		if (len - pos < size)
			return -2;
		if (out)
			memcpy(out + total, buf + pos, size);
		total += size;
		pos += size;
		if (len - pos < 1 || (buf[pos] == '\r' && len - pos < 2))
			return -2;
		if (buf[pos] == '\r')
			pos++;
		if (buf[pos] != '\n') {
			snprintf(msg, cap, "a chunk does not end with CRLF");
			return -1;
		}
		pos++;
	}
}

/* a whole response in buf[0..len) (eof: the peer closed the connection): 0 parsed (*r filled, r->body
 * to free), -2 incomplete, -1 malformed (msg says why) */
static int http_parse(const char *buf, size_t len, bool eof, http_resp *r, char *msg, size_t cap)
{
	size_t pos = 0;
	bool chunked, has_length;
	uint64_t length;
	memset(r, 0, sizeof *r);
	for (;;) {
		const char *l;
		long n = next_line(buf, len, &pos, &l);
		if (n < 0)
			goto incomplete;
		if (n < 12 || strncmp(l, "HTTP/1.", 7) || l[8] != ' ' || l[9] < '1' || l[9] > '5' || l[10] < '0' ||
		    l[10] > '9' || l[11] < '0' || l[11] > '9' || (n > 12 && l[12] != ' ')) {
			snprintf(msg, cap, "not an HTTP/1.x answer: '%.*s'", (int)SH_MIN(n, 60), l);
			for (char *c = msg; *c; c++)
				if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
					*c = '?';
			return -1;
		}
		r->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
		int rl = n > 13 ? (int)SH_MIN(n - 13, (long)sizeof r->reason - 1) : 0;
		memcpy(r->reason, l + 13, (size_t)rl);
		r->reason[rl] = 0;
		chunked = has_length = false;
		length = 0;
		while ((n = next_line(buf, len, &pos, &l)) > 0) {
			const char *colon = memchr(l, ':', (size_t)n);
			if (!colon) {
				snprintf(msg, cap, "a header line without ':'");
				return -1;
			}
			size_t nl = (size_t)(colon - l);
			const char *v = colon + 1, *ve = l + n;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			if (nl == 14 && !strncasecmp(l, "Content-Length", 14)) {
				uint64_t x = 0;
				const char *c = v;
				for (; c < ve && *c >= '0' && *c <= '9'; c++)
					if (x <= STATUS_RAW_MAX) /* saturates: too large either way */
						x = x * 10 + (uint64_t)(*c - '0');
				if (c == v || c < ve || (has_length && x != length)) {
					snprintf(msg, cap, "bad Content-Length '%.*s'", (int)SH_MIN(ve - v, 40), v);
					return -1;
				}
				has_length = true, length = x;
			} else if (nl == 17 && !strncasecmp(l, "Transfer-Encoding", 17)) {
				/* the last coding must be chunked; any other coding is not supported */
				size_t vn = (size_t)(ve - v);
				if (vn == 8 && !strncasecmp(v, "identity", 8))
					continue;
				if (vn != 7 || strncasecmp(v, "chunked", 7)) {
					snprintf(msg, cap, "unsupported Transfer-Encoding '%.*s'", (int)SH_MIN(vn, 40), v);
					return -1;
				}
				chunked = true;
			}
		}
		if (n < 0)
			goto incomplete;
		if (r->status >= 200)
			break;
		/* 1xx: an interim answer, the real one follows */
	}
	if (r->status == 204 || r->status == 304)
		chunked = false, has_length = true, length = 0;
	if (chunked) {
		long bl = chunked_body(buf, len, pos, NULL, msg, cap);
		if (bl == -2)
			goto incomplete;
		if (bl < 0)
			return -1;
		if (!(r->body = malloc((size_t)bl + 1)))
			goto nomem;
		chunked_body(buf, len, pos, r->body, msg, cap);
		r->body_len = (size_t)bl;
	} else {
		if (has_length && length > STATUS_BODY_MAX) {
			snprintf(msg, cap, "the answer is larger than %u MiB", STATUS_BODY_MAX >> 20);
			return -1;
		}
		if (has_length ? len - pos < length : !eof)
			goto incomplete;
		r->body_len = has_length ? (size_t)length : len - pos;
		if (r->body_len > STATUS_BODY_MAX) {
			snprintf(msg, cap, "the answer is larger than %u MiB", STATUS_BODY_MAX >> 20);
			return -1;
		}
		if (!(r->body = malloc(r->body_len + 1)))
			goto nomem;
		memcpy(r->body, buf + pos, r->body_len);
	}
	r->body[r->body_len] = 0;
	return 0;
incomplete:
	if (!eof)
		return -2;
	snprintf(msg, cap, "the connection closed before the whole answer came");
	return -1;
nomem:
	snprintf(msg, cap, "out of memory");
	return -1;
}

/* ---------------------------------------------------------------- HTTP client */
/* waits for ev on fd until deadline (ms of now_ms); 1 ready, 0 timed out, -1 interrupted by Ctrl-C */
static int wait_fd(int fd, short ev, double deadline)
{
	for (;;) {
		if (status_stop)
			return -1;
		double left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = ev };
		int k = poll(&p, 1, (int)ceil(left));
		if (k > 0)
			return 1;
		if (k < 0 && errno != EINTR)
			return 1; /* let the following call report the error */
	}
}

static int tcp_connect(const char *host, long port, char *err, size_t cap)
{
	char ports[16];
	snprintf(ports, sizeof ports, "%ld", port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int gr = getaddrinfo(host, ports, &hints, &ai);
	if (gr) {
		snprintf(err, cap, "cannot resolve '%s': %s", host, gai_strerror(gr));
		return -1;
	}
	int fd = -1, last = 0;
	bool timed_out = false;
	for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0) {
			last = errno;
			continue;
		}
		if (connect(fd, a->ai_addr, a->ai_addrlen) && errno != EINPROGRESS) {
			last = errno;
		} else {
			int w = wait_fd(fd, POLLOUT, now_ms() + STATUS_CONNECT_MS), e = 0;
			socklen_t el = sizeof e;
			if (w == 1 && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) && !e)
				continue; /* connected: fd >= 0 ends the loop */
			if (w == 0)
				timed_out = true;
			else
				last = w < 0 ? EINTR : e ? e : errno;
		}
		close(fd);
		fd = -1;
		if (status_stop)
			break;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		if (!timed_out && !last)
			last = EADDRNOTAVAIL;
		if (timed_out && !last)
			snprintf(err, cap, "cannot connect to %s port %ld: no answer in %d s", host, port, STATUS_CONNECT_MS / 1000);
		else
			snprintf(err, cap, "cannot connect to %s port %ld: %s%s", host, port, strerror(last),
				 last == ECONNREFUSED ? " (is `shoal run` serving there? see --host, --port)" : "");
	}
	return fd;
}

/* GET http://host:port/path: 0 with *r (its body to free), -1 with err */
static int http_get(const status_opts *o, const char *path, http_resp *r, char *err, size_t cap)
{
	memset(r, 0, sizeof *r);
	int fd = tcp_connect(o->host, o->port, err, cap);
	if (fd < 0)
		return -1;
	bool v6 = strchr(o->host, ':') != NULL;
	char *req = NULL;
	int rn = asprintf(&req,
			  "GET %s HTTP/1.1\r\nHost: %s%s%s:%ld\r\nUser-Agent: shoal-status\r\nAccept: application/json\r\n"
			  "%s%s%sConnection: close\r\n\r\n",
			  path, v6 ? "[" : "", o->host, v6 ? "]" : "", o->port, o->api_key ? "Authorization: Bearer " : "",
			  o->api_key ? o->api_key : "", o->api_key ? "\r\n" : "");
	char *buf = NULL;
	size_t len = 0, bufcap = 0;
	int rc = -1;
	char msg[256] = "";
	double deadline = now_ms() + STATUS_RESPONSE_MS;
	if (rn < 0) {
		req = NULL;
		snprintf(err, cap, "out of memory");
		goto done;
	}
	for (size_t sent = 0; sent < (size_t)rn;) {
		ssize_t k = send(fd, req + sent, (size_t)rn - sent, MSG_NOSIGNAL);
		if (k > 0) {
			sent += (size_t)k;
			continue;
		}
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			int w = wait_fd(fd, POLLOUT, deadline);
			if (w == 1)
				continue;
			snprintf(err, cap, "%s port %ld: %s", o->host, o->port, w ? "interrupted" : "sending timed out");
		} else
			snprintf(err, cap, "%s port %ld: sending the request: %s", o->host, o->port, strerror(errno));
		goto done;
	}
	for (bool eof = false;;) {
		if (len + 65536 + 1 > bufcap) {
			size_t nc = bufcap ? bufcap * 2 : 65536 * 2;
			char *nb = realloc(buf, nc);
			if (!nb) {
				snprintf(err, cap, "out of memory");
				goto done;
			}
			buf = nb, bufcap = nc;
		}
		ssize_t k = recv(fd, buf + len, bufcap - len - 1, 0);
		if (k > 0)
			len += (size_t)k;
		else if (k == 0)
			eof = true;
		else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
			int w = wait_fd(fd, POLLIN, deadline);
			if (w == 1)
				continue;
			snprintf(err, cap, "%s port %ld: %s", o->host, o->port,
				 w ? "interrupted" : "no complete answer in 10 s");
			goto done;
		} else {
			snprintf(err, cap, "%s port %ld: reading the answer: %s", o->host, o->port, strerror(errno));
			goto done;
		}
		int p = http_parse(buf, len, eof, r, msg, sizeof msg);
		if (p == 0)
			break;
		if (p == -1) {
			snprintf(err, cap, "%s port %ld: bad HTTP answer: %s", o->host, o->port, msg);
			goto done;
		}
		if (len > STATUS_RAW_MAX) {
			snprintf(err, cap, "%s port %ld: the answer is larger than %u MiB", o->host, o->port,
				 STATUS_BODY_MAX >> 20);
			goto done;
		}
	}
	rc = 0;
done:
	free(req);
	free(buf);
	close(fd);
	return rc;
}

/* the topology, or NULL with err (one line) */
static json_t *fetch_topology(const status_opts *o, char *err, size_t cap)
{
	http_resp r;
	if (http_get(o, "/v1/topology", &r, err, cap))
		return NULL;
	json_error_t je;
	json_t *j = json_loadb(r.body, r.body_len, 0, &je);
	if (r.status != 200) {
		const char *m = NULL;
		json_t *e = json_object_get(j, "error");
		if (json_is_object(e))
			m = json_string_value(json_object_get(e, "message"));
		else if (json_is_string(e))
			m = json_string_value(e);
		if (!m && r.status == 404)
			m = "no /v1/topology there (not a shoal node, or one without a topology)";
		/* the API's message, else the reason phrase and the start of a body that is not JSON */
		char snip[128] = "";
		if (!m && !j && r.body_len)
			snprintf(snip, sizeof snip, ": %.100s%s", r.body, r.body_len > 100 ? "..." : "");
		snprintf(err, cap, "%s port %ld: HTTP %d%s%s%s%s%s", o->host, o->port, r.status, m || r.reason[0] ? " " : "",
			 m ? "" : r.reason, m ? m : "", snip,
			 r.status == 401 ? (o->api_key ? " (the --api-key given was refused)" : " (use --api-key KEY)") : "");
		json_decref(j);
		j = NULL;
	} else if (!j)
		snprintf(err, cap, "%s port %ld: the topology is not JSON: %s (line %d, column %d)", o->host, o->port, je.text,
			 je.line, je.column);
	else if (!json_is_object(j) || !json_is_array(json_object_get(j, "nodes"))) {
		snprintf(err, cap, "%s port %ld: the answer is not a topology (no \"nodes\" array)", o->host, o->port);
		json_decref(j);
		j = NULL;
	}
	for (char *c = err; j == NULL && *c; c++) /* one line, whatever the server said */
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	free(r.body);
	return j;
}

/* ---------------------------------------------------------------- rendering */
typedef struct {
	const char *bold, *dim, *red, *green, *yellow, *cyan, *reset;
} palette;

static const palette colors = { "\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[33m", "\033[36m", "\033[0m" };
static const palette no_colors = { "", "", "", "", "", "", "" };

static const char *jstr(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s && s[0] ? s : NULL;
}

static bool jnum(const json_t *o, const char *k, double *out)
{
	json_t *v = json_object_get(o, k);
	if (!json_is_number(v))
		return false;
	*out = json_number_value(v);
	return true;
}

static void put_bytes(FILE *f, double b)
{
	char buf[32];
	sh_bytes_fmt(b, buf, sizeof buf);
	fputs(buf, f);
}

/* a string a node sent: control characters (a terminal's escape sequences) become '?' */
static void put_str(FILE *f, const char *s)
{
	for (; s && *s; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, f);
}

/* strings print as they are, numbers without a fraction as integers, arrays joined by ' ' */
static void put_value(FILE *f, const json_t *v)
{
	if (json_is_string(v))
		put_str(f, json_string_value(v));
	else if (json_is_integer(v))
		fprintf(f, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		fprintf(f, "%g", json_real_value(v));
	else if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			if (i)
				fputc(' ', f);
			put_value(f, e);
		}
	} else if (json_is_true(v) || json_is_false(v))
		fputs(json_is_true(v) ? "yes" : "no", f);
}

static bool present(const json_t *v)
{
	return v && !json_is_null(v) && !(json_is_string(v) && !json_string_length(v)) &&
	       !(json_is_array(v) && !json_array_size(v));
}

/* "a1b2c3d4" of a node id */
static void short_id(const char *id, char out[9])
{
	snprintf(out, 9, "%s", id ? id : "?");
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* a memory figure: "memory": {"total", "available", "usable", "planned"}, else "mem_total"... or
 * "planned" on the node itself */
static bool mem_field(const json_t *n, const char *key, double *out)
{
	char flat[32];
	snprintf(flat, sizeof flat, strcmp(key, "planned") ? "mem_%s" : "%s", key);
	return jnum(json_object_get(n, "memory"), key, out) || jnum(n, flat, out);
}

/* [####......] of frac, in color; a nonzero fraction shows at least one mark */
static void put_bar(FILE *f, double frac, const char *color, const palette *c)
{
	int fill = (int)lround(frac * STATUS_BAR);
	if (frac > 0 && fill == 0)
		fill = 1;
	fill = SH_MIN(fill, STATUS_BAR);
	fprintf(f, "[%s", color);
	for (int i = 0; i < STATUS_BAR; i++) {
		if (i == fill)
			fputs(c->reset, f), fputs(c->dim, f);
		fputc(i < fill ? '#' : '.', f);
	}
	fprintf(f, "%s] ", c->reset);
}

/* "A/B UNIT" when both fit one unit, else "A/B" each with its own */
static void put_pair(FILE *f, double a, double b)
{
	double sa, sb;
	const char *ua = sh_bytes_unit(a, &sa), *ub = sh_bytes_unit(b, &sb);
	if (!strcmp(ua, ub) && sb > 1)
		fprintf(f, "%.1f/%.1f %s", a / sb, b / sb, ub);
	else
		put_bytes(f, a), fputc('/', f), put_bytes(f, b);
}

static void render_memory(FILE *f, const json_t *n, const palette *c)
{
	double usable = 0, planned = 0, total = 0, avail = 0;
	bool hu = mem_field(n, "usable", &usable) && usable > 0, hp = mem_field(n, "planned", &planned),
	     ht = mem_field(n, "total", &total) && total > 0, ha = mem_field(n, "available", &avail);
	if (!hu && !hp && !ht && !ha)
		return;
	fputs("        memory ", f);
	if (hu && hp) {
		double frac = planned / usable;
		put_bar(f, frac, frac > 1 ? c->red : frac > 0.9 ? c->yellow : c->green, c);
		put_pair(f, planned, usable);
		fputs(" planned/usable", f);
	} else if (hu)
		fputs("usable ", f), put_bytes(f, usable);
	else if (hp)
		fputs("planned ", f), put_bytes(f, planned);
	if (ha || ht) {
		fprintf(f, "%s  (", c->dim);
		if (ha)
			fputs("available ", f), put_bytes(f, avail);
		if (ha && ht)
			fputs(" of ", f);
		else if (ht)
			fputs("total ", f);
		if (ht)
			put_bytes(f, total);
		fprintf(f, ")%s", c->reset);
	}
	fputc('\n', f);
}

/* the model file while the cluster shares it: the node's share (verified/needed), the file
 * (verified/size), where its bytes came from and how fast, and what it sent the answering node */
static void render_file(FILE *f, const json_t *n, const palette *c)
{
	json_t *m = json_object_get(n, "model_file");
	double size, share, share_ok, ok;
	if (!json_is_object(m) || !jnum(m, "size", &size) || !jnum(m, "share", &share) ||
	    !jnum(m, "share_verified", &share_ok) || !jnum(m, "verified", &ok) || size <= 0)
		return;
	fputs("        share  ", f);
	put_bar(f, share > 0 ? share_ok / share : 1, share_ok >= share ? c->green : c->yellow, c);
	put_pair(f, share_ok, share);
	fputs(" verified  file ", f);
	put_pair(f, ok, size);
	if (json_is_true(json_object_get(m, "whole")))
		fprintf(f, "  %swhole%s", c->green, c->reset);
	else if (json_is_false(json_object_get(m, "full_copy")))
		fprintf(f, "  %sshare only%s", c->dim, c->reset);
	fputc('\n', f);
	static const struct {
		const char *key, *label, *suffix;
	} from[] = {
		{ "from_hub", "from hub", "" },
		{ "from_peers", "from peers", "" },
		{ "rate_bytes_per_s", "at", "/s" },
		{ "to_this_node", "sent here", "" },
	};
	bool any = false;
	for (size_t i = 0; i < SH_ARRAY_LEN(from); i++) {
		double v;
		if (!jnum(m, from[i].key, &v) || v <= 0)
			continue;
		fprintf(f, "%s%s%s%s ", any ? "  " : "               ", c->dim, from[i].label, c->reset);
		put_bytes(f, v);
		fputs(from[i].suffix, f);
		any = true;
	}
	if (any)
		fputc('\n', f);
}

static void render_node(FILE *f, const json_t *n, const palette *c)
{
	char id[9];
	short_id(jstr(n, "id"), id);
	const char *state = jstr(n, "state"), *addr = jstr(n, "address");
	const char *sc = !state ? c->yellow : !strcmp(state, "dead") ? c->red : c->green;
	json_t *api = json_object_get(n, "api"), *host = json_object_get(n, "host");
	if (!json_is_integer(api))
		api = json_object_get(n, "api_port");
	bool has_api = json_is_integer(api) && json_integer_value(api) > 0;
	fprintf(f, "  %s%s%s  %s", c->bold, id, c->reset, sc);
	put_str(f, state ? state : "?");
	fputs(c->reset, f);
	if (addr || has_api || present(host))
		fprintf(f, "%*s", (int)(5 - SH_MIN(strlen(state ? state : "?"), 5)), "");
	if (addr)
		fputs("  ", f), put_str(f, addr);
	if (has_api)
		fprintf(f, "  %sapi%s :%lld", c->dim, c->reset, (long long)json_integer_value(api));
	if (present(host))
		fprintf(f, "  %shost%s ", c->dim, c->reset), put_value(f, host);
	fputc('\n', f);

	/* the machine on two lines: cpu, cores, simd; os, measured speeds (0: not measured) */
	static const struct {
		const char *key, *label, *suffix;
		int line;
	} hw[] = {
		{ "cpu", "cpu", "", 0 },
		{ "cores", "cores", "", 0 },
		{ "simd", "simd", "", 0 },
		{ "os", "os", "", 1 },
		{ "mem_bandwidth_gbs", "mem bw", " GB/s", 1 },
		{ "matmul_gflops", "matmul", " GFLOP/s", 1 },
	};
	for (int line = 0; line < 2; line++) {
		bool any = false;
		for (size_t i = 0; i < SH_ARRAY_LEN(hw); i++) {
			json_t *v = json_object_get(n, hw[i].key);
			if (hw[i].line != line || !present(v) || (json_is_number(v) && json_number_value(v) <= 0))
				continue;
			fprintf(f, "%s%s%s%s ", any ? "  " : "        ", c->dim, hw[i].label, c->reset);
			if (json_is_real(v))
				fprintf(f, "%.1f", json_real_value(v));
			else
				put_value(f, v);
			fputs(hw[i].suffix, f);
			any = true;
		}
		if (any)
			fputc('\n', f);
	}

	render_memory(f, n, c);

	json_t *l = json_object_get(n, "layers");
	fputs("        ", f);
	if (json_is_array(l) && json_array_size(l) == 2 && json_is_integer(json_array_get(l, 0)) &&
	    json_is_integer(json_array_get(l, 1)) &&
	    json_integer_value(json_array_get(l, 1)) > json_integer_value(json_array_get(l, 0))) {
		long long a = json_integer_value(json_array_get(l, 0)), b = json_integer_value(json_array_get(l, 1));
		fprintf(f, "%slayers %lld-%lld%s (%lld)\n", c->cyan, a, b - 1, c->reset, b - a); /* [first, last) */
	} else
		fprintf(f, "%sno layers%s\n", c->dim, c->reset);
	render_file(f, n, c);
}

static void render_link(FILE *f, const json_t *l, const palette *c)
{
	char a[9], b[9];
	short_id(jstr(l, "from"), a);
	short_id(jstr(l, "to"), b);
	const char *st = jstr(l, "state");
	bool up = st && !strcmp(st, "up");
	fprintf(f, "  %s -> %s  %s", a, b, up ? c->green : c->red);
	put_str(f, st ? st : "?");
	fprintf(f, "%s%*s", c->reset, (int)(4 - SH_MIN(strlen(st ? st : "?"), 4)), "");
	double rtt, bw;
	if (jnum(l, "rtt_ms", &rtt))
		fprintf(f, "  rtt %.*f ms", rtt < 0.1 ? 3 : rtt < 100 ? 2 : 0, rtt);
	if (jnum(l, "bandwidth_mbps", &bw)) {
		if (bw >= 10000)
			fprintf(f, "  bw %.1f Gbit/s", bw / 1000);
		else
			fprintf(f, "  bw %.*f Mbit/s", bw < 10 ? 1 : 0, bw);
	}
	fputc('\n', f);
}

/* a node's first layer; after every real one when it has none */
static long long first_layer(const json_t *n)
{
	json_t *l = json_object_get(n, "layers");
	long long a = json_integer_value(json_array_get(l, 0)), b = json_integer_value(json_array_get(l, 1));
	return json_is_integer(json_array_get(l, 0)) && b > a ? a : 1ll << 62;
}

static void render(FILE *f, const json_t *t, const palette *c)
{
	json_t *nodes = json_object_get(t, "nodes"), *links = json_object_get(t, "links"),
	       *plan = json_object_get(t, "plan"), *v;
	size_t i, alive = 0;
	json_array_foreach(nodes, i, v) {
		const char *s = jstr(v, "state");
		alive += s && strcmp(s, "dead");
	}

	/* header: cluster, model, plan */
	json_t *name = json_object_get(t, "cluster"), *model = json_object_get(t, "model");
	if (json_is_object(name))
		name = json_object_get(name, "name");
	if (json_is_object(model)) {
		json_t *m = json_object_get(model, "name");
		model = m ? m : json_object_get(model, "id");
	}
	fprintf(f, "%scluster%s", c->bold, c->reset);
	if (present(name))
		fputc(' ', f), put_value(f, name);
	if (present(model))
		fprintf(f, "  %smodel%s ", c->bold, c->reset), put_value(f, model);
	double epoch, nl;
	if (json_is_object(plan)) {
		if (jnum(plan, "epoch", &epoch))
			fprintf(f, "  plan %08llx", (unsigned long long)epoch);
		json_t *p = json_object_get(plan, "pending");
		if (json_is_boolean(p))
			fprintf(f, "  %s%s%s", json_is_true(p) ? c->yellow : c->green, json_is_true(p) ? "pending" : "settled",
				c->reset);
		if (jnum(plan, "n_layers", &nl))
			fprintf(f, "  %.0f layers", nl);
	}
	json_t *disc = json_object_get(t, "discovery");
	if (json_is_boolean(disc))
		fprintf(f, "  discovery %s", json_is_true(disc) ? "on" : "off");
	fprintf(f, "  %zu node%s", json_array_size(nodes), json_array_size(nodes) == 1 ? "" : "s");
	if (alive != json_array_size(nodes))
		fprintf(f, " (%s%zu alive%s)", c->red, alive, c->reset);
	fputc('\n', f);
	const char *perr = json_is_object(plan) ? jstr(plan, "error") : NULL;
	if (perr)
		fprintf(f, "  %splan error: ", c->red), put_str(f, perr), fprintf(f, "%s\n", c->reset);

	/* in pipeline order: by first layer, the nodes without layers after (as listed) */
	size_t nn = json_array_size(nodes), order[256];
	nn = SH_MIN(nn, SH_ARRAY_LEN(order));
	for (i = 0; i < nn; i++) {
		size_t k = i;
		for (; k > 0 && first_layer(json_array_get(nodes, order[k - 1])) > first_layer(json_array_get(nodes, i)); k--)
			order[k] = order[k - 1];
		order[k] = i;
	}
	fprintf(f, "\n%snodes%s\n", c->bold, c->reset);
	for (i = 0; i < nn; i++)
		render_node(f, json_array_get(nodes, order[i]), c);
	if (json_array_size(nodes) > nn)
		fprintf(f, "  ... and %zu more\n", json_array_size(nodes) - nn);
	fprintf(f, "\n%slinks%s\n", c->bold, c->reset);
	if (!json_array_size(links))
		fprintf(f, "  %snone%s\n", c->dim, c->reset);
	json_array_foreach(links, i, v) {
		render_link(f, v, c);
	}
}

/* one frame (the topology or the error) into a malloc'd string; 0 when the topology came */
static int frame(const status_opts *o, const palette *c, char **out, size_t *len)
{
	char err[768] = "";
	json_t *t = fetch_topology(o, err, sizeof err);
	FILE *f = open_memstream(out, len);
	if (!f) {
		json_decref(t);
		return -1;
	}
	if (!t)
		fprintf(f, "%s%s%s\n", c->red, err, c->reset);
	else if (o->json) {
		char *s = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fprintf(f, "%s\n", s ? s : "null");
		free(s);
	} else
		render(f, t, c);
	fclose(f);
	json_decref(t);
	return t ? 0 : -1;
}

/* ---------------------------------------------------------------- status */
static int status_once(const status_opts *o, const palette *c)
{
	char err[768] = "";
	json_t *t = fetch_topology(o, err, sizeof err);
	if (!t) {
		sh_log_error("%s", err);
		return 1;
	}
	if (o->json) {
		char *s = json_dumps(t, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s)
			puts(s);
		free(s);
	} else
		render(stdout, t, c);
	json_decref(t);
	return fflush(stdout) ? 1 : 0;
}

static int status_watch(const status_opts *o, const palette *c, bool tty)
{
	struct sigaction sa = { .sa_handler = status_on_signal }; /* no SA_RESTART: poll and sleeps end */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (tty)
		fputs("\033[?25l\033[H\033[2J", stdout); /* hide the cursor, clear the screen */
	while (!status_stop) {
		double start = now_ms();
		char *s = NULL;
		size_t n = 0;
		frame(o, c, &s, &n);
		if (status_stop) {
			free(s);
			break;
		}
		time_t now = time(NULL);
		struct tm tm;
		char when[32];
		strftime(when, sizeof when, "%H:%M:%S", localtime_r(&now, &tm));
		if (tty) {
			/* home, each line then clear its rest, clear below: no flicker */
			fputs("\033[H", stdout);
			printf("%s%s  every %gs  %s:%ld  (Ctrl-C to stop)%s\033[K\n\033[K\n", c->dim, when, o->interval, o->host,
			       o->port, c->reset);
			for (char *p = s, *e; p && *p; p = e + 1) {
				if (!(e = strchr(p, '\n'))) {
					fputs(p, stdout);
					break;
				}
				fwrite(p, 1, (size_t)(e - p), stdout);
				fputs("\033[K\n", stdout);
			}
			fputs("\033[J", stdout);
		} else
			printf("--- %s\n%s\n", when, s ? s : "");
		fflush(stdout);
		free(s);
		double until = start + o->interval * 1000;
		while (!status_stop) {
			double left = until - now_ms();
			if (left <= 0)
				break;
			struct timespec ts = { .tv_sec = (time_t)(left / 1000), .tv_nsec = (long)(fmod(left, 1000) * 1e6) };
			nanosleep(&ts, NULL);
		}
	}
	if (tty)
		fputs("\033[?25h", stdout);
	fflush(stdout);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	status_opts o;
	int p = status_parse(argc, argv, &o);
	if (p)
		return p == OPTS_HELP ? 0 : 1;
	bool tty = isatty(STDOUT_FILENO);
	const char *nc = getenv("NO_COLOR");
	const palette *c = tty && !(nc && nc[0]) && !o.json ? &colors : &no_colors;
	return o.watch ? status_watch(&o, c, tty) : status_once(&o, c);
}
