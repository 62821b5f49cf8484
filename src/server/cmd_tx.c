/*
 * cmd_tx.c - MULTI, EXEC, DISCARD, WATCH, UNWATCH and MSET: Redis's
 * transactions, made atomic and serializable across shards and nodes by
 * the transaction layer (a coordinator in the node, txn_node.h).
 *
 *   (none) --MULTI--> QUEUEING --EXEC--> RUNNING --commit--> (none)
 *                        |  \--DISCARD--> (none)        \--restart--> RUNNING
 *                        \--bad command: dirty; EXEC --> EXECABORT
 *
 * Happy path of EXEC: a transaction opens at a fresh epoch; each watched
 * key is read in it and must still be at the version WATCH saw (else
 * EXEC answers a null array, as Redis does); the queued commands run in
 * order inside it (reads at its epoch plus its own writes, writes
 * buffered); it commits; the reply is the array of their replies.
 * Failure modes: a conflict (DKV_ERR_TX_RESTART from a read or the
 * commit) runs the whole body again in a restarted transaction, up to
 * EXEC_MAX_ATTEMPTS, then "-ERR transaction aborted ..."; an unknown
 * outcome (commit timed out) is "-ERR transaction outcome unknown"; a
 * command error inside the body (INCR of a non-number) is that
 * command's error element and its write is not made, as in Redis.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/resp.h"
#include "server/cmd.h"
#include "server/conn.h"
#include "server/node.h"
#include "server/req.h"
#include "server/txn_node.h"
#include "txn/coord.h"
#include "server/snap_node.h"
#include "hlc/hlc.h"
#include <stdio.h>

#define EXEC_MAX_ATTEMPTS 100
#define AT_MAX_ATTEMPTS 5

struct qcmd { /* a queued command: owned copies of its arguments */
	enum cmd_id id;
	size_t argc;
	char **argv;
	size_t *argvlen;
};

struct watched {
	char *key;
	size_t klen;
	uint64_t epoch; /* of the version WATCH saw (0: none) */
};

struct conn_tx {
	int in_multi;
	int dirty;
	struct qcmd *q;
	size_t nq, capq;
	struct watched *w;
	size_t nw, capw;
};

/* A running EXEC (or MSET, or WATCH's reads). */
struct exec {
	struct req *r;
	struct node *n;
	struct txn_tx *tx;
	struct qcmd *q;          /* moved from the connection */
	size_t nq;
	struct watched *w;
	size_t nw;
	int watch_only;          /* WATCH: record epochs, reply +OK */
	int mset;                /* reply +OK instead of an array */
	uint64_t at;             /* DKV.AT: a read-only transaction at this
				    epoch; the reply is the one command's */
	size_t wi, pc, ki;       /* watch, command and key cursors */
	int64_t acc;             /* counts (DEL, EXISTS) */
	struct resp_buf out;     /* replies of the commands done */
	struct resp_buf one;     /* the reply of the current command */
	int attempts;
	int watch_noted;         /* EXEC: watched keys put in the read set
				    unread (txn_note_read), see exec_step */
	struct pfetch *pf;       /* the reads of WATCH or of EXEC's body,
				    issued at once */
	size_t npf, pfpending;
	int pfstate;             /* 0 not yet, 1 in flight, 2 done */
	int pfrc;                /* their first failure */
};

/* A key the body reads, read before the body runs (all at once): the body
 * then takes the answer unless it wrote the key itself first. */
struct pfetch {
	struct exec *e;
	const char *key;         /* into the queued command's arguments */
	size_t klen;
	int rc;                  /* 0, DKV_ERR_NOT_FOUND */
	char *val;               /* a copy (malloc'ed) */
	size_t vlen;
	uint64_t epoch;
};

static int arg_is(const struct qcmd *q, size_t i, const char *s)
{
	return q->argvlen[i] == strlen(s) &&
	       strncasecmp(q->argv[i], s, q->argvlen[i]) == 0;
}

static void qcmd_free(struct qcmd *q)
{
	free(q->argv); /* one allocation with argvlen and the bytes */
}

static int qcmd_copy(struct qcmd *q, enum cmd_id id, size_t argc,
		     const char *const *argv, const size_t *argvlen)
{
	size_t bytes = 0;
	char *p;

	for (size_t i = 0; i < argc; i++)
		bytes += argvlen[i];
	q->argv = malloc(argc * (sizeof(char *) + sizeof(size_t)) + bytes + 1);
	if (q->argv == NULL)
		return DKV_ERR_NOMEM;
	q->argvlen = (size_t *)(q->argv + argc);
	p = (char *)(q->argvlen + argc);
	for (size_t i = 0; i < argc; i++) {
		memcpy(p, argv[i], argvlen[i]);
		q->argv[i] = p;
		q->argvlen[i] = argvlen[i];
		p += argvlen[i];
	}
	q->id = id;
	q->argc = argc;
	return DKV_OK;
}

static void watches_free(struct watched *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(w[i].key);
	free(w);
}

static struct conn_tx *ctx_of(struct conn *c)
{
	if (c->mx == NULL)
		c->mx = calloc(1, sizeof(*c->mx));
	return c->mx;
}

static void queue_clear(struct conn_tx *m)
{
	for (size_t i = 0; i < m->nq; i++)
		qcmd_free(&m->q[i]);
	free(m->q);
	m->q = NULL;
	m->nq = m->capq = 0;
	m->in_multi = 0;
	m->dirty = 0;
}

static void unwatch(struct conn_tx *m)
{
	watches_free(m->w, m->nw);
	m->w = NULL;
	m->nw = m->capw = 0;
}

void conn_tx_free(struct conn *c)
{
	if (c->mx == NULL)
		return;
	queue_clear(c->mx);
	unwatch(c->mx);
	free(c->mx);
	c->mx = NULL;
}

int conn_tx_queueing(const struct conn *c)
{
	return c->mx != NULL && c->mx->in_multi;
}

void conn_tx_mark_dirty(struct conn *c)
{
	if (conn_tx_queueing(c))
		c->mx->dirty = 1;
}

/* Which commands a transaction body may hold. */
static int allowed_in_tx(enum cmd_id id)
{
	switch (id) {
	case CMD_GET:
	case CMD_MGET:
	case CMD_EXISTS:
	case CMD_SET:
	case CMD_SETNX:
	case CMD_DEL:
	case CMD_INCR:
	case CMD_DECR:
	case CMD_INCRBY:
	case CMD_DECRBY:
	case CMD_APPEND:
	case CMD_MSET:
	case CMD_PING:
	case CMD_ECHO:
		return 1;
	default:
		return 0;
	}
}

void conn_tx_queue(struct conn *c, enum cmd_id id, const struct resp_cmd *cmd)
{
	struct conn_tx *m = c->mx;
	struct resp_buf *b = conn_reply_buf(c);

	if (b == NULL)
		return;
	if (!allowed_in_tx(id)) {
		m->dirty = 1;
		resp_put_errorf(b, "ERR '%.*s' is not supported inside MULTI",
				(int)(cmd->argvlen[0] > 64 ? 64
							   : cmd->argvlen[0]),
				cmd->argv[0]);
		return;
	}
	if (m->nq == m->capq) {
		size_t cap = m->capq ? 2 * m->capq : 8;
		struct qcmd *q = realloc(m->q, cap * sizeof(*q));

		if (q == NULL) {
			m->dirty = 1;
			cmd_put_err(b, DKV_ERR_NOMEM);
			return;
		}
		m->q = q;
		m->capq = cap;
	}
	if (qcmd_copy(&m->q[m->nq], id, cmd->argc, cmd->argv, cmd->argvlen) !=
	    DKV_OK) {
		m->dirty = 1;
		cmd_put_err(b, DKV_ERR_NOMEM);
		return;
	}
	m->nq++;
	resp_put_simple(b, "QUEUED", 6);
}

void cmd_multi(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);
	struct conn_tx *m = ctx_of(c);

	(void)cmd;
	if (b == NULL)
		return;
	if (m == NULL) {
		cmd_put_err(b, DKV_ERR_NOMEM);
		return;
	}
	if (m->in_multi) {
		resp_put_errorf(b, "ERR MULTI calls can not be nested");
		return;
	}
	m->in_multi = 1;
	m->dirty = 0;
	resp_put_ok(b);
}

void cmd_discard(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);

	(void)cmd;
	if (b == NULL)
		return;
	if (!conn_tx_queueing(c)) {
		resp_put_errorf(b, "ERR DISCARD without MULTI");
		return;
	}
	queue_clear(c->mx);
	unwatch(c->mx);
	resp_put_ok(b);
}

void cmd_unwatch(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);

	(void)cmd;
	if (b == NULL)
		return;
	if (c->mx)
		unwatch(c->mx);
	resp_put_ok(b);
}

/* --- running a body ------------------------------------------------------ */

static void exec_step(struct exec *e);

static void pf_clear(struct exec *e)
{
	for (size_t i = 0; i < e->npf; i++)
		free(e->pf[i].val);
	free(e->pf);
	e->pf = NULL;
	e->npf = e->pfpending = 0;
	e->pfstate = 0;
	e->pfrc = 0;
}

static void exec_free(struct exec *e)
{
	if (e->tx)
		txn_close(e->tx);
	pf_clear(e);
	for (size_t i = 0; i < e->nq; i++)
		qcmd_free(&e->q[i]);
	free(e->q);
	if (!e->watch_only)
		watches_free(e->w, e->nw);
	resp_buf_free(&e->out);
	resp_buf_free(&e->one);
	free(e);
}

/* Completes the request (its slot filled) and frees e. */
static void exec_end(struct exec *e)
{
	e->r->conn->txn_inflight--;
	req_complete_raw(e->r);
	exec_free(e);
}

/* Writes the final reply into the request's slot and ends. */
static void exec_reply(struct exec *e, const char *err)
{
	struct resp_buf *b = &e->r->slot->buf;

	if (err != NULL)
		resp_put_errorf(b, "%s", err);
	else if (e->watch_only || e->mset)
		resp_put_ok(b);
	else if (e->at != 0)
		resp_put_raw(b, e->out.data, e->out.len);
	else {
		resp_put_array(b, e->nq);
		resp_put_raw(b, e->out.data, e->out.len);
	}
	exec_end(e);
}

/* Runs the body again in a restarted transaction. */
static void exec_restart(struct exec *e)
{
	if (e->at != 0 && e->attempts + 1 >= AT_MAX_ATTEMPTS) {
		exec_reply(e, "TRYAGAIN the read at that epoch met transactions "
			      "still in doubt, try again");
		return;
	}
	if (++e->attempts >= EXEC_MAX_ATTEMPTS ||
	    txn_restart(e->tx) != DKV_OK) {
		exec_reply(e, "ERR transaction aborted: too many conflicts, "
			      "try again");
		return;
	}
	e->wi = e->pc = e->ki = 0;
	e->watch_noted = 0;
	pf_clear(e);
	e->acc = 0;
	resp_buf_reset(&e->out);
	resp_buf_reset(&e->one);
	exec_step(e);
}

static void commit_cb(void *arg, int rc, uint64_t tc)
{
	struct exec *e = arg;

	(void)tc;
	if (rc == DKV_OK)
		exec_reply(e, NULL);
	else if (rc == DKV_ERR_TX_RESTART)
		exec_restart(e);
	else if (rc == DKV_ERR_TIMEOUT)
		exec_reply(e, "ERR transaction outcome unknown (timed out)");
	else
		exec_reply(e, dkv_strerror(rc));
}

/* The value a read gave (found or not); NULL val = not found. */
struct got {
	int rc;
	const char *val;
	size_t vlen;
	uint64_t epoch;
};

static void finish_cmd(struct exec *e)
{
	resp_put_raw(&e->out, e->one.data, e->one.len);
	resp_buf_reset(&e->one);
	e->pc++;
	e->ki = 0;
	e->acc = 0;
}

static void put_write_err(struct resp_buf *b, int rc)
{
	if (rc == DKV_ERR_TOO_BIG)
		resp_put_errorf(b, "ERR string exceeds maximum allowed size");
	else
		cmd_put_err(b, rc);
}

/* Applies the read result g to the current command; returns 1 when the
 * command is done, 0 when it needs the next key. */
static int apply_read(struct exec *e, const struct got *g)
{
	struct qcmd *q = &e->q[e->pc];
	struct resp_buf *b = &e->one;
	const char *key = q->argv[1 + e->ki];
	size_t klen = q->argvlen[1 + e->ki];
	int found = g->rc == DKV_OK;
	int64_t n = 0, delta = 0;
	char num[24];
	int rc;

	switch (q->id) {
	case CMD_GET:
		if (found)
			resp_put_bulk(b, g->val, g->vlen);
		else
			resp_put_null(b);
		return 1;
	case CMD_MGET:
		if (e->ki == 0)
			resp_put_array(b, q->argc - 1);
		if (found)
			resp_put_bulk(b, g->val, g->vlen);
		else
			resp_put_null(b);
		return ++e->ki == q->argc - 1;
	case CMD_EXISTS:
		e->acc += found;
		if (++e->ki < q->argc - 1)
			return 0;
		resp_put_int(b, e->acc);
		return 1;
	case CMD_DEL:
		if (found) {
			rc = txn_del(e->tx, key, klen);
			if (rc != DKV_OK) {
				cmd_put_err(b, rc);
				return 1;
			}
			e->acc++;
		}
		if (++e->ki < q->argc - 1)
			return 0;
		resp_put_int(b, e->acc);
		return 1;
	case CMD_SET:
	case CMD_SETNX: {
		int nx = q->id == CMD_SETNX, xx = 0, get = 0;

		for (size_t i = 3; q->id == CMD_SET && i < q->argc; i++) {
			if (arg_is(q, i, "NX") && !xx)
				nx = 1;
			else if (arg_is(q, i, "XX") && !nx)
				xx = 1;
			else if (arg_is(q, i, "GET"))
				get = 1;
			else {
				resp_put_errorf(b, "ERR syntax error");
				return 1;
			}
		}
		if ((nx && found) || (xx && !found)) {
			if (q->id == CMD_SETNX)
				resp_put_int(b, 0);
			else if (get && found)
				resp_put_bulk(b, g->val, g->vlen);
			else
				resp_put_null(b);
			return 1;
		}
		/* The old value first: the write may move the cache it
		 * points into. */
		if (q->id == CMD_SET && get) {
			if (found)
				resp_put_bulk(b, g->val, g->vlen);
			else
				resp_put_null(b);
		}
		rc = txn_put(e->tx, key, klen, q->argv[2], q->argvlen[2]);
		if (rc != DKV_OK) {
			resp_buf_reset(b);
			put_write_err(b, rc);
			return 1;
		}
		if (q->id == CMD_SETNX)
			resp_put_int(b, 1);
		else if (!get)
			resp_put_ok(b);
		return 1;
	}
	case CMD_INCR:
	case CMD_DECR:
	case CMD_INCRBY:
	case CMD_DECRBY:
		delta = q->id == CMD_INCR ? 1 : q->id == CMD_DECR ? -1 : 0;
		if ((q->id == CMD_INCRBY || q->id == CMD_DECRBY) &&
		    resp_parse_i64(q->argv[2], q->argvlen[2], &delta) !=
			    DKV_OK) {
			resp_put_errorf(b, "ERR value is not an integer or out "
					   "of range");
			return 1;
		}
		if (q->id == CMD_DECRBY) {
			if (delta == INT64_MIN) {
				resp_put_errorf(b, "ERR decrement would "
						   "overflow");
				return 1;
			}
			delta = -delta;
		}
		if (found && resp_parse_i64(g->val, g->vlen, &n) != DKV_OK) {
			resp_put_errorf(b, "ERR value is not an integer or out "
					   "of range");
			return 1;
		}
		if ((delta > 0 && n > INT64_MAX - delta) ||
		    (delta < 0 && n < INT64_MIN - delta)) {
			resp_put_errorf(b, "ERR increment or decrement would "
					   "overflow");
			return 1;
		}
		n += delta;
		rc = txn_put(e->tx, key, klen, num, resp_fmt_i64(num, n));
		if (rc != DKV_OK)
			put_write_err(b, rc);
		else
			resp_put_int(b, n);
		return 1;
	case CMD_APPEND: {
		size_t base = found ? g->vlen : 0;
		char *v = malloc(base + q->argvlen[2] + 1);

		if (v == NULL) {
			cmd_put_err(b, DKV_ERR_NOMEM);
			return 1;
		}
		if (base)
			memcpy(v, g->val, base);
		memcpy(v + base, q->argv[2], q->argvlen[2]);
		rc = txn_put(e->tx, key, klen, v, base + q->argvlen[2]);
		free(v);
		if (rc != DKV_OK)
			put_write_err(b, rc);
		else
			resp_put_int(b, (int64_t)(base + q->argvlen[2]));
		return 1;
	}
	default:
		cmd_put_err(b, DKV_ERR_INTERNAL);
		return 1;
	}
}

static void read_done(struct exec *e, const struct got *g);

static void get_cb(void *arg, int rc, const char *val, size_t vlen,
		   uint64_t epoch)
{
	struct got g = { rc, val, vlen, epoch };

	read_done(arg, &g);
}

/* Handles a read result; continues the body. */
static void read_done(struct exec *e, const struct got *g)
{
	if (g->rc == DKV_ERR_TX_RESTART) {
		exec_restart(e);
		return;
	}
	if (g->rc != DKV_OK && g->rc != DKV_ERR_NOT_FOUND && e->at != 0) {
		cmd_put_err(&e->r->slot->buf, g->rc);
		exec_end(e);
		return;
	}
	if (g->rc != DKV_OK && g->rc != DKV_ERR_NOT_FOUND) {
		exec_reply(e, g->rc == DKV_ERR_TIMEOUT
				      ? "ERR transaction read timed out"
				      : dkv_strerror(g->rc));
		return;
	}
	if (e->wi < e->nw) { /* a watched key */
		struct watched *w = &e->w[e->wi];
		uint64_t seen = g->rc == DKV_OK || g->epoch ? g->epoch : 0;

		if (e->watch_only)
			w->epoch = seen;
		else if (seen != w->epoch) {
			/* Changed since WATCH: EXEC answers null. */
			struct resp_buf *b = &e->r->slot->buf;

			resp_put_null_array(b);
			exec_end(e);
			return;
		}
		e->wi++;
		exec_step(e);
		return;
	}
	if (apply_read(e, g))
		finish_cmd(e);
	exec_step(e);
}

/* Commands with no read. */
static int run_blind(struct exec *e, struct qcmd *q)
{
	struct resp_buf *b = &e->one;

	switch (q->id) {
	case CMD_PING:
		if (q->argc > 1)
			resp_put_bulk(b, q->argv[1], q->argvlen[1]);
		else
			resp_put_simple(b, "PONG", 4);
		return 1;
	case CMD_ECHO:
		resp_put_bulk(b, q->argv[1], q->argvlen[1]);
		return 1;
	case CMD_MSET:
		if ((q->argc - 1) % 2 != 0) {
			resp_put_errorf(b, "ERR wrong number of arguments for "
					   "'mset' command");
			return 1;
		}
		for (size_t i = 1; i + 1 < q->argc; i += 2) {
			int rc = txn_put(e->tx, q->argv[i], q->argvlen[i],
					 q->argv[i + 1], q->argvlen[i + 1]);

			if (rc != DKV_OK) {
				put_write_err(b, rc);
				return 1;
			}
		}
		resp_put_ok(b);
		return 1;
	case CMD_SET:
		if (q->argc == 3) { /* plain SET: no read needed */
			int rc = txn_put(e->tx, q->argv[1], q->argvlen[1],
					 q->argv[2], q->argvlen[2]);

			if (rc != DKV_OK)
				put_write_err(b, rc);
			else
				resp_put_ok(b);
			return 1;
		}
		return 0;
	default:
		return 0;
	}
}

/* Issues the next read or finishes: watched keys, then the body, then
 * the commit. Loops while answers come from the write set. */
/* The keys a queued command reads through txn_get (none for blind ones). */
static size_t cmd_read_keys(const struct qcmd *q, size_t *first)
{
	*first = 1;
	switch (q->id) {
	case CMD_GET:
	case CMD_INCR:
	case CMD_DECR:
	case CMD_INCRBY:
	case CMD_DECRBY:
	case CMD_APPEND:
	case CMD_SETNX:
		return 1;
	case CMD_SET:
		return q->argc > 3 ? 1 : 0; /* NX, XX, GET read it */
	case CMD_MGET:
	case CMD_EXISTS:
	case CMD_DEL:
		return q->argc - 1;
	default:
		return 0;
	}
}

static void exec_step(struct exec *e);

static void pf_release(struct exec *e)
{
	if (--e->pfpending > 0)
		return;
	e->pfstate = 2;
	if (e->pfrc == DKV_ERR_TX_RESTART) {
		exec_restart(e);
		return;
	}
	if (e->pfrc != DKV_OK) {
		exec_reply(e, e->pfrc == DKV_ERR_TIMEOUT
				      ? "ERR transaction read timed out"
				      : dkv_strerror(e->pfrc));
		return;
	}
	exec_step(e);
}

static void pf_cb(void *arg, int rc, const char *val, size_t vlen,
		  uint64_t epoch)
{
	struct pfetch *f = arg;
	struct exec *e = f->e;

	if (rc == DKV_OK || rc == DKV_ERR_NOT_FOUND) {
		f->rc = rc;
		f->epoch = epoch;
		if (rc == DKV_OK) {
			f->val = malloc(vlen ? vlen : 1);
			if (f->val == NULL)
				rc = DKV_ERR_NOMEM;
			else if (vlen)
				memcpy(f->val, val, vlen);
			f->vlen = vlen;
		}
	}
	if (rc != DKV_OK && rc != DKV_ERR_NOT_FOUND &&
	    (e->pfrc == DKV_OK || rc == DKV_ERR_TX_RESTART))
		e->pfrc = rc;
	pf_release(e);
}

/* Issues every read at once: WATCH's keys, or the keys EXEC's body reads
 * (the bank's MULTI of 24 GETs) once the watched keys are settled. 1 if
 * reads are in flight (pf_release goes on), 0 to go on now. */
static int pf_start(struct exec *e)
{
	size_t n = 0, first, k;

	e->pfstate = 2;
	n = e->watch_only ? e->nw : 0;
	for (size_t i = 0; !e->watch_only && i < e->nq; i++)
		n += cmd_read_keys(&e->q[i], &first);
	if (n < 2 || n > 1024)
		return 0;
	e->pf = calloc(n, sizeof(*e->pf));
	if (e->pf == NULL)
		return 0; /* read one by one, as without */
	for (size_t i = 0; e->watch_only && i < e->nw; i++) {
		e->pf[e->npf].e = e;
		e->pf[e->npf].key = e->w[i].key;
		e->pf[e->npf].klen = e->w[i].klen;
		e->pf[e->npf].rc = 1; /* not answered */
		e->npf++;
	}
	for (size_t i = 0; !e->watch_only && i < e->nq; i++) {
		const struct qcmd *q = &e->q[i];
		size_t nk = cmd_read_keys(q, &first);

		for (size_t j = 0; j < nk; j++) {
			const char *key = q->argv[first + j];
			size_t klen = q->argvlen[first + j];

			for (k = 0; k < e->npf; k++)
				if (e->pf[k].klen == klen &&
				    memcmp(e->pf[k].key, key, klen) == 0)
					break;
			if (k < e->npf)
				continue;
			e->pf[e->npf].e = e;
			e->pf[e->npf].key = key;
			e->pf[e->npf].klen = klen;
			e->pf[e->npf].rc = 1; /* not answered */
			e->npf++;
		}
	}
	e->pfstate = 1;
	e->pfpending = 1; /* held while issuing */
	for (k = 0; k < e->npf; k++) {
		struct pfetch *f = &e->pf[k];
		struct txn_bytes own;
		int rc;

		e->pfpending++;
		rc = txn_get(e->tx, f->key, f->klen, &own, pf_cb, f);
		if (rc == TXN_PENDING)
			continue;
		e->pfpending--;
		if (rc != DKV_OK && rc != DKV_ERR_NOT_FOUND) {
			/* A bad key: the command reports it in its turn. */
			if (rc == DKV_ERR_TX_RESTART)
				e->pfrc = rc;
			f->rc = 1;
		}
	}
	pf_release(e);
	return 1;
}

/* The prefetched answer for key, unless the body wrote it since. */
static const struct pfetch *pf_find(struct exec *e, const char *key,
				    size_t klen)
{
	if (e->pfstate != 2 || e->npf == 0 ||
	    txn_has_write(e->tx, key, klen))
		return NULL;
	for (size_t k = 0; k < e->npf; k++)
		if (e->pf[k].klen == klen &&
		    memcmp(e->pf[k].key, key, klen) == 0)
			return e->pf[k].rc <= 0 ? &e->pf[k] : NULL;
	return NULL;
}

static void exec_step(struct exec *e)
{
	if (e->pfstate == 0 && e->pc == 0 && e->ki == 0 &&
	    (e->watch_only ? e->wi == 0 : e->wi >= e->nw) && pf_start(e))
		return;
	for (;;) {
		struct txn_bytes own;
		const char *key;
		size_t klen;
		int rc;

		if (e->wi < e->nw) {
			const struct pfetch *f;

			key = e->w[e->wi].key;
			klen = e->w[e->wi].klen;
			f = pf_find(e, key, klen);
			if (f != NULL) {
				struct got g = { f->rc, f->val, f->vlen,
						 f->epoch };

				read_done(e, &g);
				return; /* read_done continues */
			}
		} else if (e->pc < e->nq) {
			struct qcmd *q = &e->q[e->pc];

			if (run_blind(e, q)) {
				finish_cmd(e);
				continue;
			}
			key = q->argv[1 + e->ki];
			klen = q->argvlen[1 + e->ki];
			{
				const struct pfetch *f = pf_find(e, key, klen);

				if (f != NULL) {
					struct got g = { f->rc, f->val, f->vlen,
							 f->epoch };

					read_done(e, &g);
					return; /* read_done continues */
				}
			}
		} else {
			break;
		}
		rc = txn_get(e->tx, key, klen, &own, get_cb, e);
		if (rc == TXN_PENDING)
			return; /* get_cb goes on */
		if (rc == DKV_OK || rc == DKV_ERR_NOT_FOUND) {
			/* From the write set (watched keys are read before
			 * any write, so never theirs). */
			struct got g = { rc, own.p, own.len, 0 };

			read_done(e, &g);
			return; /* read_done continues */
		}
		if (rc == DKV_ERR_TX_RESTART) {
			exec_restart(e);
			return;
		}
		/* A bad key (empty, too long): the command's error. */
		if (e->wi < e->nw) {
			exec_reply(e, dkv_strerror(rc));
			return;
		}
		cmd_put_err(&e->one, rc);
		finish_cmd(e);
	}
	if (e->watch_only) {
		exec_reply(e, NULL);
		return;
	}
	if (e->watch_noted && txn_tx_nwrites(e->tx) == 0) {
		/* A commit without writes validates nothing: read the
		 * watched keys after all, as WATCH requires. */
		e->watch_noted = 0;
		e->wi = 0;
		exec_step(e);
		return;
	}
	{
		int rc = txn_commit(e->tx, commit_cb, e);

		if (rc == TXN_PENDING)
			return;
		if (rc == DKV_OK)
			exec_reply(e, NULL);
		else if (rc == DKV_ERR_TX_RESTART)
			exec_restart(e);
		else
			exec_reply(e, dkv_strerror(rc));
	}
}

/* Starts a body on the node's coordinator; the reply goes to a new slot
 * of c. Takes q and w. */
static void exec_start(struct conn *c, const struct resp_cmd *cmd,
		       enum cmd_id id, struct qcmd *q, size_t nq,
		       struct watched *w, size_t nw, int watch_only,
		       uint64_t at)
{
	struct exec *e = calloc(1, sizeof(*e));
	struct resp_buf *b;
	int rc;

	if (e == NULL)
		goto nomem;
	e->n = c->node;
	e->q = q;
	e->nq = nq;
	e->w = w;
	e->nw = nw;
	e->watch_only = watch_only;
	e->mset = id == CMD_MSET;
	e->at = at;
	q = NULL;
	w = NULL;
	resp_buf_init(&e->out, 0);
	resp_buf_init(&e->one, 0);
	e->r = req_new_read(c, id, cmd, 0);
	if (e->r == NULL)
		goto nomem;
	if (req_begin(e->r) != DKV_OK) {
		req_discard(e->r);
		e->r = NULL;
		goto nomem;
	}
	c->txn_inflight++;
	rc = at != 0 ? txn_node_open_at(c->node, at, &e->tx)
		     : txn_node_open(c->node, &e->tx);
	if (rc != DKV_OK) {
		exec_reply(e, dkv_strerror(rc));
		return;
	}
	if (!watch_only && e->nw > 0) {
		/* The versions WATCH saw go into the read set unread: the
		 * commit validates that they are still the newest (a watched
		 * key changed fails it, and the restart then reads them). */
		size_t i;

		for (i = 0; i < e->nw; i++)
			if (txn_note_read(e->tx, e->w[i].key, e->w[i].klen,
					  e->w[i].epoch) != DKV_OK)
				break;
		if (i == e->nw) {
			e->wi = e->nw;
			e->watch_noted = 1;
		}
	}
	exec_step(e);
	return;
nomem:
	if (e != NULL) {
		if (!e->watch_only)
			watches_free(e->w, e->nw);
		e->w = NULL;
		e->nw = 0;
		exec_free(e);
	}
	for (size_t i = 0; i < nq && q; i++)
		qcmd_free(&q[i]);
	free(q);
	if (!watch_only)
		watches_free(w, nw);
	b = conn_reply_buf(c);
	if (b)
		cmd_put_err(b, DKV_ERR_NOMEM);
}

void cmd_exec(struct conn *c, const struct resp_cmd *cmd)
{
	struct conn_tx *m = c->mx;
	struct resp_buf *b;
	struct qcmd *q;
	struct watched *w;
	size_t nq, nw;

	if (!conn_tx_queueing(c)) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "ERR EXEC without MULTI");
		return;
	}
	if (m->dirty) {
		queue_clear(m);
		unwatch(m);
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "EXECABORT Transaction discarded "
					   "because of previous errors.");
		return;
	}
	q = m->q;
	nq = m->nq;
	w = m->w;
	nw = m->nw;
	m->q = NULL;
	m->nq = m->capq = 0;
	m->w = NULL;
	m->nw = m->capw = 0;
	m->in_multi = 0;
	exec_start(c, cmd, CMD_EXEC, q, nq, w, nw, 0, 0);
}

void cmd_mset(struct conn *c, const struct resp_cmd *cmd)
{
	struct qcmd *q;
	struct resp_buf *b;

	if ((cmd->argc - 1) % 2 != 0) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "ERR wrong number of arguments for "
					   "'mset' command");
		return;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL ||
	    qcmd_copy(q, CMD_MSET, cmd->argc, cmd->argv, cmd->argvlen) !=
		    DKV_OK) {
		free(q);
		b = conn_reply_buf(c);
		if (b)
			cmd_put_err(b, DKV_ERR_NOMEM);
		return;
	}
	exec_start(c, cmd, CMD_MSET, q, 1, NULL, 0, 0, 0);
}

void cmd_watch(struct conn *c, const struct resp_cmd *cmd)
{
	struct conn_tx *m = ctx_of(c);
	struct resp_buf *b;
	size_t first;

	if (m == NULL || conn_tx_queueing(c)) {
		b = conn_reply_buf(c);
		if (b && m == NULL)
			cmd_put_err(b, DKV_ERR_NOMEM);
		else if (b)
			resp_put_errorf(b, "ERR WATCH inside MULTI is not "
					   "allowed");
		return;
	}
	first = m->nw;
	for (size_t i = 1; i < cmd->argc; i++) {
		struct watched *w;

		if (m->nw == m->capw) {
			size_t cap = m->capw ? 2 * m->capw : 8;

			w = realloc(m->w, cap * sizeof(*w));
			if (w == NULL)
				goto nomem;
			m->w = w;
			m->capw = cap;
		}
		w = &m->w[m->nw];
		w->key = malloc(cmd->argvlen[i] + 1);
		if (w->key == NULL)
			goto nomem;
		memcpy(w->key, cmd->argv[i], cmd->argvlen[i]);
		w->klen = cmd->argvlen[i];
		w->epoch = 0;
		m->nw++;
	}
	/* Record the versions now, in a transaction at a fresh epoch: the
	 * reads reach the owners (whose clocks then pass that epoch), so a
	 * write made after this WATCH answers has a newer version. The
	 * reply waits for them. */
	exec_start(c, cmd, CMD_WATCH, NULL, 0, m->w + first, m->nw - first, 1,
		   0);
	return;
nomem:
	b = conn_reply_buf(c);
	if (b)
		cmd_put_err(b, DKV_ERR_NOMEM);
}

/* --- DKV.AT ------------------------------------------------------------------ */

/* An epoch given in decimal (else a snapshot's name). */
static int parse_epoch(const char *s, size_t len, uint64_t *out)
{
	int64_t v;

	if (resp_parse_i64(s, len, &v) != DKV_OK || v < 0)
		return 0;
	*out = (uint64_t)v;
	return 1;
}

static int sub_is(const struct resp_cmd *cmd, const char *s)
{
	return cmd->argvlen[2] == strlen(s) &&
	       strncasecmp(cmd->argv[2], s, cmd->argvlen[2]) == 0;
}

/*
 * DKV.AT <snapshot name | epoch> <GET|MGET|EXISTS|DKV.RANGE> args...
 * (docs/snap.md, "Reading at a snapshot"): one read command at a fixed
 * epoch. GET, MGET and EXISTS run as a read-only transaction at that
 * epoch on the node's coordinator (intents at or below it are resolved
 * first); DKV.RANGE runs as DKV.RANGE ... EPOCH <epoch>.
 */
void cmd_dkv_at(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct resp_buf *b;
	struct qcmd *q;
	uint64_t at = 0, now = 0;
	enum cmd_id id;

	if (!parse_epoch(cmd->argv[1], cmd->argvlen[1], &at) &&
	    snap_node_lookup(n, cmd->argv[1], cmd->argvlen[1], &at) != DKV_OK) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "ERR no such snapshot '%.*s'",
					(int)(cmd->argvlen[1] > 128
						      ? 128
						      : cmd->argvlen[1]),
					cmd->argv[1]);
		return;
	}
	if (at == 0 || at == DKV_EPOCH_MAX) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "ERR invalid epoch");
		return;
	}
	if (dkv_hlc_now(n->hlc, &now) == DKV_OK &&
	    at > now && at - now > dkv_hlc_max_offset(n->hlc)) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "ERR epoch is ahead of the cluster's "
					   "clock");
		return;
	}
	if (sub_is(cmd, "dkv.range")) {
		const char **argv = NULL;
		size_t *argvlen = NULL;
		char num[24];
		struct resp_cmd sub;

		for (size_t i = 3; i < cmd->argc; i++) {
			if (cmd->argvlen[i] == 5 &&
			    strncasecmp(cmd->argv[i], "epoch", 5) == 0) {
				b = conn_reply_buf(c);
				if (b)
					resp_put_errorf(b, "ERR DKV.AT gives "
							   "DKV.RANGE its epoch");
				return;
			}
		}
		argv = malloc((cmd->argc) * sizeof(*argv));
		argvlen = malloc((cmd->argc) * sizeof(*argvlen));
		if (argv == NULL || argvlen == NULL) {
			free(argv);
			free(argvlen);
			b = conn_reply_buf(c);
			if (b)
				cmd_put_err(b, DKV_ERR_NOMEM);
			return;
		}
		for (size_t i = 2; i < cmd->argc; i++) {
			argv[i - 2] = cmd->argv[i];
			argvlen[i - 2] = cmd->argvlen[i];
		}
		argv[cmd->argc - 2] = "EPOCH";
		argvlen[cmd->argc - 2] = 5;
		argv[cmd->argc - 1] = num;
		argvlen[cmd->argc - 1] = resp_fmt_u64(num, at);
		memset(&sub, 0, sizeof(sub));
		sub.argc = cmd->argc;
		sub.argv = argv;
		sub.argvlen = argvlen;
		if (sub.argc < 3) {
			b = conn_reply_buf(c);
			if (b)
				resp_put_errorf(b, "ERR wrong number of "
						   "arguments for 'dkv.range' "
						   "command");
		} else {
			cmd_dkv_range(c, &sub);
		}
		free(argv);
		free(argvlen);
		return;
	}
	if (sub_is(cmd, "get") && cmd->argc == 4)
		id = CMD_GET;
	else if (sub_is(cmd, "mget"))
		id = CMD_MGET;
	else if (sub_is(cmd, "exists"))
		id = CMD_EXISTS;
	else {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "ERR DKV.AT runs only GET key, MGET "
					   "key..., EXISTS key... and "
					   "DKV.RANGE");
		return;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL ||
	    qcmd_copy(q, id, cmd->argc - 2, cmd->argv + 2, cmd->argvlen + 2) !=
		    DKV_OK) {
		free(q);
		b = conn_reply_buf(c);
		if (b)
			cmd_put_err(b, DKV_ERR_NOMEM);
		return;
	}
	exec_start(c, cmd, CMD_DKV_AT, q, 1, NULL, 0, 0, at);
}
