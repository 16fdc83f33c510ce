/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `shmq-bench remote`: libshmq over the network (client/remote.h) against a
 * real shmqd whose remote port listens on kernel UDP on loopback.
 *
 *  - one-way latency: a producer sends one message every --interval-us
 *    (asynchronously, so the rate does not depend on the round trip); the
 *    consumer thread of the same process long-polls and takes
 *    now - (send time written in the body), p50/p99;
 *  - throughput: the producer sends --count messages asynchronously as fast
 *    as the library takes them (batching into PRODUCE requests), the
 *    consumer counts; messages/s from the first send to the last receipt.
 * 64 B and 1 KiB bodies, PERSISTED (a remote send is acknowledged once the
 * broker stored it). In the same run: the raw vdev reference of
 * bench_remote_raw.h (a bare DPDK echo over memif and af_packet), which is
 * what the network protocol over DPDK is to be compared with.
 * The same two runs also go over DPDK: shmqd listens on dpdk:// on net_memif
 * (role=server) and a forked child of the bench is its libshmq peer over
 * dpdk:// (role=client; client/remote_mux.h), so the figures sit beside the
 * raw memif echo, with the two ratios issue 5 targets: remote one-way p50
 * (producer -> broker -> consumer, the same two crossings as an echo's round
 * trip) over the raw RTT p50 (<= 1.5), and 64 B msgs/s over the raw memif
 * rx pps (>= 0.5). The raw runs go first: their forked children start their
 * own EAL, which a process that already ran one cannot.
 * Prints a table, then one JSON line with every figure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_remote_raw.h"
#include "bench/bench_util.h"
#include "common/clock.h"
#include "shmq/shmq.h"
#include "tests/integration/itest.h"

struct rcfg {
	int quick;
	unsigned lat_count;
	unsigned interval_us;
	unsigned tput_count;
	int raw;
};

struct rres {
	uint32_t size;
	int status;
	uint64_t lat_samples;
	double lat_p50_us, lat_p99_us;
	uint64_t rtt_samples;
	double rtt_p50_us, rtt_p99_us;   /* shmq_producer_send() returning (PRODUCE -> PRODUCE_ACK) */
	double ring_rtt_p50_us, ring_rtt_p99_us; /* the same at SHMQ_DELIVERY_RING: no persister hop */
	uint64_t tput_msgs;
	double tput_mps, tput_mbps;
};

struct consumer_arg {
	shmq_consumer_t *cs;
	uint64_t want;
	uint64_t *lat;             /* per sample (ns) if non-NULL */
	uint64_t got;
	uint64_t last_ns;
	int err;
};

static void *consumer_main(void *arg)
{
	struct consumer_arg *a = arg;
	struct shmq_msg_view v[256];
	uint64_t idle_since = shmq_now_ns();
	while (a->got < a->want) {
		int n = shmq_consumer_poll(a->cs, v, 256, 200000000ull);
		uint64_t t = shmq_now_ns();
		if (n < 0) {
			a->err = n;
			break;
		}
		if (n == 0) {
			if (t - idle_since > 10000000000ull) {
				a->err = -ETIMEDOUT; /* nothing for 10 s */
				break;
			}
			continue;
		}
		idle_since = t;
		for (int i = 0; i < n; i++) {
			uint64_t t0;
			if (v[i].body_len < sizeof(t0))
				continue;
			memcpy(&t0, v[i].body, sizeof(t0));
			if (a->lat && a->got < a->want)
				a->lat[a->got] = t > t0 ? t - t0 : 0;
			a->got++;
		}
		a->last_ns = t;
	}
	return NULL;
}

static _Atomic uint64_t async_failed;

static void sent_cb(void *arg, int status, const struct shmq_send_result *res)
{
	(void)arg;
	(void)res;
	if (status != 0) /* relaxed: a statistic read after flush */
		atomic_fetch_add_explicit(&async_failed, 1, memory_order_relaxed);
}

/* dpdk:// settings of the bench's client (NULL: kernel UDP) */
static const char *dpdk_args;
static const char *dpdk_ip;

static int open_pair(const char *url, const char *secret, const char *topic, const char *group,
		     shmq_client_t **c, shmq_producer_t **p, shmq_consumer_t **cs)
{
	/* memif and af_packet report a 1500 B MTU (platform-notes.md) */
	SHMQ_CLIENT_OPTS(co, .secret_file = secret, .frame_max = dpdk_args ? 1472 : 8972, .dpdk_args = dpdk_args,
			 .dpdk_ip = dpdk_ip);
	int rc = shmq_client_open(url, &co, c);
	if (rc < 0)
		return rc;
	SHMQ_PRODUCER_OPTS(po, .topic = topic, .delivery = SHMQ_DELIVERY_PERSISTED);
	rc = shmq_producer_open(*c, &po, p);
	if (rc < 0)
		return rc;
	SHMQ_CONSUMER_OPTS(so, .group = group, .topic = topic, .start = SHMQ_START_EARLIEST);
	return shmq_consumer_open(*c, &so, cs);
}

static void run_size(const char *url, const char *secret, const struct rcfg *cfg, uint32_t size, struct rres *r)
{
	memset(r, 0, sizeof(*r));
	r->size = size;
	uint8_t *body = calloc(1, size);
	char topic[32], group[32];
	snprintf(topic, sizeof(topic), "bench%u", size);
	snprintf(group, sizeof(group), "g%u", size);
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	shmq_consumer_t *cs = NULL;
	int rc = body ? open_pair(url, secret, topic, group, &c, &p, &cs) : -ENOMEM;
	/* latency: paced sends */
	uint64_t *lat = calloc(cfg->lat_count, sizeof(*lat));
	struct consumer_arg ca = { .cs = cs, .want = cfg->lat_count, .lat = lat };
	pthread_t th;
	if (rc == 0 && !lat)
		rc = -ENOMEM;
	if (rc == 0)
		rc = -pthread_create(&th, NULL, consumer_main, &ca);
	if (rc == 0) {
		uint64_t next = shmq_now_ns();
		for (unsigned i = 0; i < cfg->lat_count && rc == 0; i++) {
			while (shmq_now_ns() < next) {
				struct timespec ts = { 0, 20000 };
				nanosleep(&ts, NULL);
			}
			next += (uint64_t)cfg->interval_us * 1000u;
			uint64_t t0 = shmq_now_ns();
			memcpy(body, &t0, sizeof(t0));
			struct shmq_message m = { .body = body, .body_len = size };
			rc = shmq_producer_send_async(p, &m, sent_cb, NULL);
		}
		if (rc == 0)
			rc = shmq_producer_flush(p, 30000000000ull);
		pthread_join(th, NULL);
		if (rc == 0 && ca.err)
			rc = ca.err;
	}
	if (rc == 0) {
		bench_sort_u64(lat, ca.got);
		r->lat_samples = ca.got;
		r->lat_p50_us = (double)bench_quantile(lat, ca.got, 0.50) / 1000.0;
		r->lat_p99_us = (double)bench_quantile(lat, ca.got, 0.99) / 1000.0;
	}
	/* request round trip: a synchronous send returns when its PRODUCE_ACK
	 * arrives: once the broker stored the message (PERSISTED), or once it
	 * wrote it into the ring (a second producer at SHMQ_DELIVERY_RING) */
	shmq_producer_t *pr = NULL;
	if (rc == 0) {
		SHMQ_PRODUCER_OPTS(po, .topic = topic, .delivery = SHMQ_DELIVERY_RING);
		rc = shmq_producer_open(c, &po, &pr);
	}
	if (rc == 0) {
		unsigned n = cfg->lat_count;
		for (int level = 0; level < 2 && rc == 0; level++) {
			for (unsigned i = 0; i < n && rc == 0; i++) {
				uint64_t t0 = shmq_now_ns();
				memcpy(body, &t0, sizeof(t0));
				struct shmq_message m = { .body = body, .body_len = size };
				rc = shmq_producer_send(level ? pr : p, &m, NULL);
				lat[i] = shmq_now_ns() - t0;
			}
			if (rc == 0) {
				bench_sort_u64(lat, n);
				r->rtt_samples = n;
				double p50 = (double)bench_quantile(lat, n, 0.50) / 1000.0;
				double p99 = (double)bench_quantile(lat, n, 0.99) / 1000.0;
				if (level) {
					r->ring_rtt_p50_us = p50;
					r->ring_rtt_p99_us = p99;
				} else {
					r->rtt_p50_us = p50;
					r->rtt_p99_us = p99;
				}
			}
		}
		/* the consumer of the throughput run starts behind these */
		ca = (struct consumer_arg){ .cs = cs, .want = 2 * (uint64_t)n };
		if (rc == 0)
			rc = -pthread_create(&th, NULL, consumer_main, &ca);
		if (rc == 0) {
			pthread_join(th, NULL);
			rc = ca.err;
		}
	}
	/* throughput: as fast as the library takes them */
	if (rc == 0) {
		ca = (struct consumer_arg){ .cs = cs, .want = cfg->tput_count };
		rc = -pthread_create(&th, NULL, consumer_main, &ca);
	}
	if (rc == 0) {
		uint64_t t0 = shmq_now_ns();
		for (unsigned i = 0; i < cfg->tput_count && rc == 0; i++) {
			uint64_t t = shmq_now_ns();
			memcpy(body, &t, sizeof(t));
			struct shmq_message m = { .body = body, .body_len = size };
			rc = shmq_producer_send_async(p, &m, sent_cb, NULL);
		}
		if (rc == 0)
			rc = shmq_producer_flush(p, 60000000000ull);
		pthread_join(th, NULL);
		if (rc == 0 && ca.err)
			rc = ca.err;
		if (rc == 0 && ca.last_ns > t0) {
			double s = (double)(ca.last_ns - t0) / 1e9;
			r->tput_msgs = ca.got;
			r->tput_mps = (double)ca.got / s;
			r->tput_mbps = (double)ca.got * size / s / 1e6;
		}
	}
	/* relaxed: read after every flush */
	if (rc == 0 && atomic_load_explicit(&async_failed, memory_order_relaxed))
		rc = -EIO;
	r->status = rc;
	if (rc < 0)
		fprintf(stderr, "shmq-bench remote: %u B: %s (%s)\n", size, shmq_strerror(rc), shmq_client_last_error());
	shmq_consumer_close(cs);
	shmq_producer_close(pr);
	shmq_producer_close(p);
	shmq_client_close(c);
	free(lat);
	free(body);
}

static int free_udp_port(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int port = -1;
	if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && getsockname(s, (struct sockaddr *)&a, &al) == 0)
		port = ntohs(a.sin_port);
	if (s >= 0)
		close(s);
	return port;
}

/*
 * One broker, both sizes. @p vdev NULL: kernel UDP on @p url; "memif":
 * shmqd's remote port on net_memif (server) and this process its dpdk://
 * peer (client), so call it in a process that runs no EAL yet.
 */
static int run_broker(const char *vdev, const char *dir, const char *url, const char *secret,
		      const struct rcfg *cfg, struct rres res[2])
{
	memset(res, 0, 2 * sizeof(*res));
	char cfgtext[1024], eal[512];
	struct itest_broker broker;
	struct itest_broker_opts o = {
		.segment_size = "256M", .ring_capacity = "32M", .max_message_size = "64K",
		.extra = { "--net-listen", url, "--net-secret-file", secret, "--acl", "*=any:pc", NULL },
	};
	if (vdev) {
		/* two CPUs: the broker polls on lcore 1, this process on 0 */
		snprintf(cfgtext, sizeof(cfgtext),
			 "[net]\nlisten = %s\nsecret_file = %s\n"
			 "dpdk_args = -l 1 --no-huge -m 128 --no-pci --log-level=warning "
			 "--vdev=net_memif0,role=server,id=0,socket=%s/memif.sock\n",
			 url, secret, dir);
		snprintf(eal, sizeof(eal),
			 "-l 0 --no-huge -m 128 --no-pci --log-level=warning "
			 "--vdev=net_memif0,role=client,id=0,socket=%s/memif.sock", dir);
		o.config_text = cfgtext;
		o.extra[0] = "--acl";
		o.extra[1] = "*=any:pc";
		o.extra[2] = NULL;
		dpdk_args = eal;
		dpdk_ip = "10.79.1.2";
	}
	int rc = itest_broker_start(&broker, &o);
	if (rc < 0) {
		fprintf(stderr, "shmq-bench remote: broker: %s\n", shmq_strerror(rc));
		itest_broker_dump_log(&broker, 4000);
	} else {
		/* a DPDK vdev port cannot be reopened once closed (remote_mux.h):
		 * one client keeps it open across both runs; it connects first
		 * because the broker's control socket waits while its DPDK port
		 * waits for the memif link */
		shmq_client_t *keep = NULL;
		if (vdev) {
			usleep(300000); /* the memif server must listen first */
			SHMQ_CLIENT_OPTS(ko, .secret_file = secret, .frame_max = 1472, .dpdk_args = dpdk_args,
					 .dpdk_ip = dpdk_ip, .request_timeout_ns = 10000000000ull);
			rc = shmq_client_open(url, &ko, &keep);
			if (rc < 0)
				fprintf(stderr, "shmq-bench remote: %s: %s (%s)\n", url, shmq_strerror(rc),
					shmq_client_last_error());
		}
		/* one queue per topic: the consumer long-polls that queue */
		shmq_client_t *lc = NULL;
		if (rc == 0)
			rc = shmq_client_open(broker.sock, NULL, &lc);
		for (int i = 0; rc == 0 && i < 2; i++)
			rc = shmq_topic_create(lc, i ? "bench1024" : "bench64", 1, NULL);
		shmq_client_close(lc);
		if (rc < 0)
			fprintf(stderr, "shmq-bench remote: topics: %s (%s)\n", shmq_strerror(rc), shmq_client_last_error());
		for (int i = 0; rc == 0 && i < 2; i++)
			run_size(url, secret, cfg, i ? 1024 : 64, &res[i]);
		shmq_client_close(keep);
		itest_broker_stop(&broker);
	}
	itest_broker_cleanup(&broker);
	if (vdev) {
		char p[160];
		snprintf(p, sizeof(p), "%s/memif.sock", dir);
		unlink(p); /* only if memif made a filesystem socket */
	}
	return rc;
}

static void usage(void)
{
	printf("usage: shmq-bench remote [--quick] [--count N] [--interval-us N] [--no-raw]\n"
	       "  libshmq over kernel UDP on loopback (udp://127.0.0.1) against shmqd's remote port:\n"
	       "  one-way latency (p50/p99) and throughput for 64 B and 1 KiB; the same over dpdk://\n"
	       "  on net_memif; and the raw DPDK echo reference (memif, af_packet) of\n"
	       "  `shmq-bench remote-raw`, with the ratios of issue 5.\n");
}

int shmq_bench_remote(int argc, char **argv)
{
	struct rcfg cfg = { .lat_count = 5000, .interval_us = 200, .tput_count = 200000, .raw = 1 };
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			cfg.quick = 1;
			cfg.lat_count = 1000;
			cfg.tput_count = 20000;
		} else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
			cfg.tput_count = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--interval-us") && i + 1 < argc) {
			cfg.interval_us = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(argv[i], "--no-raw")) {
			cfg.raw = 0;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage();
			return 0;
		} else {
			usage();
			return 2;
		}
	}
	if (!itest_shmqd_path()) {
		fprintf(stderr, "shmq-bench remote: set SHMQD to the shmqd binary\n");
		return 2;
	}
	char dir[] = "/tmp/shmq-bench-remote-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char secret[64], url[64];
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	int fd = open(secret, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	const char *sec = "shmq-bench-remote-shared-secret";
	int port = free_udp_port();
	if (fd < 0 || write(fd, sec, strlen(sec)) != (ssize_t)strlen(sec) || port <= 0) {
		if (fd >= 0)
			close(fd);
		unlink(secret);
		rmdir(dir);
		return 1;
	}
	close(fd);

	/* the raw references first (see the top of the file) */
	struct shmq_bench_raw_result raw[2];
	memset(raw, 0, sizeof(raw));
	const char *vdevs[2] = { "memif", "af_packet" };
	for (int i = 0; i < 2; i++) {
		if (cfg.raw)
			shmq_bench_remote_raw_run(vdevs[i], cfg.quick, &raw[i]);
		else
			raw[i].status = 77;
		snprintf(raw[i].vdev, sizeof(raw[i].vdev), "%s", vdevs[i]);
	}

	snprintf(url, sizeof(url), "udp://127.0.0.1:%d", port);
	struct rres res[2];
	int rc = run_broker(NULL, dir, url, secret, &cfg, res);

	/* over memif, in a child: this process keeps no EAL */
	struct rres *dres = mmap(NULL, 2 * sizeof(*dres), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int drc = dres == MAP_FAILED ? -ENOMEM : 0;
	if (drc == 0) {
		memset(dres, 0, 2 * sizeof(*dres));
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0)
			_exit(run_broker("memif", dir, "dpdk://10.79.1.1:7600", secret, &cfg, dres) < 0 ? 1 : 0);
		int st = 0;
		if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "shmq-bench remote: the dpdk:// run failed (wait status 0x%x)\n", (unsigned)st);
			drc = -ECHILD;
		}
	}
	unlink(secret);
	rmdir(dir);

	printf("\nshmq-bench remote: libshmq over kernel UDP, loopback (udp://127.0.0.1), PERSISTED, 1 queue\n");
	printf("(1-way: send -> a consumer of the same process, PERSISTED; RTT: a synchronous send, PERSISTED;\n"
	       " ringRTT: a synchronous send at SHMQ_DELIVERY_RING, acknowledged once in the ring; all in us)\n");
	printf("%-6s %8s %10s %10s %10s %10s %10s %10s %12s %8s\n", "size", "samples", "1-way p50", "1-way p99",
	       "RTT p50", "RTT p99", "ringRTT50", "ringRTT99", "msgs/s", "MB/s");
	for (int i = 0; i < 2; i++) {
		if (res[i].status)
			printf("%-10u failed: %s\n", res[i].size ? res[i].size : (i ? 1024u : 64u),
			       shmq_strerror(res[i].status ? res[i].status : rc));
		else
			printf("%-6u %8" PRIu64 " %10.1f %10.1f %10.1f %10.1f %10.2f %10.2f %12.0f %8.1f\n", res[i].size,
			       res[i].lat_samples, res[i].lat_p50_us, res[i].lat_p99_us, res[i].rtt_p50_us,
			       res[i].rtt_p99_us, res[i].ring_rtt_p50_us, res[i].ring_rtt_p99_us, res[i].tput_mps,
			       res[i].tput_mbps);
	}
	printf("\nraw DPDK echo reference (bench_remote_raw.h), 64 B frames:\n");
	printf("%-10s %12s %12s %14s\n", "vdev", "RTT p50 us", "RTT p99 us", "rx pps");
	for (int i = 0; i < 2; i++) {
		if (raw[i].status)
			printf("%-10s not measured (%s)\n", raw[i].vdev,
			       raw[i].status == 77 ? "unavailable or --no-raw" : shmq_strerror(raw[i].status));
		else
			printf("%-10s %12.2f %12.2f %14.0f\n", raw[i].vdev, raw[i].rtt_p50_ns / 1000.0,
			       raw[i].rtt_p99_ns / 1000.0, raw[i].rx_pps);
	}
	printf("\nshmq-bench remote: libshmq over dpdk:// on net_memif (client/remote_mux.h), PERSISTED, 1 queue\n");
	printf("(1-way: send -> a consumer of the same process, PERSISTED; RTT: a synchronous send, PERSISTED;\n"
	       " ringRTT: a synchronous send at SHMQ_DELIVERY_RING, acknowledged once in the ring; all in us)\n");
	printf("%-6s %8s %10s %10s %10s %10s %10s %10s %12s %8s\n", "size", "samples", "1-way p50", "1-way p99",
	       "RTT p50", "RTT p99", "ringRTT50", "ringRTT99", "msgs/s", "MB/s");
	for (int i = 0; i < 2; i++) {
		if (drc < 0 || dres[i].status)
			printf("%-10u failed: %s\n", i ? 1024u : 64u, shmq_strerror(drc < 0 ? drc : dres[i].status));
		else
			printf("%-6u %8" PRIu64 " %10.1f %10.1f %10.1f %10.1f %10.2f %10.2f %12.0f %8.1f\n", dres[i].size,
			       dres[i].lat_samples, dres[i].lat_p50_us, dres[i].lat_p99_us, dres[i].rtt_p50_us,
			       dres[i].rtt_p99_us, dres[i].ring_rtt_p50_us, dres[i].ring_rtt_p99_us, dres[i].tput_mps,
			       dres[i].tput_mbps);
	}
	double rtt_ratio = 0, pps_ratio = 0, req_ratio = 0, ring_ratio = 0;
	if (drc == 0 && !dres[0].status && !raw[0].status && raw[0].rtt_p50_ns > 0 && raw[0].rx_pps > 0) {
		rtt_ratio = dres[0].lat_p50_us * 1000.0 / raw[0].rtt_p50_ns;
		req_ratio = dres[0].rtt_p50_us * 1000.0 / raw[0].rtt_p50_ns;
		ring_ratio = dres[0].ring_rtt_p50_us * 1000.0 / raw[0].rtt_p50_ns;
		pps_ratio = dres[0].tput_mps / raw[0].rx_pps;
		printf("memif, 64 B, p50 over the raw RTT p50 (target <= 1.5): one-way %.2f, PRODUCE RTT %.2f, "
		       "RING-level PRODUCE RTT %.2f\n", rtt_ratio, req_ratio, ring_ratio);
		printf("memif, 64 B msgs/s over the raw pps: %.3f (target >= 0.5)\n", pps_ratio);
	} else {
		printf("memif: ratios not computed (a run failed or the raw reference is missing)\n");
	}
	printf("(af_packet over dpdk:// is not run here: one DPDK port per process, and it needs a veth pair)\n");

	printf("{\"bench\":\"remote\",\"transport\":\"udp-loopback\",\"results\":[");
	for (int i = 0; i < 2; i++)
		printf("%s{\"size\":%u,\"status\":%d,\"lat_samples\":%" PRIu64 ",\"lat_p50_us\":%.2f,"
		       "\"lat_p99_us\":%.2f,\"rtt_p50_us\":%.2f,\"rtt_p99_us\":%.2f,\"ring_rtt_p50_us\":%.2f,"
		       "\"ring_rtt_p99_us\":%.2f,\"msgs_per_s\":%.0f,"
		       "\"mb_per_s\":%.2f}",
		       i ? "," : "", res[i].size, res[i].status, res[i].lat_samples, res[i].lat_p50_us,
		       res[i].lat_p99_us, res[i].rtt_p50_us, res[i].rtt_p99_us, res[i].ring_rtt_p50_us,
		       res[i].ring_rtt_p99_us, res[i].tput_mps, res[i].tput_mbps);
	printf("],\"raw\":[");
	for (int i = 0; i < 2; i++) {
		char buf[1024];
		if (shmq_bench_remote_raw_json(&raw[i], buf, sizeof(buf)) < 0)
			snprintf(buf, sizeof(buf), "{\"vdev\":\"%s\",\"status\":%d}", raw[i].vdev, raw[i].status);
		printf("%s%s", i ? "," : "", buf);
	}
	printf("],\"memif\":[");
	for (int i = 0; i < 2; i++)
		printf("%s{\"size\":%u,\"status\":%d,\"lat_samples\":%" PRIu64 ",\"lat_p50_us\":%.2f,"
		       "\"lat_p99_us\":%.2f,\"rtt_p50_us\":%.2f,\"rtt_p99_us\":%.2f,\"ring_rtt_p50_us\":%.2f,"
		       "\"ring_rtt_p99_us\":%.2f,\"msgs_per_s\":%.0f,"
		       "\"mb_per_s\":%.2f}",
		       i ? "," : "", i ? 1024u : 64u, drc < 0 ? drc : dres[i].status, drc < 0 ? 0 : dres[i].lat_samples,
		       drc < 0 ? 0 : dres[i].lat_p50_us, drc < 0 ? 0 : dres[i].lat_p99_us,
		       drc < 0 ? 0 : dres[i].rtt_p50_us, drc < 0 ? 0 : dres[i].rtt_p99_us,
		       drc < 0 ? 0 : dres[i].ring_rtt_p50_us, drc < 0 ? 0 : dres[i].ring_rtt_p99_us,
		       drc < 0 ? 0 : dres[i].tput_mps,
		       drc < 0 ? 0 : dres[i].tput_mbps);
	printf("],\"memif_rtt_ratio\":%.3f,\"memif_produce_rtt_ratio\":%.3f,\"memif_ring_rtt_ratio\":%.3f,"
	       "\"memif_pps_ratio\":%.3f}\n", rtt_ratio, req_ratio, ring_ratio, pps_ratio);
	if (dres != MAP_FAILED)
		munmap(dres, 2 * sizeof(*dres));
	return rc < 0 || res[0].status || res[1].status ? 1 : 0;
}
