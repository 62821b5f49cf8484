/*
 * cluster.h - real dkvd processes on 127.0.0.1 for the client tests, and a
 * minimal raw RESP client to talk to them behind libdkv's back.
 *
 * Nodes run with PR_SET_PDEATHSIG = SIGKILL, so a test that crashes never
 * leaves a daemon behind; tc_stop() stops them with SIGTERM and waits.
 */
#ifndef DKV_TEST_CLUSTER_H
#define DKV_TEST_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/resp.h"
#include "shard/map.h"

#define TC_MAX_NODES 8

struct tc_node {
	uint32_t id;
	uint16_t port;
	char addr[64];
	char dir[512];
	pid_t pid;
};

struct tc {
	char root[512];
	int n;
	struct tc_node nodes[TC_MAX_NODES];
	struct dkv_map *map; /* what was pushed last (owned) */
};

/* A port that was free a moment ago (bind to port 0). */
uint16_t tc_free_port(void);

/* Starts one dkvd as node id in dir (extra: NULL-terminated extra flags,
 * may be NULL); waits until it answers PING (10 s). 0 or -1. */
int tc_node_start(struct tc_node *nd, uint32_t id, const char *dir,
		  const char *const *extra);
/* SIGTERM, wait up to 10 s, then SIGKILL. */
void tc_node_stop(struct tc_node *nd);

/* n nodes (ids 1..n) in a fresh temp dir, and a cluster map of nshards
 * shards of family kind (hash or slots) created and pushed with
 * DKV.SETMAP. 0 or -1. */
int tc_start(struct tc *tc, int n, uint32_t nshards);
/* Pushes m (DKV.SETMAP) to every node; takes ownership of m (kept as
 * tc->map). 0 or -1. */
int tc_push_map(struct tc *tc, struct dkv_map *m);
void tc_stop(struct tc *tc);

/* "seed1,seed2,..." of all nodes into buf. */
void tc_seeds(const struct tc *tc, char *buf, size_t len);

/* When set, tc_cmd sends AUTH tc_password first. */
extern const char *tc_password;

/* Sends one command to addr on a fresh connection and returns the reply
 * (a resp_reply_dup copy: resp_reply_free it), or NULL on I/O failure.
 * argvlen NULL: NUL-terminated arguments. */
struct resp_reply *tc_cmd(const char *addr, size_t argc,
			  const char *const *argv, const size_t *argvlen);
/* The integer after "name:" in INFO's text of addr ("cmdstat_set" finds
 * "calls=N"), or -1. */
long long tc_info_field(const char *addr, const char *name);

#endif
