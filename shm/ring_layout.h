/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared-memory layout of a ring file (conventions 7). Internal: only shm/
 * and its tests include this; clients see include/shmq/ring.h.
 *
 * File = one header page + a power-of-two data area:
 *
 *   offset  size  line  field
 *   0x000      8     0  magic "SHMQRING" (u64, little-endian)
 *   0x008      4     0  version
 *   0x00c      4     0  data_offset (always SHMQ_RING_DATA_OFFSET)
 *   0x010      8     0  fingerprint (shmq_ring_layout_fingerprint())
 *   0x018      8     0  capacity (bytes, power of two)
 *   0x020      4     0  max_msg (largest single payload)
 *   0x024      4     0  _pad0
 *   0x028      8     0  unblock_timeout_ns (G6)
 *   0x030     16     0  _pad1
 *   0x040      8     1  tail      producers CAS it to reserve
 *   0x080      8     2  head      space released to producers (gating reader)
 *   0x0c0      8     3  reclaim   announced reclamation: >= head (gating reader)
 *   0x100      8     4  consumed  gating reader's read position
 *   0x140     4+4    5  data_seq, data_waiters (futex word + sleepers)
 *   0x180  4+4+4     6  space_seq, space_waiters, space_wanted
 *   0x1c0  4+4+16    7  mark_seq, mark_waiters, marks[2]
 *   0x200   8x3      8  anchor seqlock: seq, pos, queue_offset
 *   0x240   8x4      9  stats: unblocked, reclaimed_commits, backpressured, futex_wakes
 *   0x280      4    10  fenced
 *   0x2c0           --  (end of struct; rest of the page is zero)
 *   0x1000   cap    --  data area: records, 8-byte aligned
 *
 * Every line after the first is its own 64-byte cache line, so producers
 * (tail), the gating reader (head, reclaim, consumed) and the waiters never
 * share a line they write.
 *
 * A record (never straddles the end of the data area):
 *
 *   0   len          u32 atomic: the commit word (see SHMQ_RING_LEN_*)
 *   4   type         u16: SHMQ_RING_REC_BATCH or a user type (>= 16)
 *   6   count        u16: 1 for a single message, else messages in the batch
 *   8   producer_id  u32
 *   12  payload_len  u32: single: payload bytes; batch: bytes after the header
 *   16  payload, padded to 8 bytes.
 *   A batch payload is `count` inner messages: an 8-byte inner header
 *   (len u32, type u16, index u16) then the payload padded to 8 bytes.
 *
 * The len word's states (all transitions are CAS except the first commit of
 * a padding record written by the gating reader after a poison walk):
 *   0                      nothing written (free space is all zero)
 *   RESERVED | total       producer owns [pos, pos + total), not committed
 *   total                  committed record (high bits clear)
 *   PAD | total            committed padding: readers skip `total` bytes
 *   POISON                 gating reader declared this word dead (G6 walk)
 * A padding record is identified by the len word alone, so it may be as short
 * as 8 bytes and the fields after the len word are never read for it.
 */
#ifndef SHMQ_SHM_RING_LAYOUT_H
#define SHMQ_SHM_RING_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/compiler.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the ring layout is little-endian; big-endian hosts are not supported"
#endif

#define SHMQ_RING_MAGIC        0x474e4952514d4853ull /* "SHMQRING" read as LE u64 */
#define SHMQ_RING_VERSION      1u
#define SHMQ_RING_DATA_OFFSET  4096u

#define SHMQ_RING_MIN_CAPACITY (1ull << 12)
#define SHMQ_RING_MAX_CAPACITY (1ull << 40)

/* len word encoding. Record totals are < 2^30, multiples of 8. */
#define SHMQ_RING_LEN_RESERVED 0x80000000u
#define SHMQ_RING_LEN_PAD      0x40000000u
#define SHMQ_RING_LEN_MASK     0x3fffffffu
/* Not a valid RESERVED marker (total not 8-aligned): only the G6 walk writes it. */
#define SHMQ_RING_LEN_POISON   0xffffffffu

/* Largest payload of any record (single or whole batch): keeps total < 2^30. */
#define SHMQ_RING_MAX_PAYLOAD  (1u << 29)

/* Record types below SHMQ_RING_TYPE_USER (include/shmq/ring.h). */
#define SHMQ_RING_REC_BATCH    1u

struct shmq_ring_rec {
	_Atomic uint32_t len;
	uint16_t type;
	uint16_t count;
	uint32_t producer_id;
	uint32_t payload_len;
};
SHMQ_ASSERT_SIZE(struct shmq_ring_rec, 16);
SHMQ_ASSERT_OFFSET(struct shmq_ring_rec, len, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ring_rec, type, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ring_rec, count, 6);
SHMQ_ASSERT_OFFSET(struct shmq_ring_rec, producer_id, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ring_rec, payload_len, 12);
static_assert(sizeof(_Atomic uint32_t) == 4 && alignof(_Atomic uint32_t) == 4,
	      "the commit word must be a plain 4-byte atomic");

struct shmq_ring_inner {
	uint32_t len;
	uint16_t type;
	uint16_t index;
};
SHMQ_ASSERT_SIZE(struct shmq_ring_inner, 8);
SHMQ_ASSERT_OFFSET(struct shmq_ring_inner, len, 0);
SHMQ_ASSERT_OFFSET(struct shmq_ring_inner, type, 4);
SHMQ_ASSERT_OFFSET(struct shmq_ring_inner, index, 6);

struct shmq_ring_header {
	/* line 0: identity, written once at create */
	uint64_t magic;
	uint32_t version;
	uint32_t data_offset;
	uint64_t fingerprint;
	uint64_t capacity;
	uint32_t max_msg;
	uint32_t _pad0;
	uint64_t unblock_timeout_ns;
	uint8_t _pad1[16];
	/* line 1 */
	_Atomic uint64_t tail;
	uint8_t _pad2[56];
	/* line 2 */
	_Atomic uint64_t head;
	uint8_t _pad3[56];
	/* line 3 */
	_Atomic uint64_t reclaim;
	uint8_t _pad4[56];
	/* line 4 */
	_Atomic uint64_t consumed;
	uint8_t _pad5[56];
	/* line 5 */
	_Atomic uint32_t data_seq;
	_Atomic uint32_t data_waiters;
	uint8_t _pad6[56];
	/* line 6 */
	_Atomic uint32_t space_seq;
	_Atomic uint32_t space_waiters;
	_Atomic uint32_t space_wanted;
	uint8_t _pad7[52];
	/* line 7 */
	_Atomic uint32_t mark_seq;
	_Atomic uint32_t mark_waiters;
	_Atomic uint64_t marks[2];
	uint8_t _pad8[40];
	/* line 8 */
	_Atomic uint64_t anchor_seq;
	_Atomic uint64_t anchor_pos;
	_Atomic uint64_t anchor_queue_offset;
	uint8_t _pad9[40];
	/* line 9 */
	_Atomic uint64_t st_unblocked;
	_Atomic uint64_t st_reclaimed_commits;
	_Atomic uint64_t st_backpressured;
	_Atomic uint64_t st_futex_wakes;
	uint8_t _pad10[32];
	/* line 10 */
	_Atomic uint32_t fenced;
	uint8_t _pad11[60];
};
SHMQ_ASSERT_SIZE(struct shmq_ring_header, 704);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, magic, 0x000);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, version, 0x008);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, data_offset, 0x00c);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, fingerprint, 0x010);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, capacity, 0x018);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, max_msg, 0x020);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, unblock_timeout_ns, 0x028);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, tail, 0x040);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, head, 0x080);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, reclaim, 0x0c0);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, consumed, 0x100);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, data_seq, 0x140);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, data_waiters, 0x144);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, space_seq, 0x180);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, space_waiters, 0x184);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, space_wanted, 0x188);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, mark_seq, 0x1c0);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, mark_waiters, 0x1c4);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, marks, 0x1c8);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, anchor_seq, 0x200);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, anchor_pos, 0x208);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, anchor_queue_offset, 0x210);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, st_unblocked, 0x240);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, st_reclaimed_commits, 0x248);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, st_backpressured, 0x250);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, st_futex_wakes, 0x258);
SHMQ_ASSERT_OFFSET(struct shmq_ring_header, fenced, 0x280);
/* Producer and consumer cursors on separate cache lines (conventions 7). */
static_assert(offsetof(struct shmq_ring_header, tail) / SHMQ_CACHE_LINE !=
	      offsetof(struct shmq_ring_header, head) / SHMQ_CACHE_LINE, "tail/head share a line");
static_assert(offsetof(struct shmq_ring_header, head) / SHMQ_CACHE_LINE !=
	      offsetof(struct shmq_ring_header, reclaim) / SHMQ_CACHE_LINE, "head/reclaim share a line");
static_assert(offsetof(struct shmq_ring_header, reclaim) / SHMQ_CACHE_LINE !=
	      offsetof(struct shmq_ring_header, consumed) / SHMQ_CACHE_LINE, "reclaim/consumed share a line");
static_assert(offsetof(struct shmq_ring_header, consumed) / SHMQ_CACHE_LINE !=
	      offsetof(struct shmq_ring_header, data_seq) / SHMQ_CACHE_LINE, "consumed/futex share a line");
static_assert(sizeof(struct shmq_ring_header) <= SHMQ_RING_DATA_OFFSET, "header must fit its page");
static_assert(SHMQ_RING_DATA_OFFSET % 4096 == 0, "data area must be page aligned");

/*
 * A constant that changes whenever the layout does: FNV-1a over the sizes and
 * offsets above plus the len-word encoding. Attach refuses a mismatch even if
 * someone forgot to bump SHMQ_RING_VERSION.
 */
static inline uint64_t shmq_ring_layout_fingerprint(void)
{
	const uint64_t parts[] = {
		sizeof(struct shmq_ring_header), sizeof(struct shmq_ring_rec),
		sizeof(struct shmq_ring_inner), SHMQ_RING_DATA_OFFSET,
		offsetof(struct shmq_ring_header, tail), offsetof(struct shmq_ring_header, head),
		offsetof(struct shmq_ring_header, reclaim), offsetof(struct shmq_ring_header, consumed),
		offsetof(struct shmq_ring_header, data_seq), offsetof(struct shmq_ring_header, space_seq),
		offsetof(struct shmq_ring_header, space_wanted), offsetof(struct shmq_ring_header, marks),
		offsetof(struct shmq_ring_header, anchor_seq), offsetof(struct shmq_ring_header, st_unblocked),
		offsetof(struct shmq_ring_header, fenced),
		offsetof(struct shmq_ring_rec, type), offsetof(struct shmq_ring_rec, count),
		offsetof(struct shmq_ring_rec, producer_id), offsetof(struct shmq_ring_rec, payload_len),
		offsetof(struct shmq_ring_inner, type), offsetof(struct shmq_ring_inner, index),
		SHMQ_RING_LEN_RESERVED, SHMQ_RING_LEN_PAD, SHMQ_RING_LEN_POISON, SHMQ_RING_REC_BATCH,
	};
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < SHMQ_ARRAY_SIZE(parts); i++) {
		h ^= parts[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#endif
