/*
 * workload.c - what each workload of bench/workloads.md sends, and how its
 * replies are read.
 *
 * An operation is one or more steps; a step is a group of commands written
 * at once whose replies arrive in order. The operation at the head of the
 * client's FIFO owns the next reply:
 *
 *   read, update, scan, load   one step, one command (pipelinable)
 *   rmw                        GET -> SET of the same record
 *   transfer                   [UNWATCH] WATCH a b, MGET a b
 *                                 -> MULTI, SET a, SET b, EXEC
 *                                 -> null EXEC: abort, again from WATCH
 *
 * An error reply marks the step failed; when the step's last reply is in,
 * the operation ends as an error (counted, not timed) and the client goes
 * on. A reply of the wrong shape, or a missing record, is fatal.
 */
#include <stdio.h>
#include <string.h>

#include "lg.h"

enum { STEP_FIRST = 0, STEP_SECOND = 1 };

static struct lg_pending *head(struct lg_client *c)
{
	return &c->q[c->q_head];
}

static struct lg_pending *push(struct lg_client *c, enum lg_op op,
			       unsigned expect)
{
	struct lg_pending *p =
		&c->q[(c->q_head + c->q_len) % LG_MAX_PIPELINE];

	memset(p, 0, sizeof(*p));
	p->op = op;
	p->expect = expect;
	p->t0 = lg_now_ns();
	if (c->q_len == 0)
		c->last_progress_ns = p->t0;
	c->q_len++;
	return p;
}

static void pop(struct lg_client *c)
{
	c->q_head = (c->q_head + 1) % LG_MAX_PIPELINE;
	c->q_len--;
}

static int send_cmd(struct lg_client *c, size_t argc, const char **argv,
		    const size_t *argvlen)
{
	if (resp_put_command(&c->out, argc, argv, argvlen) != 0) {
		lg_fatal(c->run, "client %u: out of memory", c->id);
		return -1;
	}
	return 0;
}

static uint64_t pick(struct lg_client *c, uint64_t n, const struct lg_zipf *z)
{
	return c->run->conf->zipfian ? lg_zipf_next(z, &c->rng)
				     : lg_rng_below(&c->rng, n);
}

static int send_get(struct lg_client *c, uint64_t rec)
{
	char k[40];
	const char *argv[2] = { "GET", k };
	size_t len[2] = { 3, lg_record_key(k, rec) };

	return send_cmd(c, 2, argv, len);
}

static int send_set(struct lg_client *c, const char *k, size_t klen,
		    const char *v, size_t vlen)
{
	const char *argv[3] = { "SET", k, v };
	size_t len[3] = { 3, klen, vlen };

	return send_cmd(c, 3, argv, len);
}

static int send_update(struct lg_client *c, uint64_t rec)
{
	const struct lg_conf *cf = c->run->conf;
	char k[40];
	size_t klen = lg_record_key(k, rec);

	/* A new value: one byte changes per update. */
	if (cf->value_size > 0)
		c->value[lg_rng_below(&c->rng, cf->value_size)] =
			(char)('a' + lg_rng_below(&c->rng, 26));
	return send_set(c, k, klen, c->value, cf->value_size);
}

static int send_scan(struct lg_client *c, uint64_t rec)
{
	char from[40], to[40], lim[24];
	unsigned n = 1 + (unsigned)lg_rng_below(&c->rng,
						c->run->conf->scan_max);
	const char *argv[5] = { "DKV.RANGE", from, to, "LIMIT", lim };
	size_t len[5] = { 9, lg_record_key(from, rec), lg_group_end(to, rec),
			  5, (size_t)sprintf(lim, "%u", n) };

	return send_cmd(c, 5, argv, len);
}

/* Transfer, first step: read both balances under WATCH. */
static int send_transfer_reads(struct lg_client *c, struct lg_pending *p)
{
	int redis = c->run->conf->system == LG_REDIS;
	char a[32], b[32];
	size_t alen = lg_account_key(a, p->ka, redis);
	size_t blen = lg_account_key(b, p->kb, redis);
	const char *w[3] = { "WATCH", a, b }, *m[3] = { "MGET", a, b };
	const char *u[1] = { "UNWATCH" };
	size_t wl[3] = { 5, alen, blen }, ml[3] = { 4, alen, blen },
	       ul[1] = { 7 };

	p->step = STEP_FIRST;
	p->got = 0;
	p->failed = 0;
	p->expect = 2;
	if (c->need_unwatch) {
		if (send_cmd(c, 1, u, ul) != 0)
			return -1;
		p->expect = 3;
		c->need_unwatch = 0;
	}
	if (send_cmd(c, 3, w, wl) != 0)
		return -1;
	return send_cmd(c, 3, m, ml);
}

/* Transfer, second step: write both under MULTI/EXEC. */
static int send_transfer_writes(struct lg_client *c, struct lg_pending *p)
{
	int redis = c->run->conf->system == LG_REDIS;
	char a[32], b[32], va[24], vb[24];
	const char *mu[1] = { "MULTI" }, *ex[1] = { "EXEC" };
	size_t mul[1] = { 5 }, exl[1] = { 4 };
	size_t alen = lg_account_key(a, p->ka, redis);
	size_t blen = lg_account_key(b, p->kb, redis);
	size_t valen = (size_t)sprintf(va, "%lld", (long long)(p->a - p->amount));
	size_t vblen = (size_t)sprintf(vb, "%lld", (long long)(p->b + p->amount));

	p->step = STEP_SECOND;
	p->got = 0;
	p->failed = 0;
	p->expect = 4;
	if (send_cmd(c, 1, mu, mul) != 0 ||
	    send_set(c, a, alen, va, valen) != 0 ||
	    send_set(c, b, blen, vb, vblen) != 0)
		return -1;
	return send_cmd(c, 1, ex, exl);
}

/* Starts one operation of the run's mix. */
static int start_op(struct lg_client *c)
{
	const struct lg_conf *cf = c->run->conf;
	uint64_t roll = lg_rng_below(&c->rng, 100);
	struct lg_pending *p;
	uint64_t rec;

	switch (cf->workload) {
	case LG_W_T:
		p = push(c, LG_OP_TRANSFER, 2);
		p->ka = pick(c, cf->accounts, &cf->zipf_accounts);
		do
			p->kb = pick(c, cf->accounts, &cf->zipf_accounts);
		while (p->kb == p->ka);
		p->amount = 1 + (int64_t)lg_rng_below(&c->rng, 10);
		p->attempts = 1;
		return send_transfer_reads(c, p);
	case LG_W_E:
		rec = pick(c, cf->keys, &cf->zipf_keys);
		if (roll < 95) {
			push(c, LG_OP_SCAN, 1);
			return send_scan(c, rec);
		}
		push(c, LG_OP_UPDATE, 1);
		return send_update(c, rec);
	case LG_W_F:
		rec = pick(c, cf->keys, &cf->zipf_keys);
		p = push(c, roll < 50 ? LG_OP_READ : LG_OP_RMW, 1);
		p->ka = rec;
		return send_get(c, rec);
	default: /* A, B, C */
		rec = pick(c, cf->keys, &cf->zipf_keys);
		if (roll < (cf->workload == LG_W_A   ? 50u
			    : cf->workload == LG_W_B ? 95u
						     : 100u)) {
			p = push(c, LG_OP_READ, 1);
			p->ka = rec;
			return send_get(c, rec);
		}
		push(c, LG_OP_UPDATE, 1);
		return send_update(c, rec);
	}
}

static int start_load(struct lg_client *c)
{
	const struct lg_conf *cf = c->run->conf;
	char k[40];
	size_t klen;

	push(c, LG_OP_LOAD, 1);
	if (cf->workload == LG_W_LOAD_T) {
		klen = lg_account_key(k, c->next_load, cf->system == LG_REDIS);
		c->next_load += cf->clients;
		return send_set(c, k, klen, "1000", 4);
	}
	klen = lg_record_key(k, c->next_load);
	c->next_load += cf->clients;
	return send_set(c, k, klen, c->value, cf->value_size);
}

int lg_work_issue(struct lg_client *c)
{
	const struct lg_conf *cf = c->run->conf;
	int load = cf->workload == LG_W_LOAD || cf->workload == LG_W_LOAD_T;
	unsigned depth = 1;

	if (load)
		depth = cf->pipeline > 64 ? cf->pipeline : 64;
	else if (cf->workload != LG_W_F && cf->workload != LG_W_T)
		depth = cf->pipeline;
	if (depth > LG_MAX_PIPELINE)
		depth = LG_MAX_PIPELINE;
	while (!c->done && c->q_len < depth) {
		if (atomic_load(&c->run->fatal)) {
			c->done = 1;
			break;
		}
		if (load) {
			uint64_t bound = cf->workload == LG_W_LOAD_T
						 ? cf->accounts
						 : cf->keys;

			if (c->next_load >= bound) {
				c->done = 1;
				break;
			}
			if (start_load(c) != 0)
				return -1;
			continue;
		}
		if (lg_now_ns() >= c->run->deadline_ns ||
		    atomic_fetch_add(&c->run->issued, 1) >= cf->max_ops) {
			c->done = 1;
			break;
		}
		if (start_op(c) != 0)
			return -1;
	}
	return 0;
}

static void finish(struct lg_client *c, struct lg_pending *p)
{
	uint64_t now = lg_now_ns();

	if (p->failed) {
		c->errors++;
	} else {
		lg_hist_add(&c->hist[p->op], now - p->t0);
		c->ops++;
		c->last_done_ns = now;
	}
	pop(c);
}

static int bad_shape(struct lg_client *c, const char *what,
		     const struct resp_reply *r)
{
	lg_fatal(c->run, "client %u: %s: unexpected %s reply%s%.*s", c->id,
		 what, resp_type_name(r->type), r->str ? ": " : "",
		 r->str ? (int)(r->len > 120 ? 120 : r->len) : 0,
		 r->str ? r->str : "");
	return -1;
}

static int read_balance(struct lg_client *c, const struct resp_reply *r,
			int64_t *out)
{
	if (r->type == RESP_NIL) {
		lg_fatal(c->run, "client %u: an account is missing (load-T "
			 "first)", c->id);
		return -1;
	}
	if (r->type != RESP_BULK || resp_parse_i64(r->str, r->len, out) != 0)
		return bad_shape(c, "MGET balance", r);
	return 0;
}

/* The reply to a GET of a record. */
static int check_value(struct lg_client *c, const struct lg_pending *p,
		       const struct resp_reply *r)
{
	char k[40];

	if (r->type == RESP_BULK)
		return 0;
	if (r->type == RESP_NIL) {
		lg_record_key(k, p->ka);
		lg_fatal(c->run, "client %u: record %s is missing (load "
			 "first, with at least --keys records)", c->id, k);
		return -1;
	}
	return bad_shape(c, "GET", r);
}

static int transfer_reply(struct lg_client *c, struct lg_pending *p,
			  const struct resp_reply *r)
{
	unsigned idx = p->got - 1;

	if (p->step == STEP_FIRST) {
		if (idx + 1 < p->expect) /* [UNWATCH] WATCH: +OK */
			return r->type == RESP_STRING ? 0
						      : bad_shape(c, "WATCH", r);
		if (r->type != RESP_ARRAY || r->n != 2)
			return bad_shape(c, "MGET", r);
		if (read_balance(c, &r->elems[0], &p->a) != 0 ||
		    read_balance(c, &r->elems[1], &p->b) != 0)
			return -1;
		return 0;
	}
	if (idx < 3) /* MULTI +OK, SET +QUEUED */
		return r->type == RESP_STRING ? 0 : bad_shape(c, "MULTI", r);
	if (r->type == RESP_ARRAY)
		return 0; /* committed */
	if (r->type == RESP_NIL_ARRAY || r->type == RESP_NULL) {
		p->step = -1; /* aborted: a watched key changed */
		return 0;
	}
	return bad_shape(c, "EXEC", r);
}

/* The last reply of a transfer's step is in. */
static int transfer_step_done(struct lg_client *c, struct lg_pending *p)
{
	if (p->failed) {
		c->need_unwatch = 1;
		finish(c, p);
		return 0;
	}
	if (p->step == STEP_FIRST)
		return send_transfer_writes(c, p);
	if (p->step == STEP_SECOND) {
		finish(c, p);
		return 0;
	}
	c->aborts++;
	if (p->attempts >= 100) {
		c->gave_up++; /* neither an operation nor an error */
		pop(c);
		return 0;
	}
	p->attempts++;
	return send_transfer_reads(c, p);
}

int lg_work_reply(struct lg_client *c, const struct resp_reply *r)
{
	struct lg_pending *p;
	int rc = 0;

	if (c->q_len == 0) {
		lg_fatal(c->run, "client %u: a reply nobody asked for (%s)",
			 c->id, resp_type_name(r->type));
		return -1;
	}
	p = head(c);
	p->got++;
	c->last_progress_ns = lg_now_ns();
	if (r->type == RESP_ERROR) {
		p->failed = 1;
	} else if (!p->failed) {
		switch (p->op) {
		case LG_OP_READ:
			rc = check_value(c, p, r);
			break;
		case LG_OP_RMW:
			if (p->step == STEP_FIRST)
				rc = check_value(c, p, r);
			else if (r->type != RESP_STRING)
				rc = bad_shape(c, "SET", r);
			break;
		case LG_OP_UPDATE:
		case LG_OP_LOAD:
			if (r->type != RESP_STRING)
				rc = bad_shape(c, "SET", r);
			break;
		case LG_OP_SCAN:
			if (r->type != RESP_ARRAY || r->n != 2 ||
			    r->elems[1].type != RESP_ARRAY)
				rc = bad_shape(c, "DKV.RANGE", r);
			break;
		case LG_OP_TRANSFER:
			rc = transfer_reply(c, p, r);
			break;
		default:
			break;
		}
	}
	if (rc != 0 || p->got < p->expect)
		return rc;
	/* The step is complete. */
	if (p->op == LG_OP_TRANSFER)
		return transfer_step_done(c, p);
	if (p->op == LG_OP_RMW && p->step == STEP_FIRST && !p->failed) {
		p->step = STEP_SECOND;
		p->got = 0;
		p->expect = 1;
		return send_update(c, p->ka);
	}
	finish(c, p);
	return 0;
}
