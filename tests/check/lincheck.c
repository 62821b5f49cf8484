/*
 * lincheck.c - the register linearizability checker (lincheck.h, design
 * in docs/lincheck.md): recording, the split by key, the search, and the
 * report.
 *
 * dkv_lin_check() sorts the operations by key and checks each key alone
 * (P-compositionality: a history is linearizable iff every key's
 * subhistory is). For one key:
 *   1. keep the operations that constrain the search: OK ones, INFO writes
 *      and CAS (FAIL ops never took effect; an INFO read has no result);
 *   2. make two events per operation, call at its invocation and return
 *      at its completion (INFO: after every other event), sort them (on a
 *      tie, calls first: ops touching at an instant are concurrent) and
 *      link the OK ops' events in one doubly linked list, the INFO ops'
 *      calls in another;
 *   3. search as Lowe's just-in-time Wing & Gong (Porcupine's checker.go):
 *      walk the OK list; at a call, try to linearize its op now (apply it
 *      to the register; if that is possible and the resulting state was
 *      never reached before, push the op on an explicit stack, lift its
 *      events out of the list and start again from the head); at the
 *      first return, that op is due: try the INFO ops invoked before it
 *      the same way, then pop the last op, put its events back (unlift)
 *      and go on after its call. Done when every OK op is linearized
 *      (INFO ops may stay out: they never took effect); not linearizable
 *      when there is nothing left to pop.
 * A state is (set of linearized ops, value, whether the last op was an
 * INFO one); the memoization cache holds every state reached, hashed
 * incrementally (Zobrist: one random word per OK op, XORed), stored
 * compactly (the OK ops as a first op not linearized and a window of
 * words after it), and skips any state one of them subsumes (the same
 * OK ops and value, a subset of the INFO ops). Three rules cut the INFO
 * ops' combinations without losing a linearization (allowed()). The
 * cache is bounded by DKV_LIN_CACHE_MAX bytes; past it, states are no
 * longer remembered (still exact). A step budget per key bounds the time:
 * when it runs out the key is "unknown", never a false verdict.
 *
 * Failure modes: DKV_ERR_NOMEM from any allocation (everything the check
 * allocated is freed, the history is untouched).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_util.h"
#include "lincheck.h"

#define NONE UINT32_MAX /* no node, no op */

/* Operations shown: the end of the longest prefix, and the candidates
 * that could not follow it. Every paragraph of a report is thus bounded. */
#define PREFIX_SHOWN 8
#define CANDIDATES_SHOWN 16

struct op {
	uint64_t process, key, value, expected;
	int64_t invoke, complete;
	uint8_t kind, outcome, swapped;
};

struct initial {
	uint64_t key, value;
	uint32_t seq; /* order of the calls: the last one wins */
};

struct dkv_lin {
	struct op *ops;
	size_t nops, ops_cap;
	struct initial *inits;
	size_t ninits, inits_cap;
};

/* --- helpers -------------------------------------------------------------- */

/* "nil" or the number, in buf (at least 21 bytes). */
static const char *vstr(uint64_t v, char *buf, size_t len)
{
	if (v == DKV_LIN_NIL)
		return "nil";
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

/* --- recording ------------------------------------------------------------ */

struct dkv_lin *dkv_lin_new(void)
{
	return calloc(1, sizeof(struct dkv_lin));
}

void dkv_lin_free(struct dkv_lin *h)
{
	if (h == NULL)
		return;
	free(h->ops);
	free(h->inits);
	free(h);
}

size_t dkv_lin_nops(const struct dkv_lin *h)
{
	return h != NULL ? h->nops : 0;
}

int dkv_lin_op(struct dkv_lin *h, const struct dkv_lin_op *op)
{
	struct op o;
	int rc;

	if (h == NULL || op == NULL)
		return DKV_ERR_INVAL;
	if (op->kind != DKV_LIN_READ && op->kind != DKV_LIN_WRITE &&
	    op->kind != DKV_LIN_CAS)
		return DKV_ERR_INVAL;
	if (op->outcome != DKV_LIN_OK && op->outcome != DKV_LIN_FAIL &&
	    op->outcome != DKV_LIN_INFO)
		return DKV_ERR_INVAL;
	if (op->kind != DKV_LIN_READ && op->value == DKV_LIN_NIL)
		return DKV_ERR_INVAL;
	if (op->outcome != DKV_LIN_INFO && op->complete_ns < op->invoke_ns)
		return DKV_ERR_INVAL;
	if (op->kind == DKV_LIN_CAS && op->outcome == DKV_LIN_OK &&
	    op->swapped != 0 && op->swapped != 1)
		return DKV_ERR_INVAL;
	if (h->nops >= DKV_LIN_OPS_MAX)
		return DKV_ERR_TOO_BIG;
	rc = CHECK_GROW(h->ops, h->ops_cap, h->nops + 1);
	if (rc != 0)
		return rc;
	memset(&o, 0, sizeof(o));
	o.process = op->process;
	o.key = op->key;
	o.kind = (uint8_t)op->kind;
	o.outcome = (uint8_t)op->outcome;
	o.invoke = op->invoke_ns;
	o.complete = op->outcome == DKV_LIN_INFO ? INT64_MAX : op->complete_ns;
	o.value = op->value;
	if (op->kind == DKV_LIN_CAS) {
		o.expected = op->expected;
		o.swapped = op->outcome == DKV_LIN_OK ? (uint8_t)op->swapped : 0;
	}
	if (op->kind == DKV_LIN_READ && op->outcome != DKV_LIN_OK)
		o.value = DKV_LIN_NIL; /* unknown: never used */
	h->ops[h->nops++] = o;
	return 0;
}

int dkv_lin_initial(struct dkv_lin *h, uint64_t key, uint64_t value)
{
	int rc;

	if (h == NULL)
		return DKV_ERR_INVAL;
	if (h->ninits >= DKV_LIN_OPS_MAX)
		return DKV_ERR_TOO_BIG;
	rc = CHECK_GROW(h->inits, h->inits_cap, h->ninits + 1);
	if (rc != 0)
		return rc;
	h->inits[h->ninits].key = key;
	h->inits[h->ninits].value = value;
	h->inits[h->ninits].seq = (uint32_t)h->ninits;
	h->ninits++;
	return 0;
}

const char *dkv_lin_verdict_name(enum dkv_lin_verdict v)
{
	switch (v) {
	case DKV_LIN_LINEARIZABLE:
		return "linearizable";
	case DKV_LIN_NOT_LINEARIZABLE:
		return "not linearizable";
	case DKV_LIN_UNKNOWN:
		return "unknown";
	}
	return NULL;
}

void dkv_lin_report_free(struct dkv_lin_report *r)
{
	if (r == NULL)
		return;
	free(r->keys);
	free(r->text);
	memset(r, 0, sizeof(*r));
}

/* --- report text ---------------------------------------------------------- */

struct text {
	char *buf;
	size_t len, cap;
	int nomem;
};

static void tprintf(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void tprintf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	size_t room = t->cap - t->len;
	int n;

	if (t->nomem)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= room) {
		if (CHECK_GROW(t->buf, t->cap, t->len + (size_t)n + 1)) {
			t->buf[t->len] = '\0';
			t->nomem = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(t->buf + t->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	t->len += (size_t)n;
}

/* "#12 p3 cas 4 -> 5 swapped [100, 250]" for history op `idx`. */
static void top(struct text *t, const struct op *o, size_t idx)
{
	char a[24], b[24];

	tprintf(t, "#%zu p%" PRIu64 " ", idx, o->process);
	switch (o->kind) {
	case DKV_LIN_READ:
		tprintf(t, "read -> %s", vstr(o->value, a, sizeof(a)));
		break;
	case DKV_LIN_WRITE:
		tprintf(t, "write %s", vstr(o->value, a, sizeof(a)));
		break;
	default:
		tprintf(t, "cas %s -> %s", vstr(o->expected, a, sizeof(a)),
			vstr(o->value, b, sizeof(b)));
		if (o->outcome == DKV_LIN_OK)
			tprintf(t, o->swapped ? " swapped" : " not swapped");
		break;
	}
	if (o->outcome == DKV_LIN_INFO)
		tprintf(t, " info [%" PRId64 ", inf)", o->invoke);
	else
		tprintf(t, " [%" PRId64 ", %" PRId64 "]", o->invoke,
			o->complete);
}

/* --- the memoization cache ------------------------------------------------ */

/* A search state, as looked up: the OK ops linearized are all those
 * below `first` (the first one not linearized; OK ops are numbered in
 * invocation order) and some of the next ones, given as the words
 * win[0 .. nwin) of the bitset from word first / 64 on (bits below first
 * set, bits past the last one linearized clear); `hash` is their Zobrist
 * hash. Any op linearized was invoked before the first's completion, so
 * the window is as long as the concurrency there, a word or two. */
struct cstate {
	uint64_t hash, value;
	const uint64_t *win, *info; /* info: the INFO part, nw_info words */
	uint32_t first, nwin;
	int after_info; /* reached by linearizing an INFO op */
};

struct centry {
	uint64_t key, value;
	uint32_t next;  /* the next entry in its chain + 1; 0: none */
	uint32_t first; /* as in struct cstate */
	uint32_t off;   /* its words: the window then the INFO part, from
			   words[off] */
	uint32_t nwin;
	uint8_t after_info;
};

/* A hash table (chained) of the search states reached. Keyed by the OK
 * ops and the value only, so that a lookup finds every entry that
 * differs in its INFO ops alone. */
struct cache {
	uint32_t *slots; /* the first entry of each chain + 1; 0: none */
	size_t cap;      /* 0 or a power of two */
	struct centry *ents;
	size_t len, ents_cap;
	uint64_t *words;
	size_t nwords, words_cap;
	size_t nw_info; /* words of the INFO part of a state */
	int full;       /* DKV_LIN_CACHE_MAX reached: no more inserts */
};

static void cache_free(struct cache *c)
{
	free(c->slots);
	free(c->ents);
	free(c->words);
	memset(c, 0, sizeof(*c));
}

/* A capacity for `need` elements: cap if enough, else doubled or (when
 * `gentle`) one eighth more, at least 64. */
static size_t grown(size_t cap, size_t need, int gentle)
{
	size_t n;

	if (need <= cap)
		return cap;
	n = gentle ? cap + cap / 8 : 2 * cap;
	if (n < 64)
		n = 64;
	return n < need ? need : n;
}

/* Makes room for one more entry of `nwords` words; sets c->full instead
 * when that would pass DKV_LIN_CACHE_MAX. 0 or DKV_ERR_NOMEM (the cache
 * unchanged, but for capacity). */
static int cache_reserve(struct cache *c, size_t nwords)
{
	size_t ecap = 0, wcap = 0, cap, i, j;
	uint32_t *slots;
	uint64_t bytes = 0;
	int gentle;
	void *p;

	cap = c->len + 1 > 2 * c->cap ? (c->cap != 0 ? 2 * c->cap : 64)
				      : c->cap;
	for (gentle = 0; gentle < 2; gentle++) {
		ecap = grown(c->ents_cap, c->len + 1, gentle);
		wcap = grown(c->words_cap, c->nwords + nwords, gentle);
		bytes = (uint64_t)ecap * sizeof(*c->ents) +
			(uint64_t)wcap * sizeof(*c->words) +
			(uint64_t)cap * sizeof(*c->slots);
		if (bytes <= DKV_LIN_CACHE_MAX)
			break;
	}
	if (bytes > DKV_LIN_CACHE_MAX || ecap >= UINT32_MAX ||
	    wcap >= UINT32_MAX) {
		c->full = 1;
		return 0;
	}
	if (ecap != c->ents_cap) {
		p = realloc(c->ents, ecap * sizeof(*c->ents));
		if (p == NULL)
			return DKV_ERR_NOMEM;
		c->ents = p;
		c->ents_cap = ecap;
	}
	if (wcap != c->words_cap) {
		p = realloc(c->words, wcap * sizeof(*c->words));
		if (p == NULL)
			return DKV_ERR_NOMEM;
		c->words = p;
		c->words_cap = wcap;
	}
	if (cap != c->cap) {
		slots = calloc(cap, sizeof(*slots));
		if (slots == NULL)
			return DKV_ERR_NOMEM;
		for (i = 0; i < c->len; i++) {
			j = c->ents[i].key & (cap - 1);
			c->ents[i].next = slots[j];
			slots[j] = (uint32_t)i + 1;
		}
		free(c->slots);
		c->slots = slots;
		c->cap = cap;
	}
	return 0;
}

/* Looks the search state q up, and adds it when absent (unless full).
 * Returns 1 when an entry subsumes it: same OK ops, same value, a subset
 * of its INFO ops, and not after_info unless it is too (a state with
 * fewer INFO ops linearized can do all it can, INFO ops needing never be
 * linearized; one reached by an OK op can do all that one reached by an
 * INFO op can: docs/lincheck.md); 0 when it was new; DKV_ERR_NOMEM. */
static int cache_visit(struct cache *c, const struct cstate *q)
{
	uint64_t key = check_mix64(q->hash ^ check_mix64(q->value + UINT64_C(0x9e3779b97f4a7c15)));
	size_t i, e, b, nw = q->nwin + c->nw_info;
	const struct centry *x;
	const uint64_t *w;
	int rc;

	for (e = c->cap != 0 ? c->slots[key & (c->cap - 1)] : 0; e != 0;
	     e = x->next) {
		x = &c->ents[e - 1];
		if (x->key != key || x->value != q->value ||
		    x->first != q->first || x->nwin != q->nwin ||
		    x->after_info > q->after_info)
			continue;
		w = c->words + x->off;
		if (memcmp(w, q->win, q->nwin * sizeof(*w)) != 0)
			continue;
		w += q->nwin;
		for (i = 0; i < c->nw_info && (w[i] & ~q->info[i]) == 0; i++)
			;
		if (i == c->nw_info)
			return 1;
	}
	if (c->full)
		return 0;
	rc = cache_reserve(c, nw);
	if (rc != 0 || c->full)
		return rc;
	b = key & (c->cap - 1);
	c->ents[c->len].key = key;
	c->ents[c->len].value = q->value;
	c->ents[c->len].first = q->first;
	c->ents[c->len].nwin = q->nwin;
	c->ents[c->len].off = (uint32_t)c->nwords;
	c->ents[c->len].after_info = (uint8_t)q->after_info;
	c->ents[c->len].next = c->slots[b];
	c->slots[b] = (uint32_t)c->len + 1;
	memcpy(c->words + c->nwords, q->win, q->nwin * sizeof(*q->win));
	memcpy(c->words + c->nwords + q->nwin, q->info,
	       c->nw_info * sizeof(*q->info));
	c->nwords += nw;
	c->len++;
	return 0;
}

/* --- the search of one key ------------------------------------------------ */

struct event {
	int64_t time;
	uint32_t op; /* search op */
	uint8_t ret; /* a return (else a call) */
	uint8_t inf; /* an INFO op's return: after everything */
};

struct frame {
	uint32_t node;  /* the call of the op linearized */
	uint32_t due;   /* the first OK return left then */
	uint32_t hi;    /* search.hi before it */
	uint64_t state; /* the value before it */
};

/* Nodes are events, numbered in event order (0 .. 2n - 1), so comparing
 * two nodes compares their times. Two lists use them: the OK list (head
 * 2n), the calls and returns of the OK ops not linearized, and the INFO
 * list (head 2n + 1), the calls of the INFO ops not linearized (INFO
 * returns are never linked: an INFO op is never due). */
struct search {
	const struct op *hist; /* the history's ops */
	uint32_t *idx;         /* search op -> index in the history */
	uint32_t n, nok;       /* search ops, OK among them (0 .. nok) */
	uint64_t init;         /* the key's initial value */

	uint32_t *next, *prev, *node_op, *call, *ret;
	uint8_t *is_ret;
	uint32_t head, ihead;

	/* linearized ops: OK op o at bit o, INFO op o at bit info_base +
	 * o - nok (the INFO part starts on a word of its own) */
	uint64_t *bits;
	uint32_t info_base, nw_ok;
	uint32_t hi; /* 1 + the last OK op linearized, 0 if none */
	uint64_t *zob;  /* OK ops' hash words (0 for INFO ops) */
	uint32_t *twin; /* INFO op: the identical INFO op invoked just
			   before it, or NONE */
	struct frame *stack;
	uint32_t depth, ok_left;
	struct cache cache;

	/* the longest linearizable prefix found, the first with the most OK
	 * ops (so never ending with an INFO op): best[0 .. best_len), with
	 * best_ok OK ops, equal to the stack's first `agree` ops */
	uint32_t *best, best_len, best_ok, agree;
	uint64_t best_state, steps;
	enum dkv_lin_verdict verdict;
};

static const struct op *sop(const struct search *s, uint32_t o)
{
	return &s->hist[s->idx[o]];
}

/* Applies op o to value `state`: 1 and *next when o can take effect now,
 * 0 when it cannot. An INFO CAS is taken to swap: one that would find
 * another value changes nothing, as if never linearized. */
static int apply(const struct op *o, uint64_t state, uint64_t *next)
{
	switch (o->kind) {
	case DKV_LIN_READ:
		*next = state;
		return o->value == state;
	case DKV_LIN_WRITE:
		*next = o->value;
		return 1;
	default:
		if (o->outcome == DKV_LIN_OK && !o->swapped) {
			*next = state;
			return state != o->expected;
		}
		*next = o->value;
		return state == o->expected;
	}
}

static uint32_t bitpos(const struct search *s, uint32_t o)
{
	return o < s->nok ? o : s->info_base + (o - s->nok);
}

static int bit_get(const struct search *s, uint32_t o)
{
	uint32_t b = bitpos(s, o);

	return (int)((s->bits[b / 64] >> (b % 64)) & 1);
}

static void bit_flip(struct search *s, uint32_t o)
{
	uint32_t b = bitpos(s, o);

	s->bits[b / 64] ^= UINT64_C(1) << (b % 64);
}

/* Whether the search may linearize op o now, taking the value from
 * `state` to `next` (apply() said it can), the last op linearized being
 * an INFO op when `after_info`. Three restrictions on INFO ops, none
 * losing a linearization (docs/lincheck.md): one that changes nothing is
 * never linearized, nor one followed directly by a write (dropping it
 * changes nothing either); and of identical ones (same kind and
 * arguments), only the earliest invoked still left (in a linearization
 * using a later one, the earlier one can take its place: it was invoked
 * before, and neither has a completion to respect). */
static int allowed(const struct search *s, uint32_t o, uint64_t state,
		   uint64_t next, int after_info)
{
	if (after_info && sop(s, o)->kind == DKV_LIN_WRITE)
		return 0;
	if (o < s->nok)
		return 1;
	return next != state && (s->twin[o] == NONE || bit_get(s, s->twin[o]));
}

struct twin {
	uint64_t value, expected;
	uint32_t call, op;
	uint8_t kind;
};

static int cmp_twin(const void *a, const void *b)
{
	const struct twin *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	if (x->expected != y->expected)
		return x->expected < y->expected ? -1 : 1;
	return (x->call > y->call) - (x->call < y->call);
}

static int cmp_event(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	if (x->inf != y->inf)
		return x->inf < y->inf ? -1 : 1;
	if (x->time != y->time)
		return x->time < y->time ? -1 : 1;
	if (x->ret != y->ret)
		return x->ret < y->ret ? -1 : 1; /* calls first */
	return (x->op > y->op) - (x->op < y->op);
}

struct invocation {
	int64_t invoke;
	uint32_t hidx;
};

static int cmp_invoke(const void *a, const void *b)
{
	const struct invocation *x = a, *y = b;

	if (x->invoke != y->invoke)
		return x->invoke < y->invoke ? -1 : 1;
	return (x->hidx > y->hidx) - (x->hidx < y->hidx);
}

static void search_free(struct search *s)
{
	free(s->idx);
	free(s->next);
	free(s->prev);
	free(s->node_op);
	free(s->call);
	free(s->ret);
	free(s->is_ret);
	free(s->bits);
	free(s->zob);
	free(s->twin);
	free(s->stack);
	free(s->best);
	cache_free(&s->cache);
}

/* Links `node` after `tail`, a list's last node; returns the new last. */
static uint32_t append(struct search *s, uint32_t tail, uint32_t node)
{
	s->next[tail] = node;
	s->prev[node] = tail;
	s->next[node] = NONE;
	return node;
}

/* Prepares the search of the history ops hidx[0 .. m) (one key, history
 * order): search ops are its OK ops, then its INFO writes and CAS, each
 * in history order. 0 or DKV_ERR_NOMEM. */
static int search_init(struct search *s, const struct dkv_lin *h,
		       const uint32_t *hidx, size_t m, uint64_t init)
{
	struct invocation *inv = NULL;
	struct event *ev = NULL;
	struct twin *tw = NULL;
	uint32_t n = 0, i, nodes, ninfo, tail, itail;
	size_t j, pass;
	int rc = DKV_ERR_NOMEM;

	memset(s, 0, sizeof(*s));
	s->hist = h->ops;
	s->init = init;
	s->verdict = DKV_LIN_LINEARIZABLE;
	s->idx = check_zalloc(m, sizeof(*s->idx));
	if (s->idx == NULL)
		goto out;
	for (pass = 0; pass < 2; pass++) {
		for (j = 0; j < m; j++) {
			const struct op *o = &h->ops[hidx[j]];

			if (o->outcome == DKV_LIN_OK && pass == 0)
				s->idx[n++] = hidx[j];
			if (o->outcome == DKV_LIN_INFO && pass == 1 &&
			    o->kind != DKV_LIN_READ)
				s->idx[n++] = hidx[j];
		}
		if (pass == 0)
			s->nok = n;
	}
	/* OK ops, then INFO ops, each numbered in invocation order */
	inv = check_zalloc(n, sizeof(*inv));
	if (inv == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		inv[i].invoke = h->ops[s->idx[i]].invoke;
		inv[i].hidx = s->idx[i];
	}
	qsort(inv, s->nok, sizeof(*inv), cmp_invoke);
	qsort(inv + s->nok, n - s->nok, sizeof(*inv), cmp_invoke);
	for (i = 0; i < n; i++)
		s->idx[i] = inv[i].hidx;
	s->n = n;
	ninfo = n - s->nok;
	s->ok_left = s->nok;
	s->head = 2 * n;
	s->ihead = 2 * n + 1;
	nodes = 2 * n + 2;
	s->nw_ok = (s->nok + 63) / 64;
	s->cache.nw_info = ((size_t)ninfo + 63) / 64;
	s->info_base = s->nw_ok * 64;
	ev = check_zalloc(2 * (size_t)n, sizeof(*ev));
	tw = check_zalloc(ninfo, sizeof(*tw));
	s->next = check_zalloc(nodes, sizeof(*s->next));
	s->prev = check_zalloc(nodes, sizeof(*s->prev));
	s->node_op = check_zalloc(nodes, sizeof(*s->node_op));
	s->is_ret = check_zalloc(nodes, sizeof(*s->is_ret));
	s->call = check_zalloc(n, sizeof(*s->call));
	s->ret = check_zalloc(n, sizeof(*s->ret));
	s->bits = check_zalloc(s->nw_ok + s->cache.nw_info, sizeof(*s->bits));
	s->zob = check_zalloc(n, sizeof(*s->zob));
	s->twin = check_zalloc(n, sizeof(*s->twin));
	s->stack = check_zalloc(n, sizeof(*s->stack));
	s->best = check_zalloc(n, sizeof(*s->best));
	if (ev == NULL || tw == NULL || s->next == NULL || s->prev == NULL ||
	    s->node_op == NULL || s->is_ret == NULL || s->call == NULL ||
	    s->ret == NULL || s->bits == NULL || s->zob == NULL ||
	    s->twin == NULL || s->stack == NULL || s->best == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		const struct op *o = sop(s, i);

		ev[2 * i].time = o->invoke;
		ev[2 * i].op = i;
		ev[2 * i + 1].time = o->complete;
		ev[2 * i + 1].op = i;
		ev[2 * i + 1].ret = 1;
		ev[2 * i + 1].inf = o->outcome == DKV_LIN_INFO;
		if (i < s->nok)
			s->zob[i] = check_mix64(UINT64_C(0x5851f42d4c957f2d) * (i + 1));
		s->twin[i] = NONE;
	}
	qsort(ev, 2 * (size_t)n, sizeof(*ev), cmp_event);
	s->next[s->head] = s->next[s->ihead] = NONE;
	s->prev[s->head] = s->prev[s->ihead] = NONE;
	tail = s->head;
	itail = s->ihead;
	for (i = 0; i < 2 * n; i++) {
		s->node_op[i] = ev[i].op;
		s->is_ret[i] = ev[i].ret;
		if (ev[i].ret)
			s->ret[ev[i].op] = i;
		else
			s->call[ev[i].op] = i;
		if (ev[i].op < s->nok)
			tail = append(s, tail, i);
		else if (!ev[i].ret)
			itail = append(s, itail, i);
		else
			s->next[i] = s->prev[i] = NONE;
	}

	/* identical INFO ops, in invocation (call event) order */
	for (i = 0; i < ninfo; i++) {
		const struct op *o = sop(s, s->nok + i);

		tw[i].kind = o->kind;
		tw[i].value = o->value;
		tw[i].expected = o->kind == DKV_LIN_CAS ? o->expected : 0;
		tw[i].call = s->call[s->nok + i];
		tw[i].op = s->nok + i;
	}
	qsort(tw, ninfo, sizeof(*tw), cmp_twin);
	for (i = 1; i < ninfo; i++)
		if (tw[i].kind == tw[i - 1].kind &&
		    tw[i].value == tw[i - 1].value &&
		    tw[i].expected == tw[i - 1].expected)
			s->twin[tw[i].op] = tw[i - 1].op;
	rc = 0;
out:
	free(inv);
	free(ev);
	free(tw);
	return rc;
}

static void unlink_node(struct search *s, uint32_t x)
{
	s->next[s->prev[x]] = s->next[x];
	if (s->next[x] != NONE)
		s->prev[s->next[x]] = s->prev[x];
}

static void relink_node(struct search *s, uint32_t x)
{
	s->next[s->prev[x]] = x;
	if (s->next[x] != NONE)
		s->prev[s->next[x]] = x;
}

/* Takes the op of call node c out of its list (an OK op: its return
 * too). */
static void lift(struct search *s, uint32_t c)
{
	uint32_t o = s->node_op[c];

	unlink_node(s, c);
	if (o < s->nok)
		unlink_node(s, s->ret[o]);
}

/* Puts it back: the exact reverse of lift(). */
static void unlift(struct search *s, uint32_t c)
{
	uint32_t o = s->node_op[c];

	if (o < s->nok)
		relink_node(s, s->ret[o]);
	relink_node(s, c);
}

/* Pushes the op of call node c, linearized on value `state` (giving
 * `next`) while `due` was the first OK return left (s->ok_left already
 * counting it), and keeps the longest prefix (amortized O(1): only the
 * part of the stack pushed since the last copy is copied). */
static void push(struct search *s, uint32_t c, uint32_t due, uint64_t state,
		 uint64_t next)
{
	uint32_t d = s->depth, i;

	s->stack[d].node = c;
	s->stack[d].due = due;
	s->stack[d].hi = s->hi;
	s->stack[d].state = state;
	s->depth = d + 1;
	if (s->nok - s->ok_left <= s->best_ok)
		return;
	for (i = s->agree; i <= d; i++)
		s->best[i] = s->node_op[s->stack[i].node];
	s->best_len = s->depth;
	s->best_ok = s->nok - s->ok_left;
	s->agree = s->depth;
	s->best_state = next;
}

/* The cache lookup of the state just reached by linearizing op o (its
 * bit set, its events lifted): cache_visit()'s answer. */
static int visit(struct search *s, uint32_t o, uint64_t hash, uint64_t value)
{
	uint32_t n1 = s->next[s->head], hi = s->hi, ws, we;
	struct cstate q;

	if (o < s->nok && o >= hi)
		hi = o + 1;
	q.hash = hash;
	q.value = value;
	q.first = n1 != NONE ? s->node_op[n1] : s->nok;
	q.after_info = o >= s->nok;
	ws = q.first / 64;
	we = (hi > q.first ? hi - 1 : q.first) / 64 + 1;
	if (we > s->nw_ok)
		we = s->nw_ok;
	q.nwin = we > ws ? we - ws : 0;
	q.win = s->bits + ws;
	q.info = s->bits + s->nw_ok;
	return cache_visit(&s->cache, &q);
}

/* The search itself (file comment, step 3), with the INFO ops tried
 * after the OK ones: walk the OK list up to its first return (`due`),
 * then the INFO list up to the calls after `due`; then backtrack. Trying
 * OK ops first reaches the states with fewer INFO ops linearized first,
 * and those subsume the others in the cache. Sets s->verdict; 0 or
 * DKV_ERR_NOMEM. */
static int search_run(struct search *s, uint64_t budget)
{
	uint64_t state = s->init, next, hash = 0;
	uint32_t entry = s->next[s->head], due = NONE, o = NONE, c;
	int rc, after_info = 0;

	s->best_state = s->init;
	for (;;) {
		if (s->ok_left == 0) {
			s->verdict = DKV_LIN_LINEARIZABLE;
			return 0;
		}
		if (s->steps >= budget) {
			s->verdict = DKV_LIN_UNKNOWN;
			return 0;
		}
		s->steps++;
		if (entry != NONE) {
			o = s->node_op[entry];
			if (o < s->nok && s->is_ret[entry]) {
				due = entry; /* the OK candidates are done */
				entry = s->next[s->ihead];
				continue;
			}
		}
		if (entry != NONE && (o < s->nok || entry < due)) {
			if (apply(sop(s, o), state, &next) &&
			    allowed(s, o, state, next, after_info)) {
				bit_flip(s, o);
				lift(s, entry);
				rc = visit(s, o, hash ^ s->zob[o], next);
				if (rc < 0)
					return rc;
				if (rc == 0) {
					if (o < s->nok)
						s->ok_left--;
					push(s, entry, due, state, next);
					state = next;
					hash ^= s->zob[o];
					if (o < s->nok && o >= s->hi)
						s->hi = o + 1;
					after_info = o >= s->nok;
					entry = s->next[s->head];
					continue;
				}
				unlift(s, entry);
				bit_flip(s, o);
			}
			entry = s->next[entry];
			continue;
		}
		/* no candidate left: undo the last op linearized */
		if (s->depth == 0) {
			s->verdict = DKV_LIN_NOT_LINEARIZABLE;
			return 0;
		}
		s->depth--;
		if (s->agree > s->depth)
			s->agree = s->depth;
		c = s->stack[s->depth].node;
		o = s->node_op[c];
		state = s->stack[s->depth].state;
		due = s->stack[s->depth].due;
		s->hi = s->stack[s->depth].hi;
		hash ^= s->zob[o];
		bit_flip(s, o);
		if (o < s->nok)
			s->ok_left++;
		unlift(s, c);
		after_info = s->depth > 0 &&
			     s->node_op[s->stack[s->depth - 1].node] >= s->nok;
		entry = s->next[c];
	}
}

/* --- explanations --------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Whether some op that may have taken effect (or the initial value) can
 * make the register hold v; vals: the values written, sorted. */
static int produced(const struct search *s, const uint64_t *vals, uint64_t v)
{
	return v == s->init ||
	       (v != DKV_LIN_NIL &&
		bsearch(&v, vals, s->n, sizeof(*vals), cmp_u64) != NULL);
}

/* Why candidate o cannot take effect on value `state` after the prefix. */
static void why(struct text *t, const struct search *s, const uint64_t *vals,
		uint32_t o, uint64_t state)
{
	const struct op *x = sop(s, o);
	char a[24], b[24];
	uint64_t next, need = DKV_LIN_NIL;
	int must = 0;

	if (apply(x, state, &next)) {
		tprintf(t, ": can take effect, but no order of the ops left "
			   "after it is linearizable");
		return;
	}
	if (x->kind == DKV_LIN_READ) {
		tprintf(t, ": the value is %s", vstr(state, a, sizeof(a)));
		need = x->value;
		must = 1;
	} else if (x->outcome == DKV_LIN_OK && !x->swapped) {
		tprintf(t, ": the value is %s, so it would have swapped",
			vstr(state, a, sizeof(a)));
	} else {
		tprintf(t, ": the value is %s, not %s",
			vstr(state, a, sizeof(a)),
			vstr(x->expected, b, sizeof(b)));
		need = x->expected;
		must = x->outcome == DKV_LIN_OK;
	}
	if (must && !produced(s, vals, need))
		tprintf(t, " (no op that may have taken effect writes %s)",
			vstr(need, a, sizeof(a)));
}

/* The paragraph of a key that is not linearizable or unknown. */
static int explain(struct text *t, const struct search *s, uint64_t key,
		   uint64_t budget)
{
	uint64_t *vals = NULL;
	uint8_t *in = NULL;
	uint32_t *cand = NULL, i, node, o, due = NONE, ncand = 0;
	char a[24];
	int rc = DKV_ERR_NOMEM;

	if (s->verdict == DKV_LIN_UNKNOWN) {
		tprintf(t,
			"key %" PRIu64 ": unknown: the budget of %" PRIu64
			" search steps ran out; the longest linearizable "
			"prefix found has %" PRIu32 " of %" PRIu32
			" OK ops\n",
			key, budget, s->best_ok, s->nok);
		return 0;
	}
	vals = check_zalloc(s->n, sizeof(*vals));
	in = check_zalloc(s->n, sizeof(*in));
	cand = check_zalloc(s->n, sizeof(*cand));
	if (vals == NULL || in == NULL || cand == NULL)
		goto out;
	for (i = 0; i < s->n; i++) {
		const struct op *x = sop(s, i);

		/* what may have been written; an unsuccessful OK CAS writes
		 * nothing, nil (never written) matches nothing */
		vals[i] = x->kind == DKV_LIN_READ ||
					  (x->kind == DKV_LIN_CAS &&
					   x->outcome == DKV_LIN_OK &&
					   !x->swapped)
				  ? DKV_LIN_NIL
				  : x->value;
	}
	qsort(vals, s->n, sizeof(*vals), cmp_u64);
	for (i = 0; i < s->best_len; i++)
		in[s->best[i]] = 1;
	tprintf(t,
		"key %" PRIu64 ": not linearizable (%" PRIu32
		" ops searched, %" PRIu64 " steps)\n",
		key, s->n, s->steps);
	if (s->best_len == 0) {
		tprintf(t, "  no op can take effect first: the initial value "
			   "is %s\n",
			vstr(s->init, a, sizeof(a)));
	} else {
		tprintf(t,
			"  longest linearizable prefix found: %" PRIu32
			" ops, leaving the value %s; it ends with:\n",
			s->best_len, vstr(s->best_state, a, sizeof(a)));
		if (s->best_len > PREFIX_SHOWN)
			tprintf(t, "    ... %" PRIu32 " ops before\n",
				s->best_len - PREFIX_SHOWN);
		for (i = s->best_len > PREFIX_SHOWN ? s->best_len - PREFIX_SHOWN
						    : 0;
		     i < s->best_len; i++) {
			tprintf(t, "    ");
			top(t, sop(s, s->best[i]), s->idx[s->best[i]]);
			tprintf(t, "\n");
		}
	}
	/* the candidates: OK ops left whose call comes before the first OK
	 * return left, then INFO ops left invoked before that return (the
	 * lists are whole again: the search unwound them) */
	for (node = s->next[s->head]; node != NONE; node = s->next[node]) {
		o = s->node_op[node];
		if (in[o])
			continue;
		if (s->is_ret[node]) {
			due = o;
			break;
		}
		cand[ncand++] = o;
	}
	if (due == NONE) { /* cannot happen after a failed search */
		rc = DKV_ERR_INTERNAL;
		goto out;
	}
	for (node = s->next[s->ihead]; node != NONE && node < s->ret[due];
	     node = s->next[node])
		if (!in[s->node_op[node]])
			cand[ncand++] = s->node_op[node];
	tprintf(t,
		"  then none of these can take effect (the ops left invoked "
		"by the time #%" PRIu32 " completed, at %" PRId64 "):\n",
		s->idx[due], sop(s, due)->complete);
	for (i = 0; i < ncand; i++) {
		if (i == CANDIDATES_SHOWN) {
			tprintf(t, "    ... and %" PRIu32 " more\n",
				ncand - CANDIDATES_SHOWN);
			break;
		}
		tprintf(t, "    ");
		top(t, sop(s, cand[i]), s->idx[cand[i]]);
		why(t, s, vals, cand[i], s->best_state);
		tprintf(t, "\n");
	}
	rc = 0;
out:
	free(vals);
	free(in);
	free(cand);
	return rc;
}

/* --- the check ------------------------------------------------------------ */

struct byk {
	uint64_t key;
	uint32_t idx;
};

static int cmp_byk(const void *a, const void *b)
{
	const struct byk *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

static int cmp_initial(const void *a, const void *b)
{
	const struct initial *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* The initial value of key: the last dkv_lin_initial() for it, from the
 * sorted copy inits[0 .. n). */
static uint64_t initial_of(const struct initial *inits, size_t n, uint64_t key)
{
	size_t lo = 0, hi = n, mid;

	/* the first entry with a greater key, then one back */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (inits[mid].key <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && inits[lo - 1].key == key ? inits[lo - 1].value
						  : DKV_LIN_NIL;
}

/* Checks the ops of one key, hidx[0 .. m), into *k and the text. */
static int check_key(const struct dkv_lin *h, const uint32_t *hidx, size_t m,
		     uint64_t init, uint64_t budget, struct dkv_lin_key *k,
		     struct text *t, uint64_t *shown, uint64_t *unshown)
{
	struct search s;
	int rc;

	rc = search_init(&s, h, hidx, m, init);
	if (rc == 0)
		rc = search_run(&s, budget);
	if (rc != 0)
		goto out;
	k->verdict = s.verdict;
	k->nops = m;
	k->nsearch = s.n;
	k->steps = s.steps;
	k->prefix = s.best_len;
	k->cached = s.cache.len;
	if (s.verdict == DKV_LIN_LINEARIZABLE)
		goto out;
	if (*shown == DKV_LIN_SHOWN_MAX) {
		(*unshown)++;
		goto out;
	}
	(*shown)++;
	rc = explain(t, &s, k->key, budget);
out:
	search_free(&s);
	return rc;
}

int dkv_lin_check(const struct dkv_lin *h, uint64_t budget,
		  struct dkv_lin_report *out)
{
	struct initial *inits = NULL;
	struct byk *byk = NULL;
	uint32_t *hidx = NULL;
	struct text t = {0};
	uint64_t shown = 0, unshown = 0;
	size_t i, j, g, ninit = 0, nkeys = 0;
	int rc = DKV_ERR_NOMEM;

	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (h == NULL || out == NULL)
		return DKV_ERR_INVAL;
	if (budget == 0)
		budget = DKV_LIN_BUDGET_DEFAULT;
	out->nops = h->nops;
	out->budget = budget;
	t.buf = malloc(1024);
	byk = check_zalloc(h->nops, sizeof(*byk));
	hidx = check_zalloc(h->nops, sizeof(*hidx));
	inits = check_zalloc(h->ninits, sizeof(*inits));
	if (t.buf == NULL || byk == NULL || hidx == NULL || inits == NULL)
		goto out;
	t.buf[0] = '\0';
	t.cap = 1024;

	/* initial values: sorted, the last call per key kept */
	if (h->ninits > 0)
		memcpy(inits, h->inits, h->ninits * sizeof(*inits));
	qsort(inits, h->ninits, sizeof(*inits), cmp_initial);
	for (i = 0; i < h->ninits; i++) {
		if (ninit > 0 && inits[ninit - 1].key == inits[i].key)
			ninit--;
		inits[ninit++] = inits[i];
	}

	/* the ops grouped by key, history order inside a key */
	for (i = 0; i < h->nops; i++) {
		byk[i].key = h->ops[i].key;
		byk[i].idx = (uint32_t)i;
	}
	qsort(byk, h->nops, sizeof(*byk), cmp_byk);
	for (i = 0; i < h->nops; i++) {
		hidx[i] = byk[i].idx;
		if (i == 0 || byk[i].key != byk[i - 1].key)
			nkeys++;
	}
	out->keys = nkeys > 0 ? calloc(nkeys, sizeof(*out->keys)) : NULL;
	if (nkeys > 0 && out->keys == NULL)
		goto out;
	out->nkeys = nkeys;
	for (i = 0, g = 0; i < h->nops; i = j, g++) {
		struct dkv_lin_key *k = &out->keys[g];

		for (j = i + 1; j < h->nops && byk[j].key == byk[i].key; j++)
			;
		k->key = byk[i].key;
		rc = check_key(h, hidx + i, j - i,
			       initial_of(inits, ninit, k->key), budget, k, &t,
			       &shown, &unshown);
		if (rc != 0)
			goto out;
		out->steps += k->steps;
		if (k->verdict == DKV_LIN_NOT_LINEARIZABLE)
			out->nviolations++;
		else if (k->verdict == DKV_LIN_UNKNOWN)
			out->nunknown++;
	}
	if (unshown > 0)
		tprintf(&t,
			"... and %" PRIu64 " more keys not linearizable or "
			"unknown, not explained\n",
			unshown);
	if (t.nomem)
		goto out;
	out->verdict = out->nviolations > 0 ? DKV_LIN_NOT_LINEARIZABLE
		       : out->nunknown > 0  ? DKV_LIN_UNKNOWN
					    : DKV_LIN_LINEARIZABLE;
	out->text = t.buf;
	t.buf = NULL;
	rc = 0;
out:
	free(t.buf);
	free(byk);
	free(hidx);
	free(inits);
	if (rc != 0) {
		free(out->keys);
		memset(out, 0, sizeof(*out));
		return rc;
	}
	return (int)out->verdict;
}
