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
 *  - L5 sync mode (shmq_cl_set_sync_mode()): the segment being appended to is
 *    cached in base (4 KiB) pages, so that one fdatasync writes back only the
 *    pages appended since the last one. Large page-cache folios (which
 *    readahead builds, up to 2 MiB, for an mmap'd ext4 file) are written back
 *    whole: measured here, a 1 KiB append + fdatasync then costs ~550 us
 *    instead of ~120 us. Async mode keeps readahead (large folios write back
 *    faster in bulk). A segment the appender has left gets normal readahead
 *    back for later readers.
 *  - L6 sync mode: shmq_cl_prepare_next() also keeps the blocks just ahead of
 *    the write position written (SHMQ_CL_PREWRITE_*), so that a group
 *    commit's fdatasync finds its blocks allocated *and written*: it writes
 *    the appended pages and flushes the device cache, with no extent
 *    conversion (fallocate leaves unwritten extents; converting them is a
 *    metadata write inside every fdatasync that touches a new block). The
 *    pre-write only faults pages in writable and starts their writeback: it
 *    never changes a byte, so it may overlap the appender on the same pages,
 *    and bytes past the log end stay zero for recovery.
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

/*
 * L6: the frontier is kept SHMQ_CL_PREWRITE_AHEAD bytes past the published
 * end, advanced SHMQ_CL_PREWRITE_CHUNK bytes at a time after each flush
 * round (a chunk costs the flusher the write faults of its 64 pages; the
 * writeback runs asynchronously). 2 MiB is ~2000 1 KiB records: far more
 * than a group commit round appends.
 */
#define SHMQ_CL_PREWRITE_CHUNK (256u * 1024u)
#define SHMQ_CL_PREWRITE_AHEAD (2u * 1024u * 1024u)

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
	bool sync_mode;           /* L5; set before shmq_cl_set_end() */
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
	uint64_t prewritten;      /* flusher only: L6 frontier (log offset) */
	_Atomic uint64_t n_created, n_prepared, n_deleted;
	_Atomic uint64_t n_prewritten; /* bytes pre-written (L6), statistics */
} shmq_cl_t;

/* Open the commitlog directory: map every segment found (no recovery). */
int shmq_cl_open(const char *dir, uint64_t seg_size, bool prefault, shmq_cl_t **out);
void shmq_cl_close(shmq_cl_t *cl);

/* L5: the store flushes in sync mode. Call before shmq_cl_set_end() and
 * before any append (the flag is read by the appender and the flusher). */
void shmq_cl_set_sync_mode(shmq_cl_t *cl, bool sync);

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

/* Flusher: create the next segment ahead if the active one is half full;
 * in sync mode also advance the L6 pre-write frontier. */
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
