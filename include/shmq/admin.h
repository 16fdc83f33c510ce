/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file shmq/admin.h
 * @brief Administration through a libshmq client (what shmqctl uses).
 *
 * Thread safety: as shmq_client_t (any thread; requests serialised).
 * Rights: topic list/describe and status need none beyond a connection;
 * reset and topic create need the admin right on the topic; message reads
 * and group progress need the consume right.
 */
#ifndef SHMQ_ADMIN_H
#define SHMQ_ADMIN_H

#include <stdint.h>

#include "shmq/shmq.h"

#ifdef __cplusplus
extern "C" {
#endif

struct shmq_broker_status {
	uint64_t uptime_ns;
	uint64_t commitlog_min_offset;
	uint64_t commitlog_max_offset;
	uint64_t commitlog_flushed_offset;
	uint64_t disk_total;
	uint64_t disk_free;
	uint64_t store_bytes;
	uint64_t messages;        /**< persisted by this broker run */
	uint32_t topics;
	uint32_t clients;
	uint32_t rings;
	uint32_t fenced_rings;
	uint32_t pid;
	uint32_t flush_mode;      /**< 0 async, 1 sync */
	uint32_t broker_id;
	char broker_name[128];
	/** The remote port (`[net] listen`); zeros when it is off. */
	struct {
		uint32_t sessions;       /**< live now */
		uint32_t members;        /**< remote group members holding a lease */
		uint64_t frames;
		uint64_t garbage;        /**< undecodable frames, foreign versions */
		uint64_t hello_refused;  /**< forged, replayed or stale HELLOs */
		uint64_t requests;
		uint64_t errors;         /**< requests answered with a failure */
		uint64_t produced;       /**< messages written to rings */
		uint64_t produce_dups;   /**< resends answered as already stored */
		uint64_t pulled;
		uint64_t leases_expired;
	} remote;
	/** Shared files (rings, offset tables) a client shrank under the broker:
	 * each fenced instead of crashing it. */
	uint64_t guard_trips;
};
int shmq_admin_status(shmq_client_t *c, struct shmq_broker_status *out);

struct shmq_ring_status {
	char topic[128];
	uint32_t queue;
	bool fenced;
	uint64_t capacity;
	uint64_t tail, consumed, persisted, flushed;
	uint64_t next_queue_offset;
	uint64_t unblocked;
};
/** @brief Every ring; *out is malloc'd (free()), *n its length. */
int shmq_admin_rings(shmq_client_t *c, struct shmq_ring_status **out, size_t *n);

/** @brief Every topic, sorted by name; *out malloc'd. */
int shmq_admin_topics(shmq_client_t *c, struct shmq_topic_info **out, size_t *n);

struct shmq_queue_progress {
	uint32_t queue;
	uint64_t committed;       /**< SHMQ_OFFSET_UNKNOWN: never committed */
	uint64_t min_offset, max_offset;
	uint64_t lag;             /**< max_offset - committed (max - min if never committed) */
	uint64_t owner;           /**< member id, 0 = none */
};
struct shmq_group_progress {
	uint32_t generation, members, mode; /**< mode: 0 = group unknown to the broker */
	uint32_t queues;
	struct shmq_queue_progress q[]; /**< queues entries */
};
/** @brief *out malloc'd (free()). */
int shmq_admin_group_progress(shmq_client_t *c, const char *group, const char *topic,
			      struct shmq_group_progress **out);

/** @brief Move a group's offsets on every queue: to the first message
 * stored at or after @p ts_ms (SHMQ_START_TIMESTAMP), or EARLIEST/LATEST.
 * @p out (may be NULL) receives the new progress, malloc'd. */
int shmq_admin_group_reset(shmq_client_t *c, const char *group, const char *topic,
			   enum shmq_start where, uint64_t ts_ms, struct shmq_group_progress **out);

/** A message read from the commitlog. Release with shmq_admin_msg_free(). */
struct shmq_admin_msg {
	struct shmq_msg_view v;    /**< topic points into this struct */
	uint64_t store_ts_ms;
	uint32_t size;             /**< record bytes */
	void *priv_;
};
void shmq_admin_msg_free(struct shmq_admin_msg *m);

/** @return 0; SHMQ_ENOTFOUND; -EINVAL (malformed id); SHMQ_ECRC/SHMQ_ECORRUPT. */
int shmq_admin_read_msgid(shmq_client_t *c, const char *msg_id, struct shmq_admin_msg *out);
/** @brief Read the record at commitlog offset @p offset. */
int shmq_admin_read_offset(shmq_client_t *c, uint64_t offset, struct shmq_admin_msg *out);
/** @brief Read message @p queue_offset of (topic, queue) through the consumequeue. */
int shmq_admin_read_queue(shmq_client_t *c, const char *topic, uint32_t queue,
			  uint64_t queue_offset, struct shmq_admin_msg *out);

/**
 * @brief Messages of @p topic with key @p key stored in [begin_ms, end_ms],
 * newest first, at most @p max (<= 64).
 * @return the count; *out malloc'd array (free each with
 * shmq_admin_msg_free(), then free()).
 */
int shmq_admin_query_key(shmq_client_t *c, const char *topic, const char *key,
			 uint64_t begin_ms, uint64_t end_ms, unsigned max,
			 struct shmq_admin_msg **out);

#ifdef __cplusplus
}
#endif
#endif /* SHMQ_ADMIN_H */
