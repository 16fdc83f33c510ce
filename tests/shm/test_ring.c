/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the shared-memory ring (include/shmq/ring.h). Each test names
 * the guarantee (G1..G8) it checks. Tests that need to play a dead producer or
 * a hostile process map the ring file a second time and write through
 * shm/ring_layout.h, exactly as another process could.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/clock.h"
#include "shm/ring_layout.h"
#include "shmq/ring.h"

#define T_USER  (SHMQ_RING_TYPE_USER + 1)
#define T_USER2 (SHMQ_RING_TYPE_USER + 2)

struct fixture {
	char dir[64];
	char path[128];
	shmq_ring_t *r;
	/* a second, raw mapping of the file: what another process sees */
	uint8_t *raw;
	size_t raw_len;
	struct shmq_ring_header *h;
	uint8_t *data;
};

static uint64_t g_seed;

static void fx_map_raw(struct fixture *f)
{
	int fd = open(f->path, O_RDWR);
	assert_true(fd >= 0);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	f->raw_len = (size_t)st.st_size;
	f->raw = mmap(NULL, f->raw_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(f->raw != MAP_FAILED);
	close(fd);
	f->h = (struct shmq_ring_header *)(void *)f->raw;
	f->data = f->raw + SHMQ_RING_DATA_OFFSET;
}

static struct fixture *fx_new(uint64_t cap, uint64_t unblock_ns)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/shmq-test-ring.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/ring", f->dir);
	SHMQ_RING_OPTS(o, .capacity = cap, .unblock_timeout_ns = unblock_ns, .prefault = true);
	assert_int_equal(shmq_ring_create(f->path, &o, &f->r), 0);
	fx_map_raw(f);
	return f;
}

static void fx_free(struct fixture *f)
{
	if (!f)
		return;
	shmq_ring_close(f->r);
	if (f->raw)
		munmap(f->raw, f->raw_len);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
}

static void fill_pattern(void *buf, uint32_t len, uint32_t salt)
{
	uint8_t *p = buf;
	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)(salt * 31u + i * 7u);
}

static int check_pattern(const void *buf, uint32_t len, uint32_t salt)
{
	const uint8_t *p = buf;
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != (uint8_t)(salt * 31u + i * 7u))
			return 0;
	return 1;
}

static int write_pattern(shmq_ring_t *r, uint32_t pid, uint32_t len, uint32_t salt)
{
	uint8_t buf[4096];
	fill_pattern(buf, len, salt);
	return shmq_ring_write(r, pid, T_USER, buf, len);
}

/* Read and consume everything committed; returns the number of messages. */
static int drain(shmq_ring_t *r)
{
	static struct shmq_ring_msg msgs[SHMQ_RING_BATCH_MAX];
	int total = 0;
	for (;;) {
		uint64_t next;
		int n = shmq_ring_gate_read(r, msgs, SHMQ_RING_BATCH_MAX, &next);
		assert_true(n >= 0);
		assert_int_equal(shmq_ring_gate_consume(r, next), 0);
		total += n;
		if (n == 0)
			return total;
	}
}

/* ------------------------------------------------------------------ */

static void test_empty_ring_reads_nothing_and_waits_time_out(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	struct shmq_ring_msg m[4];
	uint64_t next = 99;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 4, &next), 0);
	assert_int_equal(next, 0);
	uint64_t pos = 0;
	assert_int_equal(shmq_ring_read(f->r, &pos, m, 4), 0);
	assert_int_equal(pos, 0);
	assert_int_equal(shmq_ring_wait_data(f->r, 0, 0), -ETIMEDOUT);
	assert_int_equal(shmq_ring_wait_data(f->r, 0, 2000000), -ETIMEDOUT);
	assert_int_equal(shmq_ring_tail(f->r), 0);
	assert_int_equal(shmq_ring_oldest(f->r), 0);
	assert_int_equal(shmq_ring_capacity(f->r), 4096);
	assert_int_equal(shmq_ring_max_msg(f->r), 1024);
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.tail + st.head + st.consumed + st.unblocked + st.futex_wakes, 0);
	assert_false(st.fenced);
	fx_free(f);
}

static void test_reserve_rejects_bad_arguments(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	struct shmq_ring_claim c;
	assert_int_equal(shmq_ring_reserve(f->r, 1, SHMQ_RING_TYPE_USER - 1, 8, &c), -EINVAL);
	assert_int_equal(shmq_ring_reserve(f->r, 1, T_USER, 1025, &c), SHMQ_ETOOBIG);
	uint32_t lens[2] = { 8, 8 };
	struct shmq_ring_batch b;
	assert_int_equal(shmq_ring_batch_reserve(f->r, 1, T_USER, 0, lens, &b), -EINVAL);
	assert_int_equal(shmq_ring_batch_reserve(f->r, 1, T_USER, SHMQ_RING_BATCH_MAX + 1, lens, &b),
			 -EINVAL);
	uint32_t big[3] = { 600, 600, 8 }; /* whole batch above capacity/4 */
	assert_int_equal(shmq_ring_batch_reserve(f->r, 1, T_USER, 3, big, &b), SHMQ_ETOOBIG);
	SHMQ_RING_OPTS(bad, .capacity = 5000);
	shmq_ring_t *r2 = NULL;
	char p2[160];
	snprintf(p2, sizeof(p2), "%s/bad", f->dir);
	assert_int_equal(shmq_ring_create(p2, &bad, &r2), -EINVAL);
	assert_int_equal(shmq_ring_create(f->path, NULL, &r2), -EEXIST);
	assert_null(r2);
	fx_free(f);
}

/* G4: tail never passes head + capacity; back-pressure until space is freed. */
static void test_full_ring_refuses_reservation_with_backpressure_until_consumed(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	int written = 0;
	int rc;
	while ((rc = write_pattern(f->r, 1, 100, (uint32_t)written)) == 0)
		written++;
	assert_int_equal(rc, SHMQ_BACK_PRESSURED);
	assert_int_equal(written, 4096 / 120); /* 16-byte header + 104 padded payload */
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_true(st.backpressured >= 1);
	assert_true(st.tail <= st.head + 4096);
	assert_int_equal(shmq_ring_wait_space(f->r, 120, 0), -ETIMEDOUT);
	/* Still refused: nothing was reserved by the failed attempts. */
	assert_int_equal(write_pattern(f->r, 1, 100, 0), SHMQ_BACK_PRESSURED);
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.tail, (uint64_t)written * 120);
	assert_int_equal(drain(f->r), written);
	/* A back-pressured producer asked for space: released all the way. */
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.head, st.consumed);
	assert_int_equal(shmq_ring_wait_space(f->r, 120, 0), 0);
	assert_int_equal(write_pattern(f->r, 1, 100, 7), 0);
	fx_free(f);
}

/* G3 + I4: a record that does not fit before the end is preceded by padding. */
static void test_wrap_inserts_padding_record_and_keeps_ring_order(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	for (uint32_t i = 0; i < 4; i++) /* 4 x 1016 = 4064 bytes */
		assert_int_equal(write_pattern(f->r, 1, 1000, i), 0);
	struct shmq_ring_msg m[8];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 2, &next), 2);
	assert_int_equal(shmq_ring_gate_consume(f->r, next), 0);
	/* 32 bytes left before the end: the next record pads them and wraps. */
	assert_int_equal(write_pattern(f->r, 1, 1000, 4), 0);
	assert_int_equal(shmq_ring_tail(f->r), 4096 + 1016);
	uint32_t w = shmq_load_acquire((_Atomic uint32_t *)(void *)(f->data + 4064));
	assert_int_equal(w, SHMQ_RING_LEN_PAD | 32);
	/* The gating reader skips the pad; a non-gating reader does too. */
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(m[i].len, 1000);
		assert_true(check_pattern(m[i].data, 1000, i + 2));
	}
	assert_int_equal(m[2].pos, 4096);
	assert_int_equal(m[1].next_pos, 4064);
	assert_int_equal(next, 4096 + 1016);
	uint64_t pos = shmq_ring_oldest(f->r);
	assert_true(pos <= 2 * 1016);
	int n = shmq_ring_read(f->r, &pos, m, 8);
	assert_true(n >= 3);
	assert_true(check_pattern(m[n - 1].data, 1000, 4));
	assert_int_equal(pos, 4096 + 1016);
	assert_int_equal(shmq_ring_read_check(f->r, m[0].pos), 0);
	fx_free(f);
}

/* G3 head-of-line: the second reservation's commit stays invisible until the first commits. */
static void test_out_of_order_commit_is_hidden_until_first_commits(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	struct shmq_ring_claim a, b;
	assert_int_equal(shmq_ring_reserve(f->r, 1, T_USER, 40, &a), 0);
	assert_int_equal(shmq_ring_reserve(f->r, 2, T_USER2, 24, &b), 0);
	assert_true(b.pos > a.pos);
	fill_pattern(a.data, 40, 1);
	fill_pattern(b.data, 24, 2);
	assert_int_equal(shmq_ring_commit(f->r, &b), 0);
	struct shmq_ring_msg m[4];
	uint64_t next, pos = 0;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 4, &next), 0);
	assert_int_equal(next, 0);
	assert_int_equal(shmq_ring_read(f->r, &pos, m, 4), 0);
	assert_int_equal(shmq_ring_wait_data(f->r, a.pos, 0), -ETIMEDOUT);
	assert_int_equal(shmq_ring_wait_data(f->r, b.pos, 0), 0);
	assert_int_equal(shmq_ring_commit(f->r, &a), 0);
	assert_int_equal(shmq_ring_gate_read(f->r, m, 4, &next), 2);
	assert_int_equal(m[0].producer_id, 1);
	assert_int_equal(m[0].type, T_USER);
	assert_true(check_pattern(m[0].data, 40, 1));
	assert_int_equal(m[1].producer_id, 2);
	assert_int_equal(m[1].type, T_USER2);
	assert_int_equal(m[1].len, 24);
	assert_true(check_pattern(m[1].data, 24, 2));
	assert_int_equal(shmq_ring_read(f->r, &pos, m, 4), 2);
	assert_int_equal(m[0].producer_id, 1);
	assert_int_equal(pos, next);
	fx_free(f);
}

struct fifo_arg {
	shmq_ring_t *r;
	uint32_t pid;
	uint32_t n;
	int rc;
};

static void *fifo_producer(void *p)
{
	struct fifo_arg *a = p;
	for (uint32_t seq = 0; seq < a->n; seq++) {
		uint32_t payload[4] = { a->pid, seq, ~seq, a->pid ^ seq };
		uint32_t len = 16 + (seq % 5) * 8;
		uint8_t buf[64];
		memset(buf, 0xab, sizeof(buf));
		memcpy(buf, payload, sizeof(payload));
		int rc;
		while ((rc = shmq_ring_write(a->r, a->pid, T_USER, buf, len)) == SHMQ_BACK_PRESSURED)
			shmq_ring_wait_space(a->r, 16 + len + 8, 100000000);
		if (rc != 0) {
			a->rc = rc;
			return NULL;
		}
	}
	return NULL;
}

/* G1 + G3: two producer threads, one gating reader: each producer's records in order. */
static void test_per_producer_fifo_with_concurrent_producers(void **state)
{
	(void)state;
	struct fixture *f = fx_new(16384, 0);
	const char *sc = getenv("SHMQ_STRESS_SCALE");
	uint32_t n = 20000 * (uint32_t)(sc && atoi(sc) > 0 ? atoi(sc) : 1);
	struct fifo_arg args[2] = { { f->r, 1, n, 0 }, { f->r, 2, n, 0 } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, fifo_producer, &args[i]), 0);
	static struct shmq_ring_msg m[SHMQ_RING_BATCH_MAX];
	uint32_t expect[3] = { 0, 0, 0 };
	uint64_t pos = 0;
	while (expect[1] < n || expect[2] < n) {
		uint64_t next;
		int k = shmq_ring_gate_read(f->r, m, SHMQ_RING_BATCH_MAX, &next);
		assert_true(k >= 0);
		for (int i = 0; i < k; i++) {
			uint32_t payload[4];
			memcpy(payload, m[i].data, sizeof(payload));
			uint32_t pid = m[i].producer_id;
			assert_true(pid == 1 || pid == 2);
			assert_int_equal(payload[0], pid);
			assert_int_equal(payload[1], expect[pid]); /* G1: no gap, no reorder */
			assert_int_equal(payload[2], ~expect[pid]);
			assert_int_equal(m[i].len, 16 + (expect[pid] % 5) * 8);
			/* G3: contiguous ring order, except padding at the wrap */
			if (m[i].pos != pos)
				assert_int_equal(m[i].pos % 16384, 0);
			pos = m[i].next_pos;
			expect[pid]++;
		}
		assert_int_equal(shmq_ring_gate_consume(f->r, next), 0);
		pos = next;
		if (k == 0)
			shmq_ring_gate_wait(f->r, next, 100000000);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].rc, 0);
	}
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	printf("fifo: %u msgs/producer, backpressured %llu, futex wakes %llu\n", n,
	       (unsigned long long)st.backpressured, (unsigned long long)st.futex_wakes);
	assert_int_equal(st.unblocked, 0);
	fx_free(f);
}

/* G7: a batch becomes visible with one store, whole, in consecutive places. */
static void test_batch_is_published_all_at_once(void **state)
{
	(void)state;
	struct fixture *f = fx_new(8192, 0);
	assert_int_equal(write_pattern(f->r, 9, 10, 100), 0);
	uint32_t lens[5] = { 0, 1, 7, 8, 200 };
	struct shmq_ring_batch b;
	assert_int_equal(shmq_ring_batch_reserve(f->r, 3, T_USER2, 5, lens, &b), 0);
	assert_int_equal(b.count, 5);
	assert_null(shmq_ring_batch_data(&b, 5));
	uint8_t *ptrs[5];
	for (uint32_t i = 0; i < 5; i++) {
		uint8_t *d = shmq_ring_batch_data(&b, i);
		assert_non_null(d);
		assert_int_equal((uintptr_t)d % 8, 0);
		fill_pattern(d, lens[i], i);
		ptrs[i] = d;
	}
	/* Placed by our lengths, not by the inner headers in shared memory: a
	 * length another process raises there moves nothing. */
	uint32_t saved;
	memcpy(&saved, ptrs[0] - 8, sizeof(saved));
	const uint32_t raised = 0x7ffffff8u;
	memcpy(ptrs[0] - 8, &raised, sizeof(raised));
	assert_ptr_equal(shmq_ring_batch_data(&b, 2), ptrs[2]);
	memcpy(ptrs[0] - 8, &saved, sizeof(saved));
	/* Any access order gives the same areas (the lookup resumes forward). */
	assert_ptr_equal(shmq_ring_batch_data(&b, 3), ptrs[3]);
	assert_ptr_equal(shmq_ring_batch_data(&b, 1), ptrs[1]);
	assert_ptr_equal(shmq_ring_batch_data(&b, 4), ptrs[4]);
	assert_ptr_equal(shmq_ring_batch_data(&b, 0), ptrs[0]);
	assert_int_equal(ptrs[4] - ptrs[0], 8 + 16 + 16 + 16);
	assert_int_equal(write_pattern(f->r, 9, 10, 101), 0); /* after the batch */
	struct shmq_ring_msg m[16];
	uint64_t next, pos = 0;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 16, &next), 1);
	assert_int_equal(next, b.pos);
	assert_int_equal(shmq_ring_read(f->r, &pos, m, 16), 1);
	assert_int_equal(pos, b.pos);
	assert_int_equal(shmq_ring_batch_commit(f->r, &b), 0);
	/* Not enough room in msgs[] for the batch: returned whole or not at all. */
	assert_int_equal(shmq_ring_gate_read(f->r, m, 5, &next), 1);
	assert_int_equal(next, b.pos);
	assert_int_equal(shmq_ring_gate_read(f->r, m, 16, &next), 7);
	for (uint32_t i = 0; i < 5; i++) {
		struct shmq_ring_msg *x = &m[1 + i];
		assert_int_equal(x->index, i);
		assert_int_equal(x->count, 5);
		assert_int_equal(x->len, lens[i]);
		assert_int_equal(x->type, T_USER2);
		assert_int_equal(x->producer_id, 3);
		assert_int_equal(x->pos, b.pos);
		assert_int_equal(x->next_pos, b.pos + b.total);
		assert_true(check_pattern(x->data, lens[i], i));
	}
	assert_int_equal(m[6].pos, b.pos + b.total);
	assert_true(check_pattern(m[6].data, 10, 101));
	assert_int_equal(shmq_ring_read(f->r, &pos, m, 16), 6);
	assert_int_equal(m[3].len, 8);
	assert_int_equal(m[4].len, 200);
	fx_free(f);
}

/* G5: a non-gating reader lapped by reclamation is told, before and after use. */
static void test_lapped_non_gating_reader_gets_overrun(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(write_pattern(f->r, 1, 200, i), 0);
	uint64_t start = 0, pos = 0;
	struct shmq_ring_msg m[32];
	assert_int_equal(shmq_ring_read(f->r, &pos, m, 2), 2);
	assert_int_equal(shmq_ring_read_check(f->r, start), 0);
	assert_true(check_pattern(m[0].data, 200, 0));
	/* The gating reader consumes, producers want the room again and again. */
	for (uint32_t i = 8; i < 40; i++) {
		drain(f->r);
		int rc;
		while ((rc = write_pattern(f->r, 1, 200, i)) == SHMQ_BACK_PRESSURED)
			drain(f->r);
		assert_int_equal(rc, 0);
	}
	/* The pointers handed out earlier are now stale: the check says so. */
	assert_int_equal(shmq_ring_read_check(f->r, start), SHMQ_EOVERRUN);
	uint64_t stale = pos;
	assert_int_equal(shmq_ring_read(f->r, &stale, m, 16), SHMQ_EOVERRUN);
	assert_int_equal(stale, pos); /* not advanced */
	uint64_t oldest = shmq_ring_oldest(f->r);
	assert_true(oldest > pos);
	int n = shmq_ring_read(f->r, &oldest, m, 32);
	assert_true(n > 0);
	/* Resynchronised: the newest message is the last one written. */
	assert_true(check_pattern(m[n - 1].data, 200, 39));
	assert_int_equal(oldest, shmq_ring_tail(f->r));
	fx_free(f);
}

/* Lazy release: consumed records stay readable until producers need the room. */
static void test_consumed_records_stay_readable_until_space_is_needed(void **state)
{
	(void)state;
	struct fixture *f = fx_new(8192, 0);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(write_pattern(f->r, 1, 200, i), 0);
	assert_int_equal(drain(f->r), 10);
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.head, 0);
	assert_int_equal(st.consumed, 10 * 216);
	uint64_t pos = shmq_ring_oldest(f->r);
	struct shmq_ring_msg m[16];
	assert_int_equal(shmq_ring_read(f->r, &pos, m, 16), 10);
	/* Free space under a quarter: half of the ring is released. */
	for (uint32_t i = 10; i < 30; i++)
		assert_int_equal(write_pattern(f->r, 1, 200, i), 0);
	assert_int_equal(drain(f->r), 20);
	shmq_ring_stats(f->r, &st);
	assert_true(st.head > 0);
	assert_true(st.head < st.consumed);
	assert_true(st.head + 8192 - st.tail >= 8192 / 4);
	assert_int_equal(st.oldest, st.head);
	fx_free(f);
}

/* I3: a gating reader that died between announcing reclaim and storing head
 * leaves reclaim > head; its successor finishes the release first. */
static void test_restarted_gating_reader_finishes_half_done_release(void **state)
{
	(void)state;
	struct fixture *f = fx_new(8192, 0);
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(write_pattern(f->r, 1, 200, i), 0);
	assert_int_equal(drain(f->r), 10);
	shmq_store_relaxed(&f->h->reclaim, 5 * 216);
	memset(f->data, 0, 300); /* the zeroing had started */
	shmq_ring_close(f->r);
	assert_int_equal(shmq_ring_attach(f->path, &f->r), 0);
	struct shmq_ring_msg m[16];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 16, &next), 0);
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_false(st.fenced);
	assert_int_equal(st.head, 5 * 216);
	assert_int_equal(st.oldest, 5 * 216);
	for (size_t i = 0; i < 5 * 216; i++)
		assert_int_equal(f->data[i], 0); /* I2 holds again */
	uint64_t pos = shmq_ring_oldest(f->r);
	assert_int_equal(shmq_ring_read(f->r, &pos, m, 16), 5);
	assert_true(check_pattern(m[0].data, 200, 5));
	fx_free(f);
}

static void expect_attach(const char *path, int expect)
{
	shmq_ring_t *r = (shmq_ring_t *)(uintptr_t)1;
	assert_int_equal(shmq_ring_attach(path, &r), expect);
	assert_null(r);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	r = (shmq_ring_t *)(uintptr_t)1;
	assert_int_equal(shmq_ring_attach_fd(fd, &r), expect);
	assert_null(r);
	close(fd);
}

static void poke(const char *path, off_t off, const void *v, size_t n)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, v, n, off), (ssize_t)n);
	close(fd);
}

/* Attach checks magic, version, fingerprint and geometry (conventions 7). */
static void test_attach_refuses_layout_mismatch(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	shmq_ring_t *r2;
	assert_int_equal(shmq_ring_attach(f->path, &r2), 0);
	assert_int_equal(shmq_ring_capacity(r2), 4096);
	shmq_ring_close(r2);
	struct shmq_ring_header good;
	memcpy(&good, f->raw, sizeof(good));
	const char *p = f->path;

	uint64_t v64 = 0x1122334455667788ull;
	poke(p, offsetof(struct shmq_ring_header, magic), &v64, 8);
	expect_attach(p, SHMQ_ELAYOUT);
	poke(p, 0, &good, 64);

	uint32_t v32 = SHMQ_RING_VERSION + 1;
	poke(p, offsetof(struct shmq_ring_header, version), &v32, 4);
	expect_attach(p, SHMQ_ELAYOUT);
	poke(p, 0, &good, 64);

	v64 = good.fingerprint ^ 1;
	poke(p, offsetof(struct shmq_ring_header, fingerprint), &v64, 8);
	expect_attach(p, SHMQ_ELAYOUT);
	poke(p, 0, &good, 64);

	v64 = 4096 + 512; /* not a power of two */
	poke(p, offsetof(struct shmq_ring_header, capacity), &v64, 8);
	expect_attach(p, SHMQ_ECORRUPT);
	v64 = 8192; /* a power of two, but not this file's size */
	poke(p, offsetof(struct shmq_ring_header, capacity), &v64, 8);
	expect_attach(p, SHMQ_ECORRUPT);
	poke(p, 0, &good, 64);

	v32 = 4096; /* max_msg above capacity/4 */
	poke(p, offsetof(struct shmq_ring_header, max_msg), &v32, 4);
	expect_attach(p, SHMQ_ECORRUPT);
	poke(p, 0, &good, 64);

	assert_int_equal(truncate(p, SHMQ_RING_DATA_OFFSET + 4096 + 4096), 0);
	expect_attach(p, SHMQ_ECORRUPT);
	assert_int_equal(truncate(p, 100), 0);
	expect_attach(p, SHMQ_ECORRUPT);
	fx_free(f);
}

/* G8: deterministic garbage records: ECORRUPT, ring fenced, producers refused. */
static void test_garbage_record_gives_ecorrupt_and_fences_ring(void **state)
{
	(void)state;
	struct {
		uint32_t len;
		uint16_t type;
		uint16_t count;
		uint32_t payload_len;
		uint32_t inner_len; /* first inner header (batch cases) */
		uint16_t inner_type;
	} cases[] = {
		{ 12, T_USER, 1, 0, 0, 0 },            /* len not 8-aligned */
		{ 8, T_USER, 1, 0, 0, 0 },             /* shorter than a header */
		{ 8192, T_USER, 1, 8176, 0, 0 },       /* crosses the end */
		{ 2048, T_USER, 1, 2032, 0, 0 },       /* above max record */
		{ 32, 3, 1, 16, 0, 0 },                /* unknown reserved type */
		{ 32, T_USER, 1, 17, 0, 0 },           /* payload_len inconsistent */
		{ 32, T_USER, 2, 16, 0, 0 },           /* single with count 2 */
		{ 32, SHMQ_RING_REC_BATCH, 1, 16, 16, T_USER },  /* inner overflows */
		{ 32, SHMQ_RING_REC_BATCH, 2, 16, 0, T_USER },   /* count vs inner */
		{ 32, SHMQ_RING_REC_BATCH, 1, 16, 8, 2 },        /* inner type */
		{ 32, SHMQ_RING_REC_BATCH, 0, 16, 8, T_USER },   /* zero count */
		{ 32, SHMQ_RING_REC_BATCH, 1, 8, 8, T_USER },    /* payload_len */
		{ 0x7ffffff8u & SHMQ_RING_LEN_MASK, T_USER, 1, 0, 0, 0 }, /* huge */
	};
	for (size_t i = 0; i < SHMQ_ARRAY_SIZE(cases); i++) {
		struct fixture *f = fx_new(4096, 0);
		assert_int_equal(write_pattern(f->r, 1, 8, 1), 0); /* a good record first */
		/* A hostile process reserves 64 bytes and writes a bad header. */
		shmq_fetch_add_relaxed(&f->h->tail, 64);
		struct shmq_ring_rec *rec = (struct shmq_ring_rec *)(void *)(f->data + 24);
		rec->type = cases[i].type;
		rec->count = cases[i].count;
		rec->producer_id = 66;
		rec->payload_len = cases[i].payload_len;
		struct shmq_ring_inner *in = (struct shmq_ring_inner *)(void *)(rec + 1);
		in->len = cases[i].inner_len;
		in->type = cases[i].inner_type;
		in->index = 0;
		shmq_store_release(&rec->len, cases[i].len);

		struct shmq_ring_msg m[8];
		uint64_t pos = 0;
		assert_int_equal(shmq_ring_read(f->r, &pos, m, 8), SHMQ_ECORRUPT);
		assert_int_equal(pos, 0);
		uint64_t next;
		int rc = shmq_ring_gate_read(f->r, m, 8, &next);
		if (rc != SHMQ_ECORRUPT)
			fail_msg("case %zu: gate_read returned %d", i, rc);
		struct shmq_ring_stats st;
		shmq_ring_stats(f->r, &st);
		assert_true(st.fenced);
		assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), SHMQ_EFENCED);
		assert_int_equal(write_pattern(f->r, 1, 8, 2), SHMQ_EFENCED);
		assert_int_equal(shmq_ring_wait_data(f->r, 1 << 20, UINT64_MAX), SHMQ_EFENCED);
		fx_free(f);
	}
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* G8: random words all over the data area and cursors: never a crash. */
static void test_random_garbage_never_crashes_readers(void **state)
{
	(void)state;
	uint64_t s = g_seed | 1;
	int corrupt = 0;
	for (int round = 0; round < 200; round++) {
		struct fixture *f = fx_new(4096, 1000);
		struct shmq_ring_claim c0;
		assert_int_equal(shmq_ring_reserve(f->r, 1, T_USER, 8, &c0), 0);
		assert_int_equal(shmq_ring_commit(f->r, &c0), 0);
		const uint8_t *base = (const uint8_t *)c0.data - sizeof(struct shmq_ring_rec);
		for (uint32_t i = 0; i < 5; i++)
			write_pattern(f->r, 1, 8 + (uint32_t)(xorshift(&s) % 300), i);
		int words = 1 + (int)(xorshift(&s) % 16);
		for (int k = 0; k < words; k++) {
			uint64_t off = (xorshift(&s) % 4096) & ~3ull;
			uint32_t v = (uint32_t)xorshift(&s);
			if (k & 1)
				v = (v % 64) * 8; /* plausible lengths hit more checks */
			memcpy(f->data + off, &v, 4);
		}
		if (round % 4 == 0)
			shmq_store_relaxed(&f->h->tail, xorshift(&s) % 8192);
		if (round % 7 == 0)
			shmq_store_relaxed(&f->h->consumed, xorshift(&s) % 512);
		struct shmq_ring_msg m[SHMQ_RING_BATCH_MAX];
		for (int it = 0; it < 3; it++) {
			uint64_t pos = shmq_ring_oldest(f->r);
			int rc = shmq_ring_read(f->r, &pos, m, SHMQ_RING_BATCH_MAX);
			assert_true(rc >= 0 || rc == SHMQ_ECORRUPT || rc == SHMQ_EOVERRUN || rc == -EINVAL);
			for (int i = 0; i < rc; i++) {
				/* every message handed out lies inside the data area */
				const uint8_t *d = m[i].data;
				assert_true(d >= base && d + m[i].len <= base + 4096);
			}
			uint64_t next;
			rc = shmq_ring_gate_read(f->r, m, SHMQ_RING_BATCH_MAX, &next);
			if (rc == SHMQ_ECORRUPT) {
				struct shmq_ring_stats st;
				shmq_ring_stats(f->r, &st);
				assert_true(st.fenced);
				corrupt++;
				break;
			}
			assert_true(rc >= 0 || rc == SHMQ_EFENCED);
			if (rc >= 0)
				shmq_ring_gate_consume(f->r, next);
			usleep(2); /* let the 1 us unblock timeout pass */
		}
		fx_free(f);
	}
	printf("random garbage: seed %llu, %d of 200 rounds fenced\n", (unsigned long long)g_seed,
	       corrupt);
	assert_true(corrupt > 0);
}

/* G6: reserved, never committed: padded after the timeout; its commit is refused. */
static void test_stalled_reserved_record_is_padded_out_after_timeout(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 20000000);
	struct shmq_ring_claim stalled;
	assert_int_equal(shmq_ring_reserve(f->r, 7, T_USER, 100, &stalled), 0);
	assert_int_equal(write_pattern(f->r, 8, 50, 1), 0);
	assert_int_equal(write_pattern(f->r, 8, 50, 2), 0);
	struct shmq_ring_msg m[8];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 0); /* head-of-line */
	uint64_t t0 = shmq_now_ns();
	/* gate_wait returns once the stuck record is due for unblocking. */
	assert_int_equal(shmq_ring_gate_wait(f->r, next, 5000000000ull), 0);
	assert_true(shmq_now_ns() - t0 >= 15000000);
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 2);
	assert_true(check_pattern(m[0].data, 50, 1));
	assert_true(check_pattern(m[1].data, 50, 2));
	assert_int_equal(m[0].pos, stalled.pos + 16 + 104);
	assert_int_equal(shmq_ring_commit(f->r, &stalled), SHMQ_ERECLAIMED);
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.unblocked, 1);
	assert_int_equal(st.reclaimed_commits, 1);
	assert_false(st.fenced);
	/* Non-gating readers skip the padding as well. */
	uint64_t pos = 0;
	assert_int_equal(shmq_ring_read(f->r, &pos, m, 8), 2);
	fx_free(f);
}

/* G6: a producer died between its tail CAS and its header CAS (len word still 0). */
static void test_zero_header_reservation_is_poisoned_and_padded(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 20000000);
	assert_int_equal(write_pattern(f->r, 1, 8, 0), 0);        /* [0, 24) */
	shmq_fetch_add_relaxed(&f->h->tail, 48);                  /* dead: [24, 72) */
	shmq_fetch_add_relaxed(&f->h->tail, 32);                  /* stalled: [72, 104) */
	assert_int_equal(write_pattern(f->r, 2, 8, 1), 0);        /* [104, 128) */
	struct shmq_ring_msg m[8];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 1);
	assert_int_equal(shmq_ring_gate_consume(f->r, next), 0);
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 0);
	usleep(30000);
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 1);
	assert_int_equal(m[0].producer_id, 2);
	assert_true(check_pattern(m[0].data, 8, 1));
	assert_int_equal(m[0].pos, 104);
	/* One padding record over both dead reservations; their words poisoned,
	 * so the stalled producer's late header CAS would fail. */
	_Atomic uint32_t *w24 = (_Atomic uint32_t *)(void *)(f->data + 24);
	_Atomic uint32_t *w72 = (_Atomic uint32_t *)(void *)(f->data + 72);
	assert_int_equal(shmq_load_acquire(w24), SHMQ_RING_LEN_PAD | 80);
	assert_int_equal(shmq_load_acquire(w72), SHMQ_RING_LEN_POISON);
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.unblocked, 1);
	assert_false(st.fenced);
	/* After release, the poisoned words are zero again (I2) and reusable. */
	assert_int_equal(shmq_ring_gate_consume(f->r, next), 0);
	for (int i = 0; i < 200; i++) {
		int rc = write_pattern(f->r, 3, 40, (uint32_t)i);
		if (rc == SHMQ_BACK_PRESSURED) {
			drain(f->r);
			rc = write_pattern(f->r, 3, 40, (uint32_t)i);
		}
		assert_int_equal(rc, 0);
	}
	fx_free(f);
}

/* G6: a dead reservation spanning the wrap (gap + record) costs one timeout. */
static void test_dead_reservation_across_wrap_is_padded_on_both_sides(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 20000000);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(write_pattern(f->r, 1, 1000, i), 0); /* [0, 4064) */
	assert_int_equal(drain(f->r), 4);
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	/* A producer asks for space (release everything consumed), then dies
	 * after the tail CAS of a 32-byte gap + 512-byte record at the start. */
	shmq_store_relaxed(&f->h->space_wanted, 1);
	assert_int_equal(drain(f->r), 0); /* answers the space request */
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.head, 4064);
	shmq_fetch_add_relaxed(&f->h->tail, 32 + 512);
	assert_int_equal(write_pattern(f->r, 2, 8, 5), 0);
	struct shmq_ring_msg m[8];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 0);
	usleep(30000);
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 1);
	assert_int_equal(m[0].pos, 4096 + 512);
	assert_true(check_pattern(m[0].data, 8, 5));
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.unblocked, 1); /* one dead reservation, padded in two pieces */
	fx_free(f);
}

/* G6: a wrap reservation whose gap was declared dead but whose producer then
 * claimed its header is alive: it gets a full timeout of its own. */
static void test_live_producer_after_dead_wrap_gap_gets_its_own_timeout(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 20000000);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(write_pattern(f->r, 1, 1000, i), 0); /* [0, 4064) */
	shmq_store_relaxed(&f->h->space_wanted, 1);
	assert_int_equal(drain(f->r), 4);
	shmq_fetch_add_relaxed(&f->h->tail, 32 + 512);      /* gap [4064, 4096) + record */
	assert_int_equal(write_pattern(f->r, 2, 8, 5), 0);  /* [4608, 4632) */
	struct shmq_ring_msg m[8];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 0);
	/* The stalled producer claims its header after the gap went stale. */
	usleep(30000);
	_Atomic uint32_t *hdr = (_Atomic uint32_t *)(void *)f->data;
	shmq_store_release(hdr, SHMQ_RING_LEN_RESERVED | 512);
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 0);
	assert_int_equal(next, 4096); /* gap padded, live record waited for */
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.unblocked, 1);
	assert_int_equal(shmq_load_acquire(hdr), SHMQ_RING_LEN_RESERVED | 512);
	usleep(30000);
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 1);
	assert_int_equal(m[0].pos, 4608);
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.unblocked, 2);
	assert_int_equal(shmq_load_acquire(hdr), SHMQ_RING_LEN_PAD | 512);
	fx_free(f);
}

/* A committed record is never padded out (G6), even when it was slow. */
static void test_record_committed_before_unblock_is_delivered(void **state)
{
	(void)state;
	/* 200 ms timeout: the gate looks twice well inside it (a loaded box may
	 * oversleep by a few ms), then the commit lands and the timeout passes. */
	struct fixture *f = fx_new(4096, 200000000);
	struct shmq_ring_claim c;
	assert_int_equal(shmq_ring_reserve(f->r, 7, T_USER, 16, &c), 0);
	struct shmq_ring_msg m[8];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 0);
	usleep(10000);
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 0);
	fill_pattern(c.data, 16, 3);
	assert_int_equal(shmq_ring_commit(f->r, &c), 0);
	usleep(220000);
	assert_int_equal(shmq_ring_gate_read(f->r, m, 8, &next), 1);
	assert_true(check_pattern(m[0].data, 16, 3));
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.unblocked, 0);
	fx_free(f);
}

struct waiter_arg {
	shmq_ring_t *r;
	uint64_t pos;
	int kind; /* 0 data, 1 space, 2 mark, 3 gating reader, 4 idle gating reader */
	int rc;
	uint64_t ns;
};

static void *waiter_thread(void *p)
{
	struct waiter_arg *a = p;
	uint64_t t0 = shmq_now_ns();
	if (a->kind == 0)
		a->rc = shmq_ring_wait_data(a->r, a->pos, 10000000000ull);
	else if (a->kind == 1)
		a->rc = shmq_ring_wait_space(a->r, (uint32_t)a->pos, 10000000000ull);
	else if (a->kind == 3)
		a->rc = shmq_ring_gate_wait(a->r, a->pos, 10000000000ull);
	else if (a->kind == 4)
		a->rc = shmq_ring_gate_sleep(a->r, a->pos, 10000000000ull);
	else
		a->rc = shmq_ring_wait_mark(a->r, SHMQ_RING_MARK_FLUSHED, a->pos, 10000000000ull);
	a->ns = shmq_now_ns() - t0;
	return NULL;
}

/* Wait until a sleeper has registered on @p waiters (it is past its spin). */
static void await_sleeper(_Atomic uint32_t *waiters)
{
	for (int i = 0; i < 5000 && shmq_load_acquire(waiters) == 0; i++)
		usleep(1000);
	assert_int_equal(shmq_load_acquire(waiters), 1);
	usleep(5000); /* let it reach futex_wait; a wake before that is not lost anyway */
}

static void test_data_sleeper_is_woken_by_commit(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	struct waiter_arg a = { .r = f->r, .pos = 0, .kind = 0, .rc = 1 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, waiter_thread, &a), 0);
	await_sleeper(&f->h->data_waiters);
	assert_int_equal(write_pattern(f->r, 1, 8, 0), 0);
	pthread_join(th, NULL);
	assert_int_equal(a.rc, 0);
	assert_true(a.ns < 9000000000ull);
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.futex_wakes, 1);
	assert_int_equal(shmq_load_acquire(&f->h->data_waiters), 0);
	fx_free(f);
}

/* Across processes: the futex word is shared (non-private futex ops). */
static void test_data_sleeper_in_another_process_is_woken_by_commit(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shmq_ring_t *r;
		if (shmq_ring_attach(f->path, &r) != 0)
			_exit(2);
		int rc = shmq_ring_wait_data(r, 0, 10000000000ull);
		_exit(rc == 0 ? 0 : 3);
	}
	await_sleeper(&f->h->data_waiters);
	assert_int_equal(write_pattern(f->r, 1, 8, 0), 0);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fx_free(f);
}

/* The gating reader's wait polls sparsely, then sleeps like the others. */
/* A gating reader (waiter kind 3: gate_wait, 4: gate_sleep) asleep on the
 * futex at position 0 is woken by one commit, with one wake syscall. */
static void commit_wakes_gate_sleeper(struct fixture *f, int kind)
{
	struct waiter_arg a = { .r = f->r, .pos = 0, .kind = kind, .rc = 1 };
	pthread_t th;
	struct shmq_ring_stats st;

	assert_int_equal(pthread_create(&th, NULL, waiter_thread, &a), 0);
	await_sleeper(&f->h->data_waiters);
	assert_int_equal(write_pattern(f->r, 1, 8, 0), 0);
	pthread_join(th, NULL);
	assert_int_equal(a.rc, 0);
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.futex_wakes, 1);
}

static void test_gating_sleeper_is_woken_by_commit_after_its_sparse_spin(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	/* Timeout 0 only looks, without the initial gap: nothing yet. */
	assert_int_equal(shmq_ring_gate_wait(f->r, 0, 0), -ETIMEDOUT);
	commit_wakes_gate_sleeper(f, 3);
	assert_int_equal(shmq_load_acquire(&f->h->data_waiters), 0);
	assert_int_equal(shmq_ring_gate_wait(f->r, 0, 0), 0);
	struct shmq_ring_msg m[4];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 4, &next), 1);
	fx_free(f);
}

/* The idle gating reader's sleep: on the futex at once, woken by a commit. */
static void test_idle_gating_sleeper_is_woken_by_commit(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	assert_int_equal(shmq_ring_gate_sleep(f->r, 0, 0), -ETIMEDOUT);
	/* a short timeout passes in about its time (no spin before it) */
	uint64_t t0 = shmq_now_ns();
	assert_int_equal(shmq_ring_gate_sleep(f->r, 0, 2000000ull), -ETIMEDOUT);
	assert_true(shmq_now_ns() - t0 >= 2000000ull);
	commit_wakes_gate_sleeper(f, 4);
	assert_int_equal(shmq_ring_gate_sleep(f->r, 0, 0), 0); /* committed: at once */
	fx_free(f);
}

static void test_space_sleeper_is_woken_by_consume(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	int written = 0;
	while (write_pattern(f->r, 1, 100, (uint32_t)written) == 0)
		written++;
	struct waiter_arg a = { .r = f->r, .pos = 120, .kind = 1, .rc = 1 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, waiter_thread, &a), 0);
	await_sleeper(&f->h->space_waiters);
	/* The gating reader is told that a producer waits. */
	assert_int_equal(shmq_ring_gate_wait(f->r, 0, 1000000000ull), 0);
	struct shmq_ring_msg m[64];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 64, &next), written);
	assert_int_equal(shmq_ring_gate_consume(f->r, next), 0);
	pthread_join(th, NULL);
	assert_int_equal(a.rc, 0);
	assert_int_equal(write_pattern(f->r, 1, 100, 0), 0);
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_true(st.futex_wakes >= 1);
	fx_free(f);
}

/* A waker with no sleepers makes no futex syscall. */
static void test_wakers_without_sleepers_make_no_futex_syscall(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	for (uint32_t i = 0; i < 2000; i++) {
		int rc = write_pattern(f->r, 1, 64, i);
		if (rc == SHMQ_BACK_PRESSURED) {
			drain(f->r);
			rc = write_pattern(f->r, 1, 64, i);
		}
		assert_int_equal(rc, 0);
		shmq_ring_publish_mark(f->r, SHMQ_RING_MARK_PERSISTED, i);
	}
	drain(f->r);
	struct shmq_ring_stats st;
	shmq_ring_stats(f->r, &st);
	assert_int_equal(st.futex_wakes, 0);
	assert_true(st.backpressured > 0); /* releases happened too */
	fx_free(f);
}

static void test_anchor_and_marks_round_trip(void **state)
{
	(void)state;
	struct fixture *f = fx_new(4096, 0);
	struct shmq_ring_anchor a;
	assert_int_equal(shmq_ring_read_anchor(f->r, &a), SHMQ_EMPTY);
	shmq_ring_publish_anchor(f->r, &(struct shmq_ring_anchor){ .pos = 128, .queue_offset = 7 });
	assert_int_equal(shmq_ring_read_anchor(f->r, &a), 0);
	assert_int_equal(a.pos, 128);
	assert_int_equal(a.queue_offset, 7);
	shmq_ring_publish_anchor(f->r, &(struct shmq_ring_anchor){ .pos = 4096, .queue_offset = 99 });
	shmq_ring_t *r2;
	assert_int_equal(shmq_ring_attach(f->path, &r2), 0);
	assert_int_equal(shmq_ring_read_anchor(r2, &a), 0);
	assert_int_equal(a.pos, 4096);
	assert_int_equal(a.queue_offset, 99);

	assert_int_equal(shmq_ring_mark(r2, SHMQ_RING_MARK_PERSISTED), 0);
	shmq_ring_publish_mark(f->r, SHMQ_RING_MARK_PERSISTED, 100);
	shmq_ring_publish_mark(f->r, SHMQ_RING_MARK_PERSISTED, 50); /* never lowers */
	assert_int_equal(shmq_ring_mark(r2, SHMQ_RING_MARK_PERSISTED), 100);
	assert_int_equal(shmq_ring_mark(r2, SHMQ_RING_MARK_FLUSHED), 0);
	assert_int_equal(shmq_ring_wait_mark(r2, SHMQ_RING_MARK_PERSISTED, 100, 0), 0);
	assert_int_equal(shmq_ring_wait_mark(r2, SHMQ_RING_MARK_PERSISTED, 101, 1000000), -ETIMEDOUT);

	struct waiter_arg w = { .r = r2, .pos = 300, .kind = 2, .rc = 1 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, waiter_thread, &w), 0);
	await_sleeper(&f->h->mark_waiters);
	shmq_ring_publish_mark(f->r, SHMQ_RING_MARK_FLUSHED, 200);
	shmq_ring_publish_mark(f->r, SHMQ_RING_MARK_FLUSHED, 300);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, 0);
	assert_int_equal(shmq_ring_mark(r2, SHMQ_RING_MARK_FLUSHED), 300);
	shmq_ring_close(r2);
	fx_free(f);
}

static void test_attach_by_fd_works_across_fork(void **state)
{
	(void)state;
	struct fixture *f = fx_new(8192, 0);
	int fd = shmq_ring_fd(f->r);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shmq_ring_t *r;
		if (shmq_ring_attach_fd(fd, &r) != 0)
			_exit(2);
		if (shmq_ring_fd(r) == fd)
			_exit(3); /* the fd must have been duplicated */
		for (uint32_t i = 0; i < 10; i++)
			if (write_pattern(r, 42, 32, i) != 0)
				_exit(4);
		shmq_ring_close(r);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	struct shmq_ring_msg m[16];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f->r, m, 16, &next), 10);
	for (uint32_t i = 0; i < 10; i++) {
		assert_int_equal(m[i].producer_id, 42);
		assert_true(check_pattern(m[i].data, 32, i));
	}
	fx_free(f);
}

int main(void)
{
	const char *s = getenv("SHMQ_SEED");
	g_seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	printf("test_ring: seed %llu (SHMQ_SEED overrides)\n", (unsigned long long)g_seed);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_ring_reads_nothing_and_waits_time_out),
		cmocka_unit_test(test_reserve_rejects_bad_arguments),
		cmocka_unit_test(test_full_ring_refuses_reservation_with_backpressure_until_consumed),
		cmocka_unit_test(test_wrap_inserts_padding_record_and_keeps_ring_order),
		cmocka_unit_test(test_out_of_order_commit_is_hidden_until_first_commits),
		cmocka_unit_test(test_per_producer_fifo_with_concurrent_producers),
		cmocka_unit_test(test_batch_is_published_all_at_once),
		cmocka_unit_test(test_lapped_non_gating_reader_gets_overrun),
		cmocka_unit_test(test_consumed_records_stay_readable_until_space_is_needed),
		cmocka_unit_test(test_restarted_gating_reader_finishes_half_done_release),
		cmocka_unit_test(test_attach_refuses_layout_mismatch),
		cmocka_unit_test(test_garbage_record_gives_ecorrupt_and_fences_ring),
		cmocka_unit_test(test_random_garbage_never_crashes_readers),
		cmocka_unit_test(test_stalled_reserved_record_is_padded_out_after_timeout),
		cmocka_unit_test(test_zero_header_reservation_is_poisoned_and_padded),
		cmocka_unit_test(test_dead_reservation_across_wrap_is_padded_on_both_sides),
		cmocka_unit_test(test_live_producer_after_dead_wrap_gap_gets_its_own_timeout),
		cmocka_unit_test(test_record_committed_before_unblock_is_delivered),
		cmocka_unit_test(test_data_sleeper_is_woken_by_commit),
		cmocka_unit_test(test_data_sleeper_in_another_process_is_woken_by_commit),
		cmocka_unit_test(test_gating_sleeper_is_woken_by_commit_after_its_sparse_spin),
		cmocka_unit_test(test_idle_gating_sleeper_is_woken_by_commit),
		cmocka_unit_test(test_space_sleeper_is_woken_by_consume),
		cmocka_unit_test(test_wakers_without_sleepers_make_no_futex_syscall),
		cmocka_unit_test(test_anchor_and_marks_round_trip),
		cmocka_unit_test(test_attach_by_fd_works_across_fork),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
