/*
 * state.h - the node's state directory and its persistent identity.
 *
 * The state directory is `--state-dir`, else $XDG_STATE_HOME/shoal, else $HOME/.local/state/shoal.
 * In it, each running node owns a slot: slot 0 is "node", slot k > 0 is "node-k". A slot is held
 * by an exclusive flock on <slot>.lock for the life of the process, so several nodes started on
 * one host with one state directory (tests, or a machine running more than one node) take the
 * slots 0, 1, 2, ... and never share an id.
 *
 * <slot>.id holds the node id (16 random bytes) and a fingerprint of where it was made: a keyed
 * BLAKE2b of the machine id (/etc/machine-id, else /var/lib/dbus/machine-id, else the hostname)
 * and the file system id (statfs f_fsid, or st_dev when that is 0) and inode of the state
 * directory. A directory copied to another machine, or to another directory here, does not
 * match its fingerprint and gets a new id (logged), so a copied directory never clones a node;
 * an untouched (or moved within its file system) directory keeps its id across restarts. The
 * file system id rather than st_dev where possible: st_dev of btrfs subvolumes and overlayfs is
 * allocated at mount time and may change across reboots, f_fsid comes from the file system's
 * UUID on ext4/btrfs/overlayfs (upper layer). The machine id is hashed with a shoal-specific
 * key, never stored (machine-id(5) asks applications not to expose it).
 *
 * Format of <slot>.id, one line: "shoal-node-id 1 <32 hex id> <32 hex fingerprint>\n". Written
 * atomically (temp file, fsync, rename, fsync of the directory). A file that does not parse is
 * replaced by a new id (logged).
 */
#ifndef SHOAL_STATE_H
#define SHOAL_STATE_H

#include "base/base.h"
#include "cluster/plan.h"

#define STATE_MAX_SLOTS 64

/* --state-dir (opt, when non-empty), else $XDG_STATE_HOME/shoal (an absolute one; the XDG spec
 * says to ignore relative ones), else $HOME/.local/state/shoal. SH_EINVAL (logged) if none can
 * be formed or it does not fit in cap. */
int state_dir_resolve(const char *opt, char *out, size_t cap);

typedef struct {
	char dir[4096];
	uint8_t id[PLAN_ID_BYTES];
	char id_hex[2 * PLAN_ID_BYTES + 1];
	int slot;                    /* 0: "node"; k > 0: "node-k" (another process here holds the lower ones) */
	bool fresh;                  /* the id was created now (first start, copied directory, corrupt file) */
	int lock_fd;                 /* the flock on <slot>.lock (>= 3); -1 or 0 when none */
} node_state;

/* Creates dir (mode 0700, parents too), takes the first free slot (0..STATE_MAX_SLOTS-1) and
 * loads its id or creates it (see above). SH_OK; SH_EIO when the directory cannot be created or
 * written (logged, with the path and the reason); SH_ERANGE when every slot is held; SH_EINVAL
 * for a path too long. On failure s holds no lock and node_state_free(s) is still safe. */
int node_state_init(node_state *s, const char *dir);
/* releases the slot's lock; NULL-safe, idempotent, and safe on a zeroed node_state (so a
 * cleanup path may call it whether or not init ran) */
void node_state_free(node_state *s);

#endif
