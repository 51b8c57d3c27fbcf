/*
 * opts.c - one table per command parses its argv and prints its --help (see opts.h).
 *
 * Help is laid out for a terminal of 100 columns: the option and its value name on the left, the
 * meaning wrapped on the right (on the next line when the left part is long).
 */
#include "main/opts.h"
#include "model/model.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HELP_COLUMNS 100
#define HELP_LEFT_MAX 30

/* ---------------------------------------------------------------- sampling */
bool opts_parse_cache_type(const char *v, void *dst)
{
	int type;
	if (kv_type_parse(v, &type)) {
		sh_log_error("--cache-type: '%s' (use f32, f16 or q8_0)", v);
		return false;
	}
	*(const char **)dst = v;
	return true;
}

int model_opts_cache_type(const model_opts *mo)
{
	int type = KV_TYPE_DEFAULT;
	if (mo->cache_type)
		kv_type_parse(mo->cache_type, &type);
	return type;
}

void sampling_opts_init(sampling_opts *s)
{
	sample_params_default(&s->p);
	s->top_k = s->p.top_k;
	s->seed = -1;
}

sample_params sampling_opts_get(const sampling_opts *s)
{
	sample_params p = s->p;
	p.top_k = (int)s->top_k;
	p.seed = s->seed >= 0 ? (uint64_t)s->seed : (uint64_t)time(NULL) ^ ((uint64_t)clock() << 32);
	return p;
}

/* ---------------------------------------------------------------- values */
bool opts_parse_bytes(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-' || s[0] == '+' || s[0] == ' ')
		return false;
	static const char units[] = "KMGT";
	unsigned sh = 0;
	const char *u = *end ? strchr(units, *end >= 'a' ? *end - 32 : *end) : NULL;
	if (u && *u) {
		sh = 10 * (unsigned)(u - units + 1);
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end || (sh && v > (~0ull >> sh)))
		return false;
	*out = (uint64_t)v << sh;
	return true;
}

static bool parse_value(const opts_cmd *cmd, const opt *o, const char *v)
{
	char *end;
	switch (o->kind) {
	case OPT_STR:
	case OPT_ARG:
		*(const char **)o->dst = v;
		return true;
	case OPT_INT: {
		errno = 0;
		long x = strtol(v, &end, 10);
		if (errno || end == v || *end || x < o->min || x > o->max) {
			sh_log_error("%s: %s: '%s' is not an integer in [%.0f, %.0f]", cmd->name, o->name, v, o->min, o->max);
			return false;
		}
		*(long *)o->dst = x;
		return true;
	}
	case OPT_FLOAT: {
		errno = 0;
		float x = strtof(v, &end);
		if (errno || end == v || *end || !isfinite(x) || x < o->min || x > o->max) {
			sh_log_error("%s: %s: '%s' is not a number in [%g, %g]", cmd->name, o->name, v, o->min, o->max);
			return false;
		}
		*(float *)o->dst = x;
		return true;
	}
	case OPT_BYTES: {
		uint64_t x;
		if (!opts_parse_bytes(v, &x) || !x) {
			sh_log_error("%s: %s: '%s' is not a byte count (e.g. 800M, 4G)", cmd->name, o->name, v);
			return false;
		}
		*(uint64_t *)o->dst = x;
		return true;
	}
	case OPT_FN:
		return o->fn(v, o->dst);
	default:
		return false;
	}
}

/* "-m/--model MODEL" as errors name an option */
static void opt_label(const opt *o, char *buf, size_t cap)
{
	if (o->kind == OPT_ARG)
		snprintf(buf, cap, "%s", o->arg);
	else
		snprintf(buf, cap, "%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? "/" : "", o->name,
			 o->arg ? " " : "", o->arg ? o->arg : "");
}

/* ---------------------------------------------------------------- parse */
int opts_parse(const opts_cmd *cmd, int argc, char **argv)
{
	int n = 0;
	while (cmd->opts[n].kind != OPT_END)
		n++;
	bool seen[n > 0 ? n : 1];
	memset(seen, 0, sizeof seen);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			opts_help(cmd, stdout);
			return OPTS_HELP;
		}
		int k = -1;
		if (a[0] != '-' || !a[1]) { /* a bare argument ("-" alone is one too: stdin, by convention) */
			for (int j = 0; j < n && k < 0; j++)
				if (cmd->opts[j].kind == OPT_ARG && !seen[j])
					k = j;
			if (k < 0) {
				sh_log_error("%s: unexpected argument '%s' (shoal %s --help lists the options)", cmd->name, a,
					     cmd->name);
				return SH_EINVAL;
			}
			seen[k] = true;
			if (!parse_value(cmd, &cmd->opts[k], a))
				return SH_EINVAL;
			continue;
		}
		const char *eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
		size_t len = eq ? (size_t)(eq - a) : strlen(a);
		for (int j = 0; j < n && k < 0; j++) {
			const opt *o = &cmd->opts[j];
			if (o->kind == OPT_SECTION || o->kind == OPT_ARG)
				continue;
			if ((strlen(o->name) == len && !strncmp(o->name, a, len)) || (!eq && o->alias && !strcmp(o->alias, a)))
				k = j;
		}
		if (k < 0) {
			sh_log_error("%s: unknown option '%.*s' (shoal %s --help lists the options)", cmd->name, (int)len, a,
				     cmd->name);
			return SH_EINVAL;
		}
		const opt *o = &cmd->opts[k];
		seen[k] = true;
		if (o->kind == OPT_FLAG) {
			if (eq) {
				sh_log_error("%s: %s takes no value", cmd->name, o->name);
				return SH_EINVAL;
			}
			*(bool *)o->dst = true;
			continue;
		}
		const char *v = eq ? eq + 1 : NULL;
		if (!v && (o->flags & OPT_VALUE_OPTIONAL)) {
			if (i + 1 < argc && argv[i + 1][0] != '-')
				v = argv[++i];
			if (!o->fn(v, o->dst))
				return SH_EINVAL;
			continue;
		}
		if (!v) {
			if (i + 1 >= argc) {
				sh_log_error("%s: %s needs a value (%s)", cmd->name, a, o->arg);
				return SH_EINVAL;
			}
			v = argv[++i];
		}
		if (!parse_value(cmd, o, v))
			return SH_EINVAL;
	}
	for (int j = 0; j < n; j++) {
		const opt *o = &cmd->opts[j];
		if ((o->flags & OPT_REQUIRED) && !seen[j]) {
			char label[128];
			opt_label(o, label, sizeof label);
			sh_log_error("%s: %s is required (shoal %s --help says more)", cmd->name, label, cmd->name);
			return SH_EINVAL;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- help */
/* writes text from column col, wrapping at HELP_COLUMNS onto lines indented by indent; a '\n' in
 * text starts a new line (two: a blank line between paragraphs) */
static void wrap(FILE *f, const char *text, int col, int indent)
{
	const char *p = text;
	bool line_start = col <= indent;
	while (*p) {
		if (*p == '\n') {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
			line_start = true;
			p++;
			continue;
		}
		if (*p == ' ') {
			p++;
			continue;
		}
		size_t w = strcspn(p, " \n");
		if (!line_start && col + 1 + (int)w > HELP_COLUMNS) {
			fprintf(f, "\n%*s", indent, "");
			col = indent;
		} else if (!line_start) {
			fputc(' ', f);
			col++;
		}
		fwrite(p, 1, w, f);
		col += (int)w;
		p += w;
		line_start = false;
	}
	fputc('\n', f);
}

static int left_part(const opt *o, char *buf, size_t cap)
{
	if (o->kind == OPT_ARG)
		return snprintf(buf, cap, "  %s", o->arg);
	bool optional = o->flags & OPT_VALUE_OPTIONAL;
	return snprintf(buf, cap, "  %s%s%s%s%s%s", o->alias ? o->alias : "", o->alias ? ", " : "    ", o->name,
			o->arg ? (optional ? " [" : " ") : "", o->arg ? o->arg : "", o->arg && optional ? "]" : "");
}

/* the meaning, then the default (unless the meaning gives it) and "required" */
static void meaning(const opt *o, char *buf, size_t cap)
{
	char def[96] = "";
	if (!strstr(o->help, "(default")) {
		switch (o->kind) {
		case OPT_STR:
			if (*(const char *const *)o->dst)
				snprintf(def, sizeof def, " (default: %s)", *(const char *const *)o->dst);
			break;
		case OPT_INT:
			snprintf(def, sizeof def, " (default: %ld)", *(const long *)o->dst);
			break;
		case OPT_FLOAT:
			snprintf(def, sizeof def, " (default: %g)", (double)*(const float *)o->dst);
			break;
		case OPT_BYTES:
			if (*(const uint64_t *)o->dst)
				snprintf(def, sizeof def, " (default: %llu)", (unsigned long long)*(const uint64_t *)o->dst);
			break;
		default:
			break;
		}
	}
	snprintf(buf, cap, "%s%s%s", o->help, def, o->flags & OPT_REQUIRED ? " (required)" : "");
}

void opts_help(const opts_cmd *cmd, FILE *f)
{
	fprintf(f, "usage: shoal %s%s%s\n\n", cmd->name, cmd->usage[0] ? " " : "", cmd->usage);
	wrap(f, cmd->about, 0, 0);
	int width = 0;
	char left[160], text[1024];
	for (const opt *o = cmd->opts; o->kind != OPT_END; o++)
		if (o->kind != OPT_SECTION) {
			int w = left_part(o, left, sizeof left);
			if (w <= HELP_LEFT_MAX && w > width)
				width = w;
		}
	int indent = width + 2;
	bool section = cmd->opts[0].kind == OPT_SECTION;
	if (!section)
		fprintf(f, "\noptions:\n");
	for (const opt *o = cmd->opts; o->kind != OPT_END; o++) {
		if (o->kind == OPT_SECTION) {
			fprintf(f, "\n%s:\n", o->help);
			continue;
		}
		int w = left_part(o, left, sizeof left);
		fputs(left, f);
		meaning(o, text, sizeof text);
		if (w > width)
			fprintf(f, "\n%*s", indent, "");
		else
			fprintf(f, "%*s", indent - w, "");
		wrap(f, text, indent, indent);
	}
	fprintf(f, "  -h, --help%*sthis help\n", indent - 12, "");
}
