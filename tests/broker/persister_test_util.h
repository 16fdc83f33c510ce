/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the persister's tests (test_/stress_/crash_persister.c):
 * deterministic messages written as producers do (common/ringmsg.h), and a
 * checker that every queue of the store holds each message exactly once,
 * in ring order, bodies intact. */
#ifndef SHMQ_TESTS_BROKER_PERSISTER_TEST_UTIL_H
#define SHMQ_TESTS_BROKER_PERSISTER_TEST_UTIL_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/store/store.h"
#include "common/ringmsg.h"
#include "shmq/ring.h"
#include "tests/common/tmpdir.h"

#define PT_BODY_MAX 600u

static inline int pt_scale(void)
{
	const char *s = getenv("SHMQ_STRESS_SCALE");
	int v = s ? atoi(s) : 1;
	return v > 0 ? v : 1;
}

static inline uint64_t pt_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

/* Body of message (producer, seq): length and bytes derive from both. */
static inline uint32_t pt_body_len(uint64_t pid, uint64_t seq)
{
	return (uint32_t)(pt_mix(pid * 1000003u + seq) % PT_BODY_MAX);
}

static inline void pt_body(uint8_t *b, uint32_t len, uint64_t pid, uint64_t seq)
{
	uint64_t x = pt_mix(pid ^ (seq << 20)) | 1;
	for (uint32_t k = 0; k < len; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[k] = (uint8_t)x;
	}
}

/* A message's fields; keys "k<pid>-<seq>", tags "t<seq%4>", one property. */
struct pt_msg {
	uint8_t body[PT_BODY_MAX];
	char keys[48], tags[8], pval[24];
	struct shmq_ringmsg_prop prop;
	struct shmq_ringmsg_in in;
};

static inline void pt_msg_make(struct pt_msg *m, uint64_t pid, uint64_t seq)
{
	uint32_t len = pt_body_len(pid, seq);
	pt_body(m->body, len, pid, seq);
	snprintf(m->keys, sizeof(m->keys), "k%" PRIu64 "-%" PRIu64, pid, seq);
	snprintf(m->tags, sizeof(m->tags), "t%u", (unsigned)(seq % 4));
	snprintf(m->pval, sizeof(m->pval), "%" PRIu64, seq);
	m->prop = (struct shmq_ringmsg_prop){ "seq", m->pval };
	m->in = (struct shmq_ringmsg_in){
		.born_ts_ms = 1, .born_host = pid, .producer_id = pid, .producer_seq = seq,
		.body = m->body, .body_len = len, .keys = m->keys, .tags = m->tags,
		.props = &m->prop, .nprops = 1,
	};
}

static inline void pt_sleep_us(unsigned us)
{
	struct timespec ts = { .tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000 };
	nanosleep(&ts, NULL);
}

/* Write messages seq..seq+count-1 of producer @p pid as one batch record
 * (count > 1) or a single; waits for space up to @p timeout_ms in total.
 * @return 0, SHMQ_EFENCED, -ETIMEDOUT, or another error. *pos gets the
 * record's position. */
static inline int pt_write(shmq_ring_t *r, uint64_t pid, uint64_t seq, uint32_t count,
			   uint64_t *pos, unsigned timeout_ms)
{
	static __thread struct pt_msg m[16];
	uint32_t lens[16];
	if (count == 0 || count > 16)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		pt_msg_make(&m[i], pid, seq + i);
		lens[i] = (uint32_t)shmq_ringmsg_size(&m[i].in);
	}
	/* a whole record: header, then per message an inner header (batches)
	 * and the 8-aligned payload */
	uint32_t need = 16;
	for (uint32_t i = 0; i < count; i++)
		need += (count > 1 ? 8 : 0) + ((lens[i] + 7u) & ~7u);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int rc;
		if (count == 1) {
			struct shmq_ring_claim c;
			rc = shmq_ring_reserve(r, (uint32_t)pid + 1, SHMQ_RING_TYPE_USER, lens[0], &c);
			if (rc == 0) {
				shmq_ringmsg_encode(c.data, c.len, &m[0].in);
				if (pos)
					*pos = c.pos;
				return shmq_ring_commit(r, &c);
			}
		} else {
			struct shmq_ring_batch b;
			rc = shmq_ring_batch_reserve(r, (uint32_t)pid + 1, SHMQ_RING_TYPE_USER, count,
						     lens, &b);
			if (rc == 0) {
				for (uint32_t i = 0; i < count; i++)
					shmq_ringmsg_encode(shmq_ring_batch_data(&b, i), lens[i], &m[i].in);
				if (pos)
					*pos = b.pos;
				return shmq_ring_batch_commit(r, &b);
			}
		}
		if (rc != SHMQ_BACK_PRESSURED)
			return rc;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		uint64_t ms = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000u +
			      (uint64_t)(t1.tv_nsec - t0.tv_nsec + 1000000000l) / 1000000u - 1000u;
		if (ms >= timeout_ms)
			return -ETIMEDOUT;
		if (shmq_ring_wait_space(r, need, 10000000ull) == 0)
			pt_sleep_us(50); /* fits by the header's count but not for us: back off */
	}
}

/*
 * Check queue (topic, q) of @p s: dense offsets 0..max-1, each message's
 * body/keys/props intact, per producer the seqs 0,1,2,... in order (ring
 * order of one producer), none twice. @p expect[pid] = messages of producer
 * pid expected (pids < npids), or NULL to only check order/integrity.
 * @return messages found, or -1 after printing the first violation.
 */
static inline int64_t pt_check_queue(shmq_store_t *s, const char *topic, uint32_t q,
				     const uint64_t *expect, unsigned npids)
{
	uint64_t min = 0, max = 0;
	int rc = shmq_store_queue_offsets(s, topic, q, &min, &max);
	if (rc == SHMQ_ENOTFOUND)
		max = 0;
	else if (rc < 0 || min != 0) {
		fprintf(stderr, "%s/%u: queue_offsets rc=%d min=%" PRIu64 "\n", topic, q, rc, min);
		return -1;
	}
	uint64_t *next = calloc(npids ? npids : 1, sizeof(*next));
	uint8_t body[PT_BODY_MAX];
	for (uint64_t qo = 0; qo < max; qo++) {
		struct shmq_store_view v;
		rc = shmq_store_read_queue(s, topic, q, qo, &v);
		if (rc < 0) {
			fprintf(stderr, "%s/%u: read qo %" PRIu64 ": %s\n", topic, q, qo,
				shmq_strerror(rc));
			free(next);
			return -1;
		}
		uint64_t pid = v.producer_id, seq = v.producer_seq;
		bool bad = v.queue_offset != qo || pid >= npids || seq != next[pid] ||
			   v.body_len != pt_body_len(pid, seq);
		if (!bad) {
			pt_body(body, v.body_len, pid, seq);
			char keys[48];
			snprintf(keys, sizeof(keys), "k%" PRIu64 "-%" PRIu64, pid, seq);
			const char *pv = NULL;
			uint32_t pvl = 0;
			char sq[24];
			snprintf(sq, sizeof(sq), "%" PRIu64, seq);
			bad = (v.body_len && memcmp(body, v.body, v.body_len) != 0) ||
			      v.keys_len != strlen(keys) || memcmp(v.keys, keys, v.keys_len) != 0 ||
			      shmq_store_view_prop(&v, "seq", &pv, &pvl) != 0 ||
			      pvl != strlen(sq) || memcmp(pv, sq, pvl) != 0;
		}
		if (bad) {
			fprintf(stderr, "%s/%u qo %" PRIu64 ": producer %" PRIu64 " seq %" PRIu64
				" (expected seq %" PRIu64 "), body_len %u: out of order, duplicate "
				"or damaged (keys %.*s)\n", topic, q, qo, pid, seq,
				pid < npids ? next[pid] : 0, v.body_len, (int)v.keys_len,
				v.keys ? v.keys : "");
			shmq_store_view_release(s, &v);
			free(next);
			return -1;
		}
		next[pid]++;
		shmq_store_view_release(s, &v);
	}
	for (unsigned p = 0; expect && p < npids; p++) {
		if (next[p] != expect[p]) {
			fprintf(stderr, "%s/%u: producer %u: %" PRIu64 " messages stored, %" PRIu64
				" expected\n", topic, q, p, next[p], expect[p]);
			free(next);
			return -1;
		}
	}
	free(next);
	return (int64_t)max;
}

/*
 * P3 (persister.h): walk @p r from its oldest readable record up to its
 * PERSISTED mark as a non-gating reader; every message there must carry
 * result words naming where the store holds it: the record at that queue
 * offset of (topic, q) has that commitlog offset and the message's
 * (producer id, seq). @return messages checked, or -1 after printing the
 * first violation.
 */
static inline int64_t pt_check_ring_results(shmq_store_t *s, shmq_ring_t *r, const char *topic,
					    uint32_t q)
{
	static struct shmq_ring_msg msgs[SHMQ_RING_BATCH_MAX];
	uint64_t start = shmq_ring_oldest(r), pos = start;
	uint64_t persisted = shmq_ring_mark(r, SHMQ_RING_MARK_PERSISTED);
	int64_t checked = 0;
	while (pos < persisted) {
		int n = shmq_ring_read(r, &pos, msgs, SHMQ_RING_BATCH_MAX);
		if (n <= 0) {
			fprintf(stderr, "%s/%u: ring read at %" PRIu64 ": %d\n", topic, q, pos, n);
			return -1;
		}
		for (int i = 0; i < n; i++) {
			if (msgs[i].next_pos > persisted)
				break;
			struct shmq_ringmsg_view v;
			uint64_t so, qo;
			shmq_ringmsg_result_get(msgs[i].data, &so, &qo);
			struct shmq_store_view sv;
			int rc = shmq_ringmsg_decode(msgs[i].data, msgs[i].len, &v);
			if (rc == 0 && qo != SHMQ_RINGMSG_RESULT_NONE)
				rc = shmq_store_read_queue(s, topic, q, qo, &sv);
			else if (rc == 0)
				rc = SHMQ_ENOTFOUND;
			if (rc == 0) {
				bool same = sv.commitlog_offset == so && sv.producer_id == v.producer_id &&
					    sv.producer_seq == v.producer_seq;
				shmq_store_view_release(s, &sv);
				if (!same)
					rc = SHMQ_ECORRUPT;
			}
			if (rc != 0) {
				fprintf(stderr, "%s/%u: ring record %" PRIu64 " message %u: result words "
					"(%" PRIu64 ", %" PRIu64 ") do not name the stored message: %s\n",
					topic, q, msgs[i].pos, msgs[i].index, so, qo, shmq_strerror(rc));
				return -1;
			}
			checked++;
		}
	}
	if (shmq_ring_read_check(r, start) != 0) {
		fprintf(stderr, "%s/%u: ring reclaimed while checked\n", topic, q);
		return -1;
	}
	return checked;
}

#endif
