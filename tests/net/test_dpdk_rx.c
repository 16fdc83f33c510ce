/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DPDK backend's frame handling in one process: a net_ring port loops
 * what is transmitted back to its own rx, so this test injects hand-made
 * frames with rte_eth_tx_burst(), lets the backend receive them, and reads
 * what the backend transmits (ARP, UDP) with rte_eth_rx_burst() before the
 * backend polls again. One EAL per process: every case shares the port.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "dpdk_net/dpdk_backend.h"

static struct shmq_net_backend *be;
static uint16_t port;
static struct rte_mempool *pool;
static uint8_t our_mac[6];
static const uint8_t PEER_MAC[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t PEER3_MAC[6] = { 0x02, 0x33, 0x33, 0x33, 0x33, 0x33 };
#define OUR_IP "10.9.0.1"
#define PEER_IP "10.9.0.2"
#define OUR_PORT 7000
#define PEER_PORT 5000

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static void ipv4_sum(uint8_t *ip)
{
	ip[10] = ip[11] = 0;
	uint32_t sum = 0;
	for (unsigned i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
}

/* A well-formed UDP frame PEER -> us with @p payload bytes. */
static unsigned udp_frame(uint8_t *f, unsigned payload)
{
	memset(f, 0, 42 + payload);
	memcpy(f, our_mac, 6);
	memcpy(f + 6, PEER_MAC, 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14, *u = f + 34;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((28 + payload) >> 8);
	ip[3] = (uint8_t)(28 + payload);
	ip[8] = 64;
	ip[9] = 17;
	uint32_t s = ip4(PEER_IP), d = ip4(OUR_IP);
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	ipv4_sum(ip);
	u[0] = PEER_PORT >> 8;
	u[1] = PEER_PORT & 0xff;
	u[2] = OUR_PORT >> 8;
	u[3] = OUR_PORT & 0xff;
	u[4] = (uint8_t)((8 + payload) >> 8);
	u[5] = (uint8_t)(8 + payload);
	for (unsigned i = 0; i < payload; i++)
		u[8 + i] = (uint8_t)(i + 1);
	return 42 + payload;
}

static unsigned arp_frame(uint8_t *f, uint16_t op, const uint8_t *sha, const char *sip, const uint8_t *dst,
			  const char *tip)
{
	memset(f, 0, 42);
	memcpy(f, dst, 6);
	memcpy(f + 6, sha, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	uint8_t *a = f + 14;
	a[1] = 1;    /* Ethernet */
	a[2] = 0x08; /* IPv4 */
	a[4] = 6;
	a[5] = 4;
	a[7] = (uint8_t)op;
	memcpy(a + 8, sha, 6);
	uint32_t s = ip4(sip), t = ip4(tip);
	memcpy(a + 14, &s, 4);
	if (op == 2)
		memcpy(a + 18, dst, 6);
	memcpy(a + 24, &t, 4);
	return 42;
}

static void inject(const uint8_t *f, unsigned len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	assert_non_null(m);
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)len);
	assert_non_null(p);
	memcpy(p, f, len);
	assert_int_equal(rte_eth_tx_burst(port, 0, &m, 1), 1);
}

/* Let the backend poll the ring once (timeout 0: a longer wait would let it
 * consume its own transmissions, which loop back); @return datagrams for us. */
static int backend_poll(struct shmq_net_pkt *pk)
{
	return shmq_net_recv(be, pk, 8, 0);
}

/* What the backend sent: the next frame on the ring, copied out. */
static unsigned take_sent(uint8_t *buf, unsigned cap)
{
	struct rte_mbuf *m;
	if (rte_eth_rx_burst(port, 0, &m, 1) != 1)
		return 0;
	unsigned len = m->data_len < cap ? m->data_len : cap;
	memcpy(buf, rte_pktmbuf_mtod(m, uint8_t *), len);
	rte_pktmbuf_free(m);
	return len;
}

static void test_valid_udp_datagram_is_delivered_in_place_and_8_aligned(void **state)
{
	(void)state;
	uint8_t f[256];
	struct shmq_net_pkt pk[8];
	inject(f, udp_frame(f, 100));
	assert_int_equal(backend_poll(pk), 1);
	assert_int_equal(pk[0].len, 100);
	assert_int_equal(pk[0].addr.ip, ip4(PEER_IP));
	assert_int_equal(pk[0].addr.port, htons(PEER_PORT));
	assert_int_equal((uintptr_t)pk[0].data % 8, 0);
	assert_memory_equal(pk[0].data, f + 42, 100);
	/* Ethernet padding after the IPv4 total length is not payload */
	unsigned n = udp_frame(f, 4);
	assert_int_equal(n, 46);
	memset(f + n, 0xee, 14);
	inject(f, 60);
	assert_int_equal(backend_poll(pk), 1);
	assert_int_equal(pk[0].len, 4);
}

static void test_frames_lying_about_lengths_or_checksum_are_dropped_and_counted(void **state)
{
	(void)state;
	struct shmq_net_dpdk_stats before, after;
	shmq_net_dpdk_stats(be, &before);
	uint8_t f[256];
	struct shmq_net_pkt pk[8];
	for (int k = 0; k < 8; k++) {
		unsigned len = udp_frame(f, 64);
		uint8_t *ip = f + 14, *u = f + 34;
		switch (k) {
		case 0: ip[11] ^= 0x5a; break;                                   /* IPv4 checksum */
		case 1: ip[3] = (uint8_t)(ip[3] + 40); ipv4_sum(ip); break;      /* total > frame */
		case 2: u[5] = (uint8_t)(u[5] + 1); break;                       /* UDP length */
		case 3: ip[0] = 0x44; ipv4_sum(ip); break;                       /* IHL 4 */
		case 4: ip[0] = 0x65; ipv4_sum(ip); break;                       /* version 6 */
		case 5: len = 14 + 12; break;                                    /* cut IPv4 header */
		case 6: ip[2] = 0; ip[3] = 24; ipv4_sum(ip); break;              /* total < IHL + UDP */
		case 7: len = 10; break;                                         /* cut Ethernet header */
		}
		inject(f, len);
		assert_int_equal(backend_poll(pk), 0);
	}
	/* IPv4 fragments: first (MF) and a later one (offset) */
	udp_frame(f, 64);
	f[14 + 6] = 0x20;
	ipv4_sum(f + 14);
	inject(f, 106);
	udp_frame(f, 64);
	f[14 + 7] = 0x10;
	ipv4_sum(f + 14);
	inject(f, 106);
	assert_int_equal(backend_poll(pk), 0);
	/* larger than frame_max (1472 at MTU 1500) */
	static uint8_t big[1600];
	inject(big, udp_frame(big, be->frame_max + 1));
	assert_int_equal(backend_poll(pk), 0);
	shmq_net_dpdk_stats(be, &after);
	assert_int_equal(after.rx_bad - before.rx_bad, 8);
	assert_int_equal(after.rx_ip_frag - before.rx_ip_frag, 2);
	assert_int_equal(be->st.rx_oversize, 1);
}

static void test_frames_for_another_mac_ip_port_or_protocol_are_not_ours(void **state)
{
	(void)state;
	struct shmq_net_dpdk_stats before, after;
	shmq_net_dpdk_stats(be, &before);
	uint8_t f[256];
	struct shmq_net_pkt pk[8];
	for (int k = 0; k < 5; k++) {
		unsigned len = udp_frame(f, 32);
		uint8_t *ip = f + 14;
		switch (k) {
		case 0: f[0] ^= 0x04; break;                  /* another unicast MAC */
		case 1: ip[19] ^= 1; ipv4_sum(ip); break;     /* another IPv4 address */
		case 2: f[34 + 3] ^= 1; break;                /* another UDP port */
		case 3: ip[9] = 6; ipv4_sum(ip); break;       /* TCP */
		case 4: f[12] = 0x86; f[13] = 0xdd; break;    /* IPv6 ethertype */
		}
		inject(f, len);
		assert_int_equal(backend_poll(pk), 0);
	}
	shmq_net_dpdk_stats(be, &after);
	assert_int_equal(after.rx_not_ours - before.rx_not_ours, 5);
	assert_int_equal(after.rx_bad, before.rx_bad);
}

static void test_arp_request_for_our_address_is_answered_to_the_asker(void **state)
{
	(void)state;
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t f[128], r[128];
	struct shmq_net_pkt pk[8];
	/* a request for another address is not answered */
	inject(f, arp_frame(f, 1, PEER_MAC, PEER_IP, bcast, "10.9.0.77"));
	assert_int_equal(backend_poll(pk), 0);
	assert_int_equal(take_sent(r, sizeof(r)), 0);
	inject(f, arp_frame(f, 1, PEER_MAC, PEER_IP, bcast, OUR_IP));
	assert_int_equal(backend_poll(pk), 0);
	assert_int_equal(take_sent(r, sizeof(r)), 42);
	assert_memory_equal(r, PEER_MAC, 6);          /* unicast to the asker */
	assert_memory_equal(r + 6, our_mac, 6);
	assert_int_equal(r[12] << 8 | r[13], 0x0806);
	assert_int_equal(r[14 + 7], 2);               /* reply */
	assert_memory_equal(r + 14 + 8, our_mac, 6);  /* sha */
	uint32_t ip = ip4(OUR_IP);
	assert_memory_equal(r + 14 + 14, &ip, 4);     /* spa */
	assert_memory_equal(r + 14 + 18, PEER_MAC, 6); /* tha */
	/* and we learned the asker: a datagram to it leaves at once */
	uint8_t data[16] = "to-the-asker";
	struct shmq_net_pkt out = { .addr = { .ip = ip4(PEER_IP), .port = htons(PEER_PORT) }, .len = 16,
				    .data = data };
	assert_int_equal(shmq_net_send(be, &out, 1), 1);
	assert_int_equal(take_sent(r, sizeof(r)), 42 + 16);
	assert_memory_equal(r, PEER_MAC, 6);
}

static void test_unknown_peer_is_resolved_and_the_queued_datagram_then_sent(void **state)
{
	(void)state;
	uint8_t f[128], r[256];
	struct shmq_net_pkt pk[8];
	uint8_t data[40];
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(0xa0 + i);
	struct shmq_net_pkt out = { .addr = { .ip = ip4("10.9.0.3"), .port = htons(PEER_PORT) },
				    .len = sizeof(data), .data = data };
	assert_int_equal(shmq_net_send(be, &out, 1), 1);
	/* what went out is a broadcast ARP request, not the datagram */
	assert_int_equal(take_sent(r, sizeof(r)), 42);
	assert_int_equal(r[0] & r[1] & r[2] & r[3] & r[4] & r[5], 0xff);
	assert_int_equal(r[14 + 7], 1);
	uint32_t t = ip4("10.9.0.3");
	assert_memory_equal(r + 14 + 24, &t, 4);
	assert_int_equal(take_sent(r, sizeof(r)), 0);
	/* an unsolicited reply about someone else changes nothing */
	inject(f, arp_frame(f, 2, PEER3_MAC, "10.9.0.99", our_mac, OUR_IP));
	assert_int_equal(backend_poll(pk), 0);
	assert_int_equal(take_sent(r, sizeof(r)), 0);
	/* the reply: the queued datagram leaves, well formed */
	inject(f, arp_frame(f, 2, PEER3_MAC, "10.9.0.3", our_mac, OUR_IP));
	assert_int_equal(backend_poll(pk), 0);
	unsigned n = take_sent(r, sizeof(r));
	assert_int_equal(n, 42 + sizeof(data));
	assert_memory_equal(r, PEER3_MAC, 6);
	assert_memory_equal(r + 6, our_mac, 6);
	uint8_t *ip = r + 14, *u = r + 34;
	uint32_t sum = 0;
	for (unsigned i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	assert_int_equal(sum, 0xffff);                   /* IPv4 checksum */
	assert_int_equal(ip[2] << 8 | ip[3], 28 + sizeof(data));
	assert_int_equal(ip[6] & 0x40, 0x40);            /* DF: we never fragment */
	assert_int_equal(u[2] << 8 | u[3], PEER_PORT);
	assert_int_equal(u[0] << 8 | u[1], OUR_PORT);
	assert_int_equal(u[4] << 8 | u[5], 8 + sizeof(data));
	assert_memory_equal(u + 8, data, sizeof(data));
}

static void test_datagrams_to_a_silent_peer_are_dropped_after_bounded_retries(void **state)
{
	(void)state;
	struct shmq_net_dpdk_stats before, after;
	shmq_net_dpdk_stats(be, &before);
	uint8_t r[256], data[8] = { 0 };
	struct shmq_net_pkt pk[8];
	struct shmq_net_pkt out = { .addr = { .ip = ip4("10.9.0.66"), .port = htons(PEER_PORT) }, .len = 8,
				    .data = data };
	/* more than the pending queue holds: the surplus is dropped at once */
	for (unsigned i = 0; i < SHMQ_NET_DPDK_PENDING_MAX + 3; i++)
		assert_int_equal(shmq_net_send(be, &out, 1), 1);
	shmq_net_dpdk_stats(be, &after);
	assert_int_equal(after.unresolved_dropped - before.unresolved_dropped, 3);
	/* retries every 10 ms, 3 requests in all, then given up: poll 100 ms
	 * (the backend reads its own requests back: ARP not for it) */
	for (int i = 0; i < 100; i++) {
		backend_poll(pk);
		usleep(1000);
	}
	while (take_sent(r, sizeof(r)))
		;
	shmq_net_dpdk_stats(be, &after);
	assert_int_equal(after.arp_requests_sent - before.arp_requests_sent, 3);
	assert_int_equal(after.arp_failed - before.arp_failed, 1);
	assert_int_equal(after.unresolved_dropped - before.unresolved_dropped, SHMQ_NET_DPDK_PENDING_MAX + 3);
}

static void test_static_neighbour_needs_no_arp(void **state)
{
	(void)state;
	uint8_t r[128], data[4] = { 1, 2, 3, 4 };
	struct shmq_net_pkt out = { .addr = { .ip = ip4("10.9.0.50"), .port = htons(PEER_PORT) }, .len = 4,
				    .data = data };
	assert_int_equal(shmq_net_send(be, &out, 1), 1);
	assert_int_equal(take_sent(r, sizeof(r)), 46);
	assert_memory_equal(r, PEER3_MAC, 6);
}

static int setup(void **state)
{
	(void)state;
	struct shmq_net_neigh neigh = { .ip = ip4("10.9.0.50") };
	memcpy(neigh.mac, PEER3_MAC, 6);
	SHMQ_NET_DPDK_OPTS(o, .eal_args = "-l 0 --no-huge -m 128 --no-pci --log-level=warning --vdev=net_ring0",
			   .neigh = &neigh, .n_neigh = 1, .arp_retry_ns = 10000000ull, .arp_retries = 3);
	struct shmq_net_addr local = { .ip = ip4(OUR_IP), .port = htons(OUR_PORT) };
	int rc = shmq_net_dpdk_open(&local, &o, &be);
	if (rc < 0) {
		fprintf(stderr, "shmq_net_dpdk_open: %s\n", strerror(-rc));
		return -1;
	}
	void *p;
	shmq_net_dpdk_raw(be, &port, &p);
	pool = p;
	shmq_net_dpdk_mac(be, our_mac);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	shmq_net_backend_destroy(be);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_udp_datagram_is_delivered_in_place_and_8_aligned),
		cmocka_unit_test(test_frames_lying_about_lengths_or_checksum_are_dropped_and_counted),
		cmocka_unit_test(test_frames_for_another_mac_ip_port_or_protocol_are_not_ours),
		cmocka_unit_test(test_arp_request_for_our_address_is_answered_to_the_asker),
		cmocka_unit_test(test_unknown_peer_is_resolved_and_the_queued_datagram_then_sent),
		cmocka_unit_test(test_datagrams_to_a_silent_peer_are_dropped_after_bounded_retries),
		cmocka_unit_test(test_static_neighbour_needs_no_arp),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
