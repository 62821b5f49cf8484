/* fake_io.c - see fake_io.h. Linear searches: tests hold a few records. */
#include "fake_io.h"

#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "txn/batch.h"
#include "txn/util.h"

#define T0_NS (UINT64_C(1767225600) * UINT64_C(1000000000))

static uint64_t wall(void *ctx)
{
	return ((struct fake *)ctx)->wall_ns;
}

void fake_init(struct fake *f)
{
	struct dkv_hlc_io io = { f, wall, NULL, NULL };

	memset(f, 0, sizeof(*f));
	f->wall_ns = T0_NS;
	f->now_ms = 1000;
	f->rand = 0x1234;
	if (dkv_hlc_create(&io, NULL, &f->hlc) != 0)
		abort();
}

void fake_fini(struct fake *f)
{
	fake_drop(f);
	fake_clear(f);
	dkv_hlc_destroy(f->hlc);
}

void fake_advance(struct fake *f, uint64_t ms)
{
	f->now_ms += ms;
	f->wall_ns += ms * 1000000;
}

static int get(void *ctx, uint32_t shard, const char *key, size_t klen,
	       uint64_t epoch, struct txn_version *out)
{
	struct fake *f = ctx;
	const struct fake_ver *best = NULL;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < f->nver; i++) {
		const struct fake_ver *v = &f->ver[i];

		if (v->shard == shard && v->klen == klen &&
		    !memcmp(v->key, key, klen) && v->epoch <= epoch &&
		    (best == NULL || v->epoch > best->epoch))
			best = v;
	}
	if (best != NULL) {
		out->kind = best->del ? TXN_V_DEL : TXN_V_PUT;
		out->epoch = best->epoch;
		out->val = best->val;
		out->vlen = best->vlen;
	}
	return 0;
}

static int range(void *ctx, uint32_t shard, const char *start, size_t slen,
		 const char *end, size_t elen, uint64_t epoch,
		 txn_version_cb cb, void *arg)
{
	struct fake *f = ctx;
	const char *last = NULL;
	size_t lastlen = 0;

	/* Visit distinct keys in order: repeatedly take the smallest key
	 * above the last one visited. */
	for (;;) {
		const struct fake_ver *next = NULL;
		struct txn_version v;
		int rc;

		for (size_t i = 0; i < f->nver; i++) {
			const struct fake_ver *x = &f->ver[i];

			if (x->shard != shard ||
			    (slen && txn_key_cmp(x->key, x->klen, start, slen) < 0) ||
			    (elen && txn_key_cmp(x->key, x->klen, end, elen) >= 0) ||
			    (last && txn_key_cmp(x->key, x->klen, last, lastlen) <= 0))
				continue;
			if (next == NULL ||
			    txn_key_cmp(x->key, x->klen, next->key, next->klen) < 0)
				next = x;
		}
		if (next == NULL)
			return 0;
		last = next->key;
		lastlen = next->klen;
		get(ctx, shard, next->key, next->klen, epoch, &v);
		if (v.kind == TXN_V_NONE)
			continue;
		rc = cb(arg, next->key, next->klen, &v);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return 0;
	}
}

static int scan_plain(void *ctx, uint32_t shard, const char *prefix,
		      size_t plen, txn_plain_cb cb, void *arg)
{
	struct fake *f = ctx;

	for (size_t i = 0; i < f->npl; i++) {
		const struct fake_plain *p = &f->pl[i];
		int rc;

		if (p->shard != shard || p->klen < plen ||
		    memcmp(p->key, prefix, plen) != 0)
			continue;
		rc = cb(arg, p->key, p->klen, p->val, p->vlen);
		if (rc != 0)
			return rc < 0 ? rc : 0;
	}
	return 0;
}

static int submit(void *ctx, const struct txn_batch *b, txn_done_fn done,
		  void *arg)
{
	struct fake *f = ctx;
	struct fake_pend *p;

	if (f->npend == 64)
		abort();
	p = &f->pend[f->npend++];
	txn_batch_init(&p->b, b->shard);
	for (size_t i = 0; i < b->n; i++)
		if (txn_batch_add(&p->b, b->v[i].op, b->v[i].key, b->v[i].klen,
				  b->v[i].val, b->v[i].vlen, b->v[i].epoch))
			abort();
	p->done = done;
	p->arg = arg;
	return 0;
}

static void send(void *ctx, const struct txn_msg *msg)
{
	struct fake *f = ctx;

	if (f->nout == 256 || txn_msg_copy(&f->out[f->nout], msg) != 0)
		abort();
	f->nout++;
}

static uint64_t now_ms(void *ctx)
{
	return ((struct fake *)ctx)->now_ms;
}

static uint64_t rand64(void *ctx)
{
	struct fake *f = ctx;

	f->rand = f->rand * UINT64_C(6364136223846793005) + 1442695040888963407u;
	return f->rand;
}

static uint32_t shard_of(void *ctx, const char *key, size_t klen)
{
	uint32_t v = 0;

	(void)ctx;
	for (size_t i = 0; i < klen && key[i] >= '0' && key[i] <= '9'; i++)
		v = v * 10 + (uint32_t)(key[i] - '0');
	return v;
}

void fake_io(struct fake *f, struct txn_io *io)
{
	memset(io, 0, sizeof(*io));
	io->ctx = f;
	io->get = get;
	io->range = range;
	io->scan_plain = scan_plain;
	io->submit = submit;
	io->send = send;
	io->now_ms = now_ms;
	io->hlc = f->hlc;
}

void fake_coord_io(struct fake *f, struct txn_coord_io *io)
{
	memset(io, 0, sizeof(*io));
	io->ctx = f;
	io->send = send;
	io->now_ms = now_ms;
	io->rand64 = rand64;
	io->shard_of = shard_of;
	io->hlc = f->hlc;
}

static void apply(struct fake *f, const struct txn_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		const struct txn_bent *e = &b->v[i];
		size_t j;

		if (e->op == TXN_BOP_PUT || e->op == TXN_BOP_DEL) {
			struct fake_ver *v = &f->ver[f->nver++];

			if (f->nver > FAKE_MAX || e->klen > sizeof(v->key) ||
			    e->vlen > sizeof(v->val))
				abort();
			memset(v, 0, sizeof(*v));
			v->shard = b->shard;
			memcpy(v->key, e->key, e->klen);
			v->klen = e->klen;
			v->epoch = e->epoch;
			v->del = e->op == TXN_BOP_DEL;
			if (e->vlen)
				memcpy(v->val, e->val, e->vlen);
			v->vlen = e->vlen;
			continue;
		}
		for (j = 0; j < f->npl; j++)
			if (f->pl[j].shard == b->shard &&
			    f->pl[j].klen == e->klen &&
			    !memcmp(f->pl[j].key, e->key, e->klen))
				break;
		if (e->op == TXN_BOP_DEL_PLAIN) {
			if (j < f->npl)
				f->pl[j] = f->pl[--f->npl];
			continue;
		}
		if (j == f->npl) {
			if (f->npl == FAKE_MAX || e->klen > sizeof(f->pl[0].key))
				abort();
			f->npl++;
		}
		if (e->vlen > sizeof(f->pl[j].val))
			abort();
		f->pl[j].shard = b->shard;
		memcpy(f->pl[j].key, e->key, e->klen);
		f->pl[j].klen = e->klen;
		if (e->vlen)
			memcpy(f->pl[j].val, e->val, e->vlen);
		f->pl[j].vlen = e->vlen;
	}
}

size_t fake_flush(struct fake *f)
{
	size_t n = 0;

	/* Completions may submit more: loop until none is left. */
	while (f->npend > 0) {
		struct fake_pend p = f->pend[0];

		memmove(&f->pend[0], &f->pend[1],
			(f->npend - 1) * sizeof(f->pend[0]));
		f->npend--;
		apply(f, &p.b);
		p.done(p.arg, 0);
		txn_batch_free(&p.b);
		n++;
	}
	return n;
}

void fake_drop(struct fake *f)
{
	for (size_t i = 0; i < f->npend; i++)
		txn_batch_free(&f->pend[i].b);
	f->npend = 0;
}

int fake_take(struct fake *f, enum txn_msg_type type, struct txn_msg *out)
{
	for (size_t i = 0; i < f->nout; i++)
		if (f->out[i].type == type) {
			*out = f->out[i];
			memmove(&f->out[i], &f->out[i + 1],
				(f->nout - i - 1) * sizeof(f->out[0]));
			f->nout--;
			return 0;
		}
	return -1;
}

size_t fake_count(const struct fake *f, enum txn_msg_type type)
{
	size_t n = 0;

	for (size_t i = 0; i < f->nout; i++)
		n += f->out[i].type == type;
	return n;
}

void fake_clear(struct fake *f)
{
	for (size_t i = 0; i < f->nout; i++)
		txn_msg_free(&f->out[i]);
	f->nout = 0;
}

void fake_put(struct fake *f, uint32_t shard, const char *key, const char *val,
	      uint64_t epoch)
{
	struct txn_batch b;

	txn_batch_init(&b, shard);
	if (txn_batch_add(&b, TXN_BOP_PUT, key, strlen(key), val, strlen(val),
			  epoch) != 0)
		abort();
	apply(f, &b);
	txn_batch_free(&b);
}

const struct fake_ver *fake_newest(const struct fake *f, uint32_t shard,
				   const char *key)
{
	const struct fake_ver *best = NULL;

	for (size_t i = 0; i < f->nver; i++) {
		const struct fake_ver *v = &f->ver[i];

		if (v->shard == shard && v->klen == strlen(key) &&
		    !memcmp(v->key, key, v->klen) &&
		    (best == NULL || v->epoch >= best->epoch))
			best = v;
	}
	return best;
}

size_t fake_plain_count(const struct fake *f, uint32_t shard, char prefix)
{
	size_t n = 0;

	for (size_t i = 0; i < f->npl; i++)
		n += f->pl[i].shard == shard && f->pl[i].klen > 0 &&
		     f->pl[i].key[0] == prefix;
	return n;
}
