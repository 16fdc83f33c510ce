/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Consumequeue: the per topic/queue index from queue offset to commitlog
 * record (offset, size, tag hash), fixed 20-byte entries in mmap'd files of
 * entries_per_file entries. Layout and on-disk invariants: cq_layout.h.
 *
 * ## Contract
 *
 * Concurrency: every function may be called from any thread. Mutators
 * (append, truncate, delete_before) serialise on a per-queue write lock;
 * readers (get, last, search_time) share a read lock; flush holds the read
 * lock (so files cannot be unmapped under it) and msyncs. min/max offsets are
 * lock-free loads. Callbacks passed to shmq_cq_search_time() run under the
 * read lock and must not call a mutator of the same queue.
 *
 * Guarantees (tests cite them):
 *  - C1 dense offsets: the n-th appended entry has queue offset n; an append
 *    at any other offset is refused, except a replay of an identical entry
 *    below max, which succeeds without writing (idempotent recovery), and
 *    a replay into an all-zero entry below max (a write lost by a crash in a
 *    file before the tail, which open does not scan), which fills it.
 *  - C2 O(1) lookup: shmq_cq_get() is one division and one memcpy.
 *  - C3 restart: reopening restores min and max exactly (cq_layout.h I1, I2).
 *  - C4 untrusted disk: a corrupt `meta`, a misnamed/oversized data file or a
 *    gap between files gives SHMQ_ECORRUPT at open, never a crash.
 *  - C5 durability: nothing is durable until shmq_cq_flush() returned 0
 *    (msync(MS_SYNC) of every file written since the last flush, then fsync
 *    of the directory if files were created or deleted).
 *
 * Files are named by their first queue offset (20 digits, a multiple of
 * entries_per_file). The caller builds the directory path from user-supplied
 * names; missing directories are created (mkdir -p, mode 0755).
 */
#ifndef SHMQ_BROKER_STORE_CONSUMEQUEUE_H
#define SHMQ_BROKER_STORE_CONSUMEQUEUE_H

#include <stdint.h>

typedef struct shmq_cq shmq_cq_t;

/* In memory; on disk a packed 20-byte little-endian entry (cq_layout.h). */
struct shmq_cq_entry {
	uint64_t commitlog_offset;
	uint32_t size;     /* > 0: a zero entry marks the end of the queue */
	uint64_t tag_hash; /* for delayed messages: the delivery time */
};

/**
 * @brief Open (creating if needed) the consumequeue stored in @p dir.
 * @param entries_per_file entries per data file for a new queue (0 = the
 *        default 300000); an existing queue keeps the value in its `meta`.
 * @return 0; -ENAMETOOLONG; -EINVAL (entries_per_file too large);
 *         SHMQ_ECORRUPT (bad meta, bad file name/size, gap between files);
 *         SHMQ_ELAYOUT (meta of another version); -errno from the OS.
 */
int shmq_cq_open(const char *dir, uint32_t entries_per_file, shmq_cq_t **out);
/** @brief Unmap and close; does not flush. NULL is accepted. */
void shmq_cq_close(shmq_cq_t *cq);

/**
 * @brief Append the entry for @p queue_offset (C1).
 * @return 0 (appended, an identical replay below max, or a lost entry
 *         filled); -EINVAL (offset
 *         not dense, replay differs, size 0, commitlog offset not above the
 *         previous entry's); SHMQ_ESTALE (replay below min: cannot be
 *         compared); -errno creating the next file (e.g. -ENOSPC).
 */
int shmq_cq_append(shmq_cq_t *cq, uint64_t queue_offset, const struct shmq_cq_entry *e);
/* Recovery: overwrite the stored entry at queue_offset (min <= it < max) with
 * @p e, rebuilt from a CRC-verified commitlog record. A SIGKILL in the middle
 * of an entry's 20-byte write leaves it torn (e.g. offset and size written,
 * tag hash still 0): not all-zero, so it counts as stored, yet wrong.
 * Returns 0 if it already matched, 1 if it was rewritten, -EINVAL if out of
 * range or if @p e would break the increasing commitlog offsets of its
 * neighbours. */
int  shmq_cq_repair(shmq_cq_t *cq, uint64_t queue_offset, const struct shmq_cq_entry *e);
/** @return 0; SHMQ_ENOTFOUND (>= max); SHMQ_ESTALE (< min); SHMQ_ECORRUPT
 *          (a lost, all-zero entry below max: recovery's replay fills it). */
int shmq_cq_get(shmq_cq_t *cq, uint64_t queue_offset, struct shmq_cq_entry *e);
/** @brief First queue offset still stored (the first data file's base). */
uint64_t shmq_cq_min_offset(const shmq_cq_t *cq);
/** @brief Next queue offset to append (= count ever stored). */
uint64_t shmq_cq_max_offset(const shmq_cq_t *cq);
/** @brief Entry at max - 1; SHMQ_ENOTFOUND if the queue holds none. */
/* (SHMQ_ECORRUPT as for get.) */
int shmq_cq_last(shmq_cq_t *cq, struct shmq_cq_entry *e);

/**
 * @brief Recovery: drop every entry with commitlog_offset + size >
 *        commitlog_end (a suffix, by I3); max never drops below min.
 * @return number of entries dropped (>= 0), or -errno.
 */
int64_t shmq_cq_truncate(shmq_cq_t *cq, uint64_t commitlog_end);

/* Store timestamp of the record at commitlog_offset; 0 or a negative status. */
/* @return 0 with *store_ts_ms; 1: the record cannot be read (retention,
 * corruption), it counts as absent; or a negative status that ends the search. */
typedef int (*shmq_cq_ts_fn)(void *arg, uint64_t commitlog_offset, uint64_t *store_ts_ms);
/**
 * @brief First queue offset in [min, max) whose record's store timestamp is
 *        >= ts_ms (binary search: O(log n) callback calls). *queue_offset =
 *        max if every entry is older, min if none is.
 *        A lost (all-zero) entry or an unreadable record (@p fn returns 1)
 *        is absent, as a cursor skips it: a linear probe finds the next
 *        readable entry, so the answer for readable entries stays exact.
 * @return 0, or the first negative status returned by @p fn.
 */
int shmq_cq_search_time(shmq_cq_t *cq, uint64_t ts_ms, shmq_cq_ts_fn fn, void *arg,
			uint64_t *queue_offset);

/**
 * @brief Retention: delete, oldest first, whole data files whose every entry
 *        points below @p min_commitlog_offset. The newest file is kept even
 *        then (it carries the append position); min advances.
 * @return number of files deleted, or -errno.
 */
int shmq_cq_delete_before(shmq_cq_t *cq, uint64_t min_commitlog_offset);
/** @brief msync(MS_SYNC) dirty files, fsync the directory if needed (C5). */
int shmq_cq_flush(shmq_cq_t *cq);
/** @brief Count every file (and the directory) as unflushed: after a crash
 *  their pages may hold writes the disk never got, which the next flush
 *  must sync before a checkpoint vouches for them. */
void shmq_cq_mark_dirty(shmq_cq_t *cq);

/** @brief Entries per data file actually in use (from `meta`). */
uint32_t shmq_cq_entries_per_file(const shmq_cq_t *cq);

#endif
