/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reference measurements the ring benchmark reports its figures against,
 * taken in the same run on the same two cores (the VM's vCPU placement changes
 * cache-line costs 3-4x from boot to boot).
 */
#ifndef SHMQ_BENCH_REF_H
#define SHMQ_BENCH_REF_H

#include <stdint.h>

/**
 * @brief One-way cache-line transfer between @p cpu_a and @p cpu_b: half the
 * round trip of one atomic word bounced between two pinned threads.
 * @return the median over @p rounds rounds of @p iters round trips, in ns;
 *         negative -errno on failure.
 */
double bench_ref_cacheline_ns(int cpu_a, int cpu_b, unsigned rounds, unsigned iters);

struct bench_rte_ring_result {
	double spsc_msgs_per_s;  /**< one pointer per enqueue/dequeue call, SP/SC */
	double pingpong_ns;      /**< one-way: half of a ping-pong round trip */
};

/**
 * @brief DPDK rte_ring references: SP/SC throughput over @p seconds and
 * ping-pong latency. Uses rte_ring_init() on aligned_alloc() memory (no EAL).
 * @return 0 or -errno.
 */
int bench_ref_rte_ring(int cpu_a, int cpu_b, double seconds, struct bench_rte_ring_result *out);

#endif
