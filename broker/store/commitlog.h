/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Commitlog: the append-only sequence of mmap'd segment files
 * (commitlog_layout.h). Internal to the store.
 *
 * ## Contract
 *  - One appender calls shmq_cl_reserve()/shmq_cl_commit()/shmq_cl_publish()
 *    and shmq_cl_set_end(). The flusher calls shmq_cl_sync() and
 *    shmq_cl_prepare_next(). Readers call shmq_cl_pin()/shmq_cl_unpin(). The
 *    housekeeper calls shmq_cl_delete_oldest(). All may overlap.
 *  - L1: bytes below shmq_cl_written() are complete records (release store
 *    after the record bytes, acquire load by readers).
 *  - L2: a pinned segment stays mapped until unpinned, even if retention
 *    deleted its file.
 *  - L3: the active (last) segment is never deleted; segments are deleted
 *    oldest first only, so the table stays contiguous.
 *  - L4: a new segment's space is allocated (fallocate) before it is mapped
 *    or written: a full disk surfaces as -ENOSPC at creation, never SIGBUS.
 */
#ifndef SHMQ_BROKER_STORE_COMMITLOG_H
#define SHMQ_BROKER_STORE_COMMITLOG_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/store/commitlog_layout.h"
#include "broker/store/store.h"

struct shmq_cl_seg {
	uint64_t base;
	uint64_t size;
	uint64_t file_size;       /* size found on disk at open (recovery) */
	int fd;
	uint8_t *map;
	_Atomic uint32_t refs;    /* the table holds one; each pin one more */
	_Atomic uint64_t last_store_ts; /* newest store timestamp written (0: unknown) */
	char path[PATH_MAX];
};

typedef struct shmq_cl {
	char dir[PATH_MAX];
	uint64_t seg_size;
	bool prefault;
	pthread_rwlock_t lock;    /* guards segs/nsegs */
	struct shmq_cl_seg **segs;
	size_t nsegs, cap;
	/* appender-only */
	struct shmq_cl_seg *active;
	uint64_t wpos;
	/* published */
	_Atomic uint64_t written;
	_Atomic uint64_t min_offset;
	/* the segment prepared ahead by the flusher */
	pthread_mutex_t prep_lock;
	struct shmq_cl_seg *next;
	_Atomic uint64_t n_created, n_prepared, n_deleted;
} shmq_cl_t;

/* Open the commitlog directory: map every segment found (no recovery). */
int shmq_cl_open(const char *dir, uint64_t seg_size, bool prefault, shmq_cl_t **out);
void shmq_cl_close(shmq_cl_t *cl);

/* After recovery: the log ends at @p end; creates the active segment if none
 * holds @p end. */
int shmq_cl_set_end(shmq_cl_t *cl, uint64_t end);

/* Room for a record of @p size (8-aligned) at the write position, rolling to
 * a new segment (with a filler) if needed. Nothing is published. */
int shmq_cl_reserve(shmq_cl_t *cl, uint32_t size, uint8_t **ptr, uint64_t *offset);
/* The reserved record was written: advance the write position. */
void shmq_cl_commit(shmq_cl_t *cl, uint32_t size, uint64_t store_ts);
/* Make everything committed visible to readers (L1). */
void shmq_cl_publish(shmq_cl_t *cl);

static inline uint64_t shmq_cl_written(shmq_cl_t *cl)
{
	/* acquire: pairs with the release in shmq_cl_publish(); record bytes visible */
	return atomic_load_explicit(&cl->written, memory_order_acquire);
}
static inline uint64_t shmq_cl_min(shmq_cl_t *cl)
{
	/* relaxed: a hint; pin() re-checks under the table lock */
	return atomic_load_explicit(&cl->min_offset, memory_order_relaxed);
}

/* Pin the segment holding @p offset. 0, SHMQ_ESTALE (deleted), SHMQ_ENOTFOUND. */
int shmq_cl_pin(shmq_cl_t *cl, uint64_t offset, struct shmq_cl_seg **seg);
void shmq_cl_unpin(struct shmq_cl_seg *seg);

/* fdatasync every segment overlapping [from, to). Returns the number of
 * fdatasync calls or -errno. */
int shmq_cl_sync(shmq_cl_t *cl, uint64_t from, uint64_t to);

/* Flusher: create the next segment ahead if the active one is half full. */
int shmq_cl_prepare_next(shmq_cl_t *cl);

/* Retention: delete the oldest segment if it is not the active one and
 * @p pred accepts it. 1 deleted, 0 not, -errno. */
int shmq_cl_delete_oldest(shmq_cl_t *cl, bool (*pred)(void *arg, const struct shmq_cl_seg *seg),
			  void *arg);

/* Recovery helpers: drop segments with base > @p base (file deleted);
 * returns how many. */
int shmq_cl_drop_after(shmq_cl_t *cl, uint64_t base);

/* --- record codec --- */

enum { SHMQ_CL_DEC_MSG = 0, SHMQ_CL_DEC_FILLER = 1, SHMQ_CL_DEC_END = 2 };

/* Encoded size of @p m, or SHMQ_ETOOBIG / -EINVAL. */
int64_t shmq_cl_encoded_size(const struct shmq_store_msg *m);
/* Write @p m at @p p (size bytes from shmq_cl_encoded_size) with the CRC. */
void shmq_cl_encode(uint8_t *p, uint32_t size, const struct shmq_store_msg *m,
		    uint64_t queue_offset, uint64_t commitlog_offset, uint64_t store_ts);
void shmq_cl_write_filler(uint8_t *p, uint32_t size);
/*
 * Decode the bytes at @p p (@p avail bytes to the end of the segment) as the
 * record at @p offset. Returns SHMQ_CL_DEC_MSG (v filled), _FILLER (v->size
 * set), _END (zero size word), SHMQ_ECRC or SHMQ_ECORRUPT; *reason gets an
 * enum shmq_recovery_reason for failures.
 */
int shmq_cl_decode(const uint8_t *p, uint64_t avail, uint64_t offset, bool check_crc,
		   struct shmq_store_view *v, int *reason);

bool shmq_topic_valid(const char *topic, size_t len);

#endif
