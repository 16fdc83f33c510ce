/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `shmq-bench e2e`: producer and consumer PROCESSES through a running shmqd.
 *
 * The bench starts its own shmqd (from --shmqd, env SHMQD, or the build tree
 * next to this binary) on scratch directories, first with async flush, then
 * with sync flush, and forks producers pinned to one CPU and the consumer
 * pinned to the other; each child is an ordinary libshmq client.
 *
 *  1. One-way latency, 64 B and 1 KiB, one message every 2 us (--interval-us;
 *     the ring-only and ZeroMQ references at the same rate): the producer
 *     (SHMQ_DELIVERY_RING) writes CLOCK_MONOTONIC into the body, the consumer
 *     (IMMEDIATE visibility, and PERSISTED for 64 B) takes the difference on
 *     receipt. The same clock in every process.
 *  2. Max throughput with async flush, consumer at PERSISTED visibility (what
 *     it gets is in the commitlog): 64 B and 1 KiB, 1 and 2 producers,
 *     unbatched (shmq_producer_send) and batched (32 per send_batch). The
 *     figure is messages received by the consumer over the time from the
 *     start signal to the last receipt. One diagnostic row repeats 64 B
 *     batched with the consumer at IMMEDIATE visibility (no persister in
 *     the consumer's path).
 *  3. Durable throughput: sync-flush broker, 16 producer processes sending
 *     with SHMQ_DELIVERY_DURABLE, consumer at DURABLE visibility.
 *  4. References in the same run: the ring-only one-way latency of
 *     `shmq-bench ring` (its own run, in a child), and ZeroMQ ipc PUSH/PULL
 *     throughput and latency for 64 B between two processes on the same CPUs.
 * Prints a table, the ratios against the targets and a final JSON line.
 * Every spin loop backs off; every child has a deadline.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <dirent.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "bench/bench.h"
#include "bench/bench_util.h"
#include "broker/persister.h"
#include "broker/store/store.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "common/ringmsg.h"
#include "shmq/shmq.h"
#include "tests/common/tmpdir.h"
#include "tests/integration/itest.h"

#define LAT_INTERVAL_DEFAULT_NS 2000u
#define TP_BATCH 32u
#define DURABLE_PRODUCERS 16
#define MAX_PRODUCERS DURABLE_PRODUCERS
#define POLL_MAX 256u
#define CHILD_SLACK_MS 30000u

/* The latency runs' send interval (all children inherit it through fork). */
static unsigned lat_interval_ns = LAT_INTERVAL_DEFAULT_NS;

struct e2e_cfg {
	double duration;   /* seconds per throughput configuration */
	int quick;
	int cpus[2];
	size_t lat_samples;
	char shmqd[PATH_MAX];
	char only[64];     /* --only: run the configurations whose name has it */
};

/* One measurement; lives in MAP_SHARED memory so forked children fill it. */
struct run {
	/* set by the parent before fork */
	char topic[64];
	const char *sock;
	uint32_t size;
	int producers;
	int batched;
	int delivery;         /* enum shmq_delivery */
	int visibility;       /* enum shmq_visibility */
	size_t lat_n;         /* latency run: messages; 0 = throughput run */
	int ref_cpus[2], ref_quick; /* the ring-only reference run */
	double duration;
	/* handshakes */
	_Atomic int consumer_ready;
	_Atomic int go;
	_Atomic int producers_left;
	_Atomic uint64_t sent;
	_Atomic uint64_t backpressured;
	_Atomic int err;
	uint64_t t_go_ns;     /* CLOCK_MONOTONIC when `go` was raised */
	/* consumer results */
	uint64_t received, t_last_ns, bad;
	double p50, p99, p999, max;
	/* CPU time spent during the run (ns): producers (summed), consumer,
	 * broker (every thread), for the per-message cost columns */
	_Atomic uint64_t prod_cpu_ns;
	uint64_t cons_cpu_ns, broker_cpu_ns;
	/* consumer: messages delivered from the commitlog (it fell behind the
	 * ring, Q2) rather than from the ring, and ring overruns */
	uint64_t from_log, overruns;
	pid_t broker_pid;     /* set by the parent: whose CPU time to count */
	/* what the table and JSON print */
	double msgs_per_s;
	int ok;
	int skipped;          /* left out by --only */
};

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of every thread of @p pid so far (ns, from schedstat); 0 if gone. */
static uint64_t proc_cpu_ns(pid_t pid)
{
	char path[64];
	uint64_t sum = 0;
	DIR *d;
	struct dirent *e;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char p2[300];
		unsigned long long ns;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(p2, sizeof(p2), "/proc/%d/task/%s/schedstat", (int)pid, e->d_name);
		f = fopen(p2, "r");
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	closedir(d);
	return sum;
}

static void set_err(struct run *r, int rc)
{
	int zero = 0;

	/* relaxed: the first failure wins; read by the parent after waitpid() */
	atomic_compare_exchange_strong_explicit(&r->err, &zero, rc, memory_order_relaxed,
						memory_order_relaxed);
}

static void wait_flag(_Atomic int *flag, struct run *r)
{
	unsigned spins = 0;

	/* acquire: pairs with the parent's release of the flag; the run's
	 * parameters and t_go_ns are visible after it */
	while (!atomic_load_explicit(flag, memory_order_acquire)) {
		/* relaxed: a failed peer only shortens the wait */
		if (atomic_load_explicit(&r->err, memory_order_relaxed))
			return;
		bench_backoff(&spins);
	}
}

static void lat_stats(struct run *r, uint64_t *v, size_t n)
{
	/* The first 5% warm caches, page tables and the broker's paths up. */
	size_t warm = n / 20;

	if (n - warm == 0)
		return;
	bench_sort_u64(v + warm, n - warm);
	r->p50 = (double)bench_quantile(v + warm, n - warm, 0.50);
	r->p99 = (double)bench_quantile(v + warm, n - warm, 0.99);
	r->p999 = (double)bench_quantile(v + warm, n - warm, 0.999);
	r->max = (double)v[n - 1];
}

/* Pace message i of a steady-rate run; after the sender itself was
 * descheduled, resume the rate from now instead of sending a burst. */
static void pace(uint64_t *start, size_t i)
{
	uint64_t target = *start + i * (uint64_t)lat_interval_ns, t = shmq_now_ns();

	if (t > target + 8ull * lat_interval_ns) {
		*start = t - i * (uint64_t)lat_interval_ns;
		return;
	}
	/* a bounded wait (one interval) on this process's own core */
	while (shmq_now_ns() < target)
		shmq_cpu_relax();
}

/* ------------------------------------------------------------------ */
/* Children                                                            */

static pid_t spawn_child(struct run *r, int cpu, int index, int (*fn)(struct run *, int))
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int rc;

		bench_pin(cpu);
		rc = fn(r, index);
		if (rc)
			set_err(r, rc);
		fflush(NULL);
		_exit(rc ? 1 : 0);
	}
	return pid;
}

/* ---- ZeroMQ ipc PUSH/PULL ---- */

static char zmq_endpoint[PATH_MAX + 8];

static int zmq_consumer(struct run *r, int index)
{
	void *ctx = zmq_ctx_new(), *s = ctx ? zmq_socket(ctx, ZMQ_PULL) : NULL;
	int timeout_ms = 5000, rc = 0;
	uint64_t *samples = NULL, n = 0;
	char buf[2048];

	(void)index;
	if (!s || zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout_ms, sizeof(timeout_ms)) ||
	    zmq_bind(s, zmq_endpoint)) {
		fprintf(stderr, "shmq-bench e2e: zmq bind %s: %s\n", zmq_endpoint, zmq_strerror(zmq_errno()));
		rc = -EIO;
		goto out;
	}
	if (r->lat_n && !(samples = calloc(r->lat_n, sizeof(*samples)))) {
		rc = -ENOMEM;
		goto out;
	}
	/* release: pairs with the parent's acquire; bound and receiving */
	atomic_store_explicit(&r->consumer_ready, 1, memory_order_release);
	for (;;) {
		int len = zmq_recv(s, buf, sizeof(buf), 0);
		uint64_t t = shmq_now_ns(), ts;

		if (len < 0) {
			fprintf(stderr, "shmq-bench e2e: zmq recv: %s\n", zmq_strerror(zmq_errno()));
			rc = -EIO;
			break;
		}
		if (len == 1) /* the end marker */
			break;
		if ((uint32_t)len != r->size) {
			r->bad++;
			continue;
		}
		memcpy(&ts, buf, sizeof(ts));
		if (samples && n < r->lat_n)
			samples[n] = t - ts;
		n++;
		r->t_last_ns = t;
		if (r->lat_n && n == r->lat_n)
			break;
	}
	r->received = n;
	if (samples && n == r->lat_n)
		lat_stats(r, samples, n);
out:
	free(samples);
	if (s)
		zmq_close(s);
	if (ctx)
		zmq_ctx_term(ctx);
	return rc;
}

static int zmq_producer(struct run *r, int index)
{
	void *ctx = zmq_ctx_new(), *s = ctx ? zmq_socket(ctx, ZMQ_PUSH) : NULL;
	unsigned char buf[2048] = { 0 };
	int linger = 10000, rc = 0;
	uint64_t n = 0, start, end;

	(void)index;
	if (!s || zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) ||
	    zmq_connect(s, zmq_endpoint)) {
		fprintf(stderr, "shmq-bench e2e: zmq connect: %s\n", zmq_strerror(zmq_errno()));
		rc = -EIO;
		goto out;
	}
	wait_flag(&r->go, r);
	start = shmq_now_ns();
	end = start + (uint64_t)(r->duration * 1e9);
	for (;;) {
		uint64_t ts;

		if (r->lat_n) {
			if (n == r->lat_n)
				break;
			pace(&start, n);
		} else if ((n & 255) == 0 && shmq_now_ns() >= end) {
			break;
		}
		ts = shmq_now_ns();
		memcpy(buf, &ts, sizeof(ts));
		if (zmq_send(s, buf, r->size, 0) != (int)r->size) {
			fprintf(stderr, "shmq-bench e2e: zmq send: %s\n", zmq_strerror(zmq_errno()));
			rc = -EIO;
			break;
		}
		n++;
	}
	if (!r->lat_n && zmq_send(s, "", 1, 0) != 1)
		rc = -EIO;
	/* relaxed: read by the parent after waitpid() */
	atomic_fetch_add_explicit(&r->sent, n, memory_order_relaxed);
out:
	if (s)
		zmq_close(s);
	if (ctx)
		zmq_ctx_term(ctx);
	return rc;
}

/* ---- shmq ---- */

static int open_client(struct run *r, shmq_client_t **c)
{
	int rc = shmq_client_open(r->sock, NULL, c);

	if (rc)
		fprintf(stderr, "shmq-bench e2e: connect %s: %s\n", r->sock, shmq_strerror(rc));
	return rc;
}

static int shmq_consumer_child(struct run *r, int index)
{
	char group[96];
	SHMQ_CONSUMER_OPTS(o, .group = group, .topic = r->topic, .visibility = r->visibility,
			   .start = SHMQ_START_EARLIEST);
	struct shmq_msg_view *v = calloc(POLL_MAX, sizeof(*v));
	shmq_client_t *c = NULL;
	shmq_consumer_t *cs = NULL;
	uint64_t *samples = NULL, n = 0, idle_since = 0, cpu0 = 0;
	int rc;

	(void)index;
	prctl(PR_SET_NAME, "e2e-consumer");
	snprintf(group, sizeof(group), "%s-g", r->topic);
	if (!v)
		return -ENOMEM;
	rc = open_client(r, &c);
	if (!rc && (rc = shmq_consumer_open(c, &o, &cs)) != 0)
		fprintf(stderr, "shmq-bench e2e: consumer open %s: %s\n", r->topic, shmq_strerror(rc));
	if (!rc && r->lat_n && !(samples = calloc(r->lat_n, sizeof(*samples))))
		rc = -ENOMEM;
	if (rc)
		goto out;
	/* release: pairs with the parent's acquire; the consumer is in its group */
	atomic_store_explicit(&r->consumer_ready, 1, memory_order_release);
	cpu0 = cpu_ns();
	for (;;) {
		int k = shmq_consumer_poll(cs, v, POLL_MAX, 100 * 1000 * 1000);
		uint64_t t = shmq_now_ns();

		if (k < 0) {
			fprintf(stderr, "shmq-bench e2e: poll: %s\n", shmq_strerror(k));
			rc = k;
			break;
		}
		if (k == 0) {
			/* acquire: pairs with the release decrement of the last
			 * producer; `sent` is final after it */
			if (atomic_load_explicit(&r->producers_left, memory_order_acquire) == 0) {
				/* relaxed: published by the acquire above */
				if (n >= atomic_load_explicit(&r->sent, memory_order_relaxed))
					break;
				if (!idle_since)
					idle_since = t;
				else if (t - idle_since > 10ull * 1000 * 1000 * 1000) {
					fprintf(stderr, "shmq-bench e2e: %s: consumer got %" PRIu64
						" of %" PRIu64 " messages\n", r->topic, n,
						atomic_load_explicit(&r->sent, memory_order_relaxed));
					rc = -ETIMEDOUT;
					break;
				}
			}
			/* relaxed: a failed producer ends the run */
			if (atomic_load_explicit(&r->err, memory_order_relaxed))
				break;
			continue;
		}
		idle_since = 0;
		for (int i = 0; i < k; i++) {
			uint64_t ts;

			if (v[i].body_len != r->size) {
				r->bad++;
				continue;
			}
			memcpy(&ts, v[i].body, sizeof(ts));
			if (samples && n < r->lat_n)
				samples[n] = t - ts;
			n++;
		}
		r->t_last_ns = t;
		if (r->lat_n && n >= r->lat_n)
			break;
	}
	r->received = n;
	r->cons_cpu_ns = cpu0 ? cpu_ns() - cpu0 : 0;
	{
		struct shmq_consumer_stats cst;

		shmq_consumer_stats(cs, &cst);
		r->from_log = cst.from_log;
		r->overruns = cst.overruns;
	}
	if (samples && n >= r->lat_n)
		lat_stats(r, samples, r->lat_n);
out:
	free(samples);
	free(v);
	shmq_consumer_close(cs);
	shmq_client_close(c);
	return rc;
}

static int shmq_producer_child(struct run *r, int index)
{
	SHMQ_PRODUCER_OPTS(o, .topic = r->topic, .delivery = r->delivery,
			   .send_timeout_ns = 10ull * 1000 * 1000);
	struct shmq_message m[TP_BATCH];
	unsigned char body[TP_BATCH][1024];
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	uint64_t n = 0, bp = 0, start, end, cpu0 = 0;
	int rc;

	(void)index;
	prctl(PR_SET_NAME, "e2e-producer");
	memset(m, 0, sizeof(m));
	memset(body, 0, sizeof(body));
	for (unsigned i = 0; i < TP_BATCH; i++) {
		m[i].body = body[i];
		m[i].body_len = r->size;
	}
	rc = open_client(r, &c);
	if (!rc && (rc = shmq_producer_open(c, &o, &p)) != 0)
		fprintf(stderr, "shmq-bench e2e: producer open %s: %s\n", r->topic, shmq_strerror(rc));
	if (rc)
		goto out;
	wait_flag(&r->go, r);
	cpu0 = cpu_ns();
	start = shmq_now_ns();
	end = start + (uint64_t)(r->duration * 1e9);
	for (;;) {
		uint64_t ts;
		int k;

		if (r->lat_n) {
			if (n == r->lat_n)
				break;
			pace(&start, n);
		} else if (shmq_now_ns() >= end) {
			break;
		}
		ts = shmq_now_ns();
		if (r->batched) {
			for (unsigned i = 0; i < TP_BATCH; i++)
				memcpy(body[i], &ts, sizeof(ts));
			k = shmq_producer_send_batch(p, m, TP_BATCH, NULL);
		} else {
			memcpy(body[0], &ts, sizeof(ts));
			k = shmq_producer_send(p, m, NULL);
			if (k == 0)
				k = 1;
		}
		if (k > 0) {
			n += (uint64_t)k;
			continue;
		}
		if (k == SHMQ_BACK_PRESSURED) {
			bp++;
			continue;
		}
		fprintf(stderr, "shmq-bench e2e: send %s: %s\n", r->topic, shmq_strerror(k));
		rc = k;
		break;
	}
out:
	/* relaxed: read by the parent after waitpid() */
	atomic_fetch_add_explicit(&r->prod_cpu_ns, cpu0 ? cpu_ns() - cpu0 : 0, memory_order_relaxed);
	/* relaxed: published by the release decrement of producers_left below */
	atomic_fetch_add_explicit(&r->sent, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->backpressured, bp, memory_order_relaxed);
	/* release: pairs with the consumer's acquire; publishes `sent` */
	atomic_fetch_sub_explicit(&r->producers_left, 1, memory_order_release);
	shmq_producer_close(p);
	shmq_client_close(c);
	return rc;
}

/* ---- ring-only reference (bench_ring's latency run, in a child) ---- */

static int ring_ref_child(struct run *r, int index)
{
	(void)index;
	return shmq_bench_ring_latency(r->ref_cpus[0], r->ref_cpus[1], r->ref_quick, (double)lat_interval_ns,
				       &r->p50, &r->p99, &r->p999);
}

/* ---- the persister alone (no producer or consumer running) ---- */

/* Thread CPU time (ns). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct pers_result {
	int ok;
	uint64_t msgs;
	double ns_per_msg;     /* persister thread CPU per message */
	double open_s;         /* store open: includes prefaulting the first segment */
};

/* Fill @p ring with 64 B messages, batched as the producer does (32 per
 * record, ringmsg encoding), until about @p want are in or it is full. */
static uint64_t pers_fill(shmq_ring_t *ring, uint64_t want, uint64_t *seq)
{
	unsigned char body[64] = { 0 };
	uint32_t lens[TP_BATCH];
	struct shmq_ringmsg_in in = { .born_ts_ms = 1, .born_host = 1, .producer_id = 7, .body = body,
				      .body_len = sizeof(body) };
	int64_t len = shmq_ringmsg_size(&in);
	uint64_t n = 0;

	for (unsigned i = 0; i < TP_BATCH; i++)
		lens[i] = (uint32_t)len;
	while (n < want) {
		struct shmq_ring_batch b;

		if (shmq_ring_batch_reserve(ring, 1, SHMQ_RING_TYPE_USER, TP_BATCH, lens, &b) != 0)
			break;
		for (unsigned i = 0; i < TP_BATCH; i++) {
			in.producer_seq = (*seq)++;
			shmq_ringmsg_encode(shmq_ring_batch_data(&b, i), (size_t)len, &in);
		}
		if (shmq_ring_batch_commit(ring, &b) != 0)
			break;
		n += TP_BATCH;
	}
	return n;
}

/*
 * The persister's own per-message cost: a store under @p base_dir and a
 * ring in /dev/shm, filled while the persister does nothing, then drained
 * by shmq_persister_poll_once() in this thread (thread CPU time), several
 * times. The first commitlog segment is prefaulted by the store open (timed
 * separately), so the drain sees warm page-cache pages: what the persister
 * costs apart from getting fresh memory.
 */
static void persister_alone(const char *base_dir, struct pers_result *out)
{
	char dir[PATH_MAX], ring_path[PATH_MAX], store_dir[PATH_MAX + 16];
	shmq_store_t *st = NULL;
	shmq_ring_t *ring = NULL;
	shmq_persister_t *p = NULL;
	uint64_t seq = 0, cpu = 0, t0;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(dir, sizeof(dir), "%s/shmq-bench-pers-XXXXXX", base_dir);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return;
	}
	snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
	snprintf(ring_path, sizeof(ring_path), "/dev/shm/shmq-bench-pers-%d.ring", (int)getpid());
	{
		SHMQ_STORE_OPTS(so, .dir = store_dir, .segment_size = 256ull << 20, .max_msg_size = 64 << 10);

		t0 = shmq_now_ns();
		rc = shmq_store_open(&so, &st, NULL);
		out->open_s = (double)(shmq_now_ns() - t0) / 1e9;
	}
	if (rc == 0) {
		SHMQ_RING_OPTS(ro, .capacity = 32u << 20, .max_msg = 64u << 10, .prefault = true);

		unlink(ring_path);
		rc = shmq_ring_create(ring_path, &ro, &ring);
	}
	if (rc == 0)
		rc = shmq_persister_create(st, NULL, &p);
	if (rc == 0)
		rc = shmq_persister_add_ring(p, "pers-64", 0, ring);
	/* ~1M messages: 8 fills of ~128k (a quarter of the ring each) */
	for (int round = 0; rc == 0 && round < 8; round++) {
		uint64_t n = pers_fill(ring, 128 * 1024, &seq), c0, got = 0;

		c0 = thread_cpu_ns();
		while (got < n) {
			int k = shmq_persister_poll_once(p);

			if (k <= 0) {
				rc = k < 0 ? k : -EIO;
				break;
			}
			got += (uint64_t)k;
		}
		cpu += thread_cpu_ns() - c0;
		out->msgs += got;
	}
	if (rc)
		fprintf(stderr, "shmq-bench e2e: persister alone: %s\n", shmq_strerror(rc));
	out->ok = rc == 0 && out->msgs > 0;
	out->ns_per_msg = out->msgs ? (double)cpu / (double)out->msgs : 0;
	shmq_persister_destroy(p);
	shmq_ring_close(ring);
	unlink(ring_path);
	shmq_store_close(st);
	shmq_test_rmtree(dir);
}

/* ------------------------------------------------------------------ */
/* Running one measurement                                             */

static int reap(pid_t pid, unsigned timeout_ms, const char *what)
{
	int rc = itest_wait(pid, timeout_ms);

	if (rc)
		fprintf(stderr, "shmq-bench e2e: %s child %s %d\n", what,
			rc == -ETIMEDOUT ? "timed out" : "ended with", rc);
	return rc;
}

static int run_measure(const struct e2e_cfg *cfg, struct run *r, int (*consumer)(struct run *, int),
		       int (*producer)(struct run *, int))
{
	pid_t cons, prod[MAX_PRODUCERS];
	unsigned limit_ms = (unsigned)(r->duration * 1000) + CHILD_SLACK_MS;
	unsigned spins = 0;
	uint64_t t0 = shmq_now_ns();
	int rc = 0, np = 0;

	if (r->lat_n)
		limit_ms += (unsigned)(r->lat_n * lat_interval_ns / 1000000);
	atomic_init(&r->producers_left, r->producers);
	cons = spawn_child(r, cfg->cpus[1], 0, consumer);
	if (cons < 0)
		return cons;
	/* acquire: pairs with the consumer's release once it is receiving */
	while (!atomic_load_explicit(&r->consumer_ready, memory_order_acquire)) {
		if (atomic_load_explicit(&r->err, memory_order_relaxed) || shmq_now_ns() - t0 > 10e9) {
			rc = -ETIMEDOUT;
			break;
		}
		bench_backoff(&spins);
	}
	for (int i = 0; !rc && i < r->producers; i++) {
		pid_t p = spawn_child(r, cfg->cpus[0], i, producer);

		if (p < 0) {
			rc = p;
			break;
		}
		prod[np++] = p;
	}
	if (!rc) {
		itest_sleep_ms(50); /* producers connect and reach their CPU */
		r->t_go_ns = shmq_now_ns();
		r->broker_cpu_ns = r->broker_pid > 0 ? proc_cpu_ns(r->broker_pid) : 0;
		/* release: pairs with the producers' acquire; starts the clock */
		atomic_store_explicit(&r->go, 1, memory_order_release);
	} else {
		set_err(r, rc);
	}
	for (int i = 0; i < np; i++)
		if (reap(prod[i], limit_ms, "producer") && !rc)
			rc = -EIO;
	if (reap(cons, limit_ms, "consumer") && !rc)
		rc = -EIO;
	if (r->broker_pid > 0) {
		uint64_t b = proc_cpu_ns(r->broker_pid);

		r->broker_cpu_ns = b > r->broker_cpu_ns ? b - r->broker_cpu_ns : 0;
	}
	if (!rc && r->err)
		rc = r->err;
	if (!rc && r->bad) {
		fprintf(stderr, "shmq-bench e2e: %s: %" PRIu64 " messages of the wrong size\n", r->topic, r->bad);
		rc = -EPROTO;
	}
	if (!rc && !r->lat_n && r->t_last_ns > r->t_go_ns)
		r->msgs_per_s = (double)r->received / ((double)(r->t_last_ns - r->t_go_ns) / 1e9);
	r->ok = rc == 0;
	return rc;
}

static struct run *run_new(struct run *pool, int *used, int max)
{
	struct run *r;

	if (*used >= max)
		return NULL;
	r = &pool[(*used)++];
	memset(r, 0, sizeof(*r));
	return r;
}

/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: shmq-bench e2e [--duration SECONDS] [--quick] [--interval-us N] [--shmqd PATH]\n"
		   "  --duration S  seconds per throughput configuration (default 1.0)\n"
		   "  --interval-us N  latency runs (shmqd, ring-only and ZeroMQ references) send\n"
		   "                one message every N us (default 2, the rate of `shmq-bench ring`)\n"
		   "  --quick       short run: 0.3 s per configuration, 20k latency samples\n"
		   "  --only NAME   only the configurations whose name contains NAME (as printed:\n"
		   "                ring-ref, zmq-tp, zmq-lat, persister-disk, persister-tmpfs,\n"
		   "                lat-64-immediate, tp-64-1p-batch, durable-64, ...)\n"
		   "  --shmqd PATH  broker binary (default: env SHMQD, else ../broker/shmqd next to\n"
		   "                this binary)\n"
		   "  --probe PATH  shmq-probe: run tp-64-1p-single, tp-64-1p-batch and lat-64-immediate\n"
		   "                detached, then with PATH attached (5 times each); print both\n");
}

static int find_shmqd(struct e2e_cfg *cfg)
{
	const char *env = getenv("SHMQD");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (cfg->shmqd[0])
		return 0;
	if (env && *env) {
		snprintf(cfg->shmqd, sizeof(cfg->shmqd), "%s", env);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -errno;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = 0;
	if (snprintf(cfg->shmqd, sizeof(cfg->shmqd), "%s/../broker/shmqd", self) >= (int)sizeof(cfg->shmqd))
		return -ENAMETOOLONG;
	return 0;
}

static int make_topic(const char *sock, const char *topic, uint32_t queues)
{
	shmq_client_t *c = NULL;
	int rc = shmq_client_open(sock, NULL, &c);

	if (!rc)
		rc = shmq_topic_create(c, topic, queues, NULL);
	if (rc)
		fprintf(stderr, "shmq-bench e2e: topic %s: %s\n", topic, shmq_strerror(rc));
	shmq_client_close(c);
	return rc;
}

/* Is the configuration named @p name selected (--only)? */
static int wanted(const struct e2e_cfg *cfg, const char *name)
{
	return !cfg->only[0] || strstr(name, cfg->only) != NULL;
}

/* A measurement through shmqd on a fresh topic of @p queues queues; one that
 * --only leaves out is marked skipped. 0 or -1 (failed, reported). */
static int measure_shmq(const struct e2e_cfg *cfg, const char *sock, pid_t broker_pid, struct run *r,
			uint32_t queues)
{
	if (!wanted(cfg, r->topic)) {
		r->skipped = 1;
		return 0;
	}
	r->broker_pid = broker_pid;
	if (make_topic(sock, r->topic, queues) || run_measure(cfg, r, shmq_consumer_child, shmq_producer_child))
		return -1;
	return 0;
}

#define MAX_RUNS 32

static double per_msg(const struct run *r, uint64_t cpu)
{
	return r->received ? (double)cpu / (double)r->received : 0;
}

/* The table's suffix for a row. */
static const char *run_status(const struct run *r)
{
	return r->ok ? "" : r->skipped ? "  skipped" : "  FAILED";
}

static const char *vis_name(int v)
{
	return v == SHMQ_VISIBLE_DURABLE ? "durable" : v == SHMQ_VISIBLE_PERSISTED ? "persisted" : "immediate";
}

int shmq_bench_e2e(int argc, char **argv)
{
	struct e2e_cfg cfg = { .duration = 1.0, .lat_samples = 100000 };
	struct run *pool = NULL, *ring_ref, *zlat, *ztp, *lat[3] = { 0 }, *tp[9] = { 0 }, *dur[2] = { 0 };
	struct itest_broker broker;
	struct pers_result pers[2] = { 0 };
	static const char *const pers_dirs[2] = { "/tmp", "/dev/shm" };
	char when[32], zdir[] = "/tmp/shmq-bench-zmq-XXXXXX";
	time_t now = time(NULL);
	double load1, best_batched = 0, lat_ratio = 0, zmq_ratio = 0, dur_best = 0;
	int used = 0, rc, nlat = 0, ntp = 0, ndur = 0, failures = 0;
	const char *probe = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			cfg.quick = 1;
			cfg.duration = 0.3;
			cfg.lat_samples = 20000;
		} else if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
			char *end;

			cfg.duration = strtod(argv[++i], &end);
			if (*end || cfg.duration <= 0 || cfg.duration > 600) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--interval-us") && i + 1 < argc) {
			char *end;
			unsigned long us = strtoul(argv[++i], &end, 10);

			if (*end || us < 1 || us > 1000000) {
				usage(stderr);
				return 2;
			}
			lat_interval_ns = (unsigned)us * 1000u;
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			snprintf(cfg.only, sizeof(cfg.only), "%s", argv[++i]);
		} else if (!strcmp(argv[i], "--shmqd") && i + 1 < argc) {
			snprintf(cfg.shmqd, sizeof(cfg.shmqd), "%s", argv[++i]);
		} else if (!strcmp(argv[i], "--probe") && i + 1 < argc) {
			probe = argv[++i]; /* bench_e2e_probe.c */
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (find_shmqd(&cfg) || access(cfg.shmqd, X_OK)) {
		fprintf(stderr, "shmq-bench e2e: no broker binary at '%s' (use --shmqd)\n", cfg.shmqd);
		return 1;
	}
	setenv("SHMQD", cfg.shmqd, 1);
	if (probe)
		return shmq_bench_e2e_probe(probe, cfg.shmqd, argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (bench_two_cpus(cfg.cpus) < 2)
		fprintf(stderr, "shmq-bench e2e: only one CPU available; figures will be poor\n");
	bench_clock_init();
	pool = itest_shared_alloc(MAX_RUNS * sizeof(struct run));
	if (!pool)
		return 1;
	{
		FILE *f = fopen("/proc/loadavg", "r");

		if (!f || fscanf(f, "%lf", &load1) != 1)
			load1 = -1;
		if (f)
			fclose(f);
	}
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	printf("shmq-bench e2e: %s, producers on cpu %d, consumer on cpu %d, %.2f s per throughput run, "
	       "load average %.2f, broker %s\n\n", when, cfg.cpus[0], cfg.cpus[1], cfg.duration, load1, cfg.shmqd);
	fflush(stdout);

	/* ---- references: ring-only latency, ZeroMQ ipc ---- */
	ring_ref = run_new(pool, &used, MAX_RUNS);
	ring_ref->ref_cpus[0] = cfg.cpus[0];
	ring_ref->ref_cpus[1] = cfg.cpus[1];
	ring_ref->ref_quick = cfg.quick;
	if (wanted(&cfg, "ring-ref")) {
		pid_t pid = spawn_child(ring_ref, cfg.cpus[0], 0, ring_ref_child);

		ring_ref->ok = pid > 0 && reap(pid, 120000, "ring reference") == 0 && !ring_ref->err;
	} else {
		ring_ref->skipped = 1;
	}
	if (!mkdtemp(zdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(zmq_endpoint, sizeof(zmq_endpoint), "ipc://%s/push.sock", zdir);
	ztp = run_new(pool, &used, MAX_RUNS);
	ztp->size = 64;
	ztp->producers = 1;
	ztp->duration = cfg.duration;
	snprintf(ztp->topic, sizeof(ztp->topic), "zmq-tp");
	if (!wanted(&cfg, ztp->topic))
		ztp->skipped = 1;
	else if (run_measure(&cfg, ztp, zmq_consumer, zmq_producer))
		failures++;
	zlat = run_new(pool, &used, MAX_RUNS);
	zlat->size = 64;
	zlat->producers = 1;
	zlat->lat_n = cfg.lat_samples;
	snprintf(zlat->topic, sizeof(zlat->topic), "zmq-lat");
	if (!wanted(&cfg, zlat->topic))
		zlat->skipped = 1;
	else if (run_measure(&cfg, zlat, zmq_consumer, zmq_producer))
		failures++;
	{
		char sock[PATH_MAX + 16];

		snprintf(sock, sizeof(sock), "%s/push.sock", zdir);
		unlink(sock);
		rmdir(zdir);
	}

	/* ---- the persister alone: store on disk (as shmqd's here) and on tmpfs ---- */
	for (int i = 0; i < 2; i++)
		if (wanted(&cfg, i ? "persister-tmpfs" : "persister-disk"))
			persister_alone(pers_dirs[i], &pers[i]);

	/* ---- async flush broker: latency and throughput ---- */
	{
		struct itest_broker_opts o = { .sync_flush = false, .segment_size = "256M",
					       .ring_capacity = "32M", .max_message_size = "64K" };

		rc = itest_broker_start(&broker, &o);
	}
	if (rc) {
		fprintf(stderr, "shmq-bench e2e: async broker: %s\n", shmq_strerror(rc));
		itest_broker_cleanup(&broker);
		failures++;
	} else {
		static const struct { uint32_t size; int vis; } lcfg[3] = {
			{ 64, SHMQ_VISIBLE_IMMEDIATE }, { 1024, SHMQ_VISIBLE_IMMEDIATE },
			{ 64, SHMQ_VISIBLE_PERSISTED },
		};

		for (int i = 0; i < 3; i++) {
			struct run *r = lat[nlat++] = run_new(pool, &used, MAX_RUNS);

			r->sock = broker.sock;
			r->size = lcfg[i].size;
			r->producers = 1;
			r->delivery = SHMQ_DELIVERY_RING;
			r->visibility = lcfg[i].vis;
			r->lat_n = cfg.lat_samples;
			snprintf(r->topic, sizeof(r->topic), "lat-%u-%s", r->size, vis_name(r->visibility));
			if (measure_shmq(&cfg, broker.sock, broker.pid, r, 1))
				failures++;
		}
		for (int s = 0; s < 2; s++)
			for (int p = 1; p <= 2; p++)
				for (int b = 0; b < 2; b++) {
					struct run *r = tp[ntp++] = run_new(pool, &used, MAX_RUNS);

					r->sock = broker.sock;
					r->size = s ? 1024 : 64;
					r->producers = p;
					r->batched = b;
					r->delivery = SHMQ_DELIVERY_RING;
					r->visibility = SHMQ_VISIBLE_PERSISTED;
					r->duration = cfg.duration;
					snprintf(r->topic, sizeof(r->topic), "tp-%u-%dp-%s", r->size, p,
						 b ? "batch" : "single");
					if (measure_shmq(&cfg, broker.sock, broker.pid, r, 1))
						failures++;
					if (r->ok && r->size == 64 && b && r->msgs_per_s > best_batched)
						best_batched = r->msgs_per_s;
				}
		/* Diagnostic row, not a target: the same 64 B batched run with the
		 * consumer at IMMEDIATE visibility (behind the producers, not the
		 * persister) shows how much the persister costs. */
		{
			struct run *r = tp[ntp++] = run_new(pool, &used, MAX_RUNS);

			r->sock = broker.sock;
			r->size = 64;
			r->producers = 1;
			r->batched = 1;
			r->delivery = SHMQ_DELIVERY_RING;
			r->visibility = SHMQ_VISIBLE_IMMEDIATE;
			r->duration = cfg.duration;
			snprintf(r->topic, sizeof(r->topic), "tp-64-1p-batch-immediate");
			if (measure_shmq(&cfg, broker.sock, broker.pid, r, 1))
				failures++;
		}
		if (itest_broker_stop(&broker) != 0)
			failures++;
		itest_broker_cleanup(&broker);
	}

	/* ---- sync flush broker: durable throughput, 16 producers ---- */
	{
		struct itest_broker_opts o = { .sync_flush = true, .segment_size = "256M",
					       .ring_capacity = "32M", .max_message_size = "64K" };

		rc = itest_broker_start(&broker, &o);
	}
	if (rc) {
		fprintf(stderr, "shmq-bench e2e: sync broker: %s\n", shmq_strerror(rc));
		itest_broker_cleanup(&broker);
		failures++;
	} else {
		for (int s = 0; s < 2; s++) {
			struct run *r = dur[ndur++] = run_new(pool, &used, MAX_RUNS);

			r->sock = broker.sock;
			r->size = s ? 1024 : 64;
			r->producers = DURABLE_PRODUCERS;
			r->delivery = SHMQ_DELIVERY_DURABLE;
			r->visibility = SHMQ_VISIBLE_DURABLE;
			r->duration = cfg.duration;
			snprintf(r->topic, sizeof(r->topic), "durable-%u", r->size);
			if (measure_shmq(&cfg, broker.sock, broker.pid, r, 4))
				failures++;
			if (r->ok && r->size == 64)
				dur_best = r->msgs_per_s;
		}
		if (itest_broker_stop(&broker) != 0)
			failures++;
		itest_broker_cleanup(&broker);
	}

	/* ---- report ---- */
	printf("references (same run)\n");
	if (ring_ref->ok)
		printf("  ring-only one-way 64 B every %u us   p50 %8.0f ns  p99 %8.0f ns  p99.9 %8.0f ns\n",
		       lat_interval_ns / 1000, ring_ref->p50, ring_ref->p99, ring_ref->p999);
	else
		printf("  ring-only one-way                   %s\n", ring_ref->skipped ? "skipped" : "FAILED");
	printf("  ZeroMQ ipc PUSH/PULL 64 B           %8.2f M msg/s%s\n", ztp->msgs_per_s / 1e6,
	       run_status(ztp));
	printf("  ZeroMQ ipc one-way 64 B every %u us p50 %8.0f ns  p99 %8.0f ns  p99.9 %8.0f ns%s\n",
	       lat_interval_ns / 1000, zlat->p50, zlat->p99, zlat->p999, run_status(zlat));
	printf("\nthe persister alone (64 B, batch 32, in-process, ~1M messages, warm segment; CPU per message)\n");
	for (int i = 0; i < 2; i++)
		printf("  store on %-9s %8.0f ns/msg  (%" PRIu64 " messages; store open incl. segment prefault %.2f s)%s\n",
		       pers_dirs[i], pers[i].ns_per_msg, pers[i].msgs, pers[i].open_s,
		       pers[i].ok ? "" : !wanted(&cfg, i ? "persister-tmpfs" : "persister-disk") ? "  skipped"
												 : "  FAILED");
	printf("\none-way latency through shmqd (async flush), one message every %u us, %zu samples\n",
	       lat_interval_ns / 1000, cfg.lat_samples);
	printf("  %6s %10s %10s %10s %10s %10s\n", "size", "visibility", "p50 ns", "p99 ns", "p99.9 ns", "max ns");
	for (int i = 0; i < nlat; i++)
		printf("  %5uB %10s %10.0f %10.0f %10.0f %10.0f%s\n", lat[i]->size, vis_name(lat[i]->visibility),
		       lat[i]->p50, lat[i]->p99, lat[i]->p999, lat[i]->max, run_status(lat[i]));
	printf("\nthroughput through shmqd, async flush (consumer at persisted visibility unless marked)\n");
	printf("  (CPU ns/msg: CPU time each side spent during the run over messages received; broker =\n"
	       "   every shmqd thread: persister, flusher, control)\n");
	printf("  (log %%: messages the consumer read from the commitlog after the ring overtook it)\n");
	printf("  %6s %9s %10s %12s %14s %8s %8s %8s %6s\n", "size", "producers", "mode", "M msg/s", "back-pressured",
	       "prod ns", "cons ns", "brkr ns", "log %");
	for (int i = 0; i < ntp; i++)
		printf("  %5uB %9d %10s %12.3f %14" PRIu64 " %8.0f %8.0f %8.0f %6.1f%s%s\n", tp[i]->size, tp[i]->producers,
		       tp[i]->batched ? "batch 32" : "unbatched", tp[i]->msgs_per_s / 1e6,
		       (uint64_t)tp[i]->backpressured, per_msg(tp[i], (uint64_t)tp[i]->prod_cpu_ns),
		       per_msg(tp[i], tp[i]->cons_cpu_ns), per_msg(tp[i], tp[i]->broker_cpu_ns),
		       tp[i]->received ? 100.0 * (double)tp[i]->from_log / (double)tp[i]->received : 0.0,
		       tp[i]->visibility == SHMQ_VISIBLE_IMMEDIATE ? "  (immediate: diagnostic)" : "",
		       run_status(tp[i]));
	printf("\ndurable throughput, sync flush, %d producer processes, consumer at durable visibility\n",
	       DURABLE_PRODUCERS);
	for (int i = 0; i < ndur; i++)
		printf("  %5uB %12.0f msg/s%s\n", dur[i]->size, dur[i]->msgs_per_s, run_status(dur[i]));

	if (ring_ref->ok && lat[0] && lat[0]->ok && ring_ref->p50 > 0)
		lat_ratio = lat[0]->p50 / ring_ref->p50;
	if (ztp->ok && ztp->msgs_per_s > 0)
		zmq_ratio = best_batched / ztp->msgs_per_s;
	printf("\nratios vs targets\n");
	printf("  e2e 64 B p50 / ring-only p50          %7.2f  (target <= 2.00)  %s\n", lat_ratio,
	       lat_ratio > 0 && lat_ratio <= 2.0 ? "met" : "MISSED");
	printf("  64 B persisted batched best           %7.2f M msg/s (target >= 20)  %s\n",
	       best_batched / 1e6, best_batched >= 20e6 ? "met" : "MISSED");
	printf("  64 B persisted batched / ZeroMQ ipc   %7.2f  (target >= 10)  %s\n", zmq_ratio,
	       zmq_ratio >= 10 ? "met" : "MISSED");
	printf("  durable 16 producers 64 B             %7.0f msg/s (target >= 20000)  %s\n", dur_best,
	       dur_best >= 20000 ? "met" : "MISSED");
	if (failures)
		printf("  %d measurement(s) FAILED (see stderr)\n", failures);

	printf("{\"bench\":\"e2e\",\"date\":\"%s\",\"load_avg_1m\":%.2f,\"cpus\":[%d,%d],\"duration_s\":%.3f,"
	       "\"failures\":%d,\"ring_only\":{\"ok\":%s,\"p50_ns\":%.0f,\"p99_ns\":%.0f,\"p999_ns\":%.0f},"
	       "\"zmq\":{\"tp_ok\":%s,\"msgs_per_s\":%.0f,\"lat_ok\":%s,\"p50_ns\":%.0f,\"p99_ns\":%.0f,"
	       "\"p999_ns\":%.0f},\"latency_interval_ns\":%u,\"latency\":[",
	       when, load1, cfg.cpus[0], cfg.cpus[1], cfg.duration, failures, ring_ref->ok ? "true" : "false",
	       ring_ref->p50, ring_ref->p99, ring_ref->p999, ztp->ok ? "true" : "false", ztp->msgs_per_s,
	       zlat->ok ? "true" : "false", zlat->p50, zlat->p99, zlat->p999, lat_interval_ns);
	for (int i = 0; i < nlat; i++)
		printf("%s{\"size\":%u,\"visibility\":\"%s\",\"ok\":%s,\"samples\":%zu,\"p50_ns\":%.0f,"
		       "\"p99_ns\":%.0f,\"p999_ns\":%.0f,\"max_ns\":%.0f}", i ? "," : "", lat[i]->size,
		       vis_name(lat[i]->visibility), lat[i]->ok ? "true" : "false", lat[i]->lat_n, lat[i]->p50,
		       lat[i]->p99, lat[i]->p999, lat[i]->max);
	printf("],\"persister_alone\":[");
	for (int i = 0; i < 2; i++)
		printf("%s{\"store_dir\":\"%s\",\"ok\":%s,\"msgs\":%" PRIu64 ",\"cpu_ns_per_msg\":%.0f,"
		       "\"store_open_s\":%.3f}", i ? "," : "", pers_dirs[i], pers[i].ok ? "true" : "false",
		       pers[i].msgs, pers[i].ns_per_msg, pers[i].open_s);
	printf("],\"throughput\":[");
	for (int i = 0; i < ntp; i++)
		printf("%s{\"size\":%u,\"producers\":%d,\"batch\":%u,\"flush\":\"async\",\"visibility\":\"%s\","
		       "\"ok\":%s,\"msgs_per_s\":%.0f,\"msgs\":%" PRIu64 ",\"backpressured\":%" PRIu64 ","
		       "\"cpu_ns_per_msg\":{\"producers\":%.0f,\"consumer\":%.0f,\"broker\":%.0f},"
		       "\"consumer_from_log\":%" PRIu64 ",\"consumer_overruns\":%" PRIu64 "}",
		       i ? "," : "", tp[i]->size, tp[i]->producers, tp[i]->batched ? TP_BATCH : 1,
		       vis_name(tp[i]->visibility), tp[i]->ok ? "true" : "false", tp[i]->msgs_per_s, tp[i]->received,
		       (uint64_t)tp[i]->backpressured, per_msg(tp[i], (uint64_t)tp[i]->prod_cpu_ns),
		       per_msg(tp[i], tp[i]->cons_cpu_ns), per_msg(tp[i], tp[i]->broker_cpu_ns), tp[i]->from_log,
		       tp[i]->overruns);
	printf("],\"durable\":[");
	for (int i = 0; i < ndur; i++)
		printf("%s{\"size\":%u,\"producers\":%d,\"flush\":\"sync\",\"ok\":%s,\"msgs_per_s\":%.0f,"
		       "\"msgs\":%" PRIu64 "}", i ? "," : "", dur[i]->size, dur[i]->producers,
		       dur[i]->ok ? "true" : "false", dur[i]->msgs_per_s, dur[i]->received);
	printf("],\"ratios\":{\"latency_p50_over_ring_p50\":%.3f,\"batched_64_over_zmq\":%.3f,"
	       "\"batched_64_best_msgs_per_s\":%.0f,\"durable_16_msgs_per_s\":%.0f},"
	       "\"targets\":{\"latency_ratio_max\":2.0,\"batched_msgs_per_s_min\":20000000,"
	       "\"zmq_ratio_min\":10,\"durable_msgs_per_s_min\":20000},"
	       "\"met\":{\"latency\":%s,\"batched\":%s,\"zmq\":%s,\"durable\":%s}}\n",
	       lat_ratio, zmq_ratio, best_batched, dur_best,
	       lat_ratio > 0 && lat_ratio <= 2.0 ? "true" : "false", best_batched >= 20e6 ? "true" : "false",
	       zmq_ratio >= 10 ? "true" : "false", dur_best >= 20000 ? "true" : "false");
	itest_shared_free(pool, MAX_RUNS * sizeof(struct run));
	return failures ? 1 : 0;
}
