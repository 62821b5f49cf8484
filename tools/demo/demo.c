/*
 * demo.c - the main job until the node daemon lands: the epoch manager and
 * the versioned store working on real data, this machine's own Debian
 * package database (/var/lib/dpkg): every installed package with its
 * version, and every file with the package that owns it.
 *
 * It loads the data into a store of five shards split by key range, upgrades
 * part of it at later epochs, then shows point reads now and in the past,
 * a range search inside one shard, a key's history, history GC with the
 * "epoch too old" answer, a checkpoint reopened as a store, and the clock
 * staying monotonic across a restart whose wall clock went backwards.
 *
 * Usage: dkv-demo [--dir DIR] [--keep]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hlc/hlc.h"
#include "store/store.h"

#define DPKG_STATUS "/var/lib/dpkg/status"
#define DPKG_INFO "/var/lib/dpkg/info"
#define LOAD_BATCH 256

/* Range sharding: shard i holds [split[i-1], split[i]). */
static const char *const splits[] = { "file/usr/lib/", "file/usr/share/",
				      "file/~", "pkg/" };
#define NSHARDS 5

static uint32_t shard_of(const char *key)
{
	uint32_t i = 0;

	while (i < NSHARDS - 1 && strcmp(key, splits[i]) >= 0)
		i++;
	return i + 1; /* shard ids 1..5 */
}

struct demo {
	struct dkv_store *store;
	struct dkv_hlc *hlc;
	struct dkv_batch *batch;
	uint64_t wall_offset_ns; /* subtracted from the wall clock */
	uint64_t nkeys, nbytes;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "dkv-demo: %s: %s\n", what, dkv_strerror(rc));
	exit(1);
}

#define CHECK(what, call)                                                      \
	do {                                                                   \
		int rc_ = (call);                                              \
		if (rc_ < 0)                                                   \
			die(what, rc_);                                        \
	} while (0)

static uint64_t demo_clock(void *ctx)
{
	struct demo *d = ctx;

	return dkv_hlc_wall_ns(NULL) - d->wall_offset_ns;
}

/* The clock's bound lives in the store's metadata. */
static int demo_persist(void *ctx, uint64_t bound)
{
	struct demo *d = ctx;
	struct dkv_batch *b;
	char buf[8];
	int rc;

	for (int i = 0; i < 8; i++)
		buf[i] = (char)(bound >> (8 * i));
	rc = dkv_batch_create(d->store, &b);
	if (rc != 0)
		return rc;
	rc = dkv_batch_put_meta(b, "hlc.bound", 9, buf, 8);
	if (rc == 0)
		rc = dkv_batch_commit(b);
	dkv_batch_destroy(b);
	return rc;
}

static uint64_t stored_bound(struct demo *d)
{
	struct dkv_val v;
	uint64_t bound = 0;

	if (dkv_store_get_meta(d->store, "hlc.bound", 9, &v) != 0)
		return 0;
	for (int i = 7; i >= 0 && v.len == 8; i--)
		bound = (bound << 8) | (uint8_t)v.data[i];
	dkv_val_release(&v);
	return bound;
}

static void clock_start(struct demo *d)
{
	struct dkv_hlc_io io = { d, demo_clock, demo_persist, NULL };
	struct dkv_hlc_opts o = { 0 };

	o.bound = stored_bound(d);
	CHECK("clock", dkv_hlc_create(&io, &o, &d->hlc));
}

static uint64_t epoch_now(struct demo *d)
{
	uint64_t e;

	CHECK("clock", dkv_hlc_now(d->hlc, &e));
	return e;
}

static const char *fmt_epoch(uint64_t e, char *buf)
{
	return dkv_epoch_format(e, buf, DKV_EPOCH_STR_MAX);
}

/* Adds one put and commits every LOAD_BATCH records, all at one epoch. */
static void load_put(struct demo *d, const char *key, const char *val,
		     uint64_t *epoch)
{
	if (*epoch == 0)
		*epoch = epoch_now(d);
	CHECK("put", dkv_batch_put(d->batch, shard_of(key), key, strlen(key),
				   val, strlen(val), *epoch));
	d->nkeys++;
	d->nbytes += strlen(key) + strlen(val);
	if (dkv_batch_count(d->batch) >= LOAD_BATCH) {
		CHECK("commit", dkv_batch_commit(d->batch));
		*epoch = 0;
	}
}

static void load_packages(struct demo *d)
{
	FILE *f = fopen(DPKG_STATUS, "r");
	char line[4096], name[256] = "", version[256] = "", size[32] = "0";
	char key[300], val[4096];
	uint64_t epoch = 0;

	if (f == NULL) {
		fprintf(stderr, "dkv-demo: cannot read %s\n", DPKG_STATUS);
		exit(1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "Package: %255s", name) == 1)
			continue;
		if (sscanf(line, "Version: %255s", version) == 1)
			continue;
		if (sscanf(line, "Installed-Size: %31s", size) == 1)
			continue;
		if (strncmp(line, "Description: ", 13) == 0 && name[0]) {
			snprintf(key, sizeof(key), "pkg/%s", name);
			snprintf(val, sizeof(val), "%s %sKiB %.200s", version,
				 size, line + 13);
			load_put(d, key, val, &epoch);
			name[0] = '\0';
		}
	}
	fclose(f);
	CHECK("commit", dkv_batch_commit(d->batch));
}

static void load_files(struct demo *d)
{
	DIR *dir = opendir(DPKG_INFO);
	struct dirent *e;
	char path[1024], line[4096], key[4200], pkg[256];
	uint64_t epoch = 0;

	if (dir == NULL)
		return;
	while ((e = readdir(dir)) != NULL) {
		size_t n = strlen(e->d_name);
		FILE *f;

		if (n < 6 || strcmp(e->d_name + n - 5, ".list") != 0)
			continue;
		snprintf(pkg, sizeof(pkg), "%.*s", (int)(n - 5), e->d_name);
		snprintf(path, sizeof(path), "%s/%s", DPKG_INFO, e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] != '/' || line[1] == '\0')
				continue;
			snprintf(key, sizeof(key), "file%s", line);
			load_put(d, key, pkg, &epoch);
		}
		fclose(f);
	}
	closedir(dir);
	CHECK("commit", dkv_batch_commit(d->batch));
}

/* Upgrades every 7th package and removes every 50th, one batch per
 * package, each at its own epoch. Returns how many changed. */
struct upgrade {
	struct demo *d;
	int seen, upgraded, removed;
	char first[300];
};

static int upgrade_one(void *ctx, const char *k, size_t klen, const char *v,
		       size_t vlen, uint64_t epoch)
{
	struct upgrade *u = ctx;
	char key[300], val[512];
	uint64_t e;

	(void)epoch;
	if (klen >= sizeof(key) || vlen >= 400)
		return 0;
	memcpy(key, k, klen);
	key[klen] = '\0';
	u->seen++;
	if (u->seen % 7 == 0) {
		const char *sp = memchr(v, ' ', vlen);
		int vers = sp ? (int)(sp - v) : (int)vlen;

		snprintf(val, sizeof(val), "%.*s+dkv1%.*s", vers, v,
			 (int)vlen - vers, v + vers);
		e = epoch_now(u->d);
		CHECK("put", dkv_batch_put(u->d->batch, shard_of(key), key,
					   klen, val, strlen(val), e));
		if (u->upgraded++ == 0)
			snprintf(u->first, sizeof(u->first), "%s", key);
	} else if (u->seen % 50 == 0) {
		e = epoch_now(u->d);
		CHECK("del", dkv_batch_del(u->d->batch, shard_of(key), key,
					   klen, e));
		u->removed++;
	}
	return 0;
}

static void show_get(struct demo *d, const char *key, uint64_t epoch,
		     const char *label)
{
	char eb[DKV_EPOCH_STR_MAX], vb[DKV_EPOCH_STR_MAX];
	struct dkv_val v;
	int rc = dkv_store_get(d->store, shard_of(key), key, strlen(key), epoch,
			       &v);

	if (rc == DKV_ERR_NOT_FOUND) {
		printf("  %-10s %-28s -> (not found)\n", label, key);
		return;
	}
	if (rc < 0) {
		printf("  %-10s %-28s -> error: %s\n", label, key,
		       dkv_strerror(rc));
		return;
	}
	printf("  %-10s %-28s -> %.*s\n", label, key,
	       (int)(v.len > 50 ? 50 : v.len), v.data);
	printf("  %-10s %-28s    version at %s (read at %s)\n", "", "",
	       fmt_epoch(v.epoch, vb),
	       epoch == DKV_EPOCH_MAX ? "newest" : fmt_epoch(epoch, eb));
	dkv_val_release(&v);
}

static int print_item(void *ctx, const char *k, size_t klen, const char *v,
		      size_t vlen, uint64_t epoch)
{
	char eb[DKV_EPOCH_STR_MAX];

	(void)ctx;
	printf("  %-44.*s %-14.*s @ %s\n", (int)klen, k, (int)vlen, v,
	       fmt_epoch(epoch, eb));
	return 0;
}

static int print_version(void *ctx, uint64_t epoch, int tombstone,
			 const char *v, size_t vlen)
{
	char eb[DKV_EPOCH_STR_MAX];

	(void)ctx;
	printf("  %s  %s%.*s\n", fmt_epoch(epoch, eb),
	       tombstone ? "(deleted)" : "", (int)(vlen > 60 ? 60 : vlen), v);
	return 0;
}

static int count_item(void *ctx, const char *k, size_t klen, const char *v,
		      size_t vlen, uint64_t epoch)
{
	(void)k;
	(void)klen;
	(void)v;
	(void)vlen;
	(void)epoch;
	(*(uint64_t *)ctx)++;
	return 0;
}

static uint64_t count_all(struct dkv_store *st, uint64_t epoch)
{
	uint64_t n = 0;

	for (uint32_t s = 1; s <= NSHARDS; s++) {
		struct dkv_range r = { .epoch = epoch };

		CHECK("range", dkv_store_range(st, s, &r, count_item, &n,
					       NULL));
	}
	return n;
}

static int rm_one(const char *p, const struct stat *sb, int fl,
		  struct FTW *ftw)
{
	(void)sb;
	(void)fl;
	(void)ftw;
	return remove(p);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char dirbuf[256] = "", cpdir[300], eb[DKV_EPOCH_STR_MAX];
	const char *dir = NULL;
	struct dkv_store_opts so;
	struct demo d = { 0 };
	struct upgrade up = { 0 };
	uint64_t e_loaded, e_upgraded, wm, last_before, first_after, n;
	double t0, t1;
	int keep = 0, c;

	while ((c = getopt_long(argc, argv, "d:kh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'k':
			keep = 1;
			break;
		default:
			printf("usage: dkv-demo [--dir DIR] [--keep]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (dir == NULL) {
		snprintf(dirbuf, sizeof(dirbuf), "%s/dkv-demo-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (mkdtemp(dirbuf) == NULL) {
			perror("mkdtemp");
			return 1;
		}
		dir = dirbuf;
	}

	printf("dkv demo: the epoch manager and the versioned store on this "
	       "machine's package database\nstore: %s\n\n",
	       dir);
	dkv_store_opts_init(&so, dir);
	so.durability = DKV_DUR_GROUP;
	CHECK("open", dkv_store_open(&so, &d.store));
	for (uint32_t s = 1; s <= NSHARDS; s++)
		if (!dkv_store_shard_exists(d.store, s))
			CHECK("shard", dkv_store_shard_create(d.store, s));
	CHECK("batch", dkv_batch_create(d.store, &d.batch));
	clock_start(&d);

	printf("1. load (%d shards split by key range, batches of %d, "
	       "fsync per batch)\n",
	       NSHARDS, LOAD_BATCH);
	t0 = now_s();
	load_packages(&d);
	load_files(&d);
	t1 = now_s();
	e_loaded = dkv_hlc_last(d.hlc);
	printf("  %" PRIu64 " keys, %.1f MiB in %.2f s: %.0f keys/s\n\n",
	       d.nkeys, (double)d.nbytes / (1 << 20), t1 - t0,
	       (double)d.nkeys / (t1 - t0));

	printf("2. upgrade: every 7th package gets a new version, every 50th "
	       "is removed, each at its own epoch\n");
	{
		struct dkv_range r = { .start = "pkg/", .start_len = 4,
				       .epoch = e_loaded };

		up.d = &d;
		t0 = now_s();
		CHECK("range", dkv_store_range(d.store, shard_of("pkg/"), &r,
					       upgrade_one, &up, NULL));
		CHECK("commit", dkv_batch_commit(d.batch));
		t1 = now_s();
	}
	e_upgraded = dkv_hlc_last(d.hlc);
	printf("  %d upgraded, %d removed of %d packages in %.3f s\n\n",
	       up.upgraded, up.removed, up.seen, t1 - t0);

	printf("3. point reads, now and as of the load's epoch %s\n",
	       fmt_epoch(e_loaded, eb));
	show_get(&d, up.first, DKV_EPOCH_MAX, "now");
	show_get(&d, up.first, e_loaded, "at load");
	show_get(&d, "pkg/bash", DKV_EPOCH_MAX, "now");
	show_get(&d, "file/bin/bash", DKV_EPOCH_MAX, "now");
	show_get(&d, "pkg/no-such-package", DKV_EPOCH_MAX, "now");
	printf("\n");

	printf("4. range search inside one shard: files under /usr/bin/ from "
	       "'d' (first 8)\n");
	{
		struct dkv_range r = { .start = "file/usr/bin/d",
				       .start_len = 14,
				       .end = "file/usr/bin0",
				       .end_len = 13,
				       .epoch = DKV_EPOCH_MAX,
				       .limit = 8 };
		struct dkv_buf next;

		t0 = now_s();
		CHECK("range", dkv_store_range(d.store,
					       shard_of("file/usr/bin/"), &r,
					       print_item, NULL, &next));
		printf("  ... resumable: the next page starts after the anchor "
		       "(%zu bytes)\n",
		       next.len);
		dkv_buf_release(&next);
	}
	t0 = now_s();
	n = count_all(d.store, DKV_EPOCH_MAX);
	t1 = now_s();
	printf("  full scan of all shards at the newest epoch: %" PRIu64
	       " keys in %.3f s (%.0f keys/s)\n",
	       n, t1 - t0, (double)n / (t1 - t0));
	printf("  the same scan at the load's epoch: %" PRIu64 " keys\n\n",
	       count_all(d.store, e_loaded));

	printf("5. history of %s\n", up.first);
	CHECK("history", dkv_store_history(d.store, shard_of(up.first),
					   up.first, strlen(up.first), 1,
					   DKV_EPOCH_MAX, print_version, NULL));
	printf("\n");

	printf("6. checkpoint, then reopen it as a store\n");
	snprintf(cpdir, sizeof(cpdir), "%s/checkpoint", dir);
	{
		struct dkv_store_opts co = so;
		struct dkv_store *cp;

		t0 = now_s();
		CHECK("checkpoint", dkv_store_checkpoint(d.store, cpdir));
		co.path = cpdir;
		CHECK("open checkpoint", dkv_store_open(&co, &cp));
		n = count_all(cp, DKV_EPOCH_MAX);
		printf("  %s: %" PRIu64 " keys (%.2f s)\n\n", cpdir, n,
		       now_s() - t0);
		dkv_store_close(cp);
	}

	printf("7. history GC: watermark raised to the upgrade's end, "
	       "old versions compacted away\n");
	{
		uint64_t before = dkv_store_disk_bytes(d.store);

		for (uint32_t s = 1; s <= NSHARDS; s++)
			CHECK("gc", dkv_store_gc(d.store, s, e_upgraded, 1,
						 &wm));
		printf("  watermark %s; disk %.1f -> %.1f MiB\n",
		       fmt_epoch(wm, eb), (double)before / (1 << 20),
		       (double)dkv_store_disk_bytes(d.store) / (1 << 20));
	}
	show_get(&d, up.first, e_loaded, "at load");
	show_get(&d, up.first, e_upgraded, "at wm");
	printf("\n");

	printf("8. the clock across a restart whose wall clock went back "
	       "one hour\n");
	last_before = epoch_now(&d);
	dkv_hlc_destroy(d.hlc);
	d.wall_offset_ns = UINT64_C(3600) * 1000000000;
	clock_start(&d);
	first_after = epoch_now(&d);
	printf("  last epoch before: %s\n", fmt_epoch(last_before, eb));
	printf("  first epoch after: %s (%s)\n", fmt_epoch(first_after, eb),
	       first_after > last_before ? "later: monotonic" : "EARLIER: BUG");
	printf("  wall clock now:    %s\n",
	       fmt_epoch(dkv_epoch_from_unix_ns(demo_clock(&d)), eb));
	{
		uint64_t ahead = first_after + (UINT64_C(10) << 30);
		int rc = dkv_hlc_update(d.hlc, ahead);

		printf("  a peer's epoch 10 s ahead (%s): %s\n",
		       fmt_epoch(ahead, eb),
		       rc == 0 ? "merged" : dkv_strerror(rc));
	}

	dkv_hlc_destroy(d.hlc);
	dkv_batch_destroy(d.batch);
	dkv_store_close(d.store);
	if (!keep && dirbuf[0])
		nftw(dirbuf, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("\nstore kept in %s\n", dir);
	return first_after > last_before ? 0 : 1;
}
