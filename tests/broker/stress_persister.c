/* SPDX-License-Identifier: Apache-2.0 */
/* Stress: forked producer processes write singles and batches into 4 rings
 * (2 topics x 2 queues) while the persister drains them into a store.
 * Invariants checked at the end (conventions 12): every message in the
 * store exactly once, in per-producer ring order, dense queue offsets,
 * bodies/keys/properties intact, keys queryable. Seeds printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/log.h"
#include "broker/persister.h"
#include "persister_test_util.h"

#define NRINGS 4
#define NPROD 3

static const char *topic_of(unsigned r)
{
	return r < 2 ? "StressA" : "StressB";
}

struct env {
	char dir[64], sdir[96], rpath[NRINGS][96];
	shmq_ring_t *ring[NRINGS];
	shmq_store_t *store;
	shmq_persister_t *p;
};

static void env_setup(struct env *e, bool sync)
{
	memset(e, 0, sizeof(*e));
	strcpy(e->dir, "/tmp/shmq_pstress_XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sdir, sizeof(e->sdir), "%s/store", e->dir);
	SHMQ_STORE_OPTS(so, .dir = e->sdir, .segment_size = 1u << 20, .no_prefault = true,
			.max_msg_size = 16384, .flush_mode = sync ? SHMQ_FLUSH_SYNC : SHMQ_FLUSH_ASYNC,
			.flush_interval_ms = 20);
	assert_int_equal(shmq_store_open(&so, &e->store, NULL), 0);
	for (unsigned r = 0; r < NRINGS; r++) {
		snprintf(e->rpath[r], sizeof(e->rpath[r]), "%s/ring%u", e->dir, r);
		SHMQ_RING_OPTS(ro, .capacity = 1u << 16, .prefault = false,
			       .unblock_timeout_ns = 200000000ull);
		assert_int_equal(shmq_ring_create(e->rpath[r], &ro, &e->ring[r]), 0);
	}
	SHMQ_PERSISTER_OPTS(po, .sync = sync);
	assert_int_equal(shmq_persister_create(e->store, &po, &e->p), 0);
	for (unsigned r = 0; r < NRINGS; r++)
		assert_int_equal(shmq_persister_add_ring(e->p, topic_of(r), r % 2, e->ring[r]), 0);
	assert_int_equal(shmq_persister_start(e->p), 0);
}

static void env_finish(struct env *e)
{
	/* producers are gone: drain what is left, then stop */
	for (int i = 0; i < 2000; i++) {
		bool left = false;
		for (unsigned r = 0; r < NRINGS; r++)
			if (!shmq_persister_ring_fenced(e->p, e->ring[r]) &&
			    shmq_ring_consumed(e->ring[r]) != shmq_ring_tail(e->ring[r]))
				left = true;
		if (!left)
			break;
		pt_sleep_us(1000);
	}
	shmq_persister_stop(e->p);
}

static void env_teardown(struct env *e)
{
	shmq_persister_destroy(e->p);
	assert_int_equal(shmq_store_close(e->store), 0);
	for (unsigned r = 0; r < NRINGS; r++)
		shmq_ring_close(e->ring[r]);
	shmq_test_rmtree(e->dir);
}

/* mode bits for the producer child */
#define P_SYNC_WAIT 1u  /* wait for the FLUSHED mark after every record */
#define P_CORRUPT3  2u  /* write one garbage message into ring 3 halfway */

/* The @p cnt messages of the record at @p pos, read after the FLUSHED mark
 * passed it: result words set, queue offsets consecutive. 0, or 1 if the
 * record was reclaimed meanwhile (the check is then skipped), or -1. */
static int check_own_results(shmq_ring_t *r, uint64_t pos, uint32_t cnt)
{
	struct shmq_ring_msg msgs[SHMQ_RING_BATCH_MAX];
	uint64_t at = pos, so[SHMQ_RING_BATCH_MAX], qo[SHMQ_RING_BATCH_MAX];
	int n = shmq_ring_read(r, &at, msgs, SHMQ_RING_BATCH_MAX);
	if (n == SHMQ_EOVERRUN)
		return 1;
	if (n < (int)cnt)
		return -1;
	for (uint32_t i = 0; i < cnt; i++) {
		if (msgs[i].pos != pos)
			return -1;
		shmq_ringmsg_result_get(msgs[i].data, &so[i], &qo[i]);
	}
	if (shmq_ring_read_check(r, pos) != 0)
		return 1;
	for (uint32_t i = 0; i < cnt; i++)
		if (so[i] == SHMQ_RINGMSG_RESULT_NONE || qo[i] != qo[0] + i ||
		    (i > 0 && so[i] <= so[i - 1]))
			return -1;
	return 0;
}

/* Producer @p id: n messages per ring, singles and batches of up to 8, the
 * rings visited in a random order. Stops writing to a fenced ring. */
static int producer(const struct env *e, unsigned id, uint64_t n, uint64_t seed, unsigned mode)
{
	shmq_ring_t *ring[NRINGS];
	for (unsigned r = 0; r < NRINGS; r++)
		if (shmq_ring_attach(e->rpath[r], &ring[r]) != 0)
			return 2;
	uint64_t seq[NRINGS] = { 0 };
	bool dead[NRINGS] = { false };
	uint64_t x = pt_mix(seed + id) | 1;
	for (;;) {
		unsigned live = 0;
		for (unsigned r = 0; r < NRINGS; r++)
			live += !dead[r] && seq[r] < n;
		if (!live)
			break;
		x = pt_mix(x);
		unsigned r = (unsigned)(x % NRINGS);
		if (dead[r] || seq[r] >= n)
			continue;
		if ((mode & P_CORRUPT3) && r == 3 && seq[r] >= n / 2) {
			uint8_t junk[96];
			for (size_t i = 0; i < sizeof(junk); i++)
				junk[i] = (uint8_t)pt_mix(x + i);
			shmq_ring_write(ring[r], id + 100, SHMQ_RING_TYPE_USER, junk, sizeof(junk));
			dead[r] = true;
			continue;
		}
		uint32_t cnt = (x >> 8) % 3 == 0 ? 1 + (uint32_t)((x >> 16) % 8) : 1;
		if (cnt > n - seq[r])
			cnt = (uint32_t)(n - seq[r]);
		uint64_t pos = 0;
		int rc = pt_write(ring[r], id, seq[r], cnt, &pos, 20000);
		if (rc == SHMQ_EFENCED) {
			dead[r] = true;
			continue;
		}
		if (rc != 0) {
			fprintf(stderr, "producer %u ring %u: %s\n", id, r, shmq_strerror(rc));
			return 3;
		}
		seq[r] += cnt;
		if (mode & P_SYNC_WAIT) {
			rc = shmq_ring_wait_mark(ring[r], SHMQ_RING_MARK_FLUSHED, pos + 1, 10000000000ull);
			if (rc != 0) {
				fprintf(stderr, "producer %u: FLUSHED wait: %s\n", id, shmq_strerror(rc));
				return 4;
			}
			/* P3, as a PERSISTED/DURABLE send reads its result: the
			 * mark past the record orders the persister's result words */
			rc = check_own_results(ring[r], pos, cnt);
			if (rc != 0) {
				fprintf(stderr, "producer %u ring %u record %" PRIu64 ": result words "
					"unset or not consecutive (%d)\n", id, r, pos, rc);
				return 5;
			}
		}
	}
	for (unsigned r = 0; r < NRINGS; r++)
		shmq_ring_close(ring[r]);
	return 0;
}

static void run_producers(struct env *e, uint64_t n, uint64_t seed, unsigned mode)
{
	pid_t pids[NPROD];
	for (unsigned i = 0; i < NPROD; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0)
			_exit(producer(e, i, n, seed, i == 0 ? mode : (mode & ~P_CORRUPT3)));
	}
	for (unsigned i = 0; i < NPROD; i++) {
		int st = 0;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
}

static uint64_t seed_of(const char *name)
{
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	const char *s = getenv("SHMQ_SEED");
	if (s)
		seed = strtoull(s, NULL, 0);
	fprintf(stderr, "%s: seed %" PRIu64 " (SHMQ_SEED to replay)\n", name, seed);
	return seed;
}

static void test_every_message_stored_exactly_once_in_ring_order(void **state)
{
	(void)state;
	uint64_t seed = seed_of(__func__);
	uint64_t n = 6000u * (uint64_t)pt_scale();
	struct env e;
	env_setup(&e, false);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_producers(&e, n, seed, 0);
	env_finish(&e);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "  %.0f messages/s end to end (%u producers, %u rings; a figure, not a check)\n",
		(double)(n * NPROD * NRINGS) / secs, NPROD, NRINGS);
	uint64_t expect[NPROD];
	for (unsigned i = 0; i < NPROD; i++)
		expect[i] = n;
	for (unsigned r = 0; r < NRINGS; r++) {
		assert_int_equal(pt_check_queue(e.store, topic_of(r), r % 2, expect, NPROD),
				 (int64_t)(n * NPROD));
		assert_true(pt_check_ring_results(e.store, e.ring[r], topic_of(r), r % 2) >= 0);
	}
	uint64_t offs[4];
	char key[32];
	snprintf(key, sizeof(key), "k2-%" PRIu64, n - 1);
	assert_int_equal(shmq_store_query_key(e.store, "StressA", key, 0, UINT64_MAX, offs, 4), 2);
	struct shmq_persister_stats st;
	shmq_persister_stats(e.p, &st);
	fprintf(stderr, "  %" PRIu64 " messages in %" PRIu64 " appends, %" PRIu64 " rounds, %"
		PRIu64 " idle waits\n", st.messages, st.appends, st.rounds, st.idle_waits);
	assert_int_equal(st.messages, n * NPROD * NRINGS);
	assert_int_equal(st.corrupt, 0);
	env_teardown(&e);
}

static void test_corrupt_ring_is_fenced_while_other_rings_keep_flowing(void **state)
{
	(void)state;
	uint64_t seed = seed_of(__func__);
	uint64_t n = 2000u * (uint64_t)pt_scale();
	struct env e;
	env_setup(&e, false);
	run_producers(&e, n, seed, P_CORRUPT3);
	env_finish(&e);
	assert_true(shmq_persister_ring_fenced(e.p, e.ring[3]));
	uint64_t expect[NPROD];
	for (unsigned i = 0; i < NPROD; i++)
		expect[i] = n;
	for (unsigned r = 0; r < 3; r++) {
		assert_false(shmq_persister_ring_fenced(e.p, e.ring[r]));
		assert_int_equal(pt_check_queue(e.store, topic_of(r), r % 2, expect, NPROD),
				 (int64_t)(n * NPROD));
		assert_true(pt_check_ring_results(e.store, e.ring[r], topic_of(r), r % 2) >= 0);
	}
	/* the fenced queue holds a clean prefix: order and integrity hold */
	int64_t got = pt_check_queue(e.store, topic_of(3), 1, NULL, NPROD);
	assert_true(got >= (int64_t)(n / 2));
	fprintf(stderr, "  fenced ring kept %" PRId64 " messages\n", got);
	env_teardown(&e);
}

static void test_sync_producers_are_woken_after_group_commit(void **state)
{
	(void)state;
	uint64_t seed = seed_of(__func__);
	uint64_t n = 150u * (uint64_t)pt_scale();
	struct env e;
	env_setup(&e, true);
	run_producers(&e, n, seed, P_SYNC_WAIT);
	env_finish(&e);
	uint64_t expect[NPROD];
	for (unsigned i = 0; i < NPROD; i++)
		expect[i] = n;
	for (unsigned r = 0; r < NRINGS; r++) {
		assert_int_equal(pt_check_queue(e.store, topic_of(r), r % 2, expect, NPROD),
				 (int64_t)(n * NPROD));
		assert_true(pt_check_ring_results(e.store, e.ring[r], topic_of(r), r % 2) >= 0);
		/* each producer was released only by the FLUSHED mark */
		assert_int_equal(shmq_ring_mark(e.ring[r], SHMQ_RING_MARK_FLUSHED),
				 shmq_ring_tail(e.ring[r]));
	}
	assert_true(shmq_store_flushed_offset(e.store) >= shmq_store_max_offset(e.store));
	struct shmq_persister_stats st;
	shmq_persister_stats(e.p, &st);
	fprintf(stderr, "  %" PRIu64 " group commits for %" PRIu64 " messages\n", st.group_commits,
		st.messages);
	env_teardown(&e);
}

int main(void)
{
	shmq_log_set_level(SHMQ_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_message_stored_exactly_once_in_ring_order),
		cmocka_unit_test(test_corrupt_ring_is_fenced_while_other_rings_keep_flowing),
		cmocka_unit_test(test_sync_producers_are_woken_after_group_commit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
