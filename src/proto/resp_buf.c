/*
 * resp_buf.c - the growable output buffer and the RESP writers. Each writer
 * computes its item's exact size, makes room once (one compare in the
 * common case), then writes; numbers go through resp_fmt_u64, never
 * snprintf (doubles excepted: RESP3 only).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"
#include "proto/resp_int.h"

void resp_buf_init(struct resp_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : DKV_RESP_DEFAULT_MAX_BUF;
}

void resp_buf_free(struct resp_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void resp_buf_reset(struct resp_buf *b)
{
	b->len = 0;
}

void resp_buf_consume(struct resp_buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

static __attribute__((noinline)) int grow(struct resp_buf *b, size_t extra)
{
	size_t need, cap;
	char *nd;

	if (extra > b->max || b->len > b->max - extra)
		return DKV_ERR_TOO_BIG;
	need = b->len + extra;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > b->max / 2 ? b->max : cap * 2;
	if (cap > b->max)
		cap = b->max;
	nd = realloc(b->data, cap);
	if (nd == NULL)
		return DKV_ERR_NOMEM;
	b->data = nd;
	b->cap = cap;
	return 0;
}

/* Room for extra more bytes; the fast path is one compare. */
static inline int room(struct resp_buf *b, size_t extra)
{
	if (RESP_LIKELY(extra <= b->cap - b->len))
		return 0;
	return grow(b, extra);
}

int resp_buf_reserve(struct resp_buf *b, size_t extra)
{
	return room(b, extra);
}

/* Writes t, the decimal v, CRLF at dst; returns the bytes written (<= 24). */
static inline size_t hdr(char *dst, char t, uint64_t v)
{
	size_t n;

	dst[0] = t;
	n = 1 + resp_fmt_u64(dst + 1, v);
	dst[n] = '\r';
	dst[n + 1] = '\n';
	return n + 2;
}

/* Bytes of hdr(t, v). */
static inline size_t hdr_len(uint64_t v)
{
	return resp_ndigits(v) + 3;
}

static int put_hdr(struct resp_buf *b, char t, uint64_t v)
{
	int rc = room(b, hdr_len(v));

	if (RESP_UNLIKELY(rc < 0))
		return rc;
	b->len += hdr(b->data + b->len, t, v);
	return 0;
}

static int put_lit(struct resp_buf *b, const char *s, size_t n)
{
	int rc = room(b, n);

	if (RESP_UNLIKELY(rc < 0))
		return rc;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	return 0;
}

/* t, s with CR and LF made spaces, CRLF. */
static int put_line(struct resp_buf *b, char t, const char *s, size_t len)
{
	char *d, *q, *end;
	int rc;

	if (len > SIZE_MAX - 3)
		return DKV_ERR_TOO_BIG;
	rc = room(b, len + 3);
	if (RESP_UNLIKELY(rc < 0))
		return rc;
	d = b->data + b->len;
	d[0] = t;
	if (len > 0) {
		memcpy(d + 1, s, len);
		end = d + 1 + len;
		for (q = d + 1; (q = memchr(q, '\r', (size_t)(end - q)));)
			*q++ = ' ';
		for (q = d + 1; (q = memchr(q, '\n', (size_t)(end - q)));)
			*q++ = ' ';
	}
	d[len + 1] = '\r';
	d[len + 2] = '\n';
	b->len += len + 3;
	return 0;
}

int resp_put_raw(struct resp_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return 0;
	return put_lit(b, data, len);
}

int resp_put_simple(struct resp_buf *b, const char *s, size_t len)
{
	return put_line(b, '+', s, len);
}

int resp_put_ok(struct resp_buf *b)
{
	return put_lit(b, "+OK\r\n", 5);
}

int resp_put_error(struct resp_buf *b, const char *msg, size_t len)
{
	return put_line(b, '-', msg, len);
}

int resp_put_errorf(struct resp_buf *b, const char *fmt, ...)
{
	char small[256], *big = NULL;
	const char *s = small;
	va_list ap, ap2;
	int n, rc;

	va_start(ap, fmt);
	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return DKV_ERR_INVAL;
	}
	if ((size_t)n >= sizeof(small)) {
		big = malloc((size_t)n + 1);
		if (big == NULL) {
			va_end(ap2);
			return DKV_ERR_NOMEM;
		}
		vsnprintf(big, (size_t)n + 1, fmt, ap2);
		s = big;
	}
	va_end(ap2);
	rc = put_line(b, '-', s, (size_t)n);
	free(big);
	return rc;
}

int resp_put_int(struct resp_buf *b, int64_t v)
{
	uint64_t mag = v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
	char *d;
	size_t n;
	int rc = room(b, hdr_len(mag) + (v < 0));

	if (RESP_UNLIKELY(rc < 0))
		return rc;
	d = b->data + b->len;
	d[0] = ':';
	n = 1 + resp_fmt_i64(d + 1, v);
	d[n] = '\r';
	d[n + 1] = '\n';
	b->len += n + 2;
	return 0;
}

int resp_put_bulk(struct resp_buf *b, const void *data, size_t len)
{
	char *d;
	size_t n;
	int rc;

	if (len > SIZE_MAX - 32)
		return DKV_ERR_TOO_BIG;
	rc = room(b, hdr_len(len) + len + 2);
	if (RESP_UNLIKELY(rc < 0))
		return rc;
	d = b->data + b->len;
	n = hdr(d, '$', len);
	if (len > 0)
		memcpy(d + n, data, len);
	d[n + len] = '\r';
	d[n + len + 1] = '\n';
	b->len += n + len + 2;
	return 0;
}

int resp_put_bulk_header(struct resp_buf *b, size_t len)
{
	return put_hdr(b, '$', len);
}

int resp_put_null(struct resp_buf *b)
{
	return put_lit(b, "$-1\r\n", 5);
}

int resp_put_null_array(struct resp_buf *b)
{
	return put_lit(b, "*-1\r\n", 5);
}

int resp_put_array(struct resp_buf *b, size_t n)
{
	return put_hdr(b, '*', n);
}

int resp_put_command(struct resp_buf *b, size_t argc,
		     const char *const *argv, const size_t *argvlen)
{
	size_t total = hdr_len(argc), i;
	char *d;
	int rc;

	for (i = 0; i < argc; i++) {
		size_t l = argvlen ? argvlen[i] : strlen(argv[i]);
		size_t item;

		if (l > SIZE_MAX / 2)
			return DKV_ERR_TOO_BIG;
		item = hdr_len(l) + l + 2;
		if (item > SIZE_MAX - total)
			return DKV_ERR_TOO_BIG;
		total += item;
	}
	rc = room(b, total);
	if (RESP_UNLIKELY(rc < 0))
		return rc;
	d = b->data + b->len;
	d += hdr(d, '*', argc);
	for (i = 0; i < argc; i++) {
		size_t l = argvlen ? argvlen[i] : strlen(argv[i]);

		d += hdr(d, '$', l);
		if (l > 0)
			memcpy(d, argv[i], l);
		d[l] = '\r';
		d[l + 1] = '\n';
		d += l + 2;
	}
	b->len += total;
	return 0;
}

/* --- RESP3 ------------------------------------------------------------- */

int resp_put_null3(struct resp_buf *b)
{
	return put_lit(b, "_\r\n", 3);
}

int resp_put_bool(struct resp_buf *b, int v)
{
	return put_lit(b, v ? "#t\r\n" : "#f\r\n", 4);
}

int resp_put_double(struct resp_buf *b, double v)
{
	char tmp[40];
	size_t n = resp_fmt_double(tmp, sizeof(tmp), v);

	return put_line(b, ',', tmp, n);
}

int resp_put_bignum(struct resp_buf *b, const char *digits, size_t len)
{
	return put_line(b, '(', digits, len);
}

int resp_put_verbatim(struct resp_buf *b, const char *fmt, const void *data,
		      size_t len)
{
	char *d;
	size_t n;
	int rc;

	if (len > SIZE_MAX - 40)
		return DKV_ERR_TOO_BIG;
	rc = room(b, hdr_len(len + 4) + len + 6);
	if (RESP_UNLIKELY(rc < 0))
		return rc;
	d = b->data + b->len;
	n = hdr(d, '=', len + 4);
	memcpy(d + n, fmt, 3);
	d[n + 3] = ':';
	if (len > 0)
		memcpy(d + n + 4, data, len);
	d[n + 4 + len] = '\r';
	d[n + 5 + len] = '\n';
	b->len += n + len + 6;
	return 0;
}

int resp_put_map(struct resp_buf *b, size_t npairs)
{
	return put_hdr(b, '%', npairs);
}

int resp_put_set(struct resp_buf *b, size_t n)
{
	return put_hdr(b, '~', n);
}

int resp_put_push(struct resp_buf *b, size_t n)
{
	return put_hdr(b, '>', n);
}

static int put_reply(struct resp_buf *b, const struct resp_reply *r)
{
	size_t i;
	int rc;

	switch (r->type) {
	case RESP_STRING:
		return resp_put_simple(b, r->str, r->len);
	case RESP_ERROR:
		return resp_put_error(b, r->str, r->len);
	case RESP_INTEGER:
		return resp_put_int(b, r->integer);
	case RESP_BULK:
		return resp_put_bulk(b, r->str, r->len);
	case RESP_NIL:
		return resp_put_null(b);
	case RESP_NIL_ARRAY:
		return resp_put_null_array(b);
	case RESP_NULL:
		return resp_put_null3(b);
	case RESP_BOOL:
		return resp_put_bool(b, r->integer != 0);
	case RESP_DOUBLE:
		return resp_put_double(b, r->dval);
	case RESP_BIGNUM:
		return resp_put_bignum(b, r->str, r->len);
	case RESP_VERBATIM:
		if (r->len < 4)
			return DKV_ERR_INVAL;
		return resp_put_verbatim(b, r->str, r->str + 4, r->len - 4);
	case RESP_ARRAY:
		rc = resp_put_array(b, r->n);
		break;
	case RESP_MAP:
		if (r->n % 2 != 0)
			return DKV_ERR_INVAL;
		rc = resp_put_map(b, r->n / 2);
		break;
	case RESP_SET:
		rc = resp_put_set(b, r->n);
		break;
	case RESP_PUSH:
		rc = resp_put_push(b, r->n);
		break;
	default:
		return DKV_ERR_INVAL;
	}
	for (i = 0; rc == 0 && i < r->n; i++)
		rc = put_reply(b, &r->elems[i]);
	return rc;
}

int resp_put_reply(struct resp_buf *b, const struct resp_reply *r)
{
	size_t len = b->len;
	int rc = put_reply(b, r);

	if (rc < 0)
		b->len = len; /* all or nothing, like every writer */
	return rc;
}
