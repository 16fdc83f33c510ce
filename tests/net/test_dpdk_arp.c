/* SPDX-License-Identifier: Apache-2.0 */
/* The DPDK backend's neighbour cache (dpdk_net/arp.h), alone: no EAL. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dpdk_net/arp.h"

#define MS 1000000ull
static const uint8_t MAC1[6] = { 0x02, 0, 0, 0, 0, 1 };
static const uint8_t MAC2[6] = { 0x02, 0, 0, 0, 0, 2 };

struct actions {
	unsigned requests, failures;
	uint32_t last_ip;
};

static void record(void *ctx, uint32_t ip, bool failed)
{
	struct actions *a = ctx;
	if (failed)
		a->failures++;
	else
		a->requests++;
	a->last_ip = ip;
}

static void test_unknown_peer_asks_once_then_waits_until_the_reply(void **state)
{
	(void)state;
	struct shmq_arp a;
	uint8_t mac[6];
	shmq_arp_init(&a, 0, 0, 0);
	assert_int_equal(shmq_arp_lookup(&a, 7, 0, mac), SHMQ_ARP_REQUEST);
	assert_int_equal(shmq_arp_lookup(&a, 7, 1, mac), SHMQ_ARP_WAIT);
	assert_int_equal(shmq_arp_learn(&a, 7, MAC1, 2, false), 1); /* was waiting: flush */
	assert_int_equal(shmq_arp_lookup(&a, 7, 3, mac), SHMQ_ARP_HIT);
	assert_memory_equal(mac, MAC1, 6);
}

static void test_resolution_retries_a_bounded_number_of_times_then_fails(void **state)
{
	(void)state;
	struct shmq_arp a;
	struct actions act = { 0 };
	uint8_t mac[6];
	shmq_arp_init(&a, 0, 100 * MS, 3);
	assert_int_equal(shmq_arp_lookup(&a, 9, 0, mac), SHMQ_ARP_REQUEST); /* try 1 */
	assert_int_equal(shmq_arp_tick(&a, 50 * MS, record, &act), 100 * MS);
	assert_int_equal(act.requests, 0);
	shmq_arp_tick(&a, 100 * MS, record, &act); /* try 2 */
	shmq_arp_tick(&a, 200 * MS, record, &act); /* try 3 */
	assert_int_equal(act.requests, 2);
	assert_int_equal(act.failures, 0);
	assert_int_equal(shmq_arp_tick(&a, 300 * MS, record, &act), UINT64_MAX);
	assert_int_equal(act.failures, 1);
	assert_int_equal(act.last_ip, 9);
	assert_null(shmq_arp_find(&a, 9));
	assert_int_equal(a.st.failed, 1);
	/* a later send starts over */
	assert_int_equal(shmq_arp_lookup(&a, 9, 400 * MS, mac), SHMQ_ARP_REQUEST);
}

static void test_unsolicited_reply_is_ignored_but_a_request_for_us_teaches_the_asker(void **state)
{
	(void)state;
	struct shmq_arp a;
	uint8_t mac[6];
	shmq_arp_init(&a, 0, 0, 0);
	assert_int_equal(shmq_arp_learn(&a, 5, MAC1, 0, false), 0);
	assert_null(shmq_arp_find(&a, 5));
	assert_int_equal(a.st.ignored, 1);
	assert_int_equal(shmq_arp_learn(&a, 5, MAC1, 0, true), 0);
	assert_int_equal(shmq_arp_lookup(&a, 5, 1, mac), SHMQ_ARP_HIT);
	assert_memory_equal(mac, MAC1, 6);
	/* broadcast / zero senders never enter the cache */
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, zero[6];
	assert_int_equal(shmq_arp_learn(&a, 6, bcast, 0, true), 0);
	assert_int_equal(shmq_arp_learn(&a, 6, zero, 0, true), 0);
	assert_null(shmq_arp_find(&a, 6));
}

static void test_expired_entry_keeps_its_mac_while_it_is_probed_and_goes_if_probes_fail(void **state)
{
	(void)state;
	struct shmq_arp a;
	struct actions act = { 0 };
	uint8_t mac[6];
	shmq_arp_init(&a, 1000 * MS, 100 * MS, 2);
	shmq_arp_learn(&a, 4, MAC1, 0, true);
	assert_int_equal(shmq_arp_lookup(&a, 4, 999 * MS, mac), SHMQ_ARP_HIT);
	assert_int_equal(shmq_arp_lookup(&a, 4, 1000 * MS, mac), SHMQ_ARP_HIT_PROBE);
	assert_memory_equal(mac, MAC1, 6);
	assert_int_equal(shmq_arp_lookup(&a, 4, 1001 * MS, mac), SHMQ_ARP_HIT); /* one probe at a time */
	/* the peer moved: its reply refreshes the entry */
	assert_int_equal(shmq_arp_learn(&a, 4, MAC2, 1050 * MS, false), 0);
	assert_int_equal(shmq_arp_lookup(&a, 4, 1100 * MS, mac), SHMQ_ARP_HIT);
	assert_memory_equal(mac, MAC2, 6);
	/* expires again; nobody answers: removed after the retries */
	assert_int_equal(shmq_arp_lookup(&a, 4, 2100 * MS, mac), SHMQ_ARP_HIT_PROBE);
	shmq_arp_tick(&a, 2200 * MS, record, &act);
	shmq_arp_tick(&a, 2300 * MS, record, &act);
	assert_int_equal(act.requests, 1);
	assert_int_equal(act.failures, 1);
	assert_null(shmq_arp_find(&a, 4));
}

static void test_static_neighbours_are_never_replaced_nor_expired(void **state)
{
	(void)state;
	struct shmq_arp a;
	uint8_t mac[6];
	shmq_arp_init(&a, 10 * MS, 0, 0);
	assert_int_equal(shmq_arp_add_static(&a, 3, MAC1), 0);
	assert_int_equal(shmq_arp_learn(&a, 3, MAC2, 0, true), 0);
	assert_int_equal(shmq_arp_lookup(&a, 3, 1000000 * MS, mac), SHMQ_ARP_HIT);
	assert_memory_equal(mac, MAC1, 6);
	static const uint8_t mcast[6] = { 0x01, 0, 0x5e, 0, 0, 1 };
	assert_int_equal(shmq_arp_add_static(&a, 8, mcast), -EINVAL);
	assert_int_equal(shmq_arp_add_static(&a, 0, MAC1), -EINVAL);
}

static void test_full_table_evicts_the_oldest_dynamic_entry_and_refuses_when_all_static(void **state)
{
	(void)state;
	struct shmq_arp a;
	uint8_t mac[6];
	shmq_arp_init(&a, 0, 0, 0);
	for (uint32_t i = 0; i < SHMQ_ARP_SLOTS; i++)
		shmq_arp_learn(&a, 100 + i, MAC1, i, true);
	assert_int_equal(shmq_arp_lookup(&a, 99, 1000, mac), SHMQ_ARP_REQUEST);
	assert_null(shmq_arp_find(&a, 100)); /* the oldest went */
	assert_non_null(shmq_arp_find(&a, 101));
	assert_int_equal(a.st.evicted, 1);
	struct shmq_arp s;
	shmq_arp_init(&s, 0, 0, 0);
	for (uint32_t i = 0; i < SHMQ_ARP_SLOTS; i++)
		assert_int_equal(shmq_arp_add_static(&s, 100 + i, MAC1), 0);
	assert_int_equal(shmq_arp_add_static(&s, 99, MAC1), -ENOSPC);
	assert_int_equal(shmq_arp_lookup(&s, 99, 0, mac), -ENOSPC);
}

/* Any host on the link can send ARP with any sender address. A flood of
 * forged askers fills only free slots, never evicts a resolution in
 * progress (whose reply must still land), and no sender rewrites the MAC of
 * a neighbour we know: only the answer to our own question does. */
static void test_forged_arp_senders_neither_evict_resolutions_nor_rewrite_known_macs(void **state)
{
	(void)state;
	struct shmq_arp a;
	uint8_t mac[6];
	shmq_arp_init(&a, 0, 0, 0);
	shmq_arp_learn(&a, 7, MAC1, 0, true);                              /* a known peer */
	assert_int_equal(shmq_arp_lookup(&a, 8, 1, mac), SHMQ_ARP_REQUEST); /* one being resolved */
	for (uint32_t i = 0; i < 4 * SHMQ_ARP_SLOTS; i++)                 /* the flood */
		shmq_arp_learn(&a, 1000 + i, MAC2, 2 + i, true);
	assert_int_equal(a.st.evicted, 0);
	assert_non_null(shmq_arp_find(&a, 7));
	/* the real reply to our request still lands */
	assert_int_equal(shmq_arp_learn(&a, 8, MAC1, 500, false), 1);
	assert_int_equal(shmq_arp_lookup(&a, 8, 501, mac), SHMQ_ARP_HIT);
	assert_memory_equal(mac, MAC1, 6);
	/* a gratuitous claim on a known neighbour changes nothing */
	shmq_arp_learn(&a, 7, MAC2, 600, true);
	shmq_arp_learn(&a, 7, MAC2, 601, false);
	assert_int_equal(shmq_arp_lookup(&a, 7, 602, mac), SHMQ_ARP_HIT);
	assert_memory_equal(mac, MAC1, 6);
	/* our own lookups may still evict the oldest learned entry */
	assert_int_equal(shmq_arp_lookup(&a, 9, 700, mac), SHMQ_ARP_REQUEST);
	assert_int_equal(a.st.evicted, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forged_arp_senders_neither_evict_resolutions_nor_rewrite_known_macs),
		cmocka_unit_test(test_unknown_peer_asks_once_then_waits_until_the_reply),
		cmocka_unit_test(test_resolution_retries_a_bounded_number_of_times_then_fails),
		cmocka_unit_test(test_unsolicited_reply_is_ignored_but_a_request_for_us_teaches_the_asker),
		cmocka_unit_test(test_expired_entry_keeps_its_mac_while_it_is_probed_and_goes_if_probes_fail),
		cmocka_unit_test(test_static_neighbours_are_never_replaced_nor_expired),
		cmocka_unit_test(test_full_table_evicts_the_oldest_dynamic_entry_and_refuses_when_all_static),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
