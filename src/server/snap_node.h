/*
 * snap_node.h - the snapshot manager bound into dkvd (docs/snap.md).
 *
 * Every node keeps the catalog (src/snap/catalog.h) in a synced store
 * metadata record and publishes its oldest epoch as the store's GC pin
 * (node->snap_pin). The node with the lowest id in the cluster map is the
 * snapshot leader: it alone changes the catalog, one change at a time,
 * and ships it whole to the others. Every node answers the leader's
 * EPOCH and FENCE requests.
 *
 * Commands (the table in cmd.h):
 *   DKV.SNAPSHOT CREATE [name] | DESTROY name | LIST | SHOW name
 *   DKV.SNAPX EPOCH | FENCE <epoch> | CATALOG <version> <bytes>  (peers)
 */
#ifndef DKV_SERVER_SNAP_NODE_H
#define DKV_SERVER_SNAP_NODE_H

#include <stddef.h>
#include <stdint.h>

struct node;
struct conn;
struct resp_cmd;

/* Loads the catalog from the store and sets the pin (at start, before
 * serving). DKV_ERR_CORRUPT for a damaged record, DKV_ERR_NOMEM. */
int snap_node_start(struct node *n);
/* Closes the handles (the loop then ends); in the drain, once nothing is
 * in flight. */
void snap_node_stop(struct node *n);
/* Frees everything (after the loop ended). */
void snap_node_free(struct node *n);

/* A peer link came up: the leader ships its catalog to that node. */
void snap_node_peer_up(struct node *n, uint32_t id);

/* The epoch of the snapshot called name into *epoch: 0 or
 * DKV_ERR_NOT_FOUND (this node's copy of the catalog). */
int snap_node_lookup(struct node *n, const char *name, size_t len,
		     uint64_t *epoch);

struct snap_node_info {
	uint64_t snapshots;   /* in this node's catalog */
	uint64_t version;     /* of the catalog */
	uint64_t oldest;      /* oldest snapshot epoch, 0 if none */
	uint64_t pin;         /* GC pin (node->snap_pin), 0 if none */
	uint32_t leader;      /* the snapshot leader's node id */
	uint64_t created, destroyed, failed; /* as leader */
	uint64_t fences;      /* fences answered */
	uint64_t last_create_us; /* as leader, the last create's time */
};
void snap_node_info(struct node *n, struct snap_node_info *out);

void cmd_dkv_snapshot(struct conn *c, const struct resp_cmd *cmd);
void cmd_dkv_snapx(struct conn *c, const struct resp_cmd *cmd);

#endif /* DKV_SERVER_SNAP_NODE_H */
