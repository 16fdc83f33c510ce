/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SHMQ_COMMON_ERRBUF_H
#define SHMQ_COMMON_ERRBUF_H

#include <stddef.h>

/* Format a human-readable error into a caller's buffer (config, ACL and
 * topic parsers report "file:line: what" this way). NULL or 0-length buffers
 * are allowed: the message is then dropped. */
void shmq_errbuf_set(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
