/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol over the DPDK backend (dpdk_net/dpdk_backend.h), two
 * processes, no hugepages. One scenario per run (the EAL starts once per
 * process), chosen by argv[1]:
 *   memif      server and client DPDK processes over net_memif (a unix
 *              socket named after a fresh mkdtemp directory);
 *   af_packet  server and client DPDK processes over net_af_packet on a veth
 *              pair whose ends live in two network namespaces this test
 *              creates and deletes;
 *   kernel     a DPDK client (af_packet, namespace A) and a kernel UDP server
 *              (udp_backend, namespace B, the veth end has the address):
 *              ARP both ways between DPDK and the Linux stack.
 * This process only orchestrates (namespaces, fork, wait with a deadline,
 * kill by pid, clean-up); the server child runs a small in-memory queue
 * behind the endpoint, the client child does HELLO, idempotent produce
 * batches of two producers, a 1 MiB message fragmented both ways, and pulls
 * everything back checking each message is there exactly once in order.
 * Both sides drop 10 % of the frames they send (the loss hook).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>

#include "common/clock.h"
#include <rte_ethdev.h>

#include "dpdk_net/dpdk_backend.h"
#include "dpdk_net/endpoint.h"
#include "dpdk_net/udp_backend.h"
#include "net_test_util.h"
#include "tests/net/netns.h"
#include "shmq/error.h"

static const char SECRET[] = "dpdk-test-shared-secret-0123456789";
#define LOSS_PCT 10u
#define TOPIC "orders"
#define SERVER_PORT 7400
#define NPROD 2
#define NBATCH 20
#define BATCHSZ 8
#define BIG (1u << 20)
#define EXPECT_MSGS (NPROD * NBATCH * BATCHSZ + 1)
#define CHILD_DEADLINE_S 25
#define N_BAD_FRAMES 7 /* malformed frames the server counts as rx_bad (af_packet) */

enum mode { MODE_MEMIF, MODE_AF_PACKET, MODE_KERNEL, MODE_MEMIF_MTU9000 };
static enum mode mode;
static char tmpdir[64];
static struct net_ns_pair nsp; /* af_packet and kernel modes */
static bool skipped; /* a child found no DPDK driver: the binary exits 77 */
static uint64_t seed;

/* A failed check in a child: say where, exit with a code naming the line. */
#define CHECK(c)                                                                              \
	do {                                                                                  \
		if (!(c)) {                                                                   \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
			fflush(stderr);                                                       \
			_exit(100);                                                           \
		}                                                                             \
	} while (0)

static bool lossy(void *ctx, const struct shmq_net_pkt *p)
{
	(void)p;
	uint64_t *st = ctx;
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return (*st * 2685821657736338717ull) % 100 < LOSS_PCT;
}

static uint32_t ip4(const char *s)
{
	struct in_addr a;
	CHECK(inet_pton(AF_INET, s, &a) == 1);
	return a.s_addr;
}

static int ncpus(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 1;
	return CPU_COUNT(&set);
}

static void enter_ns(const char *ns)
{
	CHECK(net_ns_enter(ns) == 0);
}

/* Open this child's DPDK backend; exit 77 if the driver is missing. */
static struct shmq_net_backend *open_dpdk(bool server, const char *ip)
{
	char eal[512];
	const char *core = ncpus() >= 2 ? (server ? "1" : "0") : "0";
	if (mode == MODE_MEMIF || mode == MODE_MEMIF_MTU9000)
		/* frames above 2 KiB need bsize=9216 on both sides (platform-notes.md) */
		snprintf(eal, sizeof(eal),
			 "-l %s --no-huge -m 128 --no-pci --log-level=warning "
			 "--vdev=net_memif0,role=%s,id=0,socket=%s/memif.sock%s",
			 core, server ? "server" : "client", tmpdir, mode == MODE_MEMIF_MTU9000 ? ",bsize=9216" : "");
	else
		/* framecnt: a 1 MiB answer is ~730 frames in one burst from a kernel
		 * peer; the PMD's default 512-frame ring drops the rest while the
		 * poller backs off, and under load the resends may not catch up */
		snprintf(eal, sizeof(eal), "-l %s --no-huge -m 128 --no-pci --log-level=warning "
			 "--vdev=net_af_packet0,iface=%s,framecnt=4096", core, server ? nsp.veth[1] : nsp.veth[0]);
	const char *extra = getenv("SHMQ_TEST_EAL_EXTRA"); /* e.g. a --log-level to debug */
	if (extra) {
		size_t l = strlen(eal);
		snprintf(eal + l, sizeof(eal) - l, " %s", extra);
	}
	struct shmq_net_addr local = { .ip = ip4(ip), .port = htons(SERVER_PORT) };
	SHMQ_NET_DPDK_OPTS(o, .eal_args = eal, .link_wait_ms = 10000, .arp_retry_ns = 100000000ull,
			   .arp_retries = 20, .mtu = mode == MODE_MEMIF_MTU9000 ? 9000 : 0);
	struct shmq_net_backend *be;
	int rc = shmq_net_dpdk_open(&local, &o, &be);
	if (rc == -ENODEV) {
		fprintf(stderr, "SKIP: no DPDK port from \"%s\" (driver missing?)\n", eal);
		_exit(77);
	}
	if (rc < 0)
		fprintf(stderr, "shmq_net_dpdk_open: %d (%s)\n", rc, strerror(-rc));
	CHECK(rc == 0);
	/* MTU 9000 asked for: taken as far as the port's max_rx_pktlen allows
	 * (memif and af_packet report 1518 in DPDK 22.11, so 1500) */
	uint16_t port;
	void *pool;
	struct rte_eth_dev_info info;
	shmq_net_dpdk_raw(be, &port, &pool);
	CHECK(rte_eth_dev_info_get(port, &info) == 0);
	uint32_t want_mtu = mode == MODE_MEMIF_MTU9000 ? 9000 : 1500;
	if (info.max_rx_pktlen - 18 < want_mtu)
		want_mtu = info.max_rx_pktlen - 18;
	CHECK(be->frame_max == want_mtu - 28);
	uint8_t mac[6];
	shmq_net_dpdk_mac(be, mac);
	fprintf(stderr, "%s: %s %s mac %02x:%02x:%02x:%02x:%02x:%02x frame_max %u\n",
		server ? "server" : "client", mode == MODE_AF_PACKET || mode == MODE_KERNEL ? "af_packet" : "memif", ip, mac[0], mac[1],
		mac[2], mac[3], mac[4], mac[5], be->frame_max);
	return be;
}

static void print_dpdk_stats(const char *who, struct shmq_net_backend *be)
{
	struct shmq_net_dpdk_stats s;
	shmq_net_dpdk_stats(be, &s);
	fprintf(stderr, "%s dpdk: tx %llu rx %llu hook_dropped %llu tx_err %llu not_ours %llu bad %llu frag %llu "
		"arp_req_sent %llu arp_replies_sent %llu arp_rx %llu learned %llu failed %llu "
		"unresolved_dropped %llu backpressure_drops %llu\n",
		who, (unsigned long long)be->st.tx_frames, (unsigned long long)be->st.rx_frames,
		(unsigned long long)be->st.tx_hook_dropped, (unsigned long long)be->st.tx_errors,
		(unsigned long long)s.rx_not_ours, (unsigned long long)s.rx_bad, (unsigned long long)s.rx_ip_frag,
		(unsigned long long)s.arp_requests_sent, (unsigned long long)s.arp_replies_sent,
		(unsigned long long)s.arp_rx, (unsigned long long)s.arp_learned, (unsigned long long)s.arp_failed,
		(unsigned long long)s.unresolved_dropped, (unsigned long long)s.tx_backpressure_drops);
}

/* ---------------- server child: an in-memory queue ---------------- */

static struct {
	struct shmq_net_idem *idem;
	uint8_t **msg;
	uint32_t *len;
	uint64_t n, cap;
} q;
static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int serve_produce(const struct shmq_net_request *req, uint8_t *buf, size_t cap, uint32_t *len)
{
	struct shmq_net_produce_hdr h;
	struct shmq_net_entry_iter it;
	struct shmq_ringmsg_view v;
	uint64_t qo;
	if (shmq_net_entries_begin(req->body, req->len, &h, sizeof(h), &it) < 0)
		return -EBADMSG;
	if (strcmp(h.topic, TOPIC) != 0 || h.queue != 0)
		return SHMQ_ENOTFOUND;
	uint32_t dups;
	uint64_t next;
	struct shmq_net_produce_ack_hdr a = { .first_seq = h.first_seq };
	int rc = shmq_net_idem_check(q.idem, h.producer_id, 0, h.first_seq, h.count, &dups, &next);
	if (rc < 0) {
		a.status = rc;
		a.next_seq = next;
		memcpy(buf, &a, sizeof(a));
		*len = sizeof(a);
		return 0;
	}
	CHECK(sizeof(a) + h.count * sizeof(struct shmq_net_produce_result) <= cap);
	for (uint32_t i = 0; i < h.count; i++) {
		const uint8_t *start = it.p + sizeof(struct shmq_net_entry);
		CHECK(shmq_net_entry_next(&it, &qo, &v) == 1);
		uint64_t seq = h.first_seq + i;
		struct shmq_net_produce_result r;
		if (i < dups) {
			CHECK(shmq_net_idem_lookup(q.idem, h.producer_id, 0, seq, &r.queue_offset, &r.store_offset) ==
			      0);
		} else {
			uint32_t ml = (uint32_t)(v.props + v.props_len - (const char *)start);
			if (q.n == q.cap) {
				q.cap = q.cap ? q.cap * 2 : 512;
				q.msg = realloc(q.msg, q.cap * sizeof(*q.msg));
				q.len = realloc(q.len, q.cap * sizeof(*q.len));
				CHECK(q.msg && q.len);
			}
			q.msg[q.n] = malloc(ml);
			CHECK(q.msg[q.n]);
			memcpy(q.msg[q.n], start, ml);
			q.len[q.n] = ml;
			r.queue_offset = q.n++;
			r.store_offset = 0;
			CHECK(shmq_net_idem_record(q.idem, h.producer_id, 0, seq, r.queue_offset, 0) == 0);
		}
		memcpy(buf + sizeof(a) + i * sizeof(r), &r, sizeof(r));
	}
	a.count = h.count;
	a.next_seq = h.first_seq + h.count;
	memcpy(buf, &a, sizeof(a));
	*len = (uint32_t)(sizeof(a) + h.count * sizeof(struct shmq_net_produce_result));
	return 0;
}

static int handler(void *ctx, const struct shmq_net_request *req, uint16_t *type, uint8_t *buf, size_t cap,
		   uint32_t *len)
{
	(void)ctx;
	if (req->type == SHMQ_NET_PRODUCE) {
		*type = SHMQ_NET_PRODUCE_ACK;
		return serve_produce(req, buf, cap, len);
	}
	if (req->type != SHMQ_NET_PULL)
		return -EOPNOTSUPP;
	struct shmq_net_pull p;
	memcpy(&p, req->body, sizeof(p));
	if (strcmp(p.topic, TOPIC) != 0 || p.queue != 0)
		return SHMQ_ENOTFOUND;
	struct shmq_net_pull_resp_hdr h = { .max_offset = q.n };
	struct shmq_net_builder b;
	shmq_net_builder_init(&b, buf, cap);
	shmq_net_builder_put(&b, &h, sizeof(h));
	uint64_t o = p.offset;
	size_t limit = p.max_bytes < cap ? p.max_bytes : cap;
	for (; o < q.n && h.count < p.max_msgs; o++) {
		size_t need = sizeof(struct shmq_net_entry) + ((q.len[o] + 7u) & ~7u);
		if (h.count > 0 && b.len + need > limit)
			break;
		shmq_net_builder_raw_msg(&b, o, q.msg[o], q.len[o]);
		h.count++;
	}
	CHECK(shmq_net_builder_finish(&b) > 0);
	h.next_offset = p.offset > q.n ? q.n : o;
	memcpy(buf, &h, sizeof(h));
	*type = SHMQ_NET_PULL_RESP;
	*len = (uint32_t)b.len;
	return 0;
}

static int server_main(void)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	alarm(CHILD_DEADLINE_S + 5); /* never outlive a broken parent */
	struct shmq_net_backend *be;
	if (mode == MODE_KERNEL) {
		enter_ns(nsp.ns[1]);
		char url[64];
		snprintf(url, sizeof(url), "udp://10.77.0.2:%d", SERVER_PORT);
		CHECK(shmq_net_udp_open(url, NULL, &be) == 0);
	} else {
		if (mode == MODE_AF_PACKET)
			enter_ns(nsp.ns[1]);
		be = open_dpdk(true, "10.77.0.2");
	}
	uint64_t loss = seed | 1;
	shmq_net_set_loss(be, lossy, &loss);
	struct shmq_net_auth *auth;
	struct shmq_net_server *srv;
	CHECK(shmq_net_auth_create(SECRET, strlen(SECRET), NULL, &auth) == 0);
	CHECK(shmq_net_idem_create(NULL, &q.idem) == 0);
	CHECK(shmq_net_server_create(be, auth, handler, NULL, NULL, &srv) == 0);
	while (!stop_flag)
		CHECK(shmq_net_server_poll(srv, 5000000ull) >= 0);
	struct shmq_net_server_stats st;
	shmq_net_server_stats(srv, &st);
	fprintf(stderr, "server: frames %llu garbage %llu sessions %llu requests %llu resent %llu "
		"frag_dropped %llu messages %llu\n",
		(unsigned long long)st.frames, (unsigned long long)st.garbage,
		(unsigned long long)st.sessions_opened, (unsigned long long)st.requests,
		(unsigned long long)st.answers_resent, (unsigned long long)st.frag_dropped, (unsigned long long)q.n);
	if (mode != MODE_KERNEL)
		print_dpdk_stats("server", be);
	CHECK(be->st.tx_hook_dropped > 0);    /* loss really injected */
	CHECK(q.n == EXPECT_MSGS);            /* each message stored once */
	CHECK(st.sessions_opened >= 1);
	if (mode != MODE_KERNEL) {
		struct shmq_net_dpdk_stats ds;
		shmq_net_dpdk_stats(be, &ds);
		CHECK(ds.arp_replies_sent >= 1); /* the client asked for our MAC */
		CHECK(ds.rx_bad == (mode == MODE_AF_PACKET ? N_BAD_FRAMES : 0));
	}
	shmq_net_server_destroy(srv);
	shmq_net_auth_destroy(auth);
	shmq_net_idem_destroy(q.idem);
	for (uint64_t i = 0; i < q.n; i++)
		free(q.msg[i]);
	free(q.msg);
	free(q.len);
	shmq_net_backend_destroy(be);
	return 0;
}

/* ---------------- malformed frames (af_packet mode) ---------------- */

static void ipv4_sum(uint8_t *ip, unsigned ihl)
{
	ip[10] = ip[11] = 0;
	uint32_t sum = 0;
	for (unsigned i = 0; i < ihl; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8);
	ip[11] = (uint8_t)~sum;
}

/* A UDP frame to the server (broadcast MAC: accepted like ours). */
static unsigned good_frame(uint8_t *f, unsigned payload)
{
	memset(f, 0, 14 + 28 + payload);
	memset(f, 0xff, 6);
	f[6] = 0x02;
	f[11] = 0x01;
	f[12] = 0x08;
	uint8_t *ip = f + 14;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((28 + payload) >> 8);
	ip[3] = (uint8_t)(28 + payload);
	ip[8] = 64;
	ip[9] = 17;
	memcpy(ip + 12, (uint8_t[]){ 10, 77, 0, 1 }, 4);
	memcpy(ip + 16, (uint8_t[]){ 10, 77, 0, 2 }, 4);
	ipv4_sum(ip, 20);
	uint8_t *u = ip + 20;
	u[0] = SERVER_PORT >> 8;
	u[1] = SERVER_PORT & 0xff;
	u[2] = SERVER_PORT >> 8;
	u[3] = SERVER_PORT & 0xff;
	u[4] = (uint8_t)((8 + payload) >> 8);
	u[5] = (uint8_t)(8 + payload);
	for (unsigned i = 0; i < payload; i++)
		u[8 + i] = (uint8_t)(i * 7);
	return 14 + 28 + payload;
}

/* Send frames that lie about their lengths, checksum or fragmentation to
 * the server's DPDK port through a packet socket on our veth end. */
static void send_malformed(void)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = (int)if_nametoindex(nsp.veth[0]),
				   .sll_halen = 6 };
	CHECK(sll.sll_ifindex > 0);
	memset(sll.sll_addr, 0xff, 6);
	uint8_t f[256];
	for (int k = 0; k < N_BAD_FRAMES; k++) {
		unsigned len = good_frame(f, 64);
		uint8_t *ip = f + 14, *u = ip + 20;
		switch (k) {
		case 0: ip[11] ^= 0x5a; break;                            /* IPv4 checksum */
		case 1: ip[3] = (uint8_t)(ip[3] + 40); ipv4_sum(ip, 20); break; /* total > frame */
		case 2: u[5] = (uint8_t)(u[5] + 1); break;                /* UDP length != IP payload */
		case 3: ip[0] = 0x44; ipv4_sum(ip, 20); break;            /* IHL 4 */
		case 4: ip[0] = 0x65; ipv4_sum(ip, 20); break;            /* version 6 */
		case 5: len = 14 + 12; break;                             /* truncated IPv4 header */
		case 6: ip[2] = 0; ip[3] = 24; ipv4_sum(ip, 20); break;   /* total < IHL + UDP */
		}
		/* no IPv4 fragment here: the af_packet PMD's fanout socket asks
		 * the kernel to defragment (PACKET_FANOUT_FLAG_DEFRAG), so a
		 * lone fragment never reaches it; test_dpdk_rx covers that */
		CHECK(sendto(fd, f, len, 0, (struct sockaddr *)&sll, sizeof(sll)) == (ssize_t)len);
	}
	close(fd);
}

/* ---------------- client child ---------------- */

static struct shmq_net_client *cli;
static uint8_t *body_buf;

static void produce(uint64_t producer, uint64_t first_seq, uint32_t count, uint32_t len,
		    struct shmq_net_produce_ack_hdr *ack, uint64_t *qoffs)
{
	int64_t n = net_build_produce(body_buf, SHMQ_NET_MSG_MAX, TOPIC, 0, producer, first_seq, count, len);
	CHECK(n > 0);
	uint16_t t;
	const uint8_t *r;
	uint32_t rl;
	CHECK(shmq_net_client_call(cli, SHMQ_NET_PRODUCE, body_buf, (uint32_t)n, &t, &r, &rl) == 0);
	CHECK(t == SHMQ_NET_PRODUCE_ACK && rl >= sizeof(*ack));
	memcpy(ack, r, sizeof(*ack));
	CHECK(ack->count <= count); /* also bounds the copy below for the compiler */
	for (uint32_t i = 0; i < ack->count && i < count && qoffs; i++)
		memcpy(&qoffs[i], r + sizeof(*ack) + i * sizeof(struct shmq_net_produce_result), sizeof(uint64_t));
}

static const uint8_t *pull(uint64_t offset, uint32_t max_msgs, uint32_t *rl)
{
	struct shmq_net_pull p;
	memset(&p, 0, sizeof(p));
	CHECK(shmq_ctl_name_set(p.group, "g1", false) == 0);
	CHECK(shmq_ctl_name_set(p.topic, TOPIC, false) == 0);
	p.offset = offset;
	p.max_msgs = max_msgs;
	p.max_bytes = 2u << 20;
	uint16_t t;
	const uint8_t *r;
	CHECK(shmq_net_client_call(cli, SHMQ_NET_PULL, &p, sizeof(p), &t, &r, rl) == 0);
	CHECK(t == SHMQ_NET_PULL_RESP);
	return r;
}

static uint64_t produced_qoff[NPROD][NBATCH * BATCHSZ];

static int client_main(void)
{
	alarm(CHILD_DEADLINE_S + 5);
	if (mode == MODE_AF_PACKET || mode == MODE_KERNEL)
		enter_ns(nsp.ns[0]);
	struct shmq_net_backend *be = open_dpdk(false, "10.77.0.1");
	uint64_t loss = (seed * 3) | 1;
	shmq_net_set_loss(be, lossy, &loss);
	struct shmq_net_auth *auth;
	CHECK(shmq_net_auth_create(SECRET, strlen(SECRET), NULL, &auth) == 0);
	struct shmq_net_addr server = { .ip = ip4("10.77.0.2"), .port = htons(SERVER_PORT) };
	SHMQ_NET_CLIENT_OPTS(o, .principal = "svc-dpdk",
			     .retry = { .sz = sizeof(struct shmq_net_retry_opts), .deadline_ns = 20000000000ull });
	uint64_t t0 = shmq_now_ns();
	CHECK(shmq_net_client_connect(be, &server, auth, &o, &cli) == 0);
	fprintf(stderr, "client: session after %.1f ms\n", (double)(shmq_now_ns() - t0) / 1e6);
	body_buf = malloc(SHMQ_NET_MSG_MAX);
	CHECK(body_buf);

	/* two producers' batches, interleaved */
	struct shmq_net_produce_ack_hdr a;
	for (uint32_t b = 0; b < NBATCH; b++) {
		for (uint64_t p = 0; p < NPROD; p++) {
			uint32_t len = 32 + (uint32_t)((seed + b * 7 + p) % 300);
			produce(100 + p, (uint64_t)b * BATCHSZ, BATCHSZ, len, &a, &produced_qoff[p][b * BATCHSZ]);
			CHECK(a.status == 0 && a.count == BATCHSZ);
		}
		if (mode == MODE_KERNEL && b == NBATCH / 2) {
			/* make the kernel forget our MAC: its next answer needs
			 * an ARP request that the DPDK side must answer */
			char cmd[96];
			snprintf(cmd, sizeof(cmd), "ip -n %s neigh flush dev %s", nsp.ns[1], nsp.veth[1]);
			CHECK(system(cmd) == 0);
		}
	}
	/* a resend of an old batch under a new request: the original offsets */
	uint64_t again[BATCHSZ];
	produce(100, 3 * BATCHSZ, BATCHSZ, 100, &a, again);
	CHECK(a.status == 0);
	CHECK(memcmp(again, &produced_qoff[0][3 * BATCHSZ], sizeof(again)) == 0);

	/* 1 MiB: fragmented on the way in and on the way out */
	uint64_t big_qo = 0;
	t0 = shmq_now_ns();
	produce(300, 0, 1, BIG, &a, &big_qo);
	CHECK(a.status == 0 && big_qo == NPROD * NBATCH * BATCHSZ);
	uint32_t rl;
	const uint8_t *r = pull(big_qo, 1, &rl);
	fprintf(stderr, "client: 1 MiB there and back in %.1f ms\n", (double)(shmq_now_ns() - t0) / 1e6);
	struct shmq_net_pull_resp_hdr h;
	struct shmq_net_entry_iter it;
	struct shmq_ringmsg_view v;
	uint64_t qo;
	CHECK(shmq_net_entries_begin(r, rl, &h, sizeof(h), &it) == 0);
	CHECK(h.count == 1);
	CHECK(shmq_net_entry_next(&it, &qo, &v) == 1);
	CHECK(qo == big_qo && v.body_len == BIG);
	uint8_t *want = malloc(BIG);
	CHECK(want);
	net_fill_body(want, BIG, 300, 0);
	CHECK(memcmp(v.body, want, BIG) == 0);

	/* every message exactly once, per producer in order */
	uint64_t seen[NPROD] = { 0 }, off = 0;
	while (off < big_qo) {
		r = pull(off, 64, &rl);
		CHECK(shmq_net_entries_begin(r, rl, &h, sizeof(h), &it) == 0);
		CHECK(h.status == 0 && h.count > 0);
		while (shmq_net_entry_next(&it, &qo, &v) == 1 && qo < big_qo) {
			CHECK(qo == off);
			uint64_t p = v.producer_id - 100;
			CHECK(p < NPROD);
			CHECK(v.producer_seq == seen[p]);
			CHECK(produced_qoff[p][seen[p]] == qo);
			net_fill_body(want, v.body_len, v.producer_id, v.producer_seq);
			CHECK(memcmp(v.body, want, v.body_len) == 0);
			seen[p]++;
			off++;
		}
	}
	for (int p = 0; p < NPROD; p++)
		CHECK(seen[p] == NBATCH * BATCHSZ);
	free(want);
	if (mode == MODE_AF_PACKET) {
		/* malformed frames are dropped (the server counts them) and the
		 * session keeps working */
		send_malformed();
		r = pull(0, 4, &rl);
		memcpy(&h, r, sizeof(h));
		CHECK(h.count == 4);
	}

	struct shmq_net_client_stats cs;
	shmq_net_client_stats(cli, &cs);
	fprintf(stderr, "client: calls %llu retransmits %llu hellos %llu ignored %llu\n",
		(unsigned long long)cs.calls, (unsigned long long)cs.retransmits, (unsigned long long)cs.hellos,
		(unsigned long long)cs.ignored);
	print_dpdk_stats("client", be);
	struct shmq_net_dpdk_stats ds;
	shmq_net_dpdk_stats(be, &ds);
	CHECK(be->st.tx_hook_dropped > 0);
	CHECK(ds.arp_requests_sent >= 1 && ds.arp_learned >= 1); /* we resolved the server */
	/* (in af_packet mode our packet socket's frames reach our port too) */
	CHECK(ds.rx_bad == 0 || mode == MODE_AF_PACKET);
	if (mode == MODE_KERNEL)
		CHECK(ds.arp_replies_sent >= 1); /* the kernel asked for our MAC */
	shmq_net_client_close(cli);
	shmq_net_auth_destroy(auth);
	shmq_net_backend_destroy(be);
	free(body_buf);
	return 0;
}

/* ---------------- orchestration (this process) ---------------- */

static pid_t spawn(int (*fn)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0)
		exit(fn()); /* not _exit: LeakSanitizer checks the children too */
	return pid;
}

/* Wait for @p pid until @p deadline; kill it (by pid) when late. */
static int reap(pid_t pid, uint64_t deadline, const char *who)
{
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (shmq_now_ns() > deadline) {
			fprintf(stderr, "%s (pid %d) is late: killed\n", who, (int)pid);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(10000);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "%s died: signal %d\n", who, WIFSIGNALED(status) ? WTERMSIG(status) : -1);
	return -1;
}

static void test_endpoint_exchange_over_dpdk_is_exactly_once_through_loss(void **state)
{
	(void)state;
	uint64_t deadline = shmq_now_ns() + CHILD_DEADLINE_S * 1000000000ull;
	pid_t server = spawn(server_main);
	assert_true(server > 0);
	if (mode == MODE_MEMIF || mode == MODE_MEMIF_MTU9000)
		usleep(300000); /* the memif server must listen first (platform-notes.md) */
	pid_t client = spawn(client_main);
	if (client < 0)
		kill(server, SIGKILL);
	assert_true(client > 0);
	int crc = reap(client, deadline, "client");
	if (crc == 77) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
		skipped = true;
		skip();
	}
	kill(server, SIGTERM);
	int src = reap(server, shmq_now_ns() + 5000000000ull, "server");
	if (src == 77 && crc != 0) {
		skipped = true;
		skip();
	}
	fprintf(stderr, "client exit %d, server exit %d\n", crc, src);
	assert_int_equal(crc, 0);
	assert_int_equal(src, 0);
}

static int group_setup(void **state)
{
	(void)state;
	net_rng_seed("test_dpdk_endpoint");
	seed = net_rng();
	unsigned id = (unsigned)getpid() % 100000u;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/shmq-dpdk-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	if ((mode == MODE_AF_PACKET || mode == MODE_KERNEL) &&
	    net_ns_pair_create(&nsp, "shqe", id, NULL, mode == MODE_KERNEL ? "10.77.0.2/24" : NULL) != 0) {
		net_ns_pair_destroy(&nsp);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	net_ns_pair_destroy(&nsp);
	char sock[128];
	snprintf(sock, sizeof(sock), "%s/memif.sock", tmpdir);
	unlink(sock); /* only if memif made a filesystem socket */
	return rmdir(tmpdir) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s memif|memif_mtu9000|af_packet|kernel\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "memif"))
		mode = MODE_MEMIF;
	else if (!strcmp(argv[1], "af_packet"))
		mode = MODE_AF_PACKET;
	else if (!strcmp(argv[1], "kernel"))
		mode = MODE_KERNEL;
	else if (!strcmp(argv[1], "memif_mtu9000"))
		mode = MODE_MEMIF_MTU9000;
	else
		return 2;
	if ((mode == MODE_AF_PACKET || mode == MODE_KERNEL) && (geteuid() != 0 || (access("/usr/bin/ip", X_OK) != 0 && access("/sbin/ip", X_OK) != 0))) {
		fprintf(stderr, "SKIP: network namespaces need root and iproute2\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_exchange_over_dpdk_is_exactly_once_through_loss),
	};
	int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	net_ns_pair_destroy(&nsp);
	return skipped && rc == 0 ? 77 : rc;
}
