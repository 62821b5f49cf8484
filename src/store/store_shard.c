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
	atomic_init(&sh->hi, 0); /* a new shard is empty; load sets them */
	atomic_init(&sh->ceil, 0);
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

void store_ceil_record(struct dkv_store *s, rocksdb_writebatch_t *wb,
		       uint32_t id, uint64_t ceil)
{
	char key[LAYOUT_CEIL_KEY_LEN], val[LAYOUT_TS_SIZE];

	layout_ceil_key(key, id);
	layout_put_le64(val, ceil);
	rocksdb_writebatch_put_cf(wb, s->cf_default, key, sizeof(key), val,
				  sizeof(val));
}

static int catalog_write(struct dkv_store *s, uint32_t id, int state)
{
	char key[LAYOUT_CAT_KEY_LEN], wm_key[LAYOUT_WM_KEY_LEN];
	char ceil_key[LAYOUT_CEIL_KEY_LEN];
	struct layout_catalog rec = { LAYOUT_CATALOG_VERSION, (uint8_t)state };
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	char *err = NULL;

	layout_cat_key(key, id);
	layout_ceil_key(ceil_key, id);
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
	/* Gone, or made anew: a ceiling a late commit of an earlier shard
	 * with this id may have left is not this one's. */
	if (state == 0 || state == LAYOUT_SHARD_CREATING)
		rocksdb_writebatch_delete_cf(wb, s->cf_default, ceil_key,
					     sizeof(ceil_key));
	rocksdb_write(s->db, s->wo_sync, wb, &err);
	rocksdb_writebatch_destroy(wb);
	return store_write_err(s, err, "catalog write");
}

static int cf_drop(struct dkv_store *s, rocksdb_column_family_handle_t *cf)
{
	char *err = NULL;

	if (cf == NULL)
		return DKV_OK;
	rocksdb_drop_column_family(s->db, cf, &err);
	return store_write_err(s, err, "drop column family");
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

/* The ceiling of a shard at open: its record; without one, 0 if the shard
 * is empty, else unknown (a shard older than the record). hi starts there:
 * nothing newer is known until writes come. */
static int ceil_load(struct dkv_store *s, struct shard *sh)
{
	char key[LAYOUT_CEIL_KEY_LEN];
	rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
	uint64_t ceil = DKV_EPOCH_MAX;
	char *err = NULL, *val;
	size_t vlen = 0;
	int rc = DKV_OK;

	layout_ceil_key(key, sh->id);
	val = rocksdb_get_cf(s->db, ro, s->cf_default, key, sizeof(key), &vlen,
			     &err);
	rocksdb_readoptions_destroy(ro);
	if (err != NULL)
		return store_err(err, "ceiling read");
	if (val != NULL) {
		if (vlen == LAYOUT_TS_SIZE)
			ceil = layout_get_le64(val);
		else
			rc = DKV_ERR_CORRUPT;
		rocksdb_free(val);
	} else {
		rocksdb_iterator_t *it = rocksdb_create_iterator_cf(
			s->db, s->ro_newest, sh->cf_ver);

		rocksdb_iter_seek_to_first(it);
		if (!rocksdb_iter_valid(it))
			ceil = 0;
		rocksdb_iter_get_error(it, &err);
		rocksdb_iter_destroy(it);
		rc = store_err(err, "ceiling read");
	}
	atomic_store(&sh->hi, ceil);
	atomic_store(&sh->ceil, ceil);
	return rc;
}

void store_ceil_save(struct dkv_store *s)
{
	rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
	char *err = NULL;

	for (size_t i = 0; i < s->nshards; i++) {
		struct shard *sh = s->shards[i];
		uint64_t hi = atomic_load(&sh->hi);

		if (hi != DKV_EPOCH_MAX && hi != atomic_load(&sh->ceil))
			store_ceil_record(s, wb, sh->id, hi);
	}
	if (rocksdb_writebatch_count(wb) > 0) {
		rocksdb_write(s->db, s->wo_sync, wb, &err);
		store_write_err(s, err, "ceiling write"); /* the old ones stay valid */
	}
	rocksdb_writebatch_destroy(wb);
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
		if (rc == DKV_OK)
			rc = ceil_load(s, sh);
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

/* One key's versions, held back so they are written oldest first: RocksDB
 * assumes that a key's sequence numbers grow with its timestamps (point
 * lookups stop at the newest sequence, compaction asserts it), while the
 * iterator yields them newest first. Values are copied as they are (epoch
 * header included), and so are timestamps, also those GC zeroed. The copy
 * writes straight into the new shard, which no batch can reach before it
 * is ACTIVE: it needs no order check. */
struct copy_key {
	char *key;
	size_t klen, kcap;
	char *buf; /* per version: ts (8) | put (1) | le64 vlen | value */
	size_t used, bcap;
	size_t *off;
	size_t n, ocap;
};

static int copy_key_add(struct copy_key *ck, const char *ts, int put,
			const char *v, size_t vlen)
{
	size_t need = LAYOUT_TS_SIZE + 1 + 8 + vlen;

	if (ck->used + need > ck->bcap) {
		size_t cap = ck->bcap ? ck->bcap : 4096;
		char *n;

		while (cap < ck->used + need)
			cap *= 2;
		n = realloc(ck->buf, cap);
		if (n == NULL)
			return DKV_ERR_NOMEM;
		ck->buf = n;
		ck->bcap = cap;
	}
	if (ck->n == ck->ocap) {
		size_t cap = ck->ocap ? 2 * ck->ocap : 16;
		size_t *n = realloc(ck->off, cap * sizeof(*n));

		if (n == NULL)
			return DKV_ERR_NOMEM;
		ck->off = n;
		ck->ocap = cap;
	}
	ck->off[ck->n++] = ck->used;
	memcpy(ck->buf + ck->used, ts, LAYOUT_TS_SIZE);
	ck->buf[ck->used + LAYOUT_TS_SIZE] = (char)put;
	layout_put_le64(ck->buf + ck->used + LAYOUT_TS_SIZE + 1, vlen);
	if (vlen)
		memcpy(ck->buf + ck->used + LAYOUT_TS_SIZE + 9, v, vlen);
	ck->used += need;
	return DKV_OK;
}

static int copy_key_start(struct copy_key *ck, const char *key, size_t klen)
{
	if (klen > ck->kcap) {
		char *n = realloc(ck->key, klen);

		if (n == NULL)
			return DKV_ERR_NOMEM;
		ck->key = n;
		ck->kcap = klen;
	}
	memcpy(ck->key, key, klen);
	ck->klen = klen;
	return DKV_OK;
}

/* Appends the held versions to wb, oldest first; returns their bytes. */
static size_t copy_key_emit(struct copy_key *ck, rocksdb_writebatch_t *wb,
			    rocksdb_column_family_handle_t *to)
{
	size_t bytes = 0;

	for (size_t i = ck->n; i-- > 0;) {
		const char *r = ck->buf + ck->off[i];
		size_t vlen = layout_get_le64(r + LAYOUT_TS_SIZE + 1);

		if (r[LAYOUT_TS_SIZE])
			rocksdb_writebatch_put_cf_with_ts(
				wb, to, ck->key, ck->klen, r, LAYOUT_TS_SIZE,
				r + LAYOUT_TS_SIZE + 9, vlen);
		else
			rocksdb_writebatch_delete_cf_with_ts(
				wb, to, ck->key, ck->klen, r, LAYOUT_TS_SIZE);
		bytes += ck->klen + vlen;
	}
	ck->n = 0;
	ck->used = 0;
	return bytes;
}

static int copy_flush(struct dkv_store *s, rocksdb_writeoptions_t *wo,
		      rocksdb_writebatch_t *wb, size_t *bytes, int force)
{
	char *err = NULL;

	if (rocksdb_writebatch_count(wb) == 0 ||
	    (!force && rocksdb_writebatch_count(wb) < COPY_BATCH_RECORDS &&
	     *bytes < COPY_BATCH_BYTES))
		return DKV_OK;
	rocksdb_write(s->db, wo, wb, &err);
	if (err != NULL)
		return store_write_err(s, err, "shard copy");
	rocksdb_writebatch_clear(wb);
	*bytes = 0;
	return DKV_OK;
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
	struct copy_key ck = { 0 };
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
		size_t klen, vlen, ulen;
		const char *k = rocksdb_iter_key(it, &klen);
		const char *v = rocksdb_iter_value(it, &vlen);
		uint8_t type;

		if (!versioned) {
			rocksdb_writebatch_put_cf(wb, to, k, klen, v, vlen);
			bytes += klen + vlen;
			rc = copy_flush(s, wo, wb, &bytes, 0);
			if (rc != DKV_OK)
				goto out;
			continue;
		}
		if (klen < LAYOUT_TS_SIZE + LAYOUT_TRAILER_SIZE) {
			rc = DKV_ERR_CORRUPT;
			goto out;
		}
		ulen = klen - LAYOUT_TS_SIZE - LAYOUT_TRAILER_SIZE;
		type = (uint8_t)k[klen - LAYOUT_TRAILER_SIZE];
		if (ck.n > 0 && (ulen != ck.klen ||
				 memcmp(k, ck.key, ulen) != 0)) {
			bytes += copy_key_emit(&ck, wb, to);
			rc = copy_flush(s, wo, wb, &bytes, 0);
			if (rc != DKV_OK)
				goto out;
		}
		if (ck.n == 0)
			rc = copy_key_start(&ck, k, ulen);
		if (rc == DKV_OK)
			rc = copy_key_add(&ck, k + ulen,
					  type == LAYOUT_TYPE_VALUE, v,
					  type == LAYOUT_TYPE_VALUE ? vlen : 0);
		if (rc != DKV_OK)
			goto out;
	}
	rocksdb_iter_get_error(it, &err);
	if (err != NULL) {
		rc = store_write_err(s, err, "shard copy");
		goto out;
	}
	bytes += copy_key_emit(&ck, wb, to);
	rc = copy_flush(s, wo, wb, &bytes, 1);
out:
	free(ck.key);
	free(ck.buf);
	free(ck.off);
	rocksdb_iter_destroy(it);
	rocksdb_writeoptions_destroy(wo);
	rocksdb_writebatch_destroy(wb);
	rocksdb_readoptions_destroy(ro);
	return rc;
}

/* The copy's epoch bounds: src's hi, read after the snapshot was taken,
 * bounds every epoch copied (hi is raised before a commit). */
static int copy_ceil(struct dkv_store *s, struct shard *src, struct shard *dst)
{
	uint64_t hi = atomic_load(&src->hi);
	char *err = NULL;

	atomic_store(&dst->hi, hi);
	atomic_store(&dst->ceil, hi);
	if (hi != DKV_EPOCH_MAX) { /* unknown stays unknown: no record */
		rocksdb_writebatch_t *wb = rocksdb_writebatch_create();

		store_ceil_record(s, wb, dst->id, hi);
		rocksdb_write(s->db, s->wo_sync, wb, &err);
		rocksdb_writebatch_destroy(wb);
	}
	return store_write_err(s, err, "ceiling write");
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
	if (rc == DKV_OK)
		rc = copy_ceil(s, src, dst);
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
