// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * BPF side of shmq-probe (CO-RE): turns the shmq USDT probes (ebpf/probes.h)
 * and the broker's fdatasync syscalls into log2 latency histograms, ordering
 * violation counts and counters, in maps pinned by name under the loader's
 * pin root (/sys/fs/bpf/shmq/<broker>/).
 *
 * Invariants
 *  1. Probes of the broker side (persist_batch, flush, fdatasync) count only
 *     when they come from broker_tgid (0 = any process, not for fdatasync:
 *     the loader does not load those programs without a broker tgid).
 *  2. Other probes count from the broker, and, when filter_clients is set,
 *     from the tgids in map `tgids`; otherwise from any process.
 *  3. Ordering: for each (group, topic, queue) the sampled deliver batches
 *     report first_off and `delivered`, the messages their consumer delivered
 *     before the batch (probes.h contract 3); while the offsets are
 *     contiguous first_off - delivered stays constant (the run's base). A
 *     change is one violation (however many messages went missing or came
 *     twice between the two samples), and the new value is the base. A
 *     queue_owner or
 *     offset_reset probe ends the run (declared rebalance/reset): the next
 *     batch starts a new one and is never a violation. One owner per queue at
 *     a time is assumed (the group protocol's guarantee).
 *  4. persist->flush: each (topic, queue) remembers its oldest persist not
 *     yet covered by a flush; a flush that STARTED after it (now - duration)
 *     records now - that time and forgets it.
 *  Counters use atomic adds: probes fire concurrently on several CPUs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "shmq_probe.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Tunables, set by the loader before load (conventions 14). */
const volatile __u32 broker_tgid = 0;
const volatile __u8 filter_clients = 0;

const struct shmq_hist zero_hist = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHMQ_MAX_QUEUES_TRACKED);
	__type(key, struct shmq_hist_key);
	__type(value, struct shmq_hist);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} hist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHMQ_MAX_QUEUES_TRACKED);
	__type(key, struct shmq_order_key);
	__type(value, struct shmq_order_viol);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} order_viol SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHMQ_MAX_QUEUES_TRACKED);
	__type(key, struct shmq_queue_key);
	__type(value, struct shmq_queue_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} queue_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct shmq_totals);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} totals SEC(".maps");

/* Working state: not pinned, rebuilt by a new loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHMQ_MAX_QUEUES_TRACKED);
	__type(key, struct shmq_order_key);
	__type(value, struct shmq_order_state);
} order_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHMQ_MAX_QUEUES_TRACKED);
	__type(key, struct shmq_queue_key);
	__type(value, __u64);
} unflushed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32); /* thread id */
	__type(value, __u64);
} fsync_start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SHMQ_MAX_TGIDS);
	__type(key, __u32);
	__type(value, __u8);
} tgids SEC(".maps");

static __always_inline __u32 current_tgid(void)
{
	return (__u32)(bpf_get_current_pid_tgid() >> 32);
}

static __always_inline struct shmq_totals *totals_get(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&totals, &zero);
}

static __always_inline void note_filtered(void)
{
	struct shmq_totals *t = totals_get();
	if (t)
		__sync_fetch_and_add(&t->filtered_out, 1);
}

static __always_inline void note_map_full(void)
{
	struct shmq_totals *t = totals_get();
	if (t)
		__sync_fetch_and_add(&t->map_full, 1);
}

/* Invariant 1. */
static __always_inline bool from_broker(void)
{
	if (broker_tgid == 0 || current_tgid() == broker_tgid)
		return true;
	note_filtered();
	return false;
}

/* Invariant 2. */
static __always_inline bool from_member(void)
{
	__u32 tgid = current_tgid();
	if (!filter_clients || tgid == broker_tgid || bpf_map_lookup_elem(&tgids, &tgid))
		return true;
	note_filtered();
	return false;
}

/* log2 slot (see SHMQ_HIST_SLOTS): the bit length of v, capped. */
static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 r = 0;
	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { v >>= 1; r += 1; }
	r += (__u32)v; /* v is now 0 or 1 */
	return r < SHMQ_HIST_SLOTS ? r : SHMQ_HIST_SLOTS - 1;
}

static __always_inline void hist_add(__u32 kind, __u32 topic, __u32 queue, __u64 ns)
{
	struct shmq_hist_key k = { .kind = kind, .topic_hash = topic, .queue = queue };
	struct shmq_hist *h = bpf_map_lookup_elem(&hist, &k);
	if (!h) {
		bpf_map_update_elem(&hist, &k, &zero_hist, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hist, &k);
		if (!h) {
			note_map_full(); /* the sample is dropped, not miscounted */
			return;
		}
	}
	__u32 slot = log2_slot(ns);
	if (slot < SHMQ_HIST_SLOTS)
		__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_ns, ns);
}

static __always_inline struct shmq_queue_stats *qstats(__u32 topic, __u32 queue)
{
	struct shmq_queue_key k = { .topic_hash = topic, .queue = queue };
	struct shmq_queue_stats *s = bpf_map_lookup_elem(&queue_stats, &k);
	if (!s) {
		struct shmq_queue_stats zero = {};
		bpf_map_update_elem(&queue_stats, &k, &zero, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&queue_stats, &k);
		if (!s)
			note_map_full();
	}
	return s;
}

static __always_inline struct shmq_order_viol *oviol(struct shmq_order_key *k)
{
	struct shmq_order_viol *v = bpf_map_lookup_elem(&order_viol, k);
	if (!v) {
		struct shmq_order_viol zero = {};
		bpf_map_update_elem(&order_viol, k, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&order_viol, k);
		if (!v)
			note_map_full();
	}
	return v;
}

/* An age (now - then) on the monotonic clock; 0 when `then` is unknown or in
 * the future (a caller's clock bug must not make a 2^64 ns sample). */
static __always_inline bool age_ns(__u64 then, __u64 now, __u64 *out)
{
	if (then == 0 || then > now)
		return false;
	*out = now - then;
	return true;
}

SEC("usdt")
int BPF_USDT(produce_batch, __u32 topic, __u32 queue, __u64 ring_pos, __u32 count,
	__u64 bytes, __u64 born_ns)
{
	(void)ring_pos; (void)bytes; (void)born_ns;
	if (!from_member())
		return 0;
	struct shmq_queue_stats *s = qstats(topic, queue);
	if (s) {
		__sync_fetch_and_add(&s->produce_batches, 1);
		__sync_fetch_and_add(&s->produce_msgs, count);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(persist_batch, __u32 topic, __u32 queue, __u64 first_off, __u64 last_off,
	__u64 bytes, __u64 oldest_born_ns)
{
	if (!from_broker())
		return 0;
	__u64 now = bpf_ktime_get_ns(), lat;
	if (age_ns(oldest_born_ns, now, &lat))
		hist_add(SHMQ_HIST_PRODUCE_PERSIST, topic, queue, lat);
	struct shmq_queue_stats *s = qstats(topic, queue);
	if (s) {
		__sync_fetch_and_add(&s->persist_batches, 1);
		if (last_off >= first_off)
			__sync_fetch_and_add(&s->persist_msgs, last_off - first_off + 1);
		__sync_fetch_and_add(&s->persist_bytes, bytes);
	}
	struct shmq_queue_key k = { .topic_hash = topic, .queue = queue };
	/* BPF_NOEXIST keeps the oldest unflushed persist (invariant 4). */
	bpf_map_update_elem(&unflushed, &k, &now, BPF_NOEXIST);
	return 0;
}

struct flush_ctx {
	__u64 now;
	__u64 started;
};

static long flush_one(struct bpf_map *map, struct shmq_queue_key *k, __u64 *persisted,
	struct flush_ctx *c)
{
	if (*persisted > c->started)
		return 0; /* persisted during this flush: not covered by it */
	hist_add(SHMQ_HIST_PERSIST_FLUSH, k->topic_hash, k->queue, c->now - *persisted);
	bpf_map_delete_elem(map, k);
	return 0;
}

SEC("usdt")
int BPF_USDT(flush, __u64 bytes, __u64 duration_ns)
{
	if (!from_broker())
		return 0;
	struct flush_ctx c = { .now = bpf_ktime_get_ns() };
	c.started = duration_ns < c.now ? c.now - duration_ns : 0;
	hist_add(SHMQ_HIST_FLUSH_DURATION, 0, 0, duration_ns);
	bpf_for_each_map_elem(&unflushed, flush_one, &c, 0);
	struct shmq_totals *t = totals_get();
	if (t) {
		__sync_fetch_and_add(&t->flushes, 1);
		__sync_fetch_and_add(&t->flush_bytes, bytes);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(deliver_batch, __u32 group, __u32 topic, __u32 queue, __u64 first_off,
	__u32 count, __u64 delivered, __u64 born_ns)
{
	if (!from_member())
		return 0;
	__u64 now = bpf_ktime_get_ns(), lat;
	if (age_ns(born_ns, now, &lat))
		hist_add(SHMQ_HIST_PRODUCE_CONSUME, topic, queue, lat);
	struct shmq_queue_stats *s = qstats(topic, queue);
	if (s) {
		__sync_fetch_and_add(&s->deliver_batches, 1);
		__sync_fetch_and_add(&s->deliver_msgs, count);
	}

	/* Invariant 3. */
	struct shmq_order_key k = { .group_hash = group, .topic_hash = topic, .queue = queue };
	struct shmq_order_viol *v = oviol(&k);
	struct shmq_order_state *st = bpf_map_lookup_elem(&order_state, &k);
	__u64 base = first_off - delivered; /* mod 2^64, like the comparison */
	if (st) {
		if (base != st->base && v) {
			__sync_fetch_and_add(&v->violations, 1);
			v->last_expected = st->base + delivered;
			v->last_got = first_off;
			struct shmq_totals *t = totals_get();
			if (t)
				__sync_fetch_and_add(&t->order_violations, 1);
		}
		st->base = base;
	} else {
		struct shmq_order_state fresh = { .base = base };
		bpf_map_update_elem(&order_state, &k, &fresh, BPF_ANY);
	}
	return 0;
}

static __always_inline void declared_reset(__u32 group, __u32 topic, __u32 queue)
{
	struct shmq_order_key k = { .group_hash = group, .topic_hash = topic, .queue = queue };
	bpf_map_delete_elem(&order_state, &k);
	struct shmq_order_viol *v = oviol(&k);
	if (v)
		__sync_fetch_and_add(&v->declared_resets, 1);
}

SEC("usdt")
int BPF_USDT(queue_owner, __u32 group, __u32 topic, __u32 queue, __u64 owner, __u64 generation)
{
	(void)owner; (void)generation;
	if (from_member())
		declared_reset(group, topic, queue);
	return 0;
}

SEC("usdt")
int BPF_USDT(offset_reset, __u32 group, __u32 topic, __u32 queue, __u64 next_off)
{
	(void)next_off;
	if (from_member())
		declared_reset(group, topic, queue);
	return 0;
}

SEC("usdt")
int BPF_USDT(ring_unblock, __u32 topic, __u32 queue, __u64 ring_pos)
{
	(void)ring_pos;
	if (!from_member())
		return 0;
	struct shmq_queue_stats *s = qstats(topic, queue);
	if (s)
		__sync_fetch_and_add(&s->ring_unblocks, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(backpressure, __u32 topic, __u32 queue, __u64 fill)
{
	(void)fill;
	if (!from_member())
		return 0;
	struct shmq_queue_stats *s = qstats(topic, queue);
	if (s)
		__sync_fetch_and_add(&s->backpressure, 1);
	return 0;
}

/* fdatasync of the broker (invariant 1): the persister's durability cost as
 * the kernel sees it, independent of the flush probe. */
SEC("tracepoint/syscalls/sys_enter_fdatasync")
int fdatasync_enter(void *ctx)
{
	(void)ctx;
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != broker_tgid)
		return 0;
	__u32 tid = (__u32)id;
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&fsync_start, &tid, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_fdatasync")
int fdatasync_exit(void *ctx)
{
	(void)ctx;
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)(id >> 32) != broker_tgid)
		return 0;
	__u32 tid = (__u32)id;
	__u64 *start = bpf_map_lookup_elem(&fsync_start, &tid);
	if (!start)
		return 0; /* entered before we attached */
	__u64 lat = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&fsync_start, &tid);
	hist_add(SHMQ_HIST_FDATASYNC, 0, 0, lat);
	struct shmq_totals *t = totals_get();
	if (t)
		__sync_fetch_and_add(&t->fdatasyncs, 1);
	return 0;
}
