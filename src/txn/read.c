/*
 * read.c - READ and RANGE at a shard (docs/txn.md, "Reads").
 *
 * Happy path: merge ts into the clock (every later write here gets a
 * higher epoch), check the intents on the key (or in the range read), and
 * answer with the newest version at or below ts, read as the newest at or
 * below tu so that a version in (ts, tu] is seen to be uncertain.
 * Failure modes and special cases:
 *  - ts more than the max offset ahead of this clock: RESTART(clock);
 *  - a write intent of another transaction, proposed at or below tu:
 *    its outcome decides (rule 4): aborted, or committed above tu ->
 *    ignored; committed in (ts, tu] -> RESTART(uncertain, tc); committed
 *    at or below ts but not yet applied, or undecided -> the read parks
 *    on it (and a follower asks the leader, STATUS) until it moves, then
 *    runs again; the park lasts at most read_timeout -> RESTART(timeout);
 *    no room to park -> RESTART(busy);
 *  - read locks and the reader's own intents are ignored;
 *  - a version in (ts, tu]: RESTART(uncertain, its epoch);
 *  - the store fails: the error code in the reply.
 * A range read is bounded by its limit; the part read through is
 * [start, next), and only intents and versions in it matter.
 */
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "hlc/hlc.h"
#include "txn/part_int.h"

struct rq {
	const struct txn_msg *msg;
	struct dkv_txid txid;
	uint64_t rid, ts, tu;
	int is_range;
};

static void reply(struct txn_part *p, const struct rq *q, int rc,
		  unsigned reason, uint64_t epoch, const char *val,
		  size_t vlen, const struct txn_items *items,
		  const struct txn_bytes *next)
{
	struct txn_msg m;

	memset(&m, 0, sizeof(m));
	m.to = q->msg->from;
	if (!q->is_range) {
		m.type = TXN_MSG_READ_REPLY;
		m.u.read_reply.txid = q->txid;
		m.u.read_reply.rid = q->rid;
		m.u.read_reply.rc = rc;
		m.u.read_reply.reason = reason;
		m.u.read_reply.epoch = epoch;
		m.u.read_reply.val.p = val;
		m.u.read_reply.val.len = (uint32_t)vlen;
	} else {
		m.type = TXN_MSG_RANGE_REPLY;
		m.u.range_reply.txid = q->txid;
		m.u.range_reply.rid = q->rid;
		m.u.range_reply.rc = rc;
		m.u.range_reply.reason = reason;
		m.u.range_reply.epoch = epoch;
		if (items != NULL)
			m.u.range_reply.items = *items;
		if (next != NULL)
			m.u.range_reply.next = *next;
	}
	{
		uint64_t obs = 0;

		if (dkv_hlc_now(p->io.hlc, &obs) != 0)
			obs = 0;
		if (q->is_range)
			m.u.range_reply.obs = obs;
		else
			m.u.read_reply.obs = obs;
	}
	if (rc == DKV_ERR_TX_RESTART)
		part_restart_count(p, reason);
	part_send(p, &m);
}

static void restart(struct txn_part *p, const struct rq *q, unsigned reason,
		    uint64_t epoch)
{
	reply(p, q, DKV_ERR_TX_RESTART, reason, epoch, NULL, 0, NULL, NULL);
}

enum { R_IGNORE, R_PARK, R_RESTART };

/* What a write intent of another transaction means to this read. */
static int resolve(struct txn_part *p, const struct rq *q,
		   struct txn_intent *in, uint64_t *restart_epoch)
{
	struct ptx *x = in->owner;
	uint64_t tc = 0;

	if (in->kind == TXN_REC_I_READ || dkv_txid_eq(&x->id, &q->txid))
		return R_IGNORE;
	if (x->proposed > q->tu)
		return R_IGNORE; /* rule 3: it commits above tu */
	p->stats.read_met_intent++;
	switch (ptx_known(x, &tc)) {
	case TXN_ST_ABORTED:
		return R_IGNORE;
	case TXN_ST_COMMITTED:
		if (tc > q->tu)
			return R_IGNORE;
		if (tc > q->ts) {
			*restart_epoch = tc;
			return R_RESTART;
		}
		return R_PARK; /* visible at ts once its versions are written */
	default:
		if (x->role == PTX_FOLLOWER)
			follower_ask(p, x);
		return R_PARK;
	}
}

/* Parks the request on x; 1 if parked, 0 if a RESTART went out. */
static int park(struct txn_part *p, const struct rq *q, struct ptx *x,
		uint64_t deadline)
{
	if (deadline == 0)
		p->stats.read_parked++;
	if (part_park(p, x, NULL, q->msg, deadline) == 0)
		return 1;
	restart(p, q, TXN_R_BUSY, 0);
	return 0;
}

static void read_point(struct txn_part *p, const struct rq *q,
		       const struct txn_bytes *key, uint64_t deadline)
{
	struct txn_intent *in;
	struct txn_version v;
	uint64_t e = 0;
	int rc;

	for (in = txn_ii_find(&p->ix, key->p, key->len); in != NULL;
	     in = in->next_on_key) {
		switch (resolve(p, q, in, &e)) {
		case R_RESTART:
			p->stats.read_uncertain++;
			restart(p, q, TXN_R_UNCERTAIN, e);
			return;
		case R_PARK:
			park(p, q, in->owner, deadline);
			return;
		default:
			break;
		}
	}
	memset(&v, 0, sizeof(v));
	rc = p->io.get(p->io.ctx, p->conf.shard, key->p, key->len, q->tu, &v);
	if (rc != 0) {
		reply(p, q, rc, TXN_R_IO, 0, NULL, 0, NULL, NULL);
		return;
	}
	if (v.kind != TXN_V_NONE && v.epoch > q->ts) {
		p->stats.read_uncertain++;
		restart(p, q, TXN_R_UNCERTAIN, v.epoch);
		return;
	}
	if (v.kind == TXN_V_PUT)
		reply(p, q, 0, 0, v.epoch, v.val, v.vlen, NULL, NULL);
	else
		reply(p, q, DKV_ERR_NOT_FOUND, 0,
		      v.kind == TXN_V_DEL ? v.epoch : 0, NULL, 0, NULL, NULL);
}

/* --- ranges --------------------------------------------------------------- */

struct scan {
	const struct rq *q;
	uint32_t limit;
	struct txn_arena_chunk *mem;
	struct txn_item *items;
	uint32_t n, cap;
	uint64_t uncertain; /* epoch of a version in (ts, tu], or 0 */
	int nomem;
	struct txn_bytes next; /* set when the limit stopped the scan */
};

static int scan_cb(void *arg, const char *key, size_t klen,
		   const struct txn_version *v)
{
	struct scan *s = arg;
	struct txn_item *it;
	char *nk;

	if (v->kind == TXN_V_NONE)
		return 0;
	if (v->epoch > s->q->ts) {
		s->uncertain = v->epoch;
		return 1;
	}
	if (v->kind != TXN_V_PUT)
		return 0;
	if (s->n == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 16;
		struct txn_item *ni = realloc(s->items, cap * sizeof(*ni));

		if (ni == NULL) {
			s->nomem = 1;
			return 1;
		}
		s->items = ni;
		s->cap = cap;
	}
	it = &s->items[s->n];
	memset(it, 0, sizeof(*it));
	it->key.p = txn_arena_dup(&s->mem, key, klen);
	it->key.len = (uint32_t)klen;
	it->val.p = txn_arena_dup(&s->mem, v->val, v->vlen);
	it->val.len = (uint32_t)v->vlen;
	it->epoch = v->epoch;
	if ((it->key.p == NULL && klen) || (it->val.p == NULL && v->vlen)) {
		s->nomem = 1;
		return 1;
	}
	s->n++;
	if (s->limit != 0 && s->n == s->limit) {
		/* The range read is [start, key + "\0"): the next call
		 * starts right after this key. */
		nk = txn_arena_alloc(&s->mem, klen + 1);
		if (nk == NULL) {
			s->nomem = 1;
			return 1;
		}
		memcpy(nk, key, klen);
		nk[klen] = '\0';
		s->next.p = nk;
		s->next.len = (uint32_t)klen + 1;
		return 1;
	}
	return 0;
}

struct rint {
	struct txn_part *p;
	const struct rq *q;
	struct ptx *park;
	uint64_t restart;
};

static int range_intent_cb(void *arg, struct txn_intent *in)
{
	struct rint *r = arg;
	uint64_t e = 0;

	switch (resolve(r->p, r->q, in, &e)) {
	case R_RESTART:
		r->restart = e;
		return 1;
	case R_PARK:
		if (r->park == NULL)
			r->park = in->owner;
		return 0;
	default:
		return 0;
	}
}

static void read_range(struct txn_part *p, const struct rq *q,
		       const struct txn_msg_range *m, uint64_t deadline)
{
	struct scan s;
	struct rint ri = { p, q, NULL, 0 };
	struct txn_items items;
	const char *end = m->end.p;
	size_t elen = m->end.len;
	int rc;

	memset(&s, 0, sizeof(s));
	s.q = q;
	s.limit = m->limit;
	rc = p->io.range(p->io.ctx, p->conf.shard, m->start.p, m->start.len,
			 m->end.p, m->end.len, q->tu, scan_cb, &s);
	if (rc < 0 || s.nomem) {
		reply(p, q, rc < 0 ? rc : DKV_ERR_NOMEM, TXN_R_IO, 0, NULL, 0,
		      NULL, NULL);
		goto out;
	}
	if (s.uncertain != 0) {
		p->stats.read_uncertain++;
		restart(p, q, TXN_R_UNCERTAIN, s.uncertain);
		goto out;
	}
	if (s.next.len != 0) {
		end = s.next.p;
		elen = s.next.len;
	}
	txn_ii_foreach_in(&p->ix, m->start.p, m->start.len, end, elen,
			  range_intent_cb, &ri);
	if (ri.restart != 0) {
		p->stats.read_uncertain++;
		restart(p, q, TXN_R_UNCERTAIN, ri.restart);
		goto out;
	}
	if (ri.park != NULL) {
		park(p, q, ri.park, deadline);
		goto out;
	}
	items.v = s.items;
	items.n = s.n;
	reply(p, q, 0, 0, 0, NULL, 0, &items, &s.next);
out:
	free(s.items);
	txn_arena_free(&s.mem);
}

void part_read(struct txn_part *p, const struct txn_msg *msg,
	       uint64_t deadline)
{
	struct rq q;

	memset(&q, 0, sizeof(q));
	q.msg = msg;
	if (msg->type == TXN_MSG_READ) {
		const struct txn_msg_read *m = &msg->u.read;

		q.txid = m->txid;
		q.rid = m->rid;
		q.ts = m->ts;
		q.tu = m->tu;
		if (m->key.len == 0 || m->key.len > p->conf.max_key) {
			p->stats.bad_msg++;
			return;
		}
	} else {
		const struct txn_msg_range *m = &msg->u.range;

		q.is_range = 1;
		q.txid = m->txid;
		q.rid = m->rid;
		q.ts = m->ts;
		q.tu = m->tu;
		if (m->start.len > p->conf.max_key ||
		    m->end.len > p->conf.max_key) {
			p->stats.bad_msg++;
			return;
		}
	}
	if (q.ts == 0) {
		p->stats.bad_msg++;
		return;
	}
	if (q.tu < q.ts)
		q.tu = q.ts;
	if (deadline == 0) {
		p->stats.reads++;
		/* Every later write on this shard lands above ts. */
		if (part_merge(p, q.ts) != 0) {
			restart(p, &q, TXN_R_CLOCK, 0);
			return;
		}
	}
	if (q.is_range)
		read_range(p, &q, &msg->u.range, deadline);
	else
		read_point(p, &q, &msg->u.read.key, deadline);
}
