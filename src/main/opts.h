/*
 * opts.h - the command line of every subcommand, from one table per command.
 *
 * A command describes its options once, as an array of opt (name, alias, value name, where the value
 * goes, its range, its meaning); opts_parse reads argv against that table and opts_help prints
 * `shoal COMMAND --help` from it. So an option the parser accepts is always in the help, with its
 * meaning and default (the value the command put in the destination before parsing, unless the
 * meaning says "(default ...)" itself), and every error names the command and the option:
 *
 *   run: unknown option '--prot' (shoal run --help lists the options)
 *   synth: --vocab is required (VOCAB.gguf: the tokenizer to copy, a GGUF file)
 *   run: --port: 'x' is not an integer in [0, 65535]
 *
 * Values follow the option ("--port 8642") or an '=' ("--port=8642"). A command may take one bare
 * argument (OPTS_ARG). The option lists that several commands share (the model, the sampler) are
 * the OPTS_MODEL / OPTS_THREADS / OPTS_CTX / OPTS_SAMPLING entries.
 */
#ifndef SHOAL_OPTS_H
#define SHOAL_OPTS_H

#include "base/base.h"
#include "sample/sample.h"

#include <stdio.h>

typedef enum {
	OPT_END = 0,     /* ends a table */
	OPT_FLAG,        /* bool *: set to true */
	OPT_STR,         /* const char **: the value (argv's own string) */
	OPT_INT,         /* long *: an integer in [min, max] */
	OPT_FLOAT,       /* float *: a number in [min, max] */
	OPT_BYTES,       /* uint64_t *: "123", "800M", "4G" (K/M/G/T, binary), > 0 */
	OPT_FN,          /* the command's own parser: fn(value, dst); false: it logged why */
	OPT_ARG,         /* const char **: the one bare argument */
	OPT_SECTION,     /* no option: a heading of --help (help is its title) */
} opt_kind;

#define OPT_REQUIRED 1u      /* an error when not given */
#define OPT_VALUE_OPTIONAL 2u /* OPT_FN: the value may be left out (fn gets NULL); the next argument is
                              * taken as the value only when it does not start with '-' */

typedef struct {
	opt_kind kind;
	const char *name;        /* "--port" (OPT_ARG: NULL) */
	const char *alias;       /* "-p" or NULL */
	const char *arg;         /* the value's name in help and errors ("PORT"); NULL for a flag */
	void *dst;
	double min, max;         /* OPT_INT, OPT_FLOAT */
	bool (*fn)(const char *value, void *dst);
	unsigned flags;
	const char *help;        /* the meaning, one sentence or a few; wrapped by opts_help */
} opt;

#define OPTS_FLAG(n, a, d, h) { .kind = OPT_FLAG, .name = n, .alias = a, .dst = d, .help = h }
#define OPTS_STR(n, a, v, d, h) { .kind = OPT_STR, .name = n, .alias = a, .arg = v, .dst = d, .help = h }
#define OPTS_STR_REQUIRED(n, a, v, d, h) \
	{ .kind = OPT_STR, .name = n, .alias = a, .arg = v, .dst = d, .flags = OPT_REQUIRED, .help = h }
#define OPTS_INT(n, a, v, d, lo, hi, h) \
	{ .kind = OPT_INT, .name = n, .alias = a, .arg = v, .dst = d, .min = lo, .max = hi, .help = h }
#define OPTS_FLOAT(n, a, v, d, lo, hi, h) \
	{ .kind = OPT_FLOAT, .name = n, .alias = a, .arg = v, .dst = d, .min = lo, .max = hi, .help = h }
#define OPTS_BYTES(n, a, v, d, h) { .kind = OPT_BYTES, .name = n, .alias = a, .arg = v, .dst = d, .help = h }
#define OPTS_FN(n, a, v, f, d, fl, h) \
	{ .kind = OPT_FN, .name = n, .alias = a, .arg = v, .dst = d, .fn = f, .flags = fl, .help = h }
#define OPTS_ARG(v, d, h) { .kind = OPT_ARG, .arg = v, .dst = d, .help = h }
#define OPTS_SECTION(title) { .kind = OPT_SECTION, .help = title }
#define OPTS_DONE { .kind = OPT_END }

/* how a node reaches the other nodes of its cluster (run; pull, from peers) */
typedef struct {
	bool no_discovery;
	const char *interface, *peers, *state_dir, *cluster_key, *cluster_name;
	long node_port, discovery_port; /* 0: the defaults */
} cluster_cli;

#define OPTS_CLUSTER(c)                                                                                   \
	OPTS_STR("--interface", NULL, "NAME", &(c)->interface,                                               \
		 "send beacons on this interface only (default: every interface that is up, has a broadcast "   \
		 "address and is not loopback or a container/VM bridge)"),                                     \
	OPTS_INT("--discovery-port", NULL, "PORT", &(c)->discovery_port, 1, 65535,                           \
		 "the UDP port of the beacons; every node of a cluster must use the same (default: 8643)"),     \
	OPTS_STR("--peers", NULL, "HOST:PORT[,HOST:PORT]", &(c)->peers,                                      \
		 "nodes to greet at their node ports, beyond the beacons' reach (another subnet, a VPN); they " \
		 "tell each other of the rest"),                                                                \
	OPTS_INT("--node-port", NULL, "PORT", &(c)->node_port, 1, 65535,                                     \
		 "the TCP port of the links between nodes (default: 8643; the next free port when another "     \
		 "node of this machine holds it)"),                                                             \
	OPTS_STR("--state-dir", NULL, "DIR", &(c)->state_dir,                                                \
		 "where the node keeps its id and its measured speeds; a copied directory gets a new id "       \
		 "(default: $XDG_STATE_HOME/shoal, else ~/.local/state/shoal)"),                                \
	OPTS_STR("--cluster-key", NULL, "KEY", &(c)->cluster_key,                                            \
		 "a secret every node of the cluster shares: beacons are signed and every link between nodes "  \
		 "is authenticated and encrypted (ZeroMQ CURVE); a node with another key is never admitted"),   \
	OPTS_STR("--cluster-name", NULL, "NAME", &(c)->cluster_name,                                         \
		 "nodes join only the nodes of their cluster name, so several clusters can share a LAN "        \
		 "(default: shoal)")

/* how the commands that take a model reach the hub (model_ref.c) */
typedef struct {
	const char *token;      /* NULL: $HF_TOKEN */
	bool offline, quiet;
} hub_cli;

#define OPTS_MODEL_HELP                                                                                   \
	"the model: a GGUF file, or a reference to pull from Hugging Face once: ORG/REPO[:QUANT] (QUANT "      \
	"default: Q4_K_M, else the smallest of at least 4 bits), ORG/REPO/FILE.gguf, hf.co/ORG/REPO:QUANT"
#define OPTS_HUB(h)                                                                                       \
	OPTS_STR("--token", NULL, "TOKEN", &(h)->token,                                                      \
		 "a Hugging Face token, for gated and private repos (default: $HF_TOKEN)"),                    \
	OPTS_FLAG("--offline", NULL, &(h)->offline,                                                          \
		  "the model cache only, no network (also when $HF_HUB_OFFLINE=1)"),                           \
	OPTS_FLAG("--quiet", "-q", &(h)->quiet, "no download progress")

/* the model options of the commands that run one */
typedef struct {
	const char *model;
	long threads, n_ctx;    /* 0: the defaults (every core; min(4096, the model's)) */
	const char *cache_type; /* --cache-type, checked; NULL: f16 (model_opts_cache_type) */
	hub_cli hub;
	char path[4096];        /* model_resolve: the file a reference resolved to */
	const char *given;      /* MODEL as given (model points at path when it was a reference) */
} model_opts;

#define OPTS_MODEL(mo) OPTS_STR_REQUIRED("--model", "-m", "MODEL", &(mo)->model, OPTS_MODEL_HELP), OPTS_HUB(&(mo)->hub)
#define OPTS_THREADS(mo) \
	OPTS_INT("--threads", "-t", "N", &(mo)->threads, 1, 1024, "compute threads (default: one per core)")
#define OPTS_CTX(mo)                                                                                      \
	OPTS_INT("--ctx-size", "-c", "N", &(mo)->n_ctx, 1, 1 << 24,                                           \
		 "context length in tokens (run: of each slot) (default: the model's trained context, at most 4096)")
bool opts_parse_cache_type(const char *v, void *dst);
#define OPTS_CACHE_TYPE(mo)                                                                               \
	OPTS_FN("--cache-type", NULL, "f32|f16|q8_0", opts_parse_cache_type, &(mo)->cache_type, 0,          \
		"the KV cache's element type: f16 takes half the memory of f32 (and attention reads half the "  \
		"bytes) for a rounding of each cached value; q8_0 about half of f16 again, for heads whose size " \
		"is a multiple of 32 (docs/performance.md measures both against f32) (default: f16)")
/* the KV cache type of --cache-type (KV_TYPE_DEFAULT when not given) */
int model_opts_cache_type(const model_opts *mo);
/* a chat template other than the model's (chat, run) */
#define OPTS_CHAT_TEMPLATE(d)                                                                             \
	OPTS_STR("--chat-template", NULL, "NAME|FILE", d,                                                    \
		 "the chat template instead of the model's: a built-in (chatml, llama2, llama3, mistral, gemma, " \
		 "phi3, qwen2) or a Jinja file (default: the model's; ChatML when it has none)")

/* the sampler (sample.h) as options: the integer fields go through longs (sampling_opts_get) */
typedef struct {
	sample_params p;
	long top_k, seed;        /* seed < 0: a new one each run */
} sampling_opts;

void sampling_opts_init(sampling_opts *s);
sample_params sampling_opts_get(const sampling_opts *s);

#define OPTS_SAMPLING(so)                                                                                  \
	OPTS_FLOAT("--temp", NULL, "T", &(so)->p.temp, -1e9, 1e9, "sampling temperature; 0 or less: greedy"),  \
	OPTS_INT("--top-k", NULL, "K", &(so)->top_k, 0, 1 << 30, "sample among the K most likely tokens; 0: off"), \
	OPTS_FLOAT("--top-p", NULL, "P", &(so)->p.top_p, 0, 1,                                                \
		   "sample among the most likely tokens whose probabilities add up to P; 1: off"),               \
	OPTS_FLOAT("--min-p", NULL, "P", &(so)->p.min_p, 0, 1,                                                \
		   "drop the tokens less likely than P times the most likely one; 0: off"),                     \
	OPTS_FLOAT("--repeat-penalty", NULL, "X", &(so)->p.repeat_penalty, 1e-6, 1e6,                         \
		   "penalize the tokens of the last 64: a positive logit is divided by X, a negative one "     \
		   "multiplied; 1: off"),                                                                        \
	OPTS_FLOAT("--frequency-penalty", NULL, "X", &(so)->p.freq_penalty, -1e6, 1e6,                        \
		   "subtract X times a token's count in the last 64 tokens from its logit; 0: off"),            \
	OPTS_FLOAT("--presence-penalty", NULL, "X", &(so)->p.presence_penalty, -1e6, 1e6,                     \
		   "subtract X from the logit of every token among the last 64; 0: off"),                       \
	OPTS_INT("--seed", NULL, "S", &(so)->seed, 0, 9007199254740991.0,                                   \
		 "the sampler's random seed, for a repeatable run (default: a new one each run)")

typedef struct {
	const char *name;        /* "run" */
	const char *usage;       /* what follows "shoal run" in the usage line */
	const char *about;       /* what the command does: a paragraph, wrapped */
	const opt *opts;         /* the table, ended by OPTS_DONE */
} opts_cmd;

#define OPTS_HELP 1          /* opts_parse: --help was printed; the command is done */

/* Parses argv[1..argc) against the table. 0, OPTS_HELP, or SH_EINVAL (logged, naming the option). */
int opts_parse(const opts_cmd *cmd, int argc, char **argv);
/* `shoal COMMAND --help`: the usage line, the about paragraph, every option with its meaning and
 * default. */
void opts_help(const opts_cmd *cmd, FILE *f);
/* "123", "800M", "4G", "1T" (binary units) into *out; false when it is not one */
bool opts_parse_bytes(const char *s, uint64_t *out);

#endif
