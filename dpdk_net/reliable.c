/* SPDX-License-Identifier: Apache-2.0 */
/* Retries, duplicate suppression, idempotent produce: see dpdk_net/reliable.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dpdk_net/frame_layout.h"
#include "dpdk_net/reliable.h"
#include "shmq/error.h"

/* ---- requester ---- */

struct req {
	uint64_t id;            /* 0 = free slot */
	uint64_t first_ns;
	uint64_t timer_ns;
	uint64_t rto_ns;
	void *ctx;
	uint16_t attempt;
};

struct shmq_net_requester {
	struct shmq_net_retry_opts o;
	uint64_t last_id;
	unsigned outstanding;
	struct req r[];
};

int shmq_net_req_create(const struct shmq_net_retry_opts *opts, struct shmq_net_requester **out)
{
	struct shmq_net_retry_opts o = { .sz = sizeof(o) };
	if (!out || (opts && opts->sz < sizeof(o)))
		return -EINVAL;
	if (opts)
		o = *opts;
	if (!o.rto_initial_ns)
		o.rto_initial_ns = 20000000ull;
	if (!o.rto_max_ns)
		o.rto_max_ns = 1000000000ull;
	if (!o.deadline_ns)
		o.deadline_ns = 30000000000ull;
	if (!o.max_outstanding)
		o.max_outstanding = 64;
	if (o.rto_max_ns < o.rto_initial_ns || o.max_outstanding > 65536)
		return -EINVAL;
	struct shmq_net_requester *rq = calloc(1, sizeof(*rq) + o.max_outstanding * sizeof(struct req));
	if (!rq)
		return -ENOMEM;
	rq->o = o;
	*out = rq;
	return 0;
}

void shmq_net_req_destroy(struct shmq_net_requester *rq)
{
	free(rq);
}

uint64_t shmq_net_req_new_id(struct shmq_net_requester *rq)
{
	return ++rq->last_id;
}

static struct req *req_find(const struct shmq_net_requester *rq, uint64_t id)
{
	for (uint32_t i = 0; i < rq->o.max_outstanding; i++)
		if (rq->r[i].id == id)
			return (struct req *)&rq->r[i];
	return NULL;
}

int shmq_net_req_track(struct shmq_net_requester *rq, uint64_t id, uint64_t now_ns, void *ctx)
{
	if (id == 0)
		return -EINVAL;
	if (req_find(rq, id))
		return -EEXIST;
	struct req *s = req_find(rq, 0);
	if (!s)
		return -EBUSY;
	*s = (struct req){ .id = id, .first_ns = now_ns, .timer_ns = now_ns + rq->o.rto_initial_ns,
			   .rto_ns = rq->o.rto_initial_ns, .ctx = ctx, .attempt = 1 };
	rq->outstanding++;
	return 0;
}

unsigned shmq_net_req_due(struct shmq_net_requester *rq, uint64_t now_ns, struct shmq_net_req_due *out,
			  unsigned max)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < rq->o.max_outstanding && n < max; i++) {
		struct req *s = &rq->r[i];
		if (!s->id || now_ns < s->timer_ns)
			continue;
		out[n] = (struct shmq_net_req_due){ .request_id = s->id, .ctx = s->ctx };
		if (now_ns - s->first_ns >= rq->o.deadline_ns || s->attempt == UINT16_MAX) {
			out[n++].expired = true;
			memset(s, 0, sizeof(*s));
			rq->outstanding--;
			continue;
		}
		/* exponential backoff: a congested or lossy path gets less load */
		s->rto_ns = s->rto_ns > rq->o.rto_max_ns / 2 ? rq->o.rto_max_ns : s->rto_ns * 2;
		s->timer_ns = now_ns + s->rto_ns;
		out[n++].attempt = ++s->attempt;
	}
	return n;
}

int shmq_net_req_done(struct shmq_net_requester *rq, uint64_t id, void **ctx)
{
	struct req *s = id ? req_find(rq, id) : NULL;
	if (!s)
		return -ENOENT;
	if (ctx)
		*ctx = s->ctx;
	memset(s, 0, sizeof(*s));
	rq->outstanding--;
	return 0;
}

int shmq_net_req_attempt(const struct shmq_net_requester *rq, uint64_t id)
{
	const struct req *s = id ? req_find(rq, id) : NULL;
	return s ? s->attempt : -ENOENT;
}

uint64_t shmq_net_req_next_timer(const struct shmq_net_requester *rq)
{
	uint64_t t = UINT64_MAX;
	for (uint32_t i = 0; i < rq->o.max_outstanding; i++)
		if (rq->r[i].id && rq->r[i].timer_ns < t)
			t = rq->r[i].timer_ns;
	return t;
}

unsigned shmq_net_req_outstanding(const struct shmq_net_requester *rq)
{
	return rq->outstanding;
}

/* ---- dedup ---- */

struct dd_entry {
	uint64_t id;            /* 0 = free */
	uint64_t seq;           /* insertion order: eviction picks the lowest */
	uint8_t state;          /* PENDING or ANSWERED */
	uint16_t type;
	uint16_t attempt;       /* highest attempt answered */
	uint32_t len;
	uint8_t *body;
};

struct shmq_net_dedup {
	struct shmq_net_dedup_opts o;
	uint64_t floor;         /* highest id evicted: ids <= floor not held are STALE */
	uint64_t seq;
	size_t bytes;
	struct dd_entry e[];
};

int shmq_net_dedup_create(const struct shmq_net_dedup_opts *opts, struct shmq_net_dedup **out)
{
	struct shmq_net_dedup_opts o = { .sz = sizeof(o) };
	if (!out || (opts && opts->sz < sizeof(o)))
		return -EINVAL;
	if (opts)
		o = *opts;
	if (!o.slots)
		o.slots = 128;
	if (!o.max_bytes)
		o.max_bytes = 2 * (size_t)SHMQ_NET_MSG_MAX;
	if (o.slots > 65536)
		return -EINVAL;
	struct shmq_net_dedup *d = calloc(1, sizeof(*d) + o.slots * sizeof(struct dd_entry));
	if (!d)
		return -ENOMEM;
	d->o = o;
	*out = d;
	return 0;
}

static void dd_free(struct shmq_net_dedup *d, struct dd_entry *e)
{
	if (e->id > d->floor)
		d->floor = e->id;
	d->bytes -= e->len;
	free(e->body);
	memset(e, 0, sizeof(*e));
}

void shmq_net_dedup_destroy(struct shmq_net_dedup *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->o.slots; i++)
		free(d->e[i].body);
	free(d);
}

static struct dd_entry *dd_find(struct shmq_net_dedup *d, uint64_t id)
{
	for (uint32_t i = 0; i < d->o.slots; i++)
		if (d->e[i].id == id)
			return &d->e[i];
	return NULL;
}

/* Evict the oldest answered entry; a pending one is never evicted (its
 * answer is still to come). Returns false when every entry is pending. */
static bool dd_evict_one(struct shmq_net_dedup *d)
{
	struct dd_entry *best = NULL;
	for (uint32_t i = 0; i < d->o.slots; i++) {
		struct dd_entry *e = &d->e[i];
		if (e->id && e->state == SHMQ_NET_DEDUP_ANSWERED && (!best || e->seq < best->seq))
			best = e;
	}
	if (!best)
		return false;
	dd_free(d, best);
	return true;
}

enum shmq_net_dedup_state shmq_net_dedup_lookup(struct shmq_net_dedup *d, uint64_t id, uint16_t attempt,
						struct shmq_net_dedup_answer *ans)
{
	struct dd_entry *e = id ? dd_find(d, id) : NULL;
	if (!e)
		return id <= d->floor ? SHMQ_NET_DEDUP_STALE : SHMQ_NET_DEDUP_NEW;
	if (e->state != SHMQ_NET_DEDUP_ANSWERED || attempt <= e->attempt)
		return SHMQ_NET_DEDUP_PENDING;
	e->attempt = attempt;
	ans->type = e->type;
	ans->body = e->body;
	ans->len = e->len;
	return SHMQ_NET_DEDUP_ANSWERED;
}

int shmq_net_dedup_begin(struct shmq_net_dedup *d, uint64_t id)
{
	if (id == 0)
		return -EINVAL;
	if (dd_find(d, id))
		return -EEXIST;
	struct dd_entry *e = dd_find(d, 0);
	if (!e) {
		if (!dd_evict_one(d))
			return -EBUSY;
		e = dd_find(d, 0);
	}
	*e = (struct dd_entry){ .id = id, .seq = ++d->seq, .state = SHMQ_NET_DEDUP_PENDING };
	return 0;
}

int shmq_net_dedup_answer(struct shmq_net_dedup *d, uint64_t id, uint16_t attempt, uint16_t type,
			  const void *body, uint32_t len)
{
	struct dd_entry *e = id ? dd_find(d, id) : NULL;
	if (!e || e->state != SHMQ_NET_DEDUP_PENDING)
		return -ENOENT;
	if (len > d->o.max_bytes)
		return -EMSGSIZE;
	while (d->bytes + len > d->o.max_bytes)
		if (!dd_evict_one(d))
			return -EMSGSIZE;
	uint8_t *copy = NULL;
	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, body, len);
	}
	e->state = SHMQ_NET_DEDUP_ANSWERED;
	e->type = type;
	e->attempt = attempt;
	e->body = copy;
	e->len = len;
	d->bytes += len;
	return 0;
}

size_t shmq_net_dedup_bytes(const struct shmq_net_dedup *d)
{
	return d->bytes;
}

/* ---- idempotent produce ---- */

struct idem_off {
	uint64_t seq;           /* whose offsets these are; UINT64_MAX = none */
	uint64_t queue_offset;
	uint64_t store_offset;
};

struct idem_prod {
	uint64_t producer_id;   /* 0 = free */
	uint64_t stream;
	uint64_t next_seq;      /* next expected */
	uint64_t owner;         /* the principal's hash that claimed it; 0 = none yet */
	uint64_t last_used;
	/* indexed by seq % history; an entry is valid for seq if it carries
	 * seq and next_seq - seq <= history (a seeded stream may have holes) */
	struct idem_off *hist;
};

struct shmq_net_idem {
	struct shmq_net_idem_opts o;
	uint64_t clock;
	struct idem_prod p[];
};

int shmq_net_idem_create(const struct shmq_net_idem_opts *opts, struct shmq_net_idem **out)
{
	struct shmq_net_idem_opts o = { .sz = sizeof(o) };
	if (!out || (opts && opts->sz < sizeof(o)))
		return -EINVAL;
	if (opts)
		o = *opts;
	if (!o.producers)
		o.producers = 1024;
	if (!o.history)
		o.history = 1024;
	if (o.producers > (1u << 20) || o.history > (1u << 20))
		return -EINVAL;
	struct shmq_net_idem *t = calloc(1, sizeof(*t) + o.producers * sizeof(struct idem_prod));
	if (!t)
		return -ENOMEM;
	t->o = o;
	*out = t;
	return 0;
}

void shmq_net_idem_destroy(struct shmq_net_idem *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->o.producers; i++)
		free(t->p[i].hist);
	free(t);
}

static struct idem_prod *idem_find(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream)
{
	for (uint32_t i = 0; i < t->o.producers; i++)
		if (t->p[i].producer_id == producer_id && t->p[i].stream == stream) {
			t->p[i].last_used = ++t->clock;
			return &t->p[i];
		}
	return NULL;
}

int shmq_net_idem_check(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t first_seq,
			uint32_t count, uint32_t *dups, uint64_t *next)
{
	struct idem_prod *p = idem_find(t, producer_id, stream);
	if (!p) {
		/* unknown producer: its first batch starts the stream */
		*dups = 0;
		*next = first_seq;
		return 0;
	}
	*next = p->next_seq;
	if (first_seq > p->next_seq) {
		*dups = 0;
		return SHMQ_ESEQGAP;
	}
	uint64_t d = p->next_seq - first_seq;
	*dups = d > count ? count : (uint32_t)d;
	return 0;
}

/* The pair of (@p producer_id, @p stream), taking the least recently used
 * one (forgotten: its producer restarts the stream) if it is new; its
 * next_seq is then @p seq. NULL on -ENOMEM. */
static struct idem_prod *idem_get(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t seq)
{
	struct idem_prod *p = idem_find(t, producer_id, stream);
	if (p)
		return p;
	struct idem_prod *lru = NULL;
	for (uint32_t i = 0; i < t->o.producers; i++) {
		if (!t->p[i].producer_id) {
			lru = &t->p[i];
			break;
		}
		if (!lru || t->p[i].last_used < lru->last_used)
			lru = &t->p[i];
	}
	struct idem_off *hist = lru->hist;
	if (!hist) {
		hist = malloc(t->o.history * sizeof(*hist));
		if (!hist)
			return NULL;
	}
	/* a reused history holds the evicted pair's sequences */
	for (uint32_t i = 0; i < t->o.history; i++)
		hist[i].seq = UINT64_MAX;
	*lru = (struct idem_prod){ .producer_id = producer_id, .stream = stream, .next_seq = seq,
				   .last_used = ++t->clock, .hist = hist };
	return lru;
}

int shmq_net_idem_record(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t seq,
			 uint64_t queue_offset, uint64_t store_offset)
{
	struct idem_prod *p = idem_get(t, producer_id, stream, seq);
	if (!p)
		return -ENOMEM;
	if (seq != p->next_seq)
		return SHMQ_ESEQGAP;
	p->hist[seq % t->o.history] = (struct idem_off){ seq, queue_offset, store_offset };
	p->next_seq = seq + 1;
	return 0;
}

int shmq_net_idem_claim(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t owner)
{
	struct idem_prod *p = idem_find(t, producer_id, stream);
	if (!p || !owner)
		return 0;
	if (!p->owner)
		p->owner = owner;
	return p->owner == owner ? 0 : -EACCES;
}

int shmq_net_idem_seed(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t seq,
		       uint64_t queue_offset, uint64_t store_offset)
{
	if (!producer_id || seq == UINT64_MAX)
		return -EINVAL;
	struct idem_prod *p = idem_get(t, producer_id, stream, seq);
	if (!p)
		return -ENOMEM;
	if (seq >= p->next_seq)
		p->next_seq = seq + 1;
	/* older than the history: its slot belongs to a later sequence */
	if (p->next_seq - seq <= t->o.history)
		p->hist[seq % t->o.history] = (struct idem_off){ seq, queue_offset, store_offset };
	return 0;
}

int shmq_net_idem_lookup(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t seq,
			 uint64_t *queue_offset, uint64_t *store_offset)
{
	struct idem_prod *p = idem_find(t, producer_id, stream);
	if (!p || seq >= p->next_seq || p->next_seq - seq > t->o.history)
		return SHMQ_ENOTFOUND;
	const struct idem_off *o = &p->hist[seq % t->o.history];
	if (o->seq != seq)
		return SHMQ_ENOTFOUND;
	*queue_offset = o->queue_offset;
	*store_offset = o->store_offset;
	return 0;
}
