/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a peer holding the secret (or one that recorded a HELLO) cannot make
 * the server endpoint do (dpdk_net/endpoint.h), driven frame by frame from a
 * raw UDP socket against an in-process server on loopback:
 *  - a HELLO recorded before the server started (by a previous run, whose
 *    seen nonces are gone) opens no session;
 *  - a small request resent with ever new attempt numbers does not make the
 *    server resend its large cached answer each time (a per-session byte
 *    budget of cached-answer resends);
 *  - new HELLOs do not push active sessions out of a full table.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/clock.h"
#include "common/ctl_codec.h"
#include "dpdk_net/auth.h"
#include "dpdk_net/endpoint.h"
#include "dpdk_net/frame_codec.h"
#include "dpdk_net/udp_backend.h"

static const char SECRET[] = "limits-test-shared-secret-0123456789";
#define BIG_MSGS 64
#define BIG_BODY 60000 /* a ~3.8 MB answer */

static uint8_t *big;
static unsigned served;

/* Every request gets the same large PULL_RESP. */
static int handler(void *ctx, const struct shmq_net_request *req, uint16_t *type, uint8_t *buf, size_t cap,
		   uint32_t *len)
{
	(void)ctx;
	(void)req;
	served++;
	struct shmq_net_pull_resp_hdr h = { .count = BIG_MSGS, .next_offset = BIG_MSGS, .max_offset = BIG_MSGS };
	struct shmq_net_builder b;
	shmq_net_builder_init(&b, buf, cap);
	shmq_net_builder_put(&b, &h, sizeof(h));
	for (uint32_t i = 0; i < BIG_MSGS; i++) {
		struct shmq_ringmsg_in m = { .producer_id = 1, .producer_seq = i, .body = big, .body_len = BIG_BODY };
		shmq_net_builder_msg(&b, i, &m);
	}
	int64_t n = shmq_net_builder_finish(&b);
	if (n < 0)
		return (int)n;
	*type = SHMQ_NET_PULL_RESP;
	*len = (uint32_t)n;
	return 0;
}

struct rig {
	struct shmq_net_backend *be;
	struct shmq_net_auth *sauth, *cauth;
	struct shmq_net_server *srv;
	int fd;
	struct sockaddr_in to;
};

static void rig_open_with(struct rig *r, uint32_t max_sessions)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(shmq_net_udp_open("udp://127.0.0.1:0", NULL, &r->be), 0);
	assert_int_equal(shmq_net_auth_create(SECRET, strlen(SECRET), NULL, &r->sauth), 0);
	assert_int_equal(shmq_net_auth_create(SECRET, strlen(SECRET), NULL, &r->cauth), 0);
	SHMQ_NET_SERVER_OPTS(so, .max_sessions = max_sessions);
	assert_int_equal(shmq_net_server_create(r->be, r->sauth, handler, NULL, &so, &r->srv), 0);
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(r->fd >= 0);
	struct timeval tv = { 0, 100000 };
	assert_int_equal(setsockopt(r->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	int rcvbuf = 8 << 20;
	(void)setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	r->to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = r->be->local.ip,
				      .sin_port = r->be->local.port };
}

static void rig_open(struct rig *r)
{
	rig_open_with(r, 0);
}

static void rig_close(struct rig *r)
{
	close(r->fd);
	shmq_net_server_destroy(r->srv);
	shmq_net_auth_destroy(r->sauth);
	shmq_net_auth_destroy(r->cauth);
	shmq_net_backend_destroy(r->be);
}

static void send_frame(struct rig *r, const struct shmq_net_msginfo *mi, const void *body, uint32_t len)
{
	uint8_t fr[2048];
	int n = shmq_net_frame_encode(mi, body, len, 1424, 0, fr, sizeof(fr));
	assert_true(n > 0);
	assert_int_equal(sendto(r->fd, fr, (size_t)n, 0, (struct sockaddr *)&r->to, sizeof(r->to)), n);
}

/* Send @p h as a HELLO; @return the session id answered, 0 if none. */
static uint64_t hello(struct rig *r, const struct shmq_net_hello *h)
{
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_HELLO, .attempt = 1, .request_id = 1 };
	send_frame(r, &mi, h, sizeof(*h));
	(void)shmq_net_server_poll(r->srv, 100000000ull);
	uint8_t rb[2048];
	ssize_t n = recv(r->fd, rb, sizeof(rb), 0);
	if (n <= 0)
		return 0;
	struct shmq_net_frame f;
	assert_int_equal(shmq_net_frame_decode(rb, (size_t)n, &f), 0);
	assert_int_equal(f.h.type, SHMQ_NET_HELLO_ACK);
	struct shmq_net_hello_ack ack;
	memcpy(&ack, f.payload, sizeof(ack));
	return ack.session_id;
}

static void drain(struct rig *r, uint64_t *frames)
{
	uint8_t rb[2048];
	while (recv(r->fd, rb, sizeof(rb), MSG_DONTWAIT) > 0)
		(*frames)++;
}

/* The PULL these tests send: the handler answers every request alike. */
static void small_pull(struct shmq_net_pull *p)
{
	memset(p, 0, sizeof(*p));
	assert_int_equal(shmq_ctl_name_set(p->group, "g", false), 0);
	assert_int_equal(shmq_ctl_name_set(p->topic, "t", false), 0);
	p->max_bytes = 1;
	p->max_msgs = 1;
}

static void test_a_hello_recorded_before_the_server_started_opens_no_session(void **state)
{
	(void)state;
	struct shmq_net_auth *victim;
	assert_int_equal(shmq_net_auth_create(SECRET, strlen(SECRET), NULL, &victim), 0);
	struct shmq_net_hello recorded;
	assert_int_equal(shmq_net_auth_hello(victim, "alice", 1472, shmq_wall_ns(), &recorded), 0);
	usleep(2000);
	struct rig r;
	rig_open(&r); /* "the broker restarted": fresh nonce memory, same secret */
	assert_int_equal(hello(&r, &recorded), 0);
	struct shmq_net_server_stats st;
	shmq_net_server_stats(r.srv, &st);
	assert_int_equal(st.sessions_opened, 0);
	assert_true(st.hello_refused >= 1);
	/* a HELLO made now is fine */
	struct shmq_net_hello fresh;
	assert_int_equal(shmq_net_auth_hello(victim, "alice", 1472, shmq_wall_ns(), &fresh), 0);
	assert_true(hello(&r, &fresh) != 0);
	shmq_net_auth_destroy(victim);
	rig_close(&r);
}

static void test_a_request_resent_with_new_attempt_numbers_is_not_answered_in_full_each_time(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	struct shmq_net_hello h;
	assert_int_equal(shmq_net_auth_hello(r.cauth, "mallory", 1472, shmq_wall_ns(), &h), 0);
	uint64_t sid = hello(&r, &h);
	assert_true(sid != 0);
	struct shmq_net_pull p;
	small_pull(&p);
	const unsigned attempts = 50;
	uint64_t frames = 0;
	for (unsigned a = 1; a <= attempts; a++) {
		struct shmq_net_msginfo mi = { .type = SHMQ_NET_PULL, .attempt = (uint16_t)a, .session_id = sid,
					       .request_id = 5 };
		send_frame(&r, &mi, &p, sizeof(p));
		while (shmq_net_server_poll(r.srv, 1000000ull) == 0)
			;
		drain(&r, &frames);
	}
	struct shmq_net_server_stats st;
	shmq_net_server_stats(r.srv, &st);
	fprintf(stderr, "%u attempts: served %u, resent %llu, limited %llu, %llu frames back\n", attempts, served,
		(unsigned long long)st.answers_resent, (unsigned long long)st.resends_limited,
		(unsigned long long)frames);
	assert_int_equal(served, 1);
	/* 16 MiB of burst plus 16 MiB/s: a few resends of a 3.8 MB answer,
	 * not one per attempt (which took 1.5 s of the net thread for 200) */
	assert_true(st.answers_resent >= 1);
	assert_true(st.answers_resent < attempts / 2);
	assert_true(st.resends_limited >= attempts / 2);
	rig_close(&r);
}

/* A request on session @p sid; @return whether an answer came back. */
static bool answered(struct rig *r, uint64_t sid, uint64_t request_id)
{
	struct shmq_net_pull p;
	small_pull(&p);
	struct shmq_net_msginfo mi = { .type = SHMQ_NET_PULL, .attempt = 1, .session_id = sid,
				       .request_id = request_id };
	send_frame(r, &mi, &p, sizeof(p));
	(void)shmq_net_server_poll(r->srv, 100000000ull);
	uint64_t frames = 0;
	usleep(20000);
	drain(r, &frames);
	return frames > 0;
}

static void test_a_full_session_table_refuses_new_hellos_instead_of_evicting_active_sessions(void **state)
{
	(void)state;
	struct rig r;
	rig_open_with(&r, 2);
	uint64_t sid[2];
	for (int i = 0; i < 2; i++) {
		struct shmq_net_hello h;
		assert_int_equal(shmq_net_auth_hello(r.cauth, "svc", 1472, shmq_wall_ns(), &h), 0);
		sid[i] = hello(&r, &h);
		assert_true(sid[i] != 0);
	}
	for (int k = 0; k < 5; k++) { /* another key holder saying HELLO over and over */
		struct shmq_net_hello h;
		assert_int_equal(shmq_net_auth_hello(r.cauth, "mallory", 1472, shmq_wall_ns(), &h), 0);
		assert_int_equal(hello(&r, &h), 0);
	}
	struct shmq_net_server_stats st;
	shmq_net_server_stats(r.srv, &st);
	assert_int_equal(st.sessions_evicted, 0);
	assert_int_equal(st.sessions_full, 5);
	assert_true(answered(&r, sid[0], 11));
	assert_true(answered(&r, sid[1], 12));
	/* the same principal's new session takes its own oldest one's slot */
	struct shmq_net_hello h;
	assert_int_equal(shmq_net_auth_hello(r.cauth, "svc", 1472, shmq_wall_ns(), &h), 0);
	assert_true(hello(&r, &h) != 0);
	shmq_net_server_stats(r.srv, &st);
	assert_int_equal(st.sessions_evicted, 1);
	assert_false(answered(&r, sid[0], 13)); /* the least recently active went */
	assert_true(answered(&r, sid[1], 14));
	rig_close(&r);
}

int main(void)
{
	big = calloc(1, BIG_BODY);
	if (!big)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_hello_recorded_before_the_server_started_opens_no_session),
		cmocka_unit_test(test_a_request_resent_with_new_attempt_numbers_is_not_answered_in_full_each_time),
		cmocka_unit_test(test_a_full_session_table_refuses_new_hellos_instead_of_evicting_active_sessions),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	free(big);
	return rc;
}
