/*
 * store_filter.c - history GC between pins: a compaction filter on the
 * versioned families.
 *
 * The watermark W (store_gc.c) never passes the oldest pin, so on its own
 * a week-old snapshot would keep every version written since. The filter
 * collects those too. RocksDB 7.8 calls it for every put a compaction
 * reads, each key's versions newest first, with the 8-byte timestamp at
 * the end of the key (tests/store checks this behaviour). A put at epoch
 * e whose next newer put of the same key in the stream is at n is
 * dropped when
 *   - n <= cutoff (the store's collection cutoff: now - retention, below
 *     every pending transaction), so e is hidden at the cutoff and above,
 *   - and no pin p has e <= p < n (no snapshot sees e).
 * A newer version the compaction does not read (in another file) can
 * only lie between e and n: the interval without pins only shrinks, so
 * the decision stays right. Deletes are never given to the filter: a put
 * hidden by a delete is simply kept. A key's newest put is always kept.
 *
 * A dropped version leaves a hole: a read at an epoch in [e, n) would
 * find an older version. Such reads are refused: below the cutoff, only
 * pinned epochs are answered (store_cutoff_allows), and the cutoff is
 * persisted (LAYOUT_CUTOFF_KEY, synced before it is raised), so it holds
 * after a restart.
 *
 * Failure modes: no memory for a filter -> RocksDB gets NULL and compacts
 * without one (nothing dropped); no memory to remember a key -> that key
 * is kept whole.
 */
#include <stdlib.h>
#include <string.h>

#include "hlc/hlc.h"
#include "store/store_int.h"

struct vfilter {
	uint64_t cutoff;
	uint64_t *pins; /* ascending */
	size_t npins;
	char *last;     /* the user key of the previous put seen */
	size_t lastlen, lastcap;
	uint64_t last_epoch;
	int have_last;
};

/* Any pin p with lo <= p < hi. */
static int pin_between(const struct vfilter *f, uint64_t lo, uint64_t hi)
{
	size_t a = 0, b = f->npins;

	while (a < b) { /* the first pin >= lo */
		size_t m = a + (b - a) / 2;

		if (f->pins[m] < lo)
			a = m + 1;
		else
			b = m;
	}
	return a < f->npins && f->pins[a] < hi;
}

static unsigned char vf_filter(void *state, int level, const char *key,
			       size_t klen, const char *val, size_t vlen,
			       char **new_val, size_t *new_vlen,
			       unsigned char *changed)
{
	struct vfilter *f = state;
	unsigned char drop = 0;
	size_t ulen;
	uint64_t e;

	(void)level;
	(void)val;
	(void)vlen;
	(void)new_val;
	(void)new_vlen;
	*changed = 0;
	if (klen < LAYOUT_TS_SIZE || f->cutoff == 0)
		return 0;
	ulen = klen - LAYOUT_TS_SIZE;
	e = layout_get_le64(key + ulen);
	if (f->have_last && f->lastlen == ulen &&
	    memcmp(f->last, key, ulen) == 0) {
		uint64_t n = f->last_epoch;

		/* e == 0: a timestamp RocksDB zeroed below the watermark. */
		if (e != 0 && e < n && n <= f->cutoff &&
		    !pin_between(f, e, n))
			drop = 1;
	}
	if (ulen > f->lastcap) {
		size_t cap = f->lastcap ? f->lastcap : 64;
		char *p;

		while (cap < ulen)
			cap *= 2;
		p = realloc(f->last, cap);
		if (p == NULL) {
			f->have_last = 0; /* keep the next versions whole */
			return drop;
		}
		f->last = p;
		f->lastcap = cap;
	}
	memcpy(f->last, key, ulen);
	f->lastlen = ulen;
	f->last_epoch = e;
	f->have_last = 1;
	return drop;
}

static void vf_destroy(void *state)
{
	struct vfilter *f = state;

	if (f == NULL)
		return;
	free(f->last);
	free(f->pins);
	free(f);
}

static const char *vf_name(void *state)
{
	(void)state;
	return "dkv.gc-between-pins";
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One filter per (sub)compaction: the cutoff and the pins as they are
 * when it starts. */
static rocksdb_compactionfilter_t *
vf_create(void *state, rocksdb_compactionfiltercontext_t *ctx)
{
	struct dkv_store *s = state;
	struct vfilter *f = calloc(1, sizeof(*f));

	(void)ctx;
	if (f == NULL)
		return NULL;
	f->cutoff = atomic_load(&s->cutoff);
	if (f->cutoff != 0 && s->opts.pins != NULL) {
		f->pins = malloc(DKV_STORE_MAX_PINS * sizeof(*f->pins));
		if (f->pins == NULL) {
			free(f);
			return NULL;
		}
		f->npins = s->opts.pins(s->opts.pin_ctx, f->pins,
					DKV_STORE_MAX_PINS);
		if (f->npins > DKV_STORE_MAX_PINS)
			f->npins = DKV_STORE_MAX_PINS;
		qsort(f->pins, f->npins, sizeof(*f->pins), cmp_u64);
	}
	return rocksdb_compactionfilter_create(f, vf_destroy, vf_filter,
					       vf_name);
}

static void factory_destroy(void *state)
{
	(void)state; /* the store owns itself */
}

rocksdb_compactionfilterfactory_t *store_filter_create(struct dkv_store *s)
{
	return rocksdb_compactionfilterfactory_create(s, factory_destroy,
						      vf_create, vf_name);
}

int store_cutoff_load(struct dkv_store *s)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	char *err = NULL, *val;
	size_t vlen = 0;
	int rc;

	val = rocksdb_get_cf(s->db, ro, s->cf_default, LAYOUT_CUTOFF_KEY,
			     LAYOUT_CUTOFF_KEY_LEN, &vlen, &err);
	rocksdb_readoptions_destroy(ro);
	rc = store_err(err, "gc cutoff read");
	if (rc != DKV_OK || val == NULL)
		return rc;
	if (vlen != LAYOUT_TS_SIZE)
		rc = DKV_ERR_CORRUPT;
	else
		atomic_store(&s->cutoff, layout_get_le64(val));
	rocksdb_free(val);
	return rc;
}

/* The record first, synced, then the value readers and filters see: after
 * a crash the cutoff is never lower than what a compaction used. */
int store_cutoff_raise(struct dkv_store *s, uint64_t epoch)
{
	char val[LAYOUT_TS_SIZE];
	char *err = NULL;
	int rc;

	if (epoch <= atomic_load(&s->cutoff))
		return DKV_OK;
	layout_put_le64(val, epoch);
	rocksdb_put_cf(s->db, s->wo_sync, s->cf_default, LAYOUT_CUTOFF_KEY,
		       LAYOUT_CUTOFF_KEY_LEN, val, sizeof(val), &err);
	rc = store_write_err(s, err, "gc cutoff write");
	if (rc == DKV_OK)
		atomic_store(&s->cutoff, epoch);
	return rc;
}

int store_cutoff_allows(struct dkv_store *s, uint64_t epoch)
{
	uint64_t pins[64], *v = pins;
	size_t n, cap = 64;
	int ok = 0;

	if (epoch == DKV_EPOCH_MAX || epoch >= atomic_load(&s->cutoff))
		return 1;
	if (s->opts.pins == NULL)
		return 0;
	n = s->opts.pins(s->opts.pin_ctx, v, cap);
	if (n > cap) { /* more pins than the stack holds */
		v = malloc(DKV_STORE_MAX_PINS * sizeof(*v));
		if (v == NULL)
			return 0;
		cap = DKV_STORE_MAX_PINS;
		n = s->opts.pins(s->opts.pin_ctx, v, cap);
		if (n > cap)
			n = cap;
	}
	for (size_t i = 0; i < n && !ok; i++)
		ok = v[i] == epoch;
	if (v != pins)
		free(v);
	return ok;
}

uint64_t dkv_store_gc_cutoff(struct dkv_store *s)
{
	return atomic_load(&s->cutoff);
}
