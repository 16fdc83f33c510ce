/* SPDX-License-Identifier: Apache-2.0 */
/* shmqctl: the admin command line (client/shmqctl.h). This file holds main(),
 * the help texts and what every command group shares: argument handling,
 * connection, error reporting, times and output helpers. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/shmqctl.h"

static const char *const usage_main =
	"usage: shmqctl [--socket PATH | --broker URL] [--json] COMMAND [ARGS...]\n"
	"\n"
	"Administer and use a shmq broker (shmqd) through libshmq.\n"
	"\n"
	"commands:\n"
	"  topic create NAME [--queues N]   create a topic (admin right)\n"
	"  topic list                       every topic\n"
	"  topic describe NAME              queues, their rings and next offsets\n"
	"  send TOPIC [MESSAGE...]          send each MESSAGE, or one message per stdin line\n"
	"  consume TOPIC --group G          print messages (--follow to keep waiting)\n"
	"  query --id MSGID                 read one stored message by id\n"
	"  query TOPIC --key K              stored messages with key K (newest first)\n"
	"  group progress GROUP TOPIC       committed, max offset, lag and owner per queue\n"
	"  group reset GROUP TOPIC --to T   move a group's offsets to a time, earliest or latest\n"
	"  status                           broker, rings (persisted/flushed positions), disk use\n"
	"  help [COMMAND]                   this text, or a command's\n"
	"\n"
	"options (anywhere on the line):\n"
	"  --socket PATH   broker control socket (default: $SHMQ_SOCKET, else\n"
	"                  $XDG_RUNTIME_DIR/shmq/shmqd.sock, else /tmp/shmq-<uid>/shmqd.sock)\n"
	"  --broker URL    a remote broker's port, udp://HOST:PORT (or a socket PATH, as\n"
	"                  --socket); every command works remotely (query reads each\n"
	"                  record over the network: up to 32 KiB per record)\n"
	"  --principal NAME  remote: who to authenticate as (default: $SHMQ_PRINCIPAL,\n"
	"                  else the user's name; the broker's ACL decides by it)\n"
	"  --secret-file PATH  remote: the broker's shared secret (default: $SHMQ_SECRET_FILE)\n"
	"  --json          one JSON document on stdout, for scripts\n"
	"  --help          help (after a command: that command's help)\n"
	"\n"
	"TIME is ISO-8601 UTC (2026-11-24T10:12:35Z, 2026-11-24T10:12:35.250Z,\n"
	"2026-11-24), epoch milliseconds (1795515155000) or `now`.\n"
	"exit status: 0 ok, 1 usage error, 2 broker error (the message says why).\n";

static const struct {
	const char *cmd;
	const char *text;
} helps[] = {
	{ "topic",
	  "usage: shmqctl topic create NAME [--queues N]\n"
	  "       shmqctl topic list\n"
	  "       shmqctl topic describe NAME\n"
	  "\n"
	  "create: make topic NAME (1..127 of [A-Za-z0-9_.%|-]) with N queues (default 4,\n"
	  "  1..1024); needs the admin right. Creating an existing topic with the same\n"
	  "  queue count succeeds; with another count it fails (exit 2).\n"
	  "list: every topic with its queue count and creation time.\n"
	  "describe: the topic and, per queue, its ring: capacity, tail, persisted and\n"
	  "  flushed positions, next queue offset, fenced flag.\n" },
	{ "send",
	  "usage: shmqctl send TOPIC [--key K] [--tag T] [--prop k=v]... [--sharding-key S]\n"
	  "                    [--delivery ring|persisted|durable] [MESSAGE...]\n"
	  "\n"
	  "Send each MESSAGE argument as one message; without MESSAGE, one message per\n"
	  "line of stdin (the newline is not part of the body). Prints, per message, its\n"
	  "queue, queue offset and message id.\n"
	  "  --key K             message keys (space-separated; indexed for `query --key`)\n"
	  "  --tag T             message tag\n"
	  "  --prop k=v          user property (repeatable)\n"
	  "  --sharding-key S    choose the queue by hash of S (same S, same queue, kept\n"
	  "                      in order); default: round-robin over the queues\n"
	  "  --delivery MODE     ring: return once in the ring (offset and id unknown);\n"
	  "                      persisted (default): once in the commitlog;\n"
	  "                      durable: once flushed to disk\n" },
	{ "consume",
	  "usage: shmqctl consume TOPIC --group G [--from committed|earliest|latest|TIME]\n"
	  "                       [--count N] [--follow] [--timeout MS]\n"
	  "                       [--visibility immediate|persisted|durable] [--broadcast]\n"
	  "                       [--body]\n"
	  "\n"
	  "Join consumer group G and print the messages of the queues it is given,\n"
	  "committing what was printed. Stops after N messages (--count), or when no\n"
	  "message came for MS milliseconds (--timeout, default 1000), unless --follow\n"
	  "(then only --count or SIGINT/SIGTERM stop it).\n"
	  "  --from WHERE    where a queue the group never committed starts: committed\n"
	  "                  (default; the latest message then, as in RocketMQ),\n"
	  "                  earliest, latest, or the first message stored at or after\n"
	  "                  TIME. A committed queue resumes where the group left off:\n"
	  "                  move the group with `group reset` to read it again.\n"
	  "  --visibility V  immediate (default: committed to the ring), persisted (in\n"
	  "                  the commitlog) or durable (flushed)\n"
	  "  --broadcast     broadcasting member (gets every queue; commits nothing)\n"
	  "  --body          print only the bodies, one per line\n"
	  "With --json: one document {\"messages\": [...]}, or with --follow one JSON\n"
	  "object per message per line.\n" },
	{ "query",
	  "usage: shmqctl query --id MSGID\n"
	  "       shmqctl query TOPIC --key K [--begin TIME] [--end TIME] [--max N]\n"
	  "\n"
	  "--id: read the stored message MSGID (32 hex digits, as `send` prints).\n"
	  "--key: the stored messages of TOPIC with key K stored in [begin, end]\n"
	  "  (default: any time), newest first, at most N (default and limit 64).\n"
	  "Needs the consume right on the topic.\n" },
	{ "group",
	  "usage: shmqctl group progress GROUP TOPIC\n"
	  "       shmqctl group reset GROUP TOPIC --to TIME|earliest|latest\n"
	  "\n"
	  "progress: per queue the group's committed offset, the stored min/max\n"
	  "  offsets, the lag (max - committed) and the owning member id.\n"
	  "reset: move the group's offset on every queue to the first message stored\n"
	  "  at or after TIME, or to the earliest/latest; live members are told and\n"
	  "  resume from there. Needs the admin right.\n" },
	{ "status",
	  "usage: shmqctl status\n"
	  "\n"
	  "Broker id, name, pid, uptime, clients, flush mode; commitlog min/max/flushed\n"
	  "offsets, store size and disk use; then every ring: capacity, tail, consumed,\n"
	  "persisted and flushed positions, next queue offset, fenced flag.\n" },
};

void ctl_help(FILE *f, const char *cmd)
{
	if (cmd)
		for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
			if (strcmp(helps[i].cmd, cmd) == 0) {
				fputs(helps[i].text, f);
				return;
			}
	fputs(usage_main, f);
}

static const struct option common_opts[] = {
	{ "socket", required_argument, NULL, CTL_OPT_SOCKET },
	{ "broker", required_argument, NULL, CTL_OPT_BROKER },
	{ "principal", required_argument, NULL, CTL_OPT_PRINCIPAL },
	{ "secret-file", required_argument, NULL, CTL_OPT_SECRET_FILE },
	{ "json", no_argument, NULL, CTL_OPT_JSON },
	{ "help", no_argument, NULL, CTL_OPT_HELP },
};
#define COMMON_OPTS (sizeof(common_opts) / sizeof(common_opts[0]))

void ctl_options(const struct option *local, struct option *out)
{
	size_t n = 0;

	for (; local && local[n].name && n < CTL_MAX_OPTS - 1 - COMMON_OPTS; n++)
		out[n] = local[n];
	for (size_t i = 0; i < COMMON_OPTS; i++)
		out[n++] = common_opts[i];
	out[n] = (struct option){ 0 };
}

int ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	for (;;) {
		int c = getopt_long(argc, argv, shortopts, longopts, NULL);
		switch (c) {
		case CTL_OPT_SOCKET:
		case CTL_OPT_BROKER:
			ctl->socket = optarg;
			continue;
		case CTL_OPT_PRINCIPAL:
			ctl->principal = optarg;
			continue;
		case CTL_OPT_SECRET_FILE:
			ctl->secret_file = optarg;
			continue;
		case CTL_OPT_JSON:
			ctl->json = true;
			continue;
		case CTL_OPT_HELP:
			return 'h';
		default:
			return c;
		}
	}
}

int ctl_fail(int status, const char *fmt, ...)
{
	va_list ap;
	const char *broker = shmq_client_last_error();

	fputs("shmqctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s", shmq_strerror(status));
	if (broker && *broker)
		fprintf(stderr, " (broker: %s)", broker);
	fputc('\n', stderr);
	return CTL_EXIT_BROKER;
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("shmqctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(see `shmqctl %s%s--help`)\n", cmd ? cmd : "", cmd ? " " : "");
	return CTL_EXIT_USAGE;
}

int ctl_connect(struct ctl *ctl)
{
	if (ctl->client)
		return CTL_EXIT_OK;
	/* the remote-only options; a local client ignores them */
	const char *principal = ctl->principal ? ctl->principal : getenv("SHMQ_PRINCIPAL");
	SHMQ_CLIENT_OPTS(o, .principal = principal && principal[0] ? principal : NULL,
			 .secret_file = ctl->secret_file);
	int r = shmq_client_open(ctl->socket, &o, &ctl->client);
	if (r < 0) {
		ctl->client = NULL;
		return ctl_fail(r, "cannot connect to the broker at %s",
				ctl->socket ? ctl->socket : "the default socket (see --help)");
	}
	return CTL_EXIT_OK;
}

/* ---- values ---- */

static int parse_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];
		if (ch < '0' || ch > '9')
			return -EINVAL;
		v = v * 10 + (ch - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

int ctl_parse_time(const char *s, uint64_t *ms)
{
	struct tm tm = { 0 };
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
	const char *p = s;

	if (strcmp(s, "now") == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		*ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
		return 0;
	}
	if (strchr(s, '-') == NULL) /* no date: epoch milliseconds */
		return shmq_parse_u64(s, ms) < 0 ? -EINVAL : 0;
	if (parse_digits(&p, 4, &y) < 0 || *p++ != '-' || parse_digits(&p, 2, &mo) < 0 ||
	    *p++ != '-' || parse_digits(&p, 2, &d) < 0)
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (parse_digits(&p, 2, &h) < 0 || *p++ != ':' || parse_digits(&p, 2, &mi) < 0)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (parse_digits(&p, 2, &sec) < 0)
				return -EINVAL;
			if (*p == '.') {
				int digits = 0, scale = 100;
				p++;
				while (*p >= '0' && *p <= '9') {
					if (digits < 3)
						frac += (*p - '0') * scale;
					scale /= 10;
					digits++;
					p++;
				}
				if (digits == 0)
					return -EINVAL;
			}
		}
		if (*p == 'Z' || *p == 'z')
			p++;
		else if (strcmp(p, "+00:00") == 0)
			p += 6;
	}
	if (*p)
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	if (t < 0 || tm.tm_mday != d) /* timegm normalises 2026-02-31 into March */
		return -EINVAL;
	*ms = (uint64_t)t * 1000u + (uint64_t)frac;
	return 0;
}

const char *ctl_fmt_time(uint64_t ms, char *buf, size_t len)
{
	struct tm tm;
	time_t t = (time_t)(ms / 1000u);

	if (ms == 0 || !gmtime_r(&t, &tm)) {
		snprintf(buf, len, "-");
		return buf;
	}
	int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000u));
	if (n < 0 || (size_t)n >= len)
		snprintf(buf, len, "-"); /* a caller's buffer below 25 bytes: no partial date */
	return buf;
}

/* ---- output ---- */

void ctl_json_print(json_object *doc, bool pretty)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		    (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
	puts(json_object_to_json_string_ext(doc, flags));
	json_object_put(doc);
}

json_object *ctl_json_offset(uint64_t off)
{
	return off == SHMQ_OFFSET_UNKNOWN ? NULL : json_object_new_uint64(off);
}

const char *ctl_fmt_offset(uint64_t off, char *buf, size_t len)
{
	if (off == SHMQ_OFFSET_UNKNOWN)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%" PRIu64, off);
	return buf;
}

const char *ctl_fmt_bytes(uint64_t b, char *buf, size_t len)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)b;
	unsigned u = 0;

	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", b);
	else
		snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* A body that is valid UTF-8 without NUL goes into JSON as a string;
 * anything else as base64 (json-c would emit invalid UTF-8 unchanged). */
static bool body_is_text(const void *body, uint32_t len)
{
	const unsigned char *p = body;

	for (size_t i = 0; i < len;) {
		size_t l = p[i] ? utf8_len(p + i, len - i) : 0;
		if (l == 0)
			return false;
		i += l;
	}
	return true;
}

static json_object *base64_json(const void *data, uint32_t len)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t out_len = ((size_t)len + 2) / 3 * 4;
	char *out = malloc(out_len + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		out[o++] = tbl[(v >> 18) & 63];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? tbl[v & 63] : '=';
	}
	out[o] = '\0';
	json_object *j = json_object_new_string_len(out, (int)o);
	free(out);
	return j;
}

json_object *ctl_msg_json(const struct shmq_msg_view *m, uint64_t store_ts_ms)
{
	json_object *o = json_object_new_object();
	char ts[40];

	json_object_object_add(o, "topic", json_object_new_string(m->topic ? m->topic : ""));
	json_object_object_add(o, "queue", json_object_new_int64(m->queue_id));
	json_object_object_add(o, "queue_offset", ctl_json_offset(m->queue_offset));
	json_object_object_add(o, "store_offset", ctl_json_offset(m->store_offset));
	json_object_object_add(o, "msg_id", m->msg_id[0] ? json_object_new_string(m->msg_id) : NULL);
	json_object_object_add(o, "born_ts_ms", json_object_new_uint64(m->born_ts_ms));
	json_object_object_add(o, "born", json_object_new_string(ctl_fmt_time(m->born_ts_ms, ts, sizeof(ts))));
	if (store_ts_ms)
		json_object_object_add(o, "store_ts_ms", json_object_new_uint64(store_ts_ms));
	json_object_object_add(o, "producer_id", json_object_new_uint64(m->producer_id));
	json_object_object_add(o, "producer_seq", json_object_new_uint64(m->producer_seq));
	json_object_object_add(o, "reconsume_times", json_object_new_int64(m->reconsume_times));
	json_object_object_add(o, "keys", m->keys ? json_object_new_string(m->keys) : NULL);
	json_object_object_add(o, "tags", m->tags ? json_object_new_string(m->tags) : NULL);
	json_object *props = json_object_new_object();
	uint32_t it = 0;
	const char *k, *v;
	while (shmq_msg_prop_next(m, &it, &k, &v) == 1)
		json_object_object_add(props, k, json_object_new_string(v));
	json_object_object_add(o, "properties", props);
	json_object_object_add(o, "body_len", json_object_new_int64(m->body_len));
	if (body_is_text(m->body, m->body_len))
		json_object_object_add(o, "body",
				       json_object_new_string_len(m->body ? m->body : "", (int)m->body_len));
	else
		json_object_object_add(o, "body_base64", base64_json(m->body, m->body_len));
	return o;
}

/* Printable text, valid UTF-8 kept; control bytes and invalid UTF-8 escaped. */
static void print_escaped(FILE *f, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len;) {
		unsigned c = p[i];
		size_t l = c >= 0x80 ? utf8_len(p + i, len - i) : 1;
		if (c >= 0x80 && l > 1) {
			fwrite(p + i, 1, l, f);
			i += l;
			continue;
		}
		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\x%02x", c);
		else
			fputc((int)c, f);
		i++;
	}
}

void ctl_msg_print(FILE *f, const struct shmq_msg_view *m, uint64_t store_ts_ms, bool body_only)
{
	char qo[24], ts[40], sts[40];

	if (body_only) {
		print_escaped(f, m->body, m->body_len);
		fputc('\n', f);
		return;
	}
	fprintf(f, "%s queue %" PRIu32 " offset %s id %s born %s", m->topic ? m->topic : "?",
		m->queue_id, ctl_fmt_offset(m->queue_offset, qo, sizeof(qo)),
		m->msg_id[0] ? m->msg_id : "-", ctl_fmt_time(m->born_ts_ms, ts, sizeof(ts)));
	if (store_ts_ms)
		fprintf(f, " stored %s", ctl_fmt_time(store_ts_ms, sts, sizeof(sts)));
	if (m->keys && *m->keys) {
		fputs(" keys ", f);
		print_escaped(f, m->keys, strlen(m->keys));
	}
	if (m->tags && *m->tags) {
		fputs(" tags ", f);
		print_escaped(f, m->tags, strlen(m->tags));
	}
	uint32_t it = 0;
	const char *k, *v;
	while (shmq_msg_prop_next(m, &it, &k, &v) == 1) {
		fputc(' ', f);
		print_escaped(f, k, strlen(k));
		fputc('=', f);
		print_escaped(f, v, strlen(v));
	}
	fprintf(f, " (%" PRIu32 " bytes)\n  ", m->body_len);
	print_escaped(f, m->body, m->body_len);
	fputc('\n', f);
}

/* ---- main ---- */

static const struct {
	const char *name;
	ctl_cmd_fn fn;
} cmds[] = {
	{ "topic", ctl_cmd_topic }, { "send", ctl_cmd_send },   { "consume", ctl_cmd_consume },
	{ "query", ctl_cmd_query }, { "group", ctl_cmd_group }, { "status", ctl_cmd_status },
};

int ctl_plain_args(struct ctl *ctl, int argc, char **argv, const char *cmd, int nargs,
		   const char *usage)
{
	struct option longopts[CTL_MAX_OPTS];
	int c;

	ctl_options(NULL, longopts);
	while ((c = ctl_getopt(ctl, argc, argv, "", longopts)) != -1) {
		if (c == 'h') {
			ctl_help(stdout, cmd);
			return CTL_EXIT_OK;
		}
		return ctl_usage_error(cmd, "bad option");
	}
	if (argc - optind != nargs)
		return ctl_usage_error(cmd, "%s", usage);
	return -1;
}

int main(int argc, char **argv)
{
	struct ctl ctl = { 0 };
	struct option longopts[CTL_MAX_OPTS];

	/* Global options come before the command ('+': stop at the first word). */
	ctl_options(NULL, longopts);
	for (;;) {
		int c = ctl_getopt(&ctl, argc, argv, "+", longopts);
		if (c == -1)
			break;
		if (c == 'h') {
			ctl_help(stdout, NULL);
			return CTL_EXIT_OK;
		}
		return ctl_usage_error(NULL, "unknown option");
	}
	if (optind >= argc) {
		ctl_help(stderr, NULL);
		return CTL_EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	if (strcmp(cmd, "help") == 0) {
		ctl_help(stdout, optind + 1 < argc ? argv[optind + 1] : NULL);
		return CTL_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(cmds[i].name, cmd) != 0)
			continue;
		char **sub = argv + optind;
		int subc = argc - optind;
		optind = 0; /* glibc: 0 re-initialises getopt for the command's own argv */
		int r = cmds[i].fn(&ctl, subc, sub);
		fflush(stdout);
		shmq_client_close(ctl.client);
		if (ferror(stdout) && r == CTL_EXIT_OK) {
			fprintf(stderr, "shmqctl: error writing to stdout\n");
			r = CTL_EXIT_BROKER;
		}
		return r;
	}
	return ctl_usage_error(NULL, "unknown command '%s'", cmd);
}
