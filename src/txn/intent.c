/*
 * intent.c - the per-shard intent index (intent.h).
 *
 * Happy path: a key hashes (xxh3) to a bucket chain of struct txn_ikey;
 * each key keeps its holders in a singly linked list and sits in a doubly
 * linked list of all keys for range walks. The table doubles at load 1.
 * Failure modes: out of memory on add -> DKV_ERR_NOMEM, index unchanged
 * (a failed growth just keeps the smaller table).
 */
#include "txn/intent.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "dkv_err.h"
#include "txn/util.h"

struct txn_ikey {
	struct txn_ikey *hnext;      /* bucket chain */
	struct txn_ikey *next, *prev; /* all keys */
	struct txn_intent *holders;
	uint64_t hash;
	size_t klen;
	char key[];
};

#define II_MIN_BUCKETS 64u

int txn_ii_init(struct txn_iindex *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->buckets = calloc(II_MIN_BUCKETS, sizeof(*ix->buckets));
	if (ix->buckets == NULL)
		return DKV_ERR_NOMEM;
	ix->nbuckets = II_MIN_BUCKETS;
	return 0;
}

void txn_ii_fini(struct txn_iindex *ix)
{
	struct txn_ikey *k, *kn;
	struct txn_intent *in, *inn;
	struct txn_rlock *r, *rn;

	for (k = ix->all; k != NULL; k = kn) {
		kn = k->next;
		for (in = k->holders; in != NULL; in = inn) {
			inn = in->next_on_key;
			free(in);
		}
		free(k);
	}
	for (r = ix->ranges; r != NULL; r = rn) {
		rn = r->next;
		free(r);
	}
	free(ix->buckets);
	memset(ix, 0, sizeof(*ix));
}

static uint64_t key_hash(const char *key, size_t klen)
{
	return XXH3_64bits(key, klen);
}

static struct txn_ikey *ikey_find(const struct txn_iindex *ix,
				  const char *key, size_t klen, uint64_t h)
{
	struct txn_ikey *k = ix->buckets[h & (ix->nbuckets - 1)];

	for (; k != NULL; k = k->hnext)
		if (k->hash == h && k->klen == klen &&
		    memcmp(k->key, key, klen) == 0)
			return k;
	return NULL;
}

static void grow(struct txn_iindex *ix)
{
	size_t n = ix->nbuckets * 2;
	struct txn_ikey **b = calloc(n, sizeof(*b));
	struct txn_ikey *k;

	if (b == NULL)
		return; /* keep the smaller table: slower, still correct */
	for (k = ix->all; k != NULL; k = k->next) {
		size_t i = k->hash & (n - 1);

		k->hnext = b[i];
		b[i] = k;
	}
	free(ix->buckets);
	ix->buckets = b;
	ix->nbuckets = n;
}

int txn_ii_add(struct txn_iindex *ix, const char *key, size_t klen,
	       void *owner, const struct dkv_txid *txid, unsigned kind,
	       const char *val, size_t vlen, struct txn_intent **out)
{
	uint64_t h = key_hash(key, klen);
	struct txn_ikey *k = ikey_find(ix, key, klen, h);
	struct txn_intent *in = calloc(1, sizeof(*in));
	size_t b;

	if (in == NULL)
		return DKV_ERR_NOMEM;
	if (k == NULL) {
		k = malloc(sizeof(*k) + klen);
		if (k == NULL) {
			free(in);
			return DKV_ERR_NOMEM;
		}
		memcpy(k->key, key, klen);
		k->klen = klen;
		k->hash = h;
		k->holders = NULL;
		b = h & (ix->nbuckets - 1);
		k->hnext = ix->buckets[b];
		ix->buckets[b] = k;
		k->prev = NULL;
		k->next = ix->all;
		if (ix->all != NULL)
			ix->all->prev = k;
		ix->all = k;
		ix->nkeys++;
		if (ix->nkeys > ix->nbuckets)
			grow(ix);
	}
	in->ik = k;
	in->owner = owner;
	in->txid = txid;
	in->kind = kind;
	in->val = val;
	in->vlen = vlen;
	in->next_on_key = k->holders;
	k->holders = in;
	ix->nintents++;
	*out = in;
	return 0;
}

void txn_ii_remove(struct txn_iindex *ix, struct txn_intent *in)
{
	struct txn_ikey *k = in->ik, **pp;
	struct txn_intent **ip;

	for (ip = &k->holders; *ip != NULL; ip = &(*ip)->next_on_key)
		if (*ip == in) {
			*ip = in->next_on_key;
			break;
		}
	free(in);
	ix->nintents--;
	if (k->holders != NULL)
		return;
	for (pp = &ix->buckets[k->hash & (ix->nbuckets - 1)]; *pp != NULL;
	     pp = &(*pp)->hnext)
		if (*pp == k) {
			*pp = k->hnext;
			break;
		}
	if (k->prev != NULL)
		k->prev->next = k->next;
	else
		ix->all = k->next;
	if (k->next != NULL)
		k->next->prev = k->prev;
	ix->nkeys--;
	free(k);
}

struct txn_intent *txn_ii_find(const struct txn_iindex *ix, const char *key,
			       size_t klen)
{
	struct txn_ikey *k = ikey_find(ix, key, klen, key_hash(key, klen));

	return k ? k->holders : NULL;
}

const char *txn_ii_key(const struct txn_intent *in, size_t *klen)
{
	*klen = in->ik->klen;
	return in->ik->key;
}

int txn_key_in(const char *key, size_t klen, const char *start, size_t slen,
	       const char *end, size_t elen)
{
	if (slen > 0 && txn_key_cmp(key, klen, start, slen) < 0)
		return 0;
	if (elen > 0 && txn_key_cmp(key, klen, end, elen) >= 0)
		return 0;
	return 1;
}

int txn_ranges_overlap(const char *s1, size_t s1len, const char *e1,
		       size_t e1len, const char *s2, size_t s2len,
		       const char *e2, size_t e2len)
{
	/* Disjoint iff one ends at or before the other starts. */
	if (e1len > 0 && s2len > 0 && txn_key_cmp(e1, e1len, s2, s2len) <= 0)
		return 0;
	if (e2len > 0 && s1len > 0 && txn_key_cmp(e2, e2len, s1, s1len) <= 0)
		return 0;
	return 1;
}

int txn_ii_foreach_in(const struct txn_iindex *ix, const char *start,
		      size_t slen, const char *end, size_t elen,
		      int (*cb)(void *arg, struct txn_intent *in), void *arg)
{
	struct txn_ikey *k;
	struct txn_intent *in;
	int rc;

	for (k = ix->all; k != NULL; k = k->next) {
		if (!txn_key_in(k->key, k->klen, start, slen, end, elen))
			continue;
		for (in = k->holders; in != NULL; in = in->next_on_key) {
			rc = cb(arg, in);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

int txn_ii_range_add(struct txn_iindex *ix, void *owner,
		     const struct dkv_txid *txid, const char *start,
		     size_t slen, const char *end, size_t elen,
		     struct txn_rlock **out)
{
	struct txn_rlock *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return DKV_ERR_NOMEM;
	r->owner = owner;
	r->txid = txid;
	r->start = start;
	r->slen = slen;
	r->end = end;
	r->elen = elen;
	r->next = ix->ranges;
	if (ix->ranges != NULL)
		ix->ranges->prev = r;
	ix->ranges = r;
	ix->nranges++;
	*out = r;
	return 0;
}

void txn_ii_range_remove(struct txn_iindex *ix, struct txn_rlock *r)
{
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		ix->ranges = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	ix->nranges--;
	free(r);
}

struct txn_rlock *txn_ii_range_covering(const struct txn_iindex *ix,
					const char *key, size_t klen,
					const struct txn_rlock *after)
{
	struct txn_rlock *r = after ? after->next : ix->ranges;

	for (; r != NULL; r = r->next)
		if (txn_key_in(key, klen, r->start, r->slen, r->end, r->elen))
			return r;
	return NULL;
}
