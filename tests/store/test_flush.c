/* SPDX-License-Identifier: Apache-2.0 */
/* Flushing: group commit (store.h S3, flush.h F1-F3) and poisoning (S4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "store_test_util.h"

struct fx {
	char *dir;
	shmq_store_t *s;
};

static struct fx *fx_open(int mode, uint32_t interval_ms, uint32_t dirty_pages)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = make_tmpdir();
	TEST_OPTS(o, f->dir, .flush_mode = mode, .flush_interval_ms = interval_ms,
		  .flush_dirty_pages = dirty_pages);
	assert_int_equal(shmq_store_open(&o, &f->s, NULL), 0);
	return f;
}

static void fx_close(struct fx *f)
{
	if (f->s)
		shmq_store_close(f->s);
	shmq_test_rmtree(f->dir);
	free(f->dir);
	free(f);
}

static uint64_t append_one(shmq_store_t *s, const char *topic, uint32_t len)
{
	static uint8_t body[4096];
	struct shmq_store_msg m = { .topic = topic, .body = body, .body_len = len };
	struct shmq_store_result r;
	assert_int_equal(shmq_store_append(s, &m, 1, &r), 1);
	return r.commitlog_offset + r.size;
}

struct waiter {
	shmq_store_t *s;
	uint64_t end;
	int rc;
	uint64_t flushed_after;
	pthread_barrier_t *bar;
};

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	pthread_barrier_wait(w->bar);
	w->rc = shmq_store_wait_durable(w->s, w->end, 5000000000ull);
	w->flushed_after = shmq_store_flushed_offset(w->s);
	return NULL;
}

static void test_group_commit_one_fdatasync_covers_every_waiter(void **state)
{
	(void)state;
	struct fx *f = fx_open(SHMQ_FLUSH_SYNC, 0, 0);
	enum { N = 8 };
	struct waiter w[N];
	pthread_t th[N];
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, N);
	for (int i = 0; i < N; i++)
		w[i] = (struct waiter){ .s = f->s, .end = append_one(f->s, "gc", 200), .bar = &bar };
	struct shmq_store_stats before, after;
	shmq_store_stats(f->s, &before);
	assert_true(shmq_store_flushed_offset(f->s) < w[N - 1].end); /* sync mode: nothing yet */
	for (int i = 0; i < N; i++)
		pthread_create(&th[i], NULL, wait_thread, &w[i]);
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].rc, 0);
		assert_true(w[i].flushed_after >= w[i].end); /* S3 */
	}
	shmq_store_stats(f->s, &after);
	/* every record was appended before the first round began: that one
	 * fdatasync covers them all; a waiter racing the first round's end may
	 * at most cause one more round (which then has nothing new: 0 syncs) */
	uint64_t syncs = after.fdatasync_calls - before.fdatasync_calls;
	printf("fdatasync calls for %d waiters: %" PRIu64 "\n", N, syncs);
	assert_true(syncs >= 1 && syncs <= 2);
	pthread_barrier_destroy(&bar);
	fx_close(f);
}

struct stream {
	shmq_store_t *s;
	_Atomic uint64_t end;
	_Atomic int done;
	_Atomic uint64_t waits;
	_Atomic int failed;
};

static void *stream_waiter(void *arg)
{
	struct stream *st = arg;
	/* seq_cst below: test bookkeeping between the appender and waiters, no hot path */
	while (!atomic_load_explicit(&st->done, memory_order_seq_cst)) {
		uint64_t e = atomic_load_explicit(&st->end, memory_order_seq_cst);
		if (!e) {
			sched_yield();
			continue;
		}
		if (shmq_store_wait_durable(st->s, e, 5000000000ull) != 0 ||
		    shmq_store_flushed_offset(st->s) < e)
			atomic_store_explicit(&st->failed, 1, memory_order_seq_cst);
		atomic_fetch_add_explicit(&st->waits, 1, memory_order_seq_cst);
	}
	return NULL;
}

static void test_group_commit_under_load_batches_concurrent_waiters(void **state)
{
	(void)state;
	struct fx *f = fx_open(SHMQ_FLUSH_SYNC, 0, 0);
	struct stream st = { .s = f->s };
	enum { T = 4 };
	pthread_t th[T];
	for (int i = 0; i < T; i++)
		pthread_create(&th[i], NULL, stream_waiter, &st);
	unsigned n = 2000u * (unsigned)stress_scale();
	for (unsigned i = 0; i < n; i++) {
		/* seq_cst: read by stream_waiter() */
		atomic_store_explicit(&st.end, append_one(f->s, "load", 100), memory_order_seq_cst);
		if (i % 64 == 0)
			sched_yield();
	}
	atomic_store_explicit(&st.done, 1, memory_order_seq_cst); /* seq_cst: test bookkeeping */
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	assert_false(atomic_load_explicit(&st.failed, memory_order_seq_cst)); /* after join */
	struct shmq_store_stats s;
	shmq_store_stats(f->s, &s);
	printf("%u records, %" PRIu64 " waits satisfied by %" PRIu64 " fdatasyncs in %" PRIu64
	       " rounds\n", n, (uint64_t)atomic_load_explicit(&st.waits, memory_order_seq_cst), s.fdatasync_calls, s.flushes);
	/* a round never runs without a waiter asking for it, and never twice for the same bytes */
	assert_true(s.flushes <= atomic_load_explicit(&st.waits, memory_order_seq_cst) + 1);
	fx_close(f);
}

static void wait_until_flushed(shmq_store_t *s, uint64_t end)
{
	for (int i = 0; i < 5000 && shmq_store_flushed_offset(s) < end; i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

static void test_async_flusher_flushes_on_its_interval_without_waiters(void **state)
{
	(void)state;
	struct fx *f = fx_open(SHMQ_FLUSH_ASYNC, 10, 100000);
	uint64_t end = append_one(f->s, "async", 100);
	wait_until_flushed(f->s, end);
	assert_true(shmq_store_flushed_offset(f->s) >= end);
	fx_close(f);
}

static void test_async_flusher_flushes_when_enough_pages_are_dirty(void **state)
{
	(void)state;
	/* the interval is far away: only the dirty-page threshold can trigger */
	struct fx *f = fx_open(SHMQ_FLUSH_ASYNC, 600000, 2);
	uint64_t end = 0;
	for (int i = 0; i < 4; i++)
		end = append_one(f->s, "dirty", 4000);
	wait_until_flushed(f->s, 8192);
	assert_true(shmq_store_flushed_offset(f->s) >= 8192);
	assert_true(end > 8192);
	fx_close(f);
}

static void test_stats_count_time_spent_inside_sync_rounds(void **state)
{
	(void)state;
	struct fx *f = fx_open(SHMQ_FLUSH_SYNC, 0, 0);
	struct shmq_store_stats a, b;
	shmq_store_stats(f->s, &a);
	uint64_t end = append_one(f->s, "timed", 1000);
	assert_int_equal(shmq_store_wait_durable(f->s, end, 5000000000ull), 0);
	shmq_store_stats(f->s, &b);
	/* the round that made the record durable ran an fdatasync, and its
	 * duration (never 0 ns: a syscall that reaches the disk) was added */
	assert_true(b.flushes > a.flushes);
	assert_true(b.fdatasync_calls > a.fdatasync_calls);
	assert_true(b.sync_ns > a.sync_ns);
	fx_close(f);
}

static void test_flush_error_poisons_store_and_nothing_is_reported_durable(void **state)
{
	(void)state;
	struct fx *f = fx_open(SHMQ_FLUSH_SYNC, 0, 0);
	uint64_t e1 = append_one(f->s, "p", 100);
	assert_int_equal(shmq_store_wait_durable(f->s, e1, 5000000000ull), 0);
	uint64_t e2 = append_one(f->s, "p", 100);
	shmq_store_test_fail_next_flush(f->s, -EIO);
	assert_int_equal(shmq_store_wait_durable(f->s, e2, 5000000000ull), SHMQ_EPOISONED);
	assert_true(shmq_store_flushed_offset(f->s) < e2);   /* F2 */
	assert_int_equal(shmq_store_flushed_offset(f->s), e1);
	struct shmq_store_stats st;
	shmq_store_stats(f->s, &st);
	assert_int_equal(st.poison_errno, -EIO);            /* original errno kept */
	/* every later append and waiter is refused */
	struct shmq_store_msg m = { .topic = "p", .body = "x", .body_len = 1 };
	struct shmq_store_result r;
	assert_int_equal(shmq_store_append(f->s, &m, 1, &r), SHMQ_EPOISONED);
	assert_int_equal(shmq_store_wait_durable(f->s, e1, 0), SHMQ_EPOISONED);
	assert_int_equal(shmq_store_flush(f->s), SHMQ_EPOISONED);
	/* close reports it and keeps the abort file: the next open recovers */
	assert_int_equal(shmq_store_close(f->s), SHMQ_EPOISONED);
	f->s = NULL;
	TEST_OPTS(o, f->dir);
	struct shmq_store_recovery_report rep;
	assert_int_equal(shmq_store_open(&o, &f->s, &rep), 0);
	assert_true(rep.abnormal);
	struct shmq_store_view v;
	assert_int_equal(shmq_store_read(f->s, 0, &v), 0); /* the durable record survived */
	shmq_store_view_release(f->s, &v);
	assert_int_equal(shmq_store_append(f->s, &m, 1, &r), 1);
	fx_close(f);
}

static void test_wait_durable_refuses_offsets_past_the_written_end(void **state)
{
	(void)state;
	struct fx *f = fx_open(SHMQ_FLUSH_SYNC, 0, 0);
	uint64_t e = append_one(f->s, "w", 10);
	assert_int_equal(shmq_store_wait_durable(f->s, e + 8, 1000000), -EINVAL);
	assert_int_equal(shmq_store_wait_durable(f->s, e, 0), -ETIMEDOUT); /* only checks */
	assert_int_equal(shmq_store_flush(f->s), 0);
	assert_int_equal(shmq_store_wait_durable(f->s, e, 0), 0);
	fx_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_commit_one_fdatasync_covers_every_waiter),
		cmocka_unit_test(test_group_commit_under_load_batches_concurrent_waiters),
		cmocka_unit_test(test_async_flusher_flushes_on_its_interval_without_waiters),
		cmocka_unit_test(test_async_flusher_flushes_when_enough_pages_are_dirty),
		cmocka_unit_test(test_stats_count_time_spent_inside_sync_rounds),
		cmocka_unit_test(test_flush_error_poisons_store_and_nothing_is_reported_durable),
		cmocka_unit_test(test_wait_durable_refuses_offsets_past_the_written_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
