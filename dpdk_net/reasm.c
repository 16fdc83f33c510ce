/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded reassembler: see dpdk_net/reasm.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dpdk_net/reasm.h"

struct partial {
	uint64_t session_id;
	uint64_t request_id;
	uint16_t type;
	uint16_t used;          /* slot holds a partial */
	uint32_t msg_len;
	uint32_t frag_size;
	uint32_t frag_count;
	uint32_t received;      /* distinct fragments held */
	uint64_t first_ns;
	size_t cost;            /* bytes charged to the budget */
	uint8_t *data;          /* msg_len bytes */
	uint64_t *bits;         /* frag_count bits: fragment held */
};

struct shmq_net_reasm {
	struct shmq_net_reasm_opts o;
	size_t bytes;
	unsigned partials;
	struct shmq_net_reasm_stats st;
	struct partial slot[];
};

int shmq_net_reasm_create(const struct shmq_net_reasm_opts *opts, struct shmq_net_reasm **out)
{
	struct shmq_net_reasm_opts o = { .sz = sizeof(o) };
	if (!out || (opts && opts->sz < sizeof(o)))
		return -EINVAL;
	if (opts)
		o = *opts;
	if (o.max_bytes == 0)
		o.max_bytes = 2 * (size_t)SHMQ_NET_MSG_MAX;
	if (o.max_msgs == 0)
		o.max_msgs = 16;
	if (o.timeout_ns == 0)
		o.timeout_ns = 5000000000ull;
	if (o.max_msgs > 65536)
		return -EINVAL;
	struct shmq_net_reasm *r = calloc(1, sizeof(*r) + o.max_msgs * sizeof(struct partial));
	if (!r)
		return -ENOMEM;
	r->o = o;
	*out = r;
	return 0;
}

static void partial_free(struct shmq_net_reasm *r, struct partial *p)
{
	free(p->data);
	free(p->bits);
	r->bytes -= p->cost;
	r->partials--;
	memset(p, 0, sizeof(*p));
}

void shmq_net_reasm_destroy(struct shmq_net_reasm *r)
{
	if (!r)
		return;
	for (uint32_t i = 0; i < r->o.max_msgs; i++)
		if (r->slot[i].used)
			partial_free(r, &r->slot[i]);
	free(r);
}

static struct partial *find(struct shmq_net_reasm *r, uint64_t session_id, uint64_t request_id,
			    uint16_t type)
{
	for (uint32_t i = 0; i < r->o.max_msgs; i++) {
		struct partial *p = &r->slot[i];
		if (p->used && p->session_id == session_id && p->request_id == request_id && p->type == type)
			return p;
	}
	return NULL;
}

static struct partial *oldest(struct shmq_net_reasm *r)
{
	struct partial *best = NULL;
	for (uint32_t i = 0; i < r->o.max_msgs; i++)
		if (r->slot[i].used && (!best || r->slot[i].first_ns < best->first_ns))
			best = &r->slot[i];
	return best;
}

static struct partial *free_slot(struct shmq_net_reasm *r)
{
	for (uint32_t i = 0; i < r->o.max_msgs; i++)
		if (!r->slot[i].used)
			return &r->slot[i];
	return NULL;
}

/* Start a partial for f's message, evicting the oldest ones to make room. */
static int partial_start(struct shmq_net_reasm *r, const struct shmq_net_frame *f, uint64_t now_ns,
			 struct partial **out)
{
	size_t words = ((size_t)f->h.frag_count + 63) / 64;
	size_t cost = f->h.msg_len + words * sizeof(uint64_t);
	if (cost > r->o.max_bytes) {
		r->st.refused++;
		return -ENOBUFS;
	}
	while (r->bytes + cost > r->o.max_bytes || r->partials == r->o.max_msgs) {
		partial_free(r, oldest(r));
		r->st.evicted++;
	}
	struct partial *p = free_slot(r);
	p->data = malloc(f->h.msg_len);
	p->bits = calloc(words, sizeof(uint64_t));
	if (!p->data || !p->bits) {
		free(p->data);
		free(p->bits);
		p->data = NULL;
		p->bits = NULL;
		return -ENOMEM;
	}
	p->used = 1;
	p->session_id = f->h.session_id;
	p->request_id = f->h.request_id;
	p->type = f->h.type;
	p->msg_len = f->h.msg_len;
	p->frag_size = f->h.frag_size;
	p->frag_count = f->h.frag_count;
	p->received = 0;
	p->first_ns = now_ns;
	p->cost = cost;
	r->bytes += cost;
	r->partials++;
	*out = p;
	return 0;
}

int shmq_net_reasm_add(struct shmq_net_reasm *r, const struct shmq_net_frame *f, uint64_t now_ns,
		       struct shmq_net_reasm_msg *out)
{
	if (f->h.frag_count == 1) {
		/* the frame validator guarantees payload_len == msg_len here */
		out->body = f->payload;
		out->len = f->h.msg_len;
		out->owned = NULL;
		return 1;
	}
	struct partial *p = find(r, f->h.session_id, f->h.request_id, f->h.type);
	if (p && (p->msg_len != f->h.msg_len || p->frag_size != f->h.frag_size)) {
		r->st.conflicts++;
		return -EBADMSG;
	}
	if (!p) {
		int rc = partial_start(r, f, now_ns, &p);
		if (rc < 0)
			return rc;
	}
	uint32_t i = f->h.frag_index;
	uint64_t bit = 1ull << (i % 64);
	if (p->bits[i / 64] & bit) {
		r->st.duplicates++;
		return -EALREADY;
	}
	/* frame validation bounds index * frag_size + payload_len by msg_len */
	memcpy(p->data + (size_t)i * p->frag_size, f->payload, f->h.payload_len);
	p->bits[i / 64] |= bit;
	if (++p->received < p->frag_count)
		return 0;
	out->body = p->data;
	out->len = p->msg_len;
	out->owned = p->data;
	p->data = NULL; /* handed to the caller */
	r->st.completed++;
	partial_free(r, p);
	return 1;
}

unsigned shmq_net_reasm_expire(struct shmq_net_reasm *r, uint64_t now_ns)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < r->o.max_msgs; i++) {
		struct partial *p = &r->slot[i];
		if (p->used && now_ns > p->first_ns && now_ns - p->first_ns > r->o.timeout_ns) {
			partial_free(r, p);
			r->st.expired++;
			n++;
		}
	}
	return n;
}

int shmq_net_reasm_forget(struct shmq_net_reasm *r, uint64_t session_id, uint64_t request_id,
			  uint16_t type)
{
	struct partial *p = find(r, session_id, request_id, type);
	if (!p)
		return 0;
	partial_free(r, p);
	return 1;
}

size_t shmq_net_reasm_bytes(const struct shmq_net_reasm *r)
{
	return r->bytes;
}

unsigned shmq_net_reasm_partials(const struct shmq_net_reasm *r)
{
	return r->partials;
}

void shmq_net_reasm_stats(const struct shmq_net_reasm *r, struct shmq_net_reasm_stats *st)
{
	*st = r->st;
}

void shmq_net_reasm_msg_free(struct shmq_net_reasm_msg *m)
{
	if (!m)
		return;
	free(m->owned);
	m->owned = NULL;
	m->body = NULL;
}
