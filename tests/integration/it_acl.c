/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ACL: a client of another uid (a child that dropped to uid/gid 65534
 * before connecting) is refused produce, consume and admin on a topic whose
 * rule does not grant them (-EACCES, with the broker's reason), while a
 * topic whose rule grants `any` works for it end to end. Needs root (to
 * change uid); skipped otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmq/shmq.h"
#include "tests/integration/itest_cmocka.h"

#define SECRET "acl.secret"
#define OPEN "open.t"

struct shared {
	const char *sock;
	char refusal[256];
};

static struct shared *g;
static struct itest_broker broker;

static int nobody_child(void *arg)
{
	SHMQ_PRODUCER_OPTS(ps, .topic = SECRET);
	SHMQ_PRODUCER_OPTS(po, .topic = OPEN);
	SHMQ_CONSUMER_OPTS(cs, .group = "nobody-g", .topic = SECRET);
	shmq_client_t *c = NULL;
	shmq_producer_t *p = NULL;
	shmq_consumer_t *k = NULL;
	uint8_t body[64];
	struct shmq_message m = { .body = body, .body_len = sizeof(body) };
	int rc;

	(void)arg;
	rc = itest_drop_privileges();
	if (rc) {
		fprintf(stderr, "nobody: cannot drop to uid 65534: %s\n", shmq_strerror(rc));
		return 2;
	}
	rc = shmq_client_open(g->sock, NULL, &c);
	if (rc) {
		fprintf(stderr, "nobody: connect: %s\n", shmq_strerror(rc));
		return 3;
	}
	rc = shmq_producer_open(c, &ps, &p);
	if (rc != -EACCES) {
		fprintf(stderr, "nobody: produce on %s gave %s, want -EACCES\n", SECRET, shmq_strerror(rc));
		return 4;
	}
	snprintf(g->refusal, sizeof(g->refusal), "%s", shmq_client_last_error());
	rc = shmq_consumer_open(c, &cs, &k);
	if (rc != -EACCES) {
		fprintf(stderr, "nobody: consume on %s gave %s, want -EACCES\n", SECRET, shmq_strerror(rc));
		return 5;
	}
	rc = shmq_topic_create(c, "acl.other", 2, NULL);
	if (rc != -EACCES) {
		fprintf(stderr, "nobody: create acl.other gave %s, want -EACCES\n", shmq_strerror(rc));
		return 6;
	}
	/* the same connection may use the topic its rule grants */
	rc = shmq_producer_open(c, &po, &p);
	if (rc) {
		fprintf(stderr, "nobody: produce on %s: %s\n", OPEN, shmq_strerror(rc));
		return 7;
	}
	itest_body_fill(body, sizeof(body), 65534, 0, 1);
	rc = shmq_producer_send(p, &m, NULL);
	if (rc) {
		fprintf(stderr, "nobody: send on %s: %s\n", OPEN, shmq_strerror(rc));
		return 8;
	}
	shmq_producer_close(p);
	shmq_client_close(c);
	return 0;
}

static void test_other_uid_is_refused_where_no_rule_grants_it(void **state)
{
	/* the rules come from the config file; the command line adds one more */
	struct itest_broker_opts o = {
		.config_text = "[broker]\nacl_default = none\n\n[acl]\nacl.* = uid:0:pca\n",
		.extra = { "--acl", "open.*=any:pca", NULL },
	};
	SHMQ_CONSUMER_OPTS(co, .group = "root-g", .topic = OPEN, .start = SHMQ_START_EARLIEST);
	struct shmq_msg_view v[4];
	struct itest_body_hdr h;
	shmq_client_t *c = NULL;
	shmq_consumer_t *k = NULL;
	pid_t pid;
	int rc, n = 0;

	(void)state;
	assert_int_equal(itest_broker_start(&broker, &o), 0);
	g->sock = broker.sock;
	/* uid 65534 must reach the socket (0666) through the scratch directory */
	assert_int_equal(chmod(broker.base, 0711), 0);
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	assert_int_equal(shmq_topic_create(c, SECRET, 2, NULL), 0);
	assert_int_equal(shmq_topic_create(c, OPEN, 1, NULL), 0);
	shmq_client_close(c);

	pid = itest_spawn(nobody_child, NULL);
	assert_true(pid > 0);
	rc = itest_wait(pid, 30000);
	if (rc)
		itest_broker_dump_log(&broker, 4096);
	assert_int_equal(rc, 0);
	fprintf(stderr, "refusal text: '%s'\n", g->refusal);
	assert_true(g->refusal[0] != 0);

	/* what uid 65534 sent on the granted topic arrived */
	assert_int_equal(shmq_client_open(broker.sock, NULL, &c), 0);
	assert_int_equal(shmq_consumer_open(c, &co, &k), 0);
	for (int i = 0; i < 50 && n == 0; i++) {
		n = shmq_consumer_poll(k, v, 4, 100 * 1000 * 1000);
		assert_true(n >= 0);
	}
	assert_int_equal(n, 1);
	assert_int_equal(itest_body_check(v[0].body, v[0].body_len, &h), 0);
	assert_int_equal(h.producer, 65534);
	shmq_consumer_close(k);
	shmq_client_close(c);
	assert_int_equal(itest_broker_stop(&broker), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ITEST_BROKER_TEST(test_other_uid_is_refused_where_no_rule_grants_it, broker),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "skip: the ACL test needs root to run a client as uid 65534\n");
		return 77;
	}
	g = itest_shared_alloc(sizeof(*g));
	return ITEST_RUN_GROUP(tests, g, sizeof(*g));
}
