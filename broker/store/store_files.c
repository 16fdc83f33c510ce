/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Read-only file descriptors of the store's files, for clients that read the
 * commitlog through the consumequeue themselves (OPEN_SEGMENT / OPEN_CQ of
 * the control protocol). See store.h.
 *
 * Each fd is a new open file description, O_RDONLY: a client that maps it
 * can never write the store, and the broker's own descriptors (read-write,
 * with their file offsets) never leave the process.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/store/cq_layout.h"
#include "broker/store/store_int.h"

int shmq_store_segment_fd(shmq_store_t *s, uint64_t offset, int *fd, uint64_t *base,
			  uint64_t *file_size)
{
	if (!s || !fd || !base || !file_size)
		return -EINVAL;
	struct shmq_cl_seg *g;
	int rc = shmq_cl_pin(s->cl, offset, &g);
	if (rc < 0)
		return SHMQ_ENOTFOUND; /* below the oldest segment, or past the last one */
	/* The pin keeps g->fd open; re-opening it through /proc gives a
	 * read-only description of the very same file even if retention
	 * unlinked it a moment ago (its bytes stay valid for the reader). */
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", g->fd);
	int nfd = open(proc, O_RDONLY | O_CLOEXEC);
	if (nfd < 0)
		nfd = open(g->path, O_RDONLY | O_CLOEXEC); /* no /proc mounted */
	if (nfd < 0) {
		rc = errno == ENOENT ? SHMQ_ENOTFOUND : -errno;
	} else {
		*fd = nfd;
		*base = g->base;
		*file_size = g->size;
		rc = 0;
	}
	shmq_cl_unpin(g);
	return rc;
}

int shmq_store_cq_fd(shmq_store_t *s, const char *topic, uint32_t queue, uint32_t file_index,
		     int *fd, uint32_t *entries_per_file)
{
	if (!s || !topic || !fd || !entries_per_file)
		return -EINVAL;
	size_t tl = strlen(topic);
	if (!shmq_topic_valid(topic, tl))
		return -EINVAL;
	struct shmq_store_queue *q;
	int rc = shmq_store_queue_get(s, topic, tl, queue, false, &q);
	if (rc < 0)
		return rc; /* SHMQ_ENOTFOUND: nothing was ever stored for the queue */
	uint32_t epf = shmq_cq_entries_per_file(q->cq);
	char path[PATH_MAX + 96];
	/* File names are the first queue offset of the file (consumequeue.h). */
	uint64_t first = (uint64_t)file_index * epf;
	int n = snprintf(path, sizeof(path), "%s/consumequeue/%s/%" PRIu32 "/%0*" PRIu64, s->dir,
			 topic, queue, (int)SHMQ_CQ_NAME_DIGITS, first);
	if (n < 0 || n >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int nfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nfd < 0)
		return errno == ENOENT ? SHMQ_ENOTFOUND : -errno; /* deleted, or not written yet */
	*fd = nfd;
	*entries_per_file = epf;
	return 0;
}
