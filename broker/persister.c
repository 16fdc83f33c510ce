/* SPDX-License-Identifier: Apache-2.0 */
/* The persister: rings -> store. Contract and invariants in persister.h. */
#include "broker/persister.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "broker/log.h"
#include "common/clock.h"
#include "common/ringmsg.h"
#include "ebpf/probes.h"
#include "shm/futex.h"

#define COMP "persister"
#define FIFO_LEN 64u
#define TOPIC_MAX 255u

/* (commitlog end after an append, ring position consumed by it). */
struct flush_ent {
	uint64_t end;
	uint64_t pos;
};

struct pring {
	char topic[TOPIC_MAX + 1];
	uint32_t queue_id;
	shmq_ring_t *ring;
	bool fenced;
	bool restart_pending;  /* P2 check not done yet */
	uint64_t next_qo;      /* queue offset the store gives the next message */
	uint64_t skip;         /* messages from `consumed` on already in the store */
	/* P3 after a restart: the first restart_left messages at `consumed`
	 * were stored by a previous run, from queue offset restart_qo on */
	uint64_t restart_left;
	uint64_t restart_qo;
	uint64_t backoff_until;/* -ENOSPC / store error: retry after (monotonic ns) */
	uint64_t probe_unblocked; /* ring unblocks reported to the probe (ebpf/probes.h) */
	struct flush_ent fifo[FIFO_LEN];
	unsigned fifo_head, fifo_n;
};

struct shmq_persister {
	shmq_store_t *store;
	struct shmq_persister_opts o;
	pthread_mutex_t mu;        /* rings, scratch, stats: one round at a time */
	struct pring **rings;
	unsigned nrings, cap_rings;
	/* scratch, sized for o.batch_max messages */
	struct shmq_ring_msg *msgs;
	struct shmq_ringmsg_view *views;
	struct shmq_store_msg *smsgs;
	struct shmq_store_result *res;
	uint8_t *copy;
	size_t copy_cap;
	struct shmq_store_prop *props;
	size_t props_cap;
	struct shmq_persister_stats st;
	pthread_t thr;
	bool running;
	_Atomic bool stop;
	/* shmq_persister_kick(): a futex word bumped by a writer that wants its
	 * records persisted now, and whether the loop naps on it. */
	_Atomic uint32_t kick;
	_Atomic uint32_t napping;
};

static void fifo_push(struct pring *r, uint64_t end, uint64_t pos);

int shmq_persister_create(shmq_store_t *store, const struct shmq_persister_opts *opts,
			  shmq_persister_t **out)
{
	if (!store || !out || (opts && opts->sz < sizeof(size_t)))
		return -EINVAL;
	struct shmq_persister *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->o.sz = sizeof(p->o);
	if (opts)
		memcpy(&p->o, opts, opts->sz < sizeof(p->o) ? opts->sz : sizeof(p->o));
	if (p->o.batch_max < SHMQ_RING_BATCH_MAX)
		p->o.batch_max = SHMQ_RING_BATCH_MAX;
	if (p->o.batch_max > 65536u)
		p->o.batch_max = 65536u;
	if (!p->o.idle_wait_ns)
		p->o.idle_wait_ns = 1000000ull;
	if (!p->o.sync_timeout_ns)
		p->o.sync_timeout_ns = 5000000000ull;
	p->store = store;
	unsigned n = p->o.batch_max;
	p->msgs = calloc(n, sizeof(*p->msgs));
	p->views = calloc(n, sizeof(*p->views));
	p->smsgs = calloc(n, sizeof(*p->smsgs));
	p->res = calloc(n, sizeof(*p->res));
	if (!p->msgs || !p->views || !p->smsgs || !p->res ||
	    pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p->msgs);
		free(p->views);
		free(p->smsgs);
		free(p->res);
		free(p);
		return -ENOMEM;
	}
	/* relaxed: no thread exists yet */
	atomic_store_explicit(&p->stop, false, memory_order_relaxed);
	*out = p;
	return 0;
}

void shmq_persister_destroy(shmq_persister_t *p)
{
	if (!p)
		return;
	shmq_persister_stop(p);
	for (unsigned i = 0; i < p->nrings; i++)
		free(p->rings[i]);
	free(p->rings);
	free(p->msgs);
	free(p->views);
	free(p->smsgs);
	free(p->res);
	free(p->copy);
	free(p->props);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int shmq_persister_add_ring(shmq_persister_t *p, const char *topic, uint32_t queue_id,
			    shmq_ring_t *ring)
{
	if (!p || !topic || !ring)
		return -EINVAL;
	size_t tl = strlen(topic);
	if (tl == 0 || tl > TOPIC_MAX)
		return -EINVAL;
	uint64_t min = 0, max = 0;
	int rc = shmq_store_queue_offsets(p->store, topic, queue_id, &min, &max);
	if (rc == SHMQ_ENOTFOUND)
		max = 0;
	else if (rc < 0)
		return rc;
	struct pring *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memcpy(r->topic, topic, tl + 1);
	r->queue_id = queue_id;
	r->ring = ring;
	r->next_qo = max;
	r->restart_pending = true;
	/* After a restart, producers may still wait for FLUSHED on records the
	 * previous broker consumed: they are in the recovered log, so they are
	 * durable once everything written so far is. */
	fifo_push(r, shmq_store_max_offset(p->store), shmq_ring_consumed(ring));
	pthread_mutex_lock(&p->mu);
	for (unsigned i = 0; i < p->nrings; i++) {
		struct pring *o = p->rings[i];
		if (o->ring == ring || (o->queue_id == queue_id && strcmp(o->topic, topic) == 0)) {
			pthread_mutex_unlock(&p->mu);
			free(r);
			return -EEXIST;
		}
	}
	if (p->nrings == p->cap_rings) {
		unsigned nc = p->cap_rings ? p->cap_rings * 2 : 8;
		struct pring **nr = realloc(p->rings, nc * sizeof(*nr));
		if (!nr) {
			pthread_mutex_unlock(&p->mu);
			free(r);
			return -ENOMEM;
		}
		p->rings = nr;
		p->cap_rings = nc;
	}
	p->rings[p->nrings++] = r;
	p->st.rings = p->nrings;
	pthread_mutex_unlock(&p->mu);
	shmq_log_info(COMP, "ring added: %s/%" PRIu32 " next queue offset %" PRIu64, topic,
		      queue_id, max);
	return 0;
}

int shmq_persister_remove_ring(shmq_persister_t *p, shmq_ring_t *ring)
{
	if (!p || !ring)
		return SHMQ_ENOTFOUND;
	pthread_mutex_lock(&p->mu);
	for (unsigned i = 0; i < p->nrings; i++) {
		if (p->rings[i]->ring == ring) {
			free(p->rings[i]);
			p->rings[i] = p->rings[--p->nrings];
			p->st.rings = p->nrings;
			pthread_mutex_unlock(&p->mu);
			return 0;
		}
	}
	pthread_mutex_unlock(&p->mu);
	return SHMQ_ENOTFOUND;
}

bool shmq_persister_ring_fenced(shmq_persister_t *p, shmq_ring_t *ring)
{
	bool f = false;
	pthread_mutex_lock(&p->mu);
	for (unsigned i = 0; i < p->nrings; i++)
		if (p->rings[i]->ring == ring)
			f = p->rings[i]->fenced;
	pthread_mutex_unlock(&p->mu);
	return f;
}

void shmq_persister_stats(shmq_persister_t *p, struct shmq_persister_stats *st)
{
	pthread_mutex_lock(&p->mu);
	*st = p->st;
	pthread_mutex_unlock(&p->mu);
}

/* ------------------------------------------------------------------ */
/* one ring                                                             */

static void fence(struct shmq_persister *p, struct pring *r, const char *why, uint64_t pos)
{
	if (!r->fenced) {
		shmq_ring_fence(r->ring);
		r->fenced = true;
		p->st.fenced_rings++;
		p->st.corrupt++;
		shmq_log_error(COMP, "ring %s/%" PRIu32 " fenced: %s at ring position %" PRIu64,
			       r->topic, r->queue_id, why, pos);
	}
}

static void fifo_push(struct pring *r, uint64_t end, uint64_t pos)
{
	if (r->fifo_n == FIFO_LEN) {
		/* Full: widen the newest entry. Its FLUSHED mark comes a little later
		 * (when the later end is durable), never early. */
		struct flush_ent *e = &r->fifo[(r->fifo_head + FIFO_LEN - 1) % FIFO_LEN];
		e->end = end;
		e->pos = pos;
		return;
	}
	r->fifo[(r->fifo_head + r->fifo_n) % FIFO_LEN] = (struct flush_ent){ end, pos };
	r->fifo_n++;
}

/* Everything read from @p r before @p next is in the store: publish the
 * PERSISTED mark, queue the FLUSHED one, release the records to producers. */
static void stored_up_to(struct shmq_persister *p, struct pring *r, uint64_t next)
{
	shmq_ring_publish_mark(r->ring, SHMQ_RING_MARK_PERSISTED, next);
	fifo_push(r, shmq_store_max_offset(p->store), next);
	/* refused only if someone rewrote the ring's positions under us: the
	 * same records would be read (and stored) again every round */
	if (shmq_ring_gate_consume(r->ring, next) < 0)
		fence(p, r, "consumed position rewritten", next);
}

static void publish_flushed(struct pring *r, uint64_t flushed)
{
	uint64_t pos = 0;
	bool any = false;
	while (r->fifo_n && r->fifo[r->fifo_head].end <= flushed) {
		pos = r->fifo[r->fifo_head].pos;
		any = true;
		r->fifo_head = (r->fifo_head + 1) % FIFO_LEN;
		r->fifo_n--;
	}
	if (any)
		shmq_ring_publish_mark(r->ring, SHMQ_RING_MARK_FLUSHED, pos);
}

/*
 * Decode message i (persister.h step 2).
 *
 * A message that is only a header and a body (no keys, tags or properties:
 * the common case) is decoded in place, in the ring: the decoder takes its
 * own snapshot of the header, validates the lengths on that snapshot, and
 * every field of the view is a value from it, except `body`, which points
 * into the ring with a validated length. The body is opaque bytes that the
 * store copies exactly once, into the commitlog, and checksums there: a
 * producer scribbling on its committed record can change what is stored,
 * never its framing. This saves a copy of every payload.
 * Anything else is copied out and decoded from the private copy: the store
 * reads keys, tags and properties as NUL-terminated strings, and a producer
 * could remove a NUL after the decoder checked it.
 */
static int take(struct shmq_persister *p, unsigned i, size_t *used)
{
	const struct shmq_ring_msg *m = &p->msgs[i];
	struct shmq_ringmsg_view *v = &p->views[i];
	if (shmq_ringmsg_decode(m->data, m->len, v) == 0 && !v->keys && !v->tags && v->nprops == 0 &&
	    v->props_len == 0)
		return 0;
	size_t need = *used + SHMQ_ALIGN_UP((size_t)m->len, 8);
	if (need > p->copy_cap) {
		size_t nc = p->copy_cap ? p->copy_cap : 1u << 20;
		while (nc < need)
			nc *= 2;
		uint8_t *nb = realloc(p->copy, nc);
		if (!nb)
			return -ENOMEM;
		/* Views decoded so far point into the old buffer: re-base them. */
		p->copy = nb;
		p->copy_cap = nc;
		return 1;
	}
	memcpy(p->copy + *used, m->data, m->len);
	int rc = shmq_ringmsg_decode(p->copy + *used, m->len, v);
	*used = need;
	return rc;
}

/* Decode [from, n); returns the index of the first corrupt message (n if none),
 * or -ENOMEM. */
static int64_t decode_all(struct shmq_persister *p, unsigned from, unsigned n)
{
	for (;;) {
		size_t used = 0;
		unsigned i;
		int rc = 0;
		for (i = from; i < n; i++) {
			rc = take(p, i, &used);
			if (rc != 0)
				break;
		}
		if (rc == 1)
			continue; /* grown: start over, so every view points into one buffer */
		if (rc == -ENOMEM)
			return -ENOMEM;
		return i;
	}
}

static int build_props(struct shmq_persister *p, unsigned from, unsigned end)
{
	size_t total = 0;
	for (unsigned i = from; i < end; i++)
		total += p->views[i].nprops;
	if (total > p->props_cap) {
		struct shmq_store_prop *np = realloc(p->props, total * sizeof(*np));
		if (!np)
			return -ENOMEM;
		p->props = np;
		p->props_cap = total;
	}
	size_t k = 0;
	for (unsigned i = from; i < end; i++) {
		const struct shmq_ringmsg_view *v = &p->views[i];
		struct shmq_store_msg *s = &p->smsgs[i - from];
		const char *c = v->props;
		s->props = v->nprops ? &p->props[k] : NULL;
		s->nprops = v->nprops;
		for (uint32_t j = 0; j < v->nprops; j++, k++)
			c = shmq_ringmsg_prop_next(c, &p->props[k].key, &p->props[k].value);
	}
	return 0;
}

static void fill_store_msg(struct pring *r, const struct shmq_ringmsg_view *v,
			   struct shmq_store_msg *s)
{
	*s = (struct shmq_store_msg){
		.topic = r->topic,
		.queue_id = r->queue_id,
		.flags = v->flags,
		.body = v->body,
		.body_len = v->body_len,
		.keys = v->keys,
		.tags = v->tags,
		.born_ts_ms = v->born_ts_ms,
		.born_host = v->born_host,
		.producer_id = v->producer_id,
		.producer_seq = v->producer_seq,
		.reconsume_times = v->reconsume_times,
	};
}

/* P3: write the store's answer for msgs[from + k], k < ok, into the result
 * words of the messages in the ring. Safe: the persister is the gating
 * reader and has not consumed them, so no producer can reuse the bytes; the
 * record is committed, so its producer no longer writes it. */
static void write_results(struct shmq_persister *p, unsigned from, unsigned ok)
{
	for (unsigned k = 0; k < ok; k++)
		shmq_ringmsg_result_set((void *)(uintptr_t)p->msgs[from + k].data,
					p->res[k].commitlog_offset, p->res[k].queue_offset);
}

/* P3, restart: messages [0, cnt) of this read were stored by a previous run,
 * from queue offset r->restart_qo on. Best effort: words the previous run
 * did not fill (it died between its append and its write-back) are filled
 * from the store, but only where the stored record's (producer id, seq) is
 * the ring message's; anything else stays unset (readers then report the
 * offsets as unknown). */
static void write_restart_results(struct shmq_persister *p, struct pring *r, unsigned cnt)
{
	for (unsigned i = 0; i < cnt; i++) {
		const uint8_t *d = p->msgs[i].data;
		uint64_t want = r->restart_qo + i, so, qo;
		if (p->msgs[i].len < SHMQ_RINGMSG_HDR_LEN)
			continue; /* not a message the store took */
		shmq_ringmsg_result_get(d, &so, &qo);
		if (so != SHMQ_RINGMSG_RESULT_NONE && qo == want)
			continue; /* the previous run wrote them */
		struct shmq_ringmsg_hdr h;
		memcpy(&h, d, SHMQ_RINGMSG_FIXED_LEN);
		struct shmq_store_view sv;
		if (shmq_store_read_queue(p->store, r->topic, r->queue_id, want, &sv) != 0)
			continue;
		if (sv.producer_id == h.producer_id && sv.producer_seq == h.producer_seq)
			shmq_ringmsg_result_set((void *)(uintptr_t)d, sv.commitlog_offset, want);
		shmq_store_view_release(p->store, &sv);
	}
}

/* P2: how many of msgs[0..n) (read from `consumed`) are already stored. */
static uint64_t restart_skip(struct shmq_persister *p, struct pring *r, unsigned n)
{
	struct shmq_ring_anchor a;
	int rc = shmq_ring_read_anchor(r->ring, &a);
	uint64_t first = p->msgs[0].pos;
	if (rc == SHMQ_EMPTY || (rc == 0 && a.pos < first))
		return 0;
	uint64_t skip = 0;
	bool anchored = rc == 0 && a.pos == first;
	if (anchored) {
		if (r->next_qo < a.queue_offset) {
			shmq_log_error(COMP, "ring %s/%" PRIu32 ": store behind anchor (next queue "
				       "offset %" PRIu64 " < %" PRIu64 "): messages lost by the store",
				       r->topic, r->queue_id, r->next_qo, a.queue_offset);
			return 0;
		}
		skip = r->next_qo - a.queue_offset;
		if (skip == 0)
			return 0;
	}
	/* Check (anchored) or find (fallback) the last stored message by its
	 * (producer id, producer seq). */
	if (r->next_qo == 0)
		return 0;
	struct shmq_store_view sv;
	rc = shmq_store_read_queue(p->store, r->topic, r->queue_id, r->next_qo - 1, &sv);
	if (rc < 0) {
		shmq_log_warn(COMP, "ring %s/%" PRIu32 ": cannot read last stored message: %s",
			      r->topic, r->queue_id, shmq_strerror(rc));
		p->st.restart_mismatch++;
		return skip;
	}
	uint64_t pid = sv.producer_id, seq = sv.producer_seq;
	shmq_store_view_release(p->store, &sv);
	int64_t end = decode_all(p, 0, n);
	if (end < 0)
		return skip;
	if (anchored) {
		/* beyond this round's messages: the skip carries over (not
		 * checkable here; a lying anchor could only come from a writer of
		 * this ring, which can overwrite its records as well) */
		if (skip > (uint64_t)end ||
		    (p->views[skip - 1].producer_id == pid && p->views[skip - 1].producer_seq == seq))
			return skip;
		/* the anchor is shared memory and was refuted: trust the store */
		shmq_log_error(COMP, "ring %s/%" PRIu32 ": restart check failed: message %" PRIu64
			       " after the anchor is not the last stored one; searching by producer id and sequence",
			       r->topic, r->queue_id, skip - 1);
		p->st.restart_mismatch++;
	}
	for (int64_t i = end - 1; i >= 0; i--) {
		if (p->views[i].producer_id == pid && p->views[i].producer_seq == seq) {
			shmq_log_warn(COMP, "ring %s/%" PRIu32 ": anchor unusable; skipping %" PRId64
				      " messages found in the store", r->topic, r->queue_id, i + 1);
			return (uint64_t)i + 1;
		}
	}
	return 0;
}

/* One ring; returns messages appended or SHMQ_EPOISONED. *dirty is set if
 * anything was appended. */
static int drain(struct shmq_persister *p, struct pring *r, uint64_t now)
{
	if (r->fenced || now < r->backoff_until)
		return 0;
	uint64_t next = 0;
	int n = shmq_ring_gate_read(r->ring, p->msgs, p->o.batch_max, &next);
	if (n == SHMQ_ECORRUPT || n == SHMQ_EFENCED) {
		fence(p, r, n == SHMQ_ECORRUPT ? "corrupt record" : "already fenced",
		      shmq_ring_consumed(r->ring));
		return 0;
	}
	if (n <= 0)
		return 0;
	SHMQ_PROBE_RING_UNBLOCKS(shmq_probe_name_hash(r->topic), r->queue_id, r->ring, &r->probe_unblocked);
	if (r->restart_pending) {
		r->restart_pending = false;
		r->skip = restart_skip(p, r, (unsigned)n);
		p->st.restart_skipped += r->skip;
		r->restart_left = r->skip;
		r->restart_qo = r->next_qo - r->skip;
		if (r->skip)
			shmq_log_info(COMP, "ring %s/%" PRIu32 ": %" PRIu64 " messages already stored",
				      r->topic, r->queue_id, r->skip);
	}
	if (r->restart_left)
		write_restart_results(p, r, r->restart_left < (uint64_t)n ? (unsigned)r->restart_left
									    : (unsigned)n);
	if (r->skip >= (uint64_t)n) {
		/* All already stored (restart): consume without appending. */
		uint64_t done = r->restart_left < (uint64_t)n ? r->restart_left : (uint64_t)n;
		r->skip -= (uint64_t)n;
		r->restart_left -= done;
		r->restart_qo += done;
		stored_up_to(p, r, next);
		return 0;
	}
	unsigned from = (unsigned)r->skip;
	int64_t bad = decode_all(p, from, (unsigned)n);
	if (bad < 0)
		return 0; /* -ENOMEM: retry next round */
	unsigned end = (unsigned)bad;
	int appended = 0;
	for (unsigned i = from; i < end; i++)
		p->st.bytes += p->msgs[i].len;

	/* P1: the anchor first; from == messages of the first record(s) stored. */
	struct shmq_ring_anchor a = { .pos = p->msgs[0].pos, .queue_offset = r->next_qo - r->skip };
	shmq_ring_publish_anchor(r->ring, &a);

	while (r->skip < end) {
		from = (unsigned)r->skip;
		for (unsigned i = from; i < end; i++)
			fill_store_msg(r, &p->views[i], &p->smsgs[i - from]);
		if (build_props(p, from, end) < 0)
			return appended;
		unsigned cnt = end - from;
		/* the offsets are all P3 needs: no message ids */
		int rc = shmq_store_append_nomsgid(p->store, p->smsgs, cnt, p->res);
		unsigned ok = rc > 0 ? (unsigned)rc : 0;
		if (ok) {
			/* P3: before PERSISTED is published below */
			write_results(p, from, ok);
			if (p->res[0].queue_offset != r->next_qo) {
				shmq_log_error(COMP, "ring %s/%" PRIu32 ": store gave queue offset %" PRIu64
					       ", expected %" PRIu64, r->topic, r->queue_id,
					       p->res[0].queue_offset, r->next_qo);
				p->st.offset_gaps++;
			}
			r->next_qo = p->res[ok - 1].queue_offset + 1;
			SHMQ_PROBE_PERSIST_BATCH(shmq_probe_name_hash(r->topic), r->queue_id, p->res[0].queue_offset,
				p->res[ok - 1].queue_offset, p->res[ok - 1].commitlog_offset + p->res[ok - 1].size - p->res[0].commitlog_offset,
				shmq_probe_wall_ms_to_mono_ns(p->smsgs[0].born_ts_ms));
			r->skip += ok;
			appended += (int)ok;
			p->st.messages += ok;
			p->st.appends++;
		}
		if (ok == cnt)
			break;
		int st = rc > 0 ? p->res[ok].status : rc;
		if (st == SHMQ_EPOISONED) {
			p->st.poisoned = SHMQ_EPOISONED;
			shmq_log_error(COMP, "store poisoned: persisting stopped");
			return SHMQ_EPOISONED;
		}
		if (st == SHMQ_ETOOBIG || st == -EINVAL) {
			shmq_log_error(COMP, "ring %s/%" PRIu32 ": store refused a message (%s), "
				       "dropped: producer %" PRIu64 " seq %" PRIu64, r->topic,
				       r->queue_id, shmq_strerror(st), p->views[r->skip].producer_id,
				       p->views[r->skip].producer_seq);
			p->st.rejected++;
			r->skip++;
			continue;
		}
		/* -ENOSPC (S5) or a transient error: keep the rest in the ring. */
		if (st == -ENOSPC)
			p->st.enospc++;
		else
			p->st.store_errors++;
		shmq_log_warn(COMP, "ring %s/%" PRIu32 ": append failed (%s); retrying",
			      r->topic, r->queue_id, shmq_strerror(st));
		r->backoff_until = now + 10000000ull; /* 10 ms: do not spin on a full disk */
		return appended;
	}
	r->restart_left = 0; /* all of them are consumed below, or the ring is fenced */
	if (end < (unsigned)n) {
		fence(p, r, "corrupt message", p->msgs[end].pos);
		if (appended)
			fifo_push(r, shmq_store_max_offset(p->store), p->msgs[end].pos);
		shmq_ring_publish_mark(r->ring, SHMQ_RING_MARK_PERSISTED, p->msgs[end].pos);
		return appended;
	}
	/* Everything read is stored: release it to producers. */
	r->skip = 0;
	stored_up_to(p, r, next);
	return appended;
}

static int round_locked(struct shmq_persister *p)
{
	if (p->st.poisoned)
		return p->st.poisoned;
	p->st.rounds++;
	uint64_t now = shmq_now_ns();
	int total = 0;
	for (unsigned i = 0; i < p->nrings; i++) {
		int rc = drain(p, p->rings[i], now);
		if (rc < 0)
			return rc;
		total += rc;
	}
	if (p->o.sync && total > 0) {
		/* Group commit: one fdatasync covers every ring's appends of this
		 * round; producers keep filling the rings meanwhile. */
		p->st.group_commits++;
		int rc = shmq_store_wait_durable(p->store, shmq_store_max_offset(p->store),
						 p->o.sync_timeout_ns);
		if (rc == SHMQ_EPOISONED) {
			p->st.poisoned = rc;
			shmq_log_error(COMP, "store poisoned during group commit: persisting stopped");
		} else if (rc < 0) {
			shmq_log_warn(COMP, "group commit: %s", shmq_strerror(rc));
		}
	}
	uint64_t flushed = shmq_store_flushed_offset(p->store);
	for (unsigned i = 0; i < p->nrings; i++)
		publish_flushed(p->rings[i], flushed);
	return p->st.poisoned ? p->st.poisoned : total;
}

int shmq_persister_poll_once(shmq_persister_t *p)
{
	pthread_mutex_lock(&p->mu);
	int rc = round_locked(p);
	pthread_mutex_unlock(&p->mu);
	return rc;
}

/* ------------------------------------------------------------------ */
/* thread                                                               */

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };
	nanosleep(&ts, NULL);
}

/*
 * Idle strategy. After a round that did work the next one starts at once.
 * After an empty round:
 *  - if something was persisted within the last LINGER_NS, sleep POLL_NS on
 *    a timer WITHOUT registering as a ring waiter. A gating reader asleep on
 *    the ring's futex costs every commit a futex wake (a syscall in the
 *    producer, ~2-5 us, and an IPI): at a steady rate that is one syscall per
 *    message for the producer. Polling keeps the producer's commit a CAS, and
 *    a wake every POLL_NS batches whatever came meanwhile (the drain cost per
 *    message falls as the rate rises). A producer waiting for PERSISTED or
 *    for space sees the round within POLL_NS plus its own wake.
 *  - after LINGER_NS without work (a quiet system): one ring, sleep on its
 *    futex (the first commit after the pause pays the one wake); several,
 *    back off from POLL_NS to idle_wait_ns.
 * The persister's timer slack is set to POLL_SLACK_NS so that the kernel's
 * default 50 us slack does not stretch POLL_NS. POLL_NS measured with
 * `shmq-bench e2e` on 2 vCPUs: 20 us raised the 64 B one-way p50 from ~0.4
 * to 4-8 us (each wake-up preempts the spinning producer or consumer);
 * 50-250 us kept it at ~0.4 us, with a PERSISTED-visibility p50 of about
 * POLL_NS (50 us: ~60 us, as with the futex wake it replaces).
 */
#define POLL_NS       50000ull
#define POLL_SLACK_NS 2000ul
#define LINGER_NS     2000000ull

/* Sleep up to @p ns, or until shmq_persister_kick(). */
static void nap(struct shmq_persister *p, uint64_t ns)
{
	/* seq_cst, with the kicker's: either it sees napping and wakes us, or
	 * we see its bump of kick and do not sleep (Dekker) */
	uint32_t seen = atomic_load_explicit(&p->kick, memory_order_seq_cst);
	atomic_store_explicit(&p->napping, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&p->kick, memory_order_seq_cst) == seen)
		(void)shmq_futex_wait(&p->kick, seen, ns);
	atomic_store_explicit(&p->napping, 0, memory_order_relaxed); /* a hint only */
}

void shmq_persister_kick(shmq_persister_t *p)
{
	/* seq_cst: pairs with nap()'s store of napping and load of kick */
	atomic_fetch_add_explicit(&p->kick, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&p->napping, memory_order_seq_cst))
		(void)shmq_futex_wake(&p->kick, 1);
}

static void *loop(void *arg)
{
	struct shmq_persister *p = arg;
	uint64_t backoff = POLL_NS, last_work = 0;
	(void)prctl(PR_SET_TIMERSLACK, POLL_SLACK_NS, 0, 0, 0); /* best effort */
	/* acquire: pairs with the release store in shmq_persister_stop() */
	while (!atomic_load_explicit(&p->stop, memory_order_acquire)) {
		pthread_mutex_lock(&p->mu);
		int rc = round_locked(p);
		if (rc != 0) {
			pthread_mutex_unlock(&p->mu);
			backoff = POLL_NS;
			if (rc < 0)
				sleep_ns(p->o.idle_wait_ns); /* poisoned: stay idle until stopped */
			else
				last_work = shmq_now_ns();
			continue;
		}
		p->st.idle_waits++;
		if (shmq_now_ns() - last_work < LINGER_NS) {
			pthread_mutex_unlock(&p->mu);
			nap(p, POLL_NS);
			continue;
		}
		struct pring *one = NULL;
		unsigned live = 0;
		for (unsigned i = 0; i < p->nrings; i++)
			if (!p->rings[i]->fenced) {
				one = p->rings[i];
				live++;
			}
		if (live == 1) {
			/* One ring: sleep on its futex (held lock: remove_ring waits at
			 * most idle_wait_ns and the ring cannot vanish under us). */
			shmq_ring_gate_sleep(one->ring, shmq_ring_consumed(one->ring), p->o.idle_wait_ns);
			pthread_mutex_unlock(&p->mu);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		nap(p, backoff);
		backoff = backoff * 2 > p->o.idle_wait_ns ? p->o.idle_wait_ns : backoff * 2;
	}
	return NULL;
}

int shmq_persister_start(shmq_persister_t *p)
{
	if (p->running)
		return -EBUSY;
	/* relaxed: pthread_create orders it before the thread's first load */
	atomic_store_explicit(&p->stop, false, memory_order_relaxed);
	int rc = pthread_create(&p->thr, NULL, loop, p);
	if (rc)
		return -rc;
	p->running = true;
	return 0;
}

void shmq_persister_stop(shmq_persister_t *p)
{
	if (!p || !p->running)
		return;
	/* release: pairs with the acquire in loop() */
	atomic_store_explicit(&p->stop, true, memory_order_release);
	pthread_join(p->thr, NULL);
	p->running = false;
}
