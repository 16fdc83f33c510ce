/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Crash test of the shared-memory ring (suite 'crash'): producers die with
 * SIGKILL while holding a reservation, and the ring must recover (G6).
 *
 * Each iteration uses a fresh ring (unblock timeout 200 ms) and four
 * processes: a gating reader, two producers that keep writing, and a victim
 * producer that the parent kills.
 *  - Deterministic kills: the victim commits some records, reserves one more
 *    (a single record or a batch), half-fills it, tells the parent through a
 *    pipe, and is killed. The other producers start only then, so all their
 *    records sit behind the dead one: the gating reader must pad it out after
 *    the timeout (unblocked == 1) and deliver every other record.
 *  - A kill between the tail CAS and the header write, made deterministic:
 *    the victim advances the tail itself, exactly as shmq_ring_reserve()'s
 *    CAS does (shm/ring_layout.h), and dies before writing anything. The
 *    gating reader must pad out a record whose size it cannot read.
 *  - Random kills: the victim writes flat out and is killed after a random
 *    delay (seed printed; SHMQ_SEED overrides), sometimes inside a
 *    reservation, sometimes between the tail CAS and the header write.
 * Every iteration checks that nothing committed is lost: each live producer's
 * records all arrive, in sequence, with valid checksums; the victim's records
 * arrive as a gap-free prefix at least as long as the commits it confirmed;
 * the victim's unfinished record never shows up (its checksum would fail).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/atomic.h"
#include "common/clock.h"
#include "shm/ring_layout.h"
#include "shmq/ring.h"
#include "tests/shm/ring_payload.h"

#define NPROD 3                 /* [0], [1] live producers, [2] the victim */
#define VICTIM 2
#define PRODUCER_ID_BASE 200u
#define RING_CAPACITY (64u * 1024u)
#define UNBLOCK_NS (200ull * 1000 * 1000)
#define WAIT_NS (10ull * 1000 * 1000)
#define ITER_DEADLINE_NS (20ull * 1000 * 1000 * 1000)
#define LIVE_RECORDS 20000u
#define VICTIM_PRE 1000u
#define MAX_PAYLOAD 1024u

enum victim_mode { KILL_IN_SINGLE, KILL_IN_BATCH, KILL_AFTER_TAIL_CAS, KILL_RANDOM };

struct prod_state {
	_Atomic uint64_t attempted;  /* sequences reserved or about to be: an upper bound */
	_Atomic uint64_t committed;  /* sequences whose commit returned 0: a lower bound */
	uint64_t reclaimed;
	int failed;
	char err[200];
};

struct reader_state {
	uint64_t count[NPROD];
	uint64_t msgs, max_stall_ns, padded_tail_waits;
	int failed;
	char err[256];
};

struct shared {
	_Atomic uint32_t ready;
	_Atomic uint32_t producers_done;
	struct prod_state prod[NPROD];
	struct reader_state rd;
};

static struct shared *sh;
/* Victim only: time spent between reserve and commit (a producer doing work
 * on a claimed record), which widens the window random kills can hit. */
static uint64_t linger_ns;
static char ring_path[160];
static struct shmq_ring_msg msgs[2 * SHMQ_RING_BATCH_MAX];

static void failf(int *failed, char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void failf(int *failed, char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (*failed)
		return;
	*failed = 1;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

#define PFAIL(ps, ...) failf(&(ps)->failed, (ps)->err, sizeof((ps)->err), __VA_ARGS__)

static uint32_t rand_len(uint64_t *rs)
{
	return RP_HDR_LEN + (uint32_t)(rp_rand(rs) % (MAX_PAYLOAD - RP_HDR_LEN));
}

/*
 * Write records seq 0..n-1 of producer @p idx (n == UINT64_MAX: until killed),
 * mixing in-place reservations, copies and batches. A commit refused with
 * SHMQ_ERECLAIMED (this producer was itself stalled past the timeout) is
 * written again with the same sequence: no reader saw it.
 */
static int produce(shmq_ring_t *r, int idx, uint64_t n, uint64_t *rs)
{
	struct prod_state *ps = &sh->prod[idx];
	uint32_t pid = PRODUCER_ID_BASE + (uint32_t)idx, lens[16];
	unsigned char buf[MAX_PAYLOAD];
	uint64_t seq = 0, deadline = shmq_now_ns() + ITER_DEADLINE_NS;
	int rc;

	while (seq < n) {
		uint64_t op = rp_rand(rs) % 3;
		uint32_t k = 1, need;

		if (op == 2) {
			k = 2 + (uint32_t)(rp_rand(rs) % 15);
			if (k > n - seq)
				k = (uint32_t)(n - seq);
		}
		/* relaxed: read by the parent only after waitpid() on this process */
		shmq_store_relaxed(&ps->attempted, seq + k);
		if (op == 0) {
			struct shmq_ring_claim c;
			uint32_t len = rand_len(rs);

			need = len + 64;
			rc = shmq_ring_reserve(r, pid, SHMQ_RING_TYPE_USER, len, &c);
			if (rc == 0) {
				rp_fill(c.data, pid, seq, len, (uint32_t)*rs);
				if (linger_ns) {
					uint64_t until = shmq_now_ns() + linger_ns;

					while (shmq_now_ns() < until)
						shmq_cpu_relax();
				}
				rc = shmq_ring_commit(r, &c);
			}
		} else if (op == 1) {
			uint32_t len = rand_len(rs);

			need = len + 64;
			rp_fill(buf, pid, seq, len, (uint32_t)*rs);
			rc = shmq_ring_write(r, pid, SHMQ_RING_TYPE_USER, buf, len);
		} else {
			struct shmq_ring_batch b;

			need = 64;
			for (uint32_t i = 0; i < k; i++) {
				lens[i] = rand_len(rs);
				need += lens[i] + 16;
			}
			rc = shmq_ring_batch_reserve(r, pid, SHMQ_RING_TYPE_USER, k, lens, &b);
			if (rc == 0) {
				for (uint32_t i = 0; i < k; i++)
					rp_fill(shmq_ring_batch_data(&b, i), pid, seq + i, lens[i], (uint32_t)*rs);
				rc = shmq_ring_batch_commit(r, &b);
			}
		}
		if (rc == 0) {
			seq += k;
			/* relaxed: read by the parent only after waitpid() on this process */
			shmq_store_relaxed(&ps->committed, seq);
			continue;
		}
		if (rc == SHMQ_BACK_PRESSURED) {
			rc = shmq_ring_wait_space(r, need, WAIT_NS);
			if (rc && rc != -ETIMEDOUT && rc != -EINTR) {
				PFAIL(ps, "producer %d: wait_space: %s", idx, shmq_strerror(rc));
				return 1;
			}
		} else if (rc == SHMQ_ERECLAIMED) {
			ps->reclaimed++;
		} else {
			PFAIL(ps, "producer %d: seq %" PRIu64 ": %s", idx, seq, shmq_strerror(rc));
			return 1;
		}
		if (n != UINT64_MAX && shmq_now_ns() > deadline) {
			PFAIL(ps, "producer %d: deadline at seq %" PRIu64, idx, seq);
			return 1;
		}
	}
	return 0;
}

static int live_producer_main(int idx, uint64_t seed)
{
	shmq_ring_t *r = NULL;
	uint64_t rs = rp_mix(seed ^ (uint64_t)(idx + 1)) | 1;
	int rc = shmq_ring_attach(ring_path, &r);

	if (rc) {
		PFAIL(&sh->prod[idx], "producer %d: attach: %s", idx, shmq_strerror(rc));
		return 1;
	}
	rc = produce(r, idx, LIVE_RECORDS, &rs);
	shmq_ring_close(r);
	return rc;
}

/*
 * Advance the tail by one 64-byte record as a producer's reservation CAS
 * would, then die (the parent kills us) before the record's header CAS: the
 * record's len word stays 0, so its size is known only from the tail.
 */
static int victim_tail_cas_then_wait(shmq_ring_t *r, int wfd)
{
	const uint64_t total = 64;
	struct shmq_ring_header *h;
	uint64_t cap;
	char one = 1;
	int fd = open(ring_path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return 1;
	h = mmap(NULL, SHMQ_RING_DATA_OFFSET, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (h == MAP_FAILED)
		return 1;
	cap = h->capacity;
	for (;;) {
		/* relaxed: a first guess for the CAS, as in claim() */
		uint64_t tail = shmq_load_relaxed(&h->tail);
		/* acquire: pairs with the gating reader's release of head, as in claim() */
		uint64_t head = shmq_load_acquire(&h->head);

		if ((tail & (cap - 1)) + total <= cap && tail + total <= head + cap) {
			/* relaxed: the same CAS claim() makes; nothing else is published */
			if (atomic_compare_exchange_strong_explicit(&h->tail, &tail, tail + total,
								    memory_order_relaxed, memory_order_relaxed))
				break;
			continue;
		}
		/* No room, or the record would straddle the wrap (where claim()
		 * writes a padding record first): wait for the reader to move on. */
		(void)shmq_ring_wait_space(r, 2048, WAIT_NS);
	}
	if (write(wfd, &one, 1) != 1)
		return 1;
	for (;;)
		pause();
}

/* The victim: never returns normally in the kill modes; the parent kills it. */
static int victim_main(enum victim_mode mode, uint64_t seed, int wfd)
{
	struct prod_state *ps = &sh->prod[VICTIM];
	uint32_t pid = PRODUCER_ID_BASE + VICTIM;
	uint64_t rs = rp_mix(seed ^ 0x77u) | 1;
	shmq_ring_t *r = NULL;
	char one = 1;
	int rc = shmq_ring_attach(ring_path, &r);

	if (rc) {
		PFAIL(ps, "victim: attach: %s", shmq_strerror(rc));
		return 1;
	}
	if (mode == KILL_RANDOM) {
		linger_ns = (seed & 1) ? 20000 : 0;
		if (write(wfd, &one, 1) != 1)
			return 1;
		return produce(r, VICTIM, UINT64_MAX, &rs);
	}
	if (produce(r, VICTIM, VICTIM_PRE, &rs))
		return 1;
	/* relaxed: read by the parent only after waitpid() */
	shmq_store_relaxed(&ps->attempted, VICTIM_PRE + 8);
	if (mode == KILL_AFTER_TAIL_CAS)
		return victim_tail_cas_then_wait(r, wfd);
	for (;;) {
		if (mode == KILL_IN_SINGLE) {
			struct shmq_ring_claim c;

			rc = shmq_ring_reserve(r, pid, SHMQ_RING_TYPE_USER, 512, &c);
			if (rc == 0) {
				/* half a payload: were this ever delivered, its checksum would fail */
				rp_fill(c.data, pid, VICTIM_PRE, 512, 0);
				memset((char *)c.data + 256, 0xab, 256);
				break;
			}
		} else {
			uint32_t lens[8] = { 64, 128, 256, 64, 64, 512, 32, 100 };
			struct shmq_ring_batch b;

			rc = shmq_ring_batch_reserve(r, pid, SHMQ_RING_TYPE_USER, 8, lens, &b);
			if (rc == 0) {
				for (uint32_t i = 0; i < 4; i++)
					rp_fill(shmq_ring_batch_data(&b, i), pid, VICTIM_PRE + i, lens[i], 0);
				break;
			}
		}
		if (rc != SHMQ_BACK_PRESSURED) {
			PFAIL(ps, "victim: reserve: %s", shmq_strerror(rc));
			return 1;
		}
		(void)shmq_ring_wait_space(r, 2048, WAIT_NS);
	}
	if (write(wfd, &one, 1) != 1)
		return 1;
	for (;;)
		pause();
}

static int reader_main(void)
{
	struct reader_state *rs = &sh->rd;
	uint64_t next_seq[NPROD] = { 0 }, idle_since = 0, stall_since = 0;
	uint64_t deadline = shmq_now_ns() + ITER_DEADLINE_NS;
	shmq_ring_t *r = NULL;
	int rc = shmq_ring_attach(ring_path, &r);

	if (rc) {
		PFAIL(rs, "reader: attach: %s", shmq_strerror(rc));
		return 1;
	}
	/* release: pairs with the parent's acquire wait before it forks producers */
	atomic_fetch_add_explicit(&sh->ready, 1, memory_order_release);
	for (;;) {
		uint64_t consumed = shmq_ring_consumed(r), next = consumed, now = shmq_now_ns();
		int n = shmq_ring_gate_read(r, msgs, 2 * SHMQ_RING_BATCH_MAX, &next);

		if (n < 0) {
			PFAIL(rs, "reader: gate_read: %s", shmq_strerror(n));
			break;
		}
		if (now > deadline) {
			PFAIL(rs, "reader: iteration deadline, consumed %" PRIu64 " tail %" PRIu64,
			      consumed, shmq_ring_tail(r));
			break;
		}
		if (n == 0) {
			/* acquire: pairs with the parent's release after reaping every producer */
			int done = atomic_load_explicit(&sh->producers_done, memory_order_acquire) != 0;
			uint64_t tail = shmq_ring_tail(r);

			if (next > consumed && next <= tail)
				(void)shmq_ring_gate_consume(r, next); /* trailing padding */
			if (tail > shmq_ring_consumed(r)) {
				if (!stall_since)
					stall_since = now;
				if (now - stall_since > rs->max_stall_ns)
					rs->max_stall_ns = now - stall_since;
			}
			if (done && shmq_ring_consumed(r) == tail)
				break;
			if (done) {
				/* Everything should arrive within one unblock timeout of the
				 * last producer's death; allow generous slack on 2 busy cores. */
				if (!idle_since)
					idle_since = now;
				else if (now - idle_since > 10 * UNBLOCK_NS) {
					rs->padded_tail_waits++;
					break;
				}
			}
			rc = shmq_ring_gate_wait(r, shmq_ring_consumed(r), WAIT_NS);
			if (rc && rc != -ETIMEDOUT && rc != -EINTR) {
				PFAIL(rs, "reader: wait: %s", shmq_strerror(rc));
				break;
			}
			(void)shmq_ring_gate_consume(r, shmq_ring_consumed(r));
			continue;
		}
		stall_since = 0;
		idle_since = 0;
		for (int i = 0; i < n; i++) {
			struct rp_hdr h;
			int p;

			if (rp_check(msgs[i].data, msgs[i].len, &h)) {
				PFAIL(rs, "reader: bad checksum at pos %" PRIu64 " (producer %u, len %u)",
				      msgs[i].pos, msgs[i].producer_id, msgs[i].len);
				break;
			}
			if (h.producer < PRODUCER_ID_BASE || h.producer >= PRODUCER_ID_BASE + NPROD ||
			    h.producer != msgs[i].producer_id) {
				PFAIL(rs, "reader: producer %u/%u at %" PRIu64, h.producer,
				      msgs[i].producer_id, msgs[i].pos);
				break;
			}
			p = (int)(h.producer - PRODUCER_ID_BASE);
			if (h.seq != next_seq[p]) {
				PFAIL(rs, "reader: producer %d seq %" PRIu64 " expected %" PRIu64, p, h.seq,
				      next_seq[p]);
				break;
			}
			next_seq[p]++;
			rs->count[p]++;
			rs->msgs++;
		}
		if (rs->failed)
			break;
		rc = shmq_ring_gate_consume(r, next);
		if (rc) {
			PFAIL(rs, "reader: consume: %s", shmq_strerror(rc));
			break;
		}
	}
	shmq_ring_close(r);
	return rs->failed;
}

static int reap(pid_t pid, int *status, uint64_t deadline)
{
	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return -1;
		if (shmq_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			return -1;
		}
		usleep(1000);
	}
}

static int exited_ok(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct iter_result {
	uint64_t unblocked, victim_delivered, victim_committed, victim_attempted, max_stall_ns;
	uint64_t live_reclaimed;
};

/* One iteration; cmocka assertions only in this (the parent) process. */
static void run_iteration(const char *dir, enum victim_mode mode, uint64_t seed, struct iter_result *out)
{
	shmq_ring_t *r = NULL;
	struct shmq_ring_stats st;
	pid_t reader, live[2], victim;
	int pfd[2], status, rc;
	uint64_t rs = rp_mix(seed) | 1, deadline;
	char c;

	memset(sh, 0, sizeof(*sh));
	snprintf(ring_path, sizeof(ring_path), "%s/ring", dir);
	{
		SHMQ_RING_OPTS(o, .capacity = RING_CAPACITY, .unblock_timeout_ns = UNBLOCK_NS);
		rc = shmq_ring_create(ring_path, &o, &r);
	}
	if (rc)
		fail_msg("create %s: %s", ring_path, shmq_strerror(rc));
	assert_int_equal(pipe(pfd), 0);

	reader = fork();
	assert_true(reader >= 0);
	if (reader == 0)
		_exit(reader_main() ? 1 : 0);
	/* acquire: pairs with the reader's release increment */
	while (atomic_load_explicit(&sh->ready, memory_order_acquire) < 1)
		usleep(200);

	victim = fork();
	assert_true(victim >= 0);
	if (victim == 0) {
		close(pfd[0]);
		_exit(victim_main(mode, seed, pfd[1]) ? 1 : 0);
	}
	close(pfd[1]);
	/* The victim says when its reservation is in place (or, for random
	 * kills, when it starts writing): the kill must land after that. */
	if (read(pfd[0], &c, 1) != 1) {
		waitpid(victim, &status, 0);
		fail_msg("victim died before reserving: %s", sh->prod[VICTIM].err);
	}
	close(pfd[0]);
	for (int i = 0; i < 2; i++) {
		live[i] = fork();
		assert_true(live[i] >= 0);
		if (live[i] == 0)
			_exit(live_producer_main(i, seed) ? 1 : 0);
	}
	if (mode == KILL_RANDOM) {
		/* Aim at a moment the victim is writing, not waiting for space:
		 * right after its n-th commit (random n), plus a random few us. */
		uint64_t target = 20 + rp_rand(&rs) % 2000, until = shmq_now_ns() + 2000000000ull;
		uint64_t delay = rp_rand(&rs) % 30000;

		/* relaxed: only a moment to aim at; the verdict uses values read after waitpid() */
		while (shmq_load_relaxed(&sh->prod[VICTIM].committed) < target && shmq_now_ns() < until)
			usleep(20);
		until = shmq_now_ns() + delay;
		while (shmq_now_ns() < until)
			shmq_cpu_relax(); /* at most 30 us */
	} else {
		usleep((useconds_t)(rp_rand(&rs) % 1000));
	}
	kill(victim, SIGKILL);
	deadline = shmq_now_ns() + ITER_DEADLINE_NS;
	assert_int_equal(reap(victim, &status, deadline), 0);
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
		fail_msg("victim was not killed (status %#x): %s", status, sh->prod[VICTIM].err);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(reap(live[i], &status, deadline), 0);
		if (!exited_ok(status))
			fail_msg("producer %d failed: %s", i, sh->prod[i].err);
	}
	/* release: pairs with the reader's acquire; the tail is final now */
	atomic_store_explicit(&sh->producers_done, 1, memory_order_release);
	assert_int_equal(reap(reader, &status, deadline), 0);
	if (!exited_ok(status))
		fail_msg("reader failed: %s", sh->rd.err);

	shmq_ring_stats(r, &st);
	shmq_ring_close(r);
	assert_int_equal(unlink(ring_path), 0);
	assert_false(st.fenced);

	/* Nothing committed is lost; nothing uncommitted is delivered. */
	for (int i = 0; i < 2; i++)
		assert_int_equal(sh->rd.count[i], LIVE_RECORDS);
	/* relaxed: the victim was reaped, waitpid() ordered its stores before these loads */
	out->victim_committed = shmq_load_relaxed(&sh->prod[VICTIM].committed);
	out->victim_attempted = shmq_load_relaxed(&sh->prod[VICTIM].attempted);
	out->victim_delivered = sh->rd.count[VICTIM];
	out->unblocked = st.unblocked;
	out->max_stall_ns = sh->rd.max_stall_ns;
	out->live_reclaimed = sh->prod[0].reclaimed + sh->prod[1].reclaimed;
	if (out->victim_delivered < out->victim_committed || out->victim_delivered > out->victim_attempted)
		fail_msg("victim: %" PRIu64 " delivered, %" PRIu64 " confirmed committed, %" PRIu64 " attempted",
			 out->victim_delivered, out->victim_committed, out->victim_attempted);
	if (mode != KILL_RANDOM) {
		/* The reservation that the victim died holding was padded out (G6):
		 * one unblock, plus at most one per live producer that stalled past
		 * the timeout (usually none). */
		assert_int_equal(out->victim_delivered, VICTIM_PRE);
		assert_true(st.unblocked >= 1);
		assert_true(st.unblocked <= 1 + out->live_reclaimed);
	} else {
		assert_true(st.unblocked <= 1 + out->live_reclaimed);
	}
	assert_int_equal(st.reclaimed_commits, out->live_reclaimed);
}

static uint64_t test_seed;
static char test_dir[64];

/* Runs even when an assertion failed mid-iteration: no ring file or
 * directory is left under /dev/shm. */
static int remove_test_dir(void **state)
{
	(void)state;
	if (test_dir[0]) {
		unlink(ring_path);
		rmdir(test_dir);
		test_dir[0] = 0;
	}
	return 0;
}

static void test_producer_killed_inside_a_reservation_is_padded_out_and_others_flow(void **state)
{
	char *dir = test_dir;
	static const enum victim_mode modes[] = { KILL_IN_SINGLE, KILL_IN_BATCH, KILL_AFTER_TAIL_CAS,
						  KILL_IN_SINGLE, KILL_IN_BATCH, KILL_AFTER_TAIL_CAS };
	static const char *const names[] = { "in a single reservation", "in a batch reservation",
					      "after the tail CAS, before the header" };

	(void)state;
	strcpy(test_dir, "/dev/shm/shmq-crash-XXXXXX");
	assert_non_null(mkdtemp(dir));
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct iter_result ir;

		run_iteration(dir, modes[i], test_seed + i, &ir);
		printf("  killed %-38s: victim delivered %" PRIu64 " of %u, unblocked %" PRIu64
		       ", reader stalled up to %.0f ms\n",
		       names[modes[i]], ir.victim_delivered, VICTIM_PRE, ir.unblocked,
		       (double)ir.max_stall_ns / 1e6);
	}
	rmdir(dir);
}

static void test_producer_killed_at_random_moments_loses_nothing_committed(void **state)
{
	char *dir = test_dir;
	uint64_t scale = rp_env_u64("SHMQ_STRESS_SCALE", 1), iters, inside = 0, delivered = 0;

	(void)state;
	iters = 64 * (scale ? scale : 1);
	strcpy(test_dir, "/dev/shm/shmq-crash-XXXXXX");
	assert_non_null(mkdtemp(dir));
	for (uint64_t i = 0; i < iters; i++) {
		struct iter_result ir;

		run_iteration(dir, KILL_RANDOM, test_seed + 1000 + i, &ir);
		if (ir.unblocked > ir.live_reclaimed)
			inside++;
		if (getenv("SHMQ_VERBOSE"))
			printf("    kill %" PRIu64 ": victim attempted %" PRIu64 " committed %" PRIu64
			       " delivered %" PRIu64 ", unblocked %" PRIu64 "\n", i, ir.victim_attempted,
			       ir.victim_committed, ir.victim_delivered, ir.unblocked);
		delivered += ir.victim_delivered;
	}
	printf("  %" PRIu64 " random kills: %" PRIu64 " landed inside a reservation (padded out), "
	       "victim delivered %" PRIu64 " records in all\n", iters, inside, delivered);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_producer_killed_inside_a_reservation_is_padded_out_and_others_flow,
					  remove_test_dir),
		cmocka_unit_test_teardown(test_producer_killed_at_random_moments_loses_nothing_committed,
					  remove_test_dir),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	test_seed = rp_env_u64("SHMQ_SEED", (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
	printf("crash_ring: seed %" PRIu64 " (SHMQ_SEED), ring %u KiB, unblock timeout %llu ms\n",
	       test_seed, RING_CAPACITY / 1024, UNBLOCK_NS / 1000000);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
