/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The consumer's queue cursor (client/consumer_queue.h, Q1..Q4) against real
 * parts in one process: a ring, a store and the broker's persister draining
 * one into the other (polled by the test, so every interleaving is chosen
 * here), and a log source that reads the store directly (what libshmq reads
 * through the broker's read-only fds). Messages are those of the persister
 * tests: producer 7, sequence n = queue offset n, bodies derived from both.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "broker/persister.h"
#include "broker/store/store.h"
#include "client/consumer_queue.h"
#include "common/clock.h"
#include "common/ringmsg.h"
#include "shmq/ring.h"
#include "tests/broker/persister_test_util.h"
#include "tests/common/tmpdir.h"

#define PID 7u
#define TOPIC "T"

struct fx {
	char dir[64];
	shmq_store_t *store;
	shmq_ring_t *ring;
	shmq_persister_t *pers;
	struct shmq_logsrc log;
	struct shmq_cbuf buf;
	struct shmq_ring_msg *scratch;
	struct shmq_qc_msg out[256];
	uint64_t next_seq; /* next message the producer writes */
};

/* --- log source over the store -------------------------------------- */

static int st_bounds(void *arg, const char *topic, uint32_t q, uint64_t *min, uint64_t *max)
{
	int rc = shmq_store_queue_offsets(arg, topic, q, min, max);
	if (rc == SHMQ_ENOTFOUND) {
		*min = *max = 0;
		return 0;
	}
	return rc;
}

static int st_cq_get(void *arg, const char *topic, uint32_t q, uint64_t qo, uint64_t *cl,
		     uint32_t *size)
{
	struct shmq_store_cq_entry e;
	int rc = shmq_store_cq_get(arg, topic, q, qo, &e);
	if (rc == 0) {
		*cl = e.commitlog_offset;
		*size = e.size;
	}
	return rc;
}

static int st_read(void *arg, uint64_t cl, struct shmq_store_view *v)
{
	return shmq_store_read(arg, cl, v);
}

static void st_release(void *arg, struct shmq_store_view *v)
{
	shmq_store_view_release(arg, v);
}

static uint64_t st_flushed(void *arg, bool refresh)
{
	(void)refresh;
	return shmq_store_flushed_offset(arg);
}

/* --- fixture --------------------------------------------------------- */

static int setup_cap(void **state, uint64_t cap)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/shmq-tcq-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/store", f->dir);
	SHMQ_STORE_OPTS(so, .dir = path, .segment_size = 1u << 20, .max_msg_size = 65536, .no_prefault = true,
			.flush_interval_ms = 600000, .flush_dirty_pages = 1u << 30,
			.cq_entries_per_file = 1000, .broker_id = 3);
	assert_int_equal(shmq_store_open(&so, &f->store, NULL), 0);
	snprintf(path, sizeof(path), "%s/T.0.ring", f->dir);
	SHMQ_RING_OPTS(ro, .capacity = cap, .prefault = false);
	assert_int_equal(shmq_ring_create(path, &ro, &f->ring), 0);
	assert_int_equal(shmq_persister_create(f->store, NULL, &f->pers), 0);
	assert_int_equal(shmq_persister_add_ring(f->pers, TOPIC, 0, f->ring), 0);
	f->log = (struct shmq_logsrc){ .arg = f->store, .bounds = st_bounds, .cq_get = st_cq_get,
				       .read = st_read, .release = st_release,
				       .flushed = st_flushed };
	f->scratch = malloc(SHMQ_RING_BATCH_MAX * sizeof(*f->scratch));
	assert_non_null(f->scratch);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_cap(state, 1u << 20);
}

static int setup_small(void **state)
{
	return setup_cap(state, 64u * 1024u);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	shmq_persister_destroy(f->pers);
	shmq_ring_close(f->ring);
	assert_int_equal(shmq_store_close(f->store), 0);
	shmq_cbuf_free(&f->buf);
	free(f->scratch);
	shmq_test_rmtree(f->dir);
	free(f);
	return 0;
}

/* Write @p n messages as records of @p per messages; drains the ring into
 * the store whenever it is full (the test is the broker's persister too). */
static void produce(struct fx *f, uint64_t n, uint32_t per)
{
	while (n) {
		uint32_t k = n < per ? (uint32_t)n : per;
		int rc = pt_write(f->ring, PID, f->next_seq, k, NULL, 0);
		if (rc == -ETIMEDOUT) {
			assert_true(shmq_persister_poll_once(f->pers) >= 0);
			continue;
		}
		assert_int_equal(rc, 0);
		f->next_seq += k;
		n -= k;
	}
}

static void persist(struct fx *f)
{
	while (shmq_persister_poll_once(f->pers) > 0)
		;
}

static void cursor(struct fx *f, struct shmq_qcursor *c, enum shmq_visibility vis, bool zc)
{
	shmq_qc_init(c, TOPIC, 0, 3, f->ring, &f->log, vis, zc);
}

/* The delivery is message qo of producer PID, intact. */
static void check_msg(const struct shmq_qc_msg *d, uint64_t qo)
{
	assert_int_equal(d->v.queue_offset, qo);
	assert_int_equal(d->v.queue_id, 0);
	assert_string_equal(d->v.topic, TOPIC);
	assert_int_equal(d->v.producer_id, PID);
	assert_int_equal(d->v.producer_seq, qo);
	uint8_t want[PT_BODY_MAX];
	uint32_t len = pt_body_len(PID, qo);
	pt_body(want, len, PID, qo);
	assert_int_equal(d->v.body_len, len);
	assert_memory_equal(d->v.body, want, len);
	char keys[48], tags[8];
	snprintf(keys, sizeof(keys), "k%u-%" PRIu64, PID, qo);
	snprintf(tags, sizeof(tags), "t%u", (unsigned)(qo % 4));
	assert_non_null(d->v.keys);
	assert_string_equal(d->v.keys, keys);
	assert_non_null(d->v.tags);
	assert_string_equal(d->v.tags, tags);
}

/* Fetch until @p want messages arrived or nothing comes; checks that they
 * are exactly qo first..first+got-1 (no gap, no repeat). */
static uint64_t drain(struct fx *f, struct shmq_qcursor *c, uint64_t first, uint64_t want,
		      unsigned max)
{
	uint64_t got = 0;
	int idle = 0;
	while (got < want && idle < 3) {
		shmq_cbuf_reset(&f->buf);
		int n = shmq_qc_fetch(c, &f->buf, f->out, max, f->scratch);
		assert_true(n >= 0);
		if (n == 0) {
			idle++;
			continue;
		}
		idle = 0;
		for (int i = 0; i < n; i++)
			check_msg(&f->out[i], first + got + (uint64_t)i);
		got += (uint64_t)n;
	}
	return got;
}

/* --- tests ----------------------------------------------------------- */

static void test_immediate_cursor_reads_ring_messages_before_they_are_persisted(void **state)
{
	struct fx *f = *state;
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_IMMEDIATE, false);
	shmq_qc_seek(&c, 0);
	produce(f, 10, 1);
	assert_int_equal(drain(f, &c, 0, 10, 64), 10);
	assert_int_equal(f->out[0].v.store_offset, SHMQ_OFFSET_UNKNOWN);
	assert_string_equal(f->out[0].v.msg_id, "");
	persist(f);
	produce(f, 5, 1);
	assert_int_equal(drain(f, &c, 10, 5, 64), 5);
	assert_int_equal(c.st.from_ring, 15);
	assert_int_equal(c.st.from_log, 0);
	assert_int_equal(c.st.qo_mismatch, 0);
}

static void test_persisted_cursor_waits_for_the_persister_and_reports_store_offsets(void **state)
{
	struct fx *f = *state;
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_PERSISTED, false);
	shmq_qc_seek(&c, 0);
	produce(f, 10, 4);
	shmq_cbuf_reset(&f->buf);
	assert_int_equal(shmq_qc_fetch(&c, &f->buf, f->out, 64, f->scratch), 0);
	persist(f);
	assert_int_equal(drain(f, &c, 0, 10, 64), 10);
	for (unsigned i = 0; i < 10; i++) {
		struct shmq_store_view sv;
		assert_int_equal(shmq_store_read_queue(f->store, TOPIC, 0, i, &sv), 0);
		assert_int_equal(f->out[i].v.store_offset, sv.commitlog_offset);
		char id[SHMQ_MSGID_STRLEN + 1];
		shmq_msgid_encode(3, sv.commitlog_offset, id);
		assert_string_equal(f->out[i].v.msg_id, id);
		shmq_store_view_release(f->store, &sv);
	}
	assert_int_equal(c.st.qo_mismatch, 0);
}

static void test_durable_cursor_waits_for_the_flush(void **state)
{
	struct fx *f = *state;
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_DURABLE, false);
	shmq_qc_seek(&c, 0);
	produce(f, 10, 1);
	persist(f);
	shmq_cbuf_reset(&f->buf);
	assert_int_equal(shmq_qc_fetch(&c, &f->buf, f->out, 64, f->scratch), 0);
	assert_int_equal(shmq_store_flush(f->store), 0);
	shmq_persister_poll_once(f->pers); /* publishes the FLUSHED mark */
	pt_sleep_us(6000); /* the cursor re-reads the flushed offset every 5 ms (Q3) */
	assert_int_equal(drain(f, &c, 0, 10, 64), 10);
}

static void test_durable_cursor_in_the_log_stops_at_the_flushed_offset(void **state)
{
	struct fx *f = *state;
	produce(f, 30, 1);
	persist(f);
	assert_int_equal(shmq_store_flush(f->store), 0);
	produce(f, 30, 1);
	persist(f); /* 30..59 stored, not flushed */
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_DURABLE, false);
	c.ring = NULL; /* the log only */
	shmq_qc_seek(&c, 0);
	assert_int_equal(drain(f, &c, 0, 60, 16), 30);
	assert_int_equal(shmq_store_flush(f->store), 0);
	pt_sleep_us(6000); /* the cursor re-reads the flushed offset every 5 ms (Q3) */
	assert_int_equal(drain(f, &c, 30, 30, 16), 30);
	assert_int_equal(c.st.from_log, 60);
}

static void test_cursor_behind_the_ring_reads_the_log_then_rejoins_the_ring(void **state)
{
	struct fx *f = *state;
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_IMMEDIATE, false);
	shmq_qc_seek(&c, 0);
	/* ~4 MiB through a 64 KiB ring: the first messages are long gone. */
	uint64_t total = 12000u * (uint64_t)pt_scale();
	produce(f, total, 8);
	persist(f);
	uint64_t got = 0;
	while (got < total) {
		uint64_t n = drain(f, &c, got, total - got, 100);
		assert_true(n > 0);
		got += n;
		if (got < total && c.src == SHMQ_QC_RING)
			break;
	}
	/* Caught up: now it reads new messages from the ring as they come. */
	for (int i = 0; i < 100; i++) {
		produce(f, 3, 3);
		got += drain(f, &c, got, 3, 100);
		if (i % 10 == 9)
			persist(f);
	}
	assert_int_equal(got, total + 300);
	assert_true(c.st.from_ring >= 300);
	printf("from_log %" PRIu64 " from_ring %" PRIu64 " overruns %" PRIu64 "\n",
	       c.st.from_log, c.st.from_ring, c.st.overruns);
	assert_true(c.st.from_log > 0);
	assert_true(c.st.from_ring > 0);
	assert_int_equal(c.src, SHMQ_QC_RING);
	assert_int_equal(c.st.corrupt, 0);
	assert_int_equal(c.st.qo_mismatch, 0);
}

static void test_ring_overrun_falls_back_to_the_log_without_gap_or_repeat(void **state)
{
	struct fx *f = *state;
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_IMMEDIATE, false);
	shmq_qc_seek(&c, 0);
	produce(f, 20, 1);
	assert_int_equal(drain(f, &c, 0, 5, 5), 5);
	assert_int_equal(c.src, SHMQ_QC_RING);
	/* Lap the cursor several times over. */
	produce(f, 3000, 4);
	persist(f);
	assert_int_equal(drain(f, &c, 5, 3015, 64), 3015);
	assert_true(c.st.overruns >= 1);
	assert_true(c.st.from_log > 0);
}

static void test_zero_copy_views_point_into_the_ring_and_fail_the_check_once_reclaimed(void **state)
{
	struct fx *f = *state;
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_IMMEDIATE, true);
	shmq_qc_seek(&c, 0);
	produce(f, 4, 1);
	shmq_cbuf_reset(&f->buf);
	assert_int_equal(shmq_qc_fetch(&c, &f->buf, f->out, 4, f->scratch), 4);
	struct shmq_qc_msg first = f->out[0];
	assert_true(first.zero_copy);
	check_msg(&first, 0);
	assert_int_equal(shmq_ring_read_check(f->ring, first.ring_pos), 0);
	produce(f, 3000, 4);
	persist(f);
	assert_int_equal(shmq_ring_read_check(f->ring, first.ring_pos), SHMQ_EOVERRUN);
	/* Delivered again from the log after a failed check. */
	shmq_qc_rewind(&c, &first, true);
	assert_int_equal(drain(f, &c, 0, 3004, 64), 3004);
}

static void test_partial_batch_is_resumed_inside_its_record_and_rewind_redelivers(void **state)
{
	struct fx *f = *state;
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_IMMEDIATE, false);
	shmq_qc_seek(&c, 0);
	produce(f, 32, 16);
	assert_int_equal(drain(f, &c, 0, 7, 7), 7);
	assert_int_equal(c.rskip, 7);
	assert_int_equal(drain(f, &c, 7, 5, 5), 5);
	struct shmq_qc_msg m11 = f->out[4];
	check_msg(&m11, 11);
	shmq_qc_rewind(&c, &m11, false);
	assert_int_equal(drain(f, &c, 11, 21, 5), 21);
	assert_int_equal(c.st.from_ring, 7 + 5 + 21);
}

/* A fetch that stops inside the first batch record after the padding record
 * at the ring's wrap resumes inside that record. Regression: the cursor kept
 * the padding's position with the batch's skip count, so the next fetch
 * delivered the record's first messages again, under shifted offsets.
 * Batches of 16 read 5 at a time over several laps of a 64 KiB ring: most
 * wraps fall inside a fetch (check_msg() catches any repeat or gap). */
static void test_partial_batch_after_the_wrap_padding_resumes_inside_its_record(void **state)
{
	struct fx *f = *state;
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_IMMEDIATE, false);
	shmq_qc_seek(&c, 0);
	uint64_t done = 0;
	for (int round = 0; round < 16; round++) {
		produce(f, 64, 16);
		assert_int_equal(drain(f, &c, done, 64, 5), 64);
		done += 64;
		persist(f);
	}
	assert_true(shmq_ring_tail(f->ring) > 4 * shmq_ring_capacity(f->ring)); /* several wraps */
	assert_int_equal(c.st.from_ring, done);
	assert_int_equal(c.st.overruns, 0);
}

static void test_corrupt_ring_message_is_skipped_counted_and_takes_no_offset(void **state)
{
	struct fx *f = *state;
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_IMMEDIATE, false);
	shmq_qc_seek(&c, 0);
	produce(f, 2, 1);
	uint8_t junk[100];
	memset(junk, 0xA5, sizeof(junk));
	assert_int_equal(shmq_ring_write(f->ring, 99, SHMQ_RING_TYPE_USER, junk, sizeof(junk)), 0);
	struct pt_msg m;
	pt_msg_make(&m, PID, 2);
	uint8_t enc[1024];
	int64_t len = shmq_ringmsg_encode(enc, sizeof(enc), &m.in);
	assert_true(len > 0);
	assert_int_equal(shmq_ring_write(f->ring, 1, SHMQ_RING_TYPE_USER, enc, (uint32_t)len), 0);
	assert_int_equal(drain(f, &c, 0, 3, 64), 3);
	assert_int_equal(c.st.corrupt, 1);
}

static void test_seek_timestamp_finds_the_first_message_stored_at_or_after_it(void **state)
{
	struct fx *f = *state;
	produce(f, 20, 1);
	persist(f);
	pt_sleep_us(30000);
	uint64_t ts = shmq_wall_ms();
	pt_sleep_us(2000);
	produce(f, 20, 1);
	persist(f);
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_PERSISTED, false);
	assert_int_equal(shmq_qc_seek_timestamp(&c, ts), 0);
	assert_int_equal(c.next_qo, 20);
	assert_int_equal(drain(f, &c, 20, 20, 64), 20);
	assert_int_equal(shmq_qc_seek_timestamp(&c, 0), 0);
	assert_int_equal(c.next_qo, 0);
	assert_int_equal(shmq_qc_seek_timestamp(&c, ts + 3600000), 0);
	assert_int_equal(c.next_qo, 40);
}

static void test_seek_latest_skips_everything_committed_and_earliest_starts_at_the_oldest(void **state)
{
	struct fx *f = *state;
	produce(f, 10, 1);
	persist(f);
	produce(f, 5, 1); /* in the ring only */
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_IMMEDIATE, false);
	assert_int_equal(shmq_qc_seek_latest(&c), 0);
	assert_int_equal(c.next_qo, 15);
	shmq_cbuf_reset(&f->buf);
	assert_int_equal(shmq_qc_fetch(&c, &f->buf, f->out, 64, f->scratch), 0);
	produce(f, 3, 1);
	assert_int_equal(drain(f, &c, 15, 3, 64), 3);
	assert_int_equal(shmq_qc_seek_earliest(&c), 0);
	assert_int_equal(drain(f, &c, 0, 18, 64), 18);
}

static void test_fresh_ring_without_anchor_counts_from_the_stored_end(void **state)
{
	struct fx *f = *state;
	/* Nothing was ever drained: no anchor yet. */
	struct shmq_ring_anchor a;
	assert_int_equal(shmq_ring_read_anchor(f->ring, &a), SHMQ_EMPTY);
	struct shmq_qcursor c;
	cursor(f, &c, SHMQ_VISIBLE_IMMEDIATE, false);
	shmq_qc_seek(&c, 0);
	produce(f, 6, 3);
	assert_int_equal(drain(f, &c, 0, 6, 64), 6);
	persist(f);
	assert_int_equal(shmq_ring_read_anchor(f->ring, &a), 0);
	assert_int_equal(a.queue_offset, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_immediate_cursor_reads_ring_messages_before_they_are_persisted, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_persisted_cursor_waits_for_the_persister_and_reports_store_offsets, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_partial_batch_after_the_wrap_padding_resumes_inside_its_record,
						setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_durable_cursor_waits_for_the_flush, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_durable_cursor_in_the_log_stops_at_the_flushed_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_cursor_behind_the_ring_reads_the_log_then_rejoins_the_ring, setup_small,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_ring_overrun_falls_back_to_the_log_without_gap_or_repeat, setup_small,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_zero_copy_views_point_into_the_ring_and_fail_the_check_once_reclaimed,
			setup_small, teardown),
		cmocka_unit_test_setup_teardown(
			test_partial_batch_is_resumed_inside_its_record_and_rewind_redelivers, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_corrupt_ring_message_is_skipped_counted_and_takes_no_offset, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_seek_timestamp_finds_the_first_message_stored_at_or_after_it, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_seek_latest_skips_everything_committed_and_earliest_starts_at_the_oldest,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_fresh_ring_without_anchor_counts_from_the_stored_end, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
