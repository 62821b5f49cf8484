/*
 * The list-append history checker (tests/check/histcheck.h): the API's
 * contract; one small history per anomaly class, each asserting the
 * exact count of every kind and the example cycle; a 50,000-transaction
 * ring (iterative Tarjan, cut explanations); a giant G2 component (the
 * G-single search's worst case); random broken histories (robustness);
 * a 100,000-transaction serial history generated against an in-memory
 * model (clean, fast) and the same with one injected read skew (exactly
 * one G-single); a 100,000-transaction snapshot-isolated history (only
 * G2 may be reported: SI forbids the rest); the JSON reader; the exit
 * codes of the dkv-histcheck tool. Real time: the times API, one small
 * history per real-time class, concurrent histories that are fine, the
 * precedence of plain classes, the reduction of rt edges; a
 * 100,000-transaction strictly serializable history from a simulation
 * (clean) and the same with stale reads (caught); the SI history with
 * times (G2 and G2-realtime only); random broken histories with times;
 * times in JSON; the tool's --realtime.
 *
 * Deterministic: generated histories come from a seeded generator; the
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

#include "histcheck.h"
#include "../unit/tmpdir.h"

#ifndef DKV_TEST_HISTCHECK
#error "DKV_TEST_HISTCHECK: path of the dkv-histcheck tool (tests/check.cmake)"
#endif

#define OK DKV_HIST_OK
#define FAIL DKV_HIST_FAIL
#define INFO DKV_HIST_INFO

/* --- helpers -------------------------------------------------------------- */

/* Records one transaction written compactly: operations separated by ';',
 * "a K V" appends V to key K, "r K [V V ...]" reads key K; with its times
 * if `timed`. */
static void txn_rec(struct dkv_hist *h, uint64_t id, enum dkv_hist_outcome oc,
		    int timed, int64_t invoke, int64_t complete,
		    const char *ops)
{
	uint64_t vals[64], key;
	const char *p = ops;
	char *end;
	size_t n;

	assert_int_equal(dkv_hist_begin(h, id), 0);
	if (timed)
		assert_int_equal(dkv_hist_times(h, invoke, complete), 0);
	while (*p != '\0') {
		char kind;

		while (*p == ' ' || *p == ';')
			p++;
		if (*p == '\0')
			break;
		kind = *p++;
		key = strtoull(p, &end, 10);
		assert_true(end != p);
		p = end;
		if (kind == 'a') {
			uint64_t v = strtoull(p, &end, 10);

			assert_true(end != p);
			p = end;
			assert_int_equal(dkv_hist_append(h, key, v), 0);
			continue;
		}
		assert_int_equal(kind, 'r');
		while (*p == ' ')
			p++;
		assert_int_equal(*p++, '[');
		for (n = 0; *p != ']'; n++) {
			assert_true(n < 64);
			vals[n] = strtoull(p, &end, 10);
			assert_true(end != p);
			p = end;
			while (*p == ' ')
				p++;
		}
		p++;
		assert_int_equal(dkv_hist_read(h, key, vals, n), 0);
	}
	assert_int_equal(dkv_hist_end(h, oc), 0);
}

static void txn(struct dkv_hist *h, uint64_t id, enum dkv_hist_outcome oc,
		const char *ops)
{
	txn_rec(h, id, oc, 0, 0, 0, ops);
}

/* txn() invoked at `invoke` and completed at `complete` (ns). */
static void txn_at(struct dkv_hist *h, uint64_t id, enum dkv_hist_outcome oc,
		   int64_t invoke, int64_t complete, const char *ops)
{
	txn_rec(h, id, oc, 1, invoke, complete, ops);
}

/* Checks h (with real time if `realtime`); asserts the count of every
 * kind is exactly want[kind] and returns the report in *r (the caller
 * frees it). */
static void check_exact_rt(struct dkv_hist *h, int realtime,
			   const uint64_t *want, struct dkv_hist_report *r)
{
	const struct dkv_hist_check_opts opts = {.realtime = realtime};
	uint64_t total = 0;
	int k, rc, same = 1;

	rc = realtime ? dkv_hist_check_ex(h, &opts, r) : dkv_hist_check(h, r);
	assert_true(rc >= 0);
	for (k = 0; k < DKV_HIST_NANOMALIES; k++) {
		total += want[k];
		if (r->count[k] != want[k]) {
			print_message("%s: found %" PRIu64 ", want %" PRIu64
				      "\n",
				      dkv_hist_anomaly_name(
					      (enum dkv_hist_anomaly)k),
				      r->count[k], want[k]);
			same = 0;
		}
	}
	if (!same)
		print_message("report:\n%s", r->text);
	assert_true(same);
	assert_int_equal(r->total, total);
	assert_int_equal(rc, (int)total);
	assert_non_null(r->text);
	if (total == 0)
		assert_string_equal(r->text, "");
	assert_int_equal(r->realtime, realtime);
	if (!realtime)
		assert_int_equal(r->nrt_edges, 0);
}

/* check_exact_rt with the counts as designated initializers:
 * EXPECT(h, &r, [DKV_HIST_G0] = 1); EXPECT(h, &r) for none; EXPECT_RT
 * checks real time too. */
#define EXPECT(h, r, ...)                                                      \
	check_exact_rt((h), 0,                                                 \
		       (const uint64_t[DKV_HIST_NANOMALIES]){__VA_ARGS__}, (r))
#define EXPECT_RT(h, r, ...)                                                   \
	check_exact_rt((h), 1,                                                 \
		       (const uint64_t[DKV_HIST_NANOMALIES]){__VA_ARGS__}, (r))

/* Asserts the report explains a `kind` cycle that is a rotation of
 * `cycle` ("T1 -ww-> T2 -ww-> T1"). */
static void assert_cycle(const char *text, const char *kind,
			 const char *cycle)
{
	char tok[64][24], want[2048], *save = NULL, *t, copy[1024];
	size_t ntok = 0, steps, i, j;
	int len;

	assert_true(strlen(cycle) < sizeof(copy));
	strcpy(copy, cycle);
	for (t = strtok_r(copy, " ", &save); t != NULL;
	     t = strtok_r(NULL, " ", &save)) {
		assert_true(ntok < 64 && strlen(t) < sizeof(tok[0]));
		strcpy(tok[ntok++], t);
	}
	steps = ntok / 2; /* T -e-> T -e-> ... T */
	for (i = 0; i < steps; i++) {
		const char *hit;

		len = snprintf(want, sizeof(want), "%s: %s", kind, tok[2 * i]);
		for (j = 0; j < steps; j++) {
			size_t s = (i + j) % steps;

			len += snprintf(want + len, sizeof(want) - (size_t)len,
					" %s %s", tok[2 * s + 1],
					tok[2 * ((s + 1) % steps)]);
		}
		hit = strstr(text, want);
		if (hit != NULL && (hit[len] == '\n' || hit[len] == ' '))
			return;
	}
	fail_msg("no %s cycle like \"%s\" in:\n%s", kind, cycle, text);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#ifdef DKV_SANITIZE
#define GEN_SECONDS_MAX 20.0 /* ASan and UBSan slow everything down */
#else
#define GEN_SECONDS_MAX 3.0
#endif

/* --- the API -------------------------------------------------------------- */

static void test_api(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();
	uint64_t one = 1;
	int k;

	(void)state;
	assert_non_null(h);
	assert_int_equal(dkv_hist_begin(NULL, 1), DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_append(NULL, 1, 1), DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_read(h, 1, NULL, 1), DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_append(h, 1, 1), DKV_ERR_STATE);
	assert_int_equal(dkv_hist_read(h, 1, &one, 1), DKV_ERR_STATE);
	assert_int_equal(dkv_hist_end(h, OK), DKV_ERR_STATE);
	assert_int_equal(dkv_hist_begin(h, 1), 0);
	assert_int_equal(dkv_hist_begin(h, 2), DKV_ERR_STATE);
	assert_int_equal(dkv_hist_read(h, 1, NULL, 0), 0); /* empty list */
	assert_int_equal(dkv_hist_end(h, (enum dkv_hist_outcome)0),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_end(h, (enum dkv_hist_outcome)99),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_end(h, OK), 0);
	assert_int_equal(dkv_hist_begin(h, 1), DKV_ERR_EXISTS);
	assert_int_equal(dkv_hist_ntxns(h), 1);

	/* no check while a transaction is open; cancel forgets it all */
	assert_int_equal(dkv_hist_begin(h, 2), 0);
	assert_int_equal(dkv_hist_append(h, 1, 1), 0);
	assert_int_equal(dkv_hist_check(h, &r), DKV_ERR_STATE);
	assert_null(r.text);
	dkv_hist_cancel(h);
	dkv_hist_cancel(h);
	assert_int_equal(dkv_hist_ntxns(h), 1);
	EXPECT(h, &r);
	assert_int_equal(r.ntxns, 1);
	dkv_hist_report_free(&r);
	dkv_hist_report_free(&r);
	dkv_hist_report_free(NULL);

	/* id 2 was cancelled: free again; the cancelled append is gone */
	txn(h, 2, OK, "r 1 []");
	EXPECT(h, &r);
	dkv_hist_report_free(&r);

	assert_int_equal(dkv_hist_check(NULL, &r), DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_check(h, NULL), DKV_ERR_INVAL);
	for (k = 0; k < DKV_HIST_NANOMALIES; k++)
		assert_non_null(dkv_hist_anomaly_name((enum dkv_hist_anomaly)k));
	assert_string_equal(dkv_hist_anomaly_name(DKV_HIST_G_SINGLE),
			    "G-single");
	assert_null(dkv_hist_anomaly_name(DKV_HIST_NANOMALIES));
	assert_int_equal(dkv_hist_ntxns(NULL), 0);
	dkv_hist_free(h);
	dkv_hist_free(NULL);
}

/* --- valid histories ------------------------------------------------------ */

static void test_serial(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	txn(h, 1, OK, "a 1 1; a 2 1");
	txn(h, 2, OK, "r 1 [1]; a 1 2");
	txn(h, 3, OK, "r 1 [1 2]; r 2 [1]; a 2 2; r 2 [1 2]");
	txn(h, 4, OK, "r 2 [1 2]; r 3 []");
	txn(h, 5, OK, "a 3 1; r 1 [1 2]");
	EXPECT(h, &r);
	assert_int_equal(r.ntxns, 5);
	assert_true(r.nedges >= 4);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_concurrent_info(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	txn(h, 1, OK, "a 1 1; r 2 []");
	txn(h, 2, INFO, "a 1 2");         /* committed: observed below */
	txn(h, 3, INFO, "a 2 7; r 1 [9]"); /* never observed; reads ignored */
	txn(h, 4, FAIL, "a 3 1; r 1 [5]"); /* never observed */
	txn(h, 5, OK, "r 1 [1 2]; a 3 2");
	txn(h, 6, OK, "r 3 [2]; r 2 []");
	txn(h, 7, OK, "r 1 [1]");         /* concurrent with 2: stale */
	txn(h, 8, INFO, "");
	EXPECT(h, &r);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

/* --- anomalies ------------------------------------------------------------ */

static void test_g0(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	/* key 1: T1 then T2; key 2: T2 then T1 */
	txn(h, 1, OK, "a 1 1; a 2 2");
	txn(h, 2, OK, "a 1 2; a 2 1");
	txn(h, 3, OK, "r 1 [1 2]");
	txn(h, 4, OK, "r 2 [1 2]");
	EXPECT(h, &r, [DKV_HIST_G0] = 1);
	assert_cycle(r.text, "G0", "T1 -ww-> T2 -ww-> T1");
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_g1a(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	txn(h, 1, FAIL, "a 1 1");
	txn(h, 2, OK, "r 1 [1]");
	txn(h, 3, OK, "r 1 [1]"); /* the same aborted value: one G1a */
	txn(h, 4, INFO, "a 2 1");
	txn(h, 5, OK, "r 2 [1]"); /* INFO may have committed: fine */
	EXPECT(h, &r, [DKV_HIST_G1A] = 1);
	assert_non_null(strstr(r.text, "G1a: T2 read key 1 = [1]: 1 was "
				       "appended by T1, which failed\n"));
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_g1b(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	txn(h, 1, OK, "a 1 1; a 1 2");
	txn(h, 2, OK, "r 1 [1]");
	txn(h, 3, OK, "r 1 [1 2]");
	EXPECT(h, &r, [DKV_HIST_G1B] = 1);
	assert_non_null(strstr(r.text, "G1b: T2 read key 1 = [1]: 1 is an "
				       "intermediate append of T1, whose "
				       "last append to key 1 is 2\n"));
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_g1c(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	/* T1 -ww-> T2 on key 1, T2 -wr-> T1 on key 2 */
	txn(h, 1, OK, "a 1 1; r 2 [1]");
	txn(h, 2, OK, "a 2 1; a 1 2");
	txn(h, 3, OK, "r 1 [1 2]");
	EXPECT(h, &r, [DKV_HIST_G1C] = 1);
	assert_cycle(r.text, "G1c", "T1 -ww-> T2 -wr-> T1");
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_g_single(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	/* read skew: T1 sees x before T2 and y after T2 */
	txn(h, 10, OK, "a 1 1; a 2 1");
	txn(h, 2, OK, "a 1 2; a 2 2");
	txn(h, 1, OK, "r 1 [1]; r 2 [1 2]");
	txn(h, 3, OK, "r 1 [1 2]");
	EXPECT(h, &r, [DKV_HIST_G_SINGLE] = 1);
	assert_cycle(r.text, "G-single", "T1 -rw-> T2 -wr-> T1");
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_g2(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	/* write skew: each reads the key the other appends to, both empty */
	txn(h, 1, OK, "r 1 []; a 2 1");
	txn(h, 2, OK, "r 2 []; a 1 1");
	txn(h, 3, OK, "r 1 [1]; r 2 [1]");
	EXPECT(h, &r, [DKV_HIST_G2] = 1);
	assert_cycle(r.text, "G2", "T1 -rw-> T2 -rw-> T1");
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_one_class_per_component(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	/* a G0 pair that also has rw and wr edges: reported as G0 only */
	txn(h, 1, OK, "a 1 1; a 2 2; r 3 []");
	txn(h, 2, OK, "a 1 2; a 2 1; a 3 1; r 4 [1]");
	txn(h, 3, OK, "r 1 [1 2]; r 2 [1 2]; r 3 [1]");
	txn(h, 6, OK, "a 4 1");
	/* and, apart, a write skew */
	txn(h, 4, OK, "r 11 []; a 12 1");
	txn(h, 5, OK, "r 12 []; a 11 1");
	txn(h, 7, OK, "r 11 [1]; r 12 [1]");
	EXPECT(h, &r, [DKV_HIST_G0] = 1, [DKV_HIST_G2] = 1);
	assert_cycle(r.text, "G0", "T1 -ww-> T2 -ww-> T1");
	assert_cycle(r.text, "G2", "T4 -rw-> T5 -rw-> T4");
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_incompatible_order(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	txn(h, 1, OK, "a 1 1");
	txn(h, 2, OK, "a 1 2");
	txn(h, 3, OK, "r 1 [1 2]");
	txn(h, 4, OK, "r 1 [2 1]");
	txn(h, 5, OK, "r 1 [2]"); /* same key: counted once */
	EXPECT(h, &r, [DKV_HIST_INCOMPATIBLE_ORDER] = 1);
	assert_non_null(strstr(r.text, "incompatible-order: key 1: T4 read "
				       "[2 1], not a prefix of [1 2] read "
				       "by T3\n"));
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_garbage_read(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	txn(h, 1, OK, "a 1 1");
	txn(h, 2, OK, "r 1 [1 9]");
	txn(h, 3, OK, "r 1 [1 9]"); /* the same value: one report */
	EXPECT(h, &r, [DKV_HIST_GARBAGE_READ] = 1);
	assert_non_null(strstr(r.text, "garbage-read: T2 read key 1 = [1 9]: "
				       "nobody appended 9\n"));
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_internal(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	txn(h, 1, OK, "a 1 1; r 1 []");                /* own append unseen */
	txn(h, 2, OK, "a 2 5; r 2 [5]; a 2 6; r 2 [5 6]"); /* fine */
	txn(h, 3, OK, "r 1 [1]; r 2 [5 6]");
	txn(h, 4, OK, "r 3 [7]; a 3 7");               /* reads its future */
	EXPECT(h, &r, [DKV_HIST_INTERNAL] = 2);
	assert_non_null(strstr(r.text, "internal: T1 read key 1 = [] after "
				       "appending 1 to it"));
	assert_non_null(strstr(r.text, "internal: T4 read key 3 = [7]: it "
				       "appends 7 only after this read\n"));
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_duplicates(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	txn(h, 1, OK, "a 1 1");
	txn(h, 2, OK, "a 1 1");
	txn(h, 3, OK, "r 1 [1 1]");
	EXPECT(h, &r, [DKV_HIST_DUPLICATE_APPEND] = 1,
	       [DKV_HIST_DUPLICATE_ELEMENT] = 1);
	assert_non_null(strstr(r.text, "duplicate-append: T2 appended 1 to "
				       "key 1, already appended by T1\n"));
	assert_non_null(strstr(r.text, "duplicate-element: T3 read key 1 = "
				       "[1 1]: 1 appears twice\n"));
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_report_cap(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();
	uint64_t id, vals[100];
	const char *p;
	int lines = 0;

	(void)state;
	for (id = 0; id < 100; id++)
		vals[id] = 1000 + id;
	for (id = 1; id <= 30; id++) { /* 30 garbage values, long lists */
		assert_int_equal(dkv_hist_begin(h, id), 0);
		assert_int_equal(dkv_hist_read(h, id, vals, 100), 0);
		assert_int_equal(dkv_hist_end(h, OK), 0);
	}
	EXPECT(h, &r, [DKV_HIST_GARBAGE_READ] = 30);
	for (p = r.text; *p != '\0'; p++)
		lines += *p == '\n';
	assert_int_equal(lines, DKV_HIST_SHOWN_MAX + 1);
	assert_non_null(strstr(r.text, "[1000 1001 1002 1003 1004 1005 1006 "
				       "1007 ... 84 more ... 1092 1093 1094 "
				       "1095 1096 1097 1098 1099]"));
	assert_non_null(strstr(r.text, "... and 10 more anomalies, only "
				       "counted\n"));
	assert_true(strlen(r.text) < 8192);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

/* A ring of n transactions: Ti -ww-> Ti+1 through key i, read by a last
 * transaction: one component of n nodes (deep for Tarjan), one G0 whose
 * explanation is cut. */
static void test_long_cycle(void **state)
{
	const uint64_t n = 50000;
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();
	uint64_t i, two[2] = {1, 2};

	(void)state;
	for (i = 0; i < n; i++) {
		assert_int_equal(dkv_hist_begin(h, i), 0);
		assert_int_equal(dkv_hist_append(h, i, 1), 0);
		assert_int_equal(dkv_hist_append(h, (i + n - 1) % n, 2), 0);
		assert_int_equal(dkv_hist_end(h, OK), 0);
	}
	assert_int_equal(dkv_hist_begin(h, n), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(dkv_hist_read(h, i, two, 2), 0);
	assert_int_equal(dkv_hist_end(h, OK), 0);
	EXPECT(h, &r, [DKV_HIST_G0] = 1);
	assert_non_null(strstr(r.text, " more steps ..."));
	assert_true(strlen(r.text) < 4096);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

/* Two ww chains a_0 -> a_1 -> ... and b_0 -> b_1 -> ... tied by write
 * skews a_i -rw-> b_i -rw-> a_i and b_i+1 -rw-> a_i: one component of 2n
 * transactions holding G2 cycles but no G-single, where a search from
 * every rw edge may walk a whole chain (quadratic): the case the search
 * budget is for. Keys: 1 and 2 the chains, 10 + 3i X_i, 11 + 3i Y_i,
 * 12 + 3i Z_i. */
static void test_giant_g2(void **state)
{
	const uint64_t n = 50000, obs = 2 * n;
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();
	uint64_t i, *chain = malloc(n * sizeof(*chain)), one = 1;
	double t0, t1;

	(void)state;
	assert_non_null(chain);
	for (i = 0; i < n; i++) {
		chain[i] = i + 1;
		assert_int_equal(dkv_hist_begin(h, 2 * i), 0); /* a_i */
		assert_int_equal(dkv_hist_append(h, 1, i + 1), 0);
		assert_int_equal(dkv_hist_read(h, 10 + 3 * i, NULL, 0), 0);
		assert_int_equal(dkv_hist_append(h, 11 + 3 * i, 1), 0);
		assert_int_equal(dkv_hist_append(h, 12 + 3 * i, 1), 0);
		assert_int_equal(dkv_hist_end(h, OK), 0);
		assert_int_equal(dkv_hist_begin(h, 2 * i + 1), 0); /* b_i */
		assert_int_equal(dkv_hist_append(h, 2, i + 1), 0);
		assert_int_equal(dkv_hist_append(h, 10 + 3 * i, 1), 0);
		assert_int_equal(dkv_hist_read(h, 11 + 3 * i, NULL, 0), 0);
		if (i > 0)
			assert_int_equal(dkv_hist_read(h, 12 + 3 * (i - 1),
						       NULL, 0),
					 0);
		assert_int_equal(dkv_hist_end(h, OK), 0);
	}
	assert_int_equal(dkv_hist_begin(h, obs), 0);
	assert_int_equal(dkv_hist_read(h, 1, chain, n), 0);
	assert_int_equal(dkv_hist_read(h, 2, chain, n), 0);
	for (i = 10; i < 10 + 3 * n; i++)
		assert_int_equal(dkv_hist_read(h, i, &one, 1), 0);
	assert_int_equal(dkv_hist_end(h, OK), 0);
	t0 = now();
	EXPECT(h, &r, [DKV_HIST_G2] = 1);
	t1 = now();
	fprintf(stderr, "giant G2 component checked in %.3f s: %s", t1 - t0,
		r.text);
	assert_true(t1 - t0 < GEN_SECONDS_MAX);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
	free(chain);
}

/* --- a generated serial history ------------------------------------------- */

#define GEN_TXNS 100000
#define GEN_ACTIVE 4000   /* keys in use at a time */
#define GEN_KEY_APPENDS 8 /* a key retires after this many appends */
#define GEN_OPS_MAX 6

struct gen_key {
	uint64_t vals[GEN_KEY_APPENDS + GEN_OPS_MAX]; /* committed list */
	uint32_t n;
	uint32_t next; /* values handed out, committed or not */
};

struct gen {
	uint64_t rng;
	struct gen_key *keys; /* by key id */
	uint64_t nkeys, keys_cap;
	uint64_t active[GEN_ACTIVE];
};

static uint64_t gen_rand(struct gen *g) /* splitmix64 */
{
	uint64_t z = (g->rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t gen_new_key(struct gen *g)
{
	if (g->nkeys == g->keys_cap) {
		g->keys_cap = g->keys_cap != 0 ? 2 * g->keys_cap : 8192;
		g->keys = realloc(g->keys, g->keys_cap * sizeof(*g->keys));
		assert_non_null(g->keys);
	}
	memset(&g->keys[g->nkeys], 0, sizeof(g->keys[0]));
	return g->nkeys++;
}

/* One transaction executed against the model and recorded in h: reads see
 * the committed lists plus the transaction's own appends; OK commits, FAIL
 * discards, INFO commits or not at random (and may lose its reads). */
static void gen_txn(struct gen *g, struct dkv_hist *h, uint64_t id)
{
	uint64_t pk[GEN_OPS_MAX], pv[GEN_OPS_MAX], ps[GEN_OPS_MAX];
	uint64_t list[GEN_KEY_APPENDS + 2 * GEN_OPS_MAX];
	unsigned roll = (unsigned)(gen_rand(g) % 100), nops, np = 0, i, j, n;
	enum dkv_hist_outcome oc = roll < 90 ? OK : roll < 95 ? FAIL : INFO;
	int commit = oc == OK || (oc == INFO && gen_rand(g) % 2 == 0);

	nops = 2 + (unsigned)(gen_rand(g) % (GEN_OPS_MAX - 1));
	assert_int_equal(dkv_hist_begin(h, id), 0);
	for (i = 0; i < nops; i++) {
		uint64_t slot = gen_rand(g) % GEN_ACTIVE, k = g->active[slot];
		struct gen_key *key = &g->keys[k];

		if (gen_rand(g) % 2 == 0) {
			ps[np] = slot;
			pk[np] = k;
			pv[np] = ++key->next;
			assert_int_equal(dkv_hist_append(h, k, pv[np]), 0);
			np++;
			continue;
		}
		if (oc == INFO && gen_rand(g) % 2 == 0)
			continue; /* result unknown */
		n = key->n;
		memcpy(list, key->vals, n * sizeof(*list));
		for (j = 0; j < np; j++)
			if (pk[j] == k)
				list[n++] = pv[j];
		assert_int_equal(dkv_hist_read(h, k, list, n), 0);
	}
	assert_int_equal(dkv_hist_end(h, oc), 0);
	for (j = 0; commit && j < np; j++) {
		struct gen_key *key = &g->keys[pk[j]];

		key->vals[key->n++] = pv[j];
	}
	for (j = 0; j < np; j++) /* retire the keys used up */
		if (g->keys[g->active[ps[j]]].next >= GEN_KEY_APPENDS)
			g->active[ps[j]] = gen_new_key(g);
}

/* The history of GEN_TXNS generated transactions; with `skew`, plus four
 * transactions spread through it on two fresh keys, forming one read
 * skew (a G-single): T_r reads x before T_w and y after it. */
static struct dkv_hist *gen_history(uint64_t seed, int skew)
{
	const uint64_t x = UINT64_C(1) << 40, y = x + 1, base = GEN_TXNS;
	struct dkv_hist *h = dkv_hist_new();
	struct gen g;
	uint64_t id, one = 1, both[2] = {1, 2};

	assert_non_null(h);
	memset(&g, 0, sizeof(g));
	g.rng = seed;
	for (id = 0; id < GEN_ACTIVE; id++)
		g.active[id] = gen_new_key(&g);
	for (id = 0; id < GEN_TXNS; id++) {
		gen_txn(&g, h, id);
		if (!skew)
			continue;
		if (id == GEN_TXNS / 4) {
			assert_int_equal(dkv_hist_begin(h, base + 1), 0);
			assert_int_equal(dkv_hist_append(h, x, 1), 0);
			assert_int_equal(dkv_hist_append(h, y, 1), 0);
			assert_int_equal(dkv_hist_end(h, OK), 0);
		} else if (id == GEN_TXNS / 2) { /* T_w */
			assert_int_equal(dkv_hist_begin(h, base + 2), 0);
			assert_int_equal(dkv_hist_append(h, x, 2), 0);
			assert_int_equal(dkv_hist_append(h, y, 2), 0);
			assert_int_equal(dkv_hist_end(h, OK), 0);
		} else if (id == 3 * (GEN_TXNS / 4)) { /* T_r, an observer */
			assert_int_equal(dkv_hist_begin(h, base + 3), 0);
			assert_int_equal(dkv_hist_read(h, x, &one, 1), 0);
			assert_int_equal(dkv_hist_read(h, y, both, 2), 0);
			assert_int_equal(dkv_hist_end(h, OK), 0);
			assert_int_equal(dkv_hist_begin(h, base + 4), 0);
			assert_int_equal(dkv_hist_read(h, x, both, 2), 0);
			assert_int_equal(dkv_hist_end(h, OK), 0);
		}
	}
	free(g.keys);
	return h;
}

static uint64_t test_seed(void)
{
	const char *s = getenv("DKV_SEED");
	uint64_t seed = s != NULL ? strtoull(s, NULL, 0) : UINT64_C(20240611);

	fprintf(stderr, "seed %" PRIu64 " (DKV_SEED=%" PRIu64 " replays)\n",
		seed, seed);
	return seed;
}

static void test_generated_serial(void **state)
{
	struct dkv_hist *h = gen_history(test_seed(), 0);
	struct dkv_hist_report r;
	double t0, t1;

	(void)state;
	t0 = now();
	EXPECT(h, &r);
	t1 = now();
	fprintf(stderr, "%" PRIu64 " transactions, %" PRIu64
			" edges: checked in %.3f s\n",
		r.ntxns, r.nedges, t1 - t0);
	assert_int_equal(r.ntxns, GEN_TXNS);
	assert_true(r.nedges > GEN_TXNS);
	assert_true(t1 - t0 < GEN_SECONDS_MAX);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_generated_read_skew(void **state)
{
	struct dkv_hist *h = gen_history(test_seed(), 1);
	struct dkv_hist_report r;

	(void)state;
	EXPECT(h, &r, [DKV_HIST_G_SINGLE] = 1);
	assert_cycle(r.text, "G-single", "T100003 -rw-> T100002 -wr-> T100003");
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

/* Random histories over few keys and values: duplicates, garbage, broken
 * orders and cycles of every class. Whatever comes, the check succeeds,
 * its counts add up, its text has one line per anomaly shown, and a
 * second check of the same history says the same. */
static void test_random_histories(void **state)
{
	struct dkv_hist_report r1, r2;
	struct gen g;
	uint64_t round, id, vals[6], seen[DKV_HIST_NANOMALIES] = {0};
	unsigned i, j, n, lines;
	const char *p;
	int k, rc;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.rng = test_seed();
	for (round = 0; round < 300; round++) {
		struct dkv_hist *h = dkv_hist_new();

		for (id = 0; id < 40; id++) {
			unsigned roll = (unsigned)(gen_rand(&g) % 10);

			assert_int_equal(dkv_hist_begin(h, id), 0);
			for (i = 0; i < 1 + gen_rand(&g) % 4; i++) {
				uint64_t key = gen_rand(&g) % 4;

				if (gen_rand(&g) % 2 == 0) {
					assert_int_equal(
						dkv_hist_append(h, key,
								gen_rand(&g) % 24),
						0);
					continue;
				}
				n = (unsigned)(gen_rand(&g) % 6);
				for (j = 0; j < n; j++)
					vals[j] = gen_rand(&g) % 24;
				assert_int_equal(dkv_hist_read(h, key, vals, n), 0);
			}
			assert_int_equal(dkv_hist_end(h, roll < 7   ? OK
							 : roll < 9 ? FAIL
								    : INFO),
					 0);
		}
		rc = dkv_hist_check(h, &r1);
		assert_true(rc >= 0);
		assert_int_equal(dkv_hist_check(h, &r2), rc);
		assert_string_equal(r1.text, r2.text);
		for (k = 0; k < DKV_HIST_NANOMALIES; k++) {
			assert_int_equal(r1.count[k], r2.count[k]);
			seen[k] += r1.count[k];
			r1.total -= r1.count[k];
		}
		assert_int_equal(r1.total, 0);
		for (lines = 0, p = r1.text; *p != '\0'; p++)
			lines += *p == '\n';
		assert_int_equal(lines, rc <= DKV_HIST_SHOWN_MAX
						? rc
						: DKV_HIST_SHOWN_MAX + 1);
		dkv_hist_report_free(&r1);
		dkv_hist_report_free(&r2);
		dkv_hist_free(h);
	}
	for (k = 0; k < DKV_HIST_NANOMALIES; k++) /* (G2 is rare: cycles */
		fprintf(stderr, "%s %" PRIu64 "%s", /* this broken have ww/wr) */
			dkv_hist_anomaly_name((enum dkv_hist_anomaly)k),
			seen[k], k + 1 < DKV_HIST_NANOMALIES ? ", " : "\n");
	assert_true(seen[DKV_HIST_G0] > 0 && seen[DKV_HIST_G_SINGLE] > 0);
}

/* --- a generated snapshot-isolated history -------------------------------- */

#define SI_TXNS 100000
#define SI_CONC 8      /* transactions in flight */
#define SI_ACTIVE 256  /* keys in use at a time: hot, to make conflicts */
#define SI_LIST_MAX (GEN_KEY_APPENDS + GEN_OPS_MAX) /* per read */

struct si_key {
	uint64_t *vals, *ctime; /* committed list and commit times */
	uint32_t n, cap, next;
};

struct si_op {
	uint64_t key, value; /* append: value; read: n values at list[off] */
	uint32_t off, n;
	int append;
};

struct si_txn {
	uint64_t id, snap;
	unsigned nops;
	struct si_op ops[GEN_OPS_MAX];
	uint64_t list[GEN_OPS_MAX * SI_LIST_MAX];
};

struct si {
	struct gen g; /* for its random numbers */
	struct si_key *keys;
	uint64_t nkeys, keys_cap;
	uint64_t active[SI_ACTIVE];
	struct si_txn pending[SI_CONC];
	uint64_t committed, aborted;
	int timed; /* record times: invoked at the snapshot, done at commit */
};

static uint64_t si_new_key(struct si *m)
{
	if (m->nkeys == m->keys_cap) {
		m->keys_cap = m->keys_cap != 0 ? 2 * m->keys_cap : 4096;
		m->keys = realloc(m->keys, m->keys_cap * sizeof(*m->keys));
		assert_non_null(m->keys);
	}
	memset(&m->keys[m->nkeys], 0, sizeof(m->keys[0]));
	return m->nkeys++;
}

/* Runs transaction t's operations at once against its snapshot (the
 * commits before time t) plus its own appends. */
static void si_begin(struct si *m, struct si_txn *x, uint64_t t)
{
	unsigned i, j, used = 0;
	uint64_t slot;

	x->id = t;
	x->snap = t;
	x->nops = 2 + (unsigned)(gen_rand(&m->g) % (GEN_OPS_MAX - 1));
	for (i = 0; i < x->nops; i++) {
		struct si_op *o = &x->ops[i];
		struct si_key *k;

		slot = gen_rand(&m->g) % SI_ACTIVE;
		o->key = m->active[slot];
		k = &m->keys[o->key];
		o->append = gen_rand(&m->g) % 2 == 0;
		if (o->append) {
			o->value = ++k->next;
			if (k->next >= GEN_KEY_APPENDS) /* retire it */
				m->active[slot] = si_new_key(m);
			continue;
		}
		o->off = used;
		for (o->n = 0; o->n < k->n && k->ctime[o->n] < x->snap; o->n++)
			x->list[used++] = k->vals[o->n];
		for (j = 0; j < i; j++)
			if (x->ops[j].append && x->ops[j].key == o->key) {
				x->list[used++] = x->ops[j].value;
				o->n++;
			}
		assert_true(used <= GEN_OPS_MAX * SI_LIST_MAX);
	}
}

/* Commits x at time `now` unless a key it appends to got a commit after
 * its snapshot (first committer wins); records it in h. */
static void si_commit(struct si *m, struct si_txn *x, uint64_t now,
		      struct dkv_hist *h)
{
	enum dkv_hist_outcome oc = OK;
	unsigned i;

	for (i = 0; i < x->nops; i++) {
		const struct si_key *k = &m->keys[x->ops[i].key];

		if (x->ops[i].append && k->n > 0 && k->ctime[k->n - 1] >= x->snap)
			oc = FAIL;
	}
	for (i = 0; oc == OK && i < x->nops; i++) {
		struct si_key *k = &m->keys[x->ops[i].key];

		if (!x->ops[i].append)
			continue;
		if (k->n == k->cap) {
			k->cap = k->cap != 0 ? 2 * k->cap : 8;
			k->vals = realloc(k->vals, k->cap * sizeof(*k->vals));
			k->ctime = realloc(k->ctime, k->cap * sizeof(*k->ctime));
			assert_true(k->vals != NULL && k->ctime != NULL);
		}
		k->vals[k->n] = x->ops[i].value;
		k->ctime[k->n++] = now;
	}
	if (oc == OK)
		m->committed++;
	else
		m->aborted++;
	if (gen_rand(&m->g) % 32 == 0)
		oc = INFO; /* the client timed out: either way */
	assert_int_equal(dkv_hist_begin(h, x->id), 0);
	if (m->timed)
		assert_int_equal(dkv_hist_times(h, (int64_t)x->snap,
						(int64_t)now),
				 0);
	for (i = 0; i < x->nops; i++) {
		const struct si_op *o = &x->ops[i];

		if (o->append)
			assert_int_equal(dkv_hist_append(h, o->key, o->value), 0);
		else
			assert_int_equal(dkv_hist_read(h, o->key,
						       x->list + o->off, o->n),
					 0);
	}
	assert_int_equal(dkv_hist_end(h, oc), 0);
}

/* Snapshot isolation allows write skew (G2) but none of G0, G1 or
 * G-single: anything else the checker reports is a false positive. Also
 * the hard case for the G-single search: a giant component, rw edges
 * everywhere, no G-single to find. */
static void test_generated_snapshot_isolation(void **state)
{
	struct dkv_hist *h = dkv_hist_new();
	struct dkv_hist_report r;
	struct si *m = calloc(1, sizeof(*m));
	uint64_t t, i;
	double t0, t1;
	int k;

	(void)state;
	assert_non_null(m);
	m->g.rng = test_seed();
	for (i = 0; i < SI_ACTIVE; i++)
		m->active[i] = si_new_key(m);
	for (t = 0; t < SI_TXNS + SI_CONC; t++) {
		struct si_txn *x = &m->pending[t % SI_CONC];

		if (t >= SI_CONC)
			si_commit(m, x, t, h);
		if (t < SI_TXNS)
			si_begin(m, x, t);
	}
	t0 = now();
	assert_true(dkv_hist_check(h, &r) > 0);
	t1 = now();
	fprintf(stderr, "%" PRIu64 " committed, %" PRIu64 " aborted, %" PRIu64
			" edges, %" PRIu64 " G2: checked in %.3f s\n",
		m->committed, m->aborted, r.nedges, r.count[DKV_HIST_G2],
		t1 - t0);
	for (k = 0; k < DKV_HIST_NANOMALIES; k++)
		if (k != DKV_HIST_G2 && r.count[k] != 0)
			fail_msg("snapshot isolation gave %s:\n%s",
				 dkv_hist_anomaly_name((enum dkv_hist_anomaly)k),
				 r.text);
	assert_true(r.count[DKV_HIST_G2] > 0);
	assert_null(strstr(r.text, "out of budget"));
	assert_true(t1 - t0 < GEN_SECONDS_MAX);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
	for (i = 0; i < m->nkeys; i++) {
		free(m->keys[i].vals);
		free(m->keys[i].ctime);
	}
	free(m->keys);
	free(m);
}

/* --- JSON ----------------------------------------------------------------- */

static const char g2_json[] =
	"{\"seed\": 7, \"txns\": [\n"
	" {\"id\": 1, \"outcome\": \"ok\","
	"  \"ops\": [[\"read\", 1, []], [\"append\", 2, 1]]},\n"
	" {\"id\": 2, \"outcome\": \"ok\","
	"  \"ops\": [[\"read\", 2, []], [\"append\", 1, 1]]},\n"
	" {\"id\": 3, \"outcome\": \"info\", \"ops\": [[\"read\", 1, null]]},\n"
	" {\"id\": 4, \"outcome\": \"fail\", \"ops\": [[\"append\", 3, 1]]},\n"
	" {\"id\": 5, \"outcome\": \"ok\","
	"  \"ops\": [[\"read\", 1, [1]], [\"read\", 2, [1]]]}]}\n";

static const char clean_json[] =
	"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", \"ops\": "
	"[[\"append\", 1, 5], [\"read\", 1, [5]]]},"
	"{\"id\": 2, \"outcome\": \"ok\", \"ops\": [[\"read\", 1, [5]]]}]}";

static void test_json(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();
	char err[256];

	(void)state;
	assert_int_equal(dkv_hist_parse_json(h, g2_json, strlen(g2_json), err,
					     sizeof(err)),
			 0);
	assert_int_equal(dkv_hist_ntxns(h), 5);
	EXPECT(h, &r, [DKV_HIST_G2] = 1);
	assert_cycle(r.text, "G2", "T1 -rw-> T2 -rw-> T1");
	dkv_hist_report_free(&r);
	dkv_hist_free(h);

	h = dkv_hist_new();
	assert_int_equal(dkv_hist_parse_json(h, clean_json, strlen(clean_json),
					     NULL, 0),
			 0);
	EXPECT(h, &r);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static const char half_bad_json[] =
	"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", \"ops\": "
	"[[\"append\", 1, 1]]}, {\"id\": 2, \"outcome\": \"ok\", "
	"\"ops\": [[\"append\", 1, 2], [\"nope\"]]}]}";

static void test_json_malformed(void **state)
{
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{"", "line 1"},
		{"{\"txns\": [", "line 1"},
		{"[]", "expected an object with a list \"txns\""},
		{"{\"txns\": {}}", "expected an object with a list \"txns\""},
		{"{\"txns\": [1]}", "txns[0]: expected an object"},
		{"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", \"ops\": [], "
		 "\"at\": 3}]}",
		 "txns[0]: unknown field \"at\""},
		{"{\"txns\": [{\"id\": -1, \"outcome\": \"ok\", \"ops\": []}]}",
		 "txns[0].id"},
		{"{\"txns\": [{\"id\": 1.5, \"outcome\": \"ok\", \"ops\": []}]}",
		 "txns[0].id"},
		{"{\"txns\": [{\"id\": 1, \"outcome\": \"maybe\", \"ops\": []}]}",
		 "txns[0].outcome"},
		{"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\"}]}",
		 "txns[0].ops: expected a list"},
		{"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", "
		 "\"ops\": [[\"append\", 1]]}]}",
		 "txns[0].ops[0]: expected"},
		{"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", "
		 "\"ops\": [[\"write\", 1, 2]]}]}",
		 "unknown operation \"write\""},
		{"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", "
		 "\"ops\": [[\"append\", 1, \"x\"]]}]}",
		 "txns[0].ops[0]: the value must be"},
		{"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", "
		 "\"ops\": [[\"read\", 1, null]]}]}",
		 "null only when the outcome is fail or info"},
		{"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", "
		 "\"ops\": [[\"read\", 1, [1, -2]]]}]}",
		 "txns[0].ops[0]: element 1"},
		{"{\"txns\": [{\"id\": 1, \"id\": 2, \"outcome\": \"ok\", "
		 "\"ops\": []}]}",
		 "duplicate"},
		{"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", \"ops\": []}, "
		 "{\"id\": 1, \"outcome\": \"ok\", \"ops\": []}]}",
		 "txns[1]: id 1 appears twice"},
		{"{\"txns\": [{\"id\": 99999999999999999999, \"outcome\": "
		 "\"ok\", \"ops\": []}]}",
		 "line 1"},
	};
	struct dkv_hist_report r;
	struct dkv_hist *h;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h = dkv_hist_new();
		err[0] = '\0';
		assert_int_equal(dkv_hist_parse_json(h, cases[i].doc,
						     strlen(cases[i].doc), err,
						     sizeof(err)),
				 DKV_ERR_CORRUPT);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
				 cases[i].msg);
		dkv_hist_free(h);
	}

	/* the transactions before the faulty one stay; the faulty one goes,
	 * so the history is usable (no transaction left open) */
	h = dkv_hist_new();
	assert_int_equal(dkv_hist_parse_json(h, half_bad_json,
					     strlen(half_bad_json), err,
					     sizeof(err)),
			 DKV_ERR_CORRUPT);
	assert_int_equal(dkv_hist_ntxns(h), 1);
	txn(h, 2, OK, "r 1 [1]");
	EXPECT(h, &r);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

/* --- files and the tool --------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Runs dkv-histcheck with one argument (none if NULL), output discarded;
 * returns its exit status. */
static int run_tool(const char *arg)
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
		if (arg != NULL)
			execl(DKV_TEST_HISTCHECK, "dkv-histcheck", arg,
			      (char *)NULL);
		else
			execl(DKV_TEST_HISTCHECK, "dkv-histcheck",
			      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_files_and_tool(void **state)
{
	char dir[256], clean[300], g2[300], bad[300], big[300], none[300];
	struct dkv_hist_report r;
	struct dkv_hist *h;
	char err[256];
	int fd;

	(void)state;
	assert_int_equal(test_tmpdir_make(dir, sizeof(dir)), 0);
	snprintf(clean, sizeof(clean), "%s/clean.json", dir);
	snprintf(g2, sizeof(g2), "%s/g2.json", dir);
	snprintf(bad, sizeof(bad), "%s/bad.json", dir);
	snprintf(big, sizeof(big), "%s/big.json", dir);
	snprintf(none, sizeof(none), "%s/none.json", dir);
	write_file(clean, clean_json);
	write_file(g2, g2_json);
	write_file(bad, "{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", ");
	/* sparse: one byte over the limit, refused before being read */
	fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)DKV_HIST_JSON_MAX + 1), 0);
	close(fd);

	h = dkv_hist_new();
	assert_int_equal(dkv_hist_load_json(h, g2, err, sizeof(err)), 0);
	EXPECT(h, &r, [DKV_HIST_G2] = 1);
	dkv_hist_report_free(&r);
	assert_int_equal(dkv_hist_load_json(h, none, err, sizeof(err)),
			 DKV_ERR_IO);
	assert_int_equal(dkv_hist_load_json(h, bad, err, sizeof(err)),
			 DKV_ERR_CORRUPT);
	assert_int_equal(dkv_hist_load_json(h, big, err, sizeof(err)),
			 DKV_ERR_TOO_BIG);
	assert_non_null(strstr(err, "over the limit"));
	dkv_hist_free(h);

	assert_int_equal(run_tool(clean), 0);
	assert_int_equal(run_tool(g2), 1);
	assert_int_equal(run_tool(bad), 2);
	assert_int_equal(run_tool(none), 2);
	assert_int_equal(run_tool(big), 2);
	assert_int_equal(run_tool(NULL), 2);
	assert_int_equal(run_tool("--help"), 0);
	test_tmpdir_remove(dir);
}

/* --- real time ------------------------------------------------------------ */

static void test_times_api(void **state)
{
	const struct dkv_hist_check_opts rt = {.realtime = 1};
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();
	int64_t inv = -1, com = -1;

	(void)state;
	assert_int_equal(dkv_hist_times(NULL, 0, 1), DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_times(h, 0, 1), DKV_ERR_STATE);
	assert_int_equal(dkv_hist_begin(h, 1), 0);
	assert_int_equal(dkv_hist_times(h, -1, 1), DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_times(h, 5, 4), DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_times(h, INT64_MIN, 0), DKV_ERR_INVAL);
	/* an OK transaction must complete: end refuses, the txn stays open */
	assert_int_equal(dkv_hist_times(h, 5, DKV_HIST_NEVER), 0);
	assert_int_equal(dkv_hist_end(h, OK), DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_append(h, 1, 1), 0);
	assert_int_equal(dkv_hist_times(h, 5, 5), 0); /* replaces */
	assert_int_equal(dkv_hist_end(h, OK), 0);
	assert_int_equal(dkv_hist_begin(h, 2), 0);
	assert_int_equal(dkv_hist_times(h, 7, DKV_HIST_NEVER), 0);
	assert_int_equal(dkv_hist_end(h, INFO), 0);
	txn(h, 3, FAIL, "a 1 3"); /* FAIL: times not needed */

	assert_int_equal(dkv_hist_txn_times(NULL, 1, &inv, &com),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_txn_times(h, 9, &inv, &com),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_hist_txn_times(h, 3, &inv, &com), 0);
	assert_int_equal(dkv_hist_txn_times(h, 1, &inv, &com), 1);
	assert_true(inv == 5 && com == 5);
	assert_int_equal(dkv_hist_txn_times(h, 2, &inv, NULL), 1);
	assert_int_equal(dkv_hist_txn_times(h, 2, NULL, &com), 1);
	assert_true(inv == 7 && com == DKV_HIST_NEVER);
	EXPECT_RT(h, &r);
	dkv_hist_report_free(&r);

	/* real time needs times on every OK and INFO transaction */
	txn(h, 4, INFO, "");
	assert_int_equal(dkv_hist_check_ex(h, &rt, &r), DKV_ERR_INVAL);
	assert_null(r.text);
	assert_int_equal(r.total, 0);
	EXPECT(h, &r); /* fine without */
	dkv_hist_report_free(&r);
	assert_int_equal(dkv_hist_check_ex(h, NULL, &r), 0);
	assert_int_equal(r.realtime, 0);
	dkv_hist_report_free(&r);
	assert_int_equal(dkv_hist_check_ex(NULL, &rt, &r), DKV_ERR_INVAL);
	assert_int_equal(dkv_hist_check_ex(h, &rt, NULL), DKV_ERR_INVAL);
	assert_string_equal(dkv_hist_anomaly_name(DKV_HIST_G_SINGLE_REALTIME),
			    "G-single-realtime");
	assert_string_equal(dkv_hist_anomaly_name(DKV_HIST_G2_REALTIME),
			    "G2-realtime");
	dkv_hist_free(h);
}

/* T1 appends to x and completes; T2, invoked afterwards, reads x = []:
 * serializable (T2 before T1), not strictly. */
static void test_rt_stale_read(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	txn_at(h, 1, OK, 0, 10, "a 1 1");
	txn_at(h, 2, OK, 20, 30, "r 1 []");
	txn_at(h, 3, OK, 40, 50, "r 1 [1]");
	EXPECT_RT(h, &r, [DKV_HIST_G_SINGLE_REALTIME] = 1);
	assert_cycle(r.text, "G-single-realtime", "T2 -rw-> T1 -rt-> T2");
	assert_int_equal(r.nrt_edges, 2); /* T1 -> T2 -> T3: reduced */
	dkv_hist_report_free(&r);
	/* times recorded, real time not asked: as before */
	EXPECT(h, &r);
	assert_int_equal(r.nedges, 2);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_rt_g0(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	/* T1's append lands after T2's, though T2 began after T1 ended */
	txn_at(h, 1, OK, 0, 10, "a 1 2");
	txn_at(h, 2, OK, 20, 30, "a 1 1");
	txn_at(h, 3, OK, 40, 50, "r 1 [1 2]");
	EXPECT_RT(h, &r, [DKV_HIST_G0_REALTIME] = 1);
	assert_cycle(r.text, "G0-realtime", "T1 -rt-> T2 -ww-> T1");
	dkv_hist_report_free(&r);
	EXPECT(h, &r);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_rt_g1c(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	/* T1 reads T2's append, though T2 began after T1 ended */
	txn_at(h, 1, OK, 0, 10, "r 1 [1]");
	txn_at(h, 2, OK, 20, 30, "a 1 1");
	EXPECT_RT(h, &r, [DKV_HIST_G1C_REALTIME] = 1);
	assert_cycle(r.text, "G1c-realtime", "T1 -rt-> T2 -wr-> T1");
	dkv_hist_report_free(&r);
	EXPECT(h, &r);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

static void test_rt_g2(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	/* T1 -rw-> T2 -rw-> T3 -rt-> T1; T2 overlaps both */
	txn_at(h, 3, OK, 0, 10, "a 2 1");
	txn_at(h, 1, OK, 20, 30, "r 1 []");
	txn_at(h, 2, OK, 5, 25, "a 1 1; r 2 []");
	txn_at(h, 4, OK, 40, 50, "r 1 [1]; r 2 [1]");
	EXPECT_RT(h, &r, [DKV_HIST_G2_REALTIME] = 1);
	assert_cycle(r.text, "G2-realtime", "T1 -rw-> T2 -rw-> T3 -rt-> T1");
	dkv_hist_report_free(&r);
	EXPECT(h, &r);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

/* Concurrent transactions may take effect in either order; touching
 * intervals (one completes when the other is invoked) are concurrent;
 * INFO transactions may take effect any time after their invocation. */
static void test_rt_concurrent(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	txn_at(h, 1, OK, 0, 10, "a 1 1");
	txn_at(h, 2, OK, 5, 15, "r 1 []");   /* before T1: overlaps it */
	txn_at(h, 3, OK, 0, 10, "r 2 [1]");  /* after T4, invoked later */
	txn_at(h, 4, OK, 5, 15, "a 2 1");
	txn_at(h, 5, OK, 20, 30, "a 3 1");
	txn_at(h, 6, OK, 30, 40, "r 3 []");  /* touching: concurrent */
	txn_at(h, 7, INFO, 50, DKV_HIST_NEVER, "a 4 1");
	txn_at(h, 8, OK, 60, 70, "r 4 []");  /* 7 may commit later */
	txn_at(h, 9, INFO, 100, 110, "a 5 1"); /* completion: never */
	txn_at(h, 10, OK, 120, 130, "r 5 []");
	txn_at(h, 11, FAIL, 0, 200, "a 6 1");
	txn_at(h, 12, OK, 140, 150, "r 1 [1]; r 2 [1]; r 3 [1]; r 4 [1]; "
				      "r 5 [1]; r 6 []");
	txn_at(h, 13, OK, 150, 150, "r 1 [1]"); /* an instant */
	EXPECT_RT(h, &r);
	assert_true(r.nrt_edges > 0);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

/* Precedence: the plain classes are counted as without real time; a
 * component of all edges also gets its most severe real-time class when
 * that is more severe than every plain class reported inside it. */
static void test_rt_precedence(void **state)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();

	(void)state;
	/* write skew (G2), and T2 -rw-> T1 -rt-> T2: G-single-realtime is
	 * more severe: both */
	txn_at(h, 1, OK, 0, 10, "r 1 []; a 2 1");
	txn_at(h, 2, OK, 20, 30, "r 2 []; a 1 1");
	txn_at(h, 3, OK, 40, 50, "r 1 [1]; r 2 [1]");
	EXPECT_RT(h, &r, [DKV_HIST_G2] = 1, [DKV_HIST_G_SINGLE_REALTIME] = 1);
	assert_cycle(r.text, "G2", "T1 -rw-> T2 -rw-> T1");
	assert_cycle(r.text, "G-single-realtime", "T2 -rw-> T1 -rt-> T2");
	assert_true(strncmp(r.text, "G2: ", 4) == 0); /* plain lines first */
	dkv_hist_report_free(&r);
	EXPECT(h, &r, [DKV_HIST_G2] = 1);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);

	/* a concurrent write skew (G2) and, in the same component through a
	 * stale read of T2's append (T6 -rw-> T2), a G0-realtime: both */
	h = dkv_hist_new();
	txn_at(h, 1, OK, 0, 10, "r 1 []; a 2 1");
	txn_at(h, 2, OK, 5, 15, "r 2 []; a 1 1");
	txn_at(h, 5, OK, 20, 30, "a 3 2");
	txn_at(h, 6, OK, 40, 50, "a 3 1; r 1 []");
	txn_at(h, 7, OK, 60, 70, "r 1 [1]; r 2 [1]; r 3 [1 2]");
	EXPECT_RT(h, &r, [DKV_HIST_G2] = 1, [DKV_HIST_G0_REALTIME] = 1);
	assert_cycle(r.text, "G2", "T1 -rw-> T2 -rw-> T1");
	assert_cycle(r.text, "G0-realtime", "T5 -rt-> T6 -ww-> T5");
	dkv_hist_report_free(&r);
	EXPECT(h, &r, [DKV_HIST_G2] = 1);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);

	/* read skew (G-single) and a stale read of the same append (T4 -rw->
	 * T2 -rt-> T4): G-single-realtime is no more severe: G-single only */
	h = dkv_hist_new();
	txn_at(h, 10, OK, 0, 10, "a 1 1; a 2 1");
	txn_at(h, 2, OK, 20, 30, "a 1 2; a 2 2");
	txn_at(h, 1, OK, 5, 40, "r 1 [1]; r 2 [1 2]");
	txn_at(h, 4, OK, 50, 60, "r 1 [1]");
	txn_at(h, 3, OK, 70, 80, "r 1 [1 2]");
	EXPECT_RT(h, &r, [DKV_HIST_G_SINGLE] = 1);
	assert_cycle(r.text, "G-single", "T1 -rw-> T2 -wr-> T1");
	dkv_hist_report_free(&r);
	dkv_hist_free(h);

	/* G1c and the same stale read: G1c only */
	h = dkv_hist_new();
	txn_at(h, 1, OK, 0, 10, "a 1 1; r 2 [1]");
	txn_at(h, 2, OK, 5, 15, "a 2 1; a 1 2");
	txn_at(h, 4, OK, 50, 60, "r 1 [1]");
	txn_at(h, 3, OK, 100, 110, "r 1 [1 2]");
	EXPECT_RT(h, &r, [DKV_HIST_G1C] = 1);
	assert_cycle(r.text, "G1c", "T1 -ww-> T2 -wr-> T1");
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

/* A chain of sequential transactions gets one rt edge each, however
 * long; reachability survives the reduction: a read stale by 2000
 * transactions is a cycle through all of them. With k lanes of
 * sequential transactions, at most k edges each. */
static void test_rt_reduction(void **state)
{
	const uint64_t n = 2000, lanes = 7;
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();
	uint64_t i;
	char ops[64];

	(void)state;
	txn_at(h, 0, OK, 0, 5, "a 1 1");
	for (i = 1; i <= n; i++) {
		snprintf(ops, sizeof(ops), "a %" PRIu64 " 1", 100 + i);
		txn_at(h, i, OK, (int64_t)(10 * i), (int64_t)(10 * i + 5), ops);
	}
	txn_at(h, n + 1, OK, (int64_t)(10 * n + 10), (int64_t)(10 * n + 15),
	       "r 1 []");
	txn_at(h, n + 2, OK, (int64_t)(10 * n + 20), (int64_t)(10 * n + 25),
	       "r 1 [1]");
	EXPECT_RT(h, &r, [DKV_HIST_G_SINGLE_REALTIME] = 1);
	assert_int_equal(r.nrt_edges, n + 2);
	assert_non_null(strstr(r.text, "G-single-realtime: T2001 -rw-> T0 "
				       "-rt-> T1 -rt-> T2 -rt-> "));
	assert_non_null(strstr(r.text, " more steps ..."));
	dkv_hist_report_free(&r);
	dkv_hist_free(h);

	/* lanes: lane j runs its transactions back to back, shifted by j */
	h = dkv_hist_new();
	for (i = 0; i < n; i++) {
		uint64_t lane = i % lanes, step = i / lanes;
		int64_t t0 = (int64_t)(100 * step + 3 * lane);

		snprintf(ops, sizeof(ops), "a %" PRIu64 " 1", i);
		txn_at(h, i, OK, t0, t0 + 95, ops);
	}
	EXPECT_RT(h, &r);
	assert_true(r.nrt_edges <= n * lanes);
	assert_true(r.nrt_edges >= n - lanes);
	fprintf(stderr, "%" PRIu64 " transactions in %" PRIu64
			" lanes: %" PRIu64 " rt edges\n",
		n, lanes, r.nrt_edges);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}
/* --- a generated strictly serializable history ---------------------------- */

#define RT_TXNS 100000
#define RT_LANES 8   /* clients, each running one transaction at a time */
#define RT_ACTIVE 2000

struct rt_key {
	uint64_t vals[GEN_KEY_APPENDS + GEN_OPS_MAX]; /* committed list */
	int64_t done[GEN_KEY_APPENDS + GEN_OPS_MAX];  /* writers' completion */
	uint32_t n, next;
};

struct rt_plan {
	int64_t invoke, at, complete; /* takes effect at `at`, inside */
	uint64_t id;
};

struct rt_gen {
	struct gen g; /* for its random numbers */
	struct rt_key *keys;
	uint64_t nkeys, keys_cap;
	uint64_t active[RT_ACTIVE];
	uint64_t stale; /* reads made stale */
};

static uint64_t rt_new_key(struct rt_gen *m)
{
	if (m->nkeys == m->keys_cap) {
		m->keys_cap = m->keys_cap != 0 ? 2 * m->keys_cap : 8192;
		m->keys = realloc(m->keys, m->keys_cap * sizeof(*m->keys));
		assert_non_null(m->keys);
	}
	memset(&m->keys[m->nkeys], 0, sizeof(m->keys[0]));
	return m->nkeys++;
}

static int rt_plan_cmp(const void *pa, const void *pb)
{
	const struct rt_plan *a = pa, *b = pb;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Transaction p executed atomically at its instant against the model and
 * recorded in h with its times. Reads see the committed lists plus the
 * transaction's own appends, except that with `stale`, one in `stale` of
 * an OK transaction's reads misses the key's last append, when that
 * append's writer completed before this transaction was invoked (the one
 * kind of staleness only real time can tell). */
static void rt_txn(struct rt_gen *m, struct dkv_hist *h,
		   const struct rt_plan *p, unsigned stale)
{
	uint64_t pk[GEN_OPS_MAX], pv[GEN_OPS_MAX], ps[GEN_OPS_MAX];
	uint64_t list[GEN_KEY_APPENDS + 2 * GEN_OPS_MAX];
	unsigned roll = (unsigned)(gen_rand(&m->g) % 100), nops, np = 0, i, j;
	enum dkv_hist_outcome oc = roll < 90 ? OK : roll < 95 ? FAIL : INFO;
	int commit = oc == OK || (oc == INFO && gen_rand(&m->g) % 2 == 0);
	int64_t done = oc == OK ? p->complete : DKV_HIST_NEVER;
	uint32_t n;

	nops = 2 + (unsigned)(gen_rand(&m->g) % (GEN_OPS_MAX - 1));
	assert_int_equal(dkv_hist_begin(h, p->id), 0);
	assert_int_equal(dkv_hist_times(h, p->invoke,
					oc == INFO && gen_rand(&m->g) % 2
						? DKV_HIST_NEVER
						: p->complete),
			 0);
	for (i = 0; i < nops; i++) {
		uint64_t slot = gen_rand(&m->g) % RT_ACTIVE;
		uint64_t k = m->active[slot];
		struct rt_key *key = &m->keys[k];
		int own = 0;

		if (gen_rand(&m->g) % 2 == 0) {
			ps[np] = slot;
			pk[np] = k;
			pv[np] = ++key->next;
			assert_int_equal(dkv_hist_append(h, k, pv[np]), 0);
			np++;
			continue;
		}
		if (oc == INFO && gen_rand(&m->g) % 2 == 0)
			continue; /* result unknown */
		n = key->n;
		for (j = 0; j < np; j++)
			own |= pk[j] == k;
		if (stale && oc == OK && !own && n > 0 &&
		    key->done[n - 1] < p->invoke &&
		    gen_rand(&m->g) % stale == 0) {
			n--;
			m->stale++;
		}
		memcpy(list, key->vals, n * sizeof(*list));
		for (j = 0; j < np; j++)
			if (pk[j] == k)
				list[n++] = pv[j];
		assert_int_equal(dkv_hist_read(h, k, list, n), 0);
	}
	assert_int_equal(dkv_hist_end(h, oc), 0);
	for (j = 0; commit && j < np; j++) {
		struct rt_key *key = &m->keys[pk[j]];

		key->done[key->n] = done;
		key->vals[key->n++] = pv[j];
	}
	for (j = 0; j < np; j++) /* retire the keys used up */
		if (m->keys[m->active[ps[j]]].next >= GEN_KEY_APPENDS)
			m->active[ps[j]] = rt_new_key(m);
}

/* RT_TXNS transactions from RT_LANES clients, each invoking its next one
 * a little after its last completed (sometimes at that very instant);
 * each takes effect at an instant of its interval (sometimes an end),
 * and they run in the order of those instants: strictly serializable,
 * unless `stale` (rt_txn). Times are small integers, so ties are common. */
static struct dkv_hist *rt_history(uint64_t seed, unsigned stale,
				   uint64_t *nstale)
{
	struct dkv_hist *h = dkv_hist_new();
	struct rt_plan *plan = calloc(RT_TXNS, sizeof(*plan));
	struct rt_gen *m = calloc(1, sizeof(*m));
	int64_t clock[RT_LANES] = {0};
	uint64_t i;

	assert_true(h != NULL && plan != NULL && m != NULL);
	m->g.rng = seed;
	for (i = 0; i < RT_ACTIVE; i++)
		m->active[i] = rt_new_key(m);
	for (i = 0; i < RT_TXNS; i++) {
		int64_t *t = &clock[gen_rand(&m->g) % RT_LANES];
		int64_t len = (int64_t)(gen_rand(&m->g) % 40);

		plan[i].id = i;
		plan[i].invoke = *t + (int64_t)(gen_rand(&m->g) % 3);
		plan[i].complete = plan[i].invoke + len;
		switch (gen_rand(&m->g) % 4) {
		case 0:
			plan[i].at = plan[i].invoke;
			break;
		case 1:
			plan[i].at = plan[i].complete;
			break;
		default:
			plan[i].at = plan[i].invoke +
				     (int64_t)(gen_rand(&m->g) %
					       (uint64_t)(len + 1));
		}
		*t = plan[i].complete;
	}
	qsort(plan, RT_TXNS, sizeof(*plan), rt_plan_cmp);
	for (i = 0; i < RT_TXNS; i++)
		rt_txn(m, h, &plan[i], stale);
	*nstale = m->stale;
	free(m->keys);
	free(m);
	free(plan);
	return h;
}

static void test_generated_strict(void **state)
{
	const struct dkv_hist_check_opts rt = {.realtime = 1};
	struct dkv_hist_report r;
	uint64_t nstale;
	struct dkv_hist *h = rt_history(test_seed(), 0, &nstale);
	double t0, t1;

	(void)state;
	t0 = now();
	EXPECT_RT(h, &r);
	t1 = now();
	fprintf(stderr, "%" PRIu64 " transactions, %" PRIu64 " edges, %" PRIu64
			" rt: checked in %.3f s\n",
		r.ntxns, r.nedges, r.nrt_edges, t1 - t0);
	assert_true(r.nrt_edges > RT_TXNS / 2);
	assert_true(r.nrt_edges <= (uint64_t)RT_TXNS * RT_LANES);
	assert_true(t1 - t0 < GEN_SECONDS_MAX);
	dkv_hist_report_free(&r);
	EXPECT(h, &r);
	dkv_hist_report_free(&r);
	assert_int_equal(dkv_hist_check_ex(h, &rt, &r), 0);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
}

/* The same with stale reads, few (1 in 2048 reads that can be: each is
 * a cycle through real time, most make their own component) or many (1
 * in 64: their components merge into one, whose anomalies are reported
 * once); found either way, and the plain classes are the same with real
 * time or without. */
static void check_stale(uint64_t seed, unsigned stale)
{
	const struct dkv_hist_check_opts rt = {.realtime = 1};
	struct dkv_hist_report r, p;
	uint64_t nstale, nrt = 0;
	struct dkv_hist *h = rt_history(seed, stale, &nstale);
	double t0, t1;
	int k;

	t0 = now();
	assert_true(dkv_hist_check_ex(h, &rt, &r) > 0);
	t1 = now();
	assert_true(dkv_hist_check(h, &p) >= 0);
	for (k = 0; k < DKV_HIST_NANOMALIES; k++) {
		if (k >= DKV_HIST_G0_REALTIME && k <= DKV_HIST_G2_REALTIME) {
			nrt += r.count[k];
			assert_int_equal(p.count[k], 0);
		} else {
			assert_int_equal(r.count[k], p.count[k]);
		}
	}
	fprintf(stderr,
		"%" PRIu64 " stale reads: %" PRIu64 " plain and %" PRIu64
		" real-time anomalies (%" PRIu64 " G-single-realtime), "
		"checked in %.3f s\n",
		nstale, p.total, nrt, r.count[DKV_HIST_G_SINGLE_REALTIME],
		t1 - t0);
	assert_true(nstale > 0);
	assert_true(r.total > 0);
	if (stale > 1000)
		assert_true(nrt > 0);
	assert_null(strstr(r.text, "out of budget"));
	assert_true(t1 - t0 < GEN_SECONDS_MAX);
	if (p.total <= DKV_HIST_SHOWN_MAX)
		assert_true(strncmp(r.text, p.text, strlen(p.text)) == 0);
	dkv_hist_report_free(&r);
	dkv_hist_report_free(&p);
	dkv_hist_free(h);
}

static void test_generated_stale(void **state)
{
	uint64_t seed = test_seed();

	(void)state;
	check_stale(seed, 2048);
	check_stale(seed, 64);
}

/* Snapshot isolation as test_generated_snapshot_isolation, with times:
 * invoked at the snapshot, completed at the commit. Strong snapshot
 * isolation forbids every cycle with fewer than two rw edges, real time
 * or not: only G2 and G2-realtime may be reported, G2 as without real
 * time. */
static void test_generated_si_realtime(void **state)
{
	const struct dkv_hist_check_opts rt = {.realtime = 1};
	struct dkv_hist *h = dkv_hist_new();
	struct dkv_hist_report r;
	struct si *m = calloc(1, sizeof(*m));
	uint64_t t, i, g2;
	double t0, t1;
	int k;

	(void)state;
	assert_non_null(m);
	m->g.rng = test_seed();
	m->timed = 1;
	for (i = 0; i < SI_ACTIVE; i++)
		m->active[i] = si_new_key(m);
	for (t = 0; t < SI_TXNS + SI_CONC; t++) {
		struct si_txn *x = &m->pending[t % SI_CONC];

		if (t >= SI_CONC)
			si_commit(m, x, t, h);
		if (t < SI_TXNS)
			si_begin(m, x, t);
	}
	assert_true(dkv_hist_check(h, &r) > 0);
	g2 = r.count[DKV_HIST_G2];
	dkv_hist_report_free(&r);
	t0 = now();
	assert_true(dkv_hist_check_ex(h, &rt, &r) > 0);
	t1 = now();
	fprintf(stderr, "%" PRIu64 " edges, %" PRIu64 " rt, %" PRIu64
			" G2, %" PRIu64 " G2-realtime: checked in %.3f s\n",
		r.nedges, r.nrt_edges, r.count[DKV_HIST_G2],
		r.count[DKV_HIST_G2_REALTIME], t1 - t0);
	for (k = 0; k < DKV_HIST_NANOMALIES; k++)
		if (k != DKV_HIST_G2 && k != DKV_HIST_G2_REALTIME &&
		    r.count[k] != 0)
			fail_msg("strong snapshot isolation gave %s:\n%s",
				 dkv_hist_anomaly_name((enum dkv_hist_anomaly)k),
				 r.text);
	assert_int_equal(r.count[DKV_HIST_G2], g2);
	assert_null(strstr(r.text, "out of budget"));
	assert_true(t1 - t0 < GEN_SECONDS_MAX);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
	for (i = 0; i < m->nkeys; i++) {
		free(m->keys[i].vals);
		free(m->keys[i].ctime);
	}
	free(m->keys);
	free(m);
}

/* Random broken histories with random times (ties, instants, INFO
 * without completion): the check with real time succeeds, counts the
 * plain classes as without it, and says the same twice. */
static void test_random_histories_realtime(void **state)
{
	const struct dkv_hist_check_opts rt = {.realtime = 1};
	struct dkv_hist_report r1, r2, p;
	struct gen g;
	uint64_t round, id, vals[6], seen[DKV_HIST_NANOMALIES] = {0};
	unsigned i, j, n;
	int k, rc;

	(void)state;
	memset(&g, 0, sizeof(g));
	g.rng = test_seed() + 1;
	for (round = 0; round < 300; round++) {
		struct dkv_hist *h = dkv_hist_new();

		for (id = 0; id < 40; id++) {
			unsigned roll = (unsigned)(gen_rand(&g) % 10);
			int64_t inv = (int64_t)(gen_rand(&g) % 50);
			int64_t com = inv + (int64_t)(gen_rand(&g) % 10);

			if (roll == 9 && gen_rand(&g) % 2 == 0)
				com = DKV_HIST_NEVER; /* an INFO's timeout */
			assert_int_equal(dkv_hist_begin(h, id), 0);
			assert_int_equal(dkv_hist_times(h, inv, com), 0);
			for (i = 0; i < 1 + gen_rand(&g) % 4; i++) {
				uint64_t key = gen_rand(&g) % 4;

				if (gen_rand(&g) % 2 == 0) {
					assert_int_equal(
						dkv_hist_append(h, key,
								gen_rand(&g) % 24),
						0);
					continue;
				}
				n = (unsigned)(gen_rand(&g) % 6);
				for (j = 0; j < n; j++)
					vals[j] = gen_rand(&g) % 24;
				assert_int_equal(dkv_hist_read(h, key, vals, n), 0);
			}
			assert_int_equal(dkv_hist_end(h, roll < 7   ? OK
							 : roll < 9 ? FAIL
								    : INFO),
					 0);
		}
		rc = dkv_hist_check_ex(h, &rt, &r1);
		assert_true(rc >= 0);
		assert_int_equal(dkv_hist_check_ex(h, &rt, &r2), rc);
		assert_string_equal(r1.text, r2.text);
		assert_true(dkv_hist_check(h, &p) >= 0);
		for (k = 0; k < DKV_HIST_NANOMALIES; k++) {
			assert_int_equal(r1.count[k], r2.count[k]);
			if (k < DKV_HIST_G0_REALTIME || k > DKV_HIST_G2_REALTIME)
				assert_int_equal(r1.count[k], p.count[k]);
			seen[k] += r1.count[k];
			r1.total -= r1.count[k];
		}
		assert_int_equal(r1.total, 0);
		dkv_hist_report_free(&r1);
		dkv_hist_report_free(&r2);
		dkv_hist_report_free(&p);
		dkv_hist_free(h);
	}
	for (k = DKV_HIST_G0_REALTIME; k <= DKV_HIST_G2_REALTIME; k++)
		fprintf(stderr, "%s %" PRIu64 "%s",
			dkv_hist_anomaly_name((enum dkv_hist_anomaly)k),
			seen[k], k < DKV_HIST_G2_REALTIME ? ", " : "\n");
	assert_true(seen[DKV_HIST_G_SINGLE_REALTIME] > 0);
}

/* --- JSON with times ------------------------------------------------------ */

static const char rt_json[] =
	"{\"txns\": [\n"
	" {\"id\": 1, \"outcome\": \"ok\", \"invoke_ns\": 0,"
	"  \"complete_ns\": 10, \"ops\": [[\"append\", 1, 1]]},\n"
	" {\"id\": 2, \"outcome\": \"ok\", \"invoke_ns\": 20,"
	"  \"complete_ns\": 30, \"ops\": [[\"read\", 1, []]]},\n"
	" {\"id\": 3, \"outcome\": \"info\", \"invoke_ns\": 25,"
	"  \"ops\": [[\"append\", 2, 1]]},\n"
	" {\"id\": 4, \"outcome\": \"info\", \"invoke_ns\": 26,"
	"  \"complete_ns\": 27, \"ops\": []},\n"
	" {\"id\": 5, \"outcome\": \"fail\", \"ops\": [[\"append\", 3, 1]]},\n"
	" {\"id\": 6, \"outcome\": \"ok\", \"invoke_ns\": 9223372036854775806,"
	"  \"complete_ns\": 9223372036854775806,"
	"  \"ops\": [[\"read\", 1, [1]]]}]}\n";

static void test_json_times(void **state)
{
	const struct dkv_hist_check_opts rt = {.realtime = 1};
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();
	int64_t inv, com;
	char err[256];

	(void)state;
	assert_int_equal(dkv_hist_parse_json(h, rt_json, strlen(rt_json), err,
					     sizeof(err)),
			 0);
	assert_int_equal(dkv_hist_txn_times(h, 1, &inv, &com), 1);
	assert_true(inv == 0 && com == 10);
	assert_int_equal(dkv_hist_txn_times(h, 2, &inv, &com), 1);
	assert_true(inv == 20 && com == 30);
	assert_int_equal(dkv_hist_txn_times(h, 3, &inv, &com), 1);
	assert_true(inv == 25 && com == DKV_HIST_NEVER);
	assert_int_equal(dkv_hist_txn_times(h, 4, &inv, &com), 1);
	assert_true(inv == 26 && com == 27);
	assert_int_equal(dkv_hist_txn_times(h, 5, &inv, &com), 0);
	assert_int_equal(dkv_hist_txn_times(h, 6, &inv, &com), 1);
	assert_true(inv == INT64_MAX - 1 && com == INT64_MAX - 1);
	EXPECT_RT(h, &r, [DKV_HIST_G_SINGLE_REALTIME] = 1);
	assert_cycle(r.text, "G-single-realtime", "T2 -rw-> T1 -rt-> T2");
	dkv_hist_report_free(&r);
	EXPECT(h, &r);
	dkv_hist_report_free(&r);
	dkv_hist_free(h);

	/* without times: as before, and no real-time check possible */
	h = dkv_hist_new();
	assert_int_equal(dkv_hist_parse_json(h, g2_json, strlen(g2_json), err,
					     sizeof(err)),
			 0);
	assert_int_equal(dkv_hist_txn_times(h, 1, &inv, &com), 0);
	assert_int_equal(dkv_hist_check_ex(h, &rt, &r), DKV_ERR_INVAL);
	dkv_hist_free(h);
}

static void test_json_bad_times(void **state)
{
#define T_(fields) "{\"id\": 1, \"outcome\": \"ok\", \"ops\": []" fields "}"
	static const struct {
		const char *doc, *msg;
	} cases[] = {
		{"{\"txns\": [" T_(", \"invoke_ns\": -1, \"complete_ns\": 2") "]}",
		 "txns[0].invoke_ns: expected an integer"},
		{"{\"txns\": [" T_(", \"invoke_ns\": 1.5, \"complete_ns\": 2") "]}",
		 "txns[0].invoke_ns: expected an integer"},
		{"{\"txns\": [" T_(", \"invoke_ns\": \"1\", \"complete_ns\": 2")
		 "]}",
		 "txns[0].invoke_ns: expected an integer"},
		{"{\"txns\": [" T_(", \"invoke_ns\": null") "]}",
		 "txns[0].invoke_ns: expected an integer"},
		{"{\"txns\": [" T_(", \"invoke_ns\": 1, \"complete_ns\": -2") "]}",
		 "txns[0].complete_ns: expected an integer"},
		{"{\"txns\": [" T_(", \"invoke_ns\": 5, \"complete_ns\": 4") "]}",
		 "txns[0].complete_ns: 4 is before invoke_ns 5"},
		{"{\"txns\": [" T_(", \"complete_ns\": 4") "]}",
		 "txns[0].complete_ns: given without invoke_ns"},
		{"{\"txns\": [" T_(", \"invoke_ns\": 5") "]}",
		 "txns[0]: an ok transaction with invoke_ns needs complete_ns"},
		{"{\"txns\": [" T_(", \"invoke_ns\": 5, "
				   "\"complete_ns\": 9223372036854775807") "]}",
		 "txns[0]: an ok transaction with invoke_ns needs complete_ns"},
		{"{\"txns\": [" T_(", \"invoke_ns\": 1, \"complete_ns\": 2") ", "
		 "{\"id\": 2, \"outcome\": \"fail\", \"ops\": []}, "
		 "{\"id\": 3, \"outcome\": \"info\", \"ops\": []}]}",
		 "txns[2]: has no invoke_ns, unlike txns[0]: every ok and info "
		 "transaction has times or none does"},
		{"{\"txns\": [{\"id\": 2, \"outcome\": \"info\", \"ops\": []}, "
		 T_(", \"invoke_ns\": 1, \"complete_ns\": 2") "]}",
		 "txns[1]: has invoke_ns, unlike txns[0]"},
		{"{\"txns\": [" T_(", \"invoke_ns\": 1, \"invoke_ns\": 2, "
				   "\"complete_ns\": 3") "]}",
		 "duplicate"},
		{"{\"txns\": [" T_(", \"invoke\": 1") "]}",
		 "txns[0]: unknown field \"invoke\""},
	};
#undef T_
	static const char fail_untimed[] =
		"{\"txns\": [{\"id\": 1, \"outcome\": \"ok\", \"ops\": [], "
		"\"invoke_ns\": 1, \"complete_ns\": 1}, {\"id\": 2, "
		"\"outcome\": \"fail\", \"ops\": []}, {\"id\": 3, \"outcome\": "
		"\"fail\", \"ops\": [], \"invoke_ns\": 0}]}";
	struct dkv_hist *h;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		h = dkv_hist_new();
		err[0] = '\0';
		assert_int_equal(dkv_hist_parse_json(h, cases[i].doc,
						     strlen(cases[i].doc), err,
						     sizeof(err)),
				 DKV_ERR_CORRUPT);
		if (strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
				 cases[i].msg);
		dkv_hist_free(h);
	}
	/* FAIL transactions may have times or not */
	h = dkv_hist_new();
	assert_int_equal(dkv_hist_parse_json(h, fail_untimed,
					     strlen(fail_untimed), err,
					     sizeof(err)),
			 0);
	assert_int_equal(dkv_hist_ntxns(h), 3);
	dkv_hist_free(h);
}

/* Runs dkv-histcheck with two arguments, output discarded; returns its
 * exit status. */
static int run_tool2(const char *a, const char *b)
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
		execl(DKV_TEST_HISTCHECK, "dkv-histcheck", a, b, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void test_tool_realtime(void **state)
{
	char dir[256], stale[300], plain[300], g2[300];

	(void)state;
	assert_int_equal(test_tmpdir_make(dir, sizeof(dir)), 0);
	snprintf(stale, sizeof(stale), "%s/stale.json", dir);
	snprintf(plain, sizeof(plain), "%s/plain.json", dir);
	snprintf(g2, sizeof(g2), "%s/g2.json", dir);
	write_file(stale, rt_json);
	write_file(plain, clean_json);
	write_file(g2, g2_json);
	assert_int_equal(run_tool(stale), 0);   /* serializable */
	assert_int_equal(run_tool2("--realtime", stale), 1); /* not strictly */
	assert_int_equal(run_tool2("--realtime", plain), 2); /* no times */
	assert_int_equal(run_tool2("--realtime", g2), 2);
	assert_int_equal(run_tool2("--bogus", stale), 2);
	assert_int_equal(run_tool2(stale, "--realtime"), 2);
	assert_int_equal(run_tool("--realtime"), 2);
	test_tmpdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api),
		cmocka_unit_test(test_serial),
		cmocka_unit_test(test_concurrent_info),
		cmocka_unit_test(test_g0),
		cmocka_unit_test(test_g1a),
		cmocka_unit_test(test_g1b),
		cmocka_unit_test(test_g1c),
		cmocka_unit_test(test_g_single),
		cmocka_unit_test(test_g2),
		cmocka_unit_test(test_one_class_per_component),
		cmocka_unit_test(test_incompatible_order),
		cmocka_unit_test(test_garbage_read),
		cmocka_unit_test(test_internal),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_report_cap),
		cmocka_unit_test(test_long_cycle),
		cmocka_unit_test(test_giant_g2),
		cmocka_unit_test(test_random_histories),
		cmocka_unit_test(test_generated_serial),
		cmocka_unit_test(test_generated_read_skew),
		cmocka_unit_test(test_generated_snapshot_isolation),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_malformed),
		cmocka_unit_test(test_files_and_tool),
		cmocka_unit_test(test_times_api),
		cmocka_unit_test(test_rt_stale_read),
		cmocka_unit_test(test_rt_g0),
		cmocka_unit_test(test_rt_g1c),
		cmocka_unit_test(test_rt_g2),
		cmocka_unit_test(test_rt_concurrent),
		cmocka_unit_test(test_rt_precedence),
		cmocka_unit_test(test_rt_reduction),
		cmocka_unit_test(test_generated_strict),
		cmocka_unit_test(test_generated_stale),
		cmocka_unit_test(test_generated_si_realtime),
		cmocka_unit_test(test_random_histories_realtime),
		cmocka_unit_test(test_json_times),
		cmocka_unit_test(test_json_bad_times),
		cmocka_unit_test(test_tool_realtime),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
