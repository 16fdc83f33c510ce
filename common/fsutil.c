/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/fsutil.h"
#include "shmq/error.h"

int shmq_mkdir_p(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char c = buf[i];
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -errno;
		buf[i] = c;
	}
	return 0;
}

int shmq_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

int shmq_file_replace(const char *path, const char *tmp, const char *dir, const void *data,
		      size_t len)
{
	const char *p = data;
	size_t off = 0;
	int r = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = w < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)w;
	}
	if (r == 0 && fsync(fd) != 0)
		r = -errno;
	if (close(fd) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) != 0)
		r = -errno;
	if (r != 0) {
		unlink(tmp);
		return r;
	}
	return shmq_fsync_dir(dir);
}

int shmq_file_read_small(const char *path, size_t max, char **out, size_t *len, char *err,
			 size_t errlen)
{
	struct stat st;
	size_t want, off = 0;
	char *buf;
	int e, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		e = -errno;
		if (e != -ENOENT)
			shmq_errbuf_set(err, errlen, "%s: %s", path, strerror(-e));
		return e;
	}
	if (fstat(fd, &st) != 0) {
		e = -errno;
		close(fd);
		shmq_errbuf_set(err, errlen, "%s: %s", path, strerror(-e));
		return e;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		shmq_errbuf_set(err, errlen, "%s: not a regular file or larger than %zu bytes", path, max);
		return SHMQ_ECORRUPT;
	}
	want = (size_t)st.st_size;
	buf = malloc(want + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (off < want) {
		ssize_t n = read(fd, buf + off, want - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = -errno;
			shmq_errbuf_set(err, errlen, "%s: %s", path, strerror(-e));
			free(buf);
			close(fd);
			return e;
		}
		if (n == 0)
			break; /* truncated meanwhile: parse what is there */
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	*out = buf;
	*len = off;
	return 0;
}
