/* SPDX-License-Identifier: Apache-2.0 */
/*
 * On-disk layout of a consumequeue (one directory per topic/queue).
 *
 * Directory <store>/consumequeue/<topic>/<queue_id>/ holds:
 *
 *   meta                      32-byte sidecar: magic, version, geometry, CRC
 *   00000000000000000000      data file with queue offsets [0, E)
 *   00000000000000300000      data file with queue offsets [E, 2E)   (E =
 *   ...                       entries_per_file; name = first queue offset,
 *                             20 decimal digits, always a multiple of E)
 *
 * Why a sidecar and not a header page: a data file is exactly E * 20 bytes of
 * entries with no header and no per-entry magic, the same entry bytes as
 * RocketMQ's ConsumeQueue files (which are named by first byte offset, i.e.
 * queue offset * 20, where ours use the queue offset itself), so the queue
 * offset -> file position mapping stays a single multiply. The magic/version/geometry live once per directory
 * in `meta`, written before any data file (tmp + fsync + rename + dir fsync),
 * so a data directory without a valid `meta` is foreign or corrupt
 * (SHMQ_ECORRUPT at open), and a `meta` with another version is
 * SHMQ_ELAYOUT. The stored entries_per_file wins over the one passed to
 * shmq_cq_open(): existing files keep their geometry.
 *
 * meta (little-endian):
 *
 *    0       4       6       8              12             16
 *    +-------+-------+-------+--------------+--------------+
 *    | magic |version|entsz  | entries_per_ |   reserved   |
 *    | u32   | u16   | u16   | file u32     |   u32 (0)    |
 *    +-------+-------+-------+--------------+--------------+
 *   16                              28             32
 *    +------------------------------+--------------+
 *    |       reserved (0) 12 bytes  | crc32c u32 of |
 *    |                              | bytes [0, 28) |
 *    +------------------------------+--------------+
 *
 * Data entry (20 bytes, packed, little-endian, no padding, no magic):
 *
 *    0                        8            12                       20
 *    +------------------------+------------+------------------------+
 *    | commitlog_offset u64   | size u32   | tag_hash u64           |
 *    +------------------------+------------+------------------------+
 *
 * Invariants a valid directory keeps (checked at open):
 *  - I1 a real entry has size > 0, so an all-zero entry means "never written";
 *    the queue's max offset is the first all-zero entry, and every entry at or
 *    past max is all-zero (open zeroes any stale bytes found past it: pages
 *    written back out of order before a crash). Open scans the last 3 files
 *    entry by entry and only the last entry of older files; a zero entry left
 *    in an older file reads as SHMQ_ECORRUPT until recovery's replay fills it.
 *  - I2 data files form one contiguous run of file indices (retention deletes
 *    from the front only; the newest file is never deleted).
 *  - I3 commitlog offsets strictly increase with the queue offset.
 */
#ifndef SHMQ_BROKER_STORE_CQ_LAYOUT_H
#define SHMQ_BROKER_STORE_CQ_LAYOUT_H

#include <stdint.h>

#include "common/compiler.h"

#define SHMQ_CQ_META_MAGIC   0x4d514353u /* "SCQM" in file byte order */
#define SHMQ_CQ_META_VERSION 1u
#define SHMQ_CQ_META_NAME    "meta"
#define SHMQ_CQ_ENTRY_SIZE   20u
#define SHMQ_CQ_NAME_DIGITS  20u
/* Upper bound on entries_per_file: keeps one file's mapping below 1.25 GiB and
 * rejects garbage geometry read from `meta`. */
#define SHMQ_CQ_MAX_ENTRIES_PER_FILE (1u << 26)
#define SHMQ_CQ_DEFAULT_ENTRIES_PER_FILE 300000u

struct shmq_cq_meta_disk {
	uint32_t magic;            /* SHMQ_CQ_META_MAGIC */
	uint16_t version;          /* SHMQ_CQ_META_VERSION */
	uint16_t entry_size;       /* SHMQ_CQ_ENTRY_SIZE */
	uint32_t entries_per_file; /* 1 .. SHMQ_CQ_MAX_ENTRIES_PER_FILE */
	uint32_t reserved0;        /* 0 */
	uint8_t  reserved1[12];    /* 0 */
	uint32_t crc;              /* crc32c of bytes [0, 28) */
};
SHMQ_ASSERT_SIZE(struct shmq_cq_meta_disk, 32);
SHMQ_ASSERT_OFFSET(struct shmq_cq_meta_disk, magic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_cq_meta_disk, version, 4);
SHMQ_ASSERT_OFFSET(struct shmq_cq_meta_disk, entry_size, 6);
SHMQ_ASSERT_OFFSET(struct shmq_cq_meta_disk, entries_per_file, 8);
SHMQ_ASSERT_OFFSET(struct shmq_cq_meta_disk, reserved0, 12);
SHMQ_ASSERT_OFFSET(struct shmq_cq_meta_disk, reserved1, 16);
SHMQ_ASSERT_OFFSET(struct shmq_cq_meta_disk, crc, 28);

/* Packed: entries sit at a 20-byte stride, so they are accessed by memcpy. */
struct shmq_cq_entry_disk {
	uint64_t commitlog_offset;
	uint32_t size;
	uint64_t tag_hash;
} __attribute__((packed));
SHMQ_ASSERT_SIZE(struct shmq_cq_entry_disk, SHMQ_CQ_ENTRY_SIZE);
SHMQ_ASSERT_OFFSET(struct shmq_cq_entry_disk, commitlog_offset, 0);
SHMQ_ASSERT_OFFSET(struct shmq_cq_entry_disk, size, 8);
SHMQ_ASSERT_OFFSET(struct shmq_cq_entry_disk, tag_hash, 12);

#endif
