/*
 * A shard's side of the protocol (src/txn/part.h), driven by hand through
 * tests/txn/fake_io: COMMIT1, a whole two-phase commit between two shards,
 * wait-die (the older waits, the younger dies, a single key always
 * waits), readers resolving intents through STATUS, uncertainty, range
 * reads and range locks, recovery of a leader and of a follower, STATUS
 * of an unknown txid, the horizon's refusal and collection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "fake_io.h"
#include "txn/part.h"
#include "txn/record.h"

static struct fake F;
static struct txn_part *P[4]; /* by shard; 0 unused */

static struct txn_part *start(uint32_t shard)
{
	struct txn_io io;
	struct txn_part_conf c;

	fake_io(&F, &io);
	txn_part_conf_init(&c, shard);
	assert_int_equal(txn_part_create(&io, &c, &P[shard]), 0);
	assert_int_equal(txn_part_recover(P[shard]), 0);
	return P[shard];
}

static void crash(uint32_t shard)
{
	fake_drop(&F);
	txn_part_destroy(P[shard]);
	P[shard] = NULL;
}

static int setup(void **state)
{
	(void)state;
	fake_init(&F);
	memset(P, 0, sizeof(P));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fake_drop(&F);
	for (int i = 0; i < 4; i++)
		txn_part_destroy(P[i]);
	fake_fini(&F);
	return 0;
}

static uint64_t now_epoch(void)
{
	uint64_t e;

	assert_int_equal(dkv_hlc_now(F.hlc, &e), 0);
	return e;
}

static struct txn_addr coord(void)
{
	struct txn_addr a = { TXN_ADDR_COORD, 0, 9 };

	return a;
}

static struct txn_addr shard_addr(uint32_t s)
{
	struct txn_addr a = { TXN_ADDR_SHARD, 0, s };

	return a;
}

static struct txn_write put(uint32_t shard, const char *k, const char *v)
{
	struct txn_write w = { shard, TXN_W_PUT, { k, (uint32_t)strlen(k) },
			       { v, (uint32_t)strlen(v) } };

	return w;
}

static void send_to(uint32_t shard, struct txn_msg *m)
{
	m->to = shard_addr(shard);
	txn_part_recv(P[shard], m);
}

/* Delivers every message between shards and completes every durable
 * write, until nothing moves; messages to coordinators stay. */
static void pump(void)
{
	int moved = 1;

	while (moved) {
		moved = fake_flush(&F) > 0;
		for (size_t i = 0; i < F.nout;) {
			struct txn_msg m = F.out[i];

			if (m.to.kind != TXN_ADDR_SHARD) {
				i++;
				continue;
			}
			memmove(&F.out[i], &F.out[i + 1],
				(F.nout - i - 1) * sizeof(F.out[0]));
			F.nout--;
			if (P[m.to.id] != NULL)
				txn_part_recv(P[m.to.id], &m);
			txn_msg_free(&m);
			moved = 1;
		}
	}
}

static struct txn_msg commit1(struct dkv_txid id, uint64_t ts,
			      struct txn_write *w, uint32_t nw)
{
	struct txn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_COMMIT1;
	m.from = coord();
	m.u.commit1.txid = id;
	m.u.commit1.ts = ts;
	m.u.commit1.sent = ts;
	m.u.commit1.writes.v = w;
	m.u.commit1.writes.n = nw;
	return m;
}

static struct txn_msg prepare(struct dkv_txid id, uint32_t leader, uint64_t ts,
			      struct txn_write *w, uint32_t nw)
{
	struct txn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE;
	m.from = shard_addr(leader);
	m.u.prepare.txid = id;
	m.u.prepare.ts = ts;
	m.u.prepare.sent = ts;
	m.u.prepare.leader = leader;
	m.u.prepare.proposed = ts;
	m.u.prepare.writes.v = w;
	m.u.prepare.writes.n = nw;
	return m;
}

static struct txn_msg read_msg(struct dkv_txid id, const char *key,
			       uint64_t ts, uint64_t tu)
{
	struct txn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_READ;
	m.from = coord();
	m.u.read.txid = id;
	m.u.read.rid = 77;
	m.u.read.ts = ts;
	m.u.read.tu = tu;
	m.u.read.key.p = key;
	m.u.read.key.len = (uint32_t)strlen(key);
	return m;
}

static struct txn_part_info info(uint32_t shard)
{
	struct txn_part_info i;

	txn_part_info(P[shard], &i);
	return i;
}

/* --- COMMIT1 ---------------------------------------------------------------- */

static void test_commit1(void **state)
{
	struct dkv_txid id = { 1, 1 };
	struct txn_write w = put(1, "1/k", "v1");
	uint64_t ts = now_epoch(), tc;
	struct txn_msg m = commit1(id, ts, &w, 1), r;

	(void)state;
	start(1);
	send_to(1, &m);
	/* Nothing answers before the write is durable. */
	assert_int_equal(fake_count(&F, TXN_MSG_OUTCOME), 0);
	assert_int_equal(info(1).intents, 1); /* in memory until durable */
	assert_int_equal(fake_flush(&F), 1);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, 0);
	tc = r.u.outcome.tc;
	assert_true(tc > ts);
	txn_msg_free(&r);
	assert_int_equal(fake_newest(&F, 1, "1/k")->epoch, tc);
	assert_int_equal(fake_plain_count(&F, 1, TXN_REC_DONE), 1);
	assert_int_equal(info(1).intents, 0);
	/* A duplicate is answered from the tombstone, never run twice. */
	send_to(1, &m);
	assert_int_equal(F.npend, 0);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, 0);
	assert_int_equal(r.u.outcome.tc, tc);
	txn_msg_free(&r);
	assert_int_equal(txn_part_stats(P[1])->dup_commit1, 1);
}

static void test_commit1_write_write(void **state)
{
	struct dkv_txid id = { 1, 2 }, id2 = { 1, 3 };
	struct txn_write w = put(1, "1/k", "new");
	struct txn_read rd = { 1, 0, { "1/r", 3 }, 0 };
	uint64_t ts = now_epoch(), later;
	struct txn_msg m = commit1(id, ts, &w, 1), r;

	(void)state;
	later = now_epoch();
	fake_put(&F, 1, "1/k", "later", later); /* above ts */
	start(1);
	/* A transaction that read something: first committer wins. */
	m.u.commit1.reads.v = &rd;
	m.u.commit1.reads.n = 1;
	send_to(1, &m);
	/* The abort is made durable before it is told. */
	assert_int_equal(fake_count(&F, TXN_MSG_OUTCOME), 0);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, DKV_ERR_TX_RESTART);
	assert_int_equal(r.u.outcome.reason, TXN_R_WW);
	txn_msg_free(&r);
	assert_int_equal(fake_plain_count(&F, 1, TXN_REC_DONE), 1);
	/* Blind writes (nothing read) are serializable at their commit
	 * epoch, as a plain SET: they commit, above the later version. */
	m = commit1(id2, ts, &w, 1);
	send_to(1, &m);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, 0);
	assert_true(r.u.outcome.tc > later);
	assert_int_equal(fake_newest(&F, 1, "1/k")->epoch, r.u.outcome.tc);
	txn_msg_free(&r);
}

/* --- two-phase commit ----------------------------------------------------- */

static void test_two_phase(void **state)
{
	struct dkv_txid id = { 5, 5 };
	struct txn_write w[2] = { put(1, "1/a", "x"), put(2, "2/b", "y") };
	uint32_t parts[2] = { 1, 2 };
	uint64_t ts = now_epoch(), tc;
	struct txn_msg m, r;

	(void)state;
	start(1);
	start(2);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE_L;
	m.from = coord();
	m.u.prepare_l.txid = id;
	m.u.prepare_l.ts = ts;
	m.u.prepare_l.sent = ts;
	m.u.prepare_l.parts.v = parts;
	m.u.prepare_l.parts.n = 2;
	m.u.prepare_l.writes.v = w;
	m.u.prepare_l.writes.n = 2;
	send_to(1, &m);
	/* PREPARE goes out while the record and the intents are written. */
	assert_int_equal(fake_count(&F, TXN_MSG_PREPARE), 1);
	assert_int_equal(fake_plain_count(&F, 1, TXN_REC_TX), 0);
	fake_flush(&F);
	assert_int_equal(fake_plain_count(&F, 1, TXN_REC_TX), 1);
	pump();
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, 0);
	tc = r.u.outcome.tc;
	txn_msg_free(&r);
	/* Both keys at the same commit epoch; the records are gone but the
	 * tombstones. */
	assert_int_equal(fake_newest(&F, 1, "1/a")->epoch, tc);
	assert_int_equal(fake_newest(&F, 2, "2/b")->epoch, tc);
	for (uint32_t s = 1; s <= 2; s++) {
		assert_int_equal(fake_plain_count(&F, s, TXN_REC_TX), 0);
		assert_int_equal(fake_plain_count(&F, s, TXN_REC_FOLLOW), 0);
		assert_int_equal(fake_plain_count(&F, s, TXN_REC_INTENT), 0);
		assert_int_equal(fake_plain_count(&F, s, TXN_REC_DONE), 1);
		assert_int_equal(info(s).intents, 0);
		assert_int_equal(info(s).undecided, 0);
	}
	assert_int_equal(txn_part_stats(P[1])->commit2, 1);
	/* A duplicate PREPARE_L never starts it again. */
	send_to(1, &m);
	assert_int_equal(F.npend, 0);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.tc, tc);
	txn_msg_free(&r);
}

/* A follower refuses while the leader's own record is still being written:
 * the leader aborts once the record is durable, never commits, and tells
 * the coordinator to restart. A follower that prepared early waits too. */
static void test_refused_while_recording(void **state)
{
	struct dkv_txid id = { 6, 6 };
	struct txn_write w[3] = { put(1, "1/a", "x"), put(2, "2/b", "y"),
				  put(3, "3/c", "z") };
	uint32_t parts[3] = { 1, 2, 3 };
	uint64_t ts = now_epoch();
	struct txn_msg m, r, pr;

	(void)state;
	start(1);
	start(2);
	start(3);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE_L;
	m.from = coord();
	m.u.prepare_l.txid = id;
	m.u.prepare_l.ts = ts;
	m.u.prepare_l.sent = ts;
	m.u.prepare_l.parts.v = parts;
	m.u.prepare_l.parts.n = 3;
	m.u.prepare_l.writes.v = w;
	m.u.prepare_l.writes.n = 3;
	send_to(1, &m);
	assert_int_equal(fake_count(&F, TXN_MSG_PREPARE), 2);
	/* Before the leader's record is durable: one PREPARED, one REFUSED. */
	memset(&pr, 0, sizeof(pr));
	pr.type = TXN_MSG_PREPARED;
	pr.from = shard_addr(2);
	pr.u.prepared.txid = id;
	pr.u.prepared.proposed = now_epoch();
	send_to(1, &pr);
	memset(&pr, 0, sizeof(pr));
	pr.type = TXN_MSG_REFUSED;
	pr.from = shard_addr(3);
	pr.u.refused.txid = id;
	pr.u.refused.reason = TXN_R_WW;
	send_to(1, &pr);
	assert_int_equal(fake_count(&F, TXN_MSG_OUTCOME), 0);
	/* Only the leader's record completes: it aborts, durably. */
	fake_flush(&F);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, DKV_ERR_TX_RESTART);
	txn_msg_free(&r);
	assert_int_equal(fake_plain_count(&F, 1, TXN_REC_TX), 0);
	assert_int_equal(txn_part_stats(P[1])->commit2, 0);
	assert_null(fake_newest(&F, 1, "1/a"));
}

/* --- wait-die ----------------------------------------------------------------- */

static void test_wait_die(void **state)
{
	struct dkv_txid mid = { 200, 1 }, young = { 300, 1 }, old = { 100, 1 };
	struct txn_write w = put(2, "2/k", "v");
	uint64_t ts = now_epoch();
	struct txn_msg m, r;

	(void)state;
	start(2);
	m = prepare(mid, 1, ts, &w, 1);
	send_to(2, &m);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_PREPARED, &r), 0);
	txn_msg_free(&r);
	/* Younger than the holder: dies at once. */
	m = prepare(young, 1, ts, &w, 1);
	send_to(2, &m);
	assert_int_equal(fake_take(&F, TXN_MSG_REFUSED, &r), 0);
	assert_int_equal(r.u.refused.reason, TXN_R_LOCKED);
	txn_msg_free(&r);
	assert_int_equal(txn_part_stats(P[2])->wd_die, 1);
	/* Older than the holder: waits. */
	m = prepare(old, 1, ts, &w, 1);
	send_to(2, &m);
	assert_int_equal(F.nout, 0);
	assert_int_equal(info(2).parked, 1);
	assert_int_equal(txn_part_stats(P[2])->wd_wait, 1);
	/* The holder aborts: the older one goes through. */
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_ABORT;
	m.from = shard_addr(1);
	m.u.abort.txid = mid;
	send_to(2, &m);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_ACK, &r), 0);
	txn_msg_free(&r);
	assert_int_equal(fake_take(&F, TXN_MSG_PREPARED, &r), 0);
	assert_true(dkv_txid_eq(&r.u.prepared.txid, &old));
	txn_msg_free(&r);
	assert_int_equal(info(2).parked, 0);
}

static void test_single_key_waits_then_times_out(void **state)
{
	struct dkv_txid holder = { 100, 1 }, single = { 900, 1 };
	struct txn_write w = put(2, "2/k", "v");
	uint64_t ts = now_epoch();
	struct txn_msg m, r;

	(void)state;
	start(2);
	m = prepare(holder, 1, ts, &w, 1);
	send_to(2, &m);
	fake_flush(&F);
	fake_clear(&F);
	/* A younger single-key COMMIT1 holds nothing: it waits. */
	m = commit1(single, ts, &w, 1);
	send_to(2, &m);
	assert_int_equal(info(2).parked, 1);
	assert_int_equal(F.nout, 0);
	/* ... for the wait timeout, then RESTART(locked), durably. */
	fake_advance(&F, 999);
	txn_part_tick(P[2], F.now_ms);
	assert_int_equal(info(2).parked, 1);
	fake_advance(&F, 2);
	txn_part_tick(P[2], F.now_ms);
	assert_int_equal(info(2).parked, 0);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, DKV_ERR_TX_RESTART);
	assert_int_equal(r.u.outcome.reason, TXN_R_LOCKED);
	txn_msg_free(&r);
}

/* --- reads ----------------------------------------------------------------- */

static void test_reader_resolves_intent(void **state)
{
	struct dkv_txid writer = { 100, 1 }, reader = { 200, 1 };
	struct txn_write w = put(2, "2/k", "new");
	uint64_t ts, tc;
	struct txn_msg m, r;

	(void)state;
	fake_put(&F, 2, "2/k", "old", now_epoch());
	start(2);
	m = prepare(writer, 1, now_epoch(), &w, 1);
	send_to(2, &m);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_PREPARED, &r), 0);
	tc = r.u.prepared.proposed;
	txn_msg_free(&r);
	/* A read above the intent: parks, and asks the leader. */
	ts = now_epoch();
	m = read_msg(reader, "2/k", ts, ts);
	send_to(2, &m);
	assert_int_equal(fake_count(&F, TXN_MSG_READ_REPLY), 0);
	assert_int_equal(fake_take(&F, TXN_MSG_STATUS, &r), 0);
	assert_int_equal(r.to.id, 1);
	assert_int_equal(r.u.status.abort_if_unknown, 1);
	txn_msg_free(&r);
	assert_int_equal(txn_part_stats(P[2])->read_parked, 1);
	/* The leader says committed at tc <= ts: the read waits for the
	 * versions, then sees them. */
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_STATUS_REPLY;
	m.from = shard_addr(1);
	m.u.status_reply.txid = writer;
	m.u.status_reply.state = TXN_ST_COMMITTED;
	m.u.status_reply.tc = tc;
	send_to(2, &m);
	assert_int_equal(fake_count(&F, TXN_MSG_READ_REPLY), 0);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_READ_REPLY, &r), 0);
	assert_int_equal(r.u.read_reply.rc, 0);
	assert_int_equal(r.u.read_reply.epoch, tc);
	assert_memory_equal(r.u.read_reply.val.p, "new", 3);
	txn_msg_free(&r);
	assert_int_equal(txn_part_stats(P[2])->resolved_by_status, 1);
	assert_int_equal(fake_count(&F, TXN_MSG_ACK), 1);
}

static void test_uncertain_read(void **state)
{
	struct dkv_txid reader = { 200, 1 };
	uint64_t e0 = now_epoch(), ts = now_epoch(), e1;
	struct txn_msg m, r;

	(void)state;
	fake_put(&F, 3, "3/k", "before", e0);
	e1 = ts + 5000000; /* 5 ms after ts: in (ts, tu] */
	fake_put(&F, 3, "3/k", "after", e1);
	start(3);
	m = read_msg(reader, "3/k", ts, ts + 10000000);
	send_to(3, &m);
	assert_int_equal(fake_take(&F, TXN_MSG_READ_REPLY, &r), 0);
	assert_int_equal(r.u.read_reply.rc, DKV_ERR_TX_RESTART);
	assert_int_equal(r.u.read_reply.reason, TXN_R_UNCERTAIN);
	assert_int_equal(r.u.read_reply.epoch, e1);
	txn_msg_free(&r);
	/* With the window past it (a restarted transaction reads at e1),
	 * the newer version is simply read. */
	m = read_msg(reader, "3/k", e1, ts + 10000000);
	send_to(3, &m);
	assert_int_equal(fake_take(&F, TXN_MSG_READ_REPLY, &r), 0);
	assert_int_equal(r.u.read_reply.rc, 0);
	assert_memory_equal(r.u.read_reply.val.p, "after", 5);
	txn_msg_free(&r);
	/* Without a window: the version at ts. */
	m = read_msg(reader, "3/k", ts, ts);
	send_to(3, &m);
	assert_int_equal(fake_take(&F, TXN_MSG_READ_REPLY, &r), 0);
	assert_int_equal(r.u.read_reply.rc, 0);
	assert_memory_equal(r.u.read_reply.val.p, "before", 6);
	txn_msg_free(&r);
}

static void test_range_read_and_range_lock(void **state)
{
	struct dkv_txid locker = { 100, 1 }, writer = { 900, 1 };
	struct txn_range g = { 3, 0, { "3/a", 3 }, { "3/z", 3 } };
	struct txn_write w = put(3, "3/m", "phantom");
	uint64_t e = now_epoch();
	struct txn_msg m, r;

	(void)state;
	fake_put(&F, 3, "3/a", "1", e);
	fake_put(&F, 3, "3/b", "2", e);
	fake_put(&F, 3, "3/zz", "out", e);
	start(3);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_RANGE;
	m.from = coord();
	m.u.range.txid = locker;
	m.u.range.ts = now_epoch();
	m.u.range.tu = m.u.range.ts;
	m.u.range.start = g.start;
	m.u.range.end = g.end;
	m.u.range.limit = 1;
	send_to(3, &m);
	assert_int_equal(fake_take(&F, TXN_MSG_RANGE_REPLY, &r), 0);
	assert_int_equal(r.u.range_reply.rc, 0);
	assert_int_equal(r.u.range_reply.items.n, 1);
	/* Cut by the limit: continue right after "3/a". */
	assert_int_equal(r.u.range_reply.next.len, 4);
	assert_memory_equal(r.u.range_reply.next.p, "3/a\0", 4);
	txn_msg_free(&r);
	/* A prepared reader of [3/a, 3/z) holds a range lock: a new key in
	 * it waits (a single key: it always waits). */
	m = prepare(locker, 1, now_epoch(), NULL, 0);
	m.u.prepare.ranges.v = &g;
	m.u.prepare.ranges.n = 1;
	send_to(3, &m);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_PREPARED, &r), 0);
	txn_msg_free(&r);
	assert_int_equal(info(3).range_locks, 1);
	m = commit1(writer, now_epoch(), &w, 1);
	send_to(3, &m);
	assert_int_equal(info(3).parked, 1);
	/* The reader commits: the lock goes and the writer commits. */
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_COMMIT;
	m.from = shard_addr(1);
	m.u.commit.txid = locker;
	m.u.commit.tc = now_epoch();
	send_to(3, &m);
	fake_flush(&F);
	assert_int_equal(info(3).range_locks, 0);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, 0);
	assert_true(r.u.outcome.tc > m.u.commit.tc); /* lands above it */
	txn_msg_free(&r);
}

/* --- recovery and in-doubt --------------------------------------------------- */

static void test_leader_recovery_aborts(void **state)
{
	struct dkv_txid id = { 7, 7 };
	struct txn_write w[2] = { put(1, "1/a", "x"), put(2, "2/b", "y") };
	uint32_t parts[2] = { 1, 2 };
	uint64_t ts = now_epoch();
	struct txn_msg m, r;

	(void)state;
	start(1);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE_L;
	m.from = coord();
	m.u.prepare_l.txid = id;
	m.u.prepare_l.ts = ts;
	m.u.prepare_l.sent = ts;
	m.u.prepare_l.parts.v = parts;
	m.u.prepare_l.parts.n = 2;
	m.u.prepare_l.writes.v = w;
	m.u.prepare_l.writes.n = 2;
	send_to(1, &m);
	fake_flush(&F); /* PREPARING durable */
	fake_clear(&F); /* the PREPARE is lost */
	crash(1);
	start(1);
	assert_int_equal(txn_part_stats(P[1])->rec_preparing, 1);
	fake_flush(&F);
	assert_int_equal(fake_plain_count(&F, 1, TXN_REC_TX), 0);
	assert_int_equal(fake_plain_count(&F, 1, TXN_REC_INTENT), 0);
	assert_int_equal(fake_take(&F, TXN_MSG_ABORT, &r), 0);
	assert_int_equal(r.to.id, 2);
	txn_msg_free(&r);
	/* Asked, it says aborted. */
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_STATUS;
	m.from = coord();
	m.u.status.txid = id;
	m.u.status.abort_if_unknown = 1;
	send_to(1, &m);
	assert_int_equal(fake_take(&F, TXN_MSG_STATUS_REPLY, &r), 0);
	assert_int_equal(r.u.status_reply.state, TXN_ST_ABORTED);
	txn_msg_free(&r);
}

static void test_follower_recovery_asks(void **state)
{
	struct dkv_txid id = { 8, 8 }, reader = { 9, 9 };
	struct txn_write w = put(2, "2/k", "v");
	struct txn_msg m, r;

	(void)state;
	start(2);
	m = prepare(id, 1, now_epoch(), &w, 1);
	send_to(2, &m);
	fake_flush(&F);
	fake_clear(&F);
	crash(2);
	start(2);
	assert_int_equal(txn_part_stats(P[2])->rec_prepared, 1);
	assert_int_equal(info(2).intents, 1);
	assert_int_equal(fake_take(&F, TXN_MSG_STATUS, &r), 0);
	assert_int_equal(r.to.id, 1);
	txn_msg_free(&r);
	/* Its intent still resolves readers. */
	m = read_msg(reader, "2/k", now_epoch(), 0);
	send_to(2, &m);
	assert_int_equal(info(2).parked, 1);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_STATUS_REPLY;
	m.from = shard_addr(1);
	m.u.status_reply.txid = id;
	m.u.status_reply.state = TXN_ST_ABORTED;
	send_to(2, &m);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_READ_REPLY, &r), 0);
	assert_int_equal(r.u.read_reply.rc, DKV_ERR_NOT_FOUND);
	txn_msg_free(&r);
	assert_int_equal(fake_plain_count(&F, 2, TXN_REC_FOLLOW), 0);
	assert_int_equal(info(2).intents, 0);
}

static void test_status_unknown_then_late_prepare_l(void **state)
{
	struct dkv_txid id = { 3, 3 };
	struct txn_write w[2] = { put(1, "1/a", "x"), put(2, "2/b", "y") };
	uint32_t parts[2] = { 1, 2 };
	uint64_t ts = now_epoch();
	struct txn_msg m, r;

	(void)state;
	start(1);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_STATUS;
	m.from = coord();
	m.u.status.txid = id;
	m.u.status.sent = ts;
	m.u.status.abort_if_unknown = 1;
	send_to(1, &m);
	/* Presumed abort, durable before it is said. */
	assert_int_equal(fake_count(&F, TXN_MSG_STATUS_REPLY), 0);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_STATUS_REPLY, &r), 0);
	assert_int_equal(r.u.status_reply.state, TXN_ST_ABORTED);
	txn_msg_free(&r);
	/* The late PREPARE_L finds the tombstone. */
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE_L;
	m.from = coord();
	m.u.prepare_l.txid = id;
	m.u.prepare_l.ts = ts;
	m.u.prepare_l.sent = ts;
	m.u.prepare_l.parts.v = parts;
	m.u.prepare_l.parts.n = 2;
	m.u.prepare_l.writes.v = w;
	m.u.prepare_l.writes.n = 2;
	send_to(1, &m);
	assert_int_equal(F.npend, 0);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, DKV_ERR_TX_RESTART);
	txn_msg_free(&r);
}

static void test_horizon(void **state)
{
	struct dkv_txid id = { 4, 4 }, late = { 4, 5 };
	struct txn_write w = put(1, "1/k", "v");
	struct txn_msg m, r;

	(void)state;
	start(1);
	m = commit1(id, now_epoch(), &w, 1);
	send_to(1, &m);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	txn_msg_free(&r);
	assert_int_equal(info(1).tombstones, 1);
	/* A request sent more than H/2 ago is dropped. */
	m = commit1(late, now_epoch() - UINT64_C(31000000000), &w, 1);
	send_to(1, &m);
	assert_int_equal(txn_part_stats(P[1])->too_old, 1);
	assert_int_equal(F.npend, 0);
	/* Past the horizon the tombstone is collected. */
	fake_advance(&F, 59000);
	txn_part_tick(P[1], F.now_ms);
	assert_int_equal(info(1).tombstones, 1);
	fake_advance(&F, 2000);
	txn_part_tick(P[1], F.now_ms);
	fake_flush(&F);
	assert_int_equal(info(1).tombstones, 0);
	assert_int_equal(info(1).txns, 0);
	assert_int_equal(fake_plain_count(&F, 1, TXN_REC_DONE), 0);
}

/* An outcome tombstone leaves memory after tomb_mem_ms; a duplicate
 * COMMIT1 reads it back from its D record (answered, not applied twice);
 * past the horizon the D record is collected. */
static void test_tombstone_on_disk(void **state)
{
	struct dkv_txid id = { 7, 7 };
	struct txn_write w = put(1, "1/k", "v");
	struct txn_msg m, r;
	uint64_t tc;

	(void)state;
	start(1);
	m = commit1(id, now_epoch(), &w, 1);
	send_to(1, &m);
	fake_flush(&F);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, 0);
	tc = r.u.outcome.tc;
	txn_msg_free(&r);
	/* Two collections more than 2 s apart: memory lets it go. */
	fake_advance(&F, 1000);
	txn_part_tick(P[1], F.now_ms);
	assert_int_equal(info(1).tombstones, 1);
	fake_advance(&F, 2500);
	txn_part_tick(P[1], F.now_ms);
	assert_int_equal(info(1).tombstones, 0);
	assert_int_equal(txn_part_stats(P[1])->tombstones_evicted, 1);
	assert_int_equal(fake_plain_count(&F, 1, TXN_REC_DONE), 1);
	/* A duplicate: read back, answered from it, nothing written. */
	send_to(1, &m);
	assert_int_equal(F.npend, 0);
	assert_int_equal(fake_take(&F, TXN_MSG_OUTCOME, &r), 0);
	assert_int_equal(r.u.outcome.rc, 0);
	assert_int_equal(r.u.outcome.tc, tc);
	txn_msg_free(&r);
	assert_int_equal(txn_part_stats(P[1])->tombstones_reloaded, 1);
	assert_int_equal(fake_newest(&F, 1, "1/k")->epoch, tc);
	/* Out of memory again, then past the horizon: collected on disk. */
	fake_advance(&F, 1000);
	txn_part_tick(P[1], F.now_ms);
	fake_advance(&F, 2500);
	txn_part_tick(P[1], F.now_ms);
	assert_int_equal(info(1).tombstones, 0);
	fake_advance(&F, 61000);
	txn_part_tick(P[1], F.now_ms);
	fake_flush(&F);
	assert_int_equal(fake_plain_count(&F, 1, TXN_REC_DONE), 0);
	assert_int_equal(txn_part_stats(P[1])->tombstones_disk_collected, 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_commit1),
		T(test_commit1_write_write),
		T(test_two_phase),
		T(test_refused_while_recording),
		T(test_tombstone_on_disk),
		T(test_wait_die),
		T(test_single_key_waits_then_times_out),
		T(test_reader_resolves_intent),
		T(test_uncertain_read),
		T(test_range_read_and_range_lock),
		T(test_leader_recovery_aborts),
		T(test_follower_recovery_asks),
		T(test_status_unknown_then_late_prepare_l),
		T(test_horizon),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
