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
 * codes of the dkv-histcheck tool.
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
 * "a K V" appends V to key K, "r K [V V ...]" reads key K. */
static void txn(struct dkv_hist *h, uint64_t id, enum dkv_hist_outcome oc,
		const char *ops)
{
	uint64_t vals[64], key;
	const char *p = ops;
	char *end;
	size_t n;

	assert_int_equal(dkv_hist_begin(h, id), 0);
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

/* Checks h; asserts the count of every kind is exactly want[kind] and
 * returns the report in *r (the caller frees it). */
static void check_exact(struct dkv_hist *h, const uint64_t *want,
			struct dkv_hist_report *r)
{
	uint64_t total = 0;
	int k, rc, same = 1;

	rc = dkv_hist_check(h, r);
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
}

/* check_exact with the counts as designated initializers:
 * EXPECT(h, &r, [DKV_HIST_G0] = 1); EXPECT(h, &r) for none. */
#define EXPECT(h, r, ...)                                                      \
	check_exact((h), (const uint64_t[DKV_HIST_NANOMALIES]){__VA_ARGS__}, (r))

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
