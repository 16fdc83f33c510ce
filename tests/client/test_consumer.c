/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libshmq consumers against a real shmqd (spawned from the build tree: env
 * SHMQD; skipped with 77 when it is not there), fed by the libshmq producer.
 * Every test gets a fresh broker in a fresh mkdtemp directory.
 *
 * Messages carry "<n>" as body, n counting per test from 0; the producer
 * uses one queue per message chosen round-robin, so each queue's messages
 * must arrive with dense queue offsets and increasing n.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/client_int.h"
#include "common/clock.h"
#include "shmq/shmq.h"
#include "tests/common/tmpdir.h"
#include "tests/integration/itest_cmocka.h"

static int scale(void)
{
	return (int)itest_scale();
}

static int setup_with(void **state, const char *ring_cap, const char *max_msg)
{
	struct itest_broker *b = calloc(1, sizeof(*b));
	const struct itest_broker_opts o = {
		.segment_size = "1M", .ring_capacity = ring_cap, .max_message_size = max_msg,
		.extra = { "--log-level", "warn", "--broker-id", "9", "--revoke-timeout-ms", "5000" },
	};

	assert_non_null(b);
	*state = b;
	assert_int_equal(itest_broker_start(b, &o), 0);
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, "1M", "64K");
}

static int setup_small_ring(void **state)
{
	return setup_with(state, "64K", "16K");
}

/* Send bodies "<first>".."<first+n-1>" round-robin; @p pad extra bytes. */
static void produce(shmq_producer_t *p, uint64_t first, uint64_t n, uint32_t pad)
{
	static char buf[20000];
	for (uint64_t i = first; i < first + n; i++) {
		int len = snprintf(buf, sizeof(buf), "%" PRIu64, i);
		memset(buf + len + 1, 'x', pad);
		char key[32];
		snprintf(key, sizeof(key), "key-%" PRIu64, i);
		struct shmq_prop prop = { "n", buf };
		struct shmq_message m = { .body = buf, .body_len = (uint32_t)len + 1 + pad,
					  .tags = "tagA", .keys = key, .props = &prop, .nprops = 1 };
		int rc;
		while ((rc = shmq_producer_send(p, &m, NULL)) == SHMQ_BACK_PRESSURED)
			itest_sleep_ms(1);
		if (rc < 0)
			fail_msg("send %" PRIu64 ": %s", i, shmq_strerror(rc));
	}
}

/* What a test saw: per queue, the next queue offset and the last n. */
#define MAXQ 8
#define MAXN 200000
struct seen {
	uint64_t next_qo[MAXQ];
	int64_t last_n[MAXQ];
	uint64_t count;
	uint32_t hits[MAXN]; /* times message n was delivered */
	bool want_store_offset;
};

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	for (int q = 0; q < MAXQ; q++)
		s->last_n[q] = -1;
}

static uint64_t body_n(const struct shmq_msg_view *m)
{
	assert_true(m->body_len >= 2);
	assert_int_equal(((const char *)m->body)[strnlen(m->body, m->body_len)], '\0');
	return strtoull(m->body, NULL, 10);
}

/* No gap, no repeat per queue; per-queue order of n; properties intact. */
static void seen_add(struct seen *s, const struct shmq_msg_view *m)
{
	assert_true(m->queue_id < MAXQ);
	assert_int_equal(m->queue_offset, s->next_qo[m->queue_id]);
	s->next_qo[m->queue_id]++;
	uint64_t n = body_n(m);
	assert_true(n < MAXN);
	assert_true((int64_t)n > s->last_n[m->queue_id]);
	s->last_n[m->queue_id] = (int64_t)n;
	s->hits[n]++;
	s->count++;
	assert_string_equal(m->topic, "T");
	assert_non_null(m->tags);
	assert_string_equal(m->tags, "tagA");
	char key[32];
	snprintf(key, sizeof(key), "key-%" PRIu64, n);
	assert_non_null(m->keys);
	assert_string_equal(m->keys, key);
	const char *v = NULL;
	assert_int_equal(shmq_msg_prop(m, "n", &v), 0);
	assert_string_equal(v, m->body);
	if (s->want_store_offset) {
		assert_int_not_equal(m->store_offset, SHMQ_OFFSET_UNKNOWN);
		assert_int_equal(strlen(m->msg_id), SHMQ_MSGID_STRLEN);
	}
}

/* Poll until @p want messages or @p ms pass. */
static void consume(shmq_consumer_t *cs, struct seen *s, uint64_t want, unsigned ms)
{
	struct shmq_msg_view v[64];
	uint64_t deadline = shmq_now_ns() + (uint64_t)ms * 1000000ull;
	while (s->count < want && shmq_now_ns() < deadline) {
		int n = shmq_consumer_poll(cs, v, 64, 50000000ull);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++)
			seen_add(s, &v[i]);
	}
}

/* ------------------------------------------------------------------ */

static void every_level(struct itest_broker *b, enum shmq_visibility vis)
{
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "T", 2, NULL), 0);
	SHMQ_CONSUMER_OPTS(co, .group = "g", .topic = "T", .visibility = vis,
			   .start = SHMQ_START_EARLIEST);
	shmq_consumer_t *cs;
	assert_int_equal(shmq_consumer_open(c, &co, &cs), 0);
	uint32_t as[4];
	assert_int_equal(shmq_consumer_assignment(cs, as, 4), 2);
	SHMQ_PRODUCER_OPTS(po, .topic = "T");
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	produce(p, 0, 300, 0);
	struct seen *s = malloc(sizeof(*s));
	seen_init(s);
	s->want_store_offset = vis != SHMQ_VISIBLE_IMMEDIATE;
	consume(cs, s, 300, 15000);
	assert_int_equal(s->count, 300);
	for (unsigned n = 0; n < 300; n++)
		assert_int_equal(s->hits[n], 1);
	struct shmq_consumer_stats st;
	shmq_consumer_stats(cs, &st);
	assert_int_equal(st.delivered, 300);
	shmq_producer_close(p);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	free(s);
}

static void test_consumer_receives_every_message_once_in_queue_order_immediate(void **state)
{
	every_level(*state, SHMQ_VISIBLE_IMMEDIATE);
}

static void test_consumer_receives_every_message_once_in_queue_order_persisted(void **state)
{
	every_level(*state, SHMQ_VISIBLE_PERSISTED);
}

static void test_consumer_receives_every_message_once_in_queue_order_durable(void **state)
{
	every_level(*state, SHMQ_VISIBLE_DURABLE);
}

static void test_consumer_behind_the_ring_reads_the_commitlog_then_rejoins_the_ring(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "T", 1, NULL), 0);
	SHMQ_CONSUMER_OPTS(co, .group = "g", .topic = "T", .start = SHMQ_START_EARLIEST);
	shmq_consumer_t *cs;
	assert_int_equal(shmq_consumer_open(c, &co, &cs), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "T");
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	/* ~4 MiB through a 64 KiB ring before the consumer reads anything. */
	uint64_t total = 8000u * (uint64_t)scale();
	produce(p, 0, total, 500);
	struct seen *s = malloc(sizeof(*s));
	seen_init(s);
	consume(cs, s, total, 30000);
	assert_int_equal(s->count, total);
	/* Then live traffic, read as it comes. */
	for (int i = 0; i < 200; i++) {
		produce(p, total + (uint64_t)i, 1, 0);
		consume(cs, s, total + (uint64_t)i + 1, 5000);
	}
	assert_int_equal(s->count, total + 200);
	struct shmq_consumer_stats st;
	shmq_consumer_stats(cs, &st);
	printf("from_log %" PRIu64 " from_ring %" PRIu64 " overruns %" PRIu64 "\n", st.from_log,
	       st.from_ring, st.overruns);
	assert_true(st.from_log > 0);
	assert_true(st.from_ring > 0);
	assert_int_equal(st.from_log + st.from_ring, total + 200);
	shmq_producer_close(p);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	free(s);
}

/* Poll both until their assignments are disjoint and cover @p nq queues. */
static void settle(shmq_consumer_t *a, shmq_consumer_t *b, unsigned nq, struct seen *sa,
		   struct seen *sb)
{
	uint64_t deadline = shmq_now_ns() + 15000000000ull;
	for (;;) {
		uint32_t qa[MAXQ], qb[MAXQ];
		int na = shmq_consumer_assignment(a, qa, MAXQ);
		int nb = b ? shmq_consumer_assignment(b, qb, MAXQ) : 0;
		bool ok = (unsigned)(na + nb) == nq && na > 0 && (!b || nb > 0);
		for (int i = 0; ok && i < na; i++)
			for (int j = 0; j < nb; j++)
				if (qa[i] == qb[j])
					ok = false;
		if (ok)
			return;
		if (shmq_now_ns() > deadline)
			fail_msg("assignments did not settle: %d + %d", na, nb);
		consume(a, sa, UINT64_MAX, 20);
		if (b)
			consume(b, sb, UINT64_MAX, 20);
	}
}

static void test_two_members_own_disjoint_queues_and_the_survivor_resumes_from_commits(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c1 = itest_connect(b), *c2 = itest_connect(b);
	assert_int_equal(shmq_topic_create(c1, "T", 4, NULL), 0);
	SHMQ_CONSUMER_OPTS(co, .group = "grp", .topic = "T", .start = SHMQ_START_EARLIEST);
	shmq_consumer_t *a, *bb;
	assert_int_equal(shmq_consumer_open(c1, &co, &a), 0);
	uint32_t qs[MAXQ];
	assert_int_equal(shmq_consumer_assignment(a, qs, MAXQ), 4);
	struct seen *sa = malloc(sizeof(*sa)), *sb = malloc(sizeof(*sb));
	seen_init(sa);
	seen_init(sb);
	SHMQ_PRODUCER_OPTS(po, .topic = "T");
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c1, &po, &p), 0);
	/* A alone consumes the first 200 (auto commit: the last poll's are
	 * committed when A gives its queues away). */
	produce(p, 0, 200, 0);
	consume(a, sa, 200, 10000);
	assert_int_equal(sa->count, 200);
	assert_int_equal(shmq_consumer_open(c2, &co, &bb), 0);
	settle(a, bb, 4, sa, sb);
	int nb = shmq_consumer_assignment(bb, qs, MAXQ);
	for (int i = 0; i < nb; i++) { /* B continues where A stopped */
		sb->next_qo[qs[i]] = sa->next_qo[qs[i]];
		sb->last_n[qs[i]] = sa->last_n[qs[i]];
	}
	produce(p, 200, 200, 0);
	uint64_t deadline = shmq_now_ns() + 15000000000ull;
	while (sa->count + sb->count < 400 && shmq_now_ns() < deadline) {
		consume(a, sa, sa->count + 1, 20);
		consume(bb, sb, sb->count + 1, 20);
	}
	assert_int_equal(sa->count + sb->count, 400);
	assert_true(sa->count > 0 && sb->count > 0);
	/* Exclusive, exactly once across the handover. */
	for (unsigned n = 0; n < 400; n++)
		assert_int_equal(sa->hits[n] + sb->hits[n], 1);
	/* B leaves (committing what it got); A takes every queue back and
	 * continues after B's commits: only the new messages arrive. */
	shmq_consumer_close(bb);
	settle(a, NULL, 4, sa, NULL);
	for (unsigned q = 0; q < 4; q++)
		if (sb->next_qo[q] > sa->next_qo[q])
			sa->next_qo[q] = sb->next_qo[q], sa->last_n[q] = sb->last_n[q];
	produce(p, 400, 100, 0);
	consume(a, sa, sa->count + 100, 15000);
	for (unsigned n = 0; n < 500; n++)
		assert_int_equal(sa->hits[n] + sb->hits[n], 1);
	struct shmq_consumer_stats st;
	shmq_consumer_stats(a, &st);
	assert_true(st.rebalances >= 2);
	shmq_producer_close(p);
	shmq_consumer_close(a);
	shmq_client_close(c2);
	shmq_client_close(c1);
	free(sa);
	free(sb);
}

/* Poll once; count each message's body n in @p hits and the queue's
 * offsets in @p qo_hits. */
static unsigned poll_count(shmq_consumer_t *cs, uint32_t *hits, uint32_t (*qo_hits)[4096])
{
	struct shmq_msg_view v[64];
	int n = shmq_consumer_poll(cs, v, 64, 2000000ull);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		uint64_t k = body_n(&v[i]);
		assert_true(k < 4096 && v[i].queue_id < 4 && v[i].queue_offset < 4096);
		hits[k]++;
		qo_hits[v[i].queue_id][v[i].queue_offset]++;
	}
	return (unsigned)n;
}

static void test_handover_under_traffic_never_delivers_a_message_twice(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c1 = itest_connect(b), *c2 = itest_connect(b);
	assert_int_equal(shmq_topic_create(c1, "T", 4, NULL), 0);
	SHMQ_CONSUMER_OPTS(co, .group = "ho", .topic = "T", .start = SHMQ_START_EARLIEST);
	SHMQ_PRODUCER_OPTS(po, .topic = "T");
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c1, &po, &p), 0);
	shmq_consumer_t *a, *bb = NULL;
	assert_int_equal(shmq_consumer_open(c1, &co, &a), 0);
	static uint32_t hits[4096], qo_hits[4][4096];
	memset(hits, 0, sizeof(hits));
	memset(qo_hits, 0, sizeof(qo_hits));
	/* Members join and leave while messages flow and both poll (in pull
	 * mode with auto commit a delivered message is committed by the next
	 * poll, before the member looks at the generation, so a handover must
	 * deliver every message exactly once here). */
	unsigned total = 0, got_a = 0, got_b = 0;
	for (int step = 0; step < 600; step++) {
		if (step == 50 || step == 400)
			assert_int_equal(shmq_consumer_open(c2, &co, &bb), 0);
		if (step == 250 || step == 550) {
			shmq_consumer_close(bb);
			bb = NULL;
		}
		if (total < 3000) {
			produce(p, total, 5, 0);
			total += 5;
		}
		got_a += poll_count(a, hits, qo_hits);
		if (bb)
			got_b += poll_count(bb, hits, qo_hits);
	}
	uint64_t deadline = shmq_now_ns() + 10000000000ull;
	while (got_a + got_b < total && shmq_now_ns() < deadline)
		got_a += poll_count(a, hits, qo_hits);
	printf("a %u b %u of %u\n", got_a, got_b, total);
	assert_true(got_b > 0);
	for (unsigned n = 0; n < total; n++)
		assert_int_equal(hits[n], 1);
	for (unsigned q = 0; q < 4; q++)
		for (unsigned o = 0; o < total / 4; o++)
			assert_int_equal(qo_hits[q][o], 1);
	struct shmq_consumer_stats st;
	shmq_consumer_stats(a, &st);
	assert_true(st.rebalances >= 4);
	shmq_consumer_close(a);
	shmq_producer_close(p);
	shmq_client_close(c2);
	shmq_client_close(c1);
}

static void test_manual_commit_resumes_after_the_last_committed_message(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "T", 1, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "T");
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	produce(p, 0, 20, 0);
	SHMQ_CONSUMER_OPTS(co, .group = "m", .topic = "T", .start = SHMQ_START_EARLIEST,
			   .manual_commit = true);
	shmq_consumer_t *cs;
	assert_int_equal(shmq_consumer_open(c, &co, &cs), 0);
	struct shmq_msg_view v[64];
	int got = 0;
	uint64_t deadline = shmq_now_ns() + 10000000000ull;
	while (got < 20 && shmq_now_ns() < deadline) {
		int n = shmq_consumer_poll(cs, v + got, (unsigned)(20 - got), 50000000ull);
		assert_true(n >= 0);
		if (n > 0 && got == 0 && n >= 8)
			assert_int_equal(shmq_consumer_commit(cs, &v[7]), 0);
		got += n;
	}
	assert_int_equal(got, 20);
	shmq_consumer_close(cs); /* manual: closing commits nothing more */
	/* Same group, default start (COMMITTED): resumes after message 7. */
	SHMQ_CONSUMER_OPTS(co2, .group = "m", .topic = "T");
	assert_int_equal(shmq_consumer_open(c, &co2, &cs), 0);
	int n = 0;
	deadline = shmq_now_ns() + 10000000000ull;
	while (n == 0 && shmq_now_ns() < deadline)
		n = shmq_consumer_poll(cs, v, 64, 50000000ull);
	assert_true(n > 0);
	assert_int_equal(v[0].queue_offset, 8);
	assert_int_equal(body_n(&v[0]), 8);
	shmq_consumer_close(cs);
	shmq_producer_close(p);
	shmq_client_close(c);
}

static void test_start_latest_and_timestamp_skip_older_messages(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "T", 2, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "T", .delivery = SHMQ_DELIVERY_PERSISTED);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	produce(p, 0, 50, 0);
	itest_sleep_ms(30);
	uint64_t ts = shmq_wall_ms();
	itest_sleep_ms(5);
	produce(p, 50, 50, 0);
	SHMQ_CONSUMER_OPTS(cl, .group = "late", .topic = "T", .start = SHMQ_START_LATEST);
	SHMQ_CONSUMER_OPTS(ct, .group = "ts", .topic = "T", .start = SHMQ_START_TIMESTAMP,
			   .start_ts_ms = ts);
	shmq_consumer_t *latest, *bytime;
	assert_int_equal(shmq_consumer_open(c, &cl, &latest), 0);
	assert_int_equal(shmq_consumer_open(c, &ct, &bytime), 0);
	struct shmq_msg_view v[64];
	assert_int_equal(shmq_consumer_poll(latest, v, 64, 20000000ull), 0);
	produce(p, 100, 10, 0);
	struct seen *s = malloc(sizeof(*s));
	seen_init(s);
	s->next_qo[0] = s->next_qo[1] = 50;
	consume(latest, s, 10, 10000);
	assert_int_equal(s->count, 10);
	for (unsigned n = 100; n < 110; n++)
		assert_int_equal(s->hits[n], 1);
	seen_init(s);
	s->next_qo[0] = s->next_qo[1] = 25;
	consume(bytime, s, 60, 10000);
	assert_int_equal(s->count, 60);
	for (unsigned n = 50; n < 110; n++)
		assert_int_equal(s->hits[n], 1);
	shmq_consumer_close(latest);
	shmq_consumer_close(bytime);
	shmq_producer_close(p);
	shmq_client_close(c);
	free(s);
}

struct push_ctx {
	pthread_mutex_t mu;
	struct seen *s;
	unsigned calls, fails_left;
	uint64_t fail_n;
	int64_t last_n_per_q[MAXQ];
};

static int push_cb(void *arg, const struct shmq_msg_view *m)
{
	struct push_ctx *x = arg;
	pthread_mutex_lock(&x->mu);
	x->calls++;
	uint64_t n = body_n(m);
	int rc = 0;
	if (n == x->fail_n && x->fails_left) {
		x->fails_left--;
		rc = -1; /* retried later; nothing after it in its queue meanwhile */
	} else {
		seen_add(x->s, m);
	}
	pthread_mutex_unlock(&x->mu);
	return rc;
}

static void test_push_consumer_keeps_queue_order_and_retries_a_failed_message(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "T", 2, NULL), 0);
	struct push_ctx x = { .fail_n = 7, .fails_left = 2 };
	pthread_mutex_init(&x.mu, NULL);
	x.s = malloc(sizeof(*x.s));
	seen_init(x.s);
	SHMQ_CONSUMER_OPTS(co, .group = "push", .topic = "T", .start = SHMQ_START_EARLIEST,
			   .push = push_cb, .push_arg = &x, .retry_delay_ns = 20000000ull);
	shmq_consumer_t *cs;
	assert_int_equal(shmq_consumer_open(c, &co, &cs), 0);
	struct shmq_msg_view v;
	assert_int_equal(shmq_consumer_poll(cs, &v, 1, 0), -EINVAL);
	SHMQ_PRODUCER_OPTS(po, .topic = "T");
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	produce(p, 0, 100, 0);
	uint64_t deadline = shmq_now_ns() + 10000000000ull;
	for (;;) {
		pthread_mutex_lock(&x.mu);
		uint64_t got = x.s->count;
		pthread_mutex_unlock(&x.mu);
		if (got == 100 || shmq_now_ns() > deadline)
			break;
		itest_sleep_ms(5);
	}
	shmq_consumer_close(cs);
	assert_int_equal(x.s->count, 100);
	assert_int_equal(x.fails_left, 0);
	for (unsigned n = 0; n < 100; n++)
		assert_int_equal(x.s->hits[n], 1);
	/* Everything was committed: the group resumes at the end. */
	SHMQ_CONSUMER_OPTS(co2, .group = "push", .topic = "T", .start = SHMQ_START_EARLIEST);
	assert_int_equal(shmq_consumer_open(c, &co2, &cs), 0);
	assert_int_equal(shmq_consumer_poll(cs, &v, 1, 50000000ull), 0);
	shmq_consumer_close(cs);
	shmq_producer_close(p);
	shmq_client_close(c);
	free(x.s);
	pthread_mutex_destroy(&x.mu);
}

static void test_broadcasting_members_each_receive_every_message(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c1 = itest_connect(b), *c2 = itest_connect(b);
	assert_int_equal(shmq_topic_create(c1, "T", 2, NULL), 0);
	SHMQ_CONSUMER_OPTS(co, .group = "bc", .topic = "T", .mode = SHMQ_CONSUME_BROADCASTING,
			   .start = SHMQ_START_EARLIEST);
	shmq_consumer_t *a, *bb;
	assert_int_equal(shmq_consumer_open(c1, &co, &a), 0);
	assert_int_equal(shmq_consumer_open(c2, &co, &bb), 0);
	uint32_t qs[MAXQ];
	assert_int_equal(shmq_consumer_assignment(a, qs, MAXQ), 2);
	assert_int_equal(shmq_consumer_assignment(bb, qs, MAXQ), 2);
	SHMQ_PRODUCER_OPTS(po, .topic = "T");
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c1, &po, &p), 0);
	produce(p, 0, 100, 0);
	struct seen *sa = malloc(sizeof(*sa)), *sb = malloc(sizeof(*sb));
	seen_init(sa);
	seen_init(sb);
	consume(a, sa, 100, 10000);
	consume(bb, sb, 100, 10000);
	assert_int_equal(sa->count, 100);
	assert_int_equal(sb->count, 100);
	shmq_producer_close(p);
	shmq_consumer_close(a);
	shmq_consumer_close(bb);
	shmq_client_close(c1);
	shmq_client_close(c2);
	free(sa);
	free(sb);
}

static void test_zero_copy_views_pass_the_check_while_the_ring_holds_them(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "T", 1, NULL), 0);
	SHMQ_CONSUMER_OPTS(co, .group = "zc", .topic = "T", .start = SHMQ_START_LATEST,
			   .zero_copy = true);
	shmq_consumer_t *cs;
	assert_int_equal(shmq_consumer_open(c, &co, &cs), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "T");
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	produce(p, 0, 10, 0);
	struct shmq_msg_view v[16];
	int got = 0;
	uint64_t deadline = shmq_now_ns() + 10000000000ull;
	while (got < 10 && shmq_now_ns() < deadline) {
		int n = shmq_consumer_poll(cs, v, 16, 50000000ull);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			assert_int_equal(body_n(&v[i]), (uint64_t)(got + i));
			assert_int_equal(shmq_consumer_check(cs, &v[i]), 0);
		}
		got += n;
	}
	assert_int_equal(got, 10);
	shmq_consumer_close(cs);
	shmq_producer_close(p);
	shmq_client_close(c);
}

static void test_consumer_rejoins_after_a_broker_sigkill_and_misses_nothing(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "T", 2, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "T", .delivery = SHMQ_DELIVERY_PERSISTED);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	shmq_client_t *cc = itest_connect(b);
	SHMQ_CONSUMER_OPTS(co, .group = "rk", .topic = "T", .start = SHMQ_START_EARLIEST);
	shmq_consumer_t *cs;
	assert_int_equal(shmq_consumer_open(cc, &co, &cs), 0);
	produce(p, 0, 100, 0);
	static uint32_t hits[300];
	memset(hits, 0, sizeof(hits));
	struct shmq_msg_view v[64];
	uint64_t got = 0, deadline = shmq_now_ns() + 10000000000ull;
	while (got < 100 && shmq_now_ns() < deadline) {
		int n = shmq_consumer_poll(cs, v, 64, 50000000ull);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++)
			hits[body_n(&v[i])]++;
		got += (uint64_t)n;
	}
	assert_int_equal(got, 100);
	(void)shmq_consumer_poll(cs, v, 64, 0); /* commits the last batch */
	itest_broker_kill(b);
	assert_int_equal(itest_broker_restart(b), 0);
	produce(p, 100, 100, 0);
	deadline = shmq_now_ns() + 20000000000ull;
	uint64_t distinct = 0;
	while (distinct < 200 && shmq_now_ns() < deadline) {
		int n = shmq_consumer_poll(cs, v, 64, 50000000ull);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			uint64_t k = body_n(&v[i]);
			assert_true(k < 200);
			hits[k]++;
		}
		distinct = 0;
		for (unsigned k = 0; k < 200; k++)
			distinct += hits[k] > 0;
	}
	assert_int_equal(distinct, 200);
	unsigned dups = 0;
	for (unsigned k = 0; k < 200; k++)
		dups += hits[k] - 1;
	struct shmq_consumer_stats cst;
	shmq_consumer_stats(cs, &cst);
	printf("reconnects %" PRIu64 " redelivered %u\n", cst.reconnects, dups);
	assert_true(cst.reconnects >= 1);
	assert_true(dups <= 64); /* at most what was delivered but not committed */
	shmq_consumer_close(cs);
	shmq_producer_close(p);
	shmq_client_close(cc);
	shmq_client_close(c);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_consumer_receives_every_message_once_in_queue_order_immediate, setup,
			itest_teardown_state),
		cmocka_unit_test_setup_teardown(
			test_consumer_receives_every_message_once_in_queue_order_persisted, setup,
			itest_teardown_state),
		cmocka_unit_test_setup_teardown(
			test_consumer_receives_every_message_once_in_queue_order_durable, setup,
			itest_teardown_state),
		cmocka_unit_test_setup_teardown(
			test_consumer_behind_the_ring_reads_the_commitlog_then_rejoins_the_ring,
			setup_small_ring, itest_teardown_state),
		cmocka_unit_test_setup_teardown(
			test_two_members_own_disjoint_queues_and_the_survivor_resumes_from_commits,
			setup, itest_teardown_state),
		cmocka_unit_test_setup_teardown(
			test_handover_under_traffic_never_delivers_a_message_twice, setup, itest_teardown_state),
		cmocka_unit_test_setup_teardown(
			test_manual_commit_resumes_after_the_last_committed_message, setup, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_start_latest_and_timestamp_skip_older_messages,
						setup, itest_teardown_state),
		cmocka_unit_test_setup_teardown(
			test_push_consumer_keeps_queue_order_and_retries_a_failed_message, setup,
			itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_broadcasting_members_each_receive_every_message,
						setup, itest_teardown_state),
		cmocka_unit_test_setup_teardown(
			test_zero_copy_views_pass_the_check_while_the_ring_holds_them, setup, itest_teardown_state),
		cmocka_unit_test_setup_teardown(
			test_consumer_rejoins_after_a_broker_sigkill_and_misses_nothing, setup,
			itest_teardown_state),
	};
	return ITEST_RUN_GROUP(tests, NULL, 0);
}
