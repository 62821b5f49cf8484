/*
 * txid.h - transaction ids and the wait-die order (docs/txn.md).
 *
 * A txid is 128 bits: hi = the coordinator's HLC epoch when the transaction
 * was first opened (kept across restarts, so a restarted transaction keeps
 * its age), lo = 64 random bits drawn at open and again at every restart (so
 * every incarnation has its own id and a late message of an old incarnation
 * can never be taken for the new one). Age orders by hi, then lo: the
 * smaller is the older.
 */
#ifndef DKV_TXN_TXID_H
#define DKV_TXN_TXID_H

#include <inttypes.h>
#include <stdint.h>

struct dkv_txid {
	uint64_t hi; /* HLC epoch at first open: the age */
	uint64_t lo; /* random, new at every restart */
};

#define DKV_TXID_FMT "%016" PRIx64 ":%016" PRIx64
#define DKV_TXID_ARG(t) (t).hi, (t).lo

static inline int dkv_txid_eq(const struct dkv_txid *a, const struct dkv_txid *b)
{
	return a->hi == b->hi && a->lo == b->lo;
}

static inline int dkv_txid_is_null(const struct dkv_txid *a)
{
	return a->hi == 0 && a->lo == 0;
}

/* <0 if a is older than b, 0 if the same, >0 if younger. */
static inline int dkv_txid_cmp(const struct dkv_txid *a, const struct dkv_txid *b)
{
	if (a->hi != b->hi)
		return a->hi < b->hi ? -1 : 1;
	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return 0;
}

enum txn_wd {
	TXN_WD_WAIT, /* park until the holder's intent is resolved */
	TXN_WD_DIE,  /* RESTART(locked) at once */
};

/*
 * Wait-die: a requester older than the holder waits, a younger one dies.
 * Waits only go from older to younger, so no cycle can form. `always_wait`
 * is for requesters that hold nothing while they wait (a single-key
 * COMMIT1) and for holders whose outcome is already decided (they wait for
 * nothing but their own durable write): such waits close no cycle.
 */
static inline enum txn_wd txn_wait_die(const struct dkv_txid *requester,
				       const struct dkv_txid *holder,
				       int always_wait)
{
	if (always_wait)
		return TXN_WD_WAIT;
	return dkv_txid_cmp(requester, holder) < 0 ? TXN_WD_WAIT : TXN_WD_DIE;
}

#endif /* DKV_TXN_TXID_H */
