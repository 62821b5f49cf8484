/*
 * hlc_time.c - epochs to and from wall time, for people and tools.
 *
 * An epoch's physical part is ns since DKV_HLC_START with the low 18 bits
 * masked, so converting from wall time rounds down to a 262 us tick and
 * dkv_epoch_format() prints the exact ns of that tick. The text form is
 * therefore exact: dkv_epoch_parse(dkv_epoch_format(e)) == e for every e.
 * The formatter works in seconds + ns, so it covers the whole epoch range
 * (to the year 2605), beyond what Unix ns in 64 bits can hold (2554).
 */
#include "hlc/hlc.h"

#include <stdio.h>
#include <time.h>

#include "dkv_err.h"

#define NS_PER_SEC UINT64_C(1000000000)
#define START_UNIX_SEC (DKV_HLC_START_UNIX_NS / NS_PER_SEC)

uint64_t dkv_epoch_to_unix_ns(uint64_t epoch)
{
	uint64_t phys = epoch & ~DKV_HLC_LOGICAL_MASK;

	/* Past 2554 Unix ns no longer fit: saturate. */
	if (phys > UINT64_MAX - DKV_HLC_START_UNIX_NS)
		return UINT64_MAX;
	return phys + DKV_HLC_START_UNIX_NS;
}

uint64_t dkv_epoch_from_unix_ns(uint64_t unix_ns)
{
	if (unix_ns < DKV_HLC_START_UNIX_NS)
		return 0;
	return (unix_ns - DKV_HLC_START_UNIX_NS) & ~DKV_HLC_LOGICAL_MASK;
}

char *dkv_epoch_format(uint64_t epoch, char *buf, size_t len)
{
	uint64_t phys = epoch & ~DKV_HLC_LOGICAL_MASK;
	uint32_t logical = dkv_epoch_logical(epoch);
	time_t sec = (time_t)(START_UNIX_SEC + phys / NS_PER_SEC);
	unsigned nsec = (unsigned)(phys % NS_PER_SEC);
	struct tm tm;
	int n;

	if (buf == NULL || len == 0)
		return buf;
	if (gmtime_r(&sec, &tm) == NULL) {
		buf[0] = '\0';
		return buf;
	}
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, nsec);
	if (logical > 0 && n > 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, "+%u", logical);
	return buf;
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Exactly n digits at *p into *v; advances *p. */
static int parse_fixed(const char **p, int n, int *v)
{
	int x = 0;

	for (int i = 0; i < n; i++) {
		if (!is_digit((*p)[i]))
			return DKV_ERR_INVAL;
		x = x * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*v = x;
	return 0;
}

/* One or more digits at *p, up to max, into *v; advances *p. */
static int parse_uint(const char **p, uint64_t max, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;

	if (!is_digit(*s))
		return DKV_ERR_INVAL;
	for (; is_digit(*s); s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (x > (max - d) / 10)
			return DKV_ERR_INVAL;
		x = x * 10 + d;
	}
	*p = s;
	*v = x;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return DKV_ERR_INVAL;
	(*p)++;
	return 0;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return days[month - 1] + (month == 2 && leap);
}

/* "YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z[+N]" */
static int parse_date(const char *s, uint64_t *out)
{
	struct tm tm = { 0 };
	int year, mon, day, hour, min, sec;
	uint64_t frac = 0, scale = NS_PER_SEC, logical = 0, rel, ns;
	time_t t;

	if (parse_fixed(&s, 4, &year) || expect(&s, '-') ||
	    parse_fixed(&s, 2, &mon) || expect(&s, '-') ||
	    parse_fixed(&s, 2, &day) || expect(&s, 'T') ||
	    parse_fixed(&s, 2, &hour) || expect(&s, ':') ||
	    parse_fixed(&s, 2, &min) || expect(&s, ':') ||
	    parse_fixed(&s, 2, &sec))
		return DKV_ERR_INVAL;
	if (*s == '.') {
		int n = 0;

		for (s++; is_digit(*s); s++, n++) {
			if (n == 9)
				return DKV_ERR_INVAL;
			frac = frac * 10 + (uint64_t)(*s - '0');
			scale /= 10;
		}
		if (n == 0)
			return DKV_ERR_INVAL;
		frac *= scale;
	}
	if (expect(&s, 'Z'))
		return DKV_ERR_INVAL;
	if (*s == '+') {
		s++;
		if (parse_uint(&s, DKV_HLC_LOGICAL_MASK, &logical))
			return DKV_ERR_INVAL;
	}
	if (*s != '\0')
		return DKV_ERR_INVAL;

	/* Epochs start in 2021; no leap seconds (timegm would roll them). */
	if (year < 2021 || mon < 1 || mon > 12 || day < 1 ||
	    day > days_in_month(year, mon) || hour > 23 || min > 59 || sec > 59)
		return DKV_ERR_INVAL;
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t < (time_t)START_UNIX_SEC)
		return DKV_ERR_INVAL;
	rel = (uint64_t)t - START_UNIX_SEC;
	/* Past the end of the epoch space (the year 2605). */
	if (rel > (UINT64_MAX - frac) / NS_PER_SEC)
		return DKV_ERR_INVAL;
	ns = rel * NS_PER_SEC + frac;
	*out = (ns & ~DKV_HLC_LOGICAL_MASK) | logical;
	return 0;
}

int dkv_epoch_parse(const char *text, uint64_t *out)
{
	const char *s = text;
	uint64_t v;

	if (text == NULL || out == NULL || *text == '\0')
		return DKV_ERR_INVAL;
	/* A plain decimal epoch is digits only; a date has a '-' at 4. */
	while (is_digit(*s))
		s++;
	if (*s == '\0') {
		s = text;
		if (parse_uint(&s, UINT64_MAX, &v))
			return DKV_ERR_INVAL;
		*out = v;
		return 0;
	}
	return parse_date(text, out);
}
