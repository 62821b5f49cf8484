/*
 * txn_msg.h - every message of the transaction protocol, as ONE X-macro
 * schema (docs/txn.md, "Messages").
 *
 * TXN_MSGS lists the message types; TXN_FIELDS_<name> lists the fields of
 * each, as (kind, name). The kinds are few (TXN_FT_*), so whoever moves
 * messages generates its code from this schema: the structs and the deep
 * copy below (msg.c, used by the simulator, which passes structs), and
 * later dkvd's RESP encoding (`DKV.TXN <type> <field>...`, one bulk string
 * per scalar, each list as its count and then its elements' members,
 * flattened: src/proto/txn_wire.h).
 *
 * Memory: a struct txn_msg handed to io.send() points at the sender's
 * memory (keys, values, lists), valid only during the send() call; the
 * transport copies or encodes what it needs. A message handed to a
 * receive function (txn_part_recv, txn_coord_recv) is borrowed for the
 * call: the core copies what it keeps. txn_msg_copy() makes a deep copy
 * that owns everything it points at, freed by txn_msg_free().
 *
 * Every epoch field received is merged into the receiver's HLC where the
 * protocol says so (ts, sent, proposed, tc); see participant and coord.
 */
#ifndef DKV_TXN_MSG_H
#define DKV_TXN_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "txn/txid.h"

/* A byte string. Borrowed (see above) unless a copy says otherwise. */
struct txn_bytes {
	const char *p;
	uint32_t len;
};

enum txn_wkind {
	TXN_W_PUT = 1,
	TXN_W_DEL = 2,
};

/* A buffered write: key := val (PUT) or key deleted (DEL). */
struct txn_write {
	uint32_t shard;
	uint32_t kind; /* enum txn_wkind */
	struct txn_bytes key;
	struct txn_bytes val; /* empty for DEL */
};

/* A point read: the epoch of the version read (0 if none). */
struct txn_read {
	uint32_t shard;
	uint32_t pad_;
	struct txn_bytes key;
	uint64_t epoch;
};

/* A range read: [start, end) of one shard; empty start = from the first
 * key, empty end = through the last. */
struct txn_range {
	uint32_t shard;
	uint32_t pad_;
	struct txn_bytes start;
	struct txn_bytes end;
};

/* One key of a range reply: its newest visible version at the read epoch. */
struct txn_item {
	struct txn_bytes key;
	struct txn_bytes val;
	uint64_t epoch;
};

struct txn_writes { struct txn_write *v; uint32_t n; };
struct txn_reads { struct txn_read *v; uint32_t n; };
struct txn_ranges { struct txn_range *v; uint32_t n; };
struct txn_items { struct txn_item *v; uint32_t n; };
struct txn_u32s { uint32_t *v; uint32_t n; };

/* Field kinds and their C types. */
#define TXN_FT_U8 uint8_t
#define TXN_FT_U32 uint32_t
#define TXN_FT_I32 int32_t
#define TXN_FT_U64 uint64_t
#define TXN_FT_TXID struct dkv_txid
#define TXN_FT_BYTES struct txn_bytes
#define TXN_FT_WRITES struct txn_writes
#define TXN_FT_READS struct txn_reads
#define TXN_FT_RANGES struct txn_ranges
#define TXN_FT_ITEMS struct txn_items
#define TXN_FT_U32S struct txn_u32s

/*
 * The schema. X(NAME, name): the type TXN_MSG_NAME, the struct
 * txn_msg_<name>, the union member u.<name>, the field list
 * TXN_FIELDS_<name>(F) of F(KIND, field).
 */
#define TXN_MSGS(X)                                                            \
	X(READ, read)                                                          \
	X(READ_REPLY, read_reply)                                              \
	X(RANGE, range)                                                        \
	X(RANGE_REPLY, range_reply)                                            \
	X(COMMIT1, commit1)                                                    \
	X(OUTCOME, outcome)                                                    \
	X(PREPARE_L, prepare_l)                                                \
	X(PREPARE, prepare)                                                    \
	X(PREPARED, prepared)                                                  \
	X(REFUSED, refused)                                                    \
	X(COMMIT, commit)                                                      \
	X(ABORT, abort)                                                        \
	X(ACK, ack)                                                            \
	X(STATUS, status)                                                      \
	X(STATUS_REPLY, status_reply)

/* coordinator -> shard: read key at ts, uncertain up to tu. rid matches
 * the reply to the coordinator's request. */
#define TXN_FIELDS_read(F)                                                     \
	F(TXID, txid) F(U64, rid) F(U64, ts) F(U64, tu) F(BYTES, key)
/* rc: 0 found (val, epoch of the version), DKV_ERR_NOT_FOUND (epoch of
 * the tombstone or 0), DKV_ERR_TX_RESTART (epoch = the uncertain version's
 * epoch, or 0 for a restart without one; reason), another DKV_ERR_*.
 * obs: the shard's clock when it answered (0 = none), the observed
 * timestamp: every version written there later is above it, so the
 * coordinator caps the uncertainty limit of its later reads of that
 * shard at obs (CockroachDB's rule), restarts included. */
#define TXN_FIELDS_read_reply(F)                                               \
	F(TXID, txid) F(U64, rid) F(I32, rc) F(U32, reason) F(U64, epoch)      \
	F(BYTES, val) F(U64, obs)
/* coordinator -> shard: the visible keys of [start, end) at ts, at most
 * limit of them (0 = no limit). */
#define TXN_FIELDS_range(F)                                                    \
	F(TXID, txid) F(U64, rid) F(U64, ts) F(U64, tu) F(BYTES, start)       \
	F(BYTES, end) F(U32, limit)
/* items in key order; next: empty if [start, end) was read through, else
 * the range read is [start, next) and a further call starts at next. */
#define TXN_FIELDS_range_reply(F)                                              \
	F(TXID, txid) F(U64, rid) F(I32, rc) F(U32, reason) F(U64, epoch)      \
	F(ITEMS, items) F(BYTES, next) F(U64, obs)
/* coordinator -> the one participant shard. */
#define TXN_FIELDS_commit1(F)                                                  \
	F(TXID, txid) F(U64, ts) F(U64, sent) F(WRITES, writes)               \
	F(READS, reads) F(RANGES, ranges)
/* shard -> coordinator: rc 0 = committed at tc, DKV_ERR_TX_RESTART =
 * aborted (durably: never sent before the abort is durable). */
#define TXN_FIELDS_outcome(F)                                                  \
	F(TXID, txid) F(I32, rc) F(U32, reason) F(U64, tc)
/* coordinator -> leader: every participant's writes, reads and ranges,
 * each tagged with its shard; parts = every participant shard. */
#define TXN_FIELDS_prepare_l(F)                                                \
	F(TXID, txid) F(U64, ts) F(U64, sent) F(U32S, parts)                  \
	F(WRITES, writes) F(READS, reads) F(RANGES, ranges)
/* leader -> follower: the follower's part; proposed = the leader's. */
#define TXN_FIELDS_prepare(F)                                                  \
	F(TXID, txid) F(U64, ts) F(U64, sent) F(U32, leader)                  \
	F(U64, proposed) F(WRITES, writes) F(READS, reads) F(RANGES, ranges)
#define TXN_FIELDS_prepared(F) F(TXID, txid) F(U64, proposed)
#define TXN_FIELDS_refused(F) F(TXID, txid) F(U32, reason)
#define TXN_FIELDS_commit(F) F(TXID, txid) F(U64, tc)
#define TXN_FIELDS_abort(F) F(TXID, txid)
#define TXN_FIELDS_ack(F) F(TXID, txid)
/* anyone -> leader (or the COMMIT1 shard). sent: the transaction's, for
 * the tombstone's life when the leader records ABORTED for an unknown
 * txid (abort_if_unknown). */
#define TXN_FIELDS_status(F)                                                   \
	F(TXID, txid) F(U64, sent) F(U8, abort_if_unknown)
/* state: enum txn_status; tc when COMMITTED. */
#define TXN_FIELDS_status_reply(F) F(TXID, txid) F(U8, state) F(U64, tc)

enum txn_msg_type {
	TXN_MSG_NONE_ = 0,
#define TXN_MSG_ENUM_(NAME, name) TXN_MSG_##NAME,
	TXN_MSGS(TXN_MSG_ENUM_)
#undef TXN_MSG_ENUM_
	TXN_MSG_COUNT_
};

#define TXN_FIELD_DECL_(KIND, field) TXN_FT_##KIND field;
#define TXN_MSG_STRUCT_(NAME, name)                                            \
	struct txn_msg_##name {                                                \
		TXN_FIELDS_##name(TXN_FIELD_DECL_)                             \
	};
TXN_MSGS(TXN_MSG_STRUCT_)
#undef TXN_MSG_STRUCT_

enum txn_status {
	TXN_ST_UNKNOWN = 0,   /* no record (presumed abort if asked to) */
	TXN_ST_PREPARING = 1, /* not decided yet, or decision not durable */
	TXN_ST_COMMITTED = 2, /* committed at tc */
	TXN_ST_ABORTED = 3,
};

/* Why a transaction restarts: reason fields, stats. */
#define TXN_REASONS(X)                                                         \
	X(NONE, "none")                                                        \
	X(WW, "write-write conflict")                                          \
	X(RW, "read set changed")                                              \
	X(LOCKED, "locked (wait-die)")                                         \
	X(UNCERTAIN, "uncertain read")                                         \
	X(CLOCK, "clock offset")                                               \
	X(TIMEOUT, "timeout")                                                  \
	X(BUSY, "too many waiters")                                            \
	X(TOO_OLD, "request older than the horizon")                          \
	X(IO, "store error")                                                   \
	X(ABORTED, "aborted by the leader")                                    \
	X(PREPARE, "a participant refused")

enum txn_reason {
#define TXN_REASON_ENUM_(N, text) TXN_R_##N,
	TXN_REASONS(TXN_REASON_ENUM_)
#undef TXN_REASON_ENUM_
	TXN_R_COUNT_
};

enum txn_addr_kind {
	TXN_ADDR_NONE = 0,
	TXN_ADDR_SHARD = 1, /* id = shard id: the node hosting it */
	TXN_ADDR_COORD = 2, /* id = coordinator id (txn_coord_create) */
};

struct txn_addr {
	uint32_t kind; /* enum txn_addr_kind */
	uint32_t pad_;
	uint64_t id;
};

struct txn_msg {
	enum txn_msg_type type;
	struct txn_addr from; /* replies go here */
	struct txn_addr to;
	union {
#define TXN_MSG_MEMBER_(NAME, name) struct txn_msg_##name name;
		TXN_MSGS(TXN_MSG_MEMBER_)
#undef TXN_MSG_MEMBER_
	} u;
};

/* "READ", "PREPARE_L", ...; "?" outside the schema. Static. */
const char *txn_msg_name(enum txn_msg_type type);
const char *txn_reason_name(unsigned reason);

/* The txid of any message (every type carries one). */
const struct dkv_txid *txn_msg_txid(const struct txn_msg *msg);

/* Deep copy of src into dst: dst owns every byte it points at until
 * txn_msg_free(dst). 0 or DKV_ERR_NOMEM (dst then holds nothing). */
int txn_msg_copy(struct txn_msg *dst, const struct txn_msg *src);
/* Frees what a txn_msg_copy() allocated; dst is zeroed. */
void txn_msg_free(struct txn_msg *msg);

#endif /* DKV_TXN_MSG_H */
