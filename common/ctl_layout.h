/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire layout of the control protocol between shmqd and libshmq (conventions
 * 7). Carried over a unix SOCK_SEQPACKET socket: one message = one datagram,
 * so a message never arrives split or merged and no framing is needed beyond
 * the header below. Ring file descriptors travel beside a message as
 * SCM_RIGHTS ancillary data (common/ctl_sock.h), never inside it.
 *
 * Every field is fixed-width little-endian; common/ctl_codec.c converts and
 * validates. Strings are fixed NUL-padded arrays: at least one NUL, every byte
 * after the first NUL is zero (one canonical encoding per value).
 *
 *  message = header | body
 *
 *   0        4        6        8        10       12               16
 *   +--------+--------+--------+--------+--------+----------------+
 *   | magic  |version | type   | flags  | rsvd=0 | body length    |
 *   +--------+--------+--------+--------+--------+----------------+
 *  16                                                            24
 *   | request id (echoed by the response)                         |
 *   +-------------------------------------------------------------+
 *  24  body: one of the structs below, chosen by (type, RESPONSE flag);
 *      its length must be exact (or header + count * element for lists)
 *
 * A request carries flags = 0 (or HAS_FD never: clients never send fds). A
 * response carries RESPONSE, plus HAS_FD when exactly one fd rides along
 * (OPEN_QUEUE). A failed request is answered with type ERROR.
 */
#ifndef SHMQ_COMMON_CTL_LAYOUT_H
#define SHMQ_COMMON_CTL_LAYOUT_H

#include <stdint.h>

#include "common/compiler.h"

#define SHMQ_CTL_MAGIC   0x54435153u /* "SQCT" little-endian */
#define SHMQ_CTL_VERSION 1u

/* Largest datagram either side sends or accepts (header + body). */
#define SHMQ_CTL_MSG_MAX 16384u

/* Topic and group names: 1..127 bytes + NUL, as RocketMQ's topic limit. */
#define SHMQ_CTL_NAME_LEN 128u
#define SHMQ_CTL_NAME_MAX (SHMQ_CTL_NAME_LEN - 1u)
/* ERROR message text: printable ASCII, up to 255 bytes + NUL. */
#define SHMQ_CTL_ERRMSG_LEN 256u
/* Names per TOPIC_LIST response page; queues per GROUP_JOIN assignment. */
#define SHMQ_CTL_LIST_MAX  64u
#define SHMQ_CTL_QUEUES_MAX 1024u

enum shmq_ctl_type {
	SHMQ_CTL_HELLO = 1,
	SHMQ_CTL_TOPIC_CREATE = 2,
	SHMQ_CTL_TOPIC_DESCRIBE = 3,
	SHMQ_CTL_TOPIC_LIST = 4,
	SHMQ_CTL_OPEN_QUEUE = 5,
	SHMQ_CTL_GROUP_JOIN = 6,
	SHMQ_CTL_GROUP_LEAVE = 7,
	SHMQ_CTL_COMMIT_OFFSET = 8,
	SHMQ_CTL_STATUS = 9,
	SHMQ_CTL_ERROR = 10, /* response only */
	SHMQ_CTL_TYPE_MAX = SHMQ_CTL_ERROR,
};

enum shmq_ctl_flags {
	SHMQ_CTL_F_RESPONSE = 1u << 0,
	SHMQ_CTL_F_HAS_FD = 1u << 1, /* response only: exactly one SCM_RIGHTS fd */
	SHMQ_CTL_F_ALL = SHMQ_CTL_F_RESPONSE | SHMQ_CTL_F_HAS_FD,
};

/* HELLO role: a bit set, at least one bit. */
enum shmq_ctl_role {
	SHMQ_CTL_ROLE_PRODUCER = 1u << 0,
	SHMQ_CTL_ROLE_CONSUMER = 1u << 1,
	SHMQ_CTL_ROLE_ADMIN = 1u << 2,
	SHMQ_CTL_ROLE_ALL = 7u,
};

/* OPEN_QUEUE mode. */
enum shmq_ctl_open_mode {
	SHMQ_CTL_OPEN_PRODUCE = 1,
	SHMQ_CTL_OPEN_CONSUME = 2,
};

/* GROUP_JOIN mode. */
enum shmq_ctl_group_mode {
	SHMQ_CTL_GROUP_CLUSTERING = 1,
	SHMQ_CTL_GROUP_BROADCASTING = 2,
};

struct shmq_ctl_hdr {
	uint32_t magic;      /* SHMQ_CTL_MAGIC */
	uint16_t version;    /* SHMQ_CTL_VERSION */
	uint16_t type;       /* enum shmq_ctl_type */
	uint16_t flags;      /* enum shmq_ctl_flags */
	uint16_t reserved;   /* 0 */
	uint32_t length;     /* body bytes after the header */
	uint64_t request_id; /* chosen by the client, echoed in the response */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_hdr, 24);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hdr, magic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hdr, version, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hdr, type, 6);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hdr, flags, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hdr, reserved, 10);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hdr, length, 12);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hdr, request_id, 16);

/* HELLO request: first message on a connection. The broker takes the peer's
 * uid/gid/pid from SO_PEERCRED, never from this body. */
struct shmq_ctl_hello_req {
	uint32_t client_version; /* SHMQ_CTL_VERSION the client speaks */
	uint32_t role;           /* enum shmq_ctl_role bits, non-zero */
	uint32_t reserved[2];    /* 0 */
	char group[SHMQ_CTL_NAME_LEN]; /* producer/consumer group; "" allowed */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_hello_req, 144);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hello_req, client_version, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hello_req, role, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hello_req, reserved, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hello_req, group, 16);

struct shmq_ctl_hello_resp {
	uint32_t server_version;
	uint32_t broker_id;
	uint64_t session_id;     /* unique per connection for this broker run */
	char broker_name[SHMQ_CTL_NAME_LEN];
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_hello_resp, 144);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hello_resp, server_version, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hello_resp, broker_id, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hello_resp, session_id, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_hello_resp, broker_name, 16);

/* TOPIC_CREATE request (queues 1..SHMQ_CTL_QUEUES_MAX). Answered with a
 * topic_info body. TOPIC_DESCRIBE request is a topic_ref. */
struct shmq_ctl_topic_create_req {
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queues;
	uint32_t reserved; /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_topic_create_req, 136);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_create_req, topic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_create_req, queues, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_create_req, reserved, 132);

struct shmq_ctl_topic_ref {
	char topic[SHMQ_CTL_NAME_LEN];
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_topic_ref, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_ref, topic, 0);

/* TOPIC_CREATE and TOPIC_DESCRIBE response. */
struct shmq_ctl_topic_info {
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queues;
	uint32_t reserved;  /* 0 */
	uint64_t created_ns; /* CLOCK_REALTIME at creation */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_topic_info, 144);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_info, topic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_info, queues, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_info, reserved, 132);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_info, created_ns, 136);

/* TOPIC_LIST: a page of names, sorted, starting at index `start`. */
struct shmq_ctl_topic_list_req {
	uint32_t start;
	uint32_t max;      /* 1..SHMQ_CTL_LIST_MAX */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_topic_list_req, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_list_req, start, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_list_req, max, 4);

/* Followed by `count` shmq_ctl_topic_ref (count <= SHMQ_CTL_LIST_MAX). */
struct shmq_ctl_topic_list_resp_hdr {
	uint32_t total;    /* topics in the registry */
	uint32_t count;    /* names in this page */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_topic_list_resp_hdr, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_list_resp_hdr, total, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_topic_list_resp_hdr, count, 4);

struct shmq_ctl_open_queue_req {
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queue;    /* < SHMQ_CTL_QUEUES_MAX */
	uint32_t mode;     /* enum shmq_ctl_open_mode */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_open_queue_req, 136);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_queue_req, topic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_queue_req, queue, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_queue_req, mode, 132);

/* Sent with flags HAS_FD: the ring's file descriptor rides along. */
struct shmq_ctl_open_queue_resp {
	uint32_t queue;
	uint32_t mode;
	uint64_t ring_capacity; /* what the client should find when it attaches */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_open_queue_resp, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_queue_resp, queue, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_queue_resp, mode, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_queue_resp, ring_capacity, 8);

/* GROUP_JOIN and GROUP_LEAVE request (mode must be 0 for LEAVE). */
struct shmq_ctl_group_req {
	char group[SHMQ_CTL_NAME_LEN];
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t mode;     /* enum shmq_ctl_group_mode */
	uint32_t reserved; /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_group_req, 264);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_req, group, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_req, topic, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_req, mode, 256);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_req, reserved, 260);

/* GROUP_JOIN response: followed by `count` uint32 queue ids, strictly
 * increasing, each < SHMQ_CTL_QUEUES_MAX (count <= SHMQ_CTL_QUEUES_MAX). */
struct shmq_ctl_group_join_resp_hdr {
	uint32_t generation; /* rebalance generation */
	uint32_t count;
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_group_join_resp_hdr, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_join_resp_hdr, generation, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_join_resp_hdr, count, 4);

/* COMMIT_OFFSET request; GROUP_LEAVE and COMMIT_OFFSET responses are empty. */
struct shmq_ctl_commit_req {
	char group[SHMQ_CTL_NAME_LEN];
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queue;
	uint32_t reserved; /* 0 */
	uint64_t offset;   /* next queue offset to consume */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_commit_req, 272);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_commit_req, group, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_commit_req, topic, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_commit_req, queue, 256);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_commit_req, reserved, 260);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_commit_req, offset, 264);

/* STATUS request is empty. */
struct shmq_ctl_status_resp {
	uint64_t uptime_ns;
	uint64_t commitlog_max_offset;
	uint64_t commitlog_flushed_offset;
	uint32_t topics;
	uint32_t clients;
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_status_resp, 32);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, uptime_ns, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, commitlog_max_offset, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, commitlog_flushed_offset, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, topics, 24);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, clients, 28);

/* ERROR response: status is a negative shmq status (-errno or named code). */
struct shmq_ctl_error_resp {
	int32_t status;
	uint32_t reserved; /* 0 */
	char message[SHMQ_CTL_ERRMSG_LEN]; /* printable ASCII, may be "" */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_error_resp, 264);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_error_resp, status, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_error_resp, reserved, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_error_resp, message, 8);

/* The largest bodies must fit one datagram. */
static_assert(sizeof(struct shmq_ctl_hdr) + sizeof(struct shmq_ctl_topic_list_resp_hdr) +
	      SHMQ_CTL_LIST_MAX * sizeof(struct shmq_ctl_topic_ref) <= SHMQ_CTL_MSG_MAX,
	      "TOPIC_LIST page must fit one datagram");
static_assert(sizeof(struct shmq_ctl_hdr) + sizeof(struct shmq_ctl_group_join_resp_hdr) +
	      SHMQ_CTL_QUEUES_MAX * sizeof(uint32_t) <= SHMQ_CTL_MSG_MAX,
	      "GROUP_JOIN assignment must fit one datagram");

#endif
