/*
 * txn_wire.c - struct txn_msg as RESP (txn_wire.h, docs/proto.md
 * "Transaction messages on the wire"), generated from the schema.
 *
 * Every field kind (TXN_FT_*) has four functions, named by kind so that the
 * X-macros can call them by pasting: meas_<KIND> (arguments and bytes of
 * its encoding, validating what the encoder relies on), enc_<KIND>,
 * dec_<KIND>. List kinds are generated from their element's wire members
 * (TXN_WIRE_ELEM_*). Each message then gets meas/enc/dec functions that
 * walk TXN_FIELDS_<name>, and one switch per direction dispatches on the
 * type. Nothing here names a message or a field.
 *
 * Failure modes: encode validates and measures first, reserves the exact
 * size once, then writes (so it never leaves half a message in the
 * buffer). Decode checks every argument against its kind, every count
 * against the arguments left before allocating, and releases everything
 * on any error (the output is zeroed).
 */
#include "proto/txn_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp_int.h"

/* --- the schema, seen from here --------------------------------------------- */

static const char *const wire_names[TXN_MSG_COUNT_] = {
#define NAME_(NAME, name) [TXN_MSG_##NAME] = #NAME,
	TXN_MSGS(NAME_)
#undef NAME_
};

static const uint8_t wire_name_len[TXN_MSG_COUNT_] = {
#define NAME_LEN_(NAME, name) [TXN_MSG_##NAME] = sizeof(#NAME) - 1,
	TXN_MSGS(NAME_LEN_)
#undef NAME_LEN_
};

/*
 * The element structs are not described by the schema's X-macro: their
 * wire members are listed by hand in TXN_WIRE_ELEM_*. A member added to a
 * struct changes its size and stops the build here until it is listed
 * (the padding members pad_ are the known difference).
 */
#define ELEM_SIZE_(KIND, ACC) +sizeof(TXN_FT_##KIND)
_Static_assert(sizeof(struct txn_write) == 0 TXN_WIRE_ELEM_WRITES(ELEM_SIZE_),
	       "struct txn_write changed: update TXN_WIRE_ELEM_WRITES");
_Static_assert(sizeof(struct txn_read) ==
		       sizeof(uint32_t) /* pad_ */
		       TXN_WIRE_ELEM_READS(ELEM_SIZE_),
	       "struct txn_read changed: update TXN_WIRE_ELEM_READS");
_Static_assert(sizeof(struct txn_range) ==
		       sizeof(uint32_t) /* pad_ */
		       TXN_WIRE_ELEM_RANGES(ELEM_SIZE_),
	       "struct txn_range changed: update TXN_WIRE_ELEM_RANGES");
_Static_assert(sizeof(struct txn_item) == 0 TXN_WIRE_ELEM_ITEMS(ELEM_SIZE_),
	       "struct txn_item changed: update TXN_WIRE_ELEM_ITEMS");
_Static_assert(sizeof(struct txn_addr) == 2 * sizeof(uint32_t) + sizeof(uint64_t),
	       "struct txn_addr changed: update the address arguments");
#undef ELEM_SIZE_

/* Which limit bounds a BYTES field or member: keys and range bounds by
 * max_key, everything else by max_value. name is a field name ("key") or
 * an element access suffix (".key"). Folded at compile time when inlined
 * with a literal. */
static inline int is_key_name(const char *name)
{
	if (name[0] == '.')
		name++;
	return strcmp(name, "key") == 0 || strcmp(name, "start") == 0 ||
	       strcmp(name, "end") == 0 || strcmp(name, "next") == 0;
}

const char *txn_wire_type_name(enum txn_msg_type type)
{
	if ((unsigned)type >= TXN_MSG_COUNT_)
		return NULL;
	return wire_names[type];
}

void txn_wire_limits_default(struct txn_wire_limits *lim)
{
	lim->max_list = TXN_WIRE_DEFAULT_MAX_LIST;
	lim->max_key = TXN_WIRE_DEFAULT_MAX_KEY;
	lim->max_value = TXN_WIRE_DEFAULT_MAX_VALUE;
}

static size_t lim_fix(size_t v, size_t dflt)
{
	if (v == 0)
		v = dflt;
	return v > UINT32_MAX ? UINT32_MAX : v;
}

/* --- measuring ---------------------------------------------------------------- */

struct meas {
	size_t args;
	size_t bytes;
	int rc; /* first error: INVAL, TOO_BIG (size_t overflow) */
};

/* One bulk of n payload bytes: "$n\r\n" payload "\r\n". */
static void meas_bulk(struct meas *ms, size_t n)
{
	size_t add = 1 + resp_ndigits(n) + 2 + 2;

	ms->args++;
	if (n > SIZE_MAX - add || ms->bytes > SIZE_MAX - (n + add)) {
		if (ms->rc == 0)
			ms->rc = DKV_ERR_TOO_BIG;
		return;
	}
	ms->bytes += n + add;
}

static void meas_inval(struct meas *ms)
{
	if (ms->rc == 0)
		ms->rc = DKV_ERR_INVAL;
}

static void meas_U8(struct meas *ms, const uint8_t *v)
{
	meas_bulk(ms, resp_ndigits(*v));
}

static void meas_U32(struct meas *ms, const uint32_t *v)
{
	meas_bulk(ms, resp_ndigits(*v));
}

static void meas_I32(struct meas *ms, const int32_t *v)
{
	int64_t x = *v;

	meas_bulk(ms, x < 0 ? 1 + resp_ndigits((uint64_t)-x)
			    : resp_ndigits((uint64_t)x));
}

static void meas_U64(struct meas *ms, const uint64_t *v)
{
	meas_bulk(ms, resp_ndigits(*v));
}

static void meas_TXID(struct meas *ms, const struct dkv_txid *v)
{
	(void)v;
	meas_bulk(ms, 32);
}

static void meas_BYTES(struct meas *ms, const struct txn_bytes *v)
{
	if (v->len > 0 && v->p == NULL)
		meas_inval(ms);
	meas_bulk(ms, v->len);
}

/* --- encoding ------------------------------------------------------------------ */

static int enc_u64(struct resp_buf *b, uint64_t v)
{
	char t[24];

	return resp_put_bulk(b, t, resp_fmt_u64(t, v));
}

static int enc_U8(struct resp_buf *b, const uint8_t *v)
{
	return enc_u64(b, *v);
}

static int enc_U32(struct resp_buf *b, const uint32_t *v)
{
	return enc_u64(b, *v);
}

static int enc_I32(struct resp_buf *b, const int32_t *v)
{
	char t[24];

	return resp_put_bulk(b, t, resp_fmt_i64(t, *v));
}

static int enc_U64(struct resp_buf *b, const uint64_t *v)
{
	return enc_u64(b, *v);
}

static void hex64(char *d, uint64_t v)
{
	static const char x[] = "0123456789abcdef";
	int i;

	for (i = 15; i >= 0; i--) {
		d[i] = x[v & 15];
		v >>= 4;
	}
}

static int enc_TXID(struct resp_buf *b, const struct dkv_txid *v)
{
	char t[32];

	hex64(t, v->hi);
	hex64(t + 16, v->lo);
	return resp_put_bulk(b, t, sizeof(t));
}

static int enc_BYTES(struct resp_buf *b, const struct txn_bytes *v)
{
	return resp_put_bulk(b, v->p, v->len);
}

/* --- decoding: state, errors, arguments ------------------------------------- */

/* The arguments: a command's arrays, or a reply's elements (all bulks). */
struct src {
	size_t argc;
	const char *const *argv;
	const size_t *argvlen;
	const struct resp_reply *el; /* non-NULL: a reply */
};

struct dec {
	struct src s;
	size_t i;     /* next argument */
	size_t later; /* fields after the current one: >= 1 argument each */
	size_t max_list, max_key, max_value;
	struct txn_wire_mem *mem;
	const char *type;  /* for error texts */
	const char *fld;   /* the field being decoded */
	const char *why;
	size_t at; /* the argument at fault */
};

static int fail(struct dec *d, int rc, const char *why)
{
	d->why = why;
	return rc;
}

/* The next argument, or PROTO when there is none. */
static int take(struct dec *d, const char **p, size_t *n)
{
	if (d->i >= d->s.argc) {
		d->at = d->s.argc;
		return fail(d, DKV_ERR_PROTO, "missing argument");
	}
	d->at = d->i;
	if (d->s.el != NULL) {
		*p = d->s.el[d->i].str;
		*n = d->s.el[d->i].len;
	} else {
		*p = d->s.argv[d->i];
		*n = d->s.argvlen[d->i];
	}
	d->i++;
	return 0;
}

/* Canonical unsigned decimal: "0" or [1-9][0-9]*, value <= max. */
static int parse_udec(const char *p, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t acc = 0;
	size_t i;

	if (n == 0 || n > 20 || (p[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++) {
		unsigned c = (unsigned char)p[i] - (unsigned)'0';

		if (c > 9 || acc > (UINT64_MAX - c) / 10)
			return -1;
		acc = acc * 10 + c;
	}
	if (acc > max)
		return -1;
	*v = acc;
	return 0;
}

static int dec_unsigned(struct dec *d, uint64_t max, uint64_t *v,
			const char *why)
{
	const char *p;
	size_t n;
	int rc = take(d, &p, &n);

	if (rc != 0)
		return rc;
	if (parse_udec(p, n, max, v) != 0)
		return fail(d, DKV_ERR_PROTO, why);
	return 0;
}

/* Every dec_<KIND> takes the BYTES limit class (1 key, 0 value), unused by
 * the other kinds, so that the X-macros call them all alike. */
static int dec_U8(struct dec *d, uint8_t *v, int key)
{
	uint64_t x = 0;
	int rc = dec_unsigned(d, UINT8_MAX, &x,
			      "not a decimal number in 0..255");

	(void)key;
	*v = (uint8_t)x;
	return rc;
}

static int dec_U32(struct dec *d, uint32_t *v, int key)
{
	uint64_t x = 0;
	int rc = dec_unsigned(d, UINT32_MAX, &x,
			      "not a decimal number in 0..4294967295");

	(void)key;
	*v = (uint32_t)x;
	return rc;
}

static int dec_U64(struct dec *d, uint64_t *v, int key)
{
	(void)key;
	return dec_unsigned(d, UINT64_MAX, v,
			    "not a decimal number in 0..18446744073709551615");
}

static int dec_I32(struct dec *d, int32_t *v, int key)
{
	const char *p;
	size_t n;
	int64_t x;
	int rc = take(d, &p, &n);

	(void)key;
	if (rc != 0)
		return rc;
	/* string2ll's rules: canonical; n == 0 is refused there too. */
	if (n == 0 || n > 11 || resp_parse_i64(p, n, &x) != 0 ||
	    x < INT32_MIN || x > INT32_MAX)
		return fail(d, DKV_ERR_PROTO,
			    "not a decimal number in -2147483648..2147483647");
	*v = (int32_t)x;
	return 0;
}

static int unhex64(const char *p, uint64_t *v)
{
	uint64_t acc = 0;
	int i;

	for (i = 0; i < 16; i++) {
		unsigned char c = (unsigned char)p[i];
		unsigned h;

		if (c >= '0' && c <= '9')
			h = c - '0';
		else if (c >= 'a' && c <= 'f')
			h = c - 'a' + 10;
		else
			return -1;
		acc = acc << 4 | h;
	}
	*v = acc;
	return 0;
}

static int dec_TXID(struct dec *d, struct dkv_txid *v, int key)
{
	const char *p;
	size_t n;
	int rc = take(d, &p, &n);

	(void)key;
	if (rc != 0)
		return rc;
	if (n != 32 || unhex64(p, &v->hi) != 0 || unhex64(p + 16, &v->lo) != 0)
		return fail(d, DKV_ERR_PROTO, "not 32 lowercase hex digits");
	return 0;
}

static int dec_BYTES(struct dec *d, struct txn_bytes *v, int key)
{
	const char *p;
	size_t n;
	int rc = take(d, &p, &n);

	if (rc != 0)
		return rc;
	if (key && n > d->max_key)
		return fail(d, DKV_ERR_TOO_BIG, "key longer than max_key");
	if (!key && n > d->max_value)
		return fail(d, DKV_ERR_TOO_BIG, "value longer than max_value");
	/* n <= UINT32_MAX: the limits are clamped to it. */
	v->p = p;
	v->len = (uint32_t)n;
	return 0;
}

/* --- list memory ----------------------------------------------------------------- */

/* A block of list memory, its data right after the header. */
union wire_blk {
	union wire_blk *next;
	max_align_t align_;
};

static void *mem_alloc(struct txn_wire_mem *mem, size_t n)
{
	union wire_blk *b;

	if (n > SIZE_MAX - sizeof(*b))
		return NULL;
	b = malloc(sizeof(*b) + n);
	if (b == NULL)
		return NULL;
	memset(b + 1, 0, n); /* padding members read as 0 */
	b->next = mem->blocks_;
	mem->blocks_ = b;
	return b + 1;
}

void txn_wire_mem_init(struct txn_wire_mem *mem)
{
	memset(mem, 0, sizeof(*mem));
}

void txn_wire_mem_free(struct txn_wire_mem *mem)
{
	union wire_blk *b = mem->blocks_;

	while (b != NULL) {
		union wire_blk *next = b->next;

		free(b);
		b = next;
	}
	mem->blocks_ = NULL;
}

const char *txn_wire_error(const struct txn_wire_mem *mem)
{
	return mem->err_;
}

/* --- list kinds, from their element's wire members ------------------------- */

/* A list's count: canonical u32, at most what the arguments left (minus one
 * for every later field) can hold in groups of g, then at most max_list.
 * Checked before anything is allocated. */
static int dec_count(struct dec *d, size_t g, size_t *cnt)
{
	uint64_t c = 0;
	size_t left;
	int rc = dec_unsigned(d, UINT32_MAX, &c,
			      "list count not a decimal number in "
			      "0..4294967295");

	if (rc != 0)
		return rc;
	left = d->s.argc - d->i; /* d->i <= argc after a take */
	left = left > d->later ? left - d->later : 0;
	if (c > left / g)
		return fail(d, DKV_ERR_PROTO,
			    "list count larger than the arguments left");
	if (c > d->max_list)
		return fail(d, DKV_ERR_TOO_BIG, "list longer than max_list");
	*cnt = (size_t)c;
	return 0;
}

#define MEMBER_ONE_(KIND, ACC) +1
#define MEMBER_MEAS_(KIND, ACC) meas_##KIND(ms, &((*(e))ACC));
#define MEMBER_ENC_(KIND, ACC)                                                 \
	if ((rc = enc_##KIND(b, &((*(e))ACC))) != 0)                           \
		return rc;
#define MEMBER_DEC_(KIND, ACC)                                                 \
	if ((rc = dec_##KIND(d, &((*(e))ACC), is_key_name(#ACC))) != 0)        \
		return rc;

#define LIST_KIND_(KIND, etype)                                                \
	static void meas_##KIND(struct meas *ms, const TXN_FT_##KIND *l)      \
	{                                                                      \
		uint32_t i;                                                    \
		if (l->n > 0 && l->v == NULL) {                                \
			meas_inval(ms);                                        \
			return;                                                \
		}                                                              \
		meas_bulk(ms, resp_ndigits(l->n));                             \
		for (i = 0; i < l->n; i++) {                                   \
			const etype *e = &l->v[i];                             \
			TXN_WIRE_ELEM_##KIND(MEMBER_MEAS_)                     \
		}                                                              \
	}                                                                      \
	static int enc_##KIND(struct resp_buf *b, const TXN_FT_##KIND *l)     \
	{                                                                      \
		uint32_t i;                                                    \
		int rc = enc_u64(b, l->n);                                     \
		for (i = 0; rc == 0 && i < l->n; i++) {                        \
			const etype *e = &l->v[i];                             \
			TXN_WIRE_ELEM_##KIND(MEMBER_ENC_)                      \
		}                                                              \
		return rc;                                                     \
	}                                                                      \
	static int dec_##KIND(struct dec *d, TXN_FT_##KIND *l, int key)       \
	{                                                                      \
		const size_t g = 0 TXN_WIRE_ELEM_##KIND(MEMBER_ONE_);          \
		size_t cnt = 0, i;                                             \
		etype *v;                                                      \
		int rc;                                                        \
		(void)key;                                                     \
		l->v = NULL;                                                   \
		l->n = 0;                                                      \
		if ((rc = dec_count(d, g, &cnt)) != 0)                         \
			return rc;                                             \
		if (cnt == 0)                                                  \
			return 0;                                              \
		v = mem_alloc(d->mem, cnt * sizeof(*v));                       \
		if (v == NULL)                                                 \
			return fail(d, DKV_ERR_NOMEM, "out of memory");        \
		for (i = 0; i < cnt; i++) {                                    \
			etype *e = &v[i];                                      \
			TXN_WIRE_ELEM_##KIND(MEMBER_DEC_)                      \
		}                                                              \
		l->v = v;                                                      \
		l->n = (uint32_t)cnt;                                          \
		return 0;                                                      \
	}
TXN_WIRE_LISTS(LIST_KIND_)
#undef LIST_KIND_
#undef MEMBER_ONE_
#undef MEMBER_MEAS_
#undef MEMBER_ENC_
#undef MEMBER_DEC_

/* --- messages, from the schema ------------------------------------------------ */

#define FIELD_ONE_(KIND, field) +1
#define FIELD_MEAS_(KIND, field) meas_##KIND(ms, &m->field);
#define FIELD_ENC_(KIND, field)                                                \
	if (rc == 0)                                                           \
		rc = enc_##KIND(b, &m->field);
#define FIELD_DEC_(KIND, field)                                                \
	if (rc == 0) {                                                         \
		d->fld = #field;                                             \
		d->later--;                                                    \
		rc = dec_##KIND(d, &m->field, is_key_name(#field));            \
	}

#define MSG_FNS_(NAME, name)                                                   \
	static void meas_msg_##name(struct meas *ms,                           \
				    const struct txn_msg_##name *m)            \
	{                                                                      \
		(void)ms;                                                      \
		(void)m;                                                       \
		TXN_FIELDS_##name(FIELD_MEAS_)                                 \
	}                                                                      \
	static int enc_msg_##name(struct resp_buf *b,                          \
				  const struct txn_msg_##name *m)              \
	{                                                                      \
		int rc = 0;                                                    \
		(void)b;                                                       \
		(void)m;                                                       \
		TXN_FIELDS_##name(FIELD_ENC_)                                  \
		return rc;                                                     \
	}                                                                      \
	static int dec_msg_##name(struct dec *d, struct txn_msg_##name *m)     \
	{                                                                      \
		int rc = 0;                                                    \
		(void)m;                                                       \
		d->later = 0 TXN_FIELDS_##name(FIELD_ONE_);                    \
		TXN_FIELDS_##name(FIELD_DEC_)                                  \
		return rc;                                                     \
	}
TXN_MSGS(MSG_FNS_)
#undef MSG_FNS_
#undef FIELD_ONE_
#undef FIELD_MEAS_
#undef FIELD_ENC_
#undef FIELD_DEC_

/* --- encoding: whole messages ---------------------------------------------- */

/* Arguments and exact bytes of m's encoding; 0, INVAL or TOO_BIG. */
static int measure(const struct txn_msg *m, size_t *argc, size_t *bytes)
{
	struct meas ms = {0, 0, 0};

	if ((unsigned)m->type >= TXN_MSG_COUNT_ || wire_names[m->type] == NULL)
		return DKV_ERR_INVAL;
	meas_bulk(&ms, sizeof(TXN_WIRE_CMD) - 1);
	meas_bulk(&ms, wire_name_len[m->type]);
	meas_U32(&ms, &m->from.kind);
	meas_U64(&ms, &m->from.id);
	meas_U32(&ms, &m->to.kind);
	meas_U64(&ms, &m->to.id);
	switch (m->type) {
#define MEAS_CASE_(NAME, name)                                                 \
	case TXN_MSG_##NAME:                                                   \
		meas_msg_##name(&ms, &m->u.name);                              \
		break;
		TXN_MSGS(MEAS_CASE_)
#undef MEAS_CASE_
	default:
		return DKV_ERR_INVAL;
	}
	if (ms.rc != 0)
		return ms.rc;
	/* The array header "*argc\r\n". */
	if (ms.bytes > SIZE_MAX - 32)
		return DKV_ERR_TOO_BIG;
	*argc = ms.args;
	*bytes = ms.bytes + 1 + resp_ndigits(ms.args) + 2;
	return 0;
}

size_t txn_wire_size(const struct txn_msg *m)
{
	size_t argc, bytes;

	return measure(m, &argc, &bytes) == 0 ? bytes : 0;
}

size_t txn_wire_argc(const struct txn_msg *m)
{
	size_t argc, bytes;

	return measure(m, &argc, &bytes) == 0 ? argc : 0;
}

static int encode_as(struct resp_buf *b, const struct txn_msg *m,
		     const char *name, size_t nlen)
{
	size_t argc = 0, bytes = 0, start = b->len;
	int rc = measure(m, &argc, &bytes);

	if (rc != 0)
		return rc;
	/* measure() counts TXN_WIRE_CMD; both names have one-digit lengths. */
	bytes = bytes - (sizeof(TXN_WIRE_CMD) - 1) + nlen;
	rc = resp_buf_reserve(b, bytes);
	if (rc != 0)
		return rc;
	/* Room is reserved: the writers below cannot fail, but say so. */
	if ((rc = resp_put_array(b, argc)) == 0 &&
	    (rc = resp_put_bulk(b, name, nlen)) == 0 &&
	    (rc = resp_put_bulk(b, wire_names[m->type],
				wire_name_len[m->type])) == 0 &&
	    (rc = enc_U32(b, &m->from.kind)) == 0 &&
	    (rc = enc_U64(b, &m->from.id)) == 0 &&
	    (rc = enc_U32(b, &m->to.kind)) == 0 &&
	    (rc = enc_U64(b, &m->to.id)) == 0) {
		switch (m->type) {
#define ENC_CASE_(NAME, name)                                                  \
	case TXN_MSG_##NAME:                                                   \
		rc = enc_msg_##name(b, &m->u.name);                            \
		break;
			TXN_MSGS(ENC_CASE_)
#undef ENC_CASE_
		default:
			rc = DKV_ERR_INVAL;
			break;
		}
	}
	if (rc == 0 && b->len - start != bytes)
		rc = DKV_ERR_INTERNAL; /* measure and encode disagree */
	if (rc != 0)
		b->len = start;
	return rc;
}

int txn_wire_encode(struct resp_buf *b, const struct txn_msg *m)
{
	return encode_as(b, m, TXN_WIRE_CMD, sizeof(TXN_WIRE_CMD) - 1);
}

int txn_wire_encode_oneway(struct resp_buf *b, const struct txn_msg *m)
{
	return encode_as(b, m, TXN_WIRE_CMD_ONEWAY,
			 sizeof(TXN_WIRE_CMD_ONEWAY) - 1);
}

/* --- decoding: whole messages ---------------------------------------------- */

static int decode(const struct src *s, const struct txn_wire_limits *lim,
		  struct txn_msg *out, struct txn_wire_mem *mem)
{
	struct txn_wire_limits dl;
	struct dec d;
	const char *p = NULL;
	size_t n = 0;
	unsigned t;
	int rc;

	txn_wire_mem_free(mem);
	mem->err_[0] = '\0';
	memset(out, 0, sizeof(*out));
	txn_wire_limits_default(&dl);
	memset(&d, 0, sizeof(d));
	d.s = *s;
	d.mem = mem;
	d.max_list = lim_fix(lim ? lim->max_list : 0, dl.max_list);
	d.max_key = lim_fix(lim ? lim->max_key : 0, dl.max_key);
	d.max_value = lim_fix(lim ? lim->max_value : 0, dl.max_value);
	d.fld = "command name";

	rc = take(&d, &p, &n);
	if (rc == 0 && !(n == sizeof(TXN_WIRE_CMD) - 1 &&
			 memcmp(p, TXN_WIRE_CMD, n) == 0) &&
	    !(n == sizeof(TXN_WIRE_CMD_ONEWAY) - 1 &&
	      memcmp(p, TXN_WIRE_CMD_ONEWAY, n) == 0))
		rc = fail(&d, DKV_ERR_PROTO, "not " TXN_WIRE_CMD);
	if (rc == 0) {
		d.fld = "type";
		rc = take(&d, &p, &n);
	}
	if (rc == 0) {
		for (t = 1; t < TXN_MSG_COUNT_; t++)
			if (wire_names[t] != NULL && n == wire_name_len[t] &&
			    memcmp(p, wire_names[t], n) == 0)
				break;
		if (t == TXN_MSG_COUNT_)
			rc = fail(&d, DKV_ERR_PROTO, "unknown message type");
		else {
			out->type = (enum txn_msg_type)t;
			d.type = wire_names[t];
		}
	}
	/* The addresses: each needs its argument, and so do all the fields
	 * (later counts them only from the first field on). */
	if (rc == 0) {
		d.fld = "from kind";
		rc = dec_U32(&d, &out->from.kind, 0);
	}
	if (rc == 0) {
		d.fld = "from id";
		rc = dec_U64(&d, &out->from.id, 0);
	}
	if (rc == 0) {
		d.fld = "to kind";
		rc = dec_U32(&d, &out->to.kind, 0);
	}
	if (rc == 0) {
		d.fld = "to id";
		rc = dec_U64(&d, &out->to.id, 0);
	}
	if (rc == 0) {
		switch (out->type) {
#define DEC_CASE_(NAME, name)                                                  \
	case TXN_MSG_##NAME:                                                   \
		rc = dec_msg_##name(&d, &out->u.name);                         \
		break;
			TXN_MSGS(DEC_CASE_)
#undef DEC_CASE_
		default:
			rc = DKV_ERR_INTERNAL;
			break;
		}
	}
	if (rc == 0 && d.i != d.s.argc) {
		d.fld = NULL; /* not a field: the message's end */
		d.at = d.i;
		rc = fail(&d, DKV_ERR_PROTO, "extra arguments after the last field");
	}
	if (rc != 0) {
		if (d.fld != NULL)
			snprintf(mem->err_, sizeof(mem->err_),
				 TXN_WIRE_CMD "%s%s: field %s (argument %zu): %s",
				 d.type ? " " : "", d.type ? d.type : "",
				 d.fld, d.at, d.why ? d.why : "error");
		else
			snprintf(mem->err_, sizeof(mem->err_),
				 TXN_WIRE_CMD "%s%s: argument %zu: %s",
				 d.type ? " " : "", d.type ? d.type : "", d.at,
				 d.why ? d.why : "error");
		memset(out, 0, sizeof(*out));
		txn_wire_mem_free(mem);
	}
	return rc;
}

int txn_wire_decode(size_t argc, const char *const *argv,
		    const size_t *argvlen, const struct txn_wire_limits *lim,
		    struct txn_msg *out, struct txn_wire_mem *mem)
{
	struct src s = {argc, argv, argvlen, NULL};

	if (argc > 0 && (argv == NULL || argvlen == NULL))
		s.argc = 0;
	return decode(&s, lim, out, mem);
}

int txn_wire_decode_cmd(const struct resp_cmd *c,
			const struct txn_wire_limits *lim,
			struct txn_msg *out, struct txn_wire_mem *mem)
{
	return txn_wire_decode(c->argc, c->argv, c->argvlen, lim, out, mem);
}

/* n if r is an array of bulks, else the index of the first element that
 * is not a bulk (n + 1 if r is no array). */
static size_t reply_bad_elem(const struct resp_reply *r)
{
	size_t i;

	if (r->type != RESP_ARRAY || (r->n > 0 && r->elems == NULL))
		return r->n + 1;
	for (i = 0; i < r->n; i++)
		if (r->elems[i].type != RESP_BULK ||
		    (r->elems[i].len > 0 && r->elems[i].str == NULL))
			return i;
	return r->n;
}

int txn_wire_decode_reply(const struct resp_reply *r,
			  const struct txn_wire_limits *lim,
			  struct txn_msg *out, struct txn_wire_mem *mem)
{
	struct src s = {0, NULL, NULL, NULL};
	size_t bad = reply_bad_elem(r);

	if (bad != r->n) {
		txn_wire_mem_free(mem);
		memset(out, 0, sizeof(*out));
		if (bad > r->n)
			snprintf(mem->err_, sizeof(mem->err_),
				 TXN_WIRE_CMD ": the reply is of type %s, not "
					      "an array of bulk strings",
				 resp_type_name(r->type));
		else
			snprintf(mem->err_, sizeof(mem->err_),
				 TXN_WIRE_CMD ": element %zu of the reply is "
					      "of type %s, not a bulk string",
				 bad, resp_type_name(r->elems[bad].type));
		return DKV_ERR_PROTO;
	}
	s.argc = r->n;
	s.el = r->elems;
	return decode(&s, lim, out, mem);
}

int txn_wire_reply_args(const struct resp_reply *r, struct txn_wire_args *a)
{
	size_t i, n = r->n;

	memset(a, 0, sizeof(*a));
	if (reply_bad_elem(r) != n)
		return DKV_ERR_PROTO;
	if (n == 0)
		return 0;
	a->argv = calloc(n, sizeof(*a->argv));
	a->argvlen = calloc(n, sizeof(*a->argvlen));
	if (a->argv == NULL || a->argvlen == NULL) {
		txn_wire_args_free(a);
		return DKV_ERR_NOMEM;
	}
	for (i = 0; i < n; i++) {
		a->argv[i] = r->elems[i].str;
		a->argvlen[i] = r->elems[i].len;
	}
	a->argc = n;
	return 0;
}

void txn_wire_args_free(struct txn_wire_args *a)
{
	free(a->argv);
	free(a->argvlen);
	memset(a, 0, sizeof(*a));
}
