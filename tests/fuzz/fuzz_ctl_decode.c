/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the control-protocol decoder (common/ctl_codec.h): the
 * broker decodes every datagram a local client sends, so no input may crash
 * it or read out of bounds. Beyond not crashing, it checks the codec's
 * canonical-form promise: bytes that decode re-encode to exactly themselves
 * (so the validator is the same in both directions).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/ctl_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct shmq_ctl_msg m;
	static uint8_t again[SHMQ_CTL_MSG_MAX];

	/* an exact-size heap copy, so ASan sees any read past the datagram */
	uint8_t *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (shmq_ctl_decode(buf, size, &m) == 0) {
		int n = shmq_ctl_encode(&m, again, sizeof(again));
		if (n < 0 || (size_t)n != size || memcmp(again, buf, size) != 0)
			abort();
	}
	/* the name checker sees raw bytes too (NUL-terminated prefix) */
	char name[SHMQ_CTL_NAME_LEN + 2];
	size_t nl = size < sizeof(name) - 1 ? size : sizeof(name) - 1;
	memcpy(name, data, nl);
	name[nl] = '\0';
	int r = shmq_ctl_name_check(name);
	if (r >= 0 && (size_t)r != strlen(name))
		abort();
	free(buf);
	return 0;
}
