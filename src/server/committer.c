/* committer.c - see committer.h. */
#include "server/committer.h"

#include <pthread.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/sm.h"

enum { COMMITTER_RUNNING, COMMITTER_DRAINING, COMMITTER_STOPPED, COMMITTER_N };

static const struct dkv_sm_conf committer_states[COMMITTER_N] = {
	[COMMITTER_RUNNING] = { "running", 0, DKV_SM_BIT(COMMITTER_DRAINING) },
	[COMMITTER_DRAINING] = { "draining", 0, DKV_SM_BIT(COMMITTER_STOPPED) },
	[COMMITTER_STOPPED] = { "stopped", DKV_SM_FINAL, 0 },
};

struct dkv_committer {
	struct dkv_store *store;
	struct dkv_hlc *hlc;
	struct apply_group *group;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct dkv_sm sm;              /* under lock */
	struct dkv_cmd *head, *tail;   /* FIFO, under lock */
	struct dkv_committer_stats stats; /* under lock */
};

static int issue_epoch(void *ctx, uint64_t *epoch)
{
	return dkv_hlc_now(ctx, epoch);
}

/* Commits the applied commands [first, stop) and completes them. */
static void finish_group(struct dkv_committer *c, struct dkv_cmd *first,
			 struct dkv_cmd *stop)
{
	int rc = apply_group_commit(c->group);
	uint64_t n = 0;
	struct dkv_cmd *cmd, *next;

	if (rc != DKV_OK)
		DKV_ERROR("committer", "group commit failed: %s",
			  dkv_strerror(rc));
	for (cmd = first; cmd != stop; cmd = cmd->next_)
		n++;
	/* Statistics first: a done() may let its submitter read them. */
	pthread_mutex_lock(&c->lock);
	c->stats.groups++;
	c->stats.commands += n;
	if (n > c->stats.max_group)
		c->stats.max_group = n;
	if (rc != DKV_OK)
		c->stats.failed_groups++;
	pthread_mutex_unlock(&c->lock);
	for (cmd = first; cmd != stop; cmd = next) {
		next = cmd->next_;
		if (rc != DKV_OK && cmd->rc == DKV_OK) {
			/* None of the group's writes happened. */
			cmd->rc = rc;
			cmd->applied = 0;
			cmd->epoch = 0;
			dkv_val_release(&cmd->old);
		}
		cmd->done(cmd);
	}
}

static void run_batch(struct dkv_committer *c, struct dkv_cmd *list)
{
	struct dkv_cmd *first = list, *cmd = list;

	while (cmd != NULL) {
		apply_cmd(c->group, cmd, issue_epoch, c->hlc);
		cmd = cmd->next_;
		if (apply_group_records(c->group) >= DKV_COMMITTER_MAX_RECORDS ||
		    apply_group_bytes(c->group) >= DKV_COMMITTER_MAX_BYTES) {
			finish_group(c, first, cmd);
			first = cmd;
		}
	}
	if (first != NULL)
		finish_group(c, first, NULL);
}

static void *committer_main(void *arg)
{
	struct dkv_committer *c = arg;
	struct dkv_cmd *list;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (c->head == NULL &&
		       dkv_sm_state(&c->sm) == COMMITTER_RUNNING)
			pthread_cond_wait(&c->wake, &c->lock);
		if (c->head == NULL)
			break; /* draining and nothing left */
		list = c->head;
		c->head = c->tail = NULL;
		pthread_mutex_unlock(&c->lock);
		run_batch(c, list);
		pthread_mutex_lock(&c->lock);
	}
	dkv_sm_move(&c->sm, COMMITTER_STOPPED);
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int dkv_committer_start(struct dkv_store *store, struct dkv_hlc *hlc,
			struct dkv_committer **out)
{
	struct dkv_committer *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return DKV_ERR_NOMEM;
	c->store = store;
	c->hlc = hlc;
	rc = apply_group_create(store, &c->group);
	if (rc != DKV_OK)
		goto fail;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->wake, NULL);
	dkv_sm_init(&c->sm, "committer", committer_states, COMMITTER_N,
		    COMMITTER_RUNNING);
	if (pthread_create(&c->thread, NULL, committer_main, c) != 0) {
		rc = DKV_ERR_NOMEM;
		pthread_cond_destroy(&c->wake);
		pthread_mutex_destroy(&c->lock);
		apply_group_destroy(c->group);
		goto fail;
	}
	*out = c;
	return DKV_OK;
fail:
	free(c);
	return rc;
}

void dkv_committer_submit(struct dkv_committer *c, struct dkv_cmd *cmd)
{
	cmd->next_ = NULL;
	pthread_mutex_lock(&c->lock);
	if (dkv_sm_state(&c->sm) != COMMITTER_RUNNING) {
		pthread_mutex_unlock(&c->lock);
		cmd->rc = DKV_ERR_CLOSED;
		cmd->applied = 0;
		cmd->done(cmd);
		return;
	}
	if (c->tail != NULL)
		c->tail->next_ = cmd;
	else
		c->head = cmd;
	c->tail = cmd;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
}

void dkv_committer_stop(struct dkv_committer *c)
{
	pthread_mutex_lock(&c->lock);
	if (dkv_sm_state(&c->sm) != COMMITTER_RUNNING) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	dkv_sm_move(&c->sm, COMMITTER_DRAINING);
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
}

void dkv_committer_destroy(struct dkv_committer *c)
{
	if (c == NULL)
		return;
	dkv_committer_stop(c);
	apply_group_destroy(c->group);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void dkv_committer_stats(struct dkv_committer *c,
			 struct dkv_committer_stats *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->stats;
	pthread_mutex_unlock(&c->lock);
}
