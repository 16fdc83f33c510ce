/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Two processes over kernel UDP on 127.0.0.1 (dpdk_net/udp_backend.h +
 * endpoint.h): a server process with a small in-memory queue behind the
 * protocol (idempotent produce, pull by offset, long-poll, commit) and this
 * client process. Both sides drop 10% of the frames they send (the loss
 * hook), so every request, answer and fragment is retried through loss.
 * The server process checks its own counters when told to stop and exits 0
 * only if they show what the client did to it.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "dpdk_net/endpoint.h"
#include "dpdk_net/udp_backend.h"
#include "net_test_util.h"
#include "shmq/error.h"

static const char SECRET[] = "udp-test-shared-secret-0123456789";
#define LOSS_PCT 10u
#define TOPIC "orders"

/* ---------------- server process ---------------- */

struct qmsg {
	uint8_t *ringmsg;
	uint32_t len;
};

struct pending_pull {
	uint64_t session, request, deadline_ns;
	struct shmq_net_pull p;
	int used;
};

static struct {
	struct qmsg *log;
	uint64_t len, cap, bytes;
	struct shmq_net_idem *idem;
	uint64_t committed;
	struct pending_pull pend[8];
	uint64_t deferred;
} q;

static volatile sig_atomic_t stop_flag;
static uint64_t loss_state;

static void on_term(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static bool lossy(void *ctx, const struct shmq_net_pkt *p)
{
	(void)p;
	uint64_t *st = ctx;
	*st ^= *st >> 12;
	*st ^= *st << 25;
	*st ^= *st >> 27;
	return (*st * 2685821657736338717ull) % 100 < LOSS_PCT;
}

static bool topic_ok(const char f[SHMQ_NET_NAME_LEN])
{
	return strcmp(f, TOPIC) == 0;
}

static int serve_produce(const struct shmq_net_request *req, uint8_t *buf, size_t cap, uint32_t *len)
{
	struct shmq_net_produce_hdr h;
	struct shmq_net_entry_iter it;
	struct shmq_ringmsg_view v;
	uint64_t qo;
	if (shmq_net_entries_begin(req->body, req->len, &h, sizeof(h), &it) < 0)
		return -EBADMSG;
	if (!topic_ok(h.topic) || h.queue != 0)
		return SHMQ_ENOTFOUND;
	uint32_t dups;
	uint64_t next;
	struct shmq_net_produce_ack_hdr a = { .first_seq = h.first_seq, .queue = 0 };
	int rc = shmq_net_idem_check(q.idem, h.producer_id, 0, h.first_seq, h.count, &dups, &next);
	if (rc < 0) {
		a.status = rc;
		a.next_seq = next;
		memcpy(buf, &a, sizeof(a));
		*len = sizeof(a);
		return 0;
	}
	struct shmq_net_produce_result *res = (struct shmq_net_produce_result *)(void *)(buf + sizeof(a));
	assert_true(sizeof(a) + h.count * sizeof(*res) <= cap);
	for (uint32_t i = 0; i < h.count; i++) {
		const uint8_t *start = it.p + sizeof(struct shmq_net_entry);
		assert_int_equal(shmq_net_entry_next(&it, &qo, &v), 1);
		uint64_t seq = h.first_seq + i;
		struct shmq_net_produce_result r;
		if (i < dups) {
			if (shmq_net_idem_lookup(q.idem, h.producer_id, 0, seq, &r.queue_offset, &r.store_offset) < 0)
				r.queue_offset = r.store_offset = UINT64_MAX;
		} else {
			uint32_t ml = (uint32_t)(v.props + v.props_len - (const char *)start);
			if (q.len == q.cap) {
				q.cap = q.cap ? q.cap * 2 : 1024;
				q.log = realloc(q.log, q.cap * sizeof(*q.log));
			}
			q.log[q.len].ringmsg = malloc(ml);
			memcpy(q.log[q.len].ringmsg, start, ml);
			q.log[q.len].len = ml;
			r.queue_offset = q.len++;
			r.store_offset = q.bytes;
			q.bytes += ml;
			assert_int_equal(shmq_net_idem_record(q.idem, h.producer_id, 0, seq, r.queue_offset,
							      r.store_offset), 0);
		}
		memcpy(&res[i], &r, sizeof(r));
	}
	a.count = h.count;
	a.next_seq = h.first_seq + h.count;
	memcpy(buf, &a, sizeof(a));
	*len = (uint32_t)(sizeof(a) + h.count * sizeof(*res));
	return 0;
}

/* PULL_RESP for p: messages from p.offset within max_msgs and max_bytes. */
static uint32_t build_pull(const struct shmq_net_pull *p, uint8_t *buf, size_t cap)
{
	struct shmq_net_pull_resp_hdr h = { .status = 0, .queue = p->queue, .max_offset = q.len };
	struct shmq_net_builder b;
	shmq_net_builder_init(&b, buf, cap);
	shmq_net_builder_put(&b, &h, sizeof(h));
	uint64_t o = p->offset;
	size_t limit = p->max_bytes < cap ? p->max_bytes : cap;
	for (; o < q.len && h.count < p->max_msgs; o++) {
		size_t need = sizeof(struct shmq_net_entry) + ((q.log[o].len + 7u) & ~7u);
		if (h.count > 0 && b.len + need > limit)
			break;
		shmq_net_builder_raw_msg(&b, o, q.log[o].ringmsg, q.log[o].len);
		h.count++;
	}
	assert_true(shmq_net_builder_finish(&b) > 0);
	h.next_offset = p->offset > q.len ? q.len : o;
	memcpy(buf, &h, sizeof(h));
	return (uint32_t)b.len;
}

static int handler(void *ctx, const struct shmq_net_request *req, uint16_t *type, uint8_t *buf, size_t cap,
		   uint32_t *len)
{
	(void)ctx;
	switch (req->type) {
	case SHMQ_NET_PRODUCE:
		*type = SHMQ_NET_PRODUCE_ACK;
		return serve_produce(req, buf, cap, len);
	case SHMQ_NET_PULL: {
		struct shmq_net_pull p;
		memcpy(&p, req->body, sizeof(p));
		if (!topic_ok(p.topic) || p.queue != 0)
			return SHMQ_ENOTFOUND;
		if (p.offset >= q.len && p.timeout_ms > 0) {
			for (int i = 0; i < 8; i++) {
				if (q.pend[i].used)
					continue;
				q.pend[i] = (struct pending_pull){ .session = req->session_id, .request = req->request_id,
								   .deadline_ns = shmq_now_ns() + p.timeout_ms * 1000000ull,
								   .p = p, .used = 1 };
				q.deferred++;
				return SHMQ_NET_DEFERRED;
			}
		}
		*type = SHMQ_NET_PULL_RESP;
		*len = build_pull(&p, buf, cap);
		return 0;
	}
	case SHMQ_NET_COMMIT: {
		struct shmq_net_commit c;
		memcpy(&c, req->body, sizeof(c));
		q.committed = c.offset;
		struct shmq_net_status s = { 0 };
		memcpy(buf, &s, sizeof(s));
		*type = SHMQ_NET_COMMIT_ACK;
		*len = sizeof(s);
		return 0;
	}
	default:
		return -EOPNOTSUPP;
	}
}

static void answer_pending(struct shmq_net_server *srv, uint8_t *buf)
{
	uint64_t now = shmq_now_ns();
	for (int i = 0; i < 8; i++) {
		struct pending_pull *pp = &q.pend[i];
		if (!pp->used || (pp->p.offset >= q.len && now < pp->deadline_ns))
			continue;
		uint32_t n = build_pull(&pp->p, buf, SHMQ_NET_MSG_MAX);
		shmq_net_server_reply(srv, pp->session, pp->request, SHMQ_NET_PULL_RESP, buf, n);
		pp->used = 0;
	}
}

static int server_main(struct shmq_net_backend *be, uint64_t seed)
{
	struct sigaction sa = { .sa_handler = on_term };
	sigaction(SIGTERM, &sa, NULL);
	alarm(120); /* never outlive a broken parent */
	loss_state = seed | 1;
	shmq_net_set_loss(be, lossy, &loss_state);
	struct shmq_net_auth *auth;
	struct shmq_net_server *srv;
	if (shmq_net_auth_create(SECRET, strlen(SECRET), NULL, &auth) < 0)
		return 10;
	if (shmq_net_idem_create(NULL, &q.idem) < 0)
		return 11;
	if (shmq_net_server_create(be, auth, handler, NULL, NULL, &srv) < 0)
		return 12;
	uint8_t *buf = malloc(SHMQ_NET_MSG_MAX);
	while (!stop_flag) {
		if (shmq_net_server_poll(srv, 5000000ull) < 0)
			return 13;
		answer_pending(srv, buf);
	}
	struct shmq_net_server_stats st;
	struct shmq_net_auth_stats as;
	shmq_net_server_stats(srv, &st);
	shmq_net_auth_stats(auth, &as);
	fprintf(stderr,
		"server: frames %llu garbage %llu foreign %llu unknown_session %llu wrong_peer %llu "
		"hello_refused %llu (bad_mac %llu replayed %llu) sessions %llu requests %llu resent %llu "
		"frag_dropped %llu deferred %llu tx_hook_dropped %llu messages %llu\n",
		(unsigned long long)st.frames, (unsigned long long)st.garbage, (unsigned long long)st.foreign,
		(unsigned long long)st.unknown_session, (unsigned long long)st.wrong_peer,
		(unsigned long long)st.hello_refused, (unsigned long long)as.bad_mac,
		(unsigned long long)as.replayed, (unsigned long long)st.sessions_opened,
		(unsigned long long)st.requests, (unsigned long long)st.answers_resent,
		(unsigned long long)st.frag_dropped, (unsigned long long)q.deferred,
		(unsigned long long)be->st.tx_hook_dropped, (unsigned long long)q.len);
	int bad = 0;
	/* what the client did to us must show in the counters */
	bad |= (st.garbage + st.foreign < 150) << 0; /* the garbage test sent 200 */
	bad |= (st.unknown_session < 1) << 1;
	bad |= (st.wrong_peer < 1) << 2;
	bad |= (as.bad_mac < 1) << 3;               /* forged HELLO */
	bad |= (as.replayed < 1) << 4;              /* replayed HELLO */
	bad |= (be->st.tx_hook_dropped == 0) << 5;  /* loss really injected */
	bad |= (q.deferred < 1) << 6;               /* a long poll was held */
	shmq_net_server_destroy(srv);
	shmq_net_auth_destroy(auth);
	shmq_net_idem_destroy(q.idem);
	for (uint64_t i = 0; i < q.len; i++)
		free(q.log[i].ringmsg);
	free(q.log);
	free(buf);
	return bad ? 20 + bad : 0;
}

/* ---------------- client process (the tests) ---------------- */

static pid_t server_pid;
static struct shmq_net_addr server_addr;
static struct shmq_net_backend *cbe;
static struct shmq_net_auth *cauth;
static struct shmq_net_client *cli;
static uint64_t client_loss;
static uint8_t *body_buf;

static int group_setup(void **state)
{
	(void)state;
	net_rng_seed("test_udp_endpoint");
	struct shmq_net_backend *sbe;
	if (shmq_net_udp_open("udp://127.0.0.1:0", NULL, &sbe) < 0)
		return -1;
	server_addr = sbe->local;
	uint64_t seed = net_rng();
	fflush(NULL);
	server_pid = fork();
	if (server_pid < 0)
		return -1;
	if (server_pid == 0) {
		int rc = server_main(sbe, seed);
		shmq_net_backend_destroy(sbe);
		_exit(rc);
	}
	shmq_net_backend_destroy(sbe);
	if (shmq_net_udp_open("udp://127.0.0.1:0", NULL, &cbe) < 0)
		return -1;
	client_loss = net_rng() | 1;
	shmq_net_set_loss(cbe, lossy, &client_loss);
	if (shmq_net_auth_create(SECRET, strlen(SECRET), NULL, &cauth) < 0)
		return -1;
	SHMQ_NET_CLIENT_OPTS(o, .principal = "svc-remote",
			     .retry = { .sz = sizeof(struct shmq_net_retry_opts), .deadline_ns = 20000000000ull });
	if (shmq_net_client_connect(cbe, &server_addr, cauth, &o, &cli) < 0)
		return -1;
	body_buf = malloc(SHMQ_NET_MSG_MAX);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	struct shmq_net_client_stats cs;
	shmq_net_client_stats(cli, &cs);
	fprintf(stderr, "client: calls %llu retransmits %llu hellos %llu ignored %llu frag_dropped %llu "
		"reissued %llu tx_hook_dropped %llu\n",
		(unsigned long long)cs.calls, (unsigned long long)cs.retransmits, (unsigned long long)cs.hellos,
		(unsigned long long)cs.ignored, (unsigned long long)cs.frag_dropped,
		(unsigned long long)cs.reissued, (unsigned long long)cbe->st.tx_hook_dropped);
	shmq_net_client_close(cli);
	shmq_net_auth_destroy(cauth);
	shmq_net_backend_destroy(cbe);
	free(body_buf);
	int status = 0;
	kill(server_pid, SIGTERM);
	if (waitpid(server_pid, &status, 0) != server_pid)
		return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "server process failed: status 0x%x\n", status);
		return -1;
	}
	return 0;
}

static void produce(uint64_t producer, uint64_t first_seq, uint32_t count, uint32_t len,
		    struct shmq_net_produce_ack_hdr *ack, uint64_t *qoffs)
{
	int64_t n = net_build_produce(body_buf, SHMQ_NET_MSG_MAX, TOPIC, 0, producer, first_seq, count, len);
	assert_true(n > 0);
	uint16_t t;
	const uint8_t *r;
	uint32_t rl;
	assert_int_equal(shmq_net_client_call(cli, SHMQ_NET_PRODUCE, body_buf, (uint32_t)n, &t, &r, &rl), 0);
	assert_int_equal(t, SHMQ_NET_PRODUCE_ACK);
	memcpy(ack, r, sizeof(*ack));
	for (uint32_t i = 0; i < ack->count && qoffs; i++)
		memcpy(&qoffs[i], r + sizeof(*ack) + i * sizeof(struct shmq_net_produce_result), sizeof(uint64_t));
}

/* PULL from offset; returns the response body (valid until the next call). */
static const uint8_t *pull(uint64_t offset, uint32_t max_msgs, uint32_t timeout_ms, uint32_t *rl)
{
	struct shmq_net_pull p;
	memset(&p, 0, sizeof(p));
	assert_int_equal(shmq_ctl_name_set(p.group, "g1", false), 0);
	assert_int_equal(shmq_ctl_name_set(p.topic, TOPIC, false), 0);
	p.offset = offset;
	p.max_msgs = max_msgs;
	p.max_bytes = 2u << 20;
	p.timeout_ms = timeout_ms;
	uint16_t t;
	const uint8_t *r;
	assert_int_equal(shmq_net_client_call(cli, SHMQ_NET_PULL, &p, sizeof(p), &t, &r, rl), 0);
	assert_int_equal(t, SHMQ_NET_PULL_RESP);
	return r;
}

#define NPROD 2
#define NBATCH 40
#define BATCHSZ 8
static uint64_t produced_qoff[NPROD][NBATCH * BATCHSZ];
static uint64_t next_offset; /* queue offsets below it were checked */

static void test_produce_batches_over_lossy_udp_are_stored_exactly_once_in_order(void **state)
{
	(void)state;
	struct shmq_net_produce_ack_hdr a;
	/* interleave two producers' batches */
	for (uint32_t b = 0; b < NBATCH; b++)
		for (uint64_t p = 0; p < NPROD; p++) {
			uint32_t len = 64 + (uint32_t)(net_rng() % 400);
			produce(100 + p, (uint64_t)b * BATCHSZ, BATCHSZ, len, &a, &produced_qoff[p][b * BATCHSZ]);
			assert_int_equal(a.status, 0);
			assert_int_equal(a.count, BATCHSZ);
		}
	/* a resend of an old batch under a new request: original offsets */
	uint64_t again[BATCHSZ];
	produce(100, 3 * BATCHSZ, BATCHSZ, 100, &a, again);
	assert_int_equal(a.status, 0);
	assert_memory_equal(again, &produced_qoff[0][3 * BATCHSZ], sizeof(again));
	/* a gap is refused, naming the sequence expected */
	produce(100, NBATCH * BATCHSZ + 5, 1, 10, &a, NULL);
	assert_int_equal(a.status, SHMQ_ESEQGAP);
	assert_int_equal(a.next_seq, NBATCH * BATCHSZ);

	/* the queue holds each message exactly once, per-producer in order */
	uint64_t seen[NPROD] = { 0 };
	uint64_t off = 0;
	for (;;) {
		uint32_t rl;
		const uint8_t *r = pull(off, 64, 0, &rl);
		struct shmq_net_pull_resp_hdr h;
		struct shmq_net_entry_iter it;
		struct shmq_ringmsg_view v;
		uint64_t qo;
		assert_int_equal(shmq_net_entries_begin(r, rl, &h, sizeof(h), &it), 0);
		assert_int_equal(h.status, 0);
		if (h.count == 0)
			break;
		while (shmq_net_entry_next(&it, &qo, &v) == 1) {
			assert_int_equal(qo, off);
			uint64_t p = v.producer_id - 100;
			assert_true(p < NPROD);
			assert_int_equal(v.producer_seq, seen[p]);
			assert_int_equal(produced_qoff[p][seen[p]], qo);
			uint8_t want[512];
			net_fill_body(want, v.body_len, v.producer_id, v.producer_seq);
			assert_memory_equal(v.body, want, v.body_len);
			seen[p]++;
			off++;
		}
		assert_int_equal(h.next_offset, off);
	}
	for (int p = 0; p < NPROD; p++)
		assert_int_equal(seen[p], NBATCH * BATCHSZ);
	next_offset = off;
}

static void test_one_mib_message_is_fragmented_and_reassembled_both_ways(void **state)
{
	(void)state;
	uint32_t big = 1u << 20;
	struct shmq_net_produce_ack_hdr a;
	uint64_t qo;
	produce(300, 0, 1, big, &a, &qo);
	assert_int_equal(a.status, 0);
	assert_int_equal(qo, next_offset);
	uint32_t rl;
	const uint8_t *r = pull(qo, 1, 0, &rl);
	assert_true(rl > big);
	struct shmq_net_pull_resp_hdr h;
	struct shmq_net_entry_iter it;
	struct shmq_ringmsg_view v;
	uint64_t got;
	assert_int_equal(shmq_net_entries_begin(r, rl, &h, sizeof(h), &it), 0);
	assert_int_equal(h.count, 1);
	assert_int_equal(shmq_net_entry_next(&it, &got, &v), 1);
	assert_int_equal(got, qo);
	assert_int_equal(v.body_len, big);
	uint8_t *want = malloc(big);
	net_fill_body(want, big, 300, 0);
	assert_memory_equal(v.body, want, big);
	free(want);
	/* resending it (a new request, same producer sequence) stores nothing */
	uint64_t qo2;
	produce(300, 0, 1, big, &a, &qo2);
	assert_int_equal(qo2, qo);
	r = pull(qo + 1, 1, 0, &rl);
	memcpy(&h, r, sizeof(h));
	assert_int_equal(h.count, 0);
	assert_int_equal(h.max_offset, qo + 1);
	next_offset = qo + 1;
}

static void test_long_poll_pull_is_held_then_answered_empty_at_its_timeout(void **state)
{
	(void)state;
	uint64_t t0 = shmq_now_ns();
	uint32_t rl;
	const uint8_t *r = pull(next_offset, 8, 300, &rl);
	uint64_t dt = shmq_now_ns() - t0;
	struct shmq_net_pull_resp_hdr h;
	memcpy(&h, r, sizeof(h));
	assert_int_equal(h.status, 0);
	assert_int_equal(h.count, 0);
	assert_int_equal(h.next_offset, next_offset);
	/* held by the server, not answered at once (a lost answer only adds) */
	assert_true(dt >= 250000000ull);
	/* commit round trip */
	struct shmq_net_commit c;
	memset(&c, 0, sizeof(c));
	assert_int_equal(shmq_ctl_name_set(c.group, "g1", false), 0);
	assert_int_equal(shmq_ctl_name_set(c.topic, TOPIC, false), 0);
	c.offset = next_offset;
	uint16_t t;
	assert_int_equal(shmq_net_client_call(cli, SHMQ_NET_COMMIT, &c, sizeof(c), &t, &r, &rl), 0);
	assert_int_equal(t, SHMQ_NET_COMMIT_ACK);
}

/* Receive on @p be until a HELLO_ACK answering @p h arrives or @p ms pass. */
static bool ack_arrives(struct shmq_net_backend *be, struct shmq_net_auth *a, const struct shmq_net_hello *h,
			unsigned ms)
{
	uint64_t until = shmq_now_ns() + ms * 1000000ull;
	struct shmq_net_pkt pk[64];
	for (uint64_t now; (now = shmq_now_ns()) < until;) {
		int n = shmq_net_recv(be, pk, 64, until - now);
		for (int i = 0; i < n; i++) {
			struct shmq_net_frame f;
			struct shmq_net_hello_ack ack;
			if (shmq_net_frame_decode(pk[i].data, pk[i].len, &f) != 0 || f.h.type != SHMQ_NET_HELLO_ACK)
				continue;
			memcpy(&ack, f.payload, sizeof(ack));
			if (shmq_net_auth_check_ack(a, h, &ack) == 0)
				return true;
		}
	}
	return false;
}

static void send_hello(struct shmq_net_backend *be, const struct shmq_net_hello *h)
{
	uint8_t fr[SHMQ_NET_FRAME_MAX];
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_HELLO, .attempt = 1, .request_id = 1 };
	int n = shmq_net_frame_encode(&mi, h, sizeof(*h), 1424, 0, fr, sizeof(fr));
	assert_true(n > 0);
	struct shmq_net_pkt p = { .addr = server_addr, .len = (uint32_t)n, .data = fr };
	assert_int_equal(shmq_net_send(be, &p, 1), 1);
}

static void test_forged_and_replayed_hellos_are_refused(void **state)
{
	(void)state;
	/* forged: another secret never gets a session */
	struct shmq_net_backend *be;
	struct shmq_net_auth *evil;
	struct shmq_net_client *c2 = NULL;
	assert_int_equal(shmq_net_udp_open("udp://127.0.0.1:0", NULL, &be), 0);
	const char other[] = "guessed-secret-guessed-secret";
	assert_int_equal(shmq_net_auth_create(other, strlen(other), NULL, &evil), 0);
	SHMQ_NET_CLIENT_OPTS(o, .principal = "mallory",
			     .retry = { .sz = sizeof(struct shmq_net_retry_opts), .deadline_ns = 300000000ull });
	assert_int_equal(shmq_net_client_connect(be, &server_addr, evil, &o, &c2), -ETIMEDOUT);
	assert_null(c2);
	/* replayed: a HELLO that was accepted once gets no second session */
	struct shmq_net_hello h;
	assert_int_equal(shmq_net_auth_hello(cauth, "svc-remote", 1472, (uint64_t)time(NULL) * 1000000000ull, &h), 0);
	send_hello(be, &h);
	bool first = ack_arrives(be, cauth, &h, 500); /* may be lost (server-side loss) */
	send_hello(be, &h);
	send_hello(be, &h);
	assert_false(ack_arrives(be, cauth, &h, 300));
	fprintf(stderr, "first HELLO acked: %d; replays unanswered\n", first);
	shmq_net_auth_destroy(evil);
	shmq_net_backend_destroy(be);
}

static void test_garbage_frames_are_ignored_and_the_session_keeps_working(void **state)
{
	(void)state;
	struct shmq_net_backend *be;
	assert_int_equal(shmq_net_udp_open("udp://127.0.0.1:0", NULL, &be), 0);
	static uint8_t junk[200][1472];
	struct shmq_net_pkt p[200];
	for (int i = 0; i < 200; i++) {
		uint32_t len = (uint32_t)(net_rng() % sizeof(junk[i]));
		for (uint32_t k = 0; k < len; k++)
			junk[i][k] = (uint8_t)net_rng();
		if (i % 4 == 0 && len >= 8) /* our magic and version, garbage after */
			memcpy(junk[i], "SQNT\x01\x00", 6);
		p[i] = (struct shmq_net_pkt){ .addr = server_addr, .len = len, .data = junk[i] };
	}
	assert_int_equal(shmq_net_send(be, p, 200), 200);
	/* valid frames of an unknown session, and of ours from another address */
	struct shmq_net_pull pl;
	memset(&pl, 0, sizeof(pl));
	assert_int_equal(shmq_ctl_name_set(pl.group, "g1", false), 0);
	assert_int_equal(shmq_ctl_name_set(pl.topic, TOPIC, false), 0);
	pl.max_msgs = 1;
	pl.max_bytes = 1000;
	uint64_t sessions[2] = { 0x5eed5eed5eedull, shmq_net_client_session(cli) };
	for (int k = 0; k < 2; k++)
		for (int rep = 0; rep < 5; rep++) {
			uint8_t fr[SHMQ_NET_FRAME_MAX];
			struct shmq_net_msginfo mi = { .type = SHMQ_NET_PULL, .attempt = 1, .session_id = sessions[k],
						       .request_id = 1000 + (uint64_t)rep };
			int n = shmq_net_frame_encode(&mi, &pl, sizeof(pl), 1424, 0, fr, sizeof(fr));
			assert_true(n > 0);
			struct shmq_net_pkt one = { .addr = server_addr, .len = (uint32_t)n, .data = fr };
			assert_int_equal(shmq_net_send(be, &one, 1), 1);
		}
	/* nothing comes back to the sender of junk */
	struct shmq_net_pkt in[64];
	assert_int_equal(shmq_net_recv(be, in, 64, 200000000ull), 0);
	shmq_net_backend_destroy(be);
	/* and the real session is unharmed */
	uint32_t rl;
	const uint8_t *r = pull(0, 4, 0, &rl);
	struct shmq_net_pull_resp_hdr h;
	memcpy(&h, r, sizeof(h));
	assert_int_equal(h.count, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_produce_batches_over_lossy_udp_are_stored_exactly_once_in_order),
		cmocka_unit_test(test_one_mib_message_is_fragmented_and_reassembled_both_ways),
		cmocka_unit_test(test_long_poll_pull_is_held_then_answered_empty_at_its_timeout),
		cmocka_unit_test(test_forged_and_replayed_hellos_are_refused),
		cmocka_unit_test(test_garbage_frames_are_ignored_and_the_session_keeps_working),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
