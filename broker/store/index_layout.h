/* SPDX-License-Identifier: Apache-2.0 */
/*
 * On-disk layout of the message-key index (RocketMQ's IndexFile design:
 * header, hash slots, entries linked into backward chains).
 *
 * Directory <store>/index/ holds files named by a 20-digit sequence number
 * (00000000000000000000, 00000000000000000001, ...; newest = highest). Each
 * file is self-describing (its geometry is in its header), so files written
 * with other slot/entry counts stay readable.
 *
 *  file: +--------+----------------------+---------------------------------+
 *        | header | slots[slot_count]    | entries[max_entries]            |
 *        | 64 B   | u32 each: entry no.  | 24 B each, entry n (1-based) at |
 *        |        | of the chain head,   | 64 + 4*slot_count + 24*(n-1)    |
 *        |        | 0 = empty            |                                 |
 *        +--------+----------------------+---------------------------------+
 *
 *  header (little-endian):
 *    0      4      6      8           12          16           20
 *    +------+------+------+-----------+-----------+------------+
 *    |magic |vers. |entsz | slot_count|max_entries|geometry_crc|   immutable
 *    |u32   |u16   |u16   | u32       | u32       |crc32c[0,16)|
 *    +------+------+------+-----------+-----------+------------+
 *   20            24             32           40             48          56       64
 *    +-------------+--------------+------------+--------------+-----------+--------+
 *    | entry_count | begin_ts_ms  | end_ts_ms  | begin_offset | last_off. |reserved|
 *    | u32         | u64          | u64        | u64          | u64       | u64    |
 *    +-------------+--------------+------------+--------------+-----------+--------+
 *    (mutable; begin/end/offset fields are meaningful only when entry_count > 0:
 *     begin_ts = store time of entry 1, end_ts = max store time, begin_offset /
 *     last_offset = lowest / highest commitlog offset indexed)
 *
 *  entry (24 bytes):
 *    0                8                    16              20            24
 *    +----------------+--------------------+---------------+-------------+
 *    | key_hash u64   | commitlog_off. u64 | time_delta u32| prev u32    |
 *    +----------------+--------------------+---------------+-------------+
 *    time_delta = store_ts - begin_ts in ms (0 if the clock went backwards; a
 *    put that does not fit in u32 starts a new file); prev = the entry that
 *    was the slot's head before this one (0 = end of chain).
 *
 * key_hash: FNV-1a 64 over the key bytes, then the MurmurHash3 fmix64
 * finaliser; slot = key_hash % slot_count. (On disk forever: never change.)
 *
 * Invariants we keep and, since disks lie, re-check on every read:
 *  - X1 entries are appended in commitlog order: offsets never decrease
 *    with the entry number, so "entries past commitlog X" are a suffix.
 *  - X2 prev < n for entry n, so a chain strictly descends: at most n steps,
 *    no cycles. A slot or prev value outside [1, entry_count] ends the chain.
 *  - X3 an entry's offset outside [begin_offset, last_offset] is garbage and
 *    is never returned.
 * Opening refuses (SHMQ_ECORRUPT) a file whose magic, geometry CRC or size
 * disagree, or whose entry_count exceeds max_entries; SHMQ_ELAYOUT for another
 * version.
 */
#ifndef SHMQ_BROKER_STORE_INDEX_LAYOUT_H
#define SHMQ_BROKER_STORE_INDEX_LAYOUT_H

#include <stdint.h>

#include "common/compiler.h"

#define SHMQ_INDEX_MAGIC        0x58444953u /* "SIDX" in file byte order */
#define SHMQ_INDEX_VERSION      1u
#define SHMQ_INDEX_HEADER_SIZE  64u
#define SHMQ_INDEX_SLOT_SIZE    4u
#define SHMQ_INDEX_ENTRY_SIZE   24u
#define SHMQ_INDEX_NAME_DIGITS  20u
/* Bounds on geometry read from disk or passed in options: one file stays
 * below ~6.5 GiB. */
#define SHMQ_INDEX_MAX_SLOTS    (1u << 28)
#define SHMQ_INDEX_MAX_ENTRIES  (1u << 28)
#define SHMQ_INDEX_DEFAULT_SLOTS   500000u
#define SHMQ_INDEX_DEFAULT_ENTRIES 2000000u

struct shmq_index_header_disk {
	uint32_t magic;
	uint16_t version;
	uint16_t entry_size;   /* SHMQ_INDEX_ENTRY_SIZE */
	uint32_t slot_count;
	uint32_t max_entries;
	uint32_t geometry_crc; /* crc32c of bytes [0, 16) */
	uint32_t entry_count;  /* entries used; entry numbers are 1..entry_count */
	uint64_t begin_ts_ms;
	uint64_t end_ts_ms;
	uint64_t begin_offset;
	uint64_t last_offset;
	uint64_t reserved;
};
SHMQ_ASSERT_SIZE(struct shmq_index_header_disk, SHMQ_INDEX_HEADER_SIZE);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, magic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, version, 4);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, entry_size, 6);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, slot_count, 8);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, max_entries, 12);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, geometry_crc, 16);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, entry_count, 20);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, begin_ts_ms, 24);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, end_ts_ms, 32);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, begin_offset, 40);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, last_offset, 48);
SHMQ_ASSERT_OFFSET(struct shmq_index_header_disk, reserved, 56);

/* Entries sit at 64 + 4 * slot_count, not always 8-aligned: accessed by
 * memcpy. */
struct shmq_index_entry_disk {
	uint64_t key_hash;
	uint64_t commitlog_offset;
	uint32_t time_delta_ms;
	uint32_t prev;
};
SHMQ_ASSERT_SIZE(struct shmq_index_entry_disk, SHMQ_INDEX_ENTRY_SIZE);
SHMQ_ASSERT_OFFSET(struct shmq_index_entry_disk, key_hash, 0);
SHMQ_ASSERT_OFFSET(struct shmq_index_entry_disk, commitlog_offset, 8);
SHMQ_ASSERT_OFFSET(struct shmq_index_entry_disk, time_delta_ms, 16);
SHMQ_ASSERT_OFFSET(struct shmq_index_entry_disk, prev, 20);

#endif
