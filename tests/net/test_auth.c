/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for dpdk_net/auth.h: HMAC-authenticated HELLO, replay window. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "dpdk_net/auth.h"
#include "dpdk_net/frame_codec.h"
#include "shmq/error.h"

static const char SECRET[] = "0123456789abcdef-shared-secret";
static const uint64_t NOW = 1795000000000000000ull; /* a wall-clock time, ns */
#define SEC 1000000000ull

static struct shmq_net_auth *mk(const char *secret, const struct shmq_net_auth_opts *o)
{
	struct shmq_net_auth *a;
	assert_int_equal(shmq_net_auth_create(secret, strlen(secret), o, &a), 0);
	return a;
}

static void test_hello_with_the_shared_secret_is_accepted_and_its_ack_verifies(void **state)
{
	(void)state;
	struct shmq_net_auth *cli = mk(SECRET, NULL), *srv = mk(SECRET, NULL);
	struct shmq_net_hello h;
	struct shmq_net_hello_ack ack;
	assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW, &h), 0);
	assert_int_equal(shmq_net_body_check(SHMQ_NET_HELLO, &h, sizeof(h)), 0);
	assert_int_equal(shmq_net_auth_check_hello(srv, &h, NOW + 2 * SEC), 0);
	uint64_t exp = shmq_net_auth_ack(srv, &h, 0x1234, 9000, NOW + 2 * SEC, &ack);
	assert_true(exp > NOW + 2 * SEC);
	assert_int_equal(shmq_net_body_check(SHMQ_NET_HELLO_ACK, &ack, sizeof(ack)), 0);
	assert_int_equal(shmq_net_auth_check_ack(cli, &h, &ack), 0);
	assert_true(ack.session_id == 0x1234 && ack.frame_max == 9000);
	/* a tampered ACK (another session id) fails its MAC */
	ack.session_id++;
	assert_int_equal(shmq_net_auth_check_ack(cli, &h, &ack), SHMQ_EAUTH);
	shmq_net_auth_destroy(cli);
	shmq_net_auth_destroy(srv);
}

static void test_forged_hello_from_another_secret_is_refused(void **state)
{
	(void)state;
	struct shmq_net_auth *evil = mk("not-the-shared-secret!", NULL), *srv = mk(SECRET, NULL);
	struct shmq_net_hello h;
	assert_int_equal(shmq_net_auth_hello(evil, "svc-a", 1472, NOW, &h), 0);
	assert_int_equal(shmq_net_auth_check_hello(srv, &h, NOW), SHMQ_EAUTH);
	struct shmq_net_auth_stats st;
	shmq_net_auth_stats(srv, &st);
	assert_int_equal(st.bad_mac, 1);
	assert_int_equal(st.accepted, 0);
	shmq_net_auth_destroy(evil);
	shmq_net_auth_destroy(srv);
}

static void test_any_changed_byte_of_a_hello_is_refused(void **state)
{
	(void)state;
	struct shmq_net_auth *cli = mk(SECRET, NULL), *srv = mk(SECRET, NULL);
	struct shmq_net_hello h, t;
	assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW, &h), 0);
	for (size_t i = 0; i < sizeof(h); i++) {
		t = h;
		((uint8_t *)&t)[i] ^= 0x20;
		assert_int_equal(shmq_net_auth_check_hello(srv, &t, NOW), SHMQ_EAUTH);
	}
	assert_int_equal(shmq_net_auth_check_hello(srv, &h, NOW), 0);
	shmq_net_auth_destroy(cli);
	shmq_net_auth_destroy(srv);
}

static void test_replayed_hello_is_refused(void **state)
{
	(void)state;
	struct shmq_net_auth *cli = mk(SECRET, NULL), *srv = mk(SECRET, NULL);
	struct shmq_net_hello h, h2;
	assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW, &h), 0);
	assert_int_equal(shmq_net_auth_check_hello(srv, &h, NOW), 0);
	assert_int_equal(shmq_net_auth_check_hello(srv, &h, NOW + SEC), SHMQ_EREPLAY);
	/* a new HELLO (fresh nonce) from the same client is fine */
	assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW + SEC, &h2), 0);
	assert_memory_not_equal(h.client_nonce, h2.client_nonce, sizeof(h.client_nonce));
	assert_int_equal(shmq_net_auth_check_hello(srv, &h2, NOW + SEC), 0);
	struct shmq_net_auth_stats st;
	shmq_net_auth_stats(srv, &st);
	assert_int_equal(st.replayed, 1);
	assert_int_equal(st.accepted, 2);
	shmq_net_auth_destroy(cli);
	shmq_net_auth_destroy(srv);
}

static void test_hello_outside_the_clock_skew_window_is_refused_as_stale(void **state)
{
	(void)state;
	SHMQ_NET_AUTH_OPTS(o, .skew_ns = 5 * SEC);
	struct shmq_net_auth *cli = mk(SECRET, NULL), *srv = mk(SECRET, &o);
	struct shmq_net_hello old, future, ok;
	assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW - 6 * SEC, &old), 0);
	assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW + 6 * SEC, &future), 0);
	assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW - 4 * SEC, &ok), 0);
	assert_int_equal(shmq_net_auth_check_hello(srv, &old, NOW), SHMQ_EREPLAY);
	assert_int_equal(shmq_net_auth_check_hello(srv, &future, NOW), SHMQ_EREPLAY);
	assert_int_equal(shmq_net_auth_check_hello(srv, &ok, NOW), 0);
	struct shmq_net_auth_stats st;
	shmq_net_auth_stats(srv, &st);
	assert_int_equal(st.stale, 2);
	shmq_net_auth_destroy(cli);
	shmq_net_auth_destroy(srv);
}

static void test_a_full_replay_table_never_lets_a_forgotten_nonce_back_in(void **state)
{
	(void)state;
	SHMQ_NET_AUTH_OPTS(o, .replay_slots = 4);
	struct shmq_net_auth *cli = mk(SECRET, NULL), *srv = mk(SECRET, &o);
	struct shmq_net_hello h[10];
	for (int i = 0; i < 10; i++) {
		assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW + (uint64_t)i, &h[i]), 0);
		assert_int_equal(shmq_net_auth_check_hello(srv, &h[i], NOW + 10), 0);
	}
	/* only 4 nonces are remembered: every older HELLO is now below the floor */
	for (int i = 0; i < 10; i++)
		assert_int_equal(shmq_net_auth_check_hello(srv, &h[i], NOW + 10), SHMQ_EREPLAY);
	struct shmq_net_hello late;
	assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW + 11, &late), 0);
	assert_int_equal(shmq_net_auth_check_hello(srv, &late, NOW + 11), 0);
	shmq_net_auth_destroy(cli);
	shmq_net_auth_destroy(srv);
}

static void test_an_ack_answering_another_hello_is_refused(void **state)
{
	(void)state;
	struct shmq_net_auth *cli = mk(SECRET, NULL), *srv = mk(SECRET, NULL);
	struct shmq_net_hello h1, h2;
	struct shmq_net_hello_ack ack;
	assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW, &h1), 0);
	assert_int_equal(shmq_net_auth_hello(cli, "svc-a", 1472, NOW, &h2), 0);
	assert_int_equal(shmq_net_auth_check_hello(srv, &h1, NOW), 0);
	shmq_net_auth_ack(srv, &h1, 77, 1472, NOW, &ack);
	assert_int_equal(shmq_net_auth_check_ack(cli, &h2, &ack), SHMQ_EAUTH);
	assert_int_equal(shmq_net_auth_check_ack(cli, &h1, &ack), 0);
	shmq_net_auth_destroy(cli);
	shmq_net_auth_destroy(srv);
}

static void test_bad_secrets_and_principals_are_refused(void **state)
{
	(void)state;
	struct shmq_net_auth *a;
	assert_int_equal(shmq_net_auth_create("short", 5, NULL, &a), -EINVAL);
	a = mk(SECRET, NULL);
	struct shmq_net_hello h;
	assert_int_equal(shmq_net_auth_hello(a, "", 1472, NOW, &h), -EINVAL);
	assert_int_equal(shmq_net_auth_hello(a, "bad name", 1472, NOW, &h), -EINVAL);
	assert_int_equal(shmq_net_auth_hello(a, "ok", 100, NOW, &h), -EINVAL);
	char longname[80];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(shmq_net_auth_hello(a, longname, 1472, NOW, &h), -EINVAL);
	assert_true(shmq_net_random_u64() != 0);
	shmq_net_auth_destroy(a);
	shmq_net_auth_destroy(NULL);
}

/* Write @p text to a fresh file in @p dir with @p mode; returns its path. */
static const char *secret_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

/* Broker and client read the same file the same way: a trailing newline is
 * not part of the secret, others' access and bad lengths are refused. */
static void test_secret_files_read_alike_with_or_without_a_trailing_newline(void **state)
{
	(void)state;
	char dir[] = "/tmp/shmq-secret-XXXXXX";
	assert_non_null(mkdtemp(dir));
	uint8_t s[SHMQ_NET_SECRET_MAX];
	size_t len = 0;
	char err[256];

	assert_int_equal(shmq_net_secret_read(secret_file(dir, "plain", SECRET, 0600), s, &len, err, sizeof(err)), 0);
	assert_int_equal(len, strlen(SECRET));
	assert_memory_equal(s, SECRET, len);
	char text[128];
	snprintf(text, sizeof(text), "%s\n", SECRET);
	assert_int_equal(shmq_net_secret_read(secret_file(dir, "nl", text, 0640), s, &len, err, sizeof(err)), 0);
	assert_int_equal(len, strlen(SECRET));
	assert_memory_equal(s, SECRET, len);
	snprintf(text, sizeof(text), "%s\r\n", SECRET);
	assert_int_equal(shmq_net_secret_read(secret_file(dir, "crlf", text, 0600), s, &len, err, sizeof(err)), 0);
	assert_int_equal(len, strlen(SECRET));
	assert_int_equal(shmq_net_secret_read(secret_file(dir, "world-r", SECRET, 0604), s, &len, err, sizeof(err)),
			 -EPERM);
	assert_non_null(strstr(err, "readable or writable by others"));
	assert_int_equal(shmq_net_secret_read(secret_file(dir, "world-w", SECRET, 0602), s, &len, err, sizeof(err)),
			 -EPERM);
	assert_int_equal(shmq_net_secret_read(secret_file(dir, "short", "fifteen-bytes!!\n", 0600), s, &len, err,
					      sizeof(err)), -EINVAL);
	assert_int_equal(shmq_net_secret_read(secret_file(dir, "long",
		"0123456789012345678901234567890123456789012345678901234567890123X", 0600), s, &len, err, sizeof(err)),
		-EINVAL);
	assert_int_equal(shmq_net_secret_read(dir, s, &len, err, sizeof(err)), -EINVAL); /* a directory */
	const char *names[] = { "plain", "nl", "crlf", "world-r", "world-w", "short", "long" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char p[300];
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_with_the_shared_secret_is_accepted_and_its_ack_verifies),
		cmocka_unit_test(test_forged_hello_from_another_secret_is_refused),
		cmocka_unit_test(test_any_changed_byte_of_a_hello_is_refused),
		cmocka_unit_test(test_replayed_hello_is_refused),
		cmocka_unit_test(test_hello_outside_the_clock_skew_window_is_refused_as_stale),
		cmocka_unit_test(test_a_full_replay_table_never_lets_a_forgotten_nonce_back_in),
		cmocka_unit_test(test_an_ack_answering_another_hello_is_refused),
		cmocka_unit_test(test_bad_secrets_and_principals_are_refused),
		cmocka_unit_test(test_secret_files_read_alike_with_or_without_a_trailing_newline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
