/*
 * txn_node.h - the transaction layer (src/txn/) bound into dkvd.
 *
 * One struct txn_part per shard this node owns, over the node's store
 * (reads on the loop thread, durable batches through the committer as
 * DKV_OP_TXN commands, so they group-commit with single-key writes), the
 * node's clock, and a transport of struct txn_msg:
 *
 *   - to a shard of this node: queued and delivered from the loop (never
 *     inside the call that sent it);
 *   - to a shard of another node: `DKV.TXN ...` (src/proto/txn_wire.h)
 *     over the peer link, one way (the peer answers +OK);
 *   - to a client's coordinator (libdkv: id with bit 63 set): as the
 *     RESP reply of the DKV.TXN request that asked (READ -> READ_REPLY,
 *     RANGE -> RANGE_REPLY, COMMIT1 / PREPARE_L -> OUTCOME, STATUS ->
 *     STATUS_REPLY, matched by coordinator, txid and request id); a
 *     request unanswered after TXN_NODE_WAIT_MS (longer than a parked
 *     read's 1 s and a prepare's 2 s) gets a null reply, which the client
 *     treats as a lost message.
 *
 * Single-key commands bypass the layer for speed (apply.c, group commit)
 * and are kept consistent with it from both sides, all on the loop
 * thread: a plain write or a read of the newest version that meets an
 * intent waits (bounded) until it is resolved (txn_node_locked), and a
 * transaction's validation that meets a plain write in flight restarts
 * (txn_io.busy, fed by txn_node_busy_add / _del).
 *
 * Failure modes: a shard whose durable write failed refuses transactions
 * until restart (the part's own rule); messages to an unreachable node
 * are lost (the protocol resends); a client request that outlives
 * TXN_NODE_WAIT_MS is answered with a null reply.
 */
#ifndef DKV_SERVER_TXN_NODE_H
#define DKV_SERVER_TXN_NODE_H

#include <stddef.h>
#include <stdint.h>

struct node;
struct conn;
struct resp_cmd;
struct req;

#define TXN_NODE_TICK_MS 20
#define TXN_NODE_WAIT_MS 2500
/* A plain command blocked by an intent waits this long, then fails with
 * TRYAGAIN. */
#define TXN_NODE_PLAIN_WAIT_MS 5000

/* Creates and recovers the parts of the shards this node owns (after the
 * committer and the loop are up); starts the tick. 0 or a code. */
int txn_node_start(struct node *n);
/* Closes the timer and idle handles (the loop then ends). */
void txn_node_stop(struct node *n);
/* Frees everything (after the loop ended). */
void txn_node_free(struct node *n);
/* The map changed: parts for newly owned shards. */
void txn_node_map_changed(struct node *n);

/* Opens a transaction on the node's own coordinator (MULTI/EXEC, MSET);
 * *out is the caller's until txn_close(). Its callbacks run on the loop. */
struct txn_tx;
int txn_node_open(struct node *n, struct txn_tx **out);
/* The same, read-only at a fixed epoch (txn_open_at): DKV.AT. */
int txn_node_open_at(struct node *n, uint64_t epoch, struct txn_tx **out);

/* DKV.TXN: a message from a client coordinator or another node. */
void cmd_dkv_txn(struct conn *c, const struct resp_cmd *cmd);
/* DKV.TXNQ: the same message one way between nodes, never answered. */
void cmd_dkv_txnq(struct conn *c, const struct resp_cmd *cmd);

/* 1 if a plain write of key (or, read_only, a read of its newest version)
 * must wait for a transaction's intent. */
int txn_node_locked(struct node *n, uint32_t shard, const char *key,
		    size_t klen, int read_only);

/* Plain writes in flight on a key (the validation's busy hook). */
void txn_node_busy_add(struct node *n, uint32_t shard, const char *key,
		       size_t klen);
void txn_node_busy_del(struct node *n, uint32_t shard, const char *key,
		       size_t klen);
/* 1 while a plain write of key is in flight: submitted, maybe already in
 * the store, not yet completed (so not yet in the value cache). */
int txn_node_busy(struct node *n, uint32_t shard, const char *key,
		  size_t klen);

/* Parks a plain request blocked by an intent: `retry` runs on the loop
 * once none of its keys is locked (then it must re-check and go on), or
 * with timed_out = 1 after TXN_NODE_PLAIN_WAIT_MS. */
typedef void (*txn_node_retry_fn)(struct req *r, int timed_out);
int txn_node_park(struct node *n, struct req *r, txn_node_retry_fn retry);

/* The snapshot fence: transactions of this node's shards that may still
 * write versions at or below epoch (txn_part_pending_at, summed). */
size_t txn_node_pending_at(struct node *n, uint64_t epoch);

/* A durable batch of the layer completed (committer -> loop queue). */
struct txn_sub;
void txn_node_batch_done(struct txn_sub *s);
/* The next in the node's completion queue. */
struct txn_sub *txn_sub_next(const struct txn_sub *s);

/* For INFO: counters of every part. */
struct txn_node_info {
	uint64_t parts, intents, undecided, parked, commits, aborts,
		restarts, plain_waits;
	uint64_t tombstones;      /* outcomes kept in memory */
	uint64_t tombstones_disk; /* left on disk only, collected there */
	uint64_t restart_by[16]; /* RESTART/REFUSED sent, by cause */
	const char *cause[16];   /* their names: "ww", "rw", ... */
	size_t ncauses;
};
void txn_node_info(struct node *n, struct txn_node_info *out);

#endif /* DKV_SERVER_TXN_NODE_H */
