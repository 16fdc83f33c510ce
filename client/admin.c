/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Administration calls (include/shmq/admin.h): thin wrappers over the control
 * protocol, paging through lists, and message reads through a short-lived
 * logreader whose records are copied out before it is destroyed.
 *
 * On a remote client every control request goes out as an ADMIN frame
 * (shmq_cli_request(), client_int.h). The message reads map commitlog files
 * by fd, which only the broker's host can have: a remote client asks
 * READ_MSG instead, one record's bytes per answer (up to
 * SHMQ_CTL_RECORD_MAX, else SHMQ_ETOOBIG), and decodes and CRC-checks them
 * with the same decoder as a mapped segment (shmq_cl_decode()), so a read
 * gives the same message either way and trusts no byte of the answer.
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/store/commitlog.h"
#include "client/client_int.h"
#include "client/remote.h"
#include "shmq/admin.h"

/* Both messages of a round trip on the heap (a response can be 40 KiB). */
static struct shmq_ctl_msg *msg_pair(uint16_t type)
{
	struct shmq_ctl_msg *m = malloc(2 * sizeof(*m));
	if (m)
		shmq_ctl_msg_init(&m[0], type, 0, 0);
	return m;
}

static void name_copy(char *dst, size_t n, const char *src, size_t srcn)
{
	size_t l = strnlen(src, srcn);
	if (l >= n)
		l = n - 1;
	memcpy(dst, src, l);
	dst[l] = '\0';
}

SHMQ_API int shmq_admin_status(shmq_client_t *c, struct shmq_broker_status *out)
{
	if (!c || !out)
		return -EINVAL;
	struct shmq_ctl_msg *m = msg_pair(SHMQ_CTL_STATUS);
	if (!m)
		return -ENOMEM;
	int rc = shmq_cli_request(c, &m[0], &m[1], NULL);
	if (rc == 0) {
		const struct shmq_ctl_status_resp *s = &m[1].u.status_resp;
		memset(out, 0, sizeof(*out));
		out->uptime_ns = s->uptime_ns;
		out->commitlog_min_offset = s->commitlog_min_offset;
		out->commitlog_max_offset = s->commitlog_max_offset;
		out->commitlog_flushed_offset = s->commitlog_flushed_offset;
		out->disk_total = s->disk_total;
		out->disk_free = s->disk_free;
		out->store_bytes = s->store_bytes;
		out->messages = s->messages;
		out->topics = s->topics;
		out->clients = s->clients;
		out->rings = s->rings;
		out->fenced_rings = s->fenced_rings;
		out->pid = s->pid;
		out->flush_mode = s->flush_mode;
		out->remote.sessions = s->remote_sessions;
		out->remote.members = s->remote_members;
		out->remote.frames = s->remote_frames;
		out->remote.garbage = s->remote_garbage;
		out->remote.hello_refused = s->remote_hello_refused;
		out->remote.requests = s->remote_requests;
		out->remote.errors = s->remote_errors;
		out->remote.produced = s->remote_produced;
		out->remote.produce_dups = s->remote_produce_dups;
		out->remote.pulled = s->remote_pulled;
		out->remote.leases_expired = s->remote_leases_expired;
		out->guard_trips = s->guard_trips;
		out->broker_id = s->broker_id; /* the HELLO's, told again (remote clients have no HELLO) */
		snprintf(out->broker_name, sizeof(out->broker_name), "%s", shmq_client_broker_name(c));
	}
	free(m);
	return rc;
}

/*
 * Page through a list (TOPIC_LIST, RING_STATUS: the request is a
 * topic_list_req {start, max}, the response opens with {total, count}).
 * @p take converts entry i of the page in @p resp into @p dst and returns 1
 * (kept), 0 (skipped: gone since the page was made) or -errno.
 */
typedef int (*page_take_fn)(shmq_client_t *c, const struct shmq_ctl_msg *resp, uint32_t i, void *dst);

static int list_pages(shmq_client_t *c, uint16_t type, uint32_t page, size_t elem, page_take_fn take,
		      void **out, size_t *n)
{
	struct shmq_ctl_msg *m = msg_pair(type);
	char *v = NULL;
	size_t len = 0;
	int rc = 0;

	if (!m)
		return -ENOMEM;
	for (uint32_t start = 0;;) {
		shmq_ctl_msg_init(&m[0], type, 0, 0);
		m[0].u.topic_list_req.start = start;
		m[0].u.topic_list_req.max = page;
		rc = shmq_cli_request(c, &m[0], &m[1], NULL);
		if (rc < 0)
			break;
		const struct shmq_ctl_topic_list_resp_hdr *h = &m[1].u.topic_list_resp.hdr;
		static_assert(sizeof(m[1].u.ring_status_resp.hdr) == sizeof(*h), "same list header");
		if (type == SHMQ_CTL_RING_STATUS)
			h = (const void *)&m[1].u.ring_status_resp.hdr;
		uint32_t cnt = h->count, total = h->total;
		if (cnt == 0)
			break;
		char *nv = realloc(v, (len + cnt) * elem);
		if (!nv) {
			rc = -ENOMEM;
			break;
		}
		v = nv;
		for (uint32_t i = 0; i < cnt && rc >= 0; i++) {
			memset(v + len * elem, 0, elem);
			rc = take(c, &m[1], i, v + len * elem);
			if (rc > 0)
				len++;
		}
		if (rc < 0)
			break;
		start += cnt;
		if (start >= total)
			break;
	}
	free(m);
	if (rc < 0) {
		free(v);
		return rc;
	}
	*out = v;
	*n = len;
	return 0;
}

static int take_ring(shmq_client_t *c, const struct shmq_ctl_msg *resp, uint32_t i, void *dst)
{
	const struct shmq_ctl_ring_entry *e = &resp->u.ring_status_resp.entries[i];
	struct shmq_ring_status *s = dst;

	(void)c;
	name_copy(s->topic, sizeof(s->topic), e->topic, sizeof(e->topic));
	s->queue = e->queue;
	s->fenced = e->fenced != 0;
	s->capacity = e->capacity;
	s->tail = e->tail;
	s->consumed = e->consumed;
	s->persisted = e->persisted;
	s->flushed = e->flushed;
	s->next_queue_offset = e->next_queue_offset;
	s->unblocked = e->unblocked;
	return 1;
}

SHMQ_API int shmq_admin_rings(shmq_client_t *c, struct shmq_ring_status **out, size_t *n)
{
	if (!c || !out || !n)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	void *v = NULL;
	int rc = list_pages(c, SHMQ_CTL_RING_STATUS, SHMQ_CTL_RING_PAGE, sizeof(**out), take_ring, &v, n);

	*out = v;
	return rc;
}

/* The list has names only; queues and creation time come from a describe. */
static int take_topic(shmq_client_t *c, const struct shmq_ctl_msg *resp, uint32_t i, void *dst)
{
	char name[SHMQ_CTL_NAME_LEN];
	int rc;

	name_copy(name, sizeof(name), resp->u.topic_list_resp.names[i].topic, SHMQ_CTL_NAME_LEN);
	rc = shmq_topic_describe(c, name, dst);
	if (rc == SHMQ_ENOTFOUND)
		return 0; /* deleted between the two requests */
	return rc < 0 ? rc : 1;
}

SHMQ_API int shmq_admin_topics(shmq_client_t *c, struct shmq_topic_info **out, size_t *n)
{
	if (!c || !out || !n)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	void *v = NULL;
	int rc = list_pages(c, SHMQ_CTL_TOPIC_LIST, SHMQ_CTL_LIST_MAX, sizeof(**out), take_topic, &v, n);

	*out = v;
	return rc;
}

/* A progress response body → a malloc'd shmq_group_progress. */
static int progress_out(const struct shmq_ctl_msg *resp, struct shmq_group_progress **out)
{
	uint32_t cnt = resp->u.progress_resp.hdr.count;
	if (cnt > SHMQ_CTL_QUEUES_MAX)
		return -EBADMSG;
	struct shmq_group_progress *g = calloc(1, sizeof(*g) + (size_t)cnt * sizeof(g->q[0]));
	if (!g)
		return -ENOMEM;
	g->generation = resp->u.progress_resp.hdr.generation;
	g->members = resp->u.progress_resp.hdr.members;
	g->mode = resp->u.progress_resp.hdr.mode;
	g->queues = cnt;
	for (uint32_t i = 0; i < cnt; i++) {
		const struct shmq_ctl_progress_entry *e = &resp->u.progress_resp.entries[i];
		struct shmq_queue_progress *q = &g->q[i];
		q->queue = i;
		q->committed = e->committed; /* UINT64_MAX == SHMQ_OFFSET_UNKNOWN */
		q->min_offset = e->min_offset;
		q->max_offset = e->max_offset;
		q->owner = e->owner;
		uint64_t from = e->committed == UINT64_MAX ? e->min_offset : e->committed;
		q->lag = e->max_offset > from ? e->max_offset - from : 0;
	}
	*out = g;
	return 0;
}

SHMQ_API int shmq_admin_group_progress(shmq_client_t *c, const char *group, const char *topic,
				       struct shmq_group_progress **out)
{
	if (!c || !group || !topic || !out)
		return -EINVAL;
	*out = NULL;
	struct shmq_ctl_msg *m = msg_pair(SHMQ_CTL_GROUP_PROGRESS);
	if (!m)
		return -ENOMEM;
	int rc = shmq_ctl_name_set(m[0].u.progress_req.group, group, false);
	if (rc == 0)
		rc = shmq_ctl_name_set(m[0].u.progress_req.topic, topic, false);
	if (rc == 0)
		rc = shmq_cli_request(c, &m[0], &m[1], NULL);
	if (rc == 0)
		rc = progress_out(&m[1], out);
	free(m);
	return rc;
}

SHMQ_API int shmq_admin_group_reset(shmq_client_t *c, const char *group, const char *topic,
				    enum shmq_start where, uint64_t ts_ms, struct shmq_group_progress **out)
{
	if (out)
		*out = NULL;
	if (!c || !group || !topic)
		return -EINVAL;
	uint32_t kind;
	switch (where) {
	case SHMQ_START_TIMESTAMP: kind = SHMQ_CTL_RESET_TIMESTAMP; break;
	case SHMQ_START_EARLIEST: kind = SHMQ_CTL_RESET_EARLIEST; ts_ms = 0; break;
	case SHMQ_START_LATEST: kind = SHMQ_CTL_RESET_LATEST; ts_ms = 0; break;
	default: return -EINVAL;
	}
	struct shmq_ctl_msg *m = msg_pair(SHMQ_CTL_GROUP_RESET);
	if (!m)
		return -ENOMEM;
	int rc = shmq_ctl_name_set(m[0].u.group_reset_req.group, group, false);
	if (rc == 0)
		rc = shmq_ctl_name_set(m[0].u.group_reset_req.topic, topic, false);
	m[0].u.group_reset_req.kind = kind;
	m[0].u.group_reset_req.timestamp_ms = ts_ms;
	if (rc == 0)
		rc = shmq_cli_request(c, &m[0], &m[1], NULL);
	if (rc == 0 && out)
		rc = progress_out(&m[1], out);
	free(m);
	return rc;
}

/* ------------------------------------------------------------------ */
/* message reads                                                       */

/* The reads open commitlog segments and consumequeue files by fd
 * (OPEN_SEGMENT, OPEN_CQ), which do not cross the network. */
SHMQ_API void shmq_admin_msg_free(struct shmq_admin_msg *m)
{
	if (!m)
		return;
	free(m->priv_);
	memset(m, 0, sizeof(*m));
}

static int admin_msg_from(const struct shmq_store_view *sv, uint32_t broker_id, struct shmq_admin_msg *out)
{
	memset(out, 0, sizeof(*out));
	size_t need = shmq_view_from_store_copy(sv, broker_id, NULL, 0, &out->v);
	void *buf = malloc(need ? need : 1);
	if (!buf)
		return -ENOMEM;
	shmq_view_from_store_copy(sv, broker_id, buf, need, &out->v);
	out->store_ts_ms = sv->store_ts_ms;
	out->size = sv->size;
	out->priv_ = buf;
	return 0;
}

/* A remote client's read (READ_MSG over ADMIN): by commitlog @p offset
 * (@p topic NULL) or by queue offset of (@p topic, @p queue). */
static int read_remote(shmq_client_t *c, const char *topic, uint32_t queue, uint64_t offset,
		       struct shmq_admin_msg *out)
{
	struct shmq_ctl_msg *m = msg_pair(SHMQ_CTL_READ_MSG);
	if (!m)
		return -ENOMEM;
	struct shmq_ctl_read_msg_req *r = &m[0].u.read_msg_req;
	int rc = 0;
	r->kind = topic ? SHMQ_CTL_READ_QUEUE : SHMQ_CTL_READ_OFFSET;
	r->queue = topic ? queue : 0;
	r->offset = offset;
	if (topic)
		rc = shmq_ctl_name_set(r->topic, topic, false);
	if (rc == 0 && topic && queue >= SHMQ_CTL_QUEUES_MAX)
		rc = -EINVAL;
	if (rc == 0)
		rc = shmq_cli_request(c, &m[0], &m[1], NULL);
	if (rc == 0) {
		/* the codec bounded size to the record array; the record itself
		 * is checked as a mapped one would be (CRC, lengths), and it
		 * must be the record asked for */
		const struct shmq_ctl_read_msg_resp *a = &m[1].u.read_msg_resp;
		struct shmq_store_view sv;
		int reason = 0;
		if (shmq_cl_decode(a->record, a->hdr.size, a->hdr.commitlog_offset, true, &sv, &reason) !=
			    SHMQ_CL_DEC_MSG ||
		    sv.size != a->hdr.size || sv.commitlog_offset != a->hdr.commitlog_offset ||
		    (!topic && a->hdr.commitlog_offset != offset) ||
		    (topic && (sv.queue_id != queue || sv.queue_offset != offset || sv.topic_len != strlen(topic) ||
			       memcmp(sv.topic, topic, sv.topic_len) != 0))) {
			shmq_cli_set_error("remote: READ_MSG answered with a record that is not the one asked for");
			rc = SHMQ_ECORRUPT;
		} else {
			rc = admin_msg_from(&sv, shmq_cli_broker_id(c), out);
		}
	}
	free(m);
	return rc;
}

static int read_offset_lr(shmq_client_t *c, shmq_logreader_t *lr, uint64_t offset, struct shmq_admin_msg *out)
{
	if (!lr)
		return read_remote(c, NULL, 0, offset, out);
	struct shmq_store_view sv;
	int rc = shmq_logreader_read(lr, offset, &sv);
	if (rc == 0)
		rc = admin_msg_from(&sv, shmq_cli_broker_id(c), out);
	return rc;
}

SHMQ_API int shmq_admin_read_offset(shmq_client_t *c, uint64_t offset, struct shmq_admin_msg *out)
{
	if (!c || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (shmq_cli_remote(c))
		return read_remote(c, NULL, 0, offset, out);
	shmq_logreader_t *lr;
	int rc = shmq_logreader_create(c, &lr);
	if (rc < 0)
		return rc;
	rc = read_offset_lr(c, lr, offset, out);
	shmq_logreader_destroy(lr);
	return rc;
}

SHMQ_API int shmq_admin_read_msgid(shmq_client_t *c, const char *msg_id, struct shmq_admin_msg *out)
{
	if (!c || !msg_id || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	uint32_t bid;
	uint64_t off;
	int rc = shmq_msgid_decode(msg_id, &bid, &off);
	if (rc < 0)
		return rc;
	if (bid != shmq_client_broker_id(c))
		return SHMQ_ENOTFOUND; /* another broker's message */
	return shmq_admin_read_offset(c, off, out);
}

SHMQ_API int shmq_admin_read_queue(shmq_client_t *c, const char *topic, uint32_t queue,
				   uint64_t queue_offset, struct shmq_admin_msg *out)
{
	if (!c || !topic || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (shmq_cli_remote(c))
		return read_remote(c, topic, queue, queue_offset, out);
	shmq_logreader_t *lr;
	int rc = shmq_logreader_create(c, &lr);
	if (rc < 0)
		return rc;
	uint64_t off;
	uint32_t size;
	rc = shmq_logreader_cq_get(lr, topic, queue, queue_offset, &off, &size);
	struct shmq_store_view sv;
	if (rc == 0)
		rc = shmq_logreader_read(lr, off, &sv);
	/* the record must be the one the entry promised */
	if (rc == 0 && (sv.size != size || sv.queue_id != queue || sv.queue_offset != queue_offset ||
			sv.topic_len != strlen(topic) || memcmp(sv.topic, topic, sv.topic_len) != 0))
		rc = SHMQ_ECORRUPT;
	if (rc == 0)
		rc = admin_msg_from(&sv, shmq_cli_broker_id(c), out);
	shmq_logreader_destroy(lr);
	return rc;
}

SHMQ_API int shmq_admin_query_key(shmq_client_t *c, const char *topic, const char *key,
				  uint64_t begin_ms, uint64_t end_ms, unsigned max,
				  struct shmq_admin_msg **out)
{
	if (!c || !topic || !key || !out || max == 0 || max > SHMQ_CTL_QUERY_MAX)
		return -EINVAL;
	*out = NULL;
	size_t kl = strlen(key);
	if (kl == 0 || kl >= SHMQ_CTL_KEY_LEN || strchr(key, ' '))
		return -EINVAL;
	struct shmq_ctl_msg *m = msg_pair(SHMQ_CTL_QUERY_KEY);
	if (!m)
		return -ENOMEM;
	int rc = shmq_ctl_name_set(m[0].u.query_key_req.topic, topic, false);
	memcpy(m[0].u.query_key_req.key, key, kl);
	m[0].u.query_key_req.begin_ms = begin_ms;
	m[0].u.query_key_req.end_ms = end_ms;
	m[0].u.query_key_req.max = max;
	if (rc == 0)
		rc = shmq_cli_request(c, &m[0], &m[1], NULL);
	struct shmq_admin_msg *v = NULL;
	int got = 0;
	shmq_logreader_t *lr = NULL;
	if (rc == 0) {
		uint32_t cnt = m[1].u.query_resp.hdr.count;
		if (cnt > max)
			cnt = max;
		v = calloc(cnt ? cnt : 1, sizeof(*v));
		/* remote: no reader, each record by READ_MSG (read_offset_lr) */
		rc = !v ? -ENOMEM : shmq_cli_remote(c) ? 0 : shmq_logreader_create(c, &lr);
		for (uint32_t i = 0; rc == 0 && i < cnt; i++) {
			int r = read_offset_lr(c, lr, m[1].u.query_resp.hits[i].commitlog_offset, &v[got]);
			if (r == 0)
				got++;
			else if (r != SHMQ_ESTALE && r != SHMQ_ENOTFOUND)
				rc = r; /* deleted meanwhile is skipped, anything else fails */
		}
	}
	shmq_logreader_destroy(lr);
	free(m);
	if (rc < 0) {
		for (int i = 0; i < got; i++)
			shmq_admin_msg_free(&v[i]);
		free(v);
		return rc;
	}
	*out = v;
	return got;
}
