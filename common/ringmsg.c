/* SPDX-License-Identifier: Apache-2.0 */
/* Ring message codec: see common/ringmsg.h and common/ringmsg_layout.h. */
#include "common/ringmsg.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define STR_MAX   65535u
#define PKEY_MAX  255u

static int reserved_prop_key(const char *k, size_t n)
{
	return (n == 4 && (memcmp(k, "KEYS", 4) == 0 || memcmp(k, "TAGS", 4) == 0));
}

/* Bytes of an optional string area: the string and its NUL, or nothing. */
static uint64_t str_area(uint64_t n)
{
	return n ? n + 1 : 0;
}

int64_t shmq_ringmsg_size(const struct shmq_ringmsg_in *m)
{
	if (!m || (m->body_len && !m->body) || (m->nprops && !m->props) || m->nprops > 65535u)
		return -EINVAL;
	uint64_t keys = m->keys ? strlen(m->keys) : 0;
	uint64_t tags = m->tags ? strlen(m->tags) : 0;
	if (keys > STR_MAX || tags > STR_MAX)
		return -EINVAL;
	uint64_t props = 0;
	for (uint32_t i = 0; i < m->nprops; i++) {
		const struct shmq_ringmsg_prop *p = &m->props[i];
		if (!p->key || !p->value)
			return -EINVAL;
		size_t kl = strlen(p->key), vl = strlen(p->value);
		if (kl == 0 || kl > PKEY_MAX || vl > STR_MAX || reserved_prop_key(p->key, kl))
			return -EINVAL;
		props += kl + 1 + vl + 1;
	}
	uint64_t total = SHMQ_RINGMSG_HDR_LEN + (uint64_t)m->body_len + str_area(keys) +
			 str_area(tags) + props;
	if (total > UINT32_MAX || props > UINT32_MAX)
		return SHMQ_ETOOBIG;
	return (int64_t)total;
}

static char *put_str(char *d, const char *s, size_t n)
{
	if (!n)
		return d;
	memcpy(d, s, n);
	d[n] = '\0';
	return d + n + 1;
}

int64_t shmq_ringmsg_encode(void *dst, size_t cap, const struct shmq_ringmsg_in *m)
{
	int64_t total = shmq_ringmsg_size(m);
	if (total < 0)
		return total;
	if ((uint64_t)total > cap)
		return -ENOBUFS;
	size_t keys = m->keys ? strlen(m->keys) : 0;
	size_t tags = m->tags ? strlen(m->tags) : 0;
	uint64_t props = 0;
	for (uint32_t i = 0; i < m->nprops; i++)
		props += strlen(m->props[i].key) + 1 + strlen(m->props[i].value) + 1;

	struct shmq_ringmsg_hdr h = {
		.magic = SHMQ_RINGMSG_MAGIC,
		.version = SHMQ_RINGMSG_VERSION,
		.hdr_len = SHMQ_RINGMSG_HDR_LEN,
		.flags = m->flags,
		.reconsume_times = m->reconsume_times,
		.born_ts_ms = m->born_ts_ms,
		.born_host = m->born_host,
		.producer_id = m->producer_id,
		.producer_seq = m->producer_seq,
		.body_len = m->body_len,
		.props_len = (uint32_t)props,
		.keys_len = (uint16_t)keys,
		.tags_len = (uint16_t)tags,
		.nprops = (uint16_t)m->nprops,
		.reserved = 0,
		.store_offset = SHMQ_RINGMSG_RESULT_NONE,
		.queue_offset = SHMQ_RINGMSG_RESULT_NONE,
	};
	char *d = dst;
	memcpy(d, &h, sizeof(h));
	d += sizeof(h);
	if (m->body_len) {
		memcpy(d, m->body, m->body_len);
		d += m->body_len;
	}
	d = put_str(d, m->keys, keys);
	d = put_str(d, m->tags, tags);
	for (uint32_t i = 0; i < m->nprops; i++) {
		d = put_str(d, m->props[i].key, strlen(m->props[i].key));
		size_t vl = strlen(m->props[i].value);
		memcpy(d, m->props[i].value, vl);
		d[vl] = '\0';
		d += vl + 1;
	}
	return total;
}

/* A string of exactly @p n bytes at @p s followed by its NUL, no inner NUL. */
static int check_str(const char *s, uint64_t n)
{
	return s[n] == '\0' && memchr(s, '\0', n) == NULL;
}

#define STORE_OFF offsetof(struct shmq_ringmsg_hdr, store_offset)
#define QUEUE_OFF offsetof(struct shmq_ringmsg_hdr, queue_offset)

void shmq_ringmsg_result_set(void *payload, uint64_t store_offset, uint64_t queue_offset)
{
	char *p = payload;
	if (((uintptr_t)p & 7u) != 0) {
		memcpy(p + STORE_OFF, &store_offset, 8);
		memcpy(p + QUEUE_OFF, &queue_offset, 8);
		return;
	}
	/* relaxed: ordered for readers by the PERSISTED mark's release store
	 * (persister), paired with their acquire of the mark; see ringmsg.h */
	__atomic_store_n((uint64_t *)(void *)(p + STORE_OFF), store_offset, __ATOMIC_RELAXED);
	__atomic_store_n((uint64_t *)(void *)(p + QUEUE_OFF), queue_offset, __ATOMIC_RELAXED);
}

void shmq_ringmsg_result_get(const void *payload, uint64_t *store_offset, uint64_t *queue_offset)
{
	const char *p = payload;
	uint64_t s, q;
	if (((uintptr_t)p & 7u) != 0) {
		memcpy(&s, p + STORE_OFF, 8);
		memcpy(&q, p + QUEUE_OFF, 8);
	} else {
		/* relaxed: pairs with the relaxed stores in result_set(); the
		 * caller's acquire of the PERSISTED mark orders them */
		s = __atomic_load_n((const uint64_t *)(const void *)(p + STORE_OFF), __ATOMIC_RELAXED);
		q = __atomic_load_n((const uint64_t *)(const void *)(p + QUEUE_OFF), __ATOMIC_RELAXED);
	}
	if (store_offset)
		*store_offset = s;
	if (queue_offset)
		*queue_offset = q;
}

int shmq_ringmsg_decode(const void *buf, size_t len, struct shmq_ringmsg_view *v)
{
	struct shmq_ringmsg_hdr h;
	if (!buf || !v || len < sizeof(h))
		return SHMQ_ECORRUPT;
	/* the content part with plain loads, the result words atomically: the
	 * persister may be writing them in a live ring (ringmsg.h) */
	memcpy(&h, buf, SHMQ_RINGMSG_FIXED_LEN);
	shmq_ringmsg_result_get(buf, &h.store_offset, &h.queue_offset);
	if (h.magic != SHMQ_RINGMSG_MAGIC || h.version != SHMQ_RINGMSG_VERSION ||
	    h.hdr_len != SHMQ_RINGMSG_HDR_LEN || h.reserved != 0)
		return SHMQ_ECORRUPT;
	/* 64-bit sums of 32/16-bit fields cannot overflow. */
	uint64_t need = (uint64_t)h.hdr_len + h.body_len + str_area(h.keys_len) +
			str_area(h.tags_len) + h.props_len;
	if (need != len)
		return SHMQ_ECORRUPT;
	const char *p = (const char *)buf + h.hdr_len;
	v->flags = h.flags;
	v->reconsume_times = h.reconsume_times;
	v->born_ts_ms = h.born_ts_ms;
	v->born_host = h.born_host;
	v->producer_id = h.producer_id;
	v->producer_seq = h.producer_seq;
	v->store_offset = h.store_offset;
	v->queue_offset = h.queue_offset;
	v->body = p;
	v->body_len = h.body_len;
	p += h.body_len;
	v->keys = NULL;
	v->keys_len = h.keys_len;
	if (h.keys_len) {
		if (!check_str(p, h.keys_len))
			return SHMQ_ECORRUPT;
		v->keys = p;
		p += h.keys_len + 1;
	}
	v->tags = NULL;
	v->tags_len = h.tags_len;
	if (h.tags_len) {
		if (!check_str(p, h.tags_len))
			return SHMQ_ECORRUPT;
		v->tags = p;
		p += h.tags_len + 1;
	}
	v->props = p;
	v->props_len = h.props_len;
	v->nprops = h.nprops;
	/* Properties must tile [p, end) exactly: nprops x (key NUL value NUL). */
	const char *end = p + h.props_len;
	for (uint32_t i = 0; i < h.nprops; i++) {
		const char *k = p;
		const char *kz = memchr(k, '\0', (size_t)(end - k));
		if (!kz)
			return SHMQ_ECORRUPT;
		size_t kl = (size_t)(kz - k);
		if (kl == 0 || kl > PKEY_MAX || reserved_prop_key(k, kl))
			return SHMQ_ECORRUPT;
		const char *val = kz + 1;
		const char *vz = memchr(val, '\0', (size_t)(end - val));
		if (!vz || (size_t)(vz - val) > STR_MAX)
			return SHMQ_ECORRUPT;
		p = vz + 1;
	}
	if (p != end)
		return SHMQ_ECORRUPT;
	return 0;
}

const char *shmq_ringmsg_prop_next(const char *p, const char **key, const char **value)
{
	*key = p;
	p += strlen(p) + 1;
	*value = p;
	return p + strlen(p) + 1;
}
