/*
 * bad_shardfn.c - misbehaving custom sharding functions for test_shard:
 * each breaks one rule of include/dkv_shardfn.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dkv_shardfn.h"

DKV_SHARDFN_EXPORT uint32_t always_out(const void *key, size_t klen,
				       uint32_t nshards);
DKV_SHARDFN_EXPORT uint32_t sometimes_out(const void *key, size_t klen,
					  uint32_t nshards);
DKV_SHARDFN_EXPORT uint32_t first_byte(const void *key, size_t klen,
				       uint32_t nshards);
DKV_SHARDFN_EXPORT int first_byte_range(const void *start, size_t slen,
					const void *end, size_t elen,
					uint32_t nshards);
DKV_SHARDFN_EXPORT uint32_t liar(const void *key, size_t klen,
				 uint32_t nshards);
DKV_SHARDFN_EXPORT int liar_range(const void *start, size_t slen,
				  const void *end, size_t elen,
				  uint32_t nshards);
DKV_SHARDFN_EXPORT int not_a_function;
int not_a_function = 1;

/* Out of range for every key: loading must fail on the probes. */
uint32_t always_out(const void *key, size_t klen, uint32_t nshards)
{
	(void)key;
	(void)klen;
	return nshards;
}

/* Out of range only for keys starting "bad": passes the probes, fails the
 * lookup of such a key. */
uint32_t sometimes_out(const void *key, size_t klen, uint32_t nshards)
{
	if (klen >= 3 && memcmp(key, "bad", 3) == 0)
		return nshards + 7;
	return klen % nshards;
}

/* A correct one: the first byte, and a correct range function. */
uint32_t first_byte(const void *key, size_t klen, uint32_t nshards)
{
	return klen ? *(const unsigned char *)key % nshards : 0;
}

int first_byte_range(const void *start, size_t slen, const void *end,
		     size_t elen, uint32_t nshards)
{
	const unsigned char *s = start, *e = end;

	/* [start, end) within one first byte b: start begins with b and end
	 * is at most b+1 with nothing after, or begins with b too. */
	if (s == NULL || e == NULL || slen == 0 || elen == 0)
		return -1;
	if (s[0] == e[0] || (elen == 1 && e[0] == s[0] + 1))
		return s[0] % nshards;
	return -1;
}

/* A range function that contradicts its key function. */
uint32_t liar(const void *key, size_t klen, uint32_t nshards)
{
	(void)key;
	(void)klen;
	(void)nshards;
	return 0;
}

int liar_range(const void *start, size_t slen, const void *end, size_t elen,
	       uint32_t nshards)
{
	(void)start;
	(void)slen;
	(void)end;
	(void)elen;
	return (int)(nshards - 1);
}
