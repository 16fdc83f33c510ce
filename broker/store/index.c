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

#include "broker/store/index.h"
#include "broker/store/index_layout.h"
#include "common/crc32c.h"
#include "shmq/error.h"
#include "broker/store/mapsync.h"
#include "common/fsutil.h"
#include "common/array.h"

struct ix_file {
	uint64_t seq;        /* from the file name */
	int fd;
	uint8_t *map;        /* bytes, MAP_SHARED */
	size_t bytes;
	uint32_t slots;      /* geometry, validated at open, immutable */
	uint32_t max_entries;
	_Atomic bool dirty;
};

struct shmq_index {
	/* Writers: put, truncate, delete_before. Readers: query, flush. */
	pthread_rwlock_t lock;
	int dirfd;
	uint32_t slots;       /* geometry for new files */
	uint32_t max_entries;
	struct ix_file *files; /* ascending seq; the last one takes puts */
	size_t nfiles;
	size_t cap;
	uint64_t next_seq;
	_Atomic uint64_t max_off; /* highest offset indexed + 1, 0 if none */
	_Atomic bool dir_dirty;
};

/* ---- hashing (on disk: never change) ---- */

uint64_t shmq_index_key_hash(const void *key, size_t key_len)
{
	const unsigned char *p = key;
	uint64_t h = 14695981039346656037ull; /* FNV-1a 64 offset basis */

	for (size_t i = 0; i < key_len; i++) {
		h ^= p[i];
		h *= 1099511628211ull; /* FNV-1a 64 prime */
	}
	/* fmix64: FNV's low bits mix poorly, and slot = hash % slot_count */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* ---- file accessors (caller holds the lock) ---- */

struct ix_entry {
	uint64_t key_hash;
	uint64_t offset;
	uint32_t delta;
	uint32_t prev;
};

static struct shmq_index_header_disk *hdr(const struct ix_file *f)
{
	return (struct shmq_index_header_disk *)(void *)f->map;
}

/* entry_count is re-validated at open and only written by us, but clamp
 * anyway so a scribbled header can never push a read past the mapping. */
static uint32_t hdr_count(const struct ix_file *f)
{
	uint32_t c = le32toh(hdr(f)->entry_count);

	return c > f->max_entries ? f->max_entries : c;
}

static uint8_t *slot_ptr(const struct ix_file *f, uint32_t slot)
{
	return f->map + SHMQ_INDEX_HEADER_SIZE + (size_t)slot * SHMQ_INDEX_SLOT_SIZE;
}

static uint32_t slot_get(const struct ix_file *f, uint32_t slot)
{
	uint32_t v;

	memcpy(&v, slot_ptr(f, slot), sizeof(v));
	return le32toh(v);
}

static void slot_set(struct ix_file *f, uint32_t slot, uint32_t n)
{
	uint32_t v = htole32(n);

	memcpy(slot_ptr(f, slot), &v, sizeof(v));
}

/* n in [1, max_entries] */
static uint8_t *entry_ptr(const struct ix_file *f, uint32_t n)
{
	return f->map + SHMQ_INDEX_HEADER_SIZE + (size_t)f->slots * SHMQ_INDEX_SLOT_SIZE +
	       (size_t)(n - 1) * SHMQ_INDEX_ENTRY_SIZE;
}

static void entry_get(const struct ix_file *f, uint32_t n, struct ix_entry *e)
{
	struct shmq_index_entry_disk d;

	memcpy(&d, entry_ptr(f, n), sizeof(d));
	e->key_hash = le64toh(d.key_hash);
	e->offset = le64toh(d.commitlog_offset);
	e->delta = le32toh(d.time_delta_ms);
	e->prev = le32toh(d.prev);
}

static void entry_set(struct ix_file *f, uint32_t n, const struct ix_entry *e)
{
	struct shmq_index_entry_disk d = {
		.key_hash = htole64(e->key_hash),
		.commitlog_offset = htole64(e->offset),
		.time_delta_ms = htole32(e->delta),
		.prev = htole32(e->prev),
	};

	memcpy(entry_ptr(f, n), &d, sizeof(d));
}

/* Next step of a chain from entry n, or 0 where X2 says the chain ends. */
static uint32_t chain_next(uint32_t n, uint32_t prev)
{
	return prev < n ? prev : 0;
}

static uint64_t entry_time(const struct shmq_index_header_disk *h, uint32_t delta)
{
	uint64_t b = le64toh(h->begin_ts_ms);

	return b > UINT64_MAX - delta ? UINT64_MAX : b + delta;
}

static size_t file_bytes(uint32_t slots, uint32_t max_entries)
{
	return SHMQ_INDEX_HEADER_SIZE + (size_t)slots * SHMQ_INDEX_SLOT_SIZE +
	       (size_t)max_entries * SHMQ_INDEX_ENTRY_SIZE;
}

static uint32_t geometry_crc(const struct shmq_index_header_disk *h)
{
	return shmq_crc32c(0, h, offsetof(struct shmq_index_header_disk, geometry_crc));
}

static void file_name(char out[SHMQ_INDEX_NAME_DIGITS + 5], uint64_t seq, bool tmp)
{
	snprintf(out, SHMQ_INDEX_NAME_DIGITS + 5, "%020llu%s", (unsigned long long)seq,
		 tmp ? ".tmp" : "");
}

static void file_unmap(struct ix_file *f)
{
	if (f->map != NULL)
		munmap(f->map, f->bytes);
	if (f->fd >= 0)
		close(f->fd);
	f->map = NULL;
	f->fd = -1;
}

static int files_reserve(struct shmq_index *ix, size_t n)
{
	void *arr = ix->files;
	int rc = shmq_array_reserve(&arr, &ix->cap, n, sizeof(*ix->files));
	ix->files = arr;
	return rc;
}

static void mark_dir_dirty(struct shmq_index *ix)
{
	/* relaxed: set under the write lock; flush reads it under the read
	 * lock, which the unlock/lock pair orders after this store */
	atomic_store_explicit(&ix->dir_dirty, true, memory_order_relaxed);
}

static void mark_dirty(struct ix_file *f)
{
	/* release: pairs with the acquire exchange in flush, so its msync
	 * covers every byte written before */
	atomic_store_explicit(&f->dirty, true, memory_order_release);
}

static void recompute_max(struct shmq_index *ix)
{
	uint64_t m = 0;

	for (size_t i = ix->nfiles; i-- > 0;) {
		if (hdr_count(&ix->files[i]) > 0) {
			uint64_t last = le64toh(hdr(&ix->files[i])->last_offset);
			m = last == UINT64_MAX ? UINT64_MAX : last + 1;
			break;
		}
	}
	/* release: pairs with the acquire in shmq_index_max_commitlog_offset() */
	atomic_store_explicit(&ix->max_off, m, memory_order_release);
}

/* ---- file creation / loading ---- */

/* Built as <seq>.tmp, made durable, then renamed: a file under its final
 * name always has a valid header. */
static int file_create(struct shmq_index *ix)
{
	char tmp[SHMQ_INDEX_NAME_DIGITS + 5], name[SHMQ_INDEX_NAME_DIGITS + 5];
	int rc = files_reserve(ix, ix->nfiles + 1);

	if (rc != 0)
		return rc;
	struct ix_file *f = &ix->files[ix->nfiles];
	f->seq = ix->next_seq;
	f->slots = ix->slots;
	f->max_entries = ix->max_entries;
	f->bytes = file_bytes(ix->slots, ix->max_entries);
	f->map = NULL;
	atomic_init(&f->dirty, false);
	file_name(tmp, f->seq, true);
	file_name(name, f->seq, false);
	f->fd = openat(ix->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f->fd < 0)
		return -errno;
	rc = posix_fallocate(f->fd, 0, (off_t)f->bytes);
	if (rc == EOPNOTSUPP || rc == EINVAL)
		rc = ftruncate(f->fd, (off_t)f->bytes) == 0 ? 0 : errno;
	rc = -rc;
	if (rc == 0) {
		void *m = mmap(NULL, f->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
		if (m == MAP_FAILED)
			rc = -errno;
		else
			f->map = m;
	}
	if (rc == 0) {
		struct shmq_index_header_disk *h = hdr(f);
		memset(h, 0, sizeof(*h));
		h->magic = htole32(SHMQ_INDEX_MAGIC);
		h->version = htole16(SHMQ_INDEX_VERSION);
		h->entry_size = htole16(SHMQ_INDEX_ENTRY_SIZE);
		h->slot_count = htole32(f->slots);
		h->max_entries = htole32(f->max_entries);
		h->geometry_crc = htole32(geometry_crc(h));
		if (msync(f->map, SHMQ_INDEX_HEADER_SIZE, MS_SYNC) != 0)
			rc = -errno;
	}
	if (rc == 0 && renameat(ix->dirfd, tmp, ix->dirfd, name) != 0)
		rc = -errno;
	if (rc != 0) {
		file_unmap(f);
		unlinkat(ix->dirfd, tmp, 0);
		return rc;
	}
	ix->nfiles++;
	ix->next_seq++;
	mark_dir_dirty(ix);
	return 0;
}

static int file_load(struct shmq_index *ix, uint64_t seq)
{
	char name[SHMQ_INDEX_NAME_DIGITS + 5];
	struct shmq_index_header_disk h;
	struct stat st;
	int rc = files_reserve(ix, ix->nfiles + 1);

	if (rc != 0)
		return rc;
	struct ix_file *f = &ix->files[ix->nfiles];
	f->seq = seq;
	f->map = NULL;
	atomic_init(&f->dirty, false);
	file_name(name, seq, false);
	f->fd = openat(ix->dirfd, name, O_RDWR | O_CLOEXEC);
	if (f->fd < 0)
		return -errno;
	if (fstat(f->fd, &st) != 0) {
		rc = -errno;
		goto fail;
	}
	if (st.st_size < (off_t)sizeof(h) ||
	    pread(f->fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		rc = SHMQ_ECORRUPT;
		goto fail;
	}
	rc = SHMQ_ECORRUPT;
	if (le32toh(h.magic) != SHMQ_INDEX_MAGIC || le32toh(h.geometry_crc) != geometry_crc(&h))
		goto fail;
	rc = SHMQ_ELAYOUT;
	if (le16toh(h.version) != SHMQ_INDEX_VERSION || le16toh(h.entry_size) != SHMQ_INDEX_ENTRY_SIZE)
		goto fail;
	rc = SHMQ_ECORRUPT;
	f->slots = le32toh(h.slot_count);
	f->max_entries = le32toh(h.max_entries);
	if (f->slots == 0 || f->slots > SHMQ_INDEX_MAX_SLOTS || f->max_entries == 0 ||
	    f->max_entries > SHMQ_INDEX_MAX_ENTRIES)
		goto fail;
	f->bytes = file_bytes(f->slots, f->max_entries);
	if ((uint64_t)st.st_size != f->bytes)
		goto fail;
	uint32_t count = le32toh(h.entry_count);
	if (count > f->max_entries)
		goto fail;
	if (count > 0 && (le64toh(h.begin_offset) > le64toh(h.last_offset) ||
			  le64toh(h.begin_ts_ms) > le64toh(h.end_ts_ms)))
		goto fail;
	void *m = mmap(NULL, f->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (m == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	f->map = m;
	ix->nfiles++;
	return 0;
fail:
	file_unmap(f);
	return rc;
}

static bool parse_name(const char *s, uint64_t *v, bool *tmp)
{
	uint64_t x = 0;
	size_t i;

	for (i = 0; i < SHMQ_INDEX_NAME_DIGITS; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	if (s[i] == '\0')
		*tmp = false;
	else if (strcmp(s + i, ".tmp") == 0)
		*tmp = true;
	else
		return false;
	*v = x;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int load_dir(struct shmq_index *ix)
{
	int fd = dup(ix->dirfd);
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
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (de == NULL) {
			rc = errno ? -errno : 0;
			break;
		}
		uint64_t seq;
		bool tmp;
		if (!parse_name(de->d_name, &seq, &tmp))
			continue;
		if (tmp) {
			/* a creation cut short by a crash: never published */
			unlinkat(ix->dirfd, de->d_name, 0);
			continue;
		}
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
		v[n++] = seq;
	}
	closedir(d);
	if (rc == 0 && n > 1)
		qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = file_load(ix, v[i]);
	if (rc == 0 && n > 0)
		ix->next_seq = v[n - 1] + 1;
	free(v);
	if (rc == 0)
		recompute_max(ix);
	return rc;
}

/* ---- public API ---- */

int shmq_index_open(const char *dir, const struct shmq_index_opts *o, shmq_index_t **out)
{
	uint32_t slots = SHMQ_INDEX_DEFAULT_SLOTS, entries = SHMQ_INDEX_DEFAULT_ENTRIES;

	if (dir == NULL || out == NULL)
		return -EINVAL;
	*out = NULL;
	if (strlen(dir) + 1 + SHMQ_INDEX_NAME_DIGITS + 5 > PATH_MAX)
		return -ENAMETOOLONG;
	if (o != NULL) {
		/* read only the fields the caller's struct has */
		if (o->sz >= offsetof(struct shmq_index_opts, slots) + sizeof(o->slots) && o->slots)
			slots = o->slots;
		if (o->sz >= offsetof(struct shmq_index_opts, max_entries) + sizeof(o->max_entries) &&
		    o->max_entries)
			entries = o->max_entries;
	}
	if (slots > SHMQ_INDEX_MAX_SLOTS || entries > SHMQ_INDEX_MAX_ENTRIES)
		return -EINVAL;

	int rc = shmq_mkdir_p(dir);
	if (rc != 0)
		return rc;
	struct shmq_index *ix = calloc(1, sizeof(*ix));
	if (ix == NULL)
		return -ENOMEM;
	ix->dirfd = -1;
	pthread_rwlockattr_t attr;
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = -pthread_rwlock_init(&ix->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	if (rc != 0) {
		free(ix);
		return rc;
	}
	ix->slots = slots;
	ix->max_entries = entries;
	atomic_init(&ix->max_off, 0);
	atomic_init(&ix->dir_dirty, false);
	ix->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ix->dirfd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = load_dir(ix);
	if (rc != 0)
		goto fail;
	*out = ix;
	return 0;
fail:
	shmq_index_close(ix);
	return rc;
}

void shmq_index_close(shmq_index_t *ix)
{
	if (ix == NULL)
		return;
	for (size_t i = 0; i < ix->nfiles; i++)
		file_unmap(&ix->files[i]);
	free(ix->files);
	if (ix->dirfd >= 0)
		close(ix->dirfd);
	pthread_rwlock_destroy(&ix->lock);
	free(ix);
}

uint64_t shmq_index_max_commitlog_offset(const shmq_index_t *ix)
{
	/* acquire: pairs with the release stores in put/recompute_max() */
	return atomic_load_explicit(&ix->max_off, memory_order_acquire);
}

unsigned shmq_index_file_count(const shmq_index_t *ix)
{
	return (unsigned)ix->nfiles;
}

/* True if (hash, offset) is already in f's chain for hash: the chain is
 * newest first and offsets descend along it (X1), so the walk stops early. */
static bool already_indexed(const struct ix_file *f, uint64_t hash, uint64_t offset)
{
	uint32_t count = hdr_count(f);
	uint32_t n = slot_get(f, (uint32_t)(hash % f->slots));

	while (n >= 1 && n <= count) {
		struct ix_entry e;
		entry_get(f, n, &e);
		if (e.offset < offset)
			break;
		if (e.offset == offset && e.key_hash == hash)
			return true;
		n = chain_next(n, e.prev);
	}
	return false;
}

int shmq_index_put(shmq_index_t *ix, const void *key, size_t key_len, uint64_t commitlog_offset,
		   uint64_t store_ts_ms)
{
	int rc = 0;

	if (key == NULL && key_len > 0)
		return -EINVAL;
	uint64_t hash = shmq_index_key_hash(key, key_len);

	pthread_rwlock_wrlock(&ix->lock);
	/* relaxed: max_off changes only under the write lock we hold */
	uint64_t max = atomic_load_explicit(&ix->max_off, memory_order_relaxed);
	if (max > 0 && commitlog_offset < max - 1)
		goto out; /* K2: older than the newest message indexed */

	struct ix_file *f = ix->nfiles ? &ix->files[ix->nfiles - 1] : NULL;
	if (f != NULL && max > 0 && commitlog_offset == max - 1 &&
	    already_indexed(f, hash, commitlog_offset))
		goto out; /* K2: replay of a key of the newest message */

	if (f != NULL) {
		uint32_t count = hdr_count(f);
		uint64_t begin = le64toh(hdr(f)->begin_ts_ms);
		if (count >= f->max_entries ||
		    (count > 0 && store_ts_ms > begin && store_ts_ms - begin > UINT32_MAX))
			f = NULL; /* full, or the time delta would not fit */
	}
	if (f == NULL) {
		rc = file_create(ix);
		if (rc != 0)
			goto out;
		f = &ix->files[ix->nfiles - 1];
	}

	struct shmq_index_header_disk *h = hdr(f);
	uint32_t count = hdr_count(f);
	uint32_t n = count + 1;
	uint32_t slot = (uint32_t)(hash % f->slots);
	if (count == 0) {
		h->begin_ts_ms = htole64(store_ts_ms);
		h->end_ts_ms = htole64(store_ts_ms);
		h->begin_offset = htole64(commitlog_offset);
	}
	uint64_t begin = le64toh(h->begin_ts_ms);
	struct ix_entry e = {
		.key_hash = hash,
		.offset = commitlog_offset,
		.delta = store_ts_ms > begin ? (uint32_t)(store_ts_ms - begin) : 0,
		/* a head outside [1, count] (garbage, or lost in a crash) cannot
		 * be linked to: the chain starts afresh (X2) */
		.prev = chain_next(n, slot_get(f, slot)),
	};
	entry_set(f, n, &e);
	slot_set(f, slot, n);
	if (store_ts_ms > le64toh(h->end_ts_ms))
		h->end_ts_ms = htole64(store_ts_ms);
	h->last_offset = htole64(commitlog_offset);
	h->entry_count = htole32(n);
	mark_dirty(f);
	/* release: pairs with the acquire in shmq_index_max_commitlog_offset() */
	atomic_store_explicit(&ix->max_off, commitlog_offset + 1, memory_order_release);
out:
	pthread_rwlock_unlock(&ix->lock);
	return rc;
}

int shmq_index_query(shmq_index_t *ix, const void *key, size_t key_len, uint64_t begin_ms,
		     uint64_t end_ms, uint64_t *offsets, unsigned max)
{
	unsigned found = 0;

	if ((key == NULL && key_len > 0) || (offsets == NULL && max > 0))
		return -EINVAL;
	if (max == 0 || begin_ms > end_ms)
		return 0;
	if (max > INT_MAX)
		max = INT_MAX;
	uint64_t hash = shmq_index_key_hash(key, key_len);

	pthread_rwlock_rdlock(&ix->lock);
	for (size_t i = ix->nfiles; i-- > 0 && found < max;) {
		const struct ix_file *f = &ix->files[i];
		const struct shmq_index_header_disk *h = hdr(f);
		uint32_t count = hdr_count(f);
		if (count == 0 || le64toh(h->end_ts_ms) < begin_ms || le64toh(h->begin_ts_ms) > end_ms)
			continue;
		uint64_t lo = le64toh(h->begin_offset), hi = le64toh(h->last_offset);
		uint32_t n = slot_get(f, (uint32_t)(hash % f->slots));
		/* X2: n strictly decreases, so at most `count` steps */
		while (n >= 1 && n <= count && found < max) {
			struct ix_entry e;
			entry_get(f, n, &e);
			uint64_t t = entry_time(h, e.delta);
			if (e.key_hash == hash && e.offset >= lo && e.offset <= hi && t >= begin_ms &&
			    t <= end_ms)
				offsets[found++] = e.offset;
			n = chain_next(n, e.prev);
		}
	}
	pthread_rwlock_unlock(&ix->lock);
	return (int)found;
}

static int drop_newest(struct shmq_index *ix)
{
	char name[SHMQ_INDEX_NAME_DIGITS + 5];
	struct ix_file *f = &ix->files[ix->nfiles - 1];

	file_name(name, f->seq, false);
	file_unmap(f);
	ix->nfiles--;
	mark_dir_dirty(ix);
	if (unlinkat(ix->dirfd, name, 0) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Keep entries 1..k of f (X1: the rest are the ones past the cut). */
static void trim_file(struct ix_file *f, uint32_t k)
{
	struct shmq_index_header_disk *h = hdr(f);
	uint32_t count = hdr_count(f);

	/* Relink every chain whose head is in the dropped suffix. Each dropped
	 * entry lies on one chain, so this is O(slots + dropped). */
	for (uint32_t s = 0; s < f->slots; s++) {
		uint32_t n = slot_get(f, s);
		uint32_t orig = n;
		while (n > k) {
			if (n > count) {
				n = 0;
				break;
			}
			struct ix_entry e;
			entry_get(f, n, &e);
			n = chain_next(n, e.prev);
		}
		if (n != orig)
			slot_set(f, s, n);
	}
	if (count > k)
		memset(entry_ptr(f, k + 1), 0, (size_t)(count - k) * SHMQ_INDEX_ENTRY_SIZE);
	if (k == 0) {
		h->begin_ts_ms = 0;
		h->end_ts_ms = 0;
		h->begin_offset = 0;
		h->last_offset = 0;
	} else {
		struct ix_entry e;
		uint32_t max_delta = 0;
		for (uint32_t n = 1; n <= k; n++) {
			entry_get(f, n, &e);
			if (e.delta > max_delta)
				max_delta = e.delta;
		}
		entry_get(f, k, &e);
		h->last_offset = htole64(e.offset);
		h->end_ts_ms = htole64(entry_time(h, max_delta));
	}
	h->entry_count = htole32(k);
	mark_dirty(f);
}

int shmq_index_truncate(shmq_index_t *ix, uint64_t commitlog_end)
{
	int rc = 0;

	pthread_rwlock_wrlock(&ix->lock);
	while (ix->nfiles > 0) {
		struct ix_file *f = &ix->files[ix->nfiles - 1];
		if (hdr_count(f) > 0 && le64toh(hdr(f)->begin_offset) < commitlog_end)
			break;
		rc = drop_newest(ix);
		if (rc != 0)
			goto out;
	}
	if (ix->nfiles > 0) {
		struct ix_file *f = &ix->files[ix->nfiles - 1];
		if (le64toh(hdr(f)->last_offset) >= commitlog_end) {
			uint32_t k = hdr_count(f);
			struct ix_entry e;
			while (k > 0) {
				entry_get(f, k, &e);
				if (e.offset < commitlog_end)
					break;
				k--;
			}
			trim_file(f, k);
		}
	}
	/* Older files are below the newest's begin_offset (X1), hence below
	 * commitlog_end; a scribbled header could still break that, so clamp. */
	recompute_max(ix);
	if (atomic_load_explicit(&ix->max_off, memory_order_relaxed) > commitlog_end) /* relaxed: we wrote it */
		/* release: pairs with the acquire in shmq_index_max_commitlog_offset() */
		atomic_store_explicit(&ix->max_off, commitlog_end, memory_order_release);
out:
	pthread_rwlock_unlock(&ix->lock);
	return rc;
}

int shmq_index_delete_before(shmq_index_t *ix, uint64_t min_commitlog_offset)
{
	int deleted = 0, rc = 0;

	pthread_rwlock_wrlock(&ix->lock);
	while (ix->nfiles > 1) {
		struct ix_file *f = &ix->files[0];
		char name[SHMQ_INDEX_NAME_DIGITS + 5];
		if (hdr_count(f) > 0 && le64toh(hdr(f)->last_offset) >= min_commitlog_offset)
			break;
		file_name(name, f->seq, false);
		if (unlinkat(ix->dirfd, name, 0) != 0 && errno != ENOENT) {
			rc = -errno;
			break;
		}
		file_unmap(f);
		memmove(&ix->files[0], &ix->files[1], (ix->nfiles - 1) * sizeof(*f));
		ix->nfiles--;
		deleted++;
		mark_dir_dirty(ix);
	}
	pthread_rwlock_unlock(&ix->lock);
	return rc != 0 ? rc : deleted;
}

void shmq_index_mark_dirty(shmq_index_t *ix)
{
	pthread_rwlock_rdlock(&ix->lock);
	for (size_t i = 0; i < ix->nfiles; i++) /* relaxed: read by the next flush, on this thread */
		atomic_store_explicit(&ix->files[i].dirty, true, memory_order_relaxed);
	atomic_store_explicit(&ix->dir_dirty, true, memory_order_relaxed);
	pthread_rwlock_unlock(&ix->lock);
}

int shmq_index_flush(shmq_index_t *ix)
{
	int rc = 0;

	pthread_rwlock_rdlock(&ix->lock);
	for (size_t i = 0; i < ix->nfiles; i++)
		shmq_msync_if_dirty(ix->files[i].map, ix->files[i].bytes, &ix->files[i].dirty, &rc);
	shmq_fsync_dir_if_dirty(ix->dirfd, &ix->dir_dirty, &rc);
	pthread_rwlock_unlock(&ix->lock);
	return rc;
}
