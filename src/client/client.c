/* client.c - the handle: connect, the cached map, connection pools, and
 * the request loop (route, redirect, retry). See dkv.h and client_int.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_int.h"
#include "client/conn.h"

#ifndef DKV_VERSION_STRING
#define DKV_VERSION_STRING "0.1.0"
#endif

/* --- last error ------------------------------------------------------------ */

static __thread char tls_err[512];

void dkv_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tls_err, sizeof(tls_err), fmt, ap);
	va_end(ap);
}

void dkv_clear_error(void)
{
	tls_err[0] = '\0';
}

const char *dkv_last_error(void)
{
	return tls_err;
}

const char *dkv_version(void)
{
	return DKV_VERSION_STRING;
}

void dkv_free(void *p)
{
	free(p);
}

/* --- error replies ------------------------------------------------------------ */

static int starts(const struct resp_reply *r, const char *word)
{
	size_t n = strlen(word);

	return r->len >= n && memcmp(r->str, word, n) == 0;
}

int dkv_reply_error(const struct resp_reply *r, const char *addr)
{
	static const struct {
		const char *prefix;
		int rc;
	} texts[] = {
		{ "NOAUTH", DKV_ERR_AUTH },
		{ "WRONGPASS", DKV_ERR_AUTH },
		{ "ERR AUTH", DKV_ERR_AUTH },
		{ "LOADING", DKV_ERR_CLOSED },
		{ "CLUSTERDOWN", DKV_ERR_STATE },
		{ "TRYAGAIN", DKV_ERR_BUSY },
		{ "MOVED", DKV_ERR_REDIRECT },
		{ "ERR string exceeds maximum allowed size", DKV_ERR_TOO_BIG },
		{ "ERR Protocol error", DKV_ERR_PROTO },
		{ "ERR the range", DKV_ERR_UNSUPPORTED },
		{ "ERR unknown command", DKV_ERR_UNSUPPORTED },
		{ "ERR invalid cursor", DKV_ERR_INVAL },
		{ "ERR syntax error", DKV_ERR_INVAL },
		{ "ERR wrong number of arguments", DKV_ERR_INVAL },
		{ "ERR value is not an integer", DKV_ERR_INVAL },
		{ "ERR increment or decrement would overflow",
		  DKV_ERR_OVERFLOW },
		{ "ERR epoch too old", DKV_ERR_EPOCH_TOO_OLD },
		/* DKV.SNAPSHOT (docs/snap.md) */
		{ "ERR no such snapshot", DKV_ERR_NOT_FOUND },
		{ "ERR invalid snapshot name", DKV_ERR_INVAL },
		{ "ERR too many snapshots", DKV_ERR_NOSPACE },
	};

	dkv_set_error("%s: %.*s", addr ? addr : "node",
		      (int)(r->len > 400 ? 400 : r->len), r->str);
	/* "ERR dkv: <text> (<NAME>)": the node's own code, by name. */
	if (starts(r, "ERR dkv: ") && r->len > 2 && r->str[r->len - 1] == ')') {
		const char *open = memrchr(r->str, '(', r->len);

		if (open != NULL) {
			size_t nl = (size_t)(r->str + r->len - 1 - open - 1);

			for (int rc = -1; rc >= -64; rc--) {
				const char *name = dkv_errname(rc);

				if (strcmp(name, "UNKNOWN") != 0 &&
				    strlen(name) == nl &&
				    memcmp(name, open + 1, nl) == 0)
					return rc;
			}
		}
	}
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (starts(r, texts[i].prefix))
			return texts[i].rc;
	/* "ERR snapshot '<name>' exists" */
	if (starts(r, "ERR snapshot '") && r->len >= 23 &&
	    memcmp(r->str + r->len - 8, "' exists", 8) == 0)
		return DKV_ERR_EXISTS;
	return DKV_ERR_INTERNAL;
}

/* --- maps --------------------------------------------------------------- */

struct dkv_cmap *dkv_cmap_get(struct dkv_client *c)
{
	struct dkv_cmap *cm;

	pthread_mutex_lock(&c->lock);
	cm = c->cmap;
	cm->refs++;
	pthread_mutex_unlock(&c->lock);
	return cm;
}

static void cmap_free(struct dkv_cmap *cm)
{
	dkv_map_destroy(cm->map);
	free(cm);
}

void dkv_cmap_put(struct dkv_client *c, struct dkv_cmap *cm)
{
	int last;

	pthread_mutex_lock(&c->lock);
	last = --cm->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (last)
		cmap_free(cm);
}

/* Publishes m if it is of this cluster and newer (or the first). Takes m.
 * Returns 1 if installed, 0 if not (m destroyed), <0 on ENOMEM. */
static int map_install(struct dkv_client *c, struct dkv_map *m)
{
	struct dkv_cmap *cm, *old = NULL;
	int installed = 0;

	cm = calloc(1, sizeof(*cm));
	if (cm == NULL) {
		dkv_map_destroy(m);
		return DKV_ERR_NOMEM;
	}
	cm->map = m;
	cm->refs = 1; /* the handle's */
	pthread_mutex_lock(&c->lock);
	if (c->cmap == NULL) {
		c->cmap = cm;
		c->cluster_id = dkv_map_cluster_id(m);
		installed = 1;
	} else if (dkv_map_cluster_id(m) == c->cluster_id &&
		   dkv_map_version(m) > dkv_map_version(c->cmap->map)) {
		old = c->cmap;
		c->cmap = cm;
		installed = 1;
		if (--old->refs != 0)
			old = NULL; /* the last reader frees it */
	}
	pthread_mutex_unlock(&c->lock);
	if (!installed)
		cmap_free(cm);
	if (old)
		cmap_free(old);
	return installed;
}

/* DKV.MAP on conn: *out a checked map, or NULL when the node has none
 * (returns DKV_ERR_STATE). */
static int map_fetch(struct dkv_client *c, struct dkv_conn *conn,
		     uint64_t deadline_ms, struct dkv_map **out)
{
	static const char *const argv[1] = { "DKV.MAP" };
	const struct resp_reply *r;
	char err[256] = "";
	int rc = dkv_conn_call(conn, 1, argv, NULL, deadline_ms, &r, NULL);

	*out = NULL;
	if (rc != DKV_OK)
		return rc;
	if (r->type == RESP_NIL || r->type == RESP_NULL) {
		dkv_set_error("%s: the node has no cluster map (create the "
			      "cluster: dkv cluster create)",
			      dkv_conn_addr(conn));
		return DKV_ERR_STATE;
	}
	if (r->type == RESP_ERROR)
		return dkv_reply_error(r, dkv_conn_addr(conn));
	if (r->type != RESP_BULK) {
		dkv_set_error("%s: DKV.MAP: unexpected %s reply",
			      dkv_conn_addr(conn), resp_type_name(r->type));
		return DKV_ERR_PROTO;
	}
	rc = dkv_map_from_json(r->str, r->len, (const char *const *)c->allow,
			       out, err, sizeof(err));
	if (rc != DKV_OK)
		dkv_set_error("%s: cluster map: %s", dkv_conn_addr(conn), err);
	return rc;
}

/* --- pools ----------------------------------------------------------------- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* An idle connection to addr, or a new one. */
static int pool_get(struct dkv_client *c, const char *addr,
		    uint64_t deadline_ms, struct dkv_conn **out)
{
	struct dkv_conn *conn;

	for (;;) {
		struct dkv_pool *p;

		conn = NULL;
		pthread_mutex_lock(&c->lock);
		for (p = c->pools; p != NULL; p = p->next)
			if (strcmp(p->addr, addr) == 0)
				break;
		if (p != NULL && p->nidle > 0)
			conn = p->idle[--p->nidle];
		pthread_mutex_unlock(&c->lock);
		if (conn == NULL)
			break;
		if (dkv_conn_idle_ok(conn)) {
			*out = conn;
			return DKV_OK;
		}
		dkv_conn_close(conn); /* the node closed it meanwhile */
	}
	return dkv_conn_open(addr, c->password,
			     min_u64(deadline_ms,
				     dkv_now_ms() + c->connect_timeout_ms),
			     out);
}

/* Returns a healthy connection to its pool (or closes it). */
static void pool_put(struct dkv_client *c, struct dkv_conn *conn)
{
	const char *addr = dkv_conn_addr(conn);
	struct dkv_pool *p;

	pthread_mutex_lock(&c->lock);
	for (p = c->pools; p != NULL; p = p->next)
		if (strcmp(p->addr, addr) == 0)
			break;
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p != NULL) {
			p->idle = calloc(c->pool_size, sizeof(*p->idle));
			if (p->idle == NULL) {
				free(p);
				p = NULL;
			} else {
				snprintf(p->addr, sizeof(p->addr), "%s", addr);
				p->next = c->pools;
				c->pools = p;
			}
		}
	}
	if (p != NULL && p->nidle < c->pool_size) {
		p->idle[p->nidle++] = conn;
		conn = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	dkv_conn_close(conn);
}

/* --- refresh --------------------------------------------------------------- */

/* Fetches a map from addr and installs it if newer: 0 when the node gave
 * a map of this cluster. */
static int refresh_from(struct dkv_client *c, const char *addr,
			uint64_t deadline_ms)
{
	struct dkv_conn *conn;
	struct dkv_map *m;
	int rc = pool_get(c, addr, deadline_ms, &conn);

	if (rc != DKV_OK)
		return rc;
	rc = map_fetch(c, conn, deadline_ms, &m);
	if (rc == DKV_OK || rc == DKV_ERR_STATE)
		pool_put(c, conn);
	else
		dkv_conn_close(conn); /* rare: reconnecting costs nothing */
	if (rc != DKV_OK)
		return rc;
	if (dkv_map_cluster_id(m) != c->cluster_id) {
		dkv_set_error("%s belongs to another cluster", addr);
		dkv_map_destroy(m);
		return DKV_ERR_STATE;
	}
	rc = map_install(c, m);
	return rc < 0 ? rc : DKV_OK;
}

int dkv_client_refresh(struct dkv_client *c, const char *prefer,
		       uint64_t deadline_ms)
{
	struct dkv_cmap *cm;
	char (*addrs)[DKV_ADDR_MAX];
	size_t n = 0, cap;
	int rc = DKV_ERR_IO;

	if (prefer != NULL) {
		rc = refresh_from(c, prefer, deadline_ms);
		if (rc == DKV_OK || rc == DKV_ERR_TIMEOUT)
			return rc;
	}
	/* Copy the addresses: the map may change while we talk. */
	cm = dkv_cmap_get(c);
	cap = dkv_map_nnodes(cm->map) + c->nseeds;
	addrs = calloc(cap, sizeof(*addrs));
	if (addrs == NULL) {
		dkv_cmap_put(c, cm);
		return DKV_ERR_NOMEM;
	}
	/* UP nodes first, then the others, then the seeds. */
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < dkv_map_nnodes(cm->map); i++) {
			const struct dkv_map_node *nd =
				dkv_map_node_at(cm->map, i);
			int up = dkv_map_node_state(nd) == DKV_NODE_UP;

			if (up == (pass == 0))
				snprintf(addrs[n++], DKV_ADDR_MAX, "%s",
					 nd->addr);
		}
	dkv_cmap_put(c, cm);
	for (size_t i = 0; i < c->nseeds; i++)
		snprintf(addrs[n++], DKV_ADDR_MAX, "%s", c->seeds[i]);
	for (size_t i = 0; i < n; i++) {
		if (prefer != NULL && strcmp(addrs[i], prefer) == 0)
			continue;
		rc = refresh_from(c, addrs[i], deadline_ms);
		if (rc == DKV_OK || rc == DKV_ERR_TIMEOUT ||
		    rc == DKV_ERR_NOMEM)
			break;
	}
	free(addrs);
	return rc;
}

/* --- connect ------------------------------------------------------------ */

static int split_seeds(struct dkv_client *c, const char *seeds)
{
	const char *p = seeds;

	while (*p != '\0') {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		char host[DKV_ADDR_MAX], **v;
		uint16_t port;

		while (len > 0 && (*p == ' ' || *p == '\t'))
			p++, len--;
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > 0) {
			char *s = strndup(p, len);

			if (s == NULL)
				return DKV_ERR_NOMEM;
			if (len >= DKV_ADDR_MAX ||
			    dkv_addr_split(s, host, sizeof(host), &port) !=
				    DKV_OK) {
				dkv_set_error("bad seed address '%s': "
					      "expected host:port",
					      s);
				free(s);
				return DKV_ERR_INVAL;
			}
			v = realloc(c->seeds, (c->nseeds + 1) * sizeof(*v));
			if (v == NULL) {
				free(s);
				return DKV_ERR_NOMEM;
			}
			c->seeds = v;
			c->seeds[c->nseeds++] = s;
		}
		if (e == NULL)
			break;
		p = e + 1;
	}
	if (c->nseeds == 0) {
		dkv_set_error("no seed address given");
		return DKV_ERR_INVAL;
	}
	return DKV_OK;
}

static int copy_opts(struct dkv_client *c, const struct dkv_connect_opts *o)
{
	struct dkv_connect_opts z = { 0 };

	if (o == NULL)
		o = &z;
	c->connect_timeout_ms = o->connect_timeout_ms
					? o->connect_timeout_ms
					: DKV_DEF_CONNECT_TIMEOUT_MS;
	c->timeout_ms = o->timeout_ms ? o->timeout_ms : DKV_DEF_TIMEOUT_MS;
	c->pool_size = o->pool_size ? o->pool_size : DKV_DEF_POOL_SIZE;
	c->max_redirects = o->max_redirects ? o->max_redirects
					    : DKV_DEF_MAX_REDIRECTS;
	c->range_batch = o->range_batch ? o->range_batch
					: DKV_DEF_RANGE_BATCH;
	c->map_check_ms = o->map_check_ms ? o->map_check_ms
					  : DKV_DEF_MAP_CHECK_MS;
	if (c->range_batch > DKV_RANGE_BATCH_MAX)
		c->range_batch = DKV_RANGE_BATCH_MAX;
	if (o->password != NULL && *o->password != '\0') {
		c->password = strdup(o->password);
		if (c->password == NULL)
			return DKV_ERR_NOMEM;
	}
	if (o->custom_shard_allow != NULL) {
		size_t n = 0;

		while (o->custom_shard_allow[n] != NULL)
			n++;
		c->allow = calloc(n + 1, sizeof(*c->allow));
		if (c->allow == NULL)
			return DKV_ERR_NOMEM;
		for (size_t i = 0; i < n; i++) {
			c->allow[i] = strdup(o->custom_shard_allow[i]);
			if (c->allow[i] == NULL)
				return DKV_ERR_NOMEM;
		}
	}
	return DKV_OK;
}

int dkv_connect(const char *seeds, const struct dkv_connect_opts *opts,
		dkv_client_t **out)
{
	struct dkv_client *c;
	int rc, best = DKV_ERR_IO;
	char why[512] = "";

	dkv_clear_error();
	if (seeds == NULL || out == NULL) {
		dkv_set_error("dkv_connect: seeds and out are required");
		return DKV_ERR_INVAL;
	}
	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return DKV_ERR_NOMEM;
	pthread_mutex_init(&c->lock, NULL);
	rc = copy_opts(c, opts);
	if (rc == DKV_OK)
		rc = split_seeds(c, seeds);
	if (rc != DKV_OK) {
		dkv_disconnect(c);
		return rc;
	}
	/* The first seed that gives a map wins. Report the most telling
	 * failure otherwise: a refused password or a bad map over "no map",
	 * "no map" over "unreachable". */
	for (size_t i = 0; i < c->nseeds; i++) {
		struct dkv_conn *conn;
		struct dkv_map *m = NULL;
		uint64_t deadline = dkv_now_ms() + c->connect_timeout_ms;

		rc = dkv_conn_open(c->seeds[i], c->password, deadline, &conn);
		if (rc == DKV_OK) {
			rc = map_fetch(c, conn, deadline + c->timeout_ms, &m);
			dkv_conn_close(conn);
		}
		if (rc == DKV_OK) {
			rc = map_install(c, m);
			if (rc < 0) {
				dkv_disconnect(c);
				return rc;
			}
			dkv_clear_error();
			c->last_check_ms = dkv_now_ms();
			*out = c;
			return DKV_OK;
		}
		if (rc == DKV_ERR_NOMEM) {
			dkv_disconnect(c);
			return rc;
		}
		if (best == DKV_ERR_IO || best == DKV_ERR_TIMEOUT ||
		    (best == DKV_ERR_STATE && rc != DKV_ERR_IO &&
		     rc != DKV_ERR_TIMEOUT)) {
			best = rc == DKV_ERR_TIMEOUT ? DKV_ERR_IO : rc;
			snprintf(why, sizeof(why), "%s", dkv_last_error());
		}
	}
	dkv_disconnect(c);
	dkv_set_error("%s", why);
	return best;
}

void dkv_disconnect(dkv_client_t *c)
{
	if (c == NULL)
		return;
	while (c->pools != NULL) {
		struct dkv_pool *p = c->pools;

		c->pools = p->next;
		for (uint32_t i = 0; i < p->nidle; i++)
			dkv_conn_close(p->idle[i]);
		free(p->idle);
		free(p);
	}
	if (c->cmap != NULL)
		dkv_cmap_put(c, c->cmap);
	for (size_t i = 0; i < c->nseeds; i++)
		free(c->seeds[i]);
	free(c->seeds);
	for (size_t i = 0; c->allow && c->allow[i]; i++)
		free(c->allow[i]);
	free(c->allow);
	free(c->password);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* --- the request loop ------------------------------------------------------ */

/* Sleeps *delay (with jitter) unless that passes the deadline; doubles
 * *delay up to the cap. 0, or DKV_ERR_TIMEOUT when no time is left. */
static int backoff(uint32_t *delay, uint64_t deadline_ms)
{
	static __thread uint32_t seed;
	uint64_t now = dkv_now_ms();
	uint32_t ms;
	struct timespec ts;
	int expired = 0;

	if (now >= deadline_ms)
		return DKV_ERR_TIMEOUT;
	if (seed == 0)
		seed = (uint32_t)now ^ (uint32_t)(uintptr_t)&seed;
	seed = seed * 1103515245u + 12345u;
	ms = *delay / 2 + (seed >> 8) % (*delay / 2 + 1);
	if (now + ms >= deadline_ms) {
		/* No time for another attempt after this sleep. */
		ms = (uint32_t)(deadline_ms - now);
		expired = 1;
	}
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
	if (expired)
		return DKV_ERR_TIMEOUT;
	*delay = *delay * 2 > DKV_BACKOFF_MAX_MS ? DKV_BACKOFF_MAX_MS
						 : *delay * 2;
	return DKV_OK;
}

/* DKV_ROUTE_ANY: the try-th node of the map counting UP nodes first
 * (try wraps around), or DKV_ERR_NOT_FOUND for a map without nodes. */
static int route_any(const struct dkv_cmap *cm, uint32_t try,
		     const struct dkv_map_node **out)
{
	uint32_t n = dkv_map_nnodes(cm->map), k;

	if (n == 0)
		return DKV_ERR_NOT_FOUND;
	k = try % n;
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 0; i < n; i++) {
			const struct dkv_map_node *nd =
				dkv_map_node_at(cm->map, i);
			int up = dkv_map_node_state(nd) == DKV_NODE_UP;

			if (up != (pass == 0))
				continue;
			if (k == 0) {
				*out = nd;
				return DKV_OK;
			}
			k--;
		}
	return DKV_ERR_NOT_FOUND; /* cannot happen: k < n */
}

/* The owner's address of the request by map cm into addr (try: the
 * attempt, for DKV_ROUTE_ANY). */
static int route(const struct dkv_cmap *cm, const struct dkv_creq *rq,
		 uint32_t try, char *addr)
{
	const struct dkv_map_node *nd;
	const char *what = "request";
	int rc;

	if (rq->by == DKV_ROUTE_KEY) {
		what = "key";
		rc = dkv_map_key_node(cm->map, rq->key, rq->klen, NULL, &nd);
	} else if (rq->by == DKV_ROUTE_SHARD) {
		what = "shard";
		rc = dkv_map_shard_node(cm->map, rq->shard, &nd);
	} else {
		rc = route_any(cm, try, &nd);
	}
	if (rc != DKV_OK) {
		dkv_set_error("no owner for this %s in map version %llu", what,
			      (unsigned long long)dkv_map_version(cm->map));
		return rc;
	}
	snprintf(addr, DKV_ADDR_MAX, "%s", nd->addr);
	return DKV_OK;
}

/* "MOVED <shard> <addr> [<version>]": the address into addr, or
 * DKV_ERR_PROTO. */
static int parse_moved(const struct resp_reply *r, char *addr)
{
	const char *p = r->str + 6, *end = r->str + r->len, *sp, *sp2;

	if (r->len < 6)
		return DKV_ERR_PROTO;
	sp = memchr(p, ' ', (size_t)(end - p));
	if (sp != NULL) {
		sp2 = memchr(sp + 1, ' ', (size_t)(end - sp - 1));
		if (sp2 != NULL)
			end = sp2; /* the map version follows */
	}
	if (sp == NULL || (size_t)(end - sp - 1) >= DKV_ADDR_MAX ||
	    end - sp - 1 <= 0)
		return DKV_ERR_PROTO;
	memcpy(addr, sp + 1, (size_t)(end - sp - 1));
	addr[end - sp - 1] = '\0';
	return DKV_OK;
}

/* 1 if this call should check the node's map version (at most once per
 * map_check_ms for the whole handle). */
static int check_due(struct dkv_client *c)
{
	uint64_t now;
	int due = 0;

	if (c->map_check_ms == UINT32_MAX)
		return 0;
	now = dkv_now_ms();
	pthread_mutex_lock(&c->lock);
	if (now - c->last_check_ms >= c->map_check_ms) {
		c->last_check_ms = now;
		due = 1;
	}
	pthread_mutex_unlock(&c->lock);
	return due;
}

/* Asks conn's node for its map version (DKV.SHARDOF) and fetches its map
 * when it is newer than version. Returns 1 when the map changed, 0 when
 * not (or the node could not tell), a code when the connection broke. */
static int check_version(struct dkv_client *c, struct dkv_conn *conn,
			 const struct dkv_creq *rq, uint64_t version,
			 uint64_t deadline_ms)
{
	const char *argv[2] = { "DKV.SHARDOF", "-" };
	size_t argvlen[2] = { 11, 1 };
	const struct resp_reply *r;
	uint64_t theirs;
	struct dkv_cmap *cm;
	int rc;

	if (rq->by == DKV_ROUTE_KEY && rq->klen > 0) {
		argv[1] = rq->key;
		argvlen[1] = rq->klen;
	}
	rc = dkv_conn_call(conn, 2, argv, argvlen, deadline_ms, &r, NULL);
	if (rc != DKV_OK)
		return rc;
	if (r->type != RESP_ARRAY || r->n < 4 ||
	    r->elems[3].type != RESP_INTEGER || r->elems[3].integer < 0)
		return 0; /* e.g. CLUSTERDOWN: the request will tell */
	theirs = (uint64_t)r->elems[3].integer;
	if (theirs <= version)
		return 0;
	rc = refresh_from(c, dkv_conn_addr(conn), deadline_ms);
	if (rc != DKV_OK)
		return 0;
	cm = dkv_cmap_get(c);
	rc = dkv_map_version(cm->map) > version;
	dkv_cmap_put(c, cm);
	return rc;
}

int dkv_client_exec(struct dkv_client *c, const struct dkv_creq *rq)
{
	uint64_t deadline = dkv_now_ms() + c->timeout_ms;
	uint32_t delay = DKV_BACKOFF_FIRST_MS, redirects = 0;
	char addr[DKV_ADDR_MAX], override[DKV_ADDR_MAX] = "";
	char why[512] = "";
	int last = DKV_ERR_TIMEOUT;
	uint32_t tries = 0;

	for (;; tries++) {
		const struct resp_reply *r;
		struct dkv_conn *conn;
		struct dkv_cmap *cm;
		uint64_t version;
		int rc, sent = 0;

		cm = dkv_cmap_get(c);
		version = dkv_map_version(cm->map);
		rc = override[0] ? DKV_OK : route(cm, rq, tries, addr);
		dkv_cmap_put(c, cm);
		if (rc != DKV_OK)
			return rc;
		if (override[0]) {
			memcpy(addr, override, sizeof(addr));
			override[0] = '\0';
		}
		rc = pool_get(c, addr, deadline, &conn);
		if (rc == DKV_ERR_NOMEM || rc == DKV_ERR_AUTH ||
		    rc == DKV_ERR_INVAL)
			return rc;
		if (rc != DKV_OK) {
			/* Unreachable: the node may be down or gone from the
			 * map. Refresh, back off, retry. */
			last = DKV_ERR_IO;
			snprintf(why, sizeof(why), "%s", dkv_last_error());
			goto retry_refresh;
		}
		if (dkv_conn_routed(conn) != version) {
			/* Tell the node which map this client routes by, so
			 * that it redirects rather than forwards when the map
			 * is stale. A node that does not know the command
			 * forwards: fine. */
			char vbuf[24];
			const char *av[2] = { "DKV.ROUTED", vbuf };
			size_t al[2] = { 10, 0 };
			const struct resp_reply *vr;

			al[1] = (size_t)snprintf(vbuf, sizeof(vbuf), "%llu",
						 (unsigned long long)version);
			rc = dkv_conn_call(conn, 2, av, al, deadline, &vr,
					   NULL);
			if (rc != DKV_OK) {
				dkv_conn_close(conn);
				if (rc == DKV_ERR_TIMEOUT || rc == DKV_ERR_NOMEM)
					return rc;
				last = DKV_ERR_IO;
				snprintf(why, sizeof(why), "%s",
					 dkv_last_error());
				goto retry_refresh;
			}
			dkv_conn_set_routed(conn, version);
		}
		if (check_due(c)) {
			rc = check_version(c, conn, rq, version, deadline);
			if (rc == 1) {
				/* A newer map: route again by it. */
				pool_put(c, conn);
				override[0] = '\0';
				continue;
			}
			if (rc < 0) {
				dkv_conn_close(conn);
				if (rc == DKV_ERR_TIMEOUT || rc == DKV_ERR_NOMEM)
					return rc;
				last = DKV_ERR_IO;
				snprintf(why, sizeof(why), "%s",
					 dkv_last_error());
				goto retry_refresh;
			}
		}
		rc = dkv_conn_call(conn, rq->argc, rq->argv, rq->argvlen,
				   deadline, &r, &sent);
		if (rc != DKV_OK) {
			dkv_conn_close(conn);
			/* A time-out, a reply the codec refuses (it would be
			 * refused again) or memory: final. A write that may
			 * have reached the node: its outcome is unknown. */
			if (rc == DKV_ERR_TIMEOUT || rc == DKV_ERR_NOMEM ||
			    rc == DKV_ERR_PROTO || rc == DKV_ERR_TOO_BIG)
				return rc;
			if (sent && rq->write)
				return DKV_ERR_IO;
			last = DKV_ERR_IO;
			snprintf(why, sizeof(why), "%s", dkv_last_error());
			goto retry_refresh;
		}
		if (r->type != RESP_ERROR) {
			rc = rq->on_reply(rq->arg, r);
			pool_put(c, conn);
			if (rc >= 0)
				dkv_clear_error();
			return rc;
		}
		if (starts(r, "MOVED ")) {
			char to[DKV_ADDR_MAX];

			rc = parse_moved(r, to);
			if (rc != DKV_OK) {
				dkv_reply_error(r, addr);
				pool_put(c, conn);
				return DKV_ERR_PROTO;
			}
			pool_put(c, conn);
			if (++redirects > c->max_redirects) {
				dkv_set_error("%s: too many redirects (last: "
					      "to %s)",
					      addr, to);
				return DKV_ERR_REDIRECT;
			}
			/* The redirecting node knows the newer map. */
			rc = dkv_client_refresh(c, addr, deadline);
			if (rc == DKV_ERR_TIMEOUT)
				return rc;
			cm = dkv_cmap_get(c);
			if (dkv_map_version(cm->map) <= version)
				memcpy(override, to, sizeof(override));
			dkv_cmap_put(c, cm);
			if (redirects > 1 && backoff(&delay, deadline) != 0) {
				dkv_set_error("timed out following redirects "
					      "(last: %s to %s)",
					      addr, to);
				return DKV_ERR_TIMEOUT;
			}
			continue;
		}
		if (starts(r, "TRYAGAIN") || starts(r, "CLUSTERDOWN") ||
		    starts(r, "LOADING")) {
			int tryagain = starts(r, "TRYAGAIN");

			last = dkv_reply_error(r, addr);
			snprintf(why, sizeof(why), "%s", dkv_last_error());
			/* r dies with the connection: nothing reads it after
			 * this point. */
			if (starts(r, "LOADING"))
				dkv_conn_close(conn); /* shutting down */
			else
				pool_put(c, conn);
			if (tryagain && rq->tryagain_final)
				return DKV_ERR_BUSY; /* last error set */
			if (tryagain)
				goto retry;
			goto retry_refresh;
		}
		rc = dkv_reply_error(r, addr);
		pool_put(c, conn);
		return rc;
retry_refresh:
		(void)dkv_client_refresh(c, NULL, deadline);
retry:
		if (backoff(&delay, deadline) != 0) {
			dkv_set_error("timed out after %u ms; last error: %s",
				      c->timeout_ms, why);
			return last == DKV_ERR_IO ? DKV_ERR_IO
						  : DKV_ERR_TIMEOUT;
		}
	}
}
