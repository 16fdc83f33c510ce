/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Produce and consume across processes through a real shmqd: counts,
 * bodies, keys, tags, properties and send results round trip; an oversized
 * message is refused with SHMQ_ETOOBIG; a message id returned by a send
 * reads back through the admin API.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shmq/admin.h"
#include "shmq/shmq.h"
#include "tests/integration/itest_cmocka.h"

#define TOPIC "rt"
#define QUEUES 4u
#define MAX_BODY 3000u
#define POLL_MAX 32u

struct shared {
	const char *sock;
	uint64_t seed;
	uint32_t per_producer;        /* messages each producer sends */
	_Atomic int consumer_ready;
	/* results */
	uint64_t received, duplicates, bad, props_checked;
	uint8_t seen[2][8192];        /* [producer][seq]: times received */
	char msg_id[SHMQ_MSGID_STRLEN + 1];
	uint64_t msg_id_seq;
	uint32_t msg_id_len;
};

static struct shared *g;
static struct itest_broker broker;

static uint32_t body_len(uint32_t producer, uint64_t seq)
{
	uint64_t s = g->seed ^ (seq * 2654435761u) ^ ((uint64_t)producer << 40);

	return ITEST_BODY_MIN + (uint32_t)(itest_rand(&s) % (MAX_BODY - ITEST_BODY_MIN));
}

static void expected_meta(uint32_t producer, uint64_t seq, char *tags, char *keys, char *pval, size_t n)
{
	snprintf(tags, n, "tag%" PRIu64, seq % 3);
	snprintf(keys, n, "k%u-%" PRIu64 " common", producer, seq);
	snprintf(pval, n, "v%u.%" PRIu64, producer, seq);
}

/* Producer 0 sends one by one and in batches of 8 with PERSISTED delivery
 * (checking the send results); producer 1 sends asynchronously with RING
 * delivery. */
struct async_state {
	_Atomic uint64_t ok, failed;
};

static void async_done(void *arg, int status, const struct shmq_send_result *res)
{
	struct async_state *st = arg;

	(void)res;
	/* relaxed: read after shmq_producer_flush() returned */
	if (status == 0)
		atomic_fetch_add_explicit(&st->ok, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&st->failed, 1, memory_order_relaxed);
}

static int producer_child(void *arg)
{
	uint32_t me = (uint32_t)(uintptr_t)arg;
	SHMQ_PRODUCER_OPTS(o, .topic = TOPIC,
			   .delivery = me == 0 ? SHMQ_DELIVERY_PERSISTED : SHMQ_DELIVERY_RING);
	static uint8_t bodies[8][MAX_BODY];
	static char tags[8][64], keys[8][64], pval[8][64];
	struct shmq_prop props[8][2];
	struct shmq_message m[8];
	struct shmq_send_result res[8];
	struct async_state ast = { 0 };
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	uint64_t seq = 0;
	int rc;

	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_producer_open(c, &o, &p))) {
		fprintf(stderr, "producer %u: open: %s\n", me, shmq_strerror(rc));
		return 1;
	}
	if (shmq_producer_queues(p) != QUEUES) {
		fprintf(stderr, "producer %u: %u queues\n", me, shmq_producer_queues(p));
		return 1;
	}
	/* larger than --max-message-size 64K: refused, nothing sent */
	{
		void *big = calloc(1, 65 * 1024);
		struct shmq_message mb = { .body = big, .body_len = 65 * 1024 };

		rc = big ? shmq_producer_send(p, &mb, NULL) : -ENOMEM;
		free(big);
		if (rc != SHMQ_ETOOBIG) {
			fprintf(stderr, "producer %u: oversized send gave %s, want SHMQ_ETOOBIG\n", me,
				shmq_strerror(rc));
			return 1;
		}
	}
	while (seq < g->per_producer) {
		unsigned n = me == 0 && seq % 3 == 0 ? 8 : 1;

		if (seq + n > g->per_producer)
			n = (unsigned)(g->per_producer - seq);
		memset(m, 0, sizeof(m));
		for (unsigned i = 0; i < n; i++) {
			uint32_t len = body_len(me, seq + i);

			itest_body_fill(bodies[i], len, me, 0, seq + i);
			expected_meta(me, seq + i, tags[i], keys[i], pval[i], 64);
			props[i][0] = (struct shmq_prop){ .key = "origin", .value = pval[i] };
			props[i][1] = (struct shmq_prop){ .key = "empty", .value = "" };
			m[i] = (struct shmq_message){ .body = bodies[i], .body_len = len, .tags = tags[i],
						     .keys = keys[i], .props = props[i], .nprops = 2 };
		}
		if (me == 1) {
			rc = shmq_producer_send_async(p, &m[0], async_done, &ast);
			if (rc == SHMQ_BACK_PRESSURED)
				continue;
			if (rc) {
				fprintf(stderr, "producer 1: send_async: %s\n", shmq_strerror(rc));
				return 1;
			}
			seq++;
			continue;
		}
		rc = n == 1 ? shmq_producer_send(p, &m[0], &res[0]) : shmq_producer_send_batch(p, m, n, res);
		if (rc == SHMQ_BACK_PRESSURED)
			continue;
		if (rc < 0 || (n > 1 && rc != (int)n)) {
			fprintf(stderr, "producer 0: send of %u: %s (%d)\n", n, shmq_strerror(rc), rc);
			return 1;
		}
		for (unsigned i = 0; i < n; i++) {
			/* PERSISTED delivery: the record's place is known (or it was
			 * reclaimed from the ring before we read it: UNKNOWN) */
			if (res[i].queue_id >= QUEUES || (n > 1 && res[i].queue_id != res[0].queue_id)) {
				fprintf(stderr, "producer 0: queue %u in a batch on %u\n", res[i].queue_id,
					res[0].queue_id);
				return 1;
			}
			if (res[i].queue_offset != SHMQ_OFFSET_UNKNOWN && i > 0 &&
			    res[i - 1].queue_offset != SHMQ_OFFSET_UNKNOWN &&
			    res[i].queue_offset != res[i - 1].queue_offset + 1) {
				fprintf(stderr, "producer 0: batch offsets %" PRIu64 " then %" PRIu64 "\n",
					res[i - 1].queue_offset, res[i].queue_offset);
				return 1;
			}
			if (!g->msg_id[0] && res[i].msg_id[0]) {
				memcpy(g->msg_id, res[i].msg_id, sizeof(g->msg_id));
				g->msg_id_seq = seq + i;
				g->msg_id_len = m[i].body_len;
			}
		}
		seq += n;
	}
	if (me == 1) {
		rc = shmq_producer_flush(p, 20ull * 1000 * 1000 * 1000);
		/* relaxed: every completion ran before flush returned */
		if (rc || atomic_load_explicit(&ast.ok, memory_order_relaxed) != g->per_producer) {
			fprintf(stderr, "producer 1: flush %s, %" PRIu64 " ok, %" PRIu64 " failed\n",
				shmq_strerror(rc), (uint64_t)atomic_load_explicit(&ast.ok, memory_order_relaxed),
				(uint64_t)atomic_load_explicit(&ast.failed, memory_order_relaxed));
			return 1;
		}
	}
	if (me == 0 && !g->msg_id[0]) {
		fprintf(stderr, "producer 0: no PERSISTED send returned a message id\n");
		return 1;
	}
	shmq_producer_close(p);
	shmq_client_close(c);
	return 0;
}

static int check_message(const struct shmq_msg_view *v)
{
	struct itest_body_hdr h;
	char tags[64], keys[64], pval[64];
	const char *val = NULL, *k, *pv;
	uint32_t it = 0, nprops = 0;

	if (itest_body_check(v->body, v->body_len, &h) || h.producer > 1 || h.seq >= g->per_producer ||
	    v->body_len != body_len(h.producer, h.seq)) {
		fprintf(stderr, "consumer: bad body (len %u) at queue %u offset %" PRIu64 "\n", v->body_len,
			v->queue_id, v->queue_offset);
		return -1;
	}
	expected_meta(h.producer, h.seq, tags, keys, pval, sizeof(tags));
	if (!v->tags || strcmp(v->tags, tags) || !v->keys || strcmp(v->keys, keys) ||
	    strcmp(v->topic, TOPIC) || v->queue_id >= QUEUES) {
		fprintf(stderr, "consumer: meta mismatch: topic %s tags %s keys %s (want %s / %s)\n", v->topic,
			v->tags ? v->tags : "(null)", v->keys ? v->keys : "(null)", tags, keys);
		return -1;
	}
	if (shmq_msg_prop(v, "origin", &val) || strcmp(val, pval) || shmq_msg_prop(v, "empty", &val) ||
	    strcmp(val, "") || shmq_msg_prop(v, "absent", &val) != SHMQ_ENOTFOUND) {
		fprintf(stderr, "consumer: property mismatch for %u/%" PRIu64 "\n", h.producer, h.seq);
		return -1;
	}
	while (shmq_msg_prop_next(v, &it, &k, &pv) == 1) {
		if (strcmp(k, "origin") && strcmp(k, "empty")) {
			fprintf(stderr, "consumer: unexpected property '%s'\n", k);
			return -1;
		}
		nprops++;
	}
	if (nprops != 2) {
		fprintf(stderr, "consumer: %u properties, want 2\n", nprops);
		return -1;
	}
	g->props_checked++;
	if (g->seen[h.producer][h.seq]++)
		g->duplicates++;
	return 0;
}

static int consumer_child(void *arg)
{
	SHMQ_CONSUMER_OPTS(o, .group = "rt-g", .topic = TOPIC, .start = SHMQ_START_EARLIEST,
			   .visibility = SHMQ_VISIBLE_PERSISTED);
	struct shmq_msg_view v[POLL_MAX];
	shmq_client_t *c = NULL;
	shmq_consumer_t *cs = NULL;
	uint64_t want = 2ull * g->per_producer, deadline = itest_now_ns() + 60ull * 1000000000ull;
	int rc;

	(void)arg;
	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_consumer_open(c, &o, &cs))) {
		fprintf(stderr, "consumer: open: %s\n", shmq_strerror(rc));
		return 1;
	}
	/* release: pairs with the parent's acquire */
	atomic_store_explicit(&g->consumer_ready, 1, memory_order_release);
	while (g->received < want && itest_now_ns() < deadline) {
		int k = shmq_consumer_poll(cs, v, POLL_MAX, 100 * 1000 * 1000);

		if (k < 0) {
			fprintf(stderr, "consumer: poll: %s\n", shmq_strerror(k));
			return 1;
		}
		for (int i = 0; i < k; i++) {
			/* PERSISTED visibility: every message has its commitlog place */
			if (v[i].store_offset == SHMQ_OFFSET_UNKNOWN || v[i].queue_offset == SHMQ_OFFSET_UNKNOWN) {
				fprintf(stderr, "consumer: persisted message without offsets\n");
				return 1;
			}
			if (check_message(&v[i]))
				g->bad++;
			g->received++;
		}
	}
	shmq_consumer_close(cs);
	shmq_client_close(c);
	return 0;
}

static void test_messages_round_trip_between_processes_with_tags_keys_and_properties(void **state)
{
	struct itest_broker *b = &broker;
	shmq_client_t *c = NULL;
	struct shmq_topic_info ti;
	struct shmq_admin_msg am;
	struct itest_body_hdr h;
	pid_t cons, prod[2];
	int rc;

	(void)state;
	g->seed = itest_seed("produce_consume");
	g->per_producer = 2000 * itest_scale();
	if (g->per_producer > sizeof(g->seen[0]))
		g->per_producer = sizeof(g->seen[0]);
	assert_int_equal(itest_broker_start(b, NULL), 0);
	g->sock = b->sock;
	assert_int_equal(shmq_client_open(b->sock, NULL, &c), 0);
	assert_int_equal(shmq_topic_create(c, TOPIC, QUEUES, &ti), 0);
	assert_int_equal(ti.queues, QUEUES);
	shmq_client_close(c);

	cons = itest_spawn(consumer_child, NULL);
	assert_true(cons > 0);
	for (int i = 0; i < 100 && !atomic_load_explicit(&g->consumer_ready, memory_order_acquire); i++)
		itest_sleep_ms(50);
	for (uintptr_t i = 0; i < 2; i++) {
		prod[i] = itest_spawn(producer_child, (void *)i);
		assert_true(prod[i] > 0);
	}
	assert_int_equal(itest_wait(prod[0], 60000), 0);
	assert_int_equal(itest_wait(prod[1], 60000), 0);
	rc = itest_wait(cons, 70000);
	fprintf(stderr, "received %" PRIu64 " (duplicates %" PRIu64 ", bad %" PRIu64 ", properties checked %" PRIu64
		")\n", g->received, g->duplicates, g->bad, g->props_checked);
	if (rc)
		itest_broker_dump_log(b, 4096);
	assert_int_equal(rc, 0);
	assert_int_equal(g->bad, 0);
	assert_int_equal(g->received, 2ull * g->per_producer);
	assert_int_equal(g->duplicates, 0);
	for (int p = 0; p < 2; p++)
		for (uint32_t s = 0; s < g->per_producer; s++)
			assert_int_equal(g->seen[p][s], 1);

	/* The id a PERSISTED send returned names the stored message. */
	assert_int_equal(shmq_client_open(b->sock, NULL, &c), 0);
	memset(&am, 0, sizeof(am));
	rc = shmq_admin_read_msgid(c, g->msg_id, &am);
	assert_int_equal(rc, 0);
	assert_int_equal(am.v.body_len, g->msg_id_len);
	assert_int_equal(itest_body_check(am.v.body, am.v.body_len, &h), 0);
	assert_int_equal(h.producer, 0);
	assert_int_equal(h.seq, g->msg_id_seq);
	shmq_admin_msg_free(&am);
	shmq_client_close(c);

	assert_int_equal(itest_broker_stop(b), 0);
	itest_broker_cleanup(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ITEST_BROKER_TEST(test_messages_round_trip_between_processes_with_tags_keys_and_properties, broker),
	};

	g = itest_shared_alloc(sizeof(*g));
	return ITEST_RUN_GROUP(tests, g, sizeof(*g));
}
