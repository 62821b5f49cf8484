/*
 * cmd.h - the commands a node serves, from one table.
 *
 * DKV_COMMANDS lists every command once: its name, Redis arity (n > 0:
 * exactly n words with the name; n < 0: at least -n), flags, and the
 * handler. The dispatcher, COMMAND's reply and the per-command statistics
 * in INFO are all generated from it.
 */
#ifndef DKV_SERVER_CMD_H
#define DKV_SERVER_CMD_H

#include <stdint.h>
#include <uv.h>

#include "proto/resp.h"
#include "server/apply.h"

struct conn;
struct node;

#define CMD_NOAUTH 0x1   /* allowed before AUTH */
#define CMD_READ 0x2     /* reads keys */
#define CMD_WRITE 0x4    /* writes keys */
#define CMD_FAST 0x8     /* answered on the loop thread */
#define CMD_ADMIN 0x10   /* cluster administration */
#define CMD_TXCTL 0x20   /* runs even while MULTI queues (MULTI, EXEC...) */
#define CMD_BARRIER 0x40 /* waits for every request in flight before it */
#define CMD_NOREPLY 0x80 /* never answered (one way, node to node): a
			    request the node cannot run closes the
			    connection instead of an error reply */

/* X(ID, "name", arity, flags, first_key, last_key, step, handler) */
#define DKV_COMMANDS(X)                                                        \
	X(PING, "ping", -1, CMD_NOAUTH | CMD_FAST, 0, 0, 0, cmd_ping)          \
	X(ECHO, "echo", 2, CMD_FAST, 0, 0, 0, cmd_echo)                        \
	X(HELLO, "hello", -1, CMD_NOAUTH | CMD_FAST, 0, 0, 0, cmd_hello)       \
	X(AUTH, "auth", -2, CMD_NOAUTH | CMD_FAST, 0, 0, 0, cmd_auth)          \
	X(DKV_PEER, "dkv.peer", 2, CMD_NOAUTH | CMD_FAST, 0, 0, 0, cmd_dkv_peer) \
	X(QUIT, "quit", -1, CMD_NOAUTH | CMD_FAST, 0, 0, 0, cmd_quit)          \
	X(SELECT, "select", 2, CMD_FAST, 0, 0, 0, cmd_select)                  \
	X(CLIENT, "client", -2, CMD_FAST, 0, 0, 0, cmd_client)                 \
	X(COMMAND, "command", -1, CMD_FAST, 0, 0, 0, cmd_command)              \
	X(INFO, "info", -1, CMD_FAST, 0, 0, 0, cmd_info)                       \
	X(GET, "get", 2, CMD_READ | CMD_FAST, 1, 1, 1, cmd_get)                \
	X(MGET, "mget", -2, CMD_READ | CMD_FAST, 1, -1, 1, cmd_mget)           \
	X(EXISTS, "exists", -2, CMD_READ | CMD_FAST, 1, -1, 1, cmd_exists)     \
	X(SET, "set", -3, CMD_WRITE, 1, 1, 1, cmd_set)                         \
	X(SETNX, "setnx", 3, CMD_WRITE, 1, 1, 1, cmd_setnx)                    \
	X(DEL, "del", -2, CMD_WRITE, 1, -1, 1, cmd_del)                        \
	X(INCR, "incr", 2, CMD_WRITE, 1, 1, 1, cmd_incr)                       \
	X(DECR, "decr", 2, CMD_WRITE, 1, 1, 1, cmd_decr)                       \
	X(INCRBY, "incrby", 3, CMD_WRITE, 1, 1, 1, cmd_incrby)                 \
	X(DECRBY, "decrby", 3, CMD_WRITE, 1, 1, 1, cmd_decrby)                 \
	X(APPEND, "append", 3, CMD_WRITE, 1, 1, 1, cmd_append)                 \
	X(DKV_RANGE, "dkv.range", -3, CMD_READ, 1, 2, 1, cmd_dkv_range)         \
	X(DKV_SHARDOF, "dkv.shardof", 2, CMD_FAST, 0, 0, 0, cmd_dkv_shardof)   \
	X(DKV_MAP, "dkv.map", 1, CMD_FAST, 0, 0, 0, cmd_dkv_map)               \
	X(DKV_SETMAP, "dkv.setmap", 2, CMD_ADMIN, 0, 0, 0, cmd_dkv_setmap)     \
	X(DKV_EPOCH, "dkv.epoch", 1, CMD_FAST, 0, 0, 0, cmd_dkv_epoch)         \
	X(DKV_CLOCK, "dkv.clock", 1, CMD_FAST, 0, 0, 0, cmd_dkv_clock)         \
	X(DKV_ROUTED, "dkv.routed", 2, CMD_FAST, 0, 0, 0, cmd_dkv_routed)     \
	X(DKV_GC, "dkv.gc", -1, CMD_ADMIN, 0, 0, 0, cmd_dkv_gc)               \
	X(DKV_TXN, "dkv.txn", -7, 0, 0, 0, 0, cmd_dkv_txn)                   \
	X(DKV_TXNQ, "dkv.txnq", -7, CMD_NOREPLY, 0, 0, 0, cmd_dkv_txnq)      \
	X(MULTI, "multi", 1, CMD_FAST | CMD_TXCTL, 0, 0, 0, cmd_multi)        \
	X(EXEC, "exec", 1, CMD_TXCTL | CMD_BARRIER, 0, 0, 0, cmd_exec)        \
	X(DISCARD, "discard", 1, CMD_FAST | CMD_TXCTL, 0, 0, 0, cmd_discard)  \
	X(WATCH, "watch", -2, CMD_TXCTL | CMD_BARRIER, 1, -1, 1, cmd_watch)   \
	X(UNWATCH, "unwatch", 1, CMD_FAST | CMD_TXCTL, 0, 0, 0, cmd_unwatch)  \
	X(MSET, "mset", -3, CMD_WRITE | CMD_BARRIER, 1, -1, 2, cmd_mset)      \
	X(DKV_SNAPSHOT, "dkv.snapshot", -2, CMD_ADMIN, 0, 0, 0, cmd_dkv_snapshot) \
	X(DKV_SNAPX, "dkv.snapx", -2, CMD_ADMIN, 0, 0, 0, cmd_dkv_snapx)     \
	X(DKV_AT, "dkv.at", -4, CMD_READ | CMD_BARRIER, 0, 0, 0, cmd_dkv_at)

enum cmd_id {
#define CMD_ENUM_(id, name, arity, flags, fk, lk, st, fn) CMD_##id,
	DKV_COMMANDS(CMD_ENUM_)
#undef CMD_ENUM_
	CMD_COUNT
};

struct cmd_def {
	enum cmd_id id;
	const char *name;
	int arity;
	unsigned flags;
	int first_key, last_key, step;
	void (*fn)(struct conn *c, const struct resp_cmd *cmd);
};

#define CMD_DECL_(id, name, arity, flags, fk, lk, st, fn)                      \
	void fn(struct conn *c, const struct resp_cmd *cmd);
DKV_COMMANDS(CMD_DECL_)
#undef CMD_DECL_

/* Whether cmd must wait for c's requests in flight (conn_must_wait
 * with the command's flags). */
int cmd_must_wait(const struct conn *c, const struct resp_cmd *cmd);

/* Runs one parsed command on c (auth, arity, then the handler). */
void cmd_dispatch(struct conn *c, const struct resp_cmd *cmd);
/* MULTI state of a connection (cmd_tx.c). */
struct conn;
struct resp_cmd;
int conn_tx_queueing(const struct conn *c);
void conn_tx_queue(struct conn *c, enum cmd_id id, const struct resp_cmd *cmd);
void conn_tx_mark_dirty(struct conn *c);
void conn_tx_free(struct conn *c);

/* The command table, CMD_COUNT entries, in DKV_COMMANDS order. */
const struct cmd_def *cmd_table(void);
/* Calls of each command since start, for INFO commandstats. */
uint64_t cmd_calls(enum cmd_id id);

/* Latency accounting (INFO commandstats and latencystats): the time from
 * dispatch to the reply being ready, for the commands this node answers
 * itself (a forwarded command is counted by the node that serves it).
 * cmd_dispatch records commands answered at once; a request that leaves
 * the loop records itself at completion with the start time it got from
 * cmd_dispatch_start(). */
uint64_t cmd_dispatch_start(void);
void cmd_record(enum cmd_id id, uint64_t start_ns);
uint64_t cmd_now_ns(void);

/* MGET, DEL, EXISTS with keys on several nodes (cmd_multi.c). */
void cmd_gather(struct conn *c, const struct resp_cmd *cmd, enum cmd_id id);

/* Redis error texts for dkv codes ("ERR ...", "WRONGTYPE ..."). */
void cmd_put_err(struct resp_buf *b, int rc);

/* Completions of requests that left the loop thread; run on the loop. */
struct req;
void req_complete(struct req *r);

#endif /* DKV_SERVER_CMD_H */
