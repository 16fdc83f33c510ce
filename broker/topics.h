/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/topics.h
 * @brief The topic registry: names, queue counts, persisted as JSON.
 *
 * File: <store_dir>/config/topics.json (libjson-c),
 *   {"version": 1, "topics": [{"name": "orders", "queues": 4,
 *                              "created_ns": 1795000000000000000}, ...]}
 * Names follow the control protocol's rule (1..127 of [A-Za-z0-9_.%|-]),
 * queues are 1..SHMQ_TOPICS_MAX_QUEUES.
 *
 * Guarantees:
 *  T1 A create returns success only after the whole registry including the
 *     new topic is durable: written to topics.json.tmp, fsynced, renamed over
 *     topics.json, and the directory fsynced. A failed write leaves neither
 *     the file nor the in-memory registry changed.
 *  T2 A crash at any point leaves topics.json either old or new, never torn
 *     (rename is atomic); a stale topics.json.tmp is ignored and replaced.
 *  T3 Loading validates everything: a syntax error, a wrong type, an unknown
 *     field, a bad name or queue count, a duplicate name, or a file larger
 *     than SHMQ_TOPICS_FILE_MAX gives SHMQ_ECORRUPT with a message naming the
 *     problem — never a crash, never a partially loaded registry.
 *
 * Concurrency: every function may be called from any thread. A rwlock
 * guards the registry: lookup, list and count share it; create holds it
 * exclusively, including while it writes the file (creates are rare admin
 * operations, and holding it makes the file order match the memory order).
 */
#ifndef SHMQ_BROKER_TOPICS_H
#define SHMQ_BROKER_TOPICS_H

#include <stddef.h>
#include <stdint.h>

#define SHMQ_TOPICS_NAME_LEN 128
#define SHMQ_TOPICS_MAX_QUEUES 1024u
#define SHMQ_TOPICS_MAX 65536u
#define SHMQ_TOPICS_FILE_MAX (64u << 20)

struct shmq_topic_info {
	char name[SHMQ_TOPICS_NAME_LEN];
	uint32_t queues;
	uint64_t created_ns; /**< CLOCK_REALTIME */
};

typedef struct shmq_topics shmq_topics_t;

/**
 * @brief Open the registry of @p store_dir, creating <store_dir>/config if
 *        needed and loading topics.json if it exists.
 * @param err receives a one-line reason on failure (may be NULL).
 * @return 0; SHMQ_ECORRUPT (T3); -errno from the file system; -ENOMEM.
 */
int shmq_topics_open(shmq_topics_t **out, const char *store_dir, char *err, size_t errlen);

/** @brief Free the registry (accepts NULL). Nothing to flush: creates are durable (T1). */
void shmq_topics_close(shmq_topics_t *t);

/**
 * @brief Create a topic and persist the registry (T1).
 * @param out if not NULL, receives the new topic.
 * @return 0; -EINVAL (bad name or queue count); -EEXIST (out then holds the
 *         existing topic); -ENOSPC (SHMQ_TOPICS_MAX topics); -errno of the
 *         write/fsync/rename.
 */
int shmq_topics_create(shmq_topics_t *t, const char *name, uint32_t queues,
		       struct shmq_topic_info *out);

/**
 * @brief The auto-create path: look @p name up, create it with @p queues
 *        if absent (races between threads resolve to one topic).
 * @return 0 if it existed, 1 if created, or an error as shmq_topics_create().
 */
int shmq_topics_get_or_create(shmq_topics_t *t, const char *name, uint32_t queues,
			      struct shmq_topic_info *out);

/** @brief Describe one topic. 0, SHMQ_ENOTFOUND or -EINVAL (bad name). */
int shmq_topics_lookup(shmq_topics_t *t, const char *name, struct shmq_topic_info *out);

/**
 * @brief Topics in name order (strcmp), from index @p start, at most @p max.
 * @param total if not NULL, receives the number of topics.
 * @return the number written to @p out (0 when @p start is past the end).
 */
int shmq_topics_list(shmq_topics_t *t, uint32_t start, struct shmq_topic_info *out,
		     uint32_t max, uint32_t *total);

size_t shmq_topics_count(shmq_topics_t *t);

#endif
