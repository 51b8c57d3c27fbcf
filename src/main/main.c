/*
 * main.c - the shoal command line: dispatches to a subcommand and is the only place that
 * decides the process's exit status.
 */
#include "main/cmds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
	bool own_help;    /* the command prints its own --help */
} commands[] = {
	{ "generate", cmd_generate, "-m MODEL -p PROMPT -n N [--temp T] [--top-k K] [--top-p P] [--min-p P] [--seed S] [-t N] [-c CTX] [--ignore-eos]", false },
	{ "tokenize", cmd_tokenize, "-m MODEL (-p TEXT | -f FILE) [--no-bos] [--parse-special]", false },
	{ "logits", cmd_logits, "-m MODEL -p PROMPT [-t N]", false },
	{ "info", cmd_info, "MODEL", false },
	{ "synth", cmd_synth, "--preset NAME --type {f16,q8_0,q4_0,q4_k} --vocab VOCAB.gguf -o OUT.gguf [--seed S]", false },
	{ "bench", cmd_bench, "-m MODEL [-t N] [-p 128] [-n 64] [-r REPEATS]", false },
	{ "chat", cmd_chat, "-m MODEL [--system TEXT] [--chat-template NAME|FILE] [-n N] [-c CTX] [-t N] [--temp T] [--seed S] ...", false },
	{ "template", cmd_template, "(-m MODEL | --template-file F [--bos B] [--eos E]) --messages FILE.json [--chat-template NAME|FILE]", false },
	{ "run", cmd_run, "-m MODEL [--host H] [--port 8642] [--api-key KEY] [-t N] [--parallel 4] [-c CTX] [--queue 64] [--chat-template NAME|FILE] [--no-discovery] [--interface IF] [--state-dir DIR] [--discovery-port 8643] [--peers HOST:PORT,...] [--node-port 8643] [--cluster-key KEY] [--cluster-name NAME] [--memory-limit BYTES] [--peer-timeout S] [--wire f32|f16] [--lanes N]", false },
	{ "status", cmd_status, "[--host H] [--port 8642 | --url http://H:P] [--api-key KEY] [--json] [--watch [SECONDS]]", true },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: shoal COMMAND [options]\n\ncommands:\n");
	for (size_t i = 0; i < SH_ARRAY_LEN(commands); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].help);
}

const char *opt_value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		sh_log_error("option %s needs a value", argv[*i]);
		return NULL;
	}
	return argv[++*i];
}

bool opt_int(int argc, char **argv, int *i, long min, long max, long *out)
{
	const char *name = argv[*i], *v = opt_value(argc, argv, i);
	if (!v)
		return false;
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (errno || end == v || *end || x < min || x > max) {
		sh_log_error("option %s: '%s' is not an integer in [%ld, %ld]", name, v, min, max);
		return false;
	}
	*out = x;
	return true;
}

bool opt_float(int argc, char **argv, int *i, float *out)
{
	const char *name = argv[*i], *v = opt_value(argc, argv, i);
	if (!v)
		return false;
	char *end;
	float x = strtof(v, &end);
	if (end == v || *end || x != x) {
		sh_log_error("option %s: '%s' is not a number", name, v);
		return false;
	}
	*out = x;
	return true;
}

int opt_sample(int argc, char **argv, int *i, sample_params *sp)
{
	const char *a = argv[*i];
	long l;
	bool ok;
	if (!strcmp(a, "--temp"))
		ok = opt_float(argc, argv, i, &sp->temp);
	else if (!strcmp(a, "--top-k"))
		ok = opt_int(argc, argv, i, 0, 1 << 30, &l) && ((sp->top_k = (int)l), true);
	else if (!strcmp(a, "--top-p"))
		ok = opt_float(argc, argv, i, &sp->top_p);
	else if (!strcmp(a, "--min-p"))
		ok = opt_float(argc, argv, i, &sp->min_p);
	else if (!strcmp(a, "--repeat-penalty"))
		ok = opt_float(argc, argv, i, &sp->repeat_penalty);
	else if (!strcmp(a, "--frequency-penalty"))
		ok = opt_float(argc, argv, i, &sp->freq_penalty);
	else if (!strcmp(a, "--presence-penalty"))
		ok = opt_float(argc, argv, i, &sp->presence_penalty);
	else if (!strcmp(a, "--seed"))
		ok = opt_int(argc, argv, i, 0, 0x7fffffffffffffffL, &l) && ((sp->seed = (uint64_t)l), true);
	else
		return 0;
	return ok ? 1 : -1;
}

int opt_model(int argc, char **argv, int *i, model_opts *mo)
{
	const char *a = argv[*i];
	bool ok;
	if (!strcmp(a, "-m") || !strcmp(a, "--model"))
		ok = (mo->model = opt_value(argc, argv, i)) != NULL;
	else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
		ok = opt_int(argc, argv, i, 1, 1024, &mo->threads);
	else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size"))
		ok = opt_int(argc, argv, i, 1, 1 << 24, &mo->n_ctx);
	else
		return 0;
	return ok ? 1 : -1;
}

bool model_opts_check(const model_opts *mo)
{
	if (!mo->model)
		sh_log_error("no model: use -m MODEL.gguf");
	return mo->model != NULL;
}

char *file_read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	if (!f) {
		sh_log_error("%s: cannot open", path);
		return NULL;
	}
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			char *nb = realloc(buf, cap);
			if (!nb) {
				sh_log_error("%s: out of memory", path);
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		sh_log_error("%s: read error", path);
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	if (len)
		*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	sh_base_init();
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < SH_ARRAY_LEN(commands); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		if (argc == 3 && !commands[i].own_help && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
			printf("usage: shoal %s %s\n", commands[i].name, commands[i].help);
			return 0;
		}
		return commands[i].fn(argc - 1, argv + 1) == 0 ? 0 : 1;
	}
	sh_log_error("unknown command '%s'", argv[1]);
	usage(stderr);
	return 2;
}
