/*
 * loop.c - one epoll loop per thread of dkv-bench: it drives its clients'
 * non-blocking connections until the run ends.
 *
 * Happy path, per client: issue operations (workload.c appends their
 * commands to the client's output buffer) -> write as much as the socket
 * takes (EPOLLOUT only while something is left) -> read what arrived ->
 * parse every whole reply at the front and hand it to workload.c (which may
 * append the next step's commands) -> issue again.
 *
 * A client ends when it issues nothing more (deadline, --ops, load done)
 * and nothing of its own is in flight; the thread ends when all its clients
 * have. Failure modes, each fatal for the run (lg_fatal, every thread
 * stops at its next wakeup): the peer closes or resets the connection, a
 * read or write fails, the reply stream is malformed or too big, a reply
 * is of the wrong shape (workload.c), or a client waits more than
 * --timeout seconds for a reply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lg.h"

#define IN_MIN (64u << 10)
#define IN_MAX ((size_t)64 << 20) /* bound of one buffered reply stream */

static int want_out(int ep, struct lg_client *c, int on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
				  .data.ptr = c };

	return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what the socket takes; asks for EPOLLOUT when some is left. */
static int flush_out(int ep, struct lg_client *c)
{
	size_t off = 0;
	ssize_t n;

	while (off < c->out.len) {
		n = write(c->fd, c->out.data + off, c->out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			lg_fatal(c->run, "client %u: write: %s", c->id,
				 n < 0 ? strerror(errno) : "closed");
			return -1;
		}
		off += (size_t)n;
	}
	resp_buf_consume(&c->out, off);
	return want_out(ep, c, c->out.len > 0);
}

/* Parses and hands over every whole reply at the front of c->in. */
static int parse_replies(struct lg_client *c)
{
	size_t pos = 0, used;
	const struct resp_reply *r;
	int rc = 0;

	while (pos < c->in_len) {
		rc = resp_reply_parse(&c->parser, c->in + pos, c->in_len - pos,
				      &r, &used);
		if (rc < 0) {
			lg_fatal(c->run, "client %u: %s", c->id,
				 resp_reply_parser_error(&c->parser));
			return -1;
		}
		if (rc == 0)
			break;
		pos += used;
		if (lg_work_reply(c, r) != 0)
			return -1;
	}
	if (pos > 0) {
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
	return 0;
}

static int read_in(struct lg_client *c)
{
	ssize_t n;

	for (;;) {
		if (c->in_cap - c->in_len < 4096) {
			size_t cap = c->in_cap ? c->in_cap * 2 : IN_MIN;
			char *p;

			if (cap > IN_MAX) {
				lg_fatal(c->run, "client %u: a reply over %zu "
					 "bytes", c->id, IN_MAX);
				return -1;
			}
			p = realloc(c->in, cap);
			if (p == NULL) {
				lg_fatal(c->run, "client %u: out of memory",
					 c->id);
				return -1;
			}
			c->in = p;
			c->in_cap = cap;
		}
		n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			lg_fatal(c->run, "client %u: read: %s", c->id,
				 n < 0 ? strerror(errno)
				       : "connection closed by the server");
			return -1;
		}
		c->in_len += (size_t)n;
		if (parse_replies(c) != 0)
			return -1;
		if ((size_t)n < 4096)
			return 0; /* most likely drained: back to epoll */
	}
}

static int active(const struct lg_client *c)
{
	return !c->done || c->q_len > 0;
}

static int step(int ep, struct lg_client *c)
{
	if (lg_work_issue(c) != 0)
		return -1;
	return c->out.len > 0 ? flush_out(ep, c) : 0;
}

void lg_loop_run(struct lg_client *cs, unsigned n)
{
	struct epoll_event evs[64];
	struct lg_run *run = n ? cs[0].run : NULL;
	uint64_t timeout_ns;
	int ep;

	if (n == 0)
		return;
	timeout_ns = (uint64_t)(run->conf->timeout * 1e9);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0) {
		lg_fatal(run, "epoll_create1: %s", strerror(errno));
		return;
	}
	for (unsigned i = 0; i < n; i++) {
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.ptr = &cs[i] };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0) {
			lg_fatal(run, "epoll_ctl: %s", strerror(errno));
			goto out;
		}
		if (step(ep, &cs[i]) != 0)
			goto out;
	}
	for (;;) {
		unsigned live = 0;
		uint64_t now;
		int k;

		if (atomic_load(&run->fatal))
			goto out;
		k = epoll_wait(ep, evs, 64, 50);
		if (k < 0 && errno != EINTR) {
			lg_fatal(run, "epoll_wait: %s", strerror(errno));
			goto out;
		}
		for (int i = 0; i < k; i++) {
			struct lg_client *c = evs[i].data.ptr;

			if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
			    read_in(c) != 0)
				goto out;
			if (step(ep, c) != 0)
				goto out;
		}
		now = lg_now_ns();
		for (unsigned i = 0; i < n; i++) {
			struct lg_client *c = &cs[i];

			if (!active(c))
				continue;
			live++;
			/* A client idle at the deadline ends here. */
			if (c->q_len == 0 && step(ep, c) != 0)
				goto out;
			if (c->q_len > 0 &&
			    now - c->last_progress_ns > timeout_ns) {
				lg_fatal(run, "client %u: no reply for %.0f s",
					 c->id, run->conf->timeout);
				goto out;
			}
		}
		if (live == 0)
			break;
	}
out:
	close(ep);
}
