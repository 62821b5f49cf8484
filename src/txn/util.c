/*
 * util.c - the byte buffer and the arena of util.h.
 *
 * Failure modes: out of memory in a buffer append sets b->failed (later
 * appends do nothing), so a record encoder checks once at the end; an
 * arena allocation returns NULL.
 */
#include "txn/util.h"

#include <stdlib.h>
#include <string.h>

struct txn_arena_chunk {
	struct txn_arena_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

#define ARENA_CHUNK 4096u

void txn_buf_free(struct txn_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

void txn_buf_reset(struct txn_buf *b)
{
	b->len = 0;
	b->failed = 0;
}

void txn_buf_add(struct txn_buf *b, const void *p, size_t len)
{
	size_t cap;
	char *np;

	if (b->failed || len == 0)
		return;
	if (b->len + len > b->cap) {
		cap = b->cap ? b->cap : 64;
		while (cap < b->len + len)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL) {
			b->failed = 1;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

void txn_buf_u8(struct txn_buf *b, uint8_t v)
{
	txn_buf_add(b, &v, 1);
}

void txn_buf_le32(struct txn_buf *b, uint32_t v)
{
	unsigned char x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	txn_buf_add(b, x, 4);
}

void txn_buf_le64(struct txn_buf *b, uint64_t v)
{
	unsigned char x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(v >> (8 * i));
	txn_buf_add(b, x, 8);
}

void txn_buf_be64(struct txn_buf *b, uint64_t v)
{
	unsigned char x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (unsigned char)(v >> (56 - 8 * i));
	txn_buf_add(b, x, 8);
}

void *txn_arena_alloc(struct txn_arena_chunk **a, size_t len)
{
	struct txn_arena_chunk *c = *a;
	size_t al = (len + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	void *p;

	if (al == 0)
		al = sizeof(max_align_t);
	if (c == NULL || c->cap - c->used < al) {
		size_t cap = al > ARENA_CHUNK ? al : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (c == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		if (*a != NULL && al > ARENA_CHUNK) {
			/* A big block: keep the current chunk on top. */
			c->next = (*a)->next;
			(*a)->next = c;
		} else {
			c->next = *a;
			*a = c;
		}
	}
	p = (char *)c->data + c->used;
	c->used += al;
	return p;
}

char *txn_arena_dup(struct txn_arena_chunk **a, const void *p, size_t len)
{
	char *d;

	if (len == 0)
		return NULL;
	d = txn_arena_alloc(a, len);
	if (d != NULL)
		memcpy(d, p, len);
	return d;
}

void txn_arena_free(struct txn_arena_chunk **a)
{
	struct txn_arena_chunk *c = *a, *next;

	while (c != NULL) {
		next = c->next;
		free(c);
		c = next;
	}
	*a = NULL;
}

int txn_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}
