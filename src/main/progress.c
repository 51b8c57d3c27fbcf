/*
 * progress.c - download progress bars and lines (design in progress.h).
 */
#include "main/progress.h"

#include <string.h>
#include <sys/ioctl.h>
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

/* the terminal's width in columns (80 when it does not say) */
static int term_width(FILE *f)
{
	struct winsize ws;
	return ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

/* one bar line redrawn in place, cut to the terminal's width so that it never wraps: the bar
 * shrinks first (to 10 columns), then the name column, which keeps the name's end ("...-00002-of-
 * 00003.gguf"); the bar goes when even that does not fit, and the rest is cut last */
static void bar_draw(progress_view *v, const char *name, double frac, const char *done, const char *total,
		     const char *rate, const char *eta, const char *from)
{
	char stats[160], bar[PROGRESS_BAR_COLS + 4] = "", shown[PROGRESS_NAME_COLS + 1], line[512];
	int width = SH_MIN(term_width(v->f), (int)sizeof line) - 1;
	int ns = snprintf(stats, sizeof stats, "%9s / %-9s %11s  ETA %-6s%s", done, total, rate, eta, from);
	int avail = width - ns - 6; /* " 100% " */
	int len = (int)strlen(name), want = SH_MIN(len, PROGRESS_NAME_COLS);
	int bar_w = SH_MIN(PROGRESS_BAR_COLS, avail - want - 3);
	if (bar_w < 10)
		bar_w = avail - 12 - 3 >= 10 ? 10 : 0;
	int name_w = SH_MAX(1, SH_MIN(want, avail - (bar_w ? bar_w + 3 : 0)));
	if (len > name_w && name_w > 3)
		snprintf(shown, sizeof shown, "...%s", name + len - (name_w - 3));
	else
		snprintf(shown, sizeof shown, "%.*s", name_w, name);
	if (bar_w) {
		int fill = (int)(frac * bar_w + 0.5);
		bar[0] = '[';
		for (int i = 0; i < bar_w; i++)
			bar[1 + i] = i < fill ? '#' : '.';
		memcpy(bar + bar_w + 1, "] ", 3);
	}
	int n = snprintf(line, sizeof line, "%-*s %3d%% %s%s", name_w, shown, (int)(frac * 100), bar, stats);
	if (n > width)
		line[width] = 0;
	fprintf(v->f, "\r%s\033[K", line);
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
		char speed[40] = "--"; /* none measured yet */
		if (p->rate > 0)
			snprintf(speed, sizeof speed, "%s/s", rate);
		bar_draw(v, name, frac, done, total, speed, p->finished ? "0s" : eta, from);
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
