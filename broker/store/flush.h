/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flusher thread: async flushing and sync group commit, with poisoning.
 * Internal to the store.
 *
 * ## Contract
 *  - The flusher thread alone calls ops->sync_data, ops->after_flush and
 *    ops->housekeep. Any thread may call shmq_flusher_wait(),
 *    shmq_flusher_kick() and the readers of the state.
 *  - F1 group commit: one round flushes every byte below the `written`
 *    position it read when it started, and wakes every waiter whose end is
 *    at or below it; waiters arriving during a round join the next one.
 *  - F2 monotonic: `flushed` only grows, and only after sync_data returned
 *    success for every byte below the new value.
 *  - F3 poison: the first failure is recorded (its -errno kept); from then
 *    on shmq_flusher_wait() returns SHMQ_EPOISONED and `flushed` never moves.
 *  - F4 group-commit window: in a sync round, if the previous round saw
 *    k > 1 concurrent waiters, the flusher may delay the fdatasync until k
 *    waiters are pending or a bounded window (GATHER_* in flush.c) expires.
 *    It never delays for a lone waiter, and the delay only postpones an
 *    acknowledgement: F1/F2 are unchanged.
 *  - F5 targeted wake-up: each waiter sleeps on its own futex word; a round
 *    wakes only the waiters it made durable, after releasing the lock
 *    (poison and stop wake all).
 */
#ifndef SHMQ_BROKER_STORE_FLUSH_H
#define SHMQ_BROKER_STORE_FLUSH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct shmq_flush_ops {
	/* make [from, to) durable; returns the number of fdatasyncs or -errno */
	int (*sync_data)(void *arg, uint64_t from, uint64_t to);
	/* after each round that advanced `flushed` (checkpoint); 0 or -errno */
	int (*after_flush)(void *arg, uint64_t flushed, bool final);
	/* once per loop iteration (prepare the next segment); errors ignored */
	void (*housekeep)(void *arg);
};

/* A waiter in shmq_flusher_wait(), on its stack; linked under shmq_flusher.mu. */
struct shmq_flush_waiter {
	struct shmq_flush_waiter *next, *prev;
	uint64_t end;
	_Atomic uint32_t state;     /* futex word, F5 (WAITER_* in flush.c) */
	bool taken;                 /* under mu: unlinked by a round; DONE follows */
};

typedef struct shmq_flusher {
	struct shmq_flush_ops ops;
	void *arg;
	_Atomic uint64_t *written;  /* the commitlog's published end */
	bool sync_mode;
	uint64_t interval_ns;
	uint64_t dirty_bytes;

	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t work_cv;     /* flusher sleeps here */
	struct shmq_flush_waiter *waiters; /* under mu: unsorted list, F5 */
	uint32_t n_waiters;         /* under mu: length of `waiters` */
	uint32_t siblings;          /* under mu: concurrency estimate for F4 */
	uint32_t gather_target;     /* under mu: 0, or the count the flusher waits for */
	uint64_t last_sync_ns;      /* flusher only: duration of the last sync_data */
	uint64_t requested;         /* under mu: highest end a waiter asked for */
	bool stop;                  /* under mu */
	int inject;                 /* under mu: test fault for the next round */

	_Atomic uint64_t flushed;
	_Atomic int poison;         /* 0 or the -errno that poisoned */
	_Atomic uint64_t kicked_at; /* `written` at the last kick (appender-side) */
	_Atomic uint64_t n_fdatasync, n_rounds;
	_Atomic uint64_t sync_ns;   /* time inside sync_data, all rounds (statistics) */
} shmq_flusher_t;

int shmq_flusher_start(shmq_flusher_t *f, const struct shmq_flush_ops *ops, void *arg,
		       _Atomic uint64_t *written, uint64_t flushed, bool sync_mode,
		       uint32_t interval_ms, uint32_t dirty_pages);
/* Stop the thread, then run a final round (and after_flush(final=true)).
 * Returns 0 or the poison status. */
int shmq_flusher_stop(shmq_flusher_t *f);

/* Appender: wake the flusher if enough bytes are dirty (async mode). */
void shmq_flusher_note_written(shmq_flusher_t *f, uint64_t written);
/* Wait for flushed >= end. 0, -ETIMEDOUT, SHMQ_EPOISONED. */
int shmq_flusher_wait(shmq_flusher_t *f, uint64_t end, uint64_t timeout_ns);
/* Poison the store from outside the flusher (e.g. a failed write). */
void shmq_flusher_poison(shmq_flusher_t *f, int neg_errno);
void shmq_flusher_inject(shmq_flusher_t *f, int neg_errno);

static inline int shmq_flusher_poisoned(shmq_flusher_t *f)
{
	/* acquire: pairs with the release in shmq_flusher_poison() */
	return atomic_load_explicit(&f->poison, memory_order_acquire);
}
static inline uint64_t shmq_flusher_flushed(shmq_flusher_t *f)
{
	/* acquire: pairs with the release in flush_round(); F2 */
	return atomic_load_explicit(&f->flushed, memory_order_acquire);
}

#endif
