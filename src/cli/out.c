/* out.c - output helpers of the dkv tool: escaping, tables, JSON. */
#define _GNU_SOURCE
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* Length of the valid UTF-8 sequence at p (1..4), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t left)
{
	size_t n;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if ((p[0] & 0xe0) == 0xc0)
		n = 2, cp = p[0] & 0x1f;
	else if ((p[0] & 0xf0) == 0xe0)
		n = 3, cp = p[0] & 0x0f;
	else if ((p[0] & 0xf8) == 0xf0)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static int utf8_valid_nonul(const void *p, size_t len)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len;) {
		size_t n;

		if (s[i] == 0)
			return 0;
		n = utf8_seq(s + i, len - i);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

char *out_escape(const void *p, size_t len)
{
	const unsigned char *s = p;
	char *out = malloc(4 * len + 1), *o = out;

	if (out == NULL) {
		cli_err("out of memory");
		exit(CLI_FAIL);
	}
	for (size_t i = 0; i < len;) {
		size_t n = s[i] >= 0x80 ? utf8_seq(s + i, len - i) : 0;

		if (n > 1) {
			memcpy(o, s + i, n);
			o += n;
			i += n;
			continue;
		}
		switch (s[i]) {
		case '\\':
			*o++ = '\\', *o++ = '\\';
			break;
		case '\t':
			*o++ = '\\', *o++ = 't';
			break;
		case '\n':
			*o++ = '\\', *o++ = 'n';
			break;
		case '\r':
			*o++ = '\\', *o++ = 'r';
			break;
		default:
			if (s[i] >= 0x20 && s[i] < 0x7f)
				*o++ = (char)s[i];
			else
				o += sprintf(o, "\\x%02x", s[i]);
		}
		i++;
	}
	*o = '\0';
	return out;
}

void out_raw(const void *p, size_t len)
{
	fwrite(p, 1, len, stdout);
}

/* --- tables -------------------------------------------------------------------- */

struct table {
	int ncols;
	char **hdr;
	char ***rows;
	size_t nrows, cap;
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (d == NULL) {
		cli_err("out of memory");
		exit(CLI_FAIL);
	}
	return d;
}

struct table *table_new(int ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->hdr = calloc((size_t)ncols, sizeof(char *))) ==
				 NULL) {
		cli_err("out of memory");
		exit(CLI_FAIL);
	}
	t->ncols = ncols;
	for (int i = 0; i < ncols; i++)
		t->hdr[i] = xstrdup(headers[i]);
	return t;
}

void table_add(struct table *t, const char *const *cells)
{
	char **row;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char ***r = realloc(t->rows, cap * sizeof(*r));

		if (r == NULL) {
			cli_err("out of memory");
			exit(CLI_FAIL);
		}
		t->rows = r;
		t->cap = cap;
	}
	row = calloc((size_t)t->ncols, sizeof(char *));
	if (row == NULL) {
		cli_err("out of memory");
		exit(CLI_FAIL);
	}
	for (int i = 0; i < t->ncols; i++)
		row[i] = xstrdup(cells[i]);
	t->rows[t->nrows++] = row;
}

/* Display width: code points (escaped text is otherwise ASCII). */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

void table_print(struct table *t, enum cli_out mode)
{
	size_t *w;

	if (mode != OUT_TABLE) {
		for (size_t r = 0; r < t->nrows; r++)
			for (int i = 0; i < t->ncols; i++)
				printf("%s%c", t->rows[r][i],
				       i + 1 < t->ncols ? '\t' : '\n');
		return;
	}
	w = calloc((size_t)t->ncols, sizeof(*w));
	if (w == NULL)
		return;
	for (int i = 0; i < t->ncols; i++) {
		w[i] = width(t->hdr[i]);
		for (size_t r = 0; r < t->nrows; r++)
			if (width(t->rows[r][i]) > w[i])
				w[i] = width(t->rows[r][i]);
	}
	for (int i = 0; i < t->ncols; i++)
		printf("%s%*s", t->hdr[i],
		       i + 1 < t->ncols ? (int)(w[i] - width(t->hdr[i]) + 2)
					: 0,
		       "");
	putchar('\n');
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++)
			printf("%s%*s", t->rows[r][i],
			       i + 1 < t->ncols
				       ? (int)(w[i] - width(t->rows[r][i]) + 2)
				       : 0,
			       "");
		putchar('\n');
	}
	free(w);
}

void table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++)
			free(t->rows[r][i]);
		free(t->rows[r]);
	}
	for (int i = 0; i < t->ncols; i++)
		free(t->hdr[i]);
	free(t->hdr);
	free(t->rows);
	free(t);
}

/* --- JSON ------------------------------------------------------------------------ */

void json_set_bytes(json_t *obj, const char *field, const void *p,
		    size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	char name[128], *h;

	if (utf8_valid_nonul(p, len)) {
		json_object_set_new(obj, field, json_stringn(p, len));
		return;
	}
	h = malloc(2 * len + 1);
	if (h == NULL) {
		cli_err("out of memory");
		exit(CLI_FAIL);
	}
	for (size_t i = 0; i < len; i++) {
		h[2 * i] = hex[s[i] >> 4];
		h[2 * i + 1] = hex[s[i] & 15];
	}
	h[2 * len] = '\0';
	snprintf(name, sizeof(name), "%s_hex", field);
	json_object_set_new(obj, name, json_string(h));
	free(h);
}

void json_print(json_t *v)
{
	if (v == NULL) {
		cli_err("out of memory");
		return;
	}
	json_dumpf(v, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(v);
}

void out_ok(enum cli_out mode)
{
	if (mode == OUT_JSON) {
		json_t *j = json_object();

		json_object_set_new(j, "ok", json_true());
		json_print(j);
	} else if (mode != OUT_RAW) {
		printf("OK\n");
	}
}
