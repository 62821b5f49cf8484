/*
 * node.h - one dkvd: its store, clock, committer, cluster map, listener
 * and client connections, on one libuv loop.
 *
 *   STARTING --listening--> SERVING --SIGTERM/stop--> DRAINING
 *                                                        |
 *                 every connection closed, committer empty
 *                                                        v
 *                                                     STOPPED
 *
 * Threads: the loop thread parses, routes and answers; reads run on it
 * when the data is in memory (DKV_READ_NO_IO) and on libuv's worker pool
 * otherwise; writes go to the committer thread, which hands completed
 * commands back through a uv_async queue. Nothing on the loop thread
 * waits for the disk.
 */
#ifndef DKV_SERVER_NODE_H
#define DKV_SERVER_NODE_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "common/sm.h"
#include "hlc/hlc.h"
#include "proto/resp.h"
#include "server/committer.h"
#include "server/config.h"
#include "server/rcache.h"

struct gc;
struct txn_node;
struct txn_sub;
struct snap_node;
#include "shard/map.h"
#include "store/store.h"

enum node_state { NODE_STARTING, NODE_SERVING, NODE_DRAINING, NODE_STOPPED,
		  NODE_NSTATES };

struct conn;
struct peer;
struct req;

struct node_stats {
	uint64_t connections_total;
	uint64_t commands;
	uint64_t reads, writes, errors;
	uint64_t disk_reads; /* reads that went to the worker pool */
	uint64_t rejected;   /* connections over max_clients */
};

struct node {
	struct dkv_config cfg;
	struct dkv_sm sm;
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_async_t done_async;   /* committer -> loop completions */
	uv_signal_t sig_term, sig_int;
	uv_timer_t drain_timer;
	uv_timer_t clock_timer;  /* moves the clock's durable bound ahead */
	uv_work_t clock_work;    /* ... on the worker pool */
	int clock_busy;          /* clock_work queued */
	uv_check_t flush_check;  /* writes replies completed this iteration */
	uv_idle_t flush_idle;    /* ... without blocking in poll first */
	struct conn *flush_head; /* connections with replies to write */
	int peers_dirty;         /* a peer link has requests to write */
	struct dkv_store *store;
	struct dkv_hlc *hlc;
	struct dkv_committer *committer;
	struct dkv_map *map;     /* NULL until the cluster is created */
	struct rcache rcache;    /* newest values, loop thread only */
	struct txn_node *txn;    /* the transaction layer (txn_node.h) */
	struct gc *gc;           /* background history GC (gc.h) */
	struct snap_node *snap;  /* the snapshot manager (snap_node.h) */
	/* The oldest live snapshot's epoch, DKV_EPOCH_MAX if none: GC never
	 * raises a watermark above it. Written on the loop thread, read
	 * anywhere, with __atomic_load_n/__atomic_store_n. */
	uint64_t snap_pin;
	/* Every pinned epoch (snapshots, a fence in progress), for the
	 * store's GC between pins; under pins_lock (RocksDB's threads read
	 * it). Lives as long as the node, past the store's close. */
	pthread_mutex_t pins_lock;
	uint64_t *pins;
	size_t npins;
	struct txn_sub *txn_done_head, *txn_done_tail; /* under done_lock */
	struct resp_limits limits;

	pthread_mutex_t done_lock;
	struct req *done_head, *done_tail; /* completed on other threads */

	struct peer **peers;     /* links to the other nodes */
	size_t npeers;
	struct conn *conns;      /* every open connection */
	uint64_t nconns;
	uint64_t inflight;       /* requests not yet completed */
	uint64_t start_ns;
	struct node_stats stats;
};

/* The flush handles' callbacks (conn_flush_pending). */
void node_flush_idle_cb(uv_idle_t *h);

/* Opens the store, clock and committer, loads the cluster map, listens.
 * On failure, *msg says why (static or in cfg-sized buffer). */
int node_start(struct node *n, const struct dkv_config *cfg, char *err,
	       size_t errlen);
/* dkvd's exit status when a write to its disk failed (node.c). */
#define NODE_EXIT_DISK_FAILURE 3

/* Runs the loop until the node has drained and stopped. */
int node_run(struct node *n);
/* Begins a graceful stop (as SIGTERM does). Loop thread only. */
void node_stop(struct node *n);
/* Frees what node_start made; after node_run returned. */
void node_close(struct node *n);

/* Installs a new cluster map (takes ownership): persisted, then used.
 * Creates the store shards this node owns. DKV_ERR_STATE if it is older
 * than the current one or names another cluster. */
int node_set_map(struct node *n, struct dkv_map *map);

#endif /* DKV_SERVER_NODE_H */
