/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one atomics header (conventions 4): C11 atomic_*_explicit on _Atomic
 * fields, with short names. Every call site says in a comment which access it
 * pairs with, or why relaxed is enough (conventions 5). No volatile+fence.
 */
#ifndef SHMQ_COMMON_ATOMIC_H
#define SHMQ_COMMON_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define shmq_load_relaxed(p)      atomic_load_explicit((p), memory_order_relaxed)
#define shmq_load_acquire(p)      atomic_load_explicit((p), memory_order_acquire)
#define shmq_store_relaxed(p, v)  atomic_store_explicit((p), (v), memory_order_relaxed)
#define shmq_store_release(p, v)  atomic_store_explicit((p), (v), memory_order_release)
#define shmq_fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define shmq_fetch_add_acq_rel(p, v) atomic_fetch_add_explicit((p), (v), memory_order_acq_rel)
#define shmq_fetch_sub_acq_rel(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_acq_rel)

/* Strong CAS, acq_rel on success, acquire on failure (the observed value is used). */
#define shmq_cas_acq_rel(p, expp, desired) \
	atomic_compare_exchange_strong_explicit((p), (expp), (desired), \
		memory_order_acq_rel, memory_order_acquire)

#define shmq_fence_seq_cst() atomic_thread_fence(memory_order_seq_cst)
#define shmq_fence_acquire() atomic_thread_fence(memory_order_acquire)
#define shmq_fence_release() atomic_thread_fence(memory_order_release)

/* Pause inside a bounded spin loop. */
static inline void shmq_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#endif
