/* SPDX-License-Identifier: Apache-2.0 */
/* Topic registry: see broker/topics.h (T1-T3). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "broker/topics.h"
#include "common/ctl_codec.h"
#include "shmq/error.h"
#include "common/errbuf.h"
#include "common/fsutil.h"

#define TOPICS_VERSION 1

struct shmq_topics {
	pthread_rwlock_t lock;
	char dir[PATH_MAX];       /* <store>/config */
	char path[PATH_MAX];      /* <store>/config/topics.json */
	char tmp[PATH_MAX];       /* <store>/config/topics.json.tmp */
	struct shmq_topic_info *v; /* sorted by strcmp(name) */
	size_t n, cap;
};


/* Index of name, or -(insertion point) - 1. Caller holds the lock. */
static long find(const shmq_topics_t *t, const char *name)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(t->v[mid].name, name);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static int reserve(shmq_topics_t *t, size_t want)
{
	if (want <= t->cap)
		return 0;
	size_t ncap = t->cap ? t->cap * 2 : 16;
	while (ncap < want)
		ncap *= 2;
	struct shmq_topic_info *nv = realloc(t->v, ncap * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	t->v = nv;
	t->cap = ncap;
	return 0;
}

/* T1: write v[0..n) to tmp, fsync, rename, fsync the directory. */
static int persist(shmq_topics_t *t, const struct shmq_topic_info *v, size_t n)
{
	json_object *root = json_object_new_object();
	json_object *arr = json_object_new_array();
	int r;

	if (!root || !arr) {
		json_object_put(root);
		json_object_put(arr);
		return -ENOMEM;
	}
	json_object_object_add(root, "version", json_object_new_int(TOPICS_VERSION));
	json_object_object_add(root, "topics", arr);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		if (!o) {
			json_object_put(root);
			return -ENOMEM;
		}
		json_object_object_add(o, "name", json_object_new_string(v[i].name));
		json_object_object_add(o, "queues", json_object_new_int64(v[i].queues));
		json_object_object_add(o, "created_ns", json_object_new_int64((int64_t)v[i].created_ns));
		json_object_array_add(arr, o);
	}
	size_t len;
	const char *s = json_object_to_json_string_length(root, JSON_C_TO_STRING_PRETTY |
								JSON_C_TO_STRING_SPACED, &len);
	if (!s) {
		json_object_put(root);
		return -ENOMEM;
	}
	r = shmq_file_replace(t->path, t->tmp, t->dir, s, len);
	json_object_put(root);
	return r;
}

static int get_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *v,
		   size_t idx, char *err, size_t errlen, const char *path)
{
	json_object *x;

	if (!json_object_object_get_ex(o, key, &x) || !json_object_is_type(x, json_type_int)) {
		shmq_errbuf_set(err, errlen, "%s: topics[%zu]: '%s' missing or not an integer", path, idx, key);
		return SHMQ_ECORRUPT;
	}
	int64_t val = json_object_get_int64(x);
	/* json-c saturates out-of-range numbers; values outside [min, max]
	 * (which excludes the saturated extremes) are refused below */
	if (val < min || val > max) {
		shmq_errbuf_set(err, errlen, "%s: topics[%zu]: '%s' = %lld out of range [%lld, %lld]", path,
			idx, key, (long long)val, (long long)min, (long long)max);
		return SHMQ_ECORRUPT;
	}
	*v = val;
	return 0;
}

static int parse_registry(shmq_topics_t *t, const char *text, size_t len, char *err,
			  size_t errlen)
{
	const char *path = t->path;
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_object *root = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t consumed = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	int r = SHMQ_ECORRUPT;

	if (!root || je != json_tokener_success) {
		shmq_errbuf_set(err, errlen, "%s: JSON syntax error at byte %zu: %s", path, consumed,
			je == json_tokener_continue ? "unexpected end of file"
						    : json_tokener_error_desc(je));
		goto out;
	}
	for (size_t i = consumed; i < len; i++)
		if (text[i] != ' ' && text[i] != '\n' && text[i] != '\t' && text[i] != '\r') {
			shmq_errbuf_set(err, errlen, "%s: trailing data at byte %zu", path, i);
			goto out;
		}
	if (!json_object_is_type(root, json_type_object)) {
		shmq_errbuf_set(err, errlen, "%s: top level is not an object", path);
		goto out;
	}
	json_object *ver, *arr;
	if (!json_object_object_get_ex(root, "version", &ver) || !json_object_is_type(ver, json_type_int) ||
	    json_object_get_int64(ver) != TOPICS_VERSION) {
		shmq_errbuf_set(err, errlen, "%s: 'version' missing or not %d", path, TOPICS_VERSION);
		goto out;
	}
	if (!json_object_object_get_ex(root, "topics", &arr) || !json_object_is_type(arr, json_type_array)) {
		shmq_errbuf_set(err, errlen, "%s: 'topics' missing or not an array", path);
		goto out;
	}
	if (json_object_object_length(root) != 2) {
		shmq_errbuf_set(err, errlen, "%s: unknown top-level fields (expected version, topics)", path);
		goto out;
	}
	size_t n = json_object_array_length(arr);
	if (n > SHMQ_TOPICS_MAX) {
		shmq_errbuf_set(err, errlen, "%s: %zu topics, more than %u", path, n, SHMQ_TOPICS_MAX);
		goto out;
	}
	if (reserve(t, n) < 0) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i), *name;
		if (!json_object_is_type(o, json_type_object) || json_object_object_length(o) != 3) {
			shmq_errbuf_set(err, errlen, "%s: topics[%zu]: not an object with exactly name, queues, created_ns",
				path, i);
			goto out;
		}
		if (!json_object_object_get_ex(o, "name", &name) || !json_object_is_type(name, json_type_string)) {
			shmq_errbuf_set(err, errlen, "%s: topics[%zu]: 'name' missing or not a string", path, i);
			goto out;
		}
		const char *s = json_object_get_string(name);
		/* a NUL inside the JSON string would make strlen disagree */
		if ((size_t)json_object_get_string_len(name) != strlen(s) || shmq_ctl_name_check(s) < 0) {
			shmq_errbuf_set(err, errlen, "%s: topics[%zu]: invalid topic name", path, i);
			goto out;
		}
		int64_t q, c;
		if ((r = get_int(o, "queues", 1, SHMQ_TOPICS_MAX_QUEUES, &q, i, err, errlen, path)) ||
		    (r = get_int(o, "created_ns", 0, INT64_MAX - 1, &c, i, err, errlen, path)))
			goto out;
		r = SHMQ_ECORRUPT;
		long pos = find(t, s);
		if (pos >= 0) {
			shmq_errbuf_set(err, errlen, "%s: topics[%zu]: duplicate topic '%s'", path, i, s);
			goto out;
		}
		size_t at = (size_t)(-pos - 1);
		memmove(&t->v[at + 1], &t->v[at], (t->n - at) * sizeof(t->v[0]));
		memset(&t->v[at], 0, sizeof(t->v[at]));
		memcpy(t->v[at].name, s, strlen(s));
		t->v[at].queues = (uint32_t)q;
		t->v[at].created_ns = (uint64_t)c;
		t->n++;
	}
	r = 0;
out:
	json_object_put(root);
	if (r != 0)
		t->n = 0; /* T3: nothing half-loaded */
	return r;
}

static int load(shmq_topics_t *t, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int r = shmq_file_read_small(t->path, SHMQ_TOPICS_FILE_MAX, &buf, &len, err, errlen);

	if (r == -ENOENT)
		return 0; /* a fresh store */
	if (r < 0)
		return r;
	r = parse_registry(t, buf, len, err, errlen);
	free(buf);
	return r;
}

int shmq_topics_open(shmq_topics_t **out, const char *store_dir, char *err, size_t errlen)
{
	if (!out || !store_dir || !*store_dir) {
		shmq_errbuf_set(err, errlen, "no store directory");
		return -EINVAL;
	}
	shmq_topics_t *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	if ((size_t)snprintf(t->dir, sizeof(t->dir), "%s/config", store_dir) >= sizeof(t->dir) ||
	    (size_t)snprintf(t->path, sizeof(t->path), "%s/topics.json", t->dir) >= sizeof(t->path) ||
	    (size_t)snprintf(t->tmp, sizeof(t->tmp), "%s/topics.json.tmp", t->dir) >= sizeof(t->tmp)) {
		free(t);
		shmq_errbuf_set(err, errlen, "store path too long");
		return -ENAMETOOLONG;
	}
	if (mkdir(store_dir, 0750) != 0 && errno != EEXIST) {
		int e = errno;
		shmq_errbuf_set(err, errlen, "%s: %s", store_dir, strerror(e));
		free(t);
		return -e;
	}
	if (mkdir(t->dir, 0750) != 0 && errno != EEXIST) {
		int e = errno;
		shmq_errbuf_set(err, errlen, "%s: %s", t->dir, strerror(e));
		free(t);
		return -e;
	}
	int r = load(t, err, errlen);
	if (r < 0) {
		free(t->v);
		free(t);
		return r;
	}
	r = pthread_rwlock_init(&t->lock, NULL);
	if (r != 0) {
		free(t->v);
		free(t);
		return -r;
	}
	*out = t;
	return 0;
}

void shmq_topics_close(shmq_topics_t *t)
{
	if (!t)
		return;
	pthread_rwlock_destroy(&t->lock);
	free(t->v);
	free(t);
}

/* Caller holds the write lock. */
static int create_locked(shmq_topics_t *t, const char *name, uint32_t queues,
			 struct shmq_topic_info *out)
{
	long pos = find(t, name);
	if (pos >= 0) {
		if (out)
			*out = t->v[pos];
		return -EEXIST;
	}
	if (t->n >= SHMQ_TOPICS_MAX)
		return -ENOSPC;
	int r = reserve(t, t->n + 1);
	if (r < 0)
		return r;
	size_t at = (size_t)(-pos - 1);
	struct shmq_topic_info ti;
	struct timespec ts;
	memset(&ti, 0, sizeof(ti));
	memcpy(ti.name, name, strlen(name));
	ti.queues = queues;
	clock_gettime(CLOCK_REALTIME, &ts);
	ti.created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	/* Insert, persist, and undo the insert if the file could not be made
	 * durable (T1). */
	memmove(&t->v[at + 1], &t->v[at], (t->n - at) * sizeof(t->v[0]));
	t->v[at] = ti;
	t->n++;
	r = persist(t, t->v, t->n);
	if (r < 0) {
		t->n--;
		memmove(&t->v[at], &t->v[at + 1], (t->n - at) * sizeof(t->v[0]));
		return r;
	}
	if (out)
		*out = ti;
	return 0;
}

static bool args_ok(const char *name, uint32_t queues)
{
	return shmq_ctl_name_check(name) >= 0 && queues >= 1 && queues <= SHMQ_TOPICS_MAX_QUEUES;
}

int shmq_topics_create(shmq_topics_t *t, const char *name, uint32_t queues,
		       struct shmq_topic_info *out)
{
	if (!t || !args_ok(name, queues))
		return -EINVAL;
	pthread_rwlock_wrlock(&t->lock);
	int r = create_locked(t, name, queues, out);
	pthread_rwlock_unlock(&t->lock);
	return r;
}

int shmq_topics_get_or_create(shmq_topics_t *t, const char *name, uint32_t queues,
			      struct shmq_topic_info *out)
{
	int r = shmq_topics_lookup(t, name, out);
	if (r != SHMQ_ENOTFOUND)
		return r;
	if (!args_ok(name, queues))
		return -EINVAL;
	pthread_rwlock_wrlock(&t->lock);
	r = create_locked(t, name, queues, out);
	pthread_rwlock_unlock(&t->lock);
	if (r == -EEXIST)
		return 0; /* another thread created it between our lookup and lock */
	return r == 0 ? 1 : r;
}

int shmq_topics_lookup(shmq_topics_t *t, const char *name, struct shmq_topic_info *out)
{
	if (!t || shmq_ctl_name_check(name) < 0)
		return -EINVAL;
	pthread_rwlock_rdlock(&t->lock);
	long pos = find(t, name);
	if (pos >= 0 && out)
		*out = t->v[pos];
	pthread_rwlock_unlock(&t->lock);
	return pos >= 0 ? 0 : SHMQ_ENOTFOUND;
}

int shmq_topics_list(shmq_topics_t *t, uint32_t start, struct shmq_topic_info *out,
		     uint32_t max, uint32_t *total)
{
	if (!t || (max && !out))
		return -EINVAL;
	pthread_rwlock_rdlock(&t->lock);
	size_t n = 0;
	for (size_t i = start; i < t->n && n < max; i++)
		out[n++] = t->v[i];
	if (total)
		*total = (uint32_t)t->n;
	pthread_rwlock_unlock(&t->lock);
	return (int)n;
}

size_t shmq_topics_count(shmq_topics_t *t)
{
	if (!t)
		return 0;
	pthread_rwlock_rdlock(&t->lock);
	size_t n = t->n;
	pthread_rwlock_unlock(&t->lock);
	return n;
}
