/* SPDX-License-Identifier: Apache-2.0 */
/* The read cursor of one consumed queue; contract in consumer_queue.h. */
#include "client/consumer_queue.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_int.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "common/ringmsg.h"

/* DURABLE from the log: ask the source for a fresher flushed offset at most
 * this often while it holds us back (a refresh may be a broker request). */
#define FLUSHED_REFRESH_NS 5000000ull
/* Retries when the anchor moved under us while joining the ring. */
#define JOIN_TRIES 4

void shmq_qc_init(struct shmq_qcursor *c, const char *topic, uint32_t queue, uint32_t broker_id,
		  shmq_ring_t *ring, const struct shmq_logsrc *log, enum shmq_visibility vis,
		  bool zero_copy)
{
	memset(c, 0, sizeof(*c));
	c->topic = topic;
	c->queue = queue;
	c->broker_id = broker_id;
	c->ring = ring;
	c->log = log;
	c->vis = vis;
	c->zero_copy = zero_copy;
	c->src = SHMQ_QC_LOG;
}

void shmq_qc_set_ring(struct shmq_qcursor *c, shmq_ring_t *ring)
{
	if (c->src == SHMQ_QC_RING && c->cur_qo > c->next_qo)
		c->next_qo = c->cur_qo;
	c->ring = ring;
	c->src = SHMQ_QC_LOG;
}

void shmq_qc_seek(struct shmq_qcursor *c, uint64_t qo)
{
	c->src = SHMQ_QC_LOG;
	c->next_qo = qo;
	c->rskip = 0;
}

/* ------------------------------------------------------------------ */
/* Where the ring's queue offsets start                                */

/*
 * A consistent (ring position, queue offset) pair to count from.
 *
 * The anchor (persister P1) names the first record the persister had not
 * consumed when it started its last append. While that record is still
 * unconsumed (consumed <= anchor.pos) it is the pair, and it is readable
 * (the persister frees only consumed bytes). Once the persister consumed
 * past it and went idle, anchor.pos may already be reclaimed; but then every
 * message before `consumed` is stored and nothing after it is, so
 * (consumed, the store's next queue offset) is the pair, provided no new
 * round started meanwhile: a round publishes a new anchor before it appends
 * and moves `consumed` after, so seeing the same anchor and the same
 * `consumed` before and after asking the store rules that out. The same
 * holds for a new ring that never had an anchor.
 * Returns 0, -EAGAIN (the persister is mid-round: try again later), or an
 * error of the log source.
 */
static int ring_origin(struct shmq_qcursor *c, uint64_t *pos, uint64_t *qo)
{
	struct shmq_ring_anchor a1, a2;
	int r1 = shmq_ring_read_anchor(c->ring, &a1);
	if (r1 != 0 && r1 != SHMQ_EMPTY)
		return r1; /* -EAGAIN: a persister died mid-publish; retry later */
	uint64_t c1 = shmq_ring_consumed(c->ring);
	if (r1 == 0 && c1 <= a1.pos) {
		*pos = a1.pos;
		*qo = a1.queue_offset;
		return 0;
	}
	uint64_t min = 0, max = 0;
	int rc = c->log->bounds(c->log->arg, c->topic, c->queue, &min, &max);
	if (rc < 0)
		return rc;
	int r2 = shmq_ring_read_anchor(c->ring, &a2);
	uint64_t c2 = shmq_ring_consumed(c->ring);
	if (r2 != r1 || c2 != c1 ||
	    (r1 == 0 && (a1.pos != a2.pos || a1.queue_offset != a2.queue_offset)))
		return -EAGAIN;
	*pos = c1;
	*qo = max;
	return 0;
}

/* The anchor's queue offset alone (cheap: no log source call): the cursor
 * cannot join the ring while next_qo is below it. */
static bool below_anchor(struct shmq_qcursor *c)
{
	struct shmq_ring_anchor a;
	return shmq_ring_read_anchor(c->ring, &a) == 0 && c->next_qo < a.queue_offset;
}

/* ------------------------------------------------------------------ */
/* Building views                                                      */

static void view_common(struct shmq_qcursor *c, struct shmq_msg_view *v, uint64_t qo)
{
	memset(v, 0, sizeof(*v));
	v->topic = c->topic;
	v->queue_id = c->queue;
	v->queue_offset = qo;
	v->store_offset = SHMQ_OFFSET_UNKNOWN;
}

/* A ring message (already validated by decode) as a public view. */
static void view_from_ring(struct shmq_qcursor *c, struct shmq_msg_view *v, uint64_t qo,
			   const struct shmq_ringmsg_view *rv, uint64_t store_off)
{
	view_common(c, v, qo);
	shmq_view_from_ringmsg(rv, v);
	if (store_off != SHMQ_OFFSET_UNKNOWN) {
		v->store_offset = store_off;
		shmq_msgid_encode(c->broker_id, store_off, v->msg_id);
	}
}

/* Copy @p len bytes of @p s and a NUL into @p buf; NULL if s is NULL. */
static const char *dup_str(struct shmq_cbuf *buf, const char *s, uint32_t len, int *err)
{
	if (!s)
		return NULL;
	char *d = shmq_cbuf_alloc(buf, (size_t)len + 1);
	if (!d) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

/* A store record as a public view; everything copied into @p buf. */
static int view_from_log(struct shmq_qcursor *c, struct shmq_cbuf *buf, struct shmq_msg_view *v,
			 const struct shmq_store_view *sv)
{
	int err = 0;
	view_common(c, v, sv->queue_offset);
	v->reconsume_times = sv->reconsume_times;
	v->born_ts_ms = sv->born_ts_ms;
	v->born_host = sv->born_host;
	v->producer_id = sv->producer_id;
	v->producer_seq = sv->producer_seq;
	void *body = shmq_cbuf_alloc(buf, sv->body_len);
	if (!body)
		return -ENOMEM;
	if (sv->body_len)
		memcpy(body, sv->body, sv->body_len);
	v->body = body;
	v->body_len = sv->body_len;
	v->keys = dup_str(buf, sv->keys, sv->keys_len, &err);
	v->tags = dup_str(buf, sv->tags, sv->tags_len, &err);
	if (sv->props_len) {
		void *pr = shmq_cbuf_alloc(buf, sv->props_len);
		if (!pr)
			return -ENOMEM;
		memcpy(pr, sv->props, sv->props_len);
		v->priv_[0] = pr;
	}
	v->priv_len_ = sv->props_len;
	v->priv_kind_ = 2;
	v->store_offset = sv->commitlog_offset;
	shmq_msgid_encode(c->broker_id, sv->commitlog_offset, v->msg_id);
	return err;
}

/* ------------------------------------------------------------------ */
/* RING source                                                         */

/*
 * Copy a ring payload. The persister may be storing the result words of this
 * very message right now (relaxed atomics, common/ringmsg.h), so those two
 * words are copied with the matching atomic loads and everything else with
 * memcpy: the copy is race-free whatever the bytes are (a payload too short
 * to hold the words is plain bytes and decode refuses it anyway).
 */
static void copy_payload(void *dst, const void *src, uint32_t len)
{
	const size_t w0 = offsetof(struct shmq_ringmsg_hdr, store_offset);
	const size_t w1 = offsetof(struct shmq_ringmsg_hdr, queue_offset) + 8;
	if (len < w1) {
		memcpy(dst, src, len);
		return;
	}
	uint64_t so, qo;
	memcpy(dst, src, w0);
	shmq_ringmsg_result_get(src, &so, &qo);
	shmq_ringmsg_result_set(dst, so, qo);
	memcpy((char *)dst + w1, (const char *)src + w1, len - w1);
}

static uint64_t ring_limit(struct shmq_qcursor *c)
{
	switch (c->vis) {
	case SHMQ_VISIBLE_PERSISTED:
		return shmq_ring_mark(c->ring, SHMQ_RING_MARK_PERSISTED);
	case SHMQ_VISIBLE_DURABLE:
		return shmq_ring_mark(c->ring, SHMQ_RING_MARK_FLUSHED);
	default:
		return UINT64_MAX;
	}
}

/*
 * Deliver from the ring. Returns the count, or SHMQ_EOVERRUN after switching
 * the cursor to the log (Q2; nothing delivered then), or SHMQ_ECORRUPT /
 * -ENOMEM with nothing delivered.
 */
static int fetch_ring(struct shmq_qcursor *c, struct shmq_cbuf *buf, struct shmq_qc_msg *out,
		      unsigned max, struct shmq_ring_msg *scratch)
{
	/* Both marks are loaded (acquire, inside shmq_ring_mark) BEFORE the
	 * records are read: a record ending at or below the PERSISTED mark had
	 * its result words written before the mark was published, so the copy
	 * made afterwards holds them (common/ringmsg.h result words). */
	uint64_t limit = ring_limit(c);
	uint64_t persisted = shmq_ring_mark(c->ring, SHMQ_RING_MARK_PERSISTED);
	uint64_t p = c->rpos;
	int n = shmq_ring_read(c->ring, &p, scratch, SHMQ_RING_BATCH_MAX);
	if (n == SHMQ_EOVERRUN)
		goto overrun;
	if (n < 0)
		return n;
	/* Saved to undo this fetch if the check after copying fails (Q2). */
	uint64_t rpos0 = c->rpos, cur0 = c->cur_qo, next0 = c->next_qo;
	uint32_t rskip0 = c->rskip;
	unsigned cnt = 0, corrupt = 0, mism = 0;
	int i;
	for (i = 0; i < n; i++) {
		const struct shmq_ring_msg *m = &scratch[i];
		if (m->pos == rpos0 && m->index < rskip0)
			continue; /* behind us in the first record */
		if (m->next_pos > limit || cnt == max)
			break;
		uint64_t qo = c->cur_qo;
		bool deliver = qo >= c->next_qo;
		bool ok = true;
		if (deliver) {
			const void *data = m->data;
			if (!c->zero_copy) {
				void *cp = shmq_cbuf_alloc(buf, m->len);
				if (!cp)
					return cnt ? (int)cnt : -ENOMEM;
				copy_payload(cp, m->data, m->len);
				data = cp;
			}
			struct shmq_ringmsg_view rv;
			uint64_t soff = SHMQ_OFFSET_UNKNOWN, rqo = SHMQ_OFFSET_UNKNOWN;
			if (shmq_ringmsg_decode(data, m->len, &rv) != 0) {
				ok = false;
			} else {
				if (m->next_pos <= persisted) {
					shmq_ringmsg_result_get(data, &soff, &rqo);
					if (rqo != SHMQ_OFFSET_UNKNOWN && rqo != qo)
						mism++;
				}
				struct shmq_qc_msg *d = &out[cnt++];
				view_from_ring(c, &d->v, qo, &rv, soff);
				d->ring_pos = m->pos;
				d->ring_index = m->index;
				d->zero_copy = c->zero_copy;
			}
		} else if (shmq_ringmsg_decode(m->data, m->len,
					       &(struct shmq_ringmsg_view){ 0 }) != 0) {
			/* Passed over, but counted the same way (Q4). The
			 * bytes are live shared memory: a torn decode here is
			 * caught by the read check below. */
			ok = false;
		}
		if (!ok)
			corrupt++;
		else
			c->cur_qo++;
		if (m->index + 1u >= m->count) {
			c->rpos = m->next_pos;
			c->rskip = 0;
		} else {
			/* rskip counts messages of the record AT rpos: point rpos
			 * at this record. The previous record's next_pos is not
			 * always it: a padding record at the wrap may lie between
			 * (that mismatch re-delivered the first rskip messages
			 * under shifted queue offsets). */
			c->rpos = m->pos;
			c->rskip = m->index + 1u;
		}
	}
	if (i == n) {
		/* Everything read was used: also step over trailing padding so a
		 * wait on rpos does not wake for it again. */
		c->rpos = p;
		c->rskip = 0;
	}
	/* G5: the copies (and the in-place decodes) are only good if none of
	 * those bytes was reclaimed meanwhile. */
	if (shmq_ring_read_check(c->ring, rpos0) != 0) {
		c->rpos = rpos0;
		c->rskip = rskip0;
		c->cur_qo = cur0;
		c->next_qo = next0;
		goto overrun;
	}
	if (c->cur_qo > c->next_qo)
		c->next_qo = c->cur_qo;
	c->st.corrupt += corrupt;
	c->st.qo_mismatch += mism;
	c->st.from_ring += cnt;
	return (int)cnt;

overrun:
	/* Q2: continue from the log at the first message not delivered. */
	c->st.overruns++;
	if (c->cur_qo > c->next_qo)
		c->next_qo = c->cur_qo;
	c->src = SHMQ_QC_LOG;
	return SHMQ_EOVERRUN;
}

/* Q1: join the ring if the log has brought us up to the anchor. 1 joined,
 * 0 not yet, < 0 error. */
static int try_join(struct shmq_qcursor *c)
{
	if (!c->ring || below_anchor(c))
		return 0;
	uint64_t pos, qo;
	int rc = ring_origin(c, &pos, &qo);
	if (rc == -EAGAIN)
		return 0;
	if (rc < 0)
		return rc;
	if (c->next_qo < qo)
		return 0;
	c->src = SHMQ_QC_RING;
	c->rpos = pos;
	c->rskip = 0;
	c->cur_qo = qo;
	return 1;
}

/* ------------------------------------------------------------------ */
/* LOG source                                                          */

static bool durable_ok(struct shmq_qcursor *c, uint64_t end)
{
	if (c->vis != SHMQ_VISIBLE_DURABLE || end <= c->flushed)
		return true;
	uint64_t now = shmq_now_ns();
	if (now - c->flushed_at_ns < FLUSHED_REFRESH_NS && c->flushed_at_ns)
		return false;
	c->flushed_at_ns = now;
	c->flushed = c->log->flushed(c->log->arg, true);
	return end <= c->flushed;
}

static int fetch_log(struct shmq_qcursor *c, struct shmq_cbuf *buf, struct shmq_qc_msg *out,
		     unsigned max)
{
	unsigned cnt = 0;
	int err = 0;
	while (cnt < max) {
		uint64_t cl = 0;
		uint32_t size = 0;
		int rc = c->log->cq_get(c->log->arg, c->topic, c->queue, c->next_qo, &cl, &size);
		if (rc == SHMQ_ESTALE) {
			/* Retention deleted what we wanted: resume at the oldest
			 * message kept (as RocketMQ does), and say so. */
			uint64_t min = 0, mx = 0;
			rc = c->log->bounds(c->log->arg, c->topic, c->queue, &min, &mx);
			if (rc < 0 || min <= c->next_qo) {
				err = rc < 0 ? rc : SHMQ_ESTALE;
				break;
			}
			c->st.stale_skipped += min - c->next_qo;
			c->next_qo = min;
			continue;
		}
		if (rc == SHMQ_ENOTFOUND)
			break; /* not stored yet */
		if (rc < 0) {
			err = rc;
			break;
		}
		if (size == 0 || cl + size < cl || !durable_ok(c, cl + size))
			break;
		struct shmq_store_view sv;
		rc = c->log->read(c->log->arg, cl, &sv);
		if (rc == 0 && (sv.queue_id != c->queue || sv.queue_offset != c->next_qo ||
				sv.topic_len != strlen(c->topic) ||
				memcmp(sv.topic, c->topic, sv.topic_len) != 0))
			rc = SHMQ_ECORRUPT;
		if (rc == SHMQ_ESTALE || rc == SHMQ_ENOTFOUND) {
			/* The segment went away between the two reads: ask the
			 * consumequeue again next time (it says ESTALE then). */
			err = rc;
			break;
		}
		if (rc < 0) {
			/* Q4: an entry we cannot trust is skipped, counted. */
			if (c->log->release && rc == SHMQ_ECORRUPT)
				c->log->release(c->log->arg, &sv);
			c->st.corrupt++;
			c->next_qo++;
			continue;
		}
		struct shmq_qc_msg *d = &out[cnt];
		rc = view_from_log(c, buf, &d->v, &sv);
		if (c->log->release)
			c->log->release(c->log->arg, &sv);
		if (rc < 0) {
			err = rc;
			break;
		}
		d->ring_pos = UINT64_MAX;
		d->ring_index = 0;
		d->zero_copy = false;
		cnt++;
		c->next_qo++;
	}
	c->st.from_log += cnt;
	if (cnt == 0 && err < 0 && err != SHMQ_ESTALE && err != SHMQ_ENOTFOUND)
		return err;
	return (int)cnt;
}

int shmq_qc_fetch(struct shmq_qcursor *c, struct shmq_cbuf *buf, struct shmq_qc_msg *out,
		  unsigned max, struct shmq_ring_msg *scratch)
{
	unsigned cnt = 0;
	/* A few source switches at most per call: LOG -> RING (Q1) and, if the
	 * ring lapped us at once, back (Q2). */
	for (int round = 0; round < JOIN_TRIES && cnt < max; round++) {
		int rc;
		if (c->src == SHMQ_QC_LOG) {
			rc = try_join(c);
			if (rc < 0)
				return cnt ? (int)cnt : rc;
		}
		if (c->src == SHMQ_QC_RING) {
			rc = fetch_ring(c, buf, out + cnt, max - cnt, scratch);
			if (rc == SHMQ_EOVERRUN)
				continue; /* now LOG: read what we missed */
			if (rc < 0)
				return cnt ? (int)cnt : rc;
			return (int)cnt + rc;
		}
		rc = fetch_log(c, buf, out + cnt, max - cnt);
		if (rc < 0)
			return cnt ? (int)cnt : rc;
		cnt += (unsigned)rc;
		if (cnt == max)
			break;
		/* The log ran dry: perhaps we reached the anchor (Q1). */
		if (!c->ring)
			break;
		if (below_anchor(c))
			break;
	}
	return (int)cnt;
}

void shmq_qc_rewind(struct shmq_qcursor *c, const struct shmq_qc_msg *m, bool to_log)
{
	uint64_t qo = m->v.queue_offset;
	if (!to_log && m->ring_pos != UINT64_MAX && c->ring) {
		c->src = SHMQ_QC_RING;
		c->rpos = m->ring_pos;
		c->rskip = m->ring_index;
		c->cur_qo = qo;
		c->next_qo = qo;
		return;
	}
	c->src = SHMQ_QC_LOG;
	c->next_qo = qo;
	c->rskip = 0;
}

/* ------------------------------------------------------------------ */
/* Start positions                                                     */

int shmq_qc_seek_earliest(struct shmq_qcursor *c)
{
	uint64_t min = 0, max = 0;
	int rc = c->log->bounds(c->log->arg, c->topic, c->queue, &min, &max);
	if (rc < 0)
		return rc;
	shmq_qc_seek(c, min);
	return 0;
}

int shmq_qc_seek_latest(struct shmq_qcursor *c)
{
	if (!c->ring) {
		uint64_t min = 0, max = 0;
		int rc = c->log->bounds(c->log->arg, c->topic, c->queue, &min, &max);
		if (rc < 0)
			return rc;
		shmq_qc_seek(c, max);
		return 0;
	}
	struct shmq_ring_msg *scr = malloc(SHMQ_RING_BATCH_MAX * sizeof(*scr));
	if (!scr)
		return -ENOMEM;
	int rc = 0;
	for (int tries = 0;; tries++) {
		uint64_t pos, qo;
		rc = ring_origin(c, &pos, &qo);
		if (rc == -EAGAIN && tries < 100) {
			nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
			continue;
		}
		if (rc < 0)
			break;
		/* Count the committed messages from the anchor on: the latest
		 * position is right after them. */
		uint64_t p = pos;
		int n;
		while ((n = shmq_ring_read(c->ring, &p, scr, SHMQ_RING_BATCH_MAX)) > 0)
			qo += (uint64_t)n;
		if (n < 0) {
			rc = n;
			if (n == SHMQ_EOVERRUN && tries < 100)
				continue; /* lapped while counting: the anchor moved on */
			break;
		}
		c->src = SHMQ_QC_RING;
		c->rpos = p;
		c->rskip = 0;
		c->cur_qo = qo;
		c->next_qo = qo;
		break;
	}
	free(scr);
	return rc;
}

/* Store timestamp of queue offset @p qo; < 0 on error. */
static int store_ts(struct shmq_qcursor *c, uint64_t qo, uint64_t *ts)
{
	uint64_t cl = 0;
	uint32_t size = 0;
	int rc = c->log->cq_get(c->log->arg, c->topic, c->queue, qo, &cl, &size);
	if (rc < 0)
		return rc;
	struct shmq_store_view sv;
	rc = c->log->read(c->log->arg, cl, &sv);
	if (rc < 0)
		return rc;
	*ts = sv.store_ts_ms;
	if (c->log->release)
		c->log->release(c->log->arg, &sv);
	return 0;
}

int shmq_qc_seek_timestamp(struct shmq_qcursor *c, uint64_t ts_ms)
{
	uint64_t lo = 0, hi = 0;
	int rc = c->log->bounds(c->log->arg, c->topic, c->queue, &lo, &hi);
	if (rc < 0)
		return rc;
	/* Invariant: every readable offset below lo is stored before ts_ms,
	 * every readable one at or past hi at or after it (store timestamps
	 * follow queue order: one appender, wall clock). An unreadable one
	 * (retention caught up, corrupt, bad CRC) is absent: the cursor skips
	 * it (Q4), so it never decides a side; the next readable one does. The
	 * broker's consumequeue search (SEARCH_TIME) is the same, so the two
	 * answers agree. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2, p;
		uint64_t ts = 0;
		for (p = mid; p < hi; p++) {
			rc = store_ts(c, p, &ts);
			if (rc != SHMQ_ESTALE && rc != SHMQ_ECORRUPT && rc != SHMQ_ECRC)
				break;
		}
		if (p < hi && rc < 0)
			return rc;
		if (p == hi || ts >= ts_ms)
			hi = mid;
		else
			lo = p + 1;
	}
	shmq_qc_seek(c, lo);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Waiting                                                             */

bool shmq_qc_ready(const struct shmq_qcursor *c)
{
	if (c->src != SHMQ_QC_RING || !c->ring)
		return true;
	switch (c->vis) {
	case SHMQ_VISIBLE_PERSISTED:
		return shmq_ring_mark(c->ring, SHMQ_RING_MARK_PERSISTED) > c->rpos;
	case SHMQ_VISIBLE_DURABLE:
		return shmq_ring_mark(c->ring, SHMQ_RING_MARK_FLUSHED) > c->rpos;
	default:
		/* rskip != 0: the rest of a record is there already */
		return c->rskip != 0 || shmq_ring_tail(c->ring) > c->rpos;
	}
}

void shmq_qc_wait(struct shmq_qcursor *c, uint64_t timeout_ns)
{
	if (c->src == SHMQ_QC_RING && c->ring) {
		/* rskip != 0: messages are there but not visible yet, so only
		 * a mark can help; rskip == 0: wait for the next record. */
		switch (c->vis) {
		case SHMQ_VISIBLE_PERSISTED:
			(void)shmq_ring_wait_mark(c->ring, SHMQ_RING_MARK_PERSISTED, c->rpos + 1,
						  timeout_ns);
			return;
		case SHMQ_VISIBLE_DURABLE:
			(void)shmq_ring_wait_mark(c->ring, SHMQ_RING_MARK_FLUSHED, c->rpos + 1,
						  timeout_ns);
			return;
		default:
			if (c->rskip == 0) {
				(void)shmq_ring_wait_data(c->ring, c->rpos, timeout_ns);
				return;
			}
			break;
		}
	}
	uint64_t ns = timeout_ns < 1000000ull ? timeout_ns : 1000000ull;
	nanosleep(&(struct timespec){ .tv_sec = 0, .tv_nsec = (long)ns }, NULL);
}
