/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <linux/futex.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "shm/futex.h"

int shmq_futex_wait(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	if (timeout_ns != UINT64_MAX) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		tsp = &ts;
	}
	/* FUTEX_WAIT (not _PRIVATE): the word lives in a MAP_SHARED file mapping. */
	long rc = syscall(SYS_futex, (void *)word, FUTEX_WAIT, expected, tsp, NULL, 0);
	if (rc == 0)
		return 0;
	switch (errno) {
	case EAGAIN: return -EAGAIN;
	case ETIMEDOUT: return -ETIMEDOUT;
	case EINTR: return -EINTR;
	default: return -errno;
	}
}

int shmq_futex_wake(_Atomic uint32_t *word, int n)
{
	long rc = syscall(SYS_futex, (void *)word, FUTEX_WAKE, n, NULL, NULL, 0);
	return rc < 0 ? -errno : (int)rc;
}
