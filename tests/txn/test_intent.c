/*
 * The per-shard intent index (src/txn/intent.c) and the wait-die order
 * (src/txn/txid.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "txn/intent.h"
#include "txn/record.h"

static int owner_a, owner_b;
static const struct dkv_txid A = { 10, 1 }, B = { 20, 1 };

static void test_add_find_remove(void **state)
{
	struct txn_iindex ix;
	struct txn_intent *w, *r1, *r2, *in;
	size_t klen;
	const char *k;

	(void)state;
	assert_int_equal(txn_ii_init(&ix), 0);
	assert_null(txn_ii_find(&ix, "k", 1));
	assert_int_equal(txn_ii_add(&ix, "k", 1, &owner_a, &A, TXN_REC_I_PUT,
				    "v", 1, &w), 0);
	in = txn_ii_find(&ix, "k", 1);
	assert_ptr_equal(in, w);
	assert_ptr_equal(in->owner, &owner_a);
	k = txn_ii_key(in, &klen);
	assert_int_equal(klen, 1);
	assert_memory_equal(k, "k", 1);
	/* Two read locks on another key: both holders listed. */
	assert_int_equal(txn_ii_add(&ix, "r", 1, &owner_a, &A, TXN_REC_I_READ,
				    NULL, 0, &r1), 0);
	assert_int_equal(txn_ii_add(&ix, "r", 1, &owner_b, &B, TXN_REC_I_READ,
				    NULL, 0, &r2), 0);
	assert_int_equal(ix.nkeys, 2);
	assert_int_equal(ix.nintents, 3);
	in = txn_ii_find(&ix, "r", 1);
	assert_non_null(in);
	assert_non_null(in->next_on_key);
	assert_null(in->next_on_key->next_on_key);
	txn_ii_remove(&ix, r1);
	assert_ptr_equal(txn_ii_find(&ix, "r", 1), r2);
	txn_ii_remove(&ix, r2);
	assert_null(txn_ii_find(&ix, "r", 1));
	assert_int_equal(ix.nkeys, 1);
	txn_ii_remove(&ix, w);
	assert_int_equal(ix.nkeys, 0);
	assert_int_equal(ix.nintents, 0);
	txn_ii_fini(&ix);
}

static int count_cb(void *arg, struct txn_intent *in)
{
	(void)in;
	(*(int *)arg)++;
	return 0;
}

static void test_many_and_ranges(void **state)
{
	struct txn_iindex ix;
	struct txn_intent *in[300];
	char key[16];
	int n;

	(void)state;
	assert_int_equal(txn_ii_init(&ix), 0);
	/* Past the initial table: the index grows and still finds all. */
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%03d", i);
		assert_int_equal(txn_ii_add(&ix, key, strlen(key), &owner_a, &A,
					    TXN_REC_I_DEL, NULL, 0, &in[i]), 0);
	}
	assert_true(ix.nbuckets >= 256);
	for (int i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%03d", i);
		assert_ptr_equal(txn_ii_find(&ix, key, strlen(key)), in[i]);
	}
	n = 0;
	txn_ii_foreach_in(&ix, "k100", 4, "k200", 4, count_cb, &n);
	assert_int_equal(n, 100);
	n = 0;
	txn_ii_foreach_in(&ix, NULL, 0, "k010", 4, count_cb, &n);
	assert_int_equal(n, 10);
	n = 0;
	txn_ii_foreach_in(&ix, "k290", 4, NULL, 0, count_cb, &n);
	assert_int_equal(n, 10);
	/* A freed key is gone, the rest stay. */
	txn_ii_remove(&ix, in[150]);
	assert_null(txn_ii_find(&ix, "k150", 4));
	assert_ptr_equal(txn_ii_find(&ix, "k151", 4), in[151]);
	txn_ii_fini(&ix); /* frees what is left */
}

static void test_range_locks(void **state)
{
	struct txn_iindex ix;
	struct txn_rlock *r1, *r2, *c;

	(void)state;
	assert_int_equal(txn_ii_init(&ix), 0);
	assert_int_equal(txn_ii_range_add(&ix, &owner_a, &A, "b", 1, "d", 1,
					  &r1), 0);
	assert_int_equal(txn_ii_range_add(&ix, &owner_b, &B, "c", 1, NULL, 0,
					  &r2), 0);
	assert_null(txn_ii_range_covering(&ix, "a", 1, NULL));
	assert_ptr_equal(txn_ii_range_covering(&ix, "b", 1, NULL), r1);
	assert_null(txn_ii_range_covering(&ix, "b", 1, r1));
	/* "c" is in both; the walk visits each once. */
	c = txn_ii_range_covering(&ix, "c", 1, NULL);
	assert_non_null(c);
	assert_non_null(txn_ii_range_covering(&ix, "c", 1, c));
	assert_null(txn_ii_range_covering(&ix, "c", 1,
					  txn_ii_range_covering(&ix, "c", 1, c)));
	assert_ptr_equal(txn_ii_range_covering(&ix, "zzz", 3, NULL), r2);
	txn_ii_range_remove(&ix, r2);
	assert_null(txn_ii_range_covering(&ix, "zzz", 3, NULL));
	assert_int_equal(ix.nranges, 1);
	txn_ii_fini(&ix);
}

static void test_bounds(void **state)
{
	(void)state;
	assert_true(txn_key_in("b", 1, "a", 1, "c", 1));
	assert_true(txn_key_in("a", 1, "a", 1, "c", 1));  /* start inclusive */
	assert_false(txn_key_in("c", 1, "a", 1, "c", 1)); /* end exclusive */
	assert_true(txn_key_in("zz", 2, NULL, 0, NULL, 0));
	assert_true(txn_key_in("a", 1, "a", 1, "a\0", 2));
	assert_false(txn_key_in("a\0", 2, "a", 1, "a\0", 2));
	assert_true(txn_ranges_overlap("a", 1, "c", 1, "b", 1, "d", 1));
	assert_false(txn_ranges_overlap("a", 1, "c", 1, "c", 1, "d", 1));
	assert_true(txn_ranges_overlap(NULL, 0, NULL, 0, "x", 1, "y", 1));
	assert_false(txn_ranges_overlap("x", 1, NULL, 0, "a", 1, "x", 1));
}

static void test_wait_die(void **state)
{
	struct dkv_txid old = { 100, 5 }, young = { 200, 1 }, tie = { 100, 6 };

	(void)state;
	/* The older waits for the younger; the younger dies. */
	assert_int_equal(txn_wait_die(&old, &young, 0), TXN_WD_WAIT);
	assert_int_equal(txn_wait_die(&young, &old, 0), TXN_WD_DIE);
	/* Same age: lo breaks the tie, so exactly one of two waits. */
	assert_int_equal(txn_wait_die(&old, &tie, 0), TXN_WD_WAIT);
	assert_int_equal(txn_wait_die(&tie, &old, 0), TXN_WD_DIE);
	/* Requesters holding nothing always wait. */
	assert_int_equal(txn_wait_die(&young, &old, 1), TXN_WD_WAIT);
	assert_true(dkv_txid_cmp(&old, &young) < 0);
	assert_int_equal(dkv_txid_cmp(&old, &old), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_find_remove),
		cmocka_unit_test(test_many_and_ranges),
		cmocka_unit_test(test_range_locks),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_wait_die),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
