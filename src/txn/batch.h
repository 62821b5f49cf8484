/*
 * batch.h - building a struct txn_batch (txn_io.h): every key and value
 * added is copied into the batch's own arena, so the caller's memory may
 * go away at once. The batch owns its copies until txn_batch_free().
 */
#ifndef DKV_TXN_BATCH_H
#define DKV_TXN_BATCH_H

#include "txn/txn_io.h"

void txn_batch_init(struct txn_batch *b, uint32_t shard);
void txn_batch_free(struct txn_batch *b);
/* 0 or DKV_ERR_NOMEM (the batch is then unchanged). */
int txn_batch_add(struct txn_batch *b, enum txn_bop op, const void *key,
		  size_t klen, const void *val, size_t vlen, uint64_t epoch);

#endif /* DKV_TXN_BATCH_H */
