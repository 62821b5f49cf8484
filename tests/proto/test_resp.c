/*
 * The RESP codec: request parser (multibulk, inline, skips, errors, limits,
 * incremental feeding at every split point, O(n) feeding), writers (exact
 * bytes, bounds, atomicity), reply parser (every type, nesting and element
 * limits, errors) and a seeded round trip of thousands of random reply
 * trees through the writers and the parser. DKV_SEED=<n> replays a run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkv_err.h"
#include "proto/resp.h"

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
		printf("test_resp: seed %" PRIu64
		       " (replay with DKV_SEED=%" PRIu64 ")\n",
		       seed, seed);
		done = 1;
	}
	return seed;
}

/* How the bytes of a stream arrive. */
enum feed { FEED_WHOLE, FEED_BYTES, FEED_RANDOM, FEED_SPLIT };

/* Feeds data to a request parser the way a connection does (a buffer that
 * is compacted, so it moves, and bytes that arrive per the feed), and logs
 * every command (as multibulk plus is_inline) and then the final code.
 * Returns the final code (0 = needs more at the end of the data). */
static int run_cmds(const char *data, size_t len, enum feed feed,
		    size_t split, const struct resp_limits *lim,
		    struct resp_buf *log)
{
	struct resp_cmd_parser p;
	size_t start = 0, avail;
	int rc;

	switch (feed) {
	case FEED_WHOLE: avail = len; break;
	case FEED_BYTES: avail = 0; break;
	case FEED_RANDOM: avail = rnd_below(len + 1); break;
	default: avail = split; break;
	}
	resp_cmd_parser_init(&p, lim);
	for (;;) {
		size_t n = avail - start, consumed = 99, i;
		char *w = malloc(n ? n : 1);
		struct resp_cmd cmd;

		assert_non_null(w);
		memcpy(w, data + start, n);
		rc = resp_cmd_parse(&p, w, n, &cmd, &consumed);
		assert_true(consumed <= n);
		if (rc != 1)
			assert_int_equal(consumed, 0);
		if (rc == 1) {
			assert_true(cmd.argc >= 1);
			for (i = 0; i < cmd.argc; i++)
				if (!cmd.is_inline)
					assert_true(cmd.argv[i] >= w &&
						    cmd.argv[i] + cmd.argvlen[i] <=
							    w + consumed);
			assert_int_equal(resp_put_command(log, cmd.argc,
							  cmd.argv,
							  cmd.argvlen),
					 0);
			assert_int_equal(resp_put_int(log, cmd.is_inline), 0);
		}
		free(w);
		if (rc < 0)
			break;
		start += consumed;
		if (rc == 0) {
			if (avail == len)
				break;
			switch (feed) {
			case FEED_BYTES: avail++; break;
			case FEED_RANDOM:
				/* Small steps or large ones. */
				avail += 1 + rnd_below(rnd() % 2 ? 8
								 : len - avail);
				if (avail > len)
					avail = len;
				break;
			default: avail = len; break;
			}
		}
	}
	assert_int_equal(resp_put_int(log, rc), 0);
	resp_cmd_parser_free(&p);
	return rc;
}

static void assert_same_log(const struct resp_buf *a, const struct resp_buf *b)
{
	assert_int_equal(a->len, b->len);
	if (a->len)
		assert_memory_equal(a->data, b->data, a->len);
}

/* Appends an expected command: NULL-terminated NUL-terminated strings. */
static void expect(struct resp_buf *log, int is_inline, ...)
{
	const char *argv[64];
	size_t argc = 0;
	va_list ap;

	va_start(ap, is_inline);
	while ((argv[argc] = va_arg(ap, const char *)) != NULL)
		argc++;
	va_end(ap);
	assert_int_equal(resp_put_command(log, argc, argv, NULL), 0);
	assert_int_equal(resp_put_int(log, is_inline), 0);
}

static void expect_end(struct resp_buf *log, int rc)
{
	assert_int_equal(resp_put_int(log, rc), 0);
}

/* Checks that data parses to the expected log under every feed: whole,
 * split at every point, byte by byte, random chunks. */
static void check_stream(const char *data, size_t len,
			 const struct resp_limits *lim,
			 const struct resp_buf *want)
{
	struct resp_buf got;
	size_t k;
	int i;

	resp_buf_init(&got, 0);
	run_cmds(data, len, FEED_WHOLE, 0, lim, &got);
	assert_same_log(&got, want);
	for (k = 0; k <= len; k++) {
		resp_buf_reset(&got);
		run_cmds(data, len, FEED_SPLIT, k, lim, &got);
		assert_same_log(&got, want);
	}
	resp_buf_reset(&got);
	run_cmds(data, len, FEED_BYTES, 0, lim, &got);
	assert_same_log(&got, want);
	for (i = 0; i < 20; i++) {
		resp_buf_reset(&got);
		run_cmds(data, len, FEED_RANDOM, 0, lim, &got);
		assert_same_log(&got, want);
	}
	resp_buf_free(&got);
}

#define S(lit) lit, sizeof(lit) - 1

/* Parses one input whole; asserts rc and, for errors, a text containing
 * want_text. */
static void check_one(const char *data, size_t len,
		      const struct resp_limits *lim, int want_rc,
		      const char *want_text)
{
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	size_t consumed;
	int rc;

	resp_cmd_parser_init(&p, lim);
	do {
		rc = resp_cmd_parse(&p, data, len, &cmd, &consumed);
		data += consumed;
		len -= consumed;
	} while (rc == 1);
	if (rc != want_rc)
		fail_msg("rc %d (%s), want %d", rc, resp_cmd_parser_error(&p),
			 want_rc);
	if (want_text != NULL &&
	    strstr(resp_cmd_parser_error(&p), want_text) == NULL)
		fail_msg("error text \"%s\" lacks \"%s\"",
			 resp_cmd_parser_error(&p), want_text);
	resp_cmd_parser_free(&p);
}

/* --- request parser: valid forms ------------------------------------------- */

static void test_multibulk_basic(void **state)
{
	static const char in[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	size_t consumed = 0;

	(void)state;
	resp_cmd_parser_init(&p, NULL);
	assert_int_equal(resp_cmd_parse(&p, in, sizeof(in) - 1, &cmd, &consumed),
			 1);
	assert_int_equal(consumed, sizeof(in) - 1);
	assert_int_equal(cmd.argc, 3);
	assert_int_equal(cmd.is_inline, 0);
	assert_int_equal(cmd.argvlen[0], 3);
	assert_memory_equal(cmd.argv[0], "SET", 3);
	assert_memory_equal(cmd.argv[1], "key", 3);
	assert_int_equal(cmd.argvlen[2], 5);
	assert_memory_equal(cmd.argv[2], "value", 5);
	/* Zero-copy: the arguments point into the input. */
	assert_ptr_equal(cmd.argv[0], in + 8);
	assert_ptr_equal(cmd.argv[2], in + 26);
	/* Nothing left: needs more, consumes nothing. */
	assert_int_equal(resp_cmd_parse(&p, in + consumed, 0, &cmd, &consumed),
			 0);
	assert_int_equal(consumed, 0);
	assert_int_equal(resp_cmd_parse(&p, NULL, 0, &cmd, &consumed), 0);
	assert_string_equal(resp_cmd_parser_error(&p), "");
	resp_cmd_parser_free(&p);
}

static void test_multibulk_binary(void **state)
{
	/* Bulks holding NUL, CR, LF, CRLF, "$", "*": length-framed, so
	 * nothing inside is looked at. */
	static const char in[] = "*4\r\n$3\r\na\0b\r\n$4\r\n\r\n\r\n\r\n$0\r\n\r\n"
				 "$6\r\n*1\r\n$1\r\n";
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	size_t consumed;

	(void)state;
	resp_cmd_parser_init(&p, NULL);
	assert_int_equal(resp_cmd_parse(&p, in, sizeof(in) - 1, &cmd, &consumed),
			 1);
	assert_int_equal(consumed, sizeof(in) - 1);
	assert_int_equal(cmd.argc, 4);
	assert_int_equal(cmd.argvlen[0], 3);
	assert_memory_equal(cmd.argv[0], "a\0b", 3);
	assert_int_equal(cmd.argvlen[1], 4);
	assert_memory_equal(cmd.argv[1], "\r\n\r\n", 4);
	assert_int_equal(cmd.argvlen[2], 0);
	assert_int_equal(cmd.argvlen[3], 6);
	assert_memory_equal(cmd.argv[3], "*1\r\n$1", 6);
	resp_cmd_parser_free(&p);
	{
		struct resp_buf want;

		resp_buf_init(&want, 0);
		{
			const char *argv[] = {"a\0b", "\r\n\r\n", "",
					      "*1\r\n$1"};
			size_t lens[] = {3, 4, 0, 6};

			assert_int_equal(resp_put_command(&want, 4, argv, lens),
					 0);
			assert_int_equal(resp_put_int(&want, 0), 0);
		}
		expect_end(&want, 0);
		check_stream(in, sizeof(in) - 1, NULL, &want);
		resp_buf_free(&want);
	}
}

static void test_pipeline(void **state)
{
	static const char in[] = "*1\r\n$4\r\nPING\r\n"
				 "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
				 "PING\r\n"
				 "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv1\r\n"
				 "echo hi\n"
				 "*2\r\n$3\r\nGET\r\n$1"; /* half written */
	struct resp_buf want;

	(void)state;
	resp_buf_init(&want, 0);
	expect(&want, 0, "PING", NULL);
	expect(&want, 0, "GET", "k", NULL);
	expect(&want, 1, "PING", NULL);
	expect(&want, 0, "SET", "k", "v1", NULL);
	expect(&want, 1, "echo", "hi", NULL);
	expect_end(&want, 0);
	check_stream(in, sizeof(in) - 1, NULL, &want);
	resp_buf_free(&want);
}

static void test_skips(void **state)
{
	/* Redis skips "*0", negative counts and empty inline lines. */
	static const char in[] = "*0\r\n*-1\r\n*-10\r\n\r\n\n   \r\n\t \n"
				 "*1\r\n$4\r\nPING\r\n"
				 "*0\r\n\r\n";
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	struct resp_buf want;
	size_t consumed;

	(void)state;
	resp_buf_init(&want, 0);
	expect(&want, 0, "PING", NULL);
	expect_end(&want, 0);
	check_stream(in, sizeof(in) - 1, NULL, &want);
	resp_buf_free(&want);

	/* The skipped bytes are consumed with the next command... */
	resp_cmd_parser_init(&p, NULL);
	assert_int_equal(resp_cmd_parse(&p, in, sizeof(in) - 1, &cmd, &consumed),
			 1);
	assert_int_equal(consumed, sizeof(in) - 1 - 6);
	/* ...never on their own: 0 consumes nothing, and the parser
	 * remembers the skip (not rescanned). */
	assert_int_equal(resp_cmd_parse(&p, S("*0\r\n\r\n"), &cmd, &consumed),
			 0);
	assert_int_equal(consumed, 0);
	assert_int_equal(p.skip_, 6);
	assert_int_equal(resp_cmd_parse(&p, S("*0\r\n\r\n*1\r\n$4\r\nPI"),
					&cmd, &consumed),
			 0);
	assert_int_equal(consumed, 0);
	assert_int_equal(resp_cmd_parse(&p, S("*0\r\n\r\n*1\r\n$4\r\nPING\r\n"),
					&cmd, &consumed),
			 1);
	assert_int_equal(cmd.argc, 1);
	assert_int_equal(consumed, 20);
	assert_int_equal(p.skip_, 0);
	/* A command is stateless once returned: not consuming it gives it
	 * again (a server that must wait before running it). */
	assert_int_equal(resp_cmd_parse(&p, S("\n*1\r\n$4\r\nPING\r\n"), &cmd,
					&consumed),
			 1);
	assert_int_equal(resp_cmd_parse(&p, S("\n*1\r\n$4\r\nPING\r\n"), &cmd,
					&consumed),
			 1);
	assert_int_equal(consumed, 15);
	assert_memory_equal(cmd.argv[0], "PING", 4);
	resp_cmd_parser_free(&p);
	/* A run of empty commands is bounded like a command. */
	{
		struct resp_limits lim = {.max_request = 10};

		check_one(S("\r\n\r\n\r\n\r\n\r\nPING\r\n"), &lim, 0,
			  NULL);
		check_one(S("\r\n\r\n\r\n\r\n\r\n\r\n"), &lim,
			  DKV_ERR_TOO_BIG,
			  "Protocol error: empty requests over the limit of 10 "
			  "bytes");
	}
}

static void test_half_written(void **state)
{
	static const char *const ins[] = {
		"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n",
		"*1\r\n$0\r\n\r\n",
		"*2\r\n$10\r\n0123456789\r\n$2\r\n\r\n\r\n",
		"SET key \"a value\" 'x y'\r\n",
		"PING\n",
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
		size_t len = strlen(ins[i]);
		struct resp_cmd_parser p;
		struct resp_cmd cmd;
		size_t consumed;

		/* Every strict prefix, fresh parser: needs more, consumes
		 * nothing. */
		for (k = 0; k < len; k++) {
			resp_cmd_parser_init(&p, NULL);
			assert_int_equal(resp_cmd_parse(&p, ins[i], k, &cmd,
							&consumed),
					 0);
			assert_int_equal(consumed, 0);
			resp_cmd_parser_free(&p);
		}
		/* One parser fed every prefix in turn, then the whole. */
		resp_cmd_parser_init(&p, NULL);
		for (k = 0; k < len; k++) {
			assert_int_equal(resp_cmd_parse(&p, ins[i], k, &cmd,
							&consumed),
					 0);
			assert_int_equal(consumed, 0);
		}
		assert_int_equal(resp_cmd_parse(&p, ins[i], len, &cmd,
						&consumed),
				 1);
		assert_int_equal(consumed, len);
		resp_cmd_parser_free(&p);
	}
}

/* A mixed stream of every valid form, split at every byte boundary, byte
 * by byte and in random chunks: always the same commands. */
static void test_every_split(void **state)
{
	struct resp_buf in, want;
	const char *bin[] = {"SET", "k\0\r\n", "\r\n"};
	size_t binlen[] = {3, 4, 2};
	int i;

	(void)state;
	rng_state = seed_once();
	resp_buf_init(&in, 0);
	resp_buf_init(&want, 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(resp_put_raw(&in, S("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n")),
				 0);
		expect(&want, 0, "ECHO", "", NULL);
		assert_int_equal(resp_put_raw(&in, S("*0\r\n\r\n")), 0);
		assert_int_equal(resp_put_raw(&in, S("set \"a\\x41\\n\" 'b c'  d\r\n")),
				 0);
		expect(&want, 1, "set", "aA\n", "b c", "d", NULL);
		assert_int_equal(resp_put_command(&in, 3, bin, binlen), 0);
		assert_int_equal(resp_put_command(&want, 3, bin, binlen), 0);
		assert_int_equal(resp_put_int(&want, 0), 0);
		assert_int_equal(resp_put_raw(&in, S("PING\n")), 0);
		expect(&want, 1, "PING", NULL);
		assert_int_equal(resp_put_raw(&in, S("*-1\r\n")), 0);
	}
	expect_end(&want, 0);
	check_stream(in.data, in.len, NULL, &want);
	resp_buf_free(&in);
	resp_buf_free(&want);
}

static void test_inline(void **state)
{
	static const struct {
		const char *in;
		const char *out[6];
		size_t len; /* 0 = strlen(in) */
	} cases[] = {
		{"PING\r\n", {"PING"}, 0},
		{"PING\n", {"PING"}, 0},
		{"  set  a\tb \r\n", {"set", "a", "b"}, 0},
		{"a\rb\r\n", {"a", "b"}, 0}, /* CR inside: a separator */
		{"\"a b\" 'c d'\n", {"a b", "c d"}, 0},
		{"\"\" ''\n", {"", ""}, 0},
		{"\"\\x41\\x4a\\x4A\\x00z\"\n", {"AJJ\0z"}, 0},
		{"\"\\n\\r\\t\\b\\a\\\\\\\"\\q\"\n",
		 {"\n\r\t\b\a\\\"q"}, 0},
		{"\"\\x4\" \"\\xg0\"\n", {"x4", "xg0"}, 0}, /* not hex: "x" */
		{"'it\\'s' 'a\\b'\n", {"it's", "a\\b"}, 0},
		{"'\"' \"'\"\n", {"\"", "'"}, 0},
		{"ab\"c d\"e\n", {NULL}, 0}, /* quote closed by non-space */
		{"ab\"c d\" e\n", {"abc d", "e"}, 0},
		{"x'y z'\n", {"xy z"}, 0},
		{"a\vb\n", {"a\vb"}, 0}, /* \v, \f: not separators mid-word */
		{"\v\fa\n", {"a"}, 0},   /* but skipped before one */
		{"\"a\"\tb\n", {"a", "b"}, 0},
		{"GET k\0v\r\n", {NULL}, 9}, /* NUL: an error */
		{"\xff\xfe \x80\n", {"\xff\xfe", "\x80"}, 0},
	};
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *in = cases[i].in;
		size_t len = cases[i].len ? cases[i].len : strlen(in);
		struct resp_buf want;

		if (i == 6) /* "\x00" decodes to a NUL: lengths by hand */
			continue;
		resp_buf_init(&want, 0);
		if (cases[i].out[0] == NULL) {
			expect_end(&want, DKV_ERR_PROTO);
		} else {
			const char *argv[6];
			size_t n = 0;

			for (j = 0; j < 6 && cases[i].out[j] != NULL; j++)
				argv[n++] = cases[i].out[j];
			assert_int_equal(resp_put_command(&want, n, argv, NULL),
					 0);
			assert_int_equal(resp_put_int(&want, 1), 0);
			expect_end(&want, 0);
		}
		check_stream(in, len, NULL, &want);
		resp_buf_free(&want);
	}
	{
		/* The \x00 case, with explicit lengths. */
		const char *argv[] = {"AJJ\0z"};
		size_t lens[] = {5};
		struct resp_buf want;

		resp_buf_init(&want, 0);
		assert_int_equal(resp_put_command(&want, 1, argv, lens), 0);
		assert_int_equal(resp_put_int(&want, 1), 0);
		expect_end(&want, 0);
		check_stream(cases[6].in, strlen(cases[6].in), NULL, &want);
		resp_buf_free(&want);
	}
}

static void test_inline_errors(void **state)
{
	struct resp_limits lim;
	char *big;
	size_t n;

	(void)state;
	check_one(S("\"abc\r\n"), NULL, DKV_ERR_PROTO,
		  "Protocol error: unbalanced quotes in request");
	check_one(S("'abc\n"), NULL, DKV_ERR_PROTO, "unbalanced quotes");
	check_one(S("\"abc\\\"\n"), NULL, DKV_ERR_PROTO, "unbalanced quotes");
	check_one(S("\"a\"b\n"), NULL, DKV_ERR_PROTO, "unbalanced quotes");
	check_one(S("'a'b\n"), NULL, DKV_ERR_PROTO, "unbalanced quotes");
	check_one(S("\"a\0\"\n"), NULL, DKV_ERR_PROTO,
		  "Protocol error: NUL byte in inline request");
	check_one(S("\0\n"), NULL, DKV_ERR_PROTO, "NUL byte");
	/* Complete commands before the error are returned first. */
	check_one(S("PING\r\n\"x\r\n"), NULL, DKV_ERR_PROTO, "unbalanced");

	/* max_inline bytes before the '\n' are fine, one more is not,
	 * whether or not the '\n' has arrived. */
	resp_limits_default(&lim);
	lim.max_inline = 100;
	big = malloc(200);
	assert_non_null(big);
	memset(big, 'a', 200);
	big[99] = '\r';
	big[100] = '\n'; /* 100 bytes before the '\n': one command */
	check_one(big, 101, &lim, 0, NULL);
	big[99] = 'a';
	big[100] = 'a';
	big[101] = '\n'; /* 101 bytes before it */
	check_one(big, 102, &lim, DKV_ERR_TOO_BIG,
		  "Protocol error: too big inline request");
	check_one(big, 101, &lim, DKV_ERR_TOO_BIG, "too big inline");
	check_one(big, 100, &lim, 0, NULL);
	/* Too many words. */
	lim.max_inline = 0;
	lim.max_args = 3;
	check_one(S("a b c\n"), &lim, 0, NULL);
	check_one(S("a b c d\n"), &lim, DKV_ERR_TOO_BIG, "too many arguments");
	free(big);
	/* The default: 64 KiB. */
	n = DKV_RESP_DEFAULT_MAX_INLINE + 1;
	big = malloc(n);
	assert_non_null(big);
	memset(big, 'x', n);
	check_one(big, n - 1, NULL, 0, NULL);
	check_one(big, n, NULL, DKV_ERR_TOO_BIG, "too big inline request");
	free(big);
}

/* --- request parser: errors ------------------------------------------------ */

static void test_errors(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		int rc;
		const char *text;
	} cases[] = {
#define E(lit, rc, text) {lit, sizeof(lit) - 1, rc, text}
		E("*abc\r\n", DKV_ERR_PROTO,
		  "Protocol error: invalid multibulk length"),
		E("*\r\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("*1x\r\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("*+1\r\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("*01\r\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("*-0\r\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("* 1\r\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("*1\r\r\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("*1\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("*9223372036854775808\r\n", DKV_ERR_PROTO,
		  "invalid multibulk length"),
		E("*99999999999999999999999\r\n", DKV_ERR_PROTO,
		  "invalid multibulk length"),
		E("*-9223372036854775809\r\n", DKV_ERR_PROTO,
		  "invalid multibulk length"),
		E("*9223372036854775807\r\n", DKV_ERR_TOO_BIG,
		  "invalid multibulk length (over the limit of 1048576"),
		E("*1048577\r\n", DKV_ERR_TOO_BIG, "over the limit"),
		E("*1\r\nx", DKV_ERR_PROTO,
		  "Protocol error: expected '$', got 'x'"),
		E("*1\r\n\x01", DKV_ERR_PROTO, "expected '$', got '\\x01'"),
		E("*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", DKV_ERR_PROTO,
		  "expected '$', got 'f'"),
		E("*1\r\n$-1\r\n", DKV_ERR_PROTO,
		  "Protocol error: invalid bulk length"),
		E("*1\r\n$-5\r\n", DKV_ERR_PROTO, "invalid bulk length"),
		E("*1\r\n$abc\r\n", DKV_ERR_PROTO, "invalid bulk length"),
		E("*1\r\n$\r\n", DKV_ERR_PROTO, "invalid bulk length"),
		E("*1\r\n$1 \r\n", DKV_ERR_PROTO, "invalid bulk length"),
		E("*1\r\n$9223372036854775808\r\n", DKV_ERR_PROTO,
		  "invalid bulk length"),
		E("*1\r\n$18446744073709551616\r\n", DKV_ERR_PROTO,
		  "invalid bulk length"),
		E("*1\r\n$9223372036854775807\r\n", DKV_ERR_TOO_BIG,
		  "invalid bulk length (over the limit of 68157440 bytes)"),
		E("*1\r\n$68157441\r\n", DKV_ERR_TOO_BIG, "over the limit"),
		E("*1\r\n$3\r\nabcXY", DKV_ERR_PROTO,
		  "Protocol error: bulk data not followed by CRLF"),
		E("*1\r\n$3\r\nabc\n\r", DKV_ERR_PROTO, "not followed by CRLF"),
		E("*1\r\n$3\r\nabcd\r\n", DKV_ERR_PROTO, "not followed by CRLF"),
		E("*1\r\n$3\r\nab\r\n", 0, NULL), /* short: needs more */
		E("*2\r\n$1\r\na\r\n", 0, NULL),
		E("*1\r\n$3\r\nabc\r", 0, NULL),
		E("*1", 0, NULL),
		E("*12345678901234567", 0, NULL),
		E("*1\r\n$1234567", 0, NULL),
		E("PING\r\n*1\r\n$-1\r\n", DKV_ERR_PROTO, "invalid bulk length"),
#undef E
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resp_buf want, got;

		check_one(cases[i].in, cases[i].len, NULL, cases[i].rc,
			  cases[i].text);
		/* The same code whatever the split. */
		resp_buf_init(&want, 0);
		resp_buf_init(&got, 0);
		run_cmds(cases[i].in, cases[i].len, FEED_WHOLE, 0, NULL, &want);
		run_cmds(cases[i].in, cases[i].len, FEED_BYTES, 0, NULL, &got);
		assert_same_log(&got, &want);
		resp_buf_free(&want);
		resp_buf_free(&got);
	}
}

static void test_sticky_error_and_reset(void **state)
{
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	size_t consumed;
	const char *t;

	(void)state;
	resp_cmd_parser_init(&p, NULL);
	assert_int_equal(resp_cmd_parse(&p, S("*x\r\n"), &cmd, &consumed),
			 DKV_ERR_PROTO);
	assert_int_equal(consumed, 0);
	t = resp_cmd_parser_error(&p);
	assert_string_equal(t, "Protocol error: invalid multibulk length");
	assert_null(strpbrk(t, "\r\n"));
	/* Sticky, whatever comes next. */
	assert_int_equal(resp_cmd_parse(&p, S("PING\r\n"), &cmd, &consumed),
			 DKV_ERR_PROTO);
	assert_int_equal(consumed, 0);
	resp_cmd_parser_reset(&p);
	assert_string_equal(resp_cmd_parser_error(&p), "");
	assert_int_equal(resp_cmd_parse(&p, S("PING\r\n"), &cmd, &consumed), 1);
	/* Reset in the middle of a command forgets it. */
	assert_int_equal(resp_cmd_parse(&p, S("*2\r\n$1\r\na\r\n"), &cmd,
					&consumed),
			 0);
	resp_cmd_parser_reset(&p);
	assert_int_equal(resp_cmd_parse(&p, S("*1\r\n$1\r\nb\r\n"), &cmd,
					&consumed),
			 1);
	assert_memory_equal(cmd.argv[0], "b", 1);
	/* A buffer shorter than what was parsed: the caller's bug. */
	assert_int_equal(resp_cmd_parse(&p, S("*2\r\n$1\r\na\r\n"), &cmd,
					&consumed),
			 0);
	assert_int_equal(resp_cmd_parse(&p, S("*2\r\n"), &cmd, &consumed),
			 DKV_ERR_INVAL);
	resp_cmd_parser_free(&p);
}

static void test_limits(void **state)
{
	struct resp_limits lim;
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	size_t consumed;

	(void)state;
	resp_limits_default(&lim);
	assert_int_equal(lim.max_args, 1048576);
	assert_int_equal(lim.max_bulk, 65u << 20);
	assert_int_equal(lim.max_inline, 65536);
	assert_int_equal(lim.max_request, 256u << 20);
	assert_int_equal(lim.max_depth, 32);
	/* Zero fields take defaults. */
	memset(&lim, 0, sizeof(lim));
	lim.max_bulk = 5;
	resp_cmd_parser_init(&p, &lim);
	assert_int_equal(p.lim.max_args, DKV_RESP_DEFAULT_MAX_ARGS);
	assert_int_equal(p.lim.max_bulk, 5);
	resp_cmd_parser_free(&p);

	check_one(S("*1\r\n$5\r\nabcde\r\n"), &lim, 0, NULL);
	check_one(S("*1\r\n$6\r\n"), &lim, DKV_ERR_TOO_BIG,
		  "invalid bulk length (over the limit of 5 bytes)");
	lim.max_args = 2;
	check_one(S("*2\r\n$1\r\na\r\n$1\r\nb\r\n"), &lim, 0, NULL);
	check_one(S("*3\r\n"), &lim, DKV_ERR_TOO_BIG,
		  "over the limit of 2 arguments");
	/* max_request counts the whole command, framing included: 
	 * "*1\r\n$5\r\nabcde\r\n" is 15 bytes. */
	lim.max_request = 15;
	check_one(S("*1\r\n$5\r\nabcde\r\n"), &lim, 0, NULL);
	lim.max_request = 14;
	check_one(S("*1\r\n$5\r\n"), &lim, DKV_ERR_TOO_BIG,
		  "Protocol error: request over the limit of 14 bytes");
	/* The limit is per command, not per stream. */
	lim.max_request = 15;
	resp_cmd_parser_init(&p, &lim);
	for (int i = 0; i < 100; i++)
		assert_int_equal(resp_cmd_parse(&p, S("*1\r\n$5\r\nabcde\r\n"),
						&cmd, &consumed),
				 1);
	resp_cmd_parser_free(&p);
	/* max_depth is clamped to the hard ceiling. */
	lim.max_depth = 1000;
	resp_cmd_parser_init(&p, &lim);
	assert_int_equal(p.lim.max_depth, DKV_RESP_MAX_DEPTH_LIMIT);
	resp_cmd_parser_free(&p);
}

/* --- request parser: memory and complexity ------------------------------------- */

static void test_moved_buffer(void **state)
{
	static const char in[] = "*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	size_t consumed;
	char *a = malloc(sizeof(in)), *b = malloc(sizeof(in));

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	memcpy(a, in, sizeof(in));
	resp_cmd_parser_init(&p, NULL);
	assert_int_equal(resp_cmd_parse(&p, a, 20, &cmd, &consumed), 0);
	memset(a, '#', sizeof(in)); /* the old buffer is gone */
	memcpy(b, in, sizeof(in));
	assert_int_equal(resp_cmd_parse(&p, b, sizeof(in) - 1, &cmd, &consumed),
			 1);
	assert_ptr_equal(cmd.argv[0], b + 8);
	assert_ptr_equal(cmd.argv[1], b + 17);
	assert_memory_equal(cmd.argv[1], "hello", 5);
	resp_cmd_parser_free(&p);
	free(a);
	free(b);
}

static void test_many_args_and_trim(void **state)
{
	struct resp_buf in;
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	size_t consumed, i, n = 100000, avail, start = 0;
	const char *word = "w";

	(void)state;
	resp_buf_init(&in, 0);
	assert_int_equal(resp_put_array(&in, n), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(resp_put_bulk(&in, word, 1), 0);
	assert_int_equal(resp_put_raw(&in, S("*1\r\n$4\r\nPING\r\n")), 0);
	resp_cmd_parser_init(&p, NULL);
	/* In 7-byte steps: the arrays grow as arguments arrive. */
	for (avail = 7;; avail = avail + 7 > in.len ? in.len : avail + 7) {
		int rc = resp_cmd_parse(&p, in.data + start, avail - start,
					&cmd, &consumed);

		assert_true(rc >= 0);
		if (rc == 1)
			break;
	}
	assert_int_equal(cmd.argc, n);
	assert_int_equal(cmd.argvlen[n - 1], 1);
	assert_true(p.cap_ >= n);
	start += consumed;
	/* A small command after a large one: the arrays are kept (large
	 * commands may keep coming)... */
	assert_int_equal(resp_cmd_parse(&p, in.data + start, in.len - start,
					&cmd, &consumed),
			 1);
	assert_int_equal(cmd.argc, 1);
	assert_true(p.cap_ >= n);
	/* ...and released when the command after it starts. */
	assert_int_equal(resp_cmd_parse(&p, S("*1\r\n$4\r\nPING\r\n"),
					&cmd, &consumed),
			 1);
	assert_true(p.cap_ <= 1024);
	resp_cmd_parser_free(&p);
	resp_buf_free(&in);
}

static void test_linear_feeding(void **state)
{
	/* A 16 MiB bulk fed one byte per call, a 60 KiB inline line fed one
	 * byte per call: O(n) in total, or this test would not end. */
	size_t n = 16u << 20, hdr, total, k;
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	size_t consumed;
	char *in = malloc(n + 64);
	clock_t t0 = clock();
	double secs;

	(void)state;
	assert_non_null(in);
	hdr = (size_t)sprintf(in, "*1\r\n$%zu\r\n", n);
	memset(in + hdr, 'v', n);
	memcpy(in + hdr + n, "\r\n", 2);
	total = hdr + n + 2;
	resp_cmd_parser_init(&p, NULL);
	for (k = 0; k < total; k++)
		assert_int_equal(resp_cmd_parse(&p, in, k, &cmd, &consumed), 0);
	assert_int_equal(resp_cmd_parse(&p, in, total, &cmd, &consumed), 1);
	assert_int_equal(cmd.argvlen[0], n);
	memset(in, 'i', 60000);
	in[60000] = '\n';
	for (k = 0; k <= 60000; k++)
		assert_int_equal(resp_cmd_parse(&p, in, k, &cmd, &consumed), 0);
	assert_int_equal(resp_cmd_parse(&p, in, 60001, &cmd, &consumed), 1);
	assert_int_equal(cmd.argvlen[0], 60000);
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	printf("test_resp: %zu one-byte feeds in %.2f s\n", total + 60001,
	       secs);
	resp_cmd_parser_free(&p);
	free(in);
}

static void test_throughput(void **state)
{
	/* Not a benchmark with a threshold (sanitizer builds are slow):
	 * prints the rate of a pipelined SET stream for the record. */
	struct resp_buf in;
	struct resp_cmd_parser p;
	struct resp_cmd cmd;
	size_t consumed, off = 0, count = 0, i, n = 200000;
	const char *argv[] = {"SET", "key:000123", "value-of-some-length-32-bytes!!"};
	clock_t t0;
	double secs;

	(void)state;
	resp_buf_init(&in, 0);
	for (i = 0; i < n; i++)
		assert_int_equal(resp_put_command(&in, 3, argv, NULL), 0);
	resp_cmd_parser_init(&p, NULL);
	t0 = clock();
	while (resp_cmd_parse(&p, in.data + off, in.len - off, &cmd,
			      &consumed) == 1) {
		off += consumed;
		count++;
	}
	secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	assert_int_equal(count, n);
	assert_int_equal(off, in.len);
	printf("test_resp: parsed %zu commands in %.3f s (%.1f M/s)\n", n,
	       secs, secs > 0 ? (double)n / secs / 1e6 : 0.0);
	resp_cmd_parser_free(&p);
	resp_buf_free(&in);
}

/* --- numbers ---------------------------------------------------------------- */

static void test_numbers(void **state)
{
	static const struct {
		const char *s;
		int ok;
		int64_t v;
	} cases[] = {
		{"0", 1, 0},
		{"1", 1, 1},
		{"-1", 1, -1},
		{"9223372036854775807", 1, INT64_MAX},
		{"-9223372036854775808", 1, INT64_MIN},
		{"9223372036854775808", 0, 0},
		{"-9223372036854775809", 0, 0},
		{"18446744073709551616", 0, 0},
		{"", 0, 0},
		{"-", 0, 0},
		{"-0", 0, 0},
		{"00", 0, 0},
		{"01", 0, 0},
		{"+1", 0, 0},
		{" 1", 0, 0},
		{"1 ", 0, 0},
		{"1a", 0, 0},
		{"1\r", 0, 0},
		{"123456789012345678901", 0, 0},
	};
	char buf[32], ref[32];
	size_t i, n;
	int64_t v;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = resp_parse_i64(cases[i].s, strlen(cases[i].s), &v);

		if (cases[i].ok) {
			assert_int_equal(rc, 0);
			assert_true(v == cases[i].v);
		} else {
			assert_int_equal(rc, DKV_ERR_INVAL);
		}
	}
	rng_state = seed_once() + 1;
	for (i = 0; i < 200000; i++) {
		uint64_t u = rnd() >> rnd_below(64);
		int64_t s = (int64_t)(rnd() >> rnd_below(64));

		if (i < 4)
			u = i == 0 ? 0 : i == 1 ? UINT64_MAX : 9 + i;
		n = resp_fmt_u64(buf, u);
		snprintf(ref, sizeof(ref), "%" PRIu64, u);
		assert_int_equal(n, strlen(ref));
		assert_memory_equal(buf, ref, n);
		if (i < 2)
			s = i == 0 ? INT64_MIN : INT64_MAX;
		n = resp_fmt_i64(buf, s);
		snprintf(ref, sizeof(ref), "%" PRId64, s);
		assert_int_equal(n, strlen(ref));
		assert_memory_equal(buf, ref, n);
		assert_int_equal(resp_parse_i64(buf, n, &v), 0);
		assert_true(v == s);
	}
}

/* --- writers ----------------------------------------------------------------- */

#define ASSERT_OUT(b, lit)                                                     \
	do {                                                                   \
		assert_int_equal((b)->len, sizeof(lit) - 1);                   \
		assert_memory_equal((b)->data, lit, sizeof(lit) - 1);          \
		resp_buf_reset(b);                                             \
	} while (0)

static void test_writers(void **state)
{
	struct resp_buf b;
	const char *argv[] = {"SET", "k", ""};
	size_t lens[] = {3, 1, 0};
	char big[300];

	(void)state;
	resp_buf_init(&b, 0);
	assert_null(b.data);
	assert_int_equal(resp_put_simple(&b, S("OK")), 0);
	ASSERT_OUT(&b, "+OK\r\n");
	assert_int_equal(resp_put_ok(&b), 0);
	ASSERT_OUT(&b, "+OK\r\n");
	assert_int_equal(resp_put_simple(&b, S("a\r\nb")), 0);
	ASSERT_OUT(&b, "+a  b\r\n");
	assert_int_equal(resp_put_simple(&b, "", 0), 0);
	ASSERT_OUT(&b, "+\r\n");
	assert_int_equal(resp_put_error(&b, S("ERR bad\r\nthing\n")), 0);
	ASSERT_OUT(&b, "-ERR bad  thing \r\n");
	assert_int_equal(resp_put_errorf(&b, "ERR %s %d", "Protocol error:\nx",
					 42),
			 0);
	ASSERT_OUT(&b, "-ERR Protocol error: x 42\r\n");
	memset(big, 'e', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(resp_put_errorf(&b, "ERR %s", big), 0);
	assert_int_equal(b.len, 1 + 4 + 299 + 2);
	resp_buf_reset(&b);
	assert_int_equal(resp_put_int(&b, 0), 0);
	ASSERT_OUT(&b, ":0\r\n");
	assert_int_equal(resp_put_int(&b, -42), 0);
	ASSERT_OUT(&b, ":-42\r\n");
	assert_int_equal(resp_put_int(&b, INT64_MIN), 0);
	ASSERT_OUT(&b, ":-9223372036854775808\r\n");
	assert_int_equal(resp_put_int(&b, INT64_MAX), 0);
	ASSERT_OUT(&b, ":9223372036854775807\r\n");
	assert_int_equal(resp_put_bulk(&b, "a\0\r\n", 4), 0);
	ASSERT_OUT(&b, "$4\r\na\0\r\n\r\n");
	assert_int_equal(resp_put_bulk(&b, NULL, 0), 0);
	ASSERT_OUT(&b, "$0\r\n\r\n");
	assert_int_equal(resp_put_bulk_header(&b, 1234567), 0);
	ASSERT_OUT(&b, "$1234567\r\n");
	assert_int_equal(resp_put_null(&b), 0);
	ASSERT_OUT(&b, "$-1\r\n");
	assert_int_equal(resp_put_null_array(&b), 0);
	ASSERT_OUT(&b, "*-1\r\n");
	assert_int_equal(resp_put_array(&b, 0), 0);
	ASSERT_OUT(&b, "*0\r\n");
	assert_int_equal(resp_put_array(&b, 10), 0);
	ASSERT_OUT(&b, "*10\r\n");
	assert_int_equal(resp_put_command(&b, 3, argv, lens), 0);
	ASSERT_OUT(&b, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
	assert_int_equal(resp_put_command(&b, 3, argv, NULL), 0);
	ASSERT_OUT(&b, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
	assert_int_equal(resp_put_command(&b, 0, NULL, NULL), 0);
	ASSERT_OUT(&b, "*0\r\n");
	assert_int_equal(resp_put_raw(&b, S("xyz")), 0);
	ASSERT_OUT(&b, "xyz");
	/* RESP3 */
	assert_int_equal(resp_put_null3(&b), 0);
	ASSERT_OUT(&b, "_\r\n");
	assert_int_equal(resp_put_bool(&b, 7), 0);
	ASSERT_OUT(&b, "#t\r\n");
	assert_int_equal(resp_put_bool(&b, 0), 0);
	ASSERT_OUT(&b, "#f\r\n");
	assert_int_equal(resp_put_double(&b, 1.5), 0);
	ASSERT_OUT(&b, ",1.5\r\n");
	assert_int_equal(resp_put_double(&b, -INFINITY), 0);
	ASSERT_OUT(&b, ",-inf\r\n");
	assert_int_equal(resp_put_double(&b, INFINITY), 0);
	ASSERT_OUT(&b, ",inf\r\n");
	assert_int_equal(resp_put_double(&b, NAN), 0);
	ASSERT_OUT(&b, ",nan\r\n");
	assert_int_equal(resp_put_double(&b, 0.1), 0);
	ASSERT_OUT(&b, ",0.10000000000000001\r\n");
	assert_int_equal(resp_put_bignum(&b, S("-12345678901234567890123")), 0);
	ASSERT_OUT(&b, "(-12345678901234567890123\r\n");
	assert_int_equal(resp_put_verbatim(&b, "txt", S("hi\r\n")), 0);
	ASSERT_OUT(&b, "=8\r\ntxt:hi\r\n\r\n");
	assert_int_equal(resp_put_map(&b, 2), 0);
	ASSERT_OUT(&b, "%2\r\n");
	assert_int_equal(resp_put_set(&b, 3), 0);
	ASSERT_OUT(&b, "~3\r\n");
	assert_int_equal(resp_put_push(&b, 4), 0);
	ASSERT_OUT(&b, ">4\r\n");
	resp_buf_free(&b);
	assert_null(b.data);
}

static void test_buf_bounds(void **state)
{
	struct resp_buf b;
	char *chunk = malloc(1000);
	const char *argv[] = {"a", "b"};
	int rc, i;

	(void)state;
	assert_non_null(chunk);
	memset(chunk, 'c', 1000);
	resp_buf_init(&b, 64);
	assert_int_equal(b.max, 64);
	assert_int_equal(resp_put_bulk(&b, chunk, 57), 0); /* 5 + 57 + 2 */
	assert_int_equal(b.len, 64);
	/* Full: every writer fails whole, len unchanged. */
	assert_int_equal(resp_put_int(&b, 1), DKV_ERR_TOO_BIG);
	assert_int_equal(resp_put_ok(&b), DKV_ERR_TOO_BIG);
	assert_int_equal(resp_put_bulk(&b, chunk, 1), DKV_ERR_TOO_BIG);
	assert_int_equal(resp_put_command(&b, 2, argv, NULL), DKV_ERR_TOO_BIG);
	assert_int_equal(resp_put_errorf(&b, "ERR x"), DKV_ERR_TOO_BIG);
	assert_int_equal(resp_put_bulk(&b, chunk, SIZE_MAX - 4),
			 DKV_ERR_TOO_BIG);
	assert_int_equal(resp_buf_reserve(&b, 1), DKV_ERR_TOO_BIG);
	assert_int_equal(b.len, 64);
	assert_true(b.cap <= 64);
	/* consume makes room again. */
	resp_buf_consume(&b, 60);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "cc\r\n", 4);
	assert_int_equal(resp_put_raw(&b, chunk, 60), 0);
	resp_buf_consume(&b, 1000);
	assert_int_equal(b.len, 0);
	resp_buf_free(&b);

	/* Default bound; growth is geometric; reserve for direct reads. */
	resp_buf_init(&b, 0);
	assert_int_equal(b.max, DKV_RESP_DEFAULT_MAX_BUF);
	for (i = 0; i < 1000; i++) {
		rc = resp_put_bulk(&b, chunk, 1000);
		assert_int_equal(rc, 0);
	}
	assert_int_equal(b.len, 1000 * (7 + 1000 + 2));
	assert_true(b.cap < 2 * b.len + 256);
	assert_int_equal(resp_buf_reserve(&b, 1 << 20), 0);
	assert_true(b.cap - b.len >= (1u << 20));
	resp_buf_free(&b);
	free(chunk);
}

/* --- reply parser ---------------------------------------------------------------- */

/* Parses in whole; returns rc; *out duplicated into *dup (if 1). */
static int parse_reply(const char *in, size_t len,
		       const struct resp_limits *lim, struct resp_reply **dup,
		       size_t *consumed, char *errtext, size_t errcap)
{
	struct resp_reply_parser p;
	const struct resp_reply *r = NULL;
	int rc;

	resp_reply_parser_init(&p, lim);
	rc = resp_reply_parse(&p, in, len, &r, consumed);
	if (rc == 1 && dup != NULL) {
		*dup = resp_reply_dup(r);
		assert_non_null(*dup);
		assert_true(resp_reply_equal(r, *dup));
	}
	if (errtext != NULL)
		snprintf(errtext, errcap, "%s", resp_reply_parser_error(&p));
	resp_reply_parser_free(&p);
	return rc;
}

static void test_reply_types(void **state)
{
	struct resp_reply *r;
	size_t c;

	(void)state;
#define PARSE(lit) \
	assert_int_equal(parse_reply(S(lit), NULL, &r, &c, NULL, 0), 1); \
	assert_int_equal(c, sizeof(lit) - 1)
	PARSE("+OK\r\n");
	assert_int_equal(r->type, RESP_STRING);
	assert_int_equal(r->len, 2);
	assert_string_equal(r->str, "OK"); /* dup NUL-terminates */
	resp_reply_free(r);
	PARSE("-ERR wrong\nkind\r\n");
	assert_int_equal(r->type, RESP_ERROR);
	assert_string_equal(r->str, "ERR wrong\nkind");
	resp_reply_free(r);
	PARSE(":-9223372036854775808\r\n");
	assert_int_equal(r->type, RESP_INTEGER);
	assert_true(r->integer == INT64_MIN);
	assert_null(r->str);
	resp_reply_free(r);
	PARSE("$5\r\na\0\r\nb\r\n");
	assert_int_equal(r->type, RESP_BULK);
	assert_int_equal(r->len, 5);
	assert_memory_equal(r->str, "a\0\r\nb", 5);
	resp_reply_free(r);
	PARSE("$0\r\n\r\n");
	assert_int_equal(r->type, RESP_BULK);
	assert_int_equal(r->len, 0);
	assert_non_null(r->str);
	resp_reply_free(r);
	PARSE("$-1\r\n");
	assert_int_equal(r->type, RESP_NIL);
	resp_reply_free(r);
	PARSE("*-1\r\n");
	assert_int_equal(r->type, RESP_NIL_ARRAY);
	resp_reply_free(r);
	PARSE("*0\r\n");
	assert_int_equal(r->type, RESP_ARRAY);
	assert_int_equal(r->n, 0);
	assert_null(r->elems);
	resp_reply_free(r);
	PARSE("*3\r\n:1\r\n*2\r\n+a\r\n$-1\r\n$1\r\nz\r\n");
	assert_int_equal(r->type, RESP_ARRAY);
	assert_int_equal(r->n, 3);
	assert_true(r->elems[0].integer == 1);
	assert_int_equal(r->elems[1].type, RESP_ARRAY);
	assert_int_equal(r->elems[1].n, 2);
	assert_string_equal(r->elems[1].elems[0].str, "a");
	assert_int_equal(r->elems[1].elems[1].type, RESP_NIL);
	assert_string_equal(r->elems[2].str, "z");
	resp_reply_free(r);
	/* RESP3 */
	PARSE("_\r\n");
	assert_int_equal(r->type, RESP_NULL);
	resp_reply_free(r);
	PARSE("#t\r\n");
	assert_int_equal(r->type, RESP_BOOL);
	assert_true(r->integer == 1);
	resp_reply_free(r);
	PARSE("#f\r\n");
	assert_true(r->integer == 0);
	resp_reply_free(r);
	PARSE(",-1.25e3\r\n");
	assert_int_equal(r->type, RESP_DOUBLE);
	assert_true(r->dval == -1250.0);
	assert_string_equal(r->str, "-1.25e3");
	resp_reply_free(r);
	PARSE(",inf\r\n");
	assert_true(isinf(r->dval) && r->dval > 0);
	resp_reply_free(r);
	PARSE(",nan\r\n");
	assert_true(isnan(r->dval));
	resp_reply_free(r);
	PARSE("(-3492890328409238509324850943850943825024385\r\n");
	assert_int_equal(r->type, RESP_BIGNUM);
	assert_int_equal(r->len, strlen(r->str));
	assert_int_equal(r->str[0], '-');
	resp_reply_free(r);
	PARSE("=15\r\ntxt:Some string\r\n");
	assert_int_equal(r->type, RESP_VERBATIM);
	assert_string_equal(r->str, "txt:Some string");
	resp_reply_free(r);
	PARSE("!21\r\nSYNTAX invalid syntax\r\n");
	assert_int_equal(r->type, RESP_ERROR);
	assert_string_equal(r->str, "SYNTAX invalid syntax");
	resp_reply_free(r);
	PARSE("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n");
	assert_int_equal(r->type, RESP_MAP);
	assert_int_equal(r->n, 4);
	assert_string_equal(r->elems[2].str, "second");
	assert_true(r->elems[3].integer == 2);
	resp_reply_free(r);
	PARSE("~2\r\n+a\r\n#t\r\n");
	assert_int_equal(r->type, RESP_SET);
	assert_int_equal(r->n, 2);
	resp_reply_free(r);
	PARSE(">3\r\n+message\r\n+ch\r\n$2\r\nhi\r\n");
	assert_int_equal(r->type, RESP_PUSH);
	assert_int_equal(r->n, 3);
	resp_reply_free(r);
#undef PARSE
	assert_string_equal(resp_type_name(RESP_MAP), "map");
	assert_string_equal(resp_type_name(RESP_NIL_ARRAY), "nil-array");
}

static void test_reply_pipeline_and_zero_copy(void **state)
{
	static const char in[] = "+OK\r\n$3\r\nabc\r\n*2\r\n:1\r\n:2\r\n$2\r\nx";
	struct resp_reply_parser p;
	const struct resp_reply *r;
	size_t off = 0, consumed;

	(void)state;
	resp_reply_parser_init(&p, NULL);
	assert_int_equal(resp_reply_parse(&p, in, sizeof(in) - 1, &r, &consumed),
			 1);
	assert_int_equal(consumed, 5);
	assert_ptr_equal(r->str, in + 1);
	off += consumed;
	assert_int_equal(resp_reply_parse(&p, in + off, sizeof(in) - 1 - off, &r,
					  &consumed),
			 1);
	assert_ptr_equal(r->str, in + off + 4);
	off += consumed;
	assert_int_equal(resp_reply_parse(&p, in + off, sizeof(in) - 1 - off, &r,
					  &consumed),
			 1);
	assert_int_equal(r->n, 2);
	off += consumed;
	assert_int_equal(resp_reply_parse(&p, in + off, sizeof(in) - 1 - off, &r,
					  &consumed),
			 0);
	assert_int_equal(consumed, 0);
	assert_int_equal(resp_reply_parse(&p, "$2\r\nxy\r\n", 8, &r, &consumed),
			 1);
	assert_memory_equal(r->str, "xy", 2);
	resp_reply_parser_free(&p);
}

static void test_reply_errors(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		int rc;
		const char *text;
	} cases[] = {
#define E(lit, rc, text) {lit, sizeof(lit) - 1, rc, text}
		E("x\r\n", DKV_ERR_PROTO,
		  "Protocol error: unexpected reply type byte 'x'"),
		E("\0", DKV_ERR_PROTO, "unexpected reply type byte '\\x00'"),
		E(":12a\r\n", DKV_ERR_PROTO, "invalid integer"),
		E(":\r\n", DKV_ERR_PROTO, "invalid integer"),
		E(":9223372036854775808\r\n", DKV_ERR_PROTO, "invalid integer"),
		E("+OK\rX", DKV_ERR_PROTO, "CR not followed by LF"),
		E("$-2\r\n", DKV_ERR_PROTO, "invalid bulk length"),
		E("$x\r\n", DKV_ERR_PROTO, "invalid bulk length"),
		E("!-1\r\n", DKV_ERR_PROTO, "invalid bulk length"),
		E("$3\r\nabcd\r", DKV_ERR_PROTO, "bulk data not followed by CRLF"),
		E("*-2\r\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("%-1\r\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("*1\r\n*x\r\n", DKV_ERR_PROTO, "invalid multibulk length"),
		E("=3\r\ntxt\r\n", DKV_ERR_PROTO, "invalid verbatim"),
		E("=5\r\ntxtab\r\n", DKV_ERR_PROTO, "invalid verbatim"),
		E("#x\r\n", DKV_ERR_PROTO, "invalid boolean"),
		E("#tt\r\n", DKV_ERR_PROTO, "invalid boolean"),
		E("_x\r\n", DKV_ERR_PROTO, "invalid null"),
		E(",1.2.3\r\n", DKV_ERR_PROTO, "invalid double"),
		E(",0x10\r\n", DKV_ERR_PROTO, "invalid double"),
		E(",infinity\r\n", DKV_ERR_PROTO, "invalid double"),
		E(", 1\r\n", DKV_ERR_PROTO, "invalid double"),
		E(",1e\r\n", DKV_ERR_PROTO, "invalid double"),
		E(",\r\n", DKV_ERR_PROTO, "invalid double"),
		E("(12a\r\n", DKV_ERR_PROTO, "invalid big number"),
		E("(-\r\n", DKV_ERR_PROTO, "invalid big number"),
		E("|1\r\n+a\r\n+b\r\n+c\r\n", DKV_ERR_UNSUPPORTED,
		  "RESP3 attributes are not supported"),
		E("$?\r\n;4\r\nHell\r\n;0\r\n", DKV_ERR_UNSUPPORTED,
		  "streamed strings"),
		E("*?\r\n:1\r\n.\r\n", DKV_ERR_UNSUPPORTED,
		  "streamed aggregates"),
		E("$68157441\r\n", DKV_ERR_TOO_BIG,
		  "invalid bulk length (over the limit of 68157440 bytes)"),
		E("*1048577\r\n", DKV_ERR_TOO_BIG,
		  "reply with more than 1048576 elements"),
		E("%524289\r\n", DKV_ERR_TOO_BIG, "more than 1048576 elements"),
		E("%9223372036854775807\r\n", DKV_ERR_TOO_BIG, "more than"),
		E("*1048576\r\n*1\r\n", DKV_ERR_TOO_BIG, "more than"),
		E("*1048576\r\n", 0, NULL), /* declared, not allocated */
		E("+OK", 0, NULL),
		E("$3\r\nab", 0, NULL),
		E("*2\r\n:1\r\n", 0, NULL),
#undef E
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[160];
		size_t consumed;
		int rc = parse_reply(cases[i].in, cases[i].len, NULL, NULL,
				     &consumed, text, sizeof(text));

		if (rc != cases[i].rc)
			fail_msg("case %zu: rc %d (%s), want %d", i, rc, text,
				 cases[i].rc);
		if (cases[i].text != NULL && strstr(text, cases[i].text) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, text,
				 cases[i].text);
		assert_null(strpbrk(text, "\r\n"));
	}
}

static void test_reply_limits(void **state)
{
	struct resp_limits lim;
	struct resp_reply_parser p;
	const struct resp_reply *r;
	struct resp_buf b;
	size_t consumed, i;
	char text[160];

	(void)state;
	/* Depth: 32 nested arrays are fine, 33 are not. */
	resp_buf_init(&b, 0);
	for (i = 0; i < 32; i++)
		assert_int_equal(resp_put_array(&b, 1), 0);
	assert_int_equal(resp_put_int(&b, 7), 0);
	assert_int_equal(parse_reply(b.data, b.len, NULL, NULL, &consumed,
				     NULL, 0),
			 1);
	resp_buf_reset(&b);
	for (i = 0; i < 33; i++)
		assert_int_equal(resp_put_array(&b, 1), 0);
	assert_int_equal(resp_put_int(&b, 7), 0);
	assert_int_equal(parse_reply(b.data, b.len, NULL, NULL, &consumed,
				     text, sizeof(text)),
			 DKV_ERR_TOO_BIG);
	assert_string_equal(text,
			    "Protocol error: reply nested deeper than 32 levels");
	/* An empty aggregate counts as a level; a nil array does not. */
	resp_buf_reset(&b);
	for (i = 0; i < 32; i++)
		assert_int_equal(resp_put_array(&b, 1), 0);
	assert_int_equal(resp_put_null_array(&b), 0);
	assert_int_equal(parse_reply(b.data, b.len, NULL, NULL, &consumed,
				     NULL, 0),
			 1);
	resp_buf_reset(&b);
	for (i = 0; i < 32; i++)
		assert_int_equal(resp_put_map(&b, 1), 0);
	assert_int_equal(resp_put_map(&b, 0), 0);
	assert_int_equal(parse_reply(b.data, b.len, NULL, NULL, &consumed,
				     NULL, 0),
			 DKV_ERR_TOO_BIG);
	/* A smaller limit. */
	memset(&lim, 0, sizeof(lim));
	lim.max_depth = 2;
	assert_int_equal(parse_reply(S("*1\r\n*1\r\n:1\r\n"), &lim, NULL,
				     &consumed, NULL, 0),
			 1);
	assert_int_equal(parse_reply(S("*1\r\n*1\r\n*0\r\n"), &lim, NULL,
				     &consumed, NULL, 0),
			 DKV_ERR_TOO_BIG);
	/* Elements of all levels together. */
	lim.max_depth = 0;
	lim.max_args = 4;
	assert_int_equal(parse_reply(S("*2\r\n*2\r\n:1\r\n:2\r\n:3\r\n"), &lim,
				     NULL, &consumed, NULL, 0),
			 1);
	assert_int_equal(parse_reply(S("*2\r\n*3\r\n"), &lim, NULL, &consumed,
				     NULL, 0),
			 DKV_ERR_TOO_BIG);
	assert_int_equal(parse_reply(S("%2\r\n"), &lim, NULL, &consumed, NULL,
				     0),
			 1 - 1); /* 4 elements: fine, needs more */
	assert_int_equal(parse_reply(S("%3\r\n"), &lim, NULL, &consumed, NULL,
				     0),
			 DKV_ERR_TOO_BIG);
	/* Line and reply sizes. */
	lim.max_args = 0;
	lim.max_inline = 4;
	assert_int_equal(parse_reply(S("+abcd\r\n"), &lim, NULL, &consumed,
				     NULL, 0),
			 1);
	assert_int_equal(parse_reply(S("+abcde"), &lim, NULL, &consumed, text,
				     sizeof(text)),
			 DKV_ERR_TOO_BIG);
	assert_string_equal(text,
			    "Protocol error: reply line over the limit of 4 bytes");
	lim.max_inline = 0;
	lim.max_request = 12;
	assert_int_equal(parse_reply(S("*2\r\n:1\r\n:2\r\n"), &lim, NULL,
				     &consumed, NULL, 0),
			 1);
	assert_int_equal(parse_reply(S("*2\r\n:1\r\n:22\r\n"), &lim, NULL,
				     &consumed, NULL, 0),
			 DKV_ERR_TOO_BIG);
	assert_int_equal(parse_reply(S("$10\r\n"), &lim, NULL, &consumed, NULL,
				     0),
			 DKV_ERR_TOO_BIG);
	/* A declared count allocates nothing until elements arrive. */
	resp_reply_parser_init(&p, NULL);
	assert_int_equal(resp_reply_parse(&p, S("*1000000\r\n"), &r, &consumed),
			 0);
	assert_true(p.precap_ <= 16);
	resp_reply_parser_free(&p);
	resp_buf_free(&b);
}

static void test_reply_memory(void **state)
{
	struct resp_reply_parser p;
	const struct resp_reply *r;
	struct resp_buf b;
	size_t consumed, i;

	(void)state;
	resp_buf_init(&b, 0);
	assert_int_equal(resp_put_array(&b, 5000), 0);
	for (i = 0; i < 5000; i++)
		assert_int_equal(resp_put_int(&b, (int64_t)i), 0);
	resp_reply_parser_init(&p, NULL);
	assert_int_equal(resp_reply_parse(&p, b.data, b.len, &r, &consumed), 1);
	assert_int_equal(r->n, 5000);
	assert_true(r->elems[4999].integer == 4999);
	assert_true(p.precap_ >= 5001);
	/* Kept for the reply after a large one, released after a small. */
	assert_int_equal(resp_reply_parse(&p, S(":1\r\n"), &r, &consumed), 1);
	assert_true(p.precap_ >= 5001);
	assert_int_equal(resp_reply_parse(&p, S(":2\r\n"), &r, &consumed), 1);
	assert_true(p.precap_ <= 1024 && p.treecap_ <= 1024);
	assert_true(r->integer == 2);
	resp_reply_parser_free(&p);
	resp_buf_free(&b);
}

/* --- random reply trees: writers -> parser round trip -------------------- */

static void free_tree(struct resp_reply *r)
{
	size_t i;

	for (i = 0; r->elems != NULL && i < r->n; i++)
		free_tree(&r->elems[i]);
	free(r->elems);
	free((void *)r->str);
}

static char *rnd_bytes(size_t len, int line)
{
	char *s = malloc(len + 1);
	size_t i;

	assert_non_null(s);
	for (i = 0; i < len; i++) {
		switch (rnd() % 4) {
		case 0: s[i] = "\r\n\0$*:"[rnd() % 6]; break;
		default: s[i] = (char)rnd(); break;
		}
		if (line && (s[i] == '\r' || s[i] == '\n'))
			s[i] = '.';
	}
	s[len] = '\0';
	return s;
}

static size_t rnd_len(void)
{
	switch (rnd() % 8) {
	case 0: return 0;
	case 1: return 1 + rnd_below(2000);
	default: return rnd_below(12);
	}
}

static double rnd_double(void)
{
	uint64_t bits = rnd();
	double d;

	switch (rnd() % 6) {
	case 0: return (double)(int64_t)rnd() / 1e6;
	case 1: return INFINITY;
	case 2: return -INFINITY;
	case 3: return NAN;
	case 4: return (double)(int32_t)rnd();
	default:
		memcpy(&d, &bits, sizeof(d));
		return d;
	}
}

static void gen_tree(struct resp_reply *r, size_t depth, size_t max_depth)
{
	static const enum resp_type scalars[] = {
		RESP_STRING, RESP_ERROR, RESP_INTEGER, RESP_BULK,
		RESP_NIL,    RESP_NIL_ARRAY, RESP_NULL, RESP_BOOL,
		RESP_DOUBLE, RESP_BIGNUM, RESP_VERBATIM,
	};
	static const enum resp_type aggs[] = {RESP_ARRAY, RESP_MAP, RESP_SET,
					      RESP_PUSH, RESP_ARRAY};
	size_t i, len;

	memset(r, 0, sizeof(*r));
	if (depth < max_depth && rnd() % 3 == 0) {
		r->type = aggs[rnd() % 5];
		r->n = rnd_below(5);
		if (r->type == RESP_MAP)
			r->n *= 2;
		if (r->n > 0) {
			r->elems = calloc(r->n, sizeof(*r->elems));
			assert_non_null(r->elems);
		}
		for (i = 0; i < r->n; i++)
			gen_tree(&r->elems[i], depth + 1, max_depth);
		return;
	}
	r->type = scalars[rnd() % 11];
	switch (r->type) {
	case RESP_STRING:
	case RESP_ERROR:
		r->len = rnd_len();
		r->str = rnd_bytes(r->len, 1);
		break;
	case RESP_BULK:
		r->len = rnd_len();
		r->str = rnd_bytes(r->len, 0);
		break;
	case RESP_INTEGER:
		r->integer = (int64_t)(rnd() >> rnd_below(64));
		if (rnd() % 2)
			r->integer = -r->integer;
		break;
	case RESP_BOOL:
		r->integer = (int64_t)(rnd() % 2);
		break;
	case RESP_DOUBLE:
		r->dval = rnd_double();
		break;
	case RESP_BIGNUM: {
		char *s;

		len = 1 + rnd_below(60);
		s = malloc(len + 2);
		assert_non_null(s);
		r->len = 0;
		if (rnd() % 2)
			s[r->len++] = '-';
		for (i = 0; i < len; i++)
			s[r->len++] = (char)('0' + rnd() % 10);
		s[r->len] = '\0';
		r->str = s;
		break;
	}
	case RESP_VERBATIM: {
		char *s;

		len = rnd_len();
		s = rnd_bytes(len + 4, 0);
		memcpy(s, rnd() % 2 ? "txt:" : "mkd:", 4);
		r->str = s;
		r->len = len + 4;
		break;
	}
	default:
		break;
	}
}

static void test_reply_roundtrip(void **state)
{
	struct resp_reply_parser p;
	struct resp_buf b;
	size_t t, trees = 5000, pipe_len = 0, k;
	struct resp_reply pipe[8];

	(void)state;
	rng_state = seed_once() + 2;
	resp_buf_init(&b, 0);
	resp_reply_parser_init(&p, NULL);
	for (t = 0; t < trees; t++) {
		const struct resp_reply *back;
		size_t consumed, start = 0, avail, got = 0;
		int rc;

		/* Up to 8 trees pipelined in one buffer. */
		resp_buf_reset(&b);
		pipe_len = 1 + rnd_below(8);
		for (k = 0; k < pipe_len; k++) {
			gen_tree(&pipe[k], 1, 1 + rnd_below(6));
			assert_int_equal(resp_put_reply(&b, &pipe[k]), 0);
		}
		/* Fed in random chunks (byte by byte every tenth run). */
		avail = t % 10 == 0 ? 0 : rnd_below(b.len + 1);
		for (;;) {
			rc = resp_reply_parse(&p, b.data + start, avail - start,
					      &back, &consumed);
			assert_true(rc >= 0);
			if (rc == 1) {
				struct resp_reply *d;

				assert_true(got < pipe_len);
				if (!resp_reply_equal(&pipe[got], back))
					fail_msg("tree %zu.%zu differs after "
						 "the round trip",
						 t, got);
				d = resp_reply_dup(back);
				assert_non_null(d);
				assert_true(resp_reply_equal(d, &pipe[got]));
				resp_reply_free(d);
				got++;
				start += consumed;
				continue;
			}
			assert_int_equal(consumed, 0);
			if (avail == b.len)
				break;
			avail = t % 10 == 0
					? avail + 1
					: avail + 1 + rnd_below(b.len - avail);
		}
		assert_int_equal(got, pipe_len);
		assert_int_equal(start, b.len);
		for (k = 0; k < pipe_len; k++)
			free_tree(&pipe[k]);
	}
	printf("test_resp: %zu random reply trees round-tripped\n", trees);
	resp_reply_parser_free(&p);
	resp_buf_free(&b);
}

/* Every split of a mixed reply stream parses the same. */
static void test_reply_every_split(void **state)
{
	static const char in[] =
		"+OK\r\n-ERR x\r\n:42\r\n$3\r\na\r\n\r\n$-1\r\n*-1\r\n"
		"*2\r\n*1\r\n%1\r\n+k\r\n~1\r\n_\r\n>1\r\n#t\r\n"
		",3.25\r\n(123\r\n=6\r\ntxt:ab\r\n!3\r\nE x\r\n";
	struct resp_buf whole, got;
	size_t k;

	(void)state;
	resp_buf_init(&whole, 0);
	resp_buf_init(&got, 0);
	for (k = 0; k <= sizeof(in) - 1; k++) {
		struct resp_reply_parser p;
		const struct resp_reply *r;
		size_t start = 0, avail = k, consumed;
		int rc;

		resp_buf_reset(&got);
		resp_reply_parser_init(&p, NULL);
		for (;;) {
			char *w = malloc(avail - start + 1);

			assert_non_null(w);
			memcpy(w, in + start, avail - start);
			rc = resp_reply_parse(&p, w, avail - start, &r,
					      &consumed);
			assert_true(rc >= 0);
			if (rc == 1)
				assert_int_equal(resp_put_reply(&got, r), 0);
			free(w);
			start += consumed;
			if (rc == 0) {
				if (avail == sizeof(in) - 1)
					break;
				avail = sizeof(in) - 1;
			}
		}
		if (k == 0) {
			resp_buf_reset(&whole);
			assert_int_equal(resp_put_raw(&whole, got.data, got.len),
					 0);
			assert_int_equal(start, sizeof(in) - 1);
		}
		assert_same_log(&got, &whole);
		resp_reply_parser_free(&p);
	}
	/* What was written back is what was read, but for the blob error
	 * that became a -error line. */
	assert_int_equal(whole.len, sizeof(in) - 1 - 3);
	assert_memory_equal(whole.data, in, sizeof(in) - 1 - 9);
	assert_memory_equal(whole.data + whole.len - 6, "-E x\r\n", 6);
	resp_buf_free(&whole);
	resp_buf_free(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multibulk_basic),
		cmocka_unit_test(test_multibulk_binary),
		cmocka_unit_test(test_pipeline),
		cmocka_unit_test(test_skips),
		cmocka_unit_test(test_half_written),
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_inline),
		cmocka_unit_test(test_inline_errors),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_sticky_error_and_reset),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_moved_buffer),
		cmocka_unit_test(test_many_args_and_trim),
		cmocka_unit_test(test_linear_feeding),
		cmocka_unit_test(test_throughput),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_writers),
		cmocka_unit_test(test_buf_bounds),
		cmocka_unit_test(test_reply_types),
		cmocka_unit_test(test_reply_pipeline_and_zero_copy),
		cmocka_unit_test(test_reply_errors),
		cmocka_unit_test(test_reply_limits),
		cmocka_unit_test(test_reply_memory),
		cmocka_unit_test(test_reply_roundtrip),
		cmocka_unit_test(test_reply_every_split),
	};

	seed_once();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
