/* cmd_cluster.c - cluster create / status / map, and the raw node calls
 * they need (PING, INFO, DKV.MAP, DKV.SETMAP on a chosen node). */
#define _GNU_SOURCE
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli/cli.h"
#include "client/conn.h"
#include "shard/map.h"

#define HELP_OPT { "help", no_argument, NULL, 'H' }
#define NODE_TIMEOUT_MS 2000
#define PING_TIMEOUT_MS 1000

/* --- one node -------------------------------------------------------------- */

struct dkv_conn *node_open(struct cli *cli, const char *addr, int timeout_ms,
			   int quiet)
{
	struct dkv_conn *conn = NULL;
	int rc = dkv_conn_open(addr, cli->password,
			       dkv_now_ms() + (uint64_t)timeout_ms, &conn);

	if (rc != DKV_OK) {
		if (!quiet)
			cli_err("%s: %s", addr, dkv_last_error());
		return NULL;
	}
	return conn;
}

const struct resp_reply *node_call(struct dkv_conn *conn, int timeout_ms,
				   int quiet, size_t argc,
				   const char *const *argv)
{
	const struct resp_reply *r;
	int rc = dkv_conn_call(conn, argc, argv, NULL,
			       dkv_now_ms() + (uint64_t)timeout_ms, &r, NULL);

	if (rc != DKV_OK) {
		if (!quiet)
			cli_err("%s: %s", dkv_conn_addr(conn),
				dkv_last_error());
		return NULL;
	}
	return r;
}

int node_ping(struct cli *cli, const char *addr, int timeout_ms)
{
	static const char *const argv[1] = { "PING" };
	struct dkv_conn *conn = node_open(cli, addr, timeout_ms, 1);
	const struct resp_reply *r;
	int ok;

	if (conn == NULL)
		return 0;
	r = node_call(conn, timeout_ms, 1, 1, argv);
	ok = r != NULL && r->type == RESP_STRING;
	dkv_conn_close(conn);
	return ok;
}

int node_map_json(struct cli *cli, const char *addr, int timeout_ms,
		  char **json, int quiet)
{
	static const char *const argv[1] = { "DKV.MAP" };
	struct dkv_conn *conn = node_open(cli, addr, timeout_ms, quiet);
	const struct resp_reply *r;
	int rc = -1;

	*json = NULL;
	if (conn == NULL)
		return -1;
	r = node_call(conn, timeout_ms, quiet, 1, argv);
	if (r != NULL && (r->type == RESP_NIL || r->type == RESP_NULL)) {
		rc = 0;
	} else if (r != NULL && r->type == RESP_BULK) {
		*json = strndup(r->str, r->len);
		rc = *json ? 1 : -1;
	} else if (r != NULL && !quiet) {
		cli_err("%s: DKV.MAP: %.*s", addr, (int)r->len,
			r->str ? r->str : "unexpected reply");
	}
	dkv_conn_close(conn);
	return rc;
}

long long node_map_version(struct cli *cli, const char *addr, int timeout_ms)
{
	struct dkv_map *m;
	char *json;
	long long v;
	int rc = node_map_json(cli, addr, timeout_ms, &json, 1);

	if (rc <= 0)
		return rc;
	v = dkv_map_from_json(json, strlen(json), NULL, &m, NULL, 0) ==
			    DKV_OK
		    ? (long long)dkv_map_version(m)
		    : -1;
	if (v >= 0)
		dkv_map_destroy(m);
	free(json);
	return v;
}

/* The transaction counters of a node's INFO: commits, aborts, refused
 * prepares, in doubt, intents; -1 each when it cannot tell. */
struct txn_counts {
	long long commits, aborts, refused, in_doubt, intents;
};

static long long info_field(const char *text, size_t len, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i + nl + 1 < len; i++)
		if ((i == 0 || text[i - 1] == '\n') &&
		    memcmp(text + i, name, nl) == 0 && text[i + nl] == ':')
			return strtoll(text + i + nl + 1, NULL, 10);
	return -1;
}

static void node_txn_counts(struct cli *cli, const char *addr,
			    int timeout_ms, struct txn_counts *out)
{
	static const char *const argv[2] = { "INFO", "transactions" };
	struct dkv_conn *conn = node_open(cli, addr, timeout_ms, 1);
	const struct resp_reply *r;

	out->commits = out->aborts = out->refused = out->in_doubt =
		out->intents = -1;
	if (conn == NULL)
		return;
	r = node_call(conn, timeout_ms, 1, 2, argv);
	if (r != NULL && r->type == RESP_BULK) {
		out->commits = info_field(r->str, r->len, "txn_commits");
		out->aborts = info_field(r->str, r->len, "txn_aborts");
		out->refused = info_field(r->str, r->len,
					  "txn_refused_prepares");
		out->in_doubt = info_field(r->str, r->len, "txn_in_doubt");
		out->intents = info_field(r->str, r->len, "txn_intents");
	}
	dkv_conn_close(conn);
}

static void put_count(char *buf, size_t len, long long v)
{
	if (v >= 0)
		snprintf(buf, len, "%lld", v);
	else
		snprintf(buf, len, "-");
}

static json_t *json_count(long long v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

/* DKV.SETMAP json on addr: 0, or -1 after printing why. */
static int node_setmap(struct cli *cli, const char *addr, const char *json)
{
	const char *argv[2] = { "DKV.SETMAP", json };
	struct dkv_conn *conn = node_open(cli, addr, NODE_TIMEOUT_MS, 0);
	const struct resp_reply *r;
	int rc = -1;

	if (conn == NULL)
		return -1;
	r = node_call(conn, 10000, 0, 2, argv);
	if (r != NULL && r->type == RESP_STRING)
		rc = 0;
	else if (r != NULL)
		cli_err("%s: DKV.SETMAP: %.*s", addr, (int)r->len,
			r->str ? r->str : "unexpected reply");
	dkv_conn_close(conn);
	return rc;
}

/* --- create ------------------------------------------------------------------ */

static void print_map_summary(struct cli *cli, const struct dkv_map *m,
			      const char *json)
{
	static const char *const hdr[4] = { "NODE", "ADDR", "STATE",
					    "SHARDS" };
	struct table *t;

	if (cli->out == OUT_JSON || cli->out == OUT_RAW) {
		printf("%s\n", json);
		return;
	}
	if (cli->out == OUT_TABLE)
		printf("cluster %s (id %016llx), map version %llu, %u shards "
		       "(%s)\n",
		       dkv_map_name(m),
		       (unsigned long long)dkv_map_cluster_id(m),
		       (unsigned long long)dkv_map_version(m),
		       dkv_map_nshards(m),
		       dkv_family_kind_name(
			       dkv_family_kind(dkv_map_family(m))));
	t = table_new(4, hdr);
	for (uint32_t i = 0; i < dkv_map_nnodes(m); i++) {
		const struct dkv_map_node *nd = dkv_map_node_at(m, i);
		char id[16], ns[16];
		const char *cells[4] = { id, nd->addr,
					 dkv_node_state_name(
						 dkv_map_node_state(nd)),
					 ns };

		snprintf(id, sizeof(id), "%u", nd->id);
		snprintf(ns, sizeof(ns), "%u", dkv_map_node_nshards(m, nd->id));
		table_add(t, cells);
	}
	table_print(t, cli->out);
	table_free(t);
}

/* Splits "a,b,c" into split keys (pointing into buf, which is modified). */
static int parse_splits(char *buf, struct dkv_split **out, uint32_t *n)
{
	struct dkv_split *v = NULL;
	uint32_t cnt = 0;

	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		struct dkv_split *nv = realloc(v, (cnt + 1) * sizeof(*v));

		if (nv == NULL) {
			free(v);
			return -1;
		}
		v = nv;
		v[cnt].data = tok;
		v[cnt].len = strlen(tok);
		cnt++;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int cluster_create(struct cli *cli, uint32_t n, const uint32_t *ids,
		   const char *const *addrs, const char *kind,
		   uint32_t nshards, const char *splits, const char *name,
		   int print)
{
	struct dkv_map_node_conf *nodes = calloc(n, sizeof(*nodes));
	struct dkv_map_conf conf = { 0 };
	struct dkv_split *sp = NULL;
	struct dkv_map *m = NULL;
	char err[256] = "", *json = NULL, *sbuf = NULL;
	int rc = CLI_FAIL, bad = 0;

	if (nodes == NULL)
		return CLI_FAIL;
	conf.name = name;
	conf.nodes = nodes;
	conf.nnodes = n;
	for (uint32_t i = 0; i < n; i++) {
		nodes[i].id = ids[i];
		nodes[i].addr = addrs[i];
	}
	if (dkv_family_kind_parse(kind, &conf.family.kind) != DKV_OK ||
	    conf.family.kind == DKV_FAMILY_CUSTOM) {
		rc = cli_usage_error("cluster create",
				     "bad --sharding '%s': hash, slots or "
				     "range",
				     kind);
		goto out;
	}
	if (conf.family.kind == DKV_FAMILY_RANGE) {
		sbuf = strdup(splits ? splits : "");
		if (sbuf == NULL ||
		    parse_splits(sbuf, &sp, &conf.family.nsplits) != 0)
			goto out;
		conf.family.splits = sp;
		conf.family.nshards = nshards; /* 0: nsplits + 1 */
	} else {
		if (splits != NULL) {
			rc = cli_usage_error("cluster create",
					     "--splits needs --sharding range");
			goto out;
		}
		/* Generous by default: shards are fixed for the cluster's
		 * life, nodes come and go (docs/shard.md). */
		conf.family.nshards = nshards ? nshards : 16 * n;
		if (conf.family.kind == DKV_FAMILY_SLOTS &&
		    conf.family.nshards > DKV_SLOTS)
			conf.family.nshards = DKV_SLOTS;
	}
	while (conf.cluster_id == 0)
		if (getrandom(&conf.cluster_id, sizeof(conf.cluster_id), 0) !=
		    (ssize_t)sizeof(conf.cluster_id)) {
			cli_err("getrandom failed");
			goto out;
		}
	if (dkv_map_create(&conf, &m, err, sizeof(err)) != DKV_OK) {
		rc = cli_usage_error("cluster create", "bad cluster: %s", err);
		goto out;
	}
	/* Every node must answer, and none may be in a cluster already,
	 * before any is told anything. */
	for (uint32_t i = 0; i < n; i++) {
		char *have = NULL;
		int r = node_map_json(cli, addrs[i], NODE_TIMEOUT_MS, &have, 0);

		if (r < 0) {
			cli_err("node %u (%s) is unreachable", ids[i],
				addrs[i]);
			bad = 1;
		} else if (r > 0) {
			cli_err("node %u (%s) already belongs to a cluster: "
				"see 'dkv -h %s cluster map'",
				ids[i], addrs[i], addrs[i]);
			bad = 1;
		}
		free(have);
	}
	if (bad) {
		cli_err("cluster not created");
		goto out;
	}
	if (dkv_map_to_json(m, 0, &json, NULL) != DKV_OK)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		if (node_setmap(cli, addrs[i], json) != 0)
			bad = 1;
		else if (print)
			fprintf(stderr, "node %u (%s): map installed\n", ids[i],
				addrs[i]);
	}
	if (bad) {
		cli_err("the map could not be installed on every node: the "
			"cluster is incomplete");
		goto out;
	}
	if (print)
		print_map_summary(cli, m, json);
	rc = CLI_OK;
out:
	free(json);
	free(sp);
	free(sbuf);
	free(nodes);
	dkv_map_destroy(m);
	return rc;
}

static int do_create(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT,
		{ "node", required_argument, NULL, 'n' },
		{ "shards", required_argument, NULL, 's' },
		{ "sharding", required_argument, NULL, 'k' },
		{ "splits", required_argument, NULL, 'p' },
		{ "name", required_argument, NULL, 'N' },
		{ 0 },
	};
	uint32_t ids[DKV_MAP_NODES_MAX];
	const char *addrs[DKV_MAP_NODES_MAX];
	uint32_t n = 0;
	uint64_t nshards = 0, id;
	const char *kind = "hash", *splits = NULL, *name = "dkv";
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			printf("Usage: dkv cluster create --node ID=HOST:PORT "
			       "... [--shards S]\n"
			       "           [--sharding hash|slots|range] "
			       "[--splits K1,K2,...] [--name NAME]\n"
			       "Create a cluster of running nodes: build its "
			       "map (version 1, a random\ncluster id) and "
			       "install it on every node (DKV.SETMAP). Fails "
			       "without\nchanging anything if a node is "
			       "unreachable or already in a cluster.\n\n"
			       "  --node ID=HOST:PORT  a node (repeat); ids "
			       "are 0..4294967294\n"
			       "  --shards S           number of shards, "
			       "fixed for the cluster's life\n"
			       "                       (default 16 per node; "
			       "range: splits + 1)\n"
			       "  --sharding KIND      hash (default), slots "
			       "(Redis Cluster), range\n"
			       "  --splits K1,K2,...   range: the split keys, "
			       "increasing\n"
			       "  --name NAME          cluster name (default "
			       "dkv)\n");
			return CLI_OK;
		case 'n': {
			char *eq = strchr(optarg, '=');

			if (n == DKV_MAP_NODES_MAX)
				return cli_usage_error("cluster create",
						       "too many nodes");
			if (eq == NULL)
				return cli_usage_error("cluster create",
						       "bad --node '%s': "
						       "expected ID=HOST:PORT",
						       optarg);
			*eq = '\0';
			if (cli_parse_u64(optarg, 0, DKV_NODE_NONE - 1, &id))
				return cli_usage_error("cluster create",
						       "bad node id '%s'",
						       optarg);
			ids[n] = (uint32_t)id;
			addrs[n++] = eq + 1;
			break;
		}
		case 's':
			if (cli_parse_u64(optarg, 1, DKV_SHARDS_MAX, &nshards))
				return cli_usage_error("cluster create",
						       "bad --shards '%s'",
						       optarg);
			break;
		case 'k':
			kind = optarg;
			break;
		case 'p':
			splits = optarg;
			break;
		case 'N':
			name = optarg;
			break;
		default:
			return cli_try("cluster create");
		}
	}
	if (optind != argc)
		return cli_usage_error("cluster create", "unexpected '%s'",
				       argv[optind]);
	if (n == 0)
		return cli_usage_error("cluster create",
				       "at least one --node is needed");
	return cluster_create(cli, n, ids, addrs, kind, (uint32_t)nshards,
			      splits, name, 1);
}

/* --- status and map ------------------------------------------------------------ */

/* The map from the first node of cli->host that has one. */
static int fetch_map(struct cli *cli, char **json, struct dkv_map **m)
{
	char hosts[sizeof(cli->host)], *save = NULL;
	int any = 0;

	snprintf(hosts, sizeof(hosts), "%s", cli->host);
	for (char *h = strtok_r(hosts, ",", &save); h;
	     h = strtok_r(NULL, ",", &save)) {
		char err[256];
		int r;

		while (*h == ' ')
			h++;
		r = node_map_json(cli, h, NODE_TIMEOUT_MS, json, 0);
		if (r == 0) {
			cli_err("%s has no cluster map: create the cluster "
				"('dkv cluster create')",
				h);
			any = 1;
		}
		if (r <= 0)
			continue;
		if (dkv_map_from_json(*json, strlen(*json), NULL, m, err,
				      sizeof(err)) != DKV_OK) {
			cli_err("%s: bad cluster map: %s", h, err);
			free(*json);
			*json = NULL;
			continue;
		}
		return CLI_OK;
	}
	if (!any)
		cli_err("no node of %s could be asked", cli->host);
	return CLI_FAIL;
}

static int do_status(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { HELP_OPT, { 0 } };
	static const char *const hdr[11] = { "NODE", "ADDR", "STATE",
					     "REACHABLE", "MAP_VERSION",
					     "SHARDS", "TX_COMMITS",
					     "TX_ABORTS", "TX_REFUSED",
					     "IN_DOUBT", "INTENTS" };
	struct dkv_map *m = NULL;
	char *json = NULL;
	struct table *t;
	json_t *arr = NULL;
	int o, rc, down = 0;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'H') {
			printf("Usage: dkv cluster status\n"
			       "For each node of the cluster map (fetched from "
			       "-h): its id, address,\nstate in the map, "
			       "whether it answers PING now, the map version "
			       "it holds,\nhow many shards it owns, and its "
			       "transactions: commits, aborts, prepares\n"
			       "refused, transactions in doubt and intents "
			       "outstanding. json: {\"cluster\",\n"
			       "\"cluster_id\", \"version\", \"nodes\": "
			       "[{\"id\", \"addr\", \"state\", "
			       "\"reachable\",\n\"map_version\", \"shards\", "
			       "\"tx_commits\", \"tx_aborts\", "
			       "\"tx_refused\",\n\"in_doubt\", "
			       "\"intents\"}]}.\n");
			return CLI_OK;
		}
		return cli_try("cluster status");
	}
	if (optind != argc)
		return cli_usage_error("cluster status", "unexpected '%s'",
				       argv[optind]);
	rc = fetch_map(cli, &json, &m);
	if (rc != CLI_OK)
		return rc;
	t = table_new(11, hdr);
	if (cli->out == OUT_JSON)
		arr = json_array();
	for (uint32_t i = 0; i < dkv_map_nnodes(m); i++) {
		const struct dkv_map_node *nd = dkv_map_node_at(m, i);
		int up = node_ping(cli, nd->addr, PING_TIMEOUT_MS);
		long long ver = up ? node_map_version(cli, nd->addr,
						      NODE_TIMEOUT_MS)
				   : -1;
		const char *state = dkv_node_state_name(dkv_map_node_state(nd));
		char id[16], vs[24], ns[16], c1[24], c2[24], c3[24], c4[24],
			c5[24];
		const char *cells[11] = { id, nd->addr, state,
					  up ? "yes" : "no", vs, ns,
					  c1, c2, c3, c4, c5 };
		struct txn_counts tc = { -1, -1, -1, -1, -1 };

		if (up)
			node_txn_counts(cli, nd->addr, NODE_TIMEOUT_MS, &tc);
		put_count(c1, sizeof(c1), tc.commits);
		put_count(c2, sizeof(c2), tc.aborts);
		put_count(c3, sizeof(c3), tc.refused);
		put_count(c4, sizeof(c4), tc.in_doubt);
		put_count(c5, sizeof(c5), tc.intents);

		down += !up;
		snprintf(id, sizeof(id), "%u", nd->id);
		if (ver >= 0)
			snprintf(vs, sizeof(vs), "%lld", ver);
		else
			snprintf(vs, sizeof(vs), "-");
		snprintf(ns, sizeof(ns), "%u", dkv_map_node_nshards(m, nd->id));
		table_add(t, cells);
		if (arr != NULL) {
			json_t *j = json_object();

			json_object_set_new(j, "id", json_integer(nd->id));
			json_object_set_new(j, "addr", json_string(nd->addr));
			json_object_set_new(j, "state", json_string(state));
			json_object_set_new(j, "reachable", json_boolean(up));
			json_object_set_new(j, "map_version",
					    ver >= 0 ? json_integer(ver)
						     : json_null());
			json_object_set_new(
				j, "shards",
				json_integer(dkv_map_node_nshards(m, nd->id)));
			json_object_set_new(j, "tx_commits",
					    json_count(tc.commits));
			json_object_set_new(j, "tx_aborts",
					    json_count(tc.aborts));
			json_object_set_new(j, "tx_refused",
					    json_count(tc.refused));
			json_object_set_new(j, "in_doubt",
					    json_count(tc.in_doubt));
			json_object_set_new(j, "intents",
					    json_count(tc.intents));
			json_array_append_new(arr, j);
		}
	}
	if (arr != NULL) {
		json_t *j = json_object();
		char cid[17];

		snprintf(cid, sizeof(cid), "%016llx",
			 (unsigned long long)dkv_map_cluster_id(m));
		json_object_set_new(j, "cluster", json_string(dkv_map_name(m)));
		json_object_set_new(j, "cluster_id", json_string(cid));
		json_object_set_new(j, "version",
				    json_integer((json_int_t)dkv_map_version(m)));
		json_object_set_new(j, "nodes", arr);
		json_print(j);
	} else {
		if (cli->out == OUT_TABLE)
			printf("cluster %s (id %016llx), map version %llu, "
			       "%u shards\n",
			       dkv_map_name(m),
			       (unsigned long long)dkv_map_cluster_id(m),
			       (unsigned long long)dkv_map_version(m),
			       dkv_map_nshards(m));
		table_print(t, cli->out);
	}
	if (down)
		fprintf(stderr, "dkv: %d node%s unreachable\n", down,
			down == 1 ? "" : "s");
	table_free(t);
	dkv_map_destroy(m);
	free(json);
	return CLI_OK;
}

static int do_map(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { HELP_OPT, { 0 } };
	struct dkv_map *m = NULL;
	char *json = NULL, *pretty = NULL;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'H') {
			printf("Usage: dkv cluster map\n"
			       "Print the cluster map a node (-h) holds, as "
			       "JSON (indented; compact with\n--output json "
			       "or raw). Schema: docs/shard.md.\n");
			return CLI_OK;
		}
		return cli_try("cluster map");
	}
	if (optind != argc)
		return cli_usage_error("cluster map", "unexpected '%s'",
				       argv[optind]);
	rc = fetch_map(cli, &json, &m);
	if (rc != CLI_OK)
		return rc;
	if (cli->out == OUT_JSON || cli->out == OUT_RAW) {
		printf("%s\n", json);
	} else if (dkv_map_to_json(m, DKV_MAP_JSON_PRETTY, &pretty, NULL) ==
		   DKV_OK) {
		printf("%s\n", pretty);
	}
	free(pretty);
	free(json);
	dkv_map_destroy(m);
	return CLI_OK;
}

int cmd_cluster(struct cli *cli, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return do_create(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "status") == 0)
		return do_status(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "map") == 0)
		return do_map(cli, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
		printf("Usage: dkv cluster create|status|map [--help]\n"
		       "  create  build a cluster map and install it on "
		       "running nodes\n"
		       "  status  the nodes of the map: reachable, map "
		       "version, shards\n"
		       "  map     print the cluster map (JSON)\n");
		return CLI_OK;
	}
	return cli_usage_error("cluster", "expected create, status or map");
}
