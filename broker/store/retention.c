/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Retention (store.h shmq_store_run_retention): expire segments by age and by
 * disk usage, oldest first, never the active one (commitlog.h L3); then
 * delete the consumequeue and index files that only point below the new
 * minimum offset. Readers holding views keep deleted segments mapped (L2).
 */
#include <errno.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "broker/store/store_int.h"
#include "common/atomic.h"

struct age_arg {
	struct shmq_store *s;
	uint64_t now_ms;
	uint64_t retention_ms;
};

/* A segment with bytes above the flushed offset is never deleted: its
 * records may have been acknowledged to a waiter only once the flusher
 * reaches them, and a deleted segment would count as flushed. */
static bool flushed_whole(struct shmq_store *s, const struct shmq_cl_seg *g)
{
	return g->base + g->size <= shmq_store_flushed_offset(s);
}

static uint64_t seg_age_ts(const struct shmq_cl_seg *g)
{
	/* relaxed: an estimate; the appender never writes to a non-active segment */
	uint64_t ts = atomic_load_explicit(&g->last_store_ts, memory_order_relaxed);
	if (ts)
		return ts;
	struct stat st;
	if (fstat(g->fd, &st) != 0)
		return UINT64_MAX; /* unknown: keep it */
	return (uint64_t)st.st_mtim.tv_sec * 1000u + (uint64_t)st.st_mtim.tv_nsec / 1000000u;
}

static bool too_old(void *arg, const struct shmq_cl_seg *g)
{
	const struct age_arg *a = arg;
	uint64_t ts = seg_age_ts(g);
	return ts != UINT64_MAX && ts + a->retention_ms < a->now_ms && flushed_whole(a->s, g);
}

static bool disk_too_full(void *arg, const struct shmq_cl_seg *g)
{
	struct shmq_store *s = arg;
	if (!flushed_whole(s, g))
		return false;
	struct statvfs v;
	if (statvfs(s->dir, &v) != 0 || v.f_blocks == 0)
		return false;
	double used = (double)(v.f_blocks - v.f_bavail) / (double)v.f_blocks;
	return used > s->o.disk_max_used_ratio;
}

int shmq_store_run_retention(shmq_store_t *s, uint64_t now_ms)
{
	int deleted = 0, rc;
	struct age_arg a = { .s = s, .now_ms = now_ms, .retention_ms = s->o.retention_ms };
	while ((rc = shmq_cl_delete_oldest(s->cl, too_old, &a)) > 0)
		deleted++;
	if (rc < 0)
		return rc;
	while ((rc = shmq_cl_delete_oldest(s->cl, disk_too_full, s)) > 0)
		deleted++;
	if (rc < 0)
		return rc;
	uint64_t min = shmq_cl_min(s->cl);
	pthread_rwlock_rdlock(&s->qlock);
	for (struct shmq_store_queue *q = s->queues; q && rc >= 0; q = q->all)
		rc = shmq_cq_delete_before(q->cq, min);
	pthread_rwlock_unlock(&s->qlock);
	if (rc >= 0)
		rc = shmq_index_delete_before(s->ix, min);
	return rc < 0 ? rc : deleted;
}
