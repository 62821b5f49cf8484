/*
 * record.h - the durable records of the transaction layer, in a shard's
 * plain column family (formats: src/store/layout.h, "Transaction records";
 * protocol: docs/txn.md, "Durable records").
 *
 *   "T" + txid            leader's transaction record  (struct txn_rec_tx)
 *   "F" + txid            follower's log entry          (struct txn_rec_tx)
 *   "D" + txid            outcome tombstone             (struct txn_rec_done)
 *   "I" + user key + txid an intent: put, delete or read lock
 *
 * txid: be64 hi | be64 lo. Integers in values are little-endian. Every
 * decoder checks every length and count against the input and the bounds
 * below and returns DKV_ERR_CORRUPT on anything else, trailing bytes
 * included; it never reads outside [p, p + len).
 */
#ifndef DKV_TXN_RECORD_H
#define DKV_TXN_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "txn/txn_msg.h"
#include "txn/util.h"

#define TXN_REC_VERSION 1
#define TXN_REC_TX 'T'
#define TXN_REC_FOLLOW 'F'
#define TXN_REC_DONE 'D'
#define TXN_REC_INTENT 'I'
#define TXN_REC_TXID_LEN 16
#define TXN_REC_TXID_KEY_LEN 17 /* kind byte + txid */
#define TXN_REC_DONE_LEN 18

/* Decode bounds (a record beyond them is corrupt). */
#define TXN_REC_MAX_PARTS 65536u
#define TXN_REC_MAX_RANGES 65536u
#define TXN_REC_MAX_KEY (1u << 20) /* the store's hard key ceiling */

enum txn_rec_state {
	TXN_REC_PREPARING = 1, /* T: prepare sent, outcome undecided */
	TXN_REC_COMMITTED = 2, /* T: the commit point, at tc */
	TXN_REC_PREPARED = 3,  /* F: intents placed, waiting for the outcome */
};

enum txn_rec_outcome {
	TXN_REC_OUT_COMMITTED = 1,
	TXN_REC_OUT_ABORTED = 2,
};

enum txn_rec_ikind {
	TXN_REC_I_PUT = 1,
	TXN_REC_I_DEL = 2,
	TXN_REC_I_READ = 3, /* read lock */
};

/* "T" (leader) and "F" (follower): one format. */
struct txn_rec_tx {
	uint8_t state;   /* enum txn_rec_state */
	uint32_t leader; /* the leader shard (for T: the shard itself) */
	uint64_t ts, sent, proposed;
	uint64_t tc;     /* T COMMITTED: the commit epoch; else 0 */
	/* T: every participant shard, the leader included. F: none.
	 * After decode: v malloc'ed (txn_rec_tx_release). */
	struct txn_u32s parts;
	/* The shard's own range locks. After decode: v malloc'ed, the byte
	 * strings point into the decoded input (valid as long as it is). */
	struct txn_ranges ranges;
};

struct txn_rec_done {
	uint8_t outcome; /* enum txn_rec_outcome */
	uint64_t sent;   /* collected once now > sent + horizon */
	uint64_t tc;     /* committed: the commit epoch; aborted: 0 */
};

/* Keys. */
void txn_rec_txid_key(char out[TXN_REC_TXID_KEY_LEN], char kind,
		      const struct dkv_txid *id);
int txn_rec_txid_key_parse(const char *key, size_t klen, char *kind,
			   struct dkv_txid *id);
/* Appends "I" + key + txid to b (check b->failed). */
void txn_rec_intent_key(struct txn_buf *b, const char *key, size_t klen,
			const struct dkv_txid *id);
/* *ukey points into key. */
int txn_rec_intent_key_parse(const char *key, size_t klen, const char **ukey,
			     size_t *uklen, struct dkv_txid *id);

/* Values: encoders append to b (0 or DKV_ERR_NOMEM). */
int txn_rec_tx_encode(struct txn_buf *b, const struct txn_rec_tx *r);
/* 0 or DKV_ERR_CORRUPT / DKV_ERR_NOMEM; on success release r later. */
int txn_rec_tx_decode(const char *p, size_t len, struct txn_rec_tx *r);
void txn_rec_tx_release(struct txn_rec_tx *r);

void txn_rec_done_encode(char out[TXN_REC_DONE_LEN],
			 const struct txn_rec_done *r);
int txn_rec_done_decode(const char *p, size_t len, struct txn_rec_done *r);

int txn_rec_intent_encode(struct txn_buf *b, unsigned kind, const char *val,
			  size_t vlen);
/* *val points into p. */
int txn_rec_intent_decode(const char *p, size_t len, unsigned *kind,
			  const char **val, size_t *vlen);

#endif /* DKV_TXN_RECORD_H */
