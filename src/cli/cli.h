/*
 * cli.h - the dkv command-line tool (docs/cli.md): shared state, output
 * helpers and the subcommands.
 *
 * Exit codes: CLI_OK 0, CLI_NOT_FOUND 1 (get of a missing key, a put
 * whose condition failed), CLI_USAGE 2 (bad command line, a syntax error
 * in a transaction file), CLI_FAIL 3 (anything else: unreachable nodes,
 * server errors, a transaction rolled back), CLI_UNKNOWN 4 (a commit
 * timed out: the transaction may or may not have committed). Results go
 * to stdout; progress and diagnostics to stderr.
 */
#ifndef DKV_CLI_H
#define DKV_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dkv.h"

struct json_t;
struct dkv_conn;
struct resp_reply;

enum {
	CLI_OK = 0,
	CLI_NOT_FOUND = 1,
	CLI_USAGE = 2,
	CLI_FAIL = 3,
	CLI_UNKNOWN = 4,
};

/* Limits of a `dkv tx` file (read whole into memory first). */
#define TX_MAX_BYTES (64u << 20)
#define TX_MAX_LINES 1000000u
/* Syntax errors printed before giving up on a file. */
#define TX_MAX_ERRORS 10

enum cli_out { OUT_TABLE, OUT_PLAIN, OUT_JSON, OUT_RAW };

#define CLI_DEFAULT_ADDR "127.0.0.1:7379"

struct cli {
	char host[1024];      /* -h, $DKV_ADDR, or the default */
	char *password;       /* --password or $DKV_PASSWORD; NULL: none */
	enum cli_out out;
	int interactive;      /* in the shell: errors do not exit */
	dkv_client_t *client; /* connected on first use, kept by the shell */
	dkv_tx_t *tx;         /* the shell's open transaction (begin), or
				 NULL: get/put/del/range run inside it */
	uint32_t range_batch; /* items per range request of the handle
				 connected next (0: libdkv's default);
				 snapshot export and diff raise it */
};

/* The handle to the cluster of cli->host (connects on first use); NULL
 * after printing why. */
dkv_client_t *cli_client(struct cli *cli);

/* Diagnostics: "dkv: <message>" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "Try 'dkv <cmd> --help'" after a usage error; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* After getopt reported a bad option: the "Try" line; CLI_USAGE. */
int cli_try(const char *cmd);
/* Maps a libdkv code to an exit code (after printing the last error). */
int cli_fail(const char *what, int rc);

/* Parses a decimal number in [min, max]: 0 or -1. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* --- output (out.c) ---------------------------------------------------------- */

/* An escaped, printable copy of len bytes (malloc'ed): valid UTF-8 and
 * printable ASCII as is; \t \n \r \\ and other bytes escaped (\xNN). */
char *out_escape(const void *p, size_t len);
/* Writes len bytes as they are. */
void out_raw(const void *p, size_t len);

/* A table printed with aligned columns and a header on a terminal. */
struct table;
struct table *table_new(int ncols, const char *const *headers);
/* Adds a row of ncols NUL-terminated cells (copied). */
void table_add(struct table *t, const char *const *cells);
/* OUT_TABLE: aligned with a header; otherwise tab-separated lines. */
void table_print(struct table *t, enum cli_out mode);
void table_free(struct table *t);

/* Sets obj[field] to the bytes as a JSON string when they are valid UTF-8
 * without NUL, else obj[field + "_hex"] to their hex. */
void json_set_bytes(struct json_t *obj, const char *field, const void *p,
		    size_t len);
/* Prints a JSON value (compact, one line) and decrefs it. */
void json_print(struct json_t *v);
/* A command's success without data: {"ok":true} in JSON, "OK" in a table,
 * nothing raw. */
void out_ok(enum cli_out mode);

/* --- talking to one node (cluster.c) ---------------------------------------- */

/* A connection to addr (timeout_ms for connect and AUTH), or NULL after
 * printing why unless quiet. */
struct dkv_conn *node_open(struct cli *cli, const char *addr, int timeout_ms,
			   int quiet);
/* One command on conn; the reply is valid until the next call on conn.
 * NULL on I/O errors (printed unless quiet). */
const struct resp_reply *node_call(struct dkv_conn *conn, int timeout_ms,
				   int quiet, size_t argc,
				   const char *const *argv);
/* PING addr: 1 when it answers within timeout_ms. */
int node_ping(struct cli *cli, const char *addr, int timeout_ms);
/* The map JSON a node holds: 1 and *json (malloc'ed), 0 when it has none,
 * -1 when it cannot be asked. */
int node_map_json(struct cli *cli, const char *addr, int timeout_ms,
		  char **json, int quiet);
/* The map version a node holds (0: none), -1 if unreachable. */
long long node_map_version(struct cli *cli, const char *addr,
			   int timeout_ms);

/* Creates a cluster of nodes (ids[i] at addrs[i]) as `cluster create`
 * does; kind "hash" / "slots" / "range"; splits comma-separated (range);
 * nshards 0: the default. Prints the result. Returns an exit code. */
int cluster_create(struct cli *cli, uint32_t n, const uint32_t *ids,
		   const char *const *addrs, const char *kind,
		   uint32_t nshards, const char *splits, const char *name,
		   int print);

/* --- subcommands --------------------------------------------------------------- */

int cmd_get(struct cli *cli, int argc, char **argv);
int cmd_put(struct cli *cli, int argc, char **argv);
int cmd_del(struct cli *cli, int argc, char **argv);
int cmd_range(struct cli *cli, int argc, char **argv);
int cmd_shard_of(struct cli *cli, int argc, char **argv);
int cmd_cluster(struct cli *cli, int argc, char **argv);
int cmd_local(struct cli *cli, int argc, char **argv);
/* cmd_tx.c: `tx [FILE]`, and the shell's begin / commit / abort. */
int cmd_tx(struct cli *cli, int argc, char **argv);
int cmd_begin(struct cli *cli, int argc, char **argv);
int cmd_commit(struct cli *cli, int argc, char **argv);
int cmd_abort(struct cli *cli, int argc, char **argv);
/* cmd_snap.c: `snapshot create|list|show|destroy|export|import|diff`. */
int cmd_snapshot(struct cli *cli, int argc, char **argv);

/* --at of get and range: opens a read-only transaction (dkv_tx_open_snap)
 * at the snapshot NAME or at an EPOCH (decimal, or a time as
 * dkv_epoch_format writes it) into *tx, for cmd (messages). Refused in
 * the shell's open transaction. CLI_OK, or an exit code after printing
 * why. */
int cli_open_at(struct cli *cli, dkv_client_t *c, const char *cmd,
		const char *at, dkv_tx_t **tx);

/* A data call failed: cli_fail(), and when the shell's transaction can
 * no longer go on (DKV_ERR_TX_RESTART, DKV_ERR_STATE), drops it, saying
 * it was rolled back. Returns the exit code. */
int cli_tx_data_fail(struct cli *cli, const char *what, int rc);
/* Leaving the shell: aborts an open transaction (saying so). 1 if there
 * was one, else 0. */
int cli_tx_leave(struct cli *cli);

/* Runs one subcommand line (argv[0] is the subcommand). */
int cli_dispatch(struct cli *cli, int argc, char **argv);

#endif /* DKV_CLI_H */
