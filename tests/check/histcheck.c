/*
 * histcheck.c - the list-append history checker (histcheck.h, design in
 * docs/histcheck.md): recording, inference of version orders and
 * dependency edges, and the search for cycles.
 *
 * dkv_hist_check() works in passes, linear in the history's size except
 * the G-single search (see below):
 *   1. index every append by (key, value), mark the appends their writer
 *      followed with another append to the same key (for G1b), note for
 *      every read the transaction's own last append to the key before it
 *      (internal consistency), and pick each key's version order: its
 *      longest read in an OK transaction;
 *   2. check every OK read (garbage, duplicates, aborted values, prefix of
 *      the order, internal consistency, intermediate values) and add its
 *      wr and rw edges;
 *   3. add the ww edges of every version order;
 *   4. with real time only: add the rt edges, a transitive reduction of
 *      real-time order (events sorted by time, a frontier of the latest
 *      completed transactions: O(n log n), O(n * concurrency) edges);
 *   5. build the graph (rows sorted by two counting sorts, one edge per
 *      pair of transactions carrying a mask of kinds), find the strongly
 *      connected components of its dependencies (Tarjan, iterative) and
 *      classify each one: Tarjan again on its ww edges (G0), then on its
 *      ww and wr edges (G1c); else a breadth-first search from every rw
 *      edge for a way back over ww/wr edges (G-single), pruned by two
 *      topological numberings of those edges; else G2;
 *   6. with real time only: the components of all edges (rt too) that
 *      hold no cycle of dependencies alone are classified the same way
 *      with rt edges joining ww and wr: G0-realtime (ww/rt), G1c-realtime
 *      (ww/wr/rt), G-single-realtime, G2-realtime.
 *
 * Failure modes: DKV_ERR_NOMEM from any allocation (everything the check
 * allocated is freed, the history is untouched); DKV_ERR_INVAL for a
 * real-time check of a history with an OK or INFO transaction without
 * times. A history that breaks
 * the model (duplicate values, garbage) gives anomalies, never an error.
 * One answer can be inexact: the G-single searches of a component
 * (quadratic at worst) have a budget of steps; a component that exhausts
 * it is reported as G2 with a note saying a G-single cycle may exist.
 * Only enormous components of heavily broken histories come near it.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "histcheck.h"

#define NONE UINT32_MAX /* no transaction, operation, append or node */

/* Values of a list shown in a report, and steps of a cycle; longer ones
 * are elided in the middle / cut. Every line of a report is thus bounded. */
#define LIST_SHOWN 16
#define CYCLE_SHOWN 32

/* Edges examined by the G-single search of one component: this plus
 * GSINGLE_BUDGET_PER_EDGE per edge of the component. */
#define GSINGLE_BUDGET_BASE (UINT64_C(1) << 24)
#define GSINGLE_BUDGET_PER_EDGE 16

enum op_kind { OP_APPEND = 1, OP_READ };

/* Edge kinds, bits of a mask: the dependencies (ww, wr, rw: EDGE_DEP)
 * and real-time order (rt). */
enum {
	EDGE_WW = 1,
	EDGE_WR = 2,
	EDGE_RW = 4,
	EDGE_RT = 8,
	EDGE_DEP = EDGE_WW | EDGE_WR | EDGE_RW,
	EDGE_ALL = EDGE_DEP | EDGE_RT,
};

struct txn {
	uint64_t id;
	int64_t invoke, complete; /* ns, when `timed` (dkv_hist_times) */
	uint32_t op_first; /* its operations: ops[op_first .. + nops) */
	uint32_t nops;
	uint8_t outcome; /* enum dkv_hist_outcome */
	uint8_t timed;
};

struct op {
	uint64_t key;
	uint64_t arg; /* append: the value; read: offset of the list in vals */
	uint32_t len; /* read: length of the list */
	uint8_t kind; /* enum op_kind */
};

/* An open-addressing hash map (linear probing, load at most 1/2) from a
 * pair of 64-bit words to a 32-bit value other than NONE. */
struct map_slot {
	uint64_t a, b;
	uint32_t v; /* NONE: empty */
};

struct map {
	struct map_slot *slots;
	size_t cap; /* 0 or a power of two */
	size_t len;
};

struct dkv_hist {
	struct txn *txns; /* ended transactions */
	size_t ntxns, txns_cap;
	struct op *ops;
	size_t nops, ops_cap;
	uint64_t *vals; /* read lists, back to back */
	size_t nvals, vals_cap;
	struct map ids; /* txn id -> index in txns */
	int open;       /* a transaction is being recorded in cur */
	struct txn cur;
	size_t cur_vals; /* nvals when cur began */
};

/* --- dynamic arrays and the hash map -------------------------------------- */

static size_t map_slot_of(const struct map *m, uint64_t a, uint64_t b)
{
	uint64_t hash = check_mix64(a ^ check_mix64(b + UINT64_C(0x9e3779b97f4a7c15)));

	return (size_t)hash & (m->cap - 1);
}

/* The value of (a, b), or NONE. */
static uint32_t map_get(const struct map *m, uint64_t a, uint64_t b)
{
	size_t i;

	if (m->cap == 0)
		return NONE;
	for (i = map_slot_of(m, a, b);; i = (i + 1) & (m->cap - 1)) {
		const struct map_slot *s = &m->slots[i];

		if (s->v == NONE)
			return NONE;
		if (s->a == a && s->b == b)
			return s->v;
	}
}

/* Makes room for n entries in all without rehashing. 0 or DKV_ERR_NOMEM
 * (the map unchanged). */
static int map_reserve(struct map *m, size_t n)
{
	struct map_slot *old = m->slots;
	size_t cap = m->cap != 0 ? m->cap : 16, oldcap = m->cap, i, j;

	if (n > SIZE_MAX / 4 / sizeof(*old))
		return DKV_ERR_NOMEM;
	while (cap < 2 * n)
		cap *= 2;
	if (cap == m->cap)
		return 0;
	m->slots = malloc(cap * sizeof(*m->slots));
	if (m->slots == NULL) {
		m->slots = old;
		return DKV_ERR_NOMEM;
	}
	m->cap = cap;
	for (i = 0; i < cap; i++)
		m->slots[i].v = NONE;
	for (i = 0; i < oldcap; i++) {
		if (old[i].v == NONE)
			continue;
		for (j = map_slot_of(m, old[i].a, old[i].b);
		     m->slots[j].v != NONE; j = (j + 1) & (cap - 1))
			;
		m->slots[j] = old[i];
	}
	free(old);
	return 0;
}

/* Maps (a, b) to v (v != NONE). An existing entry keeps its value unless
 * `replace`; *old gets the value before the call, NONE if there was none.
 * 0 or DKV_ERR_NOMEM (the map unchanged). */
static int map_put(struct map *m, uint64_t a, uint64_t b, uint32_t v,
		   int replace, uint32_t *old)
{
	size_t i;
	int rc;

	rc = map_reserve(m, m->len + 1);
	if (rc != 0)
		return rc;
	for (i = map_slot_of(m, a, b);; i = (i + 1) & (m->cap - 1)) {
		struct map_slot *s = &m->slots[i];

		if (s->v == NONE) {
			s->a = a;
			s->b = b;
			s->v = v;
			m->len++;
			*old = NONE;
			return 0;
		}
		if (s->a == a && s->b == b) {
			*old = s->v;
			if (replace)
				s->v = v;
			return 0;
		}
	}
}

static void map_free(struct map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

/* --- recording ------------------------------------------------------------ */

struct dkv_hist *dkv_hist_new(void)
{
	return calloc(1, sizeof(struct dkv_hist));
}

void dkv_hist_free(struct dkv_hist *h)
{
	if (h == NULL)
		return;
	free(h->txns);
	free(h->ops);
	free(h->vals);
	map_free(&h->ids);
	free(h);
}

size_t dkv_hist_ntxns(const struct dkv_hist *h)
{
	return h != NULL ? h->ntxns : 0;
}

int dkv_hist_begin(struct dkv_hist *h, uint64_t txid)
{
	if (h == NULL)
		return DKV_ERR_INVAL;
	if (h->open)
		return DKV_ERR_STATE;
	if (h->ntxns >= DKV_HIST_TXNS_MAX)
		return DKV_ERR_TOO_BIG;
	if (map_get(&h->ids, txid, 0) != NONE)
		return DKV_ERR_EXISTS;
	memset(&h->cur, 0, sizeof(h->cur));
	h->cur.id = txid;
	h->cur.op_first = (uint32_t)h->nops;
	h->cur_vals = h->nvals;
	h->open = 1;
	return 0;
}

static int push_op(struct dkv_hist *h, const struct op *o)
{
	int rc;

	if (!h->open)
		return DKV_ERR_STATE;
	if (h->nops >= DKV_HIST_OPS_MAX)
		return DKV_ERR_TOO_BIG;
	rc = CHECK_GROW(h->ops, h->ops_cap, h->nops + 1);
	if (rc != 0)
		return rc;
	h->ops[h->nops++] = *o;
	h->cur.nops++;
	return 0;
}

int dkv_hist_append(struct dkv_hist *h, uint64_t key, uint64_t value)
{
	struct op o = {.key = key, .arg = value, .kind = OP_APPEND};

	if (h == NULL)
		return DKV_ERR_INVAL;
	return push_op(h, &o);
}

int dkv_hist_read(struct dkv_hist *h, uint64_t key, const uint64_t *values,
		  size_t n)
{
	struct op o = {.key = key, .kind = OP_READ};
	int rc;

	if (h == NULL || (values == NULL && n > 0))
		return DKV_ERR_INVAL;
	if (!h->open)
		return DKV_ERR_STATE;
	if (n > UINT32_MAX - 1 || n > SIZE_MAX - h->nvals)
		return DKV_ERR_TOO_BIG;
	rc = CHECK_GROW(h->vals, h->vals_cap, h->nvals + n);
	if (rc != 0)
		return rc;
	if (n > 0)
		memcpy(h->vals + h->nvals, values, n * sizeof(*values));
	o.arg = h->nvals;
	o.len = (uint32_t)n;
	rc = push_op(h, &o);
	if (rc == 0)
		h->nvals += n;
	return rc;
}

int dkv_hist_times(struct dkv_hist *h, int64_t invoke_ns, int64_t complete_ns)
{
	if (h == NULL || invoke_ns < 0 || complete_ns < invoke_ns)
		return DKV_ERR_INVAL;
	if (!h->open)
		return DKV_ERR_STATE;
	h->cur.invoke = invoke_ns;
	h->cur.complete = complete_ns;
	h->cur.timed = 1;
	return 0;
}

int dkv_hist_end(struct dkv_hist *h, enum dkv_hist_outcome outcome)
{
	uint32_t old;
	int rc;

	if (h == NULL || (outcome != DKV_HIST_OK && outcome != DKV_HIST_FAIL &&
			  outcome != DKV_HIST_INFO))
		return DKV_ERR_INVAL;
	if (!h->open)
		return DKV_ERR_STATE;
	if (outcome == DKV_HIST_OK && h->cur.timed &&
	    h->cur.complete == DKV_HIST_NEVER)
		return DKV_ERR_INVAL;
	rc = CHECK_GROW(h->txns, h->txns_cap, h->ntxns + 1);
	if (rc != 0)
		return rc;
	rc = map_put(&h->ids, h->cur.id, 0, (uint32_t)h->ntxns, 0, &old);
	if (rc != 0)
		return rc;
	h->cur.outcome = (uint8_t)outcome;
	h->txns[h->ntxns++] = h->cur;
	h->open = 0;
	return 0;
}

int dkv_hist_txn_times(const struct dkv_hist *h, uint64_t txid,
		       int64_t *invoke_ns, int64_t *complete_ns)
{
	const struct txn *x;
	uint32_t t;

	if (h == NULL)
		return DKV_ERR_INVAL;
	t = map_get(&h->ids, txid, 0);
	if (t == NONE)
		return DKV_ERR_NOT_FOUND;
	x = &h->txns[t];
	if (!x->timed)
		return 0;
	if (invoke_ns != NULL)
		*invoke_ns = x->invoke;
	if (complete_ns != NULL)
		*complete_ns = x->complete;
	return 1;
}

void dkv_hist_cancel(struct dkv_hist *h)
{
	if (h == NULL || !h->open)
		return;
	h->nops = h->cur.op_first;
	h->nvals = h->cur_vals;
	h->open = 0;
}

const char *dkv_hist_anomaly_name(enum dkv_hist_anomaly kind)
{
	switch (kind) {
#define DKV_HIST_ANOMALY_NAME_(name, text)                                     \
	case DKV_HIST_##name:                                                  \
		return text;
		DKV_HIST_FOREACH_ANOMALY(DKV_HIST_ANOMALY_NAME_)
#undef DKV_HIST_ANOMALY_NAME_
	case DKV_HIST_NANOMALIES:
		break;
	}
	return NULL;
}

void dkv_hist_report_free(struct dkv_hist_report *r)
{
	if (r == NULL)
		return;
	free(r->text);
	memset(r, 0, sizeof(*r));
}

/* --- the checker's state -------------------------------------------------- */

struct append {
	uint32_t txn;     /* the writer (index in txns) */
	uint32_t op;      /* its operation (index in ops) */
	uint32_t seen;    /* the last read (op index + 1) listing it */
	uint8_t reported; /* a G1a is reported for it */
};

struct op_info {
	uint32_t own_last;  /* read: the op of its txn's last append to the key
			       before it, or NONE */
	uint8_t superseded; /* append: its txn appended to the key again */
};

struct key_order {
	uint32_t op;      /* the key's longest OK read: its version order */
	uint32_t txn;     /* the reader */
	uint8_t reported; /* an incompatible-order is reported */
};

struct edge {
	uint32_t from, to;
	uint8_t kind;
};

struct adj {
	uint32_t to;
	uint8_t mask; /* EDGE_* kinds from the row's node to `to` */
};

/* Strongly connected components: comp[v] for every node visited; the
 * members of component i are members[start[i] .. start[i + 1]). */
struct scc {
	uint32_t *comp, *members, *start;
	uint32_t ncomp;
};

struct checker {
	const struct dkv_hist *h;
	struct dkv_hist_report *r;
	int realtime; /* add rt edges, report the real-time classes */

	/* passes 1 to 3 */
	struct map by_value; /* (key, value) -> index in appends */
	struct append *appends;
	size_t nappends;
	struct map last_append; /* (txn, key) -> op of its last append */
	struct op_info *info;   /* one per op */
	struct map by_key;      /* key -> index in orders */
	struct key_order *orders;
	size_t norders;
	struct map garbage; /* (key, value) reported as garbage */
	struct edge *edges;
	size_t nedges, edges_cap;

	/* the graph: one node per transaction, rows of adj */
	uint32_t n;
	size_t *off; /* n + 1: the row of v is adj[off[v] .. off[v + 1]) */
	struct adj *adj;

	/* Tarjan */
	uint32_t *index, *low, *stack, *cs_node;
	size_t *cs_edge; /* call stack: next edge of cs_node[i] */
	uint8_t *onstack;
	struct scc comps; /* of the whole graph */
	struct scc sub;   /* inside one component, over some kinds */
	struct scc sub2;  /* the same, roots taken in reverse order */

	/* breadth-first search */
	uint32_t *mark, stamp, *parent, *queue, *path;
	uint8_t *pkind, *path_kind;

	/* real time: per node, the rank of the plain class reported for its
	 * component of dependencies; bfs_need()'s states (2 per node) */
	uint8_t *rank;
	uint32_t *mark2, stamp2, *parent2, *queue2;
	uint8_t *pkind2;

	/* the report's text */
	char *text;
	size_t text_len, text_cap;
	int text_nomem;
};

/* --- report text ---------------------------------------------------------- */

static void tprintf(struct checker *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tprintf(struct checker *c, const char *fmt, ...)
{
	va_list ap;
	size_t room = c->text_cap - c->text_len;
	int n;

	if (c->text_nomem)
		return;
	va_start(ap, fmt);
	n = vsnprintf(c->text + c->text_len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= room) {
		if (CHECK_GROW(c->text, c->text_cap, c->text_len + (size_t)n + 1)) {
			c->text[c->text_len] = '\0';
			c->text_nomem = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(c->text + c->text_len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	c->text_len += (size_t)n;
}

/* Counts an anomaly. Returns 1 when it is to be explained in the text
 * (the first DKV_HIST_SHOWN_MAX), after writing its name: the caller
 * writes the rest of the line. */
static int anomaly(struct checker *c, enum dkv_hist_anomaly kind)
{
	c->r->count[kind]++;
	c->r->total++;
	if (c->r->total > DKV_HIST_SHOWN_MAX)
		return 0;
	tprintf(c, "%s: ", dkv_hist_anomaly_name(kind));
	return 1;
}

static void tlist(struct checker *c, const uint64_t *v, size_t n)
{
	size_t i;

	tprintf(c, "[");
	for (i = 0; i < n; i++) {
		if (n > LIST_SHOWN && i == LIST_SHOWN / 2) {
			tprintf(c, " ... %zu more ...", n - LIST_SHOWN);
			i = n - LIST_SHOWN / 2;
		}
		tprintf(c, "%s%" PRIu64, i > 0 ? " " : "", v[i]);
	}
	tprintf(c, "]");
}

/* The kind shown for a non-empty mask of kinds between two nodes: the
 * one that makes a cycle through them most severe: ww, wr, rt, then rw
 * (a cycle's class goes by its rw edges). */
static uint8_t severest(unsigned mask)
{
	if (mask & (EDGE_WW | EDGE_WR))
		return (uint8_t)(mask & -mask);
	return mask & EDGE_RT ? EDGE_RT : EDGE_RW;
}

static const char *edge_name(uint8_t kind)
{
	return kind == EDGE_WW   ? "ww"
	       : kind == EDGE_WR ? "wr"
	       : kind == EDGE_RT ? "rt"
				 : "rw";
}

/* --- helpers over the history --------------------------------------------- */

static uint64_t txid(const struct checker *c, uint32_t t)
{
	return c->h->txns[t].id;
}

static int failed(const struct checker *c, uint32_t t)
{
	return c->h->txns[t].outcome == DKV_HIST_FAIL;
}

static const uint64_t *read_list(const struct checker *c, uint32_t op)
{
	return c->h->vals + c->h->ops[op].arg;
}

/* The transaction that appended `value` to `key`, or NONE. */
static uint32_t writer_of(const struct checker *c, uint64_t key,
			  uint64_t value)
{
	uint32_t a = map_get(&c->by_value, key, value);

	return a != NONE ? c->appends[a].txn : NONE;
}

static int add_edge(struct checker *c, uint32_t from, uint32_t to,
		    uint8_t kind)
{
	int rc = CHECK_GROW(c->edges, c->edges_cap, c->nedges + 1);

	if (rc != 0)
		return rc;
	c->edges[c->nedges].from = from;
	c->edges[c->nedges].to = to;
	c->edges[c->nedges].kind = kind;
	c->nedges++;
	return 0;
}

/* --- pass 1: appends, own appends, version orders ------------------------- */

static int index_append(struct checker *c, uint32_t t, uint32_t opi)
{
	const struct op *o = &c->h->ops[opi];
	uint32_t idx = (uint32_t)c->nappends, old;
	int rc;

	rc = map_put(&c->by_value, o->key, o->arg, idx, 0, &old);
	if (rc != 0)
		goto out;
	if (old == NONE) {
		c->appends[idx].txn = t;
		c->appends[idx].op = opi;
		c->nappends++;
	} else if (anomaly(c, DKV_HIST_DUPLICATE_APPEND)) {
		tprintf(c,
			"T%" PRIu64 " appended %" PRIu64 " to key %" PRIu64
			", already appended by T%" PRIu64 "\n",
			txid(c, t), o->arg, o->key,
			txid(c, c->appends[old].txn));
	}
	rc = map_put(&c->last_append, t, o->key, opi, 1, &old);
	if (rc == 0 && old != NONE)
		c->info[old].superseded = 1;
out:
	return rc;
}

static int index_read(struct checker *c, uint32_t t, uint32_t opi)
{
	const struct op *o = &c->h->ops[opi];
	uint32_t k;
	int rc;

	c->info[opi].own_last = map_get(&c->last_append, t, o->key);
	rc = map_put(&c->by_key, o->key, 0, (uint32_t)c->norders, 0, &k);
	if (rc != 0)
		goto out;
	if (k == NONE) {
		k = (uint32_t)c->norders++;
		c->orders[k].op = opi;
		c->orders[k].txn = t;
	} else if (o->len > c->h->ops[c->orders[k].op].len) {
		c->orders[k].op = opi;
		c->orders[k].txn = t;
	}
out:
	return rc;
}

static int pass_index(struct checker *c)
{
	const struct dkv_hist *h = c->h;
	size_t nappends = 0, nreads = 0, i;
	uint32_t t, opi;
	int rc = 0;

	for (i = 0; i < h->nops; i++)
		if (h->ops[i].kind == OP_APPEND)
			nappends++;
		else
			nreads++;
	c->appends = check_zalloc(nappends, sizeof(*c->appends));
	c->info = check_zalloc(h->nops, sizeof(*c->info));
	c->orders = check_zalloc(nreads, sizeof(*c->orders));
	if (c->appends == NULL || c->info == NULL || c->orders == NULL) {
		rc = DKV_ERR_NOMEM;
		goto out;
	}
	rc = map_reserve(&c->by_value, nappends);
	if (rc == 0)
		rc = map_reserve(&c->last_append, nappends);
	if (rc == 0)
		rc = map_reserve(&c->by_key, nreads);
	for (t = 0; rc == 0 && t < h->ntxns; t++) {
		const struct txn *x = &h->txns[t];

		for (opi = x->op_first; rc == 0 && opi < x->op_first + x->nops;
		     opi++) {
			if (h->ops[opi].kind == OP_APPEND)
				rc = index_append(c, t, opi);
			else if (x->outcome == DKV_HIST_OK)
				rc = index_read(c, t, opi);
		}
	}
out:
	return rc;
}

/* --- pass 2: reads -------------------------------------------------------- */

/* Garbage (once per read showing values not seen before), duplicate
 * elements (once per read), values of failed transactions (once per
 * value). */
static int check_elements(struct checker *c, uint32_t t, uint32_t opi)
{
	const struct op *o = &c->h->ops[opi];
	const uint64_t *list = read_list(c, opi);
	uint32_t i, a, old, ngarbage = 0, first = 0;
	int dup = 0, rc = 0;

	for (i = 0; i < o->len; i++) {
		struct append *ap;

		a = map_get(&c->by_value, o->key, list[i]);
		if (a == NONE) {
			rc = map_put(&c->garbage, o->key, list[i], 1, 0, &old);
			if (rc != 0)
				goto out;
			if (old == NONE && ngarbage++ == 0)
				first = i;
			continue;
		}
		ap = &c->appends[a];
		if (ap->seen == opi + 1 && !dup) {
			dup = 1;
			if (anomaly(c, DKV_HIST_DUPLICATE_ELEMENT)) {
				tprintf(c, "T%" PRIu64 " read key %" PRIu64 " = ",
					txid(c, t), o->key);
				tlist(c, list, o->len);
				tprintf(c, ": %" PRIu64 " appears twice\n",
					list[i]);
			}
		}
		ap->seen = opi + 1;
		if (failed(c, ap->txn) && !ap->reported) {
			ap->reported = 1;
			if (anomaly(c, DKV_HIST_G1A)) {
				tprintf(c, "T%" PRIu64 " read key %" PRIu64 " = ",
					txid(c, t), o->key);
				tlist(c, list, o->len);
				tprintf(c,
					": %" PRIu64 " was appended by T%" PRIu64
					", which failed\n",
					list[i], txid(c, ap->txn));
			}
		}
	}
	if (ngarbage > 0 && anomaly(c, DKV_HIST_GARBAGE_READ)) {
		tprintf(c, "T%" PRIu64 " read key %" PRIu64 " = ", txid(c, t),
			o->key);
		tlist(c, list, o->len);
		tprintf(c, ": nobody appended %" PRIu64, list[first]);
		if (ngarbage > 1)
			tprintf(c, " (nor %u more of these values)",
				ngarbage - 1);
		tprintf(c, "\n");
	}
out:
	return rc;
}

/* 1 if the read is a prefix of its key's version order; else reports an
 * incompatible order (once per key) and returns 0. */
static int check_prefix(struct checker *c, uint32_t t, uint32_t opi)
{
	const struct op *o = &c->h->ops[opi];
	struct key_order *ko = &c->orders[map_get(&c->by_key, o->key, 0)];
	const struct op *ord = &c->h->ops[ko->op];

	if (o->len <= ord->len &&
	    (o->len == 0 || memcmp(read_list(c, opi), read_list(c, ko->op),
				   o->len * sizeof(uint64_t)) == 0))
		return 1;
	if (!ko->reported) {
		ko->reported = 1;
		if (anomaly(c, DKV_HIST_INCOMPATIBLE_ORDER)) {
			tprintf(c, "key %" PRIu64 ": T%" PRIu64 " read ", o->key,
				txid(c, t));
			tlist(c, read_list(c, opi), o->len);
			tprintf(c, ", not a prefix of ");
			tlist(c, read_list(c, ko->op), ord->len);
			tprintf(c, " read by T%" PRIu64 "\n", txid(c, ko->txn));
		}
	}
	return 0;
}

/* A read after the transaction's own append to the key must end with it. */
static void check_internal(struct checker *c, uint32_t t, uint32_t opi)
{
	const struct op *o = &c->h->ops[opi];
	const uint64_t *list = read_list(c, opi);
	uint64_t own = c->h->ops[c->info[opi].own_last].arg;

	if (o->len > 0 && list[o->len - 1] == own)
		return;
	if (anomaly(c, DKV_HIST_INTERNAL)) {
		tprintf(c, "T%" PRIu64 " read key %" PRIu64 " = ", txid(c, t),
			o->key);
		tlist(c, list, o->len);
		tprintf(c,
			" after appending %" PRIu64
			" to it: the list should end with %" PRIu64 "\n",
			own, own);
	}
}

/* The wr edge of a read from another transaction, and G1b. */
static int read_from(struct checker *c, uint32_t t, uint32_t opi)
{
	const struct op *o = &c->h->ops[opi];
	const uint64_t *list = read_list(c, opi);
	uint64_t last = list[o->len - 1];
	uint32_t a = map_get(&c->by_value, o->key, last), w;

	if (a == NONE)
		return 0; /* garbage: reported */
	w = c->appends[a].txn;
	if (w == t) {
		if (anomaly(c, DKV_HIST_INTERNAL)) {
			tprintf(c, "T%" PRIu64 " read key %" PRIu64 " = ",
				txid(c, t), o->key);
			tlist(c, list, o->len);
			tprintf(c,
				": it appends %" PRIu64 " only after this "
				"read\n",
				last);
		}
		return 0;
	}
	if (failed(c, w))
		return 0; /* G1a: reported */
	if (c->info[c->appends[a].op].superseded &&
	    anomaly(c, DKV_HIST_G1B)) {
		uint32_t fin = map_get(&c->last_append, w, o->key);

		tprintf(c, "T%" PRIu64 " read key %" PRIu64 " = ", txid(c, t),
			o->key);
		tlist(c, list, o->len);
		tprintf(c,
			": %" PRIu64 " is an intermediate append of T%" PRIu64
			", whose last append to key %" PRIu64 " is %" PRIu64
			"\n",
			last, txid(c, w), o->key, c->h->ops[fin].arg);
	}
	return add_edge(c, w, t, EDGE_WR);
}

/* The rw edge of a read that is a prefix of the version order: to the
 * writer of the next element (skipping elements appended by the writer of
 * the read's last element, when that last one was an intermediate one). */
static int read_before(struct checker *c, uint32_t t, uint32_t opi)
{
	const struct op *o = &c->h->ops[opi];
	const struct key_order *ko =
		&c->orders[map_get(&c->by_key, o->key, 0)];
	const uint64_t *ord = read_list(c, ko->op);
	uint32_t ordn = c->h->ops[ko->op].len, i = o->len, w;

	if (o->len > 0) {
		uint32_t prev = writer_of(c, o->key, ord[o->len - 1]);

		while (prev != NONE && i < ordn &&
		       writer_of(c, o->key, ord[i]) == prev)
			i++;
	}
	if (i >= ordn)
		return 0;
	w = writer_of(c, o->key, ord[i]);
	if (w == NONE || w == t || failed(c, w))
		return 0;
	return add_edge(c, t, w, EDGE_RW);
}

static int check_read(struct checker *c, uint32_t t, uint32_t opi)
{
	int prefix, rc;

	rc = check_elements(c, t, opi);
	if (rc != 0)
		goto out;
	prefix = check_prefix(c, t, opi);
	if (c->info[opi].own_last != NONE) {
		check_internal(c, t, opi);
		goto out; /* its edges are those of the txn's own appends */
	}
	if (c->h->ops[opi].len > 0)
		rc = read_from(c, t, opi);
	if (rc == 0 && prefix)
		rc = read_before(c, t, opi);
out:
	return rc;
}

static int pass_reads(struct checker *c)
{
	const struct dkv_hist *h = c->h;
	uint32_t t, opi;
	int rc = 0;

	for (t = 0; rc == 0 && t < h->ntxns; t++) {
		const struct txn *x = &h->txns[t];

		if (x->outcome != DKV_HIST_OK)
			continue;
		for (opi = x->op_first; rc == 0 && opi < x->op_first + x->nops;
		     opi++)
			if (h->ops[opi].kind == OP_READ)
				rc = check_read(c, t, opi);
	}
	return rc;
}

/* --- pass 3: ww edges ----------------------------------------------------- */

static int pass_orders(struct checker *c)
{
	size_t k;
	uint32_t i;
	int rc = 0;

	for (k = 0; rc == 0 && k < c->norders; k++) {
		const struct op *o = &c->h->ops[c->orders[k].op];
		const uint64_t *ord = read_list(c, c->orders[k].op);
		uint32_t prev = NONE, w;

		for (i = 0; rc == 0 && i < o->len; i++) {
			w = writer_of(c, o->key, ord[i]);
			if (w == NONE || failed(c, w))
				continue; /* reported; order the others */
			if (prev != NONE && prev != w)
				rc = add_edge(c, prev, w, EDGE_WW);
			prev = w;
		}
	}
	return rc;
}

/* --- pass 4: rt edges ----------------------------------------------------- */

/* An invocation (done 0) or completion (done 1) of transaction txn. */
struct rt_event {
	int64_t at;
	uint32_t txn;
	uint8_t done;
};

/* By time, invocations before completions at the same time (T1 -rt-> T2
 * needs T1's completion strictly before T2's invocation), then by
 * transaction (qsort is not stable: keep the check deterministic). */
static int rt_event_cmp(const void *pa, const void *pb)
{
	const struct rt_event *a = pa, *b = pb;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (a->done != b->done)
		return a->done < b->done ? -1 : 1;
	return a->txn < b->txn ? -1 : a->txn > b->txn;
}

/* Every OK and INFO transaction must have times. */
static int check_timed(const struct dkv_hist *h)
{
	size_t t;

	for (t = 0; t < h->ntxns; t++)
		if (h->txns[t].outcome != DKV_HIST_FAIL && !h->txns[t].timed)
			return DKV_ERR_INVAL;
	return 0;
}

/* The rt edges, a transitive reduction of real-time order (as Elle's
 * realtime graph): events in time order; the frontier holds the
 * transactions completed so far that no other completed one follows in
 * real time. An invocation of T gets an edge from every member of the
 * frontier (its predecessors); T's completion takes its predecessors
 * still there out of the frontier and puts T in. T1 completed before T2
 * was invoked is then a path T1 ~rt~> T2: T1 is in the frontier at T2's
 * invocation, or was taken out by some T3 with T1 -rt-> T3 completed
 * before it, and so on. Members of the frontier are pairwise concurrent,
 * so its size is at most the history's concurrency C (intervals that
 * meet pairwise share an instant): O(n * C) edges, O(n log n) for the
 * sort. OK transactions complete; INFO ones never do (they may commit any
 * time later); FAIL ones are not in the graph. */
static int pass_realtime(struct checker *c)
{
	const struct dkv_hist *h = c->h;
	struct rt_event *ev;
	size_t nev = 0, i, e, *first;
	uint32_t *npred, *fr, *fpos, nfr = 0, t, f;
	size_t before = c->nedges;
	int rc = 0;

	ev = check_zalloc(2 * h->ntxns, sizeof(*ev));
	first = check_zalloc(h->ntxns, sizeof(*first));
	npred = check_zalloc(h->ntxns, sizeof(*npred));
	fr = check_zalloc(h->ntxns, sizeof(*fr));
	fpos = check_zalloc(h->ntxns, sizeof(*fpos));
	if (ev == NULL || first == NULL || npred == NULL || fr == NULL ||
	    fpos == NULL) {
		rc = DKV_ERR_NOMEM;
		goto out;
	}
	for (t = 0; t < h->ntxns; t++) {
		const struct txn *x = &h->txns[t];

		fpos[t] = NONE;
		if (x->outcome == DKV_HIST_FAIL)
			continue;
		ev[nev].at = x->invoke;
		ev[nev].txn = t;
		ev[nev++].done = 0;
		if (x->outcome != DKV_HIST_OK)
			continue;
		ev[nev].at = x->complete;
		ev[nev].txn = t;
		ev[nev++].done = 1;
	}
	qsort(ev, nev, sizeof(*ev), rt_event_cmp);
	for (i = 0; rc == 0 && i < nev; i++) {
		t = ev[i].txn;
		if (!ev[i].done) {
			first[t] = c->nedges;
			npred[t] = nfr;
			for (f = 0; rc == 0 && f < nfr; f++)
				rc = add_edge(c, fr[f], t, EDGE_RT);
			continue;
		}
		for (e = first[t]; e < first[t] + npred[t]; e++) {
			f = c->edges[e].from;
			if (fpos[f] == NONE)
				continue;
			fr[fpos[f]] = fr[--nfr];
			fpos[fr[fpos[f]]] = fpos[f];
			fpos[f] = NONE;
		}
		fpos[t] = nfr;
		fr[nfr++] = t;
	}
	c->r->nrt_edges = c->nedges - before;
out:
	free(ev);
	free(first);
	free(npred);
	free(fr);
	free(fpos);
	return rc;
}

/* --- the graph ------------------------------------------------------------ */

/* Stable counting sort of edges by `to` (by_from 0) or `from` (1) into dst;
 * count has n + 1 slots. */
static void sort_edges(const struct edge *src, struct edge *dst, size_t ne,
		       size_t *count, uint32_t n, int by_from)
{
	size_t i;

	memset(count, 0, (n + (size_t)1) * sizeof(*count));
	for (i = 0; i < ne; i++)
		count[(by_from ? src[i].from : src[i].to) + (size_t)1]++;
	for (i = 0; i < n; i++)
		count[i + 1] += count[i];
	for (i = 0; i < ne; i++)
		dst[count[by_from ? src[i].from : src[i].to]++] = src[i];
}

/* Rows of adj, each sorted by target, one entry per pair of nodes. */
static int build_graph(struct checker *c)
{
	struct edge *tmp;
	size_t i, w = 0, end;
	uint32_t v;
	int rc = 0;

	c->n = (uint32_t)c->h->ntxns;
	c->off = check_zalloc(c->n + (size_t)1, sizeof(*c->off));
	c->adj = check_zalloc(c->nedges, sizeof(*c->adj));
	tmp = check_zalloc(c->nedges, sizeof(*tmp));
	if (c->off == NULL || c->adj == NULL || tmp == NULL) {
		rc = DKV_ERR_NOMEM;
		goto out;
	}
	sort_edges(c->edges, tmp, c->nedges, c->off, c->n, 0);
	sort_edges(tmp, c->edges, c->nedges, c->off, c->n, 1);
	/* off[v] is now the end of v's row; rebuild, merging pairs */
	for (v = 0, i = 0; v < c->n; v++) {
		end = c->off[v];
		c->off[v] = w;
		for (; i < end; i++) {
			if (w > c->off[v] && c->adj[w - 1].to == c->edges[i].to) {
				c->adj[w - 1].mask |= c->edges[i].kind;
				continue;
			}
			c->adj[w].to = c->edges[i].to;
			c->adj[w].mask = c->edges[i].kind;
			w++;
		}
	}
	c->off[c->n] = w;
	c->r->nedges = w;
out:
	free(tmp);
	return rc;
}

static int alloc_search(struct checker *c)
{
	size_t n = c->n, np = c->realtime ? 2 * n + 1 : n + 1; /* bfs_need */

	c->index = check_zalloc(n, sizeof(uint32_t));
	c->low = check_zalloc(n, sizeof(uint32_t));
	c->stack = check_zalloc(n, sizeof(uint32_t));
	c->cs_node = check_zalloc(n, sizeof(uint32_t));
	c->cs_edge = check_zalloc(n, sizeof(size_t));
	c->onstack = check_zalloc(n, 1);
	c->comps.comp = check_zalloc(n, sizeof(uint32_t));
	c->comps.members = check_zalloc(n, sizeof(uint32_t));
	c->comps.start = check_zalloc(n + 1, sizeof(uint32_t));
	c->sub.comp = check_zalloc(n, sizeof(uint32_t));
	c->sub.members = check_zalloc(n, sizeof(uint32_t));
	c->sub.start = check_zalloc(n + 1, sizeof(uint32_t));
	c->sub2.comp = check_zalloc(n, sizeof(uint32_t));
	c->sub2.members = check_zalloc(n, sizeof(uint32_t));
	c->sub2.start = check_zalloc(n + 1, sizeof(uint32_t));
	c->mark = check_zalloc(n, sizeof(uint32_t));
	c->parent = check_zalloc(n, sizeof(uint32_t));
	c->queue = check_zalloc(n, sizeof(uint32_t));
	c->path = check_zalloc(np, sizeof(uint32_t));
	c->pkind = check_zalloc(n, 1);
	c->path_kind = check_zalloc(np, 1);
	if (c->realtime && (c->rank = check_zalloc(n, 1)) == NULL)
		return DKV_ERR_NOMEM;
	if (c->index == NULL || c->low == NULL || c->stack == NULL ||
	    c->cs_node == NULL || c->cs_edge == NULL || c->onstack == NULL ||
	    c->comps.comp == NULL || c->comps.members == NULL ||
	    c->comps.start == NULL || c->sub.comp == NULL ||
	    c->sub.members == NULL || c->sub.start == NULL ||
	    c->sub2.comp == NULL || c->sub2.members == NULL ||
	    c->sub2.start == NULL ||
	    c->mark == NULL || c->parent == NULL || c->queue == NULL ||
	    c->path == NULL || c->pkind == NULL || c->path_kind == NULL)
		return DKV_ERR_NOMEM;
	return 0;
}

/* --- Tarjan's strongly connected components, iterative -------------------- */

struct tarjan {
	uint32_t counter; /* next index */
	uint32_t sp;      /* Tarjan's stack: c->stack[0 .. sp) */
	uint32_t csp;     /* call stack: c->cs_node / cs_edge [0 .. csp) */
	uint32_t nmem;    /* members placed */
};

static void tarjan_push(struct checker *c, struct tarjan *tj, uint32_t v)
{
	c->index[v] = c->low[v] = tj->counter++;
	c->stack[tj->sp++] = v;
	c->onstack[v] = 1;
	c->cs_node[tj->csp] = v;
	c->cs_edge[tj->csp] = c->off[v];
	tj->csp++;
}

/* The components of the subgraph induced by nodes[0 .. nn) (all nodes
 * when `nodes` is NULL), following only edges whose mask meets `mask`
 * and, unless scope is NONE, whose target is in c->comps component
 * `scope` (nodes must then be exactly that component's members). DFS
 * roots are taken in the order of `nodes`, or the reverse if `reverse`.
 * Components are numbered as they complete, so an edge between two of
 * them goes from the higher number to the lower: the numbering is a
 * reverse topological order of the condensation. */
static void tarjan(struct checker *c, const uint32_t *nodes, uint32_t nn,
		   uint32_t scope, uint8_t mask, int reverse, struct scc *out)
{
	struct tarjan tj = {0, 0, 0, 0};
	uint32_t i, v, w;

	for (i = 0; i < nn; i++)
		c->index[nodes != NULL ? nodes[i] : i] = NONE;
	out->ncomp = 0;
	out->start[0] = 0;
	for (i = 0; i < nn; i++) {
		v = reverse ? nn - 1 - i : i;
		if (nodes != NULL)
			v = nodes[v];
		if (c->index[v] != NONE)
			continue;
		tarjan_push(c, &tj, v);
		while (tj.csp > 0) {
			size_t *e = &c->cs_edge[tj.csp - 1];

			v = c->cs_node[tj.csp - 1];
			if (*e < c->off[v + 1]) {
				const struct adj *a = &c->adj[(*e)++];

				w = a->to;
				if (!(a->mask & mask) ||
				    (scope != NONE && c->comps.comp[w] != scope))
					continue;
				if (c->index[w] == NONE)
					tarjan_push(c, &tj, w);
				else if (c->onstack[w] && c->index[w] < c->low[v])
					c->low[v] = c->index[w];
				continue;
			}
			tj.csp--; /* v is done */
			if (tj.csp > 0) {
				uint32_t p = c->cs_node[tj.csp - 1];

				if (c->low[v] < c->low[p])
					c->low[p] = c->low[v];
			}
			if (c->low[v] != c->index[v])
				continue;
			do {
				w = c->stack[--tj.sp];
				c->onstack[w] = 0;
				out->comp[w] = out->ncomp;
				out->members[tj.nmem++] = w;
			} while (w != v);
			out->start[++out->ncomp] = tj.nmem;
		}
	}
}

/* --- paths and cycles ----------------------------------------------------- */

/* 0 when no ww/wr path leads from v to u in the current component: one
 * of its two reverse topological numberings (c->sub, c->sub2) puts u
 * before v. 1 when one may. */
static int may_reach(const struct checker *c, uint32_t v, uint32_t u)
{
	return c->sub.comp[v] >= c->sub.comp[u] &&
	       c->sub2.comp[v] >= c->sub2.comp[u];
}

/* A shortest path from `from` to `to` (different nodes) over edges whose
 * mask meets `mask`, inside component `scope` of c->comps, and, if
 * `prune`, only through nodes that may_reach `to`. Returns its length
 * len >= 1, with c->path[0 .. len] = from .. to and c->path_kind[i] the
 * kind of the edge into path[i]; or 0 when there is no such path or when
 * *budget (edges to examine; NULL: no limit) runs out. */
static uint32_t bfs(struct checker *c, uint32_t from, uint32_t to,
		    uint32_t scope, uint8_t mask, int prune, uint64_t *budget)
{
	uint32_t head = 0, tail = 0, len, v;
	size_t e;

	if (++c->stamp == 0) {
		memset(c->mark, 0, c->n * sizeof(*c->mark));
		c->stamp = 1;
	}
	c->mark[from] = c->stamp;
	c->queue[tail++] = from;
	while (head < tail) {
		v = c->queue[head++];
		for (e = c->off[v]; e < c->off[v + 1]; e++) {
			const struct adj *a = &c->adj[e];
			uint32_t w = a->to;

			if (budget != NULL) {
				if (*budget == 0)
					return 0;
				(*budget)--;
			}
			if (!(a->mask & mask) || c->comps.comp[w] != scope ||
			    c->mark[w] == c->stamp ||
			    (prune && !may_reach(c, w, to)))
				continue;
			c->mark[w] = c->stamp;
			c->parent[w] = v;
			c->pkind[w] = severest(a->mask & mask);
			if (w == to)
				goto found;
			c->queue[tail++] = w;
		}
	}
	return 0;
found:
	for (len = 0, v = to; v != from; v = c->parent[v])
		len++;
	for (e = len, v = to;; v = c->parent[v], e--) {
		c->path[e] = v;
		c->path_kind[e] = c->pkind[v];
		if (e == 0)
			break;
	}
	return len;
}

/* Reports the cycle u -kind-> path[0] -> ... -> path[len] (= u). */
static void report_cycle(struct checker *c, enum dkv_hist_anomaly what,
			 uint32_t u, uint8_t kind, uint32_t len,
			 const char *note)
{
	uint32_t i;

	if (!anomaly(c, what))
		return;
	tprintf(c, "T%" PRIu64 " -%s-> T%" PRIu64, txid(c, u), edge_name(kind),
		txid(c, c->path[0]));
	for (i = 1; i <= len; i++) {
		if (len > CYCLE_SHOWN && i == CYCLE_SHOWN / 2) {
			tprintf(c, " ... %u more steps ...", len - CYCLE_SHOWN);
			i = len - CYCLE_SHOWN / 2;
		}
		tprintf(c, " -%s-> T%" PRIu64, edge_name(c->path_kind[i]),
			txid(c, c->path[i]));
	}
	tprintf(c, "%s\n", note);
}

/* If the edges of `mask` inside component s hold a cycle, reports it as
 * `what` and returns 1. Leaves c->sub numbering the component's members
 * by the components of those edges. */
static int find_cycle(struct checker *c, uint32_t s, uint8_t mask,
		      enum dkv_hist_anomaly what)
{
	const uint32_t *m = c->comps.members + c->comps.start[s];
	uint32_t nm = c->comps.start[s + 1] - c->comps.start[s], i, u, len;
	size_t e;

	tarjan(c, m, nm, s, mask, 0, &c->sub);
	for (i = 0; i < c->sub.ncomp; i++) {
		if (c->sub.start[i + 1] - c->sub.start[i] < 2)
			continue;
		u = c->sub.members[c->sub.start[i]];
		for (e = c->off[u]; e < c->off[u + 1]; e++) {
			const struct adj *a = &c->adj[e];

			if (!(a->mask & mask) || c->comps.comp[a->to] != s ||
			    c->sub.comp[a->to] != i)
				continue;
			len = bfs(c, a->to, u, s, mask, 0, NULL);
			report_cycle(c, what, u, severest(a->mask & mask), len,
				     "");
			return 1;
		}
	}
	return 0;
}

/* bfs() over states (node, whether the path took an edge of kind `need`
 * yet), from (from, 0) to (to, 1): a shortest path from `from` to `to`
 * through at least one `need` edge, shown as such. Needs c->mark2,
 * parent2, queue2, pkind2 (2n each). When the edges of `mask` are
 * acyclic in the component (the only use), paths are simple. */
static uint32_t bfs_need(struct checker *c, uint32_t from, uint32_t to,
			 uint32_t scope, uint8_t mask, uint8_t need, int prune,
			 uint64_t *budget)
{
	uint32_t head = 0, tail = 0, len, st, ns, v, goal = 2 * to + 1;
	size_t e;

	if (++c->stamp2 == 0) {
		memset(c->mark2, 0, 2 * (size_t)c->n * sizeof(*c->mark2));
		c->stamp2 = 1;
	}
	c->mark2[2 * from] = c->stamp2;
	c->queue2[tail++] = 2 * from;
	while (head < tail) {
		st = c->queue2[head++];
		v = st / 2;
		for (e = c->off[v]; e < c->off[v + 1]; e++) {
			const struct adj *a = &c->adj[e];
			uint32_t w = a->to;
			unsigned kinds = a->mask & mask;
			int took = !(st & 1) && (kinds & need);

			if (budget != NULL) {
				if (*budget == 0)
					return 0;
				(*budget)--;
			}
			if (kinds == 0 || c->comps.comp[w] != scope ||
			    (prune && !may_reach(c, w, to)))
				continue;
			ns = 2 * w + ((st & 1) | (kinds & need ? 1 : 0));
			if (c->mark2[ns] == c->stamp2)
				continue;
			c->mark2[ns] = c->stamp2;
			c->parent2[ns] = st;
			c->pkind2[ns] = took ? need : severest(kinds);
			if (ns == goal)
				goto found;
			if (w != to)
				c->queue2[tail++] = ns;
		}
	}
	return 0;
found:
	for (len = 0, st = goal; st != 2 * from; st = c->parent2[st])
		len++;
	for (e = len, st = goal;; st = c->parent2[st], e--) {
		c->path[e] = st / 2;
		c->path_kind[e] = c->pkind2[st];
		if (e == 0)
			break;
	}
	return len;
}

/* After find_cycle (or find_rt_cycle) found no cycle of the edges `back`
 * (ww and wr; with rt for the real-time classes) in component s (c->sub
 * then numbers its members in reverse topological order of those
 * edges): searches for an rw edge u -> v with a path of `back` edges from
 * v to u (through an rt edge, if `need`), pruned by a second numbering
 * (searches from every rw edge are quadratic at worst; two numberings
 * make most of them end at once), and reports it as `what`. Returns 1
 * (reported), 0 (none: *u0 -> *v0 is an rw edge of s), or -1 (budget
 * exhausted). */
static int find_g_single(struct checker *c, uint32_t s, uint8_t back,
			 uint8_t need, enum dkv_hist_anomaly what, uint32_t *u0,
			 uint32_t *v0)
{
	const uint32_t *m = c->comps.members + c->comps.start[s];
	uint32_t nm = c->comps.start[s + 1] - c->comps.start[s], i, u, v, len;
	uint64_t budget = GSINGLE_BUDGET_BASE;
	size_t e;

	tarjan(c, m, nm, s, back, 1, &c->sub2);
	for (i = 0; i < nm; i++)
		budget += GSINGLE_BUDGET_PER_EDGE *
			  (uint64_t)(c->off[m[i] + 1] - c->off[m[i]]);
	*u0 = *v0 = NONE;
	for (i = 0; i < nm; i++) {
		u = m[i];
		for (e = c->off[u]; e < c->off[u + 1]; e++) {
			v = c->adj[e].to;
			if (!(c->adj[e].mask & EDGE_RW) || c->comps.comp[v] != s)
				continue;
			if (*u0 == NONE) {
				*u0 = u;
				*v0 = v;
			}
			if (!may_reach(c, v, u))
				continue;
			if (need)
				len = bfs_need(c, v, u, s, back, need, 1,
					       &budget);
			else
				len = bfs(c, v, u, s, back, 1, &budget);
			if (len > 0) {
				report_cycle(c, what, u, EDGE_RW, len, "");
				return 1;
			}
			if (budget == 0)
				return -1;
		}
	}
	return 0;
}

/* Ranks of the cycle classes, most severe first; a real-time class ranks
 * with its plain one. */
enum { RANK_G0, RANK_G1C, RANK_G_SINGLE, RANK_G2, RANK_NONE };

/* Reports the most severe plain cycle class of component s (c->comps the
 * components of the dependencies); returns its rank. */
static int classify(struct checker *c, uint32_t s)
{
	uint32_t u, v, len, i, nrw = 1;
	int found;

	if (c->comps.start[s + 1] - c->comps.start[s] < 2)
		return RANK_NONE;
	if (find_cycle(c, s, EDGE_WW, DKV_HIST_G0))
		return RANK_G0;
	if (find_cycle(c, s, EDGE_WW | EDGE_WR, DKV_HIST_G1C))
		return RANK_G1C;
	found = find_g_single(c, s, EDGE_WW | EDGE_WR, 0, DKV_HIST_G_SINGLE,
			      &u, &v);
	if (found == 1)
		return RANK_G_SINGLE;
	if (u == NONE)
		return RANK_NONE; /* not reached: a component has a cycle */
	/* G2: any cycle through an rw edge has two or more of them, unless
	 * the search ran out of budget: then classify the example found */
	len = bfs(c, v, u, s, EDGE_DEP, 0, NULL);
	for (i = 1; i <= len; i++)
		nrw += c->path_kind[i] == EDGE_RW;
	report_cycle(c, nrw == 1 ? DKV_HIST_G_SINGLE : DKV_HIST_G2, u, EDGE_RW,
		     len,
		     found < 0 && nrw > 1
			     ? " (the G-single search of this component ran "
			       "out of budget: it may hold a G-single cycle)"
			     : "");
	return nrw == 1 ? RANK_G_SINGLE : RANK_G2;
}

/* The first rt edge inside component s of c->comps whose ends are in the
 * same component of c->sub (c->comps itself when `sub` is 0): 1 with
 * *u -> *v, or 0. An edge lies on a cycle exactly when its ends are in
 * one strongly connected component. */
static int rt_edge_inside(const struct checker *c, uint32_t s, int sub,
			  uint32_t *u, uint32_t *v)
{
	uint32_t i, x, y;
	size_t e;

	for (i = c->comps.start[s]; i < c->comps.start[s + 1]; i++) {
		x = c->comps.members[i];
		for (e = c->off[x]; e < c->off[x + 1]; e++) {
			y = c->adj[e].to;
			if (!(c->adj[e].mask & EDGE_RT) ||
			    c->comps.comp[y] != s ||
			    (sub && c->sub.comp[y] != c->sub.comp[x]))
				continue;
			*u = x;
			*v = y;
			return 1;
		}
	}
	return 0;
}

/* If the edges of `mask` (rt among them) inside component s hold a cycle
 * through an rt edge, reports one as `what` and returns 1. Leaves c->sub
 * numbering the component's members by the components of those edges. */
static int find_rt_cycle(struct checker *c, uint32_t s, uint8_t mask,
			 enum dkv_hist_anomaly what)
{
	const uint32_t *m = c->comps.members + c->comps.start[s];
	uint32_t nm = c->comps.start[s + 1] - c->comps.start[s], u, v, len;

	tarjan(c, m, nm, s, mask, 0, &c->sub);
	if (!rt_edge_inside(c, s, 1, &u, &v))
		return 0;
	len = bfs(c, v, u, s, mask, 0, NULL);
	report_cycle(c, what, u, EDGE_RT, len, "");
	return 1;
}

/* Reports the most severe real-time class of component s of all edges
 * (c->comps): of its cycles through an rt edge, if more severe than
 * `prank`, the most severe plain class reported inside it (a plain
 * cycle already breaks every model its real-time variant breaks). */
static void classify_rt(struct checker *c, uint32_t s, int prank)
{
	uint32_t u, v, u0, v0, len, i, nrw = 0;
	int found;

	if (prank == RANK_G0 || !rt_edge_inside(c, s, 0, &u, &v))
		return; /* nothing more severe; or all cycles plain */
	if (find_rt_cycle(c, s, EDGE_WW | EDGE_RT, DKV_HIST_G0_REALTIME) ||
	    prank == RANK_G1C ||
	    find_rt_cycle(c, s, EDGE_WW | EDGE_WR | EDGE_RT,
			  DKV_HIST_G1C_REALTIME) ||
	    prank == RANK_G_SINGLE)
		return;
	/* no plain G0, G1c, G-single in s, and no ww/wr/rt cycle through an
	 * rt edge: the ww/wr/rt edges of s are acyclic */
	found = find_g_single(c, s, EDGE_WW | EDGE_WR | EDGE_RT, EDGE_RT,
			      DKV_HIST_G_SINGLE_REALTIME, &u0, &v0);
	if (found == 1 || prank == RANK_G2)
		return;
	/* G2-realtime: a cycle through the rt edge u -> v; it has two rw
	 * edges or more, unless the search ran out of budget */
	len = bfs(c, v, u, s, EDGE_ALL, 0, NULL);
	for (i = 1; i <= len; i++)
		nrw += c->path_kind[i] == EDGE_RW;
	report_cycle(c,
		     nrw == 1 ? DKV_HIST_G_SINGLE_REALTIME
			      : DKV_HIST_G2_REALTIME,
		     u, EDGE_RT, len,
		     found < 0 && nrw > 1
			     ? " (the G-single search of this component ran "
			       "out of budget: it may hold a G-single-realtime "
			       "cycle)"
			     : "");
}

/* The real-time classes, per component of all edges (rt too): c->rank
 * holds the rank of the plain class reported for every node's component
 * of dependencies. */
static int classify_realtime(struct checker *c)
{
	size_t n2 = 2 * (size_t)c->n;
	uint32_t s, i;
	uint8_t prank;

	c->mark2 = check_zalloc(n2, sizeof(*c->mark2));
	c->parent2 = check_zalloc(n2, sizeof(*c->parent2));
	c->queue2 = check_zalloc(n2, sizeof(*c->queue2));
	c->pkind2 = check_zalloc(n2, 1);
	if (c->mark2 == NULL || c->parent2 == NULL || c->queue2 == NULL ||
	    c->pkind2 == NULL)
		return DKV_ERR_NOMEM;
	tarjan(c, NULL, c->n, NONE, EDGE_ALL, 0, &c->comps);
	for (s = 0; s < c->comps.ncomp; s++) {
		if (c->comps.start[s + 1] - c->comps.start[s] < 2)
			continue;
		prank = RANK_NONE;
		for (i = c->comps.start[s]; i < c->comps.start[s + 1]; i++)
			if (c->rank[c->comps.members[i]] < prank)
				prank = c->rank[c->comps.members[i]];
		classify_rt(c, s, prank);
	}
	return 0;
}

/* --- the check ------------------------------------------------------------ */

static void checker_free(struct checker *c)
{
	map_free(&c->by_value);
	map_free(&c->last_append);
	map_free(&c->by_key);
	map_free(&c->garbage);
	free(c->appends);
	free(c->info);
	free(c->orders);
	free(c->edges);
	free(c->off);
	free(c->adj);
	free(c->index);
	free(c->low);
	free(c->stack);
	free(c->cs_node);
	free(c->cs_edge);
	free(c->onstack);
	free(c->comps.comp);
	free(c->comps.members);
	free(c->comps.start);
	free(c->sub.comp);
	free(c->sub.members);
	free(c->sub.start);
	free(c->sub2.comp);
	free(c->sub2.members);
	free(c->sub2.start);
	free(c->mark);
	free(c->parent);
	free(c->queue);
	free(c->path);
	free(c->pkind);
	free(c->path_kind);
	free(c->rank);
	free(c->mark2);
	free(c->parent2);
	free(c->queue2);
	free(c->pkind2);
	free(c->text);
}

int dkv_hist_check(const struct dkv_hist *h, struct dkv_hist_report *out)
{
	return dkv_hist_check_ex(h, NULL, out);
}

int dkv_hist_check_ex(const struct dkv_hist *h,
		      const struct dkv_hist_check_opts *opts,
		      struct dkv_hist_report *out)
{
	struct checker c;
	uint32_t s, i;
	int rc;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (h == NULL || out == NULL)
		return DKV_ERR_INVAL;
	if (h->open)
		return DKV_ERR_STATE;
	memset(&c, 0, sizeof(c));
	c.h = h;
	c.r = out;
	c.realtime = opts != NULL && opts->realtime;
	if (c.realtime && check_timed(h) != 0)
		return DKV_ERR_INVAL;
	out->ntxns = h->ntxns;
	out->realtime = c.realtime;
	c.text = malloc(1024);
	if (c.text == NULL) {
		rc = DKV_ERR_NOMEM;
		goto out;
	}
	c.text[0] = '\0';
	c.text_cap = 1024;
	rc = pass_index(&c);
	if (rc == 0)
		rc = pass_reads(&c);
	if (rc == 0)
		rc = pass_orders(&c);
	if (rc == 0 && c.realtime)
		rc = pass_realtime(&c);
	if (rc == 0)
		rc = build_graph(&c);
	if (rc == 0)
		rc = alloc_search(&c);
	if (rc != 0)
		goto out;
	tarjan(&c, NULL, c.n, NONE, EDGE_DEP, 0, &c.comps);
	for (s = 0; s < c.comps.ncomp; s++) {
		uint8_t rank = (uint8_t)classify(&c, s);

		if (!c.realtime)
			continue;
		for (i = c.comps.start[s]; i < c.comps.start[s + 1]; i++)
			c.rank[c.comps.members[i]] = rank;
	}
	if (c.realtime) {
		rc = classify_realtime(&c);
		if (rc != 0)
			goto out;
	}
	if (out->total > DKV_HIST_SHOWN_MAX)
		tprintf(&c, "... and %" PRIu64 " more anomalies, only counted\n",
			out->total - DKV_HIST_SHOWN_MAX);
	if (c.text_nomem) {
		rc = DKV_ERR_NOMEM;
		goto out;
	}
	out->text = c.text;
	c.text = NULL;
out:
	checker_free(&c);
	if (rc != 0) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	return out->total > INT_MAX ? INT_MAX : (int)out->total;
}
