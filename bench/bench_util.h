/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the benchmarks: CPU pinning, a calibrated cycle clock
 * that both cores agree on (invariant TSC), percentiles, and the back-off
 * every spin loop uses so that a bench never wedges a 2-core box.
 */
#ifndef SHMQ_BENCH_UTIL_H
#define SHMQ_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

/** Fill cpus[0..1] with two CPUs this process may run on. @return how many (1 or 2). */
int bench_two_cpus(int cpus[2]);
/** Pin the calling thread to @p cpu (and make it SCHED_FIFO after
 * bench_realtime(1)). @return 0 or -errno. */
int bench_pin(int cpu);
/**
 * Opt in to SCHED_FIFO for pinned bench threads (priority 1) and the calling
 * thread (priority 2, so a controlling thread that sleeps can always stop the
 * others). Shields measurements from other work on a shared box; needs
 * CAP_SYS_NICE. @return 0 or -errno (then nothing changed).
 */
int bench_realtime(int on);
/** Make the calling thread a controller again: any CPU, and priority 2 under
 * bench_realtime(1), so it preempts the pinned workers when it wakes. */
void bench_controller(void);

/** Calibrate the cycle clock against CLOCK_MONOTONIC (~50 ms); call once. */
void bench_clock_init(void);
/** Cycle counter (rdtsc on x86-64, CLOCK_MONOTONIC ns elsewhere). */
uint64_t bench_ticks(void);
double bench_ticks_to_ns(double ticks);
uint64_t bench_ns_to_ticks(double ns);

/**
 * One step of a bounded spin: pause while *spins is small, then
 * sched_yield() so a thread sharing the core can run. Reset *spins to 0 after
 * progress.
 */
void bench_backoff(unsigned *spins);

/** The @p q quantile (0..1) of @p v, already sorted ascending. */
uint64_t bench_quantile(uint64_t *v, size_t n, double q);
void bench_sort_u64(uint64_t *v, size_t n);

#endif
