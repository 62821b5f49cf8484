/*
 * test_rcache.c - the node's newest-value cache (src/server/rcache.h):
 * hits after fills and writes, older answers never replacing newer ones,
 * stale off-loop fills dropped, the byte bound kept under eviction, and a
 * randomized run against a model of "the newest durable version".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/rcache.h"

static void expect_hit(struct rcache *c, uint32_t shard, const char *key,
		       uint64_t epoch, int found, const char *val)
{
	struct rcache_hit h;

	assert_int_equal(rcache_get(c, shard, key, strlen(key), &h), 1);
	assert_int_equal(h.epoch, epoch);
	assert_int_equal(h.found, found);
	if (found) {
		assert_int_equal(h.len, strlen(val));
		assert_memory_equal(h.data, val, h.len);
	}
}

static void expect_miss(struct rcache *c, uint32_t shard, const char *key)
{
	struct rcache_hit h;

	assert_int_equal(rcache_get(c, shard, key, strlen(key), &h), 0);
}

static void test_fill_write_forget(void **state)
{
	struct rcache c;

	(void)state;
	assert_int_equal(rcache_init(&c, 1 << 20), 0);
	expect_miss(&c, 1, "a");
	rcache_fill(&c, RCACHE_GEN_NOW, 1, "a", 1, 10, 1, "one", 3);
	expect_hit(&c, 1, "a", 10, 1, "one");
	expect_miss(&c, 2, "a"); /* the shard is part of the key */
	rcache_written(&c, 1, "a", 1, 20, 1, "second", 6);
	expect_hit(&c, 1, "a", 20, 1, "second");
	rcache_written(&c, 1, "a", 1, 30, 0, NULL, 0); /* deleted */
	expect_hit(&c, 1, "a", 30, 0, NULL);
	rcache_forget(&c, 1, "a", 1);
	expect_miss(&c, 1, "a");
	/* A read that found nothing is cached as absent. */
	rcache_fill(&c, RCACHE_GEN_NOW, 1, "b", 1, 0, 0, NULL, 0);
	expect_hit(&c, 1, "b", 0, 0, NULL);
	rcache_clear(&c);
	expect_miss(&c, 1, "b");
	rcache_free(&c);
}

static void test_older_never_replaces_newer(void **state)
{
	struct rcache c;

	(void)state;
	assert_int_equal(rcache_init(&c, 1 << 20), 0);
	rcache_written(&c, 0, "k", 1, 50, 1, "new", 3);
	/* An inline read that raced ahead, or an older write completing
	 * after a newer one was filled: both ignored. */
	rcache_fill(&c, RCACHE_GEN_NOW, 0, "k", 1, 40, 1, "old", 3);
	expect_hit(&c, 0, "k", 50, 1, "new");
	rcache_written(&c, 0, "k", 1, 45, 1, "older!", 6);
	expect_hit(&c, 0, "k", 50, 1, "new");
	rcache_fill(&c, RCACHE_GEN_NOW, 0, "k", 1, 0, 0, NULL, 0);
	expect_hit(&c, 0, "k", 50, 1, "new");
	rcache_free(&c);
}

static void test_stale_offloop_fill_dropped(void **state)
{
	struct rcache c;
	uint64_t gen;

	(void)state;
	assert_int_equal(rcache_init(&c, 1 << 20), 0);
	/* A disk read begins, then an APPEND completes (forget: the cache
	 * cannot describe the new value), then the read's old answer
	 * arrives: it must not be installed. */
	gen = rcache_gen(&c);
	rcache_forget(&c, 3, "x", 1);
	rcache_fill(&c, gen, 3, "x", 1, 5, 1, "stale", 5);
	expect_miss(&c, 3, "x");
	/* A read begun after the forget may fill. */
	gen = rcache_gen(&c);
	rcache_fill(&c, gen, 3, "x", 1, 7, 1, "fresh", 5);
	expect_hit(&c, 3, "x", 7, 1, "fresh");
	/* A write too big to keep acts as a forget for reads in flight. */
	{
		static char big[1 << 15];

		gen = rcache_gen(&c);
		rcache_written(&c, 3, "y", 1, 9, 1, big, sizeof(big));
		rcache_fill(&c, gen, 3, "y", 1, 8, 1, "before", 6);
		expect_miss(&c, 3, "y");
	}
	rcache_free(&c);
}

static void test_bounded_and_big_values(void **state)
{
	struct rcache c;
	char key[32], big[40000];
	size_t max = 256 << 10;

	(void)state;
	assert_int_equal(rcache_init(&c, max), 0);
	memset(big, 'v', sizeof(big));
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(key, sizeof(key), "key:%08d", i);

		rcache_written(&c, 0, key, (size_t)n, (uint64_t)i + 1, 1, big,
			       100);
		assert_true(c.bytes <= max);
	}
	assert_true(c.evictions > 0);
	assert_true(c.count > 100);
	/* The newest ones are mostly there; all that are there are right. */
	for (int i = 0; i < 20000; i++) {
		struct rcache_hit h;
		int n = snprintf(key, sizeof(key), "key:%08d", i);

		if (rcache_get(&c, 0, key, (size_t)n, &h)) {
			assert_int_equal(h.epoch, (uint64_t)i + 1);
			assert_int_equal(h.len, 100);
		}
	}
	/* Values over max/64 are not kept, and replace nothing stale. */
	rcache_written(&c, 0, "big", 3, 1, 1, "small", 5);
	rcache_written(&c, 0, "big", 3, 2, 1, big, sizeof(big));
	expect_miss(&c, 0, "big");
	rcache_free(&c);
}

static void test_disabled(void **state)
{
	struct rcache c;

	(void)state;
	assert_int_equal(rcache_init(&c, 0), 0);
	rcache_written(&c, 0, "k", 1, 1, 1, "v", 1);
	rcache_fill(&c, RCACHE_GEN_NOW, 0, "k", 1, 1, 1, "v", 1);
	expect_miss(&c, 0, "k");
	rcache_forget(&c, 0, "k", 1);
	rcache_free(&c);
}

/* Random writes, deletes, forgets, inline and off-loop fills over a small
 * key space, checked against the newest durable version of each key. */
#define NKEYS 300
struct model {
	uint64_t epoch;
	int found;
	char val[16];
	size_t len;
};

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_model(void **state)
{
	static struct model m[NKEYS];
	struct rcache c;
	uint64_t seed = 0x9e3779b97f4a7c15ull, epoch = 0;
	/* An off-loop read in flight: key, gen, and the answer it read. */
	struct {
		int active, key;
		uint64_t gen;
		struct model seen;
	} rd[8] = { { 0 } };

	(void)state;
	memset(m, 0, sizeof(m));
	/* Small enough to evict constantly. */
	assert_int_equal(rcache_init(&c, 16 << 10), 0);
	for (int step = 0; step < 200000; step++) {
		int k = (int)(rnd(&seed) % NKEYS), op = (int)(rnd(&seed) % 7);
		char key[16];
		size_t klen = (size_t)snprintf(key, sizeof(key), "k%d", k);
		struct rcache_hit h;

		switch (op) {
		case 0: /* a write (SET) completes */
			m[k].epoch = ++epoch;
			m[k].found = 1;
			m[k].len = (size_t)snprintf(m[k].val, sizeof(m[k].val),
						    "v%llu",
						    (unsigned long long)epoch);
			rcache_written(&c, 0, key, klen, m[k].epoch, 1,
				       m[k].val, m[k].len);
			break;
		case 1: /* a DEL completes */
			m[k].epoch = ++epoch;
			m[k].found = 0;
			rcache_written(&c, 0, key, klen, m[k].epoch, 0, NULL,
				       0);
			break;
		case 2: /* an APPEND completes: forgotten */
			m[k].epoch = ++epoch;
			m[k].found = 1;
			m[k].len = (size_t)snprintf(m[k].val, sizeof(m[k].val),
						    "a%llu",
						    (unsigned long long)epoch);
			rcache_forget(&c, 0, key, klen);
			break;
		case 3: /* an inline read: sees the durable newest */
			rcache_fill(&c, RCACHE_GEN_NOW, 0, key, klen,
				    m[k].epoch, m[k].found, m[k].val,
				    m[k].len);
			break;
		case 4: { /* an off-loop read begins (reads now) */
			int i = (int)(rnd(&seed) % 8);

			if (!rd[i].active) {
				rd[i].active = 1;
				rd[i].key = k;
				rd[i].gen = rcache_gen(&c);
				rd[i].seen = m[k];
			}
			break;
		}
		case 5: { /* an off-loop read completes */
			int i = (int)(rnd(&seed) % 8);
			char rk[16];
			size_t rkl;

			if (!rd[i].active)
				break;
			rkl = (size_t)snprintf(rk, sizeof(rk), "k%d",
					       rd[i].key);
			rcache_fill(&c, rd[i].gen, 0, rk, rkl,
				    rd[i].seen.epoch, rd[i].seen.found,
				    rd[i].seen.val, rd[i].seen.len);
			rd[i].active = 0;
			break;
		}
		default: /* a GET: a hit must be the durable newest */
			if (rcache_get(&c, 0, key, klen, &h)) {
				assert_int_equal(h.epoch, m[k].epoch);
				assert_int_equal(h.found, m[k].found);
				if (h.found) {
					assert_int_equal(h.len, m[k].len);
					assert_memory_equal(h.data, m[k].val,
							    h.len);
				}
			}
		}
		assert_true(c.bytes <= c.max_bytes);
	}
	assert_true(c.hits > 1000);
	rcache_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fill_write_forget),
		cmocka_unit_test(test_older_never_replaces_newer),
		cmocka_unit_test(test_stale_offloop_fill_dropped),
		cmocka_unit_test(test_bounded_and_big_values),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
