/*
 * family.h - sharding functions: which shard a key belongs to.
 * Design and exact definitions: docs/shard.md.
 *
 * A cluster picks one family when it is created; the family and its
 * parameters are part of the cluster map (map.h) and never change except
 * for the slot table of `slots`:
 *
 *   hash    shard = jump(XXH3_64bits(tag(key)), nshards)       (the default)
 *           jump() is Lamping & Veach's jump consistent hash.
 *   slots   slot  = CRC16-XMODEM(tag(key)) mod 16384            (Redis Cluster)
 *           shard = slot_table[slot]; the default table splits the slots
 *           into nshards contiguous ranges: slot s -> s * nshards / 16384.
 *   range   nshards - 1 strictly increasing split keys; shard i holds the
 *           keys k with split[i-1] <= k < split[i] (bytewise order, a
 *           prefix before its extensions; split[-1] = -inf, split[n-1] = +inf).
 *   custom  shard = fn(key, klen, nshards), fn loaded from a shared object
 *           (include/dkv_shardfn.h).
 *
 * tag(key) is Redis Cluster's hash tag: if key contains a '{' and, after
 * the first '{', a '}' with at least one byte between them, the bytes
 * between the first '{' and that next '}'; otherwise the whole key. Keys
 * with the same tag share a shard under `hash` and `slots`.
 *
 * Range confinement (dkv_family_range_shard): a range search reads one
 * shard, so a range [start, end) is accepted only if every key it can hold
 * maps to one shard:
 *   - any family, nshards == 1: shard 0;
 *   - range: start and end fall in the same split interval;
 *   - hash, slots: the longest common prefix of start and end contains a
 *     complete hash tag (a '{', then a '}' with at least one byte between,
 *     the '{' being the first of the prefix). Every key between start and
 *     end then begins with that prefix, so it has that tag and its shard.
 *     The common case: both start with the same "{tag}".
 *   - custom: the module's optional range function says so.
 *
 * Lookups (key_shard, range_shard) never allocate, never block and are
 * safe from any number of threads on a family nobody modifies.
 *
 * Errors: a negative DKV_ERR_* code. Calls that take `char *err, size_t
 * errlen` also write a one-line, NUL-terminated explanation into err
 * (truncated to errlen; err may be NULL when errlen is 0).
 */
#ifndef DKV_SHARD_FAMILY_H
#define DKV_SHARD_FAMILY_H

#include <stddef.h>
#include <stdint.h>

#include "dkv_err.h"
#include "dkv_shardfn.h"

struct json_t; /* jansson's json_t */

enum dkv_family_kind {
	DKV_FAMILY_HASH = 0,
	DKV_FAMILY_SLOTS,
	DKV_FAMILY_RANGE,
	DKV_FAMILY_CUSTOM,
	DKV_FAMILY_NKINDS
};

#define DKV_SHARD_NONE UINT32_MAX     /* "no shard" in out-parameters */
#define DKV_SHARDS_MAX 65536u         /* nshards is 1..DKV_SHARDS_MAX */
#define DKV_SLOTS 16384u              /* Redis Cluster's slot count */
#define DKV_SPLIT_MAX_LEN 1024u       /* bytes of one split key (>= 1) */
#define DKV_SPLITS_MAX_BYTES (4u << 20) /* all split keys together */
#define DKV_SHARDFN_SPEC_MAX 4096u    /* "path:symbol", bytes without NUL */
#define DKV_SHARDFN_SYMBOL_MAX 200u   /* bytes of the symbol name */

/* One split key: len bytes at data (binary, not NUL-terminated). */
struct dkv_split {
	const void *data;
	size_t len;
};

/* What to create. Pointers are borrowed for the duration of the call only
 * (everything is copied). */
struct dkv_family_spec {
	enum dkv_family_kind kind;
	/* 1..DKV_SHARDS_MAX; for SLOTS at most DKV_SLOTS. For RANGE, 0 means
	 * nsplits + 1, anything else must equal it. */
	uint32_t nshards;
	const struct dkv_split *splits; /* RANGE: nsplits split keys */
	uint32_t nsplits;
	const char *function; /* CUSTOM: "path/to/module.so:symbol" */
};

struct dkv_family;

/* --- pure functions (no family needed) ----------------------------------- */

/* The part of key that is hashed: sets *part (into key) and returns its
 * length; the whole key when it has no hash tag. key may be NULL if klen
 * is 0. */
size_t dkv_hash_tag(const void *key, size_t klen, const void **part);
/* CRC16-CCITT XMODEM (poly 0x1021, init 0, no reflection, no xorout), as
 * Redis Cluster: dkv_crc16("123456789", 9) == 0x31C3. */
uint16_t dkv_crc16(const void *buf, size_t len);
/* Redis Cluster's slot: dkv_crc16(tag(key)) % DKV_SLOTS. */
uint32_t dkv_key_slot(const void *key, size_t klen);
/* XXH3_64bits(tag(key)), the input of the hash family. */
uint64_t dkv_key_hash(const void *key, size_t klen);
/* Lamping & Veach jump consistent hash: a bucket in [0, nbuckets).
 * nbuckets must be >= 1. */
uint32_t dkv_jump_hash(uint64_t h, uint32_t nbuckets);
/* Bytewise order of binary keys: memcmp on the common length, then the
 * shorter first. <0, 0, >0. NULL is allowed with a length of 0. */
int dkv_key_cmp(const void *a, size_t alen, const void *b, size_t blen);
/* 1 if the common prefix of a and b contains a complete hash tag (see the
 * range confinement rule above), else 0. */
int dkv_common_tag(const void *a, size_t alen, const void *b, size_t blen);

/* "hash", "slots", "range", "custom"; NULL for an unknown kind. */
const char *dkv_family_kind_name(enum dkv_family_kind kind);
/* The kind named name: 0, or DKV_ERR_INVAL. */
int dkv_family_kind_parse(const char *name, enum dkv_family_kind *out);

/* --- family objects -------------------------------------------------------- */

/* Creates a family; *out is owned by the caller until dkv_family_destroy().
 * DKV_ERR_INVAL for a bad spec (nshards out of bounds, split keys empty,
 * too long or not strictly increasing, malformed function name);
 * DKV_ERR_NOT_FOUND when the custom module or symbol cannot be loaded;
 * DKV_ERR_NO_SHARD when the custom function answers >= nshards on a probe
 * key. A custom family dlopens its module; destroy dlcloses it. */
int dkv_family_create(const struct dkv_family_spec *spec,
		      struct dkv_family **out, char *err, size_t errlen);
/* A deep copy (a custom family dlopens the module again: the dynamic
 * loader shares one copy, counting references). */
int dkv_family_clone(const struct dkv_family *f, struct dkv_family **out);
void dkv_family_destroy(struct dkv_family *f);
/* 1 if a and b define the same function (kind, nshards, slot table, split
 * keys, custom function name and fingerprint), else 0. */
int dkv_family_equal(const struct dkv_family *a, const struct dkv_family *b);

enum dkv_family_kind dkv_family_kind(const struct dkv_family *f);
uint32_t dkv_family_nshards(const struct dkv_family *f);

/* The shard of key: 0 and *shard set, or DKV_ERR_NO_SHARD when a custom
 * function answers >= nshards (*shard untouched). Never allocates. */
int dkv_family_key_shard(const struct dkv_family *f, const void *key,
			 size_t klen, uint32_t *shard);

/* Range confinement (see above) of [start, end); start == NULL means from
 * the first key, end == NULL through the last key (lengths then ignored).
 * Returns the shard (>= 0) holding the whole range, with *first = *last =
 * it. Otherwise a code, and *first / *last name the shard of start and the
 * shard of end (for `range`: the shard of the last key before end), or
 * DKV_SHARD_NONE for an open bound under hash, slots and custom:
 *   DKV_ERR_UNSUPPORTED  the range may span shards;
 *   DKV_ERR_INVAL        the range is empty (start >= end, or end is
 *                        the empty key);
 *   DKV_ERR_NO_SHARD     a custom function answered out of range;
 *   DKV_ERR_CORRUPT      a custom range function contradicts the key
 *                        function.
 * first and last may be NULL. Never allocates. */
int dkv_family_range_shard(const struct dkv_family *f, const void *start,
			   size_t slen, const void *end, size_t elen,
			   uint32_t *first, uint32_t *last);

/* SLOTS: the shard of slot (< DKV_SLOTS), or DKV_SHARD_NONE (other
 * families, bad slot). */
uint32_t dkv_family_slot_shard(const struct dkv_family *f, uint32_t slot);
/* SLOTS: gives slots first..last (inclusive) to shard. Returns the number
 * of slots that changed hands (>= 0), DKV_ERR_INVAL for a bad interval,
 * DKV_ERR_NO_SHARD for shard >= nshards, DKV_ERR_UNSUPPORTED for another
 * family. */
int dkv_family_set_slots(struct dkv_family *f, uint32_t first, uint32_t last,
			 uint32_t shard);

/* RANGE: split key i (< nshards - 1): its bytes (owned by f, valid until
 * f is destroyed) and length in *len; NULL for another family or bad i. */
const void *dkv_family_split(const struct dkv_family *f, uint32_t i,
			     size_t *len);

/* CUSTOM: "path:symbol" (owned by f) and the fingerprint of the function:
 * XXH3_64bits of its answers on fixed probe keys at this nshards. NULL / 0
 * for other families. */
const char *dkv_family_function(const struct dkv_family *f);
uint64_t dkv_family_fingerprint(const struct dkv_family *f);

/* --- JSON form (schema: docs/shard.md) ----------------------------------- */

/* A new JSON object describing f (a new reference: the caller owns it and
 * json_decref()s it), or NULL when out of memory. */
struct json_t *dkv_family_to_json(const struct dkv_family *f);
/* Builds a family from its JSON object (borrowed). DKV_ERR_CORRUPT for any
 * missing, unknown, mistyped or out-of-bounds field.
 * A custom family is loaded only if its "path:symbol" is one of
 * custom_allow (a NULL-terminated list, borrowed; NULL = none): a map
 * received from elsewhere must not make this process dlopen a file of its
 * choosing. Otherwise DKV_ERR_UNSUPPORTED, and nothing is loaded. Then
 * DKV_ERR_NOT_FOUND when the module or symbol is missing on this machine,
 * DKV_ERR_CORRUPT when the loaded function's fingerprint is not the
 * recorded one (the module differs from the cluster's). */
int dkv_family_from_json(struct json_t *obj, const char *const *custom_allow,
			 struct dkv_family **out, char *err, size_t errlen);

#endif /* DKV_SHARD_FAMILY_H */
