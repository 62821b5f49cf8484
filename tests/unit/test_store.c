/*
 * The versioned store, operation by operation: shards, versioned writes
 * and reads at epochs, ranges with anchors, history, batches that mix
 * kinds of records, bad input, GC with pins, checkpoints and copies, and
 * the epoch order of each key's versions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hlc/hlc.h"
#include "store/store.h"
#include "tmpdir.h"

struct fixture {
	char dir[256];
	struct dkv_store_opts opts;
	struct dkv_store *store;
	struct dkv_batch *batch;
	uint64_t pin; /* for the GC pin hook */
};

static uint64_t pin_hook(void *ctx, uint32_t shard)
{
	(void)shard;
	return ((struct fixture *)ctx)->pin;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(test_tmpdir_make(f->dir, sizeof(f->dir)), 0);
	dkv_store_opts_init(&f->opts, f->dir);
	f->opts.durability = DKV_DUR_NONE;
	f->opts.max_key = 64;
	f->opts.max_value = 1024;
	f->opts.oldest_pin = pin_hook;
	f->opts.pin_ctx = f;
	f->pin = DKV_EPOCH_MAX;
	assert_int_equal(dkv_store_open(&f->opts, &f->store), 0);
	assert_int_equal(dkv_store_shard_create(f->store, 1), 0);
	assert_int_equal(dkv_batch_create(f->store, &f->batch), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dkv_batch_destroy(f->batch);
	dkv_store_close(f->store);
	test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	dkv_batch_destroy(f->batch);
	dkv_store_close(f->store);
	assert_int_equal(dkv_store_open(&f->opts, &f->store), 0);
	assert_int_equal(dkv_batch_create(f->store, &f->batch), 0);
}

static void put(struct fixture *f, uint32_t shard, const char *k,
		const char *v, uint64_t e)
{
	assert_int_equal(dkv_batch_put(f->batch, shard, k, strlen(k), v,
				       strlen(v), e), 0);
	assert_int_equal(dkv_batch_commit(f->batch), 0);
}

static void del(struct fixture *f, uint32_t shard, const char *k, uint64_t e)
{
	assert_int_equal(dkv_batch_del(f->batch, shard, k, strlen(k), e), 0);
	assert_int_equal(dkv_batch_commit(f->batch), 0);
}

/* Asserts key reads as want (NULL: not found) at epoch, with version ver. */
static void expect(struct fixture *f, uint32_t shard, const char *k,
		   uint64_t e, const char *want, uint64_t ver)
{
	struct dkv_val v;
	int rc = dkv_store_get(f->store, shard, k, strlen(k), e, &v);

	if (want == NULL) {
		assert_int_equal(rc, DKV_ERR_NOT_FOUND);
		assert_null(v.data);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(v.len, strlen(want));
	assert_memory_equal(v.data, want, v.len);
	assert_int_equal(v.epoch, ver);
	dkv_val_release(&v);
}

static void versions_read_at_their_epochs(void **state)
{
	struct fixture *f = *state;

	put(f, 1, "a", "one", 10);
	put(f, 1, "a", "two", 20);
	del(f, 1, "a", 30);
	put(f, 1, "a", "four", 40);

	expect(f, 1, "a", 9, NULL, 0);
	expect(f, 1, "a", 10, "one", 10);
	expect(f, 1, "a", 15, "one", 10);
	expect(f, 1, "a", 20, "two", 20);
	expect(f, 1, "a", 29, "two", 20);
	expect(f, 1, "a", 30, NULL, 0);
	expect(f, 1, "a", 39, NULL, 0);
	expect(f, 1, "a", 40, "four", 40);
	expect(f, 1, "a", DKV_EPOCH_MAX, "four", 40);
	expect(f, 1, "b", DKV_EPOCH_MAX, NULL, 0);

	/* Everything survives a reopen. */
	reopen(f);
	expect(f, 1, "a", 15, "one", 10);
	expect(f, 1, "a", 35, NULL, 0);
	expect(f, 1, "a", DKV_EPOCH_MAX, "four", 40);
}

static void shards_are_separate_namespaces(void **state)
{
	struct fixture *f = *state;
	uint32_t ids[8];

	assert_int_equal(dkv_store_shard_create(f->store, 1), DKV_ERR_EXISTS);
	assert_int_equal(dkv_store_shard_create(f->store, 7), 0);
	put(f, 1, "k", "in-1", 5);
	put(f, 7, "k", "in-7", 6);
	expect(f, 1, "k", DKV_EPOCH_MAX, "in-1", 5);
	expect(f, 7, "k", DKV_EPOCH_MAX, "in-7", 6);
	assert_int_equal(dkv_store_shard_list(f->store, ids, 8), 2);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 7);

	assert_int_equal(dkv_store_shard_drop(f->store, 7), 0);
	assert_int_equal(dkv_store_shard_drop(f->store, 7), DKV_ERR_NO_SHARD);
	assert_false(dkv_store_shard_exists(f->store, 7));
	struct dkv_val v;
	assert_int_equal(dkv_store_get(f->store, 7, "k", 1, 10, &v),
			 DKV_ERR_NO_SHARD);
	assert_int_equal(dkv_batch_put(f->batch, 7, "k", 1, "x", 1, 9),
			 DKV_ERR_NO_SHARD);

	/* A re-created shard starts empty, also after a reopen. */
	assert_int_equal(dkv_store_shard_create(f->store, 7), 0);
	expect(f, 7, "k", DKV_EPOCH_MAX, NULL, 0);
	reopen(f);
	assert_int_equal(dkv_store_shard_list(f->store, ids, 8), 2);
	expect(f, 7, "k", DKV_EPOCH_MAX, NULL, 0);
	expect(f, 1, "k", DKV_EPOCH_MAX, "in-1", 5);
}

static void batch_is_atomic_across_kinds(void **state)
{
	struct fixture *f = *state;
	struct dkv_val v;

	assert_int_equal(dkv_store_shard_create(f->store, 2), 0);
	assert_int_equal(dkv_batch_put(f->batch, 1, "x", 1, "1", 1, 50), 0);
	assert_int_equal(dkv_batch_put(f->batch, 2, "y", 1, "2", 1, 50), 0);
	assert_int_equal(dkv_batch_put_plain(f->batch, 1, "intent", 6, "I", 1),
			 0);
	assert_int_equal(dkv_batch_put_meta(f->batch, "bound", 5, "B", 1), 0);
	assert_int_equal(dkv_batch_count(f->batch), 4);
	/* Nothing is visible before commit. */
	assert_int_equal(dkv_store_get(f->store, 1, "x", 1, DKV_EPOCH_MAX, &v),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_store_get_plain(f->store, 1, "intent", 6, &v),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_batch_commit(f->batch), 0);
	assert_int_equal(dkv_batch_count(f->batch), 0);

	reopen(f);
	expect(f, 1, "x", DKV_EPOCH_MAX, "1", 50);
	expect(f, 2, "y", DKV_EPOCH_MAX, "2", 50);
	assert_int_equal(dkv_store_get_plain(f->store, 1, "intent", 6, &v), 0);
	assert_memory_equal(v.data, "I", 1);
	dkv_val_release(&v);
	assert_int_equal(dkv_store_get_meta(f->store, "bound", 5, &v), 0);
	assert_memory_equal(v.data, "B", 1);
	dkv_val_release(&v);
	/* Plain and meta records are not versioned keys, and vice versa. */
	assert_int_equal(dkv_store_get(f->store, 1, "intent", 6, DKV_EPOCH_MAX,
				       &v),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_store_get_plain(f->store, 1, "x", 1, &v),
			 DKV_ERR_NOT_FOUND);

	assert_int_equal(dkv_batch_del_plain(f->batch, 1, "intent", 6), 0);
	assert_int_equal(dkv_batch_del_meta(f->batch, "bound", 5), 0);
	assert_int_equal(dkv_batch_commit(f->batch), 0);
	assert_int_equal(dkv_store_get_plain(f->store, 1, "intent", 6, &v),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_store_get_meta(f->store, "bound", 5, &v),
			 DKV_ERR_NOT_FOUND);
}

static void bad_input_is_an_error_not_an_abort(void **state)
{
	struct fixture *f = *state;
	char big[2048];
	struct dkv_val v;

	memset(big, 'z', sizeof(big));
	assert_int_equal(dkv_batch_put(f->batch, 1, "", 0, "v", 1, 5),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_batch_put(f->batch, 1, NULL, 3, "v", 1, 5),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_batch_put(f->batch, 1, big, 65, "v", 1, 5),
			 DKV_ERR_TOO_BIG);
	assert_int_equal(dkv_batch_put(f->batch, 1, "k", 1, big, 1025, 5),
			 DKV_ERR_TOO_BIG);
	assert_int_equal(dkv_batch_put(f->batch, 1, "k", 1, "v", 1, 0),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_batch_put(f->batch, 1, "k", 1, "v", 1,
				       DKV_EPOCH_MAX),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_batch_del(f->batch, 1, "k", 1, 0), DKV_ERR_INVAL);
	assert_int_equal(dkv_batch_put(f->batch, 99, "k", 1, "v", 1, 5),
			 DKV_ERR_NO_SHARD);
	assert_int_equal(dkv_batch_put_plain(f->batch, 1, "", 0, "v", 1),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_batch_put_meta(f->batch, big, 65, "v", 1),
			 DKV_ERR_TOO_BIG);
	assert_int_equal(dkv_store_get(f->store, 1, "", 0, 5, &v),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_store_get(f->store, 1, "k", 1, 0, &v),
			 DKV_ERR_INVAL);
	/* None of it reached the batch, which still works. */
	assert_int_equal(dkv_batch_count(f->batch), 0);
	put(f, 1, "k", "fine", 5);
	expect(f, 1, "k", 5, "fine", 5);
	/* Largest allowed sizes pass. */
	assert_int_equal(dkv_batch_put(f->batch, 1, big, 64, big, 1024, 6), 0);
	assert_int_equal(dkv_batch_commit(f->batch), 0);
}

struct collected {
	char keys[64][16];
	uint64_t epochs[64];
	int n;
};

static int collect(void *ctx, const char *k, size_t klen, const char *v,
		   size_t vlen, uint64_t epoch)
{
	struct collected *c = ctx;

	(void)v;
	(void)vlen;
	assert_true(klen < 16 && c->n < 64);
	memcpy(c->keys[c->n], k, klen);
	c->keys[c->n][klen] = '\0';
	c->epochs[c->n] = epoch;
	c->n++;
	return 0;
}

/* Reads [start, end) in pages of `page`, following anchors; returns the
 * concatenation of the keys separated by spaces. */
static void paged(struct fixture *f, const char *start, const char *end,
		  uint64_t epoch, int reverse, size_t page, char *out)
{
	struct dkv_range r = { 0 };
	struct dkv_buf next = { 0 };
	struct collected c;
	char *anchor = NULL;
	size_t anchor_len = 0;
	int pages = 0;

	out[0] = '\0';
	r.start = start;
	r.start_len = start ? strlen(start) : 0;
	r.end = end;
	r.end_len = end ? strlen(end) : 0;
	r.epoch = epoch;
	r.reverse = reverse;
	r.limit = page;
	do {
		memset(&c, 0, sizeof(c));
		r.anchor = anchor;
		r.anchor_len = anchor_len;
		int n = dkv_store_range(f->store, 1, &r, collect, &c, &next);
		assert_true(n >= 0);
		assert_int_equal(n, c.n);
		assert_true(page == 0 || (size_t)n <= page);
		for (int i = 0; i < c.n; i++) {
			strcat(out, c.keys[i]);
			strcat(out, " ");
		}
		free(anchor);
		anchor = next.data;
		anchor_len = next.len;
		next.data = NULL;
		assert_true(++pages < 100);
	} while (anchor != NULL);
}

static void ranges_are_ordered_and_resume_exactly(void **state)
{
	struct fixture *f = *state;
	char out[512];
	static const char *const keys[] = { "a", "b", "c", "d", "e", "f", "g" };

	for (int i = 0; i < 7; i++)
		put(f, 1, keys[i], "v", 10 + (uint64_t)i);
	del(f, 1, "d", 30);
	put(f, 1, "h", "late", 40);

	paged(f, NULL, NULL, DKV_EPOCH_MAX, 0, 0, out);
	assert_string_equal(out, "a b c e f g h ");
	paged(f, NULL, NULL, 25, 0, 0, out); /* before the delete and "h" */
	assert_string_equal(out, "a b c d e f g ");
	paged(f, "b", "f", DKV_EPOCH_MAX, 0, 0, out);
	assert_string_equal(out, "b c e ");
	paged(f, "b", "f", DKV_EPOCH_MAX, 1, 0, out);
	assert_string_equal(out, "e c b ");
	for (size_t page = 1; page <= 8; page++) {
		paged(f, NULL, NULL, DKV_EPOCH_MAX, 0, page, out);
		assert_string_equal(out, "a b c e f g h ");
		paged(f, NULL, NULL, DKV_EPOCH_MAX, 1, page, out);
		assert_string_equal(out, "h g f e c b a ");
		paged(f, "bb", "g", 25, 0, page, out);
		assert_string_equal(out, "c d e f ");
		paged(f, "bb", "g", 25, 1, page, out);
		assert_string_equal(out, "f e d c ");
	}
	/* An anchor keeps the epoch it was made at: writes after it do not
	 * show up in later pages. */
	struct dkv_range r = { .epoch = 35, .limit = 2 };
	struct dkv_buf next;
	struct collected c = { 0 };
	assert_int_equal(dkv_store_range(f->store, 1, &r, collect, &c, &next),
			 2);
	assert_non_null(next.data);
	put(f, 1, "bz", "new", 36);
	r.epoch = 0;
	r.limit = 0;
	r.anchor = next.data;
	r.anchor_len = next.len;
	memset(&c, 0, sizeof(c));
	struct dkv_buf last;
	assert_int_equal(dkv_store_range(f->store, 1, &r, collect, &c, &last),
			 4);
	assert_null(last.data);
	assert_string_equal(c.keys[0], "c");
	assert_string_equal(c.keys[3], "g");
	/* A mismatched epoch, direction or garbage anchor is refused. */
	r.epoch = 99;
	assert_int_equal(dkv_store_range(f->store, 1, &r, collect, &c, NULL),
			 DKV_ERR_INVAL);
	r.epoch = 0;
	r.reverse = 1;
	assert_int_equal(dkv_store_range(f->store, 1, &r, collect, &c, NULL),
			 DKV_ERR_INVAL);
	r.reverse = 0;
	r.anchor = "garbage-anchor";
	r.anchor_len = 14;
	assert_int_equal(dkv_store_range(f->store, 1, &r, collect, &c, NULL),
			 DKV_ERR_INVAL);
	dkv_buf_release(&next);
}

static int stop_at_two(void *ctx, const char *k, size_t klen, const char *v,
		       size_t vlen, uint64_t epoch)
{
	struct collected *c = ctx;

	collect(ctx, k, klen, v, vlen, epoch);
	return c->n == 2 ? 1 : 0;
}

static void range_callback_can_stop_and_resume(void **state)
{
	struct fixture *f = *state;
	struct dkv_range r = { .epoch = DKV_EPOCH_MAX };
	struct dkv_buf next;
	struct collected c = { 0 };

	put(f, 1, "p", "1", 5);
	put(f, 1, "q", "2", 6);
	put(f, 1, "r", "3", 7);
	assert_int_equal(dkv_store_range(f->store, 1, &r, stop_at_two, &c,
					 &next),
			 2);
	assert_int_equal(c.epochs[0], 5);
	assert_int_equal(c.epochs[1], 6);
	r.anchor = next.data;
	r.anchor_len = next.len;
	memset(&c, 0, sizeof(c));
	assert_int_equal(dkv_store_range(f->store, 1, &r, collect, &c, NULL),
			 1);
	assert_string_equal(c.keys[0], "r");
	dkv_buf_release(&next);
}

struct hist {
	uint64_t epochs[16];
	int tomb[16];
	char vals[16][8];
	int n;
};

static int hist_cb(void *ctx, uint64_t epoch, int tombstone, const char *v,
		   size_t vlen)
{
	struct hist *h = ctx;

	assert_true(h->n < 16 && vlen < 8);
	h->epochs[h->n] = epoch;
	h->tomb[h->n] = tombstone;
	memcpy(h->vals[h->n], v, vlen);
	h->vals[h->n][vlen] = '\0';
	h->n++;
	return 0;
}

static void history_lists_every_version_newest_first(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };

	put(f, 1, "k", "v1", 10);
	put(f, 1, "k", "v2", 20);
	del(f, 1, "k", 30);
	put(f, 1, "k", "v4", 40);
	put(f, 1, "kk", "other", 15);
	put(f, 1, "j", "other", 15);

	assert_int_equal(dkv_store_history(f->store, 1, "k", 1, 1,
					   DKV_EPOCH_MAX, hist_cb, &h),
			 4);
	assert_int_equal(h.epochs[0], 40);
	assert_string_equal(h.vals[0], "v4");
	assert_int_equal(h.epochs[1], 30);
	assert_true(h.tomb[1]);
	assert_int_equal(h.epochs[2], 20);
	assert_int_equal(h.epochs[3], 10);
	assert_string_equal(h.vals[3], "v1");
	assert_false(h.tomb[3]);

	memset(&h, 0, sizeof(h));
	assert_int_equal(dkv_store_history(f->store, 1, "k", 1, 15, 35,
					   hist_cb, &h),
			 2);
	assert_int_equal(h.epochs[0], 30);
	assert_int_equal(h.epochs[1], 20);
	assert_int_equal(dkv_store_history(f->store, 1, "k", 1, 35, 15,
					   hist_cb, &h),
			 DKV_ERR_INVAL);
}

static uint64_t g_pins[4];
static size_t g_npins;

static size_t pins_hook(void *ctx, uint64_t *out, size_t cap)
{
	(void)ctx;
	for (size_t i = 0; i < g_npins && i < cap; i++)
		out[i] = g_pins[i];
	return g_npins;
}

/* GC between pins (store_filter.c): with a snapshot pinned at 35 and the
 * cutoff at 80, compaction keeps the version the pin sees (30) and the
 * versions above the cutoff's newest (80, 90, 100), drops 40..70 (hidden,
 * seen by no pin), and reads between the pin and the cutoff are refused
 * rather than answered from a hole; all of it survives a reopen. */
static void gc_collects_between_pins(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	char val[16];

	f->opts.pins = pins_hook;
	g_npins = 0;
	reopen(f);
	for (uint64_t e = 10; e <= 100; e += 10) {
		snprintf(val, sizeof(val), "v%llu", (unsigned long long)e);
		put(f, 1, "k", val, e);
	}
	put(f, 1, "other", "x", 50);
	f->pin = 35;
	g_pins[0] = 35;
	g_npins = 1;
	assert_int_equal(dkv_store_gc(f->store, 1, 80, 1, NULL), 0);
	assert_int_equal(dkv_store_watermark(f->store, 1), 35);
	assert_int_equal(dkv_store_gc_cutoff(f->store), 80);
	expect(f, 1, "k", 35, "v30", 30);
	expect(f, 1, "k", 80, "v80", 80);
	expect(f, 1, "k", 95, "v90", 90);
	expect(f, 1, "k", DKV_EPOCH_MAX, "v100", 100);
	expect(f, 1, "other", DKV_EPOCH_MAX, "x", 50);
	{
		struct dkv_val v;

		assert_int_equal(dkv_store_get(f->store, 1, "k", 1, 50, &v),
				 DKV_ERR_EPOCH_TOO_OLD); /* a hole: refused */
		assert_int_equal(dkv_store_get(f->store, 1, "k", 1, 20, &v),
				 DKV_ERR_EPOCH_TOO_OLD); /* below W */
	}
	assert_int_equal(dkv_store_history(f->store, 1, "k", 1, 30,
					   DKV_EPOCH_MAX, hist_cb, &h),
			 4);
	assert_int_equal(h.epochs[0], 100);
	assert_int_equal(h.epochs[1], 90);
	assert_int_equal(h.epochs[2], 80);
	assert_int_equal(h.epochs[3], 30);
	/* The cutoff is durable: the hole stays refused after a reopen. */
	reopen(f);
	assert_int_equal(dkv_store_gc_cutoff(f->store), 80);
	{
		struct dkv_val v;

		assert_int_equal(dkv_store_get(f->store, 1, "k", 1, 60, &v),
				 DKV_ERR_EPOCH_TOO_OLD);
	}
	expect(f, 1, "k", 35, "v30", 30);
	/* The pin goes: its version goes at the next GC. */
	f->pin = DKV_EPOCH_MAX;
	g_npins = 0;
	assert_int_equal(dkv_store_gc(f->store, 1, 95, 1, NULL), 0);
	expect(f, 1, "k", 95, "v90", 90);
	memset(&h, 0, sizeof(h));
	assert_int_equal(dkv_store_history(f->store, 1, "k", 1, 30,
					   DKV_EPOCH_MAX, hist_cb, &h),
			 2); /* 100, and 90 (visible at W = 95) */
	f->opts.pins = NULL;
}

static void gc_collects_history_but_not_pins(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	struct dkv_val v;
	uint64_t applied;

	for (uint64_t e = 10; e <= 100; e += 10) {
		char val[8];

		snprintf(val, sizeof(val), "v%llu", (unsigned long long)e);
		put(f, 1, "k", val, e);
	}
	/* A pin at 35 holds the watermark there. */
	f->pin = 35;
	assert_int_equal(dkv_store_gc(f->store, 1, 75, 1, &applied), 0);
	assert_int_equal(applied, 35);
	expect(f, 1, "k", 35, "v30", 30);
	assert_int_equal(dkv_store_get(f->store, 1, "k", 1, 34, &v),
			 DKV_ERR_EPOCH_TOO_OLD);
	/* Released: the watermark moves to 75; reads below are refused, the
	 * version visible at 75 and newer ones stay. */
	f->pin = DKV_EPOCH_MAX;
	assert_int_equal(dkv_store_gc(f->store, 1, 75, 1, &applied), 0);
	assert_int_equal(applied, 75);
	assert_int_equal(dkv_store_watermark(f->store, 1), 75);
	assert_int_equal(dkv_store_get(f->store, 1, "k", 1, 74, &v),
			 DKV_ERR_EPOCH_TOO_OLD);
	expect(f, 1, "k", 75, "v70", 70);
	expect(f, 1, "k", DKV_EPOCH_MAX, "v100", 100);
	/* The compaction dropped the versions hidden below the watermark. */
	assert_int_equal(dkv_store_history(f->store, 1, "k", 1, 1,
					   DKV_EPOCH_MAX, hist_cb, &h),
			 4);
	assert_int_equal(h.epochs[3], 70);
	/* Writing below the watermark is refused; it never moves back. */
	assert_int_equal(dkv_batch_put(f->batch, 1, "k", 1, "x", 1, 50),
			 DKV_ERR_EPOCH_TOO_OLD);
	assert_int_equal(dkv_store_gc(f->store, 1, 20, 0, &applied), 0);
	assert_int_equal(applied, 75);
	/* It is durable. */
	reopen(f);
	assert_int_equal(dkv_store_watermark(f->store, 1), 75);
	assert_int_equal(dkv_store_get(f->store, 1, "k", 1, 74, &v),
			 DKV_ERR_EPOCH_TOO_OLD);
	expect(f, 1, "k", 75, "v70", 70);
}

static void checkpoint_opens_as_a_store(void **state)
{
	struct fixture *f = *state;
	struct dkv_store_opts o = f->opts;
	struct dkv_store *cp;
	char path[300];
	struct dkv_val v;

	put(f, 1, "k", "before", 10);
	snprintf(path, sizeof(path), "%s/cp", f->dir);
	assert_int_equal(dkv_store_checkpoint(f->store, path), 0);
	assert_int_equal(dkv_store_checkpoint(f->store, path), DKV_ERR_EXISTS);
	put(f, 1, "k", "after", 20);

	o.path = path;
	assert_int_equal(dkv_store_open(&o, &cp), 0);
	assert_int_equal(dkv_store_get(cp, 1, "k", 1, DKV_EPOCH_MAX, &v), 0);
	assert_int_equal(v.len, 6);
	assert_memory_equal(v.data, "before", 6);
	assert_int_equal(v.epoch, 10);
	dkv_val_release(&v);
	dkv_store_close(cp);
	expect(f, 1, "k", DKV_EPOCH_MAX, "after", 20);
}

static void copy_takes_every_version(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	struct dkv_val v;

	put(f, 1, "a", "a1", 10);
	put(f, 1, "a", "a2", 20);
	put(f, 1, "b", "b1", 15);
	del(f, 1, "b", 25);
	assert_int_equal(dkv_batch_put_plain(f->batch, 1, "rec", 3, "R", 1), 0);
	assert_int_equal(dkv_batch_commit(f->batch), 0);

	assert_int_equal(dkv_store_shard_copy(f->store, 1, 2), 0);
	assert_int_equal(dkv_store_shard_copy(f->store, 1, 2), DKV_ERR_EXISTS);
	assert_int_equal(dkv_store_shard_copy(f->store, 9, 3),
			 DKV_ERR_NO_SHARD);
	expect(f, 2, "a", 15, "a1", 10);
	expect(f, 2, "a", DKV_EPOCH_MAX, "a2", 20);
	expect(f, 2, "b", 20, "b1", 15);
	expect(f, 2, "b", DKV_EPOCH_MAX, NULL, 0);
	assert_int_equal(dkv_store_history(f->store, 2, "b", 1, 1,
					   DKV_EPOCH_MAX, hist_cb, &h),
			 2);
	assert_true(h.tomb[0]);
	assert_int_equal(dkv_store_get_plain(f->store, 2, "rec", 3, &v), 0);
	dkv_val_release(&v);
	/* They evolve separately. */
	put(f, 2, "a", "a3", 30);
	expect(f, 1, "a", DKV_EPOCH_MAX, "a2", 20);
	assert_int_equal(dkv_store_shard_drop(f->store, 1), 0);
	reopen(f);
	expect(f, 2, "a", DKV_EPOCH_MAX, "a3", 30);
}

static void no_io_reads_never_touch_the_disk(void **state)
{
	struct fixture *f = *state;
	char path[300];
	struct dkv_val v;

	put(f, 1, "cold", "value", 10);
	/* A checkpoint flushes the memtables: after a reopen the value is
	 * only on disk and the block cache is empty. */
	snprintf(path, sizeof(path), "%s/cp", f->dir);
	assert_int_equal(dkv_store_checkpoint(f->store, path), 0);
	reopen(f);
	assert_int_equal(dkv_store_get_flags(f->store, 1, "cold", 4,
					     DKV_EPOCH_MAX, DKV_READ_NO_IO, &v),
			 DKV_ERR_BUSY);
	expect(f, 1, "cold", DKV_EPOCH_MAX, "value", 10);
	assert_int_equal(dkv_store_get_flags(f->store, 1, "cold", 4,
					     DKV_EPOCH_MAX, DKV_READ_NO_IO, &v),
			 0);
	assert_memory_equal(v.data, "value", 5);
	dkv_val_release(&v);
	/* Misses are answered from the filters without I/O as well, or
	 * reported as would-block; never a wrong "not found". */
	int rc = dkv_store_get_flags(f->store, 1, "absent", 6, DKV_EPOCH_MAX,
				     DKV_READ_NO_IO, &v);
	assert_true(rc == DKV_ERR_NOT_FOUND || rc == DKV_ERR_BUSY);
}

/* --- a key's versions are written in epoch order ------------------------ */

static void writes_below_the_newest_version_are_refused(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	uint64_t applied;

	put(f, 1, "k", "v20", 20);
	/* Below the newest version, a put: refused, put or delete. */
	assert_int_equal(dkv_batch_put(f->batch, 1, "k", 1, "old", 3, 10),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_del(f->batch, 1, "k", 1, 19),
			 DKV_ERR_WRITE_TOO_OLD);
	/* Below a tombstone as well. */
	del(f, 1, "k", 30);
	assert_int_equal(dkv_batch_put(f->batch, 1, "k", 1, "old", 3, 29),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_del(f->batch, 1, "k", 1, 25),
			 DKV_ERR_WRITE_TOO_OLD);
	/* The refusals left the batch as it was: empty, or with what it had. */
	assert_int_equal(dkv_batch_count(f->batch), 0);
	assert_int_equal(dkv_batch_put(f->batch, 1, "x", 1, "x", 1, 7), 0);
	assert_int_equal(dkv_batch_put(f->batch, 1, "k", 1, "old", 3, 21),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_count(f->batch), 1);
	assert_int_equal(dkv_batch_commit(f->batch), 0);
	expect(f, 1, "x", DKV_EPOCH_MAX, "x", 7);
	expect(f, 1, "k", DKV_EPOCH_MAX, NULL, 0);
	expect(f, 1, "k", 29, "v20", 20);
	/* At the newest epoch: allowed, the later write wins. */
	put(f, 1, "k", "v30", 30);
	expect(f, 1, "k", DKV_EPOCH_MAX, "v30", 30);
	del(f, 1, "k", 30);
	expect(f, 1, "k", DKV_EPOCH_MAX, NULL, 0);
	put(f, 1, "k", "again", 30);
	expect(f, 1, "k", DKV_EPOCH_MAX, "again", 30);
	/* One version per epoch: the last written. */
	assert_int_equal(dkv_store_history(f->store, 1, "k", 1, 1,
					   DKV_EPOCH_MAX, hist_cb, &h),
			 2);
	assert_int_equal(h.epochs[0], 30);
	assert_string_equal(h.vals[0], "again");
	assert_false(h.tomb[0]);
	assert_int_equal(h.epochs[1], 20);
	/* Each key has its own order, and so has each shard. */
	put(f, 1, "j", "j5", 5);
	assert_int_equal(dkv_store_shard_create(f->store, 2), 0);
	put(f, 2, "k", "k5", 5);

	/* The same from the files after a reopen. */
	reopen(f);
	assert_int_equal(dkv_batch_put(f->batch, 1, "k", 1, "old", 3, 29),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_del(f->batch, 1, "k", 1, 1),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_del(f->batch, 1, "j", 1, 4),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_put(f->batch, 2, "k", 1, "old", 3, 4),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_count(f->batch), 0);
	put(f, 1, "j", "j6", 6); /* below other keys' versions: fine */
	put(f, 1, "k", "v31", 31);
	expect(f, 1, "k", DKV_EPOCH_MAX, "v31", 31);
	expect(f, 1, "j", DKV_EPOCH_MAX, "j6", 6);

	/* A refused write never reaches RocksDB, whose compaction would
	 * abort the process on it (the reproducer: k@200, then k@100, then
	 * a GC compaction). */
	put(f, 1, "g", "new", 200);
	assert_int_equal(dkv_batch_put(f->batch, 1, "g", 1, "old", 3, 100),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_store_gc(f->store, 1, 300, 1, &applied), 0);
	assert_int_equal(applied, 300);
	expect(f, 1, "g", DKV_EPOCH_MAX, "new", 200);
	expect(f, 1, "g", 300, "new", 200);
}

static void a_batch_keeps_each_key_in_order(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	struct dkv_batch *b = f->batch;

	assert_int_equal(dkv_store_shard_create(f->store, 2), 0);
	put(f, 1, "k", "v10", 10);
	assert_int_equal(dkv_batch_put(b, 1, "k", 1, "a", 1, 50), 0);
	/* Below the batch's own write of the key: refused. */
	assert_int_equal(dkv_batch_put(b, 1, "k", 1, "b", 1, 40),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_del(b, 1, "k", 1, 49),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_count(b), 1);
	/* Equal: allowed, and it wins. */
	assert_int_equal(dkv_batch_put(b, 1, "k", 1, "c", 1, 50), 0);
	/* Other keys, and the same key in another shard, are apart. */
	assert_int_equal(dkv_batch_put(b, 1, "kk", 2, "o", 1, 11), 0);
	assert_int_equal(dkv_batch_put(b, 2, "k", 1, "s2", 2, 12), 0);
	assert_int_equal(dkv_batch_del(b, 1, "k", 1, 60), 0);
	assert_int_equal(dkv_batch_put(b, 1, "k", 1, "d", 1, 55),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_put(b, 2, "k", 1, "s2", 2, 11),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_count(b), 5);
	assert_int_equal(dkv_batch_commit(b), 0);
	expect(f, 1, "k", DKV_EPOCH_MAX, NULL, 0);
	expect(f, 1, "k", 59, "c", 50);
	expect(f, 1, "k", 49, "v10", 10);
	expect(f, 1, "kk", DKV_EPOCH_MAX, "o", 11);
	expect(f, 2, "k", DKV_EPOCH_MAX, "s2", 12);
	assert_int_equal(dkv_store_history(f->store, 1, "k", 1, 1,
					   DKV_EPOCH_MAX, hist_cb, &h),
			 3);
	assert_true(h.tomb[0]);
	assert_int_equal(h.epochs[0], 60);
	assert_string_equal(h.vals[1], "c");
	/* A cleared batch forgets what it held: nothing of it was
	 * committed. */
	assert_int_equal(dkv_batch_put(b, 1, "z", 1, "z100", 4, 100), 0);
	dkv_batch_clear(b);
	assert_int_equal(dkv_batch_put(b, 1, "z", 1, "z90", 3, 90), 0);
	assert_int_equal(dkv_batch_commit(b), 0);
	expect(f, 1, "z", DKV_EPOCH_MAX, "z90", 90);
	/* A committed one too, but its writes are now in the store. */
	assert_int_equal(dkv_batch_put(b, 1, "z", 1, "z89", 3, 89),
			 DKV_ERR_WRITE_TOO_OLD);
	/* Many keys in one batch: the table grows, and still knows each. */
	for (int i = 0; i < 1000; i++) {
		char key[16];

		snprintf(key, sizeof(key), "m%d", i);
		assert_int_equal(dkv_batch_put(b, 1, key, strlen(key), "v", 1,
					       1000 + (uint64_t)i),
				 0);
	}
	for (int i = 0; i < 1000; i += 7) {
		char key[16];

		snprintf(key, sizeof(key), "m%d", i);
		assert_int_equal(dkv_batch_del(b, 1, key, strlen(key),
					       999 + (uint64_t)i),
				 DKV_ERR_WRITE_TOO_OLD);
		assert_int_equal(dkv_batch_del(b, 1, key, strlen(key),
					       1000 + (uint64_t)i),
				 0);
	}
	assert_int_equal(dkv_batch_count(b), 1000 + 143);
	assert_int_equal(dkv_batch_commit(b), 0);
	expect(f, 1, "m6", DKV_EPOCH_MAX, "v", 1006);
	expect(f, 1, "m7", DKV_EPOCH_MAX, NULL, 0);
}

/* Most writes are above everything written to their shard and skip the
 * lookup, thanks to a bound the store keeps per shard and persists with
 * the data. A state left by a crash (here: a checkpoint, taken without
 * closing) must still bound every version it holds. */
static void order_holds_without_a_clean_close(void **state)
{
	struct fixture *f = *state;
	struct dkv_store_opts o = f->opts;
	struct dkv_store *cp;
	struct dkv_batch *b;
	char path[300];

	put(f, 1, "k", "v100", 100);
	reopen(f); /* a clean close: the bound is 100 */
	put(f, 1, "k", "v200", 200); /* past it: raised with this write */
	put(f, 1, "j", "j150", 150);
	snprintf(path, sizeof(path), "%s/cp", f->dir);
	assert_int_equal(dkv_store_checkpoint(f->store, path), 0);
	o.path = path;
	assert_int_equal(dkv_store_open(&o, &cp), 0);
	assert_int_equal(dkv_batch_create(cp, &b), 0);
	assert_int_equal(dkv_batch_put(b, 1, "k", 1, "x", 1, 150),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_del(b, 1, "j", 1, 120),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_put(b, 1, "j", 1, "x", 1, 160), 0);
	assert_int_equal(dkv_batch_put(b, 1, "new", 3, "x", 1, 1), 0);
	assert_int_equal(dkv_batch_commit(b), 0);
	dkv_batch_destroy(b);
	dkv_store_close(cp);
	/* The original goes on from where it was. */
	assert_int_equal(dkv_batch_put(f->batch, 1, "k", 1, "x", 1, 199),
			 DKV_ERR_WRITE_TOO_OLD);
	put(f, 1, "k", "v201", 201);
}

struct raiser {
	struct dkv_store *store;
	int id;
	int rc;
};

static _Atomic uint64_t raise_clock;

static void *raiser_main(void *arg)
{
	struct raiser *r = arg;
	struct dkv_batch *b = NULL;
	char key[16];

	r->rc = dkv_batch_create(r->store, &b);
	for (int i = 0; r->rc == 0 && i < 200; i++) {
		/* Epochs 2^31 apart: each commit passes the ceiling. */
		uint64_t e = (atomic_fetch_add(&raise_clock, 1) + 1) << 31;

		snprintf(key, sizeof(key), "r%d-%d", r->id, i % 8);
		r->rc = dkv_batch_put(b, 1, key, strlen(key), "v", 1, e);
		if (r->rc == 0)
			r->rc = dkv_batch_commit(b);
	}
	dkv_batch_destroy(b);
	return NULL;
}

/* Writers of one shard, each with its own keys, commit concurrently; many
 * of their commits raise the shard's ceiling. What they leave on disk is
 * bounded all the same. */
static void concurrent_commits_keep_the_bound(void **state)
{
	struct fixture *f = *state;
	struct dkv_store_opts o = f->opts;
	struct raiser r[4];
	pthread_t th[4];
	struct dkv_store *cp;
	struct dkv_batch *b;
	char path[300], key[16];

	atomic_store(&raise_clock, 0);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct raiser){ f->store, i, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, raiser_main,
						&r[i]),
				 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].rc, 0);
	}
	snprintf(path, sizeof(path), "%s/cp", f->dir);
	assert_int_equal(dkv_store_checkpoint(f->store, path), 0);
	o.path = path;
	assert_int_equal(dkv_store_open(&o, &cp), 0);
	assert_int_equal(dkv_batch_create(cp, &b), 0);
	for (int i = 0; i < 4 * 8; i++) {
		snprintf(key, sizeof(key), "r%d-%d", i / 8, i % 8);
		assert_int_equal(dkv_batch_put(b, 1, key, strlen(key), "x", 1,
					       UINT64_C(1) << 31),
				 DKV_ERR_WRITE_TOO_OLD);
	}
	assert_int_equal(dkv_batch_put(b, 1, "r0-0", 4, "x", 1,
				       (atomic_load(&raise_clock) + 1) << 31),
			 0);
	assert_int_equal(dkv_batch_commit(b), 0);
	dkv_batch_destroy(b);
	dkv_store_close(cp);
}

static void a_copy_keeps_the_order(void **state)
{
	struct fixture *f = *state;

	put(f, 1, "k", "v100", 100);
	del(f, 1, "t", 90);
	assert_int_equal(dkv_store_shard_copy(f->store, 1, 2), 0);
	assert_int_equal(dkv_batch_put(f->batch, 2, "k", 1, "x", 1, 50),
			 DKV_ERR_WRITE_TOO_OLD);
	assert_int_equal(dkv_batch_put(f->batch, 2, "t", 1, "x", 1, 89),
			 DKV_ERR_WRITE_TOO_OLD);
	put(f, 2, "k", "v2", 100);
	expect(f, 2, "k", DKV_EPOCH_MAX, "v2", 100);
	expect(f, 1, "k", DKV_EPOCH_MAX, "v100", 100);
	reopen(f);
	assert_int_equal(dkv_batch_del(f->batch, 2, "k", 1, 99),
			 DKV_ERR_WRITE_TOO_OLD);
	/* A dropped shard's versions are gone with it: a new shard of the
	 * same id starts anew. */
	assert_int_equal(dkv_store_shard_drop(f->store, 2), 0);
	assert_int_equal(dkv_store_shard_create(f->store, 2), 0);
	put(f, 2, "k", "fresh", 5);
	reopen(f);
	put(f, 2, "k", "fresh6", 6);
	expect(f, 2, "k", DKV_EPOCH_MAX, "fresh6", 6);
}

/* Reproducer: the copy wrote each key's versions newest first, so an
 * older version got a newer sequence number; with the two in different
 * memtables a point read found the put@100 under the tombstone@200. */
static void copy_reads_right_across_memtables(void **state)
{
	struct fixture *f = *state;
	static char big[1024];
	struct dkv_val v;
	char key[16];

	memset(big, 'b', sizeof(big));
	f->opts.write_buffer_bytes = 1u << 20; /* 256 KiB memtables */
	reopen(f);
	for (int i = 0; i < 1023; i++) { /* fills the copy's first write */
		snprintf(key, sizeof(key), "a%04d", i);
		assert_int_equal(dkv_batch_put(f->batch, 1, key, 5, big,
					       sizeof(big), 50),
				 0);
		if (i % 100 == 99)
			assert_int_equal(dkv_batch_commit(f->batch), 0);
	}
	assert_int_equal(dkv_batch_put(f->batch, 1, "k", 1, "old", 3, 100), 0);
	assert_int_equal(dkv_batch_del(f->batch, 1, "k", 1, 200), 0);
	assert_int_equal(dkv_batch_commit(f->batch), 0);
	expect(f, 1, "k", DKV_EPOCH_MAX, NULL, 0);
	assert_int_equal(dkv_store_shard_copy(f->store, 1, 2), 0);
	expect(f, 2, "k", DKV_EPOCH_MAX, NULL, 0);
	expect(f, 2, "k", 199, "old", 100);
	assert_int_equal(dkv_store_get(f->store, 2, "a0500", 5, DKV_EPOCH_MAX,
				       &v),
			 0);
	assert_int_equal(v.len, sizeof(big));
	assert_int_equal(v.epoch, 50);
	dkv_val_release(&v);
	reopen(f);
	expect(f, 2, "k", DKV_EPOCH_MAX, NULL, 0);
	expect(f, 2, "k", 150, "old", 100);
}

/* Reproducer: the same wrong order made a GC compaction of the copy trip
 * RocksDB's assertion (compaction_iterator.cc), aborting the process. */
static void copy_then_gc_with_compaction(void **state)
{
	struct fixture *f = *state;
	struct hist h = { 0 };
	struct dkv_val v;
	uint64_t applied;

	put(f, 1, "k", "v1", 100);
	put(f, 1, "k", "v2", 200);
	put(f, 1, "d", "d1", 100);
	del(f, 1, "d", 250);
	assert_int_equal(dkv_store_shard_copy(f->store, 1, 2), 0);
	assert_int_equal(dkv_store_gc(f->store, 2, 300, 1, &applied), 0);
	assert_int_equal(applied, 300);
	expect(f, 2, "k", DKV_EPOCH_MAX, "v2", 200);
	expect(f, 2, "k", 300, "v2", 200);
	expect(f, 2, "d", 300, NULL, 0);
	assert_int_equal(dkv_store_get(f->store, 2, "k", 1, 150, &v),
			 DKV_ERR_EPOCH_TOO_OLD);
	/* Only the version visible at the watermark is left. */
	assert_int_equal(dkv_store_history(f->store, 2, "k", 1, 1,
					   DKV_EPOCH_MAX, hist_cb, &h),
			 1);
	assert_int_equal(h.epochs[0], 200);
	assert_string_equal(h.vals[0], "v2");
	/* The source is untouched, and a GC of it compacts fine too. */
	expect(f, 1, "k", 150, "v1", 100);
	assert_int_equal(dkv_store_gc(f->store, 1, 300, 1, &applied), 0);
	put(f, 2, "k", "v3", 300);
	reopen(f);
	expect(f, 2, "k", DKV_EPOCH_MAX, "v3", 300);
	expect(f, 1, "k", 300, "v2", 200);
}

/* --- reads that see deletes ---------------------------------------------- */

static void expect_newest(struct fixture *f, const char *k, uint64_t at,
			  int rc_want, int tomb_want, uint64_t ep_want,
			  const char *val_want)
{
	struct dkv_val v = { 0 };
	int tomb = -1;
	int rc = dkv_store_get_newest(f->store, 1, k, strlen(k), at, &v, &tomb);

	assert_int_equal(rc, rc_want);
	if (rc != DKV_OK)
		return;
	assert_int_equal(tomb, tomb_want);
	assert_int_equal(v.epoch, ep_want);
	if (!tomb_want) {
		assert_int_equal(v.len, strlen(val_want));
		assert_memory_equal(v.data, val_want, v.len);
	}
	dkv_val_release(&v);
}

struct newest_seen {
	char keys[8][8];
	uint64_t epochs[8];
	int tombs[8];
	int n, stop_after;
};

static int newest_collect(void *ctx, const char *key, size_t klen,
			  uint64_t epoch, int tombstone, const char *val,
			  size_t vlen)
{
	struct newest_seen *s = ctx;

	(void)val;
	assert_true(s->n < 8 && klen < 8);
	assert_true(!tombstone || vlen == 0);
	memcpy(s->keys[s->n], key, klen);
	s->keys[s->n][klen] = '\0';
	s->epochs[s->n] = epoch;
	s->tombs[s->n] = tombstone;
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static void newest_reads_see_deletes(void **state)
{
	struct fixture *f = *state;
	struct newest_seen s = { 0 };

	put(f, 1, "a", "a10", 10);
	del(f, 1, "a", 20);
	put(f, 1, "b", "b15", 15);
	put(f, 1, "c", "c5", 5);
	del(f, 1, "c", 8);
	put(f, 1, "c", "c30", 30);
	expect_newest(f, "a", DKV_EPOCH_MAX, DKV_OK, 1, 20, NULL);
	expect_newest(f, "a", 19, DKV_OK, 0, 10, "a10");
	expect_newest(f, "a", 9, DKV_ERR_NOT_FOUND, 0, 0, NULL);
	expect_newest(f, "b", DKV_EPOCH_MAX, DKV_OK, 0, 15, "b15");
	expect_newest(f, "c", 10, DKV_OK, 1, 8, NULL);
	expect_newest(f, "c", DKV_EPOCH_MAX, DKV_OK, 0, 30, "c30");
	expect_newest(f, "zz", DKV_EPOCH_MAX, DKV_ERR_NOT_FOUND, 0, 0, NULL);

	/* Newest of each key, deletes included, older versions skipped. */
	assert_int_equal(dkv_store_range_newest(f->store, 1, NULL, 0, NULL, 0,
						DKV_EPOCH_MAX, newest_collect,
						&s), 3);
	assert_string_equal(s.keys[0], "a");
	assert_true(s.tombs[0] && s.epochs[0] == 20);
	assert_string_equal(s.keys[1], "b");
	assert_true(!s.tombs[1] && s.epochs[1] == 15);
	assert_string_equal(s.keys[2], "c");
	assert_true(!s.tombs[2] && s.epochs[2] == 30);
	/* At epoch 12: a's first put, no b yet, c's delete. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(dkv_store_range_newest(f->store, 1, NULL, 0, NULL, 0,
						12, newest_collect, &s), 2);
	assert_string_equal(s.keys[0], "a");
	assert_true(!s.tombs[0] && s.epochs[0] == 10);
	assert_string_equal(s.keys[1], "c");
	assert_true(s.tombs[1] && s.epochs[1] == 8);
	/* [b, c) and a callback that stops. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(dkv_store_range_newest(f->store, 1, "b", 1, "c", 1,
						DKV_EPOCH_MAX, newest_collect,
						&s), 1);
	assert_string_equal(s.keys[0], "b");
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	assert_int_equal(dkv_store_range_newest(f->store, 1, NULL, 0, NULL, 0,
						DKV_EPOCH_MAX, newest_collect,
						&s), 1);
	/* Bad arguments are errors. */
	assert_int_equal(dkv_store_range_newest(f->store, 1, NULL, 3, NULL, 0,
						DKV_EPOCH_MAX, newest_collect,
						&s), DKV_ERR_INVAL);
	assert_int_equal(dkv_store_range_newest(f->store, 9, NULL, 0, NULL, 0,
						DKV_EPOCH_MAX, newest_collect,
						&s), DKV_ERR_NO_SHARD);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(versions_read_at_their_epochs),
		T(shards_are_separate_namespaces),
		T(batch_is_atomic_across_kinds),
		T(bad_input_is_an_error_not_an_abort),
		T(ranges_are_ordered_and_resume_exactly),
		T(range_callback_can_stop_and_resume),
		T(history_lists_every_version_newest_first),
		T(gc_collects_history_but_not_pins),
		T(gc_collects_between_pins),
		T(checkpoint_opens_as_a_store),
		T(copy_takes_every_version),
		T(no_io_reads_never_touch_the_disk),
		T(writes_below_the_newest_version_are_refused),
		T(a_batch_keeps_each_key_in_order),
		T(order_holds_without_a_clean_close),
		T(concurrent_commits_keep_the_bound),
		T(a_copy_keeps_the_order),
		T(copy_reads_right_across_memtables),
		T(copy_then_gc_with_compaction),
		T(newest_reads_see_deletes),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
