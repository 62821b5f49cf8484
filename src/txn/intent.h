/*
 * intent.h - one shard's in-memory intent index (docs/txn.md, "Durable
 * records": intents are also held in memory so that the read and write
 * paths check them without I/O).
 *
 * A hash of keys; each key has the list of its holders: one write intent
 * (put or delete) or any number of read locks. Range locks (read ranges
 * of prepared transactions) are kept in a list. The index is rebuilt from
 * the "I" records at recovery (participant recovery, recover.c).
 *
 * The index never decides anything: conflicts, wait-die and intent
 * resolution are the participant's (validate.c, read.c). It also keeps
 * the intents of a COMMIT1 whose durable write is in flight, so that
 * nobody reads or writes its keys before the versions are visible.
 *
 * Memory: the index owns its key copies and the struct txn_intent and
 * struct txn_rlock it hands out, until removed or txn_ii_fini(). `owner`,
 * `txid`, an intent's value and a range lock's bounds are borrowed from
 * the owning transaction, which must remove them before it frees them.
 * Range queries are linear in the number of keys with intents (which is
 * small: intents last one commit) and in the number of range locks.
 */
#ifndef DKV_TXN_INTENT_H
#define DKV_TXN_INTENT_H

#include <stddef.h>
#include <stdint.h>

#include "txn/txid.h"

struct txn_ikey;

struct txn_intent {
	struct txn_ikey *ik;              /* the key (index-owned) */
	struct txn_intent *next_on_key;   /* other holders of the key */
	struct txn_intent *next_of_owner; /* free for the owner's use */
	void *owner;                      /* the holder (borrowed) */
	const struct dkv_txid *txid;      /* the holder's id (borrowed) */
	unsigned kind;                    /* enum txn_rec_ikind */
	const char *val;                  /* PUT: the value (borrowed) */
	size_t vlen;
};

struct txn_rlock {
	struct txn_rlock *next, *prev; /* index-owned links */
	struct txn_rlock *next_of_owner;
	void *owner;
	const struct dkv_txid *txid;
	const char *start; /* [start, end): empty = unbounded (borrowed) */
	size_t slen;
	const char *end;
	size_t elen;
};

struct txn_iindex {
	struct txn_ikey **buckets;
	size_t nbuckets;
	size_t nkeys;    /* keys with at least one holder */
	size_t nintents; /* holders */
	struct txn_ikey *all; /* every key, for range walks */
	struct txn_rlock *ranges;
	size_t nranges;
};

int txn_ii_init(struct txn_iindex *ix);
/* Frees everything the index owns (outstanding intents included). */
void txn_ii_fini(struct txn_iindex *ix);

/* Adds a holder of key. 0 and *out, or DKV_ERR_NOMEM. */
int txn_ii_add(struct txn_iindex *ix, const char *key, size_t klen,
	       void *owner, const struct dkv_txid *txid, unsigned kind,
	       const char *val, size_t vlen, struct txn_intent **out);
/* Removes (and frees) one holder; the key goes with its last holder. */
void txn_ii_remove(struct txn_iindex *ix, struct txn_intent *in);
/* The first holder of key (walk next_on_key), or NULL. */
struct txn_intent *txn_ii_find(const struct txn_iindex *ix, const char *key,
			       size_t klen);
/* The key an intent is on (index-owned, valid while the intent is). */
const char *txn_ii_key(const struct txn_intent *in, size_t *klen);

/* Calls cb for every holder of every key in [start, end) (empty bounds
 * unbounded), in no particular order; cb returns 0 to go on, anything
 * else stops the walk and is returned. cb must not add or remove. */
int txn_ii_foreach_in(const struct txn_iindex *ix, const char *start,
		      size_t slen, const char *end, size_t elen,
		      int (*cb)(void *arg, struct txn_intent *in), void *arg);

int txn_ii_range_add(struct txn_iindex *ix, void *owner,
		     const struct dkv_txid *txid, const char *start,
		     size_t slen, const char *end, size_t elen,
		     struct txn_rlock **out);
void txn_ii_range_remove(struct txn_iindex *ix, struct txn_rlock *r);
/* The next range lock after `after` (NULL: the first) covering key. */
struct txn_rlock *txn_ii_range_covering(const struct txn_iindex *ix,
					const char *key, size_t klen,
					const struct txn_rlock *after);
/* Whether [s1, e1) and [s2, e2) intersect (empty bounds unbounded). */
int txn_ranges_overlap(const char *s1, size_t s1len, const char *e1,
		       size_t e1len, const char *s2, size_t s2len,
		       const char *e2, size_t e2len);
/* Whether key is in [start, end). */
int txn_key_in(const char *key, size_t klen, const char *start, size_t slen,
	       const char *end, size_t elen);

#endif /* DKV_TXN_INTENT_H */
