/* SPDX-License-Identifier: Apache-2.0 */
#include "broker_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ebpf/probes.h"

/* A label value from the broker, escaped as the text format wants (\\, \",
 * \n); the strings come from another process: bounded and never trusted. */
static void label_escape(char *dst, size_t cap, const char *src, size_t src_max)
{
	size_t o = 0;
	for (size_t i = 0; i < src_max && src[i] != '\0' && o + 3 < cap; i++) {
		char ch = src[i];
		if (ch == '\\' || ch == '"') {
			dst[o++] = '\\';
			dst[o++] = ch;
		} else if (ch == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else {
			dst[o++] = ch;
		}
	}
	dst[o] = '\0';
}

/* The hash probes use for this name (bounded copy: the name is untrusted). */
static uint32_t name_hash(const char *name, size_t max)
{
	char buf[256];
	size_t n = strnlen(name, max < sizeof(buf) - 1 ? max : sizeof(buf) - 1);
	memcpy(buf, name, n);
	buf[n] = '\0';
	return shmq_probe_name_hash(buf);
}

static uint64_t sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

#define OUT(...) do { if (fprintf(out, __VA_ARGS__) < 0) return -EIO; } while (0)

static int render_status(FILE *out, const struct shmq_broker_status *s, const char *b)
{
	const struct {
		const char *name, *type, *help;
		uint64_t v;
	} rows[] = {
		{ "shmq_broker_messages_total", "counter", "Messages persisted by this broker run.", s->messages },
		{ "shmq_commitlog_min_offset_bytes", "gauge", "Commitlog start offset.", s->commitlog_min_offset },
		{ "shmq_commitlog_max_offset_bytes", "gauge", "Commitlog end offset (written).", s->commitlog_max_offset },
		{ "shmq_commitlog_flushed_offset_bytes", "gauge", "Commitlog offset known durable.", s->commitlog_flushed_offset },
		{ "shmq_commitlog_unflushed_bytes", "gauge", "Written but not yet durable.",
		  sub0(s->commitlog_max_offset, s->commitlog_flushed_offset) },
		{ "shmq_store_bytes", "gauge", "Bytes of the store on disk.", s->store_bytes },
		{ "shmq_disk_free_bytes", "gauge", "Free bytes of the store's filesystem.", s->disk_free },
		{ "shmq_disk_total_bytes", "gauge", "Size of the store's filesystem.", s->disk_total },
		{ "shmq_broker_topics", "gauge", "Topics.", s->topics },
		{ "shmq_broker_clients", "gauge", "Connected clients.", s->clients },
		{ "shmq_broker_rings", "gauge", "Rings (queues with a ring).", s->rings },
		{ "shmq_broker_fenced_rings", "gauge", "Rings fenced after corruption.", s->fenced_rings },
	};
	OUT("# HELP shmq_broker_uptime_seconds Time since the broker started.\n"
	    "# TYPE shmq_broker_uptime_seconds gauge\n"
	    "shmq_broker_uptime_seconds{broker=\"%s\"} %.3f\n", b, (double)s->uptime_ns * 1e-9);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		OUT("# HELP %s %s\n# TYPE %s %s\n%s{broker=\"%s\"} %" PRIu64 "\n", rows[i].name,
		    rows[i].help, rows[i].name, rows[i].type, rows[i].name, b, rows[i].v);
	return 0;
}

static int render_rings(FILE *out, const struct shmq_ring_status *r, size_t n, const char *b)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "shmq_ring_capacity_bytes", "gauge", "Ring data capacity." },
		{ "shmq_ring_fill_bytes", "gauge", "Ring bytes not yet consumed by the broker (tail - consumed)." },
		{ "shmq_ring_unpersisted_bytes", "gauge", "Ring bytes not yet in the commitlog (tail - persisted)." },
		{ "shmq_ring_unflushed_bytes", "gauge", "Ring bytes not yet durable (tail - flushed)." },
		{ "shmq_ring_fenced", "gauge", "1 when the ring is fenced." },
		{ "shmq_queue_next_offset", "gauge", "Queue offset the next stored message gets." },
		{ "shmq_ring_unblocked_total", "counter", "Dead producers' records skipped (in-process count)." },
	};
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		OUT("# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
		for (size_t i = 0; i < n; i++) {
			char topic[2 * sizeof(r[i].topic) + 1];
			label_escape(topic, sizeof(topic), r[i].topic, sizeof(r[i].topic));
			uint64_t v = 0;
			switch (f) {
			case 0: v = r[i].capacity; break;
			case 1: v = sub0(r[i].tail, r[i].consumed); break;
			case 2: v = sub0(r[i].tail, r[i].persisted); break;
			case 3: v = sub0(r[i].tail, r[i].flushed); break;
			case 4: v = r[i].fenced; break;
			case 5: v = r[i].next_queue_offset; break;
			default: v = r[i].unblocked; break;
			}
			OUT("%s{broker=\"%s\",topic=\"%s\",topic_hash=\"%08x\",queue=\"%u\"} %" PRIu64 "\n",
			    fam[f].name, b, topic, name_hash(r[i].topic, sizeof(r[i].topic)),
			    r[i].queue, v);
		}
	}
	return 0;
}

/* shmq_topic_info: joins the BPF series (topic_hash only) to topic names. */
static int render_topics(FILE *out, const struct shmq_topic_info *t, size_t n, const char *b)
{
	OUT("# HELP shmq_topic_info Topic name for each topic_hash label (value: queue count).\n"
	    "# TYPE shmq_topic_info gauge\n");
	for (size_t i = 0; i < n; i++) {
		char topic[2 * sizeof(t[i].name) + 1];
		label_escape(topic, sizeof(topic), t[i].name, sizeof(t[i].name));
		OUT("shmq_topic_info{broker=\"%s\",topic=\"%s\",topic_hash=\"%08x\"} %u\n", b, topic,
		    name_hash(t[i].name, sizeof(t[i].name)), t[i].queues);
	}
	return 0;
}

static int render_groups(FILE *out, shmq_client_t *c, const struct shmq_topic_info *t, size_t n,
	const char *const *groups, int n_groups, const char *b)
{
	OUT("# HELP shmq_group_lag_messages Messages stored but not committed by the group, per queue.\n"
	    "# TYPE shmq_group_lag_messages gauge\n");
	for (int g = 0; g < n_groups; g++) {
		char group[256];
		label_escape(group, sizeof(group), groups[g], 120);
		for (size_t i = 0; i < n; i++) {
			char name[sizeof(t[i].name) + 1];
			size_t len = strnlen(t[i].name, sizeof(t[i].name));
			memcpy(name, t[i].name, len);
			name[len] = '\0';
			struct shmq_group_progress *p = NULL;
			if (shmq_admin_group_progress(c, groups[g], name, &p) < 0 || p == NULL)
				continue; /* no such group on this topic, or not allowed */
			char topic[2 * sizeof(t[i].name) + 1];
			label_escape(topic, sizeof(topic), name, sizeof(name));
			int rc = 0;
			for (uint32_t q = 0; q < p->queues && rc == 0; q++)
				if (p->mode != 0 &&
				    fprintf(out, "shmq_group_lag_messages{broker=\"%s\",group=\"%s\",group_hash=\"%08x\",topic=\"%s\",topic_hash=\"%08x\",queue=\"%u\"} %" PRIu64 "\n",
					    b, group, shmq_probe_name_hash(groups[g]), topic,
					    shmq_probe_name_hash(name), p->q[q].queue, p->q[q].lag) < 0)
					rc = -EIO;
			free(p);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

int shmq_probe_broker_render(FILE *out, shmq_client_t *c, const char *broker,
	const char *const *groups, int n_groups)
{
	struct shmq_broker_status s;
	struct shmq_ring_status *rings = NULL;
	struct shmq_topic_info *topics = NULL;
	size_t n_rings = 0, n_topics = 0;
	bool up = c != NULL && shmq_admin_status(c, &s) == 0 &&
		  shmq_admin_rings(c, &rings, &n_rings) == 0 &&
		  shmq_admin_topics(c, &topics, &n_topics) == 0;
	int rc = 0;
	if (fprintf(out, "# HELP shmq_broker_up 1 when the broker answered this scrape.\n"
			 "# TYPE shmq_broker_up gauge\nshmq_broker_up{broker=\"%s\"} %d\n",
		    broker, up ? 1 : 0) < 0)
		rc = -EIO;
	if (up && rc == 0)
		rc = render_status(out, &s, broker);
	if (up && rc == 0)
		rc = render_rings(out, rings, n_rings, broker);
	if (up && rc == 0)
		rc = render_topics(out, topics, n_topics, broker);
	if (up && rc == 0)
		rc = render_groups(out, c, topics, n_topics, groups, n_groups, broker);
	free(rings);
	free(topics);
	return rc;
}
