/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Self-describing, checksummed payloads for the ring's stress and crash tests.
 *
 *   0        8          12     16     20     24              len
 *   +--------+----------+------+------+------+----------------+
 *   | seq    | producer | len  | crc  | salt | pseudo-random  |
 *   +--------+----------+------+------+------+----------------+
 *
 * crc is CRC32C over bytes [0,16) and [20,len): a reader that validates it
 * knows the payload is exactly what its producer wrote (no torn, stale or
 * foreign bytes), and learns (producer, seq) to check G1/G3. The body is
 * derived from (producer, seq, salt) so two records never look alike.
 */
#ifndef SHMQ_TESTS_RING_PAYLOAD_H
#define SHMQ_TESTS_RING_PAYLOAD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/crc32c.h"

#define RP_HDR_LEN 24u

struct rp_hdr {
	uint64_t seq;
	uint32_t producer;
	uint32_t len;
	uint32_t crc;
	uint32_t salt;
};

static inline uint64_t rp_mix(uint64_t x)
{
	/* splitmix64 finaliser: cheap, and every input bit reaches every output bit */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static inline uint32_t rp_crc(const unsigned char *p, uint32_t len)
{
	uint32_t crc = shmq_crc32c(0, p, 16);
	return shmq_crc32c(crc, p + 20, len - 20);
}

/* Fill buf[0..len) (len >= RP_HDR_LEN) with the payload of (producer, seq). */
static inline void rp_fill(void *buf, uint32_t producer, uint64_t seq, uint32_t len, uint32_t salt)
{
	unsigned char *p = buf;
	struct rp_hdr h = { .seq = seq, .producer = producer, .len = len, .crc = 0, .salt = salt };
	uint64_t x = rp_mix(seq ^ ((uint64_t)producer << 48) ^ salt);
	uint32_t off = RP_HDR_LEN;

	memcpy(p, &h, sizeof(h));
	for (; off + 8 <= len; off += 8) {
		x += 0x9e3779b97f4a7c15ull;
		memcpy(p + off, &x, 8);
	}
	for (; off < len; off++)
		p[off] = (unsigned char)(x >> ((off & 7) * 8));
	h.crc = rp_crc(p, len);
	memcpy(p + 16, &h.crc, 4);
}

/*
 * Validate a payload read from the ring. @return 0 and the header, or -1 if
 * the length, the embedded length or the checksum is wrong.
 */
static inline int rp_check(const void *buf, uint32_t len, struct rp_hdr *h)
{
	if (len < RP_HDR_LEN)
		return -1;
	memcpy(h, buf, sizeof(*h));
	if (h->len != len)
		return -1;
	return rp_crc(buf, len) == h->crc ? 0 : -1;
}

/* xorshift64*: per-process random stream for sizes and choices. */
static inline uint64_t rp_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static inline uint64_t rp_env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long x;

	if (!v || !*v)
		return dflt;
	x = strtoull(v, &end, 0);
	return *end ? dflt : (uint64_t)x;
}

#endif
