/* range.c - dkv_range over DKV.RANGE ... WITHEPOCHS CURSOR c, resumable
 * from a caller-owned anchor (dkv.h). */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "client/conn.h"

enum { ANCHOR_START = 0, ANCHOR_MORE = 1, ANCHOR_EOF = 2 };

/* What an anchor holds between calls. */
struct range_priv {
	uint64_t flags;
	char *start, *end;        /* copies of the bounds, to check resumes */
	size_t slen, elen;
	uint32_t shard;
	char *cursor;             /* the node's cursor (hex); NULL: first page */
	size_t curlen;
	int node_eof;             /* the node has nothing after this page */
	struct resp_reply *page;  /* the last page (a dup), partly delivered */
	size_t next;              /* its next item, an index into items */
};

static void priv_free(struct range_priv *p)
{
	if (p == NULL)
		return;
	free(p->start);
	free(p->end);
	free(p->cursor);
	resp_reply_free(p->page);
	free(p);
}

int dkv_anchor_is_eof(const struct dkv_anchor *a)
{
	return a != NULL && a->da_state == ANCHOR_EOF;
}

void dkv_anchor_fini(struct dkv_anchor *a)
{
	if (a == NULL)
		return;
	if (a->da_state == DKV_ANCHOR_TX)
		dkv_tx_anchor_free(a->da_priv);
	else
		priv_free(a->da_priv);
	a->da_state = ANCHOR_START;
	a->da_shard = 0;
	a->da_priv = NULL;
}

char *client_memdup_or_null(const void *p, size_t len)
{
	char *d;

	if (p == NULL || len == 0)
		return NULL;
	d = malloc(len);
	if (d != NULL)
		memcpy(d, p, len);
	return d;
}

int client_same_bytes(const char *a, size_t alen, const void *b, size_t blen)
{
	if (b == NULL)
		blen = 0;
	return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* Checks a page: [cursor, [k, v, epoch, ...]] and keeps a copy. */
static int page_reply(void *arg, const struct resp_reply *r)
{
	struct range_priv *p = arg;
	const struct resp_reply *items;

	if (r->type != RESP_ARRAY || r->n != 2 ||
	    r->elems[0].type != RESP_BULK || r->elems[1].type != RESP_ARRAY ||
	    r->elems[1].n % 3 != 0)
		goto bad;
	items = &r->elems[1];
	for (size_t i = 0; i < items->n; i += 3)
		if (items->elems[i].type != RESP_BULK ||
		    items->elems[i + 1].type != RESP_BULK ||
		    items->elems[i + 2].type != RESP_INTEGER)
			goto bad;
	free(p->cursor);
	p->cursor = NULL;
	p->curlen = 0;
	if (r->elems[0].len == 0) {
		p->node_eof = 1;
	} else {
		p->cursor = client_memdup_or_null(r->elems[0].str, r->elems[0].len);
		if (p->cursor == NULL)
			return DKV_ERR_NOMEM;
		p->curlen = r->elems[0].len;
	}
	resp_reply_free(p->page);
	p->page = resp_reply_dup(r);
	p->next = 0;
	return p->page ? DKV_OK : DKV_ERR_NOMEM;
bad:
	dkv_set_error("DKV.RANGE: malformed reply");
	return DKV_ERR_PROTO;
}

static int fetch_page(dkv_client_t *c, struct range_priv *p, uint32_t want)
{
	const char *argv[10];
	size_t argvlen[10], n = 0;
	char lim[16];
	struct dkv_creq rq = { 0 };

#define ARG(s, l) (argv[n] = (s), argvlen[n] = (l), n++)
	ARG("DKV.RANGE", 9);
	ARG(p->start ? p->start : "", p->slen);
	ARG(p->end ? p->end : "", p->elen);
	ARG("LIMIT", 5);
	ARG(lim, (size_t)snprintf(lim, sizeof(lim), "%u", want));
	if (p->flags & DKV_RANGE_REVERSE)
		ARG("REV", 3);
	ARG("WITHEPOCHS", 10);
	if (p->cursor != NULL) {
		ARG("CURSOR", 6);
		ARG(p->cursor, p->curlen);
	}
#undef ARG
	rq.argc = n;
	rq.argv = argv;
	rq.argvlen = argvlen;
	rq.by = DKV_ROUTE_SHARD;
	rq.shard = p->shard;
	rq.on_reply = page_reply;
	rq.arg = p;
	return dkv_client_exec(c, &rq);
}

/* A new search: copies the bounds and finds the one shard. Returns 0 with
 * *out, 1 for a range empty by its bounds, or a code. */
static int priv_new(dkv_client_t *c, uint64_t flags, const void *start,
		    size_t slen, const void *end, size_t elen,
		    struct range_priv **out)
{
	struct range_priv *p = calloc(1, sizeof(*p));
	uint32_t first = DKV_SHARD_NONE, last = DKV_SHARD_NONE;
	struct dkv_cmap *cm;
	int rc;

	if (p == NULL)
		return DKV_ERR_NOMEM;
	p->flags = flags;
	p->slen = start ? slen : 0;
	p->elen = end ? elen : 0;
	p->start = client_memdup_or_null(start, p->slen);
	p->end = client_memdup_or_null(end, p->elen);
	if ((p->slen && !p->start) || (p->elen && !p->end)) {
		priv_free(p);
		return DKV_ERR_NOMEM;
	}
	cm = dkv_cmap_get(c);
	rc = dkv_map_range_shard(cm->map, p->slen ? p->start : NULL, p->slen,
				 p->elen ? p->end : NULL, p->elen, &first,
				 &last);
	dkv_cmap_put(c, cm);
	if (rc == DKV_ERR_INVAL) {
		priv_free(p);
		return 1; /* start >= end: nothing to read */
	}
	if (rc < 0) {
		if (rc == DKV_ERR_UNSUPPORTED && first != DKV_SHARD_NONE &&
		    last != DKV_SHARD_NONE)
			dkv_set_error("the range spans shards %u and %u: a "
				      "range search reads one shard",
				      first, last);
		else if (rc == DKV_ERR_UNSUPPORTED)
			dkv_set_error("the range may span several shards: "
				      "keep its keys under one {hash tag} "
				      "and bound it inside the tag");
		else
			dkv_set_error("range: %s", dkv_strerror(rc));
		priv_free(p);
		return rc;
	}
	p->shard = (uint32_t)rc;
	*out = p;
	return DKV_OK;
}

int dkv_range(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
	      const void *start, size_t slen, const void *end, size_t elen,
	      uint32_t limit, struct dkv_anchor *anchor, dkv_range_cb cb,
	      void *arg)
{
	struct range_priv *p = NULL;
	uint32_t delivered = 0;
	int rc, result = 0;

	dkv_clear_error();
	if (c == NULL || cb == NULL || (start == NULL && slen > 0) ||
	    (end == NULL && elen > 0) || (flags & ~DKV_RANGE_REVERSE) != 0) {
		dkv_set_error("dkv_range: bad arguments");
		return DKV_ERR_INVAL;
	}
	if (anchor != NULL && anchor->da_state == ANCHOR_EOF)
		return 0;
	/* The count must fit the int result. */
	if (limit == 0 || limit > INT_MAX)
		limit = INT_MAX;
	/* Inside a transaction (tx_range.c), also to refuse its anchors
	 * without it. */
	if (tx != NULL || (anchor != NULL && anchor->da_state == DKV_ANCHOR_TX))
		return dkv_tx_do_range(c, tx, DKV_SHARD_NONE, flags, start,
				       slen, end, elen, limit, anchor, cb,
				       arg);
	if (anchor != NULL && anchor->da_priv != NULL) {
		p = anchor->da_priv;
		if (p->flags != flags ||
		    !client_same_bytes(p->start, p->slen, start, slen) ||
		    !client_same_bytes(p->end, p->elen, end, elen)) {
			dkv_set_error("dkv_range: the anchor belongs to another "
				      "range (start, end or flags differ)");
			return DKV_ERR_INVAL;
		}
	} else {
		rc = priv_new(c, flags, start, slen, end, elen, &p);
		if (rc == 1) {
			if (anchor != NULL)
				anchor->da_state = ANCHOR_EOF;
			return 0;
		}
		if (rc != DKV_OK)
			return rc;
		if (anchor != NULL) {
			anchor->da_priv = p;
			anchor->da_shard = p->shard;
			anchor->da_state = ANCHOR_MORE;
		}
	}
	for (;;) {
		/* Deliver what the last page left. */
		while (p->page != NULL && p->next < p->page->elems[1].n) {
			const struct resp_reply *it =
				&p->page->elems[1].elems[p->next];
			int r;

			if (delivered >= limit)
				goto out;
			p->next += 3;
			r = cb(arg, it[0].str, it[0].len, it[1].str,
			       it[1].len, (uint64_t)it[2].integer);
			if (r < 0) {
				result = r;
				goto out;
			}
			delivered++;
			if (r > 0)
				goto out;
		}
		if (p->node_eof || delivered >= limit)
			goto out;
		{
			uint32_t want = c->range_batch;

			if (limit - delivered < want)
				want = limit - delivered;
			rc = fetch_page(c, p, want);
		}
		if (rc != DKV_OK) {
			result = rc;
			goto out;
		}
	}
out:
	if (anchor == NULL) {
		priv_free(p);
	} else if (p->node_eof &&
		   (p->page == NULL || p->next >= p->page->elems[1].n)) {
		priv_free(p);
		anchor->da_priv = NULL;
		anchor->da_state = ANCHOR_EOF;
	}
	return result < 0 ? result : (int)delivered;
}

int dkv_range_shard(dkv_client_t *c, dkv_tx_t *tx, uint32_t shard,
		    uint64_t flags, const void *start, size_t slen,
		    const void *end, size_t elen, uint32_t limit,
		    struct dkv_anchor *anchor, dkv_range_cb cb, void *arg)
{
	dkv_clear_error();
	if (c == NULL || tx == NULL || cb == NULL || shard == DKV_SHARD_NONE ||
	    (start == NULL && slen > 0) || (end == NULL && elen > 0) ||
	    (flags & ~DKV_RANGE_REVERSE) != 0) {
		dkv_set_error("dkv_range_shard: bad arguments (a transaction "
			      "and a callback are required)");
		return DKV_ERR_INVAL;
	}
	if (anchor != NULL && anchor->da_state == ANCHOR_EOF)
		return 0;
	if (anchor != NULL && anchor->da_priv != NULL &&
	    anchor->da_state != DKV_ANCHOR_TX) {
		dkv_set_error("dkv_range_shard: the anchor belongs to a range "
			      "outside a transaction");
		return DKV_ERR_INVAL;
	}
	if (limit == 0 || limit > INT_MAX)
		limit = INT_MAX;
	return dkv_tx_do_range(c, tx, shard, flags, start, slen, end, elen,
			       limit, anchor, cb, arg);
}
