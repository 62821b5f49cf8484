/*
 * tx.c - the transaction handle of libdkv (dkv.h, TRANSACTIONS): open,
 * commit, restart, abort, close, and the dkv_tx_run retry loop.
 *
 * A handle's life (enum tx_state, tx_int.h):
 *
 *   ACTIVE --a read or commit answered RESTART--> RESTART
 *   ACTIVE --commit--> COMMITTED (final) | RESTART | UNKNOWN | FAILED
 *   ACTIVE --a read failed with its request pending--> BROKEN
 *   ACTIVE, RESTART, BROKEN, FAILED --dkv_tx_abort--> ABORTED
 *   every state but COMMITTED --dkv_tx_restart--> ACTIVE
 *
 * Data calls and commit run in ACTIVE only (RESTART: DKV_ERR_TX_RESTART,
 * others: DKV_ERR_STATE). UNKNOWN may have committed: abort refuses it;
 * restart is allowed (the caller decides whether running the body again
 * is safe); dkv_tx_run never restarts it.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "client/tx_int.h"

#define TX_RUN_ATTEMPTS 20u
#define TX_RUN_BACKOFF_FIRST_MS 10u
#define TX_RUN_BACKOFF_MAX_MS 1000u

/* A new handle on c: read-write (at 0) or at a fixed epoch. */
static int tx_new(dkv_client_t *c, uint64_t at, const char *what,
		  dkv_tx_t **out)
{
	struct dkv_tx *tx = NULL;
	int rc;

	*out = NULL;
	tx = calloc(1, sizeof(*tx));
	if (tx == NULL) {
		rc = DKV_ERR_NOMEM;
		goto out;
	}
	tx->c = c;
	tx->at = at;
	rc = tx_core_create(tx);
	if (rc != DKV_OK) {
		dkv_set_error("%s: %s", what, dkv_strerror(rc));
		tx_core_destroy(tx);
		free(tx);
		goto out;
	}
	*out = tx;
out:
	return rc;
}

int dkv_tx_open(dkv_client_t *c, uint64_t flags, dkv_tx_t **out)
{
	dkv_clear_error();
	if (c == NULL || out == NULL || flags != 0) {
		dkv_set_error("dkv_tx_open: a handle and out are required, "
			      "flags must be 0");
		return DKV_ERR_INVAL;
	}
	return tx_new(c, 0, "dkv_tx_open", out);
}

int dkv_tx_open_snap(dkv_client_t *c, uint64_t epoch, dkv_tx_t **out)
{
	dkv_clear_error();
	if (c == NULL || out == NULL || epoch == 0 || epoch == UINT64_MAX) {
		dkv_set_error("dkv_tx_open_snap: a handle and out are "
			      "required, and an epoch other than 0 and "
			      "UINT64_MAX");
		return DKV_ERR_INVAL;
	}
	return tx_new(c, epoch, "dkv_tx_open_snap", out);
}

void dkv_tx_close(dkv_tx_t *tx)
{
	if (tx == NULL)
		return;
	/* A commit still in doubt is abandoned: its leader goes on alone. */
	tx_core_destroy(tx);
	free(tx);
}

/* The core's answer to the commit (inside tx_wait). */
static void commit_cb(void *arg, int rc, uint64_t tc)
{
	struct dkv_tx *tx = arg;

	tx->w.rc = rc;
	tx->w.tc = tc;
	tx->w.done = 1;
}

int dkv_tx_commit(dkv_tx_t *tx)
{
	int rc;

	dkv_clear_error();
	if (tx == NULL) {
		dkv_set_error("dkv_tx_commit: no transaction");
		return DKV_ERR_INVAL;
	}
	if (tx->at != 0) {
		/* Read-only at a fixed epoch: nothing to validate, nothing
		 * to send, whatever its reads met. */
		if (tx->state == TXS_COMMITTED) {
			dkv_set_error("the transaction has committed");
			return DKV_ERR_STATE;
		}
		tx->state = TXS_COMMITTED;
		tx->tc = tx->at;
		return DKV_OK;
	}
	rc = tx_enter(tx->c, tx);
	if (rc != DKV_OK)
		return rc;
	memset(&tx->w, 0, sizeof(tx->w));
	rc = txn_commit(tx->t, commit_cb, tx);
	if (rc == DKV_OK) {
		/* No writes: its reads were one consistent state at ts;
		 * nothing is sent. */
		tx->state = TXS_COMMITTED;
		tx->tc = txn_tx_ts(tx->t);
		return DKV_OK;
	}
	if (rc == TXN_PENDING) {
		rc = tx_wait(tx, tx_commit_guard_ms(tx));
		if (rc == DKV_OK)
			rc = tx->w.rc;
		else if (rc != DKV_ERR_TIMEOUT)
			/* The commit request itself was refused: not
			 * applied (it is sent once, tx_io.c). */
			tx->state = TXS_FAILED;
		if (tx->state == TXS_FAILED)
			return rc;
	}
	switch (rc) {
	case DKV_OK:
		tx->state = TXS_COMMITTED;
		tx->tc = tx->w.tc;
		break;
	case DKV_ERR_TX_RESTART:
		tx->state = TXS_RESTART;
		dkv_set_error("transaction conflict at commit: call "
			      "dkv_tx_restart and run it again");
		break;
	case DKV_ERR_TIMEOUT:
		tx->state = TXS_UNKNOWN;
		dkv_set_error("commit: no outcome in time; the transaction "
			      "may or may not have committed");
		break;
	default:
		/* Refused before anything was sent (memory, the clock). */
		break;
	}
	return rc;
}

int dkv_tx_restart(dkv_tx_t *tx)
{
	int rc;

	dkv_clear_error();
	if (tx == NULL) {
		dkv_set_error("dkv_tx_restart: no transaction");
		return DKV_ERR_INVAL;
	}
	if (tx->state == TXS_COMMITTED) {
		dkv_set_error("the transaction has committed");
		return DKV_ERR_STATE;
	}
	/* Above every epoch this client met, so it sees what it saw
	 * commit. */
	tx_floor_merge(tx);
	rc = txn_restart(tx->t);
	if (rc == DKV_ERR_STATE) /* still committing in the core */
		rc = tx_core_replace(tx);
	if (rc != DKV_OK) {
		dkv_set_error("dkv_tx_restart: %s", dkv_strerror(rc));
		return rc;
	}
	tx_outbox_clear(tx);
	tx->state = TXS_ACTIVE;
	tx->tc = 0;
	tx->restarts++;
	return DKV_OK;
}

int dkv_tx_abort(dkv_tx_t *tx)
{
	int rc;

	dkv_clear_error();
	if (tx == NULL) {
		dkv_set_error("dkv_tx_abort: no transaction");
		return DKV_ERR_INVAL;
	}
	switch (tx->state) {
	case TXS_COMMITTED:
		dkv_set_error("the transaction has committed");
		return DKV_ERR_STATE;
	case TXS_UNKNOWN:
		dkv_set_error("the transaction may have committed (its "
			      "outcome is unknown)");
		return DKV_ERR_STATE;
	case TXS_ABORTED:
		return DKV_OK;
	default:
		break;
	}
	/* Nothing was sent: dropping the write set is all. A new
	 * incarnation of the core's transaction does that now (the handle
	 * stays ABORTED until dkv_tx_restart). */
	rc = txn_restart(tx->t);
	if (rc == DKV_ERR_STATE)
		rc = tx_core_replace(tx);
	(void)rc; /* on failure the writes go with the next restart */
	tx_outbox_clear(tx);
	tx->state = TXS_ABORTED;
	return DKV_OK;
}

uint64_t dkv_tx_epoch(const dkv_tx_t *tx)
{
	if (tx != NULL && tx->at != 0)
		return tx->at; /* a snapshot transaction's, in every state */
	return tx != NULL && tx->state == TXS_COMMITTED ? tx->tc : 0;
}

uint32_t dkv_tx_restarts(const dkv_tx_t *tx)
{
	return tx != NULL ? tx->restarts : 0;
}

/* --- dkv_tx_run ----------------------------------------------------------- */

/* Sleeps a jittered delay in [d/2, d] and doubles d up to max. */
static void run_backoff(uint32_t *d, uint32_t max)
{
	uint32_t ms = *d / 2 + (uint32_t)(tx_rand64() % (*d / 2 + 1));

	tx_sleep_ms(ms);
	*d = *d > max / 2 ? max : *d * 2;
}

int dkv_tx_run(dkv_client_t *c, uint64_t flags,
	       int (*fn)(dkv_tx_t *tx, void *arg), void *arg,
	       const struct dkv_tx_run_opts *opts)
{
	struct dkv_tx_run_opts o = { 0 };
	dkv_tx_t *tx = NULL;
	uint32_t delay, attempt;
	int rc;

	if (fn == NULL) {
		dkv_clear_error();
		dkv_set_error("dkv_tx_run: fn is required");
		return DKV_ERR_INVAL;
	}
	if (opts != NULL)
		o = *opts;
	if (o.max_attempts == 0)
		o.max_attempts = TX_RUN_ATTEMPTS;
	if (o.backoff_first_ms == 0)
		o.backoff_first_ms = TX_RUN_BACKOFF_FIRST_MS;
	if (o.backoff_max_ms == 0)
		o.backoff_max_ms = TX_RUN_BACKOFF_MAX_MS;
	if (o.backoff_max_ms < o.backoff_first_ms)
		o.backoff_max_ms = o.backoff_first_ms;
	delay = o.backoff_first_ms;
	rc = dkv_tx_open(c, flags, &tx);
	if (rc != DKV_OK)
		goto out;
	for (attempt = 1;; attempt++) {
		int body = fn(tx, arg);

		rc = body;
		if (body >= 0) {
			rc = dkv_tx_commit(tx);
			if (rc == DKV_OK)
				rc = body; /* fn's count, once committed */
		}
		/* fn's own error: give up (closing drops its writes). */
		if (rc != DKV_ERR_TX_RESTART)
			break;
		if (attempt >= o.max_attempts) {
			dkv_set_error("dkv_tx_run: still conflicting after %u "
				      "attempts",
				      attempt);
			break;
		}
		run_backoff(&delay, o.backoff_max_ms);
		rc = dkv_tx_restart(tx);
		if (rc != DKV_OK)
			break;
	}
out:
	dkv_tx_close(tx);
	return rc;
}
