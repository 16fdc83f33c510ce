/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libshmq internals shared by the client's .c files (client.c, producer.c,
 * consumer.c, logreader.c, msg.c, admin.c) and its tests. Never installed.
 *
 * ## The control connection (client.c)
 * One SOCK_SEQPACKET connection per shmq_client_t, one request in flight at a
 * time (a mutex serialises them; requests are rare: setup, rebalance, admin).
 * Every request gets a fresh request id; a response with another id (the late
 * answer to a request that timed out) is dropped. The broker never sends
 * anything unsolicited, so a readable socket between requests means either a
 * late answer or a closed peer.
 *
 * Reconnect: a request that finds the socket dead (EPIPE, ECONNRESET,
 * ENOTCONN, or EOF on receive) closes it, reconnects (retrying with back-off
 * for up to opts.reconnect_timeout_ns while the broker restarts), sends HELLO
 * again, bumps the epoch and retries the request once. Handles built on the
 * client (producers, consumers) compare shmq_cli_epoch() with the epoch they
 * last saw and redo their per-connection setup (OPEN_QUEUE, GROUP_JOIN) when
 * it changed.
 */
#ifndef SHMQ_CLIENT_CLIENT_INT_H
#define SHMQ_CLIENT_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/store/store.h"
#include "common/ctl_codec.h"
#include "shmq/ring.h"
#include "shmq/shmq.h"

/* Public functions carry this; everything else in libshmq.so is hidden. */
#define SHMQ_API __attribute__((visibility("default")))

/* Ring record type of a ringmsg payload (common/ringmsg.h). */
#define SHMQ_CLI_RING_TYPE SHMQ_RING_TYPE_USER

/* How often waiting paths look at the control socket (spec: 100 ms). */
#define SHMQ_CLI_CHECK_NS 100000000ull

/* ------------------------------------------------------------------ */
/* Control connection                                                  */

/*
 * One request/response round trip; assigns request_id; on a dead socket
 * reconnects first (re-HELLO) and retries once. Returns 0 with *resp filled
 * (RESPONSE of the same type), or the ERROR response's status (negative; its
 * text saved for shmq_client_last_error()), or -errno (-ETIMEDOUT when the
 * broker did not answer within opts.request_timeout_ns; -EBADMSG for an
 * answer of another type). fd: NULL if no fd is expected; else *fd =
 * received fd (close-on-exec, the caller's) or -1.
 */
int shmq_cli_request(shmq_client_t *c, struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp, int *fd);
/*
 * The one seam of every control request (admin calls, topic calls): on a
 * remote client (client/remote.h) shmq_cli_request() sends the same encoded
 * message as an ADMIN frame over the client's admin session and decodes the
 * ADMIN_RESP with the same codec (docs/protocol.md "ADMIN"); the broker
 * serves only fd-free, session-free types there, so a request that wants an
 * fd (@p fd non-NULL) is refused locally with -EOPNOTSUPP ("not available
 * over the network"). This is that remote half (remote_conn.c): assigns
 * request_id; returns 0 with *resp decoded, validated and answering @p req
 * (RESPONSE flag, same request id; its type is checked by the caller), or
 * -EBADMSG, -ETIMEDOUT, -errno, or a network ERROR's status.
 */
struct shmq_remote;
int shmq_remote_ctl_call(struct shmq_remote *r, struct shmq_ctl_msg *req, struct shmq_ctl_msg *resp);
/*
 * The broker id of a remote client (remote_conn.c), learned once per client
 * with a STATUS over ADMIN (the control HELLO that tells a local client is
 * not served remotely) and cached. @return 0 with *id; an error of
 * shmq_remote_ctl_call() while it is not known yet.
 */
int shmq_remote_broker_id(struct shmq_remote *r, uint32_t *id);
uint64_t shmq_cli_session(shmq_client_t *c);   /* member id of the current connection */
uint32_t shmq_cli_epoch(shmq_client_t *c);     /* +1 after every reconnect */
/* Rate-limited (100 ms) liveness check: poll(POLLRDHUP, 0); when the peer
 * closed, makes ONE reconnect attempt (the next check, 100 ms later, tries
 * again; a request retries for reconnect_timeout_ns). 0 (alive or
 * reconnected) or -errno. Never blocks behind a request in progress on
 * another thread (that one notices by itself). */
int shmq_cli_check_alive(shmq_client_t *c);
/* The broker id (message ids): from HELLO; for a remote client from
 * shmq_remote_broker_id() (0 while the broker cannot be asked). */
uint32_t shmq_cli_broker_id(shmq_client_t *c);
/* The group given in the client options ("" if none). */
const char *shmq_cli_group(const shmq_client_t *c);
/* Save @p text as this thread's shmq_client_last_error(). */
void shmq_cli_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------------ */
/* Read-only view of the commitlog (logreader.c)                       */

/*
 * For consumers that fell behind the ring and for admin reads. Maps the
 * OPEN_SEGMENT / OPEN_CQ fds read-only and trusts none of their bytes: CQ
 * entries are bounds-checked, records decoded by shmq_cl_decode() with their
 * CRC. One thread at a time per reader (it is not locked).
 *
 * Mappings are cached: up to SHMQ_LR_SEGS_MAX segments and SHMQ_LR_CQS_MAX CQ
 * files; beyond that the least recently used mapping is dropped, and so are
 * segments that retention deleted (below the broker's min offset). A view's
 * pointers therefore stay valid until the reader is destroyed or that many
 * other segments were read through it; copy what you keep longer.
 */
#define SHMQ_LR_SEGS_MAX 16u
#define SHMQ_LR_CQS_MAX 64u

typedef struct shmq_logreader shmq_logreader_t;
/* @p c may be NULL: a reader fed only by shmq_logreader_add_*() (tests). */
int  shmq_logreader_create(shmq_client_t *c, shmq_logreader_t **out);
void shmq_logreader_destroy(shmq_logreader_t *lr);
/* next stored queue offset of (topic, queue) and the oldest one, fresh from
 * the broker (OPEN_CQ; GROUP_PROGRESS when no CQ file is known or it was
 * deleted). SHMQ_ENOTFOUND: no such topic/queue. */
int  shmq_logreader_queue_bounds(shmq_logreader_t *lr, const char *topic, uint32_t queue,
				 uint64_t *min, uint64_t *max);
/* CQ entry qo → commitlog offset + size; SHMQ_ENOTFOUND past the end
 * (re-asks the broker for a fresher max at most once per call);
 * SHMQ_ESTALE below the oldest kept; SHMQ_ECORRUPT for an entry that cannot
 * be real. Maps files lazily and caches them. */
int  shmq_logreader_cq_get(shmq_logreader_t *lr, const char *topic, uint32_t queue, uint64_t qo,
			   uint64_t *cl_offset, uint32_t *size);
/* decode the record at cl_offset (CRC checked) into v (v->pin_ is NULL: no
 * release needed); SHMQ_ENOTFOUND (no record there: end of the log or a
 * segment's filler); SHMQ_ESTALE (deleted); SHMQ_ECRC; SHMQ_ECORRUPT. */
int  shmq_logreader_read(shmq_logreader_t *lr, uint64_t cl_offset, struct shmq_store_view *v);
/* flushed offset of the commitlog as last learned (OPEN_SEGMENT / STATUS
 * answers); @p refresh asks the broker (STATUS) first. */
uint64_t shmq_logreader_flushed(shmq_logreader_t *lr, bool refresh);

/* The entry points the OPEN_SEGMENT / OPEN_CQ answers go through; tests feed
 * them fds of store files opened directly. The fd stays the caller's (it is
 * duplicated where kept). @p r is validated (invariants of ctl_layout.h). */
int shmq_logreader_add_segment(shmq_logreader_t *lr, int fd, const struct shmq_ctl_open_segment_resp *r);
int shmq_logreader_add_cq(shmq_logreader_t *lr, const char *topic, uint32_t queue, int fd,
			  const struct shmq_ctl_open_cq_resp *r);

/* ------------------------------------------------------------------ */
/* Messages (msg.c)                                                    */

/* msg_view.priv_kind_ values. */
enum {
	SHMQ_MSG_PROPS_NONE = 0,
	SHMQ_MSG_PROPS_RING = 1,  /* priv_[0]: nprops x (key NUL value NUL), priv_len_ bytes */
	SHMQ_MSG_PROPS_STORE = 2, /* priv_[0]: commitlog_layout.h properties, priv_len_ bytes */
};

/*
 * Fill a public view from a store view, zero copy: body and the properties
 * (kind STORE, so shmq_msg_prop() sees them) point into the store view's
 * bytes. topic, keys and tags are NOT NUL-terminated in the store, so they
 * are left NULL here: the caller sets out->topic to its own NUL-terminated
 * buffer, and uses shmq_view_from_store_copy() when it needs keys/tags.
 * msg_id and store_offset come from the record's commitlog offset.
 */
void shmq_view_from_store(const struct shmq_store_view *sv, uint32_t broker_id, struct shmq_msg_view *out);

/*
 * Same, but copying everything into @p buf (@p cap bytes): body, topic, keys,
 * tags as NUL-terminated strings, properties converted to kind RING. The view
 * then depends on @p buf only.
 * @return the bytes needed; if larger than @p cap nothing was written.
 */
size_t shmq_view_from_store_copy(const struct shmq_store_view *sv, uint32_t broker_id, void *buf,
				 size_t cap, struct shmq_msg_view *out);

struct shmq_ringmsg_view;
/*
 * Fill the message fields of a public view from a decoded ring message, zero
 * copy (body, keys, tags and properties point into @p rv's bytes; kind RING).
 * topic, queue and the offsets are the caller's.
 */
void shmq_view_from_ringmsg(const struct shmq_ringmsg_view *rv, struct shmq_msg_view *out);

/* ------------------------------------------------------------------ */
/* Producer internals (producer.c), exposed for tests                  */

/* The stable 32-bit hash behind SHMQ_SELECT_HASH (FNV-1a 64, folded): the
 * same key picks the same queue in every process and every release. */
uint32_t shmq_select_hash(const void *key, size_t len);
/* The queue the producer's selector picks for @p m (< queues). */
uint32_t shmq_select_queue(enum shmq_select sel, shmq_selector_fn fn, void *arg, _Atomic uint32_t *rr,
			   const struct shmq_message *m, uint32_t queues);

#endif
