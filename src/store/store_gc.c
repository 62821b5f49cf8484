/*
 * store_gc.c - history garbage collection.
 *
 * A shard's watermark W is RocksDB's full_history_ts_low on its versioned
 * family: reads below W are refused (DKV_ERR_EPOCH_TOO_OLD, checked here
 * before RocksDB sees the read), and compactions may drop every version
 * that is hidden at W by a newer version at or below W. The version visible
 * at W itself, and everything above W, stays.
 *
 * Pins: the snapshot manager names, through opts.oldest_pin, the oldest
 * epoch that must stay readable; W never passes it. W only moves up
 * (RocksDB refuses to lower it, and so do we). Above W, between the pins,
 * the store's cutoff (raised to epoch here when opts.pins is set) lets a
 * compaction filter drop what no pin sees (store_filter.c).
 */
#include "hlc/hlc.h"
#include "store/store_int.h"

static int wm_apply(struct dkv_store *s, struct shard *sh, uint64_t wm)
{
	char ts[LAYOUT_TS_SIZE];
	char *err = NULL;

	layout_put_le64(ts, wm);
	rocksdb_increase_full_history_ts_low(s->db, sh->cf_ver, ts, sizeof(ts),
					     &err);
	return store_err(err, "gc watermark");
}

int store_wm_load(struct dkv_store *s, struct shard *sh)
{
	char key[LAYOUT_WM_KEY_LEN];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	char *err = NULL, *val;
	size_t vlen = 0;
	int rc = DKV_OK;

	layout_wm_key(key, sh->id);
	val = rocksdb_get_cf(s->db, ro, s->cf_default, key, sizeof(key), &vlen,
			     &err);
	rocksdb_readoptions_destroy(ro);
	if (err != NULL)
		return store_err(err, "watermark read");
	if (val == NULL)
		return DKV_OK;
	if (vlen != LAYOUT_TS_SIZE) {
		rc = DKV_ERR_CORRUPT;
		goto out;
	}
	atomic_store(&sh->watermark, layout_get_le64(val));
	/* The record is written first, so RocksDB may lag behind it. */
	rc = wm_apply(s, sh, atomic_load(&sh->watermark));
out:
	rocksdb_free(val);
	return rc;
}

int store_wm_set(struct dkv_store *s, struct shard *sh, uint64_t wm)
{
	char key[LAYOUT_WM_KEY_LEN], val[LAYOUT_TS_SIZE];
	char *err = NULL;
	int rc;

	layout_wm_key(key, sh->id);
	layout_put_le64(val, wm);
	rocksdb_put_cf(s->db, s->wo_sync, s->cf_default, key, sizeof(key), val,
		       sizeof(val), &err);
	rc = store_write_err(s, err, "watermark write");
	if (rc != DKV_OK)
		return rc;
	atomic_store(&sh->watermark, wm);
	return wm_apply(s, sh, wm);
}

uint64_t dkv_store_watermark(struct dkv_store *s, uint32_t id)
{
	struct shard *sh = store_shard_get(s, id);
	uint64_t wm;

	if (sh == NULL)
		return 0;
	wm = atomic_load(&sh->watermark);
	store_shard_put(s, sh);
	return wm;
}

int dkv_store_gc(struct dkv_store *s, uint32_t id, uint64_t epoch, int compact,
		 uint64_t *applied)
{
	struct shard *sh;
	uint64_t target = epoch, cur = 0;
	int rc = DKV_OK;

	if (store_check_epoch(epoch) != DKV_OK)
		return DKV_ERR_INVAL;
	sh = store_shard_get(s, id);
	if (sh == NULL)
		return DKV_ERR_NO_SHARD;
	if (s->opts.oldest_pin != NULL) {
		uint64_t pin = s->opts.oldest_pin(s->opts.pin_ctx, id);

		if (pin != DKV_EPOCH_NONE && pin < target)
			target = pin;
	}
	/* Between pins: versions hidden at epoch and seen by no pin go at
	 * the next compactions (store_filter.c). Only with the pins known. */
	if (s->opts.pins != NULL) {
		rc = store_cutoff_raise(s, epoch);
		if (rc != DKV_OK)
			goto out;
	}
	cur = atomic_load(&sh->watermark);
	if (target > cur) {
		rc = store_wm_set(s, sh, target);
		if (rc != DKV_OK)
			goto out;
		cur = target;
	}
	if (compact) {
		/* Force the bottommost level too: that is where old versions
		 * end up, and a plain manual compaction skips it. */
		rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();

		rocksdb_compactoptions_set_bottommost_level_compaction(
			co, 2 /* kForce */);
		rocksdb_compact_range_cf_opt(s->db, sh->cf_ver, co, NULL, 0,
					     NULL, 0);
		rocksdb_compactoptions_destroy(co);
	}
out:
	if (applied != NULL)
		*applied = cur;
	store_shard_put(s, sh);
	return rc;
}
