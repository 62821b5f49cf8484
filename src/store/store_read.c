/*
 * store_read.c - reads: point reads at an epoch, ordered ranges with resume
 * anchors, plain and metadata records, and the version history of a key.
 *
 * A versioned read sets ReadOptions::timestamp to the read epoch: RocksDB
 * then shows, for each key, its newest version at or below that epoch (a
 * tombstone hides the key). The history of a key also sets iter_start_ts,
 * which makes the iterator return every version, tombstones included, with
 * internal keys (layout.h).
 */
#include <stdlib.h>
#include <string.h>

#include "hlc/hlc.h"
#include "store/store_int.h"

rocksdb_readoptions_t *store_ro_at(uint64_t epoch, char *ts_buf)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();

	layout_put_le64(ts_buf, epoch);
	rocksdb_readoptions_set_timestamp(ro, ts_buf, LAYOUT_TS_SIZE);
	return ro;
}

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int r = n ? memcmp(a, b, n) : 0;

	if (r != 0)
		return r;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* Takes a reference on an ACTIVE shard readable at epoch. */
static int read_begin(struct dkv_store *s, uint32_t id, uint64_t epoch,
		      struct shard **out)
{
	struct shard *sh;

	*out = NULL;
	if (epoch == DKV_EPOCH_NONE)
		return DKV_ERR_INVAL;
	sh = store_shard_get(s, id);
	if (sh == NULL)
		return DKV_ERR_NO_SHARD;
	if (epoch < atomic_load(&sh->watermark) ||
	    !store_cutoff_allows(s, epoch)) {
		store_shard_put(s, sh);
		return DKV_ERR_EPOCH_TOO_OLD;
	}
	*out = sh;
	return DKV_OK;
}

/* The order check of the batch (store_batch.c). The newest version of a
 * key is the first entry an iterator with iter_start_ts shows for it: the
 * comparator sorts a key's versions by epoch, newest first, whatever the
 * sequence numbers, and iter_start_ts makes tombstones entries too. */
int store_newest_epoch(struct dkv_store *s, struct shard *sh, const char *key,
		       size_t klen, uint64_t *epoch)
{
	rocksdb_iterator_t *it;
	char *err = NULL;
	int rc = DKV_OK;

	*epoch = 0;
	it = rocksdb_create_iterator_cf(s->db, s->ro_newest, sh->cf_ver);
	rocksdb_iter_seek(it, key, klen);
	if (rocksdb_iter_valid(it)) {
		size_t ilen, ulen;
		const char *ik = rocksdb_iter_key(it, &ilen);

		if (ilen < LAYOUT_TS_SIZE + LAYOUT_TRAILER_SIZE) {
			rc = DKV_ERR_CORRUPT;
			goto out;
		}
		ulen = ilen - LAYOUT_TS_SIZE - LAYOUT_TRAILER_SIZE;
		/* A put's timestamp is its epoch unless GC zeroed it below
		 * the watermark, where no write is allowed anyway. */
		if (key_cmp(ik, ulen, key, klen) == 0)
			*epoch = layout_get_le64(ik + ulen);
	}
	rocksdb_iter_get_error(it, &err);
	rc = store_err(err, "order check");
out:
	rocksdb_iter_destroy(it);
	return rc;
}

int dkv_store_get(struct dkv_store *s, uint32_t id, const void *key,
		  size_t klen, uint64_t epoch, struct dkv_val *out)
{
	return dkv_store_get_flags(s, id, key, klen, epoch, 0, out);
}

int dkv_store_get_flags(struct dkv_store *s, uint32_t id, const void *key,
			size_t klen, uint64_t epoch, unsigned flags,
			struct dkv_val *out)
{
	char ts_buf[LAYOUT_TS_SIZE];
	rocksdb_readoptions_t *ro = NULL;
	struct shard *sh = NULL;
	char *ts = NULL, *err = NULL, *val;
	size_t vlen = 0, tslen = 0;
	int rc;

	if (out == NULL || key == NULL)
		return DKV_ERR_INVAL;
	memset(out, 0, sizeof(*out));
	rc = store_check_key(s, klen);
	if (rc != DKV_OK)
		return rc;
	rc = read_begin(s, id, epoch, &sh);
	if (rc != DKV_OK)
		return rc;
	ro = store_ro_at(epoch, ts_buf);
	if (flags & DKV_READ_NO_IO)
		rocksdb_readoptions_set_read_tier(ro, 1 /* kBlockCacheTier */);
	val = rocksdb_get_cf_with_ts(s->db, ro, sh->cf_ver, key, klen, &vlen,
				     &ts, &tslen, &err);
	atomic_fetch_add(&s->n_gets, 1);
	if (err != NULL) {
		/* RocksDB says "Result incomplete: no blocking io". */
		if ((flags & DKV_READ_NO_IO) && strstr(err, "ncomplete")) {
			rocksdb_free(err); /* it would have read the disk */
			rc = DKV_ERR_BUSY;
		} else {
			rc = store_err(err, "get");
		}
		goto out;
	}
	if (val == NULL) {
		rc = DKV_ERR_NOT_FOUND;
		goto out;
	}
	if (ts == NULL || tslen != LAYOUT_TS_SIZE || vlen < LAYOUT_VAL_HDR) {
		rocksdb_free(val);
		/* A block-cache-only read of a key whose data block is not
		 * cached can come back "OK" with an empty value and no
		 * timestamp (RocksDB 7.8): only a real read can tell. */
		rc = (flags & DKV_READ_NO_IO) && vlen == 0 && tslen == 0
			     ? DKV_ERR_BUSY
			     : DKV_ERR_CORRUPT;
		goto out;
	}
	out->mem_ = val;
	out->data = val + LAYOUT_VAL_HDR;
	out->len = vlen - LAYOUT_VAL_HDR;
	out->epoch = layout_get_le64(val);
out:
	rocksdb_free(ts);
	rocksdb_readoptions_destroy(ro);
	store_shard_put(s, sh);
	return rc;
}

static int get_unversioned(struct dkv_store *s,
			   rocksdb_column_family_handle_t *cf, const char *key,
			   size_t klen, struct dkv_val *out)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	char *err = NULL;
	size_t vlen = 0;
	char *val = rocksdb_get_cf(s->db, ro, cf, key, klen, &vlen, &err);
	int rc = DKV_OK;

	rocksdb_readoptions_destroy(ro);
	if (err != NULL)
		return store_err(err, "get");
	if (val == NULL)
		return DKV_ERR_NOT_FOUND;
	out->mem_ = val;
	out->data = val;
	out->len = vlen;
	return rc;
}

int dkv_store_get_plain(struct dkv_store *s, uint32_t id, const void *key,
			size_t klen, struct dkv_val *out)
{
	struct shard *sh;
	int rc;

	if (out == NULL || key == NULL)
		return DKV_ERR_INVAL;
	memset(out, 0, sizeof(*out));
	rc = store_check_key(s, klen);
	if (rc != DKV_OK)
		return rc;
	sh = store_shard_get(s, id);
	if (sh == NULL)
		return DKV_ERR_NO_SHARD;
	rc = get_unversioned(s, sh->cf_plain, key, klen, out);
	store_shard_put(s, sh);
	return rc;
}

int dkv_store_get_meta(struct dkv_store *s, const void *key, size_t klen,
		       struct dkv_val *out)
{
	char *mk;
	int rc;

	if (out == NULL || key == NULL)
		return DKV_ERR_INVAL;
	memset(out, 0, sizeof(*out));
	rc = store_check_key(s, klen);
	if (rc != DKV_OK)
		return rc;
	mk = malloc(klen + 1);
	if (mk == NULL)
		return DKV_ERR_NOMEM;
	mk[0] = LAYOUT_META_PREFIX;
	memcpy(mk + 1, key, klen);
	rc = get_unversioned(s, s->cf_default, mk, klen + 1, out);
	free(mk);
	return rc;
}

static int anchor_make(struct dkv_buf *next, int reverse, uint64_t epoch,
		       const char *key, size_t klen)
{
	next->data = malloc(LAYOUT_ANCHOR_HDR + klen);
	if (next->data == NULL)
		return DKV_ERR_NOMEM;
	next->data[0] = LAYOUT_ANCHOR_VERSION;
	next->data[1] = reverse ? LAYOUT_ANCHOR_REVERSE : 0;
	layout_put_le64(next->data + 2, epoch);
	memcpy(next->data + LAYOUT_ANCHOR_HDR, key, klen);
	next->len = LAYOUT_ANCHOR_HDR + klen;
	return DKV_OK;
}

/* Checks an anchor against the request; sets the epoch and resume key. */
static int anchor_parse(const struct dkv_store *s, const struct dkv_range *r,
			uint64_t *epoch, const char **key, size_t *klen)
{
	const char *a = r->anchor;
	uint64_t e;

	if (r->anchor_len <= LAYOUT_ANCHOR_HDR ||
	    r->anchor_len - LAYOUT_ANCHOR_HDR > s->opts.max_key ||
	    a[0] != LAYOUT_ANCHOR_VERSION ||
	    ((a[1] & LAYOUT_ANCHOR_REVERSE) != 0) != (r->reverse != 0))
		return DKV_ERR_INVAL;
	e = layout_get_le64(a + 2);
	if (e == DKV_EPOCH_NONE || (r->epoch != 0 && r->epoch != e))
		return DKV_ERR_INVAL;
	*epoch = e;
	*key = a + LAYOUT_ANCHOR_HDR;
	*klen = r->anchor_len - LAYOUT_ANCHOR_HDR;
	return DKV_OK;
}

/* Positions it at the first key of the scan. */
static void range_position(rocksdb_iterator_t *it, const struct dkv_range *r,
			   const char *akey, size_t aklen)
{
	const char *pos = akey ? akey : r->reverse ? r->end : r->start;
	size_t plen = akey ? aklen : r->reverse ? r->end_len : r->start_len;
	size_t klen;
	const char *k;

	if (!r->reverse) {
		if (pos == NULL)
			rocksdb_iter_seek_to_first(it);
		else
			rocksdb_iter_seek(it, pos, plen);
		/* An anchor is the last key already returned. */
		if (akey && rocksdb_iter_valid(it)) {
			k = rocksdb_iter_key(it, &klen);
			if (key_cmp(k, klen, akey, aklen) == 0)
				rocksdb_iter_next(it);
		}
		return;
	}
	if (pos == NULL) {
		rocksdb_iter_seek_to_last(it);
		return;
	}
	rocksdb_iter_seek_for_prev(it, pos, plen);
	/* Both the end bound and an anchor are exclusive going down. */
	if (rocksdb_iter_valid(it)) {
		k = rocksdb_iter_key(it, &klen);
		if (key_cmp(k, klen, pos, plen) == 0)
			rocksdb_iter_prev(it);
	}
}

static int in_bounds(const struct dkv_range *r, const char *k, size_t klen)
{
	if (!r->reverse)
		return r->end == NULL ||
		       key_cmp(k, klen, r->end, r->end_len) < 0;
	return r->start == NULL || key_cmp(k, klen, r->start, r->start_len) >= 0;
}

static void iter_step(rocksdb_iterator_t *it, int reverse)
{
	if (reverse)
		rocksdb_iter_prev(it);
	else
		rocksdb_iter_next(it);
}

static int iter_in_range(rocksdb_iterator_t *it, const struct dkv_range *r)
{
	size_t klen;
	const char *k;

	if (!rocksdb_iter_valid(it))
		return 0;
	k = rocksdb_iter_key(it, &klen);
	return in_bounds(r, k, klen);
}

int dkv_store_range(struct dkv_store *s, uint32_t id,
		    const struct dkv_range *r, dkv_item_cb cb, void *ctx,
		    struct dkv_buf *next)
{
	char ts_buf[LAYOUT_TS_SIZE];
	rocksdb_readoptions_t *ro = NULL;
	rocksdb_iterator_t *it = NULL;
	struct shard *sh = NULL;
	const char *akey = NULL;
	size_t aklen = 0;
	int count = 0;
	uint64_t epoch;
	char *err = NULL;
	int rc;

	if (next != NULL)
		memset(next, 0, sizeof(*next));
	if (r == NULL || cb == NULL || (r->start == NULL && r->start_len) ||
	    (r->end == NULL && r->end_len) ||
	    (r->anchor == NULL && r->anchor_len))
		return DKV_ERR_INVAL;
	epoch = r->epoch;
	if (r->anchor != NULL) {
		rc = anchor_parse(s, r, &epoch, &akey, &aklen);
		if (rc != DKV_OK)
			return rc;
	}
	rc = read_begin(s, id, epoch, &sh);
	if (rc != DKV_OK)
		return rc;
	atomic_fetch_add(&s->n_ranges, 1);
	ro = store_ro_at(epoch, ts_buf);
	it = rocksdb_create_iterator_cf(s->db, ro, sh->cf_ver);
	range_position(it, r, akey, aklen);
	for (; iter_in_range(it, r); iter_step(it, r->reverse)) {
		size_t klen, vlen, tslen = 0;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);
		(void)rocksdb_iter_timestamp(it, &tslen);
		if (tslen != LAYOUT_TS_SIZE || vlen < LAYOUT_VAL_HDR) {
			rc = DKV_ERR_CORRUPT;
			goto out;
		}
		rc = cb(ctx, k, klen, v + LAYOUT_VAL_HDR, vlen - LAYOUT_VAL_HDR,
			layout_get_le64(v));
		if (rc < 0)
			goto out;
		count++;
		if (rc == 0 && (r->limit == 0 || (size_t)count < r->limit))
			continue;
		/* Stopped by the callback or the limit: resume after k. */
		if (next != NULL) {
			rc = anchor_make(next, r->reverse, epoch, k, klen);
			if (rc != DKV_OK)
				goto out;
			/* At the limit, look one further: if nothing is
			 * left the caller gets no anchor. */
			if (rc == DKV_OK && r->limit &&
			    (size_t)count >= r->limit) {
				iter_step(it, r->reverse);
				if (!iter_in_range(it, r))
					dkv_buf_release(next);
			}
		}
		rc = DKV_OK;
		break;
	}
	rocksdb_iter_get_error(it, &err);
	if (err != NULL)
		rc = store_err(err, "range");
out:
	if (rc < 0 && next)
		dkv_buf_release(next);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	store_shard_put(s, sh);
	return rc < 0 ? rc : count;
}

int dkv_store_scan_plain(struct dkv_store *s, uint32_t id, const void *start,
			 size_t start_len, const void *end, size_t end_len,
			 dkv_item_cb cb, void *ctx)
{
	rocksdb_readoptions_t *ro = NULL;
	rocksdb_iterator_t *it = NULL;
	struct shard *sh;
	char *err = NULL;
	int rc = DKV_OK, count = 0;

	if (cb == NULL || (start == NULL && start_len) ||
	    (end == NULL && end_len))
		return DKV_ERR_INVAL;
	sh = store_shard_get(s, id);
	if (sh == NULL)
		return DKV_ERR_NO_SHARD;
	ro = rocksdb_readoptions_create();
	it = rocksdb_create_iterator_cf(s->db, ro, sh->cf_plain);
	if (start)
		rocksdb_iter_seek(it, start, start_len);
	else
		rocksdb_iter_seek_to_first(it);
	for (; rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);

		if (end && key_cmp(k, klen, end, end_len) >= 0)
			break;
		rc = cb(ctx, k, klen, v, vlen, 0);
		if (rc < 0)
			goto out;
		count++;
		if (rc > 0)
			break;
	}
	rocksdb_iter_get_error(it, &err);
	rc = store_err(err, "scan");
out:
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	store_shard_put(s, sh);
	return rc < 0 ? rc : count;
}

int dkv_store_history(struct dkv_store *s, uint32_t id, const void *key,
		      size_t klen, uint64_t from, uint64_t to,
		      dkv_version_cb cb, void *ctx)
{
	char ts_hi[LAYOUT_TS_SIZE], ts_lo[LAYOUT_TS_SIZE];
	rocksdb_readoptions_t *ro = NULL;
	rocksdb_iterator_t *it = NULL;
	struct shard *sh = NULL;
	char *err = NULL;
	int rc, count = 0;

	if (key == NULL || cb == NULL || from > to)
		return DKV_ERR_INVAL;
	rc = store_check_key(s, klen);
	if (rc != DKV_OK)
		return rc;
	rc = read_begin(s, id, to, &sh);
	if (rc != DKV_OK)
		return rc;
	ro = store_ro_at(to, ts_hi);
	/* GC zeroes the timestamp of the version it keeps below the
	 * watermark: start from 0 there and filter by the epoch in the value. */
	layout_put_le64(ts_lo, from <= atomic_load(&sh->watermark) ? 0 : from);
	rocksdb_readoptions_set_iter_start_ts(ro, ts_lo, LAYOUT_TS_SIZE);
	it = rocksdb_create_iterator_cf(s->db, ro, sh->cf_ver);
	for (rocksdb_iter_seek(it, key, klen); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t ilen, vlen, ulen;
		const char *ik = rocksdb_iter_key(it, &ilen);
		const char *v = rocksdb_iter_value(it, &vlen);
		uint64_t epoch;
		uint8_t type;

		if (ilen < LAYOUT_TS_SIZE + LAYOUT_TRAILER_SIZE) {
			rc = DKV_ERR_CORRUPT;
			goto out;
		}
		ulen = ilen - LAYOUT_TS_SIZE - LAYOUT_TRAILER_SIZE;
		if (key_cmp(ik, ulen, key, klen) != 0)
			break;
		type = (uint8_t)ik[ilen - LAYOUT_TRAILER_SIZE];
		if (type == LAYOUT_TYPE_VALUE && vlen < LAYOUT_VAL_HDR) {
			rc = DKV_ERR_CORRUPT;
			goto out;
		}
		epoch = type == LAYOUT_TYPE_VALUE ? layout_get_le64(v)
						  : layout_get_le64(ik + ulen);
		if (epoch < from) /* a collapsed tombstone has epoch 0 */
			continue;
		if (type == LAYOUT_TYPE_VALUE)
			rc = cb(ctx, epoch, 0, v + LAYOUT_VAL_HDR,
				vlen - LAYOUT_VAL_HDR);
		else
			rc = cb(ctx, epoch, 1, "", 0);
		if (rc < 0)
			goto out;
		count++;
		if (rc > 0)
			break;
	}
	rocksdb_iter_get_error(it, &err);
	rc = store_err(err, "history");
out:
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	store_shard_put(s, sh);
	return rc < 0 ? rc : count;
}

/* --- reads that see deletes ------------------------------------------------ */

struct first_version {
	struct dkv_val *out;
	int *tombstone;
	int found;
};

static int take_first(void *ctx, uint64_t epoch, int tombstone,
		      const char *val, size_t vlen)
{
	struct first_version *f = ctx;

	if (tombstone && epoch == 0)
		return 1; /* collapsed below the watermark: no version */
	f->found = 1;
	*f->tombstone = tombstone;
	if (!tombstone) {
		int rc = dkv_val_copy(f->out, val, vlen);

		if (rc != DKV_OK)
			return rc;
	}
	f->out->epoch = epoch;
	return 1;
}

int dkv_store_get_newest(struct dkv_store *s, uint32_t id, const void *key,
			 size_t klen, uint64_t epoch, struct dkv_val *out,
			 int *tombstone)
{
	struct first_version f = { out, tombstone, 0 };
	int rc;

	if (tombstone == NULL)
		return DKV_ERR_INVAL;
	*tombstone = 0;
	/* A value found by a plain read is the newest version: a newer
	 * delete would have hidden it. Only a miss needs the history. */
	rc = dkv_store_get(s, id, key, klen, epoch, out);
	if (rc != DKV_ERR_NOT_FOUND)
		return rc;
	rc = dkv_store_history(s, id, key, klen, 0, epoch, take_first, &f);
	if (rc < 0) {
		dkv_val_release(out);
		return rc;
	}
	return f.found ? DKV_OK : DKV_ERR_NOT_FOUND;
}

int dkv_store_range_newest(struct dkv_store *s, uint32_t id,
			   const void *start, size_t start_len,
			   const void *end, size_t end_len, uint64_t epoch,
			   dkv_newest_cb cb, void *ctx)
{
	char ts_hi[LAYOUT_TS_SIZE], ts_lo[LAYOUT_TS_SIZE];
	rocksdb_readoptions_t *ro = NULL;
	rocksdb_iterator_t *it = NULL;
	struct shard *sh = NULL;
	char *err = NULL, *skip = NULL;
	size_t skip_cap = 0;
	int rc, count = 0;

	if (cb == NULL || (start == NULL && start_len) ||
	    (end == NULL && end_len))
		return DKV_ERR_INVAL;
	rc = read_begin(s, id, epoch, &sh);
	if (rc != DKV_OK)
		return rc;
	ro = store_ro_at(epoch, ts_hi);
	/* Every version, deletes included (as dkv_store_history); the first
	 * entry of each key is its newest at or below epoch. */
	layout_put_le64(ts_lo, 0);
	rocksdb_readoptions_set_iter_start_ts(ro, ts_lo, LAYOUT_TS_SIZE);
	it = rocksdb_create_iterator_cf(s->db, ro, sh->cf_ver);
	if (start != NULL)
		rocksdb_iter_seek(it, start, start_len);
	else
		rocksdb_iter_seek_to_first(it);
	while (rocksdb_iter_valid(it)) {
		size_t ilen, vlen, ulen;
		const char *ik = rocksdb_iter_key(it, &ilen);
		const char *v = rocksdb_iter_value(it, &vlen);
		uint64_t ep;
		uint8_t type;
		int tomb;

		if (ilen < LAYOUT_TS_SIZE + LAYOUT_TRAILER_SIZE) {
			rc = DKV_ERR_CORRUPT;
			goto out;
		}
		ulen = ilen - LAYOUT_TS_SIZE - LAYOUT_TRAILER_SIZE;
		if (end != NULL && key_cmp(ik, ulen, end, end_len) >= 0)
			break;
		type = (uint8_t)ik[ilen - LAYOUT_TRAILER_SIZE];
		tomb = type != LAYOUT_TYPE_VALUE;
		if (!tomb && vlen < LAYOUT_VAL_HDR) {
			rc = DKV_ERR_CORRUPT;
			goto out;
		}
		ep = tomb ? layout_get_le64(ik + ulen) : layout_get_le64(v);
		if (!tomb || ep != 0) { /* not a tombstone collapsed by GC */
			rc = cb(ctx, ik, ulen, ep, tomb,
				tomb ? "" : v + LAYOUT_VAL_HDR,
				tomb ? 0 : vlen - LAYOUT_VAL_HDR);
			if (rc < 0)
				goto out;
			count++;
			if (rc > 0)
				break;
		}
		/* Skip the key's older versions: seek to key + "\0". */
		if (ulen + 1 > skip_cap) {
			char *p = realloc(skip, ulen + 1);

			if (p == NULL) {
				rc = DKV_ERR_NOMEM;
				goto out;
			}
			skip = p;
			skip_cap = ulen + 1;
		}
		memcpy(skip, ik, ulen);
		skip[ulen] = '\0';
		rocksdb_iter_seek(it, skip, ulen + 1);
	}
	rocksdb_iter_get_error(it, &err);
	rc = store_err(err, "range newest");
out:
	free(skip);
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	store_shard_put(s, sh);
	return rc < 0 ? rc : count;
}
