/*
 * sim_check.c - what must hold at the end of every run:
 *
 *  - quiescence, within a bounded time after the faults stop: every node
 *    up, no transaction undecided anywhere, no intent, read lock or range
 *    lock, nothing parked, no durable write in flight, every outcome
 *    tombstone collected, no "T", "F", "I" or "D" record left;
 *  - no protocol violation counted by any participant;
 *  - the bank's total holds in the final state;
 *  - every list holds every OK append, no FAIL append, no value twice;
 *  - read stability: for every committed transaction, no key it read has
 *    a version between the one it read and its commit epoch (its ts for
 *    a read-only one, inclusive), and no key of a range it read has one
 *    between ts and the commit epoch: what it read still held when it
 *    committed. This is serializability at the epochs themselves, and
 *    catches a write landing under an epoch a shard should have merged;
 *  - the history (with a final read of every list) has no anomaly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "histcheck.h"
#include "sim.h"
#include "txn/intent.h"
#include "txn/util.h"

int sim_quiescent(struct sim *s, char *why, size_t cap)
{
	for (uint32_t i = 0; i < s->conf.clients; i++)
		if (s->clients[i].busy) {
			snprintf(why, cap, "client %u still has a transaction",
				 i);
			return 0;
		}
	for (uint32_t i = 0; i < s->conf.nodes; i++) {
		struct sim_node *n = &s->nodes[i];

		if (!n->up) {
			snprintf(why, cap, "node %u is down", i);
			return 0;
		}
		if (n->store.head != NULL) {
			snprintf(why, cap, "node %u has writes in flight", i);
			return 0;
		}
		for (uint32_t k = 0; k < n->nshards; k++) {
			struct txn_part_info info;

			txn_part_info(n->parts[k], &info);
			if (info.undecided || info.intents ||
			    info.range_locks || info.parked || info.batches ||
			    info.tombstones || info.txns || info.failed) {
				snprintf(why, cap,
					 "shard %u: %llu undecided, %llu "
					 "intents, %llu range locks, %llu "
					 "parked, %llu writes, %llu "
					 "tombstones, %llu txns, failed %d",
					 n->shards[k],
					 (unsigned long long)info.undecided,
					 (unsigned long long)info.intents,
					 (unsigned long long)info.range_locks,
					 (unsigned long long)info.parked,
					 (unsigned long long)info.batches,
					 (unsigned long long)info.tombstones,
					 (unsigned long long)info.txns,
					 info.failed);
				return 0;
			}
		}
		for (uint32_t k = 0; k < n->store.nsh; k++) {
			const struct sshard *sh = &n->store.sh[k];

			if (sh->npl > 0) {
				snprintf(why, cap,
					 "shard %u: %u records left, first "
					 "'%c'",
					 sh->id, sh->npl, sh->pl[0].key[0]);
				return 0;
			}
		}
	}
	return 1;
}

/* The newest version of key, or NULL (absent or deleted). */
static const struct sver *newest(struct sim *s, const char *key)
{
	uint32_t shard = sim_shard_of_key(key, strlen(key));
	struct sim_node *n = &s->nodes[sim_node_of_shard(s, shard)];
	const struct sshard *sh = sstore_shard(&n->store, shard, 0);
	const struct skey *k = sh ? sstore_key(sh, key, strlen(key)) : NULL;

	if (k == NULL || k->n == 0 || k->v[k->n - 1].del)
		return NULL;
	return &k->v[k->n - 1];
}

static int check_lists(struct sim *s)
{
	char key[32];
	int rc;

	rc = dkv_hist_begin(s->hist, ++s->next_hist_id);
	for (uint32_t k = 0; k < s->conf.lists && rc == 0; k++) {
		const struct sver *v;
		uint64_t *vals = NULL;
		uint32_t n = 0;
		uint8_t *seen;

		sim_list_key(key, sizeof(key), s, k);
		v = newest(s, key);
		if (v != NULL && v->vlen % 8 != 0) {
			sim_fail(s, "list %u: a value of %u bytes", k, v->vlen);
			return -1;
		}
		if (v != NULL && v->vlen > 0) {
			n = v->vlen / 8;
			vals = malloc(sizeof(*vals) * n);
			if (vals == NULL)
				abort();
			for (uint32_t i = 0; i < n; i++)
				vals[i] = txn_get_le64(v->val + 8 * i);
		}
		seen = calloc(s->app_cap[k] + 1, 1);
		if (seen == NULL)
			abort();
		for (uint32_t i = 0; i < n && !s->failed; i++) {
			uint64_t x = vals[i];

			if (x >= s->app_cap[k] || s->app_outcome[k][x] == 0)
				sim_fail(s, "list %u holds %llu, never "
					 "appended", k, (unsigned long long)x);
			else if (s->app_outcome[k][x] == SIM_APP_FAIL)
				sim_fail(s, "list %u holds %llu, appended by "
					 "an aborted transaction (atomicity)",
					 k, (unsigned long long)x);
			else if (seen[x])
				sim_fail(s, "list %u holds %llu twice", k,
					 (unsigned long long)x);
			else
				seen[x] = 1;
		}
		for (uint64_t x = 0; x < s->app_cap[k] && !s->failed; x++)
			if (s->app_outcome[k][x] == SIM_APP_OK && !seen[x])
				sim_fail(s, "list %u lost %llu, appended by "
					 "an acknowledged transaction", k,
					 (unsigned long long)x);
		free(seen);
		if (!s->failed)
			rc = dkv_hist_read(s->hist, k, vals, n);
		free(vals);
		if (s->failed) {
			dkv_hist_cancel(s->hist);
			return -1;
		}
	}
	if (rc == 0)
		rc = dkv_hist_end(s->hist, DKV_HIST_OK);
	if (rc != 0) {
		sim_fail(s, "history: %s", dkv_strerror(rc));
		return -1;
	}
	return 0;
}

static const struct skey *skey_of(struct sim *s, const char *key)
{
	uint32_t shard = sim_shard_of_key(key, strlen(key));
	struct sim_node *n = &s->nodes[sim_node_of_shard(s, shard)];
	const struct sshard *sh = sstore_shard(&n->store, shard, 0);

	return sh ? sstore_key(sh, key, strlen(key)) : NULL;
}

/* A version of k in (lo, hi) (hi inclusive if incl), else 0. */
static uint64_t version_between(const struct skey *k, uint64_t lo,
				uint64_t hi, int incl)
{
	for (uint32_t i = 0; k != NULL && i < k->n; i++)
		if (k->v[i].epoch > lo &&
		    (k->v[i].epoch < hi || (incl && k->v[i].epoch == hi)))
			return k->v[i].epoch;
	return 0;
}

static int check_stable(struct sim *s)
{
	for (size_t t = 0; t < s->nstab && !s->failed; t++) {
		const struct sim_stab *x = &s->stab[t];
		uint64_t hi = x->tc ? x->tc : x->ts, e;
		int incl = x->tc == 0;

		for (uint32_t i = 0; i < x->nreads; i++) {
			e = version_between(skey_of(s, x->reads[i].key),
					    x->reads[i].epoch, hi, incl);
			s->ctr.stable_checked++;
			if (e != 0) {
				sim_fail(s, "read stability: a transaction "
					 "read '%s' at epoch %llu (ts %llu) "
					 "and committed at %llu, but it has a "
					 "version at %llu",
					 x->reads[i].key,
					 (unsigned long long)x->reads[i].epoch,
					 (unsigned long long)x->ts,
					 (unsigned long long)x->tc,
					 (unsigned long long)e);
				return -1;
			}
		}
		for (uint32_t i = 0; i < x->nranges; i++) {
			const struct sim_srange *g = &x->ranges[i];
			struct sim_node *n =
				&s->nodes[sim_node_of_shard(s, g->shard)];
			const struct sshard *sh =
				sstore_shard(&n->store, g->shard, 0);

			for (uint32_t k = 0; sh != NULL && k < sh->nkeys; k++) {
				const struct skey *key = &sh->keys[k];

				if (!txn_key_in(key->key, key->klen, g->start,
						strlen(g->start), g->end,
						strlen(g->end)))
					continue;
				e = version_between(key, x->ts, hi, incl);
				if (e != 0) {
					sim_fail(s, "read stability: a range "
						 "read [%s, %s) at %llu, "
						 "committed at %llu, has '%.*s' "
						 "at %llu",
						 g->start, g->end,
						 (unsigned long long)x->ts,
						 (unsigned long long)x->tc,
						 (int)key->klen, key->key,
						 (unsigned long long)e);
					return -1;
				}
			}
		}
	}
	return 0;
}

int sim_check_final(struct sim *s)
{
	struct txn_part_stats ps;
	int64_t sum = 0;
	char key[32];

	for (uint32_t i = 0; i < s->conf.nodes; i++) {
		sim_node_stats(&s->nodes[i], &ps);
		if (ps.violations != 0) {
			sim_fail(s, "node %u counted %llu protocol violations",
				 i, (unsigned long long)ps.violations);
			return -1;
		}
	}
	for (uint32_t a = 0; a < s->conf.accts; a++) {
		const struct sver *v;

		sim_acct_key(key, sizeof(key), s, a);
		v = newest(s, key); /* absent (swept): 0 */
		if (v != NULL && v->vlen != 8) {
			sim_fail(s, "account %u holds %u bytes", a, v->vlen);
			return -1;
		}
		if (v != NULL)
			sum += (int64_t)txn_get_le64(v->val);
	}
	if (sum != s->bank_total) {
		sim_fail(s, "bank: the final total is %lld, not %lld",
			 (long long)sum, (long long)s->bank_total);
		return -1;
	}
	if (check_stable(s) != 0)
		return -1;
	return check_lists(s);
}

int sim_check_history(struct sim *s, int expect_clean)
{
	struct dkv_hist_report r;
	int rc = dkv_hist_check(s->hist, &r);

	if (rc < 0) {
		sim_fail(s, "history check: %s", dkv_strerror(rc));
		return -1;
	}
	for (int k = 0; k < DKV_HIST_NANOMALIES && k < 16; k++)
		s->anomalies[k] += r.count[k];
	s->anomaly_total += r.total;
	if (expect_clean && r.total != 0) {
		char first[400];
		size_t len = strcspn(r.text, "\n");

		snprintf(first, sizeof(first), "%.*s",
			 (int)(len < 300 ? len : 300), r.text);
		sim_fail(s, "history: %llu anomalies in %llu transactions; "
			 "first: %s",
			 (unsigned long long)r.total,
			 (unsigned long long)r.ntxns, first);
	}
	dkv_hist_report_free(&r);
	return s->failed ? -1 : 0;
}
