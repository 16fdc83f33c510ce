/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the client's read-only commitlog view (client/logreader.c).
 * A real store (broker/store) is written in a scratch directory; its segment
 * and consumequeue files are opened directly and handed to the reader through
 * shmq_logreader_add_segment()/_add_cq(), the functions the OPEN_SEGMENT /
 * OPEN_CQ answers go through. Damaged copies of those files check that the
 * reader trusts none of their bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
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

#include "broker/store/cq_layout.h"
#include "client/client_int.h"
#include "tests/common/tmpdir.h"

#define SEG (64u * 1024u)
#define EPF 64u
#define NMSG 600u /* over 2 queues: ~10 segments, several CQ files per queue */

struct fx {
	char dir[64];
	shmq_store_t *s;
	uint64_t off[NMSG];
	uint64_t qo[NMSG];
	uint32_t size[NMSG];
	uint64_t seed;
};

static void body_of(uint64_t seed, unsigned i, uint8_t *b, uint32_t len)
{
	uint64_t x = seed ^ (i * 0x9e3779b97f4a7c15ull) ^ 1;
	for (uint32_t k = 0; k < len; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[k] = (uint8_t)x;
	}
}

static uint32_t len_of(unsigned i)
{
	return 200 + (i * 37) % 1500;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/shmq_client_lr_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	printf("seed %" PRIu64 "\n", f->seed);
	SHMQ_STORE_OPTS(so, .dir = f->dir, .segment_size = SEG, .no_prefault = true, .broker_id = 3,
			.cq_entries_per_file = EPF, .index_slots = 64, .index_max_entries = 256,
			.max_msg_size = 16384);
	assert_int_equal(shmq_store_open(&so, &f->s, NULL), 0);
	uint8_t body[2048];
	for (unsigned i = 0; i < NMSG; i++) {
		uint32_t len = len_of(i);
		body_of(f->seed, i, body, len);
		struct shmq_store_msg m = { .topic = "TopicA", .queue_id = i % 2, .body = body, .body_len = len,
					    .keys = "key", .producer_seq = i };
		struct shmq_store_result r;
		assert_int_equal(shmq_store_append(f->s, &m, 1, &r), 1);
		f->off[i] = r.commitlog_offset;
		f->qo[i] = r.queue_offset;
		f->size[i] = r.size;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	assert_int_equal(shmq_store_close(f->s), 0);
	shmq_test_rmtree(f->dir);
	free(f);
	return 0;
}

static int open_seg(const struct fx *f, uint64_t base)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/commitlog/%020" PRIu64, f->dir, base);
	return open(p, O_RDONLY | O_CLOEXEC);
}

static int open_cq(const struct fx *f, uint32_t queue, uint32_t file_index)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/consumequeue/TopicA/%u/%020" PRIu64, f->dir, queue,
		 (uint64_t)file_index * EPF);
	return open(p, O_RDONLY | O_CLOEXEC);
}

/* Feed every segment holding a message, as OPEN_SEGMENT answers would. */
static void feed_segments(struct fx *f, shmq_logreader_t *lr, uint64_t from_base)
{
	uint64_t end = shmq_store_max_offset(f->s);
	for (uint64_t base = from_base; base < end; base += SEG) {
		int fd = open_seg(f, base);
		assert_true(fd >= 0);
		struct shmq_ctl_open_segment_resp r = { .base_offset = base, .file_size = SEG,
							.written_end = end,
							.min_offset = shmq_store_min_offset(f->s) };
		assert_int_equal(shmq_logreader_add_segment(lr, fd, &r), 0);
		close(fd);
	}
}

static void feed_cq(struct fx *f, shmq_logreader_t *lr, uint32_t queue, uint32_t file_index)
{
	uint64_t min, max;
	assert_int_equal(shmq_store_queue_offsets(f->s, "TopicA", queue, &min, &max), 0);
	int fd = open_cq(f, queue, file_index);
	assert_true(fd >= 0);
	struct shmq_ctl_open_cq_resp r = { .file_index = file_index, .entries_per_file = EPF,
					   .min_queue_offset = min, .max_queue_offset = max };
	assert_int_equal(shmq_logreader_add_cq(lr, "TopicA", queue, fd, &r), 0);
	close(fd);
}

static void test_every_message_reads_back_through_consumequeue_and_segments(void **state)
{
	struct fx *f = *state;
	shmq_logreader_t *lr;
	assert_int_equal(shmq_logreader_create(NULL, &lr), 0);
	uint64_t nseg = (shmq_store_max_offset(f->s) + SEG - 1) / SEG;
	assert_true(nseg > 4);
	assert_true(nseg <= SHMQ_LR_SEGS_MAX); /* all cached at once below */
	feed_segments(f, lr, 0);
	for (uint32_t q = 0; q < 2; q++)
		for (uint32_t fi = 0; fi * EPF < NMSG / 2; fi++)
			feed_cq(f, lr, q, fi);
	uint64_t min, max;
	assert_int_equal(shmq_logreader_queue_bounds(lr, "TopicA", 1, &min, &max), 0);
	assert_int_equal(min, 0);
	assert_int_equal(max, NMSG / 2);
	uint8_t body[2048];
	for (unsigned i = 0; i < NMSG; i++) {
		uint64_t off;
		uint32_t size;
		assert_int_equal(shmq_logreader_cq_get(lr, "TopicA", i % 2, f->qo[i], &off, &size), 0);
		assert_int_equal(off, f->off[i]);
		assert_int_equal(size, f->size[i]);
		struct shmq_store_view v;
		assert_int_equal(shmq_logreader_read(lr, off, &v), 0);
		assert_null(v.pin_);
		assert_int_equal(v.queue_id, i % 2);
		assert_int_equal(v.queue_offset, f->qo[i]);
		assert_int_equal(v.producer_seq, i);
		assert_int_equal(v.body_len, len_of(i));
		body_of(f->seed, i, body, len_of(i));
		assert_memory_equal(v.body, body, len_of(i));
		assert_int_equal(v.topic_len, 6);
		assert_memory_equal(v.topic, "TopicA", 6);
	}
	shmq_logreader_destroy(lr);
}

static void test_offsets_past_the_end_or_below_the_oldest_are_refused(void **state)
{
	struct fx *f = *state;
	shmq_logreader_t *lr;
	assert_int_equal(shmq_logreader_create(NULL, &lr), 0);
	feed_segments(f, lr, 0);
	/* a CQ answer that says entries below 10 were deleted */
	int fd = open_cq(f, 0, 0);
	struct shmq_ctl_open_cq_resp r = { .file_index = 0, .entries_per_file = EPF, .min_queue_offset = 10,
					   .max_queue_offset = NMSG / 2 };
	assert_int_equal(shmq_logreader_add_cq(lr, "TopicA", 0, fd, &r), 0);
	close(fd);
	uint64_t off;
	uint32_t size;
	assert_int_equal(shmq_logreader_cq_get(lr, "TopicA", 0, 9, &off, &size), SHMQ_ESTALE);
	assert_int_equal(shmq_logreader_cq_get(lr, "TopicA", 0, 10, &off, &size), 0);
	assert_int_equal(shmq_logreader_cq_get(lr, "TopicA", 0, NMSG / 2, &off, &size), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_logreader_cq_get(lr, "TopicA", 0, UINT64_MAX, &off, &size), SHMQ_ENOTFOUND);
	/* a file we were not given (and no broker to ask) */
	assert_int_equal(shmq_logreader_cq_get(lr, "TopicA", 0, EPF + 1, &off, &size), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_logreader_cq_get(lr, "Other", 0, 0, &off, &size), SHMQ_ENOTFOUND);
	/* commitlog: at the written end, past every segment, unaligned */
	struct shmq_store_view v;
	uint64_t end = shmq_store_max_offset(f->s);
	int rc = shmq_logreader_read(lr, end, &v);
	assert_true(rc == SHMQ_ENOTFOUND);
	assert_int_equal(shmq_logreader_read(lr, end + 10 * SEG, &v), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_logreader_read(lr, f->off[1] + 4, &v), -EINVAL);
	/* inside a record (8-aligned, not a boundary): refused, never decoded
	 * (zero words there read as "no record", other bytes as corrupt) */
	for (uint64_t at = 8; at < f->size[1]; at += 8) {
		rc = shmq_logreader_read(lr, f->off[1] + at, &v);
		if (rc != SHMQ_ECORRUPT && rc != SHMQ_ECRC && rc != SHMQ_ENOTFOUND)
			fail_msg("read at +%" PRIu64 " gave %d", at, rc);
	}
	shmq_logreader_destroy(lr);
}

/* Copy a file into the scratch dir; returns an O_RDWR fd of the copy. */
static int copy_file(const struct fx *f, int src, const char *name)
{
	char p[256];
	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	int dst = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(dst >= 0);
	char buf[65536];
	ssize_t n;
	off_t at = 0;
	while ((n = pread(src, buf, sizeof(buf), at)) > 0) {
		assert_int_equal(pwrite(dst, buf, (size_t)n, at), n);
		at += n;
	}
	return dst;
}

static void test_damaged_segment_bytes_give_crc_or_corrupt_errors_never_a_crash(void **state)
{
	struct fx *f = *state;
	unsigned i = 3; /* a record in the first segment */
	assert_true(f->off[i] + f->size[i] <= SEG);
	int src = open_seg(f, 0);
	struct {
		uint64_t at;   /* byte offset in the record */
		uint32_t val;  /* 4 bytes written there */
		int want1, want2;
	} cases[] = {
		{ 100, 0xdeadbeef, SHMQ_ECRC, SHMQ_ECRC },              /* body bit flips */
		{ 0, 0x7ffffff8, SHMQ_ECORRUPT, SHMQ_ECORRUPT },       /* size past the segment */
		{ 0, 13, SHMQ_ECORRUPT, SHMQ_ECORRUPT },               /* size too small, unaligned */
		{ 4, 0x12345678, SHMQ_ECORRUPT, SHMQ_ECORRUPT },       /* magic */
		{ 88, 0xffffff00, SHMQ_ECRC, SHMQ_ECORRUPT },          /* body_len (CRC'd header) */
	};
	for (unsigned c = 0; c < SHMQ_ARRAY_SIZE(cases); c++) {
		int fd = copy_file(f, src, "seg.copy");
		assert_int_equal(pwrite(fd, &cases[c].val, 4, (off_t)(f->off[i] + cases[c].at)), 4);
		shmq_logreader_t *lr;
		assert_int_equal(shmq_logreader_create(NULL, &lr), 0);
		struct shmq_ctl_open_segment_resp r = { .base_offset = 0, .file_size = SEG,
							.written_end = shmq_store_max_offset(f->s) };
		assert_int_equal(shmq_logreader_add_segment(lr, fd, &r), 0);
		close(fd);
		struct shmq_store_view v;
		int rc = shmq_logreader_read(lr, f->off[i], &v);
		if (rc != cases[c].want1 && rc != cases[c].want2)
			fail_msg("case %u: got %d (%s)", c, rc, shmq_strerror(rc));
		/* the neighbours are intact */
		assert_int_equal(shmq_logreader_read(lr, f->off[i - 1], &v), 0);
		shmq_logreader_destroy(lr);
	}
	close(src);
}

static void test_segment_file_shorter_than_announced_is_never_read_past_its_end(void **state)
{
	struct fx *f = *state;
	int src = open_seg(f, 0);
	int fd = copy_file(f, src, "short.copy");
	close(src);
	/* cut the file in the middle of record 5 */
	unsigned i = 5;
	assert_int_equal(ftruncate(fd, (off_t)(f->off[i] + 40)), 0);
	shmq_logreader_t *lr;
	assert_int_equal(shmq_logreader_create(NULL, &lr), 0);
	struct shmq_ctl_open_segment_resp r = { .base_offset = 0, .file_size = SEG,
						.written_end = shmq_store_max_offset(f->s) };
	assert_int_equal(shmq_logreader_add_segment(lr, fd, &r), 0);
	close(fd);
	struct shmq_store_view v;
	assert_int_equal(shmq_logreader_read(lr, f->off[i - 1], &v), 0);
	int rc = shmq_logreader_read(lr, f->off[i], &v);
	assert_true(rc == SHMQ_ECORRUPT);
	/* beyond the mapped size: not in any segment we hold */
	assert_int_equal(shmq_logreader_read(lr, f->off[i + 2], &v), SHMQ_ENOTFOUND);
	shmq_logreader_destroy(lr);
}

static void test_garbage_consumequeue_entries_are_reported_corrupt(void **state)
{
	struct fx *f = *state;
	int src = open_cq(f, 0, 0);
	struct shmq_cq_entry_disk bad[] = {
		{ .commitlog_offset = 64, .size = 3, .tag_hash = 1 },          /* size below a header */
		{ .commitlog_offset = 65, .size = 128, .tag_hash = 1 },        /* unaligned offset */
		{ .commitlog_offset = UINT64_MAX - 7, .size = 128 },          /* offset + size overflows */
		{ .commitlog_offset = 64, .size = 0x7ffffff8 },                /* absurd size */
	};
	for (unsigned c = 0; c < SHMQ_ARRAY_SIZE(bad); c++) {
		int fd = copy_file(f, src, "cq.copy");
		assert_int_equal(pwrite(fd, &bad[c], sizeof(bad[c]), 2 * SHMQ_CQ_ENTRY_SIZE),
				 (ssize_t)sizeof(bad[c]));
		shmq_logreader_t *lr;
		assert_int_equal(shmq_logreader_create(NULL, &lr), 0);
		struct shmq_ctl_open_cq_resp r = { .file_index = 0, .entries_per_file = EPF,
						   .max_queue_offset = NMSG / 2 };
		assert_int_equal(shmq_logreader_add_cq(lr, "TopicA", 0, fd, &r), 0);
		close(fd);
		uint64_t off;
		uint32_t size;
		assert_int_equal(shmq_logreader_cq_get(lr, "TopicA", 0, 2, &off, &size), SHMQ_ECORRUPT);
		assert_int_equal(shmq_logreader_cq_get(lr, "TopicA", 0, 1, &off, &size), 0);
		shmq_logreader_destroy(lr);
	}
	close(src);
	/* answers that break the protocol's invariants are refused outright */
	shmq_logreader_t *lr;
	assert_int_equal(shmq_logreader_create(NULL, &lr), 0);
	int fd = open_cq(f, 0, 0);
	struct shmq_ctl_open_cq_resp r0 = { .entries_per_file = 0, .max_queue_offset = 1 };
	assert_int_equal(shmq_logreader_add_cq(lr, "TopicA", 0, fd, &r0), SHMQ_ECORRUPT);
	struct shmq_ctl_open_cq_resp r1 = { .entries_per_file = EPF, .min_queue_offset = 5, .max_queue_offset = 4 };
	assert_int_equal(shmq_logreader_add_cq(lr, "TopicA", 0, fd, &r1), SHMQ_ECORRUPT);
	struct shmq_ctl_open_segment_resp s0 = { .base_offset = UINT64_MAX - 10, .file_size = SEG };
	assert_int_equal(shmq_logreader_add_segment(lr, fd, &s0), SHMQ_ECORRUPT);
	close(fd);
	shmq_logreader_destroy(lr);
}

static void test_reader_keeps_a_bounded_number_of_segments_mapped(void **state)
{
	struct fx *f = *state;
	shmq_logreader_t *lr;
	assert_int_equal(shmq_logreader_create(NULL, &lr), 0);
	/* announce the same segment file at SHMQ_LR_SEGS_MAX + 4 bases: the
	 * oldest mappings are dropped (LRU), the newest stay */
	int fd = open_seg(f, 0);
	for (uint64_t k = 0; k < SHMQ_LR_SEGS_MAX + 4; k++) {
		struct shmq_ctl_open_segment_resp r = { .base_offset = k * SEG * 1000, .file_size = SEG,
							.written_end = (k + 1) * SEG * 1000 };
		assert_int_equal(shmq_logreader_add_segment(lr, fd, &r), 0);
	}
	close(fd);
	struct shmq_store_view v;
	/* record 0 sits at offset f->off[0] of every announced base; decode
	 * checks the record's own offset field, so only base 0 decodes */
	assert_int_equal(shmq_logreader_read(lr, f->off[0], &v), SHMQ_ENOTFOUND); /* evicted */
	uint64_t last = (uint64_t)(SHMQ_LR_SEGS_MAX + 3) * SEG * 1000;
	assert_int_equal(shmq_logreader_read(lr, last + f->off[0], &v), SHMQ_ECORRUPT); /* mapped */
	shmq_logreader_destroy(lr);
}

static void test_flushed_offset_without_broker_is_what_was_learned(void **state)
{
	(void)state;
	shmq_logreader_t *lr;
	assert_int_equal(shmq_logreader_create(NULL, &lr), 0);
	assert_int_equal(shmq_logreader_flushed(lr, true), 0);
	shmq_logreader_destroy(lr);
	shmq_logreader_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_every_message_reads_back_through_consumequeue_and_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offsets_past_the_end_or_below_the_oldest_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_segment_bytes_give_crc_or_corrupt_errors_never_a_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segment_file_shorter_than_announced_is_never_read_past_its_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_consumequeue_entries_are_reported_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_keeps_a_bounded_number_of_segments_mapped, setup, teardown),
		cmocka_unit_test(test_flushed_offset_without_broker_is_what_was_learned),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
