/*
 * gc.c - background history garbage collection in dkvd (gc.h).
 *
 * Happy path: the timer's tick (or gc_run) on the loop -> pass_begin: the
 * waiters queued so far become this pass's, RUNNING, W = (HLC now) -
 * retention, kept below any transaction of the node that may still write
 * at or under it (pass_target), one uv_work queued -> pass_work on the
 * worker pool: dkv_store_gc(W) on every shard (the store caps W at the
 * oldest snapshot pin and never lowers a watermark), then the shards'
 * watermarks and the disk use ->
 * pass_done on the loop: statistics, this pass's waiters answered, then
 * IDLE, or the next pass at once if DKV.GC requests queued meanwhile.
 *
 * Failure modes: a shard dropped meanwhile is skipped (DKV_ERR_NO_SHARD);
 * any other error of a shard is logged and kept as the pass's result while
 * the other shards are still collected; a clock that cannot issue an epoch
 * fails the pass before any shard. The next tick tries again. A stop
 * while a pass runs lets it finish (its uv_work keeps the loop alive), then
 * the task is STOPPED and nothing runs again.
 */
#define _GNU_SOURCE
#include "server/gc.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "common/log.h"
#include "common/sm.h"
#include "dkv_err.h"
#include "hlc/hlc.h"
#include "server/node.h"
#include "server/txn_node.h"
#include "store/store.h"

enum gc_state { GC_IDLE, GC_RUNNING, GC_STOPPING, GC_STOPPED, GC_NSTATES };

static const struct dkv_sm_conf gc_states[GC_NSTATES] = {
	[GC_IDLE] = { "idle", 0,
		      DKV_SM_BIT(GC_RUNNING) | DKV_SM_BIT(GC_STOPPED) },
	[GC_RUNNING] = { "running", 0,
			 DKV_SM_BIT(GC_IDLE) | DKV_SM_BIT(GC_STOPPING) },
	[GC_STOPPING] = { "stopping", 0, DKV_SM_BIT(GC_STOPPED) },
	[GC_STOPPED] = { "stopped", DKV_SM_FINAL, 0 },
};

struct gc {
	struct node *node;
	struct dkv_sm sm;
	uv_timer_t timer;
	uv_work_t work;
	uint64_t retention_ms, interval_ms;
	/* The running pass: its input, set on the loop before it is queued,
	 * and its result, written by the worker and read on the loop after
	 * the completion (uv_work orders the two). */
	int compact;
	uint64_t target;         /* its W */
	uint64_t floor;          /* the highest W given so far: never less */
	struct gc_result res;
	struct gc_wait *cur;     /* the waiters of the running pass */
	struct gc_wait *next_head, *next_tail; /* ... of the next one */
	/* Statistics, loop thread only. */
	uint64_t passes, failed;
	struct gc_result last;
};

/* The epoch `retention_ms` before epoch `now`; DKV_EPOCH_NONE if that is
 * before the clock's origin. */
static uint64_t gc_target(uint64_t now, uint64_t retention_ms)
{
	uint64_t ns = dkv_epoch_to_unix_ns(now);
	uint64_t keep = retention_ms * UINT64_C(1000000);

	if (ns < DKV_HLC_START_UNIX_NS + keep)
		return DKV_EPOCH_NONE;
	return dkv_epoch_from_unix_ns(ns - keep);
}

/* Loop: the W of a pass. A transaction of this node that may still write
 * versions at or below W (prepared, committing, in doubt) would have them
 * refused below the watermark, so W stays below the oldest such epoch
 * (their count at an epoch only goes down once the clock is past it, and
 * the clock is past W: no new one appears there). */
static int pass_target(struct gc *g, uint64_t *out)
{
	struct node *n = g->node;
	uint64_t now = 0, w, lo, hi;
	int rc = dkv_hlc_now(n->hlc, &now);

	if (rc != DKV_OK)
		goto out;
	w = gc_target(now, g->retention_ms);
	if (w < g->floor)
		w = g->floor;
	if (w > g->floor && txn_node_pending_at(n, w) > 0) {
		lo = g->floor; /* nothing pending at or below it */
		hi = w;
		while (hi - lo > 1) {
			uint64_t mid = lo + (hi - lo) / 2;

			if (txn_node_pending_at(n, mid) > 0)
				hi = mid;
			else
				lo = mid;
		}
		w = lo;
	}
	g->floor = w;
	*out = w != DKV_EPOCH_NONE ? w : 1; /* 1: nothing to collect yet */
out:
	return rc;
}

/* Worker pool: one pass over every shard. */
static void pass_work(uv_work_t *w)
{
	struct gc *g = w->data;
	struct dkv_store *s = g->node->store;
	struct gc_result *res = &g->res;
	uint64_t t0 = uv_hrtime(), target = g->target;
	uint32_t *ids = NULL;
	int count, got, rc = DKV_OK;

	memset(res, 0, sizeof(*res));
	count = dkv_store_shard_list(s, NULL, 0);
	if (count > 0) {
		ids = malloc((size_t)count * sizeof(*ids));
		if (ids == NULL) {
			rc = DKV_ERR_NOMEM;
			goto out;
		}
		got = dkv_store_shard_list(s, ids, (size_t)count);
		if (got < count)
			count = got; /* some dropped meanwhile */
	}
	for (int i = 0; i < count; i++) {
		uint64_t wm;
		int src = dkv_store_gc(s, ids[i], target, g->compact, NULL);

		if (src == DKV_ERR_NO_SHARD)
			continue; /* dropped meanwhile */
		if (src != DKV_OK) {
			DKV_WARN("gc", "shard %u: %s", ids[i],
				 dkv_strerror(src));
			if (rc == DKV_OK)
				rc = src;
			continue;
		}
		/* Not raised (a snapshot pin, or already there) is fine. */
		wm = dkv_store_watermark(s, ids[i]);
		if (res->shards == 0 || wm < res->watermark_min)
			res->watermark_min = wm;
		if (wm > res->watermark_max)
			res->watermark_max = wm;
		res->shards++;
	}
	res->disk_bytes = dkv_store_disk_bytes(s);
out:
	free(ids);
	res->rc = rc;
	res->ms = (uv_hrtime() - t0) / 1000000;
}

static void answer(struct gc_wait *list, const struct gc_result *res)
{
	while (list != NULL) {
		struct gc_wait *next = list->next;

		list->done(list, res);
		list = next;
	}
}

static void pass_done(uv_work_t *w, int status);

/* Loop: the waiters queued so far ride on this pass. */
static void pass_begin(struct gc *g)
{
	g->cur = g->next_head;
	g->next_head = g->next_tail = NULL;
	g->compact = 0;
	for (struct gc_wait *w = g->cur; w != NULL; w = w->next)
		g->compact |= w->compact;
	dkv_sm_move(&g->sm, GC_RUNNING);
	g->work.data = g;
	memset(&g->res, 0, sizeof(g->res));
	g->res.rc = pass_target(g, &g->target);
	if (g->res.rc != DKV_OK) {
		DKV_WARN("gc", "clock: %s", dkv_strerror(g->res.rc));
		pass_done(&g->work, 0);
	} else if (uv_queue_work(&g->node->loop, &g->work, pass_work,
				 pass_done) != 0) {
		g->res.rc = DKV_ERR_INTERNAL;
		pass_done(&g->work, 0);
	}
}

/* Loop: a pass ended. */
static void pass_done(uv_work_t *w, int status)
{
	struct gc *g = w->data;
	struct gc_wait *list = g->cur;
	struct gc_result res;

	if (status != 0 && g->res.rc == DKV_OK)
		g->res.rc = DKV_ERR_INTERNAL;
	res = g->res;
	g->cur = NULL;
	g->passes++;
	if (res.rc != DKV_OK)
		g->failed++;
	if (res.rc == DKV_OK || res.disk_bytes != 0)
		g->last = res;
	else
		g->last.ms = res.ms; /* nothing measured: keep the figures */
	DKV_DEBUG("gc", "pass: %llu shards, watermarks %llu..%llu, %llu bytes "
			"on disk, %llu ms: %s",
		  (unsigned long long)res.shards,
		  (unsigned long long)res.watermark_min,
		  (unsigned long long)res.watermark_max,
		  (unsigned long long)res.disk_bytes,
		  (unsigned long long)res.ms, dkv_strerror(res.rc));
	/* Answered while still RUNNING: a DKV.GC that a reply lets its
	 * connection dispatch joins the next pass. */
	answer(list, &res);
	if (dkv_sm_state(&g->sm) == GC_STOPPING) {
		dkv_sm_move(&g->sm, GC_STOPPED);
		memset(&res, 0, sizeof(res));
		res.rc = DKV_ERR_CLOSED;
		list = g->next_head;
		g->next_head = g->next_tail = NULL;
		answer(list, &res);
		return;
	}
	dkv_sm_move(&g->sm, GC_IDLE);
	if (g->next_head != NULL)
		pass_begin(g);
}

static void tick(uv_timer_t *t)
{
	struct gc *g = t->data;

	if (dkv_sm_state(&g->sm) == GC_IDLE)
		pass_begin(g);
}

int gc_start(struct node *n)
{
	struct gc *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return DKV_ERR_NOMEM;
	g->node = n;
	dkv_sm_init(&g->sm, "gc", gc_states, GC_NSTATES, GC_IDLE);
	g->retention_ms = n->cfg.gc_retention_ms;
	g->interval_ms = n->cfg.gc_interval_ms;
	uv_timer_init(&n->loop, &g->timer);
	g->timer.data = g;
	if (g->interval_ms > 0)
		uv_timer_start(&g->timer, tick, g->interval_ms,
			       g->interval_ms);
	uv_unref((uv_handle_t *)&g->timer);
	n->gc = g;
	return DKV_OK;
}

void gc_stop(struct node *n)
{
	struct gc *g = n->gc;
	struct gc_wait *list;
	struct gc_result res;
	unsigned st;

	if (g == NULL)
		return;
	st = dkv_sm_state(&g->sm);
	if (st != GC_IDLE && st != GC_RUNNING)
		return;
	uv_close((uv_handle_t *)&g->timer, NULL);
	if (st == GC_RUNNING)
		DKV_DEBUG("gc", "stopping: the running pass ends first");
	dkv_sm_move(&g->sm, st == GC_IDLE ? GC_STOPPED : GC_STOPPING);
	memset(&res, 0, sizeof(res));
	res.rc = DKV_ERR_CLOSED;
	list = g->next_head;
	g->next_head = g->next_tail = NULL;
	answer(list, &res);
}

void gc_free(struct node *n)
{
	free(n->gc);
	n->gc = NULL;
}

int gc_run(struct node *n, struct gc_wait *w)
{
	struct gc *g = n->gc;
	unsigned st;

	if (g == NULL)
		return DKV_ERR_STATE;
	st = dkv_sm_state(&g->sm);
	if (st != GC_IDLE && st != GC_RUNNING)
		return DKV_ERR_CLOSED;
	w->next = NULL;
	if (g->next_tail != NULL)
		g->next_tail->next = w;
	else
		g->next_head = w;
	g->next_tail = w;
	if (st == GC_IDLE)
		pass_begin(g);
	return DKV_OK;
}

void gc_info(struct node *n, struct gc_info *out)
{
	struct gc *g = n->gc;
	uint64_t now, wall, pin;

	memset(out, 0, sizeof(*out));
	out->retention_ms = n->cfg.gc_retention_ms;
	out->interval_ms = n->cfg.gc_interval_ms;
	/* The clock's last epoch, or the wall clock on an idle node: no
	 * epoch is issued for INFO. */
	now = dkv_hlc_last(n->hlc);
	wall = dkv_epoch_from_unix_ns(dkv_hlc_wall_ns(NULL));
	if (wall > now)
		now = wall;
	pin = __atomic_load_n(&n->snap_pin, __ATOMIC_ACQUIRE);
	out->pinned_by_snapshot = pin != DKV_EPOCH_NONE &&
				  pin != DKV_EPOCH_MAX &&
				  pin < gc_target(now, out->retention_ms);
	if (g == NULL)
		return;
	out->passes = g->passes;
	out->failed_passes = g->failed;
	out->last_pass_ms = g->last.ms;
	out->watermark_min = g->last.watermark_min;
	out->watermark_max = g->last.watermark_max;
	out->disk_bytes = g->last.disk_bytes;
	out->running = dkv_sm_state(&g->sm) == GC_RUNNING ||
		       dkv_sm_state(&g->sm) == GC_STOPPING;
}
