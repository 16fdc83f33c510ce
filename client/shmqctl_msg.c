/* SPDX-License-Identifier: Apache-2.0 */
/* shmqctl send | consume | query (client/shmqctl.h). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/shmqctl.h"
#include "common/clock.h"

#define MAX_PROPS 64

enum {
	OPT_KEY = CTL_OPT_FIRST_LOCAL,
	OPT_TAG,
	OPT_PROP,
	OPT_SHARDING_KEY,
	OPT_DELIVERY,
	OPT_GROUP,
	OPT_FROM,
	OPT_COUNT,
	OPT_FOLLOW,
	OPT_TIMEOUT,
	OPT_VISIBILITY,
	OPT_BROADCAST,
	OPT_BODY,
	OPT_ID,
	OPT_BEGIN,
	OPT_END,
	OPT_MAX,
};

/* ------------------------------------------------------------------ */
/* send                                                                */

struct send_ctx {
	struct ctl *ctl;
	shmq_producer_t *p;
	struct shmq_message tmpl; /* keys, tags, props, sharding key; body per message */
	json_object *sent;        /* --json: array of results */
	uint64_t count;
};

static int send_one(struct send_ctx *s, const void *body, size_t len)
{
	struct shmq_message m = s->tmpl;
	struct shmq_send_result res;

	if (len > UINT32_MAX)
		return ctl_fail(SHMQ_ETOOBIG, "send message %" PRIu64, s->count);
	m.body = body;
	m.body_len = (uint32_t)len;
	int st = shmq_producer_send(s->p, &m, &res);
	if (st < 0)
		return ctl_fail(st, "send message %" PRIu64, s->count);
	s->count++;
	if (s->ctl->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "queue", json_object_new_int64(res.queue_id));
		json_object_object_add(o, "queue_offset", ctl_json_offset(res.queue_offset));
		json_object_object_add(o, "store_offset", ctl_json_offset(res.store_offset));
		json_object_object_add(o, "msg_id", res.msg_id[0] ? json_object_new_string(res.msg_id) : NULL);
		json_object_object_add(o, "producer_id", json_object_new_uint64(res.producer_id));
		json_object_object_add(o, "producer_seq", json_object_new_uint64(res.producer_seq));
		json_object_array_add(s->sent, o);
	} else if (res.queue_offset == SHMQ_OFFSET_UNKNOWN) {
		printf("queue %" PRIu32 " offset - id - (in the ring; producer %" PRIx64 " seq %" PRIu64 ")\n",
		       res.queue_id, res.producer_id, res.producer_seq);
	} else {
		printf("queue %" PRIu32 " offset %" PRIu64 " id %s\n", res.queue_id, res.queue_offset,
		       res.msg_id[0] ? res.msg_id : "-");
	}
	return CTL_EXIT_OK;
}

static int parse_delivery(const char *s, enum shmq_delivery *d)
{
	if (strcmp(s, "ring") == 0)
		*d = SHMQ_DELIVERY_RING;
	else if (strcmp(s, "persisted") == 0)
		*d = SHMQ_DELIVERY_PERSISTED;
	else if (strcmp(s, "durable") == 0)
		*d = SHMQ_DELIVERY_DURABLE;
	else
		return -EINVAL;
	return 0;
}

int ctl_cmd_send(struct ctl *ctl, int argc, char **argv)
{
	static const struct option local[] = {
		{ "key", required_argument, NULL, OPT_KEY },
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "prop", required_argument, NULL, OPT_PROP },
		{ "sharding-key", required_argument, NULL, OPT_SHARDING_KEY },
		{ "delivery", required_argument, NULL, OPT_DELIVERY },
		{ 0 },
	};
	struct option longopts[CTL_MAX_OPTS];
	struct shmq_prop props[MAX_PROPS];
	char *prop_buf[MAX_PROPS];
	uint32_t nprops = 0;
	const char *keys = NULL, *tags = NULL, *shard = NULL;
	enum shmq_delivery delivery = SHMQ_DELIVERY_PERSISTED;
	int c, ret = CTL_EXIT_OK;

	ctl_options(local, longopts);
	while ((c = ctl_getopt(ctl, argc, argv, "k:t:p:s:d:", longopts)) != -1) {
		switch (c) {
		case 'k':
		case OPT_KEY:
			keys = optarg;
			break;
		case 't':
		case OPT_TAG:
			tags = optarg;
			break;
		case 'p':
		case OPT_PROP: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				ret = ctl_usage_error("send", "--prop '%s': expected key=value", optarg);
			else if (nprops == MAX_PROPS)
				ret = ctl_usage_error("send", "at most %d --prop", MAX_PROPS);
			if (ret)
				goto out;
			char *k = strndup(optarg, (size_t)(eq - optarg));
			if (!k) {
				ret = ctl_fail(-ENOMEM, "send");
				goto out;
			}
			prop_buf[nprops] = k;
			props[nprops].key = k;
			props[nprops].value = eq + 1;
			nprops++;
			break;
		}
		case 's':
		case OPT_SHARDING_KEY:
			shard = optarg;
			break;
		case 'd':
		case OPT_DELIVERY:
			if (parse_delivery(optarg, &delivery) < 0) {
				ret = ctl_usage_error("send", "--delivery: '%s' is not ring, persisted or durable",
						      optarg);
				goto out;
			}
			break;
		case 'h':
			ctl_help(stdout, "send");
			goto out;
		default:
			ret = ctl_usage_error("send", "bad option");
			goto out;
		}
	}
	if (optind >= argc) {
		ret = ctl_usage_error("send", "send needs a TOPIC");
		goto out;
	}
	const char *topic = argv[optind++];
	ret = ctl_connect(ctl);
	if (ret)
		goto out;

	SHMQ_PRODUCER_OPTS(popts, .topic = topic, .delivery = delivery,
			   .select = shard ? SHMQ_SELECT_HASH : SHMQ_SELECT_ROUND_ROBIN);
	struct send_ctx s = { .ctl = ctl };
	int st = shmq_producer_open(ctl->client, &popts, &s.p);
	if (st < 0) {
		ret = ctl_fail(st, "open a producer on topic %s", topic);
		goto out;
	}
	s.tmpl.keys = keys;
	s.tmpl.tags = tags;
	s.tmpl.props = nprops ? props : NULL;
	s.tmpl.nprops = nprops;
	if (shard) {
		s.tmpl.sharding_key = shard;
		s.tmpl.sharding_key_len = (uint32_t)strlen(shard);
	}
	if (ctl->json)
		s.sent = json_object_new_array();

	if (optind < argc) {
		for (int i = optind; i < argc && ret == CTL_EXIT_OK; i++)
			ret = send_one(&s, argv[i], strlen(argv[i]));
	} else {
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		while (ret == CTL_EXIT_OK && (n = getline(&line, &cap, stdin)) >= 0) {
			if (n > 0 && line[n - 1] == '\n')
				n--;
			ret = send_one(&s, line, (size_t)n);
		}
		if (ret == CTL_EXIT_OK && ferror(stdin))
			ret = ctl_fail(-EIO, "read stdin");
		free(line);
	}
	shmq_producer_close(s.p);
	if (ctl->json) {
		/* Even after a failure the document lists what was sent. */
		json_object *doc = json_object_new_object();
		json_object_object_add(doc, "topic", json_object_new_string(topic));
		json_object_object_add(doc, "sent", s.sent);
		ctl_json_print(doc, true);
	}
out:
	for (uint32_t i = 0; i < nprops; i++)
		free(prop_buf[i]);
	return ret;
}

/* ------------------------------------------------------------------ */
/* consume                                                             */

/* Set by SIGINT/SIGTERM; volatile sig_atomic_t is what a handler may write
 * (single-threaded use: the handler runs on this thread). */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static int parse_visibility(const char *s, enum shmq_visibility *v)
{
	if (strcmp(s, "immediate") == 0)
		*v = SHMQ_VISIBLE_IMMEDIATE;
	else if (strcmp(s, "persisted") == 0)
		*v = SHMQ_VISIBLE_PERSISTED;
	else if (strcmp(s, "durable") == 0)
		*v = SHMQ_VISIBLE_DURABLE;
	else
		return -EINVAL;
	return 0;
}

static int parse_start(const char *s, enum shmq_start *where, uint64_t *ts_ms)
{
	if (strcmp(s, "committed") == 0)
		*where = SHMQ_START_COMMITTED;
	else if (strcmp(s, "earliest") == 0)
		*where = SHMQ_START_EARLIEST;
	else if (strcmp(s, "latest") == 0)
		*where = SHMQ_START_LATEST;
	else if (ctl_parse_time(s, ts_ms) == 0)
		*where = SHMQ_START_TIMESTAMP;
	else
		return -EINVAL;
	return 0;
}

int ctl_cmd_consume(struct ctl *ctl, int argc, char **argv)
{
	static const struct option local[] = {
		{ "group", required_argument, NULL, OPT_GROUP },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "count", required_argument, NULL, OPT_COUNT },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "visibility", required_argument, NULL, OPT_VISIBILITY },
		{ "broadcast", no_argument, NULL, OPT_BROADCAST },
		{ "body", no_argument, NULL, OPT_BODY },
		{ 0 },
	};
	struct option longopts[CTL_MAX_OPTS];
	const char *group = NULL;
	enum shmq_start where = SHMQ_START_COMMITTED;
	enum shmq_visibility vis = SHMQ_VISIBLE_IMMEDIATE;
	uint64_t ts_ms = 0, count = UINT64_MAX, timeout_ms = 1000;
	bool follow = false, broadcast = false, body_only = false;
	int c;

	ctl_options(local, longopts);
	while ((c = ctl_getopt(ctl, argc, argv, "g:n:f", longopts)) != -1) {
		switch (c) {
		case 'g':
		case OPT_GROUP:
			group = optarg;
			break;
		case OPT_FROM:
			if (parse_start(optarg, &where, &ts_ms) < 0)
				return ctl_usage_error("consume",
						       "--from: '%s' is not committed, earliest, latest or a TIME",
						       optarg);
			break;
		case 'n':
		case OPT_COUNT:
			if (shmq_parse_u64(optarg, &count) < 0 || count == 0)
				return ctl_usage_error("consume", "--count: '%s' is not a positive count", optarg);
			break;
		case 'f':
		case OPT_FOLLOW:
			follow = true;
			break;
		case OPT_TIMEOUT:
			if (shmq_parse_u64(optarg, &timeout_ms) < 0 || timeout_ms > 86400000u)
				return ctl_usage_error("consume", "--timeout: '%s' is not milliseconds", optarg);
			break;
		case OPT_VISIBILITY:
			if (parse_visibility(optarg, &vis) < 0)
				return ctl_usage_error("consume",
						       "--visibility: '%s' is not immediate, persisted or durable",
						       optarg);
			break;
		case OPT_BROADCAST:
			broadcast = true;
			break;
		case OPT_BODY:
			body_only = true;
			break;
		case 'h':
			ctl_help(stdout, "consume");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("consume", "bad option");
		}
	}
	if (argc - optind != 1)
		return ctl_usage_error("consume", "consume takes one TOPIC");
	if (!group)
		return ctl_usage_error("consume", "consume needs --group G");
	const char *topic = argv[optind];
	int ret = ctl_connect(ctl);
	if (ret)
		return ret;

	SHMQ_CONSUMER_OPTS(copts, .group = group, .topic = topic,
			   .mode = broadcast ? SHMQ_CONSUME_BROADCASTING : SHMQ_CONSUME_CLUSTERING,
			   .visibility = vis, .start = where, .start_ts_ms = ts_ms);
	shmq_consumer_t *cs;
	int st = shmq_consumer_open(ctl->client, &copts, &cs);
	if (st < 0)
		return ctl_fail(st, "join group %s on topic %s", group, topic);

	struct sigaction sa = { .sa_handler = on_stop }; /* no SA_RESTART: a wait returns early */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	json_object *arr = ctl->json && !follow ? json_object_new_array() : NULL;
	struct shmq_msg_view views[64];
	uint64_t got = 0, last = shmq_now_ns() / 1000000u;
	while (!stop_requested && got < count) {
		uint64_t left = count - got;
		unsigned max = left < 64 ? (unsigned)left : 64;
		/* Short slices: a signal or the idle deadline is seen within 200 ms. */
		int n = shmq_consumer_poll(cs, views, max, 200u * 1000000u);
		if (n == -EINTR)
			continue; /* a signal: stop_requested says whether to go on */
		if (n < 0) {
			ret = ctl_fail(n, "poll group %s on topic %s", group, topic);
			break;
		}
		for (int i = 0; i < n; i++) {
			if (arr) {
				json_object_array_add(arr, ctl_msg_json(&views[i], 0));
			} else if (ctl->json) {
				ctl_json_print(ctl_msg_json(&views[i], 0), false);
			} else {
				ctl_msg_print(stdout, &views[i], 0, body_only);
			}
		}
		if (n > 0) {
			got += (uint64_t)n;
			last = shmq_now_ns() / 1000000u;
			if (follow)
				fflush(stdout);
		} else if (!follow && shmq_now_ns() / 1000000u - last >= timeout_ms) {
			break;
		}
	}
	/* Closing commits what the last poll returned: everything printed. */
	shmq_consumer_close(cs);
	if (arr) {
		json_object *doc = json_object_new_object();
		json_object_object_add(doc, "topic", json_object_new_string(topic));
		json_object_object_add(doc, "group", json_object_new_string(group));
		json_object_object_add(doc, "count", json_object_new_uint64(got));
		json_object_object_add(doc, "messages", arr);
		ctl_json_print(doc, true);
	} else if (!ctl->json && !body_only) {
		fprintf(stderr, "shmqctl: %" PRIu64 " message%s\n", got, got == 1 ? "" : "s");
	}
	return ret;
}

/* ------------------------------------------------------------------ */
/* query                                                               */

int ctl_cmd_query(struct ctl *ctl, int argc, char **argv)
{
	static const struct option local[] = {
		{ "id", required_argument, NULL, OPT_ID },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "begin", required_argument, NULL, OPT_BEGIN },
		{ "end", required_argument, NULL, OPT_END },
		{ "max", required_argument, NULL, OPT_MAX },
		{ 0 },
	};
	struct option longopts[CTL_MAX_OPTS];
	const char *id = NULL, *key = NULL;
	uint64_t begin = 0, end = UINT64_MAX, max = 64;
	int c;

	ctl_options(local, longopts);
	while ((c = ctl_getopt(ctl, argc, argv, "i:k:", longopts)) != -1) {
		switch (c) {
		case 'i':
		case OPT_ID:
			id = optarg;
			break;
		case 'k':
		case OPT_KEY:
			key = optarg;
			break;
		case OPT_BEGIN:
		case OPT_END:
			if (ctl_parse_time(optarg, c == OPT_BEGIN ? &begin : &end) < 0)
				return ctl_usage_error("query", "--%s: '%s' is not a TIME",
						       c == OPT_BEGIN ? "begin" : "end", optarg);
			break;
		case OPT_MAX:
			if (shmq_parse_u64(optarg, &max) < 0 || max < 1 || max > 64)
				return ctl_usage_error("query", "--max: '%s' is not a count in 1..64", optarg);
			break;
		case 'h':
			ctl_help(stdout, "query");
			return CTL_EXIT_OK;
		default:
			return ctl_usage_error("query", "bad option");
		}
	}
	if (!!id == !!key)
		return ctl_usage_error("query", "query needs --id MSGID or TOPIC --key K");
	if (id && argc - optind != 0)
		return ctl_usage_error("query", "query --id takes no TOPIC");
	if (key && argc - optind != 1)
		return ctl_usage_error("query", "query --key needs one TOPIC");
	if (begin > end)
		return ctl_usage_error("query", "--begin is after --end");
	uint32_t bid;
	uint64_t off;
	if (id && shmq_msgid_decode(id, &bid, &off) < 0)
		return ctl_usage_error("query", "'%s' is not a message id (32 hex digits, as send prints)", id);
	int ret = ctl_connect(ctl);
	if (ret)
		return ret;

	if (id) {
		struct shmq_admin_msg m;
		int st = shmq_admin_read_msgid(ctl->client, id, &m);
		if (st < 0)
			return ctl_fail(st, "query message %s", id);
		if (ctl->json)
			ctl_json_print(ctl_msg_json(&m.v, m.store_ts_ms), true);
		else
			ctl_msg_print(stdout, &m.v, m.store_ts_ms, false);
		shmq_admin_msg_free(&m);
		return CTL_EXIT_OK;
	}

	const char *topic = argv[optind];
	struct shmq_admin_msg *msgs = NULL;
	int n = shmq_admin_query_key(ctl->client, topic, key, begin, end, (unsigned)max, &msgs);
	if (n < 0)
		return ctl_fail(n, "query topic %s key %s", topic, key);
	if (ctl->json) {
		json_object *doc = json_object_new_object();
		json_object *arr = json_object_new_array();
		for (int i = 0; i < n; i++)
			json_object_array_add(arr, ctl_msg_json(&msgs[i].v, msgs[i].store_ts_ms));
		json_object_object_add(doc, "topic", json_object_new_string(topic));
		json_object_object_add(doc, "key", json_object_new_string(key));
		json_object_object_add(doc, "messages", arr);
		ctl_json_print(doc, true);
	} else {
		for (int i = 0; i < n; i++)
			ctl_msg_print(stdout, &msgs[i].v, msgs[i].store_ts_ms, false);
		fprintf(stderr, "shmqctl: %d message%s\n", n, n == 1 ? "" : "s");
	}
	for (int i = 0; i < n; i++)
		shmq_admin_msg_free(&msgs[i]);
	free(msgs);
	return CTL_EXIT_OK;
}
