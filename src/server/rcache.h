/*
 * rcache.h - the node's cache of newest values, in front of the store.
 *
 * A GET of a key held in memtables still costs a walk of RocksDB's skip
 * list (a cache miss per level: about 2 us with 100k keys), where Redis
 * pays one hash probe. This cache keeps, per (shard, key), the newest
 * committed version as the node last saw it: its epoch and its value, or
 * that the key does not exist. Reads of the newest version (GET, MGET,
 * EXISTS) answer from it; reads at an epoch never use it.
 *
 * Correctness rests on four rules, all on the loop thread (the cache has
 * no lock: only the loop thread touches it):
 *   1. every write path to a shard's versions calls rcache_written() or
 *      rcache_forget() for each key it changed, after the write is durable
 *      and before it is acknowledged, so nothing acknowledged is hidden by
 *      an older cached value;
 *   2. a fill (rcache_fill) carries the epoch of the version the store
 *      returned, and never replaces a newer entry;
 *   3. a fill from a read that ran off the loop (the worker pool) also
 *      carries the generation seen when the read began (rcache_gen); if
 *      any entry was forgotten or evicted since, the fill is dropped, since
 *      the store's answer may predate a write whose entry is gone;
 *   4. a key with a plain write in flight (submitted, maybe already in the
 *      store, not completed: txn_node_busy) is read from the store, not
 *      from here: a transaction's read (WATCH) may already have seen the
 *      write, and a read after it must not return what preceded it.
 *
 * Memory is bounded by max_bytes (keys, values and per-entry overhead);
 * CLOCK eviction (a reference bit per entry) makes room. Values larger than
 * max_bytes / 64 are never cached: the key is forgotten instead.
 *
 * Failure modes: allocation failure in a fill or a write drops the entry
 * (a later read misses and goes to the store); nothing is ever wrong, only
 * slower.
 */
#ifndef DKV_SERVER_RCACHE_H
#define DKV_SERVER_RCACHE_H

#include <stddef.h>
#include <stdint.h>

struct rc_entry;

struct rcache {
	struct rc_entry **slots; /* open addressing, linear probing */
	size_t cap;              /* power of two, 0 when disabled */
	size_t count;
	size_t bytes, max_bytes;
	size_t hand;             /* CLOCK hand */
	uint64_t gen;            /* bumped by every forget and eviction */
	uint64_t hits, misses, fills, evictions;
};

/* The result of a hit; points into the cache, valid until the next call
 * that changes the cache. */
struct rcache_hit {
	uint64_t epoch;
	int found;          /* 0: the key does not exist */
	const char *data;
	size_t len;
};

/* max_bytes 0 disables the cache (every lookup misses). */
int rcache_init(struct rcache *c, size_t max_bytes);
void rcache_free(struct rcache *c);

/* 1 and *hit filled on a hit, 0 on a miss. */
int rcache_get(struct rcache *c, uint32_t shard, const char *key, size_t klen,
	       struct rcache_hit *hit);

/* A read of the newest version returned (epoch, value) or, with found 0,
 * no version. gen: rcache_gen() when an off-loop read began, or
 * RCACHE_GEN_NOW for a read done on the loop thread just now. */
#define RCACHE_GEN_NOW UINT64_MAX
void rcache_fill(struct rcache *c, uint64_t gen, uint32_t shard,
		 const char *key, size_t klen, uint64_t epoch, int found,
		 const char *data, size_t len);

/* A durable write made (epoch, value), or deleted the key (found 0). */
void rcache_written(struct rcache *c, uint32_t shard, const char *key,
		    size_t klen, uint64_t epoch, int found, const char *data,
		    size_t len);

/* The key changed in a way the caller cannot describe: drop it. */
void rcache_forget(struct rcache *c, uint32_t shard, const char *key,
		   size_t klen);

/* Drops every entry (a shard dropped or moved, a new map). */
void rcache_clear(struct rcache *c);

static inline uint64_t rcache_gen(const struct rcache *c)
{
	return c->gen;
}

#endif /* DKV_SERVER_RCACHE_H */
