/*
 * cmd_rm.c - `shoal rm REF...`: removes models from the Hugging Face cache, and the blobs no
 * other snapshot uses.
 */
#include "main/cmds.h"
#include "hub/hub_pull.h"

#include <stdio.h>

int cmd_rm(int argc, char **argv)
{
	const char *first = NULL;
	const opt table[] = { OPTS_ARG("REF", &first, "the model, as shoal ls names it"), OPTS_DONE };
	const opts_cmd cmd = { "rm", "REF",
			       "Removes a model from the Hugging Face cache: its files in every snapshot, and each blob "
			       "that no other snapshot still links to.",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
	hub_ref r;
	if (model_ref_arg("rm", first, &r))
		return 1;
	hub_cache c;
	uint64_t freed;
	if (hub_cache_init(&c, NULL) || hub_cached_remove(&c, &r, &freed))
		return 1;
	printf("removed %s (%.1f MiB freed)\n", first, (double)freed / (1 << 20));
	return 0;
}
