/*
 * hlc_int.h - the clock's state, shared by hlc.c (issuing and merging
 * epochs, the persisted bound) and hlc_fence.c (the peers' clocks and the
 * fence). Private to src/hlc/.
 */
#ifndef DKV_HLC_INT_H
#define DKV_HLC_INT_H

#include <pthread.h>
#include <stdint.h>

#include "common/sm.h"
#include "hlc/hlc.h"

/*
 * The highest bound the clock ever holds. Epochs are < bound, so the clock
 * never issues DKV_EPOCH_MAX - 1 or DKV_EPOCH_MAX (the year 2605); reaching
 * it is DKV_ERR_OVERFLOW. Without io.persist the bound is this cap from the
 * start and never moves: nothing is durable, so the clock is unlimited
 * (but a restart is then only as monotonic as the wall clock).
 */
#define HLC_BOUND_CAP (UINT64_MAX - 1)

/*
 * Wall minus monotonic time moves by more than this only when the wall
 * clock is stepped: NTP slews at most 0.5 ms a second. Below it the fence
 * is not evaluated again (a cheap comparison per epoch), and a measurement
 * whose round trip saw the wall clock move this much more or less than the
 * monotonic one is thrown away.
 */
#define HLC_STEP_EPS_NS (UINT64_C(1000000))

/* The fence's states (hlc.h): the transitions are the two arrows. */
enum hlc_fence_state { HLC_SERVING, HLC_FENCED, HLC_NFENCE_STATES };

/* What this node knows of one peer's wall clock. */
struct hlc_peer {
	uint32_t id;
	int measured;    /* 0: offset 0 taken at creation (hlc.h) */
	int64_t offset;  /* peer's wall minus ours at the measurement, ns */
	uint64_t err;    /* half the round trip, ns */
	int64_t drift;   /* our wall minus monotonic then */
	uint64_t mono;   /* our monotonic time then */
};

struct dkv_hlc {
	pthread_mutex_t lock;
	/* Serializes io.persist(). Taken with lock held (dkv_hlc_now) or
	 * alone (dkv_hlc_reserve), never the other way round. */
	pthread_mutex_t persist_lock;
	uint64_t durable;    /* under persist_lock: largest bound persisted */
	struct dkv_hlc_io io;
	uint64_t max_offset; /* ns */
	uint64_t window;     /* ns the bound runs ahead of the last epoch */
	uint64_t last;       /* last epoch issued or merged */
	uint64_t bound;      /* persisted: no epoch >= bound is issued */
	int failing;         /* last persist failed: log once, not per call */

	/* The fence (hlc_fence.c), all under lock; off without io.mono_ns. */
	struct dkv_sm fence;
	int64_t start_drift;  /* wall minus monotonic at creation */
	int64_t eval_drift;   /* ... when the fence was last evaluated */
	int fence_dirty;      /* peers or measurements changed since */
	uint32_t agree;       /* nodes agreeing at the last evaluation */
	struct hlc_peer *peers;
	size_t npeers;
	uint64_t measurements, dropped, fenced_count;
};

/* Sets up the fence's state at creation (lock not yet shared). */
void hlc_fence_init(struct dkv_hlc *hlc, uint64_t wall);
void hlc_fence_fini(struct dkv_hlc *hlc);

/* With lock held and the wall clock just read: 0 when the clock may
 * issue or merge epochs, DKV_ERR_CLOCK_FENCED when it may not. */
int hlc_fence_check(struct dkv_hlc *hlc, uint64_t wall);

#endif /* DKV_HLC_INT_H */
