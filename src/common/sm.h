/*
 * sm.h - explicit state machines, checked by assertion (after dqlite's sm).
 *
 * An object with a life cycle embeds a struct dkv_sm and describes its
 * states once, as a table: for each state a name, flags and the bitmask of
 * the states it may move to. dkv_sm_move() asserts that the move is allowed,
 * so an illegal transition stops a debug build at the line that made it.
 *
 *   static const struct dkv_sm_conf shard_states[] = {
 *       [SHARD_CREATING] = { "creating", 0, BIT(SHARD_ACTIVE) | BIT(SHARD_DROPPING) },
 *       ...
 *   };
 */
#ifndef DKV_COMMON_SM_H
#define DKV_COMMON_SM_H

#include <assert.h>
#include <stdint.h>

#define DKV_SM_BIT(state) (1u << (state))
#define DKV_SM_FINAL 0x1u /* no move leaves this state */

struct dkv_sm_conf {
	const char *name;
	uint32_t flags;
	uint32_t allowed; /* DKV_SM_BIT() of each state reachable in one move */
};

struct dkv_sm {
	const char *what; /* object kind, for messages: "shard" */
	const struct dkv_sm_conf *conf;
	unsigned nstates;
	unsigned state;
};

static inline void dkv_sm_init(struct dkv_sm *sm, const char *what,
			       const struct dkv_sm_conf *conf,
			       unsigned nstates, unsigned initial)
{
	assert(initial < nstates);
	sm->what = what;
	sm->conf = conf;
	sm->nstates = nstates;
	sm->state = initial;
}

static inline unsigned dkv_sm_state(const struct dkv_sm *sm)
{
	return sm->state;
}

static inline const char *dkv_sm_name(const struct dkv_sm *sm)
{
	return sm->conf[sm->state].name;
}

static inline int dkv_sm_can_move(const struct dkv_sm *sm, unsigned next)
{
	return next < sm->nstates &&
	       (sm->conf[sm->state].allowed & DKV_SM_BIT(next)) != 0;
}

static inline void dkv_sm_move(struct dkv_sm *sm, unsigned next)
{
	assert(dkv_sm_can_move(sm, next));
	sm->state = next;
}

#endif /* DKV_COMMON_SM_H */
