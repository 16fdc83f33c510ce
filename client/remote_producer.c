/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Remote producer (client/remote.h): senders encode their messages and queue
 * them; one I/O thread per producer owns the session and turns everything
 * pending for a queue into one PRODUCE (batching, like group commit: the
 * more senders wait, the larger the batch).
 *
 * ## Concurrency
 *  - send/send_batch/send_async: any thread. A sender selects the queue
 *    (shmq_select_queue(), the local function) once the count is known,
 *    encodes, appends to the FIFO under `mu` and (sync) waits on its own
 *    condition variable until the I/O thread completed all its messages.
 *  - The I/O thread takes the whole FIFO, sends one PRODUCE per queue run
 *    in FIFO order and completes the items in order, so completions of one
 *    queue run in send order, and per-queue order holds per sending thread.
 *  - Caller runs: a synchronous send that finds the FIFO empty and nobody
 *    draining sends its own PRODUCE on its own thread (drain() below), so a
 *    lone sender pays no hand-off to the I/O thread and back: each is a
 *    futex wake-up, 26-27 us when it crosses vCPUs on the 2-vCPU VMs we
 *    measure on, which was most of a remote send's round trip.
 *  - `draining` (under mu) says who owns the session, the sequence counter
 *    and the body buffer (the "drainer only" fields): the I/O thread or one
 *    caller-runs sender, never both. Sequences (RM4) are the drainer's
 *    alone: it patches producer_seq into each encoded message when it
 *    assigns it to a batch. One request is in flight at a time (the
 *    endpoint's call is synchronous); batching makes up for it.
 *
 * ## Open
 * A custom selector needs the queue count before the first send: open asks
 * TOPIC_OPEN over ADMIN (docs/protocol.md), which checks the produce right
 * and creates a missing topic as a local producer's OPEN_QUEUE does. A
 * PERSISTED or DURABLE producer learns the broker id (STATUS over ADMIN,
 * once per client) so that results carry msg_id as locally.
 *
 * ## Failures
 *  - SHMQ_ESEQGAP: the broker expects an earlier sequence (it lost messages
 *    we never saw acknowledged): the batch is renumbered from the broker's
 *    next sequence and sent again.
 *  - Another refusal of a batch of several messages: each message is sent
 *    alone, so one sender's bad message does not fail the others.
 *  - No answer within the reconnect timeout: the messages fail with
 *    -ETIMEDOUT (they may have been stored); their sequences are never
 *    reused, so a later batch cannot be mistaken for their resend.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "client/client_int.h"
#include "client/remote.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "common/ringmsg.h"

/* Request budget: messages stop joining a batch past this many body bytes
 * (a batch always takes its first message). */
#define BATCH_BYTES (1u << 20)
/* Async sends not yet sent: past this many encoded bytes a sender waits up
 * to send_timeout_ns, then gets SHMQ_BACK_PRESSURED, as a local sender does
 * at a full ring: a producer faster than the network must not grow the
 * process without bound. 64 MiB is ~64 full PRODUCEs. */
#define PENDING_BYTES_MAX (64ull << 20)
#define SEND_TIMEOUT_DEFAULT_NS 3000000000ull
#define GAP_RETRIES 4

static_assert(sizeof(struct shmq_prop) == sizeof(struct shmq_ringmsg_prop), "struct shmq_prop is a ringmsg prop");

/* A synchronous caller waiting for its messages. */
struct waiter {
	pthread_cond_t cond;
	unsigned left;           /* messages not completed (under mu) */
	int status;              /* first failure */
	struct shmq_send_result *res; /* NULL or one per message */
};

struct item {
	struct item *next;
	uint8_t *enc;            /* encoded ringmsg; producer_seq patched at batching */
	uint32_t len;
	uint32_t queue;          /* < nq, or SHMQ_NET_QUEUE_ANY */
	uint64_t hint;           /* QUEUE_ANY: the selector's hash or counter */
	struct waiter *w;        /* sync: its waiter and our index there */
	unsigned widx;
	shmq_send_cb cb;         /* async */
	void *arg;
	int status;              /* set by the I/O thread */
	struct shmq_send_result res;
};

struct shmq_rproducer {
	struct shmq_remote *r;
	char topic[SHMQ_NET_NAME_LEN];
	struct shmq_producer_opts o;
	uint64_t id;
	uint64_t host;
	_Atomic uint32_t rr;
	_Atomic uint32_t nq;     /* 0 until the first PRODUCE_ACK (RM4), or set at
				  * open for SHMQ_SELECT_CUSTOM (TOPIC_OPEN) */
	uint32_t broker_id;      /* for message ids; set at open, read-only after */
	/* drainer only (the I/O thread, or a caller-runs sender; see `draining`): */
	struct shmq_rconn k;
	uint64_t next_seq;       /* of the (producer, topic) stream (RM4) */
	uint8_t *body;
	size_t body_cap;
	/* under mu: */
	pthread_mutex_t mu;
	pthread_cond_t work;     /* items queued, or stop */
	pthread_cond_t idle;     /* npending dropped to 0 */
	pthread_cond_t room;     /* pending_bytes dropped below PENDING_BYTES_MAX */
	struct item *head, *tail;
	uint64_t npending;
	uint64_t pending_bytes;  /* encoded bytes of the npending items */
	bool draining;           /* a thread is in drain(): it owns the drainer-only fields */
	bool stop;
	pthread_t thread;
};

static size_t pad8(size_t n)
{
	return (n + 7u) & ~(size_t)7u;
}

/* ------------------------------------------------------------------ */
/* the I/O thread                                                      */

static void complete(struct shmq_rproducer *p, struct item *it)
{
	if (it->cb) {
		it->cb(it->arg, it->status, it->status == 0 ? &it->res : NULL);
	} else {
		pthread_mutex_lock(&p->mu);
		struct waiter *w = it->w;
		if (it->status < 0 && w->status == 0)
			w->status = it->status;
		if (w->res && it->status == 0)
			w->res[it->widx] = it->res;
		if (--w->left == 0)
			pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&p->mu);
	}
	free(it->enc);
	free(it);
}

static int body_reserve(struct shmq_rproducer *p, size_t need)
{
	if (need <= p->body_cap)
		return 0;
	uint8_t *nb = realloc(p->body, need);
	if (!nb)
		return -ENOMEM;
	p->body = nb;
	p->body_cap = need;
	return 0;
}

/* Learn the queue count from an ACK (RM4); 0 = the broker did not say. */
static int learn_queues(struct shmq_rproducer *p, uint32_t queue, uint32_t queues)
{
	/* relaxed: this thread is the only writer of nq */
	uint32_t nq = atomic_load_explicit(&p->nq, memory_order_relaxed);
	if (queues == 0)
		return nq == 0 || queue < nq ? 0 : -EPROTO;
	if (nq != 0 && nq != queues)
		return -EPROTO; /* the topic changed its queue count under us */
	/* release: pairs with the acquire in select_queue(); only the count is
	 * published, senders read nothing else of the I/O thread's */
	atomic_store_explicit(&p->nq, queues, memory_order_release);
	return 0;
}

/* A stored message's id, as the local producer's result_read() makes it. */
static void result_msgid(const struct shmq_rproducer *p, struct shmq_send_result *res)
{
	if (res->store_offset == SHMQ_OFFSET_UNKNOWN ||
	    shmq_msgid_encode(p->broker_id, res->store_offset, res->msg_id) < 0)
		res->msg_id[0] = '\0';
}

/* Open: the topic's queue count through TOPIC_OPEN over ADMIN (produce right;
 * auto-creates as OPEN_QUEUE would), published as a PRODUCE_ACK's would be. */
static int learn_queues_at_open(struct shmq_rproducer *p)
{
	struct shmq_ctl_msg *m = malloc(2 * sizeof(*m)); /* ~33 KiB each */
	if (!m)
		return -ENOMEM;
	shmq_ctl_msg_init(&m[0], SHMQ_CTL_TOPIC_OPEN, 0, 0);
	memcpy(m[0].u.topic_describe_req.topic, p->topic, sizeof(m[0].u.topic_describe_req.topic));
	int rc = shmq_remote_ctl_call(p->r, &m[0], &m[1]);
	if (rc == 0 && m[1].type == SHMQ_CTL_ERROR) {
		shmq_cli_set_error("%s", m[1].u.error.message);
		rc = m[1].u.error.status;
	} else if (rc == 0 && (m[1].type != SHMQ_CTL_TOPIC_OPEN || strcmp(m[1].u.topic_info.topic, p->topic) != 0)) {
		rc = -EBADMSG;
	}
	if (rc == 0) /* the codec bounded queues to 1..SHMQ_CTL_QUEUES_MAX (= SHMQ_NET_QUEUES_MAX) */
		rc = learn_queues(p, 0, m[1].u.topic_info.queues);
	free(m);
	return rc;
}

/* The producer's delivery level as the PRODUCE's acknowledgement level. */
static uint32_t net_delivery(enum shmq_delivery d)
{
	switch (d) {
	case SHMQ_DELIVERY_RING: return SHMQ_NET_DELIVERY_RING;
	case SHMQ_DELIVERY_DURABLE: return SHMQ_NET_DELIVERY_DURABLE;
	default: return SHMQ_NET_DELIVERY_PERSISTED;
	}
}

/*
 * Send items b[0..n) (one queue, or QUEUE_ANY with one hint) as one PRODUCE
 * and set their status and results. Returns 0 when every item got its
 * outcome, or the batch's refusal for the caller to split (n > 1 only).
 */
static int produce(struct shmq_rproducer *p, struct item **b, unsigned n)
{
	uint32_t queue = b[0]->queue;
	for (int attempt = 0;; attempt++) {
		uint64_t first = p->next_seq;
		struct shmq_net_produce_hdr h = { .queue = queue, .count = n, .producer_id = p->id,
						  .first_seq = first,
						  .selector_hint = queue == SHMQ_NET_QUEUE_ANY ? b[0]->hint : 0,
						  .delivery = net_delivery(p->o.delivery) };
		memcpy(h.topic, p->topic, sizeof(h.topic));
		size_t need = sizeof(h);
		for (unsigned i = 0; i < n; i++)
			need += sizeof(struct shmq_net_entry) + pad8(b[i]->len);
		int rc = body_reserve(p, need);
		struct shmq_net_builder bd;
		shmq_net_builder_init(&bd, p->body, p->body_cap);
		shmq_net_builder_put(&bd, &h, sizeof(h));
		for (unsigned i = 0; i < n; i++) {
			uint64_t seq = first + i;
			memcpy(b[i]->enc + offsetof(struct shmq_ringmsg_hdr, producer_seq), &seq, sizeof(seq));
			shmq_net_builder_raw_msg(&bd, 0, b[i]->enc, b[i]->len);
		}
		int64_t len = rc < 0 ? rc : shmq_net_builder_finish(&bd);
		const uint8_t *resp = NULL;
		uint32_t rlen = 0;
		if (len >= 0)
			rc = shmq_rconn_call(&p->k, SHMQ_NET_PRODUCE, p->body, (uint32_t)len, SHMQ_NET_PRODUCE_ACK,
					     &resp, &rlen);
		else
			rc = (int)len;
		struct shmq_net_produce_ack_hdr a = { 0 };
		if (rc == 0) {
			memcpy(&a, resp, sizeof(a)); /* body-checked by the endpoint */
			rc = a.status;
		}
		if (rc == SHMQ_ESEQGAP && attempt < GAP_RETRIES) {
			p->next_seq = a.next_seq; /* renumber the batch from there */
			continue;
		}
		if (rc == 0 && (a.count != n || (queue != SHMQ_NET_QUEUE_ANY && a.queue != queue)))
			rc = -EPROTO;
		if (rc == 0)
			rc = learn_queues(p, a.queue, a.queues);
		if (rc < 0 && n > 1 && rc != -ETIMEDOUT && rc != -ENOMEM && rc != -EPROTO)
			return rc; /* a refusal: the caller sends them one by one */
		/* never reuse sequences that may be stored (see Failures) */
		if (rc == 0)
			p->next_seq = a.next_seq;
		else if (rc == -ETIMEDOUT || rc == -EPROTO)
			p->next_seq = first + n;
		for (unsigned i = 0; i < n; i++) {
			b[i]->status = rc;
			if (rc < 0)
				continue;
			struct shmq_net_produce_result pr;
			memcpy(&pr, resp + sizeof(a) + (size_t)i * sizeof(pr), sizeof(pr));
			b[i]->res = (struct shmq_send_result){ .queue_id = a.queue, .queue_offset = pr.queue_offset,
							       .store_offset = pr.store_offset, .producer_id = p->id,
							       .producer_seq = first + i };
			result_msgid(p, &b[i]->res);
		}
		return 0;
	}
}

/* Items go to the same queue: the same resolved queue, or both QUEUE_ANY
 * with the same hint. */
static bool same_queue(const struct item *a, const struct item *b)
{
	return a->queue == b->queue && (a->queue != SHMQ_NET_QUEUE_ANY || a->hint == b->hint);
}

/* Send everything in @p list (FIFO) and complete it. */
static void drain(struct shmq_rproducer *p, struct item *list)
{
	struct item *b[SHMQ_NET_BATCH_MAX];
	uint32_t resolved = 0;
	while (list) {
		/* acquire: pairs with the release in learn_queues() (same thread:
		 * any order would do) */
		uint32_t nq = atomic_load_explicit(&p->nq, memory_order_acquire);
		/* once per count learnt, not per batch: the list can hold
		 * hundreds of thousands of async sends (a walk per batch made
		 * draining quadratic: the top of the client's profile) */
		if (nq && nq != resolved) {
			for (struct item *it = list; it; it = it->next)
				if (it->queue == SHMQ_NET_QUEUE_ANY)
					it->queue = (uint32_t)(it->hint % nq); /* as the broker would */
			resolved = nq;
		}
		/* the first item's queue, and every later item of the same
		 * queue, in order, within the budget */
		unsigned n = 0;
		size_t bytes = 0;
		struct item *head = list, **pp = &list;
		while (*pp && n < SHMQ_NET_BATCH_MAX) {
			struct item *it = *pp;
			if (!same_queue(it, head)) {
				pp = &it->next;
				continue;
			}
			if (n > 0 && bytes + it->len > BATCH_BYTES)
				break;
			bytes += it->len;
			b[n++] = it;
			*pp = it->next;
		}
		if (b[0]->queue != SHMQ_NET_QUEUE_ANY && b[0]->queue >= SHMQ_NET_QUEUES_MAX) {
			for (unsigned i = 0; i < n; i++)
				b[i]->status = -EINVAL;
		} else if (produce(p, b, n) < 0) {
			for (unsigned i = 0; i < n; i++)
				produce(p, &b[i], 1); /* one message: never refused back to us */
		}
		for (unsigned i = 0; i < n; i++)
			complete(p, b[i]);
		pthread_mutex_lock(&p->mu);
		p->npending -= n;
		p->pending_bytes -= bytes;
		if (p->pending_bytes < PENDING_BYTES_MAX)
			pthread_cond_broadcast(&p->room);
		if (p->npending == 0)
			pthread_cond_broadcast(&p->idle);
		pthread_mutex_unlock(&p->mu);
	}
}

static void *io_main(void *arg)
{
	struct shmq_rproducer *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while ((!p->head || p->draining) && !(p->stop && !p->draining && !p->head))
			pthread_cond_wait(&p->work, &p->mu);
		if (!p->head)
			break; /* stop, and everything sent */
		struct item *list = p->head;
		p->head = p->tail = NULL;
		p->draining = true;
		pthread_mutex_unlock(&p->mu);
		drain(p, list);
		pthread_mutex_lock(&p->mu);
		p->draining = false;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* senders                                                             */

/* Encode @p m (sequence 0 for now) into a new item for @p queue / @p hint. */
static int item_new(struct shmq_rproducer *p, const struct shmq_message *m, uint32_t queue, uint64_t hint,
		    struct item **out)
{
	struct shmq_ringmsg_in in = {
		.born_ts_ms = m->born_ts_ms ? m->born_ts_ms : shmq_wall_ms(),
		.born_host = p->host,
		.producer_id = p->id,
		.body = m->body,
		.body_len = m->body_len,
		.keys = m->keys,
		.tags = m->tags,
		.props = (const struct shmq_ringmsg_prop *)m->props,
		.nprops = m->nprops,
	};
	int64_t sz = shmq_ringmsg_size(&in);
	if (sz < 0)
		return (int)sz;
	/* a PRODUCE of this one message must fit a network message */
	if ((uint64_t)sz > SHMQ_NET_MSG_MAX - sizeof(struct shmq_net_produce_hdr) - sizeof(struct shmq_net_entry) - 8)
		return SHMQ_ETOOBIG;
	struct item *it = calloc(1, sizeof(*it));
	uint8_t *enc = malloc((size_t)sz);
	if (!it || !enc) {
		free(it);
		free(enc);
		return -ENOMEM;
	}
	int64_t w = shmq_ringmsg_encode(enc, (size_t)sz, &in);
	if (w != sz) {
		free(it);
		free(enc);
		return w < 0 ? (int)w : -EINVAL;
	}
	it->enc = enc;
	it->len = (uint32_t)sz;
	it->queue = queue;
	it->hint = hint;
	*out = it;
	return 0;
}

/* The queue for @p m, or QUEUE_ANY with the hint the broker reduces (RM4). */
static uint32_t select_queue(struct shmq_rproducer *p, const struct shmq_message *m, uint64_t *hint)
{
	*hint = 0;
	/* acquire: pairs with the release in learn_queues() */
	uint32_t nq = atomic_load_explicit(&p->nq, memory_order_acquire);
	if (nq)
		return shmq_select_queue(p->o.select, p->o.selector, p->o.selector_arg, &p->rr, m, nq);
	if (p->o.select == SHMQ_SELECT_HASH && m->sharding_key && m->sharding_key_len)
		*hint = shmq_select_hash(m->sharding_key, m->sharding_key_len);
	else if (p->o.select == SHMQ_SELECT_HASH && m->keys && m->keys[0])
		*hint = shmq_select_hash(m->keys, strlen(m->keys));
	else /* relaxed: a counter for spreading, as shmq_select_queue()'s */
		*hint = atomic_fetch_add_explicit(&p->rr, 1, memory_order_relaxed);
	return SHMQ_NET_QUEUE_ANY;
}

/* Append items (a chain of @p n) under mu and wake the I/O thread. */
static void enqueue(struct shmq_rproducer *p, struct item *first, struct item *last, unsigned n)
{
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = first;
	else
		p->head = first;
	p->tail = last;
	p->npending += n;
	for (struct item *it = first; it; it = it->next)
		p->pending_bytes += it->len;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

int shmq_rproducer_send_batch(struct shmq_rproducer *p, const struct shmq_message *msgs, unsigned n,
			      struct shmq_send_result *res)
{
	if (!p || (!msgs && n))
		return -EINVAL;
	if (n == 0)
		return 0;
	uint64_t hint;
	uint32_t queue = select_queue(p, &msgs[0], &hint);
	struct waiter w = { .left = n, .res = res };
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cond, &ca);
	pthread_condattr_destroy(&ca);
	struct item *first = NULL, *last = NULL;
	int rc = 0;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		struct item *it;
		rc = item_new(p, &msgs[i], queue, hint, &it);
		if (rc < 0)
			break;
		it->w = &w;
		it->widx = i;
		if (last)
			last->next = it;
		else
			first = it;
		last = it;
	}
	if (rc < 0) {
		while (first) {
			struct item *nx = first->next;
			free(first->enc);
			free(first);
			first = nx;
		}
		pthread_cond_destroy(&w.cond);
		return rc;
	}
	pthread_mutex_lock(&p->mu);
	if (!p->head && !p->draining && !p->stop) {
		/* caller runs (see the file comment) */
		p->draining = true;
		p->npending += n;
		for (struct item *it = first; it; it = it->next)
			p->pending_bytes += it->len;
		pthread_mutex_unlock(&p->mu);
		drain(p, first);
		pthread_mutex_lock(&p->mu);
		p->draining = false;
		if (p->head || p->stop)
			pthread_cond_signal(&p->work); /* queued meanwhile: the I/O thread's now */
		pthread_mutex_unlock(&p->mu);
	} else {
		pthread_mutex_unlock(&p->mu);
		enqueue(p, first, last, n);
	}
	pthread_mutex_lock(&p->mu);
	while (w.left > 0)
		pthread_cond_wait(&w.cond, &p->mu); /* the I/O thread completes every item (bounded by RM2) */
	pthread_mutex_unlock(&p->mu);
	pthread_cond_destroy(&w.cond);
	return w.status < 0 ? w.status : (int)n;
}

int shmq_rproducer_send(struct shmq_rproducer *p, const struct shmq_message *m, struct shmq_send_result *res)
{
	if (!p || !m)
		return -EINVAL;
	int rc = shmq_rproducer_send_batch(p, m, 1, res);
	return rc < 0 ? rc : 0;
}

/* An async sender waits while PENDING_BYTES_MAX bytes are unsent. 0 or -ETIMEDOUT. */
static int wait_room(struct shmq_rproducer *p)
{
	int rc = 0;
	pthread_mutex_lock(&p->mu);
	if (p->pending_bytes >= PENDING_BYTES_MAX) {
		struct timespec ts;
		uint64_t t = p->o.send_timeout_ns ? p->o.send_timeout_ns : SEND_TIMEOUT_DEFAULT_NS;
		shmq_mono_deadline(&ts, t < 3600000000000ull ? t : 3600000000000ull);
		while (p->pending_bytes >= PENDING_BYTES_MAX && rc == 0)
			rc = pthread_cond_timedwait(&p->room, &p->mu, &ts) == ETIMEDOUT ? -ETIMEDOUT : 0;
		if (p->pending_bytes < PENDING_BYTES_MAX)
			rc = 0;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

int shmq_rproducer_send_async(struct shmq_rproducer *p, const struct shmq_message *m, shmq_send_cb cb, void *arg)
{
	if (!p || !m || !cb)
		return -EINVAL;
	uint64_t hint;
	uint32_t queue = select_queue(p, m, &hint);
	struct item *it;
	int rc = item_new(p, m, queue, hint, &it);
	if (rc < 0)
		return rc;
	it->cb = cb;
	it->arg = arg;
	if (wait_room(p) < 0) {
		free(it->enc);
		free(it);
		return SHMQ_BACK_PRESSURED;
	}
	enqueue(p, it, it, 1);
	return 0;
}

int shmq_rproducer_flush(struct shmq_rproducer *p, uint64_t timeout_ns)
{
	if (!p)
		return -EINVAL;
	struct timespec ts;
	shmq_mono_deadline(&ts, timeout_ns < 3600000000000ull ? timeout_ns : 3600000000000ull);
	int rc = 0;
	pthread_mutex_lock(&p->mu);
	while (p->npending > 0 && rc == 0)
		rc = pthread_cond_timedwait(&p->idle, &p->mu, &ts) == ETIMEDOUT ? -ETIMEDOUT : 0;
	if (p->npending == 0)
		rc = 0;
	pthread_mutex_unlock(&p->mu);
	return rc;
}

uint32_t shmq_rproducer_queues(const struct shmq_rproducer *p)
{
	/* acquire: pairs with the release in learn_queues() */
	return p ? atomic_load_explicit(&((struct shmq_rproducer *)p)->nq, memory_order_acquire) : 0;
}

/* ------------------------------------------------------------------ */
/* open / close                                                        */

int shmq_rproducer_open(struct shmq_remote *r, const struct shmq_producer_opts *opts, struct shmq_rproducer **out)
{
	*out = NULL;
	if (!opts || opts->sz < offsetof(struct shmq_producer_opts, topic) + sizeof(opts->topic) || !opts->topic)
		return -EINVAL;
	struct shmq_rproducer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	memcpy(&p->o, opts, opts->sz < sizeof(p->o) ? opts->sz : sizeof(p->o));
	p->o.sz = sizeof(p->o);
	p->r = r;
	int rc = shmq_ctl_name_set(p->topic, opts->topic, false);
	p->o.topic = p->topic;
	if (rc == 0 && ((unsigned)p->o.delivery > SHMQ_DELIVERY_DURABLE || (unsigned)p->o.select > SHMQ_SELECT_CUSTOM))
		rc = -EINVAL;
	if (rc == 0 && p->o.select == SHMQ_SELECT_CUSTOM && !p->o.selector)
		rc = -EINVAL; /* as locally */
	/* not shared yet: the I/O thread starts below */
	if (rc == 0 && p->o.select == SHMQ_SELECT_CUSTOM)
		rc = learn_queues_at_open(p);
	if (rc == 0 && p->o.delivery != SHMQ_DELIVERY_RING)
		rc = shmq_remote_broker_id(r, &p->broker_id);
	if (rc < 0) {
		free(p);
		return rc;
	}
	if (getrandom(&p->id, sizeof(p->id), 0) != (ssize_t)sizeof(p->id) || p->id == 0)
		p->id = shmq_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)p;
	p->host = (uint64_t)getpid();
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->idle, &ca);
	pthread_cond_init(&p->room, &ca);
	pthread_condattr_destroy(&ca);
	rc = shmq_rconn_init(r, &p->k);
	if (rc == 0)
		rc = -pthread_create(&p->thread, NULL, io_main, p);
	if (rc < 0) {
		shmq_rconn_fini(&p->k);
		pthread_cond_destroy(&p->work);
		pthread_cond_destroy(&p->idle);
		pthread_cond_destroy(&p->room);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

void shmq_rproducer_close(struct shmq_rproducer *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true; /* the thread sends what is pending first */
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	shmq_rconn_fini(&p->k);
	free(p->body);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->idle);
	pthread_cond_destroy(&p->room);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
