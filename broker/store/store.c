/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/store/store_int.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/fsutil.h"

#define KEYBUF_SIZE (SHMQ_CL_TOPIC_MAX + 2 + SHMQ_CL_PROP_VAL_MAX + 1)

/* ------------------------------------------------------------------ */
/* queues                                                               */

static uint32_t queue_hash(const char *topic, size_t tlen, uint32_t qid)
{
	return shmq_crc32c(qid, topic, tlen) % SHMQ_STORE_QBUCKETS;
}

static struct shmq_store_queue *queue_find_locked(struct shmq_store *s, const char *topic,
						  size_t tlen, uint32_t qid)
{
	for (struct shmq_store_queue *q = s->buckets[queue_hash(topic, tlen, qid)]; q; q = q->next)
		if (q->queue_id == qid && q->topic_len == tlen && !memcmp(q->topic, topic, tlen))
			return q;
	return NULL;
}

int shmq_store_queue_get(struct shmq_store *s, const char *topic, size_t tlen, uint32_t qid,
			 bool create, struct shmq_store_queue **out)
{
	pthread_rwlock_rdlock(&s->qlock);
	struct shmq_store_queue *q = queue_find_locked(s, topic, tlen, qid);
	pthread_rwlock_unlock(&s->qlock);
	if (q || !create) {
		*out = q;
		return q ? 0 : SHMQ_ENOTFOUND;
	}
	if (!shmq_topic_valid(topic, tlen))
		return -EINVAL;
	char path[PATH_MAX + 64];
	int n = snprintf(path, sizeof(path), "%s/consumequeue/%.*s/%" PRIu32, s->dir, (int)tlen,
			 topic, qid);
	if (n < 0 || n >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int rc = shmq_mkdir_p(path);
	if (rc < 0)
		return rc;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->queue_id = qid;
	q->topic_len = (uint32_t)tlen;
	memcpy(q->topic, topic, tlen);
	rc = shmq_cq_open(path, s->o.cq_entries_per_file, &q->cq);
	if (rc < 0) {
		free(q);
		return rc;
	}
	/* only the appender (or open) creates queues, so nobody raced us */
	pthread_rwlock_wrlock(&s->qlock);
	uint32_t h = queue_hash(topic, tlen, qid);
	q->next = s->buckets[h];
	s->buckets[h] = q;
	q->all = s->queues;
	s->queues = q;
	pthread_rwlock_unlock(&s->qlock);
	*out = q;
	return 0;
}

/* Open every consumequeue found on disk (consumequeue/<topic>/<queue>). */
static int queues_load(struct shmq_store *s)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/consumequeue", s->dir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return -errno;
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	int rc = 0;
	struct dirent *t;
	while (rc == 0 && (t = readdir(d)) != NULL) {
		size_t tlen = strlen(t->d_name);
		if (!shmq_topic_valid(t->d_name, tlen))
			continue;
		char tpath[2 * PATH_MAX];
		if (snprintf(tpath, sizeof(tpath), "%s/%s", path, t->d_name) >= (int)sizeof(tpath))
			continue;
		DIR *qd = opendir(tpath);
		if (!qd)
			continue;
		struct dirent *e;
		while (rc == 0 && (e = readdir(qd)) != NULL) {
			char *end;
			if (!e->d_name[0] || strspn(e->d_name, "0123456789") != strlen(e->d_name) ||
			    strlen(e->d_name) > 10)
				continue;
			unsigned long qid = strtoul(e->d_name, &end, 10);
			if (qid > UINT32_MAX)
				continue;
			struct shmq_store_queue *q;
			rc = shmq_store_queue_get(s, t->d_name, tlen, (uint32_t)qid, true, &q);
		}
		closedir(qd);
	}
	closedir(d);
	return rc;
}

int shmq_store_index_keys(struct shmq_store *s, const struct shmq_store_view *v)
{
	if (!v->keys || !v->keys_len)
		return 0;
	int puts = 0;
	memcpy(s->keybuf, v->topic, v->topic_len);
	s->keybuf[v->topic_len] = '#';
	uint32_t i = 0;
	while (i < v->keys_len) {
		while (i < v->keys_len && v->keys[i] == ' ')
			i++;
		uint32_t b = i;
		while (i < v->keys_len && v->keys[i] != ' ')
			i++;
		if (i == b)
			break;
		memcpy(s->keybuf + v->topic_len + 1, v->keys + b, i - b);
		int rc = shmq_index_put(s->ix, s->keybuf, v->topic_len + 1 + (i - b),
					v->commitlog_offset, v->store_ts_ms);
		if (rc < 0)
			return rc;
		puts++;
	}
	return puts;
}

/* ------------------------------------------------------------------ */
/* flusher callbacks                                                    */

static int ops_sync_data(void *arg, uint64_t from, uint64_t to)
{
	struct shmq_store *s = arg;
	return shmq_cl_sync(s->cl, from, to);
}

/* Flush consumequeues + index, then write the checkpoint (data first: conventions 9). */
static int maybe_checkpoint(struct shmq_store *s, uint64_t flushed, bool final)
{
	uint64_t now = shmq_now_ns();
	if (!final && now - s->last_ckpt_ns < (uint64_t)s->o.checkpoint_interval_ms * 1000000ull)
		return 0;
	/* acquire: pairs with the release in append(); entries below are in the cq/index */
	uint64_t disp = atomic_load_explicit(&s->dispatched, memory_order_acquire);
	if (s->ck_state.cl_flushed == flushed && s->ck_state.cq_flushed == disp && !final)
		return 0;
	int rc = 0;
	pthread_rwlock_rdlock(&s->qlock);
	for (struct shmq_store_queue *q = s->queues; q && rc == 0; q = q->all)
		rc = shmq_cq_flush(q->cq);
	pthread_rwlock_unlock(&s->qlock);
	if (rc == 0)
		rc = shmq_index_flush(s->ix);
	if (rc < 0)
		return rc;
	s->ck_state.cl_flushed = flushed;
	s->ck_state.cq_flushed = disp;
	s->ck_state.index_flushed = disp;
	/* relaxed: a timestamp hint in the checkpoint */
	s->ck_state.store_ts_ms = atomic_load_explicit(&s->last_store_ts, memory_order_relaxed);
	rc = shmq_ckpt_write(s->ck, &s->ck_state);
	if (rc == 0) {
		s->last_ckpt_ns = now;
		/* relaxed: statistics */
		atomic_fetch_add_explicit(&s->n_ckpt, 1, memory_order_relaxed);
	}
	return rc;
}

static int ops_after_flush(void *arg, uint64_t flushed, bool final)
{
	return maybe_checkpoint(arg, flushed, final);
}

static void ops_housekeep(void *arg)
{
	struct shmq_store *s = arg;
	(void)shmq_cl_prepare_next(s->cl); /* a failure just leaves it to the appender */
	if (!shmq_flusher_poisoned(&s->fl)) {
		int rc = maybe_checkpoint(s, shmq_flusher_flushed(&s->fl), false);
		if (rc < 0)
			shmq_flusher_poison(&s->fl, rc);
	}
}

/* ------------------------------------------------------------------ */
/* open / close                                                         */

static int opts_fill(struct shmq_store_opts *o, const struct shmq_store_opts *in)
{
	memset(o, 0, sizeof(*o));
	if (!in || !in->dir || in->sz == 0)
		return -EINVAL;
	memcpy(o, in, in->sz < sizeof(*o) ? in->sz : sizeof(*o));
	o->sz = sizeof(*o);
	if (!o->segment_size)
		o->segment_size = 1ull << 30;
	if (!o->max_msg_size)
		o->max_msg_size = 4u << 20;
	if (!o->flush_interval_ms)
		o->flush_interval_ms = 500;
	if (!o->flush_dirty_pages)
		o->flush_dirty_pages = 16;
	if (!o->checkpoint_interval_ms)
		o->checkpoint_interval_ms = 1000;
	if (!o->retention_ms)
		o->retention_ms = 72ull * 3600 * 1000;
	if (o->disk_max_used_ratio <= 0.0)
		o->disk_max_used_ratio = 0.75;
	if (o->segment_size % 4096 || o->segment_size < (64u << 10) ||
	    o->segment_size > (1ull << 40))
		return -EINVAL;
	if (o->max_msg_size > o->segment_size / 2 || o->max_msg_size < SHMQ_CL_HEADER_SIZE + 8)
		return -EINVAL;
	if (o->flush_mode != SHMQ_FLUSH_ASYNC && o->flush_mode != SHMQ_FLUSH_SYNC)
		return -EINVAL;
	return 0;
}

static void store_free(struct shmq_store *s)
{
	struct shmq_store_queue *q = s->queues;
	while (q) {
		struct shmq_store_queue *n = q->all;
		shmq_cq_close(q->cq);
		free(q);
		q = n;
	}
	shmq_index_close(s->ix);
	shmq_cl_close(s->cl);
	shmq_ckpt_close(s->ck);
	if (s->lock_fd >= 0)
		close(s->lock_fd); /* drops the flock */
	pthread_rwlock_destroy(&s->qlock);
	free(s->keybuf);
	free(s);
}

int shmq_store_open(const struct shmq_store_opts *opts, shmq_store_t **out,
		    struct shmq_store_recovery_report *report)
{
	uint64_t t0 = shmq_now_ns();
	struct shmq_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	pthread_rwlock_init(&s->qlock, NULL);
	int rc = opts_fill(&s->o, opts);
	if (rc < 0)
		goto fail;
	if (strlen(s->o.dir) >= sizeof(s->dir) - 64) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	strcpy(s->dir, s->o.dir);
	s->o.dir = s->dir;
	s->keybuf = malloc(KEYBUF_SIZE);
	if (!s->keybuf) {
		rc = -ENOMEM;
		goto fail;
	}
	atomic_init(&s->dispatched, 0);
	atomic_init(&s->last_store_ts, 0);
	atomic_init(&s->n_records, 0);
	atomic_init(&s->n_bytes, 0);
	atomic_init(&s->n_ckpt, 0);
	atomic_init(&s->n_enospc, 0);
	atomic_init(&s->n_index_err, 0);

	char path[PATH_MAX + 64];
	if (mkdir(s->dir, 0755) != 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/lock", s->dir);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	bool abnormal;
	rc = shmq_abort_create(s->dir, &abnormal);
	if (rc < 0)
		goto fail;
	struct shmq_ckpt_state ck;
	rc = shmq_ckpt_open(s->dir, &s->ck, &ck);
	if (rc < 0)
		goto fail;
	bool have_ck = rc == 1;
	s->ck_state = ck;

	snprintf(path, sizeof(path), "%s/commitlog", s->dir);
	rc = shmq_cl_open(path, s->o.segment_size, !s->o.no_prefault, &s->cl);
	if (rc < 0)
		goto fail;
	shmq_cl_set_sync_mode(s->cl, s->o.flush_mode == SHMQ_FLUSH_SYNC); /* L5 */
	snprintf(path, sizeof(path), "%s/index", s->dir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	struct shmq_index_opts io = { .sz = sizeof(io), .slots = s->o.index_slots,
				      .max_entries = s->o.index_max_entries };
	rc = shmq_index_open(path, &io, &s->ix);
	if (rc < 0)
		goto fail;
	rc = queues_load(s);
	if (rc < 0)
		goto fail;

	s->report.abnormal = abnormal;
	rc = shmq_store_recover(s, &ck, have_ck);
	if (rc < 0)
		goto fail;
	s->report.duration_ns = shmq_now_ns() - t0;

	/* Recovery's result is on disk before anyone builds on it, and so is
	 * everything the checkpoint below vouches for. After a crash (abort
	 * file) the page cache may hold commitlog, consumequeue and index
	 * writes the disk never got, which recovery read back as if stored:
	 * sync all of it (cheap where clean). After a clean close, the close
	 * synced everything; only recovery's own writes are new. */
	uint64_t end = shmq_cl_written(s->cl);
	uint64_t sync_from = end - end % s->o.segment_size;
	if (abnormal) {
		sync_from = shmq_cl_min(s->cl);
		pthread_rwlock_rdlock(&s->qlock);
		for (struct shmq_store_queue *q = s->queues; q; q = q->all)
			shmq_cq_mark_dirty(q->cq);
		pthread_rwlock_unlock(&s->qlock);
		shmq_index_mark_dirty(s->ix);
	}
	rc = shmq_cl_sync(s->cl, sync_from, end);
	if (rc >= 0)
		rc = maybe_checkpoint(s, end, true);
	if (rc < 0)
		goto fail;
	s->last_ckpt_ns = shmq_now_ns();

	static const struct shmq_flush_ops ops = {
		.sync_data = ops_sync_data,
		.after_flush = ops_after_flush,
		.housekeep = ops_housekeep,
	};
	rc = shmq_flusher_start(&s->fl, &ops, s, &s->cl->written, end,
				s->o.flush_mode == SHMQ_FLUSH_SYNC, s->o.flush_interval_ms,
				s->o.flush_dirty_pages);
	if (rc < 0)
		goto fail;
	s->flusher_running = true;
	if (report)
		*report = s->report;
	*out = s;
	return 0;
fail:
	if (report)
		*report = s->report;
	store_free(s);
	return rc;
}

int shmq_store_close(shmq_store_t *s)
{
	if (!s)
		return 0;
	int rc = 0;
	if (s->flusher_running)
		rc = shmq_flusher_stop(&s->fl); /* final flush + checkpoint */
	if (rc == 0)
		rc = shmq_abort_remove(s->dir);
	store_free(s);
	return rc;
}

/* ------------------------------------------------------------------ */
/* append                                                               */

uint64_t shmq_store_tag_hash(const char *tags, size_t len)
{
	/* FNV-1a 64: stable across versions, cheap; 0 means "no tag" */
	if (!tags || !len)
		return 0;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)tags[i]) * 0x100000001b3ull;
	return h ? h : 1;
}

/* The queue of the previous message of a batch: a persister batch is one
 * ring, so every message after the first skips the lookup (a topic hash, a
 * read lock and a compare per message otherwise). Keyed by the topic
 * POINTER and queue id: the same pointer within one append call is the same
 * string (the caller does not change its batch while appending). */
struct qcache {
	const char *topic;
	uint32_t queue_id;
	struct shmq_store_queue *q;
	bool msgid;   /* fill results' msg_id */
};

static int append_one(struct shmq_store *s, const struct shmq_store_msg *m,
		      struct shmq_store_result *r, uint64_t now_ms, struct qcache *qc)
{
	int64_t sz = shmq_cl_encoded_size(m);
	if (sz < 0)
		return (int)sz;
	if ((uint64_t)sz > s->o.max_msg_size)
		return SHMQ_ETOOBIG;
	struct shmq_store_queue *q = qc->q;
	int rc;
	if (!q || qc->topic != m->topic || qc->queue_id != m->queue_id) {
		rc = shmq_store_queue_get(s, m->topic, strlen(m->topic), m->queue_id, true, &q);
		if (rc < 0)
			return rc;
		qc->topic = m->topic;
		qc->queue_id = m->queue_id;
		qc->q = q;
	}
	uint8_t *p;
	uint64_t off;
	rc = shmq_cl_reserve(s->cl, (uint32_t)sz, &p, &off);
	if (rc < 0)
		return rc;
	uint64_t ts = m->store_ts_ms ? m->store_ts_ms : now_ms;
	uint64_t qoff = shmq_cq_max_offset(q->cq);
	shmq_cl_encode(p, (uint32_t)sz, m, qoff, off, ts);
	struct shmq_cq_entry e = {
		.commitlog_offset = off,
		.size = (uint32_t)sz,
		.tag_hash = shmq_store_tag_hash(m->tags, m->tags ? strlen(m->tags) : 0),
	};
	rc = shmq_cq_append(q->cq, qoff, &e);
	if (rc < 0) {
		/* not yet published (L1): erasing it leaves no trace (S5) */
		memset(p, 0, (size_t)sz);
		return rc;
	}
	shmq_cl_commit(s->cl, (uint32_t)sz, ts);
	struct shmq_store_view v;
	if (m->keys && m->keys[0] &&
	    shmq_cl_decode(p, (uint64_t)sz, off, false, &v, NULL) == SHMQ_CL_DEC_MSG &&
	    shmq_store_index_keys(s, &v) < 0) /* the index is secondary: count, go on */
		atomic_fetch_add_explicit(&s->n_index_err, 1, memory_order_relaxed); /* relaxed: stats */
	/* relaxed: a hint for the checkpoint */
	atomic_store_explicit(&s->last_store_ts, ts, memory_order_relaxed);
	r->status = 0;
	r->commitlog_offset = off;
	r->queue_offset = qoff;
	r->size = (uint32_t)sz;
	if (qc->msgid)
		shmq_msgid_encode(s->o.broker_id, off, r->msg_id);
	else
		r->msg_id[0] = '\0';
	return 0;
}

static int append_batch(shmq_store_t *s, const struct shmq_store_msg *msgs, unsigned n,
			struct shmq_store_result *results, bool msgid)
{
	if (shmq_flusher_poisoned(&s->fl))
		return SHMQ_EPOISONED;
	unsigned i;
	int rc = 0;
	uint64_t bytes = 0;
	uint64_t now_ms = shmq_wall_ms(); /* one store timestamp per batch */
	struct qcache qc = { .msgid = msgid };
	for (i = 0; i < n; i++) {
		rc = append_one(s, &msgs[i], &results[i], now_ms, &qc);
		if (rc < 0) {
			results[i].status = rc;
			if (rc == -ENOSPC) /* relaxed: statistics */
				atomic_fetch_add_explicit(&s->n_enospc, 1, memory_order_relaxed);
			break;
		}
		bytes += results[i].size;
	}
	if (i > 0) {
		shmq_cl_publish(s->cl);
		uint64_t w = s->cl->wpos;
		/* release: pairs with the acquire in maybe_checkpoint() */
		atomic_store_explicit(&s->dispatched, w, memory_order_release);
		/* relaxed: statistics */
		atomic_fetch_add_explicit(&s->n_records, i, memory_order_relaxed);
		atomic_fetch_add_explicit(&s->n_bytes, bytes, memory_order_relaxed);
		shmq_flusher_note_written(&s->fl, w);
	}
	return i > 0 ? (int)i : rc;
}

int shmq_store_append(shmq_store_t *s, const struct shmq_store_msg *msgs, unsigned n,
		      struct shmq_store_result *results)
{
	return append_batch(s, msgs, n, results, true);
}

int shmq_store_append_nomsgid(shmq_store_t *s, const struct shmq_store_msg *msgs, unsigned n,
			      struct shmq_store_result *results)
{
	return append_batch(s, msgs, n, results, false);
}

int shmq_store_wait_durable(shmq_store_t *s, uint64_t end_offset, uint64_t timeout_ns)
{
	if (end_offset > shmq_cl_written(s->cl))
		return shmq_flusher_poisoned(&s->fl) ? SHMQ_EPOISONED : -EINVAL;
	return shmq_flusher_wait(&s->fl, end_offset, timeout_ns);
}

int shmq_store_flush(shmq_store_t *s)
{
	return shmq_flusher_wait(&s->fl, shmq_cl_written(s->cl), UINT64_MAX);
}

/* ------------------------------------------------------------------ */
/* reads                                                                */

static int read_at(struct shmq_store *s, uint64_t offset, bool filler_ok,
		   struct shmq_store_view *v)
{
	if (offset >= shmq_cl_written(s->cl))
		return SHMQ_ENOTFOUND;
	if (offset % SHMQ_CL_ALIGN)
		return SHMQ_ECORRUPT;
	struct shmq_cl_seg *g = NULL;
	int rc = shmq_cl_pin(s->cl, offset, &g);
	if (rc < 0)
		return rc;
	uint64_t within = offset - g->base;
	rc = shmq_cl_decode(g->map + within, g->size - within, offset, true, v, NULL);
	if (rc == SHMQ_CL_DEC_MSG) {
		v->pin_ = g;
		return 0;
	}
	shmq_cl_unpin(g);
	if (rc == SHMQ_CL_DEC_FILLER)
		return filler_ok ? 1 : SHMQ_ENOTFOUND;
	return rc == SHMQ_CL_DEC_END ? SHMQ_ECORRUPT : rc;
}

int shmq_store_read(shmq_store_t *s, uint64_t offset, struct shmq_store_view *v)
{
	return read_at(s, offset, false, v);
}

void shmq_store_view_release(shmq_store_t *s, struct shmq_store_view *v)
{
	(void)s;
	if (v && v->pin_) {
		shmq_cl_unpin(v->pin_);
		v->pin_ = NULL;
	}
}

int64_t shmq_store_next_offset(shmq_store_t *s, uint64_t offset)
{
	struct shmq_store_view v;
	int rc = read_at(s, offset, true, &v);
	if (rc < 0)
		return rc;
	if (rc == 1) /* filler: the next record opens the next segment */
		return (int64_t)(offset - offset % s->o.segment_size + s->o.segment_size);
	shmq_store_view_release(s, &v);
	return (int64_t)(offset + v.size);
}

int shmq_store_view_prop(const struct shmq_store_view *v, const char *key, const char **val,
			 uint32_t *val_len)
{
	size_t kl = strlen(key);
	uint32_t i = 0;
	/* the props were validated by decode: bounds hold */
	while (i + SHMQ_CL_PROP_HDR <= v->props_len) {
		uint32_t k = v->props[i];
		uint16_t vl;
		memcpy(&vl, v->props + i + 1, 2);
		const char *kp = (const char *)v->props + i + SHMQ_CL_PROP_HDR;
		if (k == kl && !memcmp(kp, key, kl)) {
			*val = kp + k;
			*val_len = vl;
			return 0;
		}
		i += SHMQ_CL_PROP_HDR + k + vl;
	}
	return SHMQ_ENOTFOUND;
}

static int queue_lookup(struct shmq_store *s, const char *topic, uint32_t qid,
			struct shmq_store_queue **q)
{
	if (!topic)
		return -EINVAL;
	return shmq_store_queue_get(s, topic, strlen(topic), qid, false, q);
}

int shmq_store_cq_get(shmq_store_t *s, const char *topic, uint32_t queue_id,
		      uint64_t queue_offset, struct shmq_store_cq_entry *e)
{
	struct shmq_store_queue *q;
	int rc = queue_lookup(s, topic, queue_id, &q);
	if (rc < 0)
		return rc;
	struct shmq_cq_entry ce;
	rc = shmq_cq_get(q->cq, queue_offset, &ce);
	if (rc < 0)
		return rc;
	/* the entry is appended just before its record is published: hide it until then */
	if (ce.commitlog_offset >= shmq_cl_written(s->cl))
		return SHMQ_ENOTFOUND;
	e->commitlog_offset = ce.commitlog_offset;
	e->size = ce.size;
	e->tag_hash = ce.tag_hash;
	return 0;
}

int shmq_store_read_queue(shmq_store_t *s, const char *topic, uint32_t queue_id,
			  uint64_t queue_offset, struct shmq_store_view *v)
{
	struct shmq_store_cq_entry e;
	int rc = shmq_store_cq_get(s, topic, queue_id, queue_offset, &e);
	if (rc < 0)
		return rc;
	rc = shmq_store_read(s, e.commitlog_offset, v);
	if (rc == 0 && (v->queue_offset != queue_offset || v->queue_id != queue_id)) {
		shmq_store_view_release(s, v);
		return SHMQ_ECORRUPT;
	}
	return rc;
}

int shmq_store_queue_offsets(shmq_store_t *s, const char *topic, uint32_t queue_id,
			     uint64_t *min, uint64_t *max)
{
	struct shmq_store_queue *q;
	int rc = queue_lookup(s, topic, queue_id, &q);
	if (rc < 0)
		return rc;
	uint64_t mx = shmq_cq_max_offset(q->cq);
	struct shmq_cq_entry last;
	if (mx > shmq_cq_min_offset(q->cq) && shmq_cq_last(q->cq, &last) == 0 &&
	    last.commitlog_offset >= shmq_cl_written(s->cl))
		mx--; /* appended, not yet published */
	*min = shmq_cq_min_offset(q->cq);
	*max = mx;
	return 0;
}

static int ts_of(void *arg, uint64_t off, uint64_t *ts)
{
	struct shmq_store_view v;
	int rc = shmq_store_read(arg, off, &v);
	if (rc == SHMQ_ESTALE || rc == SHMQ_ECORRUPT || rc == SHMQ_ECRC)
		return 1; /* absent to the search: a consumer's cursor skips it too */
	if (rc < 0)
		return rc;
	*ts = v.store_ts_ms;
	shmq_store_view_release(arg, &v);
	return 0;
}

int shmq_store_queue_search_time(shmq_store_t *s, const char *topic, uint32_t queue_id,
				 uint64_t ts_ms, uint64_t *queue_offset)
{
	struct shmq_store_queue *q;
	int rc = queue_lookup(s, topic, queue_id, &q);
	if (rc < 0)
		return rc;
	return shmq_cq_search_time(q->cq, ts_ms, ts_of, s, queue_offset);
}

static bool has_key(const struct shmq_store_view *v, const char *key, size_t kl)
{
	uint32_t i = 0;
	while (i < v->keys_len) {
		while (i < v->keys_len && v->keys[i] == ' ')
			i++;
		uint32_t b = i;
		while (i < v->keys_len && v->keys[i] != ' ')
			i++;
		if (i - b == kl && !memcmp(v->keys + b, key, kl))
			return true;
	}
	return false;
}

int shmq_store_query_key(shmq_store_t *s, const char *topic, const char *key, uint64_t begin_ms,
			 uint64_t end_ms, uint64_t *offsets, unsigned max)
{
	if (!topic || !key || !offsets)
		return -EINVAL;
	size_t tl = strlen(topic), kl = strlen(key);
	if (!shmq_topic_valid(topic, tl) || kl == 0 || kl > SHMQ_CL_PROP_VAL_MAX || max == 0)
		return max == 0 ? 0 : -EINVAL;
	char *k = malloc(tl + 1 + kl);
	unsigned cap = max * 2 + 16; /* room for hash collisions, filtered below */
	uint64_t *cand = malloc(cap * sizeof(*cand));
	if (!k || !cand) {
		free(k);
		free(cand);
		return -ENOMEM;
	}
	memcpy(k, topic, tl);
	k[tl] = '#';
	memcpy(k + tl + 1, key, kl);
	int n = shmq_index_query(s->ix, k, tl + 1 + kl, begin_ms, end_ms, cand, cap);
	int out = 0;
	for (int i = 0; i < n && (unsigned)out < max; i++) {
		struct shmq_store_view v;
		if (shmq_store_read(s, cand[i], &v) != 0)
			continue; /* deleted by retention, or past a recovered end */
		if (v.topic_len == tl && !memcmp(v.topic, topic, tl) && has_key(&v, key, kl) &&
		    v.store_ts_ms >= begin_ms && v.store_ts_ms <= end_ms)
			offsets[out++] = cand[i];
		shmq_store_view_release(s, &v);
	}
	free(k);
	free(cand);
	return n < 0 ? n : out;
}

int shmq_store_read_msgid(shmq_store_t *s, const char *msg_id, struct shmq_store_view *v)
{
	uint32_t b;
	uint64_t off;
	int rc = shmq_msgid_decode(msg_id, &b, &off);
	if (rc < 0)
		return rc;
	if (b != s->o.broker_id)
		return SHMQ_ENOTFOUND;
	return shmq_store_read(s, off, v);
}

uint64_t shmq_store_min_offset(shmq_store_t *s)
{
	return shmq_cl_min(s->cl);
}

uint64_t shmq_store_max_offset(shmq_store_t *s)
{
	return shmq_cl_written(s->cl);
}

uint64_t shmq_store_flushed_offset(shmq_store_t *s)
{
	return shmq_flusher_flushed(&s->fl);
}

const struct shmq_store_recovery_report *shmq_store_recovery(const shmq_store_t *s)
{
	return &s->report;
}

void shmq_store_stats(shmq_store_t *s, struct shmq_store_stats *o)
{
	memset(o, 0, sizeof(*o));
	/* relaxed everywhere: statistics, no ordering implied */
	o->appended_records = atomic_load_explicit(&s->n_records, memory_order_relaxed);
	o->appended_bytes = atomic_load_explicit(&s->n_bytes, memory_order_relaxed);
	o->fdatasync_calls = atomic_load_explicit(&s->fl.n_fdatasync, memory_order_relaxed);
	o->flushes = atomic_load_explicit(&s->fl.n_rounds, memory_order_relaxed);
	o->checkpoints = atomic_load_explicit(&s->n_ckpt, memory_order_relaxed);
	o->segments_created = atomic_load_explicit(&s->cl->n_created, memory_order_relaxed);
	o->segments_prepared = atomic_load_explicit(&s->cl->n_prepared, memory_order_relaxed);
	o->segments_deleted = atomic_load_explicit(&s->cl->n_deleted, memory_order_relaxed);
	o->enospc = atomic_load_explicit(&s->n_enospc, memory_order_relaxed);
	o->poison_errno = shmq_flusher_poisoned(&s->fl);
	o->sync_ns = atomic_load_explicit(&s->fl.sync_ns, memory_order_relaxed);
}

void shmq_store_test_fail_next_flush(shmq_store_t *s, int neg_errno)
{
	shmq_flusher_inject(&s->fl, neg_errno);
}
