/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmqd's remote port over the DPDK backend: the broker runs in network
 * namespace A with `[net] listen = dpdk://10.78.N.1:7600` on net_af_packet
 * over one end of a veth pair; the test client runs in namespace B on the
 * other end with the kernel UDP backend (so the broker must answer the
 * kernel's ARP). HELLO, PRODUCE, PULL and COMMIT round trip. Needs root and
 * iproute2 (else exit 77); exit 77 too if the af_packet driver is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/ctl_codec.h"
#include "dpdk_net/endpoint.h"
#include "dpdk_net/frame_codec.h"
#include "dpdk_net/udp_backend.h"
#include "tests/integration/itest.h"
#include "tests/net/netns.h"

#define SECRET "remote-dpdk-secret-0123456789"

static char dir[64];
static struct net_ns_pair nsp;
static unsigned net_id;
static struct itest_broker broker;

static bool log_has(const char *what)
{
	void *log;
	size_t len;
	if (itest_read_file(broker.log, &log, &len) != 0)
		return false;
	char *s = realloc(log, len + 1);
	if (!s) {
		free(log);
		return false;
	}
	s[len] = '\0';
	bool has = strstr(s, what) != NULL;
	free(s);
	return has;
}

static void test_dpdk_remote_port_serves_produce_pull_commit_to_a_kernel_peer(void **state)
{
	(void)state;
	char secret[128], cfg[1024], url[64];
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	FILE *f = fopen(secret, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", SECRET);
	fclose(f);
	assert_int_equal(chmod(secret, 0600), 0);
	snprintf(url, sizeof(url), "udp://10.78.%u.1:7600", net_id);
	snprintf(cfg, sizeof(cfg),
		 "[topics]\nauto_create = true\ndefault_queues = 2\n"
		 "[net]\nlisten = dpdk://10.78.%u.1:7600\nsecret_file = %s\n"
		 "dpdk_args = -l 0 --no-huge -m 128 --no-pci --log-level=warning --vdev=net_af_packet0,iface=%s\n"
		 "[acl]\nrd.* = uid:65534:pc\n",
		 net_id, secret, nsp.veth[0]);
	/* the broker (a child) starts in namespace A; the test goes to B */
	assert_int_equal(net_ns_enter(nsp.ns[0]), 0);
	struct itest_broker_opts o = { .config_text = cfg };
	int rc = itest_broker_start(&broker, &o);
	assert_int_equal(net_ns_enter(nsp.ns[1]), 0);
	if (rc < 0 || !broker.pid) {
		if (log_has("No such device") || log_has("-ENODEV")) {
			fprintf(stderr, "SKIP: no af_packet DPDK port\n");
			skip();
		}
		itest_broker_dump_log(&broker, 4000);
		fail_msg("broker start: %d", rc);
	}
	/* the control socket answers before the remote port is up (EAL, link):
	 * HELLO retries cover that */
	struct shmq_net_backend *be;
	char bind_url[64];
	snprintf(bind_url, sizeof(bind_url), "udp://10.78.%u.2:0", net_id);
	assert_int_equal(shmq_net_udp_open(bind_url, NULL, &be), 0);
	struct shmq_net_auth *auth;
	assert_int_equal(shmq_net_auth_create(SECRET, strlen(SECRET), NULL, &auth), 0);
	struct shmq_net_addr server;
	assert_int_equal(shmq_net_udp_parse(url, &server), 0);
	SHMQ_NET_CLIENT_OPTS(co, .principal = "nobody",
			     .retry = { .sz = sizeof(struct shmq_net_retry_opts), .deadline_ns = 20000000000ull });
	struct shmq_net_client *c;
	rc = shmq_net_client_connect(be, &server, auth, &co, &c);
	if (rc != 0)
		itest_broker_dump_log(&broker, 4000);
	assert_int_equal(rc, 0);

	/* PRODUCE 3 batches of 20 messages (some larger than a frame) */
	static uint8_t buf[1 << 20];
	uint8_t body[4000];
	const uint64_t pid = 0xd9d;
	for (uint64_t b = 0; b < 3; b++) {
		struct shmq_net_produce_hdr h;
		memset(&h, 0, sizeof(h));
		assert_int_equal(shmq_ctl_name_set(h.topic, "rd.t", false), 0);
		h.queue = 1;
		h.count = 20;
		h.producer_id = pid;
		h.first_seq = b * 20;
		struct shmq_net_builder bl;
		shmq_net_builder_init(&bl, buf, sizeof(buf));
		shmq_net_builder_put(&bl, &h, sizeof(h));
		for (uint32_t i = 0; i < 20; i++) {
			uint32_t len = i == 7 ? sizeof(body) : 100;
			itest_body_fill(body, len, 1, 0, b * 20 + i);
			struct shmq_ringmsg_in m = { .producer_id = pid, .producer_seq = b * 20 + i, .body = body,
						     .body_len = len };
			shmq_net_builder_msg(&bl, 0, &m);
		}
		int64_t blen = shmq_net_builder_finish(&bl);
		assert_true(blen > 0);
		uint16_t type;
		const uint8_t *resp;
		uint32_t rlen;
		assert_int_equal(shmq_net_client_call(c, SHMQ_NET_PRODUCE, buf, (uint32_t)blen, &type, &resp, &rlen), 0);
		assert_int_equal(type, SHMQ_NET_PRODUCE_ACK);
		struct shmq_net_produce_ack_hdr ack;
		memcpy(&ack, resp, sizeof(ack));
		assert_int_equal(ack.status, 0);
		assert_int_equal(ack.count, 20);
	}
	/* PULL them back, in order, every byte checked */
	uint64_t off = 0, got = 0;
	while (got < 60) {
		struct shmq_net_pull p;
		memset(&p, 0, sizeof(p));
		assert_int_equal(shmq_ctl_name_set(p.group, "gd", false), 0);
		assert_int_equal(shmq_ctl_name_set(p.topic, "rd.t", false), 0);
		p.queue = 1;
		p.max_bytes = 64 << 10;
		p.offset = off;
		p.max_msgs = 25;
		p.timeout_ms = 1000;
		uint16_t type;
		const uint8_t *resp;
		uint32_t rlen;
		assert_int_equal(shmq_net_client_call(c, SHMQ_NET_PULL, &p, sizeof(p), &type, &resp, &rlen), 0);
		assert_int_equal(type, SHMQ_NET_PULL_RESP);
		struct shmq_net_pull_resp_hdr h;
		struct shmq_net_entry_iter it;
		assert_int_equal(shmq_net_entries_begin(resp, rlen, &h, sizeof(h), &it), 0);
		assert_int_equal(h.status, 0);
		assert_true(h.count > 0);
		uint64_t qo;
		struct shmq_ringmsg_view v;
		while (shmq_net_entry_next(&it, &qo, &v) == 1) {
			struct itest_body_hdr bh;
			assert_int_equal(itest_body_check(v.body, v.body_len, &bh), 0);
			assert_int_equal(bh.seq, got);
			assert_int_equal(qo, got);
			got++;
		}
		off = h.next_offset;
	}
	/* COMMIT needs a group entry: JOIN first */
	struct shmq_net_group g;
	memset(&g, 0, sizeof(g));
	assert_int_equal(shmq_ctl_name_set(g.group, "gd", false), 0);
	assert_int_equal(shmq_ctl_name_set(g.topic, "rd.t", false), 0);
	g.mode = SHMQ_CTL_GROUP_CLUSTERING;
	g.lease_ms = 5000;
	uint16_t type;
	const uint8_t *resp;
	uint32_t rlen;
	assert_int_equal(shmq_net_client_call(c, SHMQ_NET_JOIN, &g, sizeof(g), &type, &resp, &rlen), 0);
	assert_int_equal(type, SHMQ_NET_JOIN_ACK);
	struct shmq_net_commit cm;
	memset(&cm, 0, sizeof(cm));
	memcpy(cm.group, g.group, sizeof(cm.group));
	memcpy(cm.topic, g.topic, sizeof(cm.topic));
	cm.queue = 1;
	cm.offset = 60;
	assert_int_equal(shmq_net_client_call(c, SHMQ_NET_COMMIT, &cm, sizeof(cm), &type, &resp, &rlen), 0);
	assert_int_equal(type, SHMQ_NET_COMMIT_ACK);
	struct shmq_net_status st;
	memcpy(&st, resp, sizeof(st));
	assert_int_equal(st.status, 0);

	shmq_net_client_close(c);
	shmq_net_auth_destroy(auth);
	shmq_net_backend_destroy(be);
	assert_int_equal(itest_broker_stop(&broker), 0);
	assert_true(log_has("(dpdk backend"));
}

static int setup(void **state)
{
	(void)state;
	net_id = (unsigned)getpid() % 250u + 1u;
	snprintf(dir, sizeof(dir), "/tmp/shmq-rdpdk-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	char cidr_b[32];
	snprintf(cidr_b, sizeof(cidr_b), "10.78.%u.2/24", net_id);
	return net_ns_pair_create(&nsp, "shqr", (unsigned)getpid(), NULL, cidr_b);
}

static int teardown(void **state)
{
	(void)state;
	itest_teardown(&broker);
	net_ns_pair_destroy(&nsp);
	char p[128];
	snprintf(p, sizeof(p), "%s/secret", dir);
	unlink(p);
	rmdir(dir);
	return 0;
}

int main(void)
{
	if (!itest_shmqd_path()) {
		fprintf(stderr, "skip: env SHMQD does not name the shmqd binary\n");
		return 77;
	}
	if (geteuid() != 0 || system("ip -V >/dev/null 2>&1") != 0) {
		fprintf(stderr, "skip: needs root and iproute2 (network namespaces)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dpdk_remote_port_serves_produce_pull_commit_to_a_kernel_peer),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
