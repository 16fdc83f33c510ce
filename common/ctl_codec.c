/* SPDX-License-Identifier: Apache-2.0 */
/* Control-protocol codec: see common/ctl_codec.h for what is validated. */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/ctl_codec.h"

#define HDR_SIZE sizeof(struct shmq_ctl_hdr)

static bool name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '%' || c == '|' || c == '-';
}

int shmq_ctl_name_check(const char *name)
{
	size_t n = 0;

	if (!name)
		return -EINVAL;
	for (; name[n] != '\0'; n++)
		if (n >= SHMQ_CTL_NAME_MAX || !name_char_ok((unsigned char)name[n]))
			return -EINVAL;
	return n == 0 ? -EINVAL : (int)n;
}

int shmq_ctl_name_set(char dst[SHMQ_CTL_NAME_LEN], const char *src, bool allow_empty)
{
	if (!(allow_empty && src && src[0] == '\0') && shmq_ctl_name_check(src) < 0)
		return -EINVAL;
	memset(dst, 0, SHMQ_CTL_NAME_LEN);
	memcpy(dst, src, strlen(src));
	return 0;
}

int shmq_ctl_field_len(const char *f, size_t size)
{
	const char *nul = memchr(f, '\0', size);

	if (!nul)
		return -1;
	for (const char *p = nul; p < f + size; p++)
		if (*p != '\0')
			return -1;
	return (int)(nul - f);
}

bool shmq_ctl_name_field_ok(const char *f, size_t size, bool allow_empty)
{
	int n = shmq_ctl_field_len(f, size);

	if (n < 0)
		return false;
	if (n == 0)
		return allow_empty;
	if (n > (int)SHMQ_CTL_NAME_MAX)
		return false;
	for (int i = 0; i < n; i++)
		if (!name_char_ok((unsigned char)f[i]))
			return false;
	return true;
}

bool shmq_ctl_text_field_ok(const char *f, size_t size)
{
	int n = shmq_ctl_field_len(f, size);

	if (n < 0)
		return false;
	for (int i = 0; i < n; i++)
		if ((unsigned char)f[i] < 0x20 || (unsigned char)f[i] > 0x7e)
			return false;
	return true;
}

static bool name_field_ok(const char f[SHMQ_CTL_NAME_LEN], bool allow_empty)
{
	return shmq_ctl_name_field_ok(f, SHMQ_CTL_NAME_LEN, allow_empty);
}

static bool text_field_ok(const char *f, size_t size)
{
	return shmq_ctl_text_field_ok(f, size);
}

static bool key_char_ok(unsigned char c)
{
	return c > 0x20 && c != 0x7f;
}

int shmq_ctl_key_check(const char *key)
{
	size_t n = 0;

	if (!key)
		return -EINVAL;
	for (; key[n] != '\0'; n++)
		if (n >= SHMQ_CTL_KEY_LEN - 1 || !key_char_ok((unsigned char)key[n]))
			return -EINVAL;
	return n == 0 ? -EINVAL : (int)n;
}

static bool key_field_ok(const char f[SHMQ_CTL_KEY_LEN])
{
	int n = shmq_ctl_field_len(f, SHMQ_CTL_KEY_LEN);

	if (n <= 0)
		return false;
	for (int i = 0; i < n; i++)
		if (!key_char_ok((unsigned char)f[i]))
			return false;
	return true;
}

static bool is_response(const struct shmq_ctl_msg *m)
{
	return (m->flags & SHMQ_CTL_F_RESPONSE) != 0;
}

/* Body length of a message in host form (its counts already validated). */
static size_t body_len(const struct shmq_ctl_msg *m)
{
	bool resp = is_response(m);

	switch (m->type) {
	case SHMQ_CTL_HELLO:
		return resp ? sizeof(m->u.hello_resp) : sizeof(m->u.hello_req);
	case SHMQ_CTL_TOPIC_CREATE:
		return resp ? sizeof(m->u.topic_info) : sizeof(m->u.topic_create_req);
	case SHMQ_CTL_TOPIC_DESCRIBE:
	case SHMQ_CTL_TOPIC_OPEN:
		return resp ? sizeof(m->u.topic_info) : sizeof(m->u.topic_describe_req);
	case SHMQ_CTL_TOPIC_LIST:
		return resp ? sizeof(struct shmq_ctl_topic_list_resp_hdr) +
				      (size_t)m->u.topic_list_resp.hdr.count *
					      sizeof(struct shmq_ctl_topic_ref)
			    : sizeof(m->u.topic_list_req);
	case SHMQ_CTL_OPEN_QUEUE:
		return resp ? sizeof(m->u.open_queue_resp) : sizeof(m->u.open_queue_req);
	case SHMQ_CTL_GROUP_JOIN:
	case SHMQ_CTL_GROUP_SYNC:
		return resp ? sizeof(struct shmq_ctl_group_join_resp_hdr) +
				      (size_t)m->u.group_join_resp.hdr.count * sizeof(uint32_t)
			    : sizeof(m->u.group_req);
	case SHMQ_CTL_QUEUE_RELEASE:
		return resp ? 0 : sizeof(m->u.queue_release_req);
	case SHMQ_CTL_OPEN_SEGMENT:
		return resp ? sizeof(m->u.open_segment_resp) : sizeof(m->u.open_segment_req);
	case SHMQ_CTL_OPEN_CQ:
		return resp ? sizeof(m->u.open_cq_resp) : sizeof(m->u.open_cq_req);
	case SHMQ_CTL_QUERY_KEY:
		return resp ? sizeof(struct shmq_ctl_query_resp_hdr) +
				      (size_t)m->u.query_resp.hdr.count * sizeof(struct shmq_ctl_query_hit)
			    : sizeof(m->u.query_key_req);
	case SHMQ_CTL_GROUP_PROGRESS:
	case SHMQ_CTL_GROUP_RESET:
		if (!resp)
			return m->type == SHMQ_CTL_GROUP_RESET ? sizeof(m->u.group_reset_req)
							       : sizeof(m->u.progress_req);
		return sizeof(struct shmq_ctl_progress_resp_hdr) +
		       (size_t)m->u.progress_resp.hdr.count * sizeof(struct shmq_ctl_progress_entry);
	case SHMQ_CTL_RING_STATUS:
		return resp ? sizeof(struct shmq_ctl_ring_status_resp_hdr) +
				      (size_t)m->u.ring_status_resp.hdr.count *
					      sizeof(struct shmq_ctl_ring_entry)
			    : sizeof(m->u.ring_status_req);
	case SHMQ_CTL_GROUP_LEAVE:
		return resp ? 0 : sizeof(m->u.group_req);
	case SHMQ_CTL_COMMIT_OFFSET:
		return resp ? 0 : sizeof(m->u.commit_req);
	case SHMQ_CTL_STATUS:
		return resp ? sizeof(m->u.status_resp) : 0;
	case SHMQ_CTL_SEARCH_TIME:
		return resp ? sizeof(m->u.search_time_resp) : sizeof(m->u.search_time_req);
	case SHMQ_CTL_READ_MSG:
		return resp ? sizeof(struct shmq_ctl_read_msg_resp_hdr) + (size_t)m->u.read_msg_resp.hdr.size
			    : sizeof(m->u.read_msg_req);
	case SHMQ_CTL_ERROR:
		return sizeof(m->u.error);
	default:
		return 0;
	}
}

static bool hdr_ok(const struct shmq_ctl_msg *m)
{
	if (m->type < SHMQ_CTL_HELLO || m->type > SHMQ_CTL_TYPE_MAX)
		return false;
	if (m->flags & ~(unsigned)SHMQ_CTL_F_ALL)
		return false;
	if (m->type == SHMQ_CTL_ERROR && !is_response(m))
		return false;
	/* HAS_FD is a promise the receiver enforces on the ancillary data, so
	 * it is allowed on exactly the responses that carry an fd. */
	bool wants_fd = is_response(m) &&
			(m->type == SHMQ_CTL_OPEN_QUEUE || m->type == SHMQ_CTL_GROUP_JOIN ||
			 m->type == SHMQ_CTL_OPEN_SEGMENT || m->type == SHMQ_CTL_OPEN_CQ);
	return ((m->flags & SHMQ_CTL_F_HAS_FD) != 0) == wants_fd;
}

static bool queue_ok(uint32_t q)
{
	return q < SHMQ_CTL_QUEUES_MAX;
}

static bool group_mode_ok(uint32_t mode)
{
	return mode == SHMQ_CTL_GROUP_CLUSTERING || mode == SHMQ_CTL_GROUP_BROADCASTING;
}

static bool pow2_capacity_ok(uint64_t cap)
{
	return cap >= 4096 && (cap & (cap - 1)) == 0;
}

/* GROUP_JOIN, LEAVE, SYNC and PROGRESS requests: JOIN names a mode, the
 * others carry 0. */
static bool group_req_ok(const struct shmq_ctl_group_req *g, bool join)
{
	bool mode_ok = join ? group_mode_ok(g->mode) : g->mode == 0;
	return mode_ok && g->reserved == 0 && name_field_ok(g->group, false) &&
	       name_field_ok(g->topic, false);
}

static bool group_join_resp_ok(const struct shmq_ctl_group_join_resp *j)
{
	const struct shmq_ctl_group_join_resp_hdr *h = &j->hdr;
	if (h->queues < 1 || h->queues > SHMQ_CTL_QUEUES_MAX || h->count > h->queues ||
	    h->member_id == 0 || !group_mode_ok(h->mode))
		return false;
	for (uint32_t i = 0; i < h->count; i++)
		if (j->queues[i] >= h->queues || (i > 0 && j->queues[i - 1] >= j->queues[i]))
			return false;
	return true;
}

static bool progress_resp_ok(const struct shmq_ctl_progress_resp *p)
{
	const struct shmq_ctl_progress_resp_hdr *h = &p->hdr;
	if (h->count < 1 || h->count > SHMQ_CTL_QUEUES_MAX || h->mode > SHMQ_CTL_GROUP_BROADCASTING)
		return false;
	for (uint32_t i = 0; i < h->count; i++)
		if (p->entries[i].min_offset > p->entries[i].max_offset)
			return false;
	return true;
}

/* (topic, queue) order of RING_STATUS pages. */
static int ring_entry_cmp(const struct shmq_ctl_ring_entry *a, const struct shmq_ctl_ring_entry *b)
{
	int c = strcmp(a->topic, b->topic);
	if (c != 0)
		return c;
	return a->queue < b->queue ? -1 : a->queue > b->queue;
}

static bool ring_status_resp_ok(const struct shmq_ctl_ring_status_resp *r)
{
	if (r->hdr.count > SHMQ_CTL_RING_PAGE || r->hdr.count > r->hdr.total)
		return false;
	for (uint32_t i = 0; i < r->hdr.count; i++) {
		const struct shmq_ctl_ring_entry *e = &r->entries[i];
		/* names first: ring_entry_cmp() needs the NUL */
		if (!name_field_ok(e->topic, false) || !queue_ok(e->queue) || e->fenced > 1 ||
		    !pow2_capacity_ok(e->capacity))
			return false;
		if (i > 0 && ring_entry_cmp(&r->entries[i - 1], e) >= 0)
			return false;
	}
	return true;
}

static bool status_resp_ok(const struct shmq_ctl_status_resp *s)
{
	return s->commitlog_min_offset <= s->commitlog_flushed_offset &&
	       s->commitlog_flushed_offset <= s->commitlog_max_offset &&
	       s->disk_free <= s->disk_total && s->fenced_rings <= s->rings && s->flush_mode <= 1 &&
	       s->remote_garbage <= s->remote_frames && s->remote_errors <= s->remote_requests &&
	       s->reserved == 0;
}

/* Semantic checks on a host-form body; counts must be checked before
 * body_len() is trusted, so lists check their count first. */
static bool body_ok(const struct shmq_ctl_msg *m)
{
	bool resp = is_response(m);

	switch (m->type) {
	case SHMQ_CTL_HELLO:
		if (resp) {
			const struct shmq_ctl_hello_resp *h = &m->u.hello_resp;
			return h->server_version != 0 && name_field_ok(h->broker_name, false);
		} else {
			const struct shmq_ctl_hello_req *h = &m->u.hello_req;
			return h->client_version != 0 && h->role != 0 &&
			       (h->role & ~(uint32_t)SHMQ_CTL_ROLE_ALL) == 0 &&
			       h->reserved[0] == 0 && h->reserved[1] == 0 &&
			       name_field_ok(h->group, true);
		}
	case SHMQ_CTL_TOPIC_CREATE:
	case SHMQ_CTL_TOPIC_DESCRIBE:
	case SHMQ_CTL_TOPIC_OPEN:
		if (resp) {
			const struct shmq_ctl_topic_info *t = &m->u.topic_info;
			return name_field_ok(t->topic, false) && t->queues >= 1 &&
			       t->queues <= SHMQ_CTL_QUEUES_MAX && t->reserved == 0;
		}
		if (m->type != SHMQ_CTL_TOPIC_CREATE) /* DESCRIBE, OPEN: a topic_ref */
			return name_field_ok(m->u.topic_describe_req.topic, false);
		return name_field_ok(m->u.topic_create_req.topic, false) &&
		       m->u.topic_create_req.queues >= 1 &&
		       m->u.topic_create_req.queues <= SHMQ_CTL_QUEUES_MAX &&
		       m->u.topic_create_req.reserved == 0;
	case SHMQ_CTL_TOPIC_LIST:
		if (resp) {
			const struct shmq_ctl_topic_list_resp *l = &m->u.topic_list_resp;
			if (l->hdr.count > SHMQ_CTL_LIST_MAX || l->hdr.count > l->hdr.total)
				return false;
			for (uint32_t i = 0; i < l->hdr.count; i++) {
				if (!name_field_ok(l->names[i].topic, false))
					return false;
				/* pages come from a sorted registry: strictly increasing */
				if (i > 0 && strcmp(l->names[i - 1].topic, l->names[i].topic) >= 0)
					return false;
			}
			return true;
		}
		return m->u.topic_list_req.max >= 1 && m->u.topic_list_req.max <= SHMQ_CTL_LIST_MAX;
	case SHMQ_CTL_OPEN_QUEUE:
		if (resp) {
			const struct shmq_ctl_open_queue_resp *o = &m->u.open_queue_resp;
			return queue_ok(o->queue) &&
			       (o->mode == SHMQ_CTL_OPEN_PRODUCE || o->mode == SHMQ_CTL_OPEN_CONSUME) &&
			       pow2_capacity_ok(o->ring_capacity);
		} else {
			const struct shmq_ctl_open_queue_req *o = &m->u.open_queue_req;
			return name_field_ok(o->topic, false) && queue_ok(o->queue) &&
			       (o->mode == SHMQ_CTL_OPEN_PRODUCE || o->mode == SHMQ_CTL_OPEN_CONSUME);
		}
	case SHMQ_CTL_GROUP_JOIN:
	case SHMQ_CTL_GROUP_SYNC:
		if (resp)
			return group_join_resp_ok(&m->u.group_join_resp);
		return group_req_ok(&m->u.group_req, m->type == SHMQ_CTL_GROUP_JOIN);
	case SHMQ_CTL_GROUP_LEAVE:
		return resp || group_req_ok(&m->u.group_req, false); /* response: empty */
	case SHMQ_CTL_COMMIT_OFFSET:
		if (resp)
			return true;
		{
			const struct shmq_ctl_commit_req *c = &m->u.commit_req;
			return name_field_ok(c->group, false) && name_field_ok(c->topic, false) &&
			       queue_ok(c->queue) && c->reserved == 0 && c->offset <= INT64_MAX;
		}
	case SHMQ_CTL_STATUS:
		return !resp || status_resp_ok(&m->u.status_resp);
	case SHMQ_CTL_ERROR:
		return m->u.error.status < 0 && m->u.error.reserved == 0 &&
		       text_field_ok(m->u.error.message, sizeof(m->u.error.message));
	case SHMQ_CTL_QUEUE_RELEASE:
		if (resp)
			return true;
		{
			const struct shmq_ctl_queue_release_req *q = &m->u.queue_release_req;
			return name_field_ok(q->group, false) && name_field_ok(q->topic, false) &&
			       queue_ok(q->queue);
		}
	case SHMQ_CTL_OPEN_SEGMENT:
		if (resp) {
			const struct shmq_ctl_open_segment_resp *o = &m->u.open_segment_resp;
			return o->file_size > 0 && o->base_offset <= UINT64_MAX - o->file_size &&
			       o->min_offset <= o->written_end;
		}
		return true; /* any offset: the broker answers SHMQ_ENOTFOUND */
	case SHMQ_CTL_OPEN_CQ:
		if (resp) {
			const struct shmq_ctl_open_cq_resp *o = &m->u.open_cq_resp;
			return o->entries_per_file > 0 && o->min_queue_offset <= o->max_queue_offset;
		}
		return name_field_ok(m->u.open_cq_req.topic, false) && queue_ok(m->u.open_cq_req.queue);
	case SHMQ_CTL_QUERY_KEY:
		if (resp) {
			const struct shmq_ctl_query_resp *q = &m->u.query_resp;
			if (q->hdr.count > SHMQ_CTL_QUERY_MAX || q->hdr.reserved != 0)
				return false;
			for (uint32_t i = 0; i < q->hdr.count; i++)
				if (q->hits[i].size == 0 || !queue_ok(q->hits[i].queue))
					return false;
			return true;
		} else {
			const struct shmq_ctl_query_key_req *q = &m->u.query_key_req;
			return name_field_ok(q->topic, false) && key_field_ok(q->key) &&
			       q->begin_ms <= q->end_ms && q->max >= 1 && q->max <= SHMQ_CTL_QUERY_MAX &&
			       q->reserved == 0;
		}
	case SHMQ_CTL_GROUP_PROGRESS:
		if (resp)
			return progress_resp_ok(&m->u.progress_resp);
		return group_req_ok(&m->u.progress_req, false);
	case SHMQ_CTL_GROUP_RESET:
		if (resp)
			return progress_resp_ok(&m->u.progress_resp);
		{
			const struct shmq_ctl_group_reset_req *g = &m->u.group_reset_req;
			bool kind_ok = g->kind == SHMQ_CTL_RESET_TIMESTAMP ||
				       ((g->kind == SHMQ_CTL_RESET_EARLIEST ||
					 g->kind == SHMQ_CTL_RESET_LATEST) && g->timestamp_ms == 0);
			return kind_ok && g->reserved == 0 && name_field_ok(g->group, false) &&
			       name_field_ok(g->topic, false);
		}
	case SHMQ_CTL_RING_STATUS:
		if (resp)
			return ring_status_resp_ok(&m->u.ring_status_resp);
		return m->u.ring_status_req.max >= 1 && m->u.ring_status_req.max <= SHMQ_CTL_RING_PAGE;
	case SHMQ_CTL_SEARCH_TIME:
		if (resp) {
			const struct shmq_ctl_search_time_resp *t = &m->u.search_time_resp;
			return queue_ok(t->queue) && t->reserved == 0 && t->min_offset <= t->offset &&
			       t->offset <= t->max_offset;
		} else {
			const struct shmq_ctl_search_time_req *t = &m->u.search_time_req;
			return name_field_ok(t->topic, false) && queue_ok(t->queue) && t->reserved == 0;
		}
	case SHMQ_CTL_READ_MSG:
		if (resp) {
			const struct shmq_ctl_read_msg_resp_hdr *h = &m->u.read_msg_resp.hdr;
			return h->size >= 1 && h->size <= SHMQ_CTL_RECORD_MAX && h->reserved == 0;
		} else {
			const struct shmq_ctl_read_msg_req *r = &m->u.read_msg_req;
			if (r->kind == SHMQ_CTL_READ_OFFSET)
				return name_field_ok(r->topic, true) && r->topic[0] == '\0' && r->queue == 0;
			return r->kind == SHMQ_CTL_READ_QUEUE && name_field_ok(r->topic, false) &&
			       queue_ok(r->queue);
		}
	default:
		return false;
	}
}

#define SW32(x) ((x) = htole32(x))
#define SW64(x) ((x) = htole64(x))

/* Converts every integer of the fixed part of a body between host and
 * little-endian order (the conversion is its own inverse). Array elements of
 * the list bodies are converted by swap_elems(), once the count is known in
 * host order. */
static void swap_fixed(struct shmq_ctl_msg *m)
{
	bool resp = is_response(m);

	switch (m->type) {
	case SHMQ_CTL_HELLO:
		if (resp) {
			SW32(m->u.hello_resp.server_version);
			SW32(m->u.hello_resp.broker_id);
			SW64(m->u.hello_resp.session_id);
		} else {
			SW32(m->u.hello_req.client_version);
			SW32(m->u.hello_req.role);
			SW32(m->u.hello_req.reserved[0]);
			SW32(m->u.hello_req.reserved[1]);
		}
		break;
	case SHMQ_CTL_TOPIC_CREATE:
	case SHMQ_CTL_TOPIC_DESCRIBE:
	case SHMQ_CTL_TOPIC_OPEN:
		if (resp) {
			SW32(m->u.topic_info.queues);
			SW32(m->u.topic_info.reserved);
			SW64(m->u.topic_info.created_ns);
		} else if (m->type == SHMQ_CTL_TOPIC_CREATE) {
			SW32(m->u.topic_create_req.queues);
			SW32(m->u.topic_create_req.reserved);
		}
		break;
	case SHMQ_CTL_TOPIC_LIST:
	case SHMQ_CTL_RING_STATUS:
		if (resp && m->type == SHMQ_CTL_TOPIC_LIST) {
			SW32(m->u.topic_list_resp.hdr.total);
			SW32(m->u.topic_list_resp.hdr.count);
		} else if (resp) {
			SW32(m->u.ring_status_resp.hdr.total);
			SW32(m->u.ring_status_resp.hdr.count);
		} else {
			/* ring_status_req is a topic_list_req */
			SW32(m->u.topic_list_req.start);
			SW32(m->u.topic_list_req.max);
		}
		break;
	case SHMQ_CTL_OPEN_QUEUE:
		if (resp) {
			SW32(m->u.open_queue_resp.queue);
			SW32(m->u.open_queue_resp.mode);
			SW64(m->u.open_queue_resp.ring_capacity);
		} else {
			SW32(m->u.open_queue_req.queue);
			SW32(m->u.open_queue_req.mode);
		}
		break;
	case SHMQ_CTL_GROUP_JOIN:
	case SHMQ_CTL_GROUP_SYNC:
		if (resp) {
			struct shmq_ctl_group_join_resp_hdr *h = &m->u.group_join_resp.hdr;
			SW32(h->generation);
			SW32(h->count);
			SW64(h->member_id);
			SW32(h->queues);
			SW32(h->mode);
			break;
		}
		__attribute__((fallthrough)); /* the requests share a body */
	case SHMQ_CTL_GROUP_LEAVE:
		if (!resp) {
			SW32(m->u.group_req.mode);
			SW32(m->u.group_req.reserved);
		}
		break;
	case SHMQ_CTL_COMMIT_OFFSET:
		if (!resp) {
			SW32(m->u.commit_req.queue);
			SW32(m->u.commit_req.reserved);
			SW64(m->u.commit_req.offset);
		}
		break;
	case SHMQ_CTL_STATUS:
		if (resp) {
			struct shmq_ctl_status_resp *s = &m->u.status_resp;
			SW64(s->uptime_ns);
			SW64(s->commitlog_max_offset);
			SW64(s->commitlog_flushed_offset);
			SW32(s->topics);
			SW32(s->clients);
			SW64(s->commitlog_min_offset);
			SW64(s->disk_total);
			SW64(s->disk_free);
			SW64(s->store_bytes);
			SW64(s->messages);
			SW32(s->rings);
			SW32(s->fenced_rings);
			SW32(s->pid);
			SW32(s->flush_mode);
			SW32(s->remote_sessions);
			SW32(s->remote_members);
			SW64(s->remote_frames);
			SW64(s->remote_garbage);
			SW64(s->remote_hello_refused);
			SW64(s->remote_requests);
			SW64(s->remote_errors);
			SW64(s->remote_produced);
			SW64(s->remote_produce_dups);
			SW64(s->remote_pulled);
			SW64(s->remote_leases_expired);
			SW64(s->guard_trips);
			SW32(s->broker_id);
			SW32(s->reserved);
		}
		break;
	case SHMQ_CTL_SEARCH_TIME:
		if (resp) {
			struct shmq_ctl_search_time_resp *t = &m->u.search_time_resp;
			SW32(t->queue);
			SW32(t->reserved);
			SW64(t->offset);
			SW64(t->min_offset);
			SW64(t->max_offset);
		} else {
			SW32(m->u.search_time_req.queue);
			SW32(m->u.search_time_req.reserved);
			SW64(m->u.search_time_req.timestamp_ms);
		}
		break;
	case SHMQ_CTL_READ_MSG:
		if (resp) {
			SW64(m->u.read_msg_resp.hdr.commitlog_offset);
			SW32(m->u.read_msg_resp.hdr.size);
			SW32(m->u.read_msg_resp.hdr.reserved);
		} else {
			SW32(m->u.read_msg_req.queue);
			SW32(m->u.read_msg_req.kind);
			SW64(m->u.read_msg_req.offset);
		}
		break;
	case SHMQ_CTL_ERROR:
		m->u.error.status = (int32_t)htole32((uint32_t)m->u.error.status);
		SW32(m->u.error.reserved);
		break;
	case SHMQ_CTL_QUEUE_RELEASE:
		if (!resp) {
			SW32(m->u.queue_release_req.queue);
			SW32(m->u.queue_release_req.generation);
		}
		break;
	case SHMQ_CTL_OPEN_SEGMENT:
		if (resp) {
			struct shmq_ctl_open_segment_resp *o = &m->u.open_segment_resp;
			SW64(o->base_offset);
			SW64(o->file_size);
			SW64(o->written_end);
			SW64(o->min_offset);
		} else {
			SW64(m->u.open_segment_req.offset);
		}
		break;
	case SHMQ_CTL_OPEN_CQ:
		if (resp) {
			struct shmq_ctl_open_cq_resp *o = &m->u.open_cq_resp;
			SW32(o->file_index);
			SW32(o->entries_per_file);
			SW64(o->min_queue_offset);
			SW64(o->max_queue_offset);
		} else {
			SW32(m->u.open_cq_req.queue);
			SW32(m->u.open_cq_req.file_index);
		}
		break;
	case SHMQ_CTL_QUERY_KEY:
		if (resp) {
			SW32(m->u.query_resp.hdr.count);
			SW32(m->u.query_resp.hdr.reserved);
		} else {
			struct shmq_ctl_query_key_req *q = &m->u.query_key_req;
			SW64(q->begin_ms);
			SW64(q->end_ms);
			SW32(q->max);
			SW32(q->reserved);
		}
		break;
	case SHMQ_CTL_GROUP_PROGRESS:
	case SHMQ_CTL_GROUP_RESET:
		if (resp) {
			struct shmq_ctl_progress_resp_hdr *h = &m->u.progress_resp.hdr;
			SW32(h->count);
			SW32(h->generation);
			SW32(h->members);
			SW32(h->mode);
		} else if (m->type == SHMQ_CTL_GROUP_PROGRESS) {
			SW32(m->u.progress_req.mode);
			SW32(m->u.progress_req.reserved);
		} else {
			SW32(m->u.group_reset_req.kind);
			SW32(m->u.group_reset_req.reserved);
			SW64(m->u.group_reset_req.timestamp_ms);
		}
		break;
	default:
		break;
	}
}

/* Converts the first @p count elements of a list body (count in host order,
 * already bounded by the caller). */
static void swap_elems(struct shmq_ctl_msg *m, uint32_t count)
{
	if (!is_response(m))
		return;
	switch (m->type) {
	case SHMQ_CTL_GROUP_JOIN:
	case SHMQ_CTL_GROUP_SYNC:
		for (uint32_t i = 0; i < count && i < SHMQ_CTL_QUEUES_MAX; i++)
			SW32(m->u.group_join_resp.queues[i]);
		break;
	case SHMQ_CTL_QUERY_KEY:
		for (uint32_t i = 0; i < count && i < SHMQ_CTL_QUERY_MAX; i++) {
			struct shmq_ctl_query_hit *h = &m->u.query_resp.hits[i];
			SW64(h->commitlog_offset);
			SW32(h->size);
			SW32(h->queue);
			SW64(h->store_ts_ms);
		}
		break;
	case SHMQ_CTL_GROUP_PROGRESS:
	case SHMQ_CTL_GROUP_RESET:
		for (uint32_t i = 0; i < count && i < SHMQ_CTL_QUEUES_MAX; i++) {
			struct shmq_ctl_progress_entry *e = &m->u.progress_resp.entries[i];
			SW64(e->committed);
			SW64(e->min_offset);
			SW64(e->max_offset);
			SW64(e->owner);
		}
		break;
	case SHMQ_CTL_RING_STATUS:
		for (uint32_t i = 0; i < count && i < SHMQ_CTL_RING_PAGE; i++) {
			struct shmq_ctl_ring_entry *e = &m->u.ring_status_resp.entries[i];
			SW32(e->queue);
			SW32(e->fenced);
			SW64(e->capacity);
			SW64(e->tail);
			SW64(e->consumed);
			SW64(e->persisted);
			SW64(e->flushed);
			SW64(e->next_queue_offset);
			SW64(e->unblocked);
		}
		break;
	default:
		break;
	}
}

/* The element count of a list response (host order), 0 for other bodies. */
static uint32_t host_count(const struct shmq_ctl_msg *m)
{
	if (!is_response(m))
		return 0;
	switch (m->type) {
	case SHMQ_CTL_TOPIC_LIST:
		return m->u.topic_list_resp.hdr.count;
	case SHMQ_CTL_GROUP_JOIN:
	case SHMQ_CTL_GROUP_SYNC:
		return m->u.group_join_resp.hdr.count;
	case SHMQ_CTL_QUERY_KEY:
		return m->u.query_resp.hdr.count;
	case SHMQ_CTL_GROUP_PROGRESS:
	case SHMQ_CTL_GROUP_RESET:
		return m->u.progress_resp.hdr.count;
	case SHMQ_CTL_RING_STATUS:
		return m->u.ring_status_resp.hdr.count;
	case SHMQ_CTL_READ_MSG:
		return m->u.read_msg_resp.hdr.size; /* bytes, not swapped */
	default:
		return 0;
	}
}

/* The capacity of the element array of a list response: a larger count
 * must not reach body_len() or swap_elems(). */
static uint32_t count_cap(const struct shmq_ctl_msg *m)
{
	switch (m->type) {
	case SHMQ_CTL_TOPIC_LIST:
		return SHMQ_CTL_LIST_MAX;
	case SHMQ_CTL_QUERY_KEY:
		return SHMQ_CTL_QUERY_MAX;
	case SHMQ_CTL_RING_STATUS:
		return SHMQ_CTL_RING_PAGE;
	case SHMQ_CTL_READ_MSG:
		return SHMQ_CTL_RECORD_MAX;
	default:
		return SHMQ_CTL_QUEUES_MAX;
	}
}

void shmq_ctl_msg_init(struct shmq_ctl_msg *m, uint16_t type, uint16_t flags, uint64_t request_id)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->flags = flags;
	m->request_id = request_id;
}

int shmq_ctl_encode(const struct shmq_ctl_msg *m, void *buf, size_t cap)
{
	if (!m || !buf || !hdr_ok(m) || !body_ok(m))
		return -EINVAL;
	size_t blen = body_len(m);
	if (HDR_SIZE + blen > cap || HDR_SIZE + blen > SHMQ_CTL_MSG_MAX)
		return -EMSGSIZE;

	struct shmq_ctl_hdr h = {
		.magic = htole32(SHMQ_CTL_MAGIC),
		.version = htole16(SHMQ_CTL_VERSION),
		.type = htole16(m->type),
		.flags = htole16(m->flags),
		.reserved = 0,
		.length = htole32((uint32_t)blen),
		.request_id = htole64(m->request_id),
	};
	/* Only the body's bytes: the swaps touch no field past body_len(), and
	 * the union is ~33 KiB while most bodies are a few hundred bytes. */
	struct shmq_ctl_msg le;
	le.type = m->type;
	le.flags = m->flags;
	memcpy(&le.u, &m->u, blen);
	uint32_t count = host_count(m);
	swap_elems(&le, count);
	swap_fixed(&le);
	memcpy(buf, &h, HDR_SIZE);
	memcpy((char *)buf + HDR_SIZE, &le.u, blen);
	return (int)(HDR_SIZE + blen);
}

int shmq_ctl_decode(const void *buf, size_t len, struct shmq_ctl_msg *m)
{
	struct shmq_ctl_hdr h;

	if (!buf || !m)
		return -EINVAL;
	if (len < HDR_SIZE || len > SHMQ_CTL_MSG_MAX)
		return -EBADMSG;
	memcpy(&h, buf, HDR_SIZE);
	if (le32toh(h.magic) != SHMQ_CTL_MAGIC || le16toh(h.version) != SHMQ_CTL_VERSION)
		return -EPROTONOSUPPORT;
	if (h.reserved != 0 || le32toh(h.length) != len - HDR_SIZE)
		return -EBADMSG;

	shmq_ctl_msg_init(m, le16toh(h.type), le16toh(h.flags), le64toh(h.request_id));
	if (!hdr_ok(m))
		return -EBADMSG;
	size_t blen = len - HDR_SIZE;
	if (blen > sizeof(m->u))
		return -EBADMSG;
	memcpy(&m->u, (const char *)buf + HDR_SIZE, blen);
	swap_fixed(m);
	/* The fixed part is now in host order: its count says how long the
	 * body must be; bound the count before trusting it. */
	uint32_t count = host_count(m);
	if (count > count_cap(m))
		return -EBADMSG;
	if (body_len(m) != blen)
		return -EBADMSG;
	swap_elems(m, count);
	return body_ok(m) ? 0 : -EBADMSG;
}

void shmq_ctl_error_init(struct shmq_ctl_msg *m, uint64_t request_id, int status, const char *fmt, ...)
{
	va_list ap;

	shmq_ctl_msg_init(m, SHMQ_CTL_ERROR, SHMQ_CTL_F_RESPONSE, request_id);
	m->u.error.status = status < 0 ? status : -EPROTO;
	va_start(ap, fmt);
	vsnprintf(m->u.error.message, sizeof(m->u.error.message), fmt, ap);
	va_end(ap);
	/* keep the canonical form: printable bytes, zeros after the NUL */
	size_t n = strnlen(m->u.error.message, sizeof(m->u.error.message));
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)m->u.error.message[i] < 0x20 ||
		    (unsigned char)m->u.error.message[i] > 0x7e)
			m->u.error.message[i] = '?';
	memset(m->u.error.message + n, 0, sizeof(m->u.error.message) - n);
}

const char *shmq_ctl_type_name(unsigned type)
{
	static const char *const names[] = {
		[SHMQ_CTL_HELLO] = "HELLO",
		[SHMQ_CTL_TOPIC_CREATE] = "TOPIC_CREATE",
		[SHMQ_CTL_TOPIC_DESCRIBE] = "TOPIC_DESCRIBE",
		[SHMQ_CTL_TOPIC_LIST] = "TOPIC_LIST",
		[SHMQ_CTL_OPEN_QUEUE] = "OPEN_QUEUE",
		[SHMQ_CTL_GROUP_JOIN] = "GROUP_JOIN",
		[SHMQ_CTL_GROUP_LEAVE] = "GROUP_LEAVE",
		[SHMQ_CTL_COMMIT_OFFSET] = "COMMIT_OFFSET",
		[SHMQ_CTL_STATUS] = "STATUS",
		[SHMQ_CTL_ERROR] = "ERROR",
		[SHMQ_CTL_GROUP_SYNC] = "GROUP_SYNC",
		[SHMQ_CTL_QUEUE_RELEASE] = "QUEUE_RELEASE",
		[SHMQ_CTL_OPEN_SEGMENT] = "OPEN_SEGMENT",
		[SHMQ_CTL_OPEN_CQ] = "OPEN_CQ",
		[SHMQ_CTL_QUERY_KEY] = "QUERY_KEY",
		[SHMQ_CTL_GROUP_PROGRESS] = "GROUP_PROGRESS",
		[SHMQ_CTL_GROUP_RESET] = "GROUP_RESET",
		[SHMQ_CTL_RING_STATUS] = "RING_STATUS",
		[SHMQ_CTL_SEARCH_TIME] = "SEARCH_TIME",
		[SHMQ_CTL_TOPIC_OPEN] = "TOPIC_OPEN",
		[SHMQ_CTL_READ_MSG] = "READ_MSG",
	};
	if (type < SHMQ_ARRAY_SIZE(names) && names[type])
		return names[type];
	return "UNKNOWN";
}
