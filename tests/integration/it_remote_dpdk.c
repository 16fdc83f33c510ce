/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libshmq over dpdk:// (client/remote_mux.h): a real shmqd whose remote port
 * is `[net] listen = dpdk://10.79.0.1:7600` on net_memif (role=server, unix
 * socket in a mkdtemp directory), and this process as a DPDK peer on the
 * other end of the memif (role=client, 10.79.0.2). Two producers and a
 * consumer of one client share the process's one DPDK port, each on its own
 * virtual UDP port. Exit 77 only when the memif driver is missing.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/remote_mux.h"
#include "itest.h"
#include "shmq/error.h"
#include "shmq/shmq.h"

#define KEYS 4u
#define NPROD 2u
#define SECRET "it-remote-dpdk-shared-secret-0123"

static struct itest_broker broker;
static char dir[64];
static char secret_path[128];
static uint64_t per_producer;

struct prod_arg {
	shmq_producer_t *p;
	uint32_t id;
	int err;
};

/* Messages go out with keys round-robin; every 50th is larger than a frame. */
static void *producer_main(void *arg)
{
	struct prod_arg *a = arg;
	static _Thread_local uint8_t body[5000];
	for (uint64_t s = 0; s < per_producer && !a->err; s++) {
		uint32_t key = (uint32_t)(s % KEYS);
		uint32_t len = s % 50 == 7 ? (uint32_t)sizeof(body) : 64u;
		char kname[16];
		snprintf(kname, sizeof(kname), "k%u", key);
		itest_body_fill(body, len, a->id, key, s);
		struct shmq_message m = { .body = body, .body_len = len, .keys = kname };
		struct shmq_send_result r;
		int rc = shmq_producer_send(a->p, &m, &r);
		if (rc < 0) {
			fprintf(stderr, "producer %u seq %" PRIu64 ": %s (%s)\n", a->id, s, shmq_strerror(rc),
				shmq_client_last_error());
			a->err = rc;
		}
	}
	return NULL;
}

static void test_dpdk_clients_share_one_port_and_round_trip_keeps_order_per_key(void **state)
{
	(void)state;
	char eal[512];
	snprintf(eal, sizeof(eal),
		 "-l 0 --no-huge -m 128 --no-pci --log-level=warning --vdev=net_memif0,role=client,id=0,socket=%s/memif.sock",
		 dir);
	SHMQ_CLIENT_OPTS(o, .secret_file = secret_path, .request_timeout_ns = 10000000000ull,
			 .reconnect_timeout_ns = 20000000000ull, .dpdk_args = eal, .dpdk_ip = "10.79.0.2");
	shmq_client_t *c = NULL;
	int rc = shmq_client_open("dpdk://10.79.0.1:7600", &o, &c);
	if (rc == -ENODEV) {
		fprintf(stderr, "SKIP: no net_memif DPDK port in this process (%s)\n", shmq_client_last_error());
		skip();
	}
	if (rc < 0) {
		itest_broker_dump_log(&broker, 4000);
		fail_msg("dpdk open: %s (%s)", shmq_strerror(rc), shmq_client_last_error());
	}
	/* the process has one port: a second client must name the same address */
	shmq_client_t *c2 = NULL;
	o.dpdk_ip = "10.79.0.3";
	assert_int_equal(shmq_client_open("dpdk://10.79.0.1:7600", &o, &c2), -EINVAL);
	assert_null(c2);
	SHMQ_CONSUMER_OPTS(co, .group = "g-dp", .topic = "dp", .start = SHMQ_START_EARLIEST);
	shmq_consumer_t *cs = NULL;
	assert_int_equal(shmq_consumer_open(c, &co, &cs), 0);
	struct prod_arg pa[NPROD];
	pthread_t th[NPROD];
	for (uint32_t i = 0; i < NPROD; i++) {
		SHMQ_PRODUCER_OPTS(po, .topic = "dp", .select = SHMQ_SELECT_HASH);
		pa[i] = (struct prod_arg){ .id = i };
		assert_int_equal(shmq_producer_open(c, &po, &pa[i].p), 0);
	}
	/* one virtual port per session, all on the one DPDK port: the
	 * producers', the consumer's and the client's admin session (the
	 * consumer asked STATUS for the broker id at open) */
	struct shmq_rmux_stats ms;
	shmq_rmux_stats(&ms);
	assert_int_equal(ms.ports, NPROD + 2);
	for (uint32_t i = 0; i < NPROD; i++)
		assert_int_equal(pthread_create(&th[i], NULL, producer_main, &pa[i]), 0);

	uint64_t next[NPROD][KEYS]; /* the next seq expected per (producer, key) */
	for (uint32_t i = 0; i < NPROD; i++)
		for (uint32_t k = 0; k < KEYS; k++)
			next[i][k] = k;
	uint64_t received = 0, order = 0, bad = 0, want = NPROD * per_producer;
	uint64_t end = itest_now_ns() + 45000000000ull;
	while (received < want && itest_now_ns() < end) {
		struct shmq_msg_view v[32];
		int n = shmq_consumer_poll(cs, v, 32, 200000000ull);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			struct itest_body_hdr h;
			if (itest_body_check(v[i].body, v[i].body_len, &h) < 0 || h.producer >= NPROD || h.key >= KEYS) {
				bad++;
				continue;
			}
			/* keys go round-robin: per (producer, key) seqs step by KEYS */
			if (h.seq != next[h.producer][h.key])
				order++;
			next[h.producer][h.key] = h.seq + KEYS;
			received++;
		}
	}
	for (uint32_t i = 0; i < NPROD; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(pa[i].err, 0);
	}
	shmq_rmux_stats(&ms);
	fprintf(stderr, "received %" PRIu64 "/%" PRIu64 " out of order %" PRIu64 " bad %" PRIu64
		" (mux: polls %" PRIu64 " dispatched %" PRIu64 " no_port %" PRIu64 " queue_full %" PRIu64 ")\n",
		received, want, order, bad, ms.polls, ms.dispatched, ms.no_port, ms.queue_full);
	assert_int_equal(bad, 0);
	assert_int_equal(order, 0);
	assert_int_equal(received, want);
	assert_true(ms.dispatched > 0);
	for (uint32_t i = 0; i < NPROD; i++)
		shmq_producer_close(pa[i].p);
	shmq_consumer_close(cs);
	shmq_rmux_stats(&ms);
	assert_int_equal(ms.ports, 1); /* the client's admin session */
	shmq_client_close(c);
	shmq_rmux_stats(&ms);
	assert_int_equal(ms.ports, 0);
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/shmq-itrd-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(secret_path, sizeof(secret_path), "%s/secret", dir);
	FILE *f = fopen(secret_path, "w");
	if (!f)
		return -1;
	fputs(SECRET, f);
	fclose(f);
	if (chmod(secret_path, 0600) < 0)
		return -1;
	per_producer = 400u * itest_scale();
	char cfg[1024];
	snprintf(cfg, sizeof(cfg),
		 "[topics]\nauto_create = true\ndefault_queues = 2\n"
		 "[net]\nlisten = dpdk://10.79.0.1:7600\nsecret_file = %s\n"
		 "dpdk_args = -l 1 --no-huge -m 128 --no-pci --log-level=warning "
		 "--vdev=net_memif0,role=server,id=0,socket=%s/memif.sock\n",
		 secret_path, dir);
	/* a remote principal naming root gets only `any:` rights (broker/remote.h) */
	struct itest_broker_opts o = { .config_text = cfg, .extra = { "--acl", "*=any:pc", NULL } };
	int rc = itest_broker_start(&broker, &o);
	if (rc < 0) {
		fprintf(stderr, "broker start: %s\n", shmq_strerror(rc));
		itest_broker_dump_log(&broker, 4000);
		return -1;
	}
	usleep(300000); /* the memif server must listen before the client connects */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	itest_teardown(&broker);
	char p[160];
	snprintf(p, sizeof(p), "%s/memif.sock", dir);
	unlink(p); /* only if memif made a filesystem socket */
	unlink(secret_path);
	rmdir(dir);
	return 0;
}

int main(void)
{
	if (!itest_shmqd_path()) {
		fprintf(stderr, "skip: env SHMQD does not name the shmqd binary\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dpdk_clients_share_one_port_and_round_trip_keeps_order_per_key),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
