/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmq-probe end to end, against probe_target (the probe sites of
 * ebpf/probes.h firing the known workload of probe_workload.h):
 *   1. the target fires one round while detached (nothing may be counted),
 *   2. shmq-probe attaches (pid -1) with its maps pinned in a fresh directory,
 *   3. the target fires one round attached, and a second target process,
 *      outside shmq-probe's pid filter, fires one round too (all filtered),
 * then the tests read the pinned maps with `bpftool map dump pinned -j`
 * (which also checks the BTF field names) and scrape /metrics over loopback.
 * Needs root and BPF: otherwise it exits 77 saying why. The pins are removed
 * by shmq-probe --cleanup and, whatever happens, by this program.
 *
 * A real Prometheus server (env PROMETHEUS, else that test skips) scrapes
 * /metrics and answers a query over a histogram series.
 *
 * Env: SHMQ_PROBE (shmq-probe), PROBE_TARGET (probe_target), BPFTOOL, PROMETHEUS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ebpf/probes.h"
#include "ebpf/shmq_probe.h"
#include "probe_test_util.h"
#include "prom_util.h"
#include "map_util.h"
#include "probe_workload.h"

static struct {
	char tmpdir[64];
	char pin_root[128];
	char broker[48];
	struct child target, probe, outsider;
	unsigned port;
	uint32_t topic, g_normal, g_gap;
} T;

static const char *env_or_die(const char *name)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0') {
		fprintf(stderr, "test_probe: env %s is not set (run through meson test)\n", name);
		exit(1);
	}
	return v;
}

static int target_round(struct child *c)
{
	char line[64];
	if (write(c->in, "round\n", 6) != 6)
		return -EIO;
	if (read_line(c, line, sizeof(line)) == NULL || strcmp(line, "done\n") != 0)
		return -EIO;
	return 0;
}

static void cleanup_all(void)
{
	child_close(&T.probe, true);
	child_close(&T.target, false);
	child_close(&T.outsider, false);
	if (T.pin_root[0])
		remove_pins(T.pin_root);
	if (T.tmpdir[0]) {
		char p[128];
		snprintf(p, sizeof(p), "%s/fsync.dat", T.tmpdir);
		unlink(p);
		rmdir(T.tmpdir);
	}
}

/* Returns 0, 77 (skip) or 1 (failure), saying why. */
static int start_everything(void)
{
	if (geteuid() != 0) {
		printf("SKIP: test_probe needs root (BPF programs and uprobes need CAP_SYS_ADMIN)\n");
		return 77;
	}
	T.target.in = T.probe.in = T.outsider.in = -1;
	strcpy(T.tmpdir, "/tmp/shmq-ebpf-XXXXXX");
	if (mkdtemp(T.tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(T.broker, sizeof(T.broker), "test-%d", (int)getpid());
	snprintf(T.pin_root, sizeof(T.pin_root), "/sys/fs/bpf/shmq/%s", T.broker);
	T.topic = shmq_probe_name_hash(WL_TOPIC);
	T.g_normal = shmq_probe_name_hash(WL_GROUP_NORMAL);
	T.g_gap = shmq_probe_name_hash(WL_GROUP_GAP);

	static char sample_env[32];
	snprintf(sample_env, sizeof(sample_env), "SHMQ_PROBE_SAMPLE=%d", WL_SAMPLE);
	char *targv[] = { (char *)env_or_die("PROBE_TARGET"), T.tmpdir, NULL };
	if (spawn(&T.target, targv, sample_env) != 0 || target_round(&T.target) != 0) {
		fprintf(stderr, "probe_target did not run its detached round\n");
		return 1;
	}

	char pidbuf[16];
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)T.target.pid);
	char *pargv[] = { (char *)env_or_die("SHMQ_PROBE"), "--binary", targv[0],
		"--broker", T.broker, "--broker-pid", pidbuf, "--pid", pidbuf,
		"--port", "0", "--cleanup", NULL };
	if (spawn(&T.probe, pargv, NULL) != 0)
		return 1;
	char line[512];
	int ready = probe_wait_ready(&T.probe, line, sizeof(line));
	if (ready != 0)
		return ready;
	int links = 0;
	if (sscanf(line, "ready port=%u pin_root=%*s links=%d", &T.port, &links) != 2) {
		fprintf(stderr, "unexpected shmq-probe line: %s", line);
		return 1;
	}
	printf("# shmq-probe ready: port %u, %d links, pins in %s\n", T.port, links, T.pin_root);
	/* 8 USDT programs, each on the one site of its probe, + 2 tracepoints. */
	if (links != 10) {
		fprintf(stderr, "expected 10 links, got %d\n", links);
		return 1;
	}
	if (target_round(&T.target) != 0) {
		fprintf(stderr, "probe_target did not run its attached round\n");
		return 1;
	}
	if (spawn(&T.outsider, targv, sample_env) != 0 || target_round(&T.outsider) != 0) {
		fprintf(stderr, "the outsider probe_target did not run its round\n");
		return 1;
	}
	return 0;
}

/* The value of the hist entry (kind, topic, queue), or NULL. */
static json_object *find_hist(json_object *arr, uint32_t kind, uint32_t topic, uint32_t queue)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *k, *v;
		formatted(arr, i, &k, &v);
		if (jget(k, "kind") == kind && (uint32_t)jget(k, "topic_hash") == topic &&
		    jget(k, "queue") == queue)
			return v;
	}
	return NULL;
}

static void test_histogram_counts_equal_the_fired_samples(void **state)
{
	(void)state;
	json_object *h = dump_map(T.pin_root, "hist");
	json_object *v = find_hist(h, SHMQ_HIST_PRODUCE_PERSIST, T.topic, 0);
	assert_non_null(v);
	assert_int_equal(hist_count(v, WL_PERSIST_MIN_SLOT), WL_PERSIST_FIRED);
	assert_true(jget(v, "sum_ns") >= (uint64_t)WL_PERSIST_FIRED * WL_PERSIST_AGE_NS);

	v = find_hist(h, SHMQ_HIST_PRODUCE_CONSUME, T.topic, 0);
	assert_non_null(v);
	assert_int_equal(hist_count(v, 15), WL_DELIVER_FIRED); /* born 20 us before */

	v = find_hist(h, SHMQ_HIST_PERSIST_FLUSH, T.topic, 0);
	assert_non_null(v);
	assert_int_equal(hist_count(v, 0), WL_FLUSHES);

	v = find_hist(h, SHMQ_HIST_FLUSH_DURATION, 0, 0);
	assert_non_null(v);
	assert_int_equal(hist_count(v, 0), WL_FLUSHES);
	json_object_put(h);
}

static void test_fdatasync_and_probes_count_only_the_filtered_processes(void **state)
{
	(void)state;
	json_object *h = dump_map(T.pin_root, "hist");
	json_object *v = find_hist(h, SHMQ_HIST_FDATASYNC, 0, 0);
	assert_non_null(v);
	/* Only the target's fdatasyncs: the probe filters by its tgid, and the
	 * rest of the machine (this test included) also calls fdatasync. */
	assert_int_equal(hist_count(v, 0), WL_FLUSHES);
	json_object_put(h);

	json_object *t = dump_map(T.pin_root, "totals");
	assert_int_equal(json_object_array_length(t), 1);
	json_object *k, *val;
	formatted(t, 0, &k, &val);
	assert_int_equal(jget(val, "fdatasyncs"), WL_FLUSHES);
	assert_int_equal(jget(val, "flushes"), WL_FLUSHES);
	assert_int_equal(jget(val, "flush_bytes"),
		(uint64_t)WL_FLUSHES * WL_FLUSH_EVERY * WL_PERSIST_BYTES);
	assert_int_equal(jget(val, "order_violations"), 1);
	/* The outsider's round: every hit refused (its fdatasyncs silently). */
	assert_int_equal(jget(val, "filtered_out"), WL_HITS_PER_ROUND);
	assert_int_equal(jget(val, "map_full"), 0);
	json_object_put(t);
}

static json_object *find_queue(json_object *arr, uint32_t topic, uint32_t queue)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *k, *v;
		formatted(arr, i, &k, &v);
		if ((uint32_t)jget(k, "topic_hash") == topic && jget(k, "queue") == queue)
			return v;
	}
	return NULL;
}

static void test_detached_round_counts_nothing_and_sampling_fires_one_in_n(void **state)
{
	(void)state;
	json_object *q = dump_map(T.pin_root, "queue_stats");
	json_object *v = find_queue(q, T.topic, 0);
	assert_non_null(v);
	/* One attached round only: the detached round left no trace. */
	assert_int_equal(jget(v, "produce_batches"), WL_PRODUCE_FIRED);
	assert_int_equal(jget(v, "produce_msgs"), (uint64_t)WL_PRODUCE_FIRED * WL_PRODUCE_COUNT);
	assert_int_equal(jget(v, "persist_batches"), WL_PERSIST_FIRED);
	assert_int_equal(jget(v, "persist_msgs"), (uint64_t)WL_PERSIST_FIRED * WL_PERSIST_COUNT);
	assert_int_equal(jget(v, "persist_bytes"), (uint64_t)WL_PERSIST_FIRED * WL_PERSIST_BYTES);
	assert_int_equal(jget(v, "deliver_batches"), WL_DELIVER_FIRED);
	assert_int_equal(jget(v, "deliver_msgs"), (uint64_t)WL_DELIVER_FIRED * WL_DELIVER_COUNT);
	v = find_queue(q, T.topic, 1);
	assert_non_null(v);
	assert_int_equal(jget(v, "ring_unblocks"), WL_UNBLOCKS);
	assert_int_equal(jget(v, "backpressure"), WL_BACKPRESSURES);
	json_object_put(q);
}

static json_object *find_order(json_object *arr, uint32_t group)
{
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *k, *v;
		formatted(arr, i, &k, &v);
		if ((uint32_t)jget(k, "group_hash") == group &&
		    (uint32_t)jget(k, "topic_hash") == T.topic && jget(k, "queue") == 0)
			return v;
	}
	return NULL;
}

static void test_injected_order_gap_counts_once_and_declared_resets_none(void **state)
{
	(void)state;
	json_object *o = dump_map(T.pin_root, "order_viol");
	json_object *v = find_order(o, T.g_normal);
	assert_non_null(v);
	assert_int_equal(jget(v, "violations"), 0);
	v = find_order(o, T.g_gap);
	assert_non_null(v);
	/* The gap only: the jumps after queue_owner and offset_reset are declared. */
	assert_int_equal(jget(v, "violations"), 1);
	assert_int_equal(jget(v, "last_expected"), 100 + WL_GAP_SEEN * WL_DELIVER_COUNT);
	assert_int_equal(jget(v, "last_got"), 100 + WL_GAP_SEEN * WL_DELIVER_COUNT + WL_GAP);
	assert_int_equal(jget(v, "declared_resets"), 2);
	json_object_put(o);
}

static char *http_get(const char *path)
{
	char *r = http_get_port(T.port, path);
	assert_non_null(r);
	return r;
}

__attribute__((format(printf, 2, 3)))
static void expect_series(const char *body, const char *fmt, ...)
{
	char want[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	if (strstr(body, want) == NULL)
		fail_msg("/metrics lacks the line: %s", want);
}

static void test_metrics_endpoint_serves_the_series_over_loopback(void **state)
{
	(void)state;
	char *r = http_get("/metrics");
	assert_true(strncmp(r, "HTTP/1.0 200", 12) == 0 || strncmp(r, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(r, "text/plain; version=0.0.4"));
	expect_series(r, "# TYPE shmq_produce_to_persist_seconds histogram\n");
	expect_series(r, "\nshmq_produce_to_persist_seconds_count{broker=\"%s\",topic_hash=\"%08x\",queue=\"0\"} %d\n",
		T.broker, T.topic, WL_PERSIST_FIRED);
	expect_series(r, "\nshmq_produce_to_persist_seconds_bucket{broker=\"%s\",topic_hash=\"%08x\",queue=\"0\",le=\"+Inf\"} %d\n",
		T.broker, T.topic, WL_PERSIST_FIRED);
	/* Below 2^15 ns nothing (the samples are >= 40 us old); cumulative at the top. */
	expect_series(r, "\nshmq_produce_to_persist_seconds_bucket{broker=\"%s\",topic_hash=\"%08x\",queue=\"0\",le=\"3.2768e-05\"} 0\n",
		T.broker, T.topic);
	expect_series(r, "\nshmq_produce_to_consume_seconds_count{broker=\"%s\",topic_hash=\"%08x\",queue=\"0\"} %d\n",
		T.broker, T.topic, WL_DELIVER_FIRED);
	expect_series(r, "\nshmq_fdatasync_seconds_count{broker=\"%s\"} %d\n", T.broker, WL_FLUSHES);
	expect_series(r, "\nshmq_order_violations_total{broker=\"%s\",group_hash=\"%08x\",topic_hash=\"%08x\",queue=\"0\"} 1\n",
		T.broker, T.g_gap, T.topic);
	expect_series(r, "\nshmq_order_violations_total{broker=\"%s\",group_hash=\"%08x\",topic_hash=\"%08x\",queue=\"0\"} 0\n",
		T.broker, T.g_normal, T.topic);
	expect_series(r, "\nshmq_backpressure_total{broker=\"%s\",topic_hash=\"%08x\",queue=\"1\"} %d\n",
		T.broker, T.topic, WL_BACKPRESSURES);
	expect_series(r, "\nshmq_flushes_total{broker=\"%s\"} %d\n", T.broker, WL_FLUSHES);
	free(r);

	r = http_get("/nope");
	assert_non_null(strstr(r, " 404 "));
	free(r);
}

static void test_prometheus_server_scrapes_the_exporter_and_answers_a_histogram_query(void **state)
{
	(void)state;
	const char *prom = getenv("PROMETHEUS");
	if (prom == NULL || *prom == '\0') {
		printf("SKIP: no prometheus binary (Debian package \"prometheus\")\n");
		skip();
	}
	struct prom pr;
	assert_int_equal(prom_start(&pr, prom, T.tmpdir, T.port), 0);
	/* One scrape after start-up. */
	char want[32], got[64] = "", q50[64] = "";
	snprintf(want, sizeof(want), "%d", WL_PERSIST_FIRED);
	bool ok = prom_wait_value(&pr, "shmq_produce_to_persist_seconds_count", want, got, sizeof(got));
	/* histogram_quantile(0.5, shmq_produce_to_persist_seconds_bucket), URL-encoded */
	prom_query(&pr, "histogram_quantile%280.5%2Cshmq_produce_to_persist_seconds_bucket%29",
		   q50, sizeof(q50));
	prom_stop(&pr, !ok);
	assert_string_equal(got, want);
	/* Every sample is >= 40 us (slot 16, 32.8..65.5 us): the median lies there. */
	printf("# prometheus: p50 of produce->persist = %s s\n", q50);
	double p50 = strtod(q50, NULL);
	assert_true(p50 >= 3.2768e-05 && p50 <= 1.0);
}

static void test_probe_exit_with_cleanup_removes_its_pins(void **state)
{
	(void)state;
	struct stat st;
	assert_int_equal(stat(T.pin_root, &st), 0);
	kill(T.probe.pid, SIGTERM);
	assert_int_equal(wait_exit(&T.probe), 0);
	errno = 0;
	assert_int_not_equal(stat(T.pin_root, &st), 0);
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	int rc = start_everything();
	if (rc != 0) {
		cleanup_all();
		return rc;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_histogram_counts_equal_the_fired_samples),
		cmocka_unit_test(test_fdatasync_and_probes_count_only_the_filtered_processes),
		cmocka_unit_test(test_detached_round_counts_nothing_and_sampling_fires_one_in_n),
		cmocka_unit_test(test_injected_order_gap_counts_once_and_declared_resets_none),
		cmocka_unit_test(test_metrics_endpoint_serves_the_series_over_loopback),
		cmocka_unit_test(test_prometheus_server_scrapes_the_exporter_and_answers_a_histogram_query),
		cmocka_unit_test(test_probe_exit_with_cleanup_removes_its_pins),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	cleanup_all();
	return rc;
}
