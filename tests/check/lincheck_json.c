/*
 * lincheck_json.c - reads a register history from its JSON form
 * (lincheck.h, docs/lincheck.md) into a struct dkv_lin, for tools:
 *
 *   {"ops": [{"process": 3, "key": 7, "f": "write", "value": 12,
 *             "invoke_ns": 100, "complete_ns": 250, "outcome": "ok"},
 *            {"process": 6, "key": 7, "f": "cas", "value": [12, 13],
 *             "result": true, "invoke_ns": 130, "complete_ns": 320,
 *             "outcome": "ok"}, ...],
 *    "initial": {"7": 0}}
 *
 * Strict: an op has only the fields above, each of the right type; keys,
 * processes and values are integers in [0, 2^63 - 1] (null is nil where a
 * value may be absent); times are any 64-bit integers; duplicate object
 * keys are rejected. Other top-level fields are ignored (room for
 * metadata). "initial" is read first, then the ops in order.
 *
 * Failure modes: DKV_ERR_CORRUPT for anything malformed, with the JSON
 * path of the fault in the message ("ops[3].f: ..."); DKV_ERR_IO for a
 * file that cannot be read; DKV_ERR_TOO_BIG for a file over
 * DKV_LIN_JSON_MAX bytes (refused before reading, when its size is
 * known) or more than DKV_LIN_OPS_MAX ops; DKV_ERR_NOMEM. The initial
 * values and the ops read before the faulty one stay in the history.
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
#include "lincheck.h"

#define U63 "an integer in [0, 2^63 - 1]"

/* A JSON integer in [0, 2^63 - 1]: 0, or -1 when v is anything else. */
static int get_u63(const json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* get_u63, or null for DKV_LIN_NIL. */
static int get_value(const json_t *v, uint64_t *out)
{
	if (json_is_null(v)) {
		*out = DKV_LIN_NIL;
		return 0;
	}
	return get_u63(v, out);
}

static const char *const fields[] = {"process",   "key",         "f",
				     "value",     "result",      "invoke_ns",
				     "complete_ns", "outcome"};

/* Fills op from the JSON object o (ops[i]). 0 or DKV_ERR_CORRUPT. */
static int parse_fields(const json_t *o, size_t i, struct dkv_lin_op *op,
			char *err, size_t errlen)
{
	const json_t *f, *v, *res, *done;
	const char *name, *field;
	json_t *val;
	size_t k;

	json_object_foreach((json_t *)o, field, val) {
		for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
			if (strcmp(field, fields[k]) == 0)
				break;
		if (k == sizeof(fields) / sizeof(fields[0]))
			return check_fail(DKV_ERR_CORRUPT, err, errlen,
					  "ops[%zu]: unknown field \"%.32s\"",
					  i, field);
	}
	for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
		if (strcmp(fields[k], "value") == 0 ||
		    strcmp(fields[k], "result") == 0 ||
		    strcmp(fields[k], "complete_ns") == 0)
			continue; /* required or not depending on f, outcome */
		if (json_object_get(o, fields[k]) == NULL)
			return check_fail(DKV_ERR_CORRUPT, err, errlen,
					  "ops[%zu]: missing field \"%s\"", i,
					  fields[k]);
	}
	if (get_u63(json_object_get(o, "process"), &op->process) != 0)
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "ops[%zu].process: expected " U63, i);
	if (get_u63(json_object_get(o, "key"), &op->key) != 0)
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "ops[%zu].key: expected " U63, i);

	f = json_object_get(o, "f");
	name = json_string_value(f);
	if (name == NULL)
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "ops[%zu].f: expected \"read\", \"write\" or "
				  "\"cas\"",
				  i);
	if (strcmp(name, "read") == 0)
		op->kind = DKV_LIN_READ;
	else if (strcmp(name, "write") == 0)
		op->kind = DKV_LIN_WRITE;
	else if (strcmp(name, "cas") == 0)
		op->kind = DKV_LIN_CAS;
	else
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "ops[%zu].f: unknown operation \"%.32s\"", i,
				  name);

	name = json_string_value(json_object_get(o, "outcome"));
	if (name != NULL && strcmp(name, "ok") == 0)
		op->outcome = DKV_LIN_OK;
	else if (name != NULL && strcmp(name, "fail") == 0)
		op->outcome = DKV_LIN_FAIL;
	else if (name != NULL && strcmp(name, "info") == 0)
		op->outcome = DKV_LIN_INFO;
	else
		return check_fail(
			DKV_ERR_CORRUPT, err, errlen,
			"ops[%zu].outcome: expected \"ok\", \"fail\" or "
			"\"info\"",
			i);

	v = json_object_get(o, "invoke_ns");
	if (!json_is_integer(v))
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "ops[%zu].invoke_ns: expected an integer", i);
	op->invoke_ns = (int64_t)json_integer_value(v);
	done = json_object_get(o, "complete_ns");
	if (op->outcome == DKV_LIN_INFO) {
		if (done != NULL && !json_is_null(done) &&
		    !json_is_integer(done))
			return check_fail(DKV_ERR_CORRUPT, err, errlen,
					  "ops[%zu].complete_ns: expected an "
					  "integer or null",
					  i);
		op->complete_ns = op->invoke_ns; /* ignored: never completed */
	} else {
		if (!json_is_integer(done))
			return check_fail(
				DKV_ERR_CORRUPT, err, errlen,
				"ops[%zu].complete_ns: expected an "
				"integer (required unless the outcome "
				"is info)",
				i);
		op->complete_ns = (int64_t)json_integer_value(done);
		if (op->complete_ns < op->invoke_ns)
			return check_fail(DKV_ERR_CORRUPT, err, errlen,
					  "ops[%zu].complete_ns: %" PRId64
					  " is before invoke_ns %" PRId64,
					  i, op->complete_ns, op->invoke_ns);
	}

	v = json_object_get(o, "value");
	res = json_object_get(o, "result");
	if (res != NULL && op->kind != DKV_LIN_CAS)
		return check_fail(DKV_ERR_CORRUPT, err, errlen,
				  "ops[%zu].result: only a cas has a result",
				  i);
	switch (op->kind) {
	case DKV_LIN_READ:
		if (op->outcome == DKV_LIN_OK && v == NULL)
			return check_fail(
				DKV_ERR_CORRUPT, err, errlen,
				"ops[%zu]: missing field \"value\" (the "
				"value read, null for nil)",
				i);
		if (v != NULL && get_value(v, &op->value) != 0)
			return check_fail(
				DKV_ERR_CORRUPT, err, errlen,
				"ops[%zu].value: expected " U63 " or null", i);
		break;
	case DKV_LIN_WRITE:
		if (v == NULL)
			return check_fail(DKV_ERR_CORRUPT, err, errlen,
					  "ops[%zu]: missing field \"value\"",
					  i);
		if (get_u63(v, &op->value) != 0)
			return check_fail(DKV_ERR_CORRUPT, err, errlen,
					  "ops[%zu].value: expected " U63, i);
		break;
	default:
		if (v == NULL)
			return check_fail(DKV_ERR_CORRUPT, err, errlen,
					  "ops[%zu]: missing field \"value\"",
					  i);
		if (!json_is_array(v) || json_array_size(v) != 2 ||
		    get_value(json_array_get(v, 0), &op->expected) != 0 ||
		    get_u63(json_array_get(v, 1), &op->value) != 0)
			return check_fail(
				DKV_ERR_CORRUPT, err, errlen,
				"ops[%zu].value: expected [expected, new]: "
				"expected " U63 " or null, new " U63,
				i);
		if (op->outcome == DKV_LIN_OK && !json_is_boolean(res))
			return check_fail(
				DKV_ERR_CORRUPT, err, errlen,
				"ops[%zu].result: expected true (swapped) "
				"or false (another value: not swapped)",
				i);
		if (op->outcome != DKV_LIN_OK && res != NULL &&
		    !json_is_null(res))
			return check_fail(
				DKV_ERR_CORRUPT, err, errlen,
				"ops[%zu].result: null or absent unless "
				"the outcome is ok",
				i);
		op->swapped = json_is_true(res) ? 1 : 0;
		break;
	}
	return 0;
}

/* Reads "initial": {"7": 12, "8": null}. */
static int parse_initial(struct dkv_lin *h, json_t *init, char *err,
			 size_t errlen)
{
	const char *field, *p;
	uint64_t key, value;
	json_t *val;
	int rc;

	if (init == NULL)
		return 0;
	if (!json_is_object(init))
		return check_fail(
			DKV_ERR_CORRUPT, err, errlen,
			"initial: expected an object {\"key\": value}");
	json_object_foreach(init, field, val) {
		/* canonical decimal: digits, no sign, no leading zero */
		key = 0;
		for (p = field; *p >= '0' && *p <= '9'; p++) {
			if (key > (UINT64_C(1) << 63) / 10)
				break;
			key = key * 10 + (uint64_t)(*p - '0');
		}
		if (*p != '\0' || p == field ||
		    (field[0] == '0' && p - field > 1) ||
		    key > (uint64_t)INT64_MAX)
			return check_fail(
				DKV_ERR_CORRUPT, err, errlen,
				"initial.\"%.32s\": the key must be a "
				"decimal integer in [0, 2^63 - 1]",
				field);
		if (get_value(val, &value) != 0)
			return check_fail(DKV_ERR_CORRUPT, err, errlen,
					  "initial.\"%.32s\": expected " U63
					  " or null",
					  field);
		rc = dkv_lin_initial(h, key, value);
		if (rc != 0)
			return check_fail(rc, err, errlen,
					  "initial.\"%.32s\": %s", field,
					  dkv_strerror(rc));
	}
	return 0;
}

int dkv_lin_parse_json(struct dkv_lin *h, const char *buf, size_t len,
		       char *err, size_t errlen)
{
	struct dkv_lin_op op;
	json_error_t jerr;
	json_t *root, *ops, *o;
	size_t i;
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
	ops = json_object_get(root, "ops");
	if (!json_is_object(root) || !json_is_array(ops)) {
		rc = check_fail(DKV_ERR_CORRUPT, err, errlen,
				"expected an object with a list \"ops\"");
		goto out;
	}
	if (json_array_size(ops) > DKV_LIN_OPS_MAX) {
		rc = check_fail(DKV_ERR_TOO_BIG, err, errlen,
				"%zu ops, over the limit of %" PRIu32,
				json_array_size(ops),
				(uint32_t)DKV_LIN_OPS_MAX);
		goto out;
	}
	rc = parse_initial(h, json_object_get(root, "initial"), err, errlen);
	if (rc != 0)
		goto out;
	json_array_foreach(ops, i, o) {
		memset(&op, 0, sizeof(op));
		if (!json_is_object(o)) {
			rc = check_fail(DKV_ERR_CORRUPT, err, errlen,
					"ops[%zu]: expected an object", i);
			goto out;
		}
		rc = parse_fields(o, i, &op, err, errlen);
		if (rc != 0)
			goto out;
		rc = dkv_lin_op(h, &op);
		if (rc != 0) {
			check_fail(rc, err, errlen, "ops[%zu]: %s", i,
				   dkv_strerror(rc));
			goto out;
		}
	}
out:
	json_decref(root);
	return rc;
}

int dkv_lin_load_json(struct dkv_lin *h, const char *path, char *err,
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
	rc = check_read_file(path, DKV_LIN_JSON_MAX, &buf, &len, err, errlen);
	if (rc == 0)
		rc = dkv_lin_parse_json(h, buf, len, err, errlen);
	free(buf);
	return rc;
}
