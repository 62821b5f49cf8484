/*
 * cmd_gc.c - DKV.GC [COMPACT]: a history GC pass on this node, now.
 *
 * Happy path: the request takes a reply slot (it counts as in flight, so
 * a draining node answers it before it stops) and waits in gc_run() for a
 * pass that begins after it (gc.h: the running one, if any, first ends);
 * with COMPACT that pass also compacts every shard, bottom level included,
 * so the space is reclaimed before the reply. The reply, once the pass
 * ended, is a flat array of fields:
 *
 *   watermark_min <int> watermark_max <int> shards <int> disk_bytes <int>
 *
 * (the lowest and highest watermark over this node's shards, how many
 * shards the pass visited, the store's bytes on disk after it).
 *
 * Failure modes: a pass that failed answers its first error (`-ERR dkv:
 * ...`); a node that stops before the pass begins answers `-LOADING the
 * node is shutting down`; anything but COMPACT after the name is a syntax
 * error; out of memory is `-ERR dkv: out of memory (NOMEM)`.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/cmd.h"
#include "server/conn.h"
#include "server/gc.h"
#include "server/node.h"
#include "server/req.h"

struct gc_cmd {
	struct gc_wait w; /* first: the callback gets it */
	struct req *r;
};

static void put_field(struct resp_buf *b, const char *name, uint64_t v)
{
	resp_put_bulk(b, name, strlen(name));
	resp_put_int(b, (int64_t)v);
}

static void gc_cmd_done(struct gc_wait *w, const struct gc_result *res)
{
	struct gc_cmd *gc = (struct gc_cmd *)w;
	struct resp_buf *b = &gc->r->slot->buf;

	if (res->rc != DKV_OK) {
		cmd_put_err(b, res->rc);
	} else {
		resp_put_array(b, 8);
		put_field(b, "watermark_min", res->watermark_min);
		put_field(b, "watermark_max", res->watermark_max);
		put_field(b, "shards", res->shards);
		put_field(b, "disk_bytes", res->disk_bytes);
	}
	req_complete_raw(gc->r);
	free(gc);
}

void cmd_dkv_gc(struct conn *c, const struct resp_cmd *cmd)
{
	struct gc_cmd *gc = NULL;
	struct resp_buf *b;
	int rc = DKV_OK;

	if (cmd->argc > 2 ||
	    (cmd->argc == 2 &&
	     (cmd->argvlen[1] != 7 ||
	      strncasecmp(cmd->argv[1], "COMPACT", 7) != 0))) {
		b = conn_reply_buf(c);
		if (b)
			resp_put_error(b, "ERR syntax error", 16);
		goto out;
	}
	rc = DKV_ERR_NOMEM;
	gc = calloc(1, sizeof(*gc));
	if (gc == NULL)
		goto out;
	gc->r = req_new_read(c, CMD_DKV_GC, cmd, 0);
	if (gc->r == NULL)
		goto out;
	if (req_begin(gc->r) != DKV_OK) {
		req_discard(gc->r);
		gc->r = NULL;
		goto out;
	}
	gc->w.compact = cmd->argc == 2;
	gc->w.done = gc_cmd_done;
	rc = gc_run(c->node, &gc->w);
	if (rc == DKV_OK)
		gc = NULL; /* gc_cmd_done answers and frees it */
out:
	if (gc != NULL && gc->r != NULL) {
		/* Begun but never queued: its slot gets the error. */
		cmd_put_err(&gc->r->slot->buf, rc);
		req_complete_raw(gc->r);
	} else if (rc != DKV_OK) {
		b = conn_reply_buf(c);
		if (b)
			cmd_put_err(b, rc);
	}
	free(gc);
}
