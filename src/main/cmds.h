/*
 * cmds.h - the subcommands of the shoal binary, one file each under src/main/ (their options:
 * opts.h). Only this layer may exit the process (main returns).
 */
#ifndef SHOAL_CMDS_H
#define SHOAL_CMDS_H

#include "base/base.h"
#include "main/opts.h"

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

/* reads a whole file into a NUL-terminated malloc'd buffer; NULL on error (logged) */
char *file_read_all(const char *path, size_t *len);

#endif
