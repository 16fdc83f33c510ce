/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The complete example program of docs/api.md: connect to a broker, create a
 * topic, send messages (one by one, a batch, asynchronously), then consume
 * them in a consumer group and commit. Built by meson (docs/examples/) and
 * run against a real broker by tests/integration/test_example_program.sh.
 *
 *   cc -Iinclude docs/examples/example.c -Lbuild/client -lshmq -o example
 *   ./example [SOCKET [TOPIC]]          (meson builds it as build/client/shmq-example)
 *
 * Exit status 0 when every message sent came back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <shmq/shmq.h>

#define N_SINGLE 10
#define N_BATCH 10
#define N_ASYNC 10
#define N_TOTAL (N_SINGLE + N_BATCH + N_ASYNC)

/* Called by the producer's completion thread once the message is persisted. */
static void on_sent(void *arg, int status, const struct shmq_send_result *res)
{
	atomic_int *failures = arg;

	if (status < 0) {
		fprintf(stderr, "async send failed: %s\n", shmq_strerror(status));
		/* relaxed: a plain counter, read after shmq_producer_flush() returned */
		atomic_fetch_add_explicit(failures, 1, memory_order_relaxed);
		return;
	}
	printf("async: queue %" PRIu32 " offset %" PRIu64 " id %s\n", res->queue_id, res->queue_offset,
	       res->msg_id);
}

static int produce(shmq_client_t *c, const char *topic)
{
	shmq_producer_t *p;
	struct shmq_send_result res;
	char body[64];
	atomic_int failures = 0;
	int r;

	/* PERSISTED: send() returns once the message is in the commitlog, with
	 * its queue offset and message id. SHMQ_SELECT_HASH keeps one key in one
	 * queue, so messages of a key stay in order. */
	SHMQ_PRODUCER_OPTS(po, .topic = topic, .delivery = SHMQ_DELIVERY_PERSISTED,
			   .select = SHMQ_SELECT_HASH);
	r = shmq_producer_open(c, &po, &p);
	if (r < 0) {
		fprintf(stderr, "producer: %s (%s)\n", shmq_strerror(r), shmq_client_last_error());
		return r;
	}

	/* 1. One message at a time, with a key, a tag and a user property. */
	for (int i = 0; i < N_SINGLE; i++) {
		struct shmq_prop prop = { .key = "origin", .value = "example" };
		struct shmq_message m = {
			.body = body,
			.body_len = (uint32_t)snprintf(body, sizeof(body), "single %d", i),
			.keys = "order-42", /* indexed: `shmqctl query TOPIC --key order-42` */
			.tags = "single",
			.props = &prop,
			.nprops = 1,
		};
		r = shmq_producer_send(p, &m, &res);
		if (r == SHMQ_BACK_PRESSURED) { /* a status, not an error: the ring is full */
			i--;
			continue;
		}
		if (r < 0)
			goto out;
		printf("sent: queue %" PRIu32 " offset %" PRIu64 " id %s\n", res.queue_id, res.queue_offset,
		       res.msg_id);
	}

	/* 2. A batch: one queue, one publish for all of them, one wait; one
	 * result per message sent. */
	char bodies[N_BATCH][32];
	struct shmq_message batch[N_BATCH];
	struct shmq_send_result bres[N_BATCH];
	for (int i = 0; i < N_BATCH; i++) {
		batch[i] = (struct shmq_message){
			.body = bodies[i],
			.body_len = (uint32_t)snprintf(bodies[i], sizeof(bodies[i]), "batch %d", i),
			.sharding_key = "batch",
			.sharding_key_len = 5,
		};
	}
	for (int done = 0; done < N_BATCH;) {
		r = shmq_producer_send_batch(p, batch + done, (unsigned)(N_BATCH - done), bres + done);
		if (r < 0 && r != SHMQ_BACK_PRESSURED)
			goto out;
		if (r > 0)
			done += r;
	}
	printf("batch: %d messages to queue %" PRIu32 ", offsets %" PRIu64 "..%" PRIu64 "\n", N_BATCH,
	       bres[0].queue_id, bres[0].queue_offset, bres[N_BATCH - 1].queue_offset);

	/* 3. Asynchronously: send_async() returns once the message is in the
	 * ring; on_sent() runs when it is persisted. flush() waits for them all. */
	for (int i = 0; i < N_ASYNC; i++) {
		struct shmq_message m = { .body = body,
					  .body_len = (uint32_t)snprintf(body, sizeof(body), "async %d", i) };
		r = shmq_producer_send_async(p, &m, on_sent, &failures);
		if (r == SHMQ_BACK_PRESSURED) {
			i--;
			continue;
		}
		if (r < 0)
			goto out;
	}
	r = shmq_producer_flush(p, 10ull * 1000000000u);
	/* relaxed: flush() returned after every completion ran */
	if (r == 0 && atomic_load_explicit(&failures, memory_order_relaxed) > 0)
		r = -EIO;
out:
	if (r < 0)
		fprintf(stderr, "producer: %s\n", shmq_strerror(r));
	shmq_producer_close(p);
	return r < 0 ? r : 0;
}

/* A clustering group: the broker gives this member every queue (it is
 * alone). LATEST: only messages sent after it joined, so run the program as
 * often as you like. Opened before producing, polled after. */
static int consumer_open(shmq_client_t *c, const char *topic, shmq_consumer_t **cs)
{
	SHMQ_CONSUMER_OPTS(co, .group = "example-group", .topic = topic, .start = SHMQ_START_LATEST,
			   .visibility = SHMQ_VISIBLE_PERSISTED);
	int r = shmq_consumer_open(c, &co, cs);
	if (r < 0)
		fprintf(stderr, "consumer: %s (%s)\n", shmq_strerror(r), shmq_client_last_error());
	return r;
}

/* Each poll commits what the previous poll returned; close() commits the rest. */
static int consume(shmq_consumer_t *cs)
{
	struct shmq_msg_view v[16];
	int got = 0, r = 0;

	for (int idle = 0; got < N_TOTAL && idle < 50;) {
		int n = shmq_consumer_poll(cs, v, 16, 100 * 1000000u); /* wait up to 100 ms */
		if (n < 0) {
			r = n;
			break;
		}
		idle = n == 0 ? idle + 1 : 0;
		for (int i = 0; i < n; i++) {
			const char *origin = NULL;
			shmq_msg_prop(&v[i], "origin", &origin); /* SHMQ_ENOTFOUND leaves it NULL */
			printf("got: queue %" PRIu32 " offset %" PRIu64 " \"%.*s\"%s%s\n", v[i].queue_id,
			       v[i].queue_offset, (int)v[i].body_len, (const char *)v[i].body,
			       origin ? " origin=" : "", origin ? origin : "");
		}
		got += n;
	}
	printf("consumed %d of %d messages\n", got, N_TOTAL);
	if (r < 0)
		fprintf(stderr, "consumer: %s\n", shmq_strerror(r));
	return r < 0 ? r : got == N_TOTAL ? 0 : -ENOMSG;
}

int main(int argc, char **argv)
{
	const char *socket = argc > 1 ? argv[1] : NULL; /* NULL: this user's default broker */
	const char *topic = argc > 2 ? argv[2] : "example";
	shmq_client_t *c;
	struct shmq_topic_info info;

	int r = shmq_client_open(socket, NULL, &c);
	if (r < 0) {
		fprintf(stderr, "connect: %s\n", shmq_strerror(r));
		return 1;
	}
	printf("connected to broker %s (id %" PRIu32 ")\n", shmq_client_broker_name(c),
	       shmq_client_broker_id(c));
	/* Creating an existing topic with the same queue count succeeds (-EEXIST
	 * with info.queues telling the count: it exists with another one). */
	r = shmq_topic_create(c, topic, 4, &info);
	if (r == -EEXIST && info.queues == 4)
		r = 0;
	if (r < 0) {
		fprintf(stderr, "topic create: %s (%s)\n", shmq_strerror(r), shmq_client_last_error());
		shmq_client_close(c);
		return 1;
	}
	shmq_consumer_t *cs;
	r = consumer_open(c, topic, &cs);
	if (r == 0) {
		r = produce(c, topic);
		if (r == 0)
			r = consume(cs);
		shmq_consumer_close(cs); /* consumers and producers before their client */
	}
	shmq_client_close(c);
	return r == 0 ? 0 : 1;
}
