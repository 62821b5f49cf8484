/*
 * client_int.h - libdkv's insides: the handle, the cached map, the
 * connection pools, and the request loop that routes, redirects and
 * retries (client.c). The public manual is include/dkv.h.
 */
#ifndef DKV_CLIENT_INT_H
#define DKV_CLIENT_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dkv.h"
#include "proto/resp.h"
#include "shard/map.h"

#define DKV_DEF_CONNECT_TIMEOUT_MS 2000u
#define DKV_DEF_TIMEOUT_MS 10000u
#define DKV_DEF_POOL_SIZE 4u
#define DKV_DEF_MAX_REDIRECTS 8u
#define DKV_DEF_RANGE_BATCH 256u
#define DKV_DEF_MAP_CHECK_MS 1000u
#define DKV_RANGE_BATCH_MAX 100000u /* the node's LIMIT ceiling */
#define DKV_BACKOFF_FIRST_MS 5u
#define DKV_BACKOFF_MAX_MS 500u

struct dkv_conn;
struct dkv_creq;

/* A published map: readers hold a reference while they route with it. */
struct dkv_cmap {
	struct dkv_map *map;
	unsigned refs;
};

/* Idle connections to one node address. */
struct dkv_pool {
	struct dkv_pool *next;
	char addr[DKV_ADDR_MAX];
	uint32_t nidle;
	struct dkv_conn **idle; /* pool_size slots */
};

struct dkv_client {
	pthread_mutex_t lock; /* map, pools; never held across I/O */
	struct dkv_cmap *cmap;
	uint64_t cluster_id;
	char **seeds;
	size_t nseeds;
	char *password;
	char **allow;        /* NULL-terminated copy, or NULL */
	uint32_t connect_timeout_ms;
	uint32_t timeout_ms;
	uint32_t pool_size;
	uint32_t max_redirects;
	uint32_t range_batch;
	uint32_t map_check_ms;
	uint64_t last_check_ms; /* the last map version check (lock) */
	struct dkv_pool *pools;
	/* Transactions (tx.c, tx_io.c). Zero in a new handle (calloc). */
	uint64_t tx_floor; /* highest epoch any of its transactions met
			      (atomic): a new clock starts above it */
	/* TESTS ONLY: delivers a DKV.TXN request instead of
	 * dkv_client_exec (same contract); NULL in every real handle. */
	int (*txn_exec)(struct dkv_client *c, const struct dkv_creq *rq);
};

/* --- the thread's last error (dkv_last_error) ------------------------------ */

void dkv_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void dkv_clear_error(void);

/* --- maps --------------------------------------------------------------- */

/* A reference to the current map (never NULL on a connected handle);
 * release with dkv_cmap_put. */
struct dkv_cmap *dkv_cmap_get(struct dkv_client *c);
void dkv_cmap_put(struct dkv_client *c, struct dkv_cmap *cm);
/* Fetches the map from the cluster: prefer first (may be NULL), then the
 * map's nodes, then the seeds; installs it if newer. 0 when some node
 * answered with a map of this cluster. */
int dkv_client_refresh(struct dkv_client *c, const char *prefer,
		       uint64_t deadline_ms);

/* --- requests ------------------------------------------------------------ */

/* DKV_ROUTE_ANY: a command any node answers (DKV.SNAPSHOT): the map's
 * nodes in turn, UP ones first, another one at each retry. */
enum dkv_route_by { DKV_ROUTE_KEY, DKV_ROUTE_SHARD, DKV_ROUTE_ANY };

struct dkv_creq {
	size_t argc;
	const char *const *argv;
	const size_t *argvlen;
	enum dkv_route_by by;
	const void *key; /* DKV_ROUTE_KEY */
	size_t klen;
	uint32_t shard;  /* DKV_ROUTE_SHARD */
	int write;       /* not retried once (maybe) sent */
	/* A -TRYAGAIN reply ends the call with DKV_ERR_BUSY instead of
	 * being retried (the node already waited for what it needed). */
	int tryagain_final;
	/* Called with the node's reply unless it is an error reply; returns
	 * the call's result. The reply is valid during the call only. */
	int (*on_reply)(void *arg, const struct resp_reply *r);
	void *arg;
};

/* Runs a request: route, send, follow redirects, retry (dkv.h, ROUTING
 * AND RETRIES). Error replies become codes (dkv_reply_error). */
int dkv_client_exec(struct dkv_client *c, const struct dkv_creq *rq);

/* --- transactions (tx*.c): what kv.c and range.c dispatch to ------------- */

int dkv_tx_do_put(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		  const void *key, size_t klen, const void *val, size_t vlen);
/* dkv_get (val NULL) and dkv_get_alloc (val non-NULL, *val NULL). */
int dkv_tx_do_get(dkv_client_t *c, dkv_tx_t *tx, const void *key,
		  size_t klen, void *buf, size_t *len, void **val);
int dkv_tx_do_remove(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		     const void *key, size_t klen);
/* dkv_range (shard DKV_SHARD_NONE: the one shard of the bounds) and
 * dkv_range_shard (that shard) inside a transaction; arguments already
 * checked by range.c (limit normalised to 1..INT_MAX). Anchors of such
 * ranges have da_state DKV_ANCHOR_TX. */
#define DKV_ANCHOR_TX 3u
int dkv_tx_do_range(dkv_client_t *c, dkv_tx_t *tx, uint32_t shard,
		    uint64_t flags, const void *start, size_t slen,
		    const void *end, size_t elen, uint32_t limit,
		    struct dkv_anchor *anchor, dkv_range_cb cb, void *arg);
/* Frees what a DKV_ANCHOR_TX anchor holds (dkv_anchor_fini). */
void dkv_tx_anchor_free(void *priv);

/* The code of an error reply ("-ERR dkv: ... (NOT_FOUND)" ->
 * DKV_ERR_NOT_FOUND), also recorded as the thread's last error. */
int dkv_reply_error(const struct resp_reply *r, const char *addr);

/* range.c, shared with tx_range.c: a malloc'ed copy of len bytes (NULL
 * for none or on failure), and byte-string equality where a NULL b is
 * the empty string. */
char *client_memdup_or_null(const void *p, size_t len);
int client_same_bytes(const char *a, size_t alen, const void *b, size_t blen);

#endif /* DKV_CLIENT_INT_H */
