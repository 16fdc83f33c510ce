/* SPDX-License-Identifier: Apache-2.0 */
/* Offset table files: see common/offsets.h and common/offsets_layout.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/offsets.h"
#include "shmq/error.h"

int shmq_offsets_attach_fd(int fd, struct shmq_offsets_map *out)
{
	if (fd < 0 || !out)
		return -EINVAL;
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct shmq_offsets_hdr) ||
	    (uint64_t)st.st_size > SHMQ_OFFSETS_FILE_SIZE(SHMQ_OFFSETS_QUEUES_MAX))
		return SHMQ_ECORRUPT;
	size_t len = (size_t)st.st_size;
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	/* The header is read once, here, into locals: the bounds kept in *out
	 * never depend on a later read of memory the other side can write. */
	struct shmq_offsets_hdr h;
	memcpy(&h, map, sizeof(h));
	int rc = 0;
	if (h.magic != SHMQ_OFFSETS_MAGIC || h.version != SHMQ_OFFSETS_VERSION ||
	    h.hdr_len != sizeof(struct shmq_offsets_hdr) || h.fingerprint != SHMQ_OFFSETS_FINGERPRINT)
		rc = SHMQ_ELAYOUT;
	else if (h.queues < 1 || h.queues > SHMQ_OFFSETS_QUEUES_MAX ||
		 (uint64_t)len != SHMQ_OFFSETS_FILE_SIZE(h.queues))
		rc = SHMQ_ECORRUPT;
	int dfd = -1;
	if (rc == 0 && (dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		rc = -errno;
	if (rc != 0) {
		munmap(map, len);
		return rc;
	}
	out->hdr = map;
	out->slots = (struct shmq_offsets_slot *)(void *)((char *)map + sizeof(struct shmq_offsets_hdr));
	out->queues = h.queues;
	out->len = len;
	out->fd = dfd;
	return 0;
}

/* O_EXCL-create and initialise a fresh table. 0 or -errno (nothing left
 * behind on failure except when the unlink itself fails). */
static int create_new(const char *path, uint32_t queues, struct shmq_offsets_map *out)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	size_t len = (size_t)SHMQ_OFFSETS_FILE_SIZE(queues);
	int rc;
	if (ftruncate(fd, (off_t)len) != 0) {
		rc = -errno;
		goto fail;
	}
	void *map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	/* Nobody else has the file yet (O_EXCL, fd not handed out): plain and
	 * relaxed stores suffice; a fresh tmpfs file is all zero, so owners,
	 * generations, reserved bytes and padding already hold 0. */
	struct shmq_offsets_hdr *h = map;
	struct shmq_offsets_slot *slots =
		(struct shmq_offsets_slot *)(void *)((char *)map + sizeof(*h));
	for (uint32_t q = 0; q < queues; q++)
		/* relaxed: the file is private until the caller hands out an fd,
		 * which (a sendmsg) orders these stores before any member's load */
		shmq_store_relaxed(&slots[q].committed, SHMQ_OFFSETS_NONE);
	h->version = SHMQ_OFFSETS_VERSION;
	h->hdr_len = sizeof(*h);
	h->queues = queues;
	h->fingerprint = SHMQ_OFFSETS_FINGERPRINT;
	/* Magic last: a broker killed before this point leaves a file whose
	 * magic is 0, which the next run refuses (SHMQ_ELAYOUT) and replaces.
	 * release fence: keeps the compiler from sinking the stores above
	 * below the magic store. */
	shmq_fence_release();
	h->magic = SHMQ_OFFSETS_MAGIC;
	out->hdr = h;
	out->slots = slots;
	out->queues = queues;
	out->len = len;
	out->fd = fd;
	return 0;
fail:
	unlink(path);
	close(fd);
	return rc;
}

int shmq_offsets_create(const char *path, uint32_t queues, struct shmq_offsets_map *out)
{
	if (!path || !out || queues < 1 || queues > SHMQ_OFFSETS_QUEUES_MAX)
		return -EINVAL;
	int rc = create_new(path, queues, out);
	if (rc != -EEXIST)
		return rc;
	int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd >= 0) {
		struct shmq_offsets_map m;
		rc = shmq_offsets_attach_fd(fd, &m);
		close(fd);
		if (rc == 0 && m.queues == queues) {
			*out = m;
			return 1;
		}
		if (rc == 0)
			shmq_offsets_unmap(&m);
	}
	/* Invalid, unreadable, a symlink, or another queue count: replace it
	 * with a new inode (never truncate in place: a member may still map the
	 * old one and would fault on the lost pages). */
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	rc = create_new(path, queues, out);
	return rc == 0 ? 2 : rc;
}

void shmq_offsets_unmap(struct shmq_offsets_map *m)
{
	if (!m || !m->hdr)
		return;
	munmap(m->hdr, m->len);
	if (m->fd >= 0)
		close(m->fd);
	m->hdr = NULL;
	m->slots = NULL;
	m->fd = -1;
	m->len = 0;
	m->queues = 0;
}
