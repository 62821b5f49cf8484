/*
 * test_store_model.c - the store against an in-memory model, randomized.
 *
 * Thousands of random operations (batches of puts and deletes, plain
 * records, point reads, ranges resumed through anchors, histories, GC,
 * close/reopen, checkpoints, a shard copy) run against a store and against
 * a model of versioned data; every read is compared with the model.
 *
 * Model: for each (shard, key) the versions (epoch, tombstone, value),
 * newest first, one per epoch (a later write at an equal epoch replaces
 * the earlier one, as in the store); plus the plain records of each shard
 * and each shard's history watermark. What the API promises after GC, and
 * so what is compared exactly: reads at epochs >= the watermark; histories
 * for the part at or above the watermark. Below it a history may only lack
 * versions, never show a version the model does not have, and it keeps
 * the version visible at the watermark when that is a put.
 *
 * Epoch order: the store takes a key's versions in epoch order only; a
 * write below the key's newest version (committed or earlier in the same
 * batch) is refused with DKV_ERR_WRITE_TOO_OLD and leaves the batch as it
 * was. By default (DKV_MODEL_MONOTONIC=1) writes are generated at or above
 * each key's newest epoch, and now and then a deliberate out-of-order write
 * is tried, which must be refused and change nothing. With
 * DKV_MODEL_MONOTONIC=0 old-epoch writes take any epoch at or above the
 * watermark and the model predicts which of them the store refuses.
 *
 * The seed is printed first; DKV_SEED=<n> replays a run, DKV_MODEL_OPS=<n>
 * changes its length (default 20000).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hlc/hlc.h"
#include "store/store.h"
#include "tmpdir.h"

#define NKEYS 200
#define MAX_KLEN 40
#define MAX_VLEN 300
#define NSHARDS 3      /* shards 1..NSHARDS from the start */
#define COPY_ID 4      /* made by dkv_store_shard_copy mid-run */
#define MAX_ID COPY_ID
#define EPOCH_BASE 1000
#define DEFAULT_OPS 20000
#define BOUND_MAX (MAX_KLEN + 2)

struct version {
	uint64_t epoch;
	int tomb;
	size_t vlen;
	char *val;
};

/* Versions of one key, newest (largest epoch) first, epochs unique. */
struct vlist {
	struct version *v;
	size_t n, cap;
};

struct pval {
	int present;
	size_t len;
	char *val;
};

struct mshard {
	int live;
	uint64_t wm;
	struct vlist ver[NKEYS];
	struct pval plain[NKEYS];
};

struct mkey {
	unsigned char b[MAX_KLEN];
	size_t len;
};

/* One item a read returned (copied) or the model expects (pointers into
 * the model). */
struct item {
	const unsigned char *key;
	size_t klen;
	const char *val;
	size_t vlen;
	uint64_t epoch;
	int tomb;
};

struct items {
	struct item *it;
	size_t n, cap;
	int copies;        /* key/val are malloc'ed copies */
	size_t stop_after; /* callback returns 1 after this many; 0 = never */
	size_t in_call;
};

struct stats {
	long writes, records, old_writes, rejected, too_old, gets, ranges,
		pages,
		range_items, histories, plains, gcs, reopens, checkpoints,
		copies, verifies, interleaved;
};

static struct {
	uint64_t seed, rng;
	long op, nops;
	const char *what;
	char dir[256];
	char db[320];
	struct dkv_store *store;
	uint64_t cur; /* newest epoch committed */
	struct mkey keys[NKEYS];
	struct mshard sh[MAX_ID + 1];
	int copied;
	int ncp;
	int trace; /* DKV_MODEL_TRACE: print every write and store event */
	int monotonic; /* DKV_MODEL_MONOTONIC: no write below a key's newest */
	struct stats st;
} T;

/* --- helpers ---------------------------------------------------------- */

static void failf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void failf(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL seed=%" PRIu64 " op=%ld (%s) cur=%" PRIu64 ": ",
		T.seed, T.op, T.what ? T.what : "-", T.cur);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fprintf(stderr, "replay with DKV_SEED=%" PRIu64 "; store left in %s\n",
		T.seed, T.dir);
	fail();
}

#define RC_EQ(call, want)                                                      \
	do {                                                                   \
		int rc_ = (call);                                              \
		int want_ = (want);                                            \
		if (rc_ != want_)                                              \
			failf("%s: rc %d (%s), want %d (%s)", #call, rc_,     \
			      dkv_errname(rc_), want_, dkv_errname(want_));    \
	} while (0)

/* Hex of a key, for messages; a few rotating buffers. */
static const char *hex(const void *p, size_t len)
{
	static char bufs[4][2 * BOUND_MAX + 8];
	static int which;
	char *b = bufs[which++ & 3];
	const unsigned char *s = p;
	size_t i;

	if (p == NULL)
		return "(null)";
	for (i = 0; i < len && i < BOUND_MAX; i++)
		snprintf(b + 2 * i, 3, "%02x", s[i]);
	b[2 * i] = '\0';
	if (len == 0)
		return "(empty)";
	return b;
}

static uint64_t rnd(void)
{
	uint64_t z = (T.rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* Uniform in [lo, hi]. */
static uint64_t rnd_in(uint64_t lo, uint64_t hi)
{
	return lo + rnd_below(hi - lo + 1);
}

/* True with probability per_mille / 1000. */
static int chance(unsigned per_mille)
{
	return rnd_below(1000) < per_mille;
}

static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int r = n ? memcmp(a, b, n) : 0;

	if (r != 0)
		return r;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static int mkey_cmp(const void *a, const void *b)
{
	const struct mkey *x = a, *y = b;

	return key_cmp(x->b, x->len, y->b, y->len);
}

/* A RocksDB assertion (or any abort) ends the process from whatever
 * thread: say which run and operation it was, async-signal-safely. */
static void put_u64(char *buf, size_t *at, uint64_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		buf[(*at)++] = tmp[--n];
}

static void on_abort(int sig)
{
	char buf[256];
	size_t at = 0;
	const char *what = T.what ? T.what : "-";
	static const char a[] = "\nABORT seed=", b[] = " op=", c[] = " (",
			  d[] = "): replay: DKV_SEED, DKV_MODEL_TRACE=1\n";

	memcpy(buf, a, sizeof(a) - 1);
	at = sizeof(a) - 1;
	put_u64(buf, &at, T.seed);
	memcpy(buf + at, b, sizeof(b) - 1);
	at += sizeof(b) - 1;
	put_u64(buf, &at, (uint64_t)T.op);
	memcpy(buf + at, c, sizeof(c) - 1);
	at += sizeof(c) - 1;
	for (size_t i = 0; what[i] && i < 32; i++)
		buf[at++] = what[i];
	memcpy(buf + at, d, sizeof(d) - 1);
	at += sizeof(d) - 1;
	if (write(STDERR_FILENO, buf, at) < 0)
		at = 0;
	signal(sig, SIG_DFL);
	raise(sig);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		failf("out of memory");
	return p;
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		failf("out of memory");
	return q;
}

static char *memdup(const void *p, size_t n)
{
	char *q = xmalloc(n);

	if (n)
		memcpy(q, p, n);
	return q;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Lowest epoch readable (and writable) on a shard. */
static uint64_t floor_of(uint32_t id)
{
	return max_u64(T.sh[id].wm, 1);
}

static uint32_t pick_shard(void)
{
	uint32_t ids[MAX_ID];
	size_t n = 0;

	for (uint32_t id = 1; id <= MAX_ID; id++)
		if (T.sh[id].live)
			ids[n++] = id;
	return ids[rnd_below(n)];
}

/* --- keys and values --------------------------------------------------- */

static unsigned char rnd_byte(void)
{
	static const unsigned char common[] = { 0x00, 0x00, 0x01, 'a',
						'b',  0x7f, 0x80, 0xff };

	if (chance(600))
		return common[rnd_below(sizeof(common))];
	return (unsigned char)rnd();
}

/* Random bytes, length 1..max; often a prefix or extension of a key
 * already made, so keys share prefixes and differ by trailing \0s. */
static void key_gen(struct mkey *k, size_t nmade)
{
	size_t len;

	if (nmade > 0 && chance(400)) {
		const struct mkey *o = &T.keys[rnd_below(nmade)];

		*k = *o;
		if (k->len > 1 && chance(300)) {
			k->len = rnd_in(1, k->len - 1);
			return;
		}
		len = rnd_in(1, 4);
		while (len-- && k->len < MAX_KLEN)
			k->b[k->len++] = chance(400) ? 0 : rnd_byte();
		return;
	}
	len = chance(100) ? rnd_in(1, 3) : rnd_in(1, MAX_KLEN);
	k->len = len;
	for (size_t i = 0; i < len; i++)
		k->b[i] = rnd_byte();
}

static void keys_make(void)
{
	size_t n = 0;

	while (n < NKEYS) {
		struct mkey k;
		int dup = 0;

		key_gen(&k, n);
		for (size_t i = 0; i < n && !dup; i++)
			dup = mkey_cmp(&k, &T.keys[i]) == 0;
		if (!dup)
			T.keys[n++] = k;
	}
	qsort(T.keys, NKEYS, sizeof(T.keys[0]), mkey_cmp);
}

static char *val_gen(size_t *len)
{
	size_t n = chance(50) ? 0 : rnd_in(1, MAX_VLEN);
	char *v = xmalloc(n);

	for (size_t i = 0; i < n; i++)
		v[i] = (char)rnd();
	*len = n;
	return v;
}

/* A range bound: a key, just after a key, a prefix of one, or random. */
static void bound_gen(unsigned char *b, size_t *len)
{
	const struct mkey *k = &T.keys[rnd_below(NKEYS)];
	struct mkey r;

	switch (rnd_below(5)) {
	case 0:
	case 1:
		memcpy(b, k->b, k->len);
		*len = k->len;
		break;
	case 2:
		memcpy(b, k->b, k->len);
		b[k->len] = 0;
		*len = k->len + 1;
		break;
	case 3:
		*len = rnd_in(1, k->len);
		memcpy(b, k->b, *len);
		break;
	default:
		key_gen(&r, NKEYS);
		memcpy(b, r.b, r.len);
		*len = r.len;
		break;
	}
}

/* --- the model ------------------------------------------------------- */

static void vlist_set(struct vlist *vl, uint64_t epoch, int tomb,
		      const char *val, size_t vlen)
{
	size_t i = 0;
	struct version *v;

	while (i < vl->n && vl->v[i].epoch > epoch)
		i++;
	if (i < vl->n && vl->v[i].epoch == epoch) {
		v = &vl->v[i];
		free(v->val);
	} else {
		if (vl->n == vl->cap) {
			vl->cap = vl->cap ? 2 * vl->cap : 4;
			vl->v = xrealloc(vl->v, vl->cap * sizeof(*vl->v));
		}
		memmove(&vl->v[i + 1], &vl->v[i],
			(vl->n - i) * sizeof(*vl->v));
		vl->n++;
		v = &vl->v[i];
	}
	v->epoch = epoch;
	v->tomb = tomb;
	v->vlen = tomb ? 0 : vlen;
	v->val = tomb ? NULL : memdup(val, vlen);
}

/* The newest version at or below epoch, or NULL. */
static const struct version *visible(const struct vlist *vl, uint64_t epoch)
{
	for (size_t i = 0; i < vl->n; i++)
		if (vl->v[i].epoch <= epoch)
			return &vl->v[i];
	return NULL;
}

static void plain_set(struct pval *p, int present, const char *val,
		      size_t vlen)
{
	free(p->val);
	p->present = present;
	p->len = present ? vlen : 0;
	p->val = present ? memdup(val, vlen) : NULL;
}

static void mshard_free(struct mshard *m)
{
	for (size_t k = 0; k < NKEYS; k++) {
		for (size_t i = 0; i < m->ver[k].n; i++)
			free(m->ver[k].v[i].val);
		free(m->ver[k].v);
		free(m->plain[k].val);
	}
	memset(m, 0, sizeof(*m));
}

static void mshard_copy(struct mshard *dst, const struct mshard *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->live = 1;
	dst->wm = src->wm;
	for (size_t k = 0; k < NKEYS; k++) {
		const struct vlist *s = &src->ver[k];

		for (size_t i = s->n; i-- > 0;)
			vlist_set(&dst->ver[k], s->v[i].epoch, s->v[i].tomb,
				  s->v[i].val, s->v[i].vlen);
		if (src->plain[k].present)
			plain_set(&dst->plain[k], 1, src->plain[k].val,
				  src->plain[k].len);
	}
}

/* --- collected items --------------------------------------------------- */

static void items_push(struct items *v, const void *key, size_t klen,
		       const char *val, size_t vlen, uint64_t epoch, int tomb)
{
	struct item *it;

	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 32;
		v->it = xrealloc(v->it, v->cap * sizeof(*v->it));
	}
	it = &v->it[v->n++];
	it->klen = klen;
	it->vlen = vlen;
	it->epoch = epoch;
	it->tomb = tomb;
	if (v->copies) {
		it->key = (const unsigned char *)memdup(key, klen);
		it->val = memdup(val, vlen);
	} else {
		it->key = key;
		it->val = val;
	}
}

static void items_free(struct items *v)
{
	if (v->copies)
		for (size_t i = 0; i < v->n; i++) {
			free((void *)v->it[i].key);
			free((void *)v->it[i].val);
		}
	free(v->it);
	memset(v, 0, sizeof(*v));
}

static int item_cb(void *ctx, const char *key, size_t klen, const char *val,
		   size_t vlen, uint64_t epoch)
{
	struct items *v = ctx;

	items_push(v, key, klen, val, vlen, epoch, 0);
	v->in_call++;
	return v->stop_after && v->in_call >= v->stop_after ? 1 : 0;
}

static int version_cb(void *ctx, uint64_t epoch, int tombstone,
		      const char *val, size_t vlen)
{
	struct items *v = ctx;

	items_push(v, NULL, 0, val, vlen, epoch, tombstone);
	v->in_call++;
	return 0;
}

static int items_same(const struct items *got, const struct items *exp)
{
	if (got->n != exp->n)
		return 0;
	for (size_t i = 0; i < got->n; i++) {
		const struct item *g = &got->it[i], *e = &exp->it[i];

		if (g->epoch != e->epoch || g->tomb != e->tomb ||
		    g->vlen != e->vlen ||
		    (g->vlen && memcmp(g->val, e->val, g->vlen) != 0))
			return 0;
	}
	return 1;
}

/* Compares what a read returned with what the model expects. */
static void items_compare(const char *what, const struct items *got,
			  const struct items *exp, int cmp_keys)
{
	size_t n = got->n < exp->n ? got->n : exp->n;

	for (size_t i = 0; i < n; i++) {
		const struct item *g = &got->it[i], *e = &exp->it[i];

		if (cmp_keys && key_cmp(g->key, g->klen, e->key, e->klen))
			failf("%s: item %zu: key %s, model %s", what, i,
			      hex(g->key, g->klen), hex(e->key, e->klen));
		if (g->epoch != e->epoch || g->tomb != e->tomb)
			failf("%s: item %zu (key %s): epoch %" PRIu64
			      " tomb %d, model epoch %" PRIu64 " tomb %d",
			      what, i, hex(e->key, e->klen), g->epoch, g->tomb,
			      e->epoch, e->tomb);
		if (g->vlen != e->vlen ||
		    (g->vlen && memcmp(g->val, e->val, g->vlen) != 0))
			failf("%s: item %zu (key %s epoch %" PRIu64
			      "): value differs (len %zu, model %zu)",
			      what, i, hex(e->key, e->klen), e->epoch, g->vlen,
			      e->vlen);
	}
	if (got->n != exp->n) {
		const struct item *x = got->n > exp->n ? &got->it[n]
						       : &exp->it[n];

		failf("%s: %zu items, model %zu; first extra/missing: key %s "
		      "epoch %" PRIu64,
		      what, got->n, exp->n, hex(x->key, x->klen), x->epoch);
	}
}

/* --- operations -------------------------------------------------------- */

enum rec_kind { REC_PUT, REC_DEL, REC_PLAIN_PUT, REC_PLAIN_DEL };

struct rec {
	uint32_t shard;
	size_t key;
	enum rec_kind kind;
	uint64_t epoch;
	char *val;
	size_t vlen;
};

/* An epoch for an old-epoch write: at or above the watermark, at or below
 * the newest; often exactly an existing version's (an overwrite). */
static uint64_t old_epoch(uint32_t id, size_t k)
{
	const struct vlist *vl = &T.sh[id].ver[k];
	uint64_t lo = max_u64(floor_of(id), EPOCH_BASE);

	if (T.monotonic && vl->n > 0)
		lo = max_u64(lo, vl->v[0].epoch);
	if (lo > T.cur)
		return T.cur + 1;
	if (vl->n > 0 && chance(500)) {
		const struct version *v = &vl->v[rnd_below(vl->n)];

		if (v->epoch >= lo)
			return v->epoch;
	}
	return rnd_in(lo, T.cur);
}

/* Writes below the watermark are refused and leave the batch as it was. */
static void check_refused(struct dkv_batch *b, uint32_t id, size_t k)
{
	const struct mkey *key = &T.keys[k];
	size_t before = dkv_batch_count(b);
	uint64_t wm = T.sh[id].wm;

	if (wm <= 1)
		return;
	RC_EQ(dkv_batch_put(b, id, key->b, key->len, "x", 1, wm - 1),
	      DKV_ERR_EPOCH_TOO_OLD);
	RC_EQ(dkv_batch_del(b, id, key->b, key->len, rnd_in(1, wm - 1)),
	      DKV_ERR_EPOCH_TOO_OLD);
	if (dkv_batch_count(b) != before)
		failf("refused write changed the batch count");
	T.st.rejected++;
}

/* The newest epoch of key k in shard id, 0 if none: the model's newest
 * version, or a versioned write among recs[0..n) (the batch so far) if
 * higher. The store orders the key's writes against it. */
static uint64_t newest_of(uint32_t id, size_t k, const struct rec *recs,
			  size_t n)
{
	const struct vlist *vl = &T.sh[id].ver[k];
	uint64_t e = vl->n > 0 ? vl->v[0].epoch : 0;

	for (size_t j = 0; j < n; j++)
		if (recs[j].shard == id && recs[j].key == k &&
		    (recs[j].kind == REC_PUT || recs[j].kind == REC_DEL))
			e = max_u64(e, recs[j].epoch);
	return e;
}

/* A deliberate out-of-order write of key k: below its newest version (in
 * the store or in the batch, recs[0..n)) but not below the watermark, so
 * that this rule is the one that refuses it. Refused with WRITE_TOO_OLD;
 * the batch is left as it was, and the model does not change. */
static void check_too_old(struct dkv_batch *b, uint32_t id, size_t k,
			  const struct rec *recs, size_t n)
{
	const struct mkey *key = &T.keys[k];
	uint64_t newest = newest_of(id, k, recs, n), lo = floor_of(id), e;
	size_t before = dkv_batch_count(b);

	if (newest <= lo)
		return;
	e = chance(300) ? newest - 1 : rnd_in(lo, newest - 1);
	if (T.trace)
		printf("T %ld too-old shard %u key %s epoch %" PRIu64
		       " newest %" PRIu64 "\n",
		       T.op, id, hex(key->b, key->len), e, newest);
	if (chance(500))
		RC_EQ(dkv_batch_put(b, id, key->b, key->len, "old", 3, e),
		      DKV_ERR_WRITE_TOO_OLD);
	else
		RC_EQ(dkv_batch_del(b, id, key->b, key->len, e),
		      DKV_ERR_WRITE_TOO_OLD);
	if (dkv_batch_count(b) != before)
		failf("refused out-of-order write changed the batch count");
	T.st.too_old++;
}

/* Out-of-order writes of random keys of every shard of s (the store, or a
 * checkpoint of it, which holds what a crash would leave): all refused. */
static void check_order(struct dkv_store *s)
{
	struct dkv_batch *b = NULL;

	RC_EQ(dkv_batch_create(s, &b), 0);
	for (uint32_t id = 1; id <= MAX_ID; id++)
		for (int i = 0; T.sh[id].live && i < 10; i++)
			check_too_old(b, id, rnd_below(NKEYS), NULL, 0);
	if (dkv_batch_count(b) != 0)
		failf("refused writes left %zu records", dkv_batch_count(b));
	dkv_batch_destroy(b);
}

/* Commits a batch of 1..8 random records. old != 0 writes versioned
 * records at older epochs (>= the watermark; monotonic: >= the key's
 * newest); otherwise at one new epoch above every epoch so far. Records
 * the store refuses as out of order (predicted by the model) are left
 * out. */
static void op_write(int old)
{
	struct rec recs[8];
	size_t n = rnd_in(1, 8), kept = 0;
	uint64_t epoch = T.cur + rnd_in(1, 3);
	struct dkv_batch *b = NULL;

	RC_EQ(dkv_batch_create(T.store, &b), 0);
	for (size_t i = 0; i < n; i++) {
		struct rec *r = &recs[kept];
		const struct mkey *key;
		unsigned p = (unsigned)rnd_below(100);
		int want = 0;

		r->shard = pick_shard();
		r->key = rnd_below(NKEYS);
		key = &T.keys[r->key];
		r->kind = p < 70 ? REC_PUT
			: p < 90 ? REC_DEL
			: p < 97 ? REC_PLAIN_PUT
				 : REC_PLAIN_DEL;
		r->epoch = old ? old_epoch(r->shard, r->key) : epoch;
		/* Monotonic: also not below this batch's earlier writes. */
		if (old && T.monotonic)
			r->epoch = max_u64(r->epoch, newest_of(r->shard, r->key,
							       recs, kept));
		if ((r->kind == REC_PUT || r->kind == REC_DEL) &&
		    r->epoch < newest_of(r->shard, r->key, recs, kept))
			want = DKV_ERR_WRITE_TOO_OLD;
		r->val = NULL;
		r->vlen = 0;
		switch (r->kind) {
		case REC_PUT:
			r->val = val_gen(&r->vlen);
			RC_EQ(dkv_batch_put(b, r->shard, key->b, key->len,
					    r->val, r->vlen, r->epoch),
			      want);
			break;
		case REC_DEL:
			RC_EQ(dkv_batch_del(b, r->shard, key->b, key->len,
					    r->epoch),
			      want);
			break;
		case REC_PLAIN_PUT:
			r->val = val_gen(&r->vlen);
			RC_EQ(dkv_batch_put_plain(b, r->shard, key->b,
						  key->len, r->val, r->vlen),
			      0);
			break;
		case REC_PLAIN_DEL:
			RC_EQ(dkv_batch_del_plain(b, r->shard, key->b,
						  key->len),
			      0);
			break;
		}
		if (want != 0) {
			if (dkv_batch_count(b) != kept)
				failf("refused write changed the batch count");
			free(r->val);
			T.st.too_old++;
			continue;
		}
		kept++;
		if (chance(20))
			check_refused(b, r->shard, r->key);
		/* Now and then an out-of-order write: of this record's key
		 * (against the batch), or of any key (against the store). */
		if (chance(30))
			check_too_old(b, r->shard, r->key, recs, kept);
		if (chance(30))
			check_too_old(b, pick_shard(), rnd_below(NKEYS), recs,
				      kept);
	}
	if (dkv_batch_count(b) != kept)
		failf("batch count %zu, want %zu", dkv_batch_count(b), kept);
	RC_EQ(dkv_batch_commit(b), 0);
	if (dkv_batch_count(b) != 0)
		failf("batch not emptied by commit");
	dkv_batch_destroy(b);
	n = kept;
	for (size_t i = 0; i < n; i++) {
		struct rec *r = &recs[i];
		struct mshard *m = &T.sh[r->shard];

		if (T.trace)
			printf("T %ld rec %zu/%zu %s shard %u key %s "
			       "epoch %" PRIu64 " vlen %zu\n",
			       T.op, i, n,
			       (const char *[]){ "put", "del", "pput",
						 "pdel" }[r->kind],
			       r->shard, hex(T.keys[r->key].b,
					     T.keys[r->key].len),
			       r->epoch, r->vlen);

		switch (r->kind) {
		case REC_PUT:
		case REC_DEL:
			vlist_set(&m->ver[r->key], r->epoch,
				  r->kind == REC_DEL, r->val, r->vlen);
			break;
		case REC_PLAIN_PUT:
		case REC_PLAIN_DEL:
			plain_set(&m->plain[r->key], r->kind == REC_PLAIN_PUT,
				  r->val, r->vlen);
			break;
		}
		free(r->val);
	}
	if (!old)
		T.cur = epoch;
	else
		T.st.old_writes++;
	for (size_t i = 0; i < n; i++) /* old_epoch() may go one above */
		if (recs[i].kind == REC_PUT || recs[i].kind == REC_DEL)
			T.cur = max_u64(T.cur, recs[i].epoch);
	T.st.writes++;
	T.st.records += (long)n;
}

/* A read epoch for a shard: the newest, the current one, the future, an
 * existing version's epoch or one next to it, any epoch in the readable
 * window, or (too_old allowed) one below the watermark. */
static uint64_t read_epoch(uint32_t id, int too_old)
{
	uint64_t lo = floor_of(id), e;
	unsigned p = (unsigned)rnd_below(100);

	if (p < 20)
		return DKV_EPOCH_MAX;
	if (p < 30)
		return T.cur;
	if (p < 35)
		return T.cur + rnd_in(1, 5);
	if (p < 40 && too_old && lo > 1)
		return rnd_in(lo > 50 ? lo - 50 : 1, lo - 1);
	if (p < 60) {
		const struct vlist *vl = &T.sh[id].ver[rnd_below(NKEYS)];

		if (vl->n > 0) {
			e = vl->v[rnd_below(vl->n)].epoch + rnd_in(0, 2) - 1;
			if (e >= lo)
				return e;
		}
	}
	return rnd_in(max_u64(lo, EPOCH_BASE - 5), max_u64(T.cur, lo));
}

static int dump_cb(void *ctx, uint64_t epoch, int tombstone, const char *val,
		   size_t vlen)
{
	(void)ctx;
	(void)val;
	fprintf(stderr, "    store: %" PRIu64 "%s len %zu\n", epoch,
		tombstone ? " tombstone" : "", vlen);
	return 0;
}

/* For a failure message: a key's versions in the model and the store. */
static void dump_key(struct dkv_store *s, uint32_t id, size_t k)
{
	const struct vlist *vl = &T.sh[id].ver[k];
	const struct mkey *key = &T.keys[k];
	int rc;

	fprintf(stderr, "  shard %u key %s (wm %" PRIu64 "), newest first:\n",
		id, hex(key->b, key->len), T.sh[id].wm);
	for (size_t i = 0; i < vl->n; i++)
		fprintf(stderr, "    model: %" PRIu64 "%s len %zu\n",
			vl->v[i].epoch, vl->v[i].tomb ? " tombstone" : "",
			vl->v[i].vlen);
	rc = dkv_store_history(s, id, key->b, key->len, 1, DKV_EPOCH_MAX,
			       dump_cb, NULL);
	fprintf(stderr, "    store history rc %d\n", rc);
}

static void check_get(struct dkv_store *s, uint32_t id, size_t k,
		      uint64_t epoch)
{
	const struct mkey *key = &T.keys[k];
	const struct mshard *m = &T.sh[id];
	const struct version *v = visible(&m->ver[k], epoch);
	struct dkv_val out;
	int rc, want;

	rc = dkv_store_get(s, id, key->b, key->len, epoch, &out);
	want = epoch < floor_of(id) ? DKV_ERR_EPOCH_TOO_OLD
	       : v == NULL || v->tomb ? DKV_ERR_NOT_FOUND
				      : 0;
	if (rc != want)
		dump_key(s, id, k);
	if (rc != want)
		failf("get shard %u key %s at %" PRIu64 " (wm %" PRIu64
		      "): rc %d (%s), model %d (%s); model version %" PRIu64
		      "%s",
		      id, hex(key->b, key->len), epoch, m->wm, rc,
		      dkv_errname(rc), want, dkv_errname(want),
		      v ? v->epoch : 0, v && v->tomb ? " (tombstone)" : "");
	if (rc != 0) {
		if (out.data != NULL || out.epoch != 0 || out.len != 0)
			failf("get shard %u key %s at %" PRIu64
			      ": rc %d left data %p len %zu epoch %" PRIu64,
			      id, hex(key->b, key->len), epoch, rc,
			      (void *)out.data, out.len, out.epoch);
		return;
	}
	if (out.epoch != v->epoch || out.len != v->vlen ||
	    (out.len && memcmp(out.data, v->val, out.len) != 0)) {
		dump_key(s, id, k);
		failf("get shard %u key %s at %" PRIu64 ": epoch %" PRIu64
		      " len %zu, model epoch %" PRIu64 " len %zu%s",
		      id, hex(key->b, key->len), epoch, out.epoch, out.len,
		      v->epoch, v->vlen,
		      out.epoch == v->epoch && out.len == v->vlen
			      ? " (bytes differ)"
			      : "");
	}
	dkv_val_release(&out);
	if (out.data != NULL)
		failf("dkv_val_release left data");
}

static void op_get(void)
{
	uint32_t id = pick_shard();

	check_get(T.store, id, rnd_below(NKEYS), read_epoch(id, 1));
	T.st.gets++;
}

static int in_range(const struct mkey *k, const unsigned char *start,
		    size_t slen, const unsigned char *end, size_t elen)
{
	if (start && key_cmp(k->b, k->len, start, slen) < 0)
		return 0;
	if (end && key_cmp(k->b, k->len, end, elen) >= 0)
		return 0;
	return 1;
}

static void model_range(uint32_t id, const struct dkv_range *r,
			struct items *exp)
{
	const struct mshard *m = &T.sh[id];

	for (size_t j = 0; j < NKEYS; j++) {
		size_t k = r->reverse ? NKEYS - 1 - j : j;
		const struct version *v;

		if (!in_range(&T.keys[k], r->start, r->start_len, r->end,
			      r->end_len))
			continue;
		v = visible(&m->ver[k], r->epoch);
		if (v != NULL && !v->tomb)
			items_push(exp, T.keys[k].b, T.keys[k].len, v->val,
				   v->vlen, v->epoch, 0);
	}
}

static void reopen(void);

/* An anchor is bound to its epoch and direction. */
static void check_anchor_misuse(struct dkv_store *s, uint32_t id,
				const struct dkv_range *r)
{
	struct dkv_range bad = *r;
	struct items sink = { .copies = 1 };
	struct dkv_buf next = { (char *)"junk", 4 };

	bad.epoch = r->epoch == DKV_EPOCH_MAX ? T.cur : r->epoch + 1;
	RC_EQ(dkv_store_range(s, id, &bad, item_cb, &sink, &next),
	      DKV_ERR_INVAL);
	if (next.len != 0 || next.data != NULL)
		failf("failed range left an anchor");
	bad = *r;
	bad.reverse = !r->reverse;
	RC_EQ(dkv_store_range(s, id, &bad, item_cb, &sink, &next),
	      DKV_ERR_INVAL);
	if (sink.n != 0)
		failf("refused range called back");
	items_free(&sink);
}

/* Runs a range to exhaustion through anchors, then compares everything. */
static void check_range(struct dkv_store *s, uint32_t id, struct dkv_range *r,
			int cb_stop, int mutate)
{
	struct items got = { .copies = 1 }, exp = { 0 };
	struct dkv_buf next = { 0 }, anchor = { 0 };
	char what[160];
	size_t pages = 0;
	int reopen_once = mutate && s == T.store && chance(3);
	int rc;

	snprintf(what, sizeof(what),
		 "range shard %u [%s, %s) at %" PRIu64 " %s limit %zu%s", id,
		 hex(r->start, r->start_len), hex(r->end, r->end_len),
		 r->epoch, r->reverse ? "reverse" : "forward", r->limit,
		 cb_stop ? " cb-stop" : "");
	if (r->epoch < floor_of(id)) {
		RC_EQ(dkv_store_range(s, id, r, item_cb, &got, &next),
		      DKV_ERR_EPOCH_TOO_OLD);
		if (got.n != 0 || next.len != 0)
			failf("%s: refused but called back or anchored", what);
		items_free(&got);
		return;
	}
	model_range(id, r, &exp);
	for (;;) {
		size_t before = got.n;
		int stopped;

		r->anchor = anchor.data;
		r->anchor_len = anchor.len;
		got.in_call = 0;
		got.stop_after = cb_stop ? rnd_in(1, 12) : 0;
		rc = dkv_store_range(s, id, r, item_cb, &got, &next);
		if (rc < 0)
			failf("%s: page %zu: rc %d (%s)", what, pages, rc,
			      dkv_errname(rc));
		if ((size_t)rc != got.n - before)
			failf("%s: page %zu: returned %d, called back %zu",
			      what, pages, rc, got.n - before);
		if (r->limit && (size_t)rc > r->limit)
			failf("%s: page %zu: %d items over the limit", what,
			      pages, rc);
		stopped = got.stop_after && (size_t)rc == got.stop_after;
		pages++;
		T.st.pages++;
		if (next.len == 0) {
			if (got.n < exp.n)
				failf("%s: exhausted after %zu items (%zu "
				      "pages), model has %zu",
				      what, got.n, pages, exp.n);
			break;
		}
		if (rc == 0)
			failf("%s: page %zu: no items but an anchor", what,
			      pages);
		if (!stopped && r->limit && (size_t)rc < r->limit)
			failf("%s: page %zu: %d items under the limit but an "
			      "anchor",
			      what, pages, rc);
		if (!stopped && got.n >= exp.n)
			failf("%s: page %zu: anchor after the last item "
			      "(%zu items)",
			      what, pages, got.n);
		if (pages > exp.n + 2)
			failf("%s: %zu pages for %zu items", what, pages,
			      exp.n);
		dkv_buf_release(&anchor);
		anchor = next;
		memset(&next, 0, sizeof(next));
		if (chance(30)) {
			r->anchor = anchor.data;
			r->anchor_len = anchor.len;
			check_anchor_misuse(s, id, r);
		}
		/* Writes above the read epoch must not change the pages
		 * still to come, nor must a restart. */
		if (mutate && s == T.store && r->epoch <= T.cur && chance(60)) {
			op_write(0);
			T.st.interleaved++;
		}
		if (reopen_once) {
			reopen_once = 0;
			reopen();
			s = T.store;
		}
	}
	dkv_buf_release(&anchor);
	items_compare(what, &got, &exp, 1);
	T.st.range_items += (long)got.n;
	items_free(&got);
	items_free(&exp);
}

static void op_range(void)
{
	unsigned char start[BOUND_MAX], end[BOUND_MAX];
	struct dkv_range r;
	uint32_t id = pick_shard();

	memset(&r, 0, sizeof(r));
	if (!chance(250)) {
		bound_gen(start, &r.start_len);
		r.start = start;
	}
	if (!chance(250)) {
		bound_gen(end, &r.end_len);
		r.end = end;
	}
	/* Mostly start < end; sometimes not, which is an empty range. */
	if (r.start && r.end && chance(850) &&
	    key_cmp(start, r.start_len, end, r.end_len) > 0) {
		unsigned char tmp[BOUND_MAX];
		size_t tl = r.start_len;

		memcpy(tmp, start, tl);
		memcpy(start, end, r.end_len);
		r.start_len = r.end_len;
		memcpy(end, tmp, tl);
		r.end_len = tl;
	}
	r.epoch = read_epoch(id, 1);
	r.reverse = (int)rnd_below(2);
	r.limit = chance(200) ? 0 : rnd_in(1, chance(250) ? 5 : 60);
	check_range(T.store, id, &r, chance(150), 1);
	T.st.ranges++;
}

/* History of a key over [from, to], compared as the API promises. */
static void check_history(struct dkv_store *s, uint32_t id, size_t k,
			  uint64_t from, uint64_t to)
{
	const struct mkey *key = &T.keys[k];
	const struct mshard *m = &T.sh[id];
	const struct vlist *vl = &m->ver[k];
	struct items got = { .copies = 1 }, exp = { 0 }, gota = { 0 },
		     gotb = { 0 };
	uint64_t wm = floor_of(id);
	const struct version *atw = visible(vl, wm);
	char what[160];
	size_t j;
	int rc;

	snprintf(what, sizeof(what),
		 "history shard %u key %s [%" PRIu64 ", %" PRIu64
		 "] wm %" PRIu64,
		 id, hex(key->b, key->len), from, to, m->wm);
	rc = dkv_store_history(s, id, key->b, key->len, from, to, version_cb,
			       &got);
	if (to < wm) {
		if (rc != DKV_ERR_EPOCH_TOO_OLD || got.n != 0)
			failf("%s: rc %d (%s) with %zu versions, want "
			      "EPOCH_TOO_OLD",
			      what, rc, dkv_errname(rc), got.n);
		items_free(&got);
		return;
	}
	if (rc < 0 || (size_t)rc != got.n)
		failf("%s: rc %d (%s), %zu versions called back", what, rc,
		      dkv_errname(rc), got.n);
	for (size_t i = 0; i < vl->n; i++) {
		const struct version *v = &vl->v[i];

		if (v->epoch >= from && v->epoch <= to)
			items_push(&exp, key->b, key->len, v->val, v->vlen,
				   v->epoch, v->tomb);
	}
	if (from >= wm) {
		if (!items_same(&got, &exp))
			dump_key(s, id, k);
		items_compare(what, &got, &exp, 0);
		goto out;
	}
	/* from < wm: exact at and above wm. Below it GC may have collected
	 * any version but the put visible at wm, in any order and file by
	 * file, so a version that an equal-epoch write replaced can outlive
	 * its replacement there (and a collapsed one has its timestamp
	 * zeroed, so it sorts last). Checked: every epoch below wm is one
	 * the key was written at, in [from, wm); the put visible at wm is
	 * there with its value. */
	for (j = 0; j < got.n && got.it[j].epoch >= wm; j++)
		items_push(&gota, key->b, key->len, got.it[j].val,
			   got.it[j].vlen, got.it[j].epoch, got.it[j].tomb);
	{
		struct items expa = { 0 };
		size_t e = 0;

		while (e < exp.n && exp.it[e].epoch >= wm)
			e++;
		expa.it = exp.it;
		expa.n = e;
		if (!items_same(&gota, &expa))
			dump_key(s, id, k);
		items_compare(what, &gota, &expa, 0);
	}
	for (; j < got.n; j++) {
		const struct item *g = &got.it[j];
		int known = 0;

		for (size_t i = 0; i < vl->n && !known; i++)
			known = vl->v[i].epoch == g->epoch;
		if (!known || g->epoch >= wm || g->epoch < from)
			dump_key(s, id, k);
		if (!known || g->epoch >= wm || g->epoch < from)
			failf("%s: below the watermark, version %" PRIu64
			      " (tomb %d): no write at that epoch or out of "
			      "[from, wm)",
			      what, g->epoch, g->tomb);
		if (atw != NULL && g->epoch == atw->epoch && !g->tomb &&
		    g->vlen == atw->vlen &&
		    (!g->vlen || memcmp(g->val, atw->val, g->vlen) == 0))
			items_push(&gotb, NULL, 0, NULL, 0, g->epoch, 0);
	}
	if (atw != NULL && atw->epoch < wm && !atw->tomb &&
	    atw->epoch >= from && gotb.n == 0) {
		dump_key(s, id, k);
		failf("%s: the put visible at the watermark (%" PRIu64
		      ") is gone or changed",
		      what, atw->epoch);
	}
out:
	items_free(&got);
	items_free(&exp);
	items_free(&gota);
	items_free(&gotb);
}

static void op_history(void)
{
	uint32_t id = pick_shard();
	uint64_t wm = floor_of(id), from, to;
	unsigned p = (unsigned)rnd_below(100);

	to = chance(300) ? DKV_EPOCH_MAX : read_epoch(id, 1);
	if (to == DKV_EPOCH_MAX && chance(500))
		from = 1;
	else if (p < 15)
		from = rnd_in(1, wm);
	else if (p < 25 && to != DKV_EPOCH_MAX)
		from = to;
	else
		from = rnd_in(wm,
			      max_u64(wm, to == DKV_EPOCH_MAX ? T.cur : to));
	if (from > to)
		from = to;
	check_history(T.store, id, rnd_below(NKEYS), from, to);
	T.st.histories++;
}

static int plain_cb(void *ctx, const char *key, size_t klen, const char *val,
		    size_t vlen, uint64_t epoch)
{
	if (epoch != 0)
		failf("scan_plain: epoch %" PRIu64 ", want 0", epoch);
	return item_cb(ctx, key, klen, val, vlen, 0);
}

static void check_plain_scan(struct dkv_store *s, uint32_t id,
			     const unsigned char *start, size_t slen,
			     const unsigned char *end, size_t elen)
{
	struct items got = { .copies = 1 }, exp = { 0 };
	const struct mshard *m = &T.sh[id];
	char what[128];
	int rc;

	snprintf(what, sizeof(what), "scan_plain shard %u [%s, %s)", id,
		 hex(start, slen), hex(end, elen));
	for (size_t k = 0; k < NKEYS; k++)
		if (m->plain[k].present &&
		    in_range(&T.keys[k], start, slen, end, elen))
			items_push(&exp, T.keys[k].b, T.keys[k].len,
				   m->plain[k].val, m->plain[k].len, 0, 0);
	rc = dkv_store_scan_plain(s, id, start, slen, end, elen, plain_cb,
				  &got);
	if (rc < 0 || (size_t)rc != got.n)
		failf("%s: rc %d (%s), %zu called back", what, rc,
		      dkv_errname(rc), got.n);
	items_compare(what, &got, &exp, 1);
	items_free(&got);
	items_free(&exp);
}

static void check_plain_get(struct dkv_store *s, uint32_t id, size_t k)
{
	const struct mkey *key = &T.keys[k];
	const struct pval *p = &T.sh[id].plain[k];
	struct dkv_val out;
	int rc = dkv_store_get_plain(s, id, key->b, key->len, &out);

	if (rc != (p->present ? 0 : DKV_ERR_NOT_FOUND))
		failf("get_plain shard %u key %s: rc %d (%s), model %s", id,
		      hex(key->b, key->len), rc, dkv_errname(rc),
		      p->present ? "present" : "absent");
	if (rc == 0 && (out.len != p->len || out.epoch != 0 ||
			(out.len && memcmp(out.data, p->val, out.len) != 0)))
		failf("get_plain shard %u key %s: value differs (len %zu, "
		      "model %zu)",
		      id, hex(key->b, key->len), out.len, p->len);
	dkv_val_release(&out);
}

static void op_plain(void)
{
	uint32_t id = pick_shard();

	if (chance(500)) {
		check_plain_get(T.store, id, rnd_below(NKEYS));
	} else {
		unsigned char start[BOUND_MAX], end[BOUND_MAX];
		size_t sl = 0, el = 0;
		int has_s = chance(700), has_e = chance(700);

		if (has_s)
			bound_gen(start, &sl);
		if (has_e)
			bound_gen(end, &el);
		check_plain_scan(T.store, id, has_s ? start : NULL, sl,
				 has_e ? end : NULL, el);
	}
	T.st.plains++;
}

static void op_gc(void)
{
	uint32_t id = pick_shard();
	struct mshard *m = &T.sh[id];
	uint64_t lo = max_u64(floor_of(id), EPOCH_BASE);
	uint64_t epoch, applied = 0, want;

	/* Not above the newest; sometimes below the watermark (no-op). */
	if (m->wm > 2 && chance(100))
		epoch = rnd_in(1, m->wm - 1);
	else
		epoch = lo >= T.cur ? T.cur : rnd_in(lo, T.cur);
	want = max_u64(m->wm, epoch);
	{
		int compact = chance(300);

		if (T.trace)
			printf("T %ld gc shard %u epoch %" PRIu64
			       " compact %d\n",
			       T.op, id, epoch, compact);
		RC_EQ(dkv_store_gc(T.store, id, epoch, compact, &applied), 0);
	}
	if (applied != want)
		failf("gc shard %u to %" PRIu64 ": applied %" PRIu64
		      ", want %" PRIu64,
		      id, epoch, applied, want);
	m->wm = want;
	if (dkv_store_watermark(T.store, id) != want)
		failf("gc shard %u: watermark %" PRIu64 ", want %" PRIu64, id,
		      dkv_store_watermark(T.store, id), want);
	T.st.gcs++;
}

/* Everything of every shard, at the newest epoch and one older one. */
static void verify_all(struct dkv_store *s, const char *why)
{
	uint32_t ids[MAX_ID + 4];
	size_t n = 0;
	int total = dkv_store_shard_list(s, ids, MAX_ID + 4);
	const char *saved = T.what;

	T.what = why;
	for (uint32_t id = 1; id <= MAX_ID; id++) {
		if (!T.sh[id].live) {
			if (dkv_store_shard_exists(s, id))
				failf("shard %u exists, model has none", id);
			continue;
		}
		if ((size_t)total <= n || ids[n] != id)
			failf("shard list: %d shards, want shard %u at %zu",
			      total, id, n);
		n++;
	}
	if ((size_t)total != n)
		failf("shard list: %d shards, model %zu", total, n);
	for (uint32_t id = 1; id <= MAX_ID; id++) {
		struct dkv_range r;
		uint64_t old;

		if (!T.sh[id].live)
			continue;
		if (dkv_store_watermark(s, id) != T.sh[id].wm)
			failf("shard %u: watermark %" PRIu64 ", model %" PRIu64,
			      id, dkv_store_watermark(s, id), T.sh[id].wm);
		old = read_epoch(id, 0);
		for (size_t k = 0; k < NKEYS; k++) {
			check_get(s, id, k, DKV_EPOCH_MAX);
			check_get(s, id, k, old);
			check_plain_get(s, id, k);
		}
		check_plain_scan(s, id, NULL, 0, NULL, 0);
		memset(&r, 0, sizeof(r));
		r.epoch = DKV_EPOCH_MAX;
		check_range(s, id, &r, 0, 0);
		r.epoch = old;
		r.reverse = 1;
		r.limit = 7;
		check_range(s, id, &r, 0, 0);
		for (int i = 0; i < 10; i++)
			check_history(s, id, rnd_below(NKEYS), floor_of(id),
				      DKV_EPOCH_MAX);
	}
	T.what = saved;
	T.st.verifies++;
}

static void store_open_at(const char *path, struct dkv_store **out)
{
	struct dkv_store_opts o;
	int rc;

	dkv_store_opts_init(&o, path);
	o.durability = DKV_DUR_NONE;
	/* Small memtables: flushes and compactions happen during the run. */
	o.write_buffer_bytes = 1u << 20;
	o.cache_bytes = 8u << 20;
	rc = dkv_store_open(&o, out);
	if (rc != 0)
		failf("open %s: rc %d (%s)", path, rc, dkv_errname(rc));
}

static void reopen(void)
{
	if (T.trace)
		printf("T %ld reopen\n", T.op);
	dkv_store_close(T.store);
	T.store = NULL;
	store_open_at(T.db, &T.store);
	T.st.reopens++;
}

static void op_reopen(void)
{
	reopen();
	verify_all(T.store, "verify after reopen");
	check_order(T.store);
}

static void op_checkpoint(void)
{
	char path[400];
	struct dkv_store *cp = NULL;

	snprintf(path, sizeof(path), "%s/cp%d", T.dir, T.ncp++);
	if (T.trace)
		printf("T %ld checkpoint\n", T.op);
	RC_EQ(dkv_store_checkpoint(T.store, path), 0);
	RC_EQ(dkv_store_checkpoint(T.store, path), DKV_ERR_EXISTS);
	store_open_at(path, &cp);
	verify_all(cp, "verify checkpoint");
	check_order(cp);
	/* The checkpoint is a copy: writes to it do not reach the store. */
	{
		struct dkv_batch *b = NULL;
		const struct mkey *k = &T.keys[0];
		uint32_t id = pick_shard();
		struct dkv_val v;

		RC_EQ(dkv_batch_create(cp, &b), 0);
		RC_EQ(dkv_batch_put(b, id, k->b, k->len, "cp", 2, T.cur + 1),
		      0);
		RC_EQ(dkv_batch_commit(b), 0);
		dkv_batch_destroy(b);
		RC_EQ(dkv_store_get(cp, id, k->b, k->len, T.cur + 1, &v), 0);
		dkv_val_release(&v);
		check_get(T.store, id, 0, T.cur + 1);
	}
	dkv_store_close(cp);
	test_tmpdir_remove(path);
	T.st.checkpoints++;
}

static void op_copy(void)
{
	uint32_t src = (uint32_t)rnd_in(1, NSHARDS);

	RC_EQ(dkv_store_shard_copy(T.store, src, src), DKV_ERR_INVAL);
	RC_EQ(dkv_store_shard_copy(T.store, COPY_ID + 1, COPY_ID),
	      DKV_ERR_NO_SHARD);
	RC_EQ(dkv_store_shard_copy(T.store, src, src % NSHARDS + 1),
	      DKV_ERR_EXISTS);
	if (T.trace)
		printf("T %ld copy %u %u\n", T.op, src, COPY_ID);
	RC_EQ(dkv_store_shard_copy(T.store, src, COPY_ID), 0);
	mshard_copy(&T.sh[COPY_ID], &T.sh[src]);
	T.copied = 1;
	T.st.copies++;
	printf("  op %ld: copied shard %u to %u (wm %" PRIu64 ")\n", T.op, src,
	       COPY_ID, T.sh[COPY_ID].wm);
	verify_all(T.store, "verify after copy");
	check_order(T.store);
}

/* --- the run ------------------------------------------------------------ */

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : dflt;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void model_run(void **state)
{
	struct timespec ts;
	double t0 = now_s();

	(void)state;
	setvbuf(stdout, NULL, _IOLBF, 0); /* a crash loses no output */
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(&T, 0, sizeof(T));
	T.seed = env_u64("DKV_SEED", (uint64_t)ts.tv_sec * 1000003u ^
					     (uint64_t)ts.tv_nsec ^
					     (uint64_t)getpid() << 32);
	T.nops = (long)env_u64("DKV_MODEL_OPS", DEFAULT_OPS);
	T.trace = (int)env_u64("DKV_MODEL_TRACE", 0);
	T.monotonic = (int)env_u64("DKV_MODEL_MONOTONIC", 1);
	T.rng = T.seed;
	printf("test_store_model: seed %" PRIu64
	       " (DKV_SEED=%" PRIu64 " replays), %ld ops%s\n",
	       T.seed, T.seed, T.nops,
	       T.monotonic ? ", monotonic epochs per key"
			   : ", any epochs (refusals predicted)");
	signal(SIGABRT, on_abort);

	keys_make();
	assert_int_equal(test_tmpdir_make(T.dir, sizeof(T.dir)), 0);
	snprintf(T.db, sizeof(T.db), "%s/db", T.dir);
	store_open_at(T.db, &T.store);
	for (uint32_t id = 1; id <= NSHARDS; id++) {
		RC_EQ(dkv_store_shard_create(T.store, id), 0);
		T.sh[id].live = 1;
	}
	T.cur = EPOCH_BASE;

	for (T.op = 0; T.op < T.nops; T.op++) {
		unsigned p = (unsigned)rnd_below(10000);

		if (!T.copied && T.op >= T.nops / 2) {
			T.what = "copy";
			op_copy();
		} else if (p < 3000) {
			T.what = "write";
			op_write(0);
		} else if (p < 3600) {
			T.what = "write-old";
			op_write(1);
		} else if (p < 6200) {
			T.what = "get";
			op_get();
		} else if (p < 7700) {
			T.what = "range";
			op_range();
		} else if (p < 9200) {
			T.what = "history";
			op_history();
		} else if (p < 9950) {
			T.what = "plain";
			op_plain();
		} else if (p < 9988) {
			T.what = "gc";
			op_gc();
		} else if (p < 9995) {
			T.what = "reopen";
			op_reopen();
		} else {
			T.what = "checkpoint";
			op_checkpoint();
		}
	}
	T.what = "final";
	op_reopen();
	op_checkpoint();

	printf("  %ld ops in %.2f s: %ld batches (%ld records, %ld at old "
	       "epochs; refusals checked: %ld below the watermark, %ld out "
	       "of order), %ld gets, %ld ranges (%ld "
	       "pages, %ld items, %ld writes between pages), %ld histories, "
	       "%ld plain reads, %ld gcs, %ld reopens, %ld checkpoints, %ld "
	       "copies, %ld full verifies; last epoch %" PRIu64 "\n",
	       T.nops, now_s() - t0, T.st.writes, T.st.records,
	       T.st.old_writes, T.st.rejected, T.st.too_old, T.st.gets,
	       T.st.ranges,
	       T.st.pages, T.st.range_items, T.st.interleaved,
	       T.st.histories, T.st.plains, T.st.gcs, T.st.reopens,
	       T.st.checkpoints, T.st.copies, T.st.verifies, T.cur);
	for (uint32_t id = 1; id <= MAX_ID; id++)
		if (T.sh[id].live)
			printf("  shard %u: watermark %" PRIu64 "\n", id,
			       T.sh[id].wm);

	dkv_store_close(T.store);
	T.store = NULL;
	test_tmpdir_remove(T.dir);
	for (uint32_t id = 1; id <= MAX_ID; id++)
		mshard_free(&T.sh[id]);
	signal(SIGABRT, SIG_DFL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(model_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
