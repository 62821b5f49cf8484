/*
 * The register linearizability checker (tests/check/lincheck.h): the
 * API's contract; hand-made linearizable histories (sequential,
 * concurrent writes, CAS, INFO ops, nil reads, the tie rule) and
 * violations (stale read, a value never written, new-then-old reads, an
 * impossible CAS, a FAIL write read), each violation's explanation;
 * per-key checking; the budget (unknown, never a false verdict, at every
 * budget below the steps a search needs); simulated linearizable
 * registers (must pass) and copies with one read changed to a value it
 * provably cannot see (must fail); random tiny histories judged by a
 * brute-force oracle (both verdicts, INFO ops frequent: the search's
 * pruning rules lose nothing); a large simulated history (timed); the
 * JSON reader; the exit codes of the dkv-lincheck tool.
 *
 * Deterministic: simulated histories come from a seeded generator; the
 * seed is printed, DKV_SEED=<n> replays one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lincheck.h"
#include "../unit/tmpdir.h"

#ifndef DKV_TEST_LINCHECK
#error "DKV_TEST_LINCHECK: path of the dkv-lincheck tool (tests/check.cmake)"
#endif

#define NIL DKV_LIN_NIL
#define LIN DKV_LIN_LINEARIZABLE
#define NOT DKV_LIN_NOT_LINEARIZABLE
#define UNKNOWN DKV_LIN_UNKNOWN

/* --- helpers -------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t num(const char *tok)
{
	char *end;
	uint64_t v;

	if (strcmp(tok, "nil") == 0)
		return NIL;
	v = strtoull(tok, &end, 10);
	if (end == tok || *end != '\0')
		fail_msg("bad number \"%s\"", tok);
	return v;
}

/* Records ops written compactly, separated by ';'. An op is
 *   [pP] [kK] r V | w V | cas E N (ok|no) @INV,COMP [!fail|!info]
 * r: read -> V, w: write V, cas E -> N swapped (ok) or not (no); V and E
 * may be "nil". The process defaults to the op's index, the key to 1.
 * "@INV,inf" is an INFO op. */
static void ops(struct dkv_lin *h, const char *text)
{
	char buf[4096], *save_op = NULL, *o;

	assert_true(strlen(text) < sizeof(buf));
	strcpy(buf, text);
	for (o = strtok_r(buf, ";", &save_op); o != NULL;
	     o = strtok_r(NULL, ";", &save_op)) {
		struct dkv_lin_op op;
		char *save = NULL, *t, *comma;
		int have_time = 0;

		memset(&op, 0, sizeof(op));
		op.process = dkv_lin_nops(h);
		op.key = 1;
		op.outcome = DKV_LIN_OK;
		for (t = strtok_r(o, " ", &save); t != NULL;
		     t = strtok_r(NULL, " ", &save)) {
			if (t[0] == 'p' && t[1] >= '0' && t[1] <= '9') {
				op.process = num(t + 1);
			} else if (t[0] == 'k' && t[1] >= '0' && t[1] <= '9') {
				op.key = num(t + 1);
			} else if (strcmp(t, "r") == 0) {
				op.kind = DKV_LIN_READ;
				op.value = num(strtok_r(NULL, " ", &save));
			} else if (strcmp(t, "w") == 0) {
				op.kind = DKV_LIN_WRITE;
				op.value = num(strtok_r(NULL, " ", &save));
			} else if (strcmp(t, "cas") == 0) {
				op.kind = DKV_LIN_CAS;
				op.expected = num(strtok_r(NULL, " ", &save));
				op.value = num(strtok_r(NULL, " ", &save));
				t = strtok_r(NULL, " ", &save);
				assert_non_null(t);
				op.swapped = strcmp(t, "ok") == 0;
				assert_true(op.swapped || strcmp(t, "no") == 0);
			} else if (t[0] == '@') {
				comma = strchr(t, ',');
				assert_non_null(comma);
				*comma = '\0';
				op.invoke_ns = (int64_t)num(t + 1);
				if (strcmp(comma + 1, "inf") == 0)
					op.outcome = DKV_LIN_INFO;
				else
					op.complete_ns =
						(int64_t)num(comma + 1);
				have_time = 1;
			} else if (strcmp(t, "!fail") == 0) {
				op.outcome = DKV_LIN_FAIL;
			} else if (strcmp(t, "!info") == 0) {
				op.outcome = DKV_LIN_INFO;
			} else {
				fail_msg("bad token \"%s\"", t);
			}
		}
		assert_true(op.kind != 0 && have_time);
		assert_int_equal(dkv_lin_op(h, &op), 0);
	}
}

/* Checks h with `budget`, asserts the verdict, returns the report in *r
 * (the caller frees it). */
static void expect(const struct dkv_lin *h, uint64_t budget,
		   enum dkv_lin_verdict want, struct dkv_lin_report *r)
{
	int rc = dkv_lin_check(h, budget, r);

	if (rc != (int)want)
		fail_msg("verdict %d, want %d; report:\n%s", rc, (int)want,
			 r->text != NULL ? r->text : "(none)");
	assert_int_equal(r->verdict, want);
	assert_non_null(r->text);
	if (want == LIN)
		assert_string_equal(r->text, "");
}

/* A one-history check: records `text` in a fresh history and expects
 * `want`; returns the report (freed by the caller) when r is not NULL. */
static void check_text(const char *text, enum dkv_lin_verdict want,
		       struct dkv_lin_report *r)
{
	struct dkv_lin_report mine;
	struct dkv_lin *h = dkv_lin_new();

	assert_non_null(h);
	ops(h, text);
	expect(h, 0, want, r != NULL ? r : &mine);
	if (r == NULL)
		dkv_lin_report_free(&mine);
	dkv_lin_free(h);
}

static void assert_has(const char *text, const char *part)
{
	if (strstr(text, part) == NULL)
		fail_msg("\"%s\" not in the report:\n%s", part, text);
}

/* --- the API -------------------------------------------------------------- */

static void test_api(void **state)
{
	struct dkv_lin_op op = {.kind = DKV_LIN_WRITE,
				.outcome = DKV_LIN_OK,
				.value = 1,
				.invoke_ns = 10,
				.complete_ns = 20};
	struct dkv_lin_op bad;
	struct dkv_lin_report r;
	struct dkv_lin *h = dkv_lin_new();

	(void)state;
	assert_non_null(h);
	assert_int_equal(dkv_lin_op(NULL, &op), DKV_ERR_INVAL);
	assert_int_equal(dkv_lin_op(h, NULL), DKV_ERR_INVAL);
	bad = op;
	bad.kind = (enum dkv_lin_kind)0;
	assert_int_equal(dkv_lin_op(h, &bad), DKV_ERR_INVAL);
	bad = op;
	bad.outcome = (enum dkv_lin_outcome)9;
	assert_int_equal(dkv_lin_op(h, &bad), DKV_ERR_INVAL);
	bad = op;
	bad.value = NIL; /* nil is never written */
	assert_int_equal(dkv_lin_op(h, &bad), DKV_ERR_INVAL);
	bad.kind = DKV_LIN_CAS;
	assert_int_equal(dkv_lin_op(h, &bad), DKV_ERR_INVAL);
	bad = op;
	bad.complete_ns = 9; /* before its invocation */
	assert_int_equal(dkv_lin_op(h, &bad), DKV_ERR_INVAL);
	bad.outcome = DKV_LIN_FAIL;
	assert_int_equal(dkv_lin_op(h, &bad), DKV_ERR_INVAL);
	bad.outcome = DKV_LIN_INFO; /* completion ignored */
	assert_int_equal(dkv_lin_op(h, &bad), 0);
	bad = op;
	bad.kind = DKV_LIN_CAS;
	bad.swapped = 2;
	assert_int_equal(dkv_lin_op(h, &bad), DKV_ERR_INVAL);
	bad.outcome = DKV_LIN_INFO; /* swapped ignored */
	assert_int_equal(dkv_lin_op(h, &bad), 0);
	assert_int_equal(dkv_lin_nops(h), 2);
	assert_int_equal(dkv_lin_nops(NULL), 0);
	assert_int_equal(dkv_lin_initial(NULL, 1, 1), DKV_ERR_INVAL);

	assert_int_equal(dkv_lin_check(NULL, 0, &r), DKV_ERR_INVAL);
	assert_null(r.text);
	assert_int_equal(dkv_lin_check(h, 0, NULL), DKV_ERR_INVAL);
	expect(h, 0, LIN, &r);
	assert_int_equal(r.nops, 2);
	assert_int_equal(r.nkeys, 1);
	assert_int_equal(r.budget, DKV_LIN_BUDGET_DEFAULT);
	assert_int_equal(r.keys[0].key, 0);
	assert_int_equal(r.keys[0].nops, 2);
	assert_int_equal(r.keys[0].nsearch, 2);
	assert_int_equal(r.keys[0].prefix, 0); /* INFO ops may be dropped */
	dkv_lin_report_free(&r);
	dkv_lin_report_free(&r);
	dkv_lin_report_free(NULL);

	assert_string_equal(dkv_lin_verdict_name(LIN), "linearizable");
	assert_string_equal(dkv_lin_verdict_name(NOT), "not linearizable");
	assert_string_equal(dkv_lin_verdict_name(UNKNOWN), "unknown");
	assert_null(dkv_lin_verdict_name((enum dkv_lin_verdict)3));
	dkv_lin_free(h);
	dkv_lin_free(NULL);

	/* an empty history: no keys, linearizable */
	h = dkv_lin_new();
	expect(h, 0, LIN, &r);
	assert_int_equal(r.nkeys, 0);
	assert_null(r.keys);
	dkv_lin_report_free(&r);
	dkv_lin_free(h);
}

/* --- linearizable histories ----------------------------------------------- */

static void test_sequential(void **state)
{
	struct dkv_lin_report r;
	struct dkv_lin *h = dkv_lin_new();

	(void)state;
	ops(h, "r nil @0,1; w 1 @2,3; r 1 @4,5; w 2 @6,7; r 2 @8,9; "
	       "cas 2 3 ok @10,11; r 3 @12,13; cas 2 4 no @14,15; r 3 @16,17; "
	       "cas 3 3 ok @18,19; r 3 @20,21");
	expect(h, 0, LIN, &r);
	assert_int_equal(r.keys[0].prefix, 11);
	assert_int_equal(r.keys[0].nsearch, 11);
	dkv_lin_report_free(&r);
	dkv_lin_free(h);

	/* an initial value; a CAS expecting nil on a key that has none */
	h = dkv_lin_new();
	assert_int_equal(dkv_lin_initial(h, 1, 99), 0);
	assert_int_equal(dkv_lin_initial(h, 1, 5), 0); /* the last wins */
	assert_int_equal(dkv_lin_initial(h, 2, 7), 0); /* no ops: ignored */
	ops(h, "r 5 @0,1; cas 5 6 ok @2,3; r 6 @4,5; "
	       "k3 cas nil 1 ok @0,1; k3 cas nil 2 no @2,3; k3 r 1 @4,5");
	expect(h, 0, LIN, &r);
	assert_int_equal(r.nkeys, 2);
	dkv_lin_report_free(&r);
	dkv_lin_free(h);

	/* ops recorded in any order */
	check_text("r 2 @8,9; w 2 @6,7; r 1 @4,5; w 1 @2,3; r nil @0,1", LIN,
		   NULL);
}

static void test_concurrent(void **state)
{
	(void)state;
	/* two concurrent writes; reads during them see either value, in
	 * an order one linearization explains */
	check_text("w 1 @0,100; w 2 @0,100; r 1 @10,20; r 2 @30,40", LIN,
		   NULL);
	check_text("w 1 @0,100; w 2 @0,100; r 2 @10,20; r 1 @30,40", LIN,
		   NULL);
	check_text("w 1 @0,100; w 2 @0,100; r nil @10,20; r 2 @30,40; "
		   "r 2 @110,120",
		   LIN, NULL);
	/* concurrent reads may see old and new in any order */
	check_text("w 1 @0,10; w 2 @20,60; r 2 @25,50; r 1 @30,55", LIN,
		   NULL);
	/* a read concurrent with everything */
	check_text("w 1 @0,10; w 2 @20,30; w 3 @40,50; r 1 @5,100", LIN, NULL);
	/* CAS racing: one swaps, the other finds the new value */
	check_text("w 0 @0,1; cas 0 1 ok @10,50; cas 0 2 no @10,50; r 1 @60,70",
		   LIN, NULL);
	check_text("w 0 @0,1; cas 0 1 ok @10,50; cas 1 2 ok @10,50; "
		   "r 2 @60,70",
		   LIN, NULL);
}

static void test_info(void **state)
{
	(void)state;
	/* an INFO write read later: it took effect */
	check_text("w 1 @0,10; w 5 @20,inf; r 5 @100,110", LIN, NULL);
	/* ... possibly long after its invocation */
	check_text("w 5 @20,inf; r nil @30,40; w 1 @50,60; r 1 @70,80; "
		   "r 5 @100,110",
		   LIN, NULL);
	/* never read: it may never have taken effect */
	check_text("w 1 @0,10; w 5 @20,inf; r 1 @100,110; r 1 @120,130", LIN,
		   NULL);
	/* an INFO CAS, taking effect or not */
	check_text("w 1 @0,10; cas 1 2 ok @20,inf; r 2 @100,110", LIN, NULL);
	check_text("w 1 @0,10; cas 1 2 ok @20,inf; r 1 @100,110", LIN, NULL);
	/* an INFO read's result is unknown: ignored */
	check_text("w 1 @0,10; r 7 @20,inf", LIN, NULL);
	/* a FAIL write never read; a FAIL CAS */
	check_text("w 1 @0,10; w 2 @20,30 !fail; cas 1 3 ok @40,50 !fail; "
		   "r 1 @60,70",
		   LIN, NULL);
	/* two identical INFO writes, both needed: each takes effect once */
	check_text("w 5 @0,inf; w 5 @0,inf; r 5 @10,20; w 1 @30,40; "
		   "r 5 @50,60",
		   LIN, NULL);
	check_text("w 5 @0,inf; w 5 @1,inf; w 5 @2,inf; r 5 @10,20; "
		   "w 1 @30,40; r 5 @50,60; w 2 @70,80; r 5 @90,95",
		   LIN, NULL);
	check_text("w 5 @0,inf; w 5 @0,inf; r 5 @10,20; w 1 @30,40; "
		   "r 5 @50,60; w 2 @70,80; r 5 @90,95",
		   NOT, NULL);
	/* identical INFO CAS, chained through a write */
	check_text("w 1 @0,1; cas 1 2 ok @2,inf; cas 1 2 ok @3,inf; "
		   "r 2 @10,20; w 1 @30,40; r 2 @50,60",
		   LIN, NULL);
	/* but an INFO write cannot take effect before its invocation */
	check_text("r 5 @0,10; w 5 @20,inf", NOT, NULL);
	/* nor twice */
	check_text("w 5 @0,inf; r 5 @10,20; w 1 @30,40; r 5 @50,60", NOT, NULL);
}

static void test_nil_and_ties(void **state)
{
	struct dkv_lin_report r;

	(void)state;
	/* reads of nil before any write, and concurrent with the first */
	check_text("r nil @0,5; w 1 @10,20; r nil @12,14; r 1 @30,40", LIN,
		   NULL);
	/* tie rule: invoked at the instant another completed means
	 * concurrent, so the read may come before the write */
	check_text("w 1 @0,10; r nil @10,20", LIN, NULL);
	/* invoked strictly after: ordered after */
	check_text("w 1 @0,10; r nil @11,20", NOT, &r);
	assert_has(r.text, "#1 p1 read -> nil [11, 20]: the value is 1");
	dkv_lin_report_free(&r);
	/* an op of zero length */
	check_text("w 1 @5,5; r 1 @5,5; w 2 @5,5; r 2 @6,6", LIN, NULL);
}

/* --- violations ----------------------------------------------------------- */

static void test_stale_read(void **state)
{
	struct dkv_lin_report r;

	(void)state;
	check_text("p7 w 1 @0,10; p8 w 2 @20,30; p9 r 1 @40,50", NOT, &r);
	assert_int_equal(r.nviolations, 1);
	assert_int_equal(r.keys[0].verdict, NOT);
	assert_int_equal(r.keys[0].prefix, 2);
	assert_has(r.text, "key 1: not linearizable (3 ops searched");
	assert_has(r.text, "longest linearizable prefix found: 2 ops, "
			   "leaving the value 2");
	assert_has(r.text, "    #0 p7 write 1 [0, 10]\n"
			   "    #1 p8 write 2 [20, 30]\n");
	assert_has(r.text, "by the time #2 completed, at 50");
	assert_has(r.text, "    #2 p9 read -> 1 [40, 50]: the value is 2\n");
	dkv_lin_report_free(&r);
}

static void test_garbage_read(void **state)
{
	struct dkv_lin_report r;

	(void)state;
	check_text("w 1 @0,10; r 9 @20,30", NOT, &r);
	assert_has(r.text, "read -> 9 [20, 30]: the value is 1 (no op that "
			   "may have taken effect writes 9)");
	dkv_lin_report_free(&r);
	/* the first op already impossible */
	check_text("r 3 @0,10; w 3 @20,30", NOT, &r);
	assert_has(r.text, "no op can take effect first: the initial value "
			   "is nil");
	assert_int_equal(r.keys[0].prefix, 0);
	dkv_lin_report_free(&r);
}

static void test_new_then_old(void **state)
{
	struct dkv_lin_report r;

	(void)state;
	/* both reads inside the write, in real-time order: new then old */
	check_text("w 1 @0,5; w 2 @10,100; r 2 @20,30; r 1 @40,50", NOT, &r);
	assert_has(r.text, "read -> 1 [40, 50]: the value is 2");
	dkv_lin_report_free(&r);
	/* the same with nil and the first write */
	check_text("w 1 @0,100; r 1 @10,20; r nil @30,40", NOT, NULL);
}

static void test_impossible_cas(void **state)
{
	struct dkv_lin_report r;

	(void)state;
	/* swaps from a value the register no longer holds */
	check_text("w 1 @0,10; w 2 @20,30; cas 1 3 ok @40,50", NOT, &r);
	assert_has(r.text, "cas 1 -> 3 swapped [40, 50]: the value is 2, "
			   "not 1");
	dkv_lin_report_free(&r);
	/* two CAS from the same value both swap */
	check_text("w 0 @0,1; cas 0 1 ok @10,50; cas 0 2 ok @10,50", NOT, NULL);
	/* a CAS that says it did not swap while the value matched */
	check_text("w 4 @0,10; cas 4 5 no @20,30", NOT, &r);
	assert_has(r.text, "the value is 4, so it would have swapped");
	dkv_lin_report_free(&r);
	/* a CAS expecting nil after a write */
	check_text("w 4 @0,10; cas nil 5 ok @20,30", NOT, NULL);
}

static void test_fail_write_read(void **state)
{
	struct dkv_lin_report r;

	(void)state;
	/* a lost INFO write is fine; a FAIL write that is read is not */
	check_text("w 1 @0,10; w 2 @20,inf; r 1 @30,40", LIN, NULL);
	check_text("w 1 @0,10; w 2 @20,30 !fail; r 2 @40,50", NOT, &r);
	assert_has(r.text, "(no op that may have taken effect writes 2)");
	dkv_lin_report_free(&r);
	/* a FAIL CAS whose new value is read */
	check_text("w 1 @0,10; cas 1 2 ok @20,30 !fail; r 2 @40,50", NOT,
		   NULL);
}

/* --- keys ----------------------------------------------------------------- */

static void test_multi_key(void **state)
{
	struct dkv_lin_report r;
	struct dkv_lin *h = dkv_lin_new();
	char buf[256];
	int k;

	(void)state;
	/* key 2 stale, key 1 and 3 fine, interleaved; key 9 only FAIL ops */
	ops(h, "k3 w 1 @0,10; k2 w 1 @0,10; k1 w 1 @0,10; "
	       "k2 w 2 @20,30; k1 r 1 @20,30; k9 w 4 @0,1 !fail; "
	       "k3 r 1 @40,50; k2 r 1 @40,50; k1 w 2 @40,50; k3 r 1 @60,70");
	expect(h, 0, NOT, &r);
	assert_int_equal(r.nkeys, 4);
	assert_int_equal(r.nviolations, 1);
	assert_int_equal(r.nunknown, 0);
	assert_int_equal(r.keys[0].key, 1);
	assert_int_equal(r.keys[0].verdict, LIN);
	assert_int_equal(r.keys[0].nops, 3);
	assert_int_equal(r.keys[1].key, 2);
	assert_int_equal(r.keys[1].verdict, NOT);
	assert_int_equal(r.keys[2].key, 3);
	assert_int_equal(r.keys[2].verdict, LIN);
	assert_int_equal(r.keys[3].key, 9);
	assert_int_equal(r.keys[3].verdict, LIN);
	assert_int_equal(r.keys[3].nops, 1);
	assert_int_equal(r.keys[3].nsearch, 0);
	assert_has(r.text, "key 2: not linearizable");
	assert_null(strstr(r.text, "key 1:"));
	assert_has(r.text, "#7 p7 read -> 1 [40, 50]: the value is 2");
	dkv_lin_report_free(&r);
	dkv_lin_free(h);

	/* more bad keys than explained: the rest counted */
	h = dkv_lin_new();
	for (k = 0; k < DKV_LIN_SHOWN_MAX + 3; k++) {
		snprintf(buf, sizeof(buf), "k%d w 1 @0,1; k%d r 2 @2,3", k, k);
		ops(h, buf);
	}
	expect(h, 0, NOT, &r);
	assert_int_equal(r.nviolations, DKV_LIN_SHOWN_MAX + 3);
	assert_has(r.text, "... and 3 more keys not linearizable or unknown");
	dkv_lin_report_free(&r);
	dkv_lin_free(h);
}

/* --- simulated registers -------------------------------------------------- */

struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *g) /* splitmix64 */
{
	uint64_t z = (g->s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t below(struct rng *g, uint64_t n)
{
	return rnd(g) % n;
}

static uint64_t test_seed(void)
{
	const char *s = getenv("DKV_SEED");
	uint64_t seed = s != NULL ? strtoull(s, NULL, 0) : UINT64_C(20240612);

	fprintf(stderr, "seed %" PRIu64 " (DKV_SEED=%" PRIu64 " replays)\n",
		seed, seed);
	return seed;
}

#define SIM_KEYS_MAX 8
#define SIM_PROCS_MAX 16

/* A simulated history: every op takes effect (or not: FAIL, half the
 * INFO ones) at an instant inside its interval, in instant order, on a
 * model register per key; results come from the model. */
struct sim {
	struct dkv_lin_op *ops;
	int64_t *at; /* the instant it took effect */
	size_t n;
	int nkeys;
	uint64_t init[SIM_KEYS_MAX];
};

struct sim_params {
	int nkeys, nprocs;
	size_t nops;
	uint64_t values; /* 0: unique values; else drawn from [0, values) */
	int maxdur;      /* op length in ns: 1 .. maxdur */
	unsigned info;   /* percent of INFO ops (and 7% FAIL ops) */
};

static const int64_t *sort_at;

static int cmp_at(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	if (sort_at[x] != sort_at[y])
		return sort_at[x] < sort_at[y] ? -1 : 1;
	return (x > y) - (x < y);
}

static void sim_gen(struct sim *s, struct rng *g, const struct sim_params *p)
{
	int64_t clock[SIM_PROCS_MAX];
	uint64_t pid[SIM_PROCS_MAX], st[SIM_KEYS_MAX], next_value = 1;
	uint8_t applies;
	size_t i, *order;
	int q;

	assert_true(p->nkeys <= SIM_KEYS_MAX && p->nprocs <= SIM_PROCS_MAX);
	memset(s, 0, sizeof(*s));
	s->n = p->nops;
	s->nkeys = p->nkeys;
	s->ops = calloc(s->n, sizeof(*s->ops));
	s->at = calloc(s->n, sizeof(*s->at));
	order = calloc(s->n, sizeof(*order));
	assert_non_null(s->ops);
	assert_non_null(s->at);
	assert_non_null(order);
	for (q = 0; q < p->nkeys; q++)
		st[q] = s->init[q] =
			below(g, 2) == 0 ? NIL : below(g, p->values + 1);
	for (q = 0; q < p->nprocs; q++) {
		clock[q] = (int64_t)below(g, 10);
		pid[q] = (uint64_t)q;
	}
	/* intervals: each process one op at a time; an op may start at the
	 * very instant the previous one ended (ties are common) */
	for (i = 0; i < s->n; i++) {
		struct dkv_lin_op *o = &s->ops[i];
		int64_t dur = 1 + (int64_t)below(g, (uint64_t)p->maxdur);
		unsigned roll = (unsigned)below(g, 100);

		q = (int)(i % (size_t)p->nprocs);
		o->process = pid[q];
		o->key = below(g, (uint64_t)p->nkeys);
		o->invoke_ns = clock[q] + (int64_t)below(g, 4);
		o->complete_ns = o->invoke_ns + dur;
		s->at[i] = o->invoke_ns + (int64_t)below(g, (uint64_t)dur + 1);
		clock[q] = o->complete_ns;
		o->outcome = roll < 93 - p->info ? DKV_LIN_OK
			     : roll < 93	    ? DKV_LIN_INFO
						    : DKV_LIN_FAIL;
		if (o->outcome == DKV_LIN_INFO)
			pid[q] += (uint64_t)p->nprocs; /* a new process */
		roll = (unsigned)below(g, 100);
		o->kind = roll < 45 ? DKV_LIN_READ
			  : roll < 75 ? DKV_LIN_WRITE
				      : DKV_LIN_CAS;
		o->value = p->values != 0 ? below(g, p->values) : next_value++;
		order[i] = i;
	}
	sort_at = s->at;
	qsort(order, s->n, sizeof(*order), cmp_at);
	for (i = 0; i < s->n; i++) {
		struct dkv_lin_op *o = &s->ops[order[i]];
		uint64_t *v = &st[o->key];

		applies = o->outcome == DKV_LIN_OK ||
			  (o->outcome == DKV_LIN_INFO && below(g, 2) == 0);
		if (o->kind == DKV_LIN_CAS)
			o->expected = below(g, 2) == 0	? *v
				      : below(g, 4) == 0 ? NIL
				      : p->values != 0
					      ? below(g, p->values)
					      : below(g, next_value);
		if (!applies) {
			s->at[order[i]] = INT64_MIN;
			continue;
		}
		switch (o->kind) {
		case DKV_LIN_READ:
			o->value = *v;
			break;
		case DKV_LIN_WRITE:
			*v = o->value;
			break;
		default:
			o->swapped = *v == o->expected;
			if (o->swapped)
				*v = o->value;
			break;
		}
	}
	free(order);
}

static void sim_free(struct sim *s)
{
	free(s->ops);
	free(s->at);
	memset(s, 0, sizeof(*s));
}

/* A history of the simulation, its ops recorded in a random order. */
static struct dkv_lin *sim_history(const struct sim *s, struct rng *g)
{
	struct dkv_lin *h = dkv_lin_new();
	size_t i, j, *perm = calloc(s->n, sizeof(*perm));
	int k;

	assert_non_null(h);
	assert_non_null(perm);
	for (k = 0; k < s->nkeys; k++)
		if (s->init[k] != NIL || below(g, 2) == 0)
			assert_int_equal(
				dkv_lin_initial(h, (uint64_t)k, s->init[k]),
				0);
	for (i = 0; i < s->n; i++)
		perm[i] = i;
	for (i = s->n; i > 1; i--) {
		size_t t;

		j = below(g, i);
		t = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < s->n; i++)
		assert_int_equal(dkv_lin_op(h, &s->ops[perm[i]]), 0);
	free(perm);
	return h;
}

/* Whether no linearization lets the OK read r (ops[r]) return v: every
 * source of v (an op that may have written it, or the initial value) is
 * followed, strictly in real time, by an OK op writing another value
 * that completes strictly before r is invoked. */
static int impossible(const struct sim *s, size_t r, uint64_t v)
{
	const struct dkv_lin_op *rd = &s->ops[r];
	size_t i, j;
	int src_init = s->init[rd->key] == v;

	for (i = 0; i < s->n + (size_t)src_init; i++) {
		int64_t after = INT64_MIN; /* the source's completion */
		int blocked = 0;

		if (i < s->n) {
			const struct dkv_lin_op *o = &s->ops[i];

			if (o->key != rd->key || o->outcome == DKV_LIN_FAIL ||
			    o->kind == DKV_LIN_READ || o->value != v ||
			    (o->kind == DKV_LIN_CAS &&
			     o->outcome == DKV_LIN_OK && !o->swapped))
				continue;
			if (o->outcome == DKV_LIN_INFO)
				return 0; /* may take effect any time */
			after = o->complete_ns;
		}
		for (j = 0; j < s->n && !blocked; j++) {
			const struct dkv_lin_op *b = &s->ops[j];

			blocked = b->key == rd->key &&
				  b->outcome == DKV_LIN_OK &&
				  b->value != v &&
				  (b->kind == DKV_LIN_WRITE ||
				   (b->kind == DKV_LIN_CAS && b->swapped)) &&
				  (i == s->n || b->invoke_ns > after) &&
				  b->complete_ns < rd->invoke_ns;
		}
		if (!blocked)
			return 0;
	}
	return 1;
}

/* Changes one OK read's result to a value it provably cannot see:
 * preferably a stale one (written before, then overwritten), else one
 * never written. Returns 1 for a stale value, 0 for a fresh one, -1 when
 * the history has no OK read. */
static int sim_mutate(struct sim *s, struct rng *g, size_t *which)
{
	size_t i, r = s->n, nreads = 0, tries;

	for (i = 0; i < s->n; i++)
		if (s->ops[i].kind == DKV_LIN_READ &&
		    s->ops[i].outcome == DKV_LIN_OK && below(g, ++nreads) == 0)
			r = i;
	if (r == s->n)
		return -1;
	*which = r;
	for (tries = 0; tries < 64; tries++) {
		const struct dkv_lin_op *o = &s->ops[below(g, s->n)];
		uint64_t v = below(g, 8) == 0 ? NIL : o->value;

		if (o->key != s->ops[r].key || v == s->ops[r].value ||
		    (o->kind == DKV_LIN_READ && v != NIL))
			continue;
		if (impossible(s, r, v)) {
			s->ops[r].value = v;
			return 1;
		}
	}
	s->ops[r].value = UINT64_C(1) << 62; /* never written */
	assert_true(impossible(s, r, s->ops[r].value));
	return 0;
}

static void test_simulated(void **state)
{
	struct rng g = {test_seed()};
	struct dkv_lin_report r;
	struct dkv_lin *h;
	struct sim s;
	unsigned round, stale = 0, mutated = 0;
	size_t which;
	int m;

	(void)state;
	for (round = 0; round < 400; round++) {
		struct sim_params p = {
			.nkeys = 1 + (int)below(&g, 3),
			.nprocs = 2 + (int)below(&g, 6),
			.nops = 5 + below(&g, 60),
			.values = round % 2 == 0 ? 0 : 1 + below(&g, 4),
			.maxdur = 1 + (int)below(&g, 40),
			.info = (unsigned)below(&g, 15),
		};

		sim_gen(&s, &g, &p);
		h = sim_history(&s, &g);
		if (dkv_lin_check(h, 0, &r) != LIN)
			fail_msg("round %u: a simulated register judged %s:\n%s",
				 round, dkv_lin_verdict_name(r.verdict),
				 r.text);
		dkv_lin_report_free(&r);
		dkv_lin_free(h);

		m = sim_mutate(&s, &g, &which);
		if (m >= 0) {
			mutated++;
			stale += (unsigned)m;
			h = sim_history(&s, &g);
			if (dkv_lin_check(h, 0, &r) != NOT)
				fail_msg("round %u: read %zu changed to "
					 "%" PRIu64 ", judged %s",
					 round, which, s.ops[which].value,
					 dkv_lin_verdict_name(r.verdict));
			dkv_lin_report_free(&r);
			dkv_lin_free(h);
		}
		sim_free(&s);
	}
	fprintf(stderr, "%u mutated histories, %u with a stale value\n",
		mutated, stale);
	assert_true(mutated > 300);
	assert_true(stale > mutated / 3); /* the harder kind, mostly */
}

/* --- an oracle ----------------------------------------------------------- */

#define ORACLE_OPS 10

/* Brute force, for tiny histories: is there an order of the ops that
 * may have taken effect (every OK op, any INFO write or CAS) that the
 * register allows and that puts every OK op after every OK op completed
 * strictly before its invocation? A plain search over (set, value),
 * sharing nothing with lincheck.c but the rules of the model. */
struct oracle {
	const struct dkv_lin_op *ops;
	size_t n;
	uint8_t *seen; /* [set][value index] visited */
	uint64_t vals[2 * ORACLE_OPS + 2];
	size_t nvals;
};

static size_t oracle_vi(struct oracle *o, uint64_t v)
{
	size_t i;

	for (i = 0; i < o->nvals; i++)
		if (o->vals[i] == v)
			return i;
	assert_true(o->nvals < sizeof(o->vals) / sizeof(o->vals[0]));
	o->vals[o->nvals] = v;
	return o->nvals++;
}

static int oracle_dfs(struct oracle *o, unsigned set, uint64_t v)
{
	size_t i, j, vi = oracle_vi(o, v);
	int done = 1;

	if (o->seen[(size_t)set * (2 * ORACLE_OPS + 2) + vi])
		return 0;
	o->seen[(size_t)set * (2 * ORACLE_OPS + 2) + vi] = 1;
	for (i = 0; i < o->n; i++)
		if (o->ops[i].outcome == DKV_LIN_OK && !(set >> i & 1))
			done = 0;
	if (done)
		return 1;
	for (i = 0; i < o->n; i++) {
		const struct dkv_lin_op *x = &o->ops[i];
		uint64_t next = v;
		int ok = 1;

		if (set >> i & 1)
			continue;
		for (j = 0; j < o->n && ok; j++)
			ok = (set >> j & 1) || o->ops[j].outcome != DKV_LIN_OK ||
			     !(o->ops[j].complete_ns < x->invoke_ns);
		if (!ok)
			continue;
		if (x->kind == DKV_LIN_READ)
			ok = x->value == v;
		else if (x->kind == DKV_LIN_WRITE)
			next = x->value;
		else if (x->outcome == DKV_LIN_OK && !x->swapped)
			ok = v != x->expected;
		else if ((ok = v == x->expected))
			next = x->value;
		if (ok && oracle_dfs(o, set | 1u << i, next))
			return 1;
	}
	return 0;
}

static int oracle(const struct dkv_lin_op *all, size_t n, uint64_t init)
{
	struct dkv_lin_op ops[ORACLE_OPS];
	struct oracle o;
	size_t i, m = 0;
	int rc;

	for (i = 0; i < n; i++)
		if (all[i].outcome == DKV_LIN_OK ||
		    (all[i].outcome == DKV_LIN_INFO &&
		     all[i].kind != DKV_LIN_READ))
			ops[m++] = all[i];
	memset(&o, 0, sizeof(o));
	o.ops = ops;
	o.n = m;
	o.seen = calloc((size_t)1 << m, 2 * ORACLE_OPS + 2);
	assert_non_null(o.seen);
	rc = oracle_dfs(&o, 0, init);
	free(o.seen);
	return rc;
}

/* Random tiny histories, results drawn at random (most are not
 * linearizable, many are), INFO ops frequent: the checker agrees with
 * the oracle on every one. */
static void test_oracle(void **state)
{
	struct rng g = {test_seed() + 3};
	struct dkv_lin_op ops[ORACLE_OPS];
	struct dkv_lin_report r;
	unsigned round, lin = 0, not = 0;
	uint64_t init;
	size_t i, n;
	int want;

	(void)state;
	for (round = 0; round < 20000; round++) {
		struct dkv_lin *h = dkv_lin_new();

		assert_non_null(h);
		n = 1 + below(&g, ORACLE_OPS);
		init = below(&g, 3) == 0 ? below(&g, 3) : NIL;
		if (init != NIL || below(&g, 2) == 0)
			assert_int_equal(dkv_lin_initial(h, 5, init), 0);
		for (i = 0; i < n; i++) {
			struct dkv_lin_op *o = &ops[i];
			unsigned roll = (unsigned)below(&g, 100);

			memset(o, 0, sizeof(*o));
			o->process = i;
			o->key = 5;
			o->kind = (enum dkv_lin_kind)(1 + below(&g, 3));
			o->outcome = roll < 65   ? DKV_LIN_OK
				     : roll < 90 ? DKV_LIN_INFO
						 : DKV_LIN_FAIL;
			o->value = below(&g, 3);
			if (o->kind == DKV_LIN_READ && below(&g, 4) == 0)
				o->value = NIL;
			o->expected = below(&g, 4) == 0 ? NIL : below(&g, 3);
			o->swapped = below(&g, 2) == 0;
			o->invoke_ns = (int64_t)below(&g, 12);
			o->complete_ns = o->invoke_ns + (int64_t)below(&g, 6);
			assert_int_equal(dkv_lin_op(h, o), 0);
		}
		want = oracle(ops, n, init) ? LIN : NOT;
		if (dkv_lin_check(h, 0, &r) != want) {
			for (i = 0; i < n; i++)
				print_message("op %zu: kind %d outcome %d value "
					      "%" PRIu64 " expected %" PRIu64
					      " swapped %d [%" PRId64
					      ", %" PRId64 "]\n",
					      i, ops[i].kind, ops[i].outcome,
					      ops[i].value, ops[i].expected,
					      ops[i].swapped, ops[i].invoke_ns,
					      ops[i].complete_ns);
			fail_msg("round %u: the oracle says %s, the checker "
				 "%s (initial %" PRIu64 ")",
				 round, dkv_lin_verdict_name(want),
				 dkv_lin_verdict_name(r.verdict), init);
		}
		lin += want == LIN;
		not += want == NOT;
		dkv_lin_report_free(&r);
		dkv_lin_free(h);
	}
	fprintf(stderr, "%u linearizable, %u not, as the oracle says\n", lin,
		not);
	assert_true(lin > 2000 && not > 2000);
}

/* --- the budget ----------------------------------------------------------- */

/* With any budget below the steps the search takes, the answer is
 * unknown; with that many or more, the true verdict. Never a false one. */
static void budget_sweep(const struct dkv_lin *h, enum dkv_lin_verdict truth)
{
	struct dkv_lin_report r;
	uint64_t steps, b;

	expect(h, 0, truth, &r);
	assert_int_equal(r.nkeys, 1);
	steps = r.keys[0].steps;
	dkv_lin_report_free(&r);
	for (b = 1; b < steps + 3; b++) {
		expect(h, b, b < steps ? UNKNOWN : truth, &r);
		if (b < steps) {
			assert_int_equal(r.nunknown, 1);
			assert_int_equal(r.keys[0].steps, b);
			assert_has(r.text, ": unknown: the budget of");
		}
		dkv_lin_report_free(&r);
	}
}

static void test_budget(void **state)
{
	struct rng g = {test_seed() + 1};
	struct dkv_lin_report r;
	struct dkv_lin *h = dkv_lin_new();
	struct sim s;
	size_t which;
	unsigned round;
	uint64_t steps;

	(void)state;
	ops(h, "w 1 @0,100; w 2 @0,100; w 3 @0,100; r 1 @110,120");
	expect(h, 1, UNKNOWN, &r);
	assert_int_equal(r.nunknown, 1);
	assert_int_equal(r.steps, 1);
	assert_int_equal(r.budget, 1);
	dkv_lin_report_free(&r);
	budget_sweep(h, LIN);
	dkv_lin_free(h);

	h = dkv_lin_new();
	ops(h, "w 1 @0,100; w 2 @0,100; w 3 @0,100; r 1 @110,120; "
	       "r 2 @130,140");
	expect(h, 1, UNKNOWN, &r); /* not a false "not linearizable" */
	dkv_lin_report_free(&r);
	budget_sweep(h, NOT);
	dkv_lin_free(h);

	/* an unknown key does not hide a bad one, nor is it taken for one:
	 * key 2 needs fewer steps than key 1 */
	h = dkv_lin_new();
	ops(h, "k1 w 1 @0,100; k1 w 2 @0,100; k1 w 3 @0,100; "
	       "k1 r 1 @110,120");
	expect(h, 0, LIN, &r);
	steps = r.steps;
	dkv_lin_report_free(&r);
	dkv_lin_free(h);
	h = dkv_lin_new();
	ops(h, "k2 w 1 @0,10; k2 r 2 @20,30");
	expect(h, 0, NOT, &r);
	assert_true(r.steps < steps);
	steps = r.steps;
	dkv_lin_report_free(&r);
	ops(h, "k1 w 1 @0,100; k1 w 2 @0,100; k1 w 3 @0,100; "
	       "k1 r 1 @110,120");
	expect(h, steps, NOT, &r);
	assert_int_equal(r.keys[0].verdict, UNKNOWN);
	assert_int_equal(r.keys[1].verdict, NOT);
	assert_int_equal(r.nunknown, 1);
	dkv_lin_report_free(&r);
	dkv_lin_free(h);

	for (round = 0; round < 40; round++) {
		struct sim_params p = {.nkeys = 1,
				       .nprocs = 4,
				       .nops = 30,
				       .values = round % 2 == 0 ? 0 : 3,
				       .maxdur = 30,
				       .info = 7};

		sim_gen(&s, &g, &p);
		h = sim_history(&s, &g);
		budget_sweep(h, LIN);
		dkv_lin_free(h);
		if (sim_mutate(&s, &g, &which) >= 0) {
			h = sim_history(&s, &g);
			budget_sweep(h, NOT);
			dkv_lin_free(h);
		}
		sim_free(&s);
	}
}

/* --- a large history ------------------------------------------------------ */

static void test_large(void **state)
{
	struct rng g = {test_seed() + 2};
	struct sim_params p = {.nkeys = 5,
			       .nprocs = 10,
			       .nops = 10000,
			       .values = 0,
			       .maxdur = 100,
			       .info = 7};
	struct dkv_lin_report r;
	struct dkv_lin *h;
	struct sim s;
	double t0, t1;
	size_t which;
	uint64_t k;

	(void)state;
	sim_gen(&s, &g, &p);
	h = sim_history(&s, &g);
	t0 = now();
	expect(h, 0, LIN, &r);
	t1 = now();
	fprintf(stderr,
		"%" PRIu64 " ops, %" PRIu64 " keys, 10 processes: "
		"linearizable in %.3f s, %" PRIu64 " steps\n",
		r.nops, r.nkeys, t1 - t0, r.steps);
	for (k = 0; k < r.nkeys; k++)
		assert_true(r.keys[k].nsearch > 1500);
	dkv_lin_report_free(&r);
	dkv_lin_free(h);

	/* the same with small values: many equal writes to tell apart */
	sim_free(&s);
	p.values = 3;
	sim_gen(&s, &g, &p);
	h = sim_history(&s, &g);
	t0 = now();
	expect(h, 0, LIN, &r);
	t1 = now();
	fprintf(stderr, "the same with 3 values: %.3f s, %" PRIu64 " steps\n",
		t1 - t0, r.steps);
	dkv_lin_report_free(&r);
	dkv_lin_free(h);

	/* unique values again, fewer INFO ops, one read changed: the
	 * search must exhaust every order before it (docs/lincheck.md) */
	sim_free(&s);
	p.values = 0;
	p.info = 2;
	sim_gen(&s, &g, &p);
	assert_true(sim_mutate(&s, &g, &which) >= 0);
	h = sim_history(&s, &g);
	t0 = now();
	expect(h, 0, NOT, &r);
	t1 = now();
	fprintf(stderr,
		"one read changed (2%% INFO ops): not linearizable in %.3f "
		"s, %" PRIu64 " steps\n",
		t1 - t0, r.steps);
	assert_int_equal(r.nviolations, 1);
	dkv_lin_report_free(&r);
	dkv_lin_free(h);
	sim_free(&s);
}

/* --- JSON ----------------------------------------------------------------- */

static const char good_json[] =
	"{\"ops\": ["
	"{\"process\": 3, \"key\": 7, \"f\": \"write\", \"value\": 12, "
	"\"invoke_ns\": 100, \"complete_ns\": 250, \"outcome\": \"ok\"},"
	"{\"process\": 4, \"key\": 7, \"f\": \"read\", \"value\": 12, "
	"\"invoke_ns\": 120, \"complete_ns\": 300, \"outcome\": \"ok\"},"
	"{\"process\": 5, \"key\": 8, \"f\": \"read\", \"value\": null, "
	"\"invoke_ns\": 120, \"complete_ns\": 300, \"outcome\": \"ok\"},"
	"{\"process\": 6, \"key\": 7, \"f\": \"cas\", \"value\": [12, 13], "
	"\"result\": true, \"invoke_ns\": 310, \"complete_ns\": 350, "
	"\"outcome\": \"ok\"},"
	"{\"process\": 8, \"key\": 7, \"f\": \"cas\", \"value\": [null, 1], "
	"\"result\": false, \"invoke_ns\": 310, \"complete_ns\": 350, "
	"\"outcome\": \"ok\"},"
	"{\"process\": 2, \"key\": 7, \"f\": \"write\", \"value\": 14, "
	"\"invoke_ns\": 400, \"outcome\": \"info\"},"
	"{\"process\": 9, \"key\": 7, \"f\": \"read\", "
	"\"invoke_ns\": 400, \"complete_ns\": null, \"outcome\": \"info\"},"
	"{\"process\": 1, \"key\": 9, \"f\": \"read\", \"value\": 5, "
	"\"invoke_ns\": 0, \"complete_ns\": 1, \"outcome\": \"ok\"}],"
	"\"initial\": {\"9\": 5, \"8\": null}, \"test\": \"register\"}";

static const char bad_json[] =
	"{\"ops\": ["
	"{\"process\": 3, \"key\": 7, \"f\": \"write\", \"value\": 12, "
	"\"invoke_ns\": 100, \"complete_ns\": 250, \"outcome\": \"ok\"},"
	"{\"process\": 4, \"key\": 7, \"f\": \"write\", \"value\": 13, "
	"\"invoke_ns\": 300, \"complete_ns\": 400, \"outcome\": \"fail\"},"
	"{\"process\": 5, \"key\": 7, \"f\": \"read\", \"value\": 13, "
	"\"invoke_ns\": 500, \"complete_ns\": 600, \"outcome\": \"ok\"}]}";

static void test_json(void **state)
{
	struct dkv_lin_report r;
	struct dkv_lin *h = dkv_lin_new();
	char err[256];

	(void)state;
	assert_int_equal(dkv_lin_parse_json(h, good_json, strlen(good_json),
					    err, sizeof(err)),
			 0);
	assert_string_equal(err, "");
	assert_int_equal(dkv_lin_nops(h), 8);
	expect(h, 0, LIN, &r);
	assert_int_equal(r.nkeys, 3);
	dkv_lin_report_free(&r);
	dkv_lin_free(h);

	h = dkv_lin_new();
	assert_int_equal(dkv_lin_parse_json(h, bad_json, strlen(bad_json),
					    NULL, 0),
			 0);
	expect(h, 0, NOT, &r);
	assert_has(r.text, "#2 p5 read -> 13 [500, 600]: the value is 12 "
			   "(no op that may have taken effect writes 13)");
	dkv_lin_report_free(&r);
	dkv_lin_free(h);
}

/* One op's fields in a document; OP(...) ends with the outcome. */
#define DOC(op) "{\"ops\": [{" op "}]}"
#define BASE "\"process\": 1, \"key\": 7, \"invoke_ns\": 0, "
#define W1 BASE "\"f\": \"write\", \"value\": 1, "
#define OKD "\"complete_ns\": 5, \"outcome\": \"ok\""

static const char half_bad_json[] =
	"{\"ops\": [{" W1 OKD "}, {" W1 "\"complete_ns\": 5}], "
	"\"initial\": {\"7\": 3}}";

static void test_json_malformed(void **state)
{
	static const struct {
		const char *doc, *msg;
		int rc;
	} cases[] = {
		{"", "line 1", DKV_ERR_CORRUPT},
		{"{\"ops\": [", "line 1", DKV_ERR_CORRUPT},
		{"[]", "expected an object with a list \"ops\"",
		 DKV_ERR_CORRUPT},
		{"{\"ops\": {}}", "expected an object with a list \"ops\"",
		 DKV_ERR_CORRUPT},
		{"{\"ops\": [1]}", "ops[0]: expected an object",
		 DKV_ERR_CORRUPT},
		{DOC(W1 OKD ", \"at\": 3"), "ops[0]: unknown field \"at\"",
		 DKV_ERR_CORRUPT},
		{DOC("\"process\": 1, \"invoke_ns\": 0, \"f\": \"write\", "
		     "\"value\": 1, " OKD),
		 "ops[0]: missing field \"key\"", DKV_ERR_CORRUPT},
		{DOC("\"key\": 1, \"invoke_ns\": 0, \"f\": \"write\", "
		     "\"value\": 1, " OKD),
		 "ops[0]: missing field \"process\"", DKV_ERR_CORRUPT},
		{DOC(W1 "\"complete_ns\": 5"), "ops[0]: missing field "
					       "\"outcome\"",
		 DKV_ERR_CORRUPT},
		{DOC("\"process\": 1, \"key\": \"7\", \"invoke_ns\": 0, "
		     "\"f\": \"write\", \"value\": 1, " OKD),
		 "ops[0].key: expected an integer in [0, 2^63 - 1]",
		 DKV_ERR_CORRUPT},
		{DOC("\"process\": -1, \"key\": 7, \"invoke_ns\": 0, "
		     "\"f\": \"write\", \"value\": 1, " OKD),
		 "ops[0].process: expected", DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"foo\", \"value\": 1, " OKD),
		 "ops[0].f: unknown operation \"foo\"", DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": 3, \"value\": 1, " OKD),
		 "ops[0].f: expected \"read\", \"write\" or \"cas\"",
		 DKV_ERR_CORRUPT},
		{DOC(W1 "\"complete_ns\": 5, \"outcome\": \"maybe\""),
		 "ops[0].outcome", DKV_ERR_CORRUPT},
		{DOC("\"process\": 1, \"key\": 7, \"invoke_ns\": 1.5, "
		     "\"f\": \"write\", \"value\": 1, " OKD),
		 "ops[0].invoke_ns: expected an integer", DKV_ERR_CORRUPT},
		{DOC(W1 "\"outcome\": \"ok\""), "ops[0].complete_ns: expected",
		 DKV_ERR_CORRUPT},
		{DOC(W1 "\"complete_ns\": -1, \"outcome\": \"fail\""),
		 "ops[0].complete_ns: -1 is before invoke_ns 0",
		 DKV_ERR_CORRUPT},
		{DOC(W1 "\"complete_ns\": \"x\", \"outcome\": \"info\""),
		 "ops[0].complete_ns: expected an integer or null",
		 DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"read\", " OKD),
		 "ops[0]: missing field \"value\" (the value read",
		 DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"read\", \"value\": true, " OKD),
		 "ops[0].value: expected an integer in [0, 2^63 - 1] or null",
		 DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"write\", \"value\": null, " OKD),
		 "ops[0].value: expected an integer", DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"write\", " OKD),
		 "ops[0]: missing field \"value\"", DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"cas\", \"value\": [1], \"result\": true, "
			  OKD),
		 "ops[0].value: expected [expected, new]", DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"cas\", \"value\": [1, null], "
			  "\"result\": true, " OKD),
		 "ops[0].value: expected [expected, new]", DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"cas\", \"value\": [1, 2], " OKD),
		 "ops[0].result: expected true (swapped) or false",
		 DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"cas\", \"value\": [1, 2], \"result\": 1, "
			  OKD),
		 "ops[0].result: expected true", DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"cas\", \"value\": [1, 2], "
			  "\"result\": true, \"outcome\": \"info\""),
		 "ops[0].result: null or absent unless the outcome is ok",
		 DKV_ERR_CORRUPT},
		{DOC(W1 "\"result\": true, " OKD),
		 "ops[0].result: only a cas has a result", DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"write\", \"value\": 99999999999999999999, "
			  OKD),
		 "line 1", DKV_ERR_CORRUPT},
		{DOC(BASE "\"f\": \"write\", \"value\": 9223372036854775808, "
			  OKD),
		 "line 1", DKV_ERR_CORRUPT},
		{DOC(W1 OKD ", \"key\": 8"), "duplicate", DKV_ERR_CORRUPT},
		{"{\"ops\": [], \"initial\": [1]}", "initial: expected an "
						   "object",
		 DKV_ERR_CORRUPT},
		{"{\"ops\": [], \"initial\": {\"x\": 1}}",
		 "initial.\"x\": the key must be a decimal integer",
		 DKV_ERR_CORRUPT},
		{"{\"ops\": [], \"initial\": {\"07\": 1}}",
		 "initial.\"07\": the key must be", DKV_ERR_CORRUPT},
		{"{\"ops\": [], \"initial\": {\"9223372036854775808\": 1}}",
		 "initial.\"9223372036854775808\": the key must be",
		 DKV_ERR_CORRUPT},
		{"{\"ops\": [], \"initial\": {\"7\": -1}}",
		 "initial.\"7\": expected an integer in [0, 2^63 - 1] or null",
		 DKV_ERR_CORRUPT},
		{"{\"ops\": [{" W1 OKD "}, {" W1 "\"f\": \"x\"}]}",
		 "duplicate", DKV_ERR_CORRUPT},
	};
	struct dkv_lin_report r;
	struct dkv_lin *h;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h = dkv_lin_new();
		err[0] = '\0';
		assert_int_equal(dkv_lin_parse_json(h, cases[i].doc,
						    strlen(cases[i].doc), err,
						    sizeof(err)),
				 cases[i].rc);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
				 cases[i].msg);
		dkv_lin_free(h);
	}
	/* the largest values accepted */
	h = dkv_lin_new();
	assert_int_equal(
		dkv_lin_parse_json(
			h,
			DOC(BASE "\"f\": \"write\", "
				 "\"value\": 9223372036854775807, " OKD),
			strlen(DOC(BASE "\"f\": \"write\", "
					"\"value\": 9223372036854775807, " OKD)),
			err, sizeof(err)),
		0);
	assert_int_equal(dkv_lin_parse_json(h, NULL, 1, err, sizeof(err)),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_lin_parse_json(NULL, "{}", 2, err, sizeof(err)),
			 DKV_ERR_INVAL);
	dkv_lin_free(h);

	/* the initial values and the ops before the faulty one stay */
	h = dkv_lin_new();
	assert_int_equal(dkv_lin_parse_json(h, half_bad_json,
					    strlen(half_bad_json), err,
					    sizeof(err)),
			 DKV_ERR_CORRUPT);
	assert_has(err, "ops[1]: missing field \"outcome\"");
	assert_int_equal(dkv_lin_nops(h), 1);
	ops(h, "k7 r 1 @10,20");
	expect(h, 0, LIN, &r);
	dkv_lin_report_free(&r);
	dkv_lin_free(h);
}

/* --- files and the tool --------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Runs dkv-lincheck with up to three arguments (NULL ends them), output
 * discarded; returns its exit status. */
static int run_tool(const char *a, const char *b, const char *c)
{
	int status, fd;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(DKV_TEST_LINCHECK, "dkv-lincheck", a, b, c,
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static const char race_json[] =
	"{\"ops\": ["
	"{\"process\": 1, \"key\": 1, \"f\": \"write\", \"value\": 1, "
	"\"invoke_ns\": 0, \"complete_ns\": 100, \"outcome\": \"ok\"},"
	"{\"process\": 2, \"key\": 1, \"f\": \"write\", \"value\": 2, "
	"\"invoke_ns\": 0, \"complete_ns\": 100, \"outcome\": \"ok\"},"
	"{\"process\": 3, \"key\": 1, \"f\": \"read\", \"value\": 1, "
	"\"invoke_ns\": 110, \"complete_ns\": 120, \"outcome\": \"ok\"}]}";

static void test_files_and_tool(void **state)
{
	char dir[256], good[300], bad[300], race[300], broken[300];
	char big[300], none[300];
	struct dkv_lin_report r;
	struct dkv_lin *h;
	char err[256];
	int fd;

	(void)state;
	assert_int_equal(test_tmpdir_make(dir, sizeof(dir)), 0);
	snprintf(good, sizeof(good), "%s/good.json", dir);
	snprintf(bad, sizeof(bad), "%s/bad.json", dir);
	snprintf(race, sizeof(race), "%s/race.json", dir);
	snprintf(broken, sizeof(broken), "%s/broken.json", dir);
	snprintf(big, sizeof(big), "%s/big.json", dir);
	snprintf(none, sizeof(none), "%s/none.json", dir);
	write_file(good, good_json);
	write_file(bad, bad_json);
	write_file(race, race_json);
	write_file(broken, "{\"ops\": [{\"process\": 1, ");
	/* sparse: one byte over the limit, refused before being read */
	fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)DKV_LIN_JSON_MAX + 1), 0);
	close(fd);

	h = dkv_lin_new();
	assert_int_equal(dkv_lin_load_json(h, bad, err, sizeof(err)), 0);
	expect(h, 0, NOT, &r);
	dkv_lin_report_free(&r);
	assert_int_equal(dkv_lin_load_json(h, none, err, sizeof(err)),
			 DKV_ERR_IO);
	assert_int_equal(dkv_lin_load_json(h, broken, err, sizeof(err)),
			 DKV_ERR_CORRUPT);
	assert_int_equal(dkv_lin_load_json(h, big, err, sizeof(err)),
			 DKV_ERR_TOO_BIG);
	assert_has(err, "over the limit");
	assert_int_equal(dkv_lin_load_json(h, NULL, err, sizeof(err)),
			 DKV_ERR_INVAL);
	dkv_lin_free(h);

	assert_int_equal(run_tool(good, NULL, NULL), 0);
	assert_int_equal(run_tool(bad, NULL, NULL), 1);
	assert_int_equal(run_tool(race, NULL, NULL), 0);
	assert_int_equal(run_tool(race, "--budget", "1"), 3);
	assert_int_equal(run_tool("--budget=1", race, NULL), 3);
	assert_int_equal(run_tool(race, "--budget", "1000"), 0);
	assert_int_equal(run_tool(bad, "--budget", "1000"), 1);
	assert_int_equal(run_tool(race, "--budget", "0"), 2);
	assert_int_equal(run_tool(race, "--budget", "x"), 2);
	assert_int_equal(run_tool(race, "--budget", NULL), 2);
	assert_int_equal(run_tool(race, good, NULL), 2);
	assert_int_equal(run_tool(broken, NULL, NULL), 2);
	assert_int_equal(run_tool(none, NULL, NULL), 2);
	assert_int_equal(run_tool(big, NULL, NULL), 2);
	assert_int_equal(run_tool(NULL, NULL, NULL), 2);
	assert_int_equal(run_tool("-x", NULL, NULL), 2);
	assert_int_equal(run_tool("--help", NULL, NULL), 0);
	test_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_sequential),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_nil_and_ties),
		cmocka_unit_test(test_stale_read),
		cmocka_unit_test(test_garbage_read),
		cmocka_unit_test(test_new_then_old),
		cmocka_unit_test(test_impossible_cas),
		cmocka_unit_test(test_fail_write_read),
		cmocka_unit_test(test_multi_key),
		cmocka_unit_test(test_simulated),
		cmocka_unit_test(test_oracle),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_malformed),
		cmocka_unit_test(test_files_and_tool),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
