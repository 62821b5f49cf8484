/*
 * keys.c - random streams (splitmix64), YCSB's scrambled zipfian choice,
 * and the key and value bytes of bench/workloads.md.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "lg.h"

void lg_rng_seed(struct lg_rng *r, uint64_t seed)
{
	r->s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
}

uint64_t lg_rng_next(struct lg_rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

uint64_t lg_rng_below(struct lg_rng *r, uint64_t n)
{
	return n ? lg_rng_next(r) % n : 0;
}

double lg_rng_unit(struct lg_rng *r)
{
	return (double)(lg_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* YCSB's ScrambledZipfianGenerator: a zipfian draw (Gray et al., "Quickly
 * generating billion-record synthetic databases") over a fixed space of
 * 10^10 items, whose zeta constant YCSB precomputes for theta 0.99, then
 * FNV-1a-64 hashed (YCSB's fnvhash64, its Math.abs included) modulo the
 * real item count. The popular items are thus spread over the key space,
 * the hottest gets about 3.8% of the draws whatever n is, and the
 * bench/etcd driver draws the same distribution. */
#define YCSB_ITEMS 10000000000.0
#define YCSB_THETA 0.99
#define YCSB_ZETAN 26.46902820178302 /* zeta(10^10, 0.99) */

void lg_zipf_init(struct lg_zipf *z, uint64_t n)
{
	double zeta2 = 1.0 + pow(0.5, YCSB_THETA);

	z->n = n ? n : 1;
	z->alpha = 1.0 / (1.0 - YCSB_THETA);
	z->eta = (1.0 - pow(2.0 / YCSB_ITEMS, 1.0 - YCSB_THETA)) /
		 (1.0 - zeta2 / YCSB_ZETAN);
	z->zeta2 = zeta2;
}

static uint64_t fnv64(uint64_t v)
{
	uint64_t h = 0xCBF29CE484222325ull;
	int64_t s;

	for (int i = 0; i < 8; i++) {
		h ^= v & 0xff;
		h *= 0x100000001B3ull;
		v >>= 8;
	}
	s = (int64_t)h;
	return s < 0 && s != INT64_MIN ? (uint64_t)-s : (uint64_t)s;
}

uint64_t lg_zipf_next(const struct lg_zipf *z, struct lg_rng *r)
{
	double u = lg_rng_unit(r), uz = u * YCSB_ZETAN;
	uint64_t rank;

	if (uz < 1.0)
		rank = 0;
	else if (uz < z->zeta2)
		rank = 1;
	else
		rank = (uint64_t)(YCSB_ITEMS *
				  pow(z->eta * u - z->eta + 1.0, z->alpha));
	return fnv64(rank) % z->n;
}

size_t lg_record_key(char *buf, uint64_t i)
{
	return (size_t)sprintf(buf, "k{%07llu}%09llu",
			       (unsigned long long)(i / 100),
			       (unsigned long long)i);
}

size_t lg_group_end(char *buf, uint64_t i)
{
	return (size_t)sprintf(buf, "k{%07llu}\xff",
			       (unsigned long long)(i / 100));
}

size_t lg_account_key(char *buf, uint64_t j, int redis)
{
	return (size_t)sprintf(buf, redis ? "{acct}:%06llu" : "acct:%06llu",
			       (unsigned long long)j);
}

void lg_fill_value(char *v, size_t len, struct lg_rng *r)
{
	static const char set[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

	for (size_t i = 0; i < len; i++)
		v[i] = set[lg_rng_below(r, sizeof(set) - 1)];
}
