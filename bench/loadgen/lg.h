/*
 * lg.h - dkv-bench, the comparison benchmark's load generator for RESP
 * systems (dkv, Redis, and the echo server of the loopback ceiling).
 * The contract it follows (flags, workloads, keys, JSON output) is
 * bench/workloads.md; bench/bench.py runs it.
 *
 * Layout:
 *   main.c      options, connecting, threads, the JSON/text result
 *   loop.c      one epoll loop per thread: non-blocking connections, the
 *               reply stream, timeouts, run bounds
 *   workload.c  what each workload sends and how it reads the replies
 *   hist.c      latency histograms (log-linear, < 1% relative error)
 *   keys.c      random streams, zipfian choice, key and value bytes
 *   echo.c      --serve-echo: the trivial RESP server of the ceiling
 *
 * Every client is one connection running closed-loop operations; with
 * --pipeline P a client keeps up to P one-request operations in flight.
 */
#ifndef DKV_BENCH_LG_H
#define DKV_BENCH_LG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/resp.h"

enum lg_system { LG_DKV, LG_REDIS, LG_ECHO };

enum lg_workload {
	LG_W_LOAD,
	LG_W_LOAD_T,
	LG_W_A,
	LG_W_B,
	LG_W_C,
	LG_W_E,
	LG_W_F,
	LG_W_T,
};

/* Operation kinds: one latency histogram each (by_op in the output). */
enum lg_op {
	LG_OP_READ,
	LG_OP_UPDATE,
	LG_OP_SCAN,
	LG_OP_RMW,
	LG_OP_TRANSFER,
	LG_OP_LOAD,
	LG_OP_N,
};

/* --- histograms (hist.c) --- */

#define LG_HIST_SUB 8 /* significant bits kept: error <= 1/128 */
#define LG_HIST_BUCKETS (256 + 40 * 128)

struct lg_hist {
	uint64_t n;
	uint64_t min, max; /* ns */
	double sum;        /* ns */
	uint64_t b[LG_HIST_BUCKETS];
};

void lg_hist_init(struct lg_hist *h);
void lg_hist_add(struct lg_hist *h, uint64_t ns);
void lg_hist_merge(struct lg_hist *into, const struct lg_hist *h);
/* Nearest-rank percentile p (0..100) in ns; 0 when empty. */
double lg_hist_pct(const struct lg_hist *h, double p);

/* --- random streams, keys, values (keys.c) --- */

struct lg_rng {
	uint64_t s;
};

void lg_rng_seed(struct lg_rng *r, uint64_t seed);
uint64_t lg_rng_next(struct lg_rng *r);
/* Uniform in [0, n). */
uint64_t lg_rng_below(struct lg_rng *r, uint64_t n);
double lg_rng_unit(struct lg_rng *r); /* [0, 1) */

/* YCSB's scrambled zipfian over [0, n), theta 0.99 (keys.c). Built once,
 * read by every thread (no state changes after lg_zipf_init). */
struct lg_zipf {
	uint64_t n;
	double alpha, eta, zeta2;
};

void lg_zipf_init(struct lg_zipf *z, uint64_t n);
uint64_t lg_zipf_next(const struct lg_zipf *z, struct lg_rng *r);

/* Record i's key "k{GGGGGGG}IIIIIIIII" into buf (>= 32 bytes); its
 * length. The group's scan bound "k{GGGGGGG}\xff" with lg_group_end. */
size_t lg_record_key(char *buf, uint64_t i);
size_t lg_group_end(char *buf, uint64_t i);
/* Account j's key: "acct:JJJJJJ" or, for Redis, "{acct}:JJJJJJ". */
size_t lg_account_key(char *buf, uint64_t j, int redis);
/* Fills v[0..len) with printable ASCII from r. */
void lg_fill_value(char *v, size_t len, struct lg_rng *r);

/* --- the run (main.c sets it up, loop.c and workload.c read it) --- */

struct lg_conf {
	enum lg_system system;
	enum lg_workload workload;
	const char *workload_name;
	int zipfian;
	unsigned clients, threads, pipeline;
	uint64_t keys, accounts;
	size_t value_size;
	double seconds;
	uint64_t max_ops;
	unsigned scan_max;
	uint64_t seed;
	double timeout;
	int json;
	struct lg_zipf zipf_keys, zipf_accounts;
};

/* Shared state of a run. */
struct lg_run {
	const struct lg_conf *conf;
	uint64_t t_start_ns;
	uint64_t deadline_ns;     /* 0: none (load) */
	atomic_uint_fast64_t issued; /* operations started, against max_ops */
	atomic_int fatal;         /* set once; every thread stops */
	char fatal_msg[256];      /* written by the thread that set fatal */
};

/* Sets the run's fatal error (first caller wins); printf-style. */
void lg_fatal(struct lg_run *run, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

uint64_t lg_now_ns(void);

/* One operation in flight on a connection (a FIFO of them). */
struct lg_pending {
	enum lg_op op;
	uint64_t t0;        /* first request sent */
	unsigned expect;    /* replies due for the current step */
	unsigned got;       /* replies read of the current step */
	int step;           /* workload-defined */
	int failed;         /* an error reply was seen in this step */
	int64_t a, b;       /* workload scratch (T: balances) */
	uint64_t ka, kb;    /* workload scratch (record, accounts) */
	int64_t amount;
	unsigned attempts;
};

#define LG_MAX_PIPELINE 256

/* One client: one connection. */
struct lg_client {
	unsigned id;
	int fd;
	struct lg_run *run;
	struct lg_rng rng;
	struct resp_buf out;       /* requests not yet written */
	char *in;                  /* bytes read, not yet parsed */
	size_t in_len, in_cap;
	struct resp_reply_parser parser;
	struct lg_pending q[LG_MAX_PIPELINE]; /* ring */
	unsigned q_head, q_len;
	uint64_t last_progress_ns; /* last reply (or first send) */
	uint64_t next_load;        /* load: next record or account */
	int need_unwatch;          /* T: an error left a WATCH behind */
	int done;                  /* issues nothing more */
	char *value;               /* value_size bytes, this client's */
	/* results */
	uint64_t ops, errors, aborts, gave_up;
	uint64_t last_done_ns;
	struct lg_hist *hist;      /* LG_OP_N histograms */
};

/* --- workload.c --- */

/* Starts operations while the bounds allow (up to the pipeline depth).
 * Returns 0, or -1 after lg_fatal. */
int lg_work_issue(struct lg_client *c);
/* Handles one reply for the operation at the head of the FIFO. */
int lg_work_reply(struct lg_client *c, const struct resp_reply *r);

/* --- loop.c --- */

/* Runs the clients c[0..n) to the end of the run on this thread. */
void lg_loop_run(struct lg_client *c, unsigned n);

/* --- echo.c --- */

int lg_echo_serve(int port, size_t value_size);

#endif
