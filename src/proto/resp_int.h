/*
 * resp_int.h - private helpers shared by the RESP parsers (not installed,
 * not for other layers).
 */
#ifndef DKV_PROTO_RESP_INT_H
#define DKV_PROTO_RESP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "proto/resp.h"

/* Memory a parser keeps between messages: arrays grown past this many
 * entries (or bytes, for the inline buffer) by one large message are
 * released when the next message starts. */
#define RESP_KEEP_ENTRIES 1024
#define RESP_KEEP_BYTES 4096

#define RESP_LIKELY(x) __builtin_expect(!!(x), 1)
#define RESP_UNLIKELY(x) __builtin_expect(!!(x), 0)

/*
 * Parses the number of a RESP header line, s[0..n) being the bytes after
 * the type byte: an optional '-', digits with string2ll's rules (no leading
 * zero, no "-0", fits an int64), then "\r\n".
 * Returns 1 (*v set, *used = bytes including the CRLF), 0 when the bytes
 * end before the line does and nothing seen so far is wrong, or -1 as soon
 * as a byte makes the line invalid. At most 22 bytes are examined, so
 * rescanning a header on every call of a byte-by-byte feed stays O(1).
 * The outcome depends only on the line's bytes, never on where the input
 * was split.
 */
static inline int resp_num_line(const char *s, size_t n, int64_t *v,
				size_t *used)
{
	size_t i = 0;
	uint64_t acc = 0, lim = INT64_MAX;
	int neg = 0;

	if (n == 0)
		return 0;
	if (s[0] == '-') {
		neg = 1;
		lim = (uint64_t)INT64_MAX + 1;
		i = 1;
		if (i >= n)
			return 0;
	}
	if (s[i] == '0') {
		if (neg)
			return -1;
		i++;
	} else {
		if ((unsigned char)(s[i] - '1') > 8)
			return -1;
		for (; i < n; i++) {
			unsigned d = (unsigned char)s[i] - (unsigned)'0';

			if (d > 9)
				break;
			if (acc > (lim - d) / 10)
				return -1;
			acc = acc * 10 + d;
		}
	}
	if (i >= n)
		return 0;
	if (s[i] != '\r')
		return -1;
	if (i + 1 >= n)
		return 0;
	if (s[i + 1] != '\n')
		return -1;
	*used = i + 2;
	if (neg)
		*v = acc == 0 ? 0 : -(int64_t)(acc - 1) - 1;
	else
		*v = (int64_t)acc;
	return 1;
}

/* Decimal digits of v (1 for 0). */
static inline size_t resp_ndigits(uint64_t v)
{
	size_t n = 1;

	for (;;) {
		if (v < 10)
			return n;
		if (v < 100)
			return n + 1;
		if (v < 1000)
			return n + 2;
		if (v < 10000)
			return n + 3;
		v /= 10000;
		n += 4;
	}
}

/* c as it may appear in an error text: itself if printable ASCII other than
 * a quote or backslash, else "\xHH". dst gets at least 5 bytes. */
static inline void resp_show_byte(char *dst, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
		dst[0] = (char)c;
		dst[1] = '\0';
	} else {
		dst[0] = '\\';
		dst[1] = 'x';
		dst[2] = hex[c >> 4];
		dst[3] = hex[c & 15];
		dst[4] = '\0';
	}
}

/* Fills zero fields of *lim with defaults and clamps max_depth. */
void resp_limits_fix(struct resp_limits *lim);

/* Doubles in the "C" locale whatever the process's locale (resp_double.c).
 * resp_fmt_double writes "%.17g" (or inf, -inf, nan) into dst[0..cap) and
 * returns its length (< cap, cap >= 32). resp_parse_double accepts RESP3's
 * forms: [+-]digits[.digits][e[+-]digits], inf, -inf, nan; 0 or
 * DKV_ERR_INVAL. */
size_t resp_fmt_double(char *dst, size_t cap, double v);
int resp_parse_double(const char *s, size_t len, double *out);

#endif /* DKV_PROTO_RESP_INT_H */
