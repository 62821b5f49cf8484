/*
 * gc.h - background history garbage collection in dkvd (docs/snap.md
 * "GC", docs/store.md "History GC").
 *
 * Every gc.interval_ms a timer on the node's loop queues one pass on the
 * worker pool (never two at once): it takes W = (HLC now) - gc.retention_ms
 * (kept below the epoch of any transaction of this node that may still
 * write versions at or under it, prepared or in doubt: txn_node_pending_at,
 * since such versions would be refused below a watermark) and raises the
 * watermark of every shard of the node's store toward W (dkv_store_gc).
 * The store caps W at the oldest live snapshot's epoch
 * (opts.oldest_pin reads node->snap_pin) and never lowers a watermark, so
 * every version visible at a live snapshot, and every version newer than
 * W, stays; RocksDB drops the versions hidden below the watermark as it
 * compacts. The pass's completion comes back to the loop, which updates
 * the statistics (INFO "# GC") and answers the DKV.GC requests that waited
 * for it.
 *
 *   IDLE --tick / gc_run--> RUNNING --pass done--> IDLE
 *     |                        |
 *     | gc_stop                | gc_stop (the pass runs to its end)
 *     v                        v
 *   STOPPED <--pass done-- STOPPING
 *
 * DKV.GC (gc_run) runs a pass now; one that arrives while a pass is
 * running waits for it and then gets a pass of its own (they share the
 * next one). A pass asked with compact forces a compaction of every shard,
 * bottom level included, so the space is reclaimed before it answers.
 *
 * Failure modes: a shard dropped during a pass is skipped; any other
 * store error of a shard is logged and fails the pass (counted as
 * gc_failed_passes, given to the DKV.GC requests of that pass) while the
 * other shards are still collected (each raise is durable and valid on
 * its own); the next tick tries again. A clock that cannot issue an epoch
 * fails the pass before any shard. Everything but the pass itself runs on
 * the loop thread; these calls are for the loop thread only.
 */
#ifndef DKV_SERVER_GC_H
#define DKV_SERVER_GC_H

#include <stdint.h>

struct node;
struct gc;

/* What one pass did. */
struct gc_result {
	int rc;                 /* 0, or the pass's first error */
	uint64_t watermark_min; /* over the node's shards; 0 if none */
	uint64_t watermark_max;
	uint64_t shards;        /* shards visited */
	uint64_t disk_bytes;    /* dkv_store_disk_bytes after the pass */
	uint64_t ms;            /* the pass's duration */
};

/* A DKV.GC request waiting for a pass: `done` runs on the loop thread when
 * a pass that began after gc_run() ends, with its result, or with
 * res->rc = DKV_ERR_CLOSED if the node stopped first. Owned by the caller,
 * which must keep it alive until done. */
struct gc_wait {
	struct gc_wait *next;
	int compact;
	void (*done)(struct gc_wait *w, const struct gc_result *res);
};

/* For INFO. */
struct gc_info {
	uint64_t retention_ms, interval_ms;
	uint64_t passes, failed_passes;
	uint64_t last_pass_ms;   /* duration of the last pass */
	uint64_t watermark_min, watermark_max; /* after the last pass */
	uint64_t disk_bytes;     /* measured after the last pass; 0 before */
	int running;
	int pinned_by_snapshot;  /* the oldest snapshot holds W back now */
};

/* Creates node->gc and starts the timer (none when gc.interval_ms is 0).
 * After txn_node_start. 0 or DKV_ERR_NOMEM. */
int gc_start(struct node *n);
/* Stops the timer and takes no more passes; a running pass ends on the
 * worker pool and its completion runs before the loop ends. Waiting
 * requests not yet in a pass get DKV_ERR_CLOSED. No-op without gc. */
void gc_stop(struct node *n);
/* Frees node->gc; after the loop ended. No-op without gc. */
void gc_free(struct node *n);
/* Runs a pass now, or after the running one (see above). DKV_ERR_CLOSED
 * once stopping, DKV_ERR_STATE without gc. */
int gc_run(struct node *n, struct gc_wait *w);
/* Statistics and settings. */
void gc_info(struct node *n, struct gc_info *out);

#endif /* DKV_SERVER_GC_H */
