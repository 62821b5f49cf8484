/*
 * check_util.h - what the history checkers (histcheck, lincheck) share:
 * growable arrays, a 64-bit mixer for their hash maps, error texts, and
 * reading a bounded file whole. Internal to tests/check/.
 */
#ifndef DKV_CHECK_UTIL_H
#define DKV_CHECK_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Makes room for `need` elements of `size` bytes in *p (capacity *cap),
 * doubling. 0 or DKV_ERR_NOMEM (*p unchanged). */
int check_grow(void **p, size_t *cap, size_t need, size_t size);

#define CHECK_GROW(arr, cap, need)                                             \
	check_grow((void **)&(arr), &(cap), (need), sizeof(*(arr)))

/* calloc that never asks for 0 bytes (so NULL always means no memory). */
void *check_zalloc(size_t n, size_t size);

/* splitmix64's finalizer. */
uint64_t check_mix64(uint64_t x);

/* Formats the error text into err (when err != NULL and errlen > 0) and
 * returns rc. */
int check_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Reads the file at path whole (a pipe too) into *buf (malloc'ed, owned by
 * the caller, not NUL-terminated) and its length into *len. A regular
 * file over max bytes is refused before reading, anything longer than max
 * while reading. 0, or DKV_ERR_IO, DKV_ERR_TOO_BIG, DKV_ERR_NOMEM with the
 * reason in err (*buf NULL then). */
int check_read_file(const char *path, uint64_t max, char **buf, size_t *len,
		    char *err, size_t errlen);

#endif
