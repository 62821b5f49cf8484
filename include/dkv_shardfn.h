/*
 * dkv_shardfn.h - the ABI of a custom sharding function (docs/shard.md).
 *
 * A cluster created with the `custom` family maps keys to shards with a
 * function from a shared object, named in the cluster map as
 *
 *     "/abs/path/to/module.so:symbol"
 *
 * (split at the last ':'; the path goes to dlopen(3) unchanged, so a name
 * without '/' is searched in the library path; an absolute path is
 * recommended). Every node and every client library that routes keys loads
 * the same module: it must be deployed identically everywhere, at the same
 * path. The map records a fingerprint of the function (its results on fixed
 * probe keys); a process whose module gives other results refuses the map.
 *
 * The module exports, with default visibility (DKV_SHARDFN_EXPORT: dkv
 * builds with -fvisibility=hidden), under the C ABI:
 *
 *   symbol        (required) a dkv_shard_fn.
 *   symbol_range  (optional) a dkv_shard_range_fn: the name is the
 *                 function's name with "_range" appended.
 *
 * Contract of both functions:
 *   - pure: the result depends only on the arguments (not on time, process,
 *     address, locale or any state), so that all nodes and clients agree;
 *   - thread-safe and non-blocking: they run on the hot path of every
 *     request, possibly from many threads at once;
 *   - they must not keep the key pointers past the call, and must accept
 *     any bytes (keys are binary, not NUL-terminated; klen may be 0).
 *
 * The module may initialise itself in an ELF constructor; there is no init
 * or fini call. It is dlopen'ed with RTLD_NOW | RTLD_LOCAL once per loaded
 * map and dlclose'd when the map is destroyed.
 */
#ifndef DKV_SHARDFN_H
#define DKV_SHARDFN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define DKV_SHARDFN_EXPORT __attribute__((visibility("default")))
#else
#define DKV_SHARDFN_EXPORT
#endif

/* Returns the shard of key[0..klen), which must be < nshards (1..65536).
 * A result >= nshards is a bug of the module: the lookup that got it fails
 * with DKV_ERR_NO_SHARD, and loading fails if a probe key gets one. */
typedef uint32_t (*dkv_shard_fn)(const void *key, size_t klen,
				 uint32_t nshards);

/* Optional. Tells whether every key k with start <= k < end (bytewise
 * order, a shorter key first when one is a prefix of the other) maps to
 * one and the same shard, and which: returns that shard (< nshards), or -1
 * when the range may span shards or the function cannot tell. start == NULL
 * means "from the smallest key", end == NULL "through the largest key";
 * dkv calls it only for non-empty ranges. Without it, a range of a custom
 * map is confined to one shard only when the map has one shard. */
typedef int (*dkv_shard_range_fn)(const void *start, size_t slen,
				  const void *end, size_t elen,
				  uint32_t nshards);

/* The suffix that names the optional range function. */
#define DKV_SHARDFN_RANGE_SUFFIX "_range"

#ifdef __cplusplus
}
#endif
#endif /* DKV_SHARDFN_H */
