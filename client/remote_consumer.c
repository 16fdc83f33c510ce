/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote consumer (client/remote.h): a group member over the network,
 * driven by the thread that polls it (a consumer is single-threaded).
 *
 *  - Membership: JOIN at open; HEARTBEAT from poll every lease/3, which
 *    renews the lease and brings the current assignment (a lease the
 *    application lets run out by not polling loses its queues, as a local
 *    member that dies). A HEARTBEAT refused (the broker forgot us: restart,
 *    lease expired) is followed by a new JOIN.
 *  - Reading: PULL per owned queue from the member's position; the first
 *    PULL of a queue it got asks SHMQ_NET_OFFSET_COMMITTED (the group's
 *    committed offset, else the oldest stored: SHMQ_START_EARLIEST), after
 *    that the answer's next_offset. With SHMQ_START_COMMITTED or LATEST the
 *    member first asks GROUP_PROGRESS over ADMIN (docs/protocol.md): a queue
 *    the group never committed then starts at its next offset, as locally.
 *    With SHMQ_START_TIMESTAMP such a queue starts at the first offset
 *    stored at or after start_ts_ms, which SEARCH_TIME over ADMIN finds
 *    (the broker's consumequeue search, as shmq_qc_seek_timestamp() does
 *    locally); a committed queue resumes at its committed offset.
 *    Caught up, one PULL waits at the broker (long-poll) for up
 *    to SHMQ_REMOTE_LONGPOLL_MAX_NS, or 50 ms per queue when it owns several.
 *  - Commit policy as locally, but batched: auto-commit commits what earlier
 *    polls returned at a poll at most every 10 ms (a COMMIT is a round
 *    trip), before each HEARTBEAT (so a queue moving away was committed)
 *    and at close; manual commit sends COMMIT at once.
 *  - Views point into copies of the PULL_RESP bodies, freed at the next poll;
 *    their msg_id is made from the broker id learned at open (STATUS over
 *    ADMIN, once per client: shmq_remote_broker_id()), as locally.
 *  - Push mode: a library thread polls and calls back (push_main()).
 *    Stats and assignment are snapshots the polling thread publishes under
 *    `mu` after each poll, so any thread may read them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/client_int.h"
#include "client/remote.h"
#include "common/clock.h"
#include "common/ringmsg.h"

#define LEASE_MS      6000u
#define MULTI_WAIT_NS 50000000ull
#define PULL_BYTES    (4u << 20)
#define COMMIT_EVERY_NS 10000000ull /* auto-commit: at most one COMMIT round per 10 ms */
#define PUSH_BATCH    64u
#define PUSH_WAIT_NS  100000000ull

struct rqueue {
	bool owned;
	bool positioned;         /* next is known */
	uint64_t next;           /* next queue offset to pull */
	uint64_t delivered;      /* 1 + last offset delivered (auto commit), valid when dirty */
	bool dirty;
	uint64_t retry_at;       /* push: a callback failed; the queue waits until then */
};

struct shmq_rconsumer {
	struct shmq_remote *r;
	struct shmq_rconn k;
	char group[SHMQ_NET_NAME_LEN];
	char topic[SHMQ_NET_NAME_LEN];
	struct shmq_consumer_opts o;
	uint32_t mode;           /* enum shmq_ctl_group_mode */
	uint32_t broker_id;      /* for message ids (shmq_remote_broker_id()) */
	uint64_t member_id;      /* 0: not joined */
	uint32_t generation;
	uint64_t renew_at;       /* monotonic ns of the next HEARTBEAT */
	uint64_t commit_at;      /* monotonic ns of the next auto-commit round */
	uint32_t nq;
	struct rqueue q[SHMQ_NET_QUEUES_MAX];
	uint32_t rr;
	void **bufs;             /* PULL_RESP copies of the last poll */
	unsigned nbufs, cap_bufs;
	struct shmq_consumer_stats st;
	/* what other threads may read (stats, assignment), published by the
	 * polling thread at the end of each poll, under mu */
	pthread_mutex_t mu;
	struct shmq_consumer_stats pub_st;
	uint32_t pub_owned[SHMQ_NET_QUEUES_MAX];
	unsigned pub_nowned;
	/* push mode */
	pthread_t thr;
	bool thr_started;
	_Atomic bool stop;
};

/* ------------------------------------------------------------------ */
/* membership                                                          */

static int apply_join_ack(struct shmq_rconsumer *cs, const uint8_t *resp, uint32_t len)
{
	struct shmq_net_join_ack_hdr h;
	memcpy(&h, resp, sizeof(h)); /* body-checked: ids strictly increasing, < queues */
	if (h.status < 0)
		return h.status;
	bool own[SHMQ_NET_QUEUES_MAX] = { false };
	for (uint32_t i = 0; i < h.count && sizeof(h) + (i + 1) * sizeof(uint32_t) <= len; i++) {
		uint32_t qi;
		memcpy(&qi, resp + sizeof(h) + i * sizeof(qi), sizeof(qi));
		own[qi] = true;
	}
	bool changed = h.queues != cs->nq;
	for (uint32_t qi = 0; qi < SHMQ_NET_QUEUES_MAX; qi++) {
		struct rqueue *q = &cs->q[qi];
		if (own[qi] == q->owned)
			continue;
		changed = true;
		/* a queue we get (again) starts from the group's committed offset */
		*q = (struct rqueue){ .owned = own[qi] };
	}
	if (changed || h.generation != cs->generation)
		cs->st.rebalances++;
	cs->nq = h.queues;
	cs->member_id = h.member_id;
	cs->generation = h.generation;
	cs->renew_at = shmq_now_ns() + (uint64_t)h.lease_ms * 1000000ull / 3;
	return 0;
}

static void group_body(struct shmq_rconsumer *cs, struct shmq_net_group *g, bool join)
{
	memset(g, 0, sizeof(*g));
	memcpy(g->group, cs->group, sizeof(g->group));
	memcpy(g->topic, cs->topic, sizeof(g->topic));
	g->lease_ms = LEASE_MS;
	if (join) {
		g->mode = cs->mode;
	} else {
		g->member_id = cs->member_id;
		g->generation = cs->generation;
	}
}

static int join(struct shmq_rconsumer *cs)
{
	struct shmq_net_group g;
	group_body(cs, &g, true);
	const uint8_t *resp;
	uint32_t len;
	int rc = shmq_rconn_call(&cs->k, SHMQ_NET_JOIN, &g, sizeof(g), SHMQ_NET_JOIN_ACK, &resp, &len);
	return rc < 0 ? rc : apply_join_ack(cs, resp, len);
}

static int commit_queue(struct shmq_rconsumer *cs, uint32_t qi, uint64_t offset)
{
	if (cs->mode == SHMQ_CTL_GROUP_BROADCASTING)
		return 0; /* broadcasting offsets are the member's (in memory) */
	struct shmq_net_commit c = { .queue = qi, .offset = offset };
	memcpy(c.group, cs->group, sizeof(c.group));
	memcpy(c.topic, cs->topic, sizeof(c.topic));
	const uint8_t *resp;
	uint32_t len;
	int rc = shmq_rconn_call(&cs->k, SHMQ_NET_COMMIT, &c, sizeof(c), SHMQ_NET_COMMIT_ACK, &resp, &len);
	if (rc == 0) {
		struct shmq_net_status s;
		memcpy(&s, resp, sizeof(s));
		rc = s.status;
	}
	return rc;
}

/* Auto commit: what earlier polls delivered; unless @p now_too, at most
 * every COMMIT_EVERY_NS (a COMMIT is a round trip; a crash in between
 * redelivers those messages: still at-least-once). */
static int commit_delivered(struct shmq_rconsumer *cs, bool now_too)
{
	if (cs->o.manual_commit)
		return 0;
	uint64_t now = shmq_now_ns();
	if (!now_too && now < cs->commit_at)
		return 0;
	cs->commit_at = now + COMMIT_EVERY_NS;
	for (uint32_t qi = 0; qi < cs->nq; qi++) {
		struct rqueue *q = &cs->q[qi];
		if (!q->owned || !q->dirty)
			continue;
		int rc = commit_queue(cs, qi, q->delivered);
		if (rc < 0)
			return rc;
		q->dirty = false;
	}
	return 0;
}

/* Renew the lease when due (RM3: an unknown member joins again). */
static int maintain(struct shmq_rconsumer *cs)
{
	if (shmq_now_ns() < cs->renew_at)
		return 0;
	int rc = commit_delivered(cs, true);
	if (rc < 0)
		return rc;
	struct shmq_net_group g;
	group_body(cs, &g, false);
	const uint8_t *resp;
	uint32_t len;
	rc = shmq_rconn_call(&cs->k, SHMQ_NET_HEARTBEAT, &g, sizeof(g), SHMQ_NET_JOIN_ACK, &resp, &len);
	if (rc == 0)
		rc = apply_join_ack(cs, resp, len);
	if (rc < 0 && rc != -ETIMEDOUT && rc != -ENOMEM)
		rc = join(cs);
	return rc;
}

/* ------------------------------------------------------------------ */
/* reading                                                             */

static void view_fill(struct shmq_rconsumer *cs, uint32_t qi, uint64_t qo, const struct shmq_ringmsg_view *rv,
		      struct shmq_msg_view *v)
{
	memset(v, 0, sizeof(*v));
	v->topic = cs->topic;
	v->queue_id = qi;
	v->queue_offset = qo;
	v->store_offset = rv->store_offset == SHMQ_RINGMSG_RESULT_NONE ? SHMQ_OFFSET_UNKNOWN : rv->store_offset;
	/* as a local consumer's views: the id of the stored record */
	if (v->store_offset == SHMQ_OFFSET_UNKNOWN || shmq_msgid_encode(cs->broker_id, v->store_offset, v->msg_id) < 0)
		v->msg_id[0] = '\0';
	shmq_view_from_ringmsg(rv, v);
}

/* Keep @p body (a copy of the answer) until the next poll. */
static int keep_buf(struct shmq_rconsumer *cs, void *body)
{
	if (cs->nbufs == cs->cap_bufs) {
		unsigned cap = cs->cap_bufs ? cs->cap_bufs * 2 : 8;
		void **nb = realloc(cs->bufs, cap * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		cs->bufs = nb;
		cs->cap_bufs = cap;
	}
	cs->bufs[cs->nbufs++] = body;
	return 0;
}

static void free_bufs(struct shmq_rconsumer *cs)
{
	for (unsigned i = 0; i < cs->nbufs; i++)
		free(cs->bufs[i]);
	cs->nbufs = 0;
}

/* SEARCH_TIME over ADMIN: the first offset of queue @p qi stored at or after
 * start_ts_ms (the end if none is; consume right, as PULL). */
static int time_offset(struct shmq_rconsumer *cs, uint32_t qi, struct shmq_ctl_msg *m, uint64_t *off)
{
	shmq_ctl_msg_init(&m[0], SHMQ_CTL_SEARCH_TIME, 0, 0);
	memcpy(m[0].u.search_time_req.topic, cs->topic, sizeof(m[0].u.search_time_req.topic));
	m[0].u.search_time_req.queue = qi;
	m[0].u.search_time_req.timestamp_ms = cs->o.start_ts_ms;
	int rc = shmq_remote_ctl_call(cs->r, &m[0], &m[1]);
	if (rc == 0 && m[1].type == SHMQ_CTL_ERROR) {
		shmq_cli_set_error("%s", m[1].u.error.message);
		return m[1].u.error.status;
	}
	if (rc == 0 && (m[1].type != SHMQ_CTL_SEARCH_TIME || m[1].u.search_time_resp.queue != qi))
		rc = -EBADMSG;
	if (rc == 0)
		*off = m[1].u.search_time_resp.offset;
	return rc;
}

/* Where a queue this member just got starts (shmq/shmq.h enum shmq_start:
 * the option applies to never-committed queues only). EARLIEST is the
 * broker's own fallback for SHMQ_NET_OFFSET_COMMITTED; COMMITTED and LATEST
 * need the queue's committed and next offsets, which GROUP_PROGRESS gives
 * (consume right, as PULL); TIMESTAMP then asks SEARCH_TIME. */
static int start_offset(struct shmq_rconsumer *cs, uint32_t qi, uint64_t *off)
{
	*off = SHMQ_NET_OFFSET_COMMITTED;
	if (cs->o.start == SHMQ_START_EARLIEST)
		return 0;
	struct shmq_ctl_msg *m = malloc(2 * sizeof(*m)); /* ~33 KiB each */
	if (!m)
		return -ENOMEM;
	shmq_ctl_msg_init(&m[0], SHMQ_CTL_GROUP_PROGRESS, 0, 0);
	memcpy(m[0].u.progress_req.group, cs->group, sizeof(m[0].u.progress_req.group));
	memcpy(m[0].u.progress_req.topic, cs->topic, sizeof(m[0].u.progress_req.topic));
	int rc = shmq_remote_ctl_call(cs->r, &m[0], &m[1]);
	const struct shmq_ctl_progress_resp *p = &m[1].u.progress_resp;
	if (rc == 0 && m[1].type == SHMQ_CTL_ERROR) {
		shmq_cli_set_error("%s", m[1].u.error.message);
		rc = m[1].u.error.status;
	} else if (rc == 0 && (m[1].type != SHMQ_CTL_GROUP_PROGRESS || qi >= p->hdr.count)) {
		rc = -EBADMSG;
	}
	/* committed: the PULL asks for it (the broker's value at that time) */
	if (rc == 0 && p->entries[qi].committed == UINT64_MAX) {
		if (cs->o.start == SHMQ_START_TIMESTAMP)
			rc = time_offset(cs, qi, m, off);
		else
			*off = p->entries[qi].max_offset;
	}
	free(m);
	return rc;
}

/* One PULL of queue @p qi into out[0..max). @return messages or an error. */
static int pull(struct shmq_rconsumer *cs, uint32_t qi, struct shmq_msg_view *out, unsigned max,
		uint64_t wait_ns)
{
	struct rqueue *q = &cs->q[qi];
	uint64_t first = q->next;
	if (!q->positioned) {
		int src = start_offset(cs, qi, &first);
		if (src < 0)
			return src;
	}
	struct shmq_net_pull p = {
		.queue = qi,
		.max_bytes = PULL_BYTES,
		.offset = first,
		.max_msgs = max < SHMQ_NET_BATCH_MAX ? max : SHMQ_NET_BATCH_MAX,
		.timeout_ms = (uint32_t)((wait_ns + 999999u) / 1000000u),
		.visibility = cs->o.visibility == SHMQ_VISIBLE_DURABLE ? SHMQ_NET_VISIBLE_DURABLE
			    : cs->o.visibility == SHMQ_VISIBLE_IMMEDIATE ? SHMQ_NET_VISIBLE_IMMEDIATE
									 : SHMQ_NET_VISIBLE_PERSISTED,
	};
	memcpy(p.group, cs->group, sizeof(p.group));
	memcpy(p.topic, cs->topic, sizeof(p.topic));
	const uint8_t *resp;
	uint32_t len;
	int rc = shmq_rconn_call(&cs->k, SHMQ_NET_PULL, &p, sizeof(p), SHMQ_NET_PULL_RESP, &resp, &len);
	if (rc < 0)
		return rc;
	struct shmq_net_pull_resp_hdr h;
	struct shmq_net_entry_iter it;
	if (shmq_net_entries_begin(resp, len, &h, sizeof(h), &it) < 0 || h.queue != qi)
		return -EBADMSG;
	if (h.status < 0)
		return h.status;
	if (h.count > p.max_msgs)
		return -EBADMSG;
	uint8_t *copy = NULL;
	if (h.count > 0) {
		/* views outlive this answer (the endpoint reuses its buffer) */
		copy = malloc(len);
		if (!copy || keep_buf(cs, copy) < 0) {
			free(copy);
			return -ENOMEM;
		}
		memcpy(copy, resp, len);
		if (shmq_net_entries_begin(copy, len, &h, sizeof(h), &it) < 0)
			return -EBADMSG;
	}
	unsigned n = 0;
	uint64_t qo;
	struct shmq_ringmsg_view rv;
	while (n < h.count && shmq_net_entry_next(&it, &qo, &rv) == 1) {
		if (q->positioned && qo < q->next)
			continue; /* cannot happen with a sane broker; never deliver twice */
		view_fill(cs, qi, qo, &rv, &out[n++]);
		q->delivered = qo + 1;
		q->dirty = true;
	}
	/* never backwards within one ownership: an answer whose next_offset lies
	 * below ours (a broker clamping to a stored maximum that lags) must not
	 * make us read, and deliver, an offset twice */
	if (!q->positioned || h.next_offset > q->next)
		q->next = h.next_offset;
	q->positioned = true;
	return (int)n;
}

/* Owned, and not waiting for a push retry. */
static bool readable(const struct shmq_rconsumer *cs, uint32_t qi, uint64_t now)
{
	return cs->q[qi].owned && cs->q[qi].retry_at <= now;
}

/* The readable queue after @p from in round-robin order; nq if none. */
static uint32_t next_owned(const struct shmq_rconsumer *cs, uint32_t from, unsigned *owned)
{
	uint32_t pick = cs->nq;
	uint64_t now = shmq_now_ns();
	*owned = 0;
	for (uint32_t k = 0; k < cs->nq; k++) {
		uint32_t qi = (from + k) % cs->nq;
		if (!readable(cs, qi, now))
			continue;
		if (pick == cs->nq)
			pick = qi;
		(*owned)++;
	}
	return pick;
}

static void publish(struct shmq_rconsumer *cs)
{
	pthread_mutex_lock(&cs->mu);
	cs->pub_st = cs->st;
	cs->pub_st.reconnects = cs->k.reconnects;
	cs->pub_nowned = 0;
	for (uint32_t qi = 0; qi < cs->nq; qi++)
		if (cs->q[qi].owned)
			cs->pub_owned[cs->pub_nowned++] = qi;
	pthread_mutex_unlock(&cs->mu);
}

static int poll_once(struct shmq_rconsumer *cs, struct shmq_msg_view *out, unsigned max, uint64_t timeout_ns)
{
	free_bufs(cs);
	int rc = commit_delivered(cs, false);
	if (rc == 0)
		rc = maintain(cs);
	if (rc < 0)
		return rc;
	if (max == 0)
		return 0;
	uint64_t now = shmq_now_ns();
	uint64_t deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
	unsigned n = 0, owned;
	/* first a sweep without waiting, when several queues may have data */
	uint32_t first = next_owned(cs, cs->rr, &owned);
	if (owned > 1) {
		for (uint32_t k = 0; k < cs->nq && n < max; k++) {
			uint32_t qi = (cs->rr + k) % cs->nq;
			if (!readable(cs, qi, now))
				continue;
			rc = pull(cs, qi, out + n, max - n, 0);
			if (rc < 0)
				return rc;
			n += (unsigned)rc;
		}
		cs->rr = (first + 1) % cs->nq;
	}
	while (n == 0) {
		now = shmq_now_ns();
		uint32_t qi = next_owned(cs, cs->rr, &owned);
		uint64_t wait = deadline > now ? deadline - now : 0;
		if (wait > SHMQ_REMOTE_LONGPOLL_MAX_NS)
			wait = SHMQ_REMOTE_LONGPOLL_MAX_NS;
		if (owned > 1 && wait > MULTI_WAIT_NS)
			wait = MULTI_WAIT_NS;
		if (cs->renew_at > now && wait > cs->renew_at - now)
			wait = cs->renew_at - now;
		if (qi == cs->nq) {
			/* nothing owned (yet): wait for a rebalance */
			if (now >= deadline)
				break;
			uint64_t d = wait < MULTI_WAIT_NS ? wait : MULTI_WAIT_NS;
			struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)d };
			nanosleep(&ts, NULL);
		} else {
			rc = pull(cs, qi, out, max, wait);
			if (rc < 0)
				return rc;
			n = (unsigned)rc;
			cs->rr = (qi + 1) % cs->nq;
		}
		if (n > 0 || shmq_now_ns() >= deadline)
			break;
		if ((rc = maintain(cs)) < 0)
			return rc;
	}
	cs->st.delivered += n;
	cs->st.from_log += n;
	return (int)n;
}

int shmq_rconsumer_poll(struct shmq_rconsumer *cs, struct shmq_msg_view *out, unsigned max, uint64_t timeout_ns)
{
	if (!cs || (!out && max) || cs->o.push)
		return -EINVAL;
	int n = poll_once(cs, out, max, timeout_ns);
	publish(cs);
	return n;
}

/* Push mode: this thread polls and calls back, serially (so serially per
 * queue). A callback that fails makes its queue wait retry_delay_ns, then
 * that message is pulled again (order kept); auto-commit never passes it. */
static void *push_main(void *arg)
{
	struct shmq_rconsumer *cs = arg;
	struct shmq_msg_view v[PUSH_BATCH];
	/* relaxed: a request to stop; pthread_join() is the synchronisation */
	while (!atomic_load_explicit(&cs->stop, memory_order_relaxed)) {
		int n = poll_once(cs, v, PUSH_BATCH, PUSH_WAIT_NS);
		publish(cs);
		if (n < 0) {
			/* the broker is away for longer than the reconnect
			 * timeout: keep trying, as a local push thread does */
			struct timespec ts = { .tv_sec = 0, .tv_nsec = (long)PUSH_WAIT_NS };
			nanosleep(&ts, NULL);
			continue;
		}
		for (int i = 0; i < n; i++) {
			struct rqueue *q = &cs->q[v[i].queue_id];
			uint64_t now = shmq_now_ns();
			if (q->retry_at > now)
				continue; /* an earlier message of its queue failed */
			if (cs->o.push(cs->o.push_arg, &v[i]) == 0)
				continue;
			q->next = v[i].queue_offset;
			q->delivered = v[i].queue_offset;
			q->dirty = true;
			q->retry_at = now + cs->o.retry_delay_ns;
		}
	}
	return NULL;
}

int shmq_rconsumer_commit(struct shmq_rconsumer *cs, const struct shmq_msg_view *m)
{
	if (!cs || !m || m->queue_offset == SHMQ_OFFSET_UNKNOWN)
		return -EINVAL;
	if (m->queue_id >= cs->nq || !cs->q[m->queue_id].owned)
		return -ENOENT;
	struct rqueue *q = &cs->q[m->queue_id];
	int rc = commit_queue(cs, m->queue_id, m->queue_offset + 1);
	if (rc == 0 && q->delivered == m->queue_offset + 1)
		q->dirty = false;
	return rc;
}

int shmq_rconsumer_assignment(struct shmq_rconsumer *cs, uint32_t *queues, unsigned max)
{
	if (!cs || (!queues && max))
		return -EINVAL;
	pthread_mutex_lock(&cs->mu);
	unsigned n = cs->pub_nowned < max ? cs->pub_nowned : max;
	if (n)
		memcpy(queues, cs->pub_owned, n * sizeof(*queues));
	pthread_mutex_unlock(&cs->mu);
	return (int)n;
}

void shmq_rconsumer_stats(struct shmq_rconsumer *cs, struct shmq_consumer_stats *st)
{
	if (!cs || !st)
		return;
	pthread_mutex_lock(&cs->mu);
	*st = cs->pub_st;
	pthread_mutex_unlock(&cs->mu);
}

int shmq_rconsumer_open(struct shmq_remote *r, const struct shmq_consumer_opts *opts,
			struct shmq_rconsumer **out)
{
	*out = NULL;
	if (!opts || opts->sz < offsetof(struct shmq_consumer_opts, topic) + sizeof(opts->topic))
		return -EINVAL;
	struct shmq_consumer_opts o = { 0 };
	memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	o.sz = sizeof(o);
	if (!o.group || !o.topic || (unsigned)o.mode > SHMQ_CONSUME_BROADCASTING ||
	    (unsigned)o.start > SHMQ_START_TIMESTAMP || (unsigned)o.visibility > SHMQ_VISIBLE_DURABLE)
		return -EINVAL;
	if (!o.retry_delay_ns)
		o.retry_delay_ns = 1000000000ull;
	if (o.push)
		o.manual_commit = false; /* push: committed after the callback returned 0 */
	struct shmq_rconsumer *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	cs->r = r;
	pthread_mutex_init(&cs->mu, NULL);
	int rc = shmq_ctl_name_set(cs->group, o.group, false);
	if (rc == 0)
		rc = shmq_ctl_name_set(cs->topic, o.topic, false);
	if (rc < 0) {
		pthread_mutex_destroy(&cs->mu);
		free(cs);
		return rc;
	}
	o.group = cs->group;
	o.topic = cs->topic;
	cs->o = o;
	cs->mode = o.mode == SHMQ_CONSUME_BROADCASTING ? SHMQ_CTL_GROUP_BROADCASTING : SHMQ_CTL_GROUP_CLUSTERING;
	rc = shmq_remote_broker_id(r, &cs->broker_id);
	if (rc == 0)
		rc = shmq_rconn_init(r, &cs->k);
	if (rc == 0)
		rc = join(cs);
	if (rc == 0)
		publish(cs);
	if (rc == 0 && o.push) {
		rc = -pthread_create(&cs->thr, NULL, push_main, cs);
		cs->thr_started = rc == 0;
	}
	if (rc < 0) {
		shmq_rconn_fini(&cs->k);
		pthread_mutex_destroy(&cs->mu);
		free(cs);
		return rc;
	}
	*out = cs;
	return 0;
}

void shmq_rconsumer_close(struct shmq_rconsumer *cs)
{
	if (!cs)
		return;
	if (cs->thr_started) {
		/* relaxed: the join below is the synchronisation */
		atomic_store_explicit(&cs->stop, true, memory_order_relaxed);
		pthread_join(cs->thr, NULL);
	}
	commit_delivered(cs, true); /* best effort, as locally */
	free_bufs(cs);
	free(cs->bufs);
	shmq_rconn_fini(&cs->k);
	pthread_mutex_destroy(&cs->mu);
	free(cs);
}
