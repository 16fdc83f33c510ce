/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SHMQ_COMMON_ARRAY_H
#define SHMQ_COMMON_ARRAY_H

#include <errno.h>
#include <stdlib.h>

/* Grow a realloc'd array so it holds at least @p n elements of @p elem bytes,
 * doubling (from 8) to keep appends amortised O(1). 0 or -ENOMEM; on failure
 * the array and its capacity are unchanged. */
static inline int shmq_array_reserve(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n <= *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 8;
	while (c < n)
		c *= 2;
	void *p = realloc(*arr, c * elem);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = c;
	return 0;
}

#endif
