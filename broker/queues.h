/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/queues.h
 * @brief The broker's rings: one ring file per (topic, queue), created with
 *        the topic or re-opened at start, each handed to the persister.
 *
 * Ring files are `<ring_dir>/<topic>.<queue>.ring` (mode 0600, tmpfs
 * advised). They outlive the broker: a restarted broker attaches the file it
 * finds (keeping its capacity and unblock timeout, whatever the config says
 * now) and the persister then persists what was committed but not yet
 * persisted (broker/persister.h P2). A file that is not a valid ring
 * (SHMQ_ELAYOUT / SHMQ_ECORRUPT at attach) is renamed to `<name>.bad`,
 * logged, and replaced by a new ring: its contents cannot be trusted anyway.
 *
 * The table is kept sorted by (topic, queue) (strcmp, then queue id), the
 * order of RING_STATUS pages.
 *
 * Thread safety: none; the broker's event-loop thread owns the table. The
 * persister holds its own references to the rings (it is told about each
 * ring once, and destroy removes them from it before closing).
 */
#ifndef SHMQ_BROKER_QUEUES_H
#define SHMQ_BROKER_QUEUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/persister.h"
#include "shmq/ring.h"

typedef struct shmq_queues shmq_queues_t;

struct shmq_queues_opts {
	const char *ring_dir;        /**< existing directory */
	uint64_t capacity;           /**< new rings: data bytes, power of two */
	uint32_t max_msg;            /**< new rings: largest payload */
	uint64_t unblock_timeout_ns; /**< new rings: G6 timeout */
};

/** One ring of the table. */
struct shmq_queue_ring {
	char topic[128];
	uint32_t queue;
	bool reopened;               /**< attached an existing file at open */
	shmq_ring_t *ring;
	int guard;                   /**< common/shm_guard.h slot, or -1 */
};

/** @return 0, -EINVAL, -ENOMEM. @p p stays the caller's and must outlive the table. */
int shmq_queues_create(const struct shmq_queues_opts *o, shmq_persister_t *p,
		       shmq_queues_t **out);

/** @brief Remove every ring from the persister, unmap them. Files stay. Accepts NULL. */
void shmq_queues_destroy(shmq_queues_t *q);

/**
 * @brief Make sure queues 0..@p queues-1 of @p topic have a ring in the
 * table and in the persister: attach existing files, create missing ones.
 * Idempotent; queues already in the table are left alone.
 * @return the number of rings added (>= 0); -ENAMETOOLONG; -EINVAL; a ring
 *         or persister error (rings added before the failure stay).
 */
int shmq_queues_open_topic(shmq_queues_t *q, const char *topic, uint32_t queues);

/** @brief The ring of (topic, queue), or NULL. O(log n). */
shmq_ring_t *shmq_queues_get(const shmq_queues_t *q, const char *topic, uint32_t queue);

/** @brief Rings in the table. */
size_t shmq_queues_count(const shmq_queues_t *q);

/** @brief Ring @p i in (topic, queue) order, i < count. */
const struct shmq_queue_ring *shmq_queues_at(const shmq_queues_t *q, size_t i);

#endif
