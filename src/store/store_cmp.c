/*
 * store_cmp.c - the comparator of the versioned families: user key bytewise
 * ascending, then the 8-byte little-endian epoch descending (newest first).
 * RocksDB's C API in 7.8 does not expose its built-in u64 comparator, so it
 * is given here through rocksdb_comparator_with_ts_create().
 */
#include <string.h>

#include "store/store_int.h"

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int r = n ? memcmp(a, b, n) : 0;

	if (r != 0)
		return r;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int cmp_ts(void *state, const char *a, size_t alen, const char *b,
		  size_t blen)
{
	uint64_t x, y;

	(void)state;
	(void)alen;
	(void)blen;
	x = layout_get_le64(a);
	y = layout_get_le64(b);
	return x < y ? -1 : x > y ? 1 : 0;
}

static int cmp_full(void *state, const char *a, size_t alen, const char *b,
		    size_t blen)
{
	int r = cmp_bytes(a, alen - LAYOUT_TS_SIZE, b, blen - LAYOUT_TS_SIZE);

	if (r != 0)
		return r;
	/* Newer (larger) timestamps sort first. */
	return -cmp_ts(state, a + alen - LAYOUT_TS_SIZE, LAYOUT_TS_SIZE,
		       b + blen - LAYOUT_TS_SIZE, LAYOUT_TS_SIZE);
}

static int cmp_without_ts(void *state, const char *a, size_t alen,
			  unsigned char a_has_ts, const char *b, size_t blen,
			  unsigned char b_has_ts)
{
	(void)state;
	if (a_has_ts)
		alen -= LAYOUT_TS_SIZE;
	if (b_has_ts)
		blen -= LAYOUT_TS_SIZE;
	return cmp_bytes(a, alen, b, blen);
}

static const char *cmp_name(void *state)
{
	(void)state;
	return LAYOUT_CMP_NAME;
}

static void cmp_destroy(void *state)
{
	(void)state;
}

rocksdb_comparator_t *store_cmp_create(void)
{
	return rocksdb_comparator_with_ts_create(NULL, cmp_destroy, cmp_full,
						 cmp_ts, cmp_without_ts,
						 cmp_name, LAYOUT_TS_SIZE);
}
