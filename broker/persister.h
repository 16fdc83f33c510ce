/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/persister.h
 * @brief The persister: drains every ring into the store.
 *
 * ## Contract
 *
 * One persister per store; it is the store's only appender and the gating
 * reader of every ring added to it (include/shmq/ring.h roles).
 *
 * Threads: shmq_persister_add_ring(), _remove_ring(), _stats() may be called
 * from any thread at any time; they serialise with a round on one mutex
 * (a round holds it for at most one pass plus, with one ring, one idle wait
 * of opts.idle_wait_ns). shmq_persister_poll_once() runs one round in the
 * caller; do not call it while the persister's own thread runs (start/stop).
 * create/destroy: alone.
 *
 * A round, for every ring not fenced:
 *  1. shmq_ring_gate_read() up to opts.batch_max messages (>= a whole batch
 *     record, SHMQ_RING_BATCH_MAX); records of dead producers are padded out
 *     there after the ring's unblock timeout (G6).
 *  2. copy each payload out of shared memory, then decode it
 *     (common/ringmsg.h): the producer could rewrite bytes it committed, so
 *     the store only ever sees the private copy. A corrupt message fences the
 *     ring (shmq_ring_fence, logged, counted); messages before it are still
 *     persisted; the other rings keep going.
 *  3. publish the anchor, THEN append (one shmq_store_append for the ring).
 *  4. write each appended message's commitlog offset and queue offset into
 *     its result words in the ring (P3).
 *  5. once every message read in step 1 is in the store: PERSISTED mark =
 *     next ring position, shmq_ring_gate_consume().
 *  Then the durable marks: sync mode (opts.sync) waits for a group commit
 *  (shmq_store_wait_durable() of the log end) once per round that appended;
 *  async mode reads shmq_store_flushed_offset(). Each ring keeps a FIFO of
 *  (log end after its append, ring position); entries at or below the
 *  flushed offset become the FLUSHED mark, waking shmq_ring_wait_mark().
 *
 * ## Anchor semantics (P1)
 * anchor = (pos, qo): the record starting at ring position @c pos is the
 * first record not yet consumed by the persister, and its first message has
 * queue offset @c qo. Message i of a batch record has qo + i; each later
 * record adds its message count. Readers count from it. It is published
 * before the append that gives these offsets, so it is always the truth
 * about the next queue offsets of the ring, even if the append then fails
 * (it is retried with the same offsets) or the broker dies.
 *
 * ## Result words (P3)
 * After shmq_store_append() returned, and before the PERSISTED mark passes
 * the record, the persister writes the store's (commitlog offset, queue
 * offset) of every appended message into that message's payload IN THE
 * RING (shmq_ringmsg_result_set(), common/ringmsg_layout.h). It may: it is
 * the gating reader and has not consumed the record, so no producer can
 * reuse the bytes, and the record is committed, so its producer is done
 * with it. Hence: a reader that acquired the PERSISTED mark past a record
 * (shmq_ring_wait_mark(), shmq_ring_mark()) and finds the record not
 * reclaimed (shmq_ring_read_check()) reads its final offsets there. A
 * message the store refused, and the messages of a fenced ring from the
 * corrupt one on, keep SHMQ_RINGMSG_RESULT_NONE. After a restart, messages
 * found already stored (P2) keep the words their first run wrote; those it
 * did not write yet (it died between append and write-back) are filled from
 * the store when the stored record at the expected queue offset has the same
 * (producer id, producer seq) — best effort, else they stay NONE.
 *
 * ## Exactly once across restarts (P2)
 * Invariant: every message of the ring before `consumed` is in the store;
 * from `consumed` on, the store holds a prefix of what the ring holds, and
 * that prefix is non-empty only if the anchor's pos equals the first record
 * at `consumed` (because an append happens only after its anchor). On the
 * first read after add_ring, with M = the store's next queue offset of the
 * queue (after store recovery):
 *  - anchor.pos == first record at consumed: the first M - anchor.qo
 *    messages are already stored and are skipped (checked against the
 *    (producer id, producer seq) of the last stored record; a mismatch is
 *    logged and counted);
 *  - anchor.pos < that record, or no anchor: nothing is stored yet, skip 0;
 *  - anchor torn (a broker died mid-publish) or pointing past: fall back to
 *    finding the last stored (producer id, seq) among the unconsumed
 *    messages, skip through it if found.
 * A store that lost records the ring already consumed (power loss with
 * async flush; the tmpfs ring is lost with it, in practice) cannot be
 * repaired from the ring: it is logged ("store behind anchor").
 *
 * ## Errors
 *  - -ENOSPC from the store (S5): the records stay in the ring (not
 *    consumed), retried next round; producers see back-pressure.
 *  - SHMQ_ETOOBIG / -EINVAL for one message (valid ring message the store
 *    refuses, e.g. larger than its max_msg_size): that message is dropped,
 *    logged and counted (stats.rejected); the queue goes on.
 *  - SHMQ_EPOISONED (S4): the persister stops persisting; poll_once returns
 *    it from then on and stats.poisoned holds it. Reopen the store.
 *
 * ## Idle waiting
 * With one ring: shmq_ring_gate_wait() up to idle_wait_ns (futex, wakes on a
 * commit: lowest latency, no CPU). With several: sleeps backing off from
 * 20 us to idle_wait_ns (a persister cannot sleep on N futexes; worst-case
 * added latency idle_wait_ns, default 1 ms, for near-zero idle CPU).
 */
#ifndef SHMQ_BROKER_PERSISTER_H
#define SHMQ_BROKER_PERSISTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/store/store.h"
#include "shmq/ring.h"

typedef struct shmq_persister shmq_persister_t;

struct shmq_persister_opts {
	size_t sz;               /**< sizeof(struct shmq_persister_opts) */
	uint32_t batch_max;      /**< messages read per ring per round; default and min SHMQ_RING_BATCH_MAX */
	uint64_t idle_wait_ns;   /**< longest idle wait; default 1 ms */
	bool sync;               /**< group commit every round (store in SHMQ_FLUSH_SYNC) */
	uint64_t sync_timeout_ns;/**< longest wait for one group commit; default 5 s */
};
#define SHMQ_PERSISTER_OPTS(name, ...) \
	struct shmq_persister_opts name = { .sz = sizeof(struct shmq_persister_opts), __VA_ARGS__ }

struct shmq_persister_stats {
	uint64_t rounds;
	uint64_t messages;        /**< appended to the store */
	uint64_t appends;         /**< shmq_store_append calls that appended */
	uint64_t bytes;           /**< payload bytes read from rings */
	uint64_t corrupt;         /**< corrupt messages/rings seen */
	uint64_t fenced_rings;
	uint64_t enospc;          /**< rounds that met -ENOSPC */
	uint64_t store_errors;    /**< other append errors (retried) */
	uint64_t rejected;        /**< messages the store refused, dropped */
	uint64_t restart_skipped; /**< messages found already stored at add_ring */
	uint64_t restart_mismatch;/**< restart check failed (logged) */
	uint64_t offset_gaps;     /**< store gave a queue offset we did not expect */
	uint64_t group_commits;   /**< sync mode waits */
	uint64_t idle_waits;
	uint32_t rings;
	int poisoned;             /**< 0 or SHMQ_EPOISONED */
};

/** @return 0, -EINVAL, -ENOMEM. The store stays the caller's. */
int shmq_persister_create(shmq_store_t *store, const struct shmq_persister_opts *opts,
			  shmq_persister_t **out);
/** @brief Stops the thread if running. Accepts NULL. Rings stay the caller's. */
void shmq_persister_destroy(shmq_persister_t *p);

/**
 * @brief Drain @p ring into (topic, queue_id) from now on. The ring handle
 * must outlive its membership (remove_ring or destroy). Reads the store's
 * queue offsets for the restart check (P2).
 * @return 0; -EEXIST (ring or queue already added); -EINVAL; -ENOMEM;
 *         a store error.
 */
int shmq_persister_add_ring(shmq_persister_t *p, const char *topic, uint32_t queue_id,
			    shmq_ring_t *ring);
/** @return 0 or SHMQ_ENOTFOUND. On return the persister no longer touches the ring. */
int shmq_persister_remove_ring(shmq_persister_t *p, shmq_ring_t *ring);

/** @return 0, -EBUSY (already running), -errno of pthread_create. */
int shmq_persister_start(shmq_persister_t *p);
/** @brief Finish the current round and join. No-op if not running. */
void shmq_persister_stop(shmq_persister_t *p);

/**
 * @brief One round over all rings in the calling thread (no idle wait).
 * @return messages appended (>= 0), or SHMQ_EPOISONED.
 */
int shmq_persister_poll_once(shmq_persister_t *p);

/**
 * @brief Ask the persister thread for a round now instead of at the end of
 *        its current nap (a writer that waits for PERSISTED, e.g. the remote
 *        port after a PRODUCE). Any thread; a syscall only if it naps.
 */
void shmq_persister_kick(shmq_persister_t *p);

/** @brief Is @p ring fenced by this persister? */
bool shmq_persister_ring_fenced(shmq_persister_t *p, shmq_ring_t *ring);

void shmq_persister_stats(shmq_persister_t *p, struct shmq_persister_stats *st);

#endif
