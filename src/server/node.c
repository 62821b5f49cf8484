/* node.c - see node.h. */
#define _GNU_SOURCE
#include "server/node.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "server/cmd.h"
#include "server/conn.h"
#include "server/gc.h"
#include "server/peer.h"
#include "server/txn_node.h"
#include "server/snap_node.h"
#include "server/req.h"

#define META_MAP "cluster.map"
#define META_HLC "hlc.bound"
#define DRAIN_POLL_MS 20

static const struct dkv_sm_conf node_states[NODE_NSTATES] = {
	[NODE_STARTING] = { "starting", 0,
			    DKV_SM_BIT(NODE_SERVING) |
				    DKV_SM_BIT(NODE_STOPPED) },
	[NODE_SERVING] = { "serving", 0, DKV_SM_BIT(NODE_DRAINING) },
	[NODE_DRAINING] = { "draining", 0, DKV_SM_BIT(NODE_STOPPED) },
	[NODE_STOPPED] = { "stopped", DKV_SM_FINAL, 0 },
};

static int meta_put(struct dkv_store *s, const char *key, const void *val,
		    size_t len)
{
	struct dkv_batch *b;
	int rc = dkv_batch_create(s, &b);

	if (rc != DKV_OK)
		return rc;
	rc = dkv_batch_put_meta(b, key, strlen(key), val, len);
	if (rc == DKV_OK)
		rc = dkv_batch_commit(b);
	dkv_batch_destroy(b);
	return rc;
}

/* The clock's bound: a synced metadata record. */
static int hlc_persist(void *ctx, uint64_t bound)
{
	char buf[8];

	for (int i = 0; i < 8; i++)
		buf[i] = (char)(bound >> (8 * i));
	return meta_put(ctx, META_HLC, buf, sizeof(buf));
}

static uint64_t hlc_stored_bound(struct dkv_store *s)
{
	struct dkv_val v;
	uint64_t bound = 0;

	if (dkv_store_get_meta(s, META_HLC, strlen(META_HLC), &v) != DKV_OK)
		return 0;
	for (int i = 7; i >= 0 && v.len == 8; i--)
		bound = (bound << 8) | (uint8_t)v.data[i];
	dkv_val_release(&v);
	return bound;
}

static int ensure_shards(struct node *n, const struct dkv_map *m)
{
	for (uint32_t s = 0; s < dkv_map_nshards(m); s++) {
		const struct dkv_map_node *owner;
		int rc = dkv_map_shard_node(m, s, &owner);

		if (rc != DKV_OK)
			return rc;
		if (owner->id != n->cfg.node_id ||
		    dkv_store_shard_exists(n->store, s))
			continue;
		rc = dkv_store_shard_create(n->store, s);
		if (rc != DKV_OK && rc != DKV_ERR_EXISTS)
			return rc;
	}
	return DKV_OK;
}

int node_set_map(struct node *n, struct dkv_map *map)
{
	char *json = NULL;
	size_t len = 0;
	int rc;

	if (n->map != NULL &&
	    (dkv_map_cluster_id(map) != dkv_map_cluster_id(n->map) ||
	     dkv_map_version(map) < dkv_map_version(n->map))) {
		rc = DKV_ERR_STATE;
		goto fail;
	}
	rc = dkv_map_to_json(map, 0, &json, &len);
	if (rc != DKV_OK)
		goto fail;
	rc = ensure_shards(n, map);
	if (rc == DKV_OK)
		rc = meta_put(n->store, META_MAP, json, len);
	free(json);
	if (rc != DKV_OK)
		goto fail;
	dkv_map_destroy(n->map);
	n->map = map;
	rcache_clear(&n->rcache); /* shards may have moved */
	txn_node_map_changed(n);
	if (dkv_sm_state(&n->sm) == NODE_SERVING)
		peers_sync(n);
	return DKV_OK;
fail:
	dkv_map_destroy(map);
	return rc;
}

static int map_load(struct node *n, char *err, size_t errlen)
{
	struct dkv_val v;
	int rc = dkv_store_get_meta(n->store, META_MAP, strlen(META_MAP), &v);

	if (rc == DKV_ERR_NOT_FOUND)
		return DKV_OK; /* not in a cluster yet */
	if (rc != DKV_OK)
		return rc;
	rc = dkv_map_from_json(v.data, v.len, NULL, &n->map, err, errlen);
	dkv_val_release(&v);
	if (rc == DKV_OK)
		rc = ensure_shards(n, n->map);
	return rc;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct node *n = server->data;

	if (status < 0) {
		DKV_WARN("node", "accept: %s", uv_strerror(status));
		return;
	}
	conn_accept(n);
}

/* Committer thread -> loop: completed requests come back here. */
static void on_done_async(uv_async_t *a)
{
	struct node *n = a->data;
	struct req *list;

	struct txn_sub *subs;

	pthread_mutex_lock(&n->done_lock);
	list = n->done_head;
	n->done_head = n->done_tail = NULL;
	subs = n->txn_done_head;
	n->txn_done_head = n->txn_done_tail = NULL;
	pthread_mutex_unlock(&n->done_lock);
	while (subs != NULL) {
		struct txn_sub *next = txn_sub_next(subs);

		txn_node_batch_done(subs);
		subs = next;
	}
	while (list != NULL) {
		struct req *next = list->next_done;

		req_complete(list);
		list = next;
	}
}

/* The clock persists its bound a window ahead of the epochs it issues;
 * doing that here, on the worker pool every eighth of a window, keeps the
 * synced write off the loop thread (DKV.EPOCH, DKV.RANGE and heartbeats
 * issue epochs there) and off the committer. */
static void clock_work_cb(uv_work_t *w)
{
	struct node *n = w->data;

	(void)dkv_hlc_reserve(n->hlc); /* failures are logged by the clock */
}

static void clock_work_done(uv_work_t *w, int status)
{
	struct node *n = w->data;

	(void)status;
	n->clock_busy = 0;
}

/* An eighth of the clock's window, in ms (at least 1): reserve runs well
 * before issuing would reach the bound itself. */
static uint64_t clock_period_ms(const struct dkv_hlc_opts *ho)
{
	uint64_t ms = ho->window_ns / 8 / 1000000;

	return ms ? ms : 1;
}

static void clock_tick(uv_timer_t *t)
{
	struct node *n = t->data;

	if (n->clock_busy)
		return;
	n->clock_work.data = n;
	if (uv_queue_work(&n->loop, &n->clock_work, clock_work_cb,
			  clock_work_done) == 0)
		n->clock_busy = 1;
}

void node_flush_idle_cb(uv_idle_t *h)
{
	peers_flush_pending(h->data);
	conn_flush_pending(h->data); /* stops the idle handle */
}

static void flush_check_cb(uv_check_t *h)
{
	peers_flush_pending(h->data);
	conn_flush_pending(h->data);
}

static void drain_check(uv_timer_t *t)
{
	struct node *n = t->data;

	if (n->inflight > 0)
		return;
	for (struct conn *c = n->conns; c != NULL; c = c->next)
		conn_close(c);
	if (n->nconns > 0)
		return;
	uv_timer_stop(t);
	uv_close((uv_handle_t *)&n->clock_timer, NULL);
	gc_stop(n); /* a running pass ends before the loop does */
	txn_node_stop(n); /* nothing of it in flight now (inflight 0) */
	snap_node_stop(n);
	peers_close(n);
	dkv_sm_move(&n->sm, NODE_STOPPED);
	uv_close((uv_handle_t *)&n->done_async, NULL);
	uv_close((uv_handle_t *)&n->sig_term, NULL);
	uv_close((uv_handle_t *)&n->sig_int, NULL);
	uv_close((uv_handle_t *)&n->drain_timer, NULL);
	uv_close((uv_handle_t *)&n->flush_check, NULL);
	uv_close((uv_handle_t *)&n->flush_idle, NULL);
}

void node_stop(struct node *n)
{
	if (dkv_sm_state(&n->sm) != NODE_SERVING)
		return;
	DKV_INFO("node", "stopping: draining %llu connections",
		 (unsigned long long)n->nconns);
	dkv_sm_move(&n->sm, NODE_DRAINING);
	uv_close((uv_handle_t *)&n->listener, NULL);
	for (struct conn *c = n->conns, *next; c != NULL; c = next) {
		next = c->next;
		conn_drain(c);
	}
	/* Requests already read finish and are answered; then every
	 * connection closes. */
	uv_timer_start(&n->drain_timer, drain_check, 0, DRAIN_POLL_MS);
}

static void on_signal(uv_signal_t *s, int signum)
{
	(void)signum;
	node_stop(s->data);
}

static int listen_on(struct node *n, char *err, size_t errlen)
{
	struct sockaddr_storage addr;
	int rc;

	if (strchr(n->cfg.host, ':'))
		rc = uv_ip6_addr(n->cfg.host, n->cfg.port,
				 (struct sockaddr_in6 *)&addr);
	else
		rc = uv_ip4_addr(strcmp(n->cfg.host, "localhost") == 0
					 ? "127.0.0.1"
					 : n->cfg.host,
				 n->cfg.port, (struct sockaddr_in *)&addr);
	if (rc == 0)
		rc = uv_tcp_init(&n->loop, &n->listener);
	if (rc == 0) {
		n->listener.data = n;
		rc = uv_tcp_bind(&n->listener, (struct sockaddr *)&addr, 0);
	}
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&n->listener, 511, on_connection);
	if (rc != 0) {
		snprintf(err, errlen, "listen on %s: %s", n->cfg.listen,
			 uv_strerror(rc));
		return DKV_ERR_IO;
	}
	return DKV_OK;
}

/* The store's GC pin hook: the oldest live snapshot (docs/snap.md). */
/* A write to the disk failed (store.h, on_disk_failure). What reached
 * the disk is unknown from here on (a failed fsync may have dropped dirty
 * pages), so the node stops at once rather than serve, or acknowledge,
 * anything that may not be durable: fail-stop, as PostgreSQL and etcd do.
 * The failed write itself was not acknowledged. Restarting recovers from
 * what is on the disk (RocksDB's WAL); a disk that still fails stops the
 * node again. */
static void node_disk_failure(void *ctx, int rc, const char *what)
{
	struct node *n = ctx;

	DKV_ERROR("node", "node %u: disk failure in %s (%s): stopping now, "
		  "exit status %d", n->cfg.node_id, what, dkv_strerror(rc),
		  NODE_EXIT_DISK_FAILURE);
	fprintf(stderr, "dkvd: disk failure in %s (%s): stopped\n", what,
		dkv_strerror(rc));
	_exit(NODE_EXIT_DISK_FAILURE);
}

static uint64_t node_oldest_pin(void *ctx, uint32_t shard)
{
	const struct node *n = ctx;

	(void)shard;
	return __atomic_load_n(&n->snap_pin, __ATOMIC_ACQUIRE);
}

/* The store's pins hook: the snapshot manager's list (snap_node.c). */
static size_t node_pins(void *ctx, uint64_t *out, size_t cap)
{
	struct node *n = ctx;
	size_t total;

	pthread_mutex_lock(&n->pins_lock);
	total = n->npins;
	if (total > 0 && cap > 0)
		memcpy(out, n->pins, (total < cap ? total : cap) * sizeof(*out));
	pthread_mutex_unlock(&n->pins_lock);
	return total;
}

int node_start(struct node *n, const struct dkv_config *cfg, char *err,
	       size_t errlen)
{
	struct dkv_store_opts so;
	struct dkv_hlc_io io;
	struct dkv_hlc_opts ho = { 0 };
	int rc;

	memset(n, 0, sizeof(*n));
	n->cfg = *cfg;
	dkv_sm_init(&n->sm, "node", node_states, NODE_NSTATES, NODE_STARTING);
	n->start_ns = uv_hrtime(); /* uptime: monotonic */
	resp_limits_default(&n->limits);
	n->limits.max_args = cfg->max_args;
	n->limits.max_inline = cfg->max_inline;
	n->limits.max_bulk = (size_t)cfg->max_value + 1024;
	pthread_mutex_init(&n->done_lock, NULL);

	dkv_store_opts_init(&so, cfg->dir);
	so.durability = cfg->durability == DKV_CONFIG_FSYNC ? DKV_DUR_FSYNC
			: cfg->durability == DKV_CONFIG_NONE ? DKV_DUR_NONE
							     : DKV_DUR_GROUP;
	so.cache_bytes = (size_t)cfg->cache_mb << 20;
	so.write_buffer_bytes = (size_t)cfg->write_buffer_mb << 20;
	so.max_key = cfg->max_key;
	so.max_value = cfg->max_value;
	n->snap_pin = DKV_EPOCH_MAX;
	pthread_mutex_init(&n->pins_lock, NULL);
	so.oldest_pin = node_oldest_pin;
	so.pins = node_pins;
	so.pin_ctx = n;
	so.on_disk_failure = node_disk_failure;
	so.failure_ctx = n;
	rc = dkv_store_open(&so, &n->store);
	if (rc != DKV_OK) {
		snprintf(err, errlen, "store %s: %s", cfg->dir,
			 dkv_strerror(rc));
		return rc;
	}
	io.ctx = n->store;
	io.now_ns = dkv_hlc_wall_ns;
	io.persist = hlc_persist;
	io.mono_ns = dkv_hlc_mono_ns; /* the fence: hlc.h */
	ho.max_offset_ns = (uint64_t)cfg->max_offset_ms * 1000000;
	/* After a restart the clock resumes at the persisted bound, up to one
	 * window ahead of the wall clock, and the node serves only once the
	 * wall clock has caught up (node_start), so the window costs start-up
	 * time, not correctness: twice the max offset (1 s) means about three
	 * synced writes a second (dkv_hlc_reserve below), not sixteen. */
	ho.window_ns = ho.max_offset_ns != 0 ? ho.max_offset_ns * 2 : 1000000;
	ho.bound = hlc_stored_bound(n->store);
	rc = dkv_hlc_create(&io, &ho, &n->hlc);
	if (rc != DKV_OK) {
		snprintf(err, errlen, "clock: %s", dkv_strerror(rc));
		goto fail;
	}
	rc = map_load(n, err, errlen);
	if (rc != DKV_OK) {
		if (err[0] == '\0')
			snprintf(err, errlen, "cluster map: %s",
				 dkv_strerror(rc));
		goto fail;
	}
	rc = rcache_init(&n->rcache, (size_t)cfg->value_cache_mb << 20);
	if (rc != DKV_OK) {
		snprintf(err, errlen, "value cache: %s", dkv_strerror(rc));
		goto fail;
	}
	rc = dkv_committer_start(n->store, n->hlc, &n->committer);
	if (rc != DKV_OK) {
		snprintf(err, errlen, "committer: %s", dkv_strerror(rc));
		goto fail;
	}
	uv_loop_init(&n->loop);
	n->loop.data = n;
	uv_async_init(&n->loop, &n->done_async, on_done_async);
	n->done_async.data = n;
	uv_signal_init(&n->loop, &n->sig_term);
	uv_signal_init(&n->loop, &n->sig_int);
	n->sig_term.data = n->sig_int.data = n;
	uv_signal_start(&n->sig_term, on_signal, SIGTERM);
	uv_signal_start(&n->sig_int, on_signal, SIGINT);
	uv_timer_init(&n->loop, &n->drain_timer);
	n->drain_timer.data = n;
	uv_timer_init(&n->loop, &n->clock_timer);
	n->clock_timer.data = n;
	uv_timer_start(&n->clock_timer, clock_tick, clock_period_ms(&ho),
		       clock_period_ms(&ho));
	uv_unref((uv_handle_t *)&n->clock_timer);
	uv_check_init(&n->loop, &n->flush_check);
	uv_idle_init(&n->loop, &n->flush_idle);
	n->flush_check.data = n->flush_idle.data = n;
	uv_check_start(&n->flush_check, flush_check_cb);
	uv_unref((uv_handle_t *)&n->flush_check);
	rc = listen_on(n, err, errlen);
	if (rc != DKV_OK) {
		uv_close((uv_handle_t *)&n->done_async, NULL);
		uv_close((uv_handle_t *)&n->sig_term, NULL);
		uv_close((uv_handle_t *)&n->sig_int, NULL);
		uv_close((uv_handle_t *)&n->drain_timer, NULL);
		uv_close((uv_handle_t *)&n->flush_check, NULL);
		uv_close((uv_handle_t *)&n->flush_idle, NULL);
		uv_close((uv_handle_t *)&n->clock_timer, NULL);
		uv_close((uv_handle_t *)&n->listener, NULL);
		uv_run(&n->loop, UV_RUN_DEFAULT);
		uv_loop_close(&n->loop);
		dkv_sm_move(&n->sm, NODE_STOPPED);
		goto fail;
	}
	/* After a restart the clock resumes at its persisted bound, up to
	 * a window ahead of the wall clock; serving only once the wall
	 * clock has caught up keeps this node's epochs within the max
	 * offset of real time, which the transactions' uncertainty window
	 * (docs/txn.md) relies on. */
	{
		uint64_t ahead = dkv_epoch_to_unix_ns(dkv_hlc_last(n->hlc));
		uint64_t wall = dkv_hlc_wall_ns(NULL);

		if (ahead > wall && ahead - wall <= ho.window_ns) {
			struct timespec ts = {
				.tv_sec = (time_t)((ahead - wall) / 1000000000u),
				.tv_nsec = (long)((ahead - wall) % 1000000000u),
			};

			nanosleep(&ts, NULL);
		}
	}
	rc = snap_node_start(n);
	if (rc != DKV_OK)
		snprintf(err, errlen, "snapshot catalog: %s", dkv_strerror(rc));
	else
		rc = txn_node_start(n);
	if (rc != DKV_OK) {
		if (n->snap != NULL)
			snprintf(err, errlen, "transactions: %s",
				 dkv_strerror(rc));
		/* The handles are up: stop as a drain would. */
		dkv_sm_move(&n->sm, NODE_SERVING);
		node_stop(n);
		uv_run(&n->loop, UV_RUN_DEFAULT);
		return rc;
	}
	rc = gc_start(n);
	if (rc != DKV_OK) {
		snprintf(err, errlen, "gc: %s", dkv_strerror(rc));
		dkv_sm_move(&n->sm, NODE_SERVING);
		node_stop(n);
		uv_run(&n->loop, UV_RUN_DEFAULT);
		return rc;
	}
	dkv_sm_move(&n->sm, NODE_SERVING);
	peers_sync(n);
	return DKV_OK;
fail:
	dkv_committer_destroy(n->committer);
	n->committer = NULL;
	rcache_free(&n->rcache);
	dkv_map_destroy(n->map);
	n->map = NULL;
	dkv_hlc_destroy(n->hlc);
	n->hlc = NULL;
	dkv_store_close(n->store);
	n->store = NULL;
	return rc;
}

int node_run(struct node *n)
{
	uv_run(&n->loop, UV_RUN_DEFAULT);
	return DKV_OK;
}

void node_close(struct node *n)
{
	dkv_committer_destroy(n->committer);
	txn_node_free(n);
	gc_free(n);
	snap_node_free(n);
	rcache_free(&n->rcache);
	uv_loop_close(&n->loop);
	dkv_map_destroy(n->map);
	dkv_hlc_destroy(n->hlc);
	dkv_store_close(n->store); /* its compactions read the pins */
	free(n->pins);
	n->pins = NULL;
	pthread_mutex_destroy(&n->pins_lock);
	pthread_mutex_destroy(&n->done_lock);
}
