/*
 * dkv_histcheck.c - dkv-histcheck FILE.json: checks a list-append
 * transaction history (JSON form in docs/histcheck.md) and prints the
 * anomalies found, with an example cycle for each cyclic one.
 *
 * Exit status: 0 when the history is serializable (as far as its reads
 * reveal), 1 when an anomaly is found, 2 on a usage error, an unreadable
 * or malformed file, or a failed check (out of memory). Errors go to
 * stderr, the report to stdout.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "histcheck.h"

enum { EXIT_SERIALIZABLE = 0, EXIT_ANOMALY = 1, EXIT_BAD = 2 };

static void usage(FILE *f)
{
	fputs("usage: dkv-histcheck FILE.json\n"
	      "Checks a list-append transaction history for G0, G1a, G1b, "
	      "G1c, G-single, G2\n"
	      "and the faults that defeat inference; see docs/histcheck.md.\n"
	      "Exit status: 0 serializable, 1 anomalies found, 2 bad input.\n",
	      f);
}

static void print_report(const char *path, const struct dkv_hist_report *r)
{
	int k;

	printf("%s: %" PRIu64 " transactions, %" PRIu64
	       " dependency edges\n",
	       path, r->ntxns, r->nedges);
	if (r->total == 0) {
		printf("serializable: no anomaly found\n");
		return;
	}
	for (k = 0; k < DKV_HIST_NANOMALIES; k++)
		if (r->count[k] > 0)
			printf("  %-20s %" PRIu64 "\n",
			       dkv_hist_anomaly_name((enum dkv_hist_anomaly)k),
			       r->count[k]);
	fputs(r->text, stdout);
	printf("not serializable: %" PRIu64 " %s\n", r->total,
	       r->total == 1 ? "anomaly" : "anomalies");
}

static int check_file(const char *path)
{
	struct dkv_hist_report r;
	struct dkv_hist *h = dkv_hist_new();
	char err[512];
	int rc, status = EXIT_BAD;

	memset(&r, 0, sizeof(r));
	if (h == NULL) {
		fprintf(stderr, "dkv-histcheck: out of memory\n");
		goto out;
	}
	rc = dkv_hist_load_json(h, path, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "dkv-histcheck: %s: %s\n", path, err);
		goto out;
	}
	rc = dkv_hist_check(h, &r);
	if (rc < 0) {
		fprintf(stderr, "dkv-histcheck: %s: check failed: %s\n", path,
			dkv_strerror(rc));
		goto out;
	}
	print_report(path, &r);
	status = r.total == 0 ? EXIT_SERIALIZABLE : EXIT_ANOMALY;
out:
	dkv_hist_report_free(&r);
	dkv_hist_free(h);
	return status;
}

int main(int argc, char **argv)
{
	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return EXIT_SERIALIZABLE;
	}
	if (argc != 2 || argv[1][0] == '-') {
		usage(stderr);
		return EXIT_BAD;
	}
	return check_file(argv[1]);
}
