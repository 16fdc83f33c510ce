/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz the ring's readers (G8): the input becomes the mutable part of a
 * ring's shared memory (cursors and data area) and the gating reader, a
 * non-gating reader and a producer run over it. They must never crash, never
 * hand out a message outside the data area, and only return documented codes.
 *
 * Input format (short inputs are zero-extended):
 *   [0, 32)   tail, head, reclaim, consumed (u64 LE)
 *   [32]      flags: bit 0 = use the cursors as given; otherwise reduced
 *             modulo 3 * capacity (and rounded to 8 when bit 1 is set, and
 *             reclaim = head unless bit 2 is set) so that most inputs get
 *             past the first checks
 *   [33, 40)  reserved
 *   [40, ...) the data area (capacity bytes at most)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic.h"
#include "shm/ring_layout.h"
#include "shmq/ring.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 4096u
#define IN_DATA 40u

static shmq_ring_t *g_ring; /* owner handle, keeps the file's fd */
static uint8_t *g_raw;      /* the file mapped once more: "another process" */

static void die(const char *what)
{
	fprintf(stderr, "fuzz_ring_reader: %s\n", what);
	abort();
}

static void setup_once(void)
{
	if (g_ring)
		return;
	char dir[] = "/tmp/shmq-fuzz-ring.XXXXXX";
	if (!mkdtemp(dir))
		die("mkdtemp");
	char path[64];
	snprintf(path, sizeof(path), "%s/ring", dir);
	/* 1 ns unblock timeout: the G6 paths run on every stuck record. */
	SHMQ_RING_OPTS(o, .capacity = CAP, .unblock_timeout_ns = 1, .prefault = true);
	if (shmq_ring_create(path, &o, &g_ring) != 0)
		die("create");
	/* The fd keeps the file alive; no file is left behind. */
	unlink(path);
	rmdir(dir);
	g_raw = mmap(NULL, SHMQ_RING_DATA_OFFSET + CAP, PROT_READ | PROT_WRITE, MAP_SHARED,
		     shmq_ring_fd(g_ring), 0);
	if (g_raw == MAP_FAILED)
		die("mmap");
}

/* Everything after the identity line back to a fresh ring. */
static void reset_ring(void)
{
	memset(g_raw + SHMQ_CACHE_LINE, 0, sizeof(struct shmq_ring_header) - SHMQ_CACHE_LINE);
	memset(g_raw + SHMQ_RING_DATA_OFFSET, 0, CAP);
}

static uint64_t get64(const uint8_t *in, size_t size, size_t off)
{
	uint64_t v = 0;
	for (size_t i = 0; i < 8; i++)
		if (off + i < size)
			v |= (uint64_t)in[off + i] << (8 * i);
	return v;
}

static void check_msgs(const struct shmq_ring_msg *m, int n, const uint8_t *base)
{
	uint32_t sum = 0;
	for (int i = 0; i < n; i++) {
		const uint8_t *d = m[i].data;
		if (d < base || d > base + CAP || m[i].len > (size_t)(base + CAP - d))
			die("message outside the data area");
		for (uint32_t k = 0; k < m[i].len; k++)
			sum += d[k];
	}
	/* keep the loop from being optimised away */
	__asm__ __volatile__("" : : "r"(sum));
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	setup_once();
	shmq_ring_t *r;
	reset_ring();
	if (shmq_ring_attach_fd(shmq_ring_fd(g_ring), &r) != 0)
		die("attach");
	/* Learn where this handle maps the data area from a clean reservation. */
	struct shmq_ring_claim c;
	if (shmq_ring_reserve(r, 0, SHMQ_RING_TYPE_USER, 0, &c) != 0)
		die("reserve on a clean ring");
	const uint8_t *base = (const uint8_t *)c.data - sizeof(struct shmq_ring_rec);
	reset_ring();

	struct shmq_ring_header *h = (struct shmq_ring_header *)(void *)g_raw;
	uint64_t cur[4];
	uint8_t flags = size > 32 ? in[32] : 0;
	for (int i = 0; i < 4; i++) {
		cur[i] = get64(in, size, 8 * (size_t)i);
		if (!(flags & 1)) {
			cur[i] %= 3ull * CAP;
			if (flags & 2)
				cur[i] &= ~7ull;
		}
	}
	if (!(flags & 1) && !(flags & 4))
		cur[2] = cur[1];
	shmq_store_relaxed(&h->tail, cur[0]);
	shmq_store_relaxed(&h->head, cur[1]);
	shmq_store_relaxed(&h->reclaim, cur[2]);
	shmq_store_relaxed(&h->consumed, cur[3]);
	if (size > IN_DATA) {
		size_t n = size - IN_DATA < CAP ? size - IN_DATA : CAP;
		memcpy(g_raw + SHMQ_RING_DATA_OFFSET, in + IN_DATA, n);
	}

	static struct shmq_ring_msg m[SHMQ_RING_BATCH_MAX];
	/* Non-gating reader from the oldest position and from 0. */
	uint64_t starts[2] = { shmq_ring_oldest(r), 0 };
	for (int s = 0; s < 2; s++) {
		uint64_t pos = starts[s];
		for (int it = 0; it < 8; it++) {
			int rc = shmq_ring_read(r, &pos, m, SHMQ_RING_BATCH_MAX);
			if (rc < 0) {
				if (rc != SHMQ_EOVERRUN && rc != SHMQ_ECORRUPT && rc != -EINVAL)
					die("unexpected read status");
				break;
			}
			check_msgs(m, rc, base);
			if (rc == 0)
				break;
		}
	}
	/* Gating reader: read, consume, unblock stuck records. */
	for (int it = 0; it < 16; it++) {
		uint64_t next;
		int rc = shmq_ring_gate_read(r, m, SHMQ_RING_BATCH_MAX, &next);
		if (rc < 0) {
			if (rc != SHMQ_ECORRUPT && rc != SHMQ_EFENCED)
				die("unexpected gate_read status");
			break;
		}
		check_msgs(m, rc, base);
		shmq_ring_gate_consume(r, next);
		/* A producer on whatever state is left: stays inside the ring. */
		uint8_t buf[64] = { 0 };
		shmq_ring_write(r, 1, SHMQ_RING_TYPE_USER, buf, (uint32_t)(it * 4));
	}
	struct shmq_ring_anchor a;
	shmq_ring_read_anchor(r, &a);
	struct shmq_ring_stats st;
	shmq_ring_stats(r, &st);
	shmq_ring_close(r);
	return 0;
}
