/*
 * sim_store.c - a node's store in the simulation: per shard, sorted keys
 * with their versions (ascending epochs; puts and tombstones) and sorted
 * plain records. This is the durable part: a batch is applied to it only
 * when it completes. Batches in flight wait in a FIFO and complete in
 * submission order at random delays; a crash drops them (none of their
 * records survive, their callbacks never run).
 *
 * Like the real store, it refuses a version below the key's newest
 * (src/store: epoch order) - here as a failed run, since the transaction
 * layer must never ask for it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "sim.h"
#include "txn/batch.h"
#include "txn/record.h"
#include "txn/util.h"

void sstore_init(struct sim_store *s)
{
	memset(s, 0, sizeof(*s));
}

static void shard_fini(struct sshard *sh)
{
	for (uint32_t i = 0; i < sh->nkeys; i++) {
		for (uint32_t j = 0; j < sh->keys[i].n; j++)
			free(sh->keys[i].v[j].val);
		free(sh->keys[i].v);
		free(sh->keys[i].key);
	}
	free(sh->keys);
	for (uint32_t i = 0; i < sh->npl; i++) {
		free(sh->pl[i].key);
		free(sh->pl[i].val);
	}
	free(sh->pl);
	memset(sh, 0, sizeof(*sh));
}

void sstore_drop_inflight(struct sim_store *s)
{
	struct sbatch *b, *bn;

	for (b = s->head; b != NULL; b = bn) {
		bn = b->next;
		txn_batch_free(&b->b);
		free(b);
	}
	s->head = s->tail = NULL;
}

void sstore_fini(struct sim_store *s)
{
	sstore_drop_inflight(s);
	for (uint32_t i = 0; i < s->nsh; i++)
		shard_fini(&s->sh[i]);
	free(s->err);
	memset(s, 0, sizeof(*s));
}

struct sshard *sstore_shard(struct sim_store *s, uint32_t id, int create)
{
	for (uint32_t i = 0; i < s->nsh; i++)
		if (s->sh[i].id == id)
			return &s->sh[i];
	if (!create || s->nsh == SIM_MAX_SHARDS)
		return NULL;
	memset(&s->sh[s->nsh], 0, sizeof(s->sh[0]));
	s->sh[s->nsh].id = id;
	return &s->sh[s->nsh++];
}

static char *dup(const char *p, size_t n)
{
	char *d = malloc(n ? n : 1);

	if (d == NULL)
		abort();
	if (n)
		memcpy(d, p, n);
	return d;
}

/* Lower bound of key in an array of structs with key/klen members. */
#define LOWER_BOUND(arr, n, k, kl, out)                                        \
	do {                                                                   \
		uint32_t lo_ = 0, hi_ = (n);                                   \
		while (lo_ < hi_) {                                            \
			uint32_t mid_ = (lo_ + hi_) / 2;                       \
			if (txn_key_cmp((arr)[mid_].key, (arr)[mid_].klen, (k), \
					(kl)) < 0)                             \
				lo_ = mid_ + 1;                                \
			else                                                   \
				hi_ = mid_;                                    \
		}                                                              \
		(out) = lo_;                                                   \
	} while (0)

const struct skey *sstore_key(const struct sshard *sh, const char *key,
			      size_t klen)
{
	uint32_t i;

	LOWER_BOUND(sh->keys, sh->nkeys, key, klen, i);
	if (i < sh->nkeys &&
	    txn_key_cmp(sh->keys[i].key, sh->keys[i].klen, key, klen) == 0)
		return &sh->keys[i];
	return NULL;
}

const struct sver *sstore_version(const struct skey *k, uint64_t epoch)
{
	for (uint32_t j = k->n; j > 0; j--)
		if (k->v[j - 1].epoch <= epoch)
			return &k->v[j - 1];
	return NULL;
}

static void set_err(struct sim_store *s, const char *msg)
{
	if (s->err == NULL)
		s->err = dup(msg, strlen(msg) + 1);
}

static void apply_version(struct sim_store *s, struct sshard *sh,
			  const struct txn_bent *e)
{
	struct skey *k;
	uint32_t i;

	LOWER_BOUND(sh->keys, sh->nkeys, e->key, e->klen, i);
	if (i == sh->nkeys ||
	    txn_key_cmp(sh->keys[i].key, sh->keys[i].klen, e->key, e->klen)) {
		if (sh->nkeys == sh->kcap) {
			sh->kcap = sh->kcap ? sh->kcap * 2 : 16;
			sh->keys = realloc(sh->keys, sh->kcap * sizeof(*k));
			if (sh->keys == NULL)
				abort();
		}
		memmove(&sh->keys[i + 1], &sh->keys[i],
			(sh->nkeys - i) * sizeof(*k));
		sh->nkeys++;
		k = &sh->keys[i];
		memset(k, 0, sizeof(*k));
		k->key = dup(e->key, e->klen);
		k->klen = (uint32_t)e->klen;
	}
	k = &sh->keys[i];
	if (e->epoch == 0 || e->epoch == UINT64_MAX) {
		set_err(s, "a version at epoch 0 or MAX");
		return;
	}
	if (k->n > 0 && e->epoch < k->v[k->n - 1].epoch) {
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "epoch order: version of '%.*s' at %llu below the "
			 "newest %llu",
			 (int)e->klen, e->key, (unsigned long long)e->epoch,
			 (unsigned long long)k->v[k->n - 1].epoch);
		set_err(s, msg);
		return;
	}
	if (k->n > 0 && e->epoch == k->v[k->n - 1].epoch) {
		free(k->v[k->n - 1].val);
		k->n--;
	}
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 4;
		k->v = realloc(k->v, k->cap * sizeof(*k->v));
		if (k->v == NULL)
			abort();
	}
	k->v[k->n].epoch = e->epoch;
	k->v[k->n].del = e->op == TXN_BOP_DEL;
	k->v[k->n].val = e->op == TXN_BOP_DEL ? NULL : dup(e->val, e->vlen);
	k->v[k->n].vlen = e->op == TXN_BOP_DEL ? 0 : (uint32_t)e->vlen;
	k->n++;
}

static void apply_plain(struct sshard *sh, const struct txn_bent *e)
{
	uint32_t i;
	int found;

	LOWER_BOUND(sh->pl, sh->npl, e->key, e->klen, i);
	found = i < sh->npl &&
		!txn_key_cmp(sh->pl[i].key, sh->pl[i].klen, e->key, e->klen);
	if (e->op == TXN_BOP_DEL_PLAIN) {
		if (!found)
			return;
		free(sh->pl[i].key);
		free(sh->pl[i].val);
		memmove(&sh->pl[i], &sh->pl[i + 1],
			(sh->npl - i - 1) * sizeof(sh->pl[0]));
		sh->npl--;
		return;
	}
	if (found) {
		free(sh->pl[i].val);
	} else {
		if (sh->npl == sh->plcap) {
			sh->plcap = sh->plcap ? sh->plcap * 2 : 16;
			sh->pl = realloc(sh->pl, sh->plcap * sizeof(sh->pl[0]));
			if (sh->pl == NULL)
				abort();
		}
		memmove(&sh->pl[i + 1], &sh->pl[i],
			(sh->npl - i) * sizeof(sh->pl[0]));
		sh->npl++;
		sh->pl[i].key = dup(e->key, e->klen);
		sh->pl[i].klen = (uint32_t)e->klen;
	}
	sh->pl[i].val = dup(e->val, e->vlen);
	sh->pl[i].vlen = (uint32_t)e->vlen;
}

void sstore_apply(struct sim_store *s, const struct txn_batch *b)
{
	struct sshard *sh = sstore_shard(s, b->shard, 0);

	if (sh == NULL) {
		set_err(s, "batch for a shard the node does not have");
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct txn_bent *e = &b->v[i];

		if (e->op == TXN_BOP_PUT || e->op == TXN_BOP_DEL)
			apply_version(s, sh, e);
		else
			apply_plain(sh, e);
	}
}

/* --- io ops ------------------------------------------------------------------ */

int sstore_get(void *ctx, uint32_t shard, const char *key, size_t klen,
	       uint64_t epoch, struct txn_version *out)
{
	struct sim_node *n = ctx;
	struct sshard *sh = sstore_shard(&n->store, shard, 0);
	const struct skey *k;
	const struct sver *v;

	memset(out, 0, sizeof(*out));
	if (sh == NULL)
		return DKV_ERR_NO_SHARD;
	k = sstore_key(sh, key, klen);
	v = k ? sstore_version(k, epoch) : NULL;
	if (v == NULL)
		return 0;
	out->kind = v->del ? TXN_V_DEL : TXN_V_PUT;
	out->epoch = v->epoch;
	out->val = v->val;
	out->vlen = v->vlen;
	return 0;
}

int sstore_range(void *ctx, uint32_t shard, const char *start, size_t slen,
		 const char *end, size_t elen, uint64_t epoch,
		 txn_version_cb cb, void *arg)
{
	struct sim_node *n = ctx;
	struct sshard *sh = sstore_shard(&n->store, shard, 0);
	struct txn_version tv;
	uint32_t i;
	int rc;

	if (sh == NULL)
		return DKV_ERR_NO_SHARD;
	LOWER_BOUND(sh->keys, sh->nkeys, start, slen, i);
	for (; i < sh->nkeys; i++) {
		const struct skey *k = &sh->keys[i];
		const struct sver *v;

		if (elen && txn_key_cmp(k->key, k->klen, end, elen) >= 0)
			break;
		v = sstore_version(k, epoch);
		if (v == NULL)
			continue;
		tv.kind = v->del ? TXN_V_DEL : TXN_V_PUT;
		tv.epoch = v->epoch;
		tv.val = v->val;
		tv.vlen = v->vlen;
		rc = cb(arg, k->key, k->klen, &tv);
		if (rc < 0)
			return rc;
		if (rc > 0)
			break;
	}
	return 0;
}

int sstore_scan_plain(void *ctx, uint32_t shard, const char *prefix,
		      size_t plen, txn_plain_cb cb, void *arg)
{
	struct sim_node *n = ctx;
	struct sshard *sh = sstore_shard(&n->store, shard, 0);
	uint32_t i;
	int rc;

	if (sh == NULL)
		return DKV_ERR_NO_SHARD;
	LOWER_BOUND(sh->pl, sh->npl, prefix, plen, i);
	for (; i < sh->npl; i++) {
		const struct splain *p = &sh->pl[i];

		if (p->klen < plen || memcmp(p->key, prefix, plen) != 0)
			break;
		rc = cb(arg, p->key, p->klen, p->val, p->vlen);
		if (rc < 0)
			return rc;
		if (rc > 0)
			break;
	}
	return 0;
}

/* Whether a batch writes a transaction record worth crashing after. */
static int interesting(const struct txn_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct txn_bent *e = &b->v[i];

		if (e->op == TXN_BOP_PUT_PLAIN && e->klen > 0 &&
		    (e->key[0] == TXN_REC_TX || e->key[0] == TXN_REC_FOLLOW))
			return 1;
	}
	return 0;
}

int sstore_submit(void *ctx, const struct txn_batch *b, txn_done_fn done,
		  void *arg)
{
	struct sim_node *n = ctx;
	struct sim *s = n->sim;
	struct sim_store *st = &n->store;
	struct sbatch *sb = calloc(1, sizeof(*sb));
	uint64_t delay, at;

	if (sb == NULL)
		abort();
	txn_batch_init(&sb->b, b->shard);
	for (size_t i = 0; i < b->n; i++) {
		const struct txn_bent *e = &b->v[i];

		if (txn_batch_add(&sb->b, e->op, e->key, e->klen, e->val,
				  e->vlen, e->epoch) != 0)
			abort();
	}
	sb->done = done;
	sb->arg = arg;
	sb->seq = ++st->next_seq;
	if (st->tail != NULL)
		st->tail->next = sb;
	else
		st->head = sb;
	st->tail = sb;
	s->ctr.batches++;
	delay = rng_range(&s->rng, 100, 2000);
	if (rng_chance(&s->rng, 20000))
		delay = rng_range(&s->rng, 10000, 30000); /* a slow fsync */
	at = s->now + delay;
	if (at < st->last_done_us)
		at = st->last_done_us;
	st->last_done_us = at;
	sim_schedule(s, at, EV_BATCH, (uint32_t)n->idx,
		     (uint64_t)n->inc << 32 | (sb->seq & 0xffffffffu), NULL);
	/* A crash right around the durability of a transaction record: the
	 * moments the in-doubt table is about. */
	if (s->faults && s->conf.target_crash_ppm && interesting(b) &&
	    rng_chance(&s->rng, s->conf.target_crash_ppm))
		sim_schedule(s, s->now + rng_range(&s->rng, 0, delay + 500),
			     EV_CRASH, (uint32_t)n->idx, n->inc, (void *)1);
	return 0;
}
