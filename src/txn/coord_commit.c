/*
 * coord_commit.c - the coordinator's commit (coord.h; docs/txn.md
 * "Commit" and the in-doubt table's coordinator rows): COMMIT1 or
 * PREPARE_L built from the transaction cache, OUTCOME, STATUS on a lost
 * answer, the commit deadline, and the tick that drives resends and
 * timeouts. Failure modes: see coord.c.
 */
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "hlc/hlc.h"
#include "txn/coord_int.h"

/* --- commit ----------------------------------------------------------------- */

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Sends COMMIT1 or PREPARE_L built from the sets. */
static int send_commit(struct txn_tx *tx)
{
	struct txn_coord *c = tx->c;
	size_t nw = tx->writes.n, nr = tx->reads.n, ng = tx->nranges;
	struct txn_write *w = calloc(nw ? nw : 1, sizeof(*w));
	struct txn_read *r = calloc(nr ? nr : 1, sizeof(*r));
	struct txn_range *g = calloc(ng ? ng : 1, sizeof(*g));
	uint32_t *parts = calloc(nw + nr + ng + 1, sizeof(*parts));
	uint32_t np = 0, i, k2, leader = UINT32_MAX;
	struct kentry *e;
	struct krange *k;
	struct txn_msg m;
	int rc = DKV_ERR_NOMEM;

	if (w == NULL || r == NULL || g == NULL || parts == NULL)
		goto out;
	i = 0;
	for (e = tx->writes.head; e != NULL; e = e->next, i++) {
		w[i].shard = e->shard;
		w[i].kind = e->kind;
		w[i].key.p = e->key;
		w[i].key.len = e->klen;
		w[i].val.p = e->val;
		w[i].val.len = e->vlen;
		parts[np++] = e->shard;
		if (e->shard < leader)
			leader = e->shard;
	}
	i = 0;
	for (e = tx->reads.head; e != NULL; e = e->next, i++) {
		r[i].shard = e->shard;
		r[i].key.p = e->key;
		r[i].key.len = e->klen;
		r[i].epoch = e->epoch;
		parts[np++] = e->shard;
	}
	i = 0;
	for (k = tx->ranges; k != NULL; k = k->next, i++) {
		g[i].shard = k->shard;
		g[i].start = k->start;
		g[i].end = k->end;
		parts[np++] = k->shard;
	}
	/* The participants: every distinct shard, ascending. */
	qsort(parts, np, sizeof(*parts), u32_cmp);
	for (i = 0, k2 = 0; i < np; i++)
		if (k2 == 0 || parts[i] != parts[k2 - 1])
			parts[k2++] = parts[i];
	np = k2;
	memset(&m, 0, sizeof(m));
	m.to.kind = TXN_ADDR_SHARD;
	tx->leader = leader;
	if (np == 1) {
		m.type = TXN_MSG_COMMIT1;
		m.to.id = leader;
		m.u.commit1.txid = tx->id;
		m.u.commit1.ts = tx->ts;
		m.u.commit1.sent = tx->sent;
		m.u.commit1.writes.v = w;
		m.u.commit1.writes.n = (uint32_t)nw;
		m.u.commit1.reads.v = r;
		m.u.commit1.reads.n = (uint32_t)nr;
		m.u.commit1.ranges.v = g;
		m.u.commit1.ranges.n = (uint32_t)ng;
		c->stats.commit1++;
	} else {
		m.type = TXN_MSG_PREPARE_L;
		m.to.id = leader;
		m.u.prepare_l.txid = tx->id;
		m.u.prepare_l.ts = tx->ts;
		m.u.prepare_l.sent = tx->sent;
		m.u.prepare_l.parts.v = parts;
		m.u.prepare_l.parts.n = np;
		m.u.prepare_l.writes.v = w;
		m.u.prepare_l.writes.n = (uint32_t)nw;
		m.u.prepare_l.reads.v = r;
		m.u.prepare_l.reads.n = (uint32_t)nr;
		m.u.prepare_l.ranges.v = g;
		m.u.prepare_l.ranges.n = (uint32_t)ng;
		c->stats.commit2++;
	}
	coord_send(c, &m);
	rc = 0;
out:
	free(w);
	free(r);
	free(g);
	free(parts);
	return rc;
}

int txn_commit(struct txn_tx *tx, txn_commit_cb cb, void *arg)
{
	struct txn_coord *c = tx->c;
	uint64_t t;
	int rc = coord_writable(tx);

	if (rc != 0)
		return rc;
	if (tx->ops != NULL)
		return DKV_ERR_BUSY;
	if (tx->writes.n == 0) {
		/* Read-only: its reads were a consistent state at ts. */
		tx->tc = tx->ts;
		dkv_sm_move(&tx->sm, CT_COMMITTED);
		c->stats.committed++;
		c->stats.committed_ro++;
		return 0;
	}
	rc = dkv_hlc_now(c->io.hlc, &tx->sent);
	if (rc != 0)
		return rc;
	rc = send_commit(tx);
	if (rc != 0)
		return rc;
	t = coord_now(c);
	tx->ccb = cb;
	tx->carg = arg;
	tx->status_at = t + c->conf.commit_wait_ms;
	tx->deadline = t + c->conf.commit_deadline_ms;
	tx->backoff = c->conf.status_resend_ms;
	dkv_sm_move(&tx->sm, CT_COMMITTING);
	return TXN_PENDING;
}

/* The outcome is known (or given up on): report it. May free tx. */
static void commit_done(struct txn_tx *tx, int rc, uint64_t tc, unsigned reason)
{
	struct txn_coord *c = tx->c;

	if (rc == 0) {
		coord_merge(c, tc);
		tx->tc = tc;
		dkv_sm_move(&tx->sm, CT_COMMITTED);
		c->stats.committed++;
	} else if (rc == DKV_ERR_TX_RESTART) {
		dkv_sm_move(&tx->sm, CT_ABORTED);
		c->stats.aborted++;
		if (reason < TXN_R_COUNT_)
			c->stats.restart_by[reason]++;
	} else {
		dkv_sm_move(&tx->sm, CT_UNKNOWN);
		c->stats.unknown++;
	}
	tx->ccb(tx->carg, rc, tc);
}

static void send_status(struct txn_tx *tx)
{
	struct txn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_STATUS;
	m.to.kind = TXN_ADDR_SHARD;
	m.to.id = tx->leader;
	m.u.status.txid = tx->id;
	m.u.status.sent = tx->sent;
	m.u.status.abort_if_unknown = 1;
	coord_send(tx->c, &m);
}

static void on_outcome(struct txn_tx *tx, const struct txn_msg_outcome *m)
{
	if (coord_state(tx) != CT_COMMITTING && coord_state(tx) != CT_ASKING)
		return;
	if (m->rc == 0 && m->tc != 0)
		commit_done(tx, 0, m->tc, 0);
	else if (m->rc == DKV_ERR_TX_RESTART)
		commit_done(tx, DKV_ERR_TX_RESTART, 0, m->reason);
}

static void on_status_reply(struct txn_tx *tx,
			    const struct txn_msg_status_reply *m)
{
	if (coord_state(tx) != CT_ASKING)
		return;
	if (m->state == TXN_ST_COMMITTED && m->tc != 0) {
		tx->c->stats.status_resolved++;
		commit_done(tx, 0, m->tc, 0);
	} else if (m->state == TXN_ST_ABORTED) {
		tx->c->stats.status_resolved++;
		commit_done(tx, DKV_ERR_TX_RESTART, 0, TXN_R_ABORTED);
	}
}

void txn_coord_recv(struct txn_coord *c, const struct txn_msg *msg)
{
	const struct dkv_txid *id = txn_msg_txid(msg);
	struct txn_tx *tx;

	if (id == NULL || msg->to.kind != TXN_ADDR_COORD ||
	    msg->to.id != c->conf.id)
		return;
	tx = coord_find(c, id);
	if (tx == NULL)
		return; /* closed, restarted, or never ours */
	switch (msg->type) {
	case TXN_MSG_READ_REPLY:
		coord_on_read_reply(tx, &msg->u.read_reply);
		break;
	case TXN_MSG_RANGE_REPLY:
		coord_on_range_reply(tx, &msg->u.range_reply);
		break;
	case TXN_MSG_OUTCOME:
		on_outcome(tx, &msg->u.outcome);
		break;
	case TXN_MSG_STATUS_REPLY:
		on_status_reply(tx, &msg->u.status_reply);
		break;
	default:
		break;
	}
}

/*
 * Handles the first due event of tx; 1 if a callback ran (tx and any other
 * transaction may be gone: the caller starts over), 0 otherwise.
 */
static int tick_tx(struct txn_tx *tx, uint64_t t)
{
	struct txn_coord *c = tx->c;
	struct cop *op;

	for (op = tx->ops; op != NULL; op = op->next) {
		if (t >= op->deadline) {
			op = coord_op_take(tx, op->rid);
			c->stats.read_timeout++;
			if (op->is_range)
				op->rcb(op->arg, DKV_ERR_TIMEOUT, NULL, 0,
					NULL, 0);
			else
				op->gcb(op->arg, DKV_ERR_TIMEOUT, NULL, 0, 0);
			coord_op_free(op);
			return 1;
		}
		if (t >= op->next_send) {
			c->stats.read_resend++;
			op->next_send = t + c->conf.read_resend_ms;
			coord_send_op(tx, op);
		}
	}
	switch (coord_state(tx)) {
	case CT_COMMITTING:
		if (t < tx->status_at)
			break;
		/* The answer is late or lost: ask the leader. */
		c->stats.in_doubt++;
		tx->status_at = 0;
		dkv_sm_move(&tx->sm, CT_ASKING);
		send_status(tx);
		tx->next_send = t + tx->backoff;
		break;
	case CT_ASKING:
		if (t >= tx->deadline) {
			commit_done(tx, DKV_ERR_TIMEOUT, 0, 0);
			return 1;
		}
		if (t < tx->next_send)
			break;
		send_status(tx);
		if (tx->backoff < 8 * c->conf.status_resend_ms)
			tx->backoff *= 2;
		tx->next_send = t + tx->backoff;
		break;
	default:
		break;
	}
	return 0;
}

void txn_coord_tick(struct txn_coord *c, uint64_t t)
{
	struct txn_tx *tx;

again:
	for (tx = c->all; tx != NULL; tx = tx->next)
		if (tick_tx(tx, t))
			goto again;
}
