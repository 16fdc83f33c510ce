/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_net/auth.h
 * @brief Session authentication with a shared secret (HELLO / HELLO_ACK).
 *
 * Both sides hold the same secret (>= 16 bytes). The client sends HELLO with
 * a fresh random nonce, its wall-clock time and its principal, MACed with
 * HMAC-SHA256 (libsodium crypto_auth_hmacsha256) under the secret; the server
 * answers HELLO_ACK with its own nonce, a random session id and the session's
 * expiry, MACed over the client's nonce too, so the ACK answers exactly that
 * HELLO. The server refuses:
 *  - a wrong MAC (forged, or another secret): SHMQ_EAUTH;
 *  - a timestamp outside +-skew of its clock: SHMQ_EREPLAY (stale);
 *  - a nonce it has seen (replay window): SHMQ_EREPLAY.
 * Replay window: the nonces of accepted HELLOs are kept while their
 * timestamps are within the skew window, in a table of `replay_slots`. When
 * the table is full the oldest entry is dropped and its timestamp becomes a
 * floor: HELLOs not newer than the floor are refused as stale, so a dropped
 * nonce can never be replayed (memory bounded, no false accept). A client
 * never repeats a nonce: a retried HELLO is a new HELLO.
 * MAC comparisons are constant-time. The secret is wiped on destroy.
 * Not thread-safe: one poller owns a server's state.
 */
#ifndef SHMQ_DPDK_NET_AUTH_H
#define SHMQ_DPDK_NET_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "dpdk_net/frame_layout.h"

#define SHMQ_NET_SECRET_MIN 16u
#define SHMQ_NET_SECRET_MAX 64u

struct shmq_net_auth;

/**
 * @brief Read a shared-secret file, the same way on both sides (the broker's
 *        `[net] secret_file`, a client's opts.secret_file): a regular file
 *        that nobody but its owner and group may read or write, holding
 *        SHMQ_NET_SECRET_MIN..SHMQ_NET_SECRET_MAX bytes; one trailing "\n"
 *        or "\r\n" is not part of the secret (`echo secret > file` works).
 * @param out at least SHMQ_NET_SECRET_MAX bytes.
 * @return 0; -EPERM (others may read or write it); -EINVAL (not a regular
 *         file, length out of range); -errno of open/read. @p err says why.
 */
int shmq_net_secret_read(const char *path, uint8_t *out, size_t *len, char *err, size_t errlen);

struct shmq_net_auth_opts {
	size_t sz;              /**< sizeof(struct shmq_net_auth_opts) */
	uint64_t skew_ns;       /**< accepted |client clock - server clock|; 0 = 30 s */
	uint64_t session_ttl_ns;/**< session lifetime from HELLO_ACK; 0 = 1 h */
	uint32_t replay_slots;  /**< nonces remembered; 0 = 4096 */
};
#define SHMQ_NET_AUTH_OPTS(name, ...) \
	struct shmq_net_auth_opts name = { .sz = sizeof(struct shmq_net_auth_opts), __VA_ARGS__ }

struct shmq_net_auth_stats {
	uint64_t accepted;
	uint64_t bad_mac;
	uint64_t replayed;      /**< nonce seen before */
	uint64_t stale;         /**< timestamp outside the window or below the floor */
};

/**
 * @brief Create the state of one side (client or server) for @p secret.
 * @return 0; -EINVAL (secret length outside [SHMQ_NET_SECRET_MIN,
 *         SHMQ_NET_SECRET_MAX], bad opts); -ENOMEM; -EIO (libsodium init).
 */
int shmq_net_auth_create(const void *secret, size_t secret_len, const struct shmq_net_auth_opts *opts,
			 struct shmq_net_auth **out);
void shmq_net_auth_destroy(struct shmq_net_auth *a);

/** @brief Client: fill a HELLO for @p principal (accepting frames up to
 *  @p frame_max bytes) at wall time @p now_real_ns with a fresh random nonce.
 *  @return 0 or -EINVAL (bad principal or frame_max). */
int shmq_net_auth_hello(struct shmq_net_auth *a, const char *principal, uint32_t frame_max,
			uint64_t now_real_ns, struct shmq_net_hello *h);

/**
 * @brief Server: refuse every HELLO stamped at or before @p ts_ns (wall
 *        clock). A server calls it with its start time: the nonces seen by a
 *        previous run are gone with it, and a HELLO recorded then (within
 *        the skew window) would otherwise open a session again. A client
 *        whose clock lags this server's is refused for that lag after a
 *        restart (each retry stamps a fresh HELLO).
 */
void shmq_net_auth_refuse_before(struct shmq_net_auth *a, uint64_t ts_ns);

/**
 * @brief Server: check a HELLO (body already validated by the codec) at wall
 *        time @p now_real_ns; remembers its nonce when accepted.
 * @return 0; SHMQ_EAUTH; SHMQ_EREPLAY.
 */
int shmq_net_auth_check_hello(struct shmq_net_auth *a, const struct shmq_net_hello *h,
			      uint64_t now_real_ns);

/** @brief Server: fill the HELLO_ACK for an accepted @p h, granting
 *  @p session_id until now + ttl. @return the expiry (wall ns). */
uint64_t shmq_net_auth_ack(struct shmq_net_auth *a, const struct shmq_net_hello *h, uint64_t session_id,
			   uint32_t frame_max, uint64_t now_real_ns, struct shmq_net_hello_ack *ack);

/** @brief Client: check that @p ack answers @p h (MAC and nonce echo).
 *  @return 0 or SHMQ_EAUTH. */
int shmq_net_auth_check_ack(struct shmq_net_auth *a, const struct shmq_net_hello *h,
			    const struct shmq_net_hello_ack *ack);

/** @brief A random non-zero 64-bit value (session ids, producer ids). */
uint64_t shmq_net_random_u64(void);

void shmq_net_auth_stats(const struct shmq_net_auth *a, struct shmq_net_auth_stats *st);

#endif
