/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SHMQ_COMMON_FSUTIL_H
#define SHMQ_COMMON_FSUTIL_H

/* Create @p path and any missing parents (mode 0755). 0 or -errno;
 * -ENAMETOOLONG past PATH_MAX. An existing directory is success. */
int shmq_mkdir_p(const char *path);

/* fsync a directory, making entries created, renamed or removed in it
 * durable (conventions 9: data, then the names that point at it). 0 or -errno. */
int shmq_fsync_dir(const char *dir);

#endif
