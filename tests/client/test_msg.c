/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of received-message helpers (client/msg.c): property iteration
 * over both encodings (ring messages and store records), views made from
 * store records, and the encoding limits a producer's message meets.
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

#include <cmocka.h>

#include "client/client_int.h"
#include "common/ringmsg.h"
#include "tests/common/tmpdir.h"

static const struct shmq_ringmsg_prop ring_props[] = {
	{ "color", "blue" },
	{ "empty", "" },
	{ "k3", "value three" },
};

/* A view over a decoded ring message, as the consumer builds it. */
static void ring_view(const void *payload, size_t len, struct shmq_ringmsg_view *rv, struct shmq_msg_view *mv)
{
	assert_int_equal(shmq_ringmsg_decode(payload, len, rv), 0);
	memset(mv, 0, sizeof(*mv));
	mv->body = rv->body;
	mv->body_len = rv->body_len;
	mv->priv_[0] = rv->props;
	mv->priv_len_ = rv->props_len;
	mv->priv_kind_ = SHMQ_MSG_PROPS_RING;
}

static void test_ring_properties_iterate_in_order_and_are_found_by_key(void **state)
{
	(void)state;
	struct shmq_ringmsg_in in = { .body = "hello", .body_len = 5, .keys = "a b", .tags = "t",
				      .props = ring_props, .nprops = 3 };
	int64_t n = shmq_ringmsg_size(&in);
	assert_true(n > 0);
	void *buf = malloc((size_t)n);
	assert_int_equal(shmq_ringmsg_encode(buf, (size_t)n, &in), n);
	struct shmq_ringmsg_view rv;
	struct shmq_msg_view mv;
	ring_view(buf, (size_t)n, &rv, &mv);
	uint32_t it = 0;
	const char *k, *v;
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(shmq_msg_prop_next(&mv, &it, &k, &v), 1);
		assert_string_equal(k, ring_props[i].key);
		assert_string_equal(v, ring_props[i].value);
	}
	assert_int_equal(shmq_msg_prop_next(&mv, &it, &k, &v), 0);
	assert_int_equal(shmq_msg_prop(&mv, "k3", &v), 0);
	assert_string_equal(v, "value three");
	assert_int_equal(shmq_msg_prop(&mv, "empty", &v), 0);
	assert_string_equal(v, "");
	assert_int_equal(shmq_msg_prop(&mv, "missing", &v), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_msg_prop(&mv, "k", &v), SHMQ_ENOTFOUND); /* no prefix match */
	free(buf);
}

static void test_view_without_properties_iterates_nothing(void **state)
{
	(void)state;
	struct shmq_msg_view mv = { 0 };
	uint32_t it = 0;
	const char *k, *v;
	assert_int_equal(shmq_msg_prop_next(&mv, &it, &k, &v), 0);
	assert_int_equal(shmq_msg_prop(&mv, "x", &v), SHMQ_ENOTFOUND);
}

static void test_unterminated_ring_properties_stop_at_the_area_end(void **state)
{
	(void)state;
	/* exact-size heap buffers: ASan catches any read past priv_len_ */
	static const char *bad[] = { "key", "key\0val", "\0val\0", "k\0v\0k2" };
	static const size_t len[] = { 3, 7, 5, 6 };
	static const int good[] = { 0, 0, 0, 1 };
	for (unsigned i = 0; i < 4; i++) {
		char *p = malloc(len[i]);
		memcpy(p, bad[i], len[i]);
		struct shmq_msg_view mv = { .priv_ = { p }, .priv_len_ = (uint32_t)len[i],
					    .priv_kind_ = SHMQ_MSG_PROPS_RING };
		uint32_t it = 0, got = 0;
		const char *k, *v;
		while (shmq_msg_prop_next(&mv, &it, &k, &v) == 1)
			got++;
		assert_int_equal(got, good[i]);
		free(p);
	}
}

static void test_store_properties_skip_keys_and_tags_and_are_nul_terminated(void **state)
{
	(void)state;
	/* commitlog_layout.h entries: key_len(1) val_len(2) key val */
	uint8_t a[64];
	size_t n = 0;
	const struct { const char *k, *v; } e[] = { { "KEYS", "k1 k2" }, { "color", "red" },
						    { "TAGS", "tg" }, { "z", "" } };
	for (unsigned i = 0; i < 4; i++) {
		uint16_t vl = (uint16_t)strlen(e[i].v);
		a[n] = (uint8_t)strlen(e[i].k);
		memcpy(a + n + 1, &vl, 2);
		memcpy(a + n + 3, e[i].k, a[n]);
		memcpy(a + n + 3 + a[n], e[i].v, vl);
		n += 3u + a[n] + vl;
	}
	uint8_t *p = malloc(n);
	memcpy(p, a, n);
	struct shmq_msg_view mv = { .priv_ = { p }, .priv_len_ = (uint32_t)n, .priv_kind_ = SHMQ_MSG_PROPS_STORE };
	uint32_t it = 0;
	const char *k, *v;
	assert_int_equal(shmq_msg_prop_next(&mv, &it, &k, &v), 1);
	assert_string_equal(k, "color");
	assert_string_equal(v, "red");
	assert_int_equal(shmq_msg_prop_next(&mv, &it, &k, &v), 1);
	assert_string_equal(k, "z");
	assert_string_equal(v, "");
	assert_int_equal(shmq_msg_prop_next(&mv, &it, &k, &v), 0);
	assert_int_equal(shmq_msg_prop(&mv, "color", &v), 0);
	assert_string_equal(v, "red");
	assert_int_equal(shmq_msg_prop(&mv, "KEYS", &v), SHMQ_ENOTFOUND); /* not a user property */
	/* a truncated area: the entry whose length runs past the end is not returned */
	mv.priv_len_ = (uint32_t)n - 1;
	it = 0;
	unsigned got = 0;
	while (shmq_msg_prop_next(&mv, &it, &k, &v) == 1)
		got++;
	assert_int_equal(got, 1);
	free(p);
}

static void test_view_from_store_record_matches_what_was_appended(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmq_client_msg_XXXXXX";
	assert_non_null(mkdtemp(dir));
	SHMQ_STORE_OPTS(so, .dir = dir, .segment_size = 64 * 1024, .no_prefault = true, .broker_id = 7, .max_msg_size = 16384,
			.cq_entries_per_file = 64, .index_slots = 64, .index_max_entries = 256);
	shmq_store_t *s;
	assert_int_equal(shmq_store_open(&so, &s, NULL), 0);
	const struct shmq_store_prop props[] = { { "color", "green" }, { "n", "1" } };
	struct shmq_store_msg m = { .topic = "T1", .queue_id = 3, .body = "payload", .body_len = 7,
				    .keys = "ka kb", .tags = "tagA", .props = props, .nprops = 2,
				    .born_ts_ms = 1234, .born_host = 99, .producer_id = 0xabcdef,
				    .producer_seq = 17 };
	struct shmq_store_result r;
	assert_int_equal(shmq_store_append(s, &m, 1, &r), 1);
	struct shmq_store_view sv;
	assert_int_equal(shmq_store_read(s, r.commitlog_offset, &sv), 0);

	struct shmq_msg_view z;
	shmq_view_from_store(&sv, 7, &z);
	assert_int_equal(z.store_offset, r.commitlog_offset);
	assert_string_equal(z.msg_id, r.msg_id);
	assert_int_equal(z.queue_id, 3);
	assert_int_equal(z.queue_offset, r.queue_offset);
	assert_int_equal(z.born_ts_ms, 1234);
	assert_int_equal(z.born_host, 99);
	assert_int_equal(z.producer_id, 0xabcdef);
	assert_int_equal(z.producer_seq, 17);
	assert_int_equal(z.body_len, 7);
	assert_memory_equal(z.body, "payload", 7);
	assert_null(z.topic);
	const char *v;
	assert_int_equal(shmq_msg_prop(&z, "color", &v), 0);
	assert_string_equal(v, "green");

	size_t need = shmq_view_from_store_copy(&sv, 7, NULL, 0, &z);
	assert_true(need >= 7 + 3);
	char *buf = malloc(need);
	struct shmq_msg_view c;
	assert_int_equal(shmq_view_from_store_copy(&sv, 7, buf, need, &c), need);
	shmq_store_view_release(s, &sv);
	/* the copy depends on buf only: scribble over nothing else, close the store */
	assert_int_equal(shmq_store_close(s), 0);
	assert_string_equal(c.topic, "T1");
	assert_string_equal(c.keys, "ka kb");
	assert_string_equal(c.tags, "tagA");
	assert_memory_equal(c.body, "payload", 7);
	assert_string_equal(c.msg_id, r.msg_id);
	assert_int_equal(c.priv_kind_, SHMQ_MSG_PROPS_RING);
	uint32_t it = 0;
	const char *k;
	assert_int_equal(shmq_msg_prop_next(&c, &it, &k, &v), 1);
	assert_string_equal(k, "color");
	assert_string_equal(v, "green");
	assert_int_equal(shmq_msg_prop_next(&c, &it, &k, &v), 1);
	assert_string_equal(k, "n");
	assert_string_equal(v, "1");
	assert_int_equal(shmq_msg_prop_next(&c, &it, &k, &v), 0);
	free(buf);
	shmq_test_rmtree(dir);
}

static void test_message_encoding_refuses_reserved_and_oversized_properties(void **state)
{
	(void)state;
	char longkey[257];
	memset(longkey, 'k', 256);
	longkey[256] = '\0';
	char *bigval = malloc(65537);
	memset(bigval, 'v', 65536);
	bigval[65536] = '\0';
	const struct shmq_ringmsg_prop cases[][1] = {
		{ { "KEYS", "x" } }, { { "TAGS", "x" } }, { { "", "x" } }, { { longkey, "x" } },
		{ { "ok", bigval } },
	};
	for (unsigned i = 0; i < SHMQ_ARRAY_SIZE(cases); i++) {
		struct shmq_ringmsg_in in = { .body = "b", .body_len = 1, .props = cases[i], .nprops = 1 };
		assert_int_equal(shmq_ringmsg_size(&in), -EINVAL);
	}
	/* the limits themselves are accepted */
	longkey[255] = '\0';
	bigval[65535] = '\0';
	const struct shmq_ringmsg_prop edge[] = { { longkey, bigval } };
	struct shmq_ringmsg_in in = { .body = "b", .body_len = 1, .props = edge, .nprops = 1 };
	assert_true(shmq_ringmsg_size(&in) > 65535 + 255);
	/* a body pointer is required with a length */
	struct shmq_ringmsg_in nob = { .body = NULL, .body_len = 3 };
	assert_int_equal(shmq_ringmsg_size(&nob), -EINVAL);
	free(bigval);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_properties_iterate_in_order_and_are_found_by_key),
		cmocka_unit_test(test_view_without_properties_iterates_nothing),
		cmocka_unit_test(test_unterminated_ring_properties_stop_at_the_area_end),
		cmocka_unit_test(test_store_properties_skip_keys_and_tags_and_are_nul_terminated),
		cmocka_unit_test(test_view_from_store_record_matches_what_was_appended),
		cmocka_unit_test(test_message_encoding_refuses_reserved_and_oversized_properties),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
