/*
 * cmd_info.c - `shoal info MODEL` (or -m MODEL) and `shoal show REF`, its name in Ollama: architecture,
 * hyperparameters, tensor type counts, the quant, parameter count and size, context and chat
 * template, after the same validation a load does; --json gives the same as one object. MODEL may
 * be a reference (model_ref.c).
 */
#include "main/cmds.h"
#include "compute/quant.h"
#include "engine/engine.h"
#include "model/model.h"

#include <jansson.h>
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

static int info_main(const char *name_cmd, int argc, char **argv)
{
	const char *path = NULL, *path_arg = NULL;
	hub_cli hub = { 0 };
	model_opts mo = { 0 };
	long parallel = 4;
	bool json = false;
	char resolved[4096];
	const opt table[] = { OPTS_STR("--model", "-m", "MODEL", &path, OPTS_MODEL_HELP),
			      OPTS_ARG("MODEL", &path_arg, "the model, given without -m"),
			      OPTS_FLAG("--json", NULL, &json, "the same as one JSON object"), OPTS_HUB(&hub),
			      OPTS_SECTION("the memory `run` would take (weights, KV cache, scratch)"), OPTS_CTX(&mo),
			      OPTS_INT("--parallel", "-np", "N", &parallel, 1, ENGINE_MAX_SEQ, "run's slots, each with a KV cache "
				       "of -c tokens (default: 4, as run's)"),
			      OPTS_CACHE_TYPE(&mo), OPTS_THREADS(&mo), OPTS_DONE };
	const opts_cmd cmd = { name_cmd, "(-m MODEL | MODEL) [--json]",
			       "Checks a model file as loading it does and prints its architecture, hyperparameters, "
			       "tensor types, parameter count and size. Nothing but the metadata and tensor table is read.",
			       table };
	int rc = opts_parse(&cmd, argc, argv);
	if (rc)
		return rc == OPTS_HELP ? 0 : 1;
	if (!path == !path_arg) {
		sh_log_error("%s: %s", name_cmd, path ? "give the model once (-m MODEL or MODEL)" : "a model is required (-m MODEL or MODEL)");
		return 1;
	}
	if (!path)
		path = path_arg;
	if (model_resolve(name_cmd, &path, &hub, resolved, sizeof resolved))
		return 1;
	int err;
	quant_init(NULL);
	model *m = model_load(path, 0, -1, &err);
	if (!m)
		return 1;
	const gguf_ctx *g = m->g;
	const model_hparams *hp = &m->hp;
	gguf_str name = { "", 0 }, chat = { NULL, 0 };
	gguf_get_str(g, "general.name", &name);
	gguf_get_str(g, "tokenizer.chat_template", &chat);
	uint64_t count[QT_COUNT] = { 0 }, tbytes[QT_COUNT] = { 0 }, params = 0, bytes = 0;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const gguf_tensor *t = &g->tensors[i];
		if (t->type >= 0 && t->type < QT_COUNT) {
			count[t->type]++;
			tbytes[t->type] += t->size;
		}
		params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
		bytes += t->size;
	}
	int quant = 0; /* the weight type that holds the most bytes */
	for (int t = 0; t < QT_COUNT; t++)
		if (tbytes[t] > tbytes[quant])
			quant = t;
	bool separate_head = gguf_tensor_find(g, "output.weight") != NULL;
	int cache_type = model_opts_cache_type(&mo);
	if (kv_type_check(hp, cache_type)) {
		model_free(m);
		return 1;
	}
	engine_memory mem = engine_memory_of(hp, bytes, (int)mo.n_ctx, (int)parallel, cache_type, (int)mo.threads);
	int n_ctx = mo.n_ctx > 0 ? (int)mo.n_ctx : SH_MIN(4096, hp->n_ctx_train);
	if (json) {
		json_t *types = json_object();
		for (int t = 0; t < QT_COUNT; t++)
			if (count[t])
				json_object_set_new(types, quant_get(t)->name, json_integer((json_int_t)count[t]));
		json_t *o = json_pack("{s:s, s:i, s:I, s:s%, s:s, s:s, s:I, s:I, s:f, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
				      "s:o, s:b, s:o, s:i, s:{s:I, s:I, s:I, s:I, s:s, s:i, s:i}}",
				      "file", path, "gguf_version", g->version, "file_size", (json_int_t)g->total_size,
				      "name", name.ptr, (size_t)SH_MIN(name.len, 200), "architecture", hp->arch_name,
				      "quant", quant_get(quant)->name, "parameters", (json_int_t)params, "size",
				      (json_int_t)bytes, "bits_per_weight", params ? 8.0 * bytes / params : 0.0,
				      "context", hp->n_ctx_train, "vocab", hp->n_vocab, "dim", hp->dim, "layers",
				      hp->n_layers, "heads", hp->n_heads, "kv_heads", hp->n_kv_heads, "ffn", hp->ffn_dim,
				      "tensor_types", types, "separate_output_head", separate_head, "chat_template",
				      chat.ptr ? json_stringn(chat.ptr, (size_t)chat.len) : json_null(), "parts", g->n_parts,
				      "memory", "weights", (json_int_t)mem.weights, "kv_cache", (json_int_t)mem.kv, "scratch",
				      (json_int_t)mem.scratch, "total", (json_int_t)(mem.weights + mem.kv + mem.scratch),
				      "cache_type", kv_type_name(cache_type), "context", n_ctx, "parallel", (int)parallel);
		char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
		printf("%s\n", text ? text : "{}");
		free(text);
		json_decref(o);
		model_free(m);
		return text ? 0 : 1;
	}
	printf("file:          %s (GGUF v%d, %llu bytes", path, g->version, (unsigned long long)g->total_size);
	printf(g->n_parts > 1 ? " in %d parts)\n" : ")\n", g->n_parts);
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
	printf("output head:   %s\n", separate_head ? "separate" : "tied to embedding");
	printf("tensors:       %llu:", (unsigned long long)g->n_tensors);
	for (int t = 0; t < QT_COUNT; t++)
		if (count[t])
			printf(" %s %llu", quant_get(t)->name, (unsigned long long)count[t]);
	printf("\n");
	printf("quant:         %s (the type of most weight bytes)\n", quant_get(quant)->name);
	char readable[32];
	count_readable(params, readable, sizeof readable);
	printf("parameters:    %s (%llu)\n", readable, (unsigned long long)params);
	printf("size:          %llu bytes (%.2f GiB, %.2f bits per weight)\n", (unsigned long long)bytes,
	       bytes / 1073741824.0, params ? 8.0 * bytes / params : 0.0);
	char w[32], kv[32], sc[32], tot[32];
	sh_bytes_fmt((double)mem.weights, w, sizeof w);
	sh_bytes_fmt((double)mem.kv, kv, sizeof kv);
	sh_bytes_fmt((double)mem.scratch, sc, sizeof sc);
	sh_bytes_fmt((double)(mem.weights + mem.kv + mem.scratch), tot, sizeof tot);
	printf("memory:        %s: weights %s + KV cache %s (%s, %ld x %d positions) + scratch %s\n", tot, w, kv,
	       kv_type_name(cache_type), parallel, n_ctx, sc);
	if (chat.ptr)
		printf("chat template: %llu bytes:\n%.*s\n", (unsigned long long)chat.len, (int)SH_MIN(chat.len, 1 << 20), chat.ptr);
	else
		printf("chat template: none (chat and run use ChatML)\n");
	model_free(m);
	return 0;
}

int cmd_info(int argc, char **argv)
{
	return info_main("info", argc, argv);
}

int cmd_show(int argc, char **argv)
{
	return info_main("show", argc, argv);
}
