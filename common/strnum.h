/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SHMQ_COMMON_STRNUM_H
#define SHMQ_COMMON_STRNUM_H

#include <stdint.h>

/* A whole string of decimal digits as a uint64_t: no sign, blanks, base
 * prefix or trailing text (strtoull alone accepts "-1", "+1", " 1").
 * 0; -EINVAL; -ERANGE (above UINT64_MAX). */
int shmq_parse_u64(const char *s, uint64_t *v);

#endif
