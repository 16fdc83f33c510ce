/* SPDX-License-Identifier: Apache-2.0 */
#include <sched.h>
#include <stdint.h>

#include "common/compiler.h"

#ifdef SHMQ_YIELD_INJECTION
/* Yield at roughly one racy point in 64: enough to shake out interleavings
 * without making stress runs crawl. A thread-local xorshift keeps it cheap. */
void shmq_yield_point(void)
{
	static _Thread_local uint32_t s = 2463534242u;
	s ^= s << 13;
	s ^= s >> 17;
	s ^= s << 5;
	if ((s & 63) == 0)
		sched_yield();
}
#endif
