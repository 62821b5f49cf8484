/*
 * sim_node.c - simulated nodes (clock, HLC with its bound persisted in the
 * node's durable state, one transaction participant per shard, the io
 * tables over sim_store.c) and the simulated network.
 *
 * A crash drops every volatile thing of a node: its participants, its HLC,
 * its batches in flight; what survives is the store's durable part and
 * the HLC bound. A restart builds everything again from those, as dkvd
 * does: HLC from the bound, participants recovered from their records.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "sim.h"
#include "txn/batch.h"
#include "txn/record.h"
#include "txn/util.h"

uint32_t sim_shard_of_key(const char *key, size_t klen)
{
	uint32_t v = 0;

	/* Keys are "<shard>/<name>". */
	for (size_t i = 0; i < klen && key[i] >= '0' && key[i] <= '9'; i++)
		v = v * 10 + (uint32_t)(key[i] - '0');
	return v;
}

int sim_node_of_shard(const struct sim *s, uint32_t shard)
{
	return (int)(shard % s->conf.nodes);
}

static uint64_t node_now_ns(void *ctx)
{
	struct sim_node *n = ctx;

	return sim_clock_ns(n->sim, &n->clk);
}

static int node_persist(void *ctx, uint64_t bound)
{
	struct sim_node *n = ctx;

	n->bound = bound; /* durable at once: a synchronous write */
	return 0;
}

static uint64_t node_now_ms(void *ctx)
{
	struct sim_node *n = ctx;

	return n->sim->now / SIM_MS;
}

static void node_send(void *ctx, const struct txn_msg *msg)
{
	struct sim_node *n = ctx;

	sim_net_send(n->sim, n->idx, msg);
}

void sim_node_init(struct sim *s, int idx)
{
	struct sim_node *n = &s->nodes[idx];
	int64_t off = (int64_t)s->conf.max_offset_ns / 4;

	memset(n, 0, sizeof(*n));
	n->sim = s;
	n->idx = idx;
	sstore_init(&n->store);
	for (uint32_t sh = 0; sh < s->conf.shards; sh++) {
		if (sim_node_of_shard(s, sh) != idx)
			continue;
		n->shards[n->nshards++] = sh;
		sstore_shard(&n->store, sh, 1);
	}
	n->clk.base_ns = (int64_t)rng_range(&s->rng, 0, (uint64_t)off * 2) - off;
	n->clk.drift_ppb = (int64_t)rng_range(&s->rng, 0, 400000) - 200000;
}

int sim_node_start(struct sim_node *n)
{
	struct sim *s = n->sim;
	struct dkv_hlc_io hio = { n, node_now_ns, node_persist, NULL };
	struct dkv_hlc_opts ho;
	struct txn_io io;
	int rc;

	memset(&ho, 0, sizeof(ho));
	ho.max_offset_ns = s->conf.max_offset_ns;
	ho.window_ns = s->conf.max_offset_ns;
	ho.bound = n->bound;
	rc = dkv_hlc_create(&hio, &ho, &n->hlc);
	if (rc != 0) {
		sim_fail(s, "node %d: hlc: %s", n->idx, dkv_strerror(rc));
		return rc;
	}
	memset(&io, 0, sizeof(io));
	io.ctx = n;
	io.get = sstore_get;
	io.range = sstore_range;
	io.scan_plain = sstore_scan_plain;
	io.submit = sstore_submit;
	io.send = node_send;
	io.now_ms = node_now_ms;
	io.hlc = n->hlc;
	for (uint32_t i = 0; i < n->nshards; i++) {
		struct txn_part_conf pc = s->pconf;

		pc.shard = n->shards[i];
		rc = txn_part_create(&io, &pc, &n->parts[i]);
		if (rc == 0)
			rc = txn_part_recover(n->parts[i]);
		if (rc != 0) {
			sim_fail(s, "node %d shard %u: start: %s", n->idx,
				 n->shards[i], dkv_strerror(rc));
			return rc;
		}
	}
	n->up = 1;
	return 0;
}

void sim_node_stats(struct sim_node *n, struct txn_part_stats *out)
{
	*out = n->dead_stats;
	for (uint32_t i = 0; i < n->nshards; i++)
		if (n->parts[i] != NULL)
			txn_part_stats_add(out, txn_part_stats(n->parts[i]));
}

/* What a crash interrupts: records in flight and durable. */
static void classify_crash(struct sim_node *n)
{
	struct sim *s = n->sim;
	struct txn_rec_tx r;

	for (struct sbatch *b = n->store.head; b != NULL; b = b->next)
		for (size_t i = 0; i < b->b.n; i++) {
			const struct txn_bent *e = &b->b.v[i];

			if (e->op != TXN_BOP_PUT_PLAIN || e->klen == 0 ||
			    (e->key[0] != TXN_REC_TX &&
			     e->key[0] != TXN_REC_FOLLOW) ||
			    txn_rec_tx_decode(e->val, e->vlen, &r) != 0)
				continue;
			if (r.state == TXN_REC_PREPARING)
				s->ctr.crash_lost_preparing++;
			else if (r.state == TXN_REC_COMMITTED)
				s->ctr.crash_lost_committed++;
			else
				s->ctr.crash_lost_prepared++;
			txn_rec_tx_release(&r);
		}
	for (uint32_t k = 0; k < n->store.nsh; k++) {
		const struct sshard *sh = &n->store.sh[k];

		for (uint32_t i = 0; i < sh->npl; i++) {
			const struct splain *p = &sh->pl[i];

			if (p->klen == 0 || (p->key[0] != TXN_REC_TX &&
					     p->key[0] != TXN_REC_FOLLOW) ||
			    txn_rec_tx_decode(p->val, p->vlen, &r) != 0)
				continue;
			if (r.state == TXN_REC_PREPARING)
				s->ctr.crash_durable_preparing++;
			else if (r.state == TXN_REC_COMMITTED)
				s->ctr.crash_durable_committed++;
			else
				s->ctr.crash_durable_prepared++;
			txn_rec_tx_release(&r);
		}
	}
}

static void drop_volatile(struct sim_node *n)
{
	for (uint32_t i = 0; i < n->nshards; i++) {
		if (n->parts[i] == NULL)
			continue;
		txn_part_stats_add(&n->dead_stats, txn_part_stats(n->parts[i]));
		txn_part_destroy(n->parts[i]);
		n->parts[i] = NULL;
	}
	sstore_drop_inflight(&n->store);
	dkv_hlc_destroy(n->hlc);
	n->hlc = NULL;
	n->up = 0;
	n->inc++;
}

void sim_node_crash(struct sim_node *n)
{
	if (!n->up)
		return;
	classify_crash(n);
	drop_volatile(n);
}

void sim_node_fini(struct sim_node *n)
{
	drop_volatile(n);
	sstore_fini(&n->store);
}

void sim_node_tick(struct sim_node *n)
{
	uint64_t now = n->sim->now / SIM_MS;

	for (uint32_t i = 0; i < n->nshards && n->up; i++)
		txn_part_tick(n->parts[i], now);
}

void sim_batch_done(struct sim_node *n, uint64_t seq)
{
	struct sim_store *st = &n->store;
	struct sbatch *b = st->head;

	if (b == NULL || (b->seq & 0xffffffffu) != seq) {
		sim_fail(n->sim, "node %d: batch %llu completes out of order",
			 n->idx, (unsigned long long)seq);
		return;
	}
	st->head = b->next;
	if (st->head == NULL)
		st->tail = NULL;
	sstore_apply(st, &b->b);
	if (st->err != NULL) {
		sim_fail(n->sim, "node %d: store: %s", n->idx, st->err);
	} else {
		b->done(b->arg, 0);
	}
	txn_batch_free(&b->b);
	free(b);
}

/* --- the network --------------------------------------------------------- */

struct smsg {
	struct txn_msg m;
	int src, dst;
};

static int endpoint_of(const struct sim *s, const struct txn_addr *a)
{
	if (a->kind == TXN_ADDR_SHARD && a->id < s->conf.shards)
		return sim_node_of_shard(s, (uint32_t)a->id);
	if (a->kind == TXN_ADDR_COORD && (a->id >> 32) < s->conf.clients)
		return (int)(s->conf.nodes + (a->id >> 32));
	return -1;
}

void sim_net_send(struct sim *s, int src, const struct txn_msg *msg)
{
	int dst = endpoint_of(s, &msg->to), copies = 1;

	s->ctr.msg_sent++;
	if (dst < 0) {
		sim_fail(s, "message %s to a bad address",
			 txn_msg_name(msg->type));
		return;
	}
	if (s->faults) {
		if (rng_chance(&s->rng, s->conf.loss_ppm) ||
		    s->blocked[src][dst]) {
			s->ctr.msg_lost++;
			return;
		}
		if (rng_chance(&s->rng, s->conf.dup_ppm)) {
			s->ctr.msg_dup++;
			copies = 2;
		}
	}
	for (int i = 0; i < copies; i++) {
		struct smsg *m = calloc(1, sizeof(*m));
		uint64_t delay = rng_range(&s->rng, 50, 1000);

		if (m == NULL || txn_msg_copy(&m->m, msg) != 0)
			abort();
		m->src = src;
		m->dst = dst;
		if (s->faults && rng_chance(&s->rng, s->conf.slow_ppm)) {
			s->ctr.msg_slow++;
			/* Mostly reordered; sometimes older than half the
			 * horizon when it arrives. */
			delay = rng_chance(&s->rng, 100000)
					? rng_range(&s->rng, 1100 * SIM_MS,
						    2500 * SIM_MS)
					: rng_range(&s->rng, 5000, 80000);
		}
		sim_schedule(s, s->now + delay, EV_MSG, 0, 0, m);
	}
}

void sim_net_free(void *p)
{
	struct smsg *m = p;

	txn_msg_free(&m->m);
	free(m);
}

static void trace_msg(struct sim *s, const struct smsg *m, const char *what)
{
	const struct dkv_txid *id = txn_msg_txid(&m->m);

	printf("  %8llu %s %-12s %d->%d txid %016llx:%04llx",
	       (unsigned long long)s->now, what, txn_msg_name(m->m.type),
	       m->src, m->dst, (unsigned long long)id->hi,
	       (unsigned long long)(id->lo & 0xffff));
	switch (m->m.type) {
	case TXN_MSG_READ:
		printf(" ts %llu tu %llu key %.*s",
		       (unsigned long long)m->m.u.read.ts,
		       (unsigned long long)m->m.u.read.tu,
		       (int)m->m.u.read.key.len, m->m.u.read.key.p);
		break;
	case TXN_MSG_READ_REPLY:
		printf(" rc %d epoch %llu vlen %u", m->m.u.read_reply.rc,
		       (unsigned long long)m->m.u.read_reply.epoch,
		       m->m.u.read_reply.val.len);
		break;
	case TXN_MSG_OUTCOME:
		printf(" rc %d tc %llu", m->m.u.outcome.rc,
		       (unsigned long long)m->m.u.outcome.tc);
		break;
	case TXN_MSG_PREPARED:
		printf(" p %llu", (unsigned long long)m->m.u.prepared.proposed);
		break;
	case TXN_MSG_COMMIT:
		printf(" tc %llu", (unsigned long long)m->m.u.commit.tc);
		break;
	default:
		break;
	}
	printf("\n");
}

void sim_net_deliver(struct sim *s, void *p)
{
	struct smsg *m = p;

	if (s->conf.trace)
		trace_msg(s, m, "deliver");

	if (s->blocked[m->src][m->dst]) {
		s->ctr.msg_lost++;
		goto out;
	}
	if (m->dst < (int)s->conf.nodes) {
		struct sim_node *n = &s->nodes[m->dst];

		if (!n->up) {
			s->ctr.msg_lost++;
			goto out;
		}
		for (uint32_t i = 0; i < n->nshards; i++)
			if (n->shards[i] == m->m.to.id)
				txn_part_recv(n->parts[i], &m->m);
	} else {
		sim_client_recv(&s->clients[m->dst - (int)s->conf.nodes],
				&m->m);
	}
out:
	sim_net_free(m);
}
