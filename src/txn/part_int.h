/*
 * part_int.h - the participant's internals, shared by its files:
 *
 *   part.c      life cycle, time and sending, message dispatch, tick, GC
 *   ptx.c       the transactions: state machine, table by txid, item
 *               copies, durable-write plumbing, parking and waking
 *   validate.c  validation (locks + wait-die, write-write, read set),
 *               placing and releasing intents, intent records
 *   read.c      READ and RANGE: intent resolution and uncertainty
 *   leader.c    COMMIT1 and the leader: PREPARE_L, PREPARED, REFUSED,
 *               ACK, STATUS, the commit point, resends, prepare timeout
 *   follower.c  PREPARE, COMMIT, ABORT, STATUS_REPLY, asking the leader
 *   recover.c   rebuilding everything from the durable records
 *
 * A struct ptx is one transaction as this shard sees it. Its life is a
 * state machine (ptx_states in ptx.c, checked by dkv_sm_move):
 *
 *   VALIDATING --pass--> PREPARING_W --durable--> PREPARING (leader)
 *        |                                    \-> PREPARED  (follower)
 *        |--pass (COMMIT1)--> COMMITTING_W --durable--> DONE
 *        |--refused (COMMIT1, leader)--> ABORTING_W --durable--> DONE
 *        '--refused (follower), ABORT--> DONE (nothing durable)
 *   PREPARING --all PREPARED--> COMMITTING_W --durable--> COMMITTED
 *   PREPARING --REFUSED, timeout--> ABORTING_W --durable--> ABORTED
 *   PREPARED --COMMIT--> COMMITTING_W --durable--> DONE
 *   PREPARED --ABORT--> ABORTING_W --durable--> DONE
 *   COMMITTED --all ACK--> FINISHING_W --durable--> DONE
 *   ABORTED --all ACK, or horizon--> DONE
 *   DONE: an outcome tombstone until sent + H, then freed.
 *
 * The *_W states have exactly one batch in flight (x->batch). A ptx is
 * never freed while a batch of its own is in flight or anyone waits on it.
 */
#ifndef DKV_TXN_PART_INT_H
#define DKV_TXN_PART_INT_H

#include "common/sm.h"
#include "txn/batch.h"
#include "txn/intent.h"
#include "txn/part.h"
#include "txn/record.h"
#include "txn/util.h"

enum ptx_role {
	PTX_ONE = 1,  /* COMMIT1: the only participant */
	PTX_LEADER,   /* PREPARE_L */
	PTX_FOLLOWER, /* PREPARE */
	PTX_TOMB,     /* an outcome only: a "D" record, or an unknown txid
			 recorded ABORTED for a STATUS */
};

enum ptx_state {
	PTX_VALIDATING,
	PTX_PREPARING_W,
	PTX_PREPARING,
	PTX_PREPARED,
	PTX_COMMITTING_W,
	PTX_COMMITTED,
	PTX_FINISHING_W,
	PTX_ABORTING_W,
	PTX_ABORTED,
	PTX_DONE,
	PTX_NSTATES
};

struct ptx;

/* A parked request: a transaction's validation, or a copy of a READ or
 * RANGE. Parked on one blocker; retried when the blocker moves. */
struct pwait {
	struct pwait *next_on_blocker;
	struct pwait *next, *prev; /* every parked request of the part */
	struct ptx *blocker;
	uint64_t deadline; /* ms */
	struct ptx *tx;     /* a parked validation, or NULL */
	struct txn_msg msg; /* a parked READ or RANGE (deep copy) */
};

/* Leader: one follower and its part of the transaction. */
struct pfol {
	uint32_t shard;
	uint8_t prepared;
	uint8_t acked;
	uint64_t proposed;
	struct txn_writes w; /* items in the ptx's arena */
	struct txn_reads r;
	struct txn_ranges g;
};

struct ptx {
	struct dkv_txid id;
	struct txn_part *part;   /* the part it belongs to */
	struct ptx *hnext;       /* txid hash chain */
	struct ptx *next, *prev; /* every ptx of the part */
	struct ptx *anext, *aprev; /* the part's active list: not DONE */
	uint8_t in_active;
	struct dkv_sm sm;
	uint8_t role;            /* enum ptx_role */
	uint8_t outcome;         /* 0, TXN_ST_COMMITTED or TXN_ST_ABORTED:
				    decided here (maybe not durable yet) */
	uint8_t final;           /* the outcome is certain: readers may use it */
	uint8_t reason;          /* enum txn_reason of an abort */
	uint8_t has_log;         /* a "T"/"F" record is durable */
	uint8_t has_d;           /* a "D" record is durable or in flight */
	uint8_t abort_pending;   /* follower: ABORT came during PREPARING_W */
	uint8_t always_wait;     /* single-key COMMIT1: waits, never dies */
	uint8_t reply_status;    /* TOMB from STATUS: answer the asker */
	uint8_t tell_followers;  /* leader abort: followers may have prepared */
	uint8_t abort_on_log;    /* leader: a follower refused while its own
				    record was being written (x->reason) */
	uint64_t ts, sent, proposed, tc;
	uint32_t leader;
	struct txn_addr coord;   /* ONE, LEADER: the coordinator; TOMB: asker */
	/* This shard's part: items in the arena. */
	struct txn_writes w;
	struct txn_reads r;
	struct txn_ranges g;
	struct txn_arena_chunk *mem;
	struct pfol *fols;       /* leader: followers (malloc'ed) */
	uint32_t nf;
	struct txn_intent *intents; /* placed (next_of_owner) */
	struct txn_rlock *rlocks;
	struct pwait *wait;      /* VALIDATING: where it is parked */
	struct pwait *waiters;   /* requests parked on this one */
	uint64_t deadline;       /* ms: wait or prepare timeout */
	uint64_t next_send;      /* ms: next resend / STATUS */
	uint64_t backoff;        /* ms */
	uint64_t done_ms;        /* DONE: first seen by the collection */
	uint64_t last_status;    /* ms: last STATUS sent for it */
	struct txn_batch batch;  /* the durable write in flight (*_W) */
};

struct txn_part {
	struct txn_io io;
	struct txn_part_conf conf;
	struct txn_part_stats stats;
	struct txn_iindex ix;
	struct ptx **tab;      /* by txid */
	size_t nbuckets;
	size_t ntx;
	struct ptx *all;
	/* The ptx not DONE, which each tick visits; the DONE ones (outcome
	 * tombstones, kept for the horizon: tens of thousands under load)
	 * are only visited by the collection, once a second. */
	struct ptx *active;
	uint64_t gc_at_ms;     /* next tombstone collection */
	struct pwait *waits;   /* every parked request */
	size_t nparked;
	struct txn_batch gc;   /* tombstone deletions in flight */
	int gc_busy;
	/* Tombstones left on disk only (part.c): how many, and the highest
	 * `sent` among them: a message whose sent is above it cannot be a
	 * duplicate of one of theirs. */
	uint64_t evicted, evict_floor;
	uint64_t nbatches;     /* in flight */
	int failed;
	int recovered;
	struct txn_buf kbuf, vbuf; /* scratch for record encoding */
};

/* --- part.c, ptx.c --------------------------------------------------------- */
struct ptx *ptx_find(struct txn_part *p, const struct dkv_txid *id);
struct ptx *ptx_new(struct txn_part *p, const struct dkv_txid *id,
		    unsigned role, unsigned state);
void ptx_free(struct txn_part *p, struct ptx *x);
/* An outcome tombstone (PTX_TOMB, DONE) from its durable D record, as
 * recovery and a reload on demand make it. NULL when out of memory. */
struct ptx *ptx_tomb_from_done(struct txn_part *p, const struct dkv_txid *id,
			       const struct txn_rec_done *d);
void ptx_move(struct ptx *x, unsigned state);
unsigned ptx_state(const struct ptx *x);
/* Frees the items and followers of a finished ptx (DONE keeps only the
 * outcome). */
void ptx_shrink(struct ptx *x);
/* Copies writes/reads/ranges of `shard` (or all, shard = UINT32_MAX)
 * into x's arena. 0 or NOMEM. */
int ptx_copy_items(struct ptx *x, uint32_t shard, const struct txn_writes *w,
		   const struct txn_reads *r, const struct txn_ranges *g,
		   struct txn_writes *ow, struct txn_reads *orr,
		   struct txn_ranges *og);
/* Submits x->batch; on failure the part fails. The done callback goes to
 * leader_done / follower_done / one_done by role. */
void ptx_submit(struct txn_part *p, struct ptx *x);
/* Sends msg (from = this shard). */
void part_send(struct txn_part *p, struct txn_msg *msg);
uint64_t part_now(struct txn_part *p);
/* Issues an epoch; 0 on failure (the HLC could not persist its bound). */
uint64_t part_epoch(struct txn_part *p);
/* Merges a received epoch; 0 or DKV_ERR_CLOCK_OFFSET (counted). */
int part_merge(struct txn_part *p, uint64_t epoch);
/* Whether a request sent at `sent` is older than half the horizon. */
int part_too_old(struct txn_part *p, uint64_t sent);
/* The horizon in epoch units (ns). */
uint64_t part_horizon(const struct txn_part *p);
void part_fail(struct txn_part *p, const char *what, int rc);
/* Parks a validation (tx) or a copy of msg on blocker; deadline 0 = now +
 * the timeout of its kind. 0, or DKV_ERR_BUSY when too many are parked. */
int part_park(struct txn_part *p, struct ptx *blocker, struct ptx *tx,
	      const struct txn_msg *msg, uint64_t deadline);
/* Retries everything parked on x (x moved or released its intents). */
void part_wake(struct txn_part *p, struct ptx *x);
/* Removes a parked request (freed). */
void part_unpark(struct txn_part *p, struct pwait *w);
/* An outcome as readers may rely on: TXN_ST_COMMITTED (with *tc),
 * TXN_ST_ABORTED, or TXN_ST_UNKNOWN (undecided or not durable). */
unsigned ptx_known(const struct ptx *x, uint64_t *tc);
/* Answers the coordinator: OUTCOME from x's state. */
void part_reply_outcome(struct txn_part *p, struct ptx *x);
void part_restart_count(struct txn_part *p, unsigned reason);

/* --- validate.c ----------------------------------------------------------- */
/* Whether a message's items are well formed and within the limits. */
int part_items_ok(const struct txn_part *p, const struct txn_writes *w,
		  const struct txn_reads *r, const struct txn_ranges *g);
enum { VAL_PASS, VAL_PARK, VAL_FAIL };
/* Validates x's part; VAL_PARK sets *blocker, VAL_FAIL sets x->reason. */
int ptx_validate(struct txn_part *p, struct ptx *x, struct ptx **blocker);
/* Runs validation and moves on: on_valid / refuse by role, or parks. */
void ptx_run_validation(struct txn_part *p, struct ptx *x);
/* Places intents (writes; read locks and range locks unless COMMIT1).
 * 0 or NOMEM (nothing placed). */
int ptx_place(struct txn_part *p, struct ptx *x);
/* After a passed validation: proposes this shard's epoch (x->proposed)
 * and places x's intents. TXN_R_NONE, or why to refuse (IO: no epoch,
 * BUSY: no memory for the intents). */
unsigned ptx_propose(struct txn_part *p, struct ptx *x);
/* Removes x's intents and locks and wakes whoever waited on them. */
void ptx_release(struct txn_part *p, struct ptx *x);
/* Adds x's intent records (put = 1) or their deletion (put = 0) to b. */
int ptx_intent_records(struct txn_part *p, struct ptx *x,
		       struct txn_batch *b, int put);
/* Adds versions at tc for x's writes to b. */
int ptx_versions(struct ptx *x, struct txn_batch *b, uint64_t tc);
/* Adds the "T" or "F" record (kind) of x to b. */
int ptx_log_record(struct txn_part *p, struct ptx *x, struct txn_batch *b,
		   char kind, unsigned state);
int ptx_log_delete(struct ptx *x, struct txn_batch *b, char kind);
/* Adds the "D" record of x's outcome to b. */
int ptx_done_record(struct ptx *x, struct txn_batch *b);

/* --- read.c --------------------------------------------------------------- */
/* msg: READ or RANGE; deadline 0 for a new request, else its park's. */
void part_read(struct txn_part *p, const struct txn_msg *msg,
	       uint64_t deadline);

/* --- leader.c ------------------------------------------------------------- */
void leader_commit1(struct txn_part *p, const struct txn_msg *msg);
void leader_prepare_l(struct txn_part *p, const struct txn_msg *msg);
void leader_prepared(struct txn_part *p, const struct txn_msg *msg);
void leader_refused(struct txn_part *p, const struct txn_msg *msg);
void leader_ack(struct txn_part *p, const struct txn_msg *msg);
void leader_status(struct txn_part *p, const struct txn_msg *msg);
void leader_on_valid(struct txn_part *p, struct ptx *x);
void leader_on_refuse(struct txn_part *p, struct ptx *x);
void leader_done(struct txn_part *p, struct ptx *x);
void leader_tick(struct txn_part *p, struct ptx *x, uint64_t now);
/* Leader (from PREPARING, or recovery): write ABORTED, then tell the
 * followers. */
void leader_abort(struct txn_part *p, struct ptx *x, unsigned reason);
/* COMMITTED and every follower acknowledged: "T" -> "D" (FINISHED). */
void leader_finish(struct txn_part *p, struct ptx *x);
/* Sends COMMIT or ABORT to every follower that has not acknowledged. */
void leader_send_outcome(struct txn_part *p, struct ptx *x);

/* --- follower.c ----------------------------------------------------------- */
void follower_prepare(struct txn_part *p, const struct txn_msg *msg);
void follower_commit(struct txn_part *p, const struct txn_msg *msg);
void follower_abort(struct txn_part *p, const struct txn_msg *msg);
void follower_status_reply(struct txn_part *p, const struct txn_msg *msg);
void follower_on_valid(struct txn_part *p, struct ptx *x);
void follower_on_refuse(struct txn_part *p, struct ptx *x);
void follower_done(struct txn_part *p, struct ptx *x);
void follower_tick(struct txn_part *p, struct ptx *x, uint64_t now);
/* Asks x's leader for the outcome (rate-limited to one per resend_min). */
void follower_ask(struct txn_part *p, struct ptx *x);

#endif /* DKV_TXN_PART_INT_H */
