/*
 * bench_store.c - benchmark of the versioned store (src/store/store.h).
 *
 * Phases (bench/README.md says what each one measures):
 *   load, put                 DKV_DUR_NONE store, one thread
 *   get 1v, get new/10v,      random point reads at the newest epoch of keys
 *   get old/10v               with one version and of keys with ten, and at
 *                             an epoch that selects the first of the ten
 *   range 10, range 100       ordered scans from random start keys
 *   durable fsync             DKV_DUR_FSYNC store, one writer
 *   group commit              DKV_DUR_GROUP store, 1, 8 and 64 writers
 *   memory                    budgets vs cache, memtables and RSS, after the
 *                             load and with 64 shards in a fresh store
 *
 * Every phase is bounded by an op count and by --seconds and stops by
 * itself. Each op is timed with CLOCK_MONOTONIC into an array allocated
 * before the phase starts; percentiles are read from the sorted array.
 * Speed never fails the run: the exit code is 1 only if an operation failed
 * (or a read returned something other than what was written).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "dkv_err.h"
#include "hlc/hlc.h"
#include "server/committer.h"
#include "store/store.h"

#define PROG "dkv-bench-store"

#define KEY_FMT "key%010ld"
#define KEY_LEN 13		/* "key" + 10 digits */
#define KEY_MAX 9999999999L	/* what 10 digits hold */
#define LOAD_BATCH 100		/* records per load batch */
#define VERSIONS 10		/* versions per key of the second key set */
#define RANGE_SHORT 10
#define RANGE_LONG 100
#define DURABLE_OPS 5000	/* cap per writer of the durable phases */
#define MEM_SHARDS 64
#define MEM_RECORDS 100		/* records written into each of them */
#define MAX_OPS 50000000L	/* 400 MB of latency samples */
#define MAX_VALUE (1L << 20)

/* Shards of the DKV_DUR_NONE store. */
#define SHARD_1V 1	/* the loaded keys: one version each */
#define SHARD_10V 2	/* the second key set: VERSIONS versions each */
#define SHARD_PUT 3	/* target of the put phase (keeps SHARD_1V at 1v) */

#define DEF_KEYS 100000L
#define DEF_VSIZE 100L
#define DEF_OPS 200000L
#define DEF_SECONDS 5.0
#define QUICK_KEYS 2000L
#define QUICK_OPS 2000L
#define QUICK_SECONDS 0.5
#define QUICK_DURABLE_OPS 100

#define TARGET_GET_RATIO 1.5
#define TARGET_GROUP_SPEEDUP 15.0

struct cfg {
	const char *dir; /* NULL: a fresh mkdtemp directory, removed */
	long keys;
	long vsize;
	long ops;
	double seconds;
	int quick;
	int json;
};

struct bench {
	struct cfg cfg;
	struct dkv_hlc *hlc;
	struct dkv_committer *committer; /* phase 8b */
	char *valbuf;         /* 2 * vsize + 1 random bytes */
	long durable_ops;     /* cap per writer of the durable phases */
	char base[PATH_MAX];  /* directory of every store */
	int remove_base;      /* base was made here: remove it at the end */
	int failed;
};

struct worker;
typedef int (*op_fn)(struct worker *w, uint64_t i);

/* One phase: what to run, on what, and its bounds. */
struct phase {
	const char *name;
	struct bench *b;
	struct dkv_store *store;
	uint32_t shard;
	op_fn op;
	int writes;          /* ops need a batch */
	long nkeys;          /* keys 0 .. nkeys-1 exist (or are written) */
	uint64_t epoch;      /* read epoch */
	uint64_t ep_lo, ep_hi; /* a read must return an epoch in here */
	size_t range_len;
	int threads;
	uint64_t cap;        /* ops per thread */
	uint64_t warmup;     /* untimed ops before the start (one thread) */
	pthread_barrier_t start;
	uint64_t deadline;   /* CLOCK_MONOTONIC ns */
};

struct worker {
	struct phase *ph;
	int idx;             /* 0 .. threads-1 */
	uint64_t rng;
	struct dkv_batch *batch;
	uint64_t *lat;       /* ns per op, cap entries */
	uint64_t n;          /* ops done */
	uint64_t items;      /* records loaded / range items read */
	int rc;              /* first failure */
	const char *why;     /* text for a failed check, or NULL */
	char key[32];
	pthread_t tid;
};

struct result {
	const char *name;
	int threads;
	uint64_t ops;        /* records for the load */
	double secs;
	double ops_s;
	double mean_us, p50_us, p95_us, p99_us, p999_us, max_us;
	/* Extras; < 0 when not applicable. */
	double items_s;
	double p50_ratio, mean_ratio;
	double speedup;
	char note[96];
};

/* Memory figures at one point. */
struct memsnap {
	uint64_t rss;
	uint64_t cache;
	uint64_t memtable;
};

/* --- helpers ---------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: per-thread, no locks. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(2685821657736338717);
}

static long rng_below(uint64_t *s, long n)
{
	return (long)(rng_next(s) % (uint64_t)n);
}

static uint64_t rng_seed(uint64_t salt)
{
	uint64_t s = UINT64_C(0x9e3779b97f4a7c15) * (salt + 1) ^ now_ns();

	return s ? s : 1;
}

static void key_make(char *buf, long i)
{
	snprintf(buf, 32, KEY_FMT, i);
}

/* A value of vsize bytes at a random offset of the random buffer. */
static const char *val_pick(const struct bench *b, uint64_t *rng)
{
	return b->valbuf + rng_below(rng, b->cfg.vsize + 1);
}

static uint64_t rss_bytes(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	long page = sysconf(_SC_PAGESIZE);

	if (f == NULL)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &res) != 2)
		res = 0;
	fclose(f);
	return (uint64_t)res * (uint64_t)(page > 0 ? page : 4096);
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

static int fail(struct bench *b, int rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, PROG ": %s: %s (%s)\n", what,
			dkv_strerror(rc), dkv_errname(rc));
		b->failed = 1;
	}
	return rc;
}

/* --- directories ------------------------------------------------------ */

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int empty = 1;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		empty = 0;
		break;
	}
	closedir(d);
	return empty;
}

/* --dir DIR is used as is (made if missing, must be empty, kept at the
 * end); otherwise a fresh directory is made and removed at the end. */
static int base_prepare(struct bench *b)
{
	const char *tmp = getenv("TMPDIR");
	int n;

	if (b->cfg.dir != NULL) {
		n = snprintf(b->base, sizeof(b->base), "%s", b->cfg.dir);
		if (n < 0 || (size_t)n >= sizeof(b->base) - 32)
			return DKV_ERR_INVAL;
		if (mkdir(b->base, 0755) != 0 && errno != EEXIST) {
			fprintf(stderr, PROG ": mkdir %s: %s\n", b->base,
				strerror(errno));
			return DKV_ERR_IO;
		}
		if (!dir_is_empty(b->base)) {
			fprintf(stderr, PROG ": %s is not an empty directory\n",
				b->base);
			return DKV_ERR_EXISTS;
		}
		return DKV_OK;
	}
	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	n = snprintf(b->base, sizeof(b->base), "%s/dkv-bench-XXXXXX", tmp);
	if (n < 0 || (size_t)n >= sizeof(b->base) - 32)
		return DKV_ERR_INVAL;
	if (mkdtemp(b->base) == NULL) {
		fprintf(stderr, PROG ": mkdtemp %s: %s\n", b->base,
			strerror(errno));
		return DKV_ERR_IO;
	}
	b->remove_base = 1;
	return DKV_OK;
}

static int store_open(struct bench *b, const char *name,
		      enum dkv_durability dur, struct dkv_store **out)
{
	char path[PATH_MAX + 32];
	struct dkv_store_opts o;

	snprintf(path, sizeof(path), "%s/%s", b->base, name);
	dkv_store_opts_init(&o, path);
	o.durability = dur;
	return fail(b, dkv_store_open(&o, out), name);
}

/* --- ops: each returns 0 or a code; timed one by one ------------------ */

/* Batch i of the load: keys [i * LOAD_BATCH, +LOAD_BATCH), one epoch. */
static int op_load(struct worker *w, uint64_t i)
{
	struct phase *ph = w->ph;
	long first = (long)i * LOAD_BATCH, last = first + LOAD_BATCH;
	uint64_t e;
	int rc;

	if (last > ph->nkeys)
		last = ph->nkeys;
	rc = dkv_hlc_now(ph->b->hlc, &e);
	for (long k = first; rc == 0 && k < last; k++) {
		key_make(w->key, k);
		rc = dkv_batch_put(w->batch, ph->shard, w->key, KEY_LEN,
				   val_pick(ph->b, &w->rng),
				   (size_t)ph->b->cfg.vsize, e);
	}
	if (rc == 0)
		rc = dkv_batch_commit(w->batch);
	if (rc == 0)
		w->items += (uint64_t)(last - first);
	return rc;
}

/* One single-record batch at a random key, at a new epoch. */
static int op_put(struct worker *w, uint64_t i)
{
	struct phase *ph = w->ph;
	uint64_t e;
	int rc;

	(void)i;
	/* Concurrent writers own disjoint keys: versions of one key must
	 * be committed in epoch order (store.h), and each writer takes its
	 * epoch on its own. */
	key_make(w->key, ph->threads > 1
				 ? w->idx + ph->threads *
						    rng_below(&w->rng,
							      ph->nkeys /
								      ph->threads)
				 : rng_below(&w->rng, ph->nkeys));
	rc = dkv_hlc_now(ph->b->hlc, &e);
	if (rc == 0)
		rc = dkv_batch_put(w->batch, ph->shard, w->key, KEY_LEN,
				   val_pick(ph->b, &w->rng),
				   (size_t)ph->b->cfg.vsize, e);
	if (rc == 0)
		rc = dkv_batch_commit(w->batch);
	return rc;
}

/* A point read of a random key at ph->epoch, checked. */
static int op_get(struct worker *w, uint64_t i)
{
	struct phase *ph = w->ph;
	struct dkv_val v;
	int rc;

	(void)i;
	key_make(w->key, rng_below(&w->rng, ph->nkeys));
	rc = dkv_store_get(ph->store, ph->shard, w->key, KEY_LEN, ph->epoch,
			   &v);
	if (rc != 0)
		return rc;
	if (v.len != (size_t)ph->b->cfg.vsize) {
		w->why = "get returned a value of the wrong size";
		rc = DKV_ERR_CORRUPT;
	} else if (v.epoch < ph->ep_lo || v.epoch > ph->ep_hi) {
		w->why = "get returned a version from the wrong epoch";
		rc = DKV_ERR_CORRUPT;
	}
	dkv_val_release(&v);
	return rc;
}

static int range_cb(void *ctx, const char *key, size_t klen, const char *val,
		    size_t vlen, uint64_t epoch)
{
	uint64_t *bytes = ctx;

	(void)key;
	(void)val;
	(void)epoch;
	*bytes += klen + vlen;
	return 0;
}

/* range_len keys from a random start key at the newest epoch, checked. */
static int op_range(struct worker *w, uint64_t i)
{
	struct phase *ph = w->ph;
	long span = ph->nkeys - (long)ph->range_len + 1;
	struct dkv_range r;
	uint64_t bytes = 0;
	int rc;

	(void)i;
	key_make(w->key, rng_below(&w->rng, span > 0 ? span : 1));
	memset(&r, 0, sizeof(r));
	r.start = w->key;
	r.start_len = KEY_LEN;
	r.epoch = DKV_EPOCH_MAX;
	r.limit = ph->range_len;
	rc = dkv_store_range(ph->store, ph->shard, &r, range_cb, &bytes, NULL);
	if (rc < 0)
		return rc;
	w->items += (uint64_t)rc;
	if ((size_t)rc != ph->range_len && span > 0) {
		w->why = "range returned fewer items than asked";
		return DKV_ERR_CORRUPT;
	}
	return 0;
}

/* --- running a phase -------------------------------------------------- */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct phase *ph = w->ph;

	if (ph->threads > 1)
		pthread_barrier_wait(&ph->start);
	while (w->n < ph->cap) {
		uint64_t t0 = now_ns(), t1;
		int rc = ph->op(w, w->n);

		t1 = now_ns();
		if (rc < 0) {
			w->rc = rc;
			break;
		}
		w->lat[w->n++] = t1 - t0;
		if (t1 >= ph->deadline)
			break;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double pct_us(const uint64_t *s, size_t n, double q)
{
	double rank = q * (double)n;
	size_t i = (size_t)rank;

	if (n == 0)
		return 0;
	if ((double)i < rank) /* rank rounded up, then 0-based */
		i++;
	i = i == 0 ? 0 : i - 1;
	if (i >= n)
		i = n - 1;
	return (double)s[i] / 1000.0;
}

static void result_init(struct result *r, const char *name, int threads)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	r->threads = threads;
	r->items_s = r->p50_ratio = r->mean_ratio = r->speedup = -1;
}

/* Merges and sorts the workers' samples into r. */
static int result_fill(struct result *r, struct worker *ws, int nw,
		       uint64_t elapsed, int count_items)
{
	uint64_t total = 0, items = 0, *all;
	double sum = 0;
	size_t at = 0;

	for (int t = 0; t < nw; t++) {
		total += ws[t].n;
		items += ws[t].items;
	}
	all = malloc((total ? total : 1) * sizeof(*all));
	if (all == NULL)
		return DKV_ERR_NOMEM;
	for (int t = 0; t < nw; t++) {
		memcpy(all + at, ws[t].lat, ws[t].n * sizeof(*all));
		at += ws[t].n;
	}
	qsort(all, total, sizeof(*all), cmp_u64);
	for (size_t i = 0; i < total; i++)
		sum += (double)all[i];
	r->secs = (double)elapsed / 1e9;
	r->ops = count_items ? items : total;
	r->ops_s = r->secs > 0 ? (double)r->ops / r->secs : 0;
	r->mean_us = total ? sum / (double)total / 1000.0 : 0;
	r->p50_us = pct_us(all, total, 0.50);
	r->p95_us = pct_us(all, total, 0.95);
	r->p99_us = pct_us(all, total, 0.99);
	r->p999_us = pct_us(all, total, 0.999);
	r->max_us = total ? (double)all[total - 1] / 1000.0 : 0;
	if (!count_items && items > 0 && r->secs > 0)
		r->items_s = (double)items / r->secs;
	free(all);
	return DKV_OK;
}

static void workers_free(struct worker *ws, int n)
{
	for (int t = 0; t < n; t++) {
		dkv_batch_destroy(ws[t].batch);
		free(ws[t].lat);
	}
	free(ws);
}

/* Untimed reads first, so the timed ones do not measure a cold cache. */
static int phase_warmup(struct phase *ph)
{
	struct worker w;
	uint64_t deadline = now_ns() + (uint64_t)(ph->b->cfg.seconds * 1e9);
	int rc = 0;

	memset(&w, 0, sizeof(w));
	w.ph = ph;
	w.rng = rng_seed(1000);
	for (uint64_t i = 0; i < ph->warmup && rc == 0; i++) {
		rc = ph->op(&w, i);
		if ((i & 255) == 0 && now_ns() >= deadline)
			break;
	}
	if (rc < 0 && w.why != NULL)
		fprintf(stderr, PROG ": %s (warm-up): %s\n", ph->name, w.why);
	return rc;
}

/* Runs ph on ph->threads threads into r (load: ops counted in records). */
static int phase_run(struct phase *ph, struct result *r)
{
	struct worker *ws = calloc((size_t)ph->threads, sizeof(*ws));
	size_t lat_bytes = (ph->cap ? ph->cap : 1) * sizeof(uint64_t);
	uint64_t start, end;
	int rc = DKV_OK, started = 0;

	result_init(r, ph->name, ph->threads);
	if (ws == NULL)
		return fail(ph->b, DKV_ERR_NOMEM, ph->name);
	if (ph->warmup > 0) {
		rc = phase_warmup(ph);
		if (rc < 0)
			goto out;
	}
	for (int t = 0; t < ph->threads; t++) {
		ws[t].ph = ph;
		ws[t].idx = t;
		ws[t].rng = rng_seed((uint64_t)t);
		ws[t].lat = malloc(lat_bytes);
		if (ws[t].lat == NULL) {
			rc = DKV_ERR_NOMEM;
			goto out;
		}
		/* Fault the pages in now, not inside timed ops. */
		memset(ws[t].lat, 0, lat_bytes);
		if (ph->writes) {
			rc = dkv_batch_create(ph->store, &ws[t].batch);
			if (rc < 0)
				goto out;
		}
	}
	if (ph->threads == 1) {
		start = now_ns();
		ph->deadline = start + (uint64_t)(ph->b->cfg.seconds * 1e9);
		worker_main(&ws[0]);
		end = now_ns();
	} else {
		if (pthread_barrier_init(&ph->start, NULL,
					 (unsigned)ph->threads + 1) != 0) {
			rc = DKV_ERR_NOMEM;
			goto out;
		}
		for (; started < ph->threads; started++)
			if (pthread_create(&ws[started].tid, NULL, worker_main,
					   &ws[started]) != 0)
				break;
		if (started < ph->threads) {
			/* Cannot release a barrier short of parties: abort. */
			fprintf(stderr, PROG ": %s: pthread_create failed\n",
				ph->name);
			abort();
		}
		start = now_ns();
		ph->deadline = start + (uint64_t)(ph->b->cfg.seconds * 1e9);
		pthread_barrier_wait(&ph->start);
		for (int t = 0; t < ph->threads; t++)
			pthread_join(ws[t].tid, NULL);
		end = now_ns();
		pthread_barrier_destroy(&ph->start);
	}
	for (int t = 0; t < ph->threads && rc == 0; t++) {
		if (ws[t].rc < 0) {
			rc = ws[t].rc;
			if (ws[t].why != NULL)
				fprintf(stderr, PROG ": %s: %s\n", ph->name,
					ws[t].why);
		}
	}
	if (rc == 0)
		rc = result_fill(r, ws, ph->threads, end - start,
				 ph->op == op_load);
out:
	workers_free(ws, ph->threads);
	return fail(ph->b, rc, ph->name);
}

/* --- group commit as a node sees it ------------------------------------- */

/* One thread keeps `inflight` SET commands queued on the committer, as
 * the node's event loop does for that many clients, and resubmits each
 * as it completes. Completions come back in groups, so the thread wakes
 * about once per commit rather than once per command. */
struct async_slot {
	struct dkv_cmd cmd;
	uint64_t t0;
	char key[32];
	struct async_run *run;
	struct async_slot *next_done;
};

struct async_run {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct async_slot *done; /* completed, under lock */
	int waiting;
};

static void async_done(struct dkv_cmd *cmd)
{
	struct async_slot *sl = cmd->ctx;
	struct async_run *run = sl->run;

	pthread_mutex_lock(&run->lock);
	sl->next_done = run->done;
	run->done = sl;
	if (run->waiting)
		pthread_cond_signal(&run->cond);
	pthread_mutex_unlock(&run->lock);
}

static void async_submit(struct bench *b, struct async_slot *sl,
			 uint64_t *rng, long nkeys)
{
	key_make(sl->key, rng_below(rng, nkeys));
	memset(&sl->cmd, 0, sizeof(sl->cmd));
	sl->cmd.op = DKV_OP_SET;
	sl->cmd.shard = 1;
	sl->cmd.key = sl->key;
	sl->cmd.klen = KEY_LEN;
	sl->cmd.val = val_pick(b, rng);
	sl->cmd.vlen = (size_t)b->cfg.vsize;
	sl->cmd.done = async_done;
	sl->cmd.ctx = sl;
	sl->t0 = now_ns();
	dkv_committer_submit(b->committer, &sl->cmd);
}

static int committer_async(struct bench *b, int inflight, uint64_t cap,
			   struct result *r)
{
	struct async_run run = { PTHREAD_MUTEX_INITIALIZER,
				 PTHREAD_COND_INITIALIZER, NULL, 0 };
	struct async_slot *slots = calloc((size_t)inflight, sizeof(*slots));
	struct worker w;
	uint64_t start, deadline, submitted = 0, outstanding = 0;
	uint64_t rng = rng_seed(77);
	int rc = DKV_OK;

	memset(&w, 0, sizeof(w));
	result_init(r, "committer", inflight);
	w.lat = calloc(cap ? cap : 1, sizeof(uint64_t));
	if (slots == NULL || w.lat == NULL) {
		rc = DKV_ERR_NOMEM;
		goto out;
	}
	start = now_ns();
	deadline = start + (uint64_t)(b->cfg.seconds * 1e9);
	for (int i = 0; i < inflight && submitted < cap; i++) {
		slots[i].run = &run;
		async_submit(b, &slots[i], &rng, b->cfg.keys);
		submitted++;
		outstanding++;
	}
	while (outstanding > 0) {
		struct async_slot *list;

		pthread_mutex_lock(&run.lock);
		while (run.done == NULL) {
			run.waiting = 1;
			pthread_cond_wait(&run.cond, &run.lock);
		}
		run.waiting = 0;
		list = run.done;
		run.done = NULL;
		pthread_mutex_unlock(&run.lock);
		for (struct async_slot *sl = list, *nx; sl != NULL; sl = nx) {
			nx = sl->next_done;
			outstanding--;
			if (sl->cmd.rc != DKV_OK && rc == DKV_OK)
				rc = sl->cmd.rc;
			if (w.n < cap)
				w.lat[w.n++] = now_ns() - sl->t0;
			if (submitted < cap && now_ns() < deadline &&
			    rc == DKV_OK) {
				async_submit(b, sl, &rng, b->cfg.keys);
				submitted++;
				outstanding++;
			}
		}
	}
	if (rc == DKV_OK) {
		w.ph = NULL;
		rc = result_fill(r, &w, 1, now_ns() - start, 0);
		r->threads = inflight;
	}
out:
	free(w.lat);
	free(slots);
	return fail(b, rc, "committer");
}

/* --- output ----------------------------------------------------------- */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_header(const struct bench *b)
{
	if (b->cfg.json)
		return;
	printf("%-14s %3s %9s %11s %8s %8s %8s %8s %9s  %s\n", "phase", "thr",
	       "ops", "ops/s", "p50", "p95", "p99", "p99.9", "max", "notes");
	printf("%-14s %3s %9s %11s %8s %8s %8s %8s %9s\n", "", "", "", "",
	       "us", "us", "us", "us", "us");
	fflush(stdout);
}

static void print_row(const struct bench *b, const struct result *r)
{
	if (!b->cfg.json) {
		printf("%-14s %3d %9" PRIu64 " %11.0f %8.1f %8.1f %8.1f %8.1f "
		       "%9.1f  %s\n",
		       r->name, r->threads, r->ops, r->ops_s, r->p50_us,
		       r->p95_us, r->p99_us, r->p999_us, r->max_us, r->note);
		fflush(stdout);
		return;
	}
	printf("{\"phase\":");
	json_str(r->name);
	printf(",\"threads\":%d,\"ops\":%" PRIu64 ",\"seconds\":%.3f,"
	       "\"ops_per_s\":%.1f,\"mean_us\":%.2f,\"p50_us\":%.2f,"
	       "\"p95_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,"
	       "\"max_us\":%.2f",
	       r->threads, r->ops, r->secs, r->ops_s, r->mean_us, r->p50_us,
	       r->p95_us, r->p99_us, r->p999_us, r->max_us);
	if (r->items_s >= 0)
		printf(",\"items_per_s\":%.1f", r->items_s);
	if (r->p50_ratio >= 0)
		printf(",\"p50_ratio\":%.3f,\"mean_ratio\":%.3f", r->p50_ratio,
		       r->mean_ratio);
	if (r->speedup >= 0)
		printf(",\"speedup_vs_durable\":%.2f", r->speedup);
	printf("}\n");
	fflush(stdout);
}

static void print_mem_line(const char *what, const struct memsnap *m)
{
	printf("  %-28s cache %6.1f MiB  memtables %6.1f MiB  RSS %6.1f MiB\n",
	       what, mib(m->cache), mib(m->memtable), mib(m->rss));
}

static void mem_take(struct dkv_store *s, struct memsnap *m)
{
	struct dkv_store_stats st;

	memset(m, 0, sizeof(*m));
	if (s != NULL) {
		dkv_store_stats(s, &st);
		m->cache = st.cache_usage;
		m->memtable = st.memtable_bytes;
	}
	m->rss = rss_bytes();
}

/* --- the phases ------------------------------------------------------- */

static void phase_init(struct phase *ph, struct bench *b, const char *name,
		       struct dkv_store *s, uint32_t shard, op_fn op)
{
	memset(ph, 0, sizeof(*ph));
	ph->name = name;
	ph->b = b;
	ph->store = s;
	ph->shard = shard;
	ph->op = op;
	ph->writes = op == op_load || op == op_put;
	ph->nkeys = b->cfg.keys;
	ph->threads = 1;
	ph->cap = (uint64_t)b->cfg.ops;
}

/* Writes `rounds` versions of keys [0, nkeys) into shard, version-major
 * (every key's 1st version, then every key's 2nd, ...), LOAD_BATCH records
 * per batch and one epoch per batch. ep[r] gets round r's epoch span. */
static int write_versions(struct bench *b, struct dkv_store *s,
			  uint32_t shard, long nkeys, int rounds,
			  uint64_t (*ep)[2])
{
	struct phase ph;
	struct worker w;
	uint64_t batches = ((uint64_t)nkeys + LOAD_BATCH - 1) / LOAD_BATCH;
	int rc = 0;

	phase_init(&ph, b, "versions", s, shard, op_load);
	ph.nkeys = nkeys;
	memset(&w, 0, sizeof(w));
	w.ph = &ph;
	w.rng = rng_seed(77);
	rc = dkv_batch_create(s, &w.batch);
	for (int r = 0; r < rounds && rc == 0; r++) {
		ep[r][0] = dkv_hlc_last(b->hlc) + 1;
		for (uint64_t i = 0; i < batches && rc == 0; i++)
			rc = op_load(&w, i);
		ep[r][1] = dkv_hlc_last(b->hlc);
	}
	dkv_batch_destroy(w.batch);
	return fail(b, rc, "writing the versioned key set");
}

static void summary(const struct bench *b, const struct result *get10,
		    const struct result *g64, const struct result *c64)
{
	struct utsname u;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int get_ok = get10->p50_ratio <= TARGET_GET_RATIO &&
		     get10->mean_ratio <= TARGET_GET_RATIO;
	int group_ok = c64->speedup >= TARGET_GROUP_SPEEDUP;

	if (uname(&u) != 0)
		snprintf(u.release, sizeof(u.release), "unknown");
	if (b->cfg.json) {
		printf("{\"phase\":\"summary\",\"get_newest10_p50_ratio\":%.3f,"
		       "\"get_newest10_mean_ratio\":%.3f,"
		       "\"get_target_max\":%.1f,\"get_pass\":%s,"
		       "\"group64_speedup\":%.2f,"
		       "\"committer64_speedup\":%.2f,\"group_target_min\":%.1f,"
		       "\"group_pass\":%s,\"nproc\":%ld,\"kernel\":",
		       get10->p50_ratio, get10->mean_ratio, TARGET_GET_RATIO,
		       get_ok ? "true" : "false", g64->speedup, c64->speedup,
		       TARGET_GROUP_SPEEDUP, group_ok ? "true" : "false",
		       ncpu);
		json_str(u.release);
		printf(",\"quick\":%s}\n", b->cfg.quick ? "true" : "false");
		return;
	}
	printf("\nsummary (informational: speed never fails the run)\n");
	printf("  get newest-of-10 / get 1-version: p50 %.2fx, mean %.2fx "
	       "(target <= %.1fx)  %s\n",
	       get10->p50_ratio, get10->mean_ratio, TARGET_GET_RATIO,
	       get_ok ? "PASS" : "FAIL");
	printf("  group commit, 64 writers / durable single writer:\n"
	       "    through the committer (the node's write path): %.1fx "
	       "(target >= %.0fx)  %s\n"
	       "    RocksDB's own write group (DKV_DUR_GROUP):      %.1fx\n",
	       c64->speedup, TARGET_GROUP_SPEEDUP, group_ok ? "PASS" : "FAIL",
	       g64->speedup);
	printf("  machine: nproc %ld, kernel %s%s\n", ncpu, u.release,
	       b->cfg.quick ? "  (--quick: counts too small to judge)" : "");
}

/* Memory of the fresh 64-shard store at each step. */
struct memshards {
	struct memsnap open;   /* opened, no shard */
	struct memsnap one;    /* shard 1 created and written */
	struct memsnap empty;  /* all created, only shard 1 written */
	struct memsnap all;    /* all created and written */
};

static int memory_write(struct bench *b, struct dkv_batch *batch,
			uint32_t shard, uint64_t *rng)
{
	char key[32];
	uint64_t e;
	int rc = dkv_hlc_now(b->hlc, &e);

	for (long k = 0; k < MEM_RECORDS && rc == 0; k++) {
		key_make(key, k);
		rc = dkv_batch_put(batch, shard, key, KEY_LEN, val_pick(b, rng),
				   (size_t)b->cfg.vsize, e);
	}
	return rc == 0 ? dkv_batch_commit(batch) : rc;
}

/* The 64-shard part of the memory phase, in a fresh store: shard 1 made
 * and written, then 63 more made (empty), then those written too, so the
 * fixed cost of a shard and the cost of its memtable show apart. */
static int memory_shards(struct bench *b, struct memshards *m)
{
	struct dkv_store *s = NULL;
	struct dkv_batch *batch = NULL;
	uint64_t rng = rng_seed(64);
	int rc;

	rc = store_open(b, "shards", DKV_DUR_GROUP, &s);
	if (rc < 0)
		return rc;
	mem_take(s, &m->open);
	rc = dkv_batch_create(s, &batch);
	if (rc == 0)
		rc = dkv_store_shard_create(s, 1);
	if (rc == 0)
		rc = memory_write(b, batch, 1, &rng);
	if (rc == 0)
		mem_take(s, &m->one);
	for (uint32_t sh = 2; sh <= MEM_SHARDS && rc == 0; sh++)
		rc = dkv_store_shard_create(s, sh);
	if (rc == 0)
		mem_take(s, &m->empty);
	for (uint32_t sh = 2; sh <= MEM_SHARDS && rc == 0; sh++)
		rc = memory_write(b, batch, sh, &rng);
	if (rc == 0)
		mem_take(s, &m->all);
	dkv_batch_destroy(batch);
	dkv_store_close(s);
	return fail(b, rc, "memory: 64 shards");
}

static double kib_per_shard(uint64_t from, uint64_t to)
{
	return ((double)to - (double)from) / (MEM_SHARDS - 1) / 1024.0;
}

static void memory_report(const struct bench *b, const struct memsnap *load,
			  const struct memsnap *reads,
			  const struct memshards *m)
{
	double rss_made = kib_per_shard(m->one.rss, m->empty.rss);
	double rss_written = kib_per_shard(m->empty.rss, m->all.rss);
	double mt_written = kib_per_shard(m->empty.memtable, m->all.memtable);

	if (b->cfg.json) {
		printf("{\"phase\":\"memory\",\"cache_budget_bytes\":%u,"
		       "\"write_buffer_budget_bytes\":%u,"
		       "\"load_cache_bytes\":%" PRIu64 ","
		       "\"load_memtable_bytes\":%" PRIu64 ","
		       "\"load_rss_bytes\":%" PRIu64 ","
		       "\"reads_cache_bytes\":%" PRIu64 ","
		       "\"reads_memtable_bytes\":%" PRIu64 ","
		       "\"reads_rss_bytes\":%" PRIu64 ","
		       "\"shards\":%d,\"records_per_shard\":%d,"
		       "\"open_rss_bytes\":%" PRIu64 ","
		       "\"one_shard_memtable_bytes\":%" PRIu64 ","
		       "\"one_shard_rss_bytes\":%" PRIu64 ","
		       "\"empty_shards_memtable_bytes\":%" PRIu64 ","
		       "\"empty_shards_rss_bytes\":%" PRIu64 ","
		       "\"all_shards_cache_bytes\":%" PRIu64 ","
		       "\"all_shards_memtable_bytes\":%" PRIu64 ","
		       "\"all_shards_rss_bytes\":%" PRIu64 ","
		       "\"rss_kib_per_empty_shard\":%.1f,"
		       "\"rss_kib_per_written_shard\":%.1f,"
		       "\"memtable_kib_per_written_shard\":%.1f}\n",
		       DKV_STORE_DEFAULT_CACHE_BYTES,
		       DKV_STORE_DEFAULT_WRITE_BUFFER_BYTES, load->cache,
		       load->memtable, load->rss, reads->cache,
		       reads->memtable, reads->rss, MEM_SHARDS, MEM_RECORDS,
		       m->open.rss, m->one.memtable, m->one.rss,
		       m->empty.memtable, m->empty.rss, m->all.cache,
		       m->all.memtable, m->all.rss, rss_made, rss_written,
		       mt_written);
		return;
	}
	printf("\nmemory (budgets per store, shared by all its shards: block "
	       "cache %.0f MiB, write buffers %.0f MiB)\n",
	       mib(DKV_STORE_DEFAULT_CACHE_BYTES),
	       mib(DKV_STORE_DEFAULT_WRITE_BUFFER_BYTES));
	print_mem_line("after the load", load);
	print_mem_line("after the read phases", reads);
	print_mem_line("fresh store, open, no shard", &m->open);
	print_mem_line("1 shard made and written", &m->one);
	print_mem_line("64 shards made, 1 written", &m->empty);
	print_mem_line("64 shards made, 64 written", &m->all);
	printf("  per extra shard: made %+.0f KiB RSS; written (%d x %ld B) "
	       "%+.0f KiB RSS, %+.0f KiB memtable\n",
	       rss_made, MEM_RECORDS, b->cfg.vsize, rss_written, mt_written);
}

/* Every phase in order. Stops at the first failure. */
static int bench_run(struct bench *b)
{
	struct dkv_store *s = NULL;
	struct phase ph;
	struct result load, put, get1, get10, getold, r10, r100, dur, grp[3];
	struct result cmt[3];
	static const int writers[3] = { 1, 8, 64 };
	struct memsnap m_load, m_reads;
	struct memshards m_shards;
	uint64_t ep[VERSIONS][2], lo1, lo_put;
	long keys10 = b->cfg.keys / VERSIONS;
	int rc;

	/* 9 (measured first, reported last): 64 shards in a fresh store,
	 * while the process is small, so that RSS deltas are not hidden by
	 * heap freed by the other phases and reused. */
	rc = memory_shards(b, &m_shards);
	if (rc < 0)
		return rc;

	print_header(b);

	/* 1. load */
	rc = store_open(b, "none", DKV_DUR_NONE, &s);
	if (rc < 0)
		return rc;
	for (uint32_t sh = SHARD_1V; sh <= SHARD_PUT && rc == 0; sh++)
		rc = fail(b, dkv_store_shard_create(s, sh), "shard create");
	if (rc < 0)
		goto out;
	lo1 = dkv_hlc_last(b->hlc) + 1;
	phase_init(&ph, b, "load", s, SHARD_1V, op_load);
	ph.cap = ((uint64_t)b->cfg.keys + LOAD_BATCH - 1) / LOAD_BATCH;
	rc = phase_run(&ph, &load);
	if (rc < 0)
		goto out;
	snprintf(load.note, sizeof(load.note),
		 "records; latency per %d-record batch", LOAD_BATCH);
	print_row(b, &load);
	mem_take(s, &m_load);
	if ((long)load.ops < b->cfg.keys) {
		/* Cut by --seconds: read only what is there. */
		fprintf(stderr, PROG ": load stopped at %" PRIu64 " keys\n",
			load.ops);
		b->cfg.keys = (long)(load.ops / LOAD_BATCH * LOAD_BATCH);
		keys10 = b->cfg.keys / VERSIONS;
	}

	/* 2. put */
	lo_put = dkv_hlc_last(b->hlc) + 1;
	phase_init(&ph, b, "put", s, SHARD_PUT, op_put);
	rc = phase_run(&ph, &put);
	if (rc < 0)
		goto out;
	snprintf(put.note, sizeof(put.note), "1-record batches, random keys");
	print_row(b, &put);

	/* The second key set, then every shard compacted to one sorted run:
	 * a GC at the oldest epoch written in the shard drops nothing, and
	 * the reads then see a settled LSM, with no flush or compaction left
	 * over from the writes competing with them for the CPUs. */
	rc = write_versions(b, s, SHARD_10V, keys10, VERSIONS, ep);
	if (rc == 0)
		rc = fail(b, dkv_store_gc(s, SHARD_PUT, lo_put, 1, NULL),
			  "compact");
	if (rc == 0)
		rc = fail(b, dkv_store_gc(s, SHARD_1V, lo1, 1, NULL),
			  "compact");
	if (rc == 0)
		rc = fail(b, dkv_store_gc(s, SHARD_10V, ep[0][0], 1, NULL),
			  "compact");
	if (rc < 0)
		goto out;

	/* 3. get, one version */
	phase_init(&ph, b, "get 1v", s, SHARD_1V, op_get);
	ph.epoch = DKV_EPOCH_MAX;
	ph.ep_lo = lo1;
	ph.ep_hi = ep[0][0] - 1;
	ph.warmup = ph.cap / 10;
	rc = phase_run(&ph, &get1);
	if (rc < 0)
		goto out;
	snprintf(get1.note, sizeof(get1.note), "%ld keys x 1 version",
		 b->cfg.keys);
	print_row(b, &get1);

	/* 4. get, newest of ten */
	phase_init(&ph, b, "get new/10v", s, SHARD_10V, op_get);
	ph.nkeys = keys10;
	ph.epoch = DKV_EPOCH_MAX;
	ph.ep_lo = ep[VERSIONS - 1][0];
	ph.ep_hi = ep[VERSIONS - 1][1];
	ph.warmup = ph.cap / 10;
	rc = phase_run(&ph, &get10);
	if (rc < 0)
		goto out;
	get10.p50_ratio = get1.p50_us > 0 ? get10.p50_us / get1.p50_us : 0;
	get10.mean_ratio = get1.mean_us > 0 ? get10.mean_us / get1.mean_us
					    : 0;
	snprintf(get10.note, sizeof(get10.note),
		 "%ld keys x %d; vs get 1v: p50 %.2fx mean %.2fx", keys10,
		 VERSIONS, get10.p50_ratio, get10.mean_ratio);
	print_row(b, &get10);

	/* 5. get, oldest of ten */
	phase_init(&ph, b, "get old/10v", s, SHARD_10V, op_get);
	ph.nkeys = keys10;
	ph.epoch = ep[0][1];
	ph.ep_lo = ep[0][0];
	ph.ep_hi = ep[0][1];
	ph.warmup = ph.cap / 10;
	rc = phase_run(&ph, &getold);
	if (rc < 0)
		goto out;
	snprintf(getold.note, sizeof(getold.note),
		 "read epoch selects the 1st of %d", VERSIONS);
	print_row(b, &getold);

	/* 6. ranges */
	phase_init(&ph, b, "range 10", s, SHARD_1V, op_range);
	ph.range_len = RANGE_SHORT;
	rc = phase_run(&ph, &r10);
	if (rc < 0)
		goto out;
	snprintf(r10.note, sizeof(r10.note), "items/s %.0f", r10.items_s);
	print_row(b, &r10);
	phase_init(&ph, b, "range 100", s, SHARD_1V, op_range);
	ph.range_len = RANGE_LONG;
	rc = phase_run(&ph, &r100);
	if (rc < 0)
		goto out;
	snprintf(r100.note, sizeof(r100.note), "items/s %.0f", r100.items_s);
	print_row(b, &r100);
	mem_take(s, &m_reads);
	dkv_store_close(s);
	s = NULL;

	/* 7. durable, one fsync per commit */
	rc = store_open(b, "fsync", DKV_DUR_FSYNC, &s);
	if (rc < 0)
		goto out;
	rc = fail(b, dkv_store_shard_create(s, 1), "shard create");
	if (rc < 0)
		goto out;
	phase_init(&ph, b, "durable fsync", s, 1, op_put);
	ph.cap = (uint64_t)b->durable_ops;
	rc = phase_run(&ph, &dur);
	if (rc < 0)
		goto out;
	snprintf(dur.note, sizeof(dur.note), "DKV_DUR_FSYNC, 1-record batches");
	print_row(b, &dur);
	dkv_store_close(s);
	s = NULL;

	/* 8. group commit */
	rc = store_open(b, "group", DKV_DUR_GROUP, &s);
	if (rc < 0)
		goto out;
	rc = fail(b, dkv_store_shard_create(s, 1), "shard create");
	if (rc < 0)
		goto out;
	for (int i = 0; i < 3; i++) {
		phase_init(&ph, b, "group commit", s, 1, op_put);
		ph.threads = writers[i];
		ph.cap = (uint64_t)b->durable_ops;
		rc = phase_run(&ph, &grp[i]);
		if (rc < 0)
			goto out;
		grp[i].speedup = dur.ops_s > 0 ? grp[i].ops_s / dur.ops_s : 0;
		snprintf(grp[i].note, sizeof(grp[i].note),
			 "DKV_DUR_GROUP; commits/s %.2fx durable fsync",
			 grp[i].speedup);
		print_row(b, &grp[i]);
	}
	dkv_store_close(s);
	s = NULL;

	/* 8b. group commit through the committer (the node's write path):
	 * submitters queue SET commands, one thread commits each group. */
	rc = store_open(b, "committer", DKV_DUR_FSYNC, &s);
	if (rc < 0)
		goto out;
	rc = fail(b, dkv_store_shard_create(s, 1), "shard create");
	if (rc == 0)
		rc = fail(b, dkv_committer_start(s, b->hlc, &b->committer),
			  "committer");
	if (rc < 0)
		goto out;
	for (int i = 0; i < 3; i++) {
		rc = committer_async(b, writers[i],
				     (uint64_t)b->durable_ops *
					     (uint64_t)writers[i],
				     &cmt[i]);
		if (rc < 0)
			break;
		cmt[i].speedup = dur.ops_s > 0 ? cmt[i].ops_s / dur.ops_s : 0;
		snprintf(cmt[i].note, sizeof(cmt[i].note),
			 "SETs in flight via dkv_committer; %.2fx durable "
			 "fsync",
			 cmt[i].speedup);
		print_row(b, &cmt[i]);
	}
	dkv_committer_destroy(b->committer);
	b->committer = NULL;
	dkv_store_close(s);
	s = NULL;
	if (rc < 0)
		goto out;

	/* 9. memory */
	memory_report(b, &m_load, &m_reads, &m_shards);

	summary(b, &get10, &grp[2], &cmt[2]);
out:
	if (s != NULL)
		dkv_store_close(s);
	return rc;
}

/* --- options and main ------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [options]\n"
		"  --dir DIR         stores go in DIR (made if missing, must\n"
		"                    be empty, kept); default: a fresh\n"
		"                    directory under $TMPDIR or /tmp, removed\n"
		"                    at the end\n"
		"  --keys N          keys loaded (default %ld; >= 100)\n"
		"  --value-size B    value bytes (default %ld)\n"
		"  --ops N           ops per phase (default %ld); durable\n"
		"                    phases: at most %d per writer\n"
		"  --seconds S       time bound per phase (default %.0f)\n"
		"  --quick           small counts: a few seconds in all\n"
		"  --json            one JSON object per phase on stdout\n"
		"  --help\n",
		DEF_KEYS, DEF_VSIZE, DEF_OPS, DURABLE_OPS, DEF_SECONDS);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct cfg *c)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "keys", required_argument, NULL, 'k' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "ops", required_argument, NULL, 'o' },
		{ "seconds", required_argument, NULL, 's' },
		{ "quick", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int ch, li = 0;

	memset(c, 0, sizeof(*c));
	c->keys = c->vsize = c->ops = -1;
	c->seconds = -1;
	while ((ch = getopt_long(argc, argv, "", opts, &li)) != -1) {
		switch (ch) {
		case 'd':
			c->dir = optarg;
			break;
		case 'k':
			if (parse_long(optarg, 100, KEY_MAX, &c->keys) != 0)
				goto bad;
			break;
		case 'v':
			if (parse_long(optarg, 0, MAX_VALUE, &c->vsize) != 0)
				goto bad;
			break;
		case 'o':
			if (parse_long(optarg, 1, MAX_OPS, &c->ops) != 0)
				goto bad;
			break;
		case 's':
			errno = 0;
			c->seconds = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(c->seconds > 0 && c->seconds <= 86400))
				goto bad;
			break;
		case 'q':
			c->quick = 1;
			break;
		case 'j':
			c->json = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc)
		goto bad_arg;
	/* --quick changes the defaults; explicit options still win. */
	if (c->keys < 0)
		c->keys = c->quick ? QUICK_KEYS : DEF_KEYS;
	if (c->vsize < 0)
		c->vsize = DEF_VSIZE;
	if (c->ops < 0)
		c->ops = c->quick ? QUICK_OPS : DEF_OPS;
	if (c->seconds < 0)
		c->seconds = c->quick ? QUICK_SECONDS : DEF_SECONDS;
	return 0;
bad:
	fprintf(stderr, PROG ": bad value for --%s: %s\n", opts[li].name,
		optarg);
	usage(stderr);
	return -1;
bad_arg:
	fprintf(stderr, PROG ": unexpected argument: %s\n", argv[optind]);
	usage(stderr);
	return -1;
}

int main(int argc, char **argv)
{
	struct bench b;
	struct dkv_hlc_io io = { .now_ns = dkv_hlc_wall_ns };
	uint64_t rng = rng_seed(42);
	int rc;

	memset(&b, 0, sizeof(b));
	if (parse_args(argc, argv, &b.cfg) != 0)
		return 2;
	b.durable_ops = b.cfg.quick ? QUICK_DURABLE_OPS : DURABLE_OPS;
	if (b.durable_ops > b.cfg.ops)
		b.durable_ops = b.cfg.ops;
	b.valbuf = malloc(2 * (size_t)b.cfg.vsize + 1);
	if (b.valbuf == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	/* Random bytes: values do not compress. */
	for (long i = 0; i < 2 * b.cfg.vsize + 1; i++)
		b.valbuf[i] = (char)rng_next(&rng);
	rc = fail(&b, dkv_hlc_create(&io, NULL, &b.hlc), "hlc");
	if (rc == 0)
		rc = base_prepare(&b);
	if (rc < 0) {
		b.failed = 1;
	} else {
		if (!b.cfg.json)
			printf(PROG ": %ld keys, %ld-byte values, <= %ld ops "
			       "and <= %.1f s per phase, in %s\n\n",
			       b.cfg.keys, b.cfg.vsize, b.cfg.ops,
			       b.cfg.seconds, b.base);
		rc = bench_run(&b);
		if (b.remove_base)
			rm_tree(b.base);
	}
	dkv_hlc_destroy(b.hlc);
	free(b.valbuf);
	return b.failed || rc < 0 ? 1 : 0;
}
