/*
 * cmd_pull.c - `shoal pull REF...`: models from a Hugging Face hub into the cache (hub_pull.h),
 * asking the hub for the newest commit even when a copy is cached; prints each model's path.
 */
#include "main/cmds.h"
#include "main/progress.h"

#include <stdio.h>

int cmd_pull(int argc, char **argv)
{
	hub_cli hub = { 0 };
	const char *first = NULL;
	const opt table[] = { OPTS_ARG("REF", &first, "the model: ORG/REPO[:QUANT], ORG/REPO/FILE.gguf or hf.co/ORG/REPO:QUANT"),
			      OPTS_HUB(&hub), OPTS_DONE };
	const opts_cmd cmd = { "pull", "REF [options]",
			       "Downloads a model from Hugging Face ($HF_ENDPOINT, default https://huggingface.co) into the "
			       "Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub), "
			       "shared with huggingface_hub and llama.cpp. A dropped or stalled download resumes where it "
			       "stopped; every file's sha256 is checked before it is used. Prints the model's path.",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
	hub_ref r;
	if (model_ref_arg("pull", first, &r))
		return 1;
	hub_cache c;
	if (hub_cache_init(&c, NULL))
		return 1;
	progress_view v;
	progress_view_init(&v, stderr);
	hub_opts o = { .token = hub.token, .offline = hub.offline, .update = true,
		       .progress = hub.quiet ? NULL : progress_view_show, .user = &v };
	char path[4096];
	if (hub_model(&c, &r, &o, path, sizeof path))
		return 1;
	printf("%s\n", path);
	return 0;
}
