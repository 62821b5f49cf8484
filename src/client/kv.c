/* kv.c - single-key calls and map queries of libdkv (dkv.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "client/conn.h"

/* Checks what every data call checks. */
static int check_common(dkv_client_t *c, const void *key, size_t klen)
{
	dkv_clear_error();
	if (c == NULL || key == NULL || klen == 0) {
		dkv_set_error("a handle and a key (1 byte or more) are "
			      "required");
		return DKV_ERR_INVAL;
	}
	return DKV_OK;
}

static int bad_type(const struct resp_reply *r, const char *what)
{
	dkv_set_error("%s: unexpected %s reply", what, resp_type_name(r->type));
	return DKV_ERR_PROTO;
}

/* --- put ---------------------------------------------------------------- */

struct put_ctx {
	uint64_t flags;
};

static int put_reply(void *arg, const struct resp_reply *r)
{
	struct put_ctx *p = arg;

	if (r->type == RESP_STRING)
		return DKV_OK;
	if (r->type == RESP_NIL || r->type == RESP_NULL) {
		/* The condition failed: nothing written. */
		if (p->flags & DKV_COND_INSERT) {
			dkv_set_error("the key exists (DKV_COND_INSERT)");
			return DKV_ERR_EXISTS;
		}
		dkv_set_error("the key does not exist (DKV_COND_UPDATE)");
		return DKV_ERR_NOT_FOUND;
	}
	return bad_type(r, "SET");
}

int dkv_put(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags, const void *key,
	    size_t klen, const void *val, size_t vlen)
{
	const char *argv[4] = { "SET", key, val ? val : "", NULL };
	size_t argvlen[4] = { 3, klen, vlen, 2 };
	struct put_ctx p = { flags };
	struct dkv_creq rq = { 0 };
	int rc = check_common(c, key, klen);

	if (rc != DKV_OK)
		return rc;
	if ((flags & ~(DKV_COND_INSERT | DKV_COND_UPDATE)) != 0 ||
	    flags == (DKV_COND_INSERT | DKV_COND_UPDATE) ||
	    (val == NULL && vlen > 0)) {
		dkv_set_error("dkv_put: bad flags or value");
		return DKV_ERR_INVAL;
	}
	if (tx != NULL)
		return dkv_tx_do_put(c, tx, flags, key, klen, val, vlen);
	rq.argc = 3;
	if (flags & DKV_COND_INSERT)
		argv[3] = "NX", rq.argc = 4;
	else if (flags & DKV_COND_UPDATE)
		argv[3] = "XX", rq.argc = 4;
	rq.argv = argv;
	rq.argvlen = argvlen;
	rq.by = DKV_ROUTE_KEY;
	rq.key = key;
	rq.klen = klen;
	rq.write = 1;
	rq.on_reply = put_reply;
	rq.arg = &p;
	return dkv_client_exec(c, &rq);
}

/* --- get ---------------------------------------------------------------- */

struct get_ctx {
	void *buf;     /* dkv_get: the caller's buffer, or NULL */
	size_t *len;
	void **val;    /* dkv_get_alloc */
};

static int get_reply(void *arg, const struct resp_reply *r)
{
	struct get_ctx *g = arg;

	if (r->type == RESP_NIL || r->type == RESP_NULL) {
		dkv_set_error("the key does not exist");
		return DKV_ERR_NOT_FOUND;
	}
	if (r->type != RESP_BULK)
		return bad_type(r, "GET");
	if (g->val != NULL) {
		char *p = malloc(r->len + 1);

		if (p == NULL)
			return DKV_ERR_NOMEM;
		memcpy(p, r->str, r->len);
		p[r->len] = '\0';
		*g->val = p;
		*g->len = r->len;
		return DKV_OK;
	}
	if (g->buf == NULL) {
		*g->len = r->len;
		return DKV_OK;
	}
	if (*g->len < r->len) {
		dkv_set_error("the value (%zu bytes) is larger than the "
			      "buffer (%zu bytes)",
			      r->len, *g->len);
		*g->len = r->len;
		return DKV_ERR_TOO_BIG;
	}
	memcpy(g->buf, r->str, r->len);
	*g->len = r->len;
	return DKV_OK;
}

static int do_get(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		  const void *key, size_t klen, struct get_ctx *g)
{
	const char *argv[2] = { "GET", key ? key : "" };
	size_t argvlen[2] = { 3, klen };
	struct dkv_creq rq = { 0 };
	int rc = check_common(c, key, klen);

	if (rc != DKV_OK)
		return rc;
	if (flags != 0 || g->len == NULL) {
		dkv_set_error("dkv_get: flags must be 0 and len is required");
		return DKV_ERR_INVAL;
	}
	if (tx != NULL)
		return dkv_tx_do_get(c, tx, key, klen, g->buf, g->len, g->val);
	rq.argc = 2;
	rq.argv = argv;
	rq.argvlen = argvlen;
	rq.by = DKV_ROUTE_KEY;
	rq.key = key;
	rq.klen = klen;
	rq.on_reply = get_reply;
	rq.arg = g;
	return dkv_client_exec(c, &rq);
}

int dkv_get(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags, const void *key,
	    size_t klen, void *buf, size_t *len)
{
	struct get_ctx g = { buf, len, NULL };

	return do_get(c, tx, flags, key, klen, &g);
}

int dkv_get_alloc(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		  const void *key, size_t klen, void **val, size_t *len)
{
	struct get_ctx g = { NULL, len, val };

	if (val == NULL) {
		dkv_clear_error();
		dkv_set_error("dkv_get_alloc: val is required");
		return DKV_ERR_INVAL;
	}
	*val = NULL;
	return do_get(c, tx, flags, key, klen, &g);
}

/* --- remove ------------------------------------------------------------- */

static int del_reply(void *arg, const struct resp_reply *r)
{
	uint64_t flags = *(uint64_t *)arg;

	if (r->type != RESP_INTEGER)
		return bad_type(r, "DEL");
	if (r->integer > 0)
		return 1;
	if (flags & DKV_COND_PUNCH) {
		dkv_set_error("the key does not exist (DKV_COND_PUNCH)");
		return DKV_ERR_NOT_FOUND;
	}
	return 0;
}

int dkv_remove(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
	       const void *key, size_t klen)
{
	const char *argv[2] = { "DEL", key ? key : "" };
	size_t argvlen[2] = { 3, klen };
	struct dkv_creq rq = { 0 };
	int rc = check_common(c, key, klen);

	if (rc != DKV_OK)
		return rc;
	if ((flags & ~DKV_COND_PUNCH) != 0) {
		dkv_set_error("dkv_remove: unknown flags");
		return DKV_ERR_INVAL;
	}
	if (tx != NULL)
		return dkv_tx_do_remove(c, tx, flags, key, klen);
	rq.argc = 2;
	rq.argv = argv;
	rq.argvlen = argvlen;
	rq.by = DKV_ROUTE_KEY;
	rq.key = key;
	rq.klen = klen;
	rq.write = 1;
	rq.on_reply = del_reply;
	rq.arg = &flags;
	return dkv_client_exec(c, &rq);
}

/* --- the map -------------------------------------------------------------- */

int dkv_shard_of(dkv_client_t *c, const void *key, size_t klen,
		 uint32_t *shard, char *node_addr, size_t addrlen)
{
	const struct dkv_map_node *nd;
	struct dkv_cmap *cm;
	uint32_t s;
	int rc;

	dkv_clear_error();
	if (c == NULL || (key == NULL && klen > 0)) {
		dkv_set_error("a handle and a key are required");
		return DKV_ERR_INVAL;
	}
	cm = dkv_cmap_get(c);
	rc = dkv_map_key_node(cm->map, key, klen, &s, &nd);
	if (rc == DKV_OK && node_addr != NULL) {
		size_t n = strlen(nd->addr);

		if (n + 1 > addrlen) {
			dkv_set_error("the address needs %zu bytes", n + 1);
			rc = DKV_ERR_TOO_BIG;
		} else {
			memcpy(node_addr, nd->addr, n + 1);
		}
	}
	if (rc == DKV_OK && shard != NULL)
		*shard = s;
	dkv_cmap_put(c, cm);
	return rc;
}

int dkv_shard_count(dkv_client_t *c, uint32_t *n)
{
	struct dkv_cmap *cm;

	dkv_clear_error();
	if (c == NULL || n == NULL) {
		dkv_set_error("dkv_shard_count: a handle and n are required");
		return DKV_ERR_INVAL;
	}
	cm = dkv_cmap_get(c);
	*n = dkv_map_nshards(cm->map);
	dkv_cmap_put(c, cm);
	return DKV_OK;
}

int dkv_cluster_map(dkv_client_t *c, uint32_t flags, char **json,
		    uint64_t *version)
{
	struct dkv_cmap *cm;
	int rc = DKV_OK;

	dkv_clear_error();
	if (c == NULL || (flags & ~(DKV_MAP_REFRESH | DKV_MAP_PRETTY)) != 0) {
		dkv_set_error("dkv_cluster_map: bad arguments");
		return DKV_ERR_INVAL;
	}
	if (json != NULL)
		*json = NULL;
	if (flags & DKV_MAP_REFRESH) {
		rc = dkv_client_refresh(c, NULL, dkv_now_ms() + c->timeout_ms);
		if (rc != DKV_OK)
			return rc;
	}
	cm = dkv_cmap_get(c);
	if (version != NULL)
		*version = dkv_map_version(cm->map);
	if (json != NULL)
		rc = dkv_map_to_json(cm->map,
				     flags & DKV_MAP_PRETTY ? DKV_MAP_JSON_PRETTY
							    : 0,
				     json, NULL);
	dkv_cmap_put(c, cm);
	return rc;
}
