/* store_int.h - what the store's files share; not for other layers. */
#ifndef DKV_STORE_INT_H
#define DKV_STORE_INT_H

#include <pthread.h>
#include <rocksdb/c.h>
#include <stdatomic.h>

#include "common/sm.h"
#include "store/layout.h"
#include "store/store.h"

/*
 * Shard life cycle (in memory; the catalog persists the same names):
 *
 *   create / copy          fill done
 *   ------------> CREATING ----------> ACTIVE
 *                    |                   |
 *                    | failure, or       | drop
 *                    | crash recovery    v
 *                    +-------------> DROPPING --(families dropped,
 *                                                 last ref put)--> freed
 *
 * Reads and writes are allowed in ACTIVE only (the copier writes to its
 * CREATING target directly). A shard leaves the table when it enters
 * DROPPING; its handles are freed when the last reference is put.
 */
enum shard_state { SHARD_CREATING, SHARD_ACTIVE, SHARD_DROPPING, SHARD_NSTATES };

struct shard {
	uint32_t id;
	struct dkv_sm sm;
	atomic_int refs;
	rocksdb_column_family_handle_t *cf_ver;
	rocksdb_column_family_handle_t *cf_plain;
	_Atomic uint64_t watermark; /* history GC low watermark, 0 = none */
	/* Epoch bounds for the order check (store_batch.c); DKV_EPOCH_MAX =
	 * unknown. hi: >= every epoch committed or added to a batch, so a
	 * write at or above it needs no lookup. ceil: the persisted ceiling
	 * (layout.h), >= every epoch committed. */
	_Atomic uint64_t hi;
	_Atomic uint64_t ceil;
};

/* A ceiling is raised this far above the epoch that passed it, so that
 * raising it (a commit serialized with the other raises) is rare: for HLC
 * epochs, 2^30 is about a second. */
#define STORE_CEIL_WINDOW (UINT64_C(1) << 30)

struct dkv_store {
	struct dkv_store_opts opts; /* path points at pathbuf */
	char *pathbuf;
	rocksdb_t *db;
	rocksdb_options_t *db_opts;      /* DB and plain families */
	rocksdb_options_t *ver_opts;     /* versioned families */
	rocksdb_comparator_t *cmp;
	rocksdb_cache_t *cache;
	rocksdb_block_based_table_options_t *table_opts;
	rocksdb_filterpolicy_t *bloom;   /* owned by table_opts */
	rocksdb_writeoptions_t *wo_commit; /* per durability mode */
	rocksdb_writeoptions_t *wo_sync;   /* catalog changes: always synced */
	/* The order check's read (store_newest_epoch): every version, newest
	 * first; ts_* are the timestamps it points at. */
	rocksdb_readoptions_t *ro_newest;
	char ts_newest_hi[LAYOUT_TS_SIZE], ts_newest_lo[LAYOUT_TS_SIZE];
	rocksdb_column_family_handle_t *cf_default;

	pthread_mutex_t fsync_lock; /* DKV_DUR_FSYNC: one commit at a time */
	pthread_mutex_t ddl_lock;   /* shard create/drop/copy, one at a time */
	pthread_mutex_t ceil_lock;  /* commits that raise a shard's ceiling */
	pthread_rwlock_t table_lock;  /* guards shards/nshards */
	struct shard **shards;       /* sorted by id */
	size_t nshards, cap;
	atomic_int batches;          /* live batches, for close's assertion */
	atomic_int disk_failed;      /* a write failed: on_disk_failure ran */

	_Atomic uint64_t n_commits, n_records, n_gets, n_ranges;
	/* GC between pins (store_filter.c): the collection cutoff, persisted
	 * in LAYOUT_CUTOFF_KEY, raised by dkv_store_gc. */
	_Atomic uint64_t cutoff;
	rocksdb_compactionfilterfactory_t *filters;
};

/* store_cmp.c: the versioned families' comparator. */
rocksdb_comparator_t *store_cmp_create(void);

/* store_shard.c */
struct shard *store_shard_get(struct dkv_store *store, uint32_t id);
void store_shard_put(struct dkv_store *store, struct shard *shard);
int store_shards_load(struct dkv_store *store, char **names,
		      rocksdb_column_family_handle_t **handles, size_t n);
void store_shards_free(struct dkv_store *store);
void store_cf_name(char *buf, const char *prefix, uint32_t id);
/* Adds to wb the ceiling record of shard id (layout.h). */
void store_ceil_record(struct dkv_store *store, rocksdb_writebatch_t *wb,
		       uint32_t id, uint64_t ceil);
/* At close: each shard's ceiling lowered to its hi. */
void store_ceil_save(struct dkv_store *store);

/* store_filter.c: the versioned families' compaction filter factory; the
 * cutoff record; whether a read at epoch is allowed by the cutoff. */
rocksdb_compactionfilterfactory_t *store_filter_create(struct dkv_store *s);
int store_cutoff_load(struct dkv_store *s);
int store_cutoff_raise(struct dkv_store *s, uint64_t epoch);
int store_cutoff_allows(struct dkv_store *s, uint64_t epoch);

/* store_gc.c: the watermark record; load re-applies it to RocksDB. */
int store_wm_load(struct dkv_store *store, struct shard *shard);
int store_wm_set(struct dkv_store *store, struct shard *shard, uint64_t wm);

/* store.c: maps a RocksDB error string (freed here) to a code. */
int store_err(char *err, const char *what);
/* store_err for a write: a disk failure (IO, CORRUPT, NOSPACE) also
 * calls opts.on_disk_failure, the first time. */
int store_write_err(struct dkv_store *s, char *err, const char *what);

/* store_read.c: read options at an epoch; ts_buf must outlive them. */
rocksdb_readoptions_t *store_ro_at(uint64_t epoch, char *ts_buf);

/* store_read.c: the epoch of the newest committed version of key in the
 * shard, put or tombstone; 0 if it has none (or only versions that GC
 * collapsed below the watermark). */
int store_newest_epoch(struct dkv_store *store, struct shard *shard,
		       const char *key, size_t klen, uint64_t *epoch);

int store_check_key(const struct dkv_store *store, size_t klen);
int store_check_epoch(uint64_t epoch);

#endif /* DKV_STORE_INT_H */
