/*
 * cmd_info.c - `shoal info MODEL` (or -m MODEL): architecture, hyperparameters, tensor type counts, parameter
 * count and size, after the same validation a load does.
 */
#include "main/cmds.h"
#include "compute/quant.h"
#include "model/model.h"

#include <stdio.h>

/* 292800 -> "292.8 K", 1.1e9 -> "1.10 B": a unit, and one decimal past 100 of it, two below */
static void count_readable(uint64_t n, char *buf, size_t cap)
{
	static const char *const units[] = { "", "K", "M", "B", "T" };
	double x = (double)n;
	int u = 0;
	while (x >= 999.95 && u < 4)
		x /= 1000, u++;
	if (!u)
		snprintf(buf, cap, "%llu", (unsigned long long)n);
	else
		snprintf(buf, cap, x >= 99.995 ? "%.1f %s" : "%.2f %s", x, units[u]);
}

int cmd_info(int argc, char **argv)
{
	const char *path = NULL, *path_arg = NULL;
	const opt table[] = { OPTS_STR("--model", "-m", "MODEL", &path, "the model: a GGUF file"),
			      OPTS_ARG("MODEL", &path_arg, "the model, given without -m"), OPTS_DONE };
	const opts_cmd cmd = { "info", "(-m MODEL | MODEL)",
			       "Checks a model file as loading it does and prints its architecture, hyperparameters, "
			       "tensor types, parameter count and size. Nothing but the metadata and tensor table is read.",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
	if (!path == !path_arg) {
		sh_log_error("info: %s", path ? "give the model once (-m MODEL or MODEL)" : "a model is required (-m MODEL or MODEL)");
		return 1;
	}
	if (!path)
		path = path_arg;
	int err;
	quant_init(NULL);
	model *m = model_load(path, 0, -1, &err);
	if (!m)
		return 1;
	const gguf_ctx *g = m->g;
	const model_hparams *hp = &m->hp;
	gguf_str name = { "", 0 };
	gguf_get_str(g, "general.name", &name);
	printf("file:          %s (GGUF v%d, %llu bytes)\n", path, g->version, (unsigned long long)g->file_size);
	printf("name:          %.*s\n", (int)SH_MIN(name.len, 200), name.ptr);
	printf("architecture:  %s\n", hp->arch_name);
	printf("vocab:         %d\n", hp->n_vocab);
	printf("dim:           %d\n", hp->dim);
	printf("layers:        %d\n", hp->n_layers);
	printf("heads:         %d (kv %d, head dim %d)\n", hp->n_heads, hp->n_kv_heads, hp->head_dim);
	printf("ffn:           %d\n", hp->ffn_dim);
	printf("context:       %d\n", hp->n_ctx_train);
	printf("rope:          %s, base %g, %d dims%s\n", hp->rope_neox ? "neox" : "normal", hp->rope_base,
	       hp->rope_dim, gguf_tensor_find(g, "rope_freqs.weight") ? ", rope_freqs" : "");
	printf("rms eps:       %g\n", hp->rms_eps);
	printf("output head:   %s\n", gguf_tensor_find(g, "output.weight") ? "separate" : "tied to embedding");

	uint64_t count[QT_COUNT] = { 0 }, params = 0, bytes = 0;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const gguf_tensor *t = &g->tensors[i];
		if (t->type >= 0 && t->type < QT_COUNT)
			count[t->type]++;
		params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
		bytes += t->size;
	}
	printf("tensors:       %llu:", (unsigned long long)g->n_tensors);
	for (int t = 0; t < QT_COUNT; t++)
		if (count[t])
			printf(" %s %llu", quant_get(t)->name, (unsigned long long)count[t]);
	printf("\n");
	char readable[32];
	count_readable(params, readable, sizeof readable);
	printf("parameters:    %s (%llu)\n", readable, (unsigned long long)params);
	printf("size:          %llu bytes (%.2f GiB, %.2f bits per weight)\n", (unsigned long long)bytes,
	       bytes / 1073741824.0, params ? 8.0 * bytes / params : 0.0);
	model_free(m);
	return 0;
}
