/*
 * part.h - a shard's side of the transaction protocol (docs/txn.md): one
 * struct txn_part per shard a node hosts.
 *
 * It answers READ and RANGE (resolving intents, with the uncertainty
 * window), commits COMMIT1 in one durable write, leads two-phase commits
 * (PREPARE_L), follows them (PREPARE, COMMIT, ABORT), answers STATUS,
 * parks writers by wait-die and readers on undecided intents, resends
 * and times out from tick calls, recovers from its durable records, and
 * collects outcome tombstones after the horizon.
 *
 * Threads: none of its own. Every call (and every io callback) runs on
 * one thread. Calls never block, apart from io's synchronous store reads.
 *
 * Life: txn_part_create() (no I/O), txn_part_recover() (reads the shard's
 * records, resumes what a crash interrupted: may submit batches and send
 * messages), then txn_part_recv() / txn_part_tick() until
 * txn_part_destroy(). After a crash the binding destroys the part without
 * completing its batches (their callbacks must never run afterwards) and
 * builds a new one over the durable state.
 */
#ifndef DKV_TXN_PART_H
#define DKV_TXN_PART_H

#include <stddef.h>
#include <stdint.h>

#include "txn/stats.h"
#include "txn/txn_io.h"

struct txn_part_conf {
	uint32_t shard;
	uint64_t prepare_timeout_ms; /* leader: no PREPARED from all: abort */
	uint64_t resend_min_ms;      /* PREPARE, COMMIT, ABORT, STATUS resend */
	uint64_t resend_max_ms;      /* ... doubling up to this */
	uint64_t wait_timeout_ms;    /* a parked writer gives up: RESTART */
	uint64_t read_timeout_ms;    /* a parked reader gives up: RESTART */
	uint64_t status_after_ms;    /* a prepared follower asks its leader */
	uint64_t horizon_ms;         /* H: outcome tombstones live sent + H */
	uint64_t tomb_mem_ms;        /* ... in memory this long after DONE,
					then on disk only (their D records,
					read back on demand): memory does
					not grow with the commit rate */
	uint32_t max_parked;         /* parked readers + writers */
	uint32_t max_key;            /* bytes; larger keys are refused */
	uint32_t max_value;          /* bytes */
	/*
	 * TEST ONLY: skip read-set validation (the rw check of reads and
	 * ranges) so that the simulator can show its checker catching the
	 * anomalies that follow. Never set from any configuration file.
	 */
	int test_skip_read_validation;
};

/* Defaults of docs/txn.md: 2 s, 250 ms..2 s, 1 s, 1 s, 2 s, 60 s (2 s in
 * memory), 1024, 64 KiB keys, 64 MiB values. */
void txn_part_conf_init(struct txn_part_conf *conf, uint32_t shard);

struct txn_part;

/* io and conf are copied; io->hlc is borrowed (outlives the part).
 * *out is the caller's until txn_part_destroy(). DKV_ERR_INVAL/NOMEM. */
int txn_part_create(const struct txn_io *io, const struct txn_part_conf *conf,
		    struct txn_part **out);
/* Rebuilds the intent index and the transactions from the shard's durable
 * records and resumes them (docs/txn.md, in-doubt table). Call once,
 * before any message. 0, or the store's error / DKV_ERR_CORRUPT. */
int txn_part_recover(struct txn_part *p);
/* Frees everything; batches in flight are abandoned (their done
 * callbacks must not be called afterwards). */
void txn_part_destroy(struct txn_part *p);

/* A message addressed to this shard; borrowed for the call. */
void txn_part_recv(struct txn_part *p, const struct txn_msg *msg);
/* Timeouts, resends and tombstone collection; call every few tens of ms
 * with io.now_ms(). */
void txn_part_tick(struct txn_part *p, uint64_t now_ms);

/* For writes that bypass the transaction layer (a node's single-key
 * commands) and for reads of the newest version: whether key has an
 * intent or lock a plain write must not pass (a write intent, a read
 * lock, a range lock covering it: 1), or a write intent a plain read must
 * wait for (kind TXN_LOCK_READ: only write intents count). 0 if none. */
#define TXN_LOCK_WRITE 0
#define TXN_LOCK_READ 1
int txn_part_locked(const struct txn_part *p, const char *key, size_t klen,
		    int kind);
/* Whether any write intent lies in [start, end) (empty = unbounded). */
int txn_part_locked_range(const struct txn_part *p, const char *start,
			  size_t slen, const char *end, size_t elen);

/* The snapshot fence (docs/snap.md): how many of this shard's
 * transactions may still write versions at or below epoch (prepared or
 * committing with a proposed or commit epoch <= epoch, not yet durable
 * here). Once the clock is past epoch, this only goes down. */
size_t txn_part_pending_at(const struct txn_part *p, uint64_t epoch);

struct txn_part_info {
	uint64_t intents;      /* intents and read locks held */
	uint64_t range_locks;
	uint64_t txns;         /* transactions known, tombstones included */
	uint64_t undecided;    /* not yet decided here (validating, prepared) */
	uint64_t tombstones;   /* outcomes remembered */
	uint64_t parked;       /* parked readers and writers */
	uint64_t batches;      /* durable writes in flight */
	int failed;            /* a durable write failed: the part refuses all */
};
void txn_part_info(const struct txn_part *p, struct txn_part_info *out);
const struct txn_part_stats *txn_part_stats(const struct txn_part *p);

#endif /* DKV_TXN_PART_H */
