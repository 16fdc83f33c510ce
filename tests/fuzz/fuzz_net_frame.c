/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the network decoders (dpdk_net/frame_codec.h, reasm.h):
 * every frame a remote peer sends goes through shmq_net_frame_decode(), and
 * every reassembled body through shmq_net_body_check(). No input may crash,
 * read out of bounds or leak. Beyond that it checks:
 *  - canonical frames: a frame that decodes re-encodes to exactly its bytes;
 *  - a decoded frame feeds the reassembler without error other than the
 *    documented ones, and a one-frame message completes at once;
 *  - the same bytes read as a body of the type named by the first byte: a
 *    body that checks yields exactly `count` entries through the iterator;
 *    an ADMIN / ADMIN_RESP body is then decoded by the control codec, as
 *    the receiver does, and the two agree: the envelope check accepts every
 *    control message of its direction the codec accepts (without HAS_FD),
 *    and nothing the codec accepts behind a passed envelope has another
 *    direction or an fd.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ctl_codec.h"
#include "dpdk_net/frame_codec.h"
#include "dpdk_net/reasm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_frame(const uint8_t *buf, size_t size)
{
	static uint8_t again[SHMQ_NET_FRAME_MAX];
	struct shmq_net_frame f;
	if (shmq_net_frame_decode(buf, size, &f) != 0)
		return;
	struct shmq_net_msginfo mi = { .type = f.h.type, .attempt = f.h.attempt, .session_id = f.h.session_id,
				       .request_id = f.h.request_id };
	/* rebuild the whole body view this fragment belongs to: only the
	 * fragment's own bytes are known, so encode from a body whose fragment
	 * at frag_index is the payload */
	uint8_t *body = calloc(1, f.h.msg_len ? f.h.msg_len : 1);
	if (!body)
		return;
	if (f.h.payload_len)
		memcpy(body + (size_t)f.h.frag_index * f.h.frag_size, f.payload, f.h.payload_len);
	int n = shmq_net_frame_encode(&mi, body, f.h.msg_len, f.h.frag_size, f.h.frag_index, again, sizeof(again));
	if (n < 0 || (size_t)n != size || memcmp(again, buf, size) != 0)
		abort();
	free(body);

	struct shmq_net_reasm *r;
	SHMQ_NET_REASM_OPTS(o, .max_bytes = 1u << 20, .max_msgs = 2);
	if (shmq_net_reasm_create(&o, &r) != 0)
		abort();
	struct shmq_net_reasm_msg m;
	int rc = shmq_net_reasm_add(r, &f, 1, &m);
	if (rc == 1) {
		if (f.h.frag_count != 1 || m.len != f.h.msg_len)
			abort();
		shmq_net_body_check(f.h.type, m.body, m.len);
		shmq_net_reasm_msg_free(&m);
	} else if (rc != 0 && rc != -ENOBUFS && rc != -ENOMEM) {
		abort();
	}
	shmq_net_reasm_destroy(r);
}

/* ADMIN bodies: the frame codec's envelope check against the ctl codec. */
static void check_admin(unsigned type, const uint8_t *b, size_t len)
{
	static struct shmq_ctl_msg m; /* ~33 KiB: off the stack */
	bool resp = type == SHMQ_NET_ADMIN_RESP;
	bool envelope = shmq_net_body_check(type, b, len) == 0;
	if (shmq_ctl_decode(b, len, &m) != 0)
		return;
	bool fits = !(m.flags & SHMQ_CTL_F_HAS_FD) && ((m.flags & SHMQ_CTL_F_RESPONSE) != 0) == resp;
	if (envelope != fits)
		abort();
}

static void check_body(const uint8_t *data, size_t size)
{
	if (size == 0)
		return;
	unsigned type = data[0] % (SHMQ_NET_TYPE_MAX + 2u);
	size_t len = size - 1;
	/* an 8-aligned exact-size heap copy, as a reassembled body is */
	uint8_t *b = malloc(len ? len : 1);
	if (!b)
		return;
	memcpy(b, data + 1, len);
	if (type == SHMQ_NET_ADMIN || type == SHMQ_NET_ADMIN_RESP)
		check_admin(type, b, len);
	if (shmq_net_body_check(type, b, len) == 0 &&
	    (type == SHMQ_NET_PRODUCE || type == SHMQ_NET_PULL_RESP)) {
		union {
			struct shmq_net_produce_hdr p;
			struct shmq_net_pull_resp_hdr r;
		} h;
		size_t hl = type == SHMQ_NET_PRODUCE ? sizeof(h.p) : sizeof(h.r);
		struct shmq_net_entry_iter it;
		struct shmq_ringmsg_view v;
		uint64_t qo;
		uint32_t n = 0;
		if (shmq_net_entries_begin(b, len, &h, hl, &it) != 0)
			abort();
		int rc;
		while ((rc = shmq_net_entry_next(&it, &qo, &v)) == 1)
			n++;
		if (rc != 0 || n != (type == SHMQ_NET_PRODUCE ? h.p.count : h.r.count))
			abort();
	}
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size heap copy, so ASan sees any read past the datagram */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	check_frame(buf, size);
	free(buf);
	check_body(data, size);
	return 0;
}
