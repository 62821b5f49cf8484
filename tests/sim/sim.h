/*
 * sim.h - the deterministic simulator of the transaction layer: whole
 * clusters of simulated nodes (each with its own physical clock, HLC,
 * in-memory multi-version store and transaction participants) and
 * simulated clients (coordinators) in one process, driven by one event
 * queue ordered by (time, sequence) and one seeded PRNG. A seed
 * reproduces a run exactly.
 *
 *   sim_core.c    PRNG, event queue, the run: phases, faults, ticks
 *   sim_store.c   a node's store: durable versions and plain records,
 *                 batches in flight (completed in order, lost on crash)
 *   sim_node.c    nodes: io tables, crash and restart, the network
 *   sim_client.c  clients: bank and list-append workloads, the history
 *   sim_check.c   the checks at the end of a run, counters
 *   test_sim.c    the cmocka cases
 *
 * Faults: per-message delay, loss, duplication, reordering (slow
 * messages, some older than half the horizon when they arrive),
 * partitions between any two endpoints (some longer than a coordinator's
 * deadline); node clocks with offset, drift and jumps forwards and
 * backwards (within and beyond the max offset); node crashes at random
 * moments and at chosen ones (right after a batch that writes a
 * transaction record is submitted), some long; durable writes with random
 * completion delays; coordinators that abandon a transaction before or
 * after sending its commit.
 *
 * Checks (sim_check.c, sim_client.c): the bank total in every read-all
 * and at the end; the list-append history (tests/check/histcheck.h);
 * read stability at the epochs; real-time order while clocks are within
 * bounds; every acknowledged append present, no aborted one; quiescence
 * within conf.settle_us after the faults stop; the store's epoch order.
 */
#ifndef DKV_TESTS_SIM_H
#define DKV_TESTS_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "hlc/hlc.h"
#include "txn/coord.h"
#include "txn/part.h"
#include "txn/txn_io.h"

#define SIM_MAX_NODES 5
#define SIM_MAX_SHARDS 10
#define SIM_MAX_CLIENTS 8
#define SIM_MAX_LISTS 16
#define SIM_MAX_ACCTS 16
#define SIM_EP_MAX (SIM_MAX_NODES + SIM_MAX_CLIENTS)
#define SIM_MS 1000u /* sim time is in microseconds */

/* --- PRNG: xoshiro256**, seeded by splitmix64 --------------------------- */
struct sim_rng {
	uint64_t s[4];
};
void rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t rng_next(struct sim_rng *r);
uint64_t rng_below(struct sim_rng *r, uint64_t n); /* [0, n) */
uint64_t rng_range(struct sim_rng *r, uint64_t lo, uint64_t hi); /* [lo,hi] */
int rng_chance(struct sim_rng *r, uint32_t per_million);

/* --- counters printed at the end of a run --------------------------------- */
#define SIM_COUNTERS(X)                                                        \
	X(crash, "node crashes")                                               \
	X(crash_targeted, "crashes right after a record write was submitted")  \
	X(crash_lost_preparing, "crash lost an in-flight T PREPARING write "  \
				"(leader died before PREPARING)")              \
	X(crash_lost_committed, "crash lost an in-flight T COMMITTED write "  \
				"(leader died between PREPARING and COMMITTED)")\
	X(crash_lost_prepared, "crash lost an in-flight F PREPARED write "    \
			       "(follower died before preparing)")             \
	X(crash_durable_preparing, "crash with a durable T PREPARING "        \
				   "(leader died before COMMITTED)")           \
	X(crash_durable_committed, "crash with a durable T COMMITTED "        \
				   "(leader died before every ACK)")           \
	X(crash_durable_prepared, "crash with a durable F PREPARED "          \
				  "(follower died after preparing)")           \
	X(restart, "node restarts")                                            \
	X(partition, "partitions")                                             \
	X(clock_jump, "clock jumps")                                           \
	X(clock_jump_beyond, "clock jumps beyond the max offset")             \
	X(clock_jump_back, "clock jumps backwards")                            \
	X(msg_sent, "messages sent")                                           \
	X(msg_lost, "messages lost (loss, partition, node down)")             \
	X(msg_dup, "messages duplicated")                                     \
	X(msg_slow, "messages delayed (reordered)")                            \
	X(batches, "durable batches")                                          \
	X(coord_abandon, "coordinators gone after sending the commit")         \
	X(coord_abandon_early, "coordinators gone before the commit")         \
	X(txn_ok, "transactions OK")                                           \
	X(txn_fail, "transaction attempts FAIL (restart)")                     \
	X(txn_info, "transactions INFO (outcome unknown)")                     \
	X(bank_reads, "bank read-all transactions checked")                    \
	X(list_reads, "list reads recorded")                                   \
	X(range_reads, "range reads")                                          \
	X(realtime_checked, "reads checked for real-time order")             \
	X(stable_checked, "reads checked stable up to the commit epoch")     \
	X(restart_wait, "restarts that waited for the clock to pass the bound")\
	X(events, "events")

struct sim_counters {
#define SIM_CTR_FIELD_(n, t) uint64_t n;
	SIM_COUNTERS(SIM_CTR_FIELD_)
#undef SIM_CTR_FIELD_
};

/* --- the store of one node ------------------------------------------------ */
struct sver {
	uint64_t epoch;
	int del;
	char *val;
	uint32_t vlen;
};

struct skey {
	char *key;
	uint32_t klen;
	struct sver *v; /* ascending epochs */
	uint32_t n, cap;
};

struct splain {
	char *key;
	uint32_t klen;
	char *val;
	uint32_t vlen;
};

struct sshard {
	uint32_t id;
	struct skey *keys; /* sorted */
	uint32_t nkeys, kcap;
	struct splain *pl; /* sorted */
	uint32_t npl, plcap;
};

struct sbatch {
	struct sbatch *next;
	uint64_t seq;
	struct txn_batch b; /* a deep copy */
	txn_done_fn done;
	void *arg;
};

struct sim_store {
	struct sshard sh[SIM_MAX_SHARDS];
	uint32_t nsh;
	struct sbatch *head, *tail; /* in flight, FIFO */
	uint64_t next_seq;
	uint64_t last_done_us; /* completions stay in submission order */
	char *err;             /* first invariant broken (epoch order) */
};

void sstore_init(struct sim_store *s);
void sstore_fini(struct sim_store *s);
struct sshard *sstore_shard(struct sim_store *s, uint32_t id, int create);
void sstore_drop_inflight(struct sim_store *s);
/* Applies a batch to the durable state. */
void sstore_apply(struct sim_store *s, const struct txn_batch *b);
const struct skey *sstore_key(const struct sshard *sh, const char *key,
			      size_t klen);
const struct sver *sstore_version(const struct skey *k, uint64_t epoch);
/* io ops over a node's store (ctx = struct sim_node *). */
int sstore_get(void *ctx, uint32_t shard, const char *key, size_t klen,
	       uint64_t epoch, struct txn_version *out);
int sstore_range(void *ctx, uint32_t shard, const char *start, size_t slen,
		 const char *end, size_t elen, uint64_t epoch,
		 txn_version_cb cb, void *arg);
int sstore_scan_plain(void *ctx, uint32_t shard, const char *prefix,
		      size_t plen, txn_plain_cb cb, void *arg);
int sstore_submit(void *ctx, const struct txn_batch *b, txn_done_fn done,
		  void *arg);

/* --- nodes and clients ---------------------------------------------------- */
struct sim;

struct sim_clock {
	int64_t base_ns; /* fixed offset from true time */
	int64_t drift_ppb;
	int64_t jump_ns; /* current jump */
};

struct sim_node {
	struct sim *sim;
	int idx;
	int up;
	uint32_t inc; /* incarnation: stale events are dropped */
	struct sim_clock clk;
	uint64_t bound; /* the HLC's persisted bound (durable) */
	struct dkv_hlc *hlc;
	struct sim_store store;
	uint32_t shards[SIM_MAX_SHARDS];
	uint32_t nshards;
	struct txn_part *parts[SIM_MAX_SHARDS];
	struct txn_part_stats dead_stats; /* of incarnations gone */
};

enum sim_kind { K_BANK_XFER, K_BANK_READ, K_LIST };
enum sim_lop { L_READ, L_APPEND, L_RANGE, L_BLIND, L_REG };

struct sim_op {
	int kind; /* enum sim_lop */
	uint32_t key; /* list index; shard for L_RANGE; register L_BLIND */
};

/* A micro-operation of the history, buffered until the attempt ends. */
struct sim_mop {
	int is_read;
	uint32_t key;
	uint64_t value; /* append */
	uint64_t *v;    /* read: malloc'ed */
	uint32_t n;
};

struct sim_cbarg {
	struct sim_client *c;
	uint32_t i;
	char key[24]; /* the key read */
};

/* A read of an attempt with the epoch of the version read, and a range
 * read: kept for the read-stability check of committed transactions. */
struct sim_sread {
	char key[24];
	uint64_t epoch;
};

struct sim_srange {
	uint32_t shard;
	char start[24], end[24];
};

#define SIM_MAX_SREADS 96
#define SIM_MAX_SRANGES 8

/* A committed transaction as the read-stability check needs it. */
struct sim_stab {
	uint64_t ts, tc; /* tc == 0: read-only, its reads hold at ts */
	uint32_t nreads, nranges;
	struct sim_sread *reads;   /* malloc'ed */
	struct sim_srange *ranges; /* malloc'ed */
};

#define SIM_MAX_MOPS 80

struct sim_client {
	struct sim *sim;
	int idx;
	uint32_t inc;
	uint64_t coord_id;
	struct sim_clock clk;
	struct dkv_hlc *hlc;
	struct txn_coord *coord;
	struct txn_coord_stats dead_stats;
	struct txn_tx *tx;
	int busy;         /* a logical transaction is running */
	int retry;        /* the next step restarts the attempt */
	int dead;         /* the attempt failed: late callbacks are ignored */
	int outstanding;  /* reads in flight */
	int kind;         /* enum sim_kind */
	int attempt;
	uint64_t begin;   /* sim time the attempt began (its ts was drawn) */
	uint64_t first;   /* ... and the first attempt: the transaction */
	int step;
	/* bank */
	uint32_t a, b;
	int64_t amount;
	int sweep; /* move everything and delete the source account */
	int64_t bal[SIM_MAX_ACCTS];
	struct sim_cbarg args[SIM_MAX_ACCTS];
	/* list */
	struct sim_op ops[8];
	int nops;
	struct sim_mop mops[SIM_MAX_MOPS];
	int nmops;
	int range_first;      /* the reads of the range in progress */
	uint32_t range_limit; /* its page size (0: one page) */
	struct sim_sread sreads[SIM_MAX_SREADS];
	uint32_t nsreads;
	struct sim_srange sranges[SIM_MAX_SRANGES];
	uint32_t nsranges;
	uint64_t ts; /* of the attempt, taken at commit */
	uint64_t tc; /* its commit epoch; 0 for a read-only one */
};

/* --- the simulation --------------------------------------------------------- */
struct sim_conf {
	uint64_t seed;
	uint32_t nodes, shards, clients, lists, accts;
	uint64_t work_us;  /* workload phase */
	uint64_t settle_us; /* the most the end phase may take */
	uint32_t loss_ppm, dup_ppm, slow_ppm;
	uint64_t crash_mean_us; /* 0: no random crashes */
	uint32_t target_crash_ppm;
	uint64_t partition_mean_us;
	uint64_t jump_mean_us;
	uint64_t max_offset_ns;
	uint32_t abandon_ppm;
	int skip_read_validation; /* the test knob */
	int verbose;
	int trace; /* every message and client step (DKV_SIM_TRACE=1) */
};

struct ev {
	uint64_t t, seq;
	uint32_t kind;
	uint32_t a;
	uint64_t b;
	void *p;
};

struct sim {
	struct sim_conf conf;
	struct sim_rng rng;
	uint64_t now; /* us */
	struct ev *heap;
	size_t nheap, capheap;
	uint64_t seq;
	int faults; /* workload phase: faults on */
	int stopping; /* clients start nothing new */
	struct sim_node nodes[SIM_MAX_NODES];
	struct sim_client clients[SIM_MAX_CLIENTS];
	uint32_t blocked[SIM_EP_MAX][SIM_EP_MAX]; /* partitions */
	struct txn_part_conf pconf;
	struct txn_coord_conf cconf;
	struct sim_counters ctr;
	struct txn_part_stats pstats;  /* summed at the end */
	struct txn_coord_stats cstats;
	/* workload state */
	uint64_t next_value[SIM_MAX_LISTS];
	int64_t bank_total;
	struct dkv_hist *hist;
	uint64_t next_hist_id;
	/* outcomes of appends: value -> OK / FAIL / INFO, per list; for OK
	 * ones when they were acknowledged and when their attempt began */
	uint8_t *app_outcome[SIM_MAX_LISTS];
	uint64_t *app_ack[SIM_MAX_LISTS];
	uint64_t *app_begin[SIM_MAX_LISTS];
	uint64_t app_cap[SIM_MAX_LISTS];
	/* spans when some clock is (or an HLC may still be) off by more
	 * than the base skew: real-time order is not promised there */
	struct {
		uint64_t from, to;
	} bad[256];
	uint32_t nbad;
	int bad_overflow;
	struct sim_stab *stab; /* committed transactions, for the check */
	size_t nstab, capstab;
	char err[512]; /* first failure of the run */
	int failed;
	/* anomalies found by the checker (by kind), for the knob test */
	uint64_t anomalies[16];
	uint64_t anomaly_total;
};

/* sim_core.c */
void sim_conf_default(struct sim_conf *c, uint64_t seed);
/* Runs one seed; 0 if every check passed, else -1 with sim->err set. The
 * sim is torn down before it returns (counters and stats remain). */
int sim_run(struct sim *s, const struct sim_conf *conf);
void sim_fail(struct sim *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sim_schedule(struct sim *s, uint64_t at, uint32_t kind, uint32_t a,
		  uint64_t b, void *p);
uint64_t sim_clock_ns(const struct sim *s, const struct sim_clock *c);

enum sim_ev {
	EV_MSG = 1,
	EV_BATCH,
	EV_NODE_TICK,
	EV_CLIENT_TICK,
	EV_CLIENT_STEP,
	EV_CRASH,
	EV_RESTART,
	EV_FAULT,
	EV_JUMP_END,
	EV_HEAL,
	EV_END_FAULTS,
};

/* sim_node.c */
uint32_t sim_shard_of_key(const char *key, size_t klen);
int sim_node_of_shard(const struct sim *s, uint32_t shard);
void sim_node_init(struct sim *s, int idx);
int sim_node_start(struct sim_node *n); /* create HLC, parts, recover */
void sim_node_crash(struct sim_node *n);
void sim_node_fini(struct sim_node *n);
void sim_node_tick(struct sim_node *n);
void sim_batch_done(struct sim_node *n, uint64_t seq);
/* endpoints: node i = i, client j = nodes + j */
void sim_net_send(struct sim *s, int src_ep, const struct txn_msg *msg);
void sim_net_deliver(struct sim *s, void *p);
void sim_net_free(void *p);
void sim_node_stats(struct sim_node *n, struct txn_part_stats *out);

/* sim_client.c */
void sim_client_init(struct sim *s, int idx);
void sim_client_fini(struct sim_client *c);
void sim_client_step(struct sim_client *c);
void sim_client_tick(struct sim_client *c);
void sim_client_recv(struct sim_client *c, const struct txn_msg *msg);
void sim_client_stats(struct sim_client *c, struct txn_coord_stats *out);
void sim_list_key(char *buf, size_t cap, const struct sim *s, uint32_t k);
void sim_acct_key(char *buf, size_t cap, const struct sim *s, uint32_t a);
/* Outcome bookkeeping of appended values. */
#define SIM_APP_OK 1
#define SIM_APP_FAIL 2
#define SIM_APP_INFO 3

/* Whether clocks kept their bounds over [from, to]. */
int sim_clocks_good(const struct sim *s, uint64_t from, uint64_t to);

/* sim_check.c */
/* 1 when the cluster is quiescent (every outcome resolved, no intents). */
int sim_quiescent(struct sim *s, char *why, size_t cap);
/* The final checks; 0 or -1 (sim_fail called). */
int sim_check_final(struct sim *s);
/* The history check; 0 or -1; anomalies recorded in s. */
int sim_check_history(struct sim *s, int expect_clean);

#endif /* DKV_TESTS_SIM_H */
