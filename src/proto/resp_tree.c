/*
 * resp_tree.c - reply trees: deep copy into one allocation, equality, type
 * names.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proto/resp.h"
#include "proto/resp_int.h"

const char *resp_type_name(enum resp_type t)
{
	switch (t) {
	case RESP_STRING: return "string";
	case RESP_ERROR: return "error";
	case RESP_INTEGER: return "integer";
	case RESP_BULK: return "bulk";
	case RESP_NIL: return "nil";
	case RESP_ARRAY: return "array";
	case RESP_NIL_ARRAY: return "nil-array";
	case RESP_NULL: return "null";
	case RESP_BOOL: return "bool";
	case RESP_DOUBLE: return "double";
	case RESP_BIGNUM: return "bignum";
	case RESP_VERBATIM: return "verbatim";
	case RESP_MAP: return "map";
	case RESP_SET: return "set";
	case RESP_PUSH: return "push";
	}
	return "unknown";
}

/* Counts nodes and string bytes (each + 1 for its NUL); 0 on overflow. */
static int measure(const struct resp_reply *r, size_t *nodes, size_t *bytes)
{
	size_t i;

	if (*nodes == SIZE_MAX)
		return 0;
	(*nodes)++;
	if (r->str != NULL) {
		if (r->len >= SIZE_MAX - *bytes)
			return 0;
		*bytes += r->len + 1;
	}
	if (r->elems == NULL)
		return 1;
	for (i = 0; i < r->n; i++)
		if (!measure(&r->elems[i], nodes, bytes))
			return 0;
	return 1;
}

static void copy(const struct resp_reply *s, struct resp_reply *d,
		 struct resp_reply **next_node, char **next_str)
{
	size_t i;

	*d = *s;
	if (s->str != NULL) {
		memcpy(*next_str, s->str, s->len);
		(*next_str)[s->len] = '\0';
		d->str = *next_str;
		*next_str += s->len + 1;
	}
	if (s->elems == NULL)
		return;
	d->elems = *next_node;
	*next_node += s->n;
	for (i = 0; i < s->n; i++)
		copy(&s->elems[i], &d->elems[i], next_node, next_str);
}

struct resp_reply *resp_reply_dup(const struct resp_reply *r)
{
	size_t nodes = 0, bytes = 0;
	struct resp_reply *mem, *next_node;
	char *next_str;

	if (!measure(r, &nodes, &bytes) ||
	    nodes > (SIZE_MAX - bytes) / sizeof(*mem))
		return NULL;
	mem = malloc(nodes * sizeof(*mem) + bytes);
	if (mem == NULL)
		return NULL;
	next_node = mem + 1;
	next_str = (char *)(mem + nodes);
	copy(r, mem, &next_node, &next_str);
	return mem;
}

void resp_reply_free(struct resp_reply *r)
{
	free(r);
}

int resp_reply_equal(const struct resp_reply *a, const struct resp_reply *b)
{
	size_t i;

	if (a->type != b->type)
		return 0;
	switch (a->type) {
	case RESP_INTEGER:
	case RESP_BOOL:
		return a->integer == b->integer;
	case RESP_DOUBLE:
		return (isnan(a->dval) && isnan(b->dval)) || a->dval == b->dval;
	case RESP_STRING:
	case RESP_ERROR:
	case RESP_BULK:
	case RESP_BIGNUM:
	case RESP_VERBATIM:
		return a->len == b->len &&
		       (a->len == 0 || memcmp(a->str, b->str, a->len) == 0);
	case RESP_ARRAY:
	case RESP_MAP:
	case RESP_SET:
	case RESP_PUSH:
		if (a->n != b->n)
			return 0;
		for (i = 0; i < a->n; i++)
			if (!resp_reply_equal(&a->elems[i], &b->elems[i]))
				return 0;
		return 1;
	case RESP_NIL:
	case RESP_NIL_ARRAY:
	case RESP_NULL:
		return 1;
	}
	return 0;
}
