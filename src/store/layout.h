/*
 * layout.h - every on-disk structure of the store, in one place.
 *
 * Column families
 *   "default"      store-wide records: the shard catalog and metadata.
 *   "v.<id:08x>"   a shard's versioned data. Comparator "dkv.u64ts.v1":
 *                  user key bytewise ascending, then timestamp descending
 *                  (newest first). Timestamp: 8 bytes, the epoch as a
 *                  little-endian u64 (as RocksDB's built-in u64 comparator),
 *                  so all-zero is the oldest and all-0xff the newest, as
 *                  RocksDB assumes internally.
 *                  Value of a put: le64 epoch | user value. The epoch is
 *                  repeated in the value because RocksDB zeroes the
 *                  timestamp of a version that GC collapses below
 *                  full_history_ts_low (CompactionIterator::PrepareOutput),
 *                  and readers must still learn the version's epoch.
 *                  Tombstones carry no value.
 *   "p.<id:08x>"   a shard's plain records (bytewise).
 *
 * Records in "default"
 *   "\0cat/" + be32(shard id)  ->  struct layout_catalog (below)
 *   "\0wm/" + be32(shard id)   ->  le64 history watermark of the shard
 *   "\0ceil/" + be32(shard id) ->  le64 epoch ceiling of the shard: no
 *                                  version in its versioned family has a
 *                                  higher epoch. Written in the same
 *                                  RocksDB write as the first version
 *                                  above the previous ceiling (raised by
 *                                  a window, store_batch.c); at close,
 *                                  the highest epoch written since open.
 *                                  Absent: the shard is empty, or predates
 *                                  the record (its ceiling is unknown).
 *   "\0gccut"                  ->  le64 the store's GC cutoff (store_filter.c):
 *                                  versions hidden by a newer one at or
 *                                  below it, and seen by no pin, may be
 *                                  dropped by compactions
 *   "\1" + user key            ->  user metadata (dkv_batch_put_meta)
 *   The leading byte keeps the store's records apart from metadata.
 *   dkvd's metadata keys: "cluster.map" (the map's JSON), "hlc.bound"
 *   (le64 clock bound), "snapcat" (the snapshot catalog:
 *   "DKVSNAP1" | le64 version | le32 n | n x (u8 name length | name |
 *   le64 epoch | le64 created Unix ms), src/snap/catalog.c).
 *   The watermark is kept here, written before RocksDB's own
 *   full_history_ts_low is raised and re-applied at open: RocksDB 7.8
 *   asserts when asked for a ts_low that was never set, so dkv never asks.
 *
 * History iteration (RocksDB 7.8 with ReadOptions::iter_start_ts set)
 *   Iterator::key() is the internal key: user key | ts (8) | trailer (8),
 *   trailer = little-endian u64 (sequence << 8 | value type). Types used:
 *   0x1 value, 0x0/0x7/0x14 deletions (0x14 = deletion with timestamp).
 *
 * Range anchors (opaque to callers)
 *   u8 version (1) | u8 flags (bit 0 reverse) | le64 epoch | last key
 */
#ifndef DKV_STORE_LAYOUT_H
#define DKV_STORE_LAYOUT_H

#include <stdint.h>
#include <string.h>

#define LAYOUT_TS_SIZE 8
#define LAYOUT_VAL_HDR 8 /* le64 epoch before each versioned value */
#define LAYOUT_CMP_NAME "dkv.u64ts.v1"
#define LAYOUT_CF_VERSIONED "v."
#define LAYOUT_CF_PLAIN "p."
#define LAYOUT_CF_NAME_MAX 16

#define LAYOUT_CAT_PREFIX "\0cat/"
#define LAYOUT_CAT_PREFIX_LEN 5
#define LAYOUT_CAT_KEY_LEN (LAYOUT_CAT_PREFIX_LEN + 4)
#define LAYOUT_WM_PREFIX "\0wm/"
#define LAYOUT_WM_PREFIX_LEN 4
#define LAYOUT_WM_KEY_LEN (LAYOUT_WM_PREFIX_LEN + 4)
#define LAYOUT_CEIL_PREFIX "\0ceil/"
#define LAYOUT_CEIL_PREFIX_LEN 6
#define LAYOUT_CEIL_KEY_LEN (LAYOUT_CEIL_PREFIX_LEN + 4)
#define LAYOUT_CUTOFF_KEY "\0gccut"
#define LAYOUT_CUTOFF_KEY_LEN 6
#define LAYOUT_META_PREFIX '\1'

/* Shard states as persisted in the catalog. */
enum layout_shard_state {
	LAYOUT_SHARD_CREATING = 1, /* created or being copied; not usable */
	LAYOUT_SHARD_ACTIVE = 2,
	LAYOUT_SHARD_DROPPING = 3, /* drop decided; families to be removed */
};

#define LAYOUT_CATALOG_VERSION 1
struct layout_catalog {
	uint8_t version; /* LAYOUT_CATALOG_VERSION */
	uint8_t state;   /* enum layout_shard_state */
} __attribute__((packed));

#define LAYOUT_TRAILER_SIZE 8
#define LAYOUT_TYPE_VALUE 0x1

#define LAYOUT_ANCHOR_VERSION 1
#define LAYOUT_ANCHOR_REVERSE 0x1
#define LAYOUT_ANCHOR_HDR 10

static inline void layout_put_le64(char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (char)(v >> (8 * i));
}

static inline uint64_t layout_get_le64(const char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | (uint8_t)p[i];
	return v;
}

static inline void layout_cat_key(char *buf, uint32_t shard)
{
	memcpy(buf, LAYOUT_CAT_PREFIX, LAYOUT_CAT_PREFIX_LEN);
	buf[5] = (char)(shard >> 24);
	buf[6] = (char)(shard >> 16);
	buf[7] = (char)(shard >> 8);
	buf[8] = (char)shard;
}

static inline void layout_wm_key(char *buf, uint32_t shard)
{
	memcpy(buf, LAYOUT_WM_PREFIX, LAYOUT_WM_PREFIX_LEN);
	buf[4] = (char)(shard >> 24);
	buf[5] = (char)(shard >> 16);
	buf[6] = (char)(shard >> 8);
	buf[7] = (char)shard;
}

static inline void layout_ceil_key(char *buf, uint32_t shard)
{
	memcpy(buf, LAYOUT_CEIL_PREFIX, LAYOUT_CEIL_PREFIX_LEN);
	buf[6] = (char)(shard >> 24);
	buf[7] = (char)(shard >> 16);
	buf[8] = (char)(shard >> 8);
	buf[9] = (char)shard;
}

static inline uint32_t layout_cat_shard(const char *key)
{
	return (uint32_t)(uint8_t)key[5] << 24 | (uint32_t)(uint8_t)key[6] << 16 |
	       (uint32_t)(uint8_t)key[7] << 8 | (uint32_t)(uint8_t)key[8];
}

/*
 * Transaction records (src/txn/record.h, docs/txn.md "Durable records")
 *   In a shard's plain family "p.<id:08x>", written only in the same batch
 *   as the versions and intents they describe. txid = be64 hi | be64 lo
 *   (16 bytes; big-endian so that records sort by age). Integers in values
 *   are little-endian; every value starts with a version byte (1).
 *
 *   "T" + txid       the leader's transaction record, while PREPARING or
 *                    COMMITTED (FINISHED and ABORTED replace it by "D"):
 *   "F" + txid       a follower's log entry, while PREPARED:
 *        u8 version | u8 state (1 PREPARING, 2 COMMITTED, 3 PREPARED) |
 *        le32 leader shard | le64 ts | le64 sent | le64 proposed |
 *        le64 tc (COMMITTED only, else 0) |
 *        le32 nparts | le32 shard * nparts   (T: every participant) |
 *        le32 nranges | (le32 len | start | le32 len | end) * nranges
 *                                            (the shard's range locks)
 *   "D" + txid       an outcome tombstone, until sent + horizon:
 *        u8 version | u8 outcome (1 committed, 2 aborted) | le64 sent |
 *        le64 tc (committed; 0 when aborted)             (18 bytes)
 *   "I" + user key + txid
 *                    an intent of a prepared transaction (several read
 *                    locks of different transactions may share a key):
 *        u8 version | u8 kind (1 put, 2 delete, 3 read lock) |
 *        the value (put only, the rest of the record)
 *   A reader of these records refuses (DKV_ERR_CORRUPT) any other
 *   version, state or kind, a length past the record, more than 65536
 *   parts or ranges, a key over 1 MiB, and trailing bytes.
 */

#endif /* DKV_STORE_LAYOUT_H */
