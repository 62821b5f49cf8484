/*
 * fuzz_txn_wire.c - libFuzzer target of the transaction messages' wire
 * codec (src/proto/txn_wire.c, docs/proto.md "Transaction messages on the
 * wire").
 *
 * The input is parsed, whole, by the request parser (every command in it,
 * multibulk or inline) and by the reply parser (every reply in it); each
 * command and each reply is decoded with the default limits and with tiny
 * ones (so every TOO_BIG path is reachable with short inputs); a reply both
 * directly (txn_wire_decode_reply) and through txn_wire_reply_args.
 *
 * Invariants checked (abort() on violation):
 *  - a failure is PROTO, TOO_BIG or NOMEM, leaves *out zeroed and mem
 *    empty, and comes with a one-line text; a success clears the text;
 *  - tiny limits never turn a failure into a success nor PROTO into
 *    anything but PROTO or TOO_BIG: default OK -> OK or TOO_BIG, default
 *    TOO_BIG -> TOO_BIG;
 *  - the reply's two decoders agree;
 *  - a decoded message encodes to exactly the bytes of its arguments
 *    written as a multibulk command (one encoding per message: the format
 *    is canonical), of txn_wire_size() bytes and txn_wire_argc()
 *    arguments; decoded again, it encodes to the same bytes again.
 * No leaks: every parser, buffer and mem is freed (LeakSanitizer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"
#include "proto/txn_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: check failed: %s\n",          \
				__FILE__, __LINE__, #c);                       \
			abort();                                               \
		}                                                              \
	} while (0)

static const struct txn_wire_limits tiny = {
	.max_list = 2,
	.max_key = 3,
	.max_value = 5,
};

static int all_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (c[i] != 0)
			return 0;
	return 1;
}

static void check_outcome(int rc, const struct txn_msg *out,
			  const struct txn_wire_mem *mem)
{
	const char *e = txn_wire_error(mem);

	if (rc == 0) {
		CHECK(e[0] == '\0');
		return;
	}
	CHECK(rc == DKV_ERR_PROTO || rc == DKV_ERR_TOO_BIG ||
	      rc == DKV_ERR_NOMEM);
	CHECK(all_zero(out, sizeof(*out)));
	CHECK(mem->blocks_ == NULL);
	CHECK(e[0] != '\0');
	CHECK(strchr(e, '\r') == NULL && strchr(e, '\n') == NULL);
}

static void check_tiny(int rc, int rc_tiny)
{
	if (rc == 0)
		CHECK(rc_tiny == 0 || rc_tiny == DKV_ERR_TOO_BIG);
	else if (rc == DKV_ERR_TOO_BIG)
		CHECK(rc_tiny == DKV_ERR_TOO_BIG);
	else if (rc == DKV_ERR_PROTO)
		CHECK(rc_tiny == DKV_ERR_PROTO || rc_tiny == DKV_ERR_TOO_BIG);
}

/* m was decoded from argv: its encoding is argv written as a command. */
static void check_roundtrip(const struct txn_msg *m, size_t argc,
			    const char *const *argv, const size_t *argvlen)
{
	struct resp_buf enc, want, again;
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	struct txn_wire_mem mem;
	struct txn_msg back;
	size_t consumed = 0;

	resp_buf_init(&enc, 0);
	resp_buf_init(&want, 0);
	resp_buf_init(&again, 0);
	txn_wire_mem_init(&mem);
	CHECK(txn_wire_encode(&enc, m) == 0);
	CHECK(enc.len == txn_wire_size(m));
	CHECK(argc == txn_wire_argc(m));
	CHECK(resp_put_command(&want, argc, argv, argvlen) == 0);
	CHECK(enc.len == want.len && memcmp(enc.data, want.data, enc.len) == 0);

	resp_cmd_parser_init(&p, NULL);
	CHECK(resp_cmd_parse(&p, enc.data, enc.len, &cmd, &consumed) == 1);
	CHECK(consumed == enc.len);
	CHECK(txn_wire_decode_cmd(&cmd, NULL, &back, &mem) == 0);
	CHECK(txn_wire_encode(&again, &back) == 0);
	CHECK(again.len == enc.len &&
	      memcmp(again.data, enc.data, enc.len) == 0);

	resp_cmd_parser_free(&p);
	txn_wire_mem_free(&mem);
	resp_buf_free(&again);
	resp_buf_free(&want);
	resp_buf_free(&enc);
}

static void run_args(size_t argc, const char *const *argv,
		     const size_t *argvlen)
{
	struct txn_wire_mem mem, mt;
	struct txn_msg out, ot;
	int rc, rt;

	txn_wire_mem_init(&mem);
	txn_wire_mem_init(&mt);
	rc = txn_wire_decode(argc, argv, argvlen, NULL, &out, &mem);
	check_outcome(rc, &out, &mem);
	rt = txn_wire_decode(argc, argv, argvlen, &tiny, &ot, &mt);
	check_outcome(rt, &ot, &mt);
	check_tiny(rc, rt);
	if (rc == 0)
		check_roundtrip(&out, argc, argv, argvlen);
	if (rt == 0)
		check_roundtrip(&ot, argc, argv, argvlen);
	txn_wire_mem_free(&mt);
	txn_wire_mem_free(&mem);
}

static void run_cmds(const char *d, size_t size)
{
	struct resp_cmd_parser p;
	size_t start = 0;

	resp_cmd_parser_init(&p, NULL);
	for (;;) {
		struct resp_cmd cmd;
		size_t consumed = 0;

		if (resp_cmd_parse(&p, d + start, size - start, &cmd,
				   &consumed) != 1)
			break;
		start += consumed;
		run_args(cmd.argc, cmd.argv, cmd.argvlen);
	}
	resp_cmd_parser_free(&p);
}

static void run_reply(const struct resp_reply *r)
{
	struct txn_wire_mem mem, m2;
	struct txn_wire_args a;
	struct txn_msg out, o2;
	int rc, ra;

	txn_wire_mem_init(&mem);
	txn_wire_mem_init(&m2);
	rc = txn_wire_decode_reply(r, NULL, &out, &mem);
	check_outcome(rc, &out, &mem);
	ra = txn_wire_reply_args(r, &a);
	if (ra == 0) {
		int r2 = txn_wire_decode(a.argc, a.argv, a.argvlen, NULL, &o2,
					 &m2);

		CHECK(r2 == rc);
		if (rc == 0) {
			CHECK(txn_wire_size(&out) == txn_wire_size(&o2));
			check_roundtrip(&out, a.argc, a.argv, a.argvlen);
		}
		run_args(a.argc, a.argv, a.argvlen);
		txn_wire_args_free(&a);
	} else {
		/* Not an array of bulks: the reply decoder said so too. */
		CHECK(ra == DKV_ERR_PROTO && rc == DKV_ERR_PROTO);
		CHECK(a.argc == 0 && a.argv == NULL && a.argvlen == NULL);
	}
	txn_wire_mem_free(&m2);
	txn_wire_mem_free(&mem);
}

static void run_replies(const char *d, size_t size)
{
	struct resp_reply_parser p;
	size_t start = 0;

	resp_reply_parser_init(&p, NULL);
	for (;;) {
		const struct resp_reply *r = NULL;
		size_t consumed = 0;

		if (resp_reply_parse(&p, d + start, size - start, &r,
				     &consumed) != 1)
			break;
		start += consumed;
		run_reply(r);
	}
	resp_reply_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exactly sized copy (fuzz_main.c makes one too): ASan sees any
	 * read past the input. */
	char *d = malloc(size ? size : 1);

	CHECK(d != NULL);
	if (size)
		memcpy(d, data, size);
	run_cmds(d, size);
	run_replies(d, size);
	free(d);
	return 0;
}
