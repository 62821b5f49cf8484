/*
 * cmd_snap.c - `dkv snapshot ...` (docs/snap.md, docs/cli.md): create,
 * list, show and destroy snapshots (libdkv's dkv_snap_*); export a
 * snapshot to files, import them into another (empty) cluster, diff two
 * snapshots; and --at for get and range (cli_open_at).
 *
 * Export and diff read every shard whole at the snapshot's epoch through
 * a read-only transaction (dkv_tx_open_snap + dkv_range_shard), a page
 * at a time: memory stays bounded whatever the data. The export format
 * (docs/snap.md, "Export format"), little-endian:
 *
 *   shard-<id>.dkvs  header   "DKVSNAP\0", u32 version (1), u32 shard,
 *                             u64 epoch, u32 nshards, u32 reserved (0)
 *                    records  u32 klen (>= 1), key, u32 vlen, value
 *                    trailer  u32 0 (end of records), u64 count,
 *                             u64 xxh3-64 of the record bytes,
 *                             "DKVSEND\0"
 *   manifest.json    written last: the snapshot, the epoch, the source's
 *                    sharding, per file its key count, size and checksum
 *
 * Import checks every file against the manifest (sizes, headers, every
 * record's lengths bounded by what is left of the file, counts, xxh3)
 * before it writes anything, refuses a target cluster that holds any key,
 * then puts every key through the normal routing of the target's map
 * (any shard count, any sharding family) from several threads.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "cli/cli.h"
#include "client/conn.h"
#include "hlc/hlc.h"
#include "shard/family.h"

#define HELP_OPT { "help", no_argument, NULL, 'H' }
#define OUTPUT_OPT { "output", required_argument, NULL, 'o' }

/* --- the export format ------------------------------------------------------ */

#define EXP_MAGIC "DKVSNAP"     /* + its NUL: 8 bytes */
#define EXP_END_MAGIC "DKVSEND" /* + its NUL: 8 bytes */
#define EXP_VERSION 1u
#define EXP_HDR_LEN 32u
#define EXP_TRAILER_LEN 28u /* u32 0, u64 count, u64 xxh3, 8-byte magic */
/* A record's sizes, bounded as the store bounds them (src/store/store.h:
 * DKV_STORE_MAX_KEY_LIMIT, DKV_STORE_MAX_VALUE_LIMIT), and always by
 * what is left of the file. */
#define EXP_KEY_MAX (1u << 20)
#define EXP_VALUE_MAX (512u << 20)
#define EXP_MANIFEST "manifest.json"
#define EXP_MANIFEST_MAX (64u << 20)
#define EXP_FORMAT_NAME "dkv-snapshot-export"

#define PAGE_DEFAULT 1000u  /* keys per range call of export and diff */
#define PAGE_MAX 100000u
#define EXP_THREADS_MAX 64u  /* shards exported at once, at most */
#define IMPORT_THREADS 8u
#define IMPORT_THREADS_MAX 256u
/* Import writes the keys of one target shard BATCH_KEYS at a time as
 * one transaction (a single round trip: one participant); a batch is
 * handed over at BATCH_KEYS records or BATCH_BYTES bytes, and every
 * partial batch once they hold PENDING_BYTES together. A record of
 * BATCH_BYTES or more is put on its own. */
#define BATCH_KEYS 256u
#define BATCH_BYTES (1u << 20)
#define PENDING_BYTES (32u << 20)
#define EMPTY_CHECK_ATTEMPTS 5
#define PROGRESS_MS 250u

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* --- common ----------------------------------------------------------------- */

/* -o/--output after the subcommand, as before it. 0 or -1. */
static int set_output(struct cli *cli, const char *arg)
{
	if (strcmp(arg, "table") == 0)
		cli->out = OUT_TABLE;
	else if (strcmp(arg, "plain") == 0)
		cli->out = OUT_PLAIN;
	else if (strcmp(arg, "json") == 0)
		cli->out = OUT_JSON;
	else if (strcmp(arg, "raw") == 0)
		cli->out = OUT_RAW;
	else
		return -1;
	return 0;
}

static void fmt_epoch(uint64_t epoch, char *buf)
{
	dkv_epoch_format(epoch, buf, DKV_EPOCH_STR_MAX);
}

static void fmt_ms(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char b[32];

	gmtime_r(&t, &tm);
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", b, (unsigned)(ms % 1000));
}

/* Resolves NAME (a snapshot) or EPOCH (decimal or a time) into *epoch;
 * info (may be NULL) gets the snapshot, its name empty for an epoch.
 * CLI_OK or an exit code after printing why. */
static int resolve_at(dkv_client_t *c, const char *cmd, const char *at,
		      uint64_t *epoch, struct dkv_snap_info *info)
{
	struct dkv_snap_info tmp;
	int rc;

	if (info == NULL)
		info = &tmp;
	memset(info, 0, sizeof(*info));
	if (at[0] >= '0' && at[0] <= '9') {
		/* Names start with a letter: this is an epoch or a time. */
		if (dkv_epoch_parse(at, epoch) != 0 || *epoch == 0 ||
		    *epoch == UINT64_MAX)
			return cli_usage_error(cmd, "bad epoch '%s': a decimal "
						    "epoch or a time as "
						    "2026-11-23T22:54:32Z",
					       at);
		info->ds_epoch = *epoch;
		return CLI_OK;
	}
	rc = dkv_snap_show(c, at, info);
	if (rc == DKV_ERR_NOT_FOUND || rc == DKV_ERR_INVAL) {
		cli_err("%s: no snapshot '%s'", cmd, at);
		return CLI_NOT_FOUND;
	}
	if (rc != DKV_OK)
		return cli_fail(cmd, rc);
	*epoch = info->ds_epoch;
	return CLI_OK;
}

int cli_open_at(struct cli *cli, dkv_client_t *c, const char *cmd,
		const char *at, dkv_tx_t **tx)
{
	uint64_t epoch = 0;
	int rc;

	*tx = NULL;
	if (cli->tx != NULL)
		return cli_usage_error(cmd, "--at cannot be used inside a "
					    "transaction (commit or abort "
					    "it first)");
	rc = resolve_at(c, cmd, at, &epoch, NULL);
	if (rc != CLI_OK)
		return rc;
	rc = dkv_tx_open_snap(c, epoch, tx);
	if (rc != DKV_OK)
		return cli_fail(cmd, rc);
	return CLI_OK;
}

/* Progress on stderr when it is a terminal: one line, rewritten. */
struct progress {
	int on;
	uint64_t t0, last;
	const char *what;
};

static void progress_init(struct progress *p, const char *what)
{
	p->on = isatty(STDERR_FILENO);
	p->t0 = p->last = dkv_now_ms();
	p->what = what;
}

static double rate(uint64_t n, uint64_t ms)
{
	return ms == 0 ? (double)n * 1000.0 : (double)n * 1000.0 / (double)ms;
}

static void progress_show(struct progress *p, uint64_t keys,
			  const char *where, int final)
{
	uint64_t now = dkv_now_ms();

	if (!p->on || (!final && now - p->last < PROGRESS_MS))
		return;
	p->last = now;
	fprintf(stderr, "\r%s: %s%s%llu keys, %.0f keys/s\033[K%s", p->what,
		where ? where : "", where ? ", " : "",
		(unsigned long long)keys, rate(keys, now - p->t0),
		final ? "\n" : "");
	fflush(stderr);
}

/* --- create, list, show, destroy -------------------------------------------- */

static json_t *info_json(const struct dkv_snap_info *s)
{
	json_t *j = json_object();
	char e[DKV_EPOCH_STR_MAX], t[48];

	fmt_epoch(s->ds_epoch, e);
	fmt_ms(s->ds_created_ms, t, sizeof(t));
	json_object_set_new(j, "name", json_string(s->ds_name));
	json_object_set_new(j, "epoch", json_integer((json_int_t)s->ds_epoch));
	json_object_set_new(j, "time", json_string(e));
	json_object_set_new(j, "created_ms",
			    json_integer((json_int_t)s->ds_created_ms));
	json_object_set_new(j, "created", json_string(t));
	return j;
}

/* Prints snapshots: one as an object (json), several as an array. */
static void print_infos(struct cli *cli, const struct dkv_snap_info *v,
			size_t n, int one)
{
	static const char *const hdr[4] = { "NAME", "EPOCH", "TIME",
					    "CREATED" };
	struct table *t;

	if (cli->out == OUT_JSON) {
		json_t *a;

		if (one) {
			json_print(info_json(&v[0]));
			return;
		}
		a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, info_json(&v[i]));
		json_print(a);
		return;
	}
	if (cli->out == OUT_RAW) {
		/* Each element on its own line, as range --output raw. */
		for (size_t i = 0; i < n; i++)
			printf("%s\n%llu\n%llu\n", v[i].ds_name,
			       (unsigned long long)v[i].ds_epoch,
			       (unsigned long long)v[i].ds_created_ms);
		return;
	}
	t = table_new(4, hdr);
	for (size_t i = 0; i < n; i++) {
		char ep[24], e[DKV_EPOCH_STR_MAX], c[48];
		const char *cells[4] = { v[i].ds_name, ep, e, c };

		snprintf(ep, sizeof(ep), "%llu",
			 (unsigned long long)v[i].ds_epoch);
		fmt_epoch(v[i].ds_epoch, e);
		fmt_ms(v[i].ds_created_ms, c, sizeof(c));
		table_add(t, cells);
	}
	table_print(t, cli->out);
	table_free(t);
	if (cli->out == OUT_TABLE && !one)
		fprintf(stderr, "(%zu snapshot%s)\n", n, n == 1 ? "" : "s");
}

/* Parses the options every small subcommand takes (--help, --output);
 * returns -1 to go on, else an exit code. */
static int simple_opts(struct cli *cli, int argc, char **argv,
		       const char *cmd, const char *help)
{
	static const struct option opts[] = { HELP_OPT, OUTPUT_OPT, { 0 } };
	int o;

	while ((o = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			fputs(help, stdout);
			return CLI_OK;
		case 'o':
			if (set_output(cli, optarg) != 0)
				return cli_usage_error(cmd, "bad --output '%s'",
						       optarg);
			break;
		default:
			return cli_try(cmd);
		}
	}
	return -1;
}

static int do_create(struct cli *cli, int argc, char **argv)
{
	struct dkv_snap_info info;
	dkv_client_t *c;
	int rc = simple_opts(
		cli, argc, argv, "snapshot create",
		"Usage: dkv snapshot create [NAME]\n"
		"Create a snapshot of the whole cluster: every write "
		"acknowledged before it\nbegan is in it, no transaction is "
		"partly in it, and it never changes.\nNAME: 1 to 128 bytes of "
		"[A-Za-z0-9._:-], starting with a letter (default:\n"
		"snap-<epoch>). Every node must be reachable.\n"
		"Output: NAME EPOCH TIME CREATED (json: an object; raw: name, "
		"epoch,\ncreated_ms each on its own line).\n");

	if (rc >= 0)
		return rc;
	if (argc - optind > 1)
		return cli_usage_error("snapshot create",
				       "snapshot create takes at most one NAME");
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	rc = dkv_snap_create(c, argc - optind == 1 ? argv[optind] : NULL,
			     &info);
	if (rc != DKV_OK)
		return cli_fail("snapshot create", rc);
	print_infos(cli, &info, 1, 1);
	return CLI_OK;
}

static int do_list(struct cli *cli, int argc, char **argv)
{
	struct dkv_snap_info *v = NULL;
	size_t n = 0;
	dkv_client_t *c;
	int rc = simple_opts(cli, argc, argv, "snapshot list",
			     "Usage: dkv snapshot list\n"
			     "List every snapshot, by epoch.\n"
			     "Output: NAME EPOCH TIME CREATED per line (json: "
			     "an array of objects).\n");

	if (rc >= 0)
		return rc;
	if (argc - optind != 0)
		return cli_usage_error("snapshot list",
				       "snapshot list takes no argument");
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	rc = dkv_snap_list(c, &v, &n);
	if (rc != DKV_OK)
		return cli_fail("snapshot list", rc);
	print_infos(cli, v, n, 0);
	dkv_free(v);
	return CLI_OK;
}

static int do_show(struct cli *cli, int argc, char **argv)
{
	struct dkv_snap_info info;
	dkv_client_t *c;
	int rc = simple_opts(cli, argc, argv, "snapshot show",
			     "Usage: dkv snapshot show NAME\n"
			     "Print the snapshot NAME. Exit status 1 when "
			     "there is none.\n");

	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error("snapshot show",
				       "snapshot show takes one NAME");
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	rc = dkv_snap_show(c, argv[optind], &info);
	if (rc == DKV_ERR_INVAL)
		rc = DKV_ERR_NOT_FOUND; /* not a name: no such snapshot */
	if (rc != DKV_OK)
		return cli_fail("snapshot show", rc);
	print_infos(cli, &info, 1, 1);
	return CLI_OK;
}

static int do_destroy(struct cli *cli, int argc, char **argv)
{
	dkv_client_t *c;
	int rc = simple_opts(cli, argc, argv, "snapshot destroy",
			     "Usage: dkv snapshot destroy NAME\n"
			     "Destroy the snapshot NAME: its versions may be "
			     "collected from then on.\nExit status 1 when "
			     "there is none.\n");

	if (rc >= 0)
		return rc;
	if (argc - optind != 1)
		return cli_usage_error("snapshot destroy",
				       "snapshot destroy takes one NAME");
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	rc = dkv_snap_destroy(c, argv[optind]);
	if (rc != DKV_OK)
		return cli_fail("snapshot destroy", rc);
	out_ok(cli->out);
	return CLI_OK;
}

/* --- export -------------------------------------------------------------- */

struct exp_file {
	FILE *f;
	char path[4096];
	XXH3_state_t *h;
	uint64_t count, bytes;
	int err; /* errno of a failed write */
};

struct exp_run {
	struct exp_file *ef;
	struct progress *pr;
	uint64_t total; /* keys of earlier shards */
	char where[64];
	/* Shared by the export's threads: keys done in all, and the lock
	 * of it and of the progress line. */
	pthread_mutex_t *lock;
	uint64_t *done;
};

static int ef_write(struct exp_file *ef, const void *p, size_t n, int hash)
{
	if (n > 0 && fwrite(p, 1, n, ef->f) != n) {
		ef->err = errno ? errno : EIO;
		return -1;
	}
	if (hash && n > 0)
		XXH3_64bits_update(ef->h, p, n);
	ef->bytes += n;
	return 0;
}

static int export_item(void *arg, const void *key, size_t klen,
		       const void *val, size_t vlen, uint64_t epoch)
{
	struct exp_run *r = arg;
	struct exp_file *ef = r->ef;
	unsigned char b[4];

	(void)epoch;
	if (klen == 0 || klen > EXP_KEY_MAX || vlen > EXP_VALUE_MAX) {
		cli_err("export: a record of %zu + %zu bytes is over the "
			"format's bounds",
			klen, vlen);
		return DKV_ERR_TOO_BIG;
	}
	put_u32(b, (uint32_t)klen);
	if (ef_write(ef, b, 4, 1) || ef_write(ef, key, klen, 1))
		return DKV_ERR_IO;
	put_u32(b, (uint32_t)vlen);
	if (ef_write(ef, b, 4, 1) || ef_write(ef, val, vlen, 1))
		return DKV_ERR_IO;
	ef->count++;
	return 0;
}

/* "DIR/name" into buf; -1 (printed) when it does not fit. */
static int join(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len) {
		cli_err("path too long: %s/%s", dir, name);
		return -1;
	}
	return 0;
}

/* Creates DIR, or accepts an existing empty directory. CLI_OK or an exit
 * code (printed). */
static int export_dir(const char *dir)
{
	struct dirent *de;
	DIR *d;
	int rc = CLI_OK;

	if (mkdir(dir, 0777) == 0)
		return CLI_OK;
	if (errno != EEXIST) {
		cli_err("export: cannot create %s: %s", dir, strerror(errno));
		return CLI_FAIL;
	}
	d = opendir(dir);
	if (d == NULL) {
		cli_err("export: %s exists and is not a directory we can read: "
			"%s",
			dir, strerror(errno));
		return CLI_FAIL;
	}
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			cli_err("export: %s exists and is not empty (it holds "
				"'%s'): give a new or empty directory",
				dir, de->d_name);
			rc = CLI_FAIL;
			break;
		}
	closedir(d);
	return rc;
}

/* Closes ef->f after flushing it to disk; -1 (errno kept) on failure. */
static int close_synced(FILE *f)
{
	int rc = 0;

	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* Writes one shard's file; fills its manifest entry. CLI_OK or an exit
 * code (printed). */
static int export_shard(dkv_client_t *c, dkv_tx_t *tx, const char *dir,
			uint32_t shard, uint32_t nshards, uint64_t epoch,
			uint32_t page, struct exp_run *r, json_t *files)
{
	struct dkv_anchor a = DKV_ANCHOR_INIT;
	struct exp_file ef;
	unsigned char hdr[EXP_HDR_LEN], tr[EXP_TRAILER_LEN];
	char name[64], hex[17];
	uint64_t digest;
	json_t *fj;
	int rc = CLI_FAIL, n, io = 0; /* 1: report ef.err */

	memset(&ef, 0, sizeof(ef));
	snprintf(name, sizeof(name), "shard-%u.dkvs", shard);
	if (join(ef.path, sizeof(ef.path), dir, name) != 0)
		goto out;
	ef.h = XXH3_createState();
	if (ef.h == NULL || XXH3_64bits_reset(ef.h) != XXH_OK) {
		cli_err("export: out of memory");
		goto out;
	}
	ef.f = fopen(ef.path, "wbx");
	if (ef.f == NULL) {
		cli_err("export: cannot create %s: %s", ef.path,
			strerror(errno));
		goto out;
	}
	setvbuf(ef.f, NULL, _IOFBF, 1u << 20);
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, EXP_MAGIC, 8);
	put_u32(hdr + 8, EXP_VERSION);
	put_u32(hdr + 12, shard);
	put_u64(hdr + 16, epoch);
	put_u32(hdr + 24, nshards);
	if (ef_write(&ef, hdr, sizeof(hdr), 0) != 0) {
		io = 1;
		goto out;
	}
	r->ef = &ef;
	snprintf(r->where, sizeof(r->where), "shard %u/%u", shard + 1,
		 nshards);
	while (!dkv_anchor_is_eof(&a)) {
		n = dkv_range_shard(c, tx, shard, 0, NULL, 0, NULL, 0, page, &a,
				    export_item, r);
		if (n < 0) {
			io = ef.err != 0;
			if (!io && n != DKV_ERR_TOO_BIG)
				cli_fail("export", n);
			goto out;
		}
		pthread_mutex_lock(r->lock);
		*r->done += ef.count - r->total;
		r->total = ef.count;
		progress_show(r->pr, *r->done, r->where, 0);
		pthread_mutex_unlock(r->lock);
	}
	digest = XXH3_64bits_digest(ef.h);
	memset(tr, 0, sizeof(tr));
	put_u32(tr, 0);
	put_u64(tr + 4, ef.count);
	put_u64(tr + 12, digest);
	memcpy(tr + 20, EXP_END_MAGIC, 8);
	if (ef_write(&ef, tr, sizeof(tr), 0) != 0) {
		io = 1;
		goto out;
	}
	n = close_synced(ef.f);
	ef.f = NULL;
	if (n != 0) {
		ef.err = errno;
		io = 1;
		goto out;
	}
	snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)digest);
	fj = json_object();
	json_object_set_new(fj, "shard", json_integer(shard));
	json_object_set_new(fj, "file", json_string(name));
	json_object_set_new(fj, "keys", json_integer((json_int_t)ef.count));
	json_object_set_new(fj, "bytes", json_integer((json_int_t)ef.bytes));
	json_object_set_new(fj, "xxh3", json_string(hex));
	json_array_append_new(files, fj);
	rc = CLI_OK;
out:
	if (io)
		cli_err("export: cannot write %s: %s", ef.path,
			strerror(ef.err));
	dkv_anchor_fini(&a);
	if (ef.f != NULL)
		fclose(ef.f);
	XXH3_freeState(ef.h);
	r->ef = NULL;
	return rc;
}

/* The export's threads: each opens its own read-only transaction at the
 * epoch and takes the next shard until none is left or one failed. */
struct exp_pool {
	dkv_client_t *c;
	const char *dir;
	uint64_t epoch;
	uint32_t nshards, page;
	pthread_mutex_t lock;
	uint32_t next;
	int failed;
	uint64_t done;
	struct progress *pr;
	json_t **entries; /* nshards, each shard's manifest entry */
};

static void *exp_worker(void *arg)
{
	struct exp_pool *pl = arg;
	dkv_tx_t *tx = NULL;

	if (dkv_tx_open_snap(pl->c, pl->epoch, &tx) != DKV_OK) {
		cli_err("export: %s", dkv_last_error());
		pthread_mutex_lock(&pl->lock);
		pl->failed = 1;
		pthread_mutex_unlock(&pl->lock);
		return NULL;
	}
	for (;;) {
		struct exp_run r;
		json_t *files;
		uint32_t s;
		int rc;

		pthread_mutex_lock(&pl->lock);
		s = pl->next++;
		if (pl->failed || s >= pl->nshards) {
			pthread_mutex_unlock(&pl->lock);
			break;
		}
		pthread_mutex_unlock(&pl->lock);
		memset(&r, 0, sizeof(r));
		r.pr = pl->pr;
		r.lock = &pl->lock;
		r.done = &pl->done;
		files = json_array();
		rc = files != NULL
			     ? export_shard(pl->c, tx, pl->dir, s, pl->nshards,
					    pl->epoch, pl->page, &r, files)
			     : CLI_FAIL;
		pthread_mutex_lock(&pl->lock);
		if (rc != CLI_OK)
			pl->failed = 1;
		else
			pl->entries[s] = json_incref(json_array_get(files, 0));
		pthread_mutex_unlock(&pl->lock);
		json_decref(files);
	}
	dkv_tx_close(tx);
	return NULL;
}

/* The map's "family" object (the sharding), or null. */
static json_t *map_family(dkv_client_t *c)
{
	char *js = NULL;
	json_t *root, *fam = NULL;

	if (dkv_cluster_map(c, 0, &js, NULL) != DKV_OK)
		return json_null();
	root = json_loads(js, 0, NULL);
	dkv_free(js);
	if (root != NULL)
		fam = json_incref(json_object_get(root, "family"));
	json_decref(root);
	return fam != NULL ? fam : json_null();
}

/* Writes DIR/manifest.json (through a temporary file, renamed, the
 * directory synced). */
static int write_manifest(const char *dir, json_t *m)
{
	char path[4096], tmp[4096];
	FILE *f = NULL;
	int rc = CLI_FAIL, fd;

	if (join(path, sizeof(path), dir, EXP_MANIFEST) != 0 ||
	    join(tmp, sizeof(tmp), dir, EXP_MANIFEST ".tmp") != 0)
		return CLI_FAIL;
	f = fopen(tmp, "wx");
	if (f == NULL ||
	    json_dumpf(m, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0 ||
	    fputc('\n', f) == EOF)
		goto out;
	fd = close_synced(f);
	f = NULL;
	if (fd != 0 || rename(tmp, path) != 0)
		goto out;
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		(void)fsync(fd); /* the rename itself durable */
		close(fd);
	}
	rc = CLI_OK;
out:
	if (rc != CLI_OK)
		cli_err("export: cannot write %s: %s", path, strerror(errno));
	if (f != NULL)
		fclose(f);
	return rc;
}

static int do_export(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT,
		OUTPUT_OPT,
		{ "page", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ 0 },
	};
	struct dkv_snap_info info;
	struct progress pr;
	struct exp_pool pl;
	pthread_t th[EXP_THREADS_MAX];
	uint64_t page = PAGE_DEFAULT, epoch = 0, ms, nthreads = 4;
	size_t started = 0;
	uint32_t nshards = 0;
	dkv_client_t *c;
	json_t *m = NULL, *files = NULL;
	const char *dir;
	char e[DKV_EPOCH_STR_MAX];
	int o, rc = CLI_FAIL;

	while ((o = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			printf("Usage: dkv snapshot export NAME DIR [--page N] "
			       "[--threads T]\n"
			       "Write every key of the snapshot NAME (or of an "
			       "EPOCH) into DIR, one file\nper shard "
			       "(shard-<id>.dkvs), then DIR/manifest.json "
			       "(docs/snap.md,\n\"Export format\"). DIR must "
			       "not exist or be empty. Memory stays bounded:\n"
			       "each shard is read N keys at a time "
			       "(--page, default %u), T shards at a time "
			       "(--threads, default 4).\n"
			       "Progress on standard error when it is a "
			       "terminal.\n",
			       PAGE_DEFAULT);
			return CLI_OK;
		case 'o':
			if (set_output(cli, optarg) != 0)
				return cli_usage_error("snapshot export",
						       "bad --output '%s'",
						       optarg);
			break;
		case 'p':
			if (cli_parse_u64(optarg, 1, PAGE_MAX, &page) != 0)
				return cli_usage_error("snapshot export",
						       "bad --page '%s' "
						       "(1..%u)",
						       optarg, PAGE_MAX);
			break;
		case 't':
			if (cli_parse_u64(optarg, 1, EXP_THREADS_MAX,
					  &nthreads) != 0)
				return cli_usage_error("snapshot export",
						       "bad --threads '%s' "
						       "(1..%u)",
						       optarg,
						       EXP_THREADS_MAX);
			break;
		default:
			return cli_try("snapshot export");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("snapshot export",
				       "snapshot export takes NAME DIR");
	dir = argv[optind + 1];
	if (cli->client == NULL)
		cli->range_batch = (uint32_t)page;
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	memset(&pl, 0, sizeof(pl));
	pthread_mutex_init(&pl.lock, NULL);
	rc = resolve_at(c, "snapshot export", argv[optind], &epoch, &info);
	if (rc != CLI_OK)
		goto out;
	rc = CLI_FAIL;
	if (export_dir(dir) != CLI_OK)
		goto out;
	if (dkv_shard_count(c, &nshards) != DKV_OK) {
		cli_err("export: %s", dkv_last_error());
		goto out;
	}
	files = json_array();
	progress_init(&pr, "export");
	pl.c = c;
	pl.dir = dir;
	pl.epoch = epoch;
	pl.nshards = nshards;
	pl.page = (uint32_t)page;
	pl.pr = &pr;
	pl.entries = calloc(nshards ? nshards : 1, sizeof(*pl.entries));
	if (pl.entries == NULL || files == NULL) {
		cli_err("export: out of memory");
		goto out;
	}
	if (nthreads > nshards)
		nthreads = nshards ? nshards : 1;
	for (; started < nthreads; started++)
		if (pthread_create(&th[started], NULL, exp_worker, &pl) != 0)
			break;
	if (started == 0)
		exp_worker(&pl);
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	for (uint32_t s = 0; !pl.failed && s < nshards; s++)
		if (pl.entries[s] == NULL)
			pl.failed = 1;
	if (pl.failed) {
		if (pr.on)
			fputc('\n', stderr);
		cli_err("export: incomplete (no %s written): %s is not "
			"a usable export",
			EXP_MANIFEST, dir);
		goto out;
	}
	for (uint32_t s = 0; s < nshards; s++) {
		json_array_append(files, pl.entries[s]);
	}
	progress_show(&pr, pl.done, NULL, 1);
	ms = dkv_now_ms() - pr.t0;
	fmt_epoch(epoch, e);
	m = json_object();
	json_object_set_new(m, "format", json_string(EXP_FORMAT_NAME));
	json_object_set_new(m, "version", json_integer(EXP_VERSION));
	json_object_set_new(m, "snapshot", info.ds_name[0]
						   ? json_string(info.ds_name)
						   : json_null());
	json_object_set_new(m, "epoch", json_integer((json_int_t)epoch));
	json_object_set_new(m, "time", json_string(e));
	json_object_set_new(m, "shards", json_integer(nshards));
	json_object_set_new(m, "sharding", map_family(c));
	json_object_set_new(m, "keys", json_integer((json_int_t)pl.done));
	json_object_set_new(m, "files", files);
	files = NULL;
	if (write_manifest(dir, m) != CLI_OK)
		goto out;
	if (cli->out == OUT_JSON) {
		json_t *j = json_object();

		json_object_set_new(j, "snapshot", json_string(info.ds_name));
		json_object_set_new(j, "epoch", json_integer((json_int_t)epoch));
		json_object_set_new(j, "dir", json_string(dir));
		json_object_set_new(j, "shards", json_integer(nshards));
		json_object_set_new(j, "keys", json_integer((json_int_t)pl.done));
		json_object_set_new(j, "seconds", json_real((double)ms / 1000));
		json_object_set_new(j, "keys_per_s",
				    json_real(rate(pl.done, ms)));
		json_print(j);
	} else if (cli->out != OUT_RAW) {
		printf("exported %llu keys of %u shards at epoch %llu to %s in "
		       "%.2f s (%.0f keys/s)\n",
		       (unsigned long long)pl.done, nshards,
		       (unsigned long long)epoch, dir, (double)ms / 1000,
		       rate(pl.done, ms));
	}
	rc = CLI_OK;
out:
	json_decref(files);
	json_decref(m);
	for (uint32_t s = 0; pl.entries != NULL && s < nshards; s++)
		json_decref(pl.entries[s]);
	free(pl.entries);
	pthread_mutex_destroy(&pl.lock);
	return rc;
}

/* --- reading an export ---------------------------------------------------- */

struct mf_file {
	uint32_t shard;
	uint64_t keys, bytes, xxh3;
	char name[64];
};

struct manifest {
	uint64_t epoch, keys;
	uint32_t shards;
	char snapshot[DKV_SNAP_NAME_MAX + 1];
	struct mf_file *files; /* shards entries, by shard */
};

/* A u64 from a JSON integer (>= 0). */
static int json_u64(json_t *v, uint64_t max, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* Reads and checks DIR/manifest.json. CLI_OK or an exit code (printed). */
static int manifest_load(const char *dir, struct manifest *m)
{
	char path[4096], *buf = NULL;
	json_t *root = NULL, *fs, *v;
	json_error_t jerr;
	struct stat st;
	uint64_t u, sum = 0;
	FILE *f = NULL;
	int rc = CLI_FAIL;

	memset(m, 0, sizeof(*m));
	if (join(path, sizeof(path), dir, EXP_MANIFEST) != 0)
		goto out;
	f = fopen(path, "rb");
	if (f == NULL) {
		cli_err("import: cannot open %s: %s (not an export, or an "
			"incomplete one)",
			path, strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0 || (uint64_t)st.st_size > EXP_MANIFEST_MAX) {
		cli_err("import: %s: not a regular file of 1 to %u bytes",
			path, EXP_MANIFEST_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size);
	if (buf == NULL ||
	    fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		cli_err("import: cannot read %s", path);
		goto out;
	}
	root = json_loadb(buf, (size_t)st.st_size, 0, &jerr);
	if (root == NULL) {
		cli_err("import: %s: bad JSON at line %d: %s", path, jerr.line,
			jerr.text);
		goto out;
	}
	v = json_object_get(root, "format");
	if (!json_is_string(v) ||
	    strcmp(json_string_value(v), EXP_FORMAT_NAME) != 0 ||
	    json_u64(json_object_get(root, "version"), UINT32_MAX, &u) != 0 ||
	    u != EXP_VERSION) {
		cli_err("import: %s: not a version %u dkv snapshot export",
			path, EXP_VERSION);
		goto out;
	}
	if (json_u64(json_object_get(root, "epoch"), UINT64_MAX - 1,
		     &m->epoch) != 0 ||
	    m->epoch == 0 ||
	    json_u64(json_object_get(root, "shards"), DKV_SHARDS_MAX,
		     &u) != 0 ||
	    u == 0 ||
	    json_u64(json_object_get(root, "keys"), UINT64_MAX, &m->keys) !=
		    0) {
		cli_err("import: %s: bad or missing epoch, shards or keys",
			path);
		goto out;
	}
	m->shards = (uint32_t)u;
	v = json_object_get(root, "snapshot");
	if (json_is_string(v))
		snprintf(m->snapshot, sizeof(m->snapshot), "%s",
			 json_string_value(v));
	fs = json_object_get(root, "files");
	if (!json_is_array(fs) || json_array_size(fs) != m->shards) {
		cli_err("import: %s: expected %u entries in \"files\"", path,
			m->shards);
		goto out;
	}
	m->files = calloc(m->shards, sizeof(*m->files));
	if (m->files == NULL) {
		cli_err("import: out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < m->shards; i++) {
		json_t *e = json_array_get(fs, i), *nm, *h;
		struct mf_file *mf = &m->files[i];
		uint64_t sh;
		char want[64], *end;

		nm = json_object_get(e, "file");
		h = json_object_get(e, "xxh3");
		if (json_u64(json_object_get(e, "shard"), UINT32_MAX, &sh) ||
		    sh != i ||
		    json_u64(json_object_get(e, "keys"), UINT64_MAX,
			     &mf->keys) ||
		    json_u64(json_object_get(e, "bytes"), UINT64_MAX,
			     &mf->bytes) ||
		    !json_is_string(nm) || !json_is_string(h) ||
		    strlen(json_string_value(h)) != 16) {
			cli_err("import: %s: bad entry %u of \"files\"", path,
				i);
			goto out;
		}
		/* Only our own names: nothing outside DIR is ever read. */
		snprintf(want, sizeof(want), "shard-%u.dkvs", i);
		if (strcmp(json_string_value(nm), want) != 0) {
			cli_err("import: %s: entry %u names '%s', expected "
				"'%s'",
				path, i, json_string_value(nm), want);
			goto out;
		}
		errno = 0;
		mf->xxh3 = strtoull(json_string_value(h), &end, 16);
		if (errno != 0 || *end != '\0') {
			cli_err("import: %s: bad xxh3 of entry %u", path, i);
			goto out;
		}
		mf->shard = i;
		snprintf(mf->name, sizeof(mf->name), "%s", want);
		if (sum + mf->keys < sum) {
			cli_err("import: %s: key counts overflow", path);
			goto out;
		}
		sum += mf->keys;
	}
	if (sum != m->keys) {
		cli_err("import: %s: the files hold %llu keys, the total says "
			"%llu",
			path, (unsigned long long)sum,
			(unsigned long long)m->keys);
		goto out;
	}
	rc = CLI_OK;
out:
	if (rc != CLI_OK) {
		free(m->files);
		m->files = NULL;
	}
	json_decref(root);
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}

/* A growable byte buffer. */
struct buf {
	char *p;
	size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 65536;
	char *p;

	if (b->len + more <= b->cap)
		return 0;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL)
		return -1;
	b->p = p;
	b->cap = cap;
	return 0;
}

/* One export file being read: bounded by what is left of it. */
struct rd {
	FILE *f;
	char path[4096];
	uint64_t left; /* record bytes left (the trailer excluded) */
	XXH3_state_t *h;
	uint64_t count;
};

static void rd_close(struct rd *r)
{
	if (r->f != NULL)
		fclose(r->f);
	r->f = NULL;
	XXH3_freeState(r->h);
	r->h = NULL;
}

static int rd_bad(const struct rd *r, const char *why)
{
	cli_err("import: %s: %s: the export is damaged or was altered",
		r->path, why);
	return -1;
}

/* Reads n record bytes into dst (NULL: only hashed), hashing them. */
static int rd_take(struct rd *r, void *dst, size_t n)
{
	char scratch[65536];

	if (n > r->left)
		return rd_bad(r, "a record runs past the end of the records");
	while (n > 0) {
		size_t k = dst ? n : (n < sizeof(scratch) ? n : sizeof(scratch));
		char *p = dst ? dst : scratch;

		if (fread(p, 1, k, r->f) != k)
			return rd_bad(r, "short read");
		XXH3_64bits_update(r->h, p, k);
		r->left -= k;
		n -= k;
		if (dst != NULL)
			dst = (char *)dst + k;
	}
	return 0;
}

/* Opens the file of mf and checks its size and header. */
static int rd_open(struct rd *r, const char *dir, const struct manifest *m,
		   const struct mf_file *mf)
{
	unsigned char hdr[EXP_HDR_LEN];
	struct stat st;

	memset(r, 0, sizeof(*r));
	if (join(r->path, sizeof(r->path), dir, mf->name) != 0)
		return -1;
	r->f = fopen(r->path, "rb");
	if (r->f == NULL) {
		cli_err("import: cannot open %s: %s", r->path, strerror(errno));
		return -1;
	}
	setvbuf(r->f, NULL, _IOFBF, 1u << 20);
	r->h = XXH3_createState();
	if (r->h == NULL || XXH3_64bits_reset(r->h) != XXH_OK) {
		cli_err("import: out of memory");
		return -1;
	}
	if (fstat(fileno(r->f), &st) != 0 || !S_ISREG(st.st_mode))
		return rd_bad(r, "not a regular file");
	if ((uint64_t)st.st_size != mf->bytes)
		return rd_bad(r, "its size differs from the manifest's");
	if (mf->bytes < EXP_HDR_LEN + EXP_TRAILER_LEN)
		return rd_bad(r, "too short");
	if (fread(hdr, 1, sizeof(hdr), r->f) != sizeof(hdr))
		return rd_bad(r, "short read");
	if (memcmp(hdr, EXP_MAGIC, 8) != 0)
		return rd_bad(r, "not a dkv snapshot export file");
	if (get_u32(hdr + 8) != EXP_VERSION)
		return rd_bad(r, "unknown format version");
	if (get_u32(hdr + 12) != mf->shard || get_u64(hdr + 16) != m->epoch ||
	    get_u32(hdr + 24) != m->shards || get_u32(hdr + 28) != 0)
		return rd_bad(r, "its header disagrees with the manifest");
	r->left = mf->bytes - EXP_HDR_LEN - EXP_TRAILER_LEN;
	return 0;
}

/* The next record: 1 and its bytes appended to b (key then value; b
 * NULL: skipped) with their sizes, 0 after the last one, -1 (printed). */
static int rd_next(struct rd *r, struct buf *b, uint32_t *klen,
		   uint32_t *vlen)
{
	unsigned char n4[4];

	if (r->left == 0)
		return 0;
	if (rd_take(r, n4, 4) != 0)
		return -1;
	*klen = get_u32(n4);
	if (*klen == 0 || *klen > EXP_KEY_MAX || *klen > r->left)
		return rd_bad(r, "a key length out of bounds");
	if (b != NULL && buf_reserve(b, *klen) != 0) {
		cli_err("import: out of memory");
		return -1;
	}
	if (rd_take(r, b ? b->p + b->len : NULL, *klen) != 0)
		return -1;
	if (b != NULL)
		b->len += *klen;
	if (rd_take(r, n4, 4) != 0)
		return -1;
	*vlen = get_u32(n4);
	if (*vlen > EXP_VALUE_MAX || *vlen > r->left)
		return rd_bad(r, "a value length out of bounds");
	if (b != NULL && buf_reserve(b, *vlen) != 0) {
		cli_err("import: out of memory");
		return -1;
	}
	if (rd_take(r, b ? b->p + b->len : NULL, *vlen) != 0)
		return -1;
	if (b != NULL)
		b->len += *vlen;
	r->count++;
	return 1;
}

/* After the last record: the trailer against the count, the checksum and
 * the manifest. */
static int rd_finish(struct rd *r, const struct mf_file *mf)
{
	unsigned char tr[EXP_TRAILER_LEN];
	uint64_t digest = XXH3_64bits_digest(r->h);

	if (fread(tr, 1, sizeof(tr), r->f) != sizeof(tr))
		return rd_bad(r, "short read in the trailer");
	if (get_u32(tr) != 0 || memcmp(tr + 20, EXP_END_MAGIC, 8) != 0)
		return rd_bad(r, "bad trailer");
	if (get_u64(tr + 4) != r->count || r->count != mf->keys)
		return rd_bad(r, "the key count differs from the trailer's or "
				 "the manifest's");
	if (get_u64(tr + 12) != digest || digest != mf->xxh3)
		return rd_bad(r, "checksum mismatch (xxh3 of the records)");
	if (fgetc(r->f) != EOF)
		return rd_bad(r, "bytes after the trailer");
	return 0;
}

/* Reads every file of the export whole and checks it. */
static int verify_all(const char *dir, const struct manifest *m,
		      struct progress *pr)
{
	uint64_t seen = 0;

	for (uint32_t i = 0; i < m->shards; i++) {
		struct rd r;
		uint32_t kl, vl;
		int n;

		if (rd_open(&r, dir, m, &m->files[i]) != 0) {
			rd_close(&r);
			return -1;
		}
		while ((n = rd_next(&r, NULL, &kl, &vl)) == 1)
			progress_show(pr, ++seen, "verifying", 0);
		if (n == 0)
			n = rd_finish(&r, &m->files[i]);
		rd_close(&r);
		if (n != 0)
			return -1;
	}
	return 0;
}

/* --- import: the target must be empty -------------------------------------- */

static int stop_at_first(void *arg, const void *key, size_t klen,
			 const void *val, size_t vlen, uint64_t epoch)
{
	(void)val, (void)vlen, (void)epoch;
	*(char **)arg = out_escape(key, klen);
	return 1;
}

/* CLI_OK when no shard of the target holds a key, else an exit code. */
static int target_empty(dkv_client_t *c)
{
	uint32_t n = 0;
	dkv_tx_t *tx = NULL;
	char *key = NULL;
	int rc = CLI_FAIL, r = 0;

	if (dkv_shard_count(c, &n) != DKV_OK || dkv_tx_open(c, 0, &tx) != 0) {
		cli_err("import: %s", dkv_last_error());
		goto out;
	}
	for (uint32_t s = 0; s < n; s++) {
		for (int a = 0; a < EMPTY_CHECK_ATTEMPTS; a++) {
			r = dkv_range_shard(c, tx, s, 0, NULL, 0, NULL, 0, 1,
					    NULL, stop_at_first, &key);
			if (r != DKV_ERR_TX_RESTART)
				break;
			(void)dkv_tx_restart(tx);
		}
		if (r < 0) {
			cli_fail("import: checking that the target is empty",
				 r);
			goto out;
		}
		if (key != NULL) {
			cli_err("import: the target cluster is not empty "
				"(shard %u holds '%s', for one): import "
				"loads into an empty cluster only",
				s, key);
			goto out;
		}
	}
	rc = CLI_OK;
out:
	free(key);
	dkv_tx_close(tx);
	return rc;
}

/* --- import: loading -------------------------------------------------------- */

struct batch {
	struct batch *next;
	uint32_t n;
	uint32_t klen[BATCH_KEYS], vlen[BATCH_KEYS];
	struct buf data; /* key, value, key, value, ... */
};

struct loader {
	dkv_client_t *c;
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	struct batch *head, *tail;
	unsigned queued, max_queued;
	int closed;  /* no more batches will come */
	int failed;  /* a write failed: stop */
	char why[600];
	uint64_t done; /* keys written (atomic) */
};

static void batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	free(b->data.p);
	free(b);
}

static void loader_fail(struct loader *l, const char *why)
{
	pthread_mutex_lock(&l->lock);
	if (!l->failed) {
		l->failed = 1;
		snprintf(l->why, sizeof(l->why), "%s", why);
	}
	pthread_cond_broadcast(&l->more);
	pthread_cond_broadcast(&l->room);
	pthread_mutex_unlock(&l->lock);
}

struct batch_run {
	struct loader *l;
	const struct batch *b;
};

/* dkv_tx_run's body: every record of the batch. */
static int batch_body(dkv_tx_t *tx, void *arg)
{
	struct batch_run *br = arg;
	const struct batch *b = br->b;
	size_t off = 0;

	for (uint32_t i = 0; i < b->n; i++) {
		const char *k = b->data.p + off;
		int rc = dkv_put(br->l->c, tx, 0, k, b->klen[i], k + b->klen[i],
				 b->vlen[i]);

		if (rc != DKV_OK)
			return rc;
		off += (size_t)b->klen[i] + b->vlen[i];
	}
	return 0;
}

/* Writes a batch: one transaction, or a plain put for one record. */
static int batch_write(struct loader *l, const struct batch *b)
{
	struct batch_run br = { l, b };

	if (b->n == 1)
		return dkv_put(l->c, NULL, 0, b->data.p, b->klen[0],
			       b->data.p + b->klen[0], b->vlen[0]);
	return dkv_tx_run(l->c, 0, batch_body, &br, NULL);
}

static void *loader_worker(void *arg)
{
	struct loader *l = arg;

	for (;;) {
		struct batch *b;
		int rc;

		pthread_mutex_lock(&l->lock);
		while (l->head == NULL && !l->closed && !l->failed)
			pthread_cond_wait(&l->more, &l->lock);
		b = l->failed ? NULL : l->head;
		if (b != NULL) {
			l->head = b->next;
			if (l->head == NULL)
				l->tail = NULL;
			l->queued--;
			pthread_cond_signal(&l->room);
		}
		pthread_mutex_unlock(&l->lock);
		if (b == NULL)
			break;
		rc = batch_write(l, b);
		if (rc < 0) {
			char why[600];

			snprintf(why, sizeof(why), "%s%s%s", dkv_strerror(rc),
				 *dkv_last_error() ? ": " : "",
				 dkv_last_error());
			loader_fail(l, why);
		} else {
			__atomic_add_fetch(&l->done, b->n, __ATOMIC_RELAXED);
		}
		batch_free(b);
		if (rc < 0)
			break;
	}
	return NULL;
}

/* Hands b to the workers (waits while the queue is full); takes b. -1
 * when the load failed meanwhile. */
static int loader_push(struct loader *l, struct batch *b)
{
	int rc = 0;

	pthread_mutex_lock(&l->lock);
	while (l->queued >= l->max_queued && !l->failed)
		pthread_cond_wait(&l->room, &l->lock);
	if (l->failed) {
		rc = -1;
	} else {
		b->next = NULL;
		if (l->tail != NULL)
			l->tail->next = b;
		else
			l->head = b;
		l->tail = b;
		l->queued++;
		pthread_cond_signal(&l->more);
		b = NULL;
	}
	pthread_mutex_unlock(&l->lock);
	batch_free(b);
	return rc;
}

static int loader_failed(struct loader *l)
{
	int f;

	pthread_mutex_lock(&l->lock);
	f = l->failed;
	pthread_mutex_unlock(&l->lock);
	return f;
}

/* The partial batches of the target's shards. */
struct pending {
	struct batch **by_shard;
	uint32_t nshards;
	size_t bytes; /* in all of them */
};

/* Appends the record in rec (key then value) to b, a new batch when b is
 * NULL. 0 or -1 (out of memory, printed). */
static int batch_add(struct batch **b, const struct buf *rec, uint32_t kl,
		     uint32_t vl)
{
	if (*b == NULL) {
		*b = calloc(1, sizeof(**b));
		if (*b == NULL)
			goto nomem;
	}
	if (buf_reserve(&(*b)->data, rec->len) != 0)
		goto nomem;
	memcpy((*b)->data.p + (*b)->data.len, rec->p, rec->len);
	(*b)->data.len += rec->len;
	(*b)->klen[(*b)->n] = kl;
	(*b)->vlen[(*b)->n] = vl;
	(*b)->n++;
	return 0;
nomem:
	cli_err("import: out of memory");
	return -1;
}

/* Hands over every partial batch. */
static int pending_flush(struct loader *l, struct pending *pd)
{
	for (uint32_t i = 0; i < pd->nshards; i++) {
		struct batch *b = pd->by_shard[i];

		if (b == NULL)
			continue;
		pd->by_shard[i] = NULL;
		pd->bytes -= b->data.len;
		if (loader_push(l, b) != 0)
			return -1;
	}
	return 0;
}

/* Routes one record to its target shard's batch; hands over what is
 * full. 0 or -1. */
static int pending_add(struct loader *l, struct pending *pd,
		       const struct buf *rec, uint32_t kl, uint32_t vl)
{
	struct batch *one = NULL, **bp;
	uint32_t shard = 0;
	int rc;

	if (rec->len >= BATCH_BYTES) {
		/* Large: on its own (a plain put). */
		if (batch_add(&one, rec, kl, vl) != 0)
			return -1;
		return loader_push(l, one);
	}
	rc = dkv_shard_of(l->c, rec->p, kl, &shard, NULL, 0);
	if (rc != DKV_OK) {
		cli_fail("import: routing a key", rc);
		return -1;
	}
	if (shard >= pd->nshards)
		shard = 0; /* a newer map grew: routing is libdkv's anyway */
	bp = &pd->by_shard[shard];
	if (batch_add(bp, rec, kl, vl) != 0)
		return -1;
	pd->bytes += rec->len;
	if ((*bp)->n == BATCH_KEYS || (*bp)->data.len >= BATCH_BYTES) {
		struct batch *b = *bp;

		*bp = NULL;
		pd->bytes -= b->data.len;
		if (loader_push(l, b) != 0)
			return -1;
	}
	if (pd->bytes >= PENDING_BYTES)
		return pending_flush(l, pd);
	return 0;
}

/* Reads every file again (checking it again) and feeds the workers. */
static int load_files(struct loader *l, const char *dir,
		      const struct manifest *m, struct progress *pr)
{
	struct pending pd = { NULL, 0, 0 };
	struct buf rec = { NULL, 0, 0 };
	int rc = -1;

	if (dkv_shard_count(l->c, &pd.nshards) != DKV_OK) {
		cli_err("import: %s", dkv_last_error());
		goto out;
	}
	pd.by_shard = calloc(pd.nshards, sizeof(*pd.by_shard));
	if (pd.by_shard == NULL) {
		cli_err("import: out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < m->shards; i++) {
		struct rd r;
		uint32_t kl, vl;
		char where[64];
		int n;

		snprintf(where, sizeof(where), "file %u/%u", i + 1, m->shards);
		if (rd_open(&r, dir, m, &m->files[i]) != 0) {
			rd_close(&r);
			goto out;
		}
		for (;;) {
			rec.len = 0;
			n = rd_next(&r, &rec, &kl, &vl);
			if (n != 1)
				break;
			if (pending_add(l, &pd, &rec, kl, vl) != 0) {
				n = -1;
				break;
			}
			progress_show(pr,
				      __atomic_load_n(&l->done,
						      __ATOMIC_RELAXED),
				      where, 0);
		}
		if (n == 0)
			n = rd_finish(&r, &m->files[i]);
		rd_close(&r);
		if (n != 0)
			goto out;
	}
	if (pending_flush(l, &pd) != 0)
		goto out;
	rc = 0;
out:
	for (uint32_t i = 0; pd.by_shard != NULL && i < pd.nshards; i++)
		batch_free(pd.by_shard[i]);
	free(pd.by_shard);
	free(rec.p);
	return rc;
}

static int do_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT,
		OUTPUT_OPT,
		{ "threads", required_argument, NULL, 't' },
		{ 0 },
	};
	struct manifest m = { 0 };
	struct progress pr;
	struct loader l;
	pthread_t *th = NULL;
	uint64_t threads = IMPORT_THREADS, ms;
	unsigned started = 0;
	int o, rc = CLI_FAIL, lock_init = 0, fed;
	dkv_client_t *c;
	const char *dir;

	while ((o = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			printf("Usage: dkv snapshot import DIR [--threads N]\n"
			       "Load an export (dkv snapshot export) into this "
			       "cluster, which must hold no\nkey. It may have "
			       "another shard count or sharding family: keys "
			       "are routed\nby its own map. Every file is "
			       "checked against DIR/manifest.json (sizes,\n"
			       "counts, xxh3 checksums) before anything is "
			       "written; a damaged or altered\nexport is "
			       "refused (exit status 3).\n\n"
			       "  --threads N  writers in parallel (default "
			       "%u)\n",
			       IMPORT_THREADS);
			return CLI_OK;
		case 'o':
			if (set_output(cli, optarg) != 0)
				return cli_usage_error("snapshot import",
						       "bad --output '%s'",
						       optarg);
			break;
		case 't':
			if (cli_parse_u64(optarg, 1, IMPORT_THREADS_MAX,
					  &threads) != 0)
				return cli_usage_error("snapshot import",
						       "bad --threads '%s' "
						       "(1..%u)",
						       optarg,
						       IMPORT_THREADS_MAX);
			break;
		default:
			return cli_try("snapshot import");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("snapshot import",
				       "snapshot import takes DIR");
	dir = argv[optind];
	memset(&l, 0, sizeof(l));
	progress_init(&pr, "import");
	if (manifest_load(dir, &m) != CLI_OK)
		goto out;
	/* Every byte checked before anything is written. */
	if (verify_all(dir, &m, &pr) != 0) {
		if (pr.on)
			fputc('\n', stderr);
		cli_err("import: refused: nothing was written");
		goto out;
	}
	c = cli_client(cli);
	if (c == NULL)
		goto out;
	if (target_empty(c) != CLI_OK)
		goto out;
	l.c = c;
	l.max_queued = 2 * (unsigned)threads;
	pthread_mutex_init(&l.lock, NULL);
	pthread_cond_init(&l.more, NULL);
	pthread_cond_init(&l.room, NULL);
	lock_init = 1;
	th = calloc(threads, sizeof(*th));
	if (th == NULL) {
		cli_err("import: out of memory");
		goto out;
	}
	pr.t0 = dkv_now_ms();
	for (; started < threads; started++)
		if (pthread_create(&th[started], NULL, loader_worker, &l) != 0) {
			cli_err("import: cannot start a thread");
			loader_fail(&l, "");
			break;
		}
	fed = started == threads ? load_files(&l, dir, &m, &pr) : -1;
	if (fed != 0)
		loader_fail(&l, "");
	pthread_mutex_lock(&l.lock);
	l.closed = 1;
	pthread_cond_broadcast(&l.more);
	pthread_mutex_unlock(&l.lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	ms = dkv_now_ms() - pr.t0;
	progress_show(&pr, l.done, NULL, 1);
	if (loader_failed(&l)) {
		if (l.why[0] != '\0')
			cli_err("import: a write failed: %s", l.why);
		cli_err("import: stopped after %llu of %llu keys: the target "
			"holds a part of the export",
			(unsigned long long)l.done, (unsigned long long)m.keys);
		goto out;
	}
	if (cli->out == OUT_JSON) {
		json_t *j = json_object();

		json_object_set_new(j, "snapshot", json_string(m.snapshot));
		json_object_set_new(j, "epoch", json_integer((json_int_t)m.epoch));
		json_object_set_new(j, "keys", json_integer((json_int_t)l.done));
		json_object_set_new(j, "seconds", json_real((double)ms / 1000));
		json_object_set_new(j, "keys_per_s", json_real(rate(l.done, ms)));
		json_print(j);
	} else if (cli->out != OUT_RAW) {
		printf("imported %llu keys in %.2f s (%.0f keys/s)\n",
		       (unsigned long long)l.done, (double)ms / 1000,
		       rate(l.done, ms));
	}
	rc = CLI_OK;
out:
	while (l.head != NULL) {
		struct batch *b = l.head;

		l.head = b->next;
		batch_free(b);
	}
	if (lock_init) {
		pthread_cond_destroy(&l.room);
		pthread_cond_destroy(&l.more);
		pthread_mutex_destroy(&l.lock);
	}
	free(th);
	free(m.files);
	return rc;
}

/* --- diff -------------------------------------------------------------------- */

/* One snapshot's keys of one shard, a page at a time. */
struct dstream {
	dkv_client_t *c;
	dkv_tx_t *tx;
	uint32_t shard, page;
	struct dkv_anchor a;
	size_t *koff, *klen, *voff, *vlen; /* page entries (page of them) */
	size_t n, i;
	struct buf data;
	int nomem;
};

static int dstream_item(void *arg, const void *key, size_t klen,
			const void *val, size_t vlen, uint64_t epoch)
{
	struct dstream *s = arg;

	(void)epoch;
	if (s->n >= s->page || buf_reserve(&s->data, klen + vlen) != 0) {
		s->nomem = 1;
		return DKV_ERR_NOMEM;
	}
	s->koff[s->n] = s->data.len;
	s->klen[s->n] = klen;
	memcpy(s->data.p + s->data.len, key, klen);
	s->data.len += klen;
	s->voff[s->n] = s->data.len;
	s->vlen[s->n] = vlen;
	if (vlen > 0)
		memcpy(s->data.p + s->data.len, val, vlen);
	s->data.len += vlen;
	s->n++;
	return 0;
}

/* 1 when the stream has a current item, 0 at its end, < 0 an error. */
static int dstream_peek(struct dstream *s)
{
	while (s->i >= s->n) {
		int rc;

		if (dkv_anchor_is_eof(&s->a))
			return 0;
		s->n = s->i = 0;
		s->data.len = 0;
		rc = dkv_range_shard(s->c, s->tx, s->shard, 0, NULL, 0, NULL, 0,
				     s->page, &s->a, dstream_item, s);
		if (rc < 0)
			return rc;
	}
	return 1;
}

static void dstream_reset(struct dstream *s, uint32_t shard)
{
	dkv_anchor_fini(&s->a);
	s->shard = shard;
	s->n = s->i = 0;
	s->data.len = 0;
}

static int dstream_init(struct dstream *s, dkv_client_t *c, uint64_t epoch,
			uint32_t page)
{
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->page = page;
	s->koff = calloc(page, sizeof(size_t));
	s->klen = calloc(page, sizeof(size_t));
	s->voff = calloc(page, sizeof(size_t));
	s->vlen = calloc(page, sizeof(size_t));
	if (!s->koff || !s->klen || !s->voff || !s->vlen)
		return DKV_ERR_NOMEM;
	return dkv_tx_open_snap(c, epoch, &s->tx);
}

static void dstream_fini(struct dstream *s)
{
	dkv_anchor_fini(&s->a);
	dkv_tx_close(s->tx);
	free(s->koff);
	free(s->klen);
	free(s->voff);
	free(s->vlen);
	free(s->data.p);
}

static int key_cmp(const struct dstream *x, const struct dstream *y)
{
	size_t a = x->klen[x->i], b = y->klen[y->i];
	int r = memcmp(x->data.p + x->koff[x->i], y->data.p + y->koff[y->i],
		       a < b ? a : b);

	if (r != 0)
		return r;
	return a < b ? -1 : a > b;
}

static int same_value(const struct dstream *x, const struct dstream *y)
{
	return x->vlen[x->i] == y->vlen[y->i] &&
	       memcmp(x->data.p + x->voff[x->i], y->data.p + y->voff[y->i],
		      x->vlen[x->i]) == 0;
}

static void diff_line(struct cli *cli, char op, const struct dstream *s)
{
	const char *k = s->data.p + s->koff[s->i];
	size_t kl = s->klen[s->i];

	if (cli->out == OUT_JSON) {
		json_t *j = json_object();
		char o[2] = { op, '\0' };

		json_object_set_new(j, "op", json_string(o));
		json_object_set_new(j, "change",
				    json_string(op == '+'   ? "added"
						: op == '-' ? "removed"
							    : "changed"));
		json_set_bytes(j, "key", k, kl);
		json_print(j);
	} else if (cli->out == OUT_RAW) {
		printf("%c ", op);
		out_raw(k, kl);
		putchar('\n');
	} else {
		char *e = out_escape(k, kl);

		printf("%c %s\n", op, e);
		free(e);
	}
}

static json_t *side_json(const char *arg, const struct dkv_snap_info *i)
{
	json_t *j = json_object();

	json_object_set_new(j, "arg", json_string(arg));
	json_object_set_new(j, "name",
			    i->ds_name[0] ? json_string(i->ds_name)
					  : json_null());
	json_object_set_new(j, "epoch", json_integer((json_int_t)i->ds_epoch));
	return j;
}

static int do_diff(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT,
		OUTPUT_OPT,
		{ "page", required_argument, NULL, 'p' },
		{ 0 },
	};
	struct dkv_snap_info ia, ib;
	struct dstream sa, sb;
	struct progress pr;
	uint64_t page = PAGE_DEFAULT, ea = 0, eb = 0;
	uint64_t added = 0, removed = 0, changed = 0, same = 0;
	uint32_t nshards = 0;
	dkv_client_t *c;
	int o, rc = CLI_FAIL, r = 0, inited = 0;

	while ((o = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			printf("Usage: dkv snapshot diff A B [--page N]\n"
			       "What changed from snapshot A to snapshot B "
			       "(names, or epochs): one line\nper key, "
			       "'+ KEY' added in B, '- KEY' removed, '~ KEY' "
			       "its value changed,\ngrouped by shard and in "
			       "key order within a shard, then a summary.\n"
			       "Reads both a page of N keys at a time (--page, "
			       "default %u): memory stays\nbounded.\n"
			       "json: one object per line {\"op\", \"change\", "
			       "\"key\" (or \"key_hex\")}, then\n{\"summary\": "
			       "{\"added\", \"removed\", \"changed\", "
			       "\"unchanged\"}, \"a\", \"b\"}.\n",
			       PAGE_DEFAULT);
			return CLI_OK;
		case 'o':
			if (set_output(cli, optarg) != 0)
				return cli_usage_error("snapshot diff",
						       "bad --output '%s'",
						       optarg);
			break;
		case 'p':
			if (cli_parse_u64(optarg, 1, PAGE_MAX, &page) != 0)
				return cli_usage_error("snapshot diff",
						       "bad --page '%s' "
						       "(1..%u)",
						       optarg, PAGE_MAX);
			break;
		default:
			return cli_try("snapshot diff");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("snapshot diff", "snapshot diff takes A B");
	if (cli->client == NULL)
		cli->range_batch = (uint32_t)page;
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	rc = resolve_at(c, "snapshot diff", argv[optind], &ea, &ia);
	if (rc == CLI_OK)
		rc = resolve_at(c, "snapshot diff", argv[optind + 1], &eb, &ib);
	if (rc != CLI_OK)
		return rc;
	rc = CLI_FAIL;
	inited = 1;
	r = dstream_init(&sa, c, ea, (uint32_t)page);
	if (r == DKV_OK)
		r = dstream_init(&sb, c, eb, (uint32_t)page);
	else
		memset(&sb, 0, sizeof(sb));
	if (r == DKV_OK)
		r = dkv_shard_count(c, &nshards);
	if (r != DKV_OK)
		goto out;
	progress_init(&pr, "diff");
	for (uint32_t s = 0; s < nshards; s++) {
		dstream_reset(&sa, s);
		dstream_reset(&sb, s);
		for (;;) {
			int ha = dstream_peek(&sa), hb, cmp;

			if (ha < 0) {
				r = ha;
				goto out;
			}
			hb = dstream_peek(&sb);
			if (hb < 0) {
				r = hb;
				goto out;
			}
			if (!ha && !hb)
				break;
			cmp = !ha ? 1 : !hb ? -1 : key_cmp(&sa, &sb);
			if (cmp < 0) {
				diff_line(cli, '-', &sa);
				removed++;
				sa.i++;
			} else if (cmp > 0) {
				diff_line(cli, '+', &sb);
				added++;
				sb.i++;
			} else {
				if (!same_value(&sa, &sb)) {
					diff_line(cli, '~', &sb);
					changed++;
				} else {
					same++;
				}
				sa.i++;
				sb.i++;
			}
		}
		progress_show(&pr, added + removed + changed + same, NULL, 0);
	}
	if (pr.on && pr.last != pr.t0)
		fputs("\r\033[K", stderr);
	if (cli->out == OUT_JSON) {
		json_t *j = json_object(), *sm = json_object();

		json_object_set_new(sm, "added", json_integer((json_int_t)added));
		json_object_set_new(sm, "removed",
				    json_integer((json_int_t)removed));
		json_object_set_new(sm, "changed",
				    json_integer((json_int_t)changed));
		json_object_set_new(sm, "unchanged",
				    json_integer((json_int_t)same));
		json_object_set_new(j, "summary", sm);
		json_object_set_new(j, "a", side_json(argv[optind], &ia));
		json_object_set_new(j, "b", side_json(argv[optind + 1], &ib));
		json_print(j);
	} else if (cli->out != OUT_RAW) {
		printf("%llu added, %llu removed, %llu changed, %llu "
		       "unchanged\n",
		       (unsigned long long)added, (unsigned long long)removed,
		       (unsigned long long)changed, (unsigned long long)same);
	}
	rc = CLI_OK;
out:
	if (rc != CLI_OK)
		rc = cli_fail("snapshot diff",
			      sa.nomem || sb.nomem ? DKV_ERR_NOMEM : r);
	if (inited) {
		dstream_fini(&sa);
		dstream_fini(&sb);
	}
	return rc;
}

/* --- the command ------------------------------------------------------------- */

int cmd_snapshot(struct cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct cli *, int, char **);
	} subs[] = {
		{ "create", do_create }, { "list", do_list },
		{ "show", do_show },     { "destroy", do_destroy },
		{ "export", do_export }, { "import", do_import },
		{ "diff", do_diff },
	};

	if (argc >= 2)
		for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
			if (strcmp(argv[1], subs[i].name) == 0)
				return subs[i].fn(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		printf("Usage: dkv snapshot COMMAND [ARG]... [--output FORMAT] "
		       "[--help]\n"
		       "Cluster-wide snapshots (docs/snap.md): a name and "
		       "the epoch at which every\nnode's data stays readable "
		       "until the snapshot is destroyed.\n\n"
		       "  create [NAME]      take a snapshot now\n"
		       "  list               every snapshot, by epoch\n"
		       "  show NAME          one snapshot\n"
		       "  destroy NAME       let its versions be collected\n"
		       "  export NAME DIR    write its keys to files in DIR\n"
		       "  import DIR         load an export into an empty "
		       "cluster\n"
		       "  diff A B           keys added, removed, changed "
		       "from A to B\n\n"
		       "Read at a snapshot: dkv get --at NAME KEY, dkv range "
		       "--at NAME START END\n"
		       "(NAME or an epoch). 'dkv snapshot COMMAND --help' "
		       "describes a command.\n");
		return CLI_OK;
	}
	return cli_usage_error("snapshot", "expected create, list, show, "
					   "destroy, export, import or diff");
}
