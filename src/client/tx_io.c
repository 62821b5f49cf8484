/*
 * tx_io.c - how a libdkv transaction's coordinator talks to the nodes
 * (tx_int.h; docs/client.md, "Transactions").
 *
 * The core's io.send() never blocks: it encodes the message (txn_wire) and
 * appends it to the handle's outbox. tx_wait() then sends each message of
 * the outbox to the owner of msg.to (a shard) as a blocking request
 * through dkv_client_exec (routing by the cluster map, -MOVED, -TRYAGAIN,
 * -CLUSTERDOWN and the pools as for every call), feeds the node's reply
 * (an answer message in the txn_wire format) to txn_coord_recv(), ticks
 * the core, and repeats until the operation's callback has fired. A null
 * reply, an error reply or a failed request is a lost message: the core's
 * own timers resend or ask STATUS. Only errors that a resend cannot cure
 * end the call (AUTH, unknown command, too big, malformed).
 *
 * Messages of one round go one after the other: with the blocking API a
 * transaction has one operation in flight, so a round holds one message
 * (plus, rarely, a resend), and rounds to different nodes gain nothing
 * from running concurrently.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "client/conn.h"
#include "client/tx_int.h"
#include "hlc/hlc.h"

/* Past the handle's budget, a commit never waits longer than this for
 * its outcome: the core's commit deadline must stay below half the
 * nodes' horizon (60 s by default, docs/txn.md). */
#define TX_COMMIT_DEADLINE_MAX_MS 25000u
#define TX_COMMIT_WAIT_MS 3000u /* no OUTCOME within this: ask STATUS */
#define TX_IDLE_SLEEP_MS 5u

/* --- time, randomness, routing -------------------------------------------- */

void tx_sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
			       (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

uint64_t tx_rand64(void)
{
	static __thread uint64_t fallback;
	uint64_t v;

	if (getrandom(&v, sizeof(v), 0) == (ssize_t)sizeof(v))
		return v;
	/* No getrandom (very old kernel): splitmix64 over the time. */
	fallback += UINT64_C(0x9e3779b97f4a7c15) ^ dkv_hlc_wall_ns(NULL);
	v = fallback;
	v = (v ^ (v >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	v = (v ^ (v >> 27)) * UINT64_C(0x94d049bb133111eb);
	return v ^ (v >> 31);
}

int tx_key_shard(struct dkv_client *c, const void *key, size_t klen,
		 uint32_t *shard)
{
	struct dkv_cmap *cm = dkv_cmap_get(c);
	int rc = dkv_map_key_shard(cm->map, key, klen, shard);

	dkv_cmap_put(c, cm);
	if (rc != DKV_OK) {
		dkv_set_error("no shard for this key: %s", dkv_strerror(rc));
		return DKV_ERR_NO_SHARD;
	}
	return DKV_OK;
}

static uint64_t io_now_ms(void *ctx)
{
	(void)ctx;
	return dkv_now_ms();
}

static uint64_t io_rand64(void *ctx)
{
	(void)ctx;
	return tx_rand64();
}

static uint32_t io_shard_of(void *ctx, const char *key, size_t klen)
{
	struct dkv_tx *tx = ctx;
	uint32_t shard = 0;

	/* The data calls checked the key already (tx_key_shard). */
	(void)tx_key_shard(tx->c, key, klen, &shard);
	return shard;
}

/* --- the outbox ----------------------------------------------------------- */

static void outbox_free(struct tx_outbox *o)
{
	for (size_t i = 0; i < o->n; i++)
		resp_buf_free(&o->v[i].buf);
	free(o->v);
	memset(o, 0, sizeof(*o));
}

void tx_outbox_clear(struct dkv_tx *tx)
{
	outbox_free(&tx->out);
}

/* io.send: encodes msg and queues it. A message that cannot be queued is
 * lost, as the network may lose it: the core resends or asks. */
static void io_send(void *ctx, const struct txn_msg *msg)
{
	struct dkv_tx *tx = ctx;
	struct tx_outbox *o = &tx->out;
	struct tx_out *e;

	if (msg->to.kind != TXN_ADDR_SHARD || msg->to.id > UINT32_MAX)
		return;
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 4;
		struct tx_out *v = realloc(o->v, cap * sizeof(*v));

		if (v == NULL)
			return;
		o->v = v;
		o->cap = cap;
	}
	e = &o->v[o->n];
	resp_buf_init(&e->buf, 0);
	if (txn_wire_encode(&e->buf, msg) != 0) {
		resp_buf_free(&e->buf);
		return;
	}
	e->shard = (uint32_t)msg->to.id;
	e->type = msg->type;
	o->n++;
}

/* --- the clock and the client's floor ------------------------------------- */

void tx_floor_merge(struct dkv_tx *tx)
{
	uint64_t f = __atomic_load_n(&tx->c->tx_floor, __ATOMIC_ACQUIRE);

	/* Refused only beyond the max offset of this machine's own clock
	 * (it went back): then the transaction starts lower, and the
	 * uncertainty window covers what it may miss. */
	if (f != 0 && f > dkv_hlc_last(tx->hlc))
		(void)dkv_hlc_update(tx->hlc, f);
}

void tx_floor_publish(struct dkv_tx *tx)
{
	uint64_t e, f;

	if (tx->at != 0)
		return; /* a read in the past: nothing to publish */
	e = dkv_hlc_last(tx->hlc);
	f = __atomic_load_n(&tx->c->tx_floor, __ATOMIC_RELAXED);
	while (f < e && !__atomic_compare_exchange_n(&tx->c->tx_floor, &f, e,
						     1, __ATOMIC_RELEASE,
						     __ATOMIC_RELAXED))
		;
}

/* --- the core ------------------------------------------------------------- */

static void conf_init(struct dkv_tx *tx, struct txn_coord_conf *conf)
{
	uint64_t budget = tx->c->timeout_ms;
	uint64_t id = DKV_TX_COORD_BIT | (tx_rand64() & ~DKV_TX_COORD_BIT);

	txn_coord_conf_init(conf, id);
	/* A read gives up with the handle's budget; a commit asks STATUS
	 * after a third of it at most, and reports the outcome unknown once
	 * the budget is spent (capped below half the horizon). */
	conf->read_timeout_ms = budget;
	conf->commit_wait_ms =
		budget / 3 < TX_COMMIT_WAIT_MS ? budget / 3 : TX_COMMIT_WAIT_MS;
	if (conf->commit_wait_ms == 0)
		conf->commit_wait_ms = 1;
	conf->commit_deadline_ms = budget < TX_COMMIT_DEADLINE_MAX_MS
					   ? budget
					   : TX_COMMIT_DEADLINE_MAX_MS;
}

uint64_t tx_read_guard_ms(const struct dkv_tx *tx)
{
	/* The core's read timeout, plus one blocking request's overrun. */
	return 2 * (uint64_t)tx->c->timeout_ms + 1000;
}

uint64_t tx_commit_guard_ms(const struct dkv_tx *tx)
{
	return TX_COMMIT_DEADLINE_MAX_MS + (uint64_t)tx->c->timeout_ms + 1000;
}

int tx_core_create(struct dkv_tx *tx)
{
	struct dkv_hlc_io hio = { NULL, dkv_hlc_wall_ns, NULL, NULL };
	struct txn_coord_conf conf;
	struct txn_coord_io io;
	int rc;

	txn_wire_mem_init(&tx->wmem);
	rc = dkv_hlc_create(&hio, NULL, &tx->hlc);
	if (rc != 0)
		goto out;
	tx_floor_merge(tx);
	conf_init(tx, &conf);
	memset(&io, 0, sizeof(io));
	io.ctx = tx;
	io.send = io_send;
	io.now_ms = io_now_ms;
	io.rand64 = io_rand64;
	io.shard_of = io_shard_of;
	io.hlc = tx->hlc;
	rc = txn_coord_create(&io, &conf, &tx->coord);
	if (rc != 0)
		goto out;
	/* A snapshot transaction reads at its epoch, never merged into any
	 * clock (txn_open_at). */
	rc = tx->at != 0 ? txn_open_at(tx->coord, tx->at, &tx->t)
			 : txn_open(tx->coord, &tx->t);
out:
	return rc;
}

void tx_core_destroy(struct dkv_tx *tx)
{
	txn_close(tx->t);
	tx->t = NULL;
	txn_coord_destroy(tx->coord);
	tx->coord = NULL;
	if (tx->hlc != NULL) {
		tx_floor_publish(tx);
		dkv_hlc_destroy(tx->hlc);
		tx->hlc = NULL;
	}
	tx_outbox_clear(tx);
	txn_wire_mem_free(&tx->wmem);
}

int tx_core_replace(struct dkv_tx *tx)
{
	struct txn_tx *t;
	int rc;

	tx_floor_merge(tx);
	rc = tx->at != 0 ? txn_open_at(tx->coord, tx->at, &t)
			 : txn_open(tx->coord, &t);
	if (rc != 0)
		return rc;
	/* Abandons the old one: its leader goes on alone. */
	txn_close(tx->t);
	tx->t = t;
	return 0;
}

/* --- snapshot transactions ------------------------------------------------- */

/* Sends of one read of a snapshot transaction that a shard answered with
 * a restart (each after a sleep doubling from TX_SNAP_SLEEP_MS). */
#define TX_SNAP_ATTEMPTS 8u
#define TX_SNAP_SLEEP_MS 5u

void tx_snap_prepare(struct dkv_tx *tx)
{
	if (tx->at != 0 && tx->t != NULL && txn_tx_nreads(tx->t) > 0)
		(void)txn_restart(tx->t); /* keeps the epoch (txn_open_at) */
}

int tx_snap_retry(struct dkv_tx *tx, int *rc, unsigned attempt)
{
	uint64_t wall = dkv_hlc_wall_ns(NULL), now;

	if (tx->at == 0)
		return 0;
	if (tx->state == TXS_RESTART || tx->state == TXS_BROKEN) {
		/* Nothing to undo: a new incarnation at the same epoch
		 * drops what is pending. Failing (memory), the handle stays
		 * as it is and says so. */
		if (txn_restart(tx->t) == 0) {
			tx_outbox_clear(tx);
			tx->state = TXS_ACTIVE;
		}
	}
	if (*rc != DKV_ERR_TX_RESTART || tx->state != TXS_ACTIVE)
		return 0;
	/* An epoch's physical part counts nanoseconds since
	 * DKV_HLC_START_UNIX_NS: one beyond the clocks' offset is refused
	 * by every shard, every time. */
	now = wall > DKV_HLC_START_UNIX_NS ? wall - DKV_HLC_START_UNIX_NS : 0;
	if (tx->at > now + DKV_HLC_DEFAULT_MAX_OFFSET_NS) {
		dkv_set_error("epoch %llu is ahead of the nodes' clocks: "
			      "nothing can be read there yet",
			      (unsigned long long)tx->at);
		*rc = DKV_ERR_CLOCK_OFFSET;
		return 0;
	}
	if (attempt + 1 >= TX_SNAP_ATTEMPTS) {
		dkv_set_error("the shard kept asking to read again at epoch "
			      "%llu (%u attempts): an undecided transaction "
			      "or a busy shard",
			      (unsigned long long)tx->at, TX_SNAP_ATTEMPTS);
		return 0;
	}
	tx_sleep_ms((uint64_t)TX_SNAP_SLEEP_MS << attempt);
	return 1;
}

/* --- sending -------------------------------------------------------------- */

/* The node's answer: a message for the coordinator, or nothing. */
static int on_reply(void *arg, const struct resp_reply *r)
{
	struct dkv_tx *tx = arg;
	struct txn_msg m;

	if (r->type != RESP_ARRAY)
		return 0; /* null: no answer within the node's wait */
	if (txn_wire_decode_reply(r, NULL, &m, &tx->wmem) != 0)
		return 0; /* a lost message, as far as the core knows */
	txn_coord_recv(tx->coord, &m);
	return 0;
}

/* Errors that sending the same request again cannot cure. */
static int is_fatal(int rc)
{
	return rc == DKV_ERR_AUTH || rc == DKV_ERR_UNSUPPORTED ||
	       rc == DKV_ERR_TOO_BIG || rc == DKV_ERR_INVAL ||
	       rc == DKV_ERR_NO_SHARD || rc == DKV_ERR_NOMEM ||
	       rc == DKV_ERR_PROTO;
}

static int send_one(struct dkv_tx *tx, struct resp_cmd_parser *p,
		    const struct tx_out *o)
{
	struct dkv_client *c = tx->c;
	struct dkv_creq rq;
	struct resp_cmd cmd;
	size_t used = 0;
	int rc;

	resp_cmd_parser_reset(p);
	if (resp_cmd_parse(p, o->buf.data, o->buf.len, &cmd, &used) != 1)
		return 0; /* our own encoding: cannot happen */
	memset(&rq, 0, sizeof(rq));
	rq.argc = cmd.argc;
	rq.argv = cmd.argv;
	rq.argvlen = cmd.argvlen;
	rq.by = DKV_ROUTE_SHARD;
	rq.shard = o->shard;
	/* Reads and STATUS may be sent again when a connection breaks; a
	 * commit request is sent once (a lost answer is asked with STATUS):
	 * so a fatal error reply to it proves it was not applied. */
	rq.write = o->type == TXN_MSG_COMMIT1 || o->type == TXN_MSG_PREPARE_L;
	rq.on_reply = on_reply;
	rq.arg = tx;
	rc = c->txn_exec != NULL ? c->txn_exec(c, &rq)
				 : dkv_client_exec(c, &rq);
	if (rc >= 0 || !is_fatal(rc) || o->type == TXN_MSG_STATUS)
		return 0; /* answered, or lost */
	return rc;
}

/* Sends every queued message (those queued meanwhile wait for the next
 * round). 0 or a fatal code. */
static int drain(struct dkv_tx *tx)
{
	struct tx_outbox round = tx->out;
	struct resp_cmd_parser p;
	int rc = 0;

	memset(&tx->out, 0, sizeof(tx->out));
	resp_cmd_parser_init(&p, NULL);
	for (size_t i = 0; i < round.n && !tx->w.done && rc == 0; i++)
		rc = send_one(tx, &p, &round.v[i]);
	resp_cmd_parser_free(&p);
	outbox_free(&round);
	return rc;
}

int tx_wait(struct dkv_tx *tx, uint64_t guard_ms)
{
	uint64_t end = dkv_now_ms() + guard_ms;
	int rc;

	for (;;) {
		rc = drain(tx);
		if (rc != 0 || tx->w.done)
			break;
		txn_coord_tick(tx->coord, dkv_now_ms());
		if (tx->w.done)
			break;
		if (tx->out.n > 0)
			continue;
		if (dkv_now_ms() >= end) {
			dkv_set_error("transaction: no answer in %llu ms",
				      (unsigned long long)guard_ms);
			rc = DKV_ERR_TIMEOUT;
			break;
		}
		tx_sleep_ms(TX_IDLE_SLEEP_MS);
	}
	/* What is left belongs to the finished operation (resends). */
	tx_outbox_clear(tx);
	tx_floor_publish(tx);
	return rc;
}
