/*
 * store_batch.c - the store's only write path.
 *
 * A batch mixes versioned writes, plain records and metadata of any
 * shards, and commits them in one atomic RocksDB write. It guards against
 * the traps of the 7.8 C API: rocksdb_writebatch_put_cf_with_ts() and its
 * siblings drop the Status of WriteBatch::Put, so a record aimed at the
 * wrong kind of family (plain put into a timestamped family, timestamp of
 * the wrong size) vanishes silently, and some misuses trip assertions.
 * Here each call checks its arguments and the family kind before adding,
 * and checks afterwards that RocksDB's record count went up by exactly one;
 * a batch that ever disagrees is poisoned and refuses to commit.
 *
 * Versioned writes keep each key's versions in epoch order (store.h,
 * docs/store.md "Versions"): a write below the key's newest committed
 * version, or below the batch's own earlier write of the key, is refused
 * with DKV_ERR_WRITE_TOO_OLD. The batch remembers, per (shard, key) it
 * wrote, the epoch of its last write (struct order), so a key written
 * twice is read from RocksDB once.
 */
#include <stdlib.h>
#include <string.h>

#include "hlc/hlc.h"
#include "store/store_int.h"

/*
 * The batch's versioned keys: (shard, key) -> epoch of the batch's last
 * write of the key. Open addressing with linear probing over 24-byte
 * slots, the table kept 3/8 to 3/4 full; each distinct key is copied once
 * into keys (le32 length | bytes). No allocation per record: both grow by
 * doubling. Memory is proportional to the batch's own: per distinct key
 * at most 64 bytes of slots and 4 + klen bytes of copy, where the batch
 * holds klen + 8 (timestamp) + 3 or more bytes for each record. Clear and
 * commit empty it; a table bigger than ORDER_KEEP_SLOTS, or much bigger
 * than the batch needed, is freed then.
 */
struct order_slot {
	uint64_t epoch; /* 0: empty slot (epoch 0 is never written) */
	size_t koff;    /* the key's record in order.keys */
	uint32_t hash;
	uint32_t shard;
};

/* A shard whose ceiling this batch's commit must raise (to above epoch). */
struct order_raise {
	uint32_t shard;
	uint64_t epoch;       /* the batch's highest epoch above the ceiling */
	struct shard *sh;     /* during the commit */
	uint64_t ceil;        /* during the commit: the new ceiling, or 0 */
};

struct order {
	struct order_slot *slots;
	size_t cap; /* 0 or a power of two */
	size_t n;
	char *keys;
	size_t kused, kcap;
	struct order_raise *raise;
	size_t nraise, raise_cap;
};

#define ORDER_MIN_SLOTS 16
#define ORDER_KEEP_SLOTS 256        /* kept across clears up to this */
#define ORDER_KEEP_KEYS (16u << 10) /* key bytes kept across clears */

struct dkv_batch {
	struct dkv_store *store;
	rocksdb_writebatch_t *wb;
	size_t count;
	int poisoned;
	char *scratch; /* epoch header + value, reused across puts */
	size_t scratch_cap;
	struct order order;
};

static uint64_t order_hash(uint32_t shard, const char *k, size_t n)
{
	const uint64_t m = UINT64_C(0xff51afd7ed558ccd);
	uint64_t h = (UINT64_C(0x9e3779b97f4a7c15) ^ shard) * m ^ n;
	uint64_t w;

	for (; n >= 8; k += 8, n -= 8) {
		memcpy(&w, k, 8);
		h = (h ^ w) * m;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, k, n);
	h ^= w; /* murmur3's finalizer: every bit of h moves every bit */
	h = (h ^ (h >> 33)) * m;
	h = (h ^ (h >> 33)) * UINT64_C(0xc4ceb9fe1a85ec53);
	return h ^ (h >> 33);
}

/* The slot of (shard, key): where it is, or the empty slot where it would
 * go. cap must be > 0. */
static size_t order_find(const struct order *o, uint32_t shard, uint32_t h,
			 const char *key, size_t klen)
{
	size_t mask = o->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		const struct order_slot *sl = &o->slots[i];
		uint32_t len;

		if (sl->epoch == 0)
			return i;
		if (sl->hash != h || sl->shard != shard)
			continue;
		memcpy(&len, o->keys + sl->koff, sizeof(len));
		if (len == klen &&
		    memcmp(o->keys + sl->koff + sizeof(len), key, klen) == 0)
			return i;
	}
}

static int order_grow(struct order *o)
{
	size_t cap = o->cap ? 2 * o->cap : ORDER_MIN_SLOTS;
	struct order_slot *n = calloc(cap, sizeof(*n));

	if (n == NULL)
		return DKV_ERR_NOMEM;
	for (size_t i = 0; i < o->cap; i++) {
		size_t j;

		if (o->slots[i].epoch == 0)
			continue;
		for (j = o->slots[i].hash & (cap - 1); n[j].epoch != 0;
		     j = (j + 1) & (cap - 1))
			;
		n[j] = o->slots[i];
	}
	free(o->slots);
	o->slots = n;
	o->cap = cap;
	return DKV_OK;
}

/* Room for one more key of klen bytes, so that order_set cannot fail. */
static int order_reserve(struct order *o, size_t klen)
{
	size_t need = o->kused + sizeof(uint32_t) + klen;

	if ((o->n + 1) * 4 > o->cap * 3) {
		int rc = order_grow(o);

		if (rc != DKV_OK)
			return rc;
	}
	if (need > o->kcap) {
		size_t cap = o->kcap ? o->kcap : 256;
		char *n;

		while (cap < need)
			cap *= 2;
		n = realloc(o->keys, cap);
		if (n == NULL)
			return DKV_ERR_NOMEM;
		o->keys = n;
		o->kcap = cap;
	}
	return DKV_OK;
}

/* Records the batch's write of (shard, key) at epoch, in slot i found by
 * order_find (after order_reserve for a new key). */
static void order_set(struct order *o, size_t i, uint32_t shard, uint32_t h,
		      const char *key, size_t klen, uint64_t epoch)
{
	struct order_slot *sl = &o->slots[i];
	uint32_t len = (uint32_t)klen;

	if (sl->epoch == 0) {
		sl->koff = o->kused;
		sl->hash = h;
		sl->shard = shard;
		memcpy(o->keys + o->kused, &len, sizeof(len));
		memcpy(o->keys + o->kused + sizeof(len), key, klen);
		o->kused += sizeof(len) + klen;
		o->n++;
	}
	sl->epoch = epoch;
}

/* The entry of shard in o->raise, or where it would go (o->nraise). */
static size_t order_raise_find(const struct order *o, uint32_t shard)
{
	size_t i = 0;

	while (i < o->nraise && o->raise[i].shard != shard)
		i++;
	return i;
}

/* Room for one more shard to raise, so that order_raise_set cannot fail. */
static int order_raise_reserve(struct order *o, uint32_t shard)
{
	size_t cap;
	struct order_raise *n;

	if (order_raise_find(o, shard) < o->nraise || o->nraise < o->raise_cap)
		return DKV_OK;
	cap = o->raise_cap ? 2 * o->raise_cap : 4;
	n = realloc(o->raise, cap * sizeof(*n));
	if (n == NULL)
		return DKV_ERR_NOMEM;
	o->raise = n;
	o->raise_cap = cap;
	return DKV_OK;
}

static void order_raise_set(struct order *o, uint32_t shard, uint64_t epoch)
{
	size_t i = order_raise_find(o, shard);

	if (i == o->nraise) {
		o->raise[o->nraise++] =
			(struct order_raise){ .shard = shard, .epoch = epoch };
	} else if (epoch > o->raise[i].epoch) {
		o->raise[i].epoch = epoch;
	}
}

static void order_reset(struct order *o)
{
	/* Big, or much bigger than this batch needed: freed. */
	if (o->cap > ORDER_KEEP_SLOTS ||
	    (o->cap > ORDER_MIN_SLOTS && o->n * 16 < o->cap)) {
		free(o->slots);
		o->slots = NULL;
		o->cap = 0;
	} else if (o->n > 0) {
		memset(o->slots, 0, o->cap * sizeof(*o->slots));
	}
	o->n = 0;
	if (o->kcap > ORDER_KEEP_KEYS) {
		free(o->keys);
		o->keys = NULL;
		o->kcap = 0;
	}
	o->kused = 0;
	o->nraise = 0;
}

static void order_free(struct order *o)
{
	free(o->slots);
	free(o->keys);
	free(o->raise);
	memset(o, 0, sizeof(*o));
}

int dkv_batch_create(struct dkv_store *s, struct dkv_batch **out)
{
	struct dkv_batch *b;

	if (s == NULL || out == NULL)
		return DKV_ERR_INVAL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return DKV_ERR_NOMEM;
	b->store = s;
	b->wb = rocksdb_writebatch_create();
	atomic_fetch_add(&s->batches, 1);
	*out = b;
	return DKV_OK;
}

void dkv_batch_destroy(struct dkv_batch *b)
{
	if (b == NULL)
		return;
	atomic_fetch_sub(&b->store->batches, 1);
	rocksdb_writebatch_destroy(b->wb);
	free(b->scratch);
	order_free(&b->order);
	free(b);
}

void dkv_batch_clear(struct dkv_batch *b)
{
	rocksdb_writebatch_clear(b->wb);
	b->count = 0;
	b->poisoned = 0;
	order_reset(&b->order);
}

size_t dkv_batch_count(const struct dkv_batch *b)
{
	return b->count;
}

/* Called after each add: RocksDB must have taken exactly one record. */
static int added(struct dkv_batch *b)
{
	if ((size_t)rocksdb_writebatch_count(b->wb) != b->count + 1) {
		b->poisoned = 1;
		return DKV_ERR_INTERNAL;
	}
	b->count++;
	return DKV_OK;
}

static int check_value(const struct dkv_store *s, const void *val, size_t vlen)
{
	if (val == NULL && vlen != 0)
		return DKV_ERR_INVAL;
	return vlen > s->opts.max_value ? DKV_ERR_TOO_BIG : DKV_OK;
}

/* Where a versioned write goes in the batch's order table. */
struct order_pos {
	size_t slot;
	uint32_t hash;
	int raise; /* the epoch is above the shard's ceiling */
};

/*
 * The order check of a versioned write: not below the batch's last write
 * of the key, nor (for a key new to the batch) below its newest committed
 * version. An epoch at or above the shard's hi is above every version
 * committed or in a batch: no lookup (the common case, epochs from the
 * HLC grow). Reserves what versioned_added will need.
 */
static int order_check(struct dkv_batch *b, struct shard *sh, const char *key,
		       size_t klen, uint64_t epoch, struct order_pos *pos)
{
	struct order *o = &b->order;
	uint64_t newest;
	int rc;

	pos->hash = (uint32_t)order_hash(sh->id, key, klen);
	pos->raise = epoch > atomic_load(&sh->ceil);
	if (pos->raise) {
		rc = order_raise_reserve(o, sh->id);
		if (rc != DKV_OK)
			return rc;
	}
	if (o->cap > 0) {
		pos->slot = order_find(o, sh->id, pos->hash, key, klen);
		if (o->slots[pos->slot].epoch != 0)
			return epoch < o->slots[pos->slot].epoch
				       ? DKV_ERR_WRITE_TOO_OLD
				       : DKV_OK;
	}
	if (epoch < atomic_load(&sh->hi)) {
		rc = store_newest_epoch(b->store, sh, key, klen, &newest);
		if (rc != DKV_OK)
			return rc;
		if (epoch < newest)
			return DKV_ERR_WRITE_TOO_OLD;
	}
	rc = order_reserve(o, klen);
	if (rc != DKV_OK)
		return rc;
	pos->slot = order_find(o, sh->id, pos->hash, key, klen);
	return DKV_OK;
}

static void atomic_max_u64(_Atomic uint64_t *a, uint64_t v)
{
	uint64_t cur = atomic_load(a);

	while (cur < v && !atomic_compare_exchange_weak(a, &cur, v))
		;
}

/* Validates a versioned write and takes a reference on its shard. */
static int versioned_begin(struct dkv_batch *b, uint32_t id, const void *key,
			   size_t klen, uint64_t epoch, struct shard **out,
			   struct order_pos *pos)
{
	struct shard *sh;
	int rc;

	*out = NULL;
	if (b->poisoned)
		return DKV_ERR_STATE;
	if (key == NULL)
		return DKV_ERR_INVAL;
	rc = store_check_key(b->store, klen);
	if (rc == DKV_OK)
		rc = store_check_epoch(epoch);
	if (rc != DKV_OK)
		return rc;
	sh = store_shard_get(b->store, id);
	if (sh == NULL)
		return DKV_ERR_NO_SHARD;
	if (epoch < atomic_load(&sh->watermark)) {
		store_shard_put(b->store, sh);
		return DKV_ERR_EPOCH_TOO_OLD;
	}
	rc = order_check(b, sh, key, klen, epoch, pos);
	if (rc != DKV_OK) {
		store_shard_put(b->store, sh);
		return rc;
	}
	*out = sh;
	return DKV_OK;
}

/* After a versioned record went in: the batch's last write of its key. */
static int versioned_added(struct dkv_batch *b, struct shard *sh,
			   const struct order_pos *pos, const void *key,
			   size_t klen, uint64_t epoch)
{
	int rc = added(b);

	if (rc == DKV_OK) {
		order_set(&b->order, pos->slot, sh->id, pos->hash, key, klen,
			  epoch);
		/* Before the commit makes it visible (a no-op if unknown). */
		atomic_max_u64(&sh->hi, epoch);
		if (pos->raise)
			order_raise_set(&b->order, sh->id, epoch);
	}
	store_shard_put(b->store, sh);
	return rc;
}

int dkv_batch_put(struct dkv_batch *b, uint32_t id, const void *key,
		  size_t klen, const void *val, size_t vlen, uint64_t epoch)
{
	char ts[LAYOUT_TS_SIZE];
	struct order_pos pos;
	struct shard *sh;
	int rc;

	rc = check_value(b->store, val, vlen);
	if (rc != DKV_OK)
		return rc;
	rc = versioned_begin(b, id, key, klen, epoch, &sh, &pos);
	if (rc != DKV_OK)
		return rc;
	if (b->scratch_cap < LAYOUT_VAL_HDR + vlen) {
		char *n = realloc(b->scratch, LAYOUT_VAL_HDR + vlen);

		if (n == NULL) {
			store_shard_put(b->store, sh);
			return DKV_ERR_NOMEM;
		}
		b->scratch = n;
		b->scratch_cap = LAYOUT_VAL_HDR + vlen;
	}
	layout_put_le64(b->scratch, epoch);
	if (vlen)
		memcpy(b->scratch + LAYOUT_VAL_HDR, val, vlen);
	layout_put_le64(ts, epoch);
	rocksdb_writebatch_put_cf_with_ts(b->wb, sh->cf_ver, key, klen, ts,
					  sizeof(ts), b->scratch,
					  LAYOUT_VAL_HDR + vlen);
	return versioned_added(b, sh, &pos, key, klen, epoch);
}

int dkv_batch_del(struct dkv_batch *b, uint32_t id, const void *key,
		  size_t klen, uint64_t epoch)
{
	char ts[LAYOUT_TS_SIZE];
	struct order_pos pos;
	struct shard *sh;
	int rc;

	rc = versioned_begin(b, id, key, klen, epoch, &sh, &pos);
	if (rc != DKV_OK)
		return rc;
	layout_put_le64(ts, epoch);
	rocksdb_writebatch_delete_cf_with_ts(b->wb, sh->cf_ver, key, klen, ts,
					     sizeof(ts));
	return versioned_added(b, sh, &pos, key, klen, epoch);
}

static int plain_begin(struct dkv_batch *b, uint32_t id, const void *key,
		       size_t klen, struct shard **out)
{
	int rc;

	*out = NULL;
	if (b->poisoned)
		return DKV_ERR_STATE;
	if (key == NULL)
		return DKV_ERR_INVAL;
	rc = store_check_key(b->store, klen);
	if (rc != DKV_OK)
		return rc;
	*out = store_shard_get(b->store, id);
	return *out ? DKV_OK : DKV_ERR_NO_SHARD;
}

int dkv_batch_put_plain(struct dkv_batch *b, uint32_t id, const void *key,
			size_t klen, const void *val, size_t vlen)
{
	struct shard *sh;
	int rc;

	rc = check_value(b->store, val, vlen);
	if (rc != DKV_OK)
		return rc;
	rc = plain_begin(b, id, key, klen, &sh);
	if (rc != DKV_OK)
		return rc;
	rocksdb_writebatch_put_cf(b->wb, sh->cf_plain, key, klen,
				  val ? val : "", vlen);
	store_shard_put(b->store, sh);
	return added(b);
}

int dkv_batch_del_plain(struct dkv_batch *b, uint32_t id, const void *key,
			size_t klen)
{
	struct shard *sh;
	int rc;

	rc = plain_begin(b, id, key, klen, &sh);
	if (rc != DKV_OK)
		return rc;
	rocksdb_writebatch_delete_cf(b->wb, sh->cf_plain, key, klen);
	store_shard_put(b->store, sh);
	return added(b);
}

/* Metadata keys live behind LAYOUT_META_PREFIX in "default". */
static int meta_key(const struct dkv_store *s, const void *key, size_t klen,
		    char **out)
{
	int rc;

	if (key == NULL)
		return DKV_ERR_INVAL;
	rc = store_check_key(s, klen);
	if (rc != DKV_OK)
		return rc;
	*out = malloc(klen + 1);
	if (*out == NULL)
		return DKV_ERR_NOMEM;
	(*out)[0] = LAYOUT_META_PREFIX;
	memcpy(*out + 1, key, klen);
	return DKV_OK;
}

int dkv_batch_put_meta(struct dkv_batch *b, const void *key, size_t klen,
		       const void *val, size_t vlen)
{
	char *mk = NULL;
	int rc;

	if (b->poisoned)
		return DKV_ERR_STATE;
	rc = check_value(b->store, val, vlen);
	if (rc == DKV_OK)
		rc = meta_key(b->store, key, klen, &mk);
	if (rc != DKV_OK)
		return rc;
	rocksdb_writebatch_put_cf(b->wb, b->store->cf_default, mk, klen + 1,
				  val ? val : "", vlen);
	free(mk);
	return added(b);
}

int dkv_batch_del_meta(struct dkv_batch *b, const void *key, size_t klen)
{
	char *mk = NULL;
	int rc;

	if (b->poisoned)
		return DKV_ERR_STATE;
	rc = meta_key(b->store, key, klen, &mk);
	if (rc != DKV_OK)
		return rc;
	rocksdb_writebatch_delete_cf(b->wb, b->store->cf_default, mk, klen + 1);
	free(mk);
	return added(b);
}

/*
 * Ceilings: a commit with a version above its shard's ceiling carries the
 * raised ceiling record in the same RocksDB write, so the ceiling on disk
 * bounds every version on disk whatever crashes. Such commits are
 * serialized (ceil_lock), so ceilings only grow; with the window they are
 * rare. After the commit the raised ceilings are in force; after a failure
 * the records are taken out of the batch again.
 */
static void ceil_raise_begin(struct dkv_batch *b)
{
	struct dkv_store *s = b->store;
	struct order *o = &b->order;

	rocksdb_writebatch_set_save_point(b->wb);
	for (size_t i = 0; i < o->nraise; i++) {
		struct order_raise *r = &o->raise[i];

		r->ceil = 0;
		/* A dropped shard needs no ceiling; a new one with the
		 * same id gets a higher one than it needs, which is safe. */
		r->sh = store_shard_get(s, r->shard);
		if (r->sh == NULL || r->epoch <= atomic_load(&r->sh->ceil))
			continue;
		r->ceil = r->epoch >= DKV_EPOCH_MAX - 1 - STORE_CEIL_WINDOW
				  ? DKV_EPOCH_MAX - 1
				  : r->epoch + STORE_CEIL_WINDOW;
		store_ceil_record(s, b->wb, r->shard, r->ceil);
	}
}

static void ceil_raise_end(struct dkv_batch *b, int committed)
{
	struct order *o = &b->order;
	char *err = NULL;

	for (size_t i = 0; i < o->nraise; i++) {
		struct order_raise *r = &o->raise[i];

		if (r->sh == NULL)
			continue;
		if (committed && r->ceil != 0)
			atomic_store(&r->sh->ceil, r->ceil);
		store_shard_put(b->store, r->sh);
		r->sh = NULL;
	}
	if (committed)
		return;
	rocksdb_writebatch_rollback_to_save_point(b->wb, &err);
	if (err != NULL ||
	    (size_t)rocksdb_writebatch_count(b->wb) != b->count) {
		store_err(err, "batch rollback");
		b->poisoned = 1;
	}
}

static int batch_write(struct dkv_batch *b)
{
	struct dkv_store *s = b->store;
	char *err = NULL;

	if (s->opts.durability == DKV_DUR_FSYNC) {
		pthread_mutex_lock(&s->fsync_lock);
		rocksdb_write(s->db, s->wo_commit, b->wb, &err);
		pthread_mutex_unlock(&s->fsync_lock);
	} else {
		/* GROUP: RocksDB's write thread makes concurrent writers one
		 * group whose leader appends and syncs the WAL once for all. */
		rocksdb_write(s->db, s->wo_commit, b->wb, &err);
	}
	return store_write_err(s, err, "commit");
}

int dkv_batch_commit(struct dkv_batch *b)
{
	struct dkv_store *s = b->store;
	int rc;

	if (b->poisoned)
		return DKV_ERR_STATE;
	if (b->count == 0)
		return DKV_OK;
	if ((size_t)rocksdb_writebatch_count(b->wb) != b->count)
		return DKV_ERR_INTERNAL;
	if (b->order.nraise == 0) {
		rc = batch_write(b);
	} else {
		pthread_mutex_lock(&s->ceil_lock);
		ceil_raise_begin(b);
		rc = batch_write(b);
		ceil_raise_end(b, rc == DKV_OK);
		pthread_mutex_unlock(&s->ceil_lock);
	}
	if (rc != DKV_OK)
		return rc;
	atomic_fetch_add(&s->n_commits, 1);
	atomic_fetch_add(&s->n_records, b->count);
	dkv_batch_clear(b);
	return DKV_OK;
}
