/*
 * main.c - the dkv tool: global options, subcommand dispatch, and the
 * interactive shell (libedit). Reference: docs/cli.md.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <editline/readline.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#ifndef DKV_VERSION_STRING
#define DKV_VERSION_STRING "0.1.0"
#endif

void cli_err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("dkv: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("dkv: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'dkv %s%s--help' for more information.\n",
		cmd ? cmd : "", cmd ? " " : "");
	return CLI_USAGE;
}

int cli_try(const char *cmd)
{
	fprintf(stderr, "Try 'dkv %s%s--help' for more information.\n",
		cmd ? cmd : "", cmd ? " " : "");
	return CLI_USAGE;
}

int cli_fail(const char *what, int rc)
{
	const char *why = dkv_last_error();

	cli_err("%s: %s%s%s", what, dkv_strerror(rc), *why ? ": " : "", why);
	return rc == DKV_ERR_NOT_FOUND ? CLI_NOT_FOUND : CLI_FAIL;
}

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

dkv_client_t *cli_client(struct cli *cli)
{
	struct dkv_connect_opts o = { 0 };
	int rc;

	if (cli->client != NULL)
		return cli->client;
	o.password = cli->password;
	o.timeout_ms = 10000;
	o.range_batch = cli->range_batch;
	rc = dkv_connect(cli->host, &o, &cli->client);
	if (rc != DKV_OK) {
		const char *why = dkv_last_error();

		cli_err("cannot connect to %s: %s%s%s", cli->host,
			dkv_strerror(rc), *why ? ": " : "", why);
		cli->client = NULL;
	}
	return cli->client;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: dkv [OPTION]... [COMMAND [ARG]...]\n"
		"Read and write a dkv cluster, and manage it.\n"
		"With no COMMAND, start an interactive shell.\n\n"
		"Options:\n"
		"  -h, --host=HOST:PORT[,...]  node(s) to contact (default: "
		"$DKV_ADDR, else %s)\n"
		"  -o, --output=FORMAT   table (default on a terminal), plain "
		"(default\n"
		"                        when piped: tab-separated lines), "
		"json, raw\n"
		"  -a, --password=PASS   the nodes' password (default: "
		"$DKV_PASSWORD)\n"
		"      --help            display this help and exit\n"
		"      --version         output version information and "
		"exit\n\n"
		"Commands:\n"
		"  get KEY [--at SNAP]           print a key's value (at a "
		"snapshot or epoch)\n"
		"  put KEY VALUE [--nx|--xx]     store a value\n"
		"  del KEY...                    remove keys\n"
		"  range START END [--limit N] [--rev] [--all] [--epochs]\n"
		"                  [--at SNAP]   list keys in [START, END) "
		"of one shard\n"
		"  shard-of KEY                  where a key lives\n"
		"  tx [FILE]                     run a file of commands (or "
		"standard input)\n"
		"                                as one transaction\n"
		"  cluster create|status|map     create and inspect a "
		"cluster\n"
		"  snapshot create|list|show|destroy|export|import|diff\n"
		"                                cluster-wide snapshots, "
		"their export and diff\n"
		"  local start|stop|status       run a cluster of dkvd "
		"processes on this machine\n\n"
		"In the shell, 'begin' opens a transaction that later "
		"get/put/del/range\n"
		"run in, until 'commit' or 'abort'.\n\n"
		"'dkv COMMAND --help' describes a command.\n"
		"Exit status: 0 ok, 1 not found (get) or condition not met "
		"(put --nx/--xx),\n"
		"2 usage error (or a syntax error in a tx file), 3 any other "
		"failure,\n"
		"4 a transaction's commit timed out: its outcome is "
		"unknown.\n",
		CLI_DEFAULT_ADDR);
}

int cli_dispatch(struct cli *cli, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(struct cli *, int, char **);
	} cmds[] = {
		{ "get", cmd_get },
		{ "put", cmd_put },
		{ "set", cmd_put },
		{ "del", cmd_del },
		{ "range", cmd_range },
		{ "shard-of", cmd_shard_of },
		{ "cluster", cmd_cluster },
		{ "local", cmd_local },
		{ "tx", cmd_tx },
		{ "begin", cmd_begin },
		{ "commit", cmd_commit },
		{ "abort", cmd_abort },
		{ "snapshot", cmd_snapshot },
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[0], cmds[i].name) == 0) {
			int rc;

			optind = 0; /* every subcommand parses afresh */
			rc = cmds[i].fn(cli, argc, argv);
			fflush(stdout);
			return rc;
		}
	return cli_usage_error(NULL, "unknown command '%s'", argv[0]);
}

/* --- the shell ------------------------------------------------------------- */

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Splits a line as redis-cli does: blanks separate words; "double
 * quotes" take \n \r \t \\ \" \xHH escapes; 'single quotes' take \'.
 * NUL bytes cannot pass (the commands take C strings). Returns argc, or
 * -1 with a message. argv (malloc'ed) and its strings belong to the
 * caller. */
static int split_line(const char *line, char ***out)
{
	char **argv = NULL;
	int argc = 0;
	const char *p = line;

	for (;;) {
		char *w, *o;
		int inq = 0, ins = 0;

		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p == '\0')
			break;
		w = malloc(strlen(p) + 1);
		o = w;
		if (w == NULL)
			goto fail;
		for (;; p++) {
			if (inq) {
				if (*p == '\0')
					goto unbalanced;
				if (*p == '\\' && p[1] == 'x' &&
				    isxdigit((unsigned char)p[2]) &&
				    isxdigit((unsigned char)p[3])) {
					unsigned v;

					sscanf(p + 2, "%2x", &v);
					if (v == 0) {
						fprintf(stderr,
							"dkv: NUL bytes cannot "
							"be typed (use put "
							"--stdin)\n");
						free(w);
						goto fail_quiet;
					}
					*o++ = (char)v;
					p += 3;
				} else if (*p == '\\' && p[1] != '\0') {
					p++;
					*o++ = *p == 'n'   ? '\n'
					       : *p == 'r' ? '\r'
					       : *p == 't' ? '\t'
					       : *p == 'a' ? '\a'
					       : *p == 'b' ? '\b'
							   : *p;
				} else if (*p == '"') {
					inq = 0;
					if (p[1] && !is_blank(p[1]))
						goto unbalanced;
				} else {
					*o++ = *p;
				}
			} else if (ins) {
				if (*p == '\0')
					goto unbalanced;
				if (*p == '\\' && p[1] == '\'') {
					p++;
					*o++ = '\'';
				} else if (*p == '\'') {
					ins = 0;
					if (p[1] && !is_blank(p[1]))
						goto unbalanced;
				} else {
					*o++ = *p;
				}
			} else if (*p == '"') {
				inq = 1;
			} else if (*p == '\'') {
				ins = 1;
			} else if (*p == '\0' || *p == ' ' || *p == '\t' ||
				   *p == '\r' || *p == '\n') {
				break;
			} else {
				*o++ = *p;
			}
			if (*p == '\0')
				break;
		}
		*o = '\0';
		{
			char **v = realloc(argv, (size_t)(argc + 2) *
							 sizeof(*v));

			if (v == NULL) {
				free(w);
				goto fail;
			}
			argv = v;
			argv[argc++] = w;
			argv[argc] = NULL;
		}
		if (*p == '\0')
			break;
		p++;
		continue;
unbalanced:
		free(w);
		fprintf(stderr, "dkv: unbalanced quotes\n");
		goto fail_quiet;
	}
	*out = argv;
	return argc;
fail:
	fprintf(stderr, "dkv: out of memory\n");
fail_quiet:
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	return -1;
}

static void shell_help(void)
{
	printf("Commands: get, put, del, range, shard-of, tx, cluster, local, "
	       "snapshot\n(each with --help);\nbegin (then get/put/del/range run in "
	       "a transaction until commit or abort);\nhelp; quit or exit "
	       "(or end of input: an open transaction is aborted).\nQuote "
	       "words with \"...\" (\\n \\t \\xHH escapes) or '...'.\n");
}

static int run_line(struct cli *cli, const char *line, int *quit)
{
	char **argv = NULL;
	int argc = split_line(line, &argv), rc = CLI_OK;

	if (argc < 0)
		return CLI_USAGE;
	if (argc == 0) {
		free(argv);
		return CLI_OK;
	}
	if (strcmp(argv[0], "quit") == 0 || strcmp(argv[0], "exit") == 0)
		*quit = 1;
	else if (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "?") == 0)
		shell_help();
	else
		rc = cli_dispatch(cli, argc, argv);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
	return rc;
}

static int shell(struct cli *cli)
{
	char hist[4096] = "", prompt[1100];
	const char *home = getenv("HOME");
	int quit = 0, rc = CLI_OK;

	cli->interactive = 1;
	if (!isatty(STDIN_FILENO)) {
		/* Commands from a pipe or a file: no prompt, no history; the
		 * exit status is the last command's. */
		char *line = NULL;
		size_t cap = 0;

		while (!quit && getline(&line, &cap, stdin) >= 0)
			rc = run_line(cli, line, &quit);
		free(line);
		/* Input ended inside a transaction: its writes are lost,
		 * which a script should hear of. */
		if (cli_tx_leave(cli))
			rc = CLI_FAIL;
		return rc;
	}
	if (home != NULL && *home)
		snprintf(hist, sizeof(hist), "%s/.dkv_history", home);
	rl_readline_name = "dkv";
	using_history();
	stifle_history(1000);
	if (hist[0])
		read_history(hist);
	fprintf(stderr, "dkv %s shell on %s: 'help' lists commands, "
			"'quit' leaves.\n",
		DKV_VERSION_STRING, cli->host);
	while (!quit) {
		char *line;

		snprintf(prompt, sizeof(prompt), "dkv %s%s> ", cli->host,
			 cli->tx != NULL ? "(tx)" : "");
		line = readline(prompt);

		if (line == NULL) {
			putchar('\n');
			break;
		}
		if (line[strspn(line, " \t")] != '\0') {
			add_history(line);
			rc = run_line(cli, line, &quit);
			if (rc != CLI_OK && rc != CLI_USAGE && !quit)
				fprintf(stderr, "(exit status %d)\n", rc);
		}
		free(line);
	}
	cli_tx_leave(cli);
	if (hist[0] && write_history(hist) != 0)
		fprintf(stderr, "dkv: cannot write %s\n", hist);
	return CLI_OK;
}

/* --- main ------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "output", required_argument, NULL, 'o' },
		{ "password", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'H' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { 0 };
	const char *env = getenv("DKV_ADDR");
	int c, rc;

	snprintf(cli.host, sizeof(cli.host), "%s",
		 env && *env ? env : CLI_DEFAULT_ADDR);
	env = getenv("DKV_PASSWORD");
	if (env && *env)
		cli.password = strdup(env);
	cli.out = isatty(STDOUT_FILENO) ? OUT_TABLE : OUT_PLAIN;
	/* '+': options end at the command; its options are its own. */
	while ((c = getopt_long(argc, argv, "+h:o:a:", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			snprintf(cli.host, sizeof(cli.host), "%s", optarg);
			break;
		case 'o':
			if (strcmp(optarg, "table") == 0)
				cli.out = OUT_TABLE;
			else if (strcmp(optarg, "plain") == 0)
				cli.out = OUT_PLAIN;
			else if (strcmp(optarg, "json") == 0)
				cli.out = OUT_JSON;
			else if (strcmp(optarg, "raw") == 0)
				cli.out = OUT_RAW;
			else
				return cli_usage_error(NULL,
						       "bad --output '%s': "
						       "table, plain, json or "
						       "raw",
						       optarg);
			break;
		case 'a':
			free(cli.password);
			cli.password = strdup(optarg);
			break;
		case 'H':
			usage(stdout);
			return CLI_OK;
		case 'V':
			printf("dkv %s (libdkv %s)\n", DKV_VERSION_STRING,
			       dkv_version());
			return CLI_OK;
		default:
			return cli_try(NULL);
		}
	}
	if (optind < argc)
		rc = cli_dispatch(&cli, argc - optind, argv + optind);
	else
		rc = shell(&cli);
	dkv_disconnect(cli.client);
	free(cli.password);
	return rc;
}
