/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The broker is SIGKILLed twice under load and restarted on the same
 * directories while producer processes keep sending:
 *  - durable mode (sync-flush broker, SHMQ_DELIVERY_DURABLE): every message
 *    whose send returned 0 is stored;
 *  - ring mode (async broker, SHMQ_DELIVERY_RING): every message committed
 *    to the ring (send returned 0) is stored, since the ring file outlives
 *    the broker and the restarted broker persists what it holds;
 *  - in both, the producers go on by themselves: each has sends acknowledged
 *    after the last restart.
 * A consumer reading from the earliest offset afterwards must find every
 * acknowledged message (duplicates are allowed: a send that failed during
 * the outage may have been stored; a message is never stored twice under
 * two different bodies).
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

#define TOPIC "cr"
#define QUEUES 4u
#define PRODUCERS 3
#define MAX_SEQ (1u << 20)
#define POLL_MAX 64u

struct shared {
	const char *sock;
	int delivery;
	_Atomic int stop;
	_Atomic uint64_t acked[PRODUCERS];      /* sends that returned 0 */
	_Atomic uint64_t failed[PRODUCERS];     /* sends that returned an error (not back-pressure) */
	_Atomic uint64_t next_seq[PRODUCERS];
	uint8_t ack_map[PRODUCERS][MAX_SEQ / 8];  /* written by each producer */
	uint8_t seen_map[PRODUCERS][MAX_SEQ / 8]; /* written by the checking consumer */
	_Atomic uint64_t seen;
	uint64_t bad;
};

static struct shared *g;
static struct itest_broker broker;

static int producer_child(void *arg)
{
	int me = (int)(uintptr_t)arg;
	SHMQ_PRODUCER_OPTS(o, .topic = TOPIC, .delivery = (enum shmq_delivery)g->delivery,
			   .send_timeout_ns = 200ull * 1000 * 1000, .ack_timeout_ns = 3ull * 1000 * 1000 * 1000);
	SHMQ_CLIENT_OPTS(co, .reconnect_timeout_ns = 20ull * 1000 * 1000 * 1000);
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	uint8_t body[80];
	uint64_t seq = 0;
	int rc;

	rc = shmq_client_open(g->sock, &co, &c);
	if (rc || (rc = shmq_producer_open(c, &o, &p))) {
		fprintf(stderr, "producer %d: open: %s\n", me, shmq_strerror(rc));
		return 1;
	}
	/* acquire: pairs with the parent's release */
	while (!atomic_load_explicit(&g->stop, memory_order_acquire) && seq < MAX_SEQ) {
		struct shmq_message m = { .body = body, .body_len = sizeof(body) };

		itest_body_fill(body, sizeof(body), (uint32_t)me, 0, seq);
		rc = shmq_producer_send(p, &m, NULL);
		if (rc == SHMQ_BACK_PRESSURED)
			continue;
		if (rc == 0) {
			g->ack_map[me][seq / 8] |= (uint8_t)(1u << (seq % 8));
			/* relaxed: progress for the parent; the map is read after exit */
			atomic_fetch_add_explicit(&g->acked[me], 1, memory_order_relaxed);
		} else {
			/* the outage: not acknowledged, may or may not be stored */
			atomic_fetch_add_explicit(&g->failed[me], 1, memory_order_relaxed);
			itest_sleep_ms(5);
		}
		seq++;
		atomic_store_explicit(&g->next_seq[me], seq, memory_order_relaxed);
		if (g->delivery == SHMQ_DELIVERY_RING && seq % 32 == 0)
			itest_sleep_ms(1); /* ring mode: <= ~30k msg/s per producer, enough load */
	}
	shmq_producer_close(p);
	shmq_client_close(c);
	return 0;
}

static int checker_child(void *arg)
{
	SHMQ_CONSUMER_OPTS(o, .group = "cr-check", .topic = TOPIC, .start = SHMQ_START_EARLIEST,
			   .visibility = SHMQ_VISIBLE_PERSISTED);
	struct shmq_msg_view v[POLL_MAX];
	shmq_client_t *c = NULL;
	shmq_consumer_t *cs = NULL;
	uint64_t idle_since = itest_now_ns();
	int rc;

	(void)arg;
	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_consumer_open(c, &o, &cs))) {
		fprintf(stderr, "checker: open: %s\n", shmq_strerror(rc));
		return 1;
	}
	/* until nothing new came for 3 s */
	while (itest_now_ns() - idle_since < 3ull * 1000000000ull) {
		int k = shmq_consumer_poll(cs, v, POLL_MAX, 100 * 1000 * 1000);

		if (k < 0) {
			fprintf(stderr, "checker: poll: %s\n", shmq_strerror(k));
			return 1;
		}
		if (k > 0)
			idle_since = itest_now_ns();
		for (int i = 0; i < k; i++) {
			struct itest_body_hdr h;

			if (itest_body_check(v[i].body, v[i].body_len, &h) || h.producer >= PRODUCERS ||
			    h.seq >= MAX_SEQ) {
				g->bad++;
				continue;
			}
			g->seen_map[h.producer][h.seq / 8] |= (uint8_t)(1u << (h.seq % 8));
			atomic_fetch_add_explicit(&g->seen, 1, memory_order_relaxed);
		}
	}
	shmq_consumer_close(cs);
	shmq_client_close(c);
	return 0;
}

static uint64_t total_acked(int p)
{
	/* relaxed: progress only */
	return atomic_load_explicit(&g->acked[p], memory_order_relaxed);
}

static void run_crash_test(bool sync_flush, enum shmq_delivery delivery)
{
	struct itest_broker_opts o = { .sync_flush = sync_flush };
	shmq_client_t *c = NULL;
	pid_t prod[PRODUCERS], checker;
	uint64_t after_restart[PRODUCERS], lost = 0, acked = 0;

	memset(g, 0, sizeof(*g));
	g->delivery = delivery;
	assert_int_equal(itest_broker_start(&broker, &o), 0);
	g->sock = broker.sock;
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	assert_int_equal(shmq_topic_create(c, TOPIC, QUEUES, NULL), 0);
	shmq_client_close(c);
	for (uintptr_t i = 0; i < PRODUCERS; i++) {
		prod[i] = itest_spawn(producer_child, (void *)i);
		assert_true(prod[i] > 0);
	}
	for (int round = 0; round < 2; round++) {
		itest_sleep_ms(1000);
		fprintf(stderr, "SIGKILL broker (acked so far %" PRIu64 "/%" PRIu64 "/%" PRIu64 ")\n",
			total_acked(0), total_acked(1), total_acked(2));
		for (int p = 0; p < PRODUCERS; p++)
			assert_true(total_acked(p) > 0);
		itest_broker_kill(&broker);
		itest_sleep_ms(300);
		assert_int_equal(itest_broker_restart(&broker), 0);
	}
	for (int p = 0; p < PRODUCERS; p++)
		after_restart[p] = total_acked(p);
	itest_sleep_ms(1500);
	/* release: pairs with the producers' acquire */
	atomic_store_explicit(&g->stop, 1, memory_order_release);
	for (int p = 0; p < PRODUCERS; p++)
		assert_int_equal(itest_wait(prod[p], 30000), 0);
	for (int p = 0; p < PRODUCERS; p++) {
		fprintf(stderr, "producer %d: %" PRIu64 " acknowledged (%" PRIu64 " after the last restart), %" PRIu64
			" failed during the outages\n", p, total_acked(p), total_acked(p) - after_restart[p],
			(uint64_t)atomic_load_explicit(&g->failed[p], memory_order_relaxed));
		/* the producers went on by themselves */
		assert_true(total_acked(p) > after_restart[p]);
	}
	checker = itest_spawn(checker_child, NULL);
	assert_int_equal(itest_wait(checker, 120000), 0);
	for (int p = 0; p < PRODUCERS; p++)
		for (uint64_t s = 0; s < MAX_SEQ; s++)
			if (g->ack_map[p][s / 8] & (1u << (s % 8))) {
				acked++;
				if (!(g->seen_map[p][s / 8] & (1u << (s % 8)))) {
					if (lost++ < 10)
						fprintf(stderr, "LOST: producer %d seq %" PRIu64 " was acknowledged\n", p, s);
				}
			}
	fprintf(stderr, "%" PRIu64 " acknowledged, %" PRIu64 " read back (with duplicates), %" PRIu64 " lost, %" PRIu64
		" bad\n", acked, (uint64_t)atomic_load_explicit(&g->seen, memory_order_relaxed), lost, g->bad);
	assert_int_equal(g->bad, 0);
	assert_int_equal(lost, 0);
	assert_int_equal(itest_broker_stop(&broker), 0);
	itest_broker_cleanup(&broker);
}

static void test_durable_sends_survive_broker_sigkill_and_restart(void **state)
{
	(void)state;
	(void)itest_seed("broker_crash_durable");
	run_crash_test(true, SHMQ_DELIVERY_DURABLE);
}

static void test_ring_committed_sends_survive_broker_sigkill_and_restart(void **state)
{
	(void)state;
	(void)itest_seed("broker_crash_ring");
	run_crash_test(false, SHMQ_DELIVERY_RING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ITEST_BROKER_TEST(test_durable_sends_survive_broker_sigkill_and_restart, broker),
		ITEST_BROKER_TEST(test_ring_committed_sends_survive_broker_sigkill_and_restart, broker),
	};

	g = itest_shared_alloc(sizeof(*g));
	return ITEST_RUN_GROUP(tests, g, sizeof(*g));
}
