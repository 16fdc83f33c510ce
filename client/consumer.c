/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The consumer handle (shmq/shmq.h): open, pull (poll, check, commit), push
 * thread, stats, close. Membership is consumer_group.c, reading one queue is
 * consumer_queue.c.
 *
 * Commit policy:
 *  - pull, auto (manual_commit false): a poll first commits what the
 *    previous poll returned; close commits what was returned.
 *  - pull, manual: only shmq_consumer_commit() commits, close adds nothing
 *    (committing what the application never acknowledged would lose it).
 *  - push: each message is committed after its callback returned 0.
 * A clustering commit is one release store into the group's offset table,
 * no syscall; broadcasting keeps offsets in memory.
 *
 * Waiting (poll and the push thread), an Aeron-style spin-then-block idle
 * strategy: for opts.spin_ns (default 50 us) a caught-up consumer busy-polls
 * (with a single owned ring queue it watches the ring header through
 * shmq_qc_ready(), a few loads per check, and fetches as soon as it moves;
 * else it re-fetches after one pause), then, with a single owned queue, it
 * sleeps on the ring's futex (shmq_ring_wait_data / _wait_mark), else sleeps
 * backing off from 50 us to 1 ms; never longer than 20 ms at a time, so
 * generation changes and the 100 ms liveness check stay timely. The spin is
 * what makes sub-microsecond delivery possible: a futex wake costs ~30 us.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/consumer_int.h"
#include "client/remote.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "ebpf/probes.h"

#define SPIN_NS      50000ull  /* default opts.spin_ns */
#define SPIN_PEEKS   256       /* header checks per wait step while spinning */
#define WAIT_MAX_NS  20000000ull
#define BACKOFF_MIN  50000ull
#define BACKOFF_MAX  1000000ull
#define PUSH_BATCH   64u

/* ------------------------------------------------------------------ */
/* Log source over the client's logreader                              */

static int lr_bounds(void *arg, const char *topic, uint32_t queue, uint64_t *min, uint64_t *max)
{
	return shmq_logreader_queue_bounds(arg, topic, queue, min, max);
}

static int lr_cq_get(void *arg, const char *topic, uint32_t queue, uint64_t qo, uint64_t *cl,
		     uint32_t *size)
{
	return shmq_logreader_cq_get(arg, topic, queue, qo, cl, size);
}

static int lr_read(void *arg, uint64_t cl, struct shmq_store_view *v)
{
	return shmq_logreader_read(arg, cl, v);
}

static uint64_t lr_flushed(void *arg, bool refresh)
{
	return shmq_logreader_flushed(arg, refresh);
}

/* ------------------------------------------------------------------ */
/* Gathering messages from the owned queues                            */

static unsigned owned_count(struct shmq_consumer *cs, uint32_t *one)
{
	unsigned n = 0;
	for (uint32_t qi = 0; qi < cs->nq; qi++) {
		if (cs->q[qi].owned) {
			*one = qi;
			n++;
		}
	}
	return n;
}

/* Deliveries of the owned queues into cs->dl[0..max), round-robin. For pull
 * mode, `delivered` moves with them (push moves it per callback). */
static unsigned gather(struct shmq_consumer *cs, unsigned max, bool push)
{
	unsigned n = 0;
	uint64_t now = push ? shmq_now_ns() : 0;
	for (uint32_t k = 0; k < cs->nq && n < max; k++) {
		uint32_t qi = (cs->rr + k) % cs->nq;
		struct shmq_cons_queue *q = &cs->q[qi];
		if (!q->owned || (push && now < q->retry_at_ns))
			continue;
		if (!shmq_cons_deliverable(cs, qi))
			continue; /* R1 (consumer_group.c) */
		if (!q->positioned && shmq_cons_position(cs, qi) < 0)
			continue; /* retried on the next round */
		int got = shmq_qc_fetch(&q->cur, &cs->buf, cs->dl + n, max - n, cs->scratch);
		if (got <= 0)
			continue;
		SHMQ_PROBE_DELIVER_BATCH(shmq_probe_name_hash(cs->group), shmq_probe_name_hash(cs->topic), qi,
			cs->dl[n].v.queue_offset, got, shmq_probe_wall_ms_to_mono_ns(cs->dl[n].v.born_ts_ms),
			q->probe_delivered);
		SHMQ_PROBE_TEST_ORDER_SKIP(shmq_qc_seek(&q->cur, cs->dl[n + (unsigned)got - 1].v.queue_offset + 2));
		if (!push) {
			q->delivered = cs->dl[n + (unsigned)got - 1].v.queue_offset + 1;
			q->dirty = true;
		}
		n += (unsigned)got;
	}
	if (cs->nq)
		cs->rr = (cs->rr + 1) % cs->nq;
	return n;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ull),
			       .tv_nsec = (long)(ns % 1000000000ull) };
	nanosleep(&ts, NULL);
}

/* One wait step with mu held on entry and exit (released while sleeping
 * only in push mode, where other threads may want it). */
static void wait_step(struct shmq_consumer *cs, uint64_t start, uint64_t deadline,
		      uint64_t *backoff, bool unlock)
{
	uint64_t now = shmq_now_ns();
	uint32_t one = 0;
	bool single = owned_count(cs, &one) == 1 && cs->q[one].positioned && cs->q[one].ring;
	if (now - start < cs->o.spin_ns) {
		/* Bounded (SPIN_PEEKS pauses, then the caller's housekeeping and
		 * clock check run again). The cursor and ring are ours, as below. */
		if (single) {
			for (int i = 0; i < SPIN_PEEKS && !shmq_qc_ready(&cs->q[one].cur); i++)
				shmq_cpu_relax();
		} else {
			shmq_cpu_relax();
		}
		return;
	}
	uint64_t left = deadline > now ? deadline - now : 0;
	if (left > WAIT_MAX_NS)
		left = WAIT_MAX_NS;
	if (single) {
		struct shmq_qcursor *c = &cs->q[one].cur;
		if (unlock)
			pthread_mutex_unlock(&cs->mu);
		/* The cursor is ours (the only thread that moves it); the ring
		 * handle stays until close, which first joins this thread. */
		shmq_qc_wait(c, left);
		if (unlock)
			pthread_mutex_lock(&cs->mu);
		return;
	}
	uint64_t ns = *backoff < left ? *backoff : left;
	if (unlock)
		pthread_mutex_unlock(&cs->mu);
	sleep_ns(ns);
	if (unlock)
		pthread_mutex_lock(&cs->mu);
	*backoff = *backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : *backoff * 2;
}

static uint64_t deadline_of(uint64_t now, uint64_t timeout)
{
	return timeout > UINT64_MAX - now ? UINT64_MAX : now + timeout;
}

/* ------------------------------------------------------------------ */
/* Push thread                                                         */

static void *push_main(void *arg)
{
	struct shmq_consumer *cs = arg;
	pthread_mutex_lock(&cs->mu);
	uint64_t start = shmq_now_ns(), backoff = BACKOFF_MIN, round = 0;
	/* relaxed: a flag; close() joins this thread, which orders the rest. */
	while (!atomic_load_explicit(&cs->stop, memory_order_relaxed)) {
		shmq_cons_maintain(cs);
		shmq_cbuf_reset(&cs->buf);
		unsigned n = gather(cs, PUSH_BATCH, true);
		if (n == 0) {
			wait_step(cs, start, UINT64_MAX, &backoff, true);
			continue;
		}
		start = shmq_now_ns();
		backoff = BACKOFF_MIN;
		round++;
		for (unsigned j = 0; j < n; j++) {
			struct shmq_qc_msg *d = &cs->dl[j];
			uint32_t qi = d->v.queue_id;
			struct shmq_cons_queue *q = &cs->q[qi];
			if (q->blocked_round == round)
				continue; /* an earlier message of q failed: keep order */
			pthread_mutex_unlock(&cs->mu);
			int rc = cs->o.push(cs->o.push_arg, &d->v);
			pthread_mutex_lock(&cs->mu);
			if (rc == 0) {
				q->delivered = d->v.queue_offset + 1;
				q->dirty = false;
				q->retry_at_ns = 0;
				shmq_cons_commit_queue(cs, qi, q->delivered);
				cs->st.delivered++;
			} else {
				/* The queue waits for this message (order kept);
				 * the others go on. */
				q->retry_at_ns = shmq_now_ns() + cs->o.retry_delay_ns;
				q->blocked_round = round;
				shmq_qc_rewind(&q->cur, d, false);
				SHMQ_PROBE_OFFSET_RESET(shmq_probe_name_hash(cs->group), shmq_probe_name_hash(cs->topic), qi,
					d->v.queue_offset);
			}
		}
	}
	pthread_mutex_unlock(&cs->mu);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */

static void consumer_free(struct shmq_consumer *cs)
{
	if (!cs)
		return;
	shmq_cons_leave(cs);
	shmq_logreader_destroy(cs->lr);
	shmq_cbuf_free(&cs->buf);
	free(cs->scratch);
	free(cs->dl);
	free(cs->q);
	pthread_mutex_destroy(&cs->mu);
	free(cs);
}

SHMQ_API int shmq_consumer_open(shmq_client_t *c, const struct shmq_consumer_opts *opts,
				shmq_consumer_t **out)
{
	if (!c || !opts || !out || opts->sz < offsetof(struct shmq_consumer_opts, topic) +
						sizeof(opts->topic))
		return -EINVAL;
	if (shmq_cli_remote(c)) {
		struct shmq_consumer *rcs = calloc(1, sizeof(*rcs));
		int rrc = rcs ? shmq_rconsumer_open(shmq_cli_remote(c), opts, &rcs->remote) : -ENOMEM;
		if (rrc < 0)
			free(rcs);
		else
			*out = rcs;
		return rrc;
	}
	struct shmq_consumer_opts o = { 0 };
	memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	o.sz = sizeof(o);
	if (!o.group || !o.topic || shmq_ctl_name_check(o.group) < 0 ||
	    shmq_ctl_name_check(o.topic) < 0 || (unsigned)o.mode > SHMQ_CONSUME_BROADCASTING ||
	    (unsigned)o.visibility > SHMQ_VISIBLE_DURABLE || (unsigned)o.start > SHMQ_START_TIMESTAMP)
		return -EINVAL;
	if (!o.retry_delay_ns)
		o.retry_delay_ns = 1000000000ull;
	if (!o.spin_ns)
		o.spin_ns = SPIN_NS;
	struct shmq_consumer *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	pthread_mutex_init(&cs->mu, NULL);
	cs->cl = c;
	cs->tab.fd = -1;
	strcpy(cs->group, o.group); /* length checked above */
	strcpy(cs->topic, o.topic);
	o.group = cs->group;
	o.topic = cs->topic;
	cs->o = o;
	cs->ctl_mode = o.mode == SHMQ_CONSUME_BROADCASTING ? SHMQ_CTL_GROUP_BROADCASTING
							   : SHMQ_CTL_GROUP_CLUSTERING;
	cs->broker_id = shmq_cli_broker_id(c);
	int rc = shmq_logreader_create(c, &cs->lr);
	if (rc < 0) {
		consumer_free(cs);
		return rc;
	}
	cs->logsrc = (struct shmq_logsrc){ .arg = cs->lr, .bounds = lr_bounds, .cq_get = lr_cq_get,
					   .read = lr_read, .flushed = lr_flushed };
	cs->scratch = malloc(SHMQ_RING_BATCH_MAX * sizeof(*cs->scratch));
	cs->dl_cap = PUSH_BATCH;
	cs->dl = malloc(cs->dl_cap * sizeof(*cs->dl));
	if (!cs->scratch || !cs->dl) {
		consumer_free(cs);
		return -ENOMEM;
	}
	pthread_mutex_lock(&cs->mu);
	rc = shmq_cons_join(cs);
	pthread_mutex_unlock(&cs->mu);
	if (rc < 0) {
		consumer_free(cs);
		return rc;
	}
	if (o.push) {
		rc = -pthread_create(&cs->thr, NULL, push_main, cs);
		if (rc < 0) {
			consumer_free(cs);
			return rc;
		}
		cs->thr_started = true;
	}
	*out = cs;
	return 0;
}

SHMQ_API void shmq_consumer_close(shmq_consumer_t *cs)
{
	if (!cs)
		return;
	if (cs->remote) {
		shmq_rconsumer_close(cs->remote);
		free(cs);
		return;
	}
	if (cs->thr_started) {
		/* relaxed: the join below is the synchronisation. */
		atomic_store_explicit(&cs->stop, true, memory_order_relaxed);
		pthread_join(cs->thr, NULL);
	}
	pthread_mutex_lock(&cs->mu);
	for (uint32_t qi = 0; qi < cs->nq; qi++)
		if (cs->q[qi].owned && cs->q[qi].positioned)
			shmq_cons_commit_delivered(cs, qi);
	pthread_mutex_unlock(&cs->mu);
	consumer_free(cs);
}

SHMQ_API int shmq_consumer_poll(shmq_consumer_t *cs, struct shmq_msg_view *out, unsigned max,
				uint64_t timeout_ns)
{
	if (!cs || (!out && max))
		return -EINVAL;
	if (cs->remote)
		return shmq_rconsumer_poll(cs->remote, out, max, timeout_ns);
	if (cs->o.push)
		return -EINVAL;
	pthread_mutex_lock(&cs->mu);
	if (max > cs->dl_cap) {
		struct shmq_qc_msg *nd = realloc(cs->dl, max * sizeof(*nd));
		if (!nd) {
			pthread_mutex_unlock(&cs->mu);
			return -ENOMEM;
		}
		cs->dl = nd;
		cs->dl_cap = max;
	}
	/* Auto commit: what the previous poll returned is consumed now. */
	for (uint32_t qi = 0; qi < cs->nq; qi++)
		if (cs->q[qi].owned && cs->q[qi].positioned)
			shmq_cons_commit_delivered(cs, qi);
	shmq_cbuf_reset(&cs->buf);
	cs->dl_n = 0;
	/* The clock starts at the first empty gather: a poll that finds
	 * messages at once reads it only in shmq_cons_maintain(). */
	uint64_t start = 0, deadline = 0, backoff = BACKOFF_MIN;
	unsigned n = 0;
	for (;;) {
		shmq_cons_maintain(cs);
		n = max ? gather(cs, max, false) : 0;
		if (n > 0)
			break;
		uint64_t now = shmq_now_ns();
		if (!start) {
			start = now;
			deadline = deadline_of(now, timeout_ns);
		}
		if (now >= deadline)
			break;
		wait_step(cs, start, deadline, &backoff, false);
	}
	for (unsigned i = 0; i < n; i++)
		out[i] = cs->dl[i].v;
	cs->dl_n = n;
	cs->st.delivered += n;
	pthread_mutex_unlock(&cs->mu);
	return (int)n;
}

/* The delivery of the last poll that @p m shows; NULL if none. */
static struct shmq_qc_msg *find_delivery(struct shmq_consumer *cs, const struct shmq_msg_view *m)
{
	for (unsigned i = 0; i < cs->dl_n; i++) {
		struct shmq_qc_msg *d = &cs->dl[i];
		if (d->v.queue_id == m->queue_id && d->v.queue_offset == m->queue_offset &&
		    d->v.body == m->body)
			return d;
	}
	return NULL;
}

SHMQ_API int shmq_consumer_check(shmq_consumer_t *cs, const struct shmq_msg_view *m)
{
	if (!cs || !m)
		return -EINVAL;
	if (cs->remote)
		return 0; /* remote views are copies: never overwritten */
	pthread_mutex_lock(&cs->mu);
	struct shmq_qc_msg *d = find_delivery(cs, m);
	int rc = d ? 0 : -EINVAL;
	if (d && d->zero_copy && m->queue_id < cs->nq) {
		struct shmq_cons_queue *q = &cs->q[m->queue_id];
		rc = q->ring ? shmq_ring_read_check(q->ring, d->ring_pos) : SHMQ_EOVERRUN;
		if (rc != 0) {
			rc = SHMQ_EOVERRUN;
			/* Deliver it again from the log (Q2), unless an earlier
			 * failed check already moved the cursor before it. */
			if (q->owned && q->positioned && m->queue_offset < q->cur.next_qo) {
				shmq_qc_rewind(&q->cur, d, true);
				SHMQ_PROBE_OFFSET_RESET(shmq_probe_name_hash(cs->group), shmq_probe_name_hash(cs->topic),
					m->queue_id, m->queue_offset);
				q->cur.st.overruns++;
			}
			if (q->delivered > m->queue_offset)
				q->delivered = m->queue_offset;
		}
	}
	pthread_mutex_unlock(&cs->mu);
	return rc;
}

SHMQ_API int shmq_consumer_commit(shmq_consumer_t *cs, const struct shmq_msg_view *m)
{
	if (!cs || !m || m->queue_offset == SHMQ_OFFSET_UNKNOWN)
		return -EINVAL;
	if (cs->remote)
		return shmq_rconsumer_commit(cs->remote, m);
	pthread_mutex_lock(&cs->mu);
	int rc = 0;
	if (m->queue_id >= cs->nq || !cs->q[m->queue_id].owned) {
		rc = -ENOENT; /* not (or no longer) ours: nothing committed */
	} else {
		struct shmq_cons_queue *q = &cs->q[m->queue_id];
		shmq_cons_commit_queue(cs, m->queue_id, m->queue_offset + 1);
		if (!cs->o.manual_commit && q->delivered == m->queue_offset + 1)
			q->dirty = false;
	}
	pthread_mutex_unlock(&cs->mu);
	return rc;
}

SHMQ_API int shmq_consumer_assignment(shmq_consumer_t *cs, uint32_t *queues, unsigned max)
{
	if (!cs || (!queues && max))
		return -EINVAL;
	if (cs->remote)
		return shmq_rconsumer_assignment(cs->remote, queues, max);
	pthread_mutex_lock(&cs->mu);
	unsigned n = 0;
	for (uint32_t qi = 0; qi < cs->nq; qi++) {
		if (!cs->q[qi].owned)
			continue;
		if (n < max)
			queues[n] = qi;
		n++;
	}
	pthread_mutex_unlock(&cs->mu);
	return (int)(n < max ? n : max);
}

SHMQ_API void shmq_consumer_stats(shmq_consumer_t *cs, struct shmq_consumer_stats *st)
{
	if (!cs || !st)
		return;
	if (cs->remote) {
		shmq_rconsumer_stats(cs->remote, st);
		return;
	}
	pthread_mutex_lock(&cs->mu);
	*st = cs->st;
	st->from_ring = st->from_log = st->overruns = 0;
	for (uint32_t qi = 0; qi < cs->nq; qi++) {
		const struct shmq_qc_stats *q = &cs->q[qi].cur.st;
		st->from_ring += q->from_ring;
		st->from_log += q->from_log;
		st->overruns += q->overruns;
	}
	pthread_mutex_unlock(&cs->mu);
}
