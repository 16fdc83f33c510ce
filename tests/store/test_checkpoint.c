/* SPDX-License-Identifier: Apache-2.0 */
/* Checkpoint slots (checkpoint_layout.h) and the abort file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "broker/store/checkpoint.h"
#include "broker/store/checkpoint_layout.h"
#include "common/crc32c.h"
#include "store_test_util.h"
#include <sys/wait.h>

static int setup(void **state)
{
	*state = make_tmpdir();
	return 0;
}

static int teardown(void **state)
{
	shmq_test_rmtree(*state);
	free(*state);
	return 0;
}

static void write_n(shmq_ckpt_t *c, unsigned n, uint64_t base)
{
	for (unsigned i = 0; i < n; i++) {
		struct shmq_ckpt_state st = { .cl_flushed = base + i, .cq_flushed = base + i + 100,
					      .index_flushed = base + i + 200, .store_ts_ms = i };
		assert_int_equal(shmq_ckpt_write(c, &st), 0);
	}
}

static void test_fresh_checkpoint_has_no_valid_slot(void **state)
{
	shmq_ckpt_t *c;
	struct shmq_ckpt_state st;
	assert_int_equal(shmq_ckpt_open(*state, &c, &st), 0);
	assert_int_equal(st.seq, 0);
	shmq_ckpt_close(c);
}

static void test_newer_valid_slot_wins(void **state)
{
	shmq_ckpt_t *c;
	struct shmq_ckpt_state st;
	assert_int_equal(shmq_ckpt_open(*state, &c, &st), 0);
	write_n(c, 5, 1000); /* seq 1..5: slot 1 holds 5, slot 0 holds 4 */
	shmq_ckpt_close(c);
	assert_int_equal(shmq_ckpt_open(*state, &c, &st), 1);
	assert_int_equal(st.seq, 5);
	assert_int_equal(st.cl_flushed, 1004);
	assert_int_equal(st.cq_flushed, 1104);
	assert_int_equal(st.index_flushed, 1204);
	/* writing continues the sequence, into the other slot */
	write_n(c, 1, 5000);
	shmq_ckpt_close(c);
	assert_int_equal(shmq_ckpt_open(*state, &c, &st), 1);
	assert_int_equal(st.seq, 6);
	assert_int_equal(st.cl_flushed, 5000);
	shmq_ckpt_close(c);
}

static void corrupt_byte(const char *dir, off_t at)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/checkpoint", dir);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	uint8_t b;
	assert_int_equal(pread(fd, &b, 1, at), 1);
	b ^= 0x40;
	assert_int_equal(pwrite(fd, &b, 1, at), 1);
	close(fd);
}

static void test_corrupt_newer_slot_falls_back_to_older(void **state)
{
	shmq_ckpt_t *c;
	struct shmq_ckpt_state st;
	assert_int_equal(shmq_ckpt_open(*state, &c, &st), 0);
	write_n(c, 4, 10); /* slot 0: seq 4 (cl 13), slot 1: seq 3 (cl 12) */
	shmq_ckpt_close(c);
	/* a torn write of the newest slot: its CRC no longer matches */
	corrupt_byte(*state, offsetof(struct shmq_ckpt_slot, cl_flushed));
	assert_int_equal(shmq_ckpt_open(*state, &c, &st), 1);
	assert_int_equal(st.seq, 3);
	assert_int_equal(st.cl_flushed, 12);
	/* the next write goes to slot 0 (seq 4 again), repairing it */
	write_n(c, 1, 77);
	shmq_ckpt_close(c);
	assert_int_equal(shmq_ckpt_open(*state, &c, &st), 1);
	assert_int_equal(st.seq, 4);
	assert_int_equal(st.cl_flushed, 77);
	shmq_ckpt_close(c);
	/* both slots damaged: no checkpoint at all */
	corrupt_byte(*state, 60);
	corrupt_byte(*state, SHMQ_CKPT_SLOT_STRIDE + 8);
	assert_int_equal(shmq_ckpt_open(*state, &c, &st), 0);
	shmq_ckpt_close(c);
}

static void test_slot_in_the_wrong_parity_position_is_ignored(void **state)
{
	(void)state;
	uint8_t img[SHMQ_CKPT_FILE_SIZE] = { 0 };
	struct shmq_ckpt_slot s = { .magic = SHMQ_CKPT_MAGIC, .version = SHMQ_CKPT_VERSION,
				    .slot_size = 64, .seq = 9, .cl_flushed = 1 };
	s.crc = shmq_crc32c(0, &s, offsetof(struct shmq_ckpt_slot, crc));
	struct shmq_ckpt_state st;
	memcpy(img, &s, sizeof(s)); /* odd seq in slot 0 */
	assert_int_equal(shmq_ckpt_pick(img, sizeof(img), &st), 0);
	memcpy(img + SHMQ_CKPT_SLOT_STRIDE, &s, sizeof(s));
	assert_int_equal(shmq_ckpt_pick(img, sizeof(img), &st), 1);
	assert_int_equal(st.seq, 9);
	/* a truncated file is not read past its end */
	assert_int_equal(shmq_ckpt_pick(img, 100, &st), 0);
}

static void test_abort_file_is_detected_after_unclean_exit(void **state)
{
	bool existed;
	assert_int_equal(shmq_abort_create(*state, &existed), 0);
	assert_false(existed);
	assert_int_equal(shmq_abort_create(*state, &existed), 0);
	assert_true(existed);
	assert_int_equal(shmq_abort_remove(*state), 0);
	assert_int_equal(shmq_abort_create(*state, &existed), 0);
	assert_false(existed);

	/* through the store: a clean close leaves no abort file ... */
	char *d = make_tmpdir();
	TEST_OPTS(o, d);
	shmq_store_t *s;
	struct shmq_store_recovery_report r;
	assert_int_equal(shmq_store_open(&o, &s, &r), 0);
	assert_false(r.abnormal);
	assert_int_equal(shmq_store_close(s), 0);
	assert_int_equal(shmq_store_open(&o, &s, &r), 0);
	assert_false(r.abnormal);
	assert_true(r.checkpoint_valid);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/abort", d);
	assert_int_equal(access(p, F_OK), 0); /* present while open */
	assert_int_equal(shmq_store_close(s), 0);
	assert_int_not_equal(access(p, F_OK), 0);
	/* ... a process that dies with the store open leaves it behind */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shmq_store_t *c;
		if (shmq_store_open(&o, &c, NULL) != 0)
			_exit(1);
		_exit(0); /* no close: a crash as far as the store can tell */
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(shmq_store_open(&o, &s, &r), 0);
	assert_true(r.abnormal);
	assert_int_equal(shmq_store_close(s), 0);
	shmq_test_rmtree(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_checkpoint_has_no_valid_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_valid_slot_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_newer_slot_falls_back_to_older, setup,
						teardown),
		cmocka_unit_test(test_slot_in_the_wrong_parity_position_is_ignored),
		cmocka_unit_test_setup_teardown(test_abort_file_is_detected_after_unclean_exit, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
