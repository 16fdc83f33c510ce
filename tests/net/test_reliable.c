/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for dpdk_net/reliable.h: retries with backoff, duplicate
 * suppression, idempotent produce; a deterministic lossy simulation (seeded
 * loss function, simulated clock) ties the three together. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dpdk_net/reliable.h"
#include "net_test_util.h"
#include "shmq/error.h"

#define MS 1000000ull

static void test_requester_backs_off_exponentially_until_the_deadline(void **state)
{
	(void)state;
	SHMQ_NET_RETRY_OPTS(o, .rto_initial_ns = 10 * MS, .rto_max_ns = 40 * MS, .deadline_ns = 200 * MS);
	struct shmq_net_requester *rq;
	assert_int_equal(shmq_net_req_create(&o, &rq), 0);
	uint64_t id = shmq_net_req_new_id(rq);
	assert_int_equal(id, 1);
	int ctx;
	assert_int_equal(shmq_net_req_track(rq, id, 0, &ctx), 0);
	assert_int_equal(shmq_net_req_track(rq, id, 0, &ctx), -EEXIST);
	struct shmq_net_req_due d[4];
	/* fires at 10, then +20, +40, +40 (capped), ... */
	uint64_t want[] = { 10, 30, 70, 110, 150, 190 };
	uint64_t t = 0;
	for (unsigned k = 0; k < 6; k++) {
		assert_int_equal(shmq_net_req_due(rq, want[k] * MS - 1, d, 4), 0);
		assert_int_equal(shmq_net_req_next_timer(rq), want[k] * MS);
		t = want[k] * MS;
		assert_int_equal(shmq_net_req_due(rq, t, d, 4), 1);
		assert_false(d[0].expired);
		assert_int_equal(d[0].attempt, k + 2);
		assert_ptr_equal(d[0].ctx, &ctx);
		assert_int_equal(shmq_net_req_attempt(rq, id), k + 2);
	}
	/* the deadline (200 ms after the first send) expires it */
	assert_int_equal(shmq_net_req_due(rq, 230 * MS, d, 4), 1);
	assert_true(d[0].expired);
	assert_int_equal(shmq_net_req_outstanding(rq), 0);
	assert_int_equal(shmq_net_req_done(rq, id, NULL), -ENOENT);
	assert_int_equal(shmq_net_req_next_timer(rq), UINT64_MAX);
	shmq_net_req_destroy(rq);
}

static void test_requester_answers_once_and_bounds_requests_in_flight(void **state)
{
	(void)state;
	SHMQ_NET_RETRY_OPTS(o, .max_outstanding = 2);
	struct shmq_net_requester *rq;
	assert_int_equal(shmq_net_req_create(&o, &rq), 0);
	assert_int_equal(shmq_net_req_track(rq, 1, 0, NULL), 0);
	assert_int_equal(shmq_net_req_track(rq, 2, 0, NULL), 0);
	assert_int_equal(shmq_net_req_track(rq, 3, 0, NULL), -EBUSY);
	assert_int_equal(shmq_net_req_done(rq, 1, NULL), 0);
	assert_int_equal(shmq_net_req_done(rq, 1, NULL), -ENOENT); /* duplicate answer */
	assert_int_equal(shmq_net_req_track(rq, 3, 0, NULL), 0);
	shmq_net_req_destroy(rq);
}

static void test_dedup_resends_a_cached_answer_once_per_new_attempt(void **state)
{
	(void)state;
	struct shmq_net_dedup *d;
	assert_int_equal(shmq_net_dedup_create(NULL, &d), 0);
	struct shmq_net_dedup_answer a;
	assert_int_equal(shmq_net_dedup_lookup(d, 5, 1, &a), SHMQ_NET_DEDUP_NEW);
	assert_int_equal(shmq_net_dedup_begin(d, 5), 0);
	assert_int_equal(shmq_net_dedup_begin(d, 5), -EEXIST);
	/* being served (long poll): resends are ignored */
	assert_int_equal(shmq_net_dedup_lookup(d, 5, 2, &a), SHMQ_NET_DEDUP_PENDING);
	assert_int_equal(shmq_net_dedup_answer(d, 5, 1, 8, "answer", 6), 0);
	/* more fragments of attempt 1: already answered */
	assert_int_equal(shmq_net_dedup_lookup(d, 5, 1, &a), SHMQ_NET_DEDUP_PENDING);
	/* attempt 2: answered from the cache, once */
	assert_int_equal(shmq_net_dedup_lookup(d, 5, 2, &a), SHMQ_NET_DEDUP_ANSWERED);
	assert_int_equal(a.type, 8);
	assert_int_equal(a.len, 6);
	assert_memory_equal(a.body, "answer", 6);
	assert_int_equal(shmq_net_dedup_lookup(d, 5, 2, &a), SHMQ_NET_DEDUP_PENDING);
	assert_int_equal(shmq_net_dedup_lookup(d, 5, 3, &a), SHMQ_NET_DEDUP_ANSWERED);
	assert_int_equal(shmq_net_dedup_answer(d, 6, 1, 8, "x", 1), -ENOENT);
	shmq_net_dedup_destroy(d);
}

static void test_dedup_evicts_oldest_answers_never_pending_and_calls_older_stale(void **state)
{
	(void)state;
	SHMQ_NET_DEDUP_OPTS(o, .slots = 3, .max_bytes = 100);
	struct shmq_net_dedup *d;
	assert_int_equal(shmq_net_dedup_create(&o, &d), 0);
	struct shmq_net_dedup_answer a;
	assert_int_equal(shmq_net_dedup_begin(d, 1), 0); /* stays pending */
	for (uint64_t id = 2; id <= 5; id++) {
		assert_int_equal(shmq_net_dedup_begin(d, id), 0);
		assert_int_equal(shmq_net_dedup_answer(d, id, 1, 8, "0123456789", 10), 0);
	}
	/* 3 slots: 1 (pending), 4, 5; 2 and 3 were evicted */
	assert_int_equal(shmq_net_dedup_lookup(d, 1, 2, &a), SHMQ_NET_DEDUP_PENDING);
	assert_int_equal(shmq_net_dedup_lookup(d, 2, 2, &a), SHMQ_NET_DEDUP_STALE);
	assert_int_equal(shmq_net_dedup_lookup(d, 3, 2, &a), SHMQ_NET_DEDUP_STALE);
	assert_int_equal(shmq_net_dedup_lookup(d, 4, 2, &a), SHMQ_NET_DEDUP_ANSWERED);
	assert_int_equal(shmq_net_dedup_lookup(d, 6, 1, &a), SHMQ_NET_DEDUP_NEW);
	/* the byte budget evicts too, and refuses an answer beyond it */
	assert_int_equal(shmq_net_dedup_answer(d, 1, 1, 8, "big", 101), -EMSGSIZE);
	uint8_t big[95] = { 0 };
	assert_int_equal(shmq_net_dedup_answer(d, 1, 1, 8, big, sizeof(big)), 0);
	assert_true(shmq_net_dedup_bytes(d) <= 100);
	assert_int_equal(shmq_net_dedup_lookup(d, 1, 2, &a), SHMQ_NET_DEDUP_ANSWERED);
	/* all slots pending: a new request cannot begin */
	SHMQ_NET_DEDUP_OPTS(o1, .slots = 1);
	struct shmq_net_dedup *d1;
	assert_int_equal(shmq_net_dedup_create(&o1, &d1), 0);
	assert_int_equal(shmq_net_dedup_begin(d1, 1), 0);
	assert_int_equal(shmq_net_dedup_begin(d1, 2), -EBUSY);
	shmq_net_dedup_destroy(d1);
	shmq_net_dedup_destroy(d);
}

static void test_idem_refuses_gaps_and_answers_duplicates_with_original_offsets(void **state)
{
	(void)state;
	SHMQ_NET_IDEM_OPTS(o, .history = 8);
	struct shmq_net_idem *t;
	assert_int_equal(shmq_net_idem_create(&o, &t), 0);
	uint32_t dups;
	uint64_t next, qo, so;
	/* an unknown producer starts anywhere */
	assert_int_equal(shmq_net_idem_check(t, 7, 1, 100, 4, &dups, &next), 0);
	assert_int_equal(dups, 0);
	for (uint64_t s = 100; s < 104; s++)
		assert_int_equal(shmq_net_idem_record(t, 7, 1, s, s - 100, (s - 100) * 64), 0);
	/* whole resend: all duplicates, offsets as first stored */
	assert_int_equal(shmq_net_idem_check(t, 7, 1, 100, 4, &dups, &next), 0);
	assert_int_equal(dups, 4);
	assert_int_equal(next, 104);
	assert_int_equal(shmq_net_idem_lookup(t, 7, 1, 102, &qo, &so), 0);
	assert_true(qo == 2 && so == 128);
	/* overlapping batch: two old, two new */
	assert_int_equal(shmq_net_idem_check(t, 7, 1, 102, 4, &dups, &next), 0);
	assert_int_equal(dups, 2);
	/* a gap is refused and names the sequence expected */
	assert_int_equal(shmq_net_idem_check(t, 7, 1, 105, 1, &dups, &next), SHMQ_ESEQGAP);
	assert_int_equal(next, 104);
	assert_int_equal(shmq_net_idem_record(t, 7, 1, 105, 9, 9), SHMQ_ESEQGAP);
	/* other streams and producers are independent */
	assert_int_equal(shmq_net_idem_check(t, 7, 2, 0, 1, &dups, &next), 0);
	assert_int_equal(shmq_net_idem_check(t, 8, 1, 0, 1, &dups, &next), 0);
	/* the history is bounded: older offsets are forgotten */
	for (uint64_t s = 104; s < 120; s++)
		assert_int_equal(shmq_net_idem_record(t, 7, 1, s, s - 100, 0), 0);
	assert_int_equal(shmq_net_idem_lookup(t, 7, 1, 111, &qo, &so), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_net_idem_lookup(t, 7, 1, 112, &qo, &so), 0);
	assert_int_equal(qo, 12);
	assert_int_equal(shmq_net_idem_lookup(t, 7, 1, 120, &qo, &so), SHMQ_ENOTFOUND);
	shmq_net_idem_destroy(t);
}

static void test_idem_forgets_the_least_recently_used_producer_when_full(void **state)
{
	(void)state;
	SHMQ_NET_IDEM_OPTS(o, .producers = 2, .history = 4);
	struct shmq_net_idem *t;
	assert_int_equal(shmq_net_idem_create(&o, &t), 0);
	uint32_t dups;
	uint64_t next;
	assert_int_equal(shmq_net_idem_record(t, 1, 0, 0, 0, 0), 0);
	assert_int_equal(shmq_net_idem_record(t, 2, 0, 0, 1, 0), 0);
	assert_int_equal(shmq_net_idem_check(t, 1, 0, 1, 1, &dups, &next), 0); /* touches 1 */
	assert_int_equal(shmq_net_idem_record(t, 3, 0, 0, 2, 0), 0);          /* evicts 2 */
	assert_int_equal(shmq_net_idem_check(t, 2, 0, 5, 1, &dups, &next), 0); /* unknown again */
	assert_int_equal(next, 5);
	assert_int_equal(shmq_net_idem_check(t, 1, 0, 5, 1, &dups, &next), SHMQ_ESEQGAP);
	shmq_net_idem_destroy(t);
}

/* After a restart the table is seeded from the store in queue order, not
 * sequence order, and a stream's records may have holes (other queues beyond
 * the scan): the next expected sequence is the highest seen + 1, offsets are
 * kept only for sequences actually seen, and an evicted pair's history never
 * answers for the pair that reuses it. */
static void test_idem_seeded_out_of_order_knows_the_highest_sequence_and_only_seen_offsets(void **state)
{
	(void)state;
	SHMQ_NET_IDEM_OPTS(o, .producers = 2, .history = 8);
	struct shmq_net_idem *t;
	assert_int_equal(shmq_net_idem_create(&o, &t), 0);
	uint32_t dups;
	uint64_t next, qo, so;
	/* queue 0 held 10, 12, 13; queue 1 held 11, 15 (14 not scanned) */
	const uint64_t seqs[] = { 10, 12, 13, 11, 15 };
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(shmq_net_idem_seed(t, 7, 1, seqs[i], 100 + seqs[i], 1000 + seqs[i]), 0);
	assert_int_equal(shmq_net_idem_check(t, 7, 1, 13, 4, &dups, &next), 0);
	assert_int_equal(next, 16);
	assert_int_equal(dups, 3); /* 13, 14, 15 stored before the restart; 16 is new */
	assert_int_equal(shmq_net_idem_lookup(t, 7, 1, 11, &qo, &so), 0);
	assert_true(qo == 111 && so == 1011);
	assert_int_equal(shmq_net_idem_lookup(t, 7, 1, 14, &qo, &so), SHMQ_ENOTFOUND); /* a hole */
	assert_int_equal(shmq_net_idem_check(t, 7, 1, 17, 1, &dups, &next), SHMQ_ESEQGAP);
	/* the live path continues the seeded stream */
	assert_int_equal(shmq_net_idem_record(t, 7, 1, 16, 116, 1016), 0);
	assert_int_equal(shmq_net_idem_lookup(t, 7, 1, 16, &qo, &so), 0);
	assert_int_equal(qo, 116);
	/* a seed older than the history is counted, not kept */
	assert_int_equal(shmq_net_idem_seed(t, 7, 1, 3, 103, 1003), 0);
	assert_int_equal(shmq_net_idem_lookup(t, 7, 1, 3, &qo, &so), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_net_idem_lookup(t, 7, 1, 11, &qo, &so), 0); /* its slot untouched */
	assert_int_equal(shmq_net_idem_seed(t, 0, 1, 3, 0, 0), -EINVAL);
	/* two more pairs evict 7/1; 9/1 reuses its history at the same seqs */
	assert_int_equal(shmq_net_idem_seed(t, 8, 1, 0, 0, 0), 0);
	assert_int_equal(shmq_net_idem_seed(t, 9, 1, 16, 0, 0), 0);
	assert_int_equal(shmq_net_idem_seed(t, 9, 1, 15, 5, 5), 0);
	assert_int_equal(shmq_net_idem_lookup(t, 9, 1, 11, &qo, &so), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_net_idem_lookup(t, 9, 1, 15, &qo, &so), 0);
	assert_int_equal(qo, 5);
	assert_int_equal(shmq_net_idem_check(t, 7, 1, 13, 1, &dups, &next), 0); /* forgotten */
	assert_int_equal(dups, 0);
	shmq_net_idem_destroy(t);
}

/* ---- deterministic lossy simulation ---- */

#define PRODUCERS 4
#define BATCHES 40
#define BATCH 4
#define NET_CAP 4096

struct sim_msg {
	int to_server;
	uint64_t deliver_at;
	uint64_t gen;           /* session generation it belongs to */
	uint64_t id;
	uint16_t attempt;
	int producer;
	uint64_t first_seq;
	int status;
	uint64_t qoff[BATCH];
};

struct sim {
	struct sim_msg net[NET_CAP];
	unsigned n;
	unsigned lossy;         /* percent */
	uint64_t dropped, duplicated, stale_reissued;
	/* server */
	struct shmq_net_dedup *dedup;
	struct shmq_net_idem *idem;
	uint64_t gen;
	int log_prod[PRODUCERS * BATCHES * BATCH];
	uint64_t log_seq[PRODUCERS * BATCHES * BATCH];
	uint64_t log_len;
	/* client */
	struct shmq_net_requester *rq;
	uint64_t inflight_id[PRODUCERS];
	int next_batch[PRODUCERS];
	uint64_t got[PRODUCERS][BATCHES * BATCH];
};

/* the injected loss function: drops `lossy`% and duplicates 5%, seeded */
static void sim_send(struct sim *s, const struct sim_msg *m, uint64_t now)
{
	if (net_rng() % 100 < s->lossy) {
		s->dropped++;
		return;
	}
	int copies = net_rng() % 100 < 5 ? 2 : 1;
	s->duplicated += (uint64_t)copies - 1;
	for (int c = 0; c < copies && s->n < NET_CAP; c++) {
		s->net[s->n] = *m;
		s->net[s->n++].deliver_at = now + 1 * MS + net_rng() % (3 * MS); /* reorders */
	}
}

static void server_receive(struct sim *s, const struct sim_msg *m, uint64_t now)
{
	if (m->gen != s->gen)
		return; /* a frame of a dead session */
	struct shmq_net_dedup_answer a;
	struct sim_msg r = { .to_server = 0, .gen = m->gen, .id = m->id, .attempt = m->attempt,
			     .producer = m->producer, .first_seq = m->first_seq };
	switch (shmq_net_dedup_lookup(s->dedup, m->id, m->attempt, &a)) {
	case SHMQ_NET_DEDUP_ANSWERED:
		memcpy(&r.status, a.body, sizeof(r.status));
		memcpy(r.qoff, a.body + sizeof(r.status), sizeof(r.qoff));
		sim_send(s, &r, now);
		return;
	case SHMQ_NET_DEDUP_PENDING:
		return;
	case SHMQ_NET_DEDUP_STALE:
		/* answered long ago, answer evicted: tell the client to
		 * re-issue under a new id (never re-execute an old id) */
		r.status = -ESTALE;
		sim_send(s, &r, now);
		return;
	case SHMQ_NET_DEDUP_NEW:
		break;
	}
	assert_int_equal(shmq_net_dedup_begin(s->dedup, m->id), 0);
	uint32_t dups;
	uint64_t next;
	r.status = shmq_net_idem_check(s->idem, (uint64_t)m->producer + 1, 0, m->first_seq, BATCH, &dups, &next);
	if (r.status == 0) {
		for (uint32_t i = 0; i < BATCH; i++) {
			uint64_t seq = m->first_seq + i, so;
			if (i < dups) {
				assert_int_equal(shmq_net_idem_lookup(s->idem, (uint64_t)m->producer + 1, 0, seq,
								      &r.qoff[i], &so), 0);
				continue;
			}
			r.qoff[i] = s->log_len;
			s->log_prod[s->log_len] = m->producer;
			s->log_seq[s->log_len++] = seq;
			assert_int_equal(shmq_net_idem_record(s->idem, (uint64_t)m->producer + 1, 0, seq, r.qoff[i],
							      r.qoff[i] * 100), 0);
		}
	}
	uint8_t body[sizeof(r.status) + sizeof(r.qoff)];
	memcpy(body, &r.status, sizeof(r.status));
	memcpy(body + sizeof(r.status), r.qoff, sizeof(r.qoff));
	assert_int_equal(shmq_net_dedup_answer(s->dedup, m->id, m->attempt, 4, body, sizeof(body)), 0);
	sim_send(s, &r, now);
}

static void client_send_batch(struct sim *s, int p, uint64_t now)
{
	uint64_t id = shmq_net_req_new_id(s->rq);
	assert_int_equal(shmq_net_req_track(s->rq, id, now, (void *)(uintptr_t)(p + 1)), 0);
	s->inflight_id[p] = id;
	struct sim_msg m = { .to_server = 1, .gen = s->gen, .id = id, .attempt = 1, .producer = p,
			     .first_seq = (uint64_t)s->next_batch[p] * BATCH };
	sim_send(s, &m, now);
}

static void client_receive(struct sim *s, const struct sim_msg *m)
{
	if (shmq_net_req_done(s->rq, m->id, NULL) != 0)
		return; /* late or duplicate answer */
	int p = m->producer;
	if (m->status == -ESTALE) {
		s->stale_reissued++;
		s->inflight_id[p] = 0; /* re-issued by the main loop, same batch */
		return;
	}
	assert_int_equal(m->status, 0); /* one batch in flight per producer: never a gap */
	for (int i = 0; i < BATCH; i++)
		s->got[p][m->first_seq + (uint64_t)i] = m->qoff[i];
	s->inflight_id[p] = 0;
	s->next_batch[p]++;
}

static void run_sim(unsigned lossy, uint64_t session_reset_at)
{
	static struct sim s;
	memset(&s, 0, sizeof(s));
	s.lossy = lossy;
	SHMQ_NET_RETRY_OPTS(ro, .rto_initial_ns = 5 * MS, .rto_max_ns = 80 * MS, .deadline_ns = 100000 * MS);
	SHMQ_NET_DEDUP_OPTS(dop, .slots = 16);
	assert_int_equal(shmq_net_req_create(&ro, &s.rq), 0);
	assert_int_equal(shmq_net_dedup_create(&dop, &s.dedup), 0);
	assert_int_equal(shmq_net_idem_create(NULL, &s.idem), 0);
	uint64_t now = 0;
	int finished = 0;
	for (; now < 600000 * MS && !finished; now += MS) {
		if (now == session_reset_at) {
			/* the session dies (broker restart of the network layer):
			 * new request ids, new dedup cache; only idem remembers */
			s.gen++;
			shmq_net_dedup_destroy(s.dedup);
			assert_int_equal(shmq_net_dedup_create(&dop, &s.dedup), 0);
			shmq_net_req_destroy(s.rq);
			assert_int_equal(shmq_net_req_create(&ro, &s.rq), 0);
			for (int p = 0; p < PRODUCERS; p++)
				if (s.inflight_id[p])
					client_send_batch(&s, p, now);
		}
		for (int p = 0; p < PRODUCERS; p++)
			if (!s.inflight_id[p] && s.next_batch[p] < BATCHES)
				client_send_batch(&s, p, now);
		struct shmq_net_req_due due[PRODUCERS];
		unsigned nd = shmq_net_req_due(s.rq, now, due, PRODUCERS);
		for (unsigned k = 0; k < nd; k++) {
			if (due[k].expired)
				fprintf(stderr, "expired id %llu at %llu ms (gen %llu, n %u)\n", (unsigned long long)due[k].request_id, (unsigned long long)(now / MS), (unsigned long long)s.gen, s.n);
			assert_false(due[k].expired);
			int p = (int)(uintptr_t)due[k].ctx - 1;
			struct sim_msg m = { .to_server = 1, .gen = s.gen, .id = due[k].request_id,
					     .attempt = due[k].attempt, .producer = p,
					     .first_seq = (uint64_t)s.next_batch[p] * BATCH };
			sim_send(&s, &m, now);
		}
		for (unsigned i = 0; i < s.n;) {
			if (s.net[i].deliver_at > now) {
				i++;
				continue;
			}
			struct sim_msg m = s.net[i];
			s.net[i] = s.net[--s.n];
			if (m.to_server)
				server_receive(&s, &m, now);
			else if (m.gen == s.gen)
				client_receive(&s, &m);
		}
		finished = 1;
		for (int p = 0; p < PRODUCERS; p++)
			finished &= s.next_batch[p] == BATCHES;
	}
	assert_true(finished);
	/* exactly once, in order per producer, offsets as the client was told */
	assert_int_equal(s.log_len, PRODUCERS * BATCHES * BATCH);
	uint64_t next_seq[PRODUCERS] = { 0 };
	for (uint64_t q = 0; q < s.log_len; q++) {
		int p = s.log_prod[q];
		assert_int_equal(s.log_seq[q], next_seq[p]);
		assert_int_equal(s.got[p][next_seq[p]], q);
		next_seq[p]++;
	}
	fprintf(stderr, "sim loss %u%%: %llu dropped, %llu duplicated, %llu re-issued, done at %llu ms\n",
		lossy, (unsigned long long)s.dropped, (unsigned long long)s.duplicated,
		(unsigned long long)s.stale_reissued,
		(unsigned long long)(now / MS));
	if (lossy)
		assert_true(s.dropped > 0);
	shmq_net_req_destroy(s.rq);
	shmq_net_dedup_destroy(s.dedup);
	shmq_net_idem_destroy(s.idem);
}

static void test_lossy_reordering_link_delivers_every_batch_exactly_once(void **state)
{
	(void)state;
	run_sim(0, UINT64_MAX);
	run_sim(10, UINT64_MAX);
	run_sim(30, UINT64_MAX);
}

static void test_a_new_session_resending_in_flight_batches_stores_them_once(void **state)
{
	(void)state;
	run_sim(30, 50 * MS);
	run_sim(10, 200 * MS);
}

int main(void)
{
	net_rng_seed("test_reliable");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_requester_backs_off_exponentially_until_the_deadline),
		cmocka_unit_test(test_requester_answers_once_and_bounds_requests_in_flight),
		cmocka_unit_test(test_dedup_resends_a_cached_answer_once_per_new_attempt),
		cmocka_unit_test(test_dedup_evicts_oldest_answers_never_pending_and_calls_older_stale),
		cmocka_unit_test(test_idem_refuses_gaps_and_answers_duplicates_with_original_offsets),
		cmocka_unit_test(test_idem_forgets_the_least_recently_used_producer_when_full),
		cmocka_unit_test(test_idem_seeded_out_of_order_knows_the_highest_sequence_and_only_seen_offsets),
		cmocka_unit_test(test_lossy_reordering_link_delivers_every_batch_exactly_once),
		cmocka_unit_test(test_a_new_session_resending_in_flight_batches_stores_them_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
