/* SPDX-License-Identifier: Apache-2.0 */
/* The broker's ring table: see broker/queues.h. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/log.h"
#include "broker/queues.h"
#include "common/array.h"
#include "common/shm_guard.h"

#define COMP "queues"

struct shmq_queues {
	char ring_dir[PATH_MAX];
	uint64_t capacity;
	uint32_t max_msg;
	uint64_t unblock_timeout_ns;
	shmq_persister_t *persister;
	struct shmq_queue_ring *v; /* sorted by (topic, queue) */
	size_t n, cap;
};

int shmq_queues_create(const struct shmq_queues_opts *o, shmq_persister_t *p,
		       shmq_queues_t **out)
{
	if (!o || !o->ring_dir || !p || !out || strlen(o->ring_dir) >= PATH_MAX)
		return -EINVAL;
	struct shmq_queues *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	snprintf(q->ring_dir, sizeof(q->ring_dir), "%s", o->ring_dir);
	q->capacity = o->capacity;
	q->max_msg = o->max_msg;
	q->unblock_timeout_ns = o->unblock_timeout_ns;
	q->persister = p;
	*out = q;
	return 0;
}

void shmq_queues_destroy(shmq_queues_t *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++) {
		/* after this returns the persister never touches the ring again */
		(void)shmq_persister_remove_ring(q->persister, q->v[i].ring);
		shmq_shm_guard_remove(q->v[i].guard);
		shmq_ring_close(q->v[i].ring);
	}
	free(q->v);
	free(q);
}

static int cmp_key(const struct shmq_queue_ring *r, const char *topic, uint32_t queue)
{
	int c = strcmp(r->topic, topic);
	if (c)
		return c;
	return r->queue < queue ? -1 : r->queue > queue;
}

static size_t lower_bound(const struct shmq_queues *q, const char *topic, uint32_t queue)
{
	size_t lo = 0, hi = q->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cmp_key(&q->v[mid], topic, queue) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

shmq_ring_t *shmq_queues_get(const shmq_queues_t *q, const char *topic, uint32_t queue)
{
	size_t i = lower_bound(q, topic, queue);
	if (i < q->n && cmp_key(&q->v[i], topic, queue) == 0)
		return q->v[i].ring;
	return NULL;
}

size_t shmq_queues_count(const shmq_queues_t *q)
{
	return q->n;
}

const struct shmq_queue_ring *shmq_queues_at(const shmq_queues_t *q, size_t i)
{
	return i < q->n ? &q->v[i] : NULL;
}

/* Attach the existing ring file, or create it; a file that is not a valid
 * ring is moved aside (its bytes cannot be trusted) and replaced. */
struct attach_args {
	const char *path;
	shmq_ring_t **ring;
};

static int attach_cb(void *arg)
{
	struct attach_args *a = arg;
	return shmq_ring_attach(a->path, a->ring);
}

static int open_ring(struct shmq_queues *q, const char *path, shmq_ring_t **ring, bool *reopened)
{
	/* the header is read before the ring can be guarded: a client that
	 * shrinks the file meanwhile makes the attach fail, not the broker */
	struct attach_args aa = { path, ring };
	int rc = shmq_shm_guard_try(attach_cb, &aa);
	if (rc == 0) {
		*reopened = true;
		return 0;
	}
	if (rc == SHMQ_ELAYOUT || rc == SHMQ_ECORRUPT || rc == -EFAULT) {
		char bad[PATH_MAX + 8];
		snprintf(bad, sizeof(bad), "%s.bad", path);
		shmq_log_error(COMP, "%s is not a valid ring (%s): moved to %s, creating a new ring",
			       path, shmq_strerror(rc), bad);
		if (rename(path, bad) != 0)
			return -errno;
	} else if (rc != -ENOENT) {
		return rc;
	}
	SHMQ_RING_OPTS(ro, .capacity = q->capacity, .max_msg = q->max_msg,
		       .unblock_timeout_ns = q->unblock_timeout_ns, .mode = 0600, .prefault = true);
	*reopened = false;
	return shmq_ring_create(path, &ro, ring);
}

int shmq_queues_open_topic(shmq_queues_t *q, const char *topic, uint32_t queues)
{
	size_t tl = topic ? strlen(topic) : 0;
	if (tl == 0 || tl >= sizeof(q->v[0].topic))
		return -EINVAL;
	int added = 0;
	for (uint32_t i = 0; i < queues; i++) {
		size_t at = lower_bound(q, topic, i);
		if (at < q->n && cmp_key(&q->v[at], topic, i) == 0)
			continue;
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "%s/%s.%" PRIu32 ".ring", q->ring_dir, topic, i);
		if (n < 0 || n >= (int)sizeof(path))
			return -ENAMETOOLONG;
		void *arr = q->v;
		int rc = shmq_array_reserve(&arr, &q->cap, q->n + 1, sizeof(*q->v));
		q->v = arr;
		if (rc < 0)
			return rc;
		shmq_ring_t *ring;
		bool reopened;
		rc = open_ring(q, path, &ring, &reopened);
		if (rc < 0) {
			shmq_log_error(COMP, "ring %s: %s", path, shmq_strerror(rc));
			return rc;
		}
		/* A client that shrinks the file must not kill the broker: the
		 * guard fences the ring instead (common/shm_guard.h). */
		void *map;
		size_t map_len;
		shmq_ring_mapping(ring, &map, &map_len);
		int guard = shmq_shm_guard_add(map, map_len);
		if (guard < 0) { /* never served unguarded: one ftruncate would kill the broker */
			shmq_log_error(COMP, "ring %s refused: no guard slot left (%s)", path, shmq_strerror(guard));
			shmq_ring_close(ring);
			return guard;
		}
		rc = shmq_persister_add_ring(q->persister, topic, i, ring);
		if (rc < 0) {
			shmq_log_error(COMP, "ring %s: persister: %s", path, shmq_strerror(rc));
			shmq_shm_guard_remove(guard);
			shmq_ring_close(ring);
			return rc;
		}
		memmove(&q->v[at + 1], &q->v[at], (q->n - at) * sizeof(*q->v));
		struct shmq_queue_ring *e = &q->v[at];
		memset(e, 0, sizeof(*e));
		memcpy(e->topic, topic, tl + 1);
		e->queue = i;
		e->reopened = reopened;
		e->ring = ring;
		e->guard = guard;
		q->n++;
		added++;
		if (reopened) {
			struct shmq_ring_stats st;
			shmq_ring_stats(ring, &st);
			shmq_log_info(COMP, "ring %s re-opened: capacity %" PRIu64 ", %" PRIu64
				      " bytes committed or reserved after the persister's position",
				      path, shmq_ring_capacity(ring), st.tail - st.consumed);
		} else {
			shmq_log_debug(COMP, "ring %s created", path);
		}
	}
	return added;
}
