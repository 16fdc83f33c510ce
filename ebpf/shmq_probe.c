/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmq-probe: the resident loader of ebpf/shmq_probe.bpf.c.
 *
 *   shmq-probe --binary PATH [--binary PATH ...] [--broker NAME]
 *              [--broker-pid PID] [--pid PID ...] [--pin-root DIR]
 *              [--socket PATH [--group NAME ...]] [--port N] [--cleanup]
 *   shmq-probe --no-bpf --socket PATH [--group NAME ...] [--broker NAME] [--port N]
 *
 * Mounts bpffs (and tracefs, for the fdatasync tracepoints) when absent,
 * loads the skeleton with its maps pinned by name under the pin root
 * (default /sys/fs/bpf/shmq/<broker>/), attaches every shmq USDT probe found
 * in each --binary (shmqd, libshmq.so, ...) with pid -1 (a pid attach does
 * not follow fork; the programs filter by tgid instead), and serves the maps
 * as Prometheus text on http://127.0.0.1:<port>/metrics until SIGINT or
 * SIGTERM. USDT links cannot be pinned, hence resident.
 *
 * With --socket it also connects to the broker as an ordinary libshmq client
 * and adds the broker's in-process counters to every scrape (ebpf/
 * broker_metrics.c); the broker's pid and name then default --broker-pid
 * and --broker. --no-bpf serves only those: no privilege needed.
 *
 * Once attached and serving it prints one line on stdout:
 *   ready port=<port> pin_root=<dir> links=<n>
 * Exit status: 0 after a signal, 2 bad arguments, 3 BPF unavailable here
 * (no bpffs/tracefs, no privilege), 1 any other failure.
 * --port 0 picks a free port (tests). --cleanup removes the pins on exit
 * (tests); by default they stay, so bpftool can read the last values and a
 * restarted loader continues the counts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <linux/types.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "broker_metrics.h"
#include "probe_metrics.h"
#include "shmq_probe.h"
#include "shmq_probe.skel.h"

#define BPF_FS_MAGIC_   0xcafe4a11
#define TRACEFS_MAGIC_  0x74726163
#define DEFAULT_PORT    9750
#define MAX_BINARIES    16
#define MAX_PIDS        64
#define MAX_LINKS       256
#define MAX_GROUPS      32
/* Exit status when this kernel or these privileges cannot run BPF (tests skip). */
#define EXIT_NO_BPF     3

struct probe_opts {
	const char *broker;
	const char *binaries[MAX_BINARIES];
	int n_binaries;
	unsigned broker_pid;
	unsigned pids[MAX_PIDS];
	int n_pids;
	char pin_root[256];
	unsigned port;
	bool cleanup;
	bool no_bpf;
	bool broker_given;
	const char *socket;
	const char *groups[MAX_GROUPS];
	int n_groups;
};

struct probe_state {
	struct shmq_probe_bpf *skel;
	struct bpf_link *links[MAX_LINKS];
	int n_links;
	struct shmq_probe_map_fds fds;
	bool bpf;               /* skel loaded: fds valid */
	shmq_client_t *client;  /* NULL without --socket */
	const struct probe_opts *o;
	const char *broker;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: shmq-probe --binary PATH [--binary PATH ...] [--broker NAME]\n"
		"                  [--broker-pid PID] [--pid PID ...] [--pin-root DIR]\n"
		"                  [--socket PATH [--group NAME ...]] [--port N] [--cleanup]\n"
		"       shmq-probe --no-bpf --socket PATH [--group NAME ...] [--broker NAME] [--port N]\n"
		"  --binary     executable or shared library with shmq USDT probes\n"
		"               (shmqd, libshmq.so); repeatable\n"
		"  --broker     broker name: pin directory /sys/fs/bpf/shmq/NAME and label\n"
		"               (default: the broker's name with --socket, else \"default\")\n"
		"  --broker-pid the broker's pid: filters persist/flush probes, enables fdatasync\n"
		"               (default with --socket: the broker's pid)\n"
		"  --socket     the broker's client socket: add its in-process counters\n"
		"  --group      consumer group whose lag to export (with --socket); repeatable\n"
		"  --no-bpf     no BPF at all: only the broker's counters (no privilege needed)\n"
		"  --pid        count client probes only from these pids (+ the broker); repeatable\n"
		"  --pin-root   pin directory (overrides --broker's default)\n"
		"  --port       loopback HTTP port of /metrics (default %d, 0 = any free port)\n"
		"  --cleanup    remove the pinned maps on exit\n", DEFAULT_PORT);
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Broker names become a path component and a label value. */
static bool valid_name(const char *s)
{
	if (*s == '\0' || strlen(s) > 64 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static int parse_args(int argc, char **argv, struct probe_opts *o)
{
	static const struct option longopts[] = {
		{ "binary", required_argument, NULL, 'b' },
		{ "broker", required_argument, NULL, 'n' },
		{ "broker-pid", required_argument, NULL, 'B' },
		{ "pid", required_argument, NULL, 'p' },
		{ "pin-root", required_argument, NULL, 'r' },
		{ "port", required_argument, NULL, 'P' },
		{ "cleanup", no_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "group", required_argument, NULL, 'g' },
		{ "no-bpf", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(o, 0, sizeof(*o));
	o->broker = "default";
	o->port = DEFAULT_PORT;
	int c;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (o->n_binaries == MAX_BINARIES)
				return -E2BIG;
			o->binaries[o->n_binaries++] = optarg;
			break;
		case 'n':
			if (!valid_name(optarg))
				return -EINVAL;
			o->broker = optarg;
			o->broker_given = true;
			break;
		case 'B':
			if (parse_uint(optarg, 0x7fffffff, &o->broker_pid) < 0 || o->broker_pid == 0)
				return -EINVAL;
			break;
		case 'p':
			if (o->n_pids == MAX_PIDS)
				return -E2BIG;
			if (parse_uint(optarg, 0x7fffffff, &o->pids[o->n_pids]) < 0 ||
			    o->pids[o->n_pids] == 0)
				return -EINVAL;
			o->n_pids++;
			break;
		case 'r':
			if (strlen(optarg) >= sizeof(o->pin_root) || optarg[0] != '/')
				return -EINVAL;
			strcpy(o->pin_root, optarg);
			break;
		case 'P':
			if (parse_uint(optarg, 65535, &o->port) < 0)
				return -EINVAL;
			break;
		case 'c':
			o->cleanup = true;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'g':
			if (o->n_groups == MAX_GROUPS)
				return -E2BIG;
			if (*optarg == '\0' || strlen(optarg) > 120)
				return -EINVAL;
			o->groups[o->n_groups++] = optarg;
			break;
		case 'N':
			o->no_bpf = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	if (optind != argc)
		return -EINVAL;
	if (o->no_bpf ? o->socket == NULL || o->n_binaries > 0 : o->n_binaries == 0)
		return -EINVAL;
	if (o->n_groups > 0 && o->socket == NULL)
		return -EINVAL;
	return 0;
}

/* --socket: connect, and take the broker's pid and name as defaults. */
static int connect_broker(struct probe_opts *o, shmq_client_t **out)
{
	SHMQ_CLIENT_OPTS(co, .request_timeout_ns = 2000000000ull,
			 .reconnect_timeout_ns = 2000000000ull);
	int rc = shmq_client_open(o->socket, &co, out);
	if (rc < 0) {
		fprintf(stderr, "shmq-probe: connect to %s: %s\n", o->socket, shmq_strerror(rc));
		return rc;
	}
	struct shmq_broker_status s;
	rc = shmq_admin_status(*out, &s);
	if (rc < 0) {
		fprintf(stderr, "shmq-probe: broker status: %s\n", shmq_strerror(rc));
		return rc;
	}
	if (o->broker_pid == 0)
		o->broker_pid = s.pid;
	static char name[sizeof(s.broker_name)];
	snprintf(name, sizeof(name), "%.*s", (int)sizeof(s.broker_name) - 1, s.broker_name);
	if (!o->broker_given && valid_name(name))
		o->broker = name;
	return 0;
}

/* Mounts `type` at `dir` unless a filesystem with `magic` is already there. */
static int ensure_mounted(const char *dir, const char *type, long magic)
{
	struct statfs sf;
	if (statfs(dir, &sf) == 0 && (long)sf.f_type == magic)
		return 0;
	if (mount(type, dir, type, 0, NULL) != 0) {
		int err = -errno;
		fprintf(stderr, "shmq-probe: mount -t %s %s: %s\n", type, dir, strerror(errno));
		return err;
	}
	return 0;
}

static int mkdir_p(const char *path)
{
	char buf[256];
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char saved = *p;
			*p = '\0';
			if (mkdir(buf, 0755) != 0 && errno != EEXIST)
				return -errno;
			*p = saved;
			if (saved == '\0')
				return 0;
		}
	}
}

/* One entry per USDT program: its probe name in ebpf/probes.h. */
static struct bpf_program *usdt_prog(struct shmq_probe_bpf *s, int i, const char **name)
{
	struct { struct bpf_program *p; const char *n; } t[] = {
		{ s->progs.produce_batch, "produce_batch" },
		{ s->progs.persist_batch, "persist_batch" },
		{ s->progs.flush, "flush" },
		{ s->progs.deliver_batch, "deliver_batch" },
		{ s->progs.queue_owner, "queue_owner" },
		{ s->progs.offset_reset, "offset_reset" },
		{ s->progs.ring_unblock, "ring_unblock" },
		{ s->progs.backpressure, "backpressure" },
	};
	if (i < 0 || i >= (int)(sizeof(t) / sizeof(t[0])))
		return NULL;
	*name = t[i].n;
	return t[i].p;
}

static int add_link(struct probe_state *st, struct bpf_link *l)
{
	if (st->n_links == MAX_LINKS) {
		bpf_link__destroy(l);
		return -E2BIG;
	}
	st->links[st->n_links++] = l;
	return 0;
}

/* Attaches every probe to every binary that has it. A binary lacking a probe
 * (libshmq.so has no persist_batch) is normal; a binary with none is not. */
static int attach_all(struct probe_state *st, const struct probe_opts *o)
{
	for (int b = 0; b < o->n_binaries; b++) {
		int found = 0;
		const char *name;
		struct bpf_program *p;
		for (int i = 0; (p = usdt_prog(st->skel, i, &name)) != NULL; i++) {
			struct bpf_link *l = bpf_program__attach_usdt(p, -1, o->binaries[b], "shmq",
				name, NULL);
			if (l == NULL) {
				int err = -errno;
				if (err == -ENOENT)
					continue;
				fprintf(stderr, "shmq-probe: attach %s in %s: %s\n", name,
					o->binaries[b], strerror(-err));
				return err;
			}
			int rc = add_link(st, l);
			if (rc < 0)
				return rc;
			found++;
		}
		if (found == 0) {
			fprintf(stderr, "shmq-probe: %s has no shmq USDT probe\n", o->binaries[b]);
			return -ENOENT;
		}
	}
	if (o->broker_pid != 0) {
		struct bpf_program *tp[2] = { st->skel->progs.fdatasync_enter,
					      st->skel->progs.fdatasync_exit };
		for (int i = 0; i < 2; i++) {
			struct bpf_link *l = bpf_program__attach(tp[i]);
			if (l == NULL) {
				int err = -errno;
				fprintf(stderr, "shmq-probe: attach %s: %s\n",
					bpf_program__name(tp[i]), strerror(-err));
				return err;
			}
			int rc = add_link(st, l);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url,
	const char *method, const char *version, const char *upload_data,
	size_t *upload_data_size, void **con_cls)
{
	(void)version; (void)upload_data; (void)upload_data_size; (void)con_cls;
	struct probe_state *st = cls;
	struct MHD_Response *resp;
	unsigned status;
	if (strcmp(method, "GET") != 0 || strcmp(url, "/metrics") != 0) {
		static const char nf[] = "not found: GET /metrics\n";
		resp = MHD_create_response_from_buffer(sizeof(nf) - 1, (void *)nf,
			MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_NOT_FOUND;
	} else {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		if (f == NULL)
			return MHD_NO;
		int rc = st->bpf ? shmq_probe_metrics_render(f, &st->fds, st->broker) : 0;
		if (rc == 0 && st->o->socket != NULL)
			rc = shmq_probe_broker_render(f, st->client, st->broker, st->o->groups,
						      st->o->n_groups);
		if (fclose(f) != 0 && rc == 0)
			rc = -EIO;
		if (rc < 0) {
			free(buf);
			return MHD_NO;
		}
		resp = MHD_create_response_from_buffer(len, buf, MHD_RESPMEM_MUST_FREE);
		if (resp == NULL)
			free(buf);
		status = MHD_HTTP_OK;
	}
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static void unpin_all(struct probe_state *st, const char *pin_root)
{
	struct bpf_map *m;
	bpf_object__for_each_map(m, st->skel->obj)
		if (bpf_map__is_pinned(m))
			bpf_map__unpin(m, NULL);
	if (rmdir(pin_root) != 0 && errno != ENOENT)
		fprintf(stderr, "shmq-probe: rmdir %s: %s\n", pin_root, strerror(errno));
	/* the shared parent we may have created: only when no other broker's
	 * pins are in it */
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", pin_root);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		if (strcmp(parent, "/sys/fs/bpf/shmq") == 0)
			(void)rmdir(parent);
	}
}

__attribute__((format(printf, 2, 0)))
static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && getenv("SHMQ_PROBE_DEBUG") == NULL)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* Mounts, loads, pins and attaches. Returns 0 or the exit status. */
static int setup_bpf(struct probe_state *st, const struct probe_opts *o)
{
	if (ensure_mounted("/sys/fs/bpf", "bpf", BPF_FS_MAGIC_) < 0)
		return EXIT_NO_BPF;
	if (o->broker_pid != 0 && ensure_mounted("/sys/kernel/tracing", "tracefs", TRACEFS_MAGIC_) < 0)
		return EXIT_NO_BPF;
	int rc = mkdir_p(o->pin_root);
	if (rc < 0) {
		fprintf(stderr, "shmq-probe: mkdir %s: %s\n", o->pin_root, strerror(-rc));
		return 1;
	}
	LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = o->pin_root);
	st->skel = shmq_probe_bpf__open_opts(&oo);
	if (st->skel == NULL) {
		fprintf(stderr, "shmq-probe: open BPF object: %s\n", strerror(errno));
		return 1;
	}
	st->skel->rodata->broker_tgid = o->broker_pid;
	st->skel->rodata->filter_clients = o->n_pids > 0;
	if (o->broker_pid == 0) {
		bpf_program__set_autoload(st->skel->progs.fdatasync_enter, false);
		bpf_program__set_autoload(st->skel->progs.fdatasync_exit, false);
	}
	rc = shmq_probe_bpf__load(st->skel);
	if (rc < 0) {
		fprintf(stderr, "shmq-probe: load BPF programs: %s%s\n", strerror(-rc),
			rc == -EINVAL ? " (a pinned map with another definition? remove the pin root)" : "");
		return rc == -EPERM || rc == -EACCES || rc == -ENOSYS ? EXIT_NO_BPF : 1;
	}
	for (int i = 0; i < o->n_pids; i++) {
		__u32 pid = o->pids[i];
		__u8 one = 1;
		if (bpf_map__update_elem(st->skel->maps.tgids, &pid, sizeof(pid), &one, sizeof(one),
					 BPF_ANY) != 0) {
			fprintf(stderr, "shmq-probe: pid filter: %s\n", strerror(errno));
			return 1;
		}
	}
	st->fds = (struct shmq_probe_map_fds){
		.hist = bpf_map__fd(st->skel->maps.hist),
		.order_viol = bpf_map__fd(st->skel->maps.order_viol),
		.queue_stats = bpf_map__fd(st->skel->maps.queue_stats),
		.totals = bpf_map__fd(st->skel->maps.totals),
	};
	st->bpf = true;
	return attach_all(st, o) < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct probe_opts o;
	int rc = parse_args(argc, argv, &o);
	if (rc < 0) {
		fprintf(stderr, "shmq-probe: bad arguments: %s\n", strerror(-rc));
		usage(stderr);
		return 2;
	}
	libbpf_set_print(libbpf_log);

	/* Signals are taken by sigwait() below; block them before any thread
	 * (libshmq's, the HTTP server's) exists so that all inherit the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	struct probe_state st = { .o = &o };
	int exit_code = 1;
	if (o.socket != NULL && connect_broker(&o, &st.client) < 0)
		goto out;
	st.broker = o.broker;
	if (o.pin_root[0] == '\0')
		snprintf(o.pin_root, sizeof(o.pin_root), "/sys/fs/bpf/shmq/%s", o.broker);
	if (!o.no_bpf) {
		exit_code = setup_bpf(&st, &o);
		if (exit_code != 0)
			goto out;
		exit_code = 1;
	}

	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o.port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
		(uint16_t)o.port, NULL, NULL, serve, &st,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin, MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "shmq-probe: cannot serve HTTP on 127.0.0.1:%u\n", o.port);
		goto out;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	printf("ready port=%u pin_root=%s links=%d broker=%s broker_pid=%u\n",
	       di ? di->port : o.port, o.no_bpf ? "-" : o.pin_root, st.n_links, o.broker,
	       o.broker_pid);
	fflush(stdout);

	int sig;
	sigwait(&sigs, &sig);
	MHD_stop_daemon(d);
	exit_code = 0;
out:
	for (int i = 0; i < st.n_links; i++)
		bpf_link__destroy(st.links[i]);
	if (st.skel != NULL && o.cleanup)
		unpin_all(&st, o.pin_root);
	else if (!o.no_bpf && exit_code != 0 && o.pin_root[0] != '\0')
		rmdir(o.pin_root); /* only if empty: never another run's pins */
	shmq_probe_bpf__destroy(st.skel);
	shmq_client_close(st.client);
	return exit_code;
}
