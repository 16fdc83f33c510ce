/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file common/ringmsg.h
 * @brief Codec of one message in a ring payload (layout: ringmsg_layout.h).
 *
 * The encoder is for producers (libshmq): size it with shmq_ringmsg_size(),
 * claim that many bytes in the ring, shmq_ringmsg_encode() straight into the
 * claim, commit. No allocation, one pass.
 *
 * The decoder is for the broker, which never trusts shared memory: every
 * length is checked against the payload length, each string must end with
 * its NUL exactly where its length says and hold no inner NUL, properties
 * must tile their area exactly. Anything else is SHMQ_ECORRUPT. Decode a
 * private copy (the producer still maps the ring and could change bytes
 * after the check): the returned pointers point into @p buf.
 *
 * Result words (ringmsg_layout.h, version 2): the encoder writes them as
 * SHMQ_RINGMSG_RESULT_NONE; the persister fills them in the ring with
 * shmq_ringmsg_result_set() before it publishes PERSISTED; readers use
 * shmq_ringmsg_result_get(). The decoder reads the header's content part
 * with plain loads and the result words with shmq_ringmsg_result_get(), so it
 * may run directly on a live ring payload while the persister writes them
 * (no data race; the content it checks never changes after commit unless a
 * producer misbehaves, which is why the broker decodes a private copy).
 *
 * Limits (checked by both sides): keys and tags 0..65535 bytes; property keys
 * 1..255 bytes, not "KEYS" or "TAGS" (the store reserves them); property
 * values 0..65535 bytes; at most 65535 properties; payload < 4 GiB.
 */
#ifndef SHMQ_COMMON_RINGMSG_H
#define SHMQ_COMMON_RINGMSG_H

#include <stddef.h>
#include <stdint.h>

#include "common/ringmsg_layout.h"
#include "shmq/error.h"

/** A user property (NUL-terminated key and value). */
struct shmq_ringmsg_prop {
	const char *key;
	const char *value;
};

/** The fields of a message, as the producer gives them. */
struct shmq_ringmsg_in {
	uint32_t flags;
	uint32_t reconsume_times;
	uint64_t born_ts_ms;
	uint64_t born_host;
	uint64_t producer_id;
	uint64_t producer_seq;
	const void *body;
	uint32_t body_len;
	const char *keys;                     /**< NULL or "" = none */
	const char *tags;                     /**< NULL or "" = none */
	const struct shmq_ringmsg_prop *props;
	uint32_t nprops;
};

/** A decoded message; pointers into the decoded buffer. */
struct shmq_ringmsg_view {
	uint32_t flags;
	uint32_t reconsume_times;
	uint64_t born_ts_ms;
	uint64_t born_host;
	uint64_t producer_id;
	uint64_t producer_seq;
	const void *body;
	uint32_t body_len;
	const char *keys;    /**< NUL-terminated, or NULL */
	uint32_t keys_len;
	const char *tags;    /**< NUL-terminated, or NULL */
	uint32_t tags_len;
	const char *props;   /**< nprops x (key NUL value NUL); walk with shmq_ringmsg_prop_next() */
	uint32_t props_len;
	uint32_t nprops;
	uint64_t store_offset; /**< result word as read at decode time; NONE = not set */
	uint64_t queue_offset; /**< result word as read at decode time; NONE = not set */
};

/**
 * @brief Payload bytes shmq_ringmsg_encode() will write for @p m.
 * @return the size (> 0); -EINVAL (NULL body with a length, a property out of
 *         the limits above, a string too long); SHMQ_ETOOBIG (>= 4 GiB).
 */
int64_t shmq_ringmsg_size(const struct shmq_ringmsg_in *m);

/**
 * @brief Encode @p m into @p dst (@p cap bytes, any alignment).
 * @return bytes written (== shmq_ringmsg_size()); -ENOBUFS if @p cap is too
 *         small; the errors of shmq_ringmsg_size().
 */
int64_t shmq_ringmsg_encode(void *dst, size_t cap, const struct shmq_ringmsg_in *m);

/**
 * @brief Validate and decode the payload @p buf of exactly @p len bytes.
 * @return 0 or SHMQ_ECORRUPT (v is then unspecified).
 */
int shmq_ringmsg_decode(const void *buf, size_t len, struct shmq_ringmsg_view *v);

/**
 * @brief Write the result words of the message whose payload starts at
 * @p payload (the gating reader only, after the store appended it).
 *
 * Two relaxed 8-byte atomic stores. Relaxed is enough: the persister
 * publishes the ring's PERSISTED mark past the record afterwards with a
 * release store, and readers acquire that mark before they call
 * shmq_ringmsg_result_get(); the mark orders the words, the atomics only
 * keep each word untorn (and the concurrent access race-free). Ring payloads
 * are 8-aligned; an unaligned @p payload (a private buffer) is written with
 * memcpy, which must then not race with readers.
 */
void shmq_ringmsg_result_set(void *payload, uint64_t store_offset, uint64_t queue_offset);

/**
 * @brief Read the result words of the message at @p payload (relaxed 8-byte
 * atomic loads, see shmq_ringmsg_result_set()). Either may be
 * SHMQ_RINGMSG_RESULT_NONE: not stored yet, refused by the store, or the
 * ring was fenced. The caller must know @p payload holds at least
 * SHMQ_RINGMSG_HDR_LEN bytes (a record it read, not yet reclaimed: re-check
 * with shmq_ring_read_check() after reading a live ring).
 */
void shmq_ringmsg_result_get(const void *payload, uint64_t *store_offset, uint64_t *queue_offset);

/**
 * @brief Walk a decoded properties area: @p p starts at v->props; call
 * nprops times. Only valid on an area shmq_ringmsg_decode() accepted.
 * @return the position of the next property.
 */
const char *shmq_ringmsg_prop_next(const char *p, const char **key, const char **value);

#endif
