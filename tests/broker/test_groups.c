/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for broker/groups.h (guarantees GR1-GR8). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "broker/groups.h"
#include "broker/log.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "common/offsets.h"
#include "shmq/error.h"
#include "tests/common/tmpdir.h"

#define Q 8u
#define SEC 1000000000ull

static char dir[64], ring_dir[96], store_dir[96], json_path[160];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/shmq_groups_XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(ring_dir, sizeof(ring_dir), "%s/rings", dir);
	snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
	snprintf(json_path, sizeof(json_path), "%s/config/offsets.json", store_dir);
	shmq_log_set_level(SHMQ_LOG_ERROR); /* forced revokes warn by design */
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return shmq_test_rmtree(dir);
}

static shmq_groups_t *open_groups(uint64_t timeout_ns)
{
	shmq_groups_t *g = NULL;
	char err[512] = "";
	int r = shmq_groups_create(ring_dir, store_dir, timeout_ns, &g, err, sizeof(err));
	if (r != 0)
		fail_msg("create: %d %s", r, err);
	return g;
}

/* Join and map the table the way a member does; returns the member's map. */
static void join_ok(shmq_groups_t *g, const char *group, const char *topic, uint32_t queues, uint32_t mode,
		    uint64_t m, struct shmq_group_assign *a, struct shmq_offsets_map *map)
{
	int fd = -1;
	int r = shmq_groups_join(g, group, topic, queues, mode, m, a, &fd);
	if (r != 0)
		fail_msg("join %s@%s member %llu: %d", group, topic, (unsigned long long)m, r);
	assert_true(fd >= 0);
	if (map)
		assert_int_equal(shmq_offsets_attach_fd(fd, map), 0);
	close(fd);
}

static uint32_t table_gen(const struct shmq_offsets_map *m)
{
	return shmq_load_acquire(&m->hdr->generation);
}

static uint64_t slot_owner(const struct shmq_offsets_map *m, uint32_t q)
{
	return shmq_load_acquire(&m->slots[q].owner);
}

static uint32_t slot_revoke(const struct shmq_offsets_map *m, uint32_t q)
{
	return shmq_load_relaxed(&m->slots[q].revoke_gen);
}

/* Independent statement of RocketMQ's AllocateMessageQueueAveragely: the
 * owner member index of queue q, or -1. */
static int averagely(uint32_t queues, size_t n, uint32_t q)
{
	for (size_t k = 0; k < n; k++) {
		uint32_t mod = queues % (uint32_t)n;
		uint32_t size = queues <= n ? 1 : (mod > 0 && k < mod ? queues / (uint32_t)n + 1 : queues / (uint32_t)n);
		uint32_t start = (mod > 0 && k < mod) ? (uint32_t)k * size : (uint32_t)k * size + mod;
		if (start < queues && q >= start && q < start + size)
			return (int)k;
	}
	return -1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Every member releases every queue revoked from it (a well-behaved member
 * after its next poll), until nothing is revoked. */
static void settle(shmq_groups_t *g, const char *group, const char *topic, const uint64_t *ids, size_t n,
		   const struct shmq_offsets_map *map)
{
	for (int round = 0; round < 4; round++) {
		bool any = false;
		for (size_t i = 0; i < n; i++) {
			struct shmq_group_assign a;
			assert_int_equal(shmq_groups_sync(g, group, topic, ids[i], &a), 0);
			for (uint32_t k = 0; k < a.count; k++) {
				uint32_t q = a.queues[k], rg = slot_revoke(map, q);
				if (!rg)
					continue;
				assert_int_equal(shmq_groups_release(g, group, topic, q, rg, ids[i]), 0);
				any = true;
			}
		}
		if (!any)
			return;
	}
	fail_msg("revokes did not settle");
}

/* GR2 at quiescence: owners are exactly the averagely targets. */
static void check_averagely(shmq_groups_t *g, const char *group, const char *topic, const uint64_t *ids,
			    size_t n, uint32_t queues, const struct shmq_offsets_map *map)
{
	uint64_t sorted[16];
	memcpy(sorted, ids, n * sizeof(uint64_t));
	qsort(sorted, n, sizeof(uint64_t), cmp_u64);
	for (uint32_t q = 0; q < queues; q++) {
		int k = averagely(queues, n, q);
		uint64_t want = k < 0 ? 0 : sorted[k];
		if (slot_owner(map, q) != want)
			fail_msg("%zu members: queue %u owned by %llu, want %llu", n, q,
				 (unsigned long long)slot_owner(map, q), (unsigned long long)want);
		assert_int_equal(slot_revoke(map, q), 0);
	}
	for (size_t i = 0; i < n; i++) {
		struct shmq_group_assign a;
		assert_int_equal(shmq_groups_sync(g, group, topic, sorted[i], &a), 0);
		uint32_t c = 0;
		for (uint32_t q = 0; q < queues; q++)
			if (averagely(queues, n, q) == (int)i) {
				assert_true(c < a.count);
				assert_int_equal(a.queues[c], q);
				c++;
			}
		assert_int_equal(a.count, c);
		assert_int_equal(a.nqueues, queues);
		assert_int_equal(a.mode, SHMQ_CTL_GROUP_CLUSTERING);
	}
}

static void test_averagely_allocation_for_1_to_5_members_over_8_queues(void **state)
{
	(void)state;
	/* ids deliberately not in join order: allocation follows id order */
	const uint64_t ids[5] = {5000, 1000, 4000, 2000, 3000};
	/* expected ranges, written out from RocketMQ's rule */
	static const int want[5][Q] = {
		{0, 0, 0, 0, 0, 0, 0, 0},
		{0, 0, 0, 0, 1, 1, 1, 1},
		{0, 0, 0, 1, 1, 1, 2, 2},
		{0, 0, 1, 1, 2, 2, 3, 3},
		{0, 0, 1, 1, 2, 2, 3, 4},
	};
	for (size_t n = 1; n <= 5; n++)
		for (uint32_t q = 0; q < Q; q++)
			assert_int_equal(averagely(Q, n, q), want[n - 1][q]);
	shmq_groups_t *g = open_groups(10 * SEC);
	struct shmq_offsets_map map;
	struct shmq_group_assign a;
	for (size_t n = 1; n <= 5; n++) {
		join_ok(g, "g", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, ids[n - 1], &a, n == 1 ? &map : NULL);
		if (n == 1)
			assert_int_equal(a.count, Q); /* the first member gets everything at once */
		settle(g, "g", "t", ids, n, &map);
		check_averagely(g, "g", "t", ids, n, Q, &map);
	}
	/* and back down as members leave */
	for (size_t n = 5; n > 1; n--) {
		assert_int_equal(shmq_groups_leave(g, "g", "t", ids[n - 1]), 0);
		settle(g, "g", "t", ids, n - 1, &map);
		check_averagely(g, "g", "t", ids, n - 1, Q, &map);
	}
	shmq_offsets_unmap(&map);
	shmq_groups_destroy(g);
}

static void test_fewer_queues_than_members_leaves_the_last_members_idle(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(10 * SEC);
	const uint64_t ids[5] = {11, 22, 33, 44, 55};
	struct shmq_offsets_map map;
	struct shmq_group_assign a;
	for (size_t i = 0; i < 5; i++)
		join_ok(g, "g", "three", 3, SHMQ_CTL_GROUP_CLUSTERING, ids[i], &a, i == 0 ? &map : NULL);
	settle(g, "g", "three", ids, 5, &map);
	check_averagely(g, "g", "three", ids, 5, 3, &map);
	assert_int_equal(shmq_groups_sync(g, "g", "three", 55, &a), 0);
	assert_int_equal(a.count, 0);
	shmq_offsets_unmap(&map);
	shmq_groups_destroy(g);
}

static void test_revoke_then_release_hands_over_with_owner_gen_and_generation_bumped(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(10 * SEC);
	struct shmq_offsets_map ma, mb;
	struct shmq_group_assign a, b;
	join_ok(g, "g", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, 100, &a, &ma);
	uint32_t g0 = table_gen(&ma);
	assert_true(g0 != 0);
	assert_int_equal(a.generation, g0);
	for (uint32_t q = 0; q < Q; q++) {
		assert_int_equal(slot_owner(&ma, q), 100);
		assert_int_equal(shmq_load_relaxed(&ma.slots[q].owner_gen), g0);
	}
	join_ok(g, "g", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, 200, &b, &mb);
	uint32_t g1 = table_gen(&ma);
	assert_true(g1 > g0);
	assert_int_equal(b.count, 0); /* B's queues are still A's: revoked, not moved */
	for (uint32_t q = 0; q < Q; q++) {
		assert_int_equal(slot_owner(&mb, q), 100); /* GR1: never two owners */
		assert_int_equal(slot_revoke(&mb, q), q < 4 ? 0 : g1);
	}
	assert_int_equal(shmq_groups_sync(g, "g", "t", 100, &a), 0);
	assert_int_equal(a.count, Q); /* A still owns the revoked queues until it releases */

	/* wrong member, wrong generation, unrevoked queue: refused */
	assert_int_equal(shmq_groups_release(g, "g", "t", 4, g1, 200), -ESTALE);
	assert_int_equal(shmq_groups_release(g, "g", "t", 4, g1 + 1, 100), -ESTALE);
	assert_int_equal(shmq_groups_release(g, "g", "t", 0, g1, 100), -ESTALE);
	assert_int_equal(shmq_groups_release(g, "g", "t", Q, g1, 100), -EINVAL);
	assert_int_equal(shmq_groups_release(g, "g", "t", 4, g1, 999), SHMQ_ENOTFOUND);
	assert_int_equal(table_gen(&ma), g1); /* refusals publish nothing */

	/* A stops at a message boundary, commits, releases */
	shmq_store_release(&ma.slots[4].committed, 17);
	assert_int_equal(shmq_groups_release(g, "g", "t", 4, g1, 100), 0);
	uint32_t g2 = table_gen(&mb);
	assert_true(g2 > g1);
	assert_int_equal(slot_owner(&mb, 4), 200);
	assert_int_equal(shmq_load_relaxed(&mb.slots[4].owner_gen), g2);
	assert_int_equal(slot_revoke(&mb, 4), 0);
	assert_true(shmq_load_acquire(&mb.slots[4].committed) == 17); /* B starts where A stopped */
	assert_int_equal(shmq_groups_sync(g, "g", "t", 200, &b), 0);
	assert_int_equal(b.count, 1);
	assert_int_equal(b.queues[0], 4);
	assert_int_equal(b.generation, g2);
	assert_int_equal(shmq_groups_release(g, "g", "t", 4, g1, 100), -ESTALE); /* twice: stale */
	/* the other revokes are untouched */
	for (uint32_t q = 5; q < Q; q++) {
		assert_int_equal(slot_owner(&mb, q), 100);
		assert_int_equal(slot_revoke(&mb, q), g1);
	}
	shmq_offsets_unmap(&ma);
	shmq_offsets_unmap(&mb);
	shmq_groups_destroy(g);
}

static void test_revoke_is_forced_after_the_timeout(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(2 * SEC);
	struct shmq_offsets_map m;
	struct shmq_group_assign a;
	join_ok(g, "g", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, 1, &a, &m);
	join_ok(g, "g", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, 2, &a, NULL);
	uint32_t g1 = table_gen(&m);
	shmq_groups_tick(g, shmq_now_ns()); /* well before the deadline: nothing moves */
	assert_int_equal(table_gen(&m), g1);
	for (uint32_t q = 4; q < Q; q++)
		assert_int_equal(slot_owner(&m, q), 1);
	shmq_groups_tick(g, shmq_now_ns() + 3 * SEC);
	uint32_t g2 = table_gen(&m);
	assert_true(g2 > g1);
	for (uint32_t q = 0; q < Q; q++) {
		assert_int_equal(slot_owner(&m, q), q < 4 ? 1 : 2);
		assert_int_equal(slot_revoke(&m, q), 0);
	}
	assert_int_equal(shmq_groups_release(g, "g", "t", 5, g1, 1), -ESTALE); /* too late */
	shmq_groups_tick(g, shmq_now_ns() + 10 * SEC); /* nothing left to force */
	assert_int_equal(table_gen(&m), g2);
	shmq_offsets_unmap(&m);
	shmq_groups_destroy(g);
}

static void test_a_member_that_leaves_or_dies_loses_its_queues_at_once(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(10 * SEC);
	const uint64_t ids[3] = {7, 8, 9};
	struct shmq_offsets_map m;
	struct shmq_group_assign a;
	for (size_t i = 0; i < 3; i++)
		join_ok(g, "g", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, ids[i], &a, i == 0 ? &m : NULL);
	join_ok(g, "g", "other", 2, SHMQ_CTL_GROUP_CLUSTERING, 8, &a, NULL);
	settle(g, "g", "t", ids, 3, &m);
	uint32_t g0 = table_gen(&m);
	shmq_groups_member_gone(g, 8); /* its session closed: every membership goes */
	assert_true(table_gen(&m) > g0);
	/* no revoke round: 8's queues went straight to their new targets */
	check_averagely(g, "g", "t", (const uint64_t[]){7, 9}, 2, Q, &m);
	assert_int_equal(shmq_groups_sync(g, "g", "t", 8, &a), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_groups_sync(g, "g", "other", 8, &a), SHMQ_ENOTFOUND);
	assert_int_equal(shmq_groups_leave(g, "g", "t", 8), SHMQ_ENOTFOUND);

	/* a member with a pending revoke that leaves frees the queue at once */
	join_ok(g, "g", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, 1, &a, NULL); /* revokes from 7 */
	bool revoking = false;
	for (uint32_t q = 0; q < Q; q++)
		revoking |= slot_revoke(&m, q) != 0;
	assert_true(revoking);
	assert_int_equal(shmq_groups_leave(g, "g", "t", 7), 0);
	for (uint32_t q = 0; q < 4; q++) { /* 7's queues went to 1 without a revoke */
		assert_int_equal(slot_owner(&m, q), 1);
		assert_int_equal(slot_revoke(&m, q), 0);
	}
	/* 9's revoke toward 7 stands (GR3: never cancelled): 9 gets them back
	 * after releasing */
	settle(g, "g", "t", (const uint64_t[]){1, 9}, 2, &m);
	check_averagely(g, "g", "t", (const uint64_t[]){1, 9}, 2, Q, &m);

	/* the last member leaving leaves no owner */
	shmq_groups_member_gone(g, 1);
	shmq_groups_member_gone(g, 9);
	for (uint32_t q = 0; q < Q; q++)
		assert_int_equal(slot_owner(&m, q), 0);
	shmq_groups_member_gone(g, 12345); /* unknown: nothing */
	shmq_offsets_unmap(&m);
	shmq_groups_destroy(g);
}

/* ---- randomised membership: GR1 + GR3 after every step ---- */

#define POOL 7

struct model {
	shmq_groups_t *g;
	struct shmq_offsets_map map;
	bool have_map;
	bool live[POOL];
	uint64_t id[POOL];
	bool believes[POOL][Q]; /* what each member thinks it owns (from its last sync) */
	uint32_t last_gen;
	uint64_t last_owner[Q];
	unsigned forced, released, steps;
};

static size_t live_ids(const struct model *md, uint64_t *out)
{
	size_t n = 0;
	for (int i = 0; i < POOL; i++)
		if (md->live[i])
			out[n++] = md->id[i];
	return n;
}

/* The invariants, after every step. */
static void check_model(struct model *md, const char *step)
{
	if (!md->have_map)
		return;
	uint32_t gen = table_gen(&md->map);
	struct shmq_ctl_progress_entry pe[Q];
	struct shmq_ctl_progress_resp_hdr ph;
	assert_int_equal(shmq_groups_progress(md->g, "g", "t", Q, pe, &ph), 0);
	assert_int_equal(ph.generation, gen);
	assert_true(gen >= md->last_gen);
	bool moved = false;
	for (uint32_t q = 0; q < Q; q++) {
		uint64_t o = slot_owner(&md->map, q);
		/* the table mirrors the broker's state */
		assert_true(o == pe[q].owner);
		/* GR1: the owner is a live member */
		bool ok = o == 0;
		for (int i = 0; i < POOL; i++)
			ok |= md->live[i] && md->id[i] == o;
		if (!ok)
			fail_msg("after %s: queue %u owned by %llu, not a live member", step, q, (unsigned long long)o);
		assert_true(slot_revoke(&md->map, q) == 0 || o != 0);
		assert_true(shmq_load_relaxed(&md->map.slots[q].owner_gen) <= gen);
		moved |= o != md->last_owner[q];
		md->last_owner[q] = o;
		/* GR1/GR3: at most one live member believes it owns q */
		int believers = 0;
		for (int i = 0; i < POOL; i++)
			believers += md->live[i] && md->believes[i][q];
		if (believers > 1)
			fail_msg("after %s (step %u): queue %u believed owned by %d members", step, md->steps, q,
				 believers);
	}
	if (moved && gen == md->last_gen)
		fail_msg("after %s: an owner word changed without a generation bump (GR5)", step);
	md->last_gen = gen;
}

/* A member polls: its beliefs become what the broker says it owns. */
static void poll_member(struct model *md, int i, bool release)
{
	struct shmq_group_assign a;
	assert_int_equal(shmq_groups_sync(md->g, "g", "t", md->id[i], &a), 0);
	bool now[Q] = {false};
	for (uint32_t k = 0; k < a.count; k++) {
		assert_true(a.queues[k] < Q);
		assert_true(k == 0 || a.queues[k] > a.queues[k - 1]);
		now[a.queues[k]] = true;
		/* a queue the broker says is ours must not be believed by another */
		for (int j = 0; j < POOL; j++)
			if (j != i && md->live[j] && md->believes[j][a.queues[k]])
				fail_msg("step %u: member %d gets queue %u that member %d still delivers", md->steps, i,
					 a.queues[k], j);
	}
	memcpy(md->believes[i], now, sizeof(now));
	if (!release)
		return;
	for (uint32_t k = 0; k < a.count; k++) {
		uint32_t q = a.queues[k], rg = slot_revoke(&md->map, q);
		if (!rg || rand() % 3 == 0)
			continue; /* sometimes slow to release */
		shmq_store_release(&md->map.slots[q].committed, (uint64_t)md->steps);
		md->believes[i][q] = false; /* stopped delivering before releasing */
		if (rand() % 5 == 0) /* a confused release first: wrong generation */
			assert_int_equal(shmq_groups_release(md->g, "g", "t", q, rg + 7, md->id[i]), -ESTALE);
		assert_int_equal(shmq_groups_release(md->g, "g", "t", q, rg, md->id[i]), 0);
		md->released++;
	}
}

static void test_random_membership_never_gives_a_queue_two_owners(void **state)
{
	(void)state;
	const char *se = getenv("SHMQ_TEST_SEED"); /* reproduce a failing run */
	unsigned seed = se ? (unsigned)strtoul(se, NULL, 10) : (unsigned)getpid() ^ (unsigned)time(NULL);
	printf("seed %u (SHMQ_TEST_SEED=%u reproduces)\n", seed, seed);
	srand(seed);
	const char *sc = getenv("SHMQ_STRESS_SCALE");
	unsigned steps = 3000u * (unsigned)(sc && atoi(sc) > 0 ? atoi(sc) : 1);
	struct model md;
	memset(&md, 0, sizeof(md));
	md.g = open_groups(1 * SEC);
	for (int i = 0; i < POOL; i++)
		md.id[i] = ((uint64_t)rand() << 20) + (uint64_t)i + 1; /* unsorted, distinct, non-zero */
	for (md.steps = 0; md.steps < steps; md.steps++) {
		int i = rand() % POOL, act = rand() % 100;
		const char *what;
		if (act < 15) {
			what = "join";
			if (md.live[i])
				continue;
			struct shmq_group_assign a;
			join_ok(md.g, "g", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, md.id[i], &a,
				md.have_map ? NULL : &md.map);
			md.have_map = true;
			md.live[i] = true;
			poll_member(&md, i, false); /* what join handed out must be free */
		} else if (act < 22) {
			what = "leave";
			if (!md.live[i])
				continue;
			/* a leaving member stopped delivering first */
			assert_int_equal(shmq_groups_leave(md.g, "g", "t", md.id[i]), 0);
			md.live[i] = false;
			memset(md.believes[i], 0, sizeof(md.believes[i]));
		} else if (act < 28) {
			what = "gone";
			if (!md.live[i])
				continue;
			shmq_groups_member_gone(md.g, md.id[i]); /* a dead process delivers nothing */
			md.live[i] = false;
			memset(md.believes[i], 0, sizeof(md.believes[i]));
		} else if (act < 30) {
			what = "timeout";
			/* members slow to release are forced out: they stop
			 * believing when they next poll (at-least-once, by design) */
			bool revoked[Q];
			for (uint32_t q = 0; md.have_map && q < Q; q++)
				revoked[q] = slot_revoke(&md.map, q) != 0;
			shmq_groups_tick(md.g, shmq_now_ns() + 2 * SEC);
			for (uint32_t q = 0; md.have_map && q < Q; q++)
				if (revoked[q]) {
					md.forced++;
					for (int j = 0; j < POOL; j++)
						md.believes[j][q] = false;
				}
		} else if (act < 35) {
			what = "tick";
			shmq_groups_tick(md.g, shmq_now_ns());
		} else {
			what = "poll";
			if (!md.live[i])
				continue;
			poll_member(&md, i, true);
		}
		check_model(&md, what);
	}
	/* quiescence: everyone releases, then the allocation is averagely */
	uint64_t ids[POOL];
	size_t n = live_ids(&md, ids);
	if (n > 0) {
		settle(md.g, "g", "t", ids, n, &md.map);
		check_averagely(md.g, "g", "t", ids, n, Q, &md.map);
	}
	printf("steps %u, released %u, forced %u, live at end %zu\n", md.steps, md.released, md.forced, n);
	assert_true(md.released > 0);
	if (md.have_map)
		shmq_offsets_unmap(&md.map);
	shmq_groups_destroy(md.g);
}

static void test_broadcasting_gives_every_member_every_queue_and_one_mode_per_group(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(10 * SEC);
	struct shmq_offsets_map m;
	struct shmq_group_assign a;
	int fd = -1;
	join_ok(g, "b", "t", Q, SHMQ_CTL_GROUP_BROADCASTING, 10, &a, &m);
	assert_int_equal(a.count, Q);
	assert_int_equal(a.mode, SHMQ_CTL_GROUP_BROADCASTING);
	join_ok(g, "b", "t", Q, SHMQ_CTL_GROUP_BROADCASTING, 20, &a, NULL);
	assert_int_equal(a.count, Q);
	for (uint32_t q = 0; q < Q; q++) {
		assert_int_equal(a.queues[q], q);
		assert_int_equal(slot_owner(&m, q), 0); /* GR6 */
		assert_int_equal(slot_revoke(&m, q), 0);
	}
	assert_int_equal(shmq_groups_sync(g, "b", "t", 10, &a), 0);
	assert_int_equal(a.count, Q);
	/* one mode per group, across its topics, while it has members */
	assert_int_equal(shmq_groups_join(g, "b", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, 30, &a, &fd), -EINVAL);
	assert_int_equal(shmq_groups_join(g, "b", "t2", 2, SHMQ_CTL_GROUP_CLUSTERING, 30, &a, &fd), -EINVAL);
	assert_int_equal(shmq_groups_join(g, "b", "t", Q, SHMQ_CTL_GROUP_BROADCASTING, 10, &a, &fd), 0);
	close(fd); /* re-joining is idempotent */
	assert_int_equal(shmq_groups_sync(g, "b", "t", 10, &a), 0);
	assert_int_equal(a.count, Q);
	shmq_groups_member_gone(g, 10);
	shmq_groups_member_gone(g, 20);
	/* without members the group may change mode */
	join_ok(g, "b", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, 30, &a, NULL);
	assert_int_equal(a.count, Q);
	assert_int_equal(slot_owner(&m, 0), 30);
	shmq_offsets_unmap(&m);
	shmq_groups_destroy(g);
}

static void test_join_refuses_bad_arguments_and_resizes_a_memberless_table(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(10 * SEC);
	struct shmq_group_assign a;
	struct shmq_offsets_map m;
	int fd = -1;
	assert_int_equal(shmq_groups_join(g, "", "t", Q, 1, 1, &a, &fd), -EINVAL);
	assert_int_equal(shmq_groups_join(g, "g", "bad name", Q, 1, 1, &a, &fd), -EINVAL);
	assert_int_equal(shmq_groups_join(g, "g@x", "t", Q, 1, 1, &a, &fd), -EINVAL);
	assert_int_equal(shmq_groups_join(g, "g", "t", 0, 1, 1, &a, &fd), -EINVAL);
	assert_int_equal(shmq_groups_join(g, "g", "t", SHMQ_CTL_QUEUES_MAX + 1, 1, 1, &a, &fd), -EINVAL);
	assert_int_equal(shmq_groups_join(g, "g", "t", Q, 3, 1, &a, &fd), -EINVAL);
	assert_int_equal(shmq_groups_join(g, "g", "t", Q, 1, 0, &a, &fd), -EINVAL);
	assert_int_equal(shmq_groups_count(g), 0);
	join_ok(g, "g", "t", 4, SHMQ_CTL_GROUP_CLUSTERING, 1, &a, &m);
	shmq_store_release(&m.slots[1].committed, 77);
	assert_int_equal(shmq_groups_join(g, "g", "t", 6, 1, 2, &a, &fd), -EINVAL); /* members with 4 */
	assert_int_equal(shmq_groups_leave(g, "g", "t", 1), 0);
	uint32_t g0 = table_gen(&m);
	struct shmq_offsets_map m6;
	join_ok(g, "g", "t", 6, SHMQ_CTL_GROUP_CLUSTERING, 2, &a, &m6);
	assert_int_equal(a.nqueues, 6);
	assert_int_equal(a.count, 6);
	assert_int_equal(m6.queues, 6);
	assert_true(shmq_load_acquire(&m6.slots[1].committed) == 77); /* carried over */
	assert_true(table_gen(&m6) > g0); /* the generation never goes back */
	assert_int_equal(shmq_groups_count(g), 1);
	shmq_offsets_unmap(&m);
	shmq_offsets_unmap(&m6);
	shmq_groups_destroy(g);
}

/* ---- offsets: persist, clamp, restart ---- */

struct bounds {
	uint64_t min[Q], max[Q];
	int fail_queue; /* -1: none */
	unsigned calls;
};

static int bounds_fn(void *arg, const char *topic, uint32_t queue, uint64_t *min, uint64_t *max)
{
	struct bounds *b = arg;
	assert_non_null(topic);
	assert_true(queue < Q);
	b->calls++;
	if ((int)queue == b->fail_queue)
		return -EIO;
	*min = b->min[queue];
	*max = b->max[queue];
	return 0;
}

/* offsets.json's offsets for (group, topic), -1 for null; false if absent. */
static bool json_offsets(const char *group, const char *topic, int64_t *out, size_t n)
{
	json_object *root = json_object_from_file(json_path);
	assert_non_null(root);
	json_object *arr, *ver;
	assert_true(json_object_object_get_ex(root, "version", &ver));
	assert_int_equal(json_object_get_int(ver), 1);
	assert_true(json_object_object_get_ex(root, "groups", &arr));
	bool found = false;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		json_object *o = json_object_array_get_idx(arr, i), *jg, *jt, *jo;
		assert_true(json_object_object_get_ex(o, "group", &jg));
		assert_true(json_object_object_get_ex(o, "topic", &jt));
		assert_true(json_object_object_get_ex(o, "offsets", &jo));
		if (strcmp(json_object_get_string(jg), group) || strcmp(json_object_get_string(jt), topic))
			continue;
		assert_int_equal(json_object_array_length(jo), n);
		for (size_t k = 0; k < n; k++) {
			json_object *x = json_object_array_get_idx(jo, k);
			out[k] = x ? json_object_get_int64(x) : -1;
		}
		found = true;
	}
	json_object_put(root);
	return found;
}

static void test_persist_clamps_garbage_committed_values_into_the_stored_range(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(10 * SEC);
	struct shmq_offsets_map m;
	struct shmq_group_assign a;
	join_ok(g, "g", "t", Q, SHMQ_CTL_GROUP_CLUSTERING, 1, &a, &m);
	struct bounds b = {.fail_queue = -1};
	for (uint32_t q = 0; q < Q; q++) {
		b.min[q] = 10;
		b.max[q] = 1000;
	}
	const uint64_t words[Q] = {500, UINT64_MAX - 5, 1ull << 62, 3, 10, 1000, 1001, SHMQ_OFFSETS_NONE};
	for (uint32_t q = 0; q < Q; q++)
		shmq_store_release(&m.slots[q].committed, words[q]); /* what a broken member might store */
	assert_int_equal(shmq_groups_persist(g, bounds_fn, &b), 0);
	int64_t got[Q];
	assert_true(json_offsets("g", "t", got, Q));
	const int64_t want[Q] = {500, 1000, 1000, 10, 10, 1000, 1000, -1};
	for (uint32_t q = 0; q < Q; q++)
		if (got[q] != want[q])
			fail_msg("queue %u: persisted %lld, want %lld", q, (long long)got[q], (long long)want[q]);
	/* the table itself is not rewritten: a live member's word is its own */
	assert_true(shmq_load_acquire(&m.slots[1].committed) == UINT64_MAX - 5);

	/* a failing bounds lookup or a NONE word keeps the previous value */
	b.fail_queue = 0;
	shmq_store_release(&m.slots[0].committed, 600);
	shmq_store_release(&m.slots[3].committed, SHMQ_OFFSETS_NONE);
	shmq_store_release(&m.slots[4].committed, 20);
	assert_int_equal(shmq_groups_persist(g, bounds_fn, &b), 0);
	assert_true(json_offsets("g", "t", got, Q));
	assert_int_equal(got[0], 500);
	assert_int_equal(got[3], 10);
	assert_int_equal(got[4], 20);
	/* no bounds callback: values are taken as they are */
	shmq_store_release(&m.slots[0].committed, 5);
	assert_int_equal(shmq_groups_persist(g, NULL, NULL), 0);
	assert_true(json_offsets("g", "t", got, Q));
	assert_int_equal(got[0], 5);
	assert_int_equal(got[1], 1000); /* past 2^63-2 (offsets.json's range): previous value */
	assert_int_equal(got[2], 1ll << 62);
	shmq_offsets_unmap(&m);
	shmq_groups_destroy(g);
}

static void test_persist_skips_the_write_when_nothing_changed(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(10 * SEC);
	struct shmq_offsets_map m;
	struct shmq_group_assign a;
	join_ok(g, "g", "t", 2, SHMQ_CTL_GROUP_CLUSTERING, 1, &a, &m);
	shmq_store_release(&m.slots[0].committed, 4);
	assert_int_equal(shmq_groups_persist(g, NULL, NULL), 0);
	struct stat s1, s2, s3;
	assert_int_equal(stat(json_path, &s1), 0);
	assert_int_equal(shmq_groups_persist(g, NULL, NULL), 0);
	assert_int_equal(stat(json_path, &s2), 0);
	assert_true(s1.st_ino == s2.st_ino); /* rename would give a new inode */
	shmq_store_release(&m.slots[0].committed, 5);
	assert_int_equal(shmq_groups_persist(g, NULL, NULL), 0);
	assert_int_equal(stat(json_path, &s3), 0);
	assert_true(s3.st_ino != s2.st_ino);
	char tmp[200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", json_path);
	assert_int_equal(access(tmp, F_OK), -1);
	shmq_offsets_unmap(&m);
	shmq_groups_destroy(g);
}

static void rm_tables(void)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -f %s/*.offsets", ring_dir);
	assert_int_equal(system(cmd), 0);
}

static void test_offsets_survive_a_restart_through_offsets_json(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(10 * SEC);
	struct shmq_offsets_map m;
	struct shmq_group_assign a;
	join_ok(g, "g", "orders", 4, SHMQ_CTL_GROUP_CLUSTERING, 1, &a, &m);
	join_ok(g, "bc", "orders", 4, SHMQ_CTL_GROUP_BROADCASTING, 1, &a, NULL);
	shmq_store_release(&m.slots[0].committed, 11);
	shmq_store_release(&m.slots[2].committed, 33);
	assert_int_equal(shmq_groups_persist(g, NULL, NULL), 0);
	shmq_offsets_unmap(&m);
	shmq_groups_destroy(g);
	int64_t got[4];
	assert_false(json_offsets("bc", "orders", got, 4)); /* GR6: broadcasting is not persisted */

	rm_tables(); /* a host reboot empties the tmpfs */
	g = open_groups(10 * SEC);
	assert_int_equal(shmq_groups_count(g), 1);
	struct shmq_ctl_progress_entry pe[4];
	struct shmq_ctl_progress_resp_hdr ph;
	/* known from offsets.json without members: progress still answers */
	assert_int_equal(shmq_groups_progress(g, "g", "orders", 4, pe, &ph), 0);
	assert_int_equal(ph.count, 4);
	assert_int_equal(ph.members, 0);
	assert_int_equal(ph.mode, SHMQ_CTL_GROUP_CLUSTERING);
	assert_true(pe[0].committed == 11);
	assert_true(pe[1].committed == SHMQ_OFFSETS_NONE);
	assert_true(pe[2].committed == 33);
	assert_true(pe[0].owner == 0 && pe[0].min_offset == 0 && pe[0].max_offset == 0);
	/* a joining member finds the offsets in its table */
	join_ok(g, "g", "orders", 4, SHMQ_CTL_GROUP_CLUSTERING, 5, &a, &m);
	assert_true(shmq_load_acquire(&m.slots[2].committed) == 33);
	shmq_offsets_unmap(&m);
	shmq_groups_destroy(g);
}

static void test_restart_adopts_table_words_clears_owners_and_bumps_the_generation(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(10 * SEC);
	struct shmq_offsets_map m, orphan;
	struct shmq_group_assign a;
	join_ok(g, "g", "t", 4, SHMQ_CTL_GROUP_CLUSTERING, 1, &a, &m);
	shmq_store_release(&m.slots[0].committed, 10);
	shmq_store_release(&m.slots[1].committed, 20);
	assert_int_equal(shmq_groups_persist(g, NULL, NULL), 0);
	/* after the last persist: newer commits, and one word scribbled to NONE */
	shmq_store_release(&m.slots[0].committed, 50);
	shmq_store_release(&m.slots[1].committed, SHMQ_OFFSETS_NONE);
	/* a group first seen after the last persist */
	join_ok(g, "late", "t", 2, SHMQ_CTL_GROUP_CLUSTERING, 1, &a, &orphan);
	shmq_store_release(&orphan.slots[1].committed, 5);
	uint32_t g0 = table_gen(&m);
	shmq_groups_destroy(g); /* SIGKILL: no persist */
	assert_int_equal(slot_owner(&m, 0), 1);

	g = open_groups(10 * SEC);
	assert_int_equal(shmq_groups_count(g), 2);
	/* the member of the previous run sees its queues gone, and a new generation */
	assert_true(table_gen(&m) > g0);
	for (uint32_t q = 0; q < 4; q++)
		assert_int_equal(slot_owner(&m, q), 0);
	struct shmq_ctl_progress_entry pe[4];
	struct shmq_ctl_progress_resp_hdr ph;
	assert_int_equal(shmq_groups_progress(g, "g", "t", 4, pe, &ph), 0);
	assert_true(pe[0].committed == 50); /* the table's newer word */
	assert_true(pe[1].committed == 20); /* NONE in the table: offsets.json's value */
	assert_true(pe[2].committed == SHMQ_OFFSETS_NONE);
	assert_int_equal(shmq_groups_progress(g, "late", "t", 2, pe, &ph), 0);
	assert_true(pe[1].committed == 5); /* an orphan table adopted */
	assert_int_equal(ph.mode, SHMQ_CTL_GROUP_CLUSTERING);
	/* the same inode was adopted: the old mapping sees the words */
	assert_true(shmq_load_acquire(&m.slots[1].committed) == 20);
	assert_int_equal(shmq_groups_persist(g, NULL, NULL), 0);
	int64_t got[4];
	assert_true(json_offsets("late", "t", got, 2));
	assert_int_equal(got[1], 5);
	shmq_groups_destroy(g);

	/* a garbage table is not adopted: offsets.json's values go into a new one */
	memset(m.hdr, 0xee, 64);
	g = open_groups(10 * SEC);
	assert_int_equal(shmq_groups_progress(g, "g", "t", 4, pe, &ph), 0);
	assert_true(pe[0].committed == 50); /* offsets.json, persisted just above */
	struct shmq_offsets_map m2;
	join_ok(g, "g", "t", 4, SHMQ_CTL_GROUP_CLUSTERING, 9, &a, &m2);
	assert_true(shmq_load_acquire(&m2.slots[0].committed) == 50);
	shmq_offsets_unmap(&m2);
	shmq_groups_destroy(g);
	shmq_offsets_unmap(&orphan);
	shmq_offsets_unmap(&m);
}

static void test_progress_and_reset(void **state)
{
	(void)state;
	shmq_groups_t *g = open_groups(10 * SEC);
	struct shmq_ctl_progress_entry pe[4];
	struct shmq_ctl_progress_resp_hdr ph;
	/* an unknown group answers with nothing committed */
	assert_int_equal(shmq_groups_progress(g, "nobody", "t", 4, pe, &ph), 0);
	assert_int_equal(ph.count, 4);
	assert_int_equal(ph.mode, 0);
	assert_int_equal(ph.members, 0);
	for (int q = 0; q < 4; q++)
		assert_true(pe[q].committed == SHMQ_OFFSETS_NONE && pe[q].owner == 0);
	assert_int_equal(shmq_groups_progress(g, "nobody", "t", 0, pe, &ph), -EINVAL);
	assert_int_equal(shmq_groups_count(g), 0);

	/* reset of an unknown group creates it */
	const uint64_t r1[4] = {1, 2, 3, 4};
	assert_int_equal(shmq_groups_reset(g, "g", "t", 4, r1), 0);
	assert_int_equal(shmq_groups_count(g), 1);
	assert_int_equal(shmq_groups_progress(g, "g", "t", 4, pe, &ph), 0);
	for (int q = 0; q < 4; q++)
		assert_true(pe[q].committed == r1[q]);

	struct shmq_offsets_map m;
	struct shmq_group_assign a;
	join_ok(g, "g", "t", 4, SHMQ_CTL_GROUP_CLUSTERING, 42, &a, &m);
	join_ok(g, "g", "t", 4, SHMQ_CTL_GROUP_CLUSTERING, 43, &a, NULL);
	assert_int_equal(shmq_groups_progress(g, "g", "t", 4, pe, &ph), 0);
	assert_int_equal(ph.members, 2);
	assert_int_equal(ph.generation, table_gen(&m));
	assert_true(pe[0].owner == 42);
	uint32_t seq0 = shmq_load_relaxed(&m.slots[0].reset_seq), gen0 = table_gen(&m);
	const uint64_t r2[4] = {100, 200, 300, 400};
	assert_int_equal(shmq_groups_reset(g, "g", "t", 4, r2), 0);
	assert_true(table_gen(&m) > gen0);
	for (int q = 0; q < 4; q++) {
		assert_true(shmq_load_acquire(&m.slots[q].committed) == r2[q]);
		assert_int_equal(shmq_load_relaxed(&m.slots[q].reset_seq), seq0 + 1);
	}
	assert_true(slot_owner(&m, 0) == 42); /* owners stay; they restart from the new offsets */
	assert_int_equal(shmq_groups_reset(g, "g", "t", 3, r2), -EINVAL); /* members with 4 queues */
	assert_int_equal(shmq_groups_reset(g, "g", "t", 4, NULL), -EINVAL);

	/* COMMIT_OFFSET over the socket lands in the same word */
	assert_int_equal(shmq_groups_commit(g, "g", "t", 2, 333), 0);
	assert_true(shmq_load_acquire(&m.slots[2].committed) == 333);
	assert_int_equal(shmq_groups_commit(g, "g", "t", 4, 1), -EINVAL);
	assert_int_equal(shmq_groups_commit(g, "x", "t", 0, 1), SHMQ_ENOTFOUND);
	/* progress of more queues than the table holds: the rest never committed */
	struct shmq_ctl_progress_entry p6[6];
	assert_int_equal(shmq_groups_progress(g, "g", "t", 6, p6, &ph), 0);
	assert_true(p6[2].committed == 333 && p6[5].committed == SHMQ_OFFSETS_NONE);
	shmq_offsets_unmap(&m);
	shmq_groups_destroy(g);
}

/* ---- strict loading of offsets.json ---- */

static void write_json(const char *text)
{
	char cfg[160];
	snprintf(cfg, sizeof(cfg), "%s/config", store_dir);
	mkdir(store_dir, 0755);
	mkdir(cfg, 0755);
	FILE *f = fopen(json_path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_offsets_json_is_loaded_strictly(void **state)
{
	(void)state;
	static const char *bad[] = {
		"{\"version\":1,\"groups\":[",
		"{\"version\":2,\"groups\":[]}",
		"{\"version\":1,\"groups\":[]} x",
		"{\"version\":1,\"groups\":[],\"extra\":0}",
		"{\"version\":1,\"groups\":{}}",
		"[]",
		"{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\"}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\",\"offsets\":[1],\"x\":1}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g g\",\"topic\":\"t\",\"offsets\":[1]}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"\",\"offsets\":[1]}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g\\u0000x\",\"topic\":\"t\",\"offsets\":[1]}]}",
		"{\"version\":1,\"groups\":[{\"group\":5,\"topic\":\"t\",\"offsets\":[1]}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\",\"offsets\":[]}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\",\"offsets\":[-1]}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\",\"offsets\":[1.5]}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\",\"offsets\":[\"1\"]}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\",\"offsets\":[99999999999999999999]}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\",\"offsets\":[9223372036854775807]}]}",
		"{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\",\"offsets\":1}]}",
		("{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\",\"offsets\":[1]},"
		 "{\"group\":\"g\",\"topic\":\"t\",\"offsets\":[2]}]}"),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_json(bad[i]);
		shmq_groups_t *g = NULL;
		char err[512] = "";
		int r = shmq_groups_create(ring_dir, store_dir, SEC, &g, err, sizeof(err));
		if (r != SHMQ_ECORRUPT)
			fail_msg("case %zu (%s): got %d, want SHMQ_ECORRUPT", i, bad[i], r);
		assert_null(g);
		assert_non_null(strstr(err, "offsets.json"));
	}
	/* 1024 offsets, nulls and the largest value are fine */
	char *big = malloc(16384);
	assert_non_null(big);
	size_t n = (size_t)sprintf(big, "{\"version\":1,\"groups\":[{\"group\":\"g\",\"topic\":\"t\",\"offsets\":[");
	for (int q = 0; q < 1024; q++)
		n += (size_t)sprintf(big + n, q == 0 ? "9223372036854775806" : q % 2 ? ",null" : ",%d", q);
	sprintf(big + n, "]}]}\n");
	write_json(big);
	free(big);
	shmq_groups_t *g = open_groups(SEC);
	struct shmq_ctl_progress_entry *pe = calloc(1024, sizeof(*pe));
	struct shmq_ctl_progress_resp_hdr ph;
	assert_int_equal(shmq_groups_progress(g, "g", "t", 1024, pe, &ph), 0);
	assert_true(pe[0].committed == 9223372036854775806ull);
	assert_true(pe[1].committed == SHMQ_OFFSETS_NONE);
	assert_true(pe[1022].committed == 1022);
	free(pe);
	shmq_groups_destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_averagely_allocation_for_1_to_5_members_over_8_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fewer_queues_than_members_leaves_the_last_members_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_then_release_hands_over_with_owner_gen_and_generation_bumped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoke_is_forced_after_the_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_member_that_leaves_or_dies_loses_its_queues_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_membership_never_gives_a_queue_two_owners, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broadcasting_gives_every_member_every_queue_and_one_mode_per_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_refuses_bad_arguments_and_resizes_a_memberless_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persist_clamps_garbage_committed_values_into_the_stored_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persist_skips_the_write_when_nothing_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offsets_survive_a_restart_through_offsets_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_adopts_table_words_clears_owners_and_bumps_the_generation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offsets_json_is_loaded_strictly, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
