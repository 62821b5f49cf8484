/*
 * histcheck.h - a checker for list-append transaction histories, in the
 * manner of Jepsen's Elle. Model, inference rules, anomaly definitions and
 * the JSON form: docs/histcheck.md.
 *
 * A test records what its clients saw: transactions, each with an id, an
 * outcome (OK committed, FAIL definitely aborted, INFO unknown) and a list
 * of micro-operations, append(key, value) or read(key) -> list of values.
 * dkv_hist_check() infers the version order of every key from the reads,
 * builds the dependency graph (ww, wr, rw edges) and reports the anomalies
 * G0, G1a, G1b, G1c, G-single and G2, plus the history faults that make
 * inference impossible (garbage reads, incompatible orders, duplicates,
 * internal inconsistency). It runs in time about linear in the history's
 * size (Tarjan's strongly connected components, iterative).
 *
 * Real time (strict serializability), optional: transactions may carry
 * their invoke and completion times (dkv_hist_times()); a check asked for
 * it (dkv_hist_check_ex() with .realtime) adds real-time edges, T1 -rt->
 * T2 when T1 completed before T2 was invoked, and reports the cycles that
 * need them as G0-realtime, G1c-realtime, G-single-realtime and
 * G2-realtime. dkv_hist_check() never does: histories without times and
 * callers that do not ask are checked exactly as before.
 *
 * Recording: dkv_hist_begin(), then any number of dkv_hist_append() and
 * dkv_hist_read() (and, for real time, dkv_hist_times() anywhere in
 * between), then dkv_hist_end() with the outcome (or dkv_hist_cancel() to drop the
 * transaction). One transaction is recorded at a time; the order of
 * transactions in the history does not matter.
 *
 * Errors: calls return 0 (or a count, said below) or a negative DKV_ERR_*
 * code (include/dkv_err.h): DKV_ERR_INVAL for a NULL handle or a bad
 * argument, DKV_ERR_STATE for a call out of order (append outside a
 * transaction, begin inside one, check while one is open), DKV_ERR_EXISTS
 * for a transaction id already recorded, DKV_ERR_TOO_BIG past the limits
 * below, DKV_ERR_NOMEM. A failed call changes nothing, except the JSON
 * readers (see there).
 *
 * Pointers: a struct dkv_hist is owned by its creator and freed with
 * dkv_hist_free(). Arrays passed in are copied before the call returns;
 * the caller keeps them. A report's text is owned by the report and freed
 * by dkv_hist_report_free(). Names returned by dkv_hist_anomaly_name() are
 * static. Threads: a history is not thread-safe; use one per thread or
 * lock around it.
 */
#ifndef DKV_TEST_HISTCHECK_H
#define DKV_TEST_HISTCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "dkv_err.h"

/* Limits: transactions and micro-operations in one history, each less than
 * 2^32 - 1; values read in all, as many as memory allows. */
#define DKV_HIST_TXNS_MAX (UINT32_MAX - 1)
#define DKV_HIST_OPS_MAX (UINT32_MAX - 1)

/* Anomalies shown in full in a report's text; the rest are only counted. */
#define DKV_HIST_SHOWN_MAX 20

/* Bytes of a JSON file dkv_hist_load_json() accepts. */
#define DKV_HIST_JSON_MAX (UINT64_C(1) << 30)

/* A completion time: never (an INFO or FAIL transaction's client did not
 * see it complete). */
#define DKV_HIST_NEVER INT64_MAX

enum dkv_hist_outcome {
	DKV_HIST_OK = 1, /* committed */
	DKV_HIST_FAIL,   /* definitely aborted: its effects must be invisible */
	DKV_HIST_INFO,   /* unknown (e.g. a timeout): may have committed */
};

/*  X(NAME, "name in reports") - most severe first. */
#define DKV_HIST_FOREACH_ANOMALY(X)                                            \
	X(G0, "G0")                                 /* ww cycle */             \
	X(G1A, "G1a")                               /* aborted read */         \
	X(G1B, "G1b")                               /* intermediate read */    \
	X(G1C, "G1c")                               /* ww/wr cycle */          \
	X(G_SINGLE, "G-single")                     /* cycle, one rw edge */   \
	X(G2, "G2")                                 /* cycle, >= 2 rw edges */ \
	X(G0_REALTIME, "G0-realtime")               /* ww/rt cycle */          \
	X(G1C_REALTIME, "G1c-realtime")             /* ww/wr/rt cycle */       \
	X(G_SINGLE_REALTIME, "G-single-realtime")   /* rt cycle, one rw */     \
	X(G2_REALTIME, "G2-realtime")               /* rt cycle, >= 2 rw */    \
	X(INTERNAL, "internal")                     /* own appends unseen */   \
	X(INCOMPATIBLE_ORDER, "incompatible-order") /* reads not prefixes */   \
	X(GARBAGE_READ, "garbage-read")             /* value never appended */ \
	X(DUPLICATE_ELEMENT, "duplicate-element")   /* value twice in a read */\
	X(DUPLICATE_APPEND, "duplicate-append")     /* value appended twice */

enum dkv_hist_anomaly {
#define DKV_HIST_ANOMALY_ENUM_(name, text) DKV_HIST_##name,
	DKV_HIST_FOREACH_ANOMALY(DKV_HIST_ANOMALY_ENUM_)
#undef DKV_HIST_ANOMALY_ENUM_
	DKV_HIST_NANOMALIES
};

/* The result of a check. Filled by dkv_hist_check(), emptied by
 * dkv_hist_report_free() (which leaves it all zero, so freeing twice is
 * harmless). */
struct dkv_hist_report {
	uint64_t count[DKV_HIST_NANOMALIES]; /* anomalies found, per kind */
	uint64_t total;                      /* sum of count[] */
	uint64_t ntxns;                      /* transactions in the history */
	uint64_t nedges;                     /* dependency edges (distinct
						pairs of transactions; with
						real time, rt edges too) */
	uint64_t nrt_edges;                  /* rt edges added (0 unless
						real time was checked) */
	int realtime;                        /* real time was checked */
	/* One line per anomaly, "<name>: <explanation>\n", for the first
	 * DKV_HIST_SHOWN_MAX found, then a line counting the others; "" when
	 * the history is serializable. NUL-terminated, malloc'ed, owned by
	 * the report. Cycles read "T3 -ww-> T7 -rw-> T3" (transaction ids). */
	char *text;
};

struct dkv_hist;

/* An empty history; NULL when out of memory. */
struct dkv_hist *dkv_hist_new(void);

/* Frees a history (NULL is fine), including a transaction still open. */
void dkv_hist_free(struct dkv_hist *h);

/* Starts recording transaction `txid`; ids are unique in a history. */
int dkv_hist_begin(struct dkv_hist *h, uint64_t txid);

/* Records append(key, value) in the open transaction. */
int dkv_hist_append(struct dkv_hist *h, uint64_t key, uint64_t value);

/* Records read(key) -> values[0..n) in the open transaction (values may be
 * NULL when n is 0: the empty list). The values are copied. A FAIL or INFO
 * transaction whose read results are unknown simply records no read. */
int dkv_hist_read(struct dkv_hist *h, uint64_t key, const uint64_t *values,
		  size_t n);

/* Records the open transaction's times, in ns on one monotonic clock for
 * the whole history: invoke_ns when its client began it (before its first
 * operation was sent; for a transaction the database restarts, the first
 * begin), complete_ns when the client learnt its outcome, or
 * DKV_HIST_NEVER when it never did. 0 <= invoke_ns <= complete_ns, else
 * DKV_ERR_INVAL; a second call replaces the first. Only OK and INFO
 * transactions' times are used: an INFO one's completion counts as never
 * (it may commit any time later), a FAIL one is outside the graph. */
int dkv_hist_times(struct dkv_hist *h, int64_t invoke_ns, int64_t complete_ns);

/* Ends the open transaction with its outcome. DKV_ERR_INVAL (the
 * transaction stays open) for an OK one whose times say it never
 * completed. */
int dkv_hist_end(struct dkv_hist *h, enum dkv_hist_outcome outcome);

/* Drops the open transaction, if any, and everything recorded in it. */
void dkv_hist_cancel(struct dkv_hist *h);

/* Transactions recorded (ended) so far; 0 for NULL. */
size_t dkv_hist_ntxns(const struct dkv_hist *h);

/* The times of recorded transaction `txid`: 1 with *invoke_ns and
 * *complete_ns set (either pointer may be NULL), 0 when it has none,
 * DKV_ERR_NOT_FOUND when no ended transaction has that id, DKV_ERR_INVAL
 * for a NULL history. */
int dkv_hist_txn_times(const struct dkv_hist *h, uint64_t txid,
		       int64_t *invoke_ns, int64_t *complete_ns);

/* Checks the history recorded so far. Fills *out (which the caller frees
 * with dkv_hist_report_free) and returns the number of anomalies found
 * (0: serializable as far as the reads reveal; capped at INT_MAX), or a
 * negative code, *out then left all zero. The history is not changed: it
 * can grow and be checked again. */
int dkv_hist_check(const struct dkv_hist *h, struct dkv_hist_report *out);

/* How to check; all zero is dkv_hist_check(). */
struct dkv_hist_check_opts {
	/* Also check real-time order (strict serializability): adds rt edges
	 * and reports the real-time classes. Every OK and INFO transaction
	 * must then have times (DKV_ERR_INVAL otherwise). */
	int realtime;
};

/* dkv_hist_check() as `opts` says (NULL: all zero). With .realtime the
 * report counts and explains the plain classes exactly as without it
 * (first in the text), then, for each component of the graph with rt
 * edges, the most severe real-time class of its cycles through rt edges
 * when that is more severe than every plain class reported inside it
 * (X-realtime ranks with X; docs/histcheck.md). */
int dkv_hist_check_ex(const struct dkv_hist *h,
		      const struct dkv_hist_check_opts *opts,
		      struct dkv_hist_report *out);

/* Frees the report's text and zeroes it; NULL is fine. */
void dkv_hist_report_free(struct dkv_hist_report *r);

/* "G0", "G-single", ... (static); NULL outside the enum. */
const char *dkv_hist_anomaly_name(enum dkv_hist_anomaly kind);

/* Reads transactions from a JSON document (docs/histcheck.md) into h,
 * with their times when given (optional fields invoke_ns, complete_ns:
 * every OK and INFO transaction of a document has them or none does).
 * buf[0..len) need not be NUL-terminated. Returns 0, or DKV_ERR_CORRUPT
 * (malformed JSON, a value of the wrong type or range, a duplicate
 * transaction id, bad or missing times), DKV_ERR_INVAL, DKV_ERR_TOO_BIG,
 * DKV_ERR_NOMEM, with a message in err (NUL-terminated, truncated to
 * errlen; err may be NULL). On failure h keeps the transactions read
 * before the faulty one. */
int dkv_hist_parse_json(struct dkv_hist *h, const char *buf, size_t len,
			char *err, size_t errlen);

/* dkv_hist_parse_json() on the file at `path`, at most DKV_HIST_JSON_MAX
 * bytes (DKV_ERR_TOO_BIG otherwise, before reading it); DKV_ERR_IO when it
 * cannot be read. Messages do not repeat the path. */
int dkv_hist_load_json(struct dkv_hist *h, const char *path, char *err,
		       size_t errlen);

#endif /* DKV_TEST_HISTCHECK_H */
