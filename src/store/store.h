/*
 * store.h - the individual KV store: one per node, RocksDB with 8-byte
 * user-defined timestamps carrying HLC epochs (the seed's "existing KV store
 * with fine granular versioning"). Design: docs/store.md. On-disk formats:
 * src/store/layout.h.
 *
 * A store holds shards. A shard is a namespace created, dropped and copied
 * as a unit, made of two column families:
 *   - versioned: user keys, each with its versions at epochs (puts and
 *     tombstones), read at an epoch;
 *   - plain: unversioned records of the layers above (intents, transaction
 *     records, shard metadata).
 * The store also has unversioned store-wide metadata (the HLC bound, the
 * cluster map).
 *
 * The only write path is a batch (dkv_batch_*), committed atomically and
 * durably (per the store's durability mode) in one RocksDB write, whatever
 * it mixes. The batch checks every argument and every record it adds, so a
 * misuse of this API is a DKV_ERR_* code, never a RocksDB assertion or a
 * silently dropped write.
 *
 * Threads: every call is thread-safe. Callbacks run on the caller's thread
 * and must not create, drop or copy shards.
 *
 * Memory: values returned in struct dkv_val / struct dkv_buf are malloc'ed
 * by the store and owned by the caller, who frees them with dkv_val_release()
 * / dkv_buf_release(). Key and value pointers passed to callbacks are valid
 * only during the callback.
 */
#ifndef DKV_STORE_H
#define DKV_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "dkv_err.h"

enum dkv_durability {
	/* Every batch is fsynced before commit returns; commits are
	 * serialized, one fsync each. */
	DKV_DUR_FSYNC,
	/* Group commit: batches are fsynced before commit returns; batches
	 * committed concurrently share one WAL write and one fsync (RocksDB's
	 * write-group leader syncs for all) and become visible only once
	 * durable. The default. */
	DKV_DUR_GROUP,
	/* No fsync: survives the death of the process (the WAL is in the OS
	 * page cache) but not of the machine. Tests and benchmarks only. */
	DKV_DUR_NONE,
};

#define DKV_STORE_DEFAULT_CACHE_BYTES (64u << 20)
#define DKV_STORE_DEFAULT_WRITE_BUFFER_BYTES (16u << 20)
#define DKV_STORE_DEFAULT_MAX_KEY (64u << 10)
#define DKV_STORE_DEFAULT_MAX_VALUE (64u << 20)
/* Hard ceilings whatever the configuration says. */
#define DKV_STORE_MAX_KEY_LIMIT (1u << 20)
#define DKV_STORE_MAX_VALUE_LIMIT (512u << 20)

struct dkv_store_opts {
	const char *path;                /* directory; created if missing */
	enum dkv_durability durability;  /* opts_init sets DKV_DUR_GROUP */
	size_t cache_bytes;        /* one block cache for all shards; 0=default */
	size_t write_buffer_bytes; /* memtables of all shards together; 0=def. */
	size_t max_key;            /* 0 = DKV_STORE_DEFAULT_MAX_KEY */
	size_t max_value;          /* 0 = DKV_STORE_DEFAULT_MAX_VALUE */
	/* GC pin hook (the snapshot manager): returns the oldest epoch that
	 * must stay readable, or DKV_EPOCH_MAX if none. NULL = no pins. */
	uint64_t (*oldest_pin)(void *ctx, uint32_t shard);
	/* Every pinned epoch (live snapshots), into out (the first cap of
	 * them); returns how many there are (more than cap: some left
	 * out). Called from RocksDB's compaction threads and from readers:
	 * must be thread-safe. NULL = no pins. With it, GC also collects
	 * between pins (docs/store.md, "History GC"). */
	size_t (*pins)(void *ctx, uint64_t *out, size_t cap);
	void *pin_ctx;
	/* Disk failure hook: called once, on the thread whose write failed,
	 * the first time a write to the disk fails with DKV_ERR_IO,
	 * DKV_ERR_CORRUPT or DKV_ERR_NOSPACE (an fsync or write error). After
	 * one, the store cannot tell what reached the disk (a failed fsync
	 * may have dropped dirty pages: "fsyncgate"), so the caller should
	 * stop, as PostgreSQL and etcd do: dkvd exits (docs/server.md). The
	 * failed write itself returns its error, never DKV_OK. what: a static
	 * string naming the write. NULL: the error is only returned. */
	void (*on_disk_failure)(void *ctx, int rc, const char *what);
	void *failure_ctx;
};

/* At most this many pins are honoured (opts.pins' cap). */
#define DKV_STORE_MAX_PINS 2048

/* Fills opts with defaults: durability GROUP, default sizes, no pins. */
void dkv_store_opts_init(struct dkv_store_opts *opts, const char *path);

struct dkv_store;

/* Opens (creating if needed) the store at opts->path; *out is owned by the
 * caller until dkv_store_close(). Finishes or rolls back any shard create,
 * drop or copy that a crash interrupted. */
int dkv_store_open(const struct dkv_store_opts *opts, struct dkv_store **out);
/* Closes the store. Every batch must have been destroyed before. */
void dkv_store_close(struct dkv_store *store);

enum dkv_durability dkv_store_durability(const struct dkv_store *store);
/* The configured limits. */
size_t dkv_store_max_key(const struct dkv_store *store);
size_t dkv_store_max_value(const struct dkv_store *store);

/* --- shards ----------------------------------------------------------- */

/* DKV_ERR_EXISTS if it exists. Durable on return. */
int dkv_store_shard_create(struct dkv_store *store, uint32_t shard);
/* DKV_ERR_NO_SHARD if absent. Durable on return; space is released in the
 * background. Calls in flight on the shard finish or fail cleanly. */
int dkv_store_shard_drop(struct dkv_store *store, uint32_t shard);
/* Copies every version and plain record of src, as of one point in time,
 * into a new shard dst (which must not exist), each key's versions in
 * epoch order. A crash midway leaves no dst. */
int dkv_store_shard_copy(struct dkv_store *store, uint32_t src, uint32_t dst);
/* Lists shard ids in ascending order: writes up to cap into ids, returns
 * the total number of shards (may exceed cap). */
int dkv_store_shard_list(struct dkv_store *store, uint32_t *ids, size_t cap);
int dkv_store_shard_exists(struct dkv_store *store, uint32_t shard);

/* --- writing: the batch ------------------------------------------------ */

struct dkv_batch;

/* A new empty batch; owned by the caller until dkv_batch_destroy(). */
int dkv_batch_create(struct dkv_store *store, struct dkv_batch **out);
void dkv_batch_destroy(struct dkv_batch *batch);
/* Empties the batch for reuse. */
void dkv_batch_clear(struct dkv_batch *batch);
/* Number of records in the batch. */
size_t dkv_batch_count(const struct dkv_batch *batch);

/* Versioned writes. key: 1..max_key bytes, value: 0..max_value bytes,
 * epoch: neither 0 nor DKV_EPOCH_MAX, and not below the shard's history
 * watermark (DKV_ERR_EPOCH_TOO_OLD). Data is copied into the batch.
 *
 * Epoch order: the versions of a key are written in epoch order. A write
 * below the epoch of the key's newest version (a put or a tombstone),
 * committed or added earlier to this batch, is refused with
 * DKV_ERR_WRITE_TOO_OLD; a write at an equal epoch is allowed and replaces
 * that version (the later write wins). A refused write leaves the batch
 * as it was. The store checks against what is committed and what this
 * batch holds, not against other batches in flight: writes of one key in
 * different batches must be ordered by the caller, each batch committed
 * before the next one adds the key (in dkv each shard's commands are
 * applied one at a time by its state machine, src/server/apply.c and
 * committer.c). Why: docs/store.md, "Versions". */
int dkv_batch_put(struct dkv_batch *batch, uint32_t shard, const void *key,
		  size_t klen, const void *val, size_t vlen, uint64_t epoch);
int dkv_batch_del(struct dkv_batch *batch, uint32_t shard, const void *key,
		  size_t klen, uint64_t epoch);
/* Plain (unversioned) records of a shard. */
int dkv_batch_put_plain(struct dkv_batch *batch, uint32_t shard,
			const void *key, size_t klen, const void *val,
			size_t vlen);
int dkv_batch_del_plain(struct dkv_batch *batch, uint32_t shard,
			const void *key, size_t klen);
/* Store-wide metadata records. */
int dkv_batch_put_meta(struct dkv_batch *batch, const void *key, size_t klen,
		       const void *val, size_t vlen);
int dkv_batch_del_meta(struct dkv_batch *batch, const void *key, size_t klen);

/* Writes the batch atomically; durable on return per the store's mode.
 * The batch is emptied on success and left as it was on failure. An empty
 * batch commits trivially. */
int dkv_batch_commit(struct dkv_batch *batch);

/* --- reading ------------------------------------------------------------ */

struct dkv_val {
	char *data;     /* owned by the caller until dkv_val_release() */
	size_t len;
	uint64_t epoch; /* epoch of the version read; 0 for plain records */
	void *mem_;     /* private: the allocation behind data */
};
void dkv_val_release(struct dkv_val *val);
/* Makes val own a copy of len bytes (epoch 0); DKV_ERR_NOMEM. */
int dkv_val_copy(struct dkv_val *val, const void *data, size_t len);

struct dkv_buf {
	char *data; /* malloc'ed, owned by the caller: dkv_buf_release() */
	size_t len;
};
void dkv_buf_release(struct dkv_buf *buf);

/* Reads key as of epoch (DKV_EPOCH_MAX = the newest version).
 * 0 and *out filled; DKV_ERR_NOT_FOUND when no version exists at or below
 * epoch or the newest one is a tombstone (out->data NULL, out->epoch 0; the
 * epoch of a tombstone is in dkv_store_history); DKV_ERR_EPOCH_TOO_OLD when
 * epoch is below the shard's history watermark. */
int dkv_store_get(struct dkv_store *store, uint32_t shard, const void *key,
		  size_t klen, uint64_t epoch, struct dkv_val *out);

/* Read flags. */
#define DKV_READ_NO_IO 0x1 /* answer from memory or fail with DKV_ERR_BUSY:
			      for event-loop threads, which must not block on
			      the disk (retry the read on a worker thread) */

/* dkv_store_get with flags (DKV_READ_*). */
int dkv_store_get_flags(struct dkv_store *store, uint32_t shard,
			const void *key, size_t klen, uint64_t epoch,
			unsigned flags, struct dkv_val *out);

/* Plain and metadata reads: 0, or DKV_ERR_NOT_FOUND. out->epoch is 0. */
int dkv_store_get_plain(struct dkv_store *store, uint32_t shard,
			const void *key, size_t klen, struct dkv_val *out);
int dkv_store_get_meta(struct dkv_store *store, const void *key, size_t klen,
		       struct dkv_val *out);

/* Called for each item; return 0 to go on, 1 to stop after this item, or a
 * negative code to abort the scan with that code. */
typedef int (*dkv_item_cb)(void *ctx, const char *key, size_t klen,
			   const char *val, size_t vlen, uint64_t epoch);

struct dkv_range {
	const void *start;  /* inclusive; NULL = from the first key */
	size_t start_len;
	const void *end;    /* exclusive; NULL = through the last key */
	size_t end_len;
	uint64_t epoch;     /* read epoch; DKV_EPOCH_MAX = newest */
	size_t limit;       /* at most this many items; 0 = no limit */
	int reverse;        /* descending order */
	/* Resume point from a previous call's *next; NULL = from the start.
	 * The anchor carries the epoch and direction it was made with: a
	 * different epoch or direction in this struct is DKV_ERR_INVAL. */
	const void *anchor;
	size_t anchor_len;
};

/* Visits the keys of [start, end) visible at the epoch, in order, with
 * their values and version epochs. Returns the number of items visited
 * (>= 0) or a code. If next is not NULL it receives the resume anchor
 * (next->len == 0 when the range is exhausted). */
int dkv_store_range(struct dkv_store *store, uint32_t shard,
		    const struct dkv_range *range, dkv_item_cb cb, void *ctx,
		    struct dkv_buf *next);

/* Plain records of a shard with keys in [start, end), ascending; epoch 0. */
int dkv_store_scan_plain(struct dkv_store *store, uint32_t shard,
			 const void *start, size_t start_len, const void *end,
			 size_t end_len, dkv_item_cb cb, void *ctx);

/* One version of a key; tombstone != 0 for a delete (val empty). */
typedef int (*dkv_version_cb)(void *ctx, uint64_t epoch, int tombstone,
			      const char *val, size_t vlen);

/* Visits the versions of key with from <= epoch <= to, newest first.
 * Below the watermark GC keeps only the version visible at the watermark
 * (and drops a tombstone there). `to` below the watermark is
 * DKV_ERR_EPOCH_TOO_OLD. Returns the number visited or a code. */
int dkv_store_history(struct dkv_store *store, uint32_t shard,
		      const void *key, size_t klen, uint64_t from, uint64_t to,
		      dkv_version_cb cb, void *ctx);

/* --- reads that see deletes (the transaction layer's validation) -------- */

/* The newest version of key at or below epoch, a delete included: 0 with
 * *tombstone 0 and *out the value (as dkv_store_get), or 0 with *tombstone
 * 1 and out->epoch the delete's epoch (out->data NULL); DKV_ERR_NOT_FOUND
 * when the key has no version at or below epoch (a delete collapsed by GC
 * below the watermark counts as none). */
int dkv_store_get_newest(struct dkv_store *store, uint32_t shard,
			 const void *key, size_t klen, uint64_t epoch,
			 struct dkv_val *out, int *tombstone);

/* For each key of [start, end) in ascending order, its newest version at
 * or below epoch, deletes included (tombstone 1, val empty). NULL start =
 * from the first key, NULL end = through the last. cb as dkv_version_cb
 * plus the key; return 0 to go on, 1 to stop, < 0 to abort with that
 * code. Returns the number of keys visited or a code. */
typedef int (*dkv_newest_cb)(void *ctx, const char *key, size_t klen,
			     uint64_t epoch, int tombstone, const char *val,
			     size_t vlen);
int dkv_store_range_newest(struct dkv_store *store, uint32_t shard,
			   const void *start, size_t start_len,
			   const void *end, size_t end_len, uint64_t epoch,
			   dkv_newest_cb cb, void *ctx);

/* --- history GC ----------------------------------------------------------- */

/* Raises the shard's history watermark toward `epoch`: reads below it are
 * refused afterwards, and versions hidden below it by newer ones may be
 * collected. The watermark never passes the oldest pin (opts.oldest_pin)
 * and never moves back. With compact != 0 the space is reclaimed now
 * (a full compaction of the shard) instead of by background compactions.
 * *applied (may be NULL) gets the watermark in force afterwards. */
int dkv_store_gc(struct dkv_store *store, uint32_t shard, uint64_t epoch,
		 int compact, uint64_t *applied);
/* The shard's watermark; 0 if none was set. */
uint64_t dkv_store_watermark(struct dkv_store *store, uint32_t shard);
/* The store's collection cutoff: a version hidden by a newer one at or
 * below it is collected unless a pin sees it; reads below it are only
 * answered at a pinned epoch (else DKV_ERR_EPOCH_TOO_OLD). 0 = none. */
uint64_t dkv_store_gc_cutoff(struct dkv_store *store);

/* --- whole store ---------------------------------------------------------- */

/* A consistent, openable copy of the whole store in dir (which must not
 * exist), made with hard links where the file system allows. */
int dkv_store_checkpoint(struct dkv_store *store, const char *dir);

/* Bytes on disk (SST files and WAL) of the whole store. */
uint64_t dkv_store_disk_bytes(struct dkv_store *store);

struct dkv_store_stats {
	uint64_t commits;   /* batches committed */
	uint64_t records;   /* records written by them */
	uint64_t gets;
	uint64_t ranges;
	uint64_t cache_usage;     /* block cache bytes in use */
	uint64_t memtable_bytes;  /* memtables of all shards */
};
void dkv_store_stats(struct dkv_store *store, struct dkv_store_stats *out);

/* --- testing ------------------------------------------------------------- */

/* Fault points for crash tests: when set, the store calls the hook at each
 * named point of a shard create, copy or drop ("create.families",
 * "copy.filled", "drop.decided", "drop.families"); a test hook typically
 * _exit()s there to simulate a crash. Process-wide; NULL by default. */
extern void (*dkv_store_fault_hook)(const char *point);

#endif /* DKV_STORE_H */
