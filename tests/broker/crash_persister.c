/* SPDX-License-Identifier: Apache-2.0 */
/* Crash: a persister process is SIGKILLed mid-run, again and again, while
 * forked producers keep writing into 4 rings; each time a new process
 * re-attaches the same ring files, re-opens the store (recovery) and goes
 * on (persister.h P2). At the end every message committed to a ring is in
 * the store exactly once, in ring order, with dense queue offsets. */
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
#define NPROD 2

static char g_dir[64], g_sdir[96], g_rpath[NRINGS][96];

static const char *topic_of(unsigned r)
{
	return r < 2 ? "CrashA" : "CrashB";
}

static void store_opts(struct shmq_store_opts *so)
{
	SHMQ_STORE_OPTS(o, .dir = g_sdir, .segment_size = 1u << 20, .no_prefault = true,
			.max_msg_size = 16384, .flush_interval_ms = 20);
	*so = o;
}

/* The broker side: recover, re-attach, persist until told to finish on
 * @p ctl (one byte), then drain and shut down cleanly. */
static int persister_proc(int ctl)
{
	struct shmq_store_opts so;
	store_opts(&so);
	shmq_log_set_level(SHMQ_LOG_INFO); /* "N messages already stored" lines */
	shmq_store_t *s = NULL;
	struct shmq_store_recovery_report rep;
	int rc = shmq_store_open(&so, &s, &rep);
	if (rc != 0) {
		fprintf(stderr, "persister: store open: %s\n", shmq_strerror(rc));
		return 2;
	}
	shmq_ring_t *ring[NRINGS];
	shmq_persister_t *p = NULL;
	if (shmq_persister_create(s, NULL, &p) != 0)
		return 3;
	for (unsigned r = 0; r < NRINGS; r++) {
		if (shmq_ring_attach(g_rpath[r], &ring[r]) != 0 ||
		    shmq_persister_add_ring(p, topic_of(r), r % 2, ring[r]) != 0)
			return 4;
	}
	if (shmq_persister_start(p) != 0)
		return 5;
	char c;
	if (read(ctl, &c, 1) != 1)
		return 6;
	shmq_persister_stop(p);
	for (int i = 0; i < 1000; i++) {
		bool left = false;
		for (unsigned r = 0; r < NRINGS; r++)
			left |= shmq_ring_consumed(ring[r]) != shmq_ring_tail(ring[r]);
		if (!left)
			break;
		shmq_persister_poll_once(p);
	}
	struct shmq_persister_stats st;
	shmq_persister_stats(p, &st);
	fprintf(stderr, "  final persister: recovery %s, %" PRIu64 " messages, restart skipped %"
		PRIu64 ", mismatches %" PRIu64 "\n", rep.abnormal ? "abnormal" : "clean",
		st.messages, st.restart_skipped, st.restart_mismatch);
	shmq_persister_destroy(p);
	for (unsigned r = 0; r < NRINGS; r++)
		shmq_ring_close(ring[r]);
	if (shmq_store_close(s) != 0)
		return 7;
	return st.restart_mismatch || st.corrupt ? 8 : 0;
}

static pid_t spawn_persister(int *ctl_w)
{
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[1]);
		_exit(persister_proc(fds[0]));
	}
	close(fds[0]);
	*ctl_w = fds[1];
	return pid;
}

static int producer(unsigned id, uint64_t n, uint64_t seed)
{
	shmq_ring_t *ring[NRINGS];
	for (unsigned r = 0; r < NRINGS; r++)
		if (shmq_ring_attach(g_rpath[r], &ring[r]) != 0)
			return 2;
	uint64_t seq[NRINGS] = { 0 };
	uint64_t x = pt_mix(seed + id) | 1;
	for (;;) {
		unsigned live = 0;
		for (unsigned r = 0; r < NRINGS; r++)
			live += seq[r] < n;
		if (!live)
			break;
		x = pt_mix(x);
		unsigned r = (unsigned)(x % NRINGS);
		if (seq[r] >= n)
			continue;
		uint32_t cnt = (x >> 8) % 3 == 0 ? 1 + (uint32_t)((x >> 16) % 8) : 1;
		if (cnt > n - seq[r])
			cnt = (uint32_t)(n - seq[r]);
		int rc = pt_write(ring[r], id, seq[r], cnt, NULL, 30000);
		if (rc != 0) {
			fprintf(stderr, "producer %u ring %u: %s\n", id, r, shmq_strerror(rc));
			return 3;
		}
		seq[r] += cnt;
		if ((x >> 24) % 16 == 0)
			pt_sleep_us(300); /* pace: the run must span several kills */
	}
	for (unsigned r = 0; r < NRINGS; r++)
		shmq_ring_close(ring[r]);
	return 0;
}

static void test_sigkilled_persister_restarts_and_stores_every_message_once(void **state)
{
	(void)state;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16);
	if (getenv("SHMQ_SEED"))
		seed = strtoull(getenv("SHMQ_SEED"), NULL, 0);
	fprintf(stderr, "%s: seed %" PRIu64 " (SHMQ_SEED to replay)\n", __func__, seed);
	uint64_t n = 8000u * (uint64_t)pt_scale();
	unsigned kills = 16u * (unsigned)pt_scale();

	strcpy(g_dir, "/tmp/shmq_pcrash_XXXXXX");
	assert_non_null(mkdtemp(g_dir));
	snprintf(g_sdir, sizeof(g_sdir), "%s/store", g_dir);
	for (unsigned r = 0; r < NRINGS; r++) {
		snprintf(g_rpath[r], sizeof(g_rpath[r]), "%s/ring%u", g_dir, r);
		SHMQ_RING_OPTS(ro, .capacity = 1u << 16, .prefault = false);
		shmq_ring_t *rg;
		assert_int_equal(shmq_ring_create(g_rpath[r], &ro, &rg), 0);
		shmq_ring_close(rg);
	}
	pid_t prod[NPROD];
	for (unsigned i = 0; i < NPROD; i++) {
		prod[i] = fork();
		assert_true(prod[i] >= 0);
		if (prod[i] == 0)
			_exit(producer(i, n, seed));
	}
	uint64_t x = pt_mix(seed) | 1;
	for (unsigned k = 0; k < kills; k++) {
		int ctl;
		pid_t pp = spawn_persister(&ctl);
		x = pt_mix(x);
		pt_sleep_us(10000 + (unsigned)(x % 80000));
		assert_int_equal(kill(pp, SIGKILL), 0);
		int st;
		assert_int_equal(waitpid(pp, &st, 0), pp);
		close(ctl);
	}
	int ctl;
	pid_t pp = spawn_persister(&ctl);
	for (unsigned i = 0; i < NPROD; i++) {
		int st = 0;
		assert_int_equal(waitpid(prod[i], &st, 0), prod[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	assert_int_equal(write(ctl, "q", 1), 1);
	int st = 0;
	assert_int_equal(waitpid(pp, &st, 0), pp);
	close(ctl);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);

	struct shmq_store_opts so;
	store_opts(&so);
	shmq_store_t *s = NULL;
	assert_int_equal(shmq_store_open(&so, &s, NULL), 0);
	uint64_t expect[NPROD];
	for (unsigned i = 0; i < NPROD; i++)
		expect[i] = n;
	for (unsigned r = 0; r < NRINGS; r++) {
		assert_int_equal(pt_check_queue(s, topic_of(r), r % 2, expect, NPROD),
				 (int64_t)(n * NPROD));
		/* P3 across kills: every persisted message still in the ring names
		 * its stored copy, also those a killed run appended but did not
		 * write back (filled by the next run) */
		shmq_ring_t *rg;
		assert_int_equal(shmq_ring_attach(g_rpath[r], &rg), 0);
		int64_t checked = pt_check_ring_results(s, rg, topic_of(r), r % 2);
		assert_true(checked >= 0);
		fprintf(stderr, "  ring %u: result words of %" PRId64 " messages checked\n", r, checked);
		shmq_ring_close(rg);
	}
	assert_int_equal(shmq_store_close(s), 0);
	shmq_test_rmtree(g_dir);
}

int main(void)
{
	shmq_log_set_level(SHMQ_LOG_WARN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigkilled_persister_restarts_and_stores_every_message_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
