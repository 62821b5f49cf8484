/*
 * record.c - encode and decode the durable records (record.h).
 *
 * Happy path: the encoders append fixed fields then length-prefixed
 * strings; the decoders read them back through a cursor that refuses to
 * pass the end.
 * Failure modes: a truncated value, a length or count past the input or
 * the bounds, an unknown version, state or kind, trailing bytes ->
 * DKV_ERR_CORRUPT; out of memory -> DKV_ERR_NOMEM.
 */
#include "txn/record.h"

#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"

/* A bounded reader: every get fails once the input is exhausted. */
struct cur {
	const char *p;
	size_t left;
	int bad;
};

static const char *cur_take(struct cur *c, size_t n)
{
	const char *p;

	if (c->bad || n > c->left) {
		c->bad = 1;
		return NULL;
	}
	p = c->p;
	c->p += n;
	c->left -= n;
	return p;
}

static uint8_t cur_u8(struct cur *c)
{
	const char *p = cur_take(c, 1);

	return p ? (uint8_t)*p : 0;
}

static uint32_t cur_le32(struct cur *c)
{
	const char *p = cur_take(c, 4);

	return p ? txn_get_le32(p) : 0;
}

static uint64_t cur_le64(struct cur *c)
{
	const char *p = cur_take(c, 8);

	return p ? txn_get_le64(p) : 0;
}

static void cur_bytes(struct cur *c, struct txn_bytes *out)
{
	uint32_t n = cur_le32(c);
	const char *p;

	out->p = NULL;
	out->len = 0;
	if (n > TXN_REC_MAX_KEY) {
		c->bad = 1;
		return;
	}
	p = cur_take(c, n);
	if (p != NULL && n > 0) {
		out->p = p;
		out->len = n;
	}
}

static void put_txid(char *out, const struct dkv_txid *id)
{
	for (int i = 0; i < 8; i++) {
		out[i] = (char)(id->hi >> (56 - 8 * i));
		out[8 + i] = (char)(id->lo >> (56 - 8 * i));
	}
}

static void get_txid(const char *p, struct dkv_txid *id)
{
	id->hi = txn_get_be64(p);
	id->lo = txn_get_be64(p + 8);
}

void txn_rec_txid_key(char out[TXN_REC_TXID_KEY_LEN], char kind,
		      const struct dkv_txid *id)
{
	out[0] = kind;
	put_txid(out + 1, id);
}

int txn_rec_txid_key_parse(const char *key, size_t klen, char *kind,
			   struct dkv_txid *id)
{
	if (klen != TXN_REC_TXID_KEY_LEN)
		return DKV_ERR_CORRUPT;
	if (key[0] != TXN_REC_TX && key[0] != TXN_REC_FOLLOW &&
	    key[0] != TXN_REC_DONE)
		return DKV_ERR_CORRUPT;
	*kind = key[0];
	get_txid(key + 1, id);
	return 0;
}

void txn_rec_intent_key(struct txn_buf *b, const char *key, size_t klen,
			const struct dkv_txid *id)
{
	char t[TXN_REC_TXID_LEN];

	put_txid(t, id);
	txn_buf_u8(b, TXN_REC_INTENT);
	txn_buf_add(b, key, klen);
	txn_buf_add(b, t, sizeof(t));
}

int txn_rec_intent_key_parse(const char *key, size_t klen, const char **ukey,
			     size_t *uklen, struct dkv_txid *id)
{
	if (klen < 1 + 1 + TXN_REC_TXID_LEN || key[0] != TXN_REC_INTENT ||
	    klen - 1 - TXN_REC_TXID_LEN > TXN_REC_MAX_KEY)
		return DKV_ERR_CORRUPT;
	*ukey = key + 1;
	*uklen = klen - 1 - TXN_REC_TXID_LEN;
	get_txid(key + klen - TXN_REC_TXID_LEN, id);
	return 0;
}

int txn_rec_tx_encode(struct txn_buf *b, const struct txn_rec_tx *r)
{
	txn_buf_u8(b, TXN_REC_VERSION);
	txn_buf_u8(b, r->state);
	txn_buf_le32(b, r->leader);
	txn_buf_le64(b, r->ts);
	txn_buf_le64(b, r->sent);
	txn_buf_le64(b, r->proposed);
	txn_buf_le64(b, r->tc);
	txn_buf_le32(b, r->parts.n);
	for (uint32_t i = 0; i < r->parts.n; i++)
		txn_buf_le32(b, r->parts.v[i]);
	txn_buf_le32(b, r->ranges.n);
	for (uint32_t i = 0; i < r->ranges.n; i++) {
		const struct txn_range *g = &r->ranges.v[i];

		txn_buf_le32(b, g->start.len);
		txn_buf_add(b, g->start.p, g->start.len);
		txn_buf_le32(b, g->end.len);
		txn_buf_add(b, g->end.p, g->end.len);
	}
	return b->failed ? DKV_ERR_NOMEM : 0;
}

void txn_rec_tx_release(struct txn_rec_tx *r)
{
	free(r->parts.v);
	free(r->ranges.v);
	memset(r, 0, sizeof(*r));
}

int txn_rec_tx_decode(const char *p, size_t len, struct txn_rec_tx *r)
{
	struct cur c = { p, len, 0 };
	uint32_t n;
	int rc = DKV_ERR_CORRUPT;

	memset(r, 0, sizeof(*r));
	if (cur_u8(&c) != TXN_REC_VERSION)
		goto out;
	r->state = cur_u8(&c);
	if (r->state != TXN_REC_PREPARING && r->state != TXN_REC_COMMITTED &&
	    r->state != TXN_REC_PREPARED)
		goto out;
	r->leader = cur_le32(&c);
	r->ts = cur_le64(&c);
	r->sent = cur_le64(&c);
	r->proposed = cur_le64(&c);
	r->tc = cur_le64(&c);
	n = cur_le32(&c);
	/* Each part takes 4 bytes: a count past the input is corrupt before
	 * anything is allocated for it. */
	if (c.bad || n > TXN_REC_MAX_PARTS || n > c.left / 4)
		goto out;
	if (n > 0) {
		r->parts.v = malloc(sizeof(*r->parts.v) * n);
		if (r->parts.v == NULL) {
			rc = DKV_ERR_NOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < n; i++)
			r->parts.v[i] = cur_le32(&c);
		r->parts.n = n;
	}
	n = cur_le32(&c);
	if (c.bad || n > TXN_REC_MAX_RANGES || n > c.left / 8)
		goto out;
	if (n > 0) {
		r->ranges.v = calloc(n, sizeof(*r->ranges.v));
		if (r->ranges.v == NULL) {
			rc = DKV_ERR_NOMEM;
			goto out;
		}
		r->ranges.n = n;
		for (uint32_t i = 0; i < n; i++) {
			cur_bytes(&c, &r->ranges.v[i].start);
			cur_bytes(&c, &r->ranges.v[i].end);
		}
	}
	if (c.bad || c.left != 0)
		goto out;
	if ((r->state == TXN_REC_COMMITTED) != (r->tc != 0))
		goto out;
	return 0;
out:
	txn_rec_tx_release(r);
	return rc;
}

void txn_rec_done_encode(char out[TXN_REC_DONE_LEN],
			 const struct txn_rec_done *r)
{
	out[0] = TXN_REC_VERSION;
	out[1] = (char)r->outcome;
	for (int i = 0; i < 8; i++) {
		out[2 + i] = (char)(r->sent >> (8 * i));
		out[10 + i] = (char)(r->tc >> (8 * i));
	}
}

int txn_rec_done_decode(const char *p, size_t len, struct txn_rec_done *r)
{
	memset(r, 0, sizeof(*r));
	if (len != TXN_REC_DONE_LEN || p[0] != TXN_REC_VERSION)
		return DKV_ERR_CORRUPT;
	r->outcome = (uint8_t)p[1];
	r->sent = txn_get_le64(p + 2);
	r->tc = txn_get_le64(p + 10);
	if (r->outcome == TXN_REC_OUT_COMMITTED && r->tc != 0)
		return 0;
	if (r->outcome == TXN_REC_OUT_ABORTED && r->tc == 0)
		return 0;
	memset(r, 0, sizeof(*r));
	return DKV_ERR_CORRUPT;
}

int txn_rec_intent_encode(struct txn_buf *b, unsigned kind, const char *val,
			  size_t vlen)
{
	txn_buf_u8(b, TXN_REC_VERSION);
	txn_buf_u8(b, (uint8_t)kind);
	if (kind == TXN_REC_I_PUT)
		txn_buf_add(b, val, vlen);
	return b->failed ? DKV_ERR_NOMEM : 0;
}

int txn_rec_intent_decode(const char *p, size_t len, unsigned *kind,
			  const char **val, size_t *vlen)
{
	if (len < 2 || p[0] != TXN_REC_VERSION)
		return DKV_ERR_CORRUPT;
	*kind = (uint8_t)p[1];
	*val = NULL;
	*vlen = 0;
	switch (*kind) {
	case TXN_REC_I_PUT:
		*val = len > 2 ? p + 2 : NULL;
		*vlen = len - 2;
		return 0;
	case TXN_REC_I_DEL:
	case TXN_REC_I_READ:
		return len == 2 ? 0 : DKV_ERR_CORRUPT;
	default:
		return DKV_ERR_CORRUPT;
	}
}
