/*
 * resp_num.c - limits and decimal integers for the RESP codec: formatting
 * without snprintf (two digits per step from a table) and strict parsing.
 */
#include <string.h>

#include "proto/resp.h"
#include "proto/resp_int.h"

void resp_limits_default(struct resp_limits *lim)
{
	lim->max_args = DKV_RESP_DEFAULT_MAX_ARGS;
	lim->max_bulk = DKV_RESP_DEFAULT_MAX_BULK;
	lim->max_inline = DKV_RESP_DEFAULT_MAX_INLINE;
	lim->max_request = DKV_RESP_DEFAULT_MAX_REQUEST;
	lim->max_depth = DKV_RESP_DEFAULT_MAX_DEPTH;
}

void resp_limits_fix(struct resp_limits *lim)
{
	struct resp_limits d;

	resp_limits_default(&d);
	if (lim->max_args == 0)
		lim->max_args = d.max_args;
	if (lim->max_bulk == 0)
		lim->max_bulk = d.max_bulk;
	if (lim->max_inline == 0)
		lim->max_inline = d.max_inline;
	if (lim->max_request == 0)
		lim->max_request = d.max_request;
	if (lim->max_depth == 0)
		lim->max_depth = d.max_depth;
	if (lim->max_depth > DKV_RESP_MAX_DEPTH_LIMIT)
		lim->max_depth = DKV_RESP_MAX_DEPTH_LIMIT;
	/* Offsets and sums of lengths must not overflow size_t. */
	if (lim->max_bulk > SIZE_MAX / 4)
		lim->max_bulk = SIZE_MAX / 4;
	if (lim->max_request > SIZE_MAX / 4)
		lim->max_request = SIZE_MAX / 4;
	if (lim->max_inline > SIZE_MAX / 4)
		lim->max_inline = SIZE_MAX / 4;
	if (lim->max_args > SIZE_MAX / 64)
		lim->max_args = SIZE_MAX / 64;
}

static const char digits2[201] =
	"0001020304050607080910111213141516171819"
	"2021222324252627282930313233343536373839"
	"4041424344454647484950515253545556575859"
	"6061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

size_t resp_fmt_u64(char *dst, uint64_t v)
{
	size_t n = resp_ndigits(v), i = n;

	while (v >= 100) {
		unsigned k = (unsigned)(v % 100) * 2;

		v /= 100;
		dst[--i] = digits2[k + 1];
		dst[--i] = digits2[k];
	}
	if (v >= 10) {
		unsigned k = (unsigned)v * 2;

		dst[--i] = digits2[k + 1];
		dst[--i] = digits2[k];
	} else {
		dst[--i] = (char)('0' + v);
	}
	return n;
}

size_t resp_fmt_i64(char *dst, int64_t v)
{
	if (v < 0) {
		dst[0] = '-';
		/* -(v + 1) + 1 avoids negating INT64_MIN. */
		return 1 + resp_fmt_u64(dst + 1, (uint64_t)(-(v + 1)) + 1);
	}
	return resp_fmt_u64(dst, (uint64_t)v);
}

int resp_parse_i64(const char *s, size_t len, int64_t *out)
{
	char tmp[24];
	size_t used;
	int64_t v;

	/* resp_num_line wants the CRLF; a valid number has <= 20 bytes. */
	if (len == 0 || len > 20)
		return DKV_ERR_INVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\r';
	tmp[len + 1] = '\n';
	if (resp_num_line(tmp, len + 2, &v, &used) != 1 || used != len + 2)
		return DKV_ERR_INVAL;
	*out = v;
	return 0;
}
