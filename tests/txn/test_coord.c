/*
 * The coordinator (src/txn/coord.h) against a hand-driven network: read
 * your writes (points and ranges merged with buffered writes), what goes
 * into COMMIT1 and PREPARE_L (participants, the leader), restarts (age,
 * uncertainty limit and start epoch), a lost answer resolved by STATUS,
 * the commit deadline (outcome unknown), late replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "fake_io.h"
#include "txn/coord.h"

static struct fake F;
static struct txn_coord *C;

struct res {
	int calls;
	int rc;
	char val[64];
	size_t vlen;
	uint32_t n;
	char keys[8][16];
	char next[16];
	size_t nlen;
	uint64_t tc;
};

static int setup(void **state)
{
	struct txn_coord_io io;
	struct txn_coord_conf c;

	(void)state;
	fake_init(&F);
	fake_coord_io(&F, &io);
	txn_coord_conf_init(&c, 42);
	assert_int_equal(txn_coord_create(&io, &c, &C), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	txn_coord_destroy(C);
	fake_fini(&F);
	return 0;
}

static void get_cb(void *arg, int rc, const char *val, size_t vlen,
		   uint64_t epoch)
{
	struct res *r = arg;

	r->calls++;
	r->tc = epoch;
	r->rc = rc;
	r->vlen = vlen;
	if (vlen)
		memcpy(r->val, val, vlen);
}

static void range_cb(void *arg, int rc, const struct txn_item *items,
		     uint32_t n, const char *next, size_t nlen)
{
	struct res *r = arg;

	r->calls++;
	r->rc = rc;
	r->n = n;
	for (uint32_t i = 0; i < n && i < 8; i++) {
		memcpy(r->keys[i], items[i].key.p, items[i].key.len);
		r->keys[i][items[i].key.len] = '\0';
	}
	r->nlen = nlen;
	if (nlen)
		memcpy(r->next, next, nlen);
}

static void commit_cb(void *arg, int rc, uint64_t tc)
{
	struct res *r = arg;

	r->calls++;
	r->rc = rc;
	r->tc = tc;
}

/* Answers the READ in the outbox. */
static void answer_read(int rc, const char *val, uint64_t epoch)
{
	struct txn_msg q, a;

	assert_int_equal(fake_take(&F, TXN_MSG_READ, &q), 0);
	memset(&a, 0, sizeof(a));
	a.type = TXN_MSG_READ_REPLY;
	a.to = q.from;
	a.from = q.to;
	a.u.read_reply.txid = q.u.read.txid;
	a.u.read_reply.rid = q.u.read.rid;
	a.u.read_reply.rc = rc;
	a.u.read_reply.epoch = epoch;
	a.u.read_reply.reason = rc == DKV_ERR_TX_RESTART ? TXN_R_UNCERTAIN : 0;
	if (val != NULL) {
		a.u.read_reply.val.p = val;
		a.u.read_reply.val.len = (uint32_t)strlen(val);
	}
	txn_coord_recv(C, &a);
	txn_msg_free(&q);
}

static void test_read_your_writes(void **state)
{
	struct txn_tx *tx;
	struct txn_bytes out;
	struct res r = { 0 };

	(void)state;
	assert_int_equal(txn_open(C, &tx), 0);
	assert_int_equal(txn_put(tx, "1/k", 3, "mine", 4), 0);
	assert_int_equal(txn_get(tx, "1/k", 3, &out, get_cb, &r), 0);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.p, "mine", 4);
	assert_int_equal(txn_put(tx, "1/k", 3, "again", 5), 0); /* replaced */
	assert_int_equal(txn_get(tx, "1/k", 3, &out, get_cb, &r), 0);
	assert_memory_equal(out.p, "again", 5);
	assert_int_equal(txn_del(tx, "1/k", 3), 0);
	assert_int_equal(txn_get(tx, "1/k", 3, &out, get_cb, &r),
			 DKV_ERR_NOT_FOUND);
	/* Nothing was sent, no callback ran. */
	assert_int_equal(F.nout, 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(txn_coord_stats(C)->ryw_hits, 3);
	/* Another key goes to its shard, at ts with tu = ts + max offset. */
	assert_int_equal(txn_get(tx, "2/x", 3, &out, get_cb, &r), TXN_PENDING);
	assert_int_equal(F.nout, 1);
	assert_int_equal(F.out[0].to.kind, TXN_ADDR_SHARD);
	assert_int_equal(F.out[0].to.id, 2);
	assert_int_equal(F.out[0].u.read.ts, txn_tx_ts(tx));
	assert_int_equal(F.out[0].u.read.tu,
			 txn_tx_ts(tx) + dkv_hlc_max_offset(F.hlc));
	answer_read(0, "theirs", 5);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, 0);
	assert_memory_equal(r.val, "theirs", 6);
	assert_int_equal(r.tc, 5); /* the version's epoch */
	assert_int_equal(txn_tx_nreads(tx), 1);
	/* A duplicate reply finds nothing waiting. */
	txn_close(tx);
}

static void test_range_merged(void **state)
{
	struct txn_tx *tx;
	struct res r = { 0 };
	struct txn_item items[3] = {
		{ { "5/a1", 4 }, { "x", 1 }, 3 },
		{ { "5/a3", 4 }, { "x", 1 }, 3 },
		{ { "5/a4", 4 }, { "x", 1 }, 3 },
	};
	struct txn_msg q, a;

	(void)state;
	assert_int_equal(txn_open(C, &tx), 0);
	assert_int_equal(txn_put(tx, "5/a2", 4, "w", 1), 0);
	assert_int_equal(txn_del(tx, "5/a3", 4), 0);
	assert_int_equal(txn_put(tx, "5/b9", 4, "w", 1), 0); /* outside */
	assert_int_equal(txn_put(tx, "6/a2", 4, "w", 1), 0); /* other shard */
	assert_int_equal(txn_range(tx, 5, "5/a", 3, "5/b", 3, 0, range_cb, &r),
			 TXN_PENDING);
	assert_int_equal(fake_take(&F, TXN_MSG_RANGE, &q), 0);
	memset(&a, 0, sizeof(a));
	a.type = TXN_MSG_RANGE_REPLY;
	a.to = q.from;
	a.u.range_reply.txid = q.u.range.txid;
	a.u.range_reply.rid = q.u.range.rid;
	a.u.range_reply.items.v = items;
	a.u.range_reply.items.n = 3;
	txn_coord_recv(C, &a);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.keys[0], "5/a1");
	assert_string_equal(r.keys[1], "5/a2"); /* own write */
	assert_string_equal(r.keys[2], "5/a4"); /* a3 deleted here */
	assert_int_equal(r.nlen, 0);
	/* With a limit of 2 the merged result is cut, and goes on after
	 * the last key returned. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(txn_range(tx, 5, "5/a", 3, "5/b", 3, 2, range_cb, &r),
			 TXN_PENDING);
	txn_msg_free(&q);
	assert_int_equal(fake_take(&F, TXN_MSG_RANGE, &q), 0);
	a.u.range_reply.rid = q.u.range.rid;
	txn_coord_recv(C, &a);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.nlen, 5);
	assert_memory_equal(r.next, "5/a2\0", 5);
	txn_msg_free(&q);
	assert_int_equal(txn_tx_nreads(tx), 2); /* two ranges */
	txn_close(tx);
}

static void test_commit_messages(void **state)
{
	struct txn_tx *tx;
	struct txn_bytes out;
	struct res r = { 0 }, c = { 0 };
	struct txn_msg m;

	(void)state;
	/* One participant: COMMIT1. */
	assert_int_equal(txn_open(C, &tx), 0);
	assert_int_equal(txn_put(tx, "4/a", 3, "v", 1), 0);
	assert_int_equal(txn_commit(tx, commit_cb, &c), TXN_PENDING);
	assert_int_equal(fake_take(&F, TXN_MSG_COMMIT1, &m), 0);
	assert_int_equal(m.to.id, 4);
	assert_int_equal(m.u.commit1.writes.n, 1);
	assert_true(m.u.commit1.sent >= txn_tx_ts(tx));
	txn_msg_free(&m);
	txn_close(tx);
	/* Writes on 3 and 1, a read on 5: PREPARE_L to 1, the lowest write
	 * shard, with every participant. */
	assert_int_equal(txn_open(C, &tx), 0);
	assert_int_equal(txn_get(tx, "5/r", 3, &out, get_cb, &r), TXN_PENDING);
	answer_read(DKV_ERR_NOT_FOUND, NULL, 0);
	assert_int_equal(txn_put(tx, "3/a", 3, "v", 1), 0);
	assert_int_equal(txn_put(tx, "1/b", 3, "v", 1), 0);
	assert_int_equal(txn_commit(tx, commit_cb, &c), TXN_PENDING);
	assert_int_equal(fake_take(&F, TXN_MSG_PREPARE_L, &m), 0);
	assert_int_equal(m.to.id, 1);
	assert_int_equal(m.u.prepare_l.parts.n, 3);
	assert_int_equal(m.u.prepare_l.parts.v[0], 1);
	assert_int_equal(m.u.prepare_l.parts.v[1], 3);
	assert_int_equal(m.u.prepare_l.parts.v[2], 5);
	assert_int_equal(m.u.prepare_l.reads.n, 1);
	assert_int_equal(m.u.prepare_l.reads.v[0].shard, 5);
	assert_int_equal(m.u.prepare_l.writes.n, 2);
	/* The answer: committed. */
	{
		struct txn_msg a;

		memset(&a, 0, sizeof(a));
		a.type = TXN_MSG_OUTCOME;
		a.to = m.from;
		a.u.outcome.txid = m.u.prepare_l.txid;
		a.u.outcome.tc = m.u.prepare_l.sent + 10;
		txn_coord_recv(C, &a);
		txn_coord_recv(C, &a); /* a duplicate changes nothing */
	}
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.rc, 0);
	assert_int_equal(c.tc, m.u.prepare_l.sent + 10);
	txn_msg_free(&m);
	assert_int_equal(txn_put(tx, "1/b", 3, "v", 1), DKV_ERR_STATE);
	txn_close(tx);
	/* Read-only: committed at once, no message. */
	assert_int_equal(txn_open(C, &tx), 0);
	assert_int_equal(txn_commit(tx, commit_cb, &c), 0);
	assert_int_equal(F.nout, 0);
	txn_close(tx);
}

static void test_restart(void **state)
{
	struct txn_tx *tx;
	struct txn_bytes out;
	struct res r = { 0 };
	struct dkv_txid id0;
	uint64_t ts0, tu0, e;

	(void)state;
	assert_int_equal(txn_open(C, &tx), 0);
	id0 = *txn_tx_id(tx);
	ts0 = txn_tx_ts(tx);
	tu0 = ts0 + dkv_hlc_max_offset(F.hlc);
	assert_int_equal(txn_put(tx, "1/w", 3, "v", 1), 0);
	assert_int_equal(txn_get(tx, "2/k", 3, &out, get_cb, &r), TXN_PENDING);
	e = ts0 + 1000000; /* an uncertain version 1 ms above ts */
	answer_read(DKV_ERR_TX_RESTART, NULL, e);
	assert_int_equal(r.rc, DKV_ERR_TX_RESTART);
	/* Everything says restart until txn_restart. */
	assert_int_equal(txn_put(tx, "1/w", 3, "v", 1), DKV_ERR_TX_RESTART);
	assert_int_equal(txn_commit(tx, commit_cb, &r), DKV_ERR_TX_RESTART);
	assert_int_equal(txn_restart(tx), 0);
	/* Same age, new incarnation; ts above the uncertain version. */
	assert_int_equal(txn_tx_id(tx)->hi, id0.hi);
	assert_int_not_equal(txn_tx_id(tx)->lo, id0.lo);
	assert_true(txn_tx_ts(tx) >= e);
	assert_int_equal(txn_tx_nwrites(tx), 0);
	assert_int_equal(txn_tx_nreads(tx), 0);
	/* The uncertainty limit stays where it was. */
	assert_int_equal(txn_get(tx, "2/k", 3, &out, get_cb, &r), TXN_PENDING);
	assert_int_equal(F.out[F.nout - 1].u.read.tu,
			 tu0 > txn_tx_ts(tx) ? tu0 : txn_tx_ts(tx));
	fake_clear(&F);
	txn_close(tx);
}

static void test_lost_answer_and_deadline(void **state)
{
	struct txn_tx *tx;
	struct res c = { 0 };
	struct txn_msg m, s, a;

	(void)state;
	assert_int_equal(txn_open(C, &tx), 0);
	assert_int_equal(txn_put(tx, "1/a", 3, "v", 1), 0);
	assert_int_equal(txn_put(tx, "2/a", 3, "v", 1), 0);
	assert_int_equal(txn_commit(tx, commit_cb, &c), TXN_PENDING);
	assert_int_equal(fake_take(&F, TXN_MSG_PREPARE_L, &m), 0);
	/* No answer within the commit wait: STATUS to the leader. */
	fake_advance(&F, 3001);
	txn_coord_tick(C, F.now_ms);
	assert_int_equal(fake_take(&F, TXN_MSG_STATUS, &s), 0);
	assert_int_equal(s.to.id, 1);
	assert_int_equal(s.u.status.abort_if_unknown, 1);
	assert_int_equal(s.u.status.sent, m.u.prepare_l.sent);
	/* PREPARING: keep asking. */
	memset(&a, 0, sizeof(a));
	a.type = TXN_MSG_STATUS_REPLY;
	a.to = s.from;
	a.u.status_reply.txid = s.u.status.txid;
	a.u.status_reply.state = TXN_ST_PREPARING;
	txn_coord_recv(C, &a);
	assert_int_equal(c.calls, 0);
	a.u.status_reply.state = TXN_ST_COMMITTED;
	a.u.status_reply.tc = m.u.prepare_l.sent + 5;
	txn_coord_recv(C, &a);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.rc, 0);
	assert_int_equal(txn_coord_stats(C)->in_doubt, 1);
	txn_msg_free(&m);
	txn_msg_free(&s);
	txn_close(tx);
	/* Nobody answers at all: unknown at the deadline, never aborted. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(txn_open(C, &tx), 0);
	assert_int_equal(txn_put(tx, "1/a", 3, "v", 1), 0);
	assert_int_equal(txn_commit(tx, commit_cb, &c), TXN_PENDING);
	for (int i = 0; i < 120 && c.calls == 0; i++) {
		fake_advance(&F, 100);
		txn_coord_tick(C, F.now_ms);
	}
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.rc, DKV_ERR_TIMEOUT);
	assert_int_equal(txn_coord_stats(C)->unknown, 1);
	assert_true(fake_count(&F, TXN_MSG_STATUS) >= 2);
	fake_clear(&F);
	txn_close(tx);
}

static void test_read_resend_and_timeout(void **state)
{
	struct txn_tx *tx;
	struct txn_bytes out;
	struct res r = { 0 };

	(void)state;
	assert_int_equal(txn_open(C, &tx), 0);
	assert_int_equal(txn_get(tx, "2/k", 3, &out, get_cb, &r), TXN_PENDING);
	fake_advance(&F, 251);
	txn_coord_tick(C, F.now_ms);
	assert_int_equal(fake_count(&F, TXN_MSG_READ), 2); /* resent */
	assert_int_equal(F.out[0].u.read.rid, F.out[1].u.read.rid);
	assert_int_equal(txn_commit(tx, commit_cb, &r), DKV_ERR_BUSY);
	fake_advance(&F, 5000);
	txn_coord_tick(C, F.now_ms);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.rc, DKV_ERR_TIMEOUT);
	fake_clear(&F);
	txn_close(tx);
}

/* A read-only transaction at a fixed epoch (snapshot reads): no
 * uncertainty, no writes, and a restart keeps the epoch. */
static void test_open_at(void **state)
{
	struct txn_tx *tx;
	struct txn_bytes out;
	struct res r = { 0 };
	uint64_t e = 123456789;

	(void)state;
	assert_int_equal(txn_open_at(C, 0, &tx), DKV_ERR_INVAL);
	assert_int_equal(txn_open_at(C, UINT64_MAX, &tx), DKV_ERR_INVAL);
	assert_int_equal(txn_open_at(C, e, &tx), 0);
	assert_true(txn_tx_fixed(tx));
	assert_int_equal(txn_tx_ts(tx), e);
	assert_int_equal(txn_put(tx, "1/w", 3, "v", 1), DKV_ERR_READ_ONLY);
	assert_int_equal(txn_del(tx, "1/w", 3), DKV_ERR_READ_ONLY);
	assert_int_equal(txn_get(tx, "2/k", 3, &out, get_cb, &r), TXN_PENDING);
	assert_int_equal(F.out[F.nout - 1].u.read.ts, e);
	assert_int_equal(F.out[F.nout - 1].u.read.tu, e);
	answer_read(DKV_ERR_TX_RESTART, NULL, 0);
	assert_int_equal(txn_restart(tx), 0);
	assert_int_equal(txn_tx_ts(tx), e);
	assert_int_equal(txn_get(tx, "2/k", 3, &out, get_cb, &r), TXN_PENDING);
	assert_int_equal(F.out[F.nout - 1].u.read.ts, e);
	answer_read(0, "old", e - 5);
	assert_int_equal(r.rc, 0);
	assert_memory_equal(r.val, "old", 3);
	assert_int_equal(txn_commit(tx, commit_cb, &r), 0); /* read-only */
	fake_clear(&F);
	txn_close(tx);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_read_your_writes),
		T(test_range_merged),
		T(test_commit_messages),
		T(test_restart),
		T(test_lost_answer_and_deadline),
		T(test_read_resend_and_timeout),
		T(test_open_at),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
