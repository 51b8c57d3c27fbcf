/*
 * state.c - the state directory, its slots and the node id kept in it (design in state.h).
 *
 * Order of node_state_init: create the directory, check that it is writable (one clear error
 * instead of a confusing one later), take the first slot whose lock is free, then read the slot's
 * id file and decide: keep (fingerprint matches), or make a new id (absent, corrupt, copied) and
 * write it atomically. flock locks belong to the open file description, so two opens in one
 * process exclude each other just as two processes do, and a lock dies with its process: a
 * crashed node never leaves a slot held.
 */
#define _GNU_SOURCE
#include "cluster/state.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define STATE_ID_MAGIC "shoal-node-id 1 "
#define STATE_FP_KEY "shoal-state-dir-fingerprint-v1"   /* BLAKE2b key: hashes of the machine id are ours alone */
#define STATE_FP_BYTES 16
#define STATE_PATH_MAX (sizeof(((node_state *)0)->dir) + 64)

_Static_assert(sizeof STATE_FP_KEY - 1 >= crypto_generichash_KEYBYTES_MIN &&
		       sizeof STATE_FP_KEY - 1 <= crypto_generichash_KEYBYTES_MAX, "fingerprint key size");

/* ---------------------------------------------------------------- the directory */
int state_dir_resolve(const char *opt, char *out, size_t cap)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;
	if (opt && *opt)
		n = snprintf(out, cap, "%s", opt);
	else if (xdg && xdg[0] == '/')
		n = snprintf(out, cap, "%s/shoal", xdg);
	else if (home && *home)
		n = snprintf(out, cap, "%s/.local/state/shoal", home);
	else {
		sh_log_error("no state directory: pass --state-dir, or set XDG_STATE_HOME or HOME");
		return SH_EINVAL;
	}
	if (n < 0 || (size_t)n >= cap) {
		sh_log_error("state directory path too long");
		return SH_EINVAL;
	}
	return SH_OK;
}

static void slot_name(int slot, char *out, size_t cap)
{
	if (slot == 0)
		snprintf(out, cap, "node");
	else
		snprintf(out, cap, "node-%d", slot);
}

/* the first free slot: its lock fd in s->lock_fd, its number in s->slot */
static int slot_take(node_state *s)
{
	char name[32], path[STATE_PATH_MAX];
	for (int k = 0; k < STATE_MAX_SLOTS; k++) {
		slot_name(k, name, sizeof name);
		snprintf(path, sizeof path, "%s/%s.lock", s->dir, name);
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0 && fd < 3) { /* stdin/out/err closed: keep the lock off those numbers */
			int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
			close(fd);
			fd = hi;
		}
		if (fd < 0) {
			sh_log_error("state dir %s is not writable: %s: %s", s->dir, path, strerror(errno));
			return SH_EIO;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/* the holder's pid, for people wondering who has the slot; nothing reads it */
			char pid[32];
			int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
			if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
				sh_log_debug("cannot write the pid into %s: %s", path, strerror(errno));
			s->lock_fd = fd;
			s->slot = k;
			return SH_OK;
		}
		int e = errno;
		close(fd);
		if (e != EWOULDBLOCK) {
			sh_log_error("cannot lock %s: %s", path, strerror(e));
			return SH_EIO;
		}
	}
	sh_log_error("state dir %s: all %d node slots are held by running processes", s->dir, STATE_MAX_SLOTS);
	return SH_ERANGE;
}

/* ---------------------------------------------------------------- fingerprint */
/* the machine's id as text: /etc/machine-id, /var/lib/dbus/machine-id, else "host:<hostname>" */
static void machine_id(char *out, size_t cap)
{
	static const char *const files[] = { "/etc/machine-id", "/var/lib/dbus/machine-id" };
	for (size_t i = 0; i < SH_ARRAY_LEN(files); i++) {
		FILE *f = fopen(files[i], "re");
		if (!f)
			continue;
		size_t n = fread(out, 1, cap - 1, f);
		fclose(f);
		out[n] = 0;
		while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' ' || out[n - 1] == '\t' || out[n - 1] == '\r'))
			out[--n] = 0;
		if (n > 0)
			return;
	}
	char host[256] = "";
	if (gethostname(host, sizeof host - 1) != 0)
		host[0] = 0;
	snprintf(out, cap, "host:%s", host);
}

static int fingerprint(const char *dir, uint8_t fp[STATE_FP_BYTES])
{
	struct stat st;
	struct statfs sf;
	if (stat(dir, &st) != 0) {
		sh_log_error("cannot stat state dir %s: %s", dir, strerror(errno));
		return SH_EIO;
	}
	uint64_t fsid = 0;
	if (statfs(dir, &sf) == 0) {
		uint32_t v[2];
		memcpy(v, &sf.f_fsid, sizeof v);
		fsid = (uint64_t)v[0] << 32 | v[1];
	}
	char mid[256];
	machine_id(mid, sizeof mid);
	uint64_t where[3] = { fsid ? 1 : 2, fsid ? fsid : (uint64_t)st.st_dev, (uint64_t)st.st_ino };
	crypto_generichash_state h;
	crypto_generichash_init(&h, (const uint8_t *)STATE_FP_KEY, sizeof STATE_FP_KEY - 1, STATE_FP_BYTES);
	crypto_generichash_update(&h, (const uint8_t *)mid, strlen(mid) + 1);
	crypto_generichash_update(&h, (const uint8_t *)where, sizeof where);
	crypto_generichash_final(&h, fp, STATE_FP_BYTES);
	return SH_OK;
}

/* ---------------------------------------------------------------- the id file */
static void hex_encode(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool hex_decode(const char *s, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

enum { ID_ABSENT, ID_CORRUPT, ID_OK };

/* reads path into id and fp: ID_OK, ID_ABSENT, ID_CORRUPT, or SH_EIO (unreadable; logged) */
static int id_read(const char *path, uint8_t id[PLAN_ID_BYTES], uint8_t fp[STATE_FP_BYTES])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return ID_ABSENT;
		sh_log_error("cannot read %s: %s", path, strerror(errno));
		return SH_EIO;
	}
	char buf[160];
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof buf - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sh_log_error("cannot read %s: %s", path, strerror(errno));
			close(fd);
			return SH_EIO;
		}
		if (r == 0 || (len += (size_t)r) == sizeof buf - 1)
			break;
	}
	close(fd);
	buf[len] = 0;
	const size_t m = sizeof STATE_ID_MAGIC - 1, want = m + 2 * PLAN_ID_BYTES + 1 + 2 * STATE_FP_BYTES + 1;
	if (len != want || memcmp(buf, STATE_ID_MAGIC, m) != 0 || buf[m + 2 * PLAN_ID_BYTES] != ' ' ||
	    buf[want - 1] != '\n' || !hex_decode(buf + m, id, PLAN_ID_BYTES) ||
	    !hex_decode(buf + m + 2 * PLAN_ID_BYTES + 1, fp, STATE_FP_BYTES))
		return ID_CORRUPT;
	return ID_OK;
}

/* writes the id file atomically (sh_file_write_atomic) */
static int id_write(const node_state *s, const char *path, const uint8_t fp[STATE_FP_BYTES])
{
	char line[160], fph[2 * STATE_FP_BYTES + 1];
	hex_encode(fp, STATE_FP_BYTES, fph);
	int n = snprintf(line, sizeof line, STATE_ID_MAGIC "%s %s\n", s->id_hex, fph);
	if (sh_file_write_atomic(path, line, (size_t)n)) {
		sh_log_error("state dir %s: cannot write %s: %s", s->dir, path, strerror(errno));
		return SH_EIO;
	}
	return SH_OK;
}

static int id_random(uint8_t id[PLAN_ID_BYTES])
{
	ssize_t r;
	do
		r = getrandom(id, PLAN_ID_BYTES, 0);
	while (r < 0 && errno == EINTR);
	if (r != PLAN_ID_BYTES) {
		sh_log_error("getrandom failed: %s", r < 0 ? strerror(errno) : "short read");
		return SH_EIO;
	}
	return SH_OK;
}

/* ---------------------------------------------------------------- init / free */
int node_state_init(node_state *s, const char *dir)
{
	memset(s, 0, sizeof *s);
	s->lock_fd = -1;
	if (!dir || !*dir || strlen(dir) >= sizeof s->dir) {
		sh_log_error("state dir: %s", dir && *dir ? "path too long" : "empty path");
		return SH_EINVAL;
	}
	snprintf(s->dir, sizeof s->dir, "%s", dir);
	const char *failed;
	int err = sh_mkdir_p(s->dir, 0700, &failed);
	if (err) {
		sh_log_error("cannot create state dir %s: %s: %s", s->dir, failed, strerror(errno));
		return err;
	}
	if (access(s->dir, W_OK | X_OK) != 0) {
		sh_log_error("state dir %s is not writable: %s (pass --state-dir to use another)", s->dir, strerror(errno));
		return SH_EIO;
	}
	if ((err = slot_take(s)))
		return err;

	char name[32], path[STATE_PATH_MAX];
	uint8_t fp_here[STATE_FP_BYTES], fp_file[STATE_FP_BYTES], old[PLAN_ID_BYTES];
	slot_name(s->slot, name, sizeof name);
	snprintf(path, sizeof path, "%s/%s.id", s->dir, name);
	if ((err = fingerprint(s->dir, fp_here)))
		goto fail;
	int r = id_read(path, old, fp_file);
	if (r < 0) {
		err = r;
		goto fail;
	}
	if (r == ID_OK && sodium_memcmp(fp_here, fp_file, STATE_FP_BYTES) == 0) {
		memcpy(s->id, old, PLAN_ID_BYTES);
		hex_encode(s->id, PLAN_ID_BYTES, s->id_hex);
		sh_log_debug("node id %s (state dir %s, slot %d)", s->id_hex, s->dir, s->slot);
		return SH_OK;
	}
	if ((err = id_random(s->id)))
		goto fail;
	hex_encode(s->id, PLAN_ID_BYTES, s->id_hex);
	s->fresh = true;
	if ((err = id_write(s, path, fp_here)))
		goto fail;
	if (r == ID_OK) {
		char oh[2 * PLAN_ID_BYTES + 1];
		hex_encode(old, PLAN_ID_BYTES, oh);
		sh_log_warn("state dir %s copied from elsewhere: new node id %s (the copied one was %s)", s->dir,
			    s->id_hex, oh);
	} else if (r == ID_CORRUPT) {
		sh_log_warn("%s is corrupt: new node id %s", path, s->id_hex);
	} else {
		sh_log_info("new node id %s (state dir %s, slot %d)", s->id_hex, s->dir, s->slot);
	}
	return SH_OK;
fail:
	node_state_free(s);
	return err;
}

void node_state_free(node_state *s)
{
	if (!s || s->lock_fd <= 0) /* a zeroed node_state holds nothing: the lock fd is never 0..2 */
		return;
	close(s->lock_fd);
	s->lock_fd = -1;
}
