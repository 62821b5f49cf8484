/*
 * config.h - dkvd's configuration: one table of options, read from an INI
 * file (libinih), then overridden by DKV_* environment variables, then by
 * command-line flags. The same table gives the help text, the environment
 * names and the --check-config output, so the four never disagree.
 *
 *   INI              environment           flag
 *   [node] listen =  DKV_NODE_LISTEN=...   --node-listen=...
 */
#ifndef DKV_SERVER_CONFIG_H
#define DKV_SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* X(section, key, type, field, default, help) */
#define DKV_CONFIG_OPTIONS(X)                                                  \
	X(node, id, U32, node_id, "1", "this node's id in the cluster map")    \
	X(node, listen, STR, listen, "127.0.0.1:7379",                         \
	  "host:port to serve RESP on (loopback unless a password is set)")    \
	X(node, dir, STR, dir, "./dkv-data", "data directory")                 \
	X(node, password, STR, password, "",                                   \
	  "clients must AUTH with it (empty: no AUTH)")                        \
	X(cluster, secret, STR, secret, "",                                    \
	  "shared secret that authenticates node-to-node traffic")             \
	X(store, durability, DUR, durability, "group",                         \
	  "fsync | group | none (none: tests only)")                           \
	X(store, cache_mb, U32, cache_mb, "64", "block cache for all shards")  \
	X(store, write_buffer_mb, U32, write_buffer_mb, "16",                  \
	  "memtable budget for all shards")                                    \
	X(store, value_cache_mb, U32, value_cache_mb, "64",                    \
	  "cache of newest values for GET (0 = off)")                          \
	X(limits, max_key, U32, max_key, "65536", "largest key in bytes")      \
	X(limits, max_value, U32, max_value, "67108864",                       \
	  "largest value in bytes")                                            \
	X(limits, max_args, U32, max_args, "1048576",                          \
	  "most arguments in one command")                                     \
	X(limits, max_inline, U32, max_inline, "65536",                        \
	  "longest inline command line")                                       \
	X(limits, max_clients, U32, max_clients, "10000",                      \
	  "most client connections at once")                                   \
	X(hlc, max_offset_ms, U32, max_offset_ms, "500",                       \
	  "peers whose clocks run further ahead are refused")                  \
	X(server, workers, U32, workers, "8",                                  \
	  "threads for storage work that may block")                           \
	X(gc, retention_ms, U32, gc_retention_ms, "600000",                    \
	  "history kept readable, in ms (at least 1000)")                      \
	X(gc, interval_ms, U32, gc_interval_ms, "10000",                       \
	  "background GC period in ms (at least 100; 0 = off)")                \
	X(log, level, STR, log_level, "warn", "error | warn | info | debug")

enum dkv_config_dur { DKV_CONFIG_FSYNC, DKV_CONFIG_GROUP, DKV_CONFIG_NONE };

#define DKV_CONFIG_STR_MAX 256

struct dkv_config {
#define DKV_CONFIG_FIELD_U32(f) uint32_t f;
#define DKV_CONFIG_FIELD_STR(f) char f[DKV_CONFIG_STR_MAX];
#define DKV_CONFIG_FIELD_DUR(f) enum dkv_config_dur f;
#define DKV_CONFIG_FIELD_(sec, key, type, field, def, help)                    \
	DKV_CONFIG_FIELD_##type(field)
	DKV_CONFIG_OPTIONS(DKV_CONFIG_FIELD_)
#undef DKV_CONFIG_FIELD_
	/* Derived from listen. */
	char host[DKV_CONFIG_STR_MAX];
	uint16_t port;
	/* Where each value came from, for --check-config. */
	const char *source[32];
};

/* Fills every option with its default. */
void dkv_config_defaults(struct dkv_config *cfg);

/* Reads an INI file over cfg. Unknown sections or keys and bad values are
 * errors with the file's line; the message goes into err (errlen bytes). */
int dkv_config_load_file(struct dkv_config *cfg, const char *path, char *err,
			 size_t errlen);

/* Applies DKV_<SECTION>_<KEY> variables from envp (NULL-terminated). */
int dkv_config_load_env(struct dkv_config *cfg, char *const *envp, char *err,
			size_t errlen);

/* Sets one option by its name as "section.key" or flag form
 * "section-key". DKV_ERR_NOT_FOUND for an unknown name, DKV_ERR_INVAL for a
 * bad value (message in err). `source` is a static string kept by cfg. */
int dkv_config_set(struct dkv_config *cfg, const char *name, const char *value,
		   const char *source, char *err, size_t errlen);

/* Checks the whole configuration for consistency: listen parses, limits are
 * within dkv's hard ceilings, a non-loopback listen has a password. */
int dkv_config_validate(struct dkv_config *cfg, char *err, size_t errlen);

/* Prints every option with its value and source (secrets masked). */
void dkv_config_print(const struct dkv_config *cfg, FILE *out);

/* Prints the option table for --help. */
void dkv_config_usage(FILE *out);

const char *dkv_config_dur_name(enum dkv_config_dur d);

#endif /* DKV_SERVER_CONFIG_H */
