/*
 * The sharding manager: the families (CRC16 and Redis slot vectors, hash
 * tags, jump hash balance and minimal movement, range boundaries on binary
 * keys, custom functions from shared objects and their failures), range
 * confinement, the cluster map (creation, lookups, changes and versions,
 * node state table, move planning, the redirect rule), the JSON form
 * (round trips of random maps, malformed and mutated documents), and the
 * promise that lookups never allocate.
 *
 * Deterministic: every random choice comes from a seeded generator; a
 * failure prints its seed. DKV_TEST_SEED=<n> replays one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "dkv_err.h"
#include "shard/family.h"
#include "shard/map.h"

#ifndef DKV_TEST_PREFIX_SO
#error "DKV_TEST_PREFIX_SO: path of the example module (tests/shard.cmake)"
#endif
#ifndef DKV_TEST_BAD_SO
#error "DKV_TEST_BAD_SO: path of the misbehaving modules (tests/shard.cmake)"
#endif

/* --- allocation counting (linked with --wrap=malloc,calloc,realloc) ------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static unsigned long allocs;

void *__wrap_malloc(size_t n)
{
	allocs++;
	return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	allocs++;
	return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
	allocs++;
	return __real_realloc(p, n);
}

/* --- helpers ---------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint32_t rndn(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static uint64_t seed_base(void)
{
	const char *s = getenv("DKV_TEST_SEED");

	return s != NULL ? strtoull(s, NULL, 0) : UINT64_C(20240601);
}

static char errbuf[512];

/* The seed of the random case running, printed if it fails. */
static uint64_t cur_seed;
static int seed_active;

static int print_seed(void **state)
{
	(void)state;
	if (seed_active)
		fprintf(stderr, "failed: replay with DKV_TEST_SEED=%llu\n",
			(unsigned long long)cur_seed);
	seed_active = 0;
	return 0;
}

static struct dkv_family *family_new(const struct dkv_family_spec *spec)
{
	struct dkv_family *f = NULL;
	int rc = dkv_family_create(spec, &f, errbuf, sizeof(errbuf));

	if (rc != 0)
		fprintf(stderr, "family_create: %s: %s\n", dkv_errname(rc),
			errbuf);
	assert_int_equal(rc, 0);
	return f;
}

static struct dkv_family *family_simple(enum dkv_family_kind kind,
					uint32_t nshards)
{
	struct dkv_family_spec spec = {.kind = kind, .nshards = nshards};

	return family_new(&spec);
}

static uint32_t shard_of(const struct dkv_family *f, const char *key)
{
	uint32_t s = DKV_SHARD_NONE;

	assert_int_equal(dkv_family_key_shard(f, key, strlen(key), &s), 0);
	return s;
}

/* Keys "k<i>" for the statistical tests. */
static size_t key_i(char *buf, size_t cap, unsigned i)
{
	return (size_t)snprintf(buf, cap, "key:%u", i);
}

/* --- family vectors ------------------------------------------------------------ */

static uint16_t crc16_bitwise(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint16_t crc = 0;
	size_t i;
	int b;

	for (i = 0; i < len; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021
						      : crc << 1);
	}
	return crc;
}

static void test_crc16(void **state)
{
	unsigned char buf[64];
	unsigned i;

	(void)state;
	/* The check value of CRC-16/XMODEM, quoted by the Redis Cluster
	 * specification. */
	assert_int_equal(dkv_crc16("123456789", 9), 0x31C3);
	assert_int_equal(dkv_crc16("", 0), 0);
	/* Table against the bitwise definition: every byte, and random
	 * strings. */
	for (i = 0; i < 256; i++) {
		buf[0] = (unsigned char)i;
		assert_int_equal(dkv_crc16(buf, 1), crc16_bitwise(buf, 1));
	}
	rng_state = 1;
	for (i = 0; i < 1000; i++) {
		size_t n = rndn(sizeof(buf) + 1), j;

		for (j = 0; j < n; j++)
			buf[j] = (unsigned char)rnd();
		assert_int_equal(dkv_crc16(buf, n), crc16_bitwise(buf, n));
	}
}

static void test_redis_slots(void **state)
{
	/* Answers of a real redis-server 7 (CLUSTER KEYSLOT). */
	static const struct {
		const char *key;
		uint32_t slot;
	} v[] = {
		{"foo", 12182},
		{"bar", 5061},
		{"hello", 866},
		{"somekey", 11058},
		{"foo{hash_tag}", 2515},
		{"bar{hash_tag}", 2515},
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"123456789", 12739},
		{"", 0},
		{"foo{}{bar}", 8363},
		{"foo{{bar}}zap", 4015},
		{"{a}", 15495},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint32_t s = dkv_key_slot(v[i].key, strlen(v[i].key));

		if (s != v[i].slot)
			fprintf(stderr, "slot of \"%s\": %u, Redis says %u\n",
				v[i].key, s, v[i].slot);
		assert_int_equal(s, v[i].slot);
	}
	assert_int_equal(0x31C3 % DKV_SLOTS, 12739);
}

static void check_tag(const char *key, const char *want)
{
	const void *part;
	size_t n = dkv_hash_tag(key, strlen(key), &part);

	if (n != strlen(want) || memcmp(part, want, n) != 0)
		fprintf(stderr, "tag of \"%s\": \"%.*s\", want \"%s\"\n", key,
			(int)n, (const char *)part, want);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(part, want, n);
}

static void test_hash_tag(void **state)
{
	(void)state;
	/* The examples of the Redis Cluster specification. */
	check_tag("{user1000}.following", "user1000");
	check_tag("foo{}{bar}", "foo{}{bar}");
	check_tag("foo{{bar}}zap", "{bar");
	check_tag("foo{bar}{zap}", "bar");
	/* Edges. */
	check_tag("", "");
	check_tag("{", "{");
	check_tag("{}", "{}");
	check_tag("{x}", "x");
	check_tag("}{x", "}{x");
	check_tag("a}b{c}d", "c");
	check_tag("{{}}", "{");
	check_tag("no tag", "no tag");
	/* Binary: NUL inside the tag. */
	{
		static const char k[] = {'a', '{', 0, 1, '}', 'z'};
		const void *part;

		assert_int_equal(dkv_hash_tag(k, sizeof(k), &part), 2);
		assert_ptr_equal(part, k + 2);
	}
	/* Same tag, same hash, same slot; the tag alone hashes the same. */
	assert_true(dkv_key_hash("{u7}a", 5) == dkv_key_hash("{u7}bbbb", 8));
	assert_true(dkv_key_hash("x{u7}", 5) == dkv_key_hash("u7", 2));
	assert_int_equal(dkv_key_slot("{u7}a", 5), dkv_key_slot("u7", 2));
}

static void test_jump_vectors(void **state)
{
	uint64_t h;
	uint32_t n;

	(void)state;
	/* Published answers of other implementations of the reference
	 * algorithm (Python jump-consistent-hash, Microsoft's TS one). */
	assert_int_equal(dkv_jump_hash(256, 1024), 520);
	assert_int_equal(dkv_jump_hash(UINT64_C(10863919174838991), 11), 6);
	assert_int_equal(dkv_jump_hash(UINT64_C(2016238256797177309), 11), 3);
	assert_int_equal(dkv_jump_hash(1, 1), 0);
	/* Always in range; one bucket is bucket 0. */
	rng_state = 2;
	for (n = 0; n < 10000; n++) {
		h = rnd();
		assert_int_equal(dkv_jump_hash(h, 1), 0);
		assert_true(dkv_jump_hash(h, n % 70000 + 1) < n % 70000 + 1);
	}
	assert_true(dkv_jump_hash(UINT64_MAX, DKV_SHARDS_MAX) < DKV_SHARDS_MAX);
}

#define NKEYS 100000u

/* Each shard's share of NKEYS within 5 standard deviations (about 2.7%
 * for 4 shards, 5.6% for 16, 11.6% for 64) and chi-square within the
 * 99.99% quantile. */
static void check_balance(enum dkv_family_kind kind, uint32_t n)
{
	struct dkv_family *f = family_simple(kind, n);
	uint32_t *count = calloc(n, sizeof(*count));
	double mean = (double)NKEYS / n, sd, chi = 0, limit;
	char key[32];
	unsigned i;

	assert_non_null(count);
	for (i = 0; i < NKEYS; i++) {
		size_t kl = key_i(key, sizeof(key), i);
		uint32_t s;

		assert_int_equal(dkv_family_key_shard(f, key, kl, &s), 0);
		assert_true(s < n);
		count[s]++;
	}
	sd = sqrt(mean * (1.0 - 1.0 / n));
	for (i = 0; i < n; i++) {
		double d = count[i] - mean;

		if (fabs(d) > 5 * sd)
			fprintf(stderr, "%s/%u: shard %u has %u keys, mean %.0f\n",
				dkv_family_kind_name(kind), n, i, count[i],
				mean);
		assert_true(fabs(d) <= 5 * sd);
		chi += d * d / mean;
	}
	/* Wilson-Hilferty approximation of the chi-square 99.99% quantile
	 * with n - 1 degrees of freedom. */
	limit = (n - 1) * pow(1 - 2.0 / (9 * (n - 1)) +
				      3.719 * sqrt(2.0 / (9 * (n - 1))),
			      3);
	assert_true(chi < limit);
	free(count);
	dkv_family_destroy(f);
}

static void test_hash_balance(void **state)
{
	(void)state;
	check_balance(DKV_FAMILY_HASH, 4);
	check_balance(DKV_FAMILY_HASH, 16);
	check_balance(DKV_FAMILY_HASH, 64);
	check_balance(DKV_FAMILY_SLOTS, 4);
	check_balance(DKV_FAMILY_SLOTS, 16);
	check_balance(DKV_FAMILY_SLOTS, 64);
}

/* Growing from n to n+1 shards moves about NKEYS/(n+1) keys, all of them
 * to the new shard n. */
static void test_hash_growth(void **state)
{
	static const uint32_t ns[] = {1, 2, 3, 4, 7, 8, 15, 16, 31, 63, 64,
				      100, 255, 1000};
	uint64_t *h = malloc(NKEYS * sizeof(*h));
	char key[32];
	unsigned i, t;

	(void)state;
	assert_non_null(h);
	for (i = 0; i < NKEYS; i++) {
		size_t kl = key_i(key, sizeof(key), i);

		h[i] = dkv_key_hash(key, kl);
	}
	for (t = 0; t < sizeof(ns) / sizeof(ns[0]); t++) {
		uint32_t n = ns[t];
		double p = 1.0 / (n + 1), want = NKEYS * p;
		double sd = sqrt(NKEYS * p * (1 - p));
		unsigned moved = 0;

		for (i = 0; i < NKEYS; i++) {
			uint32_t a = dkv_jump_hash(h[i], n);
			uint32_t b = dkv_jump_hash(h[i], n + 1);

			if (a != b) {
				assert_int_equal(b, n); /* only to the new one */
				moved++;
			}
		}
		if (fabs(moved - want) > 5 * sd)
			fprintf(stderr, "%u -> %u shards: %u keys moved, "
					"expected %.0f\n",
				n, n + 1, moved, want);
		assert_true(fabs(moved - want) <= 5 * sd);
	}
	free(h);
}

static void test_hash_family(void **state)
{
	struct dkv_family *f = family_simple(DKV_FAMILY_HASH, 16);
	char key[32];
	unsigned i;

	(void)state;
	assert_int_equal(dkv_family_kind(f), DKV_FAMILY_HASH);
	assert_int_equal(dkv_family_nshards(f), 16);
	for (i = 0; i < 1000; i++) {
		size_t kl = key_i(key, sizeof(key), i);
		uint32_t s;

		assert_int_equal(dkv_family_key_shard(f, key, kl, &s), 0);
		assert_int_equal(s, dkv_jump_hash(XXH3_64bits(key, kl), 16));
	}
	/* Keys of one tag share a shard. */
	assert_int_equal(shard_of(f, "{user1000}.following"),
			 shard_of(f, "{user1000}.followers"));
	assert_int_equal(shard_of(f, "a{cart:9}"), shard_of(f, "cart:9"));
	/* Empty and NULL keys. */
	{
		uint32_t a, b;

		assert_int_equal(dkv_family_key_shard(f, NULL, 0, &a), 0);
		assert_int_equal(dkv_family_key_shard(f, "", 0, &b), 0);
		assert_int_equal(a, b);
	}
	/* Bounds. */
	{
		struct dkv_family_spec bad = {.kind = DKV_FAMILY_HASH};
		struct dkv_family *g = NULL;

		assert_int_equal(dkv_family_create(&bad, &g, NULL, 0),
				 DKV_ERR_INVAL);
		bad.nshards = DKV_SHARDS_MAX + 1;
		assert_int_equal(dkv_family_create(&bad, &g, errbuf,
						   sizeof(errbuf)),
				 DKV_ERR_INVAL);
		assert_non_null(strstr(errbuf, "65537"));
		bad.nshards = DKV_SHARDS_MAX;
		assert_int_equal(dkv_family_create(&bad, &g, NULL, 0), 0);
		dkv_family_destroy(g);
		bad.kind = (enum dkv_family_kind)99;
		assert_int_equal(dkv_family_create(&bad, &g, NULL, 0),
				 DKV_ERR_INVAL);
	}
	dkv_family_destroy(f);
}

static void test_slots_family(void **state)
{
	struct dkv_family *f = family_simple(DKV_FAMILY_SLOTS, 3);
	struct dkv_family *g;
	uint32_t s;

	(void)state;
	/* Contiguous, near-equal ranges: slot * 3 / 16384. */
	assert_int_equal(dkv_family_slot_shard(f, 0), 0);
	assert_int_equal(dkv_family_slot_shard(f, 5461), 0);
	assert_int_equal(dkv_family_slot_shard(f, 5462), 1);
	assert_int_equal(dkv_family_slot_shard(f, 10922), 1);
	assert_int_equal(dkv_family_slot_shard(f, 10923), 2);
	assert_int_equal(dkv_family_slot_shard(f, 16383), 2);
	assert_int_equal(dkv_family_slot_shard(f, 16384), DKV_SHARD_NONE);
	for (s = 1; s < DKV_SLOTS; s++)
		assert_true(dkv_family_slot_shard(f, s) >=
			    dkv_family_slot_shard(f, s - 1));
	/* foo is slot 12182 -> shard 2, hello 866 -> 0, bar 5061 -> 0. */
	assert_int_equal(shard_of(f, "foo"), 2);
	assert_int_equal(shard_of(f, "hello"), 0);
	assert_int_equal(shard_of(f, "bar"), 0);
	/* Moving slots. */
	assert_int_equal(dkv_family_set_slots(f, 12182, 12182, 1), 1);
	assert_int_equal(shard_of(f, "foo"), 1);
	assert_int_equal(dkv_family_set_slots(f, 12182, 12182, 1), 0);
	assert_int_equal(dkv_family_set_slots(f, 0, 16383, 1), 16383 - 5461);
	assert_int_equal(dkv_family_set_slots(f, 5, 4, 1), DKV_ERR_INVAL);
	assert_int_equal(dkv_family_set_slots(f, 0, 16384, 1), DKV_ERR_INVAL);
	assert_int_equal(dkv_family_set_slots(f, 0, 1, 3), DKV_ERR_NO_SHARD);
	/* Clone is deep and equal. */
	assert_int_equal(dkv_family_clone(f, &g), 0);
	assert_true(dkv_family_equal(f, g));
	assert_int_equal(dkv_family_set_slots(g, 7, 7, 2), 1);
	assert_false(dkv_family_equal(f, g));
	dkv_family_destroy(g);
	dkv_family_destroy(f);
	/* At most 16384 shards; exactly 16384 is one slot each. */
	{
		struct dkv_family_spec sp = {.kind = DKV_FAMILY_SLOTS,
					     .nshards = DKV_SLOTS + 1};

		assert_int_equal(dkv_family_create(&sp, &f, NULL, 0),
				 DKV_ERR_INVAL);
		sp.nshards = DKV_SLOTS;
		f = family_new(&sp);
		for (s = 0; s < DKV_SLOTS; s++)
			assert_int_equal(dkv_family_slot_shard(f, s), s);
		dkv_family_destroy(f);
	}
	/* Not a slots family. */
	f = family_simple(DKV_FAMILY_HASH, 3);
	assert_int_equal(dkv_family_set_slots(f, 0, 0, 0), DKV_ERR_UNSUPPORTED);
	assert_int_equal(dkv_family_slot_shard(f, 0), DKV_SHARD_NONE);
	dkv_family_destroy(f);
}

/* Splits: "b" | "d" | "d\0x" | "m\xff": 5 shards. */
static struct dkv_family *range_family(void)
{
	static const struct dkv_split sp[] = {
		{"b", 1}, {"d", 1}, {"d\0x", 3}, {"m\xff", 2}};
	struct dkv_family_spec spec = {.kind = DKV_FAMILY_RANGE,
				       .splits = sp,
				       .nsplits = 4};

	return family_new(&spec);
}

static uint32_t shard_bin(const struct dkv_family *f, const void *k,
			  size_t n)
{
	uint32_t s = DKV_SHARD_NONE;

	assert_int_equal(dkv_family_key_shard(f, k, n, &s), 0);
	return s;
}

static void test_range_family(void **state)
{
	struct dkv_family *f = range_family();
	const void *k;
	size_t len;

	(void)state;
	assert_int_equal(dkv_family_nshards(f), 5);
	assert_int_equal(shard_bin(f, "", 0), 0);
	assert_int_equal(shard_bin(f, NULL, 0), 0);
	assert_int_equal(shard_bin(f, "a", 1), 0);
	assert_int_equal(shard_bin(f, "a\xff\xff", 3), 0);
	assert_int_equal(shard_bin(f, "b", 1), 1); /* a split starts its shard */
	assert_int_equal(shard_bin(f, "b\0", 2), 1);
	assert_int_equal(shard_bin(f, "c\xff", 2), 1);
	assert_int_equal(shard_bin(f, "d", 1), 2);
	assert_int_equal(shard_bin(f, "d\0", 2), 2); /* a prefix sorts first */
	assert_int_equal(shard_bin(f, "d\0w\xff", 4), 2);
	assert_int_equal(shard_bin(f, "d\0x", 3), 3);
	assert_int_equal(shard_bin(f, "d\0x\0", 4), 3);
	assert_int_equal(shard_bin(f, "d\x01", 2), 3);
	assert_int_equal(shard_bin(f, "m", 1), 3);
	assert_int_equal(shard_bin(f, "m\xfe\xff", 3), 3);
	assert_int_equal(shard_bin(f, "m\xff", 2), 4);
	assert_int_equal(shard_bin(f, "\xff\xff\xff", 3), 4);
	k = dkv_family_split(f, 2, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(k, "d\0x", 3);
	assert_null(dkv_family_split(f, 4, &len));
	/* Byte order is unsigned. */
	assert_true(dkv_key_cmp("\x80", 1, "\x7f", 1) > 0);
	assert_true(dkv_key_cmp("ab", 2, "abc", 3) < 0);
	assert_true(dkv_key_cmp(NULL, 0, "", 0) == 0);
	dkv_family_destroy(f);

	/* One shard, no split. */
	{
		struct dkv_family_spec one = {.kind = DKV_FAMILY_RANGE};

		f = family_new(&one);
		assert_int_equal(dkv_family_nshards(f), 1);
		assert_int_equal(shard_bin(f, "zz", 2), 0);
		dkv_family_destroy(f);
	}
	/* Bad split keys. */
	{
		struct dkv_split sp[3] = {{"a", 1}, {"b", 1}, {"c", 1}};
		struct dkv_family_spec bad = {.kind = DKV_FAMILY_RANGE,
					      .splits = sp,
					      .nsplits = 3};
		static char big[DKV_SPLIT_MAX_LEN + 1];

		sp[1].data = "a"; /* equal */
		assert_int_equal(dkv_family_create(&bad, &f, errbuf,
						   sizeof(errbuf)),
				 DKV_ERR_INVAL);
		assert_non_null(strstr(errbuf, "strictly increase"));
		sp[1].data = "\x01"; /* decreasing */
		assert_int_equal(dkv_family_create(&bad, &f, NULL, 0),
				 DKV_ERR_INVAL);
		sp[1].data = "b";
		sp[2].len = 0; /* empty */
		assert_int_equal(dkv_family_create(&bad, &f, NULL, 0),
				 DKV_ERR_INVAL);
		memset(big, 'z', sizeof(big));
		sp[2].data = big;
		sp[2].len = sizeof(big); /* too long */
		assert_int_equal(dkv_family_create(&bad, &f, NULL, 0),
				 DKV_ERR_INVAL);
		sp[2].len = DKV_SPLIT_MAX_LEN; /* longest allowed */
		assert_int_equal(dkv_family_create(&bad, &f, NULL, 0), 0);
		dkv_family_destroy(f);
		bad.nshards = 3; /* 3 splits make 4 shards */
		assert_int_equal(dkv_family_create(&bad, &f, NULL, 0),
				 DKV_ERR_INVAL);
	}
}

/* --- range confinement ---------------------------------------------------------- */

#define RS(f, a, b, fi, la)                                                   \
	dkv_family_range_shard(f, a, sizeof(a) - 1, b, sizeof(b) - 1, fi, la)

/* Every key start + random suffix that is < end maps to shard s. */
static void check_confined(const struct dkv_family *f, const char *start,
			   size_t slen, const char *end, size_t elen,
			   uint32_t s)
{
	unsigned char k[64];
	unsigned i;

	for (i = 0; i < 2000; i++) {
		size_t n = slen + rndn(8), j;
		uint32_t got;

		memcpy(k, start, slen);
		for (j = slen; j < n; j++)
			k[j] = (unsigned char)rnd();
		if (dkv_key_cmp(k, n, end, elen) >= 0)
			continue;
		assert_int_equal(dkv_family_key_shard(f, k, n, &got), 0);
		assert_int_equal(got, s);
	}
}

static void test_range_confine_range(void **state)
{
	struct dkv_family *f = range_family();
	uint32_t a, b;

	(void)state;
	rng_state = 3;
	assert_int_equal(RS(f, "b", "c", &a, &b), 1);
	assert_int_equal(a, 1);
	assert_int_equal(b, 1);
	/* End exactly at the next split: still one shard. */
	assert_int_equal(RS(f, "b", "d", &a, &b), 1);
	check_confined(f, "b", 1, "d", 1, 1);
	assert_int_equal(RS(f, "d", "d\0x", &a, &b), 2);
	/* One byte past the split: two shards, named. */
	assert_int_equal(RS(f, "b", "d\0", &a, &b), DKV_ERR_UNSUPPORTED);
	assert_int_equal(a, 1);
	assert_int_equal(b, 2);
	assert_int_equal(RS(f, "a", "z", &a, &b), DKV_ERR_UNSUPPORTED);
	assert_int_equal(a, 0);
	assert_int_equal(b, 4);
	/* Open bounds. */
	assert_int_equal(dkv_family_range_shard(f, NULL, 0, "b", 1, &a, &b), 0);
	assert_int_equal(dkv_family_range_shard(f, "m\xff", 2, NULL, 0, &a, &b),
			 4);
	assert_int_equal(dkv_family_range_shard(f, NULL, 0, NULL, 0, &a, &b),
			 DKV_ERR_UNSUPPORTED);
	assert_int_equal(a, 0);
	assert_int_equal(b, 4);
	/* Empty ranges. */
	assert_int_equal(RS(f, "c", "c", &a, &b), DKV_ERR_INVAL);
	assert_int_equal(RS(f, "c", "b", &a, &b), DKV_ERR_INVAL);
	assert_int_equal(a, DKV_SHARD_NONE);
	assert_int_equal(dkv_family_range_shard(f, "a", 1, "", 0, NULL, NULL),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_family_range_shard(f, NULL, 0, "", 0, NULL, NULL),
			 DKV_ERR_INVAL);
	dkv_family_destroy(f);
}

static void test_range_confine_tags(void **state)
{
	enum dkv_family_kind kinds[] = {DKV_FAMILY_HASH, DKV_FAMILY_SLOTS};
	unsigned t;

	(void)state;
	rng_state = 4;
	for (t = 0; t < 2; t++) {
		struct dkv_family *f = family_simple(kinds[t], 16);
		uint32_t a, b, s;
		int rc;

		s = shard_of(f, "user1");
		/* Both begin with the same {tag}. */
		rc = RS(f, "{user1}", "{user1}\xff", &a, &b);
		assert_int_equal(rc, (int)s);
		assert_int_equal(a, s);
		assert_int_equal(b, s);
		check_confined(f, "{user1}", 7, "{user1}\xff", 8, s);
		assert_int_equal(RS(f, "{user1}a", "{user1}b", &a, &b), (int)s);
		/* The general rule: a complete tag inside the common prefix. */
		s = shard_of(f, "42");
		assert_int_equal(RS(f, "cart:{42}:a", "cart:{42}:z", &a, &b),
				 (int)s);
		check_confined(f, "cart:{42}:a", 11, "cart:{42}:z", 11, s);
		/* No complete tag in the common prefix. */
		rc = RS(f, "{user1", "{user1}z", &a, &b);
		assert_int_equal(rc, DKV_ERR_UNSUPPORTED);
		assert_int_equal(a, shard_of(f, "{user1"));
		assert_int_equal(b, shard_of(f, "{user1}z"));
		assert_int_equal(RS(f, "{a}x", "{b}x", &a, &b),
				 DKV_ERR_UNSUPPORTED);
		assert_int_equal(RS(f, "{}a", "{}b", &a, &b),
				 DKV_ERR_UNSUPPORTED); /* {} is no tag */
		assert_int_equal(RS(f, "a", "b", &a, &b), DKV_ERR_UNSUPPORTED);
		assert_int_equal(RS(f, "x}{t}a", "x}{t}b", &a, &b),
				 (int)shard_of(f, "t"));
		/* Open bounds: no common prefix. */
		assert_int_equal(dkv_family_range_shard(f, NULL, 0, "{u}", 3,
							&a, &b),
				 DKV_ERR_UNSUPPORTED);
		assert_int_equal(a, DKV_SHARD_NONE);
		assert_int_equal(b, shard_of(f, "u"));
		assert_int_equal(RS(f, "{u}b", "{u}a", &a, &b), DKV_ERR_INVAL);
		dkv_family_destroy(f);

		/* One shard: any range. */
		f = family_simple(kinds[t], 1);
		assert_int_equal(dkv_family_range_shard(f, NULL, 0, NULL, 0,
							&a, &b),
				 0);
		assert_int_equal(RS(f, "a", "z", &a, &b), 0);
		dkv_family_destroy(f);
	}
	assert_true(dkv_common_tag("{ab}1", 5, "{ab}2", 5));
	assert_false(dkv_common_tag("{ab}", 4, "{ab", 3));
	assert_false(dkv_common_tag(NULL, 0, NULL, 0));
}

/* --- custom functions ----------------------------------------------------------- */

static int custom_create(const char *fn, uint32_t n, struct dkv_family **f)
{
	struct dkv_family_spec spec = {.kind = DKV_FAMILY_CUSTOM,
				       .nshards = n,
				       .function = fn};

	errbuf[0] = '\0';
	return dkv_family_create(&spec, f, errbuf, sizeof(errbuf));
}

static void test_custom(void **state)
{
	struct dkv_family *f = NULL, *g = NULL;
	uint32_t s, a, b;

	(void)state;
	assert_int_equal(custom_create(DKV_TEST_PREFIX_SO ":prefix_shard", 8,
				       &f),
			 0);
	assert_int_equal(dkv_family_kind(f), DKV_FAMILY_CUSTOM);
	assert_string_equal(dkv_family_function(f),
			    DKV_TEST_PREFIX_SO ":prefix_shard");
	assert_int_equal(shard_of(f, "user:42"), 42 % 8);
	assert_int_equal(shard_of(f, "user:42:name"), 42 % 8);
	assert_int_equal(shard_of(f, "order:13:item:2"), 13 % 8);
	assert_true(shard_of(f, "plain") < 8);
	assert_int_equal(dkv_family_key_shard(f, NULL, 0, &s), 0);
	/* The module's range function. */
	assert_int_equal(RS(f, "user:42:", "user:42:\xff", &a, &b), 42 % 8);
	assert_int_equal(RS(f, "user:42:a", "user:43:a", &a, &b),
			 DKV_ERR_UNSUPPORTED);
	assert_int_equal(a, 42 % 8);
	assert_int_equal(b, 43 % 8);
	assert_int_equal(dkv_family_range_shard(f, NULL, 0, "x", 1, &a, &b),
			 DKV_ERR_UNSUPPORTED);
	assert_int_equal(a, DKV_SHARD_NONE);
	/* Clone: a second reference to the module, same function. */
	assert_int_equal(dkv_family_clone(f, &g), 0);
	assert_true(dkv_family_equal(f, g));
	assert_true(dkv_family_fingerprint(f) == dkv_family_fingerprint(g));
	assert_true(dkv_family_fingerprint(f) != 0);
	dkv_family_destroy(f);
	assert_int_equal(shard_of(g, "user:9"), 1);
	/* Another nshards, another fingerprint. */
	assert_int_equal(custom_create(DKV_TEST_PREFIX_SO ":prefix_shard", 7,
				       &f),
			 0);
	assert_true(dkv_family_fingerprint(f) != dkv_family_fingerprint(g));
	dkv_family_destroy(f);
	dkv_family_destroy(g);

	/* A module without range function: ranges span unless 1 shard. */
	assert_int_equal(custom_create(DKV_TEST_BAD_SO ":sometimes_out", 4, &f),
			 0);
	assert_int_equal(RS(f, "{a}1", "{a}2", &a, &b), DKV_ERR_UNSUPPORTED);
	/* Out of range on a key: NO_SHARD, for lookups and ranges. */
	assert_int_equal(dkv_family_key_shard(f, "bad", 3, &s),
			 DKV_ERR_NO_SHARD);
	assert_int_equal(RS(f, "bad", "bae", &a, &b), DKV_ERR_NO_SHARD);
	dkv_family_destroy(f);
	assert_int_equal(custom_create(DKV_TEST_BAD_SO ":sometimes_out", 1, &f),
			 0);
	assert_int_equal(RS(f, "a", "b", &a, &b), 0);
	dkv_family_destroy(f);

	/* A correct range function. */
	assert_int_equal(custom_create(DKV_TEST_BAD_SO ":first_byte", 16, &f),
			 0);
	assert_int_equal(RS(f, "ab", "b", &a, &b), 'a' % 16);
	assert_int_equal(RS(f, "ab", "bb", &a, &b), DKV_ERR_UNSUPPORTED);
	dkv_family_destroy(f);
	/* A lying range function. */
	assert_int_equal(custom_create(DKV_TEST_BAD_SO ":liar", 4, &f), 0);
	assert_int_equal(RS(f, "a", "b", &a, &b), DKV_ERR_CORRUPT);
	dkv_family_destroy(f);
}

static void test_custom_errors(void **state)
{
	struct dkv_family *f = NULL;

	(void)state;
	/* Missing module. */
	assert_int_equal(custom_create("/nonexistent/dir/x.so:fn", 4, &f),
			 DKV_ERR_NOT_FOUND);
	assert_non_null(strstr(errbuf, "cannot load"));
	assert_non_null(strstr(errbuf, "/nonexistent/dir/x.so"));
	/* Missing symbol. */
	assert_int_equal(custom_create(DKV_TEST_PREFIX_SO ":no_such_fn", 4, &f),
			 DKV_ERR_NOT_FOUND);
	assert_non_null(strstr(errbuf, "no_such_fn"));
	/* A data symbol is not a function. */
	assert_int_equal(custom_create(DKV_TEST_BAD_SO ":not_a_function", 4,
				       &f),
			 DKV_ERR_NOT_FOUND);
	assert_non_null(strstr(errbuf, "not a function"));
	/* Malformed names. */
	assert_int_equal(custom_create(NULL, 4, &f), DKV_ERR_INVAL);
	assert_int_equal(custom_create("", 4, &f), DKV_ERR_INVAL);
	assert_int_equal(custom_create("noColon.so", 4, &f), DKV_ERR_INVAL);
	assert_int_equal(custom_create(":sym", 4, &f), DKV_ERR_INVAL);
	assert_int_equal(custom_create("/x.so:", 4, &f), DKV_ERR_INVAL);
	assert_int_equal(custom_create("/x.so:1abc", 4, &f), DKV_ERR_INVAL);
	assert_int_equal(custom_create("/x.so:a-b", 4, &f), DKV_ERR_INVAL);
	assert_int_equal(custom_create(DKV_TEST_PREFIX_SO ":prefix_shard", 0,
				       &f),
			 DKV_ERR_INVAL);
	{
		static char longname[DKV_SHARDFN_SPEC_MAX + 2];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[10] = ':';
		assert_int_equal(custom_create(longname, 4, &f), DKV_ERR_INVAL);
	}
	/* Out of range on the probe keys: refused at load. */
	assert_int_equal(custom_create(DKV_TEST_BAD_SO ":always_out", 4, &f),
			 DKV_ERR_NO_SHARD);
	assert_non_null(strstr(errbuf, "answers shard 4"));
}

/* --- the map ------------------------------------------------------------------- */

static const struct dkv_map_node_conf three[] = {
	{30, "10.0.0.3:7000"}, {10, "10.0.0.1:7000"}, {20, "node-2.dc1:7000"}};

static struct dkv_map *map_new(enum dkv_family_kind kind, uint32_t nshards,
			       const struct dkv_map_node_conf *nodes,
			       uint32_t nnodes)
{
	struct dkv_map_conf conf = {
		.name = "test",
		.cluster_id = UINT64_C(0x9f86d081884c7d65),
		.nodes = nodes,
		.nnodes = nnodes,
		.family = {.kind = kind, .nshards = nshards},
	};
	struct dkv_map *m = NULL;
	int rc = dkv_map_create(&conf, &m, errbuf, sizeof(errbuf));

	if (rc != 0)
		fprintf(stderr, "map_create: %s: %s\n", dkv_errname(rc),
			errbuf);
	assert_int_equal(rc, 0);
	return m;
}

static uint32_t owner_of(const struct dkv_map *m, uint32_t shard)
{
	const struct dkv_map_node *n = NULL;

	assert_int_equal(dkv_map_shard_node(m, shard, &n), 0);
	return n->id;
}

static void test_map_create(void **state)
{
	struct dkv_map *m = map_new(DKV_FAMILY_HASH, 8, three, 3);
	const struct dkv_map_node *n;
	char key[32];
	uint32_t i, s;

	(void)state;
	assert_int_equal(dkv_map_version(m), 1);
	assert_string_equal(dkv_map_name(m), "test");
	assert_true(dkv_map_cluster_id(m) == UINT64_C(0x9f86d081884c7d65));
	assert_int_equal(dkv_map_nshards(m), 8);
	assert_int_equal(dkv_map_nnodes(m), 3);
	/* Nodes in id order, all UP; shards round-robin in id order. */
	for (i = 0; i < 3; i++) {
		n = dkv_map_node_at(m, i);
		assert_int_equal(n->id, 10 * (i + 1));
		assert_int_equal(dkv_map_node_state(n), DKV_NODE_UP);
	}
	assert_null(dkv_map_node_at(m, 3));
	assert_string_equal(dkv_map_node_find(m, 20)->addr, "node-2.dc1:7000");
	assert_null(dkv_map_node_find(m, 21));
	for (i = 0; i < 8; i++)
		assert_int_equal(owner_of(m, i), 10 * (i % 3 + 1));
	assert_int_equal(dkv_map_node_nshards(m, 10), 3);
	assert_int_equal(dkv_map_node_nshards(m, 30), 2);
	assert_int_equal(dkv_map_node_nshards(m, 99), 0);
	assert_int_equal(dkv_map_shard_node(m, 8, &n), DKV_ERR_NO_SHARD);
	/* key -> node is key -> shard -> node. */
	for (i = 0; i < 200; i++) {
		size_t kl = key_i(key, sizeof(key), i);
		uint32_t s2;

		assert_int_equal(dkv_map_key_shard(m, key, kl, &s), 0);
		assert_int_equal(dkv_map_key_node(m, key, kl, &s2, &n), 0);
		assert_int_equal(s, s2);
		assert_int_equal(n->id, owner_of(m, s));
		assert_int_equal(dkv_map_key_node(m, key, kl, NULL, &n), 0);
	}
	/* The same nodes in another order give the same map. */
	{
		struct dkv_map_node_conf rev[3] = {three[2], three[0],
						   three[1]};
		struct dkv_map *m2 = map_new(DKV_FAMILY_HASH, 8, rev, 3);

		assert_true(dkv_map_equal(m, m2));
		dkv_map_destroy(m2);
	}
	dkv_map_destroy(m);
}

static void test_map_create_errors(void **state)
{
	struct dkv_map_node_conf nodes[3];
	struct dkv_map_conf conf = {
		.name = "c1",
		.cluster_id = 7,
		.nodes = nodes,
		.nnodes = 3,
		.family = {.kind = DKV_FAMILY_HASH, .nshards = 4},
	};
	struct dkv_map *m = NULL;

	(void)state;
	memcpy(nodes, three, sizeof(nodes));
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), 0);
	dkv_map_destroy(m);
	nodes[1].id = 30;
	assert_int_equal(dkv_map_create(&conf, &m, errbuf, sizeof(errbuf)),
			 DKV_ERR_INVAL);
	assert_non_null(strstr(errbuf, "twice"));
	nodes[1] = three[1];
	nodes[1].addr = three[0].addr;
	assert_int_equal(dkv_map_create(&conf, &m, errbuf, sizeof(errbuf)),
			 DKV_ERR_INVAL);
	assert_non_null(strstr(errbuf, "address"));
	nodes[1] = three[1];
	nodes[2].id = DKV_NODE_NONE;
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), DKV_ERR_INVAL);
	nodes[2] = three[2];
	nodes[2].addr = "no-port";
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), DKV_ERR_INVAL);
	nodes[2].addr = NULL;
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), DKV_ERR_INVAL);
	nodes[2] = three[2];
	conf.nnodes = 0;
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), DKV_ERR_INVAL);
	conf.nnodes = DKV_MAP_NODES_MAX + 1;
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), DKV_ERR_INVAL);
	conf.nnodes = 3;
	conf.cluster_id = 0;
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), DKV_ERR_INVAL);
	conf.cluster_id = 7;
	conf.name = "bad name";
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), DKV_ERR_INVAL);
	conf.name = "";
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), DKV_ERR_INVAL);
	conf.name = "c1";
	conf.family.nshards = 0;
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), DKV_ERR_INVAL);
	conf.family.kind = DKV_FAMILY_CUSTOM;
	conf.family.nshards = 4;
	conf.family.function = "/nonexistent.so:f";
	assert_int_equal(dkv_map_create(&conf, &m, NULL, 0), DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_map_create(NULL, &m, NULL, 0), DKV_ERR_INVAL);
}

static void test_addr_check(void **state)
{
	static const char *good[] = {"a:1",          "10.0.0.1:7000",
				     "host_1.x-y:65535", "[::1]:6379",
				     "[fe80::1:2]:80", "[::ffff:1.2.3.4]:9"};
	static const char *bad[] = {"",          ":1",         "a:",
				    "a:0",       "a:65536",    "a:07000",
				    "a:1x",      "a b:1",      "a:b:1",
				    "[::1]",     "[::1]:",     "[]:1",
				    "[1]:1",     "[::g]:1",    "::1:1",
				    "a:123456", "a\n:1"};
	char longaddr[DKV_MAP_ADDR_MAX + 2];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(dkv_map_addr_check(good[i]), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dkv_map_addr_check(bad[i]) != DKV_ERR_INVAL)
			fprintf(stderr, "accepted \"%s\"\n", bad[i]);
		assert_int_equal(dkv_map_addr_check(bad[i]), DKV_ERR_INVAL);
	}
	assert_int_equal(dkv_map_addr_check(NULL), DKV_ERR_INVAL);
	memset(longaddr, 'h', sizeof(longaddr));
	memcpy(longaddr + DKV_MAP_ADDR_MAX - 5, ":7000", 6);
	assert_int_equal(dkv_map_addr_check(longaddr), 0);
	memset(longaddr, 'h', sizeof(longaddr));
	memcpy(longaddr + DKV_MAP_ADDR_MAX - 4, ":7000", 6);
	assert_int_equal(dkv_map_addr_check(longaddr), DKV_ERR_INVAL);
}

static void test_node_states(void **state)
{
	/* The table, exhaustively. */
	static const int allowed[DKV_NODE_NSTATES][DKV_NODE_NSTATES] = {
		/* to:        UP DOWN JOINING LEAVING */
		[DKV_NODE_UP] = {0, 1, 0, 1},
		[DKV_NODE_DOWN] = {1, 0, 1, 1},
		[DKV_NODE_JOINING] = {1, 1, 0, 1},
		[DKV_NODE_LEAVING] = {1, 1, 0, 0},
	};
	unsigned from, to;
	enum dkv_node_state st;

	(void)state;
	for (from = 0; from < DKV_NODE_NSTATES; from++)
		for (to = 0; to < DKV_NODE_NSTATES; to++) {
			struct dkv_map *m = map_new(DKV_FAMILY_HASH, 4, three,
						    3);
			uint64_t v;
			int rc;

			/* Reach `from` on node 30 (an allowed path). */
			if (from == DKV_NODE_DOWN || from == DKV_NODE_JOINING)
				assert_int_equal(dkv_map_set_node_state(
							 m, 30, DKV_NODE_DOWN),
						 0);
			if (from != DKV_NODE_DOWN)
				assert_int_equal(
					dkv_map_set_node_state(
						m, 30, (enum dkv_node_state)from),
					0);
			assert_int_equal(
				dkv_map_node_state(dkv_map_node_find(m, 30)),
				from);
			v = dkv_map_version(m);
			rc = dkv_map_set_node_state(m, 30,
						    (enum dkv_node_state)to);
			if (from == to) {
				assert_int_equal(rc, 0);
				assert_true(dkv_map_version(m) == v);
			} else if (allowed[from][to]) {
				assert_int_equal(rc, 0);
				assert_true(dkv_map_version(m) == v + 1);
			} else {
				assert_int_equal(rc, DKV_ERR_STATE);
				assert_true(dkv_map_version(m) == v);
			}
			dkv_map_destroy(m);
		}
	for (from = 0; from < DKV_NODE_NSTATES; from++) {
		assert_int_equal(dkv_node_state_parse(
					 dkv_node_state_name(
						 (enum dkv_node_state)from),
					 &st),
				 0);
		assert_int_equal(st, from);
	}
	assert_null(dkv_node_state_name(DKV_NODE_NSTATES));
	assert_int_equal(dkv_node_state_parse("UP", &st), DKV_ERR_INVAL);
}

static void test_map_changes(void **state)
{
	struct dkv_map *m = map_new(DKV_FAMILY_SLOTS, 6, three, 3);
	uint64_t v = 1;

	(void)state;
#define BUMPED() assert_true(dkv_map_version(m) == ++v)
#define SAME() assert_true(dkv_map_version(m) == v)
	/* Add a node: JOINING, no shard. */
	assert_int_equal(dkv_map_add_node(m, 15, "10.0.0.15:7000"), 0);
	BUMPED();
	assert_int_equal(dkv_map_nnodes(m), 4);
	assert_int_equal(dkv_map_node_at(m, 1)->id, 15);
	assert_int_equal(dkv_map_node_state(dkv_map_node_find(m, 15)),
			 DKV_NODE_JOINING);
	assert_int_equal(dkv_map_node_nshards(m, 15), 0);
	/* Owners did not change with the insertion before them. */
	assert_int_equal(owner_of(m, 0), 10);
	assert_int_equal(owner_of(m, 1), 20);
	assert_int_equal(owner_of(m, 2), 30);
	assert_int_equal(dkv_map_add_node(m, 15, "10.0.0.16:7000"),
			 DKV_ERR_EXISTS);
	assert_int_equal(dkv_map_add_node(m, 16, "10.0.0.15:7000"),
			 DKV_ERR_EXISTS);
	assert_int_equal(dkv_map_add_node(m, 16, "bad"), DKV_ERR_INVAL);
	assert_int_equal(dkv_map_add_node(m, DKV_NODE_NONE, "h:1"),
			 DKV_ERR_INVAL);
	SAME();
	/* Move shards to it. */
	assert_int_equal(dkv_map_move_shard(m, 1, 15), 0);
	BUMPED();
	assert_int_equal(owner_of(m, 1), 15);
	assert_int_equal(dkv_map_move_shard(m, 1, 15), 0);
	SAME();
	assert_int_equal(dkv_map_move_shard(m, 6, 15), DKV_ERR_NO_SHARD);
	assert_int_equal(dkv_map_move_shard(m, 0, 99), DKV_ERR_NOT_FOUND);
	SAME();
	/* Not to a DOWN or LEAVING node. */
	assert_int_equal(dkv_map_set_node_state(m, 20, DKV_NODE_LEAVING), 0);
	BUMPED();
	assert_int_equal(dkv_map_move_shard(m, 0, 20), DKV_ERR_STATE);
	SAME();
	/* Remove: not while owning shards, not while UP. */
	assert_int_equal(dkv_map_remove_node(m, 20), DKV_ERR_BUSY);
	assert_int_equal(dkv_map_move_shard(m, 4, 15), 0);
	BUMPED();
	assert_int_equal(dkv_map_node_nshards(m, 20), 0);
	assert_int_equal(dkv_map_remove_node(m, 20), 0);
	BUMPED();
	assert_null(dkv_map_node_find(m, 20));
	assert_int_equal(dkv_map_remove_node(m, 20), DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_map_remove_node(m, 10), DKV_ERR_STATE);
	SAME();
	/* Owners survive the removal before them. */
	assert_int_equal(owner_of(m, 0), 10);
	assert_int_equal(owner_of(m, 1), 15);
	assert_int_equal(owner_of(m, 2), 30);
	assert_int_equal(owner_of(m, 4), 15);
	assert_int_equal(owner_of(m, 5), 30);
	/* Addresses. */
	assert_int_equal(dkv_map_set_node_addr(m, 30, "10.0.0.33:7000"), 0);
	BUMPED();
	assert_int_equal(dkv_map_set_node_addr(m, 30, "10.0.0.33:7000"), 0);
	assert_int_equal(dkv_map_set_node_addr(m, 30, "10.0.0.1:7000"),
			 DKV_ERR_EXISTS);
	assert_int_equal(dkv_map_set_node_addr(m, 30, ""), DKV_ERR_INVAL);
	assert_int_equal(dkv_map_set_node_addr(m, 31, "h:1"),
			 DKV_ERR_NOT_FOUND);
	SAME();
	/* Slots. */
	assert_int_equal(dkv_map_set_slots(m, 0, 9, 5), 0);
	BUMPED();
	assert_int_equal(dkv_map_set_slots(m, 0, 9, 5), 0);
	SAME();
	assert_int_equal(dkv_map_set_slots(m, 0, 9, 6), DKV_ERR_NO_SHARD);
	assert_int_equal(dkv_map_set_slots(m, 9, 0, 1), DKV_ERR_INVAL);
	SAME();
	{
		uint32_t s;

		assert_int_equal(dkv_map_key_shard(m, "{x}", 3, &s), 0);
		assert_int_equal(dkv_family_slot_shard(dkv_map_family(m),
						       dkv_key_slot("x", 1)),
				 s);
	}
	/* Clones are deep. */
	{
		struct dkv_map *c = NULL;

		assert_int_equal(dkv_map_clone(m, &c), 0);
		assert_true(dkv_map_equal(m, c));
		assert_int_equal(dkv_map_move_shard(c, 0, 15), 0);
		assert_false(dkv_map_equal(m, c));
		assert_int_equal(owner_of(m, 0), 10);
		dkv_map_destroy(c);
	}
	dkv_map_destroy(m);

	/* Only slots maps have slots. */
	m = map_new(DKV_FAMILY_HASH, 4, three, 3);
	assert_int_equal(dkv_map_set_slots(m, 0, 1, 0), DKV_ERR_UNSUPPORTED);
	dkv_map_destroy(m);
#undef BUMPED
#undef SAME
}

static void test_map_node_limit(void **state)
{
	struct dkv_map *m = map_new(DKV_FAMILY_HASH, 1, three, 1);
	char addr[32];
	uint32_t i;

	(void)state;
	for (i = 1; i < DKV_MAP_NODES_MAX; i++) {
		snprintf(addr, sizeof(addr), "n%u:7000", i);
		assert_int_equal(dkv_map_add_node(m, 1000 + i, addr), 0);
	}
	assert_int_equal(dkv_map_nnodes(m), DKV_MAP_NODES_MAX);
	assert_int_equal(dkv_map_add_node(m, 5, "n0:1"), DKV_ERR_TOO_BIG);
	assert_true(dkv_map_version(m) == DKV_MAP_NODES_MAX);
	dkv_map_destroy(m);
}

/* Applies a plan and checks the result. */
static void apply_plan(struct dkv_map *m, int expect_moves)
{
	struct dkv_map_move moves[64];
	int n = dkv_map_plan(m, moves, 64), i;

	assert_int_equal(n, expect_moves);
	for (i = 0; i < n; i++) {
		assert_int_equal(owner_of(m, moves[i].shard), moves[i].from);
		if (i > 0)
			assert_true(moves[i].shard > moves[i - 1].shard);
		assert_int_equal(dkv_map_move_shard(m, moves[i].shard,
						    moves[i].to),
				 0);
	}
	assert_int_equal(dkv_map_plan(m, NULL, 0), 0);
}

static void test_map_plan(void **state)
{
	struct dkv_map *m = map_new(DKV_FAMILY_HASH, 12, three, 3);
	struct dkv_map_move mv[4];
	uint32_t i;

	(void)state;
	assert_int_equal(dkv_map_plan(m, mv, 4), 0);
	/* A joining node takes 3 shards, one from each. */
	assert_int_equal(dkv_map_add_node(m, 40, "10.0.0.4:7000"), 0);
	assert_int_equal(dkv_map_plan(m, mv, 1), 3); /* total beyond cap */
	apply_plan(m, 3);
	for (i = 10; i <= 40; i += 10)
		assert_int_equal(dkv_map_node_nshards(m, i), 3);
	/* A leaving node gives its 3 shards away. */
	assert_int_equal(dkv_map_set_node_state(m, 20, DKV_NODE_LEAVING), 0);
	apply_plan(m, 3);
	assert_int_equal(dkv_map_node_nshards(m, 20), 0);
	for (i = 10; i <= 40; i += 10)
		if (i != 20)
			assert_int_equal(dkv_map_node_nshards(m, i), 4);
	/* Shards of a DOWN node stay; the others balance around them. */
	assert_int_equal(dkv_map_set_node_state(m, 30, DKV_NODE_DOWN), 0);
	assert_int_equal(dkv_map_plan(m, NULL, 0), 0);
	assert_int_equal(dkv_map_set_node_state(m, 20, DKV_NODE_UP), 0);
	apply_plan(m, 2); /* 8 shards on 10, 20, 40: 3, 3, 2 */
	assert_int_equal(dkv_map_node_nshards(m, 30), 4);
	/* Nobody to take shards from a leaving node. */
	assert_int_equal(dkv_map_set_node_state(m, 10, DKV_NODE_DOWN), 0);
	assert_int_equal(dkv_map_set_node_state(m, 20, DKV_NODE_DOWN), 0);
	assert_int_equal(dkv_map_set_node_state(m, 40, DKV_NODE_LEAVING), 0);
	assert_int_equal(dkv_map_plan(m, mv, 4), DKV_ERR_STATE);
	dkv_map_destroy(m);
}

static void test_map_route(void **state)
{
	struct dkv_map *m = map_new(DKV_FAMILY_HASH, 8, three, 3);
	struct dkv_redirect r;
	const struct dkv_map_node *n;
	uint32_t s, other;

	(void)state;
	assert_int_equal(dkv_map_key_node(m, "k", 1, &s, &n), 0);
	other = n->id == 10 ? 20 : 10;
	/* Current version at the owner: serve. */
	assert_int_equal(dkv_map_route(m, n->id, 1, "k", 1, &r), 0);
	assert_int_equal(r.shard, s);
	assert_ptr_equal(r.owner, n);
	/* Unversioned at the owner: serve; elsewhere: redirect. */
	assert_int_equal(dkv_map_route(m, n->id, 0, "k", 1, &r), 0);
	assert_int_equal(dkv_map_route(m, other, 0, "k", 1, &r),
			 DKV_ERR_REDIRECT);
	assert_int_equal(r.owner->id, n->id);
	/* Current version at another node: redirect to the owner. */
	assert_int_equal(dkv_map_route(m, other, 1, "k", 1, &r),
			 DKV_ERR_REDIRECT);
	assert_true(r.version == 1);
	/* A change: the old version is redirected even at the owner. */
	assert_int_equal(dkv_map_set_node_addr(m, other, "h:9"), 0);
	assert_int_equal(dkv_map_route(m, n->id, 1, "k", 1, &r),
			 DKV_ERR_REDIRECT);
	assert_true(r.version == 2);
	assert_int_equal(r.owner->id, n->id);
	assert_int_equal(dkv_map_route(m, n->id, 2, "k", 1, &r), 0);
	/* A newer version than ours: we are stale. */
	assert_int_equal(dkv_map_route(m, n->id, 3, "k", 1, &r), DKV_ERR_BUSY);
	assert_true(r.version == 2);
	dkv_map_destroy(m);
}

/* --- JSON ---------------------------------------------------------------------- */

static char *encode(const struct dkv_map *m, unsigned flags)
{
	char *s = NULL;
	size_t len = 0;

	assert_int_equal(dkv_map_to_json(m, flags, &s, &len), 0);
	assert_int_equal(strlen(s), len);
	return s;
}

/* The custom functions the tests allow maps to load. */
static const char *const allow[] = {DKV_TEST_PREFIX_SO ":prefix_shard",
				    "/nonexistent.so:f", "nocolon", NULL};

static int decode(const char *s, struct dkv_map **m)
{
	errbuf[0] = '\0';
	return dkv_map_from_json(s, strlen(s), allow, m, errbuf,
				 sizeof(errbuf));
}

static void roundtrip(const struct dkv_map *m)
{
	char *s = encode(m, 0), *s2, *p;
	struct dkv_map *d = NULL;
	int rc = decode(s, &d);

	if (rc != 0)
		fprintf(stderr, "decode: %s: %s\n%.2000s\n", dkv_errname(rc),
			errbuf, s);
	assert_int_equal(rc, 0);
	assert_true(dkv_map_equal(m, d));
	s2 = encode(d, 0);
	assert_string_equal(s, s2); /* canonical */
	dkv_map_destroy(d);
	p = encode(m, DKV_MAP_JSON_PRETTY);
	assert_int_equal(decode(p, &d), 0);
	assert_true(dkv_map_equal(m, d));
	dkv_map_destroy(d);
	free(p);
	free(s2);
	free(s);
}

static struct dkv_map *random_map(void)
{
	struct dkv_map_node_conf nodes[40];
	char addrs[40][48];
	struct dkv_split splits[99];
	unsigned char keys[99][12];
	struct dkv_map_conf conf = {.name = "rnd-cluster_1.x",
				    .cluster_id = rnd() | 1,
				    .nodes = nodes};
	struct dkv_map *m = NULL;
	uint32_t i, nn = 1 + rndn(40), changes;
	enum dkv_family_kind kind = (enum dkv_family_kind)rndn(4);
	int rc;

	for (i = 0; i < nn; i++) {
		nodes[i].id = rndn(4) == 0 ? (uint32_t)rnd() % DKV_NODE_NONE
					    : i * 3 + rndn(3);
		switch (rndn(3)) {
		case 0:
			snprintf(addrs[i], sizeof(addrs[i]), "10.%u.%u.%u:%u",
				 i, rndn(256), rndn(256), 1 + rndn(65535));
			break;
		case 1:
			snprintf(addrs[i], sizeof(addrs[i]), "[fd00::%x]:%u",
				 i + 1, 1 + rndn(65535));
			break;
		default:
			snprintf(addrs[i], sizeof(addrs[i]), "node-%u.dc_%u:7%03u",
				 i, rndn(9), rndn(1000));
			break;
		}
		nodes[i].addr = addrs[i];
	}
	/* Ids must be unique. */
	for (i = 0; i < nn; i++) {
		uint32_t j;

		for (j = 0; j < i; j++)
			if (nodes[j].id == nodes[i].id) {
				nodes[i].id = (nodes[i].id + 1) % DKV_NODE_NONE;
				j = (uint32_t)-1; /* again from the start */
			}
	}
	conf.nnodes = nn;
	conf.family.kind = kind;
	conf.family.nshards = 1 + rndn(kind == DKV_FAMILY_RANGE ? 100 : 300);
	if (kind == DKV_FAMILY_RANGE) {
		/* Increasing binary keys: a random walk over 12-byte keys. */
		uint32_t ns = conf.family.nshards - 1;

		memset(keys[0], 0, sizeof(keys[0]));
		for (i = 0; i < ns; i++) {
			size_t len = 1 + rndn(12), j;

			if (i > 0)
				memcpy(keys[i], keys[i - 1], sizeof(keys[i]));
			/* Bump byte 0 so that every key is above the last. */
			keys[i][0] = (unsigned char)(i * 2 + 1);
			for (j = 1; j < len; j++)
				keys[i][j] = (unsigned char)rnd();
			splits[i].data = keys[i];
			splits[i].len = len;
		}
		conf.family.splits = splits;
		conf.family.nsplits = ns;
		conf.family.nshards = 0;
	} else if (kind == DKV_FAMILY_CUSTOM) {
		conf.family.function = DKV_TEST_PREFIX_SO ":prefix_shard";
	}
	rc = dkv_map_create(&conf, &m, errbuf, sizeof(errbuf));
	if (rc != 0)
		fprintf(stderr, "random map: %s: %s\n", dkv_errname(rc),
			errbuf);
	assert_int_equal(rc, 0);
	/* Random changes, legal or not. */
	changes = rndn(60);
	for (i = 0; i < changes; i++) {
		uint32_t nodes_now = dkv_map_nnodes(m);
		const struct dkv_map_node *n = dkv_map_node_at(m,
							       rndn(nodes_now));
		uint32_t id = n->id;
		char a[48];

		switch (rndn(6)) {
		case 0:
			snprintf(a, sizeof(a), "new-%u:%u", i, 1 + rndn(9999));
			(void)dkv_map_add_node(m, 2000000 + i, a);
			break;
		case 1:
			(void)dkv_map_set_node_state(
				m, id, (enum dkv_node_state)rndn(4));
			break;
		case 2:
			(void)dkv_map_remove_node(m, id);
			break;
		case 3:
			(void)dkv_map_move_shard(
				m, rndn(dkv_map_nshards(m)), id);
			break;
		case 4:
			(void)dkv_map_set_slots(
				m, rndn(100), 100 + rndn(DKV_SLOTS - 100),
				rndn(dkv_map_nshards(m)));
			break;
		default:
			snprintf(a, sizeof(a), "moved-%u:1", i);
			(void)dkv_map_set_node_addr(m, id, a);
			break;
		}
	}
	return m;
}

static void test_json_roundtrip(void **state)
{
	uint64_t base = seed_base();
	unsigned i;

	(void)state;
	seed_active = 1;
	for (i = 0; i < 300; i++) {
		struct dkv_map *m;

		cur_seed = rng_state = base + i;
		m = random_map();
		roundtrip(m);
		dkv_map_destroy(m);
	}
	seed_active = 0;
}

/* A small map's JSON with one substitution: from -> to (first match). */
static char *subst(const char *doc, const char *from, const char *to)
{
	const char *p = strstr(doc, from);
	size_t n = strlen(doc) - strlen(from) + strlen(to) + 1;
	char *out;

	if (p == NULL)
		fprintf(stderr, "\"%s\" not in %s\n", from, doc);
	assert_non_null(p);
	out = malloc(n);
	assert_non_null(out);
	snprintf(out, n, "%.*s%s%s", (int)(p - doc), doc, to,
		 p + strlen(from));
	return out;
}

static void expect_bad(const char *doc, int code, const char *why)
{
	struct dkv_map *m = NULL;
	int rc = decode(doc, &m);

	if (rc != code)
		fprintf(stderr, "%s: got %s (%s), want %s\n%s\n", why,
			dkv_errname(rc), errbuf, dkv_errname(code), doc);
	assert_int_equal(rc, code);
	assert_null(m);
	assert_true(errbuf[0] != '\0');
}

static void bad_subst(const char *doc, const char *from, const char *to,
		      int code)
{
	char *s = subst(doc, from, to);
	char why[160];

	snprintf(why, sizeof(why), "\"%.60s\" -> \"%.60s\"", from, to);
	expect_bad(s, code, why);
	free(s);
}

#define GOOD_HASH                                                             \
	"{\"format\":1,\"cluster\":\"prod\",\"cluster_id\":"                  \
	"\"9f86d081884c7d65\",\"version\":7,\"family\":{\"kind\":\"hash\","   \
	"\"nshards\":4},\"nodes\":[{\"id\":1,\"addr\":\"10.0.0.1:7000\","     \
	"\"state\":\"up\"},{\"id\":2,\"addr\":\"10.0.0.2:7000\",\"state\":"   \
	"\"joining\"}],\"shards\":[1,2,1,2]}"

#define GOOD_RANGE                                                            \
	"{\"format\":1,\"cluster\":\"prod\",\"cluster_id\":"                  \
	"\"9f86d081884c7d65\",\"version\":7,\"family\":{\"kind\":\"range\","  \
	"\"nshards\":3,\"splits\":[\"6d\",\"7a00ff\"]},\"nodes\":[{\"id\":1," \
	"\"addr\":\"10.0.0.1:7000\",\"state\":\"up\"}],\"shards\":[1,1,1]}"

#define GOOD_SLOTS                                                            \
	"{\"format\":1,\"cluster\":\"prod\",\"cluster_id\":"                  \
	"\"9f86d081884c7d65\",\"version\":7,\"family\":{\"kind\":\"slots\","  \
	"\"nshards\":2,\"slots\":[[0,8191,0],[8192,16383,1]]},\"nodes\":[{"   \
	"\"id\":1,\"addr\":\"10.0.0.1:7000\",\"state\":\"up\"}],\"shards\":"  \
	"[1,1]}"

static void test_json_good(void **state)
{
	struct dkv_map *m = NULL;
	char *s;

	(void)state;
	assert_int_equal(decode(GOOD_HASH, &m), 0);
	assert_true(dkv_map_version(m) == 7);
	assert_int_equal(dkv_map_nshards(m), 4);
	assert_int_equal(owner_of(m, 1), 2);
	assert_int_equal(dkv_map_node_state(dkv_map_node_find(m, 2)),
			 DKV_NODE_JOINING);
	s = encode(m, 0);
	assert_string_equal(s, GOOD_HASH); /* the canonical form */
	free(s);
	dkv_map_destroy(m);

	assert_int_equal(decode(GOOD_RANGE, &m), 0);
	assert_int_equal(shard_bin(dkv_map_family(m), "m", 1), 1);
	assert_int_equal(shard_bin(dkv_map_family(m), "z", 1), 1);
	assert_int_equal(shard_bin(dkv_map_family(m), "z\0\xff", 3), 2);
	s = encode(m, 0);
	assert_string_equal(s, GOOD_RANGE);
	free(s);
	dkv_map_destroy(m);

	assert_int_equal(decode(GOOD_SLOTS, &m), 0);
	s = encode(m, 0);
	assert_string_equal(s, GOOD_SLOTS);
	free(s);
	dkv_map_destroy(m);

	/* Optional: slots (default table), fingerprint (computed). Node
	 * order and upper-case split hex are accepted, and canonicalised. */
	s = subst(GOOD_SLOTS, ",\"slots\":[[0,8191,0],[8192,16383,1]]", "");
	assert_int_equal(decode(s, &m), 0);
	free(s);
	s = encode(m, 0);
	assert_string_equal(s, GOOD_SLOTS);
	free(s);
	dkv_map_destroy(m);
	s = subst(GOOD_SLOTS, "[[0,8191,0],[8192,16383,1]]",
		  "[[0,100,0],[101,8191,0],[8192,16383,1]]");
	assert_int_equal(decode(s, &m), 0);
	free(s);
	dkv_map_destroy(m);
	s = subst(GOOD_RANGE, "7a00ff", "7A00FF");
	assert_int_equal(decode(s, &m), 0);
	free(s);
	dkv_map_destroy(m);
	{
		const char *swapped =
			"{\"format\":1,\"cluster\":\"prod\",\"cluster_id\":"
			"\"9f86d081884c7d65\",\"version\":7,\"family\":{"
			"\"kind\":\"hash\",\"nshards\":4},\"nodes\":[{\"id\":"
			"2,\"addr\":\"10.0.0.2:7000\",\"state\":\"joining\"},"
			"{\"state\":\"up\",\"addr\":\"10.0.0.1:7000\",\"id\":"
			"1}],\"shards\":[1,2,1,2]}";

		assert_int_equal(decode(swapped, &m), 0);
		s = encode(m, 0);
		assert_string_equal(s, GOOD_HASH);
		free(s);
		dkv_map_destroy(m);
	}
}

static void test_json_malformed(void **state)
{
	char *big;
	size_t i, n;

	(void)state;
	/* Every truncation. */
	n = strlen(GOOD_HASH);
	for (i = 0; i < n; i++) {
		struct dkv_map *m = NULL;

		assert_int_equal(dkv_map_from_json(GOOD_HASH, i, allow, &m,
						   errbuf, sizeof(errbuf)),
				 DKV_ERR_CORRUPT);
		assert_null(m);
	}
	/* Not JSON, not an object, trailing bytes, NUL. */
	expect_bad("", DKV_ERR_CORRUPT, "empty");
	expect_bad("[]", DKV_ERR_CORRUPT, "array");
	expect_bad("null", DKV_ERR_CORRUPT, "null");
	expect_bad(GOOD_HASH "x", DKV_ERR_CORRUPT, "trailing");
	expect_bad(GOOD_HASH "{}", DKV_ERR_CORRUPT, "two documents");
	{
		struct dkv_map *m = NULL;
		char buf[sizeof(GOOD_HASH)];

		memcpy(buf, GOOD_HASH, sizeof(buf));
		buf[30] = '\0';
		assert_int_equal(dkv_map_from_json(buf, sizeof(buf) - 1, NULL,
						   &m, NULL, 0),
				 DKV_ERR_CORRUPT);
		assert_int_equal(dkv_map_from_json(NULL, 5, NULL, &m, NULL, 0),
				 DKV_ERR_INVAL);
	}
	/* Top-level fields. */
	bad_subst(GOOD_HASH, "\"format\":1", "\"format\":2",
		  DKV_ERR_UNSUPPORTED);
	bad_subst(GOOD_HASH, "\"format\":1", "\"format\":\"1\"",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"format\":1,", "", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"format\":1", "\"format\":1,\"extra\":0",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"format\":1", "\"format\":1,\"format\":1",
		  DKV_ERR_CORRUPT); /* duplicate key */
	bad_subst(GOOD_HASH, "\"prod\"", "\"\"", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"prod\"", "\"pr od\"", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"prod\"", "7", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "9f86d081884c7d65", "9f86d081884c7d6",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "9f86d081884c7d65", "9F86D081884C7D65",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "9f86d081884c7d65", "0000000000000000",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "9f86d081884c7d65", "9f86d081884c7d6g",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"version\":7", "\"version\":0",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"version\":7", "\"version\":-7",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"version\":7", "\"version\":7.0",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"version\":7", "\"version\":9007199254740992",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"version\":7",
		  "\"version\":99999999999999999999999", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"version\":7", "\"version\":true",
		  DKV_ERR_CORRUPT);
	/* Family. */
	bad_subst(GOOD_HASH, "\"hash\"", "\"md5\"", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"kind\":\"hash\",", "", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"nshards\":4", "\"nshards\":0",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"nshards\":4", "\"nshards\":65537",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"nshards\":4", "\"nshards\":4,\"splits\":[]",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"nshards\":4}", "\"nshards\":4,\"x\":1}",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "{\"kind\":\"hash\",\"nshards\":4}", "[]",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"family\":{\"kind\":\"hash\",\"nshards\":4},",
		  "", DKV_ERR_CORRUPT);
	bad_subst(GOOD_SLOTS, "\"nshards\":2", "\"nshards\":16385",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_SLOTS, "[8192,16383,1]", "[8193,16383,1]",
		  DKV_ERR_CORRUPT); /* gap */
	bad_subst(GOOD_SLOTS, "[8192,16383,1]", "[8191,16383,1]",
		  DKV_ERR_CORRUPT); /* overlap */
	bad_subst(GOOD_SLOTS, "[8192,16383,1]", "[8192,16382,1]",
		  DKV_ERR_CORRUPT); /* short */
	bad_subst(GOOD_SLOTS, "[8192,16383,1]", "[8192,16384,1]",
		  DKV_ERR_CORRUPT); /* past the end */
	bad_subst(GOOD_SLOTS, "[8192,16383,1]", "[8192,16383,2]",
		  DKV_ERR_CORRUPT); /* no such shard */
	bad_subst(GOOD_SLOTS, "[8192,16383,1]", "[8192,16383,-1]",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_SLOTS, "[8192,16383,1]", "[8192,16383]",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_SLOTS, "[8192,16383,1]", "[8192,16383,\"1\"]",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_SLOTS, "[[0,8191,0],[8192,16383,1]]", "{}",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_RANGE, "\"7a00ff\"", "\"6d\"",
		  DKV_ERR_CORRUPT); /* equal */
	bad_subst(GOOD_RANGE, "\"7a00ff\"", "\"6c\"",
		  DKV_ERR_CORRUPT); /* decreasing */
	bad_subst(GOOD_RANGE, "\"7a00ff\"", "\"7a00f\"",
		  DKV_ERR_CORRUPT); /* odd length */
	bad_subst(GOOD_RANGE, "\"7a00ff\"", "\"7a00fg\"", DKV_ERR_CORRUPT);
	bad_subst(GOOD_RANGE, "\"7a00ff\"", "\"\"", DKV_ERR_CORRUPT);
	bad_subst(GOOD_RANGE, "\"7a00ff\"", "7", DKV_ERR_CORRUPT);
	bad_subst(GOOD_RANGE, ",\"7a00ff\"", "", DKV_ERR_CORRUPT); /* count */
	bad_subst(GOOD_RANGE, ",\"splits\":[\"6d\",\"7a00ff\"]", "",
		  DKV_ERR_CORRUPT);
	{
		/* A split key one byte too long. */
		size_t hl = 2 * (DKV_SPLIT_MAX_LEN + 1);
		char *hex = malloc(hl + 3), *doc;

		assert_non_null(hex);
		hex[0] = '"';
		memset(hex + 1, 'f', hl);
		hex[hl + 1] = '"';
		hex[hl + 2] = '\0';
		doc = subst(GOOD_RANGE, "\"7a00ff\"", hex);
		expect_bad(doc, DKV_ERR_CORRUPT, "long split");
		free(doc);
		free(hex);
	}
	/* Nodes. */
	bad_subst(GOOD_HASH, "\"id\":2", "\"id\":1",
		  DKV_ERR_CORRUPT); /* duplicate id */
	bad_subst(GOOD_HASH, "10.0.0.2:7000", "10.0.0.1:7000",
		  DKV_ERR_CORRUPT); /* duplicate address */
	bad_subst(GOOD_HASH, "10.0.0.2:7000", "10.0.0.2", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"id\":2", "\"id\":-2", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"id\":2", "\"id\":4294967295", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"id\":2", "\"id\":\"2\"", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"id\":2,", "", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"joining\"", "\"JOINING\"", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"joining\"", "\"joining\",\"x\":1",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"nodes\":[", "\"nodes\":[7,", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "\"nodes\":[", "\"nodes\":{\"a\":[",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH,
		  "{\"id\":1,\"addr\":\"10.0.0.1:7000\",\"state\":\"up\"},"
		  "{\"id\":2,\"addr\":\"10.0.0.2:7000\",\"state\":"
		  "\"joining\"}",
		  "", DKV_ERR_CORRUPT); /* no node */
	/* Shards. */
	bad_subst(GOOD_HASH, "[1,2,1,2]", "[1,2,1,3]",
		  DKV_ERR_CORRUPT); /* owner not a node */
	bad_subst(GOOD_HASH, "[1,2,1,2]", "[1,2,1,-1]", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "[1,2,1,2]", "[1,2,1]", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "[1,2,1,2]", "[1,2,1,2,1]", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "[1,2,1,2]", "[1,2,1,null]", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "[1,2,1,2]", "[1,2,1,2.0]", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "[1,2,1,2]", "\"1212\"", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, ",\"shards\":[1,2,1,2]", "", DKV_ERR_CORRUPT);
	/* Custom: missing module, bad name, wrong fingerprint. */
	bad_subst(GOOD_HASH, "{\"kind\":\"hash\",\"nshards\":4}",
		  "{\"kind\":\"custom\",\"nshards\":4,\"function\":"
		  "\"/nonexistent.so:f\"}",
		  DKV_ERR_NOT_FOUND);
	/* Not allowed: refused before any dlopen. */
	bad_subst(GOOD_HASH, "{\"kind\":\"hash\",\"nshards\":4}",
		  "{\"kind\":\"custom\",\"nshards\":4,\"function\":"
		  "\"/nonexistent.so:g\"}",
		  DKV_ERR_UNSUPPORTED);
	bad_subst(GOOD_HASH, "{\"kind\":\"hash\",\"nshards\":4}",
		  "{\"kind\":\"custom\",\"nshards\":4,\"function\":"
		  "\"" DKV_TEST_BAD_SO ":first_byte\"}",
		  DKV_ERR_UNSUPPORTED);
	bad_subst(GOOD_HASH, "{\"kind\":\"hash\",\"nshards\":4}",
		  "{\"kind\":\"custom\",\"nshards\":4,\"function\":"
		  "\"nocolon\"}",
		  DKV_ERR_CORRUPT); /* allowed, but not "path:symbol" */
	bad_subst(GOOD_HASH, "{\"kind\":\"hash\",\"nshards\":4}",
		  "{\"kind\":\"custom\",\"nshards\":4}", DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "{\"kind\":\"hash\",\"nshards\":4}",
		  "{\"kind\":\"custom\",\"nshards\":4,\"function\":\"" DKV_TEST_PREFIX_SO
		  ":prefix_shard\",\"fingerprint\":\"0123456789abcdef\"}",
		  DKV_ERR_CORRUPT);
	bad_subst(GOOD_HASH, "{\"kind\":\"hash\",\"nshards\":4}",
		  "{\"kind\":\"custom\",\"nshards\":4,\"function\":\"" DKV_TEST_PREFIX_SO
		  ":prefix_shard\",\"fingerprint\":7}",
		  DKV_ERR_CORRUPT);
	{
		/* Without the fingerprint: computed, and then checked. */
		char *s = subst(GOOD_HASH, "{\"kind\":\"hash\",\"nshards\":4}",
				"{\"kind\":\"custom\",\"nshards\":4,"
				"\"function\":\"" DKV_TEST_PREFIX_SO
				":prefix_shard\"}");
		struct dkv_map *m = NULL, *m2 = NULL;
		char *e;

		assert_int_equal(decode(s, &m), 0);
		e = encode(m, 0);
		assert_non_null(strstr(e, "\"fingerprint\":\""));
		/* The same map where nothing custom is allowed. */
		assert_int_equal(dkv_map_from_json(s, strlen(s), NULL, &m2,
						   NULL, 0),
				 DKV_ERR_UNSUPPORTED);
		assert_int_equal(shard_of(dkv_map_family(m), "user:6"), 2);
		dkv_map_destroy(m);
		free(e);
		free(s);
	}
	/* Too many nodes: 1025. */
	{
		size_t cap = 64 * 1100 + 512, len;
		char *s = malloc(cap);
		unsigned k;

		assert_non_null(s);
		len = (size_t)snprintf(s, cap,
				       "{\"format\":1,\"cluster\":\"c\","
				       "\"cluster_id\":\"0000000000000001\","
				       "\"version\":1,\"family\":{\"kind\":"
				       "\"hash\",\"nshards\":1},\"nodes\":[");
		for (k = 0; k <= DKV_MAP_NODES_MAX; k++)
			len += (size_t)snprintf(s + len, cap - len,
						"%s{\"id\":%u,\"addr\":\"n%u:1\","
						"\"state\":\"up\"}",
						k ? "," : "", k, k);
		snprintf(s + len, cap - len, "],\"shards\":[0]}");
		expect_bad(s, DKV_ERR_CORRUPT, "1025 nodes");
		assert_non_null(strstr(errbuf, "1024"));
		/* 1024 is fine. */
		{
			char *cut = strstr(s, ",{\"id\":1024,");
			struct dkv_map *m = NULL;

			assert_non_null(cut);
			snprintf(cut, cap - (size_t)(cut - s),
				 "],\"shards\":[0]}");
			assert_int_equal(decode(s, &m), 0);
			assert_int_equal(dkv_map_nnodes(m), 1024);
			dkv_map_destroy(m);
		}
		free(s);
	}
	/* Too big. */
	n = DKV_MAP_JSON_MAX + 1;
	big = malloc(n);
	assert_non_null(big);
	memset(big, ' ', n);
	{
		struct dkv_map *m = NULL;

		assert_int_equal(dkv_map_from_json(big, n, NULL, &m, errbuf,
						   sizeof(errbuf)),
				 DKV_ERR_TOO_BIG);
	}
	free(big);
	/* The version ceiling. */
	{
		char v[64];
		char *s;
		struct dkv_map *m = NULL;

		snprintf(v, sizeof(v), "\"version\":%llu",
			 (unsigned long long)DKV_MAP_VERSION_MAX);
		s = subst(GOOD_HASH, "\"version\":7", v);
		assert_int_equal(decode(s, &m), 0);
		assert_int_equal(dkv_map_move_shard(m, 0, 2), DKV_ERR_OVERFLOW);
		assert_int_equal(dkv_map_add_node(m, 3, "h:1"),
				 DKV_ERR_OVERFLOW);
		assert_int_equal(dkv_map_set_node_state(m, 1, DKV_NODE_DOWN),
				 DKV_ERR_OVERFLOW);
		assert_int_equal(owner_of(m, 0), 1);
		dkv_map_destroy(m);
		free(s);
	}
}

/* Random byte mutations of valid documents: decode either fails with a
 * code or gives a map that round-trips; it never crashes (run this under
 * the sanitizers). */
static void test_json_mutations(void **state)
{
	static const char *docs[] = {GOOD_HASH, GOOD_RANGE, GOOD_SLOTS};
	static const char alphabet[] = "{}[]\",:0123456789-.eEtrufalsn \\xX";
	uint64_t base = seed_base();
	unsigned i, ok = 0;

	(void)state;
	rng_state = base ^ 0x5eed;
	cur_seed = base;
	seed_active = 1;
	for (i = 0; i < 20000; i++) {
		const char *d = docs[i % 3];
		size_t n = strlen(d), j, k;
		char buf[512];
		struct dkv_map *m = NULL;
		int rc;

		memcpy(buf, d, n);
		for (k = 1 + rndn(3); k > 0; k--) {
			j = rndn((uint32_t)n);
			switch (rndn(3)) {
			case 0:
				buf[j] = alphabet[rndn(sizeof(alphabet) - 1)];
				break;
			case 1:
				buf[j] = (char)rnd();
				break;
			default: /* delete */
				memmove(buf + j, buf + j + 1, n - j - 1);
				n--;
				break;
			}
		}
		rc = dkv_map_from_json(buf, n, allow, &m, errbuf,
				       sizeof(errbuf));
		if (rc == 0) {
			roundtrip(m);
			dkv_map_destroy(m);
			ok++;
		} else {
			assert_true(rc < 0);
			assert_null(m);
		}
	}
	seed_active = 0;
	/* Some mutations are harmless (a digit of the version...). */
	assert_true(ok > 0);
}

/* --- no allocation on the hot path ----------------------------------------------- */

static void test_lookups_do_not_allocate(void **state)
{
	struct dkv_map *maps[4];
	static const struct dkv_split sp[] = {{"g", 1}, {"p", 1}};
	struct dkv_map_conf conf = {.name = "c",
				    .cluster_id = 1,
				    .nodes = three,
				    .nnodes = 3};
	char key[32], end[32];
	unsigned i, k;

	(void)state;
	maps[0] = map_new(DKV_FAMILY_HASH, 64, three, 3);
	maps[1] = map_new(DKV_FAMILY_SLOTS, 64, three, 3);
	conf.family.kind = DKV_FAMILY_RANGE;
	conf.family.splits = sp;
	conf.family.nsplits = 2;
	assert_int_equal(dkv_map_create(&conf, &maps[2], NULL, 0), 0);
	conf.family.kind = DKV_FAMILY_CUSTOM;
	conf.family.nshards = 64;
	conf.family.function = DKV_TEST_PREFIX_SO ":prefix_shard";
	assert_int_equal(dkv_map_create(&conf, &maps[3], NULL, 0), 0);

	allocs = 0;
	for (k = 0; k < 4; k++)
		for (i = 0; i < 10000; i++) {
			size_t kl = key_i(key, sizeof(key), i);
			size_t el = (size_t)snprintf(end, sizeof(end),
						     "{key:%u}z", i);
			const struct dkv_map_node *n;
			struct dkv_redirect r;
			uint32_t s, a, b;

			assert_int_equal(dkv_map_key_shard(maps[k], key, kl,
							   &s),
					 0);
			assert_int_equal(dkv_map_key_node(maps[k], key, kl, &s,
							  &n),
					 0);
			(void)dkv_map_range_shard(maps[k], key, kl, end, el,
						  &a, &b);
			(void)dkv_map_range_shard(maps[k], "{u}a", 4, "{u}b",
						  4, &a, &b);
			(void)dkv_map_route(maps[k], 10, 1, key, kl, &r);
			assert_int_equal(dkv_map_shard_node(maps[k], s, &n),
					 0);
		}
	assert_int_equal(allocs, 0);
	/* The counter works. */
	{
		struct dkv_map *c = NULL;

		assert_int_equal(dkv_map_clone(maps[0], &c), 0);
		assert_true(allocs > 0);
		dkv_map_destroy(c);
	}
	for (k = 0; k < 4; k++)
		dkv_map_destroy(maps[k]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc16),
		cmocka_unit_test(test_redis_slots),
		cmocka_unit_test(test_hash_tag),
		cmocka_unit_test(test_jump_vectors),
		cmocka_unit_test(test_hash_balance),
		cmocka_unit_test(test_hash_growth),
		cmocka_unit_test(test_hash_family),
		cmocka_unit_test(test_slots_family),
		cmocka_unit_test(test_range_family),
		cmocka_unit_test(test_range_confine_range),
		cmocka_unit_test(test_range_confine_tags),
		cmocka_unit_test(test_custom),
		cmocka_unit_test(test_custom_errors),
		cmocka_unit_test(test_map_create),
		cmocka_unit_test(test_map_create_errors),
		cmocka_unit_test(test_addr_check),
		cmocka_unit_test(test_node_states),
		cmocka_unit_test(test_map_changes),
		cmocka_unit_test(test_map_node_limit),
		cmocka_unit_test(test_map_plan),
		cmocka_unit_test(test_map_route),
		cmocka_unit_test_teardown(test_json_roundtrip, print_seed),
		cmocka_unit_test(test_json_good),
		cmocka_unit_test(test_json_malformed),
		cmocka_unit_test_teardown(test_json_mutations, print_seed),
		cmocka_unit_test(test_lookups_do_not_allocate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
