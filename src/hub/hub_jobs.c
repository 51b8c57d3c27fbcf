/*
 * hub_jobs.c - background pulls (hub_jobs.h).
 *
 * One lock and one condition variable for the set: jobs change a few times a second, and every
 * watcher wakes on every change (a handful of clients at most). The set is counted too: its owner
 * and each job hold a reference, so a job's thread may outlive hub_jobs_free and still lock it.
 * A job stays listed while it runs; once it ended, a new request of its reference starts afresh
 * (the cache answers at once when the model is there).
 */
#include "hub/hub_jobs.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

struct hub_jobs {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;                /* the owner's and one per job */
	hub_opts o;
	hub_job *running;        /* the jobs still running, listed to be joined */
};

struct hub_job {
	hub_jobs *s;
	int refs;                /* the thread's and one per watcher; under s->mu */
	hub_ref ref;
	hub_job_state st;        /* under s->mu */
	hub_job *next;           /* in s->running */
};

/* under s->mu: drops a reference of the set; true when it must be freed now */
static bool set_unref(hub_jobs *s)
{
	return --s->refs == 0;
}

static void set_destroy(hub_jobs *s)
{
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

hub_jobs *hub_jobs_init(const hub_opts *o)
{
	hub_jobs *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	if (pthread_mutex_init(&s->mu, NULL)) {
		free(s);
		return NULL;
	}
	if (sh_cond_init(&s->cv)) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return NULL;
	}
	s->refs = 1;
	s->o = *o;
	s->o.progress = NULL;
	s->o.user = NULL;
	s->o.update = false;
	return s;
}

void hub_jobs_free(hub_jobs *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	bool last = set_unref(s);
	pthread_mutex_unlock(&s->mu);
	if (last)
		set_destroy(s);
}

/* under s->mu: a reference of j dropped; the job (and maybe the set) freed when it was the last */
static void job_unref_locked(hub_job *j, bool *free_set)
{
	*free_set = false;
	if (--j->refs)
		return;
	*free_set = set_unref(j->s);
	free(j);
}

void hub_job_release(hub_job *j)
{
	if (!j)
		return;
	hub_jobs *s = j->s;
	bool free_set;
	pthread_mutex_lock(&s->mu);
	job_unref_locked(j, &free_set);
	pthread_mutex_unlock(&s->mu);
	if (free_set)
		set_destroy(s);
}

/* hub_model's progress: the file, its bytes and rate, for the watchers */
static void job_progress(void *user, const hub_progress *p)
{
	hub_job *j = user;
	pthread_mutex_lock(&j->s->mu);
	snprintf(j->st.file, sizeof j->st.file, "%s", p->file ? p->file : "");
	j->st.index = p->index;
	j->st.count = p->count;
	j->st.done = p->done;
	j->st.total = p->total;
	j->st.rate = p->rate;
	snprintf(j->st.source, sizeof j->st.source, "%s", p->source ? p->source : "hub");
	j->st.version++;
	pthread_cond_broadcast(&j->s->cv);
	pthread_mutex_unlock(&j->s->mu);
}

static void *job_run(void *arg)
{
	hub_job *j = arg;
	hub_jobs *s = j->s;
	hub_opts o = s->o;
	o.progress = job_progress;
	o.user = j;
	char error[sizeof j->st.error] = "", path[2048];
	hub_cache c;
	sh_log_capture(error, sizeof error);
	int rc = hub_cache_init(&c, NULL);
	if (rc)
		sh_log_error("pull %s: cannot find the cache (set HF_HUB_CACHE or HOME)", j->st.ref);
	else
		rc = hub_model(&c, &j->ref, &o, path, sizeof path);
	sh_log_capture(NULL, 0);
	if (!rc)
		sh_log_info("pulled %s: %s", j->st.ref, path);

	pthread_mutex_lock(&s->mu);
	for (hub_job **p = &s->running; *p; p = &(*p)->next)
		if (*p == j) {
			*p = j->next;
			break;
		}
	j->st.state = rc ? HUB_JOB_FAILED : HUB_JOB_DONE;
	if (rc)
		snprintf(j->st.error, sizeof j->st.error, "%s", error[0] ? error : sh_strerror(rc));
	j->st.version++;
	pthread_cond_broadcast(&s->cv);
	bool free_set;
	job_unref_locked(j, &free_set);
	pthread_mutex_unlock(&s->mu);
	if (free_set)
		set_destroy(s);
	return NULL;
}

int hub_jobs_pull(hub_jobs *s, const char *text, hub_job **out, char *err, size_t cap)
{
	*out = NULL;
	hub_ref r;
	const char *why;
	if (hub_ref_parse(text, &r, &why)) {
		snprintf(err, cap, "'%.300s' is not a model reference: %s", text, why);
		return SH_EINVAL;
	}
	char name[sizeof ((hub_job_state *)0)->ref];
	hub_ref_format(&r, name, sizeof name);
	pthread_mutex_lock(&s->mu);
	for (hub_job *j = s->running; j; j = j->next)
		if (!strcmp(j->st.ref, name)) {
			j->refs++;
			*out = j;
			pthread_mutex_unlock(&s->mu);
			return SH_OK;
		}
	hub_job *j = calloc(1, sizeof *j);
	if (!j) {
		pthread_mutex_unlock(&s->mu);
		snprintf(err, cap, "out of memory");
		return SH_ENOMEM;
	}
	j->s = s;
	j->ref = r;
	j->refs = 2; /* the thread's and the caller's */
	j->st.state = HUB_JOB_RUNNING;
	j->st.version = 1;
	snprintf(j->st.ref, sizeof j->st.ref, "%s", name);
	snprintf(j->st.source, sizeof j->st.source, "hub");
	pthread_attr_t a;
	pthread_t t;
	bool started = !pthread_attr_init(&a);
	if (started) {
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		started = !pthread_create(&t, &a, job_run, j);
		pthread_attr_destroy(&a);
	}
	if (!started) {
		pthread_mutex_unlock(&s->mu);
		free(j);
		snprintf(err, cap, "cannot start a thread");
		return SH_ENOMEM;
	}
	s->refs++;
	j->next = s->running;
	s->running = j;
	*out = j;
	pthread_mutex_unlock(&s->mu);
	return SH_OK;
}

bool hub_job_wait(hub_job *j, unsigned seen, double timeout, hub_job_state *out)
{
	hub_jobs *s = j->s;
	struct timespec dl;
	sh_deadline_after(&dl, timeout);
	pthread_mutex_lock(&s->mu);
	while (j->st.version == seen && pthread_cond_timedwait(&s->cv, &s->mu, &dl) == 0)
		;
	*out = j->st;
	pthread_mutex_unlock(&s->mu);
	return out->version != seen;
}
