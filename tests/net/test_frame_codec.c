/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for dpdk_net/frame_codec.h: frames, fragmentation, bodies. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net_test_util.h"
#include "shmq/error.h"

#define FRAME_MAX 1472u

static uint8_t frame[SHMQ_NET_FRAME_MAX];

static void test_every_fragment_of_a_large_message_round_trips(void **state)
{
	(void)state;
	uint32_t len = 1u << 20;
	uint8_t *body = malloc(len), *back = calloc(1, len);
	net_fill_body(body, len, 1, 2);
	uint32_t fs = shmq_net_frag_size(FRAME_MAX);
	assert_int_equal(fs, 1424);
	uint32_t count = shmq_net_frag_count(len, fs);
	assert_int_equal(count, (len + fs - 1) / fs);
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_PRODUCE, .attempt = 3, .session_id = 9,
				       .request_id = 77 };
	for (uint32_t i = 0; i < count; i++) {
		int n = shmq_net_frame_encode(&mi, body, len, fs, i, frame, sizeof(frame));
		assert_true(n > (int)SHMQ_NET_HDR_LEN && n <= (int)FRAME_MAX);
		struct shmq_net_frame f;
		assert_int_equal(shmq_net_frame_decode(frame, (size_t)n, &f), 0);
		assert_int_equal(f.h.frag_index, i);
		assert_int_equal(f.h.frag_count, count);
		assert_int_equal(f.h.attempt, 3);
		assert_int_equal(f.h.flags, 0);
		assert_true(f.h.session_id == 9 && f.h.request_id == 77 && f.h.msg_len == len);
		memcpy(back + (size_t)i * fs, f.payload, f.h.payload_len);
	}
	assert_memory_equal(body, back, len);
	free(body);
	free(back);
}

static void test_an_empty_body_is_one_empty_frame(void **state)
{
	(void)state;
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_COMMIT_ACK, .attempt = 1, .session_id = 1, .request_id = 1 };
	int n = shmq_net_frame_encode(&mi, NULL, 0, 1424, 0, frame, sizeof(frame));
	assert_int_equal(n, SHMQ_NET_HDR_LEN);
	struct shmq_net_frame f;
	assert_int_equal(shmq_net_frame_decode(frame, (size_t)n, &f), 0);
	assert_int_equal(f.h.flags, SHMQ_NET_F_RESPONSE);
	assert_int_equal(f.h.frag_count, 1);
	assert_int_equal(shmq_net_frame_encode(&mi, NULL, 0, 1424, 1, frame, sizeof(frame)), -EINVAL);
}

static void test_every_single_bit_flip_of_a_frame_is_refused(void **state)
{
	(void)state;
	uint8_t body[300];
	net_fill_body(body, sizeof(body), 3, 4);
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_PULL, .attempt = 1, .session_id = 5, .request_id = 6 };
	int n = shmq_net_frame_encode(&mi, body, sizeof(body), 1424, 0, frame, sizeof(frame));
	assert_true(n > 0);
	struct shmq_net_frame f;
	for (int bit = 0; bit < n * 8; bit++) {
		frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = shmq_net_frame_decode(frame, (size_t)n, &f);
		assert_true(rc == -EBADMSG || rc == -EPROTONOSUPPORT);
		frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(shmq_net_frame_decode(frame, (size_t)n, &f), 0);
	/* a truncated or extended datagram is refused too */
	assert_int_equal(shmq_net_frame_decode(frame, (size_t)n - 1, &f), -EBADMSG);
	assert_int_equal(shmq_net_frame_decode(frame, (size_t)n + 1, &f), -EBADMSG);
	assert_int_equal(shmq_net_frame_decode(frame, 10, &f), -EBADMSG);
}

static void test_foreign_magic_or_version_is_eprotonosupport(void **state)
{
	(void)state;
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_PULL, .attempt = 1, .session_id = 5, .request_id = 6 };
	int n = shmq_net_frame_encode(&mi, "x", 1, 1424, 0, frame, sizeof(frame));
	struct shmq_net_frame f;
	frame[4] = SHMQ_NET_VERSION + 1; /* a later version */
	assert_int_equal(shmq_net_frame_decode(frame, (size_t)n, &f), -EPROTONOSUPPORT);
	frame[4] = SHMQ_NET_VERSION - 1; /* an earlier one: PRODUCE bodies differ */
	assert_int_equal(shmq_net_frame_decode(frame, (size_t)n, &f), -EPROTONOSUPPORT);
	frame[4] = SHMQ_NET_VERSION;
	frame[0] ^= 0xff;
	assert_int_equal(shmq_net_frame_decode(frame, (size_t)n, &f), -EPROTONOSUPPORT);
}

static void test_encoder_refuses_what_the_decoder_would_refuse(void **state)
{
	(void)state;
	uint8_t body[5000];
	memset(body, 7, sizeof(body));
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_PRODUCE, .attempt = 1, .session_id = 1, .request_id = 1 };
	/* index past the last fragment */
	assert_int_equal(shmq_net_frame_encode(&mi, body, sizeof(body), 1424, 4, frame, sizeof(frame)), -EINVAL);
	/* attempt 0 */
	mi.attempt = 0;
	assert_int_equal(shmq_net_frame_encode(&mi, body, 10, 1424, 0, frame, sizeof(frame)), -EINVAL);
	mi.attempt = 1;
	/* session 0 is HELLO's alone, and HELLO has no session */
	mi.session_id = 0;
	assert_int_equal(shmq_net_frame_encode(&mi, body, 10, 1424, 0, frame, sizeof(frame)), -EINVAL);
	mi.type = SHMQ_NET_HELLO;
	mi.session_id = 3;
	assert_int_equal(shmq_net_frame_encode(&mi, body, 10, 1424, 0, frame, sizeof(frame)), -EINVAL);
	/* the handshake is never fragmented */
	mi.session_id = 0;
	assert_int_equal(shmq_net_frame_encode(&mi, body, 3000, 1424, 0, frame, sizeof(frame)), -EINVAL);
	/* unknown type, too many fragments, message too large */
	mi.type = 99;
	assert_int_equal(shmq_net_frame_encode(&mi, body, 10, 1424, 0, frame, sizeof(frame)), -EINVAL);
	mi.type = SHMQ_NET_PRODUCE;
	mi.session_id = 1;
	static uint8_t big[70000];
	assert_int_equal(shmq_net_frame_encode(&mi, big, sizeof(big), 1, 0, frame, sizeof(frame)), -EINVAL);
	assert_int_equal(shmq_net_frame_encode(&mi, big, sizeof(big), 2, 0, frame, sizeof(frame)),
			 SHMQ_NET_HDR_LEN + 2);
	assert_int_equal(shmq_net_frag_count(SHMQ_NET_MSG_MAX, 64), 0);
	assert_int_equal(shmq_net_frag_count(SHMQ_NET_MSG_MAX, shmq_net_frag_size(SHMQ_NET_FRAME_MIN)) > 0, 1);
	/* buffer too small */
	assert_int_equal(shmq_net_frame_encode(&mi, body, 100, 1424, 0, frame, 100), -EMSGSIZE);
	/* frame sizes outside [MIN, MAX] have no fragment size */
	assert_int_equal(shmq_net_frag_size(SHMQ_NET_FRAME_MIN - 1), 0);
	assert_int_equal(shmq_net_frag_size(SHMQ_NET_FRAME_MAX + 1), 0);
}

static void test_produce_body_checks_producer_and_consecutive_sequences(void **state)
{
	(void)state;
	static uint8_t buf[1 << 16];
	int64_t n = net_build_produce(buf, sizeof(buf), "orders", 3, 42, 100, 5, 33);
	assert_true(n > 0);
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE, buf, (size_t)n), 0);
	/* the entries are walked back as built */
	struct shmq_net_produce_hdr h;
	struct shmq_net_entry_iter it;
	struct shmq_ringmsg_view v;
	uint64_t qo;
	assert_int_equal(shmq_net_entries_begin(buf, (size_t)n, &h, sizeof(h), &it), 0);
	for (uint32_t i = 0; i < 5; i++) {
		assert_int_equal(shmq_net_entry_next(&it, &qo, &v), 1);
		assert_true(v.producer_seq == 100 + i && v.producer_id == 42 && v.body_len == 33);
		uint8_t want[33];
		net_fill_body(want, 33, 42, 100 + i);
		assert_memory_equal(v.body, want, 33);
	}
	assert_int_equal(shmq_net_entry_next(&it, &qo, &v), 0);
	/* count disagreeing with the entries */
	struct shmq_net_produce_hdr bad;
	memcpy(&bad, buf, sizeof(bad));
	bad.count = 4;
	memcpy(buf, &bad, sizeof(bad));
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE, buf, (size_t)n), -EBADMSG);
	bad.count = 5;
	bad.first_seq = 101; /* sequences no longer match the ringmsgs */
	memcpy(buf, &bad, sizeof(bad));
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE, buf, (size_t)n), -EBADMSG);
	bad.first_seq = 100;
	bad.selector_hint = 5; /* a hint with an explicit queue */
	memcpy(buf, &bad, sizeof(bad));
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE, buf, (size_t)n), -EBADMSG);
	bad.selector_hint = 0;
	for (uint32_t d = 0; d <= SHMQ_NET_DELIVERY_MAX; d++) { /* every acknowledgement level */
		bad.delivery = d;
		memcpy(buf, &bad, sizeof(bad));
		assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE, buf, (size_t)n), 0);
	}
	bad.delivery = SHMQ_NET_DELIVERY_MAX + 1; /* an unknown level */
	memcpy(buf, &bad, sizeof(bad));
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE, buf, (size_t)n), -EBADMSG);
	bad.delivery = SHMQ_NET_DELIVERY_RING;
	bad.reserved = 1;
	memcpy(buf, &bad, sizeof(bad));
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE, buf, (size_t)n), -EBADMSG);
	bad.reserved = 0;
	bad.selector_hint = 5; /* the hint with an explicit queue, refused above... */
	bad.queue = SHMQ_NET_QUEUE_ANY; /* ... is fine for QUEUE_ANY */
	memcpy(buf, &bad, sizeof(bad));
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE, buf, (size_t)n), 0);
	/* non-zero padding after a ringmsg, and a trailing byte */
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE, buf, (size_t)n + 8), -EBADMSG);
	/* each ringmsg is 80 + 33 + "k1\0" + "t\0" = 118 bytes, padded to 120 */
	buf[n - 1] ^= 1;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE, buf, (size_t)n), -EBADMSG);
}

static void test_pull_resp_needs_strictly_increasing_offsets_below_next(void **state)
{
	(void)state;
	static uint8_t buf[1 << 14], msg[256];
	struct shmq_ringmsg_in m = { .producer_id = 1, .producer_seq = 1, .body = "abc", .body_len = 3 };
	int64_t ml = shmq_ringmsg_encode(msg, sizeof(msg), &m);
	assert_true(ml > 0);
	struct shmq_net_pull_resp_hdr h = { .status = 0, .count = 2, .next_offset = 12, .max_offset = 20, .queue = 1 };
	struct shmq_net_builder b;
	uint64_t offs[][2] = { { 10, 11 }, { 11, 11 }, { 11, 10 }, { 10, 12 } };
	int want[] = { 0, -EBADMSG, -EBADMSG, -EBADMSG };
	for (unsigned k = 0; k < 4; k++) {
		shmq_net_builder_init(&b, buf, sizeof(buf));
		shmq_net_builder_put(&b, &h, sizeof(h));
		shmq_net_builder_raw_msg(&b, offs[k][0], msg, (uint32_t)ml);
		shmq_net_builder_raw_msg(&b, offs[k][1], msg, (uint32_t)ml);
		int64_t n = shmq_net_builder_finish(&b);
		assert_true(n > 0);
		assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL_RESP, buf, (size_t)n), want[k]);
	}
	/* an error status carries no entries */
	struct shmq_net_pull_resp_hdr e = { .status = SHMQ_ESTALE };
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL_RESP, &e, sizeof(e)), 0);
	e.count = 1;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL_RESP, &e, sizeof(e)), -EBADMSG);
	e.count = 0;
	e.status = 5; /* positive statuses do not exist */
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL_RESP, &e, sizeof(e)), -EBADMSG);
}

static void test_fixed_bodies_refuse_nonzero_reserved_bad_names_and_limits(void **state)
{
	(void)state;
	struct shmq_net_pull p;
	memset(&p, 0, sizeof(p));
	assert_int_equal(shmq_ctl_name_set(p.group, "g1", false), 0);
	assert_int_equal(shmq_ctl_name_set(p.topic, "t1", false), 0);
	p.queue = 2;
	p.max_bytes = 4096;
	p.max_msgs = 32;
	p.timeout_ms = 1000;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL, &p, sizeof(p)), 0);
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL, &p, sizeof(p) - 1), -EBADMSG);
	struct shmq_net_pull q = p;
	q.timeout_ms = SHMQ_NET_POLL_MAX_MS + 1;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL, &q, sizeof(q)), -EBADMSG);
	for (uint32_t v = 0; v <= SHMQ_NET_VISIBLE_MAX; v++) { /* every visibility level */
		q = p;
		q.visibility = v;
		assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL, &q, sizeof(q)), 0);
	}
	q = p;
	q.visibility = SHMQ_NET_VISIBLE_MAX + 1;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL, &q, sizeof(q)), -EBADMSG);
	q = p;
	q.reserved = 1;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL, &q, sizeof(q)), -EBADMSG);
	q = p;
	q.topic[100] = 'x'; /* garbage after the NUL */
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL, &q, sizeof(q)), -EBADMSG);
	q = p;
	q.group[0] = ' ';
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL, &q, sizeof(q)), -EBADMSG);
	q = p;
	q.max_msgs = 0;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PULL, &q, sizeof(q)), -EBADMSG);

	struct shmq_net_commit c;
	memset(&c, 0, sizeof(c));
	memcpy(c.group, p.group, sizeof(c.group));
	memcpy(c.topic, p.topic, sizeof(c.topic));
	c.offset = 99;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_COMMIT, &c, sizeof(c)), 0);
	c.reserved = 1;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_COMMIT, &c, sizeof(c)), -EBADMSG);

	struct shmq_net_group g;
	memset(&g, 0, sizeof(g));
	memcpy(g.group, p.group, sizeof(g.group));
	memcpy(g.topic, p.topic, sizeof(g.topic));
	g.mode = SHMQ_CTL_GROUP_CLUSTERING;
	g.lease_ms = 10000;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_JOIN, &g, sizeof(g)), 0);
	assert_int_equal(shmq_net_body_check(SHMQ_NET_HEARTBEAT, &g, sizeof(g)), -EBADMSG);
	g.mode = 0;
	g.member_id = 7;
	g.generation = 3;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_HEARTBEAT, &g, sizeof(g)), 0);
	g.lease_ms = 10;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_HEARTBEAT, &g, sizeof(g)), -EBADMSG);

	struct shmq_net_status st = { .status = 0 };
	assert_int_equal(shmq_net_body_check(SHMQ_NET_COMMIT_ACK, &st, sizeof(st)), 0);
	st.status = 1;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_COMMIT_ACK, &st, sizeof(st)), -EBADMSG);
	assert_int_equal(shmq_net_body_check(0, &st, sizeof(st)), -EBADMSG);
	assert_int_equal(shmq_net_body_check(SHMQ_NET_TYPE_MAX + 1, &st, sizeof(st)), -EBADMSG);
}

static void test_join_ack_queues_are_sorted_unique_and_below_the_topic_count(void **state)
{
	(void)state;
	struct {
		struct shmq_net_join_ack_hdr h;
		uint32_t q[3];
	} a = { .h = { .status = 0, .generation = 2, .member_id = 5, .lease_ms = 30000, .count = 3, .queues = 8 },
		.q = { 0, 3, 7 } };
	assert_int_equal(shmq_net_body_check(SHMQ_NET_JOIN_ACK, &a, sizeof(a.h) + sizeof(a.q)), 0);
	a.q[2] = 8;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_JOIN_ACK, &a, sizeof(a.h) + sizeof(a.q)), -EBADMSG);
	a.q[2] = 3;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_JOIN_ACK, &a, sizeof(a.h) + sizeof(a.q)), -EBADMSG);
	a.q[2] = 7;
	a.h.member_id = 0;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_JOIN_ACK, &a, sizeof(a.h) + sizeof(a.q)), -EBADMSG);
}

static void test_produce_ack_counts_match_the_status(void **state)
{
	(void)state;
	struct {
		struct shmq_net_produce_ack_hdr h;
		struct shmq_net_produce_result r[2];
	} a = { .h = { .status = 0, .count = 2, .first_seq = 10, .next_seq = 12, .queue = 1 },
		.r = { { 5, 100 }, { 6, 200 } } };
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE_ACK, &a, sizeof(a)), 0);
	a.h.next_seq = 13;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE_ACK, &a, sizeof(a)), -EBADMSG);
	struct shmq_net_produce_ack_hdr gap = { .status = SHMQ_ESEQGAP, .first_seq = 20, .next_seq = 12 };
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE_ACK, &gap, sizeof(gap)), 0);
	gap.count = 1;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_PRODUCE_ACK, &gap, sizeof(gap)), -EBADMSG);
}

static void test_error_body_is_negative_and_printable(void **state)
{
	(void)state;
	struct shmq_net_error e;
	char longtext[400];
	memset(longtext, 'a', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	longtext[3] = '\n';
	shmq_net_error_init(&e, SHMQ_EAUTH, longtext);
	assert_int_equal(e.status, SHMQ_EAUTH);
	assert_int_equal(e.message[3], '?');
	assert_int_equal(strlen(e.message), SHMQ_NET_ERRMSG_LEN - 1);
	assert_int_equal(shmq_net_body_check(SHMQ_NET_ERROR, &e, sizeof(e)), 0);
	shmq_net_error_init(&e, 0, "x"); /* 0 is not an error: becomes -EPROTO */
	assert_int_equal(e.status, -EPROTO);
	e.message[0] = 0x01;
	assert_int_equal(shmq_net_body_check(SHMQ_NET_ERROR, &e, sizeof(e)), -EBADMSG);
	assert_string_equal(shmq_net_type_name(SHMQ_NET_PULL_RESP), "PULL_RESP");
	assert_string_equal(shmq_net_type_name(0), "UNKNOWN");
}

static void test_builder_reports_a_full_buffer_and_stops(void **state)
{
	(void)state;
	uint8_t buf[200];
	int64_t n = net_build_produce(buf, sizeof(buf), "t", 0, 1, 0, 2, 100);
	assert_int_equal(n, -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_fragment_of_a_large_message_round_trips),
		cmocka_unit_test(test_an_empty_body_is_one_empty_frame),
		cmocka_unit_test(test_every_single_bit_flip_of_a_frame_is_refused),
		cmocka_unit_test(test_foreign_magic_or_version_is_eprotonosupport),
		cmocka_unit_test(test_encoder_refuses_what_the_decoder_would_refuse),
		cmocka_unit_test(test_produce_body_checks_producer_and_consecutive_sequences),
		cmocka_unit_test(test_pull_resp_needs_strictly_increasing_offsets_below_next),
		cmocka_unit_test(test_fixed_bodies_refuse_nonzero_reserved_bad_names_and_limits),
		cmocka_unit_test(test_join_ack_queues_are_sorted_unique_and_below_the_topic_count),
		cmocka_unit_test(test_produce_ack_counts_match_the_status),
		cmocka_unit_test(test_error_body_is_negative_and_printable),
		cmocka_unit_test(test_builder_reports_a_full_buffer_and_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
