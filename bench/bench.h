/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SHMQ_BENCH_H
#define SHMQ_BENCH_H

/* One entry per `shmq-bench <name>` subcommand; each lives in bench_<name>.c.
 * Every subcommand prints a human table, then one final line of JSON holding
 * every figure it measured. */
int shmq_bench_ring(int argc, char **argv);
int shmq_bench_store(int argc, char **argv);
int shmq_bench_e2e(int argc, char **argv);
/** `shmq-bench remote-raw` (bench_remote_raw.c): bare DPDK echo over memif and
 * af_packet; the measurement itself is in bench_remote_raw.h. */
int shmq_bench_remote_raw(int argc, char **argv);
/** `shmq-bench remote` (bench_remote.c): libshmq over kernel UDP against
 * shmqd's remote port, with the raw DPDK reference in the same run. */
int shmq_bench_remote(int argc, char **argv);
/** `shmq-bench e2e --probe PATH` (bench_e2e_probe.c): the e2e configurations
 * with shmq-probe detached, then attached; @p argv as given to e2e. */
int shmq_bench_e2e_probe(const char *probe, const char *shmqd, int argc, char **argv);

/** The ring-only one-way latency run of `shmq-bench ring` (64 B every
 * @p interval_ns, 0 = its own 2 us; producer thread on @p cpu_a, reader on
 * @p cpu_b; pins the calling thread to @p cpu_a), for `shmq-bench e2e` to
 * report against at the same rate. 0 or -errno. */
int shmq_bench_ring_latency(int cpu_a, int cpu_b, int quick, double interval_ns, double *p50, double *p99,
			    double *p999);

#endif
