/*
 * follower.c - a follower of a two-phase commit (docs/txn.md, "Commit").
 *
 * Happy path: PREPARE -> validate the follower's part -> one durable batch
 * of the "F" log (PREPARED) and the intents -> PREPARED(proposed) to the
 * leader; COMMIT(tc) -> merge tc -> one durable batch of the versions at
 * tc, the intents and log removed, a "D" tombstone -> ACK.
 * Failure modes:
 *  - validation refused, waiting too long, too many waiters, a clock
 *    beyond the max offset (ts, sent or the leader's proposal): REFUSED
 *    (nothing durable; a tombstone in memory refuses a duplicate);
 *  - duplicate PREPARE: PREPARED again if prepared, REFUSED if aborted,
 *    else dropped (the first answers);
 *  - late PREPARE after the ABORT: refused by the tombstone; if that is
 *    gone (restart), it prepares, asks, and learns ABORTED;
 *  - PREPARE older than half the horizon: REFUSED;
 *  - ABORT before the prepare is durable: applied right after it;
 *  - COMMIT whose tc is beyond the max offset: not applied yet (the
 *    leader resends; the intents keep blocking until it can be merged);
 *  - no outcome within status_after (lost COMMIT/ABORT, leader down, or
 *    after a restart): STATUS to the leader with backoff, abort if
 *    unknown; its answer is applied like COMMIT or ABORT. A follower
 *    never aborts on its own once prepared;
 *  - COMMIT after ABORT or the reverse: a protocol violation, logged and
 *    counted, never applied.
 */
#include <string.h>

#include "common/log.h"
#include "dkv_err.h"
#include "hlc/hlc.h"
#include "txn/part_int.h"

static void send_simple(struct txn_part *p, struct ptx *x,
			enum txn_msg_type type, uint64_t to_shard)
{
	struct txn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.to.kind = TXN_ADDR_SHARD;
	m.to.id = to_shard;
	switch (type) {
	case TXN_MSG_PREPARED:
		m.u.prepared.txid = x->id;
		m.u.prepared.proposed = x->proposed;
		break;
	case TXN_MSG_REFUSED:
		m.u.refused.txid = x->id;
		m.u.refused.reason = x->reason;
		break;
	case TXN_MSG_ACK:
		m.u.ack.txid = x->id;
		break;
	default:
		return;
	}
	part_send(p, &m);
}

static void ack_unknown(struct txn_part *p, const struct txn_msg *msg)
{
	struct txn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_ACK;
	m.to = msg->from;
	m.u.ack.txid = *txn_msg_txid(msg);
	part_send(p, &m);
}

static void violation(struct txn_part *p, struct ptx *x, const char *what)
{
	p->stats.violations++;
	DKV_ERROR("txn", "shard %u: txn " DKV_TXID_FMT ": %s in state %s",
		  p->conf.shard, DKV_TXID_ARG(x->id), what,
		  dkv_sm_name(&x->sm));
}

void follower_prepare(struct txn_part *p, const struct txn_msg *msg)
{
	const struct txn_msg_prepare *m = &msg->u.prepare;
	struct ptx *x = ptx_find(p, &m->txid);

	if (msg->from.kind != TXN_ADDR_SHARD || msg->from.id != m->leader ||
	    m->ts == 0 || !part_items_ok(p, &m->writes, &m->reads, &m->ranges)) {
		p->stats.bad_msg++;
		return;
	}
	if (x != NULL) {
		if (ptx_state(x) == PTX_PREPARED) {
			p->stats.dup_prepare++;
			send_simple(p, x, TXN_MSG_PREPARED, m->leader);
		} else if (x->outcome == TXN_ST_ABORTED && x->final) {
			p->stats.late_prepare_refused++;
			x->reason = TXN_R_ABORTED;
			send_simple(p, x, TXN_MSG_REFUSED, m->leader);
		}
		return;
	}
	x = ptx_new(p, &m->txid, PTX_FOLLOWER, PTX_VALIDATING);
	if (x == NULL)
		return;
	x->ts = m->ts;
	x->sent = m->sent;
	x->leader = m->leader;
	if (part_too_old(p, m->sent)) {
		p->stats.too_old++;
		x->reason = TXN_R_TOO_OLD;
		follower_on_refuse(p, x);
		return;
	}
	if (ptx_copy_items(x, p->conf.shard, &m->writes, &m->reads,
			   &m->ranges, &x->w, &x->r, &x->g) != 0) {
		ptx_free(p, x);
		return;
	}
	if (part_merge(p, m->ts) != 0 || part_merge(p, m->sent) != 0 ||
	    part_merge(p, m->proposed) != 0) {
		x->reason = TXN_R_CLOCK;
		follower_on_refuse(p, x);
		return;
	}
	ptx_run_validation(p, x);
}

void follower_on_valid(struct txn_part *p, struct ptx *x)
{
	unsigned why = ptx_propose(p, x);
	int rc;

	if (why != TXN_R_NONE) {
		x->reason = (uint8_t)why;
		follower_on_refuse(p, x);
		return;
	}
	rc = ptx_log_record(p, x, &x->batch, TXN_REC_FOLLOW,
			    TXN_REC_PREPARED);
	if (rc == 0)
		rc = ptx_intent_records(p, x, &x->batch, 1);
	ptx_move(x, PTX_PREPARING_W);
	if (rc != 0) {
		part_fail(p, "building a durable write", rc);
		return;
	}
	ptx_submit(p, x);
}

/* Refused while validating: nothing durable; an in-memory tombstone
 * answers a duplicate PREPARE until the horizon. */
void follower_on_refuse(struct txn_part *p, struct ptx *x)
{
	p->stats.refused++;
	part_restart_count(p, x->reason);
	send_simple(p, x, TXN_MSG_REFUSED, x->leader);
	x->outcome = TXN_ST_ABORTED;
	x->final = 1;
	ptx_move(x, PTX_DONE);
	ptx_shrink(x);
}

static void do_commit(struct txn_part *p, struct ptx *x, uint64_t tc)
{
	int rc;

	/* Every later write here must land above tc. */
	if (part_merge(p, tc) != 0)
		return;
	x->tc = tc;
	x->outcome = TXN_ST_COMMITTED;
	x->final = 1;
	x->has_d = 1;
	rc = ptx_versions(x, &x->batch, tc);
	if (rc == 0)
		rc = ptx_intent_records(p, x, &x->batch, 0);
	if (rc == 0)
		rc = ptx_log_delete(x, &x->batch, TXN_REC_FOLLOW);
	if (rc == 0)
		rc = ptx_done_record(x, &x->batch);
	ptx_move(x, PTX_COMMITTING_W);
	if (rc != 0) {
		part_fail(p, "building a durable write", rc);
		return;
	}
	ptx_submit(p, x);
	part_wake(p, x); /* readers: the outcome is known */
}

static void do_abort(struct txn_part *p, struct ptx *x)
{
	int rc;

	x->outcome = TXN_ST_ABORTED;
	x->final = 1;
	x->has_d = 1;
	rc = ptx_intent_records(p, x, &x->batch, 0);
	if (rc == 0)
		rc = ptx_log_delete(x, &x->batch, TXN_REC_FOLLOW);
	if (rc == 0)
		rc = ptx_done_record(x, &x->batch);
	ptx_move(x, PTX_ABORTING_W);
	if (rc != 0) {
		part_fail(p, "building a durable write", rc);
		return;
	}
	ptx_submit(p, x);
	part_wake(p, x);
}

void follower_done(struct txn_part *p, struct ptx *x)
{
	uint64_t now = part_now(p);

	switch (ptx_state(x)) {
	case PTX_PREPARING_W:
		x->has_log = 1;
		ptx_move(x, PTX_PREPARED);
		p->stats.prepared++;
		send_simple(p, x, TXN_MSG_PREPARED, x->leader);
		x->backoff = p->conf.resend_min_ms;
		x->next_send = now + p->conf.status_after_ms;
		if (x->abort_pending)
			do_abort(p, x);
		break;
	case PTX_COMMITTING_W:
	case PTX_ABORTING_W:
		x->has_log = 0;
		ptx_move(x, PTX_DONE);
		ptx_release(p, x);
		send_simple(p, x, TXN_MSG_ACK, x->leader);
		ptx_shrink(x);
		break;
	default:
		violation(p, x, "durable write done");
		break;
	}
}

void follower_commit(struct txn_part *p, const struct txn_msg *msg)
{
	struct ptx *x = ptx_find(p, &msg->u.commit.txid);

	if (x == NULL) {
		/* Applied long ago (the tombstone is gone). */
		ack_unknown(p, msg);
		return;
	}
	if (x->outcome == TXN_ST_ABORTED && x->final) {
		violation(p, x, "COMMIT after ABORT");
		return;
	}
	switch (ptx_state(x)) {
	case PTX_PREPARED:
		do_commit(p, x, msg->u.commit.tc);
		break;
	case PTX_DONE:
		ack_unknown(p, msg);
		break;
	default:
		break; /* answered when the write in flight completes */
	}
}

void follower_abort(struct txn_part *p, const struct txn_msg *msg)
{
	const struct dkv_txid *id = &msg->u.abort.txid;
	struct ptx *x = ptx_find(p, id);

	if (x == NULL) {
		/* Remember it (in memory) so a late PREPARE is refused. */
		x = ptx_new(p, id, PTX_FOLLOWER, PTX_DONE);
		if (x != NULL) {
			x->outcome = TXN_ST_ABORTED;
			x->final = 1;
			x->sent = dkv_hlc_last(p->io.hlc);
		}
		ack_unknown(p, msg);
		return;
	}
	if (x->outcome == TXN_ST_COMMITTED && x->final) {
		violation(p, x, "ABORT after COMMIT");
		return;
	}
	switch (ptx_state(x)) {
	case PTX_VALIDATING:
		if (x->wait != NULL)
			part_unpark(p, x->wait);
		x->outcome = TXN_ST_ABORTED;
		x->final = 1;
		ptx_move(x, PTX_DONE);
		ptx_shrink(x);
		ack_unknown(p, msg);
		break;
	case PTX_PREPARING_W:
		x->abort_pending = 1;
		break;
	case PTX_PREPARED:
		do_abort(p, x);
		break;
	case PTX_DONE:
		ack_unknown(p, msg);
		break;
	default:
		break;
	}
}

void follower_status_reply(struct txn_part *p, const struct txn_msg *msg)
{
	const struct txn_msg_status_reply *m = &msg->u.status_reply;
	struct ptx *x = ptx_find(p, &m->txid);

	if (x == NULL || x->role != PTX_FOLLOWER)
		return;
	if (ptx_state(x) == PTX_PREPARING_W && m->state == TXN_ST_ABORTED) {
		x->abort_pending = 1;
		return;
	}
	if (ptx_state(x) != PTX_PREPARED)
		return;
	switch (m->state) {
	case TXN_ST_COMMITTED:
		if (m->tc == 0) {
			p->stats.bad_msg++;
			break;
		}
		p->stats.resolved_by_status++;
		do_commit(p, x, m->tc);
		break;
	case TXN_ST_ABORTED:
		p->stats.resolved_by_status++;
		do_abort(p, x);
		break;
	default:
		break; /* PREPARING: ask again later */
	}
}

void follower_ask(struct txn_part *p, struct ptx *x)
{
	uint64_t now = part_now(p);
	struct txn_msg m;

	if (x->last_status != 0 && now < x->last_status + p->conf.resend_min_ms)
		return;
	x->last_status = now;
	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_STATUS;
	m.to.kind = TXN_ADDR_SHARD;
	m.to.id = x->leader;
	m.u.status.txid = x->id;
	m.u.status.sent = x->sent;
	/* Safe: the leader's record exists before any follower prepares and
	 * lives until every follower acknowledged, so "unknown" is only ever
	 * "never committed". */
	m.u.status.abort_if_unknown = 1;
	p->stats.status_sent++;
	part_send(p, &m);
}

void follower_tick(struct txn_part *p, struct ptx *x, uint64_t now)
{
	if (x->role != PTX_FOLLOWER || now < x->next_send)
		return;
	follower_ask(p, x);
	x->next_send = now + x->backoff;
	x->backoff *= 2;
	if (x->backoff > p->conf.resend_max_ms)
		x->backoff = p->conf.resend_max_ms;
}
