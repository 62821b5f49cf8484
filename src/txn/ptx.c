/*
 * ptx.c - the transactions of one shard (struct ptx, part_int.h): their
 * state machine, the table by txid, copies of their items, their durable
 * writes, and the requests parked on them.
 *
 * Happy path: ptx_new() registers a transaction; ptx_submit() hands its
 * batch to io.submit() and ptx_batch_done() routes the completion to the
 * role's handler; part_park() parks a request on a transaction and
 * part_wake() runs every parked request again once it moved.
 * Failure modes: a durable write that fails or cannot be submitted stops
 * the part (part_fail: nothing half-done is acknowledged; the binding
 * restarts the shard); no room to park (max_parked) or no memory ->
 * DKV_ERR_BUSY, the caller answers RESTART(busy); out of memory in
 * ptx_new / ptx_copy_items -> NULL / DKV_ERR_NOMEM, the request is dropped
 * (its sender's timeout covers it).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dkv_err.h"
#include "txn/part_int.h"

#define B(s) DKV_SM_BIT(s)

static const struct dkv_sm_conf ptx_states[PTX_NSTATES] = {
	[PTX_VALIDATING] = { "validating", 0,
			     B(PTX_PREPARING_W) | B(PTX_COMMITTING_W) |
				     B(PTX_ABORTING_W) | B(PTX_DONE) },
	[PTX_PREPARING_W] = { "preparing-write", 0,
			      B(PTX_PREPARING) | B(PTX_PREPARED) },
	[PTX_PREPARING] = { "preparing", 0,
			    B(PTX_COMMITTING_W) | B(PTX_ABORTING_W) },
	[PTX_PREPARED] = { "prepared", 0,
			   B(PTX_COMMITTING_W) | B(PTX_ABORTING_W) },
	[PTX_COMMITTING_W] = { "committing-write", 0,
			       B(PTX_COMMITTED) | B(PTX_DONE) },
	[PTX_COMMITTED] = { "committed", 0, B(PTX_FINISHING_W) },
	[PTX_FINISHING_W] = { "finishing-write", 0, B(PTX_DONE) },
	[PTX_ABORTING_W] = { "aborting-write", 0, B(PTX_ABORTED) | B(PTX_DONE) },
	[PTX_ABORTED] = { "aborted", 0, B(PTX_DONE) },
	[PTX_DONE] = { "done", DKV_SM_FINAL, 0 },
};

/* --- the transaction table ----------------------------------------------- */

static size_t txid_bucket(const struct txn_part *p, const struct dkv_txid *id)
{
	uint64_t h = (id->hi ^ (id->lo * UINT64_C(0x9e3779b97f4a7c15)));

	h ^= h >> 29;
	return (size_t)(h & (p->nbuckets - 1));
}

struct ptx *ptx_find(struct txn_part *p, const struct dkv_txid *id)
{
	struct ptx *x = p->tab[txid_bucket(p, id)];

	for (; x != NULL; x = x->hnext)
		if (dkv_txid_eq(&x->id, id))
			return x;
	return NULL;
}

static void tab_grow(struct txn_part *p)
{
	size_t old = p->nbuckets, n = old * 2;
	struct ptx **tab = calloc(n, sizeof(*tab));
	struct ptx *x;

	if (tab == NULL)
		return; /* longer chains, still correct */
	free(p->tab);
	p->tab = tab;
	p->nbuckets = n;
	for (x = p->all; x != NULL; x = x->next) {
		size_t b = txid_bucket(p, &x->id);

		x->hnext = tab[b];
		tab[b] = x;
	}
}

static void active_add(struct txn_part *p, struct ptx *x)
{
	x->aprev = NULL;
	x->anext = p->active;
	if (p->active != NULL)
		p->active->aprev = x;
	p->active = x;
	x->in_active = 1;
}

static void active_del(struct txn_part *p, struct ptx *x)
{
	if (x->aprev != NULL)
		x->aprev->anext = x->anext;
	else
		p->active = x->anext;
	if (x->anext != NULL)
		x->anext->aprev = x->aprev;
	x->anext = x->aprev = NULL;
	x->in_active = 0;
}

struct ptx *ptx_new(struct txn_part *p, const struct dkv_txid *id,
		    unsigned role, unsigned state)
{
	struct ptx *x = calloc(1, sizeof(*x));
	size_t b;

	if (x == NULL)
		return NULL;
	x->id = *id;
	x->part = p;
	x->role = (uint8_t)role;
	dkv_sm_init(&x->sm, "txn", ptx_states, PTX_NSTATES, state);
	txn_batch_init(&x->batch, p->conf.shard);
	b = txid_bucket(p, id);
	x->hnext = p->tab[b];
	p->tab[b] = x;
	x->next = p->all;
	if (p->all != NULL)
		p->all->prev = x;
	p->all = x;
	if (state != PTX_DONE)
		active_add(p, x);
	p->ntx++;
	if (p->ntx > p->nbuckets)
		tab_grow(p);
	return x;
}

void ptx_shrink(struct ptx *x)
{
	txn_arena_free(&x->mem);
	memset(&x->w, 0, sizeof(x->w));
	memset(&x->r, 0, sizeof(x->r));
	memset(&x->g, 0, sizeof(x->g));
	free(x->fols);
	x->fols = NULL;
	x->nf = 0;
}

struct ptx *ptx_tomb_from_done(struct txn_part *p, const struct dkv_txid *id,
			       const struct txn_rec_done *d)
{
	struct ptx *x = ptx_new(p, id, PTX_TOMB, PTX_DONE);

	if (x == NULL)
		return NULL;
	x->outcome = d->outcome == TXN_REC_OUT_COMMITTED ? TXN_ST_COMMITTED
							 : TXN_ST_ABORTED;
	x->final = 1;
	x->has_d = 1;
	x->sent = d->sent;
	x->tc = d->tc;
	return x;
}

void ptx_free(struct txn_part *p, struct ptx *x)
{
	struct ptx **pp;

	assert(x->waiters == NULL && x->intents == NULL &&
	       x->rlocks == NULL && x->batch.n == 0);
	if (x->wait != NULL)
		part_unpark(p, x->wait);
	for (pp = &p->tab[txid_bucket(p, &x->id)]; *pp != NULL;
	     pp = &(*pp)->hnext)
		if (*pp == x) {
			*pp = x->hnext;
			break;
		}
	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		p->all = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	if (x->in_active)
		active_del(p, x);
	p->ntx--;
	ptx_shrink(x);
	txn_batch_free(&x->batch);
	free(x);
}

void ptx_move(struct ptx *x, unsigned state)
{
	dkv_sm_move(&x->sm, state);
	if (state == PTX_DONE && x->in_active)
		active_del(x->part, x);
	else if (state != PTX_DONE && !x->in_active)
		active_add(x->part, x);
}

unsigned ptx_state(const struct ptx *x)
{
	return dkv_sm_state(&x->sm);
}

unsigned ptx_known(const struct ptx *x, uint64_t *tc)
{
	if (!x->final)
		return TXN_ST_UNKNOWN;
	if (x->outcome == TXN_ST_COMMITTED) {
		*tc = x->tc;
		return TXN_ST_COMMITTED;
	}
	return x->outcome == TXN_ST_ABORTED ? TXN_ST_ABORTED : TXN_ST_UNKNOWN;
}

/* Copies the items of one shard (or all) into x's arena. */
int ptx_copy_items(struct ptx *x, uint32_t shard, const struct txn_writes *w,
		   const struct txn_reads *r, const struct txn_ranges *g,
		   struct txn_writes *ow, struct txn_reads *orr,
		   struct txn_ranges *og)
{
	uint32_t nw = 0, nr = 0, ng = 0, i;
	int all = shard == UINT32_MAX;

	for (i = 0; i < w->n; i++)
		nw += all || w->v[i].shard == shard;
	for (i = 0; i < r->n; i++)
		nr += all || r->v[i].shard == shard;
	for (i = 0; i < g->n; i++)
		ng += all || g->v[i].shard == shard;
	memset(ow, 0, sizeof(*ow));
	memset(orr, 0, sizeof(*orr));
	memset(og, 0, sizeof(*og));
	if (nw) {
		ow->v = txn_arena_alloc(&x->mem, nw * sizeof(*ow->v));
		if (ow->v == NULL)
			return DKV_ERR_NOMEM;
	}
	if (nr) {
		orr->v = txn_arena_alloc(&x->mem, nr * sizeof(*orr->v));
		if (orr->v == NULL)
			return DKV_ERR_NOMEM;
	}
	if (ng) {
		og->v = txn_arena_alloc(&x->mem, ng * sizeof(*og->v));
		if (og->v == NULL)
			return DKV_ERR_NOMEM;
	}
#define DUP_(dst, src)                                                         \
	do {                                                                   \
		(dst).len = (src).len;                                         \
		(dst).p = txn_arena_dup(&x->mem, (src).p, (src).len);         \
		if ((dst).p == NULL && (src).len != 0)                         \
			return DKV_ERR_NOMEM;                                  \
	} while (0)
	for (i = 0; i < w->n; i++) {
		struct txn_write *d;

		if (!all && w->v[i].shard != shard)
			continue;
		d = &ow->v[ow->n++];
		*d = w->v[i];
		DUP_(d->key, w->v[i].key);
		DUP_(d->val, w->v[i].val);
	}
	for (i = 0; i < r->n; i++) {
		struct txn_read *d;

		if (!all && r->v[i].shard != shard)
			continue;
		d = &orr->v[orr->n++];
		*d = r->v[i];
		DUP_(d->key, r->v[i].key);
	}
	for (i = 0; i < g->n; i++) {
		struct txn_range *d;

		if (!all && g->v[i].shard != shard)
			continue;
		d = &og->v[og->n++];
		*d = g->v[i];
		DUP_(d->start, g->v[i].start);
		DUP_(d->end, g->v[i].end);
	}
#undef DUP_
	return 0;
}

/* --- durable writes ----------------------------------------------------- */

static void ptx_batch_done(void *arg, int rc)
{
	struct ptx *x = arg;
	struct txn_part *p = x->part;

	p->nbatches--;
	txn_batch_free(&x->batch);
	if (rc != 0) {
		part_fail(p, "a durable write", rc);
		return;
	}
	if (p->failed)
		return;
	if (x->role == PTX_FOLLOWER)
		follower_done(p, x);
	else
		leader_done(p, x);
}

void ptx_submit(struct txn_part *p, struct ptx *x)
{
	int rc;

	x->batch.shard = p->conf.shard;
	rc = p->io.submit(p->io.ctx, &x->batch, ptx_batch_done, x);

	if (rc != 0) {
		txn_batch_free(&x->batch);
		part_fail(p, "submitting a durable write", rc);
		return;
	}
	p->nbatches++;
}

/* --- parking ----------------------------------------------------------- */

int part_park(struct txn_part *p, struct ptx *blocker, struct ptx *tx,
	      const struct txn_msg *msg, uint64_t deadline)
{
	struct pwait *w;

	if (p->nparked >= p->conf.max_parked) {
		p->stats.parked_full++;
		return DKV_ERR_BUSY;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return DKV_ERR_BUSY;
	if (msg != NULL && txn_msg_copy(&w->msg, msg) != 0) {
		free(w);
		return DKV_ERR_BUSY;
	}
	if (deadline == 0)
		deadline = part_now(p) + (tx ? p->conf.wait_timeout_ms
					     : p->conf.read_timeout_ms);
	w->deadline = deadline;
	w->tx = tx;
	w->blocker = blocker;
	w->next_on_blocker = blocker->waiters;
	blocker->waiters = w;
	w->next = p->waits;
	if (p->waits != NULL)
		p->waits->prev = w;
	p->waits = w;
	p->nparked++;
	if (tx != NULL) {
		tx->wait = w;
		tx->deadline = deadline;
	}
	return 0;
}

/* Unlinks w from the list of all waiters (not from its blocker's). */
static void unlink_all(struct txn_part *p, struct pwait *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		p->waits = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	p->nparked--;
	if (w->tx != NULL)
		w->tx->wait = NULL;
}

void part_unpark(struct txn_part *p, struct pwait *w)
{
	struct pwait **pp;

	for (pp = &w->blocker->waiters; *pp != NULL;
	     pp = &(*pp)->next_on_blocker)
		if (*pp == w) {
			*pp = w->next_on_blocker;
			break;
		}
	unlink_all(p, w);
	txn_msg_free(&w->msg);
	free(w);
}

void part_wake(struct txn_part *p, struct ptx *x)
{
	struct pwait *w = x->waiters, *wn;

	x->waiters = NULL;
	for (; w != NULL; w = wn) {
		wn = w->next_on_blocker;
		unlink_all(p, w);
		if (w->tx != NULL) {
			ptx_run_validation(p, w->tx);
		} else if (!p->failed) {
			part_read(p, &w->msg, w->deadline);
		}
		txn_msg_free(&w->msg);
		free(w);
	}
}

