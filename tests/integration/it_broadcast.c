/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Broadcasting: every member of a broadcasting group owns every queue and
 * receives every message, each exactly once, in per-queue order.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shmq/shmq.h"
#include "tests/integration/itest_cmocka.h"

#define TOPIC "bc"
#define QUEUES 4u
#define MEMBERS 2
#define MAX_MSGS 20000u
#define POLL_MAX 32u

struct shared {
	const char *sock;
	uint32_t total;
	_Atomic int ready[MEMBERS];
	_Atomic int producer_done;
	uint64_t received[MEMBERS], duplicates[MEMBERS], disorder[MEMBERS], bad[MEMBERS];
	uint32_t assigned[MEMBERS];
	uint8_t seen[MEMBERS][MAX_MSGS];
};

static struct shared *g;
static struct itest_broker broker;

static int producer_child(void *arg)
{
	SHMQ_PRODUCER_OPTS(o, .topic = TOPIC);  /* round robin over the queues, RING delivery */
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	uint8_t body[64];
	int rc;

	(void)arg;
	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_producer_open(c, &o, &p))) {
		fprintf(stderr, "producer: open: %s\n", shmq_strerror(rc));
		return 1;
	}
	for (uint32_t i = 0; i < g->total;) {
		struct shmq_message m = { .body = body, .body_len = sizeof(body) };

		itest_body_fill(body, sizeof(body), 0, 0, i);
		rc = shmq_producer_send(p, &m, NULL);
		if (rc == SHMQ_BACK_PRESSURED)
			continue;
		if (rc) {
			fprintf(stderr, "producer: send: %s\n", shmq_strerror(rc));
			return 1;
		}
		i++;
	}
	shmq_producer_close(p);
	shmq_client_close(c);
	return 0;
}

static int member_child(void *arg)
{
	int me = (int)(uintptr_t)arg;
	SHMQ_CONSUMER_OPTS(o, .group = "bc-g", .topic = TOPIC, .mode = SHMQ_CONSUME_BROADCASTING);
	struct shmq_msg_view v[POLL_MAX];
	uint64_t next[QUEUES] = { 0 }, deadline = itest_now_ns() + 60ull * 1000000000ull;
	int have[QUEUES] = { 0 };
	uint32_t q[QUEUES + 1];
	shmq_client_t *c = NULL;
	shmq_consumer_t *cs = NULL;
	int rc;

	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_consumer_open(c, &o, &cs))) {
		fprintf(stderr, "member %d: open: %s\n", me, shmq_strerror(rc));
		return 1;
	}
	/* One poll settles the start positions (latest: the topic is empty). */
	rc = shmq_consumer_poll(cs, v, POLL_MAX, 10 * 1000 * 1000);
	if (rc != 0) {
		fprintf(stderr, "member %d: first poll: %d\n", me, rc);
		return 1;
	}
	g->assigned[me] = (uint32_t)shmq_consumer_assignment(cs, q, QUEUES + 1);
	/* release: pairs with the parent's acquire */
	atomic_store_explicit(&g->ready[me], 1, memory_order_release);
	while (g->received[me] < g->total && itest_now_ns() < deadline) {
		int k = shmq_consumer_poll(cs, v, POLL_MAX, 100 * 1000 * 1000);

		if (k < 0) {
			fprintf(stderr, "member %d: poll: %s\n", me, shmq_strerror(k));
			return 1;
		}
		for (int i = 0; i < k; i++) {
			struct itest_body_hdr h;

			if (itest_body_check(v[i].body, v[i].body_len, &h) || h.seq >= g->total ||
			    v[i].queue_id >= QUEUES) {
				g->bad[me]++;
				continue;
			}
			/* per-queue order: offsets consecutive from the first one seen */
			if (have[v[i].queue_id] && v[i].queue_offset != next[v[i].queue_id])
				g->disorder[me]++;
			have[v[i].queue_id] = 1;
			next[v[i].queue_id] = v[i].queue_offset + 1;
			if (g->seen[me][h.seq]++)
				g->duplicates[me]++;
			g->received[me]++;
		}
	}
	shmq_consumer_close(cs);
	shmq_client_close(c);
	return 0;
}

static void test_every_broadcasting_member_receives_every_message_once(void **state)
{
	shmq_client_t *c = NULL;
	pid_t members[MEMBERS], prod;

	(void)state;
	(void)itest_seed("broadcast");
	g->total = 5000 * itest_scale();
	if (g->total > MAX_MSGS)
		g->total = MAX_MSGS;
	assert_int_equal(itest_broker_start(&broker, NULL), 0);
	g->sock = broker.sock;
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	assert_int_equal(shmq_topic_create(c, TOPIC, QUEUES, NULL), 0);
	shmq_client_close(c);
	for (uintptr_t i = 0; i < MEMBERS; i++) {
		members[i] = itest_spawn(member_child, (void *)i);
		assert_true(members[i] > 0);
	}
	for (int w = 0; w < 2000; w++) {
		/* acquire: pairs with the members' release */
		if (atomic_load_explicit(&g->ready[0], memory_order_acquire) &&
		    atomic_load_explicit(&g->ready[1], memory_order_acquire))
			break;
		itest_sleep_ms(10);
	}
	prod = itest_spawn(producer_child, NULL);
	assert_int_equal(itest_wait(prod, 60000), 0);
	for (int i = 0; i < MEMBERS; i++)
		assert_int_equal(itest_wait(members[i], 70000), 0);
	for (int i = 0; i < MEMBERS; i++) {
		fprintf(stderr, "member %d: %u queues, received %" PRIu64 ", duplicates %" PRIu64
			", out of order %" PRIu64 ", bad %" PRIu64 "\n", i, g->assigned[i], g->received[i],
			g->duplicates[i], g->disorder[i], g->bad[i]);
		assert_int_equal(g->assigned[i], QUEUES);
		assert_int_equal(g->bad[i], 0);
		assert_int_equal(g->disorder[i], 0);
		assert_int_equal(g->duplicates[i], 0);
		assert_int_equal(g->received[i], g->total);
		for (uint32_t s = 0; s < g->total; s++)
			assert_int_equal(g->seen[i][s], 1);
	}
	assert_int_equal(itest_broker_stop(&broker), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ITEST_BROKER_TEST(test_every_broadcasting_member_receives_every_message_once, broker),
	};

	g = itest_shared_alloc(sizeof(*g));
	return ITEST_RUN_GROUP(tests, g, sizeof(*g));
}
