/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sync-mode page handling of the commitlog (commitlog.h L5/L6) and the
 * futex-based waiter wake-up of group commit (flush.h F5).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <time.h>

#include "broker/store/commitlog.h"
#include "common/clock.h"
#include "store_test_util.h"

#define SEG (4u * 1024u * 1024u) /* larger than the pre-write window */

static void open_store(const char *dir, int mode, uint64_t seg, shmq_store_t **s)
{
	TEST_OPTS(o, dir, .flush_mode = mode);
	o.segment_size = seg;
	assert_int_equal(shmq_store_open(&o, s, NULL), 0);
}

static uint64_t append_wait(shmq_store_t *s, uint32_t len, uint64_t i)
{
	static uint8_t body[16384];
	fill_body(body, len, i);
	struct shmq_store_msg m = { .topic = "sp", .body = body, .body_len = len };
	struct shmq_store_result r;
	assert_int_equal(shmq_store_append(s, &m, 1, &r), 1);
	uint64_t end = r.commitlog_offset + r.size;
	assert_int_equal(shmq_store_wait_durable(s, end, 5000000000ull), 0);
	return end;
}

/*
 * Unwritten extents (allocated, never written) in [from, to) of @p path:
 * 1 some, 0 none, -1 if the filesystem cannot tell (no FIEMAP, or it does
 * not report fallocated space as unwritten, as tmpfs).
 */
static int has_unwritten(const char *path, uint64_t from, uint64_t to)
{
	enum { N = 64 };
	char buf[sizeof(struct fiemap) + N * sizeof(struct fiemap_extent)];
	struct fiemap *fm = (struct fiemap *)buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int found = 0;
	uint64_t at = from;
	while (at < to && found == 0) {
		memset(buf, 0, sizeof(buf));
		fm->fm_start = at;
		fm->fm_length = to - at;
		fm->fm_extent_count = N;
		if (ioctl(fd, FS_IOC_FIEMAP, fm) != 0) {
			found = -1;
			break;
		}
		if (fm->fm_mapped_extents == 0)
			break;
		for (uint32_t i = 0; i < fm->fm_mapped_extents; i++) {
			struct fiemap_extent *e = &fm->fm_extents[i];
			if (e->fe_logical < to && e->fe_logical + e->fe_length > from &&
			    (e->fe_flags & FIEMAP_EXTENT_UNWRITTEN))
				found = 1;
			at = e->fe_logical + e->fe_length;
		}
		if (fm->fm_extents[fm->fm_mapped_extents - 1].fe_flags & FIEMAP_EXTENT_LAST)
			break;
	}
	close(fd);
	return found;
}

/* Wait (bounded) until [from, to) of @p path has no unwritten extent. */
static int wait_all_written(const char *path, uint64_t from, uint64_t to)
{
	int r = 1;
	for (int i = 0; i < 2000 && (r = has_unwritten(path, from, to)) == 1; i++) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return r;
}

/* Every byte of [from, to) of @p path is zero. */
static bool all_zero(const char *path, uint64_t from, uint64_t to)
{
	static uint8_t buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool ok = fd >= 0;
	for (uint64_t at = from; ok && at < to;) {
		size_t n = to - at < sizeof(buf) ? (size_t)(to - at) : sizeof(buf);
		ssize_t got = pread(fd, buf, n, (off_t)at);
		if (got <= 0) {
			ok = false;
			break;
		}
		for (ssize_t k = 0; k < got; k++)
			ok = ok && buf[k] == 0;
		at += (uint64_t)got;
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

/* Control for the next test: an async store leaves the blocks ahead of its
 * end unwritten (fallocate), so the detection below can tell them apart. */
static void test_async_mode_leaves_blocks_ahead_of_the_log_end_unwritten(void **state)
{
	(void)state;
	char *dir = make_tmpdir(), path[PATH_MAX];
	shmq_store_t *s;
	open_store(dir, SHMQ_FLUSH_ASYNC, SEG, &s);
	uint64_t end = append_wait(s, 1000, 0);
	seg_path(path, sizeof(path), dir, 0);
	int r = has_unwritten(path, SHMQ_ALIGN_UP(end, 4096u) + 4096u,
			      SHMQ_ALIGN_UP(end, 4096u) + SHMQ_CL_PREWRITE_AHEAD);
	shmq_store_close(s);
	shmq_test_rmtree(dir);
	free(dir);
	if (r < 0)
		skip(); /* the filesystem does not report unwritten extents */
	assert_int_equal(r, 1);
}

/* L6: in sync mode, the flusher writes the blocks just past the end, so a
 * group commit's fdatasync never converts extents; nothing past the end
 * changes (zeros, as recovery expects). */
static void test_sync_mode_prewrites_blocks_ahead_of_the_log_end(void **state)
{
	(void)state;
	char *dir = make_tmpdir(), path[PATH_MAX];
	shmq_store_t *s;
	open_store(dir, SHMQ_FLUSH_SYNC, SEG, &s);
	uint64_t end = append_wait(s, 1000, 0);
	seg_path(path, sizeof(path), dir, 0);
	uint64_t from = end - end % 4096u, to = from + SHMQ_CL_PREWRITE_AHEAD;
	int r = wait_all_written(path, from, to);
	if (r < 0) {
		shmq_store_close(s);
		shmq_test_rmtree(dir);
		free(dir);
		skip();
	}
	assert_int_equal(r, 0);
	assert_true(all_zero(path, end, to));
	/* the record itself reads back intact */
	struct shmq_store_view v;
	uint8_t want[1000];
	fill_body(want, sizeof(want), 0);
	assert_int_equal(shmq_store_read(s, 0, &v), 0);
	assert_int_equal(v.body_len, sizeof(want));
	assert_memory_equal(v.body, want, sizeof(want));
	shmq_store_view_release(s, &v);
	assert_int_equal(shmq_store_close(s), 0);
	shmq_test_rmtree(dir);
	free(dir);
}

/* L5/L6 when the active segment is one found on disk at open (the store
 * restarted mid-segment): the blocks ahead of the recovered end get
 * pre-written too, and the old records stay intact. */
static void test_sync_mode_prewrites_ahead_in_a_reopened_segment(void **state)
{
	(void)state;
	char *dir = make_tmpdir(), path[PATH_MAX];
	shmq_store_t *s;
	open_store(dir, SHMQ_FLUSH_ASYNC, SEG, &s);
	uint64_t end = 0;
	for (uint64_t i = 0; i < 8; i++)
		end = append_wait(s, 3000, i);
	assert_int_equal(shmq_store_close(s), 0);
	seg_path(path, sizeof(path), dir, 0);
	uint64_t from = end - end % 4096u + 8192u, to = end - end % 4096u + SHMQ_CL_PREWRITE_AHEAD;
	int before = has_unwritten(path, from, to);
	open_store(dir, SHMQ_FLUSH_SYNC, SEG, &s);
	uint64_t end2 = append_wait(s, 500, 8);
	int r = wait_all_written(path, end2 - end2 % 4096u, to);
	if (before < 0 || r < 0) {
		shmq_store_close(s);
		shmq_test_rmtree(dir);
		free(dir);
		skip();
	}
	assert_int_equal(before, 1); /* the async writer left them unwritten */
	assert_int_equal(r, 0);
	assert_true(all_zero(path, end2, to));
	uint64_t off = 0;
	for (uint64_t i = 0; i < 9; i++) {
		struct shmq_store_view v;
		uint8_t want[3000];
		uint32_t len = i < 8 ? 3000u : 500u;
		fill_body(want, len, i);
		assert_int_equal(shmq_store_read(s, off, &v), 0);
		assert_int_equal(v.body_len, len);
		assert_memory_equal(v.body, want, len);
		off += v.size;
		shmq_store_view_release(s, &v);
	}
	assert_int_equal(shmq_store_close(s), 0);
	shmq_test_rmtree(dir);
	free(dir);
}

/* L6 runs beside the appender and across segment rolls (the window spans
 * several small segments): it never changes a byte. Every record reads back
 * intact, before and after a clean reopen. */
static void test_prewrite_never_changes_a_byte_across_segment_rolls(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	shmq_store_t *s;
	const uint64_t seg = 256u * 1024u;
	unsigned seed = (unsigned)shmq_now_ns();
	printf("seed %u\n", seed);
	srand(seed);
	open_store(dir, SHMQ_FLUSH_SYNC, seg, &s);
	unsigned n = 600u * (unsigned)stress_scale();
	uint32_t *lens = calloc(n, sizeof(*lens));
	assert_non_null(lens);
	uint64_t end = 0;
	for (unsigned i = 0; i < n; i++) {
		lens[i] = 1u + (uint32_t)rand() % 12000u;
		end = append_wait(s, lens[i], i);
	}
	assert_true(end > 4 * seg); /* several rolls happened */
	for (int pass = 0; pass < 2; pass++) {
		uint64_t off = 0;
		static uint8_t want[16384];
		for (unsigned i = 0; i < n; i++) {
			struct shmq_store_view v;
			fill_body(want, lens[i], i);
			int rc = shmq_store_read(s, off, &v);
			if (rc == SHMQ_ENOTFOUND && off % seg != 0) { /* a filler: skip it */
				int64_t next = shmq_store_next_offset(s, off);
				assert_int_equal(next % (int64_t)seg, 0);
				off = (uint64_t)next;
				rc = shmq_store_read(s, off, &v);
			}
			assert_int_equal(rc, 0);
			assert_int_equal(v.body_len, lens[i]);
			assert_memory_equal(v.body, want, lens[i]);
			shmq_store_view_release(s, &v);
			int64_t next = shmq_store_next_offset(s, off);
			assert_true(next > (int64_t)off);
			off = (uint64_t)next;
		}
		assert_int_equal(off, end);
		assert_int_equal(shmq_store_close(s), 0);
		if (pass == 0)
			open_store(dir, SHMQ_FLUSH_SYNC, seg, &s);
	}
	free(lens);
	shmq_test_rmtree(dir);
	free(dir);
}

struct tw {
	shmq_store_t *s;
	pthread_mutex_t *mu;   /* the store has one appender */
	unsigned id, iters, seed;
	unsigned ok, timeouts, early;
};

static void *timeout_waiter(void *arg)
{
	struct tw *t = arg;
	struct shmq_store_msg m = { .topic = "tw", .body = "0123456789", .body_len = 10 };
	struct shmq_store_result r;
	for (unsigned i = 0; i < t->iters; i++) {
		pthread_mutex_lock(t->mu);
		int rc = shmq_store_append(t->s, &m, 1, &r);
		pthread_mutex_unlock(t->mu);
		if (rc != 1) {
			t->early++;
			break;
		}
		uint64_t end = r.commitlog_offset + r.size;
		/* 5..200 us: shorter than an fdatasync, so many waits time out,
		 * some while the round that covers them is waking them */
		uint64_t tmo = 5000u + (uint64_t)(rand_r(&t->seed) % 195000u);
		rc = shmq_store_wait_durable(t->s, end, tmo);
		if (rc == 0) {
			t->ok++;
			if (shmq_store_flushed_offset(t->s) < end)
				t->early++; /* S3: told durable before it was */
		} else if (rc == -ETIMEDOUT) {
			t->timeouts++;
		} else {
			t->early++;
			break;
		}
	}
	return NULL;
}

/* F5: a waiter that times out while a round unlinks it, or is woken after
 * the round released the lock, never returns success early, never hangs,
 * and never leaves the waiter list inconsistent. */
static void test_waiters_with_short_timeouts_are_never_told_durable_early(void **state)
{
	(void)state;
	char *dir = make_tmpdir();
	shmq_store_t *s;
	open_store(dir, SHMQ_FLUSH_SYNC, SEG, &s);
	enum { T = 8 };
	pthread_t th[T];
	struct tw t[T];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	unsigned seed = (unsigned)shmq_now_ns();
	printf("seed %u\n", seed);
	for (unsigned i = 0; i < T; i++) {
		t[i] = (struct tw){ .s = s, .mu = &mu, .id = i, .seed = seed + i,
				    .iters = 300u * (unsigned)stress_scale() };
		assert_int_equal(pthread_create(&th[i], NULL, timeout_waiter, &t[i]), 0);
	}
	unsigned ok = 0, tmo = 0;
	for (unsigned i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].early, 0);
		ok += t[i].ok;
		tmo += t[i].timeouts;
	}
	printf("%u waits durable, %u timed out\n", ok, tmo);
	assert_int_equal(ok + tmo, T * t[0].iters);
	/* the list is consistent: a final flush still wakes a fresh waiter */
	assert_int_equal(shmq_store_flush(s), 0);
	assert_int_equal(shmq_store_close(s), 0);
	shmq_test_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_async_mode_leaves_blocks_ahead_of_the_log_end_unwritten),
		cmocka_unit_test(test_sync_mode_prewrites_blocks_ahead_of_the_log_end),
		cmocka_unit_test(test_sync_mode_prewrites_ahead_in_a_reopened_segment),
		cmocka_unit_test(test_prewrite_never_changes_a_byte_across_segment_rolls),
		cmocka_unit_test(test_waiters_with_short_timeouts_are_never_told_durable_early),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
