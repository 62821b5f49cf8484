/*
 * The transaction messages' wire codec (src/proto/txn_wire.c): random
 * messages of every type in the schema, encoded, parsed by the real RESP
 * request and reply parsers fed in random-sized pieces, decoded and
 * compared field by field; every truncation; mutations of every numeric
 * argument, count, name and type; limits; encoder errors and atomicity;
 * exact bytes of a few messages. The generators, the comparer and the
 * argument roles are generated from the schema's X-macros like the codec,
 * so a field added to the schema is tested without a change here.
 * DKV_SEED=<n> replays a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkv_err.h"
#include "proto/resp.h"
#include "proto/txn_wire.h"

/* --- helpers ---------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static size_t rnd_below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static uint64_t seed_once(void)
{
	static uint64_t seed;
	static int done;

	if (!done) {
		const char *s = getenv("DKV_SEED");

		seed = s ? strtoull(s, NULL, 0)
			 : (uint64_t)time(NULL) ^ (uint64_t)clock();
		printf("test_txn_wire: seed %" PRIu64
		       " (replay with DKV_SEED=%" PRIu64 ")\n",
		       seed, seed);
		done = 1;
	}
	return seed;
}

static int setup_rng(void **state)
{
	(void)state;
	rng_state = seed_once();
	return 0;
}

/* Every block a generated message points at. */
struct arena {
	void **p;
	size_t n, cap;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	void *p;

	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 64;
		a->p = realloc(a->p, a->cap * sizeof(*a->p));
		assert_non_null(a->p);
	}
	p = calloc(1, n ? n : 1);
	assert_non_null(p);
	a->p[a->n++] = p;
	return p;
}

static void arena_free(struct arena *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->p[i]);
	free(a->p);
	memset(a, 0, sizeof(*a));
}

static int is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

/* --- random values, per field kind ------------------------------------------ */

static uint64_t rnd_u64_any(void)
{
	switch (rnd_below(6)) {
	case 0: return 0;
	case 1: return UINT64_MAX;
	case 2: return rnd_below(10);
	case 3: return rnd() >> rnd_below(64);
	default: return rnd();
	}
}

static void gen_U8(struct arena *a, uint8_t *v)
{
	(void)a;
	*v = (uint8_t)rnd_u64_any();
}

static void gen_U32(struct arena *a, uint32_t *v)
{
	(void)a;
	*v = (uint32_t)rnd_u64_any();
}

static void gen_I32(struct arena *a, int32_t *v)
{
	(void)a;
	switch (rnd_below(6)) {
	case 0: *v = INT32_MIN; break;
	case 1: *v = INT32_MAX; break;
	case 2: *v = -(int32_t)rnd_below(30); break; /* DKV_ERR_* */
	case 3: *v = 0; break;
	default: *v = (int32_t)(uint32_t)rnd(); break;
	}
}

static void gen_U64(struct arena *a, uint64_t *v)
{
	(void)a;
	*v = rnd_u64_any();
}

static void gen_TXID(struct arena *a, struct dkv_txid *v)
{
	(void)a;
	v->hi = rnd_u64_any();
	v->lo = rnd_u64_any();
}

/* Empty, short, binary (CR, LF, NUL, RESP's own bytes) or longer. */
static void gen_BYTES(struct arena *a, struct txn_bytes *v)
{
	static const char alpha[] = "\r\n\0$*:+-_ 0123aZ\\\"";
	size_t len, i;
	char *p;

	switch (rnd_below(8)) {
	case 0:
	case 1: len = 0; break;
	case 2: len = 1; break;
	case 3: len = 2 + rnd_below(300); break;
	default: len = 1 + rnd_below(24); break;
	}
	p = arena_alloc(a, len);
	for (i = 0; i < len; i++)
		p[i] = rnd_below(2) ? alpha[rnd_below(sizeof(alpha))]
				    : (char)rnd();
	v->p = len ? p : (rnd_below(2) ? NULL : p);
	v->len = (uint32_t)len;
}

static size_t gen_list_max = 50;

#define MEMBER_GEN_(KIND, ACC) gen_##KIND(a, &((*(e))ACC));
#define LIST_GEN_(KIND, etype)                                                 \
	static void gen_##KIND(struct arena *a, TXN_FT_##KIND *l)              \
	{                                                                      \
		size_t n = rnd_below(4) == 0 ? 0 : rnd_below(gen_list_max + 1),\
		       i;                                                      \
		l->n = (uint32_t)n;                                            \
		l->v = n ? arena_alloc(a, n * sizeof(etype)) : NULL;           \
		for (i = 0; i < n; i++) {                                      \
			etype *e = &l->v[i];                                   \
			TXN_WIRE_ELEM_##KIND(MEMBER_GEN_)                      \
		}                                                              \
	}
TXN_WIRE_LISTS(LIST_GEN_)
#undef LIST_GEN_
#undef MEMBER_GEN_

#define FIELD_GEN_(KIND, field) gen_##KIND(a, &x->field);

static void gen_msg(struct arena *a, struct txn_msg *m, enum txn_msg_type t)
{
	memset(m, 0, sizeof(*m));
	m->type = t;
	m->from.kind = (uint32_t)rnd_below(3);
	m->from.id = rnd_u64_any();
	m->to.kind = rnd_below(8) == 0 ? (uint32_t)rnd() : (uint32_t)rnd_below(3);
	m->to.id = rnd_u64_any();
	switch (t) {
#define GEN_CASE_(NAME, name)                                                  \
	case TXN_MSG_##NAME: {                                                 \
		struct txn_msg_##name *x = &m->u.name;                         \
		TXN_FIELDS_##name(FIELD_GEN_) break;                           \
	}
		TXN_MSGS(GEN_CASE_)
#undef GEN_CASE_
	default:
		fail();
	}
}
#undef FIELD_GEN_

/* --- the generic comparer ----------------------------------------------------- */

static int eq_U8(const uint8_t *x, const uint8_t *y) { return *x == *y; }
static int eq_U32(const uint32_t *x, const uint32_t *y) { return *x == *y; }
static int eq_I32(const int32_t *x, const int32_t *y) { return *x == *y; }
static int eq_U64(const uint64_t *x, const uint64_t *y) { return *x == *y; }

static int eq_TXID(const struct dkv_txid *x, const struct dkv_txid *y)
{
	return x->hi == y->hi && x->lo == y->lo;
}

static int eq_BYTES(const struct txn_bytes *x, const struct txn_bytes *y)
{
	return x->len == y->len &&
	       (x->len == 0 || memcmp(x->p, y->p, x->len) == 0);
}

#define MEMBER_EQ_(KIND, ACC)                                                  \
	if (!eq_##KIND(&((*(e))ACC), &((*(f))ACC)))                            \
		return 0;
#define LIST_EQ_(KIND, etype)                                                  \
	static int eq_##KIND(const TXN_FT_##KIND *x, const TXN_FT_##KIND *y)  \
	{                                                                      \
		uint32_t i;                                                    \
		if (x->n != y->n)                                              \
			return 0;                                              \
		for (i = 0; i < x->n; i++) {                                   \
			const etype *e = &x->v[i], *f = &y->v[i];              \
			TXN_WIRE_ELEM_##KIND(MEMBER_EQ_)                       \
		}                                                              \
		return 1;                                                      \
	}
TXN_WIRE_LISTS(LIST_EQ_)
#undef LIST_EQ_
#undef MEMBER_EQ_

/* NULL if a and b are equal, else the name of the first field that
 * differs. */
static const char *msg_diff(const struct txn_msg *a, const struct txn_msg *b)
{
	if (a->type != b->type)
		return "type";
	if (a->from.kind != b->from.kind || a->from.id != b->from.id)
		return "from";
	if (a->to.kind != b->to.kind || a->to.id != b->to.id)
		return "to";
	switch (a->type) {
#define FIELD_EQ_(KIND, field)                                                 \
	if (!eq_##KIND(&x->field, &y->field))                                  \
		return #field;
#define EQ_CASE_(NAME, name)                                                   \
	case TXN_MSG_##NAME: {                                                 \
		const struct txn_msg_##name *x = &a->u.name, *y = &b->u.name; \
		(void)x;                                                       \
		(void)y;                                                       \
		TXN_FIELDS_##name(FIELD_EQ_) break;                            \
	}
		TXN_MSGS(EQ_CASE_)
#undef EQ_CASE_
#undef FIELD_EQ_
	default:
		return "unknown type";
	}
	return NULL;
}

static void assert_msg_equal(const struct txn_msg *a, const struct txn_msg *b)
{
	const char *d = msg_diff(a, b);

	if (d != NULL)
		fail_msg("%s: field %s differs", txn_wire_type_name(a->type), d);
}

/* --- argument roles, from the schema ----------------------------------------- */

enum role {
	R_CMD,
	R_TYPE,
	R_U8,
	R_U32,
	R_I32,
	R_U64,
	R_TXID,
	R_KEY,   /* BYTES bounded by max_key */
	R_VALUE, /* BYTES bounded by max_value */
	R_COUNT,
};

struct roles {
	enum role r[8192];
	size_t n;
};

static void push(struct roles *rs, enum role r)
{
	assert_true(rs->n < sizeof(rs->r) / sizeof(rs->r[0]));
	rs->r[rs->n++] = r;
}

/* The documented rule: key, start, end, next are keys. */
static int key_name(const char *name)
{
	if (name[0] == '.')
		name++;
	return !strcmp(name, "key") || !strcmp(name, "start") ||
	       !strcmp(name, "end") || !strcmp(name, "next");
}

static void role_U8(struct roles *rs, const uint8_t *v, const char *name)
{
	(void)v;
	(void)name;
	push(rs, R_U8);
}

static void role_U32(struct roles *rs, const uint32_t *v, const char *name)
{
	(void)v;
	(void)name;
	push(rs, R_U32);
}

static void role_I32(struct roles *rs, const int32_t *v, const char *name)
{
	(void)v;
	(void)name;
	push(rs, R_I32);
}

static void role_U64(struct roles *rs, const uint64_t *v, const char *name)
{
	(void)v;
	(void)name;
	push(rs, R_U64);
}

static void role_TXID(struct roles *rs, const struct dkv_txid *v,
		      const char *name)
{
	(void)v;
	(void)name;
	push(rs, R_TXID);
}

static void role_BYTES(struct roles *rs, const struct txn_bytes *v,
		       const char *name)
{
	(void)v;
	push(rs, key_name(name) ? R_KEY : R_VALUE);
}

#define MEMBER_ROLE_(KIND, ACC) role_##KIND(rs, &((*(e))ACC), #ACC);
#define LIST_ROLE_(KIND, etype)                                                \
	static void role_##KIND(struct roles *rs, const TXN_FT_##KIND *l,     \
				const char *name)                              \
	{                                                                      \
		uint32_t i;                                                    \
		(void)name;                                                    \
		push(rs, R_COUNT);                                             \
		for (i = 0; i < l->n; i++) {                                   \
			const etype *e = &l->v[i];                             \
			TXN_WIRE_ELEM_##KIND(MEMBER_ROLE_)                     \
		}                                                              \
	}
TXN_WIRE_LISTS(LIST_ROLE_)
#undef LIST_ROLE_
#undef MEMBER_ROLE_

static void msg_roles(const struct txn_msg *m, struct roles *rs)
{
	rs->n = 0;
	push(rs, R_CMD);
	push(rs, R_TYPE);
	push(rs, R_U32);
	push(rs, R_U64);
	push(rs, R_U32);
	push(rs, R_U64);
	switch (m->type) {
#define FIELD_ROLE_(KIND, field) role_##KIND(rs, &x->field, #field);
#define ROLE_CASE_(NAME, name)                                                 \
	case TXN_MSG_##NAME: {                                                 \
		const struct txn_msg_##name *x = &m->u.name;                   \
		TXN_FIELDS_##name(FIELD_ROLE_) break;                          \
	}
		TXN_MSGS(ROLE_CASE_)
#undef ROLE_CASE_
#undef FIELD_ROLE_
	default:
		fail();
	}
}

/* --- encoded messages as argument arrays ------------------------------------- */

/* One message encoded and parsed back (whole) by the request parser:
 * argv points into enc.data. */
struct parsed {
	struct resp_buf enc;
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
};

static void parse_one(struct parsed *ps, const struct txn_msg *m)
{
	size_t consumed = 0;

	resp_buf_init(&ps->enc, 0);
	assert_int_equal(txn_wire_encode(&ps->enc, m), 0);
	assert_int_equal(ps->enc.len, txn_wire_size(m));
	resp_cmd_parser_init(&ps->p, NULL);
	assert_int_equal(resp_cmd_parse(&ps->p, ps->enc.data, ps->enc.len,
					&ps->cmd, &consumed),
			 1);
	assert_int_equal(consumed, ps->enc.len);
	assert_int_equal(ps->cmd.argc, txn_wire_argc(m));
}

static void parsed_free(struct parsed *ps)
{
	resp_cmd_parser_free(&ps->p);
	resp_buf_free(&ps->enc);
}

/* Asserts a clean failure: the code, *out zeroed, mem empty, a text. */
static void expect_fail(int rc, int want, const struct txn_msg *out,
			const struct txn_wire_mem *mem)
{
	if (rc != want)
		fail_msg("decode returned %d (%s), expected %d; error: %s", rc,
			 dkv_errname(rc), want, txn_wire_error(mem));
	assert_true(is_zero(out, sizeof(*out)));
	assert_null(mem->blocks_);
	assert_true(txn_wire_error(mem)[0] != '\0');
	assert_null(strchr(txn_wire_error(mem), '\n'));
	assert_null(strchr(txn_wire_error(mem), '\r'));
}

/* Decodes argv with one argument replaced (at < argc) or appended
 * (at == argc). */
static int decode_mut(const struct resp_cmd *c, size_t at, const char *s,
		      size_t slen, const struct txn_wire_limits *lim,
		      struct txn_msg *out, struct txn_wire_mem *mem)
{
	size_t argc = c->argc + (at == c->argc);
	const char **argv = malloc(argc * sizeof(*argv));
	size_t *argvlen = malloc(argc * sizeof(*argvlen));
	int rc;

	assert_non_null(argv);
	assert_non_null(argvlen);
	memcpy(argv, c->argv, c->argc * sizeof(*argv));
	memcpy(argvlen, c->argvlen, c->argc * sizeof(*argvlen));
	argv[at] = s;
	argvlen[at] = slen;
	rc = txn_wire_decode(argc, argv, argvlen, lim, out, mem);
	free(argv);
	free(argvlen);
	return rc;
}

/* --- feeding a stream ---------------------------------------------------------- */

/* Feeds data[0..len) to a request parser in random-sized pieces (1 byte at
 * a time when bytewise), with a buffer of exactly the unconsumed bytes that
 * moves between calls; calls on() for every command. Returns the count. */
static size_t feed_cmds(const char *data, size_t len, int bytewise,
			void (*on)(const struct resp_cmd *, void *), void *ctx)
{
	struct resp_cmd_parser p;
	size_t start = 0, avail = 0, count = 0;

	resp_cmd_parser_init(&p, NULL);
	for (;;) {
		size_t n = avail - start, consumed = 99;
		char *w = malloc(n ? n : 1);
		struct resp_cmd cmd;
		int rc;

		assert_non_null(w);
		if (n)
			memcpy(w, data + start, n);
		rc = resp_cmd_parse(&p, w, n, &cmd, &consumed);
		assert_true(rc >= 0);
		if (rc == 1) {
			on(&cmd, ctx);
			count++;
			start += consumed;
		}
		free(w);
		if (rc == 0) {
			if (avail == len)
				break;
			avail += bytewise ? 1
					  : 1 + rnd_below(rnd_below(2)
								  ? 16
								  : len - avail);
			if (avail > len)
				avail = len;
		}
	}
	assert_int_equal(start, len);
	resp_cmd_parser_free(&p);
	return count;
}

static size_t feed_replies(const char *data, size_t len, int bytewise,
			   void (*on)(const struct resp_reply *, void *),
			   void *ctx)
{
	struct resp_reply_parser p;
	size_t start = 0, avail = 0, count = 0;

	resp_reply_parser_init(&p, NULL);
	for (;;) {
		size_t n = avail - start, consumed = 99;
		char *w = malloc(n ? n : 1);
		const struct resp_reply *r = NULL;
		int rc;

		assert_non_null(w);
		if (n)
			memcpy(w, data + start, n);
		rc = resp_reply_parse(&p, w, n, &r, &consumed);
		assert_true(rc >= 0);
		if (rc == 1) {
			on(r, ctx);
			count++;
			start += consumed;
		}
		free(w);
		if (rc == 0) {
			if (avail == len)
				break;
			avail += bytewise ? 1
					  : 1 + rnd_below(rnd_below(2)
								  ? 16
								  : len - avail);
			if (avail > len)
				avail = len;
		}
	}
	assert_int_equal(start, len);
	resp_reply_parser_free(&p);
	return count;
}

/* A stream of random messages, every type in turn. */
struct stream {
	struct arena a;
	struct txn_msg *msgs;
	size_t n, next;
	struct resp_buf buf;
	struct txn_wire_mem mem; /* reused for every decode */
	struct txn_wire_mem mem2;
};

static void stream_make(struct stream *s, size_t n, size_t first)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->msgs = calloc(n, sizeof(*s->msgs));
	assert_non_null(s->msgs);
	s->n = n;
	resp_buf_init(&s->buf, 0);
	for (i = 0; i < n; i++) {
		size_t before = s->buf.len;
		enum txn_msg_type t =
			(enum txn_msg_type)(1 + (first + i) %
						    (TXN_MSG_COUNT_ - 1));

		gen_msg(&s->a, &s->msgs[i], t);
		assert_int_equal(txn_wire_encode(&s->buf, &s->msgs[i]), 0);
		assert_int_equal(s->buf.len - before,
				 txn_wire_size(&s->msgs[i]));
	}
}

static void stream_free(struct stream *s)
{
	txn_wire_mem_free(&s->mem);
	txn_wire_mem_free(&s->mem2);
	resp_buf_free(&s->buf);
	free(s->msgs);
	arena_free(&s->a);
}

static void on_cmd(const struct resp_cmd *c, void *ctx)
{
	struct stream *s = ctx;
	struct txn_msg out;
	int rc;

	assert_true(s->next < s->n);
	assert_false(c->is_inline);
	assert_int_equal(c->argc, txn_wire_argc(&s->msgs[s->next]));
	rc = txn_wire_decode_cmd(c, NULL, &out, &s->mem);
	if (rc != 0)
		fail_msg("decode: %d %s", rc, txn_wire_error(&s->mem));
	assert_string_equal(txn_wire_error(&s->mem), "");
	assert_msg_equal(&s->msgs[s->next], &out);
	s->next++;
}

static void on_reply(const struct resp_reply *r, void *ctx)
{
	struct stream *s = ctx;
	struct txn_wire_args a;
	struct txn_msg out, out2;
	int rc;

	assert_true(s->next < s->n);
	rc = txn_wire_decode_reply(r, NULL, &out, &s->mem);
	if (rc != 0)
		fail_msg("decode_reply: %d %s", rc, txn_wire_error(&s->mem));
	assert_msg_equal(&s->msgs[s->next], &out);
	/* The same through the argument arrays. */
	assert_int_equal(txn_wire_reply_args(r, &a), 0);
	assert_int_equal(a.argc, r->n);
	rc = txn_wire_decode(a.argc, a.argv, a.argvlen, NULL, &out2, &s->mem2);
	if (rc != 0)
		fail_msg("decode: %d %s", rc, txn_wire_error(&s->mem2));
	assert_msg_equal(&s->msgs[s->next], &out2);
	txn_wire_args_free(&a);
	s->next++;
}

/* --- tests ---------------------------------------------------------------------- */

static void test_names(void **state)
{
	(void)state;
	assert_null(txn_wire_type_name(TXN_MSG_NONE_));
	assert_null(txn_wire_type_name(TXN_MSG_COUNT_));
	assert_null(txn_wire_type_name((enum txn_msg_type)-1));
#define NAME_CHECK_(NAME, name)                                                \
	assert_string_equal(txn_wire_type_name(TXN_MSG_##NAME), #NAME);
	TXN_MSGS(NAME_CHECK_)
#undef NAME_CHECK_
}

/* Exact bytes: the format as docs/proto.md shows it. */
static void test_exact_bytes(void **state)
{
	static const char abort_enc[] =
		"*7\r\n$7\r\nDKV.TXN\r\n$5\r\nABORT\r\n$1\r\n1\r\n$1\r\n4\r\n"
		"$1\r\n1\r\n$1\r\n9\r\n"
		"$32\r\n0000018f00000001ffffffffffffffff\r\n";
	static const char prep_enc[] =
		"*21\r\n$7\r\nDKV.TXN\r\n$7\r\nPREPARE\r\n"
		"$1\r\n1\r\n$1\r\n4\r\n$1\r\n1\r\n$1\r\n9\r\n"
		"$32\r\n000000000000000a000000000000000b\r\n"
		"$3\r\n100\r\n$2\r\n99\r\n$1\r\n4\r\n$3\r\n101\r\n"
		"$1\r\n1\r\n$1\r\n9\r\n$1\r\n1\r\n$1\r\nk\r\n$4\r\nv\r\n\0\r\n"
		"$1\r\n0\r\n"
		"$1\r\n1\r\n$1\r\n9\r\n$1\r\na\r\n$0\r\n\r\n";
	struct txn_write w = {9, TXN_W_PUT, {"k", 1}, {"v\r\n", 4}};
	struct txn_range r = {9, 0, {"a", 1}, {NULL, 0}};
	struct txn_msg m, out;
	struct txn_wire_mem mem;
	struct resp_buf b;
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	size_t consumed;

	(void)state;
	txn_wire_mem_init(&mem);
	resp_buf_init(&b, 0);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_ABORT;
	m.from.kind = TXN_ADDR_SHARD;
	m.from.id = 4;
	m.to.kind = TXN_ADDR_SHARD;
	m.to.id = 9;
	m.u.abort.txid.hi = 0x18f00000001;
	m.u.abort.txid.lo = UINT64_MAX;
	assert_int_equal(txn_wire_encode(&b, &m), 0);
	assert_int_equal(b.len, sizeof(abort_enc) - 1);
	assert_memory_equal(b.data, abort_enc, b.len);
	assert_int_equal(txn_wire_size(&m), b.len);
	assert_int_equal(txn_wire_argc(&m), 7);

	resp_buf_reset(&b);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE;
	m.from.kind = TXN_ADDR_SHARD;
	m.from.id = 4;
	m.to.kind = TXN_ADDR_SHARD;
	m.to.id = 9;
	m.u.prepare.txid.hi = 10;
	m.u.prepare.txid.lo = 11;
	m.u.prepare.ts = 100;
	m.u.prepare.sent = 99;
	m.u.prepare.leader = 4;
	m.u.prepare.proposed = 101;
	m.u.prepare.writes.v = &w;
	m.u.prepare.writes.n = 1;
	m.u.prepare.ranges.v = &r;
	m.u.prepare.ranges.n = 1;
	assert_int_equal(txn_wire_encode(&b, &m), 0);
	assert_int_equal(b.len, sizeof(prep_enc) - 1);
	assert_memory_equal(b.data, prep_enc, b.len);

	/* And back, with the padding members zeroed. */
	resp_cmd_parser_init(&p, NULL);
	assert_int_equal(resp_cmd_parse(&p, b.data, b.len, &cmd, &consumed), 1);
	assert_int_equal(txn_wire_decode_cmd(&cmd, NULL, &out, &mem), 0);
	assert_msg_equal(&m, &out);
	assert_int_equal(out.u.prepare.ranges.v[0].pad_, 0);
	assert_null(out.u.prepare.reads.v);
	assert_int_equal(out.u.prepare.reads.n, 0);
	/* BYTES are borrowed from the arguments. */
	assert_ptr_equal(out.u.prepare.writes.v[0].key.p, cmd.argv[14]);

	resp_cmd_parser_free(&p);
	txn_wire_mem_free(&mem);
	resp_buf_free(&b);
}

/* Random messages of every type, pipelined in one stream, through the
 * request parser fed in random pieces (and once byte by byte). */
static void test_roundtrip_cmd(void **state)
{
	size_t round;

	(void)state;
	for (round = 0; round < 40; round++) {
		struct stream s;
		size_t n = 1 + rnd_below(3 * (TXN_MSG_COUNT_ - 1));

		stream_make(&s, n, round);
		assert_int_equal(feed_cmds(s.buf.data, s.buf.len, round == 0,
					   on_cmd, &s),
				 n);
		assert_int_equal(s.next, n);
		stream_free(&s);
	}
}

/* The same bytes as replies: the reply parser and the reply decoder. */
static void test_roundtrip_reply(void **state)
{
	size_t round;

	(void)state;
	for (round = 0; round < 40; round++) {
		struct stream s;
		size_t n = 1 + rnd_below(3 * (TXN_MSG_COUNT_ - 1));

		stream_make(&s, n, round + 7);
		assert_int_equal(feed_replies(s.buf.data, s.buf.len,
					      round == 0, on_reply, &s),
				 n);
		assert_int_equal(s.next, n);
		stream_free(&s);
	}
}

/* Many random messages per type, one at a time (more list shapes). */
static void test_roundtrip_many(void **state)
{
	unsigned t;
	size_t i;

	(void)state;
	for (t = 1; t < TXN_MSG_COUNT_; t++) {
		struct txn_wire_mem mem;

		txn_wire_mem_init(&mem);
		for (i = 0; i < 150; i++) {
			struct arena a = {0};
			struct txn_msg m, out;
			struct parsed ps;

			gen_msg(&a, &m, (enum txn_msg_type)t);
			parse_one(&ps, &m);
			assert_int_equal(txn_wire_decode_cmd(&ps.cmd, NULL, &out,
							     &mem),
					 0);
			assert_msg_equal(&m, &out);
			parsed_free(&ps);
			arena_free(&a);
		}
		txn_wire_mem_free(&mem);
	}
}

/* Dropping the last k arguments, for every k: always PROTO, clean. */
static void test_truncations(void **state)
{
	unsigned t;
	size_t i, k;

	(void)state;
	for (t = 1; t < TXN_MSG_COUNT_; t++) {
		for (i = 0; i < 12; i++) {
			struct arena a = {0};
			struct txn_msg m, out;
			struct txn_wire_mem mem;
			struct parsed ps;

			txn_wire_mem_init(&mem);
			gen_msg(&a, &m, (enum txn_msg_type)t);
			parse_one(&ps, &m);
			for (k = 1; k <= ps.cmd.argc; k++) {
				int rc;

				/* A previous success leaves lists in mem:
				 * the failure must release them. */
				assert_int_equal(txn_wire_decode_cmd(&ps.cmd,
								     NULL, &out,
								     &mem),
						 0);
				rc = txn_wire_decode(ps.cmd.argc - k,
						     ps.cmd.argv,
						     ps.cmd.argvlen, NULL, &out,
						     &mem);
				expect_fail(rc, DKV_ERR_PROTO, &out, &mem);
			}
			txn_wire_mem_free(&mem);
			parsed_free(&ps);
			arena_free(&a);
		}
	}
}

struct bad {
	const char *s;
	size_t len; /* 0: strlen(s) */
};

#define BAD(str) {str, sizeof(str) - 1}

static const struct bad bad_any_number[] = {
	BAD(""), BAD("abc"), BAD("+1"), BAD("01"), BAD("00"), BAD(" 1"),
	BAD("1 "), BAD("1x"), BAD("0x10"), BAD("1.0"), BAD("1e3"),
	BAD("99999999999999999999999"), BAD("\0"), BAD("1\0"),
	BAD("--1"), BAD("-"),
};
static const struct bad bad_unsigned[] = {BAD("-1"), BAD("-0")};
static const struct bad bad_u8[] = {BAD("256"), BAD("1000")};
static const struct bad bad_u32[] = {BAD("4294967296"),
				     BAD("18446744073709551615")};
static const struct bad bad_u64[] = {BAD("18446744073709551616"),
				     BAD("99999999999999999999")};
static const struct bad bad_i32[] = {BAD("2147483648"), BAD("-2147483649"),
				     BAD("-0"), BAD("-01"),
				     BAD("4294967295")};
static const struct bad bad_txid[] = {
	BAD("0000000000000000000000000000000"),   /* 31 */
	BAD("000000000000000000000000000000000"), /* 33 */
	BAD("0000000000000000000000000000000A"),
	BAD("000000000000000g0000000000000000"),
	BAD("0000000000000000:000000000000000"),
	BAD(""),
	BAD("0"),
};
static const struct bad bad_count[] = {
	BAD("-1"), BAD("4294967295"), BAD("4294967296"), BAD("1000000"),
};
static const struct bad bad_cmd[] = {BAD("dkv.txn"), BAD("DKV.TXNX"),
				     BAD("DKV"), BAD(""), BAD("DKV.TXN\0")};
static const struct bad bad_type[] = {BAD("read"), BAD("NOPE"), BAD(""),
				      BAD("READ "), BAD("?"),
				      BAD("PREPARE_L\0"), BAD("NONE_")};

#define NBAD(a) (sizeof(a) / sizeof((a)[0]))

static void expect_bad(const struct resp_cmd *c, size_t at,
		       const struct bad *list, size_t n,
		       struct txn_wire_mem *mem)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct txn_msg out;
		int rc = decode_mut(c, at, list[i].s, list[i].len, NULL, &out,
				    mem);

		if (rc != DKV_ERR_PROTO)
			fail_msg("argument %zu := \"%.*s\": %d", at,
				 (int)list[i].len, list[i].s, rc);
		expect_fail(rc, DKV_ERR_PROTO, &out, mem);
	}
}

/* A replacement that must be accepted: decodes, and encodes back to the
 * same arguments (the canonical form). */
static void expect_good(const struct resp_cmd *c, size_t at, const char *s,
			struct txn_wire_mem *mem)
{
	struct txn_msg out;
	struct resp_buf b;
	struct resp_cmd_parser p;
	struct resp_cmd back;
	size_t consumed, i;
	int rc = decode_mut(c, at, s, strlen(s), NULL, &out, mem);

	if (rc != 0)
		fail_msg("argument %zu := \"%s\": %d %s", at, s, rc,
			 txn_wire_error(mem));
	resp_buf_init(&b, 0);
	assert_int_equal(txn_wire_encode(&b, &out), 0);
	resp_cmd_parser_init(&p, NULL);
	assert_int_equal(resp_cmd_parse(&p, b.data, b.len, &back, &consumed),
			 1);
	assert_int_equal(back.argc, c->argc);
	for (i = 0; i < c->argc; i++) {
		const char *want = i == at ? s : c->argv[i];
		size_t wlen = i == at ? strlen(s) : c->argvlen[i];

		assert_int_equal(back.argvlen[i], wlen);
		if (wlen)
			assert_memory_equal(back.argv[i], want, wlen);
	}
	resp_cmd_parser_free(&p);
	resp_buf_free(&b);
}

/* Every numeric argument, count, TXID, name and type replaced with
 * malformed text; extra trailing arguments. All PROTO. */
static void test_mutations(void **state)
{
	static struct roles rs;
	unsigned t;
	size_t i, at;

	(void)state;
	for (t = 1; t < TXN_MSG_COUNT_; t++) {
		for (i = 0; i < 4; i++) {
			struct arena a = {0};
			struct txn_msg m, out;
			struct txn_wire_mem mem;
			struct parsed ps;
			char huge[24];

			txn_wire_mem_init(&mem);
			gen_list_max = i == 0 ? 3 : 12;
			gen_msg(&a, &m, (enum txn_msg_type)t);
			gen_list_max = 50;
			parse_one(&ps, &m);
			msg_roles(&m, &rs);
			assert_int_equal(rs.n, ps.cmd.argc);
			snprintf(huge, sizeof(huge), "%zu", ps.cmd.argc);
			for (at = 0; at < ps.cmd.argc; at++) {
				const struct resp_cmd *c = &ps.cmd;
				enum role r = rs.r[at];
				struct bad h = {huge, strlen(huge)};

				switch (r) {
				case R_CMD:
					expect_bad(c, at, bad_cmd,
						   NBAD(bad_cmd), &mem);
					break;
				case R_TYPE:
					expect_bad(c, at, bad_type,
						   NBAD(bad_type), &mem);
					break;
				case R_TXID:
					expect_bad(c, at, bad_txid,
						   NBAD(bad_txid), &mem);
					expect_good(c, at,
						    "ffffffffffffffff"
						    "0000000000000000",
						    &mem);
					break;
				case R_COUNT:
					expect_bad(c, at, bad_any_number,
						   NBAD(bad_any_number), &mem);
					expect_bad(c, at, bad_count,
						   NBAD(bad_count), &mem);
					/* More than the arguments. */
					expect_bad(c, at, &h, 1, &mem);
					break;
				case R_U8:
				case R_U32:
				case R_U64:
				case R_I32:
					expect_bad(c, at, bad_any_number,
						   NBAD(bad_any_number), &mem);
					if (r == R_I32) {
						expect_bad(c, at, bad_i32,
							   NBAD(bad_i32), &mem);
						expect_good(c, at,
							    "-2147483648",
							    &mem);
						expect_good(c, at,
							    "2147483647",
							    &mem);
						expect_good(c, at, "0", &mem);
						break;
					}
					expect_bad(c, at, bad_unsigned,
						   NBAD(bad_unsigned), &mem);
					expect_good(c, at, "0", &mem);
					if (r == R_U8) {
						expect_bad(c, at, bad_u8,
							   NBAD(bad_u8), &mem);
						expect_good(c, at, "255", &mem);
					} else if (r == R_U32) {
						expect_bad(c, at, bad_u32,
							   NBAD(bad_u32), &mem);
						expect_good(c, at,
							    "4294967295",
							    &mem);
					} else {
						expect_bad(c, at, bad_u64,
							   NBAD(bad_u64), &mem);
						expect_good(
							c, at,
							"18446744073709551615",
							&mem);
					}
					break;
				case R_KEY:
				case R_VALUE:
					/* Any bytes are a valid string. */
					expect_good(c, at, "", &mem);
					break;
				}
			}
			/* Extra trailing arguments. */
			expect_bad(&ps.cmd, ps.cmd.argc, bad_any_number,
				   NBAD(bad_any_number), &mem);
			{
				struct bad ok[] = {BAD("0"), BAD("1")};

				expect_bad(&ps.cmd, ps.cmd.argc, ok, NBAD(ok),
					   &mem);
			}
			/* Still decodes untouched. */
			assert_int_equal(txn_wire_decode_cmd(&ps.cmd, NULL,
							     &out, &mem),
					 0);
			assert_msg_equal(&m, &out);
			txn_wire_mem_free(&mem);
			parsed_free(&ps);
			arena_free(&a);
		}
	}
}

/* A count that the arguments could hold only by eating the later fields'
 * arguments is refused at the count, before allocating. */
static void test_counts(void **state)
{
	struct txn_msg m, out;
	struct txn_wire_mem mem;
	struct parsed ps;
	uint32_t parts[3] = {1, 2, 3};
	char num[24];
	size_t at;

	(void)state;
	txn_wire_mem_init(&mem);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE_L;
	m.u.prepare_l.parts.v = parts;
	m.u.prepare_l.parts.n = 3;
	parse_one(&ps, &m);
	/* DKV.TXN PREPARE_L 4 addr, txid ts sent, parts: count at 9. */
	at = 9;
	assert_int_equal(ps.cmd.argvlen[at], 1);
	assert_memory_equal(ps.cmd.argv[at], "3", 1);
	/* 3 parts + writes, reads, ranges counts = 6 arguments after it:
	 * counts 4 to 6 would fit them but leave none for the later fields,
	 * 7 does not fit at all. */
	for (unsigned c = 4; c <= 7; c++) {
		int rc;

		snprintf(num, sizeof(num), "%u", c);
		rc = decode_mut(&ps.cmd, at, num, strlen(num), NULL, &out,
				&mem);
		expect_fail(rc, DKV_ERR_PROTO, &out, &mem);
		assert_non_null(strstr(txn_wire_error(&mem),
				       "count larger than the arguments left"));
	}
	/* A smaller count leaves arguments over. */
	assert_int_equal(decode_mut(&ps.cmd, at, "2", 1, NULL, &out, &mem),
			 DKV_ERR_PROTO);
	/* Huge count with a tiny max_list: PROTO (the arguments) first. */
	{
		struct txn_wire_limits lim = {1, 0, 0};

		assert_int_equal(decode_mut(&ps.cmd, at, "4000000000", 10,
					    &lim, &out, &mem),
				 DKV_ERR_PROTO);
		assert_int_equal(txn_wire_decode_cmd(&ps.cmd, &lim, &out, &mem),
				 DKV_ERR_TOO_BIG);
		lim.max_list = 3;
		assert_int_equal(txn_wire_decode_cmd(&ps.cmd, &lim, &out, &mem),
				 0);
		assert_int_equal(out.u.prepare_l.parts.n, 3);
		assert_int_equal(out.u.prepare_l.parts.v[2], 3);
	}
	parsed_free(&ps);

	/* Groups of four: COMMIT1 with 2 writes, count at 9, then 8 write
	 * arguments and the reads and ranges counts. 3 writes would need 12
	 * arguments: refused at the count although 10 arguments follow. */
	{
		struct txn_write w[2] = {{1, TXN_W_PUT, {"a", 1}, {"b", 1}},
					 {2, TXN_W_DEL, {"c", 1}, {NULL, 0}}};

		memset(&m, 0, sizeof(m));
		m.type = TXN_MSG_COMMIT1;
		m.u.commit1.writes.v = w;
		m.u.commit1.writes.n = 2;
		parse_one(&ps, &m);
		assert_int_equal(ps.cmd.argc, 20);
		assert_memory_equal(ps.cmd.argv[9], "2", 1);
		expect_fail(decode_mut(&ps.cmd, 9, "3", 1, NULL, &out, &mem),
			    DKV_ERR_PROTO, &out, &mem);
		assert_non_null(strstr(txn_wire_error(&mem),
				       "field writes (argument 9): list count "
				       "larger than the arguments left"));
		expect_fail(decode_mut(&ps.cmd, 9, "1", 1, NULL, &out, &mem),
			    DKV_ERR_PROTO, &out, &mem);
		assert_int_equal(txn_wire_decode_cmd(&ps.cmd, NULL, &out, &mem),
				 0);
		assert_msg_equal(&m, &out);
		parsed_free(&ps);
	}
	txn_wire_mem_free(&mem);
}

/* Limits: at the limit fine, one below it TOO_BIG, on random messages. */
static void test_limits(void **state)
{
	static struct roles rs;
	unsigned t;
	size_t i, at;

	(void)state;
	for (t = 1; t < TXN_MSG_COUNT_; t++) {
		for (i = 0; i < 20; i++) {
			struct arena a = {0};
			struct txn_msg m, out;
			struct txn_wire_mem mem;
			struct txn_wire_limits lim;
			struct parsed ps;
			size_t max_list = 0, max_key = 0, max_val = 0;
			int rc;

			txn_wire_mem_init(&mem);
			gen_msg(&a, &m, (enum txn_msg_type)t);
			parse_one(&ps, &m);
			msg_roles(&m, &rs);
			for (at = 0; at < ps.cmd.argc; at++) {
				size_t l = ps.cmd.argvlen[at];

				if (rs.r[at] == R_KEY && l > max_key)
					max_key = l;
				if (rs.r[at] == R_VALUE && l > max_val)
					max_val = l;
				if (rs.r[at] == R_COUNT) {
					size_t c = strtoull(
						ps.cmd.argv[at], NULL, 10);

					if (c > max_list)
						max_list = c;
				}
			}
			/* Exactly at the limits (0 would mean default). */
			lim.max_list = max_list ? max_list : 1;
			lim.max_key = max_key ? max_key : 1;
			lim.max_value = max_val ? max_val : 1;
			assert_int_equal(txn_wire_decode_cmd(&ps.cmd, &lim,
							     &out, &mem),
					 0);
			assert_msg_equal(&m, &out);
			if (max_list > 1) {
				lim.max_list = max_list - 1;
				rc = txn_wire_decode_cmd(&ps.cmd, &lim, &out,
							 &mem);
				expect_fail(rc, DKV_ERR_TOO_BIG, &out, &mem);
				lim.max_list = max_list;
			}
			if (max_key > 1) {
				lim.max_key = max_key - 1;
				rc = txn_wire_decode_cmd(&ps.cmd, &lim, &out,
							 &mem);
				expect_fail(rc, DKV_ERR_TOO_BIG, &out, &mem);
				lim.max_key = max_key;
			}
			if (max_val > 1) {
				lim.max_value = max_val - 1;
				rc = txn_wire_decode_cmd(&ps.cmd, &lim, &out,
							 &mem);
				expect_fail(rc, DKV_ERR_TOO_BIG, &out, &mem);
				lim.max_value = max_val;
			}
			txn_wire_mem_free(&mem);
			parsed_free(&ps);
			arena_free(&a);
		}
	}
}

/* Defaults and clamping of the limits. */
static void test_limit_defaults(void **state)
{
	struct txn_wire_limits lim;
	struct txn_msg m, out;
	struct txn_wire_mem mem;
	struct parsed ps;
	char *big = calloc(1, TXN_WIRE_DEFAULT_MAX_KEY + 1);

	(void)state;
	assert_non_null(big);
	txn_wire_limits_default(&lim);
	assert_int_equal(lim.max_list, 65536);
	assert_int_equal(lim.max_key, 64 << 10);
	assert_int_equal(lim.max_value, 64 << 20);
	txn_wire_mem_init(&mem);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_READ;
	m.u.read.key.p = big;
	m.u.read.key.len = TXN_WIRE_DEFAULT_MAX_KEY;
	parse_one(&ps, &m);
	assert_int_equal(txn_wire_decode_cmd(&ps.cmd, NULL, &out, &mem), 0);
	parsed_free(&ps);
	m.u.read.key.len++;
	parse_one(&ps, &m);
	assert_int_equal(txn_wire_decode_cmd(&ps.cmd, NULL, &out, &mem),
			 DKV_ERR_TOO_BIG);
	assert_non_null(strstr(txn_wire_error(&mem), "field key"));
	/* Zero fields take their defaults; huge ones are clamped. */
	memset(&lim, 0, sizeof(lim));
	assert_int_equal(txn_wire_decode_cmd(&ps.cmd, &lim, &out, &mem),
			 DKV_ERR_TOO_BIG);
	lim.max_key = SIZE_MAX;
	lim.max_list = SIZE_MAX;
	lim.max_value = SIZE_MAX;
	assert_int_equal(txn_wire_decode_cmd(&ps.cmd, &lim, &out, &mem), 0);
	parsed_free(&ps);
	/* A value under max_value but over max_key: fine (READ_REPLY val). */
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_READ_REPLY;
	m.u.read_reply.val.p = big;
	m.u.read_reply.val.len = TXN_WIRE_DEFAULT_MAX_KEY + 1;
	parse_one(&ps, &m);
	assert_int_equal(txn_wire_decode_cmd(&ps.cmd, NULL, &out, &mem), 0);
	parsed_free(&ps);
	txn_wire_mem_free(&mem);
	free(big);
}

static void test_encode_errors(void **state)
{
	struct txn_msg m;
	struct resp_buf b;
	uint32_t parts[2] = {1, 2};
	size_t need;

	(void)state;
	resp_buf_init(&b, 0);
	memset(&m, 0, sizeof(m));
	assert_int_equal(txn_wire_encode(&b, &m), DKV_ERR_INVAL);
	assert_int_equal(txn_wire_size(&m), 0);
	assert_int_equal(txn_wire_argc(&m), 0);
	m.type = TXN_MSG_COUNT_;
	assert_int_equal(txn_wire_encode(&b, &m), DKV_ERR_INVAL);
	m.type = (enum txn_msg_type)1000;
	assert_int_equal(txn_wire_encode(&b, &m), DKV_ERR_INVAL);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_READ;
	m.u.read.key.len = 3; /* p NULL */
	assert_int_equal(txn_wire_encode(&b, &m), DKV_ERR_INVAL);
	assert_int_equal(txn_wire_size(&m), 0);
	m.u.read.key.len = 0; /* NULL and empty: fine */
	assert_int_equal(txn_wire_encode(&b, &m), 0);
	resp_buf_reset(&b);
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE_L;
	m.u.prepare_l.writes.n = 1; /* v NULL */
	assert_int_equal(txn_wire_encode(&b, &m), DKV_ERR_INVAL);
	assert_int_equal(b.len, 0);
	resp_buf_free(&b);

	/* All or nothing against the buffer's bound: earlier bytes kept. */
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE_L;
	m.u.prepare_l.parts.v = parts;
	m.u.prepare_l.parts.n = 2;
	need = txn_wire_size(&m);
	resp_buf_init(&b, 10 + need - 1);
	assert_int_equal(resp_put_raw(&b, "0123456789", 10), 0);
	assert_int_equal(txn_wire_encode(&b, &m), DKV_ERR_TOO_BIG);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, "0123456789", 10);
	resp_buf_free(&b);
	resp_buf_init(&b, 10 + need);
	assert_int_equal(resp_put_raw(&b, "0123456789", 10), 0);
	assert_int_equal(txn_wire_encode(&b, &m), 0);
	assert_int_equal(b.len, 10 + need);
	resp_buf_free(&b);
}

/* An inline command works too; error texts; reply shapes refused. */
static void test_inline_errors_replies(void **state)
{
	static const char line[] =
		"DKV.TXN COMMIT 2 7 1 3 0123456789abcdef0011223344556677 "
		"42\r\n";
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	struct txn_msg out;
	struct txn_wire_mem mem;
	struct txn_wire_args a;
	struct resp_reply el[3], r;
	size_t consumed;

	(void)state;
	txn_wire_mem_init(&mem);
	resp_cmd_parser_init(&p, NULL);
	assert_int_equal(resp_cmd_parse(&p, line, sizeof(line) - 1, &cmd,
					&consumed),
			 1);
	assert_true(cmd.is_inline);
	assert_int_equal(txn_wire_decode_cmd(&cmd, NULL, &out, &mem), 0);
	assert_int_equal(out.type, TXN_MSG_COMMIT);
	assert_int_equal(out.from.kind, TXN_ADDR_COORD);
	assert_int_equal(out.from.id, 7);
	assert_int_equal(out.to.kind, TXN_ADDR_SHARD);
	assert_int_equal(out.to.id, 3);
	assert_true(out.u.commit.txid.hi == UINT64_C(0x0123456789abcdef));
	assert_true(out.u.commit.txid.lo == UINT64_C(0x0011223344556677));
	assert_int_equal(out.u.commit.tc, 42);

	/* The error text names the type, field and argument. */
	{
		const char *argv[9] = {"DKV.TXN", "COMMIT", "2", "7", "1", "3",
				       "0123456789abcdef0011223344556677",
				       "x"};
		size_t argvlen[9], i;

		for (i = 0; i < 8; i++)
			argvlen[i] = strlen(argv[i]);
		assert_int_equal(txn_wire_decode(8, argv, argvlen, NULL, &out,
						 &mem),
				 DKV_ERR_PROTO);
		assert_string_equal(txn_wire_error(&mem),
				    "DKV.TXN COMMIT: field tc (argument 7): "
				    "not a decimal number in "
				    "0..18446744073709551615");
		assert_int_equal(txn_wire_decode(0, NULL, NULL, NULL, &out,
						 &mem),
				 DKV_ERR_PROTO);
		assert_int_equal(txn_wire_decode(1, argv, argvlen, NULL, &out,
						 &mem),
				 DKV_ERR_PROTO);
		assert_string_equal(txn_wire_error(&mem),
				    "DKV.TXN: field type (argument 1): "
				    "missing argument");
		assert_int_equal(txn_wire_decode(7, argv, argvlen, NULL, &out,
						 &mem),
				 DKV_ERR_PROTO);
		assert_string_equal(txn_wire_error(&mem),
				    "DKV.TXN COMMIT: field tc (argument 7): "
				    "missing argument");
		argv[7] = "42";
		argvlen[7] = 2;
		assert_int_equal(txn_wire_decode(8, argv, argvlen, NULL, &out,
						 &mem),
				 0);
		assert_string_equal(txn_wire_error(&mem), "");
		argv[8] = "";
		argvlen[8] = 0;
		assert_int_equal(txn_wire_decode(9, argv, argvlen, NULL, &out,
						 &mem),
				 DKV_ERR_PROTO);
		assert_string_equal(txn_wire_error(&mem),
				    "DKV.TXN COMMIT: argument 8: extra arguments "
				    "after the last field");
		argv[1] = "commit";
		argvlen[1] = 6;
		assert_int_equal(txn_wire_decode(8, argv, argvlen, NULL, &out,
						 &mem),
				 DKV_ERR_PROTO);
		assert_string_equal(txn_wire_error(&mem),
				    "DKV.TXN: field type (argument 1): "
				    "unknown message type");
	}

	/* Replies that are not arrays of bulks. */
	memset(el, 0, sizeof(el));
	memset(&r, 0, sizeof(r));
	r.type = RESP_ERROR;
	r.str = "ERR x";
	r.len = 5;
	assert_int_equal(txn_wire_decode_reply(&r, NULL, &out, &mem),
			 DKV_ERR_PROTO);
	assert_string_equal(txn_wire_error(&mem),
			    "DKV.TXN: the reply is of type error, not an array "
			    "of bulk strings");
	assert_int_equal(txn_wire_reply_args(&r, &a), DKV_ERR_PROTO);
	assert_int_equal(a.argc, 0);
	assert_null(a.argv);
	el[0].type = RESP_BULK;
	el[0].str = "DKV.TXN";
	el[0].len = 7;
	el[1].type = RESP_STRING; /* +ABORT: not a bulk */
	el[1].str = "ABORT";
	el[1].len = 5;
	el[2].type = RESP_INTEGER;
	r.type = RESP_ARRAY;
	r.str = NULL;
	r.len = 0;
	r.n = 3;
	r.elems = el;
	assert_int_equal(txn_wire_decode_reply(&r, NULL, &out, &mem),
			 DKV_ERR_PROTO);
	assert_string_equal(txn_wire_error(&mem),
			    "DKV.TXN: element 1 of the reply is of type string, "
			    "not a bulk string");
	assert_true(is_zero(&out, sizeof(out)));
	assert_int_equal(txn_wire_reply_args(&r, &a), DKV_ERR_PROTO);
	r.n = 0;
	r.elems = NULL;
	assert_int_equal(txn_wire_decode_reply(&r, NULL, &out, &mem),
			 DKV_ERR_PROTO);
	assert_int_equal(txn_wire_reply_args(&r, &a), 0);
	assert_int_equal(a.argc, 0);
	txn_wire_args_free(&a);

	resp_cmd_parser_free(&p);
	txn_wire_mem_free(&mem);
}

/* Lists at their largest under the request parser's default limits are
 * fine; one message with long lists of every kind round-trips. */
static void test_long_lists(void **state)
{
	struct arena a = {0};
	struct txn_msg m, out;
	struct txn_wire_mem mem;
	struct parsed ps;
	size_t i;

	(void)state;
	txn_wire_mem_init(&mem);
	gen_list_max = 3000;
	for (i = 0; i < 4; i++) {
		gen_msg(&a, &m, TXN_MSG_PREPARE_L);
		parse_one(&ps, &m);
		assert_int_equal(txn_wire_decode_cmd(&ps.cmd, NULL, &out, &mem),
				 0);
		assert_msg_equal(&m, &out);
		parsed_free(&ps);
		gen_msg(&a, &m, TXN_MSG_RANGE_REPLY);
		parse_one(&ps, &m);
		assert_int_equal(txn_wire_decode_cmd(&ps.cmd, NULL, &out, &mem),
				 0);
		assert_msg_equal(&m, &out);
		parsed_free(&ps);
	}
	gen_list_max = 50;
	txn_wire_mem_free(&mem);
	arena_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_names, setup_rng),
		cmocka_unit_test_setup(test_exact_bytes, setup_rng),
		cmocka_unit_test_setup(test_roundtrip_cmd, setup_rng),
		cmocka_unit_test_setup(test_roundtrip_reply, setup_rng),
		cmocka_unit_test_setup(test_roundtrip_many, setup_rng),
		cmocka_unit_test_setup(test_truncations, setup_rng),
		cmocka_unit_test_setup(test_mutations, setup_rng),
		cmocka_unit_test_setup(test_counts, setup_rng),
		cmocka_unit_test_setup(test_limits, setup_rng),
		cmocka_unit_test_setup(test_limit_defaults, setup_rng),
		cmocka_unit_test_setup(test_encode_errors, setup_rng),
		cmocka_unit_test_setup(test_inline_errors_replies, setup_rng),
		cmocka_unit_test_setup(test_long_lists, setup_rng),
	};

	seed_once();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
