/*
 * conn.h - one blocking RESP connection to a node, with deadlines.
 *
 * Internal to libdkv (and to the dkv tool, which links the static variant
 * for cluster administration: PING, INFO, DKV.MAP, DKV.SETMAP to a chosen
 * node). A connection is used by one thread at a time. Every wait (connect,
 * send, receive) is bounded by an absolute deadline on CLOCK_MONOTONIC, in
 * milliseconds (dkv_now_ms()).
 *
 * Errors: DKV_ERR_INVAL (bad address), DKV_ERR_IO (resolve, connect, send,
 * receive failed, or the peer closed), DKV_ERR_TIMEOUT (deadline),
 * DKV_ERR_PROTO / DKV_ERR_TOO_BIG (the reply stream is malformed),
 * DKV_ERR_AUTH (password refused), DKV_ERR_NOMEM. Details go to the
 * thread's last error (dkv_set_error, client_int.h).
 */
#ifndef DKV_CLIENT_CONN_H
#define DKV_CLIENT_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "proto/resp.h"

struct dkv_conn;

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t dkv_now_ms(void);

/* Splits "host:port" ("[v6]:port" too) into host (hostlen bytes, brackets
 * removed) and port. 0 or DKV_ERR_INVAL. */
int dkv_addr_split(const char *addr, char *host, size_t hostlen,
		   uint16_t *port);

/* Connects to addr ("host:port") before deadline_ms; sends AUTH when
 * password is non-empty. *out is owned by the caller: dkv_conn_close(). */
int dkv_conn_open(const char *addr, const char *password,
		  uint64_t deadline_ms, struct dkv_conn **out);
void dkv_conn_close(struct dkv_conn *c);
/* The map version announced on this connection with DKV.ROUTED (0:
 * none yet); the node then redirects requests routed by an older map. */
uint64_t dkv_conn_routed(const struct dkv_conn *c);
void dkv_conn_set_routed(struct dkv_conn *c, uint64_t version);

/* The address the connection was opened to (owned by it). */
const char *dkv_conn_addr(const struct dkv_conn *c);

/* Sends one command (argvlen NULL: NUL-terminated arguments) and reads its
 * reply, before deadline_ms. *reply is owned by the connection and valid
 * until its next call or close. *sent (may be NULL) tells whether any byte
 * of the request may have reached the peer (for the retry rule of writes).
 * After an error other than a server error reply the connection is broken:
 * close it. A server error reply is not an error here: it is *reply of type
 * RESP_ERROR. */
int dkv_conn_call(struct dkv_conn *c, size_t argc, const char *const *argv,
		  const size_t *argvlen, uint64_t deadline_ms,
		  const struct resp_reply **reply, int *sent);

/* 1 if the connection looks usable for a new request: nothing unexpected
 * is readable on it (a closed peer shows as readable EOF), else 0. */
int dkv_conn_idle_ok(struct dkv_conn *c);

#endif /* DKV_CLIENT_CONN_H */
