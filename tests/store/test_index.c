/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for broker/store/index (guarantees K1..K4 in index.h,
 * invariants X1..X3 in index_layout.h). */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/store/index.h"
#include "broker/store/index_layout.h"
#include "common/crc32c.h"
#include "shmq/error.h"
#include "tests/common/tmpdir.h"

#define ALL_TIME 0, UINT64_MAX

struct fixture {
	char root[64];
	char dir[128];
};


static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		return -1;
	snprintf(fx->root, sizeof(fx->root), "/tmp/shmq-ix-XXXXXX");
	if (mkdtemp(fx->root) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->dir, sizeof(fx->dir), "%s/store/index", fx->root);
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

static shmq_index_t *open_ix(struct fixture *fx, uint32_t slots, uint32_t max_entries)
{
	struct shmq_index_opts o = { .sz = sizeof(o), .slots = slots, .max_entries = max_entries };
	shmq_index_t *ix = NULL;
	assert_int_equal(shmq_index_open(fx->dir, &o, &ix), 0);
	assert_non_null(ix);
	return ix;
}

static int put(shmq_index_t *ix, const char *key, uint64_t off, uint64_t ts)
{
	return shmq_index_put(ix, key, strlen(key), off, ts);
}

static int query(shmq_index_t *ix, const char *key, uint64_t b, uint64_t e, uint64_t *out, unsigned max)
{
	return shmq_index_query(ix, key, strlen(key), b, e, out, max);
}

static char *file_path(const struct fixture *fx, uint64_t seq, char *buf, size_t n)
{
	snprintf(buf, n, "%s/%020llu", fx->dir, (unsigned long long)seq);
	return buf;
}

static void test_put_then_query_returns_offsets_newest_first(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 64, 128);
	uint64_t out[8];

	assert_int_equal(shmq_index_max_commitlog_offset(ix), 0);
	assert_int_equal(query(ix, "T#order-1", ALL_TIME, out, 8), 0);
	assert_int_equal(put(ix, "T#order-1", 100, 1000), 0);
	assert_int_equal(put(ix, "T#order-2", 200, 1001), 0);
	assert_int_equal(put(ix, "T#order-1", 300, 1002), 0);
	assert_int_equal(shmq_index_max_commitlog_offset(ix), 301);

	assert_int_equal(query(ix, "T#order-1", ALL_TIME, out, 8), 2);
	assert_int_equal(out[0], 300);
	assert_int_equal(out[1], 100);
	assert_int_equal(query(ix, "T#order-2", ALL_TIME, out, 8), 1);
	assert_int_equal(out[0], 200);
	assert_int_equal(query(ix, "T#order-3", ALL_TIME, out, 8), 0);
	/* the empty key is a key like any other */
	assert_int_equal(shmq_index_put(ix, "", 0, 400, 1003), 0);
	assert_int_equal(shmq_index_query(ix, "", 0, ALL_TIME, out, 8), 1);
	assert_int_equal(out[0], 400);
	assert_int_equal(shmq_index_flush(ix), 0);
	shmq_index_close(ix);
	shmq_index_close(NULL);
}

static void test_several_keys_of_one_message_each_find_it(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 64, 128);
	uint64_t out[4];
	static const char *keys[] = { "T#k1", "T#k2", "T#k3", "T#uniq-42" };

	for (int m = 0; m < 3; m++)
		for (size_t k = 0; k < 4; k++)
			assert_int_equal(put(ix, keys[k], 1000 + 100 * (uint64_t)m, 5000 + (uint64_t)m), 0);
	for (size_t k = 0; k < 4; k++) {
		assert_int_equal(query(ix, keys[k], ALL_TIME, out, 4), 3);
		assert_int_equal(out[0], 1200);
		assert_int_equal(out[1], 1100);
		assert_int_equal(out[2], 1000);
	}
	assert_int_equal(shmq_index_max_commitlog_offset(ix), 1201);
	shmq_index_close(ix);
}

static void test_keys_sharing_a_slot_chain_backwards_and_both_are_found(void **state)
{
	struct fixture *fx = *state;
	/* brute force two keys with the same slot but different hashes */
	const uint32_t slots = 7;
	char a[32], b[32];
	snprintf(a, sizeof(a), "T#key-0");
	uint64_t ha = shmq_index_key_hash(a, strlen(a));
	int i;
	for (i = 1; i < 1000; i++) {
		snprintf(b, sizeof(b), "T#key-%d", i);
		uint64_t hb = shmq_index_key_hash(b, strlen(b));
		if (hb % slots == ha % slots && hb != ha)
			break;
	}
	assert_true(i < 1000);

	shmq_index_t *ix = open_ix(fx, slots, 64);
	uint64_t out[8];
	assert_int_equal(put(ix, a, 10, 1), 0);
	assert_int_equal(put(ix, b, 20, 2), 0);
	assert_int_equal(put(ix, a, 30, 3), 0);
	assert_int_equal(put(ix, b, 40, 4), 0);
	/* the chain is b40 -> a30 -> b20 -> a10: each key gets only its own */
	assert_int_equal(query(ix, a, ALL_TIME, out, 8), 2);
	assert_int_equal(out[0], 30);
	assert_int_equal(out[1], 10);
	assert_int_equal(query(ix, b, ALL_TIME, out, 8), 2);
	assert_int_equal(out[0], 40);
	assert_int_equal(out[1], 20);
	shmq_index_close(ix);

	/* one slot: every key collides, every chain runs through all entries */
	struct fixture *fx2 = fx;
	snprintf(fx2->dir + strlen(fx2->dir), 8, "-1slot");
	ix = open_ix(fx2, 1, 256);
	for (uint64_t m = 0; m < 200; m++) {
		char k[16];
		snprintf(k, sizeof(k), "k%llu", (unsigned long long)(m % 5));
		assert_int_equal(put(ix, k, m * 10, m), 0);
	}
	for (uint64_t r = 0; r < 5; r++) {
		char k[16];
		uint64_t all[64];
		snprintf(k, sizeof(k), "k%llu", (unsigned long long)r);
		assert_int_equal(query(ix, k, ALL_TIME, all, 64), 40);
		for (int j = 0; j < 40; j++)
			assert_int_equal(all[j], ((uint64_t)(195 + r) - 5 * (uint64_t)j) * 10);
	}
	shmq_index_close(ix);
}

static void test_query_filters_by_time_bounds_inclusively(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 16, 128);
	uint64_t out[16];

	for (uint64_t m = 0; m < 10; m++)
		assert_int_equal(put(ix, "T#k", 100 * m, 10000 + 1000 * m), 0);
	assert_int_equal(query(ix, "T#k", 12000, 14000, out, 16), 3);
	assert_int_equal(out[0], 400);
	assert_int_equal(out[1], 300);
	assert_int_equal(out[2], 200);
	assert_int_equal(query(ix, "T#k", 12001, 13999, out, 16), 1);
	assert_int_equal(out[0], 300);
	assert_int_equal(query(ix, "T#k", 0, 9999, out, 16), 0);
	assert_int_equal(query(ix, "T#k", 19001, UINT64_MAX, out, 16), 0);
	assert_int_equal(query(ix, "T#k", 19000, 19000, out, 16), 1);
	assert_int_equal(query(ix, "T#k", 14000, 12000, out, 16), 0); /* empty range */
	/* a store clock that stepped back records the entry at the file's
	 * begin time, so it is still found by a range that covers it */
	assert_int_equal(put(ix, "T#back", 1000, 500), 0);
	assert_int_equal(query(ix, "T#back", 10000, 10000, out, 16), 1);
	shmq_index_close(ix);
}

static void test_query_stops_at_the_limit_with_the_newest(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 16, 8); /* limit also across files */
	uint64_t out[32];

	for (uint64_t m = 0; m < 20; m++)
		assert_int_equal(put(ix, "T#k", m, 100 + m), 0);
	memset(out, 0xee, sizeof(out));
	assert_int_equal(query(ix, "T#k", ALL_TIME, out, 3), 3);
	assert_int_equal(out[0], 19);
	assert_int_equal(out[2], 17);
	assert_int_equal(out[3], 0xeeeeeeeeeeeeeeeeull); /* nothing past the limit */
	assert_int_equal(query(ix, "T#k", ALL_TIME, out, 11), 11);
	assert_int_equal(out[10], 9);
	assert_int_equal(query(ix, "T#k", ALL_TIME, out, 0), 0);
	assert_int_equal(query(ix, "T#k", ALL_TIME, NULL, 0), 0);
	shmq_index_close(ix);
}

static void test_full_file_rolls_over_and_queries_span_files_and_reopen(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 4, 5);
	uint64_t out[64];

	for (uint64_t m = 0; m < 23; m++) {
		char k[16];
		snprintf(k, sizeof(k), "T#%llu", (unsigned long long)(m % 3));
		assert_int_equal(put(ix, k, 1000 + m, 50 + m), 0);
	}
	assert_int_equal(shmq_index_file_count(ix), 5); /* ceil(23 / 5) */
	assert_int_equal(query(ix, "T#1", ALL_TIME, out, 64), 8);
	for (int j = 0; j < 8; j++)
		assert_int_equal(out[j], 1000 + 22 - 3 * (uint64_t)j);
	/* a time window selecting the middle files only */
	assert_int_equal(query(ix, "T#1", 50 + 7, 50 + 13, out, 64), 3);
	assert_int_equal(out[0], 1013);
	assert_int_equal(out[2], 1007);
	assert_int_equal(shmq_index_flush(ix), 0);
	shmq_index_close(ix);

	/* reopen with other options: existing files keep their geometry */
	ix = open_ix(fx, 1000, 1000);
	assert_int_equal(shmq_index_file_count(ix), 5);
	assert_int_equal(shmq_index_max_commitlog_offset(ix), 1023);
	assert_int_equal(query(ix, "T#1", ALL_TIME, out, 64), 8);
	assert_int_equal(out[7], 1001);
	for (uint64_t m = 23; m < 30; m++)
		assert_int_equal(put(ix, "T#1", 1000 + m, 50 + m), 0);
	assert_int_equal(shmq_index_file_count(ix), 6); /* 2 in the old newest, then a big file */
	assert_int_equal(query(ix, "T#1", ALL_TIME, out, 64), 15);
	assert_int_equal(out[0], 1029);
	shmq_index_close(ix);
}

static void test_time_delta_overflow_starts_a_new_file(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 4, 100);
	uint64_t out[4];
	const uint64_t t0 = 1700000000000ull;

	assert_int_equal(put(ix, "T#k", 10, t0), 0);
	assert_int_equal(put(ix, "T#k", 20, t0 + UINT32_MAX), 0);
	assert_int_equal(shmq_index_file_count(ix), 1);
	assert_int_equal(put(ix, "T#k", 30, t0 + UINT32_MAX + 1ull), 0);
	assert_int_equal(shmq_index_file_count(ix), 2);
	assert_int_equal(query(ix, "T#k", t0 + UINT32_MAX, UINT64_MAX, out, 4), 2);
	assert_int_equal(out[0], 30);
	assert_int_equal(out[1], 20);
	shmq_index_close(ix);
}

static void test_replayed_puts_are_skipped(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 8, 64);
	uint64_t out[8];

	assert_int_equal(put(ix, "T#a", 100, 1), 0);
	assert_int_equal(put(ix, "T#b", 200, 2), 0);
	assert_int_equal(put(ix, "T#c", 200, 2), 0);
	/* K2: recovery replays both messages, all keys */
	assert_int_equal(put(ix, "T#a", 100, 1), 0);
	assert_int_equal(put(ix, "T#b", 200, 2), 0);
	assert_int_equal(put(ix, "T#c", 200, 2), 0);
	assert_int_equal(query(ix, "T#a", ALL_TIME, out, 8), 1);
	assert_int_equal(query(ix, "T#b", ALL_TIME, out, 8), 1);
	assert_int_equal(query(ix, "T#c", ALL_TIME, out, 8), 1);
	/* a new key of the newest message is still indexed */
	assert_int_equal(put(ix, "T#d", 200, 2), 0);
	assert_int_equal(query(ix, "T#d", ALL_TIME, out, 8), 1);
	assert_int_equal(shmq_index_put(ix, NULL, 3, 300, 3), -EINVAL);
	assert_int_equal(shmq_index_query(ix, NULL, 3, ALL_TIME, out, 8), -EINVAL);
	shmq_index_close(ix);
}

static void test_truncate_forgets_entries_at_or_past_the_end(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 3, 6);
	uint64_t out[64];

	/* 20 messages, keys k0..k3, offsets 100..2000, 4 files */
	for (uint64_t m = 1; m <= 20; m++) {
		char k[8];
		snprintf(k, sizeof(k), "k%llu", (unsigned long long)(m % 4));
		assert_int_equal(put(ix, k, 100 * m, m), 0);
		assert_int_equal(put(ix, "all", 100 * m, m), 0);
	}
	assert_int_equal(shmq_index_file_count(ix), 7); /* 40 entries / 6 */
	/* 3 messages per file; cut inside file 3 (messages 10..12): offsets
	 * >= 1150 go, i.e. message 12 and the 3 newer files */
	assert_int_equal(shmq_index_truncate(ix, 1150), 0);
	assert_true(shmq_index_max_commitlog_offset(ix) <= 1150);
	assert_int_equal(shmq_index_max_commitlog_offset(ix), 1101);
	assert_int_equal(shmq_index_file_count(ix), 4);
	assert_int_equal(query(ix, "all", ALL_TIME, out, 64), 11);
	assert_int_equal(out[0], 1100);
	static const int per_key[4] = { 2, 3, 3, 3 }; /* k0 lost message 12 */
	for (int r = 0; r < 4; r++) {
		char k[8];
		snprintf(k, sizeof(k), "k%d", r);
		int n = query(ix, k, ALL_TIME, out, 64);
		assert_int_equal(n, per_key[r]);
		for (int j = 0; j < n; j++)
			assert_true(out[j] < 1150);
	}
	/* time bounds of the trimmed file follow its remaining entries */
	assert_int_equal(query(ix, "all", 12, UINT64_MAX, out, 64), 0);
	assert_int_equal(query(ix, "all", 11, UINT64_MAX, out, 64), 1);
	/* puts resume after the cut; a reopen agrees */
	assert_int_equal(put(ix, "k1", 1200, 12), 0);
	assert_int_equal(put(ix, "all", 1200, 12), 0);
	assert_int_equal(shmq_index_flush(ix), 0);
	shmq_index_close(ix);
	ix = open_ix(fx, 3, 6);
	assert_int_equal(shmq_index_max_commitlog_offset(ix), 1201);
	assert_int_equal(query(ix, "all", ALL_TIME, out, 64), 12);
	assert_int_equal(out[0], 1200);
	assert_int_equal(out[1], 1100);
	assert_int_equal(query(ix, "k1", ALL_TIME, out, 64), 4);
	assert_int_equal(out[0], 1200);
	assert_int_equal(out[1], 900);
	/* cut at a message boundary that is also a file start, then all */
	assert_int_equal(shmq_index_truncate(ix, 100), 0);
	assert_int_equal(shmq_index_max_commitlog_offset(ix), 0);
	assert_int_equal(query(ix, "all", ALL_TIME, out, 64), 0);
	assert_int_equal(put(ix, "all", 100, 1), 0);
	assert_int_equal(query(ix, "all", ALL_TIME, out, 64), 1);
	shmq_index_close(ix);
}

static void test_delete_before_removes_whole_old_files_and_keeps_newest(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 4, 4);
	uint64_t out[32];
	char p[PATH_MAX];

	for (uint64_t m = 0; m < 14; m++)
		assert_int_equal(put(ix, "T#k", 10 * m, m), 0);
	assert_int_equal(shmq_index_file_count(ix), 4); /* 0-30, 40-70, 80-110, 120-130 */
	assert_int_equal(shmq_index_delete_before(ix, 30), 0);
	assert_int_equal(shmq_index_delete_before(ix, 31), 1);
	assert_int_equal(access(file_path(fx, 0, p, sizeof(p)), F_OK), -1);
	assert_int_equal(query(ix, "T#k", ALL_TIME, out, 32), 10);
	assert_int_equal(out[9], 40);
	assert_int_equal(shmq_index_delete_before(ix, UINT64_MAX), 2);
	assert_int_equal(shmq_index_file_count(ix), 1);
	assert_int_equal(query(ix, "T#k", ALL_TIME, out, 32), 2);
	assert_int_equal(shmq_index_max_commitlog_offset(ix), 131);
	assert_int_equal(shmq_index_flush(ix), 0);
	shmq_index_close(ix);
	ix = open_ix(fx, 4, 4);
	assert_int_equal(shmq_index_file_count(ix), 1);
	assert_int_equal(put(ix, "T#k", 140, 14), 0);
	assert_int_equal(query(ix, "T#k", ALL_TIME, out, 32), 3);
	shmq_index_close(ix);
}

static void write_at(const char *path, off_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void read_header(const char *path, struct shmq_index_header_disk *h)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, h, sizeof(*h), 0), (ssize_t)sizeof(*h));
	close(fd);
}

static void expect_open_fails(struct fixture *fx, int status)
{
	shmq_index_t *ix = (shmq_index_t *)fx; /* must be reset to NULL */
	assert_int_equal(shmq_index_open(fx->dir, NULL, &ix), status);
	assert_null(ix);
}

static void test_open_rejects_a_corrupt_header(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 4, 4);
	char p[PATH_MAX];
	struct shmq_index_header_disk good, h;

	assert_int_equal(put(ix, "T#k", 10, 1), 0);
	shmq_index_close(ix);
	file_path(fx, 0, p, sizeof(p));
	read_header(p, &good);

	/* every immutable byte is covered by magic or CRC */
	for (size_t b = 0; b < offsetof(struct shmq_index_header_disk, entry_count); b++) {
		h = good;
		((unsigned char *)&h)[b] ^= 0x10;
		write_at(p, 0, &h, sizeof(h));
		expect_open_fails(fx, SHMQ_ECORRUPT);
	}
	/* another version, with a valid CRC */
	h = good;
	h.version = SHMQ_INDEX_VERSION + 1;
	h.geometry_crc = shmq_crc32c(0, &h, offsetof(struct shmq_index_header_disk, geometry_crc));
	write_at(p, 0, &h, sizeof(h));
	expect_open_fails(fx, SHMQ_ELAYOUT);
	/* geometry that disagrees with the file size, with a valid CRC */
	h = good;
	h.slot_count = 5;
	h.geometry_crc = shmq_crc32c(0, &h, offsetof(struct shmq_index_header_disk, geometry_crc));
	write_at(p, 0, &h, sizeof(h));
	expect_open_fails(fx, SHMQ_ECORRUPT);
	/* more entries than the file holds */
	h = good;
	h.entry_count = 5;
	write_at(p, 0, &h, sizeof(h));
	expect_open_fails(fx, SHMQ_ECORRUPT);
	/* inverted offset range */
	h = good;
	h.begin_offset = 11;
	write_at(p, 0, &h, sizeof(h));
	expect_open_fails(fx, SHMQ_ECORRUPT);
	/* repaired header: fine again */
	write_at(p, 0, &good, sizeof(good));
	ix = open_ix(fx, 4, 4);
	shmq_index_close(ix);
	/* a file too short for a header */
	assert_int_equal(truncate(p, 10), 0);
	expect_open_fails(fx, SHMQ_ECORRUPT);
}

static void test_open_discards_unpublished_tmp_file_and_ignores_other_names(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 4, 4);
	char p[PATH_MAX];

	assert_int_equal(put(ix, "T#k", 10, 1), 0);
	shmq_index_close(ix);
	/* a roll cut short by a crash leaves <seq>.tmp: never published */
	snprintf(p, sizeof(p), "%s/%020u.tmp", fx->dir, 1u);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs("half-built", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/README", fx->dir);
	f = fopen(p, "w");
	assert_non_null(f);
	fclose(f);

	ix = open_ix(fx, 4, 4);
	snprintf(p, sizeof(p), "%s/%020u.tmp", fx->dir, 1u);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(shmq_index_file_count(ix), 1);
	assert_int_equal(shmq_index_max_commitlog_offset(ix), 11);
	for (uint64_t m = 2; m <= 5; m++) /* rolls into file 1 */
		assert_int_equal(put(ix, "T#k", 10 * m, m), 0);
	assert_int_equal(shmq_index_file_count(ix), 2);
	uint64_t out[8];
	assert_int_equal(query(ix, "T#k", ALL_TIME, out, 8), 5);
	shmq_index_close(ix);
}

static off_t entry_field(uint32_t slots, uint32_t n, size_t field)
{
	return (off_t)(SHMQ_INDEX_HEADER_SIZE + slots * SHMQ_INDEX_SLOT_SIZE +
		       (n - 1) * SHMQ_INDEX_ENTRY_SIZE + field);
}

static void test_chain_cycles_and_out_of_range_links_end_the_walk(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 1, 16);
	char p[PATH_MAX];
	uint64_t out[64];
	uint32_t v;

	for (uint64_t m = 1; m <= 10; m++)
		assert_int_equal(put(ix, "k", 100 * m, m), 0);
	shmq_index_close(ix);
	file_path(fx, 0, p, sizeof(p));

	/* X2: entry 3 links forward to 8 (a cycle 8 -> ... -> 3 -> 8) */
	v = 8;
	write_at(p, entry_field(1, 3, offsetof(struct shmq_index_entry_disk, prev)), &v, 4);
	ix = open_ix(fx, 1, 16);
	assert_int_equal(query(ix, "k", ALL_TIME, out, 64), 8); /* 10..3, once each */
	assert_int_equal(out[7], 300);
	/* a put links after a head that is fine; the walk still ends */
	assert_int_equal(put(ix, "k", 1100, 11), 0);
	assert_int_equal(query(ix, "k", ALL_TIME, out, 64), 9);
	shmq_index_close(ix);

	/* X3: an offset outside the file's [begin, last] is never returned */
	uint64_t bad = 5;
	write_at(p, entry_field(1, 6, offsetof(struct shmq_index_entry_disk, commitlog_offset)), &bad, 8);
	ix = open_ix(fx, 1, 16);
	int c = query(ix, "k", ALL_TIME, out, 64);
	assert_int_equal(c, 8);
	for (int j = 0; j < c; j++)
		assert_true(out[j] >= 100 && out[j] <= 1100);
	shmq_index_close(ix);

	/* a slot pointing past entry_count (or anywhere) finds nothing */
	static const uint32_t heads[] = { 12, 16, 17, 0xffffffffu };
	for (size_t i = 0; i < SHMQ_ARRAY_SIZE(heads); i++) {
		write_at(p, SHMQ_INDEX_HEADER_SIZE, &heads[i], 4);
		ix = open_ix(fx, 1, 16);
		assert_int_equal(query(ix, "k", ALL_TIME, out, 64), 0);
		/* a put after a garbage head starts a fresh chain */
		assert_int_equal(put(ix, "k", 1200, 12), 0);
		assert_int_equal(query(ix, "k", ALL_TIME, out, 64), 1);
		assert_int_equal(out[0], 1200);
		assert_int_equal(shmq_index_truncate(ix, 1200), 0);
		shmq_index_close(ix);
	}
}

static void test_entries_past_a_lost_entry_count_are_ignored_then_overwritten(void **state)
{
	struct fixture *fx = *state;
	shmq_index_t *ix = open_ix(fx, 4, 4);
	char p[PATH_MAX];
	uint64_t out[8];

	for (uint64_t m = 1; m <= 6; m++) /* file 0: 1..4, file 1: 5, 6 */
		assert_int_equal(put(ix, "k", 10 * m, m), 0);
	shmq_index_close(ix);
	/* a crash kept file 1's entries and slots but not its header update */
	uint32_t zero = 0;
	write_at(file_path(fx, 1, p, sizeof(p)), offsetof(struct shmq_index_header_disk, entry_count),
		 &zero, 4);
	ix = open_ix(fx, 4, 4);
	assert_int_equal(shmq_index_max_commitlog_offset(ix), 41);
	assert_int_equal(query(ix, "k", ALL_TIME, out, 8), 4);
	assert_int_equal(out[0], 40);
	/* the store re-puts from 41: entry 1 of file 1 is rewritten and its
	 * slot no longer leads to the stale entry 2 */
	assert_int_equal(put(ix, "k", 50, 5), 0);
	assert_int_equal(query(ix, "k", ALL_TIME, out, 8), 5);
	assert_int_equal(out[0], 50);
	assert_int_equal(out[1], 40);
	assert_int_equal(shmq_index_file_count(ix), 2);
	shmq_index_close(ix);
}

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* xorshift64*: reproducible from the printed seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static int stress_scale(void)
{
	const char *s = getenv("SHMQ_STRESS_SCALE");
	int v = s ? atoi(s) : 1;
	return v > 0 ? v : 1;
}

static void test_garbage_over_slots_and_entries_never_crashes_or_returns_out_of_range(void **state)
{
	struct fixture *fx = *state;
	const uint32_t slots = 16, max_entries = 64;
	const size_t bytes = SHMQ_INDEX_HEADER_SIZE + slots * SHMQ_INDEX_SLOT_SIZE +
			     max_entries * SHMQ_INDEX_ENTRY_SIZE;
	uint64_t seed = ((uint64_t)time(NULL) << 16) ^ (uint64_t)getpid();
	char p[PATH_MAX];
	int rounds = 200 * stress_scale();

	printf("# seed %llu\n", (unsigned long long)seed);
	rng_state = seed | 1;
	file_path(fx, 0, p, sizeof(p));
	for (int r = 0; r < rounds; r++) {
		shmq_index_t *ix = open_ix(fx, slots, max_entries);
		/* offsets 1000..1000+10*(n-1); 2 files when n > 64 */
		unsigned n = 20 + (unsigned)(rng_next() % 60);
		for (unsigned m = 0; m < n; m++) {
			char k[8];
			snprintf(k, sizeof(k), "k%u", m % 9);
			assert_int_equal(put(ix, k, 1000 + 10 * (uint64_t)m, 500 + m), 0);
		}
		shmq_index_close(ix);

		/* scribble over slots and entries of the first file: random
		 * bytes, or plausible small numbers (slot/prev values that
		 * form cycles and point past entry_count) */
		unsigned writes = 1 + (unsigned)(rng_next() % 8);
		for (unsigned w = 0; w < writes; w++) {
			unsigned char junk[64];
			size_t len = 1 + rng_next() % sizeof(junk);
			size_t off = SHMQ_INDEX_HEADER_SIZE + rng_next() % (bytes - SHMQ_INDEX_HEADER_SIZE);
			if (off + len > bytes)
				len = bytes - off;
			for (size_t j = 0; j < len; j++)
				junk[j] = (unsigned char)rng_next();
			unsigned mode = (unsigned)(rng_next() % 3);
			if (mode == 1)
				for (size_t j = 0; j + 4 <= len; j += 4) {
					uint32_t v = (uint32_t)(rng_next() % (max_entries + 3));
					memcpy(junk + j, &v, 4);
				}
			if (mode == 2) {
				/* one entry's prev: often a forward link (cycle) */
				uint32_t e = 1 + (uint32_t)(rng_next() % max_entries);
				uint32_t v = (uint32_t)(rng_next() % (max_entries + 3));
				off = SHMQ_INDEX_HEADER_SIZE + slots * SHMQ_INDEX_SLOT_SIZE +
				      (e - 1) * SHMQ_INDEX_ENTRY_SIZE + offsetof(struct shmq_index_entry_disk, prev);
				memcpy(junk, &v, 4);
				len = 4;
			}
			write_at(p, (off_t)off, junk, len);
		}

		ix = open_ix(fx, slots, max_entries);
		for (unsigned q = 0; q < 10; q++) {
			char k[8];
			uint64_t out[128];
			snprintf(k, sizeof(k), "k%u", q);
			unsigned lim = 1 + (unsigned)(rng_next() % 128);
			int c = query(ix, k, ALL_TIME, out, lim);
			assert_true(c >= 0 && (unsigned)c <= lim);
			for (int j = 0; j < c; j++)
				assert_true(out[j] >= 1000 && out[j] <= 1000 + 10 * (uint64_t)(n - 1));
		}
		/* mutators on a scribbled file stay in bounds too */
		assert_int_equal(put(ix, "k0", 1000 + 10 * (uint64_t)n, 500 + n), 0);
		assert_int_equal(shmq_index_truncate(ix, 1000 + 10 * (uint64_t)(rng_next() % (n + 1))), 0);
		uint64_t out[128];
		int c = query(ix, "k1", ALL_TIME, out, 128);
		assert_true(c >= 0 && c <= 128);
		shmq_index_close(ix);

		/* fresh directory contents for the next round */
		for (uint64_t s = 0; s < 4; s++) {
			char q[PATH_MAX];
			unlink(file_path(fx, s, q, sizeof(q)));
		}
	}
}

struct conc {
	shmq_index_t *ix;
	atomic_bool done;
};

static void *conc_querier(void *arg)
{
	struct conc *c = arg;
	uint64_t out[64];

	while (!atomic_load_explicit(&c->done, memory_order_acquire)) {
		uint64_t max = shmq_index_max_commitlog_offset(c->ix);
		int n = query(c->ix, "k3", ALL_TIME, out, 64);
		if (n < 0)
			return (void *)1;
		/* puts are in offset order: anything found is a k3 offset, and
		 * everything up to the max we loaded first must be there */
		uint64_t expect = 0;
		for (uint64_t o = 0; o < max; o++)
			if (o % 7 == 3)
				expect++;
		if ((uint64_t)n < (expect < 64 ? expect : 64))
			return (void *)2;
		for (int j = 0; j < n; j++)
			if (out[j] % 7 != 3 || (j > 0 && out[j] >= out[j - 1]))
				return (void *)3;
		if (shmq_index_flush(c->ix) != 0)
			return (void *)4;
		sched_yield(); /* 2 cores: let the writer run */
	}
	return NULL;
}

static void test_queries_and_flushes_run_concurrently_with_puts(void **state)
{
	struct fixture *fx = *state;
	struct conc c = { .ix = open_ix(fx, 64, 512) };
	pthread_t t;
	uint64_t total = 5000 * (uint64_t)stress_scale();

	atomic_init(&c.done, false);
	assert_int_equal(pthread_create(&t, NULL, conc_querier, &c), 0);
	for (uint64_t o = 0; o < total; o++) {
		char k[8];
		snprintf(k, sizeof(k), "k%llu", (unsigned long long)(o % 7));
		assert_int_equal(put(c.ix, k, o, 1000 + o), 0);
	}
	atomic_store_explicit(&c.done, true, memory_order_release);
	void *rr;
	pthread_join(t, &rr);
	assert_null(rr);
	shmq_index_close(c.ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_then_query_returns_offsets_newest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_several_keys_of_one_message_each_find_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_sharing_a_slot_chain_backwards_and_both_are_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_filters_by_time_bounds_inclusively, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_stops_at_the_limit_with_the_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_file_rolls_over_and_queries_span_files_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_delta_overflow_starts_a_new_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replayed_puts_are_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_forgets_entries_at_or_past_the_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_before_removes_whole_old_files_and_keeps_newest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_rejects_a_corrupt_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_discards_unpublished_tmp_file_and_ignores_other_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queries_and_flushes_run_concurrently_with_puts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_cycles_and_out_of_range_links_end_the_walk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_entries_past_a_lost_entry_count_are_ignored_then_overwritten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_over_slots_and_entries_never_crashes_or_returns_out_of_range, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
