/*
 * crash_store.c - crash tests of the store with real processes.
 *
 * 1. Durability: for each durability mode a child process (this binary,
 *    re-executed, so it starts with no RocksDB state inherited through
 *    fork) opens a store and commits batches from several threads; after
 *    each commit returns it reports the batch's sequence number on a pipe.
 *    The parent SIGKILLs the child after a random delay, reopens the store
 *    and checks that every acknowledged batch is there, whole and with the
 *    right values, and that every batch found is whole (atomicity). Eight
 *    kill/restart cycles run on one directory, so a recovered store is
 *    itself crashed and recovered again.
 *
 * 2. Shard life cycle: a child exits at a fault point of a shard create,
 *    copy or drop (dkv_store_fault_hook); the parent reopens and checks
 *    that the operation was rolled back (create, copy) or finished (drop).
 *
 * The seed is printed first; DKV_SEED=<n> replays a run's kill delays.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hlc/hlc.h"
#include "store/store.h"
#include "../unit/tmpdir.h"

#define SHARD 1
#define CYCLES 8
#define MAX_WRITERS 8
#define MAX_PUTS 4
#define VAL_MAX 160
#define KEY_MAX 48
#define READY_WRITER UINT32_MAX
#define ACK_MAGIC 0xac4bu
#define MIN_ACKS_PER_MODE 20 /* and acks in MIN_CYCLES_ACKED cycles */
#define MIN_CYCLES_ACKED 3
#define READY_TIMEOUT_MS 30000

/* One acknowledged batch, written to the pipe in one write(2) (smaller
 * than PIPE_BUF, so atomic even with several writer threads). */
struct ack {
	uint32_t magic;
	uint32_t writer; /* READY_WRITER: the child is open and starting */
	uint64_t seq;
};

static uint64_t g_seed;
static pid_t g_child; /* a child the parent has not reaped yet */

/* Fails the test, first killing a running child so none is left behind. */
#define FAIL(...)                                                              \
	do {                                                                   \
		reap_child();                                                  \
		fail_msg(__VA_ARGS__);                                         \
	} while (0)

static void reap_child(void)
{
	if (g_child > 0) {
		kill(g_child, SIGKILL);
		waitpid(g_child, NULL, 0);
		g_child = 0;
	}
}

/* --- shared by parent and child ------------------------------------------ */

static uint64_t mix64(uint64_t z)
{
	z += UINT64_C(0x9e3779b97f4a7c15);
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * UINT64_C(0x100000001b3);
	return h;
}

/* Number of versioned puts in batch (writer, seq): 1..MAX_PUTS. */
static unsigned batch_puts(uint32_t w, uint64_t seq)
{
	return 1 + (unsigned)(mix64((uint64_t)w << 56 ^ seq) % MAX_PUTS);
}

static size_t put_key(char *buf, uint32_t w, uint64_t seq, unsigned j)
{
	return (size_t)snprintf(buf, KEY_MAX, "k%02u-%016" PRIx64 "-%u", w, seq,
				j);
}

static size_t plain_key(char *buf, uint32_t w, uint64_t seq)
{
	return (size_t)snprintf(buf, KEY_MAX, "p%02u-%016" PRIx64, w, seq);
}

/* The value of a key: 8..127 bytes derived from the key alone. */
static size_t derive(const char *key, size_t klen, char *out)
{
	uint64_t h = hash_bytes(key, klen);
	size_t len = 8 + (size_t)(h % 120);

	for (size_t i = 0; i < len; i++)
		out[i] = (char)mix64(h + i);
	return len;
}

static int store_open_mode(const char *dir, enum dkv_durability mode,
			   struct dkv_store **out)
{
	struct dkv_store_opts o;

	dkv_store_opts_init(&o, dir);
	o.durability = mode;
	o.write_buffer_bytes = 4u << 20; /* flushes during the run */
	o.cache_bytes = 8u << 20;
	return dkv_store_open(&o, out);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- the child of the durability test ------------------------------------ */

struct writer {
	struct dkv_store *store;
	uint32_t id;
	uint64_t seq_base;
	int fd;
};

static void child_die(const char *what, int rc) __attribute__((noreturn));
static void child_die(const char *what, int rc)
{
	fprintf(stderr, "crash child %d: %s: rc %d (%s)\n", (int)getpid(), what,
		rc, dkv_errname(rc));
	_exit(20);
}

static void ack_send(int fd, uint32_t writer, uint64_t seq)
{
	struct ack a = { ACK_MAGIC, writer, seq };
	ssize_t n;

	do {
		n = write(fd, &a, sizeof(a));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(a))
		child_die("ack write", DKV_ERR_IO);
}

static void *writer_main(void *arg)
{
	struct writer *wr = arg;
	struct dkv_batch *b = NULL;
	char key[KEY_MAX], val[VAL_MAX];
	int rc;

	rc = dkv_batch_create(wr->store, &b);
	if (rc != 0)
		child_die("batch create", rc);
	for (uint64_t seq = wr->seq_base;; seq++) {
		unsigned n = batch_puts(wr->id, seq);
		size_t klen, vlen;

		for (unsigned j = 0; j < n; j++) {
			klen = put_key(key, wr->id, seq, j);
			vlen = derive(key, klen, val);
			rc = dkv_batch_put(b, SHARD, key, klen, val, vlen,
					   seq);
			if (rc != 0)
				child_die("batch put", rc);
		}
		klen = plain_key(key, wr->id, seq);
		vlen = derive(key, klen, val);
		rc = dkv_batch_put_plain(b, SHARD, key, klen, val, vlen);
		if (rc != 0)
			child_die("batch put_plain", rc);
		rc = dkv_batch_commit(b);
		if (rc != 0)
			child_die("commit", rc);
		ack_send(wr->fd, wr->id, seq);
	}
	return NULL;
}

/* argv: --crash-child dir mode writers seq_base fd */
static int crash_child(char **argv)
{
	const char *dir = argv[2];
	enum dkv_durability mode = (enum dkv_durability)atoi(argv[3]);
	int nw = atoi(argv[4]);
	uint64_t base = strtoull(argv[5], NULL, 0);
	int fd = atoi(argv[6]);
	struct writer wr[MAX_WRITERS];
	pthread_t th[MAX_WRITERS];
	struct dkv_store *s = NULL;
	int rc;

	if (nw < 1 || nw > MAX_WRITERS)
		child_die("writers", DKV_ERR_INVAL);
	rc = store_open_mode(dir, mode, &s);
	if (rc != 0)
		child_die("open", rc);
	/* Only the first run of a directory creates the shard (or a run
	 * after a crash that interrupted the create). */
	if (!dkv_store_shard_exists(s, SHARD)) {
		rc = dkv_store_shard_create(s, SHARD);
		if (rc != 0)
			child_die("shard create", rc);
	}
	ack_send(fd, READY_WRITER, 0);
	for (int i = 0; i < nw; i++) {
		wr[i].store = s;
		wr[i].id = (uint32_t)i;
		wr[i].seq_base = base;
		wr[i].fd = fd;
		if (pthread_create(&th[i], NULL, writer_main, &wr[i]) != 0)
			child_die("pthread_create", DKV_ERR_NOMEM);
	}
	for (int i = 0; i < nw; i++)
		pthread_join(th[i], NULL);
	return 21; /* the writers never stop */
}

/* --- the child of the fault-point tests ---------------------------------- */

static const char *g_fault_point;

static void fault_exit(const char *point)
{
	if (g_fault_point != NULL && strcmp(point, g_fault_point) == 0)
		_exit(0); /* a crash right here */
}

/* argv: --fault-child dir point op shard [dst] */
static int fault_child(char **argv)
{
	struct dkv_store *s = NULL;
	const char *op = argv[4];
	uint32_t id = (uint32_t)atoi(argv[5]);
	int rc;

	rc = store_open_mode(argv[2], DKV_DUR_GROUP, &s);
	if (rc != 0)
		child_die("open", rc);
	g_fault_point = argv[3];
	dkv_store_fault_hook = fault_exit;
	if (strcmp(op, "create") == 0)
		rc = dkv_store_shard_create(s, id);
	else if (strcmp(op, "copy") == 0)
		rc = dkv_store_shard_copy(s, id, (uint32_t)atoi(argv[6]));
	else if (strcmp(op, "drop") == 0)
		rc = dkv_store_shard_drop(s, id);
	else
		rc = DKV_ERR_INVAL;
	fprintf(stderr, "fault child: %s returned %d without reaching %s\n",
		op, rc, argv[3]);
	_exit(3);
}

/* --- parent helpers ------------------------------------------------------- */

static uint64_t g_rng;

static uint64_t rnd(void)
{
	g_rng += UINT64_C(0x9e3779b97f4a7c15);
	return mix64(g_rng);
}

/* Starts this binary again (a fresh process image, with no RocksDB state
 * inherited) with args; the child keeps the fds not marked close-on-exec. */
static pid_t spawn(char *const args[])
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		execv("/proc/self/exe", args);
		fprintf(stderr, "execv: %s\n", strerror(errno));
		_exit(127);
	}
	g_child = pid;
	return pid;
}

static const char *status_str(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "status 0x%x", st);
	return buf;
}

struct acks {
	struct ack *a;
	size_t n, cap;
};

static void acks_push(struct acks *v, const struct ack *a)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? 2 * v->cap : 1024;
		v->a = realloc(v->a, v->cap * sizeof(*v->a));
		assert_non_null(v->a);
	}
	v->a[v->n++] = *a;
}

/* Reads what is in the pipe; returns 0 at EOF. rest/nrest carry a
 * partial record between reads. */
static int acks_read(int fd, struct acks *v, char *rest, size_t *nrest,
		     int *ready, int nwriters)
{
	char buf[16 * 1024];
	ssize_t n;
	size_t off = 0;

	memcpy(buf, rest, *nrest);
	do {
		n = read(fd, buf + *nrest, sizeof(buf) - *nrest);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		FAIL("pipe read: %s", strerror(errno));
	if (n == 0)
		return 0;
	n += (ssize_t)*nrest;
	for (; off + sizeof(struct ack) <= (size_t)n;
	     off += sizeof(struct ack)) {
		struct ack a;

		memcpy(&a, buf + off, sizeof(a));
		if (a.magic != ACK_MAGIC)
			FAIL("garbled ack record");
		if (a.writer == READY_WRITER) {
			*ready = 1;
			continue;
		}
		if (a.writer >= (uint32_t)nwriters)
			FAIL("ack from writer %u", a.writer);
		acks_push(v, &a);
	}
	*nrest = (size_t)n - off;
	memcpy(rest, buf + off, *nrest);
	return 1;
}

/* What a scan of the shard found: per batch (writer, seq), the number of
 * its puts and whether its plain record is there. Open addressing. */
struct found {
	uint64_t key; /* writer << 56 | seq; 0 = empty slot */
	uint8_t puts, plain;
};

struct table {
	struct found *t;
	size_t cap, n;
};

static struct found *table_get(struct table *tb, uint32_t w, uint64_t seq,
			       int add)
{
	uint64_t k = (uint64_t)(w + 1) << 56 | seq;
	size_t i;

	if (add && 2 * (tb->n + 1) > tb->cap) {
		struct table nt = { calloc(tb->cap ? 2 * tb->cap : 4096,
					   sizeof(struct found)),
				    tb->cap ? 2 * tb->cap : 4096, 0 };

		assert_non_null(nt.t);
		for (size_t j = 0; j < tb->cap; j++) {
			struct found *f = &tb->t[j], *g;

			if (f->key == 0)
				continue;
			g = table_get(&nt, (uint32_t)(f->key >> 56) - 1,
				      f->key & ((UINT64_C(1) << 56) - 1), 1);
			g->puts = f->puts;
			g->plain = f->plain;
		}
		free(tb->t);
		*tb = nt;
	}
	if (tb->cap == 0)
		return NULL;
	for (i = mix64(k) & (tb->cap - 1);; i = (i + 1) & (tb->cap - 1)) {
		if (tb->t[i].key == k)
			return &tb->t[i];
		if (tb->t[i].key == 0)
			break;
	}
	if (!add)
		return NULL;
	tb->t[i].key = k;
	tb->n++;
	return &tb->t[i];
}

struct scan_ctx {
	struct table *tb;
	int plain;
	int nwriters;
	long items;
};

/* Checks one scanned record: a well-formed key, its derived value, its
 * epoch; counts it for its batch. */
static int scan_cb(void *ctx, const char *key, size_t klen, const char *val,
		   size_t vlen, uint64_t epoch)
{
	struct scan_ctx *sc = ctx;
	char k[KEY_MAX], want[VAL_MAX];
	unsigned w = 0, j = 0;
	uint64_t seq = 0;
	int used = -1;
	size_t wlen;
	struct found *f;

	if (klen == 0 || klen >= KEY_MAX)
		FAIL("scanned key of %zu bytes", klen);
	memcpy(k, key, klen);
	k[klen] = '\0';
	if (sc->plain)
		sscanf(k, "p%2u-%16" SCNx64 "%n", &w, &seq, &used);
	else
		sscanf(k, "k%2u-%16" SCNx64 "-%1u%n", &w, &seq, &j, &used);
	if (used != (int)klen || w >= (unsigned)sc->nwriters)
		FAIL("unexpected key \"%s\"", k);
	wlen = derive(key, klen, want);
	if (vlen != wlen || memcmp(val, want, vlen) != 0)
		FAIL("key %s: wrong value (len %zu, want %zu)", k, vlen,
		     wlen);
	if (!sc->plain && (epoch != seq || j >= batch_puts(w, seq)))
		FAIL("key %s: epoch %" PRIu64 " / index out of batch", k,
		     epoch);
	f = table_get(sc->tb, w, seq, 1);
	if (sc->plain)
		f->plain++;
	else
		f->puts++;
	sc->items++;
	return 0;
}

struct verify_result {
	long batches_found; /* batches in the store */
	long acked_checked; /* acknowledged batches verified */
};

/* Reopens the store and checks every acknowledged batch and the
 * atomicity of every batch present. */
static void verify_store(const char *dir, enum dkv_durability mode,
			 const struct acks *acks, size_t cycle_from,
			 int nwriters, int shard_must_exist,
			 struct verify_result *res)
{
	struct dkv_store *s = NULL;
	struct table tb = { 0 };
	struct scan_ctx sc = { &tb, 0, nwriters, 0 };
	struct dkv_range r;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = store_open_mode(dir, mode, &s);
	if (rc != 0)
		FAIL("reopen after crash: rc %d (%s)", rc,
		     dkv_errname(rc));
	if (!dkv_store_shard_exists(s, SHARD)) {
		if (shard_must_exist || acks->n > 0)
			FAIL("shard %u lost after a crash", SHARD);
		dkv_store_close(s);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.epoch = DKV_EPOCH_MAX;
	rc = dkv_store_range(s, SHARD, &r, scan_cb, &sc, NULL);
	if (rc < 0)
		FAIL("range: rc %d (%s)", rc, dkv_errname(rc));
	sc.plain = 1;
	rc = dkv_store_scan_plain(s, SHARD, NULL, 0, NULL, 0, scan_cb, &sc);
	if (rc < 0)
		FAIL("scan_plain: rc %d (%s)", rc, dkv_errname(rc));
	/* Atomicity: every batch present is whole. */
	for (size_t i = 0; i < tb.cap; i++) {
		struct found *f = &tb.t[i];
		uint32_t w;
		uint64_t seq;

		if (f->key == 0)
			continue;
		w = (uint32_t)(f->key >> 56) - 1;
		seq = f->key & ((UINT64_C(1) << 56) - 1);
		if (f->puts != batch_puts(w, seq) || f->plain != 1)
			FAIL("batch w%u seq %" PRIx64 " torn: %u of %u puts, "
			     "%u plain records",
			     w, seq, f->puts, batch_puts(w, seq), f->plain);
		res->batches_found++;
	}
	/* Durability: every acknowledged batch is there. */
	for (size_t i = 0; i < acks->n; i++) {
		const struct ack *a = &acks->a[i];

		if (table_get(&tb, a->writer, a->seq, 0) == NULL)
			FAIL("acknowledged batch w%u seq %" PRIx64
			     " (ack %zu of %zu) is missing",
			     a->writer, a->seq, i, acks->n);
		res->acked_checked++;
	}
	/* And through point reads: the newest acks of this cycle. */
	for (size_t i = acks->n; i-- > cycle_from && i + 64 > acks->n;) {
		const struct ack *a = &acks->a[i];
		char key[KEY_MAX], want[VAL_MAX];
		struct dkv_val v;
		size_t klen = put_key(key, a->writer, a->seq, 0);
		size_t wlen = derive(key, klen, want);

		rc = dkv_store_get(s, SHARD, key, klen, DKV_EPOCH_MAX, &v);
		if (rc != 0 || v.epoch != a->seq || v.len != wlen ||
		    memcmp(v.data, want, wlen) != 0)
			FAIL("get %s: rc %d epoch %" PRIu64 " len %zu", key,
			     rc, v.epoch, v.len);
		dkv_val_release(&v);
		klen = plain_key(key, a->writer, a->seq);
		wlen = derive(key, klen, want);
		rc = dkv_store_get_plain(s, SHARD, key, klen, &v);
		if (rc != 0 || v.len != wlen || memcmp(v.data, want, wlen) != 0)
			FAIL("get_plain %s: rc %d len %zu", key, rc, v.len);
		dkv_val_release(&v);
	}
	dkv_store_close(s);
	free(tb.t);
}

/* --- 1. durability under SIGKILL ------------------------------------------ */

static void crash_cycles(enum dkv_durability mode, const char *name,
			 int nwriters)
{
	char dir[256];
	struct acks acks = { 0 };
	long total_found = 0;
	int ever_ready = 0, cycles_acked = 0;
	uint64_t t0 = now_ms();

	g_rng = g_seed ^ mix64((uint64_t)mode + 1);
	assert_int_equal(test_tmpdir_make(dir, sizeof(dir)), 0);
	printf("  %s: %d writer%s, %d kill/restart cycles in %s\n", name,
	       nwriters, nwriters > 1 ? "s" : "", CYCLES, dir);
	for (int cycle = 0; cycle < CYCLES; cycle++) {
		char a_mode[8], a_nw[8], a_base[32], a_fd[8], st_buf[32];
		char *args[8];
		int fds[2], st = 0, ready = 0;
		uint64_t delay = 5 + rnd() % 146;
		int from_spawn = rnd() % 8 == 0; /* may kill during open */
		uint64_t start, deadline;
		char rest[sizeof(struct ack)];
		size_t nrest = 0, before = acks.n;
		struct verify_result vr;
		pid_t pid;

		assert_int_equal(pipe(fds), 0);
		assert_int_equal(fcntl(fds[0], F_SETFD, FD_CLOEXEC), 0);
		snprintf(a_mode, sizeof(a_mode), "%d", (int)mode);
		snprintf(a_nw, sizeof(a_nw), "%d", nwriters);
		snprintf(a_base, sizeof(a_base), "%" PRIu64,
			 ((uint64_t)cycle + 1) << 32);
		snprintf(a_fd, sizeof(a_fd), "%d", fds[1]);
		args[0] = (char *)"crash_store";
		args[1] = (char *)"--crash-child";
		args[2] = dir;
		args[3] = a_mode;
		args[4] = a_nw;
		args[5] = a_base;
		args[6] = a_fd;
		args[7] = NULL;
		start = now_ms();
		pid = spawn(args);
		close(fds[1]);
		deadline = from_spawn ? start + delay
				      : start + READY_TIMEOUT_MS;
		for (;;) {
			uint64_t now = now_ms();
			struct pollfd p = { fds[0], POLLIN, 0 };

			if (now >= deadline)
				break;
			if (poll(&p, 1, (int)(deadline - now)) <= 0)
				continue;
			if (!acks_read(fds[0], &acks, rest, &nrest, &ready,
				       nwriters)) {
				waitpid(pid, &st, 0);
				g_child = 0;
				FAIL("%s cycle %d: child died on its own "
				     "(%s)",
				     name, cycle,
				     status_str(st, st_buf, sizeof(st_buf)));
			}
			if (ready && !from_spawn &&
			    deadline == start + READY_TIMEOUT_MS)
				deadline = now_ms() + delay;
		}
		if (!ready && !from_spawn)
			FAIL("%s cycle %d: child not ready in %d ms", name,
			     cycle, READY_TIMEOUT_MS);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		g_child = 0;
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
			FAIL("%s cycle %d: child ended with %s, not by the "
			     "kill",
			     name, cycle,
			     status_str(st, st_buf, sizeof(st_buf)));
		while (acks_read(fds[0], &acks, rest, &nrest, &ready,
				 nwriters))
			;
		close(fds[0]);
		if (nrest != 0)
			FAIL("%s: partial ack record", name);
		ever_ready |= ready;
		cycles_acked += acks.n > before;
		verify_store(dir, mode, &acks, before, nwriters, ever_ready,
			     &vr);
		total_found = vr.batches_found;
		printf("    cycle %d: killed %s+%" PRIu64 " ms, %zu acks, "
		       "%ld batches in store, %ld acks verified\n",
		       cycle, from_spawn ? "spawn" : "ready", delay,
		       acks.n - before, vr.batches_found, vr.acked_checked);
	}
	printf("  %s: %zu acknowledged batches, all present; %ld batches in "
	       "the store (%ld not acknowledged); %.1f s\n",
	       name, acks.n, total_found, total_found - (long)acks.n,
	       (double)(now_ms() - t0) / 1000.0);
	fflush(stdout);
	if (acks.n < MIN_ACKS_PER_MODE || cycles_acked < MIN_CYCLES_ACKED)
		FAIL("%s: only %zu acks, in %d of %d cycles: the test "
		     "proved little",
		     name, acks.n, cycles_acked, CYCLES);
	free(acks.a);
	test_tmpdir_remove(dir);
}

static void crash_fsync(void **state)
{
	(void)state;
	crash_cycles(DKV_DUR_FSYNC, "FSYNC", 2);
}

static void crash_group(void **state)
{
	(void)state;
	crash_cycles(DKV_DUR_GROUP, "GROUP", 8);
}

static void crash_none(void **state)
{
	(void)state;
	crash_cycles(DKV_DUR_NONE, "NONE", 4);
}

/* --- 2. shard life-cycle fault points ------------------------------------- */

#define FP_KEYS 300

static void fp_key(char *buf, size_t len, int i)
{
	snprintf(buf, len, "key-%05d", i);
}

/* A shard with two versions of each key (some deleted), plain records and
 * a history watermark. */
static void fp_fill(struct dkv_store *s, uint32_t id)
{
	struct dkv_batch *b = NULL;
	char key[32], val[VAL_MAX];
	uint64_t wm = 0;

	assert_int_equal(dkv_store_shard_create(s, id), 0);
	assert_int_equal(dkv_batch_create(s, &b), 0);
	for (int i = 0; i < FP_KEYS; i++) {
		size_t vlen;

		fp_key(key, sizeof(key), i);
		vlen = derive(key, strlen(key), val);
		assert_int_equal(dkv_batch_put(b, id, key, strlen(key), val,
					       vlen, 100),
				 0);
		if (i % 5 == 0)
			assert_int_equal(dkv_batch_del(b, id, key, strlen(key),
						       200),
					 0);
		else
			assert_int_equal(dkv_batch_put(b, id, key, strlen(key),
						       val, vlen / 2, 200),
					 0);
		if (i % 6 == 0)
			assert_int_equal(dkv_batch_put_plain(b, id, key,
							     strlen(key), val,
							     vlen),
					 0);
	}
	assert_int_equal(dkv_batch_commit(b), 0);
	dkv_batch_destroy(b);
	assert_int_equal(dkv_store_gc(s, id, 150, 0, &wm), 0);
	assert_int_equal(wm, 150);
}

struct digest {
	uint64_t h;
	long n;
};

static int digest_cb(void *ctx, const char *key, size_t klen, const char *val,
		     size_t vlen, uint64_t epoch)
{
	struct digest *d = ctx;

	d->h = mix64(d->h ^ hash_bytes(key, klen));
	d->h = mix64(d->h ^ hash_bytes(val, vlen));
	d->h = mix64(d->h ^ epoch);
	d->n++;
	return 0;
}

/* A digest of a shard: its versioned data at two epochs, its plain
 * records and its watermark. */
static struct digest shard_digest(struct dkv_store *s, uint32_t id)
{
	struct digest d = { 0, 0 };
	struct dkv_range r;

	memset(&r, 0, sizeof(r));
	r.epoch = DKV_EPOCH_MAX;
	assert_true(dkv_store_range(s, id, &r, digest_cb, &d, NULL) >= 0);
	r.epoch = 150;
	assert_true(dkv_store_range(s, id, &r, digest_cb, &d, NULL) >= 0);
	assert_true(dkv_store_scan_plain(s, id, NULL, 0, NULL, 0, digest_cb,
					 &d) >= 0);
	d.h = mix64(d.h ^ dkv_store_watermark(s, id));
	return d;
}

/* A recreated shard must be new: empty, without the old watermark. */
static void assert_empty_shard(struct dkv_store *s, uint32_t id)
{
	struct digest d = { 0, 0 };
	struct dkv_range r;
	struct dkv_val v;
	char key[32];

	memset(&r, 0, sizeof(r));
	r.epoch = DKV_EPOCH_MAX;
	assert_int_equal(dkv_store_range(s, id, &r, digest_cb, &d, NULL), 0);
	r.epoch = 1;
	assert_int_equal(dkv_store_range(s, id, &r, digest_cb, &d, NULL), 0);
	assert_int_equal(dkv_store_scan_plain(s, id, NULL, 0, NULL, 0,
					      digest_cb, &d),
			 0);
	assert_int_equal(dkv_store_watermark(s, id), 0);
	fp_key(key, sizeof(key), 1);
	assert_int_equal(dkv_store_get(s, id, key, strlen(key), 100, &v),
			 DKV_ERR_NOT_FOUND);
}

static void assert_shards(struct dkv_store *s, const uint32_t *want,
			  size_t n)
{
	uint32_t ids[16];
	int total = dkv_store_shard_list(s, ids, 16);

	if ((size_t)total != n)
		FAIL("%d shards, want %zu", total, n);
	for (size_t i = 0; i < n; i++)
		if (ids[i] != want[i])
			FAIL("shard %zu is %u, want %u", i, ids[i],
			     want[i]);
}

/* Runs op in a child that must exit(0) at the fault point. */
static void fault_run(const char *dir, const char *point, const char *op,
		      uint32_t id, uint32_t dst)
{
	char a_id[16], a_dst[16], st_buf[32];
	char *args[8];
	int st = 0;
	pid_t pid;

	snprintf(a_id, sizeof(a_id), "%u", id);
	snprintf(a_dst, sizeof(a_dst), "%u", dst);
	args[0] = (char *)"crash_store";
	args[1] = (char *)"--fault-child";
	args[2] = (char *)dir;
	args[3] = (char *)point;
	args[4] = (char *)op;
	args[5] = a_id;
	args[6] = a_dst;
	args[7] = NULL;
	pid = spawn(args);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	g_child = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		FAIL("fault child (%s at %s) ended with %s", op, point,
		     status_str(st, st_buf, sizeof(st_buf)));
}

static void fault_point(const char *point)
{
	char dir[256];
	struct dkv_store *s = NULL;
	struct digest d1, d2, d;
	int is_drop = strncmp(point, "drop.", 5) == 0;

	assert_int_equal(test_tmpdir_make(dir, sizeof(dir)), 0);
	assert_int_equal(store_open_mode(dir, DKV_DUR_GROUP, &s), 0);
	fp_fill(s, 1);
	fp_fill(s, 2);
	d1 = shard_digest(s, 1);
	d2 = shard_digest(s, 2);
	dkv_store_close(s);

	if (strcmp(point, "create.families") == 0)
		fault_run(dir, point, "create", 7, 0);
	else if (strcmp(point, "copy.filled") == 0)
		fault_run(dir, point, "copy", 1, 8);
	else
		fault_run(dir, point, "drop", 1, 0);

	/* Twice: recovery must also be right when it runs again. */
	for (int round = 0; round < 2; round++) {
		assert_int_equal(store_open_mode(dir, DKV_DUR_GROUP, &s), 0);
		d = shard_digest(s, 2);
		assert_true(d.h == d2.h && d.n == d2.n);
		if (is_drop) {
			static const uint32_t left[] = { 2 };

			assert_false(dkv_store_shard_exists(s, 1));
			assert_shards(s, left, 1);
		} else {
			static const uint32_t left[] = { 1, 2 };

			assert_false(dkv_store_shard_exists(s, 7));
			assert_false(dkv_store_shard_exists(s, 8));
			assert_shards(s, left, 2);
			d = shard_digest(s, 1);
			assert_true(d.h == d1.h && d.n == d1.n);
		}
		dkv_store_close(s);
	}

	/* The id can be used again, for a new empty shard. */
	assert_int_equal(store_open_mode(dir, DKV_DUR_GROUP, &s), 0);
	if (is_drop) {
		static const uint32_t ids[] = { 1, 2 };

		assert_int_equal(dkv_store_shard_drop(s, 1), DKV_ERR_NO_SHARD);
		assert_int_equal(dkv_store_shard_create(s, 1), 0);
		assert_empty_shard(s, 1);
		dkv_store_close(s);
		assert_int_equal(store_open_mode(dir, DKV_DUR_GROUP, &s), 0);
		assert_shards(s, ids, 2);
		assert_empty_shard(s, 1);
	} else if (strcmp(point, "create.families") == 0) {
		static const uint32_t ids[] = { 1, 2, 7 };

		assert_int_equal(dkv_store_shard_create(s, 7), 0);
		assert_empty_shard(s, 7);
		dkv_store_close(s);
		assert_int_equal(store_open_mode(dir, DKV_DUR_GROUP, &s), 0);
		assert_shards(s, ids, 3);
		assert_empty_shard(s, 7);
	} else {
		static const uint32_t ids[] = { 1, 2, 8 };

		/* Nothing of the interrupted copy is left in the id... */
		assert_int_equal(dkv_store_shard_create(s, 8), 0);
		assert_empty_shard(s, 8);
		assert_int_equal(dkv_store_shard_drop(s, 8), 0);
		/* ...and the copy can be made again, whole. */
		assert_int_equal(dkv_store_shard_copy(s, 1, 8), 0);
		d = shard_digest(s, 8);
		assert_true(d.h == d1.h && d.n == d1.n);
		dkv_store_close(s);
		assert_int_equal(store_open_mode(dir, DKV_DUR_GROUP, &s), 0);
		assert_shards(s, ids, 3);
		d = shard_digest(s, 8);
		assert_true(d.h == d1.h && d.n == d1.n);
	}
	dkv_store_close(s);
	printf("  %s: recovered as expected\n", point);
	test_tmpdir_remove(dir);
}

static void fault_create_families(void **state)
{
	(void)state;
	fault_point("create.families");
}

static void fault_copy_filled(void **state)
{
	(void)state;
	fault_point("copy.filled");
}

static void fault_drop_decided(void **state)
{
	(void)state;
	fault_point("drop.decided");
}

static void fault_drop_families(void **state)
{
	(void)state;
	fault_point("drop.families");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(crash_fsync),
		cmocka_unit_test(crash_group),
		cmocka_unit_test(crash_none),
		cmocka_unit_test(fault_create_families),
		cmocka_unit_test(fault_copy_filled),
		cmocka_unit_test(fault_drop_decided),
		cmocka_unit_test(fault_drop_families),
	};
	const char *env = getenv("DKV_SEED");
	struct timespec ts;

	if (argc >= 7 && strcmp(argv[1], "--crash-child") == 0)
		return crash_child(argv);
	if (argc >= 7 && strcmp(argv[1], "--fault-child") == 0)
		return fault_child(argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	g_seed = env && *env ? strtoull(env, NULL, 0)
			     : (uint64_t)ts.tv_sec * 1000003u ^
				       (uint64_t)ts.tv_nsec ^
				       (uint64_t)getpid() << 32;
	printf("test_store_crash: seed %" PRIu64 " (DKV_SEED=%" PRIu64
	       " replays the kill delays)\n",
	       g_seed, g_seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
