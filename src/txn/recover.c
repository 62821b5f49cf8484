/*
 * recover.c - rebuilding a shard's transactions from its durable records
 * after a (re)start, and resuming each (docs/txn.md, in-doubt table).
 *
 * Happy path: scan "D" (tombstones), "T" (leader records), "F" (follower
 * logs), then "I" twice (count, then fill each transaction's writes and
 * read locks); rebuild the intent index; then
 *  - T PREPARING: the leader died before the commit point -> ABORTED
 *    (durable), then ABORT to every follower until ACK;
 *  - T COMMITTED: the leader died before every ACK -> COMMIT resent to
 *    every follower until ACK, then FINISHED;
 *  - F PREPARED: the follower died after preparing -> its intents block
 *    writers and resolve readers again; it asks the leader STATUS now.
 * Failure modes: the store fails a scan -> its code; a record that does
 * not decode -> DKV_ERR_CORRUPT (the shard does not start: a guess could
 * lose a commit); an intent without its transaction's record, or a
 * transaction with two records -> DKV_ERR_CORRUPT likewise.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dkv_err.h"
#include "txn/part_int.h"

struct rctx {
	struct txn_part *p;
	int pass; /* intents: 0 count, 1 fill */
	int rc;
};

static int corrupt(struct rctx *c, const char *what, const char *key,
		   size_t klen)
{
	DKV_ERROR("txn", "shard %u: corrupt %s record (key %zu bytes, '%c')",
		  c->p->conf.shard, what, klen, klen ? key[0] : '?');
	c->rc = DKV_ERR_CORRUPT;
	return DKV_ERR_CORRUPT;
}

static int done_cb(void *arg, const char *key, size_t klen, const char *val,
		   size_t vlen)
{
	struct rctx *c = arg;
	struct txn_rec_done d;
	struct dkv_txid id;
	char kind;

	if (txn_rec_txid_key_parse(key, klen, &kind, &id) != 0 ||
	    kind != TXN_REC_DONE || txn_rec_done_decode(val, vlen, &d) != 0 ||
	    ptx_find(c->p, &id) != NULL)
		return corrupt(c, "tombstone", key, klen);
	if (ptx_tomb_from_done(c->p, &id, &d) == NULL)
		return c->rc = DKV_ERR_NOMEM;
	c->p->stats.rec_tombstones++;
	return 0;
}

static int copy_ranges(struct ptx *x, const struct txn_ranges *g)
{
	struct txn_writes nw = { 0 }, ow;
	struct txn_reads nr = { 0 }, orr;

	return ptx_copy_items(x, UINT32_MAX, &nw, &nr, g, &ow, &orr, &x->g);
}

static int log_cb(void *arg, const char *key, size_t klen, const char *val,
		  size_t vlen)
{
	struct rctx *c = arg;
	struct txn_part *p = c->p;
	struct txn_rec_tx r;
	struct dkv_txid id;
	struct ptx *x = NULL;
	char kind;
	int rc;

	if (txn_rec_txid_key_parse(key, klen, &kind, &id) != 0 ||
	    (kind != TXN_REC_TX && kind != TXN_REC_FOLLOW) ||
	    ptx_find(p, &id) != NULL)
		return corrupt(c, "transaction", key, klen);
	rc = txn_rec_tx_decode(val, vlen, &r);
	if (rc != 0)
		return corrupt(c, "transaction", key, klen);
	if (kind == TXN_REC_TX && r.state != TXN_REC_PREPARING &&
	    r.state != TXN_REC_COMMITTED)
		goto bad;
	if (kind == TXN_REC_FOLLOW && r.state != TXN_REC_PREPARED)
		goto bad;
	x = ptx_new(p, &id, kind == TXN_REC_TX ? PTX_LEADER : PTX_FOLLOWER,
		    r.state == TXN_REC_PREPARING   ? PTX_PREPARING
		    : r.state == TXN_REC_COMMITTED ? PTX_COMMITTED
						   : PTX_PREPARED);
	if (x == NULL)
		goto nomem;
	x->has_log = 1;
	x->leader = kind == TXN_REC_TX ? p->conf.shard : r.leader;
	x->ts = r.ts;
	x->sent = r.sent;
	x->proposed = r.proposed;
	x->tc = r.tc;
	if (r.state == TXN_REC_COMMITTED) {
		x->outcome = TXN_ST_COMMITTED;
		x->final = 1;
	}
	if (copy_ranges(x, &r.ranges) != 0)
		goto nomem;
	if (kind == TXN_REC_TX && r.parts.n > 0) {
		x->fols = calloc(r.parts.n, sizeof(*x->fols));
		if (x->fols == NULL)
			goto nomem;
		for (uint32_t i = 0; i < r.parts.n; i++)
			if (r.parts.v[i] != p->conf.shard)
				x->fols[x->nf++].shard = r.parts.v[i];
	}
	if (kind == TXN_REC_TX && r.state == TXN_REC_PREPARING)
		p->stats.rec_preparing++;
	else if (kind == TXN_REC_TX)
		p->stats.rec_committed++;
	else
		p->stats.rec_prepared++;
	txn_rec_tx_release(&r);
	return 0;
bad:
	txn_rec_tx_release(&r);
	return corrupt(c, "transaction", key, klen);
nomem:
	txn_rec_tx_release(&r);
	return c->rc = DKV_ERR_NOMEM;
}

/* Pass 0 counts each transaction's writes and reads (in w.n / r.n);
 * pass 1 fills the arrays allocated in between. */
static int intent_cb(void *arg, const char *key, size_t klen, const char *val,
		     size_t vlen)
{
	struct rctx *c = arg;
	const char *ukey, *v;
	size_t uklen, vl;
	struct dkv_txid id;
	unsigned kind;
	struct ptx *x;

	if (txn_rec_intent_key_parse(key, klen, &ukey, &uklen, &id) != 0 ||
	    txn_rec_intent_decode(val, vlen, &kind, &v, &vl) != 0)
		return corrupt(c, "intent", key, klen);
	x = ptx_find(c->p, &id);
	if (x == NULL ||
	    (ptx_state(x) != PTX_PREPARING && ptx_state(x) != PTX_PREPARED))
		return corrupt(c, "intent (no transaction)", key, klen);
	if (c->pass == 0) {
		if (kind == TXN_REC_I_READ)
			x->r.n++;
		else
			x->w.n++;
		return 0;
	}
	if (kind == TXN_REC_I_READ) {
		struct txn_read *r = &x->r.v[x->r.n++];

		memset(r, 0, sizeof(*r));
		r->key.p = txn_arena_dup(&x->mem, ukey, uklen);
		r->key.len = (uint32_t)uklen;
		return r->key.p ? 0 : (c->rc = DKV_ERR_NOMEM);
	} else {
		struct txn_write *w = &x->w.v[x->w.n++];

		memset(w, 0, sizeof(*w));
		w->shard = c->p->conf.shard;
		w->kind = kind == TXN_REC_I_PUT ? TXN_W_PUT : TXN_W_DEL;
		w->key.p = txn_arena_dup(&x->mem, ukey, uklen);
		w->key.len = (uint32_t)uklen;
		w->val.p = txn_arena_dup(&x->mem, v, vl);
		w->val.len = (uint32_t)vl;
		if (w->key.p == NULL || (vl && w->val.p == NULL))
			return c->rc = DKV_ERR_NOMEM;
		return 0;
	}
}

static int scan(struct rctx *c, char prefix, txn_plain_cb cb)
{
	int rc = c->p->io.scan_plain(c->p->io.ctx, c->p->conf.shard, &prefix,
				     1, cb, c);

	if (c->rc != 0)
		return c->rc;
	return rc < 0 ? rc : 0;
}

static int alloc_items(struct txn_part *p)
{
	struct ptx *x;

	for (x = p->all; x != NULL; x = x->next) {
		uint32_t nw = x->w.n, nr = x->r.n;

		x->w.n = 0;
		x->r.n = 0;
		if (nw) {
			x->w.v = txn_arena_alloc(&x->mem, nw * sizeof(*x->w.v));
			if (x->w.v == NULL)
				return DKV_ERR_NOMEM;
		}
		if (nr) {
			x->r.v = txn_arena_alloc(&x->mem, nr * sizeof(*x->r.v));
			if (x->r.v == NULL)
				return DKV_ERR_NOMEM;
		}
	}
	return 0;
}

int txn_part_recover(struct txn_part *p)
{
	struct rctx c = { p, 0, 0 };
	struct ptx *x, *xn;
	uint64_t now;
	int rc;

	if (p->recovered)
		return DKV_ERR_STATE;
	rc = scan(&c, TXN_REC_DONE, done_cb);
	if (rc == 0)
		rc = scan(&c, TXN_REC_TX, log_cb);
	if (rc == 0)
		rc = scan(&c, TXN_REC_FOLLOW, log_cb);
	if (rc == 0)
		rc = scan(&c, TXN_REC_INTENT, intent_cb);
	if (rc == 0)
		rc = alloc_items(p);
	c.pass = 1;
	if (rc == 0)
		rc = scan(&c, TXN_REC_INTENT, intent_cb);
	if (rc != 0)
		goto out;
	for (x = p->all; x != NULL; x = x->next) {
		if (ptx_state(x) != PTX_PREPARING &&
		    ptx_state(x) != PTX_PREPARED)
			continue;
		rc = ptx_place(p, x);
		if (rc != 0)
			goto out;
		p->stats.rec_intents += x->w.n + x->r.n;
	}
	p->recovered = 1;
	now = part_now(p);
	for (x = p->all; x != NULL; x = xn) {
		xn = x->next;
		switch (ptx_state(x)) {
		case PTX_PREPARING: /* died before the commit point */
			leader_abort(p, x, TXN_R_ABORTED);
			break;
		case PTX_COMMITTED: /* died before every ACK */
			if (x->nf == 0) {
				leader_finish(p, x); /* nobody to tell */
				break;
			}
			leader_send_outcome(p, x);
			x->backoff = p->conf.resend_min_ms;
			x->next_send = now + x->backoff;
			break;
		case PTX_PREPARED: /* died after preparing */
			follower_ask(p, x);
			x->backoff = p->conf.resend_min_ms;
			x->next_send = now + x->backoff;
			break;
		default:
			break;
		}
	}
out:
	return rc;
}
