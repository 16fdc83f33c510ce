/* SPDX-License-Identifier: Apache-2.0 */
/*
 * On-disk layout of <store>/checkpoint (conventions 7, 9).
 *
 * The file is 1024 bytes: two 64-byte slots at offsets 0 and 512 (separate
 * sectors, so a torn write damages at most one). Slot i holds the checkpoint
 * whose seq has parity i. Writing checkpoint seq+1: data is fdatasync'ed
 * first, then slot (seq+1)&1 is written whole and the file fdatasync'ed; the
 * older slot stays intact until the write after. Recovery picks the slot with
 * a valid magic, version and CRC and the highest seq.
 *
 *   0        4    6    8                16                24
 *   +--------+----+----+----------------+----------------+
 *   | magic  |ver |size|      seq       |  cl_flushed    |
 *   +--------+----+----+----------------+----------------+
 *  24  cq_flushed (8)  | 32 index_flushed (8) | 40 store_ts_ms (8)
 *  48  reserved (12, zero)                    | 60 crc (4)
 *
 * cl_flushed: every commitlog byte below it is on disk (a record boundary).
 * cq_flushed / index_flushed: every record below them has its consumequeue /
 * index entries on disk. store_ts_ms: store timestamp of the newest record
 * below cl_flushed. crc = CRC32C of bytes [0, 60).
 */
#ifndef SHMQ_BROKER_STORE_CHECKPOINT_LAYOUT_H
#define SHMQ_BROKER_STORE_CHECKPOINT_LAYOUT_H

#include <stdint.h>

#include "common/compiler.h"

#define SHMQ_CKPT_MAGIC     0x50435153u /* "SQCP" */
#define SHMQ_CKPT_VERSION   1u
#define SHMQ_CKPT_SLOT_STRIDE 512u
#define SHMQ_CKPT_FILE_SIZE 1024u

struct shmq_ckpt_slot {
	uint32_t magic;
	uint16_t version;
	uint16_t slot_size;
	uint64_t seq;
	uint64_t cl_flushed;
	uint64_t cq_flushed;
	uint64_t index_flushed;
	uint64_t store_ts_ms;
	uint8_t reserved[12];
	uint32_t crc;
};
SHMQ_ASSERT_SIZE(struct shmq_ckpt_slot, 64);
SHMQ_ASSERT_OFFSET(struct shmq_ckpt_slot, magic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ckpt_slot, version, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ckpt_slot, slot_size, 6);
SHMQ_ASSERT_OFFSET(struct shmq_ckpt_slot, seq, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ckpt_slot, cl_flushed, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ckpt_slot, cq_flushed, 24);
SHMQ_ASSERT_OFFSET(struct shmq_ckpt_slot, index_flushed, 32);
SHMQ_ASSERT_OFFSET(struct shmq_ckpt_slot, store_ts_ms, 40);
SHMQ_ASSERT_OFFSET(struct shmq_ckpt_slot, reserved, 48);
SHMQ_ASSERT_OFFSET(struct shmq_ckpt_slot, crc, 60);

#endif
