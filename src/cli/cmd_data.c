/* cmd_data.c - get, put, del, range, shard-of: through libdkv. */
#define _GNU_SOURCE
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hlc/hlc.h"
#include "shard/map.h"

#define HELP_OPT { "help", no_argument, NULL, 'H' }

/* --- get ---------------------------------------------------------------- */

int cmd_get(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT,
		{ "at", required_argument, NULL, 't' },
		{ 0 },
	};
	dkv_client_t *c;
	dkv_tx_t *snap = NULL;
	const char *at = NULL;
	void *val = NULL;
	size_t len = 0;
	int o, rc;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'H') {
			printf("Usage: dkv get KEY [--at SNAP]\n"
			       "Print the newest value of KEY.\n\n"
			       "  --at SNAP  the value at the snapshot SNAP (a "
			       "name), or at an epoch\n"
			       "             (decimal, or a time "
			       "2026-11-23T22:54:32Z)\n\n"
			       "Output: the value (table, plain: escaped "
			       "text; raw: the bytes and a newline;\n"
			       "json: {\"key\":..., \"value\":...}, with "
			       "\"value_hex\" for bytes that are not UTF-8).\n"
			       "Exit status 1 when KEY does not exist (or "
			       "SNAP does not).\n");
			return CLI_OK;
		}
		if (o == 't') {
			at = optarg;
			continue;
		}
		return cli_try("get");
	}
	if (argc - optind != 1)
		return cli_usage_error("get", "get takes one KEY");
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	if (at != NULL) {
		rc = cli_open_at(cli, c, "get", at, &snap);
		if (rc != CLI_OK)
			return rc;
	}
	rc = dkv_get_alloc(c, snap ? snap : cli->tx, 0, argv[optind],
			   strlen(argv[optind]), &val, &len);
	dkv_tx_close(snap);
	if (rc == DKV_ERR_NOT_FOUND) {
		if (cli->out == OUT_JSON) {
			json_t *j = json_object();

			json_set_bytes(j, "key", argv[optind],
				       strlen(argv[optind]));
			json_object_set_new(j, "value", json_null());
			json_print(j);
		} else if (cli->out == OUT_TABLE) {
			printf("(nil)\n");
		}
		if (cli->out != OUT_TABLE)
			cli_err("%s: not found", argv[optind]);
		return CLI_NOT_FOUND;
	}
	if (rc != DKV_OK)
		return at != NULL ? cli_fail("get", rc)
				  : cli_tx_data_fail(cli, "get", rc);
	if (cli->out == OUT_RAW) {
		out_raw(val, len);
		putchar('\n');
	} else if (cli->out == OUT_JSON) {
		json_t *j = json_object();

		json_set_bytes(j, "key", argv[optind], strlen(argv[optind]));
		json_set_bytes(j, "value", val, len);
		json_print(j);
	} else {
		char *e = out_escape(val, len);

		printf("%s\n", e);
		free(e);
	}
	dkv_free(val);
	return CLI_OK;
}

/* --- put ---------------------------------------------------------------- */

static int read_all(FILE *f, char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap);

	if (buf == NULL)
		return -1;
	for (;;) {
		size_t r;

		if (n == cap) {
			char *p = realloc(buf, cap * 2);

			if (p == NULL) {
				free(buf);
				return -1;
			}
			buf = p;
			cap *= 2;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return -1;
	}
	*out = buf;
	*len = n;
	return 0;
}

int cmd_put(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT,
		{ "nx", no_argument, NULL, 'n' },
		{ "xx", no_argument, NULL, 'x' },
		{ "stdin", no_argument, NULL, 's' },
		{ 0 },
	};
	uint64_t flags = 0;
	int from_stdin = 0, o, rc;
	char *val, *buf = NULL;
	size_t vlen;
	dkv_client_t *c;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			printf("Usage: dkv put KEY VALUE [--nx|--xx]\n"
			       "       dkv put KEY --stdin [--nx|--xx]\n"
			       "Store VALUE (or all of standard input, byte "
			       "for byte) under KEY.\n\n"
			       "  --nx     only if KEY does not exist yet\n"
			       "  --xx     only if KEY exists\n"
			       "  --stdin  read the value from standard "
			       "input\n\n"
			       "Prints OK (nothing with --output raw). Exit "
			       "status 1 when the condition\nof --nx or --xx "
			       "is not met (nothing is written).\n");
			return CLI_OK;
		case 'n':
			flags = DKV_COND_INSERT;
			break;
		case 'x':
			flags = DKV_COND_UPDATE;
			break;
		case 's':
			from_stdin = 1;
			break;
		default:
			return cli_try("put");
		}
	}
	if (argc - optind != (from_stdin ? 1 : 2))
		return cli_usage_error("put", from_stdin
						      ? "put --stdin takes KEY"
						      : "put takes KEY VALUE");
	if (from_stdin) {
		if (read_all(stdin, &buf, &vlen) != 0) {
			cli_err("cannot read standard input");
			return CLI_FAIL;
		}
		val = buf;
	} else {
		val = argv[optind + 1];
		vlen = strlen(val);
	}
	c = cli_client(cli);
	if (c == NULL) {
		free(buf);
		return CLI_FAIL;
	}
	rc = dkv_put(c, cli->tx, flags, argv[optind], strlen(argv[optind]), val,
		     vlen);
	free(buf);
	if (rc == DKV_ERR_EXISTS || rc == DKV_ERR_NOT_FOUND) {
		if (cli->out == OUT_JSON) {
			json_t *j = json_object();

			json_object_set_new(j, "ok", json_false());
			json_object_set_new(j, "reason",
					    json_string(rc == DKV_ERR_EXISTS
								? "exists"
								: "not found"));
			json_print(j);
		}
		cli_err("not stored: %s %s", argv[optind],
			rc == DKV_ERR_EXISTS ? "exists (--nx)"
					     : "does not exist (--xx)");
		return CLI_NOT_FOUND;
	}
	if (rc != DKV_OK)
		return cli_tx_data_fail(cli, "put", rc);
	out_ok(cli->out);
	return CLI_OK;
}

/* --- del ---------------------------------------------------------------- */

int cmd_del(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { HELP_OPT, { 0 } };
	dkv_client_t *c;
	long long removed = 0;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'H') {
			printf("Usage: dkv del KEY...\n"
			       "Remove the KEYs (older versions stay "
			       "readable at their epochs).\n"
			       "Prints how many existed (json: "
			       "{\"deleted\": N}).\n");
			return CLI_OK;
		}
		return cli_try("del");
	}
	if (argc - optind < 1)
		return cli_usage_error("del", "del takes one KEY or more");
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	for (int i = optind; i < argc; i++) {
		int rc = dkv_remove(c, cli->tx, 0, argv[i], strlen(argv[i]));

		if (rc < 0)
			return cli_tx_data_fail(cli, argv[i], rc);
		removed += rc;
	}
	if (cli->out == OUT_JSON) {
		json_t *j = json_object();

		json_object_set_new(j, "deleted", json_integer(removed));
		json_print(j);
	} else {
		printf("%lld\n", removed);
	}
	return CLI_OK;
}

/* --- range ---------------------------------------------------------------- */

struct range_out {
	struct cli *cli;
	int epochs;
	struct table *t;  /* OUT_TABLE */
	json_t *items;    /* OUT_JSON */
};

static int range_item(void *arg, const void *key, size_t klen,
		      const void *val, size_t vlen, uint64_t epoch)
{
	struct range_out *ro = arg;
	char eb[DKV_EPOCH_STR_MAX], num[24];

	if (ro->epochs) {
		dkv_epoch_format(epoch, eb, sizeof(eb));
		snprintf(num, sizeof(num), "%llu", (unsigned long long)epoch);
	}
	switch (ro->cli->out) {
	case OUT_RAW:
		/* Each element on its own line, as redis-cli --raw. */
		out_raw(key, klen);
		putchar('\n');
		out_raw(val, vlen);
		putchar('\n');
		if (ro->epochs)
			printf("%s\n", num);
		break;
	case OUT_JSON: {
		json_t *j = json_object();

		json_set_bytes(j, "key", key, klen);
		json_set_bytes(j, "value", val, vlen);
		if (ro->epochs) {
			json_object_set_new(j, "epoch",
					    json_integer((json_int_t)epoch));
			json_object_set_new(j, "time", json_string(eb));
		}
		json_array_append_new(ro->items, j);
		break;
	}
	default: {
		char *k = out_escape(key, klen), *v = out_escape(val, vlen);
		const char *cells[4] = { k, v, eb, num };

		if (ro->t != NULL)
			table_add(ro->t, cells);
		else if (ro->epochs)
			printf("%s\t%s\t%s\t%s\n", k, v, eb, num);
		else
			printf("%s\t%s\n", k, v);
		free(k);
		free(v);
	}
	}
	return 0;
}

int cmd_range(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		HELP_OPT,
		{ "limit", required_argument, NULL, 'l' },
		{ "rev", no_argument, NULL, 'r' },
		{ "all", no_argument, NULL, 'A' },
		{ "epochs", no_argument, NULL, 'e' },
		{ "at", required_argument, NULL, 't' },
		{ 0 },
	};
	static const char *const hdr[4] = { "KEY", "VALUE", "EPOCH TIME",
					    "EPOCH" };
	struct dkv_anchor a = DKV_ANCHOR_INIT;
	struct range_out ro = { cli, 0, NULL, NULL };
	uint64_t limit = 100, flags = 0;
	int all = 0, o, rc, more;
	dkv_client_t *c;
	dkv_tx_t *snap = NULL;
	const char *s, *e, *at = NULL;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'H':
			printf("Usage: dkv range START END [--limit N] [--rev] "
			       "[--all] [--epochs]\n"
			       "                 [--at SNAP]\n"
			       "List the keys k with START <= k < END and "
			       "their values, in key order.\n"
			       "\"\" is an open end. A range reads one "
			       "shard: with hash or slots sharding,\n"
			       "bound it inside one {hash tag}, e.g. "
			       "'{user42}' '{user42}~'.\n\n"
			       "  --limit N  at most N items (default 100)\n"
			       "  --all      every item (pages through the "
			       "range at one epoch)\n"
			       "  --rev      descending order\n"
			       "  --epochs   also the commit epoch of each "
			       "value\n"
			       "  --at SNAP  the keys at the snapshot SNAP (a "
			       "name), or at an epoch\n"
			       "             (decimal, or a time "
			       "2026-11-23T22:54:32Z)\n\n"
			       "Output: KEY VALUE [EPOCH-TIME EPOCH] per line "
			       "(plain: tab-separated);\n"
			       "raw: key, value [, epoch] each on its own "
			       "line; json: an array of\n"
			       "{\"key\", \"value\" [, \"epoch\", \"time\"]}.\n");
			return CLI_OK;
		case 'l':
			if (cli_parse_u64(optarg, 1, UINT32_MAX, &limit) != 0)
				return cli_usage_error("range",
						       "bad --limit '%s'",
						       optarg);
			break;
		case 'r':
			flags |= DKV_RANGE_REVERSE;
			break;
		case 'A':
			all = 1;
			break;
		case 'e':
			ro.epochs = 1;
			break;
		case 't':
			at = optarg;
			break;
		default:
			return cli_try("range");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("range", "range takes START END");
	s = argv[optind];
	e = argv[optind + 1];
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	if (at != NULL) {
		rc = cli_open_at(cli, c, "range", at, &snap);
		if (rc != CLI_OK)
			return rc;
	}
	if (cli->out == OUT_TABLE)
		ro.t = table_new(ro.epochs ? 4 : 2, hdr);
	if (cli->out == OUT_JSON)
		ro.items = json_array();
	rc = dkv_range(c, snap ? snap : cli->tx, flags, s, strlen(s), e,
		       strlen(e), all ? 0 : (uint32_t)limit, &a, range_item,
		       &ro);
	/* Stopped at the limit with the range not known to be exhausted. */
	more = rc >= 0 && !all && (uint64_t)rc == limit &&
	       !dkv_anchor_is_eof(&a);
	dkv_anchor_fini(&a);
	dkv_tx_close(snap);
	if (rc < 0) {
		table_free(ro.t);
		json_decref(ro.items);
		return at != NULL ? cli_fail("range", rc)
				  : cli_tx_data_fail(cli, "range", rc);
	}
	if (ro.t != NULL) {
		table_print(ro.t, OUT_TABLE);
		table_free(ro.t);
		fprintf(stderr, "(%d item%s)\n", rc, rc == 1 ? "" : "s");
	}
	if (ro.items != NULL)
		json_print(ro.items);
	if (more)
		fprintf(stderr, "dkv: more items may follow: use --all or a "
				"larger --limit\n");
	return CLI_OK;
}

/* --- shard-of ------------------------------------------------------------- */

int cmd_shard_of(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = { HELP_OPT, { 0 } };
	static const char *const hdr[4] = { "KEY", "SHARD", "NODE", "ADDR" };
	char addr[DKV_ADDR_MAX], *json = NULL, node[16] = "?", sh[16];
	uint64_t version = 0;
	struct dkv_map *m = NULL;
	dkv_client_t *c;
	uint32_t shard;
	int o, rc;
	const char *key;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'H') {
			printf("Usage: dkv shard-of KEY\n"
			       "Print the shard of KEY and the node that owns "
			       "it, by the cluster map.\n"
			       "raw: the shard number; json: {\"key\", "
			       "\"shard\", \"node\", \"addr\", "
			       "\"map_version\"}.\n");
			return CLI_OK;
		}
		return cli_try("shard-of");
	}
	if (argc - optind != 1)
		return cli_usage_error("shard-of", "shard-of takes one KEY");
	key = argv[optind];
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	rc = dkv_shard_of(c, key, strlen(key), &shard, addr, sizeof(addr));
	if (rc == DKV_OK)
		rc = dkv_cluster_map(c, 0, &json, &version);
	if (rc != DKV_OK)
		return cli_fail("shard-of", rc);
	/* The owner's id, from the map. */
	if (dkv_map_from_json(json, strlen(json), NULL, &m, NULL, 0) ==
	    DKV_OK) {
		const struct dkv_map_node *nd;

		if (dkv_map_shard_node(m, shard, &nd) == DKV_OK)
			snprintf(node, sizeof(node), "%u", nd->id);
		dkv_map_destroy(m);
	}
	dkv_free(json);
	snprintf(sh, sizeof(sh), "%u", shard);
	if (cli->out == OUT_RAW) {
		printf("%u\n", shard);
	} else if (cli->out == OUT_JSON) {
		json_t *j = json_object();

		json_set_bytes(j, "key", key, strlen(key));
		json_object_set_new(j, "shard", json_integer(shard));
		json_object_set_new(j, "node", json_integer(atoi(node)));
		json_object_set_new(j, "addr", json_string(addr));
		json_object_set_new(j, "map_version",
				    json_integer((json_int_t)version));
		json_print(j);
	} else {
		char *k = out_escape(key, strlen(key));
		const char *cells[4] = { k, sh, node, addr };
		struct table *t = table_new(4, hdr);

		table_add(t, cells);
		table_print(t, cli->out);
		table_free(t);
		free(k);
	}
	return CLI_OK;
}
