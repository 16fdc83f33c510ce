/* SPDX-License-Identifier: Apache-2.0 */
/* Consumer groups: see broker/groups.h (GR1-GR8). Single-threaded. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "broker/groups.h"
#include "broker/log.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "common/ctl_codec.h"
#include "common/errbuf.h"
#include "common/fsutil.h"
#include "common/offsets.h"
#include "common/shm_guard.h"
#include "ebpf/probes.h"
#include "shmq/error.h"

#define OFFSETS_VERSION 1
#define GROUPS_MAX 4096u              /* (group, topic) entries: each holds an fd and a guard slot */
#define OFFSETS_FILE_MAX (64u << 20)  /* offsets.json */
#define OFFSET_MAX ((uint64_t)INT64_MAX - 1) /* largest value offsets.json holds */
#define TABLE_SUFFIX ".offsets"
#define COMP "groups"

static_assert(SHMQ_CTL_QUEUES_MAX == SHMQ_OFFSETS_QUEUES_MAX, "one queue limit for tables and the protocol");

/* Broker-side truth about one queue of an entry (GR1: never read back from
 * the table). */
struct qstate {
	uint64_t owner;       /* member id, 0 = free */
	uint64_t deadline_ns; /* revoke deadline; meaningful while revoke_gen != 0 */
	uint64_t persisted;   /* value in offsets.json (or restored from it); NONE = none */
	uint32_t owner_gen;
	uint32_t revoke_gen;  /* != 0: owner asked to release since this generation */
	uint32_t reset_seq;
};

struct entry {
	char group[SHMQ_CTL_NAME_LEN];
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t queues;
	uint32_t mode;        /* enum shmq_ctl_group_mode */
	uint32_t gen;         /* last generation published in the table */
	uint32_t next_gen;    /* generation the changes of the current operation get */
	bool dirty;           /* a word changed in this operation: publish + bump */
	uint64_t *members;    /* sorted increasing, no duplicates, never 0 */
	size_t nmembers, cap;
	struct qstate *q;     /* [queues] */
	struct shmq_offsets_map map;
	int guard;            /* shm_guard slot of map, -1: none */
};

struct shmq_groups {
	char ring_dir[PATH_MAX];
	char cfg_dir[PATH_MAX];  /* <store>/config */
	char path[PATH_MAX];     /* <store>/config/offsets.json */
	char tmp[PATH_MAX];      /* <store>/config/offsets.json.tmp */
	uint64_t revoke_timeout_ns;
	uint64_t next_deadline;  /* no revoke expires before this (tick's fast path) */
	struct entry **v;        /* sorted by (group, topic) */
	size_t n, cap;
	char *last_text;         /* offsets.json as last written by us; NULL = unknown */
	size_t last_len;
};

/* ---- entries ---- */

static int entry_cmp(const struct entry *e, const char *group, const char *topic)
{
	int c = strcmp(e->group, group);
	return c ? c : strcmp(e->topic, topic);
}

/* Index of (group, topic), or -(insertion point) - 1. */
static long find(const shmq_groups_t *g, const char *group, const char *topic)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = entry_cmp(g->v[mid], group, topic);
		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

static struct entry *lookup(const shmq_groups_t *g, const char *group, const char *topic)
{
	long i = find(g, group, topic);
	return i >= 0 ? g->v[i] : NULL;
}

static bool names_ok(const char *group, const char *topic)
{
	return shmq_ctl_name_check(group) >= 0 && shmq_ctl_name_check(topic) >= 0;
}

static int table_path(const shmq_groups_t *g, const char *group, const char *topic, char *buf,
		      size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s@%s" TABLE_SUFFIX, g->ring_dir, group, topic) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static uint32_t gen_after(uint32_t gen)
{
	return gen + 1 == 0 ? 1 : gen + 1; /* GR5: 0 means "no revoke" in slots */
}

/* Unmap the entry's table; its guard goes first (common/shm_guard.h). */
static void unmap_table(struct entry *e)
{
	shmq_shm_guard_remove(e->guard);
	e->guard = -1;
	shmq_offsets_unmap(&e->map);
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	unmap_table(e);
	free(e->members);
	free(e->q);
	free(e);
}

static struct entry *entry_alloc(const char *group, const char *topic, uint32_t queues)
{
	struct entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->q = calloc(queues, sizeof(*e->q));
	if (!e->q) {
		free(e);
		return NULL;
	}
	for (uint32_t i = 0; i < queues; i++)
		e->q[i].persisted = SHMQ_OFFSETS_NONE;
	memcpy(e->group, group, strlen(group) + 1);
	memcpy(e->topic, topic, strlen(topic) + 1);
	e->queues = queues;
	e->mode = SHMQ_CTL_GROUP_CLUSTERING;
	e->map.fd = -1;
	e->guard = -1;
	return e;
}


static int insert(shmq_groups_t *g, struct entry *e)
{
	long pos = find(g, e->group, e->topic);
	if (pos >= 0)
		return -EEXIST;
	if (g->n >= GROUPS_MAX)
		return -ENOSPC;
	if (g->n == g->cap) {
		size_t ncap = g->cap ? g->cap * 2 : 16;
		struct entry **nv = realloc(g->v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		g->v = nv;
		g->cap = ncap;
	}
	size_t at = (size_t)(-pos - 1);
	memmove(&g->v[at + 1], &g->v[at], (g->n - at) * sizeof(g->v[0]));
	g->v[at] = e;
	g->n++;
	return 0;
}

/* ---- the table: broker stores, members load ---- */

/* Write every slot's broker words and bump the generation (GR5). Rewriting
 * unchanged slots is harmless and repairs words a member scribbled on. */
static void publish(struct entry *e)
{
	struct shmq_offsets_slot *s = e->map.slots;

	for (uint32_t i = 0; i < e->queues; i++) {
		const struct qstate *q = &e->q[i];
		/* relaxed: owner_gen is informative; members read it after the
		 * acquire load of owner or of the generation, both stored later
		 * with release */
		shmq_store_relaxed(&s[i].owner_gen, q->owner_gen);
		/* release: pairs with the member's acquire load of reset_seq
		 * (client/consumer_group.c); publishes the committed words that
		 * shmq_groups_reset() stored before it */
		shmq_store_release(&s[i].reset_seq, q->reset_seq);
		/* release: pairs with the member's acquire load of revoke_gen */
		shmq_store_release(&s[i].revoke_gen, q->revoke_gen);
		/* release: pairs with the members' acquire load of slot.owner
		 * (layout contract); the words above are visible with it */
		shmq_store_release(&s[i].owner, q->owner);
	}
	e->gen = e->next_gen;
	/* release: pairs with the acquire load of the generation in every
	 * member's poll; publishes all slot words stored above */
	shmq_store_release(&e->map.hdr->generation, e->gen);
}

/* Start an operation on e: changes made from now on carry next_gen. */
static void op_begin(struct entry *e)
{
	e->next_gen = gen_after(e->gen);
	e->dirty = false;
}

static void op_end(struct entry *e)
{
	if (e->dirty)
		publish(e);
	e->dirty = false;
}

static bool is_member(const struct entry *e, uint64_t id, size_t *pos)
{
	size_t lo = 0, hi = e->nmembers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->members[mid] == id) {
			if (pos)
				*pos = mid;
			return true;
		}
		if (e->members[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (pos)
		*pos = lo;
	return false;
}

/* GR2: the member that should own queue qi, 0 when there is none. */
static uint64_t target_of(const struct entry *e, uint32_t qi)
{
	size_t n = e->nmembers;
	if (n == 0)
		return 0;
	uint64_t per = e->queues / n, mod = e->queues % n;
	/* member k starts at k*per + min(k, mod); the first `mod` members hold
	 * per + 1 queues. Invert: */
	uint64_t big = mod * (per + 1); /* queues held by the first mod members */
	size_t k;
	if (qi < big)
		k = (size_t)(qi / (per + 1));
	else if (per == 0)
		return 0; /* fewer queues than members: the rest get nothing */
	else
		k = (size_t)(mod + (qi - big) / per);
	return k < n ? e->members[k] : 0;
}

/* GR2/GR3: give free queues to their targets, revoke queues held by a live
 * member that is no longer their target. Pending revokes wait. */
static void rebalance(shmq_groups_t *g, struct entry *e)
{
	if (e->mode != SHMQ_CTL_GROUP_CLUSTERING)
		return; /* GR6: owner and revoke words stay 0 */
	uint64_t now = 0;
	for (uint32_t i = 0; i < e->queues; i++) {
		struct qstate *q = &e->q[i];
		if (q->owner && !is_member(e, q->owner, NULL)) {
			/* cannot happen (removal frees a member's queues); keep GR1 anyway */
			q->owner = 0;
			q->revoke_gen = 0;
			e->dirty = true;
		}
		if (q->revoke_gen)
			continue;
		uint64_t t = target_of(e, i);
		if (q->owner == t)
			continue;
		if (q->owner == 0) {
			q->owner = t;
			q->owner_gen = e->next_gen;
			SHMQ_PROBE_QUEUE_OWNER(shmq_probe_name_hash(e->group), shmq_probe_name_hash(e->topic), i, t,
				e->next_gen);
		} else {
			if (!now)
				now = shmq_now_ns();
			q->revoke_gen = e->next_gen;
			q->deadline_ns = now + g->revoke_timeout_ns;
			if (q->deadline_ns < g->next_deadline)
				g->next_deadline = q->deadline_ns;
		}
		e->dirty = true;
	}
}

/* GR4: member leaves e; its queues are free at once. */
static void remove_member(shmq_groups_t *g, struct entry *e, size_t pos)
{
	uint64_t id = e->members[pos];

	memmove(&e->members[pos], &e->members[pos + 1], (e->nmembers - pos - 1) * sizeof(uint64_t));
	e->nmembers--;
	op_begin(e);
	for (uint32_t i = 0; i < e->queues; i++)
		if (e->q[i].owner == id) {
			e->q[i].owner = 0;
			e->q[i].revoke_gen = 0;
			e->q[i].owner_gen = e->next_gen;
			e->dirty = true;
		}
	rebalance(g, e);
	op_end(e);
}

static void fill_assign(const struct entry *e, uint64_t member, struct shmq_group_assign *out)
{
	uint32_t c = 0;

	for (uint32_t i = 0; i < e->queues; i++)
		if (e->mode == SHMQ_CTL_GROUP_BROADCASTING || e->q[i].owner == member)
			out->queues[c++] = i;
	out->count = c;
	out->generation = e->gen;
	out->nqueues = e->queues;
	out->mode = e->mode;
}

/* Take over a table (new, adopted or replacing): committed words as found
 * when valid, else the restored value; owners cleared; generation bumped
 * past the table's, or past base_gen for a new table (GR8). Called while the
 * entry has no member. */
static void adopt_table(struct entry *e, struct shmq_offsets_map *m, int guard, bool keep_words, uint32_t base_gen)
{
	e->map = *m;
	e->guard = guard;
	for (uint32_t i = 0; i < e->queues; i++) {
		struct shmq_offsets_slot *s = &e->map.slots[i];
		/* acquire: pairs with the release store of a member (of this or a
		 * previous broker run) committing its offset */
		uint64_t c = keep_words ? shmq_load_acquire(&s->committed) : SHMQ_OFFSETS_NONE;
		if (c == SHMQ_OFFSETS_NONE && e->q[i].persisted != SHMQ_OFFSETS_NONE)
			/* release: pairs with a member's acquire load of committed
			 * when it starts a queue after the generation below */
			shmq_store_release(&s->committed, e->q[i].persisted);
		e->q[i].owner = 0;
		e->q[i].revoke_gen = 0;
		e->q[i].owner_gen = 0;
		/* relaxed: only this thread writes reset_seq; the value is a
		 * counter to continue from, any value is acceptable */
		e->q[i].reset_seq = keep_words ? shmq_load_relaxed(&s->reset_seq) : 0;
	}
	/* relaxed: a counter to continue from; members may have scribbled on
	 * it, which only changes where we count from */
	e->gen = keep_words ? shmq_load_relaxed(&e->map.hdr->generation) : base_gen;
	op_begin(e);
	publish(e);
}

/* The table's file lost pages under us (a client can ftruncate it): seen by
 * the guard if we touched them since, else by the file's size. */
static bool table_shrunk(const struct entry *e)
{
	struct stat st;

	if (shmq_shm_guard_tripped(e->guard))
		return true;
	return fstat(e->map.fd, &st) == 0 && (uint64_t)st.st_size < e->map.len;
}

struct table_args {
	const char *path;
	uint32_t queues;
	struct shmq_offsets_map *m;
	int fd;
};

static int create_cb(void *arg)
{
	struct table_args *a = arg;
	return shmq_offsets_create(a->path, a->queues, a->m);
}

static int attach_cb(void *arg)
{
	struct table_args *a = arg;
	return shmq_offsets_attach_fd(a->fd, a->m);
}

/* Create or adopt the table of e (GR8). */
static int open_table(shmq_groups_t *g, struct entry *e)
{
	char path[PATH_MAX];
	struct shmq_offsets_map m;
	int r = table_path(g, e->group, e->topic, path, sizeof(path));
	if (r < 0)
		return r;
	struct table_args ta = { path, e->queues, &m };
	r = shmq_shm_guard_try(create_cb, &ta); /* read before it can be guarded */
	if (r < 0)
		return r;
	if (r == 2)
		shmq_log_warn(COMP, "%s: invalid offset table replaced", path);
	/* a member that shrinks the file must not kill the broker: the guard
	 * leaves the words SHMQ_OFFSETS_NONE (we keep our last known offsets).
	 * A table that cannot be guarded is refused, never served unguarded. */
	int guard = shmq_shm_guard_add(m.hdr, m.len);
	if (guard < 0) {
		shmq_log_error(COMP, "%s@%s: offset table refused: no guard slot left (%s)", e->group, e->topic,
			       shmq_strerror(guard));
		shmq_offsets_unmap(&m);
		return guard;
	}
	adopt_table(e, &m, guard, r == 1, 0);
	return 0;
}

/* The entry's table gets `queues` slots (the topic was re-created with
 * another queue count). Only while the entry has no member. */
static int resize_entry(shmq_groups_t *g, struct entry *e, uint32_t queues)
{
	char path[PATH_MAX];
	struct shmq_offsets_map m;
	struct qstate *nq = calloc(queues, sizeof(*nq));
	if (!nq)
		return -ENOMEM;
	int r = table_path(g, e->group, e->topic, path, sizeof(path));
	if (r == 0 && unlink(path) != 0 && errno != ENOENT)
		r = -errno;
	struct table_args ta = { path, queues, &m, -1 };
	if (r == 0)
		r = shmq_shm_guard_try(create_cb, &ta); /* read before it can be guarded */
	if (r < 0) {
		free(nq);
		return r;
	}
	for (uint32_t i = 0; i < queues; i++) {
		nq[i].persisted = SHMQ_OFFSETS_NONE;
		if (i < e->queues) {
			/* acquire: pairs with a member's release store of committed */
			uint64_t c = shmq_load_acquire(&e->map.slots[i].committed);
			nq[i].persisted = c != SHMQ_OFFSETS_NONE ? c : e->q[i].persisted;
		}
	}
	unmap_table(e);
	free(e->q);
	e->q = nq;
	e->queues = queues;
	/* the old table's guard slot was just freed: this one gets it */
	int guard = shmq_shm_guard_add(m.hdr, m.len);
	if (guard < 0)
		shmq_log_warn(COMP, "%s@%s: offset table not guarded: %s", e->group, e->topic, shmq_strerror(guard));
	/* writes the carried-over values; the generation goes on from ours */
	adopt_table(e, &m, guard, false, e->gen);
	shmq_log_info(COMP, "%s@%s: offset table resized to %u queues", e->group, e->topic, queues);
	return 0;
}

/* Find or create (with its table) the entry for (group, topic). */
static int get_entry(shmq_groups_t *g, const char *group, const char *topic, uint32_t queues,
		     struct entry **out)
{
	struct entry *e = lookup(g, group, topic);
	if (e) {
		*out = e;
		return 0;
	}
	if (g->n >= GROUPS_MAX)
		return -ENOSPC;
	e = entry_alloc(group, topic, queues);
	if (!e)
		return -ENOMEM;
	int r = open_table(g, e);
	if (r == 0)
		r = insert(g, e);
	if (r < 0) {
		entry_free(e);
		return r;
	}
	*out = e;
	return 0;
}

/* ---- offsets.json ---- */

static int parse_offsets(shmq_groups_t *g, const char *text, size_t len, char *err, size_t errlen)
{
	const char *path = g->path;
	json_tokener *tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_object *root = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error je = json_tokener_get_error(tok);
	size_t consumed = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	int r = SHMQ_ECORRUPT;
	struct entry *e = NULL;

	if (!root || je != json_tokener_success) {
		shmq_errbuf_set(err, errlen, "%s: JSON syntax error at byte %zu: %s", path, consumed,
			je == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(je));
		goto out;
	}
	for (size_t i = consumed; i < len; i++)
		if (text[i] != ' ' && text[i] != '\n' && text[i] != '\t' && text[i] != '\r') {
			shmq_errbuf_set(err, errlen, "%s: trailing data at byte %zu", path, i);
			goto out;
		}
	json_object *ver, *arr;
	if (!json_object_is_type(root, json_type_object) || json_object_object_length(root) != 2) {
		shmq_errbuf_set(err, errlen, "%s: top level is not an object with exactly version, groups", path);
		goto out;
	}
	if (!json_object_object_get_ex(root, "version", &ver) || !json_object_is_type(ver, json_type_int) ||
	    json_object_get_int64(ver) != OFFSETS_VERSION) {
		shmq_errbuf_set(err, errlen, "%s: 'version' missing or not %d", path, OFFSETS_VERSION);
		goto out;
	}
	if (!json_object_object_get_ex(root, "groups", &arr) || !json_object_is_type(arr, json_type_array)) {
		shmq_errbuf_set(err, errlen, "%s: 'groups' missing or not an array", path);
		goto out;
	}
	size_t n = json_object_array_length(arr);
	if (n > GROUPS_MAX) {
		shmq_errbuf_set(err, errlen, "%s: %zu groups, more than %u", path, n, GROUPS_MAX);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i), *jg, *jt, *jo;
		if (!json_object_is_type(o, json_type_object) || json_object_object_length(o) != 3 ||
		    !json_object_object_get_ex(o, "group", &jg) || !json_object_object_get_ex(o, "topic", &jt) ||
		    !json_object_object_get_ex(o, "offsets", &jo)) {
			shmq_errbuf_set(err, errlen, "%s: groups[%zu]: not an object with exactly group, topic, offsets",
				path, i);
			goto out;
		}
		const char *gs = json_object_get_string(jg), *ts = json_object_get_string(jt);
		/* a NUL inside a JSON string would make strlen disagree */
		if (!json_object_is_type(jg, json_type_string) || !json_object_is_type(jt, json_type_string) ||
		    (size_t)json_object_get_string_len(jg) != strlen(gs) ||
		    (size_t)json_object_get_string_len(jt) != strlen(ts) || !names_ok(gs, ts)) {
			shmq_errbuf_set(err, errlen, "%s: groups[%zu]: invalid group or topic name", path, i);
			goto out;
		}
		size_t nq = json_object_is_type(jo, json_type_array) ? json_object_array_length(jo) : 0;
		if (nq < 1 || nq > SHMQ_CTL_QUEUES_MAX) {
			shmq_errbuf_set(err, errlen, "%s: groups[%zu]: 'offsets' is not an array of 1..%u entries",
				path, i, SHMQ_CTL_QUEUES_MAX);
			goto out;
		}
		if (lookup(g, gs, ts)) {
			shmq_errbuf_set(err, errlen, "%s: groups[%zu]: duplicate group '%s' topic '%s'", path, i, gs, ts);
			goto out;
		}
		e = entry_alloc(gs, ts, (uint32_t)nq);
		if (!e) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t q = 0; q < nq; q++) {
			json_object *x = json_object_array_get_idx(jo, q);
			if (x == NULL)
				continue; /* null: never committed */
			/* json-c saturates out-of-range numbers to INT64_MIN/MAX,
			 * both outside [0, OFFSET_MAX]: refused */
			int64_t v = json_object_is_type(x, json_type_int) ? json_object_get_int64(x) : -1;
			if (v < 0 || (uint64_t)v > OFFSET_MAX) {
				shmq_errbuf_set(err, errlen, "%s: groups[%zu]: offsets[%zu] is not null or an integer in [0, %llu]",
					path, i, q, (unsigned long long)OFFSET_MAX);
				goto out;
			}
			e->q[q].persisted = (uint64_t)v;
		}
		if ((r = insert(g, e)) < 0)
			goto out;
		r = SHMQ_ECORRUPT;
		e = NULL;
	}
	r = 0;
out:
	entry_free(e);
	json_object_put(root);
	return r;
}

static int load_offsets(shmq_groups_t *g, char *err, size_t errlen)
{
	char *buf;
	size_t len;
	int r = shmq_file_read_small(g->path, OFFSETS_FILE_MAX, &buf, &len, err, errlen);

	if (r == -ENOENT)
		return 0; /* a fresh store */
	if (r < 0)
		return r;
	r = parse_offsets(g, buf, len, err, errlen);
	free(buf);
	return r;
}

/* Write text to offsets.json (GR7: a crash leaves the old or the new file). */
static int write_file(shmq_groups_t *g, const char *s, size_t len)
{
	return shmq_file_replace(g->path, g->tmp, g->cfg_dir, s, len);
}

/* ---- restart: adopt tables left in ring_dir (GR8) ---- */

/* "<group>@<topic>.offsets" -> names; false if the file is not one of ours. */
static bool split_table_name(const char *name, char *group, char *topic)
{
	size_t len = strlen(name), sl = strlen(TABLE_SUFFIX);
	if (len <= sl || strcmp(name + len - sl, TABLE_SUFFIX) != 0)
		return false;
	const char *at = memchr(name, '@', len - sl);
	if (!at)
		return false;
	size_t gl = (size_t)(at - name), tl = len - sl - gl - 1;
	if (gl == 0 || gl >= SHMQ_CTL_NAME_LEN || tl == 0 || tl >= SHMQ_CTL_NAME_LEN)
		return false;
	memcpy(group, name, gl);
	group[gl] = '\0';
	memcpy(topic, at + 1, tl);
	topic[tl] = '\0';
	return names_ok(group, topic);
}

static int adopt_orphans(shmq_groups_t *g)
{
	DIR *d = opendir(g->ring_dir);
	if (!d)
		return -errno;
	struct dirent *de;
	char group[SHMQ_CTL_NAME_LEN], topic[SHMQ_CTL_NAME_LEN];
	int r = 0;
	while ((de = readdir(d)) != NULL) {
		if (!split_table_name(de->d_name, group, topic) || lookup(g, group, topic))
			continue;
		if (g->n >= GROUPS_MAX) {
			shmq_log_warn(COMP, "%s/%s: not adopted: %u groups already", g->ring_dir, de->d_name, GROUPS_MAX);
			continue;
		}
		int fd = openat(dirfd(d), de->d_name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		struct shmq_offsets_map m;
		struct table_args ta = { .m = &m, .fd = fd };
		int ar = fd < 0 ? -errno : shmq_shm_guard_try(attach_cb, &ta);
		if (fd >= 0)
			close(fd);
		if (ar < 0) {
			shmq_log_warn(COMP, "%s/%s: not adopted: %s", g->ring_dir, de->d_name, shmq_strerror(ar));
			continue; /* replaced when the group joins again */
		}
		struct entry *e = entry_alloc(group, topic, m.queues);
		if (!e) {
			shmq_offsets_unmap(&m);
			r = -ENOMEM;
			break;
		}
		int guard = shmq_shm_guard_add(m.hdr, m.len);
		if (guard < 0) {
			shmq_log_warn(COMP, "%s/%s: not adopted: no guard slot left", g->ring_dir, de->d_name);
			shmq_offsets_unmap(&m);
			entry_free(e);
			continue;
		}
		adopt_table(e, &m, guard, true, 0);
		if ((r = insert(g, e)) < 0) {
			entry_free(e);
			break;
		}
		shmq_log_info(COMP, "%s@%s: offset table of a previous run adopted", group, topic);
	}
	closedir(d);
	return r;
}

/* ---- API ---- */

int shmq_groups_create(const char *ring_dir, const char *store_dir, uint64_t revoke_timeout_ns,
		       shmq_groups_t **out, char *err, size_t errlen)
{
	if (!ring_dir || !*ring_dir || !store_dir || !*store_dir || !out) {
		shmq_errbuf_set(err, errlen, "no ring or store directory");
		return -EINVAL;
	}
	shmq_groups_t *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->revoke_timeout_ns = revoke_timeout_ns;
	g->next_deadline = UINT64_MAX;
	int r;
	if ((size_t)snprintf(g->ring_dir, sizeof(g->ring_dir), "%s", ring_dir) >= sizeof(g->ring_dir) ||
	    (size_t)snprintf(g->cfg_dir, sizeof(g->cfg_dir), "%s/config", store_dir) >= sizeof(g->cfg_dir) ||
	    (size_t)snprintf(g->path, sizeof(g->path), "%s/offsets.json", g->cfg_dir) >= sizeof(g->path) ||
	    (size_t)snprintf(g->tmp, sizeof(g->tmp), "%s/offsets.json.tmp", g->cfg_dir) >= sizeof(g->tmp) ||
	    strlen(ring_dir) + 2 * SHMQ_CTL_NAME_LEN + sizeof(TABLE_SUFFIX) + 1 > PATH_MAX) {
		shmq_errbuf_set(err, errlen, "ring or store path too long");
		r = -ENAMETOOLONG;
		goto fail;
	}
	if ((r = shmq_mkdir_p(g->ring_dir)) < 0) {
		shmq_errbuf_set(err, errlen, "%s: %s", g->ring_dir, strerror(-r));
		goto fail;
	}
	if ((r = shmq_mkdir_p(g->cfg_dir)) < 0) {
		shmq_errbuf_set(err, errlen, "%s: %s", g->cfg_dir, strerror(-r));
		goto fail;
	}
	if ((r = load_offsets(g, err, errlen)) < 0)
		goto fail;
	for (size_t i = 0; i < g->n; i++)
		if ((r = open_table(g, g->v[i])) < 0) {
			shmq_errbuf_set(err, errlen, "offset table of %s@%s: %s", g->v[i]->group, g->v[i]->topic,
				shmq_strerror(r));
			goto fail;
		}
	if ((r = adopt_orphans(g)) < 0) {
		shmq_errbuf_set(err, errlen, "%s: %s", g->ring_dir, shmq_strerror(r));
		goto fail;
	}
	*out = g;
	return 0;
fail:
	shmq_groups_destroy(g);
	return r;
}

void shmq_groups_destroy(shmq_groups_t *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n; i++)
		entry_free(g->v[i]);
	free(g->v);
	free(g->last_text);
	free(g);
}

/* A group has one mode (across its topics) while it has members. */
static bool mode_conflict(const shmq_groups_t *g, const char *group, uint32_t mode)
{
	long i = find(g, group, "");
	for (size_t k = (size_t)(-i - 1); k < g->n && strcmp(g->v[k]->group, group) == 0; k++)
		if (g->v[k]->nmembers && g->v[k]->mode != mode)
			return true;
	return false;
}

int shmq_groups_join(shmq_groups_t *g, const char *group, const char *topic, uint32_t queues,
		     uint32_t mode, uint64_t member, struct shmq_group_assign *out, int *fd)
{
	if (!g || !out || !fd || !names_ok(group, topic) || queues < 1 || queues > SHMQ_CTL_QUEUES_MAX ||
	    (mode != SHMQ_CTL_GROUP_CLUSTERING && mode != SHMQ_CTL_GROUP_BROADCASTING) || member == 0)
		return -EINVAL;
	if (mode_conflict(g, group, mode))
		return -EINVAL;
	struct entry *e;
	int r = get_entry(g, group, topic, queues, &e);
	if (r < 0)
		return r;
	size_t pos;
	bool already = is_member(e, member, &pos);
	if (table_shrunk(e)) {
		/* A client shrank the file (common/shm_guard.h): its members are
		 * dead or will be; a new table starts from what we persisted. */
		shmq_log_error(COMP, "%s@%s: offset table shrunk by a client: replaced, commits not yet "
			       "persisted by the broker are lost (redelivered)", e->group, e->topic);
		if ((r = resize_entry(g, e, e->queues)) < 0)
			return r;
	}
	if (e->queues != queues) {
		if (e->nmembers)
			return -EINVAL;
		if ((r = resize_entry(g, e, queues)) < 0)
			return r;
	}
	int dfd = fcntl(e->map.fd, F_DUPFD_CLOEXEC, 0);
	if (dfd < 0)
		return -errno;
	if (!already) {
		if (e->nmembers == e->cap) {
			size_t ncap = e->cap ? e->cap * 2 : 8;
			uint64_t *nm = realloc(e->members, ncap * sizeof(*nm));
			if (!nm) {
				close(dfd);
				return -ENOMEM;
			}
			e->members = nm;
			e->cap = ncap;
		}
		memmove(&e->members[pos + 1], &e->members[pos], (e->nmembers - pos) * sizeof(uint64_t));
		e->members[pos] = member;
		e->nmembers++;
		e->mode = mode;
		op_begin(e);
		rebalance(g, e);
		op_end(e);
	}
	fill_assign(e, member, out);
	*fd = dfd;
	return 0;
}

int shmq_groups_sync(shmq_groups_t *g, const char *group, const char *topic, uint64_t member,
		     struct shmq_group_assign *out)
{
	if (!g || !out || !names_ok(group, topic) || member == 0)
		return -EINVAL;
	struct entry *e = lookup(g, group, topic);
	if (!e || !is_member(e, member, NULL))
		return SHMQ_ENOTFOUND;
	fill_assign(e, member, out);
	return 0;
}

int shmq_groups_leave(shmq_groups_t *g, const char *group, const char *topic, uint64_t member)
{
	if (!g || !names_ok(group, topic) || member == 0)
		return -EINVAL;
	struct entry *e = lookup(g, group, topic);
	size_t pos;
	if (!e || !is_member(e, member, &pos))
		return SHMQ_ENOTFOUND;
	remove_member(g, e, pos);
	return 0;
}

void shmq_groups_member_gone(shmq_groups_t *g, uint64_t member)
{
	if (!g || member == 0)
		return;
	for (size_t i = 0; i < g->n; i++) {
		size_t pos;
		if (is_member(g->v[i], member, &pos))
			remove_member(g, g->v[i], pos);
	}
}

int shmq_groups_release(shmq_groups_t *g, const char *group, const char *topic, uint32_t queue,
			uint32_t generation, uint64_t member)
{
	if (!g || !names_ok(group, topic) || member == 0)
		return -EINVAL;
	struct entry *e = lookup(g, group, topic);
	if (!e || !is_member(e, member, NULL))
		return SHMQ_ENOTFOUND;
	if (queue >= e->queues)
		return -EINVAL;
	struct qstate *q = &e->q[queue];
	if (q->owner != member || q->revoke_gen == 0 || q->revoke_gen != generation)
		return -ESTALE;
	op_begin(e);
	q->owner = 0;
	q->revoke_gen = 0;
	e->dirty = true;
	rebalance(g, e);
	op_end(e);
	return 0;
}

void shmq_groups_tick(shmq_groups_t *g, uint64_t now_ns)
{
	if (!g || now_ns < g->next_deadline)
		return;
	for (size_t i = 0; i < g->n; i++) {
		struct entry *e = g->v[i];
		op_begin(e);
		for (uint32_t k = 0; k < e->queues; k++) {
			struct qstate *q = &e->q[k];
			if (!q->revoke_gen || q->deadline_ns > now_ns)
				continue;
			shmq_log_warn(COMP, "%s@%s: member %llu did not release queue %u within the revoke timeout: forced",
				e->group, e->topic, (unsigned long long)q->owner, k);
			q->owner = 0;
			q->revoke_gen = 0;
			e->dirty = true;
		}
		if (e->dirty)
			rebalance(g, e);
		op_end(e);
	}
	/* the earliest pending deadline, the rebalances' new revokes included */
	g->next_deadline = UINT64_MAX;
	for (size_t i = 0; i < g->n; i++)
		for (uint32_t k = 0; k < g->v[i]->queues; k++) {
			const struct qstate *q = &g->v[i]->q[k];
			if (q->revoke_gen && q->deadline_ns < g->next_deadline)
				g->next_deadline = q->deadline_ns;
		}
}

int shmq_groups_commit(shmq_groups_t *g, const char *group, const char *topic, uint32_t queue,
		       uint64_t offset)
{
	if (!g || !names_ok(group, topic))
		return -EINVAL;
	struct entry *e = lookup(g, group, topic);
	if (!e)
		return SHMQ_ENOTFOUND;
	if (queue >= e->queues)
		return -EINVAL;
	/* release: pairs with the acquire load in shmq_groups_persist() and a
	 * new owner's acquire load when it starts the queue */
	shmq_store_release(&e->map.slots[queue].committed, offset);
	return 0;
}

/* The value offsets.json should hold for queue i of e (GR7). */
static uint64_t clamped(const struct entry *e, uint32_t i, shmq_groups_bounds_fn fn, void *arg)
{
	/* acquire: pairs with the member's release store of committed (it
	 * committed after delivering; nothing else is read through it, the
	 * pairing documents the protocol) */
	uint64_t c = shmq_load_acquire(&e->map.slots[i].committed);
	uint64_t min = 0, max = 0;
	if (c == SHMQ_OFFSETS_NONE)
		return e->q[i].persisted;
	if (!fn) /* no bounds known: only offsets.json's own range */
		return c <= OFFSET_MAX ? c : e->q[i].persisted;
	if (fn(arg, e->topic, i, &min, &max) < 0 || min > max || max > OFFSET_MAX)
		return e->q[i].persisted;
	return c < min ? min : c > max ? max : c;
}

int shmq_groups_persist(shmq_groups_t *g, shmq_groups_bounds_fn fn, void *arg)
{
	if (!g)
		return -EINVAL;
	size_t total = 0;
	for (size_t i = 0; i < g->n; i++)
		total += g->v[i]->queues;
	uint64_t *next = malloc((total ? total : 1) * sizeof(*next));
	json_object *root = json_object_new_object();
	json_object *arr = json_object_new_array();
	int r = -ENOMEM;
	if (!next || !root || !arr) {
		json_object_put(arr);
		goto out;
	}
	json_object_object_add(root, "version", json_object_new_int(OFFSETS_VERSION));
	json_object_object_add(root, "groups", arr);
	size_t at = 0;
	for (size_t i = 0; i < g->n; i++) {
		struct entry *e = g->v[i];
		uint64_t *vals = &next[at];
		at += e->queues;
		bool bcast = e->mode == SHMQ_CTL_GROUP_BROADCASTING, any = false;
		for (uint32_t k = 0; k < e->queues; k++) {
			/* GR6: a broadcasting entry's words are unused; what it
			 * persisted while it was a clustering group is kept */
			vals[k] = bcast ? e->q[k].persisted : clamped(e, k, fn, arg);
			any |= vals[k] != SHMQ_OFFSETS_NONE;
		}
		if (bcast && !any)
			continue;
		json_object *o = json_object_new_object(), *jo = json_object_new_array();
		if (!o || !jo) {
			json_object_put(o);
			json_object_put(jo);
			goto out;
		}
		json_object_object_add(o, "group", json_object_new_string(e->group));
		json_object_object_add(o, "topic", json_object_new_string(e->topic));
		json_object_object_add(o, "offsets", jo);
		json_object_array_add(arr, o);
		for (uint32_t k = 0; k < e->queues; k++)
			json_object_array_add(jo, vals[k] == SHMQ_OFFSETS_NONE ? NULL
							: json_object_new_int64((int64_t)vals[k]));
	}
	size_t len;
	const char *s = json_object_to_json_string_length(root, JSON_C_TO_STRING_PLAIN, &len);
	if (!s)
		goto out;
	if (!(g->last_text && g->last_len == len && memcmp(g->last_text, s, len) == 0)) {
		char *copy = malloc(len + 1);
		if (!copy)
			goto out;
		memcpy(copy, s, len + 1);
		if ((r = write_file(g, s, len)) < 0) {
			free(copy);
			goto out;
		}
		free(g->last_text);
		g->last_text = copy;
		g->last_len = len;
	}
	at = 0;
	for (size_t i = 0; i < g->n; i++) {
		for (uint32_t k = 0; k < g->v[i]->queues; k++)
			g->v[i]->q[k].persisted = next[at + k];
		at += g->v[i]->queues;
	}
	r = 0;
out:
	json_object_put(root);
	free(next);
	return r;
}

int shmq_groups_progress(shmq_groups_t *g, const char *group, const char *topic, uint32_t queues,
			 struct shmq_ctl_progress_entry *e, struct shmq_ctl_progress_resp_hdr *h)
{
	if (!g || !e || !h || !names_ok(group, topic) || queues < 1 || queues > SHMQ_CTL_QUEUES_MAX)
		return -EINVAL;
	const struct entry *en = lookup(g, group, topic);
	memset(h, 0, sizeof(*h));
	h->count = queues;
	if (en) {
		h->generation = en->gen;
		h->members = (uint32_t)en->nmembers;
		h->mode = en->mode;
	}
	for (uint32_t i = 0; i < queues; i++) {
		memset(&e[i], 0, sizeof(e[i]));
		e[i].committed = SHMQ_OFFSETS_NONE;
		if (!en || i >= en->queues)
			continue;
		/* acquire: pairs with the member's release store of committed */
		e[i].committed = shmq_load_acquire(&en->map.slots[i].committed);
		e[i].owner = en->q[i].owner;
	}
	return 0;
}

int shmq_groups_reset(shmq_groups_t *g, const char *group, const char *topic, uint32_t queues,
		      const uint64_t *offsets)
{
	if (!g || !offsets || !names_ok(group, topic) || queues < 1 || queues > SHMQ_CTL_QUEUES_MAX)
		return -EINVAL;
	struct entry *e;
	int r = get_entry(g, group, topic, queues, &e);
	if (r < 0)
		return r;
	if (e->queues != queues) {
		if (e->nmembers)
			return -EINVAL;
		if ((r = resize_entry(g, e, queues)) < 0)
			return r;
	}
	op_begin(e);
	for (uint32_t i = 0; i < queues; i++) {
		/* release: pairs with the owner's acquire load of committed after
		 * it saw reset_seq move (via the generation below) */
		shmq_store_release(&e->map.slots[i].committed, offsets[i]);
		e->q[i].reset_seq++;
		SHMQ_PROBE_OFFSET_RESET(shmq_probe_name_hash(group), shmq_probe_name_hash(topic), i, offsets[i]);
	}
	e->dirty = true;
	op_end(e); /* publishes reset_seq and bumps the generation */
	return 0;
}

size_t shmq_groups_count(shmq_groups_t *g)
{
	return g ? g->n : 0;
}
