/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SHMQ_BENCH_H
#define SHMQ_BENCH_H

/* One entry per `shmq-bench <name>` subcommand; each lives in bench_<name>.c.
 * Every subcommand prints a human table, then one final line of JSON holding
 * every figure it measured. */
int shmq_bench_ring(int argc, char **argv);
int shmq_bench_store(int argc, char **argv);

#endif
