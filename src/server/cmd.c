/*
 * cmd.c - dispatch and the connection-level commands: PING, ECHO, HELLO,
 * AUTH, QUIT, SELECT, CLIENT, COMMAND, INFO.
 */
#define _GNU_SOURCE
#include "server/cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <math.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "server/conn.h"
#include "server/gc.h"
#include "server/node.h"
#include "server/snap_node.h"
#include "server/txn_node.h"

#ifndef DKV_VERSION
#define DKV_VERSION "0.1.0"
#endif

static const struct cmd_def g_cmds[CMD_COUNT] = {
#define CMD_DEF_(id, name, arity, flags, fk, lk, st, fn)                       \
	[CMD_##id] = { CMD_##id, name, arity, flags, fk, lk, st, fn },
	DKV_COMMANDS(CMD_DEF_)
#undef CMD_DEF_
};

static uint64_t g_calls[CMD_COUNT];

/* Latency histogram per command: bucket i holds times below 2^(i/4) us
 * (four buckets per power of two, the last one open). Loop thread only. */
#define LAT_BUCKETS 96
struct lat_stats {
	uint64_t timed, usec;
	uint64_t hist[LAT_BUCKETS];
};
static struct lat_stats g_lat[CMD_COUNT];
static uint64_t g_dispatch_t0;

const struct cmd_def *cmd_table(void)
{
	return g_cmds;
}

uint64_t cmd_calls(enum cmd_id id)
{
	return g_calls[id];
}

uint64_t cmd_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cmd_dispatch_start(void)
{
	return g_dispatch_t0;
}

static double bucket_bound_us(int i)
{
	return exp2((double)i / 4.0);
}

void cmd_record(enum cmd_id id, uint64_t start_ns)
{
	uint64_t ns = cmd_now_ns() - start_ns;
	double us = (double)ns / 1000.0;
	int i = us < 1.0 ? 0 : (int)(log2(us) * 4.0) + 1;

	if (i >= LAT_BUCKETS)
		i = LAT_BUCKETS - 1;
	g_lat[id].timed++;
	g_lat[id].usec += ns / 1000;
	g_lat[id].hist[i]++;
}

/* The upper bound of the bucket holding quantile q, in microseconds. */
static double lat_quantile(const struct lat_stats *l, double q)
{
	uint64_t want = (uint64_t)((double)l->timed * q), seen = 0;

	for (int i = 0; i < LAT_BUCKETS; i++) {
		seen += l->hist[i];
		if (seen > want)
			return bucket_bound_us(i);
	}
	return bucket_bound_us(LAT_BUCKETS - 1);
}

static const struct cmd_def *lookup(const char *name, size_t len)
{
	for (int i = 0; i < CMD_COUNT; i++)
		if (strlen(g_cmds[i].name) == len &&
		    strncasecmp(g_cmds[i].name, name, len) == 0)
			return &g_cmds[i];
	return NULL;
}

static void put_err(struct resp_buf *b, const char *msg)
{
	resp_put_error(b, msg, strlen(msg));
}

void cmd_put_err(struct resp_buf *b, int rc)
{
	switch (rc) {
	case DKV_ERR_INVAL:
		put_err(b, "ERR value is not an integer or out of range");
		break;
	case DKV_ERR_OVERFLOW:
		put_err(b, "ERR increment or decrement would overflow");
		break;
	case DKV_ERR_TOO_BIG:
		put_err(b, "ERR string exceeds maximum allowed size");
		break;
	case DKV_ERR_AUTH:
		put_err(b, "NOAUTH Authentication required.");
		break;
	case DKV_ERR_CLOSED:
		put_err(b, "LOADING the node is shutting down");
		break;
	default:
		resp_put_errorf(b, "ERR dkv: %s (%s)", dkv_strerror(rc),
				dkv_errname(rc));
		break;
	}
}

int cmd_must_wait(const struct conn *c, const struct resp_cmd *cmd)
{
	const struct cmd_def *d;

	if (c->txn_inflight > 0)
		return 1; /* everything after an EXEC sees its effects */
	if (c->reads_inflight == 0 && c->writes_inflight == 0)
		return 0;
	d = lookup(cmd->argv[0], cmd->argvlen[0]);
	if (d != NULL && (d->flags & CMD_BARRIER) && !conn_tx_queueing(c))
		return 1;
	return d != NULL && conn_must_wait(c, d->flags);
}

void cmd_dispatch(struct conn *c, const struct resp_cmd *cmd)
{
	const struct cmd_def *d = lookup(cmd->argv[0], cmd->argvlen[0]);
	struct resp_buf *b;

	if (d == NULL || (d->arity > 0 && (size_t)d->arity != cmd->argc) ||
	    (d->arity < 0 && cmd->argc < (size_t)-d->arity) ||
	    (!c->authed && !(d->flags & CMD_NOAUTH))) {
		if (d != NULL && (d->flags & CMD_NOREPLY)) {
			/* An error reply would answer a request that has
			 * no reply: the stream would be off by one. */
			c->node->stats.errors++;
			conn_close(c);
			return;
		}
		conn_tx_mark_dirty(c); /* EXEC will answer EXECABORT */
		b = conn_reply_buf(c);
		if (b == NULL)
			return;
		c->node->stats.errors++;
		if (d == NULL) {
			/* Redis: the name and the first arguments, quoted. */
			resp_put_errorf(b,
					"ERR unknown command '%.*s', with args "
					"beginning with: ",
					(int)(cmd->argvlen[0] > 128
						      ? 128
						      : cmd->argvlen[0]),
					cmd->argv[0]);
		} else if (!c->authed && !(d->flags & CMD_NOAUTH)) {
			put_err(b, "NOAUTH Authentication required.");
		} else {
			resp_put_errorf(b,
					"ERR wrong number of arguments for "
					"'%s' command",
					d->name);
		}
		return;
	}
	if (conn_tx_queueing(c) && !(d->flags & (CMD_TXCTL | CMD_NOREPLY))) {
		conn_tx_queue(c, d->id, cmd);
		return;
	}
	g_calls[d->id]++;
	{
		uint64_t inflight = c->inflight;

		g_dispatch_t0 = cmd_now_ns();
		d->fn(c, cmd);
		/* Answered at once: record now; else at its completion. */
		if (c->inflight == inflight)
			cmd_record(d->id, g_dispatch_t0);
	}
}

void cmd_ping(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);

	if (b == NULL)
		return;
	if (cmd->argc > 2)
		put_err(b, "ERR wrong number of arguments for 'ping' command");
	else if (cmd->argc == 2)
		resp_put_bulk(b, cmd->argv[1], cmd->argvlen[1]);
	else
		resp_put_simple(b, "PONG", 4);
}

void cmd_echo(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);

	if (b)
		resp_put_bulk(b, cmd->argv[1], cmd->argvlen[1]);
}

static int arg_is(const struct resp_cmd *cmd, size_t i, const char *s)
{
	return cmd->argvlen[i] == strlen(s) &&
	       strncasecmp(cmd->argv[i], s, cmd->argvlen[i]) == 0;
}

/* Constant-time comparison of a secret. */
static int secret_equal(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	unsigned char diff = (unsigned char)(alen != blen);

	for (size_t i = 0; i < alen; i++)
		diff |= (unsigned char)(a[i] ^ b[i % (blen ? blen : 1)]);
	return diff == 0;
}

static int try_auth(struct conn *c, const struct resp_cmd *cmd, size_t at,
		    struct resp_buf *b)
{
	const char *pw = c->node->cfg.password;
	size_t pass = cmd->argc - at == 2 ? at + 1 : at;

	if (pw[0] == '\0') {
		put_err(b, "ERR AUTH <password> called without any password "
			   "configured for the default user. Are you sure "
			   "your configuration is correct?");
		return 0;
	}
	/* AUTH password, or AUTH default password (Redis 6 ACL form). */
	if ((cmd->argc - at == 2 && !arg_is(cmd, at, "default")) ||
	    !secret_equal(cmd->argv[pass], cmd->argvlen[pass], pw)) {
		put_err(b, "WRONGPASS invalid username-password pair or user "
			   "is disabled.");
		return 0;
	}
	c->authed = 1;
	return 1;
}

/* DKV.PEER secret: another node of the cluster authenticates with the
 * cluster's secret (node.password is for clients). */
void cmd_dkv_peer(struct conn *c, const struct resp_cmd *cmd)
{
	const char *secret = c->node->cfg.secret;
	struct resp_buf *b = conn_reply_buf(c);

	if (b == NULL)
		return;
	if (secret[0] == '\0' ||
	    !secret_equal(cmd->argv[1], cmd->argvlen[1], secret)) {
		put_err(b, "WRONGPASS invalid cluster secret");
		return;
	}
	c->authed = 1;
	resp_put_ok(b);
}

void cmd_auth(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);

	if (b == NULL)
		return;
	if (cmd->argc > 3) {
		put_err(b, "ERR syntax error");
		return;
	}
	if (try_auth(c, cmd, 1, b))
		resp_put_ok(b);
}

static void put_kv(struct resp_buf *b, const char *k, const char *v)
{
	resp_put_bulk(b, k, strlen(k));
	resp_put_bulk(b, v, strlen(v));
}

void cmd_hello(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);
	size_t i = 1;
	int64_t proto = 2;

	if (b == NULL)
		return;
	if (cmd->argc > 1) {
		if (resp_parse_i64(cmd->argv[1], cmd->argvlen[1], &proto) != 0) {
			put_err(b, "ERR Protocol version is not an integer or "
				   "out of range");
			return;
		}
		i = 2;
	}
	if (proto != 2) {
		put_err(b, "NOPROTO sorry, this protocol version is not "
			   "supported");
		return;
	}
	for (; i < cmd->argc; i++) {
		if (arg_is(cmd, i, "AUTH") && i + 2 < cmd->argc) {
			if (!try_auth(c, cmd, i + 1, b))
				return;
			i += 2;
		} else if (arg_is(cmd, i, "SETNAME") && i + 1 < cmd->argc) {
			i++;
		} else {
			resp_put_errorf(b, "ERR Syntax error in HELLO option "
					   "'%.*s'",
					(int)cmd->argvlen[i], cmd->argv[i]);
			return;
		}
	}
	if (!c->authed) {
		put_err(b, "NOAUTH HELLO must be called with the client "
			   "already authenticated, otherwise the HELLO "
			   "<proto> AUTH <user> <pass> option can be used to "
			   "authenticate the client and select the RESP "
			   "protocol version at the same time");
		return;
	}
	resp_put_array(b, 14);
	put_kv(b, "server", "dkv");
	put_kv(b, "version", DKV_VERSION);
	resp_put_bulk(b, "proto", 5);
	resp_put_int(b, 2);
	resp_put_bulk(b, "id", 2);
	resp_put_int(b, (int64_t)c->id);
	put_kv(b, "mode", "cluster");
	put_kv(b, "role", "master");
	resp_put_bulk(b, "modules", 7);
	resp_put_array(b, 0);
}

void cmd_quit(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);

	(void)cmd;
	if (b)
		resp_put_ok(b);
	c->close_after = 1;
}

void cmd_select(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);

	if (b == NULL)
		return;
	/* One keyspace, as Redis Cluster: only database 0 exists. */
	if (cmd->argvlen[1] == 1 && cmd->argv[1][0] == '0')
		resp_put_ok(b);
	else
		put_err(b, "ERR SELECT is not allowed in cluster mode");
}

void cmd_client(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);

	if (b == NULL)
		return;
	if (arg_is(cmd, 1, "SETNAME") || arg_is(cmd, 1, "SETINFO"))
		resp_put_ok(b);
	else if (arg_is(cmd, 1, "ID"))
		resp_put_int(b, (int64_t)c->id);
	else
		resp_put_errorf(b, "ERR unknown subcommand '%.*s'.",
				(int)cmd->argvlen[1], cmd->argv[1]);
}

static void put_flag_list(struct resp_buf *b, unsigned flags)
{
	const char *f[4];
	size_t n = 0;

	if (flags & CMD_WRITE)
		f[n++] = "write";
	if (flags & CMD_READ)
		f[n++] = "readonly";
	if (flags & CMD_FAST)
		f[n++] = "fast";
	if (flags & CMD_NOAUTH)
		f[n++] = "no_auth";
	resp_put_array(b, n);
	for (size_t i = 0; i < n; i++)
		resp_put_simple(b, f[i], strlen(f[i]));
}

static void put_command_info(struct resp_buf *b, const struct cmd_def *d)
{
	resp_put_array(b, 6);
	resp_put_bulk(b, d->name, strlen(d->name));
	resp_put_int(b, d->arity);
	put_flag_list(b, d->flags);
	resp_put_int(b, d->first_key);
	resp_put_int(b, d->last_key);
	resp_put_int(b, d->step);
}

void cmd_command(struct conn *c, const struct resp_cmd *cmd)
{
	struct resp_buf *b = conn_reply_buf(c);

	if (b == NULL)
		return;
	if (cmd->argc == 1) {
		resp_put_array(b, CMD_COUNT);
		for (int i = 0; i < CMD_COUNT; i++)
			put_command_info(b, &g_cmds[i]);
	} else if (arg_is(cmd, 1, "COUNT")) {
		resp_put_int(b, CMD_COUNT);
	} else if (arg_is(cmd, 1, "INFO")) {
		resp_put_array(b, cmd->argc - 2);
		for (size_t i = 2; i < cmd->argc; i++) {
			const struct cmd_def *d =
				lookup(cmd->argv[i], cmd->argvlen[i]);

			if (d)
				put_command_info(b, d);
			else
				resp_put_null_array(b);
		}
	} else if (arg_is(cmd, 1, "DOCS")) {
		resp_put_array(b, 0); /* no docs: clients fall back */
	} else {
		resp_put_errorf(b, "ERR unknown subcommand '%.*s'.",
				(int)cmd->argvlen[1], cmd->argv[1]);
	}
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Whether section `name` (len bytes, from "# Name") was asked for. */
static int info_wanted(const struct resp_cmd *cmd, const char *name,
		       size_t len)
{
	for (size_t i = 1; i < cmd->argc; i++)
		if (cmd->argvlen[i] == len &&
		    strncasecmp(cmd->argv[i], name, len) == 0)
			return 1;
	return 0;
}

/* INFO [section ...] as Redis: no argument, "all", "everything" or
 * "default" give every section; otherwise only those named (case does
 * not matter), and an unknown name gives nothing. */
static void info_put_sections(struct resp_buf *b, const struct resp_cmd *cmd,
			      const char *text, size_t len)
{
	char out[16384];
	size_t olen = 0, pos = 0;

	for (size_t i = 1; i < cmd->argc; i++)
		if ((cmd->argvlen[i] == 3 &&
		     strncasecmp(cmd->argv[i], "all", 3) == 0) ||
		    (cmd->argvlen[i] == 10 &&
		     strncasecmp(cmd->argv[i], "everything", 10) == 0) ||
		    (cmd->argvlen[i] == 7 &&
		     strncasecmp(cmd->argv[i], "default", 7) == 0))
			goto all;
	if (cmd->argc < 2)
		goto all;
	while (pos < len) {
		const char *sec = text + pos, *end, *nl;
		size_t slen;

		/* A section: "# Name\r\n" ... up to the next "\r\n# ". */
		end = memmem(sec + 1, len - pos - 1, "\r\n# ", 4);
		slen = end ? (size_t)(end - sec) + 2 : len - pos;
		nl = memchr(sec, '\r', slen);
		if (sec[0] == '#' && nl != NULL && nl > sec + 2 &&
		    info_wanted(cmd, sec + 2, (size_t)(nl - sec - 2)) &&
		    olen + slen <= sizeof(out)) {
			memcpy(out + olen, sec, slen);
			olen += slen;
		}
		pos += slen;
	}
	/* No blank line after the last section, as Redis. */
	while (olen >= 2 && out[olen - 2] == '\r' && out[olen - 1] == '\n' &&
	       (olen < 4 || out[olen - 4] == '\r'))
		olen -= 2;
	resp_put_bulk(b, out, olen);
	return;
all:
	resp_put_bulk(b, text, len);
}

void cmd_info(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct resp_buf *b = conn_reply_buf(c);
	struct dkv_store_stats ss;
	struct dkv_committer_stats cs;
	char text[16384], eb[DKV_EPOCH_STR_MAX];
	struct rusage ru;
	uint32_t shards[1];
	int len = 0;

	if (b == NULL)
		return;
	dkv_store_stats(n->store, &ss);
	dkv_committer_stats(n->committer, &cs);
	getrusage(RUSAGE_SELF, &ru);
#define P(...)                                                                 \
	do {                                                                   \
		int w_ = snprintf(text + len, sizeof(text) - (size_t)len,      \
				  __VA_ARGS__);                                \
		if (w_ > 0 && (size_t)(len + w_) < sizeof(text))               \
			len += w_;                                             \
	} while (0)
	P("# Server\r\nredis_version:7.0.0\r\ndkv_version:%s\r\n"
	  "redis_mode:cluster\r\nprocess_id:%d\r\ntcp_port:%u\r\n"
	  "uptime_in_seconds:%llu\r\n\r\n",
	  DKV_VERSION, (int)getpid(), n->cfg.port,
	  (unsigned long long)((uv_hrtime() - n->start_ns) / 1000000000));
	P("# Clients\r\nconnected_clients:%llu\r\nmaxclients:%u\r\n\r\n",
	  (unsigned long long)n->nconns, n->cfg.max_clients);
	P("# Memory\r\nused_memory_rss:%ld\r\nblock_cache_bytes:%llu\r\n"
	  "memtable_bytes:%llu\r\n\r\n",
	  rss_kb() * 1024, (unsigned long long)ss.cache_usage,
	  (unsigned long long)ss.memtable_bytes);
	P("# Stats\r\ntotal_connections_received:%llu\r\n"
	  "total_commands_processed:%llu\r\nrejected_connections:%llu\r\n"
	  "\r\n",
	  (unsigned long long)n->stats.connections_total,
	  (unsigned long long)n->stats.commands,
	  (unsigned long long)n->stats.rejected);
	P("# CPU\r\nused_cpu_sys:%ld.%06ld\r\nused_cpu_user:%ld.%06ld\r\n\r\n",
	  (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec,
	  (long)ru.ru_utime.tv_sec, (long)ru.ru_utime.tv_usec);
	P("# Node\r\nnode_id:%u\r\nnode_state:%s\r\ndurability:%s\r\n"
	  "map_version:%llu\r\n\r\n",
	  n->cfg.node_id, dkv_sm_name(&n->sm),
	  dkv_config_dur_name(n->cfg.durability),
	  (unsigned long long)(n->map ? dkv_map_version(n->map) : 0));
	P("# Shards\r\nshards_local:%d\r\nshards_total:%u\r\n\r\n",
	  dkv_store_shard_list(n->store, shards, 0),
	  n->map ? dkv_map_nshards(n->map) : 0);
	P("# Epochs\r\nepoch_last:%llu\r\nepoch_last_time:%s\r\n"
	  "hlc_bound:%llu\r\nhlc_max_offset_ms:%u\r\n\r\n",
	  (unsigned long long)dkv_hlc_last(n->hlc),
	  dkv_epoch_format(dkv_hlc_last(n->hlc), eb, sizeof(eb)),
	  (unsigned long long)dkv_hlc_bound(n->hlc), n->cfg.max_offset_ms);
	{
		struct dkv_hlc_health h;
		struct dkv_hlc_peer_clock pc[16];
		size_t np = dkv_hlc_peer_clocks(n->hlc, pc, 16);

		dkv_hlc_health(n->hlc, &h);
		P("# Clock\r\nclock_state:%s\r\nclock_nodes_agreeing:%u\r\n"
		  "clock_nodes:%u\r\nclock_step_ms:%lld\r\n"
		  "clock_fenced_count:%llu\r\nclock_measurements:%llu\r\n"
		  "clock_measurements_dropped:%llu\r\n",
		  h.fenced ? "fenced" : "serving", h.agree, h.nodes,
		  (long long)(h.step_ns / 1000000),
		  (unsigned long long)h.fenced_count,
		  (unsigned long long)h.measurements,
		  (unsigned long long)h.dropped);
		for (size_t i = 0; i < np && i < 16; i++)
			P("clock_peer_%u:offset_us=%lld,err_us=%llu,"
			  "age_ms=%llu,measured=%d,agrees=%d\r\n",
			  pc[i].id, (long long)(pc[i].estimate_ns / 1000),
			  (unsigned long long)(pc[i].err_ns / 1000),
			  (unsigned long long)(pc[i].age_ns / 1000000),
			  pc[i].measured, pc[i].agrees);
		P("\r\n");
	}
	P("# Commits\r\ngroups:%llu\r\ncommands:%llu\r\nmax_group:%llu\r\n"
	  "failed_groups:%llu\r\nstore_commits:%llu\r\nstore_gets:%llu\r\n"
	  "disk_reads:%llu\r\n\r\n",
	  (unsigned long long)cs.groups, (unsigned long long)cs.commands,
	  (unsigned long long)cs.max_group,
	  (unsigned long long)cs.failed_groups,
	  (unsigned long long)ss.commits, (unsigned long long)ss.gets,
	  (unsigned long long)n->stats.disk_reads);
	{
		struct txn_node_info ti;

		txn_node_info(n, &ti);
		P("# Transactions\r\ntxn_shards:%llu\r\ntxn_commits:%llu\r\n"
		  "txn_aborts:%llu\r\ntxn_refused_prepares:%llu\r\n"
		  "txn_in_doubt:%llu\r\ntxn_intents:%llu\r\n"
		  "txn_parked:%llu\r\ntxn_plain_waits:%llu\r\n"
		  "txn_tombstones:%llu\r\ntxn_tombstones_on_disk:%llu\r\n",
		  (unsigned long long)ti.parts,
		  (unsigned long long)ti.commits,
		  (unsigned long long)ti.aborts,
		  (unsigned long long)ti.restarts,
		  (unsigned long long)ti.undecided,
		  (unsigned long long)ti.intents,
		  (unsigned long long)ti.parked,
		  (unsigned long long)ti.plain_waits,
		  (unsigned long long)ti.tombstones,
		  (unsigned long long)ti.tombstones_disk);
		/* Restarts by cause, as txn_restart_<cause>:n. */
		for (size_t i = 1; i < ti.ncauses; i++) {
			char name[32];
			size_t k;

			for (k = 0; ti.cause[i][k] && k + 1 < sizeof(name);
			     k++)
				name[k] = (char)(ti.cause[i][k] | 0x20);
			name[k] = '\0';
			P("txn_restart_%s:%llu\r\n", name,
			  (unsigned long long)ti.restart_by[i]);
		}
		P("\r\n");
	}
	P("# Valuecache\r\nvalue_cache_keys:%llu\r\nvalue_cache_bytes:%llu\r\n"
	  "value_cache_max_bytes:%llu\r\nvalue_cache_hits:%llu\r\n"
	  "value_cache_misses:%llu\r\nvalue_cache_evictions:%llu\r\n\r\n",
	  (unsigned long long)n->rcache.count,
	  (unsigned long long)n->rcache.bytes,
	  (unsigned long long)n->rcache.max_bytes,
	  (unsigned long long)n->rcache.hits,
	  (unsigned long long)n->rcache.misses,
	  (unsigned long long)n->rcache.evictions);
	{
		struct gc_info gi;

		gc_info(n, &gi);
		P("# GC\r\ngc_retention_ms:%llu\r\ngc_interval_ms:%llu\r\n"
		  "gc_running:%d\r\ngc_passes:%llu\r\n"
		  "gc_failed_passes:%llu\r\ngc_last_pass_ms:%llu\r\n"
		  "gc_watermark_min:%llu\r\ngc_watermark_max:%llu\r\n"
		  "gc_pinned_by_snapshot:%d\r\ndisk_bytes:%llu\r\n\r\n",
		  (unsigned long long)gi.retention_ms,
		  (unsigned long long)gi.interval_ms, gi.running,
		  (unsigned long long)gi.passes,
		  (unsigned long long)gi.failed_passes,
		  (unsigned long long)gi.last_pass_ms,
		  (unsigned long long)gi.watermark_min,
		  (unsigned long long)gi.watermark_max,
		  gi.pinned_by_snapshot, (unsigned long long)gi.disk_bytes);
	}
	{
		struct snap_node_info si;

		snap_node_info(n, &si);
		P("# Snapshots\r\nsnapshots:%llu\r\nsnapshot_catalog_version:%llu"
		  "\r\nsnapshot_oldest_epoch:%llu\r\nsnapshot_gc_pin:%llu\r\n"
		  "snapshot_leader:%u\r\nsnapshot_created:%llu\r\n"
		  "snapshot_destroyed:%llu\r\nsnapshot_failed:%llu\r\n"
		  "snapshot_fences:%llu\r\nsnapshot_last_create_us:%llu\r\n"
		  "\r\n",
		  (unsigned long long)si.snapshots,
		  (unsigned long long)si.version,
		  (unsigned long long)si.oldest, (unsigned long long)si.pin,
		  si.leader, (unsigned long long)si.created,
		  (unsigned long long)si.destroyed,
		  (unsigned long long)si.failed,
		  (unsigned long long)si.fences,
		  (unsigned long long)si.last_create_us);
	}
	P("# Commandstats\r\n");
	for (int i = 0; i < CMD_COUNT; i++)
		if (g_calls[i])
			P("cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f"
			  "\r\n",
			  g_cmds[i].name, (unsigned long long)g_calls[i],
			  (unsigned long long)g_lat[i].usec,
			  g_lat[i].timed ? (double)g_lat[i].usec /
						   (double)g_lat[i].timed
					 : 0.0);
	P("\r\n# Latencystats\r\n");
	for (int i = 0; i < CMD_COUNT; i++)
		if (g_lat[i].timed)
			P("latency_percentiles_usec_%s:p50=%.3f,p99=%.3f,"
			  "p99.9=%.3f\r\n",
			  g_cmds[i].name, lat_quantile(&g_lat[i], 0.50),
			  lat_quantile(&g_lat[i], 0.99),
			  lat_quantile(&g_lat[i], 0.999));
#undef P
	info_put_sections(b, cmd, text, (size_t)len);
}
