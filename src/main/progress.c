/*
 * progress.c - download progress bars and lines (design in progress.h).
 */
#include "main/progress.h"

#include <string.h>
#include <unistd.h>

#include "base/base.h"

void progress_view_init(progress_view *v, FILE *f)
{
	memset(v, 0, sizeof *v);
	v->f = f;
	v->tty = isatty(fileno(f));
	v->last_index = -1;
}

/* 7s, 3m05s, 1h02m */
static void eta_fmt(double s, char *buf, size_t cap)
{
	if (!(s >= 0) || s > 359999)
		snprintf(buf, cap, "--");
	else if (s < 60)
		snprintf(buf, cap, "%.0fs", s);
	else if (s < 3600)
		snprintf(buf, cap, "%dm%02ds", (int)s / 60, (int)s % 60);
	else
		snprintf(buf, cap, "%dh%02dm", (int)s / 3600, (int)s % 3600 / 60);
}

void progress_view_show(void *user, const hub_progress *p)
{
	progress_view *v = user;
	char done[32], total[32], rate[32], eta[32];
	double frac = p->total ? (double)p->done / (double)p->total : 1;
	sh_bytes_fmt((double)p->done, done, sizeof done);
	sh_bytes_fmt((double)p->total, total, sizeof total);
	sh_bytes_fmt(p->rate, rate, sizeof rate);
	eta_fmt(p->rate > 0 ? (double)(p->total - p->done) / p->rate : -1, eta, sizeof eta);
	const char *name = strrchr(p->file, '/') ? strrchr(p->file, '/') + 1 : p->file;
	char from[64] = "";
	if (p->source)
		snprintf(from, sizeof from, " from %s", p->source);
	if (v->tty) {
		char bar[31];
		int fill = (int)(frac * 30 + 0.5);
		for (int i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = 0;
		fprintf(v->f, "\r%-36.36s %3d%% [%s] %9s / %-9s %9s/s  ETA %-6s%s", name, (int)(frac * 100), bar, done,
			total, rate, p->finished ? "0s" : eta, from);
		if (p->finished)
			fputc('\n', v->f);
		fflush(v->f);
		return;
	}
	double now = sh_time_sec();
	bool first = p->index != v->last_index;
	v->last_index = p->index;
	if (p->finished)
		fprintf(v->f, "pull %s: %s, %s%s\n", name, p->done == p->total ? "done" : "stopped", done, from);
	else if (first || now - v->t_line >= PROGRESS_LINE_SEC)
		fprintf(v->f, "pull %s: %d%% (%s of %s, %s/s, ETA %s)%s\n", name, (int)(frac * 100), done, total, rate, eta,
			from);
	else
		return;
	v->t_line = now;
	fflush(v->f);
}
