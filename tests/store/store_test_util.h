/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the store core's unit tests (tests/store/test_*.c). */
#ifndef SHMQ_TESTS_STORE_TEST_UTIL_H
#define SHMQ_TESTS_STORE_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/store/store.h"
#include "tests/common/tmpdir.h"

#define TEST_SEG (64u * 1024u) /* smallest segment: rolls happen constantly */


static inline char *make_tmpdir(void)
{
	char *t = strdup("/tmp/shmq_store_test_XXXXXX");
	if (!t || !mkdtemp(t)) {
		perror("mkdtemp");
		abort();
	}
	return t;
}

/* Default test options: small segments, no prefault, the given dir. */
#define TEST_OPTS(name, d, ...) \
	SHMQ_STORE_OPTS(name, .dir = (d), .segment_size = TEST_SEG, .max_msg_size = 16384, \
			.no_prefault = true, .cq_entries_per_file = 64, .index_slots = 64, \
			.index_max_entries = 256, __VA_ARGS__)

/* Deterministic body for message i of size len. */
static inline void fill_body(uint8_t *b, uint32_t len, uint64_t i)
{
	uint64_t x = i * 0x9e3779b97f4a7c15ull + 1;
	for (uint32_t k = 0; k < len; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[k] = (uint8_t)x;
	}
}

static inline void seg_path(char *out, size_t n, const char *dir, uint64_t base)
{
	if (snprintf(out, n, "%s/commitlog/%020" PRIu64, dir, base) >= (int)n)
		abort();
}

static inline int stress_scale(void)
{
	const char *s = getenv("SHMQ_STRESS_SCALE");
	int v = s ? atoi(s) : 1;
	return v > 0 ? v : 1;
}

#endif
