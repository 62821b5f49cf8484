/*
 * test_tx_unit.c - libdkv's transactions (dkv_tx_*, dkv_get/put/... with
 * a tx) against the REAL shard side of the transaction core, in process:
 * no dkvd. The handle is built by hand over a two-node, four-shard map,
 * and its test seam (client->txn_exec) replaces the network: each
 * DKV.TXN request is decoded with txn_wire, delivered to the shard's
 * struct txn_part (over tests/txn/fake_io.c's in-memory store, durable
 * writes completed at once), the shards' messages to one another are
 * pumped until quiet, and the message addressed to the requesting
 * coordinator is encoded back (txn_wire) and parsed as the node's reply.
 * The seam can also lose answers, or fail requests with a code, to drive
 * resends, STATUS and the fatal-error rules.
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

#include "client/client_int.h"
#include "client/tx_int.h"
#include "client/conn.h"
#include "dkv.h"
#include "fake_io.h"
#include "hlc/hlc.h"
#include "proto/txn_wire.h"
#include "shard/map.h"
#include "txn/part.h"

#define NSHARDS 4

static struct fake F; /* one store for every shard (any node) */
static struct txn_part *P[NSHARDS];
static dkv_client_t *C;

/* What the fake nodes saw, and what they are told to do. */
static struct {
	pthread_mutex_t lock;
	unsigned sent[TXN_MSG_COUNT_]; /* requests received, by type */
	unsigned total;
	int drop;     /* lose the answers of the next n requests */
	int fail;     /* fail the next n requests of type fail_type ... */
	int fail_type;
	int fail_rc;  /* ... with this code, before delivering them */
	int too_old;  /* answer READ and RANGE with DKV_ERR_EPOCH_TOO_OLD */
	int restart;  /* answer the next n READ or RANGE with a restart */
	uint64_t read_ts, read_tu; /* of the last READ or RANGE */
} T = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* --- the fake node transport ---------------------------------------------- */

static void sync_clocks(void)
{
	uint64_t w = dkv_hlc_wall_ns(NULL);

	F.now_ms = dkv_now_ms();
	if (w > F.wall_ns)
		F.wall_ns = w;
}

/* Delivers the shards' messages to one another until nothing moves;
 * keeps the first message for coordinator `coord` in *ans. */
static int pump(uint64_t coord, struct txn_msg *ans)
{
	int have = 0, moved;

	do {
		moved = fake_flush(&F) > 0;
		while (F.nout > 0) {
			struct txn_msg x = F.out[0];

			memmove(&F.out[0], &F.out[1],
				(F.nout - 1) * sizeof(F.out[0]));
			F.nout--;
			moved = 1;
			if (x.to.kind == TXN_ADDR_SHARD && x.to.id < NSHARDS) {
				txn_part_recv(P[x.to.id], &x);
			} else if (x.to.kind == TXN_ADDR_COORD &&
				   x.to.id == coord && !have) {
				*ans = x;
				have = 1;
				continue;
			}
			txn_msg_free(&x);
		}
		for (uint32_t i = 0; i < NSHARDS; i++)
			txn_part_tick(P[i], F.now_ms);
	} while (moved || F.nout > 0 || F.npend > 0);
	return have;
}

/* The node's reply: ans encoded (txn_wire), or a null reply. */
static int reply(const struct dkv_creq *rq, const struct txn_msg *ans)
{
	struct resp_reply_parser p;
	const struct resp_reply *r;
	struct resp_buf b;
	size_t used = 0;
	int rc;

	resp_buf_init(&b, 0);
	if (ans != NULL)
		assert_int_equal(txn_wire_encode(&b, ans), 0);
	else
		assert_int_equal(resp_put_null(&b), 0);
	resp_reply_parser_init(&p, NULL);
	assert_int_equal(resp_reply_parse(&p, b.data, b.len, &r, &used), 1);
	rc = rq->on_reply(rq->arg, r);
	resp_reply_parser_free(&p);
	resp_buf_free(&b);
	return rc;
}

/* The shard's answer to a READ or RANGE m with code rc, made up. */
static int answer_rc(const struct dkv_creq *rq, const struct txn_msg *m,
		     int rc, unsigned reason)
{
	struct txn_msg a;

	memset(&a, 0, sizeof(a));
	a.from = m->to;
	a.to = m->from;
	if (m->type == TXN_MSG_READ) {
		a.type = TXN_MSG_READ_REPLY;
		a.u.read_reply.txid = m->u.read.txid;
		a.u.read_reply.rid = m->u.read.rid;
		a.u.read_reply.rc = rc;
		a.u.read_reply.reason = reason;
	} else {
		a.type = TXN_MSG_RANGE_REPLY;
		a.u.range_reply.txid = m->u.range.txid;
		a.u.range_reply.rid = m->u.range.rid;
		a.u.range_reply.rc = rc;
		a.u.range_reply.reason = reason;
	}
	return reply(rq, &a);
}

static int fake_exec(struct dkv_client *c, const struct dkv_creq *rq)
{
	struct txn_wire_mem mem;
	struct txn_msg m, ans;
	int have = 0, rc;

	(void)c;
	pthread_mutex_lock(&T.lock);
	txn_wire_mem_init(&mem);
	assert_true(rq->argc > 1 && rq->argvlen[0] == 7 &&
		    memcmp(rq->argv[0], "DKV.TXN", 7) == 0);
	assert_int_equal(rq->by, DKV_ROUTE_SHARD);
	assert_int_equal(txn_wire_decode(rq->argc, rq->argv, rq->argvlen,
					 NULL, &m, &mem),
			 0);
	assert_int_equal(m.to.kind, TXN_ADDR_SHARD);
	assert_true(m.to.id == rq->shard && m.to.id < NSHARDS);
	assert_int_equal(m.from.kind, TXN_ADDR_COORD);
	assert_true(m.from.id >> 63); /* a client coordinator */
	assert_int_equal(rq->write, m.type == TXN_MSG_COMMIT1 ||
					    m.type == TXN_MSG_PREPARE_L);
	T.sent[m.type]++;
	T.total++;
	if (m.type == TXN_MSG_READ || m.type == TXN_MSG_RANGE) {
		int rd = m.type == TXN_MSG_READ;

		T.read_ts = rd ? m.u.read.ts : m.u.range.ts;
		T.read_tu = rd ? m.u.read.tu : m.u.range.tu;
		if (T.too_old) {
			rc = answer_rc(rq, &m, DKV_ERR_EPOCH_TOO_OLD,
				       TXN_R_NONE);
			goto out;
		}
		if (T.restart > 0) {
			T.restart--;
			rc = answer_rc(rq, &m, DKV_ERR_TX_RESTART, TXN_R_BUSY);
			goto out;
		}
	}
	if (T.fail > 0 && (int)m.type == T.fail_type) {
		T.fail--;
		rc = T.fail_rc;
		goto out;
	}
	sync_clocks();
	txn_part_recv(P[m.to.id], &m);
	have = pump(m.from.id, &ans);
	if (T.drop > 0) {
		T.drop--;
		rc = reply(rq, NULL); /* the answer is lost */
	} else {
		rc = reply(rq, have ? &ans : NULL);
	}
out:
	if (have)
		txn_msg_free(&ans);
	txn_wire_mem_free(&mem);
	pthread_mutex_unlock(&T.lock);
	return rc;
}

/* A handle over a map of two nodes and NSHARDS shards (slots family),
 * built by hand: nothing listens at its addresses. */
static dkv_client_t *client_new(void)
{
	struct dkv_map_node_conf nodes[2] = { { 1, "127.0.0.1:1" },
					      { 2, "127.0.0.1:2" } };
	struct dkv_map_conf mc;
	struct dkv_client *c = calloc(1, sizeof(*c));
	char err[128];

	assert_non_null(c);
	memset(&mc, 0, sizeof(mc));
	mc.name = "txtest";
	mc.cluster_id = 7;
	mc.nodes = nodes;
	mc.nnodes = 2;
	mc.family.kind = DKV_FAMILY_SLOTS;
	mc.family.nshards = NSHARDS;
	pthread_mutex_init(&c->lock, NULL);
	c->connect_timeout_ms = 1000;
	c->timeout_ms = 3000;
	c->pool_size = 1;
	c->max_redirects = 2;
	c->range_batch = 2; /* small pages: paging is exercised */
	c->map_check_ms = UINT32_MAX;
	c->cmap = calloc(1, sizeof(*c->cmap));
	assert_non_null(c->cmap);
	c->cmap->refs = 1;
	assert_int_equal(dkv_map_create(&mc, &c->cmap->map, err, sizeof(err)),
			 0);
	c->cluster_id = 7;
	c->txn_exec = fake_exec;
	return c;
}

static int setup(void **state)
{
	struct txn_io io;

	(void)state;
	fake_init(&F);
	sync_clocks();
	fake_io(&F, &io);
	for (uint32_t i = 0; i < NSHARDS; i++) {
		struct txn_part_conf pc;

		txn_part_conf_init(&pc, i);
		assert_int_equal(txn_part_create(&io, &pc, &P[i]), 0);
		assert_int_equal(txn_part_recover(P[i]), 0);
	}
	C = client_new();
	memset(T.sent, 0, sizeof(T.sent));
	T.total = 0;
	T.drop = T.fail = 0;
	T.too_old = T.restart = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	dkv_disconnect(C);
	C = NULL;
	for (uint32_t i = 0; i < NSHARDS; i++)
		txn_part_destroy(P[i]);
	fake_fini(&F);
	return 0;
}

/* --- helpers -------------------------------------------------------------- */

static uint32_t shard_of(const char *key)
{
	uint32_t s;

	assert_int_equal(dkv_shard_of(C, key, strlen(key), &s, NULL, 0), 0);
	return s;
}

/* A key "<prefix><n>" of that shard, into buf. */
static const char *key_in(uint32_t shard, const char *prefix, char *buf,
			  size_t len)
{
	for (unsigned n = 0;; n++) {
		snprintf(buf, len, "%s%u", prefix, n);
		if (shard_of(buf) == shard)
			return buf;
	}
}

static int put_s(dkv_tx_t *tx, uint64_t flags, const char *k, const char *v)
{
	return dkv_put(C, tx, flags, k, strlen(k), v, strlen(v));
}

/* dkv_get of k into a string; rc. */
static int get_s(dkv_tx_t *tx, const char *k, char *out, size_t outlen)
{
	size_t len = outlen - 1;
	int rc = dkv_get(C, tx, 0, k, strlen(k), out, &len);

	out[rc == DKV_OK ? len : 0] = '\0';
	return rc;
}

/* Commits k = v in a transaction of its own. */
static void seed(const char *k, const char *v)
{
	dkv_tx_t *tx;

	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(put_s(tx, 0, k, v), 0);
	assert_int_equal(dkv_tx_commit(tx), 0);
	dkv_tx_close(tx);
}

/* The newest stored version of k: its value ("<del>" for a tombstone,
 * "" for none) and epoch. */
static uint64_t stored(const char *k, char *out, size_t outlen)
{
	const struct fake_ver *v = fake_newest(&F, shard_of(k), k);

	if (v == NULL) {
		out[0] = '\0';
		return 0;
	}
	if (v->del)
		snprintf(out, outlen, "<del>");
	else
		snprintf(out, outlen, "%.*s", (int)v->vlen, v->val);
	return v->epoch;
}

/* --- tests ---------------------------------------------------------------- */

static void test_read_your_writes(void **state)
{
	char k1[32], k2[32], v[64], buf[2];
	size_t len;
	void *p = NULL;
	dkv_tx_t *tx, *tx2;
	unsigned reads;

	(void)state;
	key_in(1, "ryw", k1, sizeof(k1));
	key_in(2, "ryw", k2, sizeof(k2));
	seed(k1, "old");
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(get_s(tx, k1, v, sizeof(v)), 0);
	assert_string_equal(v, "old");
	assert_int_equal(put_s(tx, 0, k1, "new"), 0);
	reads = T.sent[TXN_MSG_READ];
	assert_int_equal(get_s(tx, k1, v, sizeof(v)), 0);
	assert_string_equal(v, "new");
	/* The dkv_get buffer rules, answered from the write set. */
	len = 99;
	assert_int_equal(dkv_get(C, tx, 0, k1, strlen(k1), NULL, &len), 0);
	assert_int_equal(len, 3);
	len = sizeof(buf);
	assert_int_equal(dkv_get(C, tx, 0, k1, strlen(k1), buf, &len),
			 DKV_ERR_TOO_BIG);
	assert_int_equal(len, 3);
	assert_int_equal(dkv_get_alloc(C, tx, 0, k1, strlen(k1), &p, &len), 0);
	assert_int_equal(len, 3);
	assert_string_equal(p, "new");
	dkv_free(p);
	assert_int_equal(put_s(tx, 0, k2, "two"), 0);
	assert_int_equal(get_s(tx, k2, v, sizeof(v)), 0);
	assert_string_equal(v, "two");
	assert_int_equal(dkv_remove(C, tx, 0, k2, strlen(k2)), 1);
	assert_int_equal(get_s(tx, k2, v, sizeof(v)), DKV_ERR_NOT_FOUND);
	assert_int_equal(T.sent[TXN_MSG_READ], reads); /* no round trip */
	/* Nobody sees the writes before the commit. */
	stored(k1, v, sizeof(v));
	assert_string_equal(v, "old");
	assert_int_equal(dkv_tx_open(C, 0, &tx2), 0);
	assert_int_equal(get_s(tx2, k1, v, sizeof(v)), 0);
	assert_string_equal(v, "old");
	dkv_tx_close(tx2);

	assert_int_equal(dkv_tx_epoch(tx), 0);
	assert_int_equal(dkv_tx_commit(tx), 0);
	assert_true(dkv_tx_epoch(tx) > 0);
	assert_int_equal(stored(k1, v, sizeof(v)), dkv_tx_epoch(tx));
	assert_string_equal(v, "new");
	assert_int_equal(stored(k2, v, sizeof(v)), dkv_tx_epoch(tx));
	assert_string_equal(v, "<del>");
	dkv_tx_close(tx);
	/* A later transaction of the client sees the commit (no restart). */
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(get_s(tx, k1, v, sizeof(v)), 0);
	assert_string_equal(v, "new");
	assert_int_equal(get_s(tx, k2, v, sizeof(v)), DKV_ERR_NOT_FOUND);
	dkv_tx_close(tx);
}

static void test_commit_one_shard(void **state)
{
	char a[32], b[32], v[64];
	dkv_tx_t *tx;

	(void)state;
	key_in(3, "one-a", a, sizeof(a));
	key_in(3, "one-b", b, sizeof(b));
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(put_s(tx, 0, a, "A"), 0);
	assert_int_equal(put_s(tx, 0, b, "B"), 0);
	assert_int_equal(T.total, 0); /* buffered */
	assert_int_equal(dkv_tx_commit(tx), 0);
	assert_int_equal(T.sent[TXN_MSG_COMMIT1], 1);
	assert_int_equal(T.sent[TXN_MSG_PREPARE_L], 0);
	assert_int_equal(T.total, 1);
	assert_int_equal(stored(a, v, sizeof(v)), dkv_tx_epoch(tx));
	assert_string_equal(v, "A");
	assert_int_equal(stored(b, v, sizeof(v)), dkv_tx_epoch(tx));
	assert_string_equal(v, "B");
	dkv_tx_close(tx);
}

static void test_commit_two_shards(void **state)
{
	char a[32], b[32], v[64], na[DKV_ADDR_MAX], nb[DKV_ADDR_MAX];
	dkv_tx_t *tx;

	(void)state;
	key_in(1, "two-a", a, sizeof(a));
	key_in(2, "two-b", b, sizeof(b));
	assert_int_equal(dkv_shard_of(C, a, strlen(a), NULL, na, sizeof(na)),
			 0);
	assert_int_equal(dkv_shard_of(C, b, strlen(b), NULL, nb, sizeof(nb)),
			 0);
	assert_string_not_equal(na, nb); /* two nodes */
	seed(b, "b0");
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(get_s(tx, b, v, sizeof(v)), 0);
	assert_int_equal(put_s(tx, 0, a, "A"), 0);
	assert_int_equal(put_s(tx, 0, b, "B"), 0);
	assert_int_equal(dkv_tx_commit(tx), 0);
	assert_int_equal(T.sent[TXN_MSG_PREPARE_L], 1);
	assert_int_equal(T.sent[TXN_MSG_COMMIT1], 1); /* the seed's */
	assert_int_equal(stored(a, v, sizeof(v)), dkv_tx_epoch(tx));
	assert_string_equal(v, "A");
	assert_int_equal(stored(b, v, sizeof(v)), dkv_tx_epoch(tx));
	assert_string_equal(v, "B");
	dkv_tx_close(tx);
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(get_s(tx, a, v, sizeof(v)), 0);
	assert_string_equal(v, "A");
	assert_int_equal(get_s(tx, b, v, sizeof(v)), 0);
	assert_string_equal(v, "B");
	assert_int_equal(dkv_tx_commit(tx), 0);
	dkv_tx_close(tx);
}

static void test_conflict_restart(void **state)
{
	char k[32], v[64];
	dkv_tx_t *t1, *t2;

	(void)state;
	key_in(0, "cnt", k, sizeof(k));
	seed(k, "0");
	assert_int_equal(dkv_tx_open(C, 0, &t1), 0);
	assert_int_equal(get_s(t1, k, v, sizeof(v)), 0);
	assert_string_equal(v, "0");
	assert_int_equal(dkv_tx_open(C, 0, &t2), 0);
	assert_int_equal(get_s(t2, k, v, sizeof(v)), 0);
	assert_int_equal(put_s(t2, 0, k, "2"), 0);
	assert_int_equal(dkv_tx_commit(t2), 0);
	dkv_tx_close(t2);
	/* t1 read "0", which changed: its commit aborts. */
	assert_int_equal(put_s(t1, 0, k, "1"), 0);
	assert_int_equal(dkv_tx_commit(t1), DKV_ERR_TX_RESTART);
	assert_int_equal(dkv_tx_epoch(t1), 0);
	assert_int_equal(get_s(t1, k, v, sizeof(v)), DKV_ERR_TX_RESTART);
	assert_int_equal(put_s(t1, 0, k, "1"), DKV_ERR_TX_RESTART);
	assert_int_equal(dkv_tx_commit(t1), DKV_ERR_TX_RESTART);
	stored(k, v, sizeof(v));
	assert_string_equal(v, "2");
	/* Run again: it reads what it conflicted with. */
	assert_int_equal(dkv_tx_restart(t1), 0);
	assert_int_equal(dkv_tx_restarts(t1), 1);
	assert_int_equal(get_s(t1, k, v, sizeof(v)), 0);
	assert_string_equal(v, "2");
	assert_int_equal(put_s(t1, 0, k, "3"), 0);
	assert_int_equal(dkv_tx_commit(t1), 0);
	stored(k, v, sizeof(v));
	assert_string_equal(v, "3");
	dkv_tx_close(t1);
}

static void test_uncertain_read_restarts(void **state)
{
	char k[32], v[64];
	dkv_tx_t *t1, *t2;

	(void)state;
	key_in(2, "unc", k, sizeof(k));
	assert_int_equal(dkv_tx_open(C, 0, &t1), 0);
	/* t2 commits after t1 began, within the clock uncertainty. */
	assert_int_equal(dkv_tx_open(C, 0, &t2), 0);
	assert_int_equal(put_s(t2, 0, k, "late"), 0);
	assert_int_equal(dkv_tx_commit(t2), 0);
	dkv_tx_close(t2);
	assert_int_equal(get_s(t1, k, v, sizeof(v)), DKV_ERR_TX_RESTART);
	assert_int_equal(get_s(t1, k, v, sizeof(v)), DKV_ERR_TX_RESTART);
	assert_int_equal(dkv_tx_commit(t1), DKV_ERR_TX_RESTART);
	assert_int_equal(dkv_tx_restart(t1), 0);
	assert_int_equal(get_s(t1, k, v, sizeof(v)), 0);
	assert_string_equal(v, "late");
	assert_int_equal(dkv_tx_commit(t1), 0);
	dkv_tx_close(t1);
}

/* --- dkv_tx_run ----------------------------------------------------------- */

static char thr_key[] = "{thr}n";

struct incr {
	const char *key;
	int runs;
	int interfere; /* runs that commit a conflicting increment */
	uint32_t last_restarts;
};

static int read_int(dkv_tx_t *tx, const char *k, long *out)
{
	char v[64];
	int rc = get_s(tx, k, v, sizeof(v));

	*out = 0;
	if (rc == DKV_OK)
		*out = strtol(v, NULL, 10);
	return rc == DKV_ERR_NOT_FOUND ? DKV_OK : rc;
}

static int plain_incr(dkv_tx_t *tx, void *arg)
{
	const char *k = arg;
	char v[32];
	long n;
	int rc = read_int(tx, k, &n);

	if (rc != DKV_OK)
		return rc;
	snprintf(v, sizeof(v), "%ld", n + 1);
	return put_s(tx, 0, k, v);
}

static int incr_body(dkv_tx_t *tx, void *arg)
{
	struct incr *in = arg;
	char v[32];
	long n;
	int rc;

	in->runs++;
	in->last_restarts = dkv_tx_restarts(tx);
	rc = read_int(tx, in->key, &n);
	if (rc != DKV_OK)
		return rc;
	if (in->interfere > 0) {
		/* Another transaction increments meanwhile. */
		in->interfere--;
		assert_int_equal(dkv_tx_run(C, 0, plain_incr, (void *)in->key,
					    NULL),
				 0);
	}
	snprintf(v, sizeof(v), "%ld", n + 1);
	rc = put_s(tx, 0, in->key, v);
	return rc < 0 ? rc : 7;
}

static int always_restart(dkv_tx_t *tx, void *arg)
{
	(void)tx;
	(*(int *)arg)++;
	return DKV_ERR_TX_RESTART;
}

static int give_up(dkv_tx_t *tx, void *arg)
{
	(void)arg;
	assert_int_equal(put_s(tx, 0, "{g}x", "never"), 0);
	return DKV_ERR_NOT_FOUND;
}

static void test_tx_run(void **state)
{
	struct dkv_tx_run_opts o = { 3, 1, 2 };
	struct incr in = { "{run}n", 0, 1, 0 };
	char v[64];
	int calls = 0;

	(void)state;
	assert_int_equal(dkv_tx_run(C, 0, incr_body, &in, NULL), 7);
	assert_int_equal(in.runs, 2);
	assert_int_equal(in.last_restarts, 1);
	stored(in.key, v, sizeof(v));
	assert_string_equal(v, "2"); /* both increments */
	/* Two interfering runs in a row, then success. */
	in.runs = 0;
	in.interfere = 2;
	assert_int_equal(dkv_tx_run(C, 0, incr_body, &in, NULL), 7);
	assert_int_equal(in.runs, 3);
	stored(in.key, v, sizeof(v));
	assert_string_equal(v, "5");
	/* The body's error ends it; nothing committed. */
	assert_int_equal(dkv_tx_run(C, 0, give_up, NULL, NULL),
			 DKV_ERR_NOT_FOUND);
	stored("{g}x", v, sizeof(v));
	assert_string_equal(v, "");
	/* Bounded attempts. */
	assert_int_equal(dkv_tx_run(C, 0, always_restart, &calls, &o),
			 DKV_ERR_TX_RESTART);
	assert_int_equal(calls, 3);
	assert_int_equal(dkv_tx_run(C, 1, plain_incr, thr_key, NULL),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_run(C, 0, NULL, NULL, NULL), DKV_ERR_INVAL);
}

/* Threads incrementing one counter through dkv_tx_run: serializable, so
 * no increment is lost. */
#define NTHREADS 4
#define NINCR 15

static void *incr_thread(void *arg)
{
	struct dkv_tx_run_opts o = { 1000, 1, 5 };
	long fails = 0;

	(void)arg;
	for (int i = 0; i < NINCR; i++)
		if (dkv_tx_run(C, 0, plain_incr, thr_key, &o) != 0)
			fails++;
	return (void *)fails;
}

static void test_threads(void **state)
{
	pthread_t th[NTHREADS];
	char v[64];

	(void)state;
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, incr_thread,
						NULL),
				 0);
	for (int i = 0; i < NTHREADS; i++) {
		void *fails;

		assert_int_equal(pthread_join(th[i], &fails), 0);
		assert_null(fails);
	}
	stored("{thr}n", v, sizeof(v));
	assert_int_equal(strtol(v, NULL, 10), NTHREADS * NINCR);
}

/* --- conditional writes --------------------------------------------------- */

static void test_conditional(void **state)
{
	dkv_tx_t *tx, *t2;
	char v[64];
	unsigned reads;

	(void)state;
	seed("{c}1", "x");
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(put_s(tx, DKV_COND_INSERT, "{c}1", "y"),
			 DKV_ERR_EXISTS);
	assert_int_equal(put_s(tx, DKV_COND_UPDATE, "{c}2", "y"),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(put_s(tx, DKV_COND_INSERT, "{c}2", "two"), 0);
	reads = T.sent[TXN_MSG_READ];
	assert_int_equal(put_s(tx, DKV_COND_UPDATE, "{c}2", "two2"), 0);
	assert_int_equal(put_s(tx, DKV_COND_INSERT, "{c}2", "no"),
			 DKV_ERR_EXISTS);
	assert_int_equal(T.sent[TXN_MSG_READ], reads); /* its own write */
	assert_int_equal(put_s(tx, DKV_COND_UPDATE, "{c}1", "x2"), 0);
	assert_int_equal(dkv_remove(C, tx, DKV_COND_PUNCH, "{c}3", 4),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_remove(C, tx, 0, "{c}3", 4), 0);
	assert_int_equal(dkv_remove(C, tx, 0, "{c}1", 4), 1);
	assert_int_equal(dkv_remove(C, tx, DKV_COND_PUNCH, "{c}1", 4),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(put_s(tx, DKV_COND_INSERT, "{c}1", "again"), 0);
	assert_int_equal(put_s(tx, DKV_COND_INSERT | DKV_COND_UPDATE, "{c}1",
			       "z"),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_commit(tx), 0);
	dkv_tx_close(tx);
	stored("{c}1", v, sizeof(v));
	assert_string_equal(v, "again");
	stored("{c}2", v, sizeof(v));
	assert_string_equal(v, "two2");
	stored("{c}3", v, sizeof(v));
	assert_string_equal(v, ""); /* nothing written for an absent key */

	/* The condition is validated at commit: an insert-only put whose
	 * key appeared meanwhile aborts. */
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(put_s(tx, DKV_COND_INSERT, "{c}4", "mine"), 0);
	assert_int_equal(dkv_tx_open(C, 0, &t2), 0);
	assert_int_equal(put_s(t2, 0, "{c}4", "theirs"), 0);
	assert_int_equal(dkv_tx_commit(t2), 0);
	dkv_tx_close(t2);
	assert_int_equal(dkv_tx_commit(tx), DKV_ERR_TX_RESTART);
	assert_int_equal(dkv_tx_restart(tx), 0);
	assert_int_equal(put_s(tx, DKV_COND_INSERT, "{c}4", "mine"),
			 DKV_ERR_EXISTS);
	dkv_tx_close(tx);
	stored("{c}4", v, sizeof(v));
	assert_string_equal(v, "theirs");
}

/* --- ranges --------------------------------------------------------------- */

struct seen {
	char keys[16][16];
	char vals[16][16];
	uint64_t epochs[16];
	int n;
	int stop_at; /* cb returns 1 at this item (1-based), 0: never */
};

static int collect(void *arg, const void *k, size_t kl, const void *v,
		   size_t vl, uint64_t epoch)
{
	struct seen *s = arg;

	assert_true(s->n < 16 && kl < 16 && vl < 16);
	memcpy(s->keys[s->n], k, kl);
	s->keys[s->n][kl] = '\0';
	memcpy(s->vals[s->n], v, vl);
	s->vals[s->n][vl] = '\0';
	s->epochs[s->n] = epoch;
	s->n++;
	return s->stop_at == s->n;
}

static void expect(const struct seen *s, const char *const *keys, int n)
{
	assert_int_equal(s->n, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(s->keys[i], keys[i]);
}

static int range(dkv_tx_t *tx, uint64_t flags, uint32_t limit,
		 struct dkv_anchor *a, struct seen *s)
{
	return dkv_range(C, tx, flags, "{r}", 3, "{r}\xff", 4, limit, a,
			 collect, s);
}

static void test_range_merged(void **state)
{
	static const char *const asc[] = { "{r}a", "{r}b", "{r}bb", "{r}d" };
	static const char *const desc[] = { "{r}d", "{r}bb", "{r}b", "{r}a" };
	struct dkv_anchor a = DKV_ANCHOR_INIT;
	struct seen s;
	dkv_tx_t *tx;
	char v[64];
	int rc;

	(void)state;
	seed("{r}a", "A");
	seed("{r}b", "B");
	seed("{r}c", "C");
	seed("{r}d", "D");
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(put_s(tx, 0, "{r}bb", "BB"), 0);
	assert_int_equal(dkv_remove(C, tx, 0, "{r}c", 4), 1);
	assert_int_equal(put_s(tx, 0, "{r}d", "D2"), 0);

	memset(&s, 0, sizeof(s));
	assert_int_equal(range(tx, 0, 0, NULL, &s), 4);
	expect(&s, asc, 4);
	assert_string_equal(s.vals[2], "BB");
	assert_string_equal(s.vals[3], "D2");
	assert_true(s.epochs[0] > 0 && s.epochs[1] > 0);
	assert_int_equal(s.epochs[2], 0); /* its own writes */
	assert_int_equal(s.epochs[3], 0);

	memset(&s, 0, sizeof(s));
	assert_int_equal(range(tx, DKV_RANGE_REVERSE, 0, NULL, &s), 4);
	expect(&s, desc, 4);

	/* One item per call through an anchor, both ways. */
	for (int rev = 0; rev < 2; rev++) {
		memset(&s, 0, sizeof(s));
		while (!dkv_anchor_is_eof(&a)) {
			rc = range(tx, rev ? DKV_RANGE_REVERSE : 0, 1, &a, &s);
			assert_true(rc == 0 || rc == 1);
		}
		expect(&s, rev ? desc : asc, 4);
		dkv_anchor_fini(&a);
	}
	/* cb stops early; the anchor resumes after that item. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 2;
	assert_int_equal(range(tx, 0, 0, &a, &s), 2);
	assert_int_equal(a.da_state, 3u);
	/* The anchor belongs to the transaction. */
	assert_int_equal(range(NULL, 0, 0, &a, &s), DKV_ERR_INVAL);
	assert_int_equal(range(tx, DKV_RANGE_REVERSE, 0, &a, &s),
			 DKV_ERR_INVAL);
	s.stop_at = 0;
	assert_int_equal(range(tx, 0, 0, &a, &s), 2);
	expect(&s, asc, 4);
	assert_true(dkv_anchor_is_eof(&a));
	dkv_anchor_fini(&a);
	/* A half-read anchor is freed by fini. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(range(tx, 0, 1, &a, &s), 1);
	dkv_anchor_fini(&a);
	assert_int_equal(a.da_state, 0u);
	/* Several shards: refused as without a transaction. */
	assert_int_equal(dkv_range(C, tx, 0, "a", 1, "z", 1, 0, NULL,
				   collect, &s),
			 DKV_ERR_UNSUPPORTED);

	assert_int_equal(dkv_tx_commit(tx), 0);
	dkv_tx_close(tx);
	stored("{r}c", v, sizeof(v));
	assert_string_equal(v, "<del>");
	stored("{r}bb", v, sizeof(v));
	assert_string_equal(v, "BB");
}

/* The range callback updates every key it visits, in the transaction. */
struct upd {
	dkv_tx_t *tx;
	int n;
};

static int update_cb(void *arg, const void *k, size_t kl, const void *v,
		     size_t vl, uint64_t epoch)
{
	struct upd *u = arg;

	(void)epoch;
	assert_true(vl == 1 && memcmp(v, "X", 1) != 0); /* not seen twice */
	u->n++;
	return dkv_put(C, u->tx, 0, k, kl, "X", 1);
}

static void test_range_updates(void **state)
{
	struct upd u;
	struct seen s;
	char v[64];

	(void)state;
	seed("{r}a", "A");
	seed("{r}b", "B");
	seed("{r}c", "C");
	memset(&u, 0, sizeof(u));
	assert_int_equal(dkv_tx_open(C, 0, &u.tx), 0);
	assert_int_equal(dkv_range(C, u.tx, 0, "{r}", 3, "{r}\xff", 4, 0,
				   NULL, update_cb, &u),
			 3);
	assert_int_equal(u.n, 3);
	memset(&s, 0, sizeof(s));
	assert_int_equal(range(u.tx, DKV_RANGE_REVERSE, 0, NULL, &s), 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(s.vals[i], "X");
	assert_int_equal(dkv_tx_commit(u.tx), 0);
	dkv_tx_close(u.tx);
	stored("{r}b", v, sizeof(v));
	assert_string_equal(v, "X");
}

/* A key appearing in a range read by a transaction aborts it (no
 * phantoms). */
static void test_range_phantom(void **state)
{
	struct seen s;
	dkv_tx_t *tx, *t2;

	(void)state;
	seed("{r}a", "A");
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(range(tx, 0, 0, NULL, &s), 1);
	assert_int_equal(dkv_tx_open(C, 0, &t2), 0);
	assert_int_equal(put_s(t2, 0, "{r}m", "M"), 0);
	assert_int_equal(dkv_tx_commit(t2), 0);
	dkv_tx_close(t2);
	assert_int_equal(put_s(tx, 0, "{r}count", "1"), 0);
	assert_int_equal(dkv_tx_commit(tx), DKV_ERR_TX_RESTART);
	assert_int_equal(dkv_tx_restart(tx), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(range(tx, 0, 0, NULL, &s), 2);
	assert_int_equal(put_s(tx, 0, "{r}count", "2"), 0);
	assert_int_equal(dkv_tx_commit(tx), 0);
	dkv_tx_close(tx);
}

/* --- abort, states, read-only --------------------------------------------- */

static void test_abort(void **state)
{
	dkv_tx_t *tx;
	char k[32], v[64];
	unsigned total;

	(void)state;
	key_in(1, "ab", k, sizeof(k));
	seed(k, "v0");
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(put_s(tx, 0, k, "v1"), 0);
	total = T.total;
	assert_int_equal(dkv_tx_abort(tx), 0);
	assert_int_equal(T.total, total); /* nothing sent */
	assert_int_equal(get_s(tx, k, v, sizeof(v)), DKV_ERR_STATE);
	assert_int_equal(put_s(tx, 0, k, "v2"), DKV_ERR_STATE);
	assert_int_equal(dkv_tx_commit(tx), DKV_ERR_STATE);
	assert_int_equal(dkv_tx_abort(tx), 0);
	assert_int_equal(dkv_tx_restart(tx), 0);
	assert_int_equal(get_s(tx, k, v, sizeof(v)), 0);
	assert_string_equal(v, "v0"); /* its write is gone */
	assert_int_equal(dkv_tx_commit(tx), 0);
	dkv_tx_close(tx);
	stored(k, v, sizeof(v));
	assert_string_equal(v, "v0");
	/* Closing an open transaction drops it too. */
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(put_s(tx, 0, k, "v3"), 0);
	dkv_tx_close(tx);
	stored(k, v, sizeof(v));
	assert_string_equal(v, "v0");
}

static void test_state_after_commit(void **state)
{
	struct seen s;
	dkv_client_t *c2 = client_new();
	dkv_tx_t *tx, *other;
	char v[64];
	size_t len = sizeof(v);

	(void)state;
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(put_s(tx, 0, "{s}k", "v"), 0);
	assert_int_equal(dkv_tx_commit(tx), 0);
	assert_int_equal(get_s(tx, "{s}k", v, sizeof(v)), DKV_ERR_STATE);
	assert_int_equal(put_s(tx, 0, "{s}k", "w"), DKV_ERR_STATE);
	assert_int_equal(dkv_remove(C, tx, 0, "{s}k", 4), DKV_ERR_STATE);
	memset(&s, 0, sizeof(s));
	assert_int_equal(range(tx, 0, 0, NULL, &s), DKV_ERR_STATE);
	assert_int_equal(dkv_tx_commit(tx), DKV_ERR_STATE);
	assert_int_equal(dkv_tx_restart(tx), DKV_ERR_STATE);
	assert_int_equal(dkv_tx_abort(tx), DKV_ERR_STATE);
	assert_true(dkv_tx_epoch(tx) > 0);
	dkv_tx_close(tx);
	/* A transaction of another handle; bad arguments. */
	assert_int_equal(dkv_tx_open(c2, 0, &other), 0);
	assert_int_equal(dkv_get(C, other, 0, "{s}k", 4, v, &len),
			 DKV_ERR_INVAL);
	dkv_tx_close(other);
	dkv_disconnect(c2);
	assert_int_equal(dkv_tx_open(C, 1, &tx), DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_open(NULL, 0, &tx), DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_open(C, 0, NULL), DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_commit(NULL), DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_restart(NULL), DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_abort(NULL), DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_epoch(NULL), 0);
	dkv_tx_close(NULL);
}

static void test_read_only_sends_nothing(void **state)
{
	struct seen s;
	dkv_tx_t *tx;
	char v[64];
	unsigned total;

	(void)state;
	seed("{ro}a", "A");
	total = T.total;
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(dkv_tx_commit(tx), 0); /* empty */
	assert_true(dkv_tx_epoch(tx) > 0);
	dkv_tx_close(tx);
	assert_int_equal(T.total, total);

	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(get_s(tx, "{ro}a", v, sizeof(v)), 0);
	memset(&s, 0, sizeof(s));
	assert_int_equal(dkv_range(C, tx, 0, "{ro}", 4, "{ro}\xff", 5, 0,
				   NULL, collect, &s),
			 1);
	total = T.total;
	assert_int_equal(dkv_tx_commit(tx), 0);
	assert_int_equal(T.total, total); /* no commit message */
	assert_true(dkv_tx_epoch(tx) > 0);
	dkv_tx_close(tx);
}

/* --- lost answers, failed requests ---------------------------------------- */

static void test_lost_and_failed(void **state)
{
	dkv_tx_t *tx;
	char k[32], v[64];
	unsigned n;

	(void)state;
	key_in(3, "lost", k, sizeof(k));
	seed(k, "v0");
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	/* A lost answer: the READ is sent again. */
	n = T.sent[TXN_MSG_READ];
	T.drop = 1;
	assert_int_equal(get_s(tx, k, v, sizeof(v)), 0);
	assert_string_equal(v, "v0");
	assert_int_equal(T.sent[TXN_MSG_READ], n + 2);
	/* A commit whose answer is lost: STATUS finds it committed. */
	assert_int_equal(put_s(tx, 0, k, "v1"), 0);
	T.drop = 1;
	assert_int_equal(dkv_tx_commit(tx), 0);
	assert_true(T.sent[TXN_MSG_STATUS] >= 1);
	assert_int_equal(stored(k, v, sizeof(v)), dkv_tx_epoch(tx));
	assert_string_equal(v, "v1");
	dkv_tx_close(tx);

	/* A request that failed in transit is lost too. */
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	T.fail = 1;
	T.fail_type = TXN_MSG_READ;
	T.fail_rc = DKV_ERR_IO;
	assert_int_equal(get_s(tx, k, v, sizeof(v)), 0);
	assert_string_equal(v, "v1");
	/* An error no resend cures ends the read; restart to go on. */
	T.fail = 1;
	T.fail_rc = DKV_ERR_AUTH;
	assert_int_equal(get_s(tx, "{x}other", v, sizeof(v)), DKV_ERR_AUTH);
	assert_int_equal(get_s(tx, k, v, sizeof(v)), DKV_ERR_STATE);
	assert_int_equal(dkv_tx_restart(tx), 0);
	assert_int_equal(get_s(tx, k, v, sizeof(v)), 0);
	/* A commit request refused as a whole: not applied. */
	assert_int_equal(put_s(tx, 0, k, "v2"), 0);
	T.fail = 1;
	T.fail_type = TXN_MSG_COMMIT1;
	T.fail_rc = DKV_ERR_UNSUPPORTED;
	assert_int_equal(dkv_tx_commit(tx), DKV_ERR_UNSUPPORTED);
	assert_int_equal(dkv_tx_commit(tx), DKV_ERR_STATE);
	stored(k, v, sizeof(v));
	assert_string_equal(v, "v1");
	assert_int_equal(dkv_tx_restart(tx), 0);
	assert_int_equal(put_s(tx, 0, k, "v3"), 0);
	assert_int_equal(dkv_tx_commit(tx), 0);
	stored(k, v, sizeof(v));
	assert_string_equal(v, "v3");
	dkv_tx_close(tx);
}

/* --- snapshot transactions (dkv_tx_open_snap, dkv_range_shard) ------------ */

/* Commits k = v (v NULL: removes k) in a transaction of its own; the
 * commit epoch. */
static uint64_t seed_e(const char *k, const char *v)
{
	dkv_tx_t *tx;
	uint64_t e;

	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	if (v != NULL)
		assert_int_equal(put_s(tx, 0, k, v), 0);
	else
		assert_int_equal(dkv_remove(C, tx, 0, k, strlen(k)), 1);
	assert_int_equal(dkv_tx_commit(tx), 0);
	e = dkv_tx_epoch(tx);
	dkv_tx_close(tx);
	return e;
}

static void test_snapshot_tx(void **state)
{
	static const char *const at_m[] = { "{sn}a", "{sn}b" };
	char ks[NSHARDS][32], v[64];
	struct dkv_anchor a = DKV_ANCHOR_INIT;
	struct seen s;
	uint64_t m, floor;
	uint32_t n = 0;
	unsigned total;
	dkv_tx_t *tx;
	int rc;

	(void)state;
	/* State at M: {sn}a = A1, {sn}b = B1, one key "old" per shard. */
	seed_e("{sn}a", "A1");
	for (uint32_t i = 0; i < NSHARDS; i++) {
		key_in(i, "sh", ks[i], sizeof(ks[i]));
		seed_e(ks[i], "old");
	}
	m = seed_e("{sn}b", "B1");
	/* Then: a modified, b removed, c added, every shard key changed. */
	assert_true(seed_e("{sn}a", "A2") > m);
	seed_e("{sn}b", NULL);
	seed_e("{sn}c", "C2");
	for (uint32_t i = 0; i < NSHARDS; i++)
		seed_e(ks[i], "new");

	floor = __atomic_load_n(&C->tx_floor, __ATOMIC_ACQUIRE);
	assert_int_equal(dkv_tx_open_snap(C, m, &tx), 0);
	assert_int_equal(dkv_tx_epoch(tx), m);
	assert_int_equal(get_s(tx, "{sn}a", v, sizeof(v)), 0);
	assert_string_equal(v, "A1");
	/* Read exactly at M, no uncertainty. */
	assert_int_equal(T.read_ts, m);
	assert_int_equal(T.read_tu, m);
	assert_int_equal(get_s(tx, "{sn}b", v, sizeof(v)), 0);
	assert_string_equal(v, "B1");
	assert_int_equal(get_s(tx, "{sn}c", v, sizeof(v)), DKV_ERR_NOT_FOUND);
	memset(&s, 0, sizeof(s));
	assert_int_equal(range(tx, 0, 0, NULL, &s), 0); /* {r}: nothing */
	assert_int_equal(dkv_range(C, tx, 0, "{sn}", 4, "{sn}\xff", 5, 0,
				   NULL, collect, &s),
			 2);
	expect(&s, at_m, 2);
	assert_string_equal(s.vals[0], "A1");
	/* No read set kept: memory does not grow with reads. */
	assert_true(txn_tx_nreads(tx->t) <= 1);

	/* Writes: refused, nothing buffered. */
	assert_int_equal(put_s(tx, 0, "{sn}a", "X"), DKV_ERR_READ_ONLY);
	assert_int_equal(put_s(tx, DKV_COND_INSERT, "{sn}z", "X"),
			 DKV_ERR_READ_ONLY);
	assert_int_equal(dkv_remove(C, tx, 0, "{sn}a", 5), DKV_ERR_READ_ONLY);
	assert_int_equal(txn_tx_nwrites(tx->t), 0);

	/* Every shard whole, page by page (range_batch 2, limit 1). */
	assert_int_equal(dkv_shard_count(C, &n), 0);
	assert_int_equal(n, NSHARDS);
	for (uint32_t i = 0; i < NSHARDS; i++) {
		int found = 0;

		memset(&s, 0, sizeof(s));
		while (!dkv_anchor_is_eof(&a)) {
			rc = dkv_range_shard(C, tx, i, 0, NULL, 0, NULL, 0, 1,
					     &a, collect, &s);
			assert_true(rc == 0 || rc == 1);
		}
		dkv_anchor_fini(&a);
		for (int j = 0; j < s.n; j++) {
			assert_int_equal(shard_of(s.keys[j]), i);
			assert_string_not_equal(s.keys[j], "{sn}c");
			if (strcmp(s.keys[j], ks[i]) == 0) {
				assert_string_equal(s.vals[j], "old");
				found = 1;
			}
		}
		assert_true(found);
	}
	/* dkv_range_shard: a tx is required; the shard must exist; an
	 * anchor resumes only its own shard. */
	memset(&s, 0, sizeof(s));
	assert_int_equal(dkv_range_shard(C, NULL, 0, 0, NULL, 0, NULL, 0, 0,
					 NULL, collect, &s),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_range_shard(C, tx, NSHARDS, 0, NULL, 0, NULL, 0,
					 0, NULL, collect, &s),
			 DKV_ERR_NO_SHARD);
	assert_int_equal(dkv_range_shard(C, tx, 0, 0, "b", 1, "a", 1, 0, NULL,
					 collect, &s),
			 0);
	assert_int_equal(dkv_range_shard(C, tx, 0, 0, NULL, 0, NULL, 0, 1, &a,
					 collect, &s),
			 1);
	assert_int_equal(dkv_range_shard(C, tx, 1, 0, NULL, 0, NULL, 0, 1, &a,
					 collect, &s),
			 DKV_ERR_INVAL);
	assert_int_equal(dkv_range(C, tx, 0, NULL, 0, NULL, 0, 1, &a, collect,
				   &s),
			 DKV_ERR_INVAL);
	dkv_anchor_fini(&a);

	/* A shard asking for a restart (busy): sent again at M. */
	total = T.sent[TXN_MSG_READ];
	T.restart = 2;
	assert_int_equal(get_s(tx, "{sn}a", v, sizeof(v)), 0);
	assert_string_equal(v, "A1");
	assert_int_equal(T.sent[TXN_MSG_READ], total + 3);
	assert_int_equal(T.read_ts, m);
	/* ... up to a bound, then DKV_ERR_TX_RESTART; still usable. */
	T.restart = 100;
	assert_int_equal(get_s(tx, "{sn}a", v, sizeof(v)), DKV_ERR_TX_RESTART);
	T.restart = 0;
	assert_int_equal(get_s(tx, "{sn}a", v, sizeof(v)), 0);
	/* Below the watermark: DKV_ERR_EPOCH_TOO_OLD, still usable. */
	T.too_old = 1;
	assert_int_equal(get_s(tx, "{sn}a", v, sizeof(v)),
			 DKV_ERR_EPOCH_TOO_OLD);
	memset(&s, 0, sizeof(s));
	assert_int_equal(dkv_range(C, tx, 0, "{sn}", 4, "{sn}\xff", 5, 0,
				   NULL, collect, &s),
			 DKV_ERR_EPOCH_TOO_OLD);
	assert_int_equal(dkv_range_shard(C, tx, 2, 0, NULL, 0, NULL, 0, 0,
					 NULL, collect, &s),
			 DKV_ERR_EPOCH_TOO_OLD);
	T.too_old = 0;
	/* A restart keeps the epoch. */
	assert_int_equal(dkv_tx_restart(tx), 0);
	assert_int_equal(get_s(tx, "{sn}b", v, sizeof(v)), 0);
	assert_string_equal(v, "B1");
	assert_int_equal(T.read_ts, m);
	assert_int_equal(dkv_tx_epoch(tx), m);

	/* Commit: at once, nothing sent; then as any committed one. */
	total = T.total;
	assert_int_equal(dkv_tx_commit(tx), 0);
	assert_int_equal(T.total, total);
	assert_int_equal(dkv_tx_epoch(tx), m);
	assert_int_equal(get_s(tx, "{sn}a", v, sizeof(v)), DKV_ERR_STATE);
	assert_int_equal(put_s(tx, 0, "{sn}a", "X"), DKV_ERR_READ_ONLY);
	assert_int_equal(dkv_tx_commit(tx), DKV_ERR_STATE);
	dkv_tx_close(tx);
	stored("{sn}a", v, sizeof(v));
	assert_string_equal(v, "A2");
	/* Reading in the past published nothing to the client's clock. */
	assert_int_equal(__atomic_load_n(&C->tx_floor, __ATOMIC_ACQUIRE),
			 floor);

	/* A fixed epoch far ahead is not merged into the client's clock
	 * either. */
	{
		uint64_t ahead = m + (UINT64_C(3600000000000) &
				      ~DKV_HLC_LOGICAL_MASK);

		assert_int_equal(dkv_tx_open_snap(C, ahead, &tx), 0);
		/* The shard asks for a restart (clock offset): not sent
		 * again and again, a clear code. */
		total = T.sent[TXN_MSG_READ];
		assert_int_equal(get_s(tx, "{sn}a", v, sizeof(v)),
				 DKV_ERR_CLOCK_OFFSET);
		assert_int_equal(T.sent[TXN_MSG_READ], total + 1);
		dkv_tx_close(tx);
		assert_true(__atomic_load_n(&C->tx_floor, __ATOMIC_ACQUIRE) <
			    ahead);
		assert_int_equal(seed_e("{sn}d", "D") < ahead, 1);
	}
	/* A later read-write transaction is unaffected. */
	assert_int_equal(dkv_tx_open(C, 0, &tx), 0);
	assert_int_equal(get_s(tx, "{sn}a", v, sizeof(v)), 0);
	assert_string_equal(v, "A2");
	dkv_tx_close(tx);

	/* Bad arguments. */
	assert_int_equal(dkv_tx_open_snap(C, 0, &tx), DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_open_snap(C, UINT64_MAX, &tx), DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_open_snap(NULL, m, &tx), DKV_ERR_INVAL);
	assert_int_equal(dkv_tx_open_snap(C, m, NULL), DKV_ERR_INVAL);
	assert_int_equal(dkv_shard_count(C, NULL), DKV_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_your_writes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_commit_one_shard, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_commit_two_shards, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_conflict_restart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_uncertain_read_restarts,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conditional, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_range_merged, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_range_updates, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_range_phantom, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_after_commit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_read_only_sends_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_and_failed, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_tx, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
