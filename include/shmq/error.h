/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file shmq/error.h
 * @brief Status codes shared by every shmq component.
 *
 * Every shmq function returns 0, a count or position >= 0, or a negative
 * status: either -errno (for failures the OS reports, e.g. -ENOMEM, -ENOSPC)
 * or one of the named codes below, which live outside the errno range
 * (below -SHMQ_ERRNO_MAX) so the two never collide.
 *
 * SHMQ_BACK_PRESSURED and SHMQ_EMPTY are *statuses*, not failures: the caller
 * is expected to retry, wait, or do something else.
 */
#ifndef SHMQ_ERROR_H
#define SHMQ_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/** errno values are below this; named shmq codes are below its negation. */
#define SHMQ_ERRNO_MAX 4095

enum shmq_status {
	/* --- statuses (not failures) --- */
	SHMQ_BACK_PRESSURED = -10001, /**< no room right now; retry or wait */
	SHMQ_EMPTY          = -10002, /**< nothing to read right now */

	/* --- shared memory / ring --- */
	SHMQ_ELAYOUT        = -10100, /**< attached object has another layout/version */
	SHMQ_ECORRUPT       = -10101, /**< shared memory or file holds invalid data */
	SHMQ_EOVERRUN       = -10102, /**< a non-gating reader was lapped; bytes reclaimed */
	SHMQ_ERECLAIMED     = -10103, /**< producer stalled past the timeout; its record was padded out */
	SHMQ_ETOOBIG        = -10104, /**< message larger than the configured maximum */
	SHMQ_EFENCED        = -10105, /**< ring was fenced after corruption was detected */

	/* --- store --- */
	SHMQ_EPOISONED      = -10200, /**< an earlier write/flush failed; the store refuses work */
	SHMQ_ECRC           = -10201, /**< record checksum mismatch */
	SHMQ_ENOTFOUND      = -10202, /**< no record/entry at that offset or key */
	SHMQ_ESTALE         = -10203, /**< offset refers to data already deleted by retention */
	SHMQ_ECLOSED        = -10204, /**< object is shutting down */

	/* --- network (dpdk_net/) --- */
	SHMQ_EAUTH          = -10500, /**< peer failed authentication (bad HMAC, unknown or expired session) */
	SHMQ_EREPLAY        = -10501, /**< replayed or stale HELLO nonce */
	SHMQ_ESEQGAP        = -10502, /**< producer sequence gap: earlier messages missing */
};

/**
 * @brief Human-readable description of a status returned by any shmq call.
 * @param status 0, a -errno value or a named shmq code.
 * @return a static string; never NULL.
 */
const char *shmq_strerror(int status);

#ifdef __cplusplus
}
#endif
#endif /* SHMQ_ERROR_H */
