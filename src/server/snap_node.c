/*
 * snap_node.c - the snapshot manager in dkvd (snap_node.h, docs/snap.md).
 *
 * Happy path of CREATE at the leader (one operation at a time, a queue):
 *
 *   QUEUED -> EPOCHS --all answered--> FENCING --all +OK--> WRITING
 *          --own catalog durable--> PUSHING --all answered--> reply
 *
 *   EPOCHS   DKV.SNAPX EPOCH to every node (itself too, over loopback):
 *            M = the maximum clock;
 *   FENCING  DKV.SNAPX FENCE M to every node: it merges M into its clock,
 *            pins M against GC for a while, puts a barrier in its group
 *            committer (every write at an epoch <= M is durable once it
 *            completes) and waits until none of its shards' transactions
 *            may still write at or below M (txn_node_pending_at);
 *   WRITING  the catalog with the new entry, version + 1, synced on the
 *            worker pool;
 *   PUSHING  DKV.SNAPX CATALOG to every other node, which installs it if
 *            newer.
 * DESTROY is WRITING and PUSHING. LIST and SHOW read this node's copy.
 *
 * Failure modes:
 *  - a node unreachable or refusing in EPOCHS or FENCING: the create
 *    fails with -TRYAGAIN and nothing is written (a fence only moved
 *    clocks forward; its GC pin, which covers the time until the catalog
 *    names the snapshot, expires after FENCE_PIN_MS);
 *  - a fence that cannot drain (an in-doubt transaction whose leader is
 *    gone) within FENCE_TIMEOUT_MS: -TRYAGAIN;
 *  - the catalog write fails: -ERR with the store's error, nothing
 *    changed (the in-memory catalog is replaced only once durable);
 *  - a push lost: the create still succeeds (the leader's copy is the
 *    truth); the node gets the catalog with the next change, or when its
 *    link to the leader comes up again (snap_node_peer_up);
 *  - a stale push (older version, e.g. from a former leader): ignored;
 *  - a damaged catalog record at start: the node refuses to start
 *    (DKV_ERR_CORRUPT), as for any other damaged metadata.
 */
#define _GNU_SOURCE
#include "server/snap_node.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "common/log.h"
#include "common/sm.h"
#include "dkv_err.h"
#include "hlc/hlc.h"
#include "server/cmd.h"
#include "server/committer.h"
#include "server/conn.h"
#include "server/node.h"
#include "server/peer.h"
#include "server/req.h"
#include "server/txn_node.h"
#include "snap/catalog.h"

#define META_SNAPCAT "snapcat"
#define FENCE_TIMEOUT_MS 5000
#define FENCE_POLL_MS 2
#define FENCE_PIN_MS 10000

/* --- state --------------------------------------------------------------- */

struct catw;
struct fence;
struct snap_op;

struct snap_node {
	struct node *node;
	struct snap_catalog cat;     /* durable here; the leader's truth */
	uv_async_t async;            /* committer -> loop: barriers done */
	uv_timer_t timer;            /* polls fences, expires the pin */
	pthread_mutex_t lock;
	struct fence *done_head;     /* barriers done, under lock */
	struct fence *waiting;       /* fences draining transactions */
	struct catw *w_head, *w_tail; /* catalog writes, one at a time */
	int w_busy;
	struct snap_op *ops_head, *ops_tail; /* leader: head runs */
	uint64_t created, destroyed, failed, fences, last_create_us;
	uint64_t fence_pin;          /* DKV_EPOCH_MAX if none */
	uint64_t fence_pin_until;    /* ms */
	int stopping;
};

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static uint64_t unix_ms(void)
{
	return dkv_hlc_wall_ns(NULL) / 1000000u;
}

/* Publishes the GC pins: the oldest (the watermark's cap) and every one
 * (GC between pins), the snapshots' epochs and a recent fence's. */
static void pin_update(struct snap_node *sn)
{
	struct node *n = sn->node;
	uint64_t pin = snap_catalog_oldest(&sn->cat);
	uint64_t *v, *old;
	size_t k = 0;

	if (sn->fence_pin != DKV_EPOCH_MAX && now_ms() >= sn->fence_pin_until)
		sn->fence_pin = DKV_EPOCH_MAX;
	if (sn->fence_pin < pin)
		pin = sn->fence_pin;
	v = malloc((sn->cat.n + 1) * sizeof(*v));
	if (v == NULL) {
		/* Keep the old list; only the oldest pin moves, and only
		 * down, so nothing a snapshot sees can go. */
		if (pin < __atomic_load_n(&n->snap_pin, __ATOMIC_ACQUIRE))
			__atomic_store_n(&n->snap_pin, pin, __ATOMIC_RELEASE);
		return;
	}
	for (uint32_t i = 0; i < sn->cat.n; i++)
		v[k++] = sn->cat.v[i].epoch;
	if (sn->fence_pin != DKV_EPOCH_MAX)
		v[k++] = sn->fence_pin;
	/* The list first: the watermark's cap may only move once the filter
	 * sees every pin. */
	pthread_mutex_lock(&n->pins_lock);
	old = n->pins;
	n->pins = v;
	n->npins = k;
	pthread_mutex_unlock(&n->pins_lock);
	free(old);
	__atomic_store_n(&n->snap_pin, pin, __ATOMIC_RELEASE);
}

/* The snapshot leader: the lowest node id in the map. */
static int leader_id(const struct node *n, uint32_t *id)
{
	uint32_t nn, best = UINT32_MAX;

	if (n->map == NULL)
		return DKV_ERR_STATE;
	nn = dkv_map_nnodes(n->map);
	for (uint32_t i = 0; i < nn; i++) {
		const struct dkv_map_node *mn = dkv_map_node_at(n->map, i);

		if (mn != NULL && mn->id < best)
			best = mn->id;
	}
	if (best == UINT32_MAX)
		return DKV_ERR_STATE;
	*id = best;
	return DKV_OK;
}

/* --- catalog writes (worker pool, one at a time, in order) --------------- */

typedef void (*catw_done_fn)(struct snap_node *sn, void *arg, int rc);

struct catw {
	struct catw *next;
	uv_work_t work;
	struct snap_node *sn;
	struct snap_catalog cat; /* what to install once durable */
	char *blob;
	size_t len;
	int rc;
	catw_done_fn done;
	void *arg;
};

static void catw_start(struct snap_node *sn);

static void catw_work(uv_work_t *w)
{
	struct catw *cw = w->data;
	struct dkv_batch *b = NULL;
	int rc = dkv_batch_create(cw->sn->node->store, &b);

	if (rc == DKV_OK)
		rc = dkv_batch_put_meta(b, META_SNAPCAT, strlen(META_SNAPCAT),
					cw->blob, cw->len);
	if (rc == DKV_OK)
		rc = dkv_batch_commit(b);
	dkv_batch_destroy(b);
	cw->rc = rc;
}

/* Takes the head write off the queue: installs its catalog if it is
 * durable and newer, tells its owner, frees it, starts the next. */
static void catw_finish(struct snap_node *sn, struct catw *cw, int rc)
{
	sn->w_busy = 0;
	sn->w_head = cw->next;
	if (sn->w_head == NULL)
		sn->w_tail = NULL;
	if (rc == DKV_OK && cw->cat.version > sn->cat.version) {
		struct snap_catalog old = sn->cat;

		sn->cat = cw->cat;
		snap_catalog_init(&cw->cat);
		snap_catalog_fini(&old);
		/* The catalog now pins the fenced epoch itself (or the create
		 * was given up): the fence's own pin is no longer needed. */
		for (uint32_t i = 0; i < sn->cat.n; i++)
			if (sn->cat.v[i].epoch == sn->fence_pin)
				sn->fence_pin = DKV_EPOCH_MAX;
		pin_update(sn);
	}
	if (cw->done != NULL)
		cw->done(sn, cw->arg, rc);
	snap_catalog_fini(&cw->cat);
	free(cw->blob);
	free(cw);
	catw_start(sn);
}

static void catw_after(uv_work_t *w, int status)
{
	struct catw *cw = w->data;

	catw_finish(cw->sn, cw, status != 0 ? DKV_ERR_INTERNAL : cw->rc);
}

static void catw_start(struct snap_node *sn)
{
	struct catw *cw = sn->w_head;

	if (sn->w_busy || cw == NULL)
		return;
	sn->w_busy = 1;
	cw->work.data = cw;
	if (uv_queue_work(&sn->node->loop, &cw->work, catw_work,
			  catw_after) != 0)
		catw_finish(sn, cw, DKV_ERR_INTERNAL);
}

/* Writes cat (taken: emptied on return, whatever happens) durably, then
 * installs it if newer, then calls done. */
static int catw_submit(struct snap_node *sn, struct snap_catalog *cat,
		       catw_done_fn done, void *arg)
{
	struct catw *cw = calloc(1, sizeof(*cw));
	int rc = DKV_ERR_NOMEM;

	if (cw == NULL)
		goto out;
	rc = snap_catalog_encode(cat, &cw->blob, &cw->len);
	if (rc != DKV_OK) {
		free(cw);
		goto out;
	}
	cw->sn = sn;
	cw->cat = *cat;
	snap_catalog_init(cat);
	cw->done = done;
	cw->arg = arg;
	if (sn->w_tail != NULL)
		sn->w_tail->next = cw;
	else
		sn->w_head = cw;
	sn->w_tail = cw;
	catw_start(sn);
	return DKV_OK;
out:
	snap_catalog_fini(cat);
	return rc;
}

/* --- fences (every node) ------------------------------------------------- */

struct fence {
	struct fence *next;
	struct snap_node *sn;
	struct req *r;
	uint64_t epoch;
	uint64_t deadline; /* ms */
	struct dkv_cmd cmd;
	struct txn_batch empty;
};

static void fence_reply(struct fence *f, int ok)
{
	struct resp_buf *b = &f->r->slot->buf;

	f->sn->fences++;
	if (ok)
		resp_put_ok(b);
	else
		resp_put_errorf(b, "TRYAGAIN transactions at or below the "
				   "snapshot epoch are still in doubt");
	req_complete_raw(f->r);
	free(f);
}

/* Answers the fences whose shards have drained; keeps the others. */
static void fences_poll(struct snap_node *sn)
{
	struct fence **pp = &sn->waiting;
	uint64_t t = now_ms();

	while (*pp != NULL) {
		struct fence *f = *pp;

		if (txn_node_pending_at(sn->node, f->epoch) == 0) {
			*pp = f->next;
			fence_reply(f, 1);
		} else if (t >= f->deadline) {
			*pp = f->next;
			fence_reply(f, 0);
		} else {
			pp = &f->next;
		}
	}
}

static void on_timer(uv_timer_t *t)
{
	struct snap_node *sn = t->data;

	fences_poll(sn);
	pin_update(sn);
	if (sn->waiting == NULL && uv_timer_get_repeat(t) != 1000)
		uv_timer_start(t, on_timer, 1000, 1000); /* the slow period */
}

static void fence_barrier_done(struct dkv_cmd *cmd)
{
	struct fence *f = cmd->ctx;
	struct snap_node *sn = f->sn;

	pthread_mutex_lock(&sn->lock);
	f->next = sn->done_head;
	sn->done_head = f;
	pthread_mutex_unlock(&sn->lock);
	uv_async_send(&sn->async);
}

static void on_async(uv_async_t *a)
{
	struct snap_node *sn = a->data;
	struct fence *f;

	pthread_mutex_lock(&sn->lock);
	f = sn->done_head;
	sn->done_head = NULL;
	pthread_mutex_unlock(&sn->lock);
	while (f != NULL) {
		struct fence *next = f->next;

		if (f->cmd.rc != DKV_OK) {
			struct resp_buf *b = &f->r->slot->buf;

			cmd_put_err(b, f->cmd.rc);
			req_complete_raw(f->r);
			free(f);
		} else {
			f->next = sn->waiting;
			sn->waiting = f;
		}
		f = next;
	}
	fences_poll(sn);
	if (sn->waiting != NULL)
		uv_timer_start(&sn->timer, on_timer, FENCE_POLL_MS,
			       FENCE_POLL_MS);
}

/* A positive integer argument (an epoch, a catalog version). */
static int arg_pos(const struct resp_cmd *cmd, size_t i, uint64_t *out)
{
	int64_t v;

	if (resp_parse_i64(cmd->argv[i], cmd->argvlen[i], &v) != DKV_OK ||
	    v <= 0)
		return DKV_ERR_INVAL;
	*out = (uint64_t)v;
	return DKV_OK;
}

static void snapx_fence(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct snap_node *sn = n->snap;
	struct fence *f = NULL;
	struct resp_buf *b;
	uint64_t epoch;
	int rc;

	if (cmd->argc != 3 ||
	    arg_pos(cmd, 2, &epoch) != DKV_OK) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "ERR DKV.SNAPX FENCE <epoch>");
		return;
	}
	/* Every epoch this clock issues from now on is above the snapshot's. */
	rc = dkv_hlc_update(n->hlc, epoch);
	if (rc != DKV_OK)
		goto fail;
	if (epoch < sn->fence_pin)
		sn->fence_pin = epoch;
	sn->fence_pin_until = now_ms() + FENCE_PIN_MS;
	pin_update(sn);
	rc = DKV_ERR_NOMEM;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		goto fail;
	f->sn = sn;
	f->epoch = epoch;
	f->deadline = now_ms() + FENCE_TIMEOUT_MS;
	f->r = req_new_read(c, CMD_DKV_SNAPX, cmd, 0);
	if (f->r == NULL)
		goto fail;
	if (req_begin(f->r) != DKV_OK) {
		req_discard(f->r);
		goto fail;
	}
	/* A barrier: an empty batch, done once every command queued before
	 * it is durable. */
	f->cmd.op = DKV_OP_TXN;
	f->cmd.txn = &f->empty;
	f->cmd.done = fence_barrier_done;
	f->cmd.ctx = f;
	dkv_committer_submit(n->committer, &f->cmd);
	return;
fail:
	free(f);
	b = conn_reply_buf(c);
	if (b)
		cmd_put_err(b, rc);
}

/* --- catalog pushes (every node) ----------------------------------------- */

struct install {
	struct req *r;
};

static void install_done(struct snap_node *sn, void *arg, int rc)
{
	struct install *in = arg;

	(void)sn;
	if (rc == DKV_OK)
		resp_put_ok(&in->r->slot->buf);
	else
		cmd_put_err(&in->r->slot->buf, rc);
	req_complete_raw(in->r);
	free(in);
}

static void snapx_catalog(struct conn *c, const struct resp_cmd *cmd)
{
	struct snap_node *sn = c->node->snap;
	struct snap_catalog cat;
	struct install *in = NULL;
	struct resp_buf *b;
	uint64_t version;
	int rc = DKV_ERR_INVAL;

	snap_catalog_init(&cat);
	if (cmd->argc != 4 ||
	    arg_pos(cmd, 2, &version) != DKV_OK)
		goto fail;
	rc = snap_catalog_decode(&cat, cmd->argv[3], cmd->argvlen[3]);
	if (rc != DKV_OK)
		goto fail;
	rc = DKV_ERR_INVAL;
	if (cat.version != version)
		goto fail;
	if (version <= sn->cat.version) { /* stale or already here */
		snap_catalog_fini(&cat);
		b = conn_reply_buf(c);
		if (b)
			resp_put_ok(b);
		return;
	}
	rc = DKV_ERR_NOMEM;
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		goto fail;
	in->r = req_new_read(c, CMD_DKV_SNAPX, cmd, 0);
	if (in->r == NULL)
		goto fail;
	if (req_begin(in->r) != DKV_OK) {
		req_discard(in->r);
		goto fail;
	}
	rc = catw_submit(sn, &cat, install_done, in);
	if (rc != DKV_OK) {
		cmd_put_err(&in->r->slot->buf, rc);
		req_complete_raw(in->r);
		free(in);
	}
	return;
fail:
	snap_catalog_fini(&cat);
	free(in);
	b = conn_reply_buf(c);
	if (b) {
		if (rc == DKV_ERR_INVAL || rc == DKV_ERR_CORRUPT)
			resp_put_errorf(b, "ERR DKV.SNAPX CATALOG <version> "
					   "<catalog>: malformed");
		else
			cmd_put_err(b, rc);
	}
}

/* DKV.SNAPX CATALOG <version> <bytes> of this node's catalog. */
struct catmsg {
	char ver[24];
	char *blob;
	const char *argv[4];
	size_t argvlen[4];
};

static int catmsg_build(const struct snap_node *sn, struct catmsg *m)
{
	size_t len = 0;
	int rc = snap_catalog_encode(&sn->cat, &m->blob, &len);

	if (rc != DKV_OK)
		return rc;
	m->argvlen[2] = resp_fmt_u64(m->ver, sn->cat.version);
	m->argv[0] = "DKV.SNAPX";
	m->argv[1] = "CATALOG";
	m->argv[2] = m->ver;
	m->argv[3] = m->blob;
	m->argvlen[0] = 9;
	m->argvlen[1] = 7;
	m->argvlen[3] = len;
	return DKV_OK;
}

static int arg_is(const struct resp_cmd *cmd, size_t i, const char *s)
{
	return cmd->argvlen[i] == strlen(s) &&
	       strncasecmp(cmd->argv[i], s, cmd->argvlen[i]) == 0;
}

void cmd_dkv_snapx(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct resp_buf *b;

	if (n->snap == NULL || n->snap->stopping) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "TRYAGAIN node stopping");
		return;
	}
	if (arg_is(cmd, 1, "fence")) {
		snapx_fence(c, cmd);
		return;
	}
	if (arg_is(cmd, 1, "catalog")) {
		snapx_catalog(c, cmd);
		return;
	}
	b = conn_reply_buf(c);
	if (b == NULL)
		return;
	if (arg_is(cmd, 1, "epoch") && cmd->argc == 2) {
		uint64_t e;
		int rc = dkv_hlc_now(n->hlc, &e);

		if (rc != DKV_OK)
			cmd_put_err(b, rc);
		else
			resp_put_int(b, (int64_t)e);
		return;
	}
	resp_put_errorf(b, "ERR unknown DKV.SNAPX subcommand");
}

/* --- the leader's operations --------------------------------------------- */

enum op_state { OP_QUEUED, OP_EPOCHS, OP_FENCING, OP_WRITING, OP_PUSHING,
		OP_DONE, OP_NSTATES };

#define B(s) DKV_SM_BIT(s)
static const struct dkv_sm_conf op_states[OP_NSTATES] = {
	[OP_QUEUED] = { "queued", 0, B(OP_EPOCHS) | B(OP_WRITING) | B(OP_DONE) },
	[OP_EPOCHS] = { "epochs", 0, B(OP_FENCING) | B(OP_DONE) },
	[OP_FENCING] = { "fencing", 0, B(OP_WRITING) | B(OP_DONE) },
	[OP_WRITING] = { "writing", 0, B(OP_PUSHING) | B(OP_DONE) },
	[OP_PUSHING] = { "pushing", 0, B(OP_DONE) },
	[OP_DONE] = { "done", DKV_SM_FINAL, 0 },
};
#undef B

struct op_call {
	struct snap_op *op;
	uint32_t node;
};

struct snap_op {
	struct snap_op *next;
	struct snap_node *sn;
	struct dkv_sm sm;
	int create; /* else destroy */
	struct req *r;
	char name[SNAP_NAME_MAX + 1];
	size_t nlen;
	uint64_t epoch, created_ms;
	uint64_t t0;           /* uv_hrtime() when it started */
	struct op_call *calls; /* one per node */
	size_t ncalls, waiting;
	int failed;            /* a call failed in this phase */
	char err[160];         /* the first failure */
};

static void op_next(struct snap_node *sn);

static void op_finish(struct snap_op *op, const char *err)
{
	struct snap_node *sn = op->sn;
	struct resp_buf *b = &op->r->slot->buf;

	if (err != NULL)
		sn->failed++;
	else if (op->create) {
		sn->created++;
		sn->last_create_us = (uv_hrtime() - op->t0) / 1000u;
	} else {
		sn->destroyed++;
	}
	if (err != NULL)
		resp_put_errorf(b, "%s", err);
	else if (op->create) {
		resp_put_array(b, 3);
		resp_put_bulk(b, op->name, op->nlen);
		resp_put_int(b, (int64_t)op->epoch);
		resp_put_int(b, (int64_t)op->created_ms);
	} else {
		resp_put_ok(b);
	}
	dkv_sm_move(&op->sm, OP_DONE);
	req_complete_raw(op->r);
	sn->ops_head = op->next;
	if (sn->ops_head == NULL)
		sn->ops_tail = NULL;
	free(op->calls);
	free(op);
	op_next(sn);
}

static void op_phase_done(struct snap_op *op);

/* One node's answer in the current phase. */
static void op_reply(void *ctx, const struct resp_reply *r)
{
	struct op_call *call = ctx;
	struct snap_op *op = call->op;
	unsigned st = dkv_sm_state(&op->sm);
	int ok;

	if (st == OP_EPOCHS)
		ok = r != NULL && r->type == RESP_INTEGER && r->integer > 0;
	else
		ok = r != NULL && r->type == RESP_STRING;
	if (ok && st == OP_EPOCHS && (uint64_t)r->integer > op->epoch)
		op->epoch = (uint64_t)r->integer;
	if (!ok && !op->failed) {
		op->failed = 1;
		if (r == NULL)
			snprintf(op->err, sizeof(op->err),
				 "TRYAGAIN node %" PRIu32 " unreachable",
				 call->node);
		else if (r->type == RESP_ERROR &&
			 strncmp(r->str, "TRYAGAIN", r->len < 8 ? r->len : 8) == 0)
			snprintf(op->err, sizeof(op->err), "%.*s",
				 (int)(r->len < 150 ? r->len : 150), r->str);
		else
			snprintf(op->err, sizeof(op->err),
				 "TRYAGAIN node %" PRIu32 " refused: %.*s",
				 call->node,
				 (int)(r->type == RESP_ERROR && r->len < 100
					       ? r->len
					       : 0),
				 r->type == RESP_ERROR ? r->str : "");
	}
	if (--op->waiting == 0)
		op_phase_done(op);
}

/* Sends argv to every node (skip_self: all but this one); the phase ends
 * in op_phase_done once each has answered. */
static void op_broadcast(struct snap_op *op, int skip_self, size_t argc,
			 const char *const *argv, const size_t *argvlen)
{
	struct node *n = op->sn->node;

	op->failed = 0;
	op->waiting = 1; /* held until every call is out */
	for (size_t i = 0; i < op->ncalls; i++) {
		struct op_call *call = &op->calls[i];

		if (skip_self && call->node == n->cfg.node_id)
			continue;
		op->waiting++;
		if (peer_call(n, call->node, argc, argv, argvlen, op_reply,
			      call) != DKV_OK) {
			op->waiting--;
			if (!op->failed) {
				op->failed = 1;
				snprintf(op->err, sizeof(op->err),
					 "TRYAGAIN node %" PRIu32
					 " unreachable", call->node);
			}
		}
	}
	if (--op->waiting == 0)
		op_phase_done(op);
}

static void op_written(struct snap_node *sn, void *arg, int rc)
{
	struct snap_op *op = arg;
	struct catmsg m;

	if (rc != DKV_OK) {
		char err[128];

		snprintf(err, sizeof(err), "ERR snapshot catalog not written: %s",
			 dkv_strerror(rc));
		op_finish(op, err);
		return;
	}
	dkv_sm_move(&op->sm, OP_PUSHING);
	if (catmsg_build(sn, &m) != DKV_OK) {
		op_finish(op, NULL); /* durable here; the next push repairs */
		return;
	}
	op_broadcast(op, 1, 4, m.argv, m.argvlen);
	free(m.blob);
}

static void op_write(struct snap_op *op)
{
	struct snap_node *sn = op->sn;
	struct snap_catalog next;
	int rc;

	snap_catalog_init(&next);
	dkv_sm_move(&op->sm, OP_WRITING);
	rc = snap_catalog_copy(&next, &sn->cat);
	if (rc == DKV_OK && op->create)
		rc = snap_catalog_add(&next, op->name, op->nlen, op->epoch,
				      op->created_ms);
	else if (rc == DKV_OK)
		rc = snap_catalog_remove(&next, op->name, op->nlen);
	if (rc != DKV_OK) {
		char err[160];

		snap_catalog_fini(&next);
		if (rc == DKV_ERR_EXISTS)
			snprintf(err, sizeof(err), "ERR snapshot '%s' exists",
				 op->name);
		else if (rc == DKV_ERR_NOT_FOUND)
			snprintf(err, sizeof(err), "ERR no such snapshot '%s'",
				 op->name);
		else if (rc == DKV_ERR_NOSPACE)
			snprintf(err, sizeof(err), "ERR too many snapshots");
		else
			snprintf(err, sizeof(err), "ERR %s", dkv_strerror(rc));
		op_finish(op, err);
		return;
	}
	next.version = sn->cat.version + 1;
	rc = catw_submit(sn, &next, op_written, op);
	if (rc != DKV_OK) {
		char err[128];

		snprintf(err, sizeof(err), "ERR %s", dkv_strerror(rc));
		op_finish(op, err);
	}
}

static void op_phase_done(struct snap_op *op)
{
	unsigned st = dkv_sm_state(&op->sm);

	if (st == OP_PUSHING) {
		op_finish(op, NULL); /* lost pushes are repaired later */
		return;
	}
	if (op->failed) {
		op_finish(op, op->err);
		return;
	}
	if (st == OP_EPOCHS) {
		char num[24];
		const char *argv[3] = { "DKV.SNAPX", "FENCE", num };
		size_t argvlen[3] = { 9, 5, 0 };

		if (op->nlen == 0) { /* generated name */
			op->nlen = (size_t)snprintf(op->name, sizeof(op->name),
						    "snap-%" PRIu64, op->epoch);
		}
		if (snap_catalog_find(&op->sn->cat, op->name, op->nlen)) {
			char err[180];

			snprintf(err, sizeof(err), "ERR snapshot '%s' exists",
				 op->name);
			op_finish(op, err);
			return;
		}
		argvlen[2] = resp_fmt_u64(num, op->epoch);
		dkv_sm_move(&op->sm, OP_FENCING);
		op_broadcast(op, 0, 3, argv, argvlen);
		return;
	}
	/* OP_FENCING done: every node is past M and drained. */
	op->created_ms = unix_ms();
	op_write(op);
}

/* The nodes an operation talks to: every node of the map, now. */
static int op_nodes(struct snap_op *op)
{
	struct node *n = op->sn->node;
	uint32_t nn = n->map != NULL ? dkv_map_nnodes(n->map) : 0;

	op->calls = calloc(nn ? nn : 1, sizeof(*op->calls));
	if (op->calls == NULL)
		return DKV_ERR_NOMEM;
	for (uint32_t i = 0; i < nn; i++) {
		op->calls[i].op = op;
		op->calls[i].node = dkv_map_node_at(n->map, i)->id;
	}
	op->ncalls = nn;
	return DKV_OK;
}

static void op_run(struct snap_op *op)
{
	static const char *const argv[2] = { "DKV.SNAPX", "EPOCH" };
	static const size_t argvlen[2] = { 9, 5 };

	op->t0 = uv_hrtime();
	if (op_nodes(op) != DKV_OK) {
		op_finish(op, "ERR out of memory");
		return;
	}
	if (!op->create) {
		op_write(op);
		return;
	}
	dkv_sm_move(&op->sm, OP_EPOCHS);
	op_broadcast(op, 0, 2, argv, argvlen);
}

static void op_next(struct snap_node *sn)
{
	if (sn->ops_head != NULL && dkv_sm_state(&sn->ops_head->sm) == OP_QUEUED)
		op_run(sn->ops_head);
}

static void op_enqueue(struct conn *c, const struct resp_cmd *cmd, int create,
		       const char *name, size_t nlen)
{
	struct snap_node *sn = c->node->snap;
	struct snap_op *op = calloc(1, sizeof(*op));
	struct resp_buf *b;

	if (op == NULL)
		goto nomem;
	op->sn = sn;
	op->create = create;
	memcpy(op->name, name, nlen);
	op->nlen = nlen;
	dkv_sm_init(&op->sm, "snapshot op", op_states, OP_NSTATES, OP_QUEUED);
	op->r = req_new_read(c, CMD_DKV_SNAPSHOT, cmd, 0);
	if (op->r == NULL)
		goto nomem;
	if (req_begin(op->r) != DKV_OK) {
		req_discard(op->r);
		goto nomem;
	}
	if (sn->ops_tail != NULL)
		sn->ops_tail->next = op;
	else
		sn->ops_head = op;
	sn->ops_tail = op;
	op_next(sn);
	return;
nomem:
	free(op);
	b = conn_reply_buf(c);
	if (b)
		cmd_put_err(b, DKV_ERR_NOMEM);
}

/* --- DKV.SNAPSHOT -------------------------------------------------------- */

static void put_entry(struct resp_buf *b, const struct snap_entry *e)
{
	resp_put_array(b, 3);
	resp_put_bulk(b, e->name, e->nlen);
	resp_put_int(b, (int64_t)e->epoch);
	resp_put_int(b, (int64_t)e->created_ms);
}

void cmd_dkv_snapshot(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct snap_node *sn = n->snap;
	struct resp_buf *b;
	uint32_t leader;
	int create;

	if (sn == NULL || n->map == NULL || leader_id(n, &leader) != DKV_OK) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "ERR the cluster is not created yet");
		return;
	}
	if (arg_is(cmd, 1, "list") && cmd->argc == 2) {
		b = conn_reply_buf(c);
		if (b == NULL)
			return;
		resp_put_array(b, sn->cat.n);
		for (uint32_t i = 0; i < sn->cat.n; i++)
			put_entry(b, &sn->cat.v[i]);
		return;
	}
	if (arg_is(cmd, 1, "show") && cmd->argc == 3) {
		const struct snap_entry *e =
			snap_catalog_find(&sn->cat, cmd->argv[2],
					  cmd->argvlen[2]);

		b = conn_reply_buf(c);
		if (b == NULL)
			return;
		if (e == NULL)
			resp_put_errorf(b, "ERR no such snapshot '%.*s'",
					(int)(cmd->argvlen[2] > 128
						      ? 128
						      : cmd->argvlen[2]),
					cmd->argv[2]);
		else
			put_entry(b, e);
		return;
	}
	create = arg_is(cmd, 1, "create");
	if ((create && cmd->argc <= 3) ||
	    (arg_is(cmd, 1, "destroy") && cmd->argc == 3)) {
		const char *name = cmd->argc == 3 ? cmd->argv[2] : "";
		size_t nlen = cmd->argc == 3 ? cmd->argvlen[2] : 0;

		if (cmd->argc == 3 && !snap_name_valid(name, nlen)) {
			b = conn_reply_buf(c);
			if (b)
				resp_put_errorf(b, "ERR invalid snapshot name "
						   "(1 to 128 of A-Z a-z 0-9 "
						   ". _ : -, starting with a "
						   "letter)");
			return;
		}
		if (leader != n->cfg.node_id) {
			peer_forward(n, leader, c, cmd);
			return;
		}
		if (sn->stopping) {
			b = conn_reply_buf(c);
			if (b)
				resp_put_errorf(b, "TRYAGAIN node stopping");
			return;
		}
		op_enqueue(c, cmd, create, name, nlen);
		return;
	}
	b = conn_reply_buf(c);
	if (b)
		resp_put_errorf(b, "ERR unknown DKV.SNAPSHOT subcommand or wrong "
				   "number of arguments (CREATE [name], LIST, "
				   "SHOW name, DESTROY name)");
}

/* --- life cycle ---------------------------------------------------------- */

static void push_reply(void *ctx, const struct resp_reply *r)
{
	(void)ctx;
	(void)r; /* best effort: the next change or link-up repeats it */
}

void snap_node_peer_up(struct node *n, uint32_t id)
{
	struct snap_node *sn = n->snap;
	struct catmsg m;
	uint32_t leader;

	if (sn == NULL || sn->stopping || sn->cat.version == 0 ||
	    leader_id(n, &leader) != DKV_OK || leader != n->cfg.node_id ||
	    catmsg_build(sn, &m) != DKV_OK)
		return;
	(void)peer_call(n, id, 4, m.argv, m.argvlen, push_reply, NULL);
	free(m.blob);
}

int snap_node_lookup(struct node *n, const char *name, size_t len,
		     uint64_t *epoch)
{
	const struct snap_entry *e;

	if (n->snap == NULL)
		return DKV_ERR_NOT_FOUND;
	e = snap_catalog_find(&n->snap->cat, name, len);
	if (e == NULL)
		return DKV_ERR_NOT_FOUND;
	*epoch = e->epoch;
	return DKV_OK;
}

void snap_node_info(struct node *n, struct snap_node_info *out)
{
	struct snap_node *sn = n->snap;
	uint64_t pin = __atomic_load_n(&n->snap_pin, __ATOMIC_ACQUIRE);

	memset(out, 0, sizeof(*out));
	out->pin = pin == DKV_EPOCH_MAX ? 0 : pin;
	(void)leader_id(n, &out->leader);
	if (sn == NULL)
		return;
	out->snapshots = sn->cat.n;
	out->version = sn->cat.version;
	out->oldest = sn->cat.n ? sn->cat.v[0].epoch : 0;
	out->created = sn->created;
	out->destroyed = sn->destroyed;
	out->failed = sn->failed;
	out->fences = sn->fences;
	out->last_create_us = sn->last_create_us;
}

int snap_node_start(struct node *n)
{
	struct snap_node *sn = calloc(1, sizeof(*sn));
	struct dkv_val v;
	int rc;

	if (sn == NULL)
		return DKV_ERR_NOMEM;
	sn->node = n;
	snap_catalog_init(&sn->cat);
	sn->fence_pin = DKV_EPOCH_MAX;
	rc = dkv_store_get_meta(n->store, META_SNAPCAT, strlen(META_SNAPCAT),
				&v);
	if (rc == DKV_OK) {
		rc = snap_catalog_decode(&sn->cat, v.data, v.len);
		dkv_val_release(&v);
		if (rc != DKV_OK) {
			free(sn);
			return rc;
		}
	} else if (rc != DKV_ERR_NOT_FOUND) {
		free(sn);
		return rc;
	}
	pthread_mutex_init(&sn->lock, NULL);
	uv_async_init(&n->loop, &sn->async, on_async);
	sn->async.data = sn;
	uv_timer_init(&n->loop, &sn->timer);
	sn->timer.data = sn;
	uv_timer_start(&sn->timer, on_timer, 1000, 1000);
	uv_unref((uv_handle_t *)&sn->timer);
	n->snap = sn;
	pin_update(sn);
	return DKV_OK;
}

void snap_node_stop(struct node *n)
{
	struct snap_node *sn = n->snap;

	if (sn == NULL || sn->stopping)
		return;
	sn->stopping = 1;
	uv_close((uv_handle_t *)&sn->async, NULL);
	uv_close((uv_handle_t *)&sn->timer, NULL);
}

void snap_node_free(struct node *n)
{
	struct snap_node *sn = n->snap;

	if (sn == NULL)
		return;
	snap_catalog_fini(&sn->cat);
	pthread_mutex_destroy(&sn->lock);
	free(sn);
	n->snap = NULL;
}
