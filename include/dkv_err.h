/*
 * dkv_err.h - the one error space of dkv.
 *
 * Every dkv call that can fail returns an int: 0 (DKV_OK) or a positive
 * count on success, a negative DKV_ERR_* code on failure. The list below is
 * the only place codes are defined (one X-macro, as DAOS does); values are
 * stable across releases: new codes are appended, none is ever renumbered.
 *
 * dkv_strerror() returns a static, NUL-terminated string owned by the
 * library, valid for the life of the process; never free it.
 */
#ifndef DKV_ERR_H
#define DKV_ERR_H

#include "dkv_api.h"

#ifdef __cplusplus
extern "C" {
#endif

/*  X(NAME, value, "human text") */
#define DKV_FOREACH_ERR(X)                                                     \
	X(INVAL, -1, "invalid argument")                                       \
	X(NOMEM, -2, "out of memory")                                          \
	X(NOT_FOUND, -3, "not found")                                          \
	X(EXISTS, -4, "already exists")                                        \
	X(IO, -5, "I/O error")                                                 \
	X(CORRUPT, -6, "data corruption detected")                             \
	X(TOO_BIG, -7, "size over the configured limit")                       \
	X(EPOCH_TOO_OLD, -8, "epoch too old: below the history watermark")     \
	X(CLOCK_OFFSET, -9, "remote clock further ahead than the max offset")  \
	X(NO_SHARD, -10, "no such shard")                                      \
	X(STATE, -11, "object is not in a state that allows this call")        \
	X(BUSY, -12, "resource busy, try again")                               \
	X(TIMEOUT, -13, "timed out")                                           \
	X(TX_RESTART, -14, "transaction conflict: restart it")                 \
	X(TX_ABORTED, -15, "transaction aborted")                              \
	X(PROTO, -16, "protocol error")                                        \
	X(REDIRECT, -17, "stale cluster map: redirected")                      \
	X(AUTH, -18, "authentication required or failed")                      \
	X(CLOSED, -19, "connection or handle closed")                          \
	X(UNSUPPORTED, -20, "operation not supported")                         \
	X(OVERFLOW, -21, "value or counter would overflow")                    \
	X(NOSPACE, -22, "out of space")                                        \
	X(INTERNAL, -23, "internal error")                                     \
	X(WRITE_TOO_OLD, -24, "write epoch below the key's newest version")   \
	X(READ_ONLY, -25, "read-only: a snapshot or past epoch cannot be written") \
	X(CLOCK_FENCED, -26,                                                   \
	  "this node's clock is off from the cluster's by more than the max "  \
	  "offset: it serves nothing until it is back")

enum dkv_err {
	DKV_OK = 0,
#define DKV_ERR_ENUM_(name, val, text) DKV_ERR_##name = (val),
	DKV_FOREACH_ERR(DKV_ERR_ENUM_)
#undef DKV_ERR_ENUM_
};

/* Human text for a code; "unknown error" for a value outside the list.
 * The string is static: owned by the library, never freed. */
DKV_API const char *dkv_strerror(int rc);

/* The code's name without prefix ("NOT_FOUND"), static like above. */
DKV_API const char *dkv_errname(int rc);

#ifdef __cplusplus
}
#endif
#endif /* DKV_ERR_H */
