/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Producer: writes ringmsg payloads (common/ringmsg.h) straight into the
 * topic's rings, one ring per queue, and waits for the delivery level.
 *
 * ## Concurrency
 *  - send/send_batch/send_async run on any number of threads at once: the
 *    ring is multi-producer; the queue's sequence counter is a fetch-add;
 *    the ring pointer of a queue is an atomic pointer swapped (release) when
 *    a reconnect finds the broker serving another ring file (old rings stay
 *    mapped until close, so a sender still holding one is never left with a
 *    dangling pointer).
 *  - Async completions: senders append (pos, cb) to the queue's FIFO under
 *    alock; one completion thread pops them in FIFO order once the ring's
 *    mark passed their record, so completions of a queue run in send order.
 *
 * ## Delivery levels
 * RING: done when shmq_ring_commit() returned. PERSISTED / DURABLE: wait until
 * the ring's PERSISTED / FLUSHED mark passed the record (marks are record
 * boundaries, so mark > pos means the whole record), then read the result
 * words the persister wrote into the record (store offset, queue offset) and
 * re-check that the record was not reclaimed while reading them
 * (shmq_ring_read_check, seqlock style); if it was, the offsets are unknown
 * but the send still succeeded.
 *
 * ## Broker restarts
 * The ring file outlives the broker: nothing to do while it restarts (a full
 * ring back-pressures). Waiting paths call shmq_cli_check_alive() (which
 * reconnects); a new client epoch makes the next send re-OPEN_QUEUE every
 * queue and swap a ring only if the broker hands a different file (st_dev /
 * st_ino).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/client_int.h"
#include "client/remote.h"
#include "common/atomic.h"
#include "common/clock.h"
#include "common/ringmsg.h"
#include "ebpf/probes.h"

/* Ring record framing (shm/ring_layout.h): record header 16 bytes, batch
 * inner header 8 bytes, payloads padded to 8. Needed to ask
 * shmq_ring_wait_space() for a whole record. */
#define RING_REC_HDR   16u
#define RING_INNER_HDR 8u
#define ALIGN8(x) (((x) + 7u) & ~(uint64_t)7u)

/* struct shmq_prop is passed to the encoder as struct shmq_ringmsg_prop. */
static_assert(sizeof(struct shmq_prop) == sizeof(struct shmq_ringmsg_prop) &&
		      offsetof(struct shmq_prop, key) == offsetof(struct shmq_ringmsg_prop, key) &&
		      offsetof(struct shmq_prop, value) == offsetof(struct shmq_ringmsg_prop, value),
	      "shmq_prop and shmq_ringmsg_prop must share their layout");

struct pending {
	struct pending *next;
	shmq_ring_t *ring;
	uint64_t pos;            /* record position */
	const void *payload;     /* the message in the ring (result words) */
	uint64_t t0;
	uint64_t seq;
	uint32_t queue;
	shmq_send_cb cb;
	void *arg;
	/* DURABLE: results read once PERSISTED passed the record (by the
	 * flush the ring may have reclaimed it) */
	bool collected;
	struct shmq_send_result res;
};

struct pq {
	_Atomic(shmq_ring_t *) ring;
	_Atomic uint64_t seq;
	dev_t dev;               /* identity of the ring file (under lock) */
	ino_t ino;
	struct pending *head, *tail; /* async FIFO (under alock) */
	struct pending *collect;     /* DURABLE: first entry without results (under alock) */
};

struct shmq_producer {
	shmq_client_t *c;
	char topic[SHMQ_CTL_NAME_LEN];
	uint32_t nq;
	struct shmq_producer_opts o;
	uint64_t id;
	uint32_t ring_pid;
	uint64_t host;
	_Atomic uint32_t rr;
	_Atomic uint32_t epoch;  /* client epoch the rings were checked against */
	struct pq *q;
	pthread_mutex_t lock;    /* ring refresh; retired rings */
	shmq_ring_t **retired;
	size_t nretired;
	/* async */
	pthread_mutex_t alock;
	pthread_cond_t acond;    /* new pending work, or stop */
	pthread_cond_t dcond;    /* pending dropped to zero */
	uint64_t npending;
	bool stop;
	bool thread_started;
	pthread_t thread;
	struct shmq_rproducer *remote; /* non-NULL: a remote broker's producer; nothing above is used */
};

/* ------------------------------------------------------------------ */
/* queue selection                                                     */

uint32_t shmq_select_hash(const void *key, size_t len)
{
	/* FNV-1a 64 then the murmur3 finaliser, whose avalanche makes every
	 * output bit usable for `% queues`; both fixed forever (keys must map to
	 * the same queue in every process and release) */
	const uint8_t *p = key;
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h;
}

uint32_t shmq_select_queue(enum shmq_select sel, shmq_selector_fn fn, void *arg, _Atomic uint32_t *rr,
			   const struct shmq_message *m, uint32_t queues)
{
	if (queues <= 1)
		return 0;
	if (sel == SHMQ_SELECT_CUSTOM && fn)
		return fn(arg, m, queues) % queues;
	if (sel == SHMQ_SELECT_HASH) {
		if (m->sharding_key && m->sharding_key_len)
			return shmq_select_hash(m->sharding_key, m->sharding_key_len) % queues;
		if (m->keys && m->keys[0])
			return shmq_select_hash(m->keys, strlen(m->keys)) % queues;
	}
	/* relaxed: a counter for spreading; no data depends on it */
	return atomic_fetch_add_explicit(rr, 1, memory_order_relaxed) % queues;
}

/* ------------------------------------------------------------------ */
/* rings                                                               */

static shmq_ring_t *q_ring(struct pq *q)
{
	/* acquire: pairs with the release exchange in attach_queue(); the
	 * handle's fields are initialised before it is published */
	return atomic_load_explicit(&q->ring, memory_order_acquire);
}

static int attach_queue(shmq_producer_t *p, uint32_t qi, bool initial)
{
	struct shmq_ctl_msg *m = malloc(2 * sizeof(*m));
	if (!m)
		return -ENOMEM;
	shmq_ctl_msg_init(&m[0], SHMQ_CTL_OPEN_QUEUE, 0, 0);
	memcpy(m[0].u.open_queue_req.topic, p->topic, sizeof(p->topic));
	m[0].u.open_queue_req.queue = qi;
	m[0].u.open_queue_req.mode = SHMQ_CTL_OPEN_PRODUCE;
	int fd = -1;
	int rc = shmq_cli_request(p->c, &m[0], &m[1], &fd);
	free(m);
	if (rc < 0)
		return rc;
	if (fd < 0)
		return -EBADMSG;
	struct pq *q = &p->q[qi];
	struct stat st;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!initial && st.st_dev == q->dev && st.st_ino == q->ino) {
		close(fd); /* the same file: keep writing where we are */
		return 0;
	}
	shmq_ring_t *r;
	rc = shmq_ring_attach_fd(fd, &r);
	close(fd);
	if (rc < 0)
		return rc;
	if (!initial) {
		shmq_ring_t **nr = realloc(p->retired, (p->nretired + 1) * sizeof(*nr));
		if (!nr) {
			shmq_ring_close(r);
			return -ENOMEM;
		}
		p->retired = nr;
	}
	q->dev = st.st_dev;
	q->ino = st.st_ino;
	/* release: pairs with the acquire in q_ring() */
	shmq_ring_t *old = atomic_exchange_explicit(&q->ring, r, memory_order_acq_rel);
	if (old)
		p->retired[p->nretired++] = old; /* still used by in-flight senders */
	return 0;
}

/* After a reconnect: re-open every queue, swap rings whose file changed. */
static int producer_refresh(shmq_producer_t *p)
{
	uint32_t e = shmq_cli_epoch(p->c);
	/* relaxed: a hint; re-checked under the lock */
	if (shmq_load_relaxed(&p->epoch) == e)
		return 0;
	pthread_mutex_lock(&p->lock);
	int rc = 0;
	if (shmq_load_relaxed(&p->epoch) != e) {
		for (uint32_t i = 0; i < p->nq && rc == 0; i++)
			rc = attach_queue(p, i, false);
		if (rc == 0)
			shmq_store_relaxed(&p->epoch, e); /* relaxed: only read under the lock or as a hint */
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* ------------------------------------------------------------------ */
/* encoding                                                            */

/* @p now_ms: the born timestamp of messages that carry none (read once per
 * call: a batch's messages share it, saving a clock read per message). */
static int msg_in(const shmq_producer_t *p, const struct shmq_message *m, uint64_t seq, uint64_t now_ms,
		  struct shmq_ringmsg_in *in)
{
	if (!m || (m->body_len && !m->body) || (m->nprops && !m->props))
		return -EINVAL;
	memset(in, 0, sizeof(*in));
	in->born_ts_ms = m->born_ts_ms ? m->born_ts_ms : now_ms;
	in->born_host = p->host;
	in->producer_id = p->id;
	in->producer_seq = seq;
	in->body = m->body;
	in->body_len = m->body_len;
	in->keys = m->keys;
	in->tags = m->tags;
	in->props = (const struct shmq_ringmsg_prop *)(const void *)m->props;
	in->nprops = m->nprops;
	return 0;
}

/* Payload size of @p in, checked against the ring's largest message. */
static int64_t msg_size(const shmq_ring_t *r, const struct shmq_ringmsg_in *in)
{
	int64_t n = shmq_ringmsg_size(in);
	if (n < 0)
		return n;
	return (uint64_t)n > shmq_ring_max_msg(r) ? SHMQ_ETOOBIG : n;
}

/* ------------------------------------------------------------------ */
/* waiting                                                             */

/* now + ns, saturating (UINT64_MAX timeouts mean forever) */
static uint64_t deadline_after(uint64_t ns)
{
	uint64_t now = shmq_now_ns();
	return ns > UINT64_MAX - now ? UINT64_MAX : now + ns;
}

static uint64_t slice(uint64_t deadline)
{
	uint64_t now = shmq_now_ns();
	if (now >= deadline)
		return 0;
	return deadline - now < SHMQ_CLI_CHECK_NS ? deadline - now : SHMQ_CLI_CHECK_NS;
}

/* Between slices of a wait: notice a dead broker, follow a reconnect. */
static void wait_housekeeping(shmq_producer_t *p)
{
	shmq_cli_check_alive(p->c);
	producer_refresh(p);
}

/* Wait until a whole record of @p total bytes could fit, up to @p deadline. */
static int wait_space(shmq_producer_t *p, shmq_ring_t *r, uint64_t total, uint64_t deadline)
{
	uint64_t t = slice(deadline);
	if (t == 0)
		return SHMQ_BACK_PRESSURED;
	int rc = shmq_ring_wait_space(r, (uint32_t)total, t);
	if (rc == 0 || rc == -ETIMEDOUT || rc == -EINTR) {
		wait_housekeeping(p);
		return 0; /* try again (the deadline ends it) */
	}
	return rc;
}

static enum shmq_ring_mark_kind level_mark(const shmq_producer_t *p)
{
	return p->o.delivery == SHMQ_DELIVERY_DURABLE ? SHMQ_RING_MARK_FLUSHED : SHMQ_RING_MARK_PERSISTED;
}

/* Wait until mark @p k passed the record at @p pos. */
static int wait_mark(shmq_producer_t *p, shmq_ring_t *r, enum shmq_ring_mark_kind k, uint64_t pos)
{
	uint64_t deadline = deadline_after(p->o.ack_timeout_ns);
	for (;;) {
		uint64_t t = slice(deadline);
		int rc = shmq_ring_wait_mark(r, k, pos + 1, t);
		if (rc == 0)
			return 0;
		if (rc != -ETIMEDOUT && rc != -EINTR)
			return rc;
		if (t == 0)
			return -ETIMEDOUT;
		shmq_cli_check_alive(p->c);
	}
}

static void result_init(const shmq_producer_t *p, uint32_t qi, uint64_t seq, struct shmq_send_result *res)
{
	memset(res, 0, sizeof(*res));
	res->queue_id = qi;
	res->queue_offset = SHMQ_OFFSET_UNKNOWN;
	res->store_offset = SHMQ_OFFSET_UNKNOWN;
	res->producer_id = p->id;
	res->producer_seq = seq;
}

/* Read the result words of a persisted message (see the file comment). */
static void result_read(shmq_producer_t *p, shmq_ring_t *r, uint64_t pos, const void *payload,
			struct shmq_send_result *res)
{
	uint64_t so, qo;
	shmq_ringmsg_result_get(payload, &so, &qo);
	/* acquire fence: the result words are read before the reclaim check
	 * below (seqlock read side; pairs with the ring's release of reclaim) */
	shmq_fence_acquire();
	if (shmq_ring_read_check(r, pos) != 0 || so == UINT64_MAX || qo == UINT64_MAX)
		return; /* reclaimed, or not written (e.g. stored before a restart) */
	res->store_offset = so;
	res->queue_offset = qo;
	if (shmq_msgid_encode(shmq_cli_broker_id(p->c), so, res->msg_id) < 0)
		res->msg_id[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* sending                                                             */

struct written {
	shmq_ring_t *ring;
	uint32_t queue;
	uint64_t pos;
	uint64_t seq;
	const void *payload;
};

/* Reserve, encode in place, commit one message. */
static int write_one(shmq_producer_t *p, const struct shmq_message *m, struct written *w)
{
	/* a send that will wait for the broker anyway first makes sure it
	 * writes into the ring the live broker drains (rate-limited check) */
	if (p->o.delivery != SHMQ_DELIVERY_RING)
		shmq_cli_check_alive(p->c);
	producer_refresh(p);
	uint32_t qi = shmq_select_queue(p->o.select, p->o.selector, p->o.selector_arg, &p->rr, m, p->nq);
	struct pq *q = &p->q[qi];
	/* relaxed: a unique number per message; its order is not a guarantee */
	uint64_t seq = atomic_fetch_add_explicit(&q->seq, 1, memory_order_relaxed);
	struct shmq_ringmsg_in in;
	int rc = msg_in(p, m, seq, m->born_ts_ms ? 0 : shmq_wall_ms(), &in);
	if (rc < 0)
		return rc;
	/* The send timeout counts from the first refusal: a send that fits at
	 * once reads no clock for it (one clock read less per message). */
	uint64_t deadline = 0;
	for (;;) {
		shmq_ring_t *r = q_ring(q);
		int64_t len = msg_size(r, &in);
		if (len < 0)
			return (int)len;
		struct shmq_ring_claim cl;
		rc = shmq_ring_reserve(r, p->ring_pid, SHMQ_CLI_RING_TYPE, (uint32_t)len, &cl);
		if (rc == SHMQ_BACK_PRESSURED) {
			SHMQ_PROBE_BACKPRESSURE(shmq_probe_name_hash(p->topic), qi, shmq_ring_tail(r) - shmq_ring_oldest(r));
			if (!deadline)
				deadline = deadline_after(p->o.send_timeout_ns);
			rc = wait_space(p, r, RING_REC_HDR + ALIGN8((uint64_t)len), deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		if (rc < 0)
			return rc;
		int64_t n = shmq_ringmsg_encode(cl.data, cl.len, &in);
		if (n < 0) {
			/* cannot happen (sized above); commit a message the broker
			 * will refuse rather than leave the record reserved */
			memset(cl.data, 0, cl.len);
		}
		int crc = shmq_ring_commit(r, &cl);
		if (n < 0)
			return (int)n;
		if (crc < 0)
			return crc;
		SHMQ_PROBE_PRODUCE_BATCH(shmq_probe_name_hash(p->topic), qi, cl.pos, 1, len, shmq_probe_now_ns());
		*w = (struct written){ .ring = r, .queue = qi, .pos = cl.pos, .seq = seq, .payload = cl.data };
		return 0;
	}
}

SHMQ_API int shmq_producer_send(shmq_producer_t *p, const struct shmq_message *m,
				struct shmq_send_result *res)
{
	if (!p || !m)
		return -EINVAL;
	if (p->remote)
		return shmq_rproducer_send(p->remote, m, res);
	struct written w;
	int rc = write_one(p, m, &w);
	if (rc < 0)
		return rc;
	struct shmq_send_result tmp;
	if (!res)
		res = &tmp;
	result_init(p, w.queue, w.seq, res);
	if (p->o.delivery == SHMQ_DELIVERY_RING)
		return 0;
	/* results at PERSISTED: by the flush the record may be reclaimed */
	rc = wait_mark(p, w.ring, SHMQ_RING_MARK_PERSISTED, w.pos);
	if (rc < 0)
		return rc;
	result_read(p, w.ring, w.pos, w.payload, res);
	return level_mark(p) == SHMQ_RING_MARK_PERSISTED ? 0 : wait_mark(p, w.ring, level_mark(p), w.pos);
}

SHMQ_API int shmq_producer_send_batch(shmq_producer_t *p, const struct shmq_message *msgs, unsigned n,
				      struct shmq_send_result *res)
{
	if (!p || (!msgs && n))
		return -EINVAL;
	if (p->remote)
		return shmq_rproducer_send_batch(p->remote, msgs, n, res);
	if (n == 0)
		return 0;
	if (p->o.delivery != SHMQ_DELIVERY_RING)
		shmq_cli_check_alive(p->c);
	producer_refresh(p);
	uint32_t qi = shmq_select_queue(p->o.select, p->o.selector, p->o.selector_arg, &p->rr, &msgs[0], p->nq);
	struct pq *q = &p->q[qi];
	/* per message: encoded length, seq, position and payload in the ring
	 * (on the stack for common batch sizes, else on the heap) */
	enum { STACK_N = 256 };
	uint32_t lens_s[STACK_N];
	struct written w_s[STACK_N];
	bool heap = n > STACK_N;
	uint32_t *lens = heap ? malloc((size_t)n * sizeof(*lens)) : lens_s;
	struct written *w = heap ? malloc((size_t)n * sizeof(*w)) : w_s;
	if (!lens || !w) {
		if (heap) {
			free(lens);
			free(w);
		}
		return -ENOMEM;
	}
	uint64_t now_ms = shmq_wall_ms();
	/* relaxed: unique numbers, as in write_one() */
	uint64_t seq0 = atomic_fetch_add_explicit(&q->seq, n, memory_order_relaxed);
	int rc = 0;
	shmq_ring_t *r = q_ring(q);
	struct shmq_ringmsg_in in;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		rc = msg_in(p, &msgs[i], seq0 + i, now_ms, &in);
		int64_t len = rc == 0 ? msg_size(r, &in) : rc;
		if (len < 0)
			rc = (int)len;
		else
			lens[i] = (uint32_t)len;
	}
	/* one record holds at most SHMQ_RING_BATCH_MAX messages and a quarter
	 * of the ring (the ring's largest record) */
	uint64_t rec_max = shmq_ring_capacity(r) / 4;
	uint64_t deadline = 0; /* from the first refusal, as in write_one() */
	unsigned sent = 0;
	while (rc == 0 && sent < n) {
		unsigned k = 0;
		uint64_t total = RING_REC_HDR;
		while (sent + k < n && k < SHMQ_RING_BATCH_MAX) {
			uint64_t add = RING_INNER_HDR + ALIGN8((uint64_t)lens[sent + k]);
			if (k > 0 && total + add > rec_max)
				break;
			total += add;
			k++;
		}
		struct shmq_ring_batch b;
		r = q_ring(q);
		rc = shmq_ring_batch_reserve(r, p->ring_pid, SHMQ_CLI_RING_TYPE, k, &lens[sent], &b);
		if (rc == SHMQ_BACK_PRESSURED) {
			SHMQ_PROBE_BACKPRESSURE(shmq_probe_name_hash(p->topic), qi, shmq_ring_tail(r) - shmq_ring_oldest(r));
			if (!deadline)
				deadline = deadline_after(p->o.send_timeout_ns);
			rc = wait_space(p, r, total, deadline);
			continue;
		}
		if (rc < 0)
			break;
		for (unsigned i = 0; i < k; i++) {
			void *d = shmq_ring_batch_data(&b, i);
			msg_in(p, &msgs[sent + i], seq0 + sent + i, now_ms, &in);
			if (shmq_ringmsg_encode(d, lens[sent + i], &in) < 0)
				memset(d, 0, lens[sent + i]); /* cannot happen: sized above */
			w[sent + i] = (struct written){ .ring = r, .queue = qi, .pos = b.pos,
							.seq = seq0 + sent + i, .payload = d };
		}
		rc = shmq_ring_batch_commit(r, &b);
		if (rc < 0)
			break;
		SHMQ_PROBE_PRODUCE_BATCH(shmq_probe_name_hash(p->topic), qi, b.pos, k, total, shmq_probe_now_ns());
		sent += k;
	}
	if (sent == 0) {
		if (heap) {
			free(lens);
			free(w);
		}
		return rc < 0 ? rc : SHMQ_BACK_PRESSURED;
	}
	/* one wait per mark: marks only grow, the last record passing means all
	 * did; results at PERSISTED (by the flush the records may be reclaimed) */
	int wrc = 0;
	if (p->o.delivery != SHMQ_DELIVERY_RING)
		wrc = wait_mark(p, w[sent - 1].ring, SHMQ_RING_MARK_PERSISTED, w[sent - 1].pos);
	for (unsigned i = 0; res && i < sent && wrc == 0; i++) {
		result_init(p, qi, w[i].seq, &res[i]);
		if (p->o.delivery != SHMQ_DELIVERY_RING)
			result_read(p, w[i].ring, w[i].pos, w[i].payload, &res[i]);
	}
	if (wrc == 0 && level_mark(p) == SHMQ_RING_MARK_FLUSHED)
		wrc = wait_mark(p, w[sent - 1].ring, SHMQ_RING_MARK_FLUSHED, w[sent - 1].pos);
	if (wrc < 0) {
		if (heap) {
			free(lens);
			free(w);
		}
		return wrc;
	}
	if (heap) {
		free(lens);
		free(w);
	}
	return (int)sent;
}

/* ------------------------------------------------------------------ */
/* async                                                               */

static void complete(shmq_producer_t *p, struct pending *e, int status)
{
	struct shmq_send_result res;
	if (e->collected) {
		res = e->res;
	} else {
		result_init(p, e->queue, e->seq, &res);
		if (status == 0)
			result_read(p, e->ring, e->pos, e->payload, &res);
	}
	e->cb(e->arg, status, status == 0 ? &res : NULL);
	pthread_mutex_lock(&p->alock);
	if (--p->npending == 0)
		pthread_cond_broadcast(&p->dcond);
	pthread_mutex_unlock(&p->alock);
	free(e);
}

/* Complete every head entry whose mark passed (or timed out). */
static bool complete_ready(shmq_producer_t *p)
{
	bool progressed = false;
	for (uint32_t qi = 0; qi < p->nq; qi++) {
		struct pq *q = &p->q[qi];
		if (p->o.delivery == SHMQ_DELIVERY_DURABLE) {
			/* in ring order: stop at the first record not persisted yet;
			 * only this thread pops or collects, senders only append */
			pthread_mutex_lock(&p->alock);
			struct pending *e = q->collect;
			for (; e; e = e->next) {
				if (shmq_ring_mark(e->ring, SHMQ_RING_MARK_PERSISTED) <= e->pos)
					break;
				result_init(p, e->queue, e->seq, &e->res);
				result_read(p, e->ring, e->pos, e->payload, &e->res);
				e->collected = true;
			}
			q->collect = e; /* NULL: all collected; the next append sets it */
			pthread_mutex_unlock(&p->alock);
		}
		for (;;) {
			pthread_mutex_lock(&p->alock);
			struct pending *e = q->head;
			pthread_mutex_unlock(&p->alock);
			if (!e)
				break;
			int rc = shmq_ring_wait_mark(e->ring, level_mark(p), e->pos + 1, 0);
			if (rc == -ETIMEDOUT && shmq_now_ns() - e->t0 < p->o.ack_timeout_ns)
				break;
			/* only this thread pops: e is still the head */
			pthread_mutex_lock(&p->alock);
			q->head = e->next;
			if (!q->head)
				q->tail = NULL;
			if (q->collect == e) /* completed (timed out) before its results came */
				q->collect = e->next;
			pthread_mutex_unlock(&p->alock);
			complete(p, e, rc);
			progressed = true;
		}
	}
	return progressed;
}

static void *completion_thread(void *arg)
{
	shmq_producer_t *p = arg;
	pthread_mutex_lock(&p->alock);
	for (;;) {
		while (p->npending == 0 && !p->stop)
			pthread_cond_wait(&p->acond, &p->alock);
		if (p->npending == 0 && p->stop)
			break;
		pthread_mutex_unlock(&p->alock);
		if (!complete_ready(p)) {
			/* sleep on the first waiting record's ring (woken by its mark);
			 * other queues are looked at again within 1 ms */
			struct pending *e = NULL;
			pthread_mutex_lock(&p->alock);
			for (uint32_t qi = 0; qi < p->nq && !e; qi++)
				e = p->q[qi].head;
			shmq_ring_t *r = e ? e->ring : NULL;
			uint64_t pos = e ? e->pos : 0;
			pthread_mutex_unlock(&p->alock);
			if (r)
				shmq_ring_wait_mark(r, level_mark(p), pos + 1, 1000000);
			shmq_cli_check_alive(p->c);
		}
		pthread_mutex_lock(&p->alock);
	}
	pthread_mutex_unlock(&p->alock);
	return NULL;
}

SHMQ_API int shmq_producer_send_async(shmq_producer_t *p, const struct shmq_message *m, shmq_send_cb cb,
				      void *arg)
{
	if (!p || !m || !cb)
		return -EINVAL;
	if (p->remote)
		return shmq_rproducer_send_async(p->remote, m, cb, arg);
	struct pending *e = NULL;
	if (p->o.delivery != SHMQ_DELIVERY_RING && !(e = malloc(sizeof(*e))))
		return -ENOMEM;
	struct written w;
	int rc = write_one(p, m, &w);
	if (rc < 0) {
		free(e);
		return rc;
	}
	if (!e) {
		struct shmq_send_result res;
		result_init(p, w.queue, w.seq, &res);
		cb(arg, 0, &res);
		return 0;
	}
	*e = (struct pending){ .ring = w.ring, .pos = w.pos, .payload = w.payload, .t0 = shmq_now_ns(),
			       .seq = w.seq, .queue = w.queue, .cb = cb, .arg = arg };
	struct pq *q = &p->q[w.queue];
	pthread_mutex_lock(&p->alock);
	if (q->tail)
		q->tail->next = e;
	else
		q->head = e;
	q->tail = e;
	if (!q->collect)
		q->collect = e;
	if (p->npending++ == 0)
		pthread_cond_signal(&p->acond);
	pthread_mutex_unlock(&p->alock);
	return 0;
}

SHMQ_API int shmq_producer_flush(shmq_producer_t *p, uint64_t timeout_ns)
{
	if (!p)
		return -EINVAL;
	if (p->remote)
		return shmq_rproducer_flush(p->remote, timeout_ns);
	uint64_t deadline = deadline_after(timeout_ns);
	int rc = 0;
	pthread_mutex_lock(&p->alock);
	while (p->npending > 0) {
		uint64_t now = shmq_now_ns();
		if (now >= deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		uint64_t wait = deadline - now < 3600000000000ull ? deadline - now : 3600000000000ull;
		struct timespec ts;
		shmq_mono_deadline(&ts, wait);
		pthread_cond_timedwait(&p->dcond, &p->alock, &ts);
	}
	pthread_mutex_unlock(&p->alock);
	return rc;
}

SHMQ_API uint32_t shmq_producer_queues(const shmq_producer_t *p)
{
	return p ? (p->remote ? shmq_rproducer_queues(p->remote) : p->nq) : 0;
}

/* ------------------------------------------------------------------ */
/* open / close                                                        */

static void producer_free(shmq_producer_t *p)
{
	if (p->remote) {
		shmq_rproducer_close(p->remote);
		free(p);
		return;
	}
	if (p->thread_started) {
		pthread_mutex_lock(&p->alock);
		p->stop = true;
		pthread_cond_signal(&p->acond);
		pthread_mutex_unlock(&p->alock);
		pthread_join(p->thread, NULL);
	}
	for (uint32_t i = 0; p->q && i < p->nq; i++)
		shmq_ring_close(atomic_load_explicit(&p->q[i].ring, memory_order_relaxed)); /* relaxed: alone at close */
	for (size_t i = 0; i < p->nretired; i++)
		shmq_ring_close(p->retired[i]);
	free(p->retired);
	free(p->q);
	pthread_cond_destroy(&p->acond);
	pthread_cond_destroy(&p->dcond);
	pthread_mutex_destroy(&p->alock);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

SHMQ_API void shmq_producer_close(shmq_producer_t *p)
{
	if (p)
		producer_free(p);
}

static uint64_t random_id(void)
{
	uint64_t id = 0;
	if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
		id = shmq_now_ns() ^ ((uint64_t)getpid() << 32);
	return id ? id : 1;
}

SHMQ_API int shmq_producer_open(shmq_client_t *c, const struct shmq_producer_opts *opts,
				shmq_producer_t **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!c || !opts || opts->sz < offsetof(struct shmq_producer_opts, topic) + sizeof(opts->topic) ||
	    !opts->topic)
		return -EINVAL;
	shmq_producer_t *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (shmq_cli_remote(c)) {
		int rrc = shmq_rproducer_open(shmq_cli_remote(c), opts, &p->remote);
		if (rrc < 0)
			free(p);
		else
			*out = p;
		return rrc;
	}
	memcpy(&p->o, opts, opts->sz < sizeof(p->o) ? opts->sz : sizeof(p->o));
	p->o.sz = sizeof(p->o);
	/* zero fields (or fields an older caller's struct lacks) get defaults */
	if (!p->o.send_timeout_ns)
		p->o.send_timeout_ns = 3000000000ull;
	if (!p->o.ack_timeout_ns)
		p->o.ack_timeout_ns = 10000000000ull;
	p->c = c;
	p->id = random_id();
	p->ring_pid = (uint32_t)(p->id ^ (p->id >> 32));
	if (!p->ring_pid)
		p->ring_pid = 1;
	p->host = (uint64_t)getpid();
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->alock, NULL);
	pthread_cond_init(&p->acond, NULL);
	pthread_cond_init(&p->dcond, &ca);
	pthread_condattr_destroy(&ca);
	int rc = 0;
	if ((unsigned)p->o.delivery > SHMQ_DELIVERY_DURABLE || (unsigned)p->o.select > SHMQ_SELECT_CUSTOM ||
	    (p->o.select == SHMQ_SELECT_CUSTOM && !p->o.selector))
		rc = -EINVAL;
	if (rc == 0)
		rc = shmq_ctl_name_set(p->topic, opts->topic, false);
	p->o.topic = p->topic;
	/* relaxed: not shared yet */
	shmq_store_relaxed(&p->epoch, shmq_cli_epoch(c));
	struct shmq_topic_info ti;
	if (rc == 0) {
		rc = shmq_topic_describe(c, p->topic, &ti);
		if (rc == SHMQ_ENOTFOUND) {
			/* a broker that creates topics on first use does so on OPEN_QUEUE */
			p->nq = 1;
			p->q = calloc(1, sizeof(*p->q));
			rc = p->q ? attach_queue(p, 0, true) : -ENOMEM;
			if (rc == 0)
				rc = shmq_topic_describe(c, p->topic, &ti);
			if (p->q) /* relaxed: not shared */
				shmq_ring_close(atomic_load_explicit(&p->q[0].ring, memory_order_relaxed));
			free(p->q);
			p->q = NULL;
			p->nq = 0;
		}
	}
	if (rc == 0 && (ti.queues == 0 || ti.queues > SHMQ_CTL_QUEUES_MAX))
		rc = -EBADMSG;
	if (rc == 0) {
		p->nq = ti.queues;
		p->q = calloc(p->nq, sizeof(*p->q));
		if (!p->q)
			rc = -ENOMEM;
	}
	for (uint32_t i = 0; rc == 0 && i < p->nq; i++)
		rc = attach_queue(p, i, true);
	if (rc == 0 && p->o.delivery != SHMQ_DELIVERY_RING) {
		if (pthread_create(&p->thread, NULL, completion_thread, p) != 0)
			rc = -EAGAIN;
		else
			p->thread_started = true;
	}
	if (rc < 0) {
		producer_free(p);
		return rc;
	}
	*out = p;
	return 0;
}
