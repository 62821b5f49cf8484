/* peer.c - see peer.h. */
#define _GNU_SOURCE
#include "server/peer.h"
#include "server/snap_node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/cmd.h"
#include "server/conn.h"
#include "server/node.h"

#define PEER_HEARTBEAT_MS 1000
#define PEER_DEAD_MS 3000
#define PEER_BACKOFF_MIN_MS 50
#define PEER_BACKOFF_MAX_MS 2000
#define PEER_READ_CHUNK (64u << 10)

static const struct dkv_sm_conf peer_states[PEER_NSTATES] = {
	[PEER_DOWN] = { "down", 0, DKV_SM_BIT(PEER_CONNECTING) },
	[PEER_CONNECTING] = { "connecting", 0,
			      DKV_SM_BIT(PEER_UP) | DKV_SM_BIT(PEER_DOWN) },
	[PEER_UP] = { "up", 0, DKV_SM_BIT(PEER_DOWN) },
};

static void peer_connect(struct peer *p);
static void peer_flush(struct peer *p);
static void peer_flush_later(struct peer *p);

struct peer *peer_find(struct node *n, uint32_t id)
{
	for (size_t i = 0; i < n->npeers; i++)
		if (n->peers[i] != NULL && n->peers[i]->id == id)
			return n->peers[i];
	return NULL;
}

static void fwd_fail(struct peer *p, struct fwd *f)
{
	if (f->cb != NULL)
		f->cb(f->ctx, NULL);
	if (f->conn != NULL) {
		resp_put_errorf(&f->slot->buf, "TRYAGAIN node %u unreachable",
				p->id);
		conn_slot_done(f->conn, f->slot);
		conn_request_done(f->conn);
		p->failed++;
	}
	free(f);
}

static void tcp_closed(uv_handle_t *h)
{
	free(h);
}

/* The link is lost: answer what waits on it, retry later. */
static void peer_down(struct peer *p, const char *why)
{
	struct fwd *f, *next;

	if (dkv_sm_state(&p->sm) == PEER_UP)
		DKV_WARN("peer", "node %u (%s) down: %s", p->id, p->addr, why);
	if (dkv_sm_state(&p->sm) != PEER_DOWN)
		dkv_sm_move(&p->sm, PEER_DOWN);
	if (p->tcp != NULL) {
		/* The write in flight completes (cancelled) before the close
		 * callback; its buffer is reset in write_cb. */
		uv_close((uv_handle_t *)p->tcp, tcp_closed);
		p->tcp = NULL;
	}
	for (f = p->head; f != NULL; f = next) {
		next = f->next;
		fwd_fail(p, f);
	}
	p->head = p->tail = NULL;
	resp_buf_reset(&p->out);
	resp_buf_reset(&p->in);
	resp_reply_parser_reset(&p->parser);
	p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : PEER_BACKOFF_MIN_MS;
	if (p->backoff_ms > PEER_BACKOFF_MAX_MS)
		p->backoff_ms = PEER_BACKOFF_MAX_MS;
}

/* DKV.CLOCK's answer, [wall ns, last epoch]: the peer's wall clock is
 * measured for the fence, its epoch merged into this node's clock. */
static void heartbeat_reply(struct peer *p, const struct fwd *f,
			    const struct resp_reply *r)
{
	struct dkv_hlc *hlc = p->node->hlc;
	int rc;

	if (r->type != RESP_ARRAY || r->n != 2 ||
	    r->elems[0].type != RESP_INTEGER ||
	    r->elems[1].type != RESP_INTEGER || r->elems[0].integer <= 0 ||
	    r->elems[1].integer < 0)
		return;
	if (p->id != p->node->cfg.node_id) {
		rc = dkv_hlc_measure(hlc, p->id, &f->probe,
				     (uint64_t)r->elems[0].integer);
		if (rc != DKV_OK && rc != DKV_ERR_TIMEOUT &&
		    rc != DKV_ERR_BUSY)
			DKV_DEBUG("peer", "node %u's clock not measured: %s",
				  p->id, dkv_strerror(rc));
	}
	if (r->elems[1].integer == 0)
		return;
	rc = dkv_hlc_update(hlc, (uint64_t)r->elems[1].integer);
	if (rc == DKV_ERR_CLOCK_OFFSET)
		DKV_WARN("peer",
			 "node %u's clock is further ahead than the max "
			 "offset: its epochs are refused",
			 p->id);
}

static void on_reply(struct peer *p, const struct resp_reply *r,
		     const char *raw, size_t len)
{
	struct fwd *f = p->head;

	p->last_seen_ns = uv_hrtime();
	if (f == NULL) {
		peer_down(p, "reply to no request");
		return;
	}
	p->head = f->next;
	if (p->head == NULL)
		p->tail = NULL;
	if (f->cb != NULL) {
		f->cb(f->ctx, r);
	} else if (f->conn != NULL) {
		if (resp_put_raw(&f->slot->buf, raw, len) != DKV_OK)
			cmd_put_err(&f->slot->buf, DKV_ERR_NOMEM);
		conn_slot_done(f->conn, f->slot);
		conn_request_done(f->conn);
		p->forwarded++;
	} else if (r->type == RESP_ERROR) {
		/* The node's own request (authentication, heartbeat) was
		 * refused: the link is of no use. */
		DKV_WARN("peer", "node %u refused this node: %.*s", p->id,
			 (int)(r->len > 200 ? 200 : r->len), r->str);
		free(f);
		peer_down(p, "refused");
		return;
	} else if (f->heartbeat) {
		heartbeat_reply(p, f, r);
	}
	free(f);
}

static void read_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct peer *p = h->data;

	(void)hint;
	if (resp_buf_reserve(&p->in, PEER_READ_CHUNK) != DKV_OK) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = p->in.data + p->in.len;
	buf->len = PEER_READ_CHUNK;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct peer *p = s->data;
	size_t off = 0;

	(void)buf;
	if (nread < 0) {
		peer_down(p, nread == UV_EOF ? "closed" : uv_strerror((int)nread));
		return;
	}
	p->in.len += (size_t)nread;
	while (off < p->in.len && p->tcp != NULL) {
		const struct resp_reply *r;
		size_t used = 0;
		int rc = resp_reply_parse(&p->parser, p->in.data + off,
					  p->in.len - off, &r, &used);

		if (rc == 0)
			break;
		if (rc < 0) {
			peer_down(p, resp_reply_parser_error(&p->parser));
			return;
		}
		on_reply(p, r, p->in.data + off, used);
		off += used;
	}
	if (p->tcp != NULL && off > 0)
		resp_buf_consume(&p->in, off);
}

static void write_cb(uv_write_t *w, int status)
{
	struct peer *p = w->data;

	p->writing = 0;
	resp_buf_reset(&p->wbuf);
	if (status < 0) {
		if (p->tcp != NULL)
			peer_down(p, uv_strerror(status));
		return;
	}
	peer_flush(p);
}

/* Requests queued in one loop iteration leave in one write: at the
 * iteration's end (uv_check), or before the loop would block in poll
 * (uv_idle, as the connections' replies). */
static void peer_flush_later(struct peer *p)
{
	struct node *n = p->node;

	if (p->flush_queued)
		return;
	p->flush_queued = 1;
	if (!n->peers_dirty) {
		n->peers_dirty = 1;
		uv_idle_start(&n->flush_idle, node_flush_idle_cb);
	}
}

void peers_flush_pending(struct node *n)
{
	if (!n->peers_dirty)
		return;
	n->peers_dirty = 0;
	for (size_t i = 0; i < n->npeers; i++) {
		struct peer *p = n->peers[i];

		if (p != NULL && p->flush_queued) {
			p->flush_queued = 0;
			peer_flush(p);
		}
	}
}

static void peer_flush(struct peer *p)
{
	struct resp_buf tmp;
	uv_buf_t b;

	if (p->writing || p->out.len == 0 || p->tcp == NULL ||
	    dkv_sm_state(&p->sm) != PEER_UP)
		return;
	tmp = p->wbuf;
	p->wbuf = p->out;
	p->out = tmp;
	resp_buf_reset(&p->out);
	b = uv_buf_init(p->wbuf.data, (unsigned)p->wbuf.len);
	p->wreq.data = p;
	if (uv_write(&p->wreq, (uv_stream_t *)p->tcp, &b, 1, write_cb) != 0) {
		resp_buf_reset(&p->wbuf);
		peer_down(p, "write failed");
		return;
	}
	p->writing = 1;
}

/* Queues a request; conn NULL for the node's own (heartbeat, AUTH). */
static int peer_send(struct peer *p, struct conn *c, struct slot *s,
		     size_t argc, const char *const *argv,
		     const size_t *argvlen)
{
	struct fwd *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return DKV_ERR_NOMEM;
	if (resp_put_command(&p->out, argc, argv, argvlen) != DKV_OK) {
		free(f);
		return DKV_ERR_NOMEM;
	}
	f->conn = c;
	f->slot = s;
	if (p->tail)
		p->tail->next = f;
	else
		p->head = f;
	p->tail = f;
	peer_flush_later(p);
	return DKV_OK;
}

/* As peer_send, the command already encoded. */
static int peer_send_raw(struct peer *p, const char *bytes, size_t len)
{
	struct fwd *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return DKV_ERR_NOMEM;
	if (resp_put_raw(&p->out, bytes, len) != DKV_OK) {
		free(f);
		return DKV_ERR_NOMEM;
	}
	if (p->tail)
		p->tail->next = f;
	else
		p->head = f;
	p->tail = f;
	peer_flush_later(p);
	return DKV_OK;
}

/* The probe is taken as the request is queued: a flush at the end of the
 * loop iteration adds at most that iteration to the round trip. */
static void send_heartbeat(struct peer *p)
{
	const char *argv[1] = { "DKV.CLOCK" };
	size_t lens[1] = { strlen(argv[0]) };

	if (peer_send(p, NULL, NULL, 1, argv, lens) != DKV_OK)
		return;
	p->tail->heartbeat = 1;
	dkv_hlc_probe_start(p->node->hlc, &p->tail->probe);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct peer *p = req->data;

	if (p->tcp == NULL || req->handle != (uv_stream_t *)p->tcp)
		return; /* a stale attempt */
	if (status < 0) {
		peer_down(p, uv_strerror(status));
		return;
	}
	dkv_sm_move(&p->sm, PEER_UP);
	p->backoff_ms = 0;
	p->last_seen_ns = uv_hrtime();
	uv_tcp_nodelay(p->tcp, 1);
	p->tcp->data = p;
	if (uv_read_start((uv_stream_t *)p->tcp, read_alloc, on_read) != 0) {
		peer_down(p, "read failed");
		return;
	}
	DKV_INFO("peer", "node %u (%s) up", p->id, p->addr);
	/* Authentication goes first, ahead of what queued while connecting:
	 * the cluster's secret if there is one, else the client password. */
	if (p->node->cfg.secret[0] != '\0' ||
	    p->node->cfg.password[0] != '\0') {
		int peer = p->node->cfg.secret[0] != '\0';
		const char *argv[2] = { peer ? "DKV.PEER" : "AUTH",
					peer ? p->node->cfg.secret
					     : p->node->cfg.password };
		size_t lens[2] = { strlen(argv[0]), strlen(argv[1]) };
		struct fwd *f = calloc(1, sizeof(*f));
		struct resp_buf first;

		resp_buf_init(&first, 0);
		if (f == NULL ||
		    resp_put_command(&first, 2, argv, lens) != DKV_OK ||
		    resp_put_raw(&first, p->out.data, p->out.len) != DKV_OK) {
			free(f);
			resp_buf_free(&first);
			peer_down(p, "out of memory");
			return;
		}
		resp_buf_free(&p->out);
		p->out = first;
		f->next = p->head;
		p->head = f;
		if (p->tail == NULL)
			p->tail = f;
	}
	peer_flush(p);
	snap_node_peer_up(p->node, p->id); /* the leader ships its catalog */
}

static void peer_connect(struct peer *p)
{
	struct sockaddr_in addr;
	char host[256];
	char *colon;
	int rc;

	snprintf(host, sizeof(host), "%s", p->addr);
	colon = strrchr(host, ':');
	if (colon == NULL)
		return;
	*colon = '\0';
	rc = uv_ip4_addr(strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
			 atoi(colon + 1), &addr);
	if (rc != 0)
		return;
	p->tcp = calloc(1, sizeof(*p->tcp));
	if (p->tcp == NULL)
		return;
	uv_tcp_init(&p->node->loop, p->tcp);
	p->tcp->data = p;
	p->connect.data = p;
	dkv_sm_move(&p->sm, PEER_CONNECTING);
	if (uv_tcp_connect(&p->connect, p->tcp, (struct sockaddr *)&addr,
			   on_connect) != 0)
		peer_down(p, "connect failed");
}

static void on_timer(uv_timer_t *t)
{
	struct peer *p = t->data;
	uint64_t now = uv_hrtime();

	switch (dkv_sm_state(&p->sm)) {
	case PEER_DOWN:
		if (now - p->last_seen_ns >= p->backoff_ms * 1000000)
			peer_connect(p);
		break;
	case PEER_CONNECTING:
		break;
	case PEER_UP:
		if (now - p->last_seen_ns > (uint64_t)PEER_DEAD_MS * 1000000) {
			peer_down(p, "heartbeat timeout");
			break;
		}
		send_heartbeat(p);
		break;
	}
}

static struct peer *peer_new(struct node *n, uint32_t id, const char *addr)
{
	struct peer *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->node = n;
	p->id = id;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	dkv_sm_init(&p->sm, "peer", peer_states, PEER_NSTATES, PEER_DOWN);
	resp_buf_init(&p->out, 0);
	resp_buf_init(&p->wbuf, 0);
	resp_buf_init(&p->in, 0);
	resp_reply_parser_init(&p->parser, NULL);
	uv_timer_init(&n->loop, &p->timer);
	p->timer.data = p;
	uv_timer_start(&p->timer, on_timer, 0, PEER_HEARTBEAT_MS / 4);
	peer_connect(p);
	return p;
}

static void timer_closed(uv_handle_t *h)
{
	struct peer *p = h->data;

	resp_buf_free(&p->out);
	resp_buf_free(&p->wbuf);
	resp_buf_free(&p->in);
	resp_reply_parser_free(&p->parser);
	free(p);
}

static void peer_free(struct peer *p)
{
	peer_down(p, "removed");
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, timer_closed);
}

/* The clock's fence counts the map's other nodes. */
static void clock_peers_sync(struct node *n)
{
	uint32_t nn = dkv_map_nnodes(n->map);
	uint32_t *ids = calloc(nn + 1, sizeof(*ids));
	size_t k = 0;

	if (ids == NULL) {
		DKV_WARN("peer", "out of memory: the clock keeps its old peers");
		return;
	}
	for (uint32_t i = 0; i < nn; i++) {
		uint32_t id = dkv_map_node_at(n->map, i)->id;

		if (id != n->cfg.node_id)
			ids[k++] = id;
	}
	if (dkv_hlc_set_peers(n->hlc, ids, k) != DKV_OK)
		DKV_WARN("peer", "out of memory: the clock keeps its old peers");
	free(ids);
}

void peers_sync(struct node *n)
{
	struct peer **next;
	size_t nn = 0;

	if (n->map == NULL)
		return;
	next = calloc(dkv_map_nnodes(n->map) + 1, sizeof(*next));
	if (next == NULL)
		return;
	for (uint32_t i = 0; i < dkv_map_nnodes(n->map); i++) {
		const struct dkv_map_node *mn = dkv_map_node_at(n->map, i);
		struct peer *p;

		/* This node too: a loopback link for the local part of
		 * commands whose keys span nodes. */
		p = peer_find(n, mn->id);
		if (p != NULL && strcmp(p->addr, mn->addr) == 0) {
			/* keep it: take it out of the old list */
			for (size_t j = 0; j < n->npeers; j++)
				if (n->peers[j] == p)
					n->peers[j] = NULL;
		} else {
			p = peer_new(n, mn->id, mn->addr);
		}
		if (p != NULL)
			next[nn++] = p;
	}
	for (size_t j = 0; j < n->npeers; j++)
		if (n->peers[j] != NULL)
			peer_free(n->peers[j]);
	free(n->peers);
	n->peers = next;
	n->npeers = nn;
	clock_peers_sync(n);
}

void peers_close(struct node *n)
{
	for (size_t j = 0; j < n->npeers; j++)
		peer_free(n->peers[j]);
	free(n->peers);
	n->peers = NULL;
	n->npeers = 0;
}

int peer_call(struct node *n, uint32_t id, size_t argc,
	      const char *const *argv, const size_t *argvlen,
	      peer_reply_cb cb, void *ctx)
{
	struct peer *p = peer_find(n, id);
	struct fwd *f;

	if (p == NULL)
		return DKV_ERR_NOT_FOUND;
	if (dkv_sm_state(&p->sm) == PEER_DOWN)
		peer_connect(p);
	if (dkv_sm_state(&p->sm) == PEER_DOWN) {
		cb(ctx, NULL);
		return DKV_OK;
	}
	if (peer_send(p, NULL, NULL, argc, argv, argvlen) != DKV_OK)
		return DKV_ERR_NOMEM;
	f = p->tail;
	f->cb = cb;
	f->ctx = ctx;
	return DKV_OK;
}

int peer_call_encoded(struct node *n, uint32_t id, const char *bytes,
		      size_t len, peer_reply_cb cb, void *ctx)
{
	struct peer *p = peer_find(n, id);
	struct fwd *f;

	if (p == NULL)
		return DKV_ERR_NOT_FOUND;
	if (dkv_sm_state(&p->sm) == PEER_DOWN)
		peer_connect(p);
	if (dkv_sm_state(&p->sm) == PEER_DOWN) {
		cb(ctx, NULL);
		return DKV_OK;
	}
	if (peer_send_raw(p, bytes, len) != DKV_OK)
		return DKV_ERR_NOMEM;
	f = p->tail;
	f->cb = cb;
	f->ctx = ctx;
	return DKV_OK;
}

int peer_send_oneway(struct node *n, uint32_t id, const char *bytes,
		     size_t len)
{
	struct peer *p = peer_find(n, id);

	if (p == NULL)
		return DKV_ERR_NOT_FOUND;
	if (dkv_sm_state(&p->sm) == PEER_DOWN)
		peer_connect(p);
	if (dkv_sm_state(&p->sm) == PEER_DOWN)
		return DKV_OK; /* lost, as the protocol allows */
	if (resp_put_raw(&p->out, bytes, len) != DKV_OK)
		return DKV_ERR_NOMEM;
	peer_flush_later(p);
	return DKV_OK;
}

void peer_forward(struct node *n, uint32_t id, struct conn *c,
		  const struct resp_cmd *cmd)
{
	struct peer *p = peer_find(n, id);
	struct resp_buf *b;
	struct slot *s;

	if (p == NULL) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "TRYAGAIN node %u unreachable", id);
		return;
	}
	/* A request is worth a connection attempt now, whatever the
	 * backoff says: the peer may just have restarted. */
	if (dkv_sm_state(&p->sm) == PEER_DOWN)
		peer_connect(p);
	if (dkv_sm_state(&p->sm) == PEER_DOWN) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_errorf(b, "TRYAGAIN node %u unreachable", id);
		return;
	}
	s = conn_slot_open(c);
	if (s == NULL)
		return;
	c->inflight++;
	n->inflight++;
	if (peer_send(p, c, s, cmd->argc, cmd->argv, cmd->argvlen) !=
	    DKV_OK) {
		cmd_put_err(&s->buf, DKV_ERR_NOMEM);
		conn_slot_done(c, s);
		conn_request_done(c);
	}
}
