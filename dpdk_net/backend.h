/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_net/backend.h
 * @brief The only thing a transport provides: send and receive UDP payloads
 *        to and from IPv4 peers, in batches.
 *
 * Everything above (frames, reassembly, sessions, retries: endpoint.h) is
 * shared by the kernel UDP backend (udp_backend.h) and the DPDK backend
 * (next: it adds Ethernet/IPv4/UDP headers and ARP below this interface).
 *
 * Contract of a backend:
 *  - send(): best effort, like UDP: may drop; returns how many packets it
 *    handed to the transport (< n only on a hard error). It never blocks
 *    longer than a short back-pressure wait.
 *  - recv(): waits up to timeout_ns for at least one datagram, returns up to
 *    n of them with data pointing into backend-owned buffers of frame_max
 *    bytes, 8-aligned, valid until the next recv() on this backend.
 *    Datagrams longer than frame_max are dropped and counted. 0 on timeout.
 *  - one thread uses a backend at a time.
 * The loss hook (tests only): when set, shmq_net_send() asks it about each
 * packet and drops the ones it refuses, before the transport sees them.
 */
#ifndef SHMQ_DPDK_NET_BACKEND_H
#define SHMQ_DPDK_NET_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

/** An IPv4 UDP peer, both fields in network byte order. */
struct shmq_net_addr {
	uint32_t ip;
	uint16_t port;
	uint16_t reserved;      /**< 0 */
};

static inline bool shmq_net_addr_eq(const struct shmq_net_addr *a, const struct shmq_net_addr *b)
{
	return a->ip == b->ip && a->port == b->port;
}

struct shmq_net_pkt {
	struct shmq_net_addr addr; /**< destination (send) or source (recv) */
	uint32_t len;
	uint8_t *data;
};

struct shmq_net_backend;

struct shmq_net_backend_ops {
	const char *name;
	int (*send)(struct shmq_net_backend *be, const struct shmq_net_pkt *pkts, unsigned n);
	int (*recv)(struct shmq_net_backend *be, struct shmq_net_pkt *pkts, unsigned n, uint64_t timeout_ns);
	void (*destroy)(struct shmq_net_backend *be);
};

/** Test hook: return true to drop @p pkt. */
typedef bool (*shmq_net_loss_fn)(void *ctx, const struct shmq_net_pkt *pkt);

struct shmq_net_backend_stats {
	uint64_t tx_frames;
	uint64_t rx_frames;
	uint64_t tx_hook_dropped;   /**< dropped by the loss hook */
	uint64_t tx_errors;         /**< refused by the transport */
	uint64_t rx_oversize;       /**< longer than frame_max */
};

/** Common head of every backend (embedded first in each implementation). */
struct shmq_net_backend {
	const struct shmq_net_backend_ops *ops;
	uint32_t frame_max;         /**< largest UDP payload sent or received */
	struct shmq_net_addr local; /**< bound address */
	shmq_net_loss_fn loss;
	void *loss_ctx;
	struct shmq_net_backend_stats st;
};

/** @brief Send @p n packets (applying the loss hook). @return packets the
 *  transport took or the hook dropped (== n unless a hard error), or -errno. */
int shmq_net_send(struct shmq_net_backend *be, const struct shmq_net_pkt *pkts, unsigned n);

/** @brief Receive up to @p n packets, waiting up to @p timeout_ns.
 *  @return count (0 on timeout) or -errno. */
static inline int shmq_net_recv(struct shmq_net_backend *be, struct shmq_net_pkt *pkts, unsigned n,
				uint64_t timeout_ns)
{
	return be->ops->recv(be, pkts, n, timeout_ns);
}

/** @brief Install (or clear with NULL) the loss hook. */
static inline void shmq_net_set_loss(struct shmq_net_backend *be, shmq_net_loss_fn fn, void *ctx)
{
	be->loss = fn;
	be->loss_ctx = ctx;
}

/** @brief Destroy @p be (NULL allowed). */
void shmq_net_backend_destroy(struct shmq_net_backend *be);

#endif
