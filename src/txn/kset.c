/*
 * kset.c - the coordinator's key sets and the range merge (kset.h).
 *
 * Happy path: xxh3 of the key picks a chain; the table doubles at load 1.
 * Failure modes: out of memory -> DKV_ERR_NOMEM with the set unchanged (a
 * failed growth only keeps the smaller table).
 */
#include "txn/kset.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dkv_err.h"
#include "txn/intent.h"
#include "txn/util.h"

void kset_init(struct kset *s)
{
	memset(s, 0, sizeof(*s));
}

void kset_clear(struct kset *s)
{
	struct kentry *e, *en;

	for (e = s->head; e != NULL; e = en) {
		en = e->next;
		free(e->val);
		free(e);
	}
	if (s->b != NULL)
		memset(s->b, 0, s->nb * sizeof(*s->b));
	s->n = 0;
	s->head = s->tail = NULL;
}

void kset_fini(struct kset *s)
{
	kset_clear(s);
	free(s->b);
	memset(s, 0, sizeof(*s));
}

struct kentry *kset_find(const struct kset *s, const char *key, size_t klen)
{
	uint64_t h;
	struct kentry *e;

	if (s->nb == 0)
		return NULL;
	h = XXH3_64bits(key, klen);
	for (e = s->b[h & (s->nb - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && e->klen == klen &&
		    memcmp(e->key, key, klen) == 0)
			return e;
	return NULL;
}

static int grow(struct kset *s)
{
	size_t nb = s->nb ? s->nb * 2 : 16;
	struct kentry **b = calloc(nb, sizeof(*b));
	struct kentry *e;

	if (b == NULL)
		return s->nb ? 0 : DKV_ERR_NOMEM;
	for (e = s->head; e != NULL; e = e->next) {
		e->hnext = b[e->hash & (nb - 1)];
		b[e->hash & (nb - 1)] = e;
	}
	free(s->b);
	s->b = b;
	s->nb = nb;
	return 0;
}

int kset_put(struct kset *s, uint32_t shard, const char *key, size_t klen,
	     uint32_t kind, const char *val, size_t vlen, uint64_t epoch,
	     int replace)
{
	struct kentry *e = kset_find(s, key, klen);
	char *v = NULL;

	if (e != NULL && !replace)
		return 0;
	if (vlen > 0) {
		v = malloc(vlen);
		if (v == NULL)
			return DKV_ERR_NOMEM;
		memcpy(v, val, vlen);
	}
	if (e != NULL) {
		free(e->val);
		e->val = v;
		e->vlen = (uint32_t)vlen;
		e->kind = kind;
		e->epoch = epoch;
		e->shard = shard;
		return 0;
	}
	if (s->n + 1 > s->nb && grow(s) != 0) {
		free(v);
		return DKV_ERR_NOMEM;
	}
	e = malloc(sizeof(*e) + klen);
	if (e == NULL) {
		free(v);
		return DKV_ERR_NOMEM;
	}
	memcpy(e->key, key, klen);
	e->klen = (uint32_t)klen;
	e->hash = XXH3_64bits(key, klen);
	e->shard = shard;
	e->kind = kind;
	e->epoch = epoch;
	e->val = v;
	e->vlen = (uint32_t)vlen;
	e->hnext = s->b[e->hash & (s->nb - 1)];
	s->b[e->hash & (s->nb - 1)] = e;
	e->next = NULL;
	if (s->tail != NULL)
		s->tail->next = e;
	else
		s->head = e;
	s->tail = e;
	s->n++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct kentry *x = *(const struct kentry *const *)a;
	const struct kentry *y = *(const struct kentry *const *)b;

	return txn_key_cmp(x->key, x->klen, y->key, y->klen);
}

int kset_merge_range(const struct kset *writes, uint32_t shard,
		     const struct txn_item *items, uint32_t n,
		     const char *start, size_t slen, const char *cend,
		     size_t celen, const struct txn_bytes *shard_next,
		     uint32_t limit, struct txn_item **out, uint32_t *nout,
		     struct txn_bytes *next, char **next_mem)
{
	struct kentry **w = NULL, *e;
	struct txn_item *o = NULL;
	uint32_t nw = 0, i = 0, j = 0, k = 0;
	int cut = 0, rc = DKV_ERR_NOMEM;

	*out = NULL;
	*nout = 0;
	next->p = NULL;
	next->len = 0;
	*next_mem = NULL;
	if (writes->n > 0) {
		w = malloc(writes->n * sizeof(*w));
		if (w == NULL)
			goto out;
	}
	for (e = writes->head; e != NULL; e = e->next)
		if (e->shard == shard &&
		    txn_key_in(e->key, e->klen, start, slen, cend, celen))
			w[nw++] = e;
	if (nw > 1)
		qsort(w, nw, sizeof(*w), entry_cmp);
	o = malloc(((size_t)n + nw + 1) * sizeof(*o));
	if (o == NULL)
		goto out;
	while (i < n || j < nw) {
		int c;

		if (limit != 0 && k == limit) {
			cut = 1;
			break;
		}
		if (i == n)
			c = 1;
		else if (j == nw)
			c = -1;
		else
			c = txn_key_cmp(items[i].key.p, items[i].key.len,
					w[j]->key, w[j]->klen);
		if (c < 0) {
			o[k++] = items[i++];
			continue;
		}
		e = w[j++];
		if (c == 0)
			i++;
		if (e->kind != TXN_W_PUT)
			continue;
		o[k].key.p = e->key;
		o[k].key.len = e->klen;
		o[k].val.p = e->val;
		o[k].val.len = e->vlen;
		o[k].epoch = 0; /* this transaction's own write */
		k++;
	}
	if (cut) {
		const struct txn_item *last = &o[k - 1];

		*next_mem = malloc(last->key.len + 1u);
		if (*next_mem == NULL)
			goto out;
		memcpy(*next_mem, last->key.p, last->key.len);
		(*next_mem)[last->key.len] = '\0';
		next->p = *next_mem;
		next->len = last->key.len + 1;
	} else if (shard_next != NULL) {
		*next = *shard_next;
	}
	*out = o;
	*nout = k;
	o = NULL;
	rc = 0;
out:
	free(o);
	free(w);
	return rc;
}
