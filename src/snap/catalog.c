/*
 * catalog.c - the snapshot catalog and its encoding (catalog.h).
 *
 * Encoding, little-endian (src/store/layout.h, "snapshot catalog"):
 *   "DKVSNAP1" | u64 version | u32 n |
 *   n x ( u8 nlen | name | u64 epoch | u64 created_ms )
 * Decoding checks the magic, n <= SNAP_MAX, every name's length and
 * characters, that the entries are in catalog order without duplicates,
 * and that the record ends exactly after the last entry.
 */
#include "snap/catalog.h"

#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"

#define CAT_MAGIC "DKVSNAP1"
#define CAT_MAGIC_LEN 8
#define CAT_HEAD (CAT_MAGIC_LEN + 8 + 4)

void snap_catalog_init(struct snap_catalog *cat)
{
	memset(cat, 0, sizeof(*cat));
}

void snap_catalog_fini(struct snap_catalog *cat)
{
	free(cat->v);
	memset(cat, 0, sizeof(*cat));
}

static int reserve(struct snap_catalog *cat, uint32_t n)
{
	struct snap_entry *v;
	uint32_t cap;

	if (n <= cat->cap)
		return DKV_OK;
	cap = cat->cap ? cat->cap : 8;
	while (cap < n)
		cap *= 2;
	v = realloc(cat->v, (size_t)cap * sizeof(*v));
	if (v == NULL)
		return DKV_ERR_NOMEM;
	cat->v = v;
	cat->cap = cap;
	return DKV_OK;
}

int snap_catalog_copy(struct snap_catalog *dst, const struct snap_catalog *src)
{
	int rc = reserve(dst, src->n);

	if (rc != DKV_OK)
		return rc;
	if (src->n > 0)
		memcpy(dst->v, src->v, (size_t)src->n * sizeof(*src->v));
	dst->n = src->n;
	dst->version = src->version;
	return DKV_OK;
}

static int name_char(char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	if (first)
		return 0;
	return (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' ||
	       c == '-';
}

int snap_name_valid(const char *name, size_t len)
{
	if (name == NULL || len == 0 || len > SNAP_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!name_char(name[i], i == 0))
			return 0;
	return 1;
}

/* Catalog order: epoch, then name bytes, then length. */
static int cmp_entry(uint64_t epoch, const char *name, size_t len,
		     const struct snap_entry *e)
{
	size_t m = len < e->nlen ? len : e->nlen;
	int c;

	if (epoch != e->epoch)
		return epoch < e->epoch ? -1 : 1;
	c = memcmp(name, e->name, m);
	if (c != 0)
		return c;
	return len < e->nlen ? -1 : len > e->nlen ? 1 : 0;
}

const struct snap_entry *snap_catalog_find(const struct snap_catalog *cat,
					   const char *name, size_t len)
{
	for (uint32_t i = 0; i < cat->n; i++)
		if (cat->v[i].nlen == len && memcmp(cat->v[i].name, name, len) == 0)
			return &cat->v[i];
	return NULL;
}

int snap_catalog_add(struct snap_catalog *cat, const char *name, size_t len,
		     uint64_t epoch, uint64_t created_ms)
{
	struct snap_entry *e;
	uint32_t at = 0;
	int rc;

	if (!snap_name_valid(name, len) || epoch == 0 || epoch == UINT64_MAX)
		return DKV_ERR_INVAL;
	if (snap_catalog_find(cat, name, len) != NULL)
		return DKV_ERR_EXISTS;
	if (cat->n >= SNAP_MAX)
		return DKV_ERR_NOSPACE;
	rc = reserve(cat, cat->n + 1);
	if (rc != DKV_OK)
		return rc;
	while (at < cat->n && cmp_entry(epoch, name, len, &cat->v[at]) > 0)
		at++;
	memmove(&cat->v[at + 1], &cat->v[at],
		(size_t)(cat->n - at) * sizeof(*e));
	e = &cat->v[at];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, name, len);
	e->nlen = (uint8_t)len;
	e->epoch = epoch;
	e->created_ms = created_ms;
	cat->n++;
	return DKV_OK;
}

int snap_catalog_remove(struct snap_catalog *cat, const char *name, size_t len)
{
	const struct snap_entry *e = snap_catalog_find(cat, name, len);
	uint32_t at;

	if (e == NULL)
		return DKV_ERR_NOT_FOUND;
	at = (uint32_t)(e - cat->v);
	memmove(&cat->v[at], &cat->v[at + 1],
		(size_t)(cat->n - at - 1) * sizeof(*e));
	cat->n--;
	return DKV_OK;
}

uint64_t snap_catalog_oldest(const struct snap_catalog *cat)
{
	return cat->n > 0 ? cat->v[0].epoch : UINT64_MAX;
}

static void put64(char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (char)(v >> (8 * i));
}

static uint64_t get64(const char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | (unsigned char)p[i];
	return v;
}

int snap_catalog_encode(const struct snap_catalog *cat, char **out,
			size_t *len)
{
	size_t n = CAT_HEAD, off;
	char *p;

	for (uint32_t i = 0; i < cat->n; i++)
		n += 1 + cat->v[i].nlen + 16;
	p = malloc(n);
	if (p == NULL)
		return DKV_ERR_NOMEM;
	memcpy(p, CAT_MAGIC, CAT_MAGIC_LEN);
	put64(p + CAT_MAGIC_LEN, cat->version);
	for (int i = 0; i < 4; i++)
		p[CAT_MAGIC_LEN + 8 + i] = (char)(cat->n >> (8 * i));
	off = CAT_HEAD;
	for (uint32_t i = 0; i < cat->n; i++) {
		const struct snap_entry *e = &cat->v[i];

		p[off++] = (char)e->nlen;
		memcpy(p + off, e->name, e->nlen);
		off += e->nlen;
		put64(p + off, e->epoch);
		put64(p + off + 8, e->created_ms);
		off += 16;
	}
	*out = p;
	*len = n;
	return DKV_OK;
}

int snap_catalog_decode(struct snap_catalog *cat, const char *p, size_t len)
{
	struct snap_catalog tmp;
	uint32_t n = 0;
	size_t off;
	int rc = DKV_ERR_CORRUPT;

	snap_catalog_init(&tmp);
	if (len < CAT_HEAD || memcmp(p, CAT_MAGIC, CAT_MAGIC_LEN) != 0)
		goto out;
	tmp.version = get64(p + CAT_MAGIC_LEN);
	for (int i = 3; i >= 0; i--)
		n = (n << 8) | (unsigned char)p[CAT_MAGIC_LEN + 8 + i];
	if (n > SNAP_MAX)
		goto out;
	rc = reserve(&tmp, n);
	if (rc != DKV_OK)
		goto out;
	rc = DKV_ERR_CORRUPT;
	off = CAT_HEAD;
	for (uint32_t i = 0; i < n; i++) {
		struct snap_entry *e = &tmp.v[i];
		size_t nlen;

		if (len - off < 1)
			goto out;
		nlen = (unsigned char)p[off++];
		if (len - off < nlen + 16 || !snap_name_valid(p + off, nlen))
			goto out;
		memset(e, 0, sizeof(*e));
		memcpy(e->name, p + off, nlen);
		e->nlen = (uint8_t)nlen;
		off += nlen;
		e->epoch = get64(p + off);
		e->created_ms = get64(p + off + 8);
		off += 16;
		if (e->epoch == 0 || e->epoch == UINT64_MAX)
			goto out;
		if (i > 0 && cmp_entry(e->epoch, e->name, e->nlen,
				       &tmp.v[i - 1]) <= 0)
			goto out;
		if (snap_catalog_find(&(struct snap_catalog){ .v = tmp.v, .n = i },
				      e->name, e->nlen) != NULL)
			goto out;
		tmp.n = i + 1;
	}
	if (off != len)
		goto out;
	tmp.n = n;
	snap_catalog_fini(cat);
	*cat = tmp;
	return DKV_OK;
out:
	snap_catalog_fini(&tmp);
	return rc;
}
