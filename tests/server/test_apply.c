/*
 * Single-key commands with Redis semantics, applied in groups: SET NX/XX
 * and GET, DEL, INCRBY, APPEND; several commands on one key inside one
 * group see each other; concurrent submitters share commits and lose
 * nothing.
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

#include "proto/resp.h"
#include "server/apply.h"
#include "server/committer.h"
#include "../unit/tmpdir.h"

struct fixture {
	char dir[256];
	struct dkv_store *store;
	struct dkv_hlc *hlc;
	struct dkv_committer *committer;
};

static int setup_dur(void **state, enum dkv_durability dur)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct dkv_store_opts o;
	struct dkv_hlc_io io = { NULL, dkv_hlc_wall_ns, NULL, NULL };
	struct dkv_hlc_opts ho = { 0 };

	assert_int_equal(test_tmpdir_make(f->dir, sizeof(f->dir)), 0);
	dkv_store_opts_init(&o, f->dir);
	o.durability = dur;
	o.max_value = 64;
	assert_int_equal(dkv_store_open(&o, &f->store), 0);
	assert_int_equal(dkv_store_shard_create(f->store, 1), 0);
	assert_int_equal(dkv_store_shard_create(f->store, 2), 0);
	assert_int_equal(dkv_hlc_create(&io, &ho, &f->hlc), 0);
	assert_int_equal(dkv_committer_start(f->store, f->hlc, &f->committer),
			 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_dur(state, DKV_DUR_NONE);
}

/* Durable commits take an fsync each, so concurrent submitters queue up
 * behind one and share the next. */
static int setup_durable(void **state)
{
	return setup_dur(state, DKV_DUR_FSYNC);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dkv_committer_destroy(f->committer);
	dkv_hlc_destroy(f->hlc);
	dkv_store_close(f->store);
	test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

/* Synchronous submission for the semantic tests. */
struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;
};

static void wake(struct dkv_cmd *cmd)
{
	struct waiter *w = cmd->ctx;

	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static int run(struct fixture *f, struct dkv_cmd *cmd)
{
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			    0 };

	cmd->done = wake;
	cmd->ctx = &w;
	dkv_committer_submit(f->committer, cmd);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	return cmd->rc;
}

static struct dkv_cmd cmd_of(enum dkv_op op, const char *key, const char *val)
{
	struct dkv_cmd c = { 0 };

	c.op = op;
	c.shard = 1;
	c.key = key;
	c.klen = strlen(key);
	c.val = val;
	c.vlen = val ? strlen(val) : 0;
	return c;
}

static void have_value(struct fixture *f, const char *key, const char *want)
{
	struct dkv_val v;
	int rc = dkv_store_get(f->store, 1, key, strlen(key), DKV_EPOCH_MAX,
			       &v);

	if (want == NULL) {
		assert_int_equal(rc, DKV_ERR_NOT_FOUND);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(v.len, strlen(want));
	assert_memory_equal(v.data, want, v.len);
	dkv_val_release(&v);
}

static void set_with_conditions_and_get(void **state)
{
	struct fixture *f = *state;
	struct dkv_cmd c;

	c = cmd_of(DKV_OP_SET, "k", "v1");
	c.cond = DKV_COND_XX;
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.applied, 0); /* XX on a missing key */
	have_value(f, "k", NULL);

	c = cmd_of(DKV_OP_SET, "k", "v1");
	c.cond = DKV_COND_NX;
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.applied, 1);
	assert_true(c.epoch != 0);
	uint64_t first = c.epoch;

	c = cmd_of(DKV_OP_SET, "k", "v2");
	c.cond = DKV_COND_NX;
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.applied, 0); /* NX on an existing key */
	have_value(f, "k", "v1");

	c = cmd_of(DKV_OP_SET, "k", "v3");
	c.cond = DKV_COND_XX;
	c.want_old = 1;
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.applied, 1);
	assert_true(c.epoch > first);
	assert_true(c.old_found);
	assert_int_equal(c.old.len, 2);
	assert_memory_equal(c.old.data, "v1", 2);
	dkv_val_release(&c.old);
	have_value(f, "k", "v3");
}

static void del_counts_only_existing_keys(void **state)
{
	struct fixture *f = *state;
	struct dkv_cmd c;

	c = cmd_of(DKV_OP_DEL, "gone", NULL);
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.applied, 0);
	assert_int_equal(c.epoch, 0); /* nothing written */
	c = cmd_of(DKV_OP_SET, "here", "x");
	assert_int_equal(run(f, &c), 0);
	c = cmd_of(DKV_OP_DEL, "here", NULL);
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.applied, 1);
	have_value(f, "here", NULL);
}

static void incrby_and_append_follow_redis(void **state)
{
	struct fixture *f = *state;
	struct dkv_cmd c;

	c = cmd_of(DKV_OP_INCRBY, "n", NULL);
	c.delta = 5;
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.integer, 5);
	c.delta = -7;
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.integer, -2);
	have_value(f, "n", "-2");

	c = cmd_of(DKV_OP_SET, "n", "9223372036854775806");
	assert_int_equal(run(f, &c), 0);
	c = cmd_of(DKV_OP_INCRBY, "n", NULL);
	c.delta = 1;
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.integer, INT64_MAX);
	assert_int_equal(run(f, &c), DKV_ERR_OVERFLOW);
	have_value(f, "n", "9223372036854775807");

	static const char *const not_ints[] = { "abc", "", " 1", "1 ", "01",
						"-0", "+1", "1.5",
						"9223372036854775808" };
	for (size_t i = 0; i < sizeof(not_ints) / sizeof(not_ints[0]); i++) {
		c = cmd_of(DKV_OP_SET, "s", not_ints[i]);
		assert_int_equal(run(f, &c), 0);
		c = cmd_of(DKV_OP_INCRBY, "s", NULL);
		c.delta = 1;
		assert_int_equal(run(f, &c), DKV_ERR_INVAL);
		have_value(f, "s", not_ints[i]);
	}

	c = cmd_of(DKV_OP_APPEND, "a", "hello");
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.integer, 5);
	c = cmd_of(DKV_OP_APPEND, "a", " world");
	assert_int_equal(run(f, &c), 0);
	assert_int_equal(c.integer, 11);
	have_value(f, "a", "hello world");
	/* The store's value limit (64 here) holds for APPEND. */
	char big[60];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	c = cmd_of(DKV_OP_APPEND, "a", big);
	assert_int_equal(run(f, &c), DKV_ERR_TOO_BIG);
	have_value(f, "a", "hello world");
}

static void int64_parse_and_format(void **state)
{
	char buf[24];
	int64_t v;

	(void)state;
	size_t n;

	/* INCRBY parses and formats with the codec's Redis rules. */
	assert_true(resp_parse_i64("0", 1, &v) == 0 && v == 0);
	assert_true(resp_parse_i64("-9223372036854775808", 20, &v) == 0 &&
		    v == INT64_MIN);
	assert_false(resp_parse_i64("-9223372036854775809", 20, &v) == 0);
	assert_false(resp_parse_i64("-", 1, &v) == 0);
	n = resp_fmt_i64(buf, INT64_MIN);
	buf[n] = '\0';
	assert_int_equal(n, 20);
	assert_string_equal(buf, "-9223372036854775808");
	n = resp_fmt_i64(buf, 0);
	buf[n] = '\0';
	assert_int_equal(n, 1);
	assert_string_equal(buf, "0");
}

static int next_epoch(void *ctx, uint64_t *e)
{
	*e = ++*(uint64_t *)ctx;
	return 0;
}

/* A group that writes one key several times sees its own writes. */
static void one_group_sees_its_own_writes(void **state)
{
	struct fixture *f = *state;
	struct apply_group *g;
	struct dkv_cmd c[4];
	uint64_t epoch = 1000;

	assert_int_equal(apply_group_create(f->store, &g), 0);
	c[0] = cmd_of(DKV_OP_SET, "g", "10");
	c[1] = cmd_of(DKV_OP_INCRBY, "g", NULL);
	c[1].delta = 5;
	c[2] = cmd_of(DKV_OP_SET, "g", "x");
	c[2].cond = DKV_COND_NX; /* exists in the overlay: not applied */
	c[3] = cmd_of(DKV_OP_APPEND, "g", "!");
	for (int i = 0; i < 4; i++)
		assert_int_equal(apply_cmd(g, &c[i], next_epoch, &epoch), 0);
	assert_int_equal(c[1].integer, 15);
	assert_int_equal(c[2].applied, 0);
	assert_int_equal(c[3].integer, 3);
	have_value(f, "g", NULL); /* nothing visible before the commit */
	assert_int_equal(apply_group_commit(g), 0);
	have_value(f, "g", "15!");
	apply_group_destroy(g);
}

/* A transaction layer batch (DKV_OP_TXN) goes in as is: versions at its
 * own epochs and plain records, in one group with single-key commands,
 * which see its versions; a batch the store refuses halfway fails the
 * whole group and writes nothing. */
static void txn_batches_share_the_group(void **state)
{
	struct fixture *f = *state;
	struct apply_group *g;
	struct txn_bent ents[3] = {
		{ .op = TXN_BOP_PUT, .key = "t", .klen = 1, .val = "41",
		  .vlen = 2, .epoch = 500 },
		{ .op = TXN_BOP_PUT_PLAIN, .key = "Irec", .klen = 4,
		  .val = "intent", .vlen = 6 },
		{ .op = TXN_BOP_DEL, .key = "gone", .klen = 4, .epoch = 500 },
	};
	struct txn_batch b = { .shard = 1, .v = ents, .n = 3 };
	struct dkv_cmd c[3];
	struct dkv_val v;
	uint64_t epoch = 1000;

	assert_int_equal(apply_group_create(f->store, &g), 0);
	c[0] = cmd_of(DKV_OP_SET, "gone", "x"); /* deleted by the batch */
	c[0].shard = 1;
	assert_int_equal(apply_cmd(g, &c[0], next_epoch, &epoch), 0);
	/* The delete at 500 is below the SET at 1001: refused halfway. */
	memset(&c[1], 0, sizeof(c[1]));
	c[1].op = DKV_OP_TXN;
	c[1].shard = 1;
	c[1].txn = &b;
	assert_int_equal(apply_cmd(g, &c[1], next_epoch, &epoch),
			 DKV_ERR_INTERNAL);
	assert_int_equal(apply_group_commit(g), DKV_ERR_INTERNAL);
	have_value(f, "t", NULL);
	have_value(f, "gone", NULL);
	assert_int_equal(dkv_store_get_plain(f->store, 1, "Irec", 4, &v),
			 DKV_ERR_NOT_FOUND);

	/* The same batch without the offending delete commits, and an INCR
	 * after it in the same group sees its value. */
	b.n = 2;
	c[1].rc = -1;
	assert_int_equal(apply_cmd(g, &c[1], next_epoch, &epoch), 0);
	c[2] = cmd_of(DKV_OP_INCRBY, "t", NULL);
	c[2].delta = 1;
	assert_int_equal(apply_cmd(g, &c[2], next_epoch, &epoch), 0);
	assert_int_equal(c[2].integer, 42);
	assert_int_equal(apply_group_commit(g), 0);
	have_value(f, "t", "42");
	assert_int_equal(dkv_store_get(f->store, 1, "t", 1, 600, &v), 0);
	assert_int_equal(v.epoch, 500);
	assert_memory_equal(v.data, "41", 2);
	dkv_val_release(&v);
	assert_int_equal(dkv_store_get_plain(f->store, 1, "Irec", 4, &v), 0);
	assert_memory_equal(v.data, "intent", 6);
	dkv_val_release(&v);
	apply_group_destroy(g);
}

#define THREADS 16
#define PER_THREAD 100

struct worker {
	struct fixture *f;
	int id;
	int errors;
};

static void *incr_worker(void *arg)
{
	struct worker *w = arg;
	char key[2] = { (char)('a' + w->id % 4), 0 };

	for (int i = 0; i < PER_THREAD; i++) {
		struct dkv_cmd c = cmd_of(DKV_OP_INCRBY, key, NULL);

		c.shard = 1 + (uint32_t)(w->id % 2);
		c.delta = 1;
		if (run(w->f, &c) != 0)
			w->errors++;
	}
	return NULL;
}

static void concurrent_increments_share_commits(void **state)
{
	struct fixture *f = *state;
	pthread_t t[THREADS];
	struct worker w[THREADS];
	struct dkv_committer_stats st;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ f, i, 0 };
		pthread_create(&t[i], NULL, incr_worker, &w[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].errors, 0);
	}
	/* Key k%4 on shard 1+k%2 got THREADS/4 * PER_THREAD increments. */
	for (int k = 0; k < 4; k++) {
		char key[2] = { (char)('a' + k), 0 }, want[16];
		struct dkv_val v;

		snprintf(want, sizeof(want), "%d", THREADS / 4 * PER_THREAD);
		assert_int_equal(dkv_store_get(f->store, 1 + (uint32_t)(k % 2),
					       key, 1, DKV_EPOCH_MAX, &v),
				 0);
		assert_int_equal(v.len, strlen(want));
		assert_memory_equal(v.data, want, v.len);
		dkv_val_release(&v);
	}
	dkv_committer_stats(f->committer, &st);
	assert_int_equal(st.commands, THREADS * PER_THREAD);
	assert_int_equal(st.failed_groups, 0);
	/* 16 submitters waiting on each other's commits form groups. */
	assert_true(st.groups < st.commands);
	assert_true(st.max_group > 1);
	print_message("%llu commands in %llu groups (largest %llu)\n",
		      (unsigned long long)st.commands,
		      (unsigned long long)st.groups,
		      (unsigned long long)st.max_group);
}

static void submit_after_stop_is_refused(void **state)
{
	struct fixture *f = *state;
	struct dkv_cmd c = cmd_of(DKV_OP_SET, "late", "x");

	dkv_committer_stop(f->committer);
	assert_int_equal(run(f, &c), DKV_ERR_CLOSED);
	have_value(f, "late", NULL);
	dkv_committer_stop(f->committer); /* idempotent */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(set_with_conditions_and_get),
		T(del_counts_only_existing_keys),
		T(incrby_and_append_follow_redis),
		cmocka_unit_test(int64_parse_and_format),
		T(one_group_sees_its_own_writes),
		T(txn_batches_share_the_group),
		cmocka_unit_test_setup_teardown(
			concurrent_increments_share_commits, setup_durable,
			teardown),
		T(submit_after_stop_is_refused),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
