/*
 * histcheck_json.c - reads a history from its JSON form (histcheck.h,
 * docs/histcheck.md) into a struct dkv_hist, for tools:
 *
 *   {"txns": [{"id": 1, "outcome": "ok",
 *              "ops": [["append", 1, 5], ["read", 2, [1, 2, 3]]],
 *              "invoke_ns": 1000, "complete_ns": 2000}, ...]}
 *
 * Strict: a transaction has the fields id, outcome and ops, and may have
 * invoke_ns and complete_ns (its times, dkv_hist_times()), nothing else;
 * every number is an integer in [0, 2^63 - 1]; duplicate object keys are
 * rejected. Other top-level fields are ignored (room for metadata). A
 * read's list may be null (result unknown) in FAIL and INFO transactions
 * only: the read is then not recorded. Times: complete_ns needs
 * invoke_ns and is not before it; an OK transaction with invoke_ns needs
 * complete_ns (below 2^63 - 1, which means never); INFO and FAIL ones may
 * omit it. Within a document, every OK and INFO transaction has invoke_ns
 * or none does (FAIL ones as they like), so that a real-time check never
 * meets a transaction without times.
 *
 * Failure modes: DKV_ERR_CORRUPT for anything malformed, with the JSON
 * path of the fault in the message ("txns[3].ops[1]: ..."); DKV_ERR_IO
 * for a file that cannot be read; DKV_ERR_TOO_BIG for a file over
 * DKV_HIST_JSON_MAX bytes (refused before reading, when its size is
 * known); DKV_ERR_NOMEM. The transactions read before the faulty one stay
 * in the history; the faulty one is dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "check_util.h"
#include "histcheck.h"

/* A JSON integer in [0, 2^63 - 1]: 0, or -1 when v is anything else. */
static int get_u64(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_outcome(const json_t *v, enum dkv_hist_outcome *out)
{
	const char *s = json_string_value(v);

	if (s == NULL)
		return -1;
	if (strcmp(s, "ok") == 0)
		*out = DKV_HIST_OK;
	else if (strcmp(s, "fail") == 0)
		*out = DKV_HIST_FAIL;
	else if (strcmp(s, "info") == 0)
		*out = DKV_HIST_INFO;
	else
		return -1;
	return 0;
}

/* One ["append", key, value] or ["read", key, [values] | null]; *buf is
 * scratch for the values (grown as needed, freed by the caller). */
static int parse_op(struct dkv_hist *h, const json_t *op,
		    enum dkv_hist_outcome outcome, uint64_t **buf,
		    size_t *bufcap, const char *where, char *err,
		    size_t errlen)
{
	const char *name = json_string_value(json_array_get(op, 0));
	const json_t *arg = json_array_get(op, 2), *x;
	uint64_t key, value;
	size_t i, n;
	int rc = 0;

	if (!json_is_array(op) || json_array_size(op) != 3 || name == NULL ||
	    get_u64(json_array_get(op, 1), &key) != 0) {
		rc = check_fail(DKV_ERR_CORRUPT, err, errlen,
				"%s: expected [\"append\", key, value] or "
				"[\"read\", key, [values]]",
				where);
		goto out;
	}
	if (strcmp(name, "append") == 0) {
		if (get_u64(arg, &value) != 0) {
			rc = check_fail(DKV_ERR_CORRUPT, err, errlen,
					"%s: the value must be an integer in "
					"[0, 2^63 - 1]",
					where);
			goto out;
		}
		rc = dkv_hist_append(h, key, value);
		goto out;
	}
	if (strcmp(name, "read") != 0) {
		rc = check_fail(DKV_ERR_CORRUPT, err, errlen,
				"%s: unknown operation \"%.32s\"", where, name);
		goto out;
	}
	if (json_is_null(arg) && outcome != DKV_HIST_OK)
		goto out; /* result unknown: nothing to record */
	if (!json_is_array(arg)) {
		rc = check_fail(
			DKV_ERR_CORRUPT, err, errlen,
			"%s: a read's result must be a list of integers%s",
			where,
			outcome == DKV_HIST_OK ? " (null only when the "
						 "outcome is fail or info)"
					       : " or null");
		goto out;
	}
	n = json_array_size(arg);
	if (n > *bufcap) {
		uint64_t *nb = realloc(*buf, n * sizeof(**buf));

		if (nb == NULL) {
			rc = DKV_ERR_NOMEM;
			goto out;
		}
		*buf = nb;
		*bufcap = n;
	}
	json_array_foreach(arg, i, x) {
		if (get_u64(x, &(*buf)[i]) != 0) {
			rc = check_fail(DKV_ERR_CORRUPT, err, errlen,
					"%s: element %zu of the read is not an "
					"integer in [0, 2^63 - 1]",
					where, i);
			goto out;
		}
	}
	rc = dkv_hist_read(h, key, *buf, n);
out:
	return rc;
}

/* Whether the document's OK and INFO transactions have times: the first
 * one (index first, when any) decides. */
struct timed_rule {
	int seen, timed;
	size_t first;
};

/* The optional invoke_ns and complete_ns of transaction ti: *timed 0
 * (none) or 1 with *invoke and *complete (DKV_HIST_NEVER when absent). */
static int parse_times(const json_t *t, size_t ti,
		       enum dkv_hist_outcome outcome, struct timed_rule *rule,
		       int *timed, int64_t *invoke, int64_t *complete,
		       char *err, size_t errlen)
{
	const json_t *jinv = json_object_get(t, "invoke_ns");
	const json_t *jcom = json_object_get(t, "complete_ns");
	uint64_t v;

	*timed = jinv != NULL;
	*invoke = 0;
	*complete = DKV_HIST_NEVER;
	if (jinv != NULL) {
		if (get_u64(jinv, &v) != 0)
			return check_fail(
				DKV_ERR_CORRUPT, err, errlen,
				"txns[%zu].invoke_ns: expected an integer "
				"in [0, 2^63 - 1]",
				ti);
		*invoke = (int64_t)v;
	}
	if (jcom != NULL) {
		if (get_u64(jcom, &v) != 0)
			return check_fail(
				DKV_ERR_CORRUPT, err, errlen,
				"txns[%zu].complete_ns: expected an integer "
				"in [0, 2^63 - 1]",
				ti);
		if (jinv == NULL)
			return check_fail(
				DKV_ERR_CORRUPT, err, errlen,
				"txns[%zu].complete_ns: given without "
				"invoke_ns",
				ti);
		if ((int64_t)v < *invoke)
			return check_fail(DKV_ERR_CORRUPT, err, errlen,
					  "txns[%zu].complete_ns: %" PRIu64
					  " is before invoke_ns %" PRId64,
					  ti, v, *invoke);
		*complete = (int64_t)v;
	}
	if (outcome == DKV_HIST_OK && *timed && *complete == DKV_HIST_NEVER)
		return check_fail(
			DKV_ERR_CORRUPT, err, errlen,
			"txns[%zu]: an ok transaction with invoke_ns needs "
			"complete_ns (below 2^63 - 1)",
			ti);
	if (outcome == DKV_HIST_FAIL)
		return 0;
	if (!rule->seen) {
		rule->seen = 1;
		rule->timed = *timed;
		rule->first = ti;
	} else if (rule->timed != *timed) {
		return check_fail(
			DKV_ERR_CORRUPT, err, errlen,
			"txns[%zu]: %s invoke_ns, unlike txns[%zu]: every "
			"ok and info transaction has times or none does",
			ti, *timed ? "has" : "has no", rule->first);
	}
	return 0;
}

static int parse_txn(struct dkv_hist *h, json_t *t, size_t ti,
		     struct timed_rule *rule, uint64_t **buf, size_t *bufcap,
		     char *err, size_t errlen)
{
	enum dkv_hist_outcome outcome;
	const json_t *ops, *op;
	const char *field;
	json_t *val;
	char where[64];
	int64_t invoke, complete;
	uint64_t id;
	size_t i;
	int rc, timed;

	if (!json_is_object(t))
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "txns[%zu]: expected an object", ti);
	json_object_foreach(t, field, val) {
		if (strcmp(field, "id") != 0 && strcmp(field, "outcome") != 0 &&
		    strcmp(field, "ops") != 0 &&
		    strcmp(field, "invoke_ns") != 0 &&
		    strcmp(field, "complete_ns") != 0)
			return check_fail(DKV_ERR_CORRUPT, err, errlen,
					  "txns[%zu]: unknown field \"%.32s\"",
					  ti, field);
	}
	if (get_u64(json_object_get(t, "id"), &id) != 0)
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "txns[%zu].id: expected an integer in "
				  "[0, 2^63 - 1]",
				  ti);
	if (parse_outcome(json_object_get(t, "outcome"), &outcome) != 0)
		return check_fail(
			DKV_ERR_CORRUPT, err, errlen,
			"txns[%zu].outcome: expected \"ok\", \"fail\" or "
			"\"info\"",
			ti);
	ops = json_object_get(t, "ops");
	if (!json_is_array(ops))
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "txns[%zu].ops: expected a list", ti);
	rc = parse_times(t, ti, outcome, rule, &timed, &invoke, &complete, err,
			 errlen);
	if (rc != 0)
		return rc;
	rc = dkv_hist_begin(h, id);
	if (rc == DKV_ERR_EXISTS)
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "txns[%zu]: id %" PRIu64 " appears twice", ti,
				  id);
	if (rc != 0)
		return check_fail(rc, err, errlen, "txns[%zu]: %s", ti,
				  dkv_strerror(rc));
	if (timed) {
		rc = dkv_hist_times(h, invoke, complete);
		if (rc != 0) {
			check_fail(rc, err, errlen, "txns[%zu]: %s", ti,
				   dkv_strerror(rc));
			goto out;
		}
	}
	json_array_foreach(ops, i, op) {
		snprintf(where, sizeof(where), "txns[%zu].ops[%zu]", ti, i);
		rc = parse_op(h, op, outcome, buf, bufcap, where, err, errlen);
		if (rc == DKV_ERR_CORRUPT)
			goto out;
		if (rc != 0) {
			check_fail(rc, err, errlen, "%s: %s", where,
				   dkv_strerror(rc));
			goto out;
		}
	}
	rc = dkv_hist_end(h, outcome);
	if (rc != 0)
		check_fail(rc, err, errlen, "txns[%zu]: %s", ti,
			   dkv_strerror(rc));
out:
	if (rc != 0)
		dkv_hist_cancel(h);
	return rc;
}

int dkv_hist_parse_json(struct dkv_hist *h, const char *buf, size_t len,
			char *err, size_t errlen)
{
	struct timed_rule rule = {0, 0, 0};
	json_error_t jerr;
	json_t *root, *txns, *t;
	uint64_t *vals = NULL;
	size_t i, cap = 0;
	int rc = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (h == NULL || (buf == NULL && len > 0))
		return check_fail(DKV_ERR_INVAL, err, errlen,
				  "no history or buffer");
	root = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES,
			  &jerr);
	if (root == NULL)
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "line %d, column %d: %s", jerr.line,
				  jerr.column, jerr.text);
	txns = json_object_get(root, "txns");
	if (!json_is_object(root) || !json_is_array(txns)) {
		rc = check_fail(DKV_ERR_CORRUPT, err, errlen,
				"expected an object with a list \"txns\"");
		goto out;
	}
	json_array_foreach(txns, i, t) {
		rc = parse_txn(h, t, i, &rule, &vals, &cap, err, errlen);
		if (rc != 0)
			goto out;
	}
out:
	free(vals);
	json_decref(root);
	return rc;
}

int dkv_hist_load_json(struct dkv_hist *h, const char *path, char *err,
		       size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (h == NULL || path == NULL)
		return check_fail(DKV_ERR_INVAL, err, errlen,
				  "no history or path");
	rc = check_read_file(path, DKV_HIST_JSON_MAX, &buf, &len, err, errlen);
	if (rc == 0)
		rc = dkv_hist_parse_json(h, buf, len, err, errlen);
	free(buf);
	return rc;
}
