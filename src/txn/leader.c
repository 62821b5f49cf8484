/*
 * leader.c - COMMIT1 and the leader of a two-phase commit (docs/txn.md,
 * "Commit"), and the STATUS answers every shard gives.
 *
 * COMMIT1, happy path: validate; tc = HLC now; one durable batch of the
 * versions at tc and a "D" tombstone (committed); then OUTCOME(COMMITTED).
 * PREPARE_L, happy path: validate the leader's own part; one durable batch
 * of the "T" record (PREPARING) and the intents, and at the same time
 * PREPARE to every follower; once the record is durable and every
 * follower PREPARED, tc = max of the proposals, one durable batch of "T"
 * COMMITTED with the leader's versions (the commit point);
 * OUTCOME(COMMITTED) to the coordinator and COMMIT to the followers; on
 * every ACK, "T" is replaced by a "D" tombstone (FINISHED).
 * Failure modes:
 *  - duplicate COMMIT1 / PREPARE_L (any state): never a second start;
 *    answered from the tombstone once the outcome is durable, else
 *    dropped (the first copy answers);
 *  - request older than half the horizon without a record: dropped (its
 *    tombstone may be gone; the coordinator gave up long ago or asks
 *    STATUS);
 *  - ts or sent beyond the max clock offset, validation refused, waiting
 *    too long, too many waiters: a "D" (aborted) is made durable first,
 *    then OUTCOME(RESTART): a late duplicate finds the tombstone;
 *  - REFUSED from a follower, a follower's proposal beyond the clock
 *    offset, or no PREPARED from all within the prepare timeout: ABORTED
 *    (once the leader's own record is durable, if it was still being
 *    written: abort_on_log)
 *    (T removed, D aborted, intents removed, in one batch), then
 *    OUTCOME(RESTART) and ABORT to every follower, resent until ACK (or
 *    the horizon: followers that missed it ask STATUS);
 *  - PREPARED after the abort: answered ABORT; for an unknown txid (a
 *    late duplicate after the record was collected): dropped;
 *  - lost COMMIT or ACK: COMMIT resent with backoff until every ACK;
 *  - STATUS for an unknown txid with abort_if_unknown: a "D" (aborted)
 *    is made durable, then ABORTED is answered (presumed abort; the late
 *    PREPARE_L will find the tombstone); when its sent is older than H/2,
 *    nothing is recorded: ABORTED to a shard (a prepared follower: its
 *    leader's record would still be here had it committed), UNKNOWN to a
 *    coordinator (stale: its deadline is below H/2);
 *  - the HLC cannot issue (its bound could not be persisted): RESTART(io).
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dkv_err.h"
#include "hlc/hlc.h"
#include "txn/part_int.h"

static struct pfol *fol_of(struct ptx *x, uint64_t shard)
{
	for (uint32_t i = 0; i < x->nf; i++)
		if (x->fols[i].shard == shard)
			return &x->fols[i];
	return NULL;
}

static void backoff_start(struct txn_part *p, struct ptx *x, uint64_t now)
{
	x->backoff = p->conf.resend_min_ms;
	x->next_send = now + x->backoff;
}

static void backoff_next(struct txn_part *p, struct ptx *x, uint64_t now)
{
	x->backoff *= 2;
	if (x->backoff > p->conf.resend_max_ms)
		x->backoff = p->conf.resend_max_ms;
	x->next_send = now + x->backoff;
}

/* Answers a duplicate from a durable outcome; 1 if answered. */
static int answer_dup(struct txn_part *p, struct ptx *x,
		      const struct txn_addr *to)
{
	struct txn_addr coord = x->coord;

	if (ptx_state(x) != PTX_DONE && ptx_state(x) != PTX_COMMITTED &&
	    ptx_state(x) != PTX_FINISHING_W && ptx_state(x) != PTX_ABORTED)
		return 0;
	x->coord = *to;
	part_reply_outcome(p, x);
	x->coord = coord;
	return 1;
}

static void send_prepare(struct txn_part *p, struct ptx *x, struct pfol *f)
{
	struct txn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_PREPARE;
	m.to.kind = TXN_ADDR_SHARD;
	m.to.id = f->shard;
	m.u.prepare.txid = x->id;
	m.u.prepare.ts = x->ts;
	m.u.prepare.sent = x->sent;
	m.u.prepare.leader = p->conf.shard;
	m.u.prepare.proposed = x->proposed;
	m.u.prepare.writes = f->w;
	m.u.prepare.reads = f->r;
	m.u.prepare.ranges = f->g;
	part_send(p, &m);
}

void leader_send_outcome(struct txn_part *p, struct ptx *x)
{
	struct txn_msg m;

	for (uint32_t i = 0; i < x->nf; i++) {
		if (x->fols[i].acked)
			continue;
		memset(&m, 0, sizeof(m));
		m.to.kind = TXN_ADDR_SHARD;
		m.to.id = x->fols[i].shard;
		if (x->outcome == TXN_ST_COMMITTED) {
			m.type = TXN_MSG_COMMIT;
			m.u.commit.txid = x->id;
			m.u.commit.tc = x->tc;
		} else {
			m.type = TXN_MSG_ABORT;
			m.u.abort.txid = x->id;
		}
		part_send(p, &m);
	}
}

static void send_abort_to(struct txn_part *p, const struct dkv_txid *id,
			  uint64_t shard)
{
	struct txn_msg m;

	memset(&m, 0, sizeof(m));
	m.type = TXN_MSG_ABORT;
	m.to.kind = TXN_ADDR_SHARD;
	m.to.id = shard;
	m.u.abort.txid = *id;
	part_send(p, &m);
}

/* --- COMMIT1 and PREPARE_L ------------------------------------------------ */

/* A single-key command: one written key, read (if at all) itself. */
static int single_key(const struct ptx *x)
{
	if (x->w.n != 1 || x->g.n != 0)
		return 0;
	for (uint32_t i = 0; i < x->r.n; i++)
		if (txn_key_cmp(x->r.v[i].key.p, x->r.v[i].key.len,
				x->w.v[0].key.p, x->w.v[0].key.len) != 0)
			return 0;
	return 1;
}

void leader_commit1(struct txn_part *p, const struct txn_msg *msg)
{
	const struct txn_msg_commit1 *m = &msg->u.commit1;
	struct ptx *x = ptx_find(p, &m->txid);

	if (x != NULL) {
		p->stats.dup_commit1++;
		answer_dup(p, x, &msg->from);
		return;
	}
	if (m->ts == 0 || !part_items_ok(p, &m->writes, &m->reads, &m->ranges) ||
	    msg->from.kind != TXN_ADDR_COORD) {
		p->stats.bad_msg++;
		return;
	}
	if (part_too_old(p, m->sent)) {
		p->stats.too_old++;
		return;
	}
	x = ptx_new(p, &m->txid, PTX_ONE, PTX_VALIDATING);
	if (x == NULL)
		return;
	x->ts = m->ts;
	x->sent = m->sent;
	x->coord = msg->from;
	x->leader = p->conf.shard;
	if (ptx_copy_items(x, UINT32_MAX, &m->writes, &m->reads, &m->ranges,
			   &x->w, &x->r, &x->g) != 0) {
		ptx_free(p, x);
		return;
	}
	x->always_wait = (uint8_t)single_key(x);
	if (part_merge(p, m->ts) != 0 || part_merge(p, m->sent) != 0) {
		x->reason = TXN_R_CLOCK;
		leader_on_refuse(p, x);
		return;
	}
	ptx_run_validation(p, x);
}

void leader_prepare_l(struct txn_part *p, const struct txn_msg *msg)
{
	const struct txn_msg_prepare_l *m = &msg->u.prepare_l;
	struct ptx *x = ptx_find(p, &m->txid);
	uint32_t i, j, nf = 0;
	int me = 0;

	if (x != NULL) {
		p->stats.dup_prepare_l++;
		answer_dup(p, x, &msg->from);
		return;
	}
	for (i = 0; i < m->parts.n; i++)
		me |= m->parts.v[i] == p->conf.shard;
	if (m->ts == 0 || !me || m->parts.n > TXN_REC_MAX_PARTS ||
	    !part_items_ok(p, &m->writes, &m->reads, &m->ranges) ||
	    msg->from.kind != TXN_ADDR_COORD) {
		p->stats.bad_msg++;
		return;
	}
	if (part_too_old(p, m->sent)) {
		p->stats.too_old++;
		return;
	}
	x = ptx_new(p, &m->txid, PTX_LEADER, PTX_VALIDATING);
	if (x == NULL)
		return;
	x->ts = m->ts;
	x->sent = m->sent;
	x->coord = msg->from;
	x->leader = p->conf.shard;
	x->fols = calloc(m->parts.n, sizeof(*x->fols));
	if (x->fols == NULL)
		goto nomem;
	if (ptx_copy_items(x, p->conf.shard, &m->writes, &m->reads,
			   &m->ranges, &x->w, &x->r, &x->g) != 0)
		goto nomem;
	for (i = 0; i < m->parts.n; i++) {
		uint32_t s = m->parts.v[i];
		int dup = s == p->conf.shard;

		for (j = 0; j < nf && !dup; j++)
			dup = x->fols[j].shard == s;
		if (dup)
			continue;
		x->fols[nf].shard = s;
		if (ptx_copy_items(x, s, &m->writes, &m->reads, &m->ranges,
				   &x->fols[nf].w, &x->fols[nf].r,
				   &x->fols[nf].g) != 0)
			goto nomem;
		nf++;
	}
	x->nf = nf;
	if (part_merge(p, m->ts) != 0 || part_merge(p, m->sent) != 0) {
		x->reason = TXN_R_CLOCK;
		leader_on_refuse(p, x);
		return;
	}
	ptx_run_validation(p, x);
	return;
nomem:
	ptx_free(p, x);
}

/* Validation passed (COMMIT1 or the leader's own part). */
void leader_on_valid(struct txn_part *p, struct ptx *x)
{
	unsigned why = ptx_propose(p, x);
	uint64_t e = x->proposed;
	int rc;

	if (why != TXN_R_NONE) {
		x->reason = (uint8_t)why;
		leader_on_refuse(p, x);
		return;
	}
	if (x->role == PTX_ONE) {
		x->tc = e;
		x->outcome = TXN_ST_COMMITTED; /* decided, not durable yet */
		x->has_d = 1;
		rc = ptx_versions(x, &x->batch, e);
		if (rc == 0)
			rc = ptx_done_record(x, &x->batch);
		ptx_move(x, PTX_COMMITTING_W);
	} else {
		rc = ptx_log_record(p, x, &x->batch, TXN_REC_TX,
				    TXN_REC_PREPARING);
		if (rc == 0)
			rc = ptx_intent_records(p, x, &x->batch, 1);
		ptx_move(x, PTX_PREPARING_W);
	}
	if (rc != 0) {
		part_fail(p, "building a durable write", rc);
		return;
	}
	ptx_submit(p, x);
	/* The followers prepare while the record is written: the commit
	 * waits for both, and presumed abort still holds (a follower that
	 * asks STATUS is told PREPARING while the record is in flight, and
	 * ABORTED if the leader died before it was durable: without a
	 * record nothing can have committed). */
	if (x->role == PTX_LEADER && x->nf > 0 &&
	    ptx_state(x) == PTX_PREPARING_W) {
		uint64_t now = part_now(p);

		for (uint32_t i = 0; i < x->nf; i++)
			send_prepare(p, x, &x->fols[i]);
		x->deadline = now + p->conf.prepare_timeout_ms;
		backoff_start(p, x, now);
	}
}

/* Refused before anything durable (COMMIT1, or the leader's own part):
 * the abort is made durable before the coordinator hears of it. */
void leader_on_refuse(struct txn_part *p, struct ptx *x)
{
	int rc;

	x->outcome = TXN_ST_ABORTED;
	x->final = 1;
	x->has_d = 1;
	p->stats.aborted++;
	part_restart_count(p, x->reason);
	rc = ptx_done_record(x, &x->batch);
	ptx_move(x, PTX_ABORTING_W);
	if (rc != 0) {
		part_fail(p, "building a durable write", rc);
		return;
	}
	ptx_submit(p, x);
}

void leader_abort(struct txn_part *p, struct ptx *x, unsigned reason)
{
	int rc;

	x->outcome = TXN_ST_ABORTED;
	x->final = 1;
	x->reason = (uint8_t)reason;
	x->tell_followers = 1;
	x->has_d = 1;
	p->stats.aborted++;
	part_restart_count(p, reason);
	rc = ptx_log_delete(x, &x->batch, TXN_REC_TX);
	if (rc == 0)
		rc = ptx_intent_records(p, x, &x->batch, 0);
	if (rc == 0)
		rc = ptx_done_record(x, &x->batch);
	ptx_move(x, PTX_ABORTING_W);
	if (rc != 0) {
		part_fail(p, "building a durable write", rc);
		return;
	}
	ptx_submit(p, x);
	/* Readers may ignore its intents now (an abort is final), writers
	 * still wait for them to go. */
	part_wake(p, x);
}

/* Every follower prepared: the commit point is the durable COMMITTED. */
static void decide_commit(struct txn_part *p, struct ptx *x)
{
	uint64_t tc = x->proposed;
	int rc;

	for (uint32_t i = 0; i < x->nf; i++)
		if (x->fols[i].proposed > tc)
			tc = x->fols[i].proposed;
	x->tc = tc;
	x->outcome = TXN_ST_COMMITTED; /* decided; certain once durable */
	rc = ptx_log_record(p, x, &x->batch, TXN_REC_TX, TXN_REC_COMMITTED);
	if (rc == 0)
		rc = ptx_versions(x, &x->batch, tc);
	if (rc == 0)
		rc = ptx_intent_records(p, x, &x->batch, 0);
	ptx_move(x, PTX_COMMITTING_W);
	if (rc != 0) {
		part_fail(p, "building a durable write", rc);
		return;
	}
	ptx_submit(p, x);
}

void leader_finish(struct txn_part *p, struct ptx *x)
{
	int rc = ptx_log_delete(x, &x->batch, TXN_REC_TX);

	if (rc == 0)
		rc = ptx_done_record(x, &x->batch);
	x->has_d = 1;
	ptx_move(x, PTX_FINISHING_W);
	if (rc != 0) {
		part_fail(p, "building a durable write", rc);
		return;
	}
	ptx_submit(p, x);
}

static void to_done(struct ptx *x)
{
	ptx_move(x, PTX_DONE);
	ptx_shrink(x);
}

/* A durable write of a COMMIT1, a leader or a tombstone completed. */
void leader_done(struct txn_part *p, struct ptx *x)
{
	uint64_t now = part_now(p);

	switch (ptx_state(x)) {
	case PTX_PREPARING_W: {
		uint32_t i;

		x->has_log = 1;
		ptx_move(x, PTX_PREPARING);
		if (x->abort_on_log) {
			leader_abort(p, x, x->reason);
			break;
		}
		/* PREPAREs went out with the record (leader_on_valid). */
		for (i = 0; i < x->nf; i++)
			if (!x->fols[i].prepared)
				break;
		if (i == x->nf)
			decide_commit(p, x);
		break;
	}
	case PTX_COMMITTING_W:
		x->final = 1;
		ptx_release(p, x);
		part_reply_outcome(p, x);
		if (x->role == PTX_ONE) {
			p->stats.commit1++;
			to_done(x);
			break;
		}
		p->stats.commit2++;
		ptx_move(x, PTX_COMMITTED);
		if (x->nf == 0) {
			leader_finish(p, x);
			break;
		}
		leader_send_outcome(p, x);
		backoff_start(p, x, now);
		break;
	case PTX_FINISHING_W:
		x->has_log = 0;
		to_done(x);
		break;
	case PTX_ABORTING_W:
		x->has_log = 0;
		ptx_release(p, x);
		if (x->reply_status) {
			struct txn_msg m;

			memset(&m, 0, sizeof(m));
			m.type = TXN_MSG_STATUS_REPLY;
			m.to = x->coord;
			m.u.status_reply.txid = x->id;
			m.u.status_reply.state = TXN_ST_ABORTED;
			part_send(p, &m);
			to_done(x);
			break;
		}
		part_reply_outcome(p, x);
		if (x->tell_followers && x->nf > 0) {
			ptx_move(x, PTX_ABORTED);
			leader_send_outcome(p, x);
			backoff_start(p, x, now);
			break;
		}
		to_done(x);
		break;
	default:
		DKV_ERROR("txn", "shard %u: txn " DKV_TXID_FMT
			  ": durable write done in state %s",
			  p->conf.shard, DKV_TXID_ARG(x->id),
			  dkv_sm_name(&x->sm));
		p->stats.violations++;
		break;
	}
}

/* --- answers from followers ---------------------------------------------- */

void leader_prepared(struct txn_part *p, const struct txn_msg *msg)
{
	const struct txn_msg_prepared *m = &msg->u.prepared;
	struct ptx *x = ptx_find(p, &m->txid);
	struct pfol *f;
	uint32_t i;

	if (msg->from.kind != TXN_ADDR_SHARD) {
		p->stats.bad_msg++;
		return;
	}
	if (x == NULL)
		/* A late duplicate: the record was collected, so every
		 * follower acknowledged the outcome. (Answering ABORT here
		 * could contradict a commit; a follower really prepared
		 * without a record here asks STATUS and gets a durable
		 * presumed abort.) */
		return;
	if (x->outcome == TXN_ST_ABORTED && x->final) {
		p->stats.prepared_after_abort++;
		send_abort_to(p, &m->txid, msg->from.id);
		return;
	}
	if (x->role != PTX_LEADER || (ptx_state(x) != PTX_PREPARING &&
				       ptx_state(x) != PTX_PREPARING_W))
		return; /* a duplicate; the outcome is on its way */
	f = fol_of(x, msg->from.id);
	if (f == NULL) {
		p->stats.bad_msg++;
		return;
	}
	if (f->prepared || x->abort_on_log)
		return;
	if (part_merge(p, m->proposed) != 0) {
		if (ptx_state(x) == PTX_PREPARING_W) {
			x->abort_on_log = 1; /* once the record is durable */
			x->reason = TXN_R_CLOCK;
			return;
		}
		leader_abort(p, x, TXN_R_CLOCK);
		return;
	}
	f->prepared = 1;
	f->proposed = m->proposed;
	if (ptx_state(x) != PTX_PREPARING)
		return; /* leader_done decides once the record is durable */
	for (i = 0; i < x->nf; i++)
		if (!x->fols[i].prepared)
			return;
	decide_commit(p, x);
}

void leader_refused(struct txn_part *p, const struct txn_msg *msg)
{
	const struct txn_msg_refused *m = &msg->u.refused;
	struct ptx *x = ptx_find(p, &m->txid);
	unsigned reason = m->reason < TXN_R_COUNT_ && m->reason != TXN_R_NONE
				  ? m->reason
				  : TXN_R_PREPARE;

	if (x == NULL || x->role != PTX_LEADER)
		return;
	if (ptx_state(x) == PTX_PREPARING_W) {
		if (!x->abort_on_log) {
			x->abort_on_log = 1; /* once the record is durable */
			x->reason = (uint8_t)reason;
		}
		return;
	}
	if (ptx_state(x) != PTX_PREPARING)
		return;
	leader_abort(p, x, reason);
}

void leader_ack(struct txn_part *p, const struct txn_msg *msg)
{
	struct ptx *x = ptx_find(p, &msg->u.ack.txid);
	struct pfol *f;
	uint32_t i;

	if (x == NULL || x->role != PTX_LEADER ||
	    msg->from.kind != TXN_ADDR_SHARD)
		return;
	if (ptx_state(x) != PTX_COMMITTED && ptx_state(x) != PTX_ABORTED)
		return;
	f = fol_of(x, msg->from.id);
	if (f == NULL)
		return;
	f->acked = 1;
	for (i = 0; i < x->nf; i++)
		if (!x->fols[i].acked)
			return;
	if (ptx_state(x) == PTX_COMMITTED)
		leader_finish(p, x);
	else
		to_done(x);
}

/* --- STATUS ----------------------------------------------------------------- */

void leader_status(struct txn_part *p, const struct txn_msg *msg)
{
	const struct txn_msg_status *m = &msg->u.status;
	struct ptx *x = ptx_find(p, &m->txid);
	struct txn_msg r;
	unsigned s;
	int rc;

	p->stats.status_served++;
	memset(&r, 0, sizeof(r));
	r.type = TXN_MSG_STATUS_REPLY;
	r.to = msg->from;
	r.u.status_reply.txid = m->txid;
	if (x == NULL) {
		if (!m->abort_if_unknown || m->sent == 0) {
			r.u.status_reply.state = TXN_ST_UNKNOWN;
			part_send(p, &r);
			return;
		}
		/*
		 * Older than H/2: its tombstone may have been collected, and
		 * a PREPARE_L that old is dropped anyway, so nothing needs
		 * recording. A shard asking is a prepared follower (or a
		 * reader of its intent): records are collected only once
		 * every follower acknowledged, so for it "unknown" means
		 * aborted. A coordinator asking that late is stale (its
		 * deadline is below H/2): it learns nothing.
		 */
		if (part_too_old(p, m->sent)) {
			r.u.status_reply.state = msg->from.kind == TXN_ADDR_SHARD
							 ? TXN_ST_ABORTED
							 : TXN_ST_UNKNOWN;
			part_send(p, &r);
			return;
		}
		/* Presumed abort, made durable before it is answered. */
		x = ptx_new(p, &m->txid, PTX_TOMB, PTX_VALIDATING);
		if (x == NULL)
			return;
		p->stats.status_abort_unknown++;
		x->sent = m->sent;
		x->coord = msg->from;
		x->reply_status = 1;
		x->outcome = TXN_ST_ABORTED;
		x->final = 1;
		x->reason = TXN_R_ABORTED;
		x->has_d = 1;
		rc = ptx_done_record(x, &x->batch);
		ptx_move(x, PTX_ABORTING_W);
		if (rc != 0) {
			part_fail(p, "building a durable write", rc);
			return;
		}
		ptx_submit(p, x);
		return;
	}
	s = ptx_state(x);
	if (x->outcome == TXN_ST_COMMITTED &&
	    (s == PTX_COMMITTED || s == PTX_FINISHING_W || s == PTX_DONE)) {
		r.u.status_reply.state = TXN_ST_COMMITTED;
		r.u.status_reply.tc = x->tc;
	} else if (x->outcome == TXN_ST_ABORTED &&
		   (s == PTX_ABORTED || s == PTX_DONE)) {
		r.u.status_reply.state = TXN_ST_ABORTED;
	} else {
		/* Undecided, or the decision is not durable yet. */
		r.u.status_reply.state = TXN_ST_PREPARING;
	}
	part_send(p, &r);
}

/* --- tick ------------------------------------------------------------------- */

void leader_tick(struct txn_part *p, struct ptx *x, uint64_t now)
{
	uint32_t i;

	switch (ptx_state(x)) {
	case PTX_PREPARING:
		if (now >= x->deadline) {
			p->stats.prepare_timeout++;
			leader_abort(p, x, TXN_R_TIMEOUT);
			break;
		}
		if (now < x->next_send)
			break;
		for (i = 0; i < x->nf; i++)
			if (!x->fols[i].prepared) {
				p->stats.resend_prepare++;
				send_prepare(p, x, &x->fols[i]);
			}
		backoff_next(p, x, now);
		break;
	case PTX_COMMITTED:
		if (now < x->next_send)
			break;
		p->stats.resend_commit++;
		leader_send_outcome(p, x);
		backoff_next(p, x, now);
		break;
	case PTX_ABORTED:
		/* Followers that never hear it ask STATUS; past the horizon
		 * the leader stops telling them. */
		if (x->sent + part_horizon(p) < dkv_hlc_last(p->io.hlc)) {
			to_done(x);
			break;
		}
		if (now < x->next_send)
			break;
		p->stats.resend_abort++;
		leader_send_outcome(p, x);
		backoff_next(p, x, now);
		break;
	default:
		break;
	}
}
