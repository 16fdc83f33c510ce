/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layout of a consumer group's offset table for one topic (conventions 7): a
 * tmpfs file `<ring_dir>/<group>@<topic>.offsets` (mode 0600) that the broker
 * creates and hands to each member with its GROUP_JOIN response. Members
 * commit offsets by storing into it (no syscall); the broker reads the
 * committed words periodically and at shutdown and persists them to
 * `<store>/config/offsets.json`; it writes the owner words on rebalance.
 *
 * Nobody trusts the other side's words: a member validates the header before
 * use (magic, version, fingerprint, queues vs. file size) and the broker
 * clamps a committed offset to the queue's [min, max] stored offsets before
 * persisting it (a member can only hurt its own group).
 *
 *   0                                                            64
 *   +--------+--------+--------+--------+--------+--------+------+
 *   | magic  |version | hdr_len| queues | fingerprint     | gen  | ...
 *   +--------+--------+--------+--------+--------+--------+------+
 *   64: slot[0], slot[1], ... slot[queues - 1]; 64 bytes each, one cache
 *   line per queue so two owners never share a line.
 *
 *   slot (64 bytes)
 *     0   committed       u64  member stores (release), broker loads (acquire):
 *                              the next queue offset the group will consume;
 *                              SHMQ_OFFSETS_NONE = never committed
 *     8   owner           u64  broker stores (release), members load (acquire):
 *                              member id (session id) allowed to deliver the
 *                              queue; 0 = nobody
 *     16  owner_gen       u32  generation in which `owner` was set
 *     20  revoke_gen      u32  != 0: the broker wants the queue back since this
 *                              generation; the owner stops at a message
 *                              boundary, commits, then sends QUEUE_RELEASE
 *     24  reset_seq       u32  bumped by the broker when it rewrote `committed`
 *                              (GROUP_RESET): owners restart from `committed`
 *     28  reserved        36 bytes, 0
 *
 * The header's `generation` (u32) is bumped by the broker (release) after it
 * changed any owner, revoke or reset word; members poll it (acquire) on every
 * poll, which costs one load when nothing changed.
 */
#ifndef SHMQ_COMMON_OFFSETS_LAYOUT_H
#define SHMQ_COMMON_OFFSETS_LAYOUT_H

#include <stdatomic.h>
#include <stdint.h>

#include "common/compiler.h"

#define SHMQ_OFFSETS_MAGIC   0x464f5153u /* "SQOF" little-endian */
#define SHMQ_OFFSETS_VERSION 1u
#define SHMQ_OFFSETS_NONE    UINT64_MAX
#define SHMQ_OFFSETS_QUEUES_MAX 1024u

struct shmq_offsets_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_len;        /* 64 */
	uint32_t queues;         /* 1..SHMQ_OFFSETS_QUEUES_MAX */
	uint32_t reserved0;      /* 0 */
	uint64_t fingerprint;    /* SHMQ_OFFSETS_FINGERPRINT */
	_Atomic uint32_t generation;
	uint32_t reserved1;      /* 0 */
	uint8_t pad[32];
};
SHMQ_ASSERT_SIZE(struct shmq_offsets_hdr, 64);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_hdr, magic, 0);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_hdr, version, 4);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_hdr, hdr_len, 6);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_hdr, queues, 8);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_hdr, reserved0, 12);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_hdr, fingerprint, 16);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_hdr, generation, 24);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_hdr, reserved1, 28);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_hdr, pad, 32);

struct shmq_offsets_slot {
	_Atomic uint64_t committed;
	_Atomic uint64_t owner;
	_Atomic uint32_t owner_gen;
	_Atomic uint32_t revoke_gen;
	_Atomic uint32_t reset_seq;
	uint8_t reserved[36];
};
SHMQ_ASSERT_SIZE(struct shmq_offsets_slot, 64);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_slot, committed, 0);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_slot, owner, 8);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_slot, owner_gen, 16);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_slot, revoke_gen, 20);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_slot, reset_seq, 24);
SHMQ_ASSERT_OFFSET(struct shmq_offsets_slot, reserved, 28);

/* Changes whenever a field above moves: sizes and offsets folded together. */
#define SHMQ_OFFSETS_FINGERPRINT                                                  \
	(((uint64_t)sizeof(struct shmq_offsets_hdr) << 48) ^                      \
	 ((uint64_t)sizeof(struct shmq_offsets_slot) << 32) ^                     \
	 ((uint64_t)__builtin_offsetof(struct shmq_offsets_slot, reset_seq) << 16) ^ \
	 (uint64_t)__builtin_offsetof(struct shmq_offsets_hdr, generation) ^ 0x5351u)

/* File size for `queues` queues. */
#define SHMQ_OFFSETS_FILE_SIZE(queues) \
	((uint64_t)sizeof(struct shmq_offsets_hdr) + (uint64_t)(queues) * sizeof(struct shmq_offsets_slot))

#endif
