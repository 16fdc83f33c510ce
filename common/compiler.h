/* SPDX-License-Identifier: Apache-2.0 */
/* Compiler helpers shared by all shmq components. Internal, never installed. */
#ifndef SHMQ_COMMON_COMPILER_H
#define SHMQ_COMMON_COMPILER_H

#include <assert.h>
#include <stddef.h>

#define SHMQ_CACHE_LINE 64

#define shmq_likely(x)   __builtin_expect(!!(x), 1)
#define shmq_unlikely(x) __builtin_expect(!!(x), 0)

#define SHMQ_ALIGN_UP(x, a)  (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define SHMQ_ARRAY_SIZE(a)   (sizeof(a) / sizeof((a)[0]))

#define SHMQ_UNUSED __attribute__((unused))
#define SHMQ_EXPORT __attribute__((visibility("default")))

/* Compile-time layout checks (conventions 7): size and offset of a field. */
#define SHMQ_ASSERT_SIZE(type, sz) \
	static_assert(sizeof(type) == (sz), #type " must be " #sz " bytes")
#define SHMQ_ASSERT_OFFSET(type, field, off) \
	static_assert(offsetof(type, field) == (off), #type "." #field " must be at offset " #off)

/* Stress builds inject yields at racy points (meson -Dyield_injection=true). */
#ifdef SHMQ_YIELD_INJECTION
void shmq_yield_point(void);
#define SHMQ_YIELD_POINT() shmq_yield_point()
#else
#define SHMQ_YIELD_POINT() do { } while (0)
#endif

#endif
