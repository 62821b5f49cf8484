/*
 * map.h - the cluster map: which node serves which shard, versioned.
 * Design, redirect rule and JSON schema: docs/shard.md.
 *
 * A map holds:
 *   - the cluster's name and 64-bit id (a node refuses a map of another
 *     cluster: the daemon compares ids);
 *   - a version, >= 1, bumped by exactly one by every change made through
 *     this API (a call that changes nothing leaves it alone), and at most
 *     DKV_MAP_VERSION_MAX (exact in every JSON parser);
 *   - the sharding family and its number of shards (family.h), fixed at
 *     creation except for the slot table of `slots`;
 *   - the nodes, kept in ascending id order: id, address "host:port",
 *     state (UP, DOWN, JOINING, LEAVING, moves checked against a table in
 *     the style of common/sm.h);
 *   - the owner of every shard, always one of the nodes.
 *
 * Key -> shard -> node. The map has no I/O of its own (only a custom
 * family dlopens its module). Nodes persist the JSON form
 * (dkv_map_to_json) and clients fetch it; dkv_map_from_json checks every
 * field of it, so a damaged or hostile map is an error, never a crash.
 *
 * Threads: lookups (const functions) may run concurrently on a map that
 * nobody modifies; they never allocate. Changes need exclusive access.
 * The intended use is copy-on-write: clone the current map, change the
 * clone, publish it (e.g. swap an atomic pointer), destroy the old one
 * once no reader holds it.
 *
 * Pointers: every pointer a map returns (nodes, names) is owned by the map
 * and valid until the next change to the map or its destruction.
 */
#ifndef DKV_SHARD_MAP_H
#define DKV_SHARD_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/sm.h"
#include "dkv_err.h"
#include "shard/family.h"

#define DKV_MAP_FORMAT 1                     /* "format" of the JSON form */
#define DKV_MAP_NODES_MAX 1024u
#define DKV_MAP_ADDR_MAX 255u                /* "host:port", bytes */
#define DKV_MAP_NAME_MAX 64u                 /* cluster name, bytes */
#define DKV_MAP_VERSION_MAX ((UINT64_C(1) << 53) - 1)
#define DKV_MAP_JSON_MAX (16u << 20)         /* bytes of the JSON form */
#define DKV_NODE_NONE UINT32_MAX             /* not a node id */

/* Node states. Allowed moves (anything else is DKV_ERR_STATE):
 *   JOINING -> UP | DOWN | LEAVING   joined; died while joining; cancelled
 *   UP      -> DOWN | LEAVING        failure detected; decommissioning
 *   DOWN    -> UP | JOINING | LEAVING  back with its data; back empty and
 *                                      catching up; decommissioned while dead
 *   LEAVING -> UP | DOWN             decommission cancelled; died
 * A node enters as JOINING (dkv_map_add_node) or UP (dkv_map_create), and
 * leaves the map only by dkv_map_remove_node. */
enum dkv_node_state {
	DKV_NODE_UP = 0,
	DKV_NODE_DOWN,
	DKV_NODE_JOINING,
	DKV_NODE_LEAVING,
	DKV_NODE_NSTATES
};

/* The state table (for dkv_sm_init): names, allowed moves. */
extern const struct dkv_sm_conf dkv_node_states[DKV_NODE_NSTATES];

/* A node as the map knows it. Read-only for users: change it through the
 * dkv_map_* calls. */
struct dkv_map_node {
	uint32_t id;                         /* 0 .. DKV_NODE_NONE - 1 */
	char addr[DKV_MAP_ADDR_MAX + 1];     /* "host:port", NUL-terminated */
	struct dkv_sm sm;                    /* state: dkv_map_node_state() */
};

static inline enum dkv_node_state
dkv_map_node_state(const struct dkv_map_node *n)
{
	return (enum dkv_node_state)dkv_sm_state(&n->sm);
}

/* "up", "down", "joining", "leaving"; NULL for an unknown state. */
const char *dkv_node_state_name(enum dkv_node_state st);
/* 0 and *out, or DKV_ERR_INVAL. */
int dkv_node_state_parse(const char *name, enum dkv_node_state *out);

/* Checks an address: "host:port" of at most DKV_MAP_ADDR_MAX bytes, host
 * a name or IPv4 address ([A-Za-z0-9._-]+) or a bracketed IPv6 address
 * ("[::1]:7000"), port 1..65535 in decimal without leading zeros.
 * 0 or DKV_ERR_INVAL. */
int dkv_map_addr_check(const char *addr);

struct dkv_map_node_conf {
	uint32_t id;
	const char *addr;
};

/* What dkv_map_create needs. Borrowed for the duration of the call. */
struct dkv_map_conf {
	const char *name;     /* 1..DKV_MAP_NAME_MAX bytes of [A-Za-z0-9._-] */
	uint64_t cluster_id;  /* != 0; the daemon draws it at random */
	const struct dkv_map_node_conf *nodes; /* 1..DKV_MAP_NODES_MAX */
	uint32_t nnodes;
	struct dkv_family_spec family;
};

struct dkv_map;

/* A new map at version 1: the nodes, all UP, and shard i owned by the
 * (i mod nnodes)-th node in ascending id order (deterministic whatever the
 * order of conf->nodes). *out is owned by the caller until
 * dkv_map_destroy(). DKV_ERR_INVAL for a bad conf (name, id, duplicate
 * node id or address, bad address, counts out of bounds), or the codes of
 * dkv_family_create(); err as in family.h. */
int dkv_map_create(const struct dkv_map_conf *conf, struct dkv_map **out,
		   char *err, size_t errlen);
/* A deep copy, same version. */
int dkv_map_clone(const struct dkv_map *m, struct dkv_map **out);
void dkv_map_destroy(struct dkv_map *m);
/* 1 if a and b are the same map (every field, version included), else 0. */
int dkv_map_equal(const struct dkv_map *a, const struct dkv_map *b);

/* --- reading ----------------------------------------------------------------- */

uint64_t dkv_map_version(const struct dkv_map *m);
uint64_t dkv_map_cluster_id(const struct dkv_map *m);
const char *dkv_map_name(const struct dkv_map *m);
const struct dkv_family *dkv_map_family(const struct dkv_map *m);
uint32_t dkv_map_nshards(const struct dkv_map *m);
uint32_t dkv_map_nnodes(const struct dkv_map *m);
/* The i-th node in ascending id order (i < nnodes), else NULL. */
const struct dkv_map_node *dkv_map_node_at(const struct dkv_map *m,
					   uint32_t i);
/* The node with this id, or NULL. */
const struct dkv_map_node *dkv_map_node_find(const struct dkv_map *m,
					     uint32_t id);
/* Number of shards the node owns (0 for an unknown id). */
uint32_t dkv_map_node_nshards(const struct dkv_map *m, uint32_t id);

/* --- lookups: the hot path, never allocate --------------------------------- */

/* Key -> shard: dkv_family_key_shard() of the map's family. */
int dkv_map_key_shard(const struct dkv_map *m, const void *key, size_t klen,
		      uint32_t *shard);
/* Shard -> owner: 0 and *node, or DKV_ERR_NO_SHARD (shard >= nshards). */
int dkv_map_shard_node(const struct dkv_map *m, uint32_t shard,
		       const struct dkv_map_node **node);
/* Key -> shard and owner; shard may be NULL. */
int dkv_map_key_node(const struct dkv_map *m, const void *key, size_t klen,
		     uint32_t *shard, const struct dkv_map_node **node);
/* Range confinement: dkv_family_range_shard() of the map's family. */
int dkv_map_range_shard(const struct dkv_map *m, const void *start,
			size_t slen, const void *end, size_t elen,
			uint32_t *first, uint32_t *last);

/* The redirect rule, for the node daemon. A request for key arrives at
 * node self carrying the map version its sender routed it with (0: none,
 * e.g. a plain Redis client). On return r->version is this map's version,
 * r->shard the key's shard and r->owner its owner (NULL on errors other
 * than REDIRECT / BUSY):
 *   0                    serve it here: self owns the shard, and the
 *                        request's version is this map's or 0;
 *   DKV_ERR_REDIRECT     the request's version is older than this map's,
 *                        or self does not own the shard: answer with a
 *                        redirect naming r->version and r->owner (a gateway
 *                        may forward an unversioned request instead);
 *   DKV_ERR_BUSY         the request's version is newer than this map's:
 *                        this node must fetch the newer map; the sender
 *                        retries;
 *   DKV_ERR_NO_SHARD     the custom function failed on this key. */
struct dkv_redirect {
	uint64_t version;
	uint32_t shard;
	const struct dkv_map_node *owner; /* owned by the map */
};
int dkv_map_route(const struct dkv_map *m, uint32_t self, uint64_t version,
		  const void *key, size_t klen, struct dkv_redirect *r);

/* --- changes: each bumps the version by one, or fails and changes nothing.
 * Common codes: DKV_ERR_OVERFLOW when the version is at
 * DKV_MAP_VERSION_MAX, DKV_ERR_NOT_FOUND for an unknown node id. --------- */

/* Adds a node in state JOINING, owning no shard. DKV_ERR_INVAL (bad id or
 * address), DKV_ERR_EXISTS (id or address taken), DKV_ERR_TOO_BIG (already
 * DKV_MAP_NODES_MAX nodes). */
int dkv_map_add_node(struct dkv_map *m, uint32_t id, const char *addr);
/* Removes a node. It must own no shard (DKV_ERR_BUSY: move them first)
 * and not be UP (DKV_ERR_STATE: set it LEAVING or DOWN first). */
int dkv_map_remove_node(struct dkv_map *m, uint32_t id);
/* Moves a node to state st, if the state table allows it (DKV_ERR_STATE
 * otherwise). Setting the current state changes nothing and returns 0. */
int dkv_map_set_node_state(struct dkv_map *m, uint32_t id,
			   enum dkv_node_state st);
/* Changes a node's address (the node moved). DKV_ERR_INVAL, EXISTS as for
 * add; the same address changes nothing. */
int dkv_map_set_node_addr(struct dkv_map *m, uint32_t id, const char *addr);
/* Gives shard to node. The node must be UP or JOINING (DKV_ERR_STATE);
 * DKV_ERR_NO_SHARD for a bad shard; the current owner changes nothing.
 * Moving the data is the caller's business, before this call. */
int dkv_map_move_shard(struct dkv_map *m, uint32_t shard, uint32_t node);
/* `slots` family only: dkv_family_set_slots(); DKV_ERR_UNSUPPORTED for
 * the others. No change (all slots already there) leaves the version. */
int dkv_map_set_slots(struct dkv_map *m, uint32_t first, uint32_t last,
		      uint32_t shard);

/* --- planning changes -------------------------------------------------------- */

struct dkv_map_move {
	uint32_t shard;
	uint32_t from; /* node id */
	uint32_t to;   /* node id */
};

/* Computes (does not apply) the fewest shard moves that (1) empty every
 * LEAVING node and (2) leave the UP and JOINING nodes owning numbers of
 * shards that differ by at most one. Shards of DOWN nodes stay where they
 * are (their data is unreachable until the node is back) and are not
 * counted. Deterministic. Writes up to cap moves, in ascending shard
 * order, and returns the total (>= 0; may exceed cap); DKV_ERR_STATE when
 * shards must leave LEAVING nodes but no node is UP or JOINING;
 * DKV_ERR_NOMEM. */
int dkv_map_plan(const struct dkv_map *m, struct dkv_map_move *moves,
		 size_t cap);

/* --- JSON form (docs/shard.md) ----------------------------------------------- */

#define DKV_MAP_JSON_PRETTY 0x1 /* indented, for people */

/* Encodes m: *out is a NUL-terminated malloc'ed string, owned by the
 * caller who free()s it; *len its length (len may be NULL). Compact unless
 * DKV_MAP_JSON_PRETTY. Canonical: equal maps encode to equal bytes. */
int dkv_map_to_json(const struct dkv_map *m, unsigned flags, char **out,
		    size_t *len);
/* Decodes and checks a map. buf (len bytes, borrowed) need not be
 * NUL-terminated. custom_allow: the custom functions ("path:symbol") this
 * process may load, a NULL-terminated list (borrowed), NULL for none; the
 * daemon and the client library take it from their configuration, where
 * the module is deployed (see dkv_family_from_json). Errors:
 * DKV_ERR_TOO_BIG over DKV_MAP_JSON_MAX bytes; DKV_ERR_CORRUPT for bad JSON
 * or any bad field (wrong type, unknown or missing field, out of bounds,
 * duplicate node id or address, owner not a node, split keys not
 * increasing, custom fingerprint mismatch, ...); DKV_ERR_UNSUPPORTED for
 * another format number or a custom function not in custom_allow;
 * DKV_ERR_NOT_FOUND when an allowed custom module is missing here;
 * DKV_ERR_NOMEM. err as in family.h. */
int dkv_map_from_json(const char *buf, size_t len,
		      const char *const *custom_allow, struct dkv_map **out,
		      char *err, size_t errlen);

#endif /* DKV_SHARD_MAP_H */
