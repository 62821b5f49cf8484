/*
 * cmd_local.c - local start / stop / status: a cluster of dkvd processes
 * on this machine, for development and tests.
 *
 * DIR/local.json records the layout (nodes, first port, sharding); node i
 * (1..N) listens on 127.0.0.1:PORT+i-1 with its data, dkvd.pid and
 * dkvd.log in DIR/node<i>/. The nodes are detached (their own session,
 * reparented to init), so they outlive the tool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/conn.h"
#include "shard/map.h"

#define HELP_OPT { "help", no_argument, NULL, 'H' }
#define LOCAL_MAX_NODES 64
#define START_WAIT_MS 10000
#define STOP_WAIT_MS 10000
/* Buffer sizes that leave room for what is appended to each. */
#define DIR_MAX (PATH_MAX - 128)  /* --dir */
#define NDIR_MAX (PATH_MAX - 64)  /* DIR/node<i> */

struct layout {
	uint32_t nodes;
	uint32_t port;
	uint32_t shards; /* 0: the default */
	char sharding[16];
	char durability[16];
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void node_dir(const char *dir, uint32_t i, char *buf, size_t len)
{
	snprintf(buf, len, "%s/node%u", dir, i);
}

static void node_addr(const struct layout *l, uint32_t i, char *buf,
		      size_t len)
{
	snprintf(buf, len, "127.0.0.1:%u", l->port + i - 1);
}

/* --- local.json ------------------------------------------------------------ */

static int layout_load(const char *dir, struct layout *l)
{
	char path[PATH_MAX];
	json_error_t jerr;
	json_t *j;
	const char *sh = NULL, *du = NULL;
	json_int_t n = 0, p = 0, s = 0;

	snprintf(path, sizeof(path), "%s/local.json", dir);
	if (access(path, F_OK) != 0)
		return 0;
	j = json_load_file(path, 0, &jerr);
	if (j == NULL ||
	    json_unpack(j, "{s:I, s:I, s:I, s:s, s:s}", "nodes", &n, "port",
			&p, "shards", &s, "sharding", &sh, "durability",
			&du) != 0 ||
	    n < 1 || n > LOCAL_MAX_NODES || p < 1 || p + n - 1 > 65535 ||
	    s < 0 || s > (json_int_t)DKV_SHARDS_MAX) {
		cli_err("%s: not a layout written by 'dkv local start'", path);
		json_decref(j);
		return -1;
	}
	l->nodes = (uint32_t)n;
	l->port = (uint32_t)p;
	l->shards = (uint32_t)s;
	snprintf(l->sharding, sizeof(l->sharding), "%s", sh);
	snprintf(l->durability, sizeof(l->durability), "%s", du);
	json_decref(j);
	return 1;
}

static int layout_save(const char *dir, const struct layout *l)
{
	char path[PATH_MAX];
	json_t *j = json_pack("{s:I, s:I, s:I, s:s, s:s}", "nodes",
			      (json_int_t)l->nodes, "port",
			      (json_int_t)l->port, "shards",
			      (json_int_t)l->shards, "sharding", l->sharding,
			      "durability", l->durability);
	int rc;

	snprintf(path, sizeof(path), "%s/local.json", dir);
	rc = j ? json_dump_file(j, path, JSON_INDENT(2)) : -1;
	json_decref(j);
	if (rc != 0)
		cli_err("cannot write %s", path);
	return rc;
}

/* --- processes ---------------------------------------------------------------- */

/* The pid in DIR/node<i>/dkvd.pid: > 0, 0 when there is no file. */
static pid_t read_pid(const char *ndir)
{
	char path[PATH_MAX];
	FILE *f;
	long pid = 0;

	snprintf(path, sizeof(path), "%s/dkvd.pid", ndir);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1 || pid <= 0 || pid > INT_MAX)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

/* 1 if pid is a live dkvd process (guards against a reused pid). */
static int is_dkvd(pid_t pid)
{
	char path[64], cmd[PATH_MAX] = "";
	FILE *f;
	size_t n;

	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	n = fread(cmd, 1, sizeof(cmd) - 1, f);
	fclose(f);
	cmd[n] = '\0'; /* argv[0] ends at the first NUL */
	return strcmp(basename(cmd), "dkvd") == 0;
}

/* dkvd next to this program, or $DKVD. */
static int find_dkvd(char *buf, size_t len)
{
	const char *env = getenv("DKVD");
	char self[PATH_MAX];
	ssize_t n;

	if (env != NULL && *env) {
		snprintf(buf, len, "%s", env);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0) {
			cli_err("cannot find this program: %s",
				strerror(errno));
			return -1;
		}
		self[n] = '\0';
		snprintf(buf, len, "%s/dkvd", dirname(self));
	}
	if (access(buf, X_OK) != 0) {
		cli_err("no dkvd at %s (set $DKVD to its path)", buf);
		return -1;
	}
	return 0;
}

/* Starts dkvd detached (setsid, double fork: reparented to init, so the
 * tool never has to reap it). Returns its pid, or -1. */
static pid_t spawn_node(const char *dkvd, const struct layout *l, uint32_t i,
			const char *ndir, const char *password)
{
	char id[16], addr[64], log[PATH_MAX];
	int pfd[2], st;
	pid_t child, pid = -1;

	snprintf(id, sizeof(id), "%u", i);
	node_addr(l, i, addr, sizeof(addr));
	snprintf(log, sizeof(log), "%s/dkvd.log", ndir);
	if (pipe2(pfd, O_CLOEXEC) != 0)
		return -1;
	fflush(NULL);
	child = fork();
	if (child < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (child == 0) {
		pid_t gc;

		setsid();
		gc = fork();
		if (gc == 0) {
			const char *argv[16];
			int n = 0, fd;

			argv[n++] = dkvd;
			argv[n++] = "--node-id";
			argv[n++] = id;
			argv[n++] = "--node-listen";
			argv[n++] = addr;
			argv[n++] = "--node-dir";
			argv[n++] = ndir;
			argv[n++] = "--store-durability";
			argv[n++] = l->durability;
			if (password != NULL) {
				argv[n++] = "--node-password";
				argv[n++] = password;
			}
			argv[n] = NULL;
			fd = open("/dev/null", O_RDONLY);
			if (fd >= 0)
				dup2(fd, 0);
			fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
			execv(dkvd, (char *const *)argv);
			_exit(127);
		}
		if (write(pfd[1], &gc, sizeof(gc)) != (ssize_t)sizeof(gc))
			_exit(1);
		_exit(gc > 0 ? 0 : 1);
	}
	close(pfd[1]);
	if (read(pfd[0], &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
		pid = -1;
	close(pfd[0]);
	waitpid(child, &st, 0);
	return pid;
}

/* The last lines of a node's log, to say why it did not start. */
static void show_log_tail(const char *ndir)
{
	char path[PATH_MAX], line[512], *lines[5] = { 0 };
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/dkvd.log", ndir);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f)) {
		free(lines[n % 5]);
		lines[n % 5] = strdup(line);
		n++;
	}
	fclose(f);
	for (int k = n > 5 ? n - 5 : 0; k < n; k++) {
		fprintf(stderr, "  | %s", lines[k % 5] ? lines[k % 5] : "\n");
	}
	for (int k = 0; k < 5; k++)
		free(lines[k]);
}

static int mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0755) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* --- start ------------------------------------------------------------------ */

static int parse_dir_opt(const char *cmd, const char *arg, char *dir,
			 size_t len)
{
	if (arg == NULL || *arg == '\0')
		return cli_usage_error(cmd, "--dir needs a directory");
	if (strlen(arg) + 1 > len)
		return cli_usage_error(cmd, "--dir is too long");
	if (arg[0] == '/') {
		snprintf(dir, len, "%s", arg);
	} else {
		char cwd[PATH_MAX];

		/* Absolute: dkvd must find its data wherever it runs. */
		if (getcwd(cwd, sizeof(cwd)) == NULL ||
		    strlen(cwd) + strlen(arg) + 2 > len)
			return cli_usage_error(cmd, "cannot resolve --dir");
		size_t cl = strlen(cwd);

		memcpy(dir, cwd, cl);
		dir[cl] = '/';
		memcpy(dir + cl + 1, arg, strlen(arg) + 1);
	}
	while (strlen(dir) > 1 && dir[strlen(dir) - 1] == '/')
		dir[strlen(dir) - 1] = '\0';
	return CLI_OK;
}

/* Makes every node hold a map: the newest any of them has, or a new
 * cluster when none has one. Returns an exit code; *created set. */
static int ensure_cluster(struct cli *cli, const struct layout *l,
			  char addrs[][64], int *created)
{
	char *best = NULL;
	long long bestv = 0;
	int rc = CLI_OK;

	*created = 0;
	for (uint32_t i = 1; i <= l->nodes; i++) {
		long long v = node_map_version(cli, addrs[i - 1], 2000);

		if (v > bestv) {
			free(best);
			best = NULL;
			if (node_map_json(cli, addrs[i - 1], 2000, &best, 0) > 0)
				bestv = v;
		}
	}
	if (best == NULL) {
		uint32_t ids[LOCAL_MAX_NODES];
		const char *ap[LOCAL_MAX_NODES];

		for (uint32_t i = 0; i < l->nodes; i++) {
			ids[i] = i + 1;
			ap[i] = addrs[i];
		}
		*created = 1;
		return cluster_create(cli, l->nodes, ids, ap, l->sharding,
				      l->shards, NULL, "local", 0);
	}
	/* A restart: nodes load their persisted maps; one that lacks the
	 * newest (e.g. creation was interrupted) gets it. */
	for (uint32_t i = 1; i <= l->nodes; i++) {
		long long v = node_map_version(cli, addrs[i - 1], 2000);

		if (v >= 0 && v < bestv) {
			const char *argv[2] = { "DKV.SETMAP", best };
			struct dkv_conn *conn =
				node_open(cli, addrs[i - 1], 2000, 0);
			const struct resp_reply *r =
				conn ? node_call(conn, 10000, 0, 2, argv)
				     : NULL;

			if (r == NULL || r->type != RESP_STRING) {
				cli_err("node %u: cannot install the cluster "
					"map",
					i);
				rc = CLI_FAIL;
			} else {
				fprintf(stderr, "node %u: map version %lld "
						"installed\n",
					i, bestv);
			}
			dkv_conn_close(conn);
		}
	}
	free(best);
	return rc;
}

static int do_start(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT,
		{ "nodes", required_argument, NULL, 'n' },
		{ "dir", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },
		{ "shards", required_argument, NULL, 's' },
		{ "sharding", required_argument, NULL, 'k' },
		{ "durability", required_argument, NULL, 'D' },
		{ 0 },
	};
	static const char *const hdr[4] = { "NODE", "ADDR", "PID", "DIR" };
	struct layout l = { 3, 7379, 0, "hash", "group" }, have;
	char dir[DIR_MAX] = "", dkvd[PATH_MAX];
	char addrs[LOCAL_MAX_NODES][64];
	pid_t pids[LOCAL_MAX_NODES] = { 0 };
	int fresh[LOCAL_MAX_NODES] = { 0 };
	int o, rc, created = 0, set_nodes = 0, set_port = 0, set_dur = 0;
	int existing;
	uint64_t v, deadline;
	struct table *t;
	enum dkv_family_kind kind;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			printf("Usage: dkv local start --dir DIR [--nodes N] "
			       "[--port P] [--shards S]\n"
			       "           [--sharding hash|slots|range] "
			       "[--durability group|fsync|none]\n"
			       "Start N dkvd processes on 127.0.0.1 ports "
			       "P..P+N-1 (node ids 1..N, data,\n"
			       "dkvd.pid and dkvd.log in DIR/node<i>/), "
			       "detached from this terminal; wait\n"
			       "until they answer, create the cluster, and "
			       "print the nodes. If DIR already\n"
			       "holds a cluster, start its stopped nodes "
			       "again (they keep their data and\n"
			       "map; the layout in DIR/local.json wins over "
			       "--nodes and --port).\n\n"
			       "  --nodes N         default 3 (at most %d)\n"
			       "  --port P          default 7379\n"
			       "  --shards S        default 16 per node\n"
			       "  --sharding KIND   hash (default), slots, "
			       "range (one shard: no splits)\n"
			       "  --durability D    group (default), fsync, "
			       "none (tests only)\n\n"
			       "dkvd is the one next to dkv, or $DKVD.\n",
			       LOCAL_MAX_NODES);
			return CLI_OK;
		case 'n':
			if (cli_parse_u64(optarg, 1, LOCAL_MAX_NODES, &v))
				return cli_usage_error("local start",
						       "bad --nodes '%s'",
						       optarg);
			l.nodes = (uint32_t)v;
			set_nodes = 1;
			break;
		case 'd':
			rc = parse_dir_opt("local start", optarg, dir,
					   sizeof(dir));
			if (rc != CLI_OK)
				return rc;
			break;
		case 'p':
			if (cli_parse_u64(optarg, 1, 65535, &v))
				return cli_usage_error("local start",
						       "bad --port '%s'",
						       optarg);
			l.port = (uint32_t)v;
			set_port = 1;
			break;
		case 's':
			if (cli_parse_u64(optarg, 1, DKV_SHARDS_MAX, &v))
				return cli_usage_error("local start",
						       "bad --shards '%s'",
						       optarg);
			l.shards = (uint32_t)v;
			break;
		case 'k':
			if (dkv_family_kind_parse(optarg, &kind) != DKV_OK ||
			    kind == DKV_FAMILY_CUSTOM)
				return cli_usage_error("local start",
						       "bad --sharding '%s'",
						       optarg);
			snprintf(l.sharding, sizeof(l.sharding), "%s", optarg);
			break;
		case 'D':
			if (strcmp(optarg, "group") && strcmp(optarg, "fsync") &&
			    strcmp(optarg, "none"))
				return cli_usage_error("local start",
						       "bad --durability '%s'",
						       optarg);
			snprintf(l.durability, sizeof(l.durability), "%s",
				 optarg);
			set_dur = 1;
			break;
		default:
			return cli_try("local start");
		}
	}
	if (optind != argc)
		return cli_usage_error("local start", "unexpected '%s'",
				       argv[optind]);
	if (dir[0] == '\0')
		return cli_usage_error("local start", "--dir is required");
	if (l.port + l.nodes - 1 > 65535)
		return cli_usage_error("local start", "ports beyond 65535");
	if (find_dkvd(dkvd, sizeof(dkvd)) != 0)
		return CLI_FAIL;
	if (mkdir_p(dir) != 0) {
		cli_err("cannot create %s: %s", dir, strerror(errno));
		return CLI_FAIL;
	}
	existing = layout_load(dir, &have);
	if (existing < 0)
		return CLI_FAIL;
	if (existing) {
		if ((set_nodes && have.nodes != l.nodes) ||
		    (set_port && have.port != l.port))
			fprintf(stderr, "dkv: %s holds a cluster of %u nodes "
					"from port %u: restarting it as it "
					"was\n",
				dir, have.nodes, have.port);
		/* The durability may change between runs. */
		if (set_dur)
			snprintf(have.durability, sizeof(have.durability),
				 "%s", l.durability);
		l = have;
	} else if (layout_save(dir, &l) != 0) {
		return CLI_FAIL;
	}
	/* Start what is not running. */
	for (uint32_t i = 1; i <= l.nodes; i++) {
		char ndir[NDIR_MAX];
		pid_t old;

		node_dir(dir, i, ndir, sizeof(ndir));
		node_addr(&l, i, addrs[i - 1], sizeof(addrs[i - 1]));
		if (mkdir_p(ndir) != 0) {
			cli_err("cannot create %s: %s", ndir, strerror(errno));
			return CLI_FAIL;
		}
		old = read_pid(ndir);
		if (old > 0 && is_dkvd(old)) {
			fprintf(stderr, "node %u: already running (pid %d)\n",
				i, (int)old);
			pids[i - 1] = old;
			continue;
		}
		pids[i - 1] = spawn_node(dkvd, &l, i, ndir, cli->password);
		if (pids[i - 1] <= 0) {
			cli_err("node %u: cannot start %s", i, dkvd);
			return CLI_FAIL;
		}
		fresh[i - 1] = 1;
		fprintf(stderr, "node %u: starting on %s (pid %d)\n", i,
			addrs[i - 1], (int)pids[i - 1]);
	}
	/* Wait until every node answers. */
	deadline = dkv_now_ms() + START_WAIT_MS;
	for (uint32_t i = 1; i <= l.nodes; i++) {
		char ndir[NDIR_MAX];

		node_dir(dir, i, ndir, sizeof(ndir));
		while (!node_ping(cli, addrs[i - 1], 500)) {
			if (kill(pids[i - 1], 0) != 0 ||
			    dkv_now_ms() >= deadline) {
				cli_err("node %u (%s) %s; its log:", i,
					addrs[i - 1],
					kill(pids[i - 1], 0) != 0
						? "exited"
						: "does not answer");
				show_log_tail(ndir);
				return CLI_FAIL;
			}
			sleep_ms(50);
		}
	}
	rc = ensure_cluster(cli, &l, addrs, &created);
	if (rc != CLI_OK)
		return rc;
	/* Every node serves the map before we say it is up. */
	for (uint32_t i = 1; i <= l.nodes; i++)
		while (node_map_version(cli, addrs[i - 1], 1000) <= 0) {
			if (dkv_now_ms() >= deadline) {
				cli_err("node %u (%s) has no cluster map", i,
					addrs[i - 1]);
				return CLI_FAIL;
			}
			sleep_ms(50);
		}
	fprintf(stderr, "%s cluster of %u nodes in %s; try: DKV_ADDR=%s dkv "
			"cluster status\n",
		created ? "created a" : "restarted the", l.nodes, dir,
		addrs[0]);
	if (cli->out == OUT_JSON) {
		json_t *arr = json_array(), *j = json_object();

		for (uint32_t i = 1; i <= l.nodes; i++) {
			char ndir[NDIR_MAX];

			node_dir(dir, i, ndir, sizeof(ndir));
			json_array_append_new(
				arr, json_pack("{s:I, s:s, s:I, s:s, s:b}",
					       "id", (json_int_t)i, "addr",
					       addrs[i - 1], "pid",
					       (json_int_t)pids[i - 1], "dir",
					       ndir, "started", fresh[i - 1]));
		}
		json_object_set_new(j, "dir", json_string(dir));
		json_object_set_new(j, "created", json_boolean(created));
		json_object_set_new(j, "nodes", arr);
		json_print(j);
		return CLI_OK;
	}
	if (cli->out == OUT_RAW) {
		for (uint32_t i = 0; i < l.nodes; i++)
			printf("%s\n", addrs[i]);
		return CLI_OK;
	}
	t = table_new(4, hdr);
	for (uint32_t i = 1; i <= l.nodes; i++) {
		char id[16], pid[16], ndir[NDIR_MAX];
		const char *cells[4] = { id, addrs[i - 1], pid, ndir };

		snprintf(id, sizeof(id), "%u", i);
		snprintf(pid, sizeof(pid), "%d", (int)pids[i - 1]);
		node_dir(dir, i, ndir, sizeof(ndir));
		table_add(t, cells);
	}
	table_print(t, cli->out);
	table_free(t);
	return CLI_OK;
}

/* --- stop and status ---------------------------------------------------------- */

/* The nodes of DIR: from local.json, else node1, node2, ... as found. */
static int dir_nodes(const char *dir, struct layout *l)
{
	int r = layout_load(dir, l);
	char ndir[NDIR_MAX];
	struct stat st;

	if (r != 0)
		return r < 0 ? -1 : 0;
	memset(l, 0, sizeof(*l));
	for (uint32_t i = 1; i <= LOCAL_MAX_NODES; i++) {
		node_dir(dir, i, ndir, sizeof(ndir));
		if (stat(ndir, &st) != 0)
			break;
		l->nodes = i;
	}
	if (l->nodes == 0) {
		cli_err("%s holds no local cluster", dir);
		return -1;
	}
	return 0;
}

static int do_stop(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT,
		{ "dir", required_argument, NULL, 'd' },
		{ 0 },
	};
	static const char *const hdr[3] = { "NODE", "PID", "RESULT" };
	char dir[DIR_MAX] = "";
	pid_t pids[LOCAL_MAX_NODES] = { 0 };
	const char *result[LOCAL_MAX_NODES];
	struct layout l;
	uint64_t deadline;
	int o, rc = CLI_OK, waiting;
	struct table *t;
	json_t *arr = NULL;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			printf("Usage: dkv local stop --dir DIR\n"
			       "Stop the nodes of a local cluster: SIGTERM to "
			       "each node whose pid file\nexists and whose "
			       "process is a live dkvd, then wait (up to %d "
			       "s) until\nthey are gone. Exit status 3 if one "
			       "would not stop.\n",
			       STOP_WAIT_MS / 1000);
			return CLI_OK;
		case 'd':
			rc = parse_dir_opt("local stop", optarg, dir,
					   sizeof(dir));
			if (rc != CLI_OK)
				return rc;
			break;
		default:
			return cli_try("local stop");
		}
	}
	if (optind != argc || dir[0] == '\0')
		return cli_usage_error("local stop", "--dir is required");
	if (dir_nodes(dir, &l) != 0)
		return CLI_FAIL;
	for (uint32_t i = 1; i <= l.nodes; i++) {
		char ndir[NDIR_MAX];
		pid_t pid;

		node_dir(dir, i, ndir, sizeof(ndir));
		pid = read_pid(ndir);
		result[i - 1] = "not running";
		if (pid > 0 && is_dkvd(pid) && kill(pid, SIGTERM) == 0) {
			pids[i - 1] = pid;
			result[i - 1] = "stopped";
		} else if (pid > 0) {
			char path[PATH_MAX];

			/* The process is gone (killed hard): a stale file. */
			snprintf(path, sizeof(path), "%s/dkvd.pid", ndir);
			unlink(path);
			result[i - 1] = "not running (stale pid file removed)";
			pids[i - 1] = 0;
		}
	}
	deadline = dkv_now_ms() + STOP_WAIT_MS;
	do {
		waiting = 0;
		for (uint32_t i = 0; i < l.nodes; i++)
			if (pids[i] > 0 && is_dkvd(pids[i]))
				waiting = 1;
		if (waiting)
			sleep_ms(50);
	} while (waiting && dkv_now_ms() < deadline);
	for (uint32_t i = 0; i < l.nodes; i++)
		if (pids[i] > 0 && is_dkvd(pids[i])) {
			result[i] = "still running";
			rc = CLI_FAIL;
		}
	if (cli->out == OUT_JSON)
		arr = json_array();
	t = table_new(3, hdr);
	for (uint32_t i = 0; i < l.nodes; i++) {
		char id[16], pid[16];
		const char *cells[3] = { id, pid, result[i] };

		snprintf(id, sizeof(id), "%u", i + 1);
		if (pids[i] > 0)
			snprintf(pid, sizeof(pid), "%d", (int)pids[i]);
		else
			snprintf(pid, sizeof(pid), "-");
		table_add(t, cells);
		if (arr)
			json_array_append_new(
				arr, json_pack("{s:I, s:I, s:s}", "id",
					       (json_int_t)i + 1, "pid",
					       (json_int_t)pids[i], "result",
					       result[i]));
	}
	if (arr)
		json_print(arr);
	else if (cli->out != OUT_RAW)
		table_print(t, cli->out);
	table_free(t);
	if (rc != CLI_OK)
		cli_err("some nodes did not stop within %d s",
			STOP_WAIT_MS / 1000);
	return rc;
}

static int do_status(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT,
		{ "dir", required_argument, NULL, 'd' },
		{ 0 },
	};
	static const char *const hdr[6] = { "NODE", "ADDR", "PID", "RUNNING",
					    "REACHABLE", "MAP_VERSION" };
	char dir[DIR_MAX] = "";
	struct layout l;
	struct table *t;
	json_t *arr = NULL;
	int o, rc, have_layout;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			printf("Usage: dkv local status --dir DIR\n"
			       "For each node of a local cluster: address, "
			       "pid, whether the process runs,\nwhether it "
			       "answers PING, and the map version it "
			       "holds.\n");
			return CLI_OK;
		case 'd':
			rc = parse_dir_opt("local status", optarg, dir,
					   sizeof(dir));
			if (rc != CLI_OK)
				return rc;
			break;
		default:
			return cli_try("local status");
		}
	}
	if (optind != argc || dir[0] == '\0')
		return cli_usage_error("local status", "--dir is required");
	have_layout = layout_load(dir, &l);
	if (have_layout <= 0 && dir_nodes(dir, &l) != 0)
		return CLI_FAIL;
	if (cli->out == OUT_JSON)
		arr = json_array();
	t = table_new(6, hdr);
	for (uint32_t i = 1; i <= l.nodes; i++) {
		char ndir[NDIR_MAX], id[16], pid[16], addr[64] = "?", vs[24];
		pid_t p;
		int running, up = 0;
		long long ver = -1;
		const char *cells[6] = { id, addr, pid, NULL, NULL, vs };

		node_dir(dir, i, ndir, sizeof(ndir));
		p = read_pid(ndir);
		running = p > 0 && is_dkvd(p);
		if (have_layout > 0) {
			node_addr(&l, i, addr, sizeof(addr));
			up = node_ping(cli, addr, 1000);
			ver = up ? node_map_version(cli, addr, 2000) : -1;
		}
		snprintf(id, sizeof(id), "%u", i);
		snprintf(pid, sizeof(pid), running ? "%d" : "-", (int)p);
		if (ver >= 0)
			snprintf(vs, sizeof(vs), "%lld", ver);
		else
			snprintf(vs, sizeof(vs), "-");
		cells[3] = running ? "yes" : "no";
		cells[4] = up ? "yes" : "no";
		table_add(t, cells);
		if (arr)
			json_array_append_new(
				arr, json_pack("{s:I, s:s, s:I, s:b, s:b, s:o}",
					       "id", (json_int_t)i, "addr",
					       addr, "pid",
					       (json_int_t)(running ? p : 0),
					       "running", running, "reachable",
					       up, "map_version",
					       ver >= 0 ? json_integer(ver)
							: json_null()));
	}
	if (arr)
		json_print(arr);
	else
		table_print(t, cli->out);
	table_free(t);
	return CLI_OK;
}

int cmd_local(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "start") == 0)
		return do_start(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "stop") == 0)
		return do_stop(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "status") == 0)
		return do_status(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		printf("Usage: dkv local start|stop|status --dir DIR "
		       "[--help]\n"
		       "  start   start a cluster of dkvd processes on this "
		       "machine (or restart it)\n"
		       "  stop    stop them\n"
		       "  status  show them\n");
		return CLI_OK;
	}
	return cli_usage_error("local", "expected start, stop or status");
}
