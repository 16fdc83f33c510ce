/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libshmq over the network (client/remote.h) against a real shmqd whose
 * remote port listens on udp://127.0.0.1: the public producer/consumer API
 * on a "udp://" client. Producers and the consumer are threads of this
 * process (each has its own session, RM1); the topic is made through the
 * broker's local socket first.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/client_int.h"
#include "client/remote.h"
#include "shmq/admin.h"
#include "shmq/shmq.h"
#include "tests/integration/itest_cmocka.h"

#define QUEUES 4u
#define KEYS 8u
#define POLL_MAX 64u

static struct itest_broker broker;
static struct itest_broker own_broker; /* a test's own broker; teardown stops it if the test failed */
static char secret_dir[64];
static char secret_path[128];
static char url[64];
static char port_arg[64];
static uint64_t seed;

/* ------------------------------------------------------------------ */
/* fixture                                                             */

static int free_udp_port(void)
{
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(s, (struct sockaddr *)&a, &al) < 0) {
		if (s >= 0)
			close(s);
		return -1;
	}
	close(s);
	return ntohs(a.sin_port);
}

static void write_secret(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* A broker with its remote port on 127.0.0.1 and the tests' topics of QUEUES. */
static int setup(void **state)
{
	(void)state;
	seed = itest_seed("it_remote");
	strcpy(secret_dir, "/tmp/shmq-itr-XXXXXX");
	if (!mkdtemp(secret_dir))
		return -1;
	snprintf(secret_path, sizeof(secret_path), "%s/secret", secret_dir);
	write_secret(secret_path, "it-remote-shared-secret-0123456789", 0600);
	int port = free_udp_port();
	if (port <= 0)
		return -1;
	snprintf(url, sizeof(url), "udp://127.0.0.1:%d", port);
	snprintf(port_arg, sizeof(port_arg), "%s", url);
	struct itest_broker_opts o = {
		.ring_capacity = "16M",
		.max_message_size = "2M",
		/* a remote principal naming root gets only `any:` rights (broker/remote.h) */
		.extra = { "--net-listen", port_arg, "--net-secret-file", secret_path, "--acl", "*=any:pc", NULL },
	};
	int rc = itest_broker_start(&broker, &o);
	if (rc < 0) {
		fprintf(stderr, "broker start: %s\n", shmq_strerror(rc));
		itest_broker_dump_log(&broker, 4000);
		return -1;
	}
	/* one topic per test: a consumer starting at the oldest message sees
	 * only its own test's */
	shmq_client_t *c = itest_connect(&broker);
	const char *topics[] = { "rt", "big", "loss", "restart", "push", "split" };
	for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]) && rc == 0; i++)
		rc = shmq_topic_create(c, topics[i], QUEUES, NULL);
	shmq_client_close(c);
	return rc == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	if (broker.pid)
		itest_broker_stop(&broker);
	itest_teardown(&broker);
	if (own_broker.pid) {
		itest_broker_stop(&own_broker);
		itest_teardown(&own_broker);
	}
	unlink(secret_path);
	char other[160];
	snprintf(other, sizeof(other), "%s/other", secret_dir);
	unlink(other);
	rmdir(secret_dir);
	return 0;
}

static shmq_client_t *remote_client(uint64_t request_timeout_ns)
{
	SHMQ_CLIENT_OPTS(o, .secret_file = secret_path, .request_timeout_ns = request_timeout_ns,
			 .reconnect_timeout_ns = 20000000000ull);
	shmq_client_t *c = NULL;
	int rc = shmq_client_open(url, &o, &c);
	if (rc < 0) {
		itest_broker_dump_log(&broker, 4000);
		fail_msg("remote open %s: %s (%s)", url, shmq_strerror(rc), shmq_client_last_error());
	}
	return c;
}

static shmq_consumer_t *remote_consumer(shmq_client_t *c, const char *group, const char *topic, bool manual)
{
	SHMQ_CONSUMER_OPTS(o, .group = group, .topic = topic, .start = SHMQ_START_EARLIEST,
			   .manual_commit = manual);
	shmq_consumer_t *cs = NULL;
	int rc = shmq_consumer_open(c, &o, &cs);
	if (rc < 0)
		fail_msg("remote consumer: %s (%s)", shmq_strerror(rc), shmq_client_last_error());
	return cs;
}

/* ------------------------------------------------------------------ */
/* bookkeeping of what was sent and seen                               */

struct book {
	uint32_t producers;
	uint64_t per_producer;
	_Atomic uint64_t acked;
	uint8_t *seen;          /* [producer * per_producer + seq] */
	uint8_t *sent_ok;       /* acknowledged */
	uint64_t *first_at;     /* (queue << 48 | offset) of the first delivery */
	uint64_t next_seq[16][KEYS]; /* expected per (producer, key) order check */
	uint64_t received, dups, bad, order;
};

static void book_init(struct book *b, uint32_t producers, uint64_t per)
{
	memset(b, 0, sizeof(*b));
	b->producers = producers;
	b->per_producer = per;
	b->seen = calloc(producers * per, 1);
	b->sent_ok = calloc(producers * per, 1);
	b->first_at = calloc(producers * per, sizeof(*b->first_at));
	assert_non_null(b->first_at);
	for (uint32_t i = 0; i < 16; i++)
		for (uint32_t k = 0; k < KEYS; k++)
			b->next_seq[i][k] = k; /* key k's first message is seq k */
	assert_non_null(b->seen);
	assert_non_null(b->sent_ok);
}

static void book_free(struct book *b)
{
	free(b->seen);
	free(b->sent_ok);
	free(b->first_at);
}

/* Check one delivery: body intact, in order per (producer, key) (a
 * message's seq counts per producer; keys take seq % KEYS, so within a key
 * seqs rise by KEYS), the queue the key hashes to, at most once. */
static void book_see(struct book *b, const struct shmq_msg_view *v, bool check_order)
{
	struct itest_body_hdr h;
	if (itest_body_check(v->body, v->body_len, &h) != 0 || h.producer >= b->producers ||
	    h.seq >= b->per_producer) {
		b->bad++;
		return;
	}
	char key[32];
	snprintf(key, sizeof(key), "p%u-k%u", h.producer, h.key);
	if (v->keys == NULL || strcmp(v->keys, key) != 0 || v->queue_id != shmq_select_hash(key, strlen(key)) % QUEUES)
		b->bad++;
	uint8_t *s = &b->seen[h.producer * b->per_producer + h.seq];
	if (*s) {
		b->dups++;
		uint64_t f = b->first_at[h.producer * b->per_producer + h.seq];
		fprintf(stderr, "duplicate: producer %u seq %" PRIu64 " at queue %u offset %" PRIu64
			" (first at queue %u offset %" PRIu64 ")\n", h.producer, h.seq, v->queue_id, v->queue_offset,
			(unsigned)(f >> 48), f & (uint64_t)0xffffffffffff);
		return;
	}
	*s = 1;
	b->first_at[h.producer * b->per_producer + h.seq] = (uint64_t)v->queue_id << 48 | v->queue_offset;
	b->received++;
	if (check_order) {
		uint64_t *nx = &b->next_seq[h.producer][h.key];
		if (h.seq != *nx) {
			b->order++;
			fprintf(stderr, "order: producer %u key %u seq %" PRIu64 " expected %" PRIu64 " (queue %u offset %" PRIu64
				")\n", h.producer, h.key, h.seq, *nx, v->queue_id, v->queue_offset);
		}
		*nx = h.seq + KEYS;
	}
}

static void msg_for(uint32_t producer, uint64_t seq, void *buf, uint32_t len, char *key, struct shmq_message *m)
{
	uint32_t k = (uint32_t)(seq % KEYS);
	itest_body_fill(buf, len, producer, k, seq);
	sprintf(key, "p%u-k%u", producer, k);
	*m = (struct shmq_message){ .body = buf, .body_len = len, .keys = key, .tags = "t" };
}

/* Poll @p cs until @p want messages were seen or @p ms passed. */
static void consume(shmq_consumer_t *cs, struct book *b, uint64_t want, unsigned ms, bool order)
{
	struct shmq_msg_view v[POLL_MAX];
	uint64_t end = itest_now_ns() + (uint64_t)ms * 1000000u;
	while (b->received < want && itest_now_ns() < end) {
		int n = shmq_consumer_poll(cs, v, POLL_MAX, 100000000ull);
		if (n < 0)
			fail_msg("poll: %s (%s)", shmq_strerror(n), shmq_client_last_error());
		for (int i = 0; i < n; i++)
			book_see(b, &v[i], order);
	}
}

/* ------------------------------------------------------------------ */
/* producers                                                           */

struct prod_arg {
	shmq_producer_t *p;
	struct book *b;
	uint32_t producer;
	int mode;               /* 0: send, 1: batches of 4 (one key each), 2: async */
	_Atomic uint64_t async_ok, async_failed;
	int err;
	_Atomic bool *stop;     /* restart test: send until told */
};

static void async_done(void *arg, int status, const struct shmq_send_result *res)
{
	struct prod_arg *a = arg;
	(void)res;
	/* relaxed: read after shmq_producer_flush() */
	if (status == 0)
		atomic_fetch_add_explicit(&a->async_ok, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&a->async_failed, 1, memory_order_relaxed);
}

static void *producer_main(void *arg)
{
	struct prod_arg *a = arg;
	struct book *b = a->b;
	uint8_t buf[4][256];
	char key[4][32];
	for (uint64_t seq = 0; seq < b->per_producer && !a->err;) {
		/* relaxed: a flag polled between sends */
		if (a->stop && atomic_load_explicit(a->stop, memory_order_relaxed))
			break;
		uint32_t len = ITEST_BODY_MIN + (uint32_t)((seq * 7919u) % 200u);
		struct shmq_message m;
		msg_for(a->producer, seq, buf[0], len, key[0], &m);
		if (a->mode == 0) {
			struct shmq_send_result r;
			int rc = shmq_producer_send(a->p, &m, &r);
			if (rc == 0 && (r.queue_offset == SHMQ_OFFSET_UNKNOWN || r.producer_seq == UINT64_MAX ||
					r.queue_id != shmq_select_hash(key[0], strlen(key[0])) % QUEUES))
				rc = -EPROTO;
			if (rc == 0) {
				b->sent_ok[a->producer * b->per_producer + seq] = 1;
				/* relaxed: a progress counter */
				atomic_fetch_add_explicit(&b->acked, 1, memory_order_relaxed);
			} else {
				a->err = rc;
			}
			seq++;
		} else if (a->mode == 1) {
			/* batches are ONE queue's: four messages of one key, KEYS
			 * seqs apart; the KEYS batches of a round cover 4 * KEYS seqs */
			uint64_t round = seq / (4u * KEYS), k = (seq / 4u) % KEYS;
			struct shmq_message ms[4];
			for (unsigned j = 0; j < 4; j++) {
				uint64_t s2 = round * 4u * KEYS + k + j * KEYS;
				msg_for(a->producer, s2, buf[j], len, key[j], &ms[j]);
			}
			struct shmq_send_result r[4];
			int rc = shmq_producer_send_batch(a->p, ms, 4, r);
			if (rc != 4 || r[0].queue_id != r[3].queue_id || r[3].queue_offset != r[0].queue_offset + 3)
				a->err = rc < 0 ? rc : -EPROTO;
			seq += 4;
		} else {
			uint8_t *heap = malloc(len);
			char hk[32];
			assert_non_null(heap);
			msg_for(a->producer, seq, heap, len, hk, &m);
			int rc = shmq_producer_send_async(a->p, &m, async_done, a);
			free(heap); /* the library copied it */
			if (rc < 0)
				a->err = rc;
			seq++;
		}
	}
	if (a->mode == 2 && shmq_producer_flush(a->p, 30000000000ull) < 0)
		a->err = -ETIMEDOUT;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* tests                                                               */

/* Three producers (send, batch, async) on one remote client, one remote
 * consumer: every message arrives once, intact, in its key's queue (the
 * local selector's hash, RM4) and in order per key. */
static void test_remote_round_trip_keeps_order_per_key(void **state)
{
	(void)state;
	const uint32_t np = 3;
	struct book b;
	book_init(&b, np, 384u * itest_scale()); /* a multiple of 4 * KEYS (mode 1) */
	shmq_client_t *c = remote_client(2000000000ull);
	shmq_consumer_t *cs = remote_consumer(c, "g-rt", "rt", false);
	struct prod_arg pa[3];
	pthread_t th[3];
	for (uint32_t i = 0; i < np; i++) {
		SHMQ_PRODUCER_OPTS(po, .topic = "rt", .select = SHMQ_SELECT_HASH, .delivery = SHMQ_DELIVERY_PERSISTED);
		memset(&pa[i], 0, sizeof(pa[i]));
		pa[i].b = &b;
		pa[i].producer = i;
		pa[i].mode = (int)i;
		assert_int_equal(shmq_producer_open(c, &po, &pa[i].p), 0);
		assert_int_equal(pthread_create(&th[i], NULL, producer_main, &pa[i]), 0);
	}
	consume(cs, &b, np * b.per_producer, 30000, true);
	for (uint32_t i = 0; i < np; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(pa[i].err, 0);
		assert_int_equal(shmq_producer_queues(pa[i].p), QUEUES);
		shmq_producer_close(pa[i].p);
	}
	/* relaxed: the producer threads were joined */
	assert_int_equal(atomic_load_explicit(&pa[2].async_ok, memory_order_relaxed), b.per_producer);
	/* nothing more arrives: no message was stored twice */
	consume(cs, &b, UINT64_MAX, 300, true);
	struct shmq_consumer_stats st;
	shmq_consumer_stats(cs, &st);
	fprintf(stderr, "received %" PRIu64 " dups %" PRIu64 " bad %" PRIu64 " out of order %" PRIu64
		" (rebalances %" PRIu64 ", reconnects %" PRIu64 ")\n", b.received, b.dups, b.bad, b.order, st.rebalances,
		st.reconnects);
	assert_int_equal(b.received, np * b.per_producer);
	assert_int_equal(b.dups, 0);
	assert_int_equal(b.bad, 0);
	assert_int_equal(b.order, 0);
	uint32_t qs[QUEUES];
	assert_int_equal(shmq_consumer_assignment(cs, qs, QUEUES), QUEUES);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	book_free(&b);
}

/* A 1 MiB body (hundreds of frames each way) arrives byte for byte. */
static void test_remote_one_mib_message_is_fragmented_and_reassembled(void **state)
{
	(void)state;
	const uint32_t len = 1u << 20;
	uint8_t *body = malloc(len);
	assert_non_null(body);
	itest_body_fill(body, len, 7, 0, 1);
	shmq_client_t *c = remote_client(2000000000ull);
	shmq_consumer_t *cs = remote_consumer(c, "g-big", "big", false);
	SHMQ_PRODUCER_OPTS(po, .topic = "big", .delivery = SHMQ_DELIVERY_PERSISTED);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	struct shmq_message m = { .body = body, .body_len = len, .keys = "big" };
	struct shmq_send_result r;
	assert_int_equal(shmq_producer_send(p, &m, &r), 0);
	assert_int_not_equal(r.store_offset, SHMQ_OFFSET_UNKNOWN);
	struct shmq_msg_view v[4];
	int got = 0;
	uint64_t end = itest_now_ns() + 20000000000ull;
	while (got == 0 && itest_now_ns() < end) {
		int n = shmq_consumer_poll(cs, v, 4, 200000000ull);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++) {
			if (v[i].body_len != len)
				continue; /* a message of an earlier test */
			struct itest_body_hdr h;
			assert_int_equal(itest_body_check(v[i].body, v[i].body_len, &h), 0);
			assert_int_equal(h.producer, 7);
			assert_int_equal(v[i].queue_id, r.queue_id);
			assert_int_equal(v[i].queue_offset, r.queue_offset);
			got++;
		}
	}
	assert_int_equal(got, 1);
	shmq_producer_close(p);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	free(body);
}

/* Test hook: drop ~10 % of the packets, deterministically from the seed. */
static _Atomic uint64_t loss_n;
static _Atomic uint64_t loss_dropped;

static bool lossy(void *ctx, const struct shmq_net_pkt *pkt)
{
	(void)ctx;
	(void)pkt;
	/* relaxed: a counter feeding a hash; threads may interleave freely */
	uint64_t s = seed ^ atomic_fetch_add_explicit(&loss_n, 1, memory_order_relaxed) * 0x9e3779b97f4a7c15ull;
	bool drop = itest_rand(&s) % 100u < 10u;
	if (drop) /* relaxed: a statistic */
		atomic_fetch_add_explicit(&loss_dropped, 1, memory_order_relaxed);
	return drop;
}

/* 10 % of the client's packets lost (both producer and consumer sessions):
 * every message is stored and delivered exactly once. */
static void test_remote_ten_percent_loss_loses_and_duplicates_nothing(void **state)
{
	(void)state;
	struct book b;
	book_init(&b, 2, 300u * itest_scale());
	shmq_client_t *c = remote_client(3000000000ull);
	shmq_remote_set_loss(shmq_cli_remote(c), lossy, NULL);
	shmq_consumer_t *cs = remote_consumer(c, "g-loss", "loss", false);
	struct prod_arg pa[2];
	pthread_t th[2];
	for (uint32_t i = 0; i < 2; i++) {
		SHMQ_PRODUCER_OPTS(po, .topic = "loss", .select = SHMQ_SELECT_HASH, .delivery = SHMQ_DELIVERY_PERSISTED);
		memset(&pa[i], 0, sizeof(pa[i]));
		pa[i].b = &b;
		pa[i].producer = i;
		pa[i].mode = i == 0 ? 0 : 2;
		assert_int_equal(shmq_producer_open(c, &po, &pa[i].p), 0);
		assert_int_equal(pthread_create(&th[i], NULL, producer_main, &pa[i]), 0);
	}
	consume(cs, &b, 2 * b.per_producer, 40000, true);
	for (uint32_t i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(pa[i].err, 0);
		shmq_producer_close(pa[i].p);
	}
	consume(cs, &b, UINT64_MAX, 500, true);
	/* relaxed: statistics read after the threads were joined */
	fprintf(stderr, "dropped %" PRIu64 " of %" PRIu64 " packets; received %" PRIu64 " dups %" PRIu64 "\n",
		atomic_load_explicit(&loss_dropped, memory_order_relaxed),
		atomic_load_explicit(&loss_n, memory_order_relaxed), b.received, b.dups);
	assert_true(atomic_load_explicit(&loss_dropped, memory_order_relaxed) > 0);
	assert_int_equal(b.received, 2 * b.per_producer);
	assert_int_equal(b.dups, 0);
	assert_int_equal(b.bad, 0);
	assert_int_equal(b.order, 0);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	book_free(&b);
}

/* SIGKILL and restart of the broker while a producer sends and a consumer
 * polls: both resume on new sessions (RM2); every acknowledged message is
 * delivered (a resend across the restart may be stored twice). */
static void test_remote_client_resumes_after_broker_restart(void **state)
{
	(void)state;
	struct book b;
	book_init(&b, 1, 100000);
	shmq_client_t *c = remote_client(1000000000ull);
	shmq_consumer_t *cs = remote_consumer(c, "g-restart", "restart", false);
	_Atomic bool stop = false;
	struct prod_arg pa = { .b = &b, .producer = 0, .mode = 0, .stop = &stop };
	SHMQ_PRODUCER_OPTS(po, .topic = "restart", .select = SHMQ_SELECT_HASH, .delivery = SHMQ_DELIVERY_PERSISTED);
	assert_int_equal(shmq_producer_open(c, &po, &pa.p), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, producer_main, &pa), 0);
	/* relaxed: progress counters */
	uint64_t end = itest_now_ns() + 20000000000ull;
	while (atomic_load_explicit(&b.acked, memory_order_relaxed) < 200 && itest_now_ns() < end && !pa.err)
		consume(cs, &b, UINT64_MAX, 50, false);
	assert_true(atomic_load_explicit(&b.acked, memory_order_relaxed) >= 200);
	itest_broker_kill(&broker);
	uint64_t at_kill = atomic_load_explicit(&b.acked, memory_order_relaxed);
	assert_int_equal(itest_broker_restart(&broker), 0);
	end = itest_now_ns() + 30000000000ull;
	while (atomic_load_explicit(&b.acked, memory_order_relaxed) < at_kill + 200 && itest_now_ns() < end)
		consume(cs, &b, UINT64_MAX, 50, false);
	atomic_store_explicit(&stop, true, memory_order_relaxed);
	pthread_join(th, NULL);
	uint64_t acked = atomic_load_explicit(&b.acked, memory_order_relaxed);
	fprintf(stderr, "acked %" PRIu64 " (%" PRIu64 " before the kill), producer err %d\n", acked, at_kill, pa.err);
	assert_true(acked >= at_kill + 200);
	assert_int_equal(pa.err, 0);
	/* every acknowledged message is delivered */
	end = itest_now_ns() + 20000000000ull;
	uint64_t missing = 0;
	for (;;) {
		missing = 0;
		for (uint64_t s = 0; s < b.per_producer; s++)
			missing += b.sent_ok[s] && !b.seen[s];
		if (missing == 0 || itest_now_ns() >= end)
			break;
		consume(cs, &b, UINT64_MAX, 200, false);
	}
	struct shmq_consumer_stats st;
	shmq_consumer_stats(cs, &st);
	fprintf(stderr, "received %" PRIu64 " dups %" PRIu64 " missing %" PRIu64 " consumer reconnects %" PRIu64 "\n",
		b.received, b.dups, missing, st.reconnects);
	assert_int_equal(missing, 0);
	assert_int_equal(b.bad, 0);
	assert_true(st.reconnects >= 1);
	shmq_producer_close(pa.p);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	book_free(&b);
}

/* Two remote members of one clustering group split the queues (the second
 * gets its share at the first's next HEARTBEAT, which commits first) and
 * between them receive every message exactly once, in order per key. */
struct member_arg {
	shmq_consumer_t *cs;
	struct book *b;
	pthread_mutex_t *mu;    /* guards b */
	_Atomic bool *stop;
	uint64_t got;
	int err;
};

static void *member_main(void *arg)
{
	struct member_arg *m = arg;
	struct shmq_msg_view v[POLL_MAX];
	/* relaxed: a flag polled between polls */
	while (!atomic_load_explicit(m->stop, memory_order_relaxed)) {
		int n = shmq_consumer_poll(m->cs, v, POLL_MAX, 50000000ull);
		if (n < 0) {
			m->err = n;
			break;
		}
		pthread_mutex_lock(m->mu);
		for (int i = 0; i < n; i++)
			book_see(m->b, &v[i], true);
		pthread_mutex_unlock(m->mu);
		m->got += (uint64_t)n;
	}
	return NULL;
}

static void test_remote_group_members_split_the_queues_without_duplicates(void **state)
{
	(void)state;
	struct book b;
	book_init(&b, 1, 256u * itest_scale());
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	_Atomic bool stop = false;
	shmq_client_t *c = remote_client(2000000000ull);
	struct member_arg m[2];
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		m[i] = (struct member_arg){ .cs = remote_consumer(c, "g-split", "split", false), .b = &b, .mu = &mu,
					    .stop = &stop };
		assert_int_equal(pthread_create(&th[i], NULL, member_main, &m[i]), 0);
	}
	/* let the handover happen (HEARTBEAT every lease/3 = 2 s), then send */
	uint32_t qs[2][QUEUES];
	int na = 0, nb = 0;
	uint64_t end = itest_now_ns() + 15000000000ull;
	while ((na == 0 || nb == 0 || na + nb != (int)QUEUES) && itest_now_ns() < end) {
		itest_sleep_ms(100);
		na = shmq_consumer_assignment(m[0].cs, qs[0], QUEUES);
		nb = shmq_consumer_assignment(m[1].cs, qs[1], QUEUES);
	}
	fprintf(stderr, "split: %d + %d queues\n", na, nb);
	assert_true(na > 0 && nb > 0);
	assert_int_equal(na + nb, QUEUES);
	struct prod_arg pa = { .b = &b, .producer = 0, .mode = 0 };
	SHMQ_PRODUCER_OPTS(po, .topic = "split", .select = SHMQ_SELECT_HASH, .delivery = SHMQ_DELIVERY_PERSISTED);
	assert_int_equal(shmq_producer_open(c, &po, &pa.p), 0);
	producer_main(&pa);
	assert_int_equal(pa.err, 0);
	end = itest_now_ns() + 20000000000ull;
	for (;;) {
		pthread_mutex_lock(&mu);
		uint64_t got = b.received;
		pthread_mutex_unlock(&mu);
		if (got >= b.per_producer || itest_now_ns() >= end)
			break;
		itest_sleep_ms(20);
	}
	itest_sleep_ms(300);
	atomic_store_explicit(&stop, true, memory_order_relaxed); /* relaxed: the joins synchronise */
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(m[i].err, 0);
		shmq_consumer_close(m[i].cs);
	}
	fprintf(stderr, "split: member 0 got %" PRIu64 ", member 1 %" PRIu64 ", dups %" PRIu64 "\n", m[0].got, m[1].got,
		b.dups);
	assert_true(m[0].got > 0 && m[1].got > 0);
	assert_int_equal(b.received, b.per_producer);
	assert_int_equal(b.dups, 0);
	assert_int_equal(b.bad, 0);
	assert_int_equal(b.order, 0);
	shmq_producer_close(pa.p);
	shmq_client_close(c);
	book_free(&b);
}

/* Push mode: the library's thread calls back every message once it
 * succeeded, in order per key; a failed callback makes its queue wait
 * retry_delay_ns, then redelivers that message first. */
struct push_state {
	struct book b;
	uint64_t calls, failures;
	bool failed_once;
};

static int push_cb(void *arg, const struct shmq_msg_view *v)
{
	struct push_state *ps = arg;
	struct itest_body_hdr h;
	ps->calls++;
	if (itest_body_check(v->body, v->body_len, &h) == 0 && h.seq == 10 && !ps->failed_once) {
		ps->failed_once = true;
		ps->failures++;
		return -1; /* not consumed: retry later */
	}
	book_see(&ps->b, v, true);
	return 0;
}

static void test_remote_push_consumer_redelivers_a_failed_message_in_order(void **state)
{
	(void)state;
	static struct push_state ps; /* written by the push thread until close */
	memset(&ps, 0, sizeof(ps));
	book_init(&ps.b, 1, 96);
	shmq_client_t *c = remote_client(2000000000ull);
	SHMQ_CONSUMER_OPTS(co, .group = "g-push", .topic = "push", .start = SHMQ_START_EARLIEST, .push = push_cb,
			   .push_arg = &ps, .retry_delay_ns = 50000000ull);
	shmq_consumer_t *cs;
	assert_int_equal(shmq_consumer_open(c, &co, &cs), 0);
	assert_int_equal(shmq_consumer_poll(cs, NULL, 0, 0), -EINVAL); /* push consumers are not polled */
	struct prod_arg pa = { .b = &ps.b, .producer = 0, .mode = 0 };
	SHMQ_PRODUCER_OPTS(po, .topic = "push", .select = SHMQ_SELECT_HASH, .delivery = SHMQ_DELIVERY_PERSISTED);
	assert_int_equal(shmq_producer_open(c, &po, &pa.p), 0);
	producer_main(&pa);
	assert_int_equal(pa.err, 0);
	struct shmq_consumer_stats st;
	uint64_t end = itest_now_ns() + 20000000000ull;
	do {
		itest_sleep_ms(20);
		shmq_consumer_stats(cs, &st);
	} while (st.delivered < 97 && itest_now_ns() < end); /* 96 + the redelivery */
	itest_sleep_ms(100);
	shmq_consumer_close(cs); /* joins the push thread: ps is ours again */
	shmq_producer_close(pa.p);
	shmq_client_close(c);
	fprintf(stderr, "push: calls %" PRIu64 " failures %" PRIu64 " received %" PRIu64 " dups %" PRIu64 "\n", ps.calls,
		ps.failures, ps.b.received, ps.b.dups);
	assert_int_equal(ps.failures, 1);
	assert_int_equal(ps.b.received, 96);
	assert_int_equal(ps.b.dups, 0);
	assert_int_equal(ps.b.bad, 0);
	assert_int_equal(ps.b.order, 0);
	book_free(&ps.b);
}

/* A client holding another secret gets no session; a world-readable
 * secret file is refused before anything is sent; dpdk:// without
 * opts.dpdk_ip says so. */
/* A remote send returns at its producer's delivery level, as a local one
 * does: RING once the broker wrote it into the ring (offsets unknown),
 * PERSISTED with its offsets, DURABLE only once the commitlog was flushed
 * past it. */
static void test_remote_send_returns_at_the_producers_delivery_level(void **state)
{
	(void)state;
	shmq_client_t *lc = itest_connect(&broker);
	assert_int_equal(shmq_topic_create(lc, "levels", 1, NULL), 0);
	shmq_client_t *c = remote_client(2000000000ull);
	const enum shmq_delivery level[] = { SHMQ_DELIVERY_RING, SHMQ_DELIVERY_PERSISTED, SHMQ_DELIVERY_DURABLE };
	for (unsigned i = 0; i < 3; i++) {
		SHMQ_PRODUCER_OPTS(po, .topic = "levels", .delivery = level[i]);
		shmq_producer_t *p;
		assert_int_equal(shmq_producer_open(c, &po, &p), 0);
		char body[24];
		snprintf(body, sizeof(body), "level %u", i);
		struct shmq_message m = { .body = body, .body_len = (uint32_t)strlen(body) };
		struct shmq_send_result r;
		assert_int_equal(shmq_producer_send(p, &m, &r), 0);
		if (level[i] == SHMQ_DELIVERY_RING) {
			assert_true(r.queue_offset == SHMQ_OFFSET_UNKNOWN && r.store_offset == SHMQ_OFFSET_UNKNOWN);
		} else {
			assert_int_equal(r.queue_offset, i);
			assert_int_not_equal(r.store_offset, SHMQ_OFFSET_UNKNOWN);
		}
		if (level[i] == SHMQ_DELIVERY_DURABLE) {
			struct shmq_broker_status st;
			assert_int_equal(shmq_admin_status(lc, &st), 0);
			assert_true(st.commitlog_flushed_offset > r.store_offset);
		}
		shmq_producer_close(p);
	}
	/* all three stored, in send order */
	shmq_consumer_t *cs = remote_consumer(c, "g-levels", "levels", false);
	struct shmq_msg_view v[4];
	unsigned got = 0;
	uint64_t end = itest_now_ns() + 20000000000ull;
	while (got < 3 && itest_now_ns() < end) {
		int n = shmq_consumer_poll(cs, v, 4, 200000000ull);
		assert_true(n >= 0);
		for (int k = 0; k < n; k++, got++) {
			char want[24];
			snprintf(want, sizeof(want), "level %u", got);
			assert_int_equal(v[k].body_len, strlen(want));
			assert_memory_equal(v[k].body, want, strlen(want));
			assert_int_equal(v[k].queue_offset, got);
		}
	}
	assert_int_equal(got, 3);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	shmq_client_close(lc);
}

static _Atomic uint64_t bp_ok, bp_failed;

static void bp_done(void *arg, int status, const struct shmq_send_result *res)
{
	(void)arg;
	(void)res;
	/* relaxed: counters read after shmq_producer_flush() */
	atomic_fetch_add_explicit(status == 0 ? &bp_ok : &bp_failed, 1, memory_order_relaxed);
}

/* A producer that outruns the network is back-pressured as a local one is
 * at a full ring: while the broker does not answer, async sends are taken
 * until 64 MiB wait unsent, then each waits send_timeout_ns and returns
 * SHMQ_BACK_PRESSURED; everything taken is stored once the broker answers. */
static void test_remote_async_sends_are_back_pressured_while_the_broker_is_stalled(void **state)
{
	(void)state;
	shmq_client_t *lc = itest_connect(&broker);
	assert_int_equal(shmq_topic_create(lc, "bp", 1, NULL), 0);
	shmq_client_close(lc);
	shmq_client_t *c = remote_client(20000000000ull);
	SHMQ_PRODUCER_OPTS(po, .topic = "bp", .delivery = SHMQ_DELIVERY_PERSISTED, .send_timeout_ns = 200000000ull);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	uint32_t len = 1u << 20;
	uint8_t *body = calloc(1, len);
	assert_non_null(body);
	struct shmq_message m = { .body = body, .body_len = len };
	atomic_store(&bp_ok, 0);
	atomic_store(&bp_failed, 0);
	assert_int_equal(kill(broker.pid, SIGSTOP), 0);
	unsigned taken = 0;
	int rc;
	uint64_t t0 = itest_now_ns();
	while ((rc = shmq_producer_send_async(p, &m, bp_done, NULL)) == 0 && taken < 1000)
		taken++;
	uint64_t waited = itest_now_ns() - t0;
	assert_int_equal(kill(broker.pid, SIGCONT), 0);
	fprintf(stderr, "back-pressure after %u messages of 1 MiB\n", taken);
	assert_int_equal(rc, SHMQ_BACK_PRESSURED);
	assert_true(taken >= 60 && taken <= 70); /* 64 MiB of encoded messages */
	assert_true(waited >= 200000000ull);      /* the last send waited its timeout */
	assert_int_equal(shmq_producer_flush(p, 60000000000ull), 0);
	assert_int_equal(atomic_load(&bp_failed), 0);
	assert_int_equal(atomic_load(&bp_ok), taken);
	shmq_producer_close(p);
	shmq_client_close(c);
	free(body);
}

/* Start own_broker: its own remote port (URL into @p own_url, any principal may
 * produce and consume), async flush every 3 s; @p ring_capacity and
 * @p max_message_size NULL = the harness's. @return a local client of it. */
static shmq_client_t *own_broker_start(char *own_url, size_t len, const char *ring_capacity,
				       const char *max_message_size)
{
	int port = free_udp_port();
	assert_true(port > 0);
	snprintf(own_url, len, "udp://127.0.0.1:%d", port);
	memset(&own_broker, 0, sizeof(own_broker));
	struct itest_broker_opts o = {
		.ring_capacity = ring_capacity, .max_message_size = max_message_size, .flush_interval_ms = "3000",
		.extra = { "--net-listen", own_url, "--net-secret-file", secret_path, "--acl", "*=any:pc", NULL },
	};
	assert_int_equal(itest_broker_start(&own_broker, &o), 0);
	return itest_connect(&own_broker);
}

/* A remote consumer sees a message at its group's visibility level, as a
 * local one: PERSISTED as soon as it is stored, DURABLE only once the
 * commitlog was flushed past it (a broker flushing every 3 s here). Every
 * message a DURABLE member gets lies below the flushed end the broker
 * reports right after. */
static void test_remote_durable_consumers_see_only_flushed_messages(void **state)
{
	(void)state;
	char url2[64];
	struct itest_broker *b2 = &own_broker;
	shmq_client_t *lc = own_broker_start(url2, sizeof(url2), NULL, NULL);
	assert_int_equal(shmq_topic_create(lc, "vis", 1, NULL), 0);
	SHMQ_CLIENT_OPTS(co, .secret_file = secret_path, .request_timeout_ns = 2000000000ull);
	shmq_client_t *c = NULL;
	assert_int_equal(shmq_client_open(url2, &co, &c), 0);
	shmq_consumer_t *cs[2];
	const enum shmq_visibility vis[2] = { SHMQ_VISIBLE_PERSISTED, SHMQ_VISIBLE_DURABLE };
	for (int i = 0; i < 2; i++) {
		SHMQ_CONSUMER_OPTS(so, .group = i ? "g-durable" : "g-persisted", .topic = "vis",
				   .start = SHMQ_START_EARLIEST, .visibility = vis[i]);
		assert_int_equal(shmq_consumer_open(c, &so, &cs[i]), 0);
	}
	SHMQ_PRODUCER_OPTS(po, .topic = "vis", .delivery = SHMQ_DELIVERY_PERSISTED);
	shmq_producer_t *p;
	assert_int_equal(shmq_producer_open(c, &po, &p), 0);
	/* one message stored and not yet flushed (a flush may fall in between:
	 * then send another) */
	struct shmq_send_result r;
	struct shmq_broker_status st;
	uint64_t sent = 0;
	bool unflushed = false;
	for (int attempt = 0; attempt < 5 && !unflushed; attempt++) {
		struct shmq_message m = { .body = "v", .body_len = 1 };
		assert_int_equal(shmq_producer_send(p, &m, &r), 0);
		sent++;
		assert_int_equal(shmq_admin_status(lc, &st), 0);
		unflushed = st.commitlog_flushed_offset <= r.store_offset;
	}
	assert_true(unflushed);
	struct shmq_msg_view v[8];
	uint64_t got[2] = { 0, 0 };
	/* PERSISTED: at once */
	uint64_t end = itest_now_ns() + 2000000000ull;
	while (got[0] < sent && itest_now_ns() < end) {
		int n = shmq_consumer_poll(cs[0], v, 8, 100000000ull);
		assert_true(n >= 0);
		got[0] += (uint64_t)n;
	}
	assert_int_equal(got[0], sent);
	/* DURABLE: what it gets is flushed; the last message only after the flush */
	uint64_t last_seen = UINT64_MAX;
	end = itest_now_ns() + 10000000000ull;
	bool checked_early = false;
	while (got[1] < sent && itest_now_ns() < end) {
		int n = shmq_consumer_poll(cs[1], v, 8, 100000000ull);
		assert_true(n >= 0);
		assert_int_equal(shmq_admin_status(lc, &st), 0);
		for (int k = 0; k < n; k++) {
			assert_true(v[k].store_offset < st.commitlog_flushed_offset);
			last_seen = v[k].store_offset;
		}
		got[1] += (uint64_t)n;
		if (st.commitlog_flushed_offset <= r.store_offset) {
			assert_true(last_seen == UINT64_MAX || last_seen < r.store_offset);
			checked_early = true;
		}
	}
	assert_int_equal(got[1], sent);
	assert_int_equal(last_seen, r.store_offset);
	assert_true(checked_early); /* the 3 s flush came after at least one poll */
	shmq_producer_close(p);
	for (int i = 0; i < 2; i++)
		shmq_consumer_close(cs[i]);
	shmq_client_close(c);
	shmq_client_close(lc);
	itest_broker_stop(b2);
	itest_teardown(b2);
}

#define DURABLE_N 32

struct durable_send {
	shmq_producer_t *p;
	struct shmq_send_result res[DURABLE_N];
	int rc;
	atomic_bool done; /* release: rc/res written; acquire in the flooding loop */
};

static void *durable_send_thread(void *arg)
{
	struct durable_send *d = arg;
	uint8_t body[200];
	memset(body, 'R', sizeof(body));
	struct shmq_message m[DURABLE_N];
	for (int i = 0; i < DURABLE_N; i++)
		m[i] = (struct shmq_message){ .body = body, .body_len = sizeof(body) };
	d->rc = shmq_producer_send_batch(d->p, m, DURABLE_N, d->res);
	atomic_store_explicit(&d->done, true, memory_order_release);
	return NULL;
}

/* A DURABLE batch waits for a flush (3 s here) long after the persister
 * consumed its ring record; meanwhile a local producer laps the 64 KiB ring
 * with 0xff bytes. The broker used to walk the batch's inner headers again
 * at flush time and read garbage: a SIGSEGV, or a stored batch answered
 * -EIO and stored again on resend. Now the answer is the 32 messages, each
 * stored once, with offsets that are either unknown or right. */
static void test_remote_durable_batch_survives_its_ring_record_being_reused_before_the_flush(void **state)
{
	(void)state;
	char url2[64];
	struct itest_broker *b2 = &own_broker;
	shmq_client_t *lc = own_broker_start(url2, sizeof(url2), "64K", "8K");
	assert_int_equal(shmq_topic_create(lc, "lap", 1, NULL), 0);
	SHMQ_CLIENT_OPTS(co, .secret_file = secret_path, .request_timeout_ns = 5000000000ull);
	shmq_client_t *c = NULL;
	assert_int_equal(shmq_client_open(url2, &co, &c), 0);
	static struct durable_send d;
	memset(&d, 0, sizeof(d));
	SHMQ_PRODUCER_OPTS(po, .topic = "lap", .delivery = SHMQ_DELIVERY_DURABLE);
	assert_int_equal(shmq_producer_open(c, &po, &d.p), 0);
	SHMQ_PRODUCER_OPTS(lo, .topic = "lap", .delivery = SHMQ_DELIVERY_RING);
	shmq_producer_t *lp;
	assert_int_equal(shmq_producer_open(lc, &lo, &lp), 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, durable_send_thread, &d), 0);
	itest_sleep_ms(300); /* written and persisted, not flushed */
	static uint8_t ff[2000]; /* mostly 0xff where the batch's inner headers were */
	memset(ff, 0xff, sizeof(ff));
	uint64_t laps_bytes = 0;
	while (!atomic_load_explicit(&d.done, memory_order_acquire)) {
		struct shmq_message m = { .body = ff, .body_len = sizeof(ff) };
		if (shmq_producer_send(lp, &m, NULL) == 0)
			laps_bytes += sizeof(ff);
	}
	pthread_join(th, NULL);
	fprintf(stderr, "durable batch answered %d while %" PRIu64 " KiB went through the 64 KiB ring\n", d.rc,
		laps_bytes >> 10);
	assert_int_equal(d.rc, DURABLE_N);
	assert_true(laps_bytes > (128u << 10)); /* the record's bytes were reused */
	assert_int_equal(shmq_producer_flush(lp, 5000000000ull), 0);
	shmq_producer_close(lp);
	shmq_producer_close(d.p);
	shmq_client_close(c);
	/* every remote message stored once; known offsets point at them */
	uint64_t min = 0, max = 0;
	for (int i = 0; i < 200 && max < laps_bytes / sizeof(ff) + DURABLE_N; i++) {
		struct shmq_group_progress *gp;
		assert_int_equal(shmq_admin_group_progress(lc, "lap-reader", "lap", &gp), 0);
		min = gp->q[0].min_offset;
		max = gp->q[0].max_offset;
		free(gp);
		itest_sleep_ms(10);
	}
	assert_int_equal(max, laps_bytes / sizeof(ff) + DURABLE_N);
	unsigned remote = 0;
	for (uint64_t off = min; off < max; off++) {
		struct shmq_admin_msg am;
		assert_int_equal(shmq_admin_read_queue(lc, "lap", 0, off, &am), 0);
		if (am.v.body_len && ((const uint8_t *)am.v.body)[0] == 'R')
			remote++;
		shmq_admin_msg_free(&am);
	}
	assert_int_equal(remote, DURABLE_N);
	for (int i = 0; i < DURABLE_N; i++) {
		if (d.res[i].queue_offset == SHMQ_OFFSET_UNKNOWN)
			continue;
		struct shmq_admin_msg am;
		assert_int_equal(shmq_admin_read_queue(lc, "lap", 0, d.res[i].queue_offset, &am), 0);
		assert_int_equal(((const uint8_t *)am.v.body)[0], 'R');
		assert_int_equal(am.v.store_offset, d.res[i].store_offset);
		shmq_admin_msg_free(&am);
	}
	shmq_client_close(lc);
	assert_int_equal(itest_broker_stop(b2), 0); /* alive, and stops cleanly */
	itest_teardown(b2);
}

static void test_remote_forged_secret_is_refused(void **state)
{
	(void)state;
	char other[160];
	snprintf(other, sizeof(other), "%s/other", secret_dir);
	write_secret(other, "not-the-shared-secret-of-it-remote", 0600);
	SHMQ_CLIENT_OPTS(o, .secret_file = other, .request_timeout_ns = 500000000ull);
	shmq_client_t *c = NULL;
	uint64_t t0 = itest_now_ns();
	int rc = shmq_client_open(url, &o, &c);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_null(c);
	assert_true(itest_now_ns() - t0 < 10000000000ull);
	chmod(other, 0644);
	assert_int_equal(shmq_client_open(url, &o, &c), -EPERM);
	o.secret_file = secret_path;
	/* dpdk:// needs this host's address on the DPDK port (opts.dpdk_ip) */
	assert_int_equal(shmq_client_open("dpdk://127.0.0.1:1", &o, &c), -EINVAL);
	/* the right secret still works */
	c = remote_client(1000000000ull);
	shmq_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_forged_secret_is_refused),
		cmocka_unit_test(test_remote_round_trip_keeps_order_per_key),
		cmocka_unit_test(test_remote_send_returns_at_the_producers_delivery_level),
		cmocka_unit_test(test_remote_durable_consumers_see_only_flushed_messages),
		cmocka_unit_test(test_remote_durable_batch_survives_its_ring_record_being_reused_before_the_flush),
		cmocka_unit_test(test_remote_async_sends_are_back_pressured_while_the_broker_is_stalled),
		cmocka_unit_test(test_remote_one_mib_message_is_fragmented_and_reassembled),
		cmocka_unit_test(test_remote_ten_percent_loss_loses_and_duplicates_nothing),
		cmocka_unit_test(test_remote_group_members_split_the_queues_without_duplicates),
		cmocka_unit_test(test_remote_push_consumer_redelivers_a_failed_message_in_order),
		cmocka_unit_test(test_remote_client_resumes_after_broker_restart),
	};
	if (!itest_shmqd_path()) {
		fprintf(stderr, "skip: env SHMQD does not name the shmqd binary\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
