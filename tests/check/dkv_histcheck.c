/*
 * dkv_histcheck.c - dkv-histcheck [--realtime] FILE.json: checks a
 * list-append transaction history (JSON form in docs/histcheck.md) and
 * prints the anomalies found, with an example cycle for each cyclic one.
 * With --realtime it also checks real-time order (strict
 * serializability): every ok and info transaction of the file must then
 * carry invoke_ns (and ok ones complete_ns). Without it, times in the
 * file are validated but not used.
 *
 * Exit status: 0 when the history is serializable (strictly, with
 * --realtime) as far as its reads reveal, 1 when an anomaly is found, 2
 * on a usage error, an unreadable or malformed file, --realtime on a
 * file without times, or a failed check (out of memory). Errors go to
 * stderr, the report to stdout.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "histcheck.h"

enum { EXIT_SERIALIZABLE = 0, EXIT_ANOMALY = 1, EXIT_BAD = 2 };

static void usage(FILE *f)
{
	fputs("usage: dkv-histcheck [--realtime] FILE.json\n"
	      "Checks a list-append transaction history for G0, G1a, G1b, "
	      "G1c, G-single, G2\n"
	      "and the faults that defeat inference; with --realtime also for "
	      "their real-time\n"
	      "variants (strict serializability: the transactions' invoke_ns "
	      "and complete_ns).\n"
	      "See docs/histcheck.md.\n"
	      "Exit status: 0 serializable, 1 anomalies found, 2 bad input.\n",
	      f);
}

/* 1 when only real-time classes were found: the history may be
 * serializable, it is not strictly so. */
static int only_realtime(const struct dkv_hist_report *r)
{
	return r->count[DKV_HIST_G0_REALTIME] +
		       r->count[DKV_HIST_G1C_REALTIME] +
		       r->count[DKV_HIST_G_SINGLE_REALTIME] +
		       r->count[DKV_HIST_G2_REALTIME] ==
	       r->total;
}

static void print_report(const char *path, const struct dkv_hist_report *r)
{
	int k;

	if (r->realtime)
		printf("%s: %" PRIu64 " transactions, %" PRIu64
		       " dependency and real-time edges (%" PRIu64 " rt)\n",
		       path, r->ntxns, r->nedges, r->nrt_edges);
	else
		printf("%s: %" PRIu64 " transactions, %" PRIu64
		       " dependency edges\n",
		       path, r->ntxns, r->nedges);
	if (r->total == 0) {
		printf("%s: no anomaly found\n",
		       r->realtime ? "strictly serializable" : "serializable");
		return;
	}
	for (k = 0; k < DKV_HIST_NANOMALIES; k++)
		if (r->count[k] > 0)
			printf("  %-20s %" PRIu64 "\n",
			       dkv_hist_anomaly_name((enum dkv_hist_anomaly)k),
			       r->count[k]);
	fputs(r->text, stdout);
	printf("not %sserializable: %" PRIu64 " %s\n",
	       only_realtime(r) ? "strictly " : "", r->total,
	       r->total == 1 ? "anomaly" : "anomalies");
}

static int check_file(const char *path, int realtime)
{
	const struct dkv_hist_check_opts opts = {.realtime = realtime};
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
	rc = dkv_hist_check_ex(h, &opts, &r);
	if (rc == DKV_ERR_INVAL && realtime) {
		/* the reader keeps times all or nothing: there are none */
		fprintf(stderr,
			"dkv-histcheck: %s: --realtime needs times: invoke_ns "
			"(and complete_ns) on every ok and info transaction\n",
			path);
		goto out;
	}
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
	int realtime = 0, i = 1;

	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return EXIT_SERIALIZABLE;
	}
	if (i < argc && strcmp(argv[i], "--realtime") == 0) {
		realtime = 1;
		i++;
	}
	if (argc != i + 1 || argv[i][0] == '-') {
		usage(stderr);
		return EXIT_BAD;
	}
	return check_file(argv[i], realtime);
}
