/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker's defence against shared files shrunk under its mappings.
 *
 * Clients hold read-write descriptors of the rings and offset tables the
 * broker maps (they must write to them), and tmpfs files cannot be sealed, so
 * a buggy or hostile client can ftruncate() one. The broker's next access to
 * a page past the new end would raise SIGBUS and kill it, taking every queue
 * down. The guard (the technique Wayland compositors use for client shm
 * pools) catches that SIGBUS: when the faulting address lies in a registered
 * region, it replaces the whole region with private anonymous memory filled
 * with 0xff bytes and returns, so the access is retried on memory that exists.
 * 0xff is chosen for what it means in our layouts: a ring header's `fenced`
 * word is non-zero (every later ring operation says SHMQ_EFENCED, and the
 * persister reports the ring fenced), an offset-table slot's committed word
 * is SHMQ_OFFSETS_NONE (the broker keeps its own last known offsets).
 * Records already persisted are safe in the store; what the shrunk file held
 * beyond that is gone with it.
 *
 * A fault outside every region is not ours: the previous disposition is put
 * back and the access retried, so it dies (or reaches ASan) as before.
 *
 * Rules: install once (per process) before registering; add/remove from any
 * thread (serialised by a mutex); the handler reads the table lock-free. A
 * region must be removed before it is unmapped.
 */
#ifndef SHMQ_COMMON_SHM_GUARD_H
#define SHMQ_COMMON_SHM_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Regions the table holds (rings + offset tables of one broker). The broker
 *  refuses a ring or an offset table it cannot guard; at most 4096 offset
 *  tables (broker/groups.c), so rings keep at least 12288. */
#define SHMQ_SHM_GUARD_MAX 16384u

/** @brief Install the SIGBUS handler (again if another replaced it since:
 *  it then chains to that one). 0 or -errno. */
int shmq_shm_guard_install(void);

/** @brief Guard [@p addr, @p addr + @p len) (page-aligned start).
 *  @return a slot id >= 0; -EINVAL; -ENOSPC (table full: unguarded). */
int shmq_shm_guard_add(void *addr, size_t len);

/** @brief Stop guarding a slot (before unmapping it). -1 is ignored. */
void shmq_shm_guard_remove(int slot);

/**
 * @brief Run @p fn (mapping a shared file and checking it, before its region
 *        can be guarded) so that a SIGBUS outside every guarded region in
 *        this thread ends @p fn instead of the process: a client can shrink
 *        the file between the mmap and the first read. Install first.
 * @return what @p fn returned, or -EFAULT if it was cut short (what it had
 *         mapped or allocated by then is leaked: only a hostile client
 *         causes this).
 */
int shmq_shm_guard_try(int (*fn)(void *arg), void *arg);

/** @brief Whether the slot's file shrank and its region was replaced. */
bool shmq_shm_guard_tripped(int slot);

/** @brief Regions replaced since the process started. */
uint64_t shmq_shm_guard_trips(void);

#endif
