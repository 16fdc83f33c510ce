/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Read-only view of the broker's commitlog and consumequeues through file
 * descriptors the broker hands out (OPEN_SEGMENT, OPEN_CQ); contract in
 * client_int.h.
 *
 * Trust: the files are the broker's, but a client must survive whatever it
 * maps (a buggy or hostile broker, a torn page after a crash). Every length
 * and offset is checked against the mapping before it is used; a record is
 * accepted only if shmq_cl_decode() accepts it (CRC over header and body,
 * sizes consistent, its own offset field equal to the offset asked for).
 * Mappings never extend past the file's size at map time (fstat), so a read
 * cannot fault on a hole past EOF. (A broker that truncates a mapped file
 * could still cause SIGBUS; the store never truncates a segment or CQ file
 * below data it announced.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/store/commitlog.h"
#include "broker/store/cq_layout.h"
#include "client/client_int.h"

/* Sanity bounds for values the broker sends (reject garbage early). */
#define LR_SEG_MAX_SIZE (1ull << 40)
#define LR_RECORD_MAX   (1u << 30)
/* Progress request group: never joined, only used to ask for queue bounds. */
#define LR_PROGRESS_GROUP "%shmq_logreader"

struct lr_seg {
	uint64_t base;
	uint64_t size;      /* bytes mapped: min(file_size, fstat size) */
	uint8_t *map;
	uint64_t used;      /* LRU tick */
};

struct lr_cq {
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queue;
	uint32_t file_index;
	uint32_t epf;       /* entries per file */
	int fd;             /* kept to remap when the file grew */
	uint8_t *map;
	size_t size;
	uint64_t used;
};

struct lr_queue {
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queue;
	uint32_t epf;       /* 0 until an OPEN_CQ answer told us */
	uint64_t min, max;
	bool known;
};

struct shmq_logreader {
	shmq_client_t *c;
	struct lr_seg segs[SHMQ_LR_SEGS_MAX];
	unsigned nsegs;
	struct lr_cq cqs[SHMQ_LR_CQS_MAX];
	unsigned ncqs;
	struct lr_queue *queues;
	unsigned nqueues, capqueues;
	uint64_t tick;
	uint64_t flushed, written_end, min_offset;
};

int shmq_logreader_create(shmq_client_t *c, shmq_logreader_t **out)
{
	if (!out)
		return -EINVAL;
	shmq_logreader_t *lr = calloc(1, sizeof(*lr));
	if (!lr)
		return -ENOMEM;
	lr->c = c;
	*out = lr;
	return 0;
}

static void seg_drop(shmq_logreader_t *lr, unsigned i)
{
	munmap(lr->segs[i].map, lr->segs[i].size);
	lr->segs[i] = lr->segs[--lr->nsegs];
}

static void cq_drop(shmq_logreader_t *lr, unsigned i)
{
	if (lr->cqs[i].map)
		munmap(lr->cqs[i].map, lr->cqs[i].size);
	close(lr->cqs[i].fd);
	lr->cqs[i] = lr->cqs[--lr->ncqs];
}

void shmq_logreader_destroy(shmq_logreader_t *lr)
{
	if (!lr)
		return;
	while (lr->nsegs)
		seg_drop(lr, 0);
	while (lr->ncqs)
		cq_drop(lr, 0);
	free(lr->queues);
	free(lr);
}

static struct lr_queue *queue_find(shmq_logreader_t *lr, const char *topic, uint32_t queue, bool create)
{
	for (unsigned i = 0; i < lr->nqueues; i++)
		if (lr->queues[i].queue == queue && strcmp(lr->queues[i].topic, topic) == 0)
			return &lr->queues[i];
	if (!create)
		return NULL;
	if (lr->nqueues == lr->capqueues) {
		unsigned cap = lr->capqueues ? lr->capqueues * 2 : 8;
		struct lr_queue *q = realloc(lr->queues, cap * sizeof(*q));
		if (!q)
			return NULL;
		lr->queues = q;
		lr->capqueues = cap;
	}
	struct lr_queue *q = &lr->queues[lr->nqueues++];
	memset(q, 0, sizeof(*q));
	snprintf(q->topic, sizeof(q->topic), "%s", topic);
	q->queue = queue;
	return q;
}

/* ------------------------------------------------------------------ */
/* segments                                                            */

/* Learn the log bounds; drop cached segments retention deleted. */
static void learn_log(shmq_logreader_t *lr, uint64_t written_end, uint64_t min_offset, uint64_t flushed)
{
	if (written_end > lr->written_end)
		lr->written_end = written_end;
	if (flushed > lr->flushed)
		lr->flushed = flushed;
	if (min_offset > lr->min_offset) {
		lr->min_offset = min_offset;
		for (unsigned i = 0; i < lr->nsegs;)
			if (lr->segs[i].base + lr->segs[i].size <= min_offset)
				seg_drop(lr, i);
			else
				i++;
	}
}

int shmq_logreader_add_segment(shmq_logreader_t *lr, int fd, const struct shmq_ctl_open_segment_resp *r)
{
	if (!lr || fd < 0 || !r)
		return -EINVAL;
	if (r->file_size == 0 || r->file_size > LR_SEG_MAX_SIZE || r->base_offset > UINT64_MAX - r->file_size ||
	    r->min_offset > r->written_end)
		return SHMQ_ECORRUPT;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return SHMQ_ECORRUPT;
	uint64_t size = r->file_size < (uint64_t)st.st_size ? r->file_size : (uint64_t)st.st_size;
	if (size == 0)
		return SHMQ_ENOTFOUND;
	void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	/* replace an older mapping of the same segment (it may be shorter) */
	for (unsigned i = 0; i < lr->nsegs; i++)
		if (lr->segs[i].base == r->base_offset) {
			seg_drop(lr, i);
			break;
		}
	if (lr->nsegs == SHMQ_LR_SEGS_MAX) {
		unsigned lru = 0;
		for (unsigned i = 1; i < lr->nsegs; i++)
			if (lr->segs[i].used < lr->segs[lru].used)
				lru = i;
		seg_drop(lr, lru);
	}
	lr->segs[lr->nsegs++] = (struct lr_seg){ .base = r->base_offset, .size = size, .map = map,
						 .used = ++lr->tick };
	learn_log(lr, r->written_end, r->min_offset, 0);
	return 0;
}

static struct lr_seg *seg_lookup(shmq_logreader_t *lr, uint64_t off)
{
	for (unsigned i = 0; i < lr->nsegs; i++)
		if (off >= lr->segs[i].base && off - lr->segs[i].base < lr->segs[i].size) {
			lr->segs[i].used = ++lr->tick;
			return &lr->segs[i];
		}
	return NULL;
}

static int seg_fetch(shmq_logreader_t *lr, uint64_t off)
{
	if (!lr->c)
		return SHMQ_ENOTFOUND;
	struct shmq_ctl_msg *m = malloc(2 * sizeof(*m));
	if (!m)
		return -ENOMEM;
	shmq_ctl_msg_init(&m[0], SHMQ_CTL_OPEN_SEGMENT, 0, 0);
	m[0].u.open_segment_req.offset = off;
	int fd = -1;
	int rc = shmq_cli_request(lr->c, &m[0], &m[1], &fd);
	if (rc == 0) {
		const struct shmq_ctl_open_segment_resp *r = &m[1].u.open_segment_resp;
		if (fd < 0)
			rc = -EBADMSG;
		else if (off < r->base_offset || off - r->base_offset >= r->file_size)
			rc = SHMQ_ECORRUPT; /* not the segment we asked for */
		else
			rc = shmq_logreader_add_segment(lr, fd, r);
	}
	if (fd >= 0)
		close(fd);
	free(m);
	return rc;
}

int shmq_logreader_read(shmq_logreader_t *lr, uint64_t cl_offset, struct shmq_store_view *v)
{
	if (!lr || !v || cl_offset % SHMQ_CL_ALIGN)
		return -EINVAL;
	if (cl_offset < lr->min_offset)
		return SHMQ_ESTALE;
	struct lr_seg *s = seg_lookup(lr, cl_offset);
	int rc;
	for (int pass = 0; pass < 2; pass++) {
		if (!s) {
			rc = seg_fetch(lr, cl_offset);
			if (rc == SHMQ_ENOTFOUND && cl_offset < lr->min_offset)
				return SHMQ_ESTALE;
			if (rc < 0)
				return rc;
			s = seg_lookup(lr, cl_offset);
			if (!s)
				return SHMQ_ENOTFOUND;
		}
		uint64_t in = cl_offset - s->base;
		int reason;
		rc = shmq_cl_decode(s->map + in, s->size - in, cl_offset, true, v, &reason);
		if (rc == SHMQ_CL_DEC_MSG) {
			v->pin_ = NULL;
			return 0;
		}
		if (rc == SHMQ_CL_DEC_FILLER)
			return SHMQ_ENOTFOUND;
		/* END (zero word) or a CRC mismatch on a cached mapping may just
		 * be a record written after we mapped a short file: remap once */
		if (pass == 0 && lr->c && (rc == SHMQ_CL_DEC_END || rc == SHMQ_ECRC)) {
			seg_drop(lr, (unsigned)(s - lr->segs));
			s = NULL;
			continue;
		}
		return rc == SHMQ_CL_DEC_END ? SHMQ_ENOTFOUND : rc;
	}
	return rc == SHMQ_CL_DEC_END ? SHMQ_ENOTFOUND : rc;
}

uint64_t shmq_logreader_flushed(shmq_logreader_t *lr, bool refresh)
{
	if (!lr)
		return 0;
	if (refresh && lr->c) {
		struct shmq_ctl_msg *m = malloc(2 * sizeof(*m));
		if (m) {
			shmq_ctl_msg_init(&m[0], SHMQ_CTL_STATUS, 0, 0);
			if (shmq_cli_request(lr->c, &m[0], &m[1], NULL) == 0) {
				const struct shmq_ctl_status_resp *st = &m[1].u.status_resp;
				learn_log(lr, st->commitlog_max_offset, st->commitlog_min_offset,
					  st->commitlog_flushed_offset);
			}
			free(m);
		}
	}
	return lr->flushed;
}

/* ------------------------------------------------------------------ */
/* consumequeues                                                       */

static int cq_map(struct lr_cq *f)
{
	struct stat st;
	if (fstat(f->fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return SHMQ_ECORRUPT;
	size_t want = (size_t)f->epf * SHMQ_CQ_ENTRY_SIZE;
	size_t size = (uint64_t)st.st_size < want ? (size_t)st.st_size : want;
	if (f->map && size == f->size)
		return 0;
	if (f->map) {
		munmap(f->map, f->size);
		f->map = NULL;
		f->size = 0;
	}
	if (size == 0)
		return 0;
	void *p = mmap(NULL, size, PROT_READ, MAP_SHARED, f->fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	f->map = p;
	f->size = size;
	return 0;
}

int shmq_logreader_add_cq(shmq_logreader_t *lr, const char *topic, uint32_t queue, int fd,
			  const struct shmq_ctl_open_cq_resp *r)
{
	if (!lr || !topic || fd < 0 || !r || strlen(topic) >= SHMQ_CTL_NAME_LEN)
		return -EINVAL;
	if (r->entries_per_file == 0 || r->entries_per_file > SHMQ_CQ_MAX_ENTRIES_PER_FILE ||
	    r->min_queue_offset > r->max_queue_offset)
		return SHMQ_ECORRUPT;
	struct lr_queue *q = queue_find(lr, topic, queue, true);
	if (!q)
		return -ENOMEM;
	q->epf = r->entries_per_file;
	q->min = r->min_queue_offset;
	q->max = r->max_queue_offset;
	q->known = true;
	for (unsigned i = 0; i < lr->ncqs;) {
		struct lr_cq *f = &lr->cqs[i];
		if (f->queue == queue && strcmp(f->topic, topic) == 0 &&
		    (f->file_index == r->file_index || f->epf != r->entries_per_file ||
		     ((uint64_t)f->file_index + 1) * f->epf <= r->min_queue_offset))
			cq_drop(lr, i); /* replaced, foreign geometry, or deleted by retention */
		else
			i++;
	}
	if (lr->ncqs == SHMQ_LR_CQS_MAX) {
		unsigned lru = 0;
		for (unsigned i = 1; i < lr->ncqs; i++)
			if (lr->cqs[i].used < lr->cqs[lru].used)
				lru = i;
		cq_drop(lr, lru);
	}
	struct lr_cq f = { .queue = queue, .file_index = r->file_index, .epf = r->entries_per_file,
			   .used = ++lr->tick };
	snprintf(f.topic, sizeof(f.topic), "%s", topic);
	f.fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (f.fd < 0)
		return -errno;
	int rc = cq_map(&f);
	if (rc < 0) {
		close(f.fd);
		return rc;
	}
	lr->cqs[lr->ncqs++] = f;
	return 0;
}

/* OPEN_CQ of file @p file_index; caches it and the queue's bounds. */
static int cq_fetch(shmq_logreader_t *lr, const char *topic, uint32_t queue, uint32_t file_index)
{
	if (!lr->c)
		return SHMQ_ENOTFOUND;
	struct shmq_ctl_msg *m = malloc(2 * sizeof(*m));
	if (!m)
		return -ENOMEM;
	shmq_ctl_msg_init(&m[0], SHMQ_CTL_OPEN_CQ, 0, 0);
	int rc = shmq_ctl_name_set(m[0].u.open_cq_req.topic, topic, false);
	m[0].u.open_cq_req.queue = queue;
	m[0].u.open_cq_req.file_index = file_index;
	int fd = -1;
	if (rc == 0)
		rc = shmq_cli_request(lr->c, &m[0], &m[1], &fd);
	if (rc == 0) {
		if (fd < 0 || m[1].u.open_cq_resp.file_index != file_index)
			rc = -EBADMSG;
		else
			rc = shmq_logreader_add_cq(lr, topic, queue, fd, &m[1].u.open_cq_resp);
	}
	if (fd >= 0)
		close(fd);
	free(m);
	return rc;
}

/* Queue bounds from GROUP_PROGRESS (works with no CQ file at all). */
static int bounds_by_progress(shmq_logreader_t *lr, const char *topic, uint32_t queue)
{
	if (!lr->c)
		return SHMQ_ENOTFOUND;
	struct shmq_ctl_msg *m = malloc(2 * sizeof(*m));
	if (!m)
		return -ENOMEM;
	shmq_ctl_msg_init(&m[0], SHMQ_CTL_GROUP_PROGRESS, 0, 0);
	int rc = shmq_ctl_name_set(m[0].u.progress_req.topic, topic, false);
	if (rc == 0)
		rc = shmq_ctl_name_set(m[0].u.progress_req.group, LR_PROGRESS_GROUP, false);
	if (rc == 0)
		rc = shmq_cli_request(lr->c, &m[0], &m[1], NULL);
	if (rc == 0) {
		if (queue >= m[1].u.progress_resp.hdr.count) {
			rc = SHMQ_ENOTFOUND;
		} else {
			const struct shmq_ctl_progress_entry *e = &m[1].u.progress_resp.entries[queue];
			struct lr_queue *q = queue_find(lr, topic, queue, true);
			if (!q)
				rc = -ENOMEM;
			else if (e->min_offset > e->max_offset)
				rc = SHMQ_ECORRUPT;
			else {
				q->min = e->min_offset;
				q->max = e->max_offset;
				q->known = true;
			}
		}
	}
	free(m);
	return rc;
}

int shmq_logreader_queue_bounds(shmq_logreader_t *lr, const char *topic, uint32_t queue,
				uint64_t *min, uint64_t *max)
{
	if (!lr || !topic)
		return -EINVAL;
	struct lr_queue *q = queue_find(lr, topic, queue, false);
	int rc = SHMQ_ENOTFOUND;
	if (lr->c) {
		/* the file holding the newest entry we know of is the likeliest to
		 * still exist; its answer carries the queue-wide bounds */
		uint32_t idx = q && q->epf ? (uint32_t)((q->max ? q->max - 1 : 0) / q->epf) : 0;
		rc = cq_fetch(lr, topic, queue, idx);
		if (rc == SHMQ_ENOTFOUND)
			rc = bounds_by_progress(lr, topic, queue);
	} else if (q && q->known) {
		rc = 0; /* no broker: what the fed files said */
	}
	if (rc < 0)
		return rc;
	q = queue_find(lr, topic, queue, false);
	if (!q || !q->known)
		return SHMQ_ENOTFOUND;
	if (min)
		*min = q->min;
	if (max)
		*max = q->max;
	return 0;
}

static struct lr_cq *cq_lookup(shmq_logreader_t *lr, const char *topic, uint32_t queue, uint32_t idx)
{
	for (unsigned i = 0; i < lr->ncqs; i++) {
		struct lr_cq *f = &lr->cqs[i];
		if (f->file_index == idx && f->queue == queue && strcmp(f->topic, topic) == 0) {
			f->used = ++lr->tick;
			return f;
		}
	}
	return NULL;
}

int shmq_logreader_cq_get(shmq_logreader_t *lr, const char *topic, uint32_t queue, uint64_t qo,
			  uint64_t *cl_offset, uint32_t *size)
{
	if (!lr || !topic || !cl_offset || !size)
		return -EINVAL;
	struct lr_queue *q = queue_find(lr, topic, queue, false);
	int rc;
	if (!q || !q->epf || qo >= q->max) {
		/* unknown queue or past the known end: ask once for a fresher max
		 * (OPEN_CQ of the file that would hold qo, mapping it as well) */
		uint32_t epf = q && q->epf ? q->epf : 0;
		uint64_t idx = epf ? qo / epf : 0;
		if (idx > UINT32_MAX)
			return SHMQ_ENOTFOUND;
		rc = cq_fetch(lr, topic, queue, (uint32_t)idx);
		q = queue_find(lr, topic, queue, false);
		if (rc == SHMQ_ENOTFOUND && lr->c && (!q || !q->epf))
			rc = bounds_by_progress(lr, topic, queue);
		q = queue_find(lr, topic, queue, false);
		if (rc < 0 && rc != SHMQ_ENOTFOUND)
			return rc;
		if (!q || !q->known)
			return SHMQ_ENOTFOUND;
	}
	if (qo < q->min)
		return SHMQ_ESTALE;
	if (qo >= q->max)
		return SHMQ_ENOTFOUND;
	if (!q->epf)
		return SHMQ_ENOTFOUND;
	uint64_t idx64 = qo / q->epf;
	if (idx64 > UINT32_MAX)
		return SHMQ_ENOTFOUND;
	uint32_t idx = (uint32_t)idx64;
	struct lr_cq *f = cq_lookup(lr, topic, queue, idx);
	if (!f) {
		rc = cq_fetch(lr, topic, queue, idx);
		if (rc == SHMQ_ENOTFOUND) {
			q = queue_find(lr, topic, queue, false);
			return q && qo < q->min ? SHMQ_ESTALE : SHMQ_ENOTFOUND;
		}
		if (rc < 0)
			return rc;
		f = cq_lookup(lr, topic, queue, idx);
		if (!f)
			return SHMQ_ENOTFOUND;
	}
	size_t at = (size_t)(qo % f->epf) * SHMQ_CQ_ENTRY_SIZE;
	if (at + SHMQ_CQ_ENTRY_SIZE > f->size) {
		/* the file grew since we mapped it */
		rc = cq_map(f);
		if (rc < 0)
			return rc;
		if (at + SHMQ_CQ_ENTRY_SIZE > f->size)
			return SHMQ_ECORRUPT; /* the broker said the entry exists */
	}
	struct shmq_cq_entry_disk e;
	memcpy(&e, f->map + at, sizeof(e));
	/* I1: an all-zero entry is not written (yet): not found, not corrupt */
	if (e.size == 0 && e.commitlog_offset == 0 && e.tag_hash == 0)
		return SHMQ_ENOTFOUND;
	if (e.size < SHMQ_CL_HEADER_SIZE || e.size > LR_RECORD_MAX || e.size % SHMQ_CL_ALIGN ||
	    e.commitlog_offset % SHMQ_CL_ALIGN || e.commitlog_offset > UINT64_MAX - e.size)
		return SHMQ_ECORRUPT;
	*cl_offset = e.commitlog_offset;
	*size = e.size;
	return 0;
}
