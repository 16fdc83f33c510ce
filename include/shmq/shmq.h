/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file shmq/shmq.h
 * @brief libshmq: the library colocated services link to produce and consume.
 *
 * ## Model
 * A client is one connection to one broker (shmqd) over its control socket.
 * Producers and consumers are made from a client. A topic has N queues; each
 * queue is a ring in shared memory: a producer writes its message into the
 * ring (no syscall, no copy beyond the write itself), the broker's persister
 * drains it into the commitlog. Consumers read the ring directly behind the
 * producers and, when they fell behind the ring, the commitlog through the
 * consumequeue (read-only file descriptors the broker hands out), re-joining
 * the ring when they catch up.
 *
 * ## Thread safety
 *  - shmq_client_t: every function may be called from any thread; requests
 *    to the broker are serialised on one mutex (they are rare: setup,
 *    rebalance, admin).
 *  - shmq_producer_t: shmq_producer_send(), _send_batch() and _send_async()
 *    may be called from any number of threads at once (the ring is
 *    multi-producer); per-queue FIFO holds per calling thread.
 *    shmq_producer_close(): alone, after every send returned.
 *  - shmq_consumer_t: NOT thread safe; one thread polls it (pull mode). In
 *    push mode the library's own thread calls the callback, serially per
 *    queue; do not call shmq_consumer_poll() on a push consumer.
 *  - A handle must be closed after the handles made from it (consumers and
 *    producers before their client).
 *
 * ## Errors
 * 0 or a count on success; a negative -errno or named code from
 * shmq/error.h. SHMQ_BACK_PRESSURED is a status, not an error: the ring is
 * full for longer than the send timeout; retry later. shmq_strerror() names
 * every code; shmq_client_last_error() gives the broker's text for the last
 * refused request of the calling thread.
 *
 * ## Broker restarts
 * A producer keeps writing into the ring while the broker restarts (the ring
 * file outlives it; a full ring back-pressures). The client reconnects on its
 * own when it notices the socket closed (on its next request, and every
 * opts.health_check_ns from poll/send paths that wait); consumers re-join
 * their group and continue from the committed offsets. A remote client
 * ("udp://") resends each unanswered request on a new session until
 * reconnect_timeout_ns (docs/api.md, "Remote brokers").
 */
#ifndef SHMQ_SHMQ_H
#define SHMQ_SHMQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shmq/error.h"
#include "shmq/msgid.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A queue offset or commitlog offset that is not known (yet). */
#define SHMQ_OFFSET_UNKNOWN UINT64_MAX

typedef struct shmq_client shmq_client_t;
typedef struct shmq_producer shmq_producer_t;
typedef struct shmq_consumer shmq_consumer_t;

/* ------------------------------------------------------------------ */
/* Client                                                              */

struct shmq_client_opts {
	size_t sz;                  /**< sizeof(struct shmq_client_opts) */
	const char *group;          /**< producer/consumer group name sent in HELLO; NULL = "" */
	uint64_t request_timeout_ns;/**< broker answer deadline; default 5 s */
	uint64_t reconnect_timeout_ns; /**< how long a request keeps trying to reconnect; default 30 s */
	/* Remote brokers only ("udp://" and "dpdk://" addresses; docs/api.md,
	 * "Remote brokers"); a local client ignores them. */
	const char *principal;      /**< HELLO principal (1..63 of [A-Za-z0-9._-]); NULL = the effective user's name */
	const char *secret_file;    /**< the broker's shared secret: 16..64 bytes (one trailing newline is not
				     *   part of it, as for the broker's own file), nobody but owner and group
				     *   may read or write it; NULL = env SHMQ_SECRET_FILE */
	uint32_t frame_max;         /**< largest UDP payload sent or accepted; 0 = 1472 (Ethernet MTU 1500) */
	/* dpdk:// only (docs/api.md, "Remote brokers"): */
	const char *dpdk_args;      /**< EAL arguments of this process (e.g. "--no-huge -m 128 --vdev ...") */
	const char *dpdk_ip;        /**< this host's IPv4 address on the DPDK port */
};
#define SHMQ_CLIENT_OPTS(name, ...) \
	struct shmq_client_opts name = { .sz = sizeof(struct shmq_client_opts), __VA_ARGS__ }

/**
 * @brief Connect to a broker.
 * @param broker a socket path (contains '/'), or NULL/"" for the default
 *        broker of this user (env SHMQ_SOCKET, else $XDG_RUNTIME_DIR/shmq/
 *        shmqd.sock, else /tmp/shmq-<uid>/shmqd.sock — the broker's embedded
 *        default); or a remote broker's port, "udp://host:port" (kernel
 *        UDP) or "dpdk://ip:port", reached with the network protocol: the
 *        same producer/consumer API (docs/api.md, "Remote brokers", lists
 *        what differs); topic and admin calls are local only (-ENOTSUP).
 * @param opts NULL for defaults.
 * @return 0; -ENOENT/-ECONNREFUSED (no broker there); -EPROTONOSUPPORT
 *         (a broker speaking another protocol version); -ENODEV (dpdk://:
 *         no DPDK port); -ETIMEDOUT (also: a remote broker that
 *         refused the HELLO, e.g. another secret); -EPERM (remote: others
 *         may read or write the secret file).
 */
int shmq_client_open(const char *broker, const struct shmq_client_opts *opts,
		     shmq_client_t **out);
void shmq_client_close(shmq_client_t *c);

/** @brief The broker's text for the last request of this thread that it refused ("" if none). */
const char *shmq_client_last_error(void);

/** @brief Broker id and name from the last HELLO. */
uint32_t shmq_client_broker_id(const shmq_client_t *c);
const char *shmq_client_broker_name(const shmq_client_t *c);

struct shmq_topic_info {
	char name[128];
	uint32_t queues;
	uint64_t created_ns;
};
/** @return 0 (created); -EEXIST (the topic already exists, with any queue count:
 * *out, if given, describes it); -EACCES. */
int shmq_topic_create(shmq_client_t *c, const char *topic, uint32_t queues,
		      struct shmq_topic_info *out);
/** @return 0; SHMQ_ENOTFOUND. */
int shmq_topic_describe(shmq_client_t *c, const char *topic, struct shmq_topic_info *out);

/* ------------------------------------------------------------------ */
/* Messages                                                            */

struct shmq_prop {
	const char *key;   /**< 1..255 bytes, not "KEYS" or "TAGS" */
	const char *value; /**< 0..65535 bytes */
};

/** A message to send. Only body is required. */
struct shmq_message {
	const void *body;
	uint32_t body_len;
	const char *tags;          /**< NULL = none; filterable tag (RocketMQ TAGS) */
	const char *keys;          /**< NULL = none; space-separated keys, indexed for query */
	const struct shmq_prop *props;
	uint32_t nprops;
	uint64_t born_ts_ms;       /**< 0 = now */
	const void *sharding_key;  /**< for SHMQ_SELECT_HASH; NULL = use keys, else round-robin */
	uint32_t sharding_key_len;
};

/** A received message. Pointers stay valid until the next poll on the same
 * consumer (or until the push callback returns). */
struct shmq_msg_view {
	const char *topic;
	uint32_t queue_id;
	uint32_t reconsume_times;
	uint64_t queue_offset;
	uint64_t store_offset;      /**< commitlog offset; SHMQ_OFFSET_UNKNOWN if not yet persisted */
	char msg_id[SHMQ_MSGID_STRLEN + 1]; /**< "" if not yet persisted */
	uint64_t born_ts_ms;
	uint64_t born_host;
	uint64_t producer_id;
	uint64_t producer_seq;
	const void *body;
	uint32_t body_len;
	const char *tags;           /**< NUL-terminated, or NULL */
	const char *keys;           /**< NUL-terminated, or NULL */
	const void *priv_[2];       /**< private: properties */
	uint32_t priv_len_;
	uint32_t priv_kind_;
};

/** @brief Find user property @p key. @return 0 (*value NUL-terminated) or SHMQ_ENOTFOUND. */
int shmq_msg_prop(const struct shmq_msg_view *m, const char *key, const char **value);

/** @brief Iterate user properties: *it = 0 to start. @return 1 while there is one, 0 at the end. */
int shmq_msg_prop_next(const struct shmq_msg_view *m, uint32_t *it, const char **key,
		       const char **value);

/* ------------------------------------------------------------------ */
/* Producer                                                            */

enum shmq_delivery {
	SHMQ_DELIVERY_RING = 0,      /**< return once committed to the ring (survives a broker crash, not a host crash) */
	SHMQ_DELIVERY_PERSISTED = 1, /**< return once in the commitlog (page cache) */
	SHMQ_DELIVERY_DURABLE = 2,   /**< return once flushed to disk (the broker must run sync flush, or its async flusher bounds the wait) */
};

enum shmq_select {
	SHMQ_SELECT_ROUND_ROBIN = 0,
	SHMQ_SELECT_HASH = 1,        /**< hash of sharding_key (or keys): one key, one queue */
	SHMQ_SELECT_CUSTOM = 2,      /**< opts.selector */
};

/** @return the queue (taken modulo @p queues) for @p m. */
typedef uint32_t (*shmq_selector_fn)(void *arg, const struct shmq_message *m, uint32_t queues);

struct shmq_producer_opts {
	size_t sz;                   /**< sizeof(struct shmq_producer_opts) */
	const char *topic;           /**< required */
	enum shmq_delivery delivery; /**< default RING */
	enum shmq_select select;     /**< default ROUND_ROBIN */
	shmq_selector_fn selector;   /**< for SHMQ_SELECT_CUSTOM */
	void *selector_arg;
	uint64_t send_timeout_ns;    /**< wait for ring space, then SHMQ_BACK_PRESSURED; 0 = default 3 s; 1 = (practically) do not wait */
	uint64_t ack_timeout_ns;     /**< wait for PERSISTED/DURABLE; default 10 s, then -ETIMEDOUT (the message may still be stored) */
};
#define SHMQ_PRODUCER_OPTS(name, ...) \
	struct shmq_producer_opts name = { .sz = sizeof(struct shmq_producer_opts), __VA_ARGS__ }

struct shmq_send_result {
	uint32_t queue_id;
	uint64_t queue_offset;       /**< SHMQ_OFFSET_UNKNOWN with SHMQ_DELIVERY_RING */
	uint64_t store_offset;       /**< commitlog offset; SHMQ_OFFSET_UNKNOWN with SHMQ_DELIVERY_RING */
	char msg_id[SHMQ_MSGID_STRLEN + 1]; /**< broker message id; "" with SHMQ_DELIVERY_RING */
	uint64_t producer_id;        /**< with producer_seq: unique per message, known at once */
	uint64_t producer_seq;
};

/** @return 0; -EACCES (no produce right); SHMQ_ENOTFOUND (no such topic and
 * the broker does not create topics on first use). */
int shmq_producer_open(shmq_client_t *c, const struct shmq_producer_opts *opts,
		       shmq_producer_t **out);
void shmq_producer_close(shmq_producer_t *p);

/**
 * @brief Send one message and wait for the producer's delivery level.
 * @param res NULL or filled on success.
 * @return 0; SHMQ_BACK_PRESSURED; SHMQ_ETOOBIG (larger than the broker's
 *         max message size); -EINVAL (bad properties); -ETIMEDOUT (ack
 *         timeout: the message is in the ring and may still be stored);
 *         SHMQ_EFENCED (the queue's ring was fenced by the broker).
 */
int shmq_producer_send(shmq_producer_t *p, const struct shmq_message *m,
		       struct shmq_send_result *res);

/**
 * @brief Send up to @p n messages to ONE queue (chosen by the selector for
 * msgs[0]) as batch records, one atomic publish per record, then wait for
 * the delivery level once.
 * @param res NULL, or an array of @p n results (one per message sent).
 * @return messages sent (a prefix; < n only with SHMQ_BACK_PRESSURED after
 *         the timeout, in which case the rest were not sent), or an error as
 *         shmq_producer_send() with nothing sent.
 */
int shmq_producer_send_batch(shmq_producer_t *p, const struct shmq_message *msgs, unsigned n,
			     struct shmq_send_result *res);

/** Completion: status as shmq_producer_send(); res valid only for status 0. */
typedef void (*shmq_send_cb)(void *arg, int status, const struct shmq_send_result *res);

/**
 * @brief Write the message into the ring now and call @p cb when the delivery
 * level is reached, from the producer's completion thread (or before this
 * returns with SHMQ_DELIVERY_RING). Completions of one queue run in send order.
 * @return 0 (cb will be called exactly once), or an error (cb not called).
 */
int shmq_producer_send_async(shmq_producer_t *p, const struct shmq_message *m,
			     shmq_send_cb cb, void *arg);

/** @brief Wait until every async completion ran (or @p timeout_ns). 0 or -ETIMEDOUT. */
int shmq_producer_flush(shmq_producer_t *p, uint64_t timeout_ns);

/** @return the topic's queue count. */
uint32_t shmq_producer_queues(const shmq_producer_t *p);

/* ------------------------------------------------------------------ */
/* Consumer                                                            */

enum shmq_consume_mode {
	SHMQ_CONSUME_CLUSTERING = 0,   /**< queues divided among the group's live members */
	SHMQ_CONSUME_BROADCASTING = 1, /**< every member gets every queue; offsets kept by the member */
};

enum shmq_visibility {
	SHMQ_VISIBLE_IMMEDIATE = 0, /**< committed in the ring */
	SHMQ_VISIBLE_PERSISTED = 1, /**< in the commitlog */
	SHMQ_VISIBLE_DURABLE = 2,   /**< flushed to disk */
};

enum shmq_start {
	/* As RocketMQ's ConsumeFromWhere: a queue the group has committed always
	 * resumes from its committed offset; the start position applies only to
	 * queues the group never committed (use shmq_admin_group_reset() or
	 * `shmqctl group reset` to move committed offsets). */
	SHMQ_START_COMMITTED = 0, /**< never-committed queues start at LATEST */
	SHMQ_START_EARLIEST = 1,  /**< never-committed queues start at the oldest stored message */
	SHMQ_START_LATEST = 2,    /**< never-committed queues start with messages sent from now on */
	SHMQ_START_TIMESTAMP = 3, /**< never-committed queues start at the first message stored at or after start_ts_ms */
};

/** Push callback: 0 = consumed (committed after return); anything else = retry
 * this message after opts.retry_delay_ns (the queue waits: order is kept). */
typedef int (*shmq_push_fn)(void *arg, const struct shmq_msg_view *m);

struct shmq_consumer_opts {
	size_t sz;                       /**< sizeof(struct shmq_consumer_opts) */
	const char *group;               /**< required */
	const char *topic;               /**< required */
	enum shmq_consume_mode mode;     /**< default CLUSTERING */
	enum shmq_visibility visibility; /**< default IMMEDIATE */
	enum shmq_start start;           /**< default COMMITTED */
	uint64_t start_ts_ms;            /**< for SHMQ_START_TIMESTAMP */
	bool manual_commit;              /**< pull: false = a poll commits what the previous poll returned */
	bool zero_copy;                  /**< pull: views point into the ring; check them with shmq_consumer_check() */
	shmq_push_fn push;               /**< non-NULL: push mode, a library thread calls it */
	void *push_arg;
	uint64_t retry_delay_ns;         /**< push: delay before redelivering a failed message; default 1 s */
	/** A caught-up poll (and the push thread) busy-polls its queues this long
	 * before sleeping on the ring's futex (a futex wake costs ~30 us here,
	 * a busy-poll sees a message within ~0.1 us but burns a core while it
	 * spins); default (0) 50 us; 1 = sleep at once. */
	uint64_t spin_ns;
};
#define SHMQ_CONSUMER_OPTS(name, ...) \
	struct shmq_consumer_opts name = { .sz = sizeof(struct shmq_consumer_opts), __VA_ARGS__ }

/** @return 0; -EACCES (no consume right); SHMQ_ENOTFOUND (no topic). */
int shmq_consumer_open(shmq_client_t *c, const struct shmq_consumer_opts *opts,
		       shmq_consumer_t **out);
/** @brief Leave the group and free. With auto-commit, what earlier polls
 * delivered is committed first; with manual_commit only what the caller
 * committed counts (uncommitted messages are delivered again: at-least-once). */
void shmq_consumer_close(shmq_consumer_t *cs);

/**
 * @brief Pull mode: wait up to @p timeout_ns for messages of the queues this
 * member owns; per-queue order is kept, queues are served round-robin.
 * Copies each message into the consumer's buffer (unless zero_copy), so the
 * views stay intact until the next poll.
 * @return messages (0 on timeout); -EINVAL in push mode; SHMQ_ECLOSED
 *         (consumer closed by another path). While the broker is down a poll
 *         may block past @p timeout_ns for up to the client's
 *         reconnect_timeout_ns (it is reconnecting).
 */
int shmq_consumer_poll(shmq_consumer_t *cs, struct shmq_msg_view *out, unsigned max,
		       uint64_t timeout_ns);

/** @brief zero_copy: 0 if the view's bytes were not overwritten since the
 * poll; SHMQ_EOVERRUN (discard what you derived from it; it is delivered
 * again from the commitlog by the next poll). */
int shmq_consumer_check(shmq_consumer_t *cs, const struct shmq_msg_view *m);

/** @brief Commit: the group will resume queue m->queue_id after @p m.
 * @return 0; -ENOENT if this member does not own that queue (any more). */
int shmq_consumer_commit(shmq_consumer_t *cs, const struct shmq_msg_view *m);

/** @brief Queues this member owns now (up to @p max ids). @return the count. */
int shmq_consumer_assignment(shmq_consumer_t *cs, uint32_t *queues, unsigned max);

struct shmq_consumer_stats {
	uint64_t delivered;
	uint64_t from_ring;        /**< delivered straight from the ring */
	uint64_t from_log;         /**< delivered from the commitlog (fell behind) */
	uint64_t overruns;         /**< times the ring overtook this consumer */
	uint64_t rebalances;       /**< assignment changes seen */
	uint64_t reconnects;
};
void shmq_consumer_stats(shmq_consumer_t *cs, struct shmq_consumer_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* SHMQ_SHMQ_H */
