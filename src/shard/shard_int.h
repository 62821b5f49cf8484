/*
 * shard_int.h - helpers private to src/shard/: error text and strict JSON
 * field readers shared by family.c and map.c. Not for use outside.
 */
#ifndef DKV_SHARD_INT_H
#define DKV_SHARD_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Writes the formatted text into err (if errlen > 0) and returns rc. */
int dkv_shard_err(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Strict JSON readers. `what` names the object in messages ("family").
 * Each returns 0 or DKV_ERR_CORRUPT with a message. */

/* obj must be an object whose keys are all in the NULL-terminated list. */
int dkv_sj_object(json_t *obj, const char *const *allowed, const char *what,
		  char *err, size_t errlen);
/* Required (or, if optional, absent -> 1 and *out untouched) integer field
 * in [min, max]. */
int dkv_sj_int(json_t *obj, const char *key, int optional, int64_t min,
	       int64_t max, int64_t *out, const char *what, char *err,
	       size_t errlen);
/* Required (or optional, absent -> 1) string field of 1..maxlen bytes;
 * *out points into obj (borrowed). */
int dkv_sj_str(json_t *obj, const char *key, int optional, size_t maxlen,
	       const char **out, size_t *len, const char *what, char *err,
	       size_t errlen);
/* Required array field of at most maxlen elements; *out is borrowed. */
int dkv_sj_array(json_t *obj, const char *key, size_t maxlen, json_t **out,
		 const char *what, char *err, size_t errlen);

/* Lowercase hex of n bytes into out (2n chars + NUL). */
void dkv_hex_encode(const void *in, size_t n, char *out);
/* Decodes 2n hex digits (either case) into out (n bytes): 0 or -1. */
int dkv_hex_decode(const char *in, size_t hexlen, void *out);
/* Exactly 16 lowercase hex digits <-> u64. */
int dkv_hex_u64_parse(const char *s, size_t len, uint64_t *out);
void dkv_hex_u64_format(uint64_t v, char out[17]);

#endif /* DKV_SHARD_INT_H */
