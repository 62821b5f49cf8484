/*
 * dkvd.c - the node daemon's main: configuration (file, environment,
 * flags), then serve until SIGTERM.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "server/node.h"

#ifndef DKV_VERSION
#define DKV_VERSION "0.1.0"
#endif

extern char **environ;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: dkvd [OPTION]...\n"
		"Serve a dkv node: shards of a versioned store, over the "
		"Redis protocol.\n\n"
		"  -c, --config=FILE   read options from an INI file first\n"
		"      --check-config  check the configuration, print it, "
		"exit\n"
		"  -h, --help          display this help and exit\n"
		"  -V, --version       output version information and exit\n"
		"\nOptions (each also settable as [section] key in the file "
		"and as DKV_SECTION_KEY\nin the environment; flags win over "
		"the environment, which wins over the file):\n");
	dkv_config_usage(out);
	fprintf(out, "\nExit status: 0 after a clean stop (SIGTERM, SIGINT), "
		"1 if the node could not\nstart, 2 for bad options, %d when "
		"a write to the disk failed (the node stops\nat once rather "
		"than acknowledge what may not be durable).\n",
		NODE_EXIT_DISK_FAILURE);
	fprintf(out, "\nReport bugs to the dkv issue tracker.\n");
}

int main(int argc, char **argv)
{
	struct dkv_config cfg;
	struct node *n = NULL;
	const char *file = NULL;
	char err[512] = "", pidfile[DKV_CONFIG_STR_MAX + 16];
	FILE *f;
	int check = 0, rc;

	dkv_config_defaults(&cfg);
	/* First pass: --config, --help, --version, --check-config. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0 ||
		    strcmp(argv[i], "-V") == 0) {
			printf("dkvd (dkv) %s\n", DKV_VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--check-config") == 0)
			check = 1;
		else if ((strcmp(argv[i], "-c") == 0 ||
			  strcmp(argv[i], "--config") == 0) &&
			 i + 1 < argc)
			file = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
	}
	if (file && dkv_config_load_file(&cfg, file, err, sizeof(err)) != 0)
		goto bad;
	if (dkv_config_load_env(&cfg, environ, err, sizeof(err)) != 0)
		goto bad;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq;
		char name[128];

		if (strcmp(a, "--check-config") == 0)
			continue;
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0)
			continue;
		if (strncmp(a, "--", 2) != 0) {
			snprintf(err, sizeof(err), "unexpected argument '%s'",
				 a);
			goto bad;
		}
		eq = strchr(a, '=');
		if (eq == NULL && i + 1 >= argc) {
			snprintf(err, sizeof(err), "option '%s' needs a value",
				 a);
			goto bad;
		}
		snprintf(name, sizeof(name), "%.*s",
			 (int)(eq ? eq - a - 2 : (long)strlen(a) - 2), a + 2);
		if (dkv_config_set(&cfg, name, eq ? eq + 1 : argv[++i], "flag",
				   err, sizeof(err)) != 0)
			goto bad;
	}
	if (dkv_config_validate(&cfg, err, sizeof(err)) != 0)
		goto bad;
	if (check) {
		dkv_config_print(&cfg, stdout);
		printf("configuration OK\n");
		return 0;
	}
	setenv("DKV_LOG", cfg.log_level, 0);
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return 1;
	rc = node_start(n, &cfg, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "dkvd: %s\n", err);
		free(n);
		return 1;
	}
	/* The pid file lets scripts and tests signal this node. */
	snprintf(pidfile, sizeof(pidfile), "%s/dkvd.pid", cfg.dir);
	f = fopen(pidfile, "w");
	if (f != NULL) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	DKV_INFO("dkvd", "node %u serving on %s (data %s)", cfg.node_id,
		 cfg.listen, cfg.dir);
	fprintf(stderr, "dkvd: node %u serving on %s\n", cfg.node_id,
		cfg.listen);
	node_run(n);
	node_close(n);
	free(n);
	unlink(pidfile);
	fprintf(stderr, "dkvd: stopped\n");
	return 0;
bad:
	fprintf(stderr, "dkvd: %s\nTry 'dkvd --help' for more information.\n",
		err);
	return check ? 1 : 2;
}
