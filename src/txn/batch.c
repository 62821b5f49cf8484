/* batch.c - see batch.h. Out of memory is the only failure. */
#include "txn/batch.h"

#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "txn/util.h"

void txn_batch_init(struct txn_batch *b, uint32_t shard)
{
	memset(b, 0, sizeof(*b));
	b->shard = shard;
}

void txn_batch_free(struct txn_batch *b)
{
	free(b->v);
	txn_arena_free(&b->mem_);
	memset(b, 0, sizeof(*b));
}

int txn_batch_add(struct txn_batch *b, enum txn_bop op, const void *key,
		  size_t klen, const void *val, size_t vlen, uint64_t epoch)
{
	struct txn_bent *e;
	char *k, *v = NULL;

	if (b->n == b->cap_) {
		size_t cap = b->cap_ ? b->cap_ * 2 : 8;
		struct txn_bent *nv = realloc(b->v, cap * sizeof(*nv));

		if (nv == NULL)
			return DKV_ERR_NOMEM;
		b->v = nv;
		b->cap_ = cap;
	}
	k = txn_arena_dup(&b->mem_, key, klen);
	if (k == NULL && klen != 0)
		return DKV_ERR_NOMEM;
	if (vlen != 0) {
		v = txn_arena_dup(&b->mem_, val, vlen);
		if (v == NULL)
			return DKV_ERR_NOMEM;
	}
	e = &b->v[b->n++];
	memset(e, 0, sizeof(*e));
	e->op = op;
	e->key = k;
	e->klen = klen;
	e->val = v;
	e->vlen = vlen;
	e->epoch = epoch;
	return 0;
}
