/*
 * catalog.h - the snapshot catalog (docs/snap.md, "The catalog"): a
 * version number and the snapshots, each a name, an epoch and a creation
 * time, kept in epoch order (then name). Every node holds a copy; the
 * snapshot leader changes it and ships it whole.
 *
 * Pure data: no I/O, no locking. The byte encoding (one store metadata
 * record, src/store/layout.h) is decoded with every size bounded, so a
 * damaged record is DKV_ERR_CORRUPT, never a crash.
 */
#ifndef DKV_SNAP_CATALOG_H
#define DKV_SNAP_CATALOG_H

#include <stddef.h>
#include <stdint.h>

/* Equal to include/dkv.h's DKV_SNAP_NAME_MAX and DKV_SNAP_MAX. */
#define SNAP_NAME_MAX 128
#define SNAP_MAX 1024

struct snap_entry {
	char name[SNAP_NAME_MAX + 1]; /* NUL-terminated */
	uint8_t nlen;
	uint64_t epoch;
	uint64_t created_ms; /* Unix ms */
};

struct snap_catalog {
	uint64_t version; /* bumped by every change; 0 = never changed */
	struct snap_entry *v; /* n entries, owned */
	uint32_t n, cap;
};

void snap_catalog_init(struct snap_catalog *cat);
void snap_catalog_fini(struct snap_catalog *cat);
/* Replaces dst's content with a copy of src's. DKV_ERR_NOMEM. */
int snap_catalog_copy(struct snap_catalog *dst, const struct snap_catalog *src);

/* 1 if name (len bytes) is a valid snapshot name: 1 to SNAP_NAME_MAX
 * bytes of [A-Za-z0-9._:-], starting with a letter. */
int snap_name_valid(const char *name, size_t len);

/* The entry called name, or NULL. Valid until the catalog changes. */
const struct snap_entry *snap_catalog_find(const struct snap_catalog *cat,
					   const char *name, size_t len);
/* Adds an entry (the version is the caller's to bump). DKV_ERR_INVAL (bad
 * name, epoch 0), DKV_ERR_EXISTS, DKV_ERR_NOSPACE (SNAP_MAX entries),
 * DKV_ERR_NOMEM. */
int snap_catalog_add(struct snap_catalog *cat, const char *name, size_t len,
		     uint64_t epoch, uint64_t created_ms);
/* Removes the entry called name: 0 or DKV_ERR_NOT_FOUND. */
int snap_catalog_remove(struct snap_catalog *cat, const char *name,
			size_t len);
/* The oldest epoch any entry pins, UINT64_MAX when empty. */
uint64_t snap_catalog_oldest(const struct snap_catalog *cat);

/* Encodes cat into *out (malloc'ed, the caller's to free), *len bytes. */
int snap_catalog_encode(const struct snap_catalog *cat, char **out,
			size_t *len);
/* Decodes len bytes into cat (replacing its content): 0, DKV_ERR_CORRUPT
 * for anything malformed (cat unchanged then), DKV_ERR_NOMEM. */
int snap_catalog_decode(struct snap_catalog *cat, const char *p, size_t len);

#endif /* DKV_SNAP_CATALOG_H */
