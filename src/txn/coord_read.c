/*
 * coord_read.c - the coordinator's reads (coord.h; docs/txn.md "Reads"):
 * point reads answered from the write set or sent to the key's shard,
 * range reads merged with the buffered writes of their shard, the replies
 * recorded in the read set, restarts asked for by a shard. Failure modes:
 * see coord.c.
 */
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "txn/coord_int.h"

uint64_t coord_tu_for(const struct txn_tx *tx, uint32_t shard)
{
	uint64_t tu = tx->tu;

	for (size_t i = 0; i < tx->nobs; i++)
		if (tx->obs[i].shard == shard && tx->obs[i].obs < tu)
			tu = tx->obs[i].obs;
	return tu < tx->ts ? tx->ts : tu;
}

void coord_observe(struct txn_tx *tx, uint32_t shard, uint64_t obs)
{
	if (obs == 0)
		return;
	for (size_t i = 0; i < tx->nobs; i++)
		if (tx->obs[i].shard == shard) {
			if (obs < tx->obs[i].obs)
				tx->obs[i].obs = obs;
			return;
		}
	if (tx->nobs == tx->capobs) {
		size_t cap = tx->capobs ? 2 * tx->capobs : 4;
		struct tx_obs *o = realloc(tx->obs, cap * sizeof(*o));

		if (o == NULL)
			return; /* only a tighter limit is lost */
		tx->obs = o;
		tx->capobs = cap;
	}
	tx->obs[tx->nobs].shard = shard;
	tx->obs[tx->nobs].obs = obs;
	tx->nobs++;
}

void coord_send_op(struct txn_tx *tx, struct cop *op)
{
	struct txn_msg m;

	memset(&m, 0, sizeof(m));
	m.to.kind = TXN_ADDR_SHARD;
	m.to.id = op->shard;
	if (!op->is_range) {
		m.type = TXN_MSG_READ;
		m.u.read.txid = tx->id;
		m.u.read.rid = op->rid;
		m.u.read.ts = tx->ts;
		m.u.read.tu = coord_tu_for(tx, op->shard);
		m.u.read.key = op->key;
	} else {
		m.type = TXN_MSG_RANGE;
		m.u.range.txid = tx->id;
		m.u.range.rid = op->rid;
		m.u.range.ts = tx->ts;
		m.u.range.tu = coord_tu_for(tx, op->shard);
		m.u.range.start = op->start;
		m.u.range.end = op->end;
		m.u.range.limit = op->limit;
	}
	coord_send(tx->c, &m);
}

static struct cop *op_new(struct txn_tx *tx)
{
	struct txn_coord *c = tx->c;
	struct cop *op = calloc(1, sizeof(*op));
	uint64_t t = coord_now(c);

	if (op == NULL)
		return NULL;
	op->rid = ++c->next_rid;
	op->deadline = t + c->conf.read_timeout_ms;
	op->next_send = t + c->conf.read_resend_ms;
	return op;
}

static void op_link(struct txn_tx *tx, struct cop *op)
{
	op->next = tx->ops;
	tx->ops = op;
}

int txn_get(struct txn_tx *tx, const char *key, size_t klen,
	    struct txn_bytes *out, txn_get_cb cb, void *arg)
{
	struct txn_coord *c = tx->c;
	struct kentry *e;
	struct cop *op;
	int rc = coord_writable(tx);

	if (rc == 0)
		rc = coord_check_key(tx, klen);
	if (rc != 0)
		return rc;
	e = kset_find(&tx->writes, key, klen);
	if (e != NULL) {
		c->stats.ryw_hits++;
		if (e->kind != TXN_W_PUT)
			return DKV_ERR_NOT_FOUND;
		out->p = e->val;
		out->len = e->vlen;
		return 0;
	}
	op = op_new(tx);
	if (op == NULL || coord_dup_bytes(&op->key, key, klen) != 0) {
		if (op != NULL)
			coord_op_free(op);
		return DKV_ERR_NOMEM;
	}
	op->shard = c->io.shard_of(c->io.ctx, key, klen);
	op->gcb = cb;
	op->arg = arg;
	op_link(tx, op);
	coord_send_op(tx, op);
	return TXN_PENDING;
}

int txn_range(struct txn_tx *tx, uint32_t shard, const char *start,
	      size_t slen, const char *end, size_t elen, uint32_t limit,
	      txn_range_cb cb, void *arg)
{
	struct cop *op;
	int rc = coord_writable(tx);

	if (rc != 0)
		return rc;
	if (slen > tx->c->conf.max_key || elen > tx->c->conf.max_key)
		return DKV_ERR_INVAL;
	op = op_new(tx);
	if (op == NULL || coord_dup_bytes(&op->start, start, slen) != 0 ||
	    coord_dup_bytes(&op->end, end, elen) != 0) {
		if (op != NULL)
			coord_op_free(op);
		return DKV_ERR_NOMEM;
	}
	op->is_range = 1;
	op->shard = shard;
	op->limit = limit;
	op->rcb = cb;
	op->arg = arg;
	op_link(tx, op);
	coord_send_op(tx, op);
	return TXN_PENDING;
}

struct cop *coord_op_take(struct txn_tx *tx, uint64_t rid)
{
	struct cop **pp, *op;

	for (pp = &tx->ops; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->rid == rid) {
			op = *pp;
			*pp = op->next;
			return op;
		}
	return NULL;
}

static void must_restart(struct txn_tx *tx, unsigned reason, uint64_t epoch)
{
	struct txn_coord *c = tx->c;

	c->stats.read_restart++;
	if (reason < TXN_R_COUNT_)
		c->stats.restart_by[reason]++;
	if (epoch > tx->restart_epoch)
		tx->restart_epoch = epoch;
	if (coord_state(tx) == CT_ACTIVE)
		dkv_sm_move(&tx->sm, CT_MUST_RESTART);
}

void coord_on_read_reply(struct txn_tx *tx,
			 const struct txn_msg_read_reply *m)
{
	struct cop *op = coord_op_take(tx, m->rid);
	int rc = m->rc;

	if (op == NULL || op->is_range) {
		if (op != NULL)
			coord_op_free(op);
		return;
	}
	coord_observe(tx, op->shard, m->obs);
	if (rc == DKV_ERR_TX_RESTART) {
		must_restart(tx, m->reason, m->epoch);
	} else if (coord_state(tx) != CT_ACTIVE) {
		rc = DKV_ERR_TX_RESTART;
	} else if (rc == 0 || rc == DKV_ERR_NOT_FOUND) {
		coord_merge(tx->c, m->epoch);
		if (kset_put(&tx->reads, op->shard, op->key.p, op->key.len, 0,
			     NULL, 0, m->epoch, 0) != 0)
			rc = DKV_ERR_NOMEM;
	}
	/* The callback may close tx: nothing touches it afterwards. */
	op->gcb(op->arg, rc, rc == 0 ? m->val.p : NULL, rc == 0 ? m->val.len : 0,
		rc == 0 || rc == DKV_ERR_NOT_FOUND ? m->epoch : 0);
	coord_op_free(op);
}

void coord_on_range_reply(struct txn_tx *tx,
			  const struct txn_msg_range_reply *m)
{
	struct cop *op = coord_op_take(tx, m->rid);
	struct txn_item *items = NULL;
	struct krange *r = NULL;
	struct txn_bytes next = { NULL, 0 };
	char *next_mem = NULL;
	uint32_t n = 0;
	int rc = m->rc;

	if (op == NULL || !op->is_range) {
		if (op != NULL)
			coord_op_free(op);
		return;
	}
	coord_observe(tx, op->shard, m->obs);
	if (rc == DKV_ERR_TX_RESTART) {
		must_restart(tx, m->reason, m->epoch);
		goto call;
	}
	if (coord_state(tx) != CT_ACTIVE) {
		rc = DKV_ERR_TX_RESTART;
		goto call;
	}
	if (rc != 0)
		goto call;
	/* The read covered [start, next) or the whole [start, end). */
	r = calloc(1, sizeof(*r));
	if (r == NULL || coord_dup_bytes(&r->start, op->start.p, op->start.len) ||
	    (m->next.len ? coord_dup_bytes(&r->end, m->next.p, m->next.len)
			 : coord_dup_bytes(&r->end, op->end.p, op->end.len))) {
		rc = DKV_ERR_NOMEM;
		goto call;
	}
	rc = kset_merge_range(&tx->writes, op->shard, m->items.v, m->items.n,
			      r->start.p, r->start.len, r->end.p, r->end.len,
			      &m->next, op->limit, &items, &n, &next,
			      &next_mem);
	if (rc != 0)
		goto call;
	for (uint32_t i = 0; i < m->items.n; i++)
		coord_merge(tx->c, m->items.v[i].epoch);
	r->shard = op->shard;
	r->next = tx->ranges;
	tx->ranges = r;
	tx->nranges++;
	r = NULL;
call:
	if (r != NULL) {
		free((char *)r->start.p);
		free((char *)r->end.p);
		free(r);
	}
	op->rcb(op->arg, rc, items, n, next.p, next.len);
	free(items);
	free(next_mem);
	coord_op_free(op);
}

