/*
 * cmd_kv.c - the key commands (GET MGET EXISTS SET SETNX DEL INCR DECR
 * INCRBY DECRBY APPEND) and dkv's own (DKV.SHARDOF DKV.MAP DKV.SETMAP
 * DKV.EPOCH), with Redis semantics.
 *
 * Reads run on the loop thread when the data is in memory and move to the
 * worker pool when it is not. Writes are shard commands (apply.h) given to
 * the committer; the reply is sent when their group is durable.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "server/cmd.h"
#include "server/conn.h"
#include "server/node.h"
#include "server/peer.h"
#include "server/rcache.h"
#include "server/req.h"
#include "server/txn_node.h"

static int arg_is(const struct resp_cmd *cmd, size_t i, const char *s)
{
	return cmd->argvlen[i] == strlen(s) &&
	       strncasecmp(cmd->argv[i], s, cmd->argvlen[i]) == 0;
}

/* Where key lives: 0 with the local shard; 1 with *owner, another node's
 * id; -1 after writing an error reply into b. */
static int locate(struct conn *c, const char *key, size_t klen,
		  uint32_t *shard, uint32_t *owner_id, struct resp_buf *b)
{
	struct node *n = c->node;
	const struct dkv_map_node *owner;
	int rc;

	if (n->map == NULL) {
		static const char msg[] =
			"CLUSTERDOWN no cluster map on this node: create the "
			"cluster with 'dkv cluster create'";
		resp_put_error(b, msg, sizeof(msg) - 1);
		return -1;
	}
	if (klen == 0) {
		resp_put_errorf(b, "ERR dkv does not store empty keys");
		return -1;
	}
	if (klen > n->cfg.max_key) {
		resp_put_errorf(b, "ERR key is longer than the limit (%u bytes)",
				n->cfg.max_key);
		return -1;
	}
	rc = dkv_map_key_node(n->map, key, klen, shard, &owner);
	if (rc != DKV_OK) {
		cmd_put_err(b, rc);
		return -1;
	}
	*owner_id = owner->id;
	if (c->routed_version != 0) {
		/* A client that routes by itself: serve only what it sent to
		 * the right node under the current map; redirect the rest,
		 * naming the owner and the current version (docs/server.md). */
		uint64_t v = dkv_map_version(n->map);

		if (c->routed_version > v) {
			resp_put_errorf(b, "TRYAGAIN this node's map (version "
					   "%llu) is older than the client's",
					(unsigned long long)v);
			return -1;
		}
		if (c->routed_version < v || owner->id != n->cfg.node_id) {
			resp_put_errorf(b, "MOVED %u %s %llu", *shard,
					owner->addr, (unsigned long long)v);
			return -1;
		}
	}
	return owner->id == n->cfg.node_id ? 0 : 1;
}

/* Forwards the whole command when every key of it lives on one other
 * node, and gathers it from several nodes when its keys are spread
 * (MGET, DEL, EXISTS: gather is their id, else CMD_COUNT). Returns 1 if
 * forwarded (or answered), 0 if local. Keys are argv[first],
 * argv[first + step], ... up to the end. */
static int forward_if_remote(struct conn *c, const struct resp_cmd *cmd,
			     size_t first, size_t step, enum cmd_id gather)
{
	struct resp_buf tmp;
	uint32_t shard, owner = 0, o;
	int where = 0;

	resp_buf_init(&tmp, 0);
	for (size_t i = first; i < cmd->argc; i += step) {
		int w = locate(c, cmd->argv[i], cmd->argvlen[i], &shard, &o,
			       &tmp);

		if (w >= 0 && i > first && o != owner && gather != CMD_COUNT) {
			resp_buf_free(&tmp);
			cmd_gather(c, cmd, gather);
			return 1;
		}
		if (w < 0 || (i > first && (w != where || o != owner))) {
			struct resp_buf *b = conn_reply_buf(c);

			if (b && w < 0)
				resp_put_raw(b, tmp.data, tmp.len);
			else if (b)
				resp_put_errorf(b, "CROSSSLOT Keys in request "
						   "don't live on one node");
			resp_buf_free(&tmp);
			return 1;
		}
		where = w;
		owner = o;
	}
	resp_buf_free(&tmp);
	if (where == 0)
		return 0;
	peer_forward(c->node, owner, c, cmd);
	return 1;
}

/* Finds the local shard of key; otherwise writes the error reply (a key
 * of another node reaching here is a routing bug: answer MOVED) and
 * returns nonzero. */
static int route(struct conn *c, const char *key, size_t klen,
		 uint32_t *shard, struct resp_buf *b)
{
	const struct dkv_map_node *owner;
	uint32_t owner_id;
	int w = locate(c, key, klen, shard, &owner_id, b);

	if (w <= 0)
		return w;
	owner = dkv_map_node_find(c->node->map, owner_id);
	resp_put_errorf(b, "MOVED %u %s", *shard, owner ? owner->addr : "?");
	return -1;
}

/* --- requests that leave the loop ------------------------------------------- */

void req_post(struct req *r)
{
	struct node *n = r->conn->node;

	r->next_done = NULL;
	pthread_mutex_lock(&n->done_lock);
	if (n->done_tail)
		n->done_tail->next_done = r;
	else
		n->done_head = r;
	n->done_tail = r;
	pthread_mutex_unlock(&n->done_lock);
	uv_async_send(&n->done_async);
}

static void req_free(struct req *r)
{
	for (size_t i = 0; r->vals && i < r->n; i++)
		dkv_val_release(&r->vals[i]);
	for (size_t i = 0; r->cmds && i < r->n; i++)
		dkv_val_release(&r->cmds[i].old);
	free(r->vals);
	free(r->found);
	free(r->cmds);
	free(r->shards);
	free(r->argv);
	free(r);
}

/* A request with copies of cmd's arguments and n commands or keys. */
static struct req *req_new(struct conn *c, enum req_kind kind, enum cmd_id id,
			   const struct resp_cmd *cmd, size_t n)
{
	struct req *r = calloc(1, sizeof(*r));
	size_t bytes = 0;
	char *p;

	if (r == NULL)
		return NULL;
	for (size_t i = 0; i < cmd->argc; i++)
		bytes += cmd->argvlen[i];
	r->argv = malloc(cmd->argc * (sizeof(char *) + sizeof(size_t)) +
			 bytes + 1);
	if (kind == REQ_WRITE)
		r->cmds = calloc(n, sizeof(*r->cmds));
	else {
		r->shards = calloc(n, sizeof(*r->shards));
		r->vals = calloc(n, sizeof(*r->vals));
		r->found = calloc(n, sizeof(*r->found));
	}
	if (r->argv == NULL ||
	    (kind == REQ_WRITE ? r->cmds == NULL
			       : !r->shards || !r->vals || !r->found)) {
		req_free(r);
		return NULL;
	}
	r->argvlen = (size_t *)(r->argv + cmd->argc);
	p = (char *)(r->argvlen + cmd->argc);
	for (size_t i = 0; i < cmd->argc; i++) {
		memcpy(p, cmd->argv[i], cmd->argvlen[i]);
		r->argv[i] = p;
		r->argvlen[i] = cmd->argvlen[i];
		p += cmd->argvlen[i];
	}
	r->argc = cmd->argc;
	r->kind = kind;
	r->id = id;
	r->t0 = cmd_dispatch_start();
	r->conn = c;
	r->n = n;
	atomic_init(&r->pending, (int)n);
	return r;
}

/* Takes a slot and counts the request in flight. */
static int req_start(struct req *r)
{
	struct conn *c = r->conn;

	r->slot = conn_slot_open(c);
	if (r->slot == NULL)
		return DKV_ERR_NOMEM;
	c->inflight++;
	c->node->inflight++;
	if (r->kind == REQ_WRITE)
		c->writes_inflight++;
	else
		c->reads_inflight++;
	return DKV_OK;
}

static void put_read_reply(struct resp_buf *b, enum cmd_id id, size_t n,
			   const struct dkv_val *vals, const int *found,
			   int rc)
{
	int64_t count = 0;

	if (rc != DKV_OK && rc != DKV_ERR_NOT_FOUND) {
		cmd_put_err(b, rc);
		return;
	}
	switch (id) {
	case CMD_GET:
		if (found[0])
			resp_put_bulk(b, vals[0].data, vals[0].len);
		else
			resp_put_null(b);
		return;
	case CMD_MGET:
		resp_put_array(b, n);
		for (size_t i = 0; i < n; i++)
			if (found[i])
				resp_put_bulk(b, vals[i].data, vals[i].len);
			else
				resp_put_null(b);
		return;
	case CMD_EXISTS:
		for (size_t i = 0; i < n; i++)
			count += found[i];
		resp_put_int(b, count);
		return;
	default:
		cmd_put_err(b, DKV_ERR_INTERNAL);
	}
}

static void put_write_reply(struct resp_buf *b, const struct req *r)
{
	int64_t count = 0;

	for (size_t i = 0; i < r->n; i++) {
		if (r->cmds[i].rc != DKV_OK) {
			cmd_put_err(b, r->cmds[i].rc);
			return;
		}
	}
	switch (r->id) {
	case CMD_SET:
		if (r->cmds[0].want_old) {
			if (r->cmds[0].old_found)
				resp_put_bulk(b, r->cmds[0].old.data,
					      r->cmds[0].old.len);
			else
				resp_put_null(b);
		} else if (r->cmds[0].applied) {
			resp_put_ok(b);
		} else {
			resp_put_null(b);
		}
		return;
	case CMD_SETNX:
		resp_put_int(b, r->cmds[0].applied);
		return;
	case CMD_DEL:
		for (size_t i = 0; i < r->n; i++)
			count += r->cmds[i].applied;
		resp_put_int(b, count);
		return;
	case CMD_INCR:
	case CMD_DECR:
	case CMD_INCRBY:
	case CMD_DECRBY:
	case CMD_APPEND:
		resp_put_int(b, r->cmds[0].integer);
		return;
	default:
		cmd_put_err(b, DKV_ERR_INTERNAL);
	}
}

/* Tells the newest-value cache what a completed write did (rcache.h,
 * rule 1): durable now, acknowledged right after. */
static void cache_written(struct rcache *rc, const struct req *r)
{
	char num[24];

	for (size_t i = 0; i < r->n; i++) {
		const struct dkv_cmd *k = &r->cmds[i];

		if (k->rc != DKV_OK || k->epoch == 0)
			continue; /* nothing written */
		switch (k->op) {
		case DKV_OP_SET:
			rcache_written(rc, k->shard, k->key, k->klen, k->epoch,
				       1, k->val, k->vlen);
			break;
		case DKV_OP_DEL:
			rcache_written(rc, k->shard, k->key, k->klen, k->epoch,
				       0, NULL, 0);
			break;
		case DKV_OP_INCRBY:
			rcache_written(rc, k->shard, k->key, k->klen, k->epoch,
				       1, num, resp_fmt_i64(num, k->integer));
			break;
		default:
			rcache_forget(rc, k->shard, k->key, k->klen);
		}
	}
}

void req_complete(struct req *r)
{
	if (r->kind == REQ_WRITE) {
		cache_written(&r->conn->node->rcache, r);
		for (size_t i = 0; i < r->n; i++)
			txn_node_busy_del(r->conn->node, r->cmds[i].shard,
					  r->cmds[i].key, r->cmds[i].klen);
	}
	if (r->kind == REQ_READ)
		put_read_reply(&r->slot->buf, r->id, r->n, r->vals, r->found,
			       r->rc);
	else
		put_write_reply(&r->slot->buf, r);
	req_complete_raw(r);
}

struct req *req_new_read(struct conn *c, enum cmd_id id,
			 const struct resp_cmd *cmd, size_t n)
{
	return req_new(c, REQ_READ, id, cmd, n);
}

int req_begin(struct req *r)
{
	return req_start(r);
}

void req_discard(struct req *r)
{
	req_free(r);
}

void req_complete_raw(struct req *r)
{
	struct conn *c = r->conn;

	if (r->kind == REQ_WRITE)
		c->writes_inflight--;
	else
		c->reads_inflight--;
	cmd_record(r->id, r->t0);
	conn_slot_done(c, r->slot);
	req_free(r);
	conn_request_done(c);
}

/* --- reads ----------------------------------------------------------------- */

static void read_work(uv_work_t *w)
{
	struct req *r = w->data;
	for (size_t i = 0; i < r->n; i++) { /* keys are argv[1..] */
		int rc = dkv_store_get(r->conn->node->store, r->shards[i],
				       r->argv[1 + i], r->argvlen[1 + i],
				       DKV_EPOCH_MAX, &r->vals[i]);

		r->found[i] = rc == DKV_OK;
		if (rc != DKV_OK && rc != DKV_ERR_NOT_FOUND && r->rc == DKV_OK)
			r->rc = rc;
	}
}

static void read_after(uv_work_t *w, int status)
{
	struct req *r = w->data;

	if (status != 0 && r->rc == DKV_OK)
		r->rc = DKV_ERR_INTERNAL;
	for (size_t i = 0; r->rc == DKV_OK && i < r->n; i++)
		rcache_fill(&r->conn->node->rcache, r->cache_gen, r->shards[i],
			    r->argv[1 + i], r->argvlen[1 + i],
			    r->vals[i].epoch, r->found[i], r->vals[i].data,
			    r->vals[i].len);
	req_complete(r);
}

/* Whether some key of a read has a transaction's write intent. */
static int read_blocked(struct node *n, const uint32_t *shards,
			const char *const *argv, const size_t *argvlen,
			size_t nkeys)
{
	for (size_t i = 0; n->txn != NULL && i < nkeys; i++)
		if (txn_node_locked(n, shards[i], argv[1 + i], argvlen[1 + i],
				    1))
			return 1;
	return 0;
}

/* Sends a started read request to the worker pool, unless a key has a
 * transaction's write intent: then it waits for the outcome (bounded,
 * then TRYAGAIN), so a read never misses a commit already acknowledged. */
static void read_go(struct req *r, int timed_out)
{
	struct node *n = r->conn->node;

	if (read_blocked(n, r->shards, (const char *const *)r->argv,
			 r->argvlen, r->n)) {
		if (!timed_out && txn_node_park(n, r, read_go) == DKV_OK)
			return;
		resp_put_errorf(&r->slot->buf, "TRYAGAIN key locked by a "
						"transaction in progress");
		req_complete_raw(r);
		return;
	}
	r->cache_gen = rcache_gen(&n->rcache);
	r->work.data = r;
	if (uv_queue_work(&n->loop, &r->work, read_work, read_after) != 0) {
		r->rc = DKV_ERR_INTERNAL;
		req_complete(r);
	}
}

/* GET, MGET, EXISTS: keys are argv[1..]. */
static void do_read(struct conn *c, const struct resp_cmd *cmd, enum cmd_id id)
{
	struct node *n = c->node;
	size_t nkeys = cmd->argc - 1;
	struct dkv_val one_val = { 0 };
	int one_found = 0;
	struct dkv_val *vals = nkeys == 1 ? &one_val : NULL;
	int *found = nkeys == 1 ? &one_found : NULL;
	uint32_t one_shard, *shards = nkeys == 1 ? &one_shard : NULL;
	struct resp_buf *b = conn_reply_buf(c);
	struct req *r;
	unsigned char one_cached = 0, *cached = nkeys == 1 ? &one_cached : NULL;
	int rc = DKV_OK, busy = 0;
	size_t misses = 0;

	if (b == NULL)
		return;
	n->stats.reads++;
	if (nkeys > 1) {
		vals = calloc(nkeys, sizeof(*vals));
		found = calloc(nkeys, sizeof(*found));
		shards = calloc(nkeys, sizeof(*shards));
		cached = calloc(nkeys, sizeof(*cached));
		if (!vals || !found || !shards || !cached) {
			cmd_put_err(b, DKV_ERR_NOMEM);
			goto out;
		}
	}
	for (size_t i = 0; i < nkeys; i++)
		if (route(c, cmd->argv[1 + i], cmd->argvlen[1 + i], &shards[i],
			  b) != 0)
			goto out;
	if (read_blocked(n, shards, cmd->argv, cmd->argvlen, nkeys)) {
		busy = 1; /* through a request that waits (read_go) */
		goto request;
	}
	/* The cache first; hits point into it, so the misses' fills wait
	 * until the reply is written. A key with a plain write in flight
	 * skips it: the store may already hold that write (a transaction's
	 * read, WATCH, may have seen it) while the cache learns of it only
	 * at completion, and a read after WATCH must not go back in time. */
	for (size_t i = 0; i < nkeys; i++) {
		struct rcache_hit hit;

		if (txn_node_busy(n, shards[i], cmd->argv[1 + i],
				  cmd->argvlen[1 + i]) ||
		    !rcache_get(&n->rcache, shards[i], cmd->argv[1 + i],
				cmd->argvlen[1 + i], &hit)) {
			misses++;
			continue;
		}
		found[i] = hit.found;
		vals[i].data = (char *)hit.data;
		vals[i].len = hit.len;
		vals[i].epoch = hit.epoch;
		cached[i] = 1;
	}
	for (size_t i = 0; misses && i < nkeys && !busy; i++) {
		int r1;

		if (cached[i])
			continue;
		r1 = dkv_store_get_flags(n->store, shards[i], cmd->argv[1 + i],
					 cmd->argvlen[1 + i], DKV_EPOCH_MAX,
					 DKV_READ_NO_IO, &vals[i]);
		found[i] = r1 == DKV_OK;
		if (r1 == DKV_ERR_BUSY)
			busy = 1;
		else if (r1 != DKV_OK && r1 != DKV_ERR_NOT_FOUND && !rc)
			rc = r1;
	}
	if (!busy) {
		put_read_reply(b, id, nkeys, vals, found, rc);
		for (size_t i = 0; misses && !rc && i < nkeys; i++) {
			if (cached[i])
				continue;
			rcache_fill(&n->rcache, RCACHE_GEN_NOW, shards[i],
				    cmd->argv[1 + i], cmd->argvlen[1 + i],
				    vals[i].epoch, found[i], vals[i].data,
				    vals[i].len);
		}
		goto out;
	}
	/* Some key is only on disk: read them all on the worker pool. The
	 * reply goes where b would have put it: b's slot if b is one, else
	 * a new pending slot. */
request:
	r = req_new(c, REQ_READ, id, cmd, nkeys);
	if (r == NULL) {
		cmd_put_err(b, DKV_ERR_NOMEM);
		goto out;
	}
	memcpy(r->shards, shards, nkeys * sizeof(*shards));
	if (b != &c->out) {
		/* b is a done slot already queued: make it the request's. */
		struct slot *s = c->slots_tail;

		s->done = 0;
		r->slot = s;
		c->inflight++;
		n->inflight++;
		c->reads_inflight++;
	} else if (req_start(r) != DKV_OK) {
		req_free(r);
		cmd_put_err(b, DKV_ERR_NOMEM);
		goto out;
	}
	n->stats.disk_reads++;
	read_go(r, 0);
out:
	for (size_t i = 0; vals && i < nkeys; i++)
		dkv_val_release(&vals[i]);
	if (nkeys > 1) {
		free(vals);
		free(found);
		free(shards);
		free(cached);
	}
}

void cmd_get(struct conn *c, const struct resp_cmd *cmd)
{
	if (!forward_if_remote(c, cmd, 1, 1, CMD_COUNT))
		do_read(c, cmd, CMD_GET);
}

void cmd_mget(struct conn *c, const struct resp_cmd *cmd)
{
	if (!forward_if_remote(c, cmd, 1, 1, CMD_MGET))
		do_read(c, cmd, CMD_MGET);
}

void cmd_exists(struct conn *c, const struct resp_cmd *cmd)
{
	if (!forward_if_remote(c, cmd, 1, 1, CMD_EXISTS))
		do_read(c, cmd, CMD_EXISTS);
}

/* --- writes ------------------------------------------------------------------ */

static void cmd_done(struct dkv_cmd *cmd)
{
	struct req *r = cmd->ctx;

	if (atomic_fetch_sub(&r->pending, 1) == 1)
		req_post(r);
}

/* Starts a write request whose commands are filled by the caller: keys
 * for command i are routed here. Returns the request or NULL after
 * writing an error reply. */
static struct req *write_begin(struct conn *c, const struct resp_cmd *cmd,
			       enum cmd_id id, size_t ncmds)
{
	struct resp_buf *b;
	struct req *r;

	c->node->stats.writes++;
	r = req_new(c, REQ_WRITE, id, cmd, ncmds);
	if (r == NULL) {
		b = conn_reply_buf(c);
		if (b)
			cmd_put_err(b, DKV_ERR_NOMEM);
		return NULL;
	}
	return r;
}

/* Routes every command's key; on success takes a slot and submits. */
/* Submits a started write request to the committer, unless one of its
 * keys has a transaction's intent: then it waits (txn_node_park) and
 * this runs again; after the wait's bound it fails with TRYAGAIN. */
static void write_go(struct req *r, int timed_out)
{
	struct node *n = r->conn->node;

	for (size_t i = 0; i < r->n; i++) {
		struct dkv_cmd *k = &r->cmds[i];

		if (!txn_node_locked(n, k->shard, k->key, k->klen, 0))
			continue;
		if (!timed_out && txn_node_park(n, r, write_go) == DKV_OK)
			return;
		resp_put_errorf(&r->slot->buf, "TRYAGAIN key locked by a "
						"transaction in progress");
		req_complete_raw(r);
		return;
	}
	for (size_t i = 0; i < r->n; i++)
		txn_node_busy_add(n, r->cmds[i].shard, r->cmds[i].key,
				  r->cmds[i].klen);
	for (size_t i = 0; i < r->n; i++)
		dkv_committer_submit(n->committer, &r->cmds[i]);
}

static void write_submit(struct conn *c, struct req *r)
{
	struct resp_buf tmp;

	resp_buf_init(&tmp, 0);
	for (size_t i = 0; i < r->n; i++) {
		struct dkv_cmd *k = &r->cmds[i];

		if (route(c, k->key, k->klen, &k->shard, &tmp) != 0) {
			struct resp_buf *b = conn_reply_buf(c);

			if (b)
				resp_put_raw(b, tmp.data, tmp.len);
			resp_buf_free(&tmp);
			req_free(r);
			return;
		}
		k->done = cmd_done;
		k->ctx = r;
	}
	resp_buf_free(&tmp);
	if (req_start(r) != DKV_OK) {
		struct resp_buf *b = conn_reply_buf(c);

		if (b)
			cmd_put_err(b, DKV_ERR_NOMEM);
		req_free(r);
		return;
	}
	write_go(r, 0);
}

/* A one-key write request from argv[1] (key) and argv[2] (value, if
 * any), or NULL when the command was forwarded or answered. */
static struct req *one_key_begin(struct conn *c, const struct resp_cmd *cmd,
				 enum cmd_id id, enum dkv_op op, int64_t delta)
{
	struct req *r;

	if (forward_if_remote(c, cmd, 1, cmd->argc, CMD_COUNT))
		return NULL;
	r = write_begin(c, cmd, id, 1);
	if (r == NULL)
		return NULL;
	r->cmds[0].op = op;
	r->cmds[0].key = r->argv[1];
	r->cmds[0].klen = r->argvlen[1];
	if (r->argc > 2) {
		r->cmds[0].val = r->argv[2];
		r->cmds[0].vlen = r->argvlen[2];
	}
	r->cmds[0].delta = delta;
	return r;
}

static void one_key_write(struct conn *c, const struct resp_cmd *cmd,
			  enum cmd_id id, enum dkv_op op, int64_t delta)
{
	struct req *r = one_key_begin(c, cmd, id, op, delta);

	if (r != NULL)
		write_submit(c, r);
}

void cmd_set(struct conn *c, const struct resp_cmd *cmd)
{
	enum dkv_cond cond = DKV_COND_NONE;
	int want_old = 0;
	struct resp_buf *b;
	struct req *r;

	for (size_t i = 3; i < cmd->argc; i++) {
		if (arg_is(cmd, i, "NX") && cond != DKV_COND_XX)
			cond = DKV_COND_NX;
		else if (arg_is(cmd, i, "XX") && cond != DKV_COND_NX)
			cond = DKV_COND_XX;
		else if (arg_is(cmd, i, "GET"))
			want_old = 1;
		else if (arg_is(cmd, i, "EX") || arg_is(cmd, i, "PX") ||
			 arg_is(cmd, i, "EXAT") || arg_is(cmd, i, "PXAT") ||
			 arg_is(cmd, i, "KEEPTTL")) {
			b = conn_reply_buf(c);
			if (b)
				resp_put_errorf(b, "ERR dkv keeps every "
						   "version and has no "
						   "expiry: %.*s is not "
						   "supported",
						(int)cmd->argvlen[i],
						cmd->argv[i]);
			return;
		} else {
			b = conn_reply_buf(c);
			if (b)
				resp_put_error(b, "ERR syntax error", 16);
			return;
		}
	}
	r = one_key_begin(c, cmd, CMD_SET, DKV_OP_SET, 0);
	if (r == NULL)
		return;
	r->cmds[0].cond = cond;
	r->cmds[0].want_old = want_old;
	write_submit(c, r);
}

void cmd_setnx(struct conn *c, const struct resp_cmd *cmd)
{
	struct req *r = one_key_begin(c, cmd, CMD_SETNX, DKV_OP_SET, 0);

	if (r == NULL)
		return;
	r->cmds[0].cond = DKV_COND_NX;
	write_submit(c, r);
}

void cmd_del(struct conn *c, const struct resp_cmd *cmd)
{
	struct req *r;

	if (forward_if_remote(c, cmd, 1, 1, CMD_DEL))
		return;
	r = write_begin(c, cmd, CMD_DEL, cmd->argc - 1);

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n; i++) {
		r->cmds[i].op = DKV_OP_DEL;
		r->cmds[i].key = r->argv[1 + i];
		r->cmds[i].klen = r->argvlen[1 + i];
	}
	write_submit(c, r);
}

static int int_arg(struct conn *c, const struct resp_cmd *cmd, size_t i,
		   int64_t *v)
{
	struct resp_buf *b;

	if (resp_parse_i64(cmd->argv[i], cmd->argvlen[i], v) == 0)
		return 0;
	b = conn_reply_buf(c);
	if (b)
		cmd_put_err(b, DKV_ERR_INVAL);
	return -1;
}

void cmd_incr(struct conn *c, const struct resp_cmd *cmd)
{
	one_key_write(c, cmd, CMD_INCR, DKV_OP_INCRBY, 1);
}

void cmd_decr(struct conn *c, const struct resp_cmd *cmd)
{
	one_key_write(c, cmd, CMD_DECR, DKV_OP_INCRBY, -1);
}

void cmd_incrby(struct conn *c, const struct resp_cmd *cmd)
{
	int64_t v;

	if (int_arg(c, cmd, 2, &v) == 0)
		one_key_write(c, cmd, CMD_INCRBY, DKV_OP_INCRBY, v);
}

void cmd_decrby(struct conn *c, const struct resp_cmd *cmd)
{
	int64_t v;
	struct resp_buf *b;

	if (int_arg(c, cmd, 2, &v) != 0)
		return;
	if (v == INT64_MIN) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_error(b, "ERR decrement would overflow", 28);
		return;
	}
	one_key_write(c, cmd, CMD_DECRBY, DKV_OP_INCRBY, -v);
}

void cmd_append(struct conn *c, const struct resp_cmd *cmd)
{
	one_key_write(c, cmd, CMD_APPEND, DKV_OP_APPEND, 0);
}

/* --- dkv's own ------------------------------------------------------------ */

void cmd_dkv_shardof(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct resp_buf *b = conn_reply_buf(c);
	const struct dkv_map_node *owner;
	uint32_t shard;
	int rc;

	if (b == NULL)
		return;
	if (n->map == NULL) {
		resp_put_error(b, "CLUSTERDOWN no cluster map", 26);
		return;
	}
	rc = dkv_map_key_node(n->map, cmd->argv[1], cmd->argvlen[1], &shard,
			      &owner);
	if (rc != DKV_OK) {
		cmd_put_err(b, rc);
		return;
	}
	resp_put_array(b, 4);
	resp_put_int(b, shard);
	resp_put_int(b, owner->id);
	resp_put_bulk(b, owner->addr, strlen(owner->addr));
	resp_put_int(b, (int64_t)dkv_map_version(n->map));
}

void cmd_dkv_map(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct resp_buf *b = conn_reply_buf(c);
	char *json = NULL;
	size_t len = 0;
	int rc;

	(void)cmd;
	if (b == NULL)
		return;
	if (n->map == NULL) {
		resp_put_null(b);
		return;
	}
	rc = dkv_map_to_json(n->map, 0, &json, &len);
	if (rc != DKV_OK)
		cmd_put_err(b, rc);
	else
		resp_put_bulk(b, json, len);
	free(json);
}

void cmd_dkv_setmap(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct resp_buf *b = conn_reply_buf(c);
	struct dkv_map *m = NULL;
	char err[256] = "";
	int rc;

	if (b == NULL)
		return;
	rc = dkv_map_from_json(cmd->argv[1], cmd->argvlen[1], NULL, &m, err,
			       sizeof(err));
	if (rc != DKV_OK) {
		resp_put_errorf(b, "ERR bad cluster map: %s", err);
		return;
	}
	if (dkv_map_node_find(m, n->cfg.node_id) == NULL) {
		dkv_map_destroy(m);
		resp_put_errorf(b, "ERR the map does not name this node (%u)",
				n->cfg.node_id);
		return;
	}
	/* Blocks the loop for a few synced writes: maps change rarely. */
	rc = node_set_map(n, m);
	if (rc == DKV_ERR_STATE)
		resp_put_error(b, "ERR the map is older than this node's or "
				  "belongs to another cluster", 66);
	else if (rc != DKV_OK)
		cmd_put_err(b, rc);
	else
		resp_put_ok(b);
}

void cmd_dkv_routed(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);
	int64_t v;

	if (b == NULL)
		return;
	if (resp_parse_i64(cmd->argv[1], cmd->argvlen[1], &v) != 0 || v < 0) {
		cmd_put_err(b, DKV_ERR_INVAL);
		return;
	}
	c->routed_version = (uint64_t)v;
	resp_put_ok(b);
}

void cmd_dkv_epoch(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);
	uint64_t e;
	int rc;

	(void)cmd;
	if (b == NULL)
		return;
	rc = dkv_hlc_now(c->node->hlc, &e);
	if (rc != DKV_OK)
		cmd_put_err(b, rc);
	else
		resp_put_int(b, (int64_t)e);
}

/* DKV.CLOCK: [this node's wall clock in Unix ns, its last epoch]. The
 * peers' heartbeat: they measure the wall clock for the fence (hlc.h) and
 * merge the epoch. Issues no epoch, so a fenced node answers too. */
void cmd_dkv_clock(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);
	uint64_t wall = dkv_hlc_wall_ns(NULL);

	(void)cmd;
	if (b == NULL)
		return;
	resp_put_array(b, 2);
	resp_put_int(b, (int64_t)wall);
	resp_put_int(b, (int64_t)dkv_hlc_last(c->node->hlc));
}
