/*
 * validate.c - validation of a transaction's part at a shard (COMMIT1, the
 * leader's own part, each follower), and the intents it then places
 * (docs/txn.md, "Validation" and "Waiting: wait-die").
 *
 * Happy path: no other transaction holds a conflicting intent or lock, no
 * written key has a version above ts (write-write), every read key's
 * newest version is the one read and no read range has a version above
 * ts (read set); the caller then places write intents, read locks and
 * range locks, and proposes its epoch.
 * Failure modes:
 *  - a conflicting holder whose outcome is decided, or a single-key
 *    COMMIT1, or a requester older than every undecided holder: VAL_PARK
 *    on the first holder (wait-die: the older waits);
 *  - any undecided holder older than the requester: VAL_FAIL, LOCKED
 *    (the younger dies);
 *  - a version above ts on a written key, in a transaction that read
 *    something: VAL_FAIL, WW (blind writes need no such check);
 *  - a read key or range changed: VAL_FAIL, RW (skipped only under the
 *    test knob test_skip_read_validation);
 *  - the store fails a read: VAL_FAIL, IO;
 *  - parking is refused (too many waiters): the caller's RESTART(busy).
 */
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "hlc/hlc.h"
#include "txn/part_int.h"

int part_items_ok(const struct txn_part *p, const struct txn_writes *w,
		  const struct txn_reads *r, const struct txn_ranges *g)
{
	uint32_t i;

	if ((w->n && w->v == NULL) || (r->n && r->v == NULL) ||
	    (g->n && g->v == NULL))
		return 0;
	for (i = 0; i < w->n; i++) {
		const struct txn_write *x = &w->v[i];

		if (x->key.len == 0 || x->key.len > p->conf.max_key ||
		    x->val.len > p->conf.max_value ||
		    (x->kind != TXN_W_PUT && x->kind != TXN_W_DEL))
			return 0;
	}
	for (i = 0; i < r->n; i++)
		if (r->v[i].key.len == 0 || r->v[i].key.len > p->conf.max_key)
			return 0;
	for (i = 0; i < g->n; i++)
		if (g->v[i].start.len > p->conf.max_key ||
		    g->v[i].end.len > p->conf.max_key)
			return 0;
	return 1;
}

/* --- locks and wait-die ------------------------------------------------- */

struct vctx {
	struct txn_part *p;
	struct ptx *x;
	struct ptx *blocker; /* the first holder to wait for */
	int die;
};

/* One conflicting holder h. 1 stops the walk (the requester dies). */
static int conflict(struct vctx *c, struct ptx *h)
{
	if (h == c->x)
		return 0;
	/* A decided holder waits only for its durable write or its
	 * outcome's delivery: waiting for it closes no cycle. */
	if (h->outcome == 0 && !c->x->always_wait &&
	    txn_wait_die(&c->x->id, &h->id, 0) == TXN_WD_DIE) {
		c->die = 1;
		return 1;
	}
	if (c->blocker == NULL)
		c->blocker = h;
	return 0;
}

static int is_write(const struct txn_intent *in)
{
	return in->kind == TXN_REC_I_PUT || in->kind == TXN_REC_I_DEL;
}

static int range_intent_cb(void *arg, struct txn_intent *in)
{
	struct vctx *c = arg;

	if (!is_write(in))
		return 0;
	return conflict(c, in->owner);
}

/* 1 if a write that bypasses the transaction layer is in flight on one
 * of x's keys or ranges (txn_io.busy). */
static int check_busy(const struct txn_part *p, const struct ptx *x)
{
	const struct txn_io *io = &p->io;
	uint32_t i;

	if (io->busy == NULL)
		return 0;
	for (i = 0; i < x->w.n; i++)
		if (io->busy(io->ctx, p->conf.shard, x->w.v[i].key.p,
			     x->w.v[i].key.len))
			return 1;
	for (i = 0; i < x->r.n; i++)
		if (io->busy(io->ctx, p->conf.shard, x->r.v[i].key.p,
			     x->r.v[i].key.len))
			return 1;
	for (i = 0; io->busy_range != NULL && i < x->g.n; i++)
		if (io->busy_range(io->ctx, p->conf.shard, x->g.v[i].start.p,
				   x->g.v[i].start.len, x->g.v[i].end.p,
				   x->g.v[i].end.len))
			return 1;
	return 0;
}

/* 1 if the walk must stop (die). */
static int check_locks(struct vctx *c)
{
	struct txn_part *p = c->p;
	struct ptx *x = c->x;
	struct txn_intent *in;
	struct txn_rlock *rl;
	uint32_t i;

	if (check_busy(p, x)) {
		c->die = 1;
		return 1;
	}

	for (i = 0; i < x->w.n; i++) {
		const struct txn_bytes *k = &x->w.v[i].key;

		for (in = txn_ii_find(&p->ix, k->p, k->len); in != NULL;
		     in = in->next_on_key)
			if (conflict(c, in->owner))
				return 1;
		for (rl = txn_ii_range_covering(&p->ix, k->p, k->len, NULL);
		     rl != NULL;
		     rl = txn_ii_range_covering(&p->ix, k->p, k->len, rl))
			if (conflict(c, rl->owner))
				return 1;
	}
	for (i = 0; i < x->r.n; i++) {
		const struct txn_bytes *k = &x->r.v[i].key;

		for (in = txn_ii_find(&p->ix, k->p, k->len); in != NULL;
		     in = in->next_on_key)
			if (is_write(in) && conflict(c, in->owner))
				return 1;
	}
	for (i = 0; i < x->g.n; i++) {
		const struct txn_range *g = &x->g.v[i];

		if (txn_ii_foreach_in(&p->ix, g->start.p, g->start.len,
				      g->end.p, g->end.len, range_intent_cb,
				      c) != 0)
			return 1;
	}
	return 0;
}

/* --- the store checks ------------------------------------------------------ */

struct range_check {
	uint64_t ts;
	int changed;
};

static int range_check_cb(void *arg, const char *key, size_t klen,
			  const struct txn_version *v)
{
	struct range_check *rc = arg;

	(void)key;
	(void)klen;
	if (v->kind != TXN_V_NONE && v->epoch > rc->ts) {
		rc->changed = 1;
		return 1;
	}
	return 0;
}

static int newest_epoch(struct txn_part *p, const struct txn_bytes *k,
			uint64_t *epoch)
{
	struct txn_version v;
	int rc;

	memset(&v, 0, sizeof(v));
	rc = p->io.get(p->io.ctx, p->conf.shard, k->p, k->len, DKV_EPOCH_MAX,
		       &v);
	if (rc != 0)
		return rc;
	*epoch = v.kind == TXN_V_NONE ? 0 : v.epoch;
	return 0;
}

/* 0 valid, or the reason. */
static unsigned check_store(struct txn_part *p, struct ptx *x)
{
	uint64_t e;
	uint32_t i;

	/* A transaction that read nothing (blind writes: MSET, MULTI with
	 * SETs only) is serializable at its commit epoch whatever was
	 * written after its start, as a plain SET is: no write-write check,
	 * no store reads. Its writes still land above every version here
	 * (the proposal comes from this shard's clock) and wait for intents
	 * (the lock check). With reads, first committer wins. */
	for (i = 0; (x->r.n > 0 || x->g.n > 0) && i < x->w.n; i++) {
		if (newest_epoch(p, &x->w.v[i].key, &e) != 0)
			return TXN_R_IO;
		if (e > x->ts)
			return TXN_R_WW; /* first committer wins */
	}
	if (p->conf.test_skip_read_validation)
		return 0;
	for (i = 0; i < x->r.n; i++) {
		if (newest_epoch(p, &x->r.v[i].key, &e) != 0)
			return TXN_R_IO;
		if (e != x->r.v[i].epoch)
			return TXN_R_RW;
	}
	for (i = 0; i < x->g.n; i++) {
		const struct txn_range *g = &x->g.v[i];
		struct range_check c = { x->ts, 0 };

		if (p->io.range(p->io.ctx, p->conf.shard, g->start.p,
				g->start.len, g->end.p, g->end.len,
				DKV_EPOCH_MAX, range_check_cb, &c) < 0)
			return TXN_R_IO;
		if (c.changed)
			return TXN_R_RW;
	}
	return 0;
}

int ptx_validate(struct txn_part *p, struct ptx *x, struct ptx **blocker)
{
	struct vctx c = { p, x, NULL, 0 };
	unsigned reason;

	if (check_locks(&c)) {
		p->stats.wd_die++;
		x->reason = TXN_R_LOCKED;
		return VAL_FAIL;
	}
	if (c.blocker != NULL) {
		*blocker = c.blocker;
		return VAL_PARK;
	}
	reason = check_store(p, x);
	if (reason != 0) {
		x->reason = (uint8_t)reason;
		return VAL_FAIL;
	}
	return VAL_PASS;
}

void ptx_run_validation(struct txn_part *p, struct ptx *x)
{
	struct ptx *blocker = NULL;
	int v;

	if (p->failed)
		return;
	v = ptx_validate(p, x, &blocker);
	if (v == VAL_PARK) {
		if (part_park(p, blocker, x, NULL, x->deadline) == 0) {
			p->stats.wd_wait++;
			return;
		}
		x->reason = TXN_R_BUSY;
		v = VAL_FAIL;
	}
	if (v == VAL_PASS) {
		if (x->role == PTX_FOLLOWER)
			follower_on_valid(p, x);
		else
			leader_on_valid(p, x);
		return;
	}
	if (x->role == PTX_FOLLOWER)
		follower_on_refuse(p, x);
	else
		leader_on_refuse(p, x);
}

/* --- intents -------------------------------------------------------------- */

/* Whether x has a write intent on key. */
static int writes_key(struct txn_part *p, struct ptx *x,
		      const struct txn_bytes *k)
{
	struct txn_intent *in = txn_ii_find(&p->ix, k->p, k->len);

	for (; in != NULL; in = in->next_on_key)
		if (in->owner == x && is_write(in))
			return 1;
	return 0;
}

static int add_intent(struct txn_part *p, struct ptx *x,
		      const struct txn_bytes *k, unsigned kind,
		      const struct txn_bytes *val)
{
	struct txn_intent *in;
	int rc = txn_ii_add(&p->ix, k->p, k->len, x, &x->id, kind,
			    val ? val->p : NULL, val ? val->len : 0, &in);

	if (rc != 0)
		return rc;
	in->next_of_owner = x->intents;
	x->intents = in;
	return 0;
}

static void remove_all(struct txn_part *p, struct ptx *x)
{
	struct txn_intent *in, *inn;
	struct txn_rlock *rl, *rln;

	for (in = x->intents; in != NULL; in = inn) {
		inn = in->next_of_owner;
		txn_ii_remove(&p->ix, in);
	}
	x->intents = NULL;
	for (rl = x->rlocks; rl != NULL; rl = rln) {
		rln = rl->next_of_owner;
		txn_ii_range_remove(&p->ix, rl);
	}
	x->rlocks = NULL;
}

int ptx_place(struct txn_part *p, struct ptx *x)
{
	struct txn_rlock *rl;
	uint32_t i;
	int rc = 0;

	for (i = 0; i < x->w.n; i++) {
		const struct txn_write *w = &x->w.v[i];

		rc = add_intent(p, x, &w->key,
				w->kind == TXN_W_PUT ? TXN_REC_I_PUT
						     : TXN_REC_I_DEL,
				&w->val);
		if (rc != 0)
			goto out;
	}
	/* COMMIT1 needs no locks: its commit epoch is issued right after
	 * validation, above every version a later writer can get. */
	if (x->role == PTX_ONE)
		goto out;
	for (i = 0; i < x->r.n; i++) {
		if (writes_key(p, x, &x->r.v[i].key))
			continue;
		rc = add_intent(p, x, &x->r.v[i].key, TXN_REC_I_READ, NULL);
		if (rc != 0)
			goto out;
	}
	for (i = 0; i < x->g.n; i++) {
		const struct txn_range *g = &x->g.v[i];

		rc = txn_ii_range_add(&p->ix, x, &x->id, g->start.p,
				      g->start.len, g->end.p, g->end.len, &rl);
		if (rc != 0)
			goto out;
		rl->next_of_owner = x->rlocks;
		x->rlocks = rl;
	}
out:
	if (rc != 0)
		remove_all(p, x);
	return rc;
}

void ptx_release(struct txn_part *p, struct ptx *x)
{
	remove_all(p, x);
	part_wake(p, x);
}

/* --- records --------------------------------------------------------------- */

int ptx_intent_records(struct txn_part *p, struct ptx *x,
		       struct txn_batch *b, int put)
{
	struct txn_intent *in;
	const char *k;
	size_t klen;
	int rc;

	for (in = x->intents; in != NULL; in = in->next_of_owner) {
		k = txn_ii_key(in, &klen);
		txn_buf_reset(&p->kbuf);
		txn_rec_intent_key(&p->kbuf, k, klen, &x->id);
		if (p->kbuf.failed)
			return DKV_ERR_NOMEM;
		if (!put) {
			rc = txn_batch_add(b, TXN_BOP_DEL_PLAIN, p->kbuf.p,
					   p->kbuf.len, NULL, 0, 0);
		} else {
			txn_buf_reset(&p->vbuf);
			rc = txn_rec_intent_encode(&p->vbuf, in->kind, in->val,
						   in->vlen);
			if (rc == 0)
				rc = txn_batch_add(b, TXN_BOP_PUT_PLAIN,
						   p->kbuf.p, p->kbuf.len,
						   p->vbuf.p, p->vbuf.len, 0);
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ptx_versions(struct ptx *x, struct txn_batch *b, uint64_t tc)
{
	uint32_t i;
	int rc;

	for (i = 0; i < x->w.n; i++) {
		const struct txn_write *w = &x->w.v[i];

		rc = txn_batch_add(b, w->kind == TXN_W_PUT ? TXN_BOP_PUT
							   : TXN_BOP_DEL,
				   w->key.p, w->key.len, w->val.p, w->val.len,
				   tc);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ptx_log_record(struct txn_part *p, struct ptx *x, struct txn_batch *b,
		   char kind, unsigned state)
{
	char key[TXN_REC_TXID_KEY_LEN];
	struct txn_rec_tx r;
	uint32_t parts[1];
	int rc;

	memset(&r, 0, sizeof(r));
	r.state = (uint8_t)state;
	r.leader = x->leader;
	r.ts = x->ts;
	r.sent = x->sent;
	r.proposed = x->proposed;
	r.tc = state == TXN_REC_COMMITTED ? x->tc : 0;
	r.ranges = x->g;
	r.parts.v = parts;
	r.parts.n = 0;
	if (kind == TXN_REC_TX) {
		r.parts.v = malloc(sizeof(uint32_t) * (x->nf + 1));
		if (r.parts.v == NULL)
			return DKV_ERR_NOMEM;
		r.parts.v[r.parts.n++] = p->conf.shard;
		for (uint32_t i = 0; i < x->nf; i++)
			r.parts.v[r.parts.n++] = x->fols[i].shard;
	}
	txn_buf_reset(&p->vbuf);
	rc = txn_rec_tx_encode(&p->vbuf, &r);
	if (kind == TXN_REC_TX)
		free(r.parts.v);
	if (rc != 0)
		return rc;
	txn_rec_txid_key(key, kind, &x->id);
	return txn_batch_add(b, TXN_BOP_PUT_PLAIN, key, sizeof(key), p->vbuf.p,
			     p->vbuf.len, 0);
}

int ptx_log_delete(struct ptx *x, struct txn_batch *b, char kind)
{
	char key[TXN_REC_TXID_KEY_LEN];

	txn_rec_txid_key(key, kind, &x->id);
	return txn_batch_add(b, TXN_BOP_DEL_PLAIN, key, sizeof(key), NULL, 0,
			     0);
}

int ptx_done_record(struct ptx *x, struct txn_batch *b)
{
	char key[TXN_REC_TXID_KEY_LEN], val[TXN_REC_DONE_LEN];
	struct txn_rec_done d;

	d.outcome = x->outcome == TXN_ST_COMMITTED ? TXN_REC_OUT_COMMITTED
						   : TXN_REC_OUT_ABORTED;
	d.sent = x->sent;
	d.tc = d.outcome == TXN_REC_OUT_COMMITTED ? x->tc : 0;
	txn_rec_txid_key(key, TXN_REC_DONE, &x->id);
	txn_rec_done_encode(val, &d);
	return txn_batch_add(b, TXN_BOP_PUT_PLAIN, key, sizeof(key), val,
			     sizeof(val), 0);
}

unsigned ptx_propose(struct txn_part *p, struct ptx *x)
{
	uint64_t e = part_epoch(p);

	if (e == 0)
		return TXN_R_IO;
	x->proposed = e;
	return ptx_place(p, x) != 0 ? TXN_R_BUSY : TXN_R_NONE;
}
