/*
 * prefix_shard.c - an example custom sharding function for dkv
 * (include/dkv_shardfn.h, docs/shard.md). Build it as a shared object and
 * name it in the cluster map as "/path/to/prefix_shard.so:prefix_shard".
 *
 * Keys "<word>:<n>" and "<word>:<n>:<anything>", n a decimal number of 1
 * to 19 digits, go to shard n % nshards: all the keys of user 42
 * ("user:42", "user:42:name", "user:42:cart:7") share a shard, and users
 * spread evenly. Any other key goes to FNV-1a(key) % nshards.
 *
 * The optional range function (prefix_shard_range) confines a range whose
 * start and end both begin with the same "<word>:<n>:": every key between
 * them begins with it too, so lives in that user's shard.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dkv_shardfn.h"

DKV_SHARDFN_EXPORT uint32_t prefix_shard(const void *key, size_t klen,
					 uint32_t nshards);
DKV_SHARDFN_EXPORT int prefix_shard_range(const void *start, size_t slen,
					  const void *end, size_t elen,
					  uint32_t nshards);

/* Parses "<word>:<digits>" at the start of k. Returns the length of that
 * prefix (the digits end there) and the number in *n, or 0. */
static size_t parse(const unsigned char *k, size_t klen, uint64_t *n)
{
	const unsigned char *colon = klen ? memchr(k, ':', klen) : NULL;
	size_t i, digits = 0;
	uint64_t v = 0;

	if (colon == NULL)
		return 0;
	for (i = (size_t)(colon - k) + 1; i < klen && k[i] != ':'; i++) {
		if (k[i] < '0' || k[i] > '9' || ++digits > 19)
			return 0;
		v = v * 10 + (uint64_t)(k[i] - '0');
	}
	if (digits == 0)
		return 0;
	*n = v;
	return i;
}

static uint64_t fnv1a(const unsigned char *k, size_t klen)
{
	uint64_t h = UINT64_C(14695981039346656037);
	size_t i;

	for (i = 0; i < klen; i++) {
		h ^= k[i];
		h *= UINT64_C(1099511628211);
	}
	return h;
}

uint32_t prefix_shard(const void *key, size_t klen, uint32_t nshards)
{
	uint64_t n;

	if (parse(key, klen, &n) == 0)
		n = fnv1a(key, klen);
	return (uint32_t)(n % nshards);
}

int prefix_shard_range(const void *start, size_t slen, const void *end,
		       size_t elen, uint32_t nshards)
{
	const unsigned char *s = start, *e = end;
	uint64_t n, m;
	size_t p;

	if (s == NULL || e == NULL)
		return -1;
	/* Both begin with the same "<word>:<n>:". */
	p = parse(s, slen, &n);
	if (p == 0 || p >= slen || s[p] != ':' || parse(e, elen, &m) != p ||
	    elen <= p || memcmp(s, e, p + 1) != 0)
		return -1;
	return (int)(n % nshards);
}
