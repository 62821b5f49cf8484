/*
 * echo.c - `dkv-bench --serve-echo`: the trivial RESP server that measures
 * the loopback ceiling (bench/workloads.md). One thread, one epoll loop on
 * 127.0.0.1, no storage: every command is answered at once from its name
 *
 *   GET        a bulk of --value-size bytes
 *   MGET k...  an array of bulks "1000" (workload T reads balances)
 *   MULTI      +OK, then +QUEUED for each command until EXEC
 *   EXEC       an array of +OK, one per queued command
 *   DKV.RANGE  [ "", [] ] (an exhausted range)
 *   PING       +PONG
 *   others     +OK
 *
 * It runs until SIGTERM or SIGINT, then closes every connection. A
 * connection that sends a malformed stream, or more than 64 MiB without a
 * whole command, is closed; the others go on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lg.h"

#define ECHO_IN_MAX ((size_t)64 << 20)

struct echo_conn {
	struct echo_conn *prev, *next; /* every open connection */
	int fd;
	char *in;
	size_t in_len, in_cap;
	struct resp_cmd_parser parser;
	struct resp_buf out;
	int in_multi;
	size_t queued;
};

static volatile sig_atomic_t echo_stop;
static struct echo_conn *echo_conns;

static void on_signal(int sig)
{
	(void)sig;
	echo_stop = 1;
}

static int is(const struct resp_cmd *cmd, const char *name)
{
	return cmd->argvlen[0] == strlen(name) &&
	       strncasecmp(cmd->argv[0], name, cmd->argvlen[0]) == 0;
}

static int answer(struct echo_conn *e, const struct resp_cmd *cmd,
		  const char *value, size_t vlen)
{
	if (is(cmd, "EXEC")) {
		int rc;

		if (!e->in_multi)
			return resp_put_error(&e->out,
					      "ERR EXEC without MULTI", 22);
		rc = resp_put_array(&e->out, e->queued);
		for (size_t i = 0; rc == 0 && i < e->queued; i++)
			rc = resp_put_ok(&e->out);
		e->in_multi = 0;
		return rc;
	}
	if (e->in_multi) {
		e->queued++;
		return resp_put_simple(&e->out, "QUEUED", 6);
	}
	if (is(cmd, "MULTI")) {
		e->in_multi = 1;
		e->queued = 0;
		return resp_put_ok(&e->out);
	}
	if (is(cmd, "GET"))
		return resp_put_bulk(&e->out, value, vlen);
	if (is(cmd, "MGET")) {
		int rc = resp_put_array(&e->out, cmd->argc - 1);

		for (size_t i = 1; rc == 0 && i < cmd->argc; i++)
			rc = resp_put_bulk(&e->out, "1000", 4);
		return rc;
	}
	if (is(cmd, "DKV.RANGE")) {
		int rc = resp_put_array(&e->out, 2);

		if (rc == 0)
			rc = resp_put_bulk(&e->out, "", 0);
		return rc == 0 ? resp_put_array(&e->out, 0) : rc;
	}
	if (is(cmd, "PING"))
		return resp_put_simple(&e->out, "PONG", 4);
	return resp_put_ok(&e->out);
}

static void conn_close(int ep, struct echo_conn *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		echo_conns = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	epoll_ctl(ep, EPOLL_CTL_DEL, e->fd, NULL);
	close(e->fd);
	free(e->in);
	resp_cmd_parser_free(&e->parser);
	resp_buf_free(&e->out);
	free(e);
}

/* Reads, answers every whole command, writes. -1: close it. */
static int conn_serve(struct echo_conn *e, const char *value, size_t vlen)
{
	struct resp_cmd cmd;
	size_t pos = 0, used, off = 0;
	ssize_t n;
	int rc;

	if (e->in_cap - e->in_len < 4096) {
		size_t cap = e->in_cap ? e->in_cap * 2 : 65536;
		char *p = cap <= ECHO_IN_MAX ? realloc(e->in, cap) : NULL;

		if (p == NULL)
			return -1;
		e->in = p;
		e->in_cap = cap;
	}
	n = read(e->fd, e->in + e->in_len, e->in_cap - e->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	e->in_len += (size_t)n;
	while ((rc = resp_cmd_parse(&e->parser, e->in + pos, e->in_len - pos,
				    &cmd, &used)) == 1) {
		pos += used;
		if (answer(e, &cmd, value, vlen) != 0)
			return -1;
	}
	if (rc < 0)
		return -1;
	memmove(e->in, e->in + pos, e->in_len - pos);
	e->in_len -= pos;
	/* Blocking-style flush: replies are small and the client reads; one
	 * that stops reading for a second is dropped. */
	while (off < e->out.len) {
		struct pollfd pfd = { .fd = e->fd, .events = POLLOUT };

		n = write(e->fd, e->out.data + off, e->out.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (poll(&pfd, 1, 1000) != 1)
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	resp_buf_reset(&e->out);
	return 0;
}

int lg_echo_serve(int port, size_t value_size)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sigaction act = { .sa_handler = on_signal };
	struct epoll_event ev, evs[64];
	char *value = malloc(value_size ? value_size : 1);
	int one = 1, lfd = -1, ep = -1, rc = 1;

	if (value == NULL)
		goto out;
	memset(value, 'x', value_size);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(lfd, 1024) != 0) {
		fprintf(stderr, "dkv-bench: echo server on 127.0.0.1:%d: %s\n",
			port, strerror(errno));
		goto out;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL; /* the listener */
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) != 0)
		goto out;
	fprintf(stderr, "dkv-bench: echo server on 127.0.0.1:%d\n", port);
	while (!echo_stop) {
		int k = epoll_wait(ep, evs, 64, 200);

		for (int i = 0; i < k; i++) {
			struct echo_conn *e = evs[i].data.ptr;

			if (e == NULL) {
				int fd = accept4(lfd, NULL, NULL,
						 SOCK_NONBLOCK | SOCK_CLOEXEC);

				if (fd < 0)
					continue;
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
					   sizeof(one));
				e = calloc(1, sizeof(*e));
				if (e == NULL) {
					close(fd);
					continue;
				}
				e->fd = fd;
				e->next = echo_conns;
				if (echo_conns != NULL)
					echo_conns->prev = e;
				echo_conns = e;
				resp_cmd_parser_init(&e->parser, NULL);
				resp_buf_init(&e->out, 0);
				ev.events = EPOLLIN;
				ev.data.ptr = e;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
					conn_close(ep, e);
				continue;
			}
			if (conn_serve(e, value, value_size) != 0)
				conn_close(ep, e);
		}
	}
	rc = 0;
out:
	while (echo_conns != NULL)
		conn_close(ep, echo_conns);
	if (ep >= 0)
		close(ep);
	if (lfd >= 0)
		close(lfd);
	free(value);
	return rc;
}
