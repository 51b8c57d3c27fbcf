/*
 * cmd_info.c - `shoal info MODEL`: architecture, hyperparameters, tensor type counts, parameter
 * count and size, after the same validation a load does.
 */
#include "main/cmds.h"
#include "compute/quant.h"
#include "model/model.h"

#include <stdio.h>

int cmd_info(int argc, char **argv)
{
	if (argc != 2) {
		sh_log_error("usage: shoal info MODEL.gguf");
		return 1;
	}
	int err;
	quant_init(NULL);
	model *m = model_load(argv[1], 0, -1, &err);
	if (!m)
		return 1;
	const gguf_ctx *g = m->g;
	const model_hparams *hp = &m->hp;
	gguf_str name = { "", 0 };
	gguf_get_str(g, "general.name", &name);
	printf("file:          %s (GGUF v%d, %llu bytes)\n", argv[1], g->version, (unsigned long long)g->file_size);
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
	printf("parameters:    %llu (%.3f B)\n", (unsigned long long)params, params / 1e9);
	printf("size:          %llu bytes (%.2f GiB, %.2f bits per weight)\n", (unsigned long long)bytes,
	       bytes / 1073741824.0, params ? 8.0 * bytes / params : 0.0);
	model_free(m);
	return 0;
}
