/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Map keys and values shared by ebpf/shmq_probe.bpf.c and its loader
 * (ebpf/shmq_probe.c). Included by BPF code (after vmlinux.h) and by user
 * space (after <linux/types.h>), so it uses only __u32/__u64. Every struct
 * has explicit padding: the layouts are the BTF that `bpftool map dump` prints.
 *
 * Pinned maps (LIBBPF_PIN_BY_NAME, under /sys/fs/bpf/shmq/<broker>/):
 *   hist        struct shmq_hist_key   -> struct shmq_hist
 *   order_viol  struct shmq_order_key  -> struct shmq_order_viol
 *   queue_stats struct shmq_queue_key  -> struct shmq_queue_stats
 *   totals      __u32 (0)              -> struct shmq_totals
 */
#ifndef SHMQ_EBPF_SHMQ_PROBE_H
#define SHMQ_EBPF_SHMQ_PROBE_H

/* log2 buckets of nanoseconds: slot i counts values v with 2^(i-1) <= v <
 * 2^i (slot 0: v == 0); the last slot also takes everything above. 40 slots
 * reach 2^39 ns = 550 s. */
#define SHMQ_HIST_SLOTS 40

#define SHMQ_MAX_QUEUES_TRACKED 4096
#define SHMQ_MAX_TGIDS          256

/* What a histogram measures (struct shmq_hist_key.kind). */
enum shmq_hist_kind {
	SHMQ_HIST_PRODUCE_PERSIST = 1, /* born -> persist batch, per (topic, queue) */
	SHMQ_HIST_PERSIST_FLUSH = 2,   /* first unflushed persist -> flush done, per (topic, queue) */
	SHMQ_HIST_PRODUCE_CONSUME = 3, /* born -> delivered (sampled), per (topic, queue) */
	SHMQ_HIST_FLUSH_DURATION = 4,  /* flush probe's duration, broker-wide (topic 0, queue 0) */
	SHMQ_HIST_FDATASYNC = 5,       /* fdatasync syscall of the broker, broker-wide */
	SHMQ_HIST_KIND_MAX = 6,
};

struct shmq_hist_key {
	__u32 kind;       /* enum shmq_hist_kind */
	__u32 topic_hash; /* shmq_probe_name_hash(topic); 0 for broker-wide kinds */
	__u32 queue;
	__u32 pad;
};

struct shmq_hist {
	__u64 slots[SHMQ_HIST_SLOTS];
	__u64 count;
	__u64 sum_ns;
};

struct shmq_queue_key {
	__u32 topic_hash;
	__u32 queue;
};

struct shmq_queue_stats {
	__u64 produce_batches;   /* sampled produce batches seen */
	__u64 produce_msgs;      /* messages in those sampled batches */
	__u64 persist_batches;
	__u64 persist_msgs;
	__u64 persist_bytes;
	__u64 deliver_batches;
	__u64 deliver_msgs;
	__u64 backpressure;
	__u64 ring_unblocks;
};

struct shmq_order_key {
	__u32 group_hash;
	__u32 topic_hash;
	__u32 queue;
	__u32 pad;
};

/* Ordering run state (unpinned map order_state): first_off - delivered of
 * the run's sampled batches (ebpf/probes.h contract 3); constant while the
 * offsets are contiguous (mod 2^64). */
struct shmq_order_state {
	__u64 base;
};

struct shmq_order_viol {
	__u64 violations;
	__u64 last_expected; /* of the latest violation */
	__u64 last_got;
	__u64 declared_resets; /* queue_owner + offset_reset seen */
};

struct shmq_totals {
	__u64 flushes;
	__u64 flush_bytes;
	__u64 fdatasyncs;
	__u64 order_violations;
	__u64 filtered_out; /* hits from processes outside the filter */
	__u64 map_full;     /* samples dropped: a keyed map had no room for a new key */
};

#endif
