/* conn.c - see conn.h. Plain blocking sockets driven by poll(2) with
 * deadlines: a client call has one request in flight per connection, so an
 * event loop would add nothing but a thread. */
#define _GNU_SOURCE
#include "client/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/client_int.h"

#define CONN_READ_CHUNK ((size_t)64 << 10)

struct dkv_conn {
	int fd;
	char addr[DKV_ADDR_MAX];
	char *in;         /* received bytes not yet consumed */
	size_t inlen, incap;
	size_t drop;      /* bytes of the last reply, dropped on next call */
	struct resp_reply_parser parser;
	struct resp_buf out;
	uint64_t routed;  /* map version announced with DKV.ROUTED, 0 none */
};

uint64_t dkv_conn_routed(const struct dkv_conn *c)
{
	return c->routed;
}

void dkv_conn_set_routed(struct dkv_conn *c, uint64_t version)
{
	c->routed = version;
}

uint64_t dkv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int dkv_addr_split(const char *addr, char *host, size_t hostlen,
		   uint16_t *port)
{
	const char *colon, *h = addr;
	size_t hl;
	char *end;
	unsigned long p;

	if (addr == NULL || *addr == '\0')
		return DKV_ERR_INVAL;
	colon = strrchr(addr, ':');
	if (colon == NULL || colon == addr || colon[1] == '\0')
		return DKV_ERR_INVAL;
	hl = (size_t)(colon - addr);
	if (addr[0] == '[') {
		if (colon[-1] != ']' || hl < 3)
			return DKV_ERR_INVAL;
		h = addr + 1;
		hl -= 2;
	} else if (memchr(addr, ':', hl) != NULL) {
		return DKV_ERR_INVAL; /* IPv6 without brackets */
	}
	if (hl + 1 > hostlen)
		return DKV_ERR_INVAL;
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end != '\0' || p == 0 || p > 65535 ||
	    colon[1] < '0' || colon[1] > '9')
		return DKV_ERR_INVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)p;
	return DKV_OK;
}

static int remaining_ms(uint64_t deadline_ms)
{
	uint64_t now = dkv_now_ms();

	if (now >= deadline_ms)
		return 0;
	return deadline_ms - now > INT32_MAX ? INT32_MAX
					      : (int)(deadline_ms - now);
}

/* Waits for events on fd before the deadline: 0, DKV_ERR_TIMEOUT or
 * DKV_ERR_IO. */
static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = events };
		int ms = remaining_ms(deadline_ms);
		int n;

		if (ms == 0)
			return DKV_ERR_TIMEOUT;
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return DKV_OK;
		if (n == 0)
			return DKV_ERR_TIMEOUT;
		if (errno != EINTR)
			return DKV_ERR_IO;
	}
}

static int connect_one(const struct addrinfo *ai, const char *addr,
		       uint64_t deadline_ms, int *out)
{
	int fd, rc, one = 1, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
			   SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0) {
		dkv_set_error("socket: %s", strerror(errno));
		return DKV_ERR_IO;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		if (errno != EINPROGRESS) {
			dkv_set_error("connect %s: %s", addr, strerror(errno));
			close(fd);
			return DKV_ERR_IO;
		}
		rc = wait_fd(fd, POLLOUT, deadline_ms);
		if (rc != DKV_OK) {
			dkv_set_error("connect %s: %s", addr,
				      rc == DKV_ERR_TIMEOUT ? "timed out"
							    : strerror(errno));
			close(fd);
			return rc;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
		    soerr != 0) {
			dkv_set_error("connect %s: %s", addr,
				      strerror(soerr ? soerr : errno));
			close(fd);
			return DKV_ERR_IO;
		}
	}
	/* Blocking from here on; every wait goes through poll. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = fd;
	return DKV_OK;
}

int dkv_conn_open(const char *addr, const char *password,
		  uint64_t deadline_ms, struct dkv_conn **out)
{
	char host[DKV_ADDR_MAX], port[8];
	uint16_t p;
	struct addrinfo hints = { 0 }, *res = NULL, *ai;
	struct dkv_conn *c;
	int rc, fd = -1;

	rc = dkv_addr_split(addr, host, sizeof(host), &p);
	if (rc != DKV_OK) {
		dkv_set_error("bad address '%s': expected host:port", addr);
		return rc;
	}
	snprintf(port, sizeof(port), "%u", p);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		dkv_set_error("resolve %s: %s", host, gai_strerror(rc));
		return DKV_ERR_IO;
	}
	rc = DKV_ERR_IO;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		rc = connect_one(ai, addr, deadline_ms, &fd);
		if (rc == DKV_OK || rc == DKV_ERR_TIMEOUT)
			break;
	}
	freeaddrinfo(res);
	if (rc != DKV_OK)
		return rc;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return DKV_ERR_NOMEM;
	}
	c->fd = fd;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	resp_reply_parser_init(&c->parser, NULL);
	resp_buf_init(&c->out, 0);
	if (password != NULL && *password != '\0') {
		const char *argv[2] = { "AUTH", password };
		const struct resp_reply *r;

		rc = dkv_conn_call(c, 2, argv, NULL, deadline_ms, &r, NULL);
		if (rc == DKV_OK && r->type == RESP_ERROR) {
			dkv_set_error("%s: %.*s", addr, (int)r->len, r->str);
			rc = DKV_ERR_AUTH;
		} else if (rc == DKV_OK && r->type != RESP_STRING) {
			rc = DKV_ERR_PROTO;
		}
		if (rc != DKV_OK) {
			dkv_conn_close(c);
			return rc;
		}
	}
	*out = c;
	return DKV_OK;
}

void dkv_conn_close(struct dkv_conn *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->in);
	resp_reply_parser_free(&c->parser);
	resp_buf_free(&c->out);
	free(c);
}

const char *dkv_conn_addr(const struct dkv_conn *c)
{
	return c->addr;
}

static int send_all(struct dkv_conn *c, const char *p, size_t len,
		    uint64_t deadline_ms, int *sent)
{
	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			if (sent)
				*sent = 1;
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(c->fd, POLLOUT, deadline_ms);

			if (rc != DKV_OK) {
				dkv_set_error("send to %s: %s", c->addr,
					      rc == DKV_ERR_TIMEOUT
						      ? "timed out"
						      : strerror(errno));
				return rc;
			}
			continue;
		}
		dkv_set_error("send to %s: %s", c->addr, strerror(errno));
		return DKV_ERR_IO;
	}
	return DKV_OK;
}

int dkv_conn_call(struct dkv_conn *c, size_t argc, const char *const *argv,
		  const size_t *argvlen, uint64_t deadline_ms,
		  const struct resp_reply **reply, int *sent)
{
	size_t consumed;
	int rc;

	if (sent)
		*sent = 0;
	/* Drop the previous reply's bytes. */
	if (c->drop > 0) {
		memmove(c->in, c->in + c->drop, c->inlen - c->drop);
		c->inlen -= c->drop;
		c->drop = 0;
	}
	resp_buf_reset(&c->out);
	rc = resp_put_command(&c->out, argc, argv, argvlen);
	if (rc != DKV_OK)
		return rc;
	rc = send_all(c, c->out.data, c->out.len, deadline_ms, sent);
	/* Keep memory bounded after a large request. */
	if (c->out.cap > ((size_t)1 << 20))
		resp_buf_free(&c->out);
	if (rc != DKV_OK)
		return rc;
	for (;;) {
		ssize_t n;

		if (c->inlen > 0) {
			rc = resp_reply_parse(&c->parser, c->in, c->inlen,
					      reply, &consumed);
			if (rc < 0) {
				dkv_set_error("reply from %s: %s", c->addr,
					      resp_reply_parser_error(
						      &c->parser));
				return rc;
			}
			if (rc == 1) {
				c->drop = consumed;
				return DKV_OK;
			}
			/* 0: the parser consumed nothing and remembers
			 * its progress over these same bytes. */
		}
		if (c->incap - c->inlen < CONN_READ_CHUNK) {
			size_t cap = c->incap ? c->incap : CONN_READ_CHUNK;
			char *p;

			while (cap - c->inlen < CONN_READ_CHUNK)
				cap *= 2;
			p = realloc(c->in, cap);
			if (p == NULL)
				return DKV_ERR_NOMEM;
			c->in = p;
			c->incap = cap;
		}
		rc = wait_fd(c->fd, POLLIN, deadline_ms);
		if (rc != DKV_OK) {
			dkv_set_error("reply from %s: %s", c->addr,
				      rc == DKV_ERR_TIMEOUT ? "timed out"
							    : strerror(errno));
			return rc;
		}
		n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen,
			 MSG_DONTWAIT);
		if (n > 0) {
			c->inlen += (size_t)n;
		} else if (n == 0) {
			dkv_set_error("reply from %s: connection closed by "
				      "the node",
				      c->addr);
			return DKV_ERR_IO;
		} else if (errno != EINTR && errno != EAGAIN &&
			   errno != EWOULDBLOCK) {
			dkv_set_error("reply from %s: %s", c->addr,
				      strerror(errno));
			return DKV_ERR_IO;
		}
	}
}

int dkv_conn_idle_ok(struct dkv_conn *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

	if (c->drop > 0 && c->drop < c->inlen)
		return 0; /* unexpected bytes after the last reply */
	if (poll(&pfd, 1, 0) != 0)
		return 0; /* readable (EOF or stray data), or an error */
	/* Shrink a buffer grown for a large value before pooling. */
	if (c->incap > ((size_t)1 << 20) && c->inlen == c->drop) {
		free(c->in);
		c->in = NULL;
		c->inlen = c->incap = c->drop = 0;
	}
	return 1;
}
