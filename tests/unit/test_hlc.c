/*
 * The epoch manager: strictly increasing epochs whatever the physical clock
 * does, merging of peers' epochs, refusal of peers too far ahead, no going
 * backwards across a restart, rare persistence, thread safety, and exact
 * conversions to and from text.
 *
 * A fake clock drives physical time (stalls, jumps, skew between "nodes")
 * and a fake store records the persisted bound (and can be made to fail).
 * Everything is deterministic except the thread test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dkv_err.h"
#include "hlc/hlc.h"

#define NS_PER_US UINT64_C(1000)
#define NS_PER_MS UINT64_C(1000000)
#define NS_PER_SEC UINT64_C(1000000000)
#define TICK (DKV_HLC_LOGICAL_MASK + 1) /* one physical step: 262144 ns */

/* 2026-11-23T22:54:32Z in Unix seconds (checked by days_from_civil()). */
#define T0_SEC UINT64_C(1795474472)
#define T0 (T0_SEC * NS_PER_SEC)

struct fake {
	uint64_t now;      /* Unix ns returned by the next now_ns() */
	uint64_t step;     /* added after each now_ns() */
	uint64_t bound;    /* last bound persisted */
	unsigned persists; /* successful persists */
	unsigned attempts; /* persist calls, failed ones included */
	int fail;          /* returned by persist when non-zero */
};

static uint64_t fake_now(void *ctx)
{
	struct fake *f = ctx;
	uint64_t t = f->now;

	f->now += f->step;
	return t;
}

static int fake_persist(void *ctx, uint64_t bound)
{
	struct fake *f = ctx;

	f->attempts++;
	if (f->fail != 0)
		return f->fail;
	f->bound = bound;
	f->persists++;
	return 0;
}

static struct dkv_hlc *make(struct fake *f, int persist,
			    const struct dkv_hlc_opts *opts)
{
	struct dkv_hlc_io io = {
		.ctx = f,
		.now_ns = fake_now,
		.persist = persist ? fake_persist : NULL,
	};
	struct dkv_hlc *hlc = NULL;

	assert_int_equal(dkv_hlc_create(&io, opts, &hlc), 0);
	assert_non_null(hlc);
	return hlc;
}

static uint64_t issue(struct dkv_hlc *hlc)
{
	uint64_t e = 0;

	assert_int_equal(dkv_hlc_now(hlc, &e), 0);
	return e;
}

/* The epoch of physical time t, logical 0: what the clock computes. */
static uint64_t phys_of(uint64_t unix_ns)
{
	return (unix_ns - DKV_HLC_START_UNIX_NS) & ~DKV_HLC_LOGICAL_MASK;
}

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64*: deterministic, good enough for test inputs. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* --- creation ----------------------------------------------------------- */

static void create_rejects_bad_arguments(void **state)
{
	struct fake f = { .now = T0 };
	struct dkv_hlc_io io = { .ctx = &f, .now_ns = NULL };
	struct dkv_hlc_opts opts = { .bound = UINT64_MAX - 1 };
	struct dkv_hlc *hlc = NULL;

	(void)state;
	assert_int_equal(dkv_hlc_create(NULL, NULL, &hlc), DKV_ERR_INVAL);
	assert_int_equal(dkv_hlc_create(&io, NULL, &hlc), DKV_ERR_INVAL);
	io.now_ns = fake_now;
	assert_int_equal(dkv_hlc_create(&io, NULL, NULL), DKV_ERR_INVAL);
	/* A bound at the end of the epoch space: nothing left to issue. */
	assert_int_equal(dkv_hlc_create(&io, &opts, &hlc), DKV_ERR_INVAL);
	assert_null(hlc);
}

static void create_fails_if_bound_cannot_persist(void **state)
{
	struct fake f = { .now = T0, .fail = DKV_ERR_NOSPACE };
	struct dkv_hlc_io io = {
		.ctx = &f, .now_ns = fake_now, .persist = fake_persist
	};
	struct dkv_hlc *hlc = NULL;

	(void)state;
	assert_int_equal(dkv_hlc_create(&io, NULL, &hlc), DKV_ERR_NOSPACE);
	assert_null(hlc);
	assert_int_equal(f.attempts, 1);
}

static void create_persists_bound_one_window_ahead(void **state)
{
	struct fake f = { .now = T0 };
	struct dkv_hlc *hlc = make(&f, 1, NULL);

	(void)state;
	assert_int_equal(f.persists, 1);
	assert_int_equal(dkv_hlc_last(hlc), phys_of(T0));
	assert_int_equal(f.bound, phys_of(T0) + DKV_HLC_DEFAULT_WINDOW_NS);
	assert_int_equal(dkv_hlc_bound(hlc), f.bound);
	assert_int_equal(dkv_hlc_max_offset(hlc),
			 DKV_HLC_DEFAULT_MAX_OFFSET_NS);
	dkv_hlc_destroy(hlc);
	dkv_hlc_destroy(NULL);
}

static void no_persist_means_unlimited_bound(void **state)
{
	struct fake f = { .now = T0 };
	struct dkv_hlc_opts opts = { .bound = UINT64_MAX - 3 };
	struct dkv_hlc *hlc = make(&f, 0, NULL);
	uint64_t e = 7;

	(void)state;
	assert_int_equal(dkv_hlc_bound(hlc), UINT64_MAX - 1);
	f.now += NS_PER_SEC * 100 * 365 * 24 * 3600; /* a century later */
	assert_int_equal(issue(hlc), phys_of(f.now));
	dkv_hlc_destroy(hlc);

	/* The end of the epoch space: the last epochs, then an error. */
	hlc = make(&f, 0, &opts);
	assert_int_equal(issue(hlc), UINT64_MAX - 2);
	assert_int_equal(dkv_hlc_now(hlc, &e), DKV_ERR_OVERFLOW);
	assert_int_equal(e, 7);
	dkv_hlc_destroy(hlc);
}

/* --- strictly increasing ------------------------------------------------ */

static void increasing_while_time_advances(void **state)
{
	struct fake f = { .now = T0, .step = 3 * NS_PER_US };
	struct dkv_hlc *hlc = make(&f, 1, NULL);
	uint64_t prev = dkv_hlc_last(hlc);

	(void)state;
	for (int i = 0; i < 100000; i++) {
		uint64_t t = f.now;
		uint64_t e = issue(hlc);

		assert_true(e > prev);
		/* It tracks physical time: never behind the clock read. */
		assert_true(e >= phys_of(t));
		assert_true(e < f.bound);
		prev = e;
	}
	dkv_hlc_destroy(hlc);
}

static void increasing_while_time_stands_still(void **state)
{
	struct fake f = { .now = T0 };
	struct dkv_hlc *hlc = make(&f, 1, NULL);
	uint64_t first = issue(hlc), prev = first;
	const int n = 300000; /* more than 2^18: the logical part carries */

	(void)state;
	assert_int_equal(first, phys_of(T0) + 1);
	for (int i = 0; i < n; i++) {
		uint64_t e = issue(hlc);

		assert_int_equal(e, prev + 1);
		prev = e;
	}
	assert_true((prev & ~DKV_HLC_LOGICAL_MASK) >
		    (first & ~DKV_HLC_LOGICAL_MASK));
	assert_int_equal(prev, phys_of(T0) + 1 + (uint64_t)n);
	assert_true(prev < f.bound);
	dkv_hlc_destroy(hlc);
}

static void increasing_when_time_jumps_backwards(void **state)
{
	struct fake f = { .now = T0, .step = NS_PER_US };
	struct dkv_hlc *hlc = make(&f, 1, NULL);
	uint64_t before = 0, prev;

	(void)state;
	for (int i = 0; i < 1000; i++)
		before = issue(hlc);
	/* NTP steps the clock back three hours. */
	f.now -= 3 * 3600 * NS_PER_SEC;
	prev = before;
	for (int i = 0; i < 100000; i++) {
		uint64_t e = issue(hlc);

		assert_true(e > prev);
		prev = e;
	}
	/* It kept counting from the last epoch, one at a time. */
	assert_int_equal(prev, before + 100000);
	assert_true(prev < f.bound);
	/* Once physical time passes the last epoch, it takes over again. */
	f.now = T0 + 10 * NS_PER_SEC;
	assert_int_equal(issue(hlc), phys_of(T0 + 10 * NS_PER_SEC));
	dkv_hlc_destroy(hlc);
}

/* --- merging peers' epochs ---------------------------------------------- */

static void update_merges_remote_within_offset(void **state)
{
	struct fake f = { .now = T0 };
	struct dkv_hlc *hlc = make(&f, 1, NULL);
	uint64_t remote = phys_of(T0 + 400 * NS_PER_MS) + 7;
	uint64_t e;

	(void)state;
	issue(hlc);
	assert_int_equal(dkv_hlc_update(hlc, remote), 0);
	assert_int_equal(dkv_hlc_last(hlc), remote);
	e = issue(hlc);
	assert_true(e > remote);
	assert_int_equal(e, remote + 1);
	assert_true(e < f.bound);

	/* An older remote epoch changes nothing. */
	assert_int_equal(dkv_hlc_update(hlc, phys_of(T0)), 0);
	assert_int_equal(dkv_hlc_last(hlc), e);
	assert_int_equal(issue(hlc), e + 1);
	dkv_hlc_destroy(hlc);
}

static void update_refuses_remote_beyond_max_offset(void **state)
{
	struct fake f = { .now = T0 };
	struct dkv_hlc_opts opts = { .max_offset_ns = 10 * NS_PER_MS };
	struct dkv_hlc *hlc = make(&f, 1, NULL);
	uint64_t max = DKV_HLC_DEFAULT_MAX_OFFSET_NS;
	uint64_t phys, edge, last, e;

	(void)state;
	issue(hlc);
	f.now = T0 + 100 * NS_PER_US;
	phys = phys_of(f.now);
	/* The highest physical part still within the max offset. */
	edge = (phys + max) & ~DKV_HLC_LOGICAL_MASK;
	last = dkv_hlc_last(hlc);

	/* One tick past the max offset: refused, the clock untouched. */
	assert_int_equal(dkv_hlc_update(hlc, edge + TICK),
			 DKV_ERR_CLOCK_OFFSET);
	assert_int_equal(dkv_hlc_update(hlc, phys + 600 * NS_PER_MS),
			 DKV_ERR_CLOCK_OFFSET);
	assert_int_equal(dkv_hlc_last(hlc), last);
	/* The next epoch is what it would have been without the refusals. */
	e = issue(hlc);
	assert_int_equal(e, last + 1 > phys ? last + 1 : phys);
	assert_true(e < edge);

	/* Exactly at the max offset (any logical count): accepted. */
	assert_int_equal(dkv_hlc_update(hlc, edge + DKV_HLC_LOGICAL_MASK), 0);
	assert_int_equal(issue(hlc), edge + DKV_HLC_LOGICAL_MASK + 1);
	dkv_hlc_destroy(hlc);

	/* A configured max offset is the one enforced. */
	hlc = make(&f, 0, &opts);
	assert_int_equal(dkv_hlc_max_offset(hlc), 10 * NS_PER_MS);
	phys = phys_of(f.now);
	assert_int_equal(dkv_hlc_update(hlc, phys + 20 * NS_PER_MS),
			 DKV_ERR_CLOCK_OFFSET);
	assert_int_equal(dkv_hlc_update(hlc, phys + 5 * NS_PER_MS), 0);
	dkv_hlc_destroy(hlc);
}

static void update_rejects_none_and_max(void **state)
{
	struct fake f = { .now = T0 };
	struct dkv_hlc *hlc = make(&f, 1, NULL);
	uint64_t last = dkv_hlc_last(hlc);

	(void)state;
	assert_int_equal(dkv_hlc_update(hlc, DKV_EPOCH_NONE), DKV_ERR_INVAL);
	assert_int_equal(dkv_hlc_update(hlc, DKV_EPOCH_MAX), DKV_ERR_INVAL);
	assert_int_equal(dkv_hlc_last(hlc), last);
	dkv_hlc_destroy(hlc);
}

/*
 * Two nodes, B's clock 300 ms behind A's, exchange requests and replies.
 * Every message carries the sender's new epoch and the receiver merges it.
 * Causality holds: whatever a node issues after receiving a message is
 * above the message's epoch, so the messages form one increasing chain
 * even though B's physical clock lags, and B is pulled up to A's time.
 */
static void two_nodes_with_skew_keep_causality(void **state)
{
	struct fake fa = { .now = T0 };
	struct fake fb = { .now = T0 - 300 * NS_PER_MS };
	struct dkv_hlc *node[2];
	uint64_t seed = 42, prev_msg = 0;

	(void)state;
	node[0] = make(&fa, 1, NULL);
	node[1] = make(&fb, 1, NULL);
	for (int i = 0; i < 20000; i++) {
		uint64_t r = rng_next(&seed);
		int from = (int)(r & 1), to = !from;
		uint64_t msg, reply, local;

		fa.now += (r >> 8) % (50 * NS_PER_US);
		fb.now += (r >> 24) % (50 * NS_PER_US);
		/* Local work in between: epochs no one else sees. */
		for (uint64_t k = (r >> 40) % 4; k > 0; k--)
			issue(node[(r >> 44) & 1]);

		msg = issue(node[from]);
		assert_true(msg > prev_msg);
		assert_int_equal(dkv_hlc_update(node[to], msg), 0);
		reply = issue(node[to]);
		assert_true(reply > msg);
		assert_int_equal(dkv_hlc_update(node[from], reply), 0);
		local = issue(node[from]);
		assert_true(local > reply);
		prev_msg = reply;
	}
	/* The laggard was pulled forward: B issues above its own clock and
	 * at A's time, although B's physical clock is 300 ms behind. */
	assert_true(issue(node[1]) > phys_of(fb.now));
	assert_int_equal(dkv_hlc_update(node[1], issue(node[0])), 0);
	assert_true(issue(node[1]) > phys_of(fa.now));
	dkv_hlc_destroy(node[0]);
	dkv_hlc_destroy(node[1]);
}

/* --- restart ------------------------------------------------------------ */

static void restart_never_goes_backwards(void **state)
{
	struct fake f = { .now = T0, .step = NS_PER_US };
	struct dkv_hlc_opts opts = { 0 };
	struct dkv_hlc *a, *b;
	uint64_t max_a = 0, min_b = UINT64_MAX;

	(void)state;
	a = make(&f, 1, NULL);
	for (int i = 0; i < 50000; i++) {
		uint64_t e = issue(a);

		/* Durable before issued: the persisted bound covers it. */
		assert_true(e < f.bound);
		max_a = e;
	}
	/* Peers pushed it ahead too, within the max offset. */
	assert_int_equal(dkv_hlc_update(a, phys_of(f.now) + 400 * NS_PER_MS),
			 0);
	max_a = issue(a);
	assert_true(max_a < f.bound);

	/* Crash: memory is lost, only f.bound survives. The wall clock is
	 * set back a minute while the node is down. */
	dkv_hlc_destroy(a);
	f.now -= 60 * NS_PER_SEC;

	opts.bound = f.bound;
	b = make(&f, 1, &opts);
	for (int i = 0; i < 50000; i++) {
		uint64_t e = issue(b);

		if (e < min_b)
			min_b = e;
	}
	assert_true(min_b > max_a);
	dkv_hlc_destroy(b);

	/* Without the bound the same restart would reissue old epochs. */
	b = make(&f, 0, NULL);
	assert_true(issue(b) < max_a);
	dkv_hlc_destroy(b);
}

/* --- persistence cost --------------------------------------------------- */

/*
 * The bound is persisted once when the clock is created, then each time
 * issuing gets within window/2 of it, moving it to e + window: at most once
 * per window/2 of issued time, plus one for rounding.
 */
static unsigned max_persists(uint64_t advance, uint64_t window)
{
	return 1 + (unsigned)(advance / (window / 2)) + 1;
}

static void persist_is_rare(void **state)
{
	const int n = 100000;
	const uint64_t step = NS_PER_US;
	const uint64_t small = 10 * NS_PER_MS;
	struct fake f = { .now = T0, .step = step };
	struct dkv_hlc_opts opts = { .window_ns = small };
	struct dkv_hlc *hlc = make(&f, 1, NULL);
	uint64_t advance = (uint64_t)n * step; /* 100 ms of physical time */

	(void)state;
	for (int i = 0; i < n; i++)
		assert_true(issue(hlc) < f.bound);
	/* 100k epochs over 100 ms with a 2 s window: the create-time write
	 * only (2 at most). */
	assert_true(f.persists >= 1);
	assert_true(f.persists <=
		    max_persists(advance, DKV_HLC_DEFAULT_WINDOW_NS));
	assert_true(f.persists <= 2);
	dkv_hlc_destroy(hlc);

	/* A 10 ms window over the same 100 ms: about one write per 5 ms,
	 * and still every epoch below the durable bound. */
	f = (struct fake){ .now = T0, .step = step };
	hlc = make(&f, 1, &opts);
	for (int i = 0; i < n; i++)
		assert_true(issue(hlc) < f.bound);
	assert_true(f.persists <= max_persists(advance, small));
	assert_true(f.persists >= advance / (small / 2));
	assert_int_equal(f.persists, f.attempts);
	dkv_hlc_destroy(hlc);
}

/* --- reserving the bound ahead (dkv_hlc_reserve) ------------------------ */

/* With reserve called every eighth of a window, issuing never persists: the
 * durable write moves to whoever calls reserve (dkvd: a worker thread). */
static void reserve_runs_ahead_of_issuing(void **state)
{
	const uint64_t window = 10 * NS_PER_MS;
	struct fake f = { .now = T0, .step = 0 };
	struct dkv_hlc_opts opts = { .window_ns = window };
	struct dkv_hlc *hlc = make(&f, 1, &opts);
	unsigned before;

	(void)state;
	assert_int_equal(f.persists, 1); /* at create */
	/* A full window ahead: nothing to do. */
	assert_int_equal(dkv_hlc_reserve(hlc), 0);
	assert_int_equal(f.persists, 1);
	/* Three eighths of a window later: less than five eighths left. */
	f.now += window / 8 * 3 + NS_PER_US;
	assert_int_equal(dkv_hlc_reserve(hlc), 0);
	assert_int_equal(f.persists, 2);
	assert_int_equal(dkv_hlc_bound(hlc), f.bound);
	/* 200 ms of issuing, reserve every 1 ms (< window / 8): no call to now()
	 * ever persists, and every epoch stays below the durable bound. */
	f.step = NS_PER_US;
	for (int ms = 0; ms < 200; ms++) {
		assert_int_equal(dkv_hlc_reserve(hlc), 0);
		before = f.persists;
		for (int i = 0; i < 1000; i++)
			assert_true(issue(hlc) < f.bound);
		assert_int_equal(f.persists, before);
	}
	dkv_hlc_destroy(hlc);
}

static void reserve_failure_leaves_issuing_safe(void **state)
{
	const uint64_t window = 10 * NS_PER_MS;
	struct fake f = { .now = T0, .step = 0 };
	struct dkv_hlc_opts opts = { .window_ns = window };
	struct dkv_hlc *hlc = make(&f, 1, &opts);
	uint64_t bound = f.bound;

	(void)state;
	f.now += window / 2;
	f.fail = DKV_ERR_IO;
	assert_int_equal(dkv_hlc_reserve(hlc), DKV_ERR_IO);
	assert_int_equal(dkv_hlc_bound(hlc), bound); /* unchanged */
	f.fail = 0;
	assert_true(issue(hlc) < f.bound);
	dkv_hlc_destroy(hlc);
}

struct rec {
	pthread_mutex_t lock;
	uint64_t max;       /* largest bound persisted */
	unsigned backwards; /* persists of a bound not above max */
};

static int rec_persist(void *ctx, uint64_t bound)
{
	struct rec *r = ctx;

	pthread_mutex_lock(&r->lock);
	if (bound <= r->max)
		r->backwards++;
	else
		r->max = bound;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

struct issuer {
	struct dkv_hlc *hlc;
	struct rec *rec;
	unsigned above; /* epochs not below the durable bound */
	int stop;
};

static void *issuer_main(void *arg)
{
	struct issuer *w = arg;

	for (int i = 0; i < 100000; i++) {
		uint64_t e, max;

		assert_int_equal(dkv_hlc_now(w->hlc, &e), 0);
		pthread_mutex_lock(&w->rec->lock);
		max = w->rec->max;
		pthread_mutex_unlock(&w->rec->lock);
		if (e >= max)
			w->above++;
	}
	return NULL;
}

static void *reserver_main(void *arg)
{
	struct issuer *w = arg;
	struct timespec ts = { 0, 500 * 1000 };

	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		assert_int_equal(dkv_hlc_reserve(w->hlc), 0);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Real threads, real time, a 4 ms window: reserve and now() race, and the
 * persisted bounds only grow, and no epoch is ever at or above them. */
static void reserve_races_with_issuing(void **state)
{
	struct rec rec = { .max = 0 };
	struct dkv_hlc_io io = { .ctx = &rec, .now_ns = dkv_hlc_wall_ns,
				 .persist = rec_persist };
	struct dkv_hlc_opts opts = { .window_ns = 4 * NS_PER_MS };
	struct issuer w[3] = { { 0 } }, res = { 0 };
	pthread_t t[3], rt;
	struct dkv_hlc *hlc = NULL;

	(void)state;
	pthread_mutex_init(&rec.lock, NULL);
	assert_int_equal(dkv_hlc_create(&io, &opts, &hlc), 0);
	res.hlc = hlc;
	res.rec = &rec;
	assert_int_equal(pthread_create(&rt, NULL, reserver_main, &res), 0);
	for (int i = 0; i < 3; i++) {
		w[i].hlc = hlc;
		w[i].rec = &rec;
		assert_int_equal(
			pthread_create(&t[i], NULL, issuer_main, &w[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].above, 0);
	}
	__atomic_store_n(&res.stop, 1, __ATOMIC_RELEASE);
	pthread_join(rt, NULL);
	assert_int_equal(rec.backwards, 0);
	dkv_hlc_destroy(hlc);
	pthread_mutex_destroy(&rec.lock);
}

/* --- persistence failure ------------------------------------------------ */

static void persist_failure_issues_nothing(void **state)
{
	struct fake f = { .now = T0, .step = NS_PER_US };
	struct dkv_hlc_opts opts = { .window_ns = 10 * NS_PER_MS };
	struct dkv_hlc *hlc = make(&f, 1, &opts);
	uint64_t e1, e2, bound, out;

	(void)state;
	e1 = issue(hlc);
	bound = f.bound;

	/* The disk fails just as issuing reaches the half-window mark. */
	f.fail = DKV_ERR_IO;
	f.now = T0 + 6 * NS_PER_MS;
	out = 42;
	assert_int_equal(dkv_hlc_now(hlc, &out), DKV_ERR_IO);
	assert_int_equal(out, 42);
	assert_int_equal(dkv_hlc_last(hlc), e1);
	assert_int_equal(dkv_hlc_bound(hlc), bound);

	/* Time runs past the bound: still nothing is issued. */
	f.now = T0 + 50 * NS_PER_MS;
	for (int i = 0; i < 100; i++) {
		assert_int_equal(dkv_hlc_now(hlc, &out), DKV_ERR_IO);
		assert_int_equal(out, 42);
	}
	assert_int_equal(dkv_hlc_last(hlc), e1);

	/* The store's own error comes back as is; a non-DKV code is IO. */
	f.fail = DKV_ERR_NOSPACE;
	assert_int_equal(dkv_hlc_now(hlc, &out), DKV_ERR_NOSPACE);
	f.fail = 5;
	assert_int_equal(dkv_hlc_now(hlc, &out), DKV_ERR_IO);
	assert_int_equal(out, 42);
	assert_int_equal(f.bound, bound);

	/* A merged epoch does not get issued around the failure either. */
	f.fail = DKV_ERR_IO;
	assert_int_equal(dkv_hlc_update(hlc, phys_of(f.now)), 0);
	assert_int_equal(dkv_hlc_now(hlc, &out), DKV_ERR_IO);
	assert_int_equal(out, 42);

	/* The disk comes back: issuing resumes above everything before. */
	f.fail = 0;
	e2 = issue(hlc);
	assert_true(e2 > e1);
	assert_true(e2 > phys_of(T0 + 50 * NS_PER_MS));
	assert_true(e2 < f.bound);
	assert_int_equal(dkv_hlc_bound(hlc), f.bound);
	assert_true(issue(hlc) > e2);
	dkv_hlc_destroy(hlc);
}

/* --- threads ------------------------------------------------------------ */

#define NTHREADS 4
#define PER_THREAD 50000

struct worker {
	pthread_t tid;
	struct dkv_hlc *hlc;
	uint64_t *epochs;
	int rc;
};

static int persist_count(void *ctx, uint64_t bound)
{
	unsigned *n = ctx; /* called with the clock's lock held */

	(void)bound;
	(*n)++;
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		w->rc = dkv_hlc_now(w->hlc, &w->epochs[i]);
		if (w->rc != 0)
			break;
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void threads_issue_unique_epochs(void **state)
{
	unsigned persists = 0;
	struct dkv_hlc_io io = {
		.ctx = &persists,
		.now_ns = dkv_hlc_wall_ns,
		.persist = persist_count,
	};
	struct worker w[NTHREADS];
	struct dkv_hlc *hlc = NULL;
	uint64_t *all;

	(void)state;
	assert_int_equal(dkv_hlc_create(&io, NULL, &hlc), 0);
	all = calloc((size_t)NTHREADS * PER_THREAD, sizeof(*all));
	assert_non_null(all);
	for (int t = 0; t < NTHREADS; t++) {
		w[t].hlc = hlc;
		w[t].epochs = all + (size_t)t * PER_THREAD;
		w[t].rc = 0;
		assert_int_equal(pthread_create(&w[t].tid, NULL, worker_main,
						&w[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++) {
		assert_int_equal(pthread_join(w[t].tid, NULL), 0);
		assert_int_equal(w[t].rc, 0);
		for (int i = 1; i < PER_THREAD; i++)
			assert_true(w[t].epochs[i] > w[t].epochs[i - 1]);
	}
	qsort(all, (size_t)NTHREADS * PER_THREAD, sizeof(*all), cmp_u64);
	assert_true(all[0] > 0);
	for (size_t i = 1; i < (size_t)NTHREADS * PER_THREAD; i++)
		assert_true(all[i] > all[i - 1]);
	assert_int_equal(dkv_hlc_last(hlc), all[NTHREADS * PER_THREAD - 1]);
	assert_true(dkv_hlc_last(hlc) < dkv_hlc_bound(hlc));
	/* A few seconds at most: a handful of writes, not one per epoch. */
	assert_true(persists < 20);
	free(all);
	dkv_hlc_destroy(hlc);
}

/* --- conversions -------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static uint64_t unix_ns_of(int64_t y, unsigned mo, unsigned d, unsigned h,
			   unsigned mi, unsigned s, uint64_t ns)
{
	int64_t days = days_from_civil(y, mo, d);
	int64_t sec = days * 86400 + h * 3600 + mi * 60 + s;

	return (uint64_t)sec * NS_PER_SEC + ns;
}

static void unix_ns_round_trip(void **state)
{
	uint64_t seed = 7;

	(void)state;
	assert_int_equal(unix_ns_of(2021, 1, 1, 0, 0, 0, 0),
			 DKV_HLC_START_UNIX_NS);
	assert_int_equal(dkv_epoch_from_unix_ns(DKV_HLC_START_UNIX_NS), 0);
	assert_int_equal(dkv_epoch_from_unix_ns(DKV_HLC_START_UNIX_NS - 1), 0);
	assert_int_equal(dkv_epoch_from_unix_ns(0), 0);
	assert_int_equal(dkv_epoch_to_unix_ns(0), DKV_HLC_START_UNIX_NS);
	/* The logical part is not time. */
	assert_int_equal(dkv_epoch_to_unix_ns(TICK + 12345),
			 DKV_HLC_START_UNIX_NS + TICK);
	/* Past 2554 Unix ns overflow 64 bits: saturated. */
	assert_int_equal(dkv_epoch_to_unix_ns(DKV_EPOCH_MAX), UINT64_MAX);

	for (int i = 0; i < 10000; i++) {
		uint64_t r = rng_next(&seed);
		uint64_t ns = DKV_HLC_START_UNIX_NS + (r >> 2); /* < 2167 */
		uint64_t e = dkv_epoch_from_unix_ns(ns);
		uint64_t back = dkv_epoch_to_unix_ns(e);

		assert_int_equal(dkv_epoch_logical(e), 0);
		assert_true(back <= ns && ns - back < TICK);
		assert_int_equal(dkv_epoch_from_unix_ns(back), e);
		/* Conversions keep order. */
		assert_int_equal(dkv_epoch_to_unix_ns(e + (r & 0xffff)), back);
	}
}

static void format_parse_round_trip(void **state)
{
	static const uint64_t edges[] = { 0,
					  1,
					  DKV_HLC_LOGICAL_MASK,
					  TICK,
					  DKV_EPOCH_MAX - 1,
					  DKV_EPOCH_MAX };
	char buf[DKV_EPOCH_STR_MAX];
	uint64_t seed = 2026, out;

	(void)state;
	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		dkv_epoch_format(edges[i], buf, sizeof(buf));
		assert_int_equal(dkv_epoch_parse(buf, &out), 0);
		assert_int_equal(out, edges[i]);
	}
	dkv_epoch_format(DKV_EPOCH_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "2605-07-22T23:34:33.709289472Z+262143");

	for (int i = 0; i < 10000; i++) {
		uint64_t r = rng_next(&seed);
		/* Mix realistic epochs (logical mostly 0) and any 64 bits. */
		uint64_t e = i % 2 ? r
				   : dkv_epoch_from_unix_ns(T0 + (r >> 20)) +
					     (i % 3 ? 0 : (r & 0xff));

		assert_ptr_equal(dkv_epoch_format(e, buf, sizeof(buf)), buf);
		assert_true(strlen(buf) < DKV_EPOCH_STR_MAX);
		assert_int_equal(strchr(buf, '+') != NULL,
				 dkv_epoch_logical(e) > 0);
		assert_int_equal(dkv_epoch_parse(buf, &out), 0);
		assert_int_equal(out, e);
		/* The decimal form parses too. */
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)e);
		assert_int_equal(dkv_epoch_parse(buf, &out), 0);
		assert_int_equal(out, e);
	}
}

static void parse_known_strings(void **state)
{
	uint64_t t0 = unix_ns_of(2026, 11, 23, 22, 54, 32, 0);
	char buf[DKV_EPOCH_STR_MAX];
	uint64_t out;

	(void)state;
	assert_int_equal(t0, T0);
	assert_int_equal(dkv_epoch_parse("2026-11-23T22:54:32Z", &out), 0);
	assert_int_equal(out, dkv_epoch_from_unix_ns(t0));
	assert_int_equal(out, UINT64_C(186015271999766528));
	/* Masked to a 262 us tick: the exact time of that tick prints. */
	dkv_epoch_format(out, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-23T22:54:31.999766528Z");

	assert_int_equal(dkv_epoch_parse("2026-11-23T22:54:32.123456789Z",
					 &out),
			 0);
	assert_int_equal(out, dkv_epoch_from_unix_ns(t0 + 123456789));
	assert_int_equal(dkv_epoch_parse("2026-11-23T22:54:32.123456789Z+3",
					 &out),
			 0);
	assert_int_equal(out, dkv_epoch_from_unix_ns(t0 + 123456789) + 3);
	dkv_epoch_format(out, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-23T22:54:32.123236352Z+3");

	assert_int_equal(dkv_epoch_parse("2026-11-23T22:54:32.5Z", &out), 0);
	assert_int_equal(out, dkv_epoch_from_unix_ns(t0 + 500 * NS_PER_MS));
	assert_int_equal(dkv_epoch_parse("2024-02-29T12:00:00Z", &out), 0);
	assert_int_equal(out, dkv_epoch_from_unix_ns(
				      unix_ns_of(2024, 2, 29, 12, 0, 0, 0)));
	assert_int_equal(dkv_epoch_parse("2021-01-01T00:00:00Z", &out), 0);
	assert_int_equal(out, 0);
	assert_int_equal(dkv_epoch_parse("2026-11-23T22:54:32Z+262143", &out),
			 0);
	assert_int_equal(out,
			 dkv_epoch_from_unix_ns(t0) + DKV_HLC_LOGICAL_MASK);
	assert_int_equal(dkv_epoch_parse("12345", &out), 0);
	assert_int_equal(out, 12345);
	assert_int_equal(dkv_epoch_parse("18446744073709551615", &out), 0);
	assert_int_equal(out, DKV_EPOCH_MAX);
}

static void parse_rejects_garbage(void **state)
{
	static const char *const bad[] = {
		"",
		"abc",
		"2026-13-01T00:00:00Z",          /* month 13 */
		"2026-00-01T00:00:00Z",          /* month 0 */
		"2026-02-29T00:00:00Z",          /* not a leap year */
		"2026-04-31T00:00:00Z",          /* April has 30 days */
		"2026-11-23T24:00:00Z",          /* hour 24 */
		"2026-11-23T22:60:00Z",          /* minute 60 */
		"2026-11-23T22:54:60Z",          /* leap second */
		"2020-01-01T00:00:00Z",          /* before the epoch start */
		"2020-12-31T23:59:59.999999999Z", /* just before */
		"2700-01-01T00:00:00Z",          /* past the epoch space */
		"2026-11-23T22:54:32",           /* no Z */
		"2026-11-23 22:54:32Z",          /* no T */
		"2026-11-23T22:54:32Zjunk",      /* trailing junk */
		"2026-11-23T22:54:32Z ",         /* trailing space */
		"2026-11-23T22:54:32.Z",         /* empty fraction */
		"2026-11-23T22:54:32.1234567890Z", /* 10 digits */
		"2026-11-23T22:54:32Z+",         /* empty logical */
		"2026-11-23T22:54:32Z+-1",       /* signed logical */
		"2026-11-23T22:54:32Z+262144",   /* logical overflow */
		"2026-11-23T22:54:32Z+99999999999999999999999",
		"2026-1-23T22:54:32Z",           /* short field */
		"12345 ",                        /* trailing space */
		" 12345",                        /* leading space */
		"-1",
		"+5",
		"0x10",
		"18446744073709551616",          /* 2^64 */
		"99999999999999999999999",
	};
	uint64_t out = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (dkv_epoch_parse(bad[i], &out) != DKV_ERR_INVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_int_equal(out, 42);
	}
	assert_int_equal(dkv_epoch_parse(NULL, &out), DKV_ERR_INVAL);
	assert_int_equal(dkv_epoch_parse("1", NULL), DKV_ERR_INVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_rejects_bad_arguments),
		cmocka_unit_test(create_fails_if_bound_cannot_persist),
		cmocka_unit_test(create_persists_bound_one_window_ahead),
		cmocka_unit_test(no_persist_means_unlimited_bound),
		cmocka_unit_test(increasing_while_time_advances),
		cmocka_unit_test(increasing_while_time_stands_still),
		cmocka_unit_test(increasing_when_time_jumps_backwards),
		cmocka_unit_test(update_merges_remote_within_offset),
		cmocka_unit_test(update_refuses_remote_beyond_max_offset),
		cmocka_unit_test(update_rejects_none_and_max),
		cmocka_unit_test(two_nodes_with_skew_keep_causality),
		cmocka_unit_test(restart_never_goes_backwards),
		cmocka_unit_test(persist_is_rare),
		cmocka_unit_test(persist_failure_issues_nothing),
		cmocka_unit_test(reserve_runs_ahead_of_issuing),
		cmocka_unit_test(reserve_failure_leaves_issuing_safe),
		cmocka_unit_test(reserve_races_with_issuing),
		cmocka_unit_test(threads_issue_unique_epochs),
		cmocka_unit_test(unix_ns_round_trip),
		cmocka_unit_test(format_parse_round_trip),
		cmocka_unit_test(parse_known_strings),
		cmocka_unit_test(parse_rejects_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
