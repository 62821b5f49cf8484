/*
 * test_client.c - libdkv (include/dkv.h) against real dkvd processes:
 * round trips, conditional flags, binary and large values, routing straight
 * to owners, every seed, range search with anchors, threads, a map change
 * followed through a redirect; and against a scripted fake node: the retry
 * rules (TRYAGAIN, CLUSTERDOWN, LOADING, dropped connections, timeouts).
 *
 * Links the shared libdkv.so (as applications do); the map API and the RESP
 * codec come from the static layers for building maps and raw commands.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "dkv.h"
#include "fake.h"
#include "../unit/tmpdir.h"

static struct tc g_tc;
static dkv_client_t *g_c;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int cluster_setup(void **state)
{
	char seeds[512];

	(void)state;
	if (tc_start(&g_tc, 3, 12) != 0)
		return -1;
	tc_seeds(&g_tc, seeds, sizeof(seeds));
	if (dkv_connect(g_tc.nodes[0].addr, NULL, &g_c) != DKV_OK) {
		fprintf(stderr, "connect: %s\n", dkv_last_error());
		tc_stop(&g_tc);
		return -1;
	}
	return 0;
}

static int cluster_teardown(void **state)
{
	(void)state;
	dkv_disconnect(g_c);
	g_c = NULL;
	tc_stop(&g_tc);
	return 0;
}

static void put_str(dkv_client_t *c, const char *k, const char *v)
{
	int rc = dkv_put(c, NULL, 0, k, strlen(k), v, strlen(v));

	if (rc != 0)
		fprintf(stderr, "put %s: %s\n", k, dkv_last_error());
	assert_int_equal(rc, 0);
}

static void expect_str(dkv_client_t *c, const char *k, const char *v)
{
	void *val = NULL;
	size_t len = 0;
	int rc = dkv_get_alloc(c, NULL, 0, k, strlen(k), &val, &len);

	if (rc != 0)
		fprintf(stderr, "get %s: %s\n", k, dkv_last_error());
	assert_int_equal(rc, 0);
	assert_int_equal(len, strlen(v));
	assert_memory_equal(val, v, len);
	assert_int_equal(((char *)val)[len], '\0');
	dkv_free(val);
}

/* --- single keys ------------------------------------------------------------ */

static void test_roundtrip(void **state)
{
	(void)state;
	put_str(g_c, "alpha", "one");
	expect_str(g_c, "alpha", "one");
	put_str(g_c, "alpha", "two");
	expect_str(g_c, "alpha", "two");
	assert_int_equal(dkv_remove(g_c, NULL, 0, "alpha", 5), 1);
	assert_int_equal(dkv_remove(g_c, NULL, 0, "alpha", 5), 0);
	assert_int_equal(dkv_remove(g_c, NULL, DKV_COND_PUNCH, "alpha", 5),
			 DKV_ERR_NOT_FOUND);
	{
		void *v = (void *)1;
		size_t len = 77;

		assert_int_equal(dkv_get_alloc(g_c, NULL, 0, "alpha", 5, &v,
					       &len),
				 DKV_ERR_NOT_FOUND);
		assert_null(v);
		assert_int_equal(len, 77);
		assert_string_not_equal(dkv_last_error(), "");
	}
	put_str(g_c, "alpha", "three");
	assert_int_equal(dkv_remove(g_c, NULL, DKV_COND_PUNCH, "alpha", 5), 1);
	assert_string_equal(dkv_version(), "0.1.0");
}

static void test_get_buffer_rules(void **state)
{
	char buf[16];
	size_t len;

	(void)state;
	put_str(g_c, "sized", "0123456789");
	/* Size query. */
	len = 0;
	assert_int_equal(dkv_get(g_c, NULL, 0, "sized", 5, NULL, &len), 0);
	assert_int_equal(len, 10);
	/* Too small: TOO_BIG and the size. */
	len = 4;
	assert_int_equal(dkv_get(g_c, NULL, 0, "sized", 5, buf, &len),
			 DKV_ERR_TOO_BIG);
	assert_int_equal(len, 10);
	/* Exactly fits. */
	len = 10;
	assert_int_equal(dkv_get(g_c, NULL, 0, "sized", 5, buf, &len), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(buf, "0123456789", 10);
	/* Larger buffer. */
	len = sizeof(buf);
	assert_int_equal(dkv_get(g_c, NULL, 0, "sized", 5, buf, &len), 0);
	assert_int_equal(len, 10);
	/* Absent: NOT_FOUND, len unchanged. */
	len = sizeof(buf);
	assert_int_equal(dkv_get(g_c, NULL, 0, "nosuch", 6, buf, &len),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(len, sizeof(buf));
	/* Flags are reserved. */
	assert_int_equal(dkv_get(g_c, NULL, 1, "sized", 5, buf, &len),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_get(g_c, NULL, 0, "sized", 5, buf, NULL),
			 DKV_ERR_INVAL);
}

static void test_conditional(void **state)
{
	(void)state;
	dkv_remove(g_c, NULL, 0, "cond", 4);
	/* UPDATE on an absent key: nothing written. */
	assert_int_equal(dkv_put(g_c, NULL, DKV_COND_UPDATE, "cond", 4, "u", 1),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_get(g_c, NULL, 0, "cond", 4, NULL,
				 &(size_t){ 0 }),
			 DKV_ERR_NOT_FOUND);
	/* INSERT on an absent key. */
	assert_int_equal(dkv_put(g_c, NULL, DKV_COND_INSERT, "cond", 4, "i", 1),
			 0);
	expect_str(g_c, "cond", "i");
	/* INSERT on an existing key: EXISTS, value kept. */
	assert_int_equal(dkv_put(g_c, NULL, DKV_COND_INSERT, "cond", 4, "j", 1),
			 DKV_ERR_EXISTS);
	expect_str(g_c, "cond", "i");
	/* UPDATE on an existing key. */
	assert_int_equal(dkv_put(g_c, NULL, DKV_COND_UPDATE, "cond", 4, "u", 1),
			 0);
	expect_str(g_c, "cond", "u");
	/* Both, or unknown flags. */
	assert_int_equal(dkv_put(g_c, NULL, DKV_COND_INSERT | DKV_COND_UPDATE,
				 "cond", 4, "x", 1),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_put(g_c, NULL, 0x100, "cond", 4, "x", 1),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_remove(g_c, NULL, 0x100, "cond", 4),
			 DKV_ERR_INVAL);
	expect_str(g_c, "cond", "u");
}

static void test_binary(void **state)
{
	static const char key[] = { 'b', 0, 'i', 0, (char)0xff, '\n' };
	static const char val[] = { 0, 0, 1, '\r', '\n', 0, (char)0x80 };
	void *v;
	size_t len;

	(void)state;
	assert_int_equal(dkv_put(g_c, NULL, 0, key, sizeof(key), val,
				 sizeof(val)),
			 0);
	assert_int_equal(dkv_get_alloc(g_c, NULL, 0, key, sizeof(key), &v,
				       &len),
			 0);
	assert_int_equal(len, sizeof(val));
	assert_memory_equal(v, val, sizeof(val));
	dkv_free(v);
	/* A key that differs only after the '\0' is another key. */
	assert_int_equal(dkv_get_alloc(g_c, NULL, 0, key, 2, &v, &len),
			 DKV_ERR_NOT_FOUND);
	/* Empty value (val NULL is allowed with vlen 0), empty key. */
	assert_int_equal(dkv_put(g_c, NULL, 0, "empty", 5, NULL, 0), 0);
	len = 99;
	assert_int_equal(dkv_get(g_c, NULL, 0, "empty", 5, NULL, &len), 0);
	assert_int_equal(len, 0);
	/* Keys have at least one byte. */
	assert_int_equal(dkv_put(g_c, NULL, 0, "", 0, "ek", 2), DKV_ERR_INVAL);
	assert_int_equal(dkv_get(g_c, NULL, 0, "", 0, NULL, &len),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_remove(g_c, NULL, 0, "", 0), DKV_ERR_INVAL);
	/* NULL key with a length. */
	assert_int_equal(dkv_put(g_c, NULL, 0, NULL, 3, "x", 1),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_put(g_c, NULL, 0, "k", 1, NULL, 3),
			 DKV_ERR_INVAL);
}

static void test_big_value(void **state)
{
	size_t n = (size_t)1 << 20, len;
	unsigned char *val = malloc(n), *back = malloc(n);
	void *v;

	(void)state;
	assert_non_null(val);
	assert_non_null(back);
	for (size_t i = 0; i < n; i++)
		val[i] = (unsigned char)((i * 2654435761u) >> 13);
	for (int round = 0; round < 3; round++) {
		val[0] = (unsigned char)round;
		assert_int_equal(dkv_put(g_c, NULL, 0, "big", 3, val, n), 0);
		len = n;
		assert_int_equal(dkv_get(g_c, NULL, 0, "big", 3, back, &len),
				 0);
		assert_int_equal(len, n);
		assert_memory_equal(back, val, n);
	}
	assert_int_equal(dkv_get_alloc(g_c, NULL, 0, "big", 3, &v, &len), 0);
	assert_int_equal(len, n);
	assert_memory_equal(v, val, n);
	dkv_free(v);
	/* Small calls still work on the same pooled connections. */
	put_str(g_c, "after-big", "ok");
	expect_str(g_c, "after-big", "ok");
	free(val);
	free(back);
}

/* --- the cluster ------------------------------------------------------------ */

static void test_every_seed(void **state)
{
	char k[32], v[32];

	(void)state;
	for (int i = 0; i < 60; i++) {
		snprintf(k, sizeof(k), "seedkey%d", i);
		snprintf(v, sizeof(v), "value%d", i);
		put_str(g_c, k, v);
	}
	for (int s = 0; s < g_tc.n; s++) {
		dkv_client_t *c;
		uint64_t version = 0;

		assert_int_equal(dkv_connect(g_tc.nodes[s].addr, NULL, &c), 0);
		assert_int_equal(dkv_cluster_map(c, 0, NULL, &version), 0);
		assert_int_equal(version, 1);
		for (int i = 0; i < 60; i++) {
			snprintf(k, sizeof(k), "seedkey%d", i);
			snprintf(v, sizeof(v), "value%d", i);
			expect_str(c, k, v);
		}
		dkv_disconnect(c);
	}
	/* A seed list with a dead first entry. */
	{
		char seeds[600];
		dkv_client_t *c;

		snprintf(seeds, sizeof(seeds), "127.0.0.1:%u, %s",
			 tc_free_port(), g_tc.nodes[2].addr);
		assert_int_equal(dkv_connect(seeds, NULL, &c), 0);
		expect_str(c, "seedkey7", "value7");
		dkv_disconnect(c);
	}
}

static void test_routes_to_owner(void **state)
{
	long long before[TC_MAX_NODES], after[TC_MAX_NODES];
	int expect[TC_MAX_NODES] = { 0 };
	char k[32];

	(void)state;
	for (int i = 0; i < g_tc.n; i++)
		before[i] = tc_info_field(g_tc.nodes[i].addr, "cmdstat_set");
	for (int i = 0; i < 90; i++) {
		const struct dkv_map_node *owner;
		uint32_t shard, shard2;
		char addr[DKV_ADDR_MAX];

		snprintf(k, sizeof(k), "route%d", i);
		put_str(g_c, k, "x");
		assert_int_equal(dkv_map_key_node(g_tc.map, k, strlen(k),
						  &shard, &owner),
				 0);
		expect[owner->id - 1]++;
		/* dkv_shard_of agrees with the node's DKV.SHARDOF. */
		assert_int_equal(dkv_shard_of(g_c, k, strlen(k), &shard2, addr,
					      sizeof(addr)),
				 0);
		assert_int_equal(shard2, shard);
		assert_string_equal(addr, owner->addr);
		if (i % 10 == 0) {
			const char *argv[2] = { "DKV.SHARDOF", k };
			struct resp_reply *r =
				tc_cmd(g_tc.nodes[i % 3].addr, 2, argv, NULL);

			assert_non_null(r);
			assert_int_equal(r->type, RESP_ARRAY);
			assert_int_equal(r->elems[0].integer, shard);
			assert_string_equal(r->elems[2].str, owner->addr);
			resp_reply_free(r);
		}
	}
	/* Every SET reached its owner directly: no node saw a SET it had to
	 * redirect. */
	for (int i = 0; i < g_tc.n; i++) {
		after[i] = tc_info_field(g_tc.nodes[i].addr, "cmdstat_set");
		assert_true(before[i] >= 0);
		assert_int_equal(after[i] - before[i], expect[i]);
		assert_true(expect[i] > 0);
	}
	{
		char small[4];

		assert_int_equal(dkv_shard_of(g_c, "a", 1, NULL, small,
					      sizeof(small)),
				 DKV_ERR_TOO_BIG);
		assert_int_equal(dkv_shard_of(g_c, "a", 1, NULL, NULL, 0), 0);
	}
}

/* --- range ------------------------------------------------------------------ */

struct collect {
	int n;
	char keys[200][32];
	uint64_t epochs[200];
	int stop_at;  /* return stop_ret at this item (1-based), 0: never */
	int stop_ret;
};

static int collect_cb(void *arg, const void *key, size_t klen,
		      const void *val, size_t vlen, uint64_t epoch)
{
	struct collect *cl = arg;
	char want[32];

	assert_true(klen < 32 && cl->n < 200);
	memcpy(cl->keys[cl->n], key, klen);
	cl->keys[cl->n][klen] = '\0';
	/* value "v" + the key's number */
	snprintf(want, sizeof(want), "v%s", cl->keys[cl->n] + 7);
	assert_int_equal(vlen, strlen(want));
	assert_memory_equal(val, want, vlen);
	cl->epochs[cl->n] = epoch;
	cl->n++;
	if (cl->stop_at && cl->n == cl->stop_at)
		return cl->stop_ret;
	return 0;
}

#define RSTART "{rg}"
#define REND "{rg}\xff"

static void fill_range(void)
{
	static int done;
	char k[32], v[32];

	if (done)
		return;
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "{rg}key%03d", i);
		snprintf(v, sizeof(v), "v%03d", i);
		put_str(g_c, k, v);
	}
	done = 1;
}

static void test_range_pages(void **state)
{
	struct dkv_anchor a = DKV_ANCHOR_INIT;
	struct collect *cl = calloc(1, sizeof(*cl));
	int calls = 0, rc;

	(void)state;
	fill_range();
	/* In pieces of 30 through the anchor. */
	while (!dkv_anchor_is_eof(&a)) {
		rc = dkv_range(g_c, NULL, 0, RSTART, 4, REND, 5, 30, &a,
			       collect_cb, cl);
		assert_true(rc >= 0 && rc <= 30);
		assert_true(++calls <= 5);
	}
	assert_int_equal(cl->n, 100);
	for (int i = 0; i < 100; i++) {
		char k[32];

		snprintf(k, sizeof(k), "{rg}key%03d", i);
		assert_string_equal(cl->keys[i], k);
		assert_true(cl->epochs[i] > 0);
		if (i > 0) /* written in this order by one client */
			assert_true(cl->epochs[i] > cl->epochs[i - 1]);
	}
	/* At the end: nothing more, no memory held. */
	assert_null(a.da_priv);
	assert_int_equal(dkv_range(g_c, NULL, 0, RSTART, 4, REND, 5, 0, &a,
				   collect_cb, cl),
			 0);
	dkv_anchor_fini(&a);

	/* Reverse, one call, no anchor, with a limit. */
	memset(cl, 0, sizeof(*cl));
	assert_int_equal(dkv_range(g_c, NULL, DKV_RANGE_REVERSE, RSTART, 4,
				   REND, 5, 10, NULL, collect_cb, cl),
			 10);
	assert_string_equal(cl->keys[0], "{rg}key099");
	assert_string_equal(cl->keys[9], "{rg}key090");

	/* Many small pages in one call. */
	{
		struct dkv_connect_opts o = { 0 };
		dkv_client_t *c;

		o.range_batch = 7;
		assert_int_equal(dkv_connect(g_tc.nodes[1].addr, &o, &c), 0);
		memset(cl, 0, sizeof(*cl));
		assert_int_equal(dkv_range(c, NULL, 0, RSTART, 4, REND, 5, 0,
					   NULL, collect_cb, cl),
				 100);
		assert_string_equal(cl->keys[99], "{rg}key099");
		/* A sub-range, bounded inside the tag. */
		memset(cl, 0, sizeof(*cl));
		assert_int_equal(dkv_range(c, NULL, 0, "{rg}key010", 10,
					   "{rg}key020", 10, 0, NULL,
					   collect_cb, cl),
				 10);
		assert_string_equal(cl->keys[0], "{rg}key010");
		dkv_disconnect(c);
	}
	free(cl);
}

static void test_range_stop_resume(void **state)
{
	struct dkv_anchor a = DKV_ANCHOR_INIT;
	struct collect *cl = calloc(1, sizeof(*cl));

	(void)state;
	fill_range();
	/* The callback stops at the 5th item: the rest of the page stays in
	 * the anchor, nothing is skipped or repeated. */
	cl->stop_at = 5;
	cl->stop_ret = 1;
	assert_int_equal(dkv_range(g_c, NULL, 0, RSTART, 4, REND, 5, 0, &a,
				   collect_cb, cl),
			 5);
	assert_false(dkv_anchor_is_eof(&a));
	/* A negative return stops with that value; the item is consumed. */
	cl->stop_at = 8;
	cl->stop_ret = -42;
	assert_int_equal(dkv_range(g_c, NULL, 0, RSTART, 4, REND, 5, 0, &a,
				   collect_cb, cl),
			 -42);
	/* Another range with this anchor is refused. */
	assert_int_equal(dkv_range(g_c, NULL, DKV_RANGE_REVERSE, RSTART, 4,
				   REND, 5, 0, &a, collect_cb, cl),
			 DKV_ERR_INVAL);
	cl->stop_at = 0;
	assert_int_equal(dkv_range(g_c, NULL, 0, RSTART, 4, REND, 5, 0, &a,
				   collect_cb, cl),
			 92);
	assert_true(dkv_anchor_is_eof(&a));
	assert_int_equal(cl->n, 100);
	for (int i = 0; i < 100; i++) {
		char k[32];

		snprintf(k, sizeof(k), "{rg}key%03d", i);
		assert_string_equal(cl->keys[i], k);
	}
	dkv_anchor_fini(&a);
	/* fini in the middle frees the page. */
	memset(cl, 0, sizeof(*cl));
	cl->stop_at = 3;
	cl->stop_ret = 1;
	assert_int_equal(dkv_range(g_c, NULL, 0, RSTART, 4, REND, 5, 0, &a,
				   collect_cb, cl),
			 3);
	assert_non_null(a.da_priv);
	dkv_anchor_fini(&a);
	assert_null(a.da_priv);
	assert_int_equal(a.da_state, 0);
	free(cl);
}

static void test_range_errors(void **state)
{
	struct collect *cl = calloc(1, sizeof(*cl));
	struct dkv_anchor a = DKV_ANCHOR_INIT;

	(void)state;
	/* Spans shards under hash sharding. */
	assert_int_equal(dkv_range(g_c, NULL, 0, "a", 1, "z", 1, 0, NULL,
				   collect_cb, cl),
			 DKV_ERR_UNSUPPORTED);
	assert_string_not_equal(dkv_last_error(), "");
	assert_int_equal(dkv_range(g_c, NULL, 0, NULL, 0, NULL, 0, 0, NULL,
				   collect_cb, cl),
			 DKV_ERR_UNSUPPORTED);
	/* Empty by its bounds. */
	assert_int_equal(dkv_range(g_c, NULL, 0, "{rg}b", 5, "{rg}a", 5, 0, &a,
				   collect_cb, cl),
			 0);
	assert_true(dkv_anchor_is_eof(&a));
	dkv_anchor_fini(&a);
	assert_int_equal(cl->n, 0);
	/* Bad arguments. */
	assert_int_equal(dkv_range(g_c, NULL, 0, RSTART, 4, REND, 5, 0, NULL,
				   NULL, NULL),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_range(g_c, NULL, 0x10, RSTART, 4, REND, 5, 0,
				   NULL, collect_cb, cl),
			 DKV_ERR_INVAL);
	free(cl);
}

/* --- API rules ------------------------------------------------------------- */

static void test_tx_and_args(void **state)
{
	(void)state;
	/* Transactions (tx != NULL): tests/client/test_tx_unit.c. */
	assert_int_equal(dkv_put(NULL, NULL, 0, "k", 1, "v", 1),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_cluster_map(NULL, 0, NULL, NULL), DKV_ERR_INVAL);
	assert_int_equal(dkv_cluster_map(g_c, 0x80, NULL, NULL),
			 DKV_ERR_INVAL);
	dkv_disconnect(NULL);
	dkv_free(NULL);
	assert_false(dkv_anchor_is_eof(NULL));
	dkv_anchor_fini(NULL);
}

struct thr {
	dkv_client_t *c;
	int id;
	int failures;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	char k[32], v[32], buf[32];

	for (int i = 0; i < 150; i++) {
		size_t len = sizeof(buf);

		snprintf(k, sizeof(k), "t%d-%d", t->id, i);
		snprintf(v, sizeof(v), "val-%d-%d", t->id, i);
		if (dkv_put(t->c, NULL, 0, k, strlen(k), v, strlen(v)) != 0)
			t->failures++;
		if (dkv_get(t->c, NULL, 0, k, strlen(k), buf, &len) != 0 ||
		    len != strlen(v) || memcmp(buf, v, len) != 0)
			t->failures++;
		if (i % 10 == 0 && dkv_remove(t->c, NULL, 0, k, strlen(k)) != 1)
			t->failures++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct dkv_connect_opts o = { 0 };
	pthread_t th[4];
	struct thr t[4];
	char seeds[512];
	dkv_client_t *c;

	(void)state;
	o.pool_size = 2; /* fewer than threads: extra connections close */
	tc_seeds(&g_tc, seeds, sizeof(seeds));
	assert_int_equal(dkv_connect(seeds, &o, &c), 0);
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){ c, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]),
				 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].failures, 0);
	}
	dkv_disconnect(c);
}

/* --- transactions against the nodes ---------------------------------------- */

#define TX_ACCTS 12
#define TX_START 1000

static long tx_get_long(dkv_client_t *c, dkv_tx_t *tx, const char *k,
			int *rc)
{
	char buf[32];
	size_t len = sizeof(buf) - 1;

	*rc = dkv_get(c, tx, 0, k, strlen(k), buf, &len);
	if (*rc != 0)
		return 0;
	buf[len] = '\0';
	return strtol(buf, NULL, 10);
}

static int tx_put_long(dkv_client_t *c, dkv_tx_t *tx, const char *k, long v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld", v);

	return dkv_put(c, tx, 0, k, strlen(k), buf, (size_t)n);
}

struct xfer {
	dkv_client_t *c;
	unsigned seed;
	long amt;
	int a, b;
	long sum;      /* read-all: the sum seen */
	int failures, commits, bad_sums;
};

static void tx_acct(int i, char *k, size_t len)
{
	snprintf(k, len, "acct:%02d", i);
}

static int xfer_body(dkv_tx_t *tx, void *arg)
{
	struct xfer *x = arg;
	char ka[16], kb[16];
	long va, vb;
	int rc;

	tx_acct(x->a, ka, sizeof(ka));
	tx_acct(x->b, kb, sizeof(kb));
	va = tx_get_long(x->c, tx, ka, &rc);
	if (rc != 0)
		return rc;
	vb = tx_get_long(x->c, tx, kb, &rc);
	if (rc != 0)
		return rc;
	rc = tx_put_long(x->c, tx, ka, va - x->amt);
	if (rc == 0)
		rc = tx_put_long(x->c, tx, kb, vb + x->amt);
	return rc;
}

static int sum_body(dkv_tx_t *tx, void *arg)
{
	struct xfer *x = arg;
	char k[16];
	int rc;

	x->sum = 0;
	for (int i = 0; i < TX_ACCTS; i++) {
		tx_acct(i, k, sizeof(k));
		x->sum += tx_get_long(x->c, tx, k, &rc);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void *xfer_main(void *arg)
{
	struct xfer *x = arg;
	struct dkv_tx_run_opts o = { 100, 1, 50 };

	for (int n = 0; n < 40; n++) {
		int rc;

		x->a = (int)(rand_r(&x->seed) % TX_ACCTS);
		do
			x->b = (int)(rand_r(&x->seed) % TX_ACCTS);
		while (x->b == x->a);
		x->amt = (long)(rand_r(&x->seed) % 10) + 1;
		rc = dkv_tx_run(x->c, 0, xfer_body, x, &o);
		if (rc < 0) {
			fprintf(stderr, "transfer: %s\n", dkv_last_error());
			x->failures++;
		} else {
			x->commits++;
		}
		rc = dkv_tx_run(x->c, 0, sum_body, x, &o);
		if (rc < 0)
			x->failures++;
		else if (x->sum != (long)TX_ACCTS * TX_START)
			x->bad_sums++;
	}
	return NULL;
}

/* Transfers between accounts on every node from 6 threads, each followed
 * by a read of all accounts in one transaction: every sum is the total;
 * plain reads and RESP GETs agree at the end. */
static void test_tx_bank(void **state)
{
	struct xfer x[6];
	pthread_t th[6];
	char k[16], seeds[512];
	long total = 0;
	dkv_client_t *c;
	int rc;

	(void)state;
	tc_seeds(&g_tc, seeds, sizeof(seeds));
	assert_int_equal(dkv_connect(seeds, NULL, &c), 0);
	for (int i = 0; i < TX_ACCTS; i++) {
		tx_acct(i, k, sizeof(k));
		assert_int_equal(tx_put_long(c, NULL, k, TX_START), 0);
	}
	for (int i = 0; i < 6; i++) {
		x[i] = (struct xfer){ .c = c, .seed = 7u + (unsigned)i };
		assert_int_equal(pthread_create(&th[i], NULL, xfer_main, &x[i]),
				 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(x[i].failures, 0);
		assert_int_equal(x[i].bad_sums, 0);
		assert_true(x[i].commits > 0);
	}
	for (int i = 0; i < TX_ACCTS; i++) {
		struct resp_reply *r;
		long plain;

		tx_acct(i, k, sizeof(k));
		plain = tx_get_long(c, NULL, k, &rc);
		assert_int_equal(rc, 0);
		total += plain;
		/* The same through RESP on another node. */
		r = tc_cmd(g_tc.nodes[i % 3].addr, 2,
			   (const char *const[]){ "GET", k }, NULL);
		assert_non_null(r);
		assert_int_equal(r->type, RESP_BULK);
		assert_int_equal(strtol(r->str, NULL, 10), plain);
		resp_reply_free(r);
	}
	assert_int_equal(total, (long)TX_ACCTS * TX_START);
	dkv_disconnect(c);
}

/* --- snapshots ------------------------------------------------------------- */

struct snapscan {
	int n;       /* keys "snapkey:*" seen */
	int wrong;   /* ... with another value than "old" */
};

static int snapscan_cb(void *arg, const void *key, size_t klen,
		       const void *val, size_t vlen, uint64_t epoch)
{
	struct snapscan *ss = arg;

	(void)epoch;
	if (klen > 8 && memcmp(key, "snapkey:", 8) == 0) {
		ss->n++;
		if (vlen != 3 || memcmp(val, "old", 3) != 0)
			ss->wrong++;
	}
	return 0;
}

/* dkv_snap_* and reads at a snapshot (dkv_tx_open_snap, dkv_range_shard)
 * against the real nodes. */
static void test_snapshots(void **state)
{
	struct dkv_snap_info a, b, gen, *list = NULL;
	struct dkv_anchor an = DKV_ANCHOR_INIT;
	struct snapscan ss = { 0, 0 };
	uint32_t nshards = 0;
	dkv_tx_t *tx;
	char k[32], buf[64];
	size_t n = 0, len;
	int seen = 0;

	(void)state;
	for (int i = 0; i < 40; i++) {
		snprintf(k, sizeof(k), "snapkey:%d", i);
		put_str(g_c, k, "old");
	}
	assert_int_equal(dkv_snap_create(g_c, "t.snap-1", &a), 0);
	assert_string_equal(a.ds_name, "t.snap-1");
	assert_true(a.ds_epoch > 0 && a.ds_created_ms > 0);
	for (int i = 0; i < 40; i += 2) {
		snprintf(k, sizeof(k), "snapkey:%d", i);
		put_str(g_c, k, "new");
	}
	assert_int_equal(dkv_remove(g_c, NULL, 0, "snapkey:1", 9), 1);
	put_str(g_c, "snapkey:40", "added");

	/* Names and errors. */
	assert_int_equal(dkv_snap_create(g_c, "t.snap-1", NULL),
			 DKV_ERR_EXISTS);
	assert_int_equal(dkv_snap_create(g_c, "9lives", NULL), DKV_ERR_INVAL);
	assert_int_equal(dkv_snap_create(g_c, "", NULL), DKV_ERR_INVAL);
	assert_int_equal(dkv_snap_create(g_c, "a b", NULL), DKV_ERR_INVAL);
	assert_int_equal(dkv_snap_show(g_c, "t.nosuch", &b),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_snap_destroy(g_c, "t.nosuch"), DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_snap_create(g_c, NULL, &gen), 0);
	assert_memory_equal(gen.ds_name, "snap-", 5);
	assert_true(gen.ds_epoch > a.ds_epoch);
	assert_int_equal(dkv_snap_show(g_c, "t.snap-1", &b), 0);
	assert_int_equal(b.ds_epoch, a.ds_epoch);
	assert_int_equal(b.ds_created_ms, a.ds_created_ms);
	assert_int_equal(dkv_snap_list(g_c, &list, &n), 0);
	assert_true(n >= 2);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			assert_true(list[i - 1].ds_epoch <= list[i].ds_epoch);
		seen += strcmp(list[i].ds_name, "t.snap-1") == 0;
		seen += strcmp(list[i].ds_name, gen.ds_name) == 0;
	}
	assert_int_equal(seen, 2);
	dkv_free(list);

	/* Reading at it. */
	assert_int_equal(dkv_tx_open_snap(g_c, a.ds_epoch, &tx), 0);
	assert_int_equal(dkv_tx_epoch(tx), a.ds_epoch);
	len = sizeof(buf);
	assert_int_equal(dkv_get(g_c, tx, 0, "snapkey:0", 9, buf, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "old", 3);
	len = sizeof(buf);
	assert_int_equal(dkv_get(g_c, tx, 0, "snapkey:1", 9, buf, &len), 0);
	len = sizeof(buf);
	assert_int_equal(dkv_get(g_c, tx, 0, "snapkey:40", 10, buf, &len),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_put(g_c, tx, 0, "snapkey:0", 9, "x", 1),
			 DKV_ERR_READ_ONLY);
	assert_int_equal(dkv_remove(g_c, tx, 0, "snapkey:0", 9),
			 DKV_ERR_READ_ONLY);
	/* Every shard whole, a few keys per call. */
	assert_int_equal(dkv_shard_count(g_c, &nshards), 0);
	assert_int_equal(nshards, 12);
	for (uint32_t sh = 0; sh < nshards; sh++) {
		while (!dkv_anchor_is_eof(&an))
			assert_true(dkv_range_shard(g_c, tx, sh, 0, NULL, 0,
						    NULL, 0, 3, &an,
						    snapscan_cb, &ss) >= 0);
		dkv_anchor_fini(&an);
	}
	assert_int_equal(ss.n, 40);
	assert_int_equal(ss.wrong, 0);
	assert_int_equal(dkv_tx_commit(tx), 0);
	dkv_tx_close(tx);
	/* The present is untouched; the client's own clock too: a new
	 * transaction sees the newest values. */
	expect_str(g_c, "snapkey:0", "new");
	assert_int_equal(dkv_tx_open(g_c, 0, &tx), 0);
	len = sizeof(buf);
	assert_int_equal(dkv_get(g_c, tx, 0, "snapkey:40", 10, buf, &len), 0);
	dkv_tx_close(tx);

	assert_int_equal(dkv_snap_destroy(g_c, "t.snap-1"), 0);
	assert_int_equal(dkv_snap_destroy(g_c, gen.ds_name), 0);
	assert_int_equal(dkv_snap_show(g_c, "t.snap-1", &b), DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_snap_list(NULL, &list, &n), DKV_ERR_INVAL);
	assert_int_equal(dkv_snap_show(g_c, "x", NULL), DKV_ERR_INVAL);
}

/* A transaction whose read was overwritten by another committed one
 * restarts; its own writes are visible to itself only until commit. */
static void test_tx_conflict_and_ryw(void **state)
{
	dkv_tx_t *t1 = NULL, *t2 = NULL;
	char buf[16];
	size_t len = sizeof(buf);
	int rc;

	(void)state;
	put_str(g_c, "txc", "0");
	assert_int_equal(dkv_tx_open(g_c, 0, &t1), 0);
	assert_int_equal(dkv_tx_open(g_c, 0, &t2), 0);
	(void)tx_get_long(g_c, t1, "txc", &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(tx_put_long(g_c, t2, "txc", 2), 0);
	assert_int_equal(dkv_get(g_c, t2, 0, "txc", 3, buf, &len), 0);
	assert_memory_equal(buf, "2", 1); /* read your writes */
	expect_str(g_c, "txc", "0");      /* not before commit */
	assert_int_equal(dkv_tx_commit(t2), 0);
	expect_str(g_c, "txc", "2");
	assert_int_equal(tx_put_long(g_c, t1, "txc", 1), 0);
	assert_int_equal(dkv_tx_commit(t1), DKV_ERR_TX_RESTART);
	expect_str(g_c, "txc", "2");
	dkv_tx_close(t1);
	dkv_tx_close(t2);
}

/* --- a map change ------------------------------------------------------------ */

/* A key of shard, not yet written. */
static void fresh_key(uint32_t shard, const char *prefix, char *key,
		      size_t len)
{
	uint32_t s;

	for (int i = 0;; i++) {
		snprintf(key, len, "%s-%d", prefix, i);
		assert_int_equal(dkv_map_key_shard(g_tc.map, key, strlen(key),
						   &s),
				 0);
		if (s == shard)
			return;
	}
}

static uint64_t map_version(dkv_client_t *c)
{
	uint64_t v = 0;

	assert_int_equal(dkv_cluster_map(c, 0, NULL, &v), 0);
	return v;
}

static void test_map_change(void **state)
{
	const struct dkv_map_node *owner;
	struct dkv_connect_opts o = { 0 };
	struct dkv_map *m2;
	uint32_t moved = DKV_SHARD_NONE;
	long long set1, set2;
	char key[32], key2[32];
	dkv_client_t *h, *fresh;

	(void)state;
	/* h checks the node's map version on every call. */
	o.map_check_ms = 1;
	assert_int_equal(dkv_connect(g_tc.nodes[0].addr, &o, &h), 0);
	assert_int_equal(map_version(h), 1);
	assert_int_equal(map_version(g_c), 1);
	/* Move a shard of node 1 to node 2 (version 2). */
	for (uint32_t s = 0; s < dkv_map_nshards(g_tc.map); s++) {
		assert_int_equal(dkv_map_shard_node(g_tc.map, s, &owner), 0);
		if (owner->id == 1) {
			moved = s;
			break;
		}
	}
	assert_int_not_equal(moved, DKV_SHARD_NONE);
	assert_int_equal(dkv_map_clone(g_tc.map, &m2), 0);
	assert_int_equal(dkv_map_move_shard(m2, moved, 2), 0);
	assert_int_equal(dkv_map_version(m2), 2);
	assert_int_equal(tc_push_map(&g_tc, m2), 0);
	/* Fresh keys of that shard (the server does not move data yet). */
	fresh_key(moved, "moved", key, sizeof(key));
	fresh_key(moved, "moved2", key2, sizeof(key2));

	/* h routes by version 1 to node 1, learns version 2 there before
	 * sending, and sends the SET straight to node 2. */
	usleep(5 * 1000); /* map_check_ms of h */
	set1 = tc_info_field(g_tc.nodes[0].addr, "cmdstat_set");
	set2 = tc_info_field(g_tc.nodes[1].addr, "cmdstat_set");
	put_str(h, key, "after-move");
	assert_int_equal(map_version(h), 2);
	assert_int_equal(tc_info_field(g_tc.nodes[0].addr, "cmdstat_set"),
			 set1);
	assert_int_equal(tc_info_field(g_tc.nodes[1].addr, "cmdstat_set"),
			 set2 + 1);
	expect_str(h, key, "after-move");
	{
		char addr[DKV_ADDR_MAX];
		uint32_t shard;
		const char *argv[2] = { "GET", key };
		struct resp_reply *r;

		assert_int_equal(dkv_shard_of(h, key, strlen(key), &shard,
					      addr, sizeof(addr)),
				 0);
		assert_int_equal(shard, moved);
		assert_string_equal(addr, g_tc.nodes[1].addr);
		/* The value lives on node 2. */
		r = tc_cmd(g_tc.nodes[1].addr, 2, argv, NULL);
		assert_non_null(r);
		assert_int_equal(r->type, RESP_BULK);
		assert_string_equal(r->str, "after-move");
		resp_reply_free(r);
	}

	/* g_c (default check interval) still holds version 1: its calls
	 * work at once (node 1 redirects or forwards them), and it knows
	 * version 2 within the check interval. */
	put_str(g_c, key2, "via-old-map");
	expect_str(g_c, key2, "via-old-map");
	usleep(1100 * 1000);
	expect_str(g_c, key, "after-move");
	assert_int_equal(map_version(g_c), 2);

	/* Again to node 3 (version 3), with a reader connected at 2. */
	assert_int_equal(dkv_connect(g_tc.nodes[2].addr, NULL, &fresh), 0);
	assert_int_equal(dkv_map_clone(g_tc.map, &m2), 0);
	assert_int_equal(dkv_map_move_shard(m2, moved, 3), 0);
	assert_int_equal(tc_push_map(&g_tc, m2), 0);
	put_str(h, key, "on-three");
	assert_int_equal(map_version(h), 3);
	expect_str(fresh, key, "on-three");
	{
		char *json = NULL;
		uint64_t version = 0;

		assert_int_equal(dkv_cluster_map(fresh, DKV_MAP_REFRESH |
							       DKV_MAP_PRETTY,
						 &json, &version),
				 0);
		assert_int_equal(version, 3);
		assert_non_null(strstr(json, "\"version\": 3"));
		dkv_free(json);
	}
	dkv_disconnect(fresh);
	dkv_disconnect(h);
}

/* --- without the shared cluster ------------------------------------------ */

static void test_connect_errors(void **state)
{
	dkv_client_t *c = (dkv_client_t *)1;
	char seeds[64];
	uint64_t t0;

	(void)state;
	assert_int_equal(dkv_connect("", NULL, &c), DKV_ERR_INVAL);
	assert_null(c);
	assert_int_equal(dkv_connect("nohostport", NULL, &c), DKV_ERR_INVAL);
	assert_int_equal(dkv_connect("h:0", NULL, &c), DKV_ERR_INVAL);
	assert_int_equal(dkv_connect("::1:7000", NULL, &c), DKV_ERR_INVAL);
	assert_int_equal(dkv_connect(NULL, NULL, &c), DKV_ERR_INVAL);
	snprintf(seeds, sizeof(seeds), "127.0.0.1:%u", tc_free_port());
	t0 = now_ms();
	assert_int_equal(dkv_connect(seeds, NULL, &c), DKV_ERR_IO);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(dkv_last_error(), "refused"));
}

static struct tc g_lonely;

/* Runs even when the test fails: no directory or node is left. */
static int lonely_teardown(void **state)
{
	(void)state;
	tc_password = NULL;
	tc_stop(&g_lonely);
	return 0;
}

static void test_password_and_no_map(void **state)
{
	static const char *const extra[] = { "--node-password", "s3cret",
					     NULL };
	struct dkv_connect_opts o = { 0 };
	struct dkv_map_node_conf node = { 7, NULL };
	struct dkv_map_conf conf = { 0 };
	struct dkv_map *m;
	dkv_client_t *c;
	char dir[600], err[128];

	(void)state;
	assert_int_equal(test_tmpdir_make(g_lonely.root,
					  sizeof(g_lonely.root)),
			 0);
	snprintf(dir, sizeof(dir), "%s/lonely", g_lonely.root);
	assert_int_equal(tc_node_start(&g_lonely.nodes[0], 7, dir, extra), 0);
	g_lonely.n = 1;
	/* No password: refused. */
	assert_int_equal(dkv_connect(g_lonely.nodes[0].addr, NULL, &c),
			 DKV_ERR_AUTH);
	o.password = "wrong";
	assert_int_equal(dkv_connect(g_lonely.nodes[0].addr, &o, &c),
			 DKV_ERR_AUTH);
	/* The password, but no cluster yet. */
	o.password = "s3cret";
	assert_int_equal(dkv_connect(g_lonely.nodes[0].addr, &o, &c),
			 DKV_ERR_STATE);
	/* Create a one-node cluster; then it works. */
	node.addr = g_lonely.nodes[0].addr;
	conf.name = "lonely";
	conf.cluster_id = 42;
	conf.nodes = &node;
	conf.nnodes = 1;
	conf.family.kind = DKV_FAMILY_SLOTS;
	conf.family.nshards = 4;
	assert_int_equal(dkv_map_create(&conf, &m, err, sizeof(err)), 0);
	tc_password = "s3cret";
	assert_int_equal(tc_push_map(&g_lonely, m), 0);
	tc_password = NULL;
	assert_int_equal(dkv_connect(g_lonely.nodes[0].addr, &o, &c), 0);
	put_str(c, "{a}1", "x");
	expect_str(c, "{a}1", "x");
	dkv_disconnect(c);
}

static void test_retries(void **state)
{
	struct dkv_connect_opts o = { 0 };
	struct fake f;
	dkv_client_t *c;
	char buf[16];
	size_t len;
	uint64_t t0, dt;

	(void)state;
	assert_int_equal(fake_start(&f), 0);
	o.timeout_ms = 3000;
	assert_int_equal(dkv_connect(f.addr, &o, &c), 0);

	/* TRYAGAIN three times, then served. */
	fake_script(&f, FAKE_TRYAGAIN, 3);
	len = sizeof(buf);
	assert_int_equal(dkv_get(c, NULL, 0, "k", 1, buf, &len), 0);
	assert_int_equal(atomic_load(&f.gets), 4);
	/* CLUSTERDOWN: retried, with the map fetched again. */
	atomic_store(&f.maps, 0);
	fake_script(&f, FAKE_CLUSTERDOWN, 2);
	assert_int_equal(dkv_put(c, NULL, 0, "k", 1, "v", 1), 0);
	assert_int_equal(atomic_load(&f.sets), 3);
	assert_true(atomic_load(&f.maps) >= 2);
	/* LOADING (the node shuts down): retried on a new connection. */
	fake_script(&f, FAKE_LOADING, 1);
	assert_int_equal(dkv_put(c, NULL, 0, "k", 1, "v", 1), 0);
	assert_int_equal(atomic_load(&f.sets), 5);
	/* A read whose connection drops is retried... */
	atomic_store(&f.gets, 0);
	fake_script(&f, FAKE_DROP, 1);
	len = sizeof(buf);
	assert_int_equal(dkv_get(c, NULL, 0, "k", 1, buf, &len), 0);
	assert_int_equal(atomic_load(&f.gets), 2);
	/* ...a write is not: its outcome is unknown. */
	atomic_store(&f.sets, 0);
	fake_script(&f, FAKE_DROP, 1);
	assert_int_equal(dkv_put(c, NULL, 0, "k", 1, "v", 1), DKV_ERR_IO);
	assert_int_equal(atomic_load(&f.sets), 1);
	fake_script(&f, FAKE_OK, 0);
	assert_int_equal(dkv_put(c, NULL, 0, "k", 1, "v", 1), 0);
	/* DKV.SNAPSHOT: a TRYAGAIN (a node did not answer the leader) is
	 * DKV_ERR_BUSY at once, not retried. */
	atomic_store(&f.sets, 0);
	fake_script(&f, FAKE_TRYAGAIN, 5);
	assert_int_equal(dkv_snap_destroy(c, "s1"), DKV_ERR_BUSY);
	assert_int_equal(atomic_load(&f.sets), 1);
	assert_non_null(strstr(dkv_last_error(), "TRYAGAIN"));
	fake_script(&f, FAKE_OK, 0);
	assert_int_equal(dkv_snap_destroy(c, "s1"), 0);
	dkv_disconnect(c);

	/* Always TRYAGAIN: gives up at the time budget. */
	o.timeout_ms = 300;
	assert_int_equal(dkv_connect(f.addr, &o, &c), 0);
	fake_script(&f, FAKE_TRYAGAIN, 1000000);
	t0 = now_ms();
	assert_int_equal(dkv_put(c, NULL, 0, "k", 1, "v", 1),
			 DKV_ERR_TIMEOUT);
	dt = now_ms() - t0;
	assert_true(dt >= 250 && dt < 2000);
	assert_non_null(strstr(dkv_last_error(), "TRYAGAIN"));
	/* A node that does not answer in time. */
	f.slow_ms = 800;
	fake_script(&f, FAKE_SLOW, 1);
	t0 = now_ms();
	len = sizeof(buf);
	assert_int_equal(dkv_get(c, NULL, 0, "k", 1, buf, &len),
			 DKV_ERR_TIMEOUT);
	assert_true(now_ms() - t0 < 2000);
	dkv_disconnect(c);
	fake_stop(&f);
}

/* Two fake nodes; the map moves shard 0 from A (node 1) to B (node 2). */
static void test_redirects(void **state)
{
	struct dkv_map_node_conf nodes[2] = { { 1, NULL }, { 2, NULL } };
	struct dkv_map_conf conf = { 0 };
	struct dkv_connect_opts o = { 0 };
	struct dkv_map *m1, *m2;
	struct fake a, b;
	char *j1, *j2, buf[16], err[128];
	size_t len;
	dkv_client_t *c, *probe;

	(void)state;
	assert_int_equal(fake_start(&a), 0);
	assert_int_equal(fake_start(&b), 0);
	nodes[0].addr = a.addr;
	nodes[1].addr = b.addr;
	conf.name = "fakes";
	conf.cluster_id = 77;
	conf.nodes = nodes;
	conf.nnodes = 2;
	conf.family.kind = DKV_FAMILY_HASH;
	conf.family.nshards = 1;
	assert_int_equal(dkv_map_create(&conf, &m1, err, sizeof(err)), 0);
	assert_int_equal(dkv_map_clone(m1, &m2), 0);
	assert_int_equal(dkv_map_move_shard(m2, 0, 2), 0);
	assert_int_equal(dkv_map_to_json(m1, 0, &j1, NULL), 0);
	assert_int_equal(dkv_map_to_json(m2, 0, &j2, NULL), 0);
	fake_set_map(&a, j1, 1);
	fake_set_map(&b, j1, 1);

	/* MOVED is followed: the map is fetched from the redirecting node
	 * and the request retried at the new owner. */
	o.map_check_ms = UINT32_MAX; /* only redirects tell */
	o.timeout_ms = 3000;
	assert_int_equal(dkv_connect(a.addr, &o, &c), 0);
	o.map_check_ms = 1;          /* checks before every call */
	assert_int_equal(dkv_connect(a.addr, &o, &probe), 0);
	fake_set_map(&a, j2, 2);
	fake_set_map(&b, j2, 2);
	snprintf(a.moved_to, sizeof(a.moved_to), "%s", b.addr);
	fake_script(&a, FAKE_MOVED, 1000000);
	len = sizeof(buf);
	assert_int_equal(dkv_get(c, NULL, 0, "k", 1, buf, &len), 0);
	assert_int_equal(len, 5);
	assert_int_equal(atomic_load(&a.gets), 1);
	assert_int_equal(atomic_load(&b.gets), 1);
	assert_int_equal(map_version(c), 2);
	len = sizeof(buf);
	assert_int_equal(dkv_get(c, NULL, 0, "k", 1, buf, &len), 0);
	assert_int_equal(atomic_load(&a.gets), 1); /* straight to B now */
	assert_int_equal(atomic_load(&b.gets), 2);

	/* The version check finds version 2 without any redirect (once
	 * map_check_ms has passed since the connect). */
	fake_script(&a, FAKE_OK, 0);
	usleep(5 * 1000);
	len = sizeof(buf);
	assert_int_equal(dkv_get(probe, NULL, 0, "k", 1, buf, &len), 0);
	assert_int_equal(atomic_load(&a.gets), 1);
	assert_int_equal(atomic_load(&b.gets), 3);
	assert_int_equal(map_version(probe), 2);
	dkv_disconnect(probe);
	dkv_disconnect(c);

	/* Nodes that redirect to each other: bounded. */
	o.map_check_ms = UINT32_MAX;
	o.max_redirects = 3;
	assert_int_equal(dkv_connect(b.addr, &o, &c), 0);
	fake_script(&a, FAKE_MOVED, 1000000);
	snprintf(b.moved_to, sizeof(b.moved_to), "%s", a.addr);
	fake_script(&b, FAKE_MOVED, 1000000);
	atomic_store(&a.gets, 0);
	atomic_store(&b.gets, 0);
	len = sizeof(buf);
	assert_int_equal(dkv_get(c, NULL, 0, "k", 1, buf, &len),
			 DKV_ERR_REDIRECT);
	assert_int_equal(atomic_load(&a.gets) + atomic_load(&b.gets), 4);
	assert_non_null(strstr(dkv_last_error(), "redirect"));
	dkv_disconnect(c);

	free(j1);
	free(j2);
	dkv_map_destroy(m1);
	dkv_map_destroy(m2);
	fake_stop(&a);
	fake_stop(&b);
}

int main(void)
{
	const struct CMUnitTest cluster[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_get_buffer_rules),
		cmocka_unit_test(test_conditional),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_big_value),
		cmocka_unit_test(test_every_seed),
		cmocka_unit_test(test_routes_to_owner),
		cmocka_unit_test(test_range_pages),
		cmocka_unit_test(test_range_stop_resume),
		cmocka_unit_test(test_range_errors),
		cmocka_unit_test(test_tx_and_args),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_tx_bank),
		cmocka_unit_test(test_tx_conflict_and_ryw),
		cmocka_unit_test(test_snapshots),
		cmocka_unit_test(test_map_change), /* last: changes the map */
	};
	const struct CMUnitTest alone[] = {
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test_teardown(test_password_and_no_map,
					  lonely_teardown),
		cmocka_unit_test(test_retries),
		cmocka_unit_test(test_redirects),
	};
	int fails = cmocka_run_group_tests_name("cluster", cluster,
						cluster_setup,
						cluster_teardown);

	fails += cmocka_run_group_tests_name("alone", alone, NULL, NULL);
	return fails;
}
