/*
 * main.c - dkv-bench: options, connecting the clients, the threads, and the
 * result (one JSON object or one line). The contract is bench/workloads.md;
 * the layout of the tool is in lg.h.
 *
 * Exit status: 0 the run finished; 1 a fatal error (reason on stderr);
 * 2 a usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "lg.h"

static const char *const op_names[LG_OP_N] = {
	"read", "update", "scan", "rmw", "transfer", "load",
};

static const char usage_text[] =
	"usage: dkv-bench --system dkv|redis|echo --addrs HOST:PORT[,...]\n"
	"                 [--workload load|load-T|A|B|C|E|F|T] [--clients N]\n"
	"                 [--threads 1|2] [--pipeline P] [--keys K]\n"
	"                 [--accounts N] [--value-size V]\n"
	"                 [--dist uniform|zipfian] [--seconds S] [--ops N]\n"
	"                 [--scan-max L] [--seed N] [--timeout S] [--json]\n"
	"       dkv-bench --serve-echo --port P [--value-size V]\n"
	"\n"
	"The comparison benchmark's load generator for RESP systems; every\n"
	"option, workload and output field is described in bench/workloads.md.\n";

uint64_t lg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void lg_fatal(struct lg_run *run, const char *fmt, ...)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	va_list ap;

	pthread_mutex_lock(&lock);
	if (!atomic_load(&run->fatal)) {
		va_start(ap, fmt);
		vsnprintf(run->fatal_msg, sizeof(run->fatal_msg), fmt, ap);
		va_end(ap);
		atomic_store(&run->fatal, 1);
	}
	pthread_mutex_unlock(&lock);
}

static int usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "dkv-bench: %s\n", why);
	fputs(usage_text, stderr);
	return 2;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min ||
	    v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_secs(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v > 0) || v > 86400)
		return -1;
	*out = v;
	return 0;
}

static const struct {
	const char *name;
	enum lg_workload w;
} workloads[] = {
	{ "load", LG_W_LOAD }, { "load-T", LG_W_LOAD_T }, { "A", LG_W_A },
	{ "B", LG_W_B },       { "C", LG_W_C },           { "E", LG_W_E },
	{ "F", LG_W_F },       { "T", LG_W_T },
};

/* Opens client i's connection to addr ("HOST:PORT"), checks it answers
 * PING, then makes it non-blocking. -1 with a message on failure. */
static int dial(const char *addr, double timeout, char *err, size_t errlen)
{
	char host[256], *colon;
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM },
			*ai = NULL;
	struct timeval tv = { .tv_sec = (time_t)timeout,
			      .tv_usec = (long)((timeout - (double)(time_t)timeout) * 1e6) };
	char buf[64];
	int fd = -1, one = 1, g;
	ssize_t n;

	if (strlen(addr) >= sizeof(host) ||
	    (colon = strrchr(strcpy(host, addr), ':')) == NULL) {
		snprintf(err, errlen, "bad address %s (HOST:PORT)", addr);
		return -1;
	}
	*colon = '\0';
	if ((g = getaddrinfo(host, colon + 1, &hints, &ai)) != 0) {
		snprintf(err, errlen, "%s: %s", addr, gai_strerror(g));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ||
	    connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		snprintf(err, errlen, "connect %s: %s", addr, strerror(errno));
		goto fail;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (write(fd, "*1\r\n$4\r\nPING\r\n", 14) != 14 ||
	    (n = read(fd, buf, sizeof(buf) - 1)) <= 0) {
		snprintf(err, errlen, "%s: no answer to PING", addr);
		goto fail;
	}
	buf[n] = '\0';
	if (strncmp(buf, "+PONG", 5) != 0) {
		snprintf(err, errlen, "%s: PING answered %s", addr,
			 strtok(buf, "\r\n") ? buf : "?");
		goto fail;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	return fd;
fail:
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

struct thread_arg {
	struct lg_client *clients;
	unsigned n;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;

	lg_loop_run(a->clients, a->n);
	return NULL;
}

static void print_json(const struct lg_conf *cf, const char *system,
		       double secs, uint64_t ops, uint64_t errors,
		       uint64_t aborts, uint64_t gave_up,
		       const struct lg_hist *all, const struct lg_hist *byop)
{
	static const double pcts[] = { 0,  1,  5,  10, 25,   50,    75,
				       90, 95, 99, 99.9, 99.99, 100 };
	struct utsname u;
	int first = 1;

	if (uname(&u) != 0)
		strcpy(u.release, "?");
	printf("{\"tool\": \"dkv-bench\", \"system\": \"%s\", "
	       "\"workload\": \"%s\", \"dist\": \"%s\", \"clients\": %u, "
	       "\"threads\": %u, \"pipeline\": %u, \"keys\": %llu, "
	       "\"accounts\": %llu, \"value_size\": %zu, \"seconds\": %.3f, "
	       "\"ops\": %llu, \"ops_per_s\": %.1f, \"errors\": %llu, "
	       "\"aborts\": %llu, \"gave_up\": %llu, ",
	       system, cf->workload_name, cf->zipfian ? "zipfian" : "uniform",
	       cf->clients, cf->threads, cf->pipeline,
	       (unsigned long long)cf->keys, (unsigned long long)cf->accounts,
	       cf->value_size, secs, (unsigned long long)ops,
	       secs > 0 ? (double)ops / secs : 0.0,
	       (unsigned long long)errors, (unsigned long long)aborts,
	       (unsigned long long)gave_up);
	printf("\"latency_us\": {\"mean\": %.1f, \"p50\": %.1f, "
	       "\"p95\": %.1f, \"p99\": %.1f, \"p999\": %.1f, "
	       "\"max\": %.1f}, ",
	       all->n ? all->sum / (double)all->n / 1e3 : 0.0,
	       lg_hist_pct(all, 50) / 1e3, lg_hist_pct(all, 95) / 1e3,
	       lg_hist_pct(all, 99) / 1e3, lg_hist_pct(all, 99.9) / 1e3,
	       (double)all->max / 1e3);
	printf("\"cdf_us\": [");
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		printf("%s[%g, %.1f]", i ? ", " : "", pcts[i],
		       lg_hist_pct(all, pcts[i]) / 1e3);
	printf("], \"by_op\": {");
	for (int k = 0; k < LG_OP_N; k++) {
		if (byop[k].n == 0)
			continue;
		printf("%s\"%s\": {\"ops\": %llu, \"p50\": %.1f, "
		       "\"p99\": %.1f}",
		       first ? "" : ", ", op_names[k],
		       (unsigned long long)byop[k].n,
		       lg_hist_pct(&byop[k], 50) / 1e3,
		       lg_hist_pct(&byop[k], 99) / 1e3);
		first = 0;
	}
	printf("}, \"machine\": {\"cpus\": %ld, \"kernel\": \"%s\"}}\n",
	       sysconf(_SC_NPROCESSORS_ONLN), u.release);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "system", required_argument, NULL, 's' },
		{ "addrs", required_argument, NULL, 'a' },
		{ "workload", required_argument, NULL, 'w' },
		{ "clients", required_argument, NULL, 'c' },
		{ "threads", required_argument, NULL, 't' },
		{ "pipeline", required_argument, NULL, 'P' },
		{ "keys", required_argument, NULL, 'k' },
		{ "accounts", required_argument, NULL, 'A' },
		{ "value-size", required_argument, NULL, 'v' },
		{ "dist", required_argument, NULL, 'd' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "ops", required_argument, NULL, 'o' },
		{ "scan-max", required_argument, NULL, 'L' },
		{ "seed", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "serve-echo", no_argument, NULL, 'e' },
		{ "port", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct lg_conf cf = {
		.workload = LG_W_A, .workload_name = "A", .clients = 16,
		.threads = 1, .pipeline = 1, .keys = 100000, .accounts = 1000,
		.value_size = 100, .seconds = 5, .max_ops = 10000000,
		.scan_max = 100, .seed = 1, .timeout = 30,
	};
	struct lg_run run = { .conf = &cf };
	struct lg_client *cs = NULL;
	struct lg_hist *all = NULL, *byop = NULL;
	struct thread_arg targ[2];
	pthread_t tid[2];
	const char *system = NULL, *addrs = NULL;
	char *addrv[64], *addrcopy = NULL, err[256];
	unsigned naddr = 0, started = 0;
	uint64_t v, ops = 0, errors = 0, aborts = 0, gave_up = 0, t_end = 0;
	int opt, echo = 0, have_sys = 0, rc = 1;
	int port = 0;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			system = optarg;
			have_sys = 1;
			if (strcmp(optarg, "dkv") == 0)
				cf.system = LG_DKV;
			else if (strcmp(optarg, "redis") == 0)
				cf.system = LG_REDIS;
			else if (strcmp(optarg, "echo") == 0)
				cf.system = LG_ECHO;
			else
				return usage("--system: dkv, redis or echo");
			break;
		case 'a':
			addrs = optarg;
			break;
		case 'w': {
			size_t i, nw = sizeof(workloads) / sizeof(workloads[0]);

			for (i = 0; i < nw; i++)
				if (strcasecmp(optarg, workloads[i].name) == 0)
					break;
			if (i == nw)
				return usage("--workload: load, load-T, A, B, "
					     "C, E, F or T");
			cf.workload = workloads[i].w;
			cf.workload_name = workloads[i].name;
			break;
		}
		case 'c':
			if (parse_u64(optarg, 1, 4096, &v) != 0)
				return usage("--clients: 1..4096");
			cf.clients = (unsigned)v;
			break;
		case 't':
			if (parse_u64(optarg, 1, 2, &v) != 0)
				return usage("--threads: 1 or 2");
			cf.threads = (unsigned)v;
			break;
		case 'P':
			if (parse_u64(optarg, 1, LG_MAX_PIPELINE, &v) != 0)
				return usage("--pipeline: 1..256");
			cf.pipeline = (unsigned)v;
			break;
		case 'k':
			if (parse_u64(optarg, 1, 1000000000, &cf.keys) != 0)
				return usage("--keys: 1..1000000000");
			break;
		case 'A':
			if (parse_u64(optarg, 2, 1000000, &cf.accounts) != 0)
				return usage("--accounts: 2..1000000");
			break;
		case 'v':
			if (parse_u64(optarg, 1, 1 << 20, &v) != 0)
				return usage("--value-size: 1..1048576");
			cf.value_size = (size_t)v;
			break;
		case 'd':
			if (strcmp(optarg, "uniform") == 0)
				cf.zipfian = 0;
			else if (strcmp(optarg, "zipfian") == 0)
				cf.zipfian = 1;
			else
				return usage("--dist: uniform or zipfian");
			break;
		case 'S':
			if (parse_secs(optarg, &cf.seconds) != 0)
				return usage("--seconds: a positive number");
			break;
		case 'o':
			if (parse_u64(optarg, 1, UINT64_MAX / 2, &cf.max_ops))
				return usage("--ops: a positive integer");
			break;
		case 'L':
			if (parse_u64(optarg, 1, 100000, &v) != 0)
				return usage("--scan-max: 1..100000");
			cf.scan_max = (unsigned)v;
			break;
		case 'r':
			if (parse_u64(optarg, 0, UINT64_MAX, &cf.seed) != 0)
				return usage("--seed: an unsigned integer");
			break;
		case 'T':
			if (parse_secs(optarg, &cf.timeout) != 0)
				return usage("--timeout: a positive number");
			break;
		case 'j':
			cf.json = 1;
			break;
		case 'e':
			echo = 1;
			break;
		case 'p':
			if (parse_u64(optarg, 1, 65535, &v) != 0)
				return usage("--port: 1..65535");
			port = (int)v;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			return usage(NULL);
		}
	}
	if (optind != argc)
		return usage("unexpected arguments");
	if (echo) {
		if (port == 0)
			return usage("--serve-echo needs --port");
		return lg_echo_serve(port, cf.value_size);
	}
	if (!have_sys || addrs == NULL)
		return usage("--system and --addrs are required");
	if (cf.workload == LG_W_E && cf.system == LG_REDIS)
		return usage("workload E needs range reads: not on redis");
	signal(SIGPIPE, SIG_IGN);

	addrcopy = strdup(addrs);
	if (addrcopy == NULL) {
		fprintf(stderr, "dkv-bench: out of memory\n");
		return 1;
	}
	for (char *s = addrcopy, *tok; (tok = strsep(&s, ",")) != NULL;) {
		if (*tok == '\0')
			continue;
		if (naddr == sizeof(addrv) / sizeof(addrv[0])) {
			free(addrcopy);
			return usage("--addrs: at most 64 addresses");
		}
		addrv[naddr++] = tok;
	}
	if (naddr == 0) {
		free(addrcopy);
		return usage("--addrs: no address");
	}
	if (cf.zipfian) {
		lg_zipf_init(&cf.zipf_keys, cf.keys);
		lg_zipf_init(&cf.zipf_accounts, cf.accounts);
	}
	if (cf.threads > cf.clients)
		cf.threads = cf.clients;

	cs = calloc(cf.clients, sizeof(*cs));
	all = malloc(sizeof(*all));
	byop = malloc(LG_OP_N * sizeof(*byop));
	if (cs == NULL || all == NULL || byop == NULL) {
		fprintf(stderr, "dkv-bench: out of memory\n");
		goto out;
	}
	for (unsigned i = 0; i < cf.clients; i++) {
		struct lg_client *c = &cs[i];

		c->id = i;
		c->fd = -1;
		c->run = &run;
		c->next_load = i;
		lg_rng_seed(&c->rng, cf.seed + i);
		resp_buf_init(&c->out, 0);
		resp_reply_parser_init(&c->parser, NULL);
		c->value = malloc(cf.value_size);
		c->hist = malloc(LG_OP_N * sizeof(*c->hist));
		if (c->value == NULL || c->hist == NULL) {
			fprintf(stderr, "dkv-bench: out of memory\n");
			goto out;
		}
		lg_fill_value(c->value, cf.value_size, &c->rng);
		for (int k = 0; k < LG_OP_N; k++)
			lg_hist_init(&c->hist[k]);
		c->fd = dial(addrv[i % naddr], cf.timeout, err, sizeof(err));
		if (c->fd < 0) {
			fprintf(stderr, "dkv-bench: client %u: %s\n", i, err);
			goto out;
		}
	}

	/* Each thread drives a contiguous slice of the clients (their
	 * addresses alternate already: client i talks to address i % n). */
	run.t_start_ns = lg_now_ns();
	run.deadline_ns = run.t_start_ns + (uint64_t)(cf.seconds * 1e9);
	{
		unsigned per = cf.clients / cf.threads, extra = cf.clients % cf.threads;
		unsigned at = 0;

		for (unsigned t = 0; t < cf.threads; t++) {
			targ[t].clients = &cs[at];
			targ[t].n = per + (t < extra ? 1 : 0);
			at += targ[t].n;
			if (pthread_create(&tid[t], NULL, thread_main, &targ[t])) {
				lg_fatal(&run, "pthread_create failed");
				break;
			}
			started++;
		}
	}
	for (unsigned t = 0; t < started; t++)
		pthread_join(tid[t], NULL);
	if (atomic_load(&run.fatal)) {
		fprintf(stderr, "dkv-bench: %s\n", run.fatal_msg);
		goto out;
	}

	lg_hist_init(all);
	for (int k = 0; k < LG_OP_N; k++)
		lg_hist_init(&byop[k]);
	for (unsigned i = 0; i < cf.clients; i++) {
		struct lg_client *c = &cs[i];

		ops += c->ops;
		errors += c->errors;
		aborts += c->aborts;
		gave_up += c->gave_up;
		if (c->last_done_ns > t_end)
			t_end = c->last_done_ns;
		for (int k = 0; k < LG_OP_N; k++) {
			lg_hist_merge(&byop[k], &c->hist[k]);
			lg_hist_merge(all, &c->hist[k]);
		}
	}
	{
		double secs = t_end > run.t_start_ns
				      ? (double)(t_end - run.t_start_ns) / 1e9
				      : 0.0;

		if (cf.json)
			print_json(&cf, system, secs, ops, errors, aborts,
				   gave_up, all, byop);
		else
			printf("%-5s %-6s clients %4u  %10.1f ops/s  p50 %.3f ms"
			       "  p99 %.3f ms  p99.9 %.3f ms  errors %llu  "
			       "aborts %llu\n",
			       system, cf.workload_name, cf.clients,
			       secs > 0 ? (double)ops / secs : 0.0,
			       lg_hist_pct(all, 50) / 1e6,
			       lg_hist_pct(all, 99) / 1e6,
			       lg_hist_pct(all, 99.9) / 1e6,
			       (unsigned long long)errors,
			       (unsigned long long)aborts);
	}
	rc = 0;
out:
	for (unsigned i = 0; cs != NULL && i < cf.clients; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
		resp_buf_free(&cs[i].out);
		resp_reply_parser_free(&cs[i].parser);
		free(cs[i].in);
		free(cs[i].value);
		free(cs[i].hist);
	}
	free(cs);
	free(all);
	free(byop);
	free(addrcopy);
	return rc;
}
