/*
 * cmd_tx.c - transactions in the dkv tool (docs/cli.md, "Transactions"):
 * `dkv tx [FILE]` runs a file of commands as one transaction through
 * dkv_tx_run, and the shell's begin / commit / abort.
 *
 * `dkv tx` reads the whole file into memory first (bounded by
 * TX_MAX_BYTES and TX_MAX_LINES), parses every line (a syntax error is
 * reported with its line number before anything is sent), then runs the
 * parsed program as the body of dkv_tx_run: the body may run several
 * times (after conflicts), so it collects the results of its reads in
 * memory afresh on each run, and only the run that committed is printed.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "hlc/hlc.h"

/* --- the program: a file parsed into commands ------------------------- */

struct tx_word {
	const char *p; /* in the program's arena; not NUL-terminated */
	size_t len;
	int quoted;    /* had a quoted part: never an option */
};

enum tx_op { TX_GET, TX_PUT, TX_DEL, TX_RANGE };

struct tx_cmd {
	uint32_t line;
	enum tx_op op;
	uint64_t flags;  /* put: DKV_COND_*; range: DKV_RANGE_REVERSE */
	uint32_t limit;  /* range: at most this many items, 0: all */
	size_t first, n; /* its operands: words[first .. first + n) */
};

struct tx_prog {
	const char *name; /* the file, for messages ("stdin" for stdin) */
	char *text;       /* the file, as read */
	size_t len;
	char *arena;      /* decoded words (never longer than the text) */
	struct tx_word *words;
	size_t nwords, capw;
	struct tx_cmd *cmds;
	size_t ncmds, capc;
	char err[160];    /* the last syntax error */
};

static void prog_free(struct tx_prog *pg)
{
	free(pg->text);
	free(pg->arena);
	free(pg->words);
	free(pg->cmds);
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static int hexval(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int push_word(struct tx_prog *pg, const char *p, size_t len,
		     int quoted)
{
	if (pg->nwords == pg->capw) {
		size_t cap = pg->capw ? 2 * pg->capw : 256;
		struct tx_word *w = realloc(pg->words, cap * sizeof(*w));

		if (w == NULL)
			return -1;
		pg->words = w;
		pg->capw = cap;
	}
	pg->words[pg->nwords].p = p;
	pg->words[pg->nwords].len = len;
	pg->words[pg->nwords].quoted = quoted;
	pg->nwords++;
	return 0;
}

/* Decodes the escape at s[i] == '\\' inside double quotes (s[0, n) is
 * the line) into *c: the bytes it takes (2 or 4), or 0 with a message in
 * *msg. */
static size_t decode_escape(struct tx_prog *pg, const char *s, size_t n,
			    size_t i, char *c, const char **msg)
{
	char *e;

	if (i + 1 == n) {
		*msg = "unbalanced quotes";
		return 0;
	}
	switch (s[i + 1]) {
	case 'n':
		*c = '\n';
		return 2;
	case 'r':
		*c = '\r';
		return 2;
	case 't':
		*c = '\t';
		return 2;
	case '\\':
	case '"':
	case '\'':
		*c = s[i + 1];
		return 2;
	case 'x':
		if (i + 3 < n && isxdigit((unsigned char)s[i + 2]) &&
		    isxdigit((unsigned char)s[i + 3])) {
			*c = (char)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
			return 4;
		}
		*msg = "bad escape: \\x takes two hex digits";
		return 0;
	default:
		e = out_escape(s + i + 1, 1);
		snprintf(pg->err, sizeof(pg->err),
			 "unknown escape \\%s (\\n \\r \\t \\\\ \\\" \\' "
			 "\\xHH)",
			 e);
		free(e);
		*msg = pg->err;
		return 0;
	}
}

/* Splits the line s[0, n) into words appended to pg->words, decoded into
 * the arena at *ap (advanced). NULL, or a message (in pg->err or
 * static). */
static const char *split_words(struct tx_prog *pg, const char *s, size_t n,
			       char **ap)
{
	size_t i = 0;

	for (;;) {
		char *w = *ap, *o = w;
		int quoted = 0;

		while (i < n && is_blank(s[i]))
			i++;
		if (i == n)
			return NULL;
		while (i < n && !is_blank(s[i])) {
			char q = s[i];

			if (q != '"' && q != '\'') {
				*o++ = s[i++];
				continue;
			}
			/* A quoted part, up to its closing quote. */
			quoted = 1;
			for (i++;;) {
				const char *msg = NULL;
				size_t k;

				if (i == n)
					return "unbalanced quotes";
				if (s[i] == q) {
					i++;
					break;
				}
				if (s[i] != '\\') {
					*o++ = s[i++];
				} else if (q == '\'') {
					/* Literal, but for \'. */
					if (i + 1 < n && s[i + 1] == '\'') {
						*o++ = '\'';
						i += 2;
					} else {
						*o++ = s[i++];
					}
				} else if ((k = decode_escape(pg, s, n, i, o,
							      &msg)) == 0) {
					return msg;
				} else {
					o++;
					i += k;
				}
			}
		}
		if (push_word(pg, w, (size_t)(o - w), quoted) != 0)
			return "out of memory";
		*ap = o;
	}
}

static int word_is(const struct tx_word *w, const char *s)
{
	return w->len == strlen(s) && memcmp(w->p, s, w->len) == 0;
}

/* An option: an unquoted word starting with "--". */
static int word_is_opt(const struct tx_word *w)
{
	return !w->quoted && w->len >= 2 && w->p[0] == '-' && w->p[1] == '-';
}

/* Parses a --limit value: 0 or -1. */
static int parse_limit(const struct tx_word *w, uint32_t *out)
{
	char buf[24];
	uint64_t v;

	if (w->len == 0 || w->len >= sizeof(buf))
		return -1;
	memcpy(buf, w->p, w->len);
	buf[w->len] = '\0';
	if (cli_parse_u64(buf, 1, UINT32_MAX, &v) != 0)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Makes a command of the words [first, first + n) of one line: the
 * command name, options and operands (moved to the front, after the
 * name). NULL, or a message. */
static const char *parse_cmd(struct tx_prog *pg, struct tx_cmd *cmd,
			     size_t first, size_t n)
{
	struct tx_word *w = pg->words + first;
	size_t nops = 0;
	int nx = 0, xx = 0;

	memset(cmd, 0, sizeof(*cmd));
	if (word_is(&w[0], "get"))
		cmd->op = TX_GET;
	else if (word_is(&w[0], "put") || word_is(&w[0], "set"))
		cmd->op = TX_PUT;
	else if (word_is(&w[0], "del"))
		cmd->op = TX_DEL;
	else if (word_is(&w[0], "range"))
		cmd->op = TX_RANGE;
	else {
		char *e = out_escape(w[0].p, w[0].len > 40 ? 40 : w[0].len);

		snprintf(pg->err, sizeof(pg->err),
			 "unknown command '%s' (get, put, del, range)", e);
		free(e);
		return pg->err;
	}
	cmd->limit = 100;
	for (size_t i = 1; i < n; i++) {
		const struct tx_word *o = &w[i];

		if (!word_is_opt(o)) {
			w[1 + nops++] = *o;
			continue;
		}
		if (cmd->op == TX_PUT && word_is(o, "--nx")) {
			nx = 1;
		} else if (cmd->op == TX_PUT && word_is(o, "--xx")) {
			xx = 1;
		} else if (cmd->op == TX_RANGE && word_is(o, "--rev")) {
			cmd->flags |= DKV_RANGE_REVERSE;
		} else if (cmd->op == TX_RANGE && word_is(o, "--all")) {
			cmd->limit = 0;
		} else if (cmd->op == TX_RANGE && word_is(o, "--limit")) {
			if (i + 1 == n || parse_limit(&w[i + 1], &cmd->limit))
				return "--limit takes a number in [1, "
				       "4294967295]";
			i++;
		} else if (cmd->op == TX_RANGE && o->len > 8 &&
			   memcmp(o->p, "--limit=", 8) == 0) {
			struct tx_word v = { o->p + 8, o->len - 8, 0 };

			if (parse_limit(&v, &cmd->limit))
				return "--limit takes a number in [1, "
				       "4294967295]";
		} else {
			char *e = out_escape(o->p, o->len > 40 ? 40 : o->len);

			snprintf(pg->err, sizeof(pg->err),
				 "unknown option '%s' (quote an operand that "
				 "starts with --)",
				 e);
			free(e);
			return pg->err;
		}
	}
	cmd->first = first + 1;
	cmd->n = nops;
	switch (cmd->op) {
	case TX_GET:
		if (nops != 1)
			return "get takes one KEY";
		break;
	case TX_PUT:
		if (nops != 2)
			return "put takes KEY VALUE";
		if (nx && xx)
			return "put takes --nx or --xx, not both";
		cmd->flags = nx ? DKV_COND_INSERT : xx ? DKV_COND_UPDATE : 0;
		break;
	case TX_DEL:
		if (nops < 1)
			return "del takes one KEY or more";
		break;
	case TX_RANGE:
		if (nops != 2)
			return "range takes START END";
		return NULL; /* "" is an open end */
	}
	for (size_t i = 0; i < (cmd->op == TX_PUT ? 1 : nops); i++)
		if (w[1 + i].len == 0)
			return "empty key (a key has one byte or more)";
	return NULL;
}

static const char *op_name(enum tx_op op)
{
	return op == TX_GET ? "get" : op == TX_PUT ? "put" :
	       op == TX_DEL ? "del" : "range";
}

/* Parses pg->text into pg->cmds: CLI_OK, or CLI_USAGE after printing
 * the syntax errors (the first TX_MAX_ERRORS) with their line numbers. */
static int prog_parse(struct tx_prog *pg)
{
	const char *s = pg->text, *end = pg->text + pg->len;
	char *ap;
	uint32_t line = 0, errors = 0;

	pg->arena = malloc(pg->len + 1);
	if (pg->arena == NULL) {
		cli_err("out of memory");
		return CLI_FAIL;
	}
	ap = pg->arena;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s), first, i;
		const char *msg;

		line++;
		for (i = 0; i < n && is_blank(s[i]); i++)
			;
		if (i == n || s[i] == '#')
			goto next;
		first = pg->nwords;
		msg = split_words(pg, s, n, &ap);
		if (msg == NULL && pg->ncmds == pg->capc) {
			size_t cap = pg->capc ? 2 * pg->capc : 64;
			struct tx_cmd *c = realloc(pg->cmds, cap * sizeof(*c));

			if (c == NULL)
				msg = "out of memory";
			else
				pg->cmds = c, pg->capc = cap;
		}
		if (msg == NULL)
			msg = parse_cmd(pg, &pg->cmds[pg->ncmds], first,
					pg->nwords - first);
		if (msg != NULL) {
			if (++errors <= TX_MAX_ERRORS)
				cli_err("%s:%u: %s", pg->name, line, msg);
			pg->nwords = first;
			goto next;
		}
		pg->cmds[pg->ncmds++].line = line;
next:
		s = nl ? nl + 1 : end;
	}
	if (errors > TX_MAX_ERRORS)
		cli_err("%s: %u more syntax errors", pg->name,
			errors - TX_MAX_ERRORS);
	if (errors) {
		cli_err("%s: %u syntax error%s: nothing was sent", pg->name,
			errors, errors == 1 ? "" : "s");
		return CLI_USAGE;
	}
	return CLI_OK;
}

/* Reads FILE ("-" or NULL: stdin) whole into pg->text, bounded by
 * TX_MAX_BYTES and TX_MAX_LINES. An exit code. */
static int prog_read(struct tx_prog *pg, const char *path)
{
	FILE *f = stdin;
	struct stat st;
	size_t cap = 65536, n = 0, lines = 0;
	char *buf;

	if (path != NULL && strcmp(path, "-") != 0) {
		f = fopen(path, "rb");
		if (f == NULL) {
			cli_err("%s: %s", path, strerror(errno));
			return CLI_FAIL;
		}
	}
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size > (off_t)TX_MAX_BYTES) {
		cli_err("%s: %lld bytes: over the limit of a transaction file "
			"(%u MiB)",
			pg->name, (long long)st.st_size, TX_MAX_BYTES >> 20);
		goto too_big;
	}
	buf = malloc(cap);
	if (buf == NULL)
		goto nomem;
	for (;;) {
		size_t r;

		if (n == cap) {
			char *p;

			if (cap > TX_MAX_BYTES) {
				free(buf);
				cli_err("%s: over the limit of a transaction "
					"file (%u MiB)",
					pg->name, TX_MAX_BYTES >> 20);
				goto too_big;
			}
			cap = cap * 2 > (size_t)TX_MAX_BYTES + 1
				      ? (size_t)TX_MAX_BYTES + 1
				      : cap * 2;
			p = realloc(buf, cap);
			if (p == NULL) {
				free(buf);
				goto nomem;
			}
			buf = p;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		cli_err("%s: %s", pg->name, strerror(errno));
		free(buf);
		if (f != stdin)
			fclose(f);
		return CLI_FAIL;
	}
	if (f != stdin)
		fclose(f);
	else
		clearerr(stdin);
	if (n > TX_MAX_BYTES) {
		free(buf);
		cli_err("%s: over the limit of a transaction file (%u MiB)",
			pg->name, TX_MAX_BYTES >> 20);
		return CLI_USAGE;
	}
	for (const char *p = buf, *e = buf + n; p < e; lines++) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));

		p = nl ? nl + 1 : e;
	}
	if (lines > TX_MAX_LINES) {
		free(buf);
		cli_err("%s: %zu lines: over the limit of a transaction file "
			"(%u lines)",
			pg->name, lines, TX_MAX_LINES);
		return CLI_USAGE;
	}
	pg->text = buf;
	pg->len = n;
	return CLI_OK;
too_big:
	if (f != stdin)
		fclose(f);
	return CLI_USAGE;
nomem:
	if (f != stdin)
		fclose(f);
	cli_err("out of memory");
	return CLI_FAIL;
}

/* --- running it ------------------------------------------------------- */

enum tx_res_kind { RES_GET, RES_RANGE, RES_ITEM };

struct tx_result {
	enum tx_res_kind kind;
	uint32_t line;
	int missing;     /* RES_GET: no such key */
	const void *key; /* RES_GET: the program's; RES_ITEM: in buf */
	size_t klen;
	const void *val; /* RES_GET: dkv_get_alloc's; RES_ITEM: in buf */
	size_t vlen;
	void *buf;       /* RES_ITEM: key and value, malloc'ed */
};

struct tx_run {
	struct cli *cli;
	dkv_client_t *c;
	struct tx_prog *pg;
	struct tx_result *res; /* the reads of the current run */
	size_t nres, capres;
	uint32_t attempts;     /* runs of the body */
	int body_done;         /* the last run reached its end */
	const struct tx_cmd *failed; /* the command that failed the body */
	const void *fkey;      /* ... and its key */
	size_t fklen;
	char why[256];         /* dkv_last_error() when it failed */
	uint32_t *more;        /* lines of ranges stopped at their limit */
	size_t nmore, capmore;
	uint32_t line;         /* the range being read */
};

static void results_clear(struct tx_run *r)
{
	for (size_t i = 0; i < r->nres; i++) {
		if (r->res[i].kind == RES_GET)
			dkv_free((void *)r->res[i].val);
		free(r->res[i].buf);
	}
	r->nres = 0;
	r->nmore = 0;
}

static struct tx_result *result_add(struct tx_run *r, enum tx_res_kind k,
				    uint32_t line)
{
	struct tx_result *x;

	if (r->nres == r->capres) {
		size_t cap = r->capres ? 2 * r->capres : 64;

		x = realloc(r->res, cap * sizeof(*x));
		if (x == NULL)
			return NULL;
		r->res = x;
		r->capres = cap;
	}
	x = &r->res[r->nres++];
	memset(x, 0, sizeof(*x));
	x->kind = k;
	x->line = line;
	return x;
}

static int range_item(void *arg, const void *key, size_t klen,
		      const void *val, size_t vlen, uint64_t epoch)
{
	struct tx_run *r = arg;
	struct tx_result *x;
	char *b = malloc(klen + vlen + 1);

	(void)epoch;
	if (b == NULL)
		return DKV_ERR_NOMEM;
	x = result_add(r, RES_ITEM, r->line);
	if (x == NULL) {
		free(b);
		return DKV_ERR_NOMEM;
	}
	memcpy(b, key, klen);
	if (vlen)
		memcpy(b + klen, val, vlen);
	x->buf = b;
	x->key = b;
	x->klen = klen;
	x->val = b + klen;
	x->vlen = vlen;
	return 0;
}

/* Notes where the body failed: the command, its key, the reason. */
static int body_fail(struct tx_run *r, const struct tx_cmd *cmd,
		     const struct tx_word *key, int rc)
{
	r->failed = cmd;
	r->fkey = key->p;
	r->fklen = key->len;
	snprintf(r->why, sizeof(r->why), "%s", dkv_last_error());
	return rc;
}

/* The body of dkv_tx_run: runs every command of the program in tx,
 * collecting the reads' results afresh. */
static int tx_body(dkv_tx_t *tx, void *arg)
{
	struct tx_run *r = arg;
	const struct tx_prog *pg = r->pg;

	r->attempts++;
	r->body_done = 0;
	r->failed = NULL;
	results_clear(r);
	for (size_t i = 0; i < pg->ncmds; i++) {
		const struct tx_cmd *cmd = &pg->cmds[i];
		const struct tx_word *w = pg->words + cmd->first;
		struct tx_result *x;
		struct dkv_anchor a = DKV_ANCHOR_INIT;
		void *val = NULL;
		size_t len = 0;
		int rc;

		switch (cmd->op) {
		case TX_GET:
			rc = dkv_get_alloc(r->c, tx, 0, w[0].p, w[0].len, &val,
					   &len);
			if (rc != DKV_OK && rc != DKV_ERR_NOT_FOUND)
				return body_fail(r, cmd, &w[0], rc);
			x = result_add(r, RES_GET, cmd->line);
			if (x == NULL) {
				dkv_free(val);
				return body_fail(r, cmd, &w[0], DKV_ERR_NOMEM);
			}
			x->key = w[0].p;
			x->klen = w[0].len;
			x->missing = rc == DKV_ERR_NOT_FOUND;
			x->val = val;
			x->vlen = len;
			break;
		case TX_PUT:
			rc = dkv_put(r->c, tx, cmd->flags, w[0].p, w[0].len,
				     w[1].p, w[1].len);
			if (rc != DKV_OK)
				return body_fail(r, cmd, &w[0], rc);
			break;
		case TX_DEL:
			for (size_t k = 0; k < cmd->n; k++) {
				rc = dkv_remove(r->c, tx, 0, w[k].p, w[k].len);
				if (rc < 0)
					return body_fail(r, cmd, &w[k], rc);
			}
			break;
		case TX_RANGE:
			if (result_add(r, RES_RANGE, cmd->line) == NULL)
				return body_fail(r, cmd, &w[0], DKV_ERR_NOMEM);
			r->line = cmd->line;
			rc = dkv_range(r->c, tx, cmd->flags, w[0].p, w[0].len,
				       w[1].p, w[1].len, cmd->limit, &a,
				       range_item, r);
			if (rc >= 0 && cmd->limit &&
			    (uint32_t)rc == cmd->limit &&
			    !dkv_anchor_is_eof(&a) && r->nmore < r->capmore)
				r->more[r->nmore++] = cmd->line;
			dkv_anchor_fini(&a);
			if (rc < 0)
				return body_fail(r, cmd, &w[0], rc);
			break;
		}
	}
	r->body_done = 1;
	return 0;
}

static void print_results(struct tx_run *r)
{
	struct cli *cli = r->cli;

	if (cli->out == OUT_JSON) {
		json_t *top = json_object(), *arr = json_array(), *items = NULL;

		for (size_t i = 0; i < r->nres; i++) {
			const struct tx_result *x = &r->res[i];
			json_t *j;

			if (x->kind == RES_ITEM) {
				j = json_object();
				json_set_bytes(j, "key", x->key, x->klen);
				json_set_bytes(j, "value", x->val, x->vlen);
				json_array_append_new(items, j);
				continue;
			}
			j = json_object();
			json_object_set_new(j, "line", json_integer(x->line));
			json_object_set_new(j, "op", json_string(
				x->kind == RES_GET ? "get" : "range"));
			if (x->kind == RES_GET) {
				json_set_bytes(j, "key", x->key, x->klen);
				if (x->missing)
					json_object_set_new(j, "value",
							    json_null());
				else
					json_set_bytes(j, "value", x->val,
						       x->vlen);
			} else {
				items = json_array();
				json_object_set_new(j, "items", items);
			}
			json_array_append_new(arr, j);
		}
		json_object_set_new(top, "results", arr);
		json_object_set_new(top, "attempts", json_integer(r->attempts));
		json_print(top);
	} else if (cli->out == OUT_RAW) {
		for (size_t i = 0; i < r->nres; i++) {
			const struct tx_result *x = &r->res[i];

			if (x->kind == RES_ITEM) {
				out_raw(x->key, x->klen);
				putchar('\n');
			}
			if (x->kind != RES_RANGE) {
				if (x->vlen)
					out_raw(x->val, x->vlen);
				putchar('\n');
			}
		}
	} else {
		static const char *const hdr[3] = { "LINE", "KEY", "VALUE" };
		struct table *t = table_new(3, hdr);
		size_t rows = 0;

		for (size_t i = 0; i < r->nres; i++) {
			const struct tx_result *x = &r->res[i];
			char ln[16], *k, *v;

			if (x->kind == RES_RANGE)
				continue;
			snprintf(ln, sizeof(ln), "%u", x->line);
			k = out_escape(x->key, x->klen);
			v = x->missing ? strdup("(nil)")
				       : out_escape(x->val, x->vlen);
			{
				const char *cells[3] = { ln, k, v ? v : "" };

				table_add(t, cells);
			}
			rows++;
			free(k);
			free(v);
		}
		if (rows)
			table_print(t, cli->out);
		table_free(t);
	}
	fflush(stdout);
}

int cmd_tx(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'H' },
		{ 0 },
	};
	struct tx_prog pg = { 0 };
	struct tx_run r = { 0 };
	const char *path = NULL;
	int o, rc, ec;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'H') {
			printf("Usage: dkv tx [FILE]\n"
			       "Run the commands of FILE (standard input when "
			       "FILE is absent or -) as one\n"
			       "transaction: all of its writes or none, its "
			       "reads one consistent state.\n"
			       "On a conflict it runs the file again from the "
			       "start (dkv_tx_run, 20 attempts).\n\n"
			       "One command a line (blank lines and lines "
			       "starting with # are ignored):\n"
			       "  get KEY\n"
			       "  put KEY VALUE [--nx|--xx]\n"
			       "  del KEY...\n"
			       "  range START END [--limit N] [--rev] "
			       "[--all]\n"
			       "Words are separated by blanks; \"double "
			       "quotes\" take \\n \\r \\t \\\\ \\\" \\' \\xHH\n"
			       "escapes (any byte, \\x00 too); 'single "
			       "quotes' are literal but for \\'.\n"
			       "Reads see the file's own earlier writes. At "
			       "most %u MiB and %u lines.\n\n"
			       "Output: the reads of the run that committed, "
			       "in order (table, plain: LINE KEY\n"
			       "VALUE rows, (nil) for a missing key; raw: "
			       "get's value, a range's keys and\n"
			       "values, one a line; json: {\"results\": "
			       "[{\"line\", \"op\", \"key\", \"value\"} or\n"
			       "{\"line\", \"op\", \"items\"}], "
			       "\"attempts\"}); then on stderr the attempts "
			       "it took.\n\n"
			       "Exit status: 0 committed; 1 a put --nx/--xx "
			       "condition failed (nothing\nwritten); 2 usage "
			       "or syntax error (with its line; nothing "
			       "sent), a file over\nthe limits; 3 any other "
			       "failure (nothing written); 4 the commit's "
			       "outcome is\nunknown (it timed out: the "
			       "transaction may or may not have "
			       "committed).\n",
			       TX_MAX_BYTES >> 20, TX_MAX_LINES);
			return CLI_OK;
		}
		return cli_try("tx");
	}
	if (argc - optind > 1)
		return cli_usage_error("tx", "tx takes one FILE at most");
	if (argc - optind == 1)
		path = argv[optind];
	if (cli->tx != NULL) {
		cli_err("tx: a transaction is open: commit or abort it first");
		return CLI_USAGE;
	}
	pg.name = path == NULL || strcmp(path, "-") == 0 ? "stdin" : path;
	ec = prog_read(&pg, path);
	if (ec == CLI_OK)
		ec = prog_parse(&pg);
	if (ec != CLI_OK)
		goto out;
	r.cli = cli;
	r.pg = &pg;
	r.capmore = pg.ncmds;
	r.more = calloc(pg.ncmds ? pg.ncmds : 1, sizeof(*r.more));
	r.c = cli_client(cli);
	if (r.more == NULL || r.c == NULL) {
		if (r.more == NULL)
			cli_err("out of memory");
		ec = CLI_FAIL;
		goto out;
	}
	rc = dkv_tx_run(r.c, 0, tx_body, &r, NULL);
	if (rc >= 0) {
		print_results(&r);
		for (size_t i = 0; i < r.nmore; i++)
			cli_err("%s:%u: range: more items may follow: use "
				"--all or a larger --limit",
				pg.name, r.more[i]);
		fprintf(stderr, "committed after %u attempt%s\n", r.attempts,
			r.attempts == 1 ? "" : "s");
		ec = CLI_OK;
	} else if (rc == DKV_ERR_TIMEOUT && r.body_done) {
		const char *why = dkv_last_error();

		cli_err("commit: %s%s%s: the outcome is unknown: the "
			"transaction may or may not have committed",
			dkv_strerror(rc), *why ? ": " : "", why);
		ec = CLI_UNKNOWN;
	} else if (rc == DKV_ERR_TX_RESTART) {
		cli_err("transaction conflict: gave up after %u attempts; "
			"nothing was written",
			r.attempts);
		ec = CLI_FAIL;
	} else if (!r.body_done && r.failed != NULL) {
		char *k = out_escape(r.fkey, r.fklen);

		if (r.failed->op == TX_PUT &&
		    (rc == DKV_ERR_EXISTS || rc == DKV_ERR_NOT_FOUND)) {
			cli_err("%s:%u: not stored: %s %s; nothing was written",
				pg.name, r.failed->line, k,
				rc == DKV_ERR_EXISTS ? "exists (--nx)"
						     : "does not exist (--xx)");
			ec = CLI_NOT_FOUND;
		} else {
			cli_err("%s:%u: %s %s: %s%s%s; nothing was written",
				pg.name, r.failed->line,
				op_name(r.failed->op), k, dkv_strerror(rc),
				r.why[0] ? ": " : "", r.why);
			ec = CLI_FAIL;
		}
		free(k);
	} else {
		const char *why = dkv_last_error();

		cli_err("%s: %s%s%s; nothing was written",
			r.body_done ? "commit" : "tx", dkv_strerror(rc),
			*why ? ": " : "", why);
		ec = CLI_FAIL;
	}
out:
	results_clear(&r);
	free(r.res);
	free(r.more);
	prog_free(&pg);
	return ec;
}

/* --- the shell: begin, commit, abort ----------------------------------- */

/* The shell's transaction commands take no arguments but --help. */
static int shell_only(struct cli *cli, const char *name, int argc,
		      char **argv, const char *help)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'H' },
		{ 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (o == 'H') {
			printf("Usage: dkv %s    (in the shell: dkv with no "
			       "command)\n%s",
			       name, help);
			return -1;
		}
		return cli_try(name);
	}
	if (!cli->interactive)
		return cli_usage_error(NULL,
				       "%s works in the shell only (dkv with "
				       "no command); 'dkv tx FILE' runs a file "
				       "as one transaction",
				       name);
	if (argc != optind)
		return cli_usage_error(name, "%s takes no arguments", name);
	return CLI_OK;
}

static void tx_drop(struct cli *cli)
{
	dkv_tx_close(cli->tx);
	cli->tx = NULL;
}

int cmd_begin(struct cli *cli, int argc, char **argv)
{
	dkv_client_t *c;
	int rc = shell_only(cli, "begin", argc, argv,
			    "Open a transaction: the get, put, del and range "
			    "commands that follow run\n"
			    "inside it (the prompt shows (tx)) until commit "
			    "or abort. Its reads see\n"
			    "one consistent state and its own writes; its "
			    "writes are sent at commit.\n");

	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	if (cli->tx != NULL) {
		cli_err("begin: a transaction is open already: commit or "
			"abort it first");
		return CLI_USAGE;
	}
	c = cli_client(cli);
	if (c == NULL)
		return CLI_FAIL;
	rc = dkv_tx_open(c, 0, &cli->tx);
	if (rc != DKV_OK) {
		cli->tx = NULL;
		return cli_fail("begin", rc);
	}
	out_ok(cli->out);
	return CLI_OK;
}

int cmd_commit(struct cli *cli, int argc, char **argv)
{
	char eb[DKV_EPOCH_STR_MAX];
	uint64_t epoch;
	int rc = shell_only(cli, "commit", argc, argv,
			    "Commit the open transaction: all of its writes "
			    "become visible at one epoch,\n"
			    "or none. Prints \"committed at epoch E (TIME)\" "
			    "(raw: E; json: {\"committed\",\n"
			    "\"epoch\", \"time\"}). On a conflict the "
			    "transaction is rolled back (nothing\n"
			    "written; type it again): exit status 3. Exit "
			    "status 4 when the outcome is\n"
			    "unknown (timed out: it may or may not have "
			    "committed).\n");

	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	if (cli->tx == NULL) {
		cli_err("commit: no transaction is open ('begin' opens one)");
		return CLI_USAGE;
	}
	rc = dkv_tx_commit(cli->tx);
	if (rc == DKV_OK) {
		epoch = dkv_tx_epoch(cli->tx);
		tx_drop(cli);
		dkv_epoch_format(epoch, eb, sizeof(eb));
		if (cli->out == OUT_JSON) {
			json_t *j = json_object();

			json_object_set_new(j, "committed", json_true());
			json_object_set_new(j, "epoch",
					    json_integer((json_int_t)epoch));
			json_object_set_new(j, "time", json_string(eb));
			json_print(j);
		} else if (cli->out == OUT_RAW) {
			printf("%llu\n", (unsigned long long)epoch);
		} else {
			printf("committed at epoch %llu (%s)\n",
			       (unsigned long long)epoch, eb);
		}
		return CLI_OK;
	}
	if (rc == DKV_ERR_TIMEOUT) {
		const char *why = dkv_last_error();

		cli_err("commit: %s%s%s: the outcome is unknown: the "
			"transaction may or may not have committed",
			dkv_strerror(rc), *why ? ": " : "", why);
		tx_drop(cli);
		return CLI_UNKNOWN;
	}
	if (rc == DKV_ERR_TX_RESTART) {
		tx_drop(cli);
		cli_err("commit: transaction conflict: another transaction "
			"changed what this one read or wrote");
		cli_err("the transaction was rolled back (nothing of it was "
			"written); 'begin' and type it again");
		return CLI_FAIL;
	}
	cli_fail("commit", rc);
	tx_drop(cli);
	cli_err("the transaction was rolled back (nothing of it was "
		"written)");
	return CLI_FAIL;
}

int cmd_abort(struct cli *cli, int argc, char **argv)
{
	int rc = shell_only(cli, "abort", argc, argv,
			    "Drop the open transaction: none of its writes "
			    "is written (none was sent).\n");

	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	if (cli->tx == NULL) {
		cli_err("abort: no transaction is open");
		return CLI_USAGE;
	}
	dkv_tx_abort(cli->tx);
	tx_drop(cli);
	if (cli->out == OUT_JSON) {
		json_t *j = json_object();

		json_object_set_new(j, "aborted", json_true());
		json_print(j);
	} else if (cli->out != OUT_RAW) {
		printf("aborted\n");
	}
	return CLI_OK;
}

int cli_tx_data_fail(struct cli *cli, const char *what, int rc)
{
	int ec = cli_fail(what, rc);

	if (cli->tx != NULL &&
	    (rc == DKV_ERR_TX_RESTART || rc == DKV_ERR_STATE)) {
		tx_drop(cli);
		cli_err("the transaction was rolled back (nothing of it was "
			"written); 'begin' starts a new one");
	}
	return ec;
}

int cli_tx_leave(struct cli *cli)
{
	if (cli->tx == NULL)
		return 0;
	tx_drop(cli);
	cli_err("the open transaction was aborted (nothing of it was "
		"written)");
	return 1;
}
