/*
 * tx_int.h - libdkv's transaction handle (dkv.h, TRANSACTIONS; docs/client.md,
 * "Transactions"), shared by tx.c (life, commit, restart, dkv_tx_run),
 * tx_io.c (the coordinator's io table, the outbox, the wait loop),
 * tx_ops.c (get, put, remove) and tx_range.c (range).
 *
 * Each dkv_tx_t embeds its own coordinator of the transaction core
 * (src/txn/coord.h) with its own clock, so a handle needs no lock: it is
 * used by one thread at a time, and transactions of one client on other
 * threads share nothing but the client (thread-safe) and the client's
 * epoch floor (one atomic). The core is event-driven and never blocks; the
 * blocking API drives it: a call asks the core, the core's io.send()
 * appends the encoded DKV.TXN message to the handle's outbox, and the call
 * drains the outbox (a blocking request per message, the reply fed to
 * txn_coord_recv()) and ticks the core until the operation's callback has
 * fired (tx_wait).
 */
#ifndef DKV_CLIENT_TX_INT_H
#define DKV_CLIENT_TX_INT_H

#include <stddef.h>
#include <stdint.h>

#include "client/client_int.h"
#include "proto/resp.h"
#include "proto/txn_wire.h"
#include "txn/coord.h"

/* Bit 63 of a client coordinator's id: nodes' coordinators never set it. */
#define DKV_TX_COORD_BIT (UINT64_C(1) << 63)

enum tx_state {
	TXS_ACTIVE,    /* calls allowed */
	TXS_RESTART,   /* the core asked for a restart: DKV_ERR_TX_RESTART */
	TXS_ABORTED,   /* dkv_tx_abort: restart or close it */
	TXS_COMMITTED, /* final */
	TXS_UNKNOWN,   /* the commit's outcome is unknown (time-out) */
	TXS_BROKEN,    /* a call failed with a read pending in the core */
	TXS_FAILED,    /* the commit request was refused, not applied */
};

/* One encoded message waiting to be sent. */
struct tx_out {
	uint32_t shard; /* msg.to.id */
	uint32_t type;  /* enum txn_msg_type */
	struct resp_buf buf; /* the DKV.TXN command */
};

struct tx_outbox {
	struct tx_out *v;
	size_t n, cap;
};

/* A range read's items, copied out of the core's callback. */
struct tx_item {
	size_t koff, klen, voff, vlen;
	uint64_t epoch;
};

struct tx_page {
	struct tx_item *items;
	size_t n, cap;
	char *data; /* keys and values */
	size_t dlen, dcap;
	char *next; /* the core's `next` (malloc'ed), NULL: read through */
	size_t nlen;
};

/* What the operation being waited for gets back: the core's callbacks
 * fill it (tx_ops.c, tx_range.c, tx.c). The destinations are cleared when
 * the call returns. */
struct tx_wait {
	int done;
	int rc;
	uint64_t epoch; /* get: epoch of the version read */
	uint64_t tc;    /* commit: the commit epoch */
	void *buf;      /* get: the caller's buffer, or NULL */
	size_t *len;    /* get: its size / the value's size; NULL: probe */
	void **val;     /* get_alloc */
	struct tx_page *page; /* range */
};

struct dkv_tx {
	struct dkv_client *c;
	struct dkv_hlc *hlc;      /* this transaction's clock */
	struct txn_coord *coord;  /* its coordinator (id: bit 63 set) */
	struct txn_tx *t;         /* the core's transaction */
	enum tx_state state;
	uint32_t restarts;        /* dkv_tx_restart calls that succeeded */
	uint64_t at;              /* dkv_tx_open_snap: the fixed epoch (the
				     core's txn_open_at), read-only; 0: a
				     read-write transaction */
	uint64_t tc;              /* COMMITTED: the commit epoch */
	struct tx_outbox out;
	struct txn_wire_mem wmem; /* the last decoded reply */
	struct tx_wait w;
};

/* --- tx_io.c -------------------------------------------------------------- */

/* Creates the clock, the coordinator and the core's transaction. 0 or a
 * code (tx_core_destroy() frees what was made). */
int tx_core_create(struct dkv_tx *tx);
void tx_core_destroy(struct dkv_tx *tx);
/* Drops the core's transaction and opens a new one (new age): for a
 * handle whose core transaction cannot restart (still committing). */
int tx_core_replace(struct dkv_tx *tx);
/* The clock: start above the client's floor; publish to it (never for
 * a snapshot transaction: reading in the past teaches nothing). */
void tx_floor_merge(struct dkv_tx *tx);
void tx_floor_publish(struct dkv_tx *tx);
/* A snapshot transaction (tx->at) validates nothing at commit: before
 * each read, tx_snap_prepare() drops the core's read set (so its memory
 * stays bounded however much it reads; no-op for other transactions).
 * After a read that ended with *rc, tx_snap_retry() puts a snapshot
 * transaction back to ACTIVE (a restart keeps its epoch; a pending read
 * is dropped) and returns 1 when the read should be sent again: a shard
 * asked for a restart (an undecided transaction at or below the epoch,
 * a busy shard) and attempt is below the bound (it sleeps a little
 * first). 0 for every other case and every other transaction; a restart
 * asked for an epoch beyond the clocks' max offset becomes
 * DKV_ERR_CLOCK_OFFSET in *rc (no retry can help). */
void tx_snap_prepare(struct dkv_tx *tx);
int tx_snap_retry(struct dkv_tx *tx, int *rc, unsigned attempt);
void tx_outbox_clear(struct dkv_tx *tx);
/* Drives the core until tx->w.done: sends the outbox, feeds replies,
 * ticks. 0 when done; DKV_ERR_TIMEOUT when guard_ms passed first (the
 * core's own deadlines come earlier: this is a safety net); a fatal code
 * (DKV_ERR_AUTH, DKV_ERR_UNSUPPORTED, ...) of a request that cannot
 * succeed by resending it (a STATUS's is not fatal: treated as lost). */
int tx_wait(struct dkv_tx *tx, uint64_t guard_ms);
/* The guard of a read and of a commit. */
uint64_t tx_read_guard_ms(const struct dkv_tx *tx);
uint64_t tx_commit_guard_ms(const struct dkv_tx *tx);
/* Key -> shard by the current map: 0 or DKV_ERR_NO_SHARD (last error
 * set). */
int tx_key_shard(struct dkv_client *c, const void *key, size_t klen,
		 uint32_t *shard);
/* 64 random bits (getrandom). */
uint64_t tx_rand64(void);
void tx_sleep_ms(uint64_t ms);

/* --- tx_ops.c ------------------------------------------------------------- */

/* Checks that tx may run a data call for c: 0, DKV_ERR_INVAL (another
 * handle's), DKV_ERR_TX_RESTART, DKV_ERR_STATE (last error set). */
int tx_enter(dkv_client_t *c, struct dkv_tx *tx);

#endif /* DKV_CLIENT_TX_INT_H */
