/* SPDX-License-Identifier: Apache-2.0 */
/* Network frame and body codec: see dpdk_net/frame_codec.h. */
#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/ctl_codec.h"
#include "dpdk_net/frame_codec.h"

bool shmq_net_type_is_response(unsigned type)
{
	switch (type) {
	case SHMQ_NET_HELLO_ACK:
	case SHMQ_NET_PRODUCE_ACK:
	case SHMQ_NET_PULL_RESP:
	case SHMQ_NET_COMMIT_ACK:
	case SHMQ_NET_JOIN_ACK:
	case SHMQ_NET_ERROR:
	case SHMQ_NET_ADMIN_RESP:
		return true;
	default:
		return false;
	}
}

const char *shmq_net_type_name(unsigned type)
{
	static const char *const names[] = {
		[SHMQ_NET_HELLO] = "HELLO", [SHMQ_NET_HELLO_ACK] = "HELLO_ACK",
		[SHMQ_NET_PRODUCE] = "PRODUCE", [SHMQ_NET_PRODUCE_ACK] = "PRODUCE_ACK",
		[SHMQ_NET_PULL] = "PULL", [SHMQ_NET_PULL_RESP] = "PULL_RESP",
		[SHMQ_NET_COMMIT] = "COMMIT", [SHMQ_NET_COMMIT_ACK] = "COMMIT_ACK",
		[SHMQ_NET_JOIN] = "JOIN", [SHMQ_NET_JOIN_ACK] = "JOIN_ACK",
		[SHMQ_NET_HEARTBEAT] = "HEARTBEAT", [SHMQ_NET_ERROR] = "ERROR",
		[SHMQ_NET_ADMIN] = "ADMIN", [SHMQ_NET_ADMIN_RESP] = "ADMIN_RESP",
	};
	if (type == 0 || type > SHMQ_NET_TYPE_MAX)
		return "UNKNOWN";
	return names[type];
}

uint32_t shmq_net_frag_size(uint32_t frame_max)
{
	if (frame_max < SHMQ_NET_FRAME_MIN || frame_max > SHMQ_NET_FRAME_MAX)
		return 0;
	return (frame_max - SHMQ_NET_HDR_LEN) & ~7u;
}

uint32_t shmq_net_frag_count(uint32_t msg_len, uint32_t frag_size)
{
	if (msg_len == 0)
		return 1;
	if (frag_size == 0)
		return 0;
	uint64_t n = ((uint64_t)msg_len + frag_size - 1) / frag_size;
	return n > SHMQ_NET_FRAG_COUNT_MAX ? 0 : (uint32_t)n;
}

/* The fragmentation rules of frame_layout.h; payload_len is what fragment
 * `index` must carry. */
static bool frag_ok(uint32_t msg_len, uint32_t frag_size, uint32_t count, uint32_t index,
		    uint32_t *payload_len)
{
	if (msg_len > SHMQ_NET_MSG_MAX)
		return false;
	if (msg_len == 0) {
		*payload_len = 0;
		return frag_size == 0 && count == 1 && index == 0;
	}
	if (frag_size == 0 || frag_size > msg_len)
		return false;
	if (shmq_net_frag_count(msg_len, frag_size) != count || index >= count)
		return false;
	uint64_t off = (uint64_t)index * frag_size;
	uint64_t rest = msg_len - off;
	*payload_len = (uint32_t)(rest < frag_size ? rest : frag_size);
	return true;
}

/* Header checks shared by the encoder and the decoder. */
static bool hdr_ok(const struct shmq_net_hdr *h, uint32_t *payload_len)
{
	if (h->type == 0 || h->type > SHMQ_NET_TYPE_MAX)
		return false;
	bool resp = shmq_net_type_is_response(h->type);
	if (h->flags != (resp ? SHMQ_NET_F_RESPONSE : 0u))
		return false;
	if (h->attempt == 0)
		return false;
	if ((h->session_id == 0) != (h->type == SHMQ_NET_HELLO))
		return false;
	if (!frag_ok(h->msg_len, h->frag_size, h->frag_count, h->frag_index, payload_len))
		return false;
	/* the handshake is one frame: nothing is reassembled before a session */
	if ((h->type == SHMQ_NET_HELLO || h->type == SHMQ_NET_HELLO_ACK) && h->frag_count != 1)
		return false;
	return true;
}

static uint32_t frame_crc(const struct shmq_net_hdr *h, const void *payload, uint32_t len)
{
	struct shmq_net_hdr z = *h;
	z.crc = 0;
	return shmq_crc32c(shmq_crc32c(0, &z, sizeof(z)), payload, len);
}

int shmq_net_frame_decode(const void *buf, size_t len, struct shmq_net_frame *f)
{
	if (!buf || !f || len < SHMQ_NET_HDR_LEN || len > SHMQ_NET_FRAME_MAX)
		return -EBADMSG;
	memcpy(&f->h, buf, sizeof(f->h));
	if (f->h.magic != SHMQ_NET_MAGIC || f->h.version != SHMQ_NET_VERSION)
		return -EPROTONOSUPPORT;
	uint32_t want;
	if (!hdr_ok(&f->h, &want))
		return -EBADMSG;
	if (f->h.payload_len != want || (size_t)want != len - SHMQ_NET_HDR_LEN)
		return -EBADMSG;
	f->payload = (const uint8_t *)buf + SHMQ_NET_HDR_LEN;
	if (frame_crc(&f->h, f->payload, want) != f->h.crc)
		return -EBADMSG;
	return 0;
}

int shmq_net_frame_encode(const struct shmq_net_msginfo *mi, const void *body, uint32_t body_len,
			  uint32_t frag_size, uint32_t index, void *out, size_t cap)
{
	if (!mi || !out || (body_len && !body) || index > SHMQ_NET_FRAG_COUNT_MAX)
		return -EINVAL;
	/* canonical cut: a body that fits one fragment has frag_size = msg_len */
	if (frag_size > body_len)
		frag_size = body_len;
	struct shmq_net_hdr h = {
		.magic = SHMQ_NET_MAGIC,
		.version = SHMQ_NET_VERSION,
		.type = mi->type,
		.flags = shmq_net_type_is_response(mi->type) ? SHMQ_NET_F_RESPONSE : 0,
		.attempt = mi->attempt,
		.frag_index = (uint16_t)index,
		.frag_count = (uint16_t)shmq_net_frag_count(body_len, frag_size),
		.session_id = mi->session_id,
		.request_id = mi->request_id,
		.msg_len = body_len,
		.frag_size = frag_size,
	};
	uint32_t plen;
	if (!hdr_ok(&h, &plen))
		return -EINVAL;
	if (cap < SHMQ_NET_HDR_LEN + (size_t)plen)
		return -EMSGSIZE;
	h.payload_len = plen;
	static const uint8_t none[1];
	const uint8_t *payload = plen ? (const uint8_t *)body + (size_t)index * h.frag_size : none;
	h.crc = frame_crc(&h, payload, plen);
	memcpy(out, &h, sizeof(h));
	if (plen)
		memcpy((uint8_t *)out + SHMQ_NET_HDR_LEN, payload, plen);
	return (int)(SHMQ_NET_HDR_LEN + plen);
}

/* ---- bodies ---- */

/* Names and text: the local protocol's field rules (common/ctl_codec.h). */
static bool name_ok(const char f[SHMQ_NET_NAME_LEN])
{
	return shmq_ctl_name_field_ok(f, SHMQ_NET_NAME_LEN, false);
}

static bool principal_ok(const char f[SHMQ_NET_PRINCIPAL_LEN])
{
	return shmq_ctl_name_field_ok(f, SHMQ_NET_PRINCIPAL_LEN, false);
}

static bool text_ok(const char *f, size_t size)
{
	return shmq_ctl_text_field_ok(f, size);
}

static bool zero_bytes(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static size_t pad8(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

/* Walk `count` entries tiling [p, end) exactly. PRODUCE (pull == false):
 * queue offsets 0, producer id and consecutive sequences from first_seq.
 * PULL_RESP: queue offsets strictly increasing in [lo, hi). */
static bool entries_ok(const uint8_t *p, const uint8_t *end, uint32_t count, bool pull,
		       uint64_t producer_id, uint64_t first_seq, uint64_t lo, uint64_t hi)
{
	uint64_t prev = 0;
	for (uint32_t i = 0; i < count; i++) {
		struct shmq_net_entry e;
		if ((size_t)(end - p) < sizeof(e))
			return false;
		memcpy(&e, p, sizeof(e));
		p += sizeof(e);
		if (e.reserved != 0 || e.len < SHMQ_RINGMSG_HDR_LEN || (size_t)(end - p) < pad8(e.len))
			return false;
		struct shmq_ringmsg_view v;
		if (shmq_ringmsg_decode(p, e.len, &v) != 0)
			return false;
		if (!zero_bytes(p + e.len, pad8(e.len) - e.len))
			return false;
		if (pull) {
			if (e.queue_offset < lo || e.queue_offset >= hi || (i > 0 && e.queue_offset <= prev))
				return false;
			prev = e.queue_offset;
		} else if (e.queue_offset != 0 || v.producer_id != producer_id ||
			   v.producer_seq != first_seq + i) {
			return false;
		}
		p += pad8(e.len);
	}
	return p == end;
}

static bool group_ok(const struct shmq_net_group *g, bool join)
{
	if (!name_ok(g->group) || !name_ok(g->topic) || g->reserved != 0)
		return false;
	if (g->lease_ms < 1000 || g->lease_ms > 600000)
		return false;
	if (join)
		return (g->mode == SHMQ_CTL_GROUP_CLUSTERING || g->mode == SHMQ_CTL_GROUP_BROADCASTING) &&
		       g->member_id == 0 && g->generation == 0;
	return g->mode == 0 && g->member_id != 0;
}

/* ADMIN / ADMIN_RESP: the envelope of one control message (frame_layout.h);
 * its body is the ctl codec's to validate, at the receiver. */
static bool admin_ok(const uint8_t *b, size_t len, bool resp)
{
	struct shmq_ctl_hdr h;
	if (len < SHMQ_NET_ADMIN_MIN || len > SHMQ_NET_ADMIN_MAX)
		return false;
	memcpy(&h, b, sizeof(h));
	if (h.magic != SHMQ_CTL_MAGIC || h.version != SHMQ_CTL_VERSION || h.length != len - sizeof(h))
		return false;
	/* no fd crosses the network; the direction is the frame type's */
	if (h.flags & SHMQ_CTL_F_HAS_FD)
		return false;
	return ((h.flags & SHMQ_CTL_F_RESPONSE) != 0) == resp;
}

int shmq_net_body_check(unsigned type, const void *body, size_t len)
{
	const uint8_t *b = body;
	if (len && !body)
		return -EBADMSG;
	if (len > SHMQ_NET_MSG_MAX)
		return -EBADMSG;
	switch (type) {
	case SHMQ_NET_HELLO: {
		struct shmq_net_hello h;
		if (len != sizeof(h))
			return -EBADMSG;
		memcpy(&h, b, sizeof(h));
		if (h.client_version != SHMQ_NET_VERSION || h.frame_max < SHMQ_NET_FRAME_MIN ||
		    h.frame_max > SHMQ_NET_FRAME_MAX || !principal_ok(h.principal))
			return -EBADMSG;
		return 0;
	}
	case SHMQ_NET_HELLO_ACK: {
		struct shmq_net_hello_ack a;
		if (len != sizeof(a))
			return -EBADMSG;
		memcpy(&a, b, sizeof(a));
		if (a.session_id == 0 || a.reserved != 0 || a.frame_max < SHMQ_NET_FRAME_MIN ||
		    a.frame_max > SHMQ_NET_FRAME_MAX)
			return -EBADMSG;
		return 0;
	}
	case SHMQ_NET_PRODUCE: {
		struct shmq_net_produce_hdr h;
		if (len < sizeof(h))
			return -EBADMSG;
		memcpy(&h, b, sizeof(h));
		if (!name_ok(h.topic) || h.count == 0 || h.count > SHMQ_NET_BATCH_MAX || h.producer_id == 0 ||
		    h.delivery > SHMQ_NET_DELIVERY_MAX || h.reserved != 0)
			return -EBADMSG;
		/* the hint only means something when the broker picks the queue */
		if (h.queue != SHMQ_NET_QUEUE_ANY && (h.queue >= SHMQ_NET_QUEUES_MAX || h.selector_hint != 0))
			return -EBADMSG;
		if (h.first_seq > UINT64_MAX - h.count)
			return -EBADMSG;
		if (!entries_ok(b + sizeof(h), b + len, h.count, false, h.producer_id, h.first_seq, 0, 0))
			return -EBADMSG;
		return 0;
	}
	case SHMQ_NET_PRODUCE_ACK: {
		struct shmq_net_produce_ack_hdr h;
		if (len < sizeof(h))
			return -EBADMSG;
		memcpy(&h, b, sizeof(h));
		if (h.status > 0)
			return -EBADMSG;
		if (h.status == 0) {
			if (h.count == 0 || h.count > SHMQ_NET_BATCH_MAX || h.queue >= SHMQ_NET_QUEUES_MAX ||
			    h.first_seq > UINT64_MAX - h.count || h.next_seq != h.first_seq + h.count ||
			    h.queues > SHMQ_NET_QUEUES_MAX || (h.queues != 0 && h.queue >= h.queues))
				return -EBADMSG;
		} else if (h.count != 0 || h.queues != 0) {
			return -EBADMSG;
		}
		if (len != sizeof(h) + (size_t)h.count * sizeof(struct shmq_net_produce_result))
			return -EBADMSG;
		return 0;
	}
	case SHMQ_NET_PULL: {
		struct shmq_net_pull p;
		if (len != sizeof(p))
			return -EBADMSG;
		memcpy(&p, b, sizeof(p));
		if (!name_ok(p.group) || !name_ok(p.topic) || p.queue >= SHMQ_NET_QUEUES_MAX ||
		    p.max_bytes == 0 || p.max_bytes > SHMQ_NET_MSG_MAX || p.max_msgs == 0 ||
		    p.max_msgs > SHMQ_NET_BATCH_MAX || p.timeout_ms > SHMQ_NET_POLL_MAX_MS ||
		    p.visibility > SHMQ_NET_VISIBLE_MAX || p.reserved != 0)
			return -EBADMSG;
		return 0;
	}
	case SHMQ_NET_PULL_RESP: {
		struct shmq_net_pull_resp_hdr h;
		if (len < sizeof(h))
			return -EBADMSG;
		memcpy(&h, b, sizeof(h));
		if (h.status > 0 || h.reserved != 0 || h.queue >= SHMQ_NET_QUEUES_MAX ||
		    h.count > SHMQ_NET_BATCH_MAX || h.next_offset > h.max_offset)
			return -EBADMSG;
		if (h.status != 0 && (h.count != 0 || len != sizeof(h)))
			return -EBADMSG;
		/* entries lie below next_offset; with none, anything goes */
		if (!entries_ok(b + sizeof(h), b + len, h.count, true, 0, 0, 0, h.next_offset))
			return -EBADMSG;
		return 0;
	}
	case SHMQ_NET_COMMIT: {
		struct shmq_net_commit c;
		if (len != sizeof(c))
			return -EBADMSG;
		memcpy(&c, b, sizeof(c));
		if (!name_ok(c.group) || !name_ok(c.topic) || c.queue >= SHMQ_NET_QUEUES_MAX || c.reserved != 0)
			return -EBADMSG;
		return 0;
	}
	case SHMQ_NET_COMMIT_ACK: {
		struct shmq_net_status s;
		if (len != sizeof(s))
			return -EBADMSG;
		memcpy(&s, b, sizeof(s));
		return s.status <= 0 && s.reserved == 0 ? 0 : -EBADMSG;
	}
	case SHMQ_NET_JOIN:
	case SHMQ_NET_HEARTBEAT: {
		struct shmq_net_group g;
		if (len != sizeof(g))
			return -EBADMSG;
		memcpy(&g, b, sizeof(g));
		return group_ok(&g, type == SHMQ_NET_JOIN) ? 0 : -EBADMSG;
	}
	case SHMQ_NET_JOIN_ACK: {
		struct shmq_net_join_ack_hdr h;
		if (len < sizeof(h))
			return -EBADMSG;
		memcpy(&h, b, sizeof(h));
		if (h.status > 0 || h.reserved != 0 || h.queues > SHMQ_NET_QUEUES_MAX || h.count > h.queues)
			return -EBADMSG;
		if (h.status == 0 ? (h.member_id == 0 || h.lease_ms == 0) : h.count != 0)
			return -EBADMSG;
		if (len != sizeof(h) + (size_t)h.count * sizeof(uint32_t))
			return -EBADMSG;
		uint32_t prev = 0;
		for (uint32_t i = 0; i < h.count; i++) {
			uint32_t q;
			memcpy(&q, b + sizeof(h) + (size_t)i * sizeof(q), sizeof(q));
			if (q >= h.queues || (i > 0 && q <= prev))
				return -EBADMSG;
			prev = q;
		}
		return 0;
	}
	case SHMQ_NET_ERROR: {
		struct shmq_net_error e;
		if (len != sizeof(e))
			return -EBADMSG;
		memcpy(&e, b, sizeof(e));
		if (e.status >= 0 || e.reserved != 0 || !text_ok(e.message, sizeof(e.message)))
			return -EBADMSG;
		return 0;
	}
	case SHMQ_NET_ADMIN:
	case SHMQ_NET_ADMIN_RESP:
		return admin_ok(b, len, type == SHMQ_NET_ADMIN_RESP) ? 0 : -EBADMSG;
	default:
		return -EBADMSG;
	}
}

void shmq_net_builder_init(struct shmq_net_builder *b, void *buf, size_t cap)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	b->err = buf || cap == 0 ? 0 : -EINVAL;
}

void shmq_net_builder_put(struct shmq_net_builder *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (n > b->cap - b->len) {
		b->err = -EMSGSIZE;
		return;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

/* Reserve an entry header + `len` padded bytes; returns the ringmsg spot. */
static uint8_t *entry_reserve(struct shmq_net_builder *b, uint64_t queue_offset, uint32_t len)
{
	struct shmq_net_entry e = { .len = len, .reserved = 0, .queue_offset = queue_offset };
	if (b->err)
		return NULL;
	if (sizeof(e) + pad8(len) > b->cap - b->len) {
		b->err = -EMSGSIZE;
		return NULL;
	}
	memcpy(b->buf + b->len, &e, sizeof(e));
	uint8_t *spot = b->buf + b->len + sizeof(e);
	memset(spot + len, 0, pad8(len) - len);
	b->len += sizeof(e) + pad8(len);
	return spot;
}

void shmq_net_builder_msg(struct shmq_net_builder *b, uint64_t queue_offset,
			  const struct shmq_ringmsg_in *m)
{
	if (b->err)
		return;
	int64_t n = shmq_ringmsg_size(m);
	if (n < 0 || n > SHMQ_NET_MSG_MAX) {
		b->err = n < 0 ? -EINVAL : -EMSGSIZE;
		return;
	}
	size_t mark = b->len;
	uint8_t *spot = entry_reserve(b, queue_offset, (uint32_t)n);
	if (!spot)
		return;
	if (shmq_ringmsg_encode(spot, (size_t)n, m) != n) {
		b->len = mark;
		b->err = -EINVAL;
	}
}

void shmq_net_builder_raw_msg(struct shmq_net_builder *b, uint64_t queue_offset,
			      const void *ringmsg, uint32_t len)
{
	uint8_t *spot = entry_reserve(b, queue_offset, len);
	if (spot)
		memcpy(spot, ringmsg, len);
}

int64_t shmq_net_builder_finish(const struct shmq_net_builder *b)
{
	return b->err ? b->err : (int64_t)b->len;
}

int shmq_net_entries_begin(const void *body, size_t len, void *hdr, size_t hdr_len,
			   struct shmq_net_entry_iter *it)
{
	if (!body || len < hdr_len)
		return -EBADMSG;
	memcpy(hdr, body, hdr_len);
	it->p = (const uint8_t *)body + hdr_len;
	it->end = (const uint8_t *)body + len;
	return 0;
}

int shmq_net_entry_next(struct shmq_net_entry_iter *it, uint64_t *queue_offset,
			struct shmq_ringmsg_view *v)
{
	struct shmq_net_entry e;
	if (it->p == it->end)
		return 0;
	if ((size_t)(it->end - it->p) < sizeof(e))
		return SHMQ_ECORRUPT;
	memcpy(&e, it->p, sizeof(e));
	const uint8_t *m = it->p + sizeof(e);
	if ((size_t)(it->end - m) < pad8(e.len) || shmq_ringmsg_decode(m, e.len, v) != 0)
		return SHMQ_ECORRUPT;
	if (queue_offset)
		*queue_offset = e.queue_offset;
	it->p = m + pad8(e.len);
	return 1;
}

void shmq_net_error_init(struct shmq_net_error *e, int status, const char *text)
{
	memset(e, 0, sizeof(*e));
	e->status = status < 0 ? status : -EPROTO;
	for (size_t i = 0; text && text[i] && i < sizeof(e->message) - 1; i++) {
		unsigned char c = (unsigned char)text[i];
		e->message[i] = (char)(c >= 0x20 && c <= 0x7e ? c : '?');
	}
}
