/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layout of one message as a producer writes it into a ring payload
 * (conventions 7). Shared by libshmq (encoder) and the broker's persister
 * (decoder, which trusts none of it). The ring record header around it
 * (length, type, count, producer id) is shm/ring_layout.h's business; this is
 * the payload of one message (a batch record carries several of them).
 *
 *   offset size  field
 *   0x00    4    magic "SRMS" (u32 LE 0x534d5253)
 *   0x04    2    version (SHMQ_RINGMSG_VERSION)
 *   0x06    2    hdr_len: bytes of this header (80); the variable part
 *                starts there, so a later version may grow the header
 *   0x08    4    flags: the store's message flags, passed through
 *   0x0c    4    reconsume_times
 *   0x10    8    born_ts_ms (wall clock, ms since the epoch)
 *   0x18    8    born_host (e.g. the producer's pid)
 *   0x20    8    producer_id
 *   0x28    8    producer_seq (per producer and queue; idempotence, restart)
 *   0x30    4    body_len
 *   0x34    4    props_len: bytes of the properties area
 *   0x38    2    keys_len  (without the NUL; 0 = no keys)
 *   0x3a    2    tags_len  (without the NUL; 0 = no tags)
 *   0x3c    2    nprops: user properties in the properties area
 *   0x3e    2    reserved, must be 0
 *   0x40    8    store_offset: result word, see below
 *   0x48    8    queue_offset: result word, see below
 *   0x50         body[body_len]
 *                keys[keys_len] NUL      (absent when keys_len == 0)
 *                tags[tags_len] NUL      (absent when tags_len == 0)
 *                props[props_len] = nprops x (key NUL value NUL)
 *
 * The payload length is exactly
 *   hdr_len + body_len + (keys_len ? keys_len + 1 : 0)
 *           + (tags_len ? tags_len + 1 : 0) + props_len,
 * the ring pads the record to 8 bytes itself. Strings carry their NUL so the
 * broker can hand them to the store without copying them again; a decoder
 * checks that each NUL is where the lengths say and that no string holds an
 * inner NUL. All fields little-endian (the only byte order we target;
 * static_assert below).
 *
 * Result words (version 2). The producer encodes both as
 * SHMQ_RINGMSG_RESULT_NONE. The broker's persister, after the store appended
 * the message, writes its commitlog offset and queue offset there, IN THE
 * RING, and only then publishes the ring's PERSISTED mark (release) past the
 * record. Whoever acquires that mark past the record (a producer waiting in
 * PERSISTED/DURABLE mode, a consumer) reads the words with
 * shmq_ringmsg_result_get() and finds them set, unless the store refused the
 * message (dropped) or the ring was fenced: NONE after PERSISTED = not stored
 * by this path. The words are the only bytes of a committed record that ever
 * change, they are written only by the gating reader, and always with 8-byte
 * relaxed atomic stores on an 8-aligned address (ring payloads are 8-aligned),
 * so a reader never sees a torn word. They are results, not message content:
 * the decoder accepts any value in them.
 */
#ifndef SHMQ_COMMON_RINGMSG_LAYOUT_H
#define SHMQ_COMMON_RINGMSG_LAYOUT_H

#include <stdint.h>

#include "common/compiler.h"

#define SHMQ_RINGMSG_MAGIC   0x534d5253u /* "SRMS" in memory order */
#define SHMQ_RINGMSG_VERSION 2u
/* flags: the message came through the broker's remote port, which sets the
 * bit in its ring copy; its producer_id/producer_seq are then a remote
 * producer's idempotence stream (per producer and topic), which the remote
 * port rebuilds from the store after a restart (docs/protocol.md, PRODUCE).
 * libshmq never sets it; the broker does not interpret any other bit. */
#define SHMQ_RINGMSG_F_REMOTE 0x1u
/* Value of an unset result word (as the producer encodes it). */
#define SHMQ_RINGMSG_RESULT_NONE UINT64_MAX

struct shmq_ringmsg_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_len;
	uint32_t flags;
	uint32_t reconsume_times;
	uint64_t born_ts_ms;
	uint64_t born_host;
	uint64_t producer_id;
	uint64_t producer_seq;
	uint32_t body_len;
	uint32_t props_len;
	uint16_t keys_len;
	uint16_t tags_len;
	uint16_t nprops;
	uint16_t reserved;
	uint64_t store_offset;   /* result word: commitlog offset, or NONE */
	uint64_t queue_offset;   /* result word: queue offset, or NONE */
};

#define SHMQ_RINGMSG_HDR_LEN 80u
/* Bytes of the header that are message content (before the result words). */
#define SHMQ_RINGMSG_FIXED_LEN 64u

SHMQ_ASSERT_SIZE(struct shmq_ringmsg_hdr, 80);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, magic, 0x00);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, version, 0x04);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, hdr_len, 0x06);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, flags, 0x08);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, reconsume_times, 0x0c);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, born_ts_ms, 0x10);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, born_host, 0x18);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, producer_id, 0x20);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, producer_seq, 0x28);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, body_len, 0x30);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, props_len, 0x34);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, keys_len, 0x38);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, tags_len, 0x3a);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, nprops, 0x3c);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, reserved, 0x3e);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, store_offset, 0x40);
SHMQ_ASSERT_OFFSET(struct shmq_ringmsg_hdr, queue_offset, 0x48);
static_assert(SHMQ_RINGMSG_HDR_LEN == sizeof(struct shmq_ringmsg_hdr), "hdr_len of version 2");
static_assert(SHMQ_RINGMSG_FIXED_LEN == offsetof(struct shmq_ringmsg_hdr, store_offset),
	      "the result words follow the content part of the header");
static_assert(offsetof(struct shmq_ringmsg_hdr, store_offset) % 8 == 0 &&
	      offsetof(struct shmq_ringmsg_hdr, queue_offset) % 8 == 0,
	      "result words are 8-aligned in an 8-aligned payload (atomic stores)");
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ring messages are little-endian");

#endif
