/*
 * coord.c - the coordinator (coord.h; docs/txn.md "Reads", "Commit" and
 * the in-doubt table's coordinator rows).
 *
 * A transaction's life (coord_states, checked by dkv_sm_move):
 *
 *   ACTIVE --read RESTART--> MUST_RESTART --txn_restart--> ACTIVE
 *   ACTIVE --commit, no writes--> COMMITTED
 *   ACTIVE --commit--> COMMITTING --OUTCOME--> COMMITTED | ABORTED
 *   COMMITTING --no answer in commit_wait--> ASKING (STATUS)
 *   ASKING --STATUS_REPLY / OUTCOME--> COMMITTED | ABORTED
 *   ASKING --commit deadline--> UNKNOWN
 *   ABORTED, UNKNOWN, ACTIVE --txn_restart--> ACTIVE
 *
 * Happy path: reads go to the key's shard and come back once; the commit
 * goes out once and OUTCOME comes back.
 * Failure modes:
 *  - a READ/RANGE or its answer lost: resent every read_resend (reads are
 *    idempotent), DKV_ERR_TIMEOUT after read_timeout;
 *  - a read answered RESTART (uncertain version, conflict, timeout at the
 *    shard, clock offset): the transaction must restart; every later call
 *    says DKV_ERR_TX_RESTART;
 *  - the commit's answer lost (or the leader slow, or dead): STATUS(abort
 *    if unknown) to the leader with backoff: COMMITTED -> success,
 *    ABORTED -> DKV_ERR_TX_RESTART, PREPARING -> ask again; past the
 *    commit deadline DKV_ERR_TIMEOUT: unknown, never reported aborted;
 *  - late or duplicate answers (an old incarnation's, a second OUTCOME):
 *    matched by txid and request id, dropped when nothing waits for them;
 *  - out of memory: the call fails with DKV_ERR_NOMEM, state unchanged.
 */
#include "txn/coord_int.h"

#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "hlc/hlc.h"
#include "txn/util.h"

#define B(s) DKV_SM_BIT(s)
static const struct dkv_sm_conf coord_states[CT_N] = {
	[CT_ACTIVE] = { "active", 0,
			B(CT_ACTIVE) | B(CT_MUST_RESTART) | B(CT_COMMITTING) |
				B(CT_COMMITTED) },
	[CT_MUST_RESTART] = { "must-restart", 0, B(CT_ACTIVE) },
	[CT_COMMITTING] = { "committing", 0,
			    B(CT_ASKING) | B(CT_COMMITTED) | B(CT_ABORTED) },
	[CT_ASKING] = { "asking", 0,
			B(CT_COMMITTED) | B(CT_ABORTED) | B(CT_UNKNOWN) },
	[CT_COMMITTED] = { "committed", DKV_SM_FINAL, 0 },
	[CT_ABORTED] = { "aborted", 0, B(CT_ACTIVE) },
	[CT_UNKNOWN] = { "unknown", 0, B(CT_ACTIVE) },
};

void txn_coord_conf_init(struct txn_coord_conf *conf, uint64_t id)
{
	memset(conf, 0, sizeof(*conf));
	conf->id = id;
	conf->read_resend_ms = 250;
	conf->read_timeout_ms = 5000;
	conf->commit_wait_ms = 3000;
	conf->status_resend_ms = 250;
	conf->commit_deadline_ms = 10000;
	conf->max_key = 64u << 10;
	conf->max_value = 64u << 20;
}

int txn_coord_create(const struct txn_coord_io *io,
		     const struct txn_coord_conf *conf,
		     struct txn_coord **out)
{
	struct txn_coord *c;

	if (io == NULL || conf == NULL || out == NULL || io->send == NULL ||
	    io->now_ms == NULL || io->rand64 == NULL ||
	    io->shard_of == NULL || io->hlc == NULL ||
	    conf->read_resend_ms == 0 || conf->status_resend_ms == 0)
		return DKV_ERR_INVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return DKV_ERR_NOMEM;
	c->nb = 64;
	c->tab = calloc(c->nb, sizeof(*c->tab));
	if (c->tab == NULL) {
		free(c);
		return DKV_ERR_NOMEM;
	}
	c->io = *io;
	c->conf = *conf;
	*out = c;
	return 0;
}

const struct txn_coord_stats *txn_coord_stats(const struct txn_coord *c)
{
	return &c->stats;
}

/* --- the table of transactions by txid ------------------------------------ */

static size_t bucket(const struct txn_coord *c, const struct dkv_txid *id)
{
	uint64_t h = id->hi ^ (id->lo * UINT64_C(0x9e3779b97f4a7c15));

	return (size_t)((h ^ (h >> 31)) & (c->nb - 1));
}

static void tab_add(struct txn_coord *c, struct txn_tx *tx)
{
	size_t b;

	if (c->n + 1 > c->nb) {
		size_t nb = c->nb * 2;
		struct txn_tx **t = calloc(nb, sizeof(*t));

		if (t != NULL) {
			struct txn_tx *x;

			free(c->tab);
			c->tab = t;
			c->nb = nb;
			for (x = c->all; x != NULL; x = x->next) {
				size_t i = bucket(c, &x->id);

				x->hnext = t[i];
				t[i] = x;
			}
		}
	}
	b = bucket(c, &tx->id);
	tx->hnext = c->tab[b];
	c->tab[b] = tx;
	tx->next = c->all;
	tx->prev = NULL;
	if (c->all != NULL)
		c->all->prev = tx;
	c->all = tx;
	c->n++;
}

static void tab_del(struct txn_coord *c, struct txn_tx *tx)
{
	struct txn_tx **pp;

	for (pp = &c->tab[bucket(c, &tx->id)]; *pp != NULL; pp = &(*pp)->hnext)
		if (*pp == tx) {
			*pp = tx->hnext;
			break;
		}
	if (tx->prev != NULL)
		tx->prev->next = tx->next;
	else
		c->all = tx->next;
	if (tx->next != NULL)
		tx->next->prev = tx->prev;
	c->n--;
}

struct txn_tx *coord_find(struct txn_coord *c, const struct dkv_txid *id)
{
	struct txn_tx *tx = c->tab[bucket(c, id)];

	for (; tx != NULL; tx = tx->hnext)
		if (dkv_txid_eq(&tx->id, id))
			return tx;
	return NULL;
}

/* --- helpers ---------------------------------------------------------------- */

uint64_t coord_now(struct txn_coord *c)
{
	return c->io.now_ms(c->io.ctx);
}

unsigned coord_state(const struct txn_tx *tx)
{
	return dkv_sm_state(&tx->sm);
}

void coord_send(struct txn_coord *c, struct txn_msg *m)
{
	m->from.kind = TXN_ADDR_COORD;
	m->from.id = c->conf.id;
	c->io.send(c->io.ctx, m);
}

void coord_merge(struct txn_coord *c, uint64_t epoch)
{
	if (epoch != 0 && epoch != UINT64_MAX)
		(void)dkv_hlc_update(c->io.hlc, epoch);
}

void coord_op_free(struct cop *op)
{
	free((char *)op->key.p);
	free((char *)op->start.p);
	free((char *)op->end.p);
	free(op);
}

static void ops_drop(struct txn_tx *tx)
{
	struct cop *op, *on;

	for (op = tx->ops; op != NULL; op = on) {
		on = op->next;
		coord_op_free(op);
	}
	tx->ops = NULL;
}

static void ranges_drop(struct txn_tx *tx)
{
	struct krange *r, *rn;

	for (r = tx->ranges; r != NULL; r = rn) {
		rn = r->next;
		free((char *)r->start.p);
		free((char *)r->end.p);
		free(r);
	}
	tx->ranges = NULL;
	tx->nranges = 0;
}

int coord_dup_bytes(struct txn_bytes *d, const char *p, size_t len)
{
	char *x = NULL;

	if (len > 0) {
		x = malloc(len);
		if (x == NULL)
			return DKV_ERR_NOMEM;
		memcpy(x, p, len);
	}
	d->p = x;
	d->len = (uint32_t)len;
	return 0;
}

int coord_writable(const struct txn_tx *tx)
{
	if (coord_state(tx) == CT_MUST_RESTART)
		return DKV_ERR_TX_RESTART;
	return coord_state(tx) == CT_ACTIVE ? 0 : DKV_ERR_STATE;
}

/* --- life -------------------------------------------------------------------- */

int txn_open(struct txn_coord *c, struct txn_tx **out)
{
	struct txn_tx *tx = calloc(1, sizeof(*tx));
	uint64_t e;
	int rc;

	if (tx == NULL)
		return DKV_ERR_NOMEM;
	rc = dkv_hlc_now(c->io.hlc, &e);
	if (rc != 0) {
		free(tx);
		return rc;
	}
	tx->c = c;
	tx->id.hi = e;
	do
		tx->id.lo = c->io.rand64(c->io.ctx);
	while (tx->id.lo == 0);
	tx->ts = e;
	tx->tu = e + dkv_hlc_max_offset(c->io.hlc);
	dkv_sm_init(&tx->sm, "coord txn", coord_states, CT_N, CT_ACTIVE);
	kset_init(&tx->writes);
	kset_init(&tx->reads);
	tab_add(c, tx);
	c->stats.opened++;
	*out = tx;
	return 0;
}

int txn_open_at(struct txn_coord *c, uint64_t epoch, struct txn_tx **out)
{
	struct txn_tx *tx = NULL;
	int rc;

	if (epoch == 0 || epoch == DKV_EPOCH_MAX)
		return DKV_ERR_INVAL;
	rc = txn_open(c, &tx);
	if (rc != 0)
		return rc;
	tx->ts = epoch;
	tx->tu = epoch;
	tx->fixed = 1;
	*out = tx;
	return 0;
}

int txn_tx_fixed(const struct txn_tx *tx)
{
	return tx->fixed;
}

void txn_close(struct txn_tx *tx)
{
	if (tx == NULL)
		return;
	tab_del(tx->c, tx);
	ops_drop(tx);
	ranges_drop(tx);
	kset_fini(&tx->writes);
	kset_fini(&tx->reads);
	free(tx->obs);
	free(tx);
}

void txn_coord_destroy(struct txn_coord *c)
{
	if (c == NULL)
		return;
	while (c->all != NULL)
		txn_close(c->all);
	free(c->tab);
	free(c);
}

int txn_restart(struct txn_tx *tx)
{
	struct txn_coord *c = tx->c;
	uint64_t e;
	int rc;

	if (coord_state(tx) == CT_COMMITTING || coord_state(tx) == CT_ASKING ||
	    coord_state(tx) == CT_COMMITTED)
		return DKV_ERR_STATE;
	if (tx->fixed) {
		e = tx->ts; /* a snapshot read stays at its epoch */
	} else {
		coord_merge(c, tx->restart_epoch);
		rc = dkv_hlc_now(c->io.hlc, &e);
		if (rc != 0)
			return rc;
		if (e < tx->restart_epoch)
			e = tx->restart_epoch; /* its clock refused it */
	}
	tab_del(c, tx);
	do
		tx->id.lo = c->io.rand64(c->io.ctx);
	while (tx->id.lo == 0);
	tab_add(c, tx);
	/* Same age (hi), same uncertainty limit: an uncertainty restart
	 * cannot repeat once ts passes tu. */
	tx->ts = e;
	if (tx->tu < tx->ts)
		tx->tu = tx->ts;
	tx->restart_epoch = 0;
	tx->tc = 0;
	tx->sent = 0;
	ops_drop(tx);
	ranges_drop(tx);
	kset_clear(&tx->writes);
	kset_clear(&tx->reads);
	dkv_sm_move(&tx->sm, CT_ACTIVE);
	c->stats.restarts++;
	return 0;
}

const struct dkv_txid *txn_tx_id(const struct txn_tx *tx)
{
	return &tx->id;
}

uint64_t txn_tx_ts(const struct txn_tx *tx)
{
	return tx->ts;
}

size_t txn_tx_nwrites(const struct txn_tx *tx)
{
	return tx->writes.n;
}

size_t txn_tx_nreads(const struct txn_tx *tx)
{
	return tx->reads.n + tx->nranges;
}

/* --- writes --------------------------------------------------- */

int coord_check_key(const struct txn_tx *tx, size_t klen)
{
	return klen == 0 || klen > tx->c->conf.max_key ? DKV_ERR_INVAL : 0;
}

int txn_put(struct txn_tx *tx, const char *key, size_t klen, const char *val,
	    size_t vlen)
{
	struct txn_coord *c = tx->c;
	int rc = tx->fixed ? DKV_ERR_READ_ONLY : coord_writable(tx);

	if (rc == 0)
		rc = coord_check_key(tx, klen);
	if (rc == 0 && vlen > c->conf.max_value)
		rc = DKV_ERR_TOO_BIG;
	if (rc != 0)
		return rc;
	return kset_put(&tx->writes, c->io.shard_of(c->io.ctx, key, klen),
			key, klen, TXN_W_PUT, val, vlen, 0, 1);
}

int txn_has_write(const struct txn_tx *tx, const char *key, size_t klen)
{
	return kset_find(&tx->writes, key, klen) != NULL;
}

int txn_note_read(struct txn_tx *tx, const char *key, size_t klen,
		  uint64_t epoch)
{
	struct txn_coord *c = tx->c;
	int rc = coord_writable(tx);

	if (rc == 0)
		rc = coord_check_key(tx, klen);
	if (rc != 0 || tx->fixed)
		return rc;
	coord_merge(c, epoch);
	return kset_put(&tx->reads, c->io.shard_of(c->io.ctx, key, klen), key,
			klen, 0, NULL, 0, epoch, 0);
}

int txn_del(struct txn_tx *tx, const char *key, size_t klen)
{
	struct txn_coord *c = tx->c;
	int rc = tx->fixed ? DKV_ERR_READ_ONLY : coord_writable(tx);

	if (rc == 0)
		rc = coord_check_key(tx, klen);
	if (rc != 0)
		return rc;
	return kset_put(&tx->writes, c->io.shard_of(c->io.ctx, key, klen),
			key, klen, TXN_W_DEL, NULL, 0, 0, 1);
}
