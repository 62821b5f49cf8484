/*
 * txn_io.h - everything the transaction core needs from the outside, as
 * function tables: one node's store (its shards' versions and plain
 * records), the network, monotonic time and the node's HLC.
 *
 * The core is single-threaded and event-driven: one thread calls it, it
 * never blocks on anything but the synchronous store reads below (which a
 * binding may serve from memory or its block cache), durable writes
 * complete later through a callback, and timeouts are driven by tick calls.
 * dkvd binds these to RocksDB (src/store/), libuv and RESP; tests/sim/
 * binds them to an in-memory store and a simulated network.
 */
#ifndef DKV_TXN_IO_H
#define DKV_TXN_IO_H

#include <stddef.h>
#include <stdint.h>

#include "txn/txn_msg.h"

struct dkv_hlc;

enum txn_vkind {
	TXN_V_NONE = 0, /* no version at or below the epoch */
	TXN_V_PUT = 1,
	TXN_V_DEL = 2, /* a tombstone: deleted at `epoch` */
};

/* A version read from the store. val points into the store's memory,
 * valid until the next call into the store ops (copy what you keep). */
struct txn_version {
	uint32_t kind; /* enum txn_vkind */
	uint64_t epoch;
	const char *val;
	size_t vlen;
};

/* Range and scan callbacks: return 0 to go on, 1 to stop after this item,
 * a negative DKV_ERR_* to stop the walk with that code. key and val are
 * valid during the call only. */
typedef int (*txn_version_cb)(void *arg, const char *key, size_t klen,
			      const struct txn_version *v);
typedef int (*txn_plain_cb)(void *arg, const char *key, size_t klen,
			    const char *val, size_t vlen);

/* Completion of a durable batch: rc 0 = every record is durable and
 * visible to reads; otherwise nothing of the batch was written. */
typedef void (*txn_done_fn)(void *arg, int rc);

enum txn_bop {
	TXN_BOP_PUT = 1,       /* version key@epoch = val */
	TXN_BOP_DEL = 2,       /* tombstone key@epoch */
	TXN_BOP_PUT_PLAIN = 3, /* plain record key = val */
	TXN_BOP_DEL_PLAIN = 4, /* plain record key removed */
};

struct txn_bent {
	uint32_t op; /* enum txn_bop */
	uint32_t pad_;
	const char *key;
	size_t klen;
	const char *val;
	size_t vlen;
	uint64_t epoch; /* versioned ops only */
};

struct txn_arena_chunk;

/* One atomic durable write to one shard, built by the core (batch.c). The
 * core owns it and everything it points at until the batch's done callback
 * has returned (or the core is destroyed). */
struct txn_batch {
	uint32_t shard;
	uint32_t pad_;
	struct txn_bent *v;
	size_t n;
	/* private to batch.c */
	size_t cap_;
	struct txn_arena_chunk *mem_;
};

struct txn_io {
	void *ctx; /* passed to every call below */

	/*
	 * Store reads: synchronous; 0 or a DKV_ERR_* code.
	 *
	 * get: the newest version of key with epoch <= `epoch` (puts and
	 * tombstones alike); DKV_EPOCH_MAX = the newest of all. out->kind
	 * TXN_V_NONE when there is none (that is 0, not an error).
	 */
	int (*get)(void *ctx, uint32_t shard, const char *key, size_t klen,
		   uint64_t epoch, struct txn_version *out);
	/*
	 * range: for each key of [start, end) in ascending order (empty start
	 * = from the first key, empty end = through the last), its newest
	 * version at or below `epoch`, tombstones included. Returns 0 or the
	 * first error (a negative code from cb included).
	 */
	int (*range)(void *ctx, uint32_t shard, const char *start, size_t slen,
		     const char *end, size_t elen, uint64_t epoch,
		     txn_version_cb cb, void *arg);
	/* scan_plain: every plain record of the shard whose key starts with
	 * prefix, ascending. For recovery only. */
	int (*scan_plain)(void *ctx, uint32_t shard, const char *prefix,
			  size_t plen, txn_plain_cb cb, void *arg);
	/*
	 * submit: writes batch b (versions and plain records of shard
	 * b->shard) atomically and durably, in the background. done(arg, rc)
	 * is called later on the core's thread, never from inside submit.
	 * Batches of one shard become durable and visible, and complete, in
	 * the order they were submitted; a crash loses a suffix of them. A
	 * non-zero return means the batch was not taken (done not called).
	 */
	int (*submit)(void *ctx, const struct txn_batch *b, txn_done_fn done,
		      void *arg);

	/* Network: best effort; the message may be lost, delayed,
	 * duplicated or reordered. msg->to says where it goes. msg is the
	 * caller's, valid during the call only. */
	void (*send)(void *ctx, const struct txn_msg *msg);

	/*
	 * Optional (NULL = none): writes that bypass the transaction layer
	 * (a node's single-key commands) and are in flight to the store. A
	 * validation meeting one on a key it writes or reads, or inside a
	 * range it read, dies (RESTART, locked): the write lands at an
	 * epoch the validation cannot see yet. busy_range: empty bounds are
	 * unbounded.
	 */
	int (*busy)(void *ctx, uint32_t shard, const char *key, size_t klen);
	int (*busy_range)(void *ctx, uint32_t shard, const char *start,
			  size_t slen, const char *end, size_t elen);

	/* Monotonic milliseconds (never goes back; any origin). */
	uint64_t (*now_ms)(void *ctx);

	/* The node's clock: borrowed, must outlive the core object. */
	struct dkv_hlc *hlc;
};

/* What a coordinator needs: no store, plus routing and randomness. */
struct txn_coord_io {
	void *ctx;
	void (*send)(void *ctx, const struct txn_msg *msg);
	uint64_t (*now_ms)(void *ctx);
	/* 64 random bits (txid lo). Tests pass a seeded PRNG. */
	uint64_t (*rand64)(void *ctx);
	/* The shard a key belongs to (the cluster map). */
	uint32_t (*shard_of)(void *ctx, const char *key, size_t klen);
	struct dkv_hlc *hlc; /* borrowed, outlives the coordinator */
};

#endif /* DKV_TXN_IO_H */
