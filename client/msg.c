/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Received messages: user properties of a shmq_msg_view in either encoding,
 * and public views made from store records (client_int.h).
 *
 * The bytes behind a view may live in shared memory a producer still maps
 * (zero-copy ring views) or in a mapped commitlog segment: every walk below is
 * bounded by priv_len_ and never reads past it, whatever the bytes say.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "broker/store/commitlog_layout.h"
#include "client/client_int.h"
#include "common/ringmsg.h"

/* ------------------------------------------------------------------ */
/* kind RING: nprops x (key NUL value NUL)                             */

/* One entry at @p off; 0 (key/value/next set) or -1 at the end / malformed. */
static int ring_prop_at(const char *p, uint32_t len, uint32_t off, const char **key,
			const char **value, uint32_t *next)
{
	if (off >= len)
		return -1;
	const char *k = p + off;
	const char *kend = memchr(k, '\0', len - off);
	if (!kend || kend == k)
		return -1;
	uint32_t voff = (uint32_t)(kend - p) + 1;
	if (voff >= len)
		return -1;
	const char *vend = memchr(p + voff, '\0', len - voff);
	if (!vend)
		return -1;
	*key = k;
	*value = p + voff;
	*next = (uint32_t)(vend - p) + 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* kind STORE: key_len(1) val_len(2) key val, not NUL-terminated        */

/* One entry at @p off, skipping the KEYS and TAGS entries (not user
 * properties): 0 with key/value pointers and lengths, or -1. */
static int store_prop_at(const uint8_t *p, uint32_t len, uint32_t off, const char **key,
			 uint32_t *klen, const char **value, uint32_t *vlen, uint32_t *next)
{
	while (off < len) {
		if (len - off < SHMQ_CL_PROP_HDR)
			return -1;
		uint32_t kl = p[off];
		uint16_t vl;
		memcpy(&vl, p + off + 1, 2);
		if (kl == 0 || len - off - SHMQ_CL_PROP_HDR < kl + (uint32_t)vl)
			return -1;
		const char *k = (const char *)p + off + SHMQ_CL_PROP_HDR;
		off += SHMQ_CL_PROP_HDR + kl + vl;
		if (kl == 4 && (!memcmp(k, "KEYS", 4) || !memcmp(k, "TAGS", 4)))
			continue;
		*key = k;
		*klen = kl;
		*value = k + kl;
		*vlen = vl;
		*next = off;
		return 0;
	}
	return -1;
}

/*
 * Store values are not NUL-terminated in the record; shmq_msg_prop*() must
 * return C strings, so they are copied into a per-thread buffer, valid until
 * the calling thread's next shmq_msg_prop*() on a store view. Allocated on
 * first use (a 64 KiB _Thread_local array would eat the static TLS surplus
 * a dlopen()ed libshmq needs).
 */
#define PROP_SCRATCH (SHMQ_CL_TOPIC_MAX + 1 + SHMQ_CL_PROP_VAL_MAX + 1)
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_rc;

static void scratch_key_init(void)
{
	scratch_key_rc = pthread_key_create(&scratch_key, free);
}

static char *prop_scratch(void)
{
	pthread_once(&scratch_once, scratch_key_init);
	if (scratch_key_rc)
		return NULL;
	char *b = pthread_getspecific(scratch_key);
	if (!b) {
		b = malloc(PROP_SCRATCH);
		if (b && pthread_setspecific(scratch_key, b)) {
			free(b);
			b = NULL;
		}
	}
	return b;
}

static int store_prop_out(const char *k, uint32_t kl, const char *v, uint32_t vl, const char **key,
			  const char **value)
{
	char *b = prop_scratch();
	if (!b)
		return -ENOMEM;
	memcpy(b, k, kl);
	b[kl] = '\0';
	memcpy(b + kl + 1, v, vl);
	b[kl + 1 + vl] = '\0';
	if (key)
		*key = b;
	*value = b + kl + 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* public                                                              */

SHMQ_API int shmq_msg_prop_next(const struct shmq_msg_view *m, uint32_t *it, const char **key,
				const char **value)
{
	if (!m || !it || !key || !value || !m->priv_[0])
		return 0;
	uint32_t next;
	if (m->priv_kind_ == SHMQ_MSG_PROPS_RING) {
		if (ring_prop_at(m->priv_[0], m->priv_len_, *it, key, value, &next) < 0)
			return 0;
		*it = next;
		return 1;
	}
	if (m->priv_kind_ == SHMQ_MSG_PROPS_STORE) {
		const char *k, *v;
		uint32_t kl, vl;
		if (store_prop_at(m->priv_[0], m->priv_len_, *it, &k, &kl, &v, &vl, &next) < 0)
			return 0;
		if (store_prop_out(k, kl, v, vl, key, value) < 0)
			return 0;
		*it = next;
		return 1;
	}
	return 0;
}

SHMQ_API int shmq_msg_prop(const struct shmq_msg_view *m, const char *key, const char **value)
{
	if (!m || !key || !value)
		return -EINVAL;
	size_t want = strlen(key);
	uint32_t it = 0, next;
	if (m->priv_kind_ == SHMQ_MSG_PROPS_RING && m->priv_[0]) {
		const char *k, *v;
		while (ring_prop_at(m->priv_[0], m->priv_len_, it, &k, &v, &next) == 0) {
			if (strcmp(k, key) == 0) {
				*value = v;
				return 0;
			}
			it = next;
		}
	} else if (m->priv_kind_ == SHMQ_MSG_PROPS_STORE && m->priv_[0]) {
		const char *k, *v;
		uint32_t kl, vl;
		while (store_prop_at(m->priv_[0], m->priv_len_, it, &k, &kl, &v, &vl, &next) == 0) {
			if (kl == want && memcmp(k, key, kl) == 0)
				return store_prop_out(k, kl, v, vl, NULL, value);
			it = next;
		}
	}
	return SHMQ_ENOTFOUND;
}

/* ------------------------------------------------------------------ */
/* views from store records                                            */

static void view_fields(const struct shmq_store_view *sv, uint32_t broker_id, struct shmq_msg_view *out)
{
	memset(out, 0, sizeof(*out));
	out->queue_id = sv->queue_id;
	out->reconsume_times = sv->reconsume_times;
	out->queue_offset = sv->queue_offset;
	out->store_offset = sv->commitlog_offset;
	if (shmq_msgid_encode(broker_id, sv->commitlog_offset, out->msg_id) < 0)
		out->msg_id[0] = '\0';
	out->born_ts_ms = sv->born_ts_ms;
	out->born_host = sv->born_host;
	out->producer_id = sv->producer_id;
	out->producer_seq = sv->producer_seq;
}

void shmq_view_from_store(const struct shmq_store_view *sv, uint32_t broker_id, struct shmq_msg_view *out)
{
	view_fields(sv, broker_id, out);
	out->body = sv->body;
	out->body_len = sv->body_len;
	if (sv->props_len) {
		out->priv_[0] = sv->props;
		out->priv_len_ = sv->props_len;
		out->priv_kind_ = SHMQ_MSG_PROPS_STORE;
	}
}

size_t shmq_view_from_store_copy(const struct shmq_store_view *sv, uint32_t broker_id, void *buf,
				 size_t cap, struct shmq_msg_view *out)
{
	/* user properties converted to key NUL value NUL: each entry grows by
	 * at most 2 bytes minus its 3-byte header, so props_len bounds it */
	size_t need = (size_t)sv->body_len + sv->topic_len + 1 + sv->props_len + 2;
	need += sv->keys ? sv->keys_len + 1 : 0;
	need += sv->tags ? sv->tags_len + 1 : 0;
	if (need > cap || !buf)
		return need;
	view_fields(sv, broker_id, out);
	char *p = buf;
	memcpy(p, sv->body, sv->body_len);
	out->body = p;
	out->body_len = sv->body_len;
	p += sv->body_len;
	memcpy(p, sv->topic, sv->topic_len);
	p[sv->topic_len] = '\0';
	out->topic = p;
	p += sv->topic_len + 1;
	if (sv->keys) {
		memcpy(p, sv->keys, sv->keys_len);
		p[sv->keys_len] = '\0';
		out->keys = p;
		p += sv->keys_len + 1;
	}
	if (sv->tags) {
		memcpy(p, sv->tags, sv->tags_len);
		p[sv->tags_len] = '\0';
		out->tags = p;
		p += sv->tags_len + 1;
	}
	char *props = p;
	const char *k, *v;
	uint32_t kl, vl, it = 0, next;
	while (store_prop_at(sv->props, sv->props_len, it, &k, &kl, &v, &vl, &next) == 0) {
		memcpy(p, k, kl);
		p[kl] = '\0';
		p += kl + 1;
		memcpy(p, v, vl);
		p[vl] = '\0';
		p += vl + 1;
		it = next;
	}
	if (p > props) {
		out->priv_[0] = props;
		out->priv_len_ = (uint32_t)(p - props);
		out->priv_kind_ = SHMQ_MSG_PROPS_RING;
	}
	return need;
}

void shmq_view_from_ringmsg(const struct shmq_ringmsg_view *rv, struct shmq_msg_view *out)
{
	out->reconsume_times = rv->reconsume_times;
	out->born_ts_ms = rv->born_ts_ms;
	out->born_host = rv->born_host;
	out->producer_id = rv->producer_id;
	out->producer_seq = rv->producer_seq;
	out->body = rv->body;
	out->body_len = rv->body_len;
	out->keys = rv->keys;
	out->tags = rv->tags;
	out->priv_[0] = rv->props;
	out->priv_len_ = rv->props_len;
	out->priv_kind_ = SHMQ_MSG_PROPS_RING;
}
