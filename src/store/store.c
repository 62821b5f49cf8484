/*
 * store.c - opening and closing the store, its RocksDB options, whole-store
 * operations (checkpoint, sizes, statistics) and error mapping.
 *
 * Memory is bounded per store, not per shard: one LRU block cache (index
 * and filter blocks included) and one write-buffer budget
 * (db_write_buffer_size) serve every column family, however many shards
 * there are.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "hlc/hlc.h"
#include "store/store_int.h"

int store_err(char *err, const char *what)
{
	int rc = DKV_ERR_IO;

	if (err == NULL)
		return DKV_OK;
	/* RocksDB's status names its class first ("IO error: ...",
	 * "Corruption: ..."); an errno text after it ("... : Invalid
	 * argument") does not change the class. */
	if (strstr(err, "Corruption") != NULL)
		rc = DKV_ERR_CORRUPT;
	else if (strstr(err, "No space") != NULL)
		rc = DKV_ERR_NOSPACE;
	else if (strstr(err, "Resource busy") != NULL ||
		 strstr(err, "While lock file") != NULL)
		rc = DKV_ERR_BUSY; /* another process has the store open */
	else if (strncmp(err, "IO error", 8) == 0)
		rc = DKV_ERR_IO;
	else if (strstr(err, "Invalid argument") != NULL)
		rc = DKV_ERR_INVAL;
	DKV_WARN("store", "%s: %s", what, err);
	rocksdb_free(err);
	return rc;
}

int store_write_err(struct dkv_store *s, char *err, const char *what)
{
	int rc = store_err(err, what);

	if (rc != DKV_ERR_IO && rc != DKV_ERR_CORRUPT && rc != DKV_ERR_NOSPACE)
		goto out;
	if (atomic_exchange(&s->disk_failed, 1) == 0 &&
	    s->opts.on_disk_failure != NULL)
		s->opts.on_disk_failure(s->opts.failure_ctx, rc, what);
out:
	return rc;
}

void dkv_store_opts_init(struct dkv_store_opts *opts, const char *path)
{
	memset(opts, 0, sizeof(*opts));
	opts->path = path;
	opts->durability = DKV_DUR_GROUP;
	opts->cache_bytes = DKV_STORE_DEFAULT_CACHE_BYTES;
	opts->write_buffer_bytes = DKV_STORE_DEFAULT_WRITE_BUFFER_BYTES;
	opts->max_key = DKV_STORE_DEFAULT_MAX_KEY;
	opts->max_value = DKV_STORE_DEFAULT_MAX_VALUE;
}

enum dkv_durability dkv_store_durability(const struct dkv_store *store)
{
	return store->opts.durability;
}

size_t dkv_store_max_key(const struct dkv_store *store)
{
	return store->opts.max_key;
}

size_t dkv_store_max_value(const struct dkv_store *store)
{
	return store->opts.max_value;
}

int store_check_key(const struct dkv_store *store, size_t klen)
{
	if (klen == 0)
		return DKV_ERR_INVAL;
	if (klen > store->opts.max_key)
		return DKV_ERR_TOO_BIG;
	return DKV_OK;
}

int store_check_epoch(uint64_t epoch)
{
	return epoch == DKV_EPOCH_NONE || epoch == DKV_EPOCH_MAX ? DKV_ERR_INVAL
								  : DKV_OK;
}

static int mkdir_p(const char *path)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return DKV_ERR_INVAL;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return DKV_ERR_IO;
		*p = '/';
	}
	if (mkdir(buf, 0755) != 0 && errno != EEXIST)
		return DKV_ERR_IO;
	return DKV_OK;
}

static int opts_check(const struct dkv_store_opts *in, struct dkv_store_opts *o)
{
	if (in == NULL || in->path == NULL || in->path[0] == '\0')
		return DKV_ERR_INVAL;
	*o = *in;
	if (o->durability != DKV_DUR_FSYNC && o->durability != DKV_DUR_GROUP &&
	    o->durability != DKV_DUR_NONE)
		return DKV_ERR_INVAL;
	if (o->cache_bytes == 0)
		o->cache_bytes = DKV_STORE_DEFAULT_CACHE_BYTES;
	if (o->write_buffer_bytes == 0)
		o->write_buffer_bytes = DKV_STORE_DEFAULT_WRITE_BUFFER_BYTES;
	if (o->max_key == 0)
		o->max_key = DKV_STORE_DEFAULT_MAX_KEY;
	if (o->max_value == 0)
		o->max_value = DKV_STORE_DEFAULT_MAX_VALUE;
	if (o->max_key > DKV_STORE_MAX_KEY_LIMIT ||
	    o->max_value > DKV_STORE_MAX_VALUE_LIMIT ||
	    o->write_buffer_bytes < (1u << 20))
		return DKV_ERR_INVAL;
	return DKV_OK;
}

static void options_build(struct dkv_store *s)
{
	const struct dkv_store_opts *o = &s->opts;
	size_t per_cf = o->write_buffer_bytes / 4;

	s->cache = rocksdb_cache_create_lru(o->cache_bytes);
	s->bloom = rocksdb_filterpolicy_create_bloom_full(10);
	s->table_opts = rocksdb_block_based_options_create();
	rocksdb_block_based_options_set_block_cache(s->table_opts, s->cache);
	rocksdb_block_based_options_set_filter_policy(s->table_opts, s->bloom);
	rocksdb_block_based_options_set_cache_index_and_filter_blocks(
		s->table_opts, 1);
	rocksdb_block_based_options_set_pin_l0_filter_and_index_blocks_in_cache(
		s->table_opts, 1);
	rocksdb_block_based_options_set_format_version(s->table_opts, 5);

	s->db_opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(s->db_opts, 1);
	rocksdb_options_set_create_missing_column_families(s->db_opts, 1);
	rocksdb_options_set_block_based_table_factory(s->db_opts, s->table_opts);
	/* One budget for the memtables of every family (a WriteBufferManager
	 * inside RocksDB); a family flushes at a quarter of it. */
	rocksdb_options_set_db_write_buffer_size(s->db_opts,
						 o->write_buffer_bytes);
	rocksdb_options_set_write_buffer_size(s->db_opts, per_cf);
	rocksdb_options_set_max_write_buffer_number(s->db_opts, 2);
	rocksdb_options_set_max_total_wal_size(s->db_opts,
					       4 * (uint64_t)o->write_buffer_bytes);
	rocksdb_options_set_max_background_jobs(s->db_opts, 2);
	rocksdb_options_set_max_open_files(s->db_opts, 1024);
	rocksdb_options_set_level_compaction_dynamic_level_bytes(s->db_opts, 1);
	rocksdb_options_set_keep_log_file_num(s->db_opts, 2);
	rocksdb_options_set_max_log_file_size(s->db_opts, 4u << 20);
	rocksdb_options_set_info_log_level(s->db_opts, 2 /* WARN */);
	/* Memtable arenas grow in 64 KiB blocks instead of 1 MiB: with many
	 * shards, each written family would otherwise take 1 MiB of the
	 * shared budget at once and force flushes of near-empty memtables. */
	rocksdb_options_set_arena_block_size(s->db_opts, 64u << 10);
	/* Batches are small and many: inserting a write group's memtable
	 * entries from one thread avoids a wake-up per waiting writer,
	 * which costs more than the parallel insert saves. */
	rocksdb_options_set_allow_concurrent_memtable_write(s->db_opts, 0);
	/* Obsolete WAL files are reused rather than deleted: overwriting
	 * blocks already on disk lets fdatasync skip the allocation metadata
	 * that appending to a new file must journal (measured here: a group
	 * commit's sync about 2x faster). Point-in-time recovery (the
	 * default) handles the old records past a recycled file's end. */
	rocksdb_options_set_recycle_log_file_num(s->db_opts, 4);

	s->cmp = store_cmp_create();
	s->ver_opts = rocksdb_options_create_copy(s->db_opts);
	rocksdb_options_set_comparator(s->ver_opts, s->cmp);
	/* GC between pins (store_filter.c); the options own the factory. */
	s->filters = store_filter_create(s);
	rocksdb_options_set_compaction_filter_factory(s->ver_opts, s->filters);

	s->wo_sync = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wo_sync, 1);
	s->wo_commit = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(s->wo_commit,
				      o->durability != DKV_DUR_NONE);

	s->ro_newest = rocksdb_readoptions_create();
	layout_put_le64(s->ts_newest_hi, DKV_EPOCH_MAX);
	layout_put_le64(s->ts_newest_lo, 0);
	rocksdb_readoptions_set_timestamp(s->ro_newest, s->ts_newest_hi,
					  LAYOUT_TS_SIZE);
	rocksdb_readoptions_set_iter_start_ts(s->ro_newest, s->ts_newest_lo,
					      LAYOUT_TS_SIZE);
}

static void options_free(struct dkv_store *s)
{
	if (s->ro_newest)
		rocksdb_readoptions_destroy(s->ro_newest);
	if (s->wo_commit)
		rocksdb_writeoptions_destroy(s->wo_commit);
	if (s->wo_sync)
		rocksdb_writeoptions_destroy(s->wo_sync);
	if (s->ver_opts)
		rocksdb_options_destroy(s->ver_opts);
	if (s->db_opts)
		rocksdb_options_destroy(s->db_opts);
	if (s->cmp)
		rocksdb_comparator_destroy(s->cmp);
	if (s->table_opts) /* also frees the filter policy */
		rocksdb_block_based_options_destroy(s->table_opts);
	if (s->cache)
		rocksdb_cache_destroy(s->cache);
}

static int db_open(struct dkv_store *s)
{
	static const char *const only_default[] = { "default" };
	char **listed = NULL;
	const char *const *names = only_default;
	size_t n = 1;
	const rocksdb_options_t **cf_opts = NULL;
	rocksdb_column_family_handle_t **handles = NULL;
	char *err = NULL;
	int rc;

	listed = rocksdb_list_column_families(s->db_opts, s->opts.path, &n,
					      &err);
	if (err != NULL) { /* a new store: only "default" */
		rocksdb_free(err);
		err = NULL;
		rocksdb_list_column_families_destroy(listed, n);
		listed = NULL;
		n = 1;
	} else {
		names = (const char *const *)listed;
	}
	cf_opts = calloc(n, sizeof(*cf_opts));
	handles = calloc(n, sizeof(*handles));
	if (cf_opts == NULL || handles == NULL) {
		rc = DKV_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		cf_opts[i] = strncmp(names[i], LAYOUT_CF_VERSIONED, 2) == 0
				     ? s->ver_opts
				     : s->db_opts;
	s->db = rocksdb_open_column_families(s->db_opts, s->opts.path, (int)n,
					     names, cf_opts, handles, &err);
	if (err != NULL) {
		rc = store_err(err, "open");
		goto out;
	}
	rc = store_shards_load(s, (char **)names, handles, n);
	if (rc == DKV_OK)
		rc = store_cutoff_load(s);
out:
	free(cf_opts);
	free(handles);
	if (listed != NULL)
		rocksdb_list_column_families_destroy(listed, n);
	return rc;
}

int dkv_store_open(const struct dkv_store_opts *opts, struct dkv_store **out)
{
	struct dkv_store *s = NULL;
	int rc;

	if (out == NULL)
		return DKV_ERR_INVAL;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return DKV_ERR_NOMEM;
	rc = opts_check(opts, &s->opts);
	if (rc != DKV_OK)
		goto fail_free;
	s->pathbuf = strdup(opts->path);
	if (s->pathbuf == NULL) {
		rc = DKV_ERR_NOMEM;
		goto fail_free;
	}
	s->opts.path = s->pathbuf;
	rc = mkdir_p(s->pathbuf);
	if (rc != DKV_OK)
		goto fail_free;
	pthread_mutex_init(&s->fsync_lock, NULL);
	pthread_mutex_init(&s->ddl_lock, NULL);
	pthread_mutex_init(&s->ceil_lock, NULL);
	pthread_rwlock_init(&s->table_lock, NULL);
	options_build(s);
	rc = db_open(s);
	if (rc != DKV_OK)
		goto fail_close;
	*out = s;
	return DKV_OK;

fail_close:
	store_shards_free(s);
	if (s->cf_default)
		rocksdb_column_family_handle_destroy(s->cf_default);
	if (s->db)
		rocksdb_close(s->db);
	options_free(s);
	pthread_rwlock_destroy(&s->table_lock);
	pthread_mutex_destroy(&s->ceil_lock);
	pthread_mutex_destroy(&s->ddl_lock);
	pthread_mutex_destroy(&s->fsync_lock);
fail_free:
	free(s->pathbuf);
	free(s);
	return rc;
}

void dkv_store_close(struct dkv_store *s)
{
	if (s == NULL)
		return;
	assert(atomic_load(&s->batches) == 0);
	store_ceil_save(s);
	store_shards_free(s);
	rocksdb_column_family_handle_destroy(s->cf_default);
	rocksdb_close(s->db);
	options_free(s);
	pthread_rwlock_destroy(&s->table_lock);
	pthread_mutex_destroy(&s->ceil_lock);
	pthread_mutex_destroy(&s->ddl_lock);
	pthread_mutex_destroy(&s->fsync_lock);
	free(s->pathbuf);
	free(s);
}

int dkv_store_checkpoint(struct dkv_store *s, const char *dir)
{
	rocksdb_checkpoint_t *cp = NULL;
	char *err = NULL;
	int rc = DKV_OK;

	if (dir == NULL || dir[0] == '\0')
		return DKV_ERR_INVAL;
	cp = rocksdb_checkpoint_object_create(s->db, &err);
	if (err != NULL)
		return store_err(err, "checkpoint");
	/* log_size_for_flush 0: flush memtables so the copy needs no WAL. */
	rocksdb_checkpoint_create(cp, dir, 0, &err);
	if (err != NULL)
		rc = strstr(err, "exists") ? (rocksdb_free(err), DKV_ERR_EXISTS)
					   : store_err(err, "checkpoint");
	rocksdb_checkpoint_object_destroy(cp);
	return rc;
}

uint64_t dkv_store_disk_bytes(struct dkv_store *s)
{
	uint64_t total = 0;
	DIR *d = opendir(s->opts.path);
	struct dirent *e;
	char path[4096];
	struct stat st;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n < 4 || (strcmp(e->d_name + n - 4, ".sst") != 0 &&
			      strcmp(e->d_name + n - 4, ".log") != 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->opts.path, e->d_name);
		if (stat(path, &st) == 0)
			total += (uint64_t)st.st_size;
	}
	closedir(d);
	return total;
}

void dkv_store_stats(struct dkv_store *s, struct dkv_store_stats *out)
{
	uint64_t mem = 0;

	memset(out, 0, sizeof(*out));
	out->commits = atomic_load(&s->n_commits);
	out->records = atomic_load(&s->n_records);
	out->gets = atomic_load(&s->n_gets);
	out->ranges = atomic_load(&s->n_ranges);
	out->cache_usage = rocksdb_cache_get_usage(s->cache);
	pthread_rwlock_rdlock(&s->table_lock);
	for (size_t i = 0; i < s->nshards; i++) {
		struct shard *sh = s->shards[i];

		if (rocksdb_property_int_cf(s->db, sh->cf_ver,
					    "rocksdb.cur-size-all-mem-tables",
					    &mem) == 0)
			out->memtable_bytes += mem;
		if (rocksdb_property_int_cf(s->db, sh->cf_plain,
					    "rocksdb.cur-size-all-mem-tables",
					    &mem) == 0)
			out->memtable_bytes += mem;
	}
	pthread_rwlock_unlock(&s->table_lock);
	if (rocksdb_property_int(s->db, "rocksdb.cur-size-all-mem-tables",
				 &mem) == 0)
		out->memtable_bytes += mem;
}

void dkv_val_release(struct dkv_val *val)
{
	if (val == NULL)
		return;
	rocksdb_free(val->mem_);
	val->mem_ = NULL;
	val->data = NULL;
	val->len = 0;
}

int dkv_val_copy(struct dkv_val *val, const void *data, size_t len)
{
	/* malloc: dkv_val_release frees with rocksdb_free, which is free. */
	char *p = malloc(len ? len : 1);

	memset(val, 0, sizeof(*val));
	if (p == NULL)
		return DKV_ERR_NOMEM;
	if (len)
		memcpy(p, data, len);
	val->mem_ = p;
	val->data = p;
	val->len = len;
	return DKV_OK;
}

void dkv_buf_release(struct dkv_buf *buf)
{
	if (buf == NULL)
		return;
	free(buf->data);
	buf->data = NULL;
	buf->len = 0;
}
