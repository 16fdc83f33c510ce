/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file common/ctl_codec.h
 * @brief Encode and validate control-protocol messages (common/ctl_layout.h),
 *        shared by shmqd and libshmq.
 *
 * Messages are handled in a host-order form, struct shmq_ctl_msg, whose bodies
 * are the layout structs with their integers in host order. Both directions
 * run the same validator, so a message that encodes also decodes, and no
 * decoder accepts what the encoder would refuse:
 *  - header: magic, version (else -EPROTONOSUPPORT), reserved = 0, known type,
 *    known flags, ERROR only as a response, HAS_FD exactly on an OPEN_QUEUE
 *    response, body length exact for the (type, direction);
 *  - strings: NUL inside the field, zero bytes after it, names in the topic
 *    charset [A-Za-z0-9_.%|-] and 1..127 bytes (group may be "" in HELLO);
 *  - enums, counts (list pages <= SHMQ_CTL_LIST_MAX, queue ids and counts
 *    < / <= SHMQ_CTL_QUEUES_MAX), reserved fields zero, list pages sorted,
 *    queue assignments strictly increasing.
 * Every function is reentrant (no shared state).
 */
#ifndef SHMQ_COMMON_CTL_CODEC_H
#define SHMQ_COMMON_CTL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/ctl_layout.h"

struct shmq_ctl_topic_list_resp {
	struct shmq_ctl_topic_list_resp_hdr hdr;
	struct shmq_ctl_topic_ref names[SHMQ_CTL_LIST_MAX];
};

struct shmq_ctl_group_join_resp {
	struct shmq_ctl_group_join_resp_hdr hdr;
	uint32_t queues[SHMQ_CTL_QUEUES_MAX];
};

/** A message in host order. Zero it (shmq_ctl_msg_init) before filling. */
struct shmq_ctl_msg {
	uint16_t type;       /**< enum shmq_ctl_type */
	uint16_t flags;      /**< enum shmq_ctl_flags */
	uint64_t request_id;
	union {
		struct shmq_ctl_hello_req hello_req;
		struct shmq_ctl_hello_resp hello_resp;
		struct shmq_ctl_topic_create_req topic_create_req;
		struct shmq_ctl_topic_ref topic_describe_req;
		struct shmq_ctl_topic_info topic_info;       /**< CREATE/DESCRIBE response */
		struct shmq_ctl_topic_list_req topic_list_req;
		struct shmq_ctl_topic_list_resp topic_list_resp;
		struct shmq_ctl_open_queue_req open_queue_req;
		struct shmq_ctl_open_queue_resp open_queue_resp;
		struct shmq_ctl_group_req group_req;         /**< JOIN and LEAVE */
		struct shmq_ctl_group_join_resp group_join_resp;
		struct shmq_ctl_commit_req commit_req;
		struct shmq_ctl_status_resp status_resp;
		struct shmq_ctl_error_resp error;
	} u;
};

/** @brief Zero @p m and set its header fields. */
void shmq_ctl_msg_init(struct shmq_ctl_msg *m, uint16_t type, uint16_t flags,
		       uint64_t request_id);

/**
 * @brief Validate @p m and write its wire form into @p buf.
 * @return bytes written (header + body); -EINVAL if @p m is not a valid
 *         message (the validator described above); -EMSGSIZE if @p cap is
 *         too small.
 */
int shmq_ctl_encode(const struct shmq_ctl_msg *m, void *buf, size_t cap);

/**
 * @brief Decode and validate one received datagram.
 * @param len the datagram's exact length.
 * @return 0; -EPROTONOSUPPORT for a foreign magic or version; -EBADMSG for
 *         anything else that is malformed. @p m is unspecified on error.
 */
int shmq_ctl_decode(const void *buf, size_t len, struct shmq_ctl_msg *m);

/**
 * @brief Check a topic or group name: 1..SHMQ_CTL_NAME_MAX bytes of
 *        [A-Za-z0-9_.%|-].
 * @return its length, or -EINVAL.
 */
int shmq_ctl_name_check(const char *name);

/**
 * @brief Copy a name into a fixed field, zero-padding it.
 * @return 0, or -EINVAL if @p src is not a valid name (empty allowed when
 *         @p allow_empty).
 */
int shmq_ctl_name_set(char dst[SHMQ_CTL_NAME_LEN], const char *src, bool allow_empty);

/**
 * @brief Build an ERROR response to @p request_id. The message is truncated
 *        to fit and non-printable bytes are replaced by '?'.
 */
void shmq_ctl_error_init(struct shmq_ctl_msg *m, uint64_t request_id, int status,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** @brief "HELLO", "TOPIC_CREATE", ...; "UNKNOWN" for other values. */
const char *shmq_ctl_type_name(unsigned type);

#endif
