/*
 * cmd_multi.c - MGET, DEL and EXISTS whose keys live on several nodes.
 *
 * The keys are grouped by owner; each group goes to its owner as one
 * command of the same name (this node's own group over its loopback
 * link, so that every part takes the same path); the replies are merged
 * back in key order: MGET's values by position, DEL's and EXISTS's counts
 * summed. These commands are not atomic across nodes, as in Redis
 * Cluster (MULTI/EXEC is, in the transaction issue). The first error of
 * any part is the reply.
 */
#include <stdlib.h>
#include <string.h>

#include "server/cmd.h"
#include "server/conn.h"
#include "server/node.h"
#include "server/peer.h"

struct gather;

struct part {
	struct gather *g;
	size_t nkeys;
	size_t *pos; /* key positions in the original command */
};

struct gather {
	struct conn *conn;
	struct slot *slot;
	enum cmd_id id;
	size_t nkeys, nparts;
	int pending;
	int64_t sum;
	struct resp_reply **vals; /* MGET: one per key (dup), NULL = nil */
	struct resp_buf err;      /* the first error, encoded */
	struct part *parts;
};

static void gather_finish(struct gather *g)
{
	struct resp_buf *b = &g->slot->buf;

	if (g->err.len > 0) {
		resp_put_raw(b, g->err.data, g->err.len);
	} else if (g->id == CMD_MGET) {
		resp_put_array(b, g->nkeys);
		for (size_t i = 0; i < g->nkeys; i++)
			if (g->vals[i])
				resp_put_reply(b, g->vals[i]);
			else
				resp_put_null(b);
	} else {
		resp_put_int(b, g->sum);
	}
	if (g->id == CMD_DEL)
		g->conn->writes_inflight--;
	else
		g->conn->reads_inflight--;
	conn_slot_done(g->conn, g->slot);
	conn_request_done(g->conn);
	for (size_t i = 0; i < g->nkeys; i++)
		resp_reply_free(g->vals[i]);
	for (size_t i = 0; i < g->nparts; i++)
		free(g->parts[i].pos);
	free(g->parts);
	free(g->vals);
	resp_buf_free(&g->err);
	free(g);
}

static void part_reply(void *ctx, const struct resp_reply *r)
{
	struct part *p = ctx;
	struct gather *g = p->g;

	if (g->err.len > 0) {
		/* an earlier part failed: only count */
	} else if (r == NULL) {
		resp_put_errorf(&g->err, "TRYAGAIN a node holding some of "
					 "the keys is unreachable");
	} else if (r->type == RESP_ERROR) {
		resp_put_error(&g->err, r->str, r->len);
	} else if (g->id == CMD_MGET && r->type == RESP_ARRAY &&
		   r->n == p->nkeys) {
		for (size_t j = 0; j < p->nkeys; j++)
			if (r->elems[j].type == RESP_BULK)
				g->vals[p->pos[j]] = resp_reply_dup(&r->elems[j]);
	} else if (g->id != CMD_MGET && r->type == RESP_INTEGER) {
		g->sum += r->integer;
	} else {
		resp_put_errorf(&g->err, "ERR unexpected reply from a node");
	}
	if (--g->pending == 0)
		gather_finish(g);
}

void cmd_gather(struct conn *c, const struct resp_cmd *cmd, enum cmd_id id)
{
	struct node *n = c->node;
	size_t nkeys = cmd->argc - 1, nn = dkv_map_nnodes(n->map);
	uint32_t *owner = calloc(nkeys, sizeof(*owner));
	struct gather *g = calloc(1, sizeof(*g));
	const char **argv = calloc(nkeys + 1, sizeof(*argv));
	size_t *lens = calloc(nkeys + 1, sizeof(*lens));
	struct resp_buf *b;

	if (!owner || !g || !argv || !lens)
		goto nomem;
	g->conn = c;
	g->id = id;
	g->nkeys = nkeys;
	resp_buf_init(&g->err, 0);
	g->vals = calloc(nkeys, sizeof(*g->vals));
	g->parts = calloc(nn, sizeof(*g->parts));
	if (!g->vals || !g->parts)
		goto nomem;
	for (size_t i = 0; i < nkeys; i++) {
		const struct dkv_map_node *o;

		if (dkv_map_key_node(n->map, cmd->argv[1 + i],
				     cmd->argvlen[1 + i], NULL, &o) != DKV_OK)
			goto nomem;
		owner[i] = o->id;
	}
	g->slot = conn_slot_open(c);
	if (g->slot == NULL)
		goto nomem;
	c->inflight++;
	n->inflight++;
	/* Ordering on this connection, as for local requests (conn.h). */
	if (id == CMD_DEL)
		c->writes_inflight++;
	else
		c->reads_inflight++;
	/* One part per owner; pending covers them all before any is sent,
	 * so a reply that comes at once cannot finish early. */
	for (uint32_t k = 0; k < nn; k++) {
		uint32_t id_k = dkv_map_node_at(n->map, k)->id;
		struct part *p = &g->parts[g->nparts];

		for (size_t i = 0; i < nkeys; i++)
			p->nkeys += owner[i] == id_k;
		if (p->nkeys == 0)
			continue;
		p->g = g;
		p->pos = calloc(p->nkeys, sizeof(*p->pos));
		if (p->pos == NULL) {
			p->nkeys = 0;
			continue;
		}
		p->nkeys = 0;
		for (size_t i = 0; i < nkeys; i++)
			if (owner[i] == id_k)
				p->pos[p->nkeys++] = i;
		g->nparts++;
	}
	g->pending = (int)g->nparts + 1;
	for (size_t k = 0; k < g->nparts; k++) {
		struct part *p = &g->parts[k];
		uint32_t id_k = owner[p->pos[0]];

		argv[0] = cmd->argv[0];
		lens[0] = cmd->argvlen[0];
		for (size_t j = 0; j < p->nkeys; j++) {
			argv[1 + j] = cmd->argv[1 + p->pos[j]];
			lens[1 + j] = cmd->argvlen[1 + p->pos[j]];
		}
		if (peer_call(n, id_k, 1 + p->nkeys, argv, lens, part_reply,
			      p) != DKV_OK)
			part_reply(p, NULL);
	}
	free(owner);
	free(argv);
	free(lens);
	/* Drop the guard taken above. */
	if (--g->pending == 0)
		gather_finish(g);
	return;
nomem:
	if (g) {
		free(g->vals);
		free(g->parts);
		free(g);
	}
	free(owner);
	free(argv);
	free(lens);
	b = conn_reply_buf(c);
	if (b)
		cmd_put_err(b, DKV_ERR_NOMEM);
}
