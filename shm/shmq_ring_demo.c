/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmq-ring-demo: two processes and one shared-memory ring.
 *
 * The producer creates a ring file under /dev/shm (a unique name, removed at
 * the end), forks and execs itself as the consumer (`--consumer PATH`), then
 * sends a bulk phase of checksummed messages (single writes and batches),
 * a latency phase at a steady rate (a CLOCK_MONOTONIC timestamp in each
 * message: the same clock in both processes), and an end message carrying
 * its totals. The consumer is the ring's gating reader: it verifies every
 * checksum and the sequence, measures one-way latency, and compares its
 * totals with the producer's. Exit status 0 means everything arrived intact.
 */
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "shmq/ring.h"

#define DEMO_PRODUCER 1u
#define TYPE_DATA (SHMQ_RING_TYPE_USER + 0)
#define TYPE_LAT (SHMQ_RING_TYPE_USER + 1)
#define TYPE_END (SHMQ_RING_TYPE_USER + 2)
#define DEMO_CAPACITY (4ull << 20)
#define DEMO_BATCH 32u
#define DEMO_MAX_LEN 512u
#define LAT_MESSAGES 20000u
#define LAT_INTERVAL_NS 5000u
#define CONSUMER_TIMEOUT_NS (60ull * 1000 * 1000 * 1000)

/* Bulk payload: seq, len, crc32c over everything but the crc field. */
struct demo_hdr {
	uint64_t seq;
	uint32_t len;
	uint32_t crc;
};

struct demo_end {
	uint64_t messages, bytes, latency_messages;
};

static uint32_t demo_crc(const unsigned char *p, uint32_t len)
{
	return shmq_crc32c(shmq_crc32c(0, p, 12), p + 16, len - 16);
}

static void demo_fill(void *buf, uint64_t seq, uint32_t len)
{
	unsigned char *p = buf;
	struct demo_hdr h = { .seq = seq, .len = len };
	uint64_t x = seq * 0x9e3779b97f4a7c15ull + 1;

	memcpy(p, &h, sizeof(h));
	for (uint32_t off = sizeof(h); off < len; off += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + off, &x, len - off < 8 ? len - off : 8);
	}
	h.crc = demo_crc(p, len);
	memcpy(p + 12, &h.crc, sizeof(h.crc));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------------ */
/* Consumer                                                            */

static int consumer_main(const char *path)
{
	static struct shmq_ring_msg msgs[2 * SHMQ_RING_BATCH_MAX];
	static uint64_t lat[LAT_MESSAGES];
	shmq_ring_t *r = NULL;
	struct demo_end end = { 0 };
	uint64_t expect_seq = 0, bytes = 0, nlat = 0, t_first = 0, t_bulk_end = 0;
	uint64_t deadline = shmq_now_ns() + CONSUMER_TIMEOUT_NS;
	unsigned spins = 0;
	int rc, done = 0, bad = 0;

	rc = shmq_ring_attach(path, &r);
	if (rc) {
		fprintf(stderr, "consumer: attach %s: %s\n", path, shmq_strerror(rc));
		return 1;
	}
	while (!done && !bad) {
		uint64_t next = 0;
		int n = shmq_ring_gate_read(r, msgs, 2 * SHMQ_RING_BATCH_MAX, &next);

		if (n < 0) {
			fprintf(stderr, "consumer: read: %s\n", shmq_strerror(n));
			bad = 1;
			break;
		}
		if (n == 0) {
			/* Poll hard for a while (latency), then sleep on the ring's futex. */
			if (++spins < 20000) {
				shmq_cpu_relax();
				continue;
			}
			spins = 0;
			if (shmq_now_ns() > deadline) {
				fprintf(stderr, "consumer: timed out after %" PRIu64 " messages\n", expect_seq);
				bad = 1;
				break;
			}
			rc = shmq_ring_gate_wait(r, shmq_ring_consumed(r), 100ull * 1000 * 1000);
			if (rc && rc != -ETIMEDOUT && rc != -EINTR) {
				fprintf(stderr, "consumer: wait: %s\n", shmq_strerror(rc));
				bad = 1;
			}
			(void)shmq_ring_gate_consume(r, shmq_ring_consumed(r));
			continue;
		}
		spins = 0;
		for (int i = 0; i < n && !bad; i++) {
			const struct shmq_ring_msg *m = &msgs[i];

			if (m->type == TYPE_DATA) {
				struct demo_hdr h;

				if (!t_first)
					t_first = shmq_now_ns();
				if (m->len < sizeof(h)) {
					bad = 1;
					break;
				}
				memcpy(&h, m->data, sizeof(h));
				if (h.len != m->len || h.seq != expect_seq ||
				    demo_crc(m->data, m->len) != h.crc) {
					fprintf(stderr, "consumer: message %" PRIu64 " bad (seq %" PRIu64
						", len %u/%u)\n", expect_seq, h.seq, h.len, m->len);
					bad = 1;
					break;
				}
				expect_seq++;
				bytes += m->len;
			} else if (m->type == TYPE_LAT && m->len >= 16) {
				uint64_t ts, now = shmq_now_ns();

				if (!t_bulk_end)
					t_bulk_end = now;
				memcpy(&ts, (const char *)m->data + 8, sizeof(ts));
				if (nlat < LAT_MESSAGES)
					lat[nlat++] = now - ts;
			} else if (m->type == TYPE_END && m->len == sizeof(end)) {
				memcpy(&end, m->data, sizeof(end));
				done = 1;
			} else {
				fprintf(stderr, "consumer: unexpected record type %u len %u\n", m->type, m->len);
				bad = 1;
			}
		}
		rc = shmq_ring_gate_consume(r, next);
		if (rc) {
			fprintf(stderr, "consumer: consume: %s\n", shmq_strerror(rc));
			bad = 1;
		}
	}
	shmq_ring_close(r);
	if (bad)
		return 1;
	if (end.messages != expect_seq || end.bytes != bytes || end.latency_messages != nlat) {
		fprintf(stderr, "consumer: producer sent %" PRIu64 " messages/%" PRIu64 " bytes/%" PRIu64
			" latency probes, received %" PRIu64 "/%" PRIu64 "/%" PRIu64 "\n",
			end.messages, end.bytes, end.latency_messages, expect_seq, bytes, nlat);
		return 1;
	}
	if (!t_bulk_end)
		t_bulk_end = shmq_now_ns();
	qsort(lat, nlat, sizeof(lat[0]), cmp_u64);
	printf("consumer: received %" PRIu64 " messages, %.1f MB, every CRC32C verified, sequence "
	       "0..%" PRIu64 " in order, %.2f M msg/s\n",
	       expect_seq, (double)bytes / 1e6, expect_seq ? expect_seq - 1 : 0,
	       (double)expect_seq / ((double)(t_bulk_end - t_first) / 1e3));
	if (nlat)
		printf("consumer: one-way latency over %" PRIu64 " messages sent one per %u us: "
		       "p50 %.2f us, p99 %.2f us, max %.2f us\n",
		       nlat, LAT_INTERVAL_NS / 1000, (double)lat[nlat / 2] / 1e3,
		       (double)lat[nlat * 99 / 100] / 1e3, (double)lat[nlat - 1] / 1e3);
	fflush(stdout);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Producer                                                            */

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Retry a back-pressured operation after waiting for room. */
static int wait_room(shmq_ring_t *r, uint32_t bytes, uint64_t deadline)
{
	int rc = shmq_ring_wait_space(r, bytes, 100ull * 1000 * 1000);

	if (rc == -ETIMEDOUT || rc == -EINTR)
		rc = 0;
	if (!rc && shmq_now_ns() > deadline)
		rc = -ETIMEDOUT;
	return rc;
}

static int produce(shmq_ring_t *r, uint64_t count, struct demo_end *end, uint64_t *singles,
		   uint64_t *batches)
{
	unsigned char buf[DEMO_MAX_LEN];
	uint32_t lens[DEMO_BATCH];
	uint64_t seq = 0, rs = 0x2545f4914f6cdd1dull, deadline = shmq_now_ns() + CONSUMER_TIMEOUT_NS;
	int rc;

	while (seq < count) {
		uint64_t x = xorshift(&rs);

		if ((x & 15) || count - seq < DEMO_BATCH) {
			uint32_t len = 16 + (uint32_t)((x >> 8) % (DEMO_MAX_LEN - 16));

			demo_fill(buf, seq, len);
			rc = shmq_ring_write(r, DEMO_PRODUCER, TYPE_DATA, buf, len);
			if (rc == 0) {
				seq++;
				end->bytes += len;
				(*singles)++;
				continue;
			}
		} else {
			struct shmq_ring_batch b;
			uint32_t total = 0;

			for (uint32_t i = 0; i < DEMO_BATCH; i++) {
				lens[i] = 16 + (uint32_t)(xorshift(&rs) % (DEMO_MAX_LEN - 16));
				total += lens[i];
			}
			rc = shmq_ring_batch_reserve(r, DEMO_PRODUCER, TYPE_DATA, DEMO_BATCH, lens, &b);
			if (rc == 0) {
				for (uint32_t i = 0; i < DEMO_BATCH; i++)
					demo_fill(shmq_ring_batch_data(&b, i), seq + i, lens[i]);
				rc = shmq_ring_batch_commit(r, &b);
				if (rc == 0) {
					seq += DEMO_BATCH;
					end->bytes += total;
					(*batches)++;
					continue;
				}
			}
		}
		if (rc != SHMQ_BACK_PRESSURED)
			return rc;
		rc = wait_room(r, DEMO_MAX_LEN * DEMO_BATCH, deadline);
		if (rc)
			return rc;
	}
	end->messages = seq;
	return 0;
}

static int send_latency_probes(shmq_ring_t *r, struct demo_end *end)
{
	unsigned char buf[64] = { 0 };
	uint64_t start = shmq_now_ns(), deadline = start + CONSUMER_TIMEOUT_NS;
	int rc;

	for (uint64_t i = 0; i < LAT_MESSAGES; i++) {
		uint64_t target = start + i * LAT_INTERVAL_NS, ts;

		/* Pacing on this process's own core: at most one interval. */
		while (shmq_now_ns() < target)
			shmq_cpu_relax();
		for (;;) {
			ts = shmq_now_ns();
			memcpy(buf, &i, sizeof(i));
			memcpy(buf + 8, &ts, sizeof(ts));
			rc = shmq_ring_write(r, DEMO_PRODUCER, TYPE_LAT, buf, sizeof(buf));
			if (rc != SHMQ_BACK_PRESSURED)
				break;
			rc = wait_room(r, 128, deadline);
			if (rc)
				return rc;
		}
		if (rc)
			return rc;
		end->latency_messages++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char path[96];
	uint64_t count = 1000000, singles = 0, batches = 0, t0, t1;
	struct demo_end end = { 0 };
	struct shmq_ring_stats st;
	shmq_ring_t *r = NULL;
	pid_t child;
	int rc, status;

	if (argc == 3 && !strcmp(argv[1], "--consumer"))
		return consumer_main(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "--messages")) {
		count = strtoull(argv[2], NULL, 0);
		if (!count || count > 1000000000ull)
			count = 1000000;
	} else if (argc != 1) {
		fprintf(stderr, "usage: %s [--messages N]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	snprintf(path, sizeof(path), "/dev/shm/shmq-demo-%d-%08" PRIx64, (int)getpid(),
		 shmq_now_ns() & 0xffffffffu);
	{
		SHMQ_RING_OPTS(o, .capacity = DEMO_CAPACITY, .prefault = true);
		rc = shmq_ring_create(path, &o, &r);
	}
	if (rc) {
		fprintf(stderr, "demo: create %s: %s\n", path, shmq_strerror(rc));
		return 1;
	}
	child = fork();
	if (child < 0) {
		perror("demo: fork");
		shmq_ring_close(r);
		unlink(path);
		return 1;
	}
	if (child == 0) {
		char *args[] = { argv[0], "--consumer", path, NULL };

		execv("/proc/self/exe", args);
		perror("demo: exec consumer");
		_exit(127);
	}
	printf("shmq ring demo: ring %s (%llu KiB), producer pid %d, consumer pid %d\n", path,
	       (unsigned long long)(DEMO_CAPACITY >> 10), (int)getpid(), (int)child);

	t0 = shmq_now_ns();
	rc = produce(r, count, &end, &singles, &batches);
	t1 = shmq_now_ns();
	/* Let the consumer drain the bulk phase first: a probe queued behind a
	 * backlog would measure the backlog, not the ring. */
	while (!rc && shmq_ring_consumed(r) < shmq_ring_tail(r)) {
		if (shmq_now_ns() - t1 > CONSUMER_TIMEOUT_NS)
			rc = -ETIMEDOUT;
		usleep(100);
	}
	if (!rc)
		rc = send_latency_probes(r, &end);
	if (!rc) {
		printf("producer: sent %" PRIu64 " messages (%" PRIu64 " single writes + %" PRIu64
		       " batches of %u), %.1f MB in %.3f s: %.2f M msg/s, %.2f GB/s\n",
		       end.messages, singles, batches, DEMO_BATCH, (double)end.bytes / 1e6,
		       (double)(t1 - t0) / 1e9, (double)end.messages / ((double)(t1 - t0) / 1e3),
		       (double)end.bytes / (double)(t1 - t0));
		printf("producer: then %" PRIu64 " latency probes, one every %u us\n", end.latency_messages,
		       LAT_INTERVAL_NS / 1000);
		fflush(stdout);
		for (;;) {
			rc = shmq_ring_write(r, DEMO_PRODUCER, TYPE_END, &end, sizeof(end));
			if (rc != SHMQ_BACK_PRESSURED)
				break;
			rc = wait_room(r, 128, shmq_now_ns() + CONSUMER_TIMEOUT_NS);
			if (rc)
				break;
		}
	}
	if (rc) {
		fprintf(stderr, "demo: producer: %s\n", shmq_strerror(rc));
		kill(child, SIGKILL);
	}
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	shmq_ring_stats(r, &st);
	shmq_ring_close(r);
	unlink(path);
	printf("ring: %.1f MB passed through (%.0f laps), back-pressured %" PRIu64 " times, %" PRIu64
	       " dead-producer unblocks, %" PRIu64 " futex wakes%s\n",
	       (double)st.tail / 1e6, (double)st.tail / (double)DEMO_CAPACITY, st.backpressured,
	       st.unblocked, st.futex_wakes, st.fenced ? ", FENCED" : "");
	if (rc || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("demo FAILED (consumer status %#x); ring file removed\n", status);
		return 1;
	}
	printf("demo OK: every message arrived intact and in order; ring file %s removed\n", path);
	return 0;
}
