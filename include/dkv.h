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
 *   dkv_cluster_map) is freed with dkv_free().
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
 *   Not yet: every data call takes a dkv_tx_t *tx for the transaction API
 *   of a coming release. Pass NULL (a one-operation transaction, as
 *   DAOS_TX_NONE); any other value returns DKV_ERR_UNSUPPORTED today.
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
 * dkv_cluster_map). NULL is fine. */
DKV_API void dkv_free(void *p);

/* --- handles ---------------------------------------------------------------- */

/* A connection to a cluster: the cached map, a pool of connections per
 * node. Opaque; thread-safe (see THREADS). */
typedef struct dkv_client dkv_client_t;

/* A transaction handle: reserved for the coming transaction API. Pass
 * NULL to every call today. */
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
 *                       written);
 *   DKV_ERR_UNSUPPORTED tx != NULL (transactions: not yet).
 * val may be NULL when vlen is 0 (an empty value). */
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
 * Also DKV_ERR_UNSUPPORTED for tx != NULL. */
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
 * Also DKV_ERR_UNSUPPORTED for tx != NULL. */
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
	uint32_t da_state; /* 0: at the start, 1: in progress, 2: at the end */
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
 * bits). Return 0 to go on, > 0 to stop after this item, < 0 to stop and
 * make dkv_range return that value. */
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
 *                       names them), or tx != NULL;
 *   DKV_ERR_INVAL       bad arguments (cb NULL, anchor of another range).
 * A range that is empty by its bounds (start >= end) delivers 0 items. */
DKV_API int dkv_range(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		      const void *start, size_t slen, const void *end,
		      size_t elen, uint32_t limit, struct dkv_anchor *anchor,
		      dkv_range_cb cb, void *arg);

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

#ifdef __cplusplus
}
#endif
#endif /* DKV_H */
