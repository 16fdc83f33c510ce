/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Flushing of the store's secondary mapped files (consumequeue, index): a
 * file is msynced only if its dirty flag was raised since the last flush,
 * and the directory is fsynced only if files were created or removed in it.
 * On failure the flag is raised again so the next flush retries.
 */
#ifndef SHMQ_STORE_MAPSYNC_H
#define SHMQ_STORE_MAPSYNC_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

/* Returns 0 or -errno; keeps the first error in *rc. */
static inline int shmq_msync_if_dirty(void *map, size_t len, _Atomic bool *dirty, int *rc)
{
	/* acquire: pairs with the writer's release store of the flag, made after
	 * the entries it covers; the msync below then covers them. */
	if (!atomic_exchange_explicit(dirty, false, memory_order_acquire))
		return 0;
	if (msync(map, len, MS_SYNC) == 0)
		return 0;
	int e = -errno;
	if (*rc == 0)
		*rc = e;
	/* relaxed: only re-arms the flag for the next flush. */
	atomic_store_explicit(dirty, true, memory_order_relaxed);
	return e;
}

/* The directory flag is set under the owner's write lock, which the caller's
 * read lock orders before this call: relaxed is enough. */
static inline int shmq_fsync_dir_if_dirty(int dirfd, _Atomic bool *dirty, int *rc)
{
	/* relaxed: ordered by the owner's lock, see above. */
	if (!atomic_exchange_explicit(dirty, false, memory_order_relaxed))
		return 0;
	if (fsync(dirfd) == 0)
		return 0;
	int e = -errno;
	if (*rc == 0)
		*rc = e;
	/* relaxed: only re-arms the flag. */
	atomic_store_explicit(dirty, true, memory_order_relaxed);
	return e;
}

#endif
