/*
 * resp.h - the RESP codec (the Redis protocol, RESP2, plus the RESP3 reply
 * types that HELLO 3 brings). Used by the node daemon (requests in, replies
 * out), by libdkv (requests out, replies in) and by node-to-node RPC (both).
 * Design, limits, error texts and fuzzing: docs/proto.md.
 *
 * Hand-written rather than hiredis's reader because hiredis cannot parse
 * the inline commands that redis-cli and telnet users send, and because the
 * server needs a zero-copy, size-bounded, resumable request parser.
 *
 * Three parts, no I/O in any of them:
 *   - resp_cmd_parse(): server side, requests (multibulk and inline).
 *   - resp_reply_parse(): client side, replies (RESP2 and RESP3 types).
 *   - resp_buf + resp_put_*(): a growable output buffer and the writers of
 *     every reply type and of a client request.
 *
 * Feeding a parser. The caller owns the input bytes: it reads from the
 * socket into its own buffer and calls the parser with (buf, len), where buf
 * starts at the first byte not yet consumed. Every call sets *consumed to
 * the number of bytes at the front of buf that the caller must drop before
 * the next call. A call returns
 *    1  a complete command / reply is at the front of buf: *out describes
 *       it, *consumed is its length (plus any empty commands skipped before
 *       it);
 *    0  more bytes are needed; *consumed is 0: keep every byte, append more
 *       after them and call again. The parser remembers how far it got, so a
 *       message fed in many small pieces costs O(its size) in total, not
 *       O(size^2). Between such calls the caller may move its buffer
 *       (realloc, memmove to the front) but must keep the bytes themselves;
 *   <0  a DKV_ERR_* code: DKV_ERR_PROTO (malformed input), DKV_ERR_TOO_BIG
 *       (a limit of struct resp_limits exceeded), DKV_ERR_NOMEM,
 *       DKV_ERR_INVAL (buf shorter than the bytes already passed), or
 *       DKV_ERR_UNSUPPORTED (RESP3 attributes and streamed types, replies
 *       only). A Redis-style text ("Protocol error: ...") is available from
 *       resp_*_parser_error(). The stream cannot be resynchronised: every
 *       later call returns the same code until a reset; the server replies
 *       "-ERR <text>" and closes the connection.
 *
 * Threads: a parser or a resp_buf is used by one thread at a time; there is
 * no global state except a lazily created "C" locale for doubles.
 */
#ifndef DKV_PROTO_RESP_H
#define DKV_PROTO_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "dkv_err.h"

/* --- limits ------------------------------------------------------------- */

/* Largest bulk string: a maximal value (DKV_STORE_DEFAULT_MAX_VALUE, 64 MiB)
 * plus room for a maximal key (64 KiB) and a record header in node-to-node
 * messages that carry both in one bulk. */
#define DKV_RESP_DEFAULT_MAX_BULK ((size_t)65 << 20)
/* Arguments of one command; elements of one reply (all levels together). */
#define DKV_RESP_DEFAULT_MAX_ARGS ((size_t)1 << 20)
/* One inline command line; one simple-string / error / number reply line. */
#define DKV_RESP_DEFAULT_MAX_INLINE ((size_t)64 << 10)
/* Bytes of one multibulk command or of one reply: four maximal values. */
#define DKV_RESP_DEFAULT_MAX_REQUEST ((size_t)256 << 20)
/* Nesting of aggregate replies (an array in an array is depth 2). */
#define DKV_RESP_DEFAULT_MAX_DEPTH 32
/* Hard ceiling of max_depth whatever the caller asks (the frame stack is
 * part of the parser struct). */
#define DKV_RESP_MAX_DEPTH_LIMIT 64
/* Default bound of a resp_buf. */
#define DKV_RESP_DEFAULT_MAX_BUF ((size_t)1 << 30)

struct resp_limits {
	/* requests: arguments of one command; replies: elements of all the
	 * aggregates of one reply together (a map counts 2 per pair).
	 * Over it: DKV_ERR_TOO_BIG. */
	size_t max_args;
	/* length of one bulk string ($), blob error (!) or verbatim (=). */
	size_t max_bulk;
	/* requests: bytes of one inline line before its '\n' (a trailing '\r'
	 * included); replies: bytes of one line item (+ - : , ( _ #) between
	 * its type byte and its '\r'. */
	size_t max_inline;
	/* bytes of one multibulk command / one reply, framing included
	 * (inline commands are bounded by max_inline alone). */
	size_t max_request;
	/* replies only: aggregate nesting, 1..DKV_RESP_MAX_DEPTH_LIMIT. */
	size_t max_depth;
};

/* Fills lim with the DKV_RESP_DEFAULT_* values. */
void resp_limits_default(struct resp_limits *lim);

/* --- request parser (server side) ---------------------------------------- */

/* One parsed command. argv[i] / argvlen[i] is argument i: binary, NOT
 * NUL-terminated. For a multibulk command argv[i] points into the caller's
 * buf; for an inline command (is_inline != 0) it points into memory of the
 * parser (quotes and escapes are decoded). Either way the arrays and the
 * bytes are valid until the next call on the parser (resp_cmd_parse, reset
 * or free) or until the caller drops or changes the command's bytes,
 * whichever comes first. argc >= 1: empty commands are skipped. */
struct resp_cmd {
	size_t argc;
	const char *const *argv;
	const size_t *argvlen;
	int is_inline;
};

/* The parser; embed it in the connection. Fields are private (read only by
 * the fuzzer's invariant checks). Its arrays grow to the largest command
 * seen and are released when a small command follows a large one. */
struct resp_cmd_parser {
	struct resp_limits lim;
	int err_;           /* sticky error code, 0 if none */
	int mode_;          /* 0 between commands, 1 multibulk, 2 inline */
	int have_bulk_;     /* bulklen_ is known (its header is parsed) */
	size_t pos_;        /* bytes of the current command parsed */
	size_t nargs_;      /* multibulk: declared argument count */
	size_t argc_;       /* arguments located so far */
	size_t bulklen_;    /* current bulk's length, if have_bulk_ */
	size_t scanned_;    /* inline: bytes already searched for '\n' */
	size_t skip_;       /* bytes of empty commands before this one */
	size_t cap_;        /* capacity of off_, len_, argv_ */
	size_t *off_;       /* offsets of the arguments located so far */
	size_t *len_;
	const char **argv_;
	char *ibuf_;        /* decoded inline arguments */
	size_t icap_;
	char errtext_[128];
};

/* lim NULL = defaults; *lim is copied (a zero field takes its default).
 * Allocates nothing: memory comes with the first command. */
void resp_cmd_parser_init(struct resp_cmd_parser *p,
			  const struct resp_limits *lim);
/* Frees the parser's memory; *p may be re-initialised afterwards. */
void resp_cmd_parser_free(struct resp_cmd_parser *p);
/* Forgets progress and any error, keeps memory: the next call starts a new
 * command at the front of its buf. */
void resp_cmd_parser_reset(struct resp_cmd_parser *p);
/* Text of the error returned last ("Protocol error: ..."), "" if none.
 * Owned by the parser, valid until its next call. No '\r' or '\n'. */
const char *resp_cmd_parser_error(const struct resp_cmd_parser *p);

/* Parses the command at the front of buf[0..len): see "Feeding a parser"
 * above. A buf starting with '*' is multibulk ("*N\r\n" then N times
 * "$len\r\n<len bytes>\r\n"); anything else is an inline line (Redis's
 * sdssplitargs rules, docs/proto.md). Multibulk counts N <= 0 and empty
 * inline lines are skipped, as Redis does: their bytes are consumed with the
 * next command (more than max_request of them in a row: DKV_ERR_TOO_BIG).
 * A command returned leaves no state behind: a caller that cannot run it
 * yet may keep its bytes and get it again from the next call. buf may be
 * NULL when len is 0. */
int resp_cmd_parse(struct resp_cmd_parser *p, const char *buf, size_t len,
		   struct resp_cmd *out, size_t *consumed);

/* --- reply parser (client side, node to node) ------------------------- */

enum resp_type {
	RESP_STRING = 1, /* +simple string: str/len */
	RESP_ERROR,      /* -error or !blob error: str/len ("ERR ...") */
	RESP_INTEGER,    /* :integer: integer */
	RESP_BULK,       /* $bulk string: str/len */
	RESP_NIL,        /* $-1, the RESP2 null bulk */
	RESP_ARRAY,      /* *array: n, elems */
	RESP_NIL_ARRAY,  /* *-1, the RESP2 null array */
	/* RESP3 */
	RESP_NULL,       /* _ */
	RESP_BOOL,       /* #t / #f: integer 1 / 0 */
	RESP_DOUBLE,     /* ,double: dval, and its text in str/len */
	RESP_BIGNUM,     /* (big number: its decimal text in str/len */
	RESP_VERBATIM,   /* =verbatim: str/len is "fmt:text", fmt 3 bytes */
	RESP_MAP,        /* %map: n = 2 * pairs, elems = k0, v0, k1, v1... */
	RESP_SET,        /* ~set: n, elems */
	RESP_PUSH,       /* >push: n, elems (out of band data) */
};

/* A parsed reply: a tree. str is binary and NOT NUL-terminated (except in
 * a tree made by resp_reply_dup); it is NULL for types without text. elems
 * holds n replies for aggregates, NULL when n is 0. */
struct resp_reply {
	enum resp_type type;
	int64_t integer;
	double dval;
	const char *str;
	size_t len;
	size_t n;
	struct resp_reply *elems;
};

/* Private node of a reply under construction (pre-order). */
struct resp_rnode_ {
	enum resp_type type;
	int64_t integer;
	double dval;
	size_t off, len, n;
};

/* The reply parser; embed it in the connection. Fields are private. */
struct resp_reply_parser {
	struct resp_limits lim;
	int err_;
	int have_bulk_;        /* a bulk header is parsed, data pending */
	enum resp_type btype_; /* its type */
	size_t bulklen_;
	size_t pos_;           /* bytes of the current reply parsed */
	size_t scanned_;       /* line item: bytes searched for '\r' */
	size_t depth_;         /* open aggregates */
	size_t declared_;      /* elements declared so far (max_args) */
	size_t left_[DKV_RESP_MAX_DEPTH_LIMIT]; /* children still due */
	struct resp_rnode_ *pre_; /* nodes so far, pre-order */
	size_t npre_, precap_;
	struct resp_reply *tree_; /* the last reply returned */
	size_t treecap_;
	size_t last_nodes_;       /* nodes of the last reply returned */
	char errtext_[128];
};

void resp_reply_parser_init(struct resp_reply_parser *p,
			    const struct resp_limits *lim);
void resp_reply_parser_free(struct resp_reply_parser *p);
void resp_reply_parser_reset(struct resp_reply_parser *p);
const char *resp_reply_parser_error(const struct resp_reply_parser *p);

/* Parses the reply at the front of buf[0..len): see "Feeding a parser".
 * On 1, *out is the root of the reply tree. The tree is owned by the
 * parser; its strings point into buf. It is valid until the next call on the
 * parser or until the caller drops or changes the reply's bytes, whichever
 * comes first; resp_reply_dup() keeps a copy beyond that. */
int resp_reply_parse(struct resp_reply_parser *p, const char *buf,
		     size_t len, const struct resp_reply **out,
		     size_t *consumed);

/* A deep copy of r in one malloc'ed block (nodes and strings), every str
 * NUL-terminated. Owned by the caller: resp_reply_free(). NULL on ENOMEM. */
struct resp_reply *resp_reply_dup(const struct resp_reply *r);
/* Frees a tree made by resp_reply_dup (NULL is fine). Never call it on a
 * tree returned by resp_reply_parse. */
void resp_reply_free(struct resp_reply *r);
/* Structural equality: same types, then integers (INTEGER, BOOL), values
 * (DOUBLE: dval only, two NaNs are equal), bytes (str types), children. */
int resp_reply_equal(const struct resp_reply *a, const struct resp_reply *b);
/* Name of a type ("array"), static. */
const char *resp_type_name(enum resp_type t);

/* --- output buffer and writers ------------------------------------------ */

/* A growable byte buffer: data[0..len) is the output; cap is allocated.
 * Growth is geometric and bounded by max: a writer that would pass it
 * returns DKV_ERR_TOO_BIG, a failed allocation DKV_ERR_NOMEM. Every writer
 * appends its whole item or nothing (len unchanged on error), so an error
 * never leaves half a reply in the stream. data is owned by the buffer
 * (NULL until the first write) and moves when the buffer grows. */
struct resp_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

/* max 0 = DKV_RESP_DEFAULT_MAX_BUF. Allocates nothing. */
void resp_buf_init(struct resp_buf *b, size_t max);
void resp_buf_free(struct resp_buf *b);
/* len = 0, memory kept. */
void resp_buf_reset(struct resp_buf *b);
/* Drops the first n bytes (n <= len), e.g. those written to the socket. */
void resp_buf_consume(struct resp_buf *b, size_t n);
/* Ensures cap - len >= extra: for a caller reading straight into
 * data + len (then adding what it read to len). */
int resp_buf_reserve(struct resp_buf *b, size_t extra);

/* Bytes as they are (no framing). */
int resp_put_raw(struct resp_buf *b, const void *data, size_t len);
/* "+s\r\n". Any '\r' or '\n' in s is written as a space. */
int resp_put_simple(struct resp_buf *b, const char *s, size_t len);
/* "+OK\r\n". */
int resp_put_ok(struct resp_buf *b);
/* "-msg\r\n". msg is the whole error text, starting with its code word
 * ("ERR syntax error", "WRONGTYPE ..."); '\r' and '\n' become spaces. */
int resp_put_error(struct resp_buf *b, const char *msg, size_t len);
/* resp_put_error of a printf-formatted text (not for the hot path). */
int resp_put_errorf(struct resp_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* ":v\r\n". */
int resp_put_int(struct resp_buf *b, int64_t v);
/* "$len\r\n" data "\r\n". */
int resp_put_bulk(struct resp_buf *b, const void *data, size_t len);
/* "$len\r\n" only: for a caller that sends the len data bytes itself
 * (e.g. straight from the store) followed by "\r\n" (resp_put_raw). */
int resp_put_bulk_header(struct resp_buf *b, size_t len);
/* "$-1\r\n", the RESP2 null (GET of a missing key). */
int resp_put_null(struct resp_buf *b);
/* "*-1\r\n", the RESP2 null array. */
int resp_put_null_array(struct resp_buf *b);
/* "*n\r\n": the n elements follow, written by the caller. */
int resp_put_array(struct resp_buf *b, size_t n);
/* A client request: "*argc\r\n" then each argument as a bulk.
 * argvlen NULL = every argv[i] is NUL-terminated (strlen). */
int resp_put_command(struct resp_buf *b, size_t argc,
		     const char *const *argv, const size_t *argvlen);

/* Writes a whole reply tree (e.g. one parsed from a peer, to relay it).
 * Types keep their wire form, except a blob error, written as a -error
 * line ('\r' '\n' -> space). Depth is bounded by the tree's own. */
int resp_put_reply(struct resp_buf *b, const struct resp_reply *r);

/* RESP3 writers (for HELLO 3 connections). */
int resp_put_null3(struct resp_buf *b);              /* "_\r\n" */
int resp_put_bool(struct resp_buf *b, int v);        /* "#t\r\n" "#f\r\n" */
/* ",<%.17g>\r\n", exact round trip; inf, -inf, nan as RESP3 spells them. */
int resp_put_double(struct resp_buf *b, double v);
/* "(digits\r\n"; the text is written as given ('\r' '\n' -> space). */
int resp_put_bignum(struct resp_buf *b, const char *digits, size_t len);
/* "=<len+4>\r\nfmt:data\r\n", fmt exactly 3 bytes ("txt", "mkd"). */
int resp_put_verbatim(struct resp_buf *b, const char *fmt, const void *data,
		      size_t len);
int resp_put_map(struct resp_buf *b, size_t npairs); /* "%npairs\r\n" */
int resp_put_set(struct resp_buf *b, size_t n);      /* "~n\r\n" */
int resp_put_push(struct resp_buf *b, size_t n);     /* ">n\r\n" */

/* --- numbers ------------------------------------------------------------ */

/* Writes v in decimal to dst (at least 20 bytes; no NUL); returns the
 * number of bytes. Table-driven, no snprintf. */
size_t resp_fmt_u64(char *dst, uint64_t v);
/* The same for a signed value (at least 21 bytes). */
size_t resp_fmt_i64(char *dst, int64_t v);
/* Parses s[0..len) as a decimal int64 with Redis's string2ll rules: an
 * optional '-', no '+', no spaces, no leading zeros ("0" only), no "-0",
 * no overflow. 0 and *out set, or DKV_ERR_INVAL. */
int resp_parse_i64(const char *s, size_t len, int64_t *out);

#endif /* DKV_PROTO_RESP_H */
