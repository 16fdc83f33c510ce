/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "broker/store/flush.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "ebpf/probes.h"
#include "shmq/error.h"

/*
 * F4, the group-commit window (PostgreSQL's commit_delay/commit_siblings
 * idea, made adaptive). On 2 cores, 16 appenders re-append slowly after a
 * round (each futex wake-up costs 25-30 us), so a round started as soon as
 * the first of them asked covered only ~9 records. The flusher now waits for
 * about as many waiters as the estimate `siblings`, for at most the last
 * sync's duration and at most GATHER_MAX_NS: a delay of d buys a larger
 * fdatasync, which costs much less than two small ones. A lone appender
 * (estimate <= 1) is never delayed. Measured (bench store --quick, 3 runs
 * each, 2026-11-24): records per fdatasync 8.8 -> 16.0 with 16 appenders and
 * 2.2 -> 4.0 with 4; records/s +5-20 % (noisy); 1 appender unchanged.
 * Re-measured after commitlog.h L5/L6 made an fdatasync cheap (~110-250 us
 * for 1 to 16 records): with the window or without it (starting a round as
 * soon as one waiter asks, ~5.5 records per fdatasync) 16 appenders reach
 * the same records/s within noise (medians of 5 alternated runs 34-37 k/s),
 * so the window stays: it needs 3x fewer fdatasyncs for the same work.
 *
 * Pipelining (a second flusher thread starting the next round while one is
 * inside fdatasync, each thread on its own file descriptor so that a
 * writeback error could not be consumed by the other's sync) was built and
 * measured, and not kept: two fdatasyncs of one file do overlap in the
 * kernel here (two threads, 4 KiB base pages, pre-written blocks: 1.4-4x the
 * syncs per second of one), but the store's 16 appenders are bound by CPU
 * (~20 us of context switches per record on 2 vCPUs), not by the device;
 * medians of 6 alternated runs were 35 k/s with two lanes vs 39 k/s with one.
 */
#define GATHER_MAX_NS 200000ull

/* Private futex: the waiter word lives on a waiting thread's stack. */
static void futex_wait_until(_Atomic uint32_t *word, uint32_t expected, const struct timespec *abs)
{
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline (NULL: none) */
	(void)syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, expected, abs, NULL,
		      FUTEX_BITSET_MATCH_ANY);
}

static void futex_wake_one(_Atomic uint32_t *word)
{
	(void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/*
 * F5: a broadcast on one shared condition variable woke every waiter after
 * each round, including those that had arrived during the sync and were not
 * yet durable: on 2 cores those futile wake-ups (25-30 us each) delayed the
 * appenders the next round needed. Each waiter now sleeps on its own word
 * and only the ones a round made durable are woken.
 *
 * The wake-ups are issued after `mu` is released: a waiter woken while the
 * waker held `mu` (as pthread_cond_signal under the mutex does) ran only to
 * block again on `mu` — two context switches per record instead of one, the
 * largest single cost in a profile of 16 appenders (perf: schedule() and
 * try_to_wake_up() ~55 % of the samples). A durable waiter is unlinked
 * under `mu`; the waker then reads its `next` and stores WAITER_DONE
 * (release) as its last access to the waiter, which may return and reuse
 * that stack at once. The futex wake that follows may therefore reach a
 * reused address: at worst a spurious wake-up, which every futex user
 * tolerates.
 */
enum { WAITER_SLEEPING = 0, WAITER_DONE = 1, WAITER_RECHECK = 2 };

/* Unlink the waiters now durable into a chain (through `next`); mu held. */
static struct shmq_flush_waiter *take_durable_locked(shmq_flusher_t *f, uint64_t flushed)
{
	struct shmq_flush_waiter *w = f->waiters, *next, *chain = NULL;
	for (; w; w = next) {
		next = w->next;
		if (w->end > flushed)
			continue;
		if (w->prev)
			w->prev->next = w->next;
		else
			f->waiters = w->next;
		if (w->next)
			w->next->prev = w->prev;
		f->n_waiters--;
		w->taken = true;
		w->next = chain;
		chain = w;
	}
	return chain;
}

/* Wake a chain from take_durable_locked(); mu NOT held. */
static void wake_chain(struct shmq_flush_waiter *w)
{
	while (w) {
		struct shmq_flush_waiter *next = w->next;
		_Atomic uint32_t *word = &w->state;
		/* release: pairs with the acquire in shmq_flusher_wait(); the
		 * last access to *w (the waiter may return from here on) */
		atomic_store_explicit(word, WAITER_DONE, memory_order_release);
		futex_wake_one(word);
		w = next;
	}
}

/* Poison and stop: every linked waiter re-checks; mu held, so none of them
 * can unlink itself and return while we touch it. */
static void wake_all_locked(shmq_flusher_t *f)
{
	for (struct shmq_flush_waiter *w = f->waiters; w; w = w->next) {
		/* relaxed: the waiter reads it again under mu before acting on it */
		atomic_store_explicit(&w->state, WAITER_RECHECK, memory_order_relaxed);
		futex_wake_one(&w->state);
	}
}

void shmq_flusher_poison(shmq_flusher_t *f, int neg_errno)
{
	int expect = 0;
	/* release: pairs with the acquire in shmq_flusher_poisoned(); first error wins */
	atomic_compare_exchange_strong_explicit(&f->poison, &expect, neg_errno ? neg_errno : -EIO,
						memory_order_release, memory_order_relaxed);
	pthread_mutex_lock(&f->mu);
	wake_all_locked(f);
	pthread_mutex_unlock(&f->mu);
}

/* One round (flusher thread, or close after the thread stopped). mu NOT held. */
static int flush_round(shmq_flusher_t *f, int inject, bool final)
{
	if (shmq_flusher_poisoned(f))
		return SHMQ_EPOISONED;
	/* acquire: pairs with the release in shmq_cl_publish(); the bytes we sync are complete */
	uint64_t target = atomic_load_explicit(f->written, memory_order_acquire);
	uint64_t from = shmq_flusher_flushed(f);
	int rc = 0;
	if (target > from) {
		uint64_t t0 = shmq_now_ns();
		rc = inject ? inject : f->ops.sync_data(f->arg, from, target);
		f->last_sync_ns = shmq_now_ns() - t0;
		/* relaxed: statistics */
		atomic_fetch_add_explicit(&f->sync_ns, f->last_sync_ns, memory_order_relaxed);
		if (rc < 0) {
			shmq_flusher_poison(f, rc);
			return SHMQ_EPOISONED;
		}
		/* relaxed: statistics */
		atomic_fetch_add_explicit(&f->n_fdatasync, (uint64_t)rc, memory_order_relaxed);
		atomic_fetch_add_explicit(&f->n_rounds, 1, memory_order_relaxed);
		SHMQ_PROBE_FLUSH(target - from, f->last_sync_ns);
		pthread_mutex_lock(&f->mu);
		/* F4 estimate: the waiters now pending are the ones this round
		 * serves plus those that arrived during its sync, i.e. the
		 * appenders that were concurrently active. A drop only halves
		 * the gap per round, so one short round does not lose the
		 * estimate, while a lone appender after a burst pays the window
		 * for a few rounds only. */
		uint32_t n = f->n_waiters;
		f->siblings = n >= f->siblings ? n : n + (f->siblings - n) / 2;
		/* release: pairs with the acquire in shmq_flusher_flushed() (F2) */
		atomic_store_explicit(&f->flushed, target, memory_order_release);
		struct shmq_flush_waiter *durable = take_durable_locked(f, target);
		pthread_mutex_unlock(&f->mu);
		wake_chain(durable); /* F5: outside mu */
	}
	if (f->ops.after_flush) {
		rc = f->ops.after_flush(f->arg, shmq_flusher_flushed(f), final);
		if (rc < 0) {
			shmq_flusher_poison(f, rc);
			return SHMQ_EPOISONED;
		}
	}
	return 0;
}

static void *flusher_main(void *arg)
{
	shmq_flusher_t *f = arg;
	uint64_t last = shmq_now_ns();
	pthread_mutex_lock(&f->mu);
	while (!f->stop) {
		/* acquire: pairs with the release in shmq_cl_publish() */
		uint64_t w = atomic_load_explicit(f->written, memory_order_acquire);
		uint64_t fl = shmq_flusher_flushed(f);
		bool due = f->requested > fl ||
			   (!f->sync_mode && w > fl &&
			    (w - fl >= f->dirty_bytes || shmq_now_ns() - last >= f->interval_ns));
		if (shmq_flusher_poisoned(f))
			due = false; /* F3: nothing more to do; do not spin on the request */
		if (!due) {
			struct timespec ts;
			/* sync mode still wakes up now and then for housekeeping */
			shmq_mono_deadline(&ts, f->sync_mode ? 100000000ull : f->interval_ns);
			pthread_cond_timedwait(&f->work_cv, &f->mu, &ts);
			if (f->stop)
				break;
			pthread_mutex_unlock(&f->mu);
			if (f->ops.housekeep)
				f->ops.housekeep(f->arg);
			pthread_mutex_lock(&f->mu);
			continue;
		}
		if (f->requested > fl && f->siblings > 1 && f->n_waiters < f->siblings) {
			/* F4: gather about `siblings` waiters, bounded */
			uint64_t win = f->last_sync_ns < GATHER_MAX_NS ? f->last_sync_ns : GATHER_MAX_NS;
			struct timespec ts;
			shmq_mono_deadline(&ts, win);
			f->gather_target = f->siblings;
			while (!f->stop && f->n_waiters < f->gather_target && !shmq_flusher_poisoned(f))
				if (pthread_cond_timedwait(&f->work_cv, &f->mu, &ts) == ETIMEDOUT)
					break;
			f->gather_target = 0;
			if (f->stop)
				break; /* shmq_flusher_stop() runs the final round */
			/* acquire: pairs with the release in shmq_cl_publish() */
			w = atomic_load_explicit(f->written, memory_order_acquire);
		}
		int inject = 0;
		if (w > fl) { /* a fault is injected into a round that really syncs */
			inject = f->inject;
			f->inject = 0;
		}
		pthread_mutex_unlock(&f->mu);
		last = shmq_now_ns();
		(void)flush_round(f, inject, false);
		if (f->ops.housekeep)
			f->ops.housekeep(f->arg);
		pthread_mutex_lock(&f->mu);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int shmq_flusher_start(shmq_flusher_t *f, const struct shmq_flush_ops *ops, void *arg,
		       _Atomic uint64_t *written, uint64_t flushed, bool sync_mode,
		       uint32_t interval_ms, uint32_t dirty_pages)
{
	memset(f, 0, sizeof(*f));
	f->ops = *ops;
	f->arg = arg;
	f->written = written;
	f->sync_mode = sync_mode;
	f->interval_ns = (uint64_t)interval_ms * 1000000ull;
	f->dirty_bytes = (uint64_t)dirty_pages * 4096u;
	atomic_init(&f->flushed, flushed);
	atomic_init(&f->poison, 0);
	atomic_init(&f->kicked_at, flushed);
	atomic_init(&f->n_fdatasync, 0);
	atomic_init(&f->n_rounds, 0);
	atomic_init(&f->sync_ns, 0);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->work_cv, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&f->thread, NULL, flusher_main, f);
	if (rc)
		return -rc;
	f->started = true;
	return 0;
}

int shmq_flusher_stop(shmq_flusher_t *f)
{
	if (f->started) {
		pthread_mutex_lock(&f->mu);
		f->stop = true;
		pthread_cond_signal(&f->work_cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->thread, NULL);
		f->started = false;
	}
	int rc = flush_round(f, 0, true);
	pthread_mutex_lock(&f->mu);
	wake_all_locked(f);
	pthread_mutex_unlock(&f->mu);
	pthread_cond_destroy(&f->work_cv);
	pthread_mutex_destroy(&f->mu);
	return rc;
}

void shmq_flusher_note_written(shmq_flusher_t *f, uint64_t written)
{
	if (f->sync_mode)
		return;
	/* relaxed: only the appender touches kicked_at; it rate-limits signals */
	uint64_t k = atomic_load_explicit(&f->kicked_at, memory_order_relaxed);
	if (written - k < f->dirty_bytes)
		return;
	atomic_store_explicit(&f->kicked_at, written, memory_order_relaxed);
	pthread_mutex_lock(&f->mu);
	pthread_cond_signal(&f->work_cv);
	pthread_mutex_unlock(&f->mu);
}

/* Unlink @p me (timed out or poisoned, still linked); mu held. */
static void unlink_self_locked(shmq_flusher_t *f, struct shmq_flush_waiter *me)
{
	if (me->prev)
		me->prev->next = me->next;
	else
		f->waiters = me->next;
	if (me->next)
		me->next->prev = me->prev;
	f->n_waiters--;
}

int shmq_flusher_wait(shmq_flusher_t *f, uint64_t end, uint64_t timeout_ns)
{
	if (shmq_flusher_poisoned(f))
		return SHMQ_EPOISONED;
	if (shmq_flusher_flushed(f) >= end)
		return 0;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	struct timespec ts;
	bool forever = timeout_ns == UINT64_MAX;
	if (!forever)
		shmq_mono_deadline(&ts, timeout_ns);
	struct shmq_flush_waiter me = { .end = end };
	atomic_init(&me.state, WAITER_SLEEPING);
	int rc = 0;
	pthread_mutex_lock(&f->mu);
	/* re-check under mu: a round stores `flushed` and unlinks under mu */
	if (shmq_flusher_flushed(f) >= end) {
		pthread_mutex_unlock(&f->mu);
		return 0;
	}
	me.next = f->waiters;
	if (me.next)
		me.next->prev = &me;
	f->waiters = &me;
	f->n_waiters++;
	bool wake = false;
	if (f->requested < end) {
		f->requested = end;
		wake = f->gather_target == 0; /* a gathering flusher wants the count */
	}
	if (f->gather_target && f->n_waiters >= f->gather_target)
		wake = true;
	if (wake)
		pthread_cond_signal(&f->work_cv);
	pthread_mutex_unlock(&f->mu);
	bool expired = false;
	for (;;) {
		/* acquire: pairs with the release in wake_chain(); the round's
		 * `flushed` store is visible */
		uint32_t st = atomic_load_explicit(&me.state, memory_order_acquire);
		if (st == WAITER_DONE)
			break; /* unlinked by the round that made us durable */
		if (st == WAITER_RECHECK || expired || shmq_flusher_poisoned(f)) {
			pthread_mutex_lock(&f->mu);
			if (me.taken) {
				/* a round unlinked us and is about to store DONE: its
				 * store is its last access to `me`, so wait for it */
				pthread_mutex_unlock(&f->mu);
				/* acquire: as above */
				while ((st = atomic_load_explicit(&me.state, memory_order_acquire)) !=
				       WAITER_DONE)
					futex_wait_until(&me.state, st, NULL);
				break;
			}
			if (shmq_flusher_poisoned(f) || expired) {
				unlink_self_locked(f, &me);
				pthread_mutex_unlock(&f->mu);
				rc = expired ? -ETIMEDOUT : SHMQ_EPOISONED;
				break;
			}
			/* relaxed: RECHECK is only written under mu, which we hold */
			atomic_store_explicit(&me.state, WAITER_SLEEPING, memory_order_relaxed);
			pthread_mutex_unlock(&f->mu);
			continue;
		}
		futex_wait_until(&me.state, WAITER_SLEEPING, forever ? NULL : &ts);
		if (!forever) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			expired = now.tv_sec > ts.tv_sec ||
				  (now.tv_sec == ts.tv_sec && now.tv_nsec >= ts.tv_nsec);
		}
	}
	if (shmq_flusher_poisoned(f))
		return SHMQ_EPOISONED; /* S4: never report durable what is not */
	if (rc == -ETIMEDOUT && shmq_flusher_flushed(f) >= end)
		rc = 0;
	return rc;
}

void shmq_flusher_inject(shmq_flusher_t *f, int neg_errno)
{
	pthread_mutex_lock(&f->mu);
	f->inject = neg_errno;
	pthread_mutex_unlock(&f->mu);
}
