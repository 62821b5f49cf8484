/* cluster.c - see cluster.h. */
#define _GNU_SOURCE
#include "cluster.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../unit/tmpdir.h"

#ifndef DKV_TEST_DKVD
#error "DKV_TEST_DKVD (path of dkvd) must be defined"
#endif

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

uint16_t tc_free_port(void)
{
	struct sockaddr_in sa = { 0 };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	uint16_t port = 0;

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int connect_addr(const char *addr)
{
	struct sockaddr_in sa = { 0 };
	const char *colon = strrchr(addr, ':');
	char host[64];
	struct timeval tv = { 5, 0 };
	int fd;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

const char *tc_password;

struct resp_reply *tc_cmd(const char *addr, size_t argc,
			  const char *const *argv, const size_t *argvlen)
{
	struct resp_buf out;
	struct resp_reply_parser p;
	const struct resp_reply *r;
	struct resp_reply *copy = NULL;
	char *in = NULL;
	size_t len = 0, cap = 0, consumed;
	int fd = connect_addr(addr), rc, skip = tc_password != NULL;

	if (fd < 0)
		return NULL;
	resp_buf_init(&out, 0);
	resp_reply_parser_init(&p, NULL);
	if (tc_password != NULL) {
		const char *auth[2] = { "AUTH", tc_password };

		if (resp_put_command(&out, 2, auth, NULL) != 0)
			goto done;
	}
	if (resp_put_command(&out, argc, argv, argvlen) != 0)
		goto done;
	for (size_t off = 0; off < out.len;) {
		ssize_t n = send(fd, out.data + off, out.len - off,
				 MSG_NOSIGNAL);

		if (n <= 0)
			goto done;
		off += (size_t)n;
	}
	for (;;) {
		ssize_t n;

		if (len > 0) {
			rc = resp_reply_parse(&p, in, len, &r, &consumed);
			if (rc < 0)
				goto done;
			if (rc == 1 && skip > 0) {
				/* the AUTH reply */
				skip--;
				memmove(in, in + consumed, len - consumed);
				len -= consumed;
				continue;
			}
			if (rc == 1) {
				copy = resp_reply_dup(r);
				goto done;
			}
		}
		if (cap - len < 65536) {
			char *np = realloc(in, cap + 65536 * 4);

			if (np == NULL)
				goto done;
			in = np;
			cap += 65536 * 4;
		}
		n = recv(fd, in + len, cap - len, 0);
		if (n <= 0)
			goto done;
		len += (size_t)n;
	}
done:
	close(fd);
	free(in);
	resp_buf_free(&out);
	resp_reply_parser_free(&p);
	return copy;
}

long long tc_info_field(const char *addr, const char *name)
{
	static const char *const argv[1] = { "INFO" };
	struct resp_reply *r = tc_cmd(addr, 1, argv, NULL);
	long long v = -1;
	char pat[128];
	const char *p;

	if (r == NULL)
		return -1;
	snprintf(pat, sizeof(pat), "\n%s:", name);
	if (r->type == RESP_BULK && (p = strstr(r->str, pat)) != NULL) {
		p += strlen(pat);
		if (strncmp(p, "calls=", 6) == 0)
			p += 6;
		v = strtoll(p, NULL, 10);
	} else if (r->type == RESP_BULK) {
		v = 0; /* absent counters are zero */
	}
	resp_reply_free(r);
	return v;
}

static int ping_ok(const char *addr)
{
	static const char *const argv[1] = { "PING" };
	struct resp_reply *r = tc_cmd(addr, 1, argv, NULL);
	int ok = r != NULL && r->type == RESP_STRING;

	resp_reply_free(r);
	return ok;
}

static int spawn(struct tc_node *nd, const char *const *extra)
{
	char id[16], log[600];
	const char *argv[32];
	int n = 0;
	pid_t pid;

	snprintf(id, sizeof(id), "%u", nd->id);
	snprintf(log, sizeof(log), "%s.log", nd->dir);
	/* $DKV_TEST_DKVD overrides the dkvd of this build. */
	argv[n++] = getenv("DKV_TEST_DKVD") ? getenv("DKV_TEST_DKVD")
					    : DKV_TEST_DKVD;
	argv[n++] = "--node-id";
	argv[n++] = id;
	argv[n++] = "--node-listen";
	argv[n++] = nd->addr;
	argv[n++] = "--node-dir";
	argv[n++] = nd->dir;
	argv[n++] = "--store-durability";
	argv[n++] = "none";
	argv[n++] = "--store-cache-mb";
	argv[n++] = "8";
	argv[n++] = "--store-write-buffer-mb";
	argv[n++] = "8";
	argv[n++] = "--server-workers";
	argv[n++] = "2";
	for (int i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		/* Never outlive the test, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		/* A sanitizer build's daemon must not fail the test on its
		 * own leak report at exit. */
		setenv("ASAN_OPTIONS", "detect_leaks=0", 1);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	nd->pid = pid;
	return 0;
}

int tc_node_start(struct tc_node *nd, uint32_t id, const char *dir,
		  const char *const *extra)
{
	for (int attempt = 0; attempt < 3; attempt++) {
		nd->id = id;
		nd->port = tc_free_port();
		snprintf(nd->addr, sizeof(nd->addr), "127.0.0.1:%u", nd->port);
		snprintf(nd->dir, sizeof(nd->dir), "%s", dir);
		if (nd->port == 0 || spawn(nd, extra) != 0)
			return -1;
		for (int i = 0; i < 200; i++) {
			int st;

			if (ping_ok(nd->addr))
				return 0;
			if (waitpid(nd->pid, &st, WNOHANG) == nd->pid) {
				nd->pid = 0; /* e.g. the port was taken */
				break;
			}
			sleep_ms(50);
		}
		tc_node_stop(nd);
	}
	return -1;
}

void tc_node_stop(struct tc_node *nd)
{
	int st;

	if (nd->pid <= 0)
		return;
	kill(nd->pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(nd->pid, &st, WNOHANG) == nd->pid) {
			nd->pid = 0;
			return;
		}
		sleep_ms(50);
	}
	kill(nd->pid, SIGKILL);
	waitpid(nd->pid, &st, 0);
	nd->pid = 0;
}

int tc_push_map(struct tc *tc, struct dkv_map *m)
{
	char *json = NULL;
	size_t len = 0;
	int rc = 0;

	if (dkv_map_to_json(m, 0, &json, &len) != DKV_OK) {
		dkv_map_destroy(m);
		return -1;
	}
	for (int i = 0; i < tc->n; i++) {
		const char *argv[2] = { "DKV.SETMAP", json };
		struct resp_reply *r = tc_cmd(tc->nodes[i].addr, 2, argv, NULL);

		if (r == NULL || r->type != RESP_STRING) {
			int st = 0;
			pid_t pid = tc->nodes[i].pid;

			usleep(100 * 1000);
			if (pid > 0 && waitpid(pid, &st, WNOHANG) == pid) {
				fprintf(stderr,
					"SETMAP to %s: node %u died (%s %d)\n",
					tc->nodes[i].addr, tc->nodes[i].id,
					WIFSIGNALED(st) ? "signal" : "exit",
					WIFSIGNALED(st) ? WTERMSIG(st)
							: WEXITSTATUS(st));
				tc->nodes[i].pid = 0;
			} else {
				fprintf(stderr, "SETMAP to %s: %s\n",
					tc->nodes[i].addr,
					r ? r->str : "no reply");
			}
			rc = -1;
		}
		resp_reply_free(r);
	}
	free(json);
	dkv_map_destroy(tc->map);
	tc->map = m;
	return rc;
}

int tc_start(struct tc *tc, int n, uint32_t nshards)
{
	struct dkv_map_node_conf nodes[TC_MAX_NODES];
	struct dkv_map_conf conf = { 0 };
	struct dkv_map *m;
	char err[256];

	memset(tc, 0, sizeof(*tc));
	if (n > TC_MAX_NODES || test_tmpdir_make(tc->root, sizeof(tc->root)))
		return -1;
	for (int i = 0; i < n; i++) {
		char dir[600];

		snprintf(dir, sizeof(dir), "%s/node%d", tc->root, i + 1);
		if (tc_node_start(&tc->nodes[i], (uint32_t)i + 1, dir, NULL)) {
			fprintf(stderr, "cannot start node %d\n", i + 1);
			tc->n = i;
			tc_stop(tc);
			return -1;
		}
		tc->n = i + 1;
		nodes[i].id = (uint32_t)i + 1;
		nodes[i].addr = tc->nodes[i].addr;
	}
	conf.name = "test";
	conf.cluster_id = 0x1234abcd5678ef01ull ^ (uint64_t)getpid();
	conf.nodes = nodes;
	conf.nnodes = (uint32_t)n;
	conf.family.kind = DKV_FAMILY_HASH;
	conf.family.nshards = nshards;
	if (dkv_map_create(&conf, &m, err, sizeof(err)) != DKV_OK) {
		fprintf(stderr, "map: %s\n", err);
		tc_stop(tc);
		return -1;
	}
	if (tc_push_map(tc, m) != 0) {
		tc_stop(tc);
		return -1;
	}
	return 0;
}

void tc_stop(struct tc *tc)
{
	for (int i = 0; i < tc->n; i++)
		tc_node_stop(&tc->nodes[i]);
	tc->n = 0;
	dkv_map_destroy(tc->map);
	tc->map = NULL;
	/* DKV_TEST_KEEP=1 keeps the nodes' directories and logs. */
	if (tc->root[0] && getenv("DKV_TEST_KEEP") == NULL)
		test_tmpdir_remove(tc->root);
	else if (tc->root[0])
		fprintf(stderr, "kept %s\n", tc->root);
	tc->root[0] = '\0';
}

void tc_seeds(const struct tc *tc, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < tc->n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? "," : "", tc->nodes[i].addr);
}
