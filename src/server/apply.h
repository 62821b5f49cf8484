/*
 * apply.h - the shard state machine for single-key commands.
 *
 * Every mutation of a shard is a command applied in order by apply(): it
 * reads the key's current value (the group's pending writes first, then
 * the store), decides the outcome with Redis semantics, and adds the
 * resulting version to the group's batch at a fresh HLC epoch. Nothing is
 * visible or acknowledged until the group commits (committer.h). Today a
 * shard has one replica and apply runs on the node's committer thread; a
 * replicated shard will run the same apply() on each replica's log.
 *
 * Command memory: key and val belong to the submitter and must stay valid
 * until done() is called. The results (rc, applied, integer, epoch, old)
 * are written by apply() and read in done(); `old.data` is then owned by
 * the submitter (dkv_val_release()).
 */
#ifndef DKV_SERVER_APPLY_H
#define DKV_SERVER_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "txn/txn_io.h"

enum dkv_op {
	DKV_OP_SET,    /* key = val, under cond; old value if want_old */
	DKV_OP_DEL,    /* delete key; applied = 1 if it existed */
	DKV_OP_INCRBY, /* integer += delta; integer = the new value */
	DKV_OP_APPEND, /* val appended; integer = the new length */
	DKV_OP_TXN,    /* a transaction layer batch (txn): written as is, its
			  versions at their own epochs (src/txn/txn_io.h) */
};

enum dkv_cond {
	DKV_COND_NONE,
	DKV_COND_NX, /* only if the key does not exist (insert-only) */
	DKV_COND_XX, /* only if the key exists (update-only) */
};

struct dkv_cmd {
	/* In: */
	enum dkv_op op;
	uint32_t shard;
	const char *key;
	size_t klen;
	const char *val;
	size_t vlen;
	int64_t delta;
	enum dkv_cond cond;
	int want_old;
	const struct txn_batch *txn;       /* DKV_OP_TXN: borrowed until done */
	void (*done)(struct dkv_cmd *cmd); /* on the committer's thread */
	void *ctx;                         /* the submitter's */
	/* Out: */
	int rc;           /* 0, or DKV_ERR_*: NOT_FOUND never; see below */
	int applied;      /* SET: 1 written, 0 condition not met; DEL: 1 if
			     the key existed */
	int64_t integer;  /* INCRBY: new value; APPEND: new length */
	uint64_t epoch;   /* epoch of the version written, 0 if none */
	struct dkv_val old; /* SET with want_old: the previous value */
	int old_found;
	/* Private: */
	struct dkv_cmd *next_;
};

/* Errors apply() reports in cmd->rc (Redis texts in the server):
 *   DKV_ERR_INVAL     INCRBY on a value that is not a base-10 int64
 *                     (Redis's rules: resp_parse_i64)
 *   DKV_ERR_OVERFLOW  INCRBY past INT64_MIN/MAX
 *   DKV_ERR_TOO_BIG   APPEND past the value size limit
 *   DKV_ERR_INTERNAL  DKV_OP_TXN whose record the batch refused halfway
 *                     (an order violation the transaction layer rules
 *                     out): the whole group fails, nothing is written
 *   others            from the store (NO_SHARD, IO, ...) */

struct apply_group;

int apply_group_create(struct dkv_store *store, struct apply_group **out);
void apply_group_destroy(struct apply_group *g);

/* Applies one command to the group; epoch_fn issues the epoch of each
 * write. Returns cmd->rc. A failed command writes nothing. */
int apply_cmd(struct apply_group *g, struct dkv_cmd *cmd,
	      int (*epoch_fn)(void *ctx, uint64_t *epoch), void *epoch_ctx);

/* Commits everything applied since the last commit (durably) and forgets
 * the pending overlay. On failure the caller fails every command of the
 * group: none of their writes happened. */
int apply_group_commit(struct apply_group *g);

/* Records and bytes pending in the group. */
size_t apply_group_records(const struct apply_group *g);
size_t apply_group_bytes(const struct apply_group *g);

#endif /* DKV_SERVER_APPLY_H */
