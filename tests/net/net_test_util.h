/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the dpdk_net/ tests: seeded PRNG and sample bodies. */
#ifndef SHMQ_TESTS_NET_UTIL_H
#define SHMQ_TESTS_NET_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ctl_codec.h"
#include "dpdk_net/frame_codec.h"

static uint64_t net_rng_state;

static inline void net_rng_seed(const char *who)
{
	const char *env = getenv("SHMQ_TEST_SEED");
	net_rng_state = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) * 2654435761u + 1;
	if (!net_rng_state)
		net_rng_state = 1;
	fprintf(stderr, "%s: seed %llu (SHMQ_TEST_SEED to replay)\n", who, (unsigned long long)net_rng_state);
}

static inline uint64_t net_rng(void)
{
	net_rng_state ^= net_rng_state >> 12;
	net_rng_state ^= net_rng_state << 25;
	net_rng_state ^= net_rng_state >> 27;
	return net_rng_state * 2685821657736338717ull;
}

static inline unsigned net_scale(void)
{
	const char *s = getenv("SHMQ_STRESS_SCALE");
	long v = s ? strtol(s, NULL, 10) : 1;
	return v > 0 ? (unsigned)v : 1;
}

/* Deterministic body of message (producer, seq): len bytes. */
static inline void net_fill_body(uint8_t *b, uint32_t len, uint64_t producer, uint64_t seq)
{
	uint64_t x = producer * 0x9e3779b97f4a7c15ull ^ (seq + 1);
	for (uint32_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b[i] = (uint8_t)x;
	}
}

/* Build a PRODUCE body of `count` messages of `len` bytes into buf. */
static inline int64_t net_build_produce(uint8_t *buf, size_t cap, const char *topic, uint32_t queue,
					uint64_t producer, uint64_t first_seq, uint32_t count, uint32_t len)
{
	struct shmq_net_produce_hdr h;
	struct shmq_net_builder b;
	uint8_t *body = malloc(len ? len : 1);
	memset(&h, 0, sizeof(h));
	if (shmq_ctl_name_set(h.topic, topic, false) < 0) {
		free(body);
		return -1;
	}
	h.queue = queue;
	h.count = count;
	h.producer_id = producer;
	h.first_seq = first_seq;
	shmq_net_builder_init(&b, buf, cap);
	shmq_net_builder_put(&b, &h, sizeof(h));
	for (uint32_t i = 0; i < count; i++) {
		net_fill_body(body, len, producer, first_seq + i);
		struct shmq_ringmsg_in m = { .producer_id = producer, .producer_seq = first_seq + i,
					     .body = body, .body_len = len, .keys = "k1", .tags = "t" };
		shmq_net_builder_msg(&b, 0, &m);
	}
	free(body);
	return shmq_net_builder_finish(&b);
}

#endif
