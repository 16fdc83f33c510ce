/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Message-key index: key -> commitlog offsets, in mmap'd files of hash slots
 * and backward-chained entries (layout and invariants: index_layout.h).
 *
 * ## Contract
 *
 * Concurrency: any thread may call any function. put, truncate and
 * delete_before take the index's write lock; query and flush share the read
 * lock; max_commitlog_offset is a lock-free load.
 *
 * Guarantees (tests cite them):
 *  - K1 a query returns, newest first, every indexed offset whose key hash
 *    equals the key's and whose store time is in [begin_ms, end_ms], up to
 *    max, across files. Different keys may share a hash: the caller confirms
 *    by reading the record's keys.
 *  - K2 puts are idempotent in commitlog order: a put below the highest
 *    offset already indexed, or repeating a (key, offset) pair already in the
 *    newest file, is skipped (returns 0) — recovery may replay freely.
 *  - K3 untrusted disk: slot and chain values are bounds-checked at every
 *    step (index_layout.h X2, X3); garbage yields fewer results, never a crash
 *    or an offset outside the file's recorded range.
 *  - K4 durability: nothing is durable until shmq_index_flush() returned 0.
 *    After a crash, entries put after the last flush may be unreachable; the
 *    store re-puts them (K2 makes that safe).
 */
#ifndef SHMQ_BROKER_STORE_INDEX_H
#define SHMQ_BROKER_STORE_INDEX_H

#include <stddef.h>
#include <stdint.h>

typedef struct shmq_index shmq_index_t;

/* Geometry of files created from now on (existing files keep theirs).
 * sz = sizeof(struct shmq_index_opts) as the caller knows it; 0 fields take
 * the defaults, 500,000 slots and 2,000,000 entries. */
struct shmq_index_opts {
	size_t sz;
	uint32_t slots;
	uint32_t max_entries;
};

/**
 * @brief Open (creating if needed) the index directory @p dir (<store>/index).
 * @param o NULL for defaults.
 * @return 0; -EINVAL (bad options); -ENAMETOOLONG; SHMQ_ECORRUPT or
 *         SHMQ_ELAYOUT for a file whose header fails the checks in
 *         index_layout.h; -errno.
 */
int shmq_index_open(const char *dir, const struct shmq_index_opts *o, shmq_index_t **out);
/** @brief Unmap and close; does not flush. NULL is accepted. */
void shmq_index_close(shmq_index_t *ix);

/**
 * @brief Index @p key for the record at @p commitlog_offset; rolls to a new
 *        file when the newest is full. Several keys per message: one put each.
 * @return 0 (indexed, or skipped by K2); -EINVAL; -errno creating a file.
 */
int shmq_index_put(shmq_index_t *ix, const void *key, size_t key_len, uint64_t commitlog_offset,
		   uint64_t store_ts_ms);

/**
 * @brief Up to @p max offsets matching @p key with store time in
 *        [begin_ms, end_ms], newest first (K1).
 * @return the count (0..max), or -EINVAL.
 */
int shmq_index_query(shmq_index_t *ix, const void *key, size_t key_len, uint64_t begin_ms,
		     uint64_t end_ms, uint64_t *offsets, unsigned max);

/** @brief Highest offset indexed + 1, 0 if none. */
uint64_t shmq_index_max_commitlog_offset(const shmq_index_t *ix);

/**
 * @brief Recovery: forget entries at or past @p commitlog_end (newer files
 *        are deleted, the straddling file loses its suffix and its chains are
 *        relinked). Afterwards max_commitlog_offset <= commitlog_end.
 * @return 0 or -errno.
 */
int shmq_index_truncate(shmq_index_t *ix, uint64_t commitlog_end);

/**
 * @brief Retention: delete, oldest first, whole files whose every offset is
 *        below @p min_commitlog_offset; the newest file is kept.
 * @return files deleted, or -errno.
 */
int shmq_index_delete_before(shmq_index_t *ix, uint64_t min_commitlog_offset);

/** @brief msync(MS_SYNC) files written since the last flush (K4). */
int shmq_index_flush(shmq_index_t *ix);
/** @brief Count every file as unflushed (after a crash: see shmq_cq_mark_dirty()). */
void shmq_index_mark_dirty(shmq_index_t *ix);

/** @brief The on-disk key hash (index_layout.h); tests use it to build
 *         colliding keys. */
uint64_t shmq_index_key_hash(const void *key, size_t key_len);

/** @brief Number of index files currently open (tests and diagnostics: not
 *         synchronised with a concurrent put that rolls a file). */
unsigned shmq_index_file_count(const shmq_index_t *ix);

#endif
