/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One DPDK port shared by every remote session of a process (dpdk://).
 *
 * A DPDK process drives one port, but libshmq gives each producer and each
 * consumer its own session and backend (client/remote.h, RM1). The mux opens
 * the port once (dpdk_backend.h with opts.any_port) and hands each session a
 * virtual struct shmq_net_backend with its own local UDP port on the same
 * IPv4 address:
 *  - send(): takes the port lock, sends through the real port with the
 *    virtual port as the UDP source port.
 *  - recv(): takes the port lock; when its own queue is empty it polls the
 *    real port once and dispatches every datagram by destination UDP port
 *    into the owner's bounded queue (one copy: the real port's buffers live
 *    only until its next recv(), which any session may make), then returns
 *    what its own queue holds. Between polls the caller backs off without
 *    the lock (shmq_net_dpdk_idle()), so a sender never waits for a poller.
 *  - a datagram to an unknown port, or to a full queue, is dropped and
 *    counted (the reliable layer resends, as for any loss).
 * Thread-safe across virtual backends (each one is used by one thread at a
 * time, as backend.h demands). Reference counted: the first acquire opens
 * the port with its options, later acquires share it (their options must
 * name the same address), the last release closes it. DPDK cannot reopen a
 * closed vdev port in the same process, so a process keeps one client (or at
 * least one reference) for as long as it uses dpdk://.
 */
#ifndef SHMQ_CLIENT_REMOTE_MUX_H
#define SHMQ_CLIENT_REMOTE_MUX_H

#include <stdint.h>

#include "dpdk_net/backend.h"

/* Datagrams a virtual port queues before dropping (one frame_max slot each). */
#define SHMQ_RMUX_QUEUE 256u

struct shmq_rmux_stats {
	uint64_t polls;          /* real recv() calls */
	uint64_t dispatched;     /* datagrams queued for a virtual port */
	uint64_t no_port;        /* to a port no session owns */
	uint64_t queue_full;     /* the owner's queue was full */
	unsigned ports;          /* open virtual backends */
};

/**
 * Take a reference on the process's port, opening it at the first call.
 * @param eal_args EAL arguments (eal.h) if the EAL is not running.
 * @param ip this host's IPv4 address on the port (dotted quad).
 * @param frame_max largest UDP payload (sets the port MTU).
 * @return 0; -EINVAL (bad ip, or another ip than the open port's); the
 *         errors of shmq_net_dpdk_open().
 */
int shmq_rmux_acquire(const char *eal_args, const char *ip, uint32_t frame_max);
/** Drop a reference; the last one closes the port (no virtual port may remain). */
void shmq_rmux_release(void);

/**
 * A virtual backend on a fresh local UDP port (needs a reference held; the
 * backend holds one more until it is destroyed). Its frame_max is the
 * smaller of @p frame_max and the port's. Destroy it with
 * shmq_net_backend_destroy().
 * @return 0; -ENODEV (no port acquired); -EADDRINUSE (no free UDP port);
 *         -ENOMEM.
 */
int shmq_rmux_open(uint32_t frame_max, struct shmq_net_backend **out);

void shmq_rmux_stats(struct shmq_rmux_stats *st);

#endif
