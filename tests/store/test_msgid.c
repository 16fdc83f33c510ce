/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for include/shmq/msgid.h. */
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

#include "shmq/msgid.h"

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* xorshift64*: deterministic per printed seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void check_round_trip(uint32_t id, uint64_t off)
{
	char s[SHMQ_MSGID_STRLEN + 1];
	uint32_t id2 = 0;
	uint64_t off2 = 0;

	memset(s, 'x', sizeof(s));
	assert_int_equal(shmq_msgid_encode(id, off, s), 0);
	assert_int_equal(strlen(s), SHMQ_MSGID_STRLEN);
	for (size_t i = 0; i < SHMQ_MSGID_STRLEN; i++)
		assert_non_null(strchr("0123456789ABCDEF", s[i]));
	assert_int_equal(shmq_msgid_decode(s, &id2, &off2), 0);
	assert_int_equal(id2, id);
	assert_int_equal(off2, off);
}

static void test_encode_decode_round_trips_edge_and_random_values(void **state)
{
	(void)state;
	static const uint64_t offs[] = { 0, 1, 0xff, 1ull << 32, 0x0123456789abcdefull, UINT64_MAX };
	static const uint32_t ids[] = { 0, 1, 7, 0x80000000u, UINT32_MAX };

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		for (size_t j = 0; j < sizeof(offs) / sizeof(offs[0]); j++)
			check_round_trip(ids[i], offs[j]);
	uint64_t seed = (uint64_t)time(NULL) | 1;
	printf("# seed %llu\n", (unsigned long long)seed);
	rng_state = seed;
	for (int i = 0; i < 10000; i++)
		check_round_trip((uint32_t)rng_next(), rng_next());
}

static void test_id_fields_are_readable_hex(void **state)
{
	(void)state;
	char s[SHMQ_MSGID_STRLEN + 1];

	assert_int_equal(shmq_msgid_encode(0x0000002au, 0x0000000000001000ull, s), 0);
	assert_memory_equal(s, "0000002A" "0000000000001000", 24);
}

static void test_decode_accepts_lower_case(void **state)
{
	(void)state;
	char s[SHMQ_MSGID_STRLEN + 1];
	uint32_t id;
	uint64_t off;

	assert_int_equal(shmq_msgid_encode(0xabcdef01u, 0xfedcba9876543210ull, s), 0);
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'F')
			*p = (char)(*p - 'A' + 'a');
	assert_int_equal(shmq_msgid_decode(s, &id, &off), 0);
	assert_int_equal(id, 0xabcdef01u);
	assert_int_equal(off, 0xfedcba9876543210ull);
}

static void expect_malformed(const char *s)
{
	uint32_t id = 77;
	uint64_t off = 88;

	assert_int_equal(shmq_msgid_decode(s, &id, &off), -EINVAL);
	assert_int_equal(id, 77); /* outputs untouched */
	assert_int_equal(off, 88);
}

static void test_decode_rejects_malformed_ids(void **state)
{
	(void)state;
	char good[SHMQ_MSGID_STRLEN + 1], s[SHMQ_MSGID_STRLEN + 8];
	uint32_t id;
	uint64_t off;

	assert_int_equal(shmq_msgid_encode(12, 34567, good), 0);
	expect_malformed("");
	expect_malformed("0");
	expect_malformed("00000000000000000000000000000000"); /* checksum of zeros is not zero */
	/* every prefix is too short */
	for (size_t n = 0; n < SHMQ_MSGID_STRLEN; n++) {
		memcpy(s, good, n);
		s[n] = '\0';
		expect_malformed(s);
	}
	/* too long */
	snprintf(s, sizeof(s), "%s0", good);
	expect_malformed(s);
	/* a non-hex character anywhere */
	static const char bad[] = { 'g', 'G', ' ', '-', 'x', '\n', (char)0xc3 };
	for (size_t i = 0; i < SHMQ_MSGID_STRLEN; i++) {
		for (size_t b = 0; b < sizeof(bad); b++) {
			memcpy(s, good, sizeof(good));
			s[i] = bad[b];
			expect_malformed(s);
		}
	}
	/* every single-digit change breaks the checksum */
	for (size_t i = 0; i < SHMQ_MSGID_STRLEN; i++) {
		memcpy(s, good, sizeof(good));
		s[i] = s[i] == '0' ? '1' : '0';
		expect_malformed(s);
	}
	assert_int_equal(shmq_msgid_decode(NULL, &id, &off), -EINVAL);
	assert_int_equal(shmq_msgid_decode(good, NULL, &off), -EINVAL);
	assert_int_equal(shmq_msgid_decode(good, &id, NULL), -EINVAL);
	assert_int_equal(shmq_msgid_encode(1, 2, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_decode_round_trips_edge_and_random_values),
		cmocka_unit_test(test_id_fields_are_readable_hex),
		cmocka_unit_test(test_decode_accepts_lower_case),
		cmocka_unit_test(test_decode_rejects_malformed_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
