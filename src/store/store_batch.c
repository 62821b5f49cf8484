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
 */
#include <stdlib.h>
#include <string.h>

#include "hlc/hlc.h"
#include "store/store_int.h"

struct dkv_batch {
	struct dkv_store *store;
	rocksdb_writebatch_t *wb;
	size_t count;
	int poisoned;
	char *scratch; /* epoch header + value, reused across puts */
	size_t scratch_cap;
};

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
	free(b);
}

void dkv_batch_clear(struct dkv_batch *b)
{
	rocksdb_writebatch_clear(b->wb);
	b->count = 0;
	b->poisoned = 0;
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

/* Validates a versioned write and takes a reference on its shard. */
static int versioned_begin(struct dkv_batch *b, uint32_t id, const void *key,
			   size_t klen, uint64_t epoch, struct shard **out)
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
	*out = sh;
	return DKV_OK;
}

int dkv_batch_put(struct dkv_batch *b, uint32_t id, const void *key,
		  size_t klen, const void *val, size_t vlen, uint64_t epoch)
{
	char ts[LAYOUT_TS_SIZE];
	struct shard *sh;
	int rc;

	rc = check_value(b->store, val, vlen);
	if (rc != DKV_OK)
		return rc;
	rc = versioned_begin(b, id, key, klen, epoch, &sh);
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
	store_shard_put(b->store, sh);
	return added(b);
}

int dkv_batch_del(struct dkv_batch *b, uint32_t id, const void *key,
		  size_t klen, uint64_t epoch)
{
	char ts[LAYOUT_TS_SIZE];
	struct shard *sh;
	int rc;

	rc = versioned_begin(b, id, key, klen, epoch, &sh);
	if (rc != DKV_OK)
		return rc;
	layout_put_le64(ts, epoch);
	rocksdb_writebatch_delete_cf_with_ts(b->wb, sh->cf_ver, key, klen, ts,
					     sizeof(ts));
	store_shard_put(b->store, sh);
	return added(b);
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

int dkv_batch_commit(struct dkv_batch *b)
{
	struct dkv_store *s = b->store;
	char *err = NULL;
	int rc;

	if (b->poisoned)
		return DKV_ERR_STATE;
	if (b->count == 0)
		return DKV_OK;
	if ((size_t)rocksdb_writebatch_count(b->wb) != b->count)
		return DKV_ERR_INTERNAL;
	if (s->opts.durability == DKV_DUR_FSYNC) {
		pthread_mutex_lock(&s->fsync_lock);
		rocksdb_write(s->db, s->wo_commit, b->wb, &err);
		pthread_mutex_unlock(&s->fsync_lock);
	} else {
		/* GROUP: RocksDB's write thread makes concurrent writers one
		 * group whose leader appends and syncs the WAL once for all. */
		rocksdb_write(s->db, s->wo_commit, b->wb, &err);
	}
	rc = store_err(err, "commit");
	if (rc != DKV_OK)
		return rc;
	atomic_fetch_add(&s->n_commits, 1);
	atomic_fetch_add(&s->n_records, b->count);
	dkv_batch_clear(b);
	return DKV_OK;
}
