/*
 * apply.c - see apply.h.
 *
 * The overlay holds the newest pending value of every key written in the
 * current group, so that two commands on one key in one group see each
 * other (INCR after INCR) although neither is in the store yet.
 */
#include "server/apply.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "hlc/hlc.h"
#include "proto/resp.h"

#define OVERLAY_BUCKETS 1024

struct pending {
	struct pending *chain; /* same bucket */
	struct pending *all;   /* every entry, for reset */
	uint32_t shard;
	int tombstone;
	size_t klen, vlen;
	char *val; /* points after the key in the same allocation */
	char key[];
};

struct apply_group {
	struct dkv_store *store;
	struct dkv_batch *batch;
	struct pending *buckets[OVERLAY_BUCKETS];
	struct pending *all;
	size_t bytes;
	int poisoned; /* a record went in without its batch: fail the group */
};

static uint32_t hash_key(uint32_t shard, const char *k, size_t n)
{
	uint32_t h = 2166136261u ^ shard;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)k[i]) * 16777619u;
	return h;
}

int apply_group_create(struct dkv_store *store, struct apply_group **out)
{
	struct apply_group *g = calloc(1, sizeof(*g));
	int rc;

	if (g == NULL)
		return DKV_ERR_NOMEM;
	g->store = store;
	rc = dkv_batch_create(store, &g->batch);
	if (rc != DKV_OK) {
		free(g);
		return rc;
	}
	*out = g;
	return DKV_OK;
}

static void overlay_reset(struct apply_group *g)
{
	struct pending *p = g->all, *n;

	for (; p != NULL; p = n) {
		n = p->all;
		free(p);
	}
	g->all = NULL;
	memset(g->buckets, 0, sizeof(g->buckets));
	g->bytes = 0;
}

void apply_group_destroy(struct apply_group *g)
{
	if (g == NULL)
		return;
	overlay_reset(g);
	dkv_batch_destroy(g->batch);
	free(g);
}

/* Forgets the entry overlay_put just added (head of its bucket and of
 * the list). */
static void overlay_pop(struct apply_group *g)
{
	struct pending *p = g->all;
	uint32_t b = hash_key(p->shard, p->key, p->klen) % OVERLAY_BUCKETS;

	g->buckets[b] = p->chain;
	g->all = p->all;
	g->bytes -= p->klen + p->vlen;
	free(p);
}

static struct pending *overlay_find(struct apply_group *g, uint32_t shard,
				    const char *k, size_t n)
{
	struct pending *p = g->buckets[hash_key(shard, k, n) % OVERLAY_BUCKETS];

	for (; p != NULL; p = p->chain)
		if (p->shard == shard && p->klen == n &&
		    memcmp(p->key, k, n) == 0)
			return p;
	return NULL;
}

/* Records key's pending value (NULL = tombstone); the newest entry of a
 * key shadows older ones because it is inserted at the bucket's head. */
static int overlay_put(struct apply_group *g, uint32_t shard, const char *k,
		       size_t klen, const char *v, size_t vlen)
{
	uint32_t b = hash_key(shard, k, klen) % OVERLAY_BUCKETS;
	struct pending *p = malloc(sizeof(*p) + klen + vlen);

	if (p == NULL)
		return DKV_ERR_NOMEM;
	p->shard = shard;
	p->klen = klen;
	p->vlen = vlen;
	p->tombstone = v == NULL;
	memcpy(p->key, k, klen);
	p->val = p->key + klen;
	if (vlen)
		memcpy(p->val, v, vlen);
	p->chain = g->buckets[b];
	g->buckets[b] = p;
	p->all = g->all;
	g->all = p;
	g->bytes += klen + vlen;
	return DKV_OK;
}

/* The key's current value as this group sees it. *found = 0 if absent.
 * The bytes go into cur (owned by the caller, release with
 * dkv_val_release) or point into the overlay (cur->mem_ NULL). */
static int read_current(struct apply_group *g, const struct dkv_cmd *c,
			struct dkv_val *cur, int *found)
{
	struct pending *p = overlay_find(g, c->shard, c->key, c->klen);
	int rc;

	memset(cur, 0, sizeof(*cur));
	if (p != NULL) {
		*found = !p->tombstone;
		cur->data = p->val;
		cur->len = p->vlen;
		return DKV_OK;
	}
	rc = dkv_store_get(g->store, c->shard, c->key, c->klen, DKV_EPOCH_MAX,
			   cur);
	*found = rc == DKV_OK;
	return rc == DKV_ERR_NOT_FOUND ? DKV_OK : rc;
}

/* Computes the new value of c from the current one; newv and newlen point
 * at c->val, into numbuf, or into *heap (malloc'ed; the caller frees). */
static int compute(struct dkv_cmd *c, const struct dkv_val *cur, int found,
		   size_t max_value, const char **newv, size_t *newlen,
		   char *numbuf, char **heap)
{
	int64_t n = 0;

	*heap = NULL;
	switch (c->op) {
	case DKV_OP_SET:
		if ((c->cond == DKV_COND_NX && found) ||
		    (c->cond == DKV_COND_XX && !found))
			return 0;
		*newv = c->val;
		*newlen = c->vlen;
		return 1;
	case DKV_OP_DEL:
		*newv = NULL;
		*newlen = 0;
		return found;
	case DKV_OP_INCRBY:
		if (found && resp_parse_i64(cur->data, cur->len, &n) != DKV_OK)
			return DKV_ERR_INVAL;
		if ((c->delta > 0 && n > INT64_MAX - c->delta) ||
		    (c->delta < 0 && n < INT64_MIN - c->delta))
			return DKV_ERR_OVERFLOW;
		c->integer = n + c->delta;
		*newlen = resp_fmt_i64(numbuf, c->integer);
		*newv = numbuf;
		return 1;
	case DKV_OP_APPEND: {
		size_t base = found ? cur->len : 0;

		if (c->vlen > max_value - base)
			return DKV_ERR_TOO_BIG;
		*heap = malloc(base + c->vlen + 1);
		if (*heap == NULL)
			return DKV_ERR_NOMEM;
		if (base)
			memcpy(*heap, cur->data, base);
		if (c->vlen)
			memcpy(*heap + base, c->val, c->vlen);
		*newv = *heap;
		*newlen = base + c->vlen;
		c->integer = (int64_t)*newlen;
		return 1;
	}
	case DKV_OP_TXN: /* apply_txn() */
		break;
	}
	return DKV_ERR_INVAL;
}

/* DKV_OP_TXN: every record of the transaction layer's batch, as is. The
 * layer only writes versions above every version of their keys (its
 * validation and intents see to it), so a refused record is a bug: the
 * records already added cannot be taken back, so the group is failed. */
static int apply_txn(struct apply_group *g, struct dkv_cmd *c)
{
	const struct txn_batch *b = c->txn;
	int rc = DKV_OK;

	for (size_t i = 0; i < b->n && rc == DKV_OK; i++) {
		const struct txn_bent *e = &b->v[i];

		switch (e->op) {
		case TXN_BOP_PUT:
			rc = overlay_put(g, b->shard, e->key, e->klen,
					 e->vlen ? e->val : "", e->vlen);
			if (rc == DKV_OK)
				rc = dkv_batch_put(g->batch, b->shard, e->key,
						   e->klen, e->val, e->vlen,
						   e->epoch);
			break;
		case TXN_BOP_DEL:
			rc = overlay_put(g, b->shard, e->key, e->klen, NULL,
					 0);
			if (rc == DKV_OK)
				rc = dkv_batch_del(g->batch, b->shard, e->key,
						   e->klen, e->epoch);
			break;
		case TXN_BOP_PUT_PLAIN:
			rc = dkv_batch_put_plain(g->batch, b->shard, e->key,
						 e->klen, e->val, e->vlen);
			break;
		case TXN_BOP_DEL_PLAIN:
			rc = dkv_batch_del_plain(g->batch, b->shard, e->key,
						 e->klen);
			break;
		default:
			rc = DKV_ERR_INVAL;
		}
	}
	if (rc != DKV_OK && b->n > 0) {
		g->poisoned = 1;
		rc = DKV_ERR_INTERNAL;
	}
	c->applied = rc == DKV_OK;
	c->rc = rc;
	return rc;
}

int apply_cmd(struct apply_group *g, struct dkv_cmd *c,
	      int (*epoch_fn)(void *ctx, uint64_t *epoch), void *epoch_ctx)
{
	char numbuf[24];
	struct dkv_val cur;
	const char *newv = NULL;
	size_t newlen = 0;
	char *heap = NULL;
	int found = 0, write, rc;

	c->applied = 0;
	c->epoch = 0;
	c->old_found = 0;
	memset(&c->old, 0, sizeof(c->old));
	memset(&cur, 0, sizeof(cur));
	if (c->op == DKV_OP_TXN)
		return apply_txn(g, c);
	/* A plain SET does not depend on the current value: skip the read. */
	if (c->op != DKV_OP_SET || c->cond != DKV_COND_NONE || c->want_old) {
		rc = read_current(g, c, &cur, &found);
		if (rc != DKV_OK)
			goto out;
	}
	write = compute(c, &cur, found, dkv_store_max_value(g->store), &newv,
			&newlen, numbuf, &heap);
	if (write < 0) {
		rc = write;
		goto out;
	}
	if (c->op == DKV_OP_SET && c->want_old && found) {
		/* Hand the old bytes over: copy if they live in the overlay. */
		c->old_found = 1;
		if (cur.mem_ != NULL) {
			c->old = cur;
			memset(&cur, 0, sizeof(cur));
		} else {
			rc = dkv_val_copy(&c->old, cur.data, cur.len);
			if (rc != DKV_OK)
				goto out;
		}
	}
	c->applied = write;
	if (!write)
		goto out;
	rc = epoch_fn(epoch_ctx, &c->epoch);
	if (rc != DKV_OK)
		goto out;
	/* Overlay first: if the batch then refuses the record, the entry is
	 * undone and neither holds the write. */
	rc = overlay_put(g, c->shard, c->key, c->klen, newv, newlen);
	if (rc != DKV_OK)
		goto out;
	if (newv == NULL)
		rc = dkv_batch_del(g->batch, c->shard, c->key, c->klen,
				   c->epoch);
	else
		rc = dkv_batch_put(g->batch, c->shard, c->key, c->klen, newv,
				   newlen, c->epoch);
	if (rc != DKV_OK)
		overlay_pop(g);
out:
	if (rc != DKV_OK) {
		c->applied = 0;
		c->epoch = 0;
		dkv_val_release(&c->old);
		c->old_found = 0;
	}
	free(heap);
	dkv_val_release(&cur);
	c->rc = rc;
	return rc;
}

int apply_group_commit(struct apply_group *g)
{
	int rc = g->poisoned ? DKV_ERR_INTERNAL : dkv_batch_commit(g->batch);

	g->poisoned = 0;
	if (rc != DKV_OK)
		dkv_batch_clear(g->batch);
	overlay_reset(g);
	return rc;
}

size_t apply_group_records(const struct apply_group *g)
{
	return dkv_batch_count(g->batch);
}

size_t apply_group_bytes(const struct apply_group *g)
{
	return g->bytes;
}
