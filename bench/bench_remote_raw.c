/* SPDX-License-Identifier: Apache-2.0 */
/* `shmq-bench remote-raw`: see bench/bench_remote_raw.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "bench/bench.h"
#include "bench/bench_remote_raw.h"
#include "bench/bench_util.h"
#include "common/clock.h"
#include "dpdk_net/dpdk_backend.h"
#include "tests/net/netns.h"

#define FRAME_LEN 64u
#define BURST 32u
#define PING_TIMEOUT_NS 100000000ull
/* payload byte 0 (after the 42 header bytes): what the echo process does */
enum { OP_ECHO = 'E', OP_COUNT = 'C', OP_QUERY = 'Q', OP_REPORT = 'R' };
#define OP_AT 42u

struct raw_ctx {
	const char *vdev;
	char dir[64];
	struct net_ns_pair nsp;     /* af_packet: the veth pair in two namespaces */
	int quick;
};

/* side 0 = echo (memif server), 1 = pinger */
static struct shmq_net_backend *open_side(struct raw_ctx *c, int side)
{
	int cpus[2];
	int n = bench_two_cpus(cpus);
	int cpu = n == 2 ? cpus[side] : cpus[0];
	char eal[512];
	if (!strcmp(c->vdev, "memif"))
		snprintf(eal, sizeof(eal),
			 "-l %d --no-huge -m 128 --no-pci --log-level=warning "
			 "--vdev=net_memif0,role=%s,id=0,socket=%s/memif.sock",
			 cpu, side == 0 ? "server" : "client", c->dir);
	else
		snprintf(eal, sizeof(eal), "-l %d --no-huge -m 128 --no-pci --log-level=warning "
			 "--vdev=net_af_packet0,iface=%s", cpu, c->nsp.veth[side]);
	struct shmq_net_addr local = { .ip = htonl(0x0a4d0001u + (uint32_t)side), .port = htons(7500) };
	SHMQ_NET_DPDK_OPTS(o, .eal_args = eal, .link_wait_ms = 10000, .nb_mbufs = 8191);
	struct shmq_net_backend *be;
	int rc = shmq_net_dpdk_open(&local, &o, &be);
	if (rc < 0) {
		fprintf(stderr, "remote-raw %s: open: %s\n", c->vdev, strerror(-rc));
		return NULL;
	}
	return be;
}

static struct rte_mbuf *frame(struct rte_mempool *mp, uint8_t op, uint64_t word)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	if (!m)
		return NULL;
	uint8_t *p = (uint8_t *)rte_pktmbuf_append(m, FRAME_LEN);
	if (!p) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	memset(p, 0, FRAME_LEN);
	memset(p, 0xff, 6); /* broadcast: the peer's MAC is not needed */
	p[6] = 0x02;
	p[12] = 0x08; /* IPv4 */
	struct rte_ipv4_hdr *ih = (struct rte_ipv4_hdr *)(void *)(p + 14);
	ih->version_ihl = RTE_IPV4_VHL_DEF;
	ih->total_length = rte_cpu_to_be_16(FRAME_LEN - 14);
	ih->time_to_live = 64;
	ih->next_proto_id = IPPROTO_UDP;
	ih->src_addr = htonl(0x0a4d0002u);
	ih->dst_addr = htonl(0x0a4d0001u);
	ih->hdr_checksum = rte_ipv4_cksum(ih);
	struct rte_udp_hdr *uh = (struct rte_udp_hdr *)(void *)(p + 34);
	uh->src_port = uh->dst_port = htons(7500);
	uh->dgram_len = rte_cpu_to_be_16(FRAME_LEN - 34);
	p[OP_AT] = op;
	memcpy(p + OP_AT + 2, &word, sizeof(word));
	return m;
}

static uint8_t op_of(struct rte_mbuf *m)
{
	return m->data_len > OP_AT + 10 ? rte_pktmbuf_mtod(m, uint8_t *)[OP_AT] : 0;
}

static volatile sig_atomic_t echo_stop;
static void on_term(int sig)
{
	(void)sig;
	echo_stop = 1;
}

/* Echo E frames back, count C frames, answer Q with R(count). */
static int echo_main(struct raw_ctx *c)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	alarm(120);
	if (strcmp(c->vdev, "memif") && net_ns_enter(c->nsp.ns[0]) < 0)
		return 3;
	struct shmq_net_backend *be = open_side(c, 0);
	if (!be)
		return 77;
	uint16_t port;
	void *pool;
	shmq_net_dpdk_raw(be, &port, &pool);
	uint64_t counted = 0, idle_since = shmq_now_ns();
	while (!echo_stop) {
		struct rte_mbuf *m[BURST], *back[BURST];
		uint16_t k = rte_eth_rx_burst(port, 0, m, BURST), nb = 0;
		if (!k) {
			uint64_t now = shmq_now_ns();
			shmq_net_dpdk_idle(now - idle_since, 100000);
			continue;
		}
		idle_since = shmq_now_ns();
		for (uint16_t i = 0; i < k; i++) {
			uint8_t op = op_of(m[i]);
			if (op == OP_ECHO) {
				back[nb++] = m[i];
				continue;
			}
			if (op == OP_COUNT)
				counted++;
			rte_pktmbuf_free(m[i]);
			if (op == OP_QUERY) {
				struct rte_mbuf *r = frame(pool, OP_REPORT, counted);
				if (r && rte_eth_tx_burst(port, 0, &r, 1) != 1)
					rte_pktmbuf_free(r);
			}
		}
		uint16_t sent = 0;
		if (!nb) /* a counting burst: nothing to send back */
			continue;
		for (int tries = 0; sent < nb && tries < 1000; tries++)
			sent += rte_eth_tx_burst(port, 0, back + sent, (uint16_t)(nb - sent));
		if (sent < nb)
			rte_pktmbuf_free_bulk(back + sent, nb - sent);
	}
	shmq_net_backend_destroy(be);
	return 0;
}

/* Wait for one frame of @p op; the others are dropped. */
static struct rte_mbuf *await(uint16_t port, uint8_t op, uint64_t timeout_ns)
{
	uint64_t t0 = shmq_now_ns();
	for (;;) {
		struct rte_mbuf *m[BURST], *hit = NULL;
		uint16_t k = rte_eth_rx_burst(port, 0, m, BURST);
		for (uint16_t i = 0; i < k; i++) {
			if (!hit && op_of(m[i]) == op)
				hit = m[i];
			else
				rte_pktmbuf_free(m[i]);
		}
		if (hit)
			return hit;
		uint64_t idle = shmq_now_ns() - t0;
		if (!k && idle > timeout_ns)
			return NULL;
		/* spin through a normal round trip, back off on a late one */
		if (!k && idle > 50000)
			shmq_net_dpdk_idle(idle - 50000, 100000);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int ping_main(struct raw_ctx *c, int wfd)
{
	alarm(120);
	struct shmq_bench_raw_result r = { .frame_len = FRAME_LEN };
	snprintf(r.vdev, sizeof(r.vdev), "%s", c->vdev);
	if (strcmp(c->vdev, "memif") && net_ns_enter(c->nsp.ns[1]) < 0)
		return 3;
	struct shmq_net_backend *be = open_side(c, 1);
	if (!be)
		return 77;
	uint16_t port;
	void *pool;
	shmq_net_dpdk_raw(be, &port, &pool);
	uint64_t hz = rte_get_tsc_hz();

	/* RTT, after a warm-up */
	unsigned n = c->quick ? 2000 : 20000, warm = 200;
	uint64_t *rtt = calloc(n, sizeof(*rtt));
	if (!rtt)
		return 4;
	for (unsigned i = 0; i < n + warm; i++) {
		struct rte_mbuf *m = frame(pool, OP_ECHO, i);
		if (!m)
			return 5;
		uint64_t t0 = rte_rdtsc();
		unsigned spins = 0;
		while (rte_eth_tx_burst(port, 0, &m, 1) != 1)
			bench_backoff(&spins);
		struct rte_mbuf *e = await(port, OP_ECHO, PING_TIMEOUT_NS);
		uint64_t t1 = rte_rdtsc();
		if (!e) {
			r.rtt_lost++;
			continue;
		}
		rte_pktmbuf_free(e);
		if (i >= warm)
			rtt[r.rtt_samples++] = (uint64_t)((double)(t1 - t0) * 1e9 / (double)hz);
	}
	qsort(rtt, r.rtt_samples, sizeof(*rtt), cmp_u64);
	if (r.rtt_samples) {
		r.rtt_p50_ns = (double)rtt[r.rtt_samples / 2];
		r.rtt_p99_ns = (double)rtt[(r.rtt_samples * 99) / 100];
	}
	free(rtt);

	/* packet rate one way, bursts of 32 */
	uint64_t dur = c->quick ? 300000000ull : 1000000000ull;
	uint64_t t0 = shmq_now_ns(), now = t0;
	struct rte_mbuf *tpl = frame(pool, OP_COUNT, 0);
	if (!tpl)
		return 5;
	const uint8_t *tp = rte_pktmbuf_mtod(tpl, const uint8_t *);
	while ((now = shmq_now_ns()) - t0 < dur) {
		struct rte_mbuf *m[BURST];
		unsigned k = BURST;
		if (rte_pktmbuf_alloc_bulk(pool, m, BURST) != 0)
			k = 0;
		for (unsigned i = 0; i < k; i++)
			memcpy(rte_pktmbuf_append(m[i], FRAME_LEN), tp, FRAME_LEN); /* cannot fail: empty mbuf */
		uint16_t sent = rte_eth_tx_burst(port, 0, m, (uint16_t)k);
		r.tx_frames += sent;
		if (sent < k)
			rte_pktmbuf_free_bulk(m + sent, k - sent);
		/* drop anything coming back so the rx ring never fills */
		struct rte_mbuf *in[BURST];
		uint16_t got = rte_eth_rx_burst(port, 0, in, BURST);
		if (got)
			rte_pktmbuf_free_bulk(in, got);
	}
	rte_pktmbuf_free(tpl);
	double secs = (double)(now - t0) / 1e9;
	/* what arrived: ask until the echo process answers */
	struct rte_mbuf *rep = NULL;
	for (int tries = 0; tries < 50 && !rep; tries++) {
		struct rte_mbuf *q = frame(pool, OP_QUERY, 0);
		if (q && rte_eth_tx_burst(port, 0, &q, 1) != 1)
			rte_pktmbuf_free(q);
		rep = await(port, OP_REPORT, 20000000ull);
	}
	if (rep) {
		memcpy(&r.rx_frames, rte_pktmbuf_mtod(rep, uint8_t *) + OP_AT + 2, sizeof(r.rx_frames));
		rte_pktmbuf_free(rep);
	} else {
		r.status = -ETIMEDOUT;
	}
	r.tx_pps = (double)r.tx_frames / secs;
	r.rx_pps = (double)r.rx_frames / secs;
	shmq_net_backend_destroy(be);
	ssize_t w = write(wfd, &r, sizeof(r));
	return w == (ssize_t)sizeof(r) ? 0 : 6;
}

static void cleanup(struct raw_ctx *c)
{
	net_ns_pair_destroy(&c->nsp);
	if (c->dir[0]) {
		char p[128];
		snprintf(p, sizeof(p), "%s/memif.sock", c->dir);
		unlink(p);
		rmdir(c->dir);
		c->dir[0] = '\0';
	}
}

static int setup(struct raw_ctx *c)
{
	snprintf(c->dir, sizeof(c->dir), "/tmp/shmq-raw-XXXXXX");
	if (!mkdtemp(c->dir)) {
		c->dir[0] = '\0';
		return -errno;
	}
	if (!strcmp(c->vdev, "memif"))
		return 0;
	if (strcmp(c->vdev, "af_packet"))
		return -EINVAL;
	if (geteuid() != 0)
		return 77;
	return net_ns_pair_create(&c->nsp, "shqb", (unsigned)getpid(), NULL, NULL) == 0 ? 0 : 77;
}

static int reap(pid_t pid, uint64_t deadline)
{
	int st;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		if (r < 0)
			return -1;
		if (shmq_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(5000);
	}
}

int shmq_bench_remote_raw_run(const char *vdev, int quick, struct shmq_bench_raw_result *out)
{
	struct raw_ctx c = { .vdev = vdev, .quick = quick };
	memset(out, 0, sizeof(*out));
	snprintf(out->vdev, sizeof(out->vdev), "%s", vdev);
	int rc = setup(&c);
	if (rc) {
		cleanup(&c);
		out->status = rc;
		return rc;
	}
	int pfd[2];
	if (pipe(pfd) < 0) {
		cleanup(&c);
		return out->status = -errno;
	}
	fflush(NULL);
	pid_t echo = fork();
	if (echo == 0) {
		close(pfd[0]);
		_exit(echo_main(&c));
	}
	usleep(300000); /* the memif server listens first */
	pid_t ping = fork();
	if (ping == 0) {
		close(pfd[0]);
		_exit(ping_main(&c, pfd[1]));
	}
	close(pfd[1]);
	uint64_t deadline = shmq_now_ns() + 60000000000ull;
	int prc = ping > 0 ? reap(ping, deadline) : -1;
	if (echo > 0) {
		kill(echo, SIGTERM);
		reap(echo, shmq_now_ns() + 5000000000ull);
	}
	ssize_t got = read(pfd[0], out, sizeof(*out));
	close(pfd[0]);
	cleanup(&c);
	if (prc != 0 || got != (ssize_t)sizeof(*out)) {
		memset(out, 0, sizeof(*out));
		snprintf(out->vdev, sizeof(out->vdev), "%s", vdev);
		out->status = prc == 77 ? 77 : -EIO;
	}
	return out->status;
}

int shmq_bench_remote_raw_json(const struct shmq_bench_raw_result *r, char *buf, size_t cap)
{
	return snprintf(buf, cap,
			"{\"vdev\":\"%s\",\"status\":%d,\"frame_len\":%u,\"rtt_samples\":%llu,\"rtt_lost\":%llu,"
			"\"rtt_p50_ns\":%.0f,\"rtt_p99_ns\":%.0f,\"tx_frames\":%llu,\"rx_frames\":%llu,"
			"\"tx_pps\":%.0f,\"rx_pps\":%.0f}",
			r->vdev, r->status, r->frame_len, (unsigned long long)r->rtt_samples,
			(unsigned long long)r->rtt_lost, r->rtt_p50_ns, r->rtt_p99_ns,
			(unsigned long long)r->tx_frames, (unsigned long long)r->rx_frames, r->tx_pps, r->rx_pps);
}

int shmq_bench_remote_raw(int argc, char **argv)
{
	int quick = 0;
	const char *only = NULL;
	/* a closed stdout (| head) must not kill us before the namespaces go */
	signal(SIGPIPE, SIG_IGN);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			quick = 1;
		} else if (!strcmp(argv[i], "--vdev") && i + 1 < argc) {
			only = argv[++i];
		} else {
			fprintf(stderr, "usage: shmq-bench remote-raw [--quick] [--vdev memif|af_packet]\n"
					"  bare DPDK echo between two processes: RTT of a 64 B frame, 64 B packet rate\n");
			return !strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") ? 0 : 2;
		}
	}
	const char *vdevs[] = { "memif", "af_packet" };
	struct shmq_bench_raw_result res[2];
	unsigned nres = 0;
	printf("%-10s %8s %10s %10s %12s %12s %8s\n", "vdev", "status", "rtt_p50", "rtt_p99", "tx_pps", "rx_pps",
	       "lost");
	for (unsigned i = 0; i < 2; i++) {
		if (only && strcmp(only, vdevs[i]))
			continue;
		struct shmq_bench_raw_result *r = &res[nres++];
		shmq_bench_remote_raw_run(vdevs[i], quick, r);
		printf("%-10s %8d %8.2fus %8.2fus %12.0f %12.0f %8llu\n", r->vdev, r->status, r->rtt_p50_ns / 1e3,
		       r->rtt_p99_ns / 1e3, r->tx_pps, r->rx_pps, (unsigned long long)r->rtt_lost);
	}
	printf("{\"bench\":\"remote-raw\",\"quick\":%d,\"results\":[", quick);
	for (unsigned i = 0; i < nres; i++) {
		char js[512];
		shmq_bench_remote_raw_json(&res[i], js, sizeof(js));
		printf("%s%s", i ? "," : "", js);
	}
	printf("]}\n");
	return 0;
}
