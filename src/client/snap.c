/*
 * snap.c - snapshots in libdkv (dkv.h, "snapshots"; docs/snap.md):
 * DKV.SNAPSHOT CREATE, LIST, SHOW and DESTROY, sent to any node (the
 * map's nodes in turn on failure: DKV_ROUTE_ANY). Reads at a snapshot are
 * transactions at a fixed epoch (dkv_tx_open_snap, tx.c).
 *
 * Replies: CREATE and SHOW [name, epoch, created_ms]; LIST an array of
 * those; DESTROY +OK. Error replies become codes in dkv_reply_error
 * (client.c): "no such snapshot" DKV_ERR_NOT_FOUND, "snapshot 'x' exists"
 * DKV_ERR_EXISTS, "invalid snapshot name" DKV_ERR_INVAL, "too many
 * snapshots" DKV_ERR_NOSPACE; -TRYAGAIN (a node did not answer the
 * create) ends the call with DKV_ERR_BUSY rather than being retried.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"

/* 1 for a valid name: 1 to DKV_SNAP_NAME_MAX bytes of [A-Za-z0-9._:-],
 * the first a letter (so that a name is never an epoch). */
static int name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > DKV_SNAP_NAME_MAX)
		return 0;
	if (!((name[0] >= 'a' && name[0] <= 'z') ||
	      (name[0] >= 'A' && name[0] <= 'Z')))
		return 0;
	for (size_t i = 1; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
		      ch == ':' || ch == '-'))
			return 0;
	}
	return 1;
}

static int check_name(const char *what, const char *name)
{
	if (name != NULL && name_ok(name))
		return DKV_OK;
	dkv_set_error("%s: invalid snapshot name: 1 to %d bytes of "
		      "[A-Za-z0-9._:-], starting with a letter",
		      what, DKV_SNAP_NAME_MAX);
	return DKV_ERR_INVAL;
}

/* An unsigned 64-bit reply element: an integer, or a decimal bulk. */
static int reply_u64(const struct resp_reply *r, uint64_t *out)
{
	uint64_t v = 0;

	if (r->type == RESP_INTEGER) {
		if (r->integer < 0)
			return DKV_ERR_PROTO;
		*out = (uint64_t)r->integer;
		return DKV_OK;
	}
	if (r->type != RESP_BULK || r->len == 0 || r->len > 20)
		return DKV_ERR_PROTO;
	for (size_t i = 0; i < r->len; i++) {
		unsigned d = (unsigned char)r->str[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return DKV_ERR_PROTO;
		v = v * 10 + d;
	}
	*out = v;
	return DKV_OK;
}

/* [name, epoch, created_ms] into *info. */
static int parse_info(const struct resp_reply *r, struct dkv_snap_info *info)
{
	const struct resp_reply *nm;

	if (r->type != RESP_ARRAY || r->n != 3)
		goto bad;
	nm = &r->elems[0];
	if ((nm->type != RESP_BULK && nm->type != RESP_STRING) ||
	    nm->len == 0 || nm->len > DKV_SNAP_NAME_MAX ||
	    memchr(nm->str, '\0', nm->len) != NULL)
		goto bad;
	memset(info, 0, sizeof(*info));
	memcpy(info->ds_name, nm->str, nm->len);
	info->ds_name[nm->len] = '\0';
	if (reply_u64(&r->elems[1], &info->ds_epoch) != DKV_OK ||
	    info->ds_epoch == 0 ||
	    reply_u64(&r->elems[2], &info->ds_created_ms) != DKV_OK)
		goto bad;
	return DKV_OK;
bad:
	dkv_set_error("DKV.SNAPSHOT: malformed reply (expected [name, epoch, "
		      "created_ms])");
	return DKV_ERR_PROTO;
}

static int info_reply(void *arg, const struct resp_reply *r)
{
	struct dkv_snap_info tmp, *info = arg;

	return parse_info(r, info != NULL ? info : &tmp);
}

static int ok_reply(void *arg, const struct resp_reply *r)
{
	(void)arg;
	if (r->type == RESP_STRING)
		return DKV_OK;
	dkv_set_error("DKV.SNAPSHOT DESTROY: unexpected %s reply",
		      resp_type_name(r->type));
	return DKV_ERR_PROTO;
}

struct list_ctx {
	struct dkv_snap_info *v;
	size_t n;
};

static int by_epoch(const void *a, const void *b)
{
	const struct dkv_snap_info *x = a, *y = b;

	if (x->ds_epoch != y->ds_epoch)
		return x->ds_epoch < y->ds_epoch ? -1 : 1;
	return strcmp(x->ds_name, y->ds_name);
}

static int list_reply(void *arg, const struct resp_reply *r)
{
	struct list_ctx *l = arg;
	int rc = DKV_OK;

	if (r->type != RESP_ARRAY) {
		dkv_set_error("DKV.SNAPSHOT LIST: unexpected %s reply",
			      resp_type_name(r->type));
		return DKV_ERR_PROTO;
	}
	if (r->n == 0)
		return DKV_OK;
	l->v = calloc(r->n, sizeof(*l->v));
	if (l->v == NULL)
		return DKV_ERR_NOMEM;
	for (size_t i = 0; i < r->n && rc == DKV_OK; i++)
		rc = parse_info(&r->elems[i], &l->v[i]);
	if (rc != DKV_OK) {
		free(l->v);
		l->v = NULL;
		return rc;
	}
	l->n = r->n;
	qsort(l->v, l->n, sizeof(*l->v), by_epoch);
	return DKV_OK;
}

/* DKV.SNAPSHOT <sub> [name] to any node. */
static int snap_exec(dkv_client_t *c, const char *sub, const char *name,
		     int write, int (*on_reply)(void *, const struct resp_reply *),
		     void *arg)
{
	const char *argv[3] = { "DKV.SNAPSHOT", sub, name };
	size_t argvlen[3] = { 12, strlen(sub), name ? strlen(name) : 0 };
	struct dkv_creq rq = { 0 };

	rq.argc = name != NULL ? 3 : 2;
	rq.argv = argv;
	rq.argvlen = argvlen;
	rq.by = DKV_ROUTE_ANY;
	rq.write = write;
	rq.tryagain_final = 1;
	rq.on_reply = on_reply;
	rq.arg = arg;
	return dkv_client_exec(c, &rq);
}

int dkv_snap_create(dkv_client_t *c, const char *name,
		    struct dkv_snap_info *info)
{
	int rc;

	dkv_clear_error();
	if (c == NULL) {
		dkv_set_error("dkv_snap_create: a handle is required");
		return DKV_ERR_INVAL;
	}
	if (name != NULL) {
		rc = check_name("dkv_snap_create", name);
		if (rc != DKV_OK)
			return rc;
	}
	return snap_exec(c, "CREATE", name, 1, info_reply, info);
}

int dkv_snap_list(dkv_client_t *c, struct dkv_snap_info **list, size_t *n)
{
	struct list_ctx l = { NULL, 0 };
	int rc;

	dkv_clear_error();
	if (c == NULL || list == NULL || n == NULL) {
		dkv_set_error("dkv_snap_list: a handle, list and n are "
			      "required");
		return DKV_ERR_INVAL;
	}
	*list = NULL;
	*n = 0;
	rc = snap_exec(c, "LIST", NULL, 0, list_reply, &l);
	if (rc < 0) {
		free(l.v);
		return rc;
	}
	*list = l.v;
	*n = l.n;
	return DKV_OK;
}

int dkv_snap_show(dkv_client_t *c, const char *name,
		  struct dkv_snap_info *info)
{
	int rc;

	dkv_clear_error();
	if (c == NULL || info == NULL) {
		dkv_set_error("dkv_snap_show: a handle and info are required");
		return DKV_ERR_INVAL;
	}
	rc = check_name("dkv_snap_show", name);
	if (rc != DKV_OK)
		return rc;
	return snap_exec(c, "SHOW", name, 0, info_reply, info);
}

int dkv_snap_destroy(dkv_client_t *c, const char *name)
{
	int rc;

	dkv_clear_error();
	if (c == NULL) {
		dkv_set_error("dkv_snap_destroy: a handle is required");
		return DKV_ERR_INVAL;
	}
	rc = check_name("dkv_snap_destroy", name);
	if (rc != DKV_OK)
		return rc;
	return snap_exec(c, "DESTROY", name, 1, ok_reply, NULL);
}
