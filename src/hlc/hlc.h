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
};

struct dkv_hlc_opts {
	uint64_t max_offset_ns; /* 0 = DKV_HLC_DEFAULT_MAX_OFFSET_NS */
	uint64_t window_ns;     /* bound advance; 0 = DKV_HLC_DEFAULT_WINDOW_NS */
	uint64_t bound;         /* persisted bound read at start; 0 = none */
};

struct dkv_hlc;

/* The real clock: CLOCK_REALTIME in Unix ns. For io.now_ns. */
uint64_t dkv_hlc_wall_ns(void *ctx);

/* Creates a clock; *out is owned by the caller until dkv_hlc_destroy().
 * Persists an initial bound when io->persist is set. io is copied. */
int dkv_hlc_create(const struct dkv_hlc_io *io, const struct dkv_hlc_opts *opts,
		   struct dkv_hlc **out);
void dkv_hlc_destroy(struct dkv_hlc *hlc);

/* Issues a new epoch into *out (> every epoch issued or merged before).
 * If the bound could not be persisted, io.persist's error (DKV_ERR_IO if
 * it returned no DKV_ERR_* code) and nothing issued, *out untouched;
 * DKV_ERR_OVERFLOW at the end of the epoch space (year 2605). */
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
 * DKV_ERR_INVAL for epoch 0 or DKV_EPOCH_MAX. */
int dkv_hlc_update(struct dkv_hlc *hlc, uint64_t remote);

/* The last epoch issued or merged, without issuing one. */
uint64_t dkv_hlc_last(struct dkv_hlc *hlc);

/* The currently persisted upper bound. */
uint64_t dkv_hlc_bound(struct dkv_hlc *hlc);

uint64_t dkv_hlc_max_offset(struct dkv_hlc *hlc);

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
