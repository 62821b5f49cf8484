/*
 * txn_node.c - the transaction layer bound into dkvd (txn_node.h).
 *
 * Happy paths:
 *   client READ/RANGE/COMMIT1/PREPARE_L/STATUS -> cmd_dkv_txn: a wait is
 *   registered, the message goes to the local part; the part's answer,
 *   sent to the client's coordinator, fills the wait's reply slot.
 *   part -> part on another node: encoded, sent over the peer link; the
 *   peer's cmd_dkv_txn delivers it and answers +OK.
 *   part -> store: a batch becomes a DKV_OP_TXN command of the committer;
 *   its completion comes back through the node's done queue
 *   (txn_node_batch_done), which tells the value cache and then the part.
 * Failure modes: see txn_node.h.
 */
#define _GNU_SOURCE
#include <assert.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "hlc/hlc.h"
#include "proto/txn_wire.h"
#include "server/cmd.h"
#include "server/committer.h"
#include "server/conn.h"
#include "server/node.h"
#include "server/peer.h"
#include "server/req.h"
#include "server/txn_node.h"
#include "txn/coord.h"
#include "txn/part.h"

#define CLIENT_COORD_BIT (UINT64_C(1) << 63)
#define BUSY_BUCKETS 4096

struct lmsg { /* a message for this node, delivered from the loop */
	struct lmsg *next;
	struct txn_msg msg; /* deep copy */
};

struct twait { /* a client request waiting for its answer */
	struct twait *next, *prev;
	struct req *r;
	uint64_t coord;
	struct dkv_txid txid;
	enum txn_msg_type want;
	uint64_t rid;
	uint64_t deadline_ms;
};

struct busy { /* plain writes in flight on a key */
	struct busy *next;
	uint32_t shard, count;
	size_t klen;
	char key[];
};

struct parked { /* a plain request blocked by an intent */
	struct parked *next, *prev;
	struct req *r;
	txn_node_retry_fn retry;
	uint64_t deadline_ms;
};

struct txn_sub { /* a durable batch on its way through the committer */
	struct txn_sub *next_done;
	struct dkv_cmd cmd;
	struct txn_node *tn;
	const struct txn_batch *b;
	txn_done_fn done;
	void *arg;
	uint64_t gen; /* the node's part generation when submitted */
};

/* Fault injection for the crash tests (docs/server.md): DKV_TXN_FAULT
 * "submit=P,done=P[,seed=N]" makes the node SIGKILL itself with
 * probability P right before handing a durable batch to the committer, or
 * right after one became durable and before the participant hears of it
 * (a leader between PREPARING and the PREPAREs, between COMMITTED and the
 * answer, a follower between its intents and PREPARED...). Never set by
 * any configuration file. */
struct txn_fault {
	double submit, done;
	uint64_t rng;
};

struct txn_node {
	struct node *node;
	struct txn_fault fault;
	struct txn_coord *coord; /* the node's own transactions (EXEC) */
	uint64_t rng;            /* xorshift state for txid lo */
	struct txn_part **parts; /* sorted by shard */
	uint32_t *shards;
	size_t nparts;
	uv_timer_t tick;
	uv_idle_t deliver;
	struct lmsg *q_head, *q_tail;
	struct twait *waits;
	struct parked *parked;
	struct busy *busy[BUSY_BUCKETS];
	size_t nbusy;
	size_t busy_lost; /* adds with no entry (allocation failed): while
			     any is in flight, every key counts as busy */
	struct dkv_val last; /* the last get's value (txn_io: valid until the
				next store call) */
	struct txn_wire_mem mem;
	uint64_t plain_waits;
	int stopping;
};

static void fault_init(struct txn_fault *f, uint32_t node_id)
{
	const char *env = getenv("DKV_TXN_FAULT");
	unsigned long long seed = (unsigned long long)uv_hrtime() ^ node_id;

	memset(f, 0, sizeof(*f));
	if (env == NULL)
		return;
	for (const char *p = env; p != NULL && *p; ) {
		if (strncmp(p, "submit=", 7) == 0)
			f->submit = strtod(p + 7, NULL);
		else if (strncmp(p, "done=", 5) == 0)
			f->done = strtod(p + 5, NULL);
		else if (strncmp(p, "seed=", 5) == 0)
			/* Each incarnation draws its own sequence: with the
			 * seed alone a restarted node would die again at the
			 * same write, over and over (a restart storm). */
			seed = strtoull(p + 5, NULL, 10) ^ node_id ^
			       ((unsigned long long)getpid() << 20);
		p = strchr(p, ',');
		p = p ? p + 1 : NULL;
	}
	f->rng = seed | 1;
	DKV_WARN("txn", "fault injection on: submit=%g done=%g rng=%llu",
		 f->submit, f->done, seed);
}

/* Dies with probability p (SIGKILL: no cleanup, as a crash). */
static void fault_maybe(struct txn_fault *f, double p, const char *where)
{
	uint64_t x;

	if (p <= 0)
		return;
	x = f->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	f->rng = x;
	if ((double)(x >> 11) / 9007199254740992.0 < p) {
		DKV_WARN("txn", "fault injection: killed %s", where);
		raise(SIGKILL);
	}
}

static uint64_t now_ms(void *ctx)
{
	(void)ctx;
	return uv_hrtime() / 1000000u;
}

/* The node's coordinator: the node id in the high half. */
static uint64_t coord_id(const struct node *n)
{
	return ((uint64_t)n->cfg.node_id << 32) | 1u;
}

static struct txn_part *part_of(struct txn_node *tn, uint32_t shard)
{
	size_t lo = 0, hi = tn->nparts;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (tn->shards[mid] == shard)
			return tn->parts[mid];
		if (tn->shards[mid] < shard)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* --- store ops -------------------------------------------------------------- */

static int io_get(void *ctx, uint32_t shard, const char *key, size_t klen,
		  uint64_t epoch, struct txn_version *out)
{
	struct txn_node *tn = ctx;
	int tomb = 0, rc;

	dkv_val_release(&tn->last);
	memset(out, 0, sizeof(*out));
	rc = dkv_store_get_newest(tn->node->store, shard, key, klen, epoch,
				  &tn->last, &tomb);
	if (rc == DKV_ERR_NOT_FOUND)
		return DKV_OK; /* TXN_V_NONE */
	if (rc != DKV_OK)
		return rc;
	out->kind = tomb ? TXN_V_DEL : TXN_V_PUT;
	out->epoch = tn->last.epoch;
	out->val = tomb ? "" : tn->last.data;
	out->vlen = tomb ? 0 : tn->last.len;
	return DKV_OK;
}

struct range_adapt {
	txn_version_cb cb;
	void *arg;
};

static int range_adapt_cb(void *ctx, const char *key, size_t klen,
			  uint64_t epoch, int tombstone, const char *val,
			  size_t vlen)
{
	struct range_adapt *a = ctx;
	struct txn_version v = {
		.kind = tombstone ? TXN_V_DEL : TXN_V_PUT,
		.epoch = epoch,
		.val = val,
		.vlen = vlen,
	};

	return a->cb(a->arg, key, klen, &v);
}

static int io_range(void *ctx, uint32_t shard, const char *start, size_t slen,
		    const char *end, size_t elen, uint64_t epoch,
		    txn_version_cb cb, void *arg)
{
	struct txn_node *tn = ctx;
	struct range_adapt a = { cb, arg };
	int rc;

	rc = dkv_store_range_newest(tn->node->store, shard,
				    slen ? start : NULL, slen,
				    elen ? end : NULL, elen, epoch,
				    range_adapt_cb, &a);
	return rc < 0 ? rc : DKV_OK;
}

struct plain_adapt {
	txn_plain_cb cb;
	void *arg;
};

static int plain_adapt_cb(void *ctx, const char *key, size_t klen,
			  const char *val, size_t vlen, uint64_t epoch)
{
	struct plain_adapt *a = ctx;

	(void)epoch;
	return a->cb(a->arg, key, klen, val, vlen);
}

static int io_scan_plain(void *ctx, uint32_t shard, const char *prefix,
			 size_t plen, txn_plain_cb cb, void *arg)
{
	struct txn_node *tn = ctx;
	struct plain_adapt a = { cb, arg };
	char *end = NULL;
	size_t elen = plen;
	int rc;

	/* [prefix, prefix + 1): the last byte below 0xff raised by one. */
	while (elen > 0 && (unsigned char)prefix[elen - 1] == 0xff)
		elen--;
	if (elen > 0) {
		end = malloc(elen);
		if (end == NULL)
			return DKV_ERR_NOMEM;
		memcpy(end, prefix, elen);
		end[elen - 1]++;
	}
	rc = dkv_store_scan_plain(tn->node->store, shard, prefix, plen, end,
				  elen, plain_adapt_cb, &a);
	free(end);
	return rc < 0 ? rc : DKV_OK;
}

static void sub_done_committer(struct dkv_cmd *cmd)
{
	struct txn_sub *s = cmd->ctx;
	struct node *n = s->tn->node;

	/* To the loop, through the node's completion queue. */
	pthread_mutex_lock(&n->done_lock);
	s->next_done = NULL;
	if (n->txn_done_tail)
		n->txn_done_tail->next_done = s;
	else
		n->txn_done_head = s;
	n->txn_done_tail = s;
	pthread_mutex_unlock(&n->done_lock);
	uv_async_send(&n->done_async);
}

static int io_submit(void *ctx, const struct txn_batch *b, txn_done_fn done,
		     void *arg)
{
	struct txn_node *tn = ctx;
	struct txn_sub *s;

	if (tn->stopping)
		return DKV_ERR_CLOSED;
	fault_maybe(&tn->fault, tn->fault.submit, "before a durable write");
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return DKV_ERR_NOMEM;
	tn->node->inflight++; /* a drain waits for it */
	s->tn = tn;
	s->b = b;
	s->done = done;
	s->arg = arg;
	s->cmd.op = DKV_OP_TXN;
	s->cmd.shard = b->shard;
	s->cmd.txn = b;
	s->cmd.done = sub_done_committer;
	s->cmd.ctx = s;
	dkv_committer_submit(tn->node->committer, &s->cmd);
	return DKV_OK;
}

size_t txn_node_pending_at(struct node *n, uint64_t epoch)
{
	struct txn_node *tn = n->txn;
	size_t sum = 0;

	if (tn == NULL)
		return 0;
	for (size_t i = 0; i < tn->nparts; i++)
		if (tn->parts[i] != NULL)
			sum += txn_part_pending_at(tn->parts[i], epoch);
	return sum;
}

struct txn_sub *txn_sub_next(const struct txn_sub *s)
{
	return s->next_done;
}

void txn_node_batch_done(struct txn_sub *s)
{
	struct txn_node *tn = s->tn;
	int rc = s->cmd.rc;

	/* Versions written behind the value cache's back: forget them
	 * before anyone hears of the commit (rcache.h, rule 1). */
	for (size_t i = 0; rc == DKV_OK && i < s->b->n; i++) {
		const struct txn_bent *e = &s->b->v[i];

		if (e->op == TXN_BOP_PUT || e->op == TXN_BOP_DEL)
			rcache_forget(&tn->node->rcache, s->b->shard, e->key,
				      e->klen);
	}
	tn->node->inflight--;
	if (rc == DKV_OK)
		fault_maybe(&tn->fault, tn->fault.done,
			    "after a durable write, before it was announced");
	s->done(s->arg, rc);
	free(s);
}

/* --- transport ------------------------------------------------------------ */

static int wait_matches(const struct twait *w, const struct txn_msg *m)
{
	if (w->coord != m->to.id || !dkv_txid_eq(&w->txid, txn_msg_txid(m)))
		return 0;
	switch (m->type) {
	case TXN_MSG_READ_REPLY:
		return w->want == TXN_MSG_READ && w->rid == m->u.read_reply.rid;
	case TXN_MSG_RANGE_REPLY:
		return w->want == TXN_MSG_RANGE &&
		       w->rid == m->u.range_reply.rid;
	case TXN_MSG_OUTCOME:
		return w->want == TXN_MSG_COMMIT1 ||
		       w->want == TXN_MSG_PREPARE_L;
	case TXN_MSG_STATUS_REPLY:
		return w->want == TXN_MSG_STATUS;
	default:
		return 0;
	}
}

static void wait_finish(struct txn_node *tn, struct twait *w,
			const struct txn_msg *m)
{
	struct resp_buf *b = &w->r->slot->buf;

	if (w->prev)
		w->prev->next = w->next;
	else
		tn->waits = w->next;
	if (w->next)
		w->next->prev = w->prev;
	if (m == NULL || txn_wire_encode(b, m) != DKV_OK)
		resp_put_null_array(b);
	req_complete_raw(w->r);
	free(w);
}

/* A message for a client's coordinator: the answer of its waiting
 * requests, or nothing (lost). */
static void to_client(struct txn_node *tn, const struct txn_msg *m)
{
	struct twait *w, *next;

	for (w = tn->waits; w != NULL; w = next) {
		next = w->next;
		if (wait_matches(w, m))
			wait_finish(tn, w, m);
	}
}

static void deliver(struct txn_node *tn, const struct txn_msg *m)
{
	struct txn_part *p;

	if (m->to.kind == TXN_ADDR_COORD) {
		if (m->to.id & CLIENT_COORD_BIT)
			to_client(tn, m);
		else if (tn->coord != NULL &&
			 m->to.id == coord_id(tn->node))
			txn_coord_recv(tn->coord, m);
		return;
	}
	if (m->to.kind != TXN_ADDR_SHARD)
		return;
	p = part_of(tn, (uint32_t)m->to.id);
	if (p != NULL)
		txn_part_recv(p, m);
}

static void deliver_cb(uv_idle_t *h)
{
	struct txn_node *tn = h->data;

	while (tn->q_head != NULL) {
		struct lmsg *l = tn->q_head;

		tn->q_head = l->next;
		if (tn->q_head == NULL)
			tn->q_tail = NULL;
		deliver(tn, &l->msg);
		txn_msg_free(&l->msg);
		free(l);
	}
	uv_idle_stop(h);
}

static void enqueue_local(struct txn_node *tn, const struct txn_msg *m)
{
	struct lmsg *l = calloc(1, sizeof(*l));

	if (l == NULL || txn_msg_copy(&l->msg, m) != DKV_OK) {
		free(l);
		return; /* lost: the protocol resends */
	}
	if (tn->q_tail)
		tn->q_tail->next = l;
	else
		tn->q_head = l;
	tn->q_tail = l;
	uv_idle_start(&tn->deliver, deliver_cb);
}

/* Node to node, one way: DKV.TXNQ, which the peer never answers. */
static void send_remote(struct txn_node *tn, uint32_t node_id,
			const struct txn_msg *m)
{
	struct resp_buf b;

	resp_buf_init(&b, 0);
	if (txn_wire_encode_oneway(&b, m) == DKV_OK)
		(void)peer_send_oneway(tn->node, node_id, b.data, b.len);
	resp_buf_free(&b);
}

static void io_send(void *ctx, const struct txn_msg *m)
{
	struct txn_node *tn = ctx;
	struct node *n = tn->node;
	const struct dkv_map_node *owner;

	if (tn->stopping)
		return;
	if (m->to.kind == TXN_ADDR_COORD) {
		uint64_t id = m->to.id;

		if (id & CLIENT_COORD_BIT)
			enqueue_local(tn, m); /* its wait is here */
		else if ((uint32_t)(id >> 32) == n->cfg.node_id)
			enqueue_local(tn, m);
		else
			send_remote(tn, (uint32_t)(id >> 32), m);
		return;
	}
	if (m->to.kind != TXN_ADDR_SHARD || n->map == NULL ||
	    dkv_map_shard_node(n->map, (uint32_t)m->to.id, &owner) != DKV_OK)
		return;
	if (owner->id == n->cfg.node_id)
		enqueue_local(tn, m);
	else
		send_remote(tn, owner->id, m);
}

/* --- the DKV.TXN command -------------------------------------------------- */

static int wants_answer(enum txn_msg_type t)
{
	return t == TXN_MSG_READ || t == TXN_MSG_RANGE ||
	       t == TXN_MSG_COMMIT1 || t == TXN_MSG_PREPARE_L ||
	       t == TXN_MSG_STATUS;
}

/* Decodes a DKV.TXN / DKV.TXNQ command within this node's key and value
 * limits (the message borrows tn->mem until the next decode). */
static int decode_msg(struct txn_node *tn, const struct resp_cmd *cmd,
		      struct txn_msg *m)
{
	struct txn_wire_limits lim;

	txn_wire_limits_default(&lim);
	lim.max_key = tn->node->cfg.max_key;
	lim.max_value = tn->node->cfg.max_value;
	return txn_wire_decode_cmd(cmd, &lim, m, &tn->mem);
}

/* DKV.TXNQ: a message from another node, one way. Nothing is ever
 * answered on the connection (the sender keeps no reply slot): a message
 * that cannot be decoded or delivered is dropped, as a lost one. */
void cmd_dkv_txnq(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct txn_node *tn = n->txn;
	const struct dkv_map_node *owner;
	struct txn_msg m;

	if (tn == NULL || tn->stopping)
		return;
	if (decode_msg(tn, cmd, &m) != DKV_OK) {
		n->stats.errors++;
		DKV_DEBUG("txn", "DKV.TXNQ dropped: %s",
			  txn_wire_error(&tn->mem));
		return;
	}
	if (m.to.kind == TXN_ADDR_SHARD) {
		if (n->map == NULL ||
		    dkv_map_shard_node(n->map, (uint32_t)m.to.id, &owner) !=
			    DKV_OK)
			return;
		if (owner->id != n->cfg.node_id) { /* the map moved it */
			send_remote(tn, owner->id, &m);
			return;
		}
	}
	deliver(tn, &m);
}

void cmd_dkv_txn(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct txn_node *tn = n->txn;
	const struct dkv_map_node *owner;
	struct resp_buf *b;
	struct txn_msg m;
	struct twait *w;
	struct req *r;
	int rc;

	if (tn == NULL) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "TRYAGAIN DKV.TXN: transactions not "
					   "ready on this node");
		return;
	}
	rc = decode_msg(tn, cmd, &m);
	if (rc != DKV_OK) {
		/* "ERR dkv: <why> (PROTO)": libdkv fails such a request at
		 * once instead of resending it. */
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "ERR dkv: DKV.TXN: %s (%s)",
					txn_wire_error(&tn->mem),
					dkv_errname(rc));
		return;
	}
	if (m.to.kind == TXN_ADDR_SHARD) {
		if (n->map == NULL ||
		    dkv_map_shard_node(n->map, (uint32_t)m.to.id, &owner) !=
			    DKV_OK) {
			b = conn_reply_buf(c);
			if (b && n->map == NULL)
				resp_put_errorf(b, "CLUSTERDOWN no cluster map "
						   "on this node");
			else if (b)
				resp_put_errorf(b, "ERR dkv: DKV.TXN: no shard "
						   "%llu (NO_SHARD)",
						(unsigned long long)m.to.id);
			return;
		}
		if (owner->id != n->cfg.node_id) {
			peer_forward(n, owner->id, c, cmd);
			return;
		}
	}
	if (m.from.kind != TXN_ADDR_COORD ||
	    !(m.from.id & CLIENT_COORD_BIT) || !wants_answer(m.type) ||
	    m.to.kind != TXN_ADDR_SHARD) {
		/* One way: node to node. */
		b = conn_reply_buf(c);
		if (b)
			resp_put_ok(b);
		deliver(tn, &m);
		return;
	}
	/* A client's request: its answer is the reply. */
	r = req_new_read(c, CMD_DKV_TXN, cmd, 0);
	w = calloc(1, sizeof(*w));
	if (r == NULL || w == NULL || req_begin(r) != DKV_OK) {
		if (r)
			req_discard(r);
		free(w);
		b = conn_reply_buf(c);
		if (b)
			cmd_put_err(b, DKV_ERR_NOMEM);
		return;
	}
	w->r = r;
	w->coord = m.from.id;
	w->txid = *txn_msg_txid(&m);
	w->want = m.type;
	w->rid = m.type == TXN_MSG_READ    ? m.u.read.rid
		 : m.type == TXN_MSG_RANGE ? m.u.range.rid
					   : 0;
	w->deadline_ms = now_ms(NULL) + TXN_NODE_WAIT_MS;
	w->next = tn->waits;
	if (tn->waits)
		tn->waits->prev = w;
	tn->waits = w;
	deliver(tn, &m);
}

/* --- plain commands and intents ------------------------------------------ */

int txn_node_locked(struct node *n, uint32_t shard, const char *key,
		    size_t klen, int read_only)
{
	struct txn_part *p = n->txn ? part_of(n->txn, shard) : NULL;

	return p != NULL &&
	       txn_part_locked(p, key, klen,
			       read_only ? TXN_LOCK_READ : TXN_LOCK_WRITE);
}

static uint32_t busy_hash(uint32_t shard, const char *key, size_t klen)
{
	uint32_t h = 2166136261u ^ shard;

	for (size_t i = 0; i < klen; i++)
		h = (h ^ (uint8_t)key[i]) * 16777619u;
	return h % BUSY_BUCKETS;
}

static struct busy **busy_slot(struct txn_node *tn, uint32_t shard,
			       const char *key, size_t klen)
{
	struct busy **pp = &tn->busy[busy_hash(shard, key, klen)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->shard == shard && (*pp)->klen == klen &&
		    memcmp((*pp)->key, key, klen) == 0)
			break;
	return pp;
}

void txn_node_busy_add(struct node *n, uint32_t shard, const char *key,
		       size_t klen)
{
	struct txn_node *tn = n->txn;
	struct busy **pp, *b;

	if (tn == NULL)
		return;
	pp = busy_slot(tn, shard, key, klen);
	if (*pp != NULL) {
		(*pp)->count++;
		return;
	}
	b = malloc(sizeof(*b) + klen);
	if (b == NULL) {
		tn->busy_lost++; /* every key busy until its del */
		return;
	}
	b->next = NULL;
	b->shard = shard;
	b->count = 1;
	b->klen = klen;
	memcpy(b->key, key, klen);
	*pp = b;
	tn->nbusy++;
}

void txn_node_busy_del(struct node *n, uint32_t shard, const char *key,
		       size_t klen)
{
	struct txn_node *tn = n->txn;
	struct busy **pp, *b;

	if (tn == NULL)
		return;
	pp = busy_slot(tn, shard, key, klen);
	b = *pp;
	if (b == NULL) { /* its add found no memory */
		assert(tn->busy_lost > 0);
		tn->busy_lost--;
		return;
	}
	if (--b->count > 0)
		return;
	*pp = b->next;
	free(b);
	tn->nbusy--;
}

static int io_busy(void *ctx, uint32_t shard, const char *key, size_t klen)
{
	struct txn_node *tn = ctx;

	return tn->busy_lost > 0 ||
	       (tn->nbusy > 0 && *busy_slot(tn, shard, key, klen) != NULL);
}

int txn_node_busy(struct node *n, uint32_t shard, const char *key,
		  size_t klen)
{
	return n->txn != NULL && io_busy(n->txn, shard, key, klen);
}

static int key_in(const char *k, size_t kl, const char *s, size_t sl,
		  const char *e, size_t el)
{
	size_t m;
	int r;

	if (sl > 0) {
		m = kl < sl ? kl : sl;
		r = memcmp(k, s, m);
		if (r < 0 || (r == 0 && kl < sl))
			return 0;
	}
	if (el > 0) {
		m = kl < el ? kl : el;
		r = memcmp(k, e, m);
		if (r > 0 || (r == 0 && kl >= el))
			return 0;
	}
	return 1;
}

static int io_busy_range(void *ctx, uint32_t shard, const char *start,
			 size_t slen, const char *end, size_t elen)
{
	struct txn_node *tn = ctx;

	if (tn->busy_lost > 0)
		return 1;
	if (tn->nbusy == 0)
		return 0;
	for (size_t i = 0; i < BUSY_BUCKETS; i++)
		for (struct busy *b = tn->busy[i]; b != NULL; b = b->next)
			if (b->shard == shard &&
			    key_in(b->key, b->klen, start, slen, end, elen))
				return 1;
	return 0;
}

int txn_node_park(struct node *n, struct req *r, txn_node_retry_fn retry)
{
	struct txn_node *tn = n->txn;
	struct parked *p = calloc(1, sizeof(*p));

	if (p == NULL || tn == NULL) {
		free(p);
		return DKV_ERR_NOMEM;
	}
	p->r = r;
	p->retry = retry;
	p->deadline_ms = now_ms(NULL) + TXN_NODE_PLAIN_WAIT_MS;
	p->next = tn->parked;
	if (tn->parked)
		tn->parked->prev = p;
	tn->parked = p;
	tn->plain_waits++;
	return DKV_OK;
}

/* Gives every parked plain request another go (each re-checks its keys
 * and parks again if still blocked). */
static void retry_parked(struct txn_node *tn, uint64_t now)
{
	struct parked *list = tn->parked, *p, *next;

	tn->parked = NULL;
	for (p = list; p != NULL; p = next) {
		next = p->next;
		p->retry(p->r, now >= p->deadline_ms);
		free(p);
	}
}

/* --- life ------------------------------------------------------------------ */

static void tick_cb(uv_timer_t *t)
{
	struct txn_node *tn = t->data;
	uint64_t now = now_ms(NULL);
	struct twait *w, *next;

	for (size_t i = 0; i < tn->nparts; i++)
		txn_part_tick(tn->parts[i], now);
	if (tn->coord != NULL)
		txn_coord_tick(tn->coord, now);
	for (w = tn->waits; w != NULL; w = next) {
		next = w->next;
		if (now >= w->deadline_ms)
			wait_finish(tn, w, NULL);
	}
	if (tn->parked != NULL)
		retry_parked(tn, now);
}

static int add_part(struct txn_node *tn, uint32_t shard)
{
	struct node *n = tn->node;
	struct txn_part_conf conf;
	struct txn_io io = {
		.ctx = tn,
		.get = io_get,
		.range = io_range,
		.scan_plain = io_scan_plain,
		.submit = io_submit,
		.send = io_send,
		.busy = io_busy,
		.busy_range = io_busy_range,
		.now_ms = now_ms,
		.hlc = n->hlc,
	};
	struct txn_part *p = NULL, **parts;
	uint32_t *shards;
	size_t at;
	int rc;

	txn_part_conf_init(&conf, shard);
	conf.max_key = n->cfg.max_key;
	conf.max_value = n->cfg.max_value;
	rc = txn_part_create(&io, &conf, &p);
	if (rc != DKV_OK)
		return rc;
	parts = realloc(tn->parts, (tn->nparts + 1) * sizeof(*parts));
	if (parts != NULL)
		tn->parts = parts;
	shards = realloc(tn->shards, (tn->nparts + 1) * sizeof(*shards));
	if (shards != NULL)
		tn->shards = shards;
	if (parts == NULL || shards == NULL) {
		txn_part_destroy(p);
		return DKV_ERR_NOMEM;
	}
	for (at = tn->nparts; at > 0 && tn->shards[at - 1] > shard; at--) {
		tn->shards[at] = tn->shards[at - 1];
		tn->parts[at] = tn->parts[at - 1];
	}
	tn->shards[at] = shard;
	tn->parts[at] = p;
	tn->nparts++;
	rc = txn_part_recover(p);
	if (rc != DKV_OK)
		DKV_ERROR("txn", "shard %u: recovery failed: %s", shard,
			  dkv_strerror(rc));
	return rc;
}

void txn_node_map_changed(struct node *n)
{
	struct txn_node *tn = n->txn;
	size_t count;

	if (tn == NULL || n->map == NULL)
		return;
	count = dkv_map_nshards(n->map);
	for (uint32_t s = 0; s < count; s++) {
		const struct dkv_map_node *owner;

		if (dkv_map_shard_node(n->map, s, &owner) != DKV_OK ||
		    owner->id != n->cfg.node_id || part_of(tn, s) != NULL)
			continue;
		(void)add_part(tn, s);
	}
}

static uint64_t coord_rand64(void *ctx)
{
	struct txn_node *tn = ctx;
	uint64_t x = tn->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	tn->rng = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

static uint32_t coord_shard_of(void *ctx, const char *key, size_t klen)
{
	struct txn_node *tn = ctx;
	uint32_t shard = 0;

	if (tn->node->map != NULL)
		(void)dkv_map_key_shard(tn->node->map, key, klen, &shard);
	return shard;
}

int txn_node_open(struct node *n, struct txn_tx **out)
{
	if (n->txn == NULL || n->txn->coord == NULL || n->map == NULL)
		return DKV_ERR_STATE;
	return txn_open(n->txn->coord, out);
}

int txn_node_open_at(struct node *n, uint64_t epoch, struct txn_tx **out)
{
	if (n->txn == NULL || n->txn->coord == NULL || n->map == NULL)
		return DKV_ERR_STATE;
	return txn_open_at(n->txn->coord, epoch, out);
}

int txn_node_start(struct node *n)
{
	struct txn_node *tn = calloc(1, sizeof(*tn));
	struct txn_coord_io cio;
	struct txn_coord_conf cconf;
	int rc;

	if (tn == NULL)
		return DKV_ERR_NOMEM;
	tn->node = n;
	fault_init(&tn->fault, n->cfg.node_id);
	tn->rng = uv_hrtime() ^ ((uint64_t)n->cfg.node_id << 40) ^
		  UINT64_C(0x9E3779B97F4A7C15);
	memset(&cio, 0, sizeof(cio));
	cio.ctx = tn;
	cio.send = io_send;
	cio.now_ms = now_ms;
	cio.rand64 = coord_rand64;
	cio.shard_of = coord_shard_of;
	cio.hlc = n->hlc;
	txn_coord_conf_init(&cconf, coord_id(n));
	cconf.max_key = n->cfg.max_key;
	cconf.max_value = n->cfg.max_value;
	rc = txn_coord_create(&cio, &cconf, &tn->coord);
	if (rc != DKV_OK) {
		free(tn);
		return rc;
	}
	txn_wire_mem_init(&tn->mem);
	n->txn = tn;
	uv_timer_init(&n->loop, &tn->tick);
	tn->tick.data = tn;
	uv_idle_init(&n->loop, &tn->deliver);
	tn->deliver.data = tn;
	txn_node_map_changed(n);
	uv_timer_start(&tn->tick, tick_cb, TXN_NODE_TICK_MS, TXN_NODE_TICK_MS);
	uv_unref((uv_handle_t *)&tn->tick);
	return DKV_OK;
}

void txn_node_stop(struct node *n)
{
	struct txn_node *tn = n->txn;

	if (tn == NULL)
		return;
	tn->stopping = 1;
	while (tn->waits != NULL)
		wait_finish(tn, tn->waits, NULL);
	tn->parked == NULL ? (void)0 : retry_parked(tn, UINT64_MAX);
	uv_close((uv_handle_t *)&tn->tick, NULL);
	uv_close((uv_handle_t *)&tn->deliver, NULL);
}

void txn_node_free(struct node *n)
{
	struct txn_node *tn = n->txn;

	if (tn == NULL)
		return;
	txn_coord_destroy(tn->coord);
	for (size_t i = 0; i < tn->nparts; i++)
		txn_part_destroy(tn->parts[i]);
	while (tn->q_head != NULL) {
		struct lmsg *l = tn->q_head;

		tn->q_head = l->next;
		txn_msg_free(&l->msg);
		free(l);
	}
	for (size_t i = 0; i < BUSY_BUCKETS; i++)
		while (tn->busy[i] != NULL) {
			struct busy *b = tn->busy[i];

			tn->busy[i] = b->next;
			free(b);
		}
	dkv_val_release(&tn->last);
	txn_wire_mem_free(&tn->mem);
	free(tn->parts);
	free(tn->shards);
	free(tn);
	n->txn = NULL;
}

void txn_node_info(struct node *n, struct txn_node_info *out)
{
	struct txn_node *tn = n->txn;

	memset(out, 0, sizeof(*out));
	if (tn == NULL)
		return;
	static const char *const names[] = {
#define TXN_REASON_NAME_(N, text) #N,
		TXN_REASONS(TXN_REASON_NAME_)
#undef TXN_REASON_NAME_
	};

	out->ncauses = TXN_R_COUNT_ < 16 ? TXN_R_COUNT_ : 16;
	for (size_t i = 0; i < out->ncauses; i++)
		out->cause[i] = names[i];
	out->parts = tn->nparts;
	out->plain_waits = tn->plain_waits;
	for (size_t i = 0; i < tn->nparts; i++) {
		struct txn_part_info pi;
		const struct txn_part_stats *st = txn_part_stats(tn->parts[i]);

		txn_part_info(tn->parts[i], &pi);
		out->intents += pi.intents;
		out->tombstones += pi.tombstones;
		out->tombstones_disk += st->tombstones_evicted;
		out->undecided += pi.undecided;
		out->parked += pi.parked;
		out->commits += st->commit1 + st->commit2;
		out->aborts += st->aborted;
		out->restarts += st->refused;
		for (size_t k = 0; k < out->ncauses; k++)
			out->restart_by[k] += st->restart_by[k];
	}
}
