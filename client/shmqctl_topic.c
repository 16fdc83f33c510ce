/* SPDX-License-Identifier: Apache-2.0 */
/* shmqctl topic create | list | describe (client/shmqctl.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "client/shmqctl.h"

enum { OPT_QUEUES = CTL_OPT_FIRST_LOCAL };

static json_object *topic_json(const struct shmq_topic_info *t)
{
	json_object *o = json_object_new_object();
	char ts[40];
	uint64_t ms = t->created_ns / 1000000u;

	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "queues", json_object_new_int64(t->queues));
	json_object_object_add(o, "created_ns", json_object_new_uint64(t->created_ns));
	json_object_object_add(o, "created", json_object_new_string(ctl_fmt_time(ms, ts, sizeof(ts))));
	return o;
}

json_object *ctl_ring_json(const struct shmq_ring_status *r)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "topic", json_object_new_string(r->topic));
	json_object_object_add(o, "queue", json_object_new_int64(r->queue));
	json_object_object_add(o, "fenced", json_object_new_boolean(r->fenced));
	json_object_object_add(o, "capacity", json_object_new_uint64(r->capacity));
	json_object_object_add(o, "tail", json_object_new_uint64(r->tail));
	json_object_object_add(o, "consumed", json_object_new_uint64(r->consumed));
	json_object_object_add(o, "persisted", json_object_new_uint64(r->persisted));
	json_object_object_add(o, "flushed", json_object_new_uint64(r->flushed));
	json_object_object_add(o, "next_queue_offset", ctl_json_offset(r->next_queue_offset));
	json_object_object_add(o, "unblocked", json_object_new_uint64(r->unblocked));
	return o;
}

void ctl_ring_table(FILE *f, const struct shmq_ring_status *rings, size_t n, const char *topic)
{
	char cap[24], next[24];
	bool header = false;

	for (size_t i = 0; i < n; i++) {
		const struct shmq_ring_status *r = &rings[i];
		if (topic && strcmp(r->topic, topic) != 0)
			continue;
		if (!header) {
			fprintf(f, "%-24s %5s %10s %14s %14s %14s %14s %12s %s\n", "TOPIC", "QUEUE", "CAPACITY",
				"TAIL", "CONSUMED", "PERSISTED", "FLUSHED", "NEXT_OFFSET", "STATE");
			header = true;
		}
		fprintf(f, "%-24s %5" PRIu32 " %10s %14" PRIu64 " %14" PRIu64 " %14" PRIu64 " %14" PRIu64
			   " %12s %s\n",
			r->topic, r->queue, ctl_fmt_bytes(r->capacity, cap, sizeof(cap)), r->tail, r->consumed,
			r->persisted, r->flushed, ctl_fmt_offset(r->next_queue_offset, next, sizeof(next)),
			r->fenced ? "FENCED" : "ok");
	}
	if (!header)
		fprintf(f, "(no rings open)\n");
}

static int topic_create(struct ctl *ctl, int argc, char **argv)
{
	static const struct option local[] = {
		{ "queues", required_argument, NULL, OPT_QUEUES },
		{ 0 },
	};
	struct option longopts[CTL_MAX_OPTS];
	uint64_t queues = 4;
	int c;

	ctl_options(local, longopts);
	while ((c = ctl_getopt(ctl, argc, argv, "q:", longopts)) != -1) {
		switch (c) {
		case 'q':
		case OPT_QUEUES:
			if (shmq_parse_u64(optarg, &queues) < 0 || queues < 1 || queues > 1024)
				return ctl_usage_error("topic", "--queues: '%s' is not a count in 1..1024", optarg);
			break;
		case 'h':
			ctl_help(stdout, "topic");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("topic", "bad option");
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error("topic", "topic create takes one NAME");
	const char *name = argv[optind];
	int r = ctl_connect(ctl);
	if (r)
		return r;
	struct shmq_topic_info info;
	memset(&info, 0, sizeof(info));
	int st = shmq_topic_create(ctl->client, name, (uint32_t)queues, &info);
	/* shmq.h: an existing topic with the same queue count is a success;
	 * accept the -EEXIST some brokers answer for it as well. */
	if (st == -EEXIST && info.queues == queues)
		st = 0;
	if (st < 0) {
		if (st == -EEXIST && info.queues)
			return ctl_fail(st, "topic %s exists with %" PRIu32 " queues, not %" PRIu64, name,
					info.queues, queues);
		return ctl_fail(st, "topic create %s", name);
	}
	if (ctl->json) {
		ctl_json_print(topic_json(&info), true);
	} else {
		printf("topic %s: %" PRIu32 " queues\n", info.name[0] ? info.name : name,
		       info.queues ? info.queues : (uint32_t)queues);
	}
	return CTL_EXIT_OK;
}

static int topic_list(struct ctl *ctl, int argc, char **argv)
{
	int pr = ctl_plain_args(ctl, argc, argv, "topic", 0, "topic list takes no arguments");

	if (pr >= 0)
		return pr;
	int r = ctl_connect(ctl);
	if (r)
		return r;
	struct shmq_topic_info *t = NULL;
	size_t n = 0;
	int st = shmq_admin_topics(ctl->client, &t, &n);
	if (st < 0)
		return ctl_fail(st, "topic list");
	if (ctl->json) {
		json_object *doc = json_object_new_object();
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			json_object_array_add(arr, topic_json(&t[i]));
		json_object_object_add(doc, "topics", arr);
		ctl_json_print(doc, true);
	} else if (n == 0) {
		printf("(no topics)\n");
	} else {
		char ts[40];
		printf("%-32s %6s  %s\n", "TOPIC", "QUEUES", "CREATED");
		for (size_t i = 0; i < n; i++)
			printf("%-32s %6" PRIu32 "  %s\n", t[i].name, t[i].queues,
			       ctl_fmt_time(t[i].created_ns / 1000000u, ts, sizeof(ts)));
	}
	free(t);
	return CTL_EXIT_OK;
}

static int topic_describe(struct ctl *ctl, int argc, char **argv)
{
	int pr = ctl_plain_args(ctl, argc, argv, "topic", 1, "topic describe takes one NAME");

	if (pr >= 0)
		return pr;
	const char *name = argv[optind];
	int r = ctl_connect(ctl);
	if (r)
		return r;
	struct shmq_topic_info info;
	int st = shmq_topic_describe(ctl->client, name, &info);
	if (st < 0)
		return ctl_fail(st, "topic describe %s", name);
	struct shmq_ring_status *rings = NULL;
	size_t n = 0;
	st = shmq_admin_rings(ctl->client, &rings, &n);
	if (st < 0)
		return ctl_fail(st, "ring status");
	if (ctl->json) {
		json_object *doc = topic_json(&info);
		json_object *arr = json_object_new_array();
		for (size_t i = 0; i < n; i++)
			if (strcmp(rings[i].topic, info.name) == 0)
				json_object_array_add(arr, ctl_ring_json(&rings[i]));
		json_object_object_add(doc, "rings", arr);
		ctl_json_print(doc, true);
	} else {
		char ts[40];
		printf("topic %s: %" PRIu32 " queues, created %s\n", info.name, info.queues,
		       ctl_fmt_time(info.created_ns / 1000000u, ts, sizeof(ts)));
		ctl_ring_table(stdout, rings, n, info.name);
	}
	free(rings);
	return CTL_EXIT_OK;
}

int ctl_cmd_topic(struct ctl *ctl, int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		ctl_help(argc < 2 ? stderr : stdout, "topic");
		return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
	}
	if (strcmp(argv[1], "create") == 0)
		return topic_create(ctl, argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return topic_list(ctl, argc - 1, argv + 1);
	if (strcmp(argv[1], "describe") == 0)
		return topic_describe(ctl, argc - 1, argv + 1);
	return ctl_usage_error("topic", "unknown topic command '%s' (create, list, describe)", argv[1]);
}
