/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the producer's queue selection (client/producer.c). */
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

#include "client/client_int.h"

static void test_hash_of_a_key_never_changes(void **state)
{
	(void)state;
	/* Pinned values: a key must map to the same queue in every process and
	 * every release (per-key order across producer restarts). A change of
	 * the hash function breaks that and must fail here. */
	assert_int_equal(shmq_select_hash("", 0), 3130599718u);
	assert_int_equal(shmq_select_hash("a", 1), 2847854171u);
	assert_int_equal(shmq_select_hash("order-42", 8), 826041222u);
	assert_int_equal(shmq_select_hash("shmq", 4), 2737591701u);
}

static void test_same_sharding_key_always_selects_same_queue(void **state)
{
	(void)state;
	_Atomic uint32_t rr = 0;
	char key[32];
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(key, sizeof(key), "user-%d", i);
		struct shmq_message m = { .sharding_key = key, .sharding_key_len = (uint32_t)n };
		uint32_t q = shmq_select_queue(SHMQ_SELECT_HASH, NULL, NULL, &rr, &m, 8);
		assert_true(q < 8);
		for (int k = 0; k < 3; k++)
			assert_int_equal(shmq_select_queue(SHMQ_SELECT_HASH, NULL, NULL, &rr, &m, 8), q);
		assert_int_equal(q, shmq_select_hash(key, (size_t)n) % 8);
	}
	/* round robin state untouched by hashed selections */
	assert_int_equal(rr, 0);
}

static void check_spread(uint32_t queues, unsigned keys)
{
	unsigned *cnt = calloc(queues, sizeof(*cnt));
	assert_non_null(cnt);
	_Atomic uint32_t rr = 0;
	char key[32];
	for (unsigned i = 0; i < keys; i++) {
		int n = snprintf(key, sizeof(key), "k%u", i);
		struct shmq_message m = { .sharding_key = key, .sharding_key_len = (uint32_t)n };
		cnt[shmq_select_queue(SHMQ_SELECT_HASH, NULL, NULL, &rr, &m, queues)]++;
	}
	double mean = (double)keys / queues;
	for (uint32_t q = 0; q < queues; q++) {
		/* sequential keys are the worst case for weak hashes; allow 5 % */
		if (cnt[q] < mean * 0.95 || cnt[q] > mean * 1.05)
			fail_msg("queue %u of %u got %u keys, mean %.0f", q, queues, cnt[q], mean);
	}
	free(cnt);
}

static void test_hash_selector_spreads_sequential_keys_evenly(void **state)
{
	(void)state;
	check_spread(8, 200000);
	check_spread(7, 200000);
	check_spread(16, 200000);
	check_spread(3, 200000);
}

static void test_hash_uses_keys_when_no_sharding_key_then_round_robin(void **state)
{
	(void)state;
	_Atomic uint32_t rr = 0;
	struct shmq_message m = { .keys = "order-42" };
	uint32_t q = shmq_select_queue(SHMQ_SELECT_HASH, NULL, NULL, &rr, &m, 5);
	assert_int_equal(q, 826041222u % 5);
	assert_int_equal(rr, 0);
	/* neither: round robin */
	struct shmq_message none = { .keys = "" };
	for (uint32_t i = 0; i < 10; i++)
		assert_int_equal(shmq_select_queue(SHMQ_SELECT_HASH, NULL, NULL, &rr, &none, 5), i % 5);
}

static void test_round_robin_visits_every_queue_in_turn(void **state)
{
	(void)state;
	_Atomic uint32_t rr = 0;
	struct shmq_message m = { .keys = "ignored" };
	unsigned seen[6] = { 0 };
	for (uint32_t i = 0; i < 600; i++) {
		uint32_t q = shmq_select_queue(SHMQ_SELECT_ROUND_ROBIN, NULL, NULL, &rr, &m, 6);
		assert_int_equal(q, i % 6);
		seen[q]++;
	}
	for (int q = 0; q < 6; q++)
		assert_int_equal(seen[q], 100);
}

static uint32_t pick_big(void *arg, const struct shmq_message *m, uint32_t queues)
{
	(void)m;
	(void)queues;
	return *(uint32_t *)arg;
}

static void test_custom_selector_result_is_taken_modulo_queues(void **state)
{
	(void)state;
	_Atomic uint32_t rr = 0;
	struct shmq_message m = { 0 };
	uint32_t v = 1000003;
	assert_int_equal(shmq_select_queue(SHMQ_SELECT_CUSTOM, pick_big, &v, &rr, &m, 7), 1000003u % 7);
	v = 2;
	assert_int_equal(shmq_select_queue(SHMQ_SELECT_CUSTOM, pick_big, &v, &rr, &m, 7), 2);
}

static void test_single_queue_topic_always_selects_queue_zero(void **state)
{
	(void)state;
	_Atomic uint32_t rr = 0;
	uint32_t v = 5;
	struct shmq_message m = { .keys = "x" };
	assert_int_equal(shmq_select_queue(SHMQ_SELECT_ROUND_ROBIN, NULL, NULL, &rr, &m, 1), 0);
	assert_int_equal(shmq_select_queue(SHMQ_SELECT_HASH, NULL, NULL, &rr, &m, 1), 0);
	assert_int_equal(shmq_select_queue(SHMQ_SELECT_CUSTOM, pick_big, &v, &rr, &m, 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_of_a_key_never_changes),
		cmocka_unit_test(test_same_sharding_key_always_selects_same_queue),
		cmocka_unit_test(test_hash_selector_spreads_sequential_keys_evenly),
		cmocka_unit_test(test_hash_uses_keys_when_no_sharding_key_then_round_robin),
		cmocka_unit_test(test_round_robin_visits_every_queue_in_turn),
		cmocka_unit_test(test_custom_selector_result_is_taken_modulo_queues),
		cmocka_unit_test(test_single_queue_topic_always_selects_queue_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
