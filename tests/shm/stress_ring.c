/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Multi-process stress test of the shared-memory ring (suite 'stress').
 *
 * Three producer processes write checksummed, self-describing payloads
 * (tests/shm/ring_payload.h) of variable size, as in-place reservations, as
 * copies (shmq_ring_write) and as batches, into a small ring so that it wraps
 * and back-pressures constantly. One gating reader and two non-gating readers,
 * each its own process, check every payload:
 *  - checksum and embedded length (G2, G5: no torn or stale bytes);
 *  - the gating reader sees every producer's sequence 0, 1, 2, ... with no gap
 *    (G1, G3, G4) and, at the end, exactly what was produced;
 *  - a non-gating reader sees sequences grow by exactly 1, except right after
 *    it was overrun (G5), where it resynchronises at shmq_ring_oldest() and a
 *    producer's sequence may jump forward (never backward).
 *
 * Env: SHMQ_SEED (random seed, printed), SHMQ_STRESS_SCALE (multiplies the
 * record count: 10 M by default, 5 M under sanitizers).
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
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/atomic.h"
#include "common/clock.h"
#include "shmq/ring.h"
#include "tests/shm/ring_payload.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define STRESS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define STRESS_SANITIZED 1
#endif
#endif
#ifndef STRESS_SANITIZED
#define STRESS_SANITIZED 0
#endif

#define NPROD 3
#define NNG 2
#define PRODUCER_ID_BASE 100u
#define RING_CAPACITY (256u * 1024u)
#define MAX_PAYLOAD 2048u
#define MAX_BATCH 64u
#define WAIT_NS (10ull * 1000 * 1000)
#define DEADLINE_NS (240ull * 1000 * 1000 * 1000)

struct reader_result {
	uint64_t msgs, bytes, records, batches, overruns, jumps, waits;
	uint64_t count[NPROD];
	uint64_t last_seq[NPROD];
	int failed;
	char err[256];
};

struct producer_result {
	uint64_t produced, singles, writes, batches, backpressured, reclaimed;
	int failed;
	char err[256];
};

/* Lives in a MAP_SHARED anonymous mapping: children report here. */
struct shared {
	_Atomic uint32_t readers_ready;
	_Atomic uint32_t stop;          /* parent asks everyone to give up */
	_Atomic uint32_t producers_done;/* producers that wrote their last record */
	uint64_t t_start, t_gate_done;
	uint64_t per_producer[NPROD];   /* records each producer must write */
	uint64_t seed;
	struct producer_result prod[NPROD];
	struct reader_result gate;
	struct reader_result ng[NNG];
};

static struct shared *sh;
static char ring_path[128];

static void failf(int *failed, char *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void failf(int *failed, char *err, const char *fmt, ...)
{
	va_list ap;

	if (*failed)
		return;
	*failed = 1;
	va_start(ap, fmt);
	vsnprintf(err, 256, fmt, ap);
	va_end(ap);
	/* relaxed: only a hint for the others to stop early; the exit status is the verdict */
	shmq_store_relaxed(&sh->stop, 1);
}

static int stopped(void)
{
	/* relaxed: advisory flag, set once */
	return shmq_load_relaxed(&sh->stop) != 0;
}

static uint32_t rand_len(uint64_t *rs)
{
	uint64_t x = rp_rand(rs);

	if ((x & 7) == 0)
		return RP_HDR_LEN + (uint32_t)((x >> 8) % (MAX_PAYLOAD - RP_HDR_LEN + 1));
	return RP_HDR_LEN + (uint32_t)((x >> 8) % 200);
}

/* ------------------------------------------------------------------ */

static int run_producer(int idx)
{
	struct producer_result *res = &sh->prod[idx];
	uint32_t pid = PRODUCER_ID_BASE + (uint32_t)idx;
	uint64_t rs = rp_mix(sh->seed ^ (0x1000u + (uint64_t)idx)) | 1;
	uint64_t n = sh->per_producer[idx], seq = 0;
	unsigned char buf[MAX_PAYLOAD];
	uint32_t lens[MAX_BATCH];
	shmq_ring_t *r = NULL;
	uint64_t deadline = shmq_now_ns() + DEADLINE_NS;
	int rc;

	rc = shmq_ring_attach(ring_path, &r);
	if (rc) {
		failf(&res->failed, res->err, "producer %d: attach: %s", idx, shmq_strerror(rc));
		return 1;
	}
	while (seq < n && !stopped()) {
		uint64_t op = rp_rand(&rs) % 10;
		uint32_t need;

		if (op < 5) {
			struct shmq_ring_claim c;
			uint32_t len = rand_len(&rs);

			need = len + 64;
			rc = shmq_ring_reserve(r, pid, SHMQ_RING_TYPE_USER, len, &c);
			if (rc == 0) {
				if (c.len != len || ((uintptr_t)c.data & 7)) {
					failf(&res->failed, res->err, "producer %d: claim len %u (want %u) data %p",
					      idx, c.len, len, c.data);
					break;
				}
				rp_fill(c.data, pid, seq, len, (uint32_t)rs);
				rc = shmq_ring_commit(r, &c);
				if (rc == 0) {
					seq++;
					res->singles++;
				}
			}
		} else if (op < 7) {
			uint32_t len = rand_len(&rs);

			need = len + 64;
			rp_fill(buf, pid, seq, len, (uint32_t)rs);
			rc = shmq_ring_write(r, pid, SHMQ_RING_TYPE_USER + 1, buf, len);
			if (rc == 0) {
				seq++;
				res->writes++;
			}
		} else {
			struct shmq_ring_batch b;
			uint32_t k = 2 + (uint32_t)(rp_rand(&rs) % (MAX_BATCH - 1)), total = 0;

			if (k > n - seq)
				k = (uint32_t)(n - seq);
			for (uint32_t i = 0; i < k; i++) {
				lens[i] = rand_len(&rs);
				if (total + lens[i] > 16384) {
					k = i ? i : 1;
					break;
				}
				total += lens[i] + 8;
			}
			need = total + 64;
			rc = shmq_ring_batch_reserve(r, pid, SHMQ_RING_TYPE_USER + 2, k, lens, &b);
			if (rc == 0) {
				if (b.count != k) {
					failf(&res->failed, res->err, "producer %d: batch count %u want %u",
					      idx, b.count, k);
					break;
				}
				for (uint32_t i = 0; i < k; i++) {
					void *d = shmq_ring_batch_data(&b, i);

					if (!d || ((uintptr_t)d & 7)) {
						failf(&res->failed, res->err, "producer %d: batch data %u = %p",
						      idx, i, d);
						break;
					}
					rp_fill(d, pid, seq + i, lens[i], (uint32_t)rs);
				}
				if (res->failed)
					break;
				rc = shmq_ring_batch_commit(r, &b);
				if (rc == 0) {
					seq += k;
					res->batches++;
				}
			}
		}
		if (rc == 0)
			continue;
		if (rc == SHMQ_BACK_PRESSURED) {
			res->backpressured++;
			rc = shmq_ring_wait_space(r, need, WAIT_NS);
			if (rc && rc != -ETIMEDOUT && rc != -EINTR) {
				failf(&res->failed, res->err, "producer %d: wait_space: %s", idx, shmq_strerror(rc));
				break;
			}
		} else if (rc == SHMQ_ERECLAIMED) {
			/* G6: stalled past the (long) unblock timeout; the record was padded
			 * out and no reader saw it, so the same sequence is written again. */
			res->reclaimed++;
		} else {
			failf(&res->failed, res->err, "producer %d: seq %" PRIu64 ": %s", idx, seq,
			      shmq_strerror(rc));
			break;
		}
		if (shmq_now_ns() > deadline) {
			failf(&res->failed, res->err, "producer %d: deadline at seq %" PRIu64, idx, seq);
			break;
		}
	}
	res->produced = seq;
	/* release: pairs with the non-gating readers' acquire; the tail is
	 * final once every producer has checked out */
	atomic_fetch_add_explicit(&sh->producers_done, 1, memory_order_release);
	if (!res->failed && seq != n)
		failf(&res->failed, res->err, "producer %d stopped at %" PRIu64 " of %" PRIu64, idx, seq, n);
	shmq_ring_close(r);
	return res->failed;
}

/* ------------------------------------------------------------------ */

static struct shmq_ring_msg msgs[2 * SHMQ_RING_BATCH_MAX];

/* Validate one message; @return producer index, or -1 with res->err set. */
static int check_msg(struct reader_result *res, const char *who, const struct shmq_ring_msg *m,
		     struct rp_hdr *h)
{
	if (rp_check(m->data, m->len, h)) {
		failf(&res->failed, res->err, "%s: bad checksum/length at pos %" PRIu64 " len %u",
		      who, m->pos, m->len);
		return -1;
	}
	if (h->producer < PRODUCER_ID_BASE || h->producer >= PRODUCER_ID_BASE + NPROD ||
	    m->producer_id != h->producer) {
		failf(&res->failed, res->err, "%s: producer %u in payload, %u in record at %" PRIu64,
		      who, h->producer, m->producer_id, m->pos);
		return -1;
	}
	if (m->type < SHMQ_RING_TYPE_USER || m->type > SHMQ_RING_TYPE_USER + 2) {
		failf(&res->failed, res->err, "%s: type %u at %" PRIu64, who, m->type, m->pos);
		return -1;
	}
	return (int)(h->producer - PRODUCER_ID_BASE);
}

static int run_gate_reader(void)
{
	struct reader_result *res = &sh->gate;
	uint64_t total = 0, got = 0, next_seq[NPROD] = { 0 };
	uint64_t deadline = shmq_now_ns() + DEADLINE_NS, prev_pos = UINT64_MAX;
	shmq_ring_t *r = NULL;
	int rc;

	for (int p = 0; p < NPROD; p++)
		total += sh->per_producer[p];
	rc = shmq_ring_attach(ring_path, &r);
	if (rc) {
		failf(&res->failed, res->err, "gate: attach: %s", shmq_strerror(rc));
		return 1;
	}
	/* release: pairs with the parent's acquire spin before it forks producers */
	atomic_fetch_add_explicit(&sh->readers_ready, 1, memory_order_release);
	while (got < total && !stopped()) {
		uint64_t next = 0;
		int n = shmq_ring_gate_read(r, msgs, 2 * SHMQ_RING_BATCH_MAX, &next);

		if (n < 0) {
			failf(&res->failed, res->err, "gate: read: %s", shmq_strerror(n));
			break;
		}
		if (n == 0) {
			uint64_t c = shmq_ring_consumed(r);

			res->waits++;
			rc = shmq_ring_gate_wait(r, c, WAIT_NS);
			if (rc && rc != -ETIMEDOUT && rc != -EINTR) {
				failf(&res->failed, res->err, "gate: wait: %s", shmq_strerror(rc));
				break;
			}
			/* let the lazy reclaim free room for a producer that asked for it */
			(void)shmq_ring_gate_consume(r, shmq_ring_consumed(r));
			if (shmq_now_ns() > deadline) {
				failf(&res->failed, res->err, "gate: deadline with %" PRIu64 " of %" PRIu64,
				      got, total);
				break;
			}
			continue;
		}
		for (int i = 0; i < n && !res->failed; i++) {
			struct rp_hdr h;
			int p = check_msg(res, "gate", &msgs[i], &h);

			if (p < 0)
				break;
			if (h.seq != next_seq[p]) {
				failf(&res->failed, res->err,
				      "gate: producer %d seq %" PRIu64 " expected %" PRIu64 " (G1/G3 gap)",
				      p, h.seq, next_seq[p]);
				break;
			}
			next_seq[p]++;
			res->count[p]++;
			res->last_seq[p] = h.seq;
			res->bytes += msgs[i].len;
			if (msgs[i].pos != prev_pos) {
				res->records++;
				if (msgs[i].count > 1)
					res->batches++;
				prev_pos = msgs[i].pos;
			}
		}
		if (res->failed)
			break;
		got += (uint64_t)n;
		res->msgs = got;
		rc = shmq_ring_gate_consume(r, next);
		if (rc) {
			failf(&res->failed, res->err, "gate: consume %" PRIu64 ": %s", next, shmq_strerror(rc));
			break;
		}
	}
	sh->t_gate_done = shmq_now_ns();
	shmq_ring_close(r);
	return res->failed;
}

struct pending {
	int p;
	uint64_t seq;
	uint32_t len;
	int bad;
};

static int run_ng_reader(int idx)
{
	static struct pending pend[2 * SHMQ_RING_BATCH_MAX];
	struct reader_result *res = &sh->ng[idx];
	char who[16];
	uint64_t last[NPROD], pos = 0, deadline = shmq_now_ns() + DEADLINE_NS;
	int seen_any[NPROD] = { 0 }, jump_ok[NPROD] = { 0 }, finished = 0;
	shmq_ring_t *r = NULL;
	int rc;

	snprintf(who, sizeof(who), "reader%d", idx);
	rc = shmq_ring_attach(ring_path, &r);
	if (rc) {
		failf(&res->failed, res->err, "%s: attach: %s", who, shmq_strerror(rc));
		return 1;
	}
	memset(last, 0, sizeof(last));
	pos = shmq_ring_oldest(r);
	/* release: pairs with the parent's acquire spin before it forks producers */
	atomic_fetch_add_explicit(&sh->readers_ready, 1, memory_order_release);
	while (!finished && !stopped()) {
		uint64_t start = pos;
		int n = shmq_ring_read(r, &pos, msgs, 2 * SHMQ_RING_BATCH_MAX);

		if (n == SHMQ_EOVERRUN) {
			res->overruns++;
			pos = shmq_ring_oldest(r);
			for (int p = 0; p < NPROD; p++)
				jump_ok[p] = 1;
			continue;
		}
		if (n < 0) {
			failf(&res->failed, res->err, "%s: read at %" PRIu64 ": %s", who, start,
			      shmq_strerror(n));
			break;
		}
		if (n == 0) {
			/* acquire: pairs with the producers' release increments: the
			 * tail read after it is final. A producer that finished early
			 * may have had its last records reclaimed before this reader
			 * (if overrun) saw them, so the end is the final tail. */
			if (atomic_load_explicit(&sh->producers_done, memory_order_acquire) == NPROD &&
			    pos == shmq_ring_tail(r)) {
				finished = 1;
				break;
			}
			res->waits++;
			rc = shmq_ring_wait_data(r, pos, WAIT_NS);
			if (rc && rc != -ETIMEDOUT && rc != -EINTR) {
				failf(&res->failed, res->err, "%s: wait_data: %s", who, shmq_strerror(rc));
				break;
			}
			if (shmq_now_ns() > deadline) {
				failf(&res->failed, res->err, "%s: deadline at pos %" PRIu64, who, pos);
				break;
			}
			continue;
		}
		/* Validate into a scratch list first: only if the bytes were not
		 * reclaimed meanwhile (G5 re-check) does a bad payload mean corruption. */
		for (int i = 0; i < n; i++) {
			struct rp_hdr h;

			pend[i].bad = rp_check(msgs[i].data, msgs[i].len, &h) ||
				      h.producer < PRODUCER_ID_BASE ||
				      h.producer >= PRODUCER_ID_BASE + NPROD ||
				      msgs[i].producer_id != h.producer;
			pend[i].p = pend[i].bad ? -1 : (int)(h.producer - PRODUCER_ID_BASE);
			pend[i].seq = h.seq;
			pend[i].len = msgs[i].len;
		}
		if (shmq_ring_read_check(r, start) == SHMQ_EOVERRUN) {
			res->overruns++;
			pos = shmq_ring_oldest(r);
			for (int p = 0; p < NPROD; p++)
				jump_ok[p] = 1;
			continue;
		}
		for (int i = 0; i < n; i++) {
			int p = pend[i].p;

			if (pend[i].bad) {
				failf(&res->failed, res->err,
				      "%s: corrupt payload at pos %" PRIu64 " len %u that read_check accepted",
				      who, msgs[i].pos, msgs[i].len);
				break;
			}
			if (seen_any[p] && pend[i].seq != last[p] + 1) {
				if (!jump_ok[p] || pend[i].seq <= last[p]) {
					failf(&res->failed, res->err,
					      "%s: producer %d seq %" PRIu64 " after %" PRIu64 " (jump_ok %d)",
					      who, p, pend[i].seq, last[p], jump_ok[p]);
					break;
				}
				res->jumps++;
			} else if (!seen_any[p] && pend[i].seq != 0 && !jump_ok[p]) {
				failf(&res->failed, res->err, "%s: producer %d starts at seq %" PRIu64,
				      who, p, pend[i].seq);
				break;
			}
			jump_ok[p] = 0;
			seen_any[p] = 1;
			last[p] = pend[i].seq;
			res->count[p]++;
			res->last_seq[p] = pend[i].seq;
			res->msgs++;
			res->bytes += pend[i].len;
		}
		if (res->failed)
			break;
	}
	shmq_ring_close(r);
	return res->failed;
}

/* ------------------------------------------------------------------ */

static pid_t spawn(int (*fn)(int), int arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		int rc = fn(arg);

		_exit(rc ? 1 : 0);
	}
	return pid;
}

static int gate_main(int unused)
{
	(void)unused;
	return run_gate_reader();
}

static void test_three_producers_two_overrun_readers_and_gate_agree_on_every_record(void **state)
{
	const uint64_t scale = rp_env_u64("SHMQ_STRESS_SCALE", 1) ? rp_env_u64("SHMQ_STRESS_SCALE", 1) : 1;
	const uint64_t total = (STRESS_SANITIZED ? 5000000ull : 10000000ull) * scale;
	char dir[] = "/dev/shm/shmq-stress-XXXXXX";
	pid_t pids[NPROD + 1 + NNG];
	int npids = 0, failed = 0;
	shmq_ring_t *r = NULL;
	struct shmq_ring_stats st;
	uint64_t t0, t1, produced = 0;
	int rc;

	(void)state;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	sh->seed = rp_env_u64("SHMQ_SEED", (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
	for (int p = 0; p < NPROD; p++)
		sh->per_producer[p] = total / NPROD + (p == 0 ? total % NPROD : 0);
	printf("stress_ring: seed %" PRIu64 " (SHMQ_SEED), %" PRIu64 " records, %d producers, "
	       "1 gating + %d non-gating readers, ring %u KiB%s\n",
	       sh->seed, total, NPROD, NNG, RING_CAPACITY / 1024,
	       STRESS_SANITIZED ? " (sanitizer build: scaled down)" : "");
	fflush(stdout);

	assert_non_null(mkdtemp(dir));
	snprintf(ring_path, sizeof(ring_path), "%s/ring", dir);
	{
		/* A long unblock timeout: a producer preempted between reserve and
		 * commit on 2 oversubscribed cores must not be padded out here. */
		SHMQ_RING_OPTS(o, .capacity = RING_CAPACITY, .unblock_timeout_ns = 10ull * 1000 * 1000 * 1000);
		rc = shmq_ring_create(ring_path, &o, &r);
	}
	if (rc) {
		rmdir(dir);
		fail_msg("create %s: %s", ring_path, shmq_strerror(rc));
	}

	t0 = shmq_now_ns();
	sh->t_start = t0;
	pids[npids++] = spawn(gate_main, 0);
	for (int i = 0; i < NNG; i++)
		pids[npids++] = spawn(run_ng_reader, i);
	/* acquire: pairs with the readers' release increments; they start at position 0 */
	for (int spins = 0; atomic_load_explicit(&sh->readers_ready, memory_order_acquire) < 1 + NNG;
	     spins++) {
		usleep(1000);
		if (spins > 10000)
			break;
	}
	for (int p = 0; p < NPROD; p++)
		pids[npids++] = spawn(run_producer, p);

	for (int left = npids; left > 0;) {
		int status;
		pid_t w = waitpid(-1, &status, WNOHANG);

		if (w == 0) {
			if (shmq_now_ns() - t0 > DEADLINE_NS + 30ull * 1000 * 1000 * 1000) {
				/* A wedged child: kill everyone rather than hang the suite. */
				for (int i = 0; i < npids; i++)
					if (pids[i] > 0)
						kill(pids[i], SIGKILL);
				failed = 1;
			}
			usleep(20000);
			continue;
		}
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < npids; i++)
			if (pids[i] == w)
				pids[i] = 0;
		left--;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			failed = 1;
			/* relaxed: advisory stop flag */
			shmq_store_relaxed(&sh->stop, 1);
		}
	}
	t1 = shmq_now_ns();
	shmq_ring_stats(r, &st);
	shmq_ring_close(r);
	unlink(ring_path);
	rmdir(dir);

	for (int p = 0; p < NPROD; p++) {
		struct producer_result *pr = &sh->prod[p];

		produced += pr->produced;
		printf("  producer %d: %" PRIu64 " records (%" PRIu64 " reserve/commit, %" PRIu64
		       " write, %" PRIu64 " batches), %" PRIu64 " back-pressured, %" PRIu64 " reclaimed%s%s\n",
		       p, pr->produced, pr->singles, pr->writes, pr->batches, pr->backpressured,
		       pr->reclaimed, pr->failed ? ": FAILED: " : "", pr->failed ? pr->err : "");
	}
	printf("  gating reader: %" PRIu64 " msgs, %" PRIu64 " bytes, %" PRIu64 " records (%" PRIu64
	       " batch), %" PRIu64 " waits%s%s\n",
	       sh->gate.msgs, sh->gate.bytes, sh->gate.records, sh->gate.batches, sh->gate.waits,
	       sh->gate.failed ? ": FAILED: " : "", sh->gate.failed ? sh->gate.err : "");
	for (int i = 0; i < NNG; i++)
		printf("  reader %d: %" PRIu64 " msgs, %" PRIu64 " overruns, %" PRIu64 " sequence jumps "
		       "after overrun, %" PRIu64 " waits%s%s\n",
		       i, sh->ng[i].msgs, sh->ng[i].overruns, sh->ng[i].jumps, sh->ng[i].waits,
		       sh->ng[i].failed ? ": FAILED: " : "", sh->ng[i].failed ? sh->ng[i].err : "");
	printf("  ring: tail %" PRIu64 " (%.1f laps), unblocked %" PRIu64 ", reclaimed commits %" PRIu64
	       ", back-pressured %" PRIu64 ", futex wakes %" PRIu64 "%s\n",
	       st.tail, (double)st.tail / RING_CAPACITY, st.unblocked, st.reclaimed_commits,
	       st.backpressured, st.futex_wakes, st.fenced ? ", FENCED" : "");
	printf("  %.2f s in all; the gating reader took %.2f s: %.2f M msgs/s\n", (double)(t1 - t0) / 1e9,
	       (double)(sh->t_gate_done - t0) / 1e9,
	       (double)sh->gate.msgs / ((double)(sh->t_gate_done - t0) / 1e3));
	fflush(stdout);

	assert_false(failed);
	assert_false(st.fenced);
	assert_int_equal(produced, total);
	assert_int_equal(sh->gate.msgs, produced);
	for (int p = 0; p < NPROD; p++) {
		assert_int_equal(sh->gate.count[p], sh->prod[p].produced);
		assert_int_equal(sh->gate.last_seq[p] + 1, sh->prod[p].produced);
		/* Readers that were never overrun must have seen everything. */
		for (int i = 0; i < NNG; i++)
			if (!sh->ng[i].overruns)
				assert_int_equal(sh->ng[i].count[p], sh->prod[p].produced);
	}
	/* The ring really wrapped many times and pushed back on producers. */
	assert_true(st.tail > 8ull * RING_CAPACITY);
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_producers_two_overrun_readers_and_gate_agree_on_every_record),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
