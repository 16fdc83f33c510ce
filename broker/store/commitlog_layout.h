/* SPDX-License-Identifier: Apache-2.0 */
/*
 * On-disk layout of commitlog segments (conventions 7).
 *
 * A commitlog is a directory of segment files, each exactly `segment_size`
 * bytes, named by the 20-digit decimal commitlog offset of their first byte
 * (00000000000000000000, 00000000001073741824, ...). A segment has no file
 * header: the byte at commitlog offset o lives in segment floor(o / size) at
 * position o % size, so offsets map to files by arithmetic alone. Each record
 * starts with its total size and a magic that carries the format version, so
 * "magic + version at offset 0" holds per record instead of per file.
 *
 * Records are 8-byte aligned and packed back to back. A segment ends with a
 * FILLER record covering every byte left when the next record does not fit
 * (its size is exactly the rest of the segment). A zero size word marks the
 * end of the written log: segments are pre-allocated and zero-filled.
 *
 * Message record (all fields little-endian, sizes in bytes):
 *
 *   0        4        8        12       16       20       24
 *   +--------+--------+--------+--------+--------+--------+
 *   |total_sz| magic  |  crc   |queue_id| flags  |reconsum|
 *   +--------+--------+--------+--------+--------+--------+
 *  24  queue_offset (8)        |32  commitlog_offset (8)  |
 *  40  born_ts_ms (8)          |48  store_ts_ms (8)       |
 *  56  born_host (8)           |64  producer_id (8)       |
 *  72  producer_seq (8)        |80  prepared_tx_offset (8)|
 *  88  body_len (4) | 92 topic_len (2) | 94 props_len (2) |
 *  96  body[body_len] topic[topic_len] props[props_len] zero pad to 8
 *
 * crc = CRC32C of bytes [12, total_sz): every byte after the CRC field,
 * header included (not just the body), so a torn or bit-flipped header is
 * detected as well as a torn body. total_sz and magic are checked by range
 * instead: total_sz == ALIGN8(96 + body_len + topic_len + props_len).
 *
 * Properties (props) are a sequence of entries
 *     key_len (1) | val_len (2, LE) | key[key_len] | val[val_len]
 * with no padding. Well-known keys: "KEYS" (space-separated message keys,
 * indexed), "TAGS" (tag string, hashed into the consumequeue entry). Other
 * keys are user properties.
 *
 * Filler record: total_sz (= bytes to the end of the segment, >= 8) and
 * magic SHMQ_CL_MAGIC_FILLER; no CRC (the rest of the segment is zero and
 * the size must end the segment exactly, which recovery checks).
 */
#ifndef SHMQ_BROKER_STORE_COMMITLOG_LAYOUT_H
#define SHMQ_BROKER_STORE_COMMITLOG_LAYOUT_H

#include <stdint.h>

#include "common/compiler.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	      "records are stored in host order, which must be little-endian");

#define SHMQ_CL_MAGIC_MSG    0x314d5153u /* "SQM1": message record, version 1 */
#define SHMQ_CL_MAGIC_FILLER 0x31465153u /* "SQF1": filler to the end of a segment */
#define SHMQ_CL_ALIGN        8u
#define SHMQ_CL_CRC_FROM     12u         /* CRC covers [12, total_sz) */
#define SHMQ_CL_FILLER_MIN   8u
#define SHMQ_CL_TOPIC_MAX    255u
#define SHMQ_CL_PROPS_MAX    65535u
#define SHMQ_CL_PROP_VAL_MAX 65535u

struct shmq_cl_record {
	uint32_t total_size;
	uint32_t magic;
	uint32_t crc;
	uint32_t queue_id;
	uint32_t flags;
	uint32_t reconsume_times;
	uint64_t queue_offset;
	uint64_t commitlog_offset;
	uint64_t born_ts_ms;
	uint64_t store_ts_ms;
	uint64_t born_host;
	uint64_t producer_id;
	uint64_t producer_seq;
	uint64_t prepared_tx_offset;
	uint32_t body_len;
	uint16_t topic_len;
	uint16_t props_len;
	/* body, topic, props, pad */
};

SHMQ_ASSERT_SIZE(struct shmq_cl_record, 96);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, total_size, 0);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, magic, 4);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, crc, 8);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, queue_id, 12);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, flags, 16);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, reconsume_times, 20);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, queue_offset, 24);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, commitlog_offset, 32);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, born_ts_ms, 40);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, store_ts_ms, 48);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, born_host, 56);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, producer_id, 64);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, producer_seq, 72);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, prepared_tx_offset, 80);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, body_len, 88);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, topic_len, 92);
SHMQ_ASSERT_OFFSET(struct shmq_cl_record, props_len, 94);

#define SHMQ_CL_HEADER_SIZE ((uint32_t)sizeof(struct shmq_cl_record))

struct shmq_cl_filler {
	uint32_t total_size;
	uint32_t magic;
};
SHMQ_ASSERT_SIZE(struct shmq_cl_filler, 8);
SHMQ_ASSERT_OFFSET(struct shmq_cl_filler, magic, 4);

/* Property entry header: key_len (1) then val_len (2, unaligned LE). */
#define SHMQ_CL_PROP_HDR 3u

#endif
