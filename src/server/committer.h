/*
 * committer.h - group commit of shard commands.
 *
 * Any thread submits commands; one committer thread takes everything
 * queued, applies it in submission order (apply.h) into one batch, commits
 * the batch durably with one fsync, and then calls each command's done().
 * While a group is being committed the next one queues up, so the number
 * of fsyncs per second stays bounded and the batch grows with the load:
 * 50 concurrent clients cost about one fsync per 50 writes.
 *
 *   RUNNING --stop()--> DRAINING --queue empty--> STOPPED
 *
 * A command submitted once stop() has begun is completed at once with
 * DKV_ERR_CLOSED, on the submitter's thread.
 */
#ifndef DKV_SERVER_COMMITTER_H
#define DKV_SERVER_COMMITTER_H

#include <stdint.h>

#include "hlc/hlc.h"
#include "server/apply.h"
#include "store/store.h"

struct dkv_committer;

struct dkv_committer_stats {
	uint64_t groups;    /* batches committed */
	uint64_t commands;  /* commands completed */
	uint64_t max_group; /* largest group, in commands */
	uint64_t failed_groups;
};

/* Groups are cut at this many records or bytes, whatever is queued. */
#define DKV_COMMITTER_MAX_RECORDS 4096
#define DKV_COMMITTER_MAX_BYTES (32u << 20)

/* Starts the committer thread. store and hlc must outlive it. */
int dkv_committer_start(struct dkv_store *store, struct dkv_hlc *hlc,
			struct dkv_committer **out);

/* Queues cmd; its done() runs later on the committer thread. */
void dkv_committer_submit(struct dkv_committer *c, struct dkv_cmd *cmd);

/* Completes every queued command and stops the thread; c stays valid
 * (submissions now complete with DKV_ERR_CLOSED) until destroyed. */
void dkv_committer_stop(struct dkv_committer *c);
/* Stops c if it runs, then frees it. NULL is fine. */
void dkv_committer_destroy(struct dkv_committer *c);

void dkv_committer_stats(struct dkv_committer *c,
			 struct dkv_committer_stats *out);

#endif /* DKV_SERVER_COMMITTER_H */
