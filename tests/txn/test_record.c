/*
 * The transaction layer's durable records (src/txn/record.c): every
 * encoding round-trips, every truncation and every bound is refused,
 * seeded garbage never crashes a decoder, and the message schema's deep
 * copy owns what it copies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "txn/record.h"
#include "txn/txn_msg.h"

static const struct dkv_txid ID = { UINT64_C(0x0123456789abcdef),
				    UINT64_C(0xfedcba9876543210) };

static void test_txid_keys(void **state)
{
	char key[TXN_REC_TXID_KEY_LEN], kind;
	struct dkv_txid id, other = { 1, 2 };

	(void)state;
	txn_rec_txid_key(key, TXN_REC_TX, &ID);
	assert_int_equal(txn_rec_txid_key_parse(key, sizeof(key), &kind, &id), 0);
	assert_int_equal(kind, TXN_REC_TX);
	assert_true(dkv_txid_eq(&id, &ID));
	/* Big-endian: keys sort by age. */
	txn_rec_txid_key(key, TXN_REC_DONE, &other);
	{
		char k2[TXN_REC_TXID_KEY_LEN];
		struct dkv_txid younger = { 1, 3 };

		txn_rec_txid_key(k2, TXN_REC_DONE, &younger);
		assert_true(memcmp(key, k2, sizeof(key)) < 0);
	}
	assert_int_equal(txn_rec_txid_key_parse(key, sizeof(key) - 1, &kind, &id),
			 DKV_ERR_CORRUPT);
	key[0] = 'Z';
	assert_int_equal(txn_rec_txid_key_parse(key, sizeof(key), &kind, &id),
			 DKV_ERR_CORRUPT);
}

static void test_intent_keys(void **state)
{
	struct txn_buf b = { 0 };
	const char *uk;
	size_t uklen;
	struct dkv_txid id;

	(void)state;
	txn_rec_intent_key(&b, "user/key", 8, &ID);
	assert_false(b.failed);
	assert_int_equal(b.len, 1 + 8 + 16);
	assert_int_equal(txn_rec_intent_key_parse(b.p, b.len, &uk, &uklen, &id), 0);
	assert_int_equal(uklen, 8);
	assert_memory_equal(uk, "user/key", 8);
	assert_true(dkv_txid_eq(&id, &ID));
	/* No user key, wrong prefix: corrupt. */
	assert_int_equal(txn_rec_intent_key_parse(b.p, 17, &uk, &uklen, &id),
			 DKV_ERR_CORRUPT);
	b.p[0] = 'T';
	assert_int_equal(txn_rec_intent_key_parse(b.p, b.len, &uk, &uklen, &id),
			 DKV_ERR_CORRUPT);
	txn_buf_free(&b);
}

static void sample_tx(struct txn_rec_tx *r, uint32_t *parts,
		      struct txn_range *ranges)
{
	memset(r, 0, sizeof(*r));
	r->state = TXN_REC_COMMITTED;
	r->leader = 7;
	r->ts = 100;
	r->sent = 101;
	r->proposed = 150;
	r->tc = 170;
	parts[0] = 7;
	parts[1] = 2;
	parts[2] = 9;
	r->parts.v = parts;
	r->parts.n = 3;
	memset(ranges, 0, 2 * sizeof(*ranges));
	ranges[0].start.p = "a";
	ranges[0].start.len = 1;
	ranges[0].end.p = "m";
	ranges[0].end.len = 1;
	ranges[1].start.p = "x";
	ranges[1].start.len = 1; /* empty end: unbounded */
	r->ranges.v = ranges;
	r->ranges.n = 2;
}

static void test_tx_roundtrip_and_truncation(void **state)
{
	struct txn_rec_tx r, d;
	uint32_t parts[3];
	struct txn_range ranges[2];
	struct txn_buf b = { 0 };

	(void)state;
	sample_tx(&r, parts, ranges);
	assert_int_equal(txn_rec_tx_encode(&b, &r), 0);
	assert_int_equal(txn_rec_tx_decode(b.p, b.len, &d), 0);
	assert_int_equal(d.state, TXN_REC_COMMITTED);
	assert_int_equal(d.leader, 7);
	assert_int_equal(d.ts, 100);
	assert_int_equal(d.sent, 101);
	assert_int_equal(d.proposed, 150);
	assert_int_equal(d.tc, 170);
	assert_int_equal(d.parts.n, 3);
	assert_int_equal(d.parts.v[2], 9);
	assert_int_equal(d.ranges.n, 2);
	assert_memory_equal(d.ranges.v[0].end.p, "m", 1);
	assert_int_equal(d.ranges.v[1].end.len, 0);
	txn_rec_tx_release(&d);
	/* Every proper prefix is refused, and so is a trailing byte. */
	for (size_t len = 0; len < b.len; len++)
		assert_int_equal(txn_rec_tx_decode(b.p, len, &d),
				 DKV_ERR_CORRUPT);
	txn_buf_u8(&b, 0);
	assert_int_equal(txn_rec_tx_decode(b.p, b.len, &d), DKV_ERR_CORRUPT);
	txn_buf_free(&b);
}

static void test_tx_bounds(void **state)
{
	struct txn_rec_tx r, d;
	struct txn_buf b = { 0 };

	(void)state;
	memset(&r, 0, sizeof(r));
	r.state = TXN_REC_PREPARED;
	r.ts = 5;
	assert_int_equal(txn_rec_tx_encode(&b, &r), 0);
	assert_int_equal(txn_rec_tx_decode(b.p, b.len, &d), 0);
	txn_rec_tx_release(&d);
	/* Committed without tc, or tc without commit: corrupt. */
	b.p[1] = TXN_REC_COMMITTED;
	assert_int_equal(txn_rec_tx_decode(b.p, b.len, &d), DKV_ERR_CORRUPT);
	b.p[1] = 9; /* unknown state */
	assert_int_equal(txn_rec_tx_decode(b.p, b.len, &d), DKV_ERR_CORRUPT);
	b.p[1] = TXN_REC_PREPARED;
	b.p[0] = 2; /* unknown version */
	assert_int_equal(txn_rec_tx_decode(b.p, b.len, &d), DKV_ERR_CORRUPT);
	b.p[0] = TXN_REC_VERSION;
	/* A count of parts far beyond the input: refused before allocating. */
	{
		size_t at = 1 + 1 + 4 + 8 * 4; /* the parts count */

		b.p[at] = (char)0xff;
		b.p[at + 1] = (char)0xff;
		b.p[at + 2] = (char)0xff;
		b.p[at + 3] = (char)0x7f;
		assert_int_equal(txn_rec_tx_decode(b.p, b.len, &d),
				 DKV_ERR_CORRUPT);
	}
	txn_buf_free(&b);
}

static void test_done_and_intent_values(void **state)
{
	struct txn_rec_done d = { TXN_REC_OUT_COMMITTED, 11, 22 }, e;
	char buf[TXN_REC_DONE_LEN];
	struct txn_buf b = { 0 };
	const char *val;
	size_t vlen;
	unsigned kind;

	(void)state;
	txn_rec_done_encode(buf, &d);
	assert_int_equal(txn_rec_done_decode(buf, sizeof(buf), &e), 0);
	assert_int_equal(e.outcome, TXN_REC_OUT_COMMITTED);
	assert_int_equal(e.sent, 11);
	assert_int_equal(e.tc, 22);
	assert_int_equal(txn_rec_done_decode(buf, sizeof(buf) - 1, &e),
			 DKV_ERR_CORRUPT);
	d.tc = 0; /* committed at 0: corrupt */
	txn_rec_done_encode(buf, &d);
	assert_int_equal(txn_rec_done_decode(buf, sizeof(buf), &e),
			 DKV_ERR_CORRUPT);
	d.outcome = TXN_REC_OUT_ABORTED;
	txn_rec_done_encode(buf, &d);
	assert_int_equal(txn_rec_done_decode(buf, sizeof(buf), &e), 0);

	assert_int_equal(txn_rec_intent_encode(&b, TXN_REC_I_PUT, "value", 5), 0);
	assert_int_equal(txn_rec_intent_decode(b.p, b.len, &kind, &val, &vlen), 0);
	assert_int_equal(kind, TXN_REC_I_PUT);
	assert_int_equal(vlen, 5);
	assert_memory_equal(val, "value", 5);
	assert_int_equal(txn_rec_intent_decode(b.p, 1, &kind, &val, &vlen),
			 DKV_ERR_CORRUPT);
	txn_buf_reset(&b);
	assert_int_equal(txn_rec_intent_encode(&b, TXN_REC_I_READ, NULL, 0), 0);
	assert_int_equal(txn_rec_intent_decode(b.p, b.len, &kind, &val, &vlen), 0);
	assert_int_equal(kind, TXN_REC_I_READ);
	txn_buf_u8(&b, 1); /* a read lock has no value */
	assert_int_equal(txn_rec_intent_decode(b.p, b.len, &kind, &val, &vlen),
			 DKV_ERR_CORRUPT);
	b.p[1] = 77;
	assert_int_equal(txn_rec_intent_decode(b.p, 2, &kind, &val, &vlen),
			 DKV_ERR_CORRUPT);
	txn_buf_free(&b);
}

static uint64_t xs(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Garbage, and valid records with random bytes flipped: every decoder
 * either accepts or says CORRUPT; ASan checks it never reads out of
 * bounds (each input is its own exact-size allocation). */
static void test_garbage(void **state)
{
	struct txn_rec_tx r, d;
	uint32_t parts[3];
	struct txn_range ranges[2];
	struct txn_buf good = { 0 };
	uint64_t seed = 42;

	(void)state;
	sample_tx(&r, parts, ranges);
	assert_int_equal(txn_rec_tx_encode(&good, &r), 0);
	for (int i = 0; i < 20000; i++) {
		size_t len = i % 2 ? good.len : xs(&seed) % 96;
		char *p = malloc(len ? len : 1);
		struct txn_rec_done dd;
		const char *v, *uk;
		size_t vl, ukl;
		unsigned kind;
		struct dkv_txid id;
		char c;
		int rc;

		assert_non_null(p);
		if (i % 2) {
			memcpy(p, good.p, len);
			p[xs(&seed) % len] = (char)xs(&seed);
		} else {
			for (size_t k = 0; k < len; k++)
				p[k] = (char)xs(&seed);
			if (len > 0 && i % 4 == 0)
				p[0] = TXN_REC_VERSION;
		}
		rc = txn_rec_tx_decode(p, len, &d);
		assert_true(rc == 0 || rc == DKV_ERR_CORRUPT);
		if (rc == 0)
			txn_rec_tx_release(&d);
		rc = txn_rec_done_decode(p, len, &dd);
		assert_true(rc == 0 || rc == DKV_ERR_CORRUPT);
		rc = txn_rec_intent_decode(p, len, &kind, &v, &vl);
		assert_true(rc == 0 || rc == DKV_ERR_CORRUPT);
		rc = txn_rec_intent_key_parse(p, len, &uk, &ukl, &id);
		assert_true(rc == 0 || rc == DKV_ERR_CORRUPT);
		rc = txn_rec_txid_key_parse(p, len, &c, &id);
		assert_true(rc == 0 || rc == DKV_ERR_CORRUPT);
		free(p);
	}
	txn_buf_free(&good);
}

static void test_msg_copy(void **state)
{
	struct txn_write w[2] = { { 1, TXN_W_PUT, { "k1", 2 }, { "v1", 2 } },
				  { 2, TXN_W_DEL, { "k2", 2 }, { NULL, 0 } } };
	struct txn_read r[1] = { { 3, 0, { "r", 1 }, 9 } };
	uint32_t parts[3] = { 1, 2, 3 };
	struct txn_msg m, c;
	char key[4] = "k1";

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE_L;
	m.u.prepare_l.txid = ID;
	m.u.prepare_l.parts.v = parts;
	m.u.prepare_l.parts.n = 3;
	m.u.prepare_l.writes.v = w;
	m.u.prepare_l.writes.n = 2;
	m.u.prepare_l.reads.v = r;
	m.u.prepare_l.reads.n = 1;
	w[0].key.p = key;
	assert_int_equal(txn_msg_copy(&c, &m), 0);
	key[0] = 'X'; /* the copy owns its bytes */
	assert_memory_equal(c.u.prepare_l.writes.v[0].key.p, "k1", 2);
	assert_int_equal(c.u.prepare_l.writes.v[1].kind, TXN_W_DEL);
	assert_int_equal(c.u.prepare_l.reads.v[0].epoch, 9);
	assert_int_equal(c.u.prepare_l.parts.v[2], 3);
	assert_true(dkv_txid_eq(txn_msg_txid(&c), &ID));
	assert_string_equal(txn_msg_name(c.type), "PREPARE_L");
	txn_msg_free(&c);
	assert_int_equal(c.type, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txid_keys),
		cmocka_unit_test(test_intent_keys),
		cmocka_unit_test(test_tx_roundtrip_and_truncation),
		cmocka_unit_test(test_tx_bounds),
		cmocka_unit_test(test_done_and_intent_values),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_msg_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
