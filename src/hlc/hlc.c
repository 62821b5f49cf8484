/*
 * hlc.c - the epoch manager: a hybrid logical clock with a persisted upper
 * bound. See hlc.h for the contract and docs/hlc.md for the design.
 *
 * All state lives under one mutex. The only call made with it held that
 * can block is io.persist(), once per half window of issued time, and only
 * when dkv_hlc_reserve() has not run ahead of issuing.
 */
#include "hlc/hlc.h"
#include "hlc/hlc_int.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "dkv_err.h"

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Physical time t (Unix ns) as an epoch with logical 0; 0 before
 * DKV_HLC_START. */
static uint64_t phys_of(uint64_t t)
{
	if (t < DKV_HLC_START_UNIX_NS)
		return 0;
	return (t - DKV_HLC_START_UNIX_NS) & ~DKV_HLC_LOGICAL_MASK;
}

static uint64_t hlc_physical(const struct dkv_hlc *hlc)
{
	return phys_of(hlc->io.now_ns(hlc->io.ctx));
}

static uint64_t hlc_next_bound(const struct dkv_hlc *hlc, uint64_t e)
{
	uint64_t b = sat_add(e, hlc->window);

	return b > HLC_BOUND_CAP ? HLC_BOUND_CAP : b;
}

/* Persists bound unless a larger one already is (persist_lock held by the
 * caller); *durable gets the largest bound persisted. */
static int persist_locked(struct dkv_hlc *hlc, uint64_t bound,
			  uint64_t *durable)
{
	int rc = 0;

	if (bound > hlc->durable) {
		rc = hlc->io.persist(hlc->io.ctx, bound);
		if (rc == 0)
			hlc->durable = bound;
		else if (rc > 0)
			rc = DKV_ERR_IO;
	}
	*durable = hlc->durable;
	return rc;
}

/* Durably records bound; the persist callback's error, or DKV_ERR_IO if it
 * returned something that is not a DKV_ERR_* code. Lock held. */
static int hlc_persist(struct dkv_hlc *hlc, uint64_t bound)
{
	uint64_t durable;
	int rc;

	pthread_mutex_lock(&hlc->persist_lock);
	rc = persist_locked(hlc, bound, &durable);
	pthread_mutex_unlock(&hlc->persist_lock);
	if (rc == 0) {
		bound = durable;
		if (hlc->failing)
			DKV_WARN("hlc", "bound %" PRIu64 " persisted: issuing",
				 bound);
		hlc->failing = 0;
		hlc->bound = bound;
		return 0;
	}
	if (!hlc->failing)
		DKV_WARN("hlc",
			 "persisting bound %" PRIu64 " failed: %s; no epochs "
			 "are issued until it succeeds",
			 bound, dkv_strerror(rc));
	hlc->failing = 1;
	return rc;
}

uint64_t dkv_hlc_wall_ns(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int dkv_hlc_create(const struct dkv_hlc_io *io, const struct dkv_hlc_opts *opts,
		   struct dkv_hlc **out)
{
	static const struct dkv_hlc_opts defaults;
	struct dkv_hlc *hlc = NULL;
	uint64_t phys, wall;
	int rc;

	if (io == NULL || io->now_ns == NULL || out == NULL)
		return DKV_ERR_INVAL;
	if (opts == NULL)
		opts = &defaults;
	if (opts->bound >= HLC_BOUND_CAP)
		return DKV_ERR_INVAL;

	hlc = calloc(1, sizeof(*hlc));
	if (hlc == NULL)
		return DKV_ERR_NOMEM;
	if (pthread_mutex_init(&hlc->lock, NULL) != 0) {
		free(hlc);
		return DKV_ERR_NOMEM;
	}
	if (pthread_mutex_init(&hlc->persist_lock, NULL) != 0) {
		pthread_mutex_destroy(&hlc->lock);
		free(hlc);
		return DKV_ERR_NOMEM;
	}
	hlc->io = *io;
	hlc->max_offset = opts->max_offset_ns ? opts->max_offset_ns
					      : DKV_HLC_DEFAULT_MAX_OFFSET_NS;
	hlc->window = opts->window_ns ? opts->window_ns
				      : DKV_HLC_DEFAULT_WINDOW_NS;

	/* Every epoch issued before the restart is < opts->bound. */
	wall = hlc->io.now_ns(hlc->io.ctx);
	phys = phys_of(wall);
	hlc_fence_init(hlc, wall);
	hlc->last = phys > opts->bound ? phys : opts->bound;

	if (hlc->io.persist == NULL) {
		hlc->bound = HLC_BOUND_CAP;
	} else {
		rc = hlc_persist(hlc, hlc_next_bound(hlc, hlc->last));
		if (rc != 0)
			goto out;
	}
	*out = hlc;
	return 0;
out:
	hlc_fence_fini(hlc);
	pthread_mutex_destroy(&hlc->persist_lock);
	pthread_mutex_destroy(&hlc->lock);
	free(hlc);
	return rc;
}

void dkv_hlc_destroy(struct dkv_hlc *hlc)
{
	if (hlc == NULL)
		return;
	hlc_fence_fini(hlc);
	pthread_mutex_destroy(&hlc->persist_lock);
	pthread_mutex_destroy(&hlc->lock);
	free(hlc);
}

int dkv_hlc_now(struct dkv_hlc *hlc, uint64_t *out)
{
	uint64_t wall, phys, e, half;
	int rc = 0;

	if (hlc == NULL || out == NULL)
		return DKV_ERR_INVAL;

	pthread_mutex_lock(&hlc->lock);
	if (hlc->last >= HLC_BOUND_CAP - 1) {
		rc = DKV_ERR_OVERFLOW;
		goto out;
	}
	wall = hlc->io.now_ns(hlc->io.ctx);
	rc = hlc_fence_check(hlc, wall);
	if (rc != 0)
		goto out;
	phys = phys_of(wall);
	e = hlc->last + 1;
	if (phys > e)
		e = phys;

	/*
	 * Persist the next bound once e is within half a window of the
	 * current one, before e is issued: no epoch ever reaches a bound that
	 * is not durable. On failure nothing is issued and last is left as it
	 * was, so the next call tries again.
	 */
	half = hlc->window / 2;
	if (hlc->bound <= half || e >= hlc->bound - half) {
		if (hlc->io.persist != NULL) {
			rc = hlc_persist(hlc, hlc_next_bound(hlc, e));
			if (rc != 0)
				goto out;
		}
		if (e >= hlc->bound) {
			rc = DKV_ERR_OVERFLOW;
			goto out;
		}
	}
	hlc->last = e;
	*out = e;
out:
	pthread_mutex_unlock(&hlc->lock);
	return rc;
}

int dkv_hlc_reserve(struct dkv_hlc *hlc)
{
	uint64_t phys, e, target, durable;
	int rc = 0;

	if (hlc == NULL)
		return DKV_ERR_INVAL;
	pthread_mutex_lock(&hlc->lock);
	if (hlc->io.persist == NULL || hlc->last >= HLC_BOUND_CAP - 1) {
		pthread_mutex_unlock(&hlc->lock);
		return 0;
	}
	phys = hlc_physical(hlc);
	e = hlc->last + 1 > phys ? hlc->last + 1 : phys;
	if (hlc->bound > hlc->window / 8 * 5 &&
	    e < hlc->bound - hlc->window / 8 * 5) {
		pthread_mutex_unlock(&hlc->lock);
		return 0; /* five eighths of a window left */
	}
	target = hlc_next_bound(hlc, e);
	pthread_mutex_unlock(&hlc->lock);

	/* The write happens without the clock's lock: issuing goes on
	 * meanwhile under the old bound, which still has headroom. */
	pthread_mutex_lock(&hlc->persist_lock);
	rc = persist_locked(hlc, target, &durable);
	pthread_mutex_unlock(&hlc->persist_lock);

	pthread_mutex_lock(&hlc->lock);
	if (rc == 0) {
		if (durable > hlc->bound)
			hlc->bound = durable;
		hlc->failing = 0;
	} else if (!hlc->failing) {
		DKV_WARN("hlc", "reserving bound %" PRIu64 " failed: %s",
			 target, dkv_strerror(rc));
	}
	pthread_mutex_unlock(&hlc->lock);
	return rc;
}

int dkv_hlc_update(struct dkv_hlc *hlc, uint64_t remote)
{
	uint64_t wall, phys, rphys = remote & ~DKV_HLC_LOGICAL_MASK;
	int rc = 0;

	if (hlc == NULL || remote == DKV_EPOCH_NONE || remote == DKV_EPOCH_MAX)
		return DKV_ERR_INVAL;

	pthread_mutex_lock(&hlc->lock);
	wall = hlc->io.now_ns(hlc->io.ctx);
	rc = hlc_fence_check(hlc, wall);
	if (rc != 0)
		goto out;
	phys = phys_of(wall);
	if (rphys > sat_add(phys, hlc->max_offset)) {
		DKV_DEBUG("hlc",
			  "refused epoch %" PRIu64 ": %" PRIu64
			  " ns ahead, max offset %" PRIu64 " ns",
			  remote, rphys - phys, hlc->max_offset);
		rc = DKV_ERR_CLOCK_OFFSET;
		goto out;
	}
	/* The bound is not moved here: the next dkv_hlc_now() does it. */
	if (remote > hlc->last)
		hlc->last = remote;
out:
	pthread_mutex_unlock(&hlc->lock);
	return rc;
}

uint64_t dkv_hlc_last(struct dkv_hlc *hlc)
{
	uint64_t last;

	pthread_mutex_lock(&hlc->lock);
	last = hlc->last;
	pthread_mutex_unlock(&hlc->lock);
	return last;
}

uint64_t dkv_hlc_bound(struct dkv_hlc *hlc)
{
	uint64_t bound;

	pthread_mutex_lock(&hlc->lock);
	bound = hlc->bound;
	pthread_mutex_unlock(&hlc->lock);
	return bound;
}

uint64_t dkv_hlc_max_offset(struct dkv_hlc *hlc)
{
	/* Set at creation, never changed: no lock needed. */
	return hlc->max_offset;
}
