/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Create, adopt and attach a consumer group's offset table
 * (common/offsets_layout.h). The broker creates or adopts the file in its
 * ring directory (broker/groups.c); a member maps the fd it received with its
 * GROUP_JOIN response (client/consumer.c). Internal, never installed.
 *
 * Trust: the other side of the mapping may write anything into it at any
 * time. These functions validate the header once, at map time; afterwards
 * callers treat every word as untrusted (the broker clamps committed offsets,
 * members check owner words against their member id). The header fields
 * validated here (magic .. fingerprint, queues) are written by the broker
 * only while creating the file and never change afterwards, so a validated
 * map's `queues` and `len` are taken from the header once and kept in the
 * struct: later scribbles in the header cannot change the bounds we use.
 *
 * Thread safety: the functions touch only the map they are given; a map may
 * be shared by threads once filled (its fields are not modified until unmap).
 */
#ifndef SHMQ_COMMON_OFFSETS_H
#define SHMQ_COMMON_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#include "common/offsets_layout.h"

struct shmq_offsets_map {
	struct shmq_offsets_hdr *hdr;    /* start of the shared mapping */
	struct shmq_offsets_slot *slots; /* slots[0 .. queues) */
	uint32_t queues;                 /* validated at map time, never re-read */
	size_t len;                      /* mapped bytes == SHMQ_OFFSETS_FILE_SIZE(queues) */
	int fd;                          /* owned by the map (closed by unmap) */
};

/*
 * Broker side: create the table at @p path for @p queues queues, or adopt a
 * valid existing one with the same queue count.
 *
 * A new file is created O_EXCL, mode 0600, sized, and initialised with every
 * committed word = SHMQ_OFFSETS_NONE, owners/revokes/resets 0, generation 0;
 * its magic is written last, so a broker killed mid-initialisation leaves a
 * file the next run finds invalid and replaces. An existing file that fails
 * validation (shmq_offsets_attach_fd) or holds another queue count is
 * unlinked and replaced by a new file (members still mapping the old inode
 * keep it; nothing they write there is seen again).
 *
 * Adoption keeps every word as found: the caller decides which committed
 * words to trust, clears owners and bumps the generation.
 *
 * Returns 0 (created), 1 (adopted), 2 (an invalid or mismatched file was
 * replaced by a new one: the caller logs it); -EINVAL (queues not in
 * 1..SHMQ_OFFSETS_QUEUES_MAX, NULL arguments); -errno from open, ftruncate
 * or mmap (e.g. -ENOSPC); -EEXIST if another process recreated the file while
 * we replaced it. On error *out is untouched.
 */
int shmq_offsets_create(const char *path, uint32_t queues, struct shmq_offsets_map *out);

/*
 * Member side (and the broker adopting a file): map @p fd read-write. The fd
 * is dup'd (close yours when you like). Validates, in this order: a regular
 * file of at least a header and at most SHMQ_OFFSETS_FILE_SIZE(1024) bytes,
 * magic, version, hdr_len, fingerprint (SHMQ_ELAYOUT: another format or
 * version), then queues in 1..SHMQ_OFFSETS_QUEUES_MAX and file size ==
 * SHMQ_OFFSETS_FILE_SIZE(queues) (SHMQ_ECORRUPT). -errno from fstat, dup or
 * mmap; -EINVAL for a NULL map or negative fd. On error *out is untouched.
 */
int shmq_offsets_attach_fd(int fd, struct shmq_offsets_map *out);

/* Unmap and close; then hdr = slots = NULL, fd = -1. Accepts NULL and a map
 * whose hdr is NULL (never mapped, or unmapped already): nothing is closed. */
void shmq_offsets_unmap(struct shmq_offsets_map *m);

#endif
