/*
 * hist.c - latency histograms of dkv-bench: log-linear buckets that keep
 * the top LG_HIST_SUB significant bits of a value in nanoseconds, so a
 * bucket's width is at most 1/128 of its lower bound (a percentile read
 * from the bucket's middle is within 0.4% of the true sample). Values
 * below 256 ns are exact. Fixed size, no allocation: adding is an
 * increment, merging is a sum.
 */
#include <string.h>

#include "lg.h"

void lg_hist_init(struct lg_hist *h)
{
	memset(h, 0, sizeof(*h));
}

static unsigned bucket_of(uint64_t v)
{
	unsigned msb, shift;
	uint64_t m;

	if (v < (1u << LG_HIST_SUB))
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - (LG_HIST_SUB - 1);
	m = v >> shift; /* in [128, 255] */
	if (shift > 40)
		return LG_HIST_BUCKETS - 1;
	return 256u + (shift - 1) * 128u + (unsigned)(m - 128);
}

/* Middle of bucket i, in ns. */
static double bucket_mid(unsigned i)
{
	unsigned shift;
	uint64_t m;

	if (i < 256)
		return (double)i;
	shift = (i - 256) / 128 + 1;
	m = 128 + (i - 256) % 128;
	return ((double)(m << shift) + (double)(((m + 1) << shift) - 1)) / 2;
}

void lg_hist_add(struct lg_hist *h, uint64_t ns)
{
	if (h->n == 0 || ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
	h->n++;
	h->sum += (double)ns;
	h->b[bucket_of(ns)]++;
}

void lg_hist_merge(struct lg_hist *into, const struct lg_hist *h)
{
	if (h->n == 0)
		return;
	if (into->n == 0 || h->min < into->min)
		into->min = h->min;
	if (h->max > into->max)
		into->max = h->max;
	into->n += h->n;
	into->sum += h->sum;
	for (unsigned i = 0; i < LG_HIST_BUCKETS; i++)
		into->b[i] += h->b[i];
}

double lg_hist_pct(const struct lg_hist *h, double p)
{
	uint64_t rank, seen = 0;
	double v;

	if (h->n == 0)
		return 0;
	if (p <= 0)
		return (double)h->min;
	if (p >= 100)
		return (double)h->max;
	rank = (uint64_t)(p / 100.0 * (double)h->n);
	if ((double)rank < p / 100.0 * (double)h->n)
		rank++; /* ceil */
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			v = bucket_mid(i);
			/* The extremes are known exactly. */
			if (v < (double)h->min)
				v = (double)h->min;
			if (v > (double)h->max)
				v = (double)h->max;
			return v;
		}
	}
	return (double)h->max;
}
