/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control server's request handlers: one function per request type of
 * common/ctl_layout.h. Each one checks the ACL first (broker/server.h lists
 * the right each request needs), then acts and fills the response. They run
 * on the event-loop thread; they return a negative status (s->why may add a
 * sentence) that the loop sends back as an ERROR.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <dirent.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "broker/log.h"
#include "broker/remote.h"
#include "broker/server_int.h"
#include "common/shm_guard.h"
#include "common/clock.h"
#include "common/offsets_layout.h"

#define COMP "ctl"

static int why(struct shmq_server *s, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int why(struct shmq_server *s, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	return status;
}

static const char *right_name(unsigned right)
{
	switch (right) {
	case SHMQ_ACL_PRODUCE: return "produce";
	case SHMQ_ACL_CONSUME: return "consume";
	case SHMQ_ACL_ADMIN: return "admin";
	default: return "?";
	}
}

static int acl(struct shmq_server *s, struct srv_session *ss, const char *topic, unsigned right)
{
	int rc = shmq_acl_check(s->acl, ss->uid, ss->gid, topic, right);
	if (rc == 0)
		return 0;
	shmq_log_warn(COMP, "session %" PRIu64 " (pid %d uid %u gid %u): %s on topic '%s' refused",
		      ss->id, (int)ss->pid, (unsigned)ss->uid, (unsigned)ss->gid, right_name(right),
		      topic);
	return why(s, -EACCES, "uid %u gid %u has no %s right on topic '%s'", (unsigned)ss->uid,
		   (unsigned)ss->gid, right_name(right), topic);
}

/* Copy a NUL-terminated name into a zero-padded protocol field. */
static void name_copy(char dst[SHMQ_CTL_NAME_LEN], const char *src)
{
	size_t n = strnlen(src, SHMQ_CTL_NAME_MAX);
	memset(dst, 0, SHMQ_CTL_NAME_LEN);
	memcpy(dst, src, n);
}

/* The topic must exist; its queue count. */
static int topic_queues(struct shmq_server *s, const char *topic, uint32_t *queues)
{
	struct shmq_topic_info ti;
	int rc = shmq_topics_lookup(s->topics, topic, &ti);
	if (rc == SHMQ_ENOTFOUND)
		return why(s, rc, "no topic '%s'", topic);
	if (rc < 0)
		return rc;
	*queues = ti.queues;
	return 0;
}

/* ---- HELLO, topics ---- */

static int h_hello(struct shmq_server *s, struct srv_session *ss, const struct shmq_ctl_msg *req,
		   struct shmq_ctl_msg *resp)
{
	const struct shmq_ctl_hello_req *h = &req->u.hello_req;
	if (ss->hello)
		return why(s, -EISCONN, "HELLO was already accepted on this connection");
	if (h->client_version != SHMQ_CTL_VERSION)
		return why(s, -EPROTONOSUPPORT, "client speaks control protocol %u, broker %u",
			   h->client_version, SHMQ_CTL_VERSION);
	ss->hello = true;
	ss->role = h->role;
	memcpy(ss->group, h->group, sizeof(ss->group));
	resp->u.hello_resp.server_version = SHMQ_CTL_VERSION;
	resp->u.hello_resp.broker_id = s->cfg->broker_id;
	resp->u.hello_resp.session_id = ss->id;
	name_copy(resp->u.hello_resp.broker_name, s->cfg->broker_name);
	shmq_log_info(COMP, "session %" PRIu64 ": HELLO from pid %d uid %u, role %#x, group '%s'",
		      ss->id, (int)ss->pid, (unsigned)ss->uid, h->role, ss->group);
	return 0;
}

static void topic_info_fill(struct shmq_ctl_topic_info *o, const struct shmq_topic_info *ti)
{
	memset(o, 0, sizeof(*o));
	name_copy(o->topic, ti->name);
	o->queues = ti->queues;
	o->created_ns = ti->created_ns;
}

static int h_topic_create(struct shmq_server *s, struct srv_session *ss,
			  const struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp)
{
	const struct shmq_ctl_topic_create_req *r = &req->u.topic_create_req;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_ADMIN);
	if (rc < 0)
		return rc;
	struct shmq_topic_info ti;
	rc = shmq_topics_create(s->topics, r->topic, r->queues, &ti);
	if (rc == -EEXIST)
		return why(s, rc, "topic '%s' exists (%u queues)", r->topic, ti.queues);
	if (rc < 0)
		return why(s, rc, "cannot create topic '%s': %s", r->topic, shmq_strerror(rc));
	shmq_log_info(COMP, "topic '%s' created with %u queues (session %" PRIu64 ", uid %u)",
		      r->topic, r->queues, ss->id, (unsigned)ss->uid);
	rc = shmq_queues_open_topic(s->queues, r->topic, r->queues);
	if (rc < 0)
		return why(s, rc, "topic '%s' created but its rings failed: %s (retried on next open)",
			   r->topic, shmq_strerror(rc));
	topic_info_fill(&resp->u.topic_info, &ti);
	return 0;
}

static int h_topic_describe(struct shmq_server *s, const struct shmq_ctl_msg *req,
			    struct shmq_ctl_msg *resp)
{
	struct shmq_topic_info ti;
	int rc = shmq_topics_lookup(s->topics, req->u.topic_describe_req.topic, &ti);
	if (rc == SHMQ_ENOTFOUND)
		return why(s, rc, "no topic '%s'", req->u.topic_describe_req.topic);
	if (rc < 0)
		return rc;
	topic_info_fill(&resp->u.topic_info, &ti);
	return 0;
}

static int h_topic_list(struct shmq_server *s, const struct shmq_ctl_msg *req,
			struct shmq_ctl_msg *resp)
{
	struct shmq_topic_info ti[SHMQ_CTL_LIST_MAX];
	uint32_t total = 0;
	uint32_t max = req->u.topic_list_req.max;
	if (max > SHMQ_CTL_LIST_MAX)
		max = SHMQ_CTL_LIST_MAX;
	int n = shmq_topics_list(s->topics, req->u.topic_list_req.start, ti, max, &total);
	if (n < 0)
		return n;
	struct shmq_ctl_topic_list_resp *o = &resp->u.topic_list_resp;
	o->hdr.total = total;
	o->hdr.count = (uint32_t)n;
	for (int i = 0; i < n; i++)
		name_copy(o->names[i].topic, ti[i].name);
	return 0;
}

/* ---- rings ---- */

/* The ring of (topic, queue), creating the topic (auto_create) or a missing
 * ring (a topic whose rings failed at creation) on the way. */
static int ring_of(struct shmq_server *s, const char *topic, uint32_t queue, shmq_ring_t **ring)
{
	struct shmq_topic_info ti;
	int rc = shmq_topics_lookup(s->topics, topic, &ti);
	if (rc == SHMQ_ENOTFOUND && s->cfg->auto_create_topics) {
		rc = shmq_topics_get_or_create(s->topics, topic, (uint32_t)s->cfg->default_queues, &ti);
		if (rc == 1)
			shmq_log_info(COMP, "topic '%s' auto-created with %u queues", topic, ti.queues);
	}
	if (rc == SHMQ_ENOTFOUND)
		return why(s, rc, "no topic '%s'", topic);
	if (rc < 0)
		return rc;
	if (queue >= ti.queues)
		return why(s, -EINVAL, "topic '%s' has %u queues; no queue %u", topic, ti.queues, queue);
	*ring = shmq_queues_get(s->queues, topic, queue);
	if (*ring)
		return 0;
	rc = shmq_queues_open_topic(s->queues, topic, ti.queues);
	if (rc < 0)
		return why(s, rc, "ring of %s/%u: %s", topic, queue, shmq_strerror(rc));
	*ring = shmq_queues_get(s->queues, topic, queue);
	return *ring ? 0 : -EIO;
}

/* TOPIC_OPEN: what a producer's OPEN_QUEUE does to the topic (produce right,
 * auto-create, rings opened), without a ring fd, then DESCRIBE. */
static int h_topic_open(struct shmq_server *s, struct srv_session *ss, const struct shmq_ctl_msg *req,
			struct shmq_ctl_msg *resp)
{
	const char *topic = req->u.topic_describe_req.topic;
	int rc = acl(s, ss, topic, SHMQ_ACL_PRODUCE);
	shmq_ring_t *ring;
	if (rc < 0 || (rc = ring_of(s, topic, 0, &ring)) < 0)
		return rc;
	return h_topic_describe(s, req, resp);
}

static int h_open_queue(struct shmq_server *s, struct srv_session *ss,
			const struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp, int *fd)
{
	const struct shmq_ctl_open_queue_req *r = &req->u.open_queue_req;
	int rc = acl(s, ss, r->topic,
		     r->mode == SHMQ_CTL_OPEN_PRODUCE ? SHMQ_ACL_PRODUCE : SHMQ_ACL_CONSUME);
	if (rc < 0)
		return rc;
	shmq_ring_t *ring;
	rc = ring_of(s, r->topic, r->queue, &ring);
	if (rc < 0)
		return rc;
	resp->u.open_queue_resp.queue = r->queue;
	resp->u.open_queue_resp.mode = r->mode;
	resp->u.open_queue_resp.ring_capacity = shmq_ring_capacity(ring);
	*fd = shmq_ring_fd(ring);
	return 0;
}

static void ring_entry_fill(struct shmq_server *s, const struct shmq_queue_ring *qr,
			    struct shmq_ctl_ring_entry *e)
{
	struct shmq_ring_stats st;
	shmq_ring_stats(qr->ring, &st);
	memset(e, 0, sizeof(*e));
	name_copy(e->topic, qr->topic);
	e->queue = qr->queue;
	e->fenced = st.fenced || shmq_persister_ring_fenced(s->persister, qr->ring);
	e->capacity = shmq_ring_capacity(qr->ring);
	e->tail = st.tail;
	e->consumed = st.consumed;
	e->persisted = shmq_ring_mark(qr->ring, SHMQ_RING_MARK_PERSISTED);
	e->flushed = shmq_ring_mark(qr->ring, SHMQ_RING_MARK_FLUSHED);
	/* The anchor names the first record the persister has not consumed;
	 * once it consumed everything, the store's next offset is the truth
	 * (the anchor is only re-published with the next record). */
	uint64_t min, max;
	(void)srv_queue_bounds(s, qr->topic, qr->queue, &min, &max);
	e->next_queue_offset = max;
	e->unblocked = st.unblocked;
}

static int h_ring_status(struct shmq_server *s, const struct shmq_ctl_msg *req,
			 struct shmq_ctl_msg *resp)
{
	size_t total = shmq_queues_count(s->queues);
	uint32_t start = req->u.ring_status_req.start;
	uint32_t max = req->u.ring_status_req.max;
	if (max > SHMQ_CTL_RING_PAGE)
		max = SHMQ_CTL_RING_PAGE;
	struct shmq_ctl_ring_status_resp *o = &resp->u.ring_status_resp;
	o->hdr.total = (uint32_t)total;
	o->hdr.count = 0;
	for (size_t i = start; i < total && o->hdr.count < max; i++)
		ring_entry_fill(s, shmq_queues_at(s->queues, i), &o->entries[o->hdr.count++]);
	return 0;
}

/* ---- consumer groups ---- */

static void assign_fill(struct srv_session *ss, const struct shmq_group_assign *a,
			struct shmq_ctl_group_join_resp *o)
{
	o->hdr.generation = a->generation;
	o->hdr.count = a->count;
	o->hdr.member_id = ss->id;
	o->hdr.queues = a->nqueues;
	o->hdr.mode = a->mode;
	memcpy(o->queues, a->queues, a->count * sizeof(a->queues[0]));
}

static int h_group_join(struct shmq_server *s, struct srv_session *ss,
			const struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp, int *fd)
{
	const struct shmq_ctl_group_req *r = &req->u.group_req;
	uint32_t queues;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_CONSUME);
	if (rc < 0)
		return rc;
	/* a consumer may come before any producer: auto-create applies here
	 * as it does to OPEN_QUEUE */
	shmq_ring_t *ring;
	if (s->cfg->auto_create_topics && (rc = ring_of(s, r->topic, 0, &ring)) < 0)
		return rc;
	if ((rc = topic_queues(s, r->topic, &queues)) < 0)
		return rc;
	static struct shmq_group_assign a; /* 4 KiB; event-loop thread only */
	rc = shmq_groups_join(s->groups, r->group, r->topic, queues, r->mode, ss->id, &a, fd);
	if (rc == -EINVAL)
		return why(s, rc, "cannot join group '%s' on '%s' in %s mode (another mode or queue count in use?)",
			   r->group, r->topic, r->mode == SHMQ_CTL_GROUP_BROADCASTING ? "broadcasting" : "clustering");
	if (rc < 0)
		return rc;
	assign_fill(ss, &a, &resp->u.group_join_resp);
	shmq_log_info(COMP, "session %" PRIu64 " joined group '%s' on '%s': generation %u, %u of %u queues",
		      ss->id, r->group, r->topic, a.generation, a.count, a.nqueues);
	return 0;
}

static int h_group_sync(struct shmq_server *s, struct srv_session *ss,
			const struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp)
{
	const struct shmq_ctl_group_req *r = &req->u.group_sync_req;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_CONSUME);
	if (rc < 0)
		return rc;
	static struct shmq_group_assign a;
	rc = shmq_groups_sync(s->groups, r->group, r->topic, ss->id, &a);
	if (rc == SHMQ_ENOTFOUND)
		return why(s, rc, "session %" PRIu64 " is not a member of group '%s' on '%s'", ss->id,
			   r->group, r->topic);
	if (rc < 0)
		return rc;
	assign_fill(ss, &a, &resp->u.group_join_resp);
	return 0;
}

static int h_group_leave(struct shmq_server *s, struct srv_session *ss,
			 const struct shmq_ctl_msg *req)
{
	const struct shmq_ctl_group_req *r = &req->u.group_req;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_CONSUME);
	if (rc < 0)
		return rc;
	rc = shmq_groups_leave(s->groups, r->group, r->topic, ss->id);
	if (rc == SHMQ_ENOTFOUND)
		return why(s, rc, "not a member of group '%s' on '%s'", r->group, r->topic);
	return rc;
}

static int h_queue_release(struct shmq_server *s, struct srv_session *ss,
			   const struct shmq_ctl_msg *req)
{
	const struct shmq_ctl_queue_release_req *r = &req->u.queue_release_req;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_CONSUME);
	if (rc < 0)
		return rc;
	rc = shmq_groups_release(s->groups, r->group, r->topic, r->queue, r->generation, ss->id);
	if (rc == -ESTALE)
		return why(s, rc, "queue %u of '%s' is not being revoked from this member in generation %u",
			   r->queue, r->topic, r->generation);
	return rc;
}

static int h_commit(struct shmq_server *s, struct srv_session *ss, const struct shmq_ctl_msg *req)
{
	const struct shmq_ctl_commit_req *r = &req->u.commit_req;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_CONSUME);
	if (rc < 0)
		return rc;
	rc = shmq_groups_commit(s->groups, r->group, r->topic, r->queue, r->offset);
	if (rc == SHMQ_ENOTFOUND)
		return why(s, rc, "no group '%s' on '%s'", r->group, r->topic);
	return rc;
}

int srv_queue_bounds(void *arg, const char *topic, uint32_t queue, uint64_t *min, uint64_t *max)
{
	struct shmq_server *s = arg;
	uint64_t lo = 0, hi = 0;
	int rc = shmq_store_queue_offsets(s->store, topic, queue, &lo, &hi);
	if (rc < 0 && rc != SHMQ_ENOTFOUND)
		return rc;
	/* A consumer reading the ring in IMMEDIATE mode may commit past what
	 * is stored: the persister's anchor (the next offset it assigns) is a
	 * safe upper bound too. */
	shmq_ring_t *ring = shmq_queues_get(s->queues, topic, queue);
	struct shmq_ring_anchor a;
	if (ring && shmq_ring_read_anchor(ring, &a) == 0 && a.queue_offset > hi)
		hi = a.queue_offset;
	*min = lo;
	*max = hi;
	return 0;
}

static void progress_bounds(struct shmq_server *s, const char *topic,
			    struct shmq_ctl_progress_resp *o)
{
	for (uint32_t i = 0; i < o->hdr.count; i++) {
		uint64_t min = 0, max = 0;
		if (shmq_store_queue_offsets(s->store, topic, i, &min, &max) < 0)
			min = max = 0;
		o->entries[i].min_offset = min;
		o->entries[i].max_offset = max;
	}
}

static int h_group_progress(struct shmq_server *s, struct srv_session *ss,
			    const struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp)
{
	const struct shmq_ctl_group_req *r = &req->u.progress_req;
	uint32_t queues;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_CONSUME);
	if (rc < 0 || (rc = topic_queues(s, r->topic, &queues)) < 0)
		return rc;
	struct shmq_ctl_progress_resp *o = &resp->u.progress_resp;
	rc = shmq_groups_progress(s->groups, r->group, r->topic, queues, o->entries, &o->hdr);
	if (rc < 0)
		return rc;
	progress_bounds(s, r->topic, o);
	return 0;
}

static int h_group_reset(struct shmq_server *s, struct srv_session *ss,
			 const struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp)
{
	const struct shmq_ctl_group_reset_req *r = &req->u.group_reset_req;
	uint32_t queues;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_ADMIN);
	if (rc < 0 || (rc = topic_queues(s, r->topic, &queues)) < 0)
		return rc;
	static uint64_t offs[SHMQ_CTL_QUEUES_MAX];
	for (uint32_t i = 0; i < queues; i++) {
		uint64_t min = 0, max = 0;
		rc = shmq_store_queue_offsets(s->store, r->topic, i, &min, &max);
		if (rc == SHMQ_ENOTFOUND) {
			offs[i] = 0; /* nothing stored yet: every kind means "from the start" */
			continue;
		}
		if (rc < 0)
			return rc;
		switch (r->kind) {
		case SHMQ_CTL_RESET_EARLIEST:
			offs[i] = min;
			break;
		case SHMQ_CTL_RESET_LATEST:
			offs[i] = max;
			break;
		default:
			rc = shmq_store_queue_search_time(s->store, r->topic, i, r->timestamp_ms, &offs[i]);
			if (rc < 0)
				return why(s, rc, "queue %u: time search failed: %s", i, shmq_strerror(rc));
			break;
		}
	}
	rc = shmq_groups_reset(s->groups, r->group, r->topic, queues, offs);
	if (rc < 0)
		return why(s, rc, "reset of group '%s' on '%s' failed: %s", r->group, r->topic,
			   shmq_strerror(rc));
	shmq_log_info(COMP, "group '%s' on '%s' reset (kind %u, ts %" PRIu64 ") by session %" PRIu64,
		      r->group, r->topic, r->kind, r->timestamp_ms, ss->id);
	struct shmq_ctl_progress_resp *o = &resp->u.progress_resp;
	rc = shmq_groups_progress(s->groups, r->group, r->topic, queues, o->entries, &o->hdr);
	if (rc < 0)
		return rc;
	progress_bounds(s, r->topic, o);
	return 0;
}

/* SEARCH_TIME: where a consumer starting at a timestamp places a queue its
 * group never committed (the remote consumer's SHMQ_START_TIMESTAMP): the
 * first offset stored at or after the time, the end when none is, 0 when the
 * queue stored nothing yet. The store's search skips unreadable entries as
 * the local cursor does, so the two answers agree. */
static int h_search_time(struct shmq_server *s, struct srv_session *ss, const struct shmq_ctl_msg *req,
			 struct shmq_ctl_msg *resp)
{
	const struct shmq_ctl_search_time_req *r = &req->u.search_time_req;
	uint32_t queues = 0;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_CONSUME);
	if (rc < 0 || (rc = topic_queues(s, r->topic, &queues)) < 0)
		return rc;
	if (r->queue >= queues)
		return why(s, -EINVAL, "topic '%s' has %u queues; no queue %u", r->topic, queues, r->queue);
	struct shmq_ctl_search_time_resp *o = &resp->u.search_time_resp;
	o->queue = r->queue;
	uint64_t at = 0;
	rc = shmq_store_queue_search_time(s->store, r->topic, r->queue, r->timestamp_ms, &at);
	if (rc == SHMQ_ENOTFOUND)
		return 0; /* nothing stored yet: from the start, as GROUP_RESET */
	if (rc < 0)
		return why(s, rc, "%s/%u: time search failed: %s", r->topic, r->queue, shmq_strerror(rc));
	/* the bounds after the search: max only grows; min may have passed the
	 * answer (retention), and what it deleted was older anyway */
	uint64_t min = at, max = at;
	if (shmq_store_queue_offsets(s->store, r->topic, r->queue, &min, &max) < 0)
		min = max = at;
	o->offset = at < min ? min : at;
	o->min_offset = min;
	o->max_offset = max < o->offset ? o->offset : max;
	return 0;
}

/* ---- the store, read-only ---- */

/* OPEN_SEGMENT: a segment holds every topic's records, so any consume right
 * will do; checked once per session (the ACL does not change at run time). */
static int consume_any(struct shmq_server *s, struct srv_session *ss)
{
	if (ss->consume_any < 0) {
		ss->consume_any = 0;
		struct shmq_topic_info ti[SHMQ_CTL_LIST_MAX];
		uint32_t total = 0;
		for (uint32_t start = 0; !ss->consume_any;) {
			int n = shmq_topics_list(s->topics, start, ti, SHMQ_CTL_LIST_MAX, &total);
			if (n <= 0)
				break;
			for (int i = 0; i < n && !ss->consume_any; i++)
				if (shmq_acl_check(s->acl, ss->uid, ss->gid, ti[i].name, SHMQ_ACL_CONSUME) == 0)
					ss->consume_any = 1;
			start += (uint32_t)n;
		}
		/* a topic created later may grant it: ask again next time */
		if (!ss->consume_any) {
			ss->consume_any = -1;
			return why(s, -EACCES, "uid %u gid %u has the consume right on no topic",
				   (unsigned)ss->uid, (unsigned)ss->gid);
		}
	}
	return 0;
}

static int h_open_segment(struct shmq_server *s, struct srv_session *ss,
			  const struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp, int *fd)
{
	int rc = consume_any(s, ss);
	if (rc < 0)
		return rc;
	uint64_t off = req->u.open_segment_req.offset, base, size;
	rc = shmq_store_segment_fd(s->store, off, fd, &base, &size);
	if (rc == SHMQ_ENOTFOUND)
		return why(s, rc, "no commitlog segment holds offset %" PRIu64 " (stored: %" PRIu64 "..%" PRIu64 ")",
			   off, shmq_store_min_offset(s->store), shmq_store_max_offset(s->store));
	if (rc < 0)
		return rc;
	struct shmq_ctl_open_segment_resp *o = &resp->u.open_segment_resp;
	o->base_offset = base;
	o->file_size = size;
	o->written_end = shmq_store_max_offset(s->store);
	o->min_offset = shmq_store_min_offset(s->store);
	if (o->min_offset > o->written_end)
		o->min_offset = o->written_end;
	return 0;
}

static int h_open_cq(struct shmq_server *s, struct srv_session *ss, const struct shmq_ctl_msg *req,
		     struct shmq_ctl_msg *resp, int *fd)
{
	const struct shmq_ctl_open_cq_req *r = &req->u.open_cq_req;
	uint32_t queues;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_CONSUME);
	if (rc < 0 || (rc = topic_queues(s, r->topic, &queues)) < 0)
		return rc;
	if (r->queue >= queues)
		return why(s, -EINVAL, "topic '%s' has %u queues; no queue %u", r->topic, queues, r->queue);
	uint32_t epf;
	rc = shmq_store_cq_fd(s->store, r->topic, r->queue, r->file_index, fd, &epf);
	if (rc == SHMQ_ENOTFOUND)
		return why(s, rc, "no consumequeue file %u for %s/%u", r->file_index, r->topic, r->queue);
	if (rc < 0)
		return rc;
	uint64_t min = 0, max = 0;
	(void)shmq_store_queue_offsets(s->store, r->topic, r->queue, &min, &max);
	struct shmq_ctl_open_cq_resp *o = &resp->u.open_cq_resp;
	o->file_index = r->file_index;
	o->entries_per_file = epf;
	o->min_queue_offset = min;
	o->max_queue_offset = max < min ? min : max;
	return 0;
}

static int h_query_key(struct shmq_server *s, struct srv_session *ss,
		       const struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp)
{
	const struct shmq_ctl_query_key_req *r = &req->u.query_key_req;
	int rc = acl(s, ss, r->topic, SHMQ_ACL_CONSUME);
	if (rc < 0)
		return rc;
	uint64_t offs[SHMQ_CTL_QUERY_MAX];
	unsigned max = r->max < SHMQ_CTL_QUERY_MAX ? r->max : SHMQ_CTL_QUERY_MAX;
	int n = shmq_store_query_key(s->store, r->topic, r->key, r->begin_ms, r->end_ms, offs, max);
	if (n < 0)
		return why(s, n, "key query failed: %s", shmq_strerror(n));
	struct shmq_ctl_query_resp *o = &resp->u.query_resp;
	o->hdr.count = 0;
	for (int i = 0; i < n; i++) {
		struct shmq_store_view v;
		if (shmq_store_read(s->store, offs[i], &v) != 0)
			continue; /* deleted by retention since the query */
		struct shmq_ctl_query_hit *h = &o->hits[o->hdr.count++];
		h->commitlog_offset = v.commitlog_offset;
		h->size = v.size;
		h->queue = v.queue_id;
		h->store_ts_ms = v.store_ts_ms;
		shmq_store_view_release(s->store, &v);
	}
	return 0;
}

/* READ_MSG: one record's bytes, for a reader without the store's fds (a
 * remote admin client: shmq_admin_read_offset/_msgid/_queue). By offset, the
 * consume right is checked on the record's own topic once it is read (a
 * local reader needs it on any topic to map a segment: this is narrower). */
static int h_read_msg(struct shmq_server *s, struct srv_session *ss, const struct shmq_ctl_msg *req,
		      struct shmq_ctl_msg *resp)
{
	const struct shmq_ctl_read_msg_req *r = &req->u.read_msg_req;
	struct shmq_store_view v;
	int rc;
	if (r->kind == SHMQ_CTL_READ_QUEUE) {
		uint32_t queues = 0;
		if ((rc = acl(s, ss, r->topic, SHMQ_ACL_CONSUME)) < 0 || (rc = topic_queues(s, r->topic, &queues)) < 0)
			return rc;
		if (r->queue >= queues)
			return why(s, -EINVAL, "topic '%s' has %u queues; no queue %u", r->topic, queues, r->queue);
		rc = shmq_store_read_queue(s->store, r->topic, r->queue, r->offset, &v);
	} else {
		rc = shmq_store_read(s->store, r->offset, &v);
	}
	if (rc == SHMQ_ENOTFOUND || rc == SHMQ_ESTALE)
		return why(s, rc, "no stored message at %s offset %" PRIu64 " (%s)",
			   r->kind == SHMQ_CTL_READ_QUEUE ? "queue" : "commitlog", r->offset,
			   rc == SHMQ_ESTALE ? "deleted by retention" : "not written, or not a record");
	if (rc < 0)
		return why(s, rc, "reading offset %" PRIu64 ": %s", r->offset, shmq_strerror(rc));
	if (r->kind == SHMQ_CTL_READ_OFFSET) {
		char topic[SHMQ_CTL_NAME_LEN] = { 0 };
		memcpy(topic, v.topic, v.topic_len < SHMQ_CTL_NAME_MAX ? v.topic_len : SHMQ_CTL_NAME_MAX);
		rc = acl(s, ss, topic, SHMQ_ACL_CONSUME);
	}
	if (rc == 0 && v.size > SHMQ_CTL_RECORD_MAX)
		rc = why(s, SHMQ_ETOOBIG, "the record is %u bytes; a control answer carries up to %u",
			 v.size, SHMQ_CTL_RECORD_MAX);
	if (rc == 0) {
		struct shmq_ctl_read_msg_resp *o = &resp->u.read_msg_resp;
		o->hdr.commitlog_offset = v.commitlog_offset;
		o->hdr.size = v.size;
		memcpy(o->record, v.raw, v.size);
	}
	shmq_store_view_release(s->store, &v);
	return rc;
}

/* ---- STATUS ---- */

static uint64_t commitlog_bytes(const char *store_dir)
{
	char path[SHMQ_CONFIG_PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/commitlog", store_dir);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	uint64_t sum = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] == '.' || fstatat(dirfd(d), e->d_name, &st, 0) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		sum += (uint64_t)st.st_size;
	}
	closedir(d);
	return sum;
}

static int h_status(struct shmq_server *s, struct shmq_ctl_msg *resp)
{
	struct shmq_ctl_status_resp *o = &resp->u.status_resp;
	o->uptime_ns = shmq_now_ns() - s->start_ns;
	o->commitlog_max_offset = shmq_store_max_offset(s->store);
	o->commitlog_min_offset = shmq_store_min_offset(s->store);
	if (o->commitlog_min_offset > o->commitlog_max_offset)
		o->commitlog_min_offset = o->commitlog_max_offset;
	uint64_t fl = shmq_store_flushed_offset(s->store);
	if (fl < o->commitlog_min_offset)
		fl = o->commitlog_min_offset;
	if (fl > o->commitlog_max_offset)
		fl = o->commitlog_max_offset;
	o->commitlog_flushed_offset = fl;
	o->topics = (uint32_t)shmq_topics_count(s->topics);
	o->clients = s->nsessions;
	struct statvfs vfs;
	if (statvfs(s->cfg->store_dir, &vfs) == 0) {
		o->disk_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		o->disk_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		if (o->disk_free > o->disk_total)
			o->disk_free = o->disk_total;
	}
	o->store_bytes = commitlog_bytes(s->cfg->store_dir);
	struct shmq_persister_stats ps;
	shmq_persister_stats(s->persister, &ps);
	o->messages = ps.messages;
	size_t n = shmq_queues_count(s->queues);
	o->rings = (uint32_t)n;
	o->fenced_rings = 0;
	for (size_t i = 0; i < n; i++) {
		const struct shmq_queue_ring *qr = shmq_queues_at(s->queues, i);
		struct shmq_ring_stats st;
		shmq_ring_stats(qr->ring, &st);
		if (st.fenced || shmq_persister_ring_fenced(s->persister, qr->ring))
			o->fenced_rings++;
	}
	o->pid = (uint32_t)getpid();
	o->flush_mode = s->cfg->flush_mode == SHMQ_BROKER_FLUSH_SYNC ? 1 : 0;
	if (s->remote) {
		struct shmq_remote_stats rs;
		shmq_remote_stats(s->remote, &rs);
		o->remote_sessions = rs.sessions;
		o->remote_members = rs.members;
		o->remote_frames = rs.frames;
		/* read one by one: keep the codec's invariants */
		o->remote_garbage = rs.garbage < rs.frames ? rs.garbage : rs.frames;
		o->remote_hello_refused = rs.hello_refused;
		o->remote_requests = rs.requests;
		o->remote_errors = rs.errors < rs.requests ? rs.errors : rs.requests;
		o->remote_produced = rs.produced;
		o->remote_produce_dups = rs.produce_dups;
		o->remote_pulled = rs.pulled;
		o->remote_leases_expired = rs.leases_expired;
	}
	o->guard_trips = shmq_shm_guard_trips();
	o->broker_id = s->cfg->broker_id;
	return 0;
}

/* ---- dispatch ---- */

int srv_handle(struct shmq_server *s, struct srv_session *ss, const struct shmq_ctl_msg *req,
	       struct shmq_ctl_msg *resp, int *fd, bool *close_fd)
{
	*fd = -1;
	*close_fd = false;
	s->why[0] = '\0';
	shmq_ctl_msg_init(resp, req->type, SHMQ_CTL_F_RESPONSE, req->request_id);
	if (req->type == SHMQ_CTL_HELLO)
		return h_hello(s, ss, req, resp);
	if (!ss->hello)
		return why(s, -EPROTO, "HELLO must be the first request on a connection");
	int rc;
	switch (req->type) {
	case SHMQ_CTL_TOPIC_CREATE: return h_topic_create(s, ss, req, resp);
	case SHMQ_CTL_TOPIC_DESCRIBE: return h_topic_describe(s, req, resp);
	case SHMQ_CTL_TOPIC_OPEN: return h_topic_open(s, ss, req, resp);
	case SHMQ_CTL_TOPIC_LIST: return h_topic_list(s, req, resp);
	case SHMQ_CTL_OPEN_QUEUE: return h_open_queue(s, ss, req, resp, fd);
	case SHMQ_CTL_GROUP_JOIN:
		rc = h_group_join(s, ss, req, resp, fd);
		*close_fd = true; /* a dup of the table's fd */
		return rc;
	case SHMQ_CTL_GROUP_SYNC: return h_group_sync(s, ss, req, resp);
	case SHMQ_CTL_GROUP_LEAVE: return h_group_leave(s, ss, req);
	case SHMQ_CTL_QUEUE_RELEASE: return h_queue_release(s, ss, req);
	case SHMQ_CTL_COMMIT_OFFSET: return h_commit(s, ss, req);
	case SHMQ_CTL_STATUS: return h_status(s, resp);
	case SHMQ_CTL_OPEN_SEGMENT:
		*close_fd = true;
		return h_open_segment(s, ss, req, resp, fd);
	case SHMQ_CTL_OPEN_CQ:
		*close_fd = true;
		return h_open_cq(s, ss, req, resp, fd);
	case SHMQ_CTL_QUERY_KEY: return h_query_key(s, ss, req, resp);
	case SHMQ_CTL_GROUP_PROGRESS: return h_group_progress(s, ss, req, resp);
	case SHMQ_CTL_GROUP_RESET: return h_group_reset(s, ss, req, resp);
	case SHMQ_CTL_RING_STATUS: return h_ring_status(s, req, resp);
	case SHMQ_CTL_SEARCH_TIME: return h_search_time(s, ss, req, resp);
	case SHMQ_CTL_READ_MSG: return h_read_msg(s, ss, req, resp);
	default:
		return why(s, -EOPNOTSUPP, "request type %u (%s) is not served", req->type,
			   shmq_ctl_type_name(req->type));
	}
}
