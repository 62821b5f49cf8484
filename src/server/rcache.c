/*
 * rcache.c - the newest-value cache (rcache.h): an open-addressing hash
 * table of (shard, key) -> newest version, with linear probing, backward
 * shift deletion (no tombstones) and CLOCK eviction.
 */
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "dkv_err.h"
#include "server/rcache.h"

struct rc_entry {
	uint64_t hash;
	uint64_t epoch;
	uint32_t shard;
	uint32_t klen;
	uint32_t vlen;
	uint8_t found;
	uint8_t ref;   /* CLOCK: used since the hand last passed */
	char data[];   /* key, then value */
};

#define RC_MIN_CAP 1024u
/* Bookkeeping per entry beyond key and value: the struct, the slot and
 * the allocator's header. */
#define RC_OVERHEAD (sizeof(struct rc_entry) + 2 * sizeof(void *) + 16)

static size_t entry_bytes(const struct rc_entry *e)
{
	return RC_OVERHEAD + e->klen + e->vlen;
}

static uint64_t hash_key(uint32_t shard, const char *key, size_t klen)
{
	return XXH3_64bits_withSeed(key, klen, shard);
}

int rcache_init(struct rcache *c, size_t max_bytes)
{
	memset(c, 0, sizeof(*c));
	c->max_bytes = max_bytes;
	if (max_bytes == 0)
		return DKV_OK;
	c->slots = calloc(RC_MIN_CAP, sizeof(*c->slots));
	if (c->slots == NULL)
		return DKV_ERR_NOMEM;
	c->cap = RC_MIN_CAP;
	return DKV_OK;
}

void rcache_clear(struct rcache *c)
{
	for (size_t i = 0; i < c->cap; i++) {
		free(c->slots[i]);
		c->slots[i] = NULL;
	}
	c->count = 0;
	c->bytes = 0;
	c->gen++;
}

void rcache_free(struct rcache *c)
{
	rcache_clear(c);
	free(c->slots);
	c->slots = NULL;
	c->cap = 0;
}

/* The slot holding (shard, key), or the empty slot where it would go. */
static size_t probe(const struct rcache *c, uint64_t h, uint32_t shard,
		    const char *key, size_t klen)
{
	size_t mask = c->cap - 1, i = (size_t)h & mask;

	for (;;) {
		const struct rc_entry *e = c->slots[i];

		if (e == NULL ||
		    (e->hash == h && e->shard == shard && e->klen == klen &&
		     memcmp(e->data, key, klen) == 0))
			return i;
		i = (i + 1) & mask;
	}
}

/* Removes the entry in slot i and closes the gap (backward shift). */
static void remove_at(struct rcache *c, size_t i)
{
	size_t mask = c->cap - 1, j = i;

	c->bytes -= entry_bytes(c->slots[i]);
	free(c->slots[i]);
	c->slots[i] = NULL;
	c->count--;
	c->gen++;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (c->slots[j] == NULL)
			return;
		home = (size_t)c->slots[j]->hash & mask;
		/* Move slots[j] into the gap at i unless its home lies in
		 * (i, j], cyclically. */
		if ((j > i && (home <= i || home > j)) ||
		    (j < i && (home <= i && home > j))) {
			c->slots[i] = c->slots[j];
			c->slots[j] = NULL;
			i = j;
		}
	}
}

/* Evicts entries (CLOCK) until need more bytes fit. */
static void make_room(struct rcache *c, size_t need)
{
	size_t spins = 0;

	while (c->count > 0 && c->bytes + need > c->max_bytes &&
	       spins < 4 * c->cap) {
		struct rc_entry *e;

		c->hand &= c->cap - 1;
		e = c->slots[c->hand];
		spins++;
		if (e == NULL) {
			c->hand++;
		} else if (e->ref) {
			e->ref = 0;
			c->hand++;
		} else {
			remove_at(c, c->hand); /* may shift a new one here */
			c->evictions++;
		}
	}
}

/* Doubles the table when it is half full. Failure keeps the old one. */
static void maybe_grow(struct rcache *c)
{
	struct rc_entry **old = c->slots;
	size_t oldcap = c->cap, ncap = c->cap * 2;
	struct rc_entry **slots;

	if (2 * (c->count + 1) <= c->cap)
		return;
	slots = calloc(ncap, sizeof(*slots));
	if (slots == NULL)
		return;
	c->slots = slots;
	c->cap = ncap;
	for (size_t i = 0; i < oldcap; i++) {
		struct rc_entry *e = old[i];
		size_t j;

		if (e == NULL)
			continue;
		j = (size_t)e->hash & (ncap - 1);
		while (slots[j] != NULL)
			j = (j + 1) & (ncap - 1);
		slots[j] = e;
	}
	free(old);
}

int rcache_get(struct rcache *c, uint32_t shard, const char *key, size_t klen,
	       struct rcache_hit *hit)
{
	struct rc_entry *e;

	if (c->cap == 0)
		return 0;
	e = c->slots[probe(c, hash_key(shard, key, klen), shard, key, klen)];
	if (e == NULL) {
		c->misses++;
		return 0;
	}
	e->ref = 1;
	c->hits++;
	hit->epoch = e->epoch;
	hit->found = e->found;
	hit->data = e->data + e->klen;
	hit->len = e->vlen;
	return 1;
}

/* Installs (epoch, value) for the key unless a newer entry is there. */
static void install(struct rcache *c, uint32_t shard, const char *key,
		    size_t klen, uint64_t epoch, int found, const char *data,
		    size_t len)
{
	uint64_t h = hash_key(shard, key, klen);
	size_t i = probe(c, h, shard, key, klen), need;
	struct rc_entry *e = c->slots[i];

	if (e != NULL && e->epoch > epoch)
		return;
	if (!found)
		len = 0;
	need = RC_OVERHEAD + klen + len;
	if (e != NULL && e->vlen == len) { /* same size: in place */
		e->epoch = epoch;
		e->found = (uint8_t)found;
		if (len)
			memcpy(e->data + klen, data, len);
		e->ref = 1;
		return;
	}
	if (e != NULL)
		remove_at(c, i); /* bumps gen */
	if (len > c->max_bytes / 64 || klen > UINT32_MAX) {
		c->gen++; /* not kept: like a forget (rule 3) */
		return;
	}
	make_room(c, need);
	maybe_grow(c);
	e = malloc(sizeof(*e) + klen + len);
	if (e == NULL)
		return;
	e->hash = h;
	e->epoch = epoch;
	e->shard = shard;
	e->klen = (uint32_t)klen;
	e->vlen = (uint32_t)len;
	e->found = (uint8_t)found;
	e->ref = 0;
	memcpy(e->data, key, klen);
	if (len)
		memcpy(e->data + klen, data, len);
	c->slots[probe(c, h, shard, key, klen)] = e;
	c->count++;
	c->bytes += need;
}

void rcache_fill(struct rcache *c, uint64_t gen, uint32_t shard,
		 const char *key, size_t klen, uint64_t epoch, int found,
		 const char *data, size_t len)
{
	if (c->cap == 0 || (gen != RCACHE_GEN_NOW && gen != c->gen))
		return;
	c->fills++;
	install(c, shard, key, klen, epoch, found, data, len);
}

void rcache_written(struct rcache *c, uint32_t shard, const char *key,
		    size_t klen, uint64_t epoch, int found, const char *data,
		    size_t len)
{
	if (c->cap == 0)
		return;
	install(c, shard, key, klen, epoch, found, data, len);
}

void rcache_forget(struct rcache *c, uint32_t shard, const char *key,
		   size_t klen)
{
	size_t i;

	if (c->cap == 0)
		return;
	i = probe(c, hash_key(shard, key, klen), shard, key, klen);
	if (c->slots[i] != NULL)
		remove_at(c, i);
	else
		c->gen++; /* an off-loop read may hold an older answer */
}
