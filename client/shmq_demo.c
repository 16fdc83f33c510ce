/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmq-demo: the quickstart's producer and consumer (scripts/demo.sh), two
 * separate processes talking through a running shmqd with the public API only.
 *
 *   shmq-demo produce [--socket P] [--topic T] [--count N] [--rate R] [--delivery MODE]
 *   shmq-demo consume [--socket P] [--topic T] [--group G] [--count N]
 *                     [--timeout-s S] [--ready-file F]
 *
 * Each body is "demo message <seq> sent_ns=<CLOCK_MONOTONIC ns>". CLOCK_MONOTONIC
 * is one clock for every process of the host, so the consumer measures the
 * one-way latency send() -> poll() from the body alone. The producer paces
 * itself at R messages/s (a latency figure under saturation would measure the
 * queue, not the path). The consumer exits 0 only if it got every sequence
 * number 0..N-1 exactly once, each queue's offsets consecutive and its
 * sequence numbers increasing (round-robin keeps producer order per queue).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shmq/shmq.h"

#define BODY_MAX 96

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u) };
	nanosleep(&ts, NULL);
}

struct args {
	const char *socket;
	const char *topic;
	const char *group;
	const char *ready_file;
	uint64_t count;
	uint64_t rate;
	uint64_t timeout_s;
	enum shmq_delivery delivery;
};

static int produce(const struct args *a)
{
	shmq_client_t *c;
	shmq_producer_t *p;
	int r = shmq_client_open(a->socket, NULL, &c);

	if (r < 0) {
		fprintf(stderr, "producer: connect: %s\n", shmq_strerror(r));
		return 1;
	}
	SHMQ_PRODUCER_OPTS(po, .topic = a->topic, .delivery = a->delivery);
	r = shmq_producer_open(c, &po, &p);
	if (r < 0) {
		fprintf(stderr, "producer: open topic %s: %s %s\n", a->topic, shmq_strerror(r),
			shmq_client_last_error());
		shmq_client_close(c);
		return 1;
	}
	uint64_t interval = a->rate ? 1000000000u / a->rate : 0, bp = 0;
	uint64_t t0 = mono_ns();
	int ret = 0;
	for (uint64_t i = 0; i < a->count; i++) {
		uint64_t due = t0 + i * interval, now = mono_ns();
		if (now + 20000 < due) /* ahead by more than 20 us: sleep (granularity ~60 us) */
			sleep_ns(due - now);
		char body[BODY_MAX];
		int len = snprintf(body, sizeof(body), "demo message %" PRIu64 " sent_ns=%020" PRIu64, i,
				   mono_ns());
		struct shmq_message m = { .body = body, .body_len = (uint32_t)len };
		for (;;) {
			r = shmq_producer_send(p, &m, NULL);
			if (r != SHMQ_BACK_PRESSURED)
				break;
			bp++; /* the ring stayed full for the whole send timeout: retry */
		}
		if (r < 0) {
			fprintf(stderr, "producer: send %" PRIu64 ": %s\n", i, shmq_strerror(r));
			ret = 1;
			break;
		}
	}
	double secs = (double)(mono_ns() - t0) / 1e9;
	if (ret == 0)
		printf("producer: sent %" PRIu64 " messages to topic %s in %.2f s (%.0f msg/s, paced at %" PRIu64
		       "/s), delivery %s%s\n",
		       a->count, a->topic, secs, (double)a->count / secs, a->rate,
		       a->delivery == SHMQ_DELIVERY_RING ? "ring"
		       : a->delivery == SHMQ_DELIVERY_PERSISTED ? "persisted" : "durable",
		       bp ? " (back-pressured at times)" : "");
	shmq_producer_close(p);
	shmq_client_close(c);
	return ret;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return (a > b) - (a < b);
}

static double pct_us(const uint64_t *sorted, size_t n, double p)
{
	if (n == 0)
		return 0.0;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)sorted[i] / 1000.0;
}

struct qstate {
	uint64_t next_offset; /* UINT64_MAX until the queue's first message */
	uint64_t last_seq;
};

static void show(const char *what, const struct shmq_msg_view *m)
{
	printf("consumer: %s queue %" PRIu32 " offset %" PRIu64 " id %s: \"%.*s\"\n", what, m->queue_id,
	       m->queue_offset, m->msg_id[0] ? m->msg_id : "-", (int)m->body_len, (const char *)m->body);
}

static int consume(const struct args *a)
{
	shmq_client_t *c;
	shmq_consumer_t *cs;
	int r = shmq_client_open(a->socket, NULL, &c);

	if (r < 0) {
		fprintf(stderr, "consumer: connect: %s\n", shmq_strerror(r));
		return 1;
	}
	/* EARLIEST: the demo topic is fresh, and nothing is missed even if the
	 * producer starts before this member has its queues. */
	SHMQ_CONSUMER_OPTS(co, .group = a->group, .topic = a->topic, .start = SHMQ_START_EARLIEST);
	r = shmq_consumer_open(c, &co, &cs);
	if (r < 0) {
		fprintf(stderr, "consumer: join group %s: %s %s\n", a->group, shmq_strerror(r),
			shmq_client_last_error());
		shmq_client_close(c);
		return 1;
	}
	if (a->ready_file) {
		int fd = open(a->ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	uint64_t *lat = calloc(a->count ? a->count : 1, sizeof(*lat));
	unsigned char *seen = calloc(a->count ? a->count : 1, 1);
	struct qstate qs[1024];
	for (size_t i = 0; i < 1024; i++)
		qs[i] = (struct qstate){ .next_offset = UINT64_MAX, .last_seq = UINT64_MAX };
	struct shmq_msg_view v[64];
	struct shmq_msg_view first = { 0 }, last = { 0 };
	char first_body[BODY_MAX], last_body[BODY_MAX], first_topic[128], last_topic[128];
	uint64_t got = 0, dup = 0, order_err = 0, foreign = 0, t_first = 0, t_last = 0;
	uint64_t deadline = mono_ns() + a->timeout_s * 1000000000u;
	int ret = 0;

	if (!lat || !seen) {
		fprintf(stderr, "consumer: out of memory\n");
		ret = 1;
		goto out;
	}
	while (got < a->count) {
		int n = shmq_consumer_poll(cs, v, 64, 100000000u);
		uint64_t now = mono_ns();
		if (n < 0) {
			fprintf(stderr, "consumer: poll: %s\n", shmq_strerror(n));
			ret = 1;
			break;
		}
		if (n == 0 && now > deadline) {
			fprintf(stderr, "consumer: timed out after %" PRIu64 " s with %" PRIu64 " of %" PRIu64
				" messages\n", a->timeout_s, got, a->count);
			ret = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			const struct shmq_msg_view *m = &v[i];
			char body[BODY_MAX];
			uint64_t seq, sent;
			size_t bl = m->body_len < sizeof(body) - 1 ? m->body_len : sizeof(body) - 1;
			memcpy(body, m->body, bl);
			body[bl] = '\0';
			if (sscanf(body, "demo message %" SCNu64 " sent_ns=%" SCNu64, &seq, &sent) != 2 ||
			    seq >= a->count || m->queue_id >= 1024) {
				foreign++; /* not ours: someone else wrote to the topic */
				continue;
			}
			if (seen[seq]) {
				dup++;
				continue;
			}
			seen[seq] = 1;
			struct qstate *q = &qs[m->queue_id];
			if ((q->next_offset != UINT64_MAX && m->queue_offset != q->next_offset) ||
			    (q->last_seq != UINT64_MAX && seq <= q->last_seq))
				order_err++;
			q->next_offset = m->queue_offset + 1;
			q->last_seq = seq;
			lat[got] = now > sent ? now - sent : 0;
			if (got == 0) {
				first = *m;
				memcpy(first_body, body, bl + 1);
				snprintf(first_topic, sizeof(first_topic), "%s", m->topic);
				first.body = first_body;
				first.topic = first_topic;
				t_first = now;
			}
			last = *m;
			memcpy(last_body, body, bl + 1);
			snprintf(last_topic, sizeof(last_topic), "%s", m->topic);
			last.body = last_body;
			last.topic = last_topic;
			t_last = now;
			got++;
		}
	}
	if (got) {
		double secs = (double)(t_last - t_first) / 1e9;
		printf("consumer: received %" PRIu64 " of %" PRIu64 " messages in %.2f s, group %s, topic %s\n",
		       got, a->count, secs, a->group, a->topic);
		show("first", &first);
		show("last ", &last);
		qsort(lat, got, sizeof(*lat), cmp_u64);
		printf("consumer: one-way latency send() -> poll(): p50 %.1f us, p99 %.1f us, p99.9 %.1f us, "
		       "max %.1f us\n",
		       pct_us(lat, got, 0.50), pct_us(lat, got, 0.99), pct_us(lat, got, 0.999),
		       (double)lat[got - 1] / 1000.0);
	}
	if (dup || order_err || foreign)
		printf("consumer: %" PRIu64 " duplicates, %" PRIu64 " out of order, %" PRIu64 " foreign\n", dup,
		       order_err, foreign);
	if (got != a->count || order_err)
		ret = 1;
	else
		printf("consumer: every message arrived once, in order per queue\n");
out:
	free(lat);
	free(seen);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmq-demo produce [--socket P] [--topic T] [--count N] [--rate R]\n"
		"                         [--delivery ring|persisted|durable]\n"
		"       shmq-demo consume [--socket P] [--topic T] [--group G] [--count N]\n"
		"                         [--timeout-s S] [--ready-file F]\n"
		"defaults: topic demo, group demo-group, count 50000, rate 50000/s (0 = unpaced),\n"
		"delivery ring, timeout 30 s. The consumer creates F once it has joined.\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },  { "topic", required_argument, NULL, 't' },
		{ "group", required_argument, NULL, 'g' },   { "count", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },    { "delivery", required_argument, NULL, 'd' },
		{ "timeout-s", required_argument, NULL, 'T' }, { "ready-file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },          { 0 },
	};
	struct args a = { .topic = "demo", .group = "demo-group", .count = 50000, .rate = 50000,
			  .timeout_s = 30, .delivery = SHMQ_DELIVERY_RING };
	int ch;

	if (argc < 2 || (strcmp(argv[1], "produce") != 0 && strcmp(argv[1], "consume") != 0)) {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	const char *role = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		char *end = NULL;
		switch (ch) {
		case 's': a.socket = optarg; break;
		case 't': a.topic = optarg; break;
		case 'g': a.group = optarg; break;
		case 'f': a.ready_file = optarg; break;
		case 'n': a.count = strtoull(optarg, &end, 10); break;
		case 'r': a.rate = strtoull(optarg, &end, 10); break;
		case 'T': a.timeout_s = strtoull(optarg, &end, 10); break;
		case 'd':
			if (strcmp(optarg, "ring") == 0)
				a.delivery = SHMQ_DELIVERY_RING;
			else if (strcmp(optarg, "persisted") == 0)
				a.delivery = SHMQ_DELIVERY_PERSISTED;
			else if (strcmp(optarg, "durable") == 0)
				a.delivery = SHMQ_DELIVERY_DURABLE;
			else
				end = optarg; /* reported below */
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (end && *end) {
			fprintf(stderr, "shmq-demo: bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (optind != argc || a.count > 100000000u) {
		usage(stderr);
		return 2;
	}
	return strcmp(role, "produce") == 0 ? produce(&a) : consume(&a);
}
