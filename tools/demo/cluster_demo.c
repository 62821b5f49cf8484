/*
 * cluster_demo.c - the main job (`make demo`): a three-node dkv cluster
 * started from nothing, loaded with this machine's own Debian package
 * database through libdkv (include/dkv.h), then queried.
 *
 *   1. `dkv local start --nodes 3` on three free loopback ports, in a
 *      fresh temporary directory;
 *   2. load, from 8 threads sharing one client handle (so the nodes'
 *      durable group commit has concurrent writes to batch):
 *        pkg:<name>        -> "<version> <size>KiB <description>"
 *        {bin}/<name>      -> <package>   (the files of /usr/bin; one hash
 *                                          tag: one shard, so a range
 *                                          search can read them all)
 *        file:<path>       -> <package>   (every other file, up to a cap)
 *   3. point reads: a few named packages through clients seeded at random
 *      nodes, then random reads of loaded keys, checked against the data;
 *   4. range search: the {bin}/ keys in pages of 10 through an anchor;
 *   5. transactions: transfers between 32 accounts from 8 threads, while
 *      cluster-wide snapshots are taken and each is read whole at its
 *      epoch (the total must hold in every one, and again later);
 *   6. a summary table (ops, ops/s, p50, p99 per phase);
 *   7. `dkv local stop` and removal of the directory - always, also when a
 *      step fails or the demo is interrupted.
 *
 * Usage: dkv-demo-cluster [--max-files N] [--keep]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dkv.h"

#define DPKG_STATUS "/var/lib/dpkg/status"
#define DPKG_INFO "/var/lib/dpkg/info"
#define NODES 3
#define THREADS 8
#define SERIAL_PUTS 500     /* puts from one thread, before the 8-thread load */
#define RANDOM_GETS 20000
#define PAGE 10
#define RANGE_PASSES 5
#define DEFAULT_MAX_FILES 40000

/* --- process state, for the cleanup path ------------------------------------ */

static char g_bindir[PATH_MAX];
static char g_dir[PATH_MAX];    /* the temporary directory, "" when none */
static int g_started;           /* `dkv local start` was run */
static int g_keep;              /* --keep: leave the cluster running */
static pid_t g_main_pid;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs "<bindir>/dkv --output table ARGS..." and waits. Returns its exit
 * status, or -1 when it could not run. */
static int run_dkv(const char *const args[])
{
	char prog[PATH_MAX + 8];
	char *argv[16];
	int n = 0, st;
	pid_t pid;

	snprintf(prog, sizeof(prog), "%s/dkv", g_bindir);
	argv[n++] = prog;
	argv[n++] = (char *)"--output"; /* a table with headers, even piped */
	argv[n++] = (char *)"table";
	for (int i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = (char *)args[i];
	argv[n] = NULL;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Its progress lines in order with ours. */
		dup2(STDOUT_FILENO, STDERR_FILENO);
		execv(prog, argv);
		fprintf(stderr, "dkv-demo-cluster: cannot run %s: %s\n", prog,
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int rm_one(const char *p, const struct stat *sb, int fl,
		  struct FTW *ftw)
{
	(void)sb;
	(void)fl;
	(void)ftw;
	remove(p);
	return 0;
}

/* A safety net after `dkv local stop`: any dkvd of ours still alive (its
 * pid file in our directory, its command line naming dkvd) gets SIGKILL. */
static void kill_leftovers(void)
{
	for (int i = 1; i <= NODES; i++) {
		char path[PATH_MAX + 32], cmd[PATH_MAX];
		FILE *f;
		int pid = 0;
		size_t n;

		snprintf(path, sizeof(path), "%s/node%d/dkvd.pid", g_dir, i);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
		if (pid <= 1 || kill(pid, 0) != 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		n = fread(cmd, 1, sizeof(cmd) - 1, f);
		fclose(f);
		cmd[n] = '\0';
		if (strstr(cmd, "dkvd") != NULL) {
			fprintf(stderr, "dkv-demo-cluster: node %d (pid %d) "
					"still running: SIGKILL\n",
				i, pid);
			kill(pid, SIGKILL);
		}
	}
}

static void cleanup(void)
{
	if (getpid() != g_main_pid || g_dir[0] == '\0')
		return;
	if (g_keep) {
		printf("\n--keep: the cluster stays up; stop it with:\n"
		       "  %s/dkv local stop --dir %s\n",
		       g_bindir, g_dir);
		return;
	}
	if (g_started) {
		const char *args[] = { "local", "stop", "--dir", g_dir, NULL };
		int rc;

		printf("\n== 7. stop the cluster ==\n");
		rc = run_dkv(args);
		if (rc != 0)
			fprintf(stderr, "dkv-demo-cluster: dkv local stop: "
					"exit %d\n",
				rc);
		kill_leftovers();
	}
	nftw(g_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	printf("removed %s\n", g_dir);
	fflush(stdout);
	g_dir[0] = '\0';
}

static void on_signal(int sig)
{
	/* Not async-signal-safe in general, but the demo only waits or
	 * computes here: exit() runs the cleanup (stops the cluster). */
	(void)sig;
	exit(130);
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "dkv-demo-cluster: %s: %s (%s)\n", what,
		dkv_strerror(rc), dkv_last_error());
	exit(1);
}

/* --- ports ------------------------------------------------------------------ */

static int port_free(int port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* The first of NODES consecutive free loopback ports. */
static int find_ports(void)
{
	for (int tries = 0; tries < 500; tries++) {
		int p = 20000 + (int)(random() % 30000), i;

		for (i = 0; i < NODES && port_free(p + i); i++)
			;
		if (i == NODES)
			return p;
	}
	return -1;
}

/* --- data ------------------------------------------------------------------- */

struct kv {
	char *key, *val;
};

static struct kv *g_kv;
static size_t g_nkv, g_cap;
static size_t g_npkg, g_nbin, g_nfile;

static void add_kv(const char *key, const char *val)
{
	if (g_nkv == g_cap) {
		g_cap = g_cap ? g_cap * 2 : 4096;
		g_kv = realloc(g_kv, g_cap * sizeof(*g_kv));
		if (g_kv == NULL) {
			fprintf(stderr, "dkv-demo-cluster: out of memory\n");
			exit(1);
		}
	}
	g_kv[g_nkv].key = strdup(key);
	g_kv[g_nkv].val = strdup(val);
	if (g_kv[g_nkv].key == NULL || g_kv[g_nkv].val == NULL) {
		fprintf(stderr, "dkv-demo-cluster: out of memory\n");
		exit(1);
	}
	g_nkv++;
}

static void read_packages(void)
{
	FILE *f = fopen(DPKG_STATUS, "r");
	char line[4096], name[256] = "", version[256] = "", size[32] = "0";
	char key[300], val[4096];

	if (f == NULL) {
		fprintf(stderr, "dkv-demo-cluster: cannot read %s\n",
			DPKG_STATUS);
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
			snprintf(key, sizeof(key), "pkg:%s", name);
			snprintf(val, sizeof(val), "%s %sKiB %.200s", version,
				 size, line + 13);
			add_kv(key, val);
			g_npkg++;
			name[0] = '\0';
			strcpy(size, "0");
		}
	}
	fclose(f);
}

static void read_files(size_t max_files)
{
	DIR *dir = opendir(DPKG_INFO);
	struct dirent *e;
	char path[1024], line[4096], key[4200], pkg[256];

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
			const char *base;

			line[strcspn(line, "\n")] = '\0';
			if (line[0] != '/' || line[1] == '\0')
				continue;
			base = strrchr(line, '/') + 1;
			if (strncmp(line, "/usr/bin/", 9) == 0 &&
			    *base != '\0' && strchr(line + 9, '/') == NULL) {
				snprintf(key, sizeof(key), "{bin}/%s", base);
				add_kv(key, pkg);
				g_nbin++;
			} else if (g_nfile < max_files) {
				snprintf(key, sizeof(key), "file:%s", line);
				add_kv(key, pkg);
				g_nfile++;
			}
		}
		fclose(f);
	}
	closedir(dir);
}

static int cmp_kv(const void *a, const void *b)
{
	return strcmp(((const struct kv *)a)->key, ((const struct kv *)b)->key);
}

/* Drops repeated keys (a file listed by two packages): every key once, so
 * the reads can check values and the range count the keys. Recounts. */
static void dedupe(void)
{
	size_t w = 0;

	qsort(g_kv, g_nkv, sizeof(*g_kv), cmp_kv);
	g_npkg = g_nbin = g_nfile = 0;
	for (size_t r = 0; r < g_nkv; r++) {
		if (w > 0 && strcmp(g_kv[w - 1].key, g_kv[r].key) == 0) {
			free(g_kv[r].key);
			free(g_kv[r].val);
			continue;
		}
		g_kv[w++] = g_kv[r];
		if (g_kv[r].key[0] == 'p')
			g_npkg++;
		else if (g_kv[r].key[0] == '{')
			g_nbin++;
		else
			g_nfile++;
	}
	g_nkv = w;
}

/* Fisher-Yates: the load order mixes keys of every kind and shard. */
static void shuffle(void)
{
	for (size_t i = g_nkv; i > 1; i--) {
		size_t j = (size_t)random() % i;
		struct kv t = g_kv[i - 1];

		g_kv[i - 1] = g_kv[j];
		g_kv[j] = t;
	}
}

/* --- timing ----------------------------------------------------------------- */

struct phase {
	const char *name;
	size_t ops;
	double secs, p50, p99; /* p50, p99 in microseconds */
};

static struct phase g_phases[12];
static int g_nphases;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Records a phase: ops operations in secs, lat[] the per-op times (s). */
static struct phase *record(const char *name, size_t ops, double secs,
			    double *lat, size_t nlat)
{
	struct phase *p = &g_phases[g_nphases++];

	p->name = name;
	p->ops = ops;
	p->secs = secs;
	p->p50 = p->p99 = 0;
	if (nlat > 0) {
		qsort(lat, nlat, sizeof(*lat), cmp_double);
		p->p50 = lat[(nlat - 1) / 2] * 1e6;
		p->p99 = lat[(size_t)((double)(nlat - 1) * 0.99)] * 1e6;
	}
	return p;
}

static void print_phase(const struct phase *p, const char *unit)
{
	printf("  %zu %s in %.2f s: %.0f %s/s, latency p50 %.0f us, "
	       "p99 %.0f us\n",
	       p->ops, unit, p->secs, p->secs > 0 ? p->ops / p->secs : 0.0,
	       unit, p->p50, p->p99);
}

/* --- workers ---------------------------------------------------------------- */

enum job_kind { JOB_PUT, JOB_GET };

struct job {
	dkv_client_t *c;
	enum job_kind kind;
	size_t from, to;     /* the slice of g_kv */
	size_t stride, off;  /* keys from + off, from + off + stride, ... */
	size_t nops;         /* JOB_GET: how many random reads */
	unsigned seed;
	double *lat;         /* per-op times, this job's own region */
	size_t nlat;
	size_t bad;          /* failures, wrong values */
	int first_rc;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	char buf[8192];

	if (j->kind == JOB_PUT) {
		for (size_t i = j->from + j->off; i < j->to; i += j->stride) {
			const struct kv *kv = &g_kv[i];
			double t0 = now_s();
			int rc = dkv_put(j->c, NULL, 0, kv->key,
					 strlen(kv->key), kv->val,
					 strlen(kv->val));

			j->lat[j->nlat++] = now_s() - t0;
			if (rc < 0 && j->bad++ == 0)
				j->first_rc = rc;
		}
		return NULL;
	}
	for (size_t n = 0; n < j->nops; n++) {
		const struct kv *kv = &g_kv[(size_t)rand_r(&j->seed) % g_nkv];
		size_t len = sizeof(buf);
		double t0 = now_s();
		int rc = dkv_get(j->c, NULL, 0, kv->key, strlen(kv->key), buf,
				 &len);

		j->lat[j->nlat++] = now_s() - t0;
		if (rc < 0 || len != strlen(kv->val) ||
		    memcmp(buf, kv->val, len) != 0)
			if (j->bad++ == 0)
				j->first_rc = rc;
	}
	return NULL;
}

/* --- transactions: transfers between accounts ------------------------------- */

#define ACCOUNTS 32
#define ACCOUNT_START 1000
#define TRANSFERS 60 /* per thread */

struct xfer {
	volatile int *running; /* workers still transferring */
	dkv_client_t *c;
	unsigned seed;
	int a, b;
	long amt, sum;
	size_t attempts, commits, bad;
	double *lat;
	size_t nlat;
};

static void account(int i, char *k, size_t len)
{
	snprintf(k, len, "{acct%d}", i); /* a tag per account: spread */
}

static int get_long(dkv_client_t *c, dkv_tx_t *tx, const char *k, long *v)
{
	char buf[32];
	size_t len = sizeof(buf) - 1;
	int rc = dkv_get(c, tx, 0, k, strlen(k), buf, &len);

	if (rc == 0) {
		buf[len] = '\0';
		*v = strtol(buf, NULL, 10);
	}
	return rc;
}

static int put_long(dkv_client_t *c, dkv_tx_t *tx, const char *k, long v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld", v);

	return dkv_put(c, tx, 0, k, strlen(k), buf, (size_t)n);
}

/* One transfer: read both balances, write both (a transaction). */
static int transfer_body(dkv_tx_t *tx, void *arg)
{
	struct xfer *x = arg;
	char ka[32], kb[32];
	long va, vb;
	int rc;

	x->attempts++;
	account(x->a, ka, sizeof(ka));
	account(x->b, kb, sizeof(kb));
	if ((rc = get_long(x->c, tx, ka, &va)) != 0 ||
	    (rc = get_long(x->c, tx, kb, &vb)) != 0)
		return rc;
	if ((rc = put_long(x->c, tx, ka, va - x->amt)) != 0)
		return rc;
	return put_long(x->c, tx, kb, vb + x->amt);
}

/* Every balance in one transaction: a consistent state. */
static int sum_body(dkv_tx_t *tx, void *arg)
{
	struct xfer *x = arg;
	char k[32];

	x->sum = 0;
	for (int i = 0; i < ACCOUNTS; i++) {
		long v = 0;
		int rc;

		account(i, k, sizeof(k));
		if ((rc = get_long(x->c, tx, k, &v)) != 0)
			return rc;
		x->sum += v;
	}
	return 0;
}

static void *transfer_worker(void *arg)
{
	struct xfer *x = arg;

	for (int n = 0; n < TRANSFERS; n++) {
		double t0 = now_s();
		int rc;

		x->a = (int)(rand_r(&x->seed) % ACCOUNTS);
		do
			x->b = (int)(rand_r(&x->seed) % ACCOUNTS);
		while (x->b == x->a);
		x->amt = (long)(rand_r(&x->seed) % 50) + 1;
		rc = dkv_tx_run(x->c, 0, transfer_body, x, NULL);
		if (rc < 0) {
			x->bad++;
			continue;
		}
		x->commits++;
		x->lat[x->nlat++] = now_s() - t0;
	}
	__atomic_sub_fetch(x->running, 1, __ATOMIC_RELEASE);
	return NULL;
}

#define SNAPSHOTS 12

/* Every balance at a snapshot's epoch (a read-only transaction there). */
static int snap_sum(dkv_client_t *c, uint64_t epoch, long *sum)
{
	dkv_tx_t *tx = NULL;
	char k[32];
	int rc = dkv_tx_open_snap(c, epoch, &tx);

	*sum = 0;
	for (int i = 0; rc == 0 && i < ACCOUNTS; i++) {
		long v = 0;

		account(i, k, sizeof(k));
		rc = get_long(c, tx, k, &v);
		*sum += v;
	}
	dkv_tx_close(tx);
	return rc;
}

/* While the transfers run: cluster-wide snapshots, each read whole at
 * its epoch (the total must hold in every one); afterwards each is read
 * again (same sum), then destroyed. Returns the failures. */
static size_t run_snapshots(dkv_client_t *c, volatile int *running)
{
	struct dkv_snap_info info[SNAPSHOTS];
	long sums[SNAPSHOTS];
	double lat[SNAPSHOTS], t0 = now_s(), secs;
	size_t bad = 0;
	int n = 0;

	while (n < SNAPSHOTS && __atomic_load_n(running, __ATOMIC_ACQUIRE)) {
		char name[32];
		double s0 = now_s();

		snprintf(name, sizeof(name), "demo-%02d", n);
		if (dkv_snap_create(c, name, &info[n]) != 0) {
			fprintf(stderr, "  snapshot %s: %s\n", name,
				dkv_last_error());
			bad++;
			break;
		}
		lat[n] = now_s() - s0;
		if (snap_sum(c, info[n].ds_epoch, &sums[n]) != 0) {
			fprintf(stderr, "  reading %s: %s\n", name,
				dkv_last_error());
			bad++;
		} else if (sums[n] != (long)ACCOUNTS * ACCOUNT_START) {
			fprintf(stderr, "  %s sums to %ld\n", name, sums[n]);
			bad++;
		}
		n++;
		usleep(30000);
	}
	secs = now_s() - t0;
	while (__atomic_load_n(running, __ATOMIC_ACQUIRE))
		usleep(10000);
	for (int i = 0; i < n; i++) {
		long again = 0;

		if (snap_sum(c, info[i].ds_epoch, &again) != 0 ||
		    again != sums[i]) {
			fprintf(stderr, "  %s reads differently later\n",
				info[i].ds_name);
			bad++;
		}
		if (dkv_snap_destroy(c, info[i].ds_name) != 0)
			bad++;
	}
	if (n > 0) {
		print_phase(record("snapshot create", (size_t)n, secs, lat,
				   (size_t)n),
			    "snapshots");
		printf("  %d cluster-wide snapshots taken while the transfers "
		       "ran; each read whole\n  at its epoch summed to %d, "
		       "and read the same again after the transfers\n",
		       n, ACCOUNTS * ACCOUNT_START);
	}
	return bad;
}

/* Loads the accounts, runs THREADS transfer workers, then checks in one
 * transaction that the total did not move. Returns the failures. */
static size_t run_transfers(dkv_client_t *c)
{
	struct xfer x[THREADS];
	pthread_t tids[THREADS];
	double *lat = malloc(sizeof(*lat) * THREADS * TRANSFERS), t0, secs;
	size_t nlat = 0, attempts = 0, commits = 0, bad = 0;
	struct xfer check = { .c = c };
	volatile int running = THREADS;
	size_t snap_bad;
	char k[32];

	if (lat == NULL)
		return 1;
	for (int i = 0; i < ACCOUNTS; i++) {
		account(i, k, sizeof(k));
		if (put_long(c, NULL, k, ACCOUNT_START) != 0)
			bad++;
	}
	printf("  %d accounts of %d, spread over the shards; %d threads, "
	       "%d transfers each\n  (read both balances, write both: one "
	       "transaction, retried on conflicts)\n",
	       ACCOUNTS, ACCOUNT_START, THREADS, TRANSFERS);
	t0 = now_s();
	for (int i = 0; i < THREADS; i++) {
		x[i] = (struct xfer){ .c = c, .seed = 1234u + (unsigned)i,
				      .lat = lat + (size_t)i * TRANSFERS,
				      .running = &running };
		if (pthread_create(&tids[i], NULL, transfer_worker, &x[i]))
			die("pthread_create", DKV_ERR_NOMEM);
	}
	snap_bad = run_snapshots(c, &running);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(tids[i], NULL);
		memmove(lat + nlat, x[i].lat, x[i].nlat * sizeof(*lat));
		nlat += x[i].nlat;
		attempts += x[i].attempts;
		commits += x[i].commits;
		bad += x[i].bad;
	}
	secs = now_s() - t0;
	bad += snap_bad;
	print_phase(record("transfer, 8 threads", commits, secs, lat, nlat),
		    "transfers");
	printf("  %zu attempts for %zu commits (%.1f%% restarted on "
	       "conflicts)\n",
	       attempts, commits,
	       attempts ? 100.0 * (double)(attempts - commits) /
				  (double)attempts
			: 0.0);
	if (dkv_tx_run(c, 0, sum_body, &check, NULL) < 0) {
		fprintf(stderr, "  reading the total: %s\n", dkv_last_error());
		bad++;
	} else {
		printf("  total of all accounts, read in one transaction: %ld "
		       "(loaded %d)\n",
		       check.sum, ACCOUNTS * ACCOUNT_START);
		if (check.sum != (long)ACCOUNTS * ACCOUNT_START)
			bad++;
	}
	free(lat);
	return bad;
}

/* Runs nthreads jobs of one kind over g_kv[from, to) (puts) or nops random
 * reads; records the phase. Returns the failures. */
static size_t run_phase(dkv_client_t *c, const char *name, enum job_kind kind,
			int nthreads, size_t from, size_t to, size_t nops)
{
	struct job jobs[THREADS];
	pthread_t tids[THREADS];
	size_t total = kind == JOB_PUT ? to - from : nops, nlat = 0, bad = 0;
	double *lat = malloc((total + 1) * sizeof(*lat)), t0, secs;
	int first_rc = 0;

	if (lat == NULL) {
		fprintf(stderr, "dkv-demo-cluster: out of memory\n");
		exit(1);
	}
	for (int t = 0; t < nthreads; t++) {
		size_t share = kind == JOB_PUT
				       ? (to - from + (size_t)nthreads - 1 -
					  (size_t)t) / (size_t)nthreads
				       : nops / (size_t)nthreads +
						 ((size_t)t < nops % (size_t)nthreads);

		jobs[t] = (struct job){ .c = c, .kind = kind, .from = from,
					.to = to, .stride = (size_t)nthreads,
					.off = (size_t)t, .nops = share,
					.seed = (unsigned)(t * 7919 + 17),
					.lat = lat + nlat };
		nlat += share;
	}
	t0 = now_s();
	for (int t = 0; t < nthreads; t++)
		if (pthread_create(&tids[t], NULL, worker, &jobs[t]) != 0) {
			fprintf(stderr, "dkv-demo-cluster: pthread_create\n");
			exit(1);
		}
	for (int t = 0; t < nthreads; t++)
		pthread_join(tids[t], NULL);
	secs = now_s() - t0;
	/* Compact the per-thread regions (each job filled its own). */
	nlat = 0;
	for (int t = 0; t < nthreads; t++) {
		memmove(lat + nlat, jobs[t].lat, jobs[t].nlat * sizeof(*lat));
		nlat += jobs[t].nlat;
		if (jobs[t].bad && !bad)
			first_rc = jobs[t].first_rc;
		bad += jobs[t].bad;
	}
	print_phase(record(name, total, secs, lat, nlat),
		    kind == JOB_PUT ? "puts" : "gets");
	if (bad)
		fprintf(stderr, "  %zu failed (first: %s)\n", bad,
			first_rc < 0 ? dkv_strerror(first_rc) : "wrong value");
	free(lat);
	return bad;
}

/* --- range ------------------------------------------------------------------ */

struct page {
	int print;
	size_t n;
};

static int range_item(void *arg, const void *key, size_t klen,
		      const void *val, size_t vlen, uint64_t epoch)
{
	struct page *pg = arg;

	(void)epoch;
	if (pg->print)
		printf("    %-36.*s %.*s\n", (int)klen, (const char *)key,
		       (int)vlen, (const char *)val);
	pg->n++;
	return 0;
}

/* --- main ------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "max-files", required_argument, NULL, 'm' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const named[] = { "bash",	"libc6",  "coreutils",
					     "dpkg",	"apt",	  "openssl",
					     "python3", "gcc",	  "cmake",
					     "librocksdb-dev" };
	char exe[PATH_MAX], addrs[NODES][64], seeds[NODES * 64 + 8];
	char portstr[16], tmpl[] = "/tmp/dkv-demo-cluster-XXXXXX";
	size_t max_files = DEFAULT_MAX_FILES, bad = 0, serial;
	dkv_client_t *c;
	struct dkv_connect_opts opts = { 0 };
	ssize_t n;
	int o, port, rc;
	double t0, total_t0 = now_s();

	while ((o = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (o) {
		case 'm':
			max_files = strtoull(optarg, NULL, 10);
			break;
		case 'k':
			g_keep = 1;
			break;
		case 'h':
			printf("Usage: dkv-demo-cluster [--max-files N] "
			       "[--keep]\n"
			       "Start a 3-node dkv cluster in a temporary "
			       "directory, load this machine's\n"
			       "package database through libdkv, query it, "
			       "stop the cluster.\n"
			       "  --max-files N  file:<path> keys to load "
			       "(default %d)\n"
			       "  --keep         leave the cluster running\n",
			       DEFAULT_MAX_FILES);
			return 0;
		default:
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	g_main_pid = getpid();

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "dkv-demo-cluster: /proc/self/exe: %s\n",
			strerror(errno));
		return 1;
	}
	exe[n] = '\0';
	snprintf(g_bindir, sizeof(g_bindir), "%s", dirname(exe));

	/* Cleanup from here on, whatever happens. */
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);

	/* 1. the cluster */
	printf("== 1. start a 3-node cluster ==\n");
	if (mkdtemp(tmpl) == NULL) {
		fprintf(stderr, "dkv-demo-cluster: mkdtemp: %s\n",
			strerror(errno));
		return 1;
	}
	snprintf(g_dir, sizeof(g_dir), "%s", tmpl);
	port = find_ports();
	if (port < 0) {
		fprintf(stderr, "dkv-demo-cluster: no 3 free ports\n");
		return 1;
	}
	snprintf(portstr, sizeof(portstr), "%d", port);
	printf("$ dkv local start --nodes %d --dir %s --port %s\n", NODES,
	       g_dir, portstr);
	{
		char nodes[8];
		const char *args[] = { "local", "start", "--nodes", nodes,
				       "--dir", g_dir, "--port", portstr,
				       NULL };

		snprintf(nodes, sizeof(nodes), "%d", NODES);
		g_started = 1; /* stop even a partial start */
		t0 = now_s();
		rc = run_dkv(args);
		if (rc != 0) {
			fprintf(stderr, "dkv-demo-cluster: dkv local start "
					"failed (exit %d)\n",
				rc);
			return 1;
		}
	}
	seeds[0] = '\0';
	for (int i = 0; i < NODES; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "127.0.0.1:%d", port + i);
		strcat(seeds, i ? "," : "");
		strcat(seeds, addrs[i]);
	}
	printf("cluster up in %.2f s: nodes %s, %s, %s\n", now_s() - t0,
	       addrs[0], addrs[1], addrs[2]);

	opts.timeout_ms = 15000;
	opts.pool_size = THREADS;
	rc = dkv_connect(seeds, &opts, &c);
	if (rc < 0)
		die("connect", rc);
	{
		uint64_t ver = 0;

		if (dkv_cluster_map(c, 0, NULL, &ver) == 0)
			printf("libdkv %s connected (seeds %s), cluster map "
			       "version %" PRIu64 "\n",
			       dkv_version(), seeds, ver);
	}

	/* 2. load */
	printf("\n== 2. load this machine's package database ==\n");
	read_packages();
	read_files(max_files);
	dedupe();
	shuffle();
	printf("read %zu packages (pkg:<name>), %zu programs of /usr/bin "
	       "({bin}/<name>), %zu other files (file:<path>)\n",
	       g_npkg, g_nbin, g_nfile);
	serial = g_nkv < SERIAL_PUTS ? g_nkv : SERIAL_PUTS;
	printf("durable puts from 1 thread (each waits for its own "
	       "commit):\n");
	bad += run_phase(c, "put, 1 thread", JOB_PUT, 1, 0, serial, 0);
	printf("durable puts from %d threads sharing one handle "
	       "(group commit batches them):\n",
	       THREADS);
	bad += run_phase(c, "put, 8 threads", JOB_PUT, THREADS, serial,
			 g_nkv, 0);
	printf("loaded %zu keys in %.2f s\n", g_nkv,
	       g_phases[0].secs + g_phases[1].secs);

	/* 3. point reads */
	printf("\n== 3. point reads ==\n");
	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
		char key[300], where[DKV_ADDR_MAX];
		int s = (int)(random() % NODES);
		dkv_client_t *c2;
		void *val = NULL;
		size_t len = 0;
		uint32_t shard = 0;

		snprintf(key, sizeof(key), "pkg:%s", named[i]);
		rc = dkv_connect(addrs[s], &opts, &c2);
		if (rc < 0)
			die("connect", rc);
		rc = dkv_get_alloc(c2, NULL, 0, key, strlen(key), &val, &len);
		if (rc == DKV_ERR_NOT_FOUND) {
			dkv_disconnect(c2);
			continue; /* not installed here */
		}
		if (rc < 0)
			die(key, rc);
		dkv_shard_of(c2, key, strlen(key), &shard, where,
			     sizeof(where));
		printf("  seed %s  get %-20s -> %.60s\n"
		       "  %*s(shard %u on %s)\n",
		       addrs[s], key, (char *)val, 21, "", shard, where);
		dkv_free(val);
		dkv_disconnect(c2);
	}
	printf("random reads of loaded keys, %d threads, each value "
	       "checked:\n",
	       THREADS);
	bad += run_phase(c, "get, random", JOB_GET, THREADS, 0, 0,
			 RANDOM_GETS);
	printf("where keys live (dkv_shard_of, by the cached map):\n");
	{
		static const char *const keys[] = { "pkg:bash", "pkg:libc6",
						    "{bin}/bash", "{bin}/ls",
						    "{bin}/zcat" };

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			char where[DKV_ADDR_MAX];
			uint32_t shard;

			rc = dkv_shard_of(c, keys[i], strlen(keys[i]), &shard,
					  where, sizeof(where));
			if (rc < 0)
				die("shard_of", rc);
			printf("  %-12s shard %3u on node %s\n", keys[i], shard,
			       where);
		}
		printf("  (every {bin}/ key shares the hash tag {bin}: one "
		       "shard, so one range search reads them all)\n");
	}

	/* 4. range search */
	printf("\n== 4. range search: {bin}/ in pages of %d ==\n", PAGE);
	{
		static const char start[] = "{bin}/", end[] = "{bin}0";
		double *lat, rt0, secs;
		size_t pages = 0, items = 0, cap = 4096, first = 0;

		lat = malloc(cap * sizeof(*lat));
		if (lat == NULL)
			return 1;
		rt0 = now_s();
		for (int pass = 0; pass < RANGE_PASSES; pass++) {
			struct dkv_anchor a = DKV_ANCHOR_INIT;
			struct page pg = { pass == 0, 0 };

			if (pass == 0)
				printf("  first page, [\"{bin}/\", "
				       "\"{bin}0\") limit %d:\n",
				       PAGE);

			while (!dkv_anchor_is_eof(&a)) {
				double p0 = now_s();

				rc = dkv_range(c, NULL, 0, start,
					       strlen(start), end, strlen(end),
					       PAGE, &a, range_item, &pg);
				if (rc < 0) {
					dkv_anchor_fini(&a);
					die("range", rc);
				}
				if (pages == cap) {
					cap *= 2;
					lat = realloc(lat, cap * sizeof(*lat));
					if (lat == NULL)
						return 1;
				}
				lat[pages++] = now_s() - p0;
				pg.print = 0; /* the first page only */
			}
			dkv_anchor_fini(&a);
			if (pass == 0) {
				first = pg.n;
				printf("  ... %zu keys under {bin}/ in %zu "
				       "pages (%zu loaded)\n",
				       pg.n, pages, g_nbin);
			}
			items += pg.n;
			if (pg.n != first && bad++ == 0)
				fprintf(stderr, "  pass %d saw %zu keys, not "
						"%zu\n",
					pass + 1, pg.n, first);
		}
		secs = now_s() - rt0;
		printf("  %d full scans, one anchor each:\n", RANGE_PASSES);
		print_phase(record("range, page of 10", pages, secs, lat,
				   pages),
			    "pages");
		printf("  = %.0f keys/s\n", secs > 0 ? items / secs : 0.0);
		if (first != g_nbin && bad++ == 0)
			fprintf(stderr, "  the range saw %zu keys, %zu were "
					"loaded\n",
				first, g_nbin);
		free(lat);
	}
	/* 5. transactions */
	printf("\n== 5. transactions: transfers between accounts ==\n");
	bad += run_transfers(c);
	dkv_disconnect(c);

	/* 6. summary */
	printf("\n== 6. summary ==\n");
	printf("  %-20s %8s %10s %10s %10s\n", "phase", "ops", "ops/s",
	       "p50 (us)", "p99 (us)");
	for (int i = 0; i < g_nphases; i++) {
		const struct phase *p = &g_phases[i];

		printf("  %-20s %8zu %10.0f %10.0f %10.0f\n", p->name, p->ops,
		       p->secs > 0 ? p->ops / p->secs : 0.0, p->p50, p->p99);
	}
	printf("  %zu failures; demo ran %.1f s\n", bad, now_s() - total_t0);
	return bad ? 1 : 0;
}
