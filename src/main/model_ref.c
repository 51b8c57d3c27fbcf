/*
 * model_ref.c - what a command's MODEL names: a file, or a reference resolved through the model
 * cache and pulled from the hub when missing (hub_pull.h), with progress on stderr.
 */
#include "main/cmds.h"
#include "main/progress.h"

#include <errno.h>
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
