/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/store/commitlog.h"
#include "common/atomic.h"
#include "common/crc32c.h"
#include "shmq/error.h"
#include "common/fsutil.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* L6: SHMQ_CL_PREWRITE_* in commitlog.h */
#define PREWRITE_CHUNK SHMQ_CL_PREWRITE_CHUNK
#define PREWRITE_AHEAD SHMQ_CL_PREWRITE_AHEAD

/* ------------------------------------------------------------------ */
/* record codec                                                         */

bool shmq_topic_valid(const char *topic, size_t len)
{
	if (len == 0 || len > SHMQ_CL_TOPIC_MAX)
		return false;
	/* topics become directory names: no '/', no "." or ".." */
	if ((len == 1 && topic[0] == '.') || (len == 2 && topic[0] == '.' && topic[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = topic[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == '%' || c == '|'))
			return false;
	}
	return true;
}

static size_t prop_size(size_t klen, size_t vlen)
{
	return SHMQ_CL_PROP_HDR + klen + vlen;
}

int64_t shmq_cl_encoded_size(const struct shmq_store_msg *m)
{
	if (!m->topic || (!m->body && m->body_len) || (!m->props && m->nprops))
		return -EINVAL;
	size_t tlen = strlen(m->topic);
	if (!shmq_topic_valid(m->topic, tlen))
		return -EINVAL;
	size_t props = 0;
	if (m->keys && m->keys[0]) {
		size_t l = strlen(m->keys);
		if (l > SHMQ_CL_PROP_VAL_MAX)
			return -EINVAL;
		props += prop_size(4, l);
	}
	if (m->tags && m->tags[0]) {
		size_t l = strlen(m->tags);
		if (l > SHMQ_CL_PROP_VAL_MAX)
			return -EINVAL;
		props += prop_size(4, l);
	}
	for (uint32_t i = 0; i < m->nprops; i++) {
		const struct shmq_store_prop *p = &m->props[i];
		if (!p->key || !p->value)
			return -EINVAL;
		size_t kl = strlen(p->key), vl = strlen(p->value);
		if (kl == 0 || kl > 255 || vl > SHMQ_CL_PROP_VAL_MAX ||
		    !strcmp(p->key, "KEYS") || !strcmp(p->key, "TAGS"))
			return -EINVAL;
		props += prop_size(kl, vl);
		if (props > SHMQ_CL_PROPS_MAX)
			return -EINVAL;
	}
	if (props > SHMQ_CL_PROPS_MAX)
		return -EINVAL;
	uint64_t total = (uint64_t)SHMQ_CL_HEADER_SIZE + m->body_len + tlen + props;
	return (int64_t)SHMQ_ALIGN_UP(total, (uint64_t)SHMQ_CL_ALIGN);
}

static uint8_t *put_prop(uint8_t *p, const char *k, size_t kl, const char *v, size_t vl)
{
	uint16_t vl16 = (uint16_t)vl;
	p[0] = (uint8_t)kl;
	memcpy(p + 1, &vl16, 2);
	memcpy(p + SHMQ_CL_PROP_HDR, k, kl);
	memcpy(p + SHMQ_CL_PROP_HDR + kl, v, vl);
	return p + SHMQ_CL_PROP_HDR + kl + vl;
}

void shmq_cl_encode(uint8_t *p, uint32_t size, const struct shmq_store_msg *m,
		    uint64_t queue_offset, uint64_t commitlog_offset, uint64_t store_ts)
{
	struct shmq_cl_record h;
	size_t tlen = strlen(m->topic);
	memset(&h, 0, sizeof(h));
	h.total_size = size;
	h.magic = SHMQ_CL_MAGIC_MSG;
	h.queue_id = m->queue_id;
	h.flags = m->flags;
	h.reconsume_times = m->reconsume_times;
	h.queue_offset = queue_offset;
	h.commitlog_offset = commitlog_offset;
	h.born_ts_ms = m->born_ts_ms;
	h.store_ts_ms = store_ts;
	h.born_host = m->born_host;
	h.producer_id = m->producer_id;
	h.producer_seq = m->producer_seq;
	h.prepared_tx_offset = m->prepared_tx_offset;
	h.body_len = m->body_len;
	h.topic_len = (uint16_t)tlen;

	uint8_t *q = p + SHMQ_CL_HEADER_SIZE;
	if (m->body_len)
		memcpy(q, m->body, m->body_len);
	q += m->body_len;
	memcpy(q, m->topic, tlen);
	q += tlen;
	uint8_t *props = q;
	if (m->keys && m->keys[0])
		q = put_prop(q, "KEYS", 4, m->keys, strlen(m->keys));
	if (m->tags && m->tags[0])
		q = put_prop(q, "TAGS", 4, m->tags, strlen(m->tags));
	for (uint32_t i = 0; i < m->nprops; i++)
		q = put_prop(q, m->props[i].key, strlen(m->props[i].key), m->props[i].value,
			     strlen(m->props[i].value));
	h.props_len = (uint16_t)(q - props);
	/* the pad must be zero: it is covered by the CRC and by recovery's checks */
	memset(q, 0, (size_t)(p + size - q));
	memcpy(p, &h, sizeof(h));
	h.crc = shmq_crc32c(0, p + SHMQ_CL_CRC_FROM, size - SHMQ_CL_CRC_FROM);
	memcpy(p + offsetof(struct shmq_cl_record, crc), &h.crc, 4);
}

void shmq_cl_write_filler(uint8_t *p, uint32_t size)
{
	struct shmq_cl_filler f = { .total_size = size, .magic = SHMQ_CL_MAGIC_FILLER };
	memcpy(p, &f, sizeof(f));
}

/* Walk the encoded properties; -1 if malformed. Fills keys/tags of v. */
static int parse_props(const uint8_t *p, uint32_t len, struct shmq_store_view *v)
{
	uint32_t i = 0;
	while (i < len) {
		if (len - i < SHMQ_CL_PROP_HDR)
			return -1;
		uint32_t kl = p[i];
		uint16_t vl;
		memcpy(&vl, p + i + 1, 2);
		if (kl == 0 || len - i - SHMQ_CL_PROP_HDR < kl + (uint32_t)vl)
			return -1;
		const char *k = (const char *)p + i + SHMQ_CL_PROP_HDR;
		const char *val = k + kl;
		if (v && kl == 4 && !memcmp(k, "KEYS", 4)) {
			v->keys = val;
			v->keys_len = vl;
		} else if (v && kl == 4 && !memcmp(k, "TAGS", 4)) {
			v->tags = val;
			v->tags_len = vl;
		}
		i += SHMQ_CL_PROP_HDR + kl + vl;
	}
	return 0;
}

int shmq_cl_decode(const uint8_t *p, uint64_t avail, uint64_t offset, bool check_crc,
		   struct shmq_store_view *v, int *reason)
{
	int dummy;
	if (!reason)
		reason = &dummy;
	if (avail < SHMQ_CL_FILLER_MIN) {
		*reason = SHMQ_RECOVERY_BAD_SIZE;
		return SHMQ_ECORRUPT;
	}
	uint32_t size, magic;
	memcpy(&size, p, 4);
	memcpy(&magic, p + 4, 4);
	if (size == 0 && magic == 0)
		return SHMQ_CL_DEC_END;
	if (magic == SHMQ_CL_MAGIC_FILLER) {
		if (size != avail || size % SHMQ_CL_ALIGN) {
			*reason = SHMQ_RECOVERY_BAD_SIZE;
			return SHMQ_ECORRUPT;
		}
		v->size = size;
		return SHMQ_CL_DEC_FILLER;
	}
	if (magic != SHMQ_CL_MAGIC_MSG) {
		*reason = SHMQ_RECOVERY_BAD_MAGIC;
		return SHMQ_ECORRUPT;
	}
	if (size < SHMQ_CL_HEADER_SIZE || size % SHMQ_CL_ALIGN || size > avail) {
		*reason = SHMQ_RECOVERY_BAD_SIZE;
		return SHMQ_ECORRUPT;
	}
	struct shmq_cl_record h;
	memcpy(&h, p, sizeof(h));
	if (check_crc && shmq_crc32c(0, p + SHMQ_CL_CRC_FROM, size - SHMQ_CL_CRC_FROM) != h.crc) {
		*reason = SHMQ_RECOVERY_BAD_CRC;
		return SHMQ_ECRC;
	}
	uint64_t need = (uint64_t)SHMQ_CL_HEADER_SIZE + h.body_len + h.topic_len + h.props_len;
	if (SHMQ_ALIGN_UP(need, (uint64_t)SHMQ_CL_ALIGN) != size || h.topic_len == 0 ||
	    h.commitlog_offset != offset) {
		*reason = SHMQ_RECOVERY_BAD_FIELDS;
		return SHMQ_ECORRUPT;
	}
	memset(v, 0, sizeof(*v));
	const uint8_t *body = p + SHMQ_CL_HEADER_SIZE;
	const uint8_t *props = body + h.body_len + h.topic_len;
	if (parse_props(props, h.props_len, v) != 0) {
		*reason = SHMQ_RECOVERY_BAD_FIELDS;
		return SHMQ_ECORRUPT;
	}
	v->commitlog_offset = offset;
	v->size = size;
	v->queue_id = h.queue_id;
	v->flags = h.flags;
	v->reconsume_times = h.reconsume_times;
	v->queue_offset = h.queue_offset;
	v->born_ts_ms = h.born_ts_ms;
	v->store_ts_ms = h.store_ts_ms;
	v->born_host = h.born_host;
	v->producer_id = h.producer_id;
	v->producer_seq = h.producer_seq;
	v->prepared_tx_offset = h.prepared_tx_offset;
	v->body = body;
	v->body_len = h.body_len;
	v->topic = (const char *)body + h.body_len;
	v->topic_len = h.topic_len;
	v->props = props;
	v->props_len = h.props_len;
	v->raw = p;
	return SHMQ_CL_DEC_MSG;
}

/* ------------------------------------------------------------------ */
/* segments                                                             */

static void seg_free(struct shmq_cl_seg *g)
{
	if (!g)
		return;
	if (g->map)
		munmap(g->map, g->size);
	if (g->fd >= 0)
		close(g->fd);
	free(g);
}

static void seg_unref(struct shmq_cl_seg *g)
{
	/* acq_rel: the last unref must see every use by other pinners before unmapping */
	if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
		seg_free(g);
}

static int seg_map(struct shmq_cl_seg *g, bool prefault, bool small_pages)
{
	g->map = mmap(NULL, g->size, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
	if (g->map == MAP_FAILED) {
		g->map = NULL;
		return -errno;
	}
	/* L5: no readahead on this mapping, so each fault (including the
	 * prefault below) caches one base page, never a large folio. Measured
	 * (ext4, kernel 6.18, 256 MiB fallocated file, 1 KiB append + fdatasync
	 * 300 times at 0/100/200 MiB): default readahead p50 112/591/536 us (the
	 * fdatasync writes a 2 MiB folio: block trace "WS 2097152"); MADV_RANDOM
	 * 138/118/128 us, and the prefault took 0.22 s instead of 0.49 s. */
	if (small_pages)
		(void)madvise(g->map, g->size, MADV_RANDOM);
	/* In sync mode the L6 pre-write faults pages in just ahead of the
	 * appender instead: a whole-segment prefault would stall the flusher
	 * (0.22 s per 256 MiB) between two group commits. */
	/* Pre-touch: never-touched pages write several times slower (platform
	 * notes). POPULATE_READ brings every page into the page cache without
	 * dirtying it; measured here on ext4, 256 MiB: 0.04 s to prefault, then
	 * 3.1 GB/s of appends, vs 1.35 GB/s untouched. POPULATE_WRITE dirtied all
	 * pages (0.66 s + a 1 GiB-of-zeros writeback) and was no faster after. */
	if (prefault && !small_pages)
		(void)madvise(g->map, g->size, MADV_POPULATE_READ);
	return 0;
}

/* Reserve the file's blocks for real (L4). tmpfs and ext4 support fallocate. */
static int seg_allocate(int fd, uint64_t size)
{
	int rc = posix_fallocate(fd, 0, (off_t)size);
	return rc ? -rc : 0;
}

static int seg_create(shmq_cl_t *cl, uint64_t base, struct shmq_cl_seg **out)
{
	struct shmq_cl_seg *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->fd = -1;
	g->base = base;
	g->size = cl->seg_size;
	g->file_size = cl->seg_size;
	atomic_init(&g->refs, 1);
	atomic_init(&g->last_store_ts, 0);
	int rc;
	if (snprintf(g->path, sizeof(g->path), "%s/%020" PRIu64, cl->dir, base) >=
	    (int)sizeof(g->path)) {
		free(g);
		return -ENAMETOOLONG;
	}
	g->fd = open(g->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (g->fd < 0) {
		rc = -errno;
		free(g);
		return rc;
	}
	rc = seg_allocate(g->fd, g->size);
	if (rc == 0)
		rc = seg_map(g, cl->prefault, cl->sync_mode);
	if (rc == 0)
		rc = shmq_fsync_dir(cl->dir);
	if (rc < 0) {
		unlink(g->path);
		seg_free(g);
		return rc;
	}
	/* relaxed: statistics */
	atomic_fetch_add_explicit(&cl->n_created, 1, memory_order_relaxed);
	*out = g;
	return 0;
}

static int seg_load(shmq_cl_t *cl, uint64_t base, struct shmq_cl_seg **out)
{
	struct shmq_cl_seg *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->base = base;
	g->size = cl->seg_size;
	atomic_init(&g->refs, 1);
	atomic_init(&g->last_store_ts, 0);
	if (snprintf(g->path, sizeof(g->path), "%s/%020" PRIu64, cl->dir, base) >=
	    (int)sizeof(g->path)) {
		free(g);
		return -ENAMETOOLONG;
	}
	g->fd = open(g->path, O_RDWR | O_CLOEXEC);
	int rc = 0;
	struct stat st;
	if (g->fd < 0 || fstat(g->fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	g->file_size = (uint64_t)st.st_size;
	if (g->file_size > cl->seg_size) {
		rc = SHMQ_ELAYOUT; /* written with another segment_size */
		goto fail;
	}
	if (g->file_size < cl->seg_size) {
		/* crash during creation or a truncated file: the missing tail reads
		 * as zeros, which recovery treats as the end of the log */
		rc = seg_allocate(g->fd, cl->seg_size);
		if (rc < 0)
			goto fail;
	}
	rc = seg_map(g, false, false); /* recovery reads it: keep readahead */
	if (rc < 0)
		goto fail;
	*out = g;
	return 0;
fail:
	if (g->fd >= 0)
		close(g->fd);
	free(g);
	return rc;
}

static int table_push(shmq_cl_t *cl, struct shmq_cl_seg *g)
{
	if (cl->nsegs == cl->cap) {
		size_t ncap = cl->cap ? cl->cap * 2 : 16;
		struct shmq_cl_seg **n = realloc(cl->segs, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		cl->segs = n;
		cl->cap = ncap;
	}
	cl->segs[cl->nsegs++] = g;
	if (cl->nsegs == 1) /* relaxed: a hint, see shmq_cl_min() */
		atomic_store_explicit(&cl->min_offset, g->base, memory_order_relaxed);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int shmq_cl_open(const char *dir, uint64_t seg_size, bool prefault, shmq_cl_t **out)
{
	shmq_cl_t *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	if (strlen(dir) >= sizeof(cl->dir) - 32) {
		free(cl);
		return -ENAMETOOLONG;
	}
	strcpy(cl->dir, dir);
	cl->seg_size = seg_size;
	cl->prefault = prefault;
	pthread_rwlock_init(&cl->lock, NULL);
	pthread_mutex_init(&cl->prep_lock, NULL);
	atomic_init(&cl->written, 0);
	atomic_init(&cl->min_offset, 0);
	atomic_init(&cl->n_created, 0);
	atomic_init(&cl->n_prepared, 0);
	atomic_init(&cl->n_deleted, 0);
	atomic_init(&cl->n_prewritten, 0);

	int rc = 0;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	DIR *d = opendir(dir);
	if (!d) {
		rc = -errno;
		goto fail;
	}
	uint64_t *bases = NULL;
	size_t nb = 0, cb = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != 20 || strspn(e->d_name, "0123456789") != 20)
			continue; /* not a segment: leave it alone */
		uint64_t b = strtoull(e->d_name, NULL, 10);
		if (b % seg_size) {
			rc = SHMQ_ELAYOUT;
			break;
		}
		if (nb == cb) {
			cb = cb ? cb * 2 : 16;
			uint64_t *n = realloc(bases, cb * sizeof(*n));
			if (!n) {
				rc = -ENOMEM;
				break;
			}
			bases = n;
		}
		bases[nb++] = b;
	}
	closedir(d);
	if (rc == 0 && nb)
		qsort(bases, nb, sizeof(*bases), cmp_u64);
	for (size_t i = 0; rc == 0 && i < nb; i++) {
		struct shmq_cl_seg *g = NULL;
		rc = seg_load(cl, bases[i], &g);
		if (rc == 0 && (rc = table_push(cl, g)) != 0)
			seg_free(g);
	}
	free(bases);
	if (rc < 0)
		goto fail;
	*out = cl;
	return 0;
fail:
	shmq_cl_close(cl);
	return rc;
}

void shmq_cl_close(shmq_cl_t *cl)
{
	if (!cl)
		return;
	for (size_t i = 0; i < cl->nsegs; i++)
		seg_unref(cl->segs[i]);
	free(cl->segs);
	if (cl->next) {
		/* prepared but never used: it holds no data */
		unlink(cl->next->path);
		seg_unref(cl->next);
	}
	pthread_rwlock_destroy(&cl->lock);
	pthread_mutex_destroy(&cl->prep_lock);
	free(cl);
}

void shmq_cl_set_sync_mode(shmq_cl_t *cl, bool sync)
{
	cl->sync_mode = sync;
}

/*
 * L5 for a segment found on disk that becomes the active one: recovery read
 * it with readahead, so the part still to be written may sit in large
 * folios. Drop the clean pages past the last whole page of data (they hold
 * zeros; a dirty page is only queued for writeback, never lost) and turn
 * readahead off, so the appends fault in base pages.
 */
static void seg_small_pages_from(struct shmq_cl_seg *g, uint64_t pos)
{
	uint64_t from = SHMQ_ALIGN_UP(pos, (uint64_t)4096);
	if (from < g->size) {
		(void)madvise(g->map + from, g->size - from, MADV_DONTNEED);
		(void)posix_fadvise(g->fd, (off_t)from, (off_t)(g->size - from),
				    POSIX_FADV_DONTNEED);
	}
	(void)madvise(g->map, g->size, MADV_RANDOM);
}

int shmq_cl_drop_after(shmq_cl_t *cl, uint64_t base)
{
	int n = 0;
	pthread_rwlock_wrlock(&cl->lock);
	while (cl->nsegs && cl->segs[cl->nsegs - 1]->base > base) {
		struct shmq_cl_seg *g = cl->segs[--cl->nsegs];
		unlink(g->path);
		seg_unref(g);
		n++;
	}
	pthread_rwlock_unlock(&cl->lock);
	if (n)
		shmq_fsync_dir(cl->dir);
	return n;
}

/* The segment whose base is @p base, taken from the prepared slot or created. */
static int seg_get_new(shmq_cl_t *cl, uint64_t base, struct shmq_cl_seg **out)
{
	int rc = 0;
	pthread_mutex_lock(&cl->prep_lock);
	struct shmq_cl_seg *g = cl->next;
	*out = NULL;
	if (g && g->base == base) {
		cl->next = NULL;
	} else {
		if (g) { /* stale preparation (cannot happen with fixed-size segments) */
			unlink(g->path);
			seg_unref(g);
			cl->next = NULL;
		}
		rc = seg_create(cl, base, &g);
	}
	if (rc == 0)
		*out = g;
	pthread_mutex_unlock(&cl->prep_lock);
	return rc;
}

int shmq_cl_set_end(shmq_cl_t *cl, uint64_t end)
{
	struct shmq_cl_seg *last = cl->nsegs ? cl->segs[cl->nsegs - 1] : NULL;
	uint64_t base = end - end % cl->seg_size;
	if (!last || last->base + last->size <= end) {
		struct shmq_cl_seg *g = NULL;
		int rc = seg_get_new(cl, base, &g);
		if (rc < 0)
			return rc;
		pthread_rwlock_wrlock(&cl->lock);
		rc = table_push(cl, g);
		pthread_rwlock_unlock(&cl->lock);
		if (rc < 0) {
			seg_unref(g);
			return rc;
		}
		last = g;
	} else if (cl->sync_mode) {
		seg_small_pages_from(last, end - last->base);
	}
	cl->active = last;
	cl->wpos = end;
	cl->prewritten = end - end % 4096u; /* L6: nothing known ahead yet */
	/* release: pairs with the acquire in shmq_cl_written() */
	atomic_store_explicit(&cl->written, end, memory_order_release);
	return 0;
}

int shmq_cl_reserve(shmq_cl_t *cl, uint32_t size, uint8_t **ptr, uint64_t *offset)
{
	struct shmq_cl_seg *a = cl->active;
	uint64_t pos = cl->wpos - a->base;
	if (size > a->size)
		return SHMQ_ETOOBIG;
	if (a->size - pos < size) {
		/* roll: allocate the next segment first, so a full disk fails
		 * before any byte is written (S5) */
		struct shmq_cl_seg *g = NULL;
		int rc = seg_get_new(cl, a->base + a->size, &g);
		if (rc < 0)
			return rc;
		pthread_rwlock_wrlock(&cl->lock);
		rc = table_push(cl, g);
		pthread_rwlock_unlock(&cl->lock);
		if (rc < 0) {
			seg_unref(g);
			return rc;
		}
		if (a->size > pos)
			shmq_cl_write_filler(a->map + pos, (uint32_t)(a->size - pos));
		if (cl->sync_mode) /* L5: readers of a full segment get readahead */
			(void)madvise(a->map, a->size, MADV_NORMAL);
		cl->wpos = g->base;
		cl->active = g;
		a = g;
		pos = 0;
	}
	*ptr = a->map + pos;
	*offset = cl->wpos;
	return 0;
}

void shmq_cl_commit(shmq_cl_t *cl, uint32_t size, uint64_t store_ts)
{
	cl->wpos += size;
	/* relaxed: read by retention only as an age estimate */
	atomic_store_explicit(&cl->active->last_store_ts, store_ts, memory_order_relaxed);
}

void shmq_cl_publish(shmq_cl_t *cl)
{
	/* release: pairs with the acquire in shmq_cl_written(); publishes the records (L1) */
	atomic_store_explicit(&cl->written, cl->wpos, memory_order_release);
}

static struct shmq_cl_seg *find_locked(shmq_cl_t *cl, uint64_t offset)
{
	size_t lo = 0, hi = cl->nsegs;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct shmq_cl_seg *g = cl->segs[mid];
		if (offset < g->base)
			hi = mid;
		else if (offset >= g->base + g->size)
			lo = mid + 1;
		else
			return g;
	}
	return NULL;
}

int shmq_cl_pin(shmq_cl_t *cl, uint64_t offset, struct shmq_cl_seg **seg)
{
	int rc = SHMQ_ENOTFOUND;
	pthread_rwlock_rdlock(&cl->lock);
	if (cl->nsegs && offset < cl->segs[0]->base) {
		rc = SHMQ_ESTALE;
	} else {
		struct shmq_cl_seg *g = find_locked(cl, offset);
		if (g) {
			/* relaxed: the table lock orders this against deletion */
			atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
			*seg = g;
			rc = 0;
		}
	}
	pthread_rwlock_unlock(&cl->lock);
	return rc;
}

void shmq_cl_unpin(struct shmq_cl_seg *seg)
{
	if (seg)
		seg_unref(seg);
}

int shmq_cl_sync(shmq_cl_t *cl, uint64_t from, uint64_t to)
{
	int n = 0;
	uint64_t o = from - from % cl->seg_size;
	if (from >= to)
		return 0;
	while (o < to) {
		struct shmq_cl_seg *g = NULL;
		int rc = shmq_cl_pin(cl, o, &g);
		if (rc == SHMQ_ESTALE) { /* deleted by retention: nothing to flush */
			o += cl->seg_size;
			continue;
		}
		if (rc < 0)
			return rc == SHMQ_ENOTFOUND ? -EIO : rc;
		rc = fdatasync(g->fd) ? -errno : 0;
		shmq_cl_unpin(g);
		if (rc < 0)
			return rc;
		n++;
		o += cl->seg_size;
	}
	return n;
}

/*
 * L6: pre-write [cl->prewritten, +PREWRITE_CHUNK) if it lies in the active
 * (or an earlier) segment or in the prepared one. 1 advanced, 0 nothing to
 * do (the segment is not there yet), -errno.
 */
static int prewrite_chunk(shmq_cl_t *cl)
{
	uint64_t at = cl->prewritten;
	struct shmq_cl_seg *g = NULL;
	int rc = shmq_cl_pin(cl, at, &g);
	if (rc == SHMQ_ENOTFOUND) {
		pthread_mutex_lock(&cl->prep_lock);
		g = cl->next;
		if (g && g->base <= at && at < g->base + g->size) {
			/* relaxed: prep_lock orders this against seg_get_new() */
			atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
			rc = 0;
		} else {
			g = NULL;
		}
		pthread_mutex_unlock(&cl->prep_lock);
	}
	if (rc == SHMQ_ESTALE) { /* deleted behind us: skip past it */
		cl->prewritten = at - at % cl->seg_size + cl->seg_size;
		return 1;
	}
	if (rc < 0)
		return 0;
	uint64_t pos = at - g->base;
	uint64_t len = g->size - pos < PREWRITE_CHUNK ? g->size - pos : PREWRITE_CHUNK;
	/* Write faults only: the pages become dirty with their current bytes
	 * (zeros ahead of the appender, or the appender's own records if it got
	 * there first), then writeback starts; the bytes are never changed. */
	rc = madvise(g->map + pos, len, MADV_POPULATE_WRITE) ? -errno : 0;
	if (rc == 0 && sync_file_range(g->fd, (off64_t)pos, (off64_t)len, SYNC_FILE_RANGE_WRITE))
		rc = -errno;
	shmq_cl_unpin(g);
	if (rc < 0)
		return rc;
	cl->prewritten = at + len;
	/* relaxed: statistics */
	atomic_fetch_add_explicit(&cl->n_prewritten, len, memory_order_relaxed);
	return 1;
}

int shmq_cl_prepare_next(shmq_cl_t *cl)
{
	if (cl->sync_mode) {
		/* acquire: pairs with the release in shmq_cl_publish() */
		uint64_t w = shmq_cl_written(cl);
		if (cl->prewritten < w)
			cl->prewritten = w - w % 4096u;
		while (cl->prewritten < w + PREWRITE_AHEAD && prewrite_chunk(cl) == 1)
			;
	}
	/* acquire: pairs with the release in shmq_cl_publish() */
	uint64_t w = shmq_cl_written(cl);
	uint64_t base = w - w % cl->seg_size + cl->seg_size;
	if (w % cl->seg_size < cl->seg_size / 2)
		return 0;
	int rc = 0;
	pthread_mutex_lock(&cl->prep_lock);
	if (!cl->next || cl->next->base < base) {
		struct shmq_cl_seg *g = NULL;
		/* the appender may have created it meanwhile: EEXIST is harmless */
		pthread_rwlock_rdlock(&cl->lock);
		bool exists = find_locked(cl, base) != NULL;
		pthread_rwlock_unlock(&cl->lock);
		if (!exists && !cl->next) {
			rc = seg_create(cl, base, &g);
			if (rc == 0) {
				cl->next = g;
				/* relaxed: statistics */
				atomic_fetch_add_explicit(&cl->n_prepared, 1, memory_order_relaxed);
			}
		}
	}
	pthread_mutex_unlock(&cl->prep_lock);
	return rc == -EEXIST ? 0 : rc;
}

int shmq_cl_delete_oldest(shmq_cl_t *cl, bool (*pred)(void *arg, const struct shmq_cl_seg *seg),
			  void *arg)
{
	struct shmq_cl_seg *g = NULL;
	pthread_rwlock_wrlock(&cl->lock);
	/* L3: never the active (last) segment */
	if (cl->nsegs > 1 && pred(arg, cl->segs[0])) {
		g = cl->segs[0];
		memmove(cl->segs, cl->segs + 1, (cl->nsegs - 1) * sizeof(*cl->segs));
		cl->nsegs--;
		/* relaxed: a hint; pin() decides under this lock */
		atomic_store_explicit(&cl->min_offset, cl->segs[0]->base, memory_order_relaxed);
	}
	pthread_rwlock_unlock(&cl->lock);
	if (!g)
		return 0;
	int rc = unlink(g->path) ? -errno : 1;
	seg_unref(g); /* L2: pinned views keep the mapping */
	/* relaxed: statistics */
	atomic_fetch_add_explicit(&cl->n_deleted, 1, memory_order_relaxed);
	return rc;
}
