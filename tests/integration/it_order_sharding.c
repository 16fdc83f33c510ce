/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ordering per sharding key with a clustering group under churn.
 *
 * One producer sends KEYS interleaved key sequences (key k, seq 1, 2, ...)
 * with SHMQ_SELECT_HASH to a topic of 8 queues while 3 consumer processes of
 * one group consume; members are SIGKILLed and restarted, and a fourth
 * member joins and leaves gracefully, during the run. Every consumer
 * incarnation logs each delivery (queue, offset, key, seq, time) with one
 * write(2) per poll, so a SIGKILL loses nothing it logged.
 *
 * What the logs must show:
 *  1. one key, one queue; a (queue, offset) always carries the same message;
 *  2. per consumer incarnation and queue, deliveries form runs of
 *     consecutive offsets ("sessions"); inside a session each key's seq
 *     goes up by exactly 1 (no per-key reordering, no gap);
 *  3. a session starts at most POLL_MAX messages before the highest offset
 *     delivered by anyone before it (redelivery only from the committed
 *     offset: a killed member's last poll was not committed) and never after
 *     it + 1 (no skipped message);
 *  4. one owner at a time: across all logs merged by time, a queue changes
 *     hands only at a session start;
 *  5. every sent message was delivered at least once;
 *  6. offsets resume: after everyone closed, the group's committed offsets
 *     equal the queue ends, survive a clean broker restart and then a
 *     SIGKILL and restart, and a new member starting from them receives
 *     exactly the messages sent after the restarts.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
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

#define TOPIC "ord"
#define GROUP "ord-g"
#define QUEUES 8u
#define KEYS 64u
#define SLOTS 4            /* 3 steady members + 1 that joins and leaves */
#define POLL_MAX 16u
#define BODY 48u
#define SEND_SECONDS 6.0

struct shared {
	const char *sock;
	uint64_t seed;
	uint32_t total;                  /* messages of the first phase */
	uint32_t extra;                  /* messages sent after the broker restart */
	uint32_t phase;                  /* 0: churn phase; 1: after the restart */
	_Atomic uint32_t sent;
	_Atomic int producer_done;
	uint32_t key_count[KEYS];        /* per-key seq reached (written by the producer) */
	int32_t key_queue[KEYS];         /* -1 = unseen */
	_Atomic int joined[SLOTS];       /* incarnation that owns queues and polls */
	_Atomic int leave[SLOTS];        /* graceful close request */
	_Atomic int stop;
	int incarnation[SLOTS];          /* parent-side bookkeeping */
};

static struct shared *g;
static struct itest_broker broker;

/* ------------------------------------------------------------------ */
/* Producer                                                            */

static int producer_child(void *arg)
{
	SHMQ_PRODUCER_OPTS(o, .topic = TOPIC, .select = SHMQ_SELECT_HASH, .delivery = SHMQ_DELIVERY_RING);
	uint32_t count = g->phase ? g->extra : g->total;
	uint64_t rng = g->seed ^ (0x51ull + g->phase), t0 = itest_now_ns();
	double per_msg_ns = g->phase ? 0 : SEND_SECONDS * 1e9 / count;
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	uint8_t body[BODY];
	char key[32];
	int rc;

	(void)arg;
	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_producer_open(c, &o, &p))) {
		fprintf(stderr, "producer: open: %s\n", shmq_strerror(rc));
		return 1;
	}
	for (uint32_t i = 0; i < count;) {
		uint32_t k = (uint32_t)(itest_rand(&rng) % KEYS);
		uint64_t seq = g->key_count[k] + 1;
		struct shmq_send_result res;
		struct shmq_message m = { .body = body, .body_len = BODY };

		/* a steady rate over SEND_SECONDS, so the churn happens mid-stream */
		while (per_msg_ns > 0 && (double)(itest_now_ns() - t0) < per_msg_ns * i)
			itest_sleep_ms(1);
		snprintf(key, sizeof(key), "key-%u", k);
		m.sharding_key = key;
		m.sharding_key_len = (uint32_t)strlen(key);
		itest_body_fill(body, BODY, 0, k, seq);
		do {
			rc = shmq_producer_send(p, &m, &res);
		} while (rc == SHMQ_BACK_PRESSURED);
		if (rc) {
			fprintf(stderr, "producer: send %u: %s\n", i, shmq_strerror(rc));
			return 1;
		}
		if (g->key_queue[k] >= 0 && (uint32_t)g->key_queue[k] != res.queue_id) {
			fprintf(stderr, "producer: key %u went to queue %u, before to %d\n", k, res.queue_id,
				g->key_queue[k]);
			return 1;
		}
		g->key_queue[k] = (int32_t)res.queue_id;
		g->key_count[k] = (uint32_t)seq;
		i++;
		/* relaxed: a progress hint for the parent's schedule */
		atomic_store_explicit(&g->sent, i, memory_order_relaxed);
	}
	shmq_producer_close(p);
	shmq_client_close(c);
	/* release: pairs with the parent's acquire; key_count/key_queue final */
	atomic_store_explicit(&g->producer_done, 1, memory_order_release);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Consumer                                                            */

struct consumer_arg {
	int slot, incarnation;
	enum shmq_start start;
};

static void log_name(char *out, size_t len, int slot, int inc)
{
	itest_path(&broker, out, len, "deliveries-%u-%d-%d.log", g->phase, slot, inc);
}

static int consumer_child(void *argp)
{
	const struct consumer_arg *a = argp;
	SHMQ_CONSUMER_OPTS(o, .group = GROUP, .topic = TOPIC, .start = a->start);
	struct shmq_msg_view v[POLL_MAX];
	struct itest_delivery rec[POLL_MAX];
	shmq_client_t *c = NULL;
	shmq_consumer_t *cs = NULL;
	char path[ITEST_PATH_MAX];
	int fd, rc, joined = 0;

	log_name(path, sizeof(path), a->slot, a->incarnation);
	fd = itest_log_open(path);
	if (fd < 0)
		return 1;
	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc || (rc = shmq_consumer_open(c, &o, &cs))) {
		fprintf(stderr, "consumer %d.%d: open: %s\n", a->slot, a->incarnation, shmq_strerror(rc));
		return 1;
	}
	for (;;) {
		int k = shmq_consumer_poll(cs, v, POLL_MAX, 50 * 1000 * 1000);
		uint64_t t = itest_now_ns();
		uint32_t q[QUEUES];

		if (k < 0) {
			fprintf(stderr, "consumer %d.%d: poll: %s\n", a->slot, a->incarnation, shmq_strerror(k));
			return 1;
		}
		for (int i = 0; i < k; i++) {
			struct itest_body_hdr h;

			if (itest_body_check(v[i].body, v[i].body_len, &h) || h.key >= KEYS) {
				fprintf(stderr, "consumer %d.%d: bad body at %u/%" PRIu64 "\n", a->slot,
					a->incarnation, v[i].queue_id, v[i].queue_offset);
				return 1;
			}
			rec[i] = (struct itest_delivery){ .queue = v[i].queue_id, .producer = h.producer,
							  .key = h.key, .member = (uint32_t)(a->slot * 100 + a->incarnation),
							  .seq = h.seq, .queue_offset = v[i].queue_offset, .t_ns = t };
		}
		if (k > 0 && itest_log_append(fd, rec, (size_t)k * sizeof(rec[0])))
			return 1;
		if (!joined && shmq_consumer_assignment(cs, q, QUEUES) > 0) {
			joined = 1;
			/* release: pairs with the parent's acquire */
			atomic_store_explicit(&g->joined[a->slot], a->incarnation, memory_order_release);
		}
		/* acquire: pairs with the parent's release of the request */
		if (atomic_load_explicit(&g->stop, memory_order_acquire) ||
		    atomic_load_explicit(&g->leave[a->slot], memory_order_acquire) == a->incarnation)
			break;
	}
	shmq_consumer_close(cs);
	shmq_client_close(c);
	return 0;
}

static struct consumer_arg cargs[SLOTS][32];

static pid_t start_consumer(int slot, enum shmq_start start)
{
	int inc = ++g->incarnation[slot];
	struct consumer_arg *a = &cargs[slot][inc % 32];

	*a = (struct consumer_arg){ .slot = slot, .incarnation = inc, .start = start };
	fprintf(stderr, "  %.3f s: consumer %d.%d starts\n", (double)itest_now_ns() / 1e9, slot, inc);
	return itest_spawn(consumer_child, a);
}

/* ------------------------------------------------------------------ */
/* Log analysis                                                        */

struct rec {
	struct itest_delivery d;
	int session_start;
};

struct logset {
	struct rec *r;
	size_t n;
	size_t *log_start;  /* per log: first index */
	size_t nlogs;
};

static int load_logs(struct logset *ls)
{
	memset(ls, 0, sizeof(*ls));
	ls->log_start = calloc(SLOTS * 64 + 1, sizeof(size_t));
	if (!ls->log_start)
		return -ENOMEM;
	for (int s = 0; s < SLOTS; s++)
		for (int inc = 1; inc <= g->incarnation[s]; inc++) {
			char path[ITEST_PATH_MAX];
			void *buf;
			size_t len, k;
			struct rec *nr;

			log_name(path, sizeof(path), s, inc);
			if (itest_read_file(path, &buf, &len))
				continue;
			k = len / sizeof(struct itest_delivery);
			nr = realloc(ls->r, (ls->n + k + 1) * sizeof(*nr));
			if (!nr) {
				free(buf);
				return -ENOMEM;
			}
			ls->r = nr;
			ls->log_start[ls->nlogs++] = ls->n;
			for (size_t i = 0; i < k; i++) {
				memcpy(&ls->r[ls->n].d, (char *)buf + i * sizeof(struct itest_delivery),
				       sizeof(struct itest_delivery));
				ls->r[ls->n++].session_start = 0;
			}
			free(buf);
		}
	ls->log_start[ls->nlogs] = ls->n;
	return 0;
}

static void free_logs(struct logset *ls)
{
	free(ls->r);
	free(ls->log_start);
}

/* Coverage: 1 when every sent (key, seq) of the phase was delivered. */
static int covered(const struct logset *ls, uint32_t from[KEYS], uint64_t *missing)
{
	uint8_t *seen[KEYS];
	int ok = 1;

	*missing = 0;
	for (uint32_t k = 0; k < KEYS; k++) {
		seen[k] = calloc(g->key_count[k] + 1, 1);
		if (!seen[k])
			return 0;
	}
	for (size_t i = 0; i < ls->n; i++) {
		const struct itest_delivery *d = &ls->r[i].d;

		if (d->key < KEYS && d->seq <= g->key_count[d->key])
			seen[d->key][d->seq] = 1;
	}
	for (uint32_t k = 0; k < KEYS; k++) {
		for (uint64_t s = from[k] + 1; s <= g->key_count[k]; s++)
			if (!seen[k][s]) {
				(*missing)++;
				ok = 0;
			}
		free(seen[k]);
	}
	return ok;
}

static int cmp_time(const void *a, const void *b)
{
	const struct rec *x = *(const struct rec *const *)a, *y = *(const struct rec *const *)b;

	if (x->d.t_ns != y->d.t_ns)
		return x->d.t_ns < y->d.t_ns ? -1 : 1;
	return x->d.member < y->d.member ? -1 : x->d.member > y->d.member;
}

/* Checks 1-4; returns the number of violations (each printed, up to a few). */
static unsigned check_logs(struct logset *ls, uint64_t *redelivered)
{
	unsigned bad = 0;
	int32_t key_queue[KEYS];
	struct rec **by_time = calloc(ls->n + 1, sizeof(*by_time));
	/* (queue, offset) -> key/seq; no queue holds more than every message */
	size_t cap = (size_t)g->total + g->extra + 1;
	uint64_t *msg = calloc(QUEUES * cap, sizeof(uint64_t));

	*redelivered = 0;
	assert_non_null(by_time);
	assert_non_null(msg);
	for (uint32_t k = 0; k < KEYS; k++)
		key_queue[k] = -1;
#define VIOLATION(...) do { if (bad++ < 10) fprintf(stderr, "VIOLATION: " __VA_ARGS__); } while (0)
	/* 1. key -> one queue; (queue, offset) -> one message */
	for (size_t i = 0; i < ls->n; i++) {
		const struct itest_delivery *d = &ls->r[i].d;
		uint64_t id = ((uint64_t)d->key << 40) | d->seq | (1ull << 63);

		if (d->queue >= QUEUES || d->queue_offset >= cap) {
			VIOLATION("queue %u offset %" PRIu64 " out of range\n", d->queue, d->queue_offset);
			continue;
		}
		if (key_queue[d->key] >= 0 && key_queue[d->key] != (int32_t)d->queue)
			VIOLATION("key %u in queues %d and %u\n", d->key, key_queue[d->key], d->queue);
		key_queue[d->key] = (int32_t)d->queue;
		if (msg[d->queue * cap + d->queue_offset] && msg[d->queue * cap + d->queue_offset] != id)
			VIOLATION("queue %u offset %" PRIu64 " delivered as two different messages\n", d->queue,
				  d->queue_offset);
		msg[d->queue * cap + d->queue_offset] = id;
	}
	/* 2. sessions per log and queue; per-key seq +1 inside a session */
	for (size_t l = 0; l < ls->nlogs; l++) {
		uint64_t prev[QUEUES] = { 0 };
		uint64_t last_seq[KEYS] = { 0 };
		unsigned session[QUEUES] = { 0 }, key_session[KEYS] = { 0 };
		int have[QUEUES] = { 0 };

		for (size_t i = ls->log_start[l]; i < ls->log_start[l + 1]; i++) {
			struct rec *r = &ls->r[i];
			const struct itest_delivery *d = &r->d;

			if (d->queue >= QUEUES || d->key >= KEYS)
				continue;
			if (!have[d->queue] || d->queue_offset != prev[d->queue] + 1) {
				r->session_start = 1;
				session[d->queue]++;
			}
			have[d->queue] = 1;
			prev[d->queue] = d->queue_offset;
			if (key_session[d->key] == session[d->queue] + 1000u * d->queue &&
			    d->seq != last_seq[d->key] + 1)
				VIOLATION("member %u: key %u seq %" PRIu64 " after %" PRIu64 " in one run of queue %u "
					  "(offset %" PRIu64 ")\n", d->member, d->key, d->seq, last_seq[d->key],
					  d->queue, d->queue_offset);
			key_session[d->key] = session[d->queue] + 1000u * d->queue;
			last_seq[d->key] = d->seq;
		}
	}
	/* 3 and 4: merged by time */
	for (size_t i = 0; i < ls->n; i++)
		by_time[i] = &ls->r[i];
	qsort(by_time, ls->n, sizeof(*by_time), cmp_time);
	{
		int64_t max_off[QUEUES];
		uint32_t last_member[QUEUES] = { 0 };

		for (uint32_t q = 0; q < QUEUES; q++)
			max_off[q] = -1;
		for (size_t i = 0; i < ls->n; i++) {
			const struct rec *r = by_time[i];
			const struct itest_delivery *d = &r->d;
			int64_t off = (int64_t)d->queue_offset;

			if (d->queue >= QUEUES)
				continue;
			if (last_member[d->queue] && last_member[d->queue] != d->member && !r->session_start)
				VIOLATION("queue %u: member %u delivers offset %" PRIu64 " continuing its run while "
					  "member %u delivered in between (two owners at once)\n", d->queue,
					  d->member, d->queue_offset, last_member[d->queue]);
			if (r->session_start) {
				if (off > max_off[d->queue] + 1 && max_off[d->queue] >= 0)
					VIOLATION("queue %u: member %u starts at %" PRId64 " but only %" PRId64
						  " was delivered before (skipped messages)\n", d->queue, d->member,
						  off, max_off[d->queue]);
				if (off + (int64_t)POLL_MAX < max_off[d->queue] + 1)
					VIOLATION("queue %u: member %u restarts at %" PRId64 ", %" PRId64
						  " was delivered before: more than one poll redelivered\n", d->queue,
						  d->member, off, max_off[d->queue]);
				if (off <= max_off[d->queue])
					*redelivered += (uint64_t)(max_off[d->queue] + 1 - off);
			}
			if (off > max_off[d->queue])
				max_off[d->queue] = off;
			last_member[d->queue] = d->member;
		}
	}
#undef VIOLATION
	free(by_time);
	free(msg);
	return bad;
}

/* ------------------------------------------------------------------ */

static int all_joined(const int *slots, int n)
{
	for (int i = 0; i < n; i++)
		/* acquire: pairs with the consumer's release */
		if (atomic_load_explicit(&g->joined[slots[i]], memory_order_acquire) != g->incarnation[slots[i]])
			return 0;
	return 1;
}

static void wait_joined(const int *slots, int n, unsigned timeout_ms)
{
	for (unsigned w = 0; w < timeout_ms && !all_joined(slots, n); w += 10)
		itest_sleep_ms(10);
}

static struct shmq_group_progress *progress(void)
{
	shmq_client_t *c = NULL;
	struct shmq_group_progress *p = NULL;

	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	assert_int_equal(shmq_admin_group_progress(c, GROUP, TOPIC, &p), 0);
	shmq_client_close(c);
	assert_non_null(p);
	assert_int_equal(p->queues, QUEUES);
	return p;
}

static void test_per_key_order_holds_while_members_join_and_are_killed(void **state)
{
	static const int steady[3] = { 0, 1, 2 };
	pid_t pids[SLOTS] = { 0 }, prod;
	uint64_t rng, missing = 1, redelivered = 0, t0;
	uint32_t from[KEYS] = { 0 };
	struct logset ls;
	struct shmq_group_progress *p1, *p2;
	shmq_client_t *c = NULL;
	unsigned bad;
	int rc, killed = 0;

	(void)state;
	g->seed = itest_seed("order_sharding");
	rng = g->seed;
	g->total = 12000 * itest_scale();
	g->extra = 500;
	for (uint32_t k = 0; k < KEYS; k++)
		g->key_queue[k] = -1;
	assert_int_equal(itest_broker_start(&broker, NULL), 0);
	g->sock = broker.sock;
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	assert_int_equal(shmq_topic_create(c, TOPIC, QUEUES, NULL), 0);
	shmq_client_close(c);

	for (int s = 0; s < 3; s++)
		pids[s] = start_consumer(s, SHMQ_START_COMMITTED);
	wait_joined(steady, 3, 20000);
	assert_true(all_joined(steady, 3));
	/* Give every queue a committed offset (the start of the topic), so a
	 * queue moving from a member that never committed does not start at
	 * "latest" (START_COMMITTED on a never-committed queue). */
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	rc = shmq_admin_group_reset(c, GROUP, TOPIC, SHMQ_START_EARLIEST, 0, NULL);
	shmq_client_close(c);
	assert_int_equal(rc, 0);

	t0 = itest_now_ns();
	prod = itest_spawn(producer_child, NULL);
	assert_true(prod > 0);
	/* Churn while the producer runs: every 500-900 ms one event. */
	for (int ev = 0; !atomic_load_explicit(&g->producer_done, memory_order_acquire); ev++) {
		itest_sleep_ms(500 + (unsigned)(itest_rand(&rng) % 400));
		if (atomic_load_explicit(&g->producer_done, memory_order_acquire))
			break;
		if (itest_now_ns() - t0 > 60ull * 1000000000ull)
			break;
		switch (ev % 4) {
		case 0:
		case 2: { /* SIGKILL a steady member, restart it 100-400 ms later */
			int s = (int)(itest_rand(&rng) % 3);

			fprintf(stderr, "  %.3f s: SIGKILL consumer %d.%d (%u sent)\n",
				(double)itest_now_ns() / 1e9, s, g->incarnation[s],
				atomic_load_explicit(&g->sent, memory_order_relaxed));
			itest_kill(pids[s]);
			killed++;
			itest_sleep_ms(100 + (unsigned)(itest_rand(&rng) % 300));
			pids[s] = start_consumer(s, SHMQ_START_COMMITTED);
			break;
		}
		case 1: /* a fourth member joins */
			if (!pids[3])
				pids[3] = start_consumer(3, SHMQ_START_COMMITTED);
			break;
		case 3: /* ... and leaves gracefully */
			if (pids[3]) {
				fprintf(stderr, "  %.3f s: consumer 3.%d leaves\n", (double)itest_now_ns() / 1e9,
					g->incarnation[3]);
				/* release: pairs with the consumer's acquire */
				atomic_store_explicit(&g->leave[3], g->incarnation[3], memory_order_release);
				assert_int_equal(itest_wait(pids[3], 20000), 0);
				pids[3] = 0;
			}
			break;
		}
	}
	assert_int_equal(itest_wait(prod, 90000), 0);
	assert_true(killed >= 2);
	/* Wait until every sent message was delivered to someone. */
	for (int i = 0; i < 300 && missing; i++) {
		assert_int_equal(load_logs(&ls), 0);
		covered(&ls, from, &missing);
		free_logs(&ls);
		if (missing)
			itest_sleep_ms(100);
	}
	fprintf(stderr, "  coverage: %" PRIu64 " messages never delivered\n", missing);
	/* Let the last owners reach the queue ends, then everyone closes (commit). */
	itest_sleep_ms(500);
	/* release: pairs with the consumers' acquire */
	atomic_store_explicit(&g->stop, 1, memory_order_release);
	for (int s = 0; s < SLOTS; s++)
		if (pids[s])
			assert_int_equal(itest_wait(pids[s], 20000), 0);

	assert_int_equal(load_logs(&ls), 0);
	bad = check_logs(&ls, &redelivered);
	assert_true(covered(&ls, from, &missing));
	fprintf(stderr, "  %zu deliveries of %u messages in %zu logs, %" PRIu64 " redelivered, %u violations\n",
		ls.n, g->total, ls.nlogs, redelivered, bad);
	free_logs(&ls);
	assert_int_equal(bad, 0);
	assert_int_equal(missing, 0);

	/* 6. offsets resume */
	p1 = progress();
	for (uint32_t q = 0; q < QUEUES; q++) {
		fprintf(stderr, "  queue %u: committed %" PRIu64 " max %" PRIu64 "\n", q, p1->q[q].committed,
			p1->q[q].max_offset);
		assert_int_equal(p1->q[q].committed, p1->q[q].max_offset);
	}
	/* a clean restart (offsets.json), then a SIGKILL and restart (the
	 * offset table in the ring directory) */
	for (int r = 0; r < 2; r++) {
		if (r == 0)
			assert_int_equal(itest_broker_stop(&broker), 0);
		else
			itest_broker_kill(&broker);
		assert_int_equal(itest_broker_restart(&broker), 0);
		p2 = progress();
		for (uint32_t q = 0; q < QUEUES; q++) {
			assert_int_equal(p2->q[q].committed, p1->q[q].committed);
			assert_int_equal(p2->q[q].max_offset, p1->q[q].max_offset);
		}
		free(p2);
	}
	memcpy(from, g->key_count, sizeof(from));
	g->phase = 1;
	atomic_store_explicit(&g->stop, 0, memory_order_release);
	memset(g->incarnation, 0, sizeof(g->incarnation));
	for (int s = 0; s < SLOTS; s++)
		atomic_store_explicit(&g->joined[s], 0, memory_order_release);
	pids[0] = start_consumer(0, SHMQ_START_COMMITTED);
	wait_joined(steady, 1, 20000);
	assert_true(all_joined(steady, 1));
	prod = itest_spawn(producer_child, NULL);
	assert_int_equal(itest_wait(prod, 60000), 0);
	missing = 1;
	for (int i = 0; i < 200 && missing; i++) {
		assert_int_equal(load_logs(&ls), 0);
		covered(&ls, from, &missing);
		free_logs(&ls);
		if (missing)
			itest_sleep_ms(100);
	}
	itest_sleep_ms(300);
	atomic_store_explicit(&g->stop, 1, memory_order_release);
	assert_int_equal(itest_wait(pids[0], 20000), 0);
	assert_int_equal(load_logs(&ls), 0);
	/* exactly the new messages, each once, from the committed offsets on */
	assert_int_equal(ls.n, g->extra);
	for (size_t i = 0; i < ls.n; i++) {
		assert_true(ls.r[i].d.seq > from[ls.r[i].d.key]);
		assert_true(ls.r[i].d.queue_offset >= p1->q[ls.r[i].d.queue].max_offset);
	}
	assert_true(covered(&ls, from, &missing));
	assert_int_equal(check_logs(&ls, &redelivered), 0);
	free_logs(&ls);
	free(p1);
	assert_int_equal(itest_broker_stop(&broker), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ITEST_BROKER_TEST(test_per_key_order_holds_while_members_join_and_are_killed, broker),
	};

	g = itest_shared_alloc(sizeof(*g));
	return ITEST_RUN_GROUP(tests, g, sizeof(*g));
}
