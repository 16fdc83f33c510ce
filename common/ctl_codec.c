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

/* A fixed string field: a NUL inside it and only zeros after the first NUL,
 * so each value has exactly one encoding. Returns the length or -1. */
static int field_len(const char *f, size_t size)
{
	const char *nul = memchr(f, '\0', size);

	if (!nul)
		return -1;
	for (const char *p = nul; p < f + size; p++)
		if (*p != '\0')
			return -1;
	return (int)(nul - f);
}

static bool name_field_ok(const char f[SHMQ_CTL_NAME_LEN], bool allow_empty)
{
	int n = field_len(f, SHMQ_CTL_NAME_LEN);

	if (n < 0)
		return false;
	if (n == 0)
		return allow_empty;
	for (int i = 0; i < n; i++)
		if (!name_char_ok((unsigned char)f[i]))
			return false;
	return true;
}

static bool text_field_ok(const char *f, size_t size)
{
	int n = field_len(f, size);

	if (n < 0)
		return false;
	for (int i = 0; i < n; i++)
		if ((unsigned char)f[i] < 0x20 || (unsigned char)f[i] > 0x7e)
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
		return resp ? sizeof(m->u.topic_info) : sizeof(m->u.topic_describe_req);
	case SHMQ_CTL_TOPIC_LIST:
		return resp ? sizeof(struct shmq_ctl_topic_list_resp_hdr) +
				      (size_t)m->u.topic_list_resp.hdr.count *
					      sizeof(struct shmq_ctl_topic_ref)
			    : sizeof(m->u.topic_list_req);
	case SHMQ_CTL_OPEN_QUEUE:
		return resp ? sizeof(m->u.open_queue_resp) : sizeof(m->u.open_queue_req);
	case SHMQ_CTL_GROUP_JOIN:
		return resp ? sizeof(struct shmq_ctl_group_join_resp_hdr) +
				      (size_t)m->u.group_join_resp.hdr.count * sizeof(uint32_t)
			    : sizeof(m->u.group_req);
	case SHMQ_CTL_GROUP_LEAVE:
		return resp ? 0 : sizeof(m->u.group_req);
	case SHMQ_CTL_COMMIT_OFFSET:
		return resp ? 0 : sizeof(m->u.commit_req);
	case SHMQ_CTL_STATUS:
		return resp ? sizeof(m->u.status_resp) : 0;
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
	 * it is allowed on exactly the one message that carries an fd. */
	bool wants_fd = m->type == SHMQ_CTL_OPEN_QUEUE && is_response(m);
	return ((m->flags & SHMQ_CTL_F_HAS_FD) != 0) == wants_fd;
}

static bool queue_ok(uint32_t q)
{
	return q < SHMQ_CTL_QUEUES_MAX;
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
		if (resp) {
			const struct shmq_ctl_topic_info *t = &m->u.topic_info;
			return name_field_ok(t->topic, false) && t->queues >= 1 &&
			       t->queues <= SHMQ_CTL_QUEUES_MAX && t->reserved == 0;
		}
		if (m->type == SHMQ_CTL_TOPIC_DESCRIBE)
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
			       o->ring_capacity >= 4096 &&
			       (o->ring_capacity & (o->ring_capacity - 1)) == 0;
		} else {
			const struct shmq_ctl_open_queue_req *o = &m->u.open_queue_req;
			return name_field_ok(o->topic, false) && queue_ok(o->queue) &&
			       (o->mode == SHMQ_CTL_OPEN_PRODUCE || o->mode == SHMQ_CTL_OPEN_CONSUME);
		}
	case SHMQ_CTL_GROUP_JOIN:
		if (resp) {
			const struct shmq_ctl_group_join_resp *j = &m->u.group_join_resp;
			if (j->hdr.count > SHMQ_CTL_QUEUES_MAX)
				return false;
			for (uint32_t i = 0; i < j->hdr.count; i++)
				if (!queue_ok(j->queues[i]) || (i > 0 && j->queues[i - 1] >= j->queues[i]))
					return false;
			return true;
		}
		__attribute__((fallthrough)); /* JOIN and LEAVE requests share a body */
	case SHMQ_CTL_GROUP_LEAVE:
		if (resp)
			return true; /* empty body */
		{
			const struct shmq_ctl_group_req *g = &m->u.group_req;
			bool mode_ok = m->type == SHMQ_CTL_GROUP_LEAVE
					       ? g->mode == 0
					       : (g->mode == SHMQ_CTL_GROUP_CLUSTERING ||
						  g->mode == SHMQ_CTL_GROUP_BROADCASTING);
			return mode_ok && g->reserved == 0 && name_field_ok(g->group, false) &&
			       name_field_ok(g->topic, false);
		}
	case SHMQ_CTL_COMMIT_OFFSET:
		if (resp)
			return true;
		{
			const struct shmq_ctl_commit_req *c = &m->u.commit_req;
			return name_field_ok(c->group, false) && name_field_ok(c->topic, false) &&
			       queue_ok(c->queue) && c->reserved == 0 && c->offset <= INT64_MAX;
		}
	case SHMQ_CTL_STATUS:
		return !resp || m->u.status_resp.commitlog_flushed_offset <=
					m->u.status_resp.commitlog_max_offset;
	case SHMQ_CTL_ERROR:
		return m->u.error.status < 0 && m->u.error.reserved == 0 &&
		       text_field_ok(m->u.error.message, sizeof(m->u.error.message));
	default:
		return false;
	}
}

/* Converts every integer of the fixed part of a body between host and
 * little-endian order (the conversion is its own inverse). Array elements of
 * the two list bodies are converted by swap_elems(), once the count is known
 * in host order. */
static void swap_fixed(struct shmq_ctl_msg *m)
{
	bool resp = is_response(m);

	switch (m->type) {
	case SHMQ_CTL_HELLO:
		if (resp) {
			m->u.hello_resp.server_version = htole32(m->u.hello_resp.server_version);
			m->u.hello_resp.broker_id = htole32(m->u.hello_resp.broker_id);
			m->u.hello_resp.session_id = htole64(m->u.hello_resp.session_id);
		} else {
			m->u.hello_req.client_version = htole32(m->u.hello_req.client_version);
			m->u.hello_req.role = htole32(m->u.hello_req.role);
			m->u.hello_req.reserved[0] = htole32(m->u.hello_req.reserved[0]);
			m->u.hello_req.reserved[1] = htole32(m->u.hello_req.reserved[1]);
		}
		break;
	case SHMQ_CTL_TOPIC_CREATE:
	case SHMQ_CTL_TOPIC_DESCRIBE:
		if (resp) {
			m->u.topic_info.queues = htole32(m->u.topic_info.queues);
			m->u.topic_info.reserved = htole32(m->u.topic_info.reserved);
			m->u.topic_info.created_ns = htole64(m->u.topic_info.created_ns);
		} else if (m->type == SHMQ_CTL_TOPIC_CREATE) {
			m->u.topic_create_req.queues = htole32(m->u.topic_create_req.queues);
			m->u.topic_create_req.reserved = htole32(m->u.topic_create_req.reserved);
		}
		break;
	case SHMQ_CTL_TOPIC_LIST:
		if (resp) {
			m->u.topic_list_resp.hdr.total = htole32(m->u.topic_list_resp.hdr.total);
			m->u.topic_list_resp.hdr.count = htole32(m->u.topic_list_resp.hdr.count);
		} else {
			m->u.topic_list_req.start = htole32(m->u.topic_list_req.start);
			m->u.topic_list_req.max = htole32(m->u.topic_list_req.max);
		}
		break;
	case SHMQ_CTL_OPEN_QUEUE:
		if (resp) {
			m->u.open_queue_resp.queue = htole32(m->u.open_queue_resp.queue);
			m->u.open_queue_resp.mode = htole32(m->u.open_queue_resp.mode);
			m->u.open_queue_resp.ring_capacity = htole64(m->u.open_queue_resp.ring_capacity);
		} else {
			m->u.open_queue_req.queue = htole32(m->u.open_queue_req.queue);
			m->u.open_queue_req.mode = htole32(m->u.open_queue_req.mode);
		}
		break;
	case SHMQ_CTL_GROUP_JOIN:
		if (resp) {
			m->u.group_join_resp.hdr.generation = htole32(m->u.group_join_resp.hdr.generation);
			m->u.group_join_resp.hdr.count = htole32(m->u.group_join_resp.hdr.count);
			break;
		}
		__attribute__((fallthrough));
	case SHMQ_CTL_GROUP_LEAVE:
		if (!resp) {
			m->u.group_req.mode = htole32(m->u.group_req.mode);
			m->u.group_req.reserved = htole32(m->u.group_req.reserved);
		}
		break;
	case SHMQ_CTL_COMMIT_OFFSET:
		if (!resp) {
			m->u.commit_req.queue = htole32(m->u.commit_req.queue);
			m->u.commit_req.reserved = htole32(m->u.commit_req.reserved);
			m->u.commit_req.offset = htole64(m->u.commit_req.offset);
		}
		break;
	case SHMQ_CTL_STATUS:
		if (resp) {
			struct shmq_ctl_status_resp *s = &m->u.status_resp;
			s->uptime_ns = htole64(s->uptime_ns);
			s->commitlog_max_offset = htole64(s->commitlog_max_offset);
			s->commitlog_flushed_offset = htole64(s->commitlog_flushed_offset);
			s->topics = htole32(s->topics);
			s->clients = htole32(s->clients);
		}
		break;
	case SHMQ_CTL_ERROR:
		m->u.error.status = (int32_t)htole32((uint32_t)m->u.error.status);
		m->u.error.reserved = htole32(m->u.error.reserved);
		break;
	default:
		break;
	}
}

static void swap_elems(struct shmq_ctl_msg *m, uint32_t count)
{
	if (m->type == SHMQ_CTL_GROUP_JOIN && is_response(m))
		for (uint32_t i = 0; i < count && i < SHMQ_CTL_QUEUES_MAX; i++)
			m->u.group_join_resp.queues[i] = htole32(m->u.group_join_resp.queues[i]);
}

static uint32_t host_count(const struct shmq_ctl_msg *m)
{
	if (!is_response(m))
		return 0;
	if (m->type == SHMQ_CTL_GROUP_JOIN)
		return m->u.group_join_resp.hdr.count;
	if (m->type == SHMQ_CTL_TOPIC_LIST)
		return m->u.topic_list_resp.hdr.count;
	return 0;
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
	struct shmq_ctl_msg le = *m;
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
	if ((m->type == SHMQ_CTL_TOPIC_LIST && count > SHMQ_CTL_LIST_MAX) || count > SHMQ_CTL_QUEUES_MAX)
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
	};
	if (type < SHMQ_ARRAY_SIZE(names) && names[type])
		return names[type];
	return "UNKNOWN";
}
