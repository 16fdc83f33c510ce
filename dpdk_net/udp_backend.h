/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_net/udp_backend.h
 * @brief The kernel UDP socket backend (`udp://host:port`): the protocol over
 *        ordinary sockets, for development, CI and peers without DPDK.
 *
 * One non-blocking IPv4 UDP socket; recvmmsg()/sendmmsg() batches of up to
 * SHMQ_NET_UDP_BATCH datagrams. send() waits for socket room (poll POLLOUT,
 * bounded) when the kernel buffer is full instead of dropping at once.
 */
#ifndef SHMQ_DPDK_NET_UDP_BACKEND_H
#define SHMQ_DPDK_NET_UDP_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "dpdk_net/backend.h"

#define SHMQ_NET_UDP_BATCH 64u

struct shmq_net_udp_opts {
	size_t sz;              /**< sizeof(struct shmq_net_udp_opts) */
	uint32_t frame_max;     /**< largest UDP payload; 0 = 1472 (Ethernet MTU 1500) */
	int sock_buf;           /**< SO_RCVBUF / SO_SNDBUF bytes; 0 = 4 MiB */
};
#define SHMQ_NET_UDP_OPTS(name, ...) \
	struct shmq_net_udp_opts name = { .sz = sizeof(struct shmq_net_udp_opts), __VA_ARGS__ }

/**
 * @brief Parse "udp://host:port" (host: dotted IPv4 or a name resolving to
 *        IPv4; port 0..65535).
 * @return 0, -EINVAL (syntax, scheme), -EHOSTUNREACH (name not resolved).
 */
int shmq_net_udp_parse(const char *url, struct shmq_net_addr *out);

/**
 * @brief Open a backend bound to @p bind_url (port 0 = any; the bound
 *        address is in (*out)->local).
 * @return 0, -EINVAL, -errno of socket()/bind(), -ENOMEM.
 */
int shmq_net_udp_open(const char *bind_url, const struct shmq_net_udp_opts *opts,
		      struct shmq_net_backend **out);

#endif
