/*
 * dkv.h - libdkv, the C client of a dkv cluster. This header is the manual.
 *
 * dkv is a distributed, multi-version key-value store: keys map to shards,
 * shards to nodes (the cluster map, docs/shard.md), and every node speaks
 * RESP (the Redis protocol, docs/server.md). libdkv fetches the cluster map
 * from a seed node, sends every request straight to the node that owns the
 * key's shard over a pool of connections, and follows the cluster when the
 * map changes. The calls follow the shape of the DAOS KV API
 * (daos_kv_put/get/remove/list): a handle, a transaction handle (NULL for a
 * one-operation transaction, as DAOS_TX_NONE), flags, and an int result.
 *
 * Build:   cc prog.c $(pkg-config --cflags --libs dkv)
 *
 * RESULTS
 *   Every call that can fail returns an int: 0 (DKV_OK) or a non-negative
 *   count on success, a negative DKV_ERR_* code (dkv_err.h) on failure;
 *   dkv_strerror(rc) names it and dkv_last_error() explains the last
 *   failure of the calling thread in one line. Codes any call may return
 *   besides those it lists:
 *     DKV_ERR_INVAL     a NULL handle or pointer where one is needed, an
 *                       unknown flag, an empty or NULL key;
 *     DKV_ERR_NOMEM     out of memory;
 *     DKV_ERR_TIMEOUT   the call's time budget (opts.timeout_ms) ran out,
 *                       including time spent retrying;
 *     DKV_ERR_IO        a node could not be reached, or the connection
 *                       broke; for a write after the request was sent, the
 *                       write may or may not have happened;
 *     DKV_ERR_AUTH      the password was refused (or is missing);
 *     DKV_ERR_REDIRECT  the cluster kept redirecting (more than
 *                       opts.max_redirects times in one call);
 *     DKV_ERR_PROTO     a node answered something libdkv cannot parse;
 *     other codes       errors the node reported (e.g. DKV_ERR_TOO_BIG for
 *                       a key or value over the node's limits).
 *
 * ROUTING AND RETRIES
 *   Each request goes to the owner of its key's shard in the cached map.
 *   Every opts.map_check_ms, a call first asks its node for the node's map
 *   version and fetches the newer map if there is one (nodes that forward
 *   requests for shards they do not own never redirect). When a node
 *   answers "-MOVED <shard> <host:port>" (the map changed), libdkv fetches
 *   the map again (DKV.MAP, from that node first, then from the others)
 *   and retries at the new owner: at most opts.max_redirects times per
 *   call, with exponential backoff after the first. When a node answers
 *   "-TRYAGAIN", "-CLUSTERDOWN" or "-LOADING" (shutting down), or cannot be
 *   reached before the request is sent, libdkv backs off and retries
 *   (refreshing the map) until the call's time budget is spent, then
 *   returns DKV_ERR_TIMEOUT (or DKV_ERR_IO when the last attempt could not
 *   connect). A read whose connection breaks after sending is retried the
 *   same way; a write is not (the node may have applied it): it returns
 *   DKV_ERR_IO. A node that does not answer in time ends the call with
 *   DKV_ERR_TIMEOUT.
 *
 * THREADS
 *   A dkv_client_t is thread-safe: any number of threads may call any data
 *   call on one handle at once. Each call borrows a connection from the
 *   handle's per-node pool (a mutex guards the pool and the cached map;
 *   calls never hold it while waiting on the network), so calls from
 *   different threads run in parallel. dkv_disconnect() must not overlap
 *   any other call on the handle. A struct dkv_anchor belongs to one
 *   thread at a time. libdkv installs no signal handler; it writes with
 *   MSG_NOSIGNAL, so a closed peer never raises SIGPIPE. Its only state
 *   outside handles is per thread (the last error message). After fork(),
 *   a child must not use a handle of its parent.
 *
 * MEMORY
 *   Every pointer argument is borrowed for the duration of the call only;
 *   libdkv keeps no pointer into caller memory after a call returns
 *   (except the anchor, which the caller owns and lends to dkv_range).
 *   Memory that libdkv allocates for the caller (dkv_get_alloc,
 *   dkv_cluster_map, dkv_snap_list) is freed with dkv_free().
 *
 * KEYS AND VALUES
 *   Binary: any bytes, '\0' included, given as pointer + length. A key
 *   has 1 byte or more (an empty key is DKV_ERR_INVAL); a value may be
 *   empty. Nodes bound sizes (by default keys 64 KiB, values 64 MiB):
 *   larger ones fail with DKV_ERR_TOO_BIG, or with DKV_ERR_IO when the
 *   request exceeds what the node reads at all (it closes the connection). Keys that share a Redis Cluster
 *   hash tag ("{user42}.name", "{user42}.mail") share a shard under the
 *   hash and slots families: that is what makes a range search over them
 *   possible (a range search reads one shard).
 *
 * TRANSACTIONS
 *   Every data call takes a dkv_tx_t *tx. NULL: the call is a transaction
 *   of its own (as DAOS_TX_NONE). A handle from dkv_tx_open(): the call
 *   runs inside that transaction, serializable across keys, shards and
 *   nodes (docs/txn.md):
 *     - reads (dkv_get, dkv_get_alloc, dkv_range) see the cluster as it
 *       was at the transaction's start epoch, plus the transaction's own
 *       writes (unlike DAOS, a transaction reads its own writes; a range
 *       is merged with them);
 *     - writes (dkv_put, dkv_remove) are buffered in the handle until
 *       dkv_tx_commit(): nothing is sent before, and nobody else sees
 *       them before the commit;
 *     - DKV_COND_INSERT, DKV_COND_UPDATE, DKV_COND_PUNCH and dkv_remove's
 *       result are decided by a read inside the transaction (no network
 *       traffic if the key was written in it, else one round trip), and
 *       commit validates that read like any other;
 *     - dkv_tx_commit() makes all the writes visible at one commit epoch,
 *       or none of them. It returns DKV_ERR_TX_RESTART when another
 *       transaction changed what this one read or wrote: call
 *       dkv_tx_restart() and run the body again (dkv_tx_run() is that
 *       loop). Any data call may also return DKV_ERR_TX_RESTART (a write
 *       committed within the clock uncertainty after the start epoch, an
 *       undecided write that stays undecided, a clock offset): the
 *       transaction cannot go on, restart it;
 *     - a transaction that only read commits at once, without network
 *       traffic: its reads were one consistent state;
 *     - a data call on a committed or aborted transaction returns
 *       DKV_ERR_STATE; one after DKV_ERR_TX_RESTART returns
 *       DKV_ERR_TX_RESTART again until dkv_tx_restart(); a tx of another
 *       client handle is DKV_ERR_INVAL.
 *   Typical use: rc = dkv_tx_run(c, 0, body, &args, NULL), body calling
 *   dkv_get/dkv_put(c, tx, ...) and returning 0 (or a count) to commit,
 *   a negative code to give up, DKV_ERR_TX_RESTART passed through.
 *   A data call on a transaction that fails with another error (time-out,
 *   AUTH) leaves it usable, except that a read which could not finish
 *   leaves it needing dkv_tx_restart (DKV_ERR_STATE until then).
 *   A dkv_tx_t belongs to one thread at a time (calls on it must not
 *   overlap); several transactions of one client may run on different
 *   threads at once. It must be closed before its client is
 *   disconnected. A transaction's memory is its buffered writes and the
 *   keys it read, until commit, restart, abort or close. Time budgets:
 *   a data call's is opts.timeout_ms, as without tx. Start epochs come
 *   from this machine's clock, which must be within the nodes' maximum
 *   clock offset (500 ms) of theirs, as theirs must be of one another.
 */
#ifndef DKV_H
#define DKV_H

#include <stddef.h>
#include <stdint.h>

#include "dkv_api.h"
#include "dkv_err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DKV_VERSION_MAJOR 0
#define DKV_VERSION_MINOR 1
#define DKV_VERSION_PATCH 0

/* The library's version, "MAJOR.MINOR.PATCH": static, never freed. */
DKV_API const char *dkv_version(void);

/* One line explaining the last failure of a dkv call made by the calling
 * thread (e.g. "connect 127.0.0.1:7379: Connection refused"), or "" when
 * the last call succeeded. Thread-local and owned by libdkv: valid until
 * the calling thread's next dkv call. Never NULL. */
DKV_API const char *dkv_last_error(void);

/* Frees memory that libdkv allocated for the caller (dkv_get_alloc,
 * dkv_cluster_map, dkv_snap_list). NULL is fine. */
DKV_API void dkv_free(void *p);

/* --- handles ---------------------------------------------------------------- */

/* A connection to a cluster: the cached map, a pool of connections per
 * node. Opaque; thread-safe (see THREADS). */
typedef struct dkv_client dkv_client_t;

/* A transaction (see TRANSACTIONS and dkv_tx_open). Opaque; used by one
 * thread at a time. */
typedef struct dkv_tx dkv_tx_t;

/* Options of dkv_connect(). Zero-initialise the struct ("= {0}") and set
 * what you need: a zero field takes its default, so fields added in later
 * releases (at the end) default too. Borrowed for the call: libdkv copies
 * what it keeps. */
struct dkv_connect_opts {
	/* The nodes' password (AUTH), NUL-terminated; NULL or "" for none. */
	const char *password;
	/* Budget of one TCP connect (and AUTH). Default 2000 ms. */
	uint32_t connect_timeout_ms;
	/* Budget of one whole call, retries and backoff included. Default
	 * 10000 ms. */
	uint32_t timeout_ms;
	/* Idle connections kept per node for reuse. A call that finds none
	 * idle opens one, so concurrency is not capped; connections over
	 * this number are closed when returned. Default 4. */
	uint32_t pool_size;
	/* Redirects followed in one call before DKV_ERR_REDIRECT. Default 8. */
	uint32_t max_redirects;
	/* Items per DKV.RANGE request (a page; 1..100000). Default 256. */
	uint32_t range_batch;
	/* How often, at most, a call first asks its node for the node's map
	 * version (DKV.SHARDOF: one small extra round trip), and fetches the
	 * map when it is newer. Nodes that forward requests for keys they do
	 * not own never redirect, so without this check a handle would keep
	 * routing by an old map (correctly, but through an extra hop).
	 * Default 1000 ms; UINT32_MAX: never. */
	uint32_t map_check_ms;
	/* Custom sharding functions ("path/to/module.so:symbol") this process
	 * may load when the cluster uses the custom family (docs/shard.md), a
	 * NULL-terminated list; NULL for none. Copied. */
	const char *const *custom_shard_allow;
};

/* Connects to a cluster. seeds: "host:port[,host:port...]" (NUL-terminated,
 * IPv6 hosts in brackets: "[::1]:7379"), any nodes of the cluster; libdkv
 * fetches the cluster map (DKV.MAP) from the first one that answers, and
 * keeps all of them to fetch the map again if the map's own nodes all
 * fail. opts may be NULL (defaults). On success *out is a new handle, owned
 * by the caller until dkv_disconnect(). Does not retry: errors are
 *   DKV_ERR_INVAL       seeds empty or malformed (bad host:port);
 *   DKV_ERR_IO          no seed could be reached (dkv_last_error() names
 *                       the last one and why);
 *   DKV_ERR_STATE       the seeds answer but none has a cluster map yet
 *                       (the cluster is not created: `dkv cluster create`);
 *   DKV_ERR_AUTH        a password is needed or was refused;
 *   DKV_ERR_CORRUPT     a seed sent a map that fails validation;
 *   DKV_ERR_UNSUPPORTED the map needs a custom sharding function not
 *                       allowed by opts->custom_shard_allow. */
DKV_API int dkv_connect(const char *seeds, const struct dkv_connect_opts *opts,
			dkv_client_t **out);

/* Closes every connection and frees the handle. NULL is fine. No other
 * call may be running on the handle, nor start after this one. */
DKV_API void dkv_disconnect(dkv_client_t *c);

/* --- single keys --------------------------------------------------------------- */

/* Flags of dkv_put (as DAOS_COND_KEY_INSERT / DAOS_COND_KEY_UPDATE). */
#define DKV_COND_INSERT UINT64_C(0x1) /* only if the key is absent (SET NX) */
#define DKV_COND_UPDATE UINT64_C(0x2) /* only if the key exists (SET XX) */
/* Flag of dkv_remove (as DAOS_COND_PUNCH). */
#define DKV_COND_PUNCH UINT64_C(0x4)  /* the key must exist */

/* Stores val (vlen bytes) under key (klen bytes), as a new version of the
 * key. flags: 0, DKV_COND_INSERT or DKV_COND_UPDATE (not both:
 * DKV_ERR_INVAL). Returns 0 once the write is durable on its node, or
 *   DKV_ERR_EXISTS      DKV_COND_INSERT and the key exists (nothing written);
 *   DKV_ERR_NOT_FOUND   DKV_COND_UPDATE and the key is absent (nothing
 *                       written).
 * val may be NULL when vlen is 0 (an empty value).
 * With tx: buffered until dkv_tx_commit (returns 0 once buffered; a
 * condition is checked against what the transaction sees, by a read in
 * it); also DKV_ERR_TX_RESTART and DKV_ERR_STATE (see TRANSACTIONS). */
DKV_API int dkv_put(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		    const void *key, size_t klen, const void *val, size_t vlen);

/* Reads the newest value of key into the caller's buffer, DAOS style.
 * On entry *len is the size of buf; flags must be 0.
 *   - buf != NULL and the value fits: copies it, sets *len to its size,
 *     returns 0.
 *   - buf == NULL: a size query; sets *len to the value's size, returns 0
 *     (the value still travels over the network: to read a value of
 *     unknown size in one round trip, use dkv_get_alloc).
 *   - buf too small (*len < size): returns DKV_ERR_TOO_BIG, sets *len to
 *     the value's size; buf's contents are then unspecified.
 *   - the key is absent: DKV_ERR_NOT_FOUND, *len unchanged.
 * With tx: the value at the transaction's start epoch, or its own write
 * (no network traffic then); also DKV_ERR_TX_RESTART and DKV_ERR_STATE
 * (see TRANSACTIONS). */
DKV_API int dkv_get(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		    const void *key, size_t klen, void *buf, size_t *len);

/* Like dkv_get, allocating the buffer: on 0, *val is a new buffer of *len
 * bytes plus one '\0' byte after them (not counted in *len, so text values
 * can be used as C strings), owned by the caller, freed with dkv_free().
 * DKV_ERR_NOT_FOUND when absent (*val = NULL, *len unchanged). */
DKV_API int dkv_get_alloc(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
			  const void *key, size_t klen, void **val,
			  size_t *len);

/* Removes key (writes a deletion version: older versions stay readable
 * at their epochs). flags: 0 or DKV_COND_PUNCH. Returns 1 when the key
 * existed (and is now removed), 0 when it was already absent; with
 * DKV_COND_PUNCH an absent key is DKV_ERR_NOT_FOUND instead of 0.
 * With tx: existence as the transaction sees it (a read in it); the
 * removal is buffered until dkv_tx_commit (an absent key needs none);
 * also DKV_ERR_TX_RESTART and DKV_ERR_STATE (see TRANSACTIONS). */
DKV_API int dkv_remove(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		       const void *key, size_t klen);

/* --- range search ------------------------------------------------------------ */

/* Flag of dkv_range: descending key order. */
#define DKV_RANGE_REVERSE UINT64_C(0x1)

/* Where a range search stands, for resuming it in later calls (as DAOS's
 * daos_anchor_t). Owned by the caller (on its stack or anywhere);
 * initialise it with DKV_ANCHOR_INIT (or zero it), pass it to successive
 * dkv_range calls with the same start, end and flags, and release it with
 * dkv_anchor_fini() unless dkv_anchor_is_eof() (an anchor at its end holds
 * no memory; fini is harmless then). The fields are libdkv's: da_priv
 * points to memory libdkv manages (the node's cursor and, when a callback
 * stopped early, the rest of the page, so nothing is skipped or repeated).
 * Every page of one range search reads at the same epoch (a consistent
 * snapshot of the shard), chosen by the node at the first page. */
struct dkv_anchor {
	uint32_t da_state; /* 0: at the start, 1 or 3: in progress (3: inside
			      a transaction), 2: at the end */
	uint32_t da_shard; /* the shard being read, once known */
	void *da_priv;     /* libdkv's; NULL at the start and at the end */
};
#define DKV_ANCHOR_INIT { 0, 0, NULL }

/* 1 when the range search of a has delivered everything, else 0. */
DKV_API int dkv_anchor_is_eof(const struct dkv_anchor *a);
/* Frees what libdkv holds in a and resets it to DKV_ANCHOR_INIT. */
DKV_API void dkv_anchor_fini(struct dkv_anchor *a);

/* Called once per item, in order. key, val (binary; not NUL-terminated)
 * are valid only during the call. epoch is the commit epoch of the
 * version read (an HLC epoch: nanoseconds since 2021-01-01 in its high 46
 * bits); 0 for a transaction's own buffered write. Return 0 to go on,
 * > 0 to stop after this item, < 0 to stop and make dkv_range return
 * that value. */
typedef int (*dkv_range_cb)(void *arg, const void *key, size_t klen,
			    const void *val, size_t vlen, uint64_t epoch);

/* Visits the keys k with start <= k < end (bytewise order; a NULL or empty
 * start or end is open), newest values, ascending (flags 0) or descending
 * (DKV_RANGE_REVERSE), calling cb for each, at most limit items in this
 * call (0: no limit, that is at most INT_MAX). A range search reads one shard (docs/shard.md):
 * with hash or slots sharding, keep the keys under one {hash tag} and
 * bound the range inside it (start "{u42}", end "{u42}\xff"); with range
 * sharding, inside one shard's interval.
 *
 * anchor NULL: one call, from the start. anchor non-NULL: continues where
 * the previous call with this anchor stopped (DKV_ANCHOR_INIT: from the
 * start), and leaves it after the last item delivered; at the end of the
 * range dkv_anchor_is_eof(anchor) becomes 1 and further calls deliver
 * nothing. Resuming with another start, end or flags is DKV_ERR_INVAL.
 *
 * Returns the number of items delivered (cb calls that returned >= 0), or
 *   a negative value returned by cb (the anchor then stands after that
 *                       item);
 *   DKV_ERR_UNSUPPORTED the range may span several shards (dkv_last_error
 *                       names them);
 *   DKV_ERR_INVAL       bad arguments (cb NULL, anchor of another range).
 * A range that is empty by its bounds (start >= end) delivers 0 items.
 *
 * With tx: the keys at the transaction's start epoch merged with its own
 * buffered writes in the range (puts added or replaced, removes left
 * out), as they are at each call; the read joins the read set (commit
 * fails if a key appeared in the range or left it meanwhile). Its anchor
 * belongs to that transaction and run of it (after dkv_tx_restart, start
 * over with a fresh anchor; a mismatch is DKV_ERR_INVAL). An ascending
 * range reads opts.range_batch keys per request; a reverse range reads
 * what is left of the range whole at each call (memory: that part), then
 * delivers it from its end. Also DKV_ERR_TX_RESTART and DKV_ERR_STATE.
 * cb may make data calls in the same transaction (e.g. update the keys it
 * visits), but must not commit, restart, abort or close it. */
DKV_API int dkv_range(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		      const void *start, size_t slen, const void *end,
		      size_t elen, uint32_t limit, struct dkv_anchor *anchor,
		      dkv_range_cb cb, void *arg);

/* dkv_range over one shard named by its number (0 .. dkv_shard_count - 1)
 * rather than the shard of the bounds: the keys k of that shard with
 * start <= k < end (NULL or empty: open), so that a tool can read every
 * shard whole (export, diff: one call sequence per shard). Inside a
 * transaction only: tx is required, typically one of dkv_tx_open_snap
 * (then the reads are exactly the shard at that epoch). Arguments,
 * callback, anchor, limit, result and memory as dkv_range with a tx
 * (an ascending range holds one page of opts.range_batch items at a
 * time); an anchor of dkv_range_shard resumes only with the same shard,
 * bounds, flags and tx. The shard is that of the map cached when the
 * range starts. Errors: DKV_ERR_INVAL (tx or cb NULL, bad flags, an
 * anchor of another range), DKV_ERR_NO_SHARD (no such shard), the errors
 * of dkv_range with a tx (DKV_ERR_EPOCH_TOO_OLD for a snapshot
 * transaction below the shard's history watermark). */
DKV_API int dkv_range_shard(dkv_client_t *c, dkv_tx_t *tx, uint32_t shard,
			    uint64_t flags, const void *start, size_t slen,
			    const void *end, size_t elen, uint32_t limit,
			    struct dkv_anchor *anchor, dkv_range_cb cb,
			    void *arg);

/* --- transactions --------------------------------------------------------- */

/* Opens a transaction on c (see TRANSACTIONS). Its start epoch is taken
 * from a clock that is above every epoch the client's transactions met
 * so far, so it sees every transaction this client saw commit. flags must
 * be 0. No network traffic. On 0, *tx is a new handle owned by the caller
 * until dkv_tx_close(); it keeps a pointer to c, which must outlive it.
 * Errors: DKV_ERR_INVAL (c or tx NULL, flags), DKV_ERR_NOMEM. */
DKV_API int dkv_tx_open(dkv_client_t *c, uint64_t flags, dkv_tx_t **tx);

/* Commits tx: its buffered writes become visible at one commit epoch
 * (dkv_tx_epoch), all or none; the reads it made are validated (nothing
 * it read changed since its start epoch). A transaction without writes
 * commits at once, without network traffic. Returns
 *   0                   committed (durable on every shard involved);
 *   DKV_ERR_TX_RESTART  aborted because of a conflict (another
 *                       transaction wrote what this one read or wrote,
 *                       or a data call already asked for a restart):
 *                       nothing of it is visible. dkv_tx_restart() and
 *                       run the body again;
 *   DKV_ERR_TIMEOUT     the outcome is unknown: no answer within
 *                       opts.timeout_ms (at most 25 s). It may have
 *                       committed, or not: libdkv never reports as
 *                       aborted a transaction that may have committed.
 *                       The handle can only be restarted (running the
 *                       body again may apply it twice) or closed;
 *   DKV_ERR_STATE       tx committed already, was aborted, or failed;
 *   DKV_ERR_AUTH, DKV_ERR_UNSUPPORTED, DKV_ERR_TOO_BIG, ... the node
 *                       refused the commit request itself: not applied.
 * After 0, every data call, dkv_tx_commit, dkv_tx_restart and
 * dkv_tx_abort on tx return DKV_ERR_STATE: close it. */
DKV_API int dkv_tx_commit(dkv_tx_t *tx);

/* Starts tx over, after DKV_ERR_TX_RESTART (or an abort, a failure, an
 * unknown outcome): its buffered writes and reads are dropped, its start
 * epoch moves to now (above whatever it conflicted with); it keeps its
 * age, so a transaction that restarts often wins conflicts in the end
 * (wait-die). Anchors of its ranges are void. No network traffic. 0, or
 * DKV_ERR_STATE once committed, DKV_ERR_INVAL for NULL. */
DKV_API int dkv_tx_restart(dkv_tx_t *tx);

/* Gives tx up: its buffered writes are dropped (none was ever sent, so
 * nothing is undone anywhere). Afterwards data calls and dkv_tx_commit
 * return DKV_ERR_STATE; the handle can be restarted or closed. 0 (also
 * when already aborted); DKV_ERR_STATE when it committed or its commit's
 * outcome is unknown. */
DKV_API int dkv_tx_abort(dkv_tx_t *tx);

/* Frees tx (NULL is fine), whatever its state: an uncommitted
 * transaction is dropped as by dkv_tx_abort (a commit whose outcome is
 * unknown goes on at its leader without the client). tx is invalid
 * afterwards: it must not be passed to any call. */
DKV_API void dkv_tx_close(dkv_tx_t *tx);

/* The commit epoch of a committed transaction (an HLC epoch, as the
 * epochs of dkv_range); for a transaction that only read, the epoch its
 * reads were taken at. 0 when tx has not committed (or is NULL). For a
 * transaction of dkv_tx_open_snap: its epoch, in every state. */
DKV_API uint64_t dkv_tx_epoch(const dkv_tx_t *tx);

/* How many times tx was restarted (dkv_tx_restart), e.g. by dkv_tx_run:
 * 0 during its first run. 0 for NULL. */
DKV_API uint32_t dkv_tx_restarts(const dkv_tx_t *tx);

/* Options of dkv_tx_run. Zero-initialise; a zero field takes its
 * default. Borrowed for the call. */
struct dkv_tx_run_opts {
	/* Runs of the body before giving up with DKV_ERR_TX_RESTART.
	 * Default 20. */
	uint32_t max_attempts;
	/* Sleep before each restart: a random time in [d/2, d], d starting
	 * at backoff_first_ms and doubling up to backoff_max_ms. Defaults
	 * 10 ms and 1000 ms. */
	uint32_t backoff_first_ms;
	uint32_t backoff_max_ms;
};

/* The retry loop (as FoundationDB's run/on_error): opens a transaction on
 * c (flags as dkv_tx_open), calls fn(tx, arg), commits when fn returned
 * >= 0, and on DKV_ERR_TX_RESTART (returned by fn, e.g. passed through
 * from a data call, or by the commit) backs off, restarts and calls fn
 * again; finally closes the transaction. fn runs on the calling thread;
 * it must not keep tx, commit, abort, restart or close it, and should
 * have no effect outside the transaction that a second run would repeat
 * (or undo such effects when it starts). opts may be NULL (defaults).
 * Returns fn's value (>= 0) once committed; fn's negative value other
 * than DKV_ERR_TX_RESTART (nothing committed); DKV_ERR_TX_RESTART after
 * opts->max_attempts conflicting runs; or dkv_tx_commit's other errors
 * (DKV_ERR_TIMEOUT: outcome unknown, not retried). */
DKV_API int dkv_tx_run(dkv_client_t *c, uint64_t flags,
		       int (*fn)(dkv_tx_t *tx, void *arg), void *arg,
		       const struct dkv_tx_run_opts *opts);

/* --- the cluster map ------------------------------------------------------------ */

/* Bytes enough for any node address "host:port" and its NUL. */
#define DKV_ADDR_MAX 256

/* Where key lives, by the cached map (no network): its shard into *shard
 * (may be NULL) and the owner's address "host:port" into node_addr
 * (addrlen bytes, NUL-terminated; node_addr may be NULL). Returns 0, or
 * DKV_ERR_TOO_BIG when addrlen is too small (DKV_ADDR_MAX always fits),
 * DKV_ERR_NO_SHARD when a custom sharding function fails on the key. */
DKV_API int dkv_shard_of(dkv_client_t *c, const void *key, size_t klen,
			 uint32_t *shard, char *node_addr, size_t addrlen);

/* The number of shards of the cached map into *n (shards are numbered
 * 0 .. *n - 1; see dkv_range_shard). No network. 0, or DKV_ERR_INVAL. */
DKV_API int dkv_shard_count(dkv_client_t *c, uint32_t *n);

/* Flags of dkv_cluster_map. */
#define DKV_MAP_REFRESH 0x1u /* fetch the newest map from the cluster first */
#define DKV_MAP_PRETTY 0x2u  /* indented JSON, for people */

/* The cached cluster map as JSON (schema: docs/shard.md). json may be
 * NULL (only the version is wanted); otherwise *json is a new
 * NUL-terminated string owned by the caller, freed with dkv_free().
 * *version (may be NULL) gets the map's version. With DKV_MAP_REFRESH
 * the map is fetched from the cluster first (errors as for a request:
 * DKV_ERR_IO when no node answers). */
DKV_API int dkv_cluster_map(dkv_client_t *c, uint32_t flags, char **json,
			    uint64_t *version);

/* --- snapshots (docs/snap.md) ------------------------------------------------ */

/* A snapshot: a name and the epoch at which every node's data is kept
 * readable until it is destroyed. Names are 1 to DKV_SNAP_NAME_MAX bytes
 * of [A-Za-z0-9._:-], starting with a letter. */
#define DKV_SNAP_NAME_MAX 128
/* At most this many snapshots exist at once. */
#define DKV_SNAP_MAX 1024

struct dkv_snap_info {
	char ds_name[DKV_SNAP_NAME_MAX + 1]; /* NUL-terminated */
	uint64_t ds_epoch;      /* the snapshot's epoch (an HLC epoch) */
	uint64_t ds_created_ms; /* creation time, Unix milliseconds */
};

/* Creates a snapshot of the whole cluster: every transaction and write
 * acknowledged before the call began is in it, no transaction is partly
 * in it, and its content never changes afterwards. name: NUL-terminated
 * (borrowed for the call), or NULL for a generated one ("snap-<epoch>").
 * info (may be NULL) gets the snapshot, caller-owned. The request goes
 * to any node (another one if it cannot be reached before sending); every
 * node must be reachable. Not retried once sent: after DKV_ERR_IO or
 * DKV_ERR_TIMEOUT the snapshot may exist (dkv_snap_show tells). Returns
 * 0, or
 *   DKV_ERR_EXISTS      a snapshot with that name exists;
 *   DKV_ERR_INVAL       a bad name (checked before sending);
 *   DKV_ERR_NOSPACE     DKV_SNAP_MAX snapshots exist;
 *   DKV_ERR_BUSY        a node did not answer (nothing was created):
 *                       try again;
 *   the errors of a request (DKV_ERR_IO, DKV_ERR_AUTH, ...). */
DKV_API int dkv_snap_create(dkv_client_t *c, const char *name,
			    struct dkv_snap_info *info);

/* Every snapshot, by ascending epoch: *list is a new array of *n entries
 * owned by the caller, freed with dkv_free() (NULL when *n is 0). */
DKV_API int dkv_snap_list(dkv_client_t *c, struct dkv_snap_info **list,
			  size_t *n);

/* The snapshot called name (NUL-terminated, borrowed) into *info
 * (caller-owned). DKV_ERR_NOT_FOUND if there is none, DKV_ERR_INVAL for a
 * string that is not a snapshot name. */
DKV_API int dkv_snap_show(dkv_client_t *c, const char *name,
			  struct dkv_snap_info *info);

/* Destroys the snapshot called name (NUL-terminated, borrowed): its
 * epoch no longer holds back garbage collection. 0, DKV_ERR_NOT_FOUND,
 * DKV_ERR_INVAL (not a snapshot name), or a request's error (not retried
 * once sent, as dkv_snap_create). */
DKV_API int dkv_snap_destroy(dkv_client_t *c, const char *name);

/* Opens a read-only transaction at epoch (a snapshot's ds_epoch, or any
 * epoch above the history watermark): dkv_get, dkv_get_alloc, dkv_range
 * and dkv_range_shard with it see exactly the state at that epoch, the
 * same bytes every time; dkv_put and dkv_remove return DKV_ERR_READ_ONLY
 * (in any state); dkv_tx_commit returns 0 at once (no network; then
 * DKV_ERR_STATE for further calls, as any committed transaction);
 * dkv_tx_epoch returns epoch. A read below a shard's watermark that no
 * snapshot pins returns DKV_ERR_EPOCH_TOO_OLD; one more than the max
 * clock offset ahead of the clocks, DKV_ERR_CLOCK_OFFSET (the nodes
 * refuse it). Unlike dkv_tx_open, such a transaction never needs
 * dkv_tx_restart: a read that meets an undecided transaction is sent
 * again at the same epoch (a few times, then DKV_ERR_TX_RESTART), and a
 * read that fails (time-out) leaves the handle usable; dkv_tx_restart is
 * allowed and keeps the epoch. It keeps
 * no read set (nothing is validated), so its memory does not grow with
 * what it reads. The epoch is not merged into the client's clock (later
 * dkv_tx_open transactions are unaffected). No network traffic. *tx is
 * owned by the caller until dkv_tx_close(); it keeps a pointer to c,
 * which must outlive it. Errors: DKV_ERR_INVAL (NULL arguments, epoch 0
 * or UINT64_MAX), DKV_ERR_NOMEM. */
DKV_API int dkv_tx_open_snap(dkv_client_t *c, uint64_t epoch, dkv_tx_t **tx);

#ifdef __cplusplus
}
#endif
#endif /* DKV_H */
