/*
 * cmd_ls.c - `shoal ls`: the models in the Hugging Face cache, one line each (reference, quant,
 * size, modified, complete), or --json.
 */
#include "main/cmds.h"
#include "hub/hub_pull.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int cmd_ls(int argc, char **argv)
{
	bool json = false;
	const opt table[] = { OPTS_FLAG("--json", NULL, &json, "a JSON array of the models instead of a table"), OPTS_DONE };
	const opts_cmd cmd = { "ls", "[--json]",
			       "Lists the models in the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else "
			       "~/.cache/huggingface/hub): each GGUF file or split set with the reference that names "
			       "it, its quant, size, when it was pulled, and whether all of it is there.",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
	hub_cache c;
	hub_cached *m;
	int n;
	if (hub_cache_init(&c, NULL) || hub_cached_models(&c, &m, &n)) {
		sh_log_error("ls: cannot read the cache %s", c.root);
		return 1;
	}
	json_t *a = json ? json_array() : NULL;
	char ref[HUB_PATH_MAX + 2 * HUB_NAME_MAX + 4];
	int w = (int)strlen("REFERENCE"); /* the reference column: as wide as its longest entry */
	for (int i = 0; i < n; i++) {
		hub_ref_format(&m[i].ref, ref, sizeof ref);
		if ((int)strlen(ref) > w)
			w = (int)strlen(ref);
	}
	if (!json)
		printf("%-*s  %-8s %10s  %-16s  %s\n", w, "REFERENCE", "QUANT", "SIZE", "MODIFIED", "COMPLETE");
	for (int i = 0; i < n; i++) {
		char when[32] = "-";
		hub_ref_format(&m[i].ref, ref, sizeof ref);
		struct tm tm;
		if (m[i].mtime && localtime_r(&m[i].mtime, &tm))
			strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
		if (json) {
			json_array_append_new(a, hub_cached_json(&m[i]));
			continue;
		}
		char size[32];
		sh_bytes_fmt((double)m[i].size, size, sizeof size);
		printf("%-*s  %-8s %10s  %-16s  %s%s\n", w, ref, m[i].quant[0] ? m[i].quant : "-", size, when,
		       m[i].complete ? "yes" : "no (pull it again to finish)", m[i].main ? "" : " (an older commit)");
	}
	if (json) {
		char *s = json_dumps(a, JSON_INDENT(2));
		printf("%s\n", s ? s : "[]");
		free(s);
		json_decref(a);
	}
	free(m);
	return 0;
}
