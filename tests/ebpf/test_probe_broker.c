/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmq-probe --no-bpf against a real shmqd: the broker's in-process counters
 * (status, rings, topics, group lag) over /metrics, with no privilege and no
 * BPF. The broker runs through the integration harness (env SHMQD); the
 * exporter is env SHMQ_PROBE.
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

#include "ebpf/probes.h"
#include "shmq/admin.h"
#include "shmq/shmq.h"
#include "probe_test_util.h"
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

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (itest_shmqd_path() == NULL || getenv("SHMQ_PROBE") == NULL) {
		printf("SKIP: SHMQD or SHMQ_PROBE not set (run through meson test)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_bpf_exporter_serves_the_broker_status_and_ring_series),
		cmocka_unit_test(test_group_lag_is_exported_per_queue),
		cmocka_unit_test(test_a_stopped_broker_scrapes_as_down),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
