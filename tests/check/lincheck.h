/*
 * lincheck.h - a linearizability checker for single-key registers, for
 * the "register" fault tests (reads, writes and compare-and-set on single
 * keys). Model, algorithm, JSON form and limits: docs/lincheck.md.
 *
 * A test records what its clients saw: operations, each on one key, with
 * the process that ran it, its kind (read, write, cas), its arguments and
 * result, its invocation and completion times and its outcome (OK: done,
 * result known; FAIL: definitely did not take effect; INFO: unknown).
 * dkv_lin_check() splits the history by key (a history is linearizable
 * iff each key's subhistory is) and searches each key for a linearization
 * with the Wing & Gong algorithm as improved by Lowe and used by Knossos
 * and Porcupine: just-in-time linearization over a list of call and
 * return events, with memoization of (linearized set, value) and an
 * explicit stack. A budget of search steps per key bounds the time;
 * running out of it gives "unknown" for that key, never a false verdict.
 *
 * Values: a register holds a uint64_t value or nothing ("nil", absent);
 * DKV_LIN_NIL stands for nil, so values are 0 .. 2^64 - 2. Every key
 * starts nil unless given an initial value (dkv_lin_initial).
 *
 * Times: int64_t nanoseconds of any clock that is monotonic across all
 * the processes of the history (one test's clock). An operation invoked
 * strictly after another completed is ordered after it; one invoked at
 * the very instant another completes is concurrent with it (the safe
 * choice: a checker must not order what the clock cannot tell apart).
 *
 * Errors: calls return 0 (or a count or verdict, said below) or a
 * negative DKV_ERR_* code (include/dkv_err.h): DKV_ERR_INVAL for a NULL
 * handle or a bad argument, DKV_ERR_TOO_BIG past the limits below,
 * DKV_ERR_NOMEM. A failed call changes nothing, except the JSON readers
 * (see there).
 *
 * Pointers: a struct dkv_lin is owned by its creator and freed with
 * dkv_lin_free(). Operations passed in are copied before the call
 * returns. A report's keys and text are owned by the report and freed by
 * dkv_lin_report_free(). Names returned by dkv_lin_verdict_name() are
 * static. Threads: a history is not thread-safe; use one per thread or
 * lock around it. Checking does not change the history: it can grow and
 * be checked again.
 */
#ifndef DKV_TEST_LINCHECK_H
#define DKV_TEST_LINCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "dkv_err.h"

/* The absent value: a read of a missing key, the initial value, a CAS
 * expecting the key to be absent. Never written. */
#define DKV_LIN_NIL UINT64_MAX

/* Operations in one history, and initial values set. */
#define DKV_LIN_OPS_MAX (UINT32_C(1) << 30)

/* Search steps per key when dkv_lin_check() is given a budget of 0:
 * from a few seconds to half a minute of search on this machine
 * (docs/lincheck.md). */
#define DKV_LIN_BUDGET_DEFAULT UINT64_C(100000000)

/* Bytes of the memoization cache of one key. Past it the search goes on
 * without remembering new states: still exact, possibly slower. */
#define DKV_LIN_CACHE_MAX (UINT64_C(256) << 20)

/* Keys explained in full in a report's text; the others only listed in
 * its keys[] (and counted in the text). */
#define DKV_LIN_SHOWN_MAX 10

/* Bytes of a JSON file dkv_lin_load_json() accepts. */
#define DKV_LIN_JSON_MAX (UINT64_C(1) << 30)

enum dkv_lin_kind {
	DKV_LIN_READ = 1, /* read -> value (or nil) */
	DKV_LIN_WRITE,    /* write value */
	DKV_LIN_CAS,      /* compare-and-set expected -> value */
};

enum dkv_lin_outcome {
	DKV_LIN_OK = 1, /* completed, result known (a CAS that found another
			   value and did not swap is OK, swapped = 0) */
	DKV_LIN_FAIL,   /* definitely did not take effect (an error the
			   server returned before doing anything) */
	DKV_LIN_INFO,   /* unknown (a timeout, a lost connection): may take
			   effect at any instant after its invocation, or
			   never; a read's result is unknown */
};

/* A key's verdict; also what dkv_lin_check() returns for the history. */
enum dkv_lin_verdict {
	DKV_LIN_LINEARIZABLE = 0,
	DKV_LIN_NOT_LINEARIZABLE = 1,
	DKV_LIN_UNKNOWN = 2, /* the budget ran out first: no verdict */
};

/* One operation, as the client saw it. */
struct dkv_lin_op {
	uint64_t process; /* who ran it: only a label in reports */
	uint64_t key;
	enum dkv_lin_kind kind;
	enum dkv_lin_outcome outcome;
	/* READ: the value read, DKV_LIN_NIL for absent (used for OK reads
	 * only; the result of a FAIL or INFO read is unknown, ignored);
	 * WRITE: the value written; CAS: the new value. Written values are
	 * never DKV_LIN_NIL. */
	uint64_t value;
	uint64_t expected; /* CAS: the value compared, DKV_LIN_NIL: absent */
	int swapped;       /* OK CAS: 1 swapped, 0 found another value (did
			      not swap); ignored otherwise */
	int64_t invoke_ns;
	int64_t complete_ns; /* OK and FAIL: >= invoke_ns; INFO: ignored
				(infinite: it never completed) */
};

/* The result of one key. */
struct dkv_lin_key {
	uint64_t key;
	enum dkv_lin_verdict verdict;
	uint64_t nops;     /* its operations in the history, all outcomes */
	uint64_t nsearch;  /* those searched: OK ops, INFO writes and CAS
			      (FAIL ops and INFO reads constrain nothing) */
	uint64_t steps;    /* search steps taken */
	uint64_t prefix;   /* ops in the longest linearizable prefix found
			      (the first found with the most OK ops; when
			      linearizable, the whole linearization: every
			      OK op and the INFO ops that took effect) */
	uint64_t cached;   /* states in the memoization cache at the end */
};

/* The result of a check. Filled by dkv_lin_check(), emptied by
 * dkv_lin_report_free() (which leaves it all zero, so freeing twice is
 * harmless). */
struct dkv_lin_report {
	enum dkv_lin_verdict verdict; /* of the history: NOT_LINEARIZABLE if
					 any key is, else UNKNOWN if any
					 key is, else LINEARIZABLE */
	uint64_t nops;  /* operations in the history */
	uint64_t nkeys; /* distinct keys among them */
	uint64_t nviolations, nunknown; /* keys with those verdicts */
	uint64_t steps;                 /* search steps, all keys */
	uint64_t budget;                /* steps allowed per key */
	/* One per key, ascending key order, nkeys of them; malloc'ed, owned
	 * by the report (NULL when nkeys is 0). */
	struct dkv_lin_key *keys;
	/* The explanation: for each of the first DKV_LIN_SHOWN_MAX keys not
	 * linearizable or unknown, a paragraph starting "key K: ...": the
	 * longest linearizable prefix found (its last operations and the
	 * value it leaves) and the operations none of which can take effect
	 * next, each with why; then a line counting the keys not shown. ""
	 * when the history is linearizable. Operations read
	 * "#12 p3 write 5 [100, 250]": #index in the history (the order of
	 * dkv_lin_op calls, the JSON ops[] index), process, operation,
	 * [invoked, completed] ns ("inf)" for INFO). NUL-terminated,
	 * malloc'ed, owned by the report. */
	char *text;
};

struct dkv_lin;

/* An empty history; NULL when out of memory. */
struct dkv_lin *dkv_lin_new(void);

/* Frees a history; NULL is fine. */
void dkv_lin_free(struct dkv_lin *h);

/* Records one operation (copied). DKV_ERR_INVAL for an unknown kind or
 * outcome, a written value (WRITE, CAS new) of DKV_LIN_NIL, an OK or FAIL
 * op completing before its invocation, an OK CAS whose swapped is not 0
 * or 1; DKV_ERR_TOO_BIG past DKV_LIN_OPS_MAX operations. Operations may
 * come in any order. */
int dkv_lin_op(struct dkv_lin *h, const struct dkv_lin_op *op);

/* Sets the value `key` holds before any operation (DKV_LIN_NIL: absent,
 * the default). A later call for the same key replaces the value.
 * DKV_ERR_TOO_BIG past DKV_LIN_OPS_MAX calls. */
int dkv_lin_initial(struct dkv_lin *h, uint64_t key, uint64_t value);

/* Operations recorded so far; 0 for NULL. */
size_t dkv_lin_nops(const struct dkv_lin *h);

/* Checks the history recorded so far, each key with at most `budget`
 * search steps (0: DKV_LIN_BUDGET_DEFAULT). Fills *out (which the caller
 * frees with dkv_lin_report_free) and returns its verdict:
 * DKV_LIN_LINEARIZABLE (0), DKV_LIN_NOT_LINEARIZABLE (1) or
 * DKV_LIN_UNKNOWN (2), or a negative code, *out then left all zero.
 * Memory: per key, O(its operations) plus the cache, at most
 * DKV_LIN_CACHE_MAX bytes and one state per step. */
int dkv_lin_check(const struct dkv_lin *h, uint64_t budget,
		  struct dkv_lin_report *out);

/* Frees the report's keys and text and zeroes it; NULL is fine. */
void dkv_lin_report_free(struct dkv_lin_report *r);

/* "linearizable", "not linearizable", "unknown" (static); NULL outside
 * the enum. */
const char *dkv_lin_verdict_name(enum dkv_lin_verdict v);

/* Reads operations (and initial values) from a JSON document
 * (docs/lincheck.md) into h. buf[0..len) need not be NUL-terminated.
 * Returns 0, or DKV_ERR_CORRUPT (malformed JSON, a missing or unknown
 * field, a value of the wrong type or range), DKV_ERR_INVAL,
 * DKV_ERR_TOO_BIG, DKV_ERR_NOMEM, with a message naming the place
 * ("ops[3].f: unknown operation \"foo\"") in err (NUL-terminated,
 * truncated to errlen; err may be NULL). On failure h keeps the initial
 * values and the operations read before the faulty one. */
int dkv_lin_parse_json(struct dkv_lin *h, const char *buf, size_t len,
		       char *err, size_t errlen);

/* dkv_lin_parse_json() on the file at `path`, at most DKV_LIN_JSON_MAX
 * bytes (DKV_ERR_TOO_BIG otherwise, before reading it); DKV_ERR_IO when it
 * cannot be read. Messages do not repeat the path. */
int dkv_lin_load_json(struct dkv_lin *h, const char *path, char *err,
		      size_t errlen);

#endif /* DKV_TEST_LINCHECK_H */
