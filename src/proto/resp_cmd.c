/*
 * resp_cmd.c - the request parser (server side): multibulk and inline
 * commands, incremental and size-bounded. Contract in resp.h, design in
 * docs/proto.md.
 *
 * State between calls: mode_ says whether a command is under way; for a
 * multibulk command pos_ is the offset of the first byte not yet parsed
 * (header or bulk data), argc_ the arguments located so far (their offsets
 * in off_, lengths in len_), and have_bulk_/bulklen_ the header of the
 * bulk whose data is awaited. A call resumes at pos_, so bulk data is never
 * looked at twice and a header line is rescanned at most once per call
 * (<= 22 bytes). For an inline line, scanned_ remembers how far '\n' was
 * already searched for. Offsets rather than pointers are kept so that the
 * caller may move its buffer between calls; argv_ is filled at completion.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"
#include "proto/resp_int.h"

enum { MODE_IDLE = 0, MODE_MULTIBULK = 1, MODE_INLINE = 2 };

void resp_cmd_parser_init(struct resp_cmd_parser *p,
			  const struct resp_limits *lim)
{
	memset(p, 0, sizeof(*p));
	if (lim != NULL)
		p->lim = *lim;
	resp_limits_fix(&p->lim);
}

static void release_arrays(struct resp_cmd_parser *p)
{
	free(p->off_);
	free(p->len_);
	free(p->argv_);
	p->off_ = NULL;
	p->len_ = NULL;
	p->argv_ = NULL;
	p->cap_ = 0;
}

void resp_cmd_parser_free(struct resp_cmd_parser *p)
{
	release_arrays(p);
	free(p->ibuf_);
	p->ibuf_ = NULL;
	p->icap_ = 0;
	resp_cmd_parser_reset(p);
}

void resp_cmd_parser_reset(struct resp_cmd_parser *p)
{
	p->err_ = 0;
	p->mode_ = MODE_IDLE;
	p->have_bulk_ = 0;
	p->pos_ = 0;
	p->nargs_ = 0;
	p->argc_ = 0;
	p->bulklen_ = 0;
	p->scanned_ = 0;
	p->skip_ = 0;
	p->errtext_[0] = '\0';
}

const char *resp_cmd_parser_error(const struct resp_cmd_parser *p)
{
	return p->errtext_;
}

__attribute__((format(printf, 3, 4))) static int
fail(struct resp_cmd_parser *p, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->errtext_, sizeof(p->errtext_), fmt, ap);
	va_end(ap);
	p->err_ = code;
	return code;
}

/* Grows the argument arrays to hold at least need entries (need <=
 * max_args). Each array is replaced only once every allocation succeeded. */
static int grow(struct resp_cmd_parser *p, size_t need)
{
	size_t cap = p->cap_ ? p->cap_ : 16;
	size_t *off, *len;
	const char **argv;

	while (cap < need)
		cap *= 2;
	if (cap > p->lim.max_args)
		cap = p->lim.max_args;
	if (cap < need)
		cap = need;
	off = realloc(p->off_, cap * sizeof(*off));
	if (off == NULL)
		return fail(p, DKV_ERR_NOMEM, "out of memory");
	p->off_ = off;
	len = realloc(p->len_, cap * sizeof(*len));
	if (len == NULL)
		return fail(p, DKV_ERR_NOMEM, "out of memory");
	p->len_ = len;
	argv = realloc(p->argv_, cap * sizeof(*argv));
	if (argv == NULL)
		return fail(p, DKV_ERR_NOMEM, "out of memory");
	p->argv_ = argv;
	p->cap_ = cap;
	return 0;
}

/* Called when a command starts: returns the memory of large commands once
 * a small one came (argc_ still holds the previous command's count), so a
 * stream of large commands keeps its arrays and an idle connection does
 * not. */
static void trim(struct resp_cmd_parser *p)
{
	if (p->cap_ > RESP_KEEP_ENTRIES && p->argc_ <= RESP_KEEP_ENTRIES)
		release_arrays(p);
	if (p->icap_ > RESP_KEEP_BYTES) {
		free(p->ibuf_);
		p->ibuf_ = NULL;
		p->icap_ = 0;
	}
}

/* Fills *out from the located arguments of the command at base. */
static void complete(struct resp_cmd_parser *p, const char *base,
		     struct resp_cmd *out, int is_inline)
{
	size_t i;

	for (i = 0; i < p->argc_; i++)
		p->argv_[i] = base + p->off_[i];
	out->argc = p->argc_;
	out->argv = p->argv_;
	out->argvlen = p->len_;
	out->is_inline = is_inline;
}

/*
 * Multibulk: parses on from pos_ in b[0..n). 1 = complete, 0 = more, <0.
 * The "*N\r\n" header is already parsed.
 */
static int parse_multibulk(struct resp_cmd_parser *p, const char *b,
			   size_t n)
{
	size_t pos = p->pos_;
	size_t argc = p->argc_;
	const size_t nargs = p->nargs_;
	int rc = 0;

	while (argc < nargs) {
		size_t blen;

		if (!p->have_bulk_) {
			int64_t ll;
			size_t used;
			int r;

			if (pos >= n)
				break;
			if (RESP_UNLIKELY(b[pos] != '$')) {
				char shown[8];

				resp_show_byte(shown, (unsigned char)b[pos]);
				rc = fail(p, DKV_ERR_PROTO,
					  "Protocol error: expected '$', "
					  "got '%s'",
					  shown);
				break;
			}
			r = resp_num_line(b + pos + 1, n - pos - 1, &ll, &used);
			if (r == 0)
				break;
			if (RESP_UNLIKELY(r < 0 || ll < 0)) {
				rc = fail(p, DKV_ERR_PROTO,
					  "Protocol error: invalid bulk length");
				break;
			}
			if (RESP_UNLIKELY((uint64_t)ll > p->lim.max_bulk)) {
				rc = fail(p, DKV_ERR_TOO_BIG,
					  "Protocol error: invalid bulk length "
					  "(over the limit of %zu bytes)",
					  p->lim.max_bulk);
				break;
			}
			pos += 1 + used;
			/* pos <= max_request + 23 and ll <= max_bulk: no
			 * overflow (resp_limits_fix). */
			if (RESP_UNLIKELY(pos + (size_t)ll + 2 >
					  p->lim.max_request)) {
				rc = fail(p, DKV_ERR_TOO_BIG,
					  "Protocol error: request over the "
					  "limit of %zu bytes",
					  p->lim.max_request);
				break;
			}
			p->bulklen_ = (size_t)ll;
			p->have_bulk_ = 1;
		}
		blen = p->bulklen_;
		if (n - pos < blen + 2)
			break;
		if (RESP_UNLIKELY(b[pos + blen] != '\r' ||
				  b[pos + blen + 1] != '\n')) {
			rc = fail(p, DKV_ERR_PROTO,
				  "Protocol error: bulk data not followed by "
				  "CRLF");
			break;
		}
		if (RESP_UNLIKELY(argc >= p->cap_)) {
			p->argc_ = argc;
			p->pos_ = pos;
			if ((rc = grow(p, argc + 1)) < 0)
				return rc;
		}
		p->off_[argc] = pos;
		p->len_[argc] = blen;
		argc++;
		pos += blen + 2;
		p->have_bulk_ = 0;
	}
	p->pos_ = pos;
	p->argc_ = argc;
	if (rc < 0)
		return rc;
	return argc == nargs ? 1 : 0;
}

static int is_space(unsigned c)
{
	/* isspace() in the C locale, as sdssplitargs uses. */
	return c == ' ' || (c >= '\t' && c <= '\r');
}

static int is_hex(unsigned c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static unsigned hex_val(unsigned c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/*
 * Splits an inline line the way Redis's sdssplitargs() does, into ibuf_
 * (decoded bytes) and off_/len_, argc_. sdssplitargs reads a NUL-terminated
 * string; AT(i) reads 0 past the end of the line to match. A NUL byte inside
 * the line is refused: Redis finds the end of an inline line with strchr(),
 * which stops at the NUL, so it would wait for more bytes until its inline
 * limit; an error is clearer than that, and safer than splitting a line
 * that its sender did not mean as text. Returns 1 if there are arguments,
 * 0 for a blank line, or a negative code.
 */
static int split_inline(struct resp_cmd_parser *p, const char *line,
			size_t len)
{
	size_t i = 0, o = 0, argc = 0;
	char *dst;

#define AT(k) ((k) < len ? (unsigned char)line[(k)] : 0u)
	if (memchr(line, '\0', len) != NULL)
		return fail(p, DKV_ERR_PROTO,
			    "Protocol error: NUL byte in inline request");
	if (p->icap_ < len || p->ibuf_ == NULL) {
		size_t cap = len < 64 ? 64 : len;
		char *nb = realloc(p->ibuf_, cap);

		if (nb == NULL)
			return fail(p, DKV_ERR_NOMEM, "out of memory");
		p->ibuf_ = nb;
		p->icap_ = cap;
	}
	dst = p->ibuf_;
	for (;;) {
		int inq = 0, insq = 0, done = 0;
		size_t start;

		while (i < len && is_space((unsigned char)line[i]))
			i++;
		if (i >= len)
			break;
		start = o;
		while (!done) {
			unsigned c = AT(i);

			if (inq) {
				if (c == '\\' && AT(i + 1) == 'x' &&
				    is_hex(AT(i + 2)) && is_hex(AT(i + 3))) {
					dst[o++] = (char)(hex_val(AT(i + 2)) * 16 +
							  hex_val(AT(i + 3)));
					i += 3;
				} else if (c == '\\' && AT(i + 1) != 0) {
					unsigned e;

					i++;
					switch (AT(i)) {
					case 'n': e = '\n'; break;
					case 'r': e = '\r'; break;
					case 't': e = '\t'; break;
					case 'b': e = '\b'; break;
					case 'a': e = '\a'; break;
					default: e = AT(i); break;
					}
					dst[o++] = (char)e;
				} else if (c == '"') {
					/* A closing quote must be followed by
					 * a space or the end. */
					if (AT(i + 1) != 0 && !is_space(AT(i + 1)))
						goto unbalanced;
					done = 1;
				} else if (c == 0) {
					goto unbalanced;
				} else {
					dst[o++] = (char)c;
				}
			} else if (insq) {
				if (c == '\\' && AT(i + 1) == '\'') {
					i++;
					dst[o++] = '\'';
				} else if (c == '\'') {
					if (AT(i + 1) != 0 && !is_space(AT(i + 1)))
						goto unbalanced;
					done = 1;
				} else if (c == 0) {
					goto unbalanced;
				} else {
					dst[o++] = (char)c;
				}
			} else {
				switch (c) {
				case ' ':
				case '\n':
				case '\r':
				case '\t':
				case 0:
					done = 1;
					break;
				case '"':
					inq = 1;
					break;
				case '\'':
					insq = 1;
					break;
				default:
					dst[o++] = (char)c;
					break;
				}
			}
			/* sdssplitargs: "if (*p) p++", *p being the
			 * byte the branch above ended on. */
			if (AT(i) != 0)
				i++;
		}
		if (argc >= p->lim.max_args)
			return fail(p, DKV_ERR_TOO_BIG,
				    "Protocol error: too many arguments in "
				    "inline request (limit %zu)",
				    p->lim.max_args);
		if (argc >= p->cap_) {
			int rc = grow(p, argc + 1);

			if (rc < 0)
				return rc;
		}
		p->off_[argc] = start;
		p->len_[argc] = o - start;
		argc++;
	}
#undef AT
	p->argc_ = argc;
	return argc > 0; /* argc <= len: it fits an int, but 1/0 is enough */

unbalanced:
	return fail(p, DKV_ERR_PROTO,
		    "Protocol error: unbalanced quotes in request");
}

/* Inline: b[0..n) starts a line. 1 = complete command, 2 = blank line
 * (*linelen set either way), 0 = more, <0 = error. */
static int parse_inline(struct resp_cmd_parser *p, const char *b, size_t n,
			size_t *linelen)
{
	size_t window = p->lim.max_inline + 1; /* '\n' may be at max_inline */
	size_t from = p->scanned_, upto = n < window ? n : window;
	const char *nl = NULL;
	size_t len;
	int rc;

	if (from < upto)
		nl = memchr(b + from, '\n', upto - from);
	if (nl == NULL) {
		if (n >= window)
			return fail(p, DKV_ERR_TOO_BIG,
				    "Protocol error: too big inline request");
		p->scanned_ = n;
		return 0;
	}
	len = (size_t)(nl - b);
	*linelen = len + 1;
	if (len > 0 && b[len - 1] == '\r')
		len--;
	rc = split_inline(p, b, len);
	if (rc < 0)
		return rc;
	return rc == 0 ? 2 : 1;
}

/* Empty commands were skipped: their bytes stay at the front of the
 * caller's buffer until the next command completes (a 0 return consumes
 * nothing), so the run of them is bounded like a command. */
static int skip(struct resp_cmd_parser *p, size_t *skipped, size_t n)
{
	*skipped += n;
	if (RESP_UNLIKELY(*skipped > p->lim.max_request))
		return fail(p, DKV_ERR_TOO_BIG,
			    "Protocol error: empty requests over the limit of "
			    "%zu bytes",
			    p->lim.max_request);
	return 0;
}

int resp_cmd_parse(struct resp_cmd_parser *p, const char *buf, size_t len,
		   struct resp_cmd *out, size_t *consumed)
{
	size_t skipped = p->skip_;
	int rc;

	*consumed = 0;
	if (RESP_UNLIKELY(p->err_ != 0))
		return p->err_;
	if (RESP_UNLIKELY(skipped > len))
		return fail(p, DKV_ERR_INVAL,
			    "buffer shorter than the bytes already parsed");
	for (;;) {
		/* (buf may be NULL when len is 0: no offset on NULL.) */
		const char *b = skipped ? buf + skipped : buf;
		size_t n = len - skipped;

		if (p->mode_ == MODE_IDLE) {
			int64_t ll;
			size_t used;
			int r;

			if (n == 0)
				break;
			trim(p);
			if (b[0] != '*') {
				p->mode_ = MODE_INLINE;
				p->scanned_ = 0;
				continue;
			}
			r = resp_num_line(b + 1, n - 1, &ll, &used);
			if (r == 0)
				break;
			if (RESP_UNLIKELY(r < 0))
				return fail(p, DKV_ERR_PROTO,
					    "Protocol error: invalid "
					    "multibulk length");
			if (ll <= 0) {
				/* "*0", "*-1": nothing to run (Redis). */
				if (skip(p, &skipped, 1 + used) < 0)
					return p->err_;
				continue;
			}
			if (RESP_UNLIKELY((uint64_t)ll > p->lim.max_args))
				return fail(p, DKV_ERR_TOO_BIG,
					    "Protocol error: invalid multibulk "
					    "length (over the limit of %zu "
					    "arguments)",
					    p->lim.max_args);
			if (p->cap_ == 0 &&
			    grow(p, (size_t)ll < 16 ? (size_t)ll : 16) < 0)
				return p->err_;
			p->mode_ = MODE_MULTIBULK;
			p->nargs_ = (size_t)ll;
			p->argc_ = 0;
			p->have_bulk_ = 0;
			p->pos_ = 1 + used;
		}
		if (p->mode_ == MODE_MULTIBULK) {
			if (RESP_UNLIKELY(p->pos_ > n))
				return fail(p, DKV_ERR_INVAL,
					    "buffer shorter than the bytes "
					    "already parsed");
			rc = parse_multibulk(p, b, n);
			if (rc <= 0)
				break;
			complete(p, b, out, 0);
			*consumed = skipped + p->pos_;
			p->mode_ = MODE_IDLE;
			p->pos_ = 0;
			p->skip_ = 0;
			return 1;
		} else {
			size_t linelen = 0;

			rc = parse_inline(p, b, n, &linelen);
			if (rc <= 0)
				break;
			p->mode_ = MODE_IDLE;
			p->scanned_ = 0;
			if (rc == 2) {
				if (skip(p, &skipped, linelen) < 0)
					return p->err_;
				continue;
			}
			complete(p, p->ibuf_, out, 1);
			*consumed = skipped + linelen;
			p->skip_ = 0;
			return 1;
		}
	}
	/* Need more (rc == 0 or broke out idle) or an error. */
	if (p->err_ != 0)
		return p->err_;
	p->skip_ = skipped;
	return 0;
}
