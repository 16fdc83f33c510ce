/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Futex wait/wake on a 32-bit word in a MAP_SHARED mapping. Internal to shm/.
 * The non-private operations are used because the word is shared by several
 * processes (a private futex keys on the virtual address of one process).
 */
#ifndef SHMQ_SHM_FUTEX_H
#define SHMQ_SHM_FUTEX_H

#include <stdatomic.h>
#include <stdint.h>

/**
 * @brief Sleep while *word == expected, for at most timeout_ns (UINT64_MAX:
 * no limit). The kernel compares and sleeps atomically, so a wake that bumped
 * the word before the call makes it return at once.
 * @return 0 (woken, possibly spuriously), -EAGAIN (word != expected),
 *         -ETIMEDOUT, -EINTR.
 */
int shmq_futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns);

/** @brief Wake up to @p n sleepers on @p word. @return number woken or -errno. */
int shmq_futex_wake(_Atomic uint32_t *word, int n);

#endif
