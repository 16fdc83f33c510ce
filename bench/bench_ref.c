/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ring.h>

#include "bench/bench_ref.h"
#include "bench/bench_util.h"
#include "common/atomic.h"
#include "common/clock.h"

/* ------------------------------------------------------------------ */
/* Cache-line ping-pong                                                */

struct pingpong {
	alignas(64) _Atomic uint64_t word;
	alignas(64) int cpu_b;
	unsigned iters, rounds;
};

/* Thread B answers every odd value v with v + 1. */
static void *cl_responder(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t want = 1, last = 2ull * pp->iters * pp->rounds;
	unsigned spins = 0;

	bench_pin(pp->cpu_b);
	while (want < last) {
		/* acquire: pairs with the initiator's release store of the odd value */
		if (shmq_load_acquire(&pp->word) != want) {
			bench_backoff(&spins);
			continue;
		}
		spins = 0;
		/* release: pairs with the initiator's acquire wait for want + 1 */
		shmq_store_release(&pp->word, want + 1);
		want += 2;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bench_ref_cacheline_ns(int cpu_a, int cpu_b, unsigned rounds, unsigned iters)
{
	struct pingpong *pp = aligned_alloc(64, sizeof(*pp));
	double *per_round = calloc(rounds, sizeof(double)), med;
	pthread_t th;
	uint64_t v = 1;

	if (!pp || !per_round) {
		free(pp);
		free(per_round);
		return -ENOMEM;
	}
	memset(pp, 0, sizeof(*pp));
	pp->cpu_b = cpu_b;
	pp->iters = iters;
	pp->rounds = rounds;
	bench_pin(cpu_a);
	if (pthread_create(&th, NULL, cl_responder, pp)) {
		free(pp);
		free(per_round);
		return -EAGAIN;
	}
	for (unsigned r = 0; r < rounds; r++) {
		uint64_t t0 = bench_ticks();

		for (unsigned i = 0; i < iters; i++, v += 2) {
			unsigned spins = 0;

			/* release: pairs with the responder's acquire load */
			shmq_store_release(&pp->word, v);
			/* acquire: pairs with the responder's release store of v + 1 */
			while (shmq_load_acquire(&pp->word) != v + 1)
				bench_backoff(&spins);
		}
		per_round[r] = bench_ticks_to_ns((double)(bench_ticks() - t0)) / (2.0 * iters);
	}
	pthread_join(th, NULL);
	qsort(per_round, rounds, sizeof(double), cmp_double);
	med = per_round[rounds / 2];
	free(per_round);
	free(pp);
	return med;
}

/* ------------------------------------------------------------------ */
/* DPDK rte_ring                                                       */

#define RTE_REF_RING_SIZE 1024u
#define RTE_REF_PINGPONG_ITERS 200000u

struct rte_ref {
	struct rte_ring *a;              /* throughput: main -> helper */
	struct rte_ring *ping, *pong;    /* latency: main -> helper -> main */
	int cpu_b;
	alignas(64) _Atomic int stop;    /* throughput phase: producer asks the consumer to finish */
	alignas(64) _Atomic uint64_t produced;
	uint64_t consumed;
	uint64_t t_end;
};

static struct rte_ring *rte_ref_ring(const char *name)
{
	ssize_t sz = rte_ring_get_memsize(RTE_REF_RING_SIZE);
	struct rte_ring *r;

	if (sz < 0)
		return NULL;
	r = aligned_alloc(RTE_CACHE_LINE_SIZE, ((size_t)sz + RTE_CACHE_LINE_SIZE - 1) &
					       ~(size_t)(RTE_CACHE_LINE_SIZE - 1));
	if (!r)
		return NULL;
	if (rte_ring_init(r, name, RTE_REF_RING_SIZE, RING_F_SP_ENQ | RING_F_SC_DEQ) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

static void rte_ref_free(struct rte_ref *x)
{
	free(x->a);
	free(x->ping);
	free(x->pong);
	free(x);
}

/* Consumer of the throughput phase, then the echo side of the ping-pong. */
static void *rte_ref_helper(void *arg)
{
	struct rte_ref *x = arg;
	uint64_t n = 0;
	unsigned spins = 0;
	void *obj;

	bench_pin(x->cpu_b);
	for (;;) {
		if (rte_ring_sc_dequeue(x->a, &obj) == 0) {
			n++;
			spins = 0;
			continue;
		}
		/* acquire: pairs with the producer's release of `produced` before `stop` */
		if (atomic_load_explicit(&x->stop, memory_order_acquire) &&
		    n == shmq_load_relaxed(&x->produced))
			break;
		bench_backoff(&spins);
	}
	x->t_end = bench_ticks();
	x->consumed = n;
	for (unsigned i = 0; i < RTE_REF_PINGPONG_ITERS; i++) {
		spins = 0;
		while (rte_ring_sc_dequeue(x->ping, &obj) != 0)
			bench_backoff(&spins);
		spins = 0;
		while (rte_ring_sp_enqueue(x->pong, obj) != 0)
			bench_backoff(&spins);
	}
	return NULL;
}

int bench_ref_rte_ring(int cpu_a, int cpu_b, double seconds, struct bench_rte_ring_result *out)
{
	struct rte_ref *x = aligned_alloc(64, sizeof(*x));
	pthread_t th;
	uint64_t n = 0, t0, deadline, p0;
	unsigned spins = 0;
	void *obj;

	if (!x)
		return -ENOMEM;
	memset(x, 0, sizeof(*x));
	x->cpu_b = cpu_b;
	x->a = rte_ref_ring("shmq_ref_a");
	x->ping = rte_ref_ring("shmq_ref_ping");
	x->pong = rte_ref_ring("shmq_ref_pong");
	if (!x->a || !x->ping || !x->pong) {
		rte_ref_free(x);
		return -ENOMEM;
	}
	bench_pin(cpu_a);
	if (pthread_create(&th, NULL, rte_ref_helper, x)) {
		rte_ref_free(x);
		return -EAGAIN;
	}
	t0 = bench_ticks();
	deadline = t0 + bench_ns_to_ticks(seconds * 1e9);
	for (;;) {
		if (rte_ring_sp_enqueue(x->a, (void *)(uintptr_t)(n + 1)) == 0) {
			n++;
			spins = 0;
			if ((n & 1023) == 0 && bench_ticks() > deadline)
				break;
			continue;
		}
		bench_backoff(&spins);
	}
	/* relaxed: published by the release store of `stop` below */
	shmq_store_relaxed(&x->produced, n);
	/* release: pairs with the helper's acquire load; publishes `produced` */
	atomic_store_explicit(&x->stop, 1, memory_order_release);

	/* Ping-pong: one pointer out on ping, back on pong. */
	p0 = 0;
	for (unsigned i = 0; i < RTE_REF_PINGPONG_ITERS; i++) {
		if (i == RTE_REF_PINGPONG_ITERS / 10)
			p0 = bench_ticks(); /* the first 10% warm up */
		spins = 0;
		while (rte_ring_sp_enqueue(x->ping, (void *)(uintptr_t)(i + 1)) != 0)
			bench_backoff(&spins);
		spins = 0;
		while (rte_ring_sc_dequeue(x->pong, &obj) != 0)
			bench_backoff(&spins);
	}
	out->pingpong_ns = bench_ticks_to_ns((double)(bench_ticks() - p0)) /
			   (2.0 * (RTE_REF_PINGPONG_ITERS - RTE_REF_PINGPONG_ITERS / 10));
	pthread_join(th, NULL);
	out->spsc_msgs_per_s = (double)x->consumed / (bench_ticks_to_ns((double)(x->t_end - t0)) / 1e9);
	rte_ref_free(x);
	return 0;
}
