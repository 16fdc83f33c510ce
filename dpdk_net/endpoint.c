/* SPDX-License-Identifier: Apache-2.0 */
/* Sessions over a backend, server and client: see dpdk_net/endpoint.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "dpdk_net/endpoint.h"
#include "shmq/error.h"

#define TX_BATCH 64u
#define RX_BATCH 64u
#define SWEEP_NS 100000000ull /* session and partial expiry scan period */

/* Tx staging shared by both sides: TX_BATCH frames of frame_max bytes. */
struct txq {
	uint8_t *bufs;
	size_t stride;
};

static int txq_init(struct txq *q, uint32_t frame_max)
{
	q->stride = ((size_t)frame_max + 63) & ~(size_t)63;
	q->bufs = aligned_alloc(64, q->stride * TX_BATCH);
	return q->bufs ? 0 : -ENOMEM;
}

/* Send every fragment of one message to @p to, TX_BATCH at a time. The body
 * was checked by the caller. */
static int send_msg(struct shmq_net_backend *be, struct txq *q, const struct shmq_net_addr *to,
		    const struct shmq_net_msginfo *mi, const void *body, uint32_t len, uint32_t frag_size)
{
	struct shmq_net_pkt pkts[TX_BATCH];
	uint32_t count = shmq_net_frag_count(len, frag_size);
	if (count == 0)
		return -EMSGSIZE;
	for (uint32_t i = 0; i < count;) {
		unsigned k = 0;
		for (; k < TX_BATCH && i < count; k++, i++) {
			uint8_t *buf = q->bufs + k * q->stride;
			int n = shmq_net_frame_encode(mi, body, len, frag_size, i, buf, q->stride);
			if (n < 0)
				return n;
			pkts[k] = (struct shmq_net_pkt){ .addr = *to, .len = (uint32_t)n, .data = buf };
		}
		int rc = shmq_net_send(be, pkts, k);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ================= server ================= */

struct session {
	uint64_t id;                /* 0 = free */
	struct shmq_net_addr peer;
	uint64_t expiry_real_ns;
	uint64_t last_active_ns;
	uint32_t frag_size;         /* for answers: min(our, its frame_max) */
	char principal[SHMQ_NET_PRINCIPAL_LEN];
	struct shmq_net_reasm *reasm;
	struct shmq_net_dedup *dedup;
	/* cached answers resent to this session: a token bucket of bytes, so
	 * that small resent requests with ever new attempt numbers cannot make
	 * the port resend megabytes each */
	uint64_t resend_budget;
	uint64_t resend_ts_ns;
};

#define RESEND_RATE_BPS (16ull << 20)   /* bytes per second, per session */
#define RESEND_BURST (2ull * SHMQ_NET_MSG_MAX)

/* May @p x be resent @p len more bytes of cached answers now? */
static bool resend_allowed(struct session *x, uint32_t len, uint64_t now)
{
	uint64_t dt = now - x->resend_ts_ns;
	uint64_t add = dt >= 1000000000ull ? RESEND_BURST : dt * RESEND_RATE_BPS / 1000000000ull;
	x->resend_budget = x->resend_budget + add > RESEND_BURST ? RESEND_BURST : x->resend_budget + add;
	x->resend_ts_ns = now;
	if (len > x->resend_budget)
		return false;
	x->resend_budget -= len;
	return true;
}

struct shmq_net_server {
	struct shmq_net_backend *be;
	struct shmq_net_auth *auth;
	shmq_net_handler_fn handler;
	void *ctx;
	struct shmq_net_server_opts o;
	struct shmq_net_server_stats st;
	uint64_t last_sweep_ns;
	struct txq tx;
	uint8_t *reply;             /* SHMQ_NET_MSG_MAX: the handler's answer */
	struct session *ses;
};

int shmq_net_server_create(struct shmq_net_backend *be, struct shmq_net_auth *auth,
			   shmq_net_handler_fn handler, void *ctx, const struct shmq_net_server_opts *opts,
			   struct shmq_net_server **out)
{
	struct shmq_net_server_opts o = { .sz = sizeof(o) };
	if (!be || !auth || !handler || !out || (opts && opts->sz < sizeof(o)))
		return -EINVAL;
	if (opts)
		o = *opts;
	if (!o.max_sessions)
		o.max_sessions = 64;
	o.reasm.sz = sizeof(o.reasm);
	o.dedup.sz = sizeof(o.dedup);
	struct shmq_net_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	*s = (struct shmq_net_server){ .be = be, .auth = auth, .handler = handler, .ctx = ctx, .o = o };
	/* HELLOs recorded before this server existed (a previous run's, whose
	 * nonces it cannot know) are replays */
	shmq_net_auth_refuse_before(auth, shmq_wall_ns());
	s->ses = calloc(o.max_sessions, sizeof(*s->ses));
	s->reply = malloc(SHMQ_NET_MSG_MAX);
	if (!s->ses || !s->reply || txq_init(&s->tx, be->frame_max) < 0) {
		shmq_net_server_destroy(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

static void session_free(struct session *x)
{
	shmq_net_reasm_destroy(x->reasm);
	shmq_net_dedup_destroy(x->dedup);
	memset(x, 0, sizeof(*x));
}

void shmq_net_server_destroy(struct shmq_net_server *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; s->ses && i < s->o.max_sessions; i++)
		if (s->ses[i].id)
			session_free(&s->ses[i]);
	free(s->ses);
	free(s->reply);
	free(s->tx.bufs);
	free(s);
}

static struct session *session_find(struct shmq_net_server *s, uint64_t id)
{
	for (uint32_t i = 0; i < s->o.max_sessions; i++)
		if (s->ses[i].id == id)
			return &s->ses[i];
	return NULL;
}

/* A full table: a new session takes the slot of its own principal's least
 * recently active session, else of any session idle this long, else none.
 * A holder of the secret saying HELLO over and over so churns only its own
 * sessions, never another principal's active ones. */
#define SESSION_EVICT_IDLE_NS 30000000000ull

/* A slot for a new session of @p principal: a free one, else an expired one,
 * else as above (its client will re-HELLO), else NULL. */
static struct session *session_slot(struct shmq_net_server *s, const char *principal, uint64_t now,
				    uint64_t now_real)
{
	struct session *lru = NULL, *own = NULL;
	for (uint32_t i = 0; i < s->o.max_sessions; i++) {
		struct session *x = &s->ses[i];
		if (!x->id)
			return x;
		if (now_real >= x->expiry_real_ns) {
			s->st.expired_session++;
			session_free(x);
			return x;
		}
		if (!lru || x->last_active_ns < lru->last_active_ns)
			lru = x;
		if (strncmp(x->principal, principal, sizeof(x->principal)) == 0 &&
		    (!own || x->last_active_ns < own->last_active_ns))
			own = x;
	}
	struct session *victim = own ? own : now - lru->last_active_ns >= SESSION_EVICT_IDLE_NS ? lru : NULL;
	if (!victim) {
		s->st.sessions_full++;
		return NULL;
	}
	s->st.sessions_evicted++;
	session_free(victim);
	return victim;
}

static void handle_hello(struct shmq_net_server *s, const struct shmq_net_pkt *pkt,
			 const struct shmq_net_frame *f, uint64_t now, uint64_t now_real)
{
	struct shmq_net_hello h;
	if (shmq_net_body_check(SHMQ_NET_HELLO, f->payload, f->h.payload_len) != 0) {
		s->st.hello_refused++;
		return;
	}
	memcpy(&h, f->payload, sizeof(h));
	/* no answer to a refused HELLO: nothing to tell someone without the key */
	if (shmq_net_auth_check_hello(s->auth, &h, now_real) != 0) {
		s->st.hello_refused++;
		return;
	}
	struct session *x = session_slot(s, h.principal, now, now_real);
	if (!x)
		return; /* every session is in use: the client's retries may find one idle */
	uint64_t id;
	do
		id = shmq_net_random_u64();
	while (session_find(s, id));
	if (shmq_net_reasm_create(&s->o.reasm, &x->reasm) < 0 ||
	    shmq_net_dedup_create(&s->o.dedup, &x->dedup) < 0) {
		session_free(x);
		return;
	}
	uint32_t fmax = h.frame_max < s->be->frame_max ? h.frame_max : s->be->frame_max;
	struct shmq_net_hello_ack ack;
	x->id = id;
	x->peer = pkt->addr;
	x->last_active_ns = now;
	x->resend_budget = RESEND_BURST;
	x->resend_ts_ns = now;
	x->frag_size = shmq_net_frag_size(fmax);
	memcpy(x->principal, h.principal, sizeof(x->principal));
	x->expiry_real_ns = shmq_net_auth_ack(s->auth, &h, id, s->be->frame_max, now_real, &ack);
	s->st.sessions_opened++;
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_HELLO_ACK, .attempt = 1, .session_id = id,
				       .request_id = f->h.request_id };
	send_msg(s->be, &s->tx, &pkt->addr, &mi, &ack, sizeof(ack), x->frag_size);
}

/* Check, send and cache the answer to (x, request_id). */
static int answer(struct shmq_net_server *s, struct session *x, uint64_t request_id, uint16_t attempt,
		  uint16_t type, const void *body, uint32_t len)
{
	struct shmq_net_error e;
	if (!shmq_net_type_is_response(type) || type == SHMQ_NET_HELLO_ACK ||
	    shmq_net_body_check(type, body, len) != 0) {
		/* never put an invalid answer on the wire: the client gets why */
		shmq_net_error_init(&e, -EPROTO, "server produced an invalid answer");
		type = SHMQ_NET_ERROR;
		body = &e;
		len = sizeof(e);
	}
	int rc = shmq_net_dedup_answer(x->dedup, request_id, attempt, type, body, len);
	if (rc < 0)
		return rc;
	struct shmq_net_msginfo mi = { .type = type, .attempt = attempt ? attempt : 1,
				       .session_id = x->id, .request_id = request_id };
	return send_msg(s->be, &s->tx, &x->peer, &mi, body, len, x->frag_size);
}

static void serve(struct shmq_net_server *s, struct session *x, const struct shmq_net_frame *f,
		  const struct shmq_net_reasm_msg *m)
{
	uint64_t rid = f->h.request_id;
	uint16_t attempt = f->h.attempt;
	if (shmq_net_dedup_begin(x->dedup, rid) < 0)
		return; /* every slot pending: drop, the client retries */
	if (shmq_net_body_check(f->h.type, m->body, m->len) != 0) {
		struct shmq_net_error e;
		s->st.bad_requests++;
		shmq_net_error_init(&e, -EBADMSG, "malformed request body");
		answer(s, x, rid, attempt, SHMQ_NET_ERROR, &e, sizeof(e));
		return;
	}
	struct shmq_net_request req = { .session_id = x->id, .principal = x->principal, .peer = x->peer,
					.request_id = rid, .type = f->h.type, .body = m->body, .len = m->len };
	uint16_t type = 0;
	uint32_t len = 0;
	s->st.requests++;
	int rc = s->handler(s->ctx, &req, &type, s->reply, SHMQ_NET_MSG_MAX, &len);
	if (rc == SHMQ_NET_DEFERRED)
		return;
	if (rc < 0) {
		struct shmq_net_error e;
		shmq_net_error_init(&e, rc, shmq_strerror(rc));
		answer(s, x, rid, attempt, SHMQ_NET_ERROR, &e, sizeof(e));
		return;
	}
	answer(s, x, rid, attempt, type, s->reply, len);
}

static void handle_frame(struct shmq_net_server *s, const struct shmq_net_pkt *pkt, uint64_t now,
			 uint64_t now_real)
{
	struct shmq_net_frame f;
	int rc = shmq_net_frame_decode(pkt->data, pkt->len, &f);
	if (rc < 0) {
		if (rc == -EPROTONOSUPPORT)
			s->st.foreign++;
		else
			s->st.garbage++;
		return;
	}
	if (f.h.type == SHMQ_NET_HELLO) {
		handle_hello(s, pkt, &f, now, now_real);
		return;
	}
	if (shmq_net_type_is_response(f.h.type)) {
		s->st.garbage++;
		return;
	}
	struct session *x = session_find(s, f.h.session_id);
	if (!x) {
		s->st.unknown_session++;
		return;
	}
	if (now_real >= x->expiry_real_ns) {
		s->st.expired_session++;
		session_free(x);
		return;
	}
	if (!shmq_net_addr_eq(&x->peer, &pkt->addr)) {
		s->st.wrong_peer++;
		return;
	}
	x->last_active_ns = now;
	struct shmq_net_dedup_answer ans;
	switch (shmq_net_dedup_lookup(x->dedup, f.h.request_id, f.h.attempt, &ans)) {
	case SHMQ_NET_DEDUP_ANSWERED: {
		struct shmq_net_msginfo mi = { .type = ans.type, .attempt = f.h.attempt,
					       .session_id = x->id, .request_id = f.h.request_id };
		if (!resend_allowed(x, ans.len, now)) {
			s->st.resends_limited++; /* the client's next retry asks again */
			return;
		}
		s->st.answers_resent++;
		send_msg(s->be, &s->tx, &x->peer, &mi, ans.body, ans.len, x->frag_size);
		return;
	}
	case SHMQ_NET_DEDUP_PENDING:
		return;
	case SHMQ_NET_DEDUP_STALE: {
		/* served long ago, answer evicted: the client re-issues under a
		 * new id (reliable.h). Once per transmission: on fragment 0. */
		struct shmq_net_error e;
		s->st.stale++;
		if (f.h.frag_index != 0)
			return;
		shmq_net_error_init(&e, -ESTALE, "request answered and forgotten: re-issue it");
		struct shmq_net_msginfo mi = { .type = SHMQ_NET_ERROR, .attempt = f.h.attempt,
					       .session_id = x->id, .request_id = f.h.request_id };
		send_msg(s->be, &s->tx, &x->peer, &mi, &e, sizeof(e), x->frag_size);
		return;
	}
	case SHMQ_NET_DEDUP_NEW:
		break;
	}
	struct shmq_net_reasm_msg m;
	rc = shmq_net_reasm_add(x->reasm, &f, now, &m);
	if (rc < 0)
		s->st.frag_dropped++;
	if (rc != 1)
		return;
	serve(s, x, &f, &m);
	shmq_net_reasm_msg_free(&m);
}

static void sweep(struct shmq_net_server *s, uint64_t now, uint64_t now_real)
{
	for (uint32_t i = 0; i < s->o.max_sessions; i++) {
		struct session *x = &s->ses[i];
		if (!x->id)
			continue;
		if (now_real >= x->expiry_real_ns) {
			s->st.expired_session++;
			session_free(x);
			continue;
		}
		shmq_net_reasm_expire(x->reasm, now);
	}
}

int shmq_net_server_poll(struct shmq_net_server *s, uint64_t timeout_ns)
{
	struct shmq_net_pkt pkts[RX_BATCH];
	int n = shmq_net_recv(s->be, pkts, RX_BATCH, timeout_ns);
	if (n < 0)
		return n;
	uint64_t now = shmq_now_ns(), now_real = shmq_wall_ns();
	for (int i = 0; i < n; i++)
		handle_frame(s, &pkts[i], now, now_real);
	s->st.frames += (uint64_t)n;
	if (now - s->last_sweep_ns > SWEEP_NS) {
		s->last_sweep_ns = now;
		sweep(s, now, now_real);
	}
	return n;
}

int shmq_net_server_reply(struct shmq_net_server *s, uint64_t session_id, uint64_t request_id,
			  uint16_t type, const void *body, uint32_t len)
{
	struct session *x = session_id ? session_find(s, session_id) : NULL;
	if (!x)
		return SHMQ_EAUTH;
	if (!shmq_net_type_is_response(type) || shmq_net_body_check(type, body, len) != 0)
		return -EBADMSG;
	/* attempt 0: the next resend of any attempt is answered from the cache */
	return answer(s, x, request_id, 0, type, body, len);
}

void shmq_net_server_stats(const struct shmq_net_server *s, struct shmq_net_server_stats *st)
{
	*st = s->st;
}

unsigned shmq_net_server_sessions(const struct shmq_net_server *s)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < s->o.max_sessions; i++)
		n += s->ses[i].id != 0;
	return n;
}

/* ================= client ================= */

#define HELLO_KEEP 8u /* HELLOs of one connect whose ACK we still accept */

struct shmq_net_client {
	struct shmq_net_backend *be;
	struct shmq_net_auth *auth;
	struct shmq_net_addr server;
	struct shmq_net_client_opts o;
	char principal[SHMQ_NET_PRINCIPAL_LEN];
	uint64_t session_id;
	uint64_t expiry_real_ns;
	uint32_t frag_size;
	struct shmq_net_requester *rq;
	struct shmq_net_reasm *reasm;
	struct shmq_net_reasm_msg resp; /* last answer, freed by the next call */
	struct shmq_net_client_stats st;
	struct txq tx;
};

/* Frames from the server, decoded; others counted and skipped. */
static int client_recv(struct shmq_net_client *c, struct shmq_net_frame *fs, struct shmq_net_pkt *pkts,
		       uint64_t timeout_ns)
{
	int n = shmq_net_recv(c->be, pkts, RX_BATCH, timeout_ns);
	if (n <= 0)
		return n;
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (!shmq_net_addr_eq(&pkts[i].addr, &c->server) ||
		    shmq_net_frame_decode(pkts[i].data, pkts[i].len, &fs[k]) != 0 ||
		    !shmq_net_type_is_response(fs[k].h.type)) {
			c->st.ignored++;
			continue;
		}
		k++;
	}
	return k;
}

static int client_hello(struct shmq_net_client *c)
{
	struct shmq_net_hello sent[HELLO_KEEP];
	struct shmq_net_frame fs[RX_BATCH];
	struct shmq_net_pkt pkts[RX_BATCH];
	uint64_t start = shmq_now_ns(), rto = c->o.retry.rto_initial_ns;
	for (uint32_t attempt = 0;; attempt++) {
		uint64_t now = shmq_now_ns();
		if (now - start >= c->o.retry.deadline_ns)
			return -ETIMEDOUT;
		/* a fresh nonce per transmission: the server refuses repeats */
		struct shmq_net_hello *h = &sent[attempt % HELLO_KEEP];
		int rc = shmq_net_auth_hello(c->auth, c->principal, c->be->frame_max, shmq_wall_ns(), h);
		if (rc < 0)
			return rc;
		struct shmq_net_msginfo mi = { .type = SHMQ_NET_HELLO, .attempt = 1, .session_id = 0,
					       .request_id = attempt + 1u };
		rc = send_msg(c->be, &c->tx, &c->server, &mi, h, sizeof(*h), shmq_net_frag_size(c->be->frame_max));
		if (rc < 0)
			return rc;
		c->st.hellos++;
		uint64_t until = now + rto;
		rto = rto * 2 > c->o.retry.rto_max_ns ? c->o.retry.rto_max_ns : rto * 2;
		while ((now = shmq_now_ns()) < until) {
			int n = client_recv(c, fs, pkts, until - now);
			if (n < 0)
				return n;
			for (int i = 0; i < n; i++) {
				struct shmq_net_hello_ack ack;
				if (fs[i].h.type != SHMQ_NET_HELLO_ACK ||
				    shmq_net_body_check(SHMQ_NET_HELLO_ACK, fs[i].payload, fs[i].h.payload_len) != 0) {
					c->st.ignored++;
					continue;
				}
				memcpy(&ack, fs[i].payload, sizeof(ack));
				uint32_t keep = attempt + 1 < HELLO_KEEP ? attempt + 1 : HELLO_KEEP;
				for (uint32_t j = 0; j < keep; j++) {
					if (shmq_net_auth_check_ack(c->auth, &sent[j], &ack) != 0 ||
					    ack.session_id != fs[i].h.session_id)
						continue;
					uint32_t fmax = ack.frame_max < c->be->frame_max ? ack.frame_max
											 : c->be->frame_max;
					c->session_id = ack.session_id;
					c->expiry_real_ns = ack.expiry_ns;
					c->frag_size = shmq_net_frag_size(fmax);
					return 0;
				}
				c->st.ignored++;
			}
		}
	}
}

int shmq_net_client_connect(struct shmq_net_backend *be, const struct shmq_net_addr *server,
			    struct shmq_net_auth *auth, const struct shmq_net_client_opts *opts,
			    struct shmq_net_client **out)
{
	if (!be || !server || !auth || !opts || !out || opts->sz < sizeof(*opts) || !opts->principal ||
	    strlen(opts->principal) >= SHMQ_NET_PRINCIPAL_LEN)
		return -EINVAL;
	struct shmq_net_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->be = be;
	c->auth = auth;
	c->server = *server;
	c->o = *opts;
	c->o.retry.sz = sizeof(c->o.retry);
	c->o.reasm.sz = sizeof(c->o.reasm);
	strcpy(c->principal, opts->principal);
	int rc = shmq_net_req_create(&c->o.retry, &c->rq);
	if (rc == 0)
		rc = shmq_net_reasm_create(&c->o.reasm, &c->reasm);
	if (rc == 0)
		rc = txq_init(&c->tx, be->frame_max);
	if (rc < 0) {
		shmq_net_client_close(c);
		return rc;
	}
	/* the requester filled in the retry defaults: use the same for HELLO */
	if (!c->o.retry.rto_initial_ns)
		c->o.retry.rto_initial_ns = 20000000ull;
	if (!c->o.retry.rto_max_ns)
		c->o.retry.rto_max_ns = 1000000000ull;
	if (!c->o.retry.deadline_ns)
		c->o.retry.deadline_ns = 30000000000ull;
	rc = client_hello(c);
	if (rc < 0) {
		shmq_net_client_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

void shmq_net_client_close(struct shmq_net_client *c)
{
	if (!c)
		return;
	shmq_net_reasm_msg_free(&c->resp);
	shmq_net_req_destroy(c->rq);
	shmq_net_reasm_destroy(c->reasm);
	free(c->tx.bufs);
	free(c);
}

static int client_call_once(struct shmq_net_client *c, uint16_t type, const void *body, uint32_t len,
			    uint16_t *resp_type, const uint8_t **resp, uint32_t *resp_len);

static bool is_stale_error(uint16_t type, const uint8_t *body, uint32_t len)
{
	struct shmq_net_error e;
	if (type != SHMQ_NET_ERROR || len != sizeof(e))
		return false;
	memcpy(&e, body, sizeof(e));
	return e.status == -ESTALE;
}

int shmq_net_client_call(struct shmq_net_client *c, uint16_t type, const void *body, uint32_t len,
			 uint16_t *resp_type, const uint8_t **resp, uint32_t *resp_len)
{
	/* ERROR -ESTALE: the server served this id but lost the answer; the
	 * request is idempotent, so ask again under a new id (bounded) */
	for (int i = 0;; i++) {
		int rc = client_call_once(c, type, body, len, resp_type, resp, resp_len);
		if (rc < 0 || i == 8 || !is_stale_error(*resp_type, *resp, *resp_len))
			return rc;
		c->st.reissued++;
	}
}

static int client_call_once(struct shmq_net_client *c, uint16_t type, const void *body, uint32_t len,
			    uint16_t *resp_type, const uint8_t **resp, uint32_t *resp_len)
{
	struct shmq_net_frame fs[RX_BATCH];
	struct shmq_net_pkt pkts[RX_BATCH];
	shmq_net_reasm_msg_free(&c->resp);
	shmq_net_reasm_expire(c->reasm, shmq_now_ns());
	if (type == SHMQ_NET_HELLO || shmq_net_type_is_response(type) || shmq_net_body_check(type, body, len) != 0)
		return -EBADMSG;
	/* renew a session about to expire (1 s margin) before using it */
	if (shmq_wall_ns() + 1000000000ull >= c->expiry_real_ns) {
		int rc = client_hello(c);
		if (rc < 0)
			return rc;
	}
	uint64_t id = shmq_net_req_new_id(c->rq);
	struct shmq_net_msginfo mi = { .type = type, .attempt = 1, .session_id = c->session_id,
				       .request_id = id };
	int rc = shmq_net_req_track(c->rq, id, shmq_now_ns(), NULL);
	if (rc < 0)
		return rc;
	c->st.calls++;
	rc = send_msg(c->be, &c->tx, &c->server, &mi, body, len, c->frag_size);
	while (rc >= 0) {
		uint64_t now = shmq_now_ns();
		struct shmq_net_req_due due;
		if (shmq_net_req_due(c->rq, now, &due, 1) == 1) {
			if (due.expired) {
				shmq_net_reasm_forget(c->reasm, c->session_id, id, 0);
				return -ETIMEDOUT;
			}
			mi.attempt = due.attempt;
			c->st.retransmits++;
			rc = send_msg(c->be, &c->tx, &c->server, &mi, body, len, c->frag_size);
			continue;
		}
		uint64_t timer = shmq_net_req_next_timer(c->rq);
		int n = client_recv(c, fs, pkts, timer > now ? timer - now : 0);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++) {
			if (fs[i].h.session_id != c->session_id || fs[i].h.request_id != id ||
			    fs[i].h.type == SHMQ_NET_HELLO_ACK) {
				c->st.ignored++;
				continue;
			}
			struct shmq_net_reasm_msg m;
			int r = shmq_net_reasm_add(c->reasm, &fs[i], now, &m);
			if (r < 0)
				c->st.frag_dropped++;
			if (r != 1)
				continue;
			if (shmq_net_body_check(fs[i].h.type, m.body, m.len) != 0) {
				/* cannot be the server's (it checks what it sends):
				 * keep waiting for a good copy */
				shmq_net_reasm_msg_free(&m);
				c->st.ignored++;
				continue;
			}
			shmq_net_req_done(c->rq, id, NULL);
			if (!m.owned) {
				/* a one-frame answer points into the rx buffer, which
				 * the next recv reuses: keep a copy */
				void *copy = malloc(m.len ? m.len : 1);
				if (!copy)
					return -ENOMEM;
				memcpy(copy, m.body, m.len);
				m.body = copy;
				m.owned = copy;
			}
			c->resp = m;
			*resp_type = fs[i].h.type;
			*resp = m.body;
			*resp_len = m.len;
			return 0;
		}
	}
	shmq_net_req_done(c->rq, id, NULL);
	return rc;
}

uint64_t shmq_net_client_session(const struct shmq_net_client *c)
{
	return c->session_id;
}

void shmq_net_client_stats(const struct shmq_net_client *c, struct shmq_net_client_stats *st)
{
	*st = c->st;
}
