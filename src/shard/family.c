/*
 * family.c - the sharding functions (definitions in family.h and
 * docs/shard.md).
 *
 * Hand-written here, and why: CRC16-XMODEM is 20 lines and no Debian
 * package ships Redis's variant as a library; jump consistent hash is the
 * 7-line reference algorithm from Lamping & Veach (2014). XXH3 comes from
 * libxxhash, JSON from jansson, loading from libdl.
 */
#define _GNU_SOURCE /* dladdr1 */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xxhash.h>

#include "shard/family.h"
#include "shard/shard_int.h"

struct dkv_family {
	enum dkv_family_kind kind;
	uint32_t nshards;
	/* SLOTS: DKV_SLOTS entries, slot -> shard. */
	uint16_t *slots;
	/* RANGE: nshards - 1 split keys, key i is blob[off[i] .. off[i+1]). */
	size_t *off;
	unsigned char *blob;
	/* CUSTOM */
	char *function;    /* "path:symbol", NUL-terminated */
	size_t path_len;   /* bytes of the path part */
	void *dl;          /* dlopen handle */
	dkv_shard_fn fn;
	dkv_shard_range_fn range_fn; /* NULL if the module has none */
	uint64_t fingerprint;
};

/* --- pure functions --------------------------------------------------------- */

size_t dkv_hash_tag(const void *key, size_t klen, const void **part)
{
	const unsigned char *k = key;
	const unsigned char *open, *close;

	*part = key;
	if (klen < 3)
		return klen;
	open = memchr(k, '{', klen);
	if (open == NULL)
		return klen;
	close = memchr(open + 1, '}', klen - (size_t)(open + 1 - k));
	if (close == NULL || close == open + 1)
		return klen;
	*part = open + 1;
	return (size_t)(close - open - 1);
}

/* CRC16-CCITT (XMODEM): poly 0x1021, MSB first; the table of Redis's
 * crc16.c, regenerated (and checked bitwise by the tests). */
static const uint16_t crc16_tab[256] = {
	0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7,
	0x8108, 0x9129, 0xa14a, 0xb16b, 0xc18c, 0xd1ad, 0xe1ce, 0xf1ef,
	0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
	0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de,
	0x2462, 0x3443, 0x0420, 0x1401, 0x64e6, 0x74c7, 0x44a4, 0x5485,
	0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
	0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4,
	0xb75b, 0xa77a, 0x9719, 0x8738, 0xf7df, 0xe7fe, 0xd79d, 0xc7bc,
	0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
	0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b,
	0x5af5, 0x4ad4, 0x7ab7, 0x6a96, 0x1a71, 0x0a50, 0x3a33, 0x2a12,
	0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
	0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41,
	0xedae, 0xfd8f, 0xcdec, 0xddcd, 0xad2a, 0xbd0b, 0x8d68, 0x9d49,
	0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
	0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78,
	0x9188, 0x81a9, 0xb1ca, 0xa1eb, 0xd10c, 0xc12d, 0xf14e, 0xe16f,
	0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
	0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e,
	0x02b1, 0x1290, 0x22f3, 0x32d2, 0x4235, 0x5214, 0x6277, 0x7256,
	0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
	0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405,
	0xa7db, 0xb7fa, 0x8799, 0x97b8, 0xe75f, 0xf77e, 0xc71d, 0xd73c,
	0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
	0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab,
	0x5844, 0x4865, 0x7806, 0x6827, 0x18c0, 0x08e1, 0x3882, 0x28a3,
	0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
	0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92,
	0xfd2e, 0xed0f, 0xdd6c, 0xcd4d, 0xbdaa, 0xad8b, 0x9de8, 0x8dc9,
	0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
	0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8,
	0x6e17, 0x7e36, 0x4e55, 0x5e74, 0x2e93, 0x3eb2, 0x0ed1, 0x1ef0,
};

uint16_t dkv_crc16(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint16_t crc = 0;
	size_t i;

	for (i = 0; i < len; i++)
		crc = (uint16_t)((crc << 8) ^
				 crc16_tab[((crc >> 8) ^ p[i]) & 0xff]);
	return crc;
}

uint32_t dkv_key_slot(const void *key, size_t klen)
{
	const void *part;
	size_t n = dkv_hash_tag(key, klen, &part);

	return dkv_crc16(part, n) & (DKV_SLOTS - 1);
}

uint64_t dkv_key_hash(const void *key, size_t klen)
{
	const void *part;
	size_t n = dkv_hash_tag(key, klen, &part);

	return XXH3_64bits(n != 0 ? part : "", n);
}

/* Lamping & Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm",
 * 2014, figure 1, unchanged: the same double arithmetic gives the same
 * buckets as the other published implementations (Go, Java, Rust). */
uint32_t dkv_jump_hash(uint64_t h, uint32_t nbuckets)
{
	int64_t b = -1, j = 0;

	while (j < (int64_t)nbuckets) {
		b = j;
		h = h * UINT64_C(2862933555777941757) + 1;
		j = (int64_t)((double)(b + 1) *
			      ((double)(INT64_C(1) << 31) /
			       (double)((h >> 33) + 1)));
	}
	return (uint32_t)b;
}

int dkv_key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n != 0 ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int dkv_common_tag(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	const unsigned char *open, *close;
	size_t n = alen < blen ? alen : blen, cp = 0;

	while (cp < n && x[cp] == y[cp])
		cp++;
	/* The tag rule applied to the prefix alone: the first '{' of the
	 * prefix, then the next '}' inside the prefix, >= 1 byte between. */
	if (cp < 3)
		return 0;
	open = memchr(x, '{', cp);
	if (open == NULL)
		return 0;
	close = memchr(open + 1, '}', cp - (size_t)(open + 1 - x));
	return close != NULL && close > open + 1;
}

static const char *const kind_names[DKV_FAMILY_NKINDS] = {
	[DKV_FAMILY_HASH] = "hash",
	[DKV_FAMILY_SLOTS] = "slots",
	[DKV_FAMILY_RANGE] = "range",
	[DKV_FAMILY_CUSTOM] = "custom",
};

const char *dkv_family_kind_name(enum dkv_family_kind kind)
{
	if ((unsigned)kind >= DKV_FAMILY_NKINDS)
		return NULL;
	return kind_names[kind];
}

int dkv_family_kind_parse(const char *name, enum dkv_family_kind *out)
{
	unsigned k;

	if (name == NULL)
		return DKV_ERR_INVAL;
	for (k = 0; k < DKV_FAMILY_NKINDS; k++)
		if (strcmp(name, kind_names[k]) == 0) {
			*out = (enum dkv_family_kind)k;
			return 0;
		}
	return DKV_ERR_INVAL;
}

/* --- creation ---------------------------------------------------------------- */

static struct dkv_family *family_alloc(enum dkv_family_kind kind,
				       uint32_t nshards)
{
	struct dkv_family *f = calloc(1, sizeof(*f));

	if (f != NULL) {
		f->kind = kind;
		f->nshards = nshards;
	}
	return f;
}

void dkv_family_destroy(struct dkv_family *f)
{
	if (f == NULL)
		return;
	free(f->slots);
	free(f->off);
	free(f->blob);
	if (f->dl != NULL)
		dlclose(f->dl);
	free(f->function);
	free(f);
}

static int slots_default(struct dkv_family *f)
{
	uint32_t s;

	f->slots = malloc(DKV_SLOTS * sizeof(*f->slots));
	if (f->slots == NULL)
		return DKV_ERR_NOMEM;
	for (s = 0; s < DKV_SLOTS; s++)
		f->slots[s] = (uint16_t)((uint64_t)s * f->nshards / DKV_SLOTS);
	return 0;
}

/* Copies and checks n split keys. */
static int splits_set(struct dkv_family *f, const struct dkv_split *sp,
		      uint32_t n, char *err, size_t errlen)
{
	size_t total = 0, pos = 0;
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (sp[i].len == 0 || sp[i].len > DKV_SPLIT_MAX_LEN ||
		    sp[i].data == NULL)
			return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
					     "split %u: length %zu is outside "
					     "[1, %u]",
					     i, sp[i].len, DKV_SPLIT_MAX_LEN);
		if (i > 0 && dkv_key_cmp(sp[i - 1].data, sp[i - 1].len,
					 sp[i].data, sp[i].len) >= 0)
			return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
					     "split %u is not above split %u: "
					     "split keys must strictly increase",
					     i, i - 1);
		total += sp[i].len;
		if (total > DKV_SPLITS_MAX_BYTES)
			return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
					     "split keys exceed %u bytes in all",
					     DKV_SPLITS_MAX_BYTES);
	}
	f->off = malloc(((size_t)n + 1) * sizeof(*f->off));
	f->blob = malloc(total != 0 ? total : 1);
	if (f->off == NULL || f->blob == NULL)
		return DKV_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		f->off[i] = pos;
		memcpy(f->blob + pos, sp[i].data, sp[i].len);
		pos += sp[i].len;
	}
	f->off[n] = pos;
	return 0;
}

static int valid_symbol(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > DKV_SHARDFN_SYMBOL_MAX ||
	    (s[0] >= '0' && s[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_'))
			return 0;
	}
	return 1;
}

/* 1 if sym is known to be data rather than code (the ELF symbol type
 * says so); 0 if it is a function or the loader cannot tell. */
static int not_code(void *sym)
{
	const ElfW(Sym) *esym = NULL;
	Dl_info info;
	unsigned type;

	if (dladdr1(sym, &info, (void **)&esym, RTLD_DL_SYMENT) == 0 ||
	    esym == NULL)
		return 0;
	type = ELF64_ST_TYPE(esym->st_info); /* = ELF32_ST_TYPE: low 4 bits */
	return type != STT_FUNC && type != STT_GNU_IFUNC;
}

#define PROBES 256

/* Runs the custom function on fixed probe keys: the fingerprint is XXH3
 * of the answers (little-endian u32s). Also rejects a function that
 * answers out of range on a probe. */
static int custom_probe(struct dkv_family *f, char *err, size_t errlen)
{
	unsigned char res[4 * (PROBES + 2)];
	static const unsigned char bin[] = {0x00, 0xff, 0x7b, 0x7d, 0x80};
	char key[32];
	unsigned i;

	for (i = 0; i < PROBES + 2; i++) {
		const void *k = key;
		size_t klen;
		uint32_t s;

		if (i < PROBES) {
			unsigned v = i * 2654435761u % 100000u;
			int n = i % 2 != 0
					? snprintf(key, sizeof(key),
						   "user:%u:probe", v)
					: snprintf(key, sizeof(key),
						   "{dkv%u}probe", v);

			klen = (size_t)n;
		} else if (i == PROBES) {
			k = "";
			klen = 0;
		} else {
			k = bin;
			klen = sizeof(bin);
		}
		s = f->fn(k, klen, f->nshards);
		if (s >= f->nshards)
			return dkv_shard_err(DKV_ERR_NO_SHARD, err, errlen,
					     "custom function %s answers shard "
					     "%u for a probe key, nshards is %u",
					     f->function, s, f->nshards);
		res[4 * i] = (unsigned char)s;
		res[4 * i + 1] = (unsigned char)(s >> 8);
		res[4 * i + 2] = (unsigned char)(s >> 16);
		res[4 * i + 3] = (unsigned char)(s >> 24);
	}
	f->fingerprint = XXH3_64bits(res, sizeof(res));
	return 0;
}

/* Parses "path:symbol", dlopens and resolves; on error f keeps whatever
 * it got and the caller destroys it. */
static int custom_load(struct dkv_family *f, const char *spec, char *err,
		       size_t errlen)
{
	size_t len, symlen;
	const char *colon, *derr;
	char symbol[DKV_SHARDFN_SYMBOL_MAX + sizeof(DKV_SHARDFN_RANGE_SUFFIX)];
	char *path;
	void *sym;

	if (spec == NULL)
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				     "custom family without a function name");
	len = strnlen(spec, DKV_SHARDFN_SPEC_MAX + 1);
	if (len == 0 || len > DKV_SHARDFN_SPEC_MAX)
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				     "custom function name: length is outside "
				     "[1, %u]",
				     DKV_SHARDFN_SPEC_MAX);
	colon = strrchr(spec, ':');
	if (colon == NULL || colon == spec)
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				     "custom function \"%.200s\": expected "
				     "\"path/to/module.so:symbol\"",
				     spec);
	symlen = len - (size_t)(colon + 1 - spec);
	if (!valid_symbol(colon + 1, symlen))
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				     "custom function \"%.200s\": \"%.200s\" is "
				     "not a C symbol name of at most %u bytes",
				     spec, colon + 1, DKV_SHARDFN_SYMBOL_MAX);
	{
		/* It goes into the JSON form: must be UTF-8. */
		json_t *t = json_string(spec);

		if (t == NULL)
			return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
					     "custom function name: not UTF-8");
		json_decref(t);
	}
	f->function = strdup(spec);
	if (f->function == NULL)
		return DKV_ERR_NOMEM;
	f->path_len = (size_t)(colon - spec);
	path = strndup(spec, f->path_len);
	if (path == NULL)
		return DKV_ERR_NOMEM;
	(void)dlerror();
	f->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	free(path);
	if (f->dl == NULL) {
		derr = dlerror();
		return dkv_shard_err(DKV_ERR_NOT_FOUND, err, errlen,
				     "custom function %.300s: cannot load the "
				     "module: %.300s",
				     spec, derr != NULL ? derr : "?");
	}
	memcpy(symbol, colon + 1, symlen);
	symbol[symlen] = '\0';
	(void)dlerror();
	sym = dlsym(f->dl, symbol);
	derr = dlerror();
	if (sym == NULL || derr != NULL)
		return dkv_shard_err(DKV_ERR_NOT_FOUND, err, errlen,
				     "custom function %.300s: no symbol \"%s\" "
				     "in the module (exported with "
				     "DKV_SHARDFN_EXPORT?)",
				     spec, symbol);
	if (not_code(sym))
		return dkv_shard_err(DKV_ERR_NOT_FOUND, err, errlen,
				     "custom function %.300s: \"%s\" is not a "
				     "function",
				     spec, symbol);
	/* POSIX guarantees object <-> function pointer conversion here. */
	f->fn = (dkv_shard_fn)sym;
	memcpy(symbol + symlen, DKV_SHARDFN_RANGE_SUFFIX,
	       sizeof(DKV_SHARDFN_RANGE_SUFFIX));
	(void)dlerror();
	sym = dlsym(f->dl, symbol);
	if (dlerror() == NULL && sym != NULL) {
		if (not_code(sym))
			return dkv_shard_err(DKV_ERR_NOT_FOUND, err, errlen,
					     "custom function %.300s: \"%s\" is "
					     "not a function",
					     spec, symbol);
		f->range_fn = (dkv_shard_range_fn)sym;
	}
	return custom_probe(f, err, errlen);
}

int dkv_family_create(const struct dkv_family_spec *spec,
		      struct dkv_family **out, char *err, size_t errlen)
{
	struct dkv_family *f;
	uint32_t n;
	int rc = 0;

	if (spec == NULL || out == NULL)
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				     "no family spec");
	if ((unsigned)spec->kind >= DKV_FAMILY_NKINDS)
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				     "unknown sharding family %d",
				     (int)spec->kind);
	n = spec->nshards;
	if (spec->kind == DKV_FAMILY_RANGE) {
		if (spec->nsplits >= DKV_SHARDS_MAX ||
		    (spec->nsplits != 0 && spec->splits == NULL))
			return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
					     "range family: %u split keys, at "
					     "most %u",
					     spec->nsplits, DKV_SHARDS_MAX - 1);
		if (n == 0)
			n = spec->nsplits + 1;
		if (n != spec->nsplits + 1)
			return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
					     "range family: %u shards need %u "
					     "split keys, got %u",
					     n, n - 1, spec->nsplits);
	}
	if (n == 0 || n > DKV_SHARDS_MAX ||
	    (spec->kind == DKV_FAMILY_SLOTS && n > DKV_SLOTS))
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				     "%s family: %u shards is outside [1, %u]",
				     kind_names[spec->kind], n,
				     spec->kind == DKV_FAMILY_SLOTS
					     ? DKV_SLOTS
					     : DKV_SHARDS_MAX);
	f = family_alloc(spec->kind, n);
	if (f == NULL)
		return DKV_ERR_NOMEM;
	switch (spec->kind) {
	case DKV_FAMILY_HASH:
	case DKV_FAMILY_NKINDS:
		break;
	case DKV_FAMILY_SLOTS:
		rc = slots_default(f);
		break;
	case DKV_FAMILY_RANGE:
		rc = splits_set(f, spec->splits, spec->nsplits, err, errlen);
		break;
	case DKV_FAMILY_CUSTOM:
		rc = custom_load(f, spec->function, err, errlen);
		break;
	}
	if (rc != 0) {
		dkv_family_destroy(f);
		return rc;
	}
	*out = f;
	return 0;
}

int dkv_family_clone(const struct dkv_family *f, struct dkv_family **out)
{
	struct dkv_family *c;
	char *path;

	if (f == NULL || out == NULL)
		return DKV_ERR_INVAL;
	c = family_alloc(f->kind, f->nshards);
	if (c == NULL)
		return DKV_ERR_NOMEM;
	if (f->slots != NULL) {
		c->slots = malloc(DKV_SLOTS * sizeof(*c->slots));
		if (c->slots == NULL)
			goto nomem;
		memcpy(c->slots, f->slots, DKV_SLOTS * sizeof(*c->slots));
	}
	if (f->off != NULL) {
		uint32_t n = f->nshards - 1;

		c->off = malloc(((size_t)n + 1) * sizeof(*c->off));
		c->blob = malloc(f->off[n] != 0 ? f->off[n] : 1);
		if (c->off == NULL || c->blob == NULL)
			goto nomem;
		memcpy(c->off, f->off, ((size_t)n + 1) * sizeof(*c->off));
		memcpy(c->blob, f->blob, f->off[n]);
	}
	if (f->function != NULL) {
		c->function = strdup(f->function);
		path = strndup(f->function, f->path_len);
		if (c->function == NULL || path == NULL) {
			free(path);
			goto nomem;
		}
		/* Already loaded by f: this only takes a reference. */
		c->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		free(path);
		if (c->dl == NULL) {
			dkv_family_destroy(c);
			return DKV_ERR_NOT_FOUND;
		}
		c->path_len = f->path_len;
		c->fn = f->fn;
		c->range_fn = f->range_fn;
		c->fingerprint = f->fingerprint;
	}
	*out = c;
	return 0;
nomem:
	dkv_family_destroy(c);
	return DKV_ERR_NOMEM;
}

int dkv_family_equal(const struct dkv_family *a, const struct dkv_family *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	if (a->kind != b->kind || a->nshards != b->nshards)
		return 0;
	switch (a->kind) {
	case DKV_FAMILY_HASH:
	case DKV_FAMILY_NKINDS:
		return 1;
	case DKV_FAMILY_SLOTS:
		return memcmp(a->slots, b->slots,
			      DKV_SLOTS * sizeof(*a->slots)) == 0;
	case DKV_FAMILY_RANGE:
		return memcmp(a->off, b->off,
			      (size_t)a->nshards * sizeof(*a->off)) == 0 &&
		       memcmp(a->blob, b->blob, a->off[a->nshards - 1]) == 0;
	case DKV_FAMILY_CUSTOM:
		return strcmp(a->function, b->function) == 0 &&
		       a->fingerprint == b->fingerprint;
	}
	return 0;
}

enum dkv_family_kind dkv_family_kind(const struct dkv_family *f)
{
	return f->kind;
}

uint32_t dkv_family_nshards(const struct dkv_family *f)
{
	return f->nshards;
}

/* --- lookups: the hot path, no allocation ---------------------------------- */

static int split_cmp(const struct dkv_family *f, uint32_t i, const void *key,
		     size_t klen)
{
	return dkv_key_cmp(f->blob + f->off[i], f->off[i + 1] - f->off[i], key,
			   klen);
}

/* Number of split keys <= key (strict: < key): the shard of key (of the
 * last key below key). */
static uint32_t splits_below(const struct dkv_family *f, const void *key,
			     size_t klen, int strict)
{
	uint32_t lo = 0, hi = f->nshards - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		int c = split_cmp(f, mid, key, klen);

		if (c < 0 || (c == 0 && !strict))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int dkv_family_key_shard(const struct dkv_family *f, const void *key,
			 size_t klen, uint32_t *shard)
{
	uint32_t s;

	switch (f->kind) {
	case DKV_FAMILY_HASH:
		s = dkv_jump_hash(dkv_key_hash(key, klen), f->nshards);
		break;
	case DKV_FAMILY_SLOTS:
		s = f->slots[dkv_key_slot(key, klen)];
		break;
	case DKV_FAMILY_RANGE:
		s = splits_below(f, key, klen, 0);
		break;
	case DKV_FAMILY_CUSTOM:
		s = f->fn(key != NULL ? key : "", klen, f->nshards);
		if (s >= f->nshards)
			return DKV_ERR_NO_SHARD;
		break;
	case DKV_FAMILY_NKINDS:
	default:
		return DKV_ERR_INVAL;
	}
	*shard = s;
	return 0;
}

int dkv_family_range_shard(const struct dkv_family *f, const void *start,
			   size_t slen, const void *end, size_t elen,
			   uint32_t *first, uint32_t *last)
{
	uint32_t a = DKV_SHARD_NONE, b = DKV_SHARD_NONE;
	int rc = DKV_ERR_UNSUPPORTED;

	/* Empty: start >= end, or nothing below an empty end key. */
	if ((end != NULL && elen == 0) ||
	    (start != NULL && end != NULL &&
	     dkv_key_cmp(start, slen, end, elen) >= 0)) {
		rc = DKV_ERR_INVAL;
		goto out;
	}
	if (f->nshards == 1) {
		a = b = 0;
		rc = 0;
		goto out;
	}
	switch (f->kind) {
	case DKV_FAMILY_RANGE:
		a = start != NULL ? splits_below(f, start, slen, 0) : 0;
		b = end != NULL ? splits_below(f, end, elen, 1)
				: f->nshards - 1;
		if (a == b)
			rc = 0;
		break;
	case DKV_FAMILY_HASH:
	case DKV_FAMILY_SLOTS:
		if (start != NULL)
			(void)dkv_family_key_shard(f, start, slen, &a);
		if (end != NULL)
			(void)dkv_family_key_shard(f, end, elen, &b);
		if (start != NULL && end != NULL &&
		    dkv_common_tag(start, slen, end, elen)) {
			b = a;
			rc = 0;
		}
		break;
	case DKV_FAMILY_CUSTOM:
		if ((start != NULL &&
		     (rc = dkv_family_key_shard(f, start, slen, &a)) != 0) ||
		    (end != NULL &&
		     (rc = dkv_family_key_shard(f, end, elen, &b)) != 0))
			goto out;
		rc = DKV_ERR_UNSUPPORTED;
		if (f->range_fn != NULL) {
			int r = f->range_fn(start, slen, end, elen, f->nshards);
			uint32_t s0 = 0;

			if (r < 0)
				break;
			if ((uint32_t)r >= f->nshards) {
				rc = DKV_ERR_NO_SHARD;
				break;
			}
			/* The first key of the range must agree. */
			if (start == NULL &&
			    (rc = dkv_family_key_shard(f, "", 0, &s0)) != 0)
				break;
			if ((start != NULL ? a : s0) != (uint32_t)r) {
				rc = DKV_ERR_CORRUPT;
				break;
			}
			a = b = (uint32_t)r;
			rc = 0;
		}
		break;
	case DKV_FAMILY_NKINDS:
	default:
		rc = DKV_ERR_INVAL;
		break;
	}
out:
	if (first != NULL)
		*first = a;
	if (last != NULL)
		*last = b;
	return rc == 0 ? (int)a : rc;
}

/* --- accessors --------------------------------------------------------------- */

uint32_t dkv_family_slot_shard(const struct dkv_family *f, uint32_t slot)
{
	if (f->kind != DKV_FAMILY_SLOTS || slot >= DKV_SLOTS)
		return DKV_SHARD_NONE;
	return f->slots[slot];
}

int dkv_family_set_slots(struct dkv_family *f, uint32_t first, uint32_t last,
			 uint32_t shard)
{
	uint32_t s;
	int changed = 0;

	if (f->kind != DKV_FAMILY_SLOTS)
		return DKV_ERR_UNSUPPORTED;
	if (first > last || last >= DKV_SLOTS)
		return DKV_ERR_INVAL;
	if (shard >= f->nshards)
		return DKV_ERR_NO_SHARD;
	for (s = first; s <= last; s++)
		if (f->slots[s] != shard) {
			f->slots[s] = (uint16_t)shard;
			changed++;
		}
	return changed;
}

const void *dkv_family_split(const struct dkv_family *f, uint32_t i,
			     size_t *len)
{
	if (f->kind != DKV_FAMILY_RANGE || i >= f->nshards - 1)
		return NULL;
	*len = f->off[i + 1] - f->off[i];
	return f->blob + f->off[i];
}

const char *dkv_family_function(const struct dkv_family *f)
{
	return f->function;
}

uint64_t dkv_family_fingerprint(const struct dkv_family *f)
{
	return f->fingerprint;
}

/* --- JSON ------------------------------------------------------------------- */

/* Adds v (stolen) to obj; returns 0 or -1, v released either way. */
static int put(json_t *obj, const char *key, json_t *v)
{
	return v == NULL ? -1 : json_object_set_new(obj, key, v);
}

static json_t *slots_to_json(const struct dkv_family *f)
{
	json_t *arr = json_array();
	uint32_t s = 0;

	if (arr == NULL)
		return NULL;
	while (s < DKV_SLOTS) {
		uint32_t e = s;
		json_t *run;

		while (e + 1 < DKV_SLOTS && f->slots[e + 1] == f->slots[s])
			e++;
		run = json_pack("[III]", (json_int_t)s, (json_int_t)e,
				(json_int_t)f->slots[s]);
		if (run == NULL || json_array_append_new(arr, run) != 0) {
			json_decref(arr);
			return NULL;
		}
		s = e + 1;
	}
	return arr;
}

static json_t *splits_to_json(const struct dkv_family *f)
{
	json_t *arr = json_array();
	char hex[2 * DKV_SPLIT_MAX_LEN + 1];
	uint32_t i;

	if (arr == NULL)
		return NULL;
	for (i = 0; i + 1 < f->nshards; i++) {
		size_t len = f->off[i + 1] - f->off[i];

		dkv_hex_encode(f->blob + f->off[i], len, hex);
		if (json_array_append_new(arr, json_string(hex)) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

struct json_t *dkv_family_to_json(const struct dkv_family *f)
{
	json_t *obj = json_object();
	char fp[17];
	int rc;

	if (obj == NULL)
		return NULL;
	rc = put(obj, "kind", json_string(kind_names[f->kind]));
	rc = rc ?: put(obj, "nshards", json_integer(f->nshards));
	switch (f->kind) {
	case DKV_FAMILY_HASH:
	case DKV_FAMILY_NKINDS:
		break;
	case DKV_FAMILY_SLOTS:
		rc = rc ?: put(obj, "slots", slots_to_json(f));
		break;
	case DKV_FAMILY_RANGE:
		rc = rc ?: put(obj, "splits", splits_to_json(f));
		break;
	case DKV_FAMILY_CUSTOM:
		dkv_hex_u64_format(f->fingerprint, fp);
		rc = rc ?: put(obj, "function", json_string(f->function));
		rc = rc ?: put(obj, "fingerprint", json_string(fp));
		break;
	}
	if (rc != 0) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

static int slots_from_json(struct dkv_family *f, json_t *arr, char *err,
			   size_t errlen)
{
	size_t i;
	uint32_t next = 0;

	for (i = 0; i < json_array_size(arr); i++) {
		json_t *run = json_array_get(arr, i);
		json_int_t v[3];
		int j;

		if (!json_is_array(run) || json_array_size(run) != 3)
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "family.slots[%zu]: expected "
					     "[first, last, shard]",
					     i);
		for (j = 0; j < 3; j++) {
			json_t *x = json_array_get(run, (size_t)j);

			if (!json_is_integer(x))
				return dkv_shard_err(
					DKV_ERR_CORRUPT, err, errlen,
					"family.slots[%zu][%d]: expected an "
					"integer",
					i, j);
			v[j] = json_integer_value(x);
		}
		if (v[0] != (json_int_t)next || v[1] < v[0] ||
		    v[1] >= (json_int_t)DKV_SLOTS)
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "family.slots[%zu]: [%lld, %lld] "
					     "does not continue at slot %u "
					     "within [0, %u]",
					     i, (long long)v[0], (long long)v[1],
					     next, DKV_SLOTS - 1);
		if (v[2] < 0 || v[2] >= (json_int_t)f->nshards)
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "family.slots[%zu]: shard %lld is "
					     "outside [0, %u]",
					     i, (long long)v[2], f->nshards - 1);
		for (; next <= (uint32_t)v[1]; next++)
			f->slots[next] = (uint16_t)v[2];
	}
	if (next != DKV_SLOTS)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "family.slots: slots %u..%u are not "
				     "assigned",
				     next, DKV_SLOTS - 1);
	return 0;
}

static int splits_from_json(struct dkv_family *f, json_t *arr, char *err,
			    size_t errlen)
{
	uint32_t n = f->nshards - 1, i;
	struct dkv_split *sp;
	unsigned char *buf;
	size_t total = 0;
	int rc;

	if (json_array_size(arr) != n)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "family.splits: %zu split keys for %u "
				     "shards, expected %u",
				     json_array_size(arr), f->nshards, n);
	for (i = 0; i < n; i++) {
		json_t *s = json_array_get(arr, i);
		size_t hl;

		if (!json_is_string(s))
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "family.splits[%u]: expected a hex "
					     "string",
					     i);
		hl = json_string_length(s);
		if (hl == 0 || hl % 2 != 0 || hl > 2 * DKV_SPLIT_MAX_LEN)
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "family.splits[%u]: %zu hex digits, "
					     "expected an even number in "
					     "[2, %u]",
					     i, hl, 2 * DKV_SPLIT_MAX_LEN);
		total += hl / 2;
		if (total > DKV_SPLITS_MAX_BYTES)
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "family.splits: over %u bytes",
					     DKV_SPLITS_MAX_BYTES);
	}
	sp = malloc(((size_t)n + 1) * sizeof(*sp));
	buf = malloc(total + 1);
	if (sp == NULL || buf == NULL) {
		free(sp);
		free(buf);
		return DKV_ERR_NOMEM;
	}
	total = 0;
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		json_t *s = json_array_get(arr, i);
		size_t hl = json_string_length(s);

		if (dkv_hex_decode(json_string_value(s), hl, buf + total) != 0)
			rc = dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					   "family.splits[%u]: not hex", i);
		sp[i].data = buf + total;
		sp[i].len = hl / 2;
		total += hl / 2;
	}
	if (rc == 0) {
		rc = splits_set(f, sp, n, err, errlen);
		if (rc == DKV_ERR_INVAL)
			rc = DKV_ERR_CORRUPT;
	}
	free(sp);
	free(buf);
	return rc;
}

static int custom_from_json(json_t *obj, uint32_t nshards,
			    const char *const *allow, struct dkv_family **out,
			    char *err, size_t errlen)
{
	struct dkv_family_spec spec = {.kind = DKV_FAMILY_CUSTOM,
				       .nshards = nshards};
	const char *fp = NULL;
	size_t fplen = 0;
	uint64_t want = 0;
	struct dkv_family *f;
	int rc, has_fp;

	rc = dkv_sj_str(obj, "function", 0, DKV_SHARDFN_SPEC_MAX,
			&spec.function, NULL, "family", err, errlen);
	if (rc != 0)
		return rc;
	while (allow != NULL && *allow != NULL &&
	       strcmp(*allow, spec.function) != 0)
		allow++;
	if (allow == NULL || *allow == NULL)
		return dkv_shard_err(DKV_ERR_UNSUPPORTED, err, errlen,
				     "family: custom function %.300s is not "
				     "one this process is configured to load",
				     spec.function);
	has_fp = dkv_sj_str(obj, "fingerprint", 1, 16, &fp, &fplen, "family",
			    err, errlen) == 0;
	if (json_object_get(obj, "fingerprint") != NULL &&
	    (!has_fp || dkv_hex_u64_parse(fp, fplen, &want) != 0))
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "family.fingerprint: expected 16 "
				     "lowercase hex digits");
	rc = dkv_family_create(&spec, &f, err, errlen);
	if (rc == DKV_ERR_INVAL)
		rc = DKV_ERR_CORRUPT;
	if (rc != 0)
		return rc;
	if (has_fp && f->fingerprint != want) {
		char got[17];

		dkv_hex_u64_format(f->fingerprint, got);
		dkv_family_destroy(f);
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "family: custom function %.300s has "
				     "fingerprint %s here, the map says %.16s: "
				     "the module differs from the cluster's",
				     spec.function, got, fp);
	}
	*out = f;
	return 0;
}

int dkv_family_from_json(struct json_t *obj, const char *const *custom_allow,
			 struct dkv_family **out, char *err, size_t errlen)
{
	static const char *const fields[] = {"kind",     "nshards",
					     "slots",    "splits",
					     "function", "fingerprint",
					     NULL};
	const char *kname;
	enum dkv_family_kind kind;
	struct dkv_family *f;
	int64_t n;
	json_t *arr;
	int rc;

	rc = dkv_sj_object(obj, fields, "family", err, errlen);
	rc = rc ?: dkv_sj_str(obj, "kind", 0, 16, &kname, NULL, "family", err,
			      errlen);
	if (rc != 0)
		return rc;
	if (dkv_family_kind_parse(kname, &kind) != 0)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "family.kind: unknown family \"%s\"",
				     kname);
	rc = dkv_sj_int(obj, "nshards", 0, 1,
			kind == DKV_FAMILY_SLOTS ? DKV_SLOTS : DKV_SHARDS_MAX,
			&n, "family", err, errlen);
	if (rc != 0)
		return rc;
	/* Only the fields of this kind. */
	if ((kind != DKV_FAMILY_SLOTS && json_object_get(obj, "slots")) ||
	    (kind != DKV_FAMILY_RANGE && json_object_get(obj, "splits")) ||
	    (kind != DKV_FAMILY_CUSTOM && (json_object_get(obj, "function") ||
					   json_object_get(obj, "fingerprint"))))
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "family: a field that the %s family does "
				     "not have",
				     kname);
	if (kind == DKV_FAMILY_CUSTOM)
		return custom_from_json(obj, (uint32_t)n, custom_allow, out,
					err, errlen);
	f = family_alloc(kind, (uint32_t)n);
	if (f == NULL)
		return DKV_ERR_NOMEM;
	rc = 0;
	if (kind == DKV_FAMILY_SLOTS) {
		rc = slots_default(f);
		if (rc == 0 && json_object_get(obj, "slots") != NULL) {
			rc = dkv_sj_array(obj, "slots", DKV_SLOTS, &arr,
					  "family", err, errlen);
			rc = rc ?: slots_from_json(f, arr, err, errlen);
		}
	} else if (kind == DKV_FAMILY_RANGE) {
		rc = dkv_sj_array(obj, "splits", DKV_SHARDS_MAX, &arr,
				  "family", err, errlen);
		rc = rc ?: splits_from_json(f, arr, err, errlen);
	}
	if (rc != 0) {
		dkv_family_destroy(f);
		return rc;
	}
	*out = f;
	return 0;
}
