/*
 * hlc_fence.c - the fence: a clock off from the cluster's by more than the
 * max offset issues and merges no epoch. See hlc.h ("The fence") for the
 * contract and docs/hlc.md for the design.
 *
 * Happy path: every heartbeat (dkvd: every 250 ms per link) measures one
 * peer's wall clock; every epoch issued or merged checks that wall minus
 * monotonic time has not moved since the last evaluation, a comparison.
 *
 * Failure modes:
 *  - this wall clock is stepped (NTP step, an operator, libfaketime): the
 *    next issue or merge sees wall - monotonic move, re-estimates every
 *    peer's offset from its last measurement and fences before issuing
 *    at the new time if fewer than a majority agree;
 *  - a peer's clock is stepped: its next measurement disagrees; the peer
 *    fences itself (the same rule, from its side);
 *  - a peer or link stalls: round trips over max_offset / 2 are thrown
 *    away, the last good measurement stands;
 *  - this clock is stepped during a round trip: thrown away;
 *  - no peer measured yet: the clock trusts its value at creation.
 */
#include "hlc/hlc_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "dkv_err.h"

static const struct dkv_sm_conf fence_states[HLC_NFENCE_STATES] = {
	[HLC_SERVING] = { "serving", 0, DKV_SM_BIT(HLC_FENCED) },
	[HLC_FENCED] = { "fenced", 0, DKV_SM_BIT(HLC_SERVING) },
};

static uint64_t abs64(int64_t v)
{
	return v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
}

/* Wall minus monotonic: moves only when the wall clock is set. Unix ns fit
 * an int64_t until 2262; monotonic ns are far smaller. */
static int64_t drift_of(uint64_t wall, uint64_t mono)
{
	return (int64_t)wall - (int64_t)mono;
}

uint64_t dkv_hlc_mono_ns(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hlc_fence_init(struct dkv_hlc *hlc, uint64_t wall)
{
	dkv_sm_init(&hlc->fence, "clock fence", fence_states,
		    HLC_NFENCE_STATES, HLC_SERVING);
	hlc->agree = 1;
	if (hlc->io.mono_ns == NULL)
		return;
	hlc->start_drift = drift_of(wall, hlc->io.mono_ns(hlc->io.ctx));
	hlc->eval_drift = hlc->start_drift;
}

void hlc_fence_fini(struct dkv_hlc *hlc)
{
	free(hlc->peers);
	hlc->peers = NULL;
	hlc->npeers = 0;
}

/* The peer's offset now, corrected for this clock's steps since it was
 * measured, and its error; 1 if it agrees. */
static int peer_estimate(const struct dkv_hlc *hlc, const struct hlc_peer *p,
			 int64_t drift, int64_t *est, uint64_t *err)
{
	int64_t offset = p->measured ? p->offset : 0;
	int64_t then = p->measured ? p->drift : hlc->start_drift;

	*est = offset - (drift - then);
	*err = p->measured ? p->err : 0;
	return abs64(*est) <= hlc->max_offset &&
	       *err <= hlc->max_offset - abs64(*est);
}

/* Counts the agreeing nodes at this drift and moves the fence. */
static void fence_evaluate(struct dkv_hlc *hlc, int64_t drift)
{
	uint32_t agree = 1, nodes = (uint32_t)hlc->npeers + 1;
	int fenced;

	for (size_t i = 0; i < hlc->npeers; i++) {
		int64_t est;
		uint64_t err;

		agree += (uint32_t)peer_estimate(hlc, &hlc->peers[i], drift,
						 &est, &err);
	}
	fenced = agree < nodes / 2 + 1;
	if (fenced && dkv_sm_state(&hlc->fence) == HLC_SERVING) {
		dkv_sm_move(&hlc->fence, HLC_FENCED);
		hlc->fenced_count++;
		DKV_WARN("hlc",
			 "clock fenced: only %u of %u nodes' clocks are within "
			 "the max offset (%" PRIu64 " ms) of this one, whose "
			 "wall clock moved %" PRId64 " ms since start; no "
			 "epochs until a majority agrees",
			 agree, nodes, hlc->max_offset / 1000000,
			 (drift - hlc->start_drift) / 1000000);
	} else if (!fenced && dkv_sm_state(&hlc->fence) == HLC_FENCED) {
		dkv_sm_move(&hlc->fence, HLC_SERVING);
		DKV_WARN("hlc",
			 "clock back within the max offset of %u of %u nodes: "
			 "serving", agree, nodes);
	}
	hlc->agree = agree;
	hlc->eval_drift = drift;
	hlc->fence_dirty = 0;
}

int hlc_fence_check(struct dkv_hlc *hlc, uint64_t wall)
{
	int64_t drift;

	if (hlc->io.mono_ns == NULL)
		return 0;
	drift = drift_of(wall, hlc->io.mono_ns(hlc->io.ctx));
	if (hlc->fence_dirty ||
	    abs64(drift - hlc->eval_drift) > HLC_STEP_EPS_NS)
		fence_evaluate(hlc, drift);
	return dkv_sm_state(&hlc->fence) == HLC_FENCED ? DKV_ERR_CLOCK_FENCED
						       : 0;
}

static struct hlc_peer *peer_of(struct dkv_hlc *hlc, uint32_t id)
{
	for (size_t i = 0; i < hlc->npeers; i++)
		if (hlc->peers[i].id == id)
			return &hlc->peers[i];
	return NULL;
}

int dkv_hlc_set_peers(struct dkv_hlc *hlc, const uint32_t *ids, size_t n)
{
	struct hlc_peer *next = NULL, *old;

	if (hlc == NULL || (ids == NULL && n > 0))
		return DKV_ERR_INVAL;
	if (n > 0) {
		next = calloc(n, sizeof(*next));
		if (next == NULL)
			return DKV_ERR_NOMEM;
	}
	pthread_mutex_lock(&hlc->lock);
	for (size_t i = 0; i < n; i++) {
		old = peer_of(hlc, ids[i]);
		if (old != NULL)
			next[i] = *old;
		else
			next[i].id = ids[i];
	}
	free(hlc->peers);
	hlc->peers = next;
	hlc->npeers = n;
	hlc->fence_dirty = 1;
	pthread_mutex_unlock(&hlc->lock);
	return 0;
}

void dkv_hlc_probe_start(struct dkv_hlc *hlc, struct dkv_hlc_probe *probe)
{
	if (probe == NULL)
		return;
	memset(probe, 0, sizeof(*probe));
	if (hlc == NULL || hlc->io.mono_ns == NULL)
		return;
	/* io is set at creation and never changed: no lock needed. */
	probe->mono = hlc->io.mono_ns(hlc->io.ctx);
	probe->wall = hlc->io.now_ns(hlc->io.ctx);
}

int dkv_hlc_measure(struct dkv_hlc *hlc, uint32_t peer,
		    const struct dkv_hlc_probe *probe, uint64_t peer_wall_ns)
{
	uint64_t wall, mono, rtt;
	int64_t walked;
	struct hlc_peer *p;
	int rc = 0;

	if (hlc == NULL || probe == NULL || peer_wall_ns == 0)
		return DKV_ERR_INVAL;
	if (hlc->io.mono_ns == NULL)
		return DKV_ERR_STATE;
	pthread_mutex_lock(&hlc->lock);
	wall = hlc->io.now_ns(hlc->io.ctx);
	mono = hlc->io.mono_ns(hlc->io.ctx);
	p = peer_of(hlc, peer);
	if (p == NULL) {
		rc = DKV_ERR_NOT_FOUND;
		goto out;
	}
	if (probe->mono == 0 || mono < probe->mono) {
		rc = DKV_ERR_INVAL;
		goto out;
	}
	rtt = mono - probe->mono;
	walked = (int64_t)wall - (int64_t)probe->wall;
	if (abs64(walked - (int64_t)rtt) > HLC_STEP_EPS_NS) {
		rc = DKV_ERR_BUSY;
		goto out;
	}
	if (rtt / 2 > hlc->max_offset / 4) {
		rc = DKV_ERR_TIMEOUT;
		goto out;
	}
	p->offset = (int64_t)peer_wall_ns - ((int64_t)probe->wall + walked / 2);
	p->err = rtt / 2 + 1;
	p->drift = drift_of(wall, mono);
	p->mono = mono;
	p->measured = 1;
	hlc->fence_dirty = 1;
out:
	if (rc == 0)
		hlc->measurements++;
	else if (rc == DKV_ERR_BUSY || rc == DKV_ERR_TIMEOUT)
		hlc->dropped++;
	pthread_mutex_unlock(&hlc->lock);
	return rc;
}

void dkv_hlc_health(struct dkv_hlc *hlc, struct dkv_hlc_health *out)
{
	uint64_t wall;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&hlc->lock);
	out->nodes = (uint32_t)hlc->npeers + 1;
	out->agree = out->nodes;
	if (hlc->io.mono_ns != NULL) {
		wall = hlc->io.now_ns(hlc->io.ctx);
		out->fenced = hlc_fence_check(hlc, wall) != 0;
		out->agree = hlc->agree;
		out->step_ns = hlc->eval_drift - hlc->start_drift;
	}
	out->measurements = hlc->measurements;
	out->dropped = hlc->dropped;
	out->fenced_count = hlc->fenced_count;
	pthread_mutex_unlock(&hlc->lock);
}

size_t dkv_hlc_peer_clocks(struct dkv_hlc *hlc, struct dkv_hlc_peer_clock *out,
			   size_t max)
{
	int64_t drift = 0;
	uint64_t mono = 0;
	size_t n;

	pthread_mutex_lock(&hlc->lock);
	if (hlc->io.mono_ns != NULL) {
		uint64_t wall = hlc->io.now_ns(hlc->io.ctx);

		mono = hlc->io.mono_ns(hlc->io.ctx);
		drift = drift_of(wall, mono);
	}
	n = hlc->npeers;
	for (size_t i = 0; i < n && i < max; i++) {
		const struct hlc_peer *p = &hlc->peers[i];

		memset(&out[i], 0, sizeof(out[i]));
		out[i].id = p->id;
		out[i].measured = p->measured;
		out[i].agrees = peer_estimate(hlc, p, drift, &out[i].estimate_ns,
					      &out[i].err_ns);
		out[i].age_ns = p->measured && mono > p->mono ? mono - p->mono
							      : 0;
	}
	pthread_mutex_unlock(&hlc->lock);
	return n;
}
