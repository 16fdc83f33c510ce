/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/remote_backend.h
 * @brief The remote port's transport, chosen by the scheme of `[net] listen`:
 *        udp:// opens the kernel socket backend (dpdk_net/udp_backend.h);
 *        dpdk:// the DPDK backend with `[net] dpdk_args` and `dpdk_ip`.
 *
 * dpdk://IP:PORT opens the first DPDK port (dpdk_net/dpdk_backend.h) with
 * the EAL arguments of `[net] dpdk_args` (the EAL starts once per process)
 * and serves IP (or `[net] dpdk_ip`) on UDP port PORT; ARP is answered.
 */
#ifndef SHMQ_BROKER_REMOTE_BACKEND_H
#define SHMQ_BROKER_REMOTE_BACKEND_H

#include <stddef.h>

#include "dpdk_net/backend.h"

struct shmq_remote_backend_opts {
	const char *listen;     /**< udp://HOST:PORT or dpdk://IP:PORT */
	const char *dpdk_args;  /**< EAL arguments ("" = none) */
	const char *dpdk_ip;    /**< "" = the listen address */
};

/**
 * @brief Open the backend @p o->listen names.
 * @param err one-line reason on failure.
 * @return 0; -EINVAL (scheme or address); -errno of the backend (DPDK:
 *         -ENODEV no port, -ETIMEDOUT link down, EAL errors).
 */
int shmq_remote_backend_open(const struct shmq_remote_backend_opts *o, struct shmq_net_backend **out,
			     char *err, size_t errlen);

#endif
