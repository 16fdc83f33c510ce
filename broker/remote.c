/* SPDX-License-Identifier: Apache-2.0 */
/* shmqd's remote port: one thread serving the network protocol. Contract and
 * semantics (R1..R5) in broker/remote.h; wire format in docs/protocol.md. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "broker/log.h"
#include "broker/remote.h"
#include "broker/remote_backend.h"
#include "broker/server_int.h"
#include "broker/store/commitlog_layout.h"
#include "common/clock.h"
#include "common/errbuf.h"
#include "common/offsets.h"
#include "common/ringmsg.h"
#include "dpdk_net/endpoint.h"
#include "dpdk_net/frame_codec.h"
#include "dpdk_net/reliable.h"
/* shmq/shmq.h: SHMQ_OFFSET_UNKNOWN (its struct names clash with broker/topics.h) */
#define SHMQ_OFFSET_UNKNOWN UINT64_MAX

#define COMP "remote"
#define IDENT_CACHE 64u
/* How long one wait may last. A datagram ends a receive at once; what a
 * pending answer waits for (the persister's PERSISTED mark, which it raises
 * after storing) cannot: the backend has no descriptor or wake hook to
 * sleep on beside the socket. So while answers are pending the thread waits
 * in slices that start at WAIT_MIN_NS after any progress (a datagram, an
 * answer) and double up to a cap:
 *  - a produce written and not persisted: after an empty non-blocking
 *    receive, the slice is spent in shmq_ring_wait_mark() on the oldest such
 *    produce's ring (the persister's publish wakes it through the ring's
 *    futex), so the answer leaves as soon as the mark passes; a datagram
 *    arriving meanwhile waits at most one slice (WAIT_PRODUCE_MAX_NS);
 *  - only long polls: receive slices up to WAIT_PULL_MAX_NS, the store
 *    looked at again only when a ring's PERSISTED mark moved (rm_pull).
 * The old fixed steps (a 50 us receive with produces pending, 1 ms with long
 * polls) added most of a persister round to each answer. */
#define WAIT_MIN_NS 4000ull
#define WAIT_PRODUCE_MAX_NS 50000ull  /* cap while produces wait for the persister */
#define WAIT_PULL_MAX_NS 1000000ull   /* cap while only long polls wait */
#define POLL_IDLE_NS 10000000ull
/* Without it the kernel's default 50 us timer slack stretches every short
 * receive timeout to ~55 us, defeating WAIT_MIN_NS. */
#define TIMER_SLACK_NS 1000ul
#define TICK_NS 100000000ull          /* leases, counters */
#define STATS_LOG_NS 60000000000ull
#define PRODUCE_WAIT_NS 2000000000ull /* longest wait for ring room */
#define PERSIST_WAIT_NS 30000000000ull/* longest wait for the persister */
#define MEMBERS_MAX 4096u              /* remote group members with a lease */
/* Long polls held at once, all sessions together: each is walked every round
 * of the net thread, and a session that is gone leaves its polls until their
 * deadline (up to a minute). Past it a PULL is answered at once (empty or
 * not), which a client takes as a short poll. */
#define PULLS_MAX 4096u
#define WAIT_BYTES_MAX (64u << 20)     /* request bodies kept for later; beyond: back-pressure */
#define SCRATCH_LEN (256u << 10)      /* NUL-terminated keys/tags/props of one message */
#define PROPS_MAX 16384u              /* a store property entry takes >= 4 bytes of 65535 */

/* ------------------------------------------------------------------ */
/* state                                                                */

struct rm_ident {
	char principal[SHMQ_NET_PRINCIPAL_LEN];
	uid_t uid;
	gid_t gid;
};

enum rp_state { RP_WAIT, RP_INFLIGHT };

/* A PRODUCE not answered yet: waiting for its turn or for ring room
 * (RP_WAIT, owns a copy of the request body), or written and waiting for
 * the persister (RP_INFLIGHT). */
struct rm_produce {
	struct rm_produce *next;
	enum rp_state state;
	uint64_t session_id, request_id;
	shmq_ring_t *ring;
	uint32_t queue;                /* resolved (QUEUE_ANY) */
	uint32_t nqueues;              /* the topic's queue count */
	uint64_t stream;
	uint64_t owner;                /* hash of the principal: the stream is its (idem claim) */
	struct shmq_net_produce_hdr h;
	uint8_t *body;                 /* RP_WAIT: the request body */
	uint32_t len;
	uint32_t dups;                 /* RP_INFLIGHT: leading messages already stored */
	struct shmq_ring_batch batch;  /* RP_INFLIGHT */
	uint64_t deadline_ns;
	/* RP_INFLIGHT: where each message's payload starts in the batch record,
	 * taken at reserve from our own lengths: once committed, the record's
	 * inner headers are shared memory that a local producer (or the ring's
	 * next lap, after the persister consumed it) may have overwritten, so
	 * they are never walked again. UINT32_MAX = unknown. */
	uint32_t *off;
	/* PERSISTED reached: the results, read once from the ring (a DURABLE
	 * produce then waits for the flush without touching the record). */
	bool collected;
	int status;                    /* of the collected results */
	uint64_t store_end;            /* the store's end when collected */
	struct shmq_net_produce_result *res;
};

/* A long-polling PULL (offset already resolved). The store only grows by
 * the persister, which raises the ring's PERSISTED mark after each store
 * write (persister.h P3): the store is looked at again only when that mark
 * moved past @c mark (read before the last look), or without a ring at
 * every WAIT_PULL_MAX_NS. */
struct rm_pull {
	struct rm_pull *next;
	uint64_t session_id, request_id;
	struct shmq_net_pull p;
	shmq_ring_t *ring;             /* NULL: the queue's ring is not open */
	uint64_t mark;
	uint64_t deadline_ns;
};

struct rm_member {
	struct rm_member *next;
	uint64_t id;
	char group[SHMQ_NET_NAME_LEN];
	char topic[SHMQ_NET_NAME_LEN];
	char principal[SHMQ_NET_PRINCIPAL_LEN];
	uint32_t lease_ms;
	uint64_t expiry_ns;
	struct shmq_offsets_map map;
};

struct shmq_remote {
	struct shmq_server *srv;
	const struct shmq_broker_config *cfg;
	struct shmq_net_backend *be;
	struct shmq_net_auth *auth;
	struct shmq_net_server *ns;
	struct shmq_net_idem *idem;
	pthread_t thread;
	bool started;
	_Atomic bool stop;

	struct rm_produce *produces, **produces_tail;
	size_t wait_bytes;             /* bodies held by RP_WAIT produces */
	struct rm_pull *pulls;
	uint32_t npulls;               /* in pulls; at PULLS_MAX a PULL is answered at once */
	uint64_t backoff_ns;           /* next receive wait while answers are pending */
	struct rm_member *members;
	struct rm_ident ident[IDENT_CACHE];
	unsigned nident;
	uint32_t ring_pid;

	uint8_t *out;                  /* SHMQ_NET_MSG_MAX: deferred answers */
	char *scratch;                 /* SCRATCH_LEN */
	struct shmq_ringmsg_prop *props; /* PROPS_MAX */
	struct shmq_group_assign assign;
	struct shmq_ctl_progress_entry progress[SHMQ_CTL_QUEUES_MAX];

	struct shmq_remote_stats st;   /* net thread */
	pthread_mutex_t st_mu;
	struct shmq_remote_stats pub;  /* copy under st_mu for other threads */
	uint64_t last_tick_ns, last_log_ns;
	struct shmq_remote_stats logged;
};

/* ------------------------------------------------------------------ */
/* helpers                                                              */

/* The idem table's stream of a topic (FNV-1a of its name): a producer
 * numbers its messages per topic, whatever queue each batch goes to. */
static uint64_t stream_of(const char *topic)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *p = topic; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 1099511628211ull;
	}
	return h;
}

static uint32_t pad8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

/* R1: the principal's (uid, gid), cached (getpwnam reads files). */
static void ident_of(struct shmq_remote *r, const char *principal, uid_t *uid, gid_t *gid)
{
	for (unsigned i = 0; i < r->nident; i++)
		if (strcmp(r->ident[i].principal, principal) == 0) {
			*uid = r->ident[i].uid;
			*gid = r->ident[i].gid;
			return;
		}
	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	struct passwd pw, *res = NULL;
	char buf[1024];
	if (getpwnam_r(principal, &pw, buf, sizeof(buf), &res) == 0 && res && pw.pw_uid != 0 &&
	    pw.pw_uid != geteuid()) {
		*uid = pw.pw_uid;
		*gid = pw.pw_gid;
	}
	if (r->nident == IDENT_CACHE)
		r->nident = 0; /* a full cache starts over: principals are few */
	struct rm_ident *e = &r->ident[r->nident++];
	snprintf(e->principal, sizeof(e->principal), "%s", principal);
	e->uid = *uid;
	e->gid = *gid;
}

/* Under the server lock. */
static int acl_check(struct shmq_remote *r, const struct shmq_net_request *req, const char *topic,
		     unsigned right)
{
	uid_t uid;
	gid_t gid;
	ident_of(r, req->principal, &uid, &gid);
	int rc = shmq_acl_check(r->srv->acl, uid, gid, topic, right);
	if (rc == -EACCES)
		shmq_log_info(COMP, "principal '%s' refused %s on '%s'", req->principal,
			      right == SHMQ_ACL_PRODUCE ? "produce" : "consume", topic);
	return rc;
}

/* Under the server lock: the topic's queue count, auto-creating it (and
 * opening its rings) as the control server does for local clients. */
static int topic_queues(struct shmq_remote *r, const char *topic, bool create, uint32_t *queues)
{
	struct shmq_server *s = r->srv;
	struct shmq_topic_info ti;
	int rc = shmq_topics_lookup(s->topics, topic, &ti);
	if (rc == SHMQ_ENOTFOUND && create && s->cfg->auto_create_topics) {
		rc = shmq_topics_get_or_create(s->topics, topic, (uint32_t)s->cfg->default_queues, &ti);
		if (rc == 1)
			shmq_log_info(COMP, "topic '%s' auto-created with %u queues", topic, ti.queues);
	}
	if (rc < 0)
		return rc;
	*queues = ti.queues;
	return 0;
}

/* Under the server lock. */
static int ring_of(struct shmq_remote *r, const char *topic, uint32_t queue, shmq_ring_t **ring)
{
	*ring = shmq_queues_get(r->srv->queues, topic, queue);
	if (*ring)
		return 0;
	struct shmq_topic_info ti;
	int rc = shmq_topics_lookup(r->srv->topics, topic, &ti);
	if (rc < 0)
		return rc;
	rc = shmq_queues_open_topic(r->srv->queues, topic, ti.queues);
	if (rc < 0)
		return rc;
	*ring = shmq_queues_get(r->srv->queues, topic, queue);
	return *ring ? 0 : -EIO;
}

static void lock(struct shmq_remote *r)
{
	pthread_mutex_lock(&r->srv->lock);
}

static void unlock(struct shmq_remote *r)
{
	pthread_mutex_unlock(&r->srv->lock);
}

static void reply(struct shmq_remote *r, uint64_t session, uint64_t request, uint16_t type, const void *body,
		  uint32_t len)
{
	int rc = shmq_net_server_reply(r->ns, session, request, type, body, len);
	if (rc < 0 && rc != SHMQ_EAUTH) /* SHMQ_EAUTH: the session is gone, nobody to tell */
		shmq_log_warn(COMP, "answer to request %" PRIu64 " of session %" PRIx64 ": %s", request, session,
			      shmq_strerror(rc));
}

/* ------------------------------------------------------------------ */
/* PRODUCE (R2)                                                         */

static uint32_t produce_ack(uint8_t *buf, const struct rm_produce *p, int status, uint64_t next_seq)
{
	struct shmq_net_produce_ack_hdr a = {
		.status = status,
		.count = status == 0 ? p->h.count : 0,
		.first_seq = p->h.first_seq,
		.next_seq = next_seq,
		.queue = p->queue,
		.queues = status == 0 ? p->nqueues : 0, /* tells a QUEUE_ANY producer the count */
	};
	memcpy(buf, &a, sizeof(a));
	return sizeof(a);
}

/* Result i of an answer being built (after the header). */
static void produce_result(uint8_t *buf, uint32_t i, uint64_t qo, uint64_t so)
{
	struct shmq_net_produce_result res = { .queue_offset = qo, .store_offset = so };
	memcpy(buf + sizeof(struct shmq_net_produce_ack_hdr) + (size_t)i * sizeof(res), &res, sizeof(res));
}

static void produce_dups_fill(struct shmq_remote *r, const struct rm_produce *p, uint8_t *buf, uint32_t dups)
{
	for (uint32_t i = 0; i < dups; i++) {
		uint64_t qo, so;
		if (shmq_net_idem_lookup(r->idem, p->h.producer_id, p->stream, p->h.first_seq + i, &qo, &so) < 0)
			qo = so = SHMQ_OFFSET_UNKNOWN;
		produce_result(buf, i, qo, so);
	}
	r->st.produce_dups += dups;
}

static int produce_write(struct shmq_remote *r, struct rm_produce *p, const uint8_t *body, uint32_t blen,
			 uint32_t dups, uint8_t *buf, uint32_t *len);
static bool produce_answer(struct shmq_remote *r, struct rm_produce *p, uint8_t *buf, uint32_t *len_out);
static bool produce_blocked(const struct shmq_remote *r, const struct rm_produce *p);

/*
 * Run a produce whose turn it is, from @p body. Returns 1 with the answer in
 * @p buf (*len) (a refusal, all duplicates, or a RING-level batch just
 * written), 0 if it is now RP_INFLIGHT, or SHMQ_BACK_PRESSURED (no ring
 * room: stays RP_WAIT).
 */
static int produce_exec(struct shmq_remote *r, struct rm_produce *p, const uint8_t *body, uint32_t blen,
			uint8_t *buf, uint32_t *len)
{
	uint32_t dups = 0;
	uint64_t next = 0;
	if (shmq_net_idem_claim(r->idem, p->h.producer_id, p->stream, p->owner) < 0) {
		shmq_log_warn(COMP, "producer %" PRIx64 " on '%s' belongs to another principal: refused",
			      p->h.producer_id, p->h.topic);
		*len = produce_ack(buf, p, -EACCES, p->h.first_seq);
		return 1;
	}
	int rc = shmq_net_idem_check(r->idem, p->h.producer_id, p->stream, p->h.first_seq, p->h.count, &dups,
				     &next);
	if (rc == SHMQ_ESEQGAP) {
		*len = produce_ack(buf, p, rc, next);
		return 1;
	}
	if (rc < 0) {
		*len = produce_ack(buf, p, rc, next);
		return 1;
	}
	if (dups == p->h.count) {
		*len = produce_ack(buf, p, 0, p->h.first_seq + p->h.count);
		produce_dups_fill(r, p, buf, dups);
		*len += p->h.count * (uint32_t)sizeof(struct shmq_net_produce_result);
		return 1;
	}
	return produce_write(r, p, body, blen, dups, buf, len);
}

/* Write messages [dups, count) of the batch into the ring; returns as
 * produce_exec(). */
static int produce_write(struct shmq_remote *r, struct rm_produce *p, const uint8_t *body, uint32_t blen,
			 uint32_t dups, uint8_t *buf, uint32_t *len)
{
	int rc;
	struct shmq_net_entry_iter it;
	struct shmq_net_produce_hdr h;
	uint32_t lens[SHMQ_NET_BATCH_MAX];
	const uint8_t *src[SHMQ_NET_BATCH_MAX];
	if (shmq_net_entries_begin(body, blen, &h, sizeof(h), &it) < 0)
		return -EBADMSG;
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->h.count; i++) {
		uint64_t qo;
		struct shmq_ringmsg_view v;
		const uint8_t *at = it.p;
		if (shmq_net_entry_next(&it, &qo, &v) != 1)
			return -EBADMSG;
		struct shmq_net_entry e;
		memcpy(&e, at, sizeof(e));
		if (e.len > r->cfg->max_message_size) {
			*len = produce_ack(buf, p, SHMQ_ETOOBIG, p->h.first_seq + dups);
			return 1;
		}
		if (i >= dups) {
			lens[n] = e.len;
			src[n] = at + sizeof(e);
			n++;
		}
	}
	if (!p->off) {
		p->off = malloc(p->h.count * sizeof(*p->off)); /* n only shrinks on a retry */
		p->res = malloc(p->h.count * sizeof(*p->res));
		if (!p->off || !p->res) {
			*len = produce_ack(buf, p, -ENOMEM, p->h.first_seq + dups);
			return 1;
		}
	}
	struct shmq_ring_batch b;
	rc = shmq_ring_batch_reserve(p->ring, r->ring_pid, SHMQ_RING_TYPE_USER, n, lens, &b);
	if (rc == SHMQ_BACK_PRESSURED)
		return rc;
	if (rc < 0) {
		*len = produce_ack(buf, p, rc, p->h.first_seq + dups);
		return 1;
	}
	for (uint32_t i = 0; i < n; i++) {
		/* our own inner headers, just written and not yet committed */
		void *d = shmq_ring_batch_data(&b, i);
		if (!d) { /* overwritten under us by a hostile local producer */
			p->off[i] = UINT32_MAX;
			continue;
		}
		p->off[i] = (uint32_t)((uint8_t *)d - (uint8_t *)b.base);
		memcpy(d, src[i], lens[i]);
		/* the persister writes them; whatever the client sent is not an offset */
		shmq_ringmsg_result_set(d, SHMQ_RINGMSG_RESULT_NONE, SHMQ_RINGMSG_RESULT_NONE);
		uint32_t fl;
		memcpy(&fl, (uint8_t *)d + offsetof(struct shmq_ringmsg_hdr, flags), sizeof(fl));
		fl |= SHMQ_RINGMSG_F_REMOTE; /* found by idem_restore() after a restart */
		memcpy((uint8_t *)d + offsetof(struct shmq_ringmsg_hdr, flags), &fl, sizeof(fl));
	}
	rc = shmq_ring_batch_commit(p->ring, &b);
	if (rc < 0) { /* padded out (G6): nothing was stored, the client may resend */
		*len = produce_ack(buf, p, rc, p->h.first_seq + dups);
		return 1;
	}
	r->st.produced += n;
	p->dups = dups;
	p->batch = b;
	p->state = RP_INFLIGHT;
	p->deadline_ns = shmq_now_ns() + PERSIST_WAIT_NS;
	/* the answer (or a consumer's long poll) waits for PERSISTED: no
	 * reason to wait for the persister's next poll as well */
	shmq_persister_kick(r->srv->persister);
	/* RING: acknowledged now, as a local SHMQ_DELIVERY_RING send returns at
	 * its commit (unless an earlier batch of its stream is unanswered:
	 * answers of a stream leave in sequence order) */
	if (p->h.delivery == SHMQ_NET_DELIVERY_RING && !produce_blocked(r, p)) {
		(void)produce_answer(r, p, buf, len);
		return 1;
	}
	return 0;
}

/* PERSISTED passed @p p's record: read the result words the persister
 * wrote there, once. */
static void produce_collect(struct shmq_remote *r, struct rm_produce *p)
{
	uint32_t n = p->batch.count;
	p->status = 0;
	p->store_end = shmq_store_max_offset(r->srv->store);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t so = SHMQ_OFFSET_UNKNOWN, qo = SHMQ_OFFSET_UNKNOWN;
		if (p->off[i] != UINT32_MAX) {
			shmq_ringmsg_result_get((uint8_t *)p->batch.base + p->off[i], &so, &qo);
			if (so == SHMQ_RINGMSG_RESULT_NONE || qo == SHMQ_RINGMSG_RESULT_NONE)
				p->status = -EIO; /* refused by the store (logged by the persister) */
		}
		p->res[i] = (struct shmq_net_produce_result){ .queue_offset = qo, .store_offset = so };
	}
	/* G5: the words were read from a live ring; trust them (the -EIO too)
	 * only if the record was not reclaimed meanwhile. A reclaimed record
	 * was consumed past PERSISTED: stored, offsets unknown. */
	if (shmq_ring_read_check(p->ring, p->batch.pos) != 0) {
		p->status = 0;
		for (uint32_t i = 0; i < n; i++)
			p->res[i] = (struct shmq_net_produce_result){ SHMQ_OFFSET_UNKNOWN, SHMQ_OFFSET_UNKNOWN };
	}
	p->collected = true;
}

/* An RP_INFLIGHT produce: build its answer into @p buf (*len) once its
 * record reached the level the PRODUCE asked for (RING: at once).
 * @return true when answered. */
static bool produce_answer(struct shmq_remote *r, struct rm_produce *p, uint8_t *buf, uint32_t *len_out)
{
	bool ring_level = p->h.delivery == SHMQ_NET_DELIVERY_RING;
	/* acquire inside shmq_ring_mark(): pairs with the persister's release
	 * publish, which follows its result-word stores (persister.h P3) */
	if (!ring_level && !p->collected && shmq_ring_mark(p->ring, SHMQ_RING_MARK_PERSISTED) > p->batch.pos)
		produce_collect(r, p);
	bool reached = ring_level || p->collected;
	if (reached && p->status == 0 && p->h.delivery == SHMQ_NET_DELIVERY_DURABLE)
		/* the ring's FLUSHED mark, or (a ring fenced after the store took
		 * the batch gets no more marks) the store flushed past its end */
		reached = shmq_ring_mark(p->ring, SHMQ_RING_MARK_FLUSHED) > p->batch.pos ||
			  shmq_store_flushed_offset(r->srv->store) >= p->store_end;
	bool fenced = !reached && !p->collected && shmq_persister_ring_fenced(r->srv->persister, p->ring);
	bool late = !reached && shmq_now_ns() >= p->deadline_ns;
	if (!reached && !fenced && !late)
		return false;
	uint32_t n = p->batch.count;
	int status = fenced ? SHMQ_EFENCED : late ? -ETIMEDOUT : p->collected ? p->status : 0;
	if (status == 0 && ring_level) {
		/* not stored yet: offsets unknown, as for a local RING send */
		for (uint32_t i = 0; i < n; i++)
			produce_result(buf, p->dups + i, SHMQ_OFFSET_UNKNOWN, SHMQ_OFFSET_UNKNOWN);
	} else if (status == 0) {
		for (uint32_t i = 0; i < n; i++)
			produce_result(buf, p->dups + i, p->res[i].queue_offset, p->res[i].store_offset);
	}
	uint32_t len;
	if (status == 0) {
		/* record first (the next batch of this producer checks against it) */
		for (uint32_t i = 0; i < n; i++) {
			struct shmq_net_produce_result res;
			memcpy(&res, buf + sizeof(struct shmq_net_produce_ack_hdr) +
					     (size_t)(p->dups + i) * sizeof(res), sizeof(res));
			int rc = shmq_net_idem_record(r->idem, p->h.producer_id, p->stream,
						      p->h.first_seq + p->dups + i, res.queue_offset,
						      res.store_offset);
			if (i == 0) /* a new stream is its producer's from its first batch on */
				(void)shmq_net_idem_claim(r->idem, p->h.producer_id, p->stream, p->owner);
			if (rc < 0)
				shmq_log_warn(COMP, "producer %" PRIx64 " seq %" PRIu64 ": not recorded: %s",
					      p->h.producer_id, p->h.first_seq + p->dups + i, shmq_strerror(rc));
		}
		len = produce_ack(buf, p, 0, p->h.first_seq + p->h.count);
		produce_dups_fill(r, p, buf, p->dups);
		len += p->h.count * (uint32_t)sizeof(struct shmq_net_produce_result);
	} else {
		/* nothing recorded: a resend writes the batch again (the store
		 * kept none of it, or we cannot tell which: -ETIMEDOUT) */
		r->st.errors++;
		len = produce_ack(buf, p, status, p->h.first_seq + p->dups);
	}
	*len_out = len;
	return true;
}

/* produce_answer(), sent. */
static bool produce_complete(struct shmq_remote *r, struct rm_produce *p)
{
	uint32_t len = 0;
	if (!produce_answer(r, p, r->out, &len))
		return false;
	reply(r, p->session_id, p->request_id, SHMQ_NET_PRODUCE_ACK, r->out, len);
	return true;
}

static bool same_stream(const struct rm_produce *a, const struct rm_produce *b)
{
	return a->h.producer_id == b->h.producer_id && a->stream == b->stream;
}

/* Is an earlier produce of @p p's stream pending (before @p p in the list,
 * or anywhere when @p p is not in it)? */
static bool produce_blocked(const struct shmq_remote *r, const struct rm_produce *p)
{
	for (const struct rm_produce *q = r->produces; q && q != p; q = q->next)
		if (same_stream(q, p))
			return true;
	return false;
}

/* Pipelining: may @p p (not in the list yet) be written right behind the
 * produces of its stream still pending? Only if all of them are written
 * (RP_INFLIGHT) and it starts exactly where the last one ends: it is then new
 * by construction, and the answers are recorded in sequence order. */
static bool produce_follows(const struct shmq_remote *r, const struct rm_produce *p)
{
	const struct rm_produce *last = NULL;
	for (const struct rm_produce *q = r->produces; q; q = q->next) {
		if (!same_stream(q, p))
			continue;
		if (q->state != RP_INFLIGHT)
			return false;
		last = q;
	}
	return last && last->h.first_seq + last->h.count == p->h.first_seq;
}

static void produce_free(struct rm_produce *p)
{
	if (p) {
		free(p->off);
		free(p->res);
		free(p->body);
		free(p);
	}
}

/* Walk the pending produces in arrival order: complete, run or expire.
 * @return whether any was answered. */
static bool produces_service(struct shmq_remote *r)
{
	bool answered = false;
	struct rm_produce **pp = &r->produces;
	while (*pp) {
		struct rm_produce *p = *pp;
		bool done = false;
		if (p->state == RP_INFLIGHT) {
			/* in sequence order: the idem table records a stream in order */
			if (!produce_blocked(r, p))
				done = produce_complete(r, p);
		} else if (!produce_blocked(r, p)) {
			uint32_t len = 0;
			int rc = produce_exec(r, p, p->body, p->len, r->out, &len);
			if (rc == SHMQ_BACK_PRESSURED && shmq_now_ns() >= p->deadline_ns) {
				len = produce_ack(r->out, p, rc, p->h.first_seq);
				rc = 1;
			}
			if (rc == 1 || rc < 0) {
				if (rc < 0 && rc != SHMQ_BACK_PRESSURED) {
					struct shmq_net_error e;
					shmq_net_error_init(&e, rc, "produce failed");
					reply(r, p->session_id, p->request_id, SHMQ_NET_ERROR, &e, sizeof(e));
					done = true;
				} else if (rc == 1) {
					reply(r, p->session_id, p->request_id, SHMQ_NET_PRODUCE_ACK, r->out, len);
					done = true;
				}
			}
			if (p->state == RP_INFLIGHT) {
				free(p->body); /* the ring holds the messages now */
				p->body = NULL;
				r->wait_bytes -= p->len;
			}
		}
		if (done) {
			*pp = p->next;
			if (r->produces_tail == &p->next)
				r->produces_tail = pp;
			if (p->body)
				r->wait_bytes -= p->len;
			produce_free(p);
			answered = true;
		} else {
			pp = &p->next;
		}
	}
	return answered;
}

/* The mark the oldest written, unanswered produce waits for (its ring and
 * the position just past its record). @return false if there is none. */
static bool produce_waited(const struct shmq_remote *r, shmq_ring_t **ring, uint64_t *pos,
			   enum shmq_ring_mark_kind *mark)
{
	for (const struct rm_produce *p = r->produces; p; p = p->next)
		if (p->state == RP_INFLIGHT) {
			*ring = p->ring;
			*pos = p->batch.pos + 1; /* reached: mark > pos (produce_answer) */
			*mark = p->h.delivery == SHMQ_NET_DELIVERY_DURABLE &&
					shmq_ring_mark(p->ring, SHMQ_RING_MARK_PERSISTED) > p->batch.pos
				? SHMQ_RING_MARK_FLUSHED : SHMQ_RING_MARK_PERSISTED;
			return true;
		}
	return false;
}

static void produce_append(struct shmq_remote *r, struct rm_produce *p)
{
	p->next = NULL;
	*r->produces_tail = p;
	r->produces_tail = &p->next;
}

static int h_produce(struct shmq_remote *r, const struct shmq_net_request *req, uint8_t *buf, uint32_t *len)
{
	struct rm_produce *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	memcpy(&p->h, req->body, sizeof(p->h));
	p->session_id = req->session_id;
	p->request_id = req->request_id;
	uint32_t queues = 0;
	lock(r);
	int rc = acl_check(r, req, p->h.topic, SHMQ_ACL_PRODUCE);
	if (rc == 0)
		rc = topic_queues(r, p->h.topic, true, &queues);
	if (rc == 0) {
		p->queue = p->h.queue == SHMQ_NET_QUEUE_ANY ? (uint32_t)(p->h.selector_hint % queues) : p->h.queue;
		rc = p->queue < queues ? ring_of(r, p->h.topic, p->queue, &p->ring) : -EINVAL;
	}
	unlock(r);
	if (rc < 0) {
		free(p);
		return rc;
	}
	p->nqueues = queues;
	p->stream = stream_of(p->h.topic);
	p->owner = stream_of(req->principal) | 1u; /* never 0 (0 = no check) */
	p->deadline_ns = shmq_now_ns() + PRODUCE_WAIT_NS;
	bool idle = !produce_blocked(r, p);
	if (idle || produce_follows(r, p)) {
		rc = idle ? produce_exec(r, p, req->body, req->len, buf, len)
			  : produce_write(r, p, req->body, req->len, 0, buf, len);
		if (rc == 1 || (rc < 0 && rc != SHMQ_BACK_PRESSURED)) {
			free(p);
			return rc == 1 ? 0 : rc;
		}
		if (rc == 0) {
			produce_append(r, p);
			return SHMQ_NET_DEFERRED;
		}
	}
	/* its turn comes later, or the ring is full: keep the request, within
	 * a budget (a peer must not make the broker hold unbounded memory) */
	if (r->wait_bytes + req->len > WAIT_BYTES_MAX) {
		*len = produce_ack(buf, p, SHMQ_BACK_PRESSURED, p->h.first_seq);
		free(p);
		return 0;
	}
	p->body = malloc(req->len);
	if (!p->body) {
		free(p);
		return -ENOMEM;
	}
	memcpy(p->body, req->body, req->len);
	p->len = req->len;
	r->wait_bytes += p->len;
	p->state = RP_WAIT;
	produce_append(r, p);
	return SHMQ_NET_DEFERRED;
}

/* ------------------------------------------------------------------ */
/* PULL (R3)                                                            */

/* A stored record as a ringmsg input: keys, tags and properties copied
 * NUL-terminated into the scratch area. @return 0 or SHMQ_ECORRUPT. */
static int view_to_in(struct shmq_remote *r, const struct shmq_store_view *v, struct shmq_ringmsg_in *in)
{
	char *s = r->scratch;
	size_t used = 0;
	memset(in, 0, sizeof(*in));
	in->flags = v->flags;
	in->reconsume_times = v->reconsume_times;
	in->born_ts_ms = v->born_ts_ms;
	in->born_host = v->born_host;
	in->producer_id = v->producer_id;
	in->producer_seq = v->producer_seq;
	in->body = v->body;
	in->body_len = v->body_len;
	const char *strs[2] = { v->keys, v->tags };
	uint32_t lens[2] = { v->keys_len, v->tags_len };
	const char **outs[2] = { &in->keys, &in->tags };
	for (int i = 0; i < 2; i++) {
		if (!strs[i] || !lens[i])
			continue;
		if (used + lens[i] + 1 > SCRATCH_LEN)
			return SHMQ_ECORRUPT;
		memcpy(s + used, strs[i], lens[i]);
		s[used + lens[i]] = '\0';
		*outs[i] = s + used;
		used += lens[i] + 1;
	}
	const uint8_t *p = v->props;
	uint32_t off = 0, n = 0;
	while (p && off < v->props_len) {
		if (v->props_len - off < SHMQ_CL_PROP_HDR)
			return SHMQ_ECORRUPT;
		uint32_t kl = p[off];
		uint16_t vl;
		memcpy(&vl, p + off + 1, 2);
		if (kl == 0 || v->props_len - off - SHMQ_CL_PROP_HDR < kl + (uint32_t)vl)
			return SHMQ_ECORRUPT;
		const char *k = (const char *)p + off + SHMQ_CL_PROP_HDR;
		off += SHMQ_CL_PROP_HDR + kl + vl;
		if (kl == 4 && (!memcmp(k, "KEYS", 4) || !memcmp(k, "TAGS", 4)))
			continue;
		if (n == PROPS_MAX || used + kl + vl + 2 > SCRATCH_LEN)
			return SHMQ_ECORRUPT;
		memcpy(s + used, k, kl);
		s[used + kl] = '\0';
		r->props[n].key = s + used;
		used += kl + 1;
		memcpy(s + used, k + kl, vl);
		s[used + vl] = '\0';
		r->props[n].value = s + used;
		used += (size_t)vl + 1;
		n++;
	}
	in->props = n ? r->props : NULL;
	in->nprops = n;
	return 0;
}

/* Build the PULL_RESP for @p p into @p buf (SHMQ_NET_MSG_MAX bytes). */
static uint32_t pull_build(struct shmq_remote *r, const struct shmq_net_pull *p, uint8_t *buf)
{
	shmq_store_t *store = r->srv->store;
	struct shmq_net_pull_resp_hdr h = { .queue = p->queue };
	uint64_t min = 0, max = 0;
	int rc = shmq_store_queue_offsets(store, p->topic, p->queue, &min, &max);
	if (rc < 0 && rc != SHMQ_ENOTFOUND) {
		h.status = rc;
		memcpy(buf, &h, sizeof(h));
		return sizeof(h);
	}
	/* Below the oldest: retention deleted them, start at the oldest. Beyond
	 * the next offset: nothing is read and next_offset stays the requested
	 * one; lowering it to the next offset would hand a consumer whose store
	 * view is ahead (or a broker that lost its tail) messages it already
	 * passed. */
	uint64_t off = p->offset < min ? min : p->offset;
	/* DURABLE visibility: only what the commitlog flushed (a queue's
	 * records lie in commitlog order, so the first one past it ends it) */
	bool durable = p->visibility == SHMQ_NET_VISIBLE_DURABLE;
	uint64_t flushed = durable ? shmq_store_flushed_offset(store) : UINT64_MAX;
	struct shmq_net_builder b;
	shmq_net_builder_init(&b, buf, SHMQ_NET_MSG_MAX);
	shmq_net_builder_put(&b, &h, sizeof(h));
	uint32_t count = 0;
	int status = 0;
	while (count < p->max_msgs && off < max) {
		struct shmq_store_view v;
		rc = shmq_store_read_queue(store, p->topic, p->queue, off, &v);
		if (rc == SHMQ_ESTALE) { /* retention passed us: skip to what is left */
			uint64_t nmin = min;
			if (shmq_store_queue_offsets(store, p->topic, p->queue, &nmin, &max) < 0 || nmin <= off)
				break;
			off = nmin;
			continue;
		}
		if (rc < 0) {
			if (count == 0 && rc != SHMQ_ENOTFOUND)
				status = rc;
			break;
		}
		if (v.commitlog_offset + v.size > flushed) {
			shmq_store_view_release(store, &v);
			break;
		}
		struct shmq_ringmsg_in in;
		int64_t sz = -1;
		if (view_to_in(r, &v, &in) == 0)
			sz = shmq_ringmsg_size(&in);
		if (sz < 0) {
			shmq_store_view_release(store, &v);
			if (count == 0)
				status = SHMQ_ECORRUPT;
			break;
		}
		uint64_t entry = sizeof(struct shmq_net_entry) + pad8((uint32_t)sz);
		if ((count > 0 && b.len + entry > (uint64_t)p->max_bytes + sizeof(h)) ||
		    b.len + entry > SHMQ_NET_MSG_MAX) {
			shmq_store_view_release(store, &v);
			if (count == 0)
				status = SHMQ_ETOOBIG; /* one message larger than any answer */
			break;
		}
		size_t at = b.len + sizeof(struct shmq_net_entry);
		shmq_net_builder_msg(&b, off, &in);
		if (b.err == 0) /* the offsets, as a local consumer reads them from the ring */
			shmq_ringmsg_result_set(buf + at, v.commitlog_offset, off);
		shmq_store_view_release(store, &v);
		if (b.err)
			break;
		count++;
		off++;
	}
	if (b.err || status) {
		h.status = b.err ? b.err : status;
		memcpy(buf, &h, sizeof(h));
		return sizeof(h);
	}
	h.count = count;
	h.next_offset = off;
	/* the queue's next offset; the codec wants next_offset <= max_offset,
	 * so an answer beyond the end reports its own next_offset */
	h.max_offset = max > off ? max : off;
	memcpy(buf, &h, sizeof(h));
	r->st.pulled += count;
	return (uint32_t)b.len;
}

static bool pull_has_data(struct shmq_remote *r, const struct shmq_net_pull *p)
{
	shmq_store_t *store = r->srv->store;
	uint64_t min = 0, max = 0;
	if (shmq_store_queue_offsets(store, p->topic, p->queue, &min, &max) < 0)
		return false;
	/* beyond the next offset is not data: the pull waits until the message
	 * at its offset is stored (or its timeout) */
	if (max <= p->offset)
		return false;
	if (p->visibility != SHMQ_NET_VISIBLE_DURABLE || p->offset < min)
		return true;
	/* DURABLE: ... and flushed */
	struct shmq_store_view v;
	if (shmq_store_read_queue(store, p->topic, p->queue, p->offset, &v) < 0)
		return true; /* let the answer say what is wrong */
	bool flushed = v.commitlog_offset + v.size <= shmq_store_flushed_offset(store);
	shmq_store_view_release(store, &v);
	return flushed;
}

static int h_pull(struct shmq_remote *r, const struct shmq_net_request *req, uint8_t *buf, uint32_t *len)
{
	struct shmq_net_pull p;
	memcpy(&p, req->body, sizeof(p));
	uint32_t queues = 0;
	lock(r);
	int rc = acl_check(r, req, p.topic, SHMQ_ACL_CONSUME);
	if (rc == 0)
		rc = topic_queues(r, p.topic, false, &queues);
	if (rc == 0 && p.queue >= queues)
		rc = -EINVAL;
	if (rc == 0 && p.offset == SHMQ_NET_OFFSET_COMMITTED) {
		struct shmq_ctl_progress_resp_hdr ph;
		rc = shmq_groups_progress(r->srv->groups, p.group, p.topic, queues, r->progress, &ph);
		p.offset = rc == 0 ? r->progress[p.queue].committed : 0;
		if (p.offset == SHMQ_OFFSETS_NONE)
			p.offset = 0; /* clamped to the oldest stored */
	}
	/* rings live until the broker stops (broker/queues.h): the pointer may
	 * be kept by a waiting pull */
	shmq_ring_t *ring = rc == 0 && p.timeout_ms > 0 ? shmq_queues_get(r->srv->queues, p.topic, p.queue) : NULL;
	unlock(r);
	if (rc < 0)
		return rc;
	/* the mark is read before the store is: a store write this look misses
	 * is followed by a mark above it (see struct rm_pull) */
	uint64_t mark = ring ? shmq_ring_mark(ring, SHMQ_RING_MARK_PERSISTED) : 0;
	if (p.timeout_ms > 0 && r->npulls < PULLS_MAX && !pull_has_data(r, &p)) {
		struct rm_pull *w = calloc(1, sizeof(*w));
		if (!w)
			return -ENOMEM;
		w->session_id = req->session_id;
		w->request_id = req->request_id;
		w->p = p;
		w->ring = ring;
		w->mark = mark;
		w->deadline_ns = shmq_now_ns() + (uint64_t)p.timeout_ms * 1000000ull;
		w->next = r->pulls;
		r->pulls = w;
		r->npulls++;
		return SHMQ_NET_DEFERRED;
	}
	*len = pull_build(r, &p, buf);
	return 0;
}

/* Answer the long polls whose data came or whose time ran out. @return
 * whether any was answered. */
static bool pulls_service(struct shmq_remote *r)
{
	uint64_t now = shmq_now_ns();
	bool answered = false;
	struct rm_pull **pp = &r->pulls;
	while (*pp) {
		struct rm_pull *w = *pp;
		bool look = true;
		/* a DURABLE pull looks every round: the flusher, not the
		 * persister's mark, says when its message is there */
		if (w->ring && w->p.visibility != SHMQ_NET_VISIBLE_DURABLE) {
			/* acquire inside shmq_ring_mark(): pairs with the persister's
			 * release publish, which follows its store write (P3) */
			uint64_t m = shmq_ring_mark(w->ring, SHMQ_RING_MARK_PERSISTED);
			look = m != w->mark;
			w->mark = m;
		}
		if (now >= w->deadline_ns || (look && pull_has_data(r, &w->p))) {
			uint32_t len = pull_build(r, &w->p, r->out);
			reply(r, w->session_id, w->request_id, SHMQ_NET_PULL_RESP, r->out, len);
			*pp = w->next;
			free(w);
			r->npulls--;
			answered = true;
		} else {
			pp = &w->next;
		}
	}
	return answered;
}

/* ------------------------------------------------------------------ */
/* COMMIT (R4), JOIN / HEARTBEAT (R5)                                   */

static int h_commit(struct shmq_remote *r, const struct shmq_net_request *req, uint8_t *buf, uint32_t *len)
{
	struct shmq_net_commit c;
	memcpy(&c, req->body, sizeof(c));
	lock(r);
	int rc = acl_check(r, req, c.topic, SHMQ_ACL_CONSUME);
	if (rc == 0)
		rc = shmq_groups_commit(r->srv->groups, c.group, c.topic, c.queue, c.offset);
	unlock(r);
	if (rc < 0)
		return rc;
	struct shmq_net_status st = { .status = 0 };
	memcpy(buf, &st, sizeof(st));
	*len = sizeof(st);
	return 0;
}

static struct rm_member *member_find(struct shmq_remote *r, uint64_t id)
{
	for (struct rm_member *m = r->members; m; m = m->next)
		if (m->id == id)
			return m;
	return NULL;
}

/* Under the server lock: release what was revoked from @p m (R5), then
 * write the JOIN_ACK of its assignment. */
static uint32_t member_ack(struct shmq_remote *r, struct rm_member *m, uint8_t *buf)
{
	struct shmq_group_assign *a = &r->assign;
	int rc = shmq_groups_sync(r->srv->groups, m->group, m->topic, m->id, a);
	bool released = false;
	for (uint32_t i = 0; rc == 0 && i < a->count; i++) {
		uint32_t q = a->queues[i];
		if (q >= m->map.queues)
			continue;
		/* acquire: pairs with groups.c's release store of revoke_gen
		 * (GR5); the value is ours to act on, not trusted beyond that */
		uint32_t rg = atomic_load_explicit(&m->map.slots[q].revoke_gen, memory_order_acquire);
		if (rg && shmq_groups_release(r->srv->groups, m->group, m->topic, q, rg, m->id) == 0)
			released = true;
	}
	if (rc == 0 && released)
		rc = shmq_groups_sync(r->srv->groups, m->group, m->topic, m->id, a);
	struct shmq_net_join_ack_hdr h = { .status = rc };
	if (rc == 0) {
		h.generation = a->generation;
		h.member_id = m->id;
		h.lease_ms = m->lease_ms;
		h.queues = a->nqueues;
		for (uint32_t i = 0; i < a->count; i++) {
			uint32_t q = a->queues[i];
			/* relaxed is enough: a revoke racing this ack is released at the
			 * next heartbeat; omitting it only stops the member earlier */
			if (q < m->map.queues &&
			    atomic_load_explicit(&m->map.slots[q].revoke_gen, memory_order_relaxed) != 0)
				continue;
			memcpy(buf + sizeof(h) + (size_t)h.count * sizeof(uint32_t), &q, sizeof(q));
			h.count++;
		}
	}
	memcpy(buf, &h, sizeof(h));
	return (uint32_t)(sizeof(h) + (size_t)h.count * sizeof(uint32_t));
}

static void member_free(struct rm_member *m)
{
	if (m) {
		shmq_offsets_unmap(&m->map);
		free(m);
	}
}

static int h_join(struct shmq_remote *r, const struct shmq_net_request *req, uint8_t *buf, uint32_t *len)
{
	struct shmq_net_group g;
	memcpy(&g, req->body, sizeof(g));
	if (r->st.members >= MEMBERS_MAX)
		return -ENOSPC; /* leases free room; a peer cannot grow the table without bound */
	struct rm_member *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->map.fd = -1;
	memcpy(m->group, g.group, sizeof(m->group));
	memcpy(m->topic, g.topic, sizeof(m->topic));
	snprintf(m->principal, sizeof(m->principal), "%s", req->principal);
	m->lease_ms = g.lease_ms;
	do
		m->id = shmq_net_random_u64();
	while (member_find(r, m->id));
	uint32_t queues = 0;
	int fd = -1;
	lock(r);
	int rc = acl_check(r, req, g.topic, SHMQ_ACL_CONSUME);
	if (rc == 0)
		rc = topic_queues(r, g.topic, true, &queues);
	if (rc == 0)
		rc = shmq_groups_join(r->srv->groups, g.group, g.topic, queues, g.mode, m->id, &r->assign, &fd);
	if (rc == 0) {
		rc = shmq_offsets_attach_fd(fd, &m->map);
		close(fd);
		if (rc < 0)
			shmq_groups_leave(r->srv->groups, g.group, g.topic, m->id);
	}
	if (rc == 0)
		*len = member_ack(r, m, buf);
	unlock(r);
	if (rc < 0) {
		free(m);
		return rc;
	}
	m->expiry_ns = shmq_now_ns() + (uint64_t)m->lease_ms * 1000000ull;
	m->next = r->members;
	r->members = m;
	r->st.members++;
	shmq_log_info(COMP, "principal '%s' joined group '%s' on '%s' as remote member %" PRIx64 " (lease %u ms)",
		      req->principal, g.group, g.topic, m->id, m->lease_ms);
	return 0;
}

static int h_heartbeat(struct shmq_remote *r, const struct shmq_net_request *req, uint8_t *buf, uint32_t *len)
{
	struct shmq_net_group g;
	memcpy(&g, req->body, sizeof(g));
	struct rm_member *m = member_find(r, g.member_id);
	/* another principal's member id is as unknown as an expired one */
	if (!m || strcmp(m->principal, req->principal) != 0 || memcmp(m->group, g.group, sizeof(g.group)) != 0 ||
	    memcmp(m->topic, g.topic, sizeof(g.topic)) != 0)
		return SHMQ_ENOTFOUND;
	m->lease_ms = g.lease_ms;
	m->expiry_ns = shmq_now_ns() + (uint64_t)m->lease_ms * 1000000ull;
	lock(r);
	*len = member_ack(r, m, buf);
	unlock(r);
	return 0;
}

static void members_expire(struct shmq_remote *r, uint64_t now)
{
	struct rm_member **mp = &r->members;
	while (*mp) {
		struct rm_member *m = *mp;
		if (now < m->expiry_ns) {
			mp = &m->next;
			continue;
		}
		lock(r);
		shmq_groups_member_gone(r->srv->groups, m->id);
		unlock(r);
		shmq_log_info(COMP, "remote member %" PRIx64 " of group '%s' on '%s' (principal '%s'): lease expired",
			      m->id, m->group, m->topic, m->principal);
		*mp = m->next;
		member_free(m);
		r->st.members--;
		r->st.leases_expired++;
	}
}

/* ------------------------------------------------------------------ */
/* ADMIN (R6)                                                           */

/* The control requests served over the network: those that need neither an
 * fd (OPEN_QUEUE, GROUP_JOIN, OPEN_SEGMENT, OPEN_CQ) nor a connection's
 * state (HELLO, membership: GROUP_SYNC, GROUP_LEAVE, QUEUE_RELEASE,
 * COMMIT_OFFSET, which a remote member does with JOIN/HEARTBEAT/COMMIT).
 * None of their answers carries HAS_FD (common/ctl_codec.h). */
static bool admin_allowed(uint16_t type)
{
	switch (type) {
	case SHMQ_CTL_TOPIC_CREATE:
	case SHMQ_CTL_TOPIC_DESCRIBE:
	case SHMQ_CTL_TOPIC_LIST:
	case SHMQ_CTL_STATUS:
	case SHMQ_CTL_QUERY_KEY:
	case SHMQ_CTL_GROUP_PROGRESS:
	case SHMQ_CTL_GROUP_RESET:
	case SHMQ_CTL_RING_STATUS:
	case SHMQ_CTL_SEARCH_TIME:
	case SHMQ_CTL_TOPIC_OPEN:
	case SHMQ_CTL_READ_MSG:
		return true;
	default:
		return false;
	}
}

/* Under the server lock: serve an allowed request @p q for the principal of
 * @p req through the control server's own handlers, so that ACL checks,
 * validation and answers are exactly a local client's with that (uid, gid)
 * (R1). The session is synthetic: it said HELLO (the network session's HELLO
 * stands for it), holds no group, no fd, no cached rights. */
static int admin_serve(struct shmq_remote *r, const struct shmq_net_request *req, const struct shmq_ctl_msg *q,
		       struct shmq_ctl_msg *a)
{
	struct shmq_server *s = r->srv;
	struct srv_session ss = {
		.src = { SRV_SRC_SESSION },
		.fd = -1,
		.id = req->session_id, /* non-zero; only named in logs by these handlers */
		.pid = 0,
		.hello = true,
		.role = SHMQ_CTL_ROLE_ADMIN,
		.consume_any = -1,
	};
	ident_of(r, req->principal, &ss.uid, &ss.gid);
	int fd = -1;
	bool close_fd = false;
	int rc = srv_handle(s, &ss, q, a, &fd, &close_fd);
	if (fd >= 0) {
		/* impossible for the allowed types; never send or leak one */
		shmq_log_error(COMP, "ADMIN %s produced an fd: refused", shmq_ctl_type_name(q->type));
		if (close_fd)
			close(fd);
		rc = -EOPNOTSUPP;
		s->why[0] = '\0';
	}
	if (rc < 0)
		shmq_ctl_error_init(a, q->request_id, rc, "%s", s->why[0] ? s->why : shmq_strerror(rc));
	return rc;
}

/* ADMIN: one control message in, one out (ADMIN_RESP); a refusal is a ctl
 * ERROR inside ADMIN_RESP, as the control socket answers it. */
static int h_admin(struct shmq_remote *r, const struct shmq_net_request *req, uint8_t *buf, size_t cap,
		   uint32_t *len)
{
	struct shmq_ctl_msg *m = malloc(2 * sizeof(*m)); /* ~33 KiB each: off the stack */
	if (!m)
		return -ENOMEM;
	struct shmq_ctl_msg *q = &m[0], *a = &m[1];
	r->st.admin++;
	/* the envelope was checked (length >= the ctl header, magic, version,
	 * direction): the ctl codec checks the rest */
	int rc = shmq_ctl_decode(req->body, req->len, q);
	const char *what = rc == 0 ? shmq_ctl_type_name(q->type) : "(malformed)";
	if (rc < 0) {
		uint64_t id;
		memcpy(&id, req->body + offsetof(struct shmq_ctl_hdr, request_id), sizeof(id));
		shmq_ctl_error_init(a, id, rc, "malformed control message in ADMIN");
	} else if (!admin_allowed(q->type)) {
		rc = -EOPNOTSUPP;
		shmq_ctl_error_init(a, q->request_id, rc, "%s is not served over the network",
				    shmq_ctl_type_name(q->type));
	} else {
		lock(r);
		rc = admin_serve(r, req, q, a);
		unlock(r);
	}
	if (rc < 0) {
		r->st.errors++;
		shmq_log_debug(COMP, "principal '%s': ADMIN %s refused: %s", req->principal, what,
			       shmq_strerror(rc));
	}
	int n = shmq_ctl_encode(a, buf, cap);
	free(m);
	if (n < 0) {
		shmq_log_error(COMP, "ADMIN answer does not encode: %s", shmq_strerror(n));
		return -EIO;
	}
	*len = (uint32_t)n;
	return 0;
}

/* ------------------------------------------------------------------ */
/* the handler and the thread                                           */

static int handler(void *ctx, const struct shmq_net_request *req, uint16_t *type, uint8_t *buf, size_t cap,
		   uint32_t *len)
{
	struct shmq_remote *r = ctx;
	(void)cap; /* SHMQ_NET_MSG_MAX by contract; every answer here is bounded by it */
	r->st.requests++;
	int rc;
	switch (req->type) {
	case SHMQ_NET_PRODUCE:
		*type = SHMQ_NET_PRODUCE_ACK;
		rc = h_produce(r, req, buf, len);
		break;
	case SHMQ_NET_PULL:
		*type = SHMQ_NET_PULL_RESP;
		rc = h_pull(r, req, buf, len);
		break;
	case SHMQ_NET_COMMIT:
		*type = SHMQ_NET_COMMIT_ACK;
		rc = h_commit(r, req, buf, len);
		break;
	case SHMQ_NET_JOIN:
		*type = SHMQ_NET_JOIN_ACK;
		rc = h_join(r, req, buf, len);
		break;
	case SHMQ_NET_HEARTBEAT:
		*type = SHMQ_NET_JOIN_ACK;
		rc = h_heartbeat(r, req, buf, len);
		break;
	case SHMQ_NET_ADMIN:
		*type = SHMQ_NET_ADMIN_RESP;
		rc = h_admin(r, req, buf, cap, len);
		break;
	default:
		rc = -EOPNOTSUPP;
		break;
	}
	if (rc < 0)
		r->st.errors++;
	return rc;
}

static void stats_refresh(struct shmq_remote *r)
{
	struct shmq_net_server_stats ss;
	shmq_net_server_stats(r->ns, &ss);
	r->st.sessions_opened = ss.sessions_opened;
	r->st.sessions = shmq_net_server_sessions(r->ns);
	r->st.frames = ss.frames;
	r->st.garbage = ss.garbage + ss.foreign;
	r->st.hello_refused = ss.hello_refused;
	pthread_mutex_lock(&r->st_mu);
	r->pub = r->st;
	pthread_mutex_unlock(&r->st_mu);
}

static void stats_log(struct shmq_remote *r, const char *when)
{
	const struct shmq_remote_stats *s = &r->st;
	shmq_log_info(COMP, "%s: sessions %u (opened %" PRIu64 "), members %u, frames %" PRIu64 ", garbage %" PRIu64
		      ", hello_refused %" PRIu64 ", requests %" PRIu64 ", errors %" PRIu64 ", produced %" PRIu64
		      ", produce_dups %" PRIu64 ", pulled %" PRIu64 ", leases_expired %" PRIu64 ", admin %" PRIu64,
		      when, s->sessions, s->sessions_opened, s->members, s->frames, s->garbage, s->hello_refused,
		      s->requests, s->errors, s->produced, s->produce_dups, s->pulled, s->leases_expired, s->admin);
	r->logged = *s;
}

static void *net_thread(void *arg)
{
	struct shmq_remote *r = arg;
	(void)prctl(PR_SET_TIMERSLACK, TIMER_SLACK_NS, 0, 0, 0); /* best effort: only latency suffers */
	r->backoff_ns = WAIT_MIN_NS;
	/* relaxed is enough: the flag only asks to stop; pthread_join orders the rest */
	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		uint64_t wait = POLL_IDLE_NS;
		if (r->produces || r->pulls) {
			wait = r->backoff_ns;
			uint64_t cap = r->produces ? WAIT_PRODUCE_MAX_NS : WAIT_PULL_MAX_NS;
			r->backoff_ns = wait * 2 < cap ? wait * 2 : cap;
		}
		shmq_ring_t *mring = NULL;
		uint64_t mpos = 0;
		enum shmq_ring_mark_kind mkind = SHMQ_RING_MARK_PERSISTED;
		int rc;
		if (wait != POLL_IDLE_NS && produce_waited(r, &mring, &mpos, &mkind)) {
			rc = shmq_net_server_poll(r->ns, 0);
			if (rc == 0)
				(void)shmq_ring_wait_mark(mring, mkind, mpos, wait); /* any end: look */
		} else {
			rc = shmq_net_server_poll(r->ns, wait);
		}
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN) {
			shmq_log_error(COMP, "receive: %s", shmq_strerror(rc));
			struct timespec ts = { 0, 1000000 }; /* no hot loop on a broken backend */
			nanosleep(&ts, NULL);
		}
		/* produces first: an answered produce's messages are stored, which
		 * may answer a long poll in the same round */
		bool progress = rc > 0;
		if (r->produces && produces_service(r))
			progress = true;
		if (r->pulls && pulls_service(r))
			progress = true;
		if (progress)
			r->backoff_ns = WAIT_MIN_NS;
		uint64_t now = shmq_now_ns();
		if (now - r->last_tick_ns >= TICK_NS) {
			r->last_tick_ns = now;
			members_expire(r, now);
			stats_refresh(r);
			if (now - r->last_log_ns >= STATS_LOG_NS &&
			    memcmp(&r->logged, &r->st, sizeof(r->st)) != 0) {
				r->last_log_ns = now;
				stats_log(r, "counters");
			}
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* start / stop                                                         */

static void remote_free(struct shmq_remote *r)
{
	while (r->produces) {
		struct rm_produce *p = r->produces;
		r->produces = p->next;
		produce_free(p);
	}
	while (r->pulls) {
		struct rm_pull *w = r->pulls;
		r->pulls = w->next;
		free(w);
	}
	while (r->members) {
		struct rm_member *m = r->members;
		r->members = m->next;
		member_free(m);
	}
	shmq_net_server_destroy(r->ns);
	shmq_net_idem_destroy(r->idem);
	shmq_net_auth_destroy(r->auth);
	shmq_net_backend_destroy(r->be);
	pthread_mutex_destroy(&r->st_mu);
	free(r->out);
	free(r->scratch);
	free(r->props);
	free(r);
}

/* ------------------------------------------------------------------ */
/* idempotence across a restart                                         */

/*
 * The idem table lives in memory; after a broker crash (or a stop: pending
 * requests stay unanswered) a client resends every PRODUCE it has no answer
 * for, and some of those were stored (or sat committed in a ring, which
 * outlives the broker) before. Before the port serves anyone, the table is
 * rebuilt from the store: every record the remote port wrote
 * (SHMQ_RINGMSG_F_REMOTE) stored within IDEM_RESTORE_WINDOW_MS before the
 * newest record of the previous run, plus everything drained from the rings
 * since. The window: no answer leaves later than PERSIST_WAIT_NS after its
 * batch was stored (a later one is an error the client resends anyway), and
 * a lost answer's resends reach a live broker within the client's request
 * timeout (5 s by default), so an unanswered batch lies well inside 60 s.
 * Records are read through each queue's consumequeue from the window's first
 * offset: one record read per message of the window, local ones included
 * (the flag is in the record, not in the consumequeue entry).
 */
#define IDEM_RESTORE_WINDOW_MS 60000ull
#define IDEM_DRAIN_WAIT_NS 5000000000ull /* all rings; > the ring's 1 s dead-producer timeout */

/* Wait (until @p end) for the persister to drain what @p ring held at the
 * start: those records (a RING-level PRODUCE acknowledged before the crash)
 * belong in the table too. @return false if it did not. */
static bool idem_drain(struct shmq_remote *r, shmq_ring_t *ring, uint64_t end)
{
	uint64_t tail = shmq_ring_tail(ring);
	while (shmq_ring_consumed(ring) < tail && !shmq_persister_ring_fenced(r->srv->persister, ring)) {
		if (shmq_now_ns() >= end)
			return false;
		shmq_persister_kick(r->srv->persister);
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return true;
}

/* Store time of the newest record of the previous run (commitlog offset
 * below the recovered end) in any queue; 0 if none. Records drained or
 * written since are stamped now and must not move the window. Consumequeue
 * entries follow commitlog order, so a binary search finds each queue's. */
static uint64_t idem_newest_ms(struct shmq_remote *r, const struct shmq_topic_info *ti, uint32_t nt)
{
	shmq_store_t *st = r->srv->store;
	uint64_t newest = 0, end = r->srv->store_end_at_open;
	for (uint32_t t = 0; t < nt; t++)
		for (uint32_t q = 0; q < ti[t].queues; q++) {
			uint64_t min, lo, hi;
			if (shmq_store_queue_offsets(st, ti[t].name, q, &min, &hi) < 0)
				continue;
			for (lo = min; lo < hi;) { /* first entry at or past the end */
				uint64_t mid = lo + (hi - lo) / 2;
				struct shmq_store_cq_entry e;
				if (shmq_store_cq_get(st, ti[t].name, q, mid, &e) == 0 && e.commitlog_offset >= end)
					hi = mid;
				else
					lo = mid + 1;
			}
			struct shmq_store_view v;
			if (lo == min || shmq_store_read_queue(st, ti[t].name, q, lo - 1, &v) < 0)
				continue;
			if (v.store_ts_ms > newest)
				newest = v.store_ts_ms;
			shmq_store_view_release(st, &v);
		}
	return newest;
}

static int idem_restore(struct shmq_remote *r)
{
	uint64_t t0 = shmq_now_ns();
	shmq_topics_t *topics = r->srv->topics;
	uint32_t total = 0;
	lock(r);
	(void)shmq_topics_list(topics, 0, NULL, 0, &total);
	struct shmq_topic_info *ti = total ? calloc(total, sizeof(*ti)) : NULL;
	int nt = ti ? shmq_topics_list(topics, 0, ti, total, NULL) : 0;
	unlock(r);
	if (total && !ti)
		return -ENOMEM;
	if (nt < 0) {
		free(ti);
		return nt;
	}
	/* one deadline for all rings: a persister that cannot progress (a full
	 * or failing disk) must not hold the start for 5 s per ring */
	uint64_t drain_end = t0 + IDEM_DRAIN_WAIT_NS;
	uint32_t undrained = 0;
	for (int t = 0; t < nt; t++)
		for (uint32_t q = 0; q < ti[t].queues; q++) {
			lock(r);
			shmq_ring_t *ring = shmq_queues_get(r->srv->queues, ti[t].name, q);
			unlock(r);
			if (ring && !idem_drain(r, ring, drain_end))
				undrained++;
		}
	if (undrained)
		shmq_log_warn(COMP, "%u rings not drained within %llu s: their unstored messages are not known to "
			      "the idempotence table (a resend of one of them is stored again)", undrained,
			      (unsigned long long)(IDEM_DRAIN_WAIT_NS / 1000000000ull));
	uint64_t newest = idem_newest_ms(r, ti, (uint32_t)nt);
	uint64_t from_ms = newest > IDEM_RESTORE_WINDOW_MS ? newest - IDEM_RESTORE_WINDOW_MS : 0;
	uint64_t scanned = 0, seeded = 0;
	int rc = 0;
	for (int t = 0; t < nt && rc == 0 && newest; t++) {
		uint64_t stream = stream_of(ti[t].name);
		for (uint32_t q = 0; q < ti[t].queues && rc == 0; q++) {
			uint64_t min, max, qo;
			if (shmq_store_queue_offsets(r->srv->store, ti[t].name, q, &min, &max) < 0)
				continue; /* nothing stored */
			int e = shmq_store_queue_search_time(r->srv->store, ti[t].name, q, from_ms, &qo);
			if (e < 0) {
				shmq_log_warn(COMP, "%s/%u: time search failed (%s): its remote messages are not "
					      "known to the idempotence table", ti[t].name, q, shmq_strerror(e));
				continue;
			}
			for (qo = qo < min ? min : qo; qo < max && rc == 0; qo++) {
				struct shmq_store_view v;
				if (shmq_store_read_queue(r->srv->store, ti[t].name, q, qo, &v) < 0)
					continue; /* unreadable: what a consumer skips, a resend may store again */
				scanned++;
				if ((v.flags & SHMQ_RINGMSG_F_REMOTE) && v.producer_id) {
					e = shmq_net_idem_seed(r->idem, v.producer_id, stream, v.producer_seq,
							       v.queue_offset, v.commitlog_offset);
					if (e == -ENOMEM)
						rc = e;
					seeded += e == 0;
				}
				shmq_store_view_release(r->srv->store, &v);
			}
		}
	}
	free(ti);
	if (rc < 0)
		return rc;
	shmq_log_info(COMP, "idempotence table: %" PRIu64 " remote messages of the last %llu s of the store "
		      "(%" PRIu64 " records read in %" PRIu64 " ms)", seeded,
		      (unsigned long long)(IDEM_RESTORE_WINDOW_MS / 1000u), scanned, (shmq_now_ns() - t0) / 1000000u);
	return 0;
}

int shmq_remote_start(shmq_server_t *srv, const struct shmq_broker_config *cfg, shmq_remote_t **out,
		      char *err, size_t errlen)
{
	if (!srv || !cfg || !out || !cfg->net_listen[0])
		return -EINVAL;
	struct shmq_remote *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->srv = srv;
	r->cfg = cfg;
	r->produces_tail = &r->produces;
	pthread_mutex_init(&r->st_mu, NULL);
	r->ring_pid = (uint32_t)getpid();
	r->out = malloc(SHMQ_NET_MSG_MAX);
	r->scratch = malloc(SCRATCH_LEN);
	r->props = calloc(PROPS_MAX, sizeof(*r->props));
	int rc = -ENOMEM;
	if (!r->out || !r->scratch || !r->props)
		goto fail;
	uint8_t secret[SHMQ_NET_SECRET_MAX];
	size_t slen = 0;
	char why[512];
	rc = shmq_net_secret_read(cfg->net_secret_file, secret, &slen, why, sizeof(why));
	if (rc < 0) {
		shmq_errbuf_set(err, errlen, "[net] secret_file: %s", why);
		goto fail;
	}
	rc = shmq_net_auth_create(secret, slen, NULL, &r->auth);
	explicit_bzero(secret, sizeof(secret));
	if (rc < 0) {
		shmq_errbuf_set(err, errlen, "remote port authentication: %s", shmq_strerror(rc));
		goto fail;
	}
	struct shmq_remote_backend_opts bo = {
		.listen = cfg->net_listen, .dpdk_args = cfg->net_dpdk_args, .dpdk_ip = cfg->net_dpdk_ip,
	};
	rc = shmq_remote_backend_open(&bo, &r->be, err, errlen);
	if (rc < 0)
		goto fail;
	rc = shmq_net_idem_create(NULL, &r->idem);
	if (rc == 0)
		rc = idem_restore(r);
	if (rc == 0) {
		SHMQ_NET_SERVER_OPTS(so);
		rc = shmq_net_server_create(r->be, r->auth, handler, r, &so, &r->ns);
	}
	if (rc < 0) {
		shmq_errbuf_set(err, errlen, "remote port: %s", shmq_strerror(rc));
		goto fail;
	}
	r->last_tick_ns = r->last_log_ns = shmq_now_ns();
	rc = -pthread_create(&r->thread, NULL, net_thread, r);
	if (rc < 0) {
		shmq_errbuf_set(err, errlen, "remote port thread: %s", strerror(-rc));
		goto fail;
	}
	r->started = true;
	const struct shmq_net_addr *a = &r->be->local;
	uint32_t ip = __builtin_bswap32(a->ip);
	shmq_log_info(COMP, "listening on %.*s://%u.%u.%u.%u:%u (%s backend, frames up to %u bytes)",
		      (int)(strchr(cfg->net_listen, ':') - cfg->net_listen), cfg->net_listen, ip >> 24,
		      (ip >> 16) & 255u, (ip >> 8) & 255u, ip & 255u, (unsigned)__builtin_bswap16(a->port),
		      r->be->ops->name, r->be->frame_max);
	*out = r;
	return 0;
fail:
	remote_free(r);
	return rc;
}

void shmq_remote_stop(shmq_remote_t *r)
{
	if (!r)
		return;
	if (r->started) {
		/* relaxed: see net_thread() */
		atomic_store_explicit(&r->stop, true, memory_order_relaxed);
		pthread_join(r->thread, NULL);
		stats_refresh(r);
		stats_log(r, "stopped");
	}
	/* members with a lease leave now: this broker no longer serves them */
	if (r->members) {
		lock(r);
		for (struct rm_member *m = r->members; m; m = m->next)
			shmq_groups_member_gone(r->srv->groups, m->id);
		unlock(r);
	}
	remote_free(r);
}

void shmq_remote_stats(shmq_remote_t *r, struct shmq_remote_stats *st)
{
	pthread_mutex_lock(&r->st_mu);
	*st = r->pub;
	pthread_mutex_unlock(&r->st_mu);
}
