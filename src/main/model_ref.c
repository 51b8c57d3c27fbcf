/*
 * model_ref.c - what a command's MODEL names: a file, or a reference resolved through the model
 * cache and pulled from the hub when missing (hub_pull.h), with progress on stderr; for a node of a
 * cluster, a reference located and opened as a chunked blob (hub_part.h) that the nodes share.
 */
#include "main/cmds.h"
#include "main/progress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int model_resolve(const char *cmd, const char **model, const hub_cli *h, char *path, size_t cap)
{
	struct stat st;
	hub_ref r;
	const char *why;
	if (!*model || stat(*model, &st) == 0)
		return 0; /* a file (or nothing: the command says what it needs) */
	if (hub_ref_parse(*model, &r, &why)) {
		sh_log_error("%s: cannot open %s: %s, and it is not a model reference (%s; ORG/REPO[:QUANT] or "
			     "ORG/REPO/FILE.gguf)", cmd, *model, strerror(errno), why);
		return SH_EINVAL;
	}
	hub_cache c;
	if (hub_cache_init(&c, NULL))
		return SH_EINVAL;
	progress_view v;
	progress_view_init(&v, stderr);
	hub_opts o = { .token = h->token, .offline = h->offline, .progress = h->quiet ? NULL : progress_view_show, .user = &v };
	int rc = hub_model(&c, &r, &o, path, cap);
	if (!rc)
		*model = path;
	return rc;
}

int model_opts_resolve(const char *cmd, model_opts *mo)
{
	mo->given = mo->model;
	return model_resolve(cmd, &mo->model, &mo->hub, mo->path, sizeof mo->path);
}

int model_part_open(const hub_cache *c, const hub_ref *r, const hub_file *f, const char *commit, const char *blob,
		    hub_part **out)
{
	hub_part *p = calloc(1, sizeof *p);
	if (!p)
		return SH_ENOMEM;
	int rc = hub_part_open(p, blob, f->sha, f->size, HUB_CHUNK_DEFAULT);
	if (rc) {
		free(p);
		return rc;
	}
	p->has_ref = true;
	p->cache = *c;
	p->ref = *r;
	snprintf(p->commit, sizeof p->commit, "%s", commit);
	*out = p;
	return SH_OK;
}

int model_share_open(const char *cmd, model_opts *mo, hub_opts *ho, hub_part **part, hub_source **src, char *name,
		     size_t name_cap)
{
	struct stat st;
	hub_ref r;
	const char *why;
	*part = NULL;
	*src = NULL;
	mo->given = mo->model;
	if (!mo->model || stat(mo->model, &st) == 0 || hub_ref_parse(mo->model, &r, &why))
		return model_opts_resolve(cmd, mo); /* a file, or what model_resolve says is wrong */
	hub_cache c;
	if (hub_cache_init(&c, NULL))
		return SH_EINVAL;
	*ho = (hub_opts){ .token = mo->hub.token, .offline = mo->hub.offline };
	hub_file f;
	char commit[HUB_COMMIT_MAX + 1], blob[4096];
	int rc = hub_model_locate(&c, &r, ho, &f, commit, mo->path, sizeof mo->path, blob, sizeof blob);
	if (rc == SH_EUNSUP) /* a split set: pulled whole */
		return model_opts_resolve(cmd, mo);
	if (rc)
		return rc;
	hub_part *p;
	if ((rc = model_part_open(&c, &r, &f, commit, blob, &p)))
		return rc;
	if (!p->whole && !(ho->offline || hub_offline_env()) &&
	    !(*src = hub_source_open(&r, ho, commit, f.path, &rc))) {
		hub_part_free(p);
		free(p);
		return rc ? rc : SH_EIO;
	}
	const char *base = strrchr(f.path, '/');
	snprintf(name, name_cap, "%s", base ? base + 1 : f.path);
	snprintf(mo->path, sizeof mo->path, "%s", p->path);
	mo->model = mo->path;
	*part = p;
	return SH_OK;
}

int model_ref_arg(const char *cmd, const char *ref, hub_ref *r)
{
	const char *why;
	if (!ref) {
		sh_log_error("%s: a model reference is required (ORG/REPO[:QUANT] or ORG/REPO/FILE.gguf; shoal ls lists "
			     "those in the cache)", cmd);
		return SH_EINVAL;
	}
	if (hub_ref_parse(ref, r, &why)) {
		sh_log_error("%s: %s is not a model reference: %s (ORG/REPO[:QUANT] or ORG/REPO/FILE.gguf)", cmd, ref, why);
		return SH_EINVAL;
	}
	return 0;
}
