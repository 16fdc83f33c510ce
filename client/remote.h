/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libshmq over the network (issue 5): a shmq_client_t opened on a
 * "udp://host:port" (or "dpdk://ip:port") address speaks the shmq network
 * protocol (docs/protocol.md, dpdk_net/) to a broker's remote port instead of
 * the local control socket and rings. The public producer/consumer calls of
 * shmq/shmq.h dispatch here when their client is remote. Never installed.
 *
 * ## Pieces
 *  - shmq_remote (remote_conn.c): the address, principal, secret and timeouts
 *    of one remote client, and shmq_rconn: one authenticated session over
 *    its own backend (kernel UDP socket, or for dpdk:// a virtual port of
 *    the process's one DPDK port: remote_mux.h), with reconnect.
 *  - shmq_rproducer (remote_producer.c): senders hand encoded messages to
 *    the producer's I/O thread, which batches everything pending for one
 *    queue into one PRODUCE (up to SHMQ_NET_BATCH_MAX messages).
 *  - shmq_rconsumer (remote_consumer.c): driven by the polling thread itself
 *    (a consumer is single-threaded): JOIN, HEARTBEAT (lease renewal from
 *    poll), PULL with long-polling, COMMIT.
 *
 * ## Sessions and restarts (RM1..RM4, cited by tests/integration/it_remote.c)
 *  RM1 Each producer and each consumer owns one session (its own socket and
 *      HELLO): a long-polling PULL never delays a PRODUCE.
 *  RM2 Every request is retried by the endpoint until answered, for up to
 *      opts.request_timeout_ns (+ the long-poll time). An unanswered request
 *      means the broker lost the session (restart) or is down: the session
 *      is dropped, a new HELLO made, and the same request sent again, until
 *      opts.reconnect_timeout_ns passed without an answer (-ETIMEDOUT).
 *  RM3 Resending is safe because every request is idempotent: PRODUCE by
 *      (producer id, queue, sequence), PULL by offset, COMMIT by value,
 *      HEARTBEAT answered with the current assignment (an unknown member
 *      re-JOINs).
 *  RM4 Sequences are per (producer id, topic), consecutive from 0
 *      (docs/protocol.md). Until a PRODUCE_ACK told the topic's queue count,
 *      batches go out as QUEUE_ANY with the selector's hint (key hash or
 *      round-robin counter), which the broker reduces modulo the count
 *      exactly as shmq_select_queue() does; then the producer names queues.
 *      A SHMQ_SELECT_CUSTOM producer learns the count at open (TOPIC_OPEN
 *      over ADMIN) and names queues from its first send.
 */
#ifndef SHMQ_CLIENT_REMOTE_H
#define SHMQ_CLIENT_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "dpdk_net/backend.h"
#include "dpdk_net/endpoint.h"
#include "shmq/shmq.h"

struct shmq_remote;
struct shmq_rproducer;
struct shmq_rconsumer;

/* Longest PULL the consumer leaves pending (each poll may chain several). */
#define SHMQ_REMOTE_LONGPOLL_MAX_NS 500000000ull

/** true if @p broker names a remote broker ("udp://", "dpdk://"). */
bool shmq_remote_is_url(const char *broker);

/** The remote part of client @p c, or NULL for a local client (client.c). */
struct shmq_remote *shmq_cli_remote(const shmq_client_t *c);

/**
 * Parse @p url, read the secret, authenticate once (proving address and
 * secret) and keep the settings for the sessions of producers and consumers.
 * @return 0; -EINVAL (url, principal, options; dpdk:// without dpdk_ip or
 * with another one than the open port's); -ENODEV (dpdk://: no such DPDK
 * port); -EPERM (secret file readable by others);
 * -ETIMEDOUT (no HELLO_ACK: no broker there, or it refused the HELLO, e.g.
 * a wrong secret); -errno.
 */
int shmq_remote_open(const char *url, const struct shmq_client_opts *o, struct shmq_remote **out);
void shmq_remote_close(struct shmq_remote *r);

/** Test hook: drop the packets @p fn refuses on every backend made from now
 * on by this client (set before opening producers/consumers). @p fn runs on
 * the producers' I/O threads and the consumers' polling threads at once. */
void shmq_remote_set_loss(struct shmq_remote *r, shmq_net_loss_fn fn, void *ctx);

/* One session (RM1) with reconnect (RM2). One thread at a time. */
struct shmq_rconn {
	struct shmq_remote *r;
	struct shmq_net_backend *be;
	struct shmq_net_auth *auth;
	struct shmq_net_client *cl;     /* NULL while disconnected */
	uint64_t reconnects;            /* sessions made after the first */
	uint64_t sessions;
};

int shmq_rconn_init(struct shmq_remote *r, struct shmq_rconn *k);
void shmq_rconn_fini(struct shmq_rconn *k);
/**
 * One request until answered (RM2). @p resp stays valid until the next call.
 * @return 0 with a response of the expected type @p want; the status of an
 * ERROR answer (its text saved for shmq_client_last_error()); -EBADMSG (an
 * answer of another type); -ETIMEDOUT; -errno.
 */
int shmq_rconn_call(struct shmq_rconn *k, uint16_t type, const void *body, uint32_t len, uint16_t want,
		    const uint8_t **resp, uint32_t *resp_len);

/* Producer (remote_producer.c): semantics of the same shmq_producer_* call. */
int shmq_rproducer_open(struct shmq_remote *r, const struct shmq_producer_opts *opts,
			struct shmq_rproducer **out);
void shmq_rproducer_close(struct shmq_rproducer *p);
int shmq_rproducer_send(struct shmq_rproducer *p, const struct shmq_message *m, struct shmq_send_result *res);
int shmq_rproducer_send_batch(struct shmq_rproducer *p, const struct shmq_message *msgs, unsigned n,
			      struct shmq_send_result *res);
int shmq_rproducer_send_async(struct shmq_rproducer *p, const struct shmq_message *m, shmq_send_cb cb,
			      void *arg);
int shmq_rproducer_flush(struct shmq_rproducer *p, uint64_t timeout_ns);
/** The topic's queue count: 0 until the first PRODUCE_ACK (or, for a custom
 * selector, the open) told it (RM4). */
uint32_t shmq_rproducer_queues(const struct shmq_rproducer *p);

/* Consumer (remote_consumer.c): semantics of the same shmq_consumer_* call. */
int shmq_rconsumer_open(struct shmq_remote *r, const struct shmq_consumer_opts *opts,
			struct shmq_rconsumer **out);
void shmq_rconsumer_close(struct shmq_rconsumer *cs);
int shmq_rconsumer_poll(struct shmq_rconsumer *cs, struct shmq_msg_view *out, unsigned max,
			uint64_t timeout_ns);
int shmq_rconsumer_commit(struct shmq_rconsumer *cs, const struct shmq_msg_view *m);
int shmq_rconsumer_assignment(struct shmq_rconsumer *cs, uint32_t *queues, unsigned max);
void shmq_rconsumer_stats(struct shmq_rconsumer *cs, struct shmq_consumer_stats *st);

#endif
