/*
 * fuzz_resp.c - libFuzzer target of the RESP codec (docs/proto.md).
 *
 * The input is fed, as a stream, to the request parser and to the reply
 * parser, each with the default limits and with tiny limits (so that every
 * TOO_BIG path is reachable with short inputs), three ways: whole, split at
 * a point chosen by the first byte, and (short inputs) one byte at a time.
 * Every call gets a fresh heap copy of exactly the bytes not yet consumed,
 * so AddressSanitizer catches a read past them and the parser is exercised
 * with a buffer that moves between calls.
 *
 * Invariants checked (abort() on violation):
 *  - consumed <= len; a complete message consumes > 0 bytes, anything
 *    else 0; argc >= 1;
 *  - multibulk argv[i][0..argvlen[i]) lies inside the consumed bytes,
 *    inline ones inside the parser's own buffer;
 *  - a reply tree's strings lie inside the consumed bytes, its counts are
 *    consistent, dup() gives an equal tree;
 *  - the outcome (messages, then the final code) is the same whatever the
 *    split; an error is sticky and comes with a one-line text;
 *  - a parsed reply written back with resp_put_reply parses again to an
 *    equal tree (modulo CR/LF in error and simple-string texts), and a
 *    parsed command written with resp_put_command parses again to the
 *    same arguments.
 * No leaks: every parser and buffer is freed (LeakSanitizer).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                               \
	do {                                                                   \
		if (!(c)) {                                                    \
			fprintf(stderr, "%s:%d: check failed: %s\n",          \
				__FILE__, __LINE__, #c);                       \
			abort();                                               \
		}                                                              \
	} while (0)

static const struct resp_limits tiny = {
	.max_args = 5,
	.max_bulk = 20,
	.max_inline = 30,
	.max_request = 100,
	.max_depth = 3,
};

static void check_errtext(const char *t)
{
	CHECK(t[0] != '\0');
	CHECK(strchr(t, '\r') == NULL && strchr(t, '\n') == NULL);
}

/* A copy of exactly buf[0..n), so that ASan sees any read past n. */
static char *window(const char *buf, size_t n)
{
	char *w = malloc(n ? n : 1);

	CHECK(w != NULL);
	if (n)
		memcpy(w, buf, n);
	return w;
}

/* Runs the request parser over data[0..size); bytes become available at
 * the offsets steps[0] < steps[1] < ... (the last being size). Appends the
 * commands and the final code to log. */
static void run_cmd(const char *data, size_t size, const size_t *steps,
		    size_t nsteps, const struct resp_limits *lim,
		    struct resp_buf *log)
{
	struct resp_cmd_parser p;
	size_t start = 0, s = 0;
	int rc;

	resp_cmd_parser_init(&p, lim);
	for (;;) {
		size_t avail = steps[s], consumed = 12345, n = avail - start, i;
		char *w = window(data + start, n);
		struct resp_cmd cmd;

		rc = resp_cmd_parse(&p, w, n, &cmd, &consumed);
		CHECK(consumed <= n);
		CHECK(rc == 1 || consumed == 0);
		if (rc == 1) {
			CHECK(consumed > 0);
			CHECK(cmd.argc >= 1);
			for (i = 0; i < cmd.argc; i++) {
				const char *a = cmd.argv[i];
				size_t l = cmd.argvlen[i];

				if (cmd.is_inline) {
					CHECK(a >= p.ibuf_ &&
					      l <= p.icap_ &&
					      (size_t)(a - p.ibuf_) <=
						      p.icap_ - l);
					CHECK(l <= consumed);
				} else {
					CHECK(a >= w && l <= consumed &&
					      (size_t)(a - w) <= consumed - l);
				}
				if (!cmd.is_inline)
					CHECK(l <= p.lim.max_bulk);
			}
			CHECK(cmd.argc <= p.lim.max_args);
			CHECK(resp_put_command(log, cmd.argc, cmd.argv,
					       cmd.argvlen) == 0);
			CHECK(resp_put_int(log, cmd.is_inline) == 0);
		}
		free(w);
		if (rc < 0)
			break;
		start += consumed;
		if (rc == 0) {
			if (s + 1 == nsteps)
				break;
			s++;
		}
	}
	if (rc < 0) {
		struct resp_cmd cmd;
		size_t consumed;

		check_errtext(resp_cmd_parser_error(&p));
		CHECK(resp_cmd_parse(&p, data, size, &cmd, &consumed) == rc);
		CHECK(consumed == 0);
	}
	CHECK(resp_put_int(log, rc) == 0);
	resp_cmd_parser_free(&p);
}

static void check_tree(const struct resp_reply *r, const char *w,
		       size_t consumed, size_t depth, size_t max_depth)
{
	size_t i;

	CHECK(depth <= max_depth + 1);
	switch (r->type) {
	case RESP_STRING:
	case RESP_ERROR:
	case RESP_BULK:
	case RESP_DOUBLE:
	case RESP_BIGNUM:
	case RESP_VERBATIM:
		CHECK(r->str != NULL);
		CHECK(r->str >= w && r->len <= consumed &&
		      (size_t)(r->str - w) <= consumed - r->len);
		if (r->type == RESP_VERBATIM)
			CHECK(r->len >= 4 && r->str[3] == ':');
		break;
	case RESP_ARRAY:
	case RESP_MAP:
	case RESP_SET:
	case RESP_PUSH:
		CHECK(r->type != RESP_MAP || r->n % 2 == 0);
		CHECK((r->n == 0) == (r->elems == NULL));
		CHECK(depth <= max_depth);
		for (i = 0; i < r->n; i++)
			check_tree(&r->elems[i], w, consumed, depth + 1,
				   max_depth);
		break;
	case RESP_BOOL:
		CHECK(r->integer == 0 || r->integer == 1);
		break;
	case RESP_INTEGER:
	case RESP_NIL:
	case RESP_NIL_ARRAY:
	case RESP_NULL:
		break;
	default:
		CHECK(0);
	}
}

/* Equality, except that the writers turn CR and LF into spaces in the
 * texts of errors and simple strings. */
static int eq_written(const struct resp_reply *a, const struct resp_reply *b)
{
	size_t i;

	if (a->type != b->type)
		return 0;
	if (a->type == RESP_ERROR || a->type == RESP_STRING ||
	    a->type == RESP_BIGNUM) {
		if (a->len != b->len)
			return 0;
		for (i = 0; i < a->len; i++) {
			char x = a->str[i], y = b->str[i];

			if (x == '\r' || x == '\n')
				x = ' ';
			if (x != y)
				return 0;
		}
		return 1;
	}
	if (a->type == RESP_ARRAY || a->type == RESP_MAP ||
	    a->type == RESP_SET || a->type == RESP_PUSH) {
		if (a->n != b->n)
			return 0;
		for (i = 0; i < a->n; i++)
			if (!eq_written(&a->elems[i], &b->elems[i]))
				return 0;
		return 1;
	}
	return resp_reply_equal(a, b);
}

static void reparse(const struct resp_reply *r)
{
	struct resp_reply_parser p;
	const struct resp_reply *back = NULL;
	struct resp_buf b;
	size_t consumed;

	resp_buf_init(&b, 0);
	CHECK(resp_put_reply(&b, r) == 0);
	resp_reply_parser_init(&p, NULL);
	CHECK(resp_reply_parse(&p, b.data, b.len, &back, &consumed) == 1);
	CHECK(consumed == b.len);
	CHECK(eq_written(r, back));
	resp_reply_parser_free(&p);
	resp_buf_free(&b);
}

static void run_reply(const char *data, size_t size, const size_t *steps,
		      size_t nsteps, const struct resp_limits *lim,
		      struct resp_buf *log)
{
	struct resp_reply_parser p;
	size_t start = 0, s = 0;
	int rc;

	resp_reply_parser_init(&p, lim);
	for (;;) {
		size_t avail = steps[s], consumed = 12345, n = avail - start;
		char *w = window(data + start, n);
		const struct resp_reply *r = NULL;

		rc = resp_reply_parse(&p, w, n, &r, &consumed);
		CHECK(consumed <= n);
		CHECK(rc == 1 || consumed == 0);
		if (rc == 1) {
			struct resp_reply *d;

			CHECK(consumed > 0 && r != NULL);
			check_tree(r, w, consumed, 1, p.lim.max_depth);
			d = resp_reply_dup(r);
			CHECK(d != NULL);
			CHECK(resp_reply_equal(r, d));
			resp_reply_free(d);
			reparse(r);
			CHECK(resp_put_reply(log, r) == 0);
		}
		free(w);
		if (rc < 0)
			break;
		start += consumed;
		if (rc == 0) {
			if (s + 1 == nsteps)
				break;
			s++;
		}
	}
	if (rc < 0) {
		const struct resp_reply *r;
		size_t consumed;

		check_errtext(resp_reply_parser_error(&p));
		CHECK(resp_reply_parse(&p, data, size, &r, &consumed) == rc);
	}
	CHECK(resp_put_int(log, rc) == 0);
	resp_reply_parser_free(&p);
}

typedef void (*runner)(const char *, size_t, const size_t *, size_t,
		       const struct resp_limits *, struct resp_buf *);

/* Runs r whole, split in two and (short inputs) byte by byte, and checks
 * that the three logs are identical. */
static void run_all(runner r, const char *data, size_t size, size_t split,
		    const struct resp_limits *lim)
{
	struct resp_buf whole, two, bytes;
	size_t steps2[2] = {split, size};

	resp_buf_init(&whole, 0);
	resp_buf_init(&two, 0);
	resp_buf_init(&bytes, 0);
	r(data, size, &size, 1, lim, &whole);
	r(data, size, steps2, 2, lim, &two);
	CHECK(whole.len == two.len &&
	      (whole.len == 0 || memcmp(whole.data, two.data, whole.len) == 0));
	if (size <= 300) {
		size_t steps[301], i;

		for (i = 0; i <= size; i++)
			steps[i] = i;
		r(data, size, steps, size + 1, lim, &bytes);
		CHECK(whole.len == bytes.len &&
		      (whole.len == 0 ||
		       memcmp(whole.data, bytes.data, whole.len) == 0));
	}
	resp_buf_free(&whole);
	resp_buf_free(&two);
	resp_buf_free(&bytes);
}

/* Every command parsed from the input, written back as multibulk, parses
 * again to the same arguments. */
static void cmd_roundtrip(const char *data, size_t size)
{
	struct resp_cmd_parser p, q;
	struct resp_buf b;
	size_t start = 0;

	resp_cmd_parser_init(&p, NULL);
	resp_cmd_parser_init(&q, NULL);
	resp_buf_init(&b, 0);
	for (;;) {
		struct resp_cmd cmd, back;
		size_t consumed, c2, i;

		if (resp_cmd_parse(&p, data + start, size - start, &cmd,
				   &consumed) != 1)
			break;
		start += consumed;
		resp_buf_reset(&b);
		CHECK(resp_put_command(&b, cmd.argc, cmd.argv, cmd.argvlen) ==
		      0);
		CHECK(resp_cmd_parse(&q, b.data, b.len, &back, &c2) == 1);
		CHECK(c2 == b.len && back.argc == cmd.argc && !back.is_inline);
		for (i = 0; i < cmd.argc; i++)
			CHECK(back.argvlen[i] == cmd.argvlen[i] &&
			      memcmp(back.argv[i], cmd.argv[i],
				     cmd.argvlen[i]) == 0);
	}
	resp_buf_free(&b);
	resp_cmd_parser_free(&p);
	resp_cmd_parser_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	size_t split = 0;

	/* The split point comes from the first two bytes. */
	if (size >= 2)
		split = (((size_t)data[0] << 8) | data[1]) % (size + 1);
	else if (size == 1)
		split = data[0] % 2;

	run_all(run_cmd, d, size, split, NULL);
	run_all(run_cmd, d, size, split, &tiny);
	run_all(run_reply, d, size, split, NULL);
	run_all(run_reply, d, size, split, &tiny);
	cmd_roundtrip(d, size);
	return 0;
}
