/*
 * store_shard.c - the shard table and the shard life cycle: create, drop,
 * copy, and recovery of each at open.
 *
 * Every step that changes a shard's families is bracketed by a synced
 * catalog record, so a crash at any point is resolved at the next open:
 *
 *   create:  catalog CREATING -> families created -> catalog ACTIVE
 *   copy:    catalog CREATING -> families created -> data copied
 *            -> catalog ACTIVE
 *   drop:    catalog DROPPING -> families dropped -> catalog record deleted
 *
 *   at open: ACTIVE with both families   -> serve it
 *            ACTIVE with a family missing -> DKV_ERR_CORRUPT
 *            CREATING or DROPPING        -> drop what exists, delete record
 *            families with no record     -> drop them
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hlc/hlc.h"
#include "store/store_int.h"

static const struct dkv_sm_conf shard_states[SHARD_NSTATES] = {
	[SHARD_CREATING] = { "creating", 0,
			     DKV_SM_BIT(SHARD_ACTIVE) |
				     DKV_SM_BIT(SHARD_DROPPING) },
	[SHARD_ACTIVE] = { "active", 0, DKV_SM_BIT(SHARD_DROPPING) },
	[SHARD_DROPPING] = { "dropping", DKV_SM_FINAL, 0 },
};

void (*dkv_store_fault_hook)(const char *point);

static void fault(const char *point)
{
	if (dkv_store_fault_hook != NULL)
		dkv_store_fault_hook(point);
}

#define COPY_BATCH_RECORDS 1024
#define COPY_BATCH_BYTES (4u << 20)

void store_cf_name(char *buf, const char *prefix, uint32_t id)
{
	snprintf(buf, LAYOUT_CF_NAME_MAX, "%s%08x", prefix, id);
}

static int parse_cf_name(const char *name, const char *prefix, uint32_t *id)
{
	char *end = NULL;
	unsigned long v;

	if (strncmp(name, prefix, 2) != 0 || strlen(name) != 10)
		return 0;
	v = strtoul(name + 2, &end, 16);
	if (end == NULL || *end != '\0')
		return 0;
	*id = (uint32_t)v;
	return 1;
}

static struct shard *shard_new(uint32_t id, rocksdb_column_family_handle_t *v,
			       rocksdb_column_family_handle_t *p)
{
	struct shard *sh = calloc(1, sizeof(*sh));

	if (sh == NULL)
		return NULL;
	sh->id = id;
	dkv_sm_init(&sh->sm, "shard", shard_states, SHARD_NSTATES,
		    SHARD_CREATING);
	atomic_init(&sh->refs, 1); /* the table's reference */
	sh->cf_ver = v;
	sh->cf_plain = p;
	atomic_init(&sh->watermark, 0);
	return sh;
}

static void shard_free(struct shard *sh)
{
	if (sh->cf_ver)
		rocksdb_column_family_handle_destroy(sh->cf_ver);
	if (sh->cf_plain)
		rocksdb_column_family_handle_destroy(sh->cf_plain);
	free(sh);
}

/* Index of id in the sorted table, or of where it would go. */
static size_t table_find(const struct dkv_store *s, uint32_t id, int *found)
{
	size_t lo = 0, hi = s->nshards;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->shards[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < s->nshards && s->shards[lo]->id == id;
	return lo;
}

/* Caller holds table_lock for writing. */
static int table_insert(struct dkv_store *s, struct shard *sh)
{
	int found;
	size_t at = table_find(s, sh->id, &found);

	if (found)
		return DKV_ERR_EXISTS;
	if (s->nshards == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct shard **n = realloc(s->shards, cap * sizeof(*n));

		if (n == NULL)
			return DKV_ERR_NOMEM;
		s->shards = n;
		s->cap = cap;
	}
	memmove(&s->shards[at + 1], &s->shards[at],
		(s->nshards - at) * sizeof(*s->shards));
	s->shards[at] = sh;
	s->nshards++;
	return DKV_OK;
}

struct shard *store_shard_get(struct dkv_store *s, uint32_t id)
{
	struct shard *sh = NULL;
	int found;
	size_t at;

	pthread_rwlock_rdlock(&s->table_lock);
	at = table_find(s, id, &found);
	if (found && dkv_sm_state(&s->shards[at]->sm) == SHARD_ACTIVE) {
		sh = s->shards[at];
		atomic_fetch_add(&sh->refs, 1);
	}
	pthread_rwlock_unlock(&s->table_lock);
	return sh;
}

void store_shard_put(struct dkv_store *s, struct shard *sh)
{
	(void)s;
	if (atomic_fetch_sub(&sh->refs, 1) == 1)
		shard_free(sh);
}

static int catalog_write(struct dkv_store *s, uint32_t id, int state)
{
	char key[LAYOUT_CAT_KEY_LEN], wm_key[LAYOUT_WM_KEY_LEN];
	struct layout_catalog rec = { LAYOUT_CATALOG_VERSION, (uint8_t)state };
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	char *err = NULL;

	layout_cat_key(key, id);
	if (state == 0) { /* the shard is gone: forget its records */
		layout_wm_key(wm_key, id);
		rocksdb_writebatch_delete_cf(wb, s->cf_default, key,
					     sizeof(key));
		rocksdb_writebatch_delete_cf(wb, s->cf_default, wm_key,
					     sizeof(wm_key));
	} else {
		rocksdb_writebatch_put_cf(wb, s->cf_default, key, sizeof(key),
					  (const char *)&rec, sizeof(rec));
	}
	rocksdb_write(s->db, s->wo_sync, wb, &err);
	rocksdb_writebatch_destroy(wb);
	return store_err(err, "catalog write");
}

static int cf_drop(struct dkv_store *s, rocksdb_column_family_handle_t *cf)
{
	char *err = NULL;

	if (cf == NULL)
		return DKV_OK;
	rocksdb_drop_column_family(s->db, cf, &err);
	return store_err(err, "drop column family");
}

static int cf_create(struct dkv_store *s, uint32_t id,
		     rocksdb_column_family_handle_t **v,
		     rocksdb_column_family_handle_t **p)
{
	char name[LAYOUT_CF_NAME_MAX];
	char *err = NULL;

	*v = *p = NULL;
	store_cf_name(name, LAYOUT_CF_VERSIONED, id);
	*v = rocksdb_create_column_family(s->db, s->ver_opts, name, &err);
	if (err != NULL)
		return store_err(err, "create column family");
	store_cf_name(name, LAYOUT_CF_PLAIN, id);
	*p = rocksdb_create_column_family(s->db, s->db_opts, name, &err);
	if (err != NULL) {
		*p = NULL;
		return store_err(err, "create column family");
	}
	return DKV_OK;
}

/* Removes a half-made shard: its families and its catalog record. */
static void shard_undo(struct dkv_store *s, uint32_t id,
		       rocksdb_column_family_handle_t *v,
		       rocksdb_column_family_handle_t *p)
{
	cf_drop(s, v);
	cf_drop(s, p);
	if (v)
		rocksdb_column_family_handle_destroy(v);
	if (p)
		rocksdb_column_family_handle_destroy(p);
	catalog_write(s, id, 0);
}

struct loaded_cf {
	uint32_t id;
	rocksdb_column_family_handle_t *v, *p;
	int state; /* catalog state, 0 = no record */
};

static struct loaded_cf *loaded_find(struct loaded_cf *l, size_t n,
				     uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (l[i].id == id)
			return &l[i];
	return NULL;
}

static int catalog_read(struct dkv_store *s, struct loaded_cf *l, size_t *nl,
			size_t cap)
{
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_iterator_t *it =
		rocksdb_create_iterator_cf(s->db, ro, s->cf_default);
	char *err = NULL;
	int rc = DKV_OK;

	for (rocksdb_iter_seek(it, LAYOUT_CAT_PREFIX, LAYOUT_CAT_PREFIX_LEN);
	     rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);
		struct loaded_cf *e;
		uint32_t id;

		if (klen < LAYOUT_CAT_PREFIX_LEN ||
		    memcmp(k, LAYOUT_CAT_PREFIX, LAYOUT_CAT_PREFIX_LEN) != 0)
			break;
		if (klen != LAYOUT_CAT_KEY_LEN ||
		    vlen != sizeof(struct layout_catalog) ||
		    v[0] != LAYOUT_CATALOG_VERSION) {
			rc = DKV_ERR_CORRUPT;
			goto out;
		}
		id = layout_cat_shard(k);
		e = loaded_find(l, *nl, id);
		if (e == NULL) {
			if (*nl == cap) {
				rc = DKV_ERR_CORRUPT;
				goto out;
			}
			e = &l[(*nl)++];
			memset(e, 0, sizeof(*e));
			e->id = id;
		}
		e->state = (uint8_t)v[1];
	}
	rocksdb_iter_get_error(it, &err);
	rc = store_err(err, "catalog read");
out:
	rocksdb_iter_destroy(it);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

int store_shards_load(struct dkv_store *s, char **names,
		      rocksdb_column_family_handle_t **handles, size_t n)
{
	struct loaded_cf *l = calloc(2 * n + 1, sizeof(*l));
	size_t nl = 0;
	int rc = DKV_OK;

	if (l == NULL)
		return DKV_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		uint32_t id;
		int ver = parse_cf_name(names[i], LAYOUT_CF_VERSIONED, &id);
		struct loaded_cf *e;

		if (strcmp(names[i], "default") == 0) {
			s->cf_default = handles[i];
			continue;
		}
		if (!ver && !parse_cf_name(names[i], LAYOUT_CF_PLAIN, &id)) {
			DKV_WARN("store", "ignoring unknown family %s", names[i]);
			rocksdb_column_family_handle_destroy(handles[i]);
			continue;
		}
		e = loaded_find(l, nl, id);
		if (e == NULL) {
			e = &l[nl++];
			e->id = id;
		}
		if (ver)
			e->v = handles[i];
		else
			e->p = handles[i];
	}
	if (s->cf_default == NULL) {
		rc = DKV_ERR_CORRUPT;
		goto out;
	}
	rc = catalog_read(s, l, &nl, 2 * n + 1);
	if (rc != DKV_OK)
		goto out;
	for (size_t i = 0; i < nl; i++) {
		struct loaded_cf *e = &l[i];
		struct shard *sh;

		if (e->state != LAYOUT_SHARD_ACTIVE) {
			/* Interrupted create, copy or drop, or stray families. */
			DKV_INFO("store", "rolling back shard %u (state %d)",
				 e->id, e->state);
			shard_undo(s, e->id, e->v, e->p);
			e->v = e->p = NULL;
			continue;
		}
		if (e->v == NULL || e->p == NULL) {
			DKV_ERROR("store", "shard %u: a family is missing",
				  e->id);
			rc = DKV_ERR_CORRUPT;
			goto out;
		}
		sh = shard_new(e->id, e->v, e->p);
		if (sh == NULL) {
			rc = DKV_ERR_NOMEM;
			goto out;
		}
		e->v = e->p = NULL;
		rc = store_wm_load(s, sh);
		if (rc != DKV_OK) {
			shard_free(sh);
			goto out;
		}
		dkv_sm_move(&sh->sm, SHARD_ACTIVE);
		rc = table_insert(s, sh);
		if (rc != DKV_OK) {
			shard_free(sh);
			goto out;
		}
	}
out:
	for (size_t i = 0; i < nl; i++) { /* handles not taken by a shard */
		if (l[i].v)
			rocksdb_column_family_handle_destroy(l[i].v);
		if (l[i].p)
			rocksdb_column_family_handle_destroy(l[i].p);
	}
	free(l);
	return rc;
}

void store_shards_free(struct dkv_store *s)
{
	for (size_t i = 0; i < s->nshards; i++)
		store_shard_put(s, s->shards[i]);
	free(s->shards);
	s->shards = NULL;
	s->nshards = s->cap = 0;
}

int dkv_store_shard_exists(struct dkv_store *s, uint32_t id)
{
	struct shard *sh = store_shard_get(s, id);

	if (sh == NULL)
		return 0;
	store_shard_put(s, sh);
	return 1;
}

int dkv_store_shard_list(struct dkv_store *s, uint32_t *ids, size_t cap)
{
	int n;

	pthread_rwlock_rdlock(&s->table_lock);
	for (size_t i = 0; i < s->nshards && i < cap; i++)
		ids[i] = s->shards[i]->id;
	n = (int)s->nshards;
	pthread_rwlock_unlock(&s->table_lock);
	return n;
}

/* Makes the families of a new shard under a CREATING record. */
static int shard_begin(struct dkv_store *s, uint32_t id, struct shard **out)
{
	rocksdb_column_family_handle_t *v = NULL, *p = NULL;
	int found, rc;

	*out = NULL;
	pthread_rwlock_rdlock(&s->table_lock);
	table_find(s, id, &found);
	pthread_rwlock_unlock(&s->table_lock);
	if (found)
		return DKV_ERR_EXISTS;
	rc = catalog_write(s, id, LAYOUT_SHARD_CREATING);
	if (rc != DKV_OK)
		return rc;
	rc = cf_create(s, id, &v, &p);
	if (rc != DKV_OK)
		goto fail;
	fault("create.families");
	*out = shard_new(id, v, p);
	if (*out == NULL) {
		rc = DKV_ERR_NOMEM;
		goto fail;
	}
	return DKV_OK;
fail:
	shard_undo(s, id, v, p);
	return rc;
}

/* Publishes a filled CREATING shard: catalog ACTIVE, then the table. */
static int shard_commit(struct dkv_store *s, struct shard *sh)
{
	int rc = catalog_write(s, sh->id, LAYOUT_SHARD_ACTIVE);

	if (rc != DKV_OK)
		goto fail;
	pthread_rwlock_wrlock(&s->table_lock);
	dkv_sm_move(&sh->sm, SHARD_ACTIVE);
	rc = table_insert(s, sh);
	pthread_rwlock_unlock(&s->table_lock);
	if (rc != DKV_OK)
		goto fail;
	return DKV_OK;
fail:
	dkv_sm_move(&sh->sm, SHARD_DROPPING);
	shard_undo(s, sh->id, sh->cf_ver, sh->cf_plain);
	sh->cf_ver = sh->cf_plain = NULL;
	shard_free(sh);
	return rc;
}

int dkv_store_shard_create(struct dkv_store *s, uint32_t id)
{
	struct shard *sh = NULL;
	int rc;

	pthread_mutex_lock(&s->ddl_lock);
	rc = shard_begin(s, id, &sh);
	if (rc == DKV_OK)
		rc = shard_commit(s, sh);
	pthread_mutex_unlock(&s->ddl_lock);
	return rc;
}

int dkv_store_shard_drop(struct dkv_store *s, uint32_t id)
{
	struct shard *sh = NULL;
	int found, rc;
	size_t at;

	pthread_mutex_lock(&s->ddl_lock);
	pthread_rwlock_rdlock(&s->table_lock);
	table_find(s, id, &found);
	pthread_rwlock_unlock(&s->table_lock);
	if (!found) {
		rc = DKV_ERR_NO_SHARD;
		goto out;
	}
	rc = catalog_write(s, id, LAYOUT_SHARD_DROPPING);
	if (rc != DKV_OK)
		goto out;
	pthread_rwlock_wrlock(&s->table_lock);
	at = table_find(s, id, &found);
	sh = s->shards[at];
	memmove(&s->shards[at], &s->shards[at + 1],
		(s->nshards - at - 1) * sizeof(*s->shards));
	s->nshards--;
	dkv_sm_move(&sh->sm, SHARD_DROPPING);
	pthread_rwlock_unlock(&s->table_lock);
	fault("drop.decided");
	/* From here the drop is decided: a failure below is finished by
	 * the next open, which finds the DROPPING record. */
	rc = cf_drop(s, sh->cf_ver);
	if (rc == DKV_OK)
		rc = cf_drop(s, sh->cf_plain);
	if (rc == DKV_OK) {
		fault("drop.families");
		rc = catalog_write(s, id, 0);
	}
	store_shard_put(s, sh);
out:
	pthread_mutex_unlock(&s->ddl_lock);
	return rc;
}

/* Copies one family's records as of snap; versioned ones keep their epochs
 * and tombstones. */
static int copy_cf(struct dkv_store *s, const rocksdb_snapshot_t *snap,
		   rocksdb_column_family_handle_t *from,
		   rocksdb_column_family_handle_t *to, int versioned)
{
	char ts_max[LAYOUT_TS_SIZE], ts_min[LAYOUT_TS_SIZE];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
	rocksdb_iterator_t *it;
	size_t bytes = 0;
	char *err = NULL;
	int rc = DKV_OK;

	rocksdb_readoptions_set_snapshot(ro, snap);
	rocksdb_readoptions_set_fill_cache(ro, 0);
	if (versioned) {
		layout_put_le64(ts_max, DKV_EPOCH_MAX);
		layout_put_le64(ts_min, 0);
		rocksdb_readoptions_set_timestamp(ro, ts_max, LAYOUT_TS_SIZE);
		rocksdb_readoptions_set_iter_start_ts(ro, ts_min,
						      LAYOUT_TS_SIZE);
	}
	it = rocksdb_create_iterator_cf(s->db, ro, from);
	for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it);
	     rocksdb_iter_next(it)) {
		size_t klen, vlen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);

		if (!versioned) {
			rocksdb_writebatch_put_cf(wb, to, k, klen, v, vlen);
		} else {
			size_t ulen;
			uint8_t type;

			if (klen < LAYOUT_TS_SIZE + LAYOUT_TRAILER_SIZE) {
				rc = DKV_ERR_CORRUPT;
				goto out;
			}
			ulen = klen - LAYOUT_TS_SIZE - LAYOUT_TRAILER_SIZE;
			type = (uint8_t)k[klen - LAYOUT_TRAILER_SIZE];
			if (type == LAYOUT_TYPE_VALUE)
				rocksdb_writebatch_put_cf_with_ts(
					wb, to, k, ulen, k + ulen,
					LAYOUT_TS_SIZE, v, vlen);
			else
				rocksdb_writebatch_delete_cf_with_ts(
					wb, to, k, ulen, k + ulen,
					LAYOUT_TS_SIZE);
		}
		bytes += klen + vlen;
		if (rocksdb_writebatch_count(wb) >= COPY_BATCH_RECORDS ||
		    bytes >= COPY_BATCH_BYTES) {
			rocksdb_write(s->db, wo, wb, &err);
			if (err != NULL) {
				rc = store_err(err, "shard copy");
				goto out;
			}
			rocksdb_writebatch_clear(wb);
			bytes = 0;
		}
	}
	rocksdb_iter_get_error(it, &err);
	if (err != NULL) {
		rc = store_err(err, "shard copy");
		goto out;
	}
	if (rocksdb_writebatch_count(wb) > 0) {
		rocksdb_write(s->db, wo, wb, &err);
		rc = store_err(err, "shard copy");
	}
out:
	rocksdb_iter_destroy(it);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_writebatch_destroy(wb);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

int dkv_store_shard_copy(struct dkv_store *s, uint32_t src_id, uint32_t dst_id)
{
	struct shard *src = NULL, *dst = NULL;
	const rocksdb_snapshot_t *snap = NULL;
	uint64_t wm;
	int rc;

	if (src_id == dst_id)
		return DKV_ERR_INVAL;
	pthread_mutex_lock(&s->ddl_lock);
	src = store_shard_get(s, src_id);
	if (src == NULL) {
		rc = DKV_ERR_NO_SHARD;
		goto out;
	}
	rc = shard_begin(s, dst_id, &dst);
	if (rc != DKV_OK)
		goto out;
	snap = rocksdb_create_snapshot(s->db);
	rc = copy_cf(s, snap, src->cf_ver, dst->cf_ver, 1);
	if (rc == DKV_OK)
		rc = copy_cf(s, snap, src->cf_plain, dst->cf_plain, 0);
	wm = atomic_load(&src->watermark);
	if (rc == DKV_OK && wm != 0)
		rc = store_wm_set(s, dst, wm);
	rocksdb_release_snapshot(s->db, snap);
	if (rc != DKV_OK) {
		dkv_sm_move(&dst->sm, SHARD_DROPPING);
		shard_undo(s, dst_id, dst->cf_ver, dst->cf_plain);
		dst->cf_ver = dst->cf_plain = NULL;
		shard_free(dst);
		goto out;
	}
	fault("copy.filled");
	/* The synced catalog write also syncs the unsynced copy writes
	 * before it in the WAL. */
	rc = shard_commit(s, dst);
out:
	if (src != NULL)
		store_shard_put(s, src);
	pthread_mutex_unlock(&s->ddl_lock);
	return rc;
}
