/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `shmq-bench ring`: the shared-memory ring against its targets.
 *
 *  1. One-way latency of 64 B messages sent at a steady rate (one every 2 us)
 *     by a thread pinned to one core to a thread on the other core that
 *     busy-polls shmq_ring_read(); the timestamp (invariant TSC, the same
 *     clock on both cores) travels in the payload. The ring holds the whole
 *     run, so no reclamation happens while latency is measured (in the
 *     broker, a separate gating reader does that work, not the consumer).
 *  2. Throughput (msg/s) of 64 B and 1 KiB messages, 1 and 2 producers,
 *     unbatched (shmq_ring_write per message) and batched (32 per
 *     shmq_ring_batch_reserve/commit), drained by a gating reader on the
 *     other core that waits with shmq_ring_gate_wait() when it finds nothing,
 *     as the broker's persister does.
 *  3. References in the same run: cache-line one-way transfer between the two
 *     cores, and DPDK rte_ring SP/SC unbatched throughput and ping-pong.
 * Prints a table, the ratios against the targets, and a final JSON line.
 * Every spin loop backs off (bounded spin, then sched_yield).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/bench_ref.h"
#include "bench/bench_util.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "shmq/ring.h"

#define LAT_MSG 64u
#define LAT_INTERVAL_NS 2000.0
#define TP_BATCH 32u
#define TP_RING_CAPACITY (4ull << 20)
#define PRODUCER_ID 1u

struct bench_cfg {
	double duration;   /* seconds per throughput configuration */
	int quick;
	int realtime;      /* SCHED_FIFO bench threads */
	int only;          /* 0 = everything, 1 = latency only, 2 = throughput only */
	int cpus[2];
	double interval_ns; /* latency run's send interval; 0 = LAT_INTERVAL_NS */
};

static shmq_ring_t *bench_ring_new(uint64_t capacity)
{
	static unsigned counter;
	char path[96];
	shmq_ring_t *r = NULL;
	SHMQ_RING_OPTS(o, .capacity = capacity, .prefault = true);
	int rc;

	snprintf(path, sizeof(path), "/dev/shm/shmq-bench-%d-%u", (int)getpid(), counter++);
	rc = shmq_ring_create(path, &o, &r);
	/* This process holds the only handle: the file can go at once. */
	unlink(path);
	if (rc) {
		fprintf(stderr, "shmq-bench ring: create %s: %s\n", path, shmq_strerror(rc));
		return NULL;
	}
	return r;
}

/* Free what the gating role has not consumed yet, up to @p upto. */
static int gate_drain(shmq_ring_t *r, uint64_t upto, struct shmq_ring_msg *scratch, unsigned max)
{
	while (shmq_ring_consumed(r) < upto) {
		uint64_t next = 0;
		int n = shmq_ring_gate_read(r, scratch, max, &next);

		if (n < 0)
			return n;
		if (n == 0)
			break;
		n = shmq_ring_gate_consume(r, next);
		if (n)
			return n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* 1. Latency                                                          */

struct lat_ctx {
	shmq_ring_t *r;
	int cpu;
	size_t n;
	uint64_t *samples;    /* receive ticks - send ticks */
	_Atomic int ready;
	_Atomic int abort;    /* the sender failed: stop waiting for samples */
	int err;
};

static void *lat_receiver(void *arg)
{
	static struct shmq_ring_msg msgs[64], scratch[2 * SHMQ_RING_BATCH_MAX];
	struct lat_ctx *x = arg;
	uint64_t pos = shmq_ring_tail(x->r), cap = shmq_ring_capacity(x->r);
	size_t got = 0;
	unsigned spins = 0;

	bench_pin(x->cpu);
	/* release: pairs with the sender's acquire wait; the receiver is polling */
	atomic_store_explicit(&x->ready, 1, memory_order_release);
	while (got < x->n) {
		int k = shmq_ring_read(x->r, &pos, msgs, 64);
		uint64_t now;

		if (k == 0) {
			/* relaxed: the abort request carries no data */
			if (shmq_load_relaxed(&x->abort))
				break;
			bench_backoff(&spins);
			continue;
		}
		if (k < 0) {
			x->err = k;
			break;
		}
		now = bench_ticks();
		spins = 0;
		for (int i = 0; i < k && got < x->n; i++) {
			uint64_t ts;

			memcpy(&ts, msgs[i].data, sizeof(ts));
			x->samples[got++] = now - ts;
		}
		/* The ring is sized to hold the whole run, so this never fires in
		 * practice: the receiver stays a pure non-gating reader, as a
		 * consumer is, and no reclamation happens during the measurement. */
		if (pos - shmq_ring_consumed(x->r) > cap / 2) {
			x->err = gate_drain(x->r, pos, scratch, 2 * SHMQ_RING_BATCH_MAX);
			if (x->err)
				break;
		}
	}
	return NULL;
}

struct lat_result {
	size_t samples;
	double p50, p99, p999, max, mean;
};

static int run_latency(const struct bench_cfg *cfg, struct lat_result *out)
{
	struct lat_ctx x = { .cpu = cfg->cpus[1] };
	unsigned char buf[LAT_MSG] = { 0 };
	double interval_ns = cfg->interval_ns > 0 ? cfg->interval_ns : LAT_INTERVAL_NS;
	uint64_t interval = bench_ns_to_ticks(interval_ns), start, sum = 0, lat_cap = 1ull << 20;
	size_t warm;
	pthread_t th;
	int rc = 0;

	x.n = cfg->quick ? 100000 : 500000;
	x.samples = calloc(x.n, sizeof(uint64_t));
	/* Room for every message (~88 B each in the ring) with a wide margin. */
	while (lat_cap < x.n * 256)
		lat_cap <<= 1;
	x.r = bench_ring_new(lat_cap);
	if (!x.samples || !x.r) {
		free(x.samples);
		shmq_ring_close(x.r);
		return -ENOMEM;
	}
	bench_pin(cfg->cpus[0]);
	if (pthread_create(&th, NULL, lat_receiver, &x)) {
		free(x.samples);
		shmq_ring_close(x.r);
		return -EAGAIN;
	}
	/* acquire: pairs with the receiver's release once it is polling */
	while (!atomic_load_explicit(&x.ready, memory_order_acquire))
		sched_yield();
	start = bench_ticks();
	for (size_t i = 0; i < x.n; i++) {
		uint64_t target = start + i * interval, ts;
		unsigned spins = 0;

		/* Pacing: a bounded wait (one interval) on this thread's own core.
		 * After the sender itself was descheduled, resume the steady rate
		 * from now instead of sending the backlog as a burst. */
		if (bench_ticks() > target + 8 * interval) {
			start = bench_ticks() - i * interval;
			target = start + i * interval;
		}
		while (bench_ticks() < target)
			shmq_cpu_relax();
		for (;;) {
			ts = bench_ticks();
			memcpy(buf, &ts, sizeof(ts));
			rc = shmq_ring_write(x.r, PRODUCER_ID, SHMQ_RING_TYPE_USER, buf, LAT_MSG);
			if (rc != SHMQ_BACK_PRESSURED)
				break;
			bench_backoff(&spins);
		}
		if (rc) {
			fprintf(stderr, "shmq-bench ring: latency write: %s\n", shmq_strerror(rc));
			break;
		}
	}
	if (rc) /* relaxed: the abort request carries no data */
		shmq_store_relaxed(&x.abort, 1);
	pthread_join(th, NULL);
	if (!rc && x.err)
		rc = x.err;
	if (!rc) {
		/* The first 5% warm caches and the page tables up. */
		warm = x.n / 20;
		bench_sort_u64(x.samples + warm, x.n - warm);
		for (size_t i = warm; i < x.n; i++)
			sum += x.samples[i];
		out->samples = x.n - warm;
		out->p50 = bench_ticks_to_ns((double)bench_quantile(x.samples + warm, x.n - warm, 0.50));
		out->p99 = bench_ticks_to_ns((double)bench_quantile(x.samples + warm, x.n - warm, 0.99));
		out->p999 = bench_ticks_to_ns((double)bench_quantile(x.samples + warm, x.n - warm, 0.999));
		out->max = bench_ticks_to_ns((double)x.samples[x.n - 1]);
		out->mean = bench_ticks_to_ns((double)sum / (double)(x.n - warm));
	}
	free(x.samples);
	shmq_ring_close(x.r);
	return rc;
}

int shmq_bench_ring_latency(int cpu_a, int cpu_b, int quick, double interval_ns, double *p50, double *p99,
			    double *p999)
{
	struct bench_cfg cfg = { .duration = 1.0, .quick = quick, .cpus = { cpu_a, cpu_b },
				 .interval_ns = interval_ns };
	struct lat_result lat = { 0 };
	int rc = run_latency(&cfg, &lat);

	if (!rc) {
		*p50 = lat.p50;
		*p99 = lat.p99;
		*p999 = lat.p999;
	}
	return rc;
}

/* ------------------------------------------------------------------ */
/* 1b. Ring ping-pong                                                  */

/*
 * The same 64 B message goes out on one ring and comes back on another (each
 * side a non-gating reader polling shmq_ring_read()), one round trip every
 * 2 us; one-way = half the round trip, timed by the sender's clock alone.
 * That is the method of both references (cache line, rte_ring), so this
 * ratio compares like with like. The timestamped one-way above is the
 * direct figure, but each of its samples also spans parts of two clock reads
 * (the run prints what one costs).
 */
struct pp_ctx {
	shmq_ring_t *out, *back;
	int cpu;
	size_t n;
	_Atomic int ready;
	_Atomic int abort;
	int err;
};

static void *pp_echo(void *arg)
{
	struct pp_ctx *x = arg;
	struct shmq_ring_msg m[64];
	uint64_t pos = shmq_ring_tail(x->out);
	size_t got = 0;
	unsigned spins = 0;

	bench_pin(x->cpu);
	/* release: pairs with the sender's acquire wait; the echo is polling */
	atomic_store_explicit(&x->ready, 1, memory_order_release);
	while (got < x->n) {
		int k = shmq_ring_read(x->out, &pos, m, 64);

		if (k == 0) {
			/* relaxed: the abort request carries no data */
			if (shmq_load_relaxed(&x->abort))
				break;
			bench_backoff(&spins);
			continue;
		}
		if (k < 0) {
			x->err = k;
			break;
		}
		spins = 0;
		for (int i = 0; i < k; i++) {
			int rc = shmq_ring_write(x->back, PRODUCER_ID + 1, SHMQ_RING_TYPE_USER, m[i].data,
						 m[i].len);

			if (rc) {
				x->err = rc;
				break;
			}
		}
		if (x->err)
			break;
		got += (size_t)k;
	}
	/* relaxed: a failed echo tells the sender to stop waiting; x->err is
	 * read after the join. A finished one has answered everything. */
	if (x->err)
		shmq_store_relaxed(&x->abort, 1);
	return NULL;
}

static int run_pingpong(const struct bench_cfg *cfg, struct lat_result *out)
{
	struct pp_ctx x = { .cpu = cfg->cpus[1] };
	unsigned char buf[LAT_MSG] = { 0 };
	uint64_t interval = bench_ns_to_ticks(LAT_INTERVAL_NS), start, sum = 0, cap = 1ull << 20, pos;
	uint64_t *rtt;
	size_t warm, done = 0;
	pthread_t th;
	int rc = 0;

	x.n = cfg->quick ? 50000 : 200000;
	/* Both rings hold the whole run, as in the latency run: no reclamation. */
	while (cap < x.n * 256)
		cap <<= 1;
	rtt = calloc(x.n, sizeof(uint64_t));
	x.out = bench_ring_new(cap);
	x.back = bench_ring_new(cap);
	if (!rtt || !x.out || !x.back) {
		rc = -ENOMEM;
		goto out;
	}
	pos = shmq_ring_tail(x.back);
	bench_pin(cfg->cpus[0]);
	if (pthread_create(&th, NULL, pp_echo, &x)) {
		rc = -EAGAIN;
		goto out;
	}
	/* acquire: pairs with the echo's release once it is polling */
	while (!atomic_load_explicit(&x.ready, memory_order_acquire))
		sched_yield();
	start = bench_ticks();
	for (size_t i = 0; i < x.n && !rc; i++) {
		uint64_t target = start + i * interval, t0;
		struct shmq_ring_msg m;
		unsigned spins = 0;
		int k = 0;

		/* Steady rate, resumed from now after the sender was descheduled. */
		if (bench_ticks() > target + 8 * interval) {
			start = bench_ticks() - i * interval;
			target = start + i * interval;
		}
		while (bench_ticks() < target)
			shmq_cpu_relax();
		t0 = bench_ticks();
		memcpy(buf, &i, sizeof(i));
		rc = shmq_ring_write(x.out, PRODUCER_ID, SHMQ_RING_TYPE_USER, buf, LAT_MSG);
		while (!rc && (k = shmq_ring_read(x.back, &pos, &m, 1)) == 0) {
			/* relaxed: the echo stopped (its error is read after the join) */
			if (shmq_load_relaxed(&x.abort)) {
				rc = -ECANCELED;
				break;
			}
			bench_backoff(&spins);
		}
		if (!rc && k < 0)
			rc = k;
		rtt[i] = bench_ticks() - t0;
		done = i + 1;
	}
	if (rc) /* relaxed: the abort request carries no data */
		shmq_store_relaxed(&x.abort, 1);
	pthread_join(th, NULL);
	if (x.err)
		rc = x.err;
	if (!rc && done == x.n) {
		warm = x.n / 20;
		bench_sort_u64(rtt + warm, x.n - warm);
		for (size_t i = warm; i < x.n; i++)
			sum += rtt[i];
		out->samples = x.n - warm;
		out->p50 = bench_ticks_to_ns((double)bench_quantile(rtt + warm, x.n - warm, 0.50)) / 2;
		out->p99 = bench_ticks_to_ns((double)bench_quantile(rtt + warm, x.n - warm, 0.99)) / 2;
		out->p999 = bench_ticks_to_ns((double)bench_quantile(rtt + warm, x.n - warm, 0.999)) / 2;
		out->max = bench_ticks_to_ns((double)rtt[x.n - 1]) / 2;
		out->mean = bench_ticks_to_ns((double)sum / (double)(x.n - warm)) / 2;
	}
out:
	free(rtt);
	shmq_ring_close(x.out);
	shmq_ring_close(x.back);
	return rc;
}

/* One clock read: the median of back-to-back reads. */
static double timer_overhead_ns(void)
{
	uint64_t d[1001];

	for (size_t i = 0; i < 1001; i++) {
		uint64_t a = bench_ticks();

		d[i] = bench_ticks() - a;
	}
	bench_sort_u64(d, 1001);
	return bench_ticks_to_ns((double)d[500]);
}

/* ------------------------------------------------------------------ */
/* 2. Throughput                                                       */

struct tp_ctx {
	shmq_ring_t *r;
	uint32_t size;
	int batched, nprod;
	int cpu_prod, cpu_reader;
	_Atomic int start;
	_Atomic int stop;
	_Atomic int producers_left;
	_Atomic uint64_t produced;
	uint64_t consumed, bytes, t_end, sink;
	_Atomic int err;      /* first failure of any thread; 0 if none */
};

struct tp_producer_arg {
	struct tp_ctx *x;
	uint32_t id;
};

static void *tp_producer(void *arg)
{
	struct tp_producer_arg *pa = arg;
	struct tp_ctx *x = pa->x;
	unsigned char buf[1024] = { 0 };
	uint32_t lens[TP_BATCH];
	/* An upper bound of the record's size in the ring (header + padding). */
	uint32_t need = x->batched ? 64 + TP_BATCH * (16 + x->size) : 64 + x->size;
	uint64_t seq = 0;
	int rc = 0;

	bench_pin(x->cpu_prod);
	for (unsigned i = 0; i < TP_BATCH; i++)
		lens[i] = x->size;
	/* acquire: pairs with the main thread's release of `start` */
	while (!atomic_load_explicit(&x->start, memory_order_acquire))
		sched_yield();
	for (;;) {
		/* relaxed: a stop request needs no ordering; seen within a few messages */
		if ((seq & 255) < (x->batched ? TP_BATCH : 1) && shmq_load_relaxed(&x->stop))
			break;
		if (!x->batched) {
			memcpy(buf, &seq, sizeof(seq));
			rc = shmq_ring_write(x->r, pa->id, SHMQ_RING_TYPE_USER, buf, x->size);
			if (rc == 0) {
				seq++;
				continue;
			}
		} else {
			struct shmq_ring_batch b;

			rc = shmq_ring_batch_reserve(x->r, pa->id, SHMQ_RING_TYPE_USER, TP_BATCH, lens, &b);
			if (rc == 0) {
				for (unsigned i = 0; i < TP_BATCH; i++) {
					uint64_t s = seq + i;

					memcpy(buf, &s, sizeof(s));
					memcpy(shmq_ring_batch_data(&b, i), buf, x->size);
				}
				rc = shmq_ring_batch_commit(x->r, &b);
				if (rc == 0) {
					seq += TP_BATCH;
					continue;
				}
			}
		}
		if (rc != SHMQ_BACK_PRESSURED) {
			/* relaxed: read after pthread_join(), or as a hint to stop */
			shmq_store_relaxed(&x->err, rc);
			break;
		}
		/* Wait the way producers are meant to (G4): spin on the cursors
		 * (read-only), yield, then sleep; retrying the reservation in a
		 * tight loop would hammer the lines the reader writes. */
		rc = shmq_ring_wait_space(x->r, need, 10ull * 1000 * 1000);
		if (rc && rc != -ETIMEDOUT && rc != -EINTR) {
			shmq_store_relaxed(&x->err, rc); /* relaxed: read after pthread_join() */
			break;
		}
	}
	/* relaxed: published by the release decrement of producers_left below */
	shmq_fetch_add_relaxed(&x->produced, seq);
	/* release: pairs with the reader's acquire; publishes `produced` */
	atomic_fetch_sub_explicit(&x->producers_left, 1, memory_order_release);
	return NULL;
}

static void *tp_reader(void *arg)
{
	static struct shmq_ring_msg msgs[2 * SHMQ_RING_BATCH_MAX];
	struct tp_ctx *x = arg;
	uint64_t n = 0, bytes = 0, sink = 0;

	bench_pin(x->cpu_reader);
	for (;;) {
		uint64_t next = 0;
		int k = shmq_ring_gate_read(x->r, msgs, 2 * SHMQ_RING_BATCH_MAX, &next);

		if (k > 0) {
			for (int i = 0; i < k; i++) {
				sink += *(const unsigned char *)msgs[i].data; /* a consumer reads its data */
				bytes += msgs[i].len;
			}
			n += (uint64_t)k;
			k = shmq_ring_gate_consume(x->r, next);
			if (k) {
				shmq_store_relaxed(&x->err, k); /* relaxed: read after pthread_join() */
				break;
			}
			continue;
		}
		if (k < 0) {
			shmq_store_relaxed(&x->err, k); /* relaxed: read after pthread_join() */
			break;
		}
		/* acquire: pairs with each producer's release decrement; then
		 * `produced` is final (relaxed load is enough after it) */
		if (atomic_load_explicit(&x->producers_left, memory_order_acquire) == 0 &&
		    n == shmq_load_relaxed(&x->produced))
			break;
		/* relaxed: a failed producer stops early; its count is still published */
		if (shmq_load_relaxed(&x->err))
			break;
		/* Wait as the broker's persister does (spin, then futex); a
		 * short timeout re-checks the stop conditions above. */
		k = shmq_ring_gate_wait(x->r, shmq_ring_consumed(x->r), 1000000);
		if (k && k != -ETIMEDOUT && k != -EINTR) {
			shmq_store_relaxed(&x->err, k); /* relaxed: read after pthread_join() */
			break;
		}
	}
	x->t_end = bench_ticks();
	x->consumed = n;
	x->bytes = bytes;
	x->sink = sink;
	return NULL;
}

struct tp_result {
	uint32_t size;
	int nprod, batched;
	double msgs_per_s, gb_per_s;
	uint64_t msgs, backpressured, futex_wakes;
};

static int run_throughput(const struct bench_cfg *cfg, struct tp_result *res)
{
	struct tp_ctx x = { .size = res->size, .batched = res->batched, .nprod = res->nprod,
			    .cpu_prod = cfg->cpus[0], .cpu_reader = cfg->cpus[1] };
	struct tp_producer_arg pa[2];
	pthread_t prod[2], reader;
	struct shmq_ring_stats st;
	struct timespec ts;
	uint64_t t0;
	int nthreads = 0, rc = 0;

	/* This thread only starts, times and stops the workers. */
	bench_controller();
	x.r = bench_ring_new(TP_RING_CAPACITY);
	if (!x.r)
		return -ENOMEM;
	atomic_init(&x.producers_left, res->nprod);
	if (pthread_create(&reader, NULL, tp_reader, &x)) {
		shmq_ring_close(x.r);
		return -EAGAIN;
	}
	for (int i = 0; i < res->nprod; i++) {
		pa[i].x = &x;
		pa[i].id = PRODUCER_ID + (uint32_t)i;
		if (pthread_create(&prod[i], NULL, tp_producer, &pa[i])) {
			rc = -EAGAIN;
			/* The reader waits for every producer to check out. */
			atomic_fetch_sub_explicit(&x.producers_left, 1, memory_order_release);
			continue;
		}
		nthreads++;
	}
	usleep(20000); /* let the threads reach their CPUs */
	t0 = bench_ticks();
	/* release: pairs with the producers' acquire; the clock is running */
	atomic_store_explicit(&x.start, 1, memory_order_release);
	ts.tv_sec = (time_t)cfg->duration;
	ts.tv_nsec = (long)((cfg->duration - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
	/* relaxed: the stop request carries no data */
	shmq_store_relaxed(&x.stop, 1);
	for (int i = 0; i < res->nprod; i++)
		if (i < nthreads)
			pthread_join(prod[i], NULL);
	pthread_join(reader, NULL);
	shmq_ring_stats(x.r, &st);
	shmq_ring_close(x.r);
	if (rc)
		return rc;
	/* relaxed: every thread was joined */
	rc = shmq_load_relaxed(&x.err);
	if (rc) {
		fprintf(stderr, "shmq-bench ring: throughput %u B: %s\n", res->size, shmq_strerror(rc));
		return rc;
	}
	res->msgs = x.consumed;
	res->msgs_per_s = (double)x.consumed / (bench_ticks_to_ns((double)(x.t_end - t0)) / 1e9);
	res->gb_per_s = res->msgs_per_s * res->size / 1e9;
	res->backpressured = st.backpressured;
	res->futex_wakes = st.futex_wakes;
	return 0;
}

/* ------------------------------------------------------------------ */

static double cacheline(const struct bench_cfg *cfg)
{
	return bench_ref_cacheline_ns(cfg->cpus[0], cfg->cpus[1], 21, cfg->quick ? 10000 : 20000);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: shmq-bench ring [--duration SECONDS] [--quick] [--realtime]\n"
		   "  --duration S  seconds per throughput configuration (default 1.0)\n"
		   "  --quick       short run: 0.2 s per configuration, 100k latency samples\n"
		   "  --realtime    run the pinned bench threads SCHED_FIFO (root): shields the\n"
		   "                figures from other work on a shared box, which stalls for the run\n"
		   "  --only WHAT   `latency` or `throughput` (plus the references): for A/B runs\n");
}

int shmq_bench_ring(int argc, char **argv)
{
	struct bench_cfg cfg = { .duration = 1.0 };
	struct tp_result tp[8];
	struct lat_result lat = { 0 }, pp = { 0 };
	struct bench_rte_ring_result rte = { 0 };
	double cl[4], cl_lat, best_batched = 0, tp_ratio, lat_ratio, pp_ratio, load1, timer_ns;
	char when[32];
	time_t now = time(NULL);
	int ntp = 0, rc, rte_rc, moved;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			cfg.quick = 1;
			cfg.duration = 0.2;
		} else if (!strcmp(argv[i], "--duration") && i + 1 < argc) {
			char *end;

			cfg.duration = strtod(argv[++i], &end);
			if (*end || cfg.duration <= 0 || cfg.duration > 600) {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--realtime")) {
			cfg.realtime = 1;
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			i++;
			if (!strcmp(argv[i], "latency")) {
				cfg.only = 1;
			} else if (!strcmp(argv[i], "throughput")) {
				cfg.only = 2;
			} else {
				usage(stderr);
				return 2;
			}
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (bench_two_cpus(cfg.cpus) < 2)
		fprintf(stderr, "shmq-bench ring: only one CPU available; figures will be poor\n");
	bench_clock_init();
	timer_ns = timer_overhead_ns();
	if (cfg.realtime && (rc = bench_realtime(1)) != 0) {
		fprintf(stderr, "shmq-bench ring: --realtime: %s; running without it\n", shmq_strerror(rc));
		cfg.realtime = 0;
	}
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	{
		/* Other work on the two cores skews everything: say how busy the box was. */
		FILE *f = fopen("/proc/loadavg", "r");

		if (!f || fscanf(f, "%lf", &load1) != 1)
			load1 = -1;
		if (f)
			fclose(f);
	}
	printf("shmq-bench ring: %s, cpus %d and %d, %.2f s per throughput run, load average %.2f%s\n\n",
	       when, cfg.cpus[0], cfg.cpus[1], cfg.duration, load1, cfg.realtime ? ", SCHED_FIFO" : "");
	fflush(stdout);

	/* The cache-line reference is taken at the start, right before and right
	 * after the latency run, and at the end: the VM's vCPUs sometimes move
	 * "far" apart (3-5x slower transfers), and a ratio is only meaningful
	 * against the reference next to it. */
	cl[0] = cacheline(&cfg);
	rte_rc = bench_ref_rte_ring(cfg.cpus[0], cfg.cpus[1], cfg.duration, &rte);
	if (rte_rc)
		fprintf(stderr, "shmq-bench ring: rte_ring reference failed: %s\n", shmq_strerror(rte_rc));
	cl[1] = cacheline(&cfg);
	rc = cfg.only == 2 ? 0 : run_latency(&cfg, &lat);
	if (rc) {
		fprintf(stderr, "shmq-bench ring: latency run failed: %s\n", shmq_strerror(rc));
		return 1;
	}
	rc = cfg.only == 2 ? 0 : run_pingpong(&cfg, &pp);
	if (rc) {
		fprintf(stderr, "shmq-bench ring: ping-pong run failed: %s\n", shmq_strerror(rc));
		return 1;
	}
	cl[2] = cacheline(&cfg);
	for (int s = 0; s < 2 && cfg.only != 1; s++)
		for (int p = 1; p <= 2; p++)
			for (int b = 0; b < 2; b++) {
				struct tp_result *t = &tp[ntp];

				memset(t, 0, sizeof(*t));
				t->size = s ? 1024 : 64;
				t->nprod = p;
				t->batched = b;
				rc = run_throughput(&cfg, t);
				if (rc) {
					fprintf(stderr, "shmq-bench ring: throughput run failed: %s\n",
						shmq_strerror(rc));
					return 1;
				}
				if (t->size == 64 && b && t->msgs_per_s > best_batched)
					best_batched = t->msgs_per_s;
				ntp++;
			}
	cl[3] = cacheline(&cfg);
	cl_lat = (cl[1] + cl[2]) / 2;
	moved = cl[1] > 1.5 * cl[2] || cl[2] > 1.5 * cl[1];

	printf("references (same run)\n");
	printf("  cache-line one-way (half RTT)     %8.1f ns around the latency run (%.1f / %.1f before / "
	       "after; %.1f at start, %.1f at end)%s\n", cl_lat, cl[1], cl[2], cl[0], cl[3],
	       moved ? "\n  WARNING: the cache-line cost moved during the latency run; its ratio is unreliable" : "");
	if (!rte_rc) {
		printf("  rte_ring SP/SC ping-pong one-way  %8.1f ns\n", rte.pingpong_ns);
		printf("  rte_ring SP/SC unbatched          %8.2f M msg/s\n", rte.spsc_msgs_per_s / 1e6);
	}
	printf("\nring one-way latency, 64 B every %.0f ns, %zu samples\n", LAT_INTERVAL_NS, lat.samples);
	printf("  p50 %.0f ns   p99 %.0f ns   p99.9 %.0f ns   mean %.0f ns   max %.0f ns\n", lat.p50,
	       lat.p99, lat.p999, lat.mean, lat.max);
	printf("  one clock read (rdtsc) takes %.1f ns; every one-way sample above spans parts of two\n", timer_ns);
	printf("\nring ping-pong one-way (half a round trip, the references' method), 64 B every %.0f ns, %zu samples\n",
	       LAT_INTERVAL_NS, pp.samples);
	printf("  p50 %.0f ns   p99 %.0f ns   p99.9 %.0f ns   mean %.0f ns   max %.0f ns\n", pp.p50,
	       pp.p99, pp.p999, pp.mean, pp.max);
	printf("\nring throughput, gating reader on cpu %d, producers on cpu %d\n", cfg.cpus[1], cfg.cpus[0]);
	printf("  %6s %9s %10s %12s %9s %14s %11s\n", "size", "producers", "mode", "M msg/s", "GB/s",
	       "back-pressured", "futex wakes");
	for (int i = 0; i < ntp; i++)
		printf("  %5uB %9d %10s %12.2f %9.2f %14" PRIu64 " %11" PRIu64 "\n", tp[i].size, tp[i].nprod,
		       tp[i].batched ? "batch 32" : "unbatched", tp[i].msgs_per_s / 1e6, tp[i].gb_per_s,
		       tp[i].backpressured, tp[i].futex_wakes);

	lat_ratio = lat.p50 / cl_lat;
	pp_ratio = pp.p50 / cl_lat;
	tp_ratio = rte_rc || ntp == 0 ? 0 : tp[0].msgs_per_s / rte.spsc_msgs_per_s;
	printf("\nratios vs targets\n");
	printf("  ring p50 / cache-line one-way        %6.2f  (target <= 2.00)  %s\n", lat_ratio,
	       lat_ratio <= 2.0 ? "met" : "MISSED");
	printf("  ring ping-pong p50 / cache-line      %6.2f  (both half a round trip)\n", pp_ratio);
	if (!rte_rc)
		printf("  ring 64 B unbatched / rte_ring SP/SC %6.2f  (target >= 0.50)  %s\n", tp_ratio,
		       tp_ratio >= 0.5 ? "met" : "MISSED");
	printf("  ring 64 B batched best               %6.2f M msg/s (target >= 20)  %s\n",
	       best_batched / 1e6, best_batched >= 20e6 ? "met" : "MISSED");

	/* The final line: every figure, as JSON. */
	printf("{\"bench\":\"ring\",\"date\":\"%s\",\"load_avg_1m\":%.2f,\"realtime\":%s,\"cpus\":[%d,%d],"
	       "\"duration_s\":%.3f,\"cacheline_oneway_ns\":%.1f,\"cacheline_oneway_series_ns\":[%.1f,%.1f,%.1f,%.1f],"
	       "\"cacheline_moved\":%s,\"rte_ring_ok\":%s,\"rte_ring_spsc_msgs_per_s\":%.0f,"
	       "\"rte_ring_pingpong_oneway_ns\":%.1f,"
	       "\"latency\":{\"msg_bytes\":%u,\"interval_ns\":%.0f,\"samples\":%zu,\"p50_ns\":%.0f,"
	       "\"p99_ns\":%.0f,\"p999_ns\":%.0f,\"mean_ns\":%.0f,\"max_ns\":%.0f},\"clock_read_ns\":%.1f,"
	       "\"pingpong\":{\"samples\":%zu,\"p50_ns\":%.1f,\"p99_ns\":%.1f,\"p999_ns\":%.1f,"
	       "\"mean_ns\":%.1f},\"throughput\":[",
	       when, load1, cfg.realtime ? "true" : "false", cfg.cpus[0], cfg.cpus[1], cfg.duration, cl_lat,
	       cl[0], cl[1], cl[2], cl[3], moved ? "true" : "false", rte_rc ? "false" : "true",
	       rte.spsc_msgs_per_s, rte.pingpong_ns, LAT_MSG, LAT_INTERVAL_NS, lat.samples, lat.p50,
	       lat.p99, lat.p999, lat.mean, lat.max, timer_ns, pp.samples, pp.p50, pp.p99, pp.p999, pp.mean);
	for (int i = 0; i < ntp; i++)
		printf("%s{\"size\":%u,\"producers\":%d,\"batch\":%u,\"msgs_per_s\":%.0f,\"gb_per_s\":%.3f,"
		       "\"msgs\":%" PRIu64 ",\"backpressured\":%" PRIu64 ",\"futex_wakes\":%" PRIu64 "}",
		       i ? "," : "", tp[i].size, tp[i].nprod, tp[i].batched ? TP_BATCH : 1,
		       tp[i].msgs_per_s, tp[i].gb_per_s, tp[i].msgs, tp[i].backpressured, tp[i].futex_wakes);
	printf("],\"ratios\":{\"latency_p50_over_cacheline\":%.3f,\"pingpong_p50_over_cacheline\":%.3f,\"unbatched_64_over_rte_ring\":%.3f,"
	       "\"batched_64_best_msgs_per_s\":%.0f},\"targets\":{\"latency_ratio_max\":2.0,"
	       "\"unbatched_ratio_min\":0.5,\"batched_msgs_per_s_min\":20000000},"
	       "\"met\":{\"latency\":%s,\"unbatched\":%s,\"batched\":%s}}\n",
	       lat_ratio, pp_ratio, tp_ratio, best_batched, lat_ratio <= 2.0 ? "true" : "false",
	       tp_ratio >= 0.5 ? "true" : "false", best_batched >= 20e6 ? "true" : "false");
	return 0;
}
