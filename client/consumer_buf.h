/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A consumer's copy buffer: a chunked bump allocator whose bytes stay put
 * until the next reset. Views handed to the application point into it, so a
 * chunk is never moved or reallocated while in use; a poll resets it, which
 * is exactly when the previous poll's views stop being valid (shmq/shmq.h).
 *
 * Not thread safe (one per consumer, used by its polling thread).
 */
#ifndef SHMQ_CLIENT_CONSUMER_BUF_H
#define SHMQ_CLIENT_CONSUMER_BUF_H

#include <stddef.h>

struct shmq_cbuf_chunk;

struct shmq_cbuf {
	struct shmq_cbuf_chunk *head; /* chunk being filled; older chunks follow */
	size_t used;                  /* bytes used in head */
};

/** @brief 8-byte aligned room for @p n bytes, valid until the next reset. NULL on ENOMEM. */
void *shmq_cbuf_alloc(struct shmq_cbuf *b, size_t n);

/** @brief Forget every allocation; keeps the newest chunk for reuse. */
void shmq_cbuf_reset(struct shmq_cbuf *b);

/** @brief Free everything. */
void shmq_cbuf_free(struct shmq_cbuf *b);

#endif
