/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the ring message decoder (common/ringmsg.h), which the
 * broker runs on bytes any producer could have written. A decoded message
 * must lie inside the input, its strings must end at their NUL, and
 * re-encoding it (plus writing back the result words it carried, which the
 * encoder leaves unset) must give the same bytes back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ringmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private, exact-size copy: any read past the end is an ASan report */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	struct shmq_ringmsg_view v;
	if (shmq_ringmsg_decode(buf, size, &v) != 0) {
		free(buf);
		return 0;
	}
	struct shmq_ringmsg_prop props[64];
	uint32_t np = v.nprops < 64 ? v.nprops : 64;
	const char *p = v.props;
	for (uint32_t i = 0; i < v.nprops; i++) {
		const char *k, *val;
		p = shmq_ringmsg_prop_next(p, &k, &val);
		if (i < 64)
			props[i] = (struct shmq_ringmsg_prop){ k, val };
	}
	if (p != v.props + v.props_len)
		abort();
	if (v.keys && strlen(v.keys) != v.keys_len)
		abort();
	if (v.tags && strlen(v.tags) != v.tags_len)
		abort();
	if (v.nprops <= 64) {
		struct shmq_ringmsg_in in = {
			.flags = v.flags, .reconsume_times = v.reconsume_times,
			.born_ts_ms = v.born_ts_ms, .born_host = v.born_host,
			.producer_id = v.producer_id, .producer_seq = v.producer_seq,
			.body = v.body, .body_len = v.body_len, .keys = v.keys, .tags = v.tags,
			.props = props, .nprops = np,
		};
		uint8_t *out = malloc(size);
		if (!out || shmq_ringmsg_encode(out, size, &in) != (int64_t)size)
			abort();
		uint64_t so, qo;
		shmq_ringmsg_result_get(out, &so, &qo);
		if (so != SHMQ_RINGMSG_RESULT_NONE || qo != SHMQ_RINGMSG_RESULT_NONE)
			abort();
		shmq_ringmsg_result_set(out, v.store_offset, v.queue_offset);
		if (memcmp(out, buf, size) != 0)
			abort();
		free(out);
	}
	free(buf);
	return 0;
}
