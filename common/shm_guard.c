/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/shm_guard.h"

struct guard_slot {
	_Atomic uintptr_t start;   /* 0: free */
	_Atomic size_t len;
	_Atomic uint32_t tripped;  /* 0 -> 1 by the handler that replaces the region */
};

static struct guard_slot slots[SHMQ_SHM_GUARD_MAX];
/* Slots ever used: the handler scans [0, used). Only grows. */
static _Atomic uint32_t used;
static _Atomic uint64_t trips;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction previous;
/* The calling thread's shmq_shm_guard_try(), if one runs. */
static _Thread_local sigjmp_buf *try_env;

static void say(const char *s)
{
	/* write(2) is async-signal-safe; the log is best effort here */
	if (write(STDERR_FILENO, s, strlen(s)) < 0) {
		/* nothing else to do in a signal handler */
	}
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	/* acquire: pairs with the release increment in shmq_shm_guard_add() */
	uint32_t n = atomic_load_explicit(&used, memory_order_acquire);

	(void)sig;
	(void)uc;
	for (uint32_t i = 0; i < n; i++) {
		/* acquire: pairs with the release store of start in add(), which
		 * follows the store of len */
		uintptr_t s = atomic_load_explicit(&slots[i].start, memory_order_acquire);
		/* relaxed: ordered by the acquire load of start above */
		size_t len = atomic_load_explicit(&slots[i].len, memory_order_relaxed);
		uint32_t zero = 0;

		if (!s || a < s || a - s >= len)
			continue;
		/* acq_rel: one handler replaces the region; the others (threads
		 * that faulted on it too) return and retry until it is there */
		if (!atomic_compare_exchange_strong_explicit(&slots[i].tripped, &zero, 1,
							     memory_order_acq_rel, memory_order_acquire))
			return;
		if (mmap((void *)s, len, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0) == MAP_FAILED)
			break; /* cannot repair: die as before */
		memset((void *)s, 0xff, len);
		/* relaxed: a statistic */
		atomic_fetch_add_explicit(&trips, 1, memory_order_relaxed);
		say("shmq: a shared file shrank under the broker's mapping; the region was replaced by "
		    "private memory and its ring or offset table is fenced\n");
		return;
	}
	/* A region being mapped and checked, not guarded yet: the attempt fails */
	if (try_env)
		siglongjmp(*try_env, 1);
	/* Not ours (or not repairable): the previous disposition takes the
	 * retried access. */
	sigaction(SIGBUS, &previous, NULL);
}

int shmq_shm_guard_try(int (*fn)(void *arg), void *arg)
{
	sigjmp_buf env;
	sigjmp_buf *volatile outer = try_env;

	/* savemask: the handler runs with SIGBUS blocked; the jump unblocks it */
	if (sigsetjmp(env, 1)) {
		try_env = outer;
		return -EFAULT;
	}
	try_env = &env;
	int rc = fn(arg);
	try_env = outer;
	return rc;
}

int shmq_shm_guard_install(void)
{
	struct sigaction sa;
	int rc = 0;

	pthread_mutex_lock(&mu);
	/* Ours already, unless someone replaced it since (then ours goes on
	 * top again and chains to theirs). */
	if (sigaction(SIGBUS, NULL, &sa) == 0 && (sa.sa_flags & SA_SIGINFO) && sa.sa_sigaction == on_sigbus) {
		pthread_mutex_unlock(&mu);
		return 0;
	}
	{
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		if (sigaction(SIGBUS, &sa, &previous) != 0)
			rc = -errno;
	}
	pthread_mutex_unlock(&mu);
	return rc;
}

int shmq_shm_guard_add(void *addr, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	int slot = -ENOSPC;

	if (!addr || !len || page <= 0 || (uintptr_t)addr % (uintptr_t)page)
		return -EINVAL;
	pthread_mutex_lock(&mu);
	/* relaxed: used and start only change under mu */
	uint32_t n = atomic_load_explicit(&used, memory_order_relaxed);
	for (uint32_t i = 0; i < SHMQ_SHM_GUARD_MAX; i++) {
		if (i < n && atomic_load_explicit(&slots[i].start, memory_order_relaxed))
			continue;
		/* relaxed: published by the release store of start below */
		atomic_store_explicit(&slots[i].len, len, memory_order_relaxed);
		atomic_store_explicit(&slots[i].tripped, 0, memory_order_relaxed);
		/* release: pairs with the handler's acquire load of start */
		atomic_store_explicit(&slots[i].start, (uintptr_t)addr, memory_order_release);
		if (i >= n) /* release: pairs with the handler's acquire load of used */
			atomic_store_explicit(&used, i + 1, memory_order_release);
		slot = (int)i;
		break;
	}
	pthread_mutex_unlock(&mu);
	return slot;
}

void shmq_shm_guard_remove(int slot)
{
	if (slot < 0 || (unsigned)slot >= SHMQ_SHM_GUARD_MAX)
		return;
	pthread_mutex_lock(&mu);
	/* release: pairs with the handler's acquire load of start (it stops
	 * matching this region before the caller unmaps it) */
	atomic_store_explicit(&slots[slot].start, 0, memory_order_release);
	pthread_mutex_unlock(&mu);
}

bool shmq_shm_guard_tripped(int slot)
{
	if (slot < 0 || (unsigned)slot >= SHMQ_SHM_GUARD_MAX)
		return false;
	/* acquire: pairs with the handler's CAS; the replacement is in place
	 * once the handler returned to the faulting thread */
	return atomic_load_explicit(&slots[slot].tripped, memory_order_acquire) != 0;
}

uint64_t shmq_shm_guard_trips(void)
{
	/* relaxed: a statistic */
	return atomic_load_explicit(&trips, memory_order_relaxed);
}
