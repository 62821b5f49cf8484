/* check_util.c - see check_util.h. */
#include "check_util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dkv_err.h"

int check_grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap != 0 ? *cap : 16;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return DKV_ERR_NOMEM;
		ncap *= 2;
	}
	if (ncap > SIZE_MAX / size)
		return DKV_ERR_NOMEM;
	np = realloc(*p, ncap * size);
	if (np == NULL)
		return DKV_ERR_NOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

void *check_zalloc(size_t n, size_t size)
{
	return calloc(n != 0 ? n : 1, size);
}

uint64_t check_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

int check_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

int check_read_file(const char *path, uint64_t max, char **out, size_t *outlen,
		    char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, cap = 0, got;
	FILE *f = fopen(path, "rb");
	int rc = 0;

	*out = NULL;
	*outlen = 0;
	if (f == NULL) {
		rc = check_fail(DKV_ERR_IO, err, errlen, "%s", strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size > max) {
		rc = check_fail(DKV_ERR_TOO_BIG, err, errlen,
				"%" PRIu64 " bytes, over the limit of %" PRIu64,
				(uint64_t)st.st_size, max);
		goto out;
	}
	/* Read to the end (a pipe's size is unknown), one byte past the
	 * limit at most. */
	do {
		if (len == cap) {
			size_t ncap = cap == 0 ? 65536 : cap * 2;
			char *nb;

			if (ncap > max + 1)
				ncap = (size_t)max + 1;
			nb = realloc(buf, ncap);
			if (nb == NULL) {
				rc = check_fail(DKV_ERR_NOMEM, err, errlen,
						"out of memory");
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
	} while (got > 0 && len <= max);
	if (ferror(f)) {
		rc = check_fail(DKV_ERR_IO, err, errlen, "read error");
		goto out;
	}
	if (len > max) {
		rc = check_fail(DKV_ERR_TOO_BIG, err, errlen,
				"over the limit of %" PRIu64 " bytes", max);
		goto out;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
out:
	if (f != NULL)
		fclose(f);
	free(buf);
	return rc;
}
