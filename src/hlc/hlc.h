/*
 * hlc.h - the epoch manager: a hybrid logical clock issuing 64-bit epochs.
 *
 * An epoch packs physical time and a logical counter, as DAOS's HLC does:
 *
 *    63                                    18 17              0
 *   +----------------------------------------+-----------------+
 *   | physical: ns since DKV_HLC_START, with |  logical count  |
 *   | the low 18 bits masked (262 us ticks)  |  (0 .. 262143)  |
 *   +----------------------------------------+-----------------+
 *
 * so epochs order like time, compare as plain integers, and convert to wall
 * time by masking (hlc_time.c). 64 bits of nanoseconds from 2021 last until
 * the year 2605. Epoch 0 is never issued (it means "none"), nor is
 * DKV_EPOCH_MAX (it means "latest" to readers).
 *
 * Rules (the classic HLC):
 *  - dkv_hlc_now(): e = max(last + 1, physical_now & ~mask); last = e.
 *    Strictly increasing on a node, also when physical time stands still
 *    (the logical part counts; past 2^18 it carries into the physical part)
 *    or jumps backwards (the clock keeps counting from last).
 *  - dkv_hlc_update(remote): every epoch received in a message is merged:
 *    last = max(last, remote), so the next local epoch is above it. A
 *    remote epoch more than max_offset_ns ahead of local physical time is
 *    refused with DKV_ERR_CLOCK_OFFSET and the clock is left unchanged.
 *
 * Never backwards across a restart: the clock keeps a persisted upper bound
 * B and never issues an epoch >= B. When issuing gets within half a window
 * of B, it persists B' = e + window through io.persist (one durable write
 * per half-window of time, not per epoch) before issuing past B. At start,
 * last = max(persisted B, physical now), so every epoch issued after a
 * restart is above every epoch issued before it, even if the wall clock
 * went backwards meanwhile. If persisting fails, dkv_hlc_now() returns the
 * error and issues nothing (*out untouched): the clock issues nothing it
 * could not bound.
 *
 * Beyond the max offset a clock fences itself (below): it issues and
 * merges nothing while its wall clock is off from a majority of the
 * cluster's by more than max_offset_ns, the bound on which real-time
 * order rests (the uncertainty window, docs/txn.md).
 *
 * Time and persistence come in through struct dkv_hlc_io, so tests drive
 * the physical clock (jumps, stalls, skew between nodes) and the store of
 * the bound. All calls are thread-safe.
 */
#ifndef DKV_HLC_H
#define DKV_HLC_H

#include <stddef.h>
#include <stdint.h>

#define DKV_HLC_LOGICAL_BITS 18
#define DKV_HLC_LOGICAL_MASK ((UINT64_C(1) << DKV_HLC_LOGICAL_BITS) - 1)
/* 2021-01-01T00:00:00Z in Unix nanoseconds: epoch physical time origin. */
#define DKV_HLC_START_UNIX_NS UINT64_C(1609459200000000000)
#define DKV_EPOCH_NONE UINT64_C(0)
#define DKV_EPOCH_MAX UINT64_MAX

#define DKV_HLC_DEFAULT_MAX_OFFSET_NS (UINT64_C(500) * 1000 * 1000)
#define DKV_HLC_DEFAULT_WINDOW_NS (UINT64_C(2) * 1000 * 1000 * 1000)

struct dkv_hlc_io {
	void *ctx;
	/* Physical time, Unix nanoseconds. Required. */
	uint64_t (*now_ns)(void *ctx);
	/* Durably record the upper bound; 0 or a DKV_ERR_* code. Optional:
	 * NULL means the bound lives in memory only (tests). Calls are
	 * serialized, with increasing bounds, possibly with the clock's lock
	 * held: it must not call back into the clock. */
	int (*persist)(void *ctx, uint64_t bound);
	/* Monotonic time in ns (CLOCK_MONOTONIC: never stepped). Optional:
	 * with it the clock fences itself when its wall clock is off (see
	 * "The fence"); NULL turns the fence off (tools, the client
	 * library, tests of the epochs alone). */
	uint64_t (*mono_ns)(void *ctx);
};

struct dkv_hlc_opts {
	uint64_t max_offset_ns; /* 0 = DKV_HLC_DEFAULT_MAX_OFFSET_NS */
	uint64_t window_ns;     /* bound advance; 0 = DKV_HLC_DEFAULT_WINDOW_NS */
	uint64_t bound;         /* persisted bound read at start; 0 = none */
};

struct dkv_hlc;

/* The real clock: CLOCK_REALTIME in Unix ns. For io.now_ns. */
uint64_t dkv_hlc_wall_ns(void *ctx);
/* The real monotonic clock: CLOCK_MONOTONIC in ns. For io.mono_ns. */
uint64_t dkv_hlc_mono_ns(void *ctx);

/* Creates a clock; *out is owned by the caller until dkv_hlc_destroy().
 * Persists an initial bound when io->persist is set. io is copied. */
int dkv_hlc_create(const struct dkv_hlc_io *io, const struct dkv_hlc_opts *opts,
		   struct dkv_hlc **out);
void dkv_hlc_destroy(struct dkv_hlc *hlc);

/* Issues a new epoch into *out (> every epoch issued or merged before).
 * If the bound could not be persisted, io.persist's error (DKV_ERR_IO if
 * it returned no DKV_ERR_* code) and nothing issued, *out untouched;
 * DKV_ERR_OVERFLOW at the end of the epoch space (year 2605);
 * DKV_ERR_CLOCK_FENCED while the clock is fenced (nothing issued). */
int dkv_hlc_now(struct dkv_hlc *hlc, uint64_t *out);

/* Moves the persisted bound ahead before issuing needs it: when less than
 * five eighths of a window is left, persists a bound one window ahead,
 * without holding the clock's lock during the write, so dkv_hlc_now()
 * callers keep issuing meanwhile and never pay the durable write
 * themselves while reserve runs often enough (every eighth of a window). For
 * a background thread; io.persist's error, or 0. Thread-safe. */
int dkv_hlc_reserve(struct dkv_hlc *hlc);

/* Merges an epoch received from a peer. DKV_ERR_CLOCK_OFFSET (clock
 * unchanged) if remote is more than max_offset ahead of physical time;
 * DKV_ERR_CLOCK_FENCED (unchanged) while the clock is fenced;
 * DKV_ERR_INVAL for epoch 0 or DKV_EPOCH_MAX. */
int dkv_hlc_update(struct dkv_hlc *hlc, uint64_t remote);

/* The last epoch issued or merged, without issuing one. */
uint64_t dkv_hlc_last(struct dkv_hlc *hlc);

/* The currently persisted upper bound. */
uint64_t dkv_hlc_bound(struct dkv_hlc *hlc);

uint64_t dkv_hlc_max_offset(struct dkv_hlc *hlc);

/* --- the fence (hlc_fence.c) -------------------------------------------
 *
 * Epochs order transactions in real time only while every two serving
 * nodes' wall clocks are within max_offset of each other: a reader's
 * uncertainty window covers no more. A clock further off must not issue
 * epochs, so it watches itself, as CockroachDB's nodes do (they exit):
 *
 *   SERVING --fewer than a majority agree--> FENCED
 *      ^                                       |
 *      +------- a majority agrees again -------+
 *
 *  - Measuring. Over each link to a peer the node asks for the peer's
 *    wall clock: dkv_hlc_probe_start() just before sending, then
 *    dkv_hlc_measure() with the answer. offset = the peer's reading minus
 *    the midpoint of this wall clock over the round trip; error = half the
 *    round trip (monotonic). A measurement is thrown away when its error
 *    is over max_offset / 4 (a stalled peer or link tells nothing) or this
 *    wall clock was stepped during the round trip.
 *  - Stepping. wall - monotonic changes only when the wall clock is set
 *    (or slewed, slowly). Each measurement keeps its value, so a step of
 *    this clock moves every peer's estimate at once, with no new message:
 *    estimate = offset - (wall - monotonic now - then). Every issue and
 *    merge compares wall - monotonic with its value at the last
 *    evaluation; a change over 1 ms evaluates the fence again first. So
 *    a node whose clock is set off issues no epoch at the new time.
 *  - Agreeing. A peer agrees when |estimate| + error <= max_offset. A
 *    peer not yet measured counts as measured at offset 0 when the clock
 *    was created: the clock trusts itself at start, until the first
 *    measurement (a heartbeat after the link is up). A node started with
 *    a clock already off therefore serves until then.
 *  - Fenced: while fewer than a majority of the nodes (this one plus its
 *    peers; it agrees with itself) agree. dkv_hlc_now() and
 *    dkv_hlc_update() then return DKV_ERR_CLOCK_FENCED and change
 *    nothing. With two nodes, one clock off fences both (no majority can
 *    tell which is right); with three, only the one that is off.
 *
 * The clock keeps measurements without age: a peer that cannot be reached
 * is judged on its last one, corrected for this clock's steps since. A
 * peer whose own clock is set off after that fences itself.
 */

/* This wall clock and the monotonic one just before a probe is sent. */
struct dkv_hlc_probe {
	uint64_t wall, mono;
};

/* Sets the cluster's other nodes (this one excluded): their ids, n of
 * them, copied. Measurements of ids that stay are kept; new ids start
 * unmeasured. 0, DKV_ERR_NOMEM (the peers stay as they were) or
 * DKV_ERR_INVAL (ids NULL with n > 0). */
int dkv_hlc_set_peers(struct dkv_hlc *hlc, const uint32_t *ids, size_t n);

/* Reads both clocks into *probe. Without io.mono_ns, zeros. */
void dkv_hlc_probe_start(struct dkv_hlc *hlc, struct dkv_hlc_probe *probe);

/* Records peer's wall clock, read (Unix ns) between *probe and now.
 * 0 when recorded; DKV_ERR_TIMEOUT (round trip too long to judge) or
 * DKV_ERR_BUSY (this wall clock was stepped meanwhile): thrown away;
 * DKV_ERR_NOT_FOUND for a peer not set; DKV_ERR_STATE without io.mono_ns;
 * DKV_ERR_INVAL for a probe from the future or peer_wall_ns 0. */
int dkv_hlc_measure(struct dkv_hlc *hlc, uint32_t peer,
		    const struct dkv_hlc_probe *probe, uint64_t peer_wall_ns);

struct dkv_hlc_health {
	int fenced;       /* 1: issuing and merging refused */
	uint32_t nodes;   /* this node and its peers */
	uint32_t agree;   /* nodes whose clocks agree, this one included */
	int64_t step_ns;  /* this wall clock's steps since creation */
	uint64_t measurements, dropped; /* dkv_hlc_measure: kept, thrown */
	uint64_t fenced_count;          /* moves to FENCED */
};

/* The fence now (evaluated afresh). Without io.mono_ns: never fenced. */
void dkv_hlc_health(struct dkv_hlc *hlc, struct dkv_hlc_health *out);

struct dkv_hlc_peer_clock {
	uint32_t id;
	int measured;
	int agrees;
	int64_t estimate_ns; /* the peer's wall minus ours, now */
	uint64_t err_ns;
	uint64_t age_ns;     /* since the measurement (0: never measured) */
};

/* Fills out[0 .. max) with the peers' clocks in the order they were set;
 * returns how many peers there are (may exceed max). */
size_t dkv_hlc_peer_clocks(struct dkv_hlc *hlc, struct dkv_hlc_peer_clock *out,
			   size_t max);

/* --- conversions for people (hlc_time.c) ----------------------------- */

/* Unix nanoseconds of an epoch's physical part. */
uint64_t dkv_epoch_to_unix_ns(uint64_t epoch);
/* The smallest epoch at Unix time ns (logical 0); 0 before DKV_HLC_START. */
uint64_t dkv_epoch_from_unix_ns(uint64_t unix_ns);
/* The logical counter of an epoch. */
static inline uint32_t dkv_epoch_logical(uint64_t epoch)
{
	return (uint32_t)(epoch & DKV_HLC_LOGICAL_MASK);
}

#define DKV_EPOCH_STR_MAX 48
/* Formats "2026-11-23T22:54:32.123456789Z" (UTC), with "+N" appended when
 * the logical counter is N > 0. buf must hold DKV_EPOCH_STR_MAX bytes.
 * Returns buf. */
char *dkv_epoch_format(uint64_t epoch, char *buf, size_t len);
/* Parses what dkv_epoch_format writes (fractions and "+N" optional), or a
 * plain decimal epoch. 0 or DKV_ERR_INVAL. */
int dkv_epoch_parse(const char *text, uint64_t *out);

#endif /* DKV_HLC_H */
