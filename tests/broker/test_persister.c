/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the ring message codec (common/ringmsg.h) and of the
 * persister's single-process logic (broker/persister.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/log.h"
#include "broker/persister.h"
#include "persister_test_util.h"

struct fx {
	char dir[64];
	char sdir[96];
	char rpath[4][96];
	shmq_ring_t *ring[4];
	shmq_store_t *store;
	shmq_persister_t *p;
};

static uint32_t g_flush_interval_ms, g_flush_dirty_pages; /* 0 = store defaults */

static void fx_open_store(struct fx *f, bool sync, uint32_t max_msg)
{
	SHMQ_STORE_OPTS(so, .flush_interval_ms = g_flush_interval_ms,
			.flush_dirty_pages = g_flush_dirty_pages, .dir = f->sdir, .segment_size = 1u << 20, .no_prefault = true,
			.max_msg_size = max_msg ? max_msg : 16384,
			.flush_mode = sync ? SHMQ_FLUSH_SYNC : SHMQ_FLUSH_ASYNC,
			.cq_entries_per_file = 1024, .index_slots = 1024, .index_max_entries = 8192);
	assert_int_equal(shmq_store_open(&so, &f->store, NULL), 0);
}

static void fx_setup(struct fx *f, unsigned nrings, bool sync, uint32_t max_msg)
{
	memset(f, 0, sizeof(*f));
	strcpy(f->dir, "/tmp/shmq_pers_XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sdir, sizeof(f->sdir), "%s/store", f->dir);
	fx_open_store(f, sync, max_msg);
	for (unsigned i = 0; i < nrings; i++) {
		snprintf(f->rpath[i], sizeof(f->rpath[i]), "%s/ring%u", f->dir, i);
		SHMQ_RING_OPTS(ro, .capacity = 1u << 16, .prefault = false);
		assert_int_equal(shmq_ring_create(f->rpath[i], &ro, &f->ring[i]), 0);
	}
	SHMQ_PERSISTER_OPTS(po, .sync = sync);
	assert_int_equal(shmq_persister_create(f->store, &po, &f->p), 0);
	for (unsigned i = 0; i < nrings; i++)
		assert_int_equal(shmq_persister_add_ring(f->p, i < 2 ? "TopicA" : "TopicB", i % 2,
							 f->ring[i]), 0);
}

static void fx_teardown(struct fx *f)
{
	shmq_persister_destroy(f->p);
	assert_int_equal(shmq_store_close(f->store), 0);
	for (unsigned i = 0; i < 4; i++)
		shmq_ring_close(f->ring[i]);
	shmq_test_rmtree(f->dir);
}

static void drain_all(struct fx *f)
{
	for (int i = 0; i < 100; i++)
		if (shmq_persister_poll_once(f->p) == 0)
			return;
}

/* Walk ring @p ri from its oldest record (a non-gating reader, as clients
 * are) and collect each message's result words (P3) into qos[]/sos[]
 * (at most max). Every word that is set must be the store's truth: the
 * record at that queue offset has this commitlog offset and the ring
 * message's (producer id, seq). @return messages walked. */
static unsigned ring_results(struct fx *f, unsigned ri, const char *topic, uint32_t q,
			     uint64_t *sos, uint64_t *qos, unsigned max)
{
	uint64_t pos = shmq_ring_oldest(f->ring[ri]), start = pos;
	struct shmq_ring_msg msgs[SHMQ_RING_BATCH_MAX];
	unsigned total = 0;
	for (;;) {
		int n = shmq_ring_read(f->ring[ri], &pos, msgs, SHMQ_RING_BATCH_MAX);
		assert_true(n >= 0);
		if (n == 0)
			break;
		for (int i = 0; i < n; i++, total++) {
			assert_true(total < max);
			struct shmq_ringmsg_view v;
			assert_int_equal(shmq_ringmsg_decode(msgs[i].data, msgs[i].len, &v), 0);
			shmq_ringmsg_result_get(msgs[i].data, &sos[total], &qos[total]);
			/* the decoder reports the same words */
			assert_true(v.store_offset == sos[total] && v.queue_offset == qos[total]);
			if (qos[total] == SHMQ_RINGMSG_RESULT_NONE) {
				assert_true(sos[total] == SHMQ_RINGMSG_RESULT_NONE);
				continue;
			}
			struct shmq_store_view sv;
			assert_int_equal(shmq_store_read_queue(f->store, topic, q, qos[total], &sv), 0);
			assert_true(sv.commitlog_offset == sos[total]);
			assert_true(sv.producer_id == v.producer_id && sv.producer_seq == v.producer_seq);
			shmq_store_view_release(f->store, &sv);
		}
	}
	assert_int_equal(shmq_ring_read_check(f->ring[ri], start), 0); /* nothing reclaimed */
	return total;
}

/* ------------------------------------------------------------------ */

static void test_ringmsg_roundtrip_preserves_every_field(void **state)
{
	(void)state;
	struct pt_msg m;
	pt_msg_make(&m, 7, 42);
	m.in.flags = 0x55;
	m.in.reconsume_times = 3;
	int64_t sz = shmq_ringmsg_size(&m.in);
	assert_true(sz > SHMQ_RINGMSG_HDR_LEN);
	uint8_t buf[1024];
	assert_int_equal(shmq_ringmsg_encode(buf, (size_t)sz - 1, &m.in), -ENOBUFS);
	assert_int_equal(shmq_ringmsg_encode(buf, sizeof(buf), &m.in), sz);
	struct shmq_ringmsg_view v;
	assert_int_equal(shmq_ringmsg_decode(buf, (size_t)sz, &v), 0);
	assert_int_equal(v.flags, 0x55);
	assert_int_equal(v.reconsume_times, 3);
	assert_int_equal(v.producer_id, 7);
	assert_int_equal(v.producer_seq, 42);
	assert_int_equal(v.body_len, m.in.body_len);
	assert_memory_equal(v.body, m.body, v.body_len);
	assert_string_equal(v.keys, "k7-42");
	assert_string_equal(v.tags, "t2");
	assert_int_equal(v.nprops, 1);
	const char *k, *val;
	shmq_ringmsg_prop_next(v.props, &k, &val);
	assert_string_equal(k, "seq");
	assert_string_equal(val, "42");
	/* version 2: the producer leaves the result words unset */
	assert_true(v.store_offset == SHMQ_RINGMSG_RESULT_NONE);
	assert_true(v.queue_offset == SHMQ_RINGMSG_RESULT_NONE);
	assert_int_equal(buf[4], 2);
	assert_int_equal(buf[6], 80);
}

static void test_ringmsg_result_words_round_trip_and_do_not_change_the_message(void **state)
{
	(void)state;
	struct pt_msg m;
	pt_msg_make(&m, 3, 9);
	_Alignas(8) uint8_t buf[1024], before[1024];
	int64_t sz = shmq_ringmsg_encode(buf, sizeof(buf), &m.in);
	assert_true(sz > 0);
	memcpy(before, buf, (size_t)sz);
	uint64_t so = 0, qo = 0;
	shmq_ringmsg_result_get(buf, &so, &qo);
	assert_true(so == SHMQ_RINGMSG_RESULT_NONE && qo == SHMQ_RINGMSG_RESULT_NONE);
	shmq_ringmsg_result_set(buf, 0x1122334455667788ull, 77);
	shmq_ringmsg_result_get(buf, &so, &qo);
	assert_true(so == 0x1122334455667788ull && qo == 77);
	/* at the documented offsets, little-endian */
	assert_int_equal(buf[0x40], 0x88);
	assert_int_equal(buf[0x47], 0x11);
	assert_int_equal(buf[0x48], 77);
	/* only those 16 bytes changed, and the message still decodes whole */
	assert_memory_equal(buf, before, 0x40);
	assert_memory_equal(buf + 0x50, before + 0x50, (size_t)sz - 0x50);
	struct shmq_ringmsg_view v;
	assert_int_equal(shmq_ringmsg_decode(buf, (size_t)sz, &v), 0);
	assert_true(v.store_offset == 0x1122334455667788ull && v.queue_offset == 77);
	assert_int_equal(v.producer_seq, 9);
	/* an unaligned private copy works too (memcpy path) */
	uint8_t *u = before + 1;
	memmove(u, buf, (size_t)sz);
	shmq_ringmsg_result_set(u, 5, 6);
	shmq_ringmsg_result_get(u, &so, &qo);
	assert_true(so == 5 && qo == 6);
	assert_int_equal(shmq_ringmsg_decode(u, (size_t)sz, &v), 0);
	assert_true(v.store_offset == 5 && v.queue_offset == 6);
}

static void test_ringmsg_decode_accepts_only_version_2_with_an_80_byte_header(void **state)
{
	(void)state;
	struct pt_msg m;
	pt_msg_make(&m, 1, 1);
	_Alignas(8) uint8_t buf[1024];
	int64_t sz = shmq_ringmsg_encode(buf, sizeof(buf), &m.in);
	struct shmq_ringmsg_view v;
	assert_int_equal(shmq_ringmsg_decode(buf, (size_t)sz, &v), 0);
	uint8_t c[1024];
	memcpy(c, buf, (size_t)sz);
	c[4] = 1; /* version 1 */
	assert_int_equal(shmq_ringmsg_decode(c, (size_t)sz, &v), SHMQ_ECORRUPT);
	c[4] = 3;
	assert_int_equal(shmq_ringmsg_decode(c, (size_t)sz, &v), SHMQ_ECORRUPT);
	memcpy(c, buf, (size_t)sz);
	c[6] = 64; /* a version-1 header length */
	assert_int_equal(shmq_ringmsg_decode(c, (size_t)sz, &v), SHMQ_ECORRUPT);
	c[6] = 88; /* a longer header a later version might have */
	assert_int_equal(shmq_ringmsg_decode(c, (size_t)sz, &v), SHMQ_ECORRUPT);
}

static void test_ringmsg_decode_rejects_wrong_lengths_and_missing_nul(void **state)
{
	(void)state;
	struct pt_msg m;
	pt_msg_make(&m, 1, 2);
	uint8_t buf[1024];
	int64_t sz = shmq_ringmsg_encode(buf, sizeof(buf), &m.in);
	assert_true(sz > 0);
	struct shmq_ringmsg_view v;
	for (int64_t l = 0; l < sz; l++)
		assert_int_equal(shmq_ringmsg_decode(buf, (size_t)l, &v), SHMQ_ECORRUPT);
	assert_int_equal(shmq_ringmsg_decode(buf, (size_t)sz + 1, &v), SHMQ_ECORRUPT);
	/* every header byte flipped: either still self-consistent or ECORRUPT,
	 * never out of bounds (ASan checks the latter) */
	for (size_t i = 0; i < SHMQ_RINGMSG_HDR_LEN; i++) {
		uint8_t c[1024];
		memcpy(c, buf, (size_t)sz);
		c[i] ^= 0xff;
		int rc = shmq_ringmsg_decode(c, (size_t)sz, &v);
		assert_true(rc == 0 || rc == SHMQ_ECORRUPT);
		if (i < 8 || (i >= 0x30 && i < 0x40))
			assert_int_equal(rc, SHMQ_ECORRUPT); /* magic/version/len/reserved */
		if (i >= 0x40)
			assert_int_equal(rc, 0); /* result words: any value */
	}
	/* the NUL after the keys replaced */
	uint8_t c[1024];
	memcpy(c, buf, (size_t)sz);
	c[SHMQ_RINGMSG_HDR_LEN + m.in.body_len + strlen(m.keys)] = 'x';
	assert_int_equal(shmq_ringmsg_decode(c, (size_t)sz, &v), SHMQ_ECORRUPT);
	/* reserved property names refused on both sides */
	struct shmq_ringmsg_prop bad = { "KEYS", "x" };
	m.in.props = &bad;
	assert_int_equal(shmq_ringmsg_size(&m.in), -EINVAL);
}

static void test_persister_drains_singles_and_batches_in_ring_order_with_dense_offsets(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, 4, false, 0);
	uint64_t seq[4] = { 0 };
	for (int round = 0; round < 20; round++) {
		for (unsigned r = 0; r < 4; r++) {
			uint32_t cnt = 1 + (uint32_t)((round + r) % 5);
			assert_int_equal(pt_write(f.ring[r], 0, seq[r], cnt, NULL, 0), 0);
			seq[r] += cnt;
		}
		if (round % 3 == 0)
			assert_true(shmq_persister_poll_once(f.p) > 0);
	}
	drain_all(&f);
	for (unsigned r = 0; r < 4; r++) {
		uint64_t exp[1] = { seq[r] };
		assert_int_equal(pt_check_queue(f.store, r < 2 ? "TopicA" : "TopicB", r % 2, exp, 1),
				 (int64_t)seq[r]);
		assert_int_equal(shmq_ring_mark(f.ring[r], SHMQ_RING_MARK_PERSISTED),
				 shmq_ring_tail(f.ring[r]));
		assert_int_equal(shmq_ring_consumed(f.ring[r]), shmq_ring_tail(f.ring[r]));
	}
	/* keys are indexed */
	uint64_t offs[4];
	/* both TopicB queues hold a producer 0 seq 5 */
	assert_int_equal(shmq_store_query_key(f.store, "TopicB", "k0-5", 0, UINT64_MAX, offs, 4), 2);
	/* anchor: the last batch's first record -> its queue offset */
	struct shmq_ring_anchor a;
	assert_int_equal(shmq_ring_read_anchor(f.ring[0], &a), 0);
	assert_true(a.queue_offset < seq[0]);
	struct shmq_persister_stats st;
	shmq_persister_stats(f.p, &st);
	assert_int_equal(st.messages, seq[0] + seq[1] + seq[2] + seq[3]);
	assert_int_equal(st.corrupt, 0);
	fx_teardown(&f);
}

static void test_persisted_messages_carry_their_store_offsets_in_the_ring(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, 1, false, 0);
	uint64_t sos[64], qos[64], seq = 0;
	static const uint32_t counts[] = { 1, 4, 1, 3, 16, 2 };
	for (unsigned k = 0; k < 3; k++) {
		assert_int_equal(pt_write(f.ring[0], 0, seq, counts[k], NULL, 0), 0);
		seq += counts[k];
	}
	/* not persisted yet: producers wrote the words unset */
	assert_int_equal(ring_results(&f, 0, "TopicA", 0, sos, qos, 64), seq);
	for (unsigned i = 0; i < seq; i++)
		assert_true(qos[i] == SHMQ_RINGMSG_RESULT_NONE);
	drain_all(&f);
	for (unsigned k = 3; k < 6; k++) {
		assert_int_equal(pt_write(f.ring[0], 0, seq, counts[k], NULL, 0), 0);
		seq += counts[k];
	}
	drain_all(&f);
	/* every message, singles and batch members, in both rounds: its own
	 * queue offset (dense, ring order) and the commitlog offset the store
	 * holds it at (ring_results() checks the store) */
	assert_int_equal(ring_results(&f, 0, "TopicA", 0, sos, qos, 64), seq);
	for (unsigned i = 0; i < seq; i++) {
		assert_int_equal(qos[i], i);
		assert_true(i == 0 || sos[i] > sos[i - 1]);
	}
	assert_int_equal(shmq_ring_mark(f.ring[0], SHMQ_RING_MARK_PERSISTED), shmq_ring_tail(f.ring[0]));
	fx_teardown(&f);
}

static void test_corrupt_message_fences_only_its_ring(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, 2, false, 0);
	for (uint64_t s = 0; s < 5; s++) {
		assert_int_equal(pt_write(f.ring[0], 0, s, 1, NULL, 0), 0);
		assert_int_equal(pt_write(f.ring[1], 0, s, 1, NULL, 0), 0);
	}
	uint8_t junk[200];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	assert_int_equal(shmq_ring_write(f.ring[0], 9, SHMQ_RING_TYPE_USER, junk, sizeof(junk)), 0);
	drain_all(&f);
	assert_true(shmq_persister_ring_fenced(f.p, f.ring[0]));
	assert_false(shmq_persister_ring_fenced(f.p, f.ring[1]));
	struct shmq_ring_stats rs;
	shmq_ring_stats(f.ring[0], &rs);
	assert_true(rs.fenced);
	assert_int_equal(pt_write(f.ring[0], 0, 5, 1, NULL, 0), SHMQ_EFENCED);
	/* the other ring keeps flowing */
	for (uint64_t s = 5; s < 10; s++)
		assert_int_equal(pt_write(f.ring[1], 0, s, 1, NULL, 0), 0);
	drain_all(&f);
	uint64_t e0[1] = { 5 }, e1[1] = { 10 };
	assert_int_equal(pt_check_queue(f.store, "TopicA", 0, e0, 1), 5);
	assert_int_equal(pt_check_queue(f.store, "TopicA", 1, e1, 1), 10);
	struct shmq_persister_stats st;
	shmq_persister_stats(f.p, &st);
	assert_int_equal(st.fenced_rings, 1);
	fx_teardown(&f);
}

static void test_garbage_in_ring_data_area_fences_ring(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, 3, false, 0);
	for (uint64_t s = 0; s < 3; s++)
		for (unsigned r = 0; r < 2; r++)
			assert_int_equal(pt_write(f.ring[r], 0, s, 1, NULL, 0), 0);
	/* ring 0: garbage over the first message's payload (data area at 4 KiB,
	 * record header 16 bytes); ring 1: a committed length word far larger
	 * than the ring */
	uint8_t junk[256];
	memset(junk, 0xa7, sizeof(junk));
	int fd = open(f.rpath[0], O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), 4096 + 16), (ssize_t)sizeof(junk));
	close(fd);
	uint32_t huge = 0x7ffff0u;
	fd = open(f.rpath[1], O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &huge, sizeof(huge), 4096), (ssize_t)sizeof(huge));
	close(fd);
	assert_int_equal(pt_write(f.ring[2], 0, 0, 3, NULL, 0), 0);
	drain_all(&f);
	assert_true(shmq_persister_ring_fenced(f.p, f.ring[0]));
	assert_true(shmq_persister_ring_fenced(f.p, f.ring[1]));
	assert_false(shmq_persister_ring_fenced(f.p, f.ring[2]));
	assert_int_equal(pt_write(f.ring[2], 0, 3, 2, NULL, 0), 0);
	drain_all(&f);
	uint64_t e0[1] = { 0 }, e2[1] = { 5 };
	assert_int_equal(pt_check_queue(f.store, "TopicA", 0, e0, 1), 0);
	assert_int_equal(pt_check_queue(f.store, "TopicB", 0, e2, 1), 5);
	fx_teardown(&f);
}

static void test_sync_mode_wakes_flushed_waiter_after_group_commit(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, 1, true, 0);
	assert_int_equal(shmq_persister_start(f.p), 0);
	for (uint64_t s = 0; s < 20; s++) {
		uint64_t pos = 0;
		assert_int_equal(pt_write(f.ring[0], 0, s, 1 + (uint32_t)(s % 3), &pos, 0), 0);
		s += s % 3;
		assert_int_equal(shmq_ring_wait_mark(f.ring[0], SHMQ_RING_MARK_FLUSHED, pos + 1,
						     5000000000ull), 0);
		/* durable: the record's bytes are below the store's flushed offset */
		uint64_t min, max;
		assert_int_equal(shmq_store_queue_offsets(f.store, "TopicA", 0, &min, &max), 0);
		struct shmq_store_cq_entry e;
		assert_int_equal(shmq_store_cq_get(f.store, "TopicA", 0, max - 1, &e), 0);
		assert_true(e.commitlog_offset + e.size <= shmq_store_flushed_offset(f.store));
	}
	shmq_persister_stop(f.p);
	struct shmq_persister_stats st;
	shmq_persister_stats(f.p, &st);
	assert_true(st.group_commits > 0);
	fx_teardown(&f);
}

/* What a dead broker did before it died: append msgs[0..n) of ring 0 to the
 * store (as TopicA/0); results into res[] if not NULL. */
static void store_directly(struct fx *f, const struct shmq_ring_msg *msgs, unsigned n,
			   struct shmq_store_result *res)
{
	for (unsigned i = 0; i < n; i++) {
		struct shmq_ringmsg_view v;
		assert_int_equal(shmq_ringmsg_decode(msgs[i].data, msgs[i].len, &v), 0);
		struct shmq_store_msg sm = { .topic = "TopicA", .queue_id = 0, .body = v.body,
			.body_len = v.body_len, .keys = v.keys, .tags = v.tags,
			.producer_id = v.producer_id, .producer_seq = v.producer_seq };
		struct shmq_store_prop pr;
		shmq_ringmsg_prop_next(v.props, &pr.key, &pr.value);
		sm.props = &pr;
		sm.nprops = 1;
		struct shmq_store_result r1;
		assert_int_equal(shmq_store_append(f->store, &sm, 1, res ? &res[i] : &r1), 1);
	}
}

/* Simulate a broker that died between its append and its gate_consume: the
 * anchor is published and the first k messages are in the store. */
static void test_restart_skips_messages_already_stored(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, 1, false, 0);
	shmq_persister_destroy(f.p);
	f.p = NULL;
	assert_int_equal(pt_write(f.ring[0], 0, 0, 4, NULL, 0), 0);
	assert_int_equal(pt_write(f.ring[0], 0, 4, 1, NULL, 0), 0);
	struct shmq_ring_msg msgs[SHMQ_RING_BATCH_MAX];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f.ring[0], msgs, SHMQ_RING_BATCH_MAX, &next), 5);
	struct shmq_ring_anchor a = { msgs[0].pos, 0 };
	shmq_ring_publish_anchor(f.ring[0], &a);
	store_directly(&f, msgs, 3, NULL); /* torn: 3 of the first batch's 4 */
	SHMQ_PERSISTER_OPTS(po);
	assert_int_equal(shmq_persister_create(f.store, &po, &f.p), 0);
	assert_int_equal(shmq_persister_add_ring(f.p, "TopicA", 0, f.ring[0]), 0);
	drain_all(&f);
	uint64_t e[1] = { 5 };
	assert_int_equal(pt_check_queue(f.store, "TopicA", 0, e, 1), 5);
	struct shmq_persister_stats st;
	shmq_persister_stats(f.p, &st);
	assert_int_equal(st.restart_skipped, 3);
	assert_int_equal(st.restart_mismatch, 0);
	/* P3: the 3 messages the "dead" broker stored never got their result
	 * words; the new persister fills them from the store, and the 2 it
	 * appended itself too */
	uint64_t sos[8], qos[8];
	assert_int_equal(ring_results(&f, 0, "TopicA", 0, sos, qos, 8), 5);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(qos[i], i);
	fx_teardown(&f);
}

/* A dead broker had read more messages at once than one read of the new
 * persister returns, appended them all, and wrote back the result words of
 * only the first part: the new persister skips them over several reads and
 * fills the missing words (P3, restart). */
static void test_restart_fills_missing_result_words_across_several_reads(void **state)
{
	(void)state;
	enum { N = SHMQ_RING_BATCH_MAX + 100, WROTE_BACK = 500 };
	struct fx f;
	fx_setup(&f, 0, false, 0);
	shmq_persister_destroy(f.p);
	snprintf(f.rpath[0], sizeof(f.rpath[0]), "%s/ring0", f.dir);
	SHMQ_RING_OPTS(ro, .capacity = 1u << 20, .prefault = false);
	assert_int_equal(shmq_ring_create(f.rpath[0], &ro, &f.ring[0]), 0);
	for (uint64_t s = 0; s < N; s++)
		assert_int_equal(pt_write(f.ring[0], 0, s, 1, NULL, 0), 0);
	static struct shmq_ring_msg msgs[N];
	static struct shmq_store_result res[N];
	uint64_t next;
	assert_int_equal(shmq_ring_gate_read(f.ring[0], msgs, N, &next), N);
	struct shmq_ring_anchor a = { msgs[0].pos, 0 };
	shmq_ring_publish_anchor(f.ring[0], &a);
	store_directly(&f, msgs, N, res);
	for (unsigned i = 0; i < WROTE_BACK; i++)
		shmq_ringmsg_result_set((void *)(uintptr_t)msgs[i].data, res[i].commitlog_offset,
					res[i].queue_offset);

	SHMQ_PERSISTER_OPTS(po, .batch_max = SHMQ_RING_BATCH_MAX);
	assert_int_equal(shmq_persister_create(f.store, &po, &f.p), 0);
	assert_int_equal(shmq_persister_add_ring(f.p, "TopicA", 0, f.ring[0]), 0);
	/* rounds that only skip append nothing (poll_once returns 0) */
	for (int i = 0; i < 10 && shmq_ring_consumed(f.ring[0]) != next; i++)
		assert_int_equal(shmq_persister_poll_once(f.p), 0);
	assert_int_equal(shmq_ring_consumed(f.ring[0]), next);
	struct shmq_persister_stats st;
	shmq_persister_stats(f.p, &st);
	assert_int_equal(st.restart_skipped, N);
	assert_int_equal(st.messages, 0);
	static uint64_t sos[N], qos[N];
	assert_int_equal(ring_results(&f, 0, "TopicA", 0, sos, qos, N), N);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(qos[i], i);
		assert_true(sos[i] == res[i].commitlog_offset);
	}
	fx_teardown(&f);
}

static void test_message_refused_by_store_is_dropped_and_queue_goes_on(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, 1, false, 4096);
	assert_int_equal(pt_write(f.ring[0], 0, 0, 1, NULL, 0), 0);
	static uint8_t big[8000];
	struct shmq_ringmsg_in in = { .producer_id = 5, .body = big, .body_len = sizeof(big) };
	static uint8_t enc[9000];
	int64_t sz = shmq_ringmsg_encode(enc, sizeof(enc), &in);
	assert_true(sz > 0);
	assert_int_equal(shmq_ring_write(f.ring[0], 6, SHMQ_RING_TYPE_USER, enc, (uint32_t)sz), 0);
	assert_int_equal(pt_write(f.ring[0], 0, 1, 1, NULL, 0), 0);
	drain_all(&f);
	uint64_t e[1] = { 2 };
	assert_int_equal(pt_check_queue(f.store, "TopicA", 0, e, 1), 2);
	struct shmq_persister_stats st;
	shmq_persister_stats(f.p, &st);
	assert_int_equal(st.rejected, 1);
	/* the dropped message keeps unset result words: PERSISTED passed it,
	 * but a waiting producer can tell it was not stored */
	uint64_t sos[4], qos[4];
	assert_int_equal(ring_results(&f, 0, "TopicA", 0, sos, qos, 4), 3);
	assert_int_equal(qos[0], 0);
	assert_true(qos[1] == SHMQ_RINGMSG_RESULT_NONE && sos[1] == SHMQ_RINGMSG_RESULT_NONE);
	assert_int_equal(qos[2], 1);
	assert_false(shmq_persister_ring_fenced(f.p, f.ring[0]));
	fx_teardown(&f);
}

static void test_restarted_persister_publishes_flushed_for_records_consumed_before(void **state)
{
	(void)state;
	struct fx f;
	g_flush_interval_ms = 600000; /* the flusher stays idle: we flush by hand */
	g_flush_dirty_pages = 1000000;
	fx_setup(&f, 1, false, 0);
	g_flush_interval_ms = g_flush_dirty_pages = 0;
	assert_int_equal(pt_write(f.ring[0], 0, 0, 3, NULL, 0), 0);
	drain_all(&f);
	uint64_t consumed = shmq_ring_consumed(f.ring[0]);
	assert_int_equal(consumed, shmq_ring_tail(f.ring[0]));
	assert_true(shmq_ring_mark(f.ring[0], SHMQ_RING_MARK_FLUSHED) < consumed);
	/* the broker "dies" before the flush; a new persister takes over */
	shmq_persister_destroy(f.p);
	SHMQ_PERSISTER_OPTS(po);
	assert_int_equal(shmq_persister_create(f.store, &po, &f.p), 0);
	assert_int_equal(shmq_persister_add_ring(f.p, "TopicA", 0, f.ring[0]), 0);
	assert_int_equal(shmq_persister_poll_once(f.p), 0);
	assert_true(shmq_ring_mark(f.ring[0], SHMQ_RING_MARK_FLUSHED) < consumed);
	assert_int_equal(shmq_store_flush(f.store), 0);
	assert_int_equal(shmq_persister_poll_once(f.p), 0);
	assert_int_equal(shmq_ring_mark(f.ring[0], SHMQ_RING_MARK_FLUSHED), consumed);
	fx_teardown(&f);
}

static void test_poisoned_store_stops_persisting_and_keeps_records_in_ring(void **state)
{
	(void)state;
	struct fx f;
	fx_setup(&f, 1, true, 0);
	assert_int_equal(pt_write(f.ring[0], 0, 0, 1, NULL, 0), 0);
	shmq_store_test_fail_next_flush(f.store, -EIO);
	/* the append succeeds, the group commit fails: poisoned, never FLUSHED */
	assert_int_equal(shmq_persister_poll_once(f.p), SHMQ_EPOISONED);
	assert_int_equal(shmq_ring_mark(f.ring[0], SHMQ_RING_MARK_FLUSHED), 0);
	assert_int_equal(pt_write(f.ring[0], 0, 1, 1, NULL, 0), 0);
	uint64_t consumed = shmq_ring_consumed(f.ring[0]);
	assert_int_equal(shmq_persister_poll_once(f.p), SHMQ_EPOISONED);
	assert_int_equal(shmq_ring_consumed(f.ring[0]), consumed);
	struct shmq_persister_stats st;
	shmq_persister_stats(f.p, &st);
	assert_int_equal(st.poisoned, SHMQ_EPOISONED);
	assert_int_equal(st.messages, 1);
	shmq_persister_destroy(f.p);
	f.p = NULL;
	assert_int_not_equal(shmq_store_close(f.store), 0); /* the failed flush is reported */
	for (unsigned i = 0; i < 4; i++)
		shmq_ring_close(f.ring[i]);
	shmq_test_rmtree(f.dir);
}

int main(void)
{
	shmq_log_set_level(SHMQ_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ringmsg_roundtrip_preserves_every_field),
		cmocka_unit_test(test_ringmsg_decode_rejects_wrong_lengths_and_missing_nul),
		cmocka_unit_test(test_ringmsg_result_words_round_trip_and_do_not_change_the_message),
		cmocka_unit_test(test_ringmsg_decode_accepts_only_version_2_with_an_80_byte_header),
		cmocka_unit_test(test_persister_drains_singles_and_batches_in_ring_order_with_dense_offsets),
		cmocka_unit_test(test_persisted_messages_carry_their_store_offsets_in_the_ring),
		cmocka_unit_test(test_corrupt_message_fences_only_its_ring),
		cmocka_unit_test(test_garbage_in_ring_data_area_fences_ring),
		cmocka_unit_test(test_sync_mode_wakes_flushed_waiter_after_group_commit),
		cmocka_unit_test(test_restart_skips_messages_already_stored),
		cmocka_unit_test(test_restart_fills_missing_result_words_across_several_reads),
		cmocka_unit_test(test_message_refused_by_store_is_dropped_and_queue_goes_on),
		cmocka_unit_test(test_restarted_persister_publishes_flushed_for_records_consumed_before),
		cmocka_unit_test(test_poisoned_store_stops_persisting_and_keeps_records_in_ring),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
