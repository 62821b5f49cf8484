/*
 * test_catalog.c - the snapshot catalog (src/snap/catalog.h): names,
 * order, limits, and an encoding that round-trips and refuses every
 * damaged record (truncations, bit flips, lying counts) without crashing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dkv_err.h"
#include "snap/catalog.h"

static int add(struct snap_catalog *c, const char *name, uint64_t epoch)
{
	return snap_catalog_add(c, name, strlen(name), epoch, epoch / 1000);
}

static void test_names(void **state)
{
	char big[SNAP_NAME_MAX + 2];

	(void)state;
	assert_true(snap_name_valid("nightly", 7));
	assert_true(snap_name_valid("a.b_c:d-9", 9));
	assert_false(snap_name_valid("", 0));
	assert_false(snap_name_valid("9lives", 6)); /* never an epoch */
	assert_false(snap_name_valid("a b", 3));
	assert_false(snap_name_valid("a\0b", 3));
	assert_false(snap_name_valid("-a", 2));
	memset(big, 'x', sizeof(big));
	assert_true(snap_name_valid(big, SNAP_NAME_MAX));
	assert_false(snap_name_valid(big, SNAP_NAME_MAX + 1));
}

static void test_order_and_limits(void **state)
{
	struct snap_catalog c;
	char name[32];

	(void)state;
	snap_catalog_init(&c);
	assert_int_equal(snap_catalog_oldest(&c), UINT64_MAX);
	assert_int_equal(add(&c, "b", 300), DKV_OK);
	assert_int_equal(add(&c, "a", 100), DKV_OK);
	assert_int_equal(add(&c, "c", 200), DKV_OK);
	assert_int_equal(add(&c, "a", 400), DKV_ERR_EXISTS);
	assert_int_equal(add(&c, "bad name", 400), DKV_ERR_INVAL);
	assert_int_equal(add(&c, "zero", 0), DKV_ERR_INVAL);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.v[0].name, "a");
	assert_string_equal(c.v[1].name, "c");
	assert_string_equal(c.v[2].name, "b");
	assert_int_equal(snap_catalog_oldest(&c), 100);
	assert_non_null(snap_catalog_find(&c, "c", 1));
	assert_null(snap_catalog_find(&c, "cc", 2));
	assert_int_equal(snap_catalog_remove(&c, "a", 1), DKV_OK);
	assert_int_equal(snap_catalog_remove(&c, "a", 1), DKV_ERR_NOT_FOUND);
	assert_int_equal(snap_catalog_oldest(&c), 200);
	for (int i = (int)c.n; i < SNAP_MAX; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(add(&c, name, 1000 + (uint64_t)i), DKV_OK);
	}
	assert_int_equal(add(&c, "one-more", 5), DKV_ERR_NOSPACE);
	snap_catalog_fini(&c);
}

static void test_roundtrip(void **state)
{
	struct snap_catalog c, d, e;
	char *blob;
	size_t len;

	(void)state;
	snap_catalog_init(&c);
	snap_catalog_init(&d);
	snap_catalog_init(&e);
	assert_int_equal(add(&c, "x", 10), DKV_OK);
	assert_int_equal(add(&c, "y", 10), DKV_OK); /* same epoch */
	assert_int_equal(add(&c, "z", 5), DKV_OK);
	c.version = 42;
	assert_int_equal(snap_catalog_encode(&c, &blob, &len), DKV_OK);
	assert_int_equal(snap_catalog_decode(&d, blob, len), DKV_OK);
	assert_int_equal(d.version, 42);
	assert_int_equal(d.n, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_string_equal(d.v[i].name, c.v[i].name);
		assert_int_equal(d.v[i].epoch, c.v[i].epoch);
		assert_int_equal(d.v[i].created_ms, c.v[i].created_ms);
	}
	assert_int_equal(snap_catalog_copy(&e, &d), DKV_OK);
	assert_int_equal(e.n, 3);
	assert_int_equal(e.version, 42);
	free(blob);
	snap_catalog_fini(&c);
	snap_catalog_fini(&d);
	snap_catalog_fini(&e);
}

/* Every truncation and every single-byte change of a valid record decodes
 * to an error or to a valid catalog, never a crash; the target is left
 * untouched on error. */
static void test_damage(void **state)
{
	struct snap_catalog c, d;
	char *blob, *bad;
	size_t len;
	int refused = 0;

	(void)state;
	snap_catalog_init(&c);
	snap_catalog_init(&d);
	assert_int_equal(add(&c, "alpha", 7), DKV_OK);
	assert_int_equal(add(&c, "beta", 9), DKV_OK);
	c.version = 3;
	assert_int_equal(snap_catalog_encode(&c, &blob, &len), DKV_OK);
	for (size_t cut = 0; cut < len; cut++) {
		bad = malloc(cut ? cut : 1);
		memcpy(bad, blob, cut);
		assert_int_equal(snap_catalog_decode(&d, bad, cut),
				 DKV_ERR_CORRUPT);
		free(bad);
	}
	bad = malloc(len);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int rc;

			memcpy(bad, blob, len);
			bad[i] = (char)(bad[i] ^ (1 << bit));
			rc = snap_catalog_decode(&d, bad, len);
			assert_true(rc == DKV_OK || rc == DKV_ERR_CORRUPT);
			refused += rc != DKV_OK;
			if (rc == DKV_OK)
				assert_true(d.n <= SNAP_MAX);
		}
	}
	assert_true(refused > 0);
	/* A count that promises more than the record holds. */
	memcpy(bad, blob, len);
	bad[16] = 2;
	bad[17] = 4; /* 1026 entries: over SNAP_MAX */
	assert_int_equal(snap_catalog_decode(&d, bad, len), DKV_ERR_CORRUPT);
	free(bad);
	free(blob);
	snap_catalog_fini(&c);
	snap_catalog_fini(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_order_and_limits),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_damage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
