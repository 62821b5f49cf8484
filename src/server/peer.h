/*
 * peer.h - this node's links to the other nodes of the cluster: requests
 * for keys that another node owns are forwarded over them, and a
 * heartbeat runs on each (DKV.CLOCK every 250 ms: liveness, the peer's
 * epoch merged into this node's clock, and its wall clock measured for
 * the clock's fence, hlc.h).
 *
 *   DOWN --connect--> CONNECTING --connected--> UP
 *     ^                   |                      |
 *     +---- failed, -------+---- error, EOF, ----+
 *           retry after      heartbeat timeout
 *           backoff
 *
 * Forwarded requests are pipelined on one connection per peer; replies
 * come back in order and their raw bytes are relayed to the client, so
 * a forwarded request costs one extra loopback round trip. When a link
 * fails, every request waiting on it is answered with
 * "-TRYAGAIN node <id> unreachable" and the link reconnects.
 */
#ifndef DKV_SERVER_PEER_H
#define DKV_SERVER_PEER_H

#include <stdint.h>
#include <uv.h>

#include "common/sm.h"
#include "hlc/hlc.h"
#include "proto/resp.h"

struct node;
struct conn;
struct slot;

enum peer_state { PEER_DOWN, PEER_CONNECTING, PEER_UP, PEER_NSTATES };

/* A reply to a peer_call; r is NULL when the link failed. r and its
 * strings are valid only during the call. */
typedef void (*peer_reply_cb)(void *ctx, const struct resp_reply *r);

struct fwd {
	struct fwd *next;
	struct conn *conn; /* relay the raw reply to conn's slot, or */
	struct slot *slot;
	peer_reply_cb cb;  /* hand the parsed reply to cb; neither: the
			      node's own (heartbeat, AUTH) */
	void *ctx;
	int heartbeat;     /* DKV.CLOCK: probe taken when it was queued */
	struct dkv_hlc_probe probe;
};

struct peer {
	struct node *node;
	uint32_t id;
	char addr[256];
	struct dkv_sm sm;
	uv_tcp_t *tcp;       /* allocated per connection attempt */
	uv_connect_t connect;
	uv_timer_t timer;    /* reconnects and heartbeats */
	struct resp_buf out, wbuf, in;
	uv_write_t wreq;
	int writing;
	struct resp_reply_parser parser;
	struct fwd *head, *tail; /* waiting for replies, in order */
	uint64_t last_seen_ns;   /* last reply of any kind (monotonic) */
	uint64_t backoff_ms;
	uint64_t forwarded, failed;
	int flush_queued;    /* bytes in out, written at the end of the loop
			        iteration (peers_flush_pending) */
};

/* (Re)creates the peers from the node's map: one per other node. */
void peers_sync(struct node *n);
/* Writes what every peer queued during this loop iteration, one write
 * per link (node.c calls it from its check and idle handles). */
void peers_flush_pending(struct node *n);

/* Closes every link; pending requests are answered with an error. */
void peers_close(struct node *n);

/* Forwards cmd (its raw arguments) to node id; the reply goes to c's next
 * slot. Writes an error reply itself if the peer is unknown. */
void peer_forward(struct node *n, uint32_t id, struct conn *c,
		  const struct resp_cmd *cmd);

/* Sends a command to node id (this node's own id works too: a loopback
 * link) and calls cb with the reply. DKV_ERR_NOMEM, or DKV_ERR_NOT_FOUND
 * for an unknown node (cb is not called then). */
int peer_call(struct node *n, uint32_t id, size_t argc,
	      const char *const *argv, const size_t *argvlen,
	      peer_reply_cb cb, void *ctx);

/* peer_call with the command already encoded (bytes: one RESP command,
 * copied). */
int peer_call_encoded(struct node *n, uint32_t id, const char *bytes,
		      size_t len, peer_reply_cb cb, void *ctx);

/* Sends one command (bytes: encoded, copied) that the peer never answers
 * (DKV.TXNQ): no reply slot is kept. While the link is down the bytes are
 * dropped (the caller's protocol resends). DKV_ERR_NOT_FOUND for an
 * unknown node, DKV_ERR_NOMEM. */
int peer_send_oneway(struct node *n, uint32_t id, const char *bytes,
		     size_t len);

/* The peer with this id, or NULL. */
struct peer *peer_find(struct node *n, uint32_t id);

#endif /* DKV_SERVER_PEER_H */
