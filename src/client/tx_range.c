/*
 * tx_range.c - dkv_range inside a transaction (dkv.h, TRANSACTIONS): the
 * keys of [start, end) of one shard at the transaction's start epoch,
 * merged by the core with the transaction's own buffered writes.
 *
 * Ascending, the range is read in pages of range_batch items (the core's
 * txn_range with a limit); an anchor keeps only where to resume (the key
 * after the last one delivered), so each call sees the transaction's
 * writes as they are then. The core reads ascending only: a reverse range
 * reads what is left of [start, end) whole, then delivers it from its
 * end; its anchor keeps the last key delivered as the new end.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "client/tx_int.h"

enum { ANCHOR_MORE = 1, ANCHOR_EOF = 2 };

/* What a DKV_ANCHOR_TX anchor holds between calls. */
struct tx_rpriv {
	const struct dkv_tx *tx; /* the transaction it belongs to */
	uint32_t restarts;       /* ... and its incarnation */
	uint64_t flags;
	char *start, *end;
	size_t slen, elen;
	uint32_t shard;
	int pinned; /* dkv_range_shard: the caller named the shard */
	char *cur; /* ascending: resume at; reverse: resume below; NULL:
		      at the bound */
	size_t clen;
};

void dkv_tx_anchor_free(void *priv)
{
	struct tx_rpriv *p = priv;

	if (p == NULL)
		return;
	free(p->start);
	free(p->end);
	free(p->cur);
	free(p);
}

/* Sets the resume point to key (+ a '\0' byte when ascending: the
 * smallest key after it). */
static int set_cur(struct tx_rpriv *p, const char *key, size_t klen)
{
	size_t n = klen + ((p->flags & DKV_RANGE_REVERSE) ? 0 : 1);
	char *d = malloc(n ? n : 1);

	if (d == NULL)
		return DKV_ERR_NOMEM;
	memcpy(d, key, klen);
	if (n > klen)
		d[klen] = '\0';
	free(p->cur);
	p->cur = d;
	p->clen = n;
	return DKV_OK;
}

/* --- pages ---------------------------------------------------------------- */

static void page_free(struct tx_page *pg)
{
	free(pg->items);
	free(pg->data);
	free(pg->next);
	memset(pg, 0, sizeof(*pg));
}

/* Appends the core's items to pg and takes its next. */
static int page_add(struct tx_page *pg, const struct txn_item *items,
		    uint32_t n, const char *next, size_t nlen)
{
	size_t need = 0;

	for (uint32_t i = 0; i < n; i++)
		need += (size_t)items[i].key.len + items[i].val.len;
	if (pg->n + n > pg->cap) {
		size_t cap = pg->cap ? pg->cap : 16;
		struct tx_item *v;

		while (cap < pg->n + n)
			cap *= 2;
		v = realloc(pg->items, cap * sizeof(*v));
		if (v == NULL)
			return DKV_ERR_NOMEM;
		pg->items = v;
		pg->cap = cap;
	}
	if (pg->dlen + need > pg->dcap) {
		size_t cap = pg->dcap ? pg->dcap : 256;
		char *d;

		while (cap < pg->dlen + need)
			cap *= 2;
		d = realloc(pg->data, cap);
		if (d == NULL)
			return DKV_ERR_NOMEM;
		pg->data = d;
		pg->dcap = cap;
	}
	free(pg->next);
	pg->next = client_memdup_or_null(next, nlen);
	pg->nlen = pg->next != NULL ? nlen : 0;
	if (nlen > 0 && pg->next == NULL)
		return DKV_ERR_NOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct tx_item *it = &pg->items[pg->n++];

		it->koff = pg->dlen;
		it->klen = items[i].key.len;
		if (it->klen > 0)
			memcpy(pg->data + pg->dlen, items[i].key.p, it->klen);
		pg->dlen += it->klen;
		it->voff = pg->dlen;
		it->vlen = items[i].val.len;
		if (it->vlen > 0)
			memcpy(pg->data + pg->dlen, items[i].val.p, it->vlen);
		pg->dlen += it->vlen;
		it->epoch = items[i].epoch;
	}
	return DKV_OK;
}

/* The core's answer to a range read (inside tx_wait; no user code). */
static void range_cb(void *arg, int rc, const struct txn_item *items,
		     uint32_t n, const char *next, size_t nlen)
{
	struct dkv_tx *tx = arg;
	struct tx_wait *w = &tx->w;

	if (rc == DKV_OK)
		rc = page_add(w->page, items, n, next, nlen);
	w->rc = rc;
	w->done = 1;
}

/* One range read of [lo, hi) (limit 0: all), appended to pg. */
static int fetch_once(struct dkv_tx *tx, uint32_t shard, const char *lo,
		      size_t llen, const char *hi, size_t hlen, uint32_t limit,
		      struct tx_page *pg)
{
	int rc;

	/* cb may have made data calls in the transaction meanwhile. */
	if (tx->state != TXS_ACTIVE)
		return tx_enter(tx->c, tx);
	tx_snap_prepare(tx);
	memset(&tx->w, 0, sizeof(tx->w));
	tx->w.page = pg;
	rc = txn_range(tx->t, shard, lo, llen, hi, hlen, limit, range_cb, tx);
	if (rc == TXN_PENDING) {
		rc = tx_wait(tx, tx_read_guard_ms(tx));
		if (rc != DKV_OK)
			tx->state = TXS_BROKEN;
		else
			rc = tx->w.rc;
	}
	tx->w.page = NULL;
	if (rc == DKV_ERR_TX_RESTART) {
		tx->state = TXS_RESTART;
		dkv_set_error("transaction conflict: call dkv_tx_restart and "
			      "run it again");
	} else if (rc == DKV_ERR_EPOCH_TOO_OLD) {
		dkv_set_error("epoch %llu is below shard %u's history "
			      "watermark (collected)",
			      (unsigned long long)txn_tx_ts(tx->t), shard);
	}
	return rc;
}

/* fetch_once, sent again for a snapshot transaction that the shard asked
 * to restart (tx_snap_retry); a failed attempt appends nothing to pg. */
static int fetch(struct dkv_tx *tx, uint32_t shard, const char *lo,
		 size_t llen, const char *hi, size_t hlen, uint32_t limit,
		 struct tx_page *pg)
{
	unsigned attempt = 0;
	int rc;

	do
		rc = fetch_once(tx, shard, lo, llen, hi, hlen, limit, pg);
	while (tx_snap_retry(tx, &rc, attempt++));
	return rc;
}

/* --- the range ------------------------------------------------------------ */

/* Bytewise order of two non-empty byte strings. */
static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);

	if (r != 0)
		return r;
	return alen < blen ? -1 : alen > blen;
}

/* A new range: copies the bounds, finds the one shard (or takes shard,
 * unless DKV_SHARD_NONE). 0 and *out, 1 for a range empty by its bounds,
 * or a code. */
static int priv_new(dkv_client_t *c, struct dkv_tx *tx, uint32_t shard,
		    uint64_t flags, const void *start, size_t slen,
		    const void *end, size_t elen, struct tx_rpriv **out)
{
	struct tx_rpriv *p = calloc(1, sizeof(*p));
	uint32_t first = DKV_SHARD_NONE, last = DKV_SHARD_NONE;
	struct dkv_cmap *cm;
	int rc;

	if (p == NULL)
		return DKV_ERR_NOMEM;
	p->tx = tx;
	p->restarts = tx->restarts;
	p->flags = flags;
	p->slen = start ? slen : 0;
	p->elen = end ? elen : 0;
	p->start = client_memdup_or_null(start, p->slen);
	p->end = client_memdup_or_null(end, p->elen);
	if ((p->slen && !p->start) || (p->elen && !p->end)) {
		dkv_tx_anchor_free(p);
		return DKV_ERR_NOMEM;
	}
	cm = dkv_cmap_get(c);
	if (shard != DKV_SHARD_NONE) {
		p->pinned = 1;
		if (shard >= dkv_map_nshards(cm->map)) {
			dkv_set_error("no shard %u: the cluster has %u", shard,
				      dkv_map_nshards(cm->map));
			rc = DKV_ERR_NO_SHARD;
		} else if (p->slen > 0 && p->elen > 0 &&
			   bytes_cmp(p->start, p->slen, p->end, p->elen) >=
				   0) {
			rc = DKV_ERR_INVAL; /* empty by its bounds */
		} else {
			rc = (int)shard;
		}
	} else {
		rc = dkv_map_range_shard(cm->map, p->start, p->slen, p->end,
					 p->elen, &first, &last);
	}
	dkv_cmap_put(c, cm);
	if (rc == DKV_ERR_INVAL) {
		dkv_tx_anchor_free(p);
		return 1; /* start >= end */
	}
	if (rc < 0) {
		if (rc == DKV_ERR_UNSUPPORTED)
			dkv_set_error("the range may span several shards: "
				      "keep its keys under one {hash tag} and "
				      "bound it inside the tag");
		else
			dkv_set_error("range: %s", dkv_strerror(rc));
		dkv_tx_anchor_free(p);
		return rc;
	}
	p->shard = (uint32_t)rc;
	*out = p;
	return DKV_OK;
}

struct run {
	struct dkv_tx *tx;
	struct tx_rpriv *p;
	uint32_t limit, delivered;
	dkv_range_cb cb;
	void *arg;
	int eof;
	int called; /* the last item tried reached cb */
	int result; /* < 0: stop with it */
};

/* Delivers item i of pg; 1 to stop. */
static int deliver(struct run *r, const struct tx_page *pg, size_t i)
{
	const struct tx_item *it = &pg->items[i];
	const char *k = pg->data + it->koff;
	int rc;

	r->called = 0;
	rc = set_cur(r->p, k, it->klen);
	if (rc != DKV_OK) {
		r->result = rc;
		return 1;
	}
	r->called = 1;
	rc = r->cb(r->arg, k, it->klen, pg->data + it->voff, it->vlen,
		   it->epoch);
	if (rc < 0) {
		r->result = rc;
		return 1;
	}
	r->delivered++;
	return rc > 0;
}

static void run_ascending(struct run *r, uint32_t batch)
{
	struct tx_rpriv *p = r->p;
	struct tx_page pg;

	memset(&pg, 0, sizeof(pg));
	while (r->delivered < r->limit) {
		uint32_t want = r->limit - r->delivered;
		size_t i;
		int rc;

		if (want > batch)
			want = batch;
		if (r->tx->restarts != p->restarts) {
			r->result = DKV_ERR_STATE; /* cb restarted it */
			break;
		}
		page_free(&pg);
		rc = fetch(r->tx, p->shard, p->cur ? p->cur : p->start,
			   p->cur ? p->clen : p->slen, p->end, p->elen, want,
			   &pg);
		if (rc != DKV_OK) {
			r->result = rc;
			break;
		}
		for (i = 0; i < pg.n && r->delivered < r->limit; i++)
			if (deliver(r, &pg, i)) {
				/* Stopped on the very last item: at the end. */
				r->eof = r->called && i + 1 == pg.n &&
					 pg.next == NULL;
				goto out;
			}
		if (i < pg.n)
			break; /* the limit */
		if (pg.next == NULL) {
			r->eof = 1;
			break;
		}
		free(p->cur);
		p->cur = pg.next;
		p->clen = pg.nlen;
		pg.next = NULL;
	}
out:
	page_free(&pg);
}

static void run_reverse(struct run *r)
{
	struct tx_rpriv *p = r->p;
	const char *hi = p->cur ? p->cur : p->end;
	size_t hlen = p->cur ? p->clen : p->elen;
	struct tx_page pg;
	char *lo = NULL;
	size_t i, llen = 0;
	int rc;

	memset(&pg, 0, sizeof(pg));
	/* Everything left, ascending, page after page (a node may cut). */
	for (;;) {
		rc = fetch(r->tx, p->shard, lo ? lo : p->start,
			   lo ? llen : p->slen, hi, hlen, 0, &pg);
		if (rc != DKV_OK) {
			r->result = rc;
			goto out;
		}
		if (pg.next == NULL)
			break;
		free(lo);
		lo = pg.next;
		llen = pg.nlen;
		pg.next = NULL;
	}
	for (i = pg.n; i > 0 && r->delivered < r->limit; i--)
		if (deliver(r, &pg, i - 1)) {
			r->eof = r->called && i == 1;
			goto out;
		}
	r->eof = i == 0;
out:
	free(lo);
	page_free(&pg);
}

int dkv_tx_do_range(dkv_client_t *c, dkv_tx_t *tx, uint32_t shard,
		    uint64_t flags, const void *start, size_t slen,
		    const void *end, size_t elen, uint32_t limit,
		    struct dkv_anchor *anchor, dkv_range_cb cb, void *arg)
{
	struct tx_rpriv *p = NULL;
	struct run r;
	int rc;

	if (tx == NULL) {
		dkv_set_error("dkv_range: the anchor belongs to a range inside "
			      "a transaction: pass that transaction");
		return DKV_ERR_INVAL;
	}
	rc = tx_enter(c, tx);
	if (rc != DKV_OK)
		return rc;
	if (anchor != NULL && anchor->da_priv != NULL) {
		p = anchor->da_priv;
		if (anchor->da_state != DKV_ANCHOR_TX || p->tx != tx ||
		    p->restarts != tx->restarts || p->flags != flags ||
		    p->pinned != (shard != DKV_SHARD_NONE) ||
		    (p->pinned && p->shard != shard) ||
		    !client_same_bytes(p->start, p->slen, start, slen) ||
		    !client_same_bytes(p->end, p->elen, end, elen)) {
			dkv_set_error("dkv_range: the anchor is of another "
				      "range or transaction (or an earlier "
				      "run of this one)");
			return DKV_ERR_INVAL;
		}
	} else {
		rc = priv_new(c, tx, shard, flags, start, slen, end, elen,
			      &p);
		if (rc == 1) {
			if (anchor != NULL)
				anchor->da_state = ANCHOR_EOF;
			return 0;
		}
		if (rc != DKV_OK)
			return rc;
		if (anchor != NULL) {
			anchor->da_priv = p;
			anchor->da_shard = p->shard;
			anchor->da_state = DKV_ANCHOR_TX;
		}
	}
	memset(&r, 0, sizeof(r));
	r.tx = tx;
	r.p = p;
	r.limit = limit;
	r.cb = cb;
	r.arg = arg;
	if (flags & DKV_RANGE_REVERSE)
		run_reverse(&r);
	else
		run_ascending(&r, c->range_batch);
	if (anchor == NULL) {
		dkv_tx_anchor_free(p);
	} else if (r.eof) {
		dkv_tx_anchor_free(p);
		anchor->da_priv = NULL;
		anchor->da_state = ANCHOR_EOF;
	}
	if (r.result < 0)
		return r.result;
	dkv_clear_error();
	return (int)r.delivered;
}
