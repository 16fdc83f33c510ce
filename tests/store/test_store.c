/* SPDX-License-Identifier: Apache-2.0 */
/* The store facade: lookups by queue, time, key and message id; offsets;
 * exclusive open; restart. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>
#include <cmocka.h>

#include "store_test_util.h"

struct fx {
	char *dir;
	shmq_store_t *s;
};

static shmq_store_t *open_store(const char *dir, uint32_t broker_id)
{
	TEST_OPTS(o, dir, .broker_id = broker_id);
	shmq_store_t *s;
	assert_int_equal(shmq_store_open(&o, &s, NULL), 0);
	return s;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	f->dir = make_tmpdir();
	f->s = open_store(f->dir, 7);
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

static struct shmq_store_result put(shmq_store_t *s, const char *topic, uint32_t q,
				    const char *keys, uint64_t ts, const char *body)
{
	struct shmq_store_msg m = { .topic = topic, .queue_id = q, .keys = keys, .store_ts_ms = ts,
				    .body = body, .body_len = (uint32_t)strlen(body), .tags = "TagA" };
	struct shmq_store_result r;
	assert_int_equal(shmq_store_append(s, &m, 1, &r), 1);
	return r;
}

static void test_consumequeue_lookup_by_queue_offset_and_by_time(void **state)
{
	struct fx *f = *state;
	struct shmq_store_result r[10];
	for (int i = 0; i < 10; i++)
		r[i] = put(f->s, "time", 1, NULL, 1000u * (uint64_t)(i + 1), "x");
	struct shmq_store_cq_entry e;
	assert_int_equal(shmq_store_cq_get(f->s, "time", 1, 4, &e), 0);
	assert_int_equal(e.commitlog_offset, r[4].commitlog_offset);
	assert_int_equal(e.size, r[4].size);
	assert_int_equal(e.tag_hash, shmq_store_tag_hash("TagA", 4));
	assert_int_equal(shmq_store_cq_get(f->s, "time", 1, 10, &e), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_store_cq_get(f->s, "time", 2, 0, &e), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_store_cq_get(f->s, "nosuch", 1, 0, &e), SHMQ_ENOTFOUND);
	uint64_t q;
	assert_int_equal(shmq_store_queue_search_time(f->s, "time", 1, 4500, &q), 0);
	assert_int_equal(q, 4); /* the message stamped 5000 */
	assert_int_equal(shmq_store_queue_search_time(f->s, "time", 1, 0, &q), 0);
	assert_int_equal(q, 0);
	assert_int_equal(shmq_store_queue_search_time(f->s, "time", 1, 99999, &q), 0);
	assert_int_equal(q, 10);
	uint64_t mn, mx;
	assert_int_equal(shmq_store_queue_offsets(f->s, "time", 1, &mn, &mx), 0);
	assert_int_equal(mn, 0);
	assert_int_equal(mx, 10);
	assert_int_equal(shmq_store_queue_offsets(f->s, "time", 9, &mn, &mx), SHMQ_ENOTFOUND);
	/* an unreadable record is skipped instead of failing the search, and
	 * the answers for readable ones stay exact (4 is the corrupt one) */
	char path[512];
	uint64_t base = r[4].commitlog_offset / TEST_SEG * TEST_SEG;
	snprintf(path, sizeof(path), "%s/commitlog/%020llu", f->dir, (unsigned long long)base);
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	const uint32_t bad_magic = 0x0badf00d;
	assert_int_equal(pwrite(fd, &bad_magic, sizeof(bad_magic), (off_t)(r[4].commitlog_offset - base + 4)), 4);
	close(fd);
	struct shmq_store_view v;
	assert_int_equal(shmq_store_read(f->s, r[4].commitlog_offset, &v), SHMQ_ECORRUPT);
	assert_int_equal(shmq_store_queue_search_time(f->s, "time", 1, 4500, &q), 0);
	assert_int_equal(q, 4); /* the first message after it is 5 (6000) */
	assert_int_equal(shmq_store_queue_search_time(f->s, "time", 1, 3500, &q), 0);
	assert_int_equal(q, 3);
	assert_int_equal(shmq_store_queue_search_time(f->s, "time", 1, 5500, &q), 0);
	assert_int_equal(q, 4); /* unreadable: to a cursor the same answer as 5 */
}

static void test_query_by_key_confirms_topic_key_and_time_range(void **state)
{
	struct fx *f = *state;
	struct shmq_store_result a = put(f->s, "t1", 0, "order-1 user-9", 100, "a");
	struct shmq_store_result b = put(f->s, "t2", 0, "order-1", 200, "b");
	struct shmq_store_result c = put(f->s, "t1", 3, "order-1", 300, "c");
	put(f->s, "t1", 0, "order-10", 400, "d"); /* a longer key is not a match */
	uint64_t off[8];
	assert_int_equal(shmq_store_query_key(f->s, "t1", "order-1", 0, UINT64_MAX, off, 8), 2);
	assert_int_equal(off[0], c.commitlog_offset); /* newest first */
	assert_int_equal(off[1], a.commitlog_offset);
	assert_int_equal(shmq_store_query_key(f->s, "t2", "order-1", 0, UINT64_MAX, off, 8), 1);
	assert_int_equal(off[0], b.commitlog_offset);
	assert_int_equal(shmq_store_query_key(f->s, "t1", "user-9", 0, UINT64_MAX, off, 8), 1);
	assert_int_equal(shmq_store_query_key(f->s, "t1", "order-1", 0, 250, off, 8), 1);
	assert_int_equal(off[0], a.commitlog_offset);
	assert_int_equal(shmq_store_query_key(f->s, "t1", "order-1", 0, UINT64_MAX, off, 1), 1);
	assert_int_equal(off[0], c.commitlog_offset);
	assert_int_equal(shmq_store_query_key(f->s, "t1", "nobody", 0, UINT64_MAX, off, 8), 0);
}

static void test_message_id_names_broker_and_offset(void **state)
{
	struct fx *f = *state;
	struct shmq_store_result r = put(f->s, "id", 0, NULL, 0, "body");
	uint32_t b;
	uint64_t o;
	assert_int_equal(shmq_msgid_decode(r.msg_id, &b, &o), 0);
	assert_int_equal(b, 7);
	assert_int_equal(o, r.commitlog_offset);
	struct shmq_store_view v;
	assert_int_equal(shmq_store_read_msgid(f->s, r.msg_id, &v), 0);
	assert_memory_equal(v.body, "body", 4);
	shmq_store_view_release(f->s, &v);
	char other[SHMQ_MSGID_STRLEN + 1];
	shmq_msgid_encode(8, r.commitlog_offset, other);
	assert_int_equal(shmq_store_read_msgid(f->s, other, &v), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_store_read_msgid(f->s, "not-an-id", &v), -EINVAL);
	char bad[SHMQ_MSGID_STRLEN + 1];
	memcpy(bad, r.msg_id, sizeof(bad));
	bad[20] = bad[20] == '0' ? '1' : '0';
	assert_int_equal(shmq_store_read_msgid(f->s, bad, &v), -EINVAL);
}

static void test_commitlog_offsets_track_appends_and_flushes(void **state)
{
	struct fx *f = *state;
	assert_int_equal(shmq_store_min_offset(f->s), 0);
	assert_int_equal(shmq_store_max_offset(f->s), 0);
	struct shmq_store_result r = put(f->s, "o", 0, NULL, 0, "12345");
	assert_int_equal(shmq_store_max_offset(f->s), r.size);
	assert_int_equal(shmq_store_flush(f->s), 0);
	assert_int_equal(shmq_store_flushed_offset(f->s), r.size);
	struct shmq_store_stats st;
	shmq_store_stats(f->s, &st);
	assert_int_equal(st.appended_records, 1);
	assert_int_equal(st.appended_bytes, r.size);
	assert_true(st.fdatasync_calls >= 1);
	assert_int_equal(st.poison_errno, 0);
}

static void test_second_open_of_the_same_directory_is_refused(void **state)
{
	struct fx *f = *state;
	TEST_OPTS(o, f->dir);
	shmq_store_t *s2;
	assert_int_equal(shmq_store_open(&o, &s2, NULL), -EBUSY);
	SHMQ_STORE_OPTS(bad, .dir = f->dir, .segment_size = 1000);
	assert_int_equal(shmq_store_open(&bad, &s2, NULL), -EINVAL);
}

static void test_restart_preserves_messages_and_queue_offsets(void **state)
{
	struct fx *f = *state;
	char body[32];
	for (int i = 0; i < 500; i++) {
		snprintf(body, sizeof(body), "m%d", i);
		put(f->s, "rs", (uint32_t)i % 4, i % 2 ? "odd" : "even", 0, body);
	}
	assert_int_equal(shmq_store_close(f->s), 0);
	struct shmq_store_recovery_report rep;
	TEST_OPTS(o, f->dir, .broker_id = 7);
	assert_int_equal(shmq_store_open(&o, &f->s, &rep), 0);
	assert_false(rep.abnormal);
	assert_int_equal(rep.bytes_truncated, 0);
	for (int i = 0; i < 500; i++) {
		struct shmq_store_view v;
		assert_int_equal(shmq_store_read_queue(f->s, "rs", (uint32_t)i % 4, (uint64_t)i / 4, &v), 0);
		snprintf(body, sizeof(body), "m%d", i);
		assert_int_equal(v.body_len, strlen(body));
		assert_memory_equal(v.body, body, v.body_len);
		shmq_store_view_release(f->s, &v);
	}
	struct shmq_store_result r = put(f->s, "rs", 1, NULL, 0, "next");
	assert_int_equal(r.queue_offset, 125);
	uint64_t off[300];
	assert_int_equal(shmq_store_query_key(f->s, "rs", "odd", 0, UINT64_MAX, off, 300), 250);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_consumequeue_lookup_by_queue_offset_and_by_time,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_query_by_key_confirms_topic_key_and_time_range,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_id_names_broker_and_offset, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_commitlog_offsets_track_appends_and_flushes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_second_open_of_the_same_directory_is_refused,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_preserves_messages_and_queue_offsets,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
