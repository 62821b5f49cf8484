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
};

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
	rocksdb_column_family_handle_t *cf_default;

	pthread_mutex_t fsync_lock; /* DKV_DUR_FSYNC: one commit at a time */
	pthread_mutex_t ddl_lock;   /* shard create/drop/copy, one at a time */
	pthread_rwlock_t table_lock;  /* guards shards/nshards */
	struct shard **shards;       /* sorted by id */
	size_t nshards, cap;
	atomic_int batches;          /* live batches, for close's assertion */

	_Atomic uint64_t n_commits, n_records, n_gets, n_ranges;
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

/* store_gc.c: the watermark record; load re-applies it to RocksDB. */
int store_wm_load(struct dkv_store *store, struct shard *shard);
int store_wm_set(struct dkv_store *store, struct shard *shard, uint64_t wm);

/* store.c: maps a RocksDB error string (freed here) to a code. */
int store_err(char *err, const char *what);

/* store_read.c: read options at an epoch; ts_buf must outlive them. */
rocksdb_readoptions_t *store_ro_at(uint64_t epoch, char *ts_buf);

int store_check_key(const struct dkv_store *store, size_t klen);
int store_check_epoch(uint64_t epoch);

#endif /* DKV_STORE_INT_H */
