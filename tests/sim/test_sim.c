/*
 * test_sim - the deterministic simulation of the transaction layer
 * (tests/sim/sim.h): many seeds, each a cluster under faults running the
 * bank and list-append workloads, then every check of sim_check.c.
 *
 *   DKV_SIM_SEEDS=<n>   seeds to run (default 1000), seeds 1..n
 *   DKV_SIM_BASE=<n>    first seed (default 1)
 *   DKV_SEED=<n>        replay that one seed, printing its faults
 *   DKV_SIM_TRACE=1     with DKV_SEED: every message and client step
 *   DKV_SIM_KNOB_SEEDS  most seeds the "can fail" case may use (200)
 *   DKV_SIM_WORK_MS=<n> workload phase per seed (default 4000): a bigger
 *                       opt-in run is e.g. DKV_SIM_SEEDS=20000
 *                       DKV_SIM_WORK_MS=10000
 *
 * A failing seed is printed with its reason and how to replay it. At the
 * end the fault counters and the protocol counters of all runs are
 * printed, so a reader sees which in-doubt cases the faults really hit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "histcheck.h"
#include "sim.h"

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 10) : def;
}

/* Wall time, for the report only (the simulation never reads it). */
static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void print_summary(const struct sim *s, uint64_t runs, double secs)
{
	printf("\n== %" PRIu64 " seeds in %.1f s ==\n", runs, secs);
	printf("-- faults and workload --\n");
#define P_(n, t) printf("  %-28s %10" PRIu64 "  %s\n", #n, s->ctr.n, t);
	SIM_COUNTERS(P_)
#undef P_
	printf("-- participants (every shard, every incarnation) --\n");
#define P_(n, t) printf("  %-28s %10" PRIu64 "  %s\n", #n, s->pstats.n, t);
	TXN_PART_STATS(P_)
#undef P_
	printf("-- coordinators --\n");
#define P_(n, t) printf("  %-28s %10" PRIu64 "  %s\n", #n, s->cstats.n, t);
	TXN_COORD_STATS(P_)
#undef P_
	printf("-- restarts by cause (shards sent / coordinators met) --\n");
	for (unsigned i = 1; i < TXN_R_COUNT_; i++)
		printf("  %-28s %10" PRIu64 " %10" PRIu64 "\n",
		       txn_reason_name(i), s->pstats.restart_by[i],
		       s->cstats.restart_by[i]);
	fflush(stdout);
}

/*
 * docs/txn.md's in-doubt table, row by row, with how often the faults hit
 * each case over the run; a long run that missed one says so.
 */
static void print_in_doubt(const struct sim *s, int complain)
{
	const struct {
		const char *what;
		uint64_t n;
	} c[] = {
		{ "coordinator dies before commit (abandoned early)",
		  s->ctr.coord_abandon_early },
		{ "coordinator dies after PREPARE_L/COMMIT1",
		  s->ctr.coord_abandon },
		{ "coordinator loses the answer: STATUS asked",
		  s->cstats.in_doubt },
		{ "  ... resolved by STATUS", s->cstats.status_resolved },
		{ "  ... leader unreachable: outcome unknown", s->cstats.unknown },
		{ "  ... unknown txid recorded ABORTED",
		  s->pstats.status_abort_unknown },
		{ "leader dies before PREPARING is durable",
		  s->ctr.crash_lost_preparing },
		{ "leader dies after PREPARING, before COMMITTED",
		  s->pstats.rec_preparing },
		{ "  ... with its COMMITTED write in flight",
		  s->ctr.crash_lost_committed },
		{ "leader dies after COMMITTED, before every ACK",
		  s->pstats.rec_committed },
		{ "follower dies before preparing", s->ctr.crash_lost_prepared },
		{ "follower dies after preparing", s->pstats.rec_prepared },
		{ "PREPARE lost or late: resent", s->pstats.resend_prepare },
		{ "  ... prepare timeout: abort", s->pstats.prepare_timeout },
		{ "  ... late PREPARE refused by a tombstone",
		  s->pstats.late_prepare_refused },
		{ "  ... older than H/2: dropped", s->pstats.too_old },
		{ "PREPARED lost: PREPARE answered again", s->pstats.dup_prepare },
		{ "COMMIT/ACK lost: COMMIT resent", s->pstats.resend_commit },
		{ "ABORT/ACK lost: ABORT resent", s->pstats.resend_abort },
		{ "follower learned the outcome by STATUS",
		  s->pstats.resolved_by_status },
		{ "duplicate PREPARE_L", s->pstats.dup_prepare_l },
		{ "duplicate COMMIT1", s->pstats.dup_commit1 },
		{ "reader met an intent", s->pstats.read_met_intent },
		{ "  ... parked until its outcome", s->pstats.read_parked },
		{ "  ... uncertain: RESTART", s->pstats.read_uncertain },
		{ "writer met an intent: waited (older)", s->pstats.wd_wait },
		{ "writer met an intent: died (younger)", s->pstats.wd_die },
		{ "  ... too many waiters: RESTART(busy)", s->pstats.parked_full },
		{ "slow PREPARED after the abort: ABORT", s->pstats.prepared_after_abort },
		{ "clock jumps forward beyond the max offset",
		  s->ctr.clock_jump_beyond },
		{ "  ... epochs refused", s->pstats.clock_refused },
		{ "clock jumps backwards", s->ctr.clock_jump_back },
		{ "reboot with intents outstanding: rebuilt",
		  s->pstats.rec_intents },
		{ "outcome tombstones collected after H",
		  s->pstats.tombstones_collected },
	};

	printf("-- docs/txn.md in-doubt cases: times hit --\n");
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		printf("  %-48s %10" PRIu64 "%s\n", c[i].what, c[i].n,
		       complain && c[i].n == 0 ? "  NOT EXERCISED" : "");
	fflush(stdout);
}

static void test_sim_seeds(void **state)
{
	static struct sim s; /* large: not on the stack */
	uint64_t replay = env_u64("DKV_SEED", 0);
	uint64_t base = replay ? replay : env_u64("DKV_SIM_BASE", 1);
	uint64_t n = replay ? 1 : env_u64("DKV_SIM_SEEDS", 1000);
	uint64_t work_ms = env_u64("DKV_SIM_WORK_MS", 0);
	uint64_t failures = 0;
	double t0 = wall_s();

	(void)state;
	memset(&s, 0, sizeof(s));
	printf("test_sim: seeds %" PRIu64 "..%" PRIu64
	       " (DKV_SEED=<n> replays one)\n",
	       base, base + n - 1);
	for (uint64_t seed = base; seed < base + n; seed++) {
		struct sim_conf c;

		sim_conf_default(&c, seed);
		c.verbose = replay != 0;
		c.trace = replay != 0 && env_u64("DKV_SIM_TRACE", 0) != 0;
		if (work_ms != 0)
			c.work_us = work_ms * SIM_MS;
		if (sim_run(&s, &c) != 0) {
			failures++;
			printf("FAIL seed %" PRIu64 ": %s\n  replay: DKV_SEED=%"
			       PRIu64 " %s\n",
			       seed, s.err, seed, "tests/sim test_sim");
			fflush(stdout);
		}
	}
	print_summary(&s, n, wall_s() - t0);
	print_in_doubt(&s, n >= 500);
	assert_int_equal(failures, 0);
}

/*
 * The test can fail: with read-set validation skipped (a participant
 * knob for tests only), the checker must find G-single or G2 within a
 * bounded number of seeds.
 */
static void test_sim_catches_skipped_validation(void **state)
{
	static struct sim s;
	uint64_t max = env_u64("DKV_SIM_KNOB_SEEDS", 200), seed;
	uint64_t found = 0;

	(void)state;
	memset(&s, 0, sizeof(s));
	for (seed = 1; seed <= max && found == 0; seed++) {
		struct sim_conf c;

		sim_conf_default(&c, seed);
		c.skip_read_validation = 1;
		sim_run(&s, &c);
		found = s.anomalies[DKV_HIST_G_SINGLE] + s.anomalies[DKV_HIST_G2];
	}
	printf("test_sim: without read validation the checker found "
	       "G-single %" PRIu64 ", G2 %" PRIu64 " after %" PRIu64
	       " seeds\n",
	       s.anomalies[DKV_HIST_G_SINGLE], s.anomalies[DKV_HIST_G2],
	       seed - 1);
	assert_true(found > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_seeds),
		cmocka_unit_test(test_sim_catches_skipped_validation),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
