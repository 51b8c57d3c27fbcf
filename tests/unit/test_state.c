/*
 * test_state.c - the state directory and the node id: where the directory is (flag, XDG, HOME),
 * an id that survives restarts, distinct ids (slots) for processes sharing a directory, a copied
 * directory that never clones an id, a corrupt id file, and a directory that cannot be written.
 * Everything happens under a mkdtemp directory in /tmp, removed at the end.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/state.h"
#include "test_util.h"

static char root[64];

static void tmp_root(void)
{
	snprintf(root, sizeof root, "/tmp/shoal-test-state-XXXXXX");
	cr_assert(mkdtemp(root));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP)
		chmod(path, 0700);
	return remove(path);
}

static void rm_root(void)
{
	chmod(root, 0700);
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void path_in(char *out, size_t cap, const char *rel) { snprintf(out, cap, "%s/%s", root, rel); }

static void write_text(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	cr_assert(f, "cannot write %s", path);
	fputs(s, f);
	fclose(f);
}

/* cp -a of a flat directory: every regular file with its mode, into a new directory */
static void copy_dir(const char *from, const char *to)
{
	struct stat st;
	cr_assert_eq(stat(from, &st), 0);
	cr_assert_eq(mkdir(to, st.st_mode & 07777), 0);
	DIR *d = opendir(from);
	cr_assert(d);
	int n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		char src[600], dst[600];
		snprintf(src, sizeof src, "%s/%s", from, e->d_name);
		snprintf(dst, sizeof dst, "%s/%s", to, e->d_name);
		if (stat(src, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		size_t len;
		char *data = test_load_file(src, &len);
		int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL, st.st_mode & 07777);
		cr_assert(fd >= 0);
		cr_assert_eq(write(fd, data, len), (ssize_t)len);
		close(fd);
		free(data);
		n++;
	}
	closedir(d);
	cr_assert(n >= 2, "the id and the lock copied from %s", from);
}

static bool is_hex_of(const char *hex, const uint8_t *b, size_t n)
{
	char want[2 * PLAN_ID_BYTES + 1];
	for (size_t i = 0; i < n; i++)
		snprintf(want + 2 * i, 3, "%02x", b[i]);
	return strlen(hex) == 2 * n && strcmp(hex, want) == 0;
}

/* ---------------------------------------------------------------- where */
static void set_env(const char *name, const char *v)
{
	if (v)
		setenv(name, v, 1);
	else
		unsetenv(name);
}

Test(state, resolve_order)
{
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char *xdg = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) : NULL;
	char out[256];

	setenv("HOME", "/home/u", 1);
	setenv("XDG_STATE_HOME", "/xdg/state", 1);
	cr_assert_eq(state_dir_resolve("/opt/dir", out, sizeof out), SH_OK);
	cr_assert_str_eq(out, "/opt/dir", "the flag wins");
	cr_assert_eq(state_dir_resolve(NULL, out, sizeof out), SH_OK);
	cr_assert_str_eq(out, "/xdg/state/shoal");
	cr_assert_eq(state_dir_resolve("", out, sizeof out), SH_OK);
	cr_assert_str_eq(out, "/xdg/state/shoal", "an empty flag is no flag");

	setenv("XDG_STATE_HOME", "relative/state", 1);
	cr_assert_eq(state_dir_resolve(NULL, out, sizeof out), SH_OK);
	cr_assert_str_eq(out, "/home/u/.local/state/shoal", "a relative XDG_STATE_HOME is ignored");
	setenv("XDG_STATE_HOME", "", 1);
	cr_assert_eq(state_dir_resolve(NULL, out, sizeof out), SH_OK);
	cr_assert_str_eq(out, "/home/u/.local/state/shoal");
	unsetenv("XDG_STATE_HOME");
	cr_assert_eq(state_dir_resolve(NULL, out, sizeof out), SH_OK);
	cr_assert_str_eq(out, "/home/u/.local/state/shoal");

	unsetenv("HOME");
	capture cap;
	capture_begin(&cap);
	cr_assert_eq(state_dir_resolve(NULL, out, sizeof out), SH_EINVAL, "nothing to form a path from");
	cr_assert_eq(state_dir_resolve("/opt/dir", out, 5), SH_EINVAL, "too long for the buffer");
	char *log = capture_end(&cap);
	cr_assert(strstr(log, "--state-dir"), "the error says what to do: %s", log);
	free(log);
	cr_assert_eq(state_dir_resolve("/opt/dir", out, sizeof out), SH_OK, "the flag needs no HOME");

	set_env("HOME", home);
	set_env("XDG_STATE_HOME", xdg);
	free(home);
	free(xdg);
}

/* ---------------------------------------------------------------- identity */
Test(state, restart_keeps_id, .init = tmp_root, .fini = rm_root)
{
	char dir[256];
	path_in(dir, sizeof dir, "a/b/state");
	node_state s;
	cr_assert_eq(node_state_init(&s, dir), SH_OK);
	cr_assert(s.fresh);
	cr_assert_eq(s.slot, 0);
	cr_assert(s.lock_fd > 2);
	cr_assert_str_eq(s.dir, dir);
	cr_assert(is_hex_of(s.id_hex, s.id, PLAN_ID_BYTES));
	struct stat st;
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700, "created private: %o", st.st_mode & 0777);
	char parent[256];
	path_in(parent, sizeof parent, "a");
	cr_assert_eq(stat(parent, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700, "parents too");
	uint8_t id[PLAN_ID_BYTES];
	memcpy(id, s.id, sizeof id);
	node_state_free(&s);
	cr_assert_eq(s.lock_fd, -1);
	node_state_free(&s); /* idempotent */

	for (int k = 0; k < 2; k++) {
		cr_assert_eq(node_state_init(&s, dir), SH_OK);
		cr_assert(!s.fresh);
		cr_assert_eq(s.slot, 0);
		cr_assert_eq(memcmp(s.id, id, sizeof id), 0, "restart %d keeps the id", k);
		node_state_free(&s);
	}
}

Test(state, shared_dir_distinct_ids, .init = tmp_root, .fini = rm_root)
{
	char dir[256];
	path_in(dir, sizeof dir, "state");
	node_state a, b, c;
	cr_assert_eq(node_state_init(&a, dir), SH_OK);
	cr_assert_eq(node_state_init(&b, dir), SH_OK);
	cr_assert_eq(a.slot, 0);
	cr_assert_eq(b.slot, 1);
	cr_assert(a.fresh && b.fresh);
	cr_assert_neq(memcmp(a.id, b.id, PLAN_ID_BYTES), 0);
	/* slot 0 freed: the next process takes it, and with it slot 0's id */
	uint8_t ida[PLAN_ID_BYTES], idb[PLAN_ID_BYTES];
	memcpy(ida, a.id, sizeof ida);
	memcpy(idb, b.id, sizeof idb);
	node_state_free(&a);
	cr_assert_eq(node_state_init(&c, dir), SH_OK);
	cr_assert_eq(c.slot, 0);
	cr_assert(!c.fresh);
	cr_assert_eq(memcmp(c.id, ida, PLAN_ID_BYTES), 0);
	cr_assert_eq(node_state_init(&a, dir), SH_OK);
	cr_assert_eq(a.slot, 2, "0 and 1 are held");
	cr_assert(a.fresh);
	node_state_free(&a);
	node_state_free(&b);
	node_state_free(&c);
	/* both gone: slots 0 and 1 come back with their ids */
	cr_assert_eq(node_state_init(&a, dir), SH_OK);
	cr_assert_eq(node_state_init(&b, dir), SH_OK);
	cr_assert(a.slot == 0 && b.slot == 1 && !a.fresh && !b.fresh);
	cr_assert_eq(memcmp(a.id, ida, PLAN_ID_BYTES), 0);
	cr_assert_eq(memcmp(b.id, idb, PLAN_ID_BYTES), 0);
	node_state_free(&a);
	node_state_free(&b);
}

Test(state, copied_dir_gets_new_id, .init = tmp_root, .fini = rm_root)
{
	char dir[256], copy[256];
	path_in(dir, sizeof dir, "orig");
	path_in(copy, sizeof copy, "copy");
	node_state s;
	cr_assert_eq(node_state_init(&s, dir), SH_OK);
	uint8_t orig[PLAN_ID_BYTES];
	memcpy(orig, s.id, sizeof orig);
	node_state_free(&s);
	copy_dir(dir, copy);

	capture cap;
	capture_begin(&cap);
	int err = node_state_init(&s, copy);
	char *log = capture_end(&cap);
	cr_assert_eq(err, SH_OK);
	cr_assert(s.fresh, "a copy is a new node");
	cr_assert_neq(memcmp(s.id, orig, PLAN_ID_BYTES), 0, "a copy never clones the id");
	cr_assert(strstr(log, "copied from elsewhere") && strstr(log, s.id_hex), "logged: %s", log);
	free(log);
	uint8_t copied[PLAN_ID_BYTES];
	memcpy(copied, s.id, sizeof copied);
	node_state_free(&s);

	/* the copy keeps its new id; the original keeps its own */
	cr_assert_eq(node_state_init(&s, copy), SH_OK);
	cr_assert(!s.fresh);
	cr_assert_eq(memcmp(s.id, copied, PLAN_ID_BYTES), 0);
	node_state_free(&s);
	cr_assert_eq(node_state_init(&s, dir), SH_OK);
	cr_assert(!s.fresh);
	cr_assert_eq(memcmp(s.id, orig, PLAN_ID_BYTES), 0);
	node_state_free(&s);

	/* a moved directory (same inode) is the same node */
	char moved[256];
	path_in(moved, sizeof moved, "moved");
	cr_assert_eq(rename(dir, moved), 0);
	cr_assert_eq(node_state_init(&s, moved), SH_OK);
	cr_assert(!s.fresh);
	cr_assert_eq(memcmp(s.id, orig, PLAN_ID_BYTES), 0);
	node_state_free(&s);
}

Test(state, corrupt_file_new_id, .init = tmp_root, .fini = rm_root)
{
	char dir[256], file[300];
	path_in(dir, sizeof dir, "state");
	snprintf(file, sizeof file, "%s/node.id", dir);
	node_state s;
	cr_assert_eq(node_state_init(&s, dir), SH_OK);
	uint8_t id[PLAN_ID_BYTES];
	memcpy(id, s.id, sizeof id);
	node_state_free(&s);

	/* the real file with one hex digit changed into a non-digit, then other damage */
	char *good = test_load_file(file, NULL);
	char *bad = strdup(good);
	bad[20] = 'x';
	const char *cases[] = { bad, "", "garbage\n", "shoal-node-id 1 00\n" };
	for (size_t i = 0; i < SH_ARRAY_LEN(cases); i++) {
		write_text(file, cases[i]);
		capture cap;
		capture_begin(&cap);
		int err = node_state_init(&s, dir);
		char *log = capture_end(&cap);
		cr_assert_eq(err, SH_OK);
		cr_assert(s.fresh, "case %zu", i);
		cr_assert_neq(memcmp(s.id, id, PLAN_ID_BYTES), 0);
		cr_assert(strstr(log, "corrupt"), "case %zu logged: %s", i, log);
		free(log);
		memcpy(id, s.id, sizeof id);
		node_state_free(&s);
		/* the replacement is a good file again */
		cr_assert_eq(node_state_init(&s, dir), SH_OK);
		cr_assert(!s.fresh);
		cr_assert_eq(memcmp(s.id, id, PLAN_ID_BYTES), 0);
		node_state_free(&s);
	}
	free(bad);
	free(good);
}

Test(state, unwritable_dir, .init = tmp_root, .fini = rm_root)
{
	char file[256], dir[300];
	path_in(file, sizeof file, "plain-file");
	write_text(file, "x");
	snprintf(dir, sizeof dir, "%s/state", file);
	node_state s;
	capture cap;
	capture_begin(&cap);
	int err = node_state_init(&s, dir);
	char *log = capture_end(&cap);
	cr_assert_eq(err, SH_EIO);
	cr_assert(strstr(log, dir), "the message names the path: %s", log);
	free(log);
	node_state_free(&s);

	if (geteuid() != 0) { /* root writes through any mode bits */
		path_in(dir, sizeof dir, "readonly");
		cr_assert_eq(mkdir(dir, 0500), 0);
		capture_begin(&cap);
		err = node_state_init(&s, dir);
		log = capture_end(&cap);
		cr_assert_eq(err, SH_EIO);
		cr_assert(strstr(log, "not writable"), "%s", log);
		free(log);
		node_state_free(&s);
	}
}

Test(state, free_is_safe)
{
	node_state_free(NULL);
	node_state z;
	memset(&z, 0, sizeof z);
	int before = fcntl(0, F_GETFD);
	node_state_free(&z); /* a cleanup path before init ran: must not close fd 0 */
	cr_assert_eq(fcntl(0, F_GETFD), before);
	node_state s;
	cr_assert_eq(node_state_init(&s, ""), SH_EINVAL);
	node_state_free(&s);
}
