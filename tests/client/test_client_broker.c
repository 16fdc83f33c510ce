/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libshmq client, producer and admin calls against a real shmqd (spawned
 * from the build tree: env SHMQD; skipped with 77 when it is not there).
 * Every test gets a fresh broker in a fresh mkdtemp directory.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "shmq/admin.h"
#include "tests/common/tmpdir.h"
#include "tests/integration/itest_cmocka.h"

/* The broker of every test: 1 MiB segments, identity checked by the HELLO test. */
static const struct itest_broker_opts broker_opts = {
	.segment_size = "1M",
	.extra = { "--log-level", "warn", "--broker-id", "5", "--broker-name", "testbroker" },
};

static int setup(void **state)
{
	struct itest_broker *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	*state = b;
	return 0;
}

static int setup_started(void **state)
{
	setup(state);
	assert_int_equal(itest_broker_start(*state, &broker_opts), 0);
	return 0;
}

/* ------------------------------------------------------------------ */

static void test_client_hello_reports_broker_identity_and_missing_broker_is_enoent(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_client_broker_id(c), 5);
	assert_string_equal(shmq_client_broker_name(c), "testbroker");
	assert_int_not_equal(shmq_cli_session(c), 0);
	shmq_client_close(c);
	char none[ITEST_PATH_MAX + 16];
	snprintf(none, sizeof(none), "%s/nobody.sock", b->base);
	assert_int_equal(shmq_client_open(none, NULL, &c), -ENOENT);
	assert_int_equal(shmq_client_open("no-slash-name", NULL, &c), -EINVAL);
}

static void test_topic_create_describe_and_conflicting_queue_count(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	struct shmq_topic_info ti;
	assert_int_equal(shmq_topic_create(c, "Orders", 4, &ti), 0);
	assert_string_equal(ti.name, "Orders");
	assert_int_equal(ti.queues, 4);
	assert_int_equal(shmq_topic_describe(c, "Orders", &ti), 0);
	assert_int_equal(ti.queues, 4);
	assert_true(ti.created_ns > 0);
	assert_int_equal(shmq_topic_create(c, "Orders", 8, &ti), -EEXIST);
	assert_int_equal(ti.queues, 4);
	assert_int_equal(shmq_topic_describe(c, "Nope", &ti), SHMQ_ENOTFOUND);
	assert_true(strlen(shmq_client_last_error()) > 0); /* the broker's text */
	assert_int_equal(shmq_topic_describe(c, "Orders", &ti), 0);
	assert_string_equal(shmq_client_last_error(), "");
	assert_int_equal(shmq_topic_create(c, "bad name", 1, &ti), -EINVAL);
	struct shmq_topic_info *all;
	size_t n;
	assert_int_equal(shmq_topic_create(c, "Alpha", 1, NULL), 0);
	assert_int_equal(shmq_admin_topics(c, &all, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(all[0].name, "Alpha");
	assert_string_equal(all[1].name, "Orders");
	assert_int_equal(all[1].queues, 4);
	free(all);
	shmq_client_close(c);
}

/* Both admin lists are paged (64 per response): 70 topics span two pages. */
static void test_admin_lists_page_through_more_topics_and_rings_than_one_response(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	struct shmq_topic_info *all;
	struct shmq_ring_status *rings;
	size_t n;
	char name[16];

	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "P%02d", i);
		assert_int_equal(shmq_topic_create(c, name, 1, NULL), 0);
	}
	assert_int_equal(shmq_admin_topics(c, &all, &n), 0);
	assert_int_equal(n, 70);
	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "P%02d", i);
		assert_string_equal(all[i].name, name);
		assert_int_equal(all[i].queues, 1);
	}
	free(all);
	assert_int_equal(shmq_admin_rings(c, &rings, &n), 0);
	assert_int_equal(n, 70);
	for (int i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "P%02d", i);
		assert_string_equal(rings[i].topic, name);
		assert_int_equal(rings[i].queue, 0);
	}
	free(rings);
	shmq_client_close(c);
}

static void test_unanswered_request_times_out_and_its_late_answer_is_dropped(void **state)
{
	struct itest_broker *b = *state;
	SHMQ_CLIENT_OPTS(co, .request_timeout_ns = 200000000ull);
	shmq_client_t *c;
	assert_int_equal(shmq_client_open(b->sock, &co, &c), 0);
	assert_int_equal(shmq_topic_create(c, "Late", 1, NULL), 0);
	kill(b->pid, SIGSTOP);
	struct shmq_topic_info ti;
	uint64_t t0 = shmq_now_ns();
	assert_int_equal(shmq_topic_describe(c, "Late", &ti), -ETIMEDOUT);
	assert_true(shmq_now_ns() - t0 >= 200000000ull);
	kill(b->pid, SIGCONT);
	/* the late DESCRIBE answer arrives first; the next request must skip
	 * it and get its own (a STATUS, not a topic_info) */
	struct shmq_broker_status st;
	int rc;
	/* a resumed broker on a loaded machine may need more than the 200 ms
	 * deadline: a timeout is retried (each retry skips late answers too),
	 * any other failure is the bug this test looks for */
	for (int i = 0; (rc = shmq_admin_status(c, &st)) == -ETIMEDOUT && i < 25; i++)
		;
	assert_int_equal(rc, 0);
	assert_int_equal(st.pid, (uint32_t)b->pid);
	assert_int_equal(st.topics, 1);
	shmq_client_close(c);
}

static void test_persisted_send_returns_offsets_and_message_reads_back(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "T", 2, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "T", .delivery = SHMQ_DELIVERY_PERSISTED, .select = SHMQ_SELECT_HASH);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	assert_int_equal(shmq_producer_queues(p), 2);
	const struct shmq_prop props[] = { { "color", "red" } };
	uint64_t last_qo[2] = { UINT64_MAX, UINT64_MAX };
	for (int i = 0; i < 20; i++) {
		char body[32];
		int n = snprintf(body, sizeof(body), "message %d", i);
		struct shmq_message m = { .body = body, .body_len = (uint32_t)n, .keys = i % 2 ? "odd" : "even",
					  .tags = "TagA", .props = props, .nprops = 1 };
		struct shmq_send_result r;
		int rc = shmq_producer_send(p, &m, &r);
		if (rc < 0)
			fail_msg("send %d: %s", i, shmq_strerror(rc));
		assert_int_equal(r.queue_id, shmq_select_hash(m.keys, strlen(m.keys)) % 2);
		assert_int_not_equal(r.queue_offset, SHMQ_OFFSET_UNKNOWN);
		assert_int_not_equal(r.store_offset, SHMQ_OFFSET_UNKNOWN);
		assert_int_equal(strlen(r.msg_id), SHMQ_MSGID_STRLEN);
		/* per queue, offsets are dense */
		if (last_qo[r.queue_id] != UINT64_MAX)
			assert_int_equal(r.queue_offset, last_qo[r.queue_id] + 1);
		last_qo[r.queue_id] = r.queue_offset;
		struct shmq_admin_msg am;
		assert_int_equal(shmq_admin_read_msgid(c, r.msg_id, &am), 0);
		assert_int_equal(am.v.body_len, (uint32_t)n);
		assert_memory_equal(am.v.body, body, (size_t)n);
		assert_string_equal(am.v.topic, "T");
		assert_string_equal(am.v.tags, "TagA");
		assert_int_equal(am.v.producer_id, r.producer_id);
		assert_int_equal(am.v.producer_seq, r.producer_seq);
		const char *v;
		assert_int_equal(shmq_msg_prop(&am.v, "color", &v), 0);
		assert_string_equal(v, "red");
		shmq_admin_msg_free(&am);
		assert_int_equal(shmq_admin_read_queue(c, "T", r.queue_id, r.queue_offset, &am), 0);
		assert_int_equal(am.v.store_offset, r.store_offset);
		shmq_admin_msg_free(&am);
	}
	/* key query: newest first, only the right key */
	struct shmq_admin_msg *hits;
	int n = shmq_admin_query_key(c, "T", "odd", 0, UINT64_MAX, 64, &hits);
	assert_int_equal(n, 10);
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < i; j++) /* distinct records */
			assert_int_not_equal(hits[i].v.store_offset, hits[j].v.store_offset);
		assert_string_equal(hits[i].v.keys, "odd");
		if (i > 0) /* newest first (by store time; ties in any order) */
			assert_true(hits[i].store_ts_ms <= hits[i - 1].store_ts_ms);
	}
	for (int i = 0; i < n; i++)
		shmq_admin_msg_free(&hits[i]);
	free(hits);
	/* group progress of a group that never joined: max offsets, no commit */
	struct shmq_group_progress *g;
	assert_int_equal(shmq_admin_group_progress(c, "G1", "T", &g), 0);
	assert_int_equal(g->queues, 2);
	assert_int_equal(g->q[0].max_offset + g->q[1].max_offset, 20);
	assert_int_equal(g->q[0].committed, SHMQ_OFFSET_UNKNOWN);
	free(g);
	shmq_producer_close(p);
	shmq_client_close(c);
}

static void test_batch_send_is_one_queue_with_consecutive_offsets(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "B", 3, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "B", .delivery = SHMQ_DELIVERY_PERSISTED);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	enum { N = 3000 }; /* more than one batch record (1024 messages) */
	struct shmq_message *m = calloc(N, sizeof(*m));
	struct shmq_send_result *r = calloc(N, sizeof(*r));
	static char bodies[N][16];
	for (int i = 0; i < N; i++) {
		int n = snprintf(bodies[i], sizeof(bodies[i]), "b%d", i);
		m[i] = (struct shmq_message){ .body = bodies[i], .body_len = (uint32_t)n };
	}
	int rc = shmq_producer_send_batch(p, m, N, r);
	if (rc != N)
		fail_msg("batch: %d (%s)", rc, shmq_strerror(rc));
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].queue_id, r[0].queue_id);
		assert_int_equal(r[i].queue_offset, r[0].queue_offset + (uint64_t)i);
		assert_int_equal(r[i].producer_seq, r[0].producer_seq + (uint64_t)i);
		if (i)
			assert_true(r[i].store_offset > r[i - 1].store_offset);
	}
	struct shmq_admin_msg am;
	assert_int_equal(shmq_admin_read_queue(c, "B", r[0].queue_id, r[N - 1].queue_offset, &am), 0);
	assert_memory_equal(am.v.body, bodies[N - 1], strlen(bodies[N - 1]));
	shmq_admin_msg_free(&am);
	/* the logreader learns bounds from the broker: OPEN_CQ for the queue
	 * written, GROUP_PROGRESS for the empty ones (no CQ file yet) */
	shmq_logreader_t *lr;
	assert_int_equal(shmq_logreader_create(c, &lr), 0);
	for (uint32_t q = 0; q < 3; q++) {
		uint64_t min = 1, max = 1;
		assert_int_equal(shmq_logreader_queue_bounds(lr, "B", q, &min, &max), 0);
		assert_int_equal(min, 0);
		assert_int_equal(max, q == r[0].queue_id ? (uint64_t)N : 0);
	}
	uint64_t off;
	uint32_t size;
	assert_int_equal(shmq_logreader_cq_get(lr, "B", r[0].queue_id, N, &off, &size), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_logreader_cq_get(lr, "B", r[0].queue_id, N - 1, &off, &size), 0);
	assert_int_equal(off, r[N - 1].store_offset);
	assert_true(shmq_logreader_flushed(lr, true) <= r[N - 1].store_offset + size);
	shmq_logreader_destroy(lr);
	free(m);
	free(r);
	shmq_producer_close(p);
	shmq_client_close(c);
}

struct async_log {
	pthread_mutex_t lock;
	unsigned n;
	int status[400];
	struct shmq_send_result res[400];
};

static void on_done(void *arg, int status, const struct shmq_send_result *res)
{
	struct async_log *l = arg;
	pthread_mutex_lock(&l->lock);
	l->status[l->n] = status;
	if (res)
		l->res[l->n] = *res;
	l->n++;
	pthread_mutex_unlock(&l->lock);
}

/* 400 async sends on @p topic's 2 queues at @p delivery: each completes once,
 * successfully, with its queue offset, in send order per queue. */
static void async_in_order(struct itest_broker *b, const char *topic, enum shmq_delivery delivery)
{
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, topic, 2, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = topic, .delivery = delivery);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	struct async_log *l = calloc(1, sizeof(*l));
	pthread_mutex_init(&l->lock, NULL);
	for (int i = 0; i < 400; i++) {
		struct shmq_message m = { .body = &i, .body_len = sizeof(i) };
		assert_int_equal(shmq_producer_send_async(p, &m, on_done, l), 0);
	}
	assert_int_equal(shmq_producer_flush(p, 10000000000ull), 0);
	assert_int_equal(l->n, 400);
	uint64_t next[2] = { 0, 0 };
	for (int i = 0; i < 400; i++) {
		assert_int_equal(l->status[i], 0);
		uint32_t q = l->res[i].queue_id;
		assert_true(q < 2);
		/* completions of a queue come in queue-offset (= send) order */
		assert_int_equal(l->res[i].queue_offset, next[q]);
		next[q]++;
	}
	assert_int_equal(next[0] + next[1], 400);
	shmq_producer_close(p);
	pthread_mutex_destroy(&l->lock);
	free(l);
	shmq_client_close(c);
}

static void test_async_completions_run_once_each_in_send_order_per_queue(void **state)
{
	async_in_order(*state, "A", SHMQ_DELIVERY_PERSISTED);
}

/* DURABLE completions carry the offsets read when PERSISTED passed (the
 * completion itself waits for the flush) */
static void test_async_durable_completions_carry_their_offsets_in_order(void **state)
{
	async_in_order(*state, "AD", SHMQ_DELIVERY_DURABLE);
}

static void test_message_above_max_size_is_too_big_and_bad_property_invalid(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "S", 1, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "S");
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	size_t big = 64 * 1024;
	char *body = calloc(1, big);
	struct shmq_message m = { .body = body, .body_len = (uint32_t)big };
	assert_int_equal(shmq_producer_send(p, &m, NULL), SHMQ_ETOOBIG);
	m.body_len = 1000;
	struct shmq_send_result r;
	assert_int_equal(shmq_producer_send(p, &m, &r), 0);
	assert_int_equal(r.queue_offset, SHMQ_OFFSET_UNKNOWN); /* RING delivery */
	assert_string_equal(r.msg_id, "");
	const struct shmq_prop bad[] = { { "KEYS", "x" } };
	m.props = bad;
	m.nprops = 1;
	assert_int_equal(shmq_producer_send(p, &m, NULL), -EINVAL);
	free(body);
	shmq_producer_close(p);
	shmq_producer_close(NULL);
	shmq_client_close(c);
}

static void test_full_ring_back_pressures_while_broker_is_stopped(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "P", 1, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "P", .send_timeout_ns = 20000000ull);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	kill(b->pid, SIGSTOP);
	char body[4096] = { 0 };
	struct shmq_message m = { .body = body, .body_len = sizeof(body) };
	int rc = 0, sent = 0;
	uint64_t t0 = shmq_now_ns();
	while ((rc = shmq_producer_send(p, &m, NULL)) == 0 && sent < 10000)
		sent++;
	assert_int_equal(rc, SHMQ_BACK_PRESSURED);
	assert_true(sent > 100 && sent < 1024 * 1024 / 4096 + 1); /* about a 1 MiB ring */
	assert_true(shmq_now_ns() - t0 >= 20000000ull);
	kill(b->pid, SIGCONT);
	/* the persister drains: sending works again */
	po.delivery = SHMQ_DELIVERY_PERSISTED;
	po.send_timeout_ns = 5000000000ull;
	shmq_producer_t *p2;
	assert_int_equal(shmq_producer_open(c, &po, &p2), 0);
	struct shmq_send_result r;
	rc = shmq_producer_send(p2, &m, &r);
	if (rc < 0)
		fail_msg("after SIGCONT: %s", shmq_strerror(rc));
	assert_int_equal(r.queue_offset, (uint64_t)sent);
	shmq_producer_close(p2);
	shmq_producer_close(p);
	shmq_client_close(c);
}

static void test_producer_keeps_working_across_a_broker_sigkill_restart(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "R", 2, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "R", .delivery = SHMQ_DELIVERY_PERSISTED);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	struct shmq_message m = { .body = "x", .body_len = 1 };
	for (int i = 0; i < 10; i++)
		assert_int_equal(shmq_producer_send(p, &m, NULL), 0);
	uint32_t epoch = shmq_cli_epoch(c);
	itest_broker_kill(b);
	assert_int_equal(itest_broker_restart(b), 0);
	/* the first sends after the restart: PERSISTED waits on the same ring
	 * file, which the new broker re-opens and drains */
	struct shmq_send_result r;
	for (int i = 0; i < 10; i++) {
		int rc = shmq_producer_send(p, &m, &r);
		if (rc < 0)
			fail_msg("send after restart: %s", shmq_strerror(rc));
	}
	/* an admin request reconnects the client by itself */
	struct shmq_broker_status st;
	assert_int_equal(shmq_admin_status(c, &st), 0);
	assert_true(shmq_cli_epoch(c) > epoch);
	assert_int_equal(st.pid, (uint32_t)b->pid);
	struct shmq_group_progress *g;
	assert_int_equal(shmq_admin_group_progress(c, "G", "R", &g), 0);
	assert_int_equal(g->q[0].max_offset + g->q[1].max_offset, 20); /* nothing lost, nothing twice */
	free(g);
	struct shmq_ring_status *rings;
	size_t n;
	assert_int_equal(shmq_admin_rings(c, &rings, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rings[0].topic, "R");
	assert_int_equal(rings[0].queue, 0);
	assert_int_equal(rings[1].queue, 1);
	for (int i = 0; i < 2; i++) {
		/* every committed record persisted; the anchor's queue offset is
		 * that of the last record the persister read (P1), at most 10 */
		assert_int_equal(rings[i].persisted, rings[i].tail);
		assert_true(rings[i].next_queue_offset <= 10);
	}
	free(rings);
	shmq_producer_close(p);
	shmq_client_close(c);
}

static void test_producer_follows_the_broker_to_a_new_ring_file(void **state)
{
	struct itest_broker *b = *state;
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "N", 1, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "N", .delivery = SHMQ_DELIVERY_PERSISTED,
			   .ack_timeout_ns = 3000000000ull);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	struct shmq_message m = { .body = "y", .body_len = 1 };
	struct shmq_send_result r;
	for (int i = 0; i < 3; i++)
		assert_int_equal(shmq_producer_send(p, &m, &r), 0);
	/* the ring file is lost with the broker (as on a host reboot): the new
	 * broker creates another file, the producer must move to it */
	itest_broker_kill(b);
	char ring[ITEST_PATH_MAX + 16];
	snprintf(ring, sizeof(ring), "%s/N.0.ring", b->rings);
	assert_int_equal(unlink(ring), 0);
	assert_int_equal(itest_broker_restart(b), 0);
	itest_sleep_ms(150); /* past the 100 ms liveness-check rate limit */
	int rc = shmq_producer_send(p, &m, &r);
	if (rc < 0)
		fail_msg("send after ring loss: %s", shmq_strerror(rc));
	assert_int_equal(r.queue_offset, 3); /* the store kept 0..2 */
	assert_int_equal(shmq_producer_send(p, &m, &r), 0);
	assert_int_equal(r.queue_offset, 4);
	shmq_producer_close(p);
	shmq_client_close(c);
}

static void test_durable_send_waits_for_the_flush(void **state)
{
	struct itest_broker *b = *state;
	struct itest_broker_opts o = broker_opts;

	o.sync_flush = true;
	assert_int_equal(itest_broker_start(b, &o), 0);
	shmq_client_t *c = itest_connect(b);
	assert_int_equal(shmq_topic_create(c, "D", 1, NULL), 0);
	SHMQ_PRODUCER_OPTS(po, .topic = "D", .delivery = SHMQ_DELIVERY_DURABLE);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	struct shmq_message m = { .body = "durable", .body_len = 7 };
	struct shmq_send_result r;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(shmq_producer_send(p, &m, &r), 0);
		assert_int_equal(r.queue_offset, (uint64_t)i);
		struct shmq_broker_status st;
		assert_int_equal(shmq_admin_status(c, &st), 0);
		assert_true(st.commitlog_flushed_offset > r.store_offset);
		assert_int_equal(st.flush_mode, 1);
	}
	shmq_producer_close(p);
	shmq_client_close(c);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_client_hello_reports_broker_identity_and_missing_broker_is_enoent, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_topic_create_describe_and_conflicting_queue_count, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_admin_lists_page_through_more_topics_and_rings_than_one_response, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_unanswered_request_times_out_and_its_late_answer_is_dropped, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_persisted_send_returns_offsets_and_message_reads_back, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_batch_send_is_one_queue_with_consecutive_offsets, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_async_completions_run_once_each_in_send_order_per_queue, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_async_durable_completions_carry_their_offsets_in_order, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_message_above_max_size_is_too_big_and_bad_property_invalid, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_full_ring_back_pressures_while_broker_is_stopped, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_producer_keeps_working_across_a_broker_sigkill_restart, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_producer_follows_the_broker_to_a_new_ring_file, setup_started, itest_teardown_state),
		cmocka_unit_test_setup_teardown(test_durable_send_waits_for_the_flush, setup, itest_teardown_state),
	};
	return ITEST_RUN_GROUP(tests, NULL, 0);
}
