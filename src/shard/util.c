/* util.c - error text, strict JSON readers and hex for src/shard/. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dkv_err.h"
#include "shard/shard_int.h"

int dkv_shard_err(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static const char *json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a real number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

int dkv_sj_object(json_t *obj, const char *const *allowed, const char *what,
		  char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	if (!json_is_object(obj))
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "%s: expected an object, got %s", what,
				     obj == NULL ? "nothing" : json_type_name(obj));
	json_object_foreach(obj, key, val) {
		const char *const *a;

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, key) == 0)
				break;
		if (*a == NULL)
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "%s: unknown field \"%.64s\"",
					     what, key);
	}
	return 0;
}

int dkv_sj_int(json_t *obj, const char *key, int optional, int64_t min,
	       int64_t max, int64_t *out, const char *what, char *err,
	       size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (v == NULL) {
		if (optional)
			return 1;
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "%s: missing field \"%s\"", what, key);
	}
	if (!json_is_integer(v))
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "%s.%s: expected an integer, got %s", what,
				     key, json_type_name(v));
	i = json_integer_value(v);
	if (i < min || i > max)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "%s.%s: %lld is outside [%lld, %lld]", what,
				     key, (long long)i, (long long)min,
				     (long long)max);
	*out = (int64_t)i;
	return 0;
}

int dkv_sj_str(json_t *obj, const char *key, int optional, size_t maxlen,
	       const char **out, size_t *len, const char *what, char *err,
	       size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	size_t n;

	if (v == NULL) {
		if (optional)
			return 1;
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "%s: missing field \"%s\"", what, key);
	}
	if (!json_is_string(v))
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "%s.%s: expected a string, got %s", what,
				     key, json_type_name(v));
	n = json_string_length(v);
	if (n == 0 || n > maxlen)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "%s.%s: length %zu is outside [1, %zu]",
				     what, key, n, maxlen);
	*out = json_string_value(v);
	if (len != NULL)
		*len = n;
	return 0;
}

int dkv_sj_array(json_t *obj, const char *key, size_t maxlen, json_t **out,
		 const char *what, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "%s: missing field \"%s\"", what, key);
	if (!json_is_array(v))
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "%s.%s: expected an array, got %s", what,
				     key, json_type_name(v));
	if (json_array_size(v) > maxlen)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "%s.%s: %zu elements, at most %zu", what,
				     key, json_array_size(v), maxlen);
	*out = v;
	return 0;
}

static const char hexdig[] = "0123456789abcdef";

void dkv_hex_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexdig[p[i] >> 4];
		out[2 * i + 1] = hexdig[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dkv_hex_decode(const char *in, size_t hexlen, void *out)
{
	unsigned char *o = out;
	size_t i;

	if (hexlen % 2 != 0)
		return -1;
	for (i = 0; i < hexlen; i += 2) {
		int hi = hexval(in[i]), lo = hexval(in[i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		o[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int dkv_hex_u64_parse(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len != 16)
		return -1;
	for (i = 0; i < 16; i++) {
		const char *d = strchr(hexdig, s[i]);

		if (s[i] == '\0' || d == NULL)
			return -1;
		v = v << 4 | (uint64_t)(d - hexdig);
	}
	*out = v;
	return 0;
}

void dkv_hex_u64_format(uint64_t v, char out[17])
{
	int i;

	for (i = 15; i >= 0; i--) {
		out[i] = hexdig[v & 0xf];
		v >>= 4;
	}
	out[16] = '\0';
}
