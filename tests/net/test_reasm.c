/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for dpdk_net/reasm.h: bounded reassembly of fragments. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dpdk_net/reasm.h"
#include "net_test_util.h"

/* All fragments of one message, encoded and decoded (frames own their bytes). */
struct frames {
	uint32_t count;
	uint8_t (*buf)[SHMQ_NET_FRAME_MAX];
	struct shmq_net_frame *f;
};

static void frames_make(struct frames *fr, uint64_t session, uint64_t request, uint16_t attempt,
			const uint8_t *body, uint32_t len, uint32_t frag_size)
{
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_PRODUCE, .attempt = attempt, .session_id = session,
				       .request_id = request };
	fr->count = shmq_net_frag_count(len, frag_size);
	assert_true(fr->count > 0);
	fr->buf = malloc((size_t)fr->count * SHMQ_NET_FRAME_MAX);
	fr->f = malloc((size_t)fr->count * sizeof(*fr->f));
	for (uint32_t i = 0; i < fr->count; i++) {
		int n = shmq_net_frame_encode(&mi, body, len, frag_size, i, fr->buf[i], SHMQ_NET_FRAME_MAX);
		assert_true(n > 0);
		assert_int_equal(shmq_net_frame_decode(fr->buf[i], (size_t)n, &fr->f[i]), 0);
	}
}

static void frames_free(struct frames *fr)
{
	free(fr->buf);
	free(fr->f);
}

static void test_fragments_in_random_order_complete_the_message_once(void **state)
{
	(void)state;
	uint32_t len = 300000;
	uint8_t *body = malloc(len);
	net_fill_body(body, len, 7, 7);
	struct frames fr;
	frames_make(&fr, 1, 2, 1, body, len, 1424);
	uint32_t *order = malloc(fr.count * sizeof(*order));
	for (uint32_t i = 0; i < fr.count; i++)
		order[i] = i;
	for (uint32_t i = fr.count - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(net_rng() % (i + 1));
		uint32_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	struct shmq_net_reasm *r;
	assert_int_equal(shmq_net_reasm_create(NULL, &r), 0);
	struct shmq_net_reasm_msg m;
	for (uint32_t i = 0; i + 1 < fr.count; i++)
		assert_int_equal(shmq_net_reasm_add(r, &fr.f[order[i]], 100, &m), 0);
	assert_int_equal(shmq_net_reasm_partials(r), 1);
	assert_int_equal(shmq_net_reasm_add(r, &fr.f[order[fr.count - 1]], 100, &m), 1);
	assert_int_equal(m.len, len);
	assert_memory_equal(m.body, body, len);
	assert_non_null(m.owned);
	assert_int_equal(((uintptr_t)m.body) % 8, 0);
	shmq_net_reasm_msg_free(&m);
	assert_int_equal(shmq_net_reasm_partials(r), 0);
	assert_int_equal(shmq_net_reasm_bytes(r), 0);
	shmq_net_reasm_destroy(r);
	frames_free(&fr);
	free(order);
	free(body);
}

static void test_duplicate_fragments_are_dropped_and_counted(void **state)
{
	(void)state;
	uint8_t body[5000];
	net_fill_body(body, sizeof(body), 1, 1);
	struct frames fr;
	frames_make(&fr, 1, 2, 1, body, sizeof(body), 1424);
	struct shmq_net_reasm *r;
	assert_int_equal(shmq_net_reasm_create(NULL, &r), 0);
	struct shmq_net_reasm_msg m;
	assert_int_equal(shmq_net_reasm_add(r, &fr.f[0], 1, &m), 0);
	assert_int_equal(shmq_net_reasm_add(r, &fr.f[0], 1, &m), -EALREADY);
	assert_int_equal(shmq_net_reasm_add(r, &fr.f[1], 1, &m), 0);
	assert_int_equal(shmq_net_reasm_add(r, &fr.f[2], 1, &m), 0);
	assert_int_equal(shmq_net_reasm_add(r, &fr.f[1], 1, &m), -EALREADY);
	assert_int_equal(shmq_net_reasm_add(r, &fr.f[3], 1, &m), 1);
	assert_memory_equal(m.body, body, sizeof(body));
	shmq_net_reasm_msg_free(&m);
	struct shmq_net_reasm_stats st;
	shmq_net_reasm_stats(r, &st);
	assert_int_equal(st.duplicates, 2);
	assert_int_equal(st.completed, 1);
	shmq_net_reasm_destroy(r);
	frames_free(&fr);
}

static void test_fragments_of_two_attempts_merge(void **state)
{
	(void)state;
	uint8_t body[10000];
	net_fill_body(body, sizeof(body), 2, 2);
	struct frames a1, a2;
	frames_make(&a1, 1, 9, 1, body, sizeof(body), 1424);
	frames_make(&a2, 1, 9, 2, body, sizeof(body), 1424);
	struct shmq_net_reasm *r;
	assert_int_equal(shmq_net_reasm_create(NULL, &r), 0);
	struct shmq_net_reasm_msg m;
	/* attempt 1 delivers the even fragments, attempt 2 the odd ones */
	int done = 0;
	for (uint32_t i = 0; i < a1.count; i += 2)
		done += shmq_net_reasm_add(r, &a1.f[i], 1, &m);
	for (uint32_t i = 1; i < a2.count; i += 2)
		done += shmq_net_reasm_add(r, &a2.f[i], 2, &m);
	assert_int_equal(done, 1);
	assert_memory_equal(m.body, body, sizeof(body));
	shmq_net_reasm_msg_free(&m);
	shmq_net_reasm_destroy(r);
	frames_free(&a1);
	frames_free(&a2);
}

static void test_fragments_that_would_overlap_are_refused_as_conflicting(void **state)
{
	(void)state;
	uint8_t body[10000];
	net_fill_body(body, sizeof(body), 3, 3);
	struct frames a, b, c;
	frames_make(&a, 1, 5, 1, body, sizeof(body), 1424);
	frames_make(&b, 1, 5, 2, body, sizeof(body), 1000);   /* other cut: overlaps */
	frames_make(&c, 1, 5, 2, body, sizeof(body) - 8, 1424); /* other length */
	struct shmq_net_reasm *r;
	assert_int_equal(shmq_net_reasm_create(NULL, &r), 0);
	struct shmq_net_reasm_msg m;
	assert_int_equal(shmq_net_reasm_add(r, &a.f[0], 1, &m), 0);
	assert_int_equal(shmq_net_reasm_add(r, &b.f[1], 1, &m), -EBADMSG);
	assert_int_equal(shmq_net_reasm_add(r, &c.f[1], 1, &m), -EBADMSG);
	int done = 0;
	for (uint32_t i = 1; i < a.count; i++)
		done += shmq_net_reasm_add(r, &a.f[i], 1, &m);
	assert_int_equal(done, 1);
	assert_memory_equal(m.body, body, sizeof(body));
	shmq_net_reasm_msg_free(&m);
	struct shmq_net_reasm_stats st;
	shmq_net_reasm_stats(r, &st);
	assert_int_equal(st.conflicts, 2);
	shmq_net_reasm_destroy(r);
	frames_free(&a);
	frames_free(&b);
	frames_free(&c);
}

static void test_memory_is_bounded_oldest_partials_evicted_oversize_refused(void **state)
{
	(void)state;
	uint32_t len = 100000;
	uint8_t *body = malloc(len);
	net_fill_body(body, len, 4, 4);
	SHMQ_NET_REASM_OPTS(o, .max_bytes = 250000, .max_msgs = 4);
	struct shmq_net_reasm *r;
	assert_int_equal(shmq_net_reasm_create(&o, &r), 0);
	struct frames fr[3];
	struct shmq_net_reasm_msg m;
	for (int k = 0; k < 3; k++) {
		frames_make(&fr[k], 1, 10 + (uint64_t)k, 1, body, len, 1424);
		assert_int_equal(shmq_net_reasm_add(r, &fr[k].f[0], 100 + (uint64_t)k, &m), 0);
		assert_true(shmq_net_reasm_bytes(r) <= 250000);
	}
	/* the third did not fit beside the first two: the oldest went */
	assert_int_equal(shmq_net_reasm_partials(r), 2);
	struct shmq_net_reasm_stats st;
	shmq_net_reasm_stats(r, &st);
	assert_int_equal(st.evicted, 1);
	/* the evicted message starts over: its old fragment 0 is not a duplicate */
	assert_int_equal(shmq_net_reasm_add(r, &fr[0].f[1], 200, &m), 0);
	/* a message larger than the whole budget is refused outright */
	uint32_t huge = 300000;
	uint8_t *hb = calloc(1, huge);
	struct frames h;
	frames_make(&h, 1, 99, 1, hb, huge, 1424);
	assert_int_equal(shmq_net_reasm_add(r, &h.f[0], 300, &m), -ENOBUFS);
	shmq_net_reasm_stats(r, &st);
	assert_int_equal(st.refused, 1);
	frames_free(&h);
	free(hb);
	for (int k = 0; k < 3; k++)
		frames_free(&fr[k]);
	shmq_net_reasm_destroy(r);
	free(body);
}

static void test_partials_expire_after_the_timeout(void **state)
{
	(void)state;
	uint8_t body[5000];
	net_fill_body(body, sizeof(body), 5, 5);
	SHMQ_NET_REASM_OPTS(o, .timeout_ns = 1000);
	struct shmq_net_reasm *r;
	assert_int_equal(shmq_net_reasm_create(&o, &r), 0);
	struct frames fr;
	frames_make(&fr, 1, 1, 1, body, sizeof(body), 1424);
	struct shmq_net_reasm_msg m;
	assert_int_equal(shmq_net_reasm_add(r, &fr.f[0], 5000, &m), 0);
	assert_int_equal(shmq_net_reasm_expire(r, 5500), 0);
	assert_int_equal(shmq_net_reasm_expire(r, 6001), 1);
	assert_int_equal(shmq_net_reasm_partials(r), 0);
	assert_int_equal(shmq_net_reasm_bytes(r), 0);
	/* forget() frees a named partial */
	assert_int_equal(shmq_net_reasm_add(r, &fr.f[0], 7000, &m), 0);
	assert_int_equal(shmq_net_reasm_forget(r, 1, 1, SHMQ_NET_PRODUCE), 1);
	assert_int_equal(shmq_net_reasm_forget(r, 1, 1, SHMQ_NET_PRODUCE), 0);
	frames_free(&fr);
	shmq_net_reasm_destroy(r);
}

static void test_a_one_frame_message_completes_without_a_copy(void **state)
{
	(void)state;
	struct frames fr;
	uint8_t body[100];
	net_fill_body(body, sizeof(body), 6, 6);
	frames_make(&fr, 1, 1, 1, body, sizeof(body), 1424);
	struct shmq_net_reasm *r;
	assert_int_equal(shmq_net_reasm_create(NULL, &r), 0);
	struct shmq_net_reasm_msg m;
	assert_int_equal(shmq_net_reasm_add(r, &fr.f[0], 1, &m), 1);
	assert_null(m.owned);
	assert_ptr_equal(m.body, fr.f[0].payload);
	assert_int_equal(shmq_net_reasm_bytes(r), 0);
	shmq_net_reasm_destroy(r);
	frames_free(&fr);
}

int main(void)
{
	net_rng_seed("test_reasm");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fragments_in_random_order_complete_the_message_once),
		cmocka_unit_test(test_duplicate_fragments_are_dropped_and_counted),
		cmocka_unit_test(test_fragments_of_two_attempts_merge),
		cmocka_unit_test(test_fragments_that_would_overlap_are_refused_as_conflicting),
		cmocka_unit_test(test_memory_is_bounded_oldest_partials_evicted_oversize_refused),
		cmocka_unit_test(test_partials_expire_after_the_timeout),
		cmocka_unit_test(test_a_one_frame_message_completes_without_a_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
