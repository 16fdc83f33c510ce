/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_net/dpdk_backend.h
 * @brief The DPDK backend: a struct shmq_net_backend (backend.h) over one
 *        DPDK port, adding Ethernet/IPv4/UDP headers and ARP (arp.h).
 *
 * - EAL: started by shmq_net_dpdk_open() from opts.eal_args if not yet
 *   running (eal.h: once per process, unique --file-prefix by default).
 * - One rx and one tx queue on the port, one mbuf pool. Each mbuf's buffer is
 *   shifted so the UDP payload of a received frame is 8-aligned in place:
 *   recv() hands out pointers into the mbufs (no copy) and frees them on the
 *   next recv() or destroy(); send() copies each payload once into an mbuf.
 * - Frame size: the port MTU is opts.mtu (default 1500) clamped to what the
 *   port allows (jumbo frames when max_mtu permits); frame_max = MTU - 28
 *   (IPv4 + UDP headers), capped at SHMQ_NET_FRAME_MAX. Frames are single
 *   segments: the mbufs hold a whole MTU-sized frame.
 * - rx checks every length: Ethernet (our MAC or broadcast, no VLAN), IPv4
 *   (version, IHL, total length within the frame, header checksum, to our
 *   address, not a fragment), UDP (to our port, length == IPv4 payload). The
 *   UDP checksum is not verified: a kernel peer over veth leaves it partial
 *   (offloaded), and the shmq frame carries its own CRC32C. tx computes it.
 * - ARP: requests for our address are answered (and teach us the asker);
 *   peers are resolved with bounded retries; frames to an unresolved peer
 *   wait in a bounded queue (SHMQ_NET_DPDK_PENDING_MAX) and are dropped and
 *   counted when it is full or the resolution fails (the reliable layer
 *   resends). Peers must be on the link: there is no routing/gateway.
 * - Idle polling backs off: spin ~5 us, then sched_yield() up to ~20 us,
 *   then nanosleep() growing from 5 us to 100 us, bounded by timeout_ns.
 * One thread uses a backend (backend.h); one backend per port.
 */
#ifndef SHMQ_DPDK_NET_DPDK_BACKEND_H
#define SHMQ_DPDK_NET_DPDK_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "dpdk_net/backend.h"

#define SHMQ_NET_DPDK_BURST 64u
#define SHMQ_NET_DPDK_PENDING_MAX 64u

/** A static neighbour (opts.neigh). */
struct shmq_net_neigh {
	uint32_t ip;            /**< network order */
	uint8_t mac[6];
	uint16_t reserved;
};

struct shmq_net_dpdk_opts {
	size_t sz;              /**< sizeof(struct shmq_net_dpdk_opts) */
	/** EAL arguments if the EAL is not running yet (eal.h), e.g.
	 *  "-l 0 --no-huge -m 128 --no-pci --vdev=net_memif0,role=server,socket=/tmp/x" */
	const char *eal_args;
	const char *port;       /**< DPDK port name (e.g. "net_memif0"); NULL = the first port */
	uint32_t mtu;           /**< 0 = 1500; clamped to the port's limits */
	uint32_t nb_mbufs;      /**< pool size; 0 = 4095 */
	/** mbuf data room (headroom included) if larger than the MTU needs:
	 *  net_af_packet with framesz=F needs F + 128 */
	uint32_t mbuf_size;
	uint32_t link_wait_ms;  /**< wait for link up at open; 0 = 5000 */
	const struct shmq_net_neigh *neigh; /**< static neighbours */
	unsigned n_neigh;
	uint64_t arp_ttl_ns;    /**< 0 = 60 s */
	uint64_t arp_retry_ns;  /**< 0 = 200 ms */
	unsigned arp_retries;   /**< 0 = 5 */
	/** Serve every UDP port of opts' address (a port multiplexer,
	 *  client/remote_mux.h): recv() reports the destination port of each
	 *  datagram in pkt.addr.reserved, and send() uses a non-zero
	 *  pkt.addr.reserved as the source port (else local.port). */
	bool any_port;
};
#define SHMQ_NET_DPDK_OPTS(name, ...) \
	struct shmq_net_dpdk_opts name = { .sz = sizeof(struct shmq_net_dpdk_opts), __VA_ARGS__ }

struct shmq_net_dpdk_stats {
	uint64_t rx_not_ours;       /**< another MAC, IP, port, protocol or ethertype */
	uint64_t rx_bad;            /**< a length or the IPv4 checksum is wrong */
	uint64_t rx_ip_frag;        /**< IPv4 fragments (we never fragment) */
	uint64_t rx_multiseg;       /**< frames spread over several mbufs */
	uint64_t arp_requests_sent;
	uint64_t arp_replies_sent;  /**< answers to requests for our address */
	uint64_t arp_rx;            /**< ARP frames seen */
	uint64_t arp_learned;
	uint64_t arp_failed;        /**< resolutions given up */
	uint64_t unresolved_dropped; /**< queue full or resolution failed */
	uint64_t tx_backpressure_drops; /**< the port kept refusing: dropped */
	uint64_t no_mbuf;           /**< pool empty */
};

/**
 * @brief Open the port and serve @p local (IPv4 and UDP port, network order;
 *        the UDP port must not be 0).
 * @return 0; -EINVAL; -ENODEV (no such port); -ETIMEDOUT (link stayed down);
 *         -ENOMEM; -EALREADY/-rte_errno of the EAL (eal.h) or of the port
 *         set-up (then the port is left stopped).
 */
int shmq_net_dpdk_open(const struct shmq_net_addr *local, const struct shmq_net_dpdk_opts *opts,
		       struct shmq_net_backend **out);

/** @brief @p be's DPDK counters (@p be from shmq_net_dpdk_open()). */
void shmq_net_dpdk_stats(const struct shmq_net_backend *be, struct shmq_net_dpdk_stats *st);

/** @brief The port's MAC address. */
void shmq_net_dpdk_mac(const struct shmq_net_backend *be, uint8_t mac[6]);

/**
 * @brief The port id and mbuf pool, for a bare rx/tx benchmark that goes
 *        around the UDP layer (bench/bench_remote_raw.c). Do not mix with
 *        send()/recv() on the same backend.
 * @param pool receives a struct rte_mempool *.
 */
void shmq_net_dpdk_raw(const struct shmq_net_backend *be, uint16_t *port_id, void **pool);

/** @brief Idle back-off step shared with raw pollers: call after an empty
 *  poll with the time the poller has been idle. */
void shmq_net_dpdk_idle(uint64_t idle_ns, uint64_t max_sleep_ns);

#endif
