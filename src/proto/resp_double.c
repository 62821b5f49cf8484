/*
 * resp_double.c - RESP3 doubles in the "C" locale: the CLI may set a locale
 * whose decimal point is ',' for its tables, and the wire format must not
 * change with it. strtod_l() with a cached C locale for parsing, and the
 * thread-local uselocale() around snprintf() for formatting (glibc has no
 * snprintf_l). Doubles are RESP3 only, never in the hot path.
 */
#define _GNU_SOURCE
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"
#include "proto/resp_int.h"

static pthread_once_t c_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t get_c_locale(void)
{
	pthread_once(&c_once, c_locale_init);
	return c_locale;
}

size_t resp_fmt_double(char *dst, size_t cap, double v)
{
	locale_t c, old = (locale_t)0;
	int n;

	if (isnan(v)) {
		memcpy(dst, "nan", 4);
		return 3;
	}
	if (isinf(v)) {
		memcpy(dst, v < 0 ? "-inf" : "inf", v < 0 ? 5 : 4);
		return v < 0 ? 4 : 3;
	}
	c = get_c_locale();
	if (c != (locale_t)0)
		old = uselocale(c);
	n = snprintf(dst, cap, "%.17g", v);
	if (c != (locale_t)0)
		uselocale(old);
	if (n < 0 || (size_t)n >= cap) { /* cannot happen with cap >= 32 */
		memcpy(dst, "nan", 4);
		return 3;
	}
	return (size_t)n;
}

int resp_parse_double(const char *s, size_t len, double *out)
{
	char tmp[128];
	size_t i = 0, digits = 0;
	locale_t c;
	char *end;
	double v;

	if (len == 3 && memcmp(s, "inf", 3) == 0) {
		*out = INFINITY;
		return 0;
	}
	if (len == 4 && memcmp(s, "-inf", 4) == 0) {
		*out = -INFINITY;
		return 0;
	}
	if (len == 3 && memcmp(s, "nan", 3) == 0) {
		*out = NAN;
		return 0;
	}
	if (len == 0 || len >= sizeof(tmp))
		return DKV_ERR_INVAL;
	/* [+-] digits [. digits] [e [+-] digits]: the grammar of RESP3, so
	 * that strtod's extras (hex, "infinity", spaces) are refused. */
	if (s[i] == '+' || s[i] == '-')
		i++;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		i++, digits++;
	if (i < len && s[i] == '.') {
		i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, digits++;
	}
	if (digits == 0)
		return DKV_ERR_INVAL;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;

		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++, e++;
		if (e == 0)
			return DKV_ERR_INVAL;
	}
	if (i != len)
		return DKV_ERR_INVAL;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	c = get_c_locale();
	if (c != (locale_t)0)
		v = strtod_l(tmp, &end, c);
	else
		v = strtod(tmp, &end);
	if (end != tmp + len)
		return DKV_ERR_INVAL;
	*out = v;
	return 0;
}
