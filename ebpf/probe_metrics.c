/* SPDX-License-Identifier: Apache-2.0 */
#include "probe_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <bpf/bpf.h>

#include "shmq_probe.h"

/* Histogram families, one per kind. Prometheus wants every series of a
 * family contiguous under one TYPE line, so the map is walked once per kind. */
static const struct {
	__u32 kind;
	bool per_queue;
	const char *name;
	const char *help;
} hist_families[] = {
	{ SHMQ_HIST_PRODUCE_PERSIST, true, "shmq_produce_to_persist_seconds",
	  "Born time of the oldest message of a sampled persist batch to its append (USDT persist_batch)." },
	{ SHMQ_HIST_PERSIST_FLUSH, true, "shmq_persist_to_flush_seconds",
	  "Oldest unflushed append of a queue to the end of the flush that made it durable." },
	{ SHMQ_HIST_PRODUCE_CONSUME, true, "shmq_produce_to_consume_seconds",
	  "Born time to delivery, one sampled message per sampled deliver batch." },
	{ SHMQ_HIST_FLUSH_DURATION, false, "shmq_flush_duration_seconds",
	  "Duration of the persister's flushes (USDT flush)." },
	{ SHMQ_HIST_FDATASYNC, false, "shmq_fdatasync_seconds",
	  "fdatasync(2) latency of the broker process (syscall tracepoints)." },
};

static int errno_or(int fallback)
{
	return errno > 0 ? -errno : fallback;
}

/* Bucket upper bounds: slot i holds v < 2^i ns (ebpf/shmq_probe.h), so the
 * cumulative count of slots 0..i is the series le = 2^i ns. The last slot is
 * a catch-all and only appears in +Inf. */
static int render_hist(FILE *out, const char *family, const char *labels,
	const struct shmq_hist *h)
{
	uint64_t cum = 0;
	for (int i = 0; i < SHMQ_HIST_SLOTS - 1; i++) {
		cum += h->slots[i];
		double le = (double)(1ull << i) * 1e-9;
		if (fprintf(out, "%s_bucket{%s,le=\"%.9g\"} %" PRIu64 "\n", family, labels, le, cum) < 0)
			return -EIO;
	}
	if (fprintf(out, "%s_bucket{%s,le=\"+Inf\"} %" PRIu64 "\n", family, labels,
		    (uint64_t)h->count) < 0 ||
	    fprintf(out, "%s_sum{%s} %.9f\n", family, labels, (double)h->sum_ns * 1e-9) < 0 ||
	    fprintf(out, "%s_count{%s} %" PRIu64 "\n", family, labels, (uint64_t)h->count) < 0)
		return -EIO;
	return 0;
}

static int render_hists(FILE *out, int fd, const char *broker)
{
	for (size_t f = 0; f < sizeof(hist_families) / sizeof(hist_families[0]); f++) {
		if (fprintf(out, "# HELP %s %s\n# TYPE %s histogram\n", hist_families[f].name,
			    hist_families[f].help, hist_families[f].name) < 0)
			return -EIO;
		struct shmq_hist_key key, next;
		struct shmq_hist h;
		const void *prev = NULL;
		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			key = next;
			prev = &key;
			if (key.kind != hist_families[f].kind)
				continue;
			if (bpf_map_lookup_elem(fd, &key, &h) != 0) {
				if (errno == ENOENT)
					continue; /* deleted between the two calls */
				return errno_or(-EIO);
			}
			char labels[160];
			if (hist_families[f].per_queue)
				snprintf(labels, sizeof(labels),
					"broker=\"%s\",topic_hash=\"%08x\",queue=\"%u\"",
					broker, key.topic_hash, key.queue);
			else
				snprintf(labels, sizeof(labels), "broker=\"%s\"", broker);
			int rc = render_hist(out, hist_families[f].name, labels, &h);
			if (rc < 0)
				return rc;
		}
		if (errno != ENOENT)
			return errno_or(-EIO);
	}
	return 0;
}

static int render_order(FILE *out, int fd, const char *broker)
{
	static const char *const names[2] = {
		"shmq_order_violations_total", "shmq_order_declared_resets_total" };
	static const char *const helps[2] = {
		"Delivered batches whose first offset was not the previous batch's last + 1, outside a declared rebalance or reset.",
		"Declared rebalances (queue_owner) and offset resets that ended an ordering run." };
	for (int m = 0; m < 2; m++) {
		if (fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", names[m], helps[m], names[m]) < 0)
			return -EIO;
		struct shmq_order_key key, next;
		struct shmq_order_viol v;
		const void *prev = NULL;
		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(fd, &key, &v) != 0) {
				if (errno == ENOENT)
					continue;
				return errno_or(-EIO);
			}
			if (fprintf(out, "%s{broker=\"%s\",group_hash=\"%08x\",topic_hash=\"%08x\",queue=\"%u\"} %" PRIu64 "\n",
				    names[m], broker, key.group_hash, key.topic_hash, key.queue,
				    (uint64_t)(m == 0 ? v.violations : v.declared_resets)) < 0)
				return -EIO;
		}
		if (errno != ENOENT)
			return errno_or(-EIO);
	}
	return 0;
}

#define QSTAT(field, name, help) { offsetof(struct shmq_queue_stats, field), name, help }
static const struct {
	size_t off;
	const char *name;
	const char *help;
} qstat_families[] = {
	QSTAT(produce_batches, "shmq_produce_batches_sampled_total", "Sampled produce batches (USDT produce_batch)."),
	QSTAT(produce_msgs, "shmq_produce_messages_sampled_total", "Messages in the sampled produce batches."),
	QSTAT(persist_batches, "shmq_persist_batches_sampled_total", "Sampled persist batches appended to the commitlog (USDT persist_batch)."),
	QSTAT(persist_msgs, "shmq_persist_messages_sampled_total", "Messages in the sampled persist batches."),
	QSTAT(persist_bytes, "shmq_persist_bytes_sampled_total", "Bytes in the sampled persist batches."),
	QSTAT(deliver_batches, "shmq_deliver_batches_sampled_total", "Sampled batches delivered to consumers (USDT deliver_batch)."),
	QSTAT(deliver_msgs, "shmq_deliver_messages_sampled_total", "Messages in the sampled deliver batches."),
	QSTAT(backpressure, "shmq_backpressure_total", "Producer transitions into back-pressure."),
	QSTAT(ring_unblocks, "shmq_ring_unblocks_total", "Records of dead producers skipped by the broker."),
};

static int render_qstats(FILE *out, int fd, const char *broker)
{
	for (size_t f = 0; f < sizeof(qstat_families) / sizeof(qstat_families[0]); f++) {
		if (fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", qstat_families[f].name,
			    qstat_families[f].help, qstat_families[f].name) < 0)
			return -EIO;
		struct shmq_queue_key key, next;
		struct shmq_queue_stats s;
		const void *prev = NULL;
		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(fd, &key, &s) != 0) {
				if (errno == ENOENT)
					continue;
				return errno_or(-EIO);
			}
			__u64 val;
			memcpy(&val, (const char *)&s + qstat_families[f].off, sizeof(val));
			if (fprintf(out, "%s{broker=\"%s\",topic_hash=\"%08x\",queue=\"%u\"} %" PRIu64 "\n",
				    qstat_families[f].name, broker, key.topic_hash, key.queue,
				    (uint64_t)val) < 0)
				return -EIO;
		}
		if (errno != ENOENT)
			return errno_or(-EIO);
	}
	return 0;
}

static int render_totals(FILE *out, int fd, const char *broker)
{
	__u32 zero = 0;
	struct shmq_totals t;
	if (bpf_map_lookup_elem(fd, &zero, &t) != 0)
		return errno_or(-EIO);
	const struct {
		const char *name;
		const char *help;
		__u64 v;
	} rows[] = {
		{ "shmq_flushes_total", "Flushes of the persister (USDT flush).", t.flushes },
		{ "shmq_flushed_bytes_total", "Bytes made durable by flushes.", t.flush_bytes },
		{ "shmq_fdatasyncs_total", "fdatasync(2) calls of the broker process.", t.fdatasyncs },
		{ "shmq_probe_filtered_total", "Probe hits ignored: from processes outside the filter.", t.filtered_out },
		{ "shmq_probe_map_full_total", "Samples dropped because a BPF map had no room for a new key.", t.map_full },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s{broker=\"%s\"} %" PRIu64 "\n",
			    rows[i].name, rows[i].help, rows[i].name, rows[i].name, broker,
			    (uint64_t)rows[i].v) < 0)
			return -EIO;
	return 0;
}

int shmq_probe_metrics_render(FILE *out, const struct shmq_probe_map_fds *fds,
	const char *broker)
{
	int rc = render_hists(out, fds->hist, broker);
	if (rc == 0)
		rc = render_order(out, fds->order_viol, broker);
	if (rc == 0)
		rc = render_qstats(out, fds->queue_stats, broker);
	if (rc == 0)
		rc = render_totals(out, fds->totals, broker);
	return rc;
}
