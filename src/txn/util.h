/*
 * util.h - small memory helpers of the transaction core: a growable byte
 * buffer (record encoding) and an arena (copies of keys and values kept
 * by a transaction or a batch, freed all at once).
 */
#ifndef DKV_TXN_UTIL_H
#define DKV_TXN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* A growable buffer; owns p. Zero-initialize, free with txn_buf_free. */
struct txn_buf {
	char *p;
	size_t len;
	size_t cap;
	int failed; /* an append ran out of memory: the content is invalid */
};

void txn_buf_free(struct txn_buf *b);
void txn_buf_reset(struct txn_buf *b); /* len = 0, failed = 0 */
void txn_buf_add(struct txn_buf *b, const void *p, size_t len);
void txn_buf_u8(struct txn_buf *b, uint8_t v);
void txn_buf_le32(struct txn_buf *b, uint32_t v);
void txn_buf_le64(struct txn_buf *b, uint64_t v);
void txn_buf_be64(struct txn_buf *b, uint64_t v);

static inline uint32_t txn_get_le32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 |
	       (uint32_t)u[3] << 24;
}

static inline uint64_t txn_get_le64(const char *p)
{
	return (uint64_t)txn_get_le32(p) | (uint64_t)txn_get_le32(p + 4) << 32;
}

static inline uint64_t txn_get_be64(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | u[i];
	return v;
}

/* An arena: a list of chunks. The head pointer is the whole state
 * (NULL = empty); everything allocated lives until txn_arena_free. */
struct txn_arena_chunk;

void *txn_arena_alloc(struct txn_arena_chunk **a, size_t len);
/* A copy of len bytes (NULL for len 0, not an error: check len). */
char *txn_arena_dup(struct txn_arena_chunk **a, const void *p, size_t len);
void txn_arena_free(struct txn_arena_chunk **a);

/* Byte-wise comparison of two strings, as the store orders keys. */
int txn_key_cmp(const char *a, size_t alen, const char *b, size_t blen);

#endif /* DKV_TXN_UTIL_H */
