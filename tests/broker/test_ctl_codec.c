/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for common/ctl_codec.h (control-protocol encode/decode). */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/ctl_codec.h"

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

#define NSAMPLES 42

/* One valid message of every (type, direction), with non-trivial values. */
static void sample(int i, struct shmq_ctl_msg *m)
{
	const uint16_t R = SHMQ_CTL_F_RESPONSE;
	uint64_t id = 0x1122334455667700ull + (uint64_t)i;

	switch (i) {
	case 0:
		shmq_ctl_msg_init(m, SHMQ_CTL_HELLO, 0, id);
		m->u.hello_req.client_version = SHMQ_CTL_VERSION;
		m->u.hello_req.role = SHMQ_CTL_ROLE_PRODUCER | SHMQ_CTL_ROLE_CONSUMER;
		assert_int_equal(shmq_ctl_name_set(m->u.hello_req.group, "grp-1", true), 0);
		break;
	case 1:
		shmq_ctl_msg_init(m, SHMQ_CTL_HELLO, R, id);
		m->u.hello_resp.server_version = SHMQ_CTL_VERSION;
		m->u.hello_resp.broker_id = 7;
		m->u.hello_resp.session_id = 0xdeadbeefcafef00dull;
		assert_int_equal(shmq_ctl_name_set(m->u.hello_resp.broker_name, "broker-a", false), 0);
		break;
	case 2:
		shmq_ctl_msg_init(m, SHMQ_CTL_TOPIC_CREATE, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.topic_create_req.topic, "orders.eu|1%x_y", false), 0);
		m->u.topic_create_req.queues = 1024;
		break;
	case 3:
		shmq_ctl_msg_init(m, SHMQ_CTL_TOPIC_CREATE, R, id);
		assert_int_equal(shmq_ctl_name_set(m->u.topic_info.topic, "orders", false), 0);
		m->u.topic_info.queues = 8;
		m->u.topic_info.created_ns = 1795000000123456789ull;
		break;
	case 4:
		shmq_ctl_msg_init(m, SHMQ_CTL_TOPIC_DESCRIBE, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.topic_describe_req.topic, "orders", false), 0);
		break;
	case 5:
		shmq_ctl_msg_init(m, SHMQ_CTL_TOPIC_DESCRIBE, R, id);
		assert_int_equal(shmq_ctl_name_set(m->u.topic_info.topic, "t", false), 0);
		m->u.topic_info.queues = 1;
		break;
	case 6:
		shmq_ctl_msg_init(m, SHMQ_CTL_TOPIC_LIST, 0, id);
		m->u.topic_list_req.start = 3;
		m->u.topic_list_req.max = SHMQ_CTL_LIST_MAX;
		break;
	case 7:
		shmq_ctl_msg_init(m, SHMQ_CTL_TOPIC_LIST, R, id);
		m->u.topic_list_resp.hdr.total = 100;
		m->u.topic_list_resp.hdr.count = SHMQ_CTL_LIST_MAX;
		for (unsigned k = 0; k < SHMQ_CTL_LIST_MAX; k++) {
			char name[32];
			snprintf(name, sizeof(name), "topic%03u", k);
			assert_int_equal(shmq_ctl_name_set(m->u.topic_list_resp.names[k].topic, name, false), 0);
		}
		break;
	case 8:
		shmq_ctl_msg_init(m, SHMQ_CTL_OPEN_QUEUE, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.open_queue_req.topic, "orders", false), 0);
		m->u.open_queue_req.queue = 1023;
		m->u.open_queue_req.mode = SHMQ_CTL_OPEN_CONSUME;
		break;
	case 9:
		shmq_ctl_msg_init(m, SHMQ_CTL_OPEN_QUEUE, R | SHMQ_CTL_F_HAS_FD, id);
		m->u.open_queue_resp.queue = 3;
		m->u.open_queue_resp.mode = SHMQ_CTL_OPEN_PRODUCE;
		m->u.open_queue_resp.ring_capacity = 1ull << 22;
		break;
	case 10:
		shmq_ctl_msg_init(m, SHMQ_CTL_GROUP_JOIN, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.group_req.group, "billing", false), 0);
		assert_int_equal(shmq_ctl_name_set(m->u.group_req.topic, "orders", false), 0);
		m->u.group_req.mode = SHMQ_CTL_GROUP_BROADCASTING;
		break;
	case 11:
		shmq_ctl_msg_init(m, SHMQ_CTL_GROUP_JOIN, R | SHMQ_CTL_F_HAS_FD, id);
		m->u.group_join_resp.hdr.generation = 42;
		m->u.group_join_resp.hdr.count = 5;
		m->u.group_join_resp.hdr.member_id = 0x1234567890abcdefull;
		m->u.group_join_resp.hdr.queues = 16;
		m->u.group_join_resp.hdr.mode = SHMQ_CTL_GROUP_CLUSTERING;
		for (unsigned k = 0; k < 5; k++)
			m->u.group_join_resp.queues[k] = k * 3 + 1;
		break;
	case 12:
		shmq_ctl_msg_init(m, SHMQ_CTL_GROUP_LEAVE, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.group_req.group, "billing", false), 0);
		assert_int_equal(shmq_ctl_name_set(m->u.group_req.topic, "orders", false), 0);
		break;
	case 13:
		shmq_ctl_msg_init(m, SHMQ_CTL_GROUP_LEAVE, R, id);
		break;
	case 14:
		shmq_ctl_msg_init(m, SHMQ_CTL_COMMIT_OFFSET, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.commit_req.group, "billing", false), 0);
		assert_int_equal(shmq_ctl_name_set(m->u.commit_req.topic, "orders", false), 0);
		m->u.commit_req.queue = 2;
		m->u.commit_req.offset = 123456789012ull;
		break;
	case 15:
		shmq_ctl_msg_init(m, SHMQ_CTL_COMMIT_OFFSET, R, id);
		break;
	case 16:
		shmq_ctl_msg_init(m, SHMQ_CTL_STATUS, 0, id);
		break;
	case 17:
		shmq_ctl_msg_init(m, SHMQ_CTL_STATUS, R, id);
		m->u.status_resp.uptime_ns = 5;
		m->u.status_resp.commitlog_max_offset = 1000;
		m->u.status_resp.commitlog_flushed_offset = 900;
		m->u.status_resp.topics = 3;
		m->u.status_resp.clients = 2;
		m->u.status_resp.commitlog_min_offset = 100;
		m->u.status_resp.disk_total = 1000000000000ull;
		m->u.status_resp.disk_free = 500000000000ull;
		m->u.status_resp.store_bytes = 3u << 30;
		m->u.status_resp.messages = 77777;
		m->u.status_resp.rings = 8;
		m->u.status_resp.fenced_rings = 1;
		m->u.status_resp.pid = 4242;
		m->u.status_resp.flush_mode = 1;
		m->u.status_resp.broker_id = 0x01020304;
		break;
	case 18:
		shmq_ctl_error_init(m, id, -EACCES, "uid %u may not produce to %s", 1000u, "orders");
		break;
	case 19:
	case 29: /* GROUP_SYNC and GROUP_PROGRESS requests: a group_req, mode 0 */
		shmq_ctl_msg_init(m, i == 19 ? SHMQ_CTL_GROUP_SYNC : SHMQ_CTL_GROUP_PROGRESS, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.group_sync_req.group, "billing", false), 0);
		assert_int_equal(shmq_ctl_name_set(m->u.group_sync_req.topic, "orders", false), 0);
		break;
	case 20:
		shmq_ctl_msg_init(m, SHMQ_CTL_GROUP_SYNC, R, id);
		m->u.group_join_resp.hdr.generation = 43;
		m->u.group_join_resp.hdr.count = 2;
		m->u.group_join_resp.hdr.member_id = 99;
		m->u.group_join_resp.hdr.queues = 16;
		m->u.group_join_resp.hdr.mode = SHMQ_CTL_GROUP_BROADCASTING;
		m->u.group_join_resp.queues[0] = 0;
		m->u.group_join_resp.queues[1] = 15;
		break;
	case 21:
		shmq_ctl_msg_init(m, SHMQ_CTL_QUEUE_RELEASE, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.queue_release_req.group, "billing", false), 0);
		assert_int_equal(shmq_ctl_name_set(m->u.queue_release_req.topic, "orders", false), 0);
		m->u.queue_release_req.queue = 7;
		m->u.queue_release_req.generation = 44;
		break;
	case 22:
		shmq_ctl_msg_init(m, SHMQ_CTL_QUEUE_RELEASE, R, id);
		break;
	case 23:
		shmq_ctl_msg_init(m, SHMQ_CTL_OPEN_SEGMENT, 0, id);
		m->u.open_segment_req.offset = (5ull << 30) + 17;
		break;
	case 24:
		shmq_ctl_msg_init(m, SHMQ_CTL_OPEN_SEGMENT, R | SHMQ_CTL_F_HAS_FD, id);
		m->u.open_segment_resp.base_offset = 5ull << 30;
		m->u.open_segment_resp.file_size = 1ull << 30;
		m->u.open_segment_resp.written_end = (5ull << 30) + 4096;
		m->u.open_segment_resp.min_offset = 1ull << 30;
		break;
	case 25:
		shmq_ctl_msg_init(m, SHMQ_CTL_OPEN_CQ, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.open_cq_req.topic, "orders", false), 0);
		m->u.open_cq_req.queue = 3;
		m->u.open_cq_req.file_index = 2;
		break;
	case 26:
		shmq_ctl_msg_init(m, SHMQ_CTL_OPEN_CQ, R | SHMQ_CTL_F_HAS_FD, id);
		m->u.open_cq_resp.file_index = 2;
		m->u.open_cq_resp.entries_per_file = 300000;
		m->u.open_cq_resp.min_queue_offset = 10;
		m->u.open_cq_resp.max_queue_offset = 650000;
		break;
	case 27:
		shmq_ctl_msg_init(m, SHMQ_CTL_QUERY_KEY, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.query_key_req.topic, "orders", false), 0);
		strcpy(m->u.query_key_req.key, "order-42/\xc3\xa9t\xc3\xa9"); /* UTF-8 is fine */
		m->u.query_key_req.begin_ms = 0;
		m->u.query_key_req.end_ms = UINT64_MAX;
		m->u.query_key_req.max = SHMQ_CTL_QUERY_MAX;
		break;
	case 28:
		shmq_ctl_msg_init(m, SHMQ_CTL_QUERY_KEY, R, id);
		m->u.query_resp.hdr.count = 3;
		for (unsigned k = 0; k < 3; k++)
			m->u.query_resp.hits[k] = (struct shmq_ctl_query_hit){
				.commitlog_offset = 1000000 - k * 4096, .size = 300 + k, .queue = k,
				.store_ts_ms = 1795000000000ull - k };
		break;
	case 30:
		shmq_ctl_msg_init(m, SHMQ_CTL_GROUP_PROGRESS, R, id);
		m->u.progress_resp.hdr.count = SHMQ_CTL_QUEUES_MAX; /* the largest body */
		m->u.progress_resp.hdr.generation = 5;
		m->u.progress_resp.hdr.members = 3;
		m->u.progress_resp.hdr.mode = SHMQ_CTL_GROUP_CLUSTERING;
		for (unsigned k = 0; k < SHMQ_CTL_QUEUES_MAX; k++)
			m->u.progress_resp.entries[k] = (struct shmq_ctl_progress_entry){
				.committed = k % 7 == 0 ? UINT64_MAX : k * 10ull, .min_offset = k,
				.max_offset = k * 20ull + 5, .owner = k % 3 + 1 };
		break;
	case 31:
		shmq_ctl_msg_init(m, SHMQ_CTL_GROUP_RESET, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.group_reset_req.group, "billing", false), 0);
		assert_int_equal(shmq_ctl_name_set(m->u.group_reset_req.topic, "orders", false), 0);
		m->u.group_reset_req.kind = SHMQ_CTL_RESET_TIMESTAMP;
		m->u.group_reset_req.timestamp_ms = 1795000000000ull;
		break;
	case 32:
		shmq_ctl_msg_init(m, SHMQ_CTL_GROUP_RESET, R, id);
		m->u.progress_resp.hdr.count = 4;
		m->u.progress_resp.hdr.generation = 6;
		m->u.progress_resp.hdr.members = 0;
		m->u.progress_resp.hdr.mode = 0; /* group unknown */
		for (unsigned k = 0; k < 4; k++)
			m->u.progress_resp.entries[k] = (struct shmq_ctl_progress_entry){
				.committed = 3, .min_offset = 3, .max_offset = 3 };
		break;
	case 33:
		shmq_ctl_msg_init(m, SHMQ_CTL_RING_STATUS, 0, id);
		m->u.ring_status_req.start = 64;
		m->u.ring_status_req.max = SHMQ_CTL_RING_PAGE;
		break;
	case 34:
		shmq_ctl_msg_init(m, SHMQ_CTL_RING_STATUS, R, id);
		m->u.ring_status_resp.hdr.total = 200;
		m->u.ring_status_resp.hdr.count = SHMQ_CTL_RING_PAGE;
		for (unsigned k = 0; k < SHMQ_CTL_RING_PAGE; k++) {
			struct shmq_ctl_ring_entry *e = &m->u.ring_status_resp.entries[k];
			char name[32];
			snprintf(name, sizeof(name), "t%02u", k / 2);
			assert_int_equal(shmq_ctl_name_set(e->topic, name, false), 0);
			e->queue = k % 2;
			e->fenced = k == 5;
			e->capacity = 1u << 20;
			e->tail = 1000000 + k;
			e->consumed = 900000 + k;
			e->persisted = 900000 + k;
			e->flushed = 800000;
			e->next_queue_offset = 12345 + k;
			e->unblocked = k == 9;
		}
		break;
	case 35:
		shmq_ctl_msg_init(m, SHMQ_CTL_SEARCH_TIME, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.search_time_req.topic, "orders", false), 0);
		m->u.search_time_req.queue = 1023;
		m->u.search_time_req.timestamp_ms = 1795000000123ull;
		break;
	case 36:
		shmq_ctl_msg_init(m, SHMQ_CTL_SEARCH_TIME, R, id);
		m->u.search_time_resp.queue = 1023;
		m->u.search_time_resp.offset = 5000000000ull;
		m->u.search_time_resp.min_offset = 4000000000ull;
		m->u.search_time_resp.max_offset = 6000000000ull;
		break;
	case 37:
		shmq_ctl_msg_init(m, SHMQ_CTL_TOPIC_OPEN, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.topic_describe_req.topic, "orders.new", false), 0);
		break;
	case 38:
		shmq_ctl_msg_init(m, SHMQ_CTL_TOPIC_OPEN, R, id);
		assert_int_equal(shmq_ctl_name_set(m->u.topic_info.topic, "orders.new", false), 0);
		m->u.topic_info.queues = 4;
		m->u.topic_info.created_ns = 1795000000123456789ull;
		break;
	case 39:
		shmq_ctl_msg_init(m, SHMQ_CTL_READ_MSG, 0, id);
		m->u.read_msg_req.kind = SHMQ_CTL_READ_OFFSET; /* topic "", queue 0 */
		m->u.read_msg_req.offset = (5ull << 30) + 4096;
		break;
	case 40:
		shmq_ctl_msg_init(m, SHMQ_CTL_READ_MSG, 0, id);
		assert_int_equal(shmq_ctl_name_set(m->u.read_msg_req.topic, "orders", false), 0);
		m->u.read_msg_req.kind = SHMQ_CTL_READ_QUEUE;
		m->u.read_msg_req.queue = 1023;
		m->u.read_msg_req.offset = 77;
		break;
	case 41:
		shmq_ctl_msg_init(m, SHMQ_CTL_READ_MSG, R, id);
		m->u.read_msg_resp.hdr.commitlog_offset = (5ull << 30) + 4096;
		m->u.read_msg_resp.hdr.size = 300; /* bytes the codec carries, unread */
		for (unsigned k = 0; k < 300; k++)
			m->u.read_msg_resp.record[k] = (uint8_t)(k * 7 + 1);
		break;
	default:
		fail();
	}
}

static uint8_t wire[SHMQ_CTL_MSG_MAX];

static void test_every_message_type_round_trips_through_encode_and_decode(void **state)
{
	(void)state;
	for (int i = 0; i < NSAMPLES; i++) {
		struct shmq_ctl_msg m, d;
		sample(i, &m);
		int n = shmq_ctl_encode(&m, wire, sizeof(wire));
		assert_true(n >= (int)sizeof(struct shmq_ctl_hdr));
		assert_int_equal(shmq_ctl_decode(wire, (size_t)n, &d), 0);
		assert_memory_equal(&m, &d, sizeof(m));
	}
}

static void test_header_is_little_endian_at_the_documented_offsets(void **state)
{
	(void)state;
	struct shmq_ctl_msg m;
	sample(8, &m); /* OPEN_QUEUE request */
	int n = shmq_ctl_encode(&m, wire, sizeof(wire));
	assert_int_equal(n, 24 + 136);
	assert_memory_equal(wire, "SQCT", 4);
	assert_int_equal(wire[4], SHMQ_CTL_VERSION); /* version */
	assert_int_equal(wire[5], 0);
	assert_int_equal(wire[6], SHMQ_CTL_OPEN_QUEUE);
	assert_int_equal(wire[8], 0); /* flags */
	assert_int_equal(wire[12], 136); /* length */
	assert_int_equal(wire[16], 0x08); /* request id, least significant byte first */
	assert_int_equal(wire[23], 0x11);
	assert_string_equal((char *)wire + 24, "orders");
	assert_int_equal(wire[24 + 128], 0xff); /* queue 1023 */
	assert_int_equal(wire[24 + 129], 0x03);
	assert_int_equal(wire[24 + 132], SHMQ_CTL_OPEN_CONSUME);
}

static void expect_invalid(struct shmq_ctl_msg *m)
{
	/* the encoder refuses what the validator refuses */
	assert_int_equal(shmq_ctl_encode(m, wire, sizeof(wire)), -EINVAL);
}

static int decode_patched(const uint8_t *src, size_t n, size_t off, const void *val, size_t vlen)
{
	static uint8_t buf[SHMQ_CTL_MSG_MAX];
	struct shmq_ctl_msg d;
	memcpy(buf, src, n);
	memcpy(buf + off, val, vlen);
	return shmq_ctl_decode(buf, n, &d);
}

static void test_decode_rejects_foreign_magic_version_and_bad_header_fields(void **state)
{
	(void)state;
	struct shmq_ctl_msg m;
	sample(0, &m);
	size_t n = (size_t)shmq_ctl_encode(&m, wire, sizeof(wire));
	uint16_t v16;
	uint32_t v32;

	assert_int_equal(decode_patched(wire, n, 0, "XQCT", 4), -EPROTONOSUPPORT);
	v16 = htole16(SHMQ_CTL_VERSION + 1);
	assert_int_equal(decode_patched(wire, n, 4, &v16, 2), -EPROTONOSUPPORT);
	v16 = htole16(SHMQ_CTL_VERSION - 1); /* version 1: STATUS had no broker id */
	assert_int_equal(decode_patched(wire, n, 4, &v16, 2), -EPROTONOSUPPORT);
	v16 = htole16(0);
	assert_int_equal(decode_patched(wire, n, 6, &v16, 2), -EBADMSG); /* type 0 */
	v16 = htole16(SHMQ_CTL_TYPE_MAX + 1);
	assert_int_equal(decode_patched(wire, n, 6, &v16, 2), -EBADMSG);
	v16 = htole16(SHMQ_CTL_ERROR); /* ERROR as a request */
	assert_int_equal(decode_patched(wire, n, 6, &v16, 2), -EBADMSG);
	v16 = htole16(1u << 5); /* unknown flag */
	assert_int_equal(decode_patched(wire, n, 8, &v16, 2), -EBADMSG);
	v16 = htole16(SHMQ_CTL_F_HAS_FD); /* fd on a request */
	assert_int_equal(decode_patched(wire, n, 8, &v16, 2), -EBADMSG);
	v16 = htole16(1);
	assert_int_equal(decode_patched(wire, n, 10, &v16, 2), -EBADMSG); /* reserved */
	v32 = htole32((uint32_t)n); /* length counting the header */
	assert_int_equal(decode_patched(wire, n, 12, &v32, 4), -EBADMSG);
	v32 = htole32(0xffffffffu);
	assert_int_equal(decode_patched(wire, n, 12, &v32, 4), -EBADMSG);
	/* a response carries HAS_FD exactly when it is OPEN_QUEUE's,
	 * GROUP_JOIN's, OPEN_SEGMENT's or OPEN_CQ's */
	static const int with_fd[] = { 9, 11, 24, 26 };
	for (size_t k = 0; k < SHMQ_ARRAY_SIZE(with_fd); k++) {
		sample(with_fd[k], &m);
		n = (size_t)shmq_ctl_encode(&m, wire, sizeof(wire));
		assert_true(n > 24);
		v16 = htole16(SHMQ_CTL_F_RESPONSE);
		assert_int_equal(decode_patched(wire, n, 8, &v16, 2), -EBADMSG);
		m.flags = SHMQ_CTL_F_RESPONSE;
		expect_invalid(&m);
	}
	for (int i = 0; i < NSAMPLES; i++) {
		sample(i, &m);
		bool fd = false;
		for (size_t k = 0; k < SHMQ_ARRAY_SIZE(with_fd); k++)
			fd |= with_fd[k] == i;
		if (fd)
			continue;
		n = (size_t)shmq_ctl_encode(&m, wire, sizeof(wire));
		v16 = htole16((uint16_t)(m.flags | SHMQ_CTL_F_HAS_FD));
		assert_int_equal(decode_patched(wire, n, 8, &v16, 2), -EBADMSG);
		m.flags |= SHMQ_CTL_F_HAS_FD;
		expect_invalid(&m);
	}
}

static void test_decode_rejects_every_truncation_and_extension(void **state)
{
	(void)state;
	static uint8_t buf[SHMQ_CTL_MSG_MAX + 8];
	for (int i = 0; i < NSAMPLES; i++) {
		struct shmq_ctl_msg m, d;
		sample(i, &m);
		size_t n = (size_t)shmq_ctl_encode(&m, wire, sizeof(wire));
		for (size_t len = 0; len < n; len++) {
			/* large pages: every length near both ends, a sample between */
			if (len > 600 && len + 600 < n && len % 97 != 0)
				continue;
			/* both with the header's original length and with one that
			 * matches the truncated datagram */
			assert_int_not_equal(shmq_ctl_decode(wire, len, &d), 0);
			if (len >= 24) {
				memcpy(buf, wire, len);
				uint32_t l = htole32((uint32_t)(len - 24));
				memcpy(buf + 12, &l, 4);
				assert_int_equal(shmq_ctl_decode(buf, len, &d), -EBADMSG);
			}
		}
		memcpy(buf, wire, n);
		buf[n] = 0;
		uint32_t l = htole32((uint32_t)(n + 1 - 24));
		memcpy(buf + 12, &l, 4);
		assert_int_equal(shmq_ctl_decode(buf, n + 1, &d), -EBADMSG);
	}
	struct shmq_ctl_msg d;
	assert_int_equal(shmq_ctl_decode(buf, SHMQ_CTL_MSG_MAX + 1, &d), -EBADMSG);
}

static void test_names_must_be_1_to_127_bytes_of_the_topic_charset(void **state)
{
	(void)state;
	char name[200];

	assert_int_equal(shmq_ctl_name_check("a"), 1);
	assert_int_equal(shmq_ctl_name_check("AZaz09_.%|-"), 11);
	memset(name, 'x', 127);
	name[127] = '\0';
	assert_int_equal(shmq_ctl_name_check(name), 127);
	memset(name, 'x', 128);
	name[128] = '\0';
	assert_int_equal(shmq_ctl_name_check(name), -EINVAL);
	static const char *const bad[] = { "", "a b", "a/b", "a:b", "a*", "tab\t", "\xc3\xa9t\xc3\xa9", "a\nb", "a,b" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(shmq_ctl_name_check(bad[i]), -EINVAL);
	assert_int_equal(shmq_ctl_name_check(NULL), -EINVAL);
	assert_int_equal(shmq_ctl_name_set(name, "", false), -EINVAL);
	assert_int_equal(shmq_ctl_name_set(name, "", true), 0);
	assert_int_equal(shmq_ctl_name_set(name, "a b", true), -EINVAL);
}

static void test_string_fields_need_a_nul_and_only_zeros_after_it(void **state)
{
	(void)state;
	struct shmq_ctl_msg m;
	sample(4, &m); /* DESCRIBE "orders" */
	size_t n = (size_t)shmq_ctl_encode(&m, wire, sizeof(wire));
	static uint8_t full[128];
	memset(full, 'a', sizeof(full));
	assert_int_equal(decode_patched(wire, n, 24, full, 128), -EBADMSG); /* no NUL */
	assert_int_equal(decode_patched(wire, n, 24 + 100, "z", 1), -EBADMSG); /* garbage after NUL */
	assert_int_equal(decode_patched(wire, n, 24, "or/ers", 6), -EBADMSG); /* charset */
	assert_int_equal(decode_patched(wire, n, 24, "\0", 1), -EBADMSG); /* empty */
	/* encode refuses the same */
	m.u.topic_describe_req.topic[100] = 'z';
	assert_int_equal(shmq_ctl_encode(&m, wire, sizeof(wire)), -EINVAL);
}


static void test_enums_counts_order_and_reserved_fields_are_validated(void **state)
{
	(void)state;
	struct shmq_ctl_msg m;

	sample(0, &m), m.u.hello_req.role = 0, expect_invalid(&m);
	sample(0, &m), m.u.hello_req.role = 8, expect_invalid(&m);
	sample(0, &m), m.u.hello_req.client_version = 0, expect_invalid(&m);
	sample(0, &m), m.u.hello_req.reserved[1] = 1, expect_invalid(&m);
	sample(2, &m), m.u.topic_create_req.queues = 0, expect_invalid(&m);
	sample(2, &m), m.u.topic_create_req.queues = 1025, expect_invalid(&m);
	sample(3, &m), m.u.topic_info.reserved = 1, expect_invalid(&m);
	sample(6, &m), m.u.topic_list_req.max = 0, expect_invalid(&m);
	sample(6, &m), m.u.topic_list_req.max = SHMQ_CTL_LIST_MAX + 1, expect_invalid(&m);
	sample(7, &m), m.u.topic_list_resp.hdr.count = SHMQ_CTL_LIST_MAX + 1, expect_invalid(&m);
	sample(7, &m), m.u.topic_list_resp.hdr.total = 3, expect_invalid(&m); /* count > total */
	sample(7, &m), memcpy(m.u.topic_list_resp.names[5].topic, "topic004", 8), expect_invalid(&m);
	sample(8, &m), m.u.open_queue_req.mode = 3, expect_invalid(&m);
	sample(8, &m), m.u.open_queue_req.queue = 1024, expect_invalid(&m);
	sample(9, &m), m.u.open_queue_resp.ring_capacity = 5000, expect_invalid(&m);
	sample(10, &m), m.u.group_req.mode = 0, expect_invalid(&m);
	sample(10, &m), m.u.group_req.group[0] = '\0', expect_invalid(&m);
	sample(11, &m), m.u.group_join_resp.queues[2] = m.u.group_join_resp.queues[1], expect_invalid(&m);
	sample(11, &m), m.u.group_join_resp.queues[4] = 1024, expect_invalid(&m);
	sample(11, &m), m.u.group_join_resp.hdr.count = SHMQ_CTL_QUEUES_MAX + 1, expect_invalid(&m);
	sample(11, &m), m.u.group_join_resp.queues[4] = 16, expect_invalid(&m); /* >= queues */
	sample(11, &m), m.u.group_join_resp.hdr.queues = 4, expect_invalid(&m); /* count > queues */
	sample(11, &m), m.u.group_join_resp.hdr.queues = 0, expect_invalid(&m);
	sample(11, &m), m.u.group_join_resp.hdr.queues = 1025, expect_invalid(&m);
	sample(11, &m), m.u.group_join_resp.hdr.member_id = 0, expect_invalid(&m);
	sample(11, &m), m.u.group_join_resp.hdr.mode = 0, expect_invalid(&m);
	sample(11, &m), m.u.group_join_resp.hdr.mode = 3, expect_invalid(&m);
	sample(20, &m), m.u.group_join_resp.hdr.member_id = 0, expect_invalid(&m);
	sample(20, &m), m.u.group_join_resp.queues[1] = 0, expect_invalid(&m);
	sample(12, &m), m.u.group_req.mode = SHMQ_CTL_GROUP_CLUSTERING, expect_invalid(&m);
	sample(14, &m), m.u.commit_req.offset = 1ull << 63, expect_invalid(&m);
	sample(17, &m), m.u.status_resp.commitlog_flushed_offset = 1001, expect_invalid(&m);
	sample(17, &m), m.u.status_resp.commitlog_min_offset = 901, expect_invalid(&m);
	sample(17, &m), m.u.status_resp.disk_free = m.u.status_resp.disk_total + 1, expect_invalid(&m);
	sample(17, &m), m.u.status_resp.fenced_rings = 9, expect_invalid(&m);
	sample(17, &m), m.u.status_resp.flush_mode = 2, expect_invalid(&m);
	sample(19, &m), m.u.group_sync_req.mode = SHMQ_CTL_GROUP_CLUSTERING, expect_invalid(&m);
	sample(19, &m), m.u.group_sync_req.reserved = 1, expect_invalid(&m);
	sample(29, &m), m.u.progress_req.mode = SHMQ_CTL_GROUP_BROADCASTING, expect_invalid(&m);
	sample(29, &m), m.u.progress_req.topic[0] = '\0', expect_invalid(&m);
	sample(21, &m), m.u.queue_release_req.queue = 1024, expect_invalid(&m);
	sample(21, &m), m.u.queue_release_req.group[0] = '\0', expect_invalid(&m);
	sample(21, &m), m.u.queue_release_req.topic[2] = ' ', expect_invalid(&m);
	sample(24, &m), m.u.open_segment_resp.min_offset = m.u.open_segment_resp.written_end + 1,
		expect_invalid(&m);
	sample(24, &m), m.u.open_segment_resp.file_size = 0, expect_invalid(&m);
	sample(24, &m), m.u.open_segment_resp.base_offset = UINT64_MAX - 100, expect_invalid(&m);
	sample(25, &m), m.u.open_cq_req.queue = 1024, expect_invalid(&m);
	sample(25, &m), m.u.open_cq_req.topic[0] = '\0', expect_invalid(&m);
	sample(26, &m), m.u.open_cq_resp.entries_per_file = 0, expect_invalid(&m);
	sample(26, &m), m.u.open_cq_resp.min_queue_offset = 650001, expect_invalid(&m);
	sample(27, &m), m.u.query_key_req.begin_ms = 5, m.u.query_key_req.end_ms = 4, expect_invalid(&m);
	sample(27, &m), m.u.query_key_req.max = 0, expect_invalid(&m);
	sample(27, &m), m.u.query_key_req.max = SHMQ_CTL_QUERY_MAX + 1, expect_invalid(&m);
	sample(27, &m), m.u.query_key_req.reserved = 1, expect_invalid(&m);
	sample(28, &m), m.u.query_resp.hdr.count = SHMQ_CTL_QUERY_MAX + 1, expect_invalid(&m);
	sample(28, &m), m.u.query_resp.hdr.reserved = 1, expect_invalid(&m);
	sample(28, &m), m.u.query_resp.hits[2].size = 0, expect_invalid(&m);
	sample(28, &m), m.u.query_resp.hits[1].queue = 1024, expect_invalid(&m);
	sample(30, &m), m.u.progress_resp.hdr.count = 0, expect_invalid(&m);
	sample(30, &m), m.u.progress_resp.hdr.count = SHMQ_CTL_QUEUES_MAX + 1, expect_invalid(&m);
	sample(30, &m), m.u.progress_resp.hdr.mode = 3, expect_invalid(&m);
	sample(30, &m), m.u.progress_resp.entries[1000].min_offset = 1000000, expect_invalid(&m);
	sample(32, &m), m.u.progress_resp.entries[3].max_offset = 2, expect_invalid(&m);
	sample(31, &m), m.u.group_reset_req.kind = 0, expect_invalid(&m);
	sample(31, &m), m.u.group_reset_req.kind = 4, expect_invalid(&m);
	sample(31, &m), m.u.group_reset_req.kind = SHMQ_CTL_RESET_EARLIEST, expect_invalid(&m);
	sample(31, &m), m.u.group_reset_req.kind = SHMQ_CTL_RESET_LATEST, expect_invalid(&m);
	sample(31, &m), m.u.group_reset_req.reserved = 1, expect_invalid(&m);
	sample(31, &m), m.u.group_reset_req.group[0] = '\0', expect_invalid(&m);
	sample(33, &m), m.u.ring_status_req.max = 0, expect_invalid(&m);
	sample(33, &m), m.u.ring_status_req.max = SHMQ_CTL_RING_PAGE + 1, expect_invalid(&m);
	sample(34, &m), m.u.ring_status_resp.hdr.count = SHMQ_CTL_RING_PAGE + 1, expect_invalid(&m);
	sample(34, &m), m.u.ring_status_resp.hdr.total = 63, expect_invalid(&m); /* count > total */
	sample(34, &m), m.u.ring_status_resp.entries[7].queue = 0, expect_invalid(&m); /* duplicate */
	sample(34, &m), m.u.ring_status_resp.entries[8].topic[2] = '0', expect_invalid(&m); /* t00 after t03 */
	sample(34, &m), m.u.ring_status_resp.entries[9].queue = 1024, expect_invalid(&m);
	sample(34, &m), m.u.ring_status_resp.entries[9].fenced = 2, expect_invalid(&m);
	sample(34, &m), m.u.ring_status_resp.entries[9].capacity = 5000, expect_invalid(&m);
	sample(34, &m), m.u.ring_status_resp.entries[9].topic[0] = '\0', expect_invalid(&m);
	sample(34, &m), m.u.ring_status_resp.entries[9].topic[100] = 'x', expect_invalid(&m);
	/* valid edge cases */
	sample(31, &m), m.u.group_reset_req.kind = SHMQ_CTL_RESET_LATEST, m.u.group_reset_req.timestamp_ms = 0;
	assert_true(shmq_ctl_encode(&m, wire, sizeof(wire)) > 0);
	sample(34, &m), m.u.ring_status_resp.hdr.count = 0;
	assert_true(shmq_ctl_encode(&m, wire, sizeof(wire)) > 0);
	sample(28, &m), m.u.query_resp.hdr.count = 0;
	assert_true(shmq_ctl_encode(&m, wire, sizeof(wire)) > 0);
	sample(20, &m), m.u.group_join_resp.hdr.count = 0;
	assert_true(shmq_ctl_encode(&m, wire, sizeof(wire)) > 0);
	sample(18, &m), m.u.error.status = 0, expect_invalid(&m);
	sample(18, &m), m.u.error.message[0] = '\n', expect_invalid(&m);

	/* the same checks hold on the decoding side: patch a valid wire form */
	sample(8, &m);
	size_t n = (size_t)shmq_ctl_encode(&m, wire, sizeof(wire));
	uint32_t v = htole32(3);
	assert_int_equal(decode_patched(wire, n, 24 + 132, &v, 4), -EBADMSG);
	sample(11, &m);
	n = (size_t)shmq_ctl_encode(&m, wire, sizeof(wire));
	v = htole32(0);
	assert_int_equal(decode_patched(wire, n, 24 + 24 + 4, &v, 4), -EBADMSG); /* 1 then 0 */
	v = htole32(16);
	assert_int_equal(decode_patched(wire, n, 24 + 24 + 16, &v, 4), -EBADMSG); /* >= queues */
	/* a count larger than its array on the wire never reaches the array */
	static const struct { int sample; size_t off; uint32_t count; } big[] = {
		{ 30, 0, SHMQ_CTL_QUEUES_MAX + 1 }, { 34, 4, SHMQ_CTL_RING_PAGE + 1 },
		{ 28, 0, SHMQ_CTL_QUERY_MAX + 1 }, { 20, 4, SHMQ_CTL_QUEUES_MAX + 1 },
		{ 30, 0, 0xffffffffu }, { 34, 4, 0xffffffffu },
	};
	for (size_t k = 0; k < SHMQ_ARRAY_SIZE(big); k++) {
		sample(big[k].sample, &m);
		n = (size_t)shmq_ctl_encode(&m, wire, sizeof(wire));
		v = htole32(big[k].count);
		assert_int_equal(decode_patched(wire, n, 24 + big[k].off, &v, 4), -EBADMSG);
	}
	/* an unsorted ring page on the wire */
	sample(34, &m);
	n = (size_t)shmq_ctl_encode(&m, wire, sizeof(wire));
	v = htole32(1);
	assert_int_equal(decode_patched(wire, n, 24 + 8 + 192 * 2 + 128, &v, 4), -EBADMSG);
}

static void test_query_keys_are_1_to_255_bytes_without_space_or_control_characters(void **state)
{
	(void)state;
	char key[300];
	assert_int_equal(shmq_ctl_key_check("a"), 1);
	assert_int_equal(shmq_ctl_key_check("order#42/\xc3\xa9"), 11);
	memset(key, 'k', 255);
	key[255] = '\0';
	assert_int_equal(shmq_ctl_key_check(key), 255);
	key[255] = 'k';
	key[256] = '\0';
	assert_int_equal(shmq_ctl_key_check(key), -EINVAL);
	static const char *const bad[] = { "", "a b", "tab\t", "a\nb", "del\x7f", "\x01" };
	for (size_t i = 0; i < SHMQ_ARRAY_SIZE(bad); i++)
		assert_int_equal(shmq_ctl_key_check(bad[i]), -EINVAL);
	assert_int_equal(shmq_ctl_key_check(NULL), -EINVAL);

	/* the codec applies the same rule to the QUERY_KEY field, both ways */
	struct shmq_ctl_msg m;
	for (size_t i = 0; i < SHMQ_ARRAY_SIZE(bad); i++) {
		sample(27, &m);
		memset(m.u.query_key_req.key, 0, SHMQ_CTL_KEY_LEN);
		memcpy(m.u.query_key_req.key, bad[i], strlen(bad[i]));
		expect_invalid(&m);
	}
	sample(27, &m);
	memset(m.u.query_key_req.key, 'k', SHMQ_CTL_KEY_LEN); /* no NUL */
	expect_invalid(&m);
	sample(27, &m);
	m.u.query_key_req.key[200] = 'x'; /* garbage after the NUL */
	expect_invalid(&m);
	sample(27, &m);
	memset(m.u.query_key_req.key, 'k', SHMQ_CTL_KEY_LEN - 1); /* 255 bytes + NUL: fine */
	int n = shmq_ctl_encode(&m, wire, sizeof(wire));
	assert_int_equal(n, 24 + 408);
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 128 + 3, " ", 1), -EBADMSG);
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 128 + 3, "\x1b", 1), -EBADMSG);
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 128 + 3, "\xff", 1), 0);
}

static void test_search_time_read_msg_and_status_broker_id_are_at_their_offsets_and_validated(void **state)
{
	(void)state;
	struct shmq_ctl_msg m;
	/* SEARCH_TIME request: topic, queue @128, reserved @132, timestamp @136 */
	sample(35, &m);
	int n = shmq_ctl_encode(&m, wire, sizeof(wire));
	assert_int_equal(n, 24 + 144);
	assert_int_equal(wire[6], SHMQ_CTL_SEARCH_TIME);
	assert_string_equal((char *)wire + 24, "orders");
	assert_int_equal(wire[24 + 128], 0xff);
	assert_int_equal(wire[24 + 129], 0x03);
	uint64_t ts;
	memcpy(&ts, wire + 24 + 136, 8);
	assert_int_equal(le64toh(ts), 1795000000123ull);
	uint32_t v = htole32(1);
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 132, &v, 4), -EBADMSG); /* reserved */
	v = htole32(SHMQ_CTL_QUEUES_MAX);
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 128, &v, 4), -EBADMSG); /* queue */
	sample(35, &m), m.u.search_time_req.topic[0] = '\0', expect_invalid(&m);
	sample(35, &m), m.u.search_time_req.reserved = 1, expect_invalid(&m);
	/* any timestamp is a question: 0 and UINT64_MAX too */
	sample(35, &m), m.u.search_time_req.timestamp_ms = UINT64_MAX;
	assert_true(shmq_ctl_encode(&m, wire, sizeof(wire)) > 0);

	/* response: min <= offset <= max, the documented invariant */
	sample(36, &m);
	n = shmq_ctl_encode(&m, wire, sizeof(wire));
	assert_int_equal(n, 24 + 32);
	uint64_t o = htole64(3999999999ull); /* offset below min */
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 8, &o, 8), -EBADMSG);
	o = htole64(6000000001ull); /* offset past max */
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 8, &o, 8), -EBADMSG);
	o = htole64(6000000000ull); /* the end: nothing stored that recent */
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 8, &o, 8), 0);
	sample(36, &m), m.u.search_time_resp.reserved = 2, expect_invalid(&m);
	sample(36, &m), m.u.search_time_resp.queue = SHMQ_CTL_QUEUES_MAX, expect_invalid(&m);
	sample(36, &m), m.u.search_time_resp.offset = m.u.search_time_resp.min_offset = 0;
	m.u.search_time_resp.max_offset = 0; /* a queue that stored nothing yet */
	assert_true(shmq_ctl_encode(&m, wire, sizeof(wire)) > 0);

	/* TOPIC_OPEN is shaped as TOPIC_DESCRIBE, with the same checks */
	sample(37, &m);
	assert_int_equal(shmq_ctl_encode(&m, wire, sizeof(wire)), 24 + 128);
	sample(37, &m), m.u.topic_describe_req.topic[0] = '\0', expect_invalid(&m);
	sample(38, &m), m.u.topic_info.queues = 0, expect_invalid(&m);
	sample(38, &m), m.u.topic_info.queues = SHMQ_CTL_QUEUES_MAX + 1, expect_invalid(&m);
	sample(38, &m), m.u.topic_info.reserved = 1, expect_invalid(&m);
	sample(38, &m);
	n = shmq_ctl_encode(&m, wire, sizeof(wire));
	assert_int_equal(n, 24 + 144);
	/* and neither may claim an fd */
	uint16_t f = htole16(SHMQ_CTL_F_RESPONSE | SHMQ_CTL_F_HAS_FD);
	assert_int_equal(decode_patched(wire, (size_t)n, 8, &f, 2), -EBADMSG);

	/* READ_MSG: topic "" and queue 0 exactly for kind OFFSET; a name and a
	 * queue for kind QUEUE; a record of 1..SHMQ_CTL_RECORD_MAX bytes */
	sample(39, &m), m.u.read_msg_req.queue = 1, expect_invalid(&m);
	sample(39, &m), strcpy(m.u.read_msg_req.topic, "orders"), expect_invalid(&m);
	sample(39, &m), m.u.read_msg_req.kind = 3, expect_invalid(&m);
	sample(39, &m), m.u.read_msg_req.kind = 0, expect_invalid(&m);
	sample(40, &m), m.u.read_msg_req.topic[0] = '\0', expect_invalid(&m);
	sample(40, &m), m.u.read_msg_req.queue = SHMQ_CTL_QUEUES_MAX, expect_invalid(&m);
	sample(41, &m), m.u.read_msg_resp.hdr.size = 0, expect_invalid(&m);
	sample(41, &m), m.u.read_msg_resp.hdr.reserved = 1, expect_invalid(&m);
	sample(41, &m), m.u.read_msg_resp.hdr.size = SHMQ_CTL_RECORD_MAX + 1, expect_invalid(&m);
	sample(41, &m), m.u.read_msg_resp.hdr.size = SHMQ_CTL_RECORD_MAX; /* the largest answer */
	n = shmq_ctl_encode(&m, wire, sizeof(wire));
	assert_int_equal(n, 24 + 16 + SHMQ_CTL_RECORD_MAX);
	sample(41, &m);
	n = shmq_ctl_encode(&m, wire, sizeof(wire));
	assert_int_equal(n, 24 + 16 + 300);
	assert_int_equal(wire[24 + 16], 1); /* the record's bytes as they were */
	assert_int_equal(wire[24 + 16 + 299], (uint8_t)(299 * 7 + 1));
	v = htole32(SHMQ_CTL_RECORD_MAX + 1); /* a size past the array never reaches it */
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 8, &v, 4), -EBADMSG);
	v = htole32(0xffffffffu);
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 8, &v, 4), -EBADMSG);
	v = htole32(299); /* a size that disagrees with the datagram */
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 8, &v, 4), -EBADMSG);

	/* STATUS tells the broker id at 176, reserved after it must be 0 */
	sample(17, &m);
	n = shmq_ctl_encode(&m, wire, sizeof(wire));
	assert_int_equal(n, 24 + 184);
	uint32_t id;
	memcpy(&id, wire + 24 + 176, 4);
	assert_int_equal(le32toh(id), 0x01020304);
	v = htole32(1);
	assert_int_equal(decode_patched(wire, (size_t)n, 24 + 180, &v, 4), -EBADMSG);
	sample(17, &m), m.u.status_resp.reserved = 1, expect_invalid(&m);
}

static void test_every_type_has_a_name(void **state)
{
	(void)state;
	for (unsigned t = SHMQ_CTL_HELLO; t <= SHMQ_CTL_TYPE_MAX; t++)
		assert_string_not_equal(shmq_ctl_type_name(t), "UNKNOWN");
	assert_string_equal(shmq_ctl_type_name(SHMQ_CTL_GROUP_SYNC), "GROUP_SYNC");
	assert_string_equal(shmq_ctl_type_name(SHMQ_CTL_RING_STATUS), "RING_STATUS");
	assert_string_equal(shmq_ctl_type_name(SHMQ_CTL_SEARCH_TIME), "SEARCH_TIME");
	assert_string_equal(shmq_ctl_type_name(SHMQ_CTL_TOPIC_OPEN), "TOPIC_OPEN");
	assert_string_equal(shmq_ctl_type_name(SHMQ_CTL_READ_MSG), "READ_MSG");
	assert_string_equal(shmq_ctl_type_name(SHMQ_CTL_TYPE_MAX + 1), "UNKNOWN");
}

static void test_encode_refuses_a_buffer_too_small(void **state)
{
	(void)state;
	struct shmq_ctl_msg m;
	sample(7, &m);
	int n = shmq_ctl_encode(&m, wire, sizeof(wire));
	assert_true(n > 0);
	assert_int_equal(shmq_ctl_encode(&m, wire, (size_t)n - 1), -EMSGSIZE);
	assert_int_equal(shmq_ctl_encode(&m, wire, (size_t)n), n);
}

static void test_error_init_keeps_text_printable_and_bounded(void **state)
{
	(void)state;
	struct shmq_ctl_msg m, d;
	char big[600];
	memset(big, 'e', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	shmq_ctl_error_init(&m, 9, -EINVAL, "bad\nline\x01 %s", big);
	assert_int_equal(m.u.error.status, -EINVAL);
	assert_int_equal(strncmp(m.u.error.message, "bad?line? eee", 13), 0);
	assert_int_equal(strlen(m.u.error.message), SHMQ_CTL_ERRMSG_LEN - 1);
	int n = shmq_ctl_encode(&m, wire, sizeof(wire));
	assert_true(n > 0);
	assert_int_equal(shmq_ctl_decode(wire, (size_t)n, &d), 0);
	assert_string_equal(d.u.error.message, m.u.error.message);
	/* a non-negative status is not an error: it becomes -EPROTO */
	shmq_ctl_error_init(&m, 9, 5, "x");
	assert_int_equal(m.u.error.status, -EPROTO);
	assert_string_equal(shmq_ctl_type_name(SHMQ_CTL_OPEN_QUEUE), "OPEN_QUEUE");
	assert_string_equal(shmq_ctl_type_name(77), "UNKNOWN");
}

static void test_random_corruption_never_crashes_and_accepted_bytes_reencode_identically(void **state)
{
	(void)state;
	static uint8_t buf[SHMQ_CTL_MSG_MAX], again[SHMQ_CTL_MSG_MAX];
	const char *sc = getenv("SHMQ_STRESS_SCALE");
	long scale = sc ? atol(sc) : 1;
	if (scale < 1)
		scale = 1;
	uint64_t seed = (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ull;
	printf("# seed %llu\n", (unsigned long long)seed);
	rng_state = seed | 1;
	long accepted = 0, iters = 200000 * scale;

	static uint8_t valid[NSAMPLES][SHMQ_CTL_MSG_MAX];
	static size_t vlen[NSAMPLES];
	static struct shmq_ctl_msg m, d;
	for (int i = 0; i < NSAMPLES; i++) {
		sample(i, &m);
		int n = shmq_ctl_encode(&m, valid[i], sizeof(valid[i]));
		assert_true(n > 0);
		vlen[i] = (size_t)n;
	}
	for (long it = 0; it < iters; it++) {
		int i = (int)(rng_next() % NSAMPLES);
		size_t n = vlen[i];
		memcpy(buf, valid[i], n);
		int flips = 1 + (int)(rng_next() % 3);
		for (int f = 0; f < flips; f++) {
			size_t at = rng_next() % n;
			buf[at] = (rng_next() & 1) ? (uint8_t)rng_next() : (uint8_t)(buf[at] ^ (1u << (rng_next() % 8)));
		}
		if (shmq_ctl_decode(buf, n, &d) == 0) {
			/* one canonical encoding per message: what decodes
			 * re-encodes to exactly the same bytes */
			int n2 = shmq_ctl_encode(&d, again, sizeof(again));
			assert_int_equal(n2, (int)n);
			assert_memory_equal(buf, again, n);
			accepted++;
		}
	}
	printf("# %ld of %ld corrupted messages were still valid (e.g. a changed id or count value)\n",
	       accepted, iters);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_message_type_round_trips_through_encode_and_decode),
		cmocka_unit_test(test_header_is_little_endian_at_the_documented_offsets),
		cmocka_unit_test(test_decode_rejects_foreign_magic_version_and_bad_header_fields),
		cmocka_unit_test(test_decode_rejects_every_truncation_and_extension),
		cmocka_unit_test(test_names_must_be_1_to_127_bytes_of_the_topic_charset),
		cmocka_unit_test(test_string_fields_need_a_nul_and_only_zeros_after_it),
		cmocka_unit_test(test_enums_counts_order_and_reserved_fields_are_validated),
		cmocka_unit_test(test_query_keys_are_1_to_255_bytes_without_space_or_control_characters),
		cmocka_unit_test(test_search_time_read_msg_and_status_broker_id_are_at_their_offsets_and_validated),
		cmocka_unit_test(test_every_type_has_a_name),
		cmocka_unit_test(test_encode_refuses_a_buffer_too_small),
		cmocka_unit_test(test_error_init_keeps_text_printable_and_bounded),
		cmocka_unit_test(test_random_corruption_never_crashes_and_accepted_bytes_reencode_identically),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
