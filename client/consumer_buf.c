/* SPDX-License-Identifier: Apache-2.0 */
#include "client/consumer_buf.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/compiler.h"

/* Chunks are at least this big: a poll of small messages fits one chunk. */
#define CBUF_CHUNK_MIN (256u * 1024u)

struct shmq_cbuf_chunk {
	struct shmq_cbuf_chunk *next;
	size_t cap;
	_Alignas(8) unsigned char data[];
};

void *shmq_cbuf_alloc(struct shmq_cbuf *b, size_t n)
{
	size_t need = SHMQ_ALIGN_UP(n ? n : 1, (size_t)8);
	if (need < n)
		return NULL; /* overflow */
	if (!b->head || b->head->cap - b->used < need) {
		size_t cap = need > CBUF_CHUNK_MIN ? need : CBUF_CHUNK_MIN;
		if (cap > SIZE_MAX - sizeof(struct shmq_cbuf_chunk))
			return NULL;
		struct shmq_cbuf_chunk *ch = malloc(sizeof(*ch) + cap);
		if (!ch)
			return NULL;
		ch->cap = cap;
		ch->next = b->head; /* older chunks stay: their views are still live */
		b->head = ch;
		b->used = 0;
	}
	void *p = b->head->data + b->used;
	b->used += need;
	return p;
}

void shmq_cbuf_reset(struct shmq_cbuf *b)
{
	if (!b->head)
		return;
	struct shmq_cbuf_chunk *ch = b->head->next;
	while (ch) {
		struct shmq_cbuf_chunk *nx = ch->next;
		free(ch);
		ch = nx;
	}
	b->head->next = NULL;
	b->used = 0;
}

void shmq_cbuf_free(struct shmq_cbuf *b)
{
	shmq_cbuf_reset(b);
	free(b->head);
	b->head = NULL;
	b->used = 0;
}
