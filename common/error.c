/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "shmq/error.h"

const char *shmq_strerror(int status)
{
	switch (status) {
	case 0: return "success";
	case SHMQ_BACK_PRESSURED: return "back-pressured: no room right now, retry later";
	case SHMQ_EMPTY: return "empty: nothing to read right now";
	case SHMQ_ELAYOUT: return "layout mismatch: object was created by an incompatible shmq version";
	case SHMQ_ECORRUPT: return "corrupt: shared memory or file holds invalid data";
	case SHMQ_EOVERRUN: return "overrun: reader fell behind and the bytes were reclaimed";
	case SHMQ_ERECLAIMED: return "reclaimed: producer stalled past the unblock timeout; record discarded";
	case SHMQ_ETOOBIG: return "message larger than the configured maximum size";
	case SHMQ_EFENCED: return "ring fenced after corruption was detected";
	case SHMQ_EPOISONED: return "store poisoned by an earlier write or flush error";
	case SHMQ_ECRC: return "record checksum mismatch";
	case SHMQ_ENOTFOUND: return "not found";
	case SHMQ_ESTALE: return "offset refers to data already removed by retention";
	case SHMQ_ECLOSED: return "closed: object is shutting down";
	case SHMQ_EAUTH: return "authentication failed: bad HMAC, unknown or expired session";
	case SHMQ_EREPLAY: return "replayed or stale HELLO nonce refused";
	case SHMQ_ESEQGAP: return "producer sequence gap: earlier messages of this producer are missing";
	default: break;
	}
	if (status < 0 && status >= -SHMQ_ERRNO_MAX)
		return strerror(-status);
	return "unknown shmq status";
}
