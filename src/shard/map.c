/* map.c - the versioned cluster map (map.h, docs/shard.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "shard/map.h"
#include "shard/shard_int.h"

const struct dkv_sm_conf dkv_node_states[DKV_NODE_NSTATES] = {
	[DKV_NODE_UP] = {"up", 0,
			 DKV_SM_BIT(DKV_NODE_DOWN) |
				 DKV_SM_BIT(DKV_NODE_LEAVING)},
	[DKV_NODE_DOWN] = {"down", 0,
			   DKV_SM_BIT(DKV_NODE_UP) |
				   DKV_SM_BIT(DKV_NODE_JOINING) |
				   DKV_SM_BIT(DKV_NODE_LEAVING)},
	[DKV_NODE_JOINING] = {"joining", 0,
			      DKV_SM_BIT(DKV_NODE_UP) |
				      DKV_SM_BIT(DKV_NODE_DOWN) |
				      DKV_SM_BIT(DKV_NODE_LEAVING)},
	[DKV_NODE_LEAVING] = {"leaving", 0,
			      DKV_SM_BIT(DKV_NODE_UP) |
				      DKV_SM_BIT(DKV_NODE_DOWN)},
};

struct dkv_map {
	uint64_t version;
	uint64_t cluster_id;
	char name[DKV_MAP_NAME_MAX + 1];
	struct dkv_family *fam;
	uint32_t nshards;
	uint32_t nnodes;
	struct dkv_map_node *nodes; /* nnodes, ascending id */
	uint16_t *owner;            /* nshards: index into nodes */
};

/* --- names and checks ------------------------------------------------------- */

const char *dkv_node_state_name(enum dkv_node_state st)
{
	if ((unsigned)st >= DKV_NODE_NSTATES)
		return NULL;
	return dkv_node_states[st].name;
}

int dkv_node_state_parse(const char *name, enum dkv_node_state *out)
{
	unsigned s;

	if (name == NULL)
		return DKV_ERR_INVAL;
	for (s = 0; s < DKV_NODE_NSTATES; s++)
		if (strcmp(name, dkv_node_states[s].name) == 0) {
			*out = (enum dkv_node_state)s;
			return 0;
		}
	return DKV_ERR_INVAL;
}

static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9');
}

static int is_hex(char c)
{
	return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	       (c >= '0' && c <= '9');
}

int dkv_map_addr_check(const char *addr)
{
	size_t len, i, hl;
	const char *port;
	unsigned long p = 0;

	if (addr == NULL)
		return DKV_ERR_INVAL;
	len = strnlen(addr, DKV_MAP_ADDR_MAX + 1);
	if (len < 3 || len > DKV_MAP_ADDR_MAX)
		return DKV_ERR_INVAL;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		int colons = 0;

		if (close == NULL || close[1] != ':' || close == addr + 1)
			return DKV_ERR_INVAL;
		for (i = 1; addr + i < close; i++) {
			if (addr[i] == ':')
				colons++;
			else if (!is_hex(addr[i]) && addr[i] != '.')
				return DKV_ERR_INVAL;
		}
		if (colons < 2)
			return DKV_ERR_INVAL;
		port = close + 2;
	} else {
		port = strrchr(addr, ':');
		if (port == NULL)
			return DKV_ERR_INVAL;
		hl = (size_t)(port - addr);
		if (hl == 0)
			return DKV_ERR_INVAL;
		for (i = 0; i < hl; i++)
			if (!is_alnum(addr[i]) && addr[i] != '.' &&
			    addr[i] != '-' && addr[i] != '_')
				return DKV_ERR_INVAL;
		port++;
	}
	if (port[0] == '\0' || port[0] == '0' || strlen(port) > 5)
		return DKV_ERR_INVAL;
	for (i = 0; port[i] != '\0'; i++) {
		if (port[i] < '0' || port[i] > '9')
			return DKV_ERR_INVAL;
		p = p * 10 + (unsigned long)(port[i] - '0');
	}
	return p >= 1 && p <= 65535 ? 0 : DKV_ERR_INVAL;
}

static int name_check(const char *name)
{
	size_t len, i;

	if (name == NULL)
		return DKV_ERR_INVAL;
	len = strnlen(name, DKV_MAP_NAME_MAX + 1);
	if (len == 0 || len > DKV_MAP_NAME_MAX)
		return DKV_ERR_INVAL;
	for (i = 0; i < len; i++)
		if (!is_alnum(name[i]) && name[i] != '.' && name[i] != '-' &&
		    name[i] != '_')
			return DKV_ERR_INVAL;
	return 0;
}

/* --- node table ------------------------------------------------------------ */

/* Index of the node with this id, or -1. */
static int64_t node_index(const struct dkv_map *m, uint32_t id)
{
	uint32_t lo = 0, hi = m->nnodes;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (m->nodes[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < m->nnodes && m->nodes[lo].id == id ? (int64_t)lo : -1;
}

static int addr_taken(const struct dkv_map *m, const char *addr,
		      uint32_t except_id)
{
	uint32_t i;

	for (i = 0; i < m->nnodes; i++)
		if (m->nodes[i].id != except_id &&
		    strcmp(m->nodes[i].addr, addr) == 0)
			return 1;
	return 0;
}

static void node_init(struct dkv_map_node *n, uint32_t id, const char *addr,
		      enum dkv_node_state st)
{
	memset(n, 0, sizeof(*n));
	n->id = id;
	strcpy(n->addr, addr); /* checked: <= DKV_MAP_ADDR_MAX */
	dkv_sm_init(&n->sm, "node", dkv_node_states, DKV_NODE_NSTATES,
		    (unsigned)st);
}

static int node_cmp(const void *a, const void *b)
{
	const struct dkv_map_node *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

static int node_addr_cmp(const void *a, const void *b)
{
	const struct dkv_map_node *const *x = a, *const *y = b;

	return strcmp((*x)->addr, (*y)->addr);
}

/* Sorts m->nodes by id; checks ids and addresses are unique. 0; or 1 for
 * a duplicate id, 2 for a duplicate address, with the offending node in
 * *bad; or DKV_ERR_NOMEM. */
static int nodes_sort_check(struct dkv_map *m, const struct dkv_map_node **bad)
{
	const struct dkv_map_node **byaddr;
	uint32_t i;
	int rc = 0;

	qsort(m->nodes, m->nnodes, sizeof(*m->nodes), node_cmp);
	for (i = 1; i < m->nnodes; i++)
		if (m->nodes[i].id == m->nodes[i - 1].id) {
			*bad = &m->nodes[i];
			return 1;
		}
	byaddr = malloc(m->nnodes * sizeof(*byaddr));
	if (byaddr == NULL)
		return DKV_ERR_NOMEM;
	for (i = 0; i < m->nnodes; i++)
		byaddr[i] = &m->nodes[i];
	qsort(byaddr, m->nnodes, sizeof(*byaddr), node_addr_cmp);
	for (i = 1; i < m->nnodes; i++)
		if (strcmp(byaddr[i]->addr, byaddr[i - 1]->addr) == 0) {
			*bad = byaddr[i];
			rc = 2;
			break;
		}
	free(byaddr);
	return rc;
}

/* --- life cycle --------------------------------------------------------------- */

void dkv_map_destroy(struct dkv_map *m)
{
	if (m == NULL)
		return;
	dkv_family_destroy(m->fam);
	free(m->nodes);
	free(m->owner);
	free(m);
}

int dkv_map_create(const struct dkv_map_conf *conf, struct dkv_map **out,
		   char *err, size_t errlen)
{
	const struct dkv_map_node *bad = NULL;
	struct dkv_map *m;
	uint32_t i;
	int rc;

	if (conf == NULL || out == NULL)
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen, "no map conf");
	if (name_check(conf->name) != 0)
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				     "cluster name: 1..%u bytes of "
				     "[A-Za-z0-9._-]",
				     DKV_MAP_NAME_MAX);
	if (conf->cluster_id == 0)
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				     "cluster id must not be 0");
	if (conf->nnodes == 0 || conf->nnodes > DKV_MAP_NODES_MAX ||
	    conf->nodes == NULL)
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				     "%u nodes is outside [1, %u]",
				     conf->nnodes, DKV_MAP_NODES_MAX);
	for (i = 0; i < conf->nnodes; i++) {
		if (conf->nodes[i].id == DKV_NODE_NONE)
			return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
					     "node id %u is reserved",
					     DKV_NODE_NONE);
		if (dkv_map_addr_check(conf->nodes[i].addr) != 0)
			return dkv_shard_err(DKV_ERR_INVAL, err, errlen,
					     "node %u: bad address \"%.*s\" "
					     "(expected host:port)",
					     conf->nodes[i].id, 100,
					     conf->nodes[i].addr != NULL
						     ? conf->nodes[i].addr
						     : "");
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return DKV_ERR_NOMEM;
	rc = dkv_family_create(&conf->family, &m->fam, err, errlen);
	if (rc != 0)
		goto fail;
	m->version = 1;
	m->cluster_id = conf->cluster_id;
	strcpy(m->name, conf->name);
	m->nshards = dkv_family_nshards(m->fam);
	m->nnodes = conf->nnodes;
	m->nodes = malloc(m->nnodes * sizeof(*m->nodes));
	m->owner = malloc(m->nshards * sizeof(*m->owner));
	if (m->nodes == NULL || m->owner == NULL) {
		rc = DKV_ERR_NOMEM;
		goto fail;
	}
	for (i = 0; i < m->nnodes; i++)
		node_init(&m->nodes[i], conf->nodes[i].id, conf->nodes[i].addr,
			  DKV_NODE_UP);
	rc = nodes_sort_check(m, &bad);
	if (rc > 0 && bad != NULL) {
		rc = dkv_shard_err(DKV_ERR_INVAL, err, errlen,
				   rc == 1 ? "node id %u appears twice"
					    : "node %u: address taken by "
					      "another node",
				   bad->id);
		goto fail;
	}
	if (rc != 0)
		goto fail;
	for (i = 0; i < m->nshards; i++)
		m->owner[i] = (uint16_t)(i % m->nnodes);
	*out = m;
	return 0;
fail:
	dkv_map_destroy(m);
	return rc;
}

int dkv_map_clone(const struct dkv_map *m, struct dkv_map **out)
{
	struct dkv_map *c;
	int rc;

	if (m == NULL || out == NULL)
		return DKV_ERR_INVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return DKV_ERR_NOMEM;
	*c = *m;
	c->fam = NULL;
	c->nodes = malloc(m->nnodes * sizeof(*c->nodes));
	c->owner = malloc(m->nshards * sizeof(*c->owner));
	if (c->nodes == NULL || c->owner == NULL) {
		rc = DKV_ERR_NOMEM;
		goto fail;
	}
	memcpy(c->nodes, m->nodes, m->nnodes * sizeof(*c->nodes));
	memcpy(c->owner, m->owner, m->nshards * sizeof(*c->owner));
	rc = dkv_family_clone(m->fam, &c->fam);
	if (rc != 0)
		goto fail;
	*out = c;
	return 0;
fail:
	dkv_map_destroy(c);
	return rc;
}

int dkv_map_equal(const struct dkv_map *a, const struct dkv_map *b)
{
	uint32_t i;

	if (a == NULL || b == NULL)
		return a == b;
	if (a->version != b->version || a->cluster_id != b->cluster_id ||
	    strcmp(a->name, b->name) != 0 || a->nshards != b->nshards ||
	    a->nnodes != b->nnodes || !dkv_family_equal(a->fam, b->fam))
		return 0;
	for (i = 0; i < a->nnodes; i++)
		if (a->nodes[i].id != b->nodes[i].id ||
		    strcmp(a->nodes[i].addr, b->nodes[i].addr) != 0 ||
		    dkv_map_node_state(&a->nodes[i]) !=
			    dkv_map_node_state(&b->nodes[i]))
			return 0;
	return memcmp(a->owner, b->owner, a->nshards * sizeof(*a->owner)) == 0;
}

/* --- reading ------------------------------------------------------------------ */

uint64_t dkv_map_version(const struct dkv_map *m)
{
	return m->version;
}

uint64_t dkv_map_cluster_id(const struct dkv_map *m)
{
	return m->cluster_id;
}

const char *dkv_map_name(const struct dkv_map *m)
{
	return m->name;
}

const struct dkv_family *dkv_map_family(const struct dkv_map *m)
{
	return m->fam;
}

uint32_t dkv_map_nshards(const struct dkv_map *m)
{
	return m->nshards;
}

uint32_t dkv_map_nnodes(const struct dkv_map *m)
{
	return m->nnodes;
}

const struct dkv_map_node *dkv_map_node_at(const struct dkv_map *m,
					   uint32_t i)
{
	return i < m->nnodes ? &m->nodes[i] : NULL;
}

const struct dkv_map_node *dkv_map_node_find(const struct dkv_map *m,
					     uint32_t id)
{
	int64_t i = node_index(m, id);

	return i < 0 ? NULL : &m->nodes[i];
}

uint32_t dkv_map_node_nshards(const struct dkv_map *m, uint32_t id)
{
	int64_t i = node_index(m, id);
	uint32_t s, n = 0;

	if (i < 0)
		return 0;
	for (s = 0; s < m->nshards; s++)
		n += m->owner[s] == (uint16_t)i;
	return n;
}

/* --- lookups ------------------------------------------------------------------ */

int dkv_map_key_shard(const struct dkv_map *m, const void *key, size_t klen,
		      uint32_t *shard)
{
	return dkv_family_key_shard(m->fam, key, klen, shard);
}

int dkv_map_shard_node(const struct dkv_map *m, uint32_t shard,
		       const struct dkv_map_node **node)
{
	if (shard >= m->nshards)
		return DKV_ERR_NO_SHARD;
	*node = &m->nodes[m->owner[shard]];
	return 0;
}

int dkv_map_key_node(const struct dkv_map *m, const void *key, size_t klen,
		     uint32_t *shard, const struct dkv_map_node **node)
{
	uint32_t s;
	int rc = dkv_family_key_shard(m->fam, key, klen, &s);

	if (rc != 0)
		return rc;
	if (shard != NULL)
		*shard = s;
	*node = &m->nodes[m->owner[s]];
	return 0;
}

int dkv_map_range_shard(const struct dkv_map *m, const void *start,
			size_t slen, const void *end, size_t elen,
			uint32_t *first, uint32_t *last)
{
	return dkv_family_range_shard(m->fam, start, slen, end, elen, first,
				      last);
}

int dkv_map_route(const struct dkv_map *m, uint32_t self, uint64_t version,
		  const void *key, size_t klen, struct dkv_redirect *r)
{
	int rc;

	r->version = m->version;
	r->shard = DKV_SHARD_NONE;
	r->owner = NULL;
	rc = dkv_map_key_node(m, key, klen, &r->shard, &r->owner);
	if (rc != 0)
		return rc;
	if (version > m->version)
		return DKV_ERR_BUSY;
	if ((version != 0 && version < m->version) || r->owner->id != self)
		return DKV_ERR_REDIRECT;
	return 0;
}

/* --- changes ------------------------------------------------------------------- */

static int can_bump(const struct dkv_map *m)
{
	return m->version < DKV_MAP_VERSION_MAX ? 0 : DKV_ERR_OVERFLOW;
}

int dkv_map_add_node(struct dkv_map *m, uint32_t id, const char *addr)
{
	struct dkv_map_node *nodes;
	uint32_t pos, s;
	int rc;

	if (id == DKV_NODE_NONE || dkv_map_addr_check(addr) != 0)
		return DKV_ERR_INVAL;
	if (node_index(m, id) >= 0 || addr_taken(m, addr, DKV_NODE_NONE))
		return DKV_ERR_EXISTS;
	if (m->nnodes >= DKV_MAP_NODES_MAX)
		return DKV_ERR_TOO_BIG;
	rc = can_bump(m);
	if (rc != 0)
		return rc;
	nodes = realloc(m->nodes, (m->nnodes + 1) * sizeof(*nodes));
	if (nodes == NULL)
		return DKV_ERR_NOMEM;
	m->nodes = nodes;
	for (pos = 0; pos < m->nnodes && nodes[pos].id < id; pos++)
		;
	memmove(&nodes[pos + 1], &nodes[pos],
		(m->nnodes - pos) * sizeof(*nodes));
	node_init(&nodes[pos], id, addr, DKV_NODE_JOINING);
	m->nnodes++;
	for (s = 0; s < m->nshards; s++)
		if (m->owner[s] >= pos)
			m->owner[s]++;
	m->version++;
	return 0;
}

int dkv_map_remove_node(struct dkv_map *m, uint32_t id)
{
	int64_t i = node_index(m, id);
	uint32_t pos, s;
	int rc;

	if (i < 0)
		return DKV_ERR_NOT_FOUND;
	pos = (uint32_t)i;
	if (dkv_map_node_state(&m->nodes[pos]) == DKV_NODE_UP)
		return DKV_ERR_STATE;
	for (s = 0; s < m->nshards; s++)
		if (m->owner[s] == pos)
			return DKV_ERR_BUSY;
	rc = can_bump(m);
	if (rc != 0)
		return rc;
	/* Owning no shard, it is not the last node (nshards >= 1). */
	memmove(&m->nodes[pos], &m->nodes[pos + 1],
		(m->nnodes - pos - 1) * sizeof(*m->nodes));
	m->nnodes--;
	for (s = 0; s < m->nshards; s++)
		if (m->owner[s] > pos)
			m->owner[s]--;
	m->version++;
	return 0;
}

int dkv_map_set_node_state(struct dkv_map *m, uint32_t id,
			   enum dkv_node_state st)
{
	int64_t i = node_index(m, id);
	struct dkv_map_node *n;
	int rc;

	if ((unsigned)st >= DKV_NODE_NSTATES)
		return DKV_ERR_INVAL;
	if (i < 0)
		return DKV_ERR_NOT_FOUND;
	n = &m->nodes[i];
	if (dkv_map_node_state(n) == st)
		return 0;
	if (!dkv_sm_can_move(&n->sm, (unsigned)st))
		return DKV_ERR_STATE;
	rc = can_bump(m);
	if (rc != 0)
		return rc;
	dkv_sm_move(&n->sm, (unsigned)st);
	m->version++;
	return 0;
}

int dkv_map_set_node_addr(struct dkv_map *m, uint32_t id, const char *addr)
{
	int64_t i = node_index(m, id);
	int rc;

	if (dkv_map_addr_check(addr) != 0)
		return DKV_ERR_INVAL;
	if (i < 0)
		return DKV_ERR_NOT_FOUND;
	if (strcmp(m->nodes[i].addr, addr) == 0)
		return 0;
	if (addr_taken(m, addr, id))
		return DKV_ERR_EXISTS;
	rc = can_bump(m);
	if (rc != 0)
		return rc;
	strcpy(m->nodes[i].addr, addr);
	m->version++;
	return 0;
}

int dkv_map_move_shard(struct dkv_map *m, uint32_t shard, uint32_t node)
{
	int64_t i = node_index(m, node);
	enum dkv_node_state st;
	int rc;

	if (shard >= m->nshards)
		return DKV_ERR_NO_SHARD;
	if (i < 0)
		return DKV_ERR_NOT_FOUND;
	if (m->owner[shard] == (uint16_t)i)
		return 0;
	st = dkv_map_node_state(&m->nodes[i]);
	if (st != DKV_NODE_UP && st != DKV_NODE_JOINING)
		return DKV_ERR_STATE;
	rc = can_bump(m);
	if (rc != 0)
		return rc;
	m->owner[shard] = (uint16_t)i;
	m->version++;
	return 0;
}

int dkv_map_set_slots(struct dkv_map *m, uint32_t first, uint32_t last,
		      uint32_t shard)
{
	struct dkv_family *f = m->fam;
	uint32_t s;
	int rc;

	if (dkv_family_kind(f) != DKV_FAMILY_SLOTS)
		return DKV_ERR_UNSUPPORTED;
	if (first > last || last >= DKV_SLOTS)
		return DKV_ERR_INVAL;
	if (shard >= m->nshards)
		return DKV_ERR_NO_SHARD;
	for (s = first; s <= last; s++)
		if (dkv_family_slot_shard(f, s) != shard)
			break;
	if (s > last)
		return 0;
	rc = can_bump(m);
	if (rc != 0)
		return rc;
	rc = dkv_family_set_slots(f, first, last, shard);
	if (rc < 0)
		return rc;
	m->version++;
	return 0;
}

/* --- planning --------------------------------------------------------------------- */

struct plan_node {
	uint32_t idx;   /* into m->nodes */
	uint32_t count; /* shards owned now */
	uint32_t quota; /* shards to own */
};

static int plan_by_count(const void *a, const void *b)
{
	const struct plan_node *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int plan_by_idx(const void *a, const void *b)
{
	const struct plan_node *x = a, *y = b;

	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int dkv_map_plan(const struct dkv_map *m, struct dkv_map_move *moves,
		 size_t cap)
{
	struct plan_node *el;
	int32_t *slot;      /* node index -> position in el, or -1 */
	uint32_t *excess;   /* per el: shards still to give away */
	uint8_t *go;        /* per shard: must move */
	uint32_t k = 0, pool = 0, i, s, e;
	size_t nmoves = 0;
	int rc = 0;

	el = calloc(m->nnodes, sizeof(*el));
	slot = malloc(m->nnodes * sizeof(*slot));
	excess = calloc(m->nnodes, sizeof(*excess));
	go = calloc(m->nshards, 1);
	if (el == NULL || slot == NULL || excess == NULL || go == NULL) {
		rc = DKV_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < m->nnodes; i++) {
		enum dkv_node_state st = dkv_map_node_state(&m->nodes[i]);

		slot[i] = -1;
		if (st == DKV_NODE_UP || st == DKV_NODE_JOINING) {
			el[k].idx = i;
			slot[i] = (int32_t)k++;
		}
	}
	for (s = 0; s < m->nshards; s++) {
		uint32_t o = m->owner[s];
		enum dkv_node_state st = dkv_map_node_state(&m->nodes[o]);

		if (st == DKV_NODE_LEAVING) {
			go[s] = 1;
			pool++;
		} else if (slot[o] >= 0) {
			el[slot[o]].count++;
			pool++;
		}
	}
	if (k == 0) {
		for (s = 0; s < m->nshards; s++)
			if (go[s]) {
				rc = DKV_ERR_STATE;
				goto out;
			}
		goto out; /* nothing can or must move */
	}
	/* Quotas: pool / k each, one more for the pool % k nodes that own
	 * the most now (fewest moves); ties to the lower id. */
	qsort(el, k, sizeof(*el), plan_by_count);
	for (i = 0; i < k; i++)
		el[i].quota = pool / k + (i < pool % k);
	qsort(el, k, sizeof(*el), plan_by_idx);
	for (i = 0; i < k; i++) {
		slot[el[i].idx] = (int32_t)i;
		excess[i] = el[i].count > el[i].quota
				    ? el[i].count - el[i].quota
				    : 0;
	}
	/* Over-quota nodes give away their highest shards. */
	for (s = m->nshards; s-- > 0;) {
		int32_t p = slot[m->owner[s]];

		if (!go[s] && p >= 0 && excess[p] > 0) {
			excess[p]--;
			go[s] = 1;
		}
	}
	/* Moving shards, ascending, fill the deficits in id order. */
	e = 0;
	for (s = 0; s < m->nshards; s++) {
		if (!go[s])
			continue;
		while (e < k && el[e].count >= el[e].quota)
			e++;
		if (e == k) {
			rc = DKV_ERR_INTERNAL; /* quotas sum to the pool */
			goto out;
		}
		el[e].count++;
		if (nmoves < cap) {
			moves[nmoves].shard = s;
			moves[nmoves].from = m->nodes[m->owner[s]].id;
			moves[nmoves].to = m->nodes[el[e].idx].id;
		}
		nmoves++;
	}
	rc = (int)nmoves;
out:
	free(el);
	free(slot);
	free(excess);
	free(go);
	return rc;
}

/* --- JSON ---------------------------------------------------------------------- */

int dkv_map_to_json(const struct dkv_map *m, unsigned flags, char **out,
		    size_t *len)
{
	json_t *root, *nodes, *shards, *fam;
	char cid[17];
	uint32_t i;
	char *s;
	int rc = 0;

	if (m == NULL || out == NULL)
		return DKV_ERR_INVAL;
	dkv_hex_u64_format(m->cluster_id, cid);
	nodes = json_array();
	shards = json_array();
	fam = dkv_family_to_json(m->fam);
	for (i = 0; nodes != NULL && i < m->nnodes && rc == 0; i++) {
		const struct dkv_map_node *n = &m->nodes[i];

		rc = json_array_append_new(
			nodes, json_pack("{sIssss}", "id", (json_int_t)n->id,
					 "addr", n->addr, "state",
					 dkv_node_state_name(
						 dkv_map_node_state(n))));
	}
	for (i = 0; shards != NULL && i < m->nshards && rc == 0; i++)
		rc = json_array_append_new(
			shards,
			json_integer((json_int_t)m->nodes[m->owner[i]].id));
	if (nodes == NULL || shards == NULL || fam == NULL || rc != 0) {
		json_decref(nodes);
		json_decref(shards);
		json_decref(fam);
		return DKV_ERR_NOMEM;
	}
	/* "o" steals the references, also on failure. */
	root = json_pack("{sisssssIsososo}", "format", DKV_MAP_FORMAT, "cluster",
			 m->name, "cluster_id", cid, "version",
			 (json_int_t)m->version, "family", fam, "nodes", nodes,
			 "shards", shards);
	if (root == NULL)
		return DKV_ERR_NOMEM;
	s = json_dumps(root, (flags & DKV_MAP_JSON_PRETTY) ? JSON_INDENT(2)
							    : JSON_COMPACT);
	json_decref(root);
	if (s == NULL)
		return DKV_ERR_NOMEM;
	*out = s;
	if (len != NULL)
		*len = strlen(s);
	return 0;
}

static int nodes_from_json(struct dkv_map *m, json_t *arr, char *err,
			   size_t errlen)
{
	static const char *const fields[] = {"id", "addr", "state", NULL};
	const struct dkv_map_node *bad = NULL;
	size_t n = json_array_size(arr), i;
	char what[32];
	int rc;

	if (n == 0)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "map.nodes: no node");
	m->nodes = malloc(n * sizeof(*m->nodes));
	if (m->nodes == NULL)
		return DKV_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		json_t *o = json_array_get(arr, i);
		const char *addr, *sname;
		enum dkv_node_state st;
		int64_t id;

		snprintf(what, sizeof(what), "map.nodes[%zu]", i);
		rc = dkv_sj_object(o, fields, what, err, errlen);
		rc = rc ?: dkv_sj_int(o, "id", 0, 0, (int64_t)DKV_NODE_NONE - 1,
				      &id, what, err, errlen);
		rc = rc ?: dkv_sj_str(o, "addr", 0, DKV_MAP_ADDR_MAX, &addr,
				      NULL, what, err, errlen);
		rc = rc ?: dkv_sj_str(o, "state", 0, 16, &sname, NULL, what,
				      err, errlen);
		if (rc != 0)
			return rc;
		if (dkv_map_addr_check(addr) != 0)
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "%s.addr: \"%.100s\" is not "
					     "host:port",
					     what, addr);
		if (dkv_node_state_parse(sname, &st) != 0)
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "%s.state: unknown state \"%s\"",
					     what, sname);
		node_init(&m->nodes[i], (uint32_t)id, addr, st);
		m->nnodes++;
	}
	rc = nodes_sort_check(m, &bad);
	if (rc > 0 && bad != NULL)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     rc == 1 ? "map.nodes: node id %u appears "
						"twice"
					      : "map.nodes: node %u has the "
						"address of another node",
				     bad->id);
	return rc;
}

static int shards_from_json(struct dkv_map *m, json_t *arr, char *err,
			    size_t errlen)
{
	size_t i;

	if (json_array_size(arr) != m->nshards)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "map.shards: %zu owners for %u shards",
				     json_array_size(arr), m->nshards);
	m->owner = malloc(m->nshards * sizeof(*m->owner));
	if (m->owner == NULL)
		return DKV_ERR_NOMEM;
	for (i = 0; i < m->nshards; i++) {
		json_t *v = json_array_get(arr, i);
		json_int_t id;
		int64_t idx;

		if (!json_is_integer(v))
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "map.shards[%zu]: expected a node "
					     "id",
					     i);
		id = json_integer_value(v);
		idx = id < 0 || id >= (json_int_t)DKV_NODE_NONE
			      ? -1
			      : node_index(m, (uint32_t)id);
		if (idx < 0)
			return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
					     "map.shards[%zu]: owner %lld is "
					     "not a node of the map",
					     i, (long long)id);
		m->owner[i] = (uint16_t)idx;
	}
	return 0;
}

int dkv_map_from_json(const char *buf, size_t len,
		      const char *const *custom_allow, struct dkv_map **out,
		      char *err, size_t errlen)
{
	static const char *const fields[] = {"format",  "cluster", "cluster_id",
					     "version", "family",  "nodes",
					     "shards",  NULL};
	json_error_t jerr;
	json_t *root, *arr;
	struct dkv_map *m = NULL;
	const char *name, *cid;
	size_t cidlen;
	int64_t v;
	int rc;

	if ((buf == NULL && len != 0) || out == NULL)
		return dkv_shard_err(DKV_ERR_INVAL, err, errlen, "no buffer");
	if (len > DKV_MAP_JSON_MAX)
		return dkv_shard_err(DKV_ERR_TOO_BIG, err, errlen,
				     "map: %zu bytes, at most %u", len,
				     DKV_MAP_JSON_MAX);
	root = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES,
			  &jerr);
	if (root == NULL)
		return dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				     "map: bad JSON at line %d column %d: %s",
				     jerr.line, jerr.column, jerr.text);
	rc = dkv_sj_object(root, fields, "map", err, errlen);
	rc = rc ?: dkv_sj_int(root, "format", 0, 0, INT32_MAX, &v, "map", err,
			      errlen);
	if (rc == 0 && v != DKV_MAP_FORMAT)
		rc = dkv_shard_err(DKV_ERR_UNSUPPORTED, err, errlen,
				   "map: format %lld, this build reads "
				   "format %d",
				   (long long)v, DKV_MAP_FORMAT);
	if (rc != 0)
		goto out;
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		rc = DKV_ERR_NOMEM;
		goto out;
	}
	rc = dkv_sj_str(root, "cluster", 0, DKV_MAP_NAME_MAX, &name, NULL,
			"map", err, errlen);
	if (rc == 0 && name_check(name) != 0)
		rc = dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				   "map.cluster: 1..%u bytes of [A-Za-z0-9._-]",
				   DKV_MAP_NAME_MAX);
	rc = rc ?: dkv_sj_str(root, "cluster_id", 0, 16, &cid, &cidlen, "map",
			      err, errlen);
	if (rc == 0 && (dkv_hex_u64_parse(cid, cidlen, &m->cluster_id) != 0 ||
			m->cluster_id == 0))
		rc = dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				   "map.cluster_id: expected 16 lowercase hex "
				   "digits, not all 0");
	rc = rc ?: dkv_sj_int(root, "version", 0, 1,
			      (int64_t)DKV_MAP_VERSION_MAX, &v, "map", err,
			      errlen);
	if (rc != 0)
		goto out;
	strcpy(m->name, name);
	m->version = (uint64_t)v;
	rc = dkv_sj_array(root, "nodes", DKV_MAP_NODES_MAX, &arr, "map", err,
			  errlen);
	rc = rc ?: nodes_from_json(m, arr, err, errlen);
	if (rc != 0)
		goto out;
	/* The family last but one: a custom one dlopens. */
	if (json_object_get(root, "family") == NULL) {
		rc = dkv_shard_err(DKV_ERR_CORRUPT, err, errlen,
				   "map: missing field \"family\"");
		goto out;
	}
	rc = dkv_sj_array(root, "shards", DKV_SHARDS_MAX, &arr, "map", err,
			  errlen);
	rc = rc ?: dkv_family_from_json(json_object_get(root, "family"),
					custom_allow, &m->fam, err, errlen);
	if (rc != 0)
		goto out;
	m->nshards = dkv_family_nshards(m->fam);
	rc = shards_from_json(m, arr, err, errlen);
out:
	json_decref(root);
	if (rc != 0) {
		dkv_map_destroy(m);
		return rc;
	}
	*out = m;
	return 0;
}
