/* SPDX-License-Identifier: Apache-2.0 */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
} benches[] = {
	{ "ring", shmq_bench_ring, "shared-memory ring: latency and throughput vs cache-line and rte_ring" },
	{ "store", shmq_bench_store, "commitlog append/flush/recovery vs raw disk bandwidth" },
	{ "e2e", shmq_bench_e2e, "producer/consumer processes through shmqd vs ring-only and ZeroMQ ipc" },
	{ "remote", shmq_bench_remote, "libshmq over UDP to shmqd's remote port: one-way latency, throughput" },
	{ "remote-raw", shmq_bench_remote_raw, "bare DPDK echo over memif and af_packet: 64 B RTT and packet rate" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: shmq-bench <benchmark> [options]\n\nbenchmarks:\n");
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		fprintf(f, "  %-8s %s\n", benches[i].name, benches[i].what);
	fprintf(f, "\n`shmq-bench <benchmark> --help` lists its options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++)
		if (!strcmp(argv[1], benches[i].name))
			return benches[i].run(argc - 1, argv + 1);
	fprintf(stderr, "shmq-bench: unknown benchmark '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
