/* SPDX-License-Identifier: Apache-2.0 */
/* Commitlog records and segments through the store facade (store.h S1, S2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "broker/store/commitlog.h"
#include "store_test_util.h"

struct fx {
	char *dir;
	shmq_store_t *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = make_tmpdir();
	TEST_OPTS(o, f->dir);
	if (shmq_store_open(&o, &f->s, NULL) != 0)
		return -1;
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

static void test_record_round_trips_every_field(void **state)
{
	struct fx *f = *state;
	uint8_t body[300];
	fill_body(body, sizeof(body), 7);
	struct shmq_store_prop props[] = { { "color", "blue" }, { "empty", "" } };
	struct shmq_store_msg m = {
		.topic = "orders", .queue_id = 3, .flags = 0xa5a5, .body = body,
		.body_len = sizeof(body), .keys = "k1 k2", .tags = "tagA", .props = props,
		.nprops = 2, .born_ts_ms = 1111, .born_host = 0x7f0000011234ull,
		.producer_id = 42, .producer_seq = 99, .reconsume_times = 2,
		.prepared_tx_offset = 4096, .store_ts_ms = 2222,
	};
	struct shmq_store_result r;
	assert_int_equal(shmq_store_append(f->s, &m, 1, &r), 1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.queue_offset, 0);
	assert_int_equal(r.size % 8, 0);

	struct shmq_store_view v;
	assert_int_equal(shmq_store_read(f->s, r.commitlog_offset, &v), 0);
	assert_int_equal(v.commitlog_offset, r.commitlog_offset);
	assert_int_equal(v.size, r.size);
	assert_int_equal(v.queue_id, 3);
	assert_int_equal(v.flags, 0xa5a5);
	assert_int_equal(v.reconsume_times, 2);
	assert_int_equal(v.queue_offset, 0);
	assert_int_equal(v.born_ts_ms, 1111);
	assert_int_equal(v.store_ts_ms, 2222);
	assert_int_equal(v.born_host, 0x7f0000011234ull);
	assert_int_equal(v.producer_id, 42);
	assert_int_equal(v.producer_seq, 99);
	assert_int_equal(v.prepared_tx_offset, 4096);
	assert_int_equal(v.body_len, sizeof(body));
	assert_memory_equal(v.body, body, sizeof(body));
	assert_int_equal(v.topic_len, 6);
	assert_memory_equal(v.topic, "orders", 6);
	assert_int_equal(v.keys_len, 5);
	assert_memory_equal(v.keys, "k1 k2", 5);
	assert_int_equal(v.tags_len, 4);
	assert_memory_equal(v.tags, "tagA", 4);
	const char *val;
	uint32_t vl;
	assert_int_equal(shmq_store_view_prop(&v, "color", &val, &vl), 0);
	assert_int_equal(vl, 4);
	assert_memory_equal(val, "blue", 4);
	assert_int_equal(shmq_store_view_prop(&v, "empty", &val, &vl), 0);
	assert_int_equal(vl, 0);
	assert_int_equal(shmq_store_view_prop(&v, "nope", &val, &vl), SHMQ_ENOTFOUND);
	shmq_store_view_release(f->s, &v);

	/* the message id names the same record */
	assert_int_equal(shmq_store_read_msgid(f->s, r.msg_id, &v), 0);
	assert_int_equal(v.commitlog_offset, r.commitlog_offset);
	shmq_store_view_release(f->s, &v);
}

static void test_segment_rolls_with_filler_record(void **state)
{
	struct fx *f = *state;
	uint8_t body[1000];
	struct shmq_store_msg m = { .topic = "roll", .body = body, .body_len = sizeof(body) };
	struct shmq_store_result r;
	uint64_t prev_end = 0;
	unsigned n = 3 * TEST_SEG / 1000;
	bool rolled = false;
	for (unsigned i = 0; i < n; i++) {
		fill_body(body, sizeof(body), i);
		assert_int_equal(shmq_store_append(f->s, &m, 1, &r), 1);
		assert_int_equal(r.queue_offset, i);
		if (r.commitlog_offset != prev_end) {
			/* the gap is a filler and the record opens the next segment */
			assert_int_equal(r.commitlog_offset % TEST_SEG, 0);
			assert_int_equal(shmq_store_next_offset(f->s, prev_end), r.commitlog_offset);
			struct shmq_store_view v;
			assert_int_equal(shmq_store_read(f->s, prev_end, &v), SHMQ_ENOTFOUND);
			rolled = true;
		}
		/* a record never straddles two segments */
		assert_int_equal(r.commitlog_offset / TEST_SEG,
				 (r.commitlog_offset + r.size - 1) / TEST_SEG);
		prev_end = r.commitlog_offset + r.size;
	}
	assert_true(rolled);
	/* every record reads back through its queue offset */
	for (unsigned i = 0; i < n; i++) {
		struct shmq_store_view v;
		assert_int_equal(shmq_store_read_queue(f->s, "roll", 0, i, &v), 0);
		fill_body(body, sizeof(body), i);
		assert_memory_equal(v.body, body, sizeof(body));
		shmq_store_view_release(f->s, &v);
	}
	char p[PATH_MAX];
	seg_path(p, sizeof(p), f->dir, 2 * TEST_SEG);
	assert_int_equal(access(p, F_OK), 0);
}

static void test_message_above_max_size_is_rejected_with_etoobig(void **state)
{
	struct fx *f = *state;
	static uint8_t body[20000];
	struct shmq_store_msg m = { .topic = "big", .body = body, .body_len = sizeof(body) };
	struct shmq_store_result r;
	uint64_t before = shmq_store_max_offset(f->s);
	assert_int_equal(shmq_store_append(f->s, &m, 1, &r), SHMQ_ETOOBIG);
	assert_int_equal(r.status, SHMQ_ETOOBIG);
	assert_int_equal(shmq_store_max_offset(f->s), before);
	/* just under the limit is fine */
	m.body_len = 16384 - 96 - 8;
	assert_int_equal(shmq_store_append(f->s, &m, 1, &r), 1);
}

static void test_batch_append_assigns_consecutive_offsets_and_stops_at_first_error(void **state)
{
	struct fx *f = *state;
	struct shmq_store_msg m[6];
	struct shmq_store_result r[6];
	char body[6][64];
	static uint8_t big[20000];
	for (int i = 0; i < 6; i++) {
		snprintf(body[i], sizeof(body[i]), "message %d", i);
		m[i] = (struct shmq_store_msg){ .topic = i % 2 ? "odd" : "even", .body = body[i],
						.body_len = (uint32_t)strlen(body[i]) };
	}
	assert_int_equal(shmq_store_append(f->s, m, 4, r), 4);
	assert_int_equal(r[0].queue_offset, 0);
	assert_int_equal(r[1].queue_offset, 0);
	assert_int_equal(r[2].queue_offset, 1);
	assert_int_equal(r[3].queue_offset, 1);
	for (int i = 1; i < 4; i++)
		assert_int_equal(r[i].commitlog_offset, r[i - 1].commitlog_offset + r[i - 1].size);
	/* message 5 is too big: 4 (index 4) is stored, the batch stops at 5 */
	m[5].body = big;
	m[5].body_len = sizeof(big);
	assert_int_equal(shmq_store_append(f->s, m + 4, 2, r + 4), 1);
	assert_int_equal(r[5].status, SHMQ_ETOOBIG);
	assert_int_equal(r[4].queue_offset, 2);
	/* a bad topic is refused before anything is written */
	struct shmq_store_msg bad = { .topic = "../etc", .body = "x", .body_len = 1 };
	assert_int_equal(shmq_store_append(f->s, &bad, 1, r), -EINVAL);
}

static void test_read_by_offset_is_zero_copy_into_the_mapping(void **state)
{
	struct fx *f = *state;
	struct shmq_store_msg m = { .topic = "zc", .body = "hello", .body_len = 5 };
	struct shmq_store_result r;
	assert_int_equal(shmq_store_append(f->s, &m, 1, &r), 1);
	struct shmq_store_view a, b;
	assert_int_equal(shmq_store_read(f->s, r.commitlog_offset, &a), 0);
	assert_int_equal(shmq_store_read(f->s, r.commitlog_offset, &b), 0);
	assert_ptr_equal(a.raw, b.raw); /* same bytes, not two copies */
	assert_ptr_equal(a.body, (const uint8_t *)a.raw + 96);
	/* a write to the file is visible through the view: it is the mapping */
	char p[PATH_MAX];
	seg_path(p, sizeof(p), f->dir, r.commitlog_offset - r.commitlog_offset % TEST_SEG);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "J", 1, (off_t)(r.commitlog_offset % TEST_SEG) + 96), 1);
	close(fd);
	assert_int_equal(((const char *)a.body)[0], 'J');
	shmq_store_view_release(f->s, &a);
	shmq_store_view_release(f->s, &b);
	/* and now the CRC no longer matches */
	assert_int_equal(shmq_store_read(f->s, r.commitlog_offset, &a), SHMQ_ECRC);
}

static void test_crc_mismatch_in_header_is_detected(void **state)
{
	struct fx *f = *state;
	struct shmq_store_msg m = { .topic = "crc", .body = "payload", .body_len = 7 };
	struct shmq_store_result r;
	assert_int_equal(shmq_store_append(f->s, &m, 1, &r), 1);
	char p[PATH_MAX];
	seg_path(p, sizeof(p), f->dir, r.commitlog_offset - r.commitlog_offset % TEST_SEG);
	int fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	/* flip a bit of the producer id: the CRC covers the header too */
	off_t at = (off_t)(r.commitlog_offset % TEST_SEG) + 64;
	uint8_t c;
	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 1;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
	close(fd);
	struct shmq_store_view v;
	assert_int_equal(shmq_store_read(f->s, r.commitlog_offset, &v), SHMQ_ECRC);
	/* offsets that are not record boundaries are refused, not misparsed */
	assert_int_equal(shmq_store_read(f->s, r.commitlog_offset + 4, &v), SHMQ_ECORRUPT);
	assert_int_equal(shmq_store_read(f->s, r.commitlog_offset + 8, &v), SHMQ_ECORRUPT);
	assert_int_equal(shmq_store_read(f->s, shmq_store_max_offset(f->s), &v), SHMQ_ENOTFOUND);
}

static void test_decoder_rejects_garbage_without_reading_out_of_bounds(void **state)
{
	(void)state;
	uint8_t buf[512];
	struct shmq_store_view v;
	int reason;
	uint64_t seed = 12345;
	printf("seed %" PRIu64 "\n", seed);
	for (int it = 0; it < 20000; it++) {
		fill_body(buf, sizeof(buf), seed + (uint64_t)it);
		uint32_t sz = 96 + (uint32_t)(it % 400);
		memcpy(buf, &sz, 4);
		uint32_t magic = SHMQ_CL_MAGIC_MSG;
		if (it % 3)
			memcpy(buf + 4, &magic, 4);
		uint64_t avail = 8 + (uint64_t)(it % 63) * 8;
		int rc = shmq_cl_decode(buf, avail, 0, it % 2, &v, &reason);
		assert_true(rc == SHMQ_ECRC || rc == SHMQ_ECORRUPT || rc == SHMQ_CL_DEC_MSG ||
			    rc == SHMQ_CL_DEC_FILLER || rc == SHMQ_CL_DEC_END);
		if (rc == SHMQ_CL_DEC_MSG) {
			assert_true(v.size <= avail);
			assert_true((const uint8_t *)v.body + v.body_len <= buf + v.size);
			assert_true((const uint8_t *)v.props + v.props_len <= buf + v.size);
		}
	}
	/* a valid encoding decodes */
	struct shmq_store_msg m = { .topic = "t", .body = "abc", .body_len = 3, .keys = "a b" };
	int64_t sz = shmq_cl_encoded_size(&m);
	assert_true(sz > 0 && sz <= (int64_t)sizeof(buf));
	shmq_cl_encode(buf, (uint32_t)sz, &m, 5, 800, 77);
	assert_int_equal(shmq_cl_decode(buf, sizeof(buf), 800, true, &v, &reason), SHMQ_CL_DEC_MSG);
	assert_int_equal(v.queue_offset, 5);
	/* ... but not at another offset (the record states its own offset) */
	assert_int_equal(shmq_cl_decode(buf, sizeof(buf), 808, true, &v, &reason), SHMQ_ECORRUPT);
	assert_int_equal(reason, SHMQ_RECOVERY_BAD_FIELDS);
	/* nor when the segment ends inside it */
	assert_int_equal(shmq_cl_decode(buf, (uint64_t)sz - 8, 800, true, &v, &reason),
			 SHMQ_ECORRUPT);
	assert_int_equal(reason, SHMQ_RECOVERY_BAD_SIZE);
}

static void test_next_segment_is_prepared_ahead_by_the_flusher(void **state)
{
	(void)state;
	char *d = make_tmpdir();
	/* prefault on: the prepared segment is pre-touched off the append path */
	SHMQ_STORE_OPTS(o, .dir = d, .segment_size = TEST_SEG, .max_msg_size = 16384,
			.flush_interval_ms = 5);
	shmq_store_t *s;
	assert_int_equal(shmq_store_open(&o, &s, NULL), 0);
	static uint8_t body[1000];
	struct shmq_store_msg m = { .topic = "prep", .body = body, .body_len = sizeof(body) };
	struct shmq_store_result r;
	while (shmq_store_max_offset(s) < TEST_SEG * 3 / 4)
		assert_int_equal(shmq_store_append(s, &m, 1, &r), 1);
	assert_int_equal(shmq_store_flush(s), 0);
	struct shmq_store_stats st;
	for (int i = 0; i < 5000; i++) {
		shmq_store_stats(s, &st);
		if (st.segments_prepared)
			break;
		usleep(1000);
	}
	assert_int_equal(st.segments_prepared, 1);
	char p[PATH_MAX];
	seg_path(p, sizeof(p), d, TEST_SEG);
	assert_int_equal(access(p, F_OK), 0); /* exists before the appender needs it */
	uint64_t created = st.segments_created;
	while (shmq_store_max_offset(s) < TEST_SEG + 100)
		assert_int_equal(shmq_store_append(s, &m, 1, &r), 1);
	shmq_store_stats(s, &st);
	assert_int_equal(st.segments_created, created); /* the roll took the prepared one */
	assert_int_equal(r.commitlog_offset / TEST_SEG, 1);
	assert_int_equal(shmq_store_close(s), 0);
	shmq_test_rmtree(d);
	free(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_round_trips_every_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_segment_rolls_with_filler_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_above_max_size_is_rejected_with_etoobig,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_batch_append_assigns_consecutive_offsets_and_stops_at_first_error, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_read_by_offset_is_zero_copy_into_the_mapping,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_crc_mismatch_in_header_is_detected, setup,
						teardown),
		cmocka_unit_test(test_decoder_rejects_garbage_without_reading_out_of_bounds),
		cmocka_unit_test(test_next_segment_is_prepared_ahead_by_the_flusher),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
