/* SPDX-License-Identifier: Apache-2.0 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/store/consumequeue.h"
#include "broker/store/cq_layout.h"
#include "common/crc32c.h"
#include "shmq/error.h"
#include "broker/store/mapsync.h"
#include "common/fsutil.h"
#include "common/array.h"

struct cq_file {
	uint64_t index; /* file index: first queue offset / entries_per_file */
	int fd;
	uint8_t *map;   /* file_bytes, MAP_SHARED */
	_Atomic bool dirty;
};

struct shmq_cq {
	/* Writers: append, truncate, delete_before. Readers: get, last,
	 * search_time, flush. Writer-preferring so consumers cannot starve the
	 * persister. */
	pthread_rwlock_t lock;
	int dirfd;
	uint32_t epf;
	size_t file_bytes;
	struct cq_file *files; /* contiguous indices files[0].index + i (I2) */
	size_t nfiles;
	size_t cap;
	_Atomic uint64_t min; /* files[0].index * epf, or 0 without files */
	_Atomic uint64_t max; /* first all-zero entry (I1) */
	_Atomic bool dir_dirty;
};

/* ---- small file helpers ---- */

static void entry_decode(const uint8_t *p, struct shmq_cq_entry *e)
{
	struct shmq_cq_entry_disk d;

	memcpy(&d, p, sizeof(d));
	e->commitlog_offset = le64toh(d.commitlog_offset);
	e->size = le32toh(d.size);
	e->tag_hash = le64toh(d.tag_hash);
}

static void entry_encode(uint8_t *p, const struct shmq_cq_entry *e)
{
	struct shmq_cq_entry_disk d = {
		.commitlog_offset = htole64(e->commitlog_offset),
		.size = htole32(e->size),
		.tag_hash = htole64(e->tag_hash),
	};

	memcpy(p, &d, sizeof(d));
}

static bool entry_is_zero(const uint8_t *p)
{
	static const uint8_t zero[SHMQ_CQ_ENTRY_SIZE];

	return memcmp(p, zero, SHMQ_CQ_ENTRY_SIZE) == 0;
}

/* Caller holds the lock; offset within [min, max) or the slot at max. */
static uint8_t *entry_ptr(const struct shmq_cq *cq, uint64_t offset)
{
	uint64_t idx = offset / cq->epf;
	struct cq_file *f = &cq->files[idx - cq->files[0].index];

	return f->map + (size_t)(offset % cq->epf) * SHMQ_CQ_ENTRY_SIZE;
}

static struct cq_file *file_of(struct shmq_cq *cq, uint64_t offset)
{
	return &cq->files[offset / cq->epf - cq->files[0].index];
}

static void file_name(char out[SHMQ_CQ_NAME_DIGITS + 1], uint64_t first_offset)
{
	snprintf(out, SHMQ_CQ_NAME_DIGITS + 1, "%020llu", (unsigned long long)first_offset);
}

static void file_unmap(struct shmq_cq *cq, struct cq_file *f)
{
	if (f->map != NULL)
		munmap(f->map, cq->file_bytes);
	if (f->fd >= 0)
		close(f->fd);
	f->map = NULL;
	f->fd = -1;
}

static int files_reserve(struct shmq_cq *cq, size_t n)
{
	void *arr = cq->files;
	int rc = shmq_array_reserve(&arr, &cq->cap, n, sizeof(*cq->files));
	cq->files = arr;
	return rc;
}

/* Map an open data file, growing a short one (a crash between creat and
 * fallocate) with zeroes, which by I1 means "no entries". */
static int file_map(struct shmq_cq *cq, struct cq_file *f)
{
	struct stat st;

	if (fstat(f->fd, &st) != 0)
		return -errno;
	if ((uint64_t)st.st_size > cq->file_bytes)
		return SHMQ_ECORRUPT;
	if ((uint64_t)st.st_size < cq->file_bytes) {
		int rc = posix_fallocate(f->fd, 0, (off_t)cq->file_bytes);
		if (rc == EOPNOTSUPP || rc == EINVAL)
			rc = ftruncate(f->fd, (off_t)cq->file_bytes) == 0 ? 0 : errno;
		if (rc != 0)
			return -rc;
	}
	void *m = mmap(NULL, cq->file_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (m == MAP_FAILED)
		return -errno;
	f->map = m;
	return 0;
}

/* Create data file `index` at the end of the table (caller holds the write
 * lock). O_TRUNC: a file by that name past max can only hold stale bytes. */
static int file_create(struct shmq_cq *cq, uint64_t index)
{
	char name[SHMQ_CQ_NAME_DIGITS + 1];
	int rc = files_reserve(cq, cq->nfiles + 1);

	if (rc != 0)
		return rc;
	file_name(name, index * cq->epf);
	struct cq_file *f = &cq->files[cq->nfiles];
	f->index = index;
	f->map = NULL;
	atomic_init(&f->dirty, true);
	f->fd = openat(cq->dirfd, name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f->fd < 0)
		return -errno;
	rc = file_map(cq, f);
	if (rc != 0) {
		file_unmap(cq, f);
		unlinkat(cq->dirfd, name, 0);
		return rc;
	}
	cq->nfiles++;
	/* relaxed: read by flush under the read lock, which orders it after this
	 * writer's unlock */
	atomic_store_explicit(&cq->dir_dirty, true, memory_order_relaxed);
	return 0;
}

/* Unlink the newest file (caller holds the write lock). */
static int file_drop_last(struct shmq_cq *cq)
{
	char name[SHMQ_CQ_NAME_DIGITS + 1];
	struct cq_file *f = &cq->files[cq->nfiles - 1];

	file_name(name, f->index * cq->epf);
	file_unmap(cq, f);
	cq->nfiles--;
	/* relaxed: see file_create() */
	atomic_store_explicit(&cq->dir_dirty, true, memory_order_relaxed);
	if (unlinkat(cq->dirfd, name, 0) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* ---- meta sidecar ---- */

static uint32_t meta_crc(const struct shmq_cq_meta_disk *m)
{
	return shmq_crc32c(0, m, offsetof(struct shmq_cq_meta_disk, crc));
}

static int meta_write(int dirfd, uint32_t epf)
{
	struct shmq_cq_meta_disk m;
	int fd, rc = 0;

	memset(&m, 0, sizeof(m));
	m.magic = htole32(SHMQ_CQ_META_MAGIC);
	m.version = htole16(SHMQ_CQ_META_VERSION);
	m.entry_size = htole16(SHMQ_CQ_ENTRY_SIZE);
	m.entries_per_file = htole32(epf);
	m.crc = htole32(meta_crc(&m));

	fd = openat(dirfd, SHMQ_CQ_META_NAME ".tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, &m, sizeof(m));
	if (n != (ssize_t)sizeof(m))
		rc = n < 0 ? -errno : -EIO;
	if (rc == 0 && fdatasync(fd) != 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && renameat(dirfd, SHMQ_CQ_META_NAME ".tmp", dirfd, SHMQ_CQ_META_NAME) != 0)
		rc = -errno;
	if (rc == 0 && fsync(dirfd) != 0)
		rc = -errno;
	return rc;
}

/* 0 and *epf; -ENOENT if there is no meta; SHMQ_ECORRUPT / SHMQ_ELAYOUT. */
static int meta_read(int dirfd, uint32_t *epf)
{
	struct shmq_cq_meta_disk m;
	struct stat st;
	int fd = openat(dirfd, SHMQ_CQ_META_NAME, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	ssize_t n = st.st_size == (off_t)sizeof(m) ? pread(fd, &m, sizeof(m), 0) : 0;
	int e = n < 0 ? -errno : 0;
	close(fd);
	if (e != 0)
		return e;
	if (n != (ssize_t)sizeof(m))
		return SHMQ_ECORRUPT;
	if (le32toh(m.magic) != SHMQ_CQ_META_MAGIC || le32toh(m.crc) != meta_crc(&m))
		return SHMQ_ECORRUPT;
	if (le16toh(m.version) != SHMQ_CQ_META_VERSION || le16toh(m.entry_size) != SHMQ_CQ_ENTRY_SIZE)
		return SHMQ_ELAYOUT;
	uint32_t v = le32toh(m.entries_per_file);
	if (v == 0 || v > SHMQ_CQ_MAX_ENTRIES_PER_FILE)
		return SHMQ_ECORRUPT;
	*epf = v;
	return 0;
}

/* ---- directory scan ---- */

static bool parse_name(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= SHMQ_CQ_NAME_DIGITS || s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	if (i != SHMQ_CQ_NAME_DIGITS)
		return false;
	*v = x;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sorted first offsets of every data file in the directory. */
static int list_files(int dirfd, uint64_t **out, size_t *count)
{
	int fd = dup(dirfd);
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (d == NULL) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rewinddir(d);
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (de == NULL) {
			rc = errno ? -errno : 0;
			break;
		}
		uint64_t first;
		if (!parse_name(de->d_name, &first))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, nc * sizeof(*nv));
			if (nv == NULL) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		v[n++] = first;
	}
	closedir(d);
	if (rc != 0) {
		free(v);
		return rc;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_u64);
	*out = v;
	*count = n;
	return 0;
}

/* Files scanned entry by entry at open; earlier files only have their last
 * entry checked. A crash loses at most the writes since the last flush,
 * which the flusher keeps far below one file's worth (RocketMQ checks the
 * same 3 files). */
#define CQ_SCAN_FILES 3

/* Establish I1 after open: max is the first all-zero entry, searched from the
 * start of the first file whose last entry is zero, or from the start of the
 * last CQ_SCAN_FILES files; bytes past it are stale and are zeroed, files
 * past it are deleted. */
static int recover_max(struct shmq_cq *cq)
{
	size_t k, start;

	if (cq->nfiles == 0) {
		atomic_store_explicit(&cq->min, 0, memory_order_relaxed); /* not shared yet */
		atomic_store_explicit(&cq->max, 0, memory_order_relaxed); /* not shared yet */
		return 0;
	}
	start = cq->nfiles > CQ_SCAN_FILES ? cq->nfiles - CQ_SCAN_FILES : 0;
	for (k = 0; k < start; k++) {
		const uint8_t *last = cq->files[k].map + cq->file_bytes - SHMQ_CQ_ENTRY_SIZE;
		if (entry_is_zero(last))
			break;
	}
	if (k < start)
		start = k;

	/* first zero entry at or after files[start] */
	uint32_t i = 0;
	for (k = start; k < cq->nfiles; k++) {
		const uint8_t *m = cq->files[k].map;
		for (i = 0; i < cq->epf; i++)
			if (entry_is_zero(m + (size_t)i * SHMQ_CQ_ENTRY_SIZE))
				break;
		if (i < cq->epf)
			break;
	}
	uint64_t max;
	if (k == cq->nfiles) {
		max = (cq->files[k - 1].index + 1) * cq->epf;
	} else {
		struct cq_file *f = &cq->files[k];
		max = f->index * cq->epf + i;
		size_t tail = cq->file_bytes - (size_t)i * SHMQ_CQ_ENTRY_SIZE;
		uint8_t *p = f->map + (size_t)i * SHMQ_CQ_ENTRY_SIZE;
		for (size_t j = 0; j < tail; j += SHMQ_CQ_ENTRY_SIZE) {
			if (!entry_is_zero(p + j)) {
				memset(p + j, 0, tail - j);
				atomic_store_explicit(&f->dirty, true, memory_order_relaxed); /* not shared yet */
				break;
			}
		}
		/* Keep the file holding max (when max is its base, it stays
		 * mapped and empty); later ones only hold stale bytes. */
		while (cq->nfiles > k + 1) {
			int rc = file_drop_last(cq);
			if (rc != 0)
				return rc;
		}
	}
	atomic_store_explicit(&cq->min, cq->files[0].index * cq->epf, memory_order_relaxed); /* not shared yet */
	atomic_store_explicit(&cq->max, max, memory_order_relaxed); /* not shared yet */
	return 0;
}

static int load_files(struct shmq_cq *cq)
{
	uint64_t *firsts = NULL;
	size_t n = 0;
	int rc = list_files(cq->dirfd, &firsts, &n);

	if (rc != 0)
		return rc;
	rc = files_reserve(cq, n);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (firsts[i] % cq->epf != 0 ||
		    (i > 0 && firsts[i] / cq->epf != firsts[i - 1] / cq->epf + 1)) {
			rc = SHMQ_ECORRUPT; /* misnamed file or a gap: I2 broken */
			break;
		}
		char name[SHMQ_CQ_NAME_DIGITS + 1];
		struct cq_file *f = &cq->files[cq->nfiles];
		file_name(name, firsts[i]);
		f->index = firsts[i] / cq->epf;
		f->map = NULL;
		atomic_init(&f->dirty, false);
		f->fd = openat(cq->dirfd, name, O_RDWR | O_CLOEXEC);
		if (f->fd < 0) {
			rc = -errno;
			break;
		}
		rc = file_map(cq, f);
		if (rc != 0) {
			file_unmap(cq, f);
			break;
		}
		cq->nfiles++;
	}
	free(firsts);
	if (rc == 0)
		rc = recover_max(cq);
	return rc;
}

/* ---- public API ---- */

int shmq_cq_open(const char *dir, uint32_t entries_per_file, shmq_cq_t **out)
{
	if (dir == NULL || out == NULL)
		return -EINVAL;
	*out = NULL;
	/* dir + "/" + 20 digits or "meta.tmp" + NUL */
	if (strlen(dir) + 1 + SHMQ_CQ_NAME_DIGITS + 1 > PATH_MAX)
		return -ENAMETOOLONG;
	if (entries_per_file == 0)
		entries_per_file = SHMQ_CQ_DEFAULT_ENTRIES_PER_FILE;
	if (entries_per_file > SHMQ_CQ_MAX_ENTRIES_PER_FILE)
		return -EINVAL;

	int rc = shmq_mkdir_p(dir);
	if (rc != 0)
		return rc;
	struct shmq_cq *cq = calloc(1, sizeof(*cq));
	if (cq == NULL)
		return -ENOMEM;
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = -pthread_rwlock_init(&cq->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0) {
		free(cq);
		return rc;
	}
	atomic_init(&cq->min, 0);
	atomic_init(&cq->max, 0);
	atomic_init(&cq->dir_dirty, false);
	cq->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cq->dirfd < 0) {
		rc = -errno;
		goto fail;
	}

	uint32_t epf = 0;
	rc = meta_read(cq->dirfd, &epf);
	if (rc == -ENOENT) {
		uint64_t *firsts = NULL;
		size_t n = 0;
		rc = list_files(cq->dirfd, &firsts, &n);
		free(firsts);
		if (rc == 0 && n > 0)
			rc = SHMQ_ECORRUPT; /* data without meta: foreign or damaged */
		if (rc == 0) {
			epf = entries_per_file;
			rc = meta_write(cq->dirfd, epf);
		}
	}
	if (rc != 0)
		goto fail;
	cq->epf = epf;
	cq->file_bytes = (size_t)epf * SHMQ_CQ_ENTRY_SIZE;
	rc = load_files(cq);
	if (rc != 0)
		goto fail;
	*out = cq;
	return 0;
fail:
	shmq_cq_close(cq);
	return rc;
}

void shmq_cq_close(shmq_cq_t *cq)
{
	if (cq == NULL)
		return;
	for (size_t i = 0; i < cq->nfiles; i++)
		file_unmap(cq, &cq->files[i]);
	free(cq->files);
	if (cq->dirfd >= 0)
		close(cq->dirfd);
	pthread_rwlock_destroy(&cq->lock);
	free(cq);
}

uint32_t shmq_cq_entries_per_file(const shmq_cq_t *cq)
{
	return cq->epf;
}

uint64_t shmq_cq_min_offset(const shmq_cq_t *cq)
{
	/* acquire: pairs with the release stores in delete_before/open */
	return atomic_load_explicit(&cq->min, memory_order_acquire);
}

uint64_t shmq_cq_max_offset(const shmq_cq_t *cq)
{
	/* acquire: pairs with the release store in append/truncate, so entries
	 * below the returned max are written */
	return atomic_load_explicit(&cq->max, memory_order_acquire);
}

/* A zero entry below max is a write lost by a crash in a file before the
 * tail (open scans only the tail, see recover_max()). Recovery's replay
 * fills it, if it fits between its neighbours (I3). */
static bool entry_same(const struct shmq_cq_entry *a, const struct shmq_cq_entry *b)
{
	return a->commitlog_offset == b->commitlog_offset && a->size == b->size &&
	       a->tag_hash == b->tag_hash;
}

static int fill_hole(struct shmq_cq *cq, uint64_t q, const struct shmq_cq_entry *e, uint64_t min,
		     uint64_t max)
{
	struct shmq_cq_entry n;

	if (q > min) {
		entry_decode(entry_ptr(cq, q - 1), &n);
		if (n.size != 0 && e->commitlog_offset <= n.commitlog_offset)
			return -EINVAL;
	}
	if (q + 1 < max) {
		entry_decode(entry_ptr(cq, q + 1), &n);
		if (n.size != 0 && e->commitlog_offset >= n.commitlog_offset)
			return -EINVAL;
	}
	entry_encode(entry_ptr(cq, q), e);
	/* release: pairs with the acquire exchange in flush */
	atomic_store_explicit(&file_of(cq, q)->dirty, true, memory_order_release);
	return 0;
}

int shmq_cq_repair(shmq_cq_t *cq, uint64_t queue_offset, const struct shmq_cq_entry *e)
{
	if (e == NULL || e->size == 0)
		return -EINVAL;
	pthread_rwlock_wrlock(&cq->lock);
	/* relaxed: min/max change only under the write lock we hold */
	uint64_t max = atomic_load_explicit(&cq->max, memory_order_relaxed);
	uint64_t min = atomic_load_explicit(&cq->min, memory_order_relaxed);
	int rc;
	if (queue_offset < min || queue_offset >= max) {
		rc = -EINVAL;
	} else {
		struct shmq_cq_entry old;
		entry_decode(entry_ptr(cq, queue_offset), &old);
		if (entry_same(&old, e))
			rc = 0;
		else
			rc = fill_hole(cq, queue_offset, e, min, max) == 0 ? 1 : -EINVAL;
	}
	pthread_rwlock_unlock(&cq->lock);
	return rc;
}

int shmq_cq_append(shmq_cq_t *cq, uint64_t queue_offset, const struct shmq_cq_entry *e)
{
	int rc = 0;

	if (e == NULL || e->size == 0)
		return -EINVAL; /* a zero size would read back as the end (I1) */
	pthread_rwlock_wrlock(&cq->lock);
	/* relaxed: min/max change only under the write lock we hold */
	uint64_t max = atomic_load_explicit(&cq->max, memory_order_relaxed);
	uint64_t min = atomic_load_explicit(&cq->min, memory_order_relaxed);

	if (queue_offset < max) {
		struct shmq_cq_entry old;
		if (queue_offset < min) {
			rc = SHMQ_ESTALE;
			goto out;
		}
		uint8_t *p = entry_ptr(cq, queue_offset);
		if (entry_is_zero(p)) {
			rc = fill_hole(cq, queue_offset, e, min, max);
			goto out;
		}
		entry_decode(p, &old);
		if (!entry_same(&old, e))
			rc = -EINVAL;
		goto out;
	}
	if (queue_offset > max || max == UINT64_MAX) {
		rc = -EINVAL;
		goto out;
	}
	if (max > min) {
		struct shmq_cq_entry prev;
		entry_decode(entry_ptr(cq, max - 1), &prev);
		if (e->commitlog_offset <= prev.commitlog_offset) {
			rc = -EINVAL; /* I3 */
			goto out;
		}
	}
	uint64_t idx = max / cq->epf;
	if (cq->nfiles == 0 || idx > cq->files[cq->nfiles - 1].index) {
		rc = file_create(cq, idx);
		if (rc != 0)
			goto out;
		if (cq->nfiles == 1)
			/* release: pairs with the acquire in shmq_cq_min_offset() */
			atomic_store_explicit(&cq->min, idx * cq->epf, memory_order_release);
	}
	entry_encode(entry_ptr(cq, max), e);
	/* release: pairs with the acquire exchange in flush, so the msync that
	 * follows covers this entry */
	atomic_store_explicit(&file_of(cq, max)->dirty, true, memory_order_release);
	/* release: pairs with the acquire in shmq_cq_max_offset() */
	atomic_store_explicit(&cq->max, max + 1, memory_order_release);
out:
	pthread_rwlock_unlock(&cq->lock);
	return rc;
}

int shmq_cq_get(shmq_cq_t *cq, uint64_t queue_offset, struct shmq_cq_entry *e)
{
	int rc = 0;

	pthread_rwlock_rdlock(&cq->lock);
	/* relaxed: writers change min/max only under the write lock, which our
	 * read lock excludes */
	if (queue_offset >= atomic_load_explicit(&cq->max, memory_order_relaxed))
		rc = SHMQ_ENOTFOUND;
	else if (queue_offset < atomic_load_explicit(&cq->min, memory_order_relaxed))
		rc = SHMQ_ESTALE;
	else {
		entry_decode(entry_ptr(cq, queue_offset), e);
		if (e->size == 0)
			rc = SHMQ_ECORRUPT; /* a lost write; replay fills it */
	}
	pthread_rwlock_unlock(&cq->lock);
	return rc;
}

int shmq_cq_last(shmq_cq_t *cq, struct shmq_cq_entry *e)
{
	int rc = 0;

	pthread_rwlock_rdlock(&cq->lock);
	/* relaxed: stable under the read lock (see shmq_cq_get) */
	uint64_t max = atomic_load_explicit(&cq->max, memory_order_relaxed);
	if (max == atomic_load_explicit(&cq->min, memory_order_relaxed))
		rc = SHMQ_ENOTFOUND;
	else {
		entry_decode(entry_ptr(cq, max - 1), e);
		if (e->size == 0)
			rc = SHMQ_ECORRUPT;
	}
	pthread_rwlock_unlock(&cq->lock);
	return rc;
}

int64_t shmq_cq_truncate(shmq_cq_t *cq, uint64_t commitlog_end)
{
	int rc = 0;

	pthread_rwlock_wrlock(&cq->lock);
	/* relaxed: min/max change only under the write lock we hold */
	uint64_t max = atomic_load_explicit(&cq->max, memory_order_relaxed);
	uint64_t min = atomic_load_explicit(&cq->min, memory_order_relaxed);
	uint64_t n = max;

	/* By I3 the entries past commitlog_end form a suffix. */
	while (n > min) {
		struct shmq_cq_entry e;
		uint8_t *p = entry_ptr(cq, n - 1);
		entry_decode(p, &e);
		/* a zero entry (lost write) in the suffix goes with it */
		if (e.size != 0 && e.commitlog_offset <= commitlog_end &&
		    e.size <= commitlog_end - e.commitlog_offset)
			break;
		memset(p, 0, SHMQ_CQ_ENTRY_SIZE);
		/* relaxed: flush reads it under the read lock, after our unlock */
		atomic_store_explicit(&file_of(cq, n - 1)->dirty, true, memory_order_relaxed);
		n--;
	}
	/* Files wholly past the new end go; the first file stays (it carries
	 * min). */
	while (cq->nfiles > 1 && cq->files[cq->nfiles - 1].index * cq->epf >= n) {
		int r = file_drop_last(cq);
		if (r != 0 && rc == 0)
			rc = r;
	}
	/* release: pairs with the acquire in shmq_cq_max_offset() */
	atomic_store_explicit(&cq->max, n, memory_order_release);
	pthread_rwlock_unlock(&cq->lock);
	return rc != 0 ? rc : (int64_t)(max - n);
}

int shmq_cq_search_time(shmq_cq_t *cq, uint64_t ts_ms, shmq_cq_ts_fn fn, void *arg,
			uint64_t *queue_offset)
{
	int rc = 0;

	if (fn == NULL || queue_offset == NULL)
		return -EINVAL;
	pthread_rwlock_rdlock(&cq->lock);
	/* relaxed: stable under the read lock (see shmq_cq_get) */
	uint64_t lo = atomic_load_explicit(&cq->min, memory_order_relaxed);
	uint64_t hi = atomic_load_explicit(&cq->max, memory_order_relaxed);

	/* Invariant: every readable entry below lo is older than ts_ms, every
	 * readable entry at or past hi is not. An unreadable one (lost, or the
	 * callback says so) is absent: a cursor skips it, so the answer may
	 * land on it, but it never decides which side a readable one is on. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2, p;
		uint64_t ts = 0;
		for (p = mid; p < hi; p++) {
			struct shmq_cq_entry e;
			entry_decode(entry_ptr(cq, p), &e);
			rc = e.size == 0 ? 1 : fn(arg, e.commitlog_offset, &ts);
			if (rc <= 0)
				break;
		}
		if (rc < 0)
			goto out;
		if (p == hi || ts >= ts_ms)
			hi = mid;
		else
			lo = p + 1;
	}
	rc = 0;
	*queue_offset = lo;
out:
	pthread_rwlock_unlock(&cq->lock);
	return rc;
}

int shmq_cq_delete_before(shmq_cq_t *cq, uint64_t min_commitlog_offset)
{
	int deleted = 0, rc = 0;

	pthread_rwlock_wrlock(&cq->lock);
	while (cq->nfiles > 1) {
		/* Not the newest file, so it is full: its last entry holds its
		 * highest commitlog offset (I3). */
		struct cq_file *f = &cq->files[0];
		struct shmq_cq_entry last;
		char name[SHMQ_CQ_NAME_DIGITS + 1];

		/* the newest non-zero entry: a lost write must not pass for a
		 * low offset */
		uint32_t i = cq->epf;
		do
			entry_decode(f->map + (size_t)--i * SHMQ_CQ_ENTRY_SIZE, &last);
		while (last.size == 0 && i > 0);
		if (last.size == 0 || last.commitlog_offset >= min_commitlog_offset)
			break;
		file_name(name, f->index * cq->epf);
		/* Oldest first, so a crash midway leaves a contiguous run (I2). */
		if (unlinkat(cq->dirfd, name, 0) != 0 && errno != ENOENT) {
			rc = -errno;
			break;
		}
		file_unmap(cq, f);
		memmove(&cq->files[0], &cq->files[1], (cq->nfiles - 1) * sizeof(*f));
		cq->nfiles--;
		deleted++;
		/* relaxed: see file_create() */
		atomic_store_explicit(&cq->dir_dirty, true, memory_order_relaxed);
	}
	/* release: pairs with the acquire in shmq_cq_min_offset() */
	if (cq->nfiles > 0)
		atomic_store_explicit(&cq->min, cq->files[0].index * cq->epf, memory_order_release);
	pthread_rwlock_unlock(&cq->lock);
	return rc != 0 ? rc : deleted;
}

void shmq_cq_mark_dirty(shmq_cq_t *cq)
{
	pthread_rwlock_rdlock(&cq->lock);
	for (size_t i = 0; i < cq->nfiles; i++) /* relaxed: read by the next flush, on this thread */
		atomic_store_explicit(&cq->files[i].dirty, true, memory_order_relaxed);
	atomic_store_explicit(&cq->dir_dirty, true, memory_order_relaxed);
	pthread_rwlock_unlock(&cq->lock);
}

int shmq_cq_flush(shmq_cq_t *cq)
{
	int rc = 0;

	pthread_rwlock_rdlock(&cq->lock);
	for (size_t i = 0; i < cq->nfiles; i++)
		shmq_msync_if_dirty(cq->files[i].map, cq->file_bytes, &cq->files[i].dirty, &rc);
	shmq_fsync_dir_if_dirty(cq->dirfd, &cq->dir_dirty, &rc);
	pthread_rwlock_unlock(&cq->lock);
	return rc;
}
