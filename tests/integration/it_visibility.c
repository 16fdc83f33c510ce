/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Visibility levels. The broker is frozen with SIGSTOP while a producer
 * writes into the ring (a ring producer needs no broker), so nothing can be
 * persisted or flushed meanwhile:
 *  - an IMMEDIATE consumer receives every message while the broker is frozen
 *    (not persisted yet: no commitlog offset, no message id);
 *  - PERSISTED and DURABLE consumers receive nothing until it runs again;
 *  - then PERSISTED receives everything, each with its commitlog offset;
 *  - a DURABLE consumer receives a message only once the commitlog is
 *    flushed past it: on an async broker with a 60 s flush interval, every
 *    message it got lies below the flushed offset the broker reports
 *    afterwards, and after a clean stop (which flushes) and restart it gets
 *    them all; on a sync-flush broker it gets them all, each checked
 *    against the flushed offset right after receipt.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shmq/admin.h"
#include "shmq/shmq.h"
#include "tests/integration/itest_cmocka.h"

#define TOPIC "vis"
#define N 200u
#define POLL_MAX 32u

enum { IMM, PER, DUR, NCONS };

struct cstate {
	_Atomic int ready;
	_Atomic uint64_t received;
	_Atomic uint64_t unknown_offset;   /* received without a commitlog offset */
	_Atomic uint64_t with_msgid;
	_Atomic uint64_t max_store_off;    /* +1; 0 = none */
	_Atomic uint64_t above_flushed;    /* DUR: store offset >= flushed reported right after */
	_Atomic uint64_t bad;
	_Atomic uint64_t warm;             /* the warm-up message (seq N) */
};

struct shared {
	const char *sock;
	_Atomic int go;
	_Atomic int stop[NCONS];
	_Atomic int producer_ready;
	_Atomic uint64_t sent;
	struct cstate c[NCONS];
};

static struct shared *g;
static struct itest_broker broker;

static int producer_child(void *arg)
{
	SHMQ_PRODUCER_OPTS(o, .topic = TOPIC, .delivery = SHMQ_DELIVERY_RING);
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	uint8_t body[100];
	int rc;

	(void)arg;
	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_producer_open(c, &o, &p))) {
		fprintf(stderr, "producer: open: %s\n", shmq_strerror(rc));
		return 1;
	}
	/* A warm-up message (seq N) while the broker runs: the queue's ring is
	 * attached, and every consumer has it before the freeze. */
	{
		struct shmq_message m = { .body = body, .body_len = sizeof(body) };

		itest_body_fill(body, sizeof(body), 0, 0, N);
		rc = shmq_producer_send(p, &m, NULL);
		if (rc) {
			fprintf(stderr, "producer: warm-up send: %s\n", shmq_strerror(rc));
			return 1;
		}
	}
	/* release: pairs with the parent's acquire */
	atomic_store_explicit(&g->producer_ready, 1, memory_order_release);
	/* acquire: pairs with the parent's release (the broker is frozen now) */
	while (!atomic_load_explicit(&g->go, memory_order_acquire))
		itest_sleep_ms(1);
	for (uint32_t i = 0; i < N; i++) {
		struct shmq_message m = { .body = body, .body_len = sizeof(body) };

		itest_body_fill(body, sizeof(body), 0, 0, i);
		rc = shmq_producer_send(p, &m, NULL);
		if (rc) {
			fprintf(stderr, "producer: send %u with the broker frozen: %s\n", i, shmq_strerror(rc));
			return 1;
		}
		/* relaxed: a progress count for the parent */
		atomic_fetch_add_explicit(&g->sent, 1, memory_order_relaxed);
	}
	shmq_producer_close(p);
	shmq_client_close(c);
	return 0;
}

static int consumer_child(void *arg)
{
	int vis = (int)(uintptr_t)arg;
	char group[32];
	SHMQ_CONSUMER_OPTS(o, .group = group, .topic = TOPIC, .visibility = (enum shmq_visibility)vis,
			   .start = SHMQ_START_EARLIEST);
	struct cstate *st = &g->c[vis];
	struct shmq_msg_view v[POLL_MAX];
	shmq_client_t *c = NULL;
	shmq_consumer_t *cs = NULL;
	int rc;

	snprintf(group, sizeof(group), "vis-%d", vis);
	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_consumer_open(c, &o, &cs))) {
		fprintf(stderr, "consumer %d: open: %s\n", vis, shmq_strerror(rc));
		return 1;
	}
	/* acquire: pairs with the parent's release */
	while (!atomic_load_explicit(&g->stop[vis], memory_order_acquire)) {
		int k = shmq_consumer_poll(cs, v, POLL_MAX, 20 * 1000 * 1000);
		uint64_t maxoff = 0;

		/* release: pairs with the parent's acquire; one poll ran, so the
		 * consumer holds its queue and needs no broker request to poll */
		if (k >= 0)
			atomic_store_explicit(&st->ready, 1, memory_order_release);

		if (k < 0) {
			fprintf(stderr, "consumer %d: poll: %s\n", vis, shmq_strerror(k));
			return 1;
		}
		for (int i = 0; i < k; i++) {
			struct itest_body_hdr h;

			if (itest_body_check(v[i].body, v[i].body_len, &h) || h.seq > N) {
				atomic_fetch_add_explicit(&st->bad, 1, memory_order_relaxed);
			} else if (h.seq == N) {
				/* relaxed: a progress flag the parent polls */
				atomic_fetch_add_explicit(&st->warm, 1, memory_order_relaxed);
				v[i].body = NULL; /* not counted below */
				continue;
			}
			if (v[i].store_offset == SHMQ_OFFSET_UNKNOWN) {
				atomic_fetch_add_explicit(&st->unknown_offset, 1, memory_order_relaxed);
			} else if (v[i].store_offset + 1 > maxoff) {
				maxoff = v[i].store_offset + 1;
			}
			if (v[i].msg_id[0])
				atomic_fetch_add_explicit(&st->with_msgid, 1, memory_order_relaxed);
		}
		if (k > 0 && vis == DUR) {
			struct shmq_broker_status bs;

			/* flushed only grows: what we got must lie below it now */
			rc = shmq_admin_status(c, &bs);
			if (rc) {
				fprintf(stderr, "consumer %d: status: %s\n", vis, shmq_strerror(rc));
				return 1;
			}
			for (int i = 0; i < k; i++)
				if (v[i].store_offset == SHMQ_OFFSET_UNKNOWN ||
				    v[i].store_offset >= bs.commitlog_flushed_offset)
					atomic_fetch_add_explicit(&st->above_flushed, 1, memory_order_relaxed);
		}
		if (maxoff > atomic_load_explicit(&st->max_store_off, memory_order_relaxed))
			atomic_store_explicit(&st->max_store_off, maxoff, memory_order_relaxed);
		for (int i = 0; i < k; i++)
			/* relaxed counters: the parent only polls them for progress;
			 * the exact values are read after this process exited */
			if (v[i].body)
				atomic_fetch_add_explicit(&st->received, 1, memory_order_relaxed);
	}
	shmq_consumer_close(cs);
	shmq_client_close(c);
	return 0;
}

static uint64_t got(int who)
{
	/* relaxed: progress polling; final values are read after waitpid() */
	return atomic_load_explicit(&g->c[who].received, memory_order_relaxed);
}

static int wait_got(int who, uint64_t n, unsigned timeout_ms)
{
	for (unsigned w = 0; w < timeout_ms; w += 10) {
		if (got(who) >= n)
			return 1;
		itest_sleep_ms(10);
	}
	return got(who) >= n;
}

/* Start the broker and the three consumers and the producer; freeze the
 * broker; let the producer write N messages; check what each level saw. */
static void run_frozen_phase(const struct itest_broker_opts *o, pid_t cons[NCONS], pid_t *prod)
{
	shmq_client_t *c = NULL;

	memset(g, 0, sizeof(*g));
	assert_int_equal(itest_broker_start(&broker, o), 0);
	g->sock = broker.sock;
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	assert_int_equal(shmq_topic_create(c, TOPIC, 1, NULL), 0);
	shmq_client_close(c);
	for (uintptr_t i = 0; i < NCONS; i++) {
		cons[i] = itest_spawn(consumer_child, (void *)i);
		assert_true(cons[i] > 0);
	}
	*prod = itest_spawn(producer_child, NULL);
	assert_true(*prod > 0);
	for (int w = 0; w < 2000; w++) {
		/* acquire: pairs with the producer's release */
		int ready = atomic_load_explicit(&g->producer_ready, memory_order_acquire);

		/* relaxed: the warm-up message reached the immediate and persisted
		 * levels (the durable one may wait for a flush); acquire: the
		 * durable consumer polls */
		ready &= atomic_load_explicit(&g->c[IMM].warm, memory_order_relaxed) > 0 &&
			 atomic_load_explicit(&g->c[PER].warm, memory_order_relaxed) > 0 &&
			 atomic_load_explicit(&g->c[DUR].ready, memory_order_acquire);
		if (ready)
			break;
		itest_sleep_ms(10);
	}
	assert_true(atomic_load_explicit(&g->c[IMM].warm, memory_order_relaxed) > 0);
	assert_true(atomic_load_explicit(&g->c[PER].warm, memory_order_relaxed) > 0);
	assert_int_equal(kill(broker.pid, SIGSTOP), 0);
	/* release: pairs with the producer's acquire */
	atomic_store_explicit(&g->go, 1, memory_order_release);
	assert_int_equal(itest_wait(*prod, 30000), 0);
	assert_true(wait_got(IMM, N, 10000));
	itest_sleep_ms(300);
	fprintf(stderr, "broker frozen: immediate %" PRIu64 " (%" PRIu64 " without offset), persisted %" PRIu64
		", durable %" PRIu64 "\n", got(IMM), g->c[IMM].unknown_offset, got(PER), got(DUR));
	assert_int_equal(got(IMM), N);
	assert_int_equal(g->c[IMM].unknown_offset, N);
	assert_int_equal(g->c[IMM].with_msgid, 0);
	assert_int_equal(got(PER), 0);
	assert_int_equal(got(DUR), 0);
	assert_int_equal(kill(broker.pid, SIGCONT), 0);
}

static void test_visibility_levels_on_an_async_broker_with_a_slow_flusher(void **state)
{
	struct itest_broker_opts o = { .flush_interval_ms = "60000" };
	struct shmq_broker_status bs;
	shmq_client_t *c = NULL;
	pid_t cons[NCONS], prod;
	uint64_t dur_got, dur_max;

	(void)state;
	(void)itest_seed("visibility_async");
	run_frozen_phase(&o, cons, &prod);
	assert_true(wait_got(PER, N, 10000));
	itest_sleep_ms(500);
	/* relaxed: the durable consumer's progress, then the flushed offset,
	 * which only grows: everything it got lies below it */
	dur_got = got(DUR);
	dur_max = atomic_load_explicit(&g->c[DUR].max_store_off, memory_order_relaxed);
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	assert_int_equal(shmq_admin_status(c, &bs), 0);
	shmq_client_close(c);
	fprintf(stderr, "running: persisted %" PRIu64 ", durable %" PRIu64 "; commitlog max %" PRIu64
		" flushed %" PRIu64 "\n", got(PER), dur_got, bs.commitlog_max_offset, bs.commitlog_flushed_offset);
	assert_int_equal(got(PER), N);
	assert_int_equal(g->c[PER].unknown_offset, 0);
	assert_int_equal(g->c[PER].with_msgid, N);
	if (dur_got)
		assert_true(dur_max <= bs.commitlog_flushed_offset);
	assert_int_equal(g->c[DUR].above_flushed, 0);

	/* A clean stop flushes; after the restart the durable consumer
	 * (reconnecting by itself) gets everything. */
	/* release: pairs with the consumers' acquire */
	atomic_store_explicit(&g->stop[IMM], 1, memory_order_release);
	atomic_store_explicit(&g->stop[PER], 1, memory_order_release);
	assert_int_equal(itest_wait(cons[IMM], 20000), 0);
	assert_int_equal(itest_wait(cons[PER], 20000), 0);
	assert_int_equal(itest_broker_stop(&broker), 0);
	assert_int_equal(itest_broker_restart(&broker), 0);
	assert_true(wait_got(DUR, N, 30000));
	atomic_store_explicit(&g->stop[DUR], 1, memory_order_release);
	assert_int_equal(itest_wait(cons[DUR], 20000), 0);
	assert_int_equal(g->c[DUR].received, N);
	assert_int_equal(g->c[DUR].above_flushed, 0);
	assert_int_equal(g->c[DUR].bad + g->c[PER].bad + g->c[IMM].bad, 0);
	assert_int_equal(itest_broker_stop(&broker), 0);
	itest_broker_cleanup(&broker);
}

static void test_durable_consumer_sees_only_flushed_messages_on_a_sync_broker(void **state)
{
	struct itest_broker_opts o = { .sync_flush = true };
	pid_t cons[NCONS], prod;

	(void)state;
	(void)itest_seed("visibility_sync");
	run_frozen_phase(&o, cons, &prod);
	assert_true(wait_got(PER, N, 10000));
	assert_true(wait_got(DUR, N, 10000));
	for (int i = 0; i < NCONS; i++)
		/* release: pairs with the consumers' acquire */
		atomic_store_explicit(&g->stop[i], 1, memory_order_release);
	for (int i = 0; i < NCONS; i++)
		assert_int_equal(itest_wait(cons[i], 20000), 0);
	fprintf(stderr, "sync broker: immediate %" PRIu64 ", persisted %" PRIu64 ", durable %" PRIu64
		" (%" PRIu64 " above the flushed offset)\n", got(IMM), got(PER), got(DUR), g->c[DUR].above_flushed);
	assert_int_equal(got(IMM), N);
	assert_int_equal(got(PER), N);
	assert_int_equal(got(DUR), N);
	assert_int_equal(g->c[DUR].unknown_offset, 0);
	assert_int_equal(g->c[DUR].with_msgid, N);
	assert_int_equal(g->c[DUR].above_flushed, 0);
	assert_int_equal(g->c[DUR].bad + g->c[PER].bad + g->c[IMM].bad, 0);
	assert_int_equal(itest_broker_stop(&broker), 0);
	itest_broker_cleanup(&broker);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ITEST_BROKER_TEST(test_visibility_levels_on_an_async_broker_with_a_slow_flusher, broker),
		ITEST_BROKER_TEST(test_durable_consumer_sees_only_flushed_messages_on_a_sync_broker, broker),
	};

	g = itest_shared_alloc(sizeof(*g));
	return ITEST_RUN_GROUP(tests, g, sizeof(*g));
}
