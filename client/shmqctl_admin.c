/* SPDX-License-Identifier: Apache-2.0 */
/* shmqctl group progress | reset, status (client/shmqctl.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client/shmqctl.h"

enum { OPT_TO = CTL_OPT_FIRST_LOCAL };

static const char *mode_name(uint32_t mode)
{
	switch (mode) {
	case 0: return "unknown"; /* no member has ever joined this broker run */
	case 1: return "clustering";
	case 2: return "broadcasting";
	default: return "?";
	}
}

static void progress_output(const struct ctl *ctl, const char *group, const char *topic,
			    const struct shmq_group_progress *p)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < p->queues; i++)
		total += p->q[i].lag;
	if (ctl->json) {
		json_object *doc = json_object_new_object();
		json_object_object_add(doc, "group", json_object_new_string(group));
		json_object_object_add(doc, "topic", json_object_new_string(topic));
		json_object_object_add(doc, "mode", json_object_new_string(mode_name(p->mode)));
		json_object_object_add(doc, "generation", json_object_new_int64(p->generation));
		json_object_object_add(doc, "members", json_object_new_int64(p->members));
		json_object_object_add(doc, "total_lag", json_object_new_uint64(total));
		json_object *arr = json_object_new_array();
		for (uint32_t i = 0; i < p->queues; i++) {
			const struct shmq_queue_progress *q = &p->q[i];
			json_object *o = json_object_new_object();
			json_object_object_add(o, "queue", json_object_new_int64(q->queue));
			json_object_object_add(o, "committed", ctl_json_offset(q->committed));
			json_object_object_add(o, "min_offset", json_object_new_uint64(q->min_offset));
			json_object_object_add(o, "max_offset", json_object_new_uint64(q->max_offset));
			json_object_object_add(o, "lag", json_object_new_uint64(q->lag));
			json_object_object_add(o, "owner", q->owner ? json_object_new_uint64(q->owner) : NULL);
			json_object_array_add(arr, o);
		}
		json_object_object_add(doc, "queues", arr);
		ctl_json_print(doc, true);
		return;
	}
	printf("group %s topic %s: %s, %" PRIu32 " member%s, generation %" PRIu32 ", total lag %" PRIu64 "\n",
	       group, topic, mode_name(p->mode), p->members, p->members == 1 ? "" : "s", p->generation,
	       total);
	printf("%5s %14s %14s %14s %10s  %s\n", "QUEUE", "COMMITTED", "MIN", "MAX", "LAG", "OWNER");
	for (uint32_t i = 0; i < p->queues; i++) {
		const struct shmq_queue_progress *q = &p->q[i];
		char com[24], owner[24];
		if (q->owner)
			snprintf(owner, sizeof(owner), "%016" PRIx64, q->owner);
		else
			snprintf(owner, sizeof(owner), "-");
		printf("%5" PRIu32 " %14s %14" PRIu64 " %14" PRIu64 " %10" PRIu64 "  %s\n", q->queue,
		       ctl_fmt_offset(q->committed, com, sizeof(com)), q->min_offset, q->max_offset, q->lag,
		       owner);
	}
}

static int group_progress(struct ctl *ctl, int argc, char **argv)
{
	int pr = ctl_plain_args(ctl, argc, argv, "group", 2, "group progress takes GROUP TOPIC");

	if (pr >= 0)
		return pr;
	const char *group = argv[optind], *topic = argv[optind + 1];
	int ret = ctl_connect(ctl);
	if (ret)
		return ret;
	struct shmq_group_progress *p = NULL;
	int st = shmq_admin_group_progress(ctl->client, group, topic, &p);
	if (st < 0)
		return ctl_fail(st, "progress of group %s on topic %s", group, topic);
	progress_output(ctl, group, topic, p);
	free(p);
	return CTL_EXIT_OK;
}

static int group_reset(struct ctl *ctl, int argc, char **argv)
{
	static const struct option local[] = {
		{ "to", required_argument, NULL, OPT_TO },
		{ 0 },
	};
	struct option longopts[CTL_MAX_OPTS];
	const char *to = NULL;
	int c;

	ctl_options(local, longopts);
	while ((c = ctl_getopt(ctl, argc, argv, "", longopts)) != -1) {
		switch (c) {
		case OPT_TO:
			to = optarg;
			break;
		case 'h':
			ctl_help(stdout, "group");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("group", "bad option");
		}
	}
	if (argc - optind != 2)
		return ctl_usage_error("group", "group reset takes GROUP TOPIC --to WHERE");
	if (!to)
		return ctl_usage_error("group", "group reset needs --to TIME|earliest|latest");
	enum shmq_start where;
	uint64_t ts = 0;
	if (strcmp(to, "earliest") == 0)
		where = SHMQ_START_EARLIEST;
	else if (strcmp(to, "latest") == 0)
		where = SHMQ_START_LATEST;
	else if (ctl_parse_time(to, &ts) == 0)
		where = SHMQ_START_TIMESTAMP;
	else
		return ctl_usage_error("group", "--to: '%s' is not a TIME, earliest or latest", to);
	const char *group = argv[optind], *topic = argv[optind + 1];
	int ret = ctl_connect(ctl);
	if (ret)
		return ret;
	struct shmq_group_progress *p = NULL;
	int st = shmq_admin_group_reset(ctl->client, group, topic, where, ts, &p);
	if (st < 0)
		return ctl_fail(st, "reset group %s on topic %s", group, topic);
	if (p)
		progress_output(ctl, group, topic, p);
	else if (!ctl->json)
		printf("group %s topic %s: reset\n", group, topic);
	free(p);
	return CTL_EXIT_OK;
}

int ctl_cmd_group(struct ctl *ctl, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		ctl_help(argc < 2 ? stderr : stdout, "group");
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "progress") == 0)
		return group_progress(ctl, argc - 1, argv + 1);
	if (strcmp(argv[1], "reset") == 0)
		return group_reset(ctl, argc - 1, argv + 1);
	return ctl_usage_error("group", "unknown group command '%s' (progress, reset)", argv[1]);
}

int ctl_cmd_status(struct ctl *ctl, int argc, char **argv)
{
	int pr = ctl_plain_args(ctl, argc, argv, "status", 0, "status takes no arguments");

	if (pr >= 0)
		return pr;
	int ret = ctl_connect(ctl);
	if (ret)
		return ret;
	struct shmq_broker_status s;
	int st = shmq_admin_status(ctl->client, &s);
	if (st < 0)
		return ctl_fail(st, "broker status");
	struct shmq_ring_status *rings = NULL;
	size_t n = 0;
	st = shmq_admin_rings(ctl->client, &rings, &n);
	if (st < 0)
		return ctl_fail(st, "ring status");

	uint64_t used = s.disk_total >= s.disk_free ? s.disk_total - s.disk_free : 0;
	double pct = s.disk_total ? 100.0 * (double)used / (double)s.disk_total : 0.0;
	if (ctl->json) {
		json_object *doc = json_object_new_object();
		json_object *b = json_object_new_object();
		json_object_object_add(b, "name", json_object_new_string(s.broker_name));
		json_object_object_add(b, "id", json_object_new_int64(s.broker_id));
		json_object_object_add(b, "pid", json_object_new_int64(s.pid));
		json_object_object_add(b, "uptime_ns", json_object_new_uint64(s.uptime_ns));
		json_object_object_add(b, "flush_mode", json_object_new_string(s.flush_mode ? "sync" : "async"));
		json_object_object_add(b, "topics", json_object_new_int64(s.topics));
		json_object_object_add(b, "clients", json_object_new_int64(s.clients));
		json_object_object_add(b, "rings", json_object_new_int64(s.rings));
		json_object_object_add(b, "fenced_rings", json_object_new_int64(s.fenced_rings));
		json_object_object_add(b, "messages", json_object_new_uint64(s.messages));
		json_object_object_add(doc, "broker", b);
		json_object *cl = json_object_new_object();
		json_object_object_add(cl, "min_offset", json_object_new_uint64(s.commitlog_min_offset));
		json_object_object_add(cl, "max_offset", json_object_new_uint64(s.commitlog_max_offset));
		json_object_object_add(cl, "flushed_offset", json_object_new_uint64(s.commitlog_flushed_offset));
		json_object_object_add(doc, "commitlog", cl);
		json_object *d = json_object_new_object();
		json_object_object_add(d, "store_bytes", json_object_new_uint64(s.store_bytes));
		json_object_object_add(d, "total", json_object_new_uint64(s.disk_total));
		json_object_object_add(d, "free", json_object_new_uint64(s.disk_free));
		json_object_object_add(d, "used_percent", json_object_new_double(pct));
		json_object_object_add(doc, "disk", d);
		json_object *r = json_object_new_object();
		json_object_object_add(r, "sessions", json_object_new_int64(s.remote.sessions));
		json_object_object_add(r, "members", json_object_new_int64(s.remote.members));
		json_object_object_add(r, "frames", json_object_new_uint64(s.remote.frames));
		json_object_object_add(r, "garbage", json_object_new_uint64(s.remote.garbage));
		json_object_object_add(r, "hello_refused", json_object_new_uint64(s.remote.hello_refused));
		json_object_object_add(r, "requests", json_object_new_uint64(s.remote.requests));
		json_object_object_add(r, "errors", json_object_new_uint64(s.remote.errors));
		json_object_object_add(r, "produced", json_object_new_uint64(s.remote.produced));
		json_object_object_add(r, "produce_dups", json_object_new_uint64(s.remote.produce_dups));
		json_object_object_add(r, "pulled", json_object_new_uint64(s.remote.pulled));
		json_object_object_add(r, "leases_expired", json_object_new_uint64(s.remote.leases_expired));
		json_object_object_add(doc, "remote", r);
		json_object_object_add(b, "guard_trips", json_object_new_uint64(s.guard_trips));
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, ctl_ring_json(&rings[i]));
		json_object_object_add(doc, "rings", arr);
		ctl_json_print(doc, true);
	} else {
		char b1[24], b2[24], b3[24], b4[24];
		uint64_t up_s = s.uptime_ns / 1000000000u;
		printf("broker %s (id %" PRIu32 ", pid %" PRIu32 "), up %" PRIu64 "h%02" PRIu64 "m%02" PRIu64
		       "s, flush %s\n",
		       s.broker_name, s.broker_id, s.pid, up_s / 3600, up_s / 60 % 60, up_s % 60,
		       s.flush_mode ? "sync" : "async");
		printf("topics %" PRIu32 ", clients %" PRIu32 ", rings %" PRIu32 " (%" PRIu32
		       " fenced), messages persisted this run %" PRIu64 "\n",
		       s.topics, s.clients, s.rings, s.fenced_rings, s.messages);
		printf("commitlog: min %" PRIu64 ", max %" PRIu64 ", flushed %" PRIu64 " (%" PRIu64
		       " bytes not yet flushed)\n",
		       s.commitlog_min_offset, s.commitlog_max_offset, s.commitlog_flushed_offset,
		       s.commitlog_max_offset >= s.commitlog_flushed_offset
			       ? s.commitlog_max_offset - s.commitlog_flushed_offset : 0);
		printf("disk: store %s; file system %s of %s used (%.1f %%), %s free\n",
		       ctl_fmt_bytes(s.store_bytes, b1, sizeof(b1)), ctl_fmt_bytes(used, b2, sizeof(b2)),
		       ctl_fmt_bytes(s.disk_total, b3, sizeof(b3)), pct,
		       ctl_fmt_bytes(s.disk_free, b4, sizeof(b4)));
		if (s.remote.frames || s.remote.sessions)
			printf("remote: %" PRIu32 " sessions, %" PRIu32 " members; %" PRIu64 " frames (%" PRIu64
			       " garbage), %" PRIu64 " HELLOs refused, %" PRIu64 " requests (%" PRIu64
			       " failed), %" PRIu64 " produced (%" PRIu64 " resent), %" PRIu64 " pulled, %" PRIu64
			       " leases expired\n",
			       s.remote.sessions, s.remote.members, s.remote.frames, s.remote.garbage,
			       s.remote.hello_refused, s.remote.requests, s.remote.errors, s.remote.produced,
			       s.remote.produce_dups, s.remote.pulled, s.remote.leases_expired);
		if (s.guard_trips)
			printf("shared files shrunk by clients (rings/tables fenced): %" PRIu64 "\n",
			       s.guard_trips);
		ctl_ring_table(stdout, rings, n, NULL);
	}
	free(rings);
	return CTL_EXIT_OK;
}
