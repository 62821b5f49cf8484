/* fake.c - see fake.h. One thread polls the listener and its connections. */
#define _GNU_SOURCE
#include "fake.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/resp.h"
#include "shard/map.h"

#define FAKE_MAX_CONNS 32

struct fconn {
	int fd;
	char *in;
	size_t len, cap;
	struct resp_cmd_parser p;
};

static int is(const struct resp_cmd *c, const char *s)
{
	return c->argvlen[0] == strlen(s) &&
	       strncasecmp(c->argv[0], s, c->argvlen[0]) == 0;
}

static void send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* Answers one command into out; returns 1 to drop the connection. */
static int answer(struct fake *f, const struct resp_cmd *cmd,
		  struct resp_buf *out)
{
	/* DKV.SNAPSHOT counts as a SET (answered +OK when served). */
	int data = is(cmd, "GET") || is(cmd, "SET") ||
		   is(cmd, "DKV.SNAPSHOT");

	if (is(cmd, "DKV.MAP")) {
		atomic_fetch_add(&f->maps, 1);
		pthread_mutex_lock(&f->lock);
		resp_put_bulk(out, f->map_json, strlen(f->map_json));
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	if (is(cmd, "DKV.SHARDOF")) {
		pthread_mutex_lock(&f->lock);
		resp_put_array(out, 4);
		resp_put_int(out, 0);
		resp_put_int(out, 1);
		resp_put_bulk(out, f->addr, strlen(f->addr));
		resp_put_int(out, (int64_t)f->version);
		pthread_mutex_unlock(&f->lock);
		return 0;
	}
	if (is(cmd, "PING")) {
		resp_put_simple(out, "PONG", 4);
		return 0;
	}
	if (!data) {
		resp_put_error(out, "ERR unknown command", 19);
		return 0;
	}
	if (is(cmd, "GET"))
		atomic_fetch_add(&f->gets, 1);
	else
		atomic_fetch_add(&f->sets, 1);
	if (atomic_load(&f->left) > 0) {
		atomic_fetch_sub(&f->left, 1);
		switch ((enum fake_mode)atomic_load(&f->mode)) {
		case FAKE_TRYAGAIN:
			resp_put_error(out, "TRYAGAIN busy", 13);
			return 0;
		case FAKE_CLUSTERDOWN:
			resp_put_error(out, "CLUSTERDOWN no map", 18);
			return 0;
		case FAKE_LOADING:
			resp_put_error(out, "LOADING shutting down", 21);
			return 0;
		case FAKE_DROP:
			return 1;
		case FAKE_MOVED:
			resp_put_errorf(out, "MOVED 0 %s", f->moved_to);
			return 0;
		case FAKE_SLOW:
			usleep((useconds_t)f->slow_ms * 1000);
			break;
		case FAKE_OK:
			break;
		}
	}
	if (is(cmd, "GET"))
		resp_put_bulk(out, "hello", 5);
	else
		resp_put_ok(out);
	return 0;
}

static void fconn_free(struct fconn *c)
{
	close(c->fd);
	free(c->in);
	resp_cmd_parser_free(&c->p);
	c->fd = -1;
	c->in = NULL;
	c->len = c->cap = 0;
}

/* Reads and answers what c has; returns 1 when it is to be dropped. */
static int serve(struct fake *f, struct fconn *c)
{
	struct resp_buf out;
	ssize_t n;
	int drop = 0;

	if (c->cap - c->len < 4096) {
		char *p = realloc(c->in, c->cap * 2 + 8192);

		if (p == NULL)
			return 1;
		c->in = p;
		c->cap = c->cap * 2 + 8192;
	}
	n = recv(c->fd, c->in + c->len, c->cap - c->len, 0);
	if (n <= 0)
		return 1;
	c->len += (size_t)n;
	resp_buf_init(&out, 0);
	for (;;) {
		struct resp_cmd cmd;
		size_t consumed = 0;
		int rc = resp_cmd_parse(&c->p, c->in, c->len, &cmd, &consumed);

		if (rc < 0) {
			drop = 1;
			break;
		}
		if (rc == 1)
			drop = answer(f, &cmd, &out);
		memmove(c->in, c->in + consumed, c->len - consumed);
		c->len -= consumed;
		if (rc == 0 || drop)
			break;
	}
	if (!drop)
		send_all(c->fd, out.data, out.len);
	resp_buf_free(&out);
	return drop;
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct fconn conns[FAKE_MAX_CONNS];

	for (int i = 0; i < FAKE_MAX_CONNS; i++)
		conns[i].fd = -1;
	while (!atomic_load(&f->stop)) {
		struct pollfd pfd[FAKE_MAX_CONNS + 1];
		int idx[FAKE_MAX_CONNS + 1], n = 0;

		pfd[n].fd = f->lfd;
		pfd[n].events = POLLIN;
		idx[n++] = -1;
		for (int i = 0; i < FAKE_MAX_CONNS; i++)
			if (conns[i].fd >= 0) {
				pfd[n].fd = conns[i].fd;
				pfd[n].events = POLLIN;
				idx[n++] = i;
			}
		if (poll(pfd, (nfds_t)n, 50) <= 0)
			continue;
		for (int k = 0; k < n; k++) {
			if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (idx[k] < 0) {
				int fd = accept(f->lfd, NULL, NULL);

				for (int i = 0; fd >= 0 && i < FAKE_MAX_CONNS;
				     i++)
					if (conns[i].fd < 0) {
						memset(&conns[i], 0,
						       sizeof(conns[i]));
						conns[i].fd = fd;
						resp_cmd_parser_init(
							&conns[i].p, NULL);
						atomic_fetch_add(&f->conns, 1);
						fd = -1;
						break;
					}
				if (fd >= 0)
					close(fd);
			} else if (serve(f, &conns[idx[k]])) {
				fconn_free(&conns[idx[k]]);
			}
		}
	}
	for (int i = 0; i < FAKE_MAX_CONNS; i++)
		if (conns[i].fd >= 0)
			fconn_free(&conns[i]);
	return NULL;
}

int fake_start(struct fake *f)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	struct dkv_map_node_conf node = { 1, NULL };
	struct dkv_map_conf conf = { 0 };
	struct dkv_map *m;
	char err[128];

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	f->version = 1;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(f->lfd, (struct sockaddr *)&sa, &sl) ||
	    listen(f->lfd, 64))
		return -1;
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u",
		 ntohs(sa.sin_port));
	node.addr = f->addr;
	conf.name = "fake";
	conf.cluster_id = 0xfa4e;
	conf.nodes = &node;
	conf.nnodes = 1;
	conf.family.kind = DKV_FAMILY_HASH;
	conf.family.nshards = 1;
	if (dkv_map_create(&conf, &m, err, sizeof(err)) != DKV_OK)
		return -1;
	if (dkv_map_to_json(m, 0, &f->map_json, NULL) != DKV_OK) {
		dkv_map_destroy(m);
		return -1;
	}
	dkv_map_destroy(m);
	return pthread_create(&f->thread, NULL, fake_main, f) == 0 ? 0 : -1;
}

void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, 1);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	free(f->map_json);
	pthread_mutex_destroy(&f->lock);
}

void fake_set_map(struct fake *f, const char *json, uint64_t version)
{
	char *copy = strdup(json);

	pthread_mutex_lock(&f->lock);
	free(f->map_json);
	f->map_json = copy;
	f->version = version;
	pthread_mutex_unlock(&f->lock);
}

void fake_script(struct fake *f, enum fake_mode mode, int n)
{
	atomic_store(&f->mode, (int)mode);
	atomic_store(&f->left, n);
}
