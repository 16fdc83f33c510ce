/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SHMQ_COMMON_FSUTIL_H
#define SHMQ_COMMON_FSUTIL_H

#include <stddef.h>

/* Create @p path and any missing parents (mode 0755). 0 or -errno;
 * -ENAMETOOLONG past PATH_MAX. An existing directory is success. */
int shmq_mkdir_p(const char *path);

/* fsync a directory, making entries created, renamed or removed in it
 * durable (conventions 9: data, then the names that point at it). 0 or -errno. */
int shmq_fsync_dir(const char *dir);

/* Replace @p path with @p len bytes of @p data so that a crash leaves either
 * the old or the new content: write @p tmp, fsync, rename over @p path, fsync
 * @p dir (the directory of both). @p tmp is removed on failure. 0 or -errno
 * (-EIO for a short write). */
int shmq_file_replace(const char *path, const char *tmp, const char *dir, const void *data,
		      size_t len);

/* Read the whole regular file @p path, at most @p max bytes, into a malloc'ed
 * buffer with a NUL after the content (*out, *len excludes the NUL).
 * 0; -ENOENT (no message: often a fresh store); SHMQ_ECORRUPT (not a regular
 * file, or larger than @p max); -ENOMEM; -errno of open/fstat/read. Failures
 * other than -ENOENT are described in @p err. */
int shmq_file_read_small(const char *path, size_t max, char **out, size_t *len, char *err,
			 size_t errlen);

#endif
