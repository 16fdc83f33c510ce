/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for broker/store/consumequeue (guarantees C1..C5 in
 * consumequeue.h, invariants I1..I3 in cq_layout.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/store/consumequeue.h"
#include "broker/store/cq_layout.h"
#include "common/crc32c.h"
#include "shmq/error.h"
#include "tests/common/tmpdir.h"

#define EPF 4u /* small files: every test crosses file boundaries */

struct fixture {
	char root[64];
	char dir[128];
};


static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/shmq-cq-XXXXXX");
	if (mkdtemp(fx->root) == NULL) {
		free(fx);
		return -1;
	}
	/* the store passes <store>/consumequeue/<topic>/<queue>: parents missing */
	snprintf(fx->dir, sizeof(fx->dir), "%s/consumequeue/Topic#1/3", fx->root);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	shmq_test_rmtree(fx->root);
	free(fx);
	return 0;
}

static struct shmq_cq_entry entry_for(uint64_t q)
{
	struct shmq_cq_entry e = {
		.commitlog_offset = q * 100 + 7,
		.size = 50 + (uint32_t)(q % 13),
		.tag_hash = q * 0x9e3779b97f4a7c15ull,
	};
	return e;
}

static void append_range(shmq_cq_t *cq, uint64_t from, uint64_t to)
{
	for (uint64_t q = from; q < to; q++) {
		struct shmq_cq_entry e = entry_for(q);
		assert_int_equal(shmq_cq_append(cq, q, &e), 0);
	}
}

static void expect_entry(shmq_cq_t *cq, uint64_t q)
{
	struct shmq_cq_entry got, want = entry_for(q);
	assert_int_equal(shmq_cq_get(cq, q, &got), 0);
	assert_int_equal(got.commitlog_offset, want.commitlog_offset);
	assert_int_equal(got.size, want.size);
	assert_int_equal(got.tag_hash, want.tag_hash);
}

static shmq_cq_t *open_cq(struct fixture *fx, uint32_t epf)
{
	shmq_cq_t *cq = NULL;
	assert_int_equal(shmq_cq_open(fx->dir, epf, &cq), 0);
	assert_non_null(cq);
	return cq;
}

static int count_data_files(const char *dir)
{
	int n = 0;
	char p[PATH_MAX];
	for (uint64_t first = 0; first < 1000; first++) {
		snprintf(p, sizeof(p), "%s/%020llu", dir, (unsigned long long)first);
		if (access(p, F_OK) == 0)
			n++;
	}
	return n;
}

static void test_append_get_round_trip_across_several_files(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);

	assert_int_equal(shmq_cq_min_offset(cq), 0);
	assert_int_equal(shmq_cq_max_offset(cq), 0);
	append_range(cq, 0, 11);
	assert_int_equal(shmq_cq_max_offset(cq), 11);
	for (uint64_t q = 0; q < 11; q++)
		expect_entry(cq, q);
	/* 11 entries at 4 per file: files 0, 4, 8, each exactly 80 bytes */
	assert_int_equal(count_data_files(fx->dir), 3);
	char p[PATH_MAX];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%020u", fx->dir, 8u);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, EPF * SHMQ_CQ_ENTRY_SIZE);
	assert_int_equal(shmq_cq_flush(cq), 0);
	shmq_cq_close(cq);
}

static void test_reopen_restores_min_max_and_keeps_stored_geometry(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);

	append_range(cq, 0, 10);
	assert_int_equal(shmq_cq_flush(cq), 0);
	shmq_cq_close(cq);

	/* a different entries_per_file is ignored: the files keep theirs */
	cq = open_cq(fx, 1000);
	assert_int_equal(shmq_cq_entries_per_file(cq), EPF);
	assert_int_equal(shmq_cq_min_offset(cq), 0);
	assert_int_equal(shmq_cq_max_offset(cq), 10);
	for (uint64_t q = 0; q < 10; q++)
		expect_entry(cq, q);
	/* full last file: max on a file boundary survives a reopen too */
	append_range(cq, 10, 12);
	assert_int_equal(shmq_cq_delete_before(cq, entry_for(8).commitlog_offset), 2);
	shmq_cq_close(cq);

	cq = open_cq(fx, EPF);
	assert_int_equal(shmq_cq_min_offset(cq), 8);
	assert_int_equal(shmq_cq_max_offset(cq), 12);
	expect_entry(cq, 8);
	expect_entry(cq, 11);
	append_range(cq, 12, 13);
	expect_entry(cq, 12);
	shmq_cq_close(cq);
}

static void test_append_enforces_dense_offsets_and_accepts_identical_replay(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);
	struct shmq_cq_entry e;

	e = entry_for(1);
	assert_int_equal(shmq_cq_append(cq, 1, &e), -EINVAL); /* gap at 0 */
	append_range(cq, 0, 6);

	e = entry_for(7);
	assert_int_equal(shmq_cq_append(cq, 7, &e), -EINVAL); /* gap at 6 */
	/* C1: replaying what is stored succeeds and writes nothing */
	for (uint64_t q = 0; q < 6; q++) {
		e = entry_for(q);
		assert_int_equal(shmq_cq_append(cq, q, &e), 0);
	}
	assert_int_equal(shmq_cq_max_offset(cq), 6);
	/* ... but a replay that differs in any field is refused */
	e = entry_for(3);
	e.tag_hash ^= 1;
	assert_int_equal(shmq_cq_append(cq, 3, &e), -EINVAL);
	e = entry_for(3);
	e.size++;
	assert_int_equal(shmq_cq_append(cq, 3, &e), -EINVAL);
	e = entry_for(3);
	e.commitlog_offset++;
	assert_int_equal(shmq_cq_append(cq, 3, &e), -EINVAL);
	expect_entry(cq, 3);

	/* replay below min cannot be compared */
	append_range(cq, 6, 9);
	assert_int_equal(shmq_cq_delete_before(cq, entry_for(4).commitlog_offset), 1);
	e = entry_for(2);
	assert_int_equal(shmq_cq_append(cq, 2, &e), SHMQ_ESTALE);
	shmq_cq_close(cq);
}

static void test_append_refuses_zero_size_and_non_increasing_commitlog_offsets(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);
	struct shmq_cq_entry e = { .commitlog_offset = 1000, .size = 0, .tag_hash = 1 };

	/* I1: size 0 would read back as the end of the queue */
	assert_int_equal(shmq_cq_append(cq, 0, &e), -EINVAL);
	e.size = 10;
	assert_int_equal(shmq_cq_append(cq, 0, &e), 0);
	/* I3: commitlog offsets strictly increase */
	assert_int_equal(shmq_cq_append(cq, 1, &e), -EINVAL);
	e.commitlog_offset = 999;
	assert_int_equal(shmq_cq_append(cq, 1, &e), -EINVAL);
	e.commitlog_offset = 1001;
	assert_int_equal(shmq_cq_append(cq, 1, &e), 0);
	assert_int_equal(shmq_cq_max_offset(cq), 2);
	/* commitlog offset 0 with a real size is a valid first entry */
	shmq_cq_close(cq);
}

static void test_get_reports_notfound_at_max_and_stale_below_min(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);
	struct shmq_cq_entry e;

	assert_int_equal(shmq_cq_get(cq, 0, &e), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_cq_last(cq, &e), SHMQ_ENOTFOUND);
	append_range(cq, 0, 9);
	assert_int_equal(shmq_cq_get(cq, 9, &e), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_cq_get(cq, UINT64_MAX, &e), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_cq_last(cq, &e), 0);
	assert_int_equal(e.commitlog_offset, entry_for(8).commitlog_offset);
	assert_int_equal(shmq_cq_delete_before(cq, UINT64_MAX), 2);
	assert_int_equal(shmq_cq_min_offset(cq), 8);
	assert_int_equal(shmq_cq_get(cq, 7, &e), SHMQ_ESTALE);
	assert_int_equal(shmq_cq_get(cq, 0, &e), SHMQ_ESTALE);
	expect_entry(cq, 8);
	shmq_cq_close(cq);
}

static void test_truncate_drops_entries_past_commitlog_end_across_files(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);

	append_range(cq, 0, 14);
	/* keep entries 0..5: end exactly at the end of record 5 */
	struct shmq_cq_entry e5 = entry_for(5);
	uint64_t end = e5.commitlog_offset + e5.size;
	assert_int_equal(shmq_cq_truncate(cq, end), 8);
	assert_int_equal(shmq_cq_max_offset(cq), 6);
	/* a record ending one byte past the cut is dropped too */
	assert_int_equal(shmq_cq_truncate(cq, end - 1), 1);
	assert_int_equal(shmq_cq_max_offset(cq), 5);
	assert_int_equal(shmq_cq_truncate(cq, end), 0);
	assert_int_equal(count_data_files(fx->dir), 2); /* files 8 and 12 gone */
	struct shmq_cq_entry e;
	assert_int_equal(shmq_cq_get(cq, 5, &e), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_cq_last(cq, &e), 0);
	assert_int_equal(e.commitlog_offset, entry_for(4).commitlog_offset);
	/* appending resumes densely after the cut, and survives a reopen */
	append_range(cq, 5, 10);
	assert_int_equal(shmq_cq_flush(cq), 0);
	shmq_cq_close(cq);
	cq = open_cq(fx, EPF);
	assert_int_equal(shmq_cq_max_offset(cq), 10);
	for (uint64_t q = 0; q < 10; q++)
		expect_entry(cq, q);
	shmq_cq_close(cq);
}

static void test_truncate_of_everything_keeps_min_and_reopens_empty(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);

	append_range(cq, 0, 10);
	assert_int_equal(shmq_cq_delete_before(cq, entry_for(4).commitlog_offset), 1);
	assert_int_equal(shmq_cq_truncate(cq, 0), 6);
	assert_int_equal(shmq_cq_min_offset(cq), 4);
	assert_int_equal(shmq_cq_max_offset(cq), 4);
	struct shmq_cq_entry e;
	assert_int_equal(shmq_cq_last(cq, &e), SHMQ_ENOTFOUND);
	shmq_cq_close(cq);
	cq = open_cq(fx, EPF);
	assert_int_equal(shmq_cq_min_offset(cq), 4);
	assert_int_equal(shmq_cq_max_offset(cq), 4);
	append_range(cq, 4, 6);
	expect_entry(cq, 5);
	shmq_cq_close(cq);
}

/* The callback's view of the commitlog: timestamps by commitlog offset. */
struct ts_table {
	const uint64_t *ts;
	size_t n;
	unsigned calls;
	int fail_at_call; /* > 0: return -EIO on that call */
};

static int ts_lookup(void *arg, uint64_t commitlog_offset, uint64_t *store_ts_ms)
{
	struct ts_table *t = arg;
	uint64_t q = (commitlog_offset - 7) / 100; /* inverse of entry_for() */

	t->calls++;
	if (t->fail_at_call > 0 && (int)t->calls == t->fail_at_call)
		return -EIO;
	if ((commitlog_offset - 7) % 100 != 0 || q >= t->n)
		return SHMQ_ENOTFOUND;
	*store_ts_ms = t->ts[q];
	return 0;
}

static void test_search_time_returns_first_entry_at_or_after_timestamp(void **state)
{
	struct fixture *fx = *state;
	/* equal runs, a run crossing a file boundary (3..6), a lone value */
	static const uint64_t ts[] = { 100, 100, 105, 110, 110, 110, 110, 120, 130, 130, 140 };
	const size_t n = SHMQ_ARRAY_SIZE(ts);
	struct ts_table t = { .ts = ts, .n = n };
	shmq_cq_t *cq = open_cq(fx, EPF);
	uint64_t q;

	assert_int_equal(shmq_cq_search_time(cq, 50, ts_lookup, &t, &q), 0);
	assert_int_equal(q, 0); /* empty queue: min == max == 0 */
	append_range(cq, 0, n);

	for (uint64_t want_ts = 90; want_ts <= 150; want_ts++) {
		uint64_t expect = n;
		for (size_t i = 0; i < n; i++) {
			if (ts[i] >= want_ts) {
				expect = i;
				break;
			}
		}
		t.calls = 0;
		assert_int_equal(shmq_cq_search_time(cq, want_ts, ts_lookup, &t, &q), 0);
		assert_int_equal(q, expect);
		assert_true(t.calls <= 4); /* binary: ceil(log2(11)) + 1 */
	}
	/* equal timestamps: the first of the run */
	assert_int_equal(shmq_cq_search_time(cq, 110, ts_lookup, &t, &q), 0);
	assert_int_equal(q, 3);
	/* before the first: min; after the last: max */
	assert_int_equal(shmq_cq_search_time(cq, 0, ts_lookup, &t, &q), 0);
	assert_int_equal(q, 0);
	assert_int_equal(shmq_cq_search_time(cq, UINT64_MAX, ts_lookup, &t, &q), 0);
	assert_int_equal(q, n);

	/* the search covers [min, max) only */
	assert_int_equal(shmq_cq_delete_before(cq, entry_for(4).commitlog_offset), 1);
	assert_int_equal(shmq_cq_search_time(cq, 0, ts_lookup, &t, &q), 0);
	assert_int_equal(q, 4);
	assert_int_equal(shmq_cq_search_time(cq, 130, ts_lookup, &t, &q), 0);
	assert_int_equal(q, 8);
	shmq_cq_close(cq);
}

static void test_search_time_returns_the_callback_error(void **state)
{
	struct fixture *fx = *state;
	static const uint64_t ts[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct ts_table t = { .ts = ts, .n = SHMQ_ARRAY_SIZE(ts), .fail_at_call = 2 };
	shmq_cq_t *cq = open_cq(fx, EPF);
	uint64_t q = 12345;

	append_range(cq, 0, SHMQ_ARRAY_SIZE(ts));
	assert_int_equal(shmq_cq_search_time(cq, 5, ts_lookup, &t, &q), -EIO);
	assert_int_equal(q, 12345);
	shmq_cq_close(cq);
}

static void test_delete_before_removes_only_whole_files_below_and_keeps_newest(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);

	append_range(cq, 0, 12); /* files 0, 4, 8; all full */
	/* file 0 ends with record 3: a bound at record 3 keeps it */
	assert_int_equal(shmq_cq_delete_before(cq, entry_for(3).commitlog_offset), 0);
	assert_int_equal(shmq_cq_delete_before(cq, entry_for(3).commitlog_offset + 1), 1);
	assert_int_equal(shmq_cq_min_offset(cq), 4);
	assert_int_equal(count_data_files(fx->dir), 2);
	/* everything below: the newest file still stays (append position) */
	assert_int_equal(shmq_cq_delete_before(cq, UINT64_MAX), 1);
	assert_int_equal(shmq_cq_min_offset(cq), 8);
	assert_int_equal(shmq_cq_max_offset(cq), 12);
	assert_int_equal(count_data_files(fx->dir), 1);
	append_range(cq, 12, 13);
	expect_entry(cq, 12);
	assert_int_equal(shmq_cq_flush(cq), 0);
	shmq_cq_close(cq);
}

static void write_meta(const char *dir, uint16_t version, uint32_t epf, int flip_byte)
{
	struct shmq_cq_meta_disk m;
	char p[PATH_MAX];

	memset(&m, 0, sizeof(m));
	m.magic = SHMQ_CQ_META_MAGIC;
	m.version = version;
	m.entry_size = SHMQ_CQ_ENTRY_SIZE;
	m.entries_per_file = epf;
	m.crc = shmq_crc32c(0, &m, offsetof(struct shmq_cq_meta_disk, crc));
	if (flip_byte >= 0)
		((unsigned char *)&m)[flip_byte] ^= 0x40;
	snprintf(p, sizeof(p), "%s/meta", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, &m, sizeof(m)), (ssize_t)sizeof(m));
	close(fd);
}

static void make_file(const char *dir, const char *name, off_t size)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void expect_open_fails(struct fixture *fx, int status)
{
	shmq_cq_t *cq = (shmq_cq_t *)fx; /* must be reset to NULL */
	assert_int_equal(shmq_cq_open(fx->dir, EPF, &cq), status);
	assert_null(cq);
}

static void test_open_reports_corrupt_meta_and_bad_files_as_ecorrupt(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);
	append_range(cq, 0, 6);
	shmq_cq_close(cq);

	/* C4: every byte of meta is covered by the CRC or checked */
	for (int b = 0; b < (int)sizeof(struct shmq_cq_meta_disk); b++) {
		write_meta(fx->dir, SHMQ_CQ_META_VERSION, EPF, b);
		expect_open_fails(fx, SHMQ_ECORRUPT);
	}
	write_meta(fx->dir, SHMQ_CQ_META_VERSION + 1, EPF, -1);
	expect_open_fails(fx, SHMQ_ELAYOUT);
	write_meta(fx->dir, SHMQ_CQ_META_VERSION, 0, -1);
	expect_open_fails(fx, SHMQ_ECORRUPT);
	make_file(fx->dir, "meta", 5); /* short meta */
	expect_open_fails(fx, SHMQ_ECORRUPT);

	write_meta(fx->dir, SHMQ_CQ_META_VERSION, EPF, -1);
	cq = open_cq(fx, EPF); /* repaired meta: fine again */
	assert_int_equal(shmq_cq_max_offset(cq), 6);
	shmq_cq_close(cq);

	/* a file name that is not a multiple of entries_per_file */
	make_file(fx->dir, "00000000000000000006", EPF * SHMQ_CQ_ENTRY_SIZE);
	expect_open_fails(fx, SHMQ_ECORRUPT);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/00000000000000000006", fx->dir);
	unlink(p);
	/* a gap between files (I2) */
	make_file(fx->dir, "00000000000000000016", EPF * SHMQ_CQ_ENTRY_SIZE);
	expect_open_fails(fx, SHMQ_ECORRUPT);
	snprintf(p, sizeof(p), "%s/00000000000000000016", fx->dir);
	unlink(p);
	/* an oversized data file */
	make_file(fx->dir, "00000000000000000004", EPF * SHMQ_CQ_ENTRY_SIZE + 1);
	expect_open_fails(fx, SHMQ_ECORRUPT);

	/* data files without meta: foreign or damaged */
	snprintf(p, sizeof(p), "%s/meta", fx->dir);
	unlink(p);
	expect_open_fails(fx, SHMQ_ECORRUPT);
}

static void test_open_ignores_unrelated_names_and_grows_short_files(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);
	append_range(cq, 0, 4);
	shmq_cq_close(cq);

	make_file(fx->dir, "notes.txt", 3);
	make_file(fx->dir, "0000000000000000000", 3);   /* 19 digits */
	make_file(fx->dir, "000000000000000000040", 3); /* 21 digits */
	/* a file cut short by a crash between creat and fallocate */
	make_file(fx->dir, "00000000000000000004", 0);
	cq = open_cq(fx, EPF);
	assert_int_equal(shmq_cq_max_offset(cq), 4);
	append_range(cq, 4, 6);
	expect_entry(cq, 5);
	shmq_cq_close(cq);
}

static void zero_entry(const char *dir, uint64_t q)
{
	static const unsigned char zero[SHMQ_CQ_ENTRY_SIZE];
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%020llu", dir, (unsigned long long)(q / EPF * EPF));
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, zero, sizeof(zero), (off_t)(q % EPF) * SHMQ_CQ_ENTRY_SIZE),
			 (ssize_t)sizeof(zero));
	close(fd);
}

static void test_reopen_ends_queue_at_first_zero_entry_and_clears_stale_tail(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);
	append_range(cq, 0, 15);
	assert_int_equal(shmq_cq_flush(cq), 0);
	shmq_cq_close(cq);

	/* a crash lost entry 9 (out-of-order writeback); 10..14 survived */
	zero_entry(fx->dir, 9);
	cq = open_cq(fx, EPF);
	assert_int_equal(shmq_cq_max_offset(cq), 9); /* I1 */
	struct shmq_cq_entry e;
	assert_int_equal(shmq_cq_get(cq, 10, &e), SHMQ_ENOTFOUND);
	assert_int_equal(count_data_files(fx->dir), 3); /* file 12 was past max */
	/* replay after the cut, then stop short of the stale entries: a
	 * reopen must not resurrect 11..14 */
	append_range(cq, 9, 11);
	assert_int_equal(shmq_cq_flush(cq), 0);
	shmq_cq_close(cq);
	cq = open_cq(fx, EPF);
	assert_int_equal(shmq_cq_max_offset(cq), 11);
	assert_int_equal(shmq_cq_get(cq, 11, &e), SHMQ_ENOTFOUND);
	shmq_cq_close(cq);
}

static void test_lost_entry_before_the_tail_is_reported_and_filled_by_replay(void **state)
{
	struct fixture *fx = *state;
	shmq_cq_t *cq = open_cq(fx, EPF);
	append_range(cq, 0, 20); /* files 0..16 */
	shmq_cq_close(cq);

	/* in file 0, outside the last 3 files that open scans */
	zero_entry(fx->dir, 1);
	cq = open_cq(fx, EPF);
	assert_int_equal(shmq_cq_max_offset(cq), 20);
	struct shmq_cq_entry e;
	assert_int_equal(shmq_cq_get(cq, 1, &e), SHMQ_ECORRUPT);
	static const uint64_t ts[20] = { 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5 };
	struct ts_table t = { .ts = ts, .n = 20 };
	uint64_t q;
	/* all newer than 1: the search over [0, 20) probes 10, 5, 2, 1, 0 and
	 * skips the lost entry (as a cursor does) instead of failing */
	assert_int_equal(shmq_cq_search_time(cq, 1, ts_lookup, &t, &q), 0);
	assert_int_equal(q, 0);
	/* a replay that does not fit between its neighbours is refused */
	e = entry_for(3);
	assert_int_equal(shmq_cq_append(cq, 1, &e), -EINVAL);
	e = entry_for(1);
	assert_int_equal(shmq_cq_append(cq, 1, &e), 0);
	expect_entry(cq, 1);
	assert_int_equal(shmq_cq_append(cq, 1, &e), 0); /* now an identical replay */
	assert_int_equal(shmq_cq_max_offset(cq), 20);
	assert_int_equal(shmq_cq_search_time(cq, 1, ts_lookup, &t, &q), 0);
	assert_int_equal(q, 0);
	shmq_cq_close(cq);
}

struct conc {
	shmq_cq_t *cq;
	uint64_t total;
	atomic_bool done;
};

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	uint64_t seen = 0;

	while (!atomic_load_explicit(&c->done, memory_order_acquire)) {
		uint64_t max = shmq_cq_max_offset(c->cq);
		/* C1 + the max acquire: every entry below a max we saw is whole */
		for (uint64_t q = seen; q < max; q++) {
			struct shmq_cq_entry got, want = entry_for(q);
			if (shmq_cq_get(c->cq, q, &got) != 0 || got.commitlog_offset != want.commitlog_offset ||
			    got.size != want.size || got.tag_hash != want.tag_hash)
				return (void *)1;
		}
		seen = max;
		sched_yield(); /* 2 cores: let the appender run */
	}
	return NULL;
}

static void *conc_flusher(void *arg)
{
	struct conc *c = arg;

	while (!atomic_load_explicit(&c->done, memory_order_acquire)) {
		if (shmq_cq_flush(c->cq) != 0)
			return (void *)1;
		usleep(1000);
	}
	return NULL;
}

static int stress_scale(void)
{
	const char *s = getenv("SHMQ_STRESS_SCALE");
	int v = s ? atoi(s) : 1;
	return v > 0 ? v : 1;
}

static void test_readers_and_flusher_run_concurrently_with_the_appender(void **state)
{
	struct fixture *fx = *state;
	struct conc c = { .cq = open_cq(fx, 64), .total = 20000 * (uint64_t)stress_scale() };
	pthread_t r, f;

	atomic_init(&c.done, false);
	assert_int_equal(pthread_create(&r, NULL, conc_reader, &c), 0);
	assert_int_equal(pthread_create(&f, NULL, conc_flusher, &c), 0);
	append_range(c.cq, 0, c.total);
	atomic_store_explicit(&c.done, true, memory_order_release);
	void *rr, *fr;
	pthread_join(r, &rr);
	pthread_join(f, &fr);
	assert_null(rr);
	assert_null(fr);
	assert_int_equal(shmq_cq_max_offset(c.cq), c.total);
	shmq_cq_close(c.cq);
}

static void test_open_rejects_overlong_path(void **state)
{
	(void)state;
	char *p = malloc(PATH_MAX + 8);
	assert_non_null(p);
	memset(p, 'a', PATH_MAX + 7);
	p[0] = '/';
	p[PATH_MAX + 7] = '\0';
	shmq_cq_t *cq = NULL;
	assert_int_equal(shmq_cq_open(p, EPF, &cq), -ENAMETOOLONG);
	assert_null(cq);
	free(p);
	shmq_cq_close(NULL); /* NULL is accepted */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_get_round_trip_across_several_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_restores_min_max_and_keeps_stored_geometry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_enforces_dense_offsets_and_accepts_identical_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_refuses_zero_size_and_non_increasing_commitlog_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_reports_notfound_at_max_and_stale_below_min, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_drops_entries_past_commitlog_end_across_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_of_everything_keeps_min_and_reopens_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_time_returns_first_entry_at_or_after_timestamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_time_returns_the_callback_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_before_removes_only_whole_files_below_and_keeps_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_reports_corrupt_meta_and_bad_files_as_ecorrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_ignores_unrelated_names_and_grows_short_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_ends_queue_at_first_zero_entry_and_clears_stale_tail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost_entry_before_the_tail_is_reported_and_filled_by_replay, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readers_and_flusher_run_concurrently_with_the_appender, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_rejects_overlong_path, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
