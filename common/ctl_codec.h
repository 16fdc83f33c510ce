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
 *    known flags, ERROR only as a response, HAS_FD exactly on the OPEN_QUEUE,
 *    GROUP_JOIN, OPEN_SEGMENT and OPEN_CQ responses, body length exact for
 *    the (type, direction);
 *  - strings: NUL inside the field, zero bytes after it, names in the topic
 *    charset [A-Za-z0-9_.%|-] and 1..127 bytes (group may be "" in HELLO);
 *    QUERY_KEY keys 1..255 bytes, no space, no control character (bytes
 *    >= 0x80 are allowed: keys may be UTF-8);
 *  - enums (modes, roles, reset kinds; 0 where a layout comment says so),
 *    counts (list pages <= SHMQ_CTL_LIST_MAX, ring pages <=
 *    SHMQ_CTL_RING_PAGE, query hits <= SHMQ_CTL_QUERY_MAX, queue ids and
 *    counts < / <= SHMQ_CTL_QUEUES_MAX, a page's count <= its total),
 *    reserved fields zero, name pages strictly increasing, ring pages
 *    strictly increasing by (topic, queue), queue assignments strictly
 *    increasing and below the topic's queue count;
 *  - the invariants the layout comments state that one message can show:
 *    STATUS min <= flushed <= max, disk_free <= disk_total, fenced_rings <=
 *    rings; OPEN_SEGMENT min_offset <= written_end, file_size > 0 and
 *    base + size without overflow; OPEN_CQ entries_per_file > 0 and
 *    min <= max queue offset; progress entries min <= max offset; SEARCH_TIME
 *    min <= offset <= max; READ_MSG a record of 1..SHMQ_CTL_RECORD_MAX
 *    bytes (its content is the commitlog decoder's to check), a request's
 *    topic "" and queue 0 exactly for kind OFFSET; query begin_ms <= end_ms; GROUP_RESET timestamp only with kind TIMESTAMP;
 *    member ids non-zero. (OPEN_SEGMENT's base <= offset < base + size needs
 *    the request: the client checks it.)
 * Every function is reentrant (no shared state).
 *
 * struct shmq_ctl_msg is large (~33 KiB, the GROUP_PROGRESS page): keep it
 * off small stacks (fine on default 8 MiB thread stacks; static or heap in
 * loops that hold several).
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

/** GROUP_JOIN and GROUP_SYNC response. */
struct shmq_ctl_group_join_resp {
	struct shmq_ctl_group_join_resp_hdr hdr;
	uint32_t queues[SHMQ_CTL_QUEUES_MAX]; /**< hdr.count queue ids */
};

/** QUERY_KEY response. */
struct shmq_ctl_query_resp {
	struct shmq_ctl_query_resp_hdr hdr;
	struct shmq_ctl_query_hit hits[SHMQ_CTL_QUERY_MAX];
};

/** GROUP_PROGRESS and GROUP_RESET response: entries[i] is queue i. */
struct shmq_ctl_progress_resp {
	struct shmq_ctl_progress_resp_hdr hdr;
	struct shmq_ctl_progress_entry entries[SHMQ_CTL_QUEUES_MAX];
};

/** RING_STATUS response. */
struct shmq_ctl_ring_status_resp {
	struct shmq_ctl_ring_status_resp_hdr hdr;
	struct shmq_ctl_ring_entry entries[SHMQ_CTL_RING_PAGE];
};

/** READ_MSG response: the record's bytes, untouched by the codec. */
struct shmq_ctl_read_msg_resp {
	struct shmq_ctl_read_msg_resp_hdr hdr;
	uint8_t record[SHMQ_CTL_RECORD_MAX]; /**< hdr.size bytes */
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
		struct shmq_ctl_topic_ref topic_describe_req; /**< and TOPIC_OPEN */
		struct shmq_ctl_topic_info topic_info;       /**< CREATE/DESCRIBE/OPEN response */
		struct shmq_ctl_topic_list_req topic_list_req;
		struct shmq_ctl_topic_list_resp topic_list_resp;
		struct shmq_ctl_open_queue_req open_queue_req;
		struct shmq_ctl_open_queue_resp open_queue_resp;
		struct shmq_ctl_group_req group_req;         /**< JOIN and LEAVE */
		struct shmq_ctl_group_join_resp group_join_resp; /**< JOIN and SYNC response */
		struct shmq_ctl_commit_req commit_req;
		struct shmq_ctl_status_resp status_resp;
		struct shmq_ctl_error_resp error;
		struct shmq_ctl_group_req group_sync_req;    /**< mode 0 */
		struct shmq_ctl_queue_release_req queue_release_req;
		struct shmq_ctl_open_segment_req open_segment_req;
		struct shmq_ctl_open_segment_resp open_segment_resp;
		struct shmq_ctl_open_cq_req open_cq_req;
		struct shmq_ctl_open_cq_resp open_cq_resp;
		struct shmq_ctl_query_key_req query_key_req;
		struct shmq_ctl_query_resp query_resp;
		struct shmq_ctl_group_req progress_req;      /**< mode 0 */
		struct shmq_ctl_progress_resp progress_resp; /**< PROGRESS and RESET response */
		struct shmq_ctl_group_reset_req group_reset_req;
		struct shmq_ctl_topic_list_req ring_status_req; /**< max 1..SHMQ_CTL_RING_PAGE */
		struct shmq_ctl_ring_status_resp ring_status_resp;
		struct shmq_ctl_search_time_req search_time_req;
		struct shmq_ctl_search_time_resp search_time_resp;
		struct shmq_ctl_read_msg_req read_msg_req;
		struct shmq_ctl_read_msg_resp read_msg_resp;
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

/**
 * @brief Check a QUERY_KEY key: 1..SHMQ_CTL_KEY_LEN-1 bytes, none a space,
 *        a control character (< 0x20, 0x7f) or NUL.
 * @return its length, or -EINVAL.
 */
int shmq_ctl_key_check(const char *key);

/*
 * Fixed-size string fields, shared with the network protocol's codec
 * (dpdk_net/frame_codec.c). A valid field has a NUL inside it and only zeros
 * after the first NUL, so each value has exactly one encoding.
 */
/** @return the string's length, or -1. */
int shmq_ctl_field_len(const char *f, size_t size);
/** @brief A topic/group/principal name (shmq_ctl_name_check), or "" if
 *  @p allow_empty. */
bool shmq_ctl_name_field_ok(const char *f, size_t size, bool allow_empty);
/** @brief Printable ASCII text. */
bool shmq_ctl_text_field_ok(const char *f, size_t size);

/** @brief "HELLO", "TOPIC_CREATE", ...; "UNKNOWN" for other values. */
const char *shmq_ctl_type_name(unsigned type);

#endif
