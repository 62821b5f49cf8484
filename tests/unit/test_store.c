/*
 * The versioned store, operation by operation: shards, versioned writes
 * and reads at epochs, ranges with anchors, history, batches that mix
 * kinds of records, bad input, GC with pins, checkpoints and copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
	del(f, 1, "b", 25);
	put(f, 1, "b", "b1", 15);
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
		T(checkpoint_opens_as_a_store),
		T(copy_takes_every_version),
		T(no_io_reads_never_touch_the_disk),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
