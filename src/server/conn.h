/*
 * conn.h - a client connection: reads and parses RESP, runs commands,
 * and writes replies in request order although some complete later.
 *
 * Replies: a command answered at once appends to `out`; a command that
 * completes later (a write on the committer, a read from disk) holds a
 * slot in a FIFO, and every reply after it goes into a slot of its own
 * until the slots ahead are done, so pipelined replies keep their order.
 *
 *   OPEN --EOF, error, QUIT, protocol error--> CLOSING --last request
 *   done, uv_close done--> freed
 *
 * Back-pressure: reading stops while the connection has more than
 * CONN_MAX_INFLIGHT requests in flight or more than CONN_MAX_OUT bytes of
 * replies unsent, and resumes when it drains.
 */
#ifndef DKV_SERVER_CONN_H
#define DKV_SERVER_CONN_H

#include <stdint.h>
#include <uv.h>

#include "common/sm.h"
#include "proto/resp.h"

#define CONN_MAX_INFLIGHT 1024
#define CONN_MAX_OUT (64u << 20)
#define CONN_READ_CHUNK (64u << 10)

enum conn_state { CONN_OPEN, CONN_CLOSING, CONN_NSTATES };

struct node;
struct conn_tx;

struct slot {
	struct slot *next;
	int done;
	struct resp_buf buf;
};

struct conn {
	uv_tcp_t tcp;
	struct node *node;
	struct dkv_sm sm;
	struct conn *prev, *next; /* the node's list */
	uint64_t id;
	int authed;
	int resp3;          /* HELLO 3 */
	int reading;        /* uv_read_start is on */
	int writing;        /* a uv_write is in flight */
	int close_after;    /* close once the replies are written (QUIT) */
	/* DKV.ROUTED: the map version this client routes by (0: it does
	 * not route; requests for other nodes' keys are forwarded). */
	uint64_t routed_version;
	struct resp_cmd_parser parser;
	struct resp_buf in;
	size_t in_parsed;   /* bytes of `in` consumed by parsed commands */
	struct resp_buf out;   /* replies ready to write */
	struct resp_buf wbuf;  /* the bytes of the uv_write in flight */
	uv_write_t wreq;
	struct slot *slots_head, *slots_tail;
	uint64_t inflight;  /* requests started, not yet completed */
	/* Local requests in flight by kind: a read waits for this
	 * connection's writes before it, and a write for its reads, so that
	 * each command sees exactly the commands sent before it. */
	uint64_t reads_inflight, writes_inflight;
	/* Replies completed off the read path are written once per loop
	 * iteration (conn_flush_pending), not one write(2) each. */
	struct conn_tx *mx;   /* MULTI / WATCH state (cmd_tx.c), or NULL */
	uint64_t txn_inflight; /* EXEC, MSET, WATCH running: later commands
				  wait for them */
	int in_dispatch;       /* conn_process is running a command */
	int flush_queued;
	struct conn *flush_next;
};

/* Accepts a connection on the node's listener. */
void conn_accept(struct node *n);

/* Where the reply of the command being run goes: `out`, or a new done
 * slot when replies are pending ahead of it. NULL on out-of-memory. */
struct resp_buf *conn_reply_buf(struct conn *c);
/* A slot for a reply that comes later; the caller fills slot->buf and
 * calls conn_slot_done(). NULL on out-of-memory. */
struct slot *conn_slot_open(struct conn *c);
void conn_slot_done(struct conn *c, struct slot *s);

/* Whether a command of these flags (CMD_READ / CMD_WRITE) must wait for
 * this connection's requests in flight. */
int conn_must_wait(const struct conn *c, unsigned flags);

/* For a stopping node: reads no more commands, answers those already
 * running, then closes. */
void conn_drain(struct conn *c);

/* Starts closing (idempotent): stops reading; frees when nothing is in
 * flight. */
void conn_close(struct conn *c);
/* A request of c completed (c->inflight--); frees a closing c if last.
 * Its reply is written by the next conn_flush_pending(). */
void conn_request_done(struct conn *c);

/* Writes the replies of every connection whose requests completed since
 * the last call: the node calls it after each loop iteration's I/O. */
void conn_flush_pending(struct node *n);

#endif /* DKV_SERVER_CONN_H */
