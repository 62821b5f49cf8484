/*
 * sim_client.c - simulated clients: each runs one coordinator (its own
 * clock and HLC) and one logical transaction at a time, retried with a new
 * incarnation after a restart:
 *
 *  - bank transfer: read two accounts, write both (money moves);
 *  - bank read-all: read every account concurrently (read-only): the sum
 *    must be the total;
 *  - list-append: 1-4 micro-operations on lists spread over the shards:
 *    read(k), append(k, v) (read, then write the list with v added), and
 *    range reads of all the lists of one shard. Each attempt goes to the
 *    history with its outcome: OK (committed and acknowledged), FAIL
 *    (restarted: aborted for sure), INFO (outcome unknown).
 *
 * Values appended are unique per key (a counter per key, drawn anew for
 * every attempt). Lists are stored as arrays of le64.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "histcheck.h"
#include "sim.h"
#include "txn/util.h"

#define MAX_ATTEMPTS 10

void sim_list_key(char *buf, size_t cap, const struct sim *s, uint32_t k)
{
	snprintf(buf, cap, "%u/l%02u", k % s->conf.shards, k);
}

void sim_acct_key(char *buf, size_t cap, const struct sim *s, uint32_t a)
{
	snprintf(buf, cap, "%u/b%02u", a % s->conf.shards, a);
}

static uint64_t cl_now_ns(void *ctx)
{
	struct sim_client *c = ctx;

	return sim_clock_ns(c->sim, &c->clk);
}

static void cl_send(void *ctx, const struct txn_msg *msg)
{
	struct sim_client *c = ctx;

	sim_net_send(c->sim, (int)c->sim->conf.nodes + c->idx, msg);
}

static uint64_t cl_now_ms(void *ctx)
{
	struct sim_client *c = ctx;

	return c->sim->now / SIM_MS;
}

static uint64_t cl_rand(void *ctx)
{
	struct sim_client *c = ctx;

	return rng_next(&c->sim->rng);
}

static uint32_t cl_shard_of(void *ctx, const char *key, size_t klen)
{
	(void)ctx;
	return sim_shard_of_key(key, klen);
}

static void coord_start(struct sim_client *c)
{
	struct sim *s = c->sim;
	struct dkv_hlc_io hio = { c, cl_now_ns, NULL, NULL };
	struct dkv_hlc_opts ho;
	struct txn_coord_io io;
	struct txn_coord_conf cc = s->cconf;

	memset(&ho, 0, sizeof(ho));
	ho.max_offset_ns = s->conf.max_offset_ns;
	if (dkv_hlc_create(&hio, &ho, &c->hlc) != 0)
		abort();
	memset(&io, 0, sizeof(io));
	io.ctx = c;
	io.send = cl_send;
	io.now_ms = cl_now_ms;
	io.rand64 = cl_rand;
	io.shard_of = cl_shard_of;
	io.hlc = c->hlc;
	c->coord_id = (uint64_t)c->idx << 32 | c->inc;
	cc.id = c->coord_id;
	if (txn_coord_create(&io, &cc, &c->coord) != 0)
		abort();
}

void sim_client_init(struct sim *s, int idx)
{
	struct sim_client *c = &s->clients[idx];
	int64_t off = (int64_t)s->conf.max_offset_ns / 4;

	memset(c, 0, sizeof(*c));
	c->sim = s;
	c->idx = idx;
	c->clk.base_ns =
		(int64_t)rng_range(&s->rng, 0, (uint64_t)off * 2) - off;
	c->clk.drift_ppb = (int64_t)rng_range(&s->rng, 0, 400000) - 200000;
	coord_start(c);
}

static void mops_free(struct sim_client *c)
{
	for (int i = 0; i < c->nmops; i++)
		free(c->mops[i].v);
	c->nmops = 0;
}

void sim_client_fini(struct sim_client *c)
{
	mops_free(c);
	if (c->coord != NULL) {
		txn_coord_stats_add(&c->dead_stats, txn_coord_stats(c->coord));
		txn_coord_destroy(c->coord); /* closes c->tx too */
	}
	c->coord = NULL;
	c->tx = NULL;
	dkv_hlc_destroy(c->hlc);
	c->hlc = NULL;
}

void sim_client_stats(struct sim_client *c, struct txn_coord_stats *out)
{
	*out = c->dead_stats;
	if (c->coord != NULL)
		txn_coord_stats_add(out, txn_coord_stats(c->coord));
}

void sim_client_tick(struct sim_client *c)
{
	txn_coord_tick(c->coord, c->sim->now / SIM_MS);
}

void sim_client_recv(struct sim_client *c, const struct txn_msg *msg)
{
	if (msg->to.id == c->coord_id)
		txn_coord_recv(c->coord, msg);
}

/* --- values ---------------------------------------------------------------- */

static int64_t decode_i64(const char *val, size_t vlen)
{
	return vlen == 8 ? (int64_t)txn_get_le64(val) : 0;
}

static void encode_u64(char *out, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (char)(v >> (8 * i));
}

/* A list value: le64s. NULL (n = 0) for the empty list. */
static uint64_t *decode_list(struct sim *s, const char *val, size_t vlen,
			     uint32_t *n)
{
	uint64_t *v;

	*n = 0;
	if (vlen % 8 != 0) {
		sim_fail(s, "a list value of %zu bytes", vlen);
		return NULL;
	}
	if (vlen == 0)
		return NULL;
	v = malloc(vlen);
	if (v == NULL)
		abort();
	for (size_t i = 0; i < vlen / 8; i++)
		v[i] = txn_get_le64(val + 8 * i);
	*n = (uint32_t)(vlen / 8);
	return v;
}

static void note_outcome(struct sim_client *c, uint32_t key, uint64_t value,
			 int o)
{
	struct sim *s = c->sim;

	if (value >= s->app_cap[key]) {
		uint64_t old = s->app_cap[key], cap = old ? old : 64;

		while (cap <= value)
			cap *= 2;
		s->app_outcome[key] = realloc(s->app_outcome[key], cap);
		s->app_ack[key] = realloc(s->app_ack[key], cap * 8);
		s->app_begin[key] = realloc(s->app_begin[key], cap * 8);
		if (s->app_outcome[key] == NULL || s->app_ack[key] == NULL ||
		    s->app_begin[key] == NULL)
			abort();
		memset(s->app_outcome[key] + old, 0, cap - old);
		s->app_cap[key] = cap;
	}
	s->app_outcome[key][value] = (uint8_t)o;
	s->app_ack[key][value] = s->now;
	s->app_begin[key][value] = c->begin;
}

/*
 * Real-time order: a read of a transaction that began after an append
 * was acknowledged must see it, the very point of the uncertainty
 * window, as long as every clock kept within the max offset from the
 * writer's beginning to the reader's (an HLC pushed ahead by a jump stays
 * ahead until real time catches up: sim_clocks_good covers that). A
 * transaction begins at its first attempt: restarts keep the uncertainty
 * limit of the first (docs/txn.md, Reads, rule 6), so an append
 * acknowledged while it was restarting is concurrent with it.
 */
static void check_realtime(struct sim_client *c, const struct sim_mop *m)
{
	struct sim *s = c->sim;
	uint32_t k = m->key;

	for (uint64_t x = 1; x < s->app_cap[k] && !s->failed; x++) {
		uint32_t i;

		if (s->app_outcome[k][x] != SIM_APP_OK ||
		    s->app_ack[k][x] >= c->first ||
		    !sim_clocks_good(s, s->app_begin[k][x], c->first))
			continue;
		for (i = 0; i < m->n && m->v[i] != x; i++)
			;
		if (i == m->n)
			sim_fail(s, "real time: client %d began at %llu us "
				 "and read list %u without %llu, acknowledged "
				 "at %llu us",
				 c->idx, (unsigned long long)c->first, k,
				 (unsigned long long)x,
				 (unsigned long long)s->app_ack[k][x]);
	}
	s->ctr.realtime_checked++;
}

/* Records the attempt in the history (list-append only). */
static void record(struct sim_client *c, enum dkv_hist_outcome o)
{
	struct sim *s = c->sim;
	int rc;

	if (s->conf.trace)
		printf("  %8llu client %d ends: %s\n",
		       (unsigned long long)s->now, c->idx,
		       o == DKV_HIST_OK ? "OK" : o == DKV_HIST_FAIL ? "FAIL" : "INFO");
	if (c->kind != K_LIST)
		return;
	rc = dkv_hist_begin(s->hist, ++s->next_hist_id);
	for (int i = 0; rc == 0 && i < c->nmops; i++) {
		struct sim_mop *m = &c->mops[i];

		if (!m->is_read) {
			rc = dkv_hist_append(s->hist, m->key, m->value);
			note_outcome(c, m->key, m->value,
				     o == DKV_HIST_OK     ? SIM_APP_OK
				     : o == DKV_HIST_FAIL ? SIM_APP_FAIL
							  : SIM_APP_INFO);
		} else if (o == DKV_HIST_OK) {
			rc = dkv_hist_read(s->hist, m->key, m->v, m->n);
			s->ctr.list_reads++;
			check_realtime(c, m);
		}
	}
	if (rc == 0)
		rc = dkv_hist_end(s->hist, o);
	if (rc != 0)
		sim_fail(s, "history: %s", dkv_strerror(rc));
}

/* --- the logical transaction ------------------------------------------- */

static void run(struct sim_client *c);

static void finish(struct sim_client *c)
{
	struct sim *s = c->sim;

	/* The next logical transaction opens a new one (a restart would
	 * keep this one's age and uncertainty limit). */
	txn_close(c->tx);
	c->tx = NULL;
	mops_free(c);
	c->busy = 0;
	c->dead = 1;
	if (!s->stopping)
		sim_schedule(s, s->now + rng_range(&s->rng, 0, 3 * SIM_MS),
			     EV_CLIENT_STEP, (uint32_t)c->idx, 0, NULL);
}

/* Keeps what the read-stability check needs of a committed attempt. */
static void keep_stab(struct sim_client *c)
{
	struct sim *s = c->sim;
	struct sim_stab *t;

	if (s->nstab == s->capstab) {
		s->capstab = s->capstab ? s->capstab * 2 : 256;
		s->stab = realloc(s->stab, s->capstab * sizeof(*s->stab));
		if (s->stab == NULL)
			abort();
	}
	t = &s->stab[s->nstab++];
	t->ts = c->ts;
	t->tc = c->tc;
	t->nreads = c->nsreads;
	t->nranges = c->nsranges;
	t->reads = malloc(sizeof(*t->reads) * (c->nsreads + 1));
	t->ranges = malloc(sizeof(*t->ranges) * (c->nsranges + 1));
	if (t->reads == NULL || t->ranges == NULL)
		abort();
	memcpy(t->reads, c->sreads, sizeof(*t->reads) * c->nsreads);
	memcpy(t->ranges, c->sranges, sizeof(*t->ranges) * c->nsranges);
}

static void attempt_ok(struct sim_client *c)
{
	struct sim *s = c->sim;

	c->dead = 1;
	s->ctr.txn_ok++;
	keep_stab(c);
	if (c->kind == K_BANK_READ) {
		int64_t sum = 0;

		for (uint32_t i = 0; i < s->conf.accts; i++)
			sum += c->bal[i];
		s->ctr.bank_reads++;
		if (sum != s->bank_total)
			sim_fail(s, "bank: a read of every account sums to %lld, "
				 "not %lld (client %d)",
				 (long long)sum, (long long)s->bank_total,
				 c->idx);
	}
	record(c, DKV_HIST_OK);
	finish(c);
}

static void attempt_fail(struct sim_client *c)
{
	struct sim *s = c->sim;

	c->dead = 1;
	s->ctr.txn_fail++;
	record(c, DKV_HIST_FAIL);
	mops_free(c);
	if (s->stopping || c->attempt + 1 >= MAX_ATTEMPTS) {
		finish(c);
		return;
	}
	c->retry = 1;
	sim_schedule(s, s->now + rng_range(&s->rng, 0, 2 * SIM_MS),
		     EV_CLIENT_STEP, (uint32_t)c->idx, 0, NULL);
}

static void attempt_info(struct sim_client *c)
{
	c->dead = 1;
	c->sim->ctr.txn_info++;
	record(c, DKV_HIST_INFO);
	txn_close(c->tx);
	c->tx = NULL;
	finish(c);
}

static void attempt_start(struct sim_client *c)
{
	struct sim *s = c->sim;

	if (c->tx != NULL && txn_restart(c->tx) != 0) {
		txn_close(c->tx);
		c->tx = NULL;
	}
	if (c->tx == NULL && txn_open(c->coord, &c->tx) != 0) {
		sim_fail(s, "client %d: txn_open failed", c->idx);
		return;
	}
	c->dead = 0;
	c->retry = 0;
	c->step = 0;
	c->nsreads = 0;
	c->nsranges = 0;
	c->begin = s->now;
	if (s->conf.trace)
		printf("  %8llu client %d begins txid %016llx:%04llx ts %llu "
		       "(attempt %d)\n",
		       (unsigned long long)s->now, c->idx,
		       (unsigned long long)txn_tx_id(c->tx)->hi,
		       (unsigned long long)(txn_tx_id(c->tx)->lo & 0xffff),
		       (unsigned long long)txn_tx_ts(c->tx), c->attempt);
	c->outstanding = 0;
	mops_free(c);
	run(c);
}

static void new_txn(struct sim_client *c)
{
	struct sim *s = c->sim;
	uint64_t r = rng_below(&s->rng, 100);

	c->busy = 1;
	c->attempt = 0;
	c->first = s->now;
	if (r < 35) {
		c->kind = K_BANK_XFER;
		c->a = (uint32_t)rng_below(&s->rng, s->conf.accts);
		do
			c->b = (uint32_t)rng_below(&s->rng, s->conf.accts);
		while (c->b == c->a);
		c->amount = (int64_t)rng_range(&s->rng, 1, 20);
		/* Sometimes a sweep: all of a moves to b and a is deleted
		 * (an absent account holds 0). */
		c->sweep = rng_chance(&s->rng, 200000);
	} else if (r < 50) {
		c->kind = K_BANK_READ;
	} else {
		c->kind = K_LIST;
		c->nops = (int)rng_range(&s->rng, 1, 4);
		for (int i = 0; i < c->nops; i++) {
			uint64_t k = rng_below(&s->rng, 100);

			if (k < 50) {
				c->ops[i].kind = L_APPEND;
				c->ops[i].key = (uint32_t)rng_below(
					&s->rng, s->conf.lists);
			} else if (k < 70) {
				c->ops[i].kind = L_READ;
				c->ops[i].key = (uint32_t)rng_below(
					&s->rng, s->conf.lists);
			} else if (k < 80) {
				/* A blind write or delete: no read first. */
				c->ops[i].kind = L_BLIND;
				c->ops[i].key = (uint32_t)rng_below(
					&s->rng, s->conf.lists);
			} else if (k < 85) {
				/* Read a register, then write or delete it. */
				c->ops[i].kind = L_REG;
				c->ops[i].key = (uint32_t)rng_below(
					&s->rng, s->conf.lists);
			} else {
				c->ops[i].kind = L_RANGE;
				c->ops[i].key = (uint32_t)rng_below(
					&s->rng, s->conf.shards);
			}
		}
	}
	attempt_start(c);
}

void sim_client_step(struct sim_client *c)
{
	if (c->retry) {
		c->attempt++;
		attempt_start(c);
	} else if (!c->busy && !c->sim->stopping) {
		new_txn(c);
	}
}

/* --- steps ----------------------------------------------------------------- */

static void commit_cb(void *arg, int rc, uint64_t tc)
{
	struct sim_client *c = arg;

	c->tc = tc;
	if (rc == 0)
		attempt_ok(c);
	else if (rc == DKV_ERR_TX_RESTART)
		attempt_fail(c);
	else
		attempt_info(c);
}

static void commit(struct sim_client *c)
{
	struct sim *s = c->sim;
	int rc;

	c->ts = txn_tx_ts(c->tx);
	rc = txn_commit(c->tx, commit_cb, c);
	if (rc == 0) {
		c->tc = 0; /* read-only */
		attempt_ok(c);
	} else if (rc == TXN_PENDING) {
		if (s->faults && rng_chance(&s->rng, s->conf.abandon_ppm)) {
			/* The coordinator goes away after PREPARE_L/COMMIT1:
			 * the leader must go on alone. */
			s->ctr.coord_abandon++;
			attempt_info(c);
		}
	} else {
		attempt_fail(c);
	}
}

/* A value read for the current step; 0 to go on, -1 if the attempt died. */
static int on_value(struct sim_client *c, uint32_t i, int rc, const char *val,
		    size_t vlen)
{
	struct sim *s = c->sim;
	char key[32], *nl;
	struct sim_op *op;
	struct sim_mop *m;
	uint64_t *v, value;
	uint32_t n;

	if (rc != 0 && rc != DKV_ERR_NOT_FOUND) {
		attempt_fail(c);
		return -1;
	}
	if (rc != 0)
		vlen = 0;
	switch (c->kind) {
	case K_BANK_XFER:
		c->bal[c->step == 0 ? c->a : c->b] = decode_i64(val, vlen);
		c->step++;
		return 0;
	case K_BANK_READ:
		c->bal[i] = decode_i64(val, vlen);
		return 0;
	default:
		break;
	}
	op = &c->ops[c->step];
	if (op->kind == L_REG) {
		char w[8];

		/* The register read (a tombstone's epoch goes into the read
		 * set); then write or delete it. Not in the history. */
		encode_u64(w, (vlen == 8 ? txn_get_le64(val) : 0) + 1);
		snprintf(key, sizeof(key), "%u/r", op->key % s->conf.shards);
		rc = rng_chance(&s->rng, 400000)
			     ? txn_del(c->tx, key, strlen(key))
			     : txn_put(c->tx, key, strlen(key), w, 8);
		if (rc != 0) {
			attempt_fail(c);
			return -1;
		}
		c->step++;
		return 0;
	}
	v = decode_list(s, val, vlen, &n);
	if (c->nmops == SIM_MAX_MOPS)
		abort();
	m = &c->mops[c->nmops++];
	memset(m, 0, sizeof(*m));
	m->key = op->key;
	if (op->kind == L_READ) {
		m->is_read = 1;
		m->v = v;
		m->n = n;
		c->step++;
		return 0;
	}
	/* append: the list with one more value */
	value = ++s->next_value[op->key];
	m->value = value;
	nl = malloc(8 * ((size_t)n + 1));
	if (nl == NULL)
		abort();
	for (uint32_t j = 0; j < n; j++)
		encode_u64(nl + 8 * j, v[j]);
	encode_u64(nl + 8 * n, value);
	free(v);
	sim_list_key(key, sizeof(key), s, op->key);
	rc = txn_put(c->tx, key, strlen(key), nl, 8 * ((size_t)n + 1));
	free(nl);
	if (rc != 0) {
		attempt_fail(c);
		return -1;
	}
	c->step++;
	return 0;
}

static void note_read(struct sim_client *c, const char *key, size_t klen,
		      uint64_t epoch)
{
	struct sim_sread *r;

	if (c->nsreads == SIM_MAX_SREADS || klen >= sizeof(r->key))
		abort();
	r = &c->sreads[c->nsreads++];
	memcpy(r->key, key, klen);
	r->key[klen] = '\0';
	r->epoch = epoch;
}

static void get_cb(void *arg, int rc, const char *val, size_t vlen,
		   uint64_t epoch)
{
	struct sim_cbarg *a = arg;
	struct sim_client *c = a->c;

	if (c->dead)
		return;
	c->outstanding--;
	if (rc == 0 || rc == DKV_ERR_NOT_FOUND)
		note_read(c, a->key, strlen(a->key), epoch);
	if (on_value(c, a->i, rc, val, vlen) == 0)
		run(c);
}

static int range_page(struct sim_client *c, const char *start, size_t slen);

/*
 * One page of a range read of every list of a shard: the lists it
 * returns are filled into the reads made when the range began (a list
 * absent from every page was read as empty); the next page starts at the
 * reply's next, until the shard's range is read through.
 */
static void range_cb(void *arg, int rc, const struct txn_item *items,
		     uint32_t n, const char *next, size_t nlen)
{
	struct sim_client *c = arg;
	struct sim *s = c->sim;
	char key[32];

	if (c->dead)
		return;
	c->outstanding--;
	if (rc != 0) {
		attempt_fail(c);
		return;
	}
	s->ctr.range_reads++;
	for (uint32_t j = 0; j < n; j++)
		if (items[j].epoch != 0) /* 0: this transaction's own write */
			note_read(c, items[j].key.p, items[j].key.len,
				  items[j].epoch);
	for (uint32_t j = 0; j < n; j++)
		for (int i = c->range_first; i < c->nmops; i++) {
			struct sim_mop *m = &c->mops[i];

			sim_list_key(key, sizeof(key), s, m->key);
			if (items[j].key.len != strlen(key) ||
			    memcmp(items[j].key.p, key, strlen(key)) != 0)
				continue;
			free(m->v);
			m->v = decode_list(s, items[j].val.p, items[j].val.len,
					   &m->n);
		}
	if (nlen > 0) {
		if (range_page(c, next, nlen) != 0)
			attempt_fail(c);
		return;
	}
	c->step++;
	run(c);
}

static int range_page(struct sim_client *c, const char *start, size_t slen)
{
	char end[32];
	uint32_t shard = c->ops[c->step].key;

	snprintf(end, sizeof(end), "%u/m", shard);
	if (txn_range(c->tx, shard, start, slen, end, strlen(end),
		      c->range_limit, range_cb, c) != TXN_PENDING)
		return -1;
	c->outstanding++;
	return 0;
}

/* Starts a range read of every list of a shard, in pages. */
static int range_start(struct sim_client *c)
{
	struct sim *s = c->sim;
	uint32_t shard = c->ops[c->step].key;
	char start[32];

	c->range_first = c->nmops;
	for (uint32_t k = 0; k < s->conf.lists; k++) {
		struct sim_mop *m;

		if (k % s->conf.shards != shard)
			continue;
		if (c->nmops == SIM_MAX_MOPS)
			abort();
		m = &c->mops[c->nmops++];
		memset(m, 0, sizeof(*m));
		m->is_read = 1;
		m->key = k;
	}
	c->range_limit = (uint32_t)rng_below(&s->rng, 3); /* 0: no limit */
	snprintf(start, sizeof(start), "%u/l", shard);
	if (c->nsranges == SIM_MAX_SRANGES)
		abort();
	c->sranges[c->nsranges].shard = shard;
	snprintf(c->sranges[c->nsranges].start, 24, "%u/l", shard);
	snprintf(c->sranges[c->nsranges].end, 24, "%u/m", shard);
	c->nsranges++;
	return range_page(c, start, strlen(start));
}

/* Issues a get; 1 if it is pending, 0 if answered (on_value called). */
static int get(struct sim_client *c, uint32_t i, const char *key)
{
	struct txn_bytes out;
	int rc;

	c->args[i].c = c;
	c->args[i].i = i;
	snprintf(c->args[i].key, sizeof(c->args[i].key), "%s", key);
	rc = txn_get(c->tx, key, strlen(key), &out, get_cb, &c->args[i]);
	if (rc == TXN_PENDING) {
		c->outstanding++;
		return 1;
	}
	return on_value(c, i, rc, rc == 0 ? out.p : NULL, rc == 0 ? out.len : 0)
		       ? -1
		       : 0;
}

static void run_xfer(struct sim_client *c)
{
	struct sim *s = c->sim;
	char key[32], v[8];

	while (!c->dead && c->step < 2) {
		sim_acct_key(key, sizeof(key), s, c->step == 0 ? c->a : c->b);
		if (get(c, 0, key) != 0)
			return;
	}
	if (c->dead)
		return;
	sim_acct_key(key, sizeof(key), s, c->a);
	if (c->sweep) {
		c->amount = c->bal[c->a];
		if (txn_del(c->tx, key, strlen(key)) != 0)
			goto fail;
	} else {
		encode_u64(v, (uint64_t)(c->bal[c->a] - c->amount));
		if (txn_put(c->tx, key, strlen(key), v, 8) != 0)
			goto fail;
	}
	encode_u64(v, (uint64_t)(c->bal[c->b] + c->amount));
	sim_acct_key(key, sizeof(key), s, c->b);
	if (txn_put(c->tx, key, strlen(key), v, 8) != 0)
		goto fail;
	commit(c);
	return;
fail:
	attempt_fail(c);
}

static void run_read_all(struct sim_client *c)
{
	struct sim *s = c->sim;
	char key[32];

	if (c->step == 0) {
		c->step = 1;
		for (uint32_t i = 0; i < s->conf.accts && !c->dead; i++) {
			sim_acct_key(key, sizeof(key), s, i);
			if (get(c, i, key) < 0)
				return;
		}
	}
	if (!c->dead && c->outstanding == 0)
		commit(c);
}

static void run_list(struct sim_client *c)
{
	struct sim *s = c->sim;
	char key[32];
	int rc;

	while (!c->dead && c->step < c->nops) {
		struct sim_op *op = &c->ops[c->step];

		if (op->kind == L_RANGE) {
			if (range_start(c) != 0)
				attempt_fail(c);
			return;
		}
		if (op->kind == L_BLIND) {
			char v[8];

			encode_u64(v, rng_next(&s->rng));
			snprintf(key, sizeof(key), "%u/r",
				 op->key % s->conf.shards);
			rc = rng_chance(&s->rng, 300000)
				     ? txn_del(c->tx, key, strlen(key))
				     : txn_put(c->tx, key, strlen(key), v, 8);
			if (rc != 0) {
				attempt_fail(c);
				return;
			}
			c->step++;
			continue;
		}
		if (op->kind == L_REG)
			snprintf(key, sizeof(key), "%u/r",
				 op->key % s->conf.shards);
		else
			sim_list_key(key, sizeof(key), s, op->key);
		if (get(c, 0, key) != 0)
			return;
	}
	if (!c->dead)
		commit(c);
}

static void run(struct sim_client *c)
{
	struct sim *s = c->sim;

	if (c->dead || c->outstanding > 0)
		return;
	if (c->step > 0 && s->faults &&
	    rng_chance(&s->rng, s->conf.abandon_ppm / 4)) {
		/* The coordinator goes away before the commit: nothing of
		 * it was sent but reads. */
		s->ctr.coord_abandon_early++;
		c->dead = 1;
		s->ctr.txn_fail++;
		record(c, DKV_HIST_FAIL);
		txn_close(c->tx);
		c->tx = NULL;
		finish(c);
		return;
	}
	switch (c->kind) {
	case K_BANK_XFER:
		run_xfer(c);
		break;
	case K_BANK_READ:
		run_read_all(c);
		break;
	default:
		run_list(c);
		break;
	}
}
