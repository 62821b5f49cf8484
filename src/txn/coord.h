/*
 * coord.h - the coordinator: a client's transactions (docs/txn.md).
 *
 * A transaction reads at its start epoch ts through the shards (READ,
 * RANGE), answers its own writes from its cache (read your writes, ranges
 * merged with buffered writes), buffers every write until commit, and
 * commits with COMMIT1 (one participant) or PREPARE_L to the leader (the
 * lowest write shard). A lost answer is recovered by asking the leader
 * STATUS; past the commit deadline the outcome is reported unknown, never
 * aborted. A restart keeps the transaction's age (txid hi) and uncertainty
 * limit, draws a new txid lo and a new start epoch.
 *
 * Threads: none; one thread calls everything, callbacks run inside
 * txn_coord_recv() / txn_coord_tick(), never inside the call that issued
 * the request. A callback may call any function of this header, including
 * txn_close() of its own transaction.
 *
 * Memory: a transaction's memory is its write set, read set and pending
 * requests; nothing else grows with it. Pointers passed in are copied.
 * Pointers passed to callbacks are valid during the callback only.
 */
#ifndef DKV_TXN_COORD_H
#define DKV_TXN_COORD_H

#include <stddef.h>
#include <stdint.h>

#include "txn/stats.h"
#include "txn/txn_io.h"

#define TXN_PENDING 1 /* the answer comes through the callback */

struct txn_coord_conf {
	uint64_t id;                 /* this coordinator's address (unique) */
	uint64_t read_resend_ms;     /* a READ/RANGE without answer is resent */
	uint64_t read_timeout_ms;    /* ... and fails with DKV_ERR_TIMEOUT */
	uint64_t commit_wait_ms;     /* no OUTCOME within this: ask STATUS */
	uint64_t status_resend_ms;   /* STATUS resend, doubling to 8x */
	uint64_t commit_deadline_ms; /* then DKV_ERR_TIMEOUT, outcome unknown;
					must stay below horizon / 2 */
	uint32_t max_key;
	uint32_t max_value;
};

/* Defaults: 250 ms, 5 s, 3 s, 250 ms, 10 s, 64 KiB, 64 MiB. */
void txn_coord_conf_init(struct txn_coord_conf *conf, uint64_t id);

struct txn_coord;
struct txn_tx;

/* io and conf are copied; io->hlc is borrowed. *out is the caller's until
 * txn_coord_destroy(). */
int txn_coord_create(const struct txn_coord_io *io,
		     const struct txn_coord_conf *conf,
		     struct txn_coord **out);
/* Frees every transaction; no callback runs afterwards. */
void txn_coord_destroy(struct txn_coord *c);
/* A message addressed to this coordinator; borrowed for the call. */
void txn_coord_recv(struct txn_coord *c, const struct txn_msg *msg);
/* Resends and timeouts; call every few tens of ms. */
void txn_coord_tick(struct txn_coord *c, uint64_t now_ms);
const struct txn_coord_stats *txn_coord_stats(const struct txn_coord *c);

/* --- a transaction ------------------------------------------------------- */

/* Opens a transaction at ts = HLC now. *out is the caller's until
 * txn_close(). DKV_ERR_NOMEM, or the HLC's error. */
int txn_open(struct txn_coord *c, struct txn_tx **out);
/* Opens a read-only transaction at a fixed epoch (a snapshot's, or any
 * epoch above the history watermark): reads see exactly the state at
 * epoch, without uncertainty (tu = ts); txn_put and txn_del are
 * DKV_ERR_READ_ONLY; txn_restart keeps the epoch. The epoch is not merged
 * into the coordinator's clock. DKV_ERR_INVAL for 0 or DKV_EPOCH_MAX,
 * DKV_ERR_NOMEM. */
int txn_open_at(struct txn_coord *c, uint64_t epoch, struct txn_tx **out);
/* 1 for a transaction of txn_open_at. */
int txn_tx_fixed(const struct txn_tx *tx);
/* Frees it; pending callbacks never run. Closing a committing transaction
 * abandons it: the leader goes on alone. */
void txn_close(struct txn_tx *tx);

/* Buffers a write (copied). DKV_ERR_STATE unless active, DKV_ERR_INVAL for
 * an empty or oversized key, DKV_ERR_TOO_BIG for a value over the limit,
 * DKV_ERR_TX_RESTART if a read already asked for a restart. */
int txn_put(struct txn_tx *tx, const char *key, size_t klen, const char *val,
	    size_t vlen);
int txn_del(struct txn_tx *tx, const char *key, size_t klen);

/* rc: 0 found, DKV_ERR_NOT_FOUND, DKV_ERR_TX_RESTART (restart the
 * transaction), DKV_ERR_TIMEOUT, or another code. epoch: the commit epoch
 * of the version read (of the tombstone for NOT_FOUND; 0 if none). */
typedef void (*txn_get_cb)(void *arg, int rc, const char *val, size_t vlen,
			   uint64_t epoch);
/*
 * Reads key at ts. Answered from the write set: 0 with *out pointing into
 * the write set (valid until the next write, restart or close) or
 * DKV_ERR_NOT_FOUND (deleted here), and cb is not called. Otherwise
 * TXN_PENDING and cb is called once, later. Errors as txn_put.
 */
int txn_get(struct txn_tx *tx, const char *key, size_t klen,
	    struct txn_bytes *out, txn_get_cb cb, void *arg);

/* Records in the read set that key was read at version epoch (0: none)
 * elsewhere, e.g. by an earlier transaction of the same client (Redis's
 * WATCH): the commit then validates that key's newest version is still
 * epoch, as for a read made here. epoch is merged into the clock. A no-op
 * for a fixed-epoch transaction. Errors as txn_put. */
int txn_note_read(struct txn_tx *tx, const char *key, size_t klen,
		  uint64_t epoch);

/* 1 if the transaction has buffered a write (or delete) of key. */
int txn_has_write(const struct txn_tx *tx, const char *key, size_t klen);

/* items in key order, merged with this transaction's writes; next: empty
 * when [start, end) was read through, else where to continue. */
typedef void (*txn_range_cb)(void *arg, int rc, const struct txn_item *items,
			     uint32_t n, const char *next, size_t nlen);
/* Reads the visible keys of [start, end) of one shard at ts, at most
 * limit of them (0 = all). TXN_PENDING, or an error as txn_put. */
int txn_range(struct txn_tx *tx, uint32_t shard, const char *start,
	      size_t slen, const char *end, size_t elen, uint32_t limit,
	      txn_range_cb cb, void *arg);

/* rc: 0 committed at tc; DKV_ERR_TX_RESTART aborted (txn_restart and run
 * it again); DKV_ERR_TIMEOUT the outcome is unknown. */
typedef void (*txn_commit_cb)(void *arg, int rc, uint64_t tc);
/*
 * Commits. A transaction without writes commits at once: 0, cb not
 * called (its reads were a consistent state at ts). Else TXN_PENDING.
 * DKV_ERR_BUSY while reads are pending, DKV_ERR_TX_RESTART if a read
 * asked for a restart, DKV_ERR_STATE if not active.
 */
int txn_commit(struct txn_tx *tx, txn_commit_cb cb, void *arg);
/* A new incarnation: same age, new txid lo, ts above every epoch it met
 * (the uncertain one included), same uncertainty limit; read and write
 * sets emptied; pending reads dropped without callback. DKV_ERR_STATE
 * while committing or after a commit. */
int txn_restart(struct txn_tx *tx);

const struct dkv_txid *txn_tx_id(const struct txn_tx *tx);
uint64_t txn_tx_ts(const struct txn_tx *tx);
/* Number of buffered writes and recorded reads (memory is these). */
size_t txn_tx_nwrites(const struct txn_tx *tx);
size_t txn_tx_nreads(const struct txn_tx *tx);

#endif /* DKV_TXN_COORD_H */
