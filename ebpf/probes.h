/* SPDX-License-Identifier: Apache-2.0 */
/*
 * USDT probe sites of shmq (provider "shmq"), for shmqd and libshmq.
 * Internal, never installed. Argument lists: docs/observability.md.
 *
 * Contract
 *  1. Every probe is guarded by its semaphore (<provider>_<name>_semaphore,
 *     the sys/sdt.h convention). The kernel increments it when a uprobe is
 *     attached to the site (libbpf sets ref_ctr_offset), so a detached probe
 *     costs one relaxed 16-bit load and one predicted-not-taken branch; its
 *     arguments are NOT evaluated. Arguments must therefore have no side
 *     effects the caller relies on.
 *  2. Probes fire per batch, never per message (an attached hit costs about
 *     0.5 us). Back-pressure fires once per refused reservation (each is
 *     followed by a wait for space, not a spin); unblock once per record.
 *  3. Sampling: PRODUCE_BATCH, PERSIST_BATCH and DELIVER_BATCH fire on one
 *     batch in N, N = env SHMQ_PROBE_SAMPLE (1..65536, default
 *     SHMQ_PROBE_SAMPLE_DEFAULT), read once per translation unit at the first
 *     attached hit. The count is per call site and per thread, so a single
 *     thread sees exactly one sample in every N batches. (When caught up, a
 *     batch is often one message: an unsampled per-batch probe would be a
 *     per-message probe, measured at -36 % throughput.) The ordering check
 *     still sees every message: DELIVER_BATCH carries the number of messages
 *     its call site delivered before the batch (counted while attached), and
 *     the BPF program checks first_off - that count stays constant.
 *  4. Times are CLOCK_MONOTONIC nanoseconds (the clock of bpf_ktime_get_ns).
 *     Messages carry a wall-clock born time in ms: convert with
 *     shmq_probe_wall_ms_to_mono_ns().
 *  5. Topics and groups are identified by shmq_probe_name_hash() (32-bit
 *     FNV-1a of the name); callers compute it once per handle, not per batch.
 *
 * The semaphores are weak definitions in this header: every object that
 * includes it shares one semaphore per probe and per linked image (shmqd,
 * libshmq.so, a test program), which keeps probes.h header-only.
 */
#ifndef SHMQ_EBPF_PROBES_H
#define SHMQ_EBPF_PROBES_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Arguments in registers or immediates only ("nr"): libbpf 1.1 cannot decode
 * the RIP-relative memory operands the default "nor" allows. */
#define _SDT_HAS_SEMAPHORES 1
#ifndef STAP_SDT_ARG_CONSTRAINT
#define STAP_SDT_ARG_CONSTRAINT nr
#endif
#include <sys/sdt.h>

#include "common/clock.h"

#define SHMQ_PROBE_SAMPLE_DEFAULT 512u
#define SHMQ_PROBE_SAMPLE_MAX     65536u

/* One semaphore per probe, in the .probes section where sdt tools expect it. */
#define SHMQ_PROBE_SEMAPHORE(name) \
	__attribute__((weak, unused, section(".probes"))) \
	_Atomic unsigned short shmq_##name##_semaphore
SHMQ_PROBE_SEMAPHORE(produce_batch);
SHMQ_PROBE_SEMAPHORE(persist_batch);
SHMQ_PROBE_SEMAPHORE(flush);
SHMQ_PROBE_SEMAPHORE(deliver_batch);
SHMQ_PROBE_SEMAPHORE(queue_owner);
SHMQ_PROBE_SEMAPHORE(offset_reset);
SHMQ_PROBE_SEMAPHORE(ring_unblock);
SHMQ_PROBE_SEMAPHORE(backpressure);

/* relaxed: the kernel writes the semaphore once per attach/detach; a site
 * that sees the change a few hits late only misses those hits. */
#define SHMQ_PROBE_ENABLED(name) \
	__builtin_expect(atomic_load_explicit(&shmq_##name##_semaphore, \
		memory_order_relaxed) != 0, 0)

/* 32-bit FNV-1a: stable across processes and builds (a probe key). */
static inline uint32_t shmq_probe_name_hash(const char *name)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	return h;
}

static inline uint64_t shmq_probe_now_ns(void)
{
	return shmq_now_ns(); /* CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns() */
}

/* A wall-clock born time (ms since the epoch) on the monotonic clock, with ms
 * precision; 0 when it lies in the future (clock stepped) or is 0. */
static inline uint64_t shmq_probe_wall_ms_to_mono_ns(uint64_t born_ms)
{
	struct timespec rt, mono;
	clock_gettime(CLOCK_REALTIME, &rt);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	uint64_t now_ms = (uint64_t)rt.tv_sec * 1000ull + (uint64_t)rt.tv_nsec / 1000000ull;
	uint64_t mono_ns = (uint64_t)mono.tv_sec * 1000000000ull + (uint64_t)mono.tv_nsec;
	if (born_ms == 0 || born_ms > now_ms)
		return 0;
	uint64_t age_ns = (now_ms - born_ms) * 1000000ull;
	return age_ns < mono_ns ? mono_ns - age_ns : 0;
}

/* The sampling period N (contract 3). Only called once a probe is attached. */
static inline uint32_t shmq_probe_sample_period(void)
{
	/* relaxed: every thread computes the same value from the environment, so
	 * a racing first use stores the same number twice. */
	static _Atomic uint32_t period;
	uint32_t n = atomic_load_explicit(&period, memory_order_relaxed);
	if (__builtin_expect(n != 0, 1))
		return n;
	n = SHMQ_PROBE_SAMPLE_DEFAULT;
	const char *s = getenv("SHMQ_PROBE_SAMPLE");
	if (s != NULL && *s != '\0') {
		char *end;
		unsigned long v = strtoul(s, &end, 10);
		if (*end == '\0' && v >= 1 && v <= SHMQ_PROBE_SAMPLE_MAX)
			n = (uint32_t)v;
	}
	atomic_store_explicit(&period, n, memory_order_relaxed); /* relaxed: see above */
	return n;
}

/* True on one call in N at this call site and thread (contract 3). The
 * counter is thread-local, so it needs no atomics. */
#define SHMQ_PROBE_SAMPLE_HIT() __extension__ ({ \
	static _Thread_local uint32_t shmq__probe_tick_; \
	++shmq__probe_tick_ >= shmq_probe_sample_period() ? \
		(shmq__probe_tick_ = 0, 1) : 0; })

/*
 * Probe sites. Argument types are fixed by the casts (docs/observability.md);
 * the BPF side (ebpf/shmq_probe.bpf.c) reads them in this order.
 */

/* A producer published `count` messages (`bytes` payload bytes) at ring
 * position `ring_pos` of (topic, queue); `born_ns` of the first one. Sampled. */
#define SHMQ_PROBE_PRODUCE_BATCH(topic_hash, queue, ring_pos, count, bytes, born_ns) do { \
	if (SHMQ_PROBE_ENABLED(produce_batch) && SHMQ_PROBE_SAMPLE_HIT()) \
		STAP_PROBE6(shmq, produce_batch, (uint32_t)(topic_hash), (uint32_t)(queue), \
			(uint64_t)(ring_pos), (uint32_t)(count), (uint64_t)(bytes), \
			(uint64_t)(born_ns)); \
} while (0)

/* The persister appended queue offsets [first_off, last_off] of (topic,
 * queue), `bytes` bytes, to the commitlog; `oldest_born_ns` of the oldest.
 * Sampled. */
#define SHMQ_PROBE_PERSIST_BATCH(topic_hash, queue, first_off, last_off, bytes, oldest_born_ns) do { \
	if (SHMQ_PROBE_ENABLED(persist_batch) && SHMQ_PROBE_SAMPLE_HIT()) \
		STAP_PROBE6(shmq, persist_batch, (uint32_t)(topic_hash), (uint32_t)(queue), \
			(uint64_t)(first_off), (uint64_t)(last_off), (uint64_t)(bytes), \
			(uint64_t)(oldest_born_ns)); \
} while (0)

/* A flush (write-back + fdatasync) of `bytes` completed after `duration_ns`.
 * Everything persisted before the flush started is now durable. */
#define SHMQ_PROBE_FLUSH(bytes, duration_ns) do { \
	if (SHMQ_PROBE_ENABLED(flush)) \
		STAP_PROBE2(shmq, flush, (uint64_t)(bytes), (uint64_t)(duration_ns)); \
} while (0)

/* A consumer of `group` received `count` messages of (topic, queue) starting
 * at queue offset `first_off`, with `born_ns` the born time of its first
 * message. Sampled. `delivered` is a uint64_t lvalue per (group, queue) and
 * consumer (starts 0): the messages this site delivered while attached; the
 * probe reports its value before the batch and adds `count`, on every batch
 * (one add while attached, nothing while detached). A declared reset
 * (QUEUE_OWNER, OFFSET_RESET) needs no change to it. */
#define SHMQ_PROBE_DELIVER_BATCH(group_hash, topic_hash, queue, first_off, count, born_ns, delivered) do { \
	if (SHMQ_PROBE_ENABLED(deliver_batch)) { \
		uint64_t shmq__before_ = (delivered); \
		(delivered) = shmq__before_ + (uint64_t)(count); \
		if (SHMQ_PROBE_SAMPLE_HIT()) \
			STAP_PROBE7(shmq, deliver_batch, (uint32_t)(group_hash), (uint32_t)(topic_hash), \
				(uint32_t)(queue), (uint64_t)(first_off), (uint32_t)(count), \
				shmq__before_, (uint64_t)(born_ns)); \
	} \
} while (0)

/* (topic, queue) of `group` changed owner to `owner` (a client id, 0 = none)
 * in rebalance `generation`: a declared rebalance; the next delivered batch
 * starts a new ordering run. */
#define SHMQ_PROBE_QUEUE_OWNER(group_hash, topic_hash, queue, owner, generation) do { \
	if (SHMQ_PROBE_ENABLED(queue_owner)) \
		STAP_PROBE5(shmq, queue_owner, (uint32_t)(group_hash), (uint32_t)(topic_hash), \
			(uint32_t)(queue), (uint64_t)(owner), (uint64_t)(generation)); \
} while (0)

/* The consume offset of `group` on (topic, queue) was reset to `next_off`
 * (seek, reset-offset command): a declared reset of the ordering run. */
#define SHMQ_PROBE_OFFSET_RESET(group_hash, topic_hash, queue, next_off) do { \
	if (SHMQ_PROBE_ENABLED(offset_reset)) \
		STAP_PROBE4(shmq, offset_reset, (uint32_t)(group_hash), (uint32_t)(topic_hash), \
			(uint32_t)(queue), (uint64_t)(next_off)); \
} while (0)

/* The broker skipped a record left half-written by a dead producer at ring
 * position `ring_pos` of (topic, queue). */
#define SHMQ_PROBE_RING_UNBLOCK(topic_hash, queue, ring_pos) do { \
	if (SHMQ_PROBE_ENABLED(ring_unblock)) \
		STAP_PROBE3(shmq, ring_unblock, (uint32_t)(topic_hash), (uint32_t)(queue), \
			(uint64_t)(ring_pos)); \
} while (0)

/* The broker's look, on one drain in N (sampled: it reads the ring's
 * statistics), for records the ring's gating reader padded out (G6) since
 * the last look: RING_UNBLOCK once for each new one (at most 64 per look), at
 * the ring's consumed position. `seen` points at the per-ring count already
 * reported (starts at 0, so the first look after an attach also reports the
 * ring's earlier unblocks). Late by up to N drains, never lost. */
#define SHMQ_PROBE_RING_UNBLOCKS(topic_hash, queue, ring, seen) do { \
	if (SHMQ_PROBE_ENABLED(ring_unblock) && SHMQ_PROBE_SAMPLE_HIT()) { \
		struct shmq_ring_stats shmq__rs_; \
		shmq_ring_stats((ring), &shmq__rs_); \
		for (int shmq__i_ = 0; *(seen) < shmq__rs_.unblocked && shmq__i_ < 64; shmq__i_++, (*(seen))++) \
			SHMQ_PROBE_RING_UNBLOCK((topic_hash), (queue), shmq__rs_.consumed); \
		*(seen) = shmq__rs_.unblocked; \
	} \
} while (0)

/* Test hook (env SHMQ_TEST_ORDER_SKIP=N, N >= 1): true once, on the N-th
 * deliver batch of this process seen while deliver_batch is attached; the
 * consumer then skips one message, an order violation the BPF program must
 * count exactly once (tests/ebpf/test_probe_broker.c). Inert (one semaphore
 * load, like a probe) when detached; without the variable, one atomic load
 * per attached batch. */
static inline int shmq_probe_test_order_skip(void)
{
	/* INT64_MIN: env not read yet; <= 0: inert. Relaxed: a plain countdown,
	 * only its own value matters (the fetch_sub makes exactly one caller
	 * see 1). */
	static _Atomic int64_t left = INT64_MIN;
	int64_t v = atomic_load_explicit(&left, memory_order_relaxed);
	if (v == INT64_MIN) {
		const char *s = getenv("SHMQ_TEST_ORDER_SKIP");
		long n = s != NULL ? strtol(s, NULL, 10) : 0;
		int64_t want = n >= 1 ? (int64_t)n : 0;
		/* relaxed: every thread derives the same value; a loser re-reads */
		atomic_compare_exchange_strong_explicit(&left, &v, want, memory_order_relaxed,
			memory_order_relaxed);
		v = atomic_load_explicit(&left, memory_order_relaxed); /* relaxed: see above */
	}
	if (v <= 0)
		return 0;
	return atomic_fetch_sub_explicit(&left, 1, memory_order_relaxed) == 1; /* relaxed: see above */
}

#define SHMQ_PROBE_TEST_ORDER_SKIP(stmt) do { \
	if (SHMQ_PROBE_ENABLED(deliver_batch) && shmq_probe_test_order_skip()) { \
		stmt; \
	} \
} while (0)

/* A producer's reservation on (topic, queue) was refused for space with the
 * ring `fill` bytes full; the producer now waits for space (one hit per
 * wait, not per spin). */
#define SHMQ_PROBE_BACKPRESSURE(topic_hash, queue, fill) do { \
	if (SHMQ_PROBE_ENABLED(backpressure)) \
		STAP_PROBE3(shmq, backpressure, (uint32_t)(topic_hash), (uint32_t)(queue), \
			(uint64_t)(fill)); \
} while (0)

#endif
