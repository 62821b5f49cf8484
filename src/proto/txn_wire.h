/*
 * txn_wire.h - the transaction protocol's messages (struct txn_msg) on the
 * wire, as RESP commands, generated from the one schema in txn/txn_msg.h.
 * Format, limits and error cases: docs/proto.md, "Transaction messages on
 * the wire".
 *
 * A message is one flat RESP array of bulk strings (a command, which is all
 * dkvd's request parser accepts):
 *
 *   DKV.TXN <TYPE> <from kind> <from id> <to kind> <to id> <field>...
 *
 * with the fields in schema order: U8/U32/I32/U64 as canonical decimal
 * text, TXID as 32 lowercase hex digits (hi then lo), BYTES as one bulk
 * (binary, may be empty), and each list (WRITES, READS, RANGES, ITEMS,
 * U32S) as a decimal count followed by that many groups of its members
 * (TXN_WIRE_ELEM_* below), flattened. A node that answers a request with a
 * message sends the same array as its reply, so one decoder serves both.
 *
 * Generic: the codec walks TXN_MSGS / TXN_FIELDS_<name> with X-macros, so a
 * message or a field added to the schema needs no change here. A new field
 * KIND (TXN_FT_*) does: it fails to compile (no enc_<KIND> function) until
 * the codec learns it. A new member of an element struct (struct txn_write,
 * ...) fails a static assertion in txn_wire.c until TXN_WIRE_ELEM_* lists
 * it.
 *
 * Depends on the schema header only (no function of the src/txn/ sources). No I/O,
 * no global state; all calls are thread-safe on distinct arguments.
 */
#ifndef DKV_PROTO_TXN_WIRE_H
#define DKV_PROTO_TXN_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "dkv_err.h"
#include "proto/resp.h"
#include "txn/txn_msg.h"

/* The command name, always argument 0, matched exactly (case included).
 * DKV.TXNQ is the same message sent one way between nodes: the receiver
 * never answers it (no "+OK"), so the sender keeps no reply slot. */
#define TXN_WIRE_CMD "DKV.TXN"
#define TXN_WIRE_CMD_ONEWAY "DKV.TXNQ"
/* DKV.TXN, type, from kind, from id, to kind, to id. */
#define TXN_WIRE_HEAD_ARGS 6

/*
 * The wire members of one element of each list kind, in wire order:
 * M(KIND, ACC), ACC being the member's access suffix (".shard"), empty for
 * U32S whose element is the number itself: the member is ((*(e))ACC).
 * Padding members (pad_) are not sent; a decoded element has them zeroed.
 */
#define TXN_WIRE_ELEM_WRITES(M)                                                \
	M(U32, .shard) M(U32, .kind) M(BYTES, .key) M(BYTES, .val)
#define TXN_WIRE_ELEM_READS(M) M(U32, .shard) M(BYTES, .key) M(U64, .epoch)
#define TXN_WIRE_ELEM_RANGES(M)                                                \
	M(U32, .shard) M(BYTES, .start) M(BYTES, .end)
#define TXN_WIRE_ELEM_ITEMS(M) M(BYTES, .key) M(BYTES, .val) M(U64, .epoch)
#define TXN_WIRE_ELEM_U32S(M) M(U32, )

/* The list kinds: L(KIND, element type). */
#define TXN_WIRE_LISTS(L)                                                      \
	L(WRITES, struct txn_write)                                            \
	L(READS, struct txn_read)                                              \
	L(RANGES, struct txn_range)                                            \
	L(ITEMS, struct txn_item)                                              \
	L(U32S, uint32_t)

/* --- limits --------------------------------------------------------------- */

/*
 * A BYTES field or member is a *key* when its name is key, start, end or
 * next (keys and range bounds), a *value* otherwise (val, and any BYTES
 * field the schema gains under another name). Defaults: the store's and
 * the transaction core's own bounds (DKV_STORE_DEFAULT_MAX_KEY / _VALUE,
 * txn_part_conf.max_key / max_value); a list may hold as many elements as
 * a leader's record accepts parts or ranges (TXN_REC_MAX_PARTS).
 */
#define TXN_WIRE_DEFAULT_MAX_LIST ((size_t)65536)
#define TXN_WIRE_DEFAULT_MAX_KEY ((size_t)64 << 10)
#define TXN_WIRE_DEFAULT_MAX_VALUE ((size_t)64 << 20)

struct txn_wire_limits {
	size_t max_list;  /* elements of one list field */
	size_t max_key;   /* bytes of one key (or range bound) */
	size_t max_value; /* bytes of one value (any other BYTES) */
};

/* Fills lim with the defaults. A zero field of a caller's limits takes its
 * default too; values above UINT32_MAX act as UINT32_MAX (the widths of
 * struct txn_bytes.len and of list counts). */
void txn_wire_limits_default(struct txn_wire_limits *lim);

/* --- encoding ------------------------------------------------------------- */

/*
 * Appends m to b as one RESP command (the same bytes serve as a reply).
 * All or nothing: on error b->len is unchanged. 0, DKV_ERR_INVAL (type
 * outside the schema, a BYTES with len > 0 and p NULL, a list with n > 0
 * and v NULL), DKV_ERR_TOO_BIG (b->max would be passed; also a message
 * whose size does not fit a size_t), DKV_ERR_NOMEM. Limits are not checked
 * here: the receiver's decoder applies its own.
 */
int txn_wire_encode(struct resp_buf *b, const struct txn_msg *m);
/* The same as DKV.TXNQ (one way, node to node). */
int txn_wire_encode_oneway(struct resp_buf *b, const struct txn_msg *m);

/* Exact bytes txn_wire_encode() would append; 0 if it would fail with
 * DKV_ERR_INVAL or the size overflows. */
size_t txn_wire_size(const struct txn_msg *m);

/* Arguments of the encoding (the array's count), 0 as above. */
size_t txn_wire_argc(const struct txn_msg *m);

/* --- decoding ------------------------------------------------------------- */

/*
 * Memory of a decoded message's lists. Zero-initialise it (or
 * txn_wire_mem_init) once; every decode into it first releases what it
 * held, so one mem serves a whole connection, each decoded message valid
 * until the next decode into the same mem or txn_wire_mem_free().
 * Fields are private.
 */
struct txn_wire_mem {
	void *blocks_;   /* chain of list arrays */
	char err_[160];  /* text of the last decode error */
};

void txn_wire_mem_init(struct txn_wire_mem *mem);
/* Frees the lists; mem may be reused (or dropped) afterwards. */
void txn_wire_mem_free(struct txn_wire_mem *mem);
/* One line (no CR/LF) saying why the last decode into mem failed, e.g.
 * "DKV.TXN READ: field ts (argument 8): not a decimal u64"; "" after a
 * success. Owned by mem. */
const char *txn_wire_error(const struct txn_wire_mem *mem);

/*
 * Decodes the message in argv[0..argc): the arguments of a struct
 * resp_cmd (any form: multibulk or inline) or of a reply
 * (txn_wire_reply_args). lim NULL = defaults.
 *
 * On 0, *out is the message. Its BYTES point into argv (borrowed: valid as
 * long as the argument bytes are); its lists' arrays live in *mem (valid
 * until the next decode into mem or txn_wire_mem_free). An empty list has
 * v NULL, n 0.
 *
 * Errors (*out zeroed, mem holds nothing, txn_wire_error() says why):
 *   DKV_ERR_PROTO    malformed: argv[0] not "DKV.TXN", unknown type name,
 *                    too few or too many arguments, a number not in the
 *                    canonical decimal form of its C type (digits only, a
 *                    '-' for I32 only, no leading zero, no "-0") or out of
 *                    its range, a TXID not 32 lowercase hex digits, a list
 *                    count larger than the arguments left could hold
 *                    (checked before anything is allocated);
 *   DKV_ERR_TOO_BIG  a list longer than lim->max_list, a key longer than
 *                    max_key, a value longer than max_value;
 *   DKV_ERR_NOMEM.
 * Every list allocation is bounded by the arguments actually present: a
 * list of n elements of g wire members needs n * g arguments, so its array
 * costs at most sizeof(element) / g bytes per argument (about 14 on LP64),
 * less than the request parser itself keeps per argument (24).
 */
int txn_wire_decode(size_t argc, const char *const *argv,
		    const size_t *argvlen, const struct txn_wire_limits *lim,
		    struct txn_msg *out, struct txn_wire_mem *mem);

/* The same on a parsed command (c->argc, c->argv, c->argvlen). */
int txn_wire_decode_cmd(const struct resp_cmd *c,
			const struct txn_wire_limits *lim,
			struct txn_msg *out, struct txn_wire_mem *mem);

/*
 * The same on a reply: r must be a RESP_ARRAY whose elements are all
 * RESP_BULK (anything else, an error reply included: DKV_ERR_PROTO).
 * BYTES of *out point into the reply's strings (valid as long as the reply
 * tree is). Allocates no argument arrays.
 */
int txn_wire_decode_reply(const struct resp_reply *r,
			  const struct txn_wire_limits *lim,
			  struct txn_msg *out, struct txn_wire_mem *mem);

/* Arguments extracted from a reply that is an array of bulk strings. */
struct txn_wire_args {
	size_t argc;
	const char **argv;  /* argv[i] = r->elems[i].str (borrowed) */
	size_t *argvlen;
};

/* Fills a from r (RESP_ARRAY of RESP_BULK only, else DKV_ERR_PROTO, a
 * zeroed); the two arrays are malloc'ed (DKV_ERR_NOMEM), r->n entries each
 * (bounded by the reply parser's max_args). txn_wire_args_free(). */
int txn_wire_reply_args(const struct resp_reply *r, struct txn_wire_args *a);
void txn_wire_args_free(struct txn_wire_args *a);

/* "READ", "PREPARE_L", ... (the wire's type names, from the schema);
 * NULL outside the schema. Static. */
const char *txn_wire_type_name(enum txn_msg_type type);

#endif /* DKV_PROTO_TXN_WIRE_H */
