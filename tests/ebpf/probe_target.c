/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny process with the shmq USDT probe sites (ebpf/probes.h), standing in
 * for shmqd and a client: for every "round" line on stdin it fires the
 * workload of probe_workload.h and answers "done"; "quit" or EOF ends it.
 * The fdatasync calls go to a file in the directory given as argv[1].
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ebpf/probes.h"
#include "probe_workload.h"

static uint32_t topic, g_normal, g_gap;

/* One call site for every deliver batch: its sampling tick counts them all. */
/* One call site for both groups (sampling is per site), a count per group. */
static void deliver(uint32_t group, uint64_t first, uint32_t count)
{
	static uint64_t delivered[2];
	SHMQ_PROBE_DELIVER_BATCH(group, topic, 0, first, count, shmq_probe_now_ns() - 20000,
		delivered[group == g_gap]);
}

static int round_once(int fd)
{
	for (uint64_t i = 0; i < WL_PRODUCE_CALLS; i++)
		SHMQ_PROBE_PRODUCE_BATCH(topic, 0, i * 1024, WL_PRODUCE_COUNT, 800,
			shmq_probe_now_ns());

	uint64_t off = 0;
	for (int b = 1; b <= WL_PERSIST_BATCHES; b++) {
		SHMQ_PROBE_PERSIST_BATCH(topic, 0, off, off + WL_PERSIST_COUNT - 1, WL_PERSIST_BYTES,
			shmq_probe_now_ns() - WL_PERSIST_AGE_NS);
		off += WL_PERSIST_COUNT;
		if (b % WL_FLUSH_EVERY == 0) {
			uint64_t t0 = shmq_probe_now_ns();
			if (pwrite(fd, "x", 1, 0) != 1 || fdatasync(fd) != 0)
				return -1;
			SHMQ_PROBE_FLUSH((uint64_t)WL_FLUSH_EVERY * WL_PERSIST_BYTES,
				shmq_probe_now_ns() - t0);
		}
	}

	for (uint64_t b = 0; b < WL_DELIVER_BATCHES; b++)
		deliver(g_normal, 100 + b * WL_DELIVER_COUNT, WL_DELIVER_COUNT);
	uint64_t next = 100;
	for (int b = 0; b < WL_DELIVER_BATCHES; b++) {
		if (b == WL_GAP_AT)
			next += WL_GAP; /* the injected order violation */
		deliver(g_gap, next, WL_DELIVER_COUNT);
		next += WL_DELIVER_COUNT;
	}
	SHMQ_PROBE_QUEUE_OWNER(g_gap, topic, 0, 42, 2);
	deliver(g_gap, next + 1000, WL_DELIVER_COUNT);
	SHMQ_PROBE_OFFSET_RESET(g_gap, topic, 0, 5);
	deliver(g_gap, 5, WL_DELIVER_COUNT);

	for (int i = 0; i < WL_UNBLOCKS; i++)
		SHMQ_PROBE_RING_UNBLOCK(topic, 1, 4096 * (uint64_t)i);
	for (int i = 0; i < WL_BACKPRESSURES; i++)
		SHMQ_PROBE_BACKPRESSURE(topic, 1, 65536);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: probe_target DIR\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/fsync.dat", argv[1]);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror("probe_target: open");
		return 1;
	}
	topic = shmq_probe_name_hash(WL_TOPIC);
	g_normal = shmq_probe_name_hash(WL_GROUP_NORMAL);
	g_gap = shmq_probe_name_hash(WL_GROUP_GAP);

	char line[64];
	int rc = 0;
	while (fgets(line, sizeof(line), stdin) != NULL) {
		if (strcmp(line, "round\n") != 0)
			break;
		if (round_once(fd) != 0) {
			perror("probe_target: fdatasync");
			rc = 1;
			break;
		}
		printf("done\n");
		fflush(stdout);
	}
	close(fd);
	unlink(path);
	return rc;
}
