/*
 * The clock's fence (hlc.h, "The fence"): a node whose wall clock is off
 * from a majority of the cluster's by more than the max offset issues and
 * merges no epoch, from the moment its clock is set off, and serves again
 * as soon as it is back; within the offset nothing is fenced.
 *
 * A fake world drives every node's clocks from one real time: a node's
 * monotonic clock is real time plus a base of its own, its wall clock
 * real time plus a skew the test sets (a step). Heartbeats are simulated
 * with a round trip of the test's choosing. Deterministic.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "dkv_err.h"
#include "hlc/hlc.h"

#define MS UINT64_C(1000000)
#define SEC (UINT64_C(1000) * MS)
#define T0 (UINT64_C(1795474472) * SEC) /* 2026-11-23T22:54:32Z */
#define MAX_OFFSET (500 * MS)
#define MAX_NODES 5

struct world;

struct node {
	struct world *w;
	uint32_t id;
	uint64_t mono_base;
	int64_t skew; /* wall clock minus real time */
	struct dkv_hlc *hlc;
};

struct world {
	uint64_t real; /* ns since T0 */
	struct node nodes[MAX_NODES];
	unsigned n;
};

static uint64_t node_wall(void *ctx)
{
	struct node *nd = ctx;

	return (uint64_t)((int64_t)(T0 + nd->w->real) + nd->skew);
}

static uint64_t node_mono(void *ctx)
{
	struct node *nd = ctx;

	return nd->mono_base + nd->w->real;
}

/* n nodes, ids 1..n, each knowing the others as peers. with_mono 0: the
 * fence is off. */
static void world_init(struct world *w, unsigned n, int with_mono)
{
	uint32_t ids[MAX_NODES];

	memset(w, 0, sizeof(*w));
	w->n = n;
	w->real = SEC;
	for (unsigned i = 0; i < n; i++) {
		struct node *nd = &w->nodes[i];
		struct dkv_hlc_io io = { nd, node_wall, NULL,
					 with_mono ? node_mono : NULL };
		struct dkv_hlc_opts o = { .max_offset_ns = MAX_OFFSET };

		nd->w = w;
		nd->id = i + 1;
		nd->mono_base = (i + 1) * 1000 * SEC; /* unrelated to wall */
		assert_int_equal(dkv_hlc_create(&io, &o, &nd->hlc), 0);
	}
	for (unsigned i = 0; i < n; i++) {
		unsigned k = 0;

		for (unsigned j = 0; j < n; j++)
			if (j != i)
				ids[k++] = j + 1;
		assert_int_equal(dkv_hlc_set_peers(w->nodes[i].hlc, ids, k), 0);
	}
}

static void world_fini(struct world *w)
{
	for (unsigned i = 0; i < w->n; i++)
		dkv_hlc_destroy(w->nodes[i].hlc);
}

static struct node *nd_of(struct world *w, uint32_t id)
{
	return &w->nodes[id - 1];
}

/* One heartbeat from a to b: b reads its wall clock half way through. */
static int heartbeat(struct world *w, uint32_t a, uint32_t b, uint64_t rtt)
{
	struct dkv_hlc_probe probe;
	uint64_t reading;

	dkv_hlc_probe_start(nd_of(w, a)->hlc, &probe);
	w->real += rtt / 2;
	reading = node_wall(nd_of(w, b));
	w->real += rtt - rtt / 2;
	return dkv_hlc_measure(nd_of(w, a)->hlc, b, &probe, reading);
}

/* Every node measures every other, 1 ms round trips. */
static void heartbeats(struct world *w)
{
	for (unsigned a = 1; a <= w->n; a++)
		for (unsigned b = 1; b <= w->n; b++)
			if (a != b)
				assert_int_equal(heartbeat(w, a, b, MS), 0);
}

static int fenced(struct world *w, uint32_t id)
{
	struct dkv_hlc_health h;

	dkv_hlc_health(nd_of(w, id)->hlc, &h);
	return h.fenced;
}

/* The node issues an epoch (0) or is fenced (DKV_ERR_CLOCK_FENCED, and
 * then nothing changed). */
static int try_issue(struct world *w, uint32_t id, uint64_t *e)
{
	struct dkv_hlc *hlc = nd_of(w, id)->hlc;
	uint64_t before = dkv_hlc_last(hlc), out = 42;
	int rc = dkv_hlc_now(hlc, &out);

	if (rc == 0) {
		assert_true(out > before);
	} else {
		assert_int_equal(rc, DKV_ERR_CLOCK_FENCED);
		assert_int_equal(out, 42);
		assert_int_equal(dkv_hlc_last(hlc), before);
	}
	if (e != NULL)
		*e = out;
	return rc;
}

/* --- serving --------------------------------------------------------------- */

static void agreeing_clocks_serve(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 3, 1);
	/* Off by up to 200 ms from each other: within 500 ms. */
	nd_of(&w, 1)->skew = 100 * (int64_t)MS;
	nd_of(&w, 3)->skew = -100 * (int64_t)MS;
	heartbeats(&w);
	for (uint32_t id = 1; id <= 3; id++) {
		struct dkv_hlc_health h;

		assert_int_equal(try_issue(&w, id, NULL), 0);
		dkv_hlc_health(nd_of(&w, id)->hlc, &h);
		assert_false(h.fenced);
		assert_int_equal(h.nodes, 3);
		assert_int_equal(h.agree, 3);
		assert_int_equal(h.measurements, 2);
	}
	world_fini(&w);
}

static void measurement_estimates_the_offset(void **state)
{
	struct world w;
	struct dkv_hlc_peer_clock pc[2];

	(void)state;
	world_init(&w, 2, 1);
	nd_of(&w, 2)->skew = 123 * (int64_t)MS;
	assert_int_equal(heartbeat(&w, 1, 2, 10 * MS), 0);
	assert_int_equal(dkv_hlc_peer_clocks(nd_of(&w, 1)->hlc, pc, 2), 1);
	assert_int_equal(pc[0].id, 2);
	assert_true(pc[0].measured);
	assert_true(pc[0].agrees);
	/* Within the error (half the round trip) of the truth. */
	assert_true(pc[0].err_ns >= 5 * MS && pc[0].err_ns <= 5 * MS + 1);
	assert_true(pc[0].estimate_ns >= (int64_t)(118 * MS) &&
		    pc[0].estimate_ns <= (int64_t)(128 * MS));
	w.real += 3 * SEC;
	assert_int_equal(dkv_hlc_peer_clocks(nd_of(&w, 1)->hlc, pc, 2), 1);
	assert_true(pc[0].age_ns >= 3 * SEC);
	world_fini(&w);
}

/* --- stepping this node's clock ----------------------------------------------- */

static void step_ahead_beyond_offset_fences_at_once(void **state)
{
	struct world w;
	uint64_t before, e;

	(void)state;
	world_init(&w, 3, 1);
	heartbeats(&w);
	assert_int_equal(try_issue(&w, 2, &before), 0);

	/* Node 2's clock is set 2 s ahead: no heartbeat has told it yet,
	 * but it issues nothing at the new time, and merges nothing. */
	nd_of(&w, 2)->skew = 2 * (int64_t)SEC;
	assert_int_equal(try_issue(&w, 2, NULL), DKV_ERR_CLOCK_FENCED);
	assert_int_equal(dkv_hlc_update(nd_of(&w, 2)->hlc, before + 1),
			 DKV_ERR_CLOCK_FENCED);
	assert_true(fenced(&w, 2));
	/* The others serve, also once they have measured it. */
	heartbeats(&w);
	assert_false(fenced(&w, 1));
	assert_false(fenced(&w, 3));
	assert_int_equal(try_issue(&w, 1, NULL), 0);
	assert_int_equal(try_issue(&w, 3, NULL), 0);
	assert_true(fenced(&w, 2));

	/* Set right: it serves again at once, above what it issued. */
	nd_of(&w, 2)->skew = 0;
	assert_int_equal(try_issue(&w, 2, &e), 0);
	assert_true(e > before);
	heartbeats(&w);
	assert_false(fenced(&w, 2));
	{
		struct dkv_hlc_health h;

		dkv_hlc_health(nd_of(&w, 2)->hlc, &h);
		assert_int_equal(h.fenced_count, 1);
	}
	world_fini(&w);
}

static void step_back_beyond_offset_fences(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 3, 1);
	heartbeats(&w);
	nd_of(&w, 3)->skew = -(int64_t)(1500 * MS);
	assert_int_equal(try_issue(&w, 3, NULL), DKV_ERR_CLOCK_FENCED);
	heartbeats(&w);
	assert_true(fenced(&w, 3));
	assert_false(fenced(&w, 1));
	assert_false(fenced(&w, 2));
	nd_of(&w, 3)->skew = 0;
	assert_int_equal(try_issue(&w, 3, NULL), 0);
	world_fini(&w);
}

static void steps_within_offset_add_up(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 3, 1);
	heartbeats(&w);
	nd_of(&w, 1)->skew = 300 * (int64_t)MS; /* within */
	assert_int_equal(try_issue(&w, 1, NULL), 0);
	heartbeats(&w);
	assert_false(fenced(&w, 1));
	nd_of(&w, 1)->skew = 600 * (int64_t)MS; /* another 300: beyond */
	assert_int_equal(try_issue(&w, 1, NULL), DKV_ERR_CLOCK_FENCED);
	world_fini(&w);
}

static void step_before_any_measurement_fences(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 3, 1);
	/* Unmeasured peers count as agreeing with the clock at creation. */
	assert_int_equal(try_issue(&w, 1, NULL), 0);
	nd_of(&w, 1)->skew = -(int64_t)(2 * SEC);
	assert_int_equal(try_issue(&w, 1, NULL), DKV_ERR_CLOCK_FENCED);
	world_fini(&w);
}

/* --- peers' clocks ---------------------------------------------------------- */

static void started_off_fences_once_measured(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 3, 1);
	{
		/* Node 1 restarts with its clock 3 s ahead: it trusts
		 * itself until it hears from its peers. */
		struct node *nd = nd_of(&w, 1);
		struct dkv_hlc_io io = { nd, node_wall, NULL, node_mono };
		struct dkv_hlc_opts o = { .max_offset_ns = MAX_OFFSET };
		uint32_t ids[2] = { 2, 3 };

		dkv_hlc_destroy(nd->hlc);
		nd->skew = 3 * (int64_t)SEC;
		assert_int_equal(dkv_hlc_create(&io, &o, &nd->hlc), 0);
		assert_int_equal(dkv_hlc_set_peers(nd->hlc, ids, 2), 0);
	}
	assert_int_equal(try_issue(&w, 1, NULL), 0);
	assert_int_equal(heartbeat(&w, 1, 2, MS), 0);
	/* Node 2 disagrees; node 3, unmeasured (taken at offset 0 when the
	 * clock was created), and itself still make 2 of 3. */
	assert_false(fenced(&w, 1));
	assert_int_equal(heartbeat(&w, 1, 3, MS), 0);
	assert_true(fenced(&w, 1));
	assert_int_equal(try_issue(&w, 1, NULL), DKV_ERR_CLOCK_FENCED);
	world_fini(&w);
}

static void two_nodes_cannot_tell_who_is_off(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 2, 1);
	heartbeats(&w);
	nd_of(&w, 2)->skew = 2 * (int64_t)SEC;
	heartbeats(&w);
	/* No majority agrees with either: both refuse. */
	assert_true(fenced(&w, 1));
	assert_true(fenced(&w, 2));
	nd_of(&w, 2)->skew = 0;
	heartbeats(&w);
	assert_false(fenced(&w, 1));
	assert_false(fenced(&w, 2));
	world_fini(&w);
}

static void five_nodes_need_three(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 5, 1);
	heartbeats(&w);
	/* Two clocks 2 s ahead agree with each other, not with the three. */
	nd_of(&w, 4)->skew = 2 * (int64_t)SEC;
	nd_of(&w, 5)->skew = 2 * (int64_t)SEC;
	heartbeats(&w);
	for (uint32_t id = 1; id <= 3; id++)
		assert_false(fenced(&w, id));
	assert_true(fenced(&w, 4));
	assert_true(fenced(&w, 5));
	world_fini(&w);
}

static void single_node_never_fences(void **state)
{
	struct world w;

	(void)state;
	world_init(&w, 1, 1);
	/* One clock orders everything by itself: no offset to keep. */
	nd_of(&w, 1)->skew = 10 * (int64_t)SEC;
	assert_int_equal(try_issue(&w, 1, NULL), 0);
	world_fini(&w);
}

static void fence_off_without_monotonic_clock(void **state)
{
	struct world w;
	struct dkv_hlc_probe probe;

	(void)state;
	world_init(&w, 3, 0);
	nd_of(&w, 1)->skew = 5 * (int64_t)SEC;
	assert_int_equal(try_issue(&w, 1, NULL), 0);
	assert_false(fenced(&w, 1));
	dkv_hlc_probe_start(nd_of(&w, 1)->hlc, &probe);
	assert_int_equal(dkv_hlc_measure(nd_of(&w, 1)->hlc, 2, &probe, T0),
			 DKV_ERR_STATE);
	world_fini(&w);
}

/* --- measurements thrown away ------------------------------------------------ */

static void slow_round_trip_is_dropped(void **state)
{
	struct world w;
	struct dkv_hlc_health h;

	(void)state;
	world_init(&w, 3, 1);
	heartbeats(&w);
	nd_of(&w, 2)->skew = 3 * (int64_t)SEC;
	/* A peer paused for a second tells nothing (error over 125 ms): its
	 * last good measurement stands. */
	assert_int_equal(heartbeat(&w, 1, 2, SEC), DKV_ERR_TIMEOUT);
	assert_int_equal(heartbeat(&w, 1, 3, SEC), DKV_ERR_TIMEOUT);
	dkv_hlc_health(nd_of(&w, 1)->hlc, &h);
	assert_int_equal(h.dropped, 2);
	assert_int_equal(h.agree, 3);
	assert_false(h.fenced);
	world_fini(&w);
}

static void step_during_round_trip_is_dropped(void **state)
{
	struct world w;
	struct dkv_hlc_probe probe;
	struct dkv_hlc *hlc;

	(void)state;
	world_init(&w, 3, 1);
	hlc = nd_of(&w, 1)->hlc;
	dkv_hlc_probe_start(hlc, &probe);
	w.real += MS;
	nd_of(&w, 1)->skew = 50 * (int64_t)MS;
	assert_int_equal(dkv_hlc_measure(hlc, 2, &probe,
					 node_wall(nd_of(&w, 2))),
			 DKV_ERR_BUSY);
	world_fini(&w);
}

static void measure_rejects_bad_input(void **state)
{
	struct world w;
	struct dkv_hlc_probe probe = { 0, 0 };
	struct dkv_hlc *hlc;

	(void)state;
	world_init(&w, 3, 1);
	hlc = nd_of(&w, 1)->hlc;
	assert_int_equal(dkv_hlc_measure(hlc, 2, &probe, T0), DKV_ERR_INVAL);
	dkv_hlc_probe_start(hlc, &probe);
	assert_int_equal(dkv_hlc_measure(hlc, 2, &probe, 0), DKV_ERR_INVAL);
	assert_int_equal(dkv_hlc_measure(hlc, 9, &probe, T0),
			 DKV_ERR_NOT_FOUND);
	assert_int_equal(dkv_hlc_measure(hlc, 2, NULL, T0), DKV_ERR_INVAL);
	probe.mono += 10 * SEC; /* from the future */
	assert_int_equal(dkv_hlc_measure(hlc, 2, &probe, T0), DKV_ERR_INVAL);
	assert_int_equal(dkv_hlc_set_peers(hlc, NULL, 1), DKV_ERR_INVAL);
	world_fini(&w);
}

static void set_peers_keeps_measurements(void **state)
{
	struct world w;
	struct dkv_hlc_peer_clock pc[3];
	uint32_t ids[3] = { 3, 2, 7 };

	(void)state;
	world_init(&w, 3, 1);
	nd_of(&w, 3)->skew = 2 * (int64_t)SEC;
	assert_int_equal(heartbeat(&w, 1, 3, MS), 0);
	assert_int_equal(dkv_hlc_set_peers(nd_of(&w, 1)->hlc, ids, 3), 0);
	assert_int_equal(dkv_hlc_peer_clocks(nd_of(&w, 1)->hlc, pc, 3), 3);
	assert_int_equal(pc[0].id, 3);
	assert_true(pc[0].measured);
	assert_false(pc[0].agrees);
	assert_int_equal(pc[1].id, 2);
	assert_false(pc[1].measured);
	assert_true(pc[1].agrees);
	assert_int_equal(pc[2].id, 7);
	assert_false(pc[2].measured);
	/* 4 nodes: itself, 2 and 7 agree (3 of 4). */
	assert_false(fenced(&w, 1));
	assert_int_equal(dkv_hlc_set_peers(nd_of(&w, 1)->hlc, ids, 1), 0);
	/* 2 nodes: itself and 3, which disagrees. */
	assert_true(fenced(&w, 1));
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(agreeing_clocks_serve),
		cmocka_unit_test(measurement_estimates_the_offset),
		cmocka_unit_test(step_ahead_beyond_offset_fences_at_once),
		cmocka_unit_test(step_back_beyond_offset_fences),
		cmocka_unit_test(steps_within_offset_add_up),
		cmocka_unit_test(step_before_any_measurement_fences),
		cmocka_unit_test(started_off_fences_once_measured),
		cmocka_unit_test(two_nodes_cannot_tell_who_is_off),
		cmocka_unit_test(five_nodes_need_three),
		cmocka_unit_test(single_node_never_fences),
		cmocka_unit_test(fence_off_without_monotonic_clock),
		cmocka_unit_test(slow_round_trip_is_dropped),
		cmocka_unit_test(step_during_round_trip_is_dropped),
		cmocka_unit_test(measure_rejects_bad_input),
		cmocka_unit_test(set_peers_keeps_measurements),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
