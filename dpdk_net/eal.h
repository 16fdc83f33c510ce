/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_net/eal.h
 * @brief Start the DPDK EAL once per process from an argv-like string.
 *
 * DPDK allows one rte_eal_init() per process (even after rte_eal_cleanup()),
 * so the first successful call wins and later calls return 0 without looking
 * at their arguments (a different string is reported with -EALREADY).
 * Defaults added when the string does not set them (platform-notes.md):
 *  - `--no-shconf --file-prefix shmq-<pid>` unless --file-prefix,
 *    --no-shconf or --in-memory is given: two DPDK processes on one host never
 *    share runtime state, and none is left under /var/run/dpdk (the empty
 *    runtime directory is removed after start-up);
 *  - `--no-telemetry`, and `-l 0` unless -l/-c/--lcores is given.
 * A machine without hugepages needs `--no-huge -m 128 --no-pci` in the
 * string (`--in-memory` alone fails there).
 * Not thread-safe: call from the thread that will poll.
 */
#ifndef SHMQ_DPDK_NET_EAL_H
#define SHMQ_DPDK_NET_EAL_H

/**
 * @brief Initialise the EAL with @p args (whitespace-separated, no quoting).
 * @return 0; -EALREADY (already started with another string: the first
 *         stays); -EINVAL (too many or too long arguments); -rte_errno of
 *         rte_eal_init() (then no later call can succeed in this process).
 */
int shmq_net_eal_init(const char *args);

/** @brief Whether the EAL runs in this process. */
int shmq_net_eal_ready(void);

#endif
