/* conn.c - see conn.h. */
#include "server/conn.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "server/cmd.h"
#include "server/node.h"

static const struct dkv_sm_conf conn_states[CONN_NSTATES] = {
	[CONN_OPEN] = { "open", 0, DKV_SM_BIT(CONN_CLOSING) },
	[CONN_CLOSING] = { "closing", DKV_SM_FINAL, 0 },
};

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void conn_flush(struct conn *c);

static void conn_free(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct node *n = c->node;
	struct slot *s, *next;

	if (c->prev)
		c->prev->next = c->next;
	else
		n->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	n->nconns--;
	for (s = c->slots_head; s != NULL; s = next) {
		next = s->next;
		resp_buf_free(&s->buf);
		free(s);
	}
	conn_tx_free(c);
	resp_cmd_parser_free(&c->parser);
	resp_buf_free(&c->in);
	resp_buf_free(&c->out);
	resp_buf_free(&c->wbuf);
	free(c);
}

static int conn_is_open(const struct conn *c)
{
	return dkv_sm_state(&c->sm) == CONN_OPEN;
}

/* Frees c once it is closing, nothing is in flight and nothing is being
 * written. */
static void conn_maybe_free(struct conn *c)
{
	if (conn_is_open(c) || c->inflight > 0 || c->writing ||
	    c->flush_queued)
		return;
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_free);
}

void conn_close(struct conn *c)
{
	if (conn_is_open(c)) {
		dkv_sm_move(&c->sm, CONN_CLOSING);
		if (c->reading)
			uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
	conn_maybe_free(c);
}

int conn_must_wait(const struct conn *c, unsigned flags)
{
	return ((flags & CMD_READ) && c->writes_inflight > 0) ||
	       ((flags & CMD_WRITE) && c->reads_inflight > 0);
}

static void conn_process(struct conn *c);

void conn_drain(struct conn *c)
{
	if (!conn_is_open(c))
		return;
	c->close_after = 1;
	conn_flush(c);
}

void conn_request_done(struct conn *c)
{
	c->inflight--;
	c->node->inflight--;
	if (!conn_is_open(c)) {
		conn_maybe_free(c);
		return;
	}
	/* Completed inside its own dispatch (a transaction with nothing to
	 * send): the loop in conn_process goes on and flushes. */
	if (c->in_dispatch)
		return;
	/* Commands held back behind this one may run now. */
	if (c->in_parsed < c->in.len && !c->close_after) {
		conn_process(c);
		return;
	}
	if (!c->flush_queued) {
		struct node *n = c->node;

		c->flush_queued = 1;
		c->flush_next = n->flush_head;
		n->flush_head = c;
		/* An idle handle keeps the loop from blocking in poll before
		 * the flush when this ran outside the poll phase. */
		uv_idle_start(&n->flush_idle, node_flush_idle_cb);
	}
}

void conn_flush_pending(struct node *n)
{
	while (n->flush_head != NULL) {
		struct conn *c = n->flush_head;

		n->flush_head = c->flush_next;
		c->flush_next = NULL;
		c->flush_queued = 0;
		if (conn_is_open(c))
			conn_flush(c);
		else
			conn_maybe_free(c);
	}
	uv_idle_stop(&n->flush_idle);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)hint;
	if (resp_buf_reserve(&c->in, CONN_READ_CHUNK) != DKV_OK) {
		buf->base = NULL;
		buf->len = 0;
		return;
	}
	buf->base = c->in.data + c->in.len;
	buf->len = CONN_READ_CHUNK;
}

static int too_busy(const struct conn *c)
{
	return c->inflight >= CONN_MAX_INFLIGHT || c->out.len >= CONN_MAX_OUT;
}

static void reading_update(struct conn *c)
{
	int want = conn_is_open(c) && !too_busy(c) && !c->close_after;

	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb,
				  conn_read_cb) == 0)
			c->reading = 1;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void write_cb(uv_write_t *w, int status)
{
	struct conn *c = w->data;

	c->writing = 0;
	resp_buf_reset(&c->wbuf);
	if (status < 0) {
		conn_close(c);
		return;
	}
	conn_flush(c);
}

/* Moves finished slots to out, writes out, manages reading. */
static void conn_flush(struct conn *c)
{
	struct resp_buf tmp;
	uv_buf_t b;

	/* While an EXEC (or WATCH, MSET) of c runs, the replies before it
	 * wait for its own: the client sent it, so it waits for that reply
	 * anyway, and MULTI's "+OK" and the "+QUEUED"s then leave with
	 * EXEC's array in one write (one wake-up of the client, not two).
	 * Its completion flushes again. */
	if (c->txn_inflight > 0 && conn_is_open(c) && !c->close_after)
		return;

	while (c->slots_head != NULL && c->slots_head->done) {
		struct slot *s = c->slots_head;

		c->slots_head = s->next;
		if (c->slots_head == NULL)
			c->slots_tail = NULL;
		if (resp_put_raw(&c->out, s->buf.data, s->buf.len) != DKV_OK)
			c->close_after = 1; /* cannot keep the order: drop */
		resp_buf_free(&s->buf);
		free(s);
	}
	if (!c->writing && c->out.len > 0) {
		/* Try a plain write first: when the socket takes it all (the
		 * usual case), no write request exists, so libuv does not
		 * re-arm the descriptor in epoll afterwards (one epoll_ctl
		 * saved per reply). */
		int n = uv_try_write((uv_stream_t *)&c->tcp,
				     &(uv_buf_t){ .base = c->out.data,
						  .len = c->out.len },
				     1);

		if (n > 0)
			resp_buf_consume(&c->out, (size_t)n);
		else if (n != UV_EAGAIN && n != UV_ENOSYS) {
			conn_close(c);
			return;
		}
	}
	if (!c->writing && c->out.len > 0) {
		tmp = c->wbuf;
		c->wbuf = c->out;
		c->out = tmp;
		resp_buf_reset(&c->out);
		b = uv_buf_init(c->wbuf.data, (unsigned)c->wbuf.len);
		c->wreq.data = c;
		if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1,
			     write_cb) == 0) {
			c->writing = 1;
		} else {
			resp_buf_reset(&c->wbuf);
			conn_close(c);
			return;
		}
	}
	if (c->close_after && !c->writing && c->slots_head == NULL &&
	    c->inflight == 0) {
		conn_close(c);
		return;
	}
	reading_update(c);
	if (!conn_is_open(c))
		conn_maybe_free(c);
}

struct resp_buf *conn_reply_buf(struct conn *c)
{
	struct slot *s;

	if (c->slots_head == NULL)
		return &c->out;
	s = conn_slot_open(c);
	if (s == NULL)
		return NULL;
	s->done = 1;
	return &s->buf;
}

struct slot *conn_slot_open(struct conn *c)
{
	struct slot *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	resp_buf_init(&s->buf, 0);
	if (c->slots_tail)
		c->slots_tail->next = s;
	else
		c->slots_head = s;
	c->slots_tail = s;
	return s;
}

void conn_slot_done(struct conn *c, struct slot *s)
{
	(void)c;
	s->done = 1;
}

/* Parses and runs every complete command in the input buffer. */
static void conn_process(struct conn *c)
{
	struct resp_cmd cmd;
	size_t used;
	int rc;

	while (conn_is_open(c) && !c->close_after && !too_busy(c)) {
		rc = resp_cmd_parse(&c->parser, c->in.data + c->in_parsed,
				    c->in.len - c->in_parsed, &cmd, &used);
		if (rc == 0)
			break;
		if (rc < 0) {
			/* The stream cannot be resynchronised: answer, then
			 * close. */
			struct resp_buf *b = conn_reply_buf(c);

			if (b) /* Redis: "-ERR Protocol error: ..." */
				resp_put_errorf(b, "ERR %s",
						resp_cmd_parser_error(
							&c->parser));
			c->close_after = 1;
			c->node->stats.errors++;
			break;
		}
		if (cmd_must_wait(c, &cmd))
			break; /* parsed again once the requests before it
				  complete (conn_request_done) */
		c->node->stats.commands++;
		c->in_dispatch++;
		cmd_dispatch(c, &cmd);
		c->in_dispatch--;
		c->in_parsed += used;
	}
	if (c->in_parsed > 0 &&
	    (c->in_parsed == c->in.len || c->in_parsed >= CONN_READ_CHUNK)) {
		resp_buf_consume(&c->in, c->in_parsed);
		c->in_parsed = 0;
	}
	conn_flush(c);
}

static void conn_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = s->data;

	(void)buf;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	c->in.len += (size_t)nread;
	conn_process(c);
}

static void conn_free_unlinked(uv_handle_t *h)
{
	free(h->data);
}

void conn_accept(struct node *n)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return;
	uv_tcp_init(&n->loop, &c->tcp);
	c->tcp.data = c;
	c->node = n;
	if (uv_accept((uv_stream_t *)&n->listener, (uv_stream_t *)&c->tcp) !=
	    0) {
		uv_close((uv_handle_t *)&c->tcp, conn_free_unlinked);
		return;
	}
	dkv_sm_init(&c->sm, "conn", conn_states, CONN_NSTATES, CONN_OPEN);
	c->id = ++n->stats.connections_total;
	c->authed = n->cfg.password[0] == '\0';
	resp_cmd_parser_init(&c->parser, &n->limits);
	resp_buf_init(&c->in, n->limits.max_request + CONN_READ_CHUNK);
	resp_buf_init(&c->out, 0);
	resp_buf_init(&c->wbuf, 0);
	uv_tcp_nodelay(&c->tcp, 1);
	c->next = n->conns;
	if (n->conns)
		n->conns->prev = c;
	n->conns = c;
	n->nconns++;
	if (n->nconns > n->cfg.max_clients ||
	    dkv_sm_state(&n->sm) != NODE_SERVING) {
		static const char msg[] = "ERR max number of clients reached";

		n->stats.rejected++;
		resp_put_error(&c->out, msg, sizeof(msg) - 1);
		c->close_after = 1;
		conn_flush(c);
		return;
	}
	reading_update(c);
}
