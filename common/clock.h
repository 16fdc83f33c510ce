/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SHMQ_COMMON_CLOCK_H
#define SHMQ_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Monotonic nanoseconds: timeouts and latency measurement. */
static inline uint64_t shmq_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Wall-clock milliseconds since the epoch: born/store timestamps on disk. */
static inline uint64_t shmq_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000ull + (uint64_t)ts.tv_nsec / 1000000ull;
}

/* Wall-clock nanoseconds since the epoch: timestamps compared across hosts. */
static inline uint64_t shmq_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC time @p ns from now, for pthread_cond_timedwait() on a
 * condvar with that clock and for futex deadlines. Callers bound @p ns. */
static inline void shmq_mono_deadline(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	uint64_t t = (uint64_t)ts->tv_nsec + ns % 1000000000ull;
	ts->tv_sec += (time_t)(ns / 1000000000ull + t / 1000000000ull);
	ts->tv_nsec = (long)(t % 1000000000ull);
}

#endif
