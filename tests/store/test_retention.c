/* SPDX-License-Identifier: Apache-2.0 */
/* Retention by age and by disk usage (store.h shmq_store_run_retention,
 * commitlog.h L2, L3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "store_test_util.h"

#define HOUR_MS 3600000ull

struct fx {
	char *dir;
	shmq_store_t *s;
	uint64_t now;
};

static shmq_store_t *open_store(const char *dir, double ratio)
{
	TEST_OPTS(o, dir, .retention_ms = 72 * HOUR_MS, .disk_max_used_ratio = ratio);
	shmq_store_t *s;
	assert_int_equal(shmq_store_open(&o, &s, NULL), 0);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = make_tmpdir();
	f->s = open_store(f->dir, 1.0); /* ratio 1.0: usage can never be above it */
	f->now = 1000 * HOUR_MS;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	shmq_store_close(f->s);
	shmq_test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Append 1000-byte messages stamped @p ts until the log reaches @p until. */
static unsigned fill(shmq_store_t *s, uint64_t ts, uint64_t until)
{
	static uint8_t body[1000];
	unsigned n = 0;
	while (shmq_store_max_offset(s) < until) {
		struct shmq_store_msg m = { .topic = "ret", .body = body, .body_len = sizeof(body),
					    .keys = "k", .store_ts_ms = ts };
		struct shmq_store_result r;
		assert_int_equal(shmq_store_append(s, &m, 1, &r), 1);
		n++;
	}
	return n;
}

static void test_retention_by_age_deletes_old_segments_but_never_the_active_one(void **state)
{
	struct fx *f = *state;
	unsigned old = fill(f->s, f->now - 100 * HOUR_MS, 3 * TEST_SEG + 1);
	fill(f->s, f->now - HOUR_MS, 4 * TEST_SEG + 1000);
	/* only what is flushed goes (see the unflushed-segment test below) */
	assert_int_equal(shmq_store_flush(f->s), 0);
	/* segments 0..2 hold only old messages; 3 ends with a young one */
	assert_int_equal(shmq_store_run_retention(f->s, f->now), 3);
	assert_int_equal(shmq_store_min_offset(f->s), 3 * TEST_SEG);
	char p[PATH_MAX];
	seg_path(p, sizeof(p), f->dir, 0);
	assert_int_not_equal(access(p, F_OK), 0);
	struct shmq_store_view v;
	assert_int_equal(shmq_store_read(f->s, 0, &v), SHMQ_ESTALE);
	/* the consumequeue files that only pointed there are gone too */
	uint64_t mn, mx;
	assert_int_equal(shmq_store_queue_offsets(f->s, "ret", 0, &mn, &mx), 0);
	assert_true(mn > 0 && mn <= old);
	struct shmq_store_cq_entry e;
	assert_int_equal(shmq_store_cq_get(f->s, "ret", 0, 0, &e), SHMQ_ESTALE);
	assert_int_equal(shmq_store_cq_get(f->s, "ret", 0, mx - 1, &e), 0);
	/* nothing more is old enough */
	assert_int_equal(shmq_store_run_retention(f->s, f->now), 0);
	/* far in the future everything is old, but the active segment stays (L3) */
	assert_int_equal(shmq_store_run_retention(f->s, f->now + 1000 * HOUR_MS), 1);
	assert_int_equal(shmq_store_min_offset(f->s), 4 * TEST_SEG);
	/* the store reopens with a log that no longer starts at 0 */
	uint64_t end = shmq_store_max_offset(f->s);
	assert_int_equal(shmq_store_close(f->s), 0);
	f->s = open_store(f->dir, 1.0);
	assert_int_equal(shmq_store_min_offset(f->s), 4 * TEST_SEG);
	assert_int_equal(shmq_store_max_offset(f->s), end);
	assert_int_equal(shmq_store_queue_offsets(f->s, "ret", 0, &mn, &mx), 0);
	assert_int_equal(shmq_store_cq_get(f->s, "ret", 0, mx - 1, &e), 0);
	assert_int_equal(shmq_store_read(f->s, e.commitlog_offset, &v), 0);
	shmq_store_view_release(f->s, &v);
}

static void test_retention_by_disk_ratio_deletes_oldest_while_above(void **state)
{
	struct fx *f = *state;
	fill(f->s, f->now, 3 * TEST_SEG + 1);
	/* young data, usage below 100%: nothing to delete */
	assert_int_equal(shmq_store_run_retention(f->s, f->now), 0);
	assert_int_equal(shmq_store_close(f->s), 0);
	/* any real disk is above 1e-9 used: delete oldest until only the active remains */
	f->s = open_store(f->dir, 1e-9);
	assert_int_equal(shmq_store_run_retention(f->s, f->now), 3);
	assert_int_equal(shmq_store_min_offset(f->s), 3 * TEST_SEG);
	/* appends go on */
	fill(f->s, f->now, shmq_store_max_offset(f->s) + 1);
}

/* A disk over its ratio does not delete what a sync-flush waiter has not
 * been told is durable: the flusher would count a deleted segment as flushed
 * and acknowledge records that were never on disk. */
static void test_retention_by_disk_ratio_never_deletes_unflushed_segments(void **state)
{
	struct fx *f = *state;
	assert_int_equal(shmq_store_close(f->s), 0);
	TEST_OPTS(o, f->dir, .flush_mode = SHMQ_FLUSH_SYNC, .disk_max_used_ratio = 1e-12);
	assert_int_equal(shmq_store_open(&o, &f->s, NULL), 0);
	static uint8_t body[1000];
	struct shmq_store_msg m = { .topic = "ret", .body = body, .body_len = sizeof(body) };
	struct shmq_store_result first;
	assert_int_equal(shmq_store_append(f->s, &m, 1, &first), 1);
	fill(f->s, f->now, 2 * TEST_SEG + 1);
	uint64_t flushed = shmq_store_flushed_offset(f->s);
	int deleted = shmq_store_run_retention(f->s, f->now);
	assert_true(deleted >= 0);
	/* whatever was deleted lay below the flushed offset */
	assert_true(shmq_store_min_offset(f->s) <= flushed - flushed % TEST_SEG || deleted == 0);
	assert_int_equal(shmq_store_wait_durable(f->s, first.commitlog_offset + first.size, 2000000000ull), 0);
	struct shmq_store_view v;
	if (first.commitlog_offset + first.size > flushed) {
		/* it was not durable at the retention run: it is still there */
		assert_int_equal(shmq_store_read(f->s, first.commitlog_offset, &v), 0);
		shmq_store_view_release(f->s, &v);
	}
}

static void test_view_pins_a_segment_that_retention_deletes(void **state)
{
	struct fx *f = *state;
	fill(f->s, f->now - 100 * HOUR_MS, 2 * TEST_SEG + 1);
	struct shmq_store_view v;
	assert_int_equal(shmq_store_read(f->s, 0, &v), 0);
	uint8_t copy[1000];
	memcpy(copy, v.body, sizeof(copy));
	assert_int_equal(shmq_store_flush(f->s), 0);
	assert_int_equal(shmq_store_run_retention(f->s, f->now), 2);
	/* L2: still mapped (ASan/SEGV would tell otherwise) and unchanged */
	assert_memory_equal(v.body, copy, sizeof(copy));
	shmq_store_view_release(f->s, &v);
	assert_int_equal(shmq_store_read(f->s, 0, &v), SHMQ_ESTALE);
	/* key queries skip what retention removed */
	uint64_t off[8];
	int n = shmq_store_query_key(f->s, "ret", "k", 0, UINT64_MAX, off, 8);
	assert_true(n > 0);
	for (int i = 0; i < n; i++)
		assert_true(off[i] >= 2 * TEST_SEG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_retention_by_age_deletes_old_segments_but_never_the_active_one, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_retention_by_disk_ratio_deletes_oldest_while_above,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_pins_a_segment_that_retention_deletes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_retention_by_disk_ratio_never_deletes_unflushed_segments,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
