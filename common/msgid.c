/* SPDX-License-Identifier: Apache-2.0 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "common/compiler.h"
#include "common/crc32c.h"
#include "shmq/msgid.h"

static uint32_t msgid_check(uint32_t broker_id, uint64_t offset)
{
	unsigned char b[12];
	uint32_t id_le = htole32(broker_id);
	uint64_t off_le = htole64(offset);

	memcpy(b, &id_le, 4);
	memcpy(b + 4, &off_le, 8);
	return shmq_crc32c(0, b, sizeof(b));
}

static void put_hex(char *out, uint64_t v, unsigned digits)
{
	static const char hex[] = "0123456789ABCDEF";

	for (unsigned i = digits; i-- > 0; v >>= 4)
		out[i] = hex[v & 0xf];
}

/* Reads exactly `digits` hex digits; stops at the first non-digit (a NUL
 * included), so it never reads past the end of a short string. */
static int get_hex(const char *s, unsigned digits, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < digits; i++) {
		char c = s[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'A' && c <= 'F')
			d = (unsigned)(c - 'A' + 10);
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return -EINVAL;
		x = (x << 4) | d;
	}
	*v = x;
	return 0;
}

SHMQ_EXPORT int shmq_msgid_encode(uint32_t broker_id, uint64_t commitlog_offset,
				  char out[SHMQ_MSGID_STRLEN + 1])
{
	if (out == NULL)
		return -EINVAL;
	put_hex(out, broker_id, 8);
	put_hex(out + 8, commitlog_offset, 16);
	put_hex(out + 24, msgid_check(broker_id, commitlog_offset), 8);
	out[SHMQ_MSGID_STRLEN] = '\0';
	return 0;
}

SHMQ_EXPORT int shmq_msgid_decode(const char *s, uint32_t *broker_id, uint64_t *commitlog_offset)
{
	uint64_t id, off, check;

	if (s == NULL || broker_id == NULL || commitlog_offset == NULL)
		return -EINVAL;
	/* Each field is parsed only if the previous one was all digits, so a
	 * short string stops at its NUL. */
	if (get_hex(s, 8, &id) != 0 || get_hex(s + 8, 16, &off) != 0 ||
	    get_hex(s + 24, 8, &check) != 0 || s[SHMQ_MSGID_STRLEN] != '\0')
		return -EINVAL;
	if ((uint32_t)check != msgid_check((uint32_t)id, off))
		return -EINVAL;
	*broker_id = (uint32_t)id;
	*commitlog_offset = off;
	return 0;
}
