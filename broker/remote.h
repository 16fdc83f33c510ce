/* SPDX-License-Identifier: Apache-2.0 */
/**
 * @file broker/remote.h
 * @brief shmqd's remote port: the network protocol (docs/protocol.md) served
 *        by one thread (the "net lcore") over a dpdk_net backend.
 *
 * Off unless `[net] listen` is set. The thread owns the backend, the session
 * server (dpdk_net/endpoint.h) and every pending answer; it never blocks on
 * anything but the backend's receive and, with a produce waiting for the
 * persister and no datagram queued, that produce's PERSISTED mark (futex;
 * the persister's publish wakes it). Both waits are slices that start at
 * 4 us after any progress and double up to 50 us (produces pending) or 1 ms
 * (only long polls pending); 10 ms idle. It shares the broker's state with the control
 * server's event loop under the server's lock (broker/server_int.h), taken
 * around each call into the ACL, topics, queues and groups.
 *
 * Identity (R1): a session's principal (authenticated by the shared secret,
 * HELLO) is looked up as a local user name (getpwnam): its uid and primary
 * gid are what the broker's ACL (broker/acl.h) decides on, exactly as for a
 * local client's SO_PEERCRED. A principal that is no local user, or that
 * names uid 0 or the broker's own uid, gets the identity (-1, -1): only
 * `any:` rules and the default rights apply to it. (Holding the secret
 * proves membership of the cluster, not being root on this host.)
 *
 * Requests (docs/protocol.md has the wire details):
 *  - PRODUCE (R2): needs p. The batch goes to the queue's ring exactly as a
 *    local producer writes it (one batch record, ringmsg v2 payloads copied
 *    from the request, result words reset). Idempotent by (producer id,
 *    topic) through shmq_net_idem: a resend of stored messages is answered
 *    with their offsets, a gap is refused with SHMQ_ESEQGAP and the
 *    expected sequence. A batch that continues exactly where the pending
 *    batches of its stream end is written at once (pipelining); any other
 *    batch of a busy stream waits until they are answered, so a resend
 *    arriving on a new session never writes twice. PRODUCE_ACK is
 *    sent once the persister marked the record PERSISTED (offsets from the
 *    result words); a ring without room is retried for up to 2 s, then
 *    answered SHMQ_BACK_PRESSURED.
 *  - PULL (R3): needs c. Reads the store (consumequeue + commitlog) from the
 *    offset (raised to the oldest stored if below it; never lowered: at or
 *    beyond the queue's next offset the answer is empty at the requested
 *    offset; SHMQ_NET_OFFSET_COMMITTED = the group's committed offset), at
 *    most max_msgs and max_bytes (the first message always, if it fits a
 *    message body). Nothing there and timeout_ms > 0: the answer waits
 *    until the message at the offset is stored or the timeout passes; the
 *    store is looked at again when the queue ring's PERSISTED mark moves.
 *    Only persisted messages are served.
 *  - COMMIT (R4): needs c; the group's committed word (shmq_groups_commit).
 *  - JOIN / HEARTBEAT (R5): needs c. A remote member is a group member like
 *    a local one, with a lease instead of a socket: a lease that runs out
 *    is a member gone (shmq_groups_member_gone: its queues move at once,
 *    GR4). The broker releases a queue revoked from a remote member at the
 *    member's next HEARTBEAT (it cannot watch the offset table); every
 *    JOIN_ACK lists only the queues the member owns and may consume now.
 *  - ADMIN (R6): one control-protocol message (common/ctl_layout.h) served
 *    by the control server's handlers (srv_handle) under the server lock,
 *    for a synthetic session with the principal's identity (R1): the same
 *    ACL checks and answers as a local client with that (uid, gid). Only
 *    TOPIC_CREATE, TOPIC_DESCRIBE, TOPIC_LIST, STATUS, QUERY_KEY,
 *    GROUP_PROGRESS, GROUP_RESET and RING_STATUS (no fd, no connection
 *    state); any other type is answered with a ctl ERROR -EOPNOTSUPP.
 *
 * Counters: logged every minute when they changed and at stop.
 */
#ifndef SHMQ_BROKER_REMOTE_H
#define SHMQ_BROKER_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "broker/config.h"
#include "broker/server.h"

typedef struct shmq_remote shmq_remote_t;

struct shmq_remote_stats {
	uint64_t sessions_opened;
	uint32_t sessions;          /**< live now */
	uint32_t members;           /**< remote group members with a lease */
	uint64_t frames;
	uint64_t garbage;           /**< undecodable frames, wrong version, responses */
	uint64_t hello_refused;
	uint64_t requests;          /**< given to the handlers */
	uint64_t errors;            /**< requests answered with a failure */
	uint64_t produced;          /**< messages written to rings */
	uint64_t produce_dups;      /**< messages answered as already stored */
	uint64_t pulled;            /**< messages sent in PULL_RESP */
	uint64_t leases_expired;
	uint64_t admin;             /**< ADMIN requests (counted in requests too) */
};

/**
 * @brief Open the backend for cfg->net_listen, read the secret and start the
 *        net thread. Call after shmq_server_create(), before shmq_server_run().
 * @return 0; -EPERM (secret file readable by others); -EINVAL (secret
 *         length, address); -errno of the backend (broker/remote_backend.h)
 *         or of the thread.
 */
int shmq_remote_start(shmq_server_t *srv, const struct shmq_broker_config *cfg, shmq_remote_t **out,
		      char *err, size_t errlen);

/** @brief Stop the thread (pending requests stay unanswered: clients retry
 *  elsewhere), log the counters, free. Before shmq_server_destroy(). NULL ok. */
void shmq_remote_stop(shmq_remote_t *r);

/** @brief Counters (any thread; each is read atomically). */
void shmq_remote_stats(shmq_remote_t *r, struct shmq_remote_stats *st);

#endif
