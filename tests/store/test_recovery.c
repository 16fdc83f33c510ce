/* SPDX-License-Identifier: Apache-2.0 */
/* Crash recovery (store.h S6): a child process appends and dies without
 * closing; the parent damages the tail the way a crash or a bad disk would
 * and reopens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/wait.h>

#include "store_test_util.h"

#define N 300

struct fx {
	char *dir;
	char store[PATH_MAX];
	struct shmq_store_result r[N];
};

static void msg_for(unsigned i, struct shmq_store_msg *m, uint8_t *body, char *keys)
{
	uint32_t len = 100 + (i * 37) % 1000;
	fill_body(body, len, i);
	snprintf(keys, 32, "key%u common", i);
	*m = (struct shmq_store_msg){ .topic = "rec", .queue_id = i % 3, .body = body,
				      .body_len = len, .keys = keys, .tags = "t" };
}

/* Child: open, append N messages, optionally flush, exit without closing. */
static void crash_child(struct fx *f, bool flush)
{
	char res[PATH_MAX + 16];
	snprintf(res, sizeof(res), "%s/results", f->dir);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		TEST_OPTS(o, f->store);
		shmq_store_t *s;
		if (shmq_store_open(&o, &s, NULL) != 0)
			_exit(1);
		static uint8_t body[2000];
		char keys[32];
		for (unsigned i = 0; i < N; i++) {
			struct shmq_store_msg m;
			msg_for(i, &m, body, keys);
			if (shmq_store_append(s, &m, 1, &f->r[i]) != 1)
				_exit(2);
		}
		if (flush && shmq_store_flush(s) != 0)
			_exit(3);
		int fd = open(res, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, f->r, sizeof(f->r)) != (ssize_t)sizeof(f->r))
			_exit(4);
		close(fd);
		_exit(0); /* no shmq_store_close(): the abort file stays */
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	int fd = open(res, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, f->r, sizeof(f->r)), (ssize_t)sizeof(f->r));
	close(fd);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = make_tmpdir();
	snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	shmq_test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static shmq_store_t *reopen(struct fx *f, struct shmq_store_recovery_report *rep)
{
	TEST_OPTS(o, f->store);
	shmq_store_t *s;
	assert_int_equal(shmq_store_open(&o, &s, rep), 0);
	shmq_store_report_print(rep, stdout);
	return s;
}

/* Every message below @p n reads back intact through its queue and its key. */
static void check_first(shmq_store_t *s, struct fx *f, unsigned n)
{
	static uint8_t body[2000];
	char keys[32];
	for (unsigned i = 0; i < n; i++) {
		struct shmq_store_msg m;
		msg_for(i, &m, body, keys);
		struct shmq_store_view v;
		assert_int_equal(shmq_store_read_queue(s, "rec", i % 3, f->r[i].queue_offset, &v), 0);
		assert_int_equal(v.commitlog_offset, f->r[i].commitlog_offset);
		assert_int_equal(v.body_len, m.body_len);
		assert_memory_equal(v.body, body, m.body_len);
		shmq_store_view_release(s, &v);
		if (i % 17 == 0 || i + 1 == n) {
			char k[16];
			uint64_t off[4];
			snprintf(k, sizeof(k), "key%u", i);
			assert_int_equal(shmq_store_query_key(s, "rec", k, 0, UINT64_MAX, off, 4), 1);
			assert_int_equal(off[0], f->r[i].commitlog_offset);
		}
	}
}

static void check_queue_ends(shmq_store_t *s, unsigned n)
{
	for (uint32_t q = 0; q < 3; q++) {
		uint64_t mn, mx;
		assert_int_equal(shmq_store_queue_offsets(s, "rec", q, &mn, &mx), 0);
		assert_int_equal(mx, (n + 2 - q) / 3); /* messages i < n with i % 3 == q */
	}
}

static void test_crash_recovery_keeps_every_intact_record(void **state)
{
	struct fx *f = *state;
	crash_child(f, false);
	struct shmq_store_recovery_report rep;
	shmq_store_t *s = reopen(f, &rep);
	uint64_t end = f->r[N - 1].commitlog_offset + f->r[N - 1].size;
	assert_true(rep.abnormal);
	assert_true(rep.checkpoint_valid);
	assert_int_equal(rep.end_offset, end);
	assert_int_equal(rep.reason, SHMQ_RECOVERY_CLEAN_END);
	assert_int_equal(rep.bytes_truncated, 0);
	assert_true(rep.records_verified >= N - 100); /* everything after the checkpoint */
	assert_true(rep.segments_scanned >= 1);
	assert_int_equal(shmq_store_max_offset(s), end);
	check_first(s, f, N);
	check_queue_ends(s, N);
	/* appends continue the queues */
	struct shmq_store_msg m = { .topic = "rec", .queue_id = 0, .body = "z", .body_len = 1 };
	struct shmq_store_result r;
	assert_int_equal(shmq_store_append(s, &m, 1, &r), 1);
	assert_int_equal(r.queue_offset, (N + 2) / 3);
	assert_int_equal(r.commitlog_offset, end);
	assert_int_equal(shmq_store_close(s), 0);
	/* a clean close: the next start is normal and rebuilds nothing */
	s = reopen(f, &rep);
	assert_false(rep.abnormal);
	assert_int_equal(rep.cq_entries_rebuilt, 0);
	assert_int_equal(rep.index_entries_rebuilt, 0);
	assert_int_equal(rep.end_offset, end + r.size);
	assert_int_equal(rep.scan_from, end + r.size); /* trusts the checkpoint ... */
	assert_int_equal(rep.records_verified, 0);     /* ... and finds nothing after it */
	assert_int_equal(shmq_store_close(s), 0);
}

static void damage(struct fx *f, uint64_t from, uint64_t len, int how)
{
	char p[PATH_MAX];
	seg_path(p, sizeof(p), f->store, from - from % TEST_SEG);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	uint8_t *buf = calloc(1, len);
	if (how == 1)
		fill_body(buf, (uint32_t)len, 4242);
	assert_int_equal(pwrite(fd, buf, len, (off_t)(from % TEST_SEG)), (ssize_t)len);
	free(buf);
	close(fd);
}

static void test_garbage_over_last_records_truncates_the_torn_tail(void **state)
{
	struct fx *f = *state;
	crash_child(f, true);
	/* garbage over the last two records (a torn write of random bytes) */
	uint64_t cut = f->r[N - 2].commitlog_offset;
	uint64_t end = f->r[N - 1].commitlog_offset + f->r[N - 1].size;
	assert_true(cut / TEST_SEG == (end - 1) / TEST_SEG);
	damage(f, cut, end - cut, 1);
	struct shmq_store_recovery_report rep;
	shmq_store_t *s = reopen(f, &rep);
	assert_true(rep.abnormal);
	assert_int_equal(rep.end_offset, cut);
	assert_int_equal(rep.truncate_offset, cut);
	assert_true(rep.reason == SHMQ_RECOVERY_BAD_SIZE || rep.reason == SHMQ_RECOVERY_BAD_MAGIC);
	assert_true(rep.bytes_truncated >= end - cut - 8);
	assert_int_equal(rep.cq_entries_dropped, 2); /* they pointed past the new end */
	check_first(s, f, N - 2);
	check_queue_ends(s, N - 2);
	char k[16];
	uint64_t off[4];
	snprintf(k, sizeof(k), "key%u", N - 1);
	assert_int_equal(shmq_store_query_key(s, "rec", k, 0, UINT64_MAX, off, 4), 0);
	struct shmq_store_view v;
	assert_int_equal(shmq_store_read(s, cut, &v), SHMQ_ENOTFOUND);
	/* the queue offsets of the lost records are given out again */
	struct shmq_store_msg m = { .topic = "rec", .queue_id = (N - 2) % 3, .body = "n",
				    .body_len = 1 };
	struct shmq_store_result r;
	assert_int_equal(shmq_store_append(s, &m, 1, &r), 1);
	assert_int_equal(r.queue_offset, f->r[N - 2].queue_offset);
	assert_int_equal(r.commitlog_offset, cut);
	assert_int_equal(shmq_store_close(s), 0);
}

static void test_truncated_last_segment_file_is_cut_at_the_last_whole_record(void **state)
{
	struct fx *f = *state;
	crash_child(f, false);
	uint64_t last = f->r[N - 1].commitlog_offset;
	char p[PATH_MAX];
	seg_path(p, sizeof(p), f->store, last - last % TEST_SEG);
	/* the file ends in the middle of the last record */
	assert_int_equal(truncate(p, (off_t)(last % TEST_SEG + f->r[N - 1].size / 2)), 0);
	struct shmq_store_recovery_report rep;
	shmq_store_t *s = reopen(f, &rep);
	assert_int_equal(rep.end_offset, last);
	assert_int_equal(rep.reason, SHMQ_RECOVERY_SHORT_FILE);
	assert_int_equal(rep.cq_entries_dropped, 1);
	check_first(s, f, N - 1);
	check_queue_ends(s, N - 1);
	assert_int_equal(shmq_store_close(s), 0);
	struct stat st;
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, TEST_SEG); /* restored to full size */
}

static void test_zeroed_region_cuts_the_log_and_drops_what_follows(void **state)
{
	struct fx *f = *state;
	crash_child(f, false);
	/* find a record k whose segment holds later records too */
	unsigned k = N - 10;
	while (f->r[k].commitlog_offset / TEST_SEG != f->r[k + 3].commitlog_offset / TEST_SEG)
		k--;
	damage(f, f->r[k].commitlog_offset, f->r[k].size + f->r[k + 1].size, 0);
	struct shmq_store_recovery_report rep;
	shmq_store_t *s = reopen(f, &rep);
	assert_int_equal(rep.end_offset, f->r[k].commitlog_offset);
	assert_int_equal(rep.reason, SHMQ_RECOVERY_ZEROED);
	assert_true(rep.bytes_truncated > 0);
	assert_int_equal(rep.cq_entries_dropped, N - k);
	check_first(s, f, k);
	check_queue_ends(s, k);
	assert_int_equal(shmq_store_close(s), 0);
	/* the stale records after the hole are gone for good */
	s = reopen(f, &rep);
	assert_int_equal(rep.end_offset, f->r[k].commitlog_offset);
	assert_int_equal(rep.bytes_truncated, 0);
	assert_int_equal(shmq_store_close(s), 0);
}

static void test_lost_consumequeue_and_index_are_rebuilt_from_the_commitlog(void **state)
{
	struct fx *f = *state;
	crash_child(f, true);
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/consumequeue", f->store);
	shmq_test_rmtree(p);
	snprintf(p, sizeof(p), "%s/index", f->store);
	shmq_test_rmtree(p);
	struct shmq_store_recovery_report rep;
	shmq_store_t *s = reopen(f, &rep);
	/* the crashed child never wrote a checkpoint past its start: all is rebuilt */
	assert_int_equal(rep.cq_entries_rebuilt, N);
	assert_int_equal(rep.index_entries_rebuilt, 2 * N); /* "keyI" and "common" */
	check_first(s, f, N);
	check_queue_ends(s, N);
	uint64_t off[N];
	assert_int_equal(shmq_store_query_key(s, "rec", "common", 0, UINT64_MAX, off, N), N);
	assert_int_equal(off[0], f->r[N - 1].commitlog_offset); /* newest first */
	assert_int_equal(shmq_store_close(s), 0);
}

/* Zero the tag-hash bytes of queue offset @p q of queue rec/0, as a SIGKILL
 * between the stores of one 20-byte entry can leave it (cq files hold 64
 * entries in these tests and are named by their first queue offset). */
static void tear_cq_entry(struct fx *f, uint64_t q)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/consumequeue/rec/0/%020" PRIu64, f->store, q - q % 64);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	static const uint8_t zero[8];
	assert_int_equal(pwrite(fd, zero, 8, (off_t)((q % 64) * 20 + 12)), 8);
	close(fd);
}

static void test_torn_consumequeue_entries_are_repaired_from_the_commitlog(void **state)
{
	struct fx *f = *state;
	crash_child(f, false);
	tear_cq_entry(f, 99); /* the queue's last entry */
	tear_cq_entry(f, 50); /* one in the middle, between intact neighbours */
	struct shmq_store_recovery_report rep;
	shmq_store_t *s = reopen(f, &rep);
	assert_int_equal(rep.cq_entries_repaired, 2);
	uint64_t want = shmq_store_tag_hash("t", 1);
	for (uint64_t q = 0; q < N / 3; q++) {
		struct shmq_store_cq_entry e;
		assert_int_equal(shmq_store_cq_get(s, "rec", 0, q, &e), 0);
		assert_int_equal(e.tag_hash, want);
		assert_int_equal(e.commitlog_offset, f->r[q * 3].commitlog_offset);
	}
	shmq_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_torn_consumequeue_entries_are_repaired_from_the_commitlog, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_recovery_keeps_every_intact_record, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_garbage_over_last_records_truncates_the_torn_tail,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_truncated_last_segment_file_is_cut_at_the_last_whole_record, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_zeroed_region_cuts_the_log_and_drops_what_follows,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_lost_consumequeue_and_index_are_rebuilt_from_the_commitlog, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
