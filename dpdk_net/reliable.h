/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_net/reliable.h
 * @brief Request/response reliability, independent of the backend.
 *
 * Three pieces, used by both ends of a session (dpdk_net/endpoint.c) and by
 * the broker's request handlers:
 *  - requester (client): every request is retried with exponential backoff
 *    (rto_initial, doubling, capped at rto_max) until answered or its
 *    deadline passes; a late or duplicate response finds no request and is
 *    dropped. Request ids are allocated increasing from 1 per requester.
 *  - dedup (server, one per session): remembers the answers to the most
 *    recent requests; a resent request is answered from the cache (resent at
 *    most once per new attempt number, so the N fragments of one resend
 *    trigger one answer), a request still being served (long poll) is
 *    ignored, and a request older than everything remembered is STALE: it
 *    was served, but its answer is gone. The server never re-executes an
 *    old id (a late network duplicate could undo newer work); it answers
 *    ERROR -ESTALE and the client re-issues the request under a new id,
 *    which is safe because every request is idempotent at its own level
 *    (PRODUCE by producer sequence, PULL by offset, COMMIT by value).
 *  - idem (server, one per broker): PRODUCE made idempotent across sessions
 *    by (producer id, stream) -> next expected sequence. A batch whose first
 *    sequence is below it carries duplicates (answered with the offsets kept
 *    in a bounded history); above it is a gap, refused (SHMQ_ESEQGAP) so the
 *    per-producer order holds. An unknown producer may start at any
 *    sequence (the table is soft state: a restarted broker rebuilds it from
 *    the commitlog, or the producer's first batch starts it).
 * None is thread-safe: one poller owns each.
 */
#ifndef SHMQ_DPDK_NET_RELIABLE_H
#define SHMQ_DPDK_NET_RELIABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- requester ---- */

struct shmq_net_requester;

struct shmq_net_retry_opts {
	size_t sz;               /**< sizeof(struct shmq_net_retry_opts) */
	uint64_t rto_initial_ns; /**< first retransmission timeout; 0 = 20 ms */
	uint64_t rto_max_ns;     /**< backoff cap; 0 = 1 s */
	uint64_t deadline_ns;    /**< give up after this long; 0 = 30 s */
	uint32_t max_outstanding;/**< requests in flight; 0 = 64 */
};
#define SHMQ_NET_RETRY_OPTS(name, ...) \
	struct shmq_net_retry_opts name = { .sz = sizeof(struct shmq_net_retry_opts), __VA_ARGS__ }

/** A request whose timer fired. */
struct shmq_net_req_due {
	uint64_t request_id;
	void *ctx;
	uint16_t attempt;        /**< the attempt to send now (>= 2) */
	bool expired;            /**< deadline passed: forgotten; fail it with -ETIMEDOUT */
};

int shmq_net_req_create(const struct shmq_net_retry_opts *opts, struct shmq_net_requester **out);
void shmq_net_req_destroy(struct shmq_net_requester *rq);
/** @brief The next request id (1, 2, ...). */
uint64_t shmq_net_req_new_id(struct shmq_net_requester *rq);
/** @brief Track request @p id, first sent (attempt 1) at @p now_ns.
 *  @return 0; -EBUSY (max_outstanding in flight); -EEXIST. */
int shmq_net_req_track(struct shmq_net_requester *rq, uint64_t id, uint64_t now_ns, void *ctx);
/**
 * @brief Collect up to @p max requests whose timer fired at @p now_ns: each
 *        is either re-armed with the next attempt (doubled timeout) for the
 *        caller to resend, or expired and forgotten.
 * @return how many entries of @p out were filled.
 */
unsigned shmq_net_req_due(struct shmq_net_requester *rq, uint64_t now_ns, struct shmq_net_req_due *out,
			  unsigned max);
/** @brief A response for @p id arrived: forget it. @return 0 (and its ctx
 *  in @p ctx if non-NULL) or -ENOENT (unknown, late or duplicate). */
int shmq_net_req_done(struct shmq_net_requester *rq, uint64_t id, void **ctx);
/** @brief Current attempt of @p id, or -ENOENT. */
int shmq_net_req_attempt(const struct shmq_net_requester *rq, uint64_t id);
/** @brief Earliest timer, UINT64_MAX when nothing is in flight. */
uint64_t shmq_net_req_next_timer(const struct shmq_net_requester *rq);
unsigned shmq_net_req_outstanding(const struct shmq_net_requester *rq);

/* ---- dedup ---- */

struct shmq_net_dedup;

enum shmq_net_dedup_state {
	SHMQ_NET_DEDUP_NEW = 0,      /**< never seen: serve it (call _begin) */
	SHMQ_NET_DEDUP_PENDING = 1,  /**< being served: ignore the resend */
	SHMQ_NET_DEDUP_ANSWERED = 2, /**< answered: resend the cached response */
	SHMQ_NET_DEDUP_STALE = 3,    /**< answer evicted: reply ERROR -ESTALE */
};

struct shmq_net_dedup_opts {
	size_t sz;               /**< sizeof(struct shmq_net_dedup_opts) */
	uint32_t slots;          /**< requests remembered; 0 = 128 */
	size_t max_bytes;        /**< cached response bytes; 0 = 2 * SHMQ_NET_MSG_MAX */
};
#define SHMQ_NET_DEDUP_OPTS(name, ...) \
	struct shmq_net_dedup_opts name = { .sz = sizeof(struct shmq_net_dedup_opts), __VA_ARGS__ }

/** A cached answer (valid until the next call on the cache). */
struct shmq_net_dedup_answer {
	uint16_t type;
	const uint8_t *body;
	uint32_t len;
};

int shmq_net_dedup_create(const struct shmq_net_dedup_opts *opts, struct shmq_net_dedup **out);
void shmq_net_dedup_destroy(struct shmq_net_dedup *d);
/**
 * @brief State of request @p id seen in its @p attempt. For ANSWERED, fills
 *        @p ans and returns ANSWERED only the first time a given attempt
 *        number above every previous one asks (else PENDING: the answer to
 *        that attempt was already resent).
 */
enum shmq_net_dedup_state shmq_net_dedup_lookup(struct shmq_net_dedup *d, uint64_t id, uint16_t attempt,
						struct shmq_net_dedup_answer *ans);
/** @brief Mark @p id as being served. @return 0, -EEXIST, -EBUSY (every slot
 *  pending: drop the request, the client retries). */
int shmq_net_dedup_begin(struct shmq_net_dedup *d, uint64_t id);
/** @brief Cache the answer to @p id (copied), sent in reply to @p attempt.
 *  @return 0, -ENOENT (not begun), -EMSGSIZE (larger than the budget),
 *  -ENOMEM. */
int shmq_net_dedup_answer(struct shmq_net_dedup *d, uint64_t id, uint16_t attempt, uint16_t type,
			  const void *body, uint32_t len);
size_t shmq_net_dedup_bytes(const struct shmq_net_dedup *d);

/* ---- idempotent produce ---- */

struct shmq_net_idem;

struct shmq_net_idem_opts {
	size_t sz;               /**< sizeof(struct shmq_net_idem_opts) */
	uint32_t producers;      /**< (producer, stream) pairs; 0 = 1024; LRU beyond */
	uint32_t history;        /**< offsets kept per pair; 0 = 1024 */
};
#define SHMQ_NET_IDEM_OPTS(name, ...) \
	struct shmq_net_idem_opts name = { .sz = sizeof(struct shmq_net_idem_opts), __VA_ARGS__ }

int shmq_net_idem_create(const struct shmq_net_idem_opts *opts, struct shmq_net_idem **out);
void shmq_net_idem_destroy(struct shmq_net_idem *t);
/**
 * @brief Classify a batch [first_seq, first_seq + count) of @p producer_id on
 *        @p stream (the broker's id of the topic queue).
 * @param dups out: how many leading messages are already stored (0..count);
 *        append the rest, answer these from shmq_net_idem_lookup().
 * @param next out: the next sequence expected.
 * @return 0, or SHMQ_ESEQGAP (first_seq beyond the next expected: refuse the
 *         batch, tell the producer @p next).
 */
int shmq_net_idem_check(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t first_seq,
			uint32_t count, uint32_t *dups, uint64_t *next);
/** @brief Record that @p seq was stored at (@p queue_offset, @p store_offset).
 *  @return 0, SHMQ_ESEQGAP (not the next expected: nothing recorded),
 *  -ENOMEM. */
int shmq_net_idem_record(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t seq,
			 uint64_t queue_offset, uint64_t store_offset);
/**
 * @brief After a broker restart: @p seq of the stream was found stored at
 *        these offsets (the store's message records), in any order. The
 *        stream's next expected sequence becomes at least @p seq + 1, so a
 *        resend of it is answered as a duplicate instead of written again;
 *        offsets of the last `history` sequences are kept (a sequence never
 *        seeded is a duplicate with unknown offsets).
 * @return 0, -EINVAL (producer id 0), -ENOMEM.
 */
int shmq_net_idem_seed(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t seq,
		       uint64_t queue_offset, uint64_t store_offset);
/**
 * @brief The stream belongs to the first principal (@p owner, a hash of its
 *        name; 0 = do not check) that claims it once it exists: a producer id
 *        travels in every message, and a principal that learned another's
 *        could otherwise pre-empt its sequences (its batches then answered
 *        as duplicates of the impostor's). Streams seeded after a restart
 *        are unowned until their first claim.
 * @return 0 (unknown stream, unowned: now ours, or ours); -EACCES.
 */
int shmq_net_idem_claim(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t owner);
/** @brief Offsets of an earlier @p seq. @return 0 or SHMQ_ENOTFOUND (never
 *  stored, or beyond the history: the caller answers SHMQ_OFFSET_UNKNOWN). */
int shmq_net_idem_lookup(struct shmq_net_idem *t, uint64_t producer_id, uint64_t stream, uint64_t seq,
			 uint64_t *queue_offset, uint64_t *store_offset);

#endif
