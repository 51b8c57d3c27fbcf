/*
 * cmds.h - the subcommands of the shoal binary, one file each under src/main/, plus the small
 * option-parsing helpers they share. Only this layer may exit the process (main returns).
 */
#ifndef SHOAL_CMDS_H
#define SHOAL_CMDS_H

#include "base/base.h"
#include "sample/sample.h"

int cmd_info(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* option parsing: opt_value returns argv[++*i] for "--name VALUE" or NULL (error logged) */
const char *opt_value(int argc, char **argv, int *i);
bool opt_int(int argc, char **argv, int *i, long min, long max, long *out);
bool opt_float(int argc, char **argv, int *i, float *out);
/* the sampling options (--temp, --top-k, --top-p, --min-p, --repeat-penalty, --frequency-penalty,
 * --presence-penalty, --seed): 1 if argv[*i] was one and parsed, 0 if not one, -1 on a bad value */
int opt_sample(int argc, char **argv, int *i, sample_params *sp);
/* the model options of the commands that run one: -m/--model, -t/--threads, -c/--ctx-size;
 * returns like opt_sample; model_opts_check logs and fails when no model was given */
typedef struct {
	const char *model;
	long threads, n_ctx;    /* 0: the defaults (all cores; min(4096, the model's)) */
} model_opts;
int opt_model(int argc, char **argv, int *i, model_opts *mo);
bool model_opts_check(const model_opts *mo);
/* reads a whole file into a NUL-terminated malloc'd buffer; NULL on error (logged) */
char *file_read_all(const char *path, size_t *len);

#endif
