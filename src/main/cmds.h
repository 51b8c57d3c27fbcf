/*
 * cmds.h - the subcommands of the shoal binary, one file each under src/main/ (their options:
 * opts.h). Only this layer may exit the process (main returns).
 */
#ifndef SHOAL_CMDS_H
#define SHOAL_CMDS_H

#include "base/base.h"
#include "hub/hub_part.h"
#include "hub/hub_ref.h"
#include "main/opts.h"

int cmd_info(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* *model when it names a file; else the model reference it is, from the cache or pulled with
 * progress, and *model pointed at path (cap bytes) holding the file. 0, or an error logged. */
int model_resolve(const char *cmd, const char **model, const hub_cli *h, char *path, size_t cap);

/* the REF argument of pull and rm as a reference: 0, or an error logged that names cmd */
int model_ref_arg(const char *cmd, const char *ref, hub_ref *r);

/* the same for a model_opts: mo->model resolved into mo->path */
int model_opts_resolve(const char *cmd, model_opts *mo);
/* A located file's blob (hub_model_locate) as a chunked part (*out, malloc'd) that writes the
 * reference's refs/main once hub_part_finish made it whole. */
int model_part_open(const hub_cache *c, const hub_ref *r, const hub_file *f, const char *commit, const char *blob,
		    hub_part **out);
/* For a node of a cluster: a reference (not a split set) is located, not pulled, and opened as a
 * chunked blob (*part, malloc'd; the cluster gets its header and chunks from peers or the hub); *src
 * is the hub (NULL offline or when the blob is whole), mo->model the blob's path, name the file's
 * name in the repo. A file, or a split set, resolves as model_opts_resolve does (*part NULL). ho
 * must outlive *src. */
int model_share_open(const char *cmd, model_opts *mo, hub_opts *ho, hub_part **part, hub_source **src, char *name,
		     size_t name_cap);

/* reads a whole file into a NUL-terminated malloc'd buffer; NULL on error (logged) */
char *file_read_all(const char *path, size_t *len);

#endif
