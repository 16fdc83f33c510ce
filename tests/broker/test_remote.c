/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmqd's remote port (broker/remote.h) end to end: a real shmqd with
 * `[net] listen = udp://127.0.0.1:PORT`, and test clients speaking the
 * protocol with shmq_net_client_call() (dpdk_net/endpoint.h) directly, and
 * libshmq's remote clients (ADMIN: topics, status, progress, START_LATEST
 * and START_TIMESTAMP consumers, custom selectors, message ids and reads).
 * One broker serves every test; the last one stops it and reads the
 * counters it logs. Seed printed (SHMQ_TEST_SEED replays it).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/ctl_codec.h"
#include "shmq/admin.h"
#include "shmq/msgid.h"
#include "shmq/shmq.h"
#include "dpdk_net/endpoint.h"
#include "dpdk_net/frame_codec.h"
#include "dpdk_net/udp_backend.h"
#include "tests/integration/itest.h"
#include "tests/net/net_test_util.h"

#define SECRET "remote-port-secret-0123456789"
#define PRINCIPAL "nobody" /* uid 65534: the ACL below grants it rt.* */
#define TOPIC "rt.orders"
#define QUEUES 4u
#define OFFSET_UNKNOWN UINT64_MAX
#define BROKER_ID 7u /* [broker] id: message ids name it */

static struct itest_broker broker;
static char secret_dir[64];
static char url[64];
static uint16_t port;
static uint8_t *bodybuf;

struct conn {
	struct shmq_net_backend *be;
	struct shmq_net_auth *auth;
	struct shmq_net_client *c;
};

/* ------------------------------------------------------------------ */
/* helpers                                                              */

static uint16_t free_udp_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &l) != 0)
		return 0;
	close(fd);
	return ntohs(a.sin_port);
}

static int conn_open(struct conn *k, const char *principal, const char *secret, uint64_t deadline_ns)
{
	memset(k, 0, sizeof(*k));
	int rc = shmq_net_udp_open("udp://127.0.0.1:0", NULL, &k->be);
	if (rc < 0)
		return rc;
	rc = shmq_net_auth_create(secret, strlen(secret), NULL, &k->auth);
	if (rc < 0)
		return rc;
	struct shmq_net_addr server;
	rc = shmq_net_udp_parse(url, &server);
	if (rc < 0)
		return rc;
	SHMQ_NET_CLIENT_OPTS(o, .principal = principal,
			     .retry = { .sz = sizeof(struct shmq_net_retry_opts), .deadline_ns = deadline_ns });
	return shmq_net_client_connect(k->be, &server, k->auth, &o, &k->c);
}

static void conn_close(struct conn *k)
{
	shmq_net_client_close(k->c);
	shmq_net_auth_destroy(k->auth);
	shmq_net_backend_destroy(k->be);
	memset(k, 0, sizeof(*k));
}

/* Status of an ERROR answer, or 0 for any other type. */
static int error_status(uint16_t type, const uint8_t *resp, uint32_t len)
{
	struct shmq_net_error e;
	if (type != SHMQ_NET_ERROR || len != sizeof(e))
		return 0;
	memcpy(&e, resp, sizeof(e));
	return e.status;
}

/* PRODUCE count messages of key `key` (bodies by itest_body_fill, seq =
 * key_seq0 + i) as producer `pid` sequences first_seq... Returns 0 with the
 * ack (res: count entries), or the ERROR's status, or a call error. */
static uint8_t produce_delivery; /* SHMQ_NET_DELIVERY_* of the next PRODUCEs */

static int64_t build_produce(uint8_t *out, const char *topic, uint32_t queue, uint64_t hint, uint64_t pid,
			     uint64_t first_seq, uint32_t count, uint32_t key, uint64_t key_seq0, uint32_t len)
{
	struct shmq_net_produce_hdr h;
	memset(&h, 0, sizeof(h));
	if (shmq_ctl_name_set(h.topic, topic, false) < 0)
		return -EINVAL;
	h.queue = queue;
	h.count = count;
	h.selector_hint = queue == SHMQ_NET_QUEUE_ANY ? hint : 0;
	h.producer_id = pid;
	h.first_seq = first_seq;
	h.delivery = produce_delivery;
	struct shmq_net_builder b;
	shmq_net_builder_init(&b, out, SHMQ_NET_MSG_MAX);
	shmq_net_builder_put(&b, &h, sizeof(h));
	uint8_t *body = malloc(len);
	if (!body)
		return -ENOMEM;
	char keys[32];
	snprintf(keys, sizeof(keys), "key%u", key);
	struct shmq_ringmsg_prop prop = { "origin", "remote-test" };
	for (uint32_t i = 0; i < count; i++) {
		itest_body_fill(body, len, (uint32_t)pid, key, key_seq0 + i);
		struct shmq_ringmsg_in m = { .producer_id = pid, .producer_seq = first_seq + i, .body = body,
					     .body_len = len, .keys = keys, .tags = "tagA", .props = &prop,
					     .nprops = 1, .born_ts_ms = 1 };
		shmq_net_builder_msg(&b, 0, &m);
	}
	free(body);
	return shmq_net_builder_finish(&b);
}

static int produce(struct conn *k, const char *topic, uint32_t queue, uint64_t hint, uint64_t pid,
		   uint64_t first_seq, uint32_t count, uint32_t key, uint64_t key_seq0, uint32_t len,
		   struct shmq_net_produce_ack_hdr *ack, struct shmq_net_produce_result *res)
{
	int64_t blen = build_produce(bodybuf, topic, queue, hint, pid, first_seq, count, key, key_seq0, len);
	if (blen < 0)
		return (int)blen;
	uint16_t type;
	const uint8_t *resp;
	uint32_t rlen;
	int rc = shmq_net_client_call(k->c, SHMQ_NET_PRODUCE, bodybuf, (uint32_t)blen, &type, &resp, &rlen);
	if (rc < 0)
		return rc;
	if (type == SHMQ_NET_ERROR)
		return error_status(type, resp, rlen);
	if (type != SHMQ_NET_PRODUCE_ACK || rlen < sizeof(*ack))
		return -EPROTO;
	memcpy(ack, resp, sizeof(*ack));
	if (rlen != sizeof(*ack) + (size_t)ack->count * sizeof(*res))
		return -EPROTO;
	if (res)
		memcpy(res, resp + sizeof(*ack), (size_t)ack->count * sizeof(*res));
	return 0;
}

struct pulled {
	struct shmq_net_pull_resp_hdr h;
	uint32_t n;
	uint64_t qo[SHMQ_NET_BATCH_MAX];
	uint64_t so[SHMQ_NET_BATCH_MAX];
	struct itest_body_hdr body[SHMQ_NET_BATCH_MAX];
	uint32_t body_len[SHMQ_NET_BATCH_MAX];
	char keys[SHMQ_NET_BATCH_MAX][16];
	bool prop_ok[SHMQ_NET_BATCH_MAX];
};

static int pull(struct conn *k, const char *group, const char *topic, uint32_t queue, uint64_t offset,
		uint32_t max_msgs, uint32_t timeout_ms, struct pulled *out)
{
	struct shmq_net_pull p;
	memset(&p, 0, sizeof(p));
	if (shmq_ctl_name_set(p.group, group, false) < 0 || shmq_ctl_name_set(p.topic, topic, false) < 0)
		return -EINVAL;
	p.queue = queue;
	p.max_bytes = SHMQ_NET_MSG_MAX;
	p.offset = offset;
	p.max_msgs = max_msgs;
	p.timeout_ms = timeout_ms;
	uint16_t type;
	const uint8_t *resp;
	uint32_t rlen;
	int rc = shmq_net_client_call(k->c, SHMQ_NET_PULL, &p, sizeof(p), &type, &resp, &rlen);
	if (rc < 0)
		return rc;
	if (type == SHMQ_NET_ERROR)
		return error_status(type, resp, rlen);
	if (type != SHMQ_NET_PULL_RESP)
		return -EPROTO;
	struct shmq_net_entry_iter it;
	if (shmq_net_entries_begin(resp, rlen, &out->h, sizeof(out->h), &it) < 0)
		return -EPROTO;
	out->n = 0;
	uint64_t qo;
	struct shmq_ringmsg_view v;
	while ((rc = shmq_net_entry_next(&it, &qo, &v)) == 1) {
		uint32_t i = out->n++;
		out->qo[i] = qo;
		out->so[i] = v.store_offset;
		out->body_len[i] = v.body_len;
		if (itest_body_check(v.body, v.body_len, &out->body[i]) != 0)
			return -EBADMSG;
		snprintf(out->keys[i], sizeof(out->keys[i]), "%s", v.keys ? v.keys : "");
		const char *pk, *pv;
		out->prop_ok[i] = v.nprops == 1 && (shmq_ringmsg_prop_next(v.props, &pk, &pv), 1) &&
				  strcmp(pk, "origin") == 0 && strcmp(pv, "remote-test") == 0 &&
				  v.tags && strcmp(v.tags, "tagA") == 0;
	}
	return rc < 0 ? rc : 0;
}

static int simple_call(struct conn *k, uint16_t type, const void *body, uint32_t len, uint16_t *rtype,
		       const uint8_t **resp, uint32_t *rlen)
{
	return shmq_net_client_call(k->c, type, body, len, rtype, resp, rlen);
}

static void group_req(struct shmq_net_group *g, const char *group, const char *topic, uint64_t member)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(shmq_ctl_name_set(g->group, group, false), 0);
	assert_int_equal(shmq_ctl_name_set(g->topic, topic, false), 0);
	g->mode = member ? 0 : SHMQ_CTL_GROUP_CLUSTERING;
	g->lease_ms = 5000;
	g->member_id = member;
}

/* ------------------------------------------------------------------ */
/* set-up                                                               */

static int setup(void **state)
{
	(void)state;
	net_rng_seed("test_remote");
	bodybuf = malloc(SHMQ_NET_MSG_MAX);
	port = free_udp_port();
	if (!bodybuf || !port)
		return -1;
	snprintf(secret_dir, sizeof(secret_dir), "/tmp/shmq-remote-XXXXXX");
	if (!mkdtemp(secret_dir))
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/secret", secret_dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fprintf(f, "%s\n", SECRET);
	fclose(f);
	chmod(path, 0600);
	snprintf(url, sizeof(url), "udp://127.0.0.1:%u", port);
	static char cfgtext[1024];
	snprintf(cfgtext, sizeof(cfgtext),
		 "[broker]\nid = %u\n"
		 "[topics]\nauto_create = true\ndefault_queues = %u\n"
		 "[net]\nlisten = %s\nsecret_file = %s\n"
		 "[acl]\nrt.* = uid:65534:pc\nlocked.* = uid:4242:pc\nadm.* = uid:65534:pca\nshared.* = any:pc\n",
		 BROKER_ID, QUEUES, url, path);
	struct itest_broker_opts o = {
		.config_text = cfgtext, .max_message_size = "2M", .ring_capacity = "16M",
		.segment_size = "64M",
	};
	int rc = itest_broker_start(&broker, &o);
	if (rc < 0) {
		fprintf(stderr, "broker start: %s\n", strerror(-rc));
		itest_broker_dump_log(&broker, 4000);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	itest_teardown(&broker);
	char path[128];
	snprintf(path, sizeof(path), "%s/secret", secret_dir);
	unlink(path);
	rmdir(secret_dir);
	free(bodybuf);
	return 0;
}

/* ------------------------------------------------------------------ */
/* tests                                                                */

static void test_hello_with_the_secret_opens_a_session_and_a_forged_one_is_not_answered(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 5000000000ull), 0);
	assert_int_not_equal(shmq_net_client_session(k.c), 0);
	conn_close(&k);
	struct conn bad;
	assert_int_equal(conn_open(&bad, PRINCIPAL, "another-secret-of-enough-length", 400000000ull), -ETIMEDOUT);
	conn_close(&bad);
}

static void test_produce_then_pull_keeps_every_key_in_order(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	const uint32_t keys = 8;
	unsigned rounds = 60 * itest_scale();
	uint64_t key_seq[8] = { 0 };
	uint64_t seq = 0; /* per (producer, topic), whatever the queue */
	const uint64_t pid = 0x1000 + (net_rng() & 0xffff);
	for (unsigned r = 0; r < rounds; r++) {
		uint32_t key = (uint32_t)(net_rng() % keys);
		uint32_t q = key % QUEUES;
		uint32_t count = 1 + (uint32_t)(net_rng() % 4);
		struct shmq_net_produce_ack_hdr ack;
		struct shmq_net_produce_result res[4];
		assert_int_equal(produce(&k, TOPIC, q, 0, pid, seq, count, key, key_seq[key], 100, &ack, res), 0);
		assert_int_equal(ack.status, 0);
		assert_int_equal(ack.count, count);
		assert_int_equal(ack.queue, q);
		assert_int_equal(ack.next_seq, seq + count);
		for (uint32_t i = 0; i < count; i++) {
			assert_true(res[i].queue_offset != OFFSET_UNKNOWN);
			if (i)
				assert_int_equal(res[i].queue_offset, res[i - 1].queue_offset + 1);
		}
		seq += count;
		key_seq[key] += count;
	}
	/* every queue, from the start: each key's messages in order, none missing */
	static struct pulled pl;
	uint64_t seen[8] = { 0 };
	for (uint32_t q = 0; q < QUEUES; q++) {
		uint64_t off = 0;
		for (;;) {
			assert_int_equal(pull(&k, "g-order", TOPIC, q, off, 7, 0, &pl), 0);
			assert_int_equal(pl.h.status, 0);
			if (pl.n == 0)
				break;
			for (uint32_t i = 0; i < pl.n; i++) {
				uint32_t key = pl.body[i].key;
				assert_true(key < keys);
				assert_int_equal(key % QUEUES, q);
				assert_int_equal(pl.body[i].seq, seen[key]);
				seen[key]++;
				char want[16];
				snprintf(want, sizeof(want), "key%u", key);
				assert_string_equal(pl.keys[i], want);
				assert_true(pl.prop_ok[i]);
				assert_int_equal(pl.qo[i], off + i);
				assert_true(pl.so[i] != OFFSET_UNKNOWN);
			}
			off = pl.h.next_offset;
		}
	}
	for (uint32_t key = 0; key < keys; key++)
		assert_int_equal(seen[key], key_seq[key]);
	conn_close(&k);
}

static void test_a_resent_produce_is_answered_with_the_same_offsets_and_a_gap_is_refused(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	const uint64_t pid = 0x2000 + (net_rng() & 0xffff);
	struct shmq_net_produce_ack_hdr a1, a2;
	struct shmq_net_produce_result r1[5], r2[5];
	assert_int_equal(produce(&k, "rt.idem", SHMQ_NET_QUEUE_ANY, 7, pid, 100, 5, 1, 0, 64, &a1, r1), 0);
	assert_int_equal(a1.status, 0);
	assert_int_equal(a1.queue, 7 % QUEUES);
	assert_int_equal(a1.queues, QUEUES); /* a QUEUE_ANY producer learns the count */
	/* the same batch again (a new request: the client lost the answer) */
	assert_int_equal(produce(&k, "rt.idem", SHMQ_NET_QUEUE_ANY, 7, pid, 100, 5, 1, 0, 64, &a2, r2), 0);
	assert_int_equal(a2.status, 0);
	assert_int_equal(a2.count, 5);
	assert_memory_equal(r1, r2, sizeof(r1));
	/* and on another session, half old and half new */
	struct conn k2;
	assert_int_equal(conn_open(&k2, PRINCIPAL, SECRET, 10000000000ull), 0);
	struct shmq_net_produce_result r3[5];
	assert_int_equal(produce(&k2, "rt.idem", SHMQ_NET_QUEUE_ANY, 7, pid, 103, 5, 1, 3, 64, &a2, r3), 0);
	assert_int_equal(a2.status, 0);
	assert_memory_equal(&r3[0], &r1[3], 2 * sizeof(r1[0]));
	assert_int_equal(r3[2].queue_offset, r1[4].queue_offset + 1);
	assert_int_equal(a2.next_seq, 108);
	/* a gap: 110 while 108 is expected */
	assert_int_equal(produce(&k2, "rt.idem", SHMQ_NET_QUEUE_ANY, 7, pid, 110, 1, 1, 8, 64, &a2, NULL), 0);
	assert_int_equal(a2.status, SHMQ_ESEQGAP);
	assert_int_equal(a2.next_seq, 108);
	assert_int_equal(a2.count, 0);
	assert_int_equal(a2.queues, 0);
	/* the queue holds each message once */
	static struct pulled pl;
	assert_int_equal(pull(&k2, "g", "rt.idem", 7 % QUEUES, 0, 100, 0, &pl), 0);
	assert_int_equal(pl.n, 8);
	for (uint32_t i = 0; i < pl.n; i++)
		assert_int_equal(pl.body[i].seq, i);
	conn_close(&k2);
	conn_close(&k);
}


/* Three PRODUCEs of one producer sent back to back, without waiting (raw
 * frames on the client's session): A (seq 0..4), B (5..9, pipelined behind
 * A) and C (0..4 again: a resend that must wait for A and get its offsets). */
static void test_pipelined_batches_are_answered_in_order_and_a_concurrent_resend_waits(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	const uint64_t pid = 0x8000 + (net_rng() & 0xffff);
	const uint64_t firsts[3] = { 0, 5, 0 };
	uint8_t frame[1500];
	for (int i = 0; i < 3; i++) {
		int64_t blen = build_produce(bodybuf, "rt.pipe", 1, 0, pid, firsts[i], 5, 0, firsts[i], 100);
		assert_true(blen > 0 && blen <= 1400);
		struct shmq_net_msginfo mi = { .type = SHMQ_NET_PRODUCE, .attempt = 1,
					       .session_id = shmq_net_client_session(k.c),
					       .request_id = 1000u + (uint64_t)i };
		int fl = shmq_net_frame_encode(&mi, bodybuf, (uint32_t)blen, (uint32_t)blen, 0, frame, sizeof(frame));
		assert_true(fl > 0);
		struct shmq_net_addr server;
		assert_int_equal(shmq_net_udp_parse(url, &server), 0);
		struct shmq_net_pkt pkt = { .addr = server, .len = (uint32_t)fl, .data = frame };
		assert_int_equal(shmq_net_send(k.be, &pkt, 1), 1);
	}
	struct shmq_net_produce_result res[3][5];
	int order[3], got = 0;
	uint64_t t0 = itest_now_ns();
	while (got < 3 && itest_now_ns() - t0 < 10000000000ull) {
		struct shmq_net_pkt in[8];
		int n = shmq_net_recv(k.be, in, 8, 100000000ull);
		assert_true(n >= 0);
		for (int j = 0; j < n; j++) {
			struct shmq_net_frame f;
			assert_int_equal(shmq_net_frame_decode(in[j].data, in[j].len, &f), 0);
			assert_int_equal(f.h.type, SHMQ_NET_PRODUCE_ACK);
			assert_int_equal(f.h.frag_count, 1);
			int i = (int)(f.h.request_id - 1000u);
			assert_true(i >= 0 && i < 3);
			struct shmq_net_produce_ack_hdr ack;
			assert_int_equal(f.h.payload_len, sizeof(ack) + sizeof(res[i]));
			memcpy(&ack, f.payload, sizeof(ack));
			assert_int_equal(ack.status, 0);
			assert_int_equal(ack.first_seq, firsts[i]);
			memcpy(res[i], f.payload + sizeof(ack), sizeof(res[i]));
			order[got++] = i;
		}
	}
	assert_int_equal(got, 3);
	assert_int_equal(order[0], 0); /* A before B: one stream is answered in sequence order */
	assert_int_equal(order[1], 1);
	assert_int_equal(res[1][0].queue_offset, res[0][4].queue_offset + 1);
	assert_memory_equal(res[2], res[0], sizeof(res[0]));
	conn_close(&k);
	struct conn k2;
	assert_int_equal(conn_open(&k2, PRINCIPAL, SECRET, 10000000000ull), 0);
	static struct pulled pl;
	assert_int_equal(pull(&k2, "g", "rt.pipe", 1, 0, 100, 0, &pl), 0);
	assert_int_equal(pl.n, 10); /* each message once */
	for (uint32_t i = 0; i < pl.n; i++)
		assert_int_equal(pl.body[i].seq, i);
	conn_close(&k2);
}

struct lp_arg {
	_Atomic int ready; /* the thread is connected and about to pull */
	uint64_t offset;
	int rc;
	uint32_t n;
	uint64_t elapsed_ns;
	uint64_t seq;
};

static void *long_poll_thread(void *arg)
{
	struct lp_arg *a = arg;
	struct conn k;
	static struct pulled pl;
	a->rc = conn_open(&k, PRINCIPAL, SECRET, 20000000000ull);
	/* release: pairs with the acquire in the test's wait loop */
	atomic_store_explicit(&a->ready, 1, memory_order_release);
	if (a->rc == 0) {
		uint64_t t0 = itest_now_ns();
		a->rc = pull(&k, "g-lp", "rt.lp", 0, a->offset, 10, 8000, &pl);
		a->elapsed_ns = itest_now_ns() - t0;
		a->n = pl.n;
		a->seq = pl.n ? pl.body[0].seq : UINT64_MAX;
	}
	conn_close(&k);
	return NULL;
}

static void test_a_long_poll_pull_is_answered_when_a_message_arrives(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	struct shmq_net_produce_ack_hdr ack;
	struct shmq_net_produce_result res[1];
	const uint64_t pid = 0x3000 + (net_rng() & 0xffff);
	assert_int_equal(produce(&k, "rt.lp", 0, 0, pid, 0, 1, 0, 0, 64, &ack, res), 0);
	assert_int_equal(ack.status, 0);
	/* nothing beyond res[0]: the pull waits */
	struct lp_arg a = { .offset = res[0].queue_offset + 1 };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, long_poll_thread, &a), 0);
	/* acquire: pairs with the thread's release store */
	while (!atomic_load_explicit(&a.ready, memory_order_acquire))
		itest_sleep_ms(5);
	itest_sleep_ms(400);
	assert_int_equal(produce(&k, "rt.lp", 0, 0, pid, 1, 1, 0, 1, 64, &ack, res), 0);
	assert_int_equal(ack.status, 0);
	pthread_join(t, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.seq, 1);
	assert_true(a.elapsed_ns >= 300000000ull); /* it waited for the message... */
	assert_true(a.elapsed_ns < 8000000000ull); /* ...not for the timeout */
	/* and an empty long poll ends at its timeout with nothing */
	static struct pulled pl;
	uint64_t t0 = itest_now_ns();
	assert_int_equal(pull(&k, "g-lp", "rt.lp", 0, res[0].queue_offset + 1, 10, 300, &pl), 0);
	assert_int_equal(pl.n, 0);
	assert_int_equal(pl.h.next_offset, res[0].queue_offset + 1);
	assert_true(itest_now_ns() - t0 >= 250000000ull);
	conn_close(&k);
}

/* A PULL beyond the queue's next offset is not lowered to it (which handed
 * back a message the consumer had passed): it waits like any long poll and
 * then answers empty at the offset it asked for; a message below it does
 * not answer it. */
static void test_a_pull_beyond_the_end_waits_and_never_returns_older_messages(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	struct shmq_net_produce_ack_hdr ack;
	struct shmq_net_produce_result res[1];
	const uint64_t pid = 0x5000 + (net_rng() & 0xffff);
	assert_int_equal(produce(&k, "rt.beyond", 0, 0, pid, 0, 1, 0, 0, 64, &ack, res), 0);
	assert_int_equal(ack.status, 0);
	const uint64_t next = res[0].queue_offset + 1;
	static struct pulled pl;
	/* no wait: empty at once, at the requested offset */
	assert_int_equal(pull(&k, "g-beyond", "rt.beyond", 0, next + 5, 10, 0, &pl), 0);
	assert_int_equal(pl.h.status, 0);
	assert_int_equal(pl.n, 0);
	assert_int_equal(pl.h.next_offset, next + 5);
	assert_int_equal(pl.h.max_offset, next + 5); /* never below next_offset (docs/protocol.md) */
	/* a long poll one beyond the end waits its whole timeout */
	uint64_t t0 = itest_now_ns();
	assert_int_equal(pull(&k, "g-beyond", "rt.beyond", 0, next + 1, 10, 300, &pl), 0);
	assert_int_equal(pl.n, 0);
	assert_int_equal(pl.h.next_offset, next + 1);
	assert_true(itest_now_ns() - t0 >= 250000000ull);
	/* the message at `next` is below the requested offset: still nothing */
	assert_int_equal(produce(&k, "rt.beyond", 0, 0, pid, 1, 1, 0, 1, 64, &ack, res), 0);
	assert_int_equal(ack.status, 0);
	assert_int_equal(res[0].queue_offset, next);
	assert_int_equal(pull(&k, "g-beyond", "rt.beyond", 0, next + 1, 10, 200, &pl), 0);
	assert_int_equal(pl.n, 0);
	assert_int_equal(pl.h.next_offset, next + 1);
	assert_int_equal(pl.h.max_offset, next + 1);
	/* and the offset it did store is served */
	assert_int_equal(pull(&k, "g-beyond", "rt.beyond", 0, next, 10, 200, &pl), 0);
	assert_int_equal(pl.n, 1);
	assert_int_equal(pl.qo[0], next);
	assert_int_equal(pl.body[0].seq, 1);
	assert_int_equal(pl.h.next_offset, next + 1);
	conn_close(&k);
}

static void test_a_commit_is_seen_by_the_next_member_and_leases_carry_queues(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	const uint64_t pid = 0x4000 + (net_rng() & 0xffff);
	struct shmq_net_produce_ack_hdr ack;
	assert_int_equal(produce(&k, "rt.grp", 2, 0, pid, 0, 10, 2, 0, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);

	struct shmq_net_group g;
	struct shmq_net_join_ack_hdr ja;
	uint16_t type;
	const uint8_t *resp;
	uint32_t rlen;
	group_req(&g, "g-commit", "rt.grp", 0);
	assert_int_equal(simple_call(&k, SHMQ_NET_JOIN, &g, sizeof(g), &type, &resp, &rlen), 0);
	assert_int_equal(type, SHMQ_NET_JOIN_ACK);
	memcpy(&ja, resp, sizeof(ja));
	assert_int_equal(ja.status, 0);
	assert_int_equal(ja.count, QUEUES); /* the only member owns every queue */
	assert_int_equal(ja.queues, QUEUES);
	uint64_t m1 = ja.member_id;

	struct shmq_net_commit c;
	memset(&c, 0, sizeof(c));
	assert_int_equal(shmq_ctl_name_set(c.group, "g-commit", false), 0);
	assert_int_equal(shmq_ctl_name_set(c.topic, "rt.grp", false), 0);
	c.queue = 2;
	c.offset = 6;
	assert_int_equal(simple_call(&k, SHMQ_NET_COMMIT, &c, sizeof(c), &type, &resp, &rlen), 0);
	assert_int_equal(type, SHMQ_NET_COMMIT_ACK);
	assert_int_equal(error_status(type, resp, rlen), 0);

	/* a second member (another connection) joins: the queues split; the
	 * first hands its revoked queues over at its next heartbeat */
	struct conn k2;
	assert_int_equal(conn_open(&k2, PRINCIPAL, SECRET, 10000000000ull), 0);
	assert_int_equal(simple_call(&k2, SHMQ_NET_JOIN, &g, sizeof(g), &type, &resp, &rlen), 0);
	memcpy(&ja, resp, sizeof(ja));
	assert_int_equal(ja.status, 0);
	uint64_t m2 = ja.member_id;
	assert_int_not_equal(m1, m2);
	group_req(&g, "g-commit", "rt.grp", m1);
	assert_int_equal(simple_call(&k, SHMQ_NET_HEARTBEAT, &g, sizeof(g), &type, &resp, &rlen), 0);
	memcpy(&ja, resp, sizeof(ja));
	assert_int_equal(ja.status, 0);
	uint32_t own1 = ja.count;
	group_req(&g, "g-commit", "rt.grp", m2);
	assert_int_equal(simple_call(&k2, SHMQ_NET_HEARTBEAT, &g, sizeof(g), &type, &resp, &rlen), 0);
	memcpy(&ja, resp, sizeof(ja));
	assert_int_equal(ja.status, 0);
	assert_int_equal(own1 + ja.count, QUEUES);
	assert_int_equal(ja.count, QUEUES / 2);

	/* the committed offset, as any member reads it */
	static struct pulled pl;
	assert_int_equal(pull(&k2, "g-commit", "rt.grp", 2, SHMQ_NET_OFFSET_COMMITTED, 100, 0, &pl), 0);
	assert_int_equal(pl.n, 4);
	assert_int_equal(pl.qo[0], 6);
	assert_int_equal(pl.body[0].seq, 6);

	/* a heartbeat for someone else's member id is refused */
	struct conn k3;
	assert_int_equal(conn_open(&k3, "daemon", SECRET, 10000000000ull), 0);
	assert_int_equal(simple_call(&k3, SHMQ_NET_HEARTBEAT, &g, sizeof(g), &type, &resp, &rlen), 0);
	assert_int_equal(type, SHMQ_NET_ERROR);
	assert_int_equal(error_status(type, resp, rlen), SHMQ_ENOTFOUND);
	conn_close(&k3);
	conn_close(&k2);
	conn_close(&k);
}

static void test_the_acl_refuses_a_principal_it_does_not_grant(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	struct shmq_net_produce_ack_hdr ack;
	assert_int_equal(produce(&k, "locked.t", 0, 0, 77, 0, 1, 0, 0, 64, &ack, NULL), -EACCES);
	static struct pulled pl;
	assert_int_equal(pull(&k, "g", "locked.t", 0, 0, 1, 0, &pl), -EACCES);
	conn_close(&k);
	/* "root" is never root over the network: only `any` rules and the
	 * defaults apply to it, and rt.* has none */
	assert_int_equal(conn_open(&k, "root", SECRET, 10000000000ull), 0);
	assert_int_equal(produce(&k, TOPIC, 0, 0, 78, 0, 1, 0, 0, 64, &ack, NULL), -EACCES);
	conn_close(&k);
}

/* A producer id travels in every message: a principal that consumed one
 * can produce under it. Its stream stays its first principal's: another
 * principal's batch under that id is refused, and the real producer goes
 * on where it was. */
static void test_a_producer_id_belongs_to_the_principal_that_used_it_first(void **state)
{
	(void)state;
	struct conn k, evil;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	assert_int_equal(conn_open(&evil, "root", SECRET, 10000000000ull), 0);
	const uint64_t pid = 0x6000 + (net_rng() & 0xffff);
	struct shmq_net_produce_ack_hdr ack;
	struct shmq_net_produce_result res[2];
	assert_int_equal(produce(&k, "shared.t", 0, 0, pid, 0, 2, 4, 0, 64, &ack, res), 0);
	assert_int_equal(ack.status, 0);
	assert_int_equal(produce(&evil, "shared.t", 0, 0, pid, 2, 1, 4, 2, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, -EACCES);
	assert_int_equal(produce(&k, "shared.t", 0, 0, pid, 2, 1, 4, 2, 64, &ack, res), 0);
	assert_int_equal(ack.status, 0);
	assert_int_equal(ack.next_seq, 3);
	static struct pulled pl;
	assert_int_equal(pull(&k, "g", "shared.t", 0, 0, 10, 0, &pl), 0);
	assert_int_equal(pl.n, 3);
	/* another producer id is the other principal's own */
	assert_int_equal(produce(&evil, "shared.t", 0, 0, pid + 1, 0, 1, 5, 0, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	conn_close(&evil);
	conn_close(&k);
}

static void test_a_one_mib_message_goes_through(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 20000000000ull), 0);
	struct shmq_net_produce_ack_hdr ack;
	struct shmq_net_produce_result res[1];
	const uint64_t pid = 0x5000 + (net_rng() & 0xffff);
	assert_int_equal(produce(&k, "rt.big", 1, 0, pid, 0, 1, 0, 0, 1u << 20, &ack, res), 0);
	assert_int_equal(ack.status, 0);
	static struct pulled pl;
	assert_int_equal(pull(&k, "g", "rt.big", 1, res[0].queue_offset, 1, 0, &pl), 0);
	assert_int_equal(pl.n, 1);
	assert_int_equal(pl.body_len[0], 1u << 20); /* and every byte checked by pull() */
	conn_close(&k);
}

static uint64_t loss_state;
static uint64_t dropped;

static bool lossy(void *ctx, const struct shmq_net_pkt *pkt)
{
	(void)ctx;
	(void)pkt;
	loss_state ^= loss_state << 13;
	loss_state ^= loss_state >> 7;
	loss_state ^= loss_state << 17;
	bool drop = loss_state % 10 == 0;
	dropped += drop;
	return drop;
}

static void test_ten_percent_loss_loses_and_duplicates_nothing(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 20000000000ull), 0);
	loss_state = net_rng() | 1;
	shmq_net_set_loss(k.be, lossy, NULL);
	const uint64_t pid = 0x6000 + (net_rng() & 0xffff);
	unsigned batches = 40 * itest_scale();
	uint64_t seq = 0;
	for (unsigned b = 0; b < batches; b++) {
		uint32_t count = 1 + (uint32_t)(net_rng() % 8);
		uint32_t len = 64 + (uint32_t)(net_rng() % 3000); /* some fragment */
		struct shmq_net_produce_ack_hdr ack;
		assert_int_equal(produce(&k, "rt.loss", 3, 0, pid, seq, count, 3, seq, len, &ack, NULL), 0);
		assert_int_equal(ack.status, 0);
		seq += count;
	}
	static struct pulled pl;
	uint64_t off = 0, got = 0;
	for (;;) {
		assert_int_equal(pull(&k, "g-loss", "rt.loss", 3, off, 16, 0, &pl), 0);
		if (pl.n == 0)
			break;
		for (uint32_t i = 0; i < pl.n; i++)
			assert_int_equal(pl.body[i].seq, got++);
		off = pl.h.next_offset;
	}
	assert_int_equal(got, seq);
	struct shmq_net_client_stats cs;
	shmq_net_client_stats(k.c, &cs);
	fprintf(stderr, "loss: %" PRIu64 " packets dropped, %" PRIu64 " retransmits\n", dropped, cs.retransmits);
	assert_true(dropped > 0);
	conn_close(&k);
}


static int join_ack(struct conn *k, uint16_t type_req, const struct shmq_net_group *g, struct shmq_net_join_ack_hdr *ja)
{
	uint16_t type;
	const uint8_t *resp;
	uint32_t rlen;
	int rc = simple_call(k, type_req, g, sizeof(*g), &type, &resp, &rlen);
	if (rc < 0)
		return rc;
	if (type == SHMQ_NET_ERROR)
		return error_status(type, resp, rlen);
	if (type != SHMQ_NET_JOIN_ACK || rlen < sizeof(*ja))
		return -EPROTO;
	memcpy(ja, resp, sizeof(*ja));
	return 0;
}

/* A member of @p group that commits @p offset on @p queue, then goes silent:
 * its lease (lease_ms; 0 = the default) decides when others get its queues. */
static void silent_member_commits(struct conn *k, const char *group, const char *topic, uint32_t lease_ms,
				  uint32_t queue, uint64_t offset)
{
	struct shmq_net_group g;
	struct shmq_net_join_ack_hdr ja;
	group_req(&g, group, topic, 0);
	if (lease_ms)
		g.lease_ms = lease_ms;
	assert_int_equal(join_ack(k, SHMQ_NET_JOIN, &g, &ja), 0);
	assert_int_equal(ja.status, 0);
	struct shmq_net_commit cm;
	memset(&cm, 0, sizeof(cm));
	assert_int_equal(shmq_ctl_name_set(cm.group, group, false), 0);
	assert_int_equal(shmq_ctl_name_set(cm.topic, topic, false), 0);
	cm.queue = queue;
	cm.offset = offset;
	uint16_t type;
	const uint8_t *resp;
	uint32_t rlen;
	assert_int_equal(simple_call(k, SHMQ_NET_COMMIT, &cm, sizeof(cm), &type, &resp, &rlen), 0);
	assert_int_equal(type, SHMQ_NET_COMMIT_ACK);
}

static void test_an_expired_lease_is_a_member_gone_and_its_queues_move(void **state)
{
	(void)state;
	struct conn k1, k2;
	assert_int_equal(conn_open(&k1, PRINCIPAL, SECRET, 10000000000ull), 0);
	assert_int_equal(conn_open(&k2, PRINCIPAL, SECRET, 10000000000ull), 0);
	struct shmq_net_group g;
	struct shmq_net_join_ack_hdr ja;
	group_req(&g, "g-lease", "rt.lease", 0);
	g.lease_ms = 1000;
	assert_int_equal(join_ack(&k1, SHMQ_NET_JOIN, &g, &ja), 0);
	assert_int_equal(ja.status, 0);
	assert_int_equal(ja.count, QUEUES);
	assert_int_equal(ja.lease_ms, 1000);
	uint64_t m1 = ja.member_id;
	uint64_t t0 = itest_now_ns();
	g.lease_ms = 5000;
	assert_int_equal(join_ack(&k2, SHMQ_NET_JOIN, &g, &ja), 0);
	uint64_t m2 = ja.member_id;
	/* m1 is silent: its lease runs out, m2 gets every queue */
	uint32_t owned = ja.count;
	while (owned < QUEUES && itest_now_ns() - t0 < 5000000000ull) {
		itest_sleep_ms(100);
		group_req(&g, "g-lease", "rt.lease", m2);
		assert_int_equal(join_ack(&k2, SHMQ_NET_HEARTBEAT, &g, &ja), 0);
		assert_int_equal(ja.status, 0);
		owned = ja.count;
	}
	uint64_t took = itest_now_ns() - t0;
	fprintf(stderr, "queues moved %" PRIu64 " ms after the silent member joined\n", took / 1000000u);
	assert_int_equal(owned, QUEUES);
	assert_true(took >= 900000000ull); /* not before the lease ran out */
	group_req(&g, "g-lease", "rt.lease", m1);
	assert_int_equal(join_ack(&k1, SHMQ_NET_HEARTBEAT, &g, &ja), SHMQ_ENOTFOUND);
	conn_close(&k2);
	conn_close(&k1);
}

/* Its own brokers: start-up refuses what it cannot serve safely. */
static void test_startup_refuses_a_world_readable_secret_and_a_dpdk_address_without_port(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof(path), "%s/open-secret", secret_dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%s\n", SECRET);
	fclose(f);
	assert_int_equal(chmod(path, 0644), 0);
	const char *cases[2][2] = {
		{ "udp", "readable or writable by others" },
		{ "dpdk", "expected dpdk://IPv4:PORT" },
	};
	for (int i = 0; i < 2; i++) {
		if (i == 1)
			assert_int_equal(chmod(path, 0600), 0);
		char listen[64], cfgtext[512];
		snprintf(listen, sizeof(listen), "%s://127.0.0.1:%u", cases[i][0], i == 1 ? 0u : free_udp_port());
		snprintf(cfgtext, sizeof(cfgtext), "[net]\nlisten = %s\nsecret_file = %s\n", listen, path);
		struct itest_broker b2;
		memset(&b2, 0, sizeof(b2));
		struct itest_broker_opts o = { .config_text = cfgtext };
		/* the control socket answers before the remote port starts, so the
		 * harness may see the broker up for a moment: it must exit 1 */
		int rc = itest_broker_start(&b2, &o);
		if (rc == 0)
			assert_int_equal(itest_broker_stop(&b2), 1);
		void *log;
		size_t len;
		assert_int_equal(itest_read_file(b2.log, &log, &len), 0);
		char *s = realloc(log, len + 1);
		assert_non_null(s);
		s[len] = '\0';
		if (!strstr(s, cases[i][1]))
			fprintf(stderr, "log:\n%s\n", s);
		assert_non_null(strstr(s, cases[i][1]));
		free(s);
		itest_teardown(&b2);
	}
	unlink(path);
}

/* ------------------------------------------------------------------ */
/* ADMIN: the control protocol over the network                         */

/* A libshmq client of the remote port for @p principal. */
static shmq_client_t *remote_client(const char *principal)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/secret", secret_dir);
	SHMQ_CLIENT_OPTS(o, .principal = principal, .secret_file = path, .request_timeout_ns = 5000000000ull,
			 .reconnect_timeout_ns = 10000000000ull);
	shmq_client_t *c = NULL;
	int rc = shmq_client_open(url, &o, &c);
	if (rc < 0) {
		itest_broker_dump_log(&broker, 4000);
		fail_msg("remote open %s as %s: %s (%s)", url, principal, shmq_strerror(rc), shmq_client_last_error());
	}
	return c;
}

static shmq_client_t *local_client(void)
{
	shmq_client_t *c = NULL;
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	return c;
}

/* One control message as an ADMIN request through the endpoint client:
 * @p resp decoded from the ADMIN_RESP. @return 0, a network ERROR's status,
 * -EPROTO (another answer type or an undecodable one), or a call error. */
static int admin_raw(struct conn *k, const void *msg, uint32_t len, struct shmq_ctl_msg *resp)
{
	uint16_t type;
	const uint8_t *r;
	uint32_t rlen;
	int rc = shmq_net_client_call(k->c, SHMQ_NET_ADMIN, msg, len, &type, &r, &rlen);
	if (rc < 0)
		return rc;
	if (type == SHMQ_NET_ERROR)
		return error_status(type, r, rlen);
	if (type != SHMQ_NET_ADMIN_RESP)
		return -EPROTO;
	return shmq_ctl_decode(r, rlen, resp) == 0 ? 0 : -EPROTO;
}

static int admin_call(struct conn *k, const struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp)
{
	static uint8_t buf[SHMQ_CTL_MSG_MAX];
	int n = shmq_ctl_encode(req, buf, sizeof(buf));
	return n < 0 ? n : admin_raw(k, buf, (uint32_t)n, resp);
}

/* A request frame sent as is (no body check on our side), and the type and
 * body of the one-frame answer to it. */
static int admin_frame(struct conn *k, uint64_t rid, const void *body, uint32_t len, uint16_t *type,
		       uint8_t *out, uint32_t *out_len)
{
	uint8_t frame[1500];
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_ADMIN, .attempt = 1,
				       .session_id = shmq_net_client_session(k->c), .request_id = rid };
	int fl = shmq_net_frame_encode(&mi, body, len, len, 0, frame, sizeof(frame));
	if (fl < 0)
		return fl;
	struct shmq_net_addr server;
	if (shmq_net_udp_parse(url, &server) < 0)
		return -EINVAL;
	struct shmq_net_pkt pkt = { .addr = server, .len = (uint32_t)fl, .data = frame };
	if (shmq_net_send(k->be, &pkt, 1) != 1)
		return -EIO;
	uint64_t t0 = itest_now_ns();
	while (itest_now_ns() - t0 < 5000000000ull) {
		struct shmq_net_pkt in[4];
		int n = shmq_net_recv(k->be, in, 4, 100000000ull);
		if (n < 0)
			return n;
		for (int j = 0; j < n; j++) {
			struct shmq_net_frame f;
			if (shmq_net_frame_decode(in[j].data, in[j].len, &f) != 0 || f.h.request_id != rid)
				continue;
			if (f.h.frag_count != 1)
				return -EPROTO;
			*type = f.h.type;
			memcpy(out, f.payload, f.h.payload_len);
			*out_len = f.h.payload_len;
			return 0;
		}
	}
	return -ETIMEDOUT;
}

static bool has_topic(const struct shmq_topic_info *t, size_t n, const char *name, uint32_t queues)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return t[i].queues == queues;
	return false;
}

static void test_topics_are_created_described_and_listed_over_the_network(void **state)
{
	(void)state;
	char name[64];
	snprintf(name, sizeof(name), "adm.t%04x", (unsigned)(net_rng() & 0xffff));
	shmq_client_t *c = remote_client(PRINCIPAL);
	struct shmq_topic_info ti, again;
	assert_int_equal(shmq_topic_create(c, name, 3, &ti), 0);
	assert_string_equal(ti.name, name);
	assert_int_equal(ti.queues, 3);
	assert_true(ti.created_ns > 0);
	/* a second create is refused and tells what exists, as locally */
	assert_int_equal(shmq_topic_create(c, name, 5, &again), -EEXIST);
	assert_int_equal(again.queues, 3);
	assert_int_equal(shmq_topic_describe(c, name, &again), 0);
	assert_int_equal(again.queues, 3);
	assert_int_equal(again.created_ns, ti.created_ns);
	assert_int_equal(shmq_topic_describe(c, "adm.nothing-here", &again), SHMQ_ENOTFOUND);
	assert_non_null(strstr(shmq_client_last_error(), "no topic"));
	/* the list is the broker's, page by page, as a local client sees it */
	struct shmq_topic_info *rt = NULL, *lt = NULL;
	size_t rn = 0, ln = 0;
	assert_int_equal(shmq_admin_topics(c, &rt, &rn), 0);
	shmq_client_t *lc = local_client();
	assert_int_equal(shmq_admin_topics(lc, &lt, &ln), 0);
	assert_true(has_topic(rt, rn, name, 3));
	assert_int_equal(rn, ln);
	for (size_t i = 0; i < rn; i++) {
		assert_string_equal(rt[i].name, lt[i].name);
		assert_int_equal(rt[i].queues, lt[i].queues);
		if (i)
			assert_true(strcmp(rt[i - 1].name, rt[i].name) < 0);
	}
	/* the rings of the new topic, with their positions */
	struct shmq_ring_status *rings = NULL;
	size_t nr = 0;
	assert_int_equal(shmq_admin_rings(c, &rings, &nr), 0);
	unsigned mine = 0;
	for (size_t i = 0; i < nr; i++)
		if (strcmp(rings[i].topic, name) == 0) {
			assert_int_equal(rings[i].queue, mine);
			assert_true(rings[i].capacity > 0);
			mine++;
		}
	assert_int_equal(mine, 3);
	free(rings);
	free(lt);
	free(rt);
	shmq_client_close(lc);
	shmq_client_close(c);
}

static void test_status_over_the_network_is_the_brokers_and_counts_the_requests(void **state)
{
	(void)state;
	shmq_client_t *c = remote_client(PRINCIPAL);
	shmq_client_t *lc = local_client();
	struct shmq_broker_status rs, ls;
	assert_int_equal(shmq_admin_status(c, &rs), 0);
	assert_int_equal(shmq_admin_status(lc, &ls), 0);
	assert_int_equal(rs.pid, (uint32_t)broker.pid);
	assert_int_equal(rs.pid, ls.pid);
	assert_int_equal(rs.topics, ls.topics);
	assert_true(rs.commitlog_min_offset <= rs.commitlog_max_offset);
	/* STATUS tells the broker id, which a remote client has no HELLO for */
	assert_int_equal(rs.broker_id, BROKER_ID);
	assert_int_equal(ls.broker_id, BROKER_ID);
	/* ADMIN requests are requests of the remote port (published every 100 ms) */
	const unsigned n = 20;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(shmq_admin_status(c, &rs), 0);
	uint64_t want = ls.remote.requests + n;
	for (int i = 0; i < 100 && rs.remote.requests < want; i++) {
		itest_sleep_ms(20);
		assert_int_equal(shmq_admin_status(lc, &rs), 0);
	}
	assert_true(rs.remote.requests >= want);
	assert_true(rs.remote.sessions >= 1);
	shmq_client_close(lc);
	shmq_client_close(c);
}

static void progress_equal(const struct shmq_group_progress *a, const struct shmq_group_progress *b)
{
	assert_int_equal(a->queues, b->queues);
	assert_int_equal(a->generation, b->generation);
	assert_int_equal(a->mode, b->mode);
	for (uint32_t i = 0; i < a->queues; i++) {
		assert_int_equal(a->q[i].committed, b->q[i].committed);
		assert_int_equal(a->q[i].max_offset, b->q[i].max_offset);
		assert_int_equal(a->q[i].lag, b->q[i].lag);
	}
}

static void test_group_progress_and_reset_work_over_the_network(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	const uint64_t pid = 0x9000 + (net_rng() & 0xffff);
	struct shmq_net_produce_ack_hdr ack;
	assert_int_equal(produce(&k, "adm.grp", 1, 0, pid, 0, 10, 1, 0, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	/* a member joins and commits 3 on queue 1 */
	silent_member_commits(&k, "g-adm", "adm.grp", 0, 1, 3);

	shmq_client_t *c = remote_client(PRINCIPAL);
	shmq_client_t *lc = local_client();
	struct shmq_group_progress *p = NULL, *lp = NULL;
	assert_int_equal(shmq_admin_group_progress(c, "g-adm", "adm.grp", &p), 0);
	assert_int_equal(p->queues, QUEUES);
	assert_int_equal(p->mode, SHMQ_CONSUME_CLUSTERING + 1u); /* enum shmq_ctl_group_mode */
	assert_int_equal(p->members, 1);
	assert_int_equal(p->q[1].committed, 3);
	assert_int_equal(p->q[1].max_offset, 10);
	assert_int_equal(p->q[1].lag, 7);
	assert_int_equal(p->q[0].committed, OFFSET_UNKNOWN);
	assert_int_equal(shmq_admin_group_progress(lc, "g-adm", "adm.grp", &lp), 0);
	progress_equal(p, lp);
	free(p);
	free(lp);

	/* reset to the end, then to the start: every queue moves */
	assert_int_equal(shmq_admin_group_reset(c, "g-adm", "adm.grp", SHMQ_START_LATEST, 0, &p), 0);
	assert_int_equal(p->q[1].committed, 10);
	assert_int_equal(p->q[1].lag, 0);
	free(p);
	assert_int_equal(shmq_admin_group_reset(c, "g-adm", "adm.grp", SHMQ_START_EARLIEST, 0, &p), 0);
	assert_int_equal(p->q[1].committed, 0);
	assert_int_equal(p->q[1].lag, 10);
	assert_int_equal(shmq_admin_group_progress(lc, "g-adm", "adm.grp", &lp), 0);
	progress_equal(p, lp);
	free(p);
	free(lp);
	/* and a PULL of the committed offset starts where the reset put it */
	static struct pulled pl;
	assert_int_equal(pull(&k, "g-adm", "adm.grp", 1, SHMQ_NET_OFFSET_COMMITTED, 100, 0, &pl), 0);
	assert_int_equal(pl.n, 10);
	assert_int_equal(pl.qo[0], 0);
	shmq_client_close(lc);
	shmq_client_close(c);
	conn_close(&k);
}

static void test_query_by_key_over_the_network_finds_every_stored_message(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	const uint64_t pid = 0xa000 + (net_rng() & 0xffff);
	struct shmq_net_produce_ack_hdr ack;
	struct shmq_net_produce_result res[6];
	assert_int_equal(produce(&k, "adm.keys", 2, 0, pid, 0, 6, 77, 0, 64, &ack, res), 0);
	assert_int_equal(ack.status, 0);
	static struct shmq_ctl_msg req, resp;
	shmq_ctl_msg_init(&req, SHMQ_CTL_QUERY_KEY, 0, 0xfeed0001u);
	assert_int_equal(shmq_ctl_name_set(req.u.query_key_req.topic, "adm.keys", false), 0);
	strcpy(req.u.query_key_req.key, "key77");
	req.u.query_key_req.end_ms = UINT64_MAX;
	req.u.query_key_req.max = SHMQ_CTL_QUERY_MAX;
	/* the index is written by the persister; the ack came after it */
	assert_int_equal(admin_call(&k, &req, &resp), 0);
	assert_int_equal(resp.type, SHMQ_CTL_QUERY_KEY);
	assert_int_equal(resp.request_id, 0xfeed0001u); /* the ctl request id is echoed */
	assert_int_equal(resp.u.query_resp.hdr.count, 6);
	for (uint32_t i = 0; i < 6; i++) {
		const struct shmq_ctl_query_hit *h = &resp.u.query_resp.hits[i];
		assert_int_equal(h->queue, 2);
		bool found = false;
		for (int j = 0; j < 6; j++)
			found |= h->commitlog_offset == res[j].store_offset;
		assert_true(found);
	}
	/* a key nobody used */
	strcpy(req.u.query_key_req.key, "no-such-key");
	assert_int_equal(admin_call(&k, &req, &resp), 0);
	assert_int_equal(resp.u.query_resp.hdr.count, 0);
	/* the public query reads each record it finds over the network too
	 * (READ_MSG: see the message-reads test) */
	shmq_client_t *c = remote_client(PRINCIPAL);
	struct shmq_admin_msg *msgs = NULL;
	assert_int_equal(shmq_admin_query_key(c, "adm.keys", "key77", 0, UINT64_MAX, 8, &msgs), 6);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(msgs[i].v.queue_id, 2);
		assert_string_equal(msgs[i].v.keys, "key77");
		bool found = false;
		for (int j = 0; j < 6; j++)
			found |= msgs[i].v.store_offset == res[j].store_offset;
		assert_true(found);
		shmq_admin_msg_free(&msgs[i]);
	}
	free(msgs);
	shmq_client_close(c);
	conn_close(&k);
}

static void test_admin_requests_obey_the_acl_for_the_remote_principal(void **state)
{
	(void)state;
	shmq_client_t *c = remote_client(PRINCIPAL);
	struct shmq_topic_info ti;
	/* no admin right on locked.* (uid 4242 only) nor on rt.* (pc) */
	assert_int_equal(shmq_topic_create(c, "locked.adm", 1, &ti), -EACCES);
	assert_non_null(strstr(shmq_client_last_error(), "uid 65534"));
	assert_int_equal(shmq_admin_group_reset(c, "g", TOPIC, SHMQ_START_LATEST, 0, NULL), -EACCES);
	/* consume right needed for progress */
	struct shmq_group_progress *p = NULL;
	assert_int_equal(shmq_admin_group_progress(c, "g", "locked.t", &p), -EACCES);
	assert_null(p);
	shmq_client_close(c);
	/* "root" over the network is nobody in particular (R1) */
	c = remote_client("root");
	assert_int_equal(shmq_topic_create(c, "adm.by-root", 1, &ti), -EACCES);
	shmq_client_close(c);
	shmq_client_t *lc = local_client();
	assert_int_equal(shmq_topic_describe(lc, "adm.by-root", &ti), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_topic_describe(lc, "locked.adm", &ti), SHMQ_ENOTFOUND);
	shmq_client_close(lc);
}

static void test_a_control_request_that_needs_an_fd_or_a_connection_is_refused_with_eopnotsupp(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	static struct shmq_ctl_msg req, resp;
	const uint16_t types[] = { SHMQ_CTL_OPEN_QUEUE, SHMQ_CTL_OPEN_SEGMENT, SHMQ_CTL_OPEN_CQ, SHMQ_CTL_GROUP_JOIN,
				   SHMQ_CTL_COMMIT_OFFSET, SHMQ_CTL_HELLO };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		shmq_ctl_msg_init(&req, types[i], 0, 500u + i);
		switch (types[i]) {
		case SHMQ_CTL_OPEN_QUEUE:
			assert_int_equal(shmq_ctl_name_set(req.u.open_queue_req.topic, TOPIC, false), 0);
			req.u.open_queue_req.mode = SHMQ_CTL_OPEN_PRODUCE;
			break;
		case SHMQ_CTL_OPEN_CQ:
			assert_int_equal(shmq_ctl_name_set(req.u.open_cq_req.topic, TOPIC, false), 0);
			break;
		case SHMQ_CTL_GROUP_JOIN:
			assert_int_equal(shmq_ctl_name_set(req.u.group_req.group, "g", false), 0);
			assert_int_equal(shmq_ctl_name_set(req.u.group_req.topic, TOPIC, false), 0);
			req.u.group_req.mode = SHMQ_CTL_GROUP_CLUSTERING;
			break;
		case SHMQ_CTL_COMMIT_OFFSET:
			assert_int_equal(shmq_ctl_name_set(req.u.commit_req.group, "g", false), 0);
			assert_int_equal(shmq_ctl_name_set(req.u.commit_req.topic, TOPIC, false), 0);
			break;
		case SHMQ_CTL_HELLO:
			req.u.hello_req.client_version = SHMQ_CTL_VERSION;
			req.u.hello_req.role = SHMQ_CTL_ROLE_ALL;
			break;
		default:
			break;
		}
		assert_int_equal(admin_call(&k, &req, &resp), 0);
		assert_int_equal(resp.type, SHMQ_CTL_ERROR);
		assert_int_equal(resp.flags, SHMQ_CTL_F_RESPONSE); /* never HAS_FD */
		assert_int_equal(resp.request_id, 500u + i);
		assert_int_equal(resp.u.error.status, -EOPNOTSUPP);
		assert_non_null(strstr(resp.u.error.message, shmq_ctl_type_name(types[i])));
	}
	/* the ring was not handed out, and the port still serves */
	shmq_ctl_msg_init(&req, SHMQ_CTL_STATUS, 0, 600);
	assert_int_equal(admin_call(&k, &req, &resp), 0);
	assert_int_equal(resp.type, SHMQ_CTL_STATUS);
	assert_int_equal(resp.u.status_resp.pid, (uint32_t)broker.pid);
	conn_close(&k);
}

static void test_garbage_control_bytes_inside_an_admin_frame_are_refused_without_harm(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	static struct shmq_ctl_msg req, resp;
	static uint8_t good[SHMQ_CTL_MSG_MAX], bad[SHMQ_CTL_MSG_MAX], out[2048];
	shmq_ctl_msg_init(&req, SHMQ_CTL_QUERY_KEY, 0, 0x77);
	assert_int_equal(shmq_ctl_name_set(req.u.query_key_req.topic, "adm.keys", false), 0);
	strcpy(req.u.query_key_req.key, "key77");
	req.u.query_key_req.end_ms = UINT64_MAX;
	req.u.query_key_req.max = 4;
	int glen = shmq_ctl_encode(&req, good, sizeof(good));
	assert_true(glen > 0);
	uint16_t type;
	uint32_t olen;
	uint64_t rid = 90000;
	/* 1. not a control message at all: the envelope check answers ERROR */
	for (unsigned i = 0; i < 20; i++) {
		uint32_t len = 1 + (uint32_t)(net_rng() % 1000);
		for (uint32_t j = 0; j < len; j++)
			bad[j] = (uint8_t)net_rng();
		assert_int_equal(admin_frame(&k, ++rid, bad, len, &type, out, &olen), 0);
		assert_int_equal(type, SHMQ_NET_ERROR);
		assert_int_equal(error_status(type, out, olen), -EBADMSG);
	}
	/* 2. a response, or an fd promised, inside ADMIN: refused the same way */
	memcpy(bad, good, (size_t)glen);
	bad[8] = SHMQ_CTL_F_RESPONSE;
	assert_int_equal(admin_frame(&k, ++rid, bad, (uint32_t)glen, &type, out, &olen), 0);
	assert_int_equal(error_status(type, out, olen), -EBADMSG);
	bad[8] = SHMQ_CTL_F_HAS_FD;
	assert_int_equal(admin_frame(&k, ++rid, bad, (uint32_t)glen, &type, out, &olen), 0);
	assert_int_equal(error_status(type, out, olen), -EBADMSG);
	/* 3. a sound envelope around a body the ctl codec refuses (flipped
	 * bytes, type kept read-only): a ctl ERROR echoing the request id */
	unsigned refused = 0, served = 0;
	unsigned rounds = 200 * itest_scale();
	for (unsigned i = 0; i < rounds; i++) {
		memcpy(bad, good, (size_t)glen);
		unsigned flips = 1 + (unsigned)(net_rng() % 4);
		for (unsigned f = 0; f < flips; f++) {
			size_t at = 24 + (size_t)(net_rng() % (uint64_t)(glen - 24)); /* the body only */
			bad[at] = (uint8_t)net_rng();
		}
		assert_int_equal(admin_frame(&k, ++rid, bad, (uint32_t)glen, &type, out, &olen), 0);
		assert_int_equal(type, SHMQ_NET_ADMIN_RESP);
		assert_int_equal(shmq_ctl_decode(out, olen, &resp), 0);
		assert_int_equal(resp.request_id, 0x77);
		if (resp.type == SHMQ_CTL_ERROR) {
			assert_true(resp.u.error.status == -EBADMSG || resp.u.error.status == -EACCES);
			refused++;
		} else {
			assert_int_equal(resp.type, SHMQ_CTL_QUERY_KEY);
			served++;
		}
	}
	fprintf(stderr, "garbage in ADMIN: %u refused by the ctl codec or the ACL, %u still valid\n", refused,
		served);
	assert_true(refused > 0);
	conn_close(&k);
	/* the broker is unharmed and serves the good message (a new session:
	 * the raw ids above are beyond the endpoint client's own) */
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	assert_int_equal(admin_raw(&k, good, (uint32_t)glen, &resp), 0);
	assert_int_equal(resp.type, SHMQ_CTL_QUERY_KEY);
	conn_close(&k);
	struct shmq_broker_status st;
	shmq_client_t *c = remote_client(PRINCIPAL);
	assert_int_equal(shmq_admin_status(c, &st), 0);
	assert_int_equal(st.pid, (uint32_t)broker.pid);
	shmq_client_close(c);
}

/* Messages of a remote consumer until @p want came or 5 s passed; their
 * sequences (itest bodies) in seqs[]. */
static unsigned consume_seqs(shmq_consumer_t *cs, unsigned want, uint64_t *seqs, unsigned cap)
{
	struct shmq_msg_view v[16];
	unsigned got = 0;
	uint64_t t0 = itest_now_ns();
	while (got < want && itest_now_ns() - t0 < 5000000000ull) {
		int n = shmq_consumer_poll(cs, v, 16, 200000000ull);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			struct itest_body_hdr h;
			assert_int_equal(itest_body_check(v[i].body, v[i].body_len, &h), 0);
			if (got < cap)
				seqs[got] = h.seq;
			got++;
		}
	}
	return got;
}

static void test_a_remote_consumer_starting_at_latest_skips_the_past_of_never_committed_queues(void **state)
{
	(void)state;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	const uint64_t pid = 0xb000 + (net_rng() & 0xffff);
	struct shmq_net_produce_ack_hdr ack;
	assert_int_equal(produce(&k, "adm.latest", 0, 0, pid, 0, 5, 0, 0, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	shmq_client_t *c = remote_client(PRINCIPAL);
	SHMQ_CONSUMER_OPTS(o, .group = "g-latest", .topic = "adm.latest", .start = SHMQ_START_LATEST);
	shmq_consumer_t *cs = NULL;
	assert_int_equal(shmq_consumer_open(c, &o, &cs), 0);
	/* the first poll places every queue (it sweeps them all): nothing old */
	struct shmq_msg_view v[16];
	assert_int_equal(shmq_consumer_poll(cs, v, 16, 300000000ull), 0);
	assert_int_equal(produce(&k, "adm.latest", 0, 0, pid, 5, 3, 0, 5, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	uint64_t seqs[16];
	assert_int_equal(consume_seqs(cs, 3, seqs, 16), 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(seqs[i], 5 + i);
	shmq_consumer_close(cs);
	/* a queue its group committed resumes there, whatever the option: a
	 * member with a short lease commits 6 on queue 0 and goes silent */
	assert_int_equal(produce(&k, "adm.latest", 0, 0, pid, 8, 2, 0, 8, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	silent_member_commits(&k, "g-resume", "adm.latest", 1000, 0, 6);
	SHMQ_CONSUMER_OPTS(orr, .group = "g-resume", .topic = "adm.latest", .start = SHMQ_START_LATEST);
	assert_int_equal(shmq_consumer_open(c, &orr, &cs), 0);
	/* its queues come when the silent member's lease ran out (~1 s) */
	assert_int_equal(consume_seqs(cs, 4, seqs, 16), 4);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(seqs[i], 6 + i);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	conn_close(&k);
}

/* (queue, seq) of each message a consumer gets within ~@p wait_ns after the
 * last one came, in arrival order; each view's msg_id checked against its
 * store offset and the broker id. @return the count. */
struct got {
	uint32_t key;  /* = the queue it was produced to, in these tests */
	uint64_t seq;
	uint32_t queue;
	uint64_t store_offset;
};

static unsigned consume_all(shmq_consumer_t *cs, struct got *out, unsigned cap, unsigned want, uint64_t quiet_ns)
{
	struct shmq_msg_view v[16];
	unsigned got = 0;
	uint64_t last = itest_now_ns(), t0 = last;
	while (itest_now_ns() - t0 < 10000000000ull &&
	       (got < want || itest_now_ns() - last < quiet_ns)) {
		int n = shmq_consumer_poll(cs, v, 16, 100000000ull);
		assert_true(n >= 0);
		if (n > 0)
			last = itest_now_ns();
		for (int i = 0; i < n; i++) {
			struct itest_body_hdr h;
			assert_int_equal(itest_body_check(v[i].body, v[i].body_len, &h), 0);
			assert_true(v[i].store_offset != OFFSET_UNKNOWN);
			char id[SHMQ_MSGID_STRLEN + 1];
			assert_int_equal(shmq_msgid_encode(BROKER_ID, v[i].store_offset, id), 0);
			assert_string_equal(v[i].msg_id, id);
			if (got < cap)
				out[got] = (struct got){ .key = h.key, .seq = h.seq, .queue = v[i].queue_id,
							 .store_offset = v[i].store_offset };
			got++;
		}
	}
	return got;
}

/* Exactly keys/queues @p q[i] with seqs [lo[i], hi[i]) for i < n, each once. */
static void expect_exactly(const struct got *g, unsigned n_got, const uint32_t *q, const uint64_t *lo,
			   const uint64_t *hi, unsigned n)
{
	unsigned want = 0;
	for (unsigned i = 0; i < n; i++)
		want += (unsigned)(hi[i] - lo[i]);
	assert_int_equal(n_got, want);
	for (unsigned i = 0; i < n; i++) {
		uint64_t next = lo[i]; /* FIFO per queue */
		for (unsigned j = 0; j < n_got; j++) {
			if (g[j].key != q[i])
				continue;
			assert_int_equal(g[j].queue, q[i]);
			assert_int_equal(g[j].seq, next);
			next++;
		}
		assert_int_equal(next, hi[i]);
	}
}

/* Item 1 (docs/api.md "what differs remotely": nothing now): a remote
 * consumer with SHMQ_START_TIMESTAMP places each never-committed queue at the
 * first message stored at or after start_ts_ms (SEARCH_TIME over ADMIN), as a
 * local consumer with the same option does; a committed queue resumes at its
 * committed offset. Queue q holds key q, so (key, seq) names a message. */
static void test_a_remote_consumer_starting_at_a_timestamp_gets_exactly_the_messages_stored_since(void **state)
{
	(void)state;
	char topic[64];
	snprintf(topic, sizeof(topic), "adm.ts%04x", (unsigned)(net_rng() & 0xffff));
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	const uint64_t pid = 0xc000 + (net_rng() & 0xffff);
	uint64_t seq = 0;
	struct shmq_net_produce_ack_hdr ack;
	/* before T: 5 on queue 0, 2 on queue 2 (PERSISTED acks: stored) */
	assert_int_equal(produce(&k, topic, 0, 0, pid, seq, 5, 0, 0, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	seq += 5;
	assert_int_equal(produce(&k, topic, 2, 0, pid, seq, 2, 2, 0, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	seq += 2;
	/* store timestamps are wall-clock ms: T lies strictly between */
	itest_sleep_ms(15);
	const uint64_t T = shmq_wall_ms();
	itest_sleep_ms(15);
	/* since T: 4 more on queue 0, 3 on queue 1; queue 3 stays empty */
	assert_int_equal(produce(&k, topic, 0, 0, pid, seq, 4, 0, 5, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	seq += 4;
	assert_int_equal(produce(&k, topic, 1, 0, pid, seq, 3, 1, 0, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	seq += 3;

	static struct got g[64];
	const uint32_t q01[2] = { 0, 1 };
	const uint64_t lo01[2] = { 5, 0 }, hi01[2] = { 9, 3 };
	shmq_client_t *c = remote_client(PRINCIPAL);
	SHMQ_CONSUMER_OPTS(o, .group = "g-ts", .topic = topic, .start = SHMQ_START_TIMESTAMP, .start_ts_ms = T);
	shmq_consumer_t *cs = NULL;
	assert_int_equal(shmq_consumer_open(c, &o, &cs), 0);
	expect_exactly(g, consume_all(cs, g, 64, 7, 300000000ull), q01, lo01, hi01, 2);
	/* what comes later comes too, queue 3 included */
	assert_int_equal(produce(&k, topic, 3, 0, pid, seq, 2, 3, 0, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	seq += 2;
	const uint32_t q3[1] = { 3 };
	const uint64_t lo3[1] = { 0 }, hi3[1] = { 2 };
	expect_exactly(g, consume_all(cs, g, 64, 2, 200000000ull), q3, lo3, hi3, 1);
	shmq_consumer_close(cs);

	/* the same option on a local consumer of another group: the same messages */
	shmq_client_t *lc = local_client();
	SHMQ_CONSUMER_OPTS(lo, .group = "g-ts-local", .topic = topic, .start = SHMQ_START_TIMESTAMP,
			   .start_ts_ms = T, .visibility = SHMQ_VISIBLE_PERSISTED);
	assert_int_equal(shmq_consumer_open(lc, &lo, &cs), 0);
	const uint32_t q013[3] = { 0, 1, 3 };
	const uint64_t lo013[3] = { 5, 0, 0 }, hi013[3] = { 9, 3, 2 };
	expect_exactly(g, consume_all(cs, g, 64, 9, 300000000ull), q013, lo013, hi013, 3);
	shmq_consumer_close(cs);
	shmq_client_close(lc);

	/* a time past every message: only what is stored afterwards */
	SHMQ_CONSUMER_OPTS(of, .group = "g-ts-future", .topic = topic, .start = SHMQ_START_TIMESTAMP,
			   .start_ts_ms = shmq_wall_ms() + 1);
	assert_int_equal(shmq_consumer_open(c, &of, &cs), 0);
	struct shmq_msg_view v[4];
	assert_int_equal(shmq_consumer_poll(cs, v, 4, 300000000ull), 0); /* places every queue */
	itest_sleep_ms(5);
	assert_int_equal(produce(&k, topic, 2, 0, pid, seq, 1, 2, 2, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	seq += 1;
	const uint32_t q2[1] = { 2 };
	const uint64_t lo2[1] = { 2 }, hi2[1] = { 3 };
	expect_exactly(g, consume_all(cs, g, 64, 1, 200000000ull), q2, lo2, hi2, 1);
	shmq_consumer_close(cs);

	/* a queue the group committed resumes there, whatever the time: a
	 * member with a short lease commits 2 on queue 0 and goes silent */
	silent_member_commits(&k, "g-ts-resume", topic, 1000, 0, 2);
	SHMQ_CONSUMER_OPTS(orr, .group = "g-ts-resume", .topic = topic, .start = SHMQ_START_TIMESTAMP,
			   .start_ts_ms = T);
	assert_int_equal(shmq_consumer_open(c, &orr, &cs), 0);
	/* its queues come when the silent member's lease ran out (~1 s) */
	const uint32_t qr[4] = { 0, 1, 2, 3 };
	const uint64_t lor[4] = { 2, 0, 2, 0 }, hir[4] = { 9, 3, 3, 2 };
	expect_exactly(g, consume_all(cs, g, 64, 13, 300000000ull), qr, lor, hir, 4);
	shmq_consumer_close(cs);

	/* no consume right, no search: the ACL of the topic, as for PULL */
	SHMQ_CONSUMER_OPTS(ol, .group = "g-ts", .topic = "locked.ts", .start = SHMQ_START_TIMESTAMP,
			   .start_ts_ms = T);
	assert_int_equal(shmq_consumer_open(c, &ol, &cs), -EACCES);
	shmq_client_close(c);
	conn_close(&k);
}

/* The raw SEARCH_TIME answers of the ADMIN allowlist: ACL, unknown topic and
 * queue, an empty queue, and the bounds around the answer. */
static void test_search_time_over_admin_answers_as_the_consumequeue_search_and_obeys_the_acl(void **state)
{
	(void)state;
	char topic[64];
	snprintf(topic, sizeof(topic), "adm.st%04x", (unsigned)(net_rng() & 0xffff));
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	const uint64_t pid = 0xd000 + (net_rng() & 0xffff);
	struct shmq_net_produce_ack_hdr ack;
	assert_int_equal(produce(&k, topic, 1, 0, pid, 0, 3, 1, 0, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	itest_sleep_ms(15);
	const uint64_t T = shmq_wall_ms();
	itest_sleep_ms(15);
	assert_int_equal(produce(&k, topic, 1, 0, pid, 3, 2, 1, 3, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	static struct shmq_ctl_msg q, a;
	static uint8_t msg[SHMQ_CTL_MSG_MAX];
	struct { const char *topic; uint32_t queue; uint64_t ts; int rc; uint64_t off, min, max; } cases[] = {
		{ topic, 1, T, 0, 3, 0, 5 },           /* the first message since T */
		{ topic, 1, 0, 0, 0, 0, 5 },           /* everything */
		{ topic, 1, UINT64_MAX, 0, 5, 0, 5 },  /* nothing that recent: the end */
		{ topic, 2, T, 0, 0, 0, 0 },           /* a queue that stored nothing */
		{ topic, QUEUES, T, -EINVAL, 0, 0, 0 },
		{ "adm.no-such-topic", 0, T, SHMQ_ENOTFOUND, 0, 0, 0 },
		{ "locked.st", 0, T, -EACCES, 0, 0, 0 },
	};
	for (size_t i = 0; i < SHMQ_ARRAY_SIZE(cases); i++) {
		shmq_ctl_msg_init(&q, SHMQ_CTL_SEARCH_TIME, 0, 500 + i);
		assert_int_equal(shmq_ctl_name_set(q.u.search_time_req.topic, cases[i].topic, false), 0);
		q.u.search_time_req.queue = cases[i].queue;
		q.u.search_time_req.timestamp_ms = cases[i].ts;
		int n = shmq_ctl_encode(&q, msg, sizeof(msg));
		assert_true(n > 0);
		assert_int_equal(admin_raw(&k, msg, (uint32_t)n, &a), 0);
		assert_int_equal(a.request_id, 500 + i);
		if (cases[i].rc < 0) {
			assert_int_equal(a.type, SHMQ_CTL_ERROR);
			assert_int_equal(a.u.error.status, cases[i].rc);
			continue;
		}
		assert_int_equal(a.type, SHMQ_CTL_SEARCH_TIME);
		assert_int_equal(a.u.search_time_resp.queue, cases[i].queue);
		assert_int_equal(a.u.search_time_resp.offset, cases[i].off);
		assert_int_equal(a.u.search_time_resp.min_offset, cases[i].min);
		assert_int_equal(a.u.search_time_resp.max_offset, cases[i].max);
	}
	conn_close(&k);
}

/* Item 2: a custom selector; the queue count comes from TOPIC_OPEN at open. */
struct sel_log {
	unsigned calls;
	uint32_t queues_seen; /* every call's count; UINT32_MAX when they differed */
};

static uint32_t pick_by_first_byte_of_keys(void *arg, const struct shmq_message *m, uint32_t queues)
{
	struct sel_log *l = arg;
	if (l->calls++ == 0)
		l->queues_seen = queues;
	else if (l->queues_seen != queues)
		l->queues_seen = UINT32_MAX;
	return (uint32_t)(m->keys[0] - '0');
}

static void test_a_remote_custom_selector_knows_the_queue_count_before_the_first_send(void **state)
{
	(void)state;
	shmq_client_t *c = remote_client(PRINCIPAL);
	/* a topic that does not exist yet: created on open, as by a local
	 * producer's OPEN_QUEUE (auto_create, default_queues = QUEUES) */
	char topic[64];
	snprintf(topic, sizeof(topic), "rt.custom%04x", (unsigned)(net_rng() & 0xffff));
	struct sel_log log = { 0 };
	SHMQ_PRODUCER_OPTS(o, .topic = topic, .select = SHMQ_SELECT_CUSTOM, .selector = pick_by_first_byte_of_keys,
			   .selector_arg = &log, .delivery = SHMQ_DELIVERY_PERSISTED);
	shmq_producer_t *p = NULL;
	assert_int_equal(shmq_producer_open(c, &o, &p), 0);
	assert_int_equal(shmq_producer_queues(p), QUEUES);
	struct shmq_topic_info ti;
	assert_int_equal(shmq_topic_describe(c, topic, &ti), 0);
	assert_int_equal(ti.queues, QUEUES);
	uint8_t body[64];
	const unsigned n = 12;
	uint64_t per_queue[QUEUES] = { 0 };
	for (unsigned i = 0; i < n; i++) {
		uint32_t q = (i * 3) % QUEUES;
		char keys[8];
		snprintf(keys, sizeof(keys), "%u", q);
		itest_body_fill(body, sizeof(body), 1, q, per_queue[q]);
		struct shmq_message m = { .body = body, .body_len = sizeof(body), .keys = keys };
		struct shmq_send_result r;
		assert_int_equal(shmq_producer_send(p, &m, &r), 0);
		assert_int_equal(r.queue_id, q); /* the selector's pick, from the first send on */
		assert_int_equal(r.queue_offset, per_queue[q]);
		per_queue[q]++;
	}
	assert_int_equal(log.calls, n);
	assert_int_equal(log.queues_seen, QUEUES);
	shmq_producer_close(p);
	/* each queue holds what the selector put there, in order */
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	static struct pulled pl;
	for (uint32_t q = 0; q < QUEUES; q++) {
		assert_int_equal(pull(&k, "g-custom", topic, q, 0, 100, 0, &pl), 0);
		assert_int_equal(pl.n, per_queue[q]);
		for (uint32_t i = 0; i < pl.n; i++) {
			assert_int_equal(pl.body[i].key, q);
			assert_int_equal(pl.body[i].seq, i);
		}
	}
	conn_close(&k);

	/* an existing topic: its own count (2), not the default */
	char t2[64];
	snprintf(t2, sizeof(t2), "adm.custom%04x", (unsigned)(net_rng() & 0xffff));
	assert_int_equal(shmq_topic_create(c, t2, 2, &ti), 0);
	struct sel_log log2 = { 0 };
	SHMQ_PRODUCER_OPTS(o2, .topic = t2, .select = SHMQ_SELECT_CUSTOM, .selector = pick_by_first_byte_of_keys,
			   .selector_arg = &log2, .delivery = SHMQ_DELIVERY_RING);
	assert_int_equal(shmq_producer_open(c, &o2, &p), 0);
	assert_int_equal(shmq_producer_queues(p), 2);
	struct shmq_message m = { .body = body, .body_len = sizeof(body), .keys = "1" };
	struct shmq_send_result r;
	assert_int_equal(shmq_producer_send(p, &m, &r), 0);
	assert_int_equal(r.queue_id, 1);
	assert_int_equal(log2.queues_seen, 2);
	shmq_producer_close(p);

	/* refused as locally: no produce right; a custom selection without a selector */
	SHMQ_PRODUCER_OPTS(ol, .topic = "locked.custom", .select = SHMQ_SELECT_CUSTOM,
			   .selector = pick_by_first_byte_of_keys, .selector_arg = &log);
	assert_int_equal(shmq_producer_open(c, &ol, &p), -EACCES);
	assert_non_null(strstr(shmq_client_last_error(), "produce"));
	SHMQ_PRODUCER_OPTS(on, .topic = topic, .select = SHMQ_SELECT_CUSTOM);
	assert_int_equal(shmq_producer_open(c, &on, &p), -EINVAL);
	shmq_client_close(c);
}

/* Item 3: msg_id of remote sends, as a local send's: shmq_msgid_encode(broker
 * id, commitlog offset), resolvable by a local reader; "" at RING level. */
static void test_remote_sends_carry_the_message_id_a_local_reader_resolves(void **state)
{
	(void)state;
	shmq_client_t *c = remote_client(PRINCIPAL);
	shmq_client_t *lc = local_client();
	assert_int_equal(shmq_client_broker_id(c), BROKER_ID);
	assert_int_equal(shmq_client_broker_id(lc), BROKER_ID);
	const enum shmq_delivery levels[3] = { SHMQ_DELIVERY_PERSISTED, SHMQ_DELIVERY_DURABLE, SHMQ_DELIVERY_RING };
	for (unsigned l = 0; l < 3; l++) {
		SHMQ_PRODUCER_OPTS(o, .topic = "rt.msgid", .delivery = levels[l]);
		shmq_producer_t *p = NULL;
		assert_int_equal(shmq_producer_open(c, &o, &p), 0);
		uint8_t body[100];
		struct shmq_message m[3];
		struct shmq_send_result r[3];
		for (unsigned i = 0; i < 3; i++) {
			memset(body, (int)('a' + l), sizeof(body));
			m[i] = (struct shmq_message){ .body = body, .body_len = sizeof(body), .keys = "idk" };
		}
		assert_int_equal(shmq_producer_send_batch(p, m, 3, r), 3);
		for (unsigned i = 0; i < 3; i++) {
			if (levels[l] == SHMQ_DELIVERY_RING) {
				assert_string_equal(r[i].msg_id, "");
				continue;
			}
			char want[SHMQ_MSGID_STRLEN + 1];
			assert_true(r[i].store_offset != OFFSET_UNKNOWN);
			assert_int_equal(shmq_msgid_encode(BROKER_ID, r[i].store_offset, want), 0);
			assert_string_equal(r[i].msg_id, want);
			struct shmq_admin_msg am;
			assert_int_equal(shmq_admin_read_msgid(lc, r[i].msg_id, &am), 0);
			assert_int_equal(am.v.queue_id, r[i].queue_id);
			assert_int_equal(am.v.queue_offset, r[i].queue_offset);
			assert_int_equal(am.v.body_len, sizeof(body));
			assert_memory_equal(am.v.body, body, sizeof(body));
			shmq_admin_msg_free(&am);
		}
		shmq_producer_close(p);
	}
	shmq_client_close(lc);
	shmq_client_close(c);
}

/* Two reads of one message agree on every field a reader sees. */
static void admin_msg_equal(const struct shmq_admin_msg *a, const struct shmq_admin_msg *b)
{
	assert_string_equal(a->v.topic, b->v.topic);
	assert_int_equal(a->v.queue_id, b->v.queue_id);
	assert_int_equal(a->v.queue_offset, b->v.queue_offset);
	assert_int_equal(a->v.store_offset, b->v.store_offset);
	assert_string_equal(a->v.msg_id, b->v.msg_id);
	assert_int_equal(a->v.producer_id, b->v.producer_id);
	assert_int_equal(a->v.producer_seq, b->v.producer_seq);
	assert_int_equal(a->v.born_ts_ms, b->v.born_ts_ms);
	assert_int_equal(a->store_ts_ms, b->store_ts_ms);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->v.body_len, b->v.body_len);
	assert_memory_equal(a->v.body, b->v.body, a->v.body_len);
	assert_string_equal(a->v.keys ? a->v.keys : "", b->v.keys ? b->v.keys : "");
	assert_string_equal(a->v.tags ? a->v.tags : "", b->v.tags ? b->v.tags : "");
	const char *va, *vb;
	assert_int_equal(shmq_msg_prop(&a->v, "origin", &va), 0);
	assert_int_equal(shmq_msg_prop(&b->v, "origin", &vb), 0);
	assert_string_equal(va, vb);
}

/* Item 4: the message reads of shmq/admin.h over the network (READ_MSG over
 * ADMIN): the same message as a local read, or the same refusal. */
static void test_message_reads_by_id_offset_queue_and_key_work_over_the_network_as_locally(void **state)
{
	(void)state;
	shmq_client_t *c = remote_client(PRINCIPAL);
	shmq_client_t *lc = local_client();
	char key[32];
	snprintf(key, sizeof(key), "rk%08x", (unsigned)(net_rng() & 0xffffffffu));
	SHMQ_PRODUCER_OPTS(o, .topic = "rt.reads", .delivery = SHMQ_DELIVERY_PERSISTED);
	shmq_producer_t *p = NULL;
	assert_int_equal(shmq_producer_open(c, &o, &p), 0);
	uint8_t body[3][200];
	struct shmq_prop prop = { "origin", "remote-read" };
	struct shmq_send_result r[3];
	for (unsigned i = 0; i < 3; i++) {
		itest_body_fill(body[i], sizeof(body[i]), 9, i, i);
		struct shmq_message m = { .body = body[i], .body_len = sizeof(body[i]), .keys = key, .tags = "tR",
					  .props = &prop, .nprops = 1, .sharding_key = key,
					  .sharding_key_len = (uint32_t)strlen(key) };
		assert_int_equal(shmq_producer_send(p, &m, &r[i]), 0);
	}
	for (unsigned i = 0; i < 3; i++) {
		struct shmq_admin_msg rm, lm;
		assert_int_equal(shmq_admin_read_msgid(c, r[i].msg_id, &rm), 0);
		assert_int_equal(shmq_admin_read_msgid(lc, r[i].msg_id, &lm), 0);
		admin_msg_equal(&rm, &lm);
		assert_int_equal(rm.v.body_len, sizeof(body[i]));
		assert_memory_equal(rm.v.body, body[i], sizeof(body[i]));
		shmq_admin_msg_free(&rm);
		assert_int_equal(shmq_admin_read_offset(c, r[i].store_offset, &rm), 0);
		admin_msg_equal(&rm, &lm);
		shmq_admin_msg_free(&rm);
		assert_int_equal(shmq_admin_read_queue(c, "rt.reads", r[i].queue_id, r[i].queue_offset, &rm), 0);
		admin_msg_equal(&rm, &lm);
		shmq_admin_msg_free(&rm);
		shmq_admin_msg_free(&lm);
	}
	struct shmq_admin_msg *rq = NULL, *lq = NULL;
	assert_int_equal(shmq_admin_query_key(c, "rt.reads", key, 0, UINT64_MAX, 64, &rq), 3);
	assert_int_equal(shmq_admin_query_key(lc, "rt.reads", key, 0, UINT64_MAX, 64, &lq), 3);
	for (unsigned i = 0; i < 3; i++) {
		admin_msg_equal(&rq[i], &lq[i]);
		shmq_admin_msg_free(&rq[i]);
		shmq_admin_msg_free(&lq[i]);
	}
	free(rq);
	free(lq);

	/* refusals, as locally: past the queue's end, not a record, another
	 * broker's id, a queue the topic lacks */
	struct shmq_admin_msg x;
	assert_int_equal(shmq_admin_read_queue(c, "rt.reads", r[2].queue_id, r[2].queue_offset + 1000, &x),
			 SHMQ_ENOTFOUND);
	assert_true(shmq_admin_read_offset(c, r[0].store_offset + 8, &x) < 0);
	char other[SHMQ_MSGID_STRLEN + 1];
	assert_int_equal(shmq_msgid_encode(BROKER_ID + 1, r[0].store_offset, other), 0);
	assert_int_equal(shmq_admin_read_msgid(c, other, &x), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_admin_read_queue(c, "rt.reads", QUEUES, 0, &x), -EINVAL);
	shmq_producer_close(p);

	/* the consume right on the record's own topic (root stores to locked.*) */
	SHMQ_PRODUCER_OPTS(ol, .topic = "locked.reads", .delivery = SHMQ_DELIVERY_PERSISTED);
	assert_int_equal(shmq_producer_open(lc, &ol, &p), 0);
	struct shmq_message lm1 = { .body = body[0], .body_len = sizeof(body[0]) };
	struct shmq_send_result lr;
	assert_int_equal(shmq_producer_send(p, &lm1, &lr), 0);
	assert_int_equal(shmq_admin_read_offset(c, lr.store_offset, &x), -EACCES);
	assert_int_equal(shmq_admin_read_msgid(c, lr.msg_id, &x), -EACCES);
	assert_int_equal(shmq_admin_read_queue(c, "locked.reads", lr.queue_id, lr.queue_offset, &x), -EACCES);
	assert_int_equal(shmq_admin_read_offset(lc, lr.store_offset, &x), 0);
	shmq_admin_msg_free(&x);
	shmq_producer_close(p);

	/* a record larger than an answer carries: SHMQ_ETOOBIG, said clearly */
	SHMQ_PRODUCER_OPTS(ob, .topic = "rt.reads", .delivery = SHMQ_DELIVERY_PERSISTED);
	assert_int_equal(shmq_producer_open(c, &ob, &p), 0);
	static uint8_t big[SHMQ_CTL_RECORD_MAX];
	itest_body_fill(big, sizeof(big), 9, 9, 9);
	struct shmq_message bm = { .body = big, .body_len = sizeof(big) };
	struct shmq_send_result br;
	assert_int_equal(shmq_producer_send(p, &bm, &br), 0);
	assert_int_equal(shmq_admin_read_msgid(c, br.msg_id, &x), SHMQ_ETOOBIG);
	assert_non_null(strstr(shmq_client_last_error(), "bytes"));
	assert_int_equal(shmq_admin_read_msgid(lc, br.msg_id, &x), 0); /* locally: mapped, any size */
	assert_int_equal(x.v.body_len, sizeof(big));
	shmq_admin_msg_free(&x);
	shmq_producer_close(p);
	shmq_client_close(lc);
	shmq_client_close(c);
}

/* Last: stops the broker to read its counters. */
/* The broker dies after storing batches whose answers the client may not
 * have (one PERSISTED batch, one RING batch that may still sit in its ring
 * at the kill). A new broker learns the producer's stream from the store:
 * both resends are duplicates answered with the stored offsets, the stream
 * continues at the right sequence, and the queue holds every message once. */
static void test_a_batch_resent_after_a_broker_kill_is_answered_from_the_store_not_stored_again(void **state)
{
	(void)state;
	const char *topic = "rt.restart";
	const uint32_t q = 1;
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	const uint64_t pid = 0x5000 + (net_rng() & 0xffff);
	struct shmq_net_produce_ack_hdr a;
	struct shmq_net_produce_result r1[5], r2[5], rr[5];
	assert_int_equal(produce(&k, topic, q, 0, pid, 50, 5, 3, 0, 64, &a, r1), 0);
	assert_int_equal(a.status, 0);
	produce_delivery = SHMQ_NET_DELIVERY_RING;
	assert_int_equal(produce(&k, topic, q, 0, pid, 55, 5, 3, 5, 64, &a, r2), 0);
	produce_delivery = SHMQ_NET_DELIVERY_PERSISTED;
	assert_int_equal(a.status, 0);
	assert_int_equal(r2[0].queue_offset, SHMQ_OFFSET_UNKNOWN); /* RING: not stored yet */
	itest_broker_kill(&broker);
	conn_close(&k);
	assert_int_equal(itest_broker_restart(&broker), 0);
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 20000000000ull), 0);
	/* the PERSISTED batch again: its original offsets */
	assert_int_equal(produce(&k, topic, q, 0, pid, 50, 5, 3, 0, 64, &a, rr), 0);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.count, 5);
	assert_memory_equal(rr, r1, sizeof(r1));
	/* the RING batch again: stored once, now with its offsets */
	assert_int_equal(produce(&k, topic, q, 0, pid, 55, 5, 3, 5, 64, &a, rr), 0);
	assert_int_equal(a.status, 0);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(rr[i].queue_offset, r1[4].queue_offset + 1 + i);
	/* the stream goes on where it stopped; a gap is still refused */
	assert_int_equal(produce(&k, topic, q, 0, pid, 62, 1, 3, 12, 64, &a, NULL), 0);
	assert_int_equal(a.status, SHMQ_ESEQGAP);
	assert_int_equal(a.next_seq, 60);
	assert_int_equal(produce(&k, topic, q, 0, pid, 60, 1, 3, 10, 64, &a, rr), 0);
	assert_int_equal(a.status, 0);
	assert_int_equal(rr[0].queue_offset, r1[4].queue_offset + 6);
	static struct pulled pl;
	assert_int_equal(pull(&k, "g", topic, q, 0, 100, 0, &pl), 0);
	assert_int_equal(pl.n, 11);
	for (uint32_t i = 0; i < pl.n; i++)
		assert_int_equal(pl.body[i].seq, i);
	conn_close(&k);
}

static void test_garbage_frames_are_counted_and_ignored(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint8_t junk[600];
	const unsigned n = 50;
	for (unsigned i = 0; i < n; i++) {
		for (size_t j = 0; j < sizeof(junk); j++)
			junk[j] = (uint8_t)net_rng();
		if (i % 2 == 0) /* half with our magic, so the header is parsed further */
			memcpy(junk, "SQNT", 4);
		assert_true(sendto(fd, junk, 1 + net_rng() % sizeof(junk), 0, (struct sockaddr *)&a, sizeof(a)) > 0);
	}
	close(fd);
	/* the port still serves */
	struct conn k;
	assert_int_equal(conn_open(&k, PRINCIPAL, SECRET, 10000000000ull), 0);
	struct shmq_net_produce_ack_hdr ack;
	assert_int_equal(produce(&k, "rt.after", 0, 0, 0x7000, 0, 1, 0, 0, 64, &ack, NULL), 0);
	assert_int_equal(ack.status, 0);
	conn_close(&k);
	/* STATUS reports the remote port's counters */
	shmq_client_t *c;
	struct shmq_broker_status st;
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	for (int i = 0; i < 100; i++) { /* the counters are published every 100 ms */
		assert_int_equal(shmq_admin_status(c, &st), 0);
		if (st.remote.garbage >= n && st.remote.produced >= 1)
			break;
		itest_sleep_ms(20);
	}
	shmq_client_close(c);
	fprintf(stderr, "broker counted %" PRIu64 " garbage frames of %u sent, %" PRIu64 " frames\n",
		st.remote.garbage, n, st.remote.frames);
	assert_true(st.remote.garbage >= n);
	assert_true(st.remote.frames >= st.remote.garbage + 1);
	assert_true(st.remote.requests >= 1);
	assert_true(st.remote.produced >= 1);
	assert_int_equal(itest_broker_stop(&broker), 0);
}

int main(void)
{
	if (!itest_shmqd_path()) {
		fprintf(stderr, "skip: env SHMQD does not name the shmqd binary\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_with_the_secret_opens_a_session_and_a_forged_one_is_not_answered),
		cmocka_unit_test(test_produce_then_pull_keeps_every_key_in_order),
		cmocka_unit_test(test_a_resent_produce_is_answered_with_the_same_offsets_and_a_gap_is_refused),
		cmocka_unit_test(test_pipelined_batches_are_answered_in_order_and_a_concurrent_resend_waits),
		cmocka_unit_test(test_a_long_poll_pull_is_answered_when_a_message_arrives),
		cmocka_unit_test(test_a_pull_beyond_the_end_waits_and_never_returns_older_messages),
		cmocka_unit_test(test_a_commit_is_seen_by_the_next_member_and_leases_carry_queues),
		cmocka_unit_test(test_the_acl_refuses_a_principal_it_does_not_grant),
		cmocka_unit_test(test_a_producer_id_belongs_to_the_principal_that_used_it_first),
		cmocka_unit_test(test_a_one_mib_message_goes_through),
		cmocka_unit_test(test_ten_percent_loss_loses_and_duplicates_nothing),
		cmocka_unit_test(test_an_expired_lease_is_a_member_gone_and_its_queues_move),
		cmocka_unit_test(test_startup_refuses_a_world_readable_secret_and_a_dpdk_address_without_port),
		cmocka_unit_test(test_topics_are_created_described_and_listed_over_the_network),
		cmocka_unit_test(test_status_over_the_network_is_the_brokers_and_counts_the_requests),
		cmocka_unit_test(test_group_progress_and_reset_work_over_the_network),
		cmocka_unit_test(test_query_by_key_over_the_network_finds_every_stored_message),
		cmocka_unit_test(test_admin_requests_obey_the_acl_for_the_remote_principal),
		cmocka_unit_test(test_a_control_request_that_needs_an_fd_or_a_connection_is_refused_with_eopnotsupp),
		cmocka_unit_test(test_garbage_control_bytes_inside_an_admin_frame_are_refused_without_harm),
		cmocka_unit_test(test_a_remote_consumer_starting_at_latest_skips_the_past_of_never_committed_queues),
		cmocka_unit_test(test_a_remote_consumer_starting_at_a_timestamp_gets_exactly_the_messages_stored_since),
		cmocka_unit_test(test_search_time_over_admin_answers_as_the_consumequeue_search_and_obeys_the_acl),
		cmocka_unit_test(test_a_remote_custom_selector_knows_the_queue_count_before_the_first_send),
		cmocka_unit_test(test_remote_sends_carry_the_message_id_a_local_reader_resolves),
		cmocka_unit_test(test_message_reads_by_id_offset_queue_and_key_work_over_the_network_as_locally),
		/* restarts the broker: the counters start again */
		cmocka_unit_test(test_a_batch_resent_after_a_broker_kill_is_answered_from_the_store_not_stored_again),
		cmocka_unit_test(test_garbage_frames_are_counted_and_ignored), /* last: stops the broker */
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
