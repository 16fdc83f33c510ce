/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A consumer that falls behind a small ring reads the commitlog through the
 * consumequeue, catches up, and re-joins the ring: it receives every
 * message exactly once and in order (no gap at either switch), first from
 * the log (stats from_log > 0) and, once caught up, from the ring
 * (from_ring > 0 for the messages sent while it keeps up).
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

#define TOPIC "cu"
#define POLL_MAX 64u
#define BODY 256u

struct shared {
	const char *sock;
	uint32_t n1, n2;               /* behind phase, live phase */
	int slow;                      /* consume from the start, too slowly, while n1 is sent */
	_Atomic int consumer_ready;
	_Atomic int phase1_sent;
	_Atomic int consume;           /* the consumer may start polling */
	_Atomic int caught_up;
	uint64_t received, out_of_order, bad;
	struct shmq_consumer_stats behind, end;
	uint64_t first_gap_at, first_gap_got;
};

static struct shared *g;
static struct itest_broker broker;

static int send_range(shmq_producer_t *p, uint32_t from, uint32_t to, int paced)
{
	uint8_t body[BODY];

	for (uint32_t i = from; i < to;) {
		struct shmq_message m = { .body = body, .body_len = BODY };
		int rc;

		itest_body_fill(body, BODY, 0, 0, i);
		rc = shmq_producer_send(p, &m, NULL);
		if (rc == SHMQ_BACK_PRESSURED)
			continue;
		if (rc) {
			fprintf(stderr, "producer: send %u: %s\n", i, shmq_strerror(rc));
			return 1;
		}
		i++;
		if (paced && i % 16 == 0)
			itest_sleep_ms(1);
	}
	return 0;
}

static int producer_child(void *arg)
{
	/* PERSISTED: when the first phase returns, all of it is in the
	 * commitlog; the slow-consumer run floods the ring instead */
	SHMQ_PRODUCER_OPTS(o, .topic = TOPIC,
			   .delivery = g->slow ? SHMQ_DELIVERY_RING : SHMQ_DELIVERY_PERSISTED);
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	int rc;

	(void)arg;
	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_producer_open(c, &o, &p))) {
		fprintf(stderr, "producer: open: %s\n", shmq_strerror(rc));
		return 1;
	}
	if (send_range(p, 0, g->n1, 0))
		return 1;
	/* release: pairs with the parent's acquire */
	atomic_store_explicit(&g->phase1_sent, 1, memory_order_release);
	/* acquire: pairs with the consumer's release: it reached the end */
	while (!atomic_load_explicit(&g->caught_up, memory_order_acquire))
		itest_sleep_ms(1);
	if (send_range(p, g->n1, g->n1 + g->n2, 1))
		return 1;
	shmq_producer_close(p);
	shmq_client_close(c);
	return 0;
}

static int consumer_child(void *arg)
{
	SHMQ_CONSUMER_OPTS(o, .group = "cu-g", .topic = TOPIC, .start = SHMQ_START_EARLIEST);
	struct shmq_msg_view v[POLL_MAX];
	uint64_t deadline = itest_now_ns() + 60ull * 1000000000ull, total = (uint64_t)g->n1 + g->n2;
	shmq_client_t *c = NULL;
	shmq_consumer_t *cs = NULL;
	int rc;

	(void)arg;
	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_consumer_open(c, &o, &cs))) {
		fprintf(stderr, "consumer: open: %s\n", shmq_strerror(rc));
		return 1;
	}
	rc = shmq_consumer_poll(cs, v, POLL_MAX, 10 * 1000 * 1000);
	if (rc) {
		fprintf(stderr, "consumer: first poll: %d\n", rc);
		return 1;
	}
	/* release: pairs with the parent's acquire */
	atomic_store_explicit(&g->consumer_ready, 1, memory_order_release);
	/* acquire: pairs with the parent's release after the first phase */
	while (!atomic_load_explicit(&g->consume, memory_order_acquire))
		itest_sleep_ms(1);
	while (g->received < total && itest_now_ns() < deadline) {
		int k = shmq_consumer_poll(cs, v, g->slow && g->received < g->n1 / 2 ? 8 : POLL_MAX,
					   100 * 1000 * 1000);

		if (k < 0) {
			fprintf(stderr, "consumer: poll: %s\n", shmq_strerror(k));
			return 1;
		}
		/* lapped on purpose: ~8 messages per ms while the ring fills faster */
		if (g->slow && g->received < g->n1 / 2)
			itest_sleep_ms(1);
		for (int i = 0; i < k; i++) {
			struct itest_body_hdr h;

			if (itest_body_check(v[i].body, v[i].body_len, &h)) {
				g->bad++;
				continue;
			}
			if (h.seq != g->received || v[i].queue_offset != g->received) {
				if (!g->out_of_order++) {
					g->first_gap_at = g->received;
					g->first_gap_got = h.seq;
				}
			}
			g->received++;
			if (g->received == g->n1) {
				shmq_consumer_stats(cs, &g->behind);
				/* release: pairs with the producer's acquire */
				atomic_store_explicit(&g->caught_up, 1, memory_order_release);
			}
		}
	}
	shmq_consumer_stats(cs, &g->end);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	return 0;
}

static void print_stats(const char *when, const struct shmq_consumer_stats *s)
{
	fprintf(stderr, "%s: delivered %" PRIu64 ", from ring %" PRIu64 ", from log %" PRIu64 ", overruns %" PRIu64
		"\n", when, s->delivered, s->from_ring, s->from_log, s->overruns);
}

static void run_catchup(int slow)
{
	struct itest_broker_opts o = { .ring_capacity = "64K", .max_message_size = "4K" };
	shmq_client_t *c = NULL;
	pid_t cons, prod;

	memset(g, 0, sizeof(*g));
	g->slow = slow;
	/* ~1.5 MB behind: 25x the ring */
	g->n1 = 5000 * itest_scale();
	g->n2 = 2000;
	assert_int_equal(itest_broker_start(&broker, &o), 0);
	g->sock = broker.sock;
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	assert_int_equal(shmq_topic_create(c, TOPIC, 1, NULL), 0);
	shmq_client_close(c);
	cons = itest_spawn(consumer_child, NULL);
	assert_true(cons > 0);
	for (int w = 0; w < 2000 && !atomic_load_explicit(&g->consumer_ready, memory_order_acquire); w++)
		itest_sleep_ms(10);
	prod = itest_spawn(producer_child, NULL);
	assert_true(prod > 0);
	if (slow) /* release: pairs with the consumer's acquire */
		atomic_store_explicit(&g->consume, 1, memory_order_release);
	for (int w = 0; w < 6000 && !atomic_load_explicit(&g->phase1_sent, memory_order_acquire); w++)
		itest_sleep_ms(10);
	assert_true(atomic_load_explicit(&g->phase1_sent, memory_order_acquire));
	/* release: pairs with the consumer's acquire */
	atomic_store_explicit(&g->consume, 1, memory_order_release);
	assert_int_equal(itest_wait(prod, 60000), 0);
	assert_int_equal(itest_wait(cons, 70000), 0);
	print_stats("caught up", &g->behind);
	print_stats("end", &g->end);
	fprintf(stderr, "received %" PRIu64 " of %u, out of order %" PRIu64 " (first at %" PRIu64 ": got %" PRIu64
		"), bad %" PRIu64 "\n", g->received, g->n1 + g->n2, g->out_of_order, g->first_gap_at,
		g->first_gap_got, g->bad);
	assert_int_equal(g->bad, 0);
	assert_int_equal(g->out_of_order, 0);
	assert_int_equal(g->received, (uint64_t)g->n1 + g->n2);
	assert_true(g->behind.from_log > 0);
	if (slow) /* it read the ring first and was lapped */
		assert_true(g->end.overruns > 0 && g->behind.from_ring > 0);
	assert_true(g->end.from_ring > g->behind.from_ring);
	assert_int_equal(g->end.delivered, g->received);
	assert_int_equal(g->end.from_ring + g->end.from_log, g->end.delivered);
	assert_int_equal(itest_broker_stop(&broker), 0);
	itest_broker_cleanup(&broker);
}

static void test_consumer_behind_the_ring_catches_up_through_the_commitlog_without_a_gap(void **state)
{
	(void)state;
	(void)itest_seed("catchup");
	run_catchup(0);
}

static void test_consumer_lapped_by_the_ring_reads_the_commitlog_without_a_gap(void **state)
{
	(void)state;
	(void)itest_seed("catchup_lapped");
	run_catchup(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ITEST_BROKER_TEST(test_consumer_behind_the_ring_catches_up_through_the_commitlog_without_a_gap, broker),
		ITEST_BROKER_TEST(test_consumer_lapped_by_the_ring_reads_the_commitlog_without_a_gap, broker),
	};

	g = itest_shared_alloc(sizeof(*g));
	return ITEST_RUN_GROUP(tests, g, sizeof(*g));
}
