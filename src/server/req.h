/*
 * req.h - a request that leaves the loop thread: writes to the committer,
 * reads that must touch the disk. It owns copies of its arguments (the
 * connection's input buffer moves on) and a reply slot on its connection.
 * Completion always runs on the loop thread (req_complete), which fills
 * the slot and releases the connection's hold.
 */
#ifndef DKV_SERVER_REQ_H
#define DKV_SERVER_REQ_H

#include <stdatomic.h>
#include <uv.h>

#include "server/apply.h"
#include "server/cmd.h"

struct conn;
struct slot;

enum req_kind { REQ_WRITE, REQ_READ };

struct req {
	struct req *next_done; /* the node's completion queue */
	enum req_kind kind;
	enum cmd_id id;
	uint64_t t0;           /* dispatch time, for latency statistics */
	struct conn *conn;
	struct slot *slot;
	atomic_int pending;    /* writes: commands not yet done */
	size_t n;              /* commands / keys */
	struct dkv_cmd *cmds;  /* n of them (writes) */
	uint32_t *shards;      /* n of them (reads) */
	int rc;                /* reads: first error */
	uint64_t cache_gen;    /* reads: rcache_gen() when sent off the loop */
	struct dkv_val *vals;  /* reads: n of them */
	int *found;
	uv_work_t work;
	struct dkv_range range;  /* DKV.RANGE */
	int with_epochs;
	struct resp_buf items;   /* DKV.RANGE: the items, encoded */
	size_t nitems;
	struct dkv_buf next;     /* DKV.RANGE: resume anchor */
	size_t argc;
	char **argv;           /* copies, in one allocation with argvlen */
	size_t *argvlen;
};

/* Moves r to its node's completion queue (any thread). */
void req_post(struct req *r);

/* For commands in other files (cmd_kv.c owns the request life cycle):
 * a read request with copies of cmd's arguments and n keys; req_begin
 * takes its reply slot; req_complete_raw completes a request whose slot
 * the caller has filled; req_discard frees one never begun. */
struct req *req_new_read(struct conn *c, enum cmd_id id,
			 const struct resp_cmd *cmd, size_t n);
int req_begin(struct req *r);
void req_complete_raw(struct req *r);
void req_discard(struct req *r);

#endif /* DKV_SERVER_REQ_H */
