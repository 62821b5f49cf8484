/* config.c - see config.h. */
#define _GNU_SOURCE
#include "server/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "dkv_err.h"
#include "store/store.h"

enum opt_type { T_U32, T_STR, T_DUR };

struct opt {
	const char *section, *key;
	enum opt_type type;
	size_t off;
	const char *def, *help;
};

static const struct opt g_opts[] = {
#define OPT_(sec, key, type, field, def, help)                                 \
	{ #sec, #key, T_##type, offsetof(struct dkv_config, field), def, help },
	DKV_CONFIG_OPTIONS(OPT_)
#undef OPT_
};
#define NOPTS (sizeof(g_opts) / sizeof(g_opts[0]))

static void errf(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

const char *dkv_config_dur_name(enum dkv_config_dur d)
{
	switch (d) {
	case DKV_CONFIG_FSYNC:
		return "fsync";
	case DKV_CONFIG_GROUP:
		return "group";
	case DKV_CONFIG_NONE:
		return "none";
	}
	return "?";
}

static int parse_value(const struct opt *o, void *field, const char *value,
		       char *err, size_t errlen)
{
	char *end = NULL;
	unsigned long long v;

	switch (o->type) {
	case T_U32:
		errno = 0;
		if (!isdigit((unsigned char)value[0]))
			goto bad;
		v = strtoull(value, &end, 10);
		if (errno != 0 || *end != '\0' || v > UINT32_MAX)
			goto bad;
		*(uint32_t *)field = (uint32_t)v;
		return DKV_OK;
	case T_STR:
		if (strlen(value) >= DKV_CONFIG_STR_MAX) {
			errf(err, errlen, "%s.%s: longer than %d bytes",
			     o->section, o->key, DKV_CONFIG_STR_MAX - 1);
			return DKV_ERR_INVAL;
		}
		strcpy(field, value);
		return DKV_OK;
	case T_DUR:
		for (int d = DKV_CONFIG_FSYNC; d <= DKV_CONFIG_NONE; d++)
			if (strcmp(value, dkv_config_dur_name(d)) == 0) {
				*(enum dkv_config_dur *)field = d;
				return DKV_OK;
			}
		goto bad;
	}
bad:
	errf(err, errlen, "%s.%s: invalid value '%s'", o->section, o->key,
	     value);
	return DKV_ERR_INVAL;
}

/* Matches "section.key", "section-key" (flags: '-' for '_' too). */
static const struct opt *find(const char *name, size_t *idx)
{
	char dotted[128], dashed[128];

	for (size_t i = 0; i < NOPTS; i++) {
		snprintf(dotted, sizeof(dotted), "%s.%s", g_opts[i].section,
			 g_opts[i].key);
		snprintf(dashed, sizeof(dashed), "%s-%s", g_opts[i].section,
			 g_opts[i].key);
		for (char *p = dashed; *p; p++)
			if (*p == '_')
				*p = '-';
		if (strcmp(name, dotted) == 0 || strcmp(name, dashed) == 0) {
			*idx = i;
			return &g_opts[i];
		}
	}
	return NULL;
}

int dkv_config_set(struct dkv_config *cfg, const char *name, const char *value,
		   const char *source, char *err, size_t errlen)
{
	size_t idx;
	const struct opt *o = find(name, &idx);
	int rc;

	if (o == NULL) {
		errf(err, errlen, "unknown option '%s'", name);
		return DKV_ERR_NOT_FOUND;
	}
	rc = parse_value(o, (char *)cfg + o->off, value, err, errlen);
	if (rc == DKV_OK && idx < sizeof(cfg->source) / sizeof(cfg->source[0]))
		cfg->source[idx] = source;
	return rc;
}

void dkv_config_defaults(struct dkv_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NOPTS; i++) {
		int rc = parse_value(&g_opts[i], (char *)cfg + g_opts[i].off,
				     g_opts[i].def, NULL, 0);

		(void)rc;
		cfg->source[i] = "default";
	}
}

struct ini_ctx {
	struct dkv_config *cfg;
	char *err;
	size_t errlen;
	int rc;
};

static int ini_cb(void *user, const char *section, const char *name,
		  const char *value)
{
	struct ini_ctx *c = user;
	char full[128];
	int rc;

	snprintf(full, sizeof(full), "%s.%s", section, name);
	rc = dkv_config_set(c->cfg, full, value, "file", c->err, c->errlen);
	if (rc != DKV_OK) {
		c->rc = rc;
		return 0; /* inih: stop and report this line */
	}
	return 1;
}

int dkv_config_load_file(struct dkv_config *cfg, const char *path, char *err,
			 size_t errlen)
{
	struct ini_ctx c = { cfg, err, errlen, DKV_OK };
	char msg[200] = "";
	int line;

	c.err = msg;
	c.errlen = sizeof(msg);
	line = ini_parse(path, ini_cb, &c);
	if (line < 0) {
		errf(err, errlen, "%s: cannot open", path);
		return DKV_ERR_IO;
	}
	if (line > 0) {
		errf(err, errlen, "%s:%d: %s", path, line,
		     msg[0] ? msg : "syntax error");
		return c.rc != DKV_OK ? c.rc : DKV_ERR_INVAL;
	}
	return DKV_OK;
}

int dkv_config_load_env(struct dkv_config *cfg, char *const *envp, char *err,
			size_t errlen)
{
	for (size_t i = 0; i < NOPTS; i++) {
		char name[128];
		const char *val = NULL;
		size_t n;

		n = (size_t)snprintf(name, sizeof(name), "DKV_%s_%s=",
				     g_opts[i].section, g_opts[i].key);
		for (char *p = name; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		for (char *const *e = envp; e && *e; e++)
			if (strncmp(*e, name, n) == 0)
				val = *e + n;
		if (val == NULL)
			continue;
		char full[128];
		snprintf(full, sizeof(full), "%s.%s", g_opts[i].section,
			 g_opts[i].key);
		int rc = dkv_config_set(cfg, full, val, "environment", err,
					errlen);
		if (rc != DKV_OK)
			return rc;
	}
	return DKV_OK;
}

static int is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return 0;
}

int dkv_config_validate(struct dkv_config *cfg, char *err, size_t errlen)
{
	char *colon = strrchr(cfg->listen, ':');
	unsigned long port;
	char *end = NULL;
	size_t hlen;

	if (colon == NULL || colon == cfg->listen) {
		errf(err, errlen, "node.listen: expected host:port, got '%s'",
		     cfg->listen);
		return DKV_ERR_INVAL;
	}
	hlen = (size_t)(colon - cfg->listen);
	memcpy(cfg->host, cfg->listen, hlen);
	cfg->host[hlen] = '\0';
	if (cfg->host[0] == '[' && hlen > 2 && cfg->host[hlen - 1] == ']') {
		memmove(cfg->host, cfg->host + 1, hlen - 2);
		cfg->host[hlen - 2] = '\0';
	}
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535) {
		errf(err, errlen, "node.listen: bad port in '%s'", cfg->listen);
		return DKV_ERR_INVAL;
	}
	cfg->port = (uint16_t)port;
	if (!is_loopback(cfg->host) && cfg->password[0] == '\0') {
		errf(err, errlen,
		     "refusing to listen on %s without a password: set "
		     "node.password (DKV_NODE_PASSWORD)",
		     cfg->host);
		return DKV_ERR_AUTH;
	}
	if (cfg->node_id == 0) {
		errf(err, errlen, "node.id: must be at least 1");
		return DKV_ERR_INVAL;
	}
	if (cfg->dir[0] == '\0') {
		errf(err, errlen, "node.dir: must not be empty");
		return DKV_ERR_INVAL;
	}
	if (cfg->max_key == 0 || cfg->max_key > DKV_STORE_MAX_KEY_LIMIT ||
	    cfg->max_value > DKV_STORE_MAX_VALUE_LIMIT || cfg->max_args < 3 ||
	    cfg->max_inline < 64 || cfg->max_clients == 0) {
		errf(err, errlen,
		     "limits: max_key 1..%u, max_value ..%u, max_args >= 3, "
		     "max_inline >= 64, max_clients >= 1",
		     DKV_STORE_MAX_KEY_LIMIT, DKV_STORE_MAX_VALUE_LIMIT);
		return DKV_ERR_INVAL;
	}
	if (cfg->workers == 0 || cfg->workers > 1024 || cfg->cache_mb == 0 ||
	    cfg->write_buffer_mb == 0) {
		errf(err, errlen,
		     "server.workers 1..1024; store sizes at least 1 MiB");
		return DKV_ERR_INVAL;
	}
	if (cfg->gc_retention_ms < 1000 ||
	    (cfg->gc_interval_ms != 0 && cfg->gc_interval_ms < 100)) {
		errf(err, errlen,
		     "gc: retention_ms at least 1000; interval_ms 0 (off) or "
		     "at least 100");
		return DKV_ERR_INVAL;
	}
	return DKV_OK;
}

void dkv_config_print(const struct dkv_config *cfg, FILE *out)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &g_opts[i];
		const char *f = (const char *)cfg + o->off;
		char name[64];

		snprintf(name, sizeof(name), "%s.%s", o->section, o->key);
		fprintf(out, "%-24s = ", name);
		switch (o->type) {
		case T_U32:
			fprintf(out, "%u", *(const uint32_t *)f);
			break;
		case T_STR:
			if ((strcmp(o->key, "password") == 0 ||
			     strcmp(o->key, "secret") == 0) &&
			    f[0] != '\0')
				fputs("(set)", out);
			else
				fputs(f, out);
			break;
		case T_DUR:
			fputs(dkv_config_dur_name(
				      *(const enum dkv_config_dur *)f),
			      out);
			break;
		}
		fprintf(out, "  # %s\n", cfg->source[i] ? cfg->source[i] : "?");
	}
}

void dkv_config_usage(FILE *out)
{
	for (size_t i = 0; i < NOPTS; i++) {
		const struct opt *o = &g_opts[i];
		char flag[64], env[64];

		snprintf(flag, sizeof(flag), "--%s-%s=VALUE", o->section,
			 o->key);
		for (char *p = flag + 2; *p && *p != '='; p++)
			if (*p == '_')
				*p = '-';
		snprintf(env, sizeof(env), "DKV_%s_%s", o->section, o->key);
		for (char *p = env; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		fprintf(out, "  %-30s %s (default: %s; [%s] %s; %s)\n", flag,
			o->help, o->def[0] ? o->def : "empty", o->section,
			o->key, env);
	}
}
