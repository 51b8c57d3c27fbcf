/*
 * hub_jobs.h - pulls that run in the background while a node serves, watched by any number of
 * clients (the web UI's progress, POST /api/pull).
 *
 * A job is one reference pulled with hub_model (hub_pull.h) on a thread of its own. Asking for a
 * reference that a running job pulls joins that job, so a model is pulled once however many
 * clients ask. A job's state (the file being pulled, its bytes, rate, and how the pull ended, with
 * the error line hub_model logged) changes under the set's lock, with a version number; a watcher
 * waits for a version newer than the one it saw. Jobs are counted references: the set, each
 * watcher and the job's thread hold one, so a watcher that goes away does not stop the pull (a
 * later pull resumes its partial file anyway), and freeing the set while a pull runs leaves that
 * pull to end on its own (the process exiting ends it).
 */
#ifndef SHOAL_HUB_JOBS_H
#define SHOAL_HUB_JOBS_H

#include "hub/hub_pull.h"

enum { HUB_JOB_RUNNING, HUB_JOB_DONE, HUB_JOB_FAILED };

typedef struct {
	unsigned version;              /* grows with every change */
	int state;                     /* HUB_JOB_* */
	char ref[HUB_PATH_MAX + 2 * HUB_NAME_MAX + 4];   /* the reference, canonical */
	char file[HUB_PATH_MAX + 1];   /* the file being pulled ("" before the listing) */
	int index, count;              /* that file among count (from 0) */
	uint64_t done, total;          /* its bytes */
	double rate;                   /* bytes per second, recent */
	char source[32];               /* "hub" */
	char error[512];               /* HUB_JOB_FAILED: what failed, as logged */
} hub_job_state;

typedef struct hub_jobs hub_jobs;
typedef struct hub_job hub_job;

/* o (endpoint, token; its progress fields are ignored) is copied: its strings must outlive the set */
hub_jobs *hub_jobs_init(const hub_opts *o);
void hub_jobs_free(hub_jobs *s);

/* Starts pulling ref, or joins the running pull of the same reference: 0 and *job (release it),
 * or SH_EINVAL with why in err (not a reference), SH_ENOMEM. */
int hub_jobs_pull(hub_jobs *s, const char *ref, hub_job **job, char *err, size_t cap);
/* Waits up to timeout seconds for a version newer than seen; its state into *out either way.
 * true when it is newer. */
bool hub_job_wait(hub_job *j, unsigned seen, double timeout, hub_job_state *out);
void hub_job_release(hub_job *j);

#endif
