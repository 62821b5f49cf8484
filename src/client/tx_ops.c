/*
 * tx_ops.c - dkv_get, dkv_get_alloc, dkv_put and dkv_remove inside a
 * transaction (dkv.h, TRANSACTIONS): reads at the transaction's start
 * epoch through the core (its own writes answered from its write set),
 * writes buffered in the core until commit, conditional puts and removes
 * checked by a read inside the transaction (so the condition is part of
 * what commit validates).
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "client/tx_int.h"

int tx_enter(dkv_client_t *c, struct dkv_tx *tx)
{
	if (tx->c != c) {
		dkv_set_error("the transaction belongs to another handle");
		return DKV_ERR_INVAL;
	}
	switch (tx->state) {
	case TXS_ACTIVE:
		return DKV_OK;
	case TXS_RESTART:
		dkv_set_error("transaction conflict: call dkv_tx_restart and "
			      "run the transaction again");
		return DKV_ERR_TX_RESTART;
	case TXS_COMMITTED:
		dkv_set_error("the transaction has committed");
		return DKV_ERR_STATE;
	case TXS_UNKNOWN:
		dkv_set_error("the transaction's commit outcome is unknown");
		return DKV_ERR_STATE;
	default:
		dkv_set_error("the transaction was aborted or failed: restart "
			      "or close it");
		return DKV_ERR_STATE;
	}
}

/* Copies a value to where the call wants it (the rules of dkv_get). */
static int deliver(struct tx_wait *w, const char *val, size_t vlen)
{
	if (w->len == NULL)
		return DKV_OK; /* an existence probe */
	if (w->val != NULL) {
		char *p = malloc(vlen + 1);

		if (p == NULL)
			return DKV_ERR_NOMEM;
		if (vlen > 0)
			memcpy(p, val, vlen);
		p[vlen] = '\0';
		*w->val = p;
		*w->len = vlen;
		return DKV_OK;
	}
	if (w->buf == NULL) {
		*w->len = vlen;
		return DKV_OK;
	}
	if (*w->len < vlen) {
		dkv_set_error("the value (%zu bytes) is larger than the buffer "
			      "(%zu bytes)",
			      vlen, *w->len);
		*w->len = vlen;
		return DKV_ERR_TOO_BIG;
	}
	if (vlen > 0)
		memcpy(w->buf, val, vlen);
	*w->len = vlen;
	return DKV_OK;
}

/* The core's answer to a read (runs inside tx_wait; no user code). */
static void get_cb(void *arg, int rc, const char *val, size_t vlen,
		   uint64_t epoch)
{
	struct dkv_tx *tx = arg;
	struct tx_wait *w = &tx->w;

	if (rc == DKV_OK)
		rc = deliver(w, val, vlen);
	w->rc = rc;
	w->epoch = epoch;
	w->done = 1;
}

/* One read of key inside tx into buf/len/val (len NULL: only whether it
 * exists). 0 found, DKV_ERR_NOT_FOUND, or an error. */
static int tx_read_once(struct dkv_tx *tx, const void *key, size_t klen,
			void *buf, size_t *len, void **val)
{
	struct txn_bytes hit = { NULL, 0 };
	int rc;

	memset(&tx->w, 0, sizeof(tx->w));
	tx->w.buf = buf;
	tx->w.len = len;
	tx->w.val = val;
	rc = txn_get(tx->t, key, klen, &hit, get_cb, tx);
	if (rc == DKV_OK) {
		rc = deliver(&tx->w, hit.p, hit.len); /* its own write */
		goto out;
	}
	if (rc != TXN_PENDING)
		goto out;
	rc = tx_wait(tx, tx_read_guard_ms(tx));
	if (rc != DKV_OK) {
		/* The read is still pending in the core: only a restart
		 * (which drops it) or close may follow. */
		tx->state = TXS_BROKEN;
		goto out;
	}
	rc = tx->w.rc;
out:
	if (rc == DKV_ERR_TX_RESTART) {
		tx->state = TXS_RESTART;
		dkv_set_error("transaction conflict (a newer or undecided "
			      "version, or a clock offset): call "
			      "dkv_tx_restart and run it again");
	} else if (rc == DKV_ERR_NOT_FOUND) {
		dkv_set_error("the key does not exist");
	} else if (rc == DKV_ERR_TIMEOUT && tx->state != TXS_BROKEN) {
		dkv_set_error("transaction read: no answer in time");
	} else if (rc == DKV_ERR_EPOCH_TOO_OLD) {
		dkv_set_error("epoch %llu is below the shard's history "
			      "watermark (collected)",
			      (unsigned long long)txn_tx_ts(tx->t));
	}
	tx->w.buf = NULL;
	tx->w.len = NULL;
	tx->w.val = NULL;
	return rc;
}

/* tx_read_once, sent again for a snapshot transaction that a shard asked
 * to restart (tx_snap_retry). */
static int tx_read(struct dkv_tx *tx, const void *key, size_t klen,
		   void *buf, size_t *len, void **val)
{
	unsigned attempt = 0;
	int rc;

	do {
		tx_snap_prepare(tx);
		rc = tx_read_once(tx, key, klen, buf, len, val);
	} while (tx_snap_retry(tx, &rc, attempt++));
	return rc;
}

/* A write with a snapshot transaction. */
static int read_only(struct dkv_tx *tx)
{
	dkv_set_error("the transaction reads at a fixed epoch (%llu): it "
		      "cannot write",
		      (unsigned long long)tx->at);
	return DKV_ERR_READ_ONLY;
}

/* Checks the call and the key's shard. */
static int begin(dkv_client_t *c, struct dkv_tx *tx, const void *key,
		 size_t klen)
{
	uint32_t shard;
	int rc = tx_enter(c, tx);

	if (rc == DKV_OK)
		rc = tx_key_shard(c, key, klen, &shard);
	return rc;
}

static int core_rc(struct dkv_tx *tx, int rc)
{
	if (rc == DKV_ERR_TX_RESTART) {
		tx->state = TXS_RESTART;
		dkv_set_error("transaction conflict: call dkv_tx_restart and "
			      "run it again");
	} else if (rc == DKV_ERR_INVAL) {
		dkv_set_error("the key is empty or too long");
	} else if (rc == DKV_ERR_TOO_BIG) {
		dkv_set_error("the value is too long");
	}
	return rc;
}

int dkv_tx_do_get(dkv_client_t *c, dkv_tx_t *tx, const void *key,
		  size_t klen, void *buf, size_t *len, void **val)
{
	int rc = begin(c, tx, key, klen);

	if (rc != DKV_OK)
		return rc;
	rc = tx_read(tx, key, klen, buf, len, val);
	if (rc == DKV_OK)
		dkv_clear_error();
	return rc;
}

int dkv_tx_do_put(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		  const void *key, size_t klen, const void *val, size_t vlen)
{
	int rc;

	/* Whatever its state: a snapshot transaction never writes. */
	if (tx->c == c && tx->at != 0)
		return read_only(tx);
	rc = begin(c, tx, key, klen);
	if (rc != DKV_OK)
		return rc;
	if (flags & (DKV_COND_INSERT | DKV_COND_UPDATE)) {
		/* The condition as this transaction sees it; the read joins
		 * the read set, so commit fails if it changed meanwhile. */
		rc = tx_read(tx, key, klen, NULL, NULL, NULL);
		if (rc == DKV_OK && (flags & DKV_COND_INSERT)) {
			dkv_set_error("the key exists (DKV_COND_INSERT)");
			return DKV_ERR_EXISTS;
		}
		if (rc == DKV_ERR_NOT_FOUND && (flags & DKV_COND_UPDATE)) {
			dkv_set_error("the key does not exist "
				      "(DKV_COND_UPDATE)");
			return DKV_ERR_NOT_FOUND;
		}
		if (rc != DKV_OK && rc != DKV_ERR_NOT_FOUND)
			return rc;
	}
	rc = core_rc(tx, txn_put(tx->t, key, klen, val ? val : "", vlen));
	if (rc == DKV_OK)
		dkv_clear_error();
	return rc;
}

int dkv_tx_do_remove(dkv_client_t *c, dkv_tx_t *tx, uint64_t flags,
		     const void *key, size_t klen)
{
	int rc;

	/* Whatever its state: a snapshot transaction never writes. */
	if (tx->c == c && tx->at != 0)
		return read_only(tx);
	rc = begin(c, tx, key, klen);
	if (rc != DKV_OK)
		return rc;
	/* The result says whether the key existed: a read inside the
	 * transaction tells (and is validated at commit). */
	rc = tx_read(tx, key, klen, NULL, NULL, NULL);
	if (rc == DKV_ERR_NOT_FOUND) {
		if (flags & DKV_COND_PUNCH) {
			dkv_set_error("the key does not exist "
				      "(DKV_COND_PUNCH)");
			return DKV_ERR_NOT_FOUND;
		}
		dkv_clear_error();
		return 0; /* absent: nothing to write */
	}
	if (rc != DKV_OK)
		return rc;
	rc = core_rc(tx, txn_del(tx->t, key, klen));
	if (rc != DKV_OK)
		return rc;
	dkv_clear_error();
	return 1;
}
