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
 * (OPEN_QUEUE, GROUP_JOIN, OPEN_SEGMENT, OPEN_CQ). A failed request is
 * answered with type ERROR.
 */
#ifndef SHMQ_COMMON_CTL_LAYOUT_H
#define SHMQ_COMMON_CTL_LAYOUT_H

#include <stdint.h>

#include "common/compiler.h"

#define SHMQ_CTL_MAGIC   0x54435153u /* "SQCT" little-endian */
/* 2: STATUS carries the broker id; SEARCH_TIME, TOPIC_OPEN, READ_MSG. */
#define SHMQ_CTL_VERSION 2u

/* Largest datagram either side sends or accepts (header + body). */
#define SHMQ_CTL_MSG_MAX 65536u

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
	SHMQ_CTL_GROUP_SYNC = 11,     /* current assignment, no fd */
	SHMQ_CTL_QUEUE_RELEASE = 12,  /* owner gives a revoked queue back */
	SHMQ_CTL_OPEN_SEGMENT = 13,   /* commitlog segment fd, read-only */
	SHMQ_CTL_OPEN_CQ = 14,        /* consumequeue file fd, read-only */
	SHMQ_CTL_QUERY_KEY = 15,      /* message key -> commitlog offsets */
	SHMQ_CTL_GROUP_PROGRESS = 16, /* committed / max offset per queue */
	SHMQ_CTL_GROUP_RESET = 17,    /* move a group's offsets */
	SHMQ_CTL_RING_STATUS = 18,    /* one page of ring positions */
	SHMQ_CTL_SEARCH_TIME = 19,    /* queue offset of a store timestamp */
	SHMQ_CTL_TOPIC_OPEN = 20,     /* a producer's TOPIC_DESCRIBE: auto-creates */
	SHMQ_CTL_READ_MSG = 21,       /* one stored record's bytes, no fd */
	SHMQ_CTL_TYPE_MAX = SHMQ_CTL_READ_MSG,
};

enum shmq_ctl_flags {
	SHMQ_CTL_F_RESPONSE = 1u << 0,
	SHMQ_CTL_F_HAS_FD = 1u << 1, /* response only: exactly one SCM_RIGHTS fd;
				      * set on OPEN_QUEUE, GROUP_JOIN, OPEN_SEGMENT
				      * and OPEN_CQ responses, never elsewhere */
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
 * topic_info body. TOPIC_DESCRIBE request is a topic_ref. TOPIC_OPEN is a
 * TOPIC_DESCRIBE for a producer (topic_ref in, topic_info out): it needs the
 * produce right and creates a missing topic when the broker creates topics
 * on first use, as OPEN_QUEUE PRODUCE does, but passes no fd, so a remote
 * producer that must know the queue count at open asks it over ADMIN. */
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

/* GROUP_JOIN and GROUP_SYNC response: followed by `count` uint32 queue ids,
 * strictly increasing, each < `queues` (count <= queues <= SHMQ_CTL_QUEUES_MAX):
 * the queues this member owns now. GROUP_JOIN carries HAS_FD: the group's
 * offset table for the topic (common/offsets_layout.h), mapped read-write. A
 * GROUP_SYNC request is a group_req with mode 0. */
struct shmq_ctl_group_join_resp_hdr {
	uint32_t generation; /* rebalance generation of this assignment */
	uint32_t count;
	uint64_t member_id;  /* this member's session id (the owner word in the table) */
	uint32_t queues;     /* queues of the topic (entries in the offset table) */
	uint32_t mode;       /* enum shmq_ctl_group_mode of the group */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_group_join_resp_hdr, 24);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_join_resp_hdr, generation, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_join_resp_hdr, count, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_join_resp_hdr, member_id, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_join_resp_hdr, queues, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_join_resp_hdr, mode, 20);

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

/* STATUS request is empty. Invariants: min <= flushed <= max offset;
 * disk_free <= disk_total; fenced_rings <= rings. */
struct shmq_ctl_status_resp {
	uint64_t uptime_ns;
	uint64_t commitlog_max_offset;
	uint64_t commitlog_flushed_offset;
	uint32_t topics;
	uint32_t clients;
	uint64_t commitlog_min_offset;
	uint64_t disk_total;        /* bytes of the store's file system */
	uint64_t disk_free;         /* bytes available there */
	uint64_t store_bytes;       /* bytes of commitlog segments on disk */
	uint64_t messages;          /* persisted by this broker run */
	uint32_t rings;
	uint32_t fenced_rings;
	uint32_t pid;               /* the broker's process id */
	uint32_t flush_mode;        /* 0 async, 1 sync */
	/* The remote port (broker/remote.h); all 0 when [net] listen is off. */
	uint32_t remote_sessions;   /* live now */
	uint32_t remote_members;    /* remote group members holding a lease */
	uint64_t remote_frames;
	uint64_t remote_garbage;    /* undecodable frames, foreign versions, responses */
	uint64_t remote_hello_refused;
	uint64_t remote_requests;
	uint64_t remote_errors;     /* requests answered with a failure */
	uint64_t remote_produced;   /* messages written to rings */
	uint64_t remote_produce_dups; /* resent messages answered as already stored */
	uint64_t remote_pulled;     /* messages sent in PULL responses */
	uint64_t remote_leases_expired;
	uint64_t guard_trips;       /* shared files shrunk under the broker (common/shm_guard.h) */
	/* The HELLO answer's broker_id again, for the clients that cannot say
	 * HELLO: remote ones learn it here (message ids, docs/protocol.md). */
	uint32_t broker_id;
	uint32_t reserved;          /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_status_resp, 184);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, uptime_ns, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, commitlog_max_offset, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, commitlog_flushed_offset, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, topics, 24);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, clients, 28);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, commitlog_min_offset, 32);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, disk_total, 40);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, disk_free, 48);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, store_bytes, 56);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, messages, 64);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, rings, 72);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, fenced_rings, 76);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, pid, 80);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, flush_mode, 84);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_sessions, 88);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_members, 92);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_frames, 96);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_garbage, 104);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_hello_refused, 112);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_requests, 120);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_errors, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_produced, 136);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_produce_dups, 144);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_pulled, 152);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, remote_leases_expired, 160);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, guard_trips, 168);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, broker_id, 176);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_status_resp, reserved, 180);

/* QUEUE_RELEASE request (empty response): the member gives back a queue the
 * broker revoked in `generation` (it stopped delivering and committed). */
struct shmq_ctl_queue_release_req {
	char group[SHMQ_CTL_NAME_LEN];
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queue;
	uint32_t generation;
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_queue_release_req, 264);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_queue_release_req, group, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_queue_release_req, topic, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_queue_release_req, queue, 256);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_queue_release_req, generation, 260);

/* OPEN_SEGMENT request: the commitlog segment holding `offset`. Needs the
 * consume right on at least one topic. */
struct shmq_ctl_open_segment_req {
	uint64_t offset;
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_open_segment_req, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_segment_req, offset, 0);

/* OPEN_SEGMENT response, with HAS_FD (O_RDONLY). The client maps
 * [0, file_size) and trusts none of it: records are CRC-checked on read.
 * Invariants: base_offset <= requested offset < base_offset + file_size;
 * min_offset <= written_end. */
struct shmq_ctl_open_segment_resp {
	uint64_t base_offset;   /* commitlog offset of the file's byte 0 */
	uint64_t file_size;     /* the segment size */
	uint64_t written_end;   /* end of the written log when answered */
	uint64_t min_offset;    /* oldest commitlog byte still stored */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_open_segment_resp, 32);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_segment_resp, base_offset, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_segment_resp, file_size, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_segment_resp, written_end, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_segment_resp, min_offset, 24);

/* OPEN_CQ request: consumequeue file `file_index` of (topic, queue). */
struct shmq_ctl_open_cq_req {
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queue;
	uint32_t file_index;
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_open_cq_req, 136);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_cq_req, topic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_cq_req, queue, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_cq_req, file_index, 132);

/* OPEN_CQ response, with HAS_FD (O_RDONLY): entry i of the file (20 bytes,
 * broker/store/cq_layout.h) is queue offset file_index * entries_per_file + i.
 * Invariant: min_queue_offset <= max_queue_offset. */
struct shmq_ctl_open_cq_resp {
	uint32_t file_index;
	uint32_t entries_per_file;
	uint64_t min_queue_offset; /* oldest entry still stored */
	uint64_t max_queue_offset; /* entries below it are written */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_open_cq_resp, 24);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_cq_resp, file_index, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_cq_resp, entries_per_file, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_cq_resp, min_queue_offset, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_open_cq_resp, max_queue_offset, 16);

/* QUERY_KEY request: messages of `topic` whose KEYS hold `key`, stored in
 * [begin_ms, end_ms] (0 and UINT64_MAX for all), newest first, at most
 * `max` (1..SHMQ_CTL_QUERY_MAX). key: 1..255 bytes, no NUL, no space. */
#define SHMQ_CTL_KEY_LEN 256u
#define SHMQ_CTL_QUERY_MAX 64u
struct shmq_ctl_query_key_req {
	char topic[SHMQ_CTL_NAME_LEN];
	char key[SHMQ_CTL_KEY_LEN];
	uint64_t begin_ms;
	uint64_t end_ms;
	uint32_t max;
	uint32_t reserved; /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_query_key_req, 408);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_key_req, topic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_key_req, key, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_key_req, begin_ms, 384);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_key_req, end_ms, 392);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_key_req, max, 400);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_key_req, reserved, 404);

/* QUERY_KEY response: header, then `count` hits (count <= SHMQ_CTL_QUERY_MAX).
 * The client reads each record through OPEN_SEGMENT. */
struct shmq_ctl_query_hit {
	uint64_t commitlog_offset;
	uint32_t size;
	uint32_t queue;
	uint64_t store_ts_ms;
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_query_hit, 24);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_hit, commitlog_offset, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_hit, size, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_hit, queue, 12);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_hit, store_ts_ms, 16);

struct shmq_ctl_query_resp_hdr {
	uint32_t count;
	uint32_t reserved; /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_query_resp_hdr, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_resp_hdr, count, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_query_resp_hdr, reserved, 4);

/* GROUP_PROGRESS request is a group_req with mode 0. Response: header, then
 * one entry per queue of the topic (count = queues <= SHMQ_CTL_QUEUES_MAX,
 * entry i is queue i). committed = UINT64_MAX: the group never committed. */
struct shmq_ctl_progress_entry {
	uint64_t committed;       /* next offset the group will consume */
	uint64_t min_offset;      /* oldest queue offset still stored */
	uint64_t max_offset;      /* queue offsets below it are stored */
	uint64_t owner;           /* member id owning the queue, 0 = none */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_progress_entry, 32);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_progress_entry, committed, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_progress_entry, min_offset, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_progress_entry, max_offset, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_progress_entry, owner, 24);

struct shmq_ctl_progress_resp_hdr {
	uint32_t count;
	uint32_t generation;
	uint32_t members;
	uint32_t mode;            /* enum shmq_ctl_group_mode, 0 = group unknown */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_progress_resp_hdr, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_progress_resp_hdr, count, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_progress_resp_hdr, generation, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_progress_resp_hdr, members, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_progress_resp_hdr, mode, 12);

/* GROUP_RESET request (admin right on the topic); the response is a
 * progress response showing the new offsets. Members see a new generation
 * and restart their queues from the new offsets. */
enum shmq_ctl_reset_kind {
	SHMQ_CTL_RESET_TIMESTAMP = 1, /* first message stored at or after timestamp_ms */
	SHMQ_CTL_RESET_EARLIEST = 2,
	SHMQ_CTL_RESET_LATEST = 3,
};
struct shmq_ctl_group_reset_req {
	char group[SHMQ_CTL_NAME_LEN];
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t kind;            /* enum shmq_ctl_reset_kind */
	uint32_t reserved;        /* 0 */
	uint64_t timestamp_ms;    /* 0 unless kind is TIMESTAMP */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_group_reset_req, 272);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_reset_req, group, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_reset_req, topic, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_reset_req, kind, 256);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_reset_req, reserved, 260);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_group_reset_req, timestamp_ms, 264);

/* RING_STATUS request is a topic_list_req (a page of rings in (topic, queue)
 * order; max 1..SHMQ_CTL_RING_PAGE). Response: header, then `count` entries. */
#define SHMQ_CTL_RING_PAGE 64u
struct shmq_ctl_ring_entry {
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queue;
	uint32_t fenced;          /* 0 or 1 */
	uint64_t capacity;
	uint64_t tail;            /* ring positions, bytes */
	uint64_t consumed;        /* persister's read position */
	uint64_t persisted;       /* PERSISTED mark */
	uint64_t flushed;         /* FLUSHED mark */
	uint64_t next_queue_offset; /* anchor's queue offset */
	uint64_t unblocked;       /* records of dead producers padded out */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_ring_entry, 192);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_entry, topic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_entry, queue, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_entry, fenced, 132);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_entry, capacity, 136);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_entry, tail, 144);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_entry, consumed, 152);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_entry, persisted, 160);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_entry, flushed, 168);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_entry, next_queue_offset, 176);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_entry, unblocked, 184);

struct shmq_ctl_ring_status_resp_hdr {
	uint32_t total;           /* rings the broker has */
	uint32_t count;           /* entries in this page */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_ring_status_resp_hdr, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_status_resp_hdr, total, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_ring_status_resp_hdr, count, 4);

/* SEARCH_TIME request (consume right on the topic): the first queue offset
 * of (topic, queue) whose store timestamp is >= timestamp_ms, as a consumer
 * starting at SHMQ_START_TIMESTAMP places a never-committed queue. Needs no
 * fd, so a remote consumer asks it over ADMIN. */
struct shmq_ctl_search_time_req {
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queue;           /* < the topic's queues */
	uint32_t reserved;        /* 0 */
	uint64_t timestamp_ms;    /* store time, ms since the epoch */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_search_time_req, 144);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_search_time_req, topic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_search_time_req, queue, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_search_time_req, reserved, 132);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_search_time_req, timestamp_ms, 136);

/* SEARCH_TIME response. Invariant: min_offset <= offset <= max_offset;
 * offset = max_offset when nothing stored is that recent (the consumer then
 * starts with the next message); all 0 when the queue stored nothing yet. */
struct shmq_ctl_search_time_resp {
	uint32_t queue;
	uint32_t reserved;        /* 0 */
	uint64_t offset;          /* first queue offset stored at or after the time */
	uint64_t min_offset;      /* oldest queue offset still stored */
	uint64_t max_offset;      /* queue offsets below it are stored */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_search_time_resp, 32);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_search_time_resp, queue, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_search_time_resp, reserved, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_search_time_resp, offset, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_search_time_resp, min_offset, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_search_time_resp, max_offset, 24);

/* READ_MSG request: one stored record, by commitlog offset (kind OFFSET,
 * topic "" and queue 0; consume right on the record's topic) or by queue
 * offset of (topic, queue) (kind QUEUE; consume right on the topic). What a
 * local reader maps from OPEN_SEGMENT/OPEN_CQ fds, for remote clients. */
enum shmq_ctl_read_kind {
	SHMQ_CTL_READ_OFFSET = 1,
	SHMQ_CTL_READ_QUEUE = 2,
};
struct shmq_ctl_read_msg_req {
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queue;
	uint32_t kind;            /* enum shmq_ctl_read_kind */
	uint64_t offset;          /* commitlog offset (OFFSET) or queue offset (QUEUE) */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_read_msg_req, 144);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_read_msg_req, topic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_read_msg_req, queue, 128);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_read_msg_req, kind, 132);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_read_msg_req, offset, 136);

/* READ_MSG response: header, then `size` bytes: the commitlog record exactly
 * as stored (broker/store/commitlog_layout.h, its CRC included), which the
 * client decodes and CRC-checks as if it had mapped it. 1..SHMQ_CTL_RECORD_MAX
 * bytes: a larger record is refused with SHMQ_ETOOBIG (the bound keeps
 * struct shmq_ctl_msg at the size of its largest other body, the 1024-queue
 * GROUP_PROGRESS page). */
#define SHMQ_CTL_RECORD_MAX 32768u
struct shmq_ctl_read_msg_resp_hdr {
	uint64_t commitlog_offset; /* of the record */
	uint32_t size;             /* record bytes that follow */
	uint32_t reserved;         /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_ctl_read_msg_resp_hdr, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_read_msg_resp_hdr, commitlog_offset, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_read_msg_resp_hdr, size, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ctl_read_msg_resp_hdr, reserved, 12);

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
static_assert(sizeof(struct shmq_ctl_hdr) + sizeof(struct shmq_ctl_query_resp_hdr) +
	      SHMQ_CTL_QUERY_MAX * sizeof(struct shmq_ctl_query_hit) <= SHMQ_CTL_MSG_MAX,
	      "QUERY_KEY page must fit one datagram");
static_assert(sizeof(struct shmq_ctl_hdr) + sizeof(struct shmq_ctl_ring_status_resp_hdr) +
	      SHMQ_CTL_RING_PAGE * sizeof(struct shmq_ctl_ring_entry) <= SHMQ_CTL_MSG_MAX,
	      "RING_STATUS page must fit one datagram");
static_assert(sizeof(struct shmq_ctl_hdr) + sizeof(struct shmq_ctl_progress_resp_hdr) +
	      SHMQ_CTL_QUEUES_MAX * sizeof(struct shmq_ctl_progress_entry) <= SHMQ_CTL_MSG_MAX,
	      "GROUP_PROGRESS of the largest topic must fit one datagram");
static_assert(sizeof(struct shmq_ctl_hdr) + sizeof(struct shmq_ctl_read_msg_resp_hdr) + SHMQ_CTL_RECORD_MAX <=
	      SHMQ_CTL_MSG_MAX, "READ_MSG record must fit one datagram");
static_assert(sizeof(struct shmq_ctl_read_msg_resp_hdr) + SHMQ_CTL_RECORD_MAX <=
	      sizeof(struct shmq_ctl_progress_resp_hdr) + SHMQ_CTL_QUEUES_MAX * sizeof(struct shmq_ctl_progress_entry),
	      "READ_MSG must not grow struct shmq_ctl_msg past the GROUP_PROGRESS page");

#endif
