/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire layout of the shmq network protocol (docs/protocol.md; conventions 7).
 * One frame = one UDP payload, whatever carries it (kernel socket or DPDK
 * Ethernet/IPv4/UDP). A frame is a fixed 48-byte header followed by one
 * fragment of a message body. Every field is fixed-width little-endian
 * (static_assert below: the only byte order we target); the codec
 * (dpdk_net/frame_codec.c) validates every one before use.
 *
 *   0        4        6        8        10       12       14       16
 *   +--------+--------+--------+--------+--------+--------+--------+
 *   | magic  |version | type   | flags  |attempt |frag idx|frag cnt|
 *   +--------+--------+--------+--------+--------+--------+--------+
 *  16 session id (0 only on HELLO)                                 24
 *  24 request id (chosen by the client, echoed by the response)    32
 *   +----------------+----------------+----------------+-----------+
 *  32 message length |  fragment size | payload length | CRC32C    48
 *   +----------------+----------------+----------------+-----------+
 *  48 payload: bytes [frag idx * frag size, + payload length) of the body
 *
 * Fragmentation (self-describing, so each frame validates alone):
 *  - msg_len == 0: frag_size = 0, frag_count = 1, payload_len = 0;
 *  - else 1 <= frag_size <= msg_len (a body that fits one fragment has
 *    frag_size = msg_len), frag_count = ceil(msg_len / frag_size)
 *    <= 65535, frag_index < frag_count, payload_len = min(frag_size,
 *    msg_len - frag_index * frag_size).
 *  Two fragments of one message overlap only if they disagree on msg_len or
 *  frag_size: the reassembler refuses such a fragment as conflicting.
 * attempt: the sender's transmission number of this message (1, 2, ...);
 *  fragments of every attempt of one request are identical and merge.
 * crc: CRC32C over the 48 header bytes with crc = 0, then the payload. It
 *  catches corruption, not forgery: authentication is the session's job
 *  (HELLO's HMAC, docs/protocol.md "Security").
 *
 * Bodies (after reassembly) by type; "resp" types set SHMQ_NET_F_RESPONSE.
 * Names (topic, group) use the local protocol's field (SHMQ_CTL_NAME_LEN,
 * same charset and canonical NUL padding).
 */
#ifndef SHMQ_DPDK_NET_FRAME_LAYOUT_H
#define SHMQ_DPDK_NET_FRAME_LAYOUT_H

#include <stdint.h>

#include "common/compiler.h"
#include "common/ctl_layout.h"

#define SHMQ_NET_MAGIC   0x544e5153u /* "SQNT" in memory order */
/* 2: PRODUCE carries the acknowledgement level, PULL the visibility level. */
#define SHMQ_NET_VERSION 2u

#define SHMQ_NET_HDR_LEN 48u
/* Largest message body (reassembled); bounds every allocation a peer causes. */
#define SHMQ_NET_MSG_MAX (8u << 20)
#define SHMQ_NET_FRAG_COUNT_MAX 65535u
/* Smallest UDP payload a backend must carry (IPv4 minimum reassembly-free
 * datagram is 576 - 28; we ask for a little header room beyond ours). */
#define SHMQ_NET_FRAME_MIN 512u
/* Largest UDP payload over IPv4 (65535 - 20 - 8). */
#define SHMQ_NET_FRAME_MAX 65507u

#define SHMQ_NET_NAME_LEN SHMQ_CTL_NAME_LEN
#define SHMQ_NET_PRINCIPAL_LEN 64u
#define SHMQ_NET_NONCE_LEN 16u
#define SHMQ_NET_MAC_LEN 32u /* HMAC-SHA256 */
#define SHMQ_NET_ERRMSG_LEN 120u
#define SHMQ_NET_BATCH_MAX 1024u     /* messages per PRODUCE / PULL_RESP */
#define SHMQ_NET_QUEUES_MAX SHMQ_CTL_QUEUES_MAX
/* PRODUCE: the broker picks queue = selector_hint % (the topic's queues), the
 * local selector's reduction, so a producer that does not know the queue
 * count (yet) reaches the queue a local one would; PRODUCE_ACK tells it. */
#define SHMQ_NET_QUEUE_ANY 0xffffffffu
#define SHMQ_NET_POLL_MAX_MS 60000u  /* longest long-poll a PULL may ask */
/* PULL offset: start at the group's committed offset of the queue (the
 * queue's oldest stored offset if the group never committed one). */
#define SHMQ_NET_OFFSET_COMMITTED UINT64_MAX

enum shmq_net_type {
	SHMQ_NET_HELLO = 1,
	SHMQ_NET_HELLO_ACK = 2,
	SHMQ_NET_PRODUCE = 3,
	SHMQ_NET_PRODUCE_ACK = 4,
	SHMQ_NET_PULL = 5,
	SHMQ_NET_PULL_RESP = 6,
	SHMQ_NET_COMMIT = 7,
	SHMQ_NET_COMMIT_ACK = 8,
	SHMQ_NET_JOIN = 9,
	SHMQ_NET_JOIN_ACK = 10,      /* also the HEARTBEAT answer */
	SHMQ_NET_HEARTBEAT = 11,
	SHMQ_NET_ERROR = 12,         /* response to any request */
	SHMQ_NET_ADMIN = 13,         /* one control-protocol request (below) */
	SHMQ_NET_ADMIN_RESP = 14,    /* its control-protocol answer */
	SHMQ_NET_TYPE_MAX = SHMQ_NET_ADMIN_RESP,
};

enum shmq_net_flags {
	SHMQ_NET_F_RESPONSE = 1u << 0, /* set exactly on the response types */
	SHMQ_NET_F_ALL = SHMQ_NET_F_RESPONSE,
};

struct shmq_net_hdr {
	uint32_t magic;       /* SHMQ_NET_MAGIC */
	uint16_t version;     /* SHMQ_NET_VERSION */
	uint16_t type;        /* enum shmq_net_type */
	uint16_t flags;       /* enum shmq_net_flags */
	uint16_t attempt;     /* 1.. : transmission number of the message */
	uint16_t frag_index;
	uint16_t frag_count;
	uint64_t session_id;
	uint64_t request_id;
	uint32_t msg_len;     /* body bytes of the whole message */
	uint32_t frag_size;   /* payload bytes of every fragment but the last */
	uint32_t payload_len; /* payload bytes of this frame */
	uint32_t crc;         /* CRC32C(header with crc = 0, payload) */
};
SHMQ_ASSERT_SIZE(struct shmq_net_hdr, SHMQ_NET_HDR_LEN);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, magic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, version, 4);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, type, 6);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, flags, 8);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, attempt, 10);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, frag_index, 12);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, frag_count, 14);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, session_id, 16);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, request_id, 24);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, msg_len, 32);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, frag_size, 36);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, payload_len, 40);
SHMQ_ASSERT_OFFSET(struct shmq_net_hdr, crc, 44);

/* HELLO (session 0, one frame). mac = HMAC-SHA256(secret, "shmq-hello-v1" ||
 * bytes [0, 96) of this body). A fresh nonce per transmission: a retried
 * HELLO is a new HELLO, so the server can refuse every repeated nonce. */
struct shmq_net_hello {
	uint8_t client_nonce[SHMQ_NET_NONCE_LEN];
	uint64_t timestamp_ns;  /* client CLOCK_REALTIME; must be within the skew window */
	uint32_t client_version;/* SHMQ_NET_VERSION */
	uint32_t frame_max;     /* largest UDP payload the client accepts */
	char principal[SHMQ_NET_PRINCIPAL_LEN]; /* 1..63 name chars, NUL padded */
	uint8_t mac[SHMQ_NET_MAC_LEN];
};
SHMQ_ASSERT_SIZE(struct shmq_net_hello, 128);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello, client_nonce, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello, timestamp_ns, 16);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello, client_version, 24);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello, frame_max, 28);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello, principal, 32);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello, mac, 96);

/* HELLO_ACK (header session id = session_id). mac = HMAC-SHA256(secret,
 * "shmq-hello-ack-v1" || bytes [0, 56)); it binds the client's nonce, so an
 * old ACK cannot answer a new HELLO. */
struct shmq_net_hello_ack {
	uint8_t server_nonce[SHMQ_NET_NONCE_LEN];
	uint8_t client_nonce[SHMQ_NET_NONCE_LEN]; /* echo of the HELLO's */
	uint64_t session_id;    /* non-zero, random */
	uint64_t expiry_ns;     /* server CLOCK_REALTIME after which the session is dropped */
	uint32_t frame_max;     /* largest UDP payload the server accepts */
	uint32_t reserved;      /* 0 */
	uint8_t mac[SHMQ_NET_MAC_LEN];
};
SHMQ_ASSERT_SIZE(struct shmq_net_hello_ack, 88);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello_ack, server_nonce, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello_ack, client_nonce, 16);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello_ack, session_id, 32);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello_ack, expiry_ns, 40);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello_ack, frame_max, 48);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello_ack, reserved, 52);
SHMQ_ASSERT_OFFSET(struct shmq_net_hello_ack, mac, 56);

/* One message inside PRODUCE and PULL_RESP: this entry header, then `len`
 * bytes of a ringmsg v2 payload (common/ringmsg_layout.h), then zero padding
 * to a multiple of 8 (so every ringmsg starts 8-aligned in the body). */
struct shmq_net_entry {
	uint32_t len;           /* ringmsg bytes, >= SHMQ_RINGMSG_HDR_LEN */
	uint32_t reserved;      /* 0 */
	uint64_t queue_offset;  /* PRODUCE: 0; PULL_RESP: the message's queue offset */
};
SHMQ_ASSERT_SIZE(struct shmq_net_entry, 16);
SHMQ_ASSERT_OFFSET(struct shmq_net_entry, len, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_entry, reserved, 4);
SHMQ_ASSERT_OFFSET(struct shmq_net_entry, queue_offset, 8);

/* PRODUCE: header then `count` entries. Message i carries producer_id and
 * producer_seq = first_seq + i in its ringmsg header (checked). */
struct shmq_net_produce_hdr {
	char topic[SHMQ_NET_NAME_LEN];
	uint32_t queue;         /* < SHMQ_NET_QUEUES_MAX, or SHMQ_NET_QUEUE_ANY */
	uint32_t count;         /* 1..SHMQ_NET_BATCH_MAX */
	uint64_t selector_hint; /* sharding-key hash for QUEUE_ANY; else 0 */
	uint64_t producer_id;   /* non-zero */
	uint64_t first_seq;
	uint32_t delivery;      /* enum shmq_net_delivery: when the ack leaves */
	uint32_t reserved;      /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_net_produce_hdr, 168);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_hdr, topic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_hdr, queue, 128);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_hdr, count, 132);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_hdr, selector_hint, 136);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_hdr, producer_id, 144);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_hdr, first_seq, 152);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_hdr, delivery, 160);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_hdr, reserved, 164);

/* PRODUCE_ACK leaves when the batch is (a zeroed header asks for PERSISTED,
 * the level of protocol version 1): */
enum shmq_net_delivery {
	SHMQ_NET_DELIVERY_PERSISTED = 0, /* in the commitlog; results carry offsets */
	SHMQ_NET_DELIVERY_RING = 1,      /* in the queue's ring; offsets SHMQ_OFFSET_UNKNOWN */
	SHMQ_NET_DELIVERY_DURABLE = 2,   /* flushed to disk; results carry offsets */
	SHMQ_NET_DELIVERY_MAX = SHMQ_NET_DELIVERY_DURABLE,
};

/* PRODUCE_ACK: header then `count` results (count = the request's count when
 * status = 0, else 0). On SHMQ_ESEQGAP, next_seq is the sequence the broker
 * expects; on success it is first_seq + count. */
struct shmq_net_produce_ack_hdr {
	int32_t status;         /* 0 or a negative shmq status */
	uint32_t count;
	uint64_t first_seq;     /* echo */
	uint64_t next_seq;
	uint32_t queue;         /* the queue the batch went to */
	uint32_t queues;        /* the topic's queue count (> queue); 0 = not told (always with an error) */
};
SHMQ_ASSERT_SIZE(struct shmq_net_produce_ack_hdr, 32);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_ack_hdr, status, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_ack_hdr, count, 4);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_ack_hdr, first_seq, 8);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_ack_hdr, next_seq, 16);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_ack_hdr, queue, 24);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_ack_hdr, queues, 28);

struct shmq_net_produce_result {
	uint64_t queue_offset;
	uint64_t store_offset;  /* commitlog offset */
};
SHMQ_ASSERT_SIZE(struct shmq_net_produce_result, 16);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_result, queue_offset, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_produce_result, store_offset, 8);

/* PULL: idempotent by offset (a resend asks for the same bytes). */
struct shmq_net_pull {
	char group[SHMQ_NET_NAME_LEN];
	char topic[SHMQ_NET_NAME_LEN];
	uint32_t queue;         /* < SHMQ_NET_QUEUES_MAX */
	uint32_t max_bytes;     /* 1..SHMQ_NET_MSG_MAX */
	uint64_t offset;        /* first queue offset wanted */
	uint32_t max_msgs;      /* 1..SHMQ_NET_BATCH_MAX */
	uint32_t timeout_ms;    /* long-poll: 0..SHMQ_NET_POLL_MAX_MS */
	uint32_t visibility;    /* enum shmq_net_visibility: what may be served */
	uint32_t reserved;      /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_net_pull, 288);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull, group, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull, topic, 128);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull, queue, 256);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull, max_bytes, 260);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull, offset, 264);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull, max_msgs, 272);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull, timeout_ms, 276);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull, visibility, 280);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull, reserved, 284);

/* The consumer group's visibility level (a zeroed PULL asks for PERSISTED): */
enum shmq_net_visibility {
	SHMQ_NET_VISIBLE_PERSISTED = 0, /* stored messages (IMMEDIATE is served so too) */
	SHMQ_NET_VISIBLE_IMMEDIATE = 1,
	SHMQ_NET_VISIBLE_DURABLE = 2,   /* only messages the commitlog flushed */
	SHMQ_NET_VISIBLE_MAX = SHMQ_NET_VISIBLE_DURABLE,
};

/* PULL_RESP: header then `count` entries (status 0) with strictly increasing
 * queue offsets, each >= the PULL's offset and < next_offset. */
struct shmq_net_pull_resp_hdr {
	int32_t status;
	uint32_t count;
	uint64_t next_offset;   /* where the next PULL should start */
	uint64_t max_offset;    /* queue offsets below it exist */
	uint32_t queue;
	uint32_t reserved;      /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_net_pull_resp_hdr, 32);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull_resp_hdr, status, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull_resp_hdr, count, 4);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull_resp_hdr, next_offset, 8);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull_resp_hdr, max_offset, 16);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull_resp_hdr, queue, 24);
SHMQ_ASSERT_OFFSET(struct shmq_net_pull_resp_hdr, reserved, 28);

/* COMMIT (idempotent: committing an offset twice is harmless). */
struct shmq_net_commit {
	char group[SHMQ_NET_NAME_LEN];
	char topic[SHMQ_NET_NAME_LEN];
	uint32_t queue;
	uint32_t reserved;      /* 0 */
	uint64_t offset;        /* next queue offset to consume */
};
SHMQ_ASSERT_SIZE(struct shmq_net_commit, 272);
SHMQ_ASSERT_OFFSET(struct shmq_net_commit, group, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_commit, topic, 128);
SHMQ_ASSERT_OFFSET(struct shmq_net_commit, queue, 256);
SHMQ_ASSERT_OFFSET(struct shmq_net_commit, reserved, 260);
SHMQ_ASSERT_OFFSET(struct shmq_net_commit, offset, 264);

/* COMMIT_ACK. */
struct shmq_net_status {
	int32_t status;
	uint32_t reserved;      /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_net_status, 8);
SHMQ_ASSERT_OFFSET(struct shmq_net_status, status, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_status, reserved, 4);

/* JOIN (mode: enum shmq_ctl_group_mode) and HEARTBEAT (mode 0, member_id and
 * generation of the JOIN_ACK). A remote member owns its queues for lease_ms
 * after each JOIN_ACK; it heartbeats well within the lease. */
struct shmq_net_group {
	char group[SHMQ_NET_NAME_LEN];
	char topic[SHMQ_NET_NAME_LEN];
	uint32_t mode;
	uint32_t lease_ms;      /* asked: 1000..600000 (the broker may shorten) */
	uint64_t member_id;     /* JOIN: 0; HEARTBEAT: non-zero */
	uint32_t generation;    /* JOIN: 0 */
	uint32_t reserved;      /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_net_group, 280);
SHMQ_ASSERT_OFFSET(struct shmq_net_group, group, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_group, topic, 128);
SHMQ_ASSERT_OFFSET(struct shmq_net_group, mode, 256);
SHMQ_ASSERT_OFFSET(struct shmq_net_group, lease_ms, 260);
SHMQ_ASSERT_OFFSET(struct shmq_net_group, member_id, 264);
SHMQ_ASSERT_OFFSET(struct shmq_net_group, generation, 272);
SHMQ_ASSERT_OFFSET(struct shmq_net_group, reserved, 276);

/* JOIN_ACK: header then `count` uint32 queue ids, strictly increasing, each
 * < queues (count <= queues <= SHMQ_NET_QUEUES_MAX; count = 0 if status). */
struct shmq_net_join_ack_hdr {
	int32_t status;
	uint32_t generation;
	uint64_t member_id;
	uint32_t lease_ms;      /* granted */
	uint32_t count;
	uint32_t queues;        /* queues of the topic */
	uint32_t reserved;      /* 0 */
};
SHMQ_ASSERT_SIZE(struct shmq_net_join_ack_hdr, 32);
SHMQ_ASSERT_OFFSET(struct shmq_net_join_ack_hdr, status, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_join_ack_hdr, generation, 4);
SHMQ_ASSERT_OFFSET(struct shmq_net_join_ack_hdr, member_id, 8);
SHMQ_ASSERT_OFFSET(struct shmq_net_join_ack_hdr, lease_ms, 16);
SHMQ_ASSERT_OFFSET(struct shmq_net_join_ack_hdr, count, 20);
SHMQ_ASSERT_OFFSET(struct shmq_net_join_ack_hdr, queues, 24);
SHMQ_ASSERT_OFFSET(struct shmq_net_join_ack_hdr, reserved, 28);

/* ERROR: any request may be answered with it. status < 0. */
struct shmq_net_error {
	int32_t status;
	uint32_t reserved;      /* 0 */
	char message[SHMQ_NET_ERRMSG_LEN]; /* printable ASCII, NUL padded */
};
SHMQ_ASSERT_SIZE(struct shmq_net_error, 128);
SHMQ_ASSERT_OFFSET(struct shmq_net_error, status, 0);
SHMQ_ASSERT_OFFSET(struct shmq_net_error, reserved, 4);
SHMQ_ASSERT_OFFSET(struct shmq_net_error, message, 8);

/* ADMIN and ADMIN_RESP: the body is exactly one whole message of the local
 * control protocol (common/ctl_layout.h: its 24-byte header, then its body),
 * SHMQ_NET_ADMIN_MIN..SHMQ_CTL_MSG_MAX bytes; no fd ever rides along.
 *
 *   0                          24                              len
 *   +--------------------------+-------------------------------+
 *   | ctl header (magic SQCT,  | ctl body of (type, direction) |
 *   | length = len - 24, id)   |                               |
 *   +--------------------------+-------------------------------+
 *
 * The frame codec checks the envelope only: the length bounds, the ctl
 * magic and version, the ctl header's length = len - 24, and the direction
 * (ADMIN carries a request: no RESPONSE and no HAS_FD flag; ADMIN_RESP a
 * response without HAS_FD). The receiver runs the ctl codec on the whole
 * message (shmq_ctl_decode) before using a byte of it. The ctl header's
 * request id is the caller's and is echoed by the answer; the broker serves
 * only the fd-free, session-free types (docs/protocol.md "ADMIN") and
 * answers any other with a ctl ERROR -EOPNOTSUPP inside ADMIN_RESP. */
#define SHMQ_NET_ADMIN_MIN ((uint32_t)sizeof(struct shmq_ctl_hdr))
#define SHMQ_NET_ADMIN_MAX SHMQ_CTL_MSG_MAX
static_assert(SHMQ_NET_ADMIN_MAX <= SHMQ_NET_MSG_MAX, "a control message fits a network message");

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire format is little-endian");
static_assert(SHMQ_NET_HDR_LEN % 8 == 0, "a payload starts 8-aligned after the header");
static_assert((uint64_t)SHMQ_NET_FRAG_COUNT_MAX * (SHMQ_NET_FRAME_MIN - SHMQ_NET_HDR_LEN) >=
	      SHMQ_NET_MSG_MAX, "the largest message fragments into the smallest frames");

#endif
