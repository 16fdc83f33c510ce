/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "common/crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#define CRC8(c, v)  _mm_crc32_u8((uint32_t)(c), (v))
#define CRC64(c, v) _mm_crc32_u64((c), (v))
#elif defined(__aarch64__) && defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#define CRC8(c, v)  __crc32cb((uint32_t)(c), (v))
#define CRC64(c, v) __crc32cd((uint32_t)(c), (v))
#else
#error "shmq needs a CPU CRC32C instruction (x86-64 SSE4.2 or ARMv8 CRC)"
#endif

/* One 8-byte CRC instruction per word: ~8 bytes/3 cycles, far above what a
 * commitlog record's body needs. */
uint32_t shmq_crc32c(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t c = (uint32_t)~crc;

	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = CRC64(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = CRC8(c, *p++);
	return ~(uint32_t)c;
}
