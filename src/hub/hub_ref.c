/*
 * hub_ref.c - parsing model references and reading the quant out of GGUF file names (hub_ref.h).
 */
#include "hub/hub_ref.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"

/* one ORG, REPO or path component: [A-Za-z0-9._-]{1,max}, not starting with '.' or '-', no ".." */
static bool name_ok(const char *s, size_t n, size_t max)
{
	if (n == 0 || n > max || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-'))
			return false;
		if (c == '.' && i + 1 < n && s[i + 1] == '.')
			return false;
	}
	return true;
}

static bool ends_with_ci(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && !strncasecmp(s + n - k, suffix, k);
}

int hub_ref_parse(const char *s, hub_ref *r, const char **why)
{
	static const char *prefixes[] = { "https://", "http://", NULL };
	static const char *hosts[] = { "hf.co/", "huggingface.co/", NULL };
	memset(r, 0, sizeof *r);
	*why = NULL;
	if (!s || !*s) {
		*why = "empty";
		return SH_EINVAL;
	}
	bool had_scheme = false;
	for (int i = 0; prefixes[i]; i++)
		if (!strncmp(s, prefixes[i], strlen(prefixes[i]))) {
			s += strlen(prefixes[i]);
			had_scheme = true;
		}
	bool had_host = false;
	for (int i = 0; hosts[i]; i++)
		if (!strncasecmp(s, hosts[i], strlen(hosts[i]))) {
			s += strlen(hosts[i]);
			had_host = true;
		}
	if (had_scheme && !had_host) {
		*why = "a URL of another host than hf.co or huggingface.co";
		return SH_EINVAL;
	}
	size_t len = strlen(s);
	if (len > 2 * HUB_NAME_MAX + HUB_PATH_MAX + 2) {
		*why = "too long";
		return SH_EINVAL;
	}
	const char *slash = strchr(s, '/');
	if (!slash) {
		*why = "not ORG/REPO";
		return SH_EINVAL;
	}
	const char *org = s, *repo = slash + 1;
	size_t org_n = (size_t)(slash - s);
	const char *repo_end = repo + strcspn(repo, "/:");
	size_t repo_n = (size_t)(repo_end - repo);
	if (!name_ok(org, org_n, HUB_NAME_MAX) || !name_ok(repo, repo_n, HUB_NAME_MAX)) {
		*why = "ORG and REPO are names of letters, digits, '.', '_' and '-'";
		return SH_EINVAL;
	}
	if (ends_with_ci(repo, repo_n, ".gguf")) {
		*why = "DIR/FILE.gguf is a path, not ORG/REPO";
		return SH_EINVAL;
	}
	for (int i = 0; hosts[i]; i++)
		if (org_n + 1 == strlen(hosts[i]) && !strncasecmp(org, hosts[i], org_n)) {
			*why = "the host is given twice";
			return SH_EINVAL;
		}
	memcpy(r->org, org, org_n);
	memcpy(r->repo, repo, repo_n);
	if (*repo_end == ':') {
		const char *q = repo_end + 1;
		size_t qn = strlen(q);
		if (!name_ok(q, qn, HUB_NAME_MAX) || strchr(q, '.')) {
			*why = "QUANT is a name such as Q4_K_M";
			return SH_EINVAL;
		}
		memcpy(r->quant, q, qn);
	} else if (*repo_end == '/') {
		const char *p = repo_end + 1;
		size_t pn = strlen(p);
		if (pn > HUB_PATH_MAX || !ends_with_ci(p, pn, ".gguf")) {
			*why = "ORG/REPO/FILE names a .gguf file";
			return SH_EINVAL;
		}
		for (const char *c = p; *c;) {
			size_t n = strcspn(c, "/");
			if (!name_ok(c, n, HUB_PATH_MAX)) {
				*why = "FILE's path holds an empty, hidden or '..' component";
				return SH_EINVAL;
			}
			c += n;
			if (*c == '/')
				c++;
			if (c[-1] == '/' && !*c) {
				*why = "FILE's path ends in '/'";
				return SH_EINVAL;
			}
		}
		memcpy(r->file, p, pn);
	}
	return 0;
}

void hub_ref_repo(const hub_ref *r, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s/%s", r->org, r->repo);
}

void hub_ref_format(const hub_ref *r, char *buf, size_t cap)
{
	if (r->file[0])
		snprintf(buf, cap, "%s/%s/%s", r->org, r->repo, r->file);
	else if (r->quant[0])
		snprintf(buf, cap, "%s/%s:%s", r->org, r->repo, r->quant);
	else
		snprintf(buf, cap, "%s/%s", r->org, r->repo);
}

/* upper-cased token t of n bytes: Q4_K_M, IQ4_XS, TQ1_0, Q8_0, F16, BF16, F32, MXFP4 */
static bool quant_token(const char *t, size_t n)
{
	static const char *plain[] = { "F16", "BF16", "F32", "F64", "FP16", "FP32", "MXFP4", NULL };
	for (int i = 0; plain[i]; i++)
		if (n == strlen(plain[i]) && !memcmp(t, plain[i], n))
			return true;
	size_t i = 0;
	if (n > 1 && (t[0] == 'I' || t[0] == 'T') && t[1] == 'Q')
		i = 2;
	else if (n > 0 && t[0] == 'Q')
		i = 1;
	else
		return false;
	if (i >= n || !isdigit((unsigned char)t[i]))
		return false;
	for (i++; i < n; i++) /* then (_[A-Z0-9]+)* */
		if (!(isalnum((unsigned char)t[i]) || (t[i] == '_' && i + 1 < n && t[i + 1] != '_')))
			return false;
	return true;
}

bool hub_quant_of(const char *name, char *buf, size_t cap)
{
	const char *base = strrchr(name, '/');
	base = base ? base + 1 : name;
	char s[HUB_PATH_MAX + 1];
	size_t n = strlen(base);
	if (n > HUB_PATH_MAX)
		return false;
	for (size_t i = 0; i <= n; i++)
		s[i] = (char)toupper((unsigned char)base[i]);
	if (n > 5 && !strcmp(s + n - 5, ".GGUF"))
		s[n -= 5] = 0;
	/* a split set's "-00001-of-00003" is not part of the name */
	if (n > 15 && s[n - 15] == '-' && !memcmp(s + n - 9, "-OF-", 4))
		s[n -= 15] = 0;
	const char *found = NULL;
	size_t found_n = 0;
	for (size_t i = 0; i < n;) {
		size_t k = strcspn(s + i, "-.");
		if (quant_token(s + i, k)) {
			found = s + i;
			found_n = k;
		}
		i += k + 1;
	}
	if (!found || found_n + 1 > cap)
		return false;
	memcpy(buf, found, found_n);
	buf[found_n] = 0;
	return true;
}

double hub_quant_bits(const char *q)
{
	if (!strcasecmp(q, "F32") || !strcasecmp(q, "FP32"))
		return 32;
	if (!strcasecmp(q, "F16") || !strcasecmp(q, "BF16") || !strcasecmp(q, "FP16"))
		return 16;
	if (!strcasecmp(q, "F64"))
		return 64;
	if (!strcasecmp(q, "MXFP4"))
		return 4.25;
	const char *d = q;
	while (*d && !isdigit((unsigned char)*d))
		d++;
	return *d ? *d - '0' : 0;
}
