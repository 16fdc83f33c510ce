/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for common/offsets.h: create, adopt, attach, refuse garbage. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/atomic.h"
#include "common/offsets.h"
#include "shmq/error.h"
#include "tests/common/tmpdir.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/shmq_offsets_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/g@t.offsets", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return shmq_test_rmtree(dir);
}

/* A valid table of `queues` queues at `path`, unmapped again. */
static void make_table(uint32_t queues)
{
	struct shmq_offsets_map m;
	assert_int_equal(shmq_offsets_create(path, queues, &m), 0);
	shmq_offsets_unmap(&m);
}

static void patch(off_t off, const void *bytes, size_t len)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, len, off), (ssize_t)len);
	close(fd);
}

/* attach to the file at `path`; the map must stay untouched on error */
static int attach_path(struct shmq_offsets_map *m)
{
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	int r = shmq_offsets_attach_fd(fd, m);
	close(fd);
	return r;
}

static void test_create_makes_a_table_with_nothing_committed_and_no_owner(void **state)
{
	(void)state;
	struct shmq_offsets_map m;
	assert_int_equal(shmq_offsets_create(path, 8, &m), 0);
	assert_int_equal(m.queues, 8);
	assert_int_equal(m.len, SHMQ_OFFSETS_FILE_SIZE(8));
	assert_int_equal(m.hdr->magic, SHMQ_OFFSETS_MAGIC);
	assert_int_equal(m.hdr->version, SHMQ_OFFSETS_VERSION);
	assert_int_equal(m.hdr->hdr_len, 64);
	assert_int_equal(m.hdr->queues, 8);
	assert_true(m.hdr->fingerprint == SHMQ_OFFSETS_FINGERPRINT);
	assert_int_equal(shmq_load_relaxed(&m.hdr->generation), 0);
	for (uint32_t q = 0; q < 8; q++) {
		assert_true(shmq_load_relaxed(&m.slots[q].committed) == SHMQ_OFFSETS_NONE);
		assert_int_equal(shmq_load_relaxed(&m.slots[q].owner), 0);
		assert_int_equal(shmq_load_relaxed(&m.slots[q].revoke_gen), 0);
	}
	struct stat st;
	assert_int_equal(fstat(m.fd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, (off_t)SHMQ_OFFSETS_FILE_SIZE(8));
	shmq_offsets_unmap(&m);
	assert_null(m.hdr);
	assert_int_equal(m.fd, -1);
}

static void test_create_adopts_a_valid_table_of_the_same_queue_count_keeping_its_words(void **state)
{
	(void)state;
	struct shmq_offsets_map m, a;
	assert_int_equal(shmq_offsets_create(path, 4, &m), 0);
	shmq_store_relaxed(&m.slots[3].committed, 42);
	shmq_store_relaxed(&m.slots[1].owner, 7);
	shmq_store_relaxed(&m.hdr->generation, 9);
	shmq_offsets_unmap(&m);
	assert_int_equal(shmq_offsets_create(path, 4, &a), 1);
	assert_int_equal(a.queues, 4);
	assert_true(shmq_load_relaxed(&a.slots[3].committed) == 42);
	assert_true(shmq_load_relaxed(&a.slots[1].owner) == 7);
	assert_int_equal(shmq_load_relaxed(&a.hdr->generation), 9);
	shmq_offsets_unmap(&a);
}

static void test_create_replaces_a_table_of_another_queue_count_with_a_new_file(void **state)
{
	(void)state;
	struct shmq_offsets_map old, m;
	assert_int_equal(shmq_offsets_create(path, 4, &old), 0);
	shmq_store_relaxed(&old.slots[0].committed, 5);
	assert_int_equal(shmq_offsets_create(path, 6, &m), 2);
	assert_int_equal(m.queues, 6);
	assert_true(shmq_load_relaxed(&m.slots[0].committed) == SHMQ_OFFSETS_NONE);
	struct stat a, b;
	assert_int_equal(fstat(old.fd, &a), 0);
	assert_int_equal(fstat(m.fd, &b), 0);
	assert_true(a.st_ino != b.st_ino); /* the old mapping keeps its inode */
	assert_true(shmq_load_relaxed(&old.slots[0].committed) == 5);
	shmq_offsets_unmap(&old);
	shmq_offsets_unmap(&m);
}

static void test_create_replaces_garbage_and_symlinks(void **state)
{
	(void)state;
	struct shmq_offsets_map m;
	char junk[200];
	memset(junk, 0xa5, sizeof(junk));
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	close(fd);
	assert_int_equal(shmq_offsets_create(path, 3, &m), 2);
	assert_int_equal(m.queues, 3);
	shmq_offsets_unmap(&m);

	/* a symlink planted at the path is replaced, its target left alone */
	char target[160];
	snprintf(target, sizeof(target), "%s/target", dir);
	fd = open(target, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(shmq_offsets_create(path, 3, &m), 2);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_size, 0);
	shmq_offsets_unmap(&m);
}

static void test_create_refuses_a_queue_count_out_of_range(void **state)
{
	(void)state;
	struct shmq_offsets_map m;
	assert_int_equal(shmq_offsets_create(path, 0, &m), -EINVAL);
	assert_int_equal(shmq_offsets_create(path, SHMQ_OFFSETS_QUEUES_MAX + 1, &m), -EINVAL);
	assert_int_equal(shmq_offsets_create(NULL, 1, &m), -EINVAL);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(shmq_offsets_create(path, SHMQ_OFFSETS_QUEUES_MAX, &m), 0);
	assert_int_equal(m.len, SHMQ_OFFSETS_FILE_SIZE(SHMQ_OFFSETS_QUEUES_MAX));
	shmq_offsets_unmap(&m);
}

static void test_attach_shares_the_words_and_owns_a_dup_of_the_fd(void **state)
{
	(void)state;
	struct shmq_offsets_map b, c;
	assert_int_equal(shmq_offsets_create(path, 2, &b), 0);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(shmq_offsets_attach_fd(fd, &c), 0);
	assert_true(c.fd != fd);
	close(fd); /* the map keeps its own descriptor */
	assert_int_equal(fcntl(c.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	assert_int_equal(c.queues, 2);
	shmq_store_release(&c.slots[1].committed, 1234);
	assert_true(shmq_load_acquire(&b.slots[1].committed) == 1234);
	shmq_store_release(&b.slots[0].owner, 99);
	assert_true(shmq_load_acquire(&c.slots[0].owner) == 99);
	shmq_offsets_unmap(&c);
	shmq_offsets_unmap(&b);
}

/* Corrupt one header field of a valid table; attach must give `want` and
 * leave the caller's map untouched. */
static void expect_refusal(off_t off, const void *bytes, size_t len, int want)
{
	make_table(4);
	patch(off, bytes, len);
	struct shmq_offsets_map m;
	memset(&m, 0x5a, sizeof(m));
	struct shmq_offsets_map before = m;
	assert_int_equal(attach_path(&m), want);
	assert_memory_equal(&m, &before, sizeof(m));
	/* and the broker replaces it rather than adopting it */
	assert_int_equal(shmq_offsets_create(path, 4, &m), 2);
	shmq_offsets_unmap(&m);
	assert_int_equal(unlink(path), 0);
}

static void test_attach_refuses_a_foreign_magic_version_header_or_fingerprint(void **state)
{
	(void)state;
	uint32_t magic = 0x12345678;
	uint16_t version = SHMQ_OFFSETS_VERSION + 1, hdr_len = 128;
	uint64_t fp = SHMQ_OFFSETS_FINGERPRINT ^ 1;
	expect_refusal(offsetof(struct shmq_offsets_hdr, magic), &magic, sizeof(magic), SHMQ_ELAYOUT);
	expect_refusal(offsetof(struct shmq_offsets_hdr, version), &version, sizeof(version), SHMQ_ELAYOUT);
	expect_refusal(offsetof(struct shmq_offsets_hdr, hdr_len), &hdr_len, sizeof(hdr_len), SHMQ_ELAYOUT);
	expect_refusal(offsetof(struct shmq_offsets_hdr, fingerprint), &fp, sizeof(fp), SHMQ_ELAYOUT);
}

static void test_attach_refuses_a_queue_count_that_disagrees_with_the_file(void **state)
{
	(void)state;
	uint32_t zero = 0, five = 5, big = SHMQ_OFFSETS_QUEUES_MAX + 1, huge = UINT32_MAX;
	expect_refusal(offsetof(struct shmq_offsets_hdr, queues), &zero, 4, SHMQ_ECORRUPT);
	expect_refusal(offsetof(struct shmq_offsets_hdr, queues), &five, 4, SHMQ_ECORRUPT);
	expect_refusal(offsetof(struct shmq_offsets_hdr, queues), &big, 4, SHMQ_ECORRUPT);
	expect_refusal(offsetof(struct shmq_offsets_hdr, queues), &huge, 4, SHMQ_ECORRUPT);
}

static void test_attach_refuses_a_wrong_file_size(void **state)
{
	(void)state;
	struct shmq_offsets_map m;
	off_t sizes[] = {0, 10, 63, (off_t)SHMQ_OFFSETS_FILE_SIZE(4) - 1, (off_t)SHMQ_OFFSETS_FILE_SIZE(4) + 64,
			 (off_t)SHMQ_OFFSETS_FILE_SIZE(SHMQ_OFFSETS_QUEUES_MAX) + 64};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		make_table(4);
		assert_int_equal(truncate(path, sizes[i]), 0);
		assert_int_equal(attach_path(&m), SHMQ_ECORRUPT);
		assert_int_equal(unlink(path), 0);
	}
	/* not a regular file, not a descriptor */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(shmq_offsets_attach_fd(dfd, &m), SHMQ_ECORRUPT);
	close(dfd);
	assert_int_equal(shmq_offsets_attach_fd(-1, &m), -EINVAL);
}

static void test_attach_survives_random_headers(void **state)
{
	(void)state;
	const char *se = getenv("SHMQ_TEST_SEED"); /* reproduce a failing run */
	unsigned seed = se ? (unsigned)strtoul(se, NULL, 10) : (unsigned)getpid() ^ (unsigned)time(NULL);
	printf("seed %u (SHMQ_TEST_SEED=%u reproduces)\n", seed, seed);
	srand(seed);
	int iters = 200 * (getenv("SHMQ_STRESS_SCALE") ? atoi(getenv("SHMQ_STRESS_SCALE")) : 1);
	make_table(4);
	for (int i = 0; i < iters; i++) {
		unsigned char h[64];
		for (size_t k = 0; k < sizeof(h); k++)
			h[k] = (unsigned char)rand();
		if (i % 2) { /* keep the format words, randomise the rest */
			struct shmq_offsets_hdr v = {.magic = SHMQ_OFFSETS_MAGIC, .version = SHMQ_OFFSETS_VERSION,
						     .hdr_len = 64, .fingerprint = SHMQ_OFFSETS_FINGERPRINT};
			memcpy(h, &v, 8);
			memcpy(h + 16, &v.fingerprint, 8);
		}
		uint32_t q;
		memcpy(&q, h + 8, 4);
		patch(0, h, sizeof(h));
		struct shmq_offsets_map m;
		int r = attach_path(&m);
		if (r == 0) {
			assert_int_equal(m.queues, 4); /* only the true count fits the file */
			shmq_offsets_unmap(&m);
		} else {
			assert_true(r == SHMQ_ELAYOUT || r == SHMQ_ECORRUPT);
			if (i % 2)
				assert_true(q != 4);
		}
	}
}

static void test_unmap_accepts_null_and_a_second_call(void **state)
{
	(void)state;
	struct shmq_offsets_map m;
	shmq_offsets_unmap(NULL);
	assert_int_equal(shmq_offsets_create(path, 1, &m), 0);
	shmq_offsets_unmap(&m);
	shmq_offsets_unmap(&m);
	/* a map that was never filled: its fd must not be closed */
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	memset(&m, 0, sizeof(m));
	m.fd = fd;
	shmq_offsets_unmap(&m);
	assert_true(fcntl(fd, F_GETFD) >= 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_makes_a_table_with_nothing_committed_and_no_owner, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_adopts_a_valid_table_of_the_same_queue_count_keeping_its_words, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_replaces_a_table_of_another_queue_count_with_a_new_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_replaces_garbage_and_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_refuses_a_queue_count_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_shares_the_words_and_owns_a_dup_of_the_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_refuses_a_foreign_magic_version_header_or_fingerprint, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_refuses_a_queue_count_that_disagrees_with_the_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_refuses_a_wrong_file_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attach_survives_random_headers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmap_accepts_null_and_a_second_call, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
