/*
 * msg.c - names and deep copies of the messages, generated from the one
 * schema in txn_msg.h.
 *
 * Happy path: txn_msg_copy() walks the fields of the message's type and
 * copies every byte string and list into allocations of its own.
 * Failure modes: out of memory midway -> everything copied so far is
 * freed, DKV_ERR_NOMEM, dst zeroed.
 */
#include "txn/txn_msg.h"

#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"

const char *txn_msg_name(enum txn_msg_type type)
{
	switch (type) {
#define TXN_NAME_(NAME, name)                                                  \
	case TXN_MSG_##NAME:                                                   \
		return #NAME;
		TXN_MSGS(TXN_NAME_)
#undef TXN_NAME_
	default:
		return "?";
	}
}

const char *txn_reason_name(unsigned reason)
{
	static const char *const names[] = {
#define TXN_REASON_TEXT_(N, text) text,
		TXN_REASONS(TXN_REASON_TEXT_)
#undef TXN_REASON_TEXT_
	};

	return reason < TXN_R_COUNT_ ? names[reason] : "?";
}

const struct dkv_txid *txn_msg_txid(const struct txn_msg *msg)
{
	switch (msg->type) {
#define TXN_TXID_(NAME, name)                                                  \
	case TXN_MSG_##NAME:                                                   \
		return &msg->u.name.txid;
		TXN_MSGS(TXN_TXID_)
#undef TXN_TXID_
	default:
		return NULL;
	}
}

/* --- per kind: copy (0 or NOMEM) and free ------------------------------- */

static int bytes_dup(struct txn_bytes *d, const struct txn_bytes *s)
{
	char *p;

	d->p = NULL;
	d->len = 0;
	if (s->len == 0)
		return 0;
	p = malloc(s->len);
	if (p == NULL)
		return DKV_ERR_NOMEM;
	memcpy(p, s->p, s->len);
	d->p = p;
	d->len = s->len;
	return 0;
}

static void bytes_free(struct txn_bytes *b)
{
	free((char *)b->p);
	b->p = NULL;
	b->len = 0;
}

#define SCALAR_COPY_(KIND)                                                     \
	static int copy_##KIND(TXN_FT_##KIND *d, const TXN_FT_##KIND *s)      \
	{                                                                      \
		*d = *s;                                                       \
		return 0;                                                      \
	}                                                                      \
	static void free_##KIND(TXN_FT_##KIND *d)                              \
	{                                                                      \
		(void)d;                                                       \
	}
SCALAR_COPY_(U8)
SCALAR_COPY_(U32)
SCALAR_COPY_(I32)
SCALAR_COPY_(U64)
SCALAR_COPY_(TXID)
#undef SCALAR_COPY_

static int copy_BYTES(struct txn_bytes *d, const struct txn_bytes *s)
{
	return bytes_dup(d, s);
}

static void free_BYTES(struct txn_bytes *d)
{
	bytes_free(d);
}

static int copy_U32S(struct txn_u32s *d, const struct txn_u32s *s)
{
	d->v = NULL;
	d->n = 0;
	if (s->n == 0)
		return 0;
	d->v = malloc(sizeof(*d->v) * s->n);
	if (d->v == NULL)
		return DKV_ERR_NOMEM;
	memcpy(d->v, s->v, sizeof(*d->v) * s->n);
	d->n = s->n;
	return 0;
}

static void free_U32S(struct txn_u32s *d)
{
	free(d->v);
	d->v = NULL;
	d->n = 0;
}

/* Lists of items holding byte strings: copy the array, then each item's
 * strings; on failure free the items done (n counts them). */
#define LIST_COPY_(KIND, type, COPY_ITEM, FREE_ITEM)                           \
	static void free_##KIND(TXN_FT_##KIND *d)                              \
	{                                                                      \
		for (uint32_t i = 0; i < d->n; i++) {                          \
			type *x = &d->v[i];                                    \
			FREE_ITEM;                                             \
		}                                                              \
		free(d->v);                                                    \
		d->v = NULL;                                                   \
		d->n = 0;                                                      \
	}                                                                      \
	static int copy_##KIND(TXN_FT_##KIND *d, const TXN_FT_##KIND *s)      \
	{                                                                      \
		d->v = NULL;                                                   \
		d->n = 0;                                                      \
		if (s->n == 0)                                                 \
			return 0;                                              \
		d->v = calloc(s->n, sizeof(*d->v));                            \
		if (d->v == NULL)                                              \
			return DKV_ERR_NOMEM;                                  \
		for (uint32_t i = 0; i < s->n; i++) {                          \
			type *x = &d->v[i];                                    \
			const type *y = &s->v[i];                              \
			*x = *y;                                               \
			if (COPY_ITEM) { /* item i holds nothing */      \
				d->n = i;                                      \
				free_##KIND(d);                                \
				return DKV_ERR_NOMEM;                          \
			}                                                      \
			d->n = i + 1;                                          \
		}                                                              \
		return 0;                                                      \
	}

/* Each COPY_ITEM is true on failure and leaves item x holding nothing. */
static int write_dup(struct txn_write *x, const struct txn_write *y)
{
	if (bytes_dup(&x->key, &y->key) != 0)
		return 1;
	if (bytes_dup(&x->val, &y->val) != 0) {
		bytes_free(&x->key);
		return 1;
	}
	return 0;
}

static int read_dup(struct txn_read *x, const struct txn_read *y)
{
	return bytes_dup(&x->key, &y->key) != 0;
}

static int range_dup(struct txn_range *x, const struct txn_range *y)
{
	if (bytes_dup(&x->start, &y->start) != 0)
		return 1;
	if (bytes_dup(&x->end, &y->end) != 0) {
		bytes_free(&x->start);
		return 1;
	}
	return 0;
}

static int item_dup(struct txn_item *x, const struct txn_item *y)
{
	if (bytes_dup(&x->key, &y->key) != 0)
		return 1;
	if (bytes_dup(&x->val, &y->val) != 0) {
		bytes_free(&x->key);
		return 1;
	}
	return 0;
}

LIST_COPY_(RANGES, struct txn_range, range_dup(x, y),
	   (bytes_free(&x->start), bytes_free(&x->end)))
LIST_COPY_(WRITES, struct txn_write, write_dup(x, y),
	   (bytes_free(&x->key), bytes_free(&x->val)))
LIST_COPY_(READS, struct txn_read, read_dup(x, y), bytes_free(&x->key))
LIST_COPY_(ITEMS, struct txn_item, item_dup(x, y),
	   (bytes_free(&x->key), bytes_free(&x->val)))
#undef LIST_COPY_

/* --- per message ---------------------------------------------------------- */

#define FIELD_FREE_(KIND, field) free_##KIND(&m->field);
#define FIELD_COPY_(KIND, field)                                               \
	if (copy_##KIND(&d->field, &s->field) != 0)                            \
		goto fail;

/* Copy: on failure free every field: those not copied yet are zeroed, the
 * failed one holds nothing. */
#define MSG_FNS_(NAME, name)                                                   \
	static void free_msg_##name(struct txn_msg_##name *m)                  \
	{                                                                      \
		TXN_FIELDS_##name(FIELD_FREE_)                                 \
	}                                                                      \
	static int copy_msg_##name(struct txn_msg_##name *d,                  \
				   const struct txn_msg_##name *s)             \
	{                                                                      \
		memset(d, 0, sizeof(*d));                                      \
		TXN_FIELDS_##name(FIELD_COPY_)                                 \
		return 0;                                                      \
	fail:                                                                  \
		free_msg_##name(d); /* zeroed fields free as nothing */        \
		return DKV_ERR_NOMEM;                                          \
	}
TXN_MSGS(MSG_FNS_)
#undef MSG_FNS_
#undef FIELD_FREE_
#undef FIELD_COPY_

int txn_msg_copy(struct txn_msg *dst, const struct txn_msg *src)
{
	int rc = DKV_ERR_INVAL;

	memset(dst, 0, sizeof(*dst));
	dst->type = src->type;
	dst->from = src->from;
	dst->to = src->to;
	switch (src->type) {
#define COPY_CASE_(NAME, name)                                                 \
	case TXN_MSG_##NAME:                                                   \
		rc = copy_msg_##name(&dst->u.name, &src->u.name);             \
		break;
		TXN_MSGS(COPY_CASE_)
#undef COPY_CASE_
	default:
		break;
	}
	if (rc != 0)
		memset(dst, 0, sizeof(*dst));
	return rc;
}

void txn_msg_free(struct txn_msg *msg)
{
	switch (msg->type) {
#define FREE_CASE_(NAME, name)                                                 \
	case TXN_MSG_##NAME:                                                   \
		free_msg_##name(&msg->u.name);                                 \
		break;
		TXN_MSGS(FREE_CASE_)
#undef FREE_CASE_
	default:
		break;
	}
	memset(msg, 0, sizeof(*msg));
}
