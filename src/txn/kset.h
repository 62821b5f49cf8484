/*
 * kset.h - the coordinator's transaction cache: a set of keys, each with
 * its shard and either a buffered write (PUT with value, DEL) or the
 * epoch of the version read. Hash for lookups, insertion order for
 * building messages. Used for the write set and the read set.
 *
 * Memory: the set owns its entries (key and value copied in); entries
 * live until kset_clear() / kset_fini(). Range reads are a separate list.
 */
#ifndef DKV_TXN_KSET_H
#define DKV_TXN_KSET_H

#include <stddef.h>
#include <stdint.h>

#include "txn/txn_msg.h"

struct kentry {
	struct kentry *hnext;
	struct kentry *next; /* insertion order */
	uint32_t shard;
	uint32_t kind;  /* writes: enum txn_wkind; reads: 0 */
	uint64_t epoch; /* reads: epoch of the version read */
	uint64_t hash;
	char *val;      /* writes: owned, NULL if empty */
	uint32_t vlen;
	uint32_t klen;
	char key[];
};

struct kset {
	struct kentry **b;
	size_t nb;
	size_t n;
	struct kentry *head, *tail;
};

void kset_init(struct kset *s);
void kset_clear(struct kset *s);
void kset_fini(struct kset *s);
struct kentry *kset_find(const struct kset *s, const char *key, size_t klen);
/* Adds key, or updates it if present when `replace` (else keeps the
 * first). 0 or DKV_ERR_NOMEM (set unchanged). */
int kset_put(struct kset *s, uint32_t shard, const char *key, size_t klen,
	     uint32_t kind, const char *val, size_t vlen, uint64_t epoch,
	     int replace);

/* A range read of the read set. */
struct krange {
	struct krange *next;
	uint32_t shard;
	struct txn_bytes start, end; /* owned copies */
};

/*
 * The result of a range read merged with the write set: the shard's
 * items of [start, cend) with this transaction's writes of that shard in
 * the same interval applied over them (PUT adds or replaces, DEL
 * removes), cut at limit (0 = none). *out is malloc'ed (free it); its
 * byte strings point into items and the write set. *next: empty when the
 * interval was read through and not cut, else where to continue (a
 * malloc'ed copy in *next_mem). 0 or DKV_ERR_NOMEM.
 */
int kset_merge_range(const struct kset *writes, uint32_t shard,
		     const struct txn_item *items, uint32_t n,
		     const char *start, size_t slen, const char *cend,
		     size_t celen, const struct txn_bytes *shard_next,
		     uint32_t limit, struct txn_item **out, uint32_t *nout,
		     struct txn_bytes *next, char **next_mem);

#endif /* DKV_TXN_KSET_H */
