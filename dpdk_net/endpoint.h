/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file dpdk_net/endpoint.h
 * @brief Sessions over any backend: the server side (the broker's remote
 *        port) and the client side (libshmq's remote connection).
 *
 * Everything here is transport-independent: frames (frame_codec.h),
 * reassembly (reasm.h), HELLO authentication (auth.h) and reliability
 * (reliable.h) over a struct shmq_net_backend.
 *
 * Server: shmq_net_server_poll() receives a batch and, per frame:
 *  - drops and counts frames that do not decode (garbage, foreign version),
 *    responses, and frames of unknown or expired sessions or from another
 *    address than the session's HELLO;
 *  - answers an authenticated HELLO with HELLO_ACK and a new session
 *    (bounded table; an expired, else the least recently active, session is
 *    evicted); a refused HELLO gets no answer;
 *  - a request: a resend of an answered request is answered from the
 *    session's dedup cache; new ones are reassembled, body-checked (ERROR
 *    -EBADMSG if malformed) and given to the handler, whose answer is
 *    body-checked, sent and cached. The handler may defer (long-poll) and
 *    answer later with shmq_net_server_reply().
 * Client: shmq_net_client_connect() authenticates (a fresh nonce per HELLO
 * transmission); shmq_net_client_call() sends a request and retries it with
 * backoff until its response is reassembled or the deadline passes; a
 * session close to expiry is renewed with a new HELLO first.
 * Neither is thread-safe: one thread polls each.
 */
#ifndef SHMQ_DPDK_NET_ENDPOINT_H
#define SHMQ_DPDK_NET_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "dpdk_net/auth.h"
#include "dpdk_net/backend.h"
#include "dpdk_net/frame_codec.h"
#include "dpdk_net/reasm.h"
#include "dpdk_net/reliable.h"

/** Handler return value: the answer will come from shmq_net_server_reply(). */
#define SHMQ_NET_DEFERRED 1

/** A complete, body-checked request as the handler sees it. */
struct shmq_net_request {
	uint64_t session_id;
	const char *principal;      /**< authenticated by the session's HELLO */
	struct shmq_net_addr peer;
	uint64_t request_id;
	uint16_t type;
	const uint8_t *body;        /**< valid during the call only */
	uint32_t len;
};

/**
 * Serve one request: write the answer's body into @p buf (@p cap =
 * SHMQ_NET_MSG_MAX bytes) and set @p type and @p len; return 0. Or return
 * SHMQ_NET_DEFERRED, or a negative status (answered as ERROR).
 */
typedef int (*shmq_net_handler_fn)(void *ctx, const struct shmq_net_request *req, uint16_t *type,
				   uint8_t *buf, size_t cap, uint32_t *len);

struct shmq_net_server_opts {
	size_t sz;                  /**< sizeof(struct shmq_net_server_opts) */
	uint32_t max_sessions;      /**< 0 = 64 */
	struct shmq_net_reasm_opts reasm; /**< per session; zero = defaults */
	struct shmq_net_dedup_opts dedup; /**< per session; zero = defaults */
};
#define SHMQ_NET_SERVER_OPTS(name, ...) \
	struct shmq_net_server_opts name = { .sz = sizeof(struct shmq_net_server_opts), __VA_ARGS__ }

struct shmq_net_server_stats {
	uint64_t frames;            /**< received */
	uint64_t garbage;           /**< did not decode, or a response */
	uint64_t foreign;           /**< another magic or version */
	uint64_t unknown_session;
	uint64_t expired_session;
	uint64_t wrong_peer;
	uint64_t hello_refused;     /**< bad MAC, replay, stale, malformed */
	uint64_t sessions_opened;
	uint64_t sessions_evicted;
	uint64_t sessions_full;     /**< HELLO unanswered: table full, none of its principal's, none idle 30 s */
	uint64_t requests;          /**< given to the handler */
	uint64_t bad_requests;      /**< body check failed: ERROR sent */
	uint64_t answers_resent;    /**< from the dedup cache */
	uint64_t resends_limited;   /**< not resent: over the session's 16 MiB/s resend budget */
	uint64_t stale;             /**< answer evicted from the dedup cache: ERROR -ESTALE */
	uint64_t frag_dropped;      /**< duplicate/conflicting/refused fragments */
};

struct shmq_net_server;

/** @return 0, -EINVAL, -ENOMEM. @p be and @p auth stay the caller's. */
int shmq_net_server_create(struct shmq_net_backend *be, struct shmq_net_auth *auth,
			   shmq_net_handler_fn handler, void *ctx, const struct shmq_net_server_opts *opts,
			   struct shmq_net_server **out);
void shmq_net_server_destroy(struct shmq_net_server *s);
/** @brief Receive and serve one batch, waiting up to @p timeout_ns.
 *  @return frames received (0 on timeout) or -errno of the backend. */
int shmq_net_server_poll(struct shmq_net_server *s, uint64_t timeout_ns);
/** @brief Answer a deferred request. @return 0; SHMQ_EAUTH (session gone);
 *  -ENOENT (not pending); -EBADMSG (answer fails the body check). */
int shmq_net_server_reply(struct shmq_net_server *s, uint64_t session_id, uint64_t request_id,
			  uint16_t type, const void *body, uint32_t len);
void shmq_net_server_stats(const struct shmq_net_server *s, struct shmq_net_server_stats *st);
unsigned shmq_net_server_sessions(const struct shmq_net_server *s);

struct shmq_net_client_opts {
	size_t sz;                  /**< sizeof(struct shmq_net_client_opts) */
	const char *principal;      /**< required */
	struct shmq_net_retry_opts retry; /**< zero = defaults (20 ms .. 1 s, 30 s deadline) */
	struct shmq_net_reasm_opts reasm; /**< zero = defaults */
};
#define SHMQ_NET_CLIENT_OPTS(name, ...) \
	struct shmq_net_client_opts name = { .sz = sizeof(struct shmq_net_client_opts), __VA_ARGS__ }

struct shmq_net_client_stats {
	uint64_t calls;
	uint64_t retransmits;       /**< request resends (whole messages) */
	uint64_t hellos;            /**< HELLO transmissions */
	uint64_t ignored;           /**< frames not answering what we wait for */
	uint64_t frag_dropped;
	uint64_t reissued;          /**< re-sent under a new id after ERROR -ESTALE */
};

struct shmq_net_client;

/**
 * @brief Authenticate with the server at @p server over @p be.
 * @return 0; -ETIMEDOUT (no valid HELLO_ACK within the retry deadline);
 *         -EINVAL; -ENOMEM; -errno of the backend.
 */
int shmq_net_client_connect(struct shmq_net_backend *be, const struct shmq_net_addr *server,
			    struct shmq_net_auth *auth, const struct shmq_net_client_opts *opts,
			    struct shmq_net_client **out);
void shmq_net_client_close(struct shmq_net_client *c);

/**
 * @brief Send one request and wait for its answer, retrying with backoff.
 * @param resp_type, resp, resp_len: the answer (any response type, ERROR
 *        included); @p resp stays valid until the next call.
 * @return 0; -EBADMSG (the request body fails the check; nothing sent);
 *         -ETIMEDOUT; -errno of the backend.
 */
int shmq_net_client_call(struct shmq_net_client *c, uint16_t type, const void *body, uint32_t len,
			 uint16_t *resp_type, const uint8_t **resp, uint32_t *resp_len);
uint64_t shmq_net_client_session(const struct shmq_net_client *c);
void shmq_net_client_stats(const struct shmq_net_client *c, struct shmq_net_client_stats *st);

#endif
