/*
 * sim_core.c - the simulator's engine: the PRNG, the event queue (a binary
 * heap ordered by time, then by a sequence number, so that the order is a
 * function of the seed alone), the run of one seed, and the faults.
 *
 * A run: nodes and clients start; for conf.work_us the clients run their
 * workloads while faults strike (random crashes, crashes targeted right
 * after a transaction record is submitted, partitions, clock jumps, lost,
 * duplicated and slow messages). Then the faults stop: partitions heal,
 * clocks come back, crashed nodes restart, clients start nothing new; the
 * run goes on until the cluster is quiescent (every outcome resolved,
 * every intent gone, every tombstone collected) or conf.settle_us passes,
 * which fails the run. The final checks and the history check follow.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "histcheck.h"
#include "sim.h"
#include "txn/batch.h"

/* 2026-01-01T00:00:00Z: the true time at sim time 0. */
#define SIM_T0_NS (UINT64_C(1767225600) * UINT64_C(1000000000))

/* --- PRNG ---------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void rng_seed(struct sim_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

uint64_t rng_below(struct sim_rng *r, uint64_t n)
{
	return n ? rng_next(r) % n : 0;
}

uint64_t rng_range(struct sim_rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

int rng_chance(struct sim_rng *r, uint32_t ppm)
{
	return ppm != 0 && rng_below(r, 1000000) < ppm;
}

/* --- events --------------------------------------------------------------- */

static int ev_less(const struct ev *a, const struct ev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

void sim_schedule(struct sim *s, uint64_t at, uint32_t kind, uint32_t a,
		  uint64_t b, void *p)
{
	struct ev e = { at, ++s->seq, kind, a, b, p };
	size_t i;

	if (s->nheap == s->capheap) {
		s->capheap = s->capheap ? s->capheap * 2 : 1024;
		s->heap = realloc(s->heap, s->capheap * sizeof(*s->heap));
		if (s->heap == NULL)
			abort();
	}
	i = s->nheap++;
	while (i > 0 && ev_less(&e, &s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = e;
}

static struct ev pop(struct sim *s)
{
	struct ev top = s->heap[0], last = s->heap[--s->nheap];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, m = i;

		if (l < s->nheap && ev_less(&s->heap[l], &last))
			m = l;
		if (l + 1 < s->nheap &&
		    ev_less(&s->heap[l + 1], m == i ? &last : &s->heap[m]))
			m = l + 1;
		if (m == i)
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	if (s->nheap > 0)
		s->heap[i] = last;
	return top;
}

void sim_fail(struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (s->failed)
		return;
	s->failed = 1;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

uint64_t sim_clock_ns(const struct sim *s, const struct sim_clock *c)
{
	int64_t off = c->base_ns + c->jump_ns +
		      c->drift_ppb * (int64_t)s->now / 1000000;

	return (uint64_t)((int64_t)(SIM_T0_NS + s->now * 1000) + off);
}

/* --- configuration ------------------------------------------------------- */

void sim_conf_default(struct sim_conf *c, uint64_t seed)
{
	struct sim_rng r;

	memset(c, 0, sizeof(*c));
	rng_seed(&r, seed ^ UINT64_C(0x5eed));
	c->seed = seed;
	c->nodes = (uint32_t)rng_range(&r, 2, SIM_MAX_NODES);
	c->shards = c->nodes * 2;
	c->clients = (uint32_t)rng_range(&r, 3, SIM_MAX_CLIENTS);
	c->lists = 10;
	c->accts = 8;
	c->work_us = 4000 * SIM_MS;
	c->settle_us = 6000 * SIM_MS;
	c->loss_ppm = (uint32_t)rng_range(&r, 0, 30000);
	c->dup_ppm = (uint32_t)rng_range(&r, 0, 30000);
	c->slow_ppm = (uint32_t)rng_range(&r, 0, 30000);
	c->crash_mean_us = 250 * SIM_MS;
	c->target_crash_ppm = 30000;
	c->partition_mean_us = 200 * SIM_MS;
	c->jump_mean_us = 400 * SIM_MS;
	c->max_offset_ns = UINT64_C(20000000); /* 20 ms */
	c->abandon_ppm = 10000;
}

static void configure(struct sim *s)
{
	struct txn_part_conf *p = &s->pconf;
	struct txn_coord_conf *c = &s->cconf;

	/* docs/txn.md's defaults, scaled to the simulation's time. */
	txn_part_conf_init(p, 0);
	p->prepare_timeout_ms = 150;
	p->resend_min_ms = 20;
	p->resend_max_ms = 160;
	p->wait_timeout_ms = 100;
	p->read_timeout_ms = 100;
	p->status_after_ms = 150;
	p->horizon_ms = 2000;
	p->tomb_mem_ms = 150; /* then on disk only: reloads run too */
	p->max_parked = 6; /* small: the BUSY path runs too */
	p->test_skip_read_validation = s->conf.skip_read_validation;
	txn_coord_conf_init(c, 0);
	c->read_resend_ms = 40;
	c->read_timeout_ms = 400;
	c->commit_wait_ms = 300;
	c->status_resend_ms = 30;
	c->commit_deadline_ms = 800; /* < horizon / 2 */
}

/* The initial data, at an epoch before every clock. */
static void load(struct sim *s)
{
	uint64_t e0 = (SIM_T0_NS - DKV_HLC_START_UNIX_NS - 1000000000) &
		      ~DKV_HLC_LOGICAL_MASK;
	char key[32], val[8];
	struct txn_batch b;

	s->bank_total = 0;
	for (uint32_t a = 0; a < s->conf.accts; a++) {
		uint32_t shard = a % s->conf.shards;
		struct sim_node *n = &s->nodes[sim_node_of_shard(s, shard)];

		sim_acct_key(key, sizeof(key), s, a);
		for (int i = 0; i < 8; i++)
			val[i] = (char)(i == 0 ? 100 : 0);
		txn_batch_init(&b, shard);
		if (txn_batch_add(&b, TXN_BOP_PUT, key, strlen(key), val, 8,
				  e0) != 0)
			abort();
		sstore_apply(&n->store, &b);
		txn_batch_free(&b);
		s->bank_total += 100;
	}
}

/* --- faults --------------------------------------------------------------- */

static void bad_span(struct sim *s, uint64_t from, uint64_t to)
{
	if (s->nbad == sizeof(s->bad) / sizeof(s->bad[0])) {
		s->bad_overflow = 1; /* no more real-time checks this run */
		return;
	}
	s->bad[s->nbad].from = from;
	s->bad[s->nbad].to = to;
	s->nbad++;
}

int sim_clocks_good(const struct sim *s, uint64_t from, uint64_t to)
{
	if (s->bad_overflow)
		return 0;
	for (uint32_t i = 0; i < s->nbad; i++)
		if (s->bad[i].from <= to && from <= s->bad[i].to)
			return 0;
	return 1;
}

enum { F_CRASH, F_PARTITION, F_JUMP };

static uint64_t fault_mean(const struct sim *s, uint32_t f)
{
	return f == F_CRASH ? s->conf.crash_mean_us
	       : f == F_PARTITION ? s->conf.partition_mean_us
				  : s->conf.jump_mean_us;
}

static void schedule_fault(struct sim *s, uint32_t f)
{
	uint64_t mean = fault_mean(s, f);

	if (mean != 0)
		sim_schedule(s, s->now + rng_range(&s->rng, 1, 2 * mean),
			     EV_FAULT, f, 0, NULL);
}

static void crash(struct sim *s, int idx, int targeted)
{
	struct sim_node *n = &s->nodes[idx];
	uint64_t down;

	if (!n->up)
		return;
	if (s->conf.verbose)
		printf("  %8llu us: crash node %d%s\n",
		       (unsigned long long)s->now, idx,
		       targeted ? " (targeted)" : "");
	s->ctr.crash++;
	s->ctr.crash_targeted += targeted != 0;
	sim_node_crash(n);
	/* Mostly short; sometimes longer than a coordinator's deadline. */
	down = rng_chance(&s->rng, 100000)
		       ? rng_range(&s->rng, 300 * SIM_MS, 1500 * SIM_MS)
		       : rng_range(&s->rng, 2 * SIM_MS, 150 * SIM_MS);
	sim_schedule(s, s->now + down, EV_RESTART, (uint32_t)idx, n->inc,
		     NULL);
}

static void restart(struct sim *s, int idx)
{
	struct sim_node *n = &s->nodes[idx];
	uint64_t phys;

	if (n->up)
		return;
	/* As docs/hlc.md advises (and dkvd must do): serve only once the
	 * wall clock passed the persisted bound, else the restarted clock
	 * runs up to a window ahead of every other. */
	phys = (sim_clock_ns(s, &n->clk) - DKV_HLC_START_UNIX_NS) &
	       ~DKV_HLC_LOGICAL_MASK;
	if (n->bound > phys) {
		s->ctr.restart_wait++;
		sim_schedule(s, s->now + (n->bound - phys) / 1000 + 1,
			     EV_RESTART, (uint32_t)idx, n->inc, NULL);
		return;
	}
	if (s->conf.verbose)
		printf("  %8llu us: restart node %d\n",
		       (unsigned long long)s->now, idx);
	s->ctr.restart++;
	if (sim_node_start(n) == 0)
		sim_schedule(s, s->now + 10 * SIM_MS, EV_NODE_TICK,
			     (uint32_t)idx, n->inc, NULL);
}

static void fault(struct sim *s, uint32_t f)
{
	uint32_t neps = s->conf.nodes + s->conf.clients;

	if (!s->faults)
		return;
	if (f == F_CRASH) {
		crash(s, (int)rng_below(&s->rng, s->conf.nodes), 0);
	} else if (f == F_PARTITION) {
		/* Between two nodes, or a node and a client. */
		uint32_t a = (uint32_t)rng_below(&s->rng, s->conf.nodes);
		uint32_t b = (uint32_t)rng_below(&s->rng, neps);

		if (a != b) {
			uint64_t len = rng_chance(&s->rng, 100000)
					       ? rng_range(&s->rng, 500 * SIM_MS,
							   1500 * SIM_MS)
					       : rng_range(&s->rng, 5 * SIM_MS,
							   200 * SIM_MS);

			s->ctr.partition++;
			s->blocked[a][b]++;
			s->blocked[b][a]++;
			sim_schedule(s, s->now + len, EV_HEAL, a, b, NULL);
		}
	} else {
		uint32_t who = (uint32_t)rng_below(&s->rng, neps);
		struct sim_clock *c = who < s->conf.nodes
					      ? &s->nodes[who].clk
					      : &s->clients[who - s->conf.nodes].clk;
		/* Mostly within the max offset, sometimes well beyond. */
		uint64_t mag = rng_chance(&s->rng, 250000)
				       ? rng_range(&s->rng, s->conf.max_offset_ns,
						   3 * s->conf.max_offset_ns)
				       : rng_range(&s->rng, 1,
						   s->conf.max_offset_ns * 9 / 10);

		uint64_t len = rng_range(&s->rng, 10 * SIM_MS, 300 * SIM_MS);

		s->ctr.clock_jump++;
		s->ctr.clock_jump_beyond += mag > s->conf.max_offset_ns;
		c->jump_ns = rng_below(&s->rng, 2) ? (int64_t)mag
						    : -(int64_t)mag;
		s->ctr.clock_jump_back += c->jump_ns < 0;
		/* Until it ends, and until real time catches up with the
		 * HLCs it pushed ahead (faults may end it earlier). */
		bad_span(s, s->now, s->now + len + mag / 1000 + SIM_MS);
		sim_schedule(s, s->now + len, EV_JUMP_END, who, 0, NULL);
	}
	schedule_fault(s, f);
}

static void end_faults(struct sim *s)
{
	uint32_t neps = s->conf.nodes + s->conf.clients;

	s->faults = 0;
	s->stopping = 1;
	memset(s->blocked, 0, sizeof(s->blocked));
	for (uint32_t i = 0; i < neps; i++) {
		if (i < s->conf.nodes)
			s->nodes[i].clk.jump_ns = 0;
		else
			s->clients[i - s->conf.nodes].clk.jump_ns = 0;
	}
	for (uint32_t i = 0; i < s->conf.nodes; i++)
		restart(s, (int)i);
}

/* --- the run --------------------------------------------------------------- */

static void dispatch(struct sim *s, const struct ev *e)
{
	struct sim_node *n;

	switch (e->kind) {
	case EV_MSG:
		sim_net_deliver(s, e->p);
		break;
	case EV_BATCH:
		n = &s->nodes[e->a];
		if (n->up && n->inc == (uint32_t)(e->b >> 32))
			sim_batch_done(n, e->b & 0xffffffffu);
		break;
	case EV_NODE_TICK:
		n = &s->nodes[e->a];
		if (!n->up || n->inc != (uint32_t)e->b)
			break;
		sim_node_tick(n);
		sim_schedule(s, s->now + 10 * SIM_MS, EV_NODE_TICK, e->a, e->b,
			     NULL);
		break;
	case EV_CLIENT_TICK:
		sim_client_tick(&s->clients[e->a]);
		sim_schedule(s, s->now + 10 * SIM_MS, EV_CLIENT_TICK, e->a, 0,
			     NULL);
		break;
	case EV_CLIENT_STEP:
		sim_client_step(&s->clients[e->a]);
		break;
	case EV_CRASH:
		n = &s->nodes[e->a];
		if (s->faults && n->inc == (uint32_t)e->b)
			crash(s, (int)e->a, e->p != NULL);
		break;
	case EV_RESTART:
		if (s->nodes[e->a].inc == (uint32_t)e->b)
			restart(s, (int)e->a);
		break;
	case EV_FAULT:
		fault(s, e->a);
		break;
	case EV_JUMP_END:
		if (e->a < s->conf.nodes)
			s->nodes[e->a].clk.jump_ns = 0;
		else
			s->clients[e->a - s->conf.nodes].clk.jump_ns = 0;
		break;
	case EV_HEAL:
		if (s->blocked[e->a][e->b] > 0) {
			s->blocked[e->a][e->b]--;
			s->blocked[e->b][e->a]--;
		}
		break;
	case EV_END_FAULTS:
		end_faults(s);
		break;
	default:
		break;
	}
}

static void teardown(struct sim *s)
{
	struct txn_part_stats ps;
	struct txn_coord_stats cs;

	for (uint32_t i = 0; i < s->conf.clients; i++) {
		sim_client_stats(&s->clients[i], &cs);
		txn_coord_stats_add(&s->cstats, &cs);
		sim_client_fini(&s->clients[i]);
	}
	for (uint32_t i = 0; i < s->conf.nodes; i++) {
		sim_node_stats(&s->nodes[i], &ps);
		txn_part_stats_add(&s->pstats, &ps);
		sim_node_fini(&s->nodes[i]);
	}
	while (s->nheap > 0) {
		struct ev e = pop(s);

		if (e.kind == EV_MSG)
			sim_net_free(e.p);
	}
	free(s->heap);
	s->heap = NULL;
	s->capheap = 0;
	for (uint32_t k = 0; k < SIM_MAX_LISTS; k++) {
		free(s->app_outcome[k]);
		free(s->app_ack[k]);
		free(s->app_begin[k]);
		s->app_outcome[k] = NULL;
		s->app_ack[k] = NULL;
		s->app_begin[k] = NULL;
		s->app_cap[k] = 0;
	}
	dkv_hist_free(s->hist);
	s->hist = NULL;
	for (size_t i = 0; i < s->nstab; i++) {
		free(s->stab[i].reads);
		free(s->stab[i].ranges);
	}
	free(s->stab);
	s->stab = NULL;
	s->nstab = s->capstab = 0;
}

int sim_run(struct sim *s, const struct sim_conf *conf)
{
	uint64_t next_check;
	char why[256];

	/* Counters and stats are the caller's to sum: keep them. */
	s->conf = *conf;
	s->now = 0;
	s->seq = 0;
	s->faults = 1;
	s->stopping = 0;
	s->failed = 0;
	s->err[0] = '\0';
	s->next_hist_id = 0;
	s->anomaly_total = 0;
	s->nbad = 0;
	s->bad_overflow = 0;
	memset(s->anomalies, 0, sizeof(s->anomalies));
	memset(s->next_value, 0, sizeof(s->next_value));
	memset(s->blocked, 0, sizeof(s->blocked));
	rng_seed(&s->rng, conf->seed);
	configure(s);
	s->hist = dkv_hist_new();
	if (s->hist == NULL)
		abort();
	for (uint32_t i = 0; i < conf->nodes; i++)
		sim_node_init(s, (int)i);
	load(s);
	for (uint32_t i = 0; i < conf->nodes; i++) {
		if (sim_node_start(&s->nodes[i]) != 0)
			goto out;
		sim_schedule(s, rng_range(&s->rng, 1, 10 * SIM_MS),
			     EV_NODE_TICK, i, s->nodes[i].inc, NULL);
	}
	for (uint32_t i = 0; i < conf->clients; i++) {
		sim_client_init(s, (int)i);
		sim_schedule(s, rng_range(&s->rng, 1, 10 * SIM_MS),
			     EV_CLIENT_TICK, i, 0, NULL);
		sim_schedule(s, rng_range(&s->rng, 1, 3 * SIM_MS),
			     EV_CLIENT_STEP, i, 0, NULL);
	}
	schedule_fault(s, F_CRASH);
	schedule_fault(s, F_PARTITION);
	schedule_fault(s, F_JUMP);
	sim_schedule(s, conf->work_us, EV_END_FAULTS, 0, 0, NULL);
	/* Outcomes are remembered for a horizon: look for quiescence once
	 * they can all have been collected. */
	next_check = conf->work_us + s->pconf.horizon_ms * SIM_MS;
	while (!s->failed && s->nheap > 0) {
		struct ev e = pop(s);

		s->now = e.t;
		s->ctr.events++;
		dispatch(s, &e);
		if (s->failed || s->now < next_check)
			continue;
		if (sim_quiescent(s, why, sizeof(why)))
			break;
		next_check = s->now + 50 * SIM_MS;
		if (s->now > conf->work_us + conf->settle_us) {
			sim_fail(s, "not quiescent %llu ms after the faults "
				 "stopped: %s",
				 (unsigned long long)(conf->settle_us / SIM_MS),
				 why);
			break;
		}
	}
	if (!s->failed)
		sim_check_final(s);
	/* With the test knob the runs are expected to break: the history
	 * is what the knob's test looks at. */
	if (!s->failed || conf->skip_read_validation)
		sim_check_history(s, !conf->skip_read_validation);
out:
	teardown(s);
	return s->failed ? -1 : 0;
}
