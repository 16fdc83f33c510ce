/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/store/store.h
 * @brief The broker's message store: commitlog + consumequeue + index, with
 * flushing, checkpoint, crash recovery and retention.
 *
 * ## Contract
 *
 * A store is a directory:
 *   <dir>/commitlog/<20-digit offset>   segments (commitlog_layout.h)
 *   <dir>/consumequeue/<topic>/<queue>  per-queue offset files (cq_layout.h)
 *   <dir>/index/                        key index files (index_layout.h)
 *   <dir>/checkpoint                    two-slot checkpoint (checkpoint_layout.h)
 *   <dir>/abort                         exists while the store is open
 *   <dir>/lock                          flock()ed by the one process using it
 *
 * Threads (what may run concurrently):
 *  - **One appender** (the broker's persister): shmq_store_append(). Calls
 *    to append must not overlap each other.
 *  - **The flusher** (a thread the store owns): flushes the commitlog, the
 *    consumequeues and the index; writes the checkpoint; prepares the next
 *    segment ahead of the appender.
 *  - **Any number of readers and waiters**, concurrently with the above and
 *    with each other: shmq_store_read(), the cq/query/offset calls,
 *    shmq_store_wait_durable(), shmq_store_flush(), shmq_store_stats().
 *  - **One housekeeper** at a time: shmq_store_run_retention(), concurrently
 *    with everything above.
 *  - shmq_store_open()/shmq_store_close(): alone.
 *
 * Guarantees (tests cite them as S1..S6):
 *  - **S1 order**: records are appended in call order; within a batch in
 *    array order. Commitlog offsets and, per (topic, queue), queue offsets
 *    strictly increase; queue offsets are dense (0, 1, 2, ...).
 *  - **S2 visibility**: once append returns, its records are readable by
 *    offset and through the consumequeue and the index from any thread.
 *  - **S3 durability**: shmq_store_wait_durable(end) returns 0 only after
 *    every byte below @p end reached the disk (fdatasync). Sync mode: a group
 *    commit, one fdatasync covers every record appended before it started.
 *  - **S4 poison**: a failed fdatasync/msync/checkpoint write poisons the
 *    store: every waiter and every later append gets SHMQ_EPOISONED, and
 *    nothing is ever reported durable that was not flushed. The original
 *    -errno is kept in shmq_store_stats().poison_errno. Only reopening (which
 *    runs recovery) clears it.
 *  - **S5 disk full**: when a new segment cannot be allocated, append fails
 *    with -ENOSPC before writing any byte; the store is NOT poisoned, nothing
 *    stored is damaged, and the next append retries the allocation.
 *  - **S6 recovery**: open after a crash (abort file present) verifies every
 *    record after the checkpoint by CRC, truncates the log at the first
 *    invalid record, drops consumequeue/index entries pointing past the end,
 *    and rebuilds the missing ones. Nothing before the checkpoint is lost.
 *
 * Views returned by shmq_store_read() point into the segment mapping (zero
 * copy) and pin the segment: release them with shmq_store_view_release();
 * retention deletes the file but unmaps it only after the last view is gone.
 */
#ifndef SHMQ_BROKER_STORE_STORE_H
#define SHMQ_BROKER_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shmq/error.h"
#include "shmq/msgid.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmq_store shmq_store_t;

enum shmq_store_flush_mode {
	SHMQ_FLUSH_ASYNC = 0, /**< flusher every flush_interval_ms or flush_dirty_pages */
	SHMQ_FLUSH_SYNC = 1,  /**< group commit driven by shmq_store_wait_durable() */
};

/** Options; zero means "default" for every field (conventions 3). */
struct shmq_store_opts {
	size_t sz;                    /**< sizeof(struct shmq_store_opts) */
	const char *dir;              /**< store directory (created if missing); required */
	uint64_t segment_size;        /**< bytes, multiple of 4096, >= 64 KiB; default 1 GiB */
	uint32_t max_msg_size;        /**< largest record accepted; default 4 MiB, <= segment_size/2 */
	int flush_mode;               /**< enum shmq_store_flush_mode; default async */
	uint32_t flush_interval_ms;   /**< async: flush at least this often; default 500 */
	uint32_t flush_dirty_pages;   /**< async: flush when this many 4 KiB pages are dirty; default 16 */
	uint32_t checkpoint_interval_ms; /**< write the checkpoint at most this often; default 1000 */
	uint32_t broker_id;           /**< encoded into message ids */
	uint64_t retention_ms;        /**< age limit of segments; default 72 h */
	double disk_max_used_ratio;   /**< retention deletes while statvfs(dir) is above; default 0.75 */
	uint32_t cq_entries_per_file; /**< consumequeue file size; default 300000 */
	uint32_t index_slots;         /**< hash slots per index file; default 500000 */
	uint32_t index_max_entries;   /**< entries per index file; default 2000000 */
	bool no_prefault;             /**< skip pre-touching new segments (tests) */
};
#define SHMQ_STORE_OPTS(name, ...) \
	struct shmq_store_opts name = { .sz = sizeof(struct shmq_store_opts), __VA_ARGS__ }

/** A user property of a message (NUL-terminated key and value). */
struct shmq_store_prop {
	const char *key;   /**< 1..255 bytes, not "KEYS" or "TAGS" */
	const char *value; /**< 0..65535 bytes */
};

/** A message to append. Pointers are only read during the call. */
struct shmq_store_msg {
	const char *topic;            /**< 1..255 bytes of [A-Za-z0-9_.%|-], not "." or ".." */
	uint32_t queue_id;
	uint32_t flags;
	const void *body;
	uint32_t body_len;
	const char *keys;             /**< space-separated keys, indexed; NULL = none */
	const char *tags;             /**< NULL = none; hashed into the consumequeue */
	const struct shmq_store_prop *props;
	uint32_t nprops;
	uint64_t born_ts_ms;
	uint64_t born_host;           /**< e.g. IPv4 << 16 | port, or a pid */
	uint64_t producer_id;
	uint64_t producer_seq;
	uint32_t reconsume_times;
	uint64_t prepared_tx_offset;
	uint64_t store_ts_ms;         /**< 0 = now (wall clock); tests may set it */
};

/** Per-message outcome of shmq_store_append(). */
struct shmq_store_result {
	int status;                   /**< 0 or the error that stopped the batch */
	uint64_t commitlog_offset;
	uint64_t queue_offset;
	uint32_t size;                /**< record bytes; end = commitlog_offset + size */
	char msg_id[SHMQ_MSGID_STRLEN + 1];
};

/** A record as stored, decoded in place. Pointers are into the mapping. */
struct shmq_store_view {
	uint64_t commitlog_offset;
	uint32_t size;
	uint32_t queue_id;
	uint32_t flags;
	uint32_t reconsume_times;
	uint64_t queue_offset;
	uint64_t born_ts_ms;
	uint64_t store_ts_ms;
	uint64_t born_host;
	uint64_t producer_id;
	uint64_t producer_seq;
	uint64_t prepared_tx_offset;
	const void *body;
	uint32_t body_len;
	const char *topic;            /**< NOT NUL-terminated */
	uint32_t topic_len;
	const char *keys;             /**< NOT NUL-terminated; NULL if none */
	uint32_t keys_len;
	const char *tags;             /**< NOT NUL-terminated; NULL if none */
	uint32_t tags_len;
	const uint8_t *props;         /**< encoded properties, see commitlog_layout.h */
	uint32_t props_len;
	const void *raw;              /**< the whole record */
	void *pin_;                   /**< private: the pinned segment */
};

/** Consumequeue entry as returned by the store. */
struct shmq_store_cq_entry {
	uint64_t commitlog_offset;
	uint32_t size;
	uint64_t tag_hash;
};

enum shmq_recovery_reason {
	SHMQ_RECOVERY_CLEAN_END = 0,  /**< log ended with zeros: nothing truncated */
	SHMQ_RECOVERY_BAD_SIZE,       /**< size word out of range or past segment end */
	SHMQ_RECOVERY_BAD_MAGIC,
	SHMQ_RECOVERY_BAD_CRC,
	SHMQ_RECOVERY_BAD_FIELDS,     /**< lengths inconsistent, or offset field wrong */
	SHMQ_RECOVERY_SHORT_FILE,     /**< segment file shorter than segment_size */
	SHMQ_RECOVERY_GAP,            /**< a segment file is missing: later ones dropped */
	SHMQ_RECOVERY_ZEROED,         /**< a zero size word followed by non-zero bytes */
};

/** What shmq_store_open() found and did. */
struct shmq_store_recovery_report {
	bool abnormal;                /**< abort file was present: crash recovery */
	bool checkpoint_valid;
	uint64_t checkpoint_seq;
	uint64_t checkpoint_offset;   /**< commitlog flushed offset in the checkpoint */
	uint64_t scan_from;           /**< where CRC verification started */
	uint32_t segments_found;
	uint32_t segments_scanned;
	uint64_t records_verified;
	uint64_t end_offset;          /**< recovered end of the commitlog */
	int reason;                   /**< enum shmq_recovery_reason */
	uint64_t truncate_offset;     /**< where the log was cut (== end_offset) */
	uint64_t bytes_truncated;     /**< non-zero bytes removed past the end */
	uint32_t segments_deleted;    /**< segment files removed past the end */
	uint64_t cq_entries_dropped;
	uint64_t cq_entries_rebuilt;
	uint64_t cq_entries_repaired;  /**< torn entries rewritten from the log */
	uint64_t index_entries_rebuilt;
	uint64_t duration_ns;
};

struct shmq_store_stats {
	uint64_t appended_records;
	uint64_t appended_bytes;
	uint64_t fdatasync_calls;     /**< commitlog fdatasyncs by the flusher */
	uint64_t flushes;             /**< flush rounds that advanced the flushed offset */
	uint64_t checkpoints;
	uint64_t segments_created;
	uint64_t segments_prepared;   /**< created ahead by the flusher */
	uint64_t segments_deleted;
	uint64_t enospc;              /**< appends refused with -ENOSPC */
	int poison_errno;             /**< 0, or the -errno that poisoned the store */
	uint64_t sync_ns;             /**< time the flusher spent in its fdatasyncs */
};

/**
 * @brief Open (creating if needed) the store at opts->dir and run recovery.
 * @param report filled when not NULL (also kept: shmq_store_recovery()).
 * @return 0; -EINVAL (bad option); -EBUSY (another process has it open);
 *         SHMQ_ELAYOUT (segment file of another size or misnamed);
 *         SHMQ_ECORRUPT; or -errno.
 */
int shmq_store_open(const struct shmq_store_opts *opts, shmq_store_t **out,
		    struct shmq_store_recovery_report *report);

/**
 * @brief Clean shutdown: stop the flusher, flush everything, write the
 * checkpoint, remove the abort file. Accepts NULL.
 * @return 0, or the error of the final flush (the abort file then stays, so
 *         the next open recovers).
 */
int shmq_store_close(shmq_store_t *s);

/**
 * @brief Append @p n messages (appender thread only). Each message gets the
 * next queue offset of its (topic, queue) and is dispatched to the
 * consumequeue and the index before the call returns (S2).
 * @return the number of leading messages appended (results[0..ret) filled);
 *         the first one not appended gets results[ret].status. If none was
 *         appended, that status is returned instead: SHMQ_ETOOBIG, -EINVAL
 *         (bad topic/property), -ENOSPC (S5), SHMQ_EPOISONED (S4), -errno.
 */
int shmq_store_append(shmq_store_t *s, const struct shmq_store_msg *msgs, unsigned n,
		      struct shmq_store_result *results);

/** @brief As shmq_store_append(), but the results' msg_id is left empty (a
 * CRC and 32 hex digits per message saved): for callers that only use the
 * offsets (the persister; an id is shmq_msgid_encode(broker_id, offset)). */
int shmq_store_append_nomsgid(shmq_store_t *s, const struct shmq_store_msg *msgs, unsigned n,
			      struct shmq_store_result *results);

/**
 * @brief Wait until every byte below @p end_offset is on disk (S3); kicks the
 * flusher (sync mode: joins the next group commit).
 * @param timeout_ns 0 = just check; UINT64_MAX = forever.
 * @return 0; -ETIMEDOUT; SHMQ_EPOISONED; -EINVAL if @p end_offset is past the
 *         written end.
 */
int shmq_store_wait_durable(shmq_store_t *s, uint64_t end_offset, uint64_t timeout_ns);

/** @brief Flush everything written so far and wait for it. Same returns. */
int shmq_store_flush(shmq_store_t *s);

/**
 * @brief Decode the record at @p offset in place (CRC verified).
 * @return 0 (release the view); SHMQ_ENOTFOUND (>= max offset, or a filler
 *         position); SHMQ_ESTALE (deleted by retention); SHMQ_ECRC;
 *         SHMQ_ECORRUPT (not a record boundary / garbage).
 */
int shmq_store_read(shmq_store_t *s, uint64_t offset, struct shmq_store_view *v);
void shmq_store_view_release(shmq_store_t *s, struct shmq_store_view *v);

/** @brief Find user property @p key in a view. @return 0 or SHMQ_ENOTFOUND. */
int shmq_store_view_prop(const struct shmq_store_view *v, const char *key,
			 const char **val, uint32_t *val_len);

/** @brief Offset of the record following the one at @p offset, skipping a
 * segment's filler. @return the offset, or a negative status as read. */
int64_t shmq_store_next_offset(shmq_store_t *s, uint64_t offset);

/** @brief Consumequeue lookup. @return 0, SHMQ_ENOTFOUND, SHMQ_ESTALE. */
int shmq_store_cq_get(shmq_store_t *s, const char *topic, uint32_t queue_id,
		      uint64_t queue_offset, struct shmq_store_cq_entry *e);

/** @brief Read the message at a queue offset: cq_get + read. */
int shmq_store_read_queue(shmq_store_t *s, const char *topic, uint32_t queue_id,
			  uint64_t queue_offset, struct shmq_store_view *v);

/** @brief [min, max) queue offsets stored. @return 0 or SHMQ_ENOTFOUND (no such queue). */
int shmq_store_queue_offsets(shmq_store_t *s, const char *topic, uint32_t queue_id,
			     uint64_t *min, uint64_t *max);

/** @brief First queue offset with store timestamp >= @p ts_ms (max if none).
 *  An entry that cannot be read (its record deleted by retention, corrupt,
 *  of bad CRC, or a consumequeue entry not written yet) is skipped, as a
 *  consumer's cursor skips it: one bad record does not fail the search. */
int shmq_store_queue_search_time(shmq_store_t *s, const char *topic, uint32_t queue_id,
				 uint64_t ts_ms, uint64_t *queue_offset);

/**
 * @brief Commitlog offsets of messages of @p topic carrying @p key in KEYS,
 * store timestamp in [begin_ms, end_ms], newest first, at most @p max.
 * Index hash collisions are filtered out by reading each record.
 * @return the count, or a negative status.
 */
int shmq_store_query_key(shmq_store_t *s, const char *topic, const char *key,
			 uint64_t begin_ms, uint64_t end_ms, uint64_t *offsets, unsigned max);

/** @brief Read by message id. @return as shmq_store_read(); -EINVAL if
 * malformed; SHMQ_ENOTFOUND if it names another broker. */
int shmq_store_read_msgid(shmq_store_t *s, const char *msg_id, struct shmq_store_view *v);

/**
 * @brief A new O_RDONLY|O_CLOEXEC fd of the commitlog segment holding
 * @p offset (any byte of the segment, written or not), with the segment's
 * base offset and size, for a reader that maps it (OPEN_SEGMENT). The caller
 * owns the fd. Any thread.
 * @return 0; SHMQ_ENOTFOUND if no segment holds @p offset (deleted by
 *         retention, or past the last segment); -errno.
 */
int shmq_store_segment_fd(shmq_store_t *s, uint64_t offset, int *fd, uint64_t *base,
			  uint64_t *file_size);

/**
 * @brief A new O_RDONLY|O_CLOEXEC fd of consumequeue file @p file_index of
 * (topic, queue) (entry i of it is queue offset file_index * epf + i), and
 * the entries per file (OPEN_CQ). The caller owns the fd. Any thread.
 * @return 0; SHMQ_ENOTFOUND (queue never written, file deleted by retention
 *         or not created yet); -EINVAL (bad topic); -errno.
 */
int shmq_store_cq_fd(shmq_store_t *s, const char *topic, uint32_t queue, uint32_t file_index,
		     int *fd, uint32_t *entries_per_file);

uint64_t shmq_store_min_offset(shmq_store_t *s);     /**< first byte still stored */
uint64_t shmq_store_max_offset(shmq_store_t *s);     /**< end of the written log */
uint64_t shmq_store_flushed_offset(shmq_store_t *s); /**< end of the durable log */

/**
 * @brief Delete segments older than retention_ms (by the newest store
 * timestamp they hold, else mtime) and, while statvfs(dir) is above
 * disk_max_used_ratio, the oldest segments; never the active one. Then the
 * consumequeue and index files made obsolete.
 * @param now_ms wall clock (a parameter so tests control age).
 * @return segments deleted, or -errno.
 */
int shmq_store_run_retention(shmq_store_t *s, uint64_t now_ms);

const struct shmq_store_recovery_report *shmq_store_recovery(const shmq_store_t *s);
void shmq_store_report_print(const struct shmq_store_recovery_report *r, FILE *f);
const char *shmq_store_recovery_reason_str(int reason);
void shmq_store_stats(shmq_store_t *s, struct shmq_store_stats *out);

/** @brief The 64-bit hash of a tag string stored in consumequeue entries. */
uint64_t shmq_store_tag_hash(const char *tags, size_t len);

/**
 * Test-only fault injection (S4 tests): the next commitlog flush behaves as if
 * fdatasync() returned @p neg_errno (e.g. -EIO). 0 disarms.
 */
void shmq_store_test_fail_next_flush(shmq_store_t *s, int neg_errno);

#ifdef __cplusplus
}
#endif
#endif
