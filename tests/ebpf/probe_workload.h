/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The workload probe_target.c fires per "round" and the counts test_probe.c
 * expects from one attached round (env SHMQ_PROBE_SAMPLE = WL_SAMPLE).
 */
#ifndef SHMQ_TESTS_EBPF_PROBE_WORKLOAD_H
#define SHMQ_TESTS_EBPF_PROBE_WORKLOAD_H

#define WL_TOPIC        "orders"
#define WL_GROUP_NORMAL "g-normal"
#define WL_GROUP_GAP    "g-gap"
#define WL_SAMPLE       2

/* produce_batch on queue 0: sampled, one in WL_SAMPLE fires. */
#define WL_PRODUCE_CALLS     40
#define WL_PRODUCE_COUNT     8
#define WL_PRODUCE_FIRED     (WL_PRODUCE_CALLS / WL_SAMPLE)

/* persist_batch on queue 0, born WL_PERSIST_AGE_NS before the probe: the
 * latency lands in slot >= WL_PERSIST_MIN_SLOT (never below: time only adds).
 * Sampled: one in WL_SAMPLE fires. */
#define WL_PERSIST_BATCHES   12
#define WL_PERSIST_FIRED     (WL_PERSIST_BATCHES / WL_SAMPLE)
#define WL_PERSIST_COUNT     8
#define WL_PERSIST_BYTES     4096
#define WL_PERSIST_AGE_NS    40000
#define WL_PERSIST_MIN_SLOT  16  /* 2^15 <= 40000 < 2^16 */

/* After every WL_FLUSH_EVERY persist batches: one real fdatasync, then the
 * flush probe. Each flush covers queue 0's oldest unflushed (fired) persist. */
#define WL_FLUSH_EVERY       4
#define WL_FLUSHES           (WL_PERSIST_BATCHES / WL_FLUSH_EVERY)

/* deliver_batch on queue 0, all through one call site (sampled: calls 2, 4,
 * ... fire): the normal group WL_DELIVER_BATCHES contiguous batches; the gap
 * group the same with a gap of WL_GAP offsets before batch WL_GAP_AT (seen
 * at the next fired batch, WL_GAP_SEEN), then a declared rebalance followed
 * by a jump, then a declared offset reset followed by a jump (2 more
 * batches). */
#define WL_DELIVER_BATCHES   12
#define WL_DELIVER_COUNT     4
#define WL_GAP_AT            6
#define WL_GAP               3
#define WL_GAP_SEEN          7
#define WL_DELIVER_CALLS     (2 * WL_DELIVER_BATCHES + 2)
#define WL_DELIVER_FIRED     (WL_DELIVER_CALLS / WL_SAMPLE)

/* queue 1: ring unblocks and back-pressure transitions. */
#define WL_UNBLOCKS          2
#define WL_BACKPRESSURES     3

/* Probe hits of one attached round (a process outside the filter: all of
 * them land in totals.filtered_out): + queue_owner + offset_reset. */
#define WL_HITS_PER_ROUND    (WL_PRODUCE_FIRED + WL_PERSIST_FIRED + WL_FLUSHES + \
			      WL_DELIVER_FIRED + 2 + WL_UNBLOCKS + WL_BACKPRESSURES)

#endif
