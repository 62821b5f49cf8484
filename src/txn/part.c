/*
 * part.c - the participant's frame: life cycle, time and sending, message
 * dispatch, the tick (timeouts, resends) and the collection of outcome
 * tombstones. The transactions themselves (table, durable writes,
 * parking) are in ptx.c; the protocol in leader.c, follower.c, read.c
 * and validate.c (map: part_int.h).
 *
 * Happy path: a message is dispatched by type; a handler creates or finds
 * the transaction (struct ptx), moves it through its state machine,
 * submits its durable batch, and continues in the batch's done callback.
 * Failure modes:
 *  - a durable write fails: the part stops (failed = 1) and drops every
 *    message; the binding must restart the shard, which recovers from the
 *    durable records (nothing half-done is ever acknowledged);
 *  - a message for another shard, before recovery, or malformed: dropped
 *    and counted (bad_msg);
 *  - too many parked requests: RESTART(busy) instead of parking;
 *  - a parked request times out: RESTART(timeout) (tick);
 *  - out of memory: the request is dropped (the sender's timeout covers
 *    it), or the part fails when state would be lost.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dkv_err.h"
#include "hlc/hlc.h"
#include "txn/part_int.h"

void txn_part_conf_init(struct txn_part_conf *conf, uint32_t shard)
{
	memset(conf, 0, sizeof(*conf));
	conf->shard = shard;
	conf->prepare_timeout_ms = 2000;
	conf->resend_min_ms = 250;
	conf->resend_max_ms = 2000;
	conf->wait_timeout_ms = 1000;
	conf->read_timeout_ms = 1000;
	conf->status_after_ms = 2000;
	conf->horizon_ms = 60000;
	conf->tomb_mem_ms = 2000;
	conf->max_parked = 1024;
	conf->max_key = 64u << 10;
	conf->max_value = 64u << 20;
}

int txn_part_create(const struct txn_io *io, const struct txn_part_conf *conf,
		    struct txn_part **out)
{
	struct txn_part *p = NULL;
	int rc = DKV_ERR_INVAL;

	if (io == NULL || conf == NULL || out == NULL || io->get == NULL ||
	    io->range == NULL || io->scan_plain == NULL ||
	    io->submit == NULL || io->send == NULL || io->now_ms == NULL ||
	    io->hlc == NULL || conf->horizon_ms == 0 ||
	    conf->resend_min_ms == 0 || conf->max_key == 0)
		goto out;
	rc = DKV_ERR_NOMEM;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		goto out;
	p->io = *io;
	p->conf = *conf;
	if (p->conf.resend_max_ms < p->conf.resend_min_ms)
		p->conf.resend_max_ms = p->conf.resend_min_ms;
	p->nbuckets = 64;
	p->tab = calloc(p->nbuckets, sizeof(*p->tab));
	if (p->tab == NULL || txn_ii_init(&p->ix) != 0) {
		free(p->tab);
		free(p);
		p = NULL;
		goto out;
	}
	txn_batch_init(&p->gc, conf->shard);
	*out = p;
	rc = 0;
out:
	return rc;
}

void txn_part_destroy(struct txn_part *p)
{
	struct ptx *x, *xn;
	struct pwait *w, *wn;

	if (p == NULL)
		return;
	for (w = p->waits; w != NULL; w = wn) {
		wn = w->next;
		txn_msg_free(&w->msg);
		free(w);
	}
	for (x = p->all; x != NULL; x = xn) {
		xn = x->next;
		txn_batch_free(&x->batch);
		txn_arena_free(&x->mem);
		free(x->fols);
		free(x);
	}
	txn_ii_fini(&p->ix);
	txn_batch_free(&p->gc);
	txn_buf_free(&p->kbuf);
	txn_buf_free(&p->vbuf);
	free(p->tab);
	free(p);
}

/* --- time, epochs, sending --------------------------------------------- */

uint64_t part_now(struct txn_part *p)
{
	return p->io.now_ms(p->io.ctx);
}

uint64_t part_epoch(struct txn_part *p)
{
	uint64_t e = 0;

	if (dkv_hlc_now(p->io.hlc, &e) != 0)
		return 0;
	return e;
}

int part_merge(struct txn_part *p, uint64_t epoch)
{
	int rc;

	if (epoch == 0)
		return 0;
	rc = dkv_hlc_update(p->io.hlc, epoch);
	if (rc == DKV_ERR_CLOCK_OFFSET)
		p->stats.clock_refused++;
	return rc == DKV_ERR_INVAL ? 0 : rc;
}

uint64_t part_horizon(const struct txn_part *p)
{
	return p->conf.horizon_ms * UINT64_C(1000000);
}

int part_too_old(struct txn_part *p, uint64_t sent)
{
	/* A fresh epoch, not the last one: on an idle node that one lags
	 * real time and would let an old request pass. */
	uint64_t now = part_epoch(p);

	if (now == 0)
		now = dkv_hlc_last(p->io.hlc);
	return sent + part_horizon(p) / 2 < now;
}

void part_send(struct txn_part *p, struct txn_msg *msg)
{
	msg->from.kind = TXN_ADDR_SHARD;
	msg->from.id = p->conf.shard;
	p->io.send(p->io.ctx, msg);
}

void part_fail(struct txn_part *p, const char *what, int rc)
{
	if (!p->failed)
		DKV_ERROR("txn", "shard %u: %s failed (%s): the shard stops "
			  "until it is restarted and recovers",
			  p->conf.shard, what, dkv_strerror(rc));
	p->failed = 1;
}

void part_restart_count(struct txn_part *p, unsigned reason)
{
	if (reason < TXN_R_COUNT_)
		p->stats.restart_by[reason]++;
}

void part_reply_outcome(struct txn_part *p, struct ptx *x)
{
	struct txn_msg m;

	if (x->coord.kind == TXN_ADDR_NONE || x->outcome == 0)
		return;
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_OUTCOME;
	m.to = x->coord;
	m.u.outcome.txid = x->id;
	if (x->outcome == TXN_ST_COMMITTED) {
		m.u.outcome.rc = 0;
		m.u.outcome.tc = x->tc;
	} else {
		m.u.outcome.rc = DKV_ERR_TX_RESTART;
		m.u.outcome.reason = x->reason;
	}
	part_send(p, &m);
}

/* --- dispatch ------------------------------------------------------------- */

/* --- outcome tombstones on disk ---------------------------------------------
 *
 * A DONE transaction stays in memory tomb_mem_ms (duplicates and late
 * messages come soon), then only its durable D record remains (a DONE
 * without one, a follower that refused, leaves nothing: a late PREPARE
 * then prepares, asks the leader and learns ABORTED, as after a restart).
 * A message that may repeat an evicted transaction's (its sent at or below
 * evict_floor) reloads the tombstone from its D record first, so every
 * handler sees what it saw before; the collection deletes expired D
 * records of evicted tombstones by scanning the D keys, which sort by
 * txid.hi, the transaction's first start: from the oldest up to the first
 * that cannot have expired. */

struct tload {
	int found;
	struct txn_rec_done d;
};

static int tload_cb(void *arg, const char *key, size_t klen, const char *val,
		    size_t vlen)
{
	struct tload *t = arg;

	(void)key;
	(void)klen;
	if (txn_rec_done_decode(val, vlen, &t->d) != 0)
		return DKV_ERR_CORRUPT;
	t->found = 1;
	return 1;
}

static void tomb_reload(struct txn_part *p, const struct txn_msg *m)
{
	char key[TXN_REC_TXID_KEY_LEN];
	const struct dkv_txid *id;
	struct tload t = { 0 };
	uint64_t sent;
	int rc;

	switch (m->type) {
	case TXN_MSG_COMMIT1:
		id = &m->u.commit1.txid;
		sent = m->u.commit1.sent;
		break;
	case TXN_MSG_PREPARE_L:
		id = &m->u.prepare_l.txid;
		sent = m->u.prepare_l.sent;
		break;
	case TXN_MSG_PREPARE:
		id = &m->u.prepare.txid;
		sent = m->u.prepare.sent;
		break;
	case TXN_MSG_STATUS:
		id = &m->u.status.txid;
		sent = m->u.status.sent;
		break;
	default:
		return;
	}
	if (p->evicted == 0 || sent > p->evict_floor || ptx_find(p, id) != NULL)
		return;
	txn_rec_txid_key(key, TXN_REC_DONE, id);
	rc = p->io.scan_plain(p->io.ctx, p->conf.shard, key, sizeof(key),
			      tload_cb, &t);
	if (rc < 0) {
		part_fail(p, "reading an outcome tombstone", rc);
		return;
	}
	if (!t.found)
		return;
	if (ptx_tomb_from_done(p, id, &t.d) == NULL)
		return; /* as if evicted: the handler's fallback applies */
	p->stats.tombstones_reloaded++;
}

struct dscan {
	struct txn_part *p;
	uint64_t now_epoch;
	size_t n;
};

/* Expired D records of evicted tombstones into the deletion batch. */
static int dscan_cb(void *arg, const char *key, size_t klen, const char *val,
		    size_t vlen)
{
	struct dscan *c = arg;
	struct txn_part *p = c->p;
	struct txn_rec_done d;
	struct dkv_txid id;
	char kind;

	if (txn_rec_txid_key_parse(key, klen, &kind, &id) != 0 ||
	    kind != TXN_REC_DONE)
		return 0; /* not ours to judge here */
	if (id.hi + part_horizon(p) >= c->now_epoch)
		return 1; /* sent >= hi: none from here on has expired */
	if (ptx_find(p, &id) != NULL || txn_rec_done_decode(val, vlen, &d) != 0 ||
	    d.sent + part_horizon(p) >= c->now_epoch)
		return 0;
	if (txn_batch_add(&p->gc, TXN_BOP_DEL_PLAIN, key, klen, NULL, 0, 0) != 0)
		return 1;
	p->stats.tombstones_disk_collected++;
	return ++c->n >= 4096;
}

void txn_part_recv(struct txn_part *p, const struct txn_msg *msg)
{
	if (p->failed || !p->recovered)
		return;
	if (msg->to.kind != TXN_ADDR_SHARD || msg->to.id != p->conf.shard) {
		p->stats.bad_msg++;
		return;
	}
	tomb_reload(p, msg);
	if (p->failed)
		return;
	switch (msg->type) {
	case TXN_MSG_READ:
	case TXN_MSG_RANGE:
		part_read(p, msg, 0);
		break;
	case TXN_MSG_COMMIT1:
		leader_commit1(p, msg);
		break;
	case TXN_MSG_PREPARE_L:
		leader_prepare_l(p, msg);
		break;
	case TXN_MSG_PREPARED:
		leader_prepared(p, msg);
		break;
	case TXN_MSG_REFUSED:
		leader_refused(p, msg);
		break;
	case TXN_MSG_ACK:
		leader_ack(p, msg);
		break;
	case TXN_MSG_STATUS:
		leader_status(p, msg);
		break;
	case TXN_MSG_PREPARE:
		follower_prepare(p, msg);
		break;
	case TXN_MSG_COMMIT:
		follower_commit(p, msg);
		break;
	case TXN_MSG_ABORT:
		follower_abort(p, msg);
		break;
	case TXN_MSG_STATUS_REPLY:
		follower_status_reply(p, msg);
		break;
	default:
		p->stats.bad_msg++;
		break;
	}
}

static void gc_done(void *arg, int rc)
{
	struct txn_part *p = arg;

	p->nbatches--;
	p->gc_busy = 0;
	txn_batch_free(&p->gc);
	txn_batch_init(&p->gc, p->conf.shard);
	if (rc != 0)
		part_fail(p, "collecting tombstones", rc);
}

/* --- tick ---------------------------------------------------------------- */

static void tick_waiters(struct txn_part *p, uint64_t now)
{
	struct pwait *w, *wn;

	for (w = p->waits; w != NULL; w = wn) {
		struct ptx *tx = w->tx;
		struct txn_msg m;

		wn = w->next;
		if (now < w->deadline)
			continue;
		if (tx != NULL) {
			/* Refusing a validating tx frees no other waiter:
			 * it holds no intents, so nobody waits on it. */
			part_unpark(p, w);
			p->stats.wait_timeout++;
			tx->reason = TXN_R_LOCKED;
			if (tx->role == PTX_FOLLOWER)
				follower_on_refuse(p, tx);
			else
				leader_on_refuse(p, tx);
			continue;
		}
		memset(&m, 0, sizeof(m));
		m.to = w->msg.from;
		if (w->msg.type == TXN_MSG_READ) {
			m.type = TXN_MSG_READ_REPLY;
			m.u.read_reply.txid = w->msg.u.read.txid;
			m.u.read_reply.rid = w->msg.u.read.rid;
			m.u.read_reply.rc = DKV_ERR_TX_RESTART;
			m.u.read_reply.reason = TXN_R_TIMEOUT;
		} else {
			m.type = TXN_MSG_RANGE_REPLY;
			m.u.range_reply.txid = w->msg.u.range.txid;
			m.u.range_reply.rid = w->msg.u.range.rid;
			m.u.range_reply.rc = DKV_ERR_TX_RESTART;
			m.u.range_reply.reason = TXN_R_TIMEOUT;
		}
		p->stats.read_timeout++;
		part_restart_count(p, TXN_R_TIMEOUT);
		part_send(p, &m);
		part_unpark(p, w);
	}
}

/* Collects the tombstones past the horizon (one deletion batch at a
 * time), and leaves the older ones on disk only. */
static void tick_gc(struct txn_part *p, struct ptx *x, uint64_t now_epoch,
		    uint64_t now)
{
	char key[TXN_REC_TXID_KEY_LEN];

	if (x->waiters != NULL)
		return;
	if (x->sent + part_horizon(p) >= now_epoch) {
		if (x->done_ms == 0) {
			x->done_ms = now;
		} else if (now - x->done_ms >= p->conf.tomb_mem_ms) {
			if (x->sent > p->evict_floor)
				p->evict_floor = x->sent;
			p->evicted++;
			p->stats.tombstones_evicted++;
			ptx_free(p, x);
		}
		return;
	}
	if (x->has_d) {
		if (p->gc_busy)
			return;
		txn_rec_txid_key(key, TXN_REC_DONE, &x->id);
		if (txn_batch_add(&p->gc, TXN_BOP_DEL_PLAIN, key, sizeof(key),
				  NULL, 0, 0) != 0)
			return;
	}
	p->stats.tombstones_collected++;
	ptx_free(p, x);
}

void txn_part_tick(struct txn_part *p, uint64_t now)
{
	struct ptx *x, *xn;
	uint64_t now_epoch;
	int rc;

	if (p->failed || !p->recovered)
		return;
	tick_waiters(p, now);
	for (x = p->active; x != NULL && !p->failed; x = xn) {
		xn = x->anext;
		switch (ptx_state(x)) {
		case PTX_PREPARING:
		case PTX_COMMITTED:
		case PTX_ABORTED:
			leader_tick(p, x, now);
			break;
		case PTX_PREPARED:
			follower_tick(p, x, now);
			break;
		default:
			break;
		}
	}
	/* Tombstones past the horizon, once a second (a tombstone lives a
	 * horizon, 60 s by default: a second more is nothing). */
	if (now >= p->gc_at_ms && !p->failed) {
		p->gc_at_ms = now + 1000;
		now_epoch = part_epoch(p);
		for (x = p->all; now_epoch != 0 && x != NULL && !p->failed;
		     x = xn) {
			xn = x->next;
			if (ptx_state(x) == PTX_DONE)
				tick_gc(p, x, now_epoch, now);
		}
		if (p->evicted > 0 && now_epoch != 0 && !p->gc_busy &&
		    !p->failed) {
			struct dscan c = { p, now_epoch, 0 };
			char prefix = TXN_REC_DONE;

			rc = p->io.scan_plain(p->io.ctx, p->conf.shard, &prefix,
					      1, dscan_cb, &c);
			if (rc < 0) {
				part_fail(p, "collecting tombstones", rc);
				return;
			}
		}
	}
	if (p->gc.n > 0 && !p->gc_busy && !p->failed) {
		rc = p->io.submit(p->io.ctx, &p->gc, gc_done, p);
		if (rc != 0) {
			part_fail(p, "collecting tombstones", rc);
			return;
		}
		p->gc_busy = 1;
		p->nbatches++;
	}
}

void txn_part_info(const struct txn_part *p, struct txn_part_info *out)
{
	const struct ptx *x;

	memset(out, 0, sizeof(*out));
	out->intents = p->ix.nintents;
	out->range_locks = p->ix.nranges;
	out->txns = p->ntx;
	out->parked = p->nparked;
	out->batches = p->nbatches;
	out->failed = p->failed;
	for (x = p->all; x != NULL; x = x->next) {
		unsigned s = ptx_state(x);

		if (s == PTX_DONE)
			out->tombstones++;
		else if (s == PTX_VALIDATING || s == PTX_PREPARING_W ||
			 s == PTX_PREPARING || s == PTX_PREPARED)
			out->undecided++;
	}
}

size_t txn_part_pending_at(const struct txn_part *p, uint64_t epoch)
{
	const struct ptx *x;
	size_t n = 0;

	for (x = p->active; x != NULL; x = x->anext) {
		unsigned s = ptx_state(x);

		if (s != PTX_PREPARING_W && s != PTX_PREPARING &&
		    s != PTX_PREPARED && s != PTX_COMMITTING_W)
			continue;
		if ((x->proposed != 0 && x->proposed <= epoch) ||
		    (x->tc != 0 && x->tc <= epoch))
			n++;
	}
	return n;
}

const struct txn_part_stats *txn_part_stats(const struct txn_part *p)
{
	return &p->stats;
}

/* --- queries for plain reads and writes ------------------------------------ */

int txn_part_locked(const struct txn_part *p, const char *key, size_t klen,
		    int kind)
{
	const struct txn_intent *in;

	if (p->ix.nkeys == 0 && p->ix.nranges == 0)
		return 0; /* the common case, on every plain GET and SET */
	for (in = txn_ii_find(&p->ix, key, klen); in != NULL;
	     in = in->next_on_key)
		if (kind == TXN_LOCK_WRITE || in->kind == TXN_REC_I_PUT ||
		    in->kind == TXN_REC_I_DEL)
			return 1;
	if (kind == TXN_LOCK_WRITE &&
	    txn_ii_range_covering(&p->ix, key, klen, NULL) != NULL)
		return 1;
	return 0;
}

static int any_write_cb(void *arg, struct txn_intent *in)
{
	(void)arg;
	return in->kind == TXN_REC_I_PUT || in->kind == TXN_REC_I_DEL;
}

int txn_part_locked_range(const struct txn_part *p, const char *start,
			  size_t slen, const char *end, size_t elen)
{
	return txn_ii_foreach_in(&p->ix, start, slen, end, elen, any_write_cb,
				 NULL) != 0;
}
