/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/store/checkpoint.h"
#include "broker/store/checkpoint_layout.h"
#include "common/crc32c.h"
#include "common/fsutil.h"

struct shmq_ckpt {
	int fd;
	uint64_t seq;
};

static bool slot_valid(const struct shmq_ckpt_slot *s)
{
	return s->magic == SHMQ_CKPT_MAGIC && s->version == SHMQ_CKPT_VERSION &&
	       s->slot_size == sizeof(*s) &&
	       s->crc == shmq_crc32c(0, s, offsetof(struct shmq_ckpt_slot, crc));
}

int shmq_ckpt_pick(const uint8_t *file, uint64_t len, struct shmq_ckpt_state *st)
{
	int found = 0;
	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < 2; i++) {
		struct shmq_ckpt_slot s;
		if (len < (uint64_t)i * SHMQ_CKPT_SLOT_STRIDE + sizeof(s))
			break;
		memcpy(&s, file + i * SHMQ_CKPT_SLOT_STRIDE, sizeof(s));
		/* a slot only counts where its parity says it belongs */
		if (!slot_valid(&s) || (s.seq & 1) != i)
			continue;
		if (!found || s.seq > st->seq) {
			st->seq = s.seq;
			st->cl_flushed = s.cl_flushed;
			st->cq_flushed = s.cq_flushed;
			st->index_flushed = s.index_flushed;
			st->store_ts_ms = s.store_ts_ms;
			found = 1;
		}
	}
	return found;
}

int shmq_ckpt_open(const char *dir, shmq_ckpt_t **out, struct shmq_ckpt_state *st)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/checkpoint", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	uint8_t buf[SHMQ_CKPT_FILE_SIZE];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	if (n < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	int found = shmq_ckpt_pick(buf, (uint64_t)n, st);
	if (n < (ssize_t)sizeof(buf)) {
		if (ftruncate(fd, SHMQ_CKPT_FILE_SIZE) != 0 || fsync(fd) != 0 || shmq_fsync_dir(dir) != 0) {
			int rc = -errno;
			close(fd);
			return rc;
		}
	}
	shmq_ckpt_t *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->seq = st->seq;
	*out = c;
	return found;
}

void shmq_ckpt_close(shmq_ckpt_t *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

int shmq_ckpt_write(shmq_ckpt_t *c, struct shmq_ckpt_state *st)
{
	struct shmq_ckpt_slot s;
	memset(&s, 0, sizeof(s));
	s.magic = SHMQ_CKPT_MAGIC;
	s.version = SHMQ_CKPT_VERSION;
	s.slot_size = sizeof(s);
	s.seq = c->seq + 1;
	s.cl_flushed = st->cl_flushed;
	s.cq_flushed = st->cq_flushed;
	s.index_flushed = st->index_flushed;
	s.store_ts_ms = st->store_ts_ms;
	s.crc = shmq_crc32c(0, &s, offsetof(struct shmq_ckpt_slot, crc));
	off_t at = (off_t)((s.seq & 1) * SHMQ_CKPT_SLOT_STRIDE);
	ssize_t n = pwrite(c->fd, &s, sizeof(s), at);
	if (n != (ssize_t)sizeof(s))
		return n < 0 ? -errno : -EIO;
	if (fdatasync(c->fd) != 0)
		return -errno;
	c->seq = s.seq;
	st->seq = s.seq;
	return 0;
}

int shmq_abort_create(const char *dir, bool *existed)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/abort", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	*existed = access(path, F_OK) == 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc ? rc : shmq_fsync_dir(dir);
}

int shmq_abort_remove(const char *dir)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/abort", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return shmq_fsync_dir(dir);
}
