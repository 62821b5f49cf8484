/*
 * resp_reply.c - the reply parser (client side, node to node): RESP2 and the
 * RESP3 types, incremental, bounded in size, elements and nesting.
 * Contract in resp.h, design in docs/proto.md.
 *
 * Parsing appends one node per item to pre_ in pre-order (offsets, not
 * pointers, so the caller may move its buffer between calls) and keeps a
 * stack of the open aggregates with the children each still expects. Memory
 * grows with the items actually received, never with a declared count, so
 * "*1000000\r\n" alone costs nothing. When the last item arrives, one pass
 * lays the nodes out as the public tree (every aggregate's children
 * contiguous in tree_) with string pointers into the caller's buf.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"
#include "proto/resp_int.h"

void resp_reply_parser_init(struct resp_reply_parser *p,
			    const struct resp_limits *lim)
{
	memset(p, 0, sizeof(*p));
	if (lim != NULL)
		p->lim = *lim;
	resp_limits_fix(&p->lim);
}

void resp_reply_parser_free(struct resp_reply_parser *p)
{
	free(p->pre_);
	free(p->tree_);
	p->pre_ = NULL;
	p->tree_ = NULL;
	p->precap_ = 0;
	p->treecap_ = 0;
	resp_reply_parser_reset(p);
}

static void restart(struct resp_reply_parser *p)
{
	p->have_bulk_ = 0;
	p->bulklen_ = 0;
	p->pos_ = 0;
	p->scanned_ = 0;
	p->depth_ = 0;
	p->declared_ = 0;
	p->npre_ = 0;
}

void resp_reply_parser_reset(struct resp_reply_parser *p)
{
	restart(p);
	p->err_ = 0;
	p->errtext_[0] = '\0';
}

const char *resp_reply_parser_error(const struct resp_reply_parser *p)
{
	return p->errtext_;
}

__attribute__((format(printf, 3, 4))) static int
fail(struct resp_reply_parser *p, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->errtext_, sizeof(p->errtext_), fmt, ap);
	va_end(ap);
	p->err_ = code;
	return code;
}

static int has_str(enum resp_type t)
{
	return t == RESP_STRING || t == RESP_ERROR || t == RESP_BULK ||
	       t == RESP_DOUBLE || t == RESP_BIGNUM || t == RESP_VERBATIM;
}

static int is_aggregate(enum resp_type t)
{
	return t == RESP_ARRAY || t == RESP_MAP || t == RESP_SET ||
	       t == RESP_PUSH;
}

static struct resp_rnode_ *new_node(struct resp_reply_parser *p)
{
	if (RESP_UNLIKELY(p->npre_ == p->precap_)) {
		size_t cap = p->precap_ ? p->precap_ * 2 : 16;
		struct resp_rnode_ *np = realloc(p->pre_, cap * sizeof(*np));

		if (np == NULL) {
			fail(p, DKV_ERR_NOMEM, "out of memory");
			return NULL;
		}
		p->pre_ = np;
		p->precap_ = cap;
	}
	return &p->pre_[p->npre_++];
}

/* Lays the pre-order nodes out as the public tree; strings from base. */
static int build(struct resp_reply_parser *p, const char *base)
{
	struct {
		size_t next, left;
	} st[DKV_RESP_MAX_DEPTH_LIMIT];
	size_t depth = 0, next_free = 1, i;

	if (p->treecap_ < p->npre_) {
		size_t cap = p->npre_ < 16 ? 16 : p->npre_;
		struct resp_reply *t = realloc(p->tree_, cap * sizeof(*t));

		if (t == NULL)
			return fail(p, DKV_ERR_NOMEM, "out of memory");
		p->tree_ = t;
		p->treecap_ = cap;
	}
	for (i = 0; i < p->npre_; i++) {
		const struct resp_rnode_ *s = &p->pre_[i];
		struct resp_reply *d;
		size_t slot = 0;

		if (i > 0) {
			slot = st[depth - 1].next++;
			if (--st[depth - 1].left == 0)
				depth--;
		}
		d = &p->tree_[slot];
		d->type = s->type;
		d->integer = s->integer;
		d->dval = s->dval;
		d->str = has_str(s->type) ? base + s->off : NULL;
		d->len = s->len;
		d->n = s->n;
		d->elems = NULL;
		if (is_aggregate(s->type) && s->n > 0) {
			d->elems = &p->tree_[next_free];
			st[depth].next = next_free;
			st[depth].left = s->n;
			depth++;
			next_free += s->n;
		}
	}
	return 0;
}

static int unexpected(struct resp_reply_parser *p, unsigned char c)
{
	char shown[8];

	resp_show_byte(shown, c);
	return fail(p, DKV_ERR_PROTO,
		    "Protocol error: unexpected reply type byte '%s'", shown);
}

/* A line item: type byte at b[pos], content up to "\r\n". 1 = node filled
 * and *end set, 0 = more, <0 = error. */
static int parse_line(struct resp_reply_parser *p, const char *b, size_t n,
		      size_t pos, struct resp_rnode_ *nd, size_t *end)
{
	size_t from = p->scanned_ > pos + 1 ? p->scanned_ : pos + 1;
	size_t window = pos + 2 + p->lim.max_inline; /* '\r' may be at */
	size_t upto = n < window ? n : window;       /* pos+1+max_inline */
	const char *cr = NULL, *s;
	size_t k, clen;
	unsigned char t = (unsigned char)b[pos];

	if (from < upto)
		cr = memchr(b + from, '\r', upto - from);
	if (cr == NULL) {
		if (n >= window)
			return fail(p, DKV_ERR_TOO_BIG,
				    "Protocol error: reply line over the "
				    "limit of %zu bytes",
				    p->lim.max_inline);
		p->scanned_ = n;
		return 0;
	}
	k = (size_t)(cr - b);
	if (k + 1 >= n) {
		p->scanned_ = k;
		return 0;
	}
	if (b[k + 1] != '\n')
		return fail(p, DKV_ERR_PROTO,
			    "Protocol error: CR not followed by LF");
	p->scanned_ = 0;
	if (k + 2 > p->lim.max_request)
		return fail(p, DKV_ERR_TOO_BIG,
			    "Protocol error: reply over the limit of %zu bytes",
			    p->lim.max_request);
	s = b + pos + 1;
	clen = k - pos - 1;
	nd->off = pos + 1;
	nd->len = clen;
	nd->n = 0;
	nd->integer = 0;
	nd->dval = 0;
	switch (t) {
	case '+':
		nd->type = RESP_STRING;
		break;
	case '-':
		nd->type = RESP_ERROR;
		break;
	case ':':
		nd->type = RESP_INTEGER;
		if (resp_parse_i64(s, clen, &nd->integer) < 0)
			return fail(p, DKV_ERR_PROTO,
				    "Protocol error: invalid integer reply");
		break;
	case ',':
		nd->type = RESP_DOUBLE;
		if (resp_parse_double(s, clen, &nd->dval) < 0)
			return fail(p, DKV_ERR_PROTO,
				    "Protocol error: invalid double reply");
		break;
	case '(': {
		size_t i = (clen > 0 && s[0] == '-') ? 1 : 0;

		nd->type = RESP_BIGNUM;
		if (i == clen)
			return fail(p, DKV_ERR_PROTO,
				    "Protocol error: invalid big number reply");
		for (; i < clen; i++)
			if (s[i] < '0' || s[i] > '9')
				return fail(p, DKV_ERR_PROTO,
					    "Protocol error: invalid big "
					    "number reply");
		break;
	}
	case '_':
		nd->type = RESP_NULL;
		nd->len = 0;
		if (clen != 0)
			return fail(p, DKV_ERR_PROTO,
				    "Protocol error: invalid null reply");
		break;
	default: /* '#' */
		nd->type = RESP_BOOL;
		nd->len = 0;
		if (clen != 1 || (s[0] != 't' && s[0] != 'f'))
			return fail(p, DKV_ERR_PROTO,
				    "Protocol error: invalid boolean reply");
		nd->integer = s[0] == 't';
		break;
	}
	*end = k + 2;
	return 1;
}

static int header_error(struct resp_reply_parser *p, const char *b, size_t n,
			size_t pos, const char *what)
{
	if (pos + 1 < n && b[pos + 1] == '?')
		return fail(p, DKV_ERR_UNSUPPORTED,
			    "Protocol error: RESP3 streamed %s are not "
			    "supported",
			    b[pos] == '$' ? "strings" : "aggregates");
	return fail(p, DKV_ERR_PROTO, "Protocol error: invalid %s length",
		    what);
}

int resp_reply_parse(struct resp_reply_parser *p, const char *buf,
		     size_t len, const struct resp_reply **out,
		     size_t *consumed)
{
	size_t pos = p->pos_;

	*consumed = 0;
	if (RESP_UNLIKELY(p->err_ != 0))
		return p->err_;
	if (RESP_UNLIKELY(pos > len))
		return fail(p, DKV_ERR_INVAL,
			    "buffer shorter than the bytes already parsed");
	if (p->npre_ == 0 && !p->have_bulk_ && pos == 0) {
		/* A new reply: drop the memory of large replies once a small
		 * one came. */
		if (p->precap_ > RESP_KEEP_ENTRIES &&
		    p->last_nodes_ <= RESP_KEEP_ENTRIES) {
			free(p->pre_);
			p->pre_ = NULL;
			p->precap_ = 0;
		}
		if (p->treecap_ > RESP_KEEP_ENTRIES &&
		    p->last_nodes_ <= RESP_KEEP_ENTRIES) {
			free(p->tree_);
			p->tree_ = NULL;
			p->treecap_ = 0;
		}
	}
	for (;;) {
		struct resp_rnode_ nd, *slot;
		int64_t ll;
		size_t used, end = 0;
		unsigned char t;
		int r;

		if (p->have_bulk_)
			goto bulk_data;
		if (pos >= len)
			break;
		t = (unsigned char)buf[pos];
		switch (t) {
		case '$':
		case '!':
		case '=':
			r = resp_num_line(buf + pos + 1, len - pos - 1, &ll,
					  &used);
			if (r == 0)
				goto more;
			if (r < 0 || (ll < 0 && (t != '$' || ll != -1)))
				return header_error(p, buf, len, pos, "bulk");
			if (ll == -1) {
				memset(&nd, 0, sizeof(nd));
				nd.type = RESP_NIL;
				end = pos + 1 + used;
				if (end > p->lim.max_request)
					goto too_big;
				pos = end;
				goto add_scalar;
			}
			if ((uint64_t)ll > p->lim.max_bulk)
				return fail(p, DKV_ERR_TOO_BIG,
					    "Protocol error: invalid bulk "
					    "length (over the limit of %zu "
					    "bytes)",
					    p->lim.max_bulk);
			pos += 1 + used;
			if (pos + (size_t)ll + 2 > p->lim.max_request)
				goto too_big;
			p->btype_ = t == '$'   ? RESP_BULK
				    : t == '!' ? RESP_ERROR
					       : RESP_VERBATIM;
			p->bulklen_ = (size_t)ll;
			p->have_bulk_ = 1;
		bulk_data:
			if (len - pos < p->bulklen_ + 2)
				goto more;
			if (buf[pos + p->bulklen_] != '\r' ||
			    buf[pos + p->bulklen_ + 1] != '\n')
				return fail(p, DKV_ERR_PROTO,
					    "Protocol error: bulk data not "
					    "followed by CRLF");
			if (p->btype_ == RESP_VERBATIM &&
			    (p->bulklen_ < 4 || buf[pos + 3] != ':'))
				return fail(p, DKV_ERR_PROTO,
					    "Protocol error: invalid verbatim "
					    "string");
			memset(&nd, 0, sizeof(nd));
			nd.type = p->btype_;
			nd.off = pos;
			nd.len = p->bulklen_;
			pos += p->bulklen_ + 2;
			p->have_bulk_ = 0;
			goto add_scalar;
		case '+':
		case '-':
		case ':':
		case ',':
		case '(':
		case '_':
		case '#':
			r = parse_line(p, buf, len, pos, &nd, &end);
			if (r < 0)
				return r;
			if (r == 0)
				goto more;
			pos = end;
			goto add_scalar;
		case '*':
		case '%':
		case '~':
		case '>': {
			size_t count;

			r = resp_num_line(buf + pos + 1, len - pos - 1, &ll,
					  &used);
			if (r == 0)
				goto more;
			if (r < 0 || (ll < 0 && (t != '*' || ll != -1)))
				return header_error(p, buf, len, pos,
						    "multibulk");
			if (pos + 1 + used > p->lim.max_request)
				goto too_big;
			memset(&nd, 0, sizeof(nd));
			if (ll == -1) {
				nd.type = RESP_NIL_ARRAY;
				pos += 1 + used;
				goto add_scalar;
			}
			if (p->depth_ >= p->lim.max_depth)
				return fail(p, DKV_ERR_TOO_BIG,
					    "Protocol error: reply nested "
					    "deeper than %zu levels",
					    p->lim.max_depth);
			count = (size_t)ll;
			if ((uint64_t)ll > p->lim.max_args ||
			    (t == '%' && (count *= 2) > p->lim.max_args) ||
			    count > p->lim.max_args - p->declared_)
				return fail(p, DKV_ERR_TOO_BIG,
					    "Protocol error: reply with more "
					    "than %zu elements",
					    p->lim.max_args);
			p->declared_ += count;
			nd.type = t == '*'   ? RESP_ARRAY
				  : t == '%' ? RESP_MAP
				  : t == '~' ? RESP_SET
					     : RESP_PUSH;
			nd.n = count;
			pos += 1 + used;
			if (count == 0)
				goto add_scalar;
			slot = new_node(p);
			if (slot == NULL)
				return p->err_;
			*slot = nd;
			p->left_[p->depth_++] = count;
			continue;
		}
		case '|':
			return fail(p, DKV_ERR_UNSUPPORTED,
				    "Protocol error: RESP3 attributes are not "
				    "supported");
		default:
			return unexpected(p, t);
		}
	add_scalar:
		slot = new_node(p);
		if (slot == NULL)
			return p->err_;
		*slot = nd;
		/* The item completes its parent if it was the last child,
		 * which may complete the grandparent, and so on. */
		for (;;) {
			if (p->depth_ == 0)
				goto done;
			if (--p->left_[p->depth_ - 1] > 0)
				break;
			p->depth_--;
		}
	}
more:
	p->pos_ = pos;
	return 0;

too_big:
	return fail(p, DKV_ERR_TOO_BIG,
		    "Protocol error: reply over the limit of %zu bytes",
		    p->lim.max_request);

done:
	if (build(p, buf) < 0)
		return p->err_;
	*out = &p->tree_[0];
	*consumed = pos;
	p->last_nodes_ = p->npre_;
	restart(p);
	return 1;
}
