/*
 * fake_io.h - a hand-driven io for the transaction core's unit tests: a
 * small multi-version store, batches that complete only when the test
 * calls fake_flush(), an outbox of sent messages the test takes one by
 * one, and a clock the test sets. One fake serves any number of shards
 * (one node) and coordinators.
 */
#ifndef DKV_TESTS_TXN_FAKE_IO_H
#define DKV_TESTS_TXN_FAKE_IO_H

#include <stddef.h>
#include <stdint.h>

#include "hlc/hlc.h"
#include "txn/txn_io.h"

#define FAKE_MAX 512

struct fake_ver {
	uint32_t shard;
	char key[64];
	size_t klen;
	uint64_t epoch;
	int del;
	char val[256];
	size_t vlen;
};

struct fake_plain {
	uint32_t shard;
	char key[128];
	size_t klen;
	char val[512];
	size_t vlen;
};

struct fake_pend {
	struct txn_batch b; /* deep copy */
	txn_done_fn done;
	void *arg;
};

struct fake {
	struct fake_ver ver[FAKE_MAX];
	size_t nver;
	struct fake_plain pl[FAKE_MAX];
	size_t npl;
	struct fake_pend pend[64];
	size_t npend;
	struct txn_msg out[256]; /* deep copies */
	size_t nout;
	uint64_t now_ms;
	uint64_t wall_ns; /* physical clock of the HLC */
	uint64_t rand;
	struct dkv_hlc *hlc;
};

/* wall_ns starts at 2026-01-01; an HLC over it (no persisted bound). */
void fake_init(struct fake *f);
void fake_fini(struct fake *f);
void fake_io(struct fake *f, struct txn_io *io);
void fake_coord_io(struct fake *f, struct txn_coord_io *io);
/* Completes every pending batch in order (applies it); returns how many. */
size_t fake_flush(struct fake *f);
/* Drops every pending batch (a crash). */
void fake_drop(struct fake *f);
/* Removes and returns (in *out, to txn_msg_free) the first sent message
 * of that type; 0, or -1 if there is none. */
int fake_take(struct fake *f, enum txn_msg_type type, struct txn_msg *out);
size_t fake_count(const struct fake *f, enum txn_msg_type type);
void fake_clear(struct fake *f);
/* Advances both clocks. */
void fake_advance(struct fake *f, uint64_t ms);
/* Writes a version directly (initial data). */
void fake_put(struct fake *f, uint32_t shard, const char *key, const char *val,
	      uint64_t epoch);
/* The newest version of key (NULL if none); plain record lookups. */
const struct fake_ver *fake_newest(const struct fake *f, uint32_t shard,
				   const char *key);
size_t fake_plain_count(const struct fake *f, uint32_t shard, char prefix);

#endif
