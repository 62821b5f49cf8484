/*
 * stats.h - counters of the transaction core, as X-macro lists so that
 * dkvd's INFO and the simulator print them without a list of their own.
 *
 * Participant counters count events at one shard; coordinator counters
 * at one coordinator. Restarts and aborts are also counted per cause
 * (enum txn_reason, txn_msg.h). txn_*_stats_add() sums a set into another.
 */
#ifndef DKV_TXN_STATS_H
#define DKV_TXN_STATS_H

#include <stdint.h>

#include "txn/txn_msg.h"

#define TXN_PART_STATS(X)                                                      \
	X(commit1, "COMMIT1 committed")                                        \
	X(commit2, "two-phase commits decided COMMITTED (leader)")            \
	X(aborted, "transactions aborted (COMMIT1 or leader)")                \
	X(prepared, "PREPAREs prepared (follower)")                           \
	X(refused, "PREPAREs refused (follower)")                             \
	X(reads, "point and range reads served")                              \
	X(read_met_intent, "reads that met another transaction's intent")     \
	X(read_parked, "reads parked until an intent's outcome is known")     \
	X(read_uncertain, "reads answered RESTART: uncertain version")        \
	X(read_timeout, "parked reads timed out")                             \
	X(wd_wait, "wait-die: an older writer waited")                         \
	X(wd_die, "wait-die: a younger writer died")                           \
	X(wait_timeout, "parked writers timed out")                           \
	X(parked_full, "requests refused: too many waiters")                  \
	X(dup_prepare_l, "duplicate PREPARE_L answered from the record")     \
	X(dup_commit1, "duplicate COMMIT1 answered from the record")         \
	X(dup_prepare, "duplicate PREPARE answered from the log")            \
	X(late_prepare_refused, "late PREPARE refused by a tombstone")       \
	X(too_old, "requests older than half the horizon dropped")           \
	X(status_sent, "STATUS asked of a leader (follower or reader)")      \
	X(status_served, "STATUS answered")                                    \
	X(status_abort_unknown, "STATUS of an unknown txid recorded ABORTED") \
	X(resolved_by_status, "follower outcomes learned from STATUS")       \
	X(prepare_timeout, "leader prepare timeouts (abort)")                 \
	X(resend_prepare, "PREPARE resent")                                    \
	X(resend_commit, "COMMIT resent (lost COMMIT or ACK)")                 \
	X(resend_abort, "ABORT resent")                                        \
	X(prepared_after_abort, "PREPARED after the abort answered ABORT")    \
	X(rec_preparing, "recovery: PREPARING records aborted")               \
	X(rec_committed, "recovery: COMMITTED records resumed")               \
	X(rec_prepared, "recovery: PREPARED follower logs resumed")           \
	X(rec_tombstones, "recovery: outcome tombstones reloaded")            \
	X(rec_intents, "recovery: intents rebuilt")                            \
	X(clock_refused, "epochs refused (beyond the max clock offset)")      \
	X(tombstones_collected, "outcome tombstones collected")               \
	X(tombstones_evicted, "outcome tombstones left on disk only")         \
	X(tombstones_reloaded, "outcome tombstones read back from disk")      \
	X(tombstones_disk_collected, "outcome tombstones collected on disk")  \
	X(bad_msg, "malformed or misdirected messages dropped")               \
	X(violations, "protocol violations seen (must stay 0)")

#define TXN_COORD_STATS(X)                                                     \
	X(opened, "transactions opened")                                       \
	X(restarts, "restarts (txn_restart)")                                  \
	X(committed, "commits acknowledged")                                   \
	X(committed_ro, "read-only commits (no round trip)")                  \
	X(commit1, "commits by COMMIT1")                                       \
	X(commit2, "commits by PREPARE_L")                                     \
	X(aborted, "commits answered RESTART")                                 \
	X(in_doubt, "commits whose answer was lost: STATUS asked")           \
	X(status_resolved, "in-doubt commits resolved by STATUS")            \
	X(unknown, "commits with an unknown outcome (timeout)")              \
	X(read_restart, "reads answered RESTART")                             \
	X(read_resend, "reads resent")                                         \
	X(read_timeout, "reads timed out")                                     \
	X(ryw_hits, "reads answered from the write set")

struct txn_part_stats {
#define TXN_STAT_FIELD_(name, text) uint64_t name;
	TXN_PART_STATS(TXN_STAT_FIELD_)
	uint64_t restart_by[TXN_R_COUNT_]; /* RESTART/REFUSED sent, by cause */
};

struct txn_coord_stats {
	TXN_COORD_STATS(TXN_STAT_FIELD_)
#undef TXN_STAT_FIELD_
	uint64_t restart_by[TXN_R_COUNT_]; /* restarts met, by cause */
};

static inline void txn_part_stats_add(struct txn_part_stats *to,
				      const struct txn_part_stats *from)
{
#define TXN_STAT_ADD_(name, text) to->name += from->name;
	TXN_PART_STATS(TXN_STAT_ADD_)
	for (unsigned i = 0; i < TXN_R_COUNT_; i++)
		to->restart_by[i] += from->restart_by[i];
}

static inline void txn_coord_stats_add(struct txn_coord_stats *to,
				       const struct txn_coord_stats *from)
{
	TXN_COORD_STATS(TXN_STAT_ADD_)
#undef TXN_STAT_ADD_
	for (unsigned i = 0; i < TXN_R_COUNT_; i++)
		to->restart_by[i] += from->restart_by[i];
}

#endif /* DKV_TXN_STATS_H */
