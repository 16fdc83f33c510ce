/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmq-probe against a real shmqd and real libshmq clients. Two runs of this
 * program (meson registers both):
 *
 *   test_probe_broker          shmq-probe --no-bpf: the broker's in-process
 *                              counters (status, rings, topics, group lag)
 *                              over /metrics. No privilege, no BPF.
 *   test_probe_broker bpf      shmq-probe attached to shmqd and libshmq.so
 *                              (the real probe sites): a producer process
 *                              and two consumer processes (one with the
 *                              order-skip test hook) run a known workload;
 *                              the pinned maps read with bpftool, /metrics,
 *                              and a real Prometheus server scraping it.
 *                              Needs root and BPF: otherwise exits 77 saying
 *                              why.
 *
 * The broker runs through the integration harness (env SHMQD); env
 * SHMQ_PROBE (the exporter), LIBSHMQ (libshmq.so, whose probes are
 * attached), BPFTOOL, PROMETHEUS (else the scrape test skips).
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ebpf/probes.h"
#include "shmq/admin.h"
#include "shmq/shmq.h"
#include "probe_test_util.h"
#include "prom_util.h"
#include "map_util.h"
#include "tests/integration/itest.h"

#define TOPIC   "metrics-t"
#define QUEUES  2
#define GROUP   "metrics-g"
#define N_MSGS  10

static struct {
	struct itest_broker b;
	struct child probe;
	unsigned port;
	char broker[160];
} T;

/* The number at the end of the line that starts with `prefix`, or -1. */
static long long series_value(const char *body, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *l = body; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, prefix, n) == 0 && l[n] == ' ')
			return strtoll(l + n + 1, NULL, 10);
	return -1;
}

static char *scrape(void)
{
	char *r = http_get_port(T.port, "/metrics");
	assert_non_null(r);
	assert_true(strncmp(r, "HTTP/1.0 200", 12) == 0 || strncmp(r, "HTTP/1.1 200", 12) == 0);
	return r;
}

static int setup(void **state)
{
	(void)state;
	T.probe.in = -1;
	int rc = itest_broker_start(&T.b, &(struct itest_broker_opts){ 0 });
	if (rc < 0) {
		fprintf(stderr, "broker start: %s\n", strerror(-rc));
		itest_broker_dump_log(&T.b, 4096);
		return -1;
	}
	/* Messages to count, with PERSISTED delivery: in the store on return. */
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	SHMQ_PRODUCER_OPTS(o, .topic = TOPIC, .delivery = SHMQ_DELIVERY_PERSISTED);
	if (shmq_client_open(T.b.sock, NULL, &c) < 0 ||
	    shmq_topic_create(c, TOPIC, QUEUES, NULL) < 0 || shmq_producer_open(c, &o, &p) < 0)
		return -1;
	for (int i = 0; i < N_MSGS; i++) {
		char body[32];
		int len = snprintf(body, sizeof(body), "m%d", i);
		struct shmq_message m = { .body = body, .body_len = (uint32_t)len };
		if (shmq_producer_send(p, &m, NULL) < 0)
			return -1;
	}
	shmq_producer_close(p);
	/* A consumer group with committed offsets, so it has lag series. */
	struct shmq_group_progress *gp = NULL;
	rc = shmq_admin_group_reset(c, GROUP, TOPIC, SHMQ_START_EARLIEST, 0, &gp);
	free(gp);
	shmq_client_close(c);
	if (rc < 0) {
		fprintf(stderr, "group reset: %s\n", shmq_strerror(rc));
		return -1;
	}

	char *argv[] = { (char *)getenv("SHMQ_PROBE"), "--no-bpf", "--socket", T.b.sock,
		"--group", GROUP, "--port", "0", NULL };
	if (argv[0] == NULL || spawn(&T.probe, argv, NULL) != 0)
		return -1;
	char line[512];
	if (read_line(&T.probe, line, sizeof(line)) == NULL ||
	    sscanf(line, "ready port=%u pin_root=- links=0 broker=%159s", &T.port, T.broker) != 2) {
		fprintf(stderr, "shmq-probe did not become ready\n");
		return -1;
	}
	printf("# shmq-probe --no-bpf: port %u, broker %s\n", T.port, T.broker);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	child_close(&T.probe, true);
	itest_broker_cleanup(&T.b);
	return 0;
}

static void test_no_bpf_exporter_serves_the_broker_status_and_ring_series(void **state)
{
	(void)state;
	char *r = scrape();
	char k[512];
	snprintf(k, sizeof(k), "shmq_broker_up{broker=\"%s\"}", T.broker);
	assert_int_equal(series_value(r, k), 1);
	snprintf(k, sizeof(k), "shmq_broker_messages_total{broker=\"%s\"}", T.broker);
	assert_int_equal(series_value(r, k), N_MSGS);
	snprintf(k, sizeof(k), "shmq_topic_info{broker=\"%s\",topic=\"%s\",topic_hash=\"%08x\"}",
		 T.broker, TOPIC, shmq_probe_name_hash(TOPIC));
	assert_int_equal(series_value(r, k), QUEUES);
	long long next = 0;
	for (int q = 0; q < QUEUES; q++) {
		snprintf(k, sizeof(k),
			 "shmq_queue_next_offset{broker=\"%s\",topic=\"%s\",topic_hash=\"%08x\",queue=\"%d\"}",
			 T.broker, TOPIC, shmq_probe_name_hash(TOPIC), q);
		long long v = series_value(r, k);
		assert_true(v >= 0);
		next += v;
		snprintf(k, sizeof(k),
			 "shmq_ring_fill_bytes{broker=\"%s\",topic=\"%s\",topic_hash=\"%08x\",queue=\"%d\"}",
			 T.broker, TOPIC, shmq_probe_name_hash(TOPIC), q);
		assert_int_equal(series_value(r, k), 0); /* all persisted */
	}
	assert_int_equal(next, N_MSGS); /* round robin over the queues */
	/* No BPF series without BPF. */
	assert_null(strstr(r, "shmq_produce_to_persist_seconds"));
	free(r);
}

static void test_group_lag_is_exported_per_queue(void **state)
{
	(void)state;
	char *r = scrape();
	long long lag = 0;
	for (int q = 0; q < QUEUES; q++) {
		char k[512];
		snprintf(k, sizeof(k),
			 "shmq_group_lag_messages{broker=\"%s\",group=\"%s\",group_hash=\"%08x\",topic=\"%s\",topic_hash=\"%08x\",queue=\"%d\"}",
			 T.broker, GROUP, shmq_probe_name_hash(GROUP), TOPIC, shmq_probe_name_hash(TOPIC), q);
		long long v = series_value(r, k);
		if (v < 0)
			fail_msg("missing: %s", k);
		lag += v;
	}
	assert_int_equal(lag, N_MSGS); /* reset to the earliest: nothing consumed */
	free(r);
}

static void test_a_stopped_broker_scrapes_as_down(void **state)
{
	(void)state;
	assert_int_equal(itest_broker_stop(&T.b), 0);
	char *r = scrape();
	char k[256];
	snprintf(k, sizeof(k), "shmq_broker_up{broker=\"%s\"}", T.broker);
	assert_int_equal(series_value(r, k), 0);
	free(r);
	kill(T.probe.pid, SIGTERM);
	assert_int_equal(wait_exit(&T.probe), 0);
}

/* ------------------------------------------------------------------ */
/* With BPF: shmq-probe attached to shmqd and libshmq.so                */

#define B_TOPIC    "probe-t"
#define B_QUEUES   2
#define B_GROUP_OK "probe-g-normal"
#define B_GROUP_SK "probe-g-skip"
#define B_MSGS     200u
#define B_SAMPLE   4u  /* producer's SHMQ_PROBE_SAMPLE; broker and consumers: every batch */
#define B_SKIP_AT  2   /* the skip consumer's SHMQ_TEST_ORDER_SKIP */

/* What the consumer processes saw (shared memory). */
struct b_result {
	uint64_t got[2];
	uint64_t app_gaps[2]; /* offsets not following the previous one of their queue */
};

static struct {
	struct itest_broker b;
	struct child probe;
	unsigned port;
	char broker[160];
	char pin_root[256];
	struct b_result *res;
	uint32_t topic, g_ok, g_sk;
	bool pins_made;
} B;

struct b_cons {
	int idx;
	const char *group;
	int skip_at;
	uint64_t expect;
};

static int b_consumer(void *arg)
{
	const struct b_cons *a = arg;
	setenv("SHMQ_PROBE_SAMPLE", "1", 1);
	if (a->skip_at > 0) {
		char v[16];
		snprintf(v, sizeof(v), "%d", a->skip_at);
		setenv("SHMQ_TEST_ORDER_SKIP", v, 1);
	}
	shmq_client_t *c = NULL;
	shmq_consumer_t *cs = NULL;
	SHMQ_CONSUMER_OPTS(o, .group = a->group, .topic = B_TOPIC, .start = SHMQ_START_EARLIEST);
	int rc = shmq_client_open(B.b.sock, NULL, &c);
	if (rc == 0)
		rc = shmq_consumer_open(c, &o, &cs);
	if (rc < 0) {
		fprintf(stderr, "consumer %s: %s\n", a->group, shmq_strerror(rc));
		return 1;
	}
	uint64_t next[B_QUEUES] = { 0 }, got = 0, gaps = 0;
	uint64_t deadline = itest_now_ns() + 30ull * 1000000000ull;
	struct shmq_msg_view v[64];
	while (got < a->expect && itest_now_ns() < deadline) {
		int n = shmq_consumer_poll(cs, v, 64, 100000000ull);
		for (int i = 0; i < n; i++) {
			if (v[i].queue_id >= B_QUEUES)
				return 1;
			if (v[i].queue_offset != next[v[i].queue_id])
				gaps++;
			next[v[i].queue_id] = v[i].queue_offset + 1;
		}
		if (n > 0)
			got += (uint64_t)n;
	}
	/* plain stores: the parent reads them after waitpid() */
	B.res->got[a->idx] = got;
	B.res->app_gaps[a->idx] = gaps;
	shmq_consumer_close(cs);
	shmq_client_close(c);
	return got == a->expect ? 0 : 1;
}

static int b_producer(void *arg)
{
	(void)arg;
	char v[16];
	snprintf(v, sizeof(v), "%u", B_SAMPLE);
	setenv("SHMQ_PROBE_SAMPLE", v, 1);
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	SHMQ_PRODUCER_OPTS(o, .topic = B_TOPIC, .delivery = SHMQ_DELIVERY_PERSISTED);
	int rc = shmq_client_open(B.b.sock, NULL, &c);
	if (rc == 0)
		rc = shmq_producer_open(c, &o, &p);
	for (unsigned i = 0; rc == 0 && i < B_MSGS; i++) {
		char body[64];
		itest_body_fill(body, sizeof(body), 1, 0, i);
		struct shmq_message m = { .body = body, .body_len = sizeof(body) };
		rc = shmq_producer_send(p, &m, NULL);
	}
	if (rc < 0)
		fprintf(stderr, "producer: %s\n", shmq_strerror(rc));
	shmq_producer_close(p);
	shmq_client_close(c);
	return rc < 0 ? 1 : 0;
}

static void b_cleanup(void)
{
	child_close(&B.probe, true);
	itest_kill_all();
	if (B.pins_made)
		remove_pins(B.pin_root);
	itest_broker_cleanup(&B.b);
	if (B.res)
		itest_shared_free(B.res, sizeof(*B.res));
	B.res = NULL;
}

/* The sum of one field of queue_stats over the topic's queues. */
static uint64_t qstat_sum(json_object *qs, const char *field)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < json_object_array_length(qs); i++) {
		json_object *k, *v;
		formatted(qs, i, &k, &v);
		if ((uint32_t)jget(k, "topic_hash") == B.topic)
			sum += jget(v, field);
	}
	return sum;
}

static json_object *b_find(json_object *arr, const char *f1, uint64_t v1, const char *f2,
	uint64_t v2, const char *f3, uint64_t v3)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *k, *v;
		formatted(arr, i, &k, &v);
		if (jget(k, f1) == v1 && jget(k, f2) == v2 && jget(k, f3) == v3)
			return v;
	}
	return NULL;
}

/* Returns 0, 77 (skip, says why) or 1 (failure). */
static int b_start(void)
{
	if (geteuid() != 0) {
		printf("SKIP: test_probe_broker bpf needs root (BPF programs and uprobes need CAP_SYS_ADMIN)\n");
		return 77;
	}
	const char *probe = getenv("SHMQ_PROBE"), *lib = getenv("LIBSHMQ");
	if (probe == NULL || lib == NULL || getenv("BPFTOOL") == NULL) {
		fprintf(stderr, "SHMQ_PROBE, LIBSHMQ or BPFTOOL not set (run through meson test)\n");
		return 1;
	}
	B.probe.in = -1;
	B.topic = shmq_probe_name_hash(B_TOPIC);
	B.g_ok = shmq_probe_name_hash(B_GROUP_OK);
	B.g_sk = shmq_probe_name_hash(B_GROUP_SK);
	B.res = itest_shared_alloc(sizeof(*B.res));
	if (B.res == NULL)
		return 1;
	/* The broker (which inherits it) and the consumers fire on every batch;
	 * the producer sets its own sampling. */
	setenv("SHMQ_PROBE_SAMPLE", "1", 1);
	int rc = itest_broker_start(&B.b, &(struct itest_broker_opts){ .flush_interval_ms = "5" });
	if (rc < 0) {
		fprintf(stderr, "broker start: %s\n", strerror(-rc));
		itest_broker_dump_log(&B.b, 4096);
		return 1;
	}
	shmq_client_t *c = NULL;
	rc = shmq_client_open(B.b.sock, NULL, &c);
	if (rc == 0)
		rc = shmq_topic_create(c, B_TOPIC, B_QUEUES, NULL);
	shmq_client_close(c); /* no libshmq handle across fork() */
	if (rc < 0) {
		fprintf(stderr, "topic create: %s\n", shmq_strerror(rc));
		return 1;
	}

	/* A broker name of our own: --cleanup must never remove another
	 * broker's pins (the default would be the broker's name, "shmqd"). */
	static char name[32];
	snprintf(name, sizeof(name), "itest-%d", (int)getpid());
	char *argv[] = { (char *)probe, "--binary", (char *)itest_shmqd_path(), "--binary", (char *)lib,
		"--broker", name, "--socket", B.b.sock, "--group", B_GROUP_OK, "--group", B_GROUP_SK, "--port", "0",
		"--cleanup", NULL };
	if (spawn(&B.probe, argv, NULL) != 0)
		return 1;
	char line[512];
	int ready = probe_wait_ready(&B.probe, line, sizeof(line));
	if (ready != 0)
		return ready;
	int links = 0;
	if (sscanf(line, "ready port=%u pin_root=%255s links=%d broker=%159s", &B.port, B.pin_root,
		   &links, B.broker) != 4) {
		fprintf(stderr, "unexpected shmq-probe line: %s", line);
		return 1;
	}
	B.pins_made = true;
	printf("# shmq-probe ready: port %u, %d links, pins in %s\n", B.port, links, B.pin_root);
	/* shmqd: persist_batch, flush, queue_owner, offset_reset, ring_unblock;
	 * libshmq: produce_batch, backpressure, deliver_batch, queue_owner,
	 * offset_reset; + the 2 fdatasync tracepoints. */
	if (links != 12) {
		fprintf(stderr, "expected 12 links, got %d\n", links);
		return 1;
	}

	/* Consumers first (from the earliest offset), then the producer. */
	static struct b_cons ca[2] = {
		{ 0, B_GROUP_OK, 0, B_MSGS },
		{ 1, B_GROUP_SK, B_SKIP_AT, B_MSGS - 1 }, /* the hook skips one message */
	};
	pid_t pids[3] = { itest_spawn(b_consumer, &ca[0]), itest_spawn(b_consumer, &ca[1]),
		itest_spawn(b_producer, NULL) };
	int failed = 0;
	for (int i = 2; i >= 0; i--)
		if (pids[i] < 0 || itest_wait(pids[i], 40000) != 0)
			failed++;
	printf("# consumers got %" PRIu64 " (normal) and %" PRIu64 " (skip hook) messages\n",
	       B.res->got[0], B.res->got[1]);
	if (failed) {
		fprintf(stderr, "%d client process(es) failed\n", failed);
		itest_broker_dump_log(&B.b, 4096);
		return 1;
	}
	return 0;
}

static void test_bpf_histogram_counts_equal_the_sampled_messages(void **state)
{
	(void)state;
	/* The last persist batches become durable at the next flush (5 ms). */
	json_object *h = NULL;
	uint64_t covered = 0;
	for (int i = 0; i < 100 && covered < B_QUEUES; i++) {
		if (h)
			json_object_put(h);
		usleep(50000);
		h = dump_map(B.pin_root, "hist");
		covered = 0;
		for (uint32_t q = 0; q < B_QUEUES; q++)
			covered += b_find(h, "kind", SHMQ_HIST_PERSIST_FLUSH, "topic_hash", B.topic,
					  "queue", q) != NULL;
	}
	json_object *qs = dump_map(B.pin_root, "queue_stats");
	/* Sampling: one produce batch (here one message) in B_SAMPLE. */
	assert_int_equal(qstat_sum(qs, "produce_batches"), B_MSGS / B_SAMPLE);
	assert_int_equal(qstat_sum(qs, "produce_msgs"), B_MSGS / B_SAMPLE);
	assert_int_equal(qstat_sum(qs, "persist_msgs"), B_MSGS);
	assert_int_equal(qstat_sum(qs, "deliver_msgs"), 2 * B_MSGS - 1);
	for (uint32_t q = 0; q < B_QUEUES; q++) {
		json_object *s = b_find(qs, "topic_hash", B.topic, "queue", q, "queue", q);
		assert_non_null(s);
		/* every persist batch carries its oldest born time */
		json_object *v = b_find(h, "kind", SHMQ_HIST_PRODUCE_PERSIST, "topic_hash", B.topic, "queue", q);
		assert_non_null(v);
		assert_int_equal(hist_count(v, 0), jget(s, "persist_batches"));
		/* consumers sample every deliver batch (SHMQ_PROBE_SAMPLE=1) */
		v = b_find(h, "kind", SHMQ_HIST_PRODUCE_CONSUME, "topic_hash", B.topic, "queue", q);
		assert_non_null(v);
		assert_int_equal(hist_count(v, 0), jget(s, "deliver_batches"));
		/* a flush covers one or more persist batches of the queue */
		v = b_find(h, "kind", SHMQ_HIST_PERSIST_FLUSH, "topic_hash", B.topic, "queue", q);
		assert_non_null(v);
		uint64_t n = hist_count(v, 0);
		assert_true(n >= 1 && n <= jget(s, "persist_batches"));
		printf("# queue %u: %" PRIu64 " persist batches, %" PRIu64 " deliver batches, %" PRIu64
		       " persist->flush samples\n", q, jget(s, "persist_batches"),
		       jget(s, "deliver_batches"), n);
	}
	json_object *t = dump_map(B.pin_root, "totals");
	assert_int_equal(json_object_array_length(t), 1);
	json_object *tk, *tv;
	formatted(t, 0, &tk, &tv);
	assert_true(jget(tv, "flushes") >= 1);
	assert_true(jget(tv, "fdatasyncs") >= 1);
	json_object *v = b_find(h, "kind", SHMQ_HIST_FLUSH_DURATION, "topic_hash", 0, "queue", 0);
	assert_non_null(v);
	assert_int_equal(hist_count(v, 0), jget(tv, "flushes"));
	v = b_find(h, "kind", SHMQ_HIST_FDATASYNC, "topic_hash", 0, "queue", 0);
	assert_non_null(v);
	assert_int_equal(hist_count(v, 0), jget(tv, "fdatasyncs"));
	json_object_put(t);
	json_object_put(qs);
	json_object_put(h);
}

static void test_bpf_injected_order_skip_counts_once_and_a_normal_run_zero(void **state)
{
	(void)state;
	/* What the applications saw: the hook really skipped one message. */
	assert_int_equal(B.res->app_gaps[0], 0);
	assert_int_equal(B.res->app_gaps[1], 1);
	json_object *o = dump_map(B.pin_root, "order_viol");
	uint64_t ok = 0, sk = 0, resets = 0;
	for (uint32_t q = 0; q < B_QUEUES; q++) {
		json_object *v = b_find(o, "group_hash", B.g_ok, "topic_hash", B.topic, "queue", q);
		assert_non_null(v); /* the ownership probes made the entry */
		ok += jget(v, "violations");
		resets += jget(v, "declared_resets");
		v = b_find(o, "group_hash", B.g_sk, "topic_hash", B.topic, "queue", q);
		assert_non_null(v);
		sk += jget(v, "violations");
		if (jget(v, "violations") == 1)
			assert_int_equal(jget(v, "last_got"), jget(v, "last_expected") + 1);
	}
	assert_int_equal(ok, 0);
	assert_int_equal(sk, 1);
	/* each queue: the broker's assignment and the consumer's positioning */
	assert_true(resets >= B_QUEUES);
	json_object_put(o);
}

static void test_bpf_metrics_merge_the_maps_with_the_in_process_counters(void **state)
{
	(void)state;
	char *r = http_get_port(B.port, "/metrics");
	assert_non_null(r);
	char k[512];
	snprintf(k, sizeof(k), "shmq_broker_up{broker=\"%s\"}", B.broker);
	assert_int_equal(series_value(r, k), 1);
	snprintf(k, sizeof(k), "shmq_broker_messages_total{broker=\"%s\"}", B.broker);
	assert_int_equal(series_value(r, k), B_MSGS);
	long long persisted = 0, lag = 0;
	for (int q = 0; q < B_QUEUES; q++) {
		snprintf(k, sizeof(k), "shmq_persist_messages_sampled_total{broker=\"%s\",topic_hash=\"%08x\",queue=\"%d\"}",
			 B.broker, B.topic, q);
		persisted += series_value(r, k);
		snprintf(k, sizeof(k), "shmq_produce_to_consume_seconds_count{broker=\"%s\",topic_hash=\"%08x\",queue=\"%d\"}",
			 B.broker, B.topic, q);
		assert_true(series_value(r, k) > 0);
		snprintf(k, sizeof(k),
			 "shmq_group_lag_messages{broker=\"%s\",group=\"%s\",group_hash=\"%08x\",topic=\"%s\",topic_hash=\"%08x\",queue=\"%d\"}",
			 B.broker, B_GROUP_OK, B.g_ok, B_TOPIC, B.topic, q);
		long long v = series_value(r, k);
		assert_true(v >= 0);
		lag += v;
	}
	assert_int_equal(persisted, B_MSGS);
	assert_int_equal(lag, 0); /* the normal group consumed and committed everything */
	free(r);
}

static void test_bpf_prometheus_scrapes_the_exporter_and_answers_a_histogram_query(void **state)
{
	(void)state;
	const char *prom = getenv("PROMETHEUS");
	if (prom == NULL || *prom == '\0') {
		printf("SKIP: no prometheus binary (Debian package \"prometheus\")\n");
		skip();
	}
	json_object *h = dump_map(B.pin_root, "hist");
	json_object *v = b_find(h, "kind", SHMQ_HIST_PRODUCE_PERSIST, "topic_hash", B.topic, "queue", 0);
	assert_non_null(v);
	char want[32], got[64] = "", query[256];
	snprintf(want, sizeof(want), "%" PRIu64, jget(v, "count"));
	json_object_put(h);
	/* shmq_produce_to_persist_seconds_count{topic_hash="…",queue="0"}, URL-encoded */
	snprintf(query, sizeof(query),
		 "shmq_produce_to_persist_seconds_count%%7Btopic_hash%%3D%%22%08x%%22%%2Cqueue%%3D%%220%%22%%7D",
		 B.topic);
	struct prom pr;
	assert_int_equal(prom_start(&pr, prom, B.b.base, B.port), 0);
	bool ok = prom_wait_value(&pr, query, want, got, sizeof(got));
	prom_stop(&pr, !ok);
	printf("# prometheus: produce->persist count of queue 0 = %s (maps: %s)\n", got, want);
	assert_string_equal(got, want);
}

static void test_bpf_probe_exit_with_cleanup_removes_its_pins(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(B.pin_root, &st), 0);
	kill(B.probe.pid, SIGTERM);
	assert_int_equal(wait_exit(&B.probe), 0);
	errno = 0;
	assert_int_not_equal(stat(B.pin_root, &st), 0);
	assert_int_equal(errno, ENOENT);
	B.pins_made = false;
}

static int run_bpf(void)
{
	int rc = b_start();
	if (rc != 0) {
		b_cleanup();
		return rc;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bpf_histogram_counts_equal_the_sampled_messages),
		cmocka_unit_test(test_bpf_injected_order_skip_counts_once_and_a_normal_run_zero),
		cmocka_unit_test(test_bpf_metrics_merge_the_maps_with_the_in_process_counters),
		cmocka_unit_test(test_bpf_prometheus_scrapes_the_exporter_and_answers_a_histogram_query),
		cmocka_unit_test(test_bpf_probe_exit_with_cleanup_removes_its_pins),
	};
	rc = cmocka_run_group_tests_name("test_probe_broker_bpf", tests, NULL, NULL);
	b_cleanup();
	return rc;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (itest_shmqd_path() == NULL || getenv("SHMQ_PROBE") == NULL) {
		printf("SKIP: SHMQD or SHMQ_PROBE not set (run through meson test)\n");
		return 77;
	}
	if (argc > 1 && strcmp(argv[1], "bpf") == 0)
		return run_bpf();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_bpf_exporter_serves_the_broker_status_and_ring_series),
		cmocka_unit_test(test_group_lag_is_exported_per_queue),
		cmocka_unit_test(test_a_stopped_broker_scrapes_as_down),
	};
	return cmocka_run_group_tests_name("test_probe_broker", tests, setup, teardown);
}
