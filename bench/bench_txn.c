/*
 * bench_txn.c - load generator of the transaction benchmark (issue 4):
 * two-key transfers on dkv (over RESP) and on etcd (over its v3 JSON
 * gateway), and dkv's single-shard MULTI/EXEC fast path against a plain
 * SET. bench/txn_compare.py starts the systems, loads the accounts, runs
 * this tool for each system, mode and client count, and checks the sums;
 * bench/README.md describes what is measured.
 *
 * Modes (--mode):
 *   transfer  dkv: WATCH a b, GET a, GET b (one write), then MULTI,
 *             SET a va-amt, SET b vb+amt, EXEC (one write); a null EXEC is
 *             an abort and the transfer is retried on the same pair.
 *             a and b live on different nodes (DKV.SHARDOF).
 *             etcd: one read-only txn ranging both keys (values and
 *             mod_revisions), then one txn comparing both mod_revisions
 *             with the ones seen and putting both new values; a failed
 *             compare is an abort, retried on the same pair.
 *   blind     dkv only: MULTI, DECRBY a amt, INCRBY b amt, EXEC in one
 *             write (no reads by the client, so no client-visible abort).
 *   fastpath  dkv only: MULTI, SET {t}a v, SET {t}b v, EXEC in one write:
 *             two keys of one shard (hash tag), owned by the node the
 *             client talks to.
 *   set       dkv only: SET {t}a v on the same keys: the baseline of
 *             fastpath.
 *
 * Each client is a thread with its own blocking connection; client i talks
 * to the i-th address of --addrs (round robin). A run is bounded by
 * --seconds and by --ops commits per client, and each transfer by
 * --max-retries attempts, so every loop stops by itself; a socket that
 * stays silent for --timeout seconds is a fatal error. The latency of a
 * commit runs from the start of its first attempt to the reply that
 * committed it (retries included). Throughput is commits / wall time (from
 * the common start to the last client done).
 *
 * Output: one line, or with --json one JSON object. Exit 1 on a fatal
 * error (connection, protocol, a reply of an unexpected shape, a missing
 * account); error replies that leave a transfer uncommitted (TRYAGAIN,
 * too many conflicts, outcome unknown, HTTP errors) are counted, reported
 * and retried (a transfer applied twice still keeps the sum of the
 * accounts, which is what txn_compare.py checks).
 *
 * The HTTP/1.1 client for etcd is hand-written (persistent keep-alive
 * connections, Content-Length and chunked bodies): no HTTP library is a
 * dependency of dkv, and the gateway needs nothing more than POST with a
 * JSON body. JSON is parsed with jansson, which dkv already uses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "dkv_err.h"
#include "proto/resp.h"

#define PROG "dkv-bench-txn"

#define MAX_ADDRS 64
#define MAX_CLIENTS 1024
#define MAX_NODES 256
#define KEY_MAX 64
#define PRINT_ERRORS 10		/* error replies printed on stderr */
#define RBUF_INIT (64 << 10)
#define RBUF_MAX (64 << 20)
#define SHARDOF_BATCH 256
#define TAG_CANDIDATES 100000	/* fastpath: keys tried per client */

enum sys { SYS_DKV, SYS_ETCD };
enum mode { M_TRANSFER, M_BLIND, M_FASTPATH, M_SET };

static const char *const mode_names[] = {"transfer", "blind", "fastpath",
					 "set"};

struct addr {
	char host[64];
	char port[16];
	char text[96]; /* host:port, as DKV.SHARDOF names owners */
};

struct cfg {
	enum sys sys;
	enum mode mode;
	struct addr addrs[MAX_ADDRS];
	int naddrs;
	int clients;
	double seconds;
	long ops;         /* commits per client */
	long accounts;
	const char *prefix;
	int amount_max;
	long max_retries; /* attempts per transfer */
	int tags;         /* fastpath/set: hash tags per client */
	double timeout;
	uint64_t seed;
	int json;
};

static struct cfg g_cfg = {
	.sys = SYS_DKV,
	.mode = M_TRANSFER,
	.clients = 1,
	.seconds = 5.0,
	.ops = 10000000L,
	.accounts = 1000,
	.prefix = "acct:",
	.amount_max = 10,
	.max_retries = 10000,
	.tags = 8,
	.timeout = 30.0,
	.seed = 1,
};

/* Accounts: names, and for dkv the owner node of each (index into
 * g_nodes) and the accounts of each node. */
static char (*g_acct)[KEY_MAX];
static size_t *g_acct_len;
static char (*g_acct_b64)[KEY_MAX * 2];
static int *g_acct_node;
static int64_t g_node_ids[MAX_NODES];
static long *g_node_accts[MAX_NODES];
static long g_node_n[MAX_NODES];
static int g_nnodes;

static atomic_int g_stop;
static atomic_int g_printed;
static pthread_mutex_t g_err_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_first_error[512];
static pthread_barrier_t g_bar;
static double g_t0, g_deadline;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static long rng_below(uint64_t *s, long n)
{
	return (long)(rng_next(s) % (uint64_t)n);
}

/* --- base64 (etcd's JSON carries keys and values as base64) ------------ */

static const char b64tab[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t b64_encode(const void *src, size_t n, char *dst)
{
	const unsigned char *s = src;
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 |
			     s[i + 2];
		dst[o++] = b64tab[v >> 18 & 63];
		dst[o++] = b64tab[v >> 12 & 63];
		dst[o++] = b64tab[v >> 6 & 63];
		dst[o++] = b64tab[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)s[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)s[i + 1] << 8;
		dst[o++] = b64tab[v >> 18 & 63];
		dst[o++] = b64tab[v >> 12 & 63];
		dst[o++] = i + 1 < n ? b64tab[v >> 6 & 63] : '=';
		dst[o++] = '=';
	}
	dst[o] = '\0';
	return o;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64tab, c) : NULL;

	return p ? (int)(p - b64tab) : -1;
}

/* Decodes into dst (room for n*3/4 bytes); returns the length or -1. */
static long b64_decode(const char *src, size_t n, char *dst)
{
	uint32_t acc = 0;
	int bits = 0;
	long o = 0;

	for (size_t i = 0; i < n; i++) {
		int v;

		if (src[i] == '=')
			break;
		v = b64_val(src[i]);
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dst[o++] = (char)(acc >> bits & 0xff);
		}
	}
	return o;
}

/* --- sockets -------------------------------------------------------------- */

static int sock_connect(const struct addr *a, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	int fd = -1, rc, one = 1;
	struct timeval tv;

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(a->host, a->port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", a->text, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		snprintf(err, errlen, "connect %s: %s", a->text,
			 strerror(errno));
	freeaddrinfo(res);
	if (fd < 0)
		return -1;
	tv.tv_sec = (time_t)g_cfg.timeout;
	tv.tv_usec = (suseconds_t)((g_cfg.timeout - (double)tv.tv_sec) * 1e6);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int write_all(int fd, const char *p, size_t n, char *err,
		     size_t errlen)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "send: %s",
				 errno == EAGAIN ? "timed out" : strerror(errno));
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Appends what the socket has to buf[*len..*cap), growing it (bounded). */
static int recv_more(int fd, char **buf, size_t *len, size_t *cap,
		     char *err, size_t errlen)
{
	ssize_t n;

	if (*len == *cap) {
		size_t nc = *cap ? *cap * 2 : RBUF_INIT;
		char *nb;

		if (nc > RBUF_MAX) {
			snprintf(err, errlen, "reply larger than %d bytes",
				 RBUF_MAX);
			return -1;
		}
		nb = realloc(*buf, nc);
		if (!nb) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		*buf = nb;
		*cap = nc;
	}
	for (;;) {
		n = recv(fd, *buf + *len, *cap - *len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n < 0) {
		snprintf(err, errlen, "recv: %s",
			 errno == EAGAIN ? "timed out" : strerror(errno));
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "connection closed by the server");
		return -1;
	}
	*len += (size_t)n;
	return 0;
}

/* --- RESP connection (dkv) ----------------------------------------------- */

struct rconn {
	int fd;
	struct resp_buf out;
	char *in;
	size_t start, len, cap; /* unparsed bytes: in[start..len) */
	size_t drop;            /* bytes of the reply returned last */
	struct resp_reply_parser p;
};

static int rc_open(struct rconn *r, const struct addr *a, char *err,
		   size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	resp_buf_init(&r->out, 0);
	resp_reply_parser_init(&r->p, NULL);
	r->fd = sock_connect(a, err, errlen);
	if (r->fd < 0)
		return -1;
	r->cap = RBUF_INIT;
	r->in = malloc(r->cap);
	if (!r->in) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void rc_close(struct rconn *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	resp_buf_free(&r->out);
	resp_reply_parser_free(&r->p);
	free(r->in);
	r->in = NULL;
}

static int rc_cmd(struct rconn *r, size_t argc, const char *const *argv,
		  const size_t *lens)
{
	return resp_put_command(&r->out, argc, argv, lens) < 0 ? -1 : 0;
}

static int rc_send(struct rconn *r, char *err, size_t errlen)
{
	int rc = write_all(r->fd, r->out.data, r->out.len, err, errlen);

	resp_buf_reset(&r->out);
	return rc;
}

/* The next reply; valid until the next call. NULL and err on failure. */
static const struct resp_reply *rc_read(struct rconn *r, char *err,
					size_t errlen)
{
	r->start += r->drop;
	r->drop = 0;
	for (;;) {
		const struct resp_reply *rep = NULL;
		size_t used = 0;
		int rc = resp_reply_parse(&r->p, r->in + r->start,
					  r->len - r->start, &rep, &used);

		if (rc == 1) {
			r->drop = used;
			return rep;
		}
		if (rc < 0) {
			snprintf(err, errlen, "reply: %s",
				 resp_reply_parser_error(&r->p));
			return NULL;
		}
		r->start += used;
		if (r->start > 0) {
			memmove(r->in, r->in + r->start, r->len - r->start);
			r->len -= r->start;
			r->start = 0;
		}
		if (recv_more(r->fd, &r->in, &r->len, &r->cap, err, errlen))
			return NULL;
	}
}

static int is_status(const struct resp_reply *r, const char *s)
{
	size_t n = strlen(s);

	return r->type == RESP_STRING && r->len == n &&
	       memcmp(r->str, s, n) == 0;
}

static int reply_i64(const struct resp_reply *r, int64_t *v)
{
	if (r->type != RESP_BULK && r->type != RESP_STRING)
		return -1;
	return resp_parse_i64(r->str, r->len, v) == 0 ? 0 : -1;
}

static void describe(const struct resp_reply *r, char *buf, size_t n)
{
	if (r->str)
		snprintf(buf, n, "%s \"%.*s\"", resp_type_name(r->type),
			 (int)(r->len > 200 ? 200 : r->len), r->str);
	else if (r->type == RESP_INTEGER)
		snprintf(buf, n, "integer %" PRId64, r->integer);
	else
		snprintf(buf, n, "%s (%zu elements)", resp_type_name(r->type),
			 r->n);
}

/* --- HTTP/1.1 client (etcd's JSON gateway) --------------------------------- */

struct hconn {
	int fd;
	const struct addr *a;
	char *in;
	size_t len, cap, drop; /* received bytes; drop: the last response */
	char *body;            /* a chunked body, decoded */
	size_t blen, bcap;
	char *req;
	size_t reqcap;
};

static int hc_reserve(char **p, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 4096;

	while (nc < need)
		nc *= 2;
	char *np = realloc(*p, nc);

	if (!np)
		return -1;
	*p = np;
	*cap = nc;
	return 0;
}

static void hc_disconnect(struct hconn *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->len = h->drop = 0;
}

static void hc_close(struct hconn *h)
{
	hc_disconnect(h);
	free(h->in);
	free(h->body);
	free(h->req);
	h->in = h->body = h->req = NULL;
}

/* Finds "\r\n" at or after pos; receives more as needed. Returns its
 * offset, -1 on error. */
static long hc_line_end(struct hconn *h, size_t pos, char *err, size_t errlen)
{
	for (;;) {
		if (h->len > pos) {
			char *e = memmem(h->in + pos, h->len - pos, "\r\n", 2);

			if (e)
				return e - h->in;
		}
		if (recv_more(h->fd, &h->in, &h->len, &h->cap, err, errlen))
			return -1;
	}
}

static int hc_need(struct hconn *h, size_t upto, char *err, size_t errlen)
{
	while (h->len < upto)
		if (recv_more(h->fd, &h->in, &h->len, &h->cap, err, errlen))
			return -1;
	return 0;
}

/* POSTs body to path on a kept-alive connection (opened when needed).
 * *status is the HTTP status, *rbody the response body (valid until the
 * next call). -1 and err on a transport or framing failure. */
static int http_post(struct hconn *h, const char *path, const char *body,
		     size_t blen, int *status, const char **rbody,
		     size_t *rblen, char *err, size_t errlen)
{
	size_t hl, pos, hdr_end, clen = 0;
	int have_clen = 0, chunked = 0, close_after = 0, n;

	if (h->drop) {
		memmove(h->in, h->in + h->drop, h->len - h->drop);
		h->len -= h->drop;
		h->drop = 0;
	}
	if (h->fd < 0) {
		h->fd = sock_connect(h->a, err, errlen);
		if (h->fd < 0)
			return -1;
		h->len = 0;
	}
	if (hc_reserve(&h->req, &h->reqcap, blen + 256)) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = snprintf(h->req, h->reqcap,
		     "POST %s HTTP/1.1\r\nHost: %s\r\n"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %zu\r\n\r\n",
		     path, h->a->text, blen);
	hl = (size_t)n;
	memcpy(h->req + hl, body, blen);
	if (write_all(h->fd, h->req, hl + blen, err, errlen))
		return -1;

	/* Status line and headers. */
	for (;;) {
		char *e = h->len ? memmem(h->in, h->len, "\r\n\r\n", 4) : NULL;

		if (e) {
			hdr_end = (size_t)(e - h->in) + 4;
			break;
		}
		if (recv_more(h->fd, &h->in, &h->len, &h->cap, err, errlen))
			return -1;
	}
	if (hdr_end < 12 || strncmp(h->in, "HTTP/1.", 7) != 0) {
		snprintf(err, errlen, "not an HTTP response: %.40s", h->in);
		return -1;
	}
	*status = atoi(h->in + 9);
	pos = (size_t)((char *)memmem(h->in, hdr_end, "\r\n", 2) - h->in) + 2;
	while (pos < hdr_end - 2) {
		char *line = h->in + pos;
		char *e = memmem(line, hdr_end - pos, "\r\n", 2);
		size_t ll = (size_t)(e - line);

		if (ll > 15 && strncasecmp(line, "content-length:", 15) == 0) {
			clen = strtoull(line + 15, NULL, 10);
			have_clen = 1;
		} else if (ll > 18 &&
			   strncasecmp(line, "transfer-encoding:", 18) == 0) {
			chunked = memmem(line, ll, "chunked", 7) != NULL;
		} else if (ll > 11 &&
			   strncasecmp(line, "connection:", 11) == 0) {
			close_after = memmem(line, ll, "close", 5) != NULL;
		}
		pos += ll + 2;
	}

	if (chunked) {
		h->blen = 0;
		pos = hdr_end;
		for (;;) {
			long le = hc_line_end(h, pos, err, errlen);
			size_t sz;

			if (le < 0)
				return -1;
			sz = strtoull(h->in + pos, NULL, 16);
			pos = (size_t)le + 2;
			if (sz == 0) {
				/* trailers, then an empty line */
				for (;;) {
					le = hc_line_end(h, pos, err, errlen);
					if (le < 0)
						return -1;
					if ((size_t)le == pos) {
						pos += 2;
						break;
					}
					pos = (size_t)le + 2;
				}
				break;
			}
			if (hc_need(h, pos + sz + 2, err, errlen))
				return -1;
			if (hc_reserve(&h->body, &h->bcap, h->blen + sz + 1)) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			memcpy(h->body + h->blen, h->in + pos, sz);
			h->blen += sz;
			pos += sz + 2;
		}
		*rbody = h->body;
		*rblen = h->blen;
		h->drop = pos;
	} else if (have_clen) {
		if (hc_need(h, hdr_end + clen, err, errlen))
			return -1;
		*rbody = h->in + hdr_end;
		*rblen = clen;
		h->drop = hdr_end + clen;
	} else {
		snprintf(err, errlen, "HTTP response without a length");
		return -1;
	}
	if (close_after) {
		/* The body stays readable: copy it out before closing. */
		if (*rbody != h->body) {
			if (hc_reserve(&h->body, &h->bcap, *rblen + 1)) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			memcpy(h->body, *rbody, *rblen);
			*rbody = h->body;
		}
		hc_disconnect(h);
	}
	return 0;
}

/* --- clients ------------------------------------------------------------- */

struct client {
	int id;
	const struct addr *addr;
	pthread_t th;
	struct rconn rc;
	struct hconn hc;
	uint64_t rng;
	char (*tags)[KEY_MAX];
	int ntags;
	uint64_t attempts, commits, aborts, errors, unknown, gave_up,
		unfinished;
	uint64_t *lat;
	size_t nlat, caplat;
	int fatal;
	double t_end;
	char err[512];
};

static void lat_add(struct client *c, uint64_t ns)
{
	if (c->nlat == c->caplat) {
		size_t nc = c->caplat ? c->caplat * 2 : 4096;
		uint64_t *nl = realloc(c->lat, nc * sizeof(*nl));

		if (!nl)
			return; /* sample lost; counted in commits anyway */
		c->lat = nl;
		c->caplat = nc;
	}
	c->lat[c->nlat++] = ns;
}

static int fatal(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fatal(struct client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->fatal = 1;
	atomic_store(&g_stop, 1);
	fprintf(stderr, PROG ": client %d (%s): %s\n", c->id, c->addr->text,
		c->err);
	return -1;
}

/* An error reply that left the operation uncommitted: counted, the first
 * ones printed, and the operation retried. */
static void note_error(struct client *c, const char *what, const char *text,
		       size_t len)
{
	int k;

	c->errors++;
	if (memmem(text, len, "unknown", 7) || memmem(text, len, "timed out", 9))
		c->unknown++;
	pthread_mutex_lock(&g_err_mu);
	if (!g_first_error[0])
		snprintf(g_first_error, sizeof(g_first_error), "%s: %.*s", what,
			 (int)(len > 300 ? 300 : len), text);
	pthread_mutex_unlock(&g_err_mu);
	k = atomic_fetch_add(&g_printed, 1);
	if (k < PRINT_ERRORS)
		fprintf(stderr, PROG ": client %d: %s: %.*s\n", c->id, what,
			(int)(len > 300 ? 300 : len), text);
	else if (k == PRINT_ERRORS)
		fprintf(stderr, PROG ": (further errors only counted)\n");
}

/* Picks a transfer: a and b on different nodes (dkv), or distinct (etcd). */
static void pick_pair(struct client *c, long *a, long *b)
{
	if (g_cfg.sys == SYS_DKV) {
		int na = (int)rng_below(&c->rng, g_nnodes);
		int nb = (na + 1 + (int)rng_below(&c->rng, g_nnodes - 1)) %
			 g_nnodes;

		*a = g_node_accts[na][rng_below(&c->rng, g_node_n[na])];
		*b = g_node_accts[nb][rng_below(&c->rng, g_node_n[nb])];
	} else {
		*a = rng_below(&c->rng, g_cfg.accounts);
		*b = (*a + 1 + rng_below(&c->rng, g_cfg.accounts - 1)) %
		     g_cfg.accounts;
	}
}

/* After an error inside WATCH/MULTI: leave any MULTI and WATCH state. */
static int dkv_reset(struct client *c)
{
	static const char *const discard[] = {"DISCARD"};
	static const char *const unwatch[] = {"UNWATCH"};

	if (rc_cmd(&c->rc, 1, discard, NULL) || rc_cmd(&c->rc, 1, unwatch, NULL))
		return fatal(c, "out of memory");
	if (rc_send(&c->rc, c->err, sizeof(c->err)))
		return fatal(c, "%s", c->err);
	for (int i = 0; i < 2; i++)
		if (!rc_read(&c->rc, c->err, sizeof(c->err)))
			return fatal(c, "%s", c->err);
	return 0;
}

/* Reads the replies of MULTI, two queued commands and EXEC. Returns 1
 * committed, 0 aborted (null EXEC), 2 an error reply (counted), -1 fatal.
 * exec_elem: the type each element of EXEC's array must have. */
static int dkv_read_exec(struct client *c, enum resp_type exec_elem)
{
	const struct resp_reply *r;
	char d[300];
	int err = 0;

	for (int i = 0; i < 3; i++) {
		r = rc_read(&c->rc, c->err, sizeof(c->err));
		if (!r)
			return fatal(c, "%s", c->err);
		if (r->type == RESP_ERROR) {
			note_error(c, i ? "queueing" : "MULTI", r->str, r->len);
			err = 1;
		} else if (!is_status(r, i ? "QUEUED" : "OK")) {
			describe(r, d, sizeof(d));
			return fatal(c, "unexpected reply to %s: %s",
				     i ? "a queued command" : "MULTI", d);
		}
	}
	r = rc_read(&c->rc, c->err, sizeof(c->err));
	if (!r)
		return fatal(c, "%s", c->err);
	if (r->type == RESP_ERROR) {
		note_error(c, "EXEC", r->str, r->len);
		return 2;
	}
	if (err) {
		describe(r, d, sizeof(d));
		return fatal(c, "EXEC after a queueing error answered %s", d);
	}
	if (r->type == RESP_NIL_ARRAY || r->type == RESP_NULL)
		return 0;
	if (r->type == RESP_ARRAY && r->n == 2) {
		for (size_t i = 0; i < 2; i++) {
			const struct resp_reply *e = &r->elems[i];

			if (e->type == RESP_ERROR) {
				/* A runtime error inside the transaction: the
				 * rest committed. Not expected here. */
				describe(e, d, sizeof(d));
				return fatal(c, "EXEC element %zu: %s", i, d);
			}
			if (e->type != exec_elem) {
				describe(e, d, sizeof(d));
				return fatal(c, "EXEC element %zu: %s", i, d);
			}
		}
		return 1;
	}
	describe(r, d, sizeof(d));
	return fatal(c, "unexpected EXEC reply: %s", d);
}

static int op_dkv_transfer(struct client *c, long a, long b, int64_t amt)
{
	const char *an = g_acct[a], *bn = g_acct[b];
	size_t al = g_acct_len[a], bl = g_acct_len[b];
	const char *w[3] = {"WATCH", an, bn};
	size_t wl[3] = {5, al, bl};
	const char *ga[2] = {"GET", an}, *gb[2] = {"GET", bn};
	size_t gal[2] = {3, al}, gbl[2] = {3, bl};
	const struct resp_reply *r;
	int64_t v[2] = {0, 0};
	char d[300];
	int err = 0;

	if (rc_cmd(&c->rc, 3, w, wl) || rc_cmd(&c->rc, 2, ga, gal) ||
	    rc_cmd(&c->rc, 2, gb, gbl))
		return fatal(c, "out of memory");
	if (rc_send(&c->rc, c->err, sizeof(c->err)))
		return fatal(c, "%s", c->err);
	for (int i = 0; i < 3; i++) {
		r = rc_read(&c->rc, c->err, sizeof(c->err));
		if (!r)
			return fatal(c, "%s", c->err);
		if (r->type == RESP_ERROR) {
			note_error(c, i ? "GET" : "WATCH", r->str, r->len);
			err = 1;
		} else if (i == 0 && !is_status(r, "OK")) {
			describe(r, d, sizeof(d));
			return fatal(c, "unexpected reply to WATCH: %s", d);
		} else if (i > 0 && r->type == RESP_NIL) {
			return fatal(c, "account %s is missing",
				     i == 1 ? an : bn);
		} else if (i > 0 && reply_i64(r, &v[i - 1])) {
			describe(r, d, sizeof(d));
			return fatal(c, "account %s is not a number: %s",
				     i == 1 ? an : bn, d);
		}
	}
	if (err)
		return dkv_reset(c) < 0 ? -1 : 2;

	char va[24], vb[24];
	size_t val = (size_t)snprintf(va, sizeof(va), "%" PRId64, v[0] - amt);
	size_t vbl = (size_t)snprintf(vb, sizeof(vb), "%" PRId64, v[1] + amt);
	const char *m[1] = {"MULTI"}, *e[1] = {"EXEC"};
	const char *sa[3] = {"SET", an, va}, *sb[3] = {"SET", bn, vb};
	size_t sal[3] = {3, al, val}, sbl[3] = {3, bl, vbl};

	if (rc_cmd(&c->rc, 1, m, NULL) || rc_cmd(&c->rc, 3, sa, sal) ||
	    rc_cmd(&c->rc, 3, sb, sbl) || rc_cmd(&c->rc, 1, e, NULL))
		return fatal(c, "out of memory");
	if (rc_send(&c->rc, c->err, sizeof(c->err)))
		return fatal(c, "%s", c->err);
	int rc = dkv_read_exec(c, RESP_STRING);

	if (rc == 2 && dkv_reset(c) < 0)
		return -1;
	return rc;
}

static int op_dkv_blind(struct client *c, long a, long b, int64_t amt)
{
	char am[24];
	size_t aml = (size_t)snprintf(am, sizeof(am), "%" PRId64, amt);
	const char *m[1] = {"MULTI"}, *e[1] = {"EXEC"};
	const char *da[3] = {"DECRBY", g_acct[a], am};
	const char *ib[3] = {"INCRBY", g_acct[b], am};
	size_t dal[3] = {6, g_acct_len[a], aml}, ibl[3] = {6, g_acct_len[b],
							    aml};

	if (rc_cmd(&c->rc, 1, m, NULL) || rc_cmd(&c->rc, 3, da, dal) ||
	    rc_cmd(&c->rc, 3, ib, ibl) || rc_cmd(&c->rc, 1, e, NULL))
		return fatal(c, "out of memory");
	if (rc_send(&c->rc, c->err, sizeof(c->err)))
		return fatal(c, "%s", c->err);
	int rc = dkv_read_exec(c, RESP_INTEGER);

	if (rc == 2 && dkv_reset(c) < 0)
		return -1;
	return rc;
}

static int op_dkv_fast(struct client *c, int multi, uint64_t seq)
{
	const char *tag = c->tags[rng_below(&c->rng, c->ntags)];
	char ka[KEY_MAX + 2], kb[KEY_MAX + 2], v[32];
	size_t kal = (size_t)snprintf(ka, sizeof(ka), "%sa", tag);
	size_t kbl = (size_t)snprintf(kb, sizeof(kb), "%sb", tag);
	size_t vl = (size_t)snprintf(v, sizeof(v), "v%d.%" PRIu64, c->id, seq);
	const char *sa[3] = {"SET", ka, v}, *sb[3] = {"SET", kb, v};
	size_t sal[3] = {3, kal, vl}, sbl[3] = {3, kbl, vl};
	const char *m[1] = {"MULTI"}, *e[1] = {"EXEC"};
	const struct resp_reply *r;
	char d[300];

	if (!multi) {
		if (rc_cmd(&c->rc, 3, sa, sal))
			return fatal(c, "out of memory");
		if (rc_send(&c->rc, c->err, sizeof(c->err)))
			return fatal(c, "%s", c->err);
		r = rc_read(&c->rc, c->err, sizeof(c->err));
		if (!r)
			return fatal(c, "%s", c->err);
		if (r->type == RESP_ERROR) {
			note_error(c, "SET", r->str, r->len);
			return 2;
		}
		if (!is_status(r, "OK")) {
			describe(r, d, sizeof(d));
			return fatal(c, "unexpected reply to SET: %s", d);
		}
		return 1;
	}
	if (rc_cmd(&c->rc, 1, m, NULL) || rc_cmd(&c->rc, 3, sa, sal) ||
	    rc_cmd(&c->rc, 3, sb, sbl) || rc_cmd(&c->rc, 1, e, NULL))
		return fatal(c, "out of memory");
	if (rc_send(&c->rc, c->err, sizeof(c->err)))
		return fatal(c, "%s", c->err);
	int rc = dkv_read_exec(c, RESP_STRING);

	if (rc == 2 && dkv_reset(c) < 0)
		return -1;
	return rc;
}

/* etcd: the value and mod_revision of response i of a range txn. */
static int etcd_kv(struct client *c, json_t *root, size_t i, const char *name,
		   int64_t *v, char *rev, size_t revlen)
{
	json_t *rr = json_object_get(
		json_array_get(json_object_get(root, "responses"), i),
		"response_range");
	json_t *kv = json_array_get(json_object_get(rr, "kvs"), 0);
	const char *val = json_string_value(json_object_get(kv, "value"));
	const char *mr = json_string_value(json_object_get(kv, "mod_revision"));
	char dec[64];
	long n;

	if (!rr)
		return fatal(c, "range txn: no response_range %zu", i);
	if (!kv || !mr)
		return fatal(c, "account %s is missing in etcd", name);
	if (!val || strlen(val) > 80 ||
	    (n = b64_decode(val, strlen(val), dec)) <= 0 ||
	    resp_parse_i64(dec, (size_t)n, v) != 0)
		return fatal(c, "account %s is not a number in etcd", name);
	if (strlen(mr) >= revlen || strspn(mr, "0123456789") != strlen(mr))
		return fatal(c, "bad mod_revision \"%s\"", mr);
	strcpy(rev, mr);
	return 0;
}

static int etcd_post(struct client *c, const char *body, size_t blen,
		     json_t **root)
{
	const char *rb;
	size_t rbl;
	int status;
	json_error_t je;

	*root = NULL;
	if (http_post(&c->hc, "/v3/kv/txn", body, blen, &status, &rb, &rbl,
		      c->err, sizeof(c->err)))
		return fatal(c, "%s", c->err);
	if (status != 200) {
		char what[32];

		snprintf(what, sizeof(what), "HTTP %d", status);
		note_error(c, what, rb, rbl);
		return 2;
	}
	*root = json_loadb(rb, rbl, 0, &je);
	if (!*root)
		return fatal(c, "bad JSON from etcd: %s: %.*s", je.text,
			     (int)(rbl > 200 ? 200 : rbl), rb);
	return 0;
}

static int op_etcd_transfer(struct client *c, long a, long b, int64_t amt)
{
	char body[1024], ra[32], rb[32], va[24], vb[24], ea[40], eb[40];
	int64_t v0, v1;
	json_t *root;
	int n, rc;

	n = snprintf(body, sizeof(body),
		     "{\"success\":[{\"request_range\":{\"key\":\"%s\"}},"
		     "{\"request_range\":{\"key\":\"%s\"}}]}",
		     g_acct_b64[a], g_acct_b64[b]);
	rc = etcd_post(c, body, (size_t)n, &root);
	if (rc)
		return rc;
	if (etcd_kv(c, root, 0, g_acct[a], &v0, ra, sizeof(ra)) ||
	    etcd_kv(c, root, 1, g_acct[b], &v1, rb, sizeof(rb))) {
		json_decref(root);
		return -1;
	}
	json_decref(root);
	n = snprintf(va, sizeof(va), "%" PRId64, v0 - amt);
	b64_encode(va, (size_t)n, ea);
	n = snprintf(vb, sizeof(vb), "%" PRId64, v1 + amt);
	b64_encode(vb, (size_t)n, eb);
	n = snprintf(body, sizeof(body),
		     "{\"compare\":["
		     "{\"key\":\"%s\",\"target\":\"MOD\",\"mod_revision\":\"%s\"},"
		     "{\"key\":\"%s\",\"target\":\"MOD\",\"mod_revision\":\"%s\"}"
		     "],\"success\":["
		     "{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}},"
		     "{\"request_put\":{\"key\":\"%s\",\"value\":\"%s\"}}]}",
		     g_acct_b64[a], ra, g_acct_b64[b], rb, g_acct_b64[a], ea,
		     g_acct_b64[b], eb);
	rc = etcd_post(c, body, (size_t)n, &root);
	if (rc)
		return rc;
	rc = json_is_true(json_object_get(root, "succeeded")) ? 1 : 0;
	json_decref(root);
	return rc;
}

/* One operation, with its retries. 0 done (committed or given up), -1
 * fatal. */
static int run_one(struct client *c, uint64_t seq)
{
	long a = 0, b = 0;
	int64_t amt = 1 + rng_below(&c->rng, g_cfg.amount_max);
	uint64_t t0 = now_ns();

	if (g_cfg.mode == M_TRANSFER || g_cfg.mode == M_BLIND)
		pick_pair(c, &a, &b);
	for (long attempt = 0;; attempt++) {
		int rc;

		if (attempt > 0 && (now_s() > g_deadline || atomic_load(&g_stop))) {
			c->unfinished++;
			return 0;
		}
		if (attempt >= g_cfg.max_retries) {
			c->gave_up++;
			return 0;
		}
		c->attempts++;
		switch (g_cfg.mode) {
		case M_TRANSFER:
			rc = g_cfg.sys == SYS_DKV
				     ? op_dkv_transfer(c, a, b, amt)
				     : op_etcd_transfer(c, a, b, amt);
			break;
		case M_BLIND:
			rc = op_dkv_blind(c, a, b, amt);
			break;
		case M_FASTPATH:
			rc = op_dkv_fast(c, 1, seq);
			break;
		default:
			rc = op_dkv_fast(c, 0, seq);
			break;
		}
		if (rc < 0)
			return -1;
		if (rc == 1) {
			c->commits++;
			lat_add(c, now_ns() - t0);
			return 0;
		}
		if (rc == 0)
			c->aborts++;
		/* rc 2: error reply, counted by note_error; retry */
	}
}

/* fastpath/set: hash tags whose shard this client's node owns. */
static int find_tags(struct client *c)
{
	c->tags = calloc((size_t)g_cfg.tags, sizeof(*c->tags));
	if (!c->tags)
		return fatal(c, "out of memory");
	for (long j = 0; c->ntags < g_cfg.tags && j < TAG_CANDIDATES;
	     j += SHARDOF_BATCH) {
		char keys[SHARDOF_BATCH][KEY_MAX];

		for (int i = 0; i < SHARDOF_BATCH; i++) {
			const char *argv[2] = {"DKV.SHARDOF", keys[i]};

			snprintf(keys[i], KEY_MAX, "{fp.%d.%ld}a", c->id, j + i);
			if (rc_cmd(&c->rc, 2, argv, NULL))
				return fatal(c, "out of memory");
		}
		if (rc_send(&c->rc, c->err, sizeof(c->err)))
			return fatal(c, "%s", c->err);
		for (int i = 0; i < SHARDOF_BATCH; i++) {
			const struct resp_reply *r =
				rc_read(&c->rc, c->err, sizeof(c->err));
			char d[300];

			if (!r)
				return fatal(c, "%s", c->err);
			if (r->type != RESP_ARRAY || r->n < 3 ||
			    !r->elems[2].str) {
				describe(r, d, sizeof(d));
				return fatal(c, "DKV.SHARDOF answered %s", d);
			}
			if (c->ntags < g_cfg.tags &&
			    r->elems[2].len == strlen(c->addr->text) &&
			    memcmp(r->elems[2].str, c->addr->text,
				   r->elems[2].len) == 0) {
				size_t tl = strlen(keys[i]) - 1; /* drop 'a' */

				memcpy(c->tags[c->ntags], keys[i], tl);
				c->tags[c->ntags][tl] = '\0';
				c->ntags++;
			}
		}
	}
	if (c->ntags < g_cfg.tags)
		return fatal(c, "no shard of this node found in %d keys: is "
				"%s the address the cluster map gives it?",
			     TAG_CANDIDATES, c->addr->text);
	return 0;
}

static void *client_main(void *arg)
{
	struct client *c = arg;

	if (g_cfg.sys == SYS_DKV) {
		if (rc_open(&c->rc, c->addr, c->err, sizeof(c->err)))
			fatal(c, "%s", c->err);
		else if (g_cfg.mode == M_FASTPATH || g_cfg.mode == M_SET)
			find_tags(c);
	} else {
		c->hc.fd = -1;
		c->hc.a = c->addr;
	}
	pthread_barrier_wait(&g_bar); /* everyone ready */
	pthread_barrier_wait(&g_bar); /* g_t0 and g_deadline set */
	for (uint64_t seq = 0; !c->fatal && (long)c->commits < g_cfg.ops &&
			       !atomic_load(&g_stop) && now_s() < g_deadline;
	     seq++)
		if (run_one(c, seq) < 0)
			break;
	c->t_end = now_s();
	if (g_cfg.sys == SYS_DKV)
		rc_close(&c->rc);
	else
		hc_close(&c->hc);
	return NULL;
}

/* --- setup ---------------------------------------------------------------- */

static int parse_addr(const char *s, struct addr *a)
{
	const char *colon = strrchr(s, ':');
	size_t hl;

	if (!colon || colon == s || !colon[1])
		return -1;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(a->host) || strlen(colon + 1) >= sizeof(a->port))
		return -1;
	memcpy(a->host, s, hl);
	a->host[hl] = '\0';
	strcpy(a->port, colon + 1);
	memcpy(a->text, s, strlen(s) + 1); /* fits: host and port do */
	return 0;
}

static int setup_accounts(void)
{
	long n = g_cfg.accounts;

	g_acct = calloc((size_t)n, sizeof(*g_acct));
	g_acct_len = calloc((size_t)n, sizeof(*g_acct_len));
	g_acct_b64 = calloc((size_t)n, sizeof(*g_acct_b64));
	g_acct_node = calloc((size_t)n, sizeof(*g_acct_node));
	if (!g_acct || !g_acct_len || !g_acct_b64 || !g_acct_node)
		return -1;
	for (long i = 0; i < n; i++) {
		int l = snprintf(g_acct[i], KEY_MAX, "%s%06ld", g_cfg.prefix, i);

		if (l <= 0 || l >= KEY_MAX)
			return -1;
		g_acct_len[i] = (size_t)l;
		b64_encode(g_acct[i], (size_t)l, g_acct_b64[i]);
	}
	return 0;
}

/* dkv: the owner node of every account, by DKV.SHARDOF. */
static int map_accounts(void)
{
	struct rconn rc;
	char err[512];
	long n = g_cfg.accounts;

	if (rc_open(&rc, &g_cfg.addrs[0], err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return -1;
	}
	for (long i = 0; i < n; i += SHARDOF_BATCH) {
		long end = i + SHARDOF_BATCH < n ? i + SHARDOF_BATCH : n;

		for (long k = i; k < end; k++) {
			const char *argv[2] = {"DKV.SHARDOF", g_acct[k]};

			if (rc_cmd(&rc, 2, argv, NULL))
				goto fail_mem;
		}
		if (rc_send(&rc, err, sizeof(err)))
			goto fail;
		for (long k = i; k < end; k++) {
			const struct resp_reply *r = rc_read(&rc, err,
							     sizeof(err));
			int64_t id;
			int j;

			if (!r)
				goto fail;
			if (r->type != RESP_ARRAY || r->n < 3 ||
			    r->elems[1].type != RESP_INTEGER) {
				describe(r, err, sizeof(err));
				fprintf(stderr, PROG ": DKV.SHARDOF %s: %s\n",
					g_acct[k], err);
				rc_close(&rc);
				return -1;
			}
			id = r->elems[1].integer;
			for (j = 0; j < g_nnodes && g_node_ids[j] != id; j++)
				;
			if (j == g_nnodes) {
				if (g_nnodes == MAX_NODES) {
					fprintf(stderr, PROG ": too many nodes\n");
					rc_close(&rc);
					return -1;
				}
				g_node_ids[g_nnodes++] = id;
				g_node_accts[j] = calloc((size_t)n, sizeof(long));
				if (!g_node_accts[j])
					goto fail_mem;
			}
			g_acct_node[k] = j;
			g_node_accts[j][g_node_n[j]++] = k;
		}
	}
	rc_close(&rc);
	if (g_nnodes < 2) {
		fprintf(stderr, PROG ": all %ld accounts live on one node: no "
				"cross-node transfer possible\n", n);
		return -1;
	}
	return 0;
fail_mem:
	snprintf(err, sizeof(err), "out of memory");
fail:
	fprintf(stderr, PROG ": %s: %s\n", g_cfg.addrs[0].text, err);
	rc_close(&rc);
	return -1;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

/* Nearest rank. */
static double pct_us(const uint64_t *s, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0.0;
	k = (size_t)(p * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)s[k - 1] / 1000.0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --system dkv|etcd --addrs HOST:PORT[,HOST:PORT...]\n"
		"       [--mode transfer|blind|fastpath|set] [--clients N]\n"
		"       [--seconds S] [--ops N] [--accounts N] [--prefix P]\n"
		"       [--amount-max N] [--max-retries N] [--tags N]\n"
		"       [--timeout S] [--seed N] [--json]\n"
		"\n"
		"  --system      dkv (RESP, any node; clients spread over --addrs)\n"
		"                or etcd (v3 JSON gateway at --addrs, transfer only)\n"
		"  --mode        transfer (default): WATCH/GET/GET + MULTI/SET/SET/EXEC,\n"
		"                etcd: range txn + compare-and-swap txn;\n"
		"                blind: MULTI/DECRBY/INCRBY/EXEC (dkv);\n"
		"                fastpath: MULTI/SET/SET/EXEC of one shard (dkv);\n"
		"                set: plain SET of one key (dkv)\n"
		"  --clients     client threads, one connection each (default 1)\n"
		"  --seconds     duration (default 5)\n"
		"  --ops         commits per client at most (default 10000000)\n"
		"  --accounts    accounts PREFIX000000.. loaded beforehand (default 1000)\n"
		"  --prefix      account name prefix (default acct:)\n"
		"  --amount-max  transfers move 1..N (default 10)\n"
		"  --max-retries attempts per transfer before giving up (default 10000)\n"
		"  --tags        fastpath/set: hash tags per client (default 8)\n"
		"  --timeout     socket timeout in seconds, fatal (default 30)\n"
		"  --json        one JSON object on stdout instead of a line\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"system", required_argument, NULL, 's'},
		{"addrs", required_argument, NULL, 'a'},
		{"mode", required_argument, NULL, 'm'},
		{"clients", required_argument, NULL, 'c'},
		{"seconds", required_argument, NULL, 'S'},
		{"ops", required_argument, NULL, 'o'},
		{"accounts", required_argument, NULL, 'n'},
		{"prefix", required_argument, NULL, 'p'},
		{"amount-max", required_argument, NULL, 'A'},
		{"max-retries", required_argument, NULL, 'r'},
		{"tags", required_argument, NULL, 't'},
		{"timeout", required_argument, NULL, 'T'},
		{"seed", required_argument, NULL, 'x'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct client *cl;
	int ch, li, bad = 0, status = 0;

	while ((ch = getopt_long(argc, argv, "", opts, &li)) != -1) {
		switch (ch) {
		case 's':
			if (strcmp(optarg, "dkv") == 0)
				g_cfg.sys = SYS_DKV;
			else if (strcmp(optarg, "etcd") == 0)
				g_cfg.sys = SYS_ETCD;
			else
				bad = 1;
			break;
		case 'a': {
			char *s = strdup(optarg), *save = NULL, *tok;

			for (tok = strtok_r(s, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (g_cfg.naddrs == MAX_ADDRS ||
				    parse_addr(tok, &g_cfg.addrs[g_cfg.naddrs])) {
					fprintf(stderr, PROG ": bad address "
						"\"%s\"\n", tok);
					bad = 1;
					break;
				}
				g_cfg.naddrs++;
			}
			free(s);
			break;
		}
		case 'm': {
			int k;

			for (k = 0; k < 4 && strcmp(optarg, mode_names[k]); k++)
				;
			if (k == 4)
				bad = 1;
			else
				g_cfg.mode = (enum mode)k;
			break;
		}
		case 'c':
			g_cfg.clients = atoi(optarg);
			break;
		case 'S':
			g_cfg.seconds = atof(optarg);
			break;
		case 'o':
			g_cfg.ops = atol(optarg);
			break;
		case 'n':
			g_cfg.accounts = atol(optarg);
			break;
		case 'p':
			g_cfg.prefix = optarg;
			break;
		case 'A':
			g_cfg.amount_max = atoi(optarg);
			break;
		case 'r':
			g_cfg.max_retries = atol(optarg);
			break;
		case 't':
			g_cfg.tags = atoi(optarg);
			break;
		case 'T':
			g_cfg.timeout = atof(optarg);
			break;
		case 'x':
			g_cfg.seed = strtoull(optarg, NULL, 0);
			break;
		case 'j':
			g_cfg.json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			bad = 1;
		}
	}
	if (!bad && (optind != argc || g_cfg.naddrs == 0 ||
		     g_cfg.clients < 1 || g_cfg.clients > MAX_CLIENTS ||
		     !(g_cfg.seconds > 0 && g_cfg.seconds < 86400) ||
		     g_cfg.ops < 1 || g_cfg.accounts < 2 ||
		     g_cfg.accounts > 10000000 || g_cfg.amount_max < 1 ||
		     g_cfg.max_retries < 1 || g_cfg.tags < 1 ||
		     g_cfg.tags > 1024 || !(g_cfg.timeout >= 0.1) ||
		     strlen(g_cfg.prefix) > 32))
		bad = 1;
	if (!bad && g_cfg.sys == SYS_ETCD && g_cfg.mode != M_TRANSFER) {
		fprintf(stderr, PROG ": etcd runs --mode transfer only\n");
		bad = 1;
	}
	if (bad) {
		usage(stderr);
		return 2;
	}
	if (setup_accounts()) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	if (g_cfg.sys == SYS_DKV &&
	    (g_cfg.mode == M_TRANSFER || g_cfg.mode == M_BLIND) &&
	    map_accounts())
		return 1;

	cl = calloc((size_t)g_cfg.clients, sizeof(*cl));
	if (!cl || pthread_barrier_init(&g_bar, NULL,
					(unsigned)g_cfg.clients + 1)) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	for (int i = 0; i < g_cfg.clients; i++) {
		cl[i].id = i;
		cl[i].addr = &g_cfg.addrs[i % g_cfg.naddrs];
		cl[i].rng = g_cfg.seed * 1000003ULL + (uint64_t)i;
		cl[i].rc.fd = -1;
		if (pthread_create(&cl[i].th, NULL, client_main, &cl[i])) {
			fprintf(stderr, PROG ": pthread_create failed\n");
			/* threads already made wait at the barrier forever:
			 * exit the process */
			_exit(1);
		}
	}
	pthread_barrier_wait(&g_bar);
	g_t0 = now_s();
	g_deadline = g_t0 + g_cfg.seconds;
	pthread_barrier_wait(&g_bar);

	uint64_t attempts = 0, commits = 0, aborts = 0, errors = 0,
		 unknown = 0, gave_up = 0, unfinished = 0;
	size_t nlat = 0;
	double t_end = g_t0;
	int fatals = 0;

	for (int i = 0; i < g_cfg.clients; i++) {
		pthread_join(cl[i].th, NULL);
		attempts += cl[i].attempts;
		commits += cl[i].commits;
		aborts += cl[i].aborts;
		errors += cl[i].errors;
		unknown += cl[i].unknown;
		gave_up += cl[i].gave_up;
		unfinished += cl[i].unfinished;
		nlat += cl[i].nlat;
		fatals += cl[i].fatal;
		if (cl[i].t_end > t_end)
			t_end = cl[i].t_end;
	}
	uint64_t *all = malloc((nlat ? nlat : 1) * sizeof(*all));
	size_t k = 0;
	double sum_us = 0;

	if (!all) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}
	for (int i = 0; i < g_cfg.clients; i++) {
		memcpy(all + k, cl[i].lat, cl[i].nlat * sizeof(*all));
		k += cl[i].nlat;
		free(cl[i].lat);
		free(cl[i].tags);
	}
	qsort(all, nlat, sizeof(*all), cmp_u64);
	for (size_t i = 0; i < nlat; i++)
		sum_us += (double)all[i] / 1000.0;

	double wall = t_end - g_t0;
	double tput = wall > 0 ? (double)commits / wall : 0.0;
	double abort_rate = attempts ? (double)aborts / (double)attempts : 0.0;
	double p50 = pct_us(all, nlat, 0.50), p99 = pct_us(all, nlat, 0.99);
	double mean = nlat ? sum_us / (double)nlat : 0.0;
	double mx = nlat ? (double)all[nlat - 1] / 1000.0 : 0.0;
	const char *sysname = g_cfg.sys == SYS_DKV ? "dkv" : "etcd";

	if (fatals)
		status = 1;
	if (g_cfg.json) {
		json_t *o = json_pack(
			"{s:s, s:s, s:i, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
			" s:f, s:f, s:f, s:f, s:f, s:f, s:i, s:s}",
			"system", sysname, "mode", mode_names[g_cfg.mode],
			"clients", g_cfg.clients, "seconds", wall,
			"attempts", (json_int_t)attempts,
			"commits", (json_int_t)commits,
			"aborts", (json_int_t)aborts,
			"errors", (json_int_t)errors,
			"unknown", (json_int_t)unknown,
			"gave_up", (json_int_t)gave_up,
			"unfinished", (json_int_t)unfinished,
			"tput", tput, "p50_us", p50, "p99_us", p99,
			"mean_us", mean, "max_us", mx, "abort_rate",
			abort_rate, "fatal", fatals, "first_error",
			g_first_error);

		if (!o) {
			fprintf(stderr, PROG ": json_pack failed\n");
			return 1;
		}
		json_dumpf(o, stdout, JSON_COMPACT);
		fputc('\n', stdout);
		json_decref(o);
	} else {
		printf("%-4s %-8s clients %3d  %8.2f s  commits %8" PRIu64
		       "  %9.0f/s  p50 %8.0f us  p99 %8.0f us  max %8.0f us"
		       "  attempts %8" PRIu64 "  aborts %6" PRIu64
		       " (%.2f%%)  errors %" PRIu64 " (unknown outcome %" PRIu64
		       ")  gave up %" PRIu64 "  unfinished %" PRIu64 "\n",
		       sysname, mode_names[g_cfg.mode], g_cfg.clients, wall,
		       commits, tput, p50, p99, mx, attempts, aborts,
		       100.0 * abort_rate, errors, unknown, gave_up,
		       unfinished);
	}
	fflush(stdout);
	free(all);
	free(cl);
	for (int i = 0; i < g_nnodes; i++)
		free(g_node_accts[i]);
	free(g_acct);
	free(g_acct_len);
	free(g_acct_b64);
	free(g_acct_node);
	pthread_barrier_destroy(&g_bar);
	return status;
}
