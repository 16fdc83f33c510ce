/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file bench/bench_remote_raw.h
 * @brief The raw vdev reference of `shmq-bench remote`: a bare DPDK echo
 *        (rte_eth_rx_burst/tx_burst, no protocol, no copies) between two
 *        processes over the same virtual device the protocol runs on.
 *
 * Each run forks an echo process (started first: the memif server) and a
 * pinger process, each with its own EAL (one per process), pinned to
 * different lcores when two CPUs exist. af_packet runs on a veth pair in two
 * network namespaces created and deleted by the run (needs root).
 *  - RTT: the pinger sends one 64 B Ethernet/IPv4/UDP frame, busy-polls for
 *    its echo, repeats; p50/p99 of the round trips (TSC).
 *  - pps: the pinger sends 64 B frames in bursts of 32 as fast as the port
 *    takes them for a fixed time; the echo process counts what arrives;
 *    pps = frames received / sending time.
 */
#ifndef SHMQ_BENCH_REMOTE_RAW_H
#define SHMQ_BENCH_REMOTE_RAW_H

#include <stddef.h>
#include <stdint.h>

struct shmq_bench_raw_result {
	char vdev[16];          /**< "memif" or "af_packet" */
	int status;             /**< 0, or why not measured (-errno, 77 = unavailable) */
	uint32_t frame_len;     /**< 64 */
	uint64_t rtt_samples;
	uint64_t rtt_lost;      /**< pings whose echo did not come within 100 ms */
	double rtt_p50_ns, rtt_p99_ns;
	uint64_t tx_frames;     /**< sent during the rate phase */
	uint64_t rx_frames;     /**< of which the echo process received */
	double tx_pps, rx_pps;  /**< offered and received packet rates */
};

/**
 * @brief Measure @p vdev ("memif" or "af_packet"); @p quick = fewer samples.
 * @return 0 (then @p out is filled) or -errno / 77 in out->status too.
 */
int shmq_bench_remote_raw_run(const char *vdev, int quick, struct shmq_bench_raw_result *out);

/** @brief The JSON object of @p r (no newline) into @p buf. */
int shmq_bench_remote_raw_json(const struct shmq_bench_raw_result *r, char *buf, size_t cap);

#endif
