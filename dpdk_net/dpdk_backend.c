/* SPDX-License-Identifier: Apache-2.0 */
/* DPDK backend: see dpdk_net/dpdk_backend.h. */
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>
#include <rte_udp.h>

#include "common/clock.h"
#include "dpdk_net/arp.h"
#include "dpdk_net/dpdk_backend.h"
#include "dpdk_net/eal.h"
#include "dpdk_net/frame_layout.h"

#define ETH_LEN ((uint32_t)sizeof(struct rte_ether_hdr))  /* 14 */
#define IP_LEN ((uint32_t)sizeof(struct rte_ipv4_hdr))    /* 20 */
#define UDP_LEN ((uint32_t)sizeof(struct rte_udp_hdr))    /* 8 */
#define HDRS_LEN (ETH_LEN + IP_LEN + UDP_LEN)             /* 42 */
#define ARP_FRAME_LEN (ETH_LEN + (uint32_t)sizeof(struct rte_arp_hdr))
/* Buffers start 6 bytes past an 8-aligned address, so that after the
 * headroom (a multiple of 8) and the 42 header bytes the payload is
 * 8-aligned (backend.h promises 8-aligned rx data). */
#define BUF_SHIFT 6u
#define BUF_SLACK 8u
/* Give up on a port that refuses a burst for this long: it is full and the
 * reliable layer resends what we drop (backend.h: a short wait only). */
#define TX_STALL_NS 10000000ull

static_assert((RTE_PKTMBUF_HEADROOM + BUF_SHIFT + HDRS_LEN) % 8 == 0, "rx payload is 8-aligned");

struct dpdk_be {
	struct shmq_net_backend be; /* first: the common head */
	uint16_t port;
	bool started;
	uint16_t ip_id;
	bool any_port;              /* opts.any_port: addr.reserved carries our port */
	struct rte_ether_addr mac;
	struct rte_mempool *pool;
	struct shmq_arp arp;
	uint64_t arp_next_ns;       /* earliest ARP timer */
	struct rte_mbuf *held[SHMQ_NET_DPDK_BURST]; /* handed out by the last recv() */
	unsigned n_held;
	struct rte_mbuf *txq[SHMQ_NET_DPDK_BURST];
	unsigned n_txq;
	struct rte_mbuf *pend[SHMQ_NET_DPDK_PENDING_MAX]; /* waiting for ARP */
	uint32_t pend_ip[SHMQ_NET_DPDK_PENDING_MAX];
	unsigned n_pend;
	struct shmq_net_dpdk_stats dst;
};

void shmq_net_dpdk_idle(uint64_t idle_ns, uint64_t max_sleep_ns)
{
	if (idle_ns < 5000) {
		rte_pause();
		return;
	}
	if (idle_ns < 20000) {
		sched_yield();
		return;
	}
	/* sleep longer the longer we have been idle: ~5 us .. 100 us */
	uint64_t ns = idle_ns / 8;
	if (ns < 5000)
		ns = 5000;
	if (ns > 100000)
		ns = 100000;
	if (ns > max_sleep_ns)
		ns = max_sleep_ns;
	if (!ns) {
		sched_yield();
		return;
	}
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)ns };
	nanosleep(&ts, NULL);
}

/* ---------------- tx ---------------- */

static void tx_flush(struct dpdk_be *d)
{
	unsigned sent = 0;
	uint64_t stall_since = 0;
	while (sent < d->n_txq) {
		uint16_t k = rte_eth_tx_burst(d->port, 0, d->txq + sent, (uint16_t)(d->n_txq - sent));
		if (k) {
			sent += k;
			d->be.st.tx_frames += k;
			stall_since = 0;
			continue;
		}
		uint64_t now = shmq_now_ns();
		if (!stall_since)
			stall_since = now;
		else if (now - stall_since > TX_STALL_NS)
			break;
		shmq_net_dpdk_idle(now - stall_since, 20000);
	}
	if (sent < d->n_txq) {
		d->dst.tx_backpressure_drops += d->n_txq - sent;
		d->be.st.tx_errors += d->n_txq - sent;
		rte_pktmbuf_free_bulk(d->txq + sent, d->n_txq - sent);
	}
	d->n_txq = 0;
}

static void tx_add(struct dpdk_be *d, struct rte_mbuf *m)
{
	d->txq[d->n_txq++] = m;
	if (d->n_txq == SHMQ_NET_DPDK_BURST)
		tx_flush(d);
}

static void send_arp(struct dpdk_be *d, uint16_t op, uint32_t tip, const struct rte_ether_addr *tha)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(d->pool);
	if (!m) {
		d->dst.no_mbuf++;
		return;
	}
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, ARP_FRAME_LEN);
	if (!p) {
		rte_pktmbuf_free(m);
		return;
	}
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)(void *)p;
	struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(void *)(p + ETH_LEN);
	static const struct rte_ether_addr bcast = { .addr_bytes = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	eh->dst_addr = op == RTE_ARP_OP_REQUEST ? bcast : *tha;
	eh->src_addr = d->mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ah->arp_hlen = RTE_ETHER_ADDR_LEN;
	ah->arp_plen = 4;
	ah->arp_opcode = rte_cpu_to_be_16(op);
	ah->arp_data.arp_sha = d->mac;
	ah->arp_data.arp_sip = d->be.local.ip;
	if (op == RTE_ARP_OP_REQUEST)
		memset(&ah->arp_data.arp_tha, 0, sizeof(ah->arp_data.arp_tha));
	else
		ah->arp_data.arp_tha = *tha;
	ah->arp_data.arp_tip = tip;
	if (op == RTE_ARP_OP_REQUEST)
		d->dst.arp_requests_sent++;
	else
		d->dst.arp_replies_sent++;
	/* alone, ahead of any queued data frames, and not counted in tx_frames
	 * (datagrams only); a port that stays full loses it like any frame */
	uint64_t t0 = shmq_now_ns(), now = t0;
	while (rte_eth_tx_burst(d->port, 0, &m, 1) != 1) {
		now = shmq_now_ns();
		if (now - t0 > TX_STALL_NS) {
			d->dst.tx_backpressure_drops++;
			rte_pktmbuf_free(m);
			return;
		}
		shmq_net_dpdk_idle(now - t0, 20000);
	}
}

/* The peer at @p ip is known: send what waited for it. */
static void pend_release(struct dpdk_be *d, uint32_t ip, bool failed)
{
	uint8_t mac[6];
	bool have = !failed && shmq_arp_lookup(&d->arp, ip, shmq_now_ns(), mac) <= SHMQ_ARP_HIT_PROBE;
	unsigned k = 0;
	for (unsigned i = 0; i < d->n_pend; i++) {
		struct rte_mbuf *m = d->pend[i];
		if (d->pend_ip[i] != ip) {
			d->pend[k] = m;
			d->pend_ip[k++] = d->pend_ip[i];
			continue;
		}
		if (!have) {
			d->dst.unresolved_dropped++;
			rte_pktmbuf_free(m);
			continue;
		}
		struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		memcpy(&eh->dst_addr, mac, 6);
		tx_add(d, m);
	}
	d->n_pend = k;
	tx_flush(d);
}

static void arp_action(void *ctx, uint32_t ip, bool failed)
{
	struct dpdk_be *d = ctx;
	if (failed) {
		d->dst.arp_failed++;
		pend_release(d, ip, true);
	} else {
		send_arp(d, RTE_ARP_OP_REQUEST, ip, NULL);
	}
}

static void arp_timers(struct dpdk_be *d, uint64_t now)
{
	if (now >= d->arp_next_ns)
		d->arp_next_ns = shmq_arp_tick(&d->arp, now, arp_action, d);
}

static void arp_armed(struct dpdk_be *d, uint64_t now)
{
	if (now + d->arp.retry_ns < d->arp_next_ns)
		d->arp_next_ns = now + d->arp.retry_ns;
}

/* One UDP frame to @p a carrying @p len bytes of @p data, or NULL. */
static struct rte_mbuf *build_udp(struct dpdk_be *d, const struct shmq_net_addr *a, const void *data,
				  uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(d->pool);
	if (!m) {
		d->dst.no_mbuf++;
		return NULL;
	}
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)(HDRS_LEN + len));
	if (!p) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)(void *)p;
	struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(void *)(p + ETH_LEN);
	struct rte_udp_hdr *uh = (struct rte_udp_hdr *)(void *)(p + ETH_LEN + IP_LEN);
	memset(&eh->dst_addr, 0, sizeof(eh->dst_addr)); /* filled once resolved */
	eh->src_addr = d->mac;
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ih->version_ihl = RTE_IPV4_VHL_DEF;
	ih->type_of_service = 0;
	ih->total_length = rte_cpu_to_be_16((uint16_t)(IP_LEN + UDP_LEN + len));
	ih->packet_id = rte_cpu_to_be_16(d->ip_id++);
	ih->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG); /* we never fragment */
	ih->time_to_live = 64;
	ih->next_proto_id = IPPROTO_UDP;
	ih->hdr_checksum = 0;
	ih->src_addr = d->be.local.ip;
	ih->dst_addr = a->ip;
	ih->hdr_checksum = rte_ipv4_cksum(ih);
	uh->src_port = d->any_port && a->reserved ? a->reserved : d->be.local.port;
	uh->dst_port = a->port;
	uh->dgram_len = rte_cpu_to_be_16((uint16_t)(UDP_LEN + len));
	uh->dgram_cksum = 0;
	memcpy(p + HDRS_LEN, data, len); /* the one copy of the payload */
	uh->dgram_cksum = rte_ipv4_udptcp_cksum(ih, uh);
	return m;
}

static int dpdk_send(struct shmq_net_backend *be, const struct shmq_net_pkt *pkts, unsigned n)
{
	struct dpdk_be *d = (struct dpdk_be *)be;
	uint64_t now = shmq_now_ns();
	arp_timers(d, now);
	for (unsigned i = 0; i < n; i++) {
		const struct shmq_net_pkt *pk = &pkts[i];
		if (pk->len > be->frame_max || !pk->addr.ip || !pk->addr.port || pk->addr.ip == be->local.ip) {
			be->st.tx_errors++;
			continue;
		}
		struct rte_mbuf *m = build_udp(d, &pk->addr, pk->data, pk->len);
		if (!m) {
			be->st.tx_errors++;
			continue;
		}
		uint8_t mac[6];
		int v = shmq_arp_lookup(&d->arp, pk->addr.ip, now, mac);
		if (v == SHMQ_ARP_HIT || v == SHMQ_ARP_HIT_PROBE) {
			memcpy(&rte_pktmbuf_mtod(m, struct rte_ether_hdr *)->dst_addr, mac, 6);
			tx_add(d, m);
			if (v == SHMQ_ARP_HIT_PROBE) {
				send_arp(d, RTE_ARP_OP_REQUEST, pk->addr.ip, NULL);
				arp_armed(d, now);
			}
			continue;
		}
		if (v < 0 || d->n_pend == SHMQ_NET_DPDK_PENDING_MAX) {
			d->dst.unresolved_dropped++;
			rte_pktmbuf_free(m);
		} else {
			d->pend[d->n_pend] = m;
			d->pend_ip[d->n_pend++] = pk->addr.ip;
		}
		if (v == SHMQ_ARP_REQUEST) {
			send_arp(d, RTE_ARP_OP_REQUEST, pk->addr.ip, NULL);
			arp_armed(d, now);
		}
	}
	tx_flush(d);
	return (int)n;
}

/* ---------------- rx ---------------- */

static void rx_arp(struct dpdk_be *d, const uint8_t *p, uint32_t len, uint64_t now)
{
	d->dst.arp_rx++;
	if (len < ARP_FRAME_LEN) {
		d->dst.rx_bad++;
		return;
	}
	const struct rte_arp_hdr *ah = (const struct rte_arp_hdr *)(const void *)(p + ETH_LEN);
	if (ah->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    ah->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || ah->arp_hlen != RTE_ETHER_ADDR_LEN ||
	    ah->arp_plen != 4) {
		d->dst.rx_not_ours++;
		return;
	}
	uint16_t op = rte_be_to_cpu_16(ah->arp_opcode);
	struct rte_ether_addr sha = ah->arp_data.arp_sha;
	uint32_t sip = ah->arp_data.arp_sip, tip = ah->arp_data.arp_tip;
	bool for_us = tip == d->be.local.ip;
	if (op != RTE_ARP_OP_REQUEST && op != RTE_ARP_OP_REPLY) {
		d->dst.rx_not_ours++;
		return;
	}
	uint64_t learned = d->arp.st.learned;
	/* a request for us creates the asker's entry; anything else only
	 * refreshes an entry we already have (arp.h) */
	int ready = shmq_arp_learn(&d->arp, sip, sha.addr_bytes, now, op == RTE_ARP_OP_REQUEST && for_us);
	d->dst.arp_learned += d->arp.st.learned - learned;
	if (op == RTE_ARP_OP_REQUEST && for_us)
		send_arp(d, RTE_ARP_OP_REPLY, sip, &sha);
	if (ready)
		pend_release(d, sip, false);
}

/* Classify one received frame: true if it is a datagram for us (then *pk
 * describes it and the mbuf is kept), false if it was consumed or dropped. */
static bool rx_frame(struct dpdk_be *d, struct rte_mbuf *m, struct shmq_net_pkt *pk, uint64_t now)
{
	if (m->nb_segs != 1 || m->pkt_len != m->data_len) {
		d->dst.rx_multiseg++;
		return false;
	}
	uint32_t len = m->data_len;
	const uint8_t *p = rte_pktmbuf_mtod(m, const uint8_t *);
	if (len < ETH_LEN) {
		d->dst.rx_bad++;
		return false;
	}
	const struct rte_ether_hdr *eh = (const struct rte_ether_hdr *)(const void *)p;
	if (!rte_is_same_ether_addr(&eh->dst_addr, &d->mac) && !rte_is_broadcast_ether_addr(&eh->dst_addr)) {
		d->dst.rx_not_ours++;
		return false;
	}
	uint16_t type = rte_be_to_cpu_16(eh->ether_type);
	if (type == RTE_ETHER_TYPE_ARP) {
		rx_arp(d, p, len, now);
		return false;
	}
	if (type != RTE_ETHER_TYPE_IPV4) {
		d->dst.rx_not_ours++;
		return false;
	}
	if (len < ETH_LEN + IP_LEN) {
		d->dst.rx_bad++;
		return false;
	}
	const struct rte_ipv4_hdr *ih = (const struct rte_ipv4_hdr *)(const void *)(p + ETH_LEN);
	uint32_t ihl = (uint32_t)(ih->version_ihl & 0x0f) * 4u;
	uint32_t tot = rte_be_to_cpu_16(ih->total_length);
	/* the frame may be longer (Ethernet padding), never shorter */
	if ((ih->version_ihl >> 4) != 4 || ihl < IP_LEN || tot < ihl || tot > len - ETH_LEN) {
		d->dst.rx_bad++;
		return false;
	}
	if (rte_raw_cksum(ih, ihl) != 0xffff) {
		d->dst.rx_bad++;
		return false;
	}
	if (ih->dst_addr != d->be.local.ip || ih->next_proto_id != IPPROTO_UDP) {
		d->dst.rx_not_ours++;
		return false;
	}
	if (rte_be_to_cpu_16(ih->fragment_offset) & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) {
		d->dst.rx_ip_frag++;
		return false;
	}
	if (tot - ihl < UDP_LEN) {
		d->dst.rx_bad++;
		return false;
	}
	const struct rte_udp_hdr *uh = (const struct rte_udp_hdr *)(const void *)(p + ETH_LEN + ihl);
	uint32_t ulen = rte_be_to_cpu_16(uh->dgram_len);
	if (ulen != tot - ihl) {
		d->dst.rx_bad++;
		return false;
	}
	if (!d->any_port && uh->dst_port != d->be.local.port) {
		d->dst.rx_not_ours++;
		return false;
	}
	if (ulen - UDP_LEN > d->be.frame_max) {
		d->be.st.rx_oversize++;
		return false;
	}
	*pk = (struct shmq_net_pkt){
		.addr = { .ip = ih->src_addr, .port = uh->src_port, .reserved = d->any_port ? uh->dst_port : 0 },
		.len = ulen - UDP_LEN,
		.data = (uint8_t *)(uintptr_t)(p + ETH_LEN + ihl + UDP_LEN),
	};
	return true;
}

static void release_held(struct dpdk_be *d)
{
	if (d->n_held)
		rte_pktmbuf_free_bulk(d->held, d->n_held);
	d->n_held = 0;
}

static int dpdk_recv(struct shmq_net_backend *be, struct shmq_net_pkt *pkts, unsigned n, uint64_t timeout_ns)
{
	struct dpdk_be *d = (struct dpdk_be *)be;
	release_held(d);
	if (n > SHMQ_NET_DPDK_BURST)
		n = SHMQ_NET_DPDK_BURST;
	if (!n)
		return 0;
	uint64_t start = shmq_now_ns(), now = start, idle_since = start;
	for (;;) {
		struct rte_mbuf *m[SHMQ_NET_DPDK_BURST];
		uint16_t k = rte_eth_rx_burst(d->port, 0, m, (uint16_t)n);
		now = shmq_now_ns();
		unsigned out = 0;
		for (uint16_t i = 0; i < k; i++) {
			if (rx_frame(d, m[i], &pkts[out], now))
				d->held[out++] = m[i];
			else
				rte_pktmbuf_free(m[i]);
		}
		d->n_held = out;
		arp_timers(d, now);
		if (out) {
			be->st.rx_frames += out;
			return (int)out;
		}
		if (k)
			idle_since = now;
		if (now - start >= timeout_ns)
			return 0;
		shmq_net_dpdk_idle(now - idle_since, timeout_ns - (now - start));
	}
}

static void dpdk_destroy(struct shmq_net_backend *be)
{
	struct dpdk_be *d = (struct dpdk_be *)be;
	release_held(d);
	if (d->n_txq)
		rte_pktmbuf_free_bulk(d->txq, d->n_txq);
	if (d->n_pend)
		rte_pktmbuf_free_bulk(d->pend, d->n_pend);
	if (d->started)
		rte_eth_dev_stop(d->port);
	rte_eth_dev_close(d->port);
	rte_mempool_free(d->pool);
	free(d);
}

static const struct shmq_net_backend_ops dpdk_ops = {
	.name = "dpdk",
	.send = dpdk_send,
	.recv = dpdk_recv,
	.destroy = dpdk_destroy,
};

void shmq_net_dpdk_stats(const struct shmq_net_backend *be, struct shmq_net_dpdk_stats *st)
{
	const struct dpdk_be *d = (const struct dpdk_be *)be;
	*st = d->dst;
	st->arp_failed = d->arp.st.failed;
}

void shmq_net_dpdk_mac(const struct shmq_net_backend *be, uint8_t mac[6])
{
	memcpy(mac, ((const struct dpdk_be *)be)->mac.addr_bytes, 6);
}

void shmq_net_dpdk_raw(const struct shmq_net_backend *be, uint16_t *port_id, void **pool)
{
	const struct dpdk_be *d = (const struct dpdk_be *)be;
	*port_id = d->port;
	*pool = d->pool;
}

/* ---------------- open ---------------- */

/* rte_mempool_obj_iter callback: move the buffer start to 6 mod 8 (see
 * BUF_SHIFT); run once on every mbuf before the pool is used. */
static void shift_buf(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	(void)mp;
	(void)arg;
	(void)idx;
	struct rte_mbuf *m = obj;
	m->buf_addr = (char *)m->buf_addr + BUF_SHIFT;
	rte_mbuf_iova_set(m, rte_mbuf_iova_get(m) + BUF_SHIFT);
	m->buf_len = (uint16_t)(m->buf_len - BUF_SLACK);
	rte_pktmbuf_reset_headroom(m);
}

static int wait_link(struct dpdk_be *d, uint32_t wait_ms)
{
	uint64_t t0 = shmq_now_ns(), last_kick = t0;
	for (;;) {
		struct rte_eth_link link;
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(d->port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP)
			return 0;
		uint64_t now = shmq_now_ns();
		if (now - t0 >= (uint64_t)wait_ms * 1000000ull)
			return -ETIMEDOUT;
		/* a memif client whose first connect failed does not retry by
		 * itself: restart the port now and then (platform-notes.md) */
		if (now - last_kick >= 1000000000ull) {
			rte_eth_dev_stop(d->port);
			if (rte_eth_dev_start(d->port) < 0)
				return -EIO;
			last_kick = now;
		}
		struct timespec ts = { .tv_sec = 0, .tv_nsec = 2000000 };
		nanosleep(&ts, NULL);
	}
}

static int find_port(const char *name, uint16_t *port)
{
	if (name)
		return rte_eth_dev_get_port_by_name(name, port) == 0 ? 0 : -ENODEV;
	uint16_t p;
	RTE_ETH_FOREACH_DEV(p)
	{
		*port = p;
		return 0;
	}
	return -ENODEV;
}

int shmq_net_dpdk_open(const struct shmq_net_addr *local, const struct shmq_net_dpdk_opts *opts,
		       struct shmq_net_backend **out)
{
	static atomic_uint pool_seq; /* relaxed: only makes pool names unique */
	struct shmq_net_dpdk_opts o = { .sz = sizeof(o) };
	if (!out || !local || !local->ip || !local->port || (opts && opts->sz < sizeof(o)))
		return -EINVAL;
	*out = NULL;
	if (opts)
		o = *opts;
	if (!o.mtu)
		o.mtu = 1500;
	if (!o.nb_mbufs)
		o.nb_mbufs = 4095;
	if (!o.link_wait_ms)
		o.link_wait_ms = 5000;
	if (o.n_neigh && !o.neigh)
		return -EINVAL;
	if (o.mtu < SHMQ_NET_FRAME_MIN + IP_LEN + UDP_LEN || o.nb_mbufs < 2 * SHMQ_NET_DPDK_BURST + 256)
		return -EINVAL;
	int rc = shmq_net_eal_init(o.eal_args);
	if (rc < 0)
		return rc;
	uint16_t port;
	rc = find_port(o.port, &port);
	if (rc < 0)
		return rc;
	struct rte_eth_dev_info info;
	rc = rte_eth_dev_info_get(port, &info);
	if (rc < 0)
		return rc;
	/* jumbo frames when the port takes them */
	uint32_t max_mtu = info.max_mtu;
	if (info.max_rx_pktlen > ETH_LEN + RTE_ETHER_CRC_LEN &&
	    info.max_rx_pktlen - ETH_LEN - RTE_ETHER_CRC_LEN < max_mtu)
		max_mtu = info.max_rx_pktlen - ETH_LEN - RTE_ETHER_CRC_LEN;
	uint32_t mtu = o.mtu < max_mtu ? o.mtu : max_mtu;
	if (mtu > SHMQ_NET_FRAME_MAX + IP_LEN + UDP_LEN)
		mtu = SHMQ_NET_FRAME_MAX + IP_LEN + UDP_LEN;
	if (mtu < info.min_mtu || mtu < SHMQ_NET_FRAME_MIN + IP_LEN + UDP_LEN)
		return -EINVAL;

	struct dpdk_be *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->port = port;
	d->any_port = o.any_port;
	shmq_arp_init(&d->arp, o.arp_ttl_ns, o.arp_retry_ns, o.arp_retries);
	d->arp_next_ns = UINT64_MAX;
	for (unsigned i = 0; i < o.n_neigh; i++) {
		rc = shmq_arp_add_static(&d->arp, o.neigh[i].ip, o.neigh[i].mac);
		if (rc < 0)
			goto fail_free;
	}
	/* a whole frame (+ VLAN slack) in one segment after the headroom */
	uint32_t room = RTE_PKTMBUF_HEADROOM + BUF_SLACK + ETH_LEN + 4 + mtu + RTE_ETHER_CRC_LEN;
	/* at least DPDK's default: some PMDs need it whatever the MTU
	 * (net_af_packet wants its whole framesz - 32 bytes in one mbuf) */
	if (room < RTE_MBUF_DEFAULT_BUF_SIZE + BUF_SLACK)
		room = RTE_MBUF_DEFAULT_BUF_SIZE + BUF_SLACK;
	if (o.mbuf_size > room)
		room = o.mbuf_size;
	room = (room + 63u) & ~63u;
	if (room > UINT16_MAX) {
		rc = -EINVAL;
		goto fail_free;
	}
	char name[RTE_MEMPOOL_NAMESIZE];
	snprintf(name, sizeof(name), "shmq_net_%u",
		 atomic_fetch_add_explicit(&pool_seq, 1, memory_order_relaxed));
	d->pool = rte_pktmbuf_pool_create(name, o.nb_mbufs, 256, 0, (uint16_t)room, (int)rte_socket_id());
	if (!d->pool) {
		rc = rte_errno ? -rte_errno : -ENOMEM;
		goto fail_free;
	}
	rte_mempool_obj_iter(d->pool, shift_buf, NULL);

	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.rxmode.mtu = mtu;
	rc = rte_eth_dev_configure(port, 1, 1, &conf);
	if (rc < 0)
		goto fail_pool;
	uint16_t nrx = 1024, ntx = 1024;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	if (rc < 0)
		goto fail_close;
	int sock = rte_eth_dev_socket_id(port);
	if (sock < 0)
		sock = (int)rte_socket_id();
	rc = rte_eth_rx_queue_setup(port, 0, nrx, (unsigned)sock, NULL, d->pool);
	if (rc < 0)
		goto fail_close;
	rc = rte_eth_tx_queue_setup(port, 0, ntx, (unsigned)sock, NULL);
	if (rc < 0)
		goto fail_close;
	rc = rte_eth_macaddr_get(port, &d->mac);
	if (rc < 0)
		goto fail_close;
	rc = rte_eth_dev_start(port);
	if (rc < 0)
		goto fail_close;
	d->started = true;
	uint16_t got_mtu = 0;
	if (rte_eth_dev_get_mtu(port, &got_mtu) == 0 && got_mtu && got_mtu < mtu)
		mtu = got_mtu;
	rc = wait_link(d, o.link_wait_ms);
	if (rc < 0)
		goto fail_close;
	d->be.ops = &dpdk_ops;
	d->be.frame_max = mtu - IP_LEN - UDP_LEN;
	d->be.local = *local;
	d->be.local.reserved = 0;
	*out = &d->be;
	return 0;
fail_close:
	if (d->started)
		rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
fail_pool:
	rte_mempool_free(d->pool);
fail_free:
	free(d);
	return rc;
}
