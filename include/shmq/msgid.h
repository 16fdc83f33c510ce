/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file shmq/msgid.h
 * @brief Message ids: a printable name for a stored message.
 *
 * A message id is 32 hex digits (written uppercase, read in either case): the broker id (8), the commitlog
 * offset of the message's record (16) and a check (8: CRC32C of the 12 bytes
 * broker id LE + offset LE), so a mistyped id is refused instead of reading
 * the wrong message. The broker looks a message up by id without any index.
 */
#ifndef SHMQ_MSGID_H
#define SHMQ_MSGID_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHMQ_MSGID_STRLEN 32

/** @return 0 (out is NUL-terminated) or -EINVAL if @p out is NULL. */
int shmq_msgid_encode(uint32_t broker_id, uint64_t commitlog_offset,
		      char out[SHMQ_MSGID_STRLEN + 1]);

/** @return 0, or -EINVAL if @p s is not a well-formed id (length, digits, check). */
int shmq_msgid_decode(const char *s, uint32_t *broker_id, uint64_t *commitlog_offset);

#ifdef __cplusplus
}
#endif
#endif
