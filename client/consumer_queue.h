/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file client/consumer_queue.h
 * @brief The read cursor of one consumed queue: ring or commitlog, whichever
 *        holds its next message.
 *
 * ## Contract
 * A cursor delivers the messages of one (topic, queue) in queue-offset order,
 * each exactly once per pass, from one of two sources:
 *  - RING: (rpos, rskip, cur_qo) = the ring record at rpos, of which rskip
 *    messages are behind us, whose message rskip has queue offset cur_qo.
 *    Queue offsets are counted from the persister's anchor (broker/
 *    persister.h P1) and, from there, by counting messages in ring order
 *    (every reader sees the same order, ring.h G3).
 *  - LOG: next_qo, read through the consumequeue and the commitlog (struct
 *    shmq_logsrc). Used while the cursor is behind the ring.
 *
 * Transitions (Q1..Q4, cited by the tests):
 *  - **Q1 LOG -> RING** when next_qo >= anchor.queue_offset: the cursor joins
 *    the ring at anchor.pos and silently passes the messages below next_qo
 *    (the log may have been a little ahead of the anchor: the persister
 *    publishes the anchor before its append).
 *  - **Q2 RING -> LOG** when the ring reports SHMQ_EOVERRUN (the producers
 *    lapped us), including an overrun found by shmq_ring_read_check() after
 *    copying: the copies of that fetch are dropped and the cursor resumes at
 *    the first of them from the log, so nothing is skipped or repeated.
 *  - **Q3 visibility**: IMMEDIATE delivers committed ring records; PERSISTED
 *    only records whose end <= the ring's PERSISTED mark; DURABLE only those
 *    whose end <= its FLUSHED mark. From the log, IMMEDIATE and PERSISTED
 *    deliver every consumequeue entry; DURABLE only entries whose record end
 *    <= the commitlog's flushed offset as last learned (refreshed from the
 *    source at most every 5 ms while it is the obstacle).
 *  - **Q4 untrusted bytes**: a ring message that fails shmq_ringmsg_decode()
 *    is skipped and counted (it takes no queue offset: the persister would
 *    not store it); a log entry whose record does not decode, or names
 *    another queue or queue offset, is skipped and counted. Nothing read from
 *    shared memory or a file can crash the cursor.
 *
 * Copy vs. zero copy: a copy-mode delivery owns its bytes (in the caller's
 * shmq_cbuf) and was validated AFTER copying (decode of the private copy,
 * then shmq_ring_read_check()). A zero-copy delivery points into the ring;
 * the caller re-checks it later with shmq_ring_read_check(ring, pos). Log
 * deliveries are always copies (store records are not NUL-terminated).
 *
 * Not thread safe: one cursor belongs to one thread at a time.
 */
#ifndef SHMQ_CLIENT_CONSUMER_QUEUE_H
#define SHMQ_CLIENT_CONSUMER_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/store/store.h"
#include "client/consumer_buf.h"
#include "shmq/ring.h"
#include "shmq/shmq.h"

/** Read-only access to the stored queue (commitlog + consumequeue). In
 * libshmq it wraps the logreader (client_int.h); tests may wrap a store. */
struct shmq_logsrc {
	void *arg;
	/** oldest stored queue offset and the next one to be stored */
	int (*bounds)(void *arg, const char *topic, uint32_t queue, uint64_t *min, uint64_t *max);
	/** 0; SHMQ_ENOTFOUND past the end; SHMQ_ESTALE below the oldest kept */
	int (*cq_get)(void *arg, const char *topic, uint32_t queue, uint64_t qo,
		      uint64_t *cl_offset, uint32_t *size);
	/** decode (CRC checked) the record at cl_offset */
	int (*read)(void *arg, uint64_t cl_offset, struct shmq_store_view *v);
	/** NULL, or release a view after it was copied */
	void (*release)(void *arg, struct shmq_store_view *v);
	/** flushed commitlog offset, @p refresh = ask for a fresh value */
	uint64_t (*flushed)(void *arg, bool refresh);
};

enum shmq_qc_src { SHMQ_QC_LOG = 0, SHMQ_QC_RING = 1 };

/** One delivered message and where it came from (to re-check or rewind). */
struct shmq_qc_msg {
	struct shmq_msg_view v;
	uint64_t ring_pos;   /**< record position; UINT64_MAX for log deliveries */
	uint16_t ring_index; /**< place in its batch record */
	bool zero_copy;      /**< v points into the ring */
};

struct shmq_qc_stats {
	uint64_t from_ring, from_log, overruns, corrupt, stale_skipped, qo_mismatch;
};

struct shmq_qcursor {
	/* configuration (set by shmq_qc_init) */
	const char *topic;          /**< NUL-terminated, outlives the cursor */
	uint32_t queue;
	uint32_t broker_id;         /**< for message ids */
	shmq_ring_t *ring;          /**< not owned; may be replaced with shmq_qc_set_ring() */
	const struct shmq_logsrc *log;
	enum shmq_visibility vis;
	bool zero_copy;
	/* position */
	enum shmq_qc_src src;
	uint64_t next_qo;           /**< queue offset of the next message to deliver */
	uint64_t rpos;              /**< RING: record holding message cur_qo */
	uint32_t rskip;             /**< RING: messages of that record behind us */
	uint64_t cur_qo;            /**< RING: queue offset of (rpos, rskip) */
	uint64_t flushed;           /**< DURABLE in LOG: last flushed offset learned */
	uint64_t flushed_at_ns;
	struct shmq_qc_stats st;
};

void shmq_qc_init(struct shmq_qcursor *c, const char *topic, uint32_t queue, uint32_t broker_id,
		  shmq_ring_t *ring, const struct shmq_logsrc *log, enum shmq_visibility vis,
		  bool zero_copy);

/** @brief Use another ring handle (re-attached after a reconnect); the
 * position is kept as a queue offset (the cursor goes to LOG, Q1 rejoins). */
void shmq_qc_set_ring(struct shmq_qcursor *c, shmq_ring_t *ring);

/** @brief Next delivery is queue offset @p qo (from the log, then Q1). */
void shmq_qc_seek(struct shmq_qcursor *c, uint64_t qo);
/** @brief The oldest stored message. @return 0 or a source error. */
int shmq_qc_seek_earliest(struct shmq_qcursor *c);
/** @brief Only messages committed to the ring after this call. @return 0 or an error. */
int shmq_qc_seek_latest(struct shmq_qcursor *c);
/** @brief First message stored at or after @p ts_ms (binary search over the
 * store timestamps of the consumequeue's records); the end of the stored
 * queue if none. @return 0 or an error. */
int shmq_qc_seek_timestamp(struct shmq_qcursor *c, uint64_t ts_ms);

/**
 * @brief Deliver up to @p max messages into @p out.
 * @param buf copies go there (valid until its reset).
 * @param scratch SHMQ_RING_BATCH_MAX entries of scratch space (a batch
 *        record is read whole).
 * @return messages delivered (0: nothing visible now); a negative error of
 *         the log source when nothing could be delivered (-ENOMEM, ...).
 */
int shmq_qc_fetch(struct shmq_qcursor *c, struct shmq_cbuf *buf, struct shmq_qc_msg *out,
		  unsigned max, struct shmq_ring_msg *scratch);

/** @brief Deliver @p m again next (push retry, or a failed zero-copy check:
 * @p to_log forces the log). Later deliveries follow it again. */
void shmq_qc_rewind(struct shmq_qcursor *c, const struct shmq_qc_msg *m, bool to_log);

/**
 * @brief Sleep until this cursor may have something new, at most
 * @p timeout_ns: RING -> the ring's futex (data, or the mark of the
 * visibility level); LOG -> a plain sleep of min(timeout, 1 ms).
 */
void shmq_qc_wait(struct shmq_qcursor *c, uint64_t timeout_ns);

/**
 * A cheap hint for busy-polling: could a fetch deliver something now? RING
 * (positioned): the ring's tail, or the mark of the visibility level, is past
 * the cursor (a few loads of the ring header, no record read). LOG: true (the
 * fetch itself finds out). A true answer may still fetch nothing (a record
 * reserved but not committed yet); a false one is never wrong for long.
 */
bool shmq_qc_ready(const struct shmq_qcursor *c);

#endif
