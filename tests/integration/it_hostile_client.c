/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client with a read-write descriptor of a ring and of an offset table
 * shrinks both files (ftruncate to 0). The broker must not die of SIGBUS:
 * it fences that ring, keeps every acknowledged message readable from the
 * store, and keeps serving the other queues and the group (common/shm_guard.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmq/admin.h"
#include "shmq/shmq.h"
#include "tests/integration/itest_cmocka.h"

#define VICTIM "victim"
#define OTHER "bystander"
#define GROUP "g"
#define N 20

static struct itest_broker broker;

static void shrink(const char *name)
{
	char path[ITEST_PATH_MAX + 64];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", broker.rings, name);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	assert_int_equal(ftruncate(fd, 0), 0);
	close(fd);
}

static void send_n(shmq_client_t *c, const char *topic, int batch, struct shmq_send_result *res)
{
	SHMQ_PRODUCER_OPTS(o, .topic = topic, .delivery = SHMQ_DELIVERY_PERSISTED);
	shmq_producer_t *p;
	char body[32];

	assert_int_equal(shmq_producer_open(c, &o, &p), 0);
	for (int i = 0; i < N; i++) {
		struct shmq_message m = {
			.body = body,
			.body_len = (uint32_t)snprintf(body, sizeof(body), "%s-%d-%d", topic, batch, i),
		};
		int rc = shmq_producer_send(p, &m, &res[i]);

		if (rc < 0)
			fail_msg("send %s %d: %s", topic, i, shmq_strerror(rc));
	}
	shmq_producer_close(p);
}

/* Poll until @p want messages of batch @p batch arrived, in order. */
static void consume_batch(shmq_client_t *c, int batch)
{
	SHMQ_CONSUMER_OPTS(co, .group = GROUP, .topic = OTHER, .start = SHMQ_START_EARLIEST);
	shmq_consumer_t *cs;
	struct shmq_msg_view v[N];
	char want[32];
	int got = 0;

	assert_int_equal(shmq_consumer_open(c, &co, &cs), 0);
	for (int i = 0; i < 500 && got < N; i++) {
		int k = shmq_consumer_poll(cs, v, N, 10ull * 1000 * 1000);

		assert_true(k >= 0);
		for (int j = 0; j < k; j++, got++) {
			assert_true(got < N);
			snprintf(want, sizeof(want), "%s-%d-%d", OTHER, batch, got);
			assert_int_equal(v[j].body_len, strlen(want));
			assert_memory_equal(v[j].body, want, strlen(want));
		}
	}
	assert_int_equal(got, N);
	shmq_consumer_close(cs); /* commits */
}

static void test_shrunk_ring_and_offset_table_fence_instead_of_killing_the_broker(void **state)
{
	shmq_client_t *c;
	struct shmq_send_result res[N];
	struct shmq_send_result other[N];
	struct shmq_ring_status *rings;
	size_t n;
	int fenced = -1, others_fenced = 0;

	(void)state;
	assert_int_equal(itest_broker_start(&broker, NULL), 0);
	c = itest_connect(&broker);
	assert_int_equal(shmq_topic_create(c, VICTIM, 1, NULL), 0);
	assert_int_equal(shmq_topic_create(c, OTHER, 1, NULL), 0);
	send_n(c, VICTIM, 0, res);
	send_n(c, OTHER, 0, other);
	consume_batch(c, 0);
	itest_sleep_ms(600); /* the broker persists commits every 200 ms (itest) */

	/* Nothing of ours maps them now: a client holding their fds (as
	 * producers and members do) shrinks both files. */
	shrink(VICTIM ".0.ring");
	shrink(GROUP "@" OTHER ".offsets");

	/* the persister touches the ring within its polling period */
	for (int i = 0; i < 200 && fenced != 1; i++) {
		itest_sleep_ms(10);
		assert_int_equal(kill(broker.pid, 0), 0);
		assert_int_equal(shmq_admin_rings(c, &rings, &n), 0);
		others_fenced = 0;
		for (size_t k = 0; k < n; k++) {
			if (strcmp(rings[k].topic, VICTIM) == 0)
				fenced = rings[k].fenced;
			else
				others_fenced += rings[k].fenced;
		}
		free(rings);
	}
	assert_int_equal(fenced, 1);
	assert_int_equal(others_fenced, 0);
	struct shmq_broker_status st;
	assert_int_equal(shmq_admin_status(c, &st), 0);
	assert_true(st.guard_trips >= 1);
	assert_int_equal(st.fenced_rings, 1);

	/* every acknowledged message of the fenced queue is in the store */
	for (int i = 0; i < N; i++) {
		struct shmq_admin_msg m;
		char want[32];

		assert_int_equal(shmq_admin_read_queue(c, VICTIM, 0, res[i].queue_offset, &m), 0);
		snprintf(want, sizeof(want), "%s-0-%d", VICTIM, i);
		assert_int_equal(m.v.body_len, strlen(want));
		assert_memory_equal(m.v.body, want, strlen(want));
		shmq_admin_msg_free(&m);
	}

	/* the other topic keeps working, and the group resumes after what it
	 * committed, on a new table */
	send_n(c, OTHER, 1, other);
	consume_batch(c, 1);
	assert_int_equal(kill(broker.pid, 0), 0);
	shmq_client_close(c);
	assert_int_equal(itest_broker_stop(&broker), 0);
}

/* Each (group, topic) a consumer joins costs the broker an offset table: a
 * mapping, an fd and a slot of the SIGBUS guard. A client that joins group
 * after group used to run the guard out of slots (8192), get an unguarded
 * table, shrink it, and kill the broker with SIGBUS. Now the tables are
 * capped (4096) below the guard's capacity and a table that cannot be
 * guarded is refused: the joins past the cap fail with -ENOSPC, the broker
 * lives, and groups that exist go on. */
static void test_joining_group_after_group_is_refused_at_the_cap_not_a_crash(void **state)
{
	(void)state;
	memset(&broker, 0, sizeof(broker));
	assert_int_equal(itest_broker_start(&broker, NULL), 0);
	shmq_client_t *c = itest_connect(&broker);
	assert_int_equal(shmq_topic_create(c, OTHER, 1, NULL), 0);
	struct shmq_send_result res[N];
	send_n(c, OTHER, 0, res);
	consume_batch(c, 0); /* GROUP exists before the flood */
	int joined = 0, rc = 0;
	for (int i = 0; i < 5000; i++) {
		char g[32];
		snprintf(g, sizeof(g), "junk-%d", i);
		SHMQ_CONSUMER_OPTS(co, .group = g, .topic = OTHER, .start = SHMQ_START_LATEST);
		shmq_consumer_t *cs;
		rc = shmq_consumer_open(c, &co, &cs);
		if (rc < 0)
			break;
		shmq_consumer_close(cs);
		joined++;
	}
	fprintf(stderr, "joined %d groups, then: %s\n", joined, shmq_strerror(rc));
	assert_int_equal(rc, -ENOSPC);
	assert_int_equal(joined, 4096 - 1); /* GROUP holds one table */
	assert_int_equal(kill(broker.pid, 0), 0);
	send_n(c, OTHER, 1, res);
	consume_batch(c, 1);
	shmq_client_close(c);
	assert_int_equal(itest_broker_stop(&broker), 0);
}

#define FLOOD 1100 /* > the broker's 1024 sessions per user */

/* uid 65534 opens FLOOD connections and never says HELLO. Exit status: 0
 * if the broker closed at least FLOOD - 1024 of them at once and the rest
 * within 10 s (the HELLO timeout), else 1; 77 if it cannot drop root. */
static int flood_child(void *arg)
{
	const char *sock = arg;
	if (itest_drop_privileges() != 0)
		return 77;
	static int fds[FLOOD];
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
	for (int i = 0; i < FLOOD; i++) {
		fds[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof(a)) != 0) {
			fprintf(stderr, "flood: connection %d: %s\n", i, strerror(errno));
			return 1;
		}
	}
	itest_sleep_ms(500);
	int closed_early = 0;
	for (int i = 0; i < FLOOD; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		closed_early += poll(&p, 1, 0) == 1;
	}
	fprintf(stderr, "flood: %d of %d connections closed by the broker at once\n", closed_early, FLOOD);
	int open_left = FLOOD;
	for (int t = 0; t < 100 && open_left; t++) {
		itest_sleep_ms(100);
		open_left = 0;
		for (int i = 0; i < FLOOD; i++) {
			struct pollfd p = { .fd = fds[i], .events = POLLIN };
			open_left += poll(&p, 1, 0) == 0;
		}
	}
	fprintf(stderr, "flood: %d left open after the HELLO timeout\n", open_left);
	return closed_early >= FLOOD - 1024 && open_left == 0 ? 0 : 1;
}

/* One user's connection flood does not lock others out: past 1024 sessions
 * the broker closes that user's new connections, and sessions that never
 * send HELLO are closed after 5 s. */
static void test_a_users_connection_flood_is_capped_and_silent_sessions_are_closed(void **state)
{
	(void)state;
	memset(&broker, 0, sizeof(broker));
	assert_int_equal(itest_broker_start(&broker, NULL), 0);
	assert_int_equal(chmod(broker.base, 0711), 0); /* uid 65534 reaches the socket */
	pid_t pid = itest_spawn(flood_child, broker.sock);
	assert_true(pid > 0);
	itest_sleep_ms(300);
	/* meanwhile root works as usual */
	shmq_client_t *c = itest_connect(&broker);
	assert_int_equal(shmq_topic_create(c, OTHER, 1, NULL), 0);
	shmq_client_close(c);
	int st = itest_wait(pid, 20000);
	if (st == 77)
		skip();
	assert_int_equal(st, 0);
	assert_int_equal(kill(broker.pid, 0), 0);
	assert_int_equal(itest_broker_stop(&broker), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		ITEST_BROKER_TEST(test_shrunk_ring_and_offset_table_fence_instead_of_killing_the_broker, broker),
		ITEST_BROKER_TEST(test_joining_group_after_group_is_refused_at_the_cap_not_a_crash, broker),
		ITEST_BROKER_TEST(test_a_users_connection_flood_is_capped_and_silent_sessions_are_closed, broker),
	};

	return ITEST_RUN_GROUP(tests, NULL, 0);
}
