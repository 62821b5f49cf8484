/*
 * coord_int.h - the coordinator's internals, shared by coord.c (life,
 * transactions, reads) and coord_commit.c (commit, answers, STATUS,
 * tick). The state machine of a transaction is in coord.c.
 */
#ifndef DKV_TXN_COORD_INT_H
#define DKV_TXN_COORD_INT_H

#include "common/sm.h"
#include "txn/coord.h"
#include "txn/kset.h"

enum {
	CT_ACTIVE,
	CT_MUST_RESTART,
	CT_COMMITTING,
	CT_ASKING,
	CT_COMMITTED,
	CT_ABORTED,
	CT_UNKNOWN,
	CT_N
};


/* A pending read. */
struct cop {
	struct cop *next;
	uint64_t rid;
	int is_range;
	uint32_t shard;
	uint32_t limit;
	struct txn_bytes key; /* READ: owned copy */
	struct txn_bytes start, end; /* RANGE: owned copies */
	uint64_t deadline, next_send;
	txn_get_cb gcb;
	txn_range_cb rcb;
	void *arg;
};

struct txn_tx {
	struct txn_coord *c;
	struct txn_tx *hnext;
	struct txn_tx *next, *prev;
	struct dkv_txid id;
	struct dkv_sm sm;
	uint64_t ts, tu;
	int fixed; /* txn_open_at: read-only, ts never moves */
	uint64_t restart_epoch; /* the highest epoch a RESTART named */
	uint64_t sent, tc;
	uint32_t leader; /* where the commit went */
	struct kset writes, reads;
	struct krange *ranges;
	size_t nranges;
	struct cop *ops;
	txn_commit_cb ccb;
	void *carg;
	uint64_t status_at, deadline, next_send, backoff;
	/* Observed timestamps: per shard read, its clock at the first
	 * answer; kept across restarts (txn_msg.h, READ_REPLY obs). */
	struct tx_obs { uint32_t shard; uint64_t obs; } *obs;
	size_t nobs, capobs;
};

struct txn_coord {
	struct txn_coord_io io;
	struct txn_coord_conf conf;
	struct txn_coord_stats stats;
	struct txn_tx **tab;
	size_t nb, n;
	struct txn_tx *all;
	uint64_t next_rid;
};

/* coord.c, coord_read.c */
struct txn_tx *coord_find(struct txn_coord *c, const struct dkv_txid *id);
uint64_t coord_now(struct txn_coord *c);
unsigned coord_state(const struct txn_tx *tx);
void coord_send(struct txn_coord *c, struct txn_msg *m);
void coord_merge(struct txn_coord *c, uint64_t epoch);
int coord_writable(const struct txn_tx *tx);
int coord_check_key(const struct txn_tx *tx, size_t klen);
/* d owns a malloc'ed copy (NULL for len 0); 0 or DKV_ERR_NOMEM. */
int coord_dup_bytes(struct txn_bytes *d, const char *p, size_t len);
void coord_op_free(struct cop *op);
/* The uncertainty limit of a read of shard (tu capped by its observed
 * timestamp), and the recording of one. */
uint64_t coord_tu_for(const struct txn_tx *tx, uint32_t shard);
void coord_observe(struct txn_tx *tx, uint32_t shard, uint64_t obs);
struct cop *coord_op_take(struct txn_tx *tx, uint64_t rid);
void coord_send_op(struct txn_tx *tx, struct cop *op);
void coord_on_read_reply(struct txn_tx *tx,
			 const struct txn_msg_read_reply *m);
void coord_on_range_reply(struct txn_tx *tx,
			  const struct txn_msg_range_reply *m);

#endif /* DKV_TXN_COORD_INT_H */
