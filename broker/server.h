/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/server.h
 * @brief shmqd's control server: start-up, the event loop that serves the
 *        control socket, and a clean shutdown.
 *
 * Start-up (shmq_server_create), in this order: directories (mkdir -p), the
 * store (recovery report logged), the topic registry, the persister, the
 * rings of every topic (existing files re-opened and handed to the
 * persister, broker/queues.h), the consumer groups (offset tables adopted,
 * broker/groups.h), the persister thread, then the control socket
 * (SOCK_SEQPACKET). A stale socket file is unlinked only if nobody answers
 * on it; a live broker there makes start-up fail with -EADDRINUSE. The log
 * line "ready" names the socket: clients may connect from then on.
 *
 * The event loop (shmq_server_run) is one thread around epoll: the
 * listening socket, one socket per client session, a signalfd (SIGTERM and
 * SIGINT: shutdown; SIGHUP: re-open the log file) and a 100 ms timerfd
 * (group revoke deadlines, offsets persisted every
 * consumer.offset_persist_interval_ms, retention every
 * store.retention_check_interval_ms).
 *
 * Sessions: the peer's uid/gid/pid come from SO_PEERCRED at accept, never
 * from a message. Session ids (= consumer member ids) start at a random
 * 64-bit base per run (getrandom) and grow by one per connection, never 0.
 * HELLO must be the first request. Every request is decoded and validated
 * by common/ctl_codec.c and checked against the ACL before anything
 * happens: OPEN_QUEUE PRODUCE and TOPIC_OPEN need p on the topic; OPEN_QUEUE CONSUME,
 * GROUP_JOIN/SYNC/LEAVE, QUEUE_RELEASE, COMMIT_OFFSET, OPEN_CQ, QUERY_KEY,
 * GROUP_PROGRESS, SEARCH_TIME and READ_MSG need c (READ_MSG by commitlog
 * offset: on the record's topic); TOPIC_CREATE and GROUP_RESET need a;
 * OPEN_SEGMENT needs c on at least one topic (a segment mixes topics);
 * TOPIC_DESCRIBE, TOPIC_LIST, RING_STATUS and STATUS show metadata only and
 * need a HELLO. The HELLO role and group are informational (logged): rights
 * come from the ACL alone. Each request gets exactly one answer: its response or an
 * ERROR (a negative status and a text); a malformed datagram gets an ERROR
 * echoing the request id when one can be read, and the session stays open.
 * A closed socket is a departed member at once (shmq_groups_member_gone).
 * The broker never sends anything unsolicited; a client that does not read
 * its answers (send buffer full) is disconnected.
 *
 * Shutdown (after SIGTERM/SIGINT, in shmq_server_destroy): stop accepting;
 * wait up to broker.shutdown_drain_ms for the persister to persist what was
 * committed in the rings when the signal came; stop it; persist the group
 * offsets; close the rings, the store (flush, checkpoint, abort file
 * removed) and the registry; unlink the socket (only if it is still ours)
 * and the pid file.
 *
 * Thread safety: create, run and destroy from one thread. Block SIGTERM,
 * SIGINT and SIGHUP in every thread before create (shmqd's main() does),
 * so that only the signalfd sees them.
 */
#ifndef SHMQ_BROKER_SERVER_H
#define SHMQ_BROKER_SERVER_H

#include <stddef.h>

#include "broker/config.h"

typedef struct shmq_server shmq_server_t;

/**
 * @brief Start everything up to a listening control socket (see above).
 * @param cfg must outlive the server.
 * @param err one-line reason on failure.
 * @return 0; -EADDRINUSE (a live broker answers on the socket); -EBUSY
 *         (another process holds the store); a store, registry, ring or
 *         group error; -errno.
 */
int shmq_server_create(const struct shmq_broker_config *cfg, shmq_server_t **out, char *err,
		       size_t errlen);

struct shmq_remote;
/** @brief The remote port whose counters STATUS reports (NULL: none). Set
 *  before shmq_server_run() and cleared after it returns, from the thread
 *  that runs it. */
void shmq_server_set_remote(shmq_server_t *s, struct shmq_remote *r);

/**
 * @brief Serve until SIGTERM or SIGINT.
 * @return 0 after a shutdown signal; -errno if the event loop itself failed.
 */
int shmq_server_run(shmq_server_t *s);

/**
 * @brief Shut down cleanly (see above) and free. Accepts NULL.
 * @return 0, or the first error of the shutdown (store close, offsets).
 */
int shmq_server_destroy(shmq_server_t *s);

#endif
