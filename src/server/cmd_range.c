/*
 * cmd_range.c - DKV.RANGE: range search confined to one shard.
 *
 *   DKV.RANGE start end [LIMIT n] [REV] [EPOCH e] [WITHEPOCHS] [CURSOR c]
 *
 * start and end are keys ("" = open end); [start, end) is read at one
 * epoch (the newest by default) in key order, or in reverse with REV, at
 * most LIMIT items (default 100, at most 100000). The reply is
 *
 *   1) the cursor: "" when the range is exhausted, else an opaque string
 *      to pass as CURSOR c with the same start, end and REV to continue;
 *      the continuation reads at the same epoch;
 *   2) key, value, key, value, ... (WITHEPOCHS: key, value, epoch, ...).
 *
 * The range must lie in one shard (docs/shard.md): with the hash and
 * slots families, inside one {hash tag}; otherwise the error names the
 * shards of start and end. The scan runs on the worker pool.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/cmd.h"
#include "server/conn.h"
#include "server/node.h"
#include "server/peer.h"
#include "server/req.h"

#define RANGE_DEFAULT_LIMIT 100
#define RANGE_MAX_LIMIT 100000

static int arg_is(const struct resp_cmd *cmd, size_t i, const char *s)
{
	return cmd->argvlen[i] == strlen(s) &&
	       strncasecmp(cmd->argv[i], s, cmd->argvlen[i]) == 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int put_item(void *ctx, const char *k, size_t klen, const char *v,
		    size_t vlen, uint64_t epoch)
{
	struct req *r = ctx;
	int rc = resp_put_bulk(&r->items, k, klen);

	if (rc == DKV_OK)
		rc = resp_put_bulk(&r->items, v, vlen);
	if (rc == DKV_OK && r->with_epochs)
		rc = resp_put_int(&r->items, (int64_t)epoch);
	if (rc != DKV_OK)
		return rc;
	r->nitems++;
	return 0;
}

static void range_work(uv_work_t *w)
{
	struct req *r = w->data;
	int rc = dkv_store_range(r->conn->node->store, r->shards[0],
				 &r->range, put_item, r, &r->next);

	r->rc = rc < 0 ? rc : DKV_OK;
}

static void range_after(uv_work_t *w, int status)
{
	struct req *r = w->data;
	struct resp_buf *b = &r->slot->buf;
	static const char hex[] = "0123456789abcdef";

	if (status != 0 && r->rc == DKV_OK)
		r->rc = DKV_ERR_INTERNAL;
	if (r->rc == DKV_ERR_INVAL && r->range.anchor != NULL) {
		resp_put_error(b, "ERR invalid cursor", 18);
	} else if (r->rc == DKV_ERR_EPOCH_TOO_OLD) {
		static const char msg[] = "ERR epoch too old: below the "
					  "history watermark";
		resp_put_error(b, msg, sizeof(msg) - 1);
	} else if (r->rc != DKV_OK) {
		cmd_put_err(b, r->rc);
	} else {
		char *cur = malloc(2 * r->next.len + 1);

		resp_put_array(b, 2);
		for (size_t i = 0; cur && i < r->next.len; i++) {
			cur[2 * i] = hex[(uint8_t)r->next.data[i] >> 4];
			cur[2 * i + 1] = hex[(uint8_t)r->next.data[i] & 15];
		}
		resp_put_bulk(b, cur ? cur : "", cur ? 2 * r->next.len : 0);
		free(cur);
		resp_put_array(b, r->nitems * (r->with_epochs ? 3 : 2));
		resp_put_raw(b, r->items.data, r->items.len);
	}
	resp_buf_free(&r->items);
	dkv_buf_release(&r->next);
	free((void *)r->range.anchor);
	r->range.anchor = NULL;
	req_complete_raw(r);
}

void cmd_dkv_range(struct conn *c, const struct resp_cmd *cmd)
{
	struct node *n = c->node;
	struct dkv_range rg = { 0 };
	struct resp_buf *b;
	uint32_t first = 0, last = 0;
	int64_t v;
	char *anchor = NULL;
	size_t alen = 0;
	int with_epochs = 0, rc;
	struct req *r;

	rg.limit = RANGE_DEFAULT_LIMIT;
	rg.epoch = DKV_EPOCH_MAX;
	for (size_t i = 3; i < cmd->argc; i++) {
		if (arg_is(cmd, i, "REV")) {
			rg.reverse = 1;
		} else if (arg_is(cmd, i, "WITHEPOCHS")) {
			with_epochs = 1;
		} else if (i + 1 < cmd->argc && arg_is(cmd, i, "LIMIT")) {
			i++;
			if (resp_parse_i64(cmd->argv[i], cmd->argvlen[i], &v) !=
				    0 ||
			    v < 1 || v > RANGE_MAX_LIMIT)
				goto syntax;
			rg.limit = (size_t)v;
		} else if (i + 1 < cmd->argc && arg_is(cmd, i, "EPOCH")) {
			i++;
			if (resp_parse_i64(cmd->argv[i], cmd->argvlen[i], &v) !=
				    0 ||
			    v < 1)
				goto syntax;
			rg.epoch = (uint64_t)v;
		} else if (i + 1 < cmd->argc && arg_is(cmd, i, "CURSOR")) {
			i++;
			alen = cmd->argvlen[i] / 2;
			if (cmd->argvlen[i] % 2 != 0 || alen == 0)
				goto bad_cursor;
			free(anchor);
			anchor = malloc(alen);
			if (anchor == NULL)
				goto nomem;
			for (size_t j = 0; j < alen; j++) {
				int hi = hexval(cmd->argv[i][2 * j]);
				int lo = hexval(cmd->argv[i][2 * j + 1]);

				if (hi < 0 || lo < 0)
					goto bad_cursor;
				anchor[j] = (char)(hi << 4 | lo);
			}
		} else {
			goto syntax;
		}
	}
	/* A range reads at one epoch, also across its pages: pin now. */
	if (rg.epoch == DKV_EPOCH_MAX && anchor == NULL &&
	    dkv_hlc_now(n->hlc, &rg.epoch) != DKV_OK)
		rg.epoch = DKV_EPOCH_MAX;
	if (cmd->argvlen[1] > 0) {
		rg.start = cmd->argv[1];
		rg.start_len = cmd->argvlen[1];
	}
	if (cmd->argvlen[2] > 0) {
		rg.end = cmd->argv[2];
		rg.end_len = cmd->argvlen[2];
	}
	if (n->map == NULL) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_error(b, "CLUSTERDOWN no cluster map", 26);
		free(anchor);
		return;
	}
	rc = dkv_map_range_shard(n->map, rg.start, rg.start_len, rg.end,
				 rg.end_len, &first, &last);
	if (rc < 0) {
		b = conn_reply_buf(c);
		if (b == NULL)
			goto out;
		if (rc == DKV_ERR_INVAL)
			resp_put_array(b, 2), resp_put_bulk(b, "", 0),
				resp_put_array(b, 0); /* empty range */
		else if (first == DKV_SHARD_NONE || last == DKV_SHARD_NONE)
			resp_put_errorf(
				b,
				"ERR the range may span several shards (an "
				"open end under hash or slots sharding): "
				"ranges are confined to one shard; keep the "
				"keys under one {hash tag}");
		else
			resp_put_errorf(b,
					"ERR the range spans shards %u and %u: "
					"ranges are confined to one shard",
					first, last);
		goto out;
	}
	{
		const struct dkv_map_node *owner;

		dkv_map_shard_node(n->map, (uint32_t)rc, &owner);
		if (c->routed_version != 0 &&
		    (c->routed_version != dkv_map_version(n->map) ||
		     owner->id != n->cfg.node_id)) {
			b = conn_reply_buf(c);
			if (b && c->routed_version > dkv_map_version(n->map))
				resp_put_errorf(b, "TRYAGAIN this node's map is "
						   "older than the client's");
			else if (b)
				resp_put_errorf(b, "MOVED %d %s %llu", rc,
						owner->addr,
						(unsigned long long)
							dkv_map_version(n->map));
			goto out;
		}
		if (owner->id != n->cfg.node_id) {
			peer_forward(n, owner->id, c, cmd);
			goto out;
		}
	}
	r = req_new_read(c, CMD_DKV_RANGE, cmd, 1);
	if (r == NULL)
		goto nomem;
	r->shards[0] = (uint32_t)rc;
	r->range = rg;
	/* Point the range at the request's own copies of the keys. */
	if (rg.start)
		r->range.start = r->argv[1];
	if (rg.end)
		r->range.end = r->argv[2];
	r->range.anchor = anchor;
	r->range.anchor_len = alen;
	if (anchor)
		r->range.epoch = 0; /* the cursor carries it */
	anchor = NULL;
	r->with_epochs = with_epochs;
	resp_buf_init(&r->items, 0);
	if (req_begin(r) != DKV_OK) {
		free((void *)r->range.anchor);
		req_discard(r);
		goto nomem;
	}
	r->work.data = r;
	if (uv_queue_work(&n->loop, &r->work, range_work, range_after) != 0) {
		r->rc = DKV_ERR_INTERNAL;
		range_after(&r->work, 0);
	}
	return;
syntax:
	b = conn_reply_buf(c);
	if (b)
		resp_put_error(b, "ERR syntax error", 16);
	goto out;
bad_cursor:
	b = conn_reply_buf(c);
	if (b)
		resp_put_error(b, "ERR invalid cursor", 18);
	goto out;
nomem:
	b = conn_reply_buf(c);
	if (b)
		cmd_put_err(b, DKV_ERR_NOMEM);
out:
	free(anchor);
}
