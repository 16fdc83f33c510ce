/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/groups.h
 * @brief The broker's consumer groups: membership, queue assignment, the
 *        revoke/release hand-over, and committed offsets.
 *
 * State is kept per (group, topic) "entry": its live members (sorted by
 * member id = control session id), the queue owners, and the offset table
 * `<ring_dir>/<group>@<topic>.offsets` (common/offsets_layout.h) that every
 * member maps. Offsets are persisted to `<store_dir>/config/offsets.json`:
 *   {"version": 1, "groups": [{"group": "g", "topic": "t",
 *                              "offsets": [12, null, 7]}]}
 * (entry i of "offsets" is queue i's next offset to consume, null = never
 * committed; 1..1024 entries; values 0..2^63-2).
 *
 * Guarantees (tests cite them as GR1..GR8):
 *  GR1 one owner: in clustering mode every queue has at most one owner at any
 *      time, and that owner is a live member. The in-memory state is the
 *      authority; the table's owner words are a copy written by the broker
 *      (members may scribble on them; the broker never reads them back).
 *  GR2 allocation ("averagely", as RocketMQ): with n live members sorted by
 *      id and Q queues, member k targets the contiguous range
 *      [k*(Q/n) + min(k, Q%n), ...) of Q/n queues, plus one if k < Q%n;
 *      members past Q get nothing. Once every pending hand-over completed,
 *      each queue is owned by its target.
 *  GR3 hand-over: a queue whose owner A is live and no longer its target is
 *      first REVOKED (slot.revoke_gen = the new generation). It moves only
 *      after A's shmq_groups_release() for that revoke_gen, or when
 *      revoke_timeout_ns passed without one (shmq_groups_tick() forces it).
 *      Then the queue goes to its current target (owner_gen = the generation
 *      bumped for that change). A revoke is never cancelled: if the target
 *      becomes A again, A gets the queue back after its release.
 *  GR4 departure: a member that leaves or whose session is gone loses its
 *      queues at once (no revoke): its process stopped delivering them.
 *  GR5 generation: every change of an owner, revoke or reset word in a table
 *      is followed by one bump of that table's generation (release store);
 *      members poll it (acquire) and GROUP_SYNC when it moved. Never 0.
 *  GR6 broadcasting: every member is assigned every queue; owner and revoke
 *      words stay 0 and the committed words are not used or persisted.
 *  GR7 offsets: persist reads each committed word (acquire), clamps it into
 *      the queue's [min, max] (from the caller's bounds callback), and writes
 *      offsets.json atomically (tmp + fsync + rename + directory fsync); a
 *      failed write leaves the previous file intact. A committed word of
 *      SHMQ_OFFSETS_NONE keeps the previously persisted value. Broadcasting
 *      entries keep what they persisted as clustering groups, if anything.
 *  GR8 restart: at create, every entry of offsets.json is restored, and every
 *      valid `*.offsets` table in ring_dir is adopted: a queue's committed
 *      offset is the table's word when the table is valid and the word is not
 *      SHMQ_OFFSETS_NONE, else offsets.json's; owners and revokes are
 *      cleared and the generation bumped (members of the previous run stop
 *      delivering). Strict loading: a malformed offsets.json fails create
 *      with SHMQ_ECORRUPT and a message (as broker/topics.h T3).
 *
 * Modes: an entry's mode is set by its first join; a join with another mode
 * gets -EINVAL while any entry of the same group name has members (a group
 * has one mode); an entry with no members takes the mode of the next join.
 * Entries restored from disk count as clustering.
 *
 * Thread safety: NOT thread-safe. Every function, shmq_groups_persist()
 * included, must be called from one thread at a time (the daemon calls all
 * of them from its event-loop thread). Members touch the tables from other
 * processes concurrently; the atomics in groups.c name their pairings.
 *
 * Time: revoke deadlines use CLOCK_MONOTONIC (shmq_now_ns(), common/clock.h)
 * at the moment of the revoke; shmq_groups_tick() takes the same clock.
 */
#ifndef SHMQ_BROKER_GROUPS_H
#define SHMQ_BROKER_GROUPS_H

#include <stddef.h>
#include <stdint.h>

#include "common/ctl_layout.h"

typedef struct shmq_groups shmq_groups_t;

/** A member's view, for GROUP_JOIN / GROUP_SYNC responses. */
struct shmq_group_assign {
	uint32_t generation;                  /**< the table's generation now */
	uint32_t count;                       /**< entries of queues[] */
	uint32_t queues[SHMQ_CTL_QUEUES_MAX]; /**< owned queues, increasing (revoked ones included
					       *   until released: check slot.revoke_gen) */
	uint32_t nqueues;                     /**< queues of the topic (table slots) */
	uint32_t mode;                        /**< enum shmq_ctl_group_mode */
};

/**
 * Bounds of a queue for clamping: *min = oldest stored queue offset, *max =
 * the next queue offset the queue will store (a committed offset may equal
 * it). Return 0, or a negative status: that queue then keeps its previously
 * persisted value.
 */
typedef int (*shmq_groups_bounds_fn)(void *arg, const char *topic, uint32_t queue, uint64_t *min,
				     uint64_t *max);

/**
 * @brief Load offsets.json and adopt the tables of ring_dir (GR8).
 * @param revoke_timeout_ns time a live owner gets to release a revoked queue.
 * @param err one-line reason on failure (may be NULL).
 * @return 0; SHMQ_ECORRUPT (bad offsets.json); -ENAMETOOLONG; -ENOMEM;
 *         -errno from the file system (ring_dir and <store>/config are
 *         created if missing).
 */
int shmq_groups_create(const char *ring_dir, const char *store_dir, uint64_t revoke_timeout_ns,
		       shmq_groups_t **out, char *err, size_t errlen);

/** @brief Unmap the tables and free (accepts NULL). Does not persist: call
 *  shmq_groups_persist() first. The table files stay for the next run. */
void shmq_groups_destroy(shmq_groups_t *g);

/**
 * @brief Add @p member to (group, topic) and rebalance.
 * @param queues the topic's queue count (1..SHMQ_CTL_QUEUES_MAX).
 * @param mode SHMQ_CTL_GROUP_CLUSTERING or SHMQ_CTL_GROUP_BROADCASTING.
 * @param out the member's assignment after the rebalance (a new member
 *        usually owns nothing yet: the queues it targets are being revoked).
 * @param fd receives a dup (O_CLOEXEC) of the table's fd; the caller closes
 *        it after sending the response.
 * @return 0 (joining twice is allowed and changes nothing); -EINVAL (bad
 *         name, queues, mode or member 0; a mode other than the group's; a
 *         queue count other than the entry's while it has members); -ENOSPC
 *         (too many entries); -ENOMEM; -errno creating the table or dup.
 */
int shmq_groups_join(shmq_groups_t *g, const char *group, const char *topic, uint32_t queues,
		     uint32_t mode, uint64_t member, struct shmq_group_assign *out, int *fd);

/** @brief Current assignment of a member. 0; SHMQ_ENOTFOUND (not a member);
 *  -EINVAL (bad arguments). */
int shmq_groups_sync(shmq_groups_t *g, const char *group, const char *topic, uint64_t member,
		     struct shmq_group_assign *out);

/** @brief Remove a member (GR4) and rebalance. 0; SHMQ_ENOTFOUND; -EINVAL. */
int shmq_groups_leave(shmq_groups_t *g, const char *group, const char *topic, uint64_t member);

/** @brief Remove @p member from every entry (its session closed), GR4. */
void shmq_groups_member_gone(shmq_groups_t *g, uint64_t member);

/**
 * @brief The owner gives back a revoked queue (GR3).
 * @param generation the slot's revoke_gen the member saw.
 * @return 0; SHMQ_ENOTFOUND (entry unknown or not a member); -EINVAL (bad
 *         arguments, queue out of range); -ESTALE (the member does not own
 *         the queue, it is not being revoked, or in another generation: the
 *         member should GROUP_SYNC and carry on).
 */
int shmq_groups_release(shmq_groups_t *g, const char *group, const char *topic, uint32_t queue,
			uint32_t generation, uint64_t member);

/** @brief Force every revoke whose deadline is <= @p now_ns (CLOCK_MONOTONIC),
 *  then rebalance the entries concerned (GR3). */
void shmq_groups_tick(shmq_groups_t *g, uint64_t now_ns);

/**
 * @brief COMMIT_OFFSET over the socket: store @p offset into the queue's
 *        committed word (a member normally stores it itself).
 * @return 0; SHMQ_ENOTFOUND (entry unknown); -EINVAL (bad name, queue).
 */
int shmq_groups_commit(shmq_groups_t *g, const char *group, const char *topic, uint32_t queue,
		       uint64_t offset);

/**
 * @brief Clamp and persist every non-broadcasting entry's offsets (GR7).
 *        Skips the write when the file would not change.
 * @param fn bounds of a queue; NULL: no bounds known, every committed value
 *        up to 2^63-2 is taken as is (larger ones keep the previous value).
 * @return 0; -errno of the write, fsync, rename or directory fsync (the old
 *         file then stays); -ENOMEM.
 */
int shmq_groups_persist(shmq_groups_t *g, shmq_groups_bounds_fn fn, void *arg);

/**
 * @brief GROUP_PROGRESS: fill @p e[0 .. queues) and @p h for (group, topic).
 *        committed = the table's word now (raw, not clamped) or the restored
 *        value when no table exists; owner = 0 in broadcasting mode.
 *        min_offset and max_offset are set to 0: the caller fills them from
 *        the store. An unknown group answers mode 0, members 0, generation 0
 *        and committed SHMQ_OFFSETS_NONE everywhere.
 * @return 0; -EINVAL (bad names, queues not 1..SHMQ_CTL_QUEUES_MAX, NULL).
 */
int shmq_groups_progress(shmq_groups_t *g, const char *group, const char *topic, uint32_t queues,
			 struct shmq_ctl_progress_entry *e, struct shmq_ctl_progress_resp_hdr *h);

/**
 * @brief GROUP_RESET: store @p offsets[0 .. queues) into the committed words,
 *        bump each slot's reset_seq and the generation (GR5); owners restart
 *        from the new offsets. Creates the entry (and table) when unknown.
 *        Not durable until the next shmq_groups_persist(). A member commit
 *        racing the reset may overwrite it (best with members stopped).
 * @return 0; -EINVAL (bad arguments; a queue count other than the entry's
 *         while it has members); -ENOSPC; -ENOMEM; -errno creating the table.
 */
int shmq_groups_reset(shmq_groups_t *g, const char *group, const char *topic, uint32_t queues,
		      const uint64_t *offsets);

/** @brief Number of (group, topic) entries known (joined this run or restored). */
size_t shmq_groups_count(shmq_groups_t *g);

#endif
