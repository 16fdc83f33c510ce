/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "bench/bench_util.h"
#include "common/atomic.h"
#include "common/clock.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_HAVE_TSC 1
#else
#define BENCH_HAVE_TSC 0
#endif

/* Bounded spin before yielding: ~10-50 us of pause instructions. */
#define BENCH_SPIN_LIMIT 4096u

static double ns_per_tick = 1.0;
static int realtime;
static cpu_set_t allowed;     /* the process's CPUs, before any pinning */
static int have_allowed;

int bench_two_cpus(int cpus[2])
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	allowed = set;
	have_allowed = 1;
	for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	if (n == 1)
		cpus[1] = cpus[0];
	return n;
}

int bench_pin(int cpu)
{
	cpu_set_t set;
	int rc;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	rc = -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (!rc && realtime) {
		struct sched_param sp = { .sched_priority = 1 };

		rc = -pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	}
	return rc;
}

void bench_controller(void)
{
	if (have_allowed)
		(void)pthread_setaffinity_np(pthread_self(), sizeof(allowed), &allowed);
	if (realtime) {
		struct sched_param sp = { .sched_priority = 2 };

		(void)pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
	}
}

int bench_realtime(int on)
{
	struct sched_param sp = { .sched_priority = on ? 2 : 0 };
	int rc = -pthread_setschedparam(pthread_self(), on ? SCHED_FIFO : SCHED_OTHER, &sp);

	if (!rc)
		realtime = on;
	return rc;
}

uint64_t bench_ticks(void)
{
#if BENCH_HAVE_TSC
	return __rdtsc();
#else
	return shmq_now_ns();
#endif
}

void bench_clock_init(void)
{
#if BENCH_HAVE_TSC
	uint64_t t0 = shmq_now_ns(), c0 = bench_ticks(), t1, c1;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
	t1 = shmq_now_ns();
	c1 = bench_ticks();
	ns_per_tick = (double)(t1 - t0) / (double)(c1 - c0);
#endif
}

double bench_ticks_to_ns(double ticks)
{
	return ticks * ns_per_tick;
}

uint64_t bench_ns_to_ticks(double ns)
{
	return (uint64_t)(ns / ns_per_tick);
}

void bench_backoff(unsigned *spins)
{
	if (++*spins < BENCH_SPIN_LIMIT) {
		shmq_cpu_relax();
		return;
	}
	*spins = 0;
	sched_yield();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void bench_sort_u64(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t bench_quantile(uint64_t *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}
