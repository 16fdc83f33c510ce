/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common/shm_guard: a shared file shrunk under a guarded mapping is replaced
 * by 0xff-filled private memory instead of killing the process; unguarded
 * faults keep their old fate.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/shm_guard.h"

#define LEN (64u * 1024u)

struct mapped {
	char path[64];
	int fd;
	volatile uint8_t *p;
};

static void map_file(struct mapped *m)
{
	snprintf(m->path, sizeof(m->path), "/dev/shm/shmq-guard-test-XXXXXX");
	m->fd = mkstemp(m->path);
	assert_true(m->fd >= 0);
	assert_int_equal(ftruncate(m->fd, LEN), 0);
	m->p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	assert_true(m->p != MAP_FAILED);
	memset((void *)m->p, 0x11, LEN);
}

static void unmap_file(struct mapped *m)
{
	munmap((void *)m->p, LEN);
	close(m->fd);
	unlink(m->path);
}

static void test_shrunk_file_under_a_guarded_region_reads_as_0xff_and_trips_only_that_region(void **state)
{
	struct mapped a, b;
	uint64_t trips = shmq_shm_guard_trips();

	(void)state;
	assert_int_equal(shmq_shm_guard_install(), 0);
	map_file(&a);
	map_file(&b);
	int sa = shmq_shm_guard_add((void *)a.p, LEN);
	int sb = shmq_shm_guard_add((void *)b.p, LEN);
	assert_true(sa >= 0 && sb >= 0 && sa != sb);
	/* a client shrinks a's file: the next access past the end faults */
	assert_int_equal(ftruncate(a.fd, 0), 0);
	assert_int_equal(a.p[8192], 0xff);
	assert_int_equal(a.p[0], 0xff); /* the whole region was replaced */
	a.p[100] = 7;                   /* and is writable (private now) */
	assert_int_equal(a.p[100], 7);
	assert_true(shmq_shm_guard_tripped(sa));
	assert_false(shmq_shm_guard_tripped(sb));
	assert_int_equal(shmq_shm_guard_trips(), trips + 1);
	/* b still maps its file */
	assert_int_equal(b.p[8192], 0x11);
	shmq_shm_guard_remove(sa);
	shmq_shm_guard_remove(sb);
	unmap_file(&a);
	unmap_file(&b);
}

/* In a child: a fault in a region that was never guarded, or (@p add_then_remove)
 * one guarded and removed again. Returns the wait status. */
static int fault_in_child(int add_then_remove)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct mapped m;

		/* cmocka catches SIGBUS to fail a test: the guard must chain
		 * to the default action here, as in a plain process */
		signal(SIGBUS, SIG_DFL);
		if (shmq_shm_guard_install() != 0)
			_exit(2);
		snprintf(m.path, sizeof(m.path), "/dev/shm/shmq-guard-child-XXXXXX");
		m.fd = mkstemp(m.path);
		if (m.fd < 0 || ftruncate(m.fd, LEN) != 0)
			_exit(2);
		unlink(m.path);
		m.p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
		if (m.p == MAP_FAILED)
			_exit(2);
		if (add_then_remove) {
			int s = shmq_shm_guard_add((void *)m.p, LEN);
			if (s < 0)
				_exit(2);
			shmq_shm_guard_remove(s);
		}
		if (ftruncate(m.fd, 0) != 0)
			_exit(2);
		_exit(m.p[4096] == 0xff ? 0 : 1); /* must not get here */
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static void test_fault_outside_every_region_keeps_its_old_fate(void **state)
{
	(void)state;
	int st = fault_in_child(0);
	/* SIGBUS by default; ASan (abort_on_error) reports it and aborts */
	assert_true(WIFSIGNALED(st));
	assert_true(WTERMSIG(st) == SIGBUS || WTERMSIG(st) == SIGABRT);
}

static void test_removed_region_is_no_longer_guarded(void **state)
{
	(void)state;
	int st = fault_in_child(1);
	assert_true(WIFSIGNALED(st));
	assert_true(WTERMSIG(st) == SIGBUS || WTERMSIG(st) == SIGABRT);
}

static int read_page_one(void *arg)
{
	const struct mapped *m = arg;
	return m->p[4096] == 0x11 ? 0 : 1;
}

/* A file mapped but not guarded yet (a ring being attached) that shrinks
 * before its first read: the read ends the attempt with -EFAULT, the process
 * lives, and the next attempt (SIGBUS unblocked again) works the same. */
static void test_a_fault_inside_guard_try_ends_the_attempt_not_the_process(void **state)
{
	(void)state;
	assert_int_equal(shmq_shm_guard_install(), 0);
	struct mapped m;
	map_file(&m);
	assert_int_equal(shmq_shm_guard_try(read_page_one, &m), 0);
	assert_int_equal(ftruncate(m.fd, 0), 0);
	assert_int_equal(shmq_shm_guard_try(read_page_one, &m), -EFAULT);
	assert_int_equal(shmq_shm_guard_try(read_page_one, &m), -EFAULT);
	unmap_file(&m);
	/* outside a try, a fault outside every region keeps its old fate */
	int st = fault_in_child(0);
	assert_true(WIFSIGNALED(st));
}

static void test_add_refuses_unaligned_or_empty_regions(void **state)
{
	static uint8_t buf[8192] __attribute__((aligned(4096)));

	(void)state;
	assert_int_equal(shmq_shm_guard_add(buf + 1, 100), -EINVAL);
	assert_int_equal(shmq_shm_guard_add(buf, 0), -EINVAL);
	assert_int_equal(shmq_shm_guard_add(NULL, 4096), -EINVAL);
	assert_false(shmq_shm_guard_tripped(-1));
	shmq_shm_guard_remove(-1); /* ignored */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shrunk_file_under_a_guarded_region_reads_as_0xff_and_trips_only_that_region),
		cmocka_unit_test(test_fault_outside_every_region_keeps_its_old_fate),
		cmocka_unit_test(test_removed_region_is_no_longer_guarded),
		cmocka_unit_test(test_add_refuses_unaligned_or_empty_regions),
		cmocka_unit_test(test_a_fault_inside_guard_try_ends_the_attempt_not_the_process),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
