/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `shmq-bench store`: the message store against the disk it sits on, in one
 * run (the VM's disk is shared and noisy, so only ratios taken in the same
 * run mean anything).
 *
 * References, on the same filesystem as the store:
 *  - raw sequential write bandwidth: a new large file (1 GiB; --quick 256
 *    MiB) written in 1 MiB chunks, then one fdatasync() (the issue's
 *    reference); the same file overwritten (an upper bound: blocks allocated,
 *    pages cached); a read of it after eviction from the page cache (what a
 *    cold recovery waits for);
 *  - the latency of a single 4 KiB append + fdatasync() (O_APPEND file),
 *    sampled between the sync-flush rounds.
 * Store figures:
 *  - async flush: append throughput of 100 B and 1 KiB records (batches of
 *    32, as the persister appends), up to and including the final flush;
 *  - sync flush (group commit) from 1, 4 and 16 appender threads. The store
 *    has one appender (store.h), so appends are serialised by a mutex and
 *    each thread waits for the durability of its own record outside the lock:
 *    that wait is what group commit batches;
 *  - recovery: a child builds a commitlog with checkpoints disabled, flushes
 *    it and is SIGKILLed (abort file left behind), then the store is opened
 *    and the scan of the whole log is timed, with the log in the page cache
 *    (a broker process crash) and with it evicted (posix_fadvise DONTNEED,
 *    as after a reboot).
 * Targets (from the issue), as ratios in this run: async 1 KiB >= 80 % of raw
 * write bandwidth; 16 sync appenders >= 16x the records/s of one; recovery
 * < 2 s per GiB scanned. A table, then one line of JSON with every figure.
 * Every file is created under a fresh directory in --dir (default /var/tmp),
 * removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "broker/store/store.h"
#include "common/atomic.h"
#include "common/clock.h"

#define GIB (1024.0 * 1024.0 * 1024.0)
#define MIB (1024u * 1024u)
#define RAW_CHUNK MIB
#define ASYNC_BATCH 32u
#define SYNC_MAX_THREADS 16u
#define SYNC_MSG_SIZE 1024u
#define SYNC_ROUNDS 3u
#define BW_ROUNDS 3u
#define BENCH_TOPIC "bench"

struct cfg {
	const char *parent;       /* --dir */
	bool quick;
	uint64_t raw_bytes;       /* raw write reference */
	unsigned lat_iters;       /* 4 KiB append + fdatasync samples */
	uint64_t async_bytes;     /* record bytes per async run */
	uint64_t seg_size;        /* async and recovery segments */
	double sync_secs;         /* per sync configuration, over all rounds */
	uint64_t recovery_bytes;  /* commitlog built for the recovery scan */
};

struct figures {
	double raw_new_gbps;        /* write + fdatasync of a new large file */
	double raw_over_gbps;       /* the same, overwriting that file */
	double raw_read_gbps;       /* read of that file, evicted from the page cache */
	double fsync4k_p50_us, fsync4k_p99_us;
	struct async_fig {          /* [0] 100 B, [1] 1 KiB */
		double rps, gbps, payload_gbps, kib_per_fdatasync;
	} async[2];
	struct sync_fig {           /* [0] 1, [1] 4, [2] 16 appenders */
		double rps, p50_us, p99_us, per_fdatasync;
		double sync_us, round_us;   /* mean fdatasync round, mean round period */
	} sync[3];
	double rec_warm_s, rec_warm_gib, rec_cold_s, rec_cold_gib;
	uint64_t rec_warm_records, rec_cold_records;
};

static char work_dir[PATH_MAX];
static uint8_t payload[4096];

/* ------------------------------------------------------------------ */
/* helpers                                                             */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double quantile_us(uint64_t *ns, size_t n, double q)
{
	size_t i;

	if (!n)
		return 0;
	qsort(ns, n, sizeof(*ns), cmp_u64);
	i = (size_t)(q * (double)(n - 1) + 0.5);
	return (double)ns[i < n ? i : n - 1] / 1e3;
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_tree(const char *p)
{
	nftw(p, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* The mount holding @p path (longest mount-point prefix in /proc/self/mounts). */
static void describe_fs(const char *path, char *out, size_t len)
{
	char real[PATH_MAX], dev[256], mnt[PATH_MAX], type[64], line[2 * PATH_MAX];
	size_t best = 0;
	FILE *f;

	snprintf(out, len, "unknown");
	if (!realpath(path, real))
		return;
	f = fopen("/proc/self/mounts", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		size_t ml;

		if (sscanf(line, "%255s %4095s %63s", dev, mnt, type) != 3)
			continue;
		ml = strlen(mnt);
		if (strncmp(real, mnt, ml) || (real[ml] != '/' && real[ml] != '\0' && ml != 1))
			continue;
		if (ml >= best) {
			best = ml;
			if (snprintf(out, len, "%s on %s (%s)", type, mnt, dev) >= (int)len)
				out[len - 1] = '\0';  /* a cut description is still useful */
		}
	}
	fclose(f);
}

/* The 1-minute load average (other work on a shared 2-vCPU machine moves
 * every figure; the report prints it at the start and the end). */
static double load1(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

static void fill_payload(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < sizeof(payload); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		payload[i] = (uint8_t)x;
	}
}

static void opts_init(struct shmq_store_opts *o, const char *dir, int mode, uint64_t seg)
{
	memset(o, 0, sizeof(*o));
	o->sz = sizeof(*o);
	o->dir = dir;
	o->flush_mode = mode;
	o->segment_size = seg;
	o->max_msg_size = seg / 4 < (4u << 20) ? (uint32_t)(seg / 4) : (4u << 20);
}

/* ------------------------------------------------------------------ */
/* references                                                          */

/* Write @p bytes at offset 0 in 1 MiB pwrite()s, then fdatasync(). GB/s or -errno. */
static double write_pass(int fd, const uint8_t *buf, uint64_t bytes)
{
	uint64_t done = 0, t0 = shmq_now_ns();

	while (done < bytes) {
		ssize_t n = pwrite(fd, buf, RAW_CHUNK, (off_t)done);

		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (uint64_t)n;
	}
	if (fdatasync(fd) != 0)
		return -errno;
	return (double)done / (double)(shmq_now_ns() - t0);
}

/*
 * The disk references: a new file written and fdatasync'ed (the issue's
 * "write + fdatasync of a large file": the primary reference), the same file
 * overwritten (blocks allocated and pages cached, as the store's pre-created
 * segments are: an upper bound), and a read of it after evicting it from the
 * page cache (what a cold recovery scan is bound by).
 */
static int raw_refs(const struct cfg *c, struct figures *fg)
{
	char path[PATH_MAX + 16];
	uint8_t *buf = malloc(RAW_CHUNK);
	uint64_t done = 0, t0;
	int fd, rc = 0;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < RAW_CHUNK; i++)
		buf[i] = payload[i % sizeof(payload)];
	snprintf(path, sizeof(path), "%s/raw", work_dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		free(buf);
		return -errno;
	}
	fg->raw_new_gbps = write_pass(fd, buf, c->raw_bytes);
	fg->raw_over_gbps = fg->raw_new_gbps < 0 ? fg->raw_new_gbps
						 : write_pass(fd, buf, c->raw_bytes);
	if (fg->raw_over_gbps < 0) {
		rc = (int)fg->raw_over_gbps;
	} else {
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		t0 = shmq_now_ns();
		for (;;) {
			ssize_t n = pread(fd, buf, RAW_CHUNK, (off_t)done);

			if (n < 0)
				rc = -errno;
			if (n <= 0)
				break;
			done += (uint64_t)n;
		}
		fg->raw_read_gbps = (double)done / (double)(shmq_now_ns() - t0);
	}
	close(fd);
	unlink(path);
	free(buf);
	return rc;
}

/* @p n samples of a 4 KiB append + fdatasync() to an O_APPEND file, into @p ns. */
static int fsync_samples(uint64_t *ns, unsigned n)
{
	char path[PATH_MAX + 16];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/lat", work_dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		uint64_t t0 = shmq_now_ns();

		if (write(fd, payload, 4096) != 4096 || fdatasync(fd) != 0)
			rc = -errno;
		ns[i] = shmq_now_ns() - t0;
	}
	close(fd);
	unlink(path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* async appends                                                       */

static void msg_init(struct shmq_store_msg *m, uint32_t body_len, uint32_t queue)
{
	*m = (struct shmq_store_msg){
		.topic = BENCH_TOPIC,
		.queue_id = queue,
		.body = payload,
		.body_len = body_len,
		.tags = "bench",
		.born_host = (uint64_t)getpid(),
		.producer_id = 1,
	};
}

/*
 * Append @p body_len-byte records until @p bytes of commitlog are written,
 * in batches of ASYNC_BATCH. @return 0 or a negative status; *end and the
 * record count out.
 */
static int append_until(shmq_store_t *s, uint32_t body_len, uint64_t bytes, uint64_t *end,
			uint64_t *records)
{
	struct shmq_store_msg msgs[ASYNC_BATCH];
	struct shmq_store_result res[ASYNC_BATCH];
	uint64_t n = 0, e = shmq_store_max_offset(s), start = e;

	for (unsigned i = 0; i < ASYNC_BATCH; i++)
		msg_init(&msgs[i], body_len, i % 4);
	while (e - start < bytes) {
		int rc;

		for (unsigned i = 0; i < ASYNC_BATCH; i++)
			msgs[i].producer_seq = n + i;
		rc = shmq_store_append(s, msgs, ASYNC_BATCH, res);
		if (rc != (int)ASYNC_BATCH)
			return rc < 0 ? rc : res[rc].status;
		n += ASYNC_BATCH;
		e = res[ASYNC_BATCH - 1].commitlog_offset + res[ASYNC_BATCH - 1].size;
	}
	*end = e;
	*records = n;
	return 0;
}

/*
 * One async run: @p dirty_pages 0 = the store's default flush threshold.
 * Timed from the first append to the end of the final flush; the store's
 * open (which creates and pre-touches the first segment) is not timed, as a
 * broker opens its store once.
 */
static int async_run(const struct cfg *c, uint32_t body_len, uint64_t bytes, uint32_t dirty_pages,
		     struct async_fig *f)
{
	char dir[PATH_MAX + 16];
	struct shmq_store_opts o;
	struct shmq_store_stats st0, st1;
	shmq_store_t *s = NULL;
	uint64_t t0, dt, end = 0, n = 0;
	int rc;

	snprintf(dir, sizeof(dir), "%s/async%u", work_dir, body_len);
	opts_init(&o, dir, SHMQ_FLUSH_ASYNC, c->seg_size);
	o.flush_dirty_pages = dirty_pages;
	rc = shmq_store_open(&o, &s, NULL);
	if (rc)
		return rc;
	shmq_store_stats(s, &st0);
	t0 = shmq_now_ns();
	rc = append_until(s, body_len, bytes, &end, &n);
	if (rc == 0)
		rc = shmq_store_flush(s);
	dt = shmq_now_ns() - t0;
	shmq_store_stats(s, &st1);
	if (rc == 0) {
		uint64_t nsync = st1.fdatasync_calls - st0.fdatasync_calls;

		f->rps = (double)n * 1e9 / (double)dt;
		f->gbps = (double)end / (double)dt;
		f->payload_gbps = (double)n * body_len / (double)dt;
		f->kib_per_fdatasync = nsync ? (double)end / 1024.0 / (double)nsync : 0;
	}
	if (shmq_store_close(s) && rc == 0)
		rc = -EIO;
	rm_tree(dir);
	return rc;
}

/* ------------------------------------------------------------------ */
/* sync appends: group commit                                          */

struct sync_shared {
	shmq_store_t *s;
	pthread_mutex_t append_mu;   /* the store has one appender (store.h) */
	_Atomic bool stop;
	uint64_t lat_cap;
};

struct sync_thread {
	struct sync_shared *sh;
	pthread_t th;
	unsigned id;
	uint64_t done;
	uint64_t *lat;               /* ns per record, the first lat_cap */
	int rc;
};

static void *sync_appender(void *arg)
{
	struct sync_thread *t = arg;
	struct sync_shared *sh = t->sh;
	struct shmq_store_msg m;
	struct shmq_store_result r;

	msg_init(&m, SYNC_MSG_SIZE, t->id % 4);
	/* relaxed: a stop request; the figures are read after pthread_join() */
	while (!shmq_load_relaxed(&sh->stop)) {
		uint64_t t0 = shmq_now_ns();
		int rc;

		m.producer_seq = t->done;
		pthread_mutex_lock(&sh->append_mu);
		rc = shmq_store_append(sh->s, &m, 1, &r);
		pthread_mutex_unlock(&sh->append_mu);
		if (rc != 1) {
			t->rc = rc < 0 ? rc : r.status;
			break;
		}
		/* outside the lock: the other appenders join the same fdatasync */
		rc = shmq_store_wait_durable(sh->s, r.commitlog_offset + r.size, UINT64_MAX);
		if (rc) {
			t->rc = rc;
			break;
		}
		if (t->done < sh->lat_cap)
			t->lat[t->done] = shmq_now_ns() - t0;
		t->done++;
	}
	return NULL;
}

/* @p n appender threads for @p secs seconds. */
static int sync_once(struct sync_shared *sh, struct sync_thread *th, unsigned n, double secs,
		     struct sync_fig *f)
{
	struct timespec ts = { (time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9) };
	struct shmq_store_stats st0, st1;
	uint64_t t0, dt, total = 0, nlat = 0, *all;
	int rc = 0;

	/* relaxed: no data is published through the flag */
	shmq_store_relaxed(&sh->stop, false);
	shmq_store_stats(sh->s, &st0);
	t0 = shmq_now_ns();
	for (unsigned k = 0; k < n; k++) {
		th[k].sh = sh;
		th[k].id = k;
		th[k].done = 0;
		th[k].rc = 0;
		if (pthread_create(&th[k].th, NULL, sync_appender, &th[k])) {
			n = k;
			rc = -EAGAIN;
			break;
		}
	}
	nanosleep(&ts, NULL);
	/* relaxed: a stop request; pthread_join() orders the figures */
	shmq_store_relaxed(&sh->stop, true);
	for (unsigned k = 0; k < n; k++) {
		pthread_join(th[k].th, NULL);
		total += th[k].done;
		if (th[k].rc && rc == 0)
			rc = th[k].rc;
	}
	dt = shmq_now_ns() - t0;
	shmq_store_stats(sh->s, &st1);
	all = malloc((total ? total : 1) * sizeof(uint64_t));
	if (!all)
		return -ENOMEM;
	for (unsigned k = 0; k < n; k++) {
		uint64_t m = th[k].done < sh->lat_cap ? th[k].done : sh->lat_cap;

		memcpy(all + nlat, th[k].lat, m * sizeof(uint64_t));
		nlat += m;
	}
	f->rps = (double)total * 1e9 / (double)dt;
	f->p50_us = quantile_us(all, nlat, 0.5);
	f->p99_us = quantile_us(all, nlat, 0.99);
	f->per_fdatasync = st1.fdatasync_calls > st0.fdatasync_calls
				   ? (double)total / (double)(st1.fdatasync_calls - st0.fdatasync_calls)
				   : 0;
	/* Where a group-commit round's time goes: inside the flusher's
	 * fdatasyncs, or around them (wake-ups, appends, the F4 window). */
	if (st1.flushes > st0.flushes) {
		double rounds = (double)(st1.flushes - st0.flushes);

		f->sync_us = (double)(st1.sync_ns - st0.sync_ns) / 1e3 / rounds;
		f->round_us = (double)dt / 1e3 / rounds;
	}
	free(all);
	return rc;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/*
 * The raw disk references and the async runs, interleaved over BW_ROUNDS
 * rounds (the shared disk's bandwidth swings several-fold from one minute to
 * the next); every figure is the median of its rounds.
 */
static int bandwidth_rounds(const struct cfg *c, struct figures *fg, const char **step)
{
	struct figures r[BW_ROUNDS];
	double v[BW_ROUNDS];
	int rc = 0;

	memset(r, 0, sizeof(r));
	for (unsigned i = 0; i < BW_ROUNDS && rc == 0; i++) {
		*step = "raw disk references";
		rc = raw_refs(c, &r[i]);
		if (rc == 0) {
			*step = "async 100 B";
			rc = async_run(c, 100, c->async_bytes / 2, 0, &r[i].async[0]);
		}
		if (rc == 0) {
			*step = "async 1 KiB";
			rc = async_run(c, 1024, c->async_bytes, 0, &r[i].async[1]);
		}
	}
	if (rc)
		return rc;
#define MEDIAN_OF(field)                            \
	do {                                        \
		for (unsigned i = 0; i < BW_ROUNDS; i++) \
			v[i] = r[i].field;          \
		fg->field = median(v, BW_ROUNDS);   \
	} while (0)
	MEDIAN_OF(raw_new_gbps);
	MEDIAN_OF(raw_over_gbps);
	MEDIAN_OF(raw_read_gbps);
	for (unsigned k = 0; k < 2; k++) {
		MEDIAN_OF(async[k].rps);
		MEDIAN_OF(async[k].gbps);
		MEDIAN_OF(async[k].payload_gbps);
		MEDIAN_OF(async[k].kib_per_fdatasync);
	}
#undef MEDIAN_OF
	return 0;
}

static int cmp_sync_fig(const void *a, const void *b)
{
	double x = ((const struct sync_fig *)a)->rps, y = ((const struct sync_fig *)b)->rps;

	return x < y ? -1 : x > y;
}

/*
 * 1, 4 and 16 appenders, interleaved over SYNC_ROUNDS rounds (each opened by
 * a batch of 4 KiB append + fdatasync reference samples) so that a burst of
 * noise from the shared disk hits every configuration alike; each
 * configuration reports its median round (by records/s).
 */
static int sync_runs(const struct cfg *c, struct figures *fg)
{
	static const unsigned nthreads[3] = { 1, 4, SYNC_MAX_THREADS };
	struct sync_fig rounds[3][SYNC_ROUNDS];
	struct sync_thread th[SYNC_MAX_THREADS];
	struct sync_shared sh = { .lat_cap = 1u << 18 };
	unsigned per_round = c->lat_iters / SYNC_ROUNDS;
	uint64_t *lat4k = NULL;
	char dir[PATH_MAX + 16];
	struct shmq_store_opts o;
	int rc;

	snprintf(dir, sizeof(dir), "%s/sync", work_dir);
	opts_init(&o, dir, SHMQ_FLUSH_SYNC, 256ull * MIB);
	rc = shmq_store_open(&o, &sh.s, NULL);
	if (rc)
		return rc;
	pthread_mutex_init(&sh.append_mu, NULL);
	memset(th, 0, sizeof(th));
	for (unsigned k = 0; k < SYNC_MAX_THREADS; k++) {
		th[k].lat = malloc(sh.lat_cap * sizeof(uint64_t));
		if (!th[k].lat)
			rc = -ENOMEM;
	}
	lat4k = calloc((size_t)SYNC_ROUNDS * per_round, sizeof(*lat4k));
	if (!lat4k)
		rc = -ENOMEM;
	/* the 4 KiB fdatasync reference is sampled in every round too: the
	 * disk's latency drifts with the neighbours' load */
	for (unsigned r = 0; r < SYNC_ROUNDS && rc == 0; r++) {
		rc = fsync_samples(lat4k + (size_t)r * per_round, per_round);
		for (unsigned k = 0; k < 3 && rc == 0; k++)
			rc = sync_once(&sh, th, nthreads[k], c->sync_secs / SYNC_ROUNDS, &rounds[k][r]);
	}
	if (rc == 0) {
		fg->fsync4k_p50_us = quantile_us(lat4k, (size_t)SYNC_ROUNDS * per_round, 0.5);
		fg->fsync4k_p99_us = quantile_us(lat4k, (size_t)SYNC_ROUNDS * per_round, 0.99);
	}
	free(lat4k);
	for (unsigned k = 0; k < 3 && rc == 0; k++) {
		qsort(rounds[k], SYNC_ROUNDS, sizeof(rounds[k][0]), cmp_sync_fig);
		fg->sync[k] = rounds[k][SYNC_ROUNDS / 2];
	}
	for (unsigned k = 0; k < SYNC_MAX_THREADS; k++)
		free(th[k].lat);
	if (shmq_store_close(sh.s) && rc == 0)
		rc = -EIO;
	pthread_mutex_destroy(&sh.append_mu);
	rm_tree(dir);
	return rc;
}

/* ------------------------------------------------------------------ */
/* recovery                                                            */

/* Child: build the log with checkpoints off (so recovery must scan it all),
 * make it durable, report, and wait for SIGKILL with the abort file left. */
static void recovery_child(const struct cfg *c, const char *dir, int fd)
{
	struct shmq_store_opts o;
	shmq_store_t *s = NULL;
	uint64_t end, n;
	char ok = 1;

	opts_init(&o, dir, SHMQ_FLUSH_ASYNC, c->seg_size);
	o.checkpoint_interval_ms = UINT32_MAX;
	if (shmq_store_open(&o, &s, NULL) || append_until(s, 1024, c->recovery_bytes, &end, &n) ||
	    shmq_store_flush(s))
		ok = 0;
	if (write(fd, &ok, 1) != 1)
		_exit(3);
	for (;;)
		pause();
}

/* Evict the segments from the page cache (they are on disk: flushed). */
static void evict_commitlog(const char *dir, uint64_t seg_size)
{
	char path[PATH_MAX + 64];

	for (uint64_t base = 0;; base += seg_size) {
		int fd;

		snprintf(path, sizeof(path), "%s/commitlog/%020" PRIu64, dir, base);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			break;
		(void)fdatasync(fd);
		(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

static int recovery_run(const struct cfg *c, bool cold, double *s_per_gib, double *gib,
			uint64_t *records)
{
	char dir[PATH_MAX + 16], ok = 0;
	struct shmq_store_recovery_report rep;
	struct shmq_store_opts o;
	shmq_store_t *s = NULL;
	int fds[2], rc, st;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/recovery-%s", work_dir, cold ? "cold" : "warm");
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(fds[0]);
		close(fds[1]);
		return rc;
	}
	if (pid == 0) {
		close(fds[0]);
		recovery_child(c, dir, fds[1]);
		_exit(4);
	}
	close(fds[1]);
	if (read(fds[0], &ok, 1) != 1)
		ok = 0;
	close(fds[0]);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	if (!ok) {
		rm_tree(dir);
		return -EIO;
	}
	if (cold)
		evict_commitlog(dir, c->seg_size);
	opts_init(&o, dir, SHMQ_FLUSH_ASYNC, c->seg_size);
	rc = shmq_store_open(&o, &s, &rep);
	if (rc == 0) {
		double scanned = (double)(rep.end_offset - rep.scan_from) / GIB;

		*gib = scanned;
		*s_per_gib = scanned > 0 ? (double)rep.duration_ns / 1e9 / scanned : 0;
		*records = rep.records_verified;
		if (!rep.abnormal)
			rc = -EPROTO;  /* the kill must have left the abort file */
		shmq_store_close(s);
	}
	rm_tree(dir);
	return rc;
}

/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f, "usage: shmq-bench store [--quick] [--dir DIR]\n"
		   "  --quick    smaller sizes (~20 s)\n"
		   "  --dir DIR  where to create the scratch directory (default /var/tmp;\n"
		   "             use the filesystem the broker's store will live on)\n");
}

static const char *verdict(bool ok)
{
	return ok ? "ok" : "MISSED";
}

static void report(const struct cfg *c, const struct figures *fg, const char *host,
		   const char *fsdesc, double load_start)
{
	static const char *const async_name[2] = { "100 B", "1 KiB" };
	static const unsigned sync_n[3] = { 1, 4, SYNC_MAX_THREADS };
	double r_async = fg->async[1].gbps / fg->raw_new_gbps;
	double r_async_over = fg->async[1].gbps / fg->raw_over_gbps;
	double r_group = fg->sync[0].rps > 0 ? fg->sync[2].rps / fg->sync[0].rps : 0;
	double r_rec = fg->rec_cold_s > fg->rec_warm_s ? fg->rec_cold_s : fg->rec_warm_s;

	printf("\nload average (1 min) at start %.2f, at end %.2f\n", load_start, load1());
	printf("references (same filesystem, same run; medians of %u rounds interleaved with the"
	       " async runs)\n", BW_ROUNDS);
	printf("  raw write + fdatasync, new file      %8.2f GB/s\n", fg->raw_new_gbps);
	printf("  raw write + fdatasync, overwrite     %8.2f GB/s\n", fg->raw_over_gbps);
	printf("  raw read, evicted from page cache    %8.2f GB/s  (%.2f s/GiB)\n",
	       fg->raw_read_gbps, 1.0 / (fg->raw_read_gbps * GIB / 1e9));
	printf("  4 KiB append + fdatasync             p50 %6.0f us  p99 %6.0f us  (in the sync rounds)\n",
	       fg->fsync4k_p50_us, fg->fsync4k_p99_us);
	printf("store, async flush (batches of %u, timed to the end of the final flush)\n",
	       ASYNC_BATCH);
	for (int i = 0; i < 2; i++)
		printf("  %s records  %10.0f rec/s  %6.2f GB/s log  %6.2f GB/s payload  "
		       "%6.0f KiB/fdatasync\n", async_name[i], fg->async[i].rps, fg->async[i].gbps,
		       fg->async[i].payload_gbps, fg->async[i].kib_per_fdatasync);
	printf("store, sync flush, 1 KiB records (median of %u interleaved rounds)\n", SYNC_ROUNDS);
	for (int i = 0; i < 3; i++)
		printf("  %2u appender%s %10.0f rec/s  p50 %6.0f us  p99 %6.0f us  %5.1f rec/fdatasync"
		       "  round %5.0f us = sync %5.0f + %4.0f\n",
		       sync_n[i], sync_n[i] == 1 ? " " : "s", fg->sync[i].rps, fg->sync[i].p50_us,
		       fg->sync[i].p99_us, fg->sync[i].per_fdatasync, fg->sync[i].round_us,
		       fg->sync[i].sync_us, fg->sync[i].round_us - fg->sync[i].sync_us);
	printf("store, crash recovery scan (abort file left by SIGKILL, no checkpoint)\n");
	printf("  page cache warm  %6.3f s/GiB  (%.2f GiB, %" PRIu64 " records)\n", fg->rec_warm_s,
	       fg->rec_warm_gib, fg->rec_warm_records);
	printf("  page cache cold  %6.3f s/GiB  (%.2f GiB, %" PRIu64 " records)\n", fg->rec_cold_s,
	       fg->rec_cold_gib, fg->rec_cold_records);
	printf("\nratios vs targets\n");
	printf("  async 1 KiB / raw write (new file)      %6.2f  >= 0.80  %s\n", r_async,
	       verdict(r_async >= 0.8));
	printf("  async 1 KiB / raw write (overwrite)     %6.2f  (upper bound, for information)\n",
	       r_async_over);
	printf("  sync 16 appenders / 1 appender, rec/s   %6.2f  >= 16    %s\n", r_group,
	       verdict(r_group >= 16.0));
	printf("  recovery s/GiB, worse of warm and cold  %6.3f  < 2      %s\n", r_rec,
	       verdict(r_rec < 2.0));
	printf("{\"bench\":\"store\",\"quick\":%s,\"host\":\"%s\",\"fs\":\"%s\","
	       "\"load1_start\":%.2f,\"load1_end\":%.2f,"
	       "\"raw_write_new_gbps\":%.3f,\"raw_write_overwrite_gbps\":%.3f,"
	       "\"raw_read_cold_gbps\":%.3f,"
	       "\"fdatasync_4k_p50_us\":%.1f,\"fdatasync_4k_p99_us\":%.1f,"
	       "\"async_100b_rps\":%.0f,\"async_100b_gbps\":%.3f,\"async_100b_payload_gbps\":%.3f,"
	       "\"async_100b_kib_per_fdatasync\":%.1f,"
	       "\"async_1k_rps\":%.0f,\"async_1k_gbps\":%.3f,\"async_1k_payload_gbps\":%.3f,"
	       "\"async_1k_kib_per_fdatasync\":%.1f,",
	       c->quick ? "true" : "false", host, fsdesc, load_start, load1(), fg->raw_new_gbps, fg->raw_over_gbps,
	       fg->raw_read_gbps, fg->fsync4k_p50_us, fg->fsync4k_p99_us, fg->async[0].rps,
	       fg->async[0].gbps, fg->async[0].payload_gbps, fg->async[0].kib_per_fdatasync,
	       fg->async[1].rps, fg->async[1].gbps, fg->async[1].payload_gbps,
	       fg->async[1].kib_per_fdatasync);
	for (int i = 0; i < 3; i++)
		printf("\"sync_%u_rps\":%.0f,\"sync_%u_p50_us\":%.1f,\"sync_%u_p99_us\":%.1f,"
		       "\"sync_%u_per_fdatasync\":%.2f,\"sync_%u_round_us\":%.1f,\"sync_%u_sync_us\":%.1f,",
		       sync_n[i], fg->sync[i].rps, sync_n[i], fg->sync[i].p50_us, sync_n[i],
		       fg->sync[i].p99_us, sync_n[i], fg->sync[i].per_fdatasync, sync_n[i],
		       fg->sync[i].round_us, sync_n[i], fg->sync[i].sync_us);
	printf("\"recovery_warm_s_per_gib\":%.3f,\"recovery_warm_gib\":%.3f,"
	       "\"recovery_warm_records\":%" PRIu64 ",\"recovery_cold_s_per_gib\":%.3f,"
	       "\"recovery_cold_gib\":%.3f,\"recovery_cold_records\":%" PRIu64 ","
	       "\"ratio_async_1k_vs_raw_new\":%.3f,\"ratio_async_1k_vs_raw_overwrite\":%.3f,"
	       "\"ratio_sync16_vs_sync1\":%.2f,\"target_async_1k_vs_raw\":0.8,"
	       "\"target_sync16_vs_sync1\":16,\"target_recovery_s_per_gib\":2}\n",
	       fg->rec_warm_s, fg->rec_warm_gib, fg->rec_warm_records, fg->rec_cold_s,
	       fg->rec_cold_gib, fg->rec_cold_records, r_async, r_async_over, r_group);
}

int shmq_bench_store(int argc, char **argv)
{
	struct cfg c = {
		.parent = "/var/tmp",
		.raw_bytes = 1024ull * MIB,
		.lat_iters = 1500,
		.async_bytes = 1024ull * MIB,
		.seg_size = 1024ull * MIB,
		.sync_secs = 6.0,
		.recovery_bytes = 1024ull * MIB,
	};
	struct figures fg;
	char fsdesc[PATH_MAX + 128], host[256] = "";
	const char *step = "";
	double load_start = load1();
	int rc = 0;

	memset(&fg, 0, sizeof(fg));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			c.quick = true;
		} else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			c.parent = argv[++i];
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (c.quick) {
		c.raw_bytes = 256ull * MIB;
		c.lat_iters = 600;
		c.async_bytes = 256ull * MIB;
		c.seg_size = 256ull * MIB;
		c.sync_secs = 1.5;
		c.recovery_bytes = 256ull * MIB;
	}
	fill_payload();
	snprintf(work_dir, sizeof(work_dir), "%s/shmq-bench-store-XXXXXX", c.parent);
	if (!mkdtemp(work_dir)) {
		fprintf(stderr, "shmq-bench store: mkdtemp in %s: %s\n", c.parent, strerror(errno));
		return 1;
	}
	describe_fs(work_dir, fsdesc, sizeof(fsdesc));
	gethostname(host, sizeof(host) - 1);
	printf("shmq-bench store: %s, dir %s, %s%s\n", host, work_dir, fsdesc,
	       c.quick ? ", --quick" : "");
	fflush(stdout);

	rc = bandwidth_rounds(&c, &fg, &step);
	if (rc == 0) {
		step = "sync";
		rc = sync_runs(&c, &fg);
	}
	if (rc == 0) {
		step = "recovery (page cache warm)";
		rc = recovery_run(&c, false, &fg.rec_warm_s, &fg.rec_warm_gib, &fg.rec_warm_records);
	}
	if (rc == 0) {
		step = "recovery (page cache evicted)";
		rc = recovery_run(&c, true, &fg.rec_cold_s, &fg.rec_cold_gib, &fg.rec_cold_records);
	}
	rm_tree(work_dir);
	if (rc) {
		fprintf(stderr, "shmq-bench store: %s: %s\n", step, shmq_strerror(rc));
		return 1;
	}

	report(&c, &fg, host, fsdesc, load_start);
	return 0;
}
