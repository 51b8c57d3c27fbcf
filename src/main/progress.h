/*
 * progress.h - download progress for a person: on a terminal one bar per file redrawn in place
 * (bytes, percent, speed, ETA), cut to the terminal's width; elsewhere (logs, pipes) a line every PROGRESS_LINE_SEC seconds
 * and one when a file is done. A hub_progress_fn (hub_pull.h).
 */
#ifndef SHOAL_PROGRESS_H
#define SHOAL_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "hub/hub_pull.h"

#define PROGRESS_LINE_SEC 5.0
#define PROGRESS_NAME_COLS 36   /* a bar's file name column, at most */
#define PROGRESS_BAR_COLS 30    /* the bar itself, at most */

typedef struct {
	FILE *f;
	bool tty;
	double t_line;      /* when the last line was written (not a terminal) */
	int last_index;     /* the file the bar is drawing, -1: none */
} progress_view;

void progress_view_init(progress_view *v, FILE *f);
void progress_view_show(void *user, const hub_progress *p);

#endif
