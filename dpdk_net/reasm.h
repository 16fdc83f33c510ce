/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_net/reasm.h
 * @brief Reassembly of fragmented messages (frame_layout.h), bounded.
 *
 * One reassembler per peer session (and one per client), so a peer can only
 * spend its own budget. A partial message is keyed by (session, request id,
 * type) and fixed by its first fragment's (msg_len, frag_size, frag_count):
 *  - fragments may arrive in any order and from several attempts (a resend
 *    fills the holes the first transmission left);
 *  - a fragment already held is a duplicate: dropped, counted (-EALREADY);
 *  - a fragment disagreeing on msg_len or frag_size would overlap others:
 *    dropped, counted, the partial kept (-EBADMSG);
 *  - memory: at most max_msgs partials and max_bytes of buffers (body +
 *    bitmap). A message that could never fit is refused (-ENOBUFS); to start
 *    one that fits, the oldest partials are evicted (counted);
 *  - a partial older than timeout_ns (since its first fragment) is freed by
 *    shmq_net_reasm_expire() (counted).
 * Not thread-safe: one poller owns it.
 */
#ifndef SHMQ_DPDK_NET_REASM_H
#define SHMQ_DPDK_NET_REASM_H

#include <stddef.h>
#include <stdint.h>

#include "dpdk_net/frame_codec.h"

struct shmq_net_reasm;

struct shmq_net_reasm_opts {
	size_t sz;              /**< sizeof(struct shmq_net_reasm_opts) */
	size_t max_bytes;       /**< buffer budget; 0 = 2 * SHMQ_NET_MSG_MAX */
	uint32_t max_msgs;      /**< partial messages at once; 0 = 16 */
	uint64_t timeout_ns;    /**< partial lifetime; 0 = 5 s */
};
#define SHMQ_NET_REASM_OPTS(name, ...) \
	struct shmq_net_reasm_opts name = { .sz = sizeof(struct shmq_net_reasm_opts), __VA_ARGS__ }

struct shmq_net_reasm_stats {
	uint64_t completed;     /**< messages handed out (fragmented ones) */
	uint64_t duplicates;    /**< fragments already held */
	uint64_t conflicts;     /**< fragments disagreeing with their partial */
	uint64_t refused;       /**< messages larger than the whole budget */
	uint64_t evicted;       /**< partials evicted to make room */
	uint64_t expired;       /**< partials timed out */
};

/** A complete message. body points into the frame (owned == NULL, valid as
 *  long as the frame) or into a heap buffer the caller frees with
 *  shmq_net_reasm_msg_free(). body is 8-aligned when the frame buffer is. */
struct shmq_net_reasm_msg {
	const uint8_t *body;
	uint32_t len;
	void *owned;
};

/** @return 0, -EINVAL, -ENOMEM. */
int shmq_net_reasm_create(const struct shmq_net_reasm_opts *opts, struct shmq_net_reasm **out);
/** @brief Free every partial and @p r (NULL allowed). */
void shmq_net_reasm_destroy(struct shmq_net_reasm *r);

/**
 * @brief Add one validated frame @p f received at @p now_ns.
 * @return 1 and @p out filled when it completes a message (a one-frame
 *         message completes at once, without a copy); 0 when stored;
 *         -EALREADY (duplicate), -EBADMSG (conflicting), -ENOBUFS (message
 *         beyond the budget), -ENOMEM.
 */
int shmq_net_reasm_add(struct shmq_net_reasm *r, const struct shmq_net_frame *f, uint64_t now_ns,
		       struct shmq_net_reasm_msg *out);

/** @brief Free partials whose first fragment is older than the timeout.
 *  @return how many were freed. */
unsigned shmq_net_reasm_expire(struct shmq_net_reasm *r, uint64_t now_ns);

/** @brief Forget the partial (session, request, type) if any (the request
 *  was answered or abandoned). @return 1 if one was freed, else 0. */
int shmq_net_reasm_forget(struct shmq_net_reasm *r, uint64_t session_id, uint64_t request_id,
			  uint16_t type);

/** @brief Bytes held by partials now; partials held now. */
size_t shmq_net_reasm_bytes(const struct shmq_net_reasm *r);
unsigned shmq_net_reasm_partials(const struct shmq_net_reasm *r);
void shmq_net_reasm_stats(const struct shmq_net_reasm *r, struct shmq_net_reasm_stats *st);

/** @brief Release a completed message (no-op for a one-frame message). */
void shmq_net_reasm_msg_free(struct shmq_net_reasm_msg *m);

#endif
