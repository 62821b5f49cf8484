/*
 * dkv_lincheck.c - dkv-lincheck FILE.json [--budget N]: checks a register
 * history (JSON form in docs/lincheck.md) for linearizability, key by
 * key, and explains every key that is not linearizable or unknown.
 *
 * Exit status: 0 when every key is linearizable, 1 when some key is not,
 * 3 when none is shown not linearizable but the search budget ran out on
 * some key (unknown), 2 on a usage error, an unreadable or malformed
 * file, or a failed check (out of memory). Errors go to stderr, the
 * report to stdout.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lincheck.h"

enum {
	EXIT_LINEARIZABLE = 0,
	EXIT_VIOLATION = 1,
	EXIT_BAD = 2,
	EXIT_UNKNOWN = 3,
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dkv-lincheck FILE.json [--budget N]\n"
		"Checks a register history (read, write, cas on single keys) "
		"for linearizability,\n"
		"each key with at most N search steps (default %" PRIu64
		"); see docs/lincheck.md.\n"
		"Exit status: 0 linearizable, 1 not linearizable, 2 bad "
		"input, 3 unknown\n"
		"(the budget ran out, nothing found wrong).\n",
		DKV_LIN_BUDGET_DEFAULT);
}

/* A budget: a decimal integer in [1, 2^64 - 1]. 0 or -1. */
static int parse_budget(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static void print_report(const char *path, const struct dkv_lin_report *r)
{
	printf("%s: %" PRIu64 " ops, %" PRIu64 " keys, %" PRIu64
	       " search steps (budget %" PRIu64 " per key)\n",
	       path, r->nops, r->nkeys, r->steps, r->budget);
	fputs(r->text, stdout);
	switch (r->verdict) {
	case DKV_LIN_LINEARIZABLE:
		printf("linearizable: every key\n");
		break;
	case DKV_LIN_NOT_LINEARIZABLE:
		printf("not linearizable: %" PRIu64 " of %" PRIu64
		       " keys (%" PRIu64 " unknown)\n",
		       r->nviolations, r->nkeys, r->nunknown);
		break;
	case DKV_LIN_UNKNOWN:
		printf("unknown: the budget ran out on %" PRIu64 " of %" PRIu64
		       " keys, the others are linearizable\n",
		       r->nunknown, r->nkeys);
		break;
	}
}

static int check_file(const char *path, uint64_t budget)
{
	struct dkv_lin_report r;
	struct dkv_lin *h = dkv_lin_new();
	char err[512];
	int rc, status = EXIT_BAD;

	memset(&r, 0, sizeof(r));
	if (h == NULL) {
		fprintf(stderr, "dkv-lincheck: out of memory\n");
		goto out;
	}
	rc = dkv_lin_load_json(h, path, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "dkv-lincheck: %s: %s\n", path, err);
		goto out;
	}
	rc = dkv_lin_check(h, budget, &r);
	if (rc < 0) {
		fprintf(stderr, "dkv-lincheck: %s: check failed: %s\n", path,
			dkv_strerror(rc));
		goto out;
	}
	print_report(path, &r);
	status = rc == DKV_LIN_LINEARIZABLE	 ? EXIT_LINEARIZABLE
		 : rc == DKV_LIN_NOT_LINEARIZABLE ? EXIT_VIOLATION
						  : EXIT_UNKNOWN;
out:
	dkv_lin_report_free(&r);
	dkv_lin_free(h);
	return status;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	uint64_t budget = DKV_LIN_BUDGET_DEFAULT;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_LINEARIZABLE;
		}
		if (strcmp(argv[i], "--budget") == 0) {
			if (i + 1 == argc ||
			    parse_budget(argv[i + 1], &budget) != 0) {
				fprintf(stderr, "dkv-lincheck: --budget wants "
						"a positive integer\n");
				return EXIT_BAD;
			}
			i++;
			continue;
		}
		if (strncmp(argv[i], "--budget=", 9) == 0) {
			if (parse_budget(argv[i] + 9, &budget) != 0) {
				fprintf(stderr, "dkv-lincheck: --budget wants "
						"a positive integer\n");
				return EXIT_BAD;
			}
			continue;
		}
		if (argv[i][0] == '-' || path != NULL) {
			usage(stderr);
			return EXIT_BAD;
		}
		path = argv[i];
	}
	if (path == NULL) {
		usage(stderr);
		return EXIT_BAD;
	}
	return check_file(path, budget);
}
